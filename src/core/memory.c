// SPDX-License-Identifier: GPL-2.0-or-later
#include "memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "util.h"

#define BITMAP_WORDS(bits) (((bits) + 63) / 64)

/* ---- slot numbers ------------------------------------------------------ */

void mem_slot_alloc_init(struct mem_slot_alloc *a, unsigned limit)
{
	memset(a, 0, sizeof(*a));
	a->limit = MIN(limit, MEM_SLOTS_MAX);
}

int mem_slot_alloc(struct mem_slot_alloc *a)
{
	for (unsigned w = 0; w * 64 < a->limit; w++) {
		if (a->used[w] == ~0ULL)
			continue;
		unsigned slot = w * 64 + (unsigned)__builtin_ctzll(~a->used[w]);
		if (slot >= a->limit)
			break;
		a->used[w] |= 1ULL << (slot % 64);
		a->count++;
		return (int)slot;
	}
	return -ENOSPC;
}

void mem_slot_free(struct mem_slot_alloc *a, unsigned slot)
{
	if (slot >= a->limit || !(a->used[slot / 64] & (1ULL << (slot % 64))))
		die("memory: slot %u freed twice", slot);
	a->used[slot / 64] &= ~(1ULL << (slot % 64));
	a->count--;
}

/* ---- regions ----------------------------------------------------------- */

void mem_space_init(struct mem_space *s, struct io_bus *mmio)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->mmio = mmio;
	mem_slot_alloc_init(&s->slots, 0);
}

void mem_space_destroy(struct mem_space *s)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		free(s->regions[i]->dirty);
		s->regions[i]->dirty = NULL;
		s->regions[i]->space = NULL;
	}
	s->nregions = 0;
	pthread_mutex_destroy(&s->lock);
}

static void region_init(struct mem_region *r, const char *name, uint64_t gpa, uint64_t size,
			int priority)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->gpa = gpa;
	r->size = size;
	r->priority = priority;
	r->enabled = true;
}

void mem_region_init_ram(struct mem_region *r, const char *name, uint64_t gpa, uint64_t size,
			 void *hva, bool read_only, int priority)
{
	region_init(r, name, gpa, size, priority);
	r->ram = true;
	r->hva = hva;
	r->read_only = read_only;
}

void mem_region_init_trap(struct mem_region *r, const char *name, uint64_t gpa, uint64_t size,
			  struct io_region *io, int priority)
{
	region_init(r, name, gpa, size, priority);
	r->io = io;
}

uint64_t mem_region_pages(const struct mem_region *r)
{
	return r->size >> MEM_PAGE_SHIFT;
}

static bool range_valid(uint64_t gpa, uint64_t size)
{
	return size && !(gpa % MEM_PAGE_SIZE) && !(size % MEM_PAGE_SIZE) && gpa + size > gpa;
}

/* ---- flattening -------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool wins_over(const struct mem_region *a, const struct mem_region *b)
{
	return !b || a->priority > b->priority || (a->priority == b->priority && a->order > b->order);
}

static unsigned fragment_flags(const struct mem_region *r)
{
	if (!r->ram)
		return 0;
	return (r->read_only ? MEM_SLOT_READONLY : 0) | (r->log_dirty ? MEM_SLOT_LOG_DIRTY : 0);
}

/* The multiples of MEM_SLOT_SPAN inside a RAM region, where its slots
 * end (only RAM becomes slots), while there is room for them. */
static unsigned add_slot_cuts(const struct mem_region *r, uint64_t *edges, unsigned room)
{
	unsigned n = 0;

	if (!r->ram)
		return 0;
	for (uint64_t at = (r->gpa / MEM_SLOT_SPAN + 1) * MEM_SLOT_SPAN;
	     at < r->gpa + r->size && n < room; at += MEM_SLOT_SPAN)
		edges[n++] = at;
	return n;
}

/* Cuts the address space at every enabled region's edges; each piece goes
 * to its highest-priority region, and neighbouring pieces of one region
 * join, except across a slot cut. At most 2n-1 pieces for n regions, and
 * the slot cuts. (More than MEM_SLOT_CUTS_MAX cuts would need more RAM
 * than -m allows: the slot past them is refused by KVM, an error.) */
static unsigned flatten(const struct mem_space *s, struct mem_fragment *out)
{
	uint64_t edges[2 * MEM_REGIONS_MAX + MEM_SLOT_CUTS_MAX];
	unsigned nedges = 0, ncuts = 0, n = 0;

	for (unsigned i = 0; i < s->nregions; i++) {
		const struct mem_region *r = s->regions[i];
		if (!r->enabled)
			continue;
		edges[nedges++] = r->gpa;
		edges[nedges++] = r->gpa + r->size;
		unsigned cuts = add_slot_cuts(r, edges + nedges, MEM_SLOT_CUTS_MAX - ncuts);
		nedges += cuts;
		ncuts += cuts;
	}
	qsort(edges, nedges, sizeof(edges[0]), cmp_u64);
	for (unsigned e = 0; e + 1 < nedges; e++) {
		uint64_t start = edges[e], end = edges[e + 1];
		struct mem_region *top = NULL;

		if (start == end)
			continue;
		for (unsigned i = 0; i < s->nregions; i++) {
			struct mem_region *r = s->regions[i];
			if (r->enabled && r->gpa <= start && end <= r->gpa + r->size && wins_over(r, top))
				top = r;
		}
		if (!top)
			continue;
		if (n && out[n - 1].region == top && out[n - 1].gpa + out[n - 1].size == start &&
		    !(top->ram && start % MEM_SLOT_SPAN == 0)) {
			out[n - 1].size += end - start;
			continue;
		}
		out[n++] = (struct mem_fragment){
			.gpa = start,
			.size = end - start,
			.region = top,
			.hva = top->ram ? top->hva + (start - top->gpa) : NULL,
			.flags = fragment_flags(top),
			.slot = -1,
		};
	}
	return n;
}

/* ---- dirty bits -------------------------------------------------------- */

static void or_bits(uint64_t *dst, uint64_t first, const uint64_t *src, uint64_t nbits)
{
	for (uint64_t w = 0; w < BITMAP_WORDS(nbits); w++) {
		uint64_t bits = src[w];
		while (bits) {
			uint64_t bit = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (bit >= nbits)
				break;
			dst[(first + bit) / 64] |= 1ULL << ((first + bit) % 64);
		}
	}
}

/* Moves a logged slot's dirty bits from KVM into its region's bitmap. */
static int harvest(struct mem_space *s, const struct mem_fragment *f)
{
	struct mem_region *r = f->region;
	uint64_t npages = f->size >> MEM_PAGE_SHIFT;

	if (f->slot < 0 || !(f->flags & MEM_SLOT_LOG_DIRTY) || !s->ops || !r->dirty)
		return 0;
	uint64_t *bits = calloc(BITMAP_WORDS(npages), sizeof(uint64_t));
	if (!bits)
		return -ENOMEM;
	int ret = s->ops->get_dirty(s->ops_opaque, (unsigned)f->slot, npages, bits);
	if (!ret)
		or_bits(r->dirty, (f->gpa - r->gpa) >> MEM_PAGE_SHIFT, bits, npages);
	free(bits);
	return ret;
}

/* ---- installing slots -------------------------------------------------- */

static bool same_slot(const struct mem_fragment *a, const struct mem_fragment *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->hva == b->hva &&
	       (a->flags & MEM_SLOT_READONLY) == (b->flags & MEM_SLOT_READONLY);
}

static int install(struct mem_space *s, struct mem_fragment *f)
{
	int slot = mem_slot_alloc(&s->slots);
	if (slot < 0)
		return slot;
	int ret = s->ops->set(s->ops_opaque, (unsigned)slot, f->gpa, f->size, f->hva, f->flags);
	s->slot_changes++;
	if (ret < 0) {
		mem_slot_free(&s->slots, (unsigned)slot);
		return ret;
	}
	f->slot = slot;
	return 0;
}

static void uninstall(struct mem_space *s, struct mem_fragment *f)
{
	harvest(s, f);
	s->ops->set(s->ops_opaque, (unsigned)f->slot, f->gpa, 0, NULL, 0);
	s->slot_changes++;
	mem_slot_free(&s->slots, (unsigned)f->slot);
	f->slot = -1;
}

/* A fragment of the new map that matches an installed slot keeps it (its
 * logging flag changes in place, which KVM allows); the other old slots go
 * first, so no two slots ever overlap, then the new ones come. */
static int reuse_or_remove_old(struct mem_space *s, struct mem_fragment *next, unsigned n)
{
	int ret = 0;

	for (unsigned i = 0; i < s->nfrags; i++) {
		struct mem_fragment *old = &s->frags[i];
		struct mem_fragment *keep = NULL;

		if (old->slot < 0)
			continue;
		for (unsigned j = 0; j < n && !keep; j++)
			if (next[j].hva && next[j].slot < 0 && same_slot(old, &next[j]))
				keep = &next[j];
		if (!keep) {
			uninstall(s, old);
			continue;
		}
		keep->slot = old->slot;
		if (keep->flags != old->flags) {
			harvest(s, old);
			int err = s->ops->set(s->ops_opaque, (unsigned)keep->slot, keep->gpa, keep->size,
					      keep->hva, keep->flags);
			s->slot_changes++;
			if (err < 0 && !ret)
				ret = err;
		}
	}
	return ret;
}

/* Maps a trapped region's handler on the MMIO bus while the guest can
 * reach it, and takes it off while the region is RAM or disabled. */
static int update_bus(struct mem_space *s)
{
	int ret = 0;

	for (unsigned i = 0; i < s->nregions && s->mmio; i++) {
		struct mem_region *r = s->regions[i];
		bool want = r->io && r->enabled && !r->ram;

		if (want && (!r->io_mapped || r->io->base != r->gpa)) {
			int err = bus_map(s->mmio, r->io, r->gpa);
			r->io_mapped = !err;
			if (err && !ret)
				ret = err;
		} else if (!want && r->io_mapped) {
			bus_unmap(s->mmio, r->io);
			r->io_mapped = false;
		}
	}
	return ret;
}

/* Recomputes the fragments and installs the slots that changed. Called
 * with the lock held. */
static int commit(struct mem_space *s)
{
	struct mem_fragment next[MEM_FRAGMENTS_MAX];
	unsigned n = flatten(s, next);
	int ret = 0;

	if (s->ops) {
		ret = reuse_or_remove_old(s, next, n);
		for (unsigned j = 0; j < n; j++) {
			if (!next[j].hva || next[j].slot >= 0)
				continue;
			int err = install(s, &next[j]);
			if (err && !ret)
				ret = err;
		}
	}
	memcpy(s->frags, next, n * sizeof(next[0]));
	s->nfrags = n;
	int err = update_bus(s);
	return ret ? ret : err;
}

int mem_space_attach(struct mem_space *s, const struct mem_slot_ops *ops, void *opaque,
		     unsigned nslots)
{
	pthread_mutex_lock(&s->lock);
	s->ops = ops;
	s->ops_opaque = opaque;
	mem_slot_alloc_init(&s->slots, nslots);
	for (unsigned i = 0; i < s->nfrags; i++)
		s->frags[i].slot = -1;
	int ret = commit(s);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void mem_space_detach(struct mem_space *s)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nfrags; i++) {
		harvest(s, &s->frags[i]);
		s->frags[i].slot = -1;
	}
	s->ops = NULL;
	s->ops_opaque = NULL;
	mem_slot_alloc_init(&s->slots, 0);
	pthread_mutex_unlock(&s->lock);
}

/* ---- the public changes ------------------------------------------------ */

int mem_space_add(struct mem_space *s, struct mem_region *r)
{
	int ret;

	if (!range_valid(r->gpa, r->size))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->nregions == MEM_REGIONS_MAX) {
		ret = -ENOSPC;
	} else {
		ret = 0;
		for (unsigned i = 0; i < s->nregions && !ret; i++)
			if (!strcmp(s->regions[i]->name, r->name))
				ret = -EEXIST;
	}
	if (!ret) {
		r->space = s;
		r->order = s->next_order++;
		s->regions[s->nregions++] = r;
		ret = commit(s);
		if (ret) {
			/* Not added after all: the map goes back to what it was. */
			s->nregions--;
			r->space = NULL;
			commit(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void mem_space_remove(struct mem_space *s, struct mem_region *r)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nregions; i++) {
		if (s->regions[i] != r)
			continue;
		r->enabled = false;
		commit(s);
		memmove(&s->regions[i], &s->regions[i + 1],
			(s->nregions - i - 1) * sizeof(s->regions[0]));
		s->nregions--;
		free(r->dirty);
		r->dirty = NULL;
		r->log_dirty = false;
		r->space = NULL;
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

struct mem_region *mem_space_find(struct mem_space *s, const char *name)
{
	struct mem_region *found = NULL;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nregions && !found; i++)
		if (!strcmp(s->regions[i]->name, name))
			found = s->regions[i];
	pthread_mutex_unlock(&s->lock);
	return found;
}

unsigned mem_space_fragments(struct mem_space *s, struct mem_fragment *out, unsigned max)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = MIN(max, s->nfrags);
	memcpy(out, s->frags, n * sizeof(out[0]));
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Runs one change to a region that belongs to a space, then commits. */
#define REGION_CHANGE(r, change)                                \
	({                                                      \
		struct mem_space *s_ = (r)->space;              \
		int ret_ = -EINVAL;                             \
		if (s_) {                                       \
			pthread_mutex_lock(&s_->lock);          \
			change;                                 \
			ret_ = commit(s_);                      \
			pthread_mutex_unlock(&s_->lock);        \
		}                                               \
		ret_;                                           \
	})

int mem_region_set_ram(struct mem_region *r, void *hva, bool read_only)
{
	if (!hva)
		return -EINVAL;
	return REGION_CHANGE(r, {
		r->ram = true;
		r->hva = hva;
		r->read_only = read_only;
	});
}

int mem_region_set_trap(struct mem_region *r)
{
	return REGION_CHANGE(r, {
		r->ram = false;
		r->read_only = false;
	});
}

int mem_region_set_enabled(struct mem_region *r, bool enabled)
{
	return REGION_CHANGE(r, r->enabled = enabled);
}

int mem_region_move(struct mem_region *r, uint64_t gpa)
{
	if (!range_valid(gpa, r->size))
		return -EINVAL;
	return REGION_CHANGE(r, r->gpa = gpa);
}

/* Lock held. Another enabled region anywhere in [gpa, gpa+size)? */
static bool overlaps_other(const struct mem_space *s, const struct mem_region *r, uint64_t gpa)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		const struct mem_region *o = s->regions[i];
		if (o != r && o->enabled && o->gpa < gpa + r->size && gpa < o->gpa + o->size)
			return true;
	}
	return false;
}

int mem_region_enable_alone(struct mem_region *r, uint64_t gpa, unsigned keep_free)
{
	struct mem_space *s = r->space;
	int ret = 0;

	if (!s || !range_valid(gpa, r->size))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	/* Off first: its own old slot is not counted, nor in the way. */
	if (r->enabled) {
		r->enabled = false;
		commit(s);
	}
	if (overlaps_other(s, r, gpa))
		ret = -EBUSY;
	else if (s->ops && r->ram && s->slots.count + 1 + keep_free > s->slots.limit)
		ret = -ENOSPC;
	if (!ret) {
		r->gpa = gpa;
		r->enabled = true;
		ret = commit(s);
		if (ret) {
			/* Not installed (KVM refused it): the map goes back. */
			r->enabled = false;
			commit(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int mem_region_set_log_dirty(struct mem_region *r, bool on)
{
	struct mem_space *s = r->space;
	int ret = 0;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (on && !r->log_dirty) {
		r->dirty = calloc(BITMAP_WORDS(mem_region_pages(r)), sizeof(uint64_t));
		if (!r->dirty)
			ret = -ENOMEM;
	}
	if (!ret && on != r->log_dirty) {
		r->log_dirty = on;
		if (on)
			atomic_fetch_add(&s->logging, 1);
		else
			atomic_fetch_sub(&s->logging, 1);
		ret = commit(s);
		if (!on) {
			free(r->dirty);
			r->dirty = NULL;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int mem_region_get_dirty(struct mem_region *r, uint64_t *out, uint64_t npages)
{
	struct mem_space *s = r->space;
	uint64_t pages = mem_region_pages(r);
	int ret = 0;

	if (!s || npages < pages)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (!r->log_dirty) {
		ret = -EINVAL;
	} else {
		for (unsigned i = 0; i < s->nfrags && !ret; i++)
			if (s->frags[i].region == r)
				ret = harvest(s, &s->frags[i]);
	}
	if (!ret) {
		memset(out, 0, BITMAP_WORDS(npages) * sizeof(uint64_t));
		memcpy(out, r->dirty, BITMAP_WORDS(pages) * sizeof(uint64_t));
		memset(r->dirty, 0, BITMAP_WORDS(pages) * sizeof(uint64_t));
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Lock held. */
static void mark_locked(struct mem_region *r, uint64_t offset, uint64_t len)
{
	if (!r->dirty || !len || offset >= r->size)
		return;
	len = MIN(len, r->size - offset);
	for (uint64_t p = offset >> MEM_PAGE_SHIFT; p <= (offset + len - 1) >> MEM_PAGE_SHIFT; p++)
		r->dirty[p / 64] |= 1ULL << (p % 64);
}

void mem_region_mark_dirty(struct mem_region *r, uint64_t offset, uint64_t len)
{
	struct mem_space *s = r->space;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	mark_locked(r, offset, len);
	pthread_mutex_unlock(&s->lock);
}

void mem_space_mark_dirty(struct mem_space *s, uint64_t gpa, uint64_t len)
{
	if (!len || !atomic_load(&s->logging) || gpa + len < gpa)
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nregions; i++) {
		struct mem_region *r = s->regions[i];
		uint64_t lo = MAX(gpa, r->gpa), hi = MIN(gpa + len, r->gpa + r->size);
		if (r->dirty && lo < hi)
			mark_locked(r, lo - r->gpa, hi - lo);
	}
	pthread_mutex_unlock(&s->lock);
}
