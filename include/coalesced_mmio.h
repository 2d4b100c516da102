/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * KVM's coalesced MMIO: guest writes to a registered zone (the legacy VGA
 * window) that KVM queues in a ring page it shares with user space instead
 * of exiting. vmm applies them, in order, through the MMIO bus ("drains"
 * the ring) before anything could see them missing: at the start of every
 * vCPU exit, before a display refresh (through the bus's pending-write
 * hook), at pause and before a reset replaces the VM. See
 * docs/architecture.md, "Coalesced MMIO".
 */
#ifndef VMM_COALESCED_MMIO_H
#define VMM_COALESCED_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_coalesced_mmio_ring;
struct io_bus;

/* Entries a ring of one page holds (KVM's KVM_COALESCED_MMIO_MAX). */
unsigned coalesced_ring_capacity(size_t page_size);

/* Applies one queued write; 'pio' is KVM's flag for a port zone. */
typedef void coalesced_write_fn(void *opaque, bool pio, uint64_t addr, const void *data,
				unsigned len);

struct coalesced_drain_result {
	unsigned applied; /* entries handed to the write function */
	unsigned dropped; /* entries with a length over 8 or 0, or a port flag */
	bool bad_index;   /* first or last was outside the ring */
};

/* Applies the entries from ring->first up to the ring->last read once at
 * the start (what KVM queues meanwhile waits for the next drain), each
 * copied out first, advancing ring->first past each after it is applied.
 * 'capacity' is the number of entries; indexes outside it are not used:
 * a 'last' out of range leaves the ring untouched, a 'first' out of range
 * (with a good 'last') is moved to 'last', dropping what cannot be found. */
struct coalesced_drain_result coalesced_ring_drain(struct kvm_coalesced_mmio_ring *ring,
						   unsigned capacity, coalesced_write_fn *fn,
						   void *opaque);

/* The VM's ring, as vmm uses it. */
struct coalesced_mmio {
	pthread_mutex_t lock; /* one drain at a time, in order */
	/* Mapped through vCPU 0's mmap area (NULL: none, or no zone). */
	_Atomic(struct kvm_coalesced_mmio_ring *) ring;
	unsigned capacity;
	struct io_bus *mmio;  /* where the writes go */
	_Atomic uint64_t applied; /* writes applied since start, for x-query-exits */
	_Atomic uint64_t dropped;
	bool warned;
};

void coalesced_mmio_init(struct coalesced_mmio *c, size_t page_size);
void coalesced_mmio_destroy(struct coalesced_mmio *c);
/* The ring page (NULL: gone); taken under the lock, so no drain uses a
 * page being unmapped. */
void coalesced_mmio_set_ring(struct coalesced_mmio *c, struct kvm_coalesced_mmio_ring *ring);
void coalesced_mmio_set_bus(struct coalesced_mmio *c, struct io_bus *mmio);
/* Applies every queued write. Costs two loads when the ring is empty. */
void coalesced_mmio_drain(struct coalesced_mmio *c);
/* For bus_set_pending(): opaque is the struct coalesced_mmio. */
void coalesced_mmio_flush(void *opaque);

#endif
