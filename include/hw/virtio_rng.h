/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-rng (virtio 1.x, 5.4): one queue of device-writable buffers that
 * the device fills from the host's getrandom(). */
#ifndef VMM_HW_VIRTIO_RNG_H
#define VMM_HW_VIRTIO_RNG_H

#include "hw/virtio_pci.h"

struct virtio_rng;

struct virtio_rng *virtio_rng_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host);
struct virtio_pci *virtio_rng_transport(struct virtio_rng *r);
/* -object rng-random: read entropy from 'fd' (the device owns it and
 * closes it) instead of getrandom(). Before the guest runs. */
void virtio_rng_set_source(struct virtio_rng *r, int fd);
void virtio_rng_destroy(struct virtio_rng *r);

/* Saved state: the transport and its queue (hw/virtio_pci.h); a buffer is
 * filled as it is popped, so nothing is ever in flight. */
struct ss_writer;
struct ss_reader;
void virtio_rng_save(struct virtio_rng *r, struct ss_writer *w, uint32_t instance);
bool virtio_rng_load(struct virtio_rng *r, struct ss_reader *rd, uint32_t instance);

#endif
