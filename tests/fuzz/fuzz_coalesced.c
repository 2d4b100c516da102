// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The coalesced MMIO ring drain (src/core/coalesced_mmio.c): the input is
 * the ring page as KVM and the guest's writes leave it ('first', 'last',
 * then the entries; the rest of the page zero), drained through a
 * machine's path (the MMIO bus's pending hook into a region over the VGA
 * window) into a page allocated at exactly its size, so ASan stops any
 * access past the ring; then the drain must have left the ring empty or,
 * with an index out of range, untouched but for 'first'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "bus.h"
#include "coalesced_mmio.h"

#define PAGE 4096u

static uint64_t sink;

static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	return off + size;
}

static void window_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	(void)opaque;
	sink += off ^ val ^ size;
}

static const struct io_ops window_ops = { .read = window_read, .write = window_write,
					  .min_size = 1, .max_size = 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct io_bus mmio;
	static struct io_region region;
	static struct coalesced_mmio c;
	static int ready;

	if (!ready) {
		bus_init(&mmio, "mmio");
		io_region_init(&region, "window", &window_ops, NULL, 0x20000);
		bus_map(&mmio, &region, 0xA0000);
		coalesced_mmio_init(&c, PAGE);
		coalesced_mmio_set_bus(&c, &mmio);
		bus_set_pending(&mmio, coalesced_mmio_flush, &c);
		ready = 1;
	}
	struct kvm_coalesced_mmio_ring *ring = calloc(1, PAGE);
	if (!ring)
		return 0;
	memcpy(ring, data, size < PAGE ? size : PAGE);
	uint32_t last = ring->last;
	coalesced_mmio_set_ring(&c, ring);
	bus_apply_pending(&mmio);
	coalesced_mmio_set_ring(&c, NULL);
	if (last < c.capacity && ring->first != last)
		abort(); /* a good 'last': everything up to it drained */
	if (ring->last != last)
		abort(); /* the drain never writes 'last' */
	free(ring);
	return 0;
}
