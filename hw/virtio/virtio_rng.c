// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-rng: every device-writable buffer of a chain is filled from
 * getrandom(), or from a file (-object rng-random,filename=F: read as it
 * comes; at its end the chain gets what there was); device-readable
 * buffers are ignored (the spec has none).
 */
#include "hw/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "util.h"

#define RNG_QUEUE_SIZE 64
/* One chain may name guest RAM many times over (1024 buffers of up to
 * 4 GiB: 4 TiB). The device may write less than a buffer holds (virtio
 * 1.x, 5.4.6.1) and says how much in the used length, so a chain gets at
 * most RNG_CHAIN_MAX bytes; and one pass over the queue stops after
 * RNG_PASS_MAX bytes and has the I/O thread come back, so it never holds
 * the transport lock (or a stop request) for long. */
#define RNG_CHAIN_MAX (64u << 10)
#define RNG_PASS_MAX (1u << 20)

struct virtio_rng {
	struct virtio_pci t;
	struct virtq_iov scratch;
	int source_fd; /* -1: getrandom() */
};

/* Up to 'len' bytes of entropy: 0 at the source's end, -1 on error. */
static ssize_t entropy(struct virtio_rng *r, uint8_t *p, size_t len)
{
	return r->source_fd >= 0 ? read(r->source_fd, p, len) : getrandom(p, len, 0);
}

/* Returns the bytes written into the chain. */
static uint32_t fill(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_rng *r = t->dev;
	uint32_t written = 0;

	for (unsigned i = iov->n_out; i < iov->n_out + iov->n_in && written < RNG_CHAIN_MAX; i++) {
		uint8_t *p = iov->iov[i].iov_base;
		size_t left = MIN(iov->iov[i].iov_len, (size_t)(RNG_CHAIN_MAX - written));
		while (left) {
			ssize_t n = entropy(r, p, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out;
			p += n;
			left -= (size_t)n;
			written += (uint32_t)n;
		}
	}
out:
	virtq_mark_written(&t->vq[q], iov->iov + iov->n_out, iov->n_in, written);
	virtq_push(&t->vq[q], iov->head, written);
	virtio_pci_notify_queue(t, q);
	return written;
}

static void rng_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_rng *r = t->dev;
	uint64_t done = 0;

	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	while (virtio_pci_pop(t, q, &r->scratch) > 0) {
		done += fill(t, q, &r->scratch);
		if (done >= RNG_PASS_MAX) {
			virtio_pci_schedule(t, q); /* the rest in the next pass */
			return;
		}
	}
}

static const struct virtio_device_ops rng_ops = { .queue_notify = rng_queue_notify };

struct virtio_rng *virtio_rng_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host)
{
	struct virtio_rng *r = xzalloc(sizeof(*r));

	r->source_fd = -1;
	virtio_pci_init(&r->t, "virtio-rng", VIRTIO_ID_RNG, 0x00FF00, mem, host, &rng_ops, r, 0, 1,
			RNG_QUEUE_SIZE, NULL, 0);
	if (virtio_pci_start(&r->t, bus, devfn) < 0) {
		virtio_rng_destroy(r);
		return NULL;
	}
	return r;
}

void virtio_rng_set_source(struct virtio_rng *r, int fd)
{
	r->source_fd = fd;
}

struct virtio_pci *virtio_rng_transport(struct virtio_rng *r)
{
	return &r->t;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_pci_stop(&r->t);
	if (r->source_fd >= 0)
		close(r->source_fd);
	free(r);
}

void virtio_rng_save(struct virtio_rng *r, struct ss_writer *w, uint32_t instance)
{
	virtio_pci_save(&r->t, w, instance);
}

bool virtio_rng_load(struct virtio_rng *r, struct ss_reader *rd, uint32_t instance)
{
	return virtio_pci_load(&r->t, rd, instance);
}
