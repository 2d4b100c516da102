/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Virtio 1.x split virtqueues, as the device side sees them (OASIS virtio
 * 1.x, section 2.7). Every address and index the driver writes into guest
 * memory is validated here before the device model sees a byte of it: a
 * chain comes back as host iovecs that lie wholly inside guest RAM, or the
 * queue is declared broken (the transport then sets DEVICE_NEEDS_RESET).
 *
 * Not thread-safe by itself: the transport serialises every call on one
 * queue with its lock.
 */
#ifndef VMM_VIRTIO_H
#define VMM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Transport-independent feature bits. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

#define VIRTQ_MAX_SIZE 1024
/* The most descriptors one chain may use, direct and indirect together. */
#define VIRTQ_MAX_CHAIN 1024

struct virtq_iov {
	struct iovec iov[VIRTQ_MAX_CHAIN];
	unsigned n_out, n_in;          /* device-readable first, then device-writable */
	uint64_t out_len, in_len;      /* bytes */
	uint16_t head;
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;        /* the driver's choice, power of two, 1..VIRTQ_MAX_SIZE */
	bool ready;
	bool event_idx;       /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;        /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;          /* a malformed ring or chain was seen */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Host views, set by virtq_enable() after checking the whole ring. */
	uint8_t *desc, *avail, *used;
	uint16_t last_avail;  /* next avail entry to take */
	uint16_t used_idx;    /* our copy of used->idx */
	uint16_t signalled_used; /* used->idx when we last interrupted */
	bool signalled_valid;
	uint16_t inflight;    /* chains popped and not yet pushed: at most size */
};

/* Sets the queue back to its reset state (size 'max_size', not ready). */
void virtq_reset(struct virtqueue *vq, const struct guest_mem *mem, uint16_t max_size);
/* Checks the three areas lie in guest RAM, with the alignments the spec
 * requires, and maps them. Returns 0 or -EINVAL (queue left not ready). */
int virtq_enable(struct virtqueue *vq);
/* Legacy ring layout from one page frame number (4 KiB pages). */
void virtq_set_legacy_pfn(struct virtqueue *vq, uint32_t pfn);

/* Takes the next available chain. Returns 1 with 'out' filled, 0 when
 * nothing is available, -EINVAL when the driver broke the queue (it is
 * then marked broken and every later call returns -EINVAL); offering a
 * chain while 'size' chains are already in flight breaks it too. */
int virtq_pop(struct virtqueue *vq, struct virtq_iov *out);
/* Host-side writes into a chain's writable buffers (the first 'len' bytes
 * of iov[0..n)) for dirty logging: a device calls it after writing, before
 * virtq_push. The used ring is marked by the push itself. */
void virtq_mark_written(struct virtqueue *vq, const struct iovec *iov, unsigned n, uint64_t len);
/* Returns a chain to the driver with 'written' bytes written into it. */
void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* The same, for a device that needs the driver to go past avail index
 * 'idx' (it holds chains up to there that are not enough). */
bool virtq_arm_notify_at(struct virtqueue *vq, uint16_t idx);
/* Gives the last n popped chains back, unused (they are popped again). */
void virtq_unpop(struct virtqueue *vq, unsigned n);
/* Returns n chains at once: the driver sees them all in one used->idx
 * update (virtio-net's merged receive buffers must appear together). */
void virtq_push_many(struct virtqueue *vq, const uint16_t *heads, const uint32_t *written,
		     unsigned n);
/* Takes the ring back from another server of it (the kernel's vhost-net):
 * the next avail entry is 'last_avail', the used index is what the ring
 * holds, the driver is asked to notify again (the other side may have left
 * NO_NOTIFY set) and the next push's interrupt is decided afresh. */
void virtq_take_over(struct virtqueue *vq, uint16_t last_avail);
/* Whether the driver wants an interrupt for what was pushed since the
 * last call that returned true (EVENT_IDX or the NO_INTERRUPT flag). */
bool virtq_should_notify(struct virtqueue *vq);
/* Before sleeping: asks for a notification for the next buffer, and
 * returns whether one arrived meanwhile (then keep popping). */
bool virtq_arm_notify(struct virtqueue *vq);

/* Scatter-gather helpers over a chain's readable or writable part. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);
/* The bytes [skip, skip + len) of iov[0..n) as pieces of the same memory
 * (nothing copied), into out (room for n), their count in *nout; returns
 * how many bytes they cover (less than len if the iovecs end first). */
size_t iov_cut(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *out,
	       unsigned *nout);

#endif
