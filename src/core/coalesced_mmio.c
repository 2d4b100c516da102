// SPDX-License-Identifier: GPL-2.0-or-later
#include "coalesced_mmio.h"

#include <stdio.h>
#include <string.h>
#include <linux/kvm.h>

#include "bus.h"
#include "util.h"

unsigned coalesced_ring_capacity(size_t page_size)
{
	size_t head = sizeof(struct kvm_coalesced_mmio_ring);

	if (page_size <= head)
		return 0;
	return (unsigned)((page_size - head) / sizeof(struct kvm_coalesced_mmio));
}

/* KVM writes an entry, then (after a write barrier) 'last'; it reads
 * 'first' to see whether there is room. So: 'last' with acquire, the
 * entry copied before 'first' moves past it with release. */
static uint32_t load_index(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_first(struct kvm_coalesced_mmio_ring *ring, uint32_t v)
{
	__atomic_store_n(&ring->first, v, __ATOMIC_RELEASE);
}

struct coalesced_drain_result coalesced_ring_drain(struct kvm_coalesced_mmio_ring *ring,
						   unsigned capacity, coalesced_write_fn *fn,
						   void *opaque)
{
	struct coalesced_drain_result res = { 0 };
	uint32_t last = load_index(&ring->last);
	uint32_t first = load_index(&ring->first);

	if (capacity == 0 || last >= capacity) {
		res.bad_index = true;
		return res;
	}
	if (first >= capacity) {
		res.bad_index = true;
		store_first(ring, last);
		return res;
	}
	while (first != last) {
		struct kvm_coalesced_mmio e;

		memcpy(&e, (const void *)&ring->coalesced_mmio[first], sizeof(e));
		if (e.len == 0 || e.len > sizeof(e.data) || e.pio) {
			res.dropped++;
		} else {
			fn(opaque, false, e.phys_addr, e.data, e.len);
			res.applied++;
		}
		first = (first + 1) % capacity;
		store_first(ring, first);
	}
	return res;
}

void coalesced_mmio_init(struct coalesced_mmio *c, size_t page_size)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->capacity = coalesced_ring_capacity(page_size);
}

void coalesced_mmio_destroy(struct coalesced_mmio *c)
{
	pthread_mutex_destroy(&c->lock);
}

void coalesced_mmio_set_ring(struct coalesced_mmio *c, struct kvm_coalesced_mmio_ring *ring)
{
	pthread_mutex_lock(&c->lock);
	atomic_store(&c->ring, ring);
	pthread_mutex_unlock(&c->lock);
}

void coalesced_mmio_set_bus(struct coalesced_mmio *c, struct io_bus *mmio)
{
	pthread_mutex_lock(&c->lock);
	c->mmio = mmio;
	pthread_mutex_unlock(&c->lock);
}

static void bus_apply(void *opaque, bool pio, uint64_t addr, const void *data, unsigned len)
{
	struct io_bus *mmio = opaque;

	(void)pio; /* only MMIO zones are registered; the drain drops the rest */
	bus_write(mmio, addr, data, len);
}

static bool ring_empty(struct kvm_coalesced_mmio_ring *ring)
{
	return load_index(&ring->first) == load_index(&ring->last);
}

void coalesced_mmio_drain(struct coalesced_mmio *c)
{
	struct kvm_coalesced_mmio_ring *ring = atomic_load_explicit(&c->ring, memory_order_acquire);

	if (!ring || ring_empty(ring))
		return;
	pthread_mutex_lock(&c->lock);
	/* The ring may have gone (a reset) while this thread waited. */
	ring = atomic_load(&c->ring);
	if (ring && c->mmio) {
		struct coalesced_drain_result r =
			coalesced_ring_drain(ring, c->capacity, bus_apply, c->mmio);
		atomic_fetch_add_explicit(&c->applied, r.applied, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->dropped, r.dropped, memory_order_relaxed);
		if ((r.bad_index || r.dropped) && !c->warned) {
			c->warned = true;
			warn("coalesced MMIO ring: %s; entries dropped",
			     r.bad_index ? "index out of range" : "malformed entry");
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void coalesced_mmio_flush(void *opaque)
{
	coalesced_mmio_drain(opaque);
}
