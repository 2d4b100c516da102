/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Port-I/O and MMIO dispatch.
 *
 * A device exposes a region: a base, a length and read/write callbacks that
 * receive the OFFSET inside the region, never the absolute address, so a
 * region can move (SeaBIOS assigns every PCI BAR) without the device noticing.
 * The core enforces the access sizes a device declares: wider accesses are
 * split into little-endian pieces, narrower reads are served from an aligned
 * wider read, narrower writes are dropped. Overlapping regions are refused.
 *
 * Lookups are lock-free: the map is an immutable sorted array published with
 * an atomic pointer; writers (register, move, unmap) build a new array under a
 * mutex. An old array is freed as soon as no thread can still be dispatching
 * through it (hazard pointers, see bus.c), never while one is, so a guest
 * that toggles decode or moves BARs in a loop costs no host memory.
 */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct io_ops {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
	/* Smallest and largest access the callbacks handle (1, 2, 4 or 8).
	 * Zero means 1 and 4 respectively. */
	uint8_t min_size, max_size;
};

struct io_region {
	const char *name;
	const struct io_ops *ops;
	void *opaque;
	uint64_t base, len;
	bool mapped;
};

struct io_map;

struct io_bus {
	const char *name;
	_Atomic(struct io_map *) map;
	pthread_mutex_t lock;
	struct io_map *retired; /* replaced maps some thread may still be using */
	size_t retired_count;
	/* Accesses nobody claimed: a statistic, counted without a locked
	 * instruction (a port that a guest polls is one exit each time), so
	 * two vCPUs counting at once may lose one. */
	_Atomic uint64_t unhandled;
	/* Writes the guest made that the bus has not dispatched yet (KVM's
	 * coalesced MMIO ring): applied by bus_apply_pending. Set once,
	 * before any thread dispatches. */
	void (*pending)(void *opaque);
	void *pending_opaque;
};

void bus_init(struct io_bus *bus, const char *name);
void bus_destroy(struct io_bus *bus);

/* Fills a region; it is not mapped until bus_map(). */
void io_region_init(struct io_region *r, const char *name, const struct io_ops *ops,
		    void *opaque, uint64_t len);

/* Maps 'r' at 'base'. Returns 0, or -EEXIST if it would overlap another
 * region, -EINVAL for an empty or wrapping range. A mapped region is moved. */
int bus_map(struct io_bus *bus, struct io_region *r, uint64_t base);
void bus_unmap(struct io_bus *bus, struct io_region *r);

/* Dispatches one guest access of 'len' bytes (1..8). Unclaimed reads
 * return all-ones, unclaimed writes are dropped, as on a PC. Returns
 * whether any region claimed the access. */
bool bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned len);
bool bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned len);

/* A reader of device state outside an exit (a display refresh) first
 * applies the writes still queued for the bus; not with a device's lock
 * held (the writes take it). */
void bus_set_pending(struct io_bus *bus, void (*fn)(void *opaque), void *opaque);
void bus_apply_pending(struct io_bus *bus);

/* How many replaced maps are kept because a thread may still use them (for
 * tests and diagnostics): at most a few per thread that dispatches. */
size_t bus_retired_maps(struct io_bus *bus);

/* Finds the region mapped at 'addr' (for tests and diagnostics). */
const struct io_region *bus_find(struct io_bus *bus, uint64_t addr);

#endif
