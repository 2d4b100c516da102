// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-rng: every device-writable buffer of a chain is filled from
 * getrandom(); device-readable buffers are ignored (the spec has none).
 */
#include "hw/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "util.h"

#define RNG_QUEUE_SIZE 64

struct virtio_rng {
	struct virtio_pci t;
	struct virtq_iov scratch;
};

static void fill(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	uint32_t written = 0;

	for (unsigned i = iov->n_out; i < iov->n_out + iov->n_in; i++) {
		uint8_t *p = iov->iov[i].iov_base;
		size_t left = iov->iov[i].iov_len;
		while (left) {
			ssize_t n = getrandom(p, left, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				goto out;
			}
			p += n;
			left -= (size_t)n;
			written += (uint32_t)n;
		}
	}
out:
	virtq_push(&t->vq[q], iov->head, written);
	virtio_pci_notify_queue(t, q);
}

static void rng_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_rng *r = t->dev;
	virtio_pci_drain(t, q, &r->scratch, fill);
}

static const struct virtio_device_ops rng_ops = { .queue_notify = rng_queue_notify };

struct virtio_rng *virtio_rng_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host)
{
	struct virtio_rng *r = xzalloc(sizeof(*r));

	virtio_pci_init(&r->t, "virtio-rng", VIRTIO_ID_RNG, 0x00FF00, mem, host, &rng_ops, r, 0, 1,
			RNG_QUEUE_SIZE, NULL, 0);
	if (virtio_pci_start(&r->t, bus, devfn) < 0) {
		virtio_rng_destroy(r);
		return NULL;
	}
	return r;
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
	free(r);
}
