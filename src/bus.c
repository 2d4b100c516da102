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

void bus_init(struct io_bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_mutex_init(&bus->lock, NULL);
	struct io_map *empty = xzalloc(sizeof(*empty));
	atomic_store(&bus->map, empty);
}

void bus_destroy(struct io_bus *bus)
{
	free(atomic_load(&bus->map));
	for (struct io_map *m = bus->retired, *next; m; m = next) {
		next = m->next_retired;
		free(m);
	}
	bus->retired = NULL;
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
	const struct io_map_entry *e = lookup(atomic_load(&bus->map), addr);
	return e ? e->region : NULL;
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

bool bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned len)
{
	const struct io_map *map = atomic_load(&bus->map);
	const struct io_map_entry *e = lookup(map, addr);
	uint8_t *out = data;

	if (len == 0 || len > 8)
		return false;
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
		bus->unhandled++;
	return claimed;
}

bool bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned len)
{
	const struct io_map *map = atomic_load(&bus->map);
	const struct io_map_entry *e = lookup(map, addr);
	const uint8_t *in = data;

	if (len == 0 || len > 8)
		return false;
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
		bus->unhandled++;
	return claimed;
}
