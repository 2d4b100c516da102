// SPDX-License-Identifier: GPL-2.0-or-later
#include "bus.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct io_map_entry {
	uint64_t base, end; /* end is exclusive */
	struct io_region *region;
};

struct io_map {
	struct io_map *next_retired;
	size_t count;
	struct io_map_entry entries[];
};

/*
 * Reclaiming replaced maps: hazard pointers.
 *
 * A thread that dispatches an access first announces the map it is about to
 * use in its reader record, then checks that the map is still the current
 * one (retrying if not). A writer that replaces a map puts the old one on the
 * bus's retired list and frees every retired map no reader record announces.
 * With sequentially consistent atomics on both sides, a reader either sees
 * the new map or its announcement is visible to the writer's scan, so nothing
 * in use is freed. A map stays retired only while some record holds it, so
 * the retired list never exceeds the number of records times their depth:
 * host memory stays bounded whatever the guest writes, and no writer ever
 * waits for a reader (a vCPU that moves a BAR may itself be mid-access).
 *
 * Records belong to threads (one each, created on a thread's first access,
 * handed to the next new thread when it exits) and are shared by every bus.
 * Each has a few slots, as an access may dispatch another one from inside a
 * device callback.
 */
#define READER_DEPTH 4

struct bus_reader {
	_Atomic(struct io_map *) hazard[READER_DEPTH];
	unsigned depth; /* touched only by the owning thread */
	atomic_bool in_use;
	struct bus_reader *next; /* records are never freed */
};

static _Atomic(struct bus_reader *) all_readers;
static pthread_key_t reader_key;
static pthread_once_t reader_key_once = PTHREAD_ONCE_INIT;
static __thread struct bus_reader *this_reader;

static void release_reader(void *opaque)
{
	struct bus_reader *r = opaque;
	atomic_store(&r->in_use, false);
}

static void make_reader_key(void)
{
	if (pthread_key_create(&reader_key, release_reader) != 0)
		die("bus: cannot create the reader key");
}

static struct bus_reader *claim_reader(void)
{
	struct bus_reader *r;

	for (r = atomic_load(&all_readers); r; r = r->next) {
		bool free_one = false;
		if (atomic_compare_exchange_strong(&r->in_use, &free_one, true))
			break;
	}
	if (!r) {
		r = xzalloc(sizeof(*r));
		atomic_store(&r->in_use, true);
		r->next = atomic_load(&all_readers);
		while (!atomic_compare_exchange_weak(&all_readers, &r->next, r))
			;
	}
	pthread_once(&reader_key_once, make_reader_key);
	pthread_setspecific(reader_key, r);
	return r;
}

/* Returns the bus's current map, announced so no writer frees it until
 * put_map(). Calls nest up to READER_DEPTH deep on one thread. */
static const struct io_map *get_map(struct io_bus *bus)
{
	struct bus_reader *r = this_reader;
	if (!r)
		r = this_reader = claim_reader();
	if (r->depth == READER_DEPTH)
		die("bus: accesses nested more than %d deep", READER_DEPTH);

	_Atomic(struct io_map *) *slot = &r->hazard[r->depth++];
	struct io_map *m = atomic_load(&bus->map);
	for (;;) {
		atomic_store(slot, m);
		struct io_map *again = atomic_load(&bus->map);
		if (again == m)
			return m;
		m = again;
	}
}

/* Release, not sequentially consistent: the writer's scan only has to see
 * the map's uses done once it sees the slot empty; the announcement in
 * get_map() is the store that needs the full fence (one per access,
 * not two, on the exit path). */
static void put_map(void)
{
	struct bus_reader *r = this_reader;
	atomic_store_explicit(&r->hazard[--r->depth], NULL, memory_order_release);
}

static bool map_in_use(const struct io_map *m)
{
	for (struct bus_reader *r = atomic_load(&all_readers); r; r = r->next)
		for (unsigned i = 0; i < READER_DEPTH; i++)
			if (atomic_load(&r->hazard[i]) == m)
				return true;
	return false;
}

/* Frees the retired maps nobody announces. Called with bus->lock held,
 * after the new map is published. */
static void reclaim_retired(struct io_bus *bus)
{
	struct io_map **link = &bus->retired;
	while (*link) {
		struct io_map *m = *link;
		if (map_in_use(m)) {
			link = &m->next_retired;
			continue;
		}
		*link = m->next_retired;
		free(m);
		bus->retired_count--;
	}
}

size_t bus_retired_maps(struct io_bus *bus)
{
	pthread_mutex_lock(&bus->lock);
	size_t n = bus->retired_count;
	pthread_mutex_unlock(&bus->lock);
	return n;
}

void bus_init(struct io_bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_mutex_init(&bus->lock, NULL);
	struct io_map *empty = xzalloc(sizeof(*empty));
	atomic_store(&bus->map, empty);
}

void bus_set_pending(struct io_bus *bus, void (*fn)(void *opaque), void *opaque)
{
	bus->pending = fn;
	bus->pending_opaque = opaque;
}

void bus_apply_pending(struct io_bus *bus)
{
	if (bus->pending)
		bus->pending(bus->pending_opaque);
}

/* No access may be in flight on the bus. */
void bus_destroy(struct io_bus *bus)
{
	free(atomic_load(&bus->map));
	for (struct io_map *m = bus->retired, *next; m; m = next) {
		next = m->next_retired;
		free(m);
	}
	bus->retired = NULL;
	bus->retired_count = 0;
	atomic_store(&bus->map, NULL);
	pthread_mutex_destroy(&bus->lock);
}

void io_region_init(struct io_region *r, const char *name, const struct io_ops *ops,
		    void *opaque, uint64_t len)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->ops = ops;
	r->opaque = opaque;
	r->len = len;
}

/* Builds the next map from the current one, minus 'drop', plus 'add' at
 * [base, base+len). Called with bus->lock held. */
static int publish(struct io_bus *bus, struct io_region *drop, struct io_region *add,
		   uint64_t base)
{
	struct io_map *cur = atomic_load(&bus->map);
	struct io_map *next = xzalloc(sizeof(*next) + (cur->count + 1) * sizeof(next->entries[0]));
	size_t n = 0;
	bool placed = !add;

	for (size_t i = 0; i < cur->count; i++) {
		const struct io_map_entry *e = &cur->entries[i];
		if (e->region == drop)
			continue;
		if (!placed && base + add->len <= e->base) {
			next->entries[n++] = (struct io_map_entry){ base, base + add->len, add };
			placed = true;
		}
		if (!placed && base < e->end) {
			free(next);
			return -EEXIST;
		}
		next->entries[n++] = *e;
	}
	if (!placed)
		next->entries[n++] = (struct io_map_entry){ base, base + add->len, add };
	next->count = n;
	atomic_store(&bus->map, next);
	cur->next_retired = bus->retired;
	bus->retired = cur;
	bus->retired_count++;
	reclaim_retired(bus);
	return 0;
}

int bus_map(struct io_bus *bus, struct io_region *r, uint64_t base)
{
	if (!r->len || base + r->len < base)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	int ret = publish(bus, r->mapped ? r : NULL, r, base);
	if (ret == 0) {
		r->base = base;
		r->mapped = true;
	}
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

void bus_unmap(struct io_bus *bus, struct io_region *r)
{
	pthread_mutex_lock(&bus->lock);
	if (r->mapped) {
		publish(bus, r, NULL, 0);
		r->mapped = false;
	}
	pthread_mutex_unlock(&bus->lock);
}

static const struct io_map_entry *lookup(const struct io_map *map, uint64_t addr)
{
	size_t lo = 0, hi = map->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct io_map_entry *e = &map->entries[mid];
		if (addr < e->base)
			hi = mid;
		else if (addr >= e->end)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

const struct io_region *bus_find(struct io_bus *bus, uint64_t addr)
{
	const struct io_map_entry *e = lookup(get_map(bus), addr);
	const struct io_region *r = e ? e->region : NULL;
	put_map();
	return r;
}

static unsigned min_size(const struct io_ops *ops)
{
	return ops->min_size ? ops->min_size : 1;
}

static unsigned max_size(const struct io_ops *ops)
{
	return ops->max_size ? ops->max_size : 4;
}

static bool size_fits(unsigned size, const struct io_ops *ops)
{
	return size >= min_size(ops) && size <= max_size(ops) && !(size & (size - 1));
}

/* One access that lies entirely inside 'e'. */
static uint64_t region_read(const struct io_map_entry *e, uint64_t addr, unsigned len)
{
	const struct io_ops *ops = e->region->ops;
	uint64_t off = addr - e->base;

	if (!ops->read)
		return ~0ULL;
	if (size_fits(len, ops))
		return ops->read(e->region->opaque, off, len);
	if (len < min_size(ops)) {
		unsigned wide = min_size(ops);
		uint64_t aligned = off & ~(uint64_t)(wide - 1);
		if (aligned + wide > e->end - e->base)
			return ~0ULL;
		uint64_t v = ops->read(e->region->opaque, aligned, wide);
		return v >> ((off - aligned) * 8);
	}
	/* Too wide, or an odd size: assemble from the largest pieces allowed. */
	uint64_t v = 0;
	unsigned done = 0;
	while (done < len) {
		unsigned piece = max_size(ops);
		while (piece > len - done || (piece > 1 && ((off + done) & (piece - 1))))
			piece >>= 1;
		if (piece < min_size(ops))
			piece = min_size(ops);
		uint64_t part = ops->read(e->region->opaque, off + done, piece);
		if (piece < 8)
			part &= (1ULL << (piece * 8)) - 1;
		v |= part << (done * 8);
		done += piece;
	}
	return v;
}

static void region_write(const struct io_map_entry *e, uint64_t addr, uint64_t v, unsigned len)
{
	const struct io_ops *ops = e->region->ops;
	uint64_t off = addr - e->base;

	if (!ops->write)
		return;
	if (size_fits(len, ops)) {
		ops->write(e->region->opaque, off, v, len);
		return;
	}
	if (len < min_size(ops))
		return; /* the device would misread a partial write */
	unsigned done = 0;
	while (done < len) {
		unsigned piece = max_size(ops);
		while (piece > len - done || (piece > 1 && ((off + done) & (piece - 1))))
			piece >>= 1;
		if (piece < min_size(ops))
			return;
		uint64_t part = v >> (done * 8);
		if (piece < 8)
			part &= (1ULL << (piece * 8)) - 1;
		ops->write(e->region->opaque, off + done, part, piece);
		done += piece;
	}
}

static uint64_t load_le(const void *data, unsigned len)
{
	uint64_t v = 0;
	memcpy(&v, data, len); /* x86 host: little-endian */
	return v;
}

static void count_unhandled(struct io_bus *bus)
{
	uint64_t n = atomic_load_explicit(&bus->unhandled, memory_order_relaxed);
	atomic_store_explicit(&bus->unhandled, n + 1, memory_order_relaxed);
}

static bool dispatch_read(struct io_bus *bus, const struct io_map *map, uint64_t addr, void *data,
			  unsigned len)
{
	const struct io_map_entry *e = lookup(map, addr);
	uint8_t *out = data;

	if (e && addr + len <= e->end) {
		uint64_t v = region_read(e, addr, len);
		memcpy(out, &v, len);
		return true;
	}
	/* Unclaimed, or straddling a region boundary: go byte by byte. */
	bool claimed = false;
	for (unsigned i = 0; i < len; i++) {
		const struct io_map_entry *b = lookup(map, addr + i);
		out[i] = b ? (uint8_t)region_read(b, addr + i, 1) : 0xff;
		claimed |= b != NULL;
	}
	if (!claimed)
		count_unhandled(bus);
	return claimed;
}

static bool dispatch_write(struct io_bus *bus, const struct io_map *map, uint64_t addr,
			   const void *data, unsigned len)
{
	const struct io_map_entry *e = lookup(map, addr);
	const uint8_t *in = data;

	if (e && addr + len <= e->end) {
		region_write(e, addr, load_le(data, len), len);
		return true;
	}
	bool claimed = false;
	for (unsigned i = 0; i < len; i++) {
		const struct io_map_entry *b = lookup(map, addr + i);
		if (b)
			region_write(b, addr + i, in[i], 1);
		claimed |= b != NULL;
	}
	if (!claimed)
		count_unhandled(bus);
	return claimed;
}

bool bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned len)
{
	if (len == 0 || len > 8)
		return false;
	bool claimed = dispatch_read(bus, get_map(bus), addr, data, len);
	put_map();
	return claimed;
}

bool bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned len)
{
	if (len == 0 || len > 8)
		return false;
	bool claimed = dispatch_write(bus, get_map(bus), addr, data, len);
	put_map();
	return claimed;
}
