/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk (virtio 1.x, 5.2) on the virtio-pci transport: read, write,
 * flush, discard, write-zeroes, get-id, one request queue, requests carried
 * out by io_uring (raw images) or a pool of worker threads (several in
 * flight either way); block I/O through include/block.h, or on the raw
 * image's fd that block_async_fd() hands out.
 */
#ifndef VMM_HW_VIRTIO_BLK_H
#define VMM_HW_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "hw/virtio_pci.h"

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_CONFIG_SIZE 60
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)

struct virtio_blk;

/* 'workers' threads carry out requests; 0 does them on the notifying
 * thread (unit tests). The device owns 'bd'. */
struct virtio_blk *virtio_blk_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host,
				     struct block_dev *bd, const char *serial, unsigned workers);
struct virtio_pci *virtio_blk_transport(struct virtio_blk *b);
/* Whether reads/writes/flushes go through io_uring (a raw image, and the
 * kernel allows it), rather than the worker pool only. */
bool virtio_blk_uses_uring(const struct virtio_blk *b);
void virtio_blk_destroy(struct virtio_blk *b);

/* Saved state (section "virtio-blk"): waits for the requests in flight
 * to complete, then saves the transport (hw/virtio_pci.h). */
struct ss_writer;
struct ss_reader;
/* Pause: the transport takes no more work and every request handed to
 * the workers or io_uring is finished; virtio_pci_resume ends it. */
void virtio_blk_quiesce(struct virtio_blk *b);
void virtio_blk_save(struct virtio_blk *b, struct ss_writer *w, uint32_t instance);
bool virtio_blk_load(struct virtio_blk *b, struct ss_reader *r, uint32_t instance);

#endif
