// SPDX-License-Identifier: GPL-2.0-or-later
/* Memory regions (src/core/memory.c) against a fake KVM that checks what real
 * KVM refuses (overlapping slots, a slot's backing or read-only flag
 * changed in place) and logs the pages "the guest" writes through it; the
 * PC map of src/core/memmap.c on top of them. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"
#include "memmap.h"
#include "memory.h"
#include "util.h"

#define PAGE MEM_PAGE_SIZE

struct fake_slot {
	bool used;
	uint64_t gpa, size;
	uint8_t *hva;
	unsigned flags;
	uint64_t dirty[128]; /* up to 8192 pages per slot in these tests */
};

struct fake_kvm {
	struct fake_slot slot[MEM_SLOTS_MAX];
	unsigned sets, deletes, in_place;
	int fail_next_set; /* errno to return once */
};

static int fake_set(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		    unsigned flags)
{
	struct fake_kvm *k = opaque;
	struct fake_slot *s = &k->slot[slot];

	assert_true(slot < MEM_SLOTS_MAX);
	if (k->fail_next_set) {
		int e = k->fail_next_set;
		k->fail_next_set = 0;
		return -e;
	}
	if (!size) {
		assert_true(s->used);
		memset(s, 0, sizeof(*s));
		k->deletes++;
		return 0;
	}
	if (s->used) {
		/* KVM changes only the logging flag of an existing slot. */
		assert_int_equal(s->gpa, gpa);
		assert_int_equal(s->size, size);
		assert_ptr_equal(s->hva, hva);
		assert_int_equal(s->flags & MEM_SLOT_READONLY, flags & MEM_SLOT_READONLY);
		if (!(flags & MEM_SLOT_LOG_DIRTY))
			memset(s->dirty, 0, sizeof(s->dirty));
		s->flags = flags;
		k->in_place++;
		return 0;
	}
	/* (a larger slot is never logged here: no guest writes into it) */
	assert_true(size / PAGE <= 128 * 64 || !(flags & MEM_SLOT_LOG_DIRTY));
	assert_true(size / PAGE <= (1ULL << 31) - 1); /* KVM_MEM_MAX_NR_PAGES */
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++) {
		const struct fake_slot *o = &k->slot[i];
		/* KVM: -EEXIST for overlapping slots. */
		assert_false(o->used && gpa < o->gpa + o->size && o->gpa < gpa + size);
	}
	*s = (struct fake_slot){ true, gpa, size, hva, flags, { 0 } };
	k->sets++;
	return 0;
}

static int fake_get_dirty(void *opaque, unsigned slot, uint64_t npages, uint64_t *bitmap)
{
	struct fake_kvm *k = opaque;
	struct fake_slot *s = &k->slot[slot];

	assert_true(s->used);
	assert_true(s->flags & MEM_SLOT_LOG_DIRTY);
	assert_int_equal(npages, s->size / PAGE);
	memcpy(bitmap, s->dirty, (npages + 63) / 64 * 8);
	memset(s->dirty, 0, sizeof(s->dirty));
	return 0;
}

static const struct mem_slot_ops fake_ops = { fake_set, fake_get_dirty };

/* A vCPU write at gpa: 'R' into RAM, 'r' dropped as MMIO (read-only slot),
 * 't' an exit (no slot). */
static char vcpu_write(struct fake_kvm *k, uint64_t gpa)
{
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++) {
		struct fake_slot *s = &k->slot[i];
		if (!s->used || gpa < s->gpa || gpa >= s->gpa + s->size)
			continue;
		if (s->flags & MEM_SLOT_READONLY)
			return 'r';
		uint64_t page = (gpa - s->gpa) / PAGE;
		if (s->flags & MEM_SLOT_LOG_DIRTY)
			s->dirty[page / 64] |= 1ULL << (page % 64);
		s->hva[gpa - s->gpa] = 0x5A;
		return 'R';
	}
	return 't';
}

static unsigned installed(const struct fake_kvm *k)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++)
		n += k->slot[i].used;
	return n;
}

/* The slot installed at gpa, or -1. */
static int slot_at(const struct fake_kvm *k, uint64_t gpa)
{
	for (unsigned i = 0; i < MEM_SLOTS_MAX; i++)
		if (k->slot[i].used && gpa >= k->slot[i].gpa && gpa < k->slot[i].gpa + k->slot[i].size)
			return (int)i;
	return -1;
}

struct fixture {
	struct fake_kvm kvm;
	struct mem_space space;
	uint8_t *ram;  /* 4 MiB */
	uint8_t *rom;  /* 128 KiB */
	struct mem_region ram_r, hole, rom_r, bar;
};

#define RAM_SIZE (4u << 20)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->ram = calloc(1, RAM_SIZE);
	f->rom = calloc(1, 128 << 10);
	mem_space_init(&f->space, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mem_space_destroy(&f->space);
	free(f->ram);
	free(f->rom);
	free(f);
	return 0;
}

/* RAM [0, 4 MiB) under a trapped hole [0xA0000, 0xC0000), attached. */
static void add_ram_and_hole(struct fixture *f)
{
	mem_region_init_ram(&f->ram_r, "ram", 0, RAM_SIZE, f->ram, false, 0);
	mem_region_init_trap(&f->hole, "hole", 0xA0000, 0x20000, NULL, 1);
	assert_int_equal(mem_space_add(&f->space, &f->ram_r), 0);
	assert_int_equal(mem_space_add(&f->space, &f->hole), 0);
	assert_int_equal(mem_space_attach(&f->space, &fake_ops, &f->kvm, 32), 0);
}

static void test_slot_allocator(void **state)
{
	struct mem_slot_alloc a;

	mem_slot_alloc_init(&a, 3);
	assert_int_equal(mem_slot_alloc(&a), 0);
	assert_int_equal(mem_slot_alloc(&a), 1);
	assert_int_equal(mem_slot_alloc(&a), 2);
	assert_int_equal(mem_slot_alloc(&a), -ENOSPC);
	assert_int_equal(a.count, 3);
	mem_slot_free(&a, 1);
	assert_int_equal(mem_slot_alloc(&a), 1); /* lowest free first */
	mem_slot_free(&a, 0);
	mem_slot_free(&a, 2);
	assert_int_equal(a.count, 1);
	assert_int_equal(mem_slot_alloc(&a), 0);

	/* KVM's 32764 slots are capped at what vmm tracks; numbers cross words. */
	mem_slot_alloc_init(&a, 32764);
	assert_int_equal(a.limit, MEM_SLOTS_MAX);
	for (int i = 0; i < MEM_SLOTS_MAX; i++)
		assert_int_equal(mem_slot_alloc(&a), i);
	assert_int_equal(mem_slot_alloc(&a), -ENOSPC);
	mem_slot_free(&a, 130);
	assert_int_equal(mem_slot_alloc(&a), 130);

	mem_slot_alloc_init(&a, 0); /* detached: nothing to give */
	assert_int_equal(mem_slot_alloc(&a), -ENOSPC);
}

static void test_overlap_by_priority(void **state)
{
	struct fixture *f = *state;
	struct mem_fragment fr[MEM_FRAGMENTS_MAX];

	add_ram_and_hole(f);
	assert_int_equal(mem_space_fragments(&f->space, fr, MEM_FRAGMENTS_MAX), 3);
	assert_int_equal(fr[0].gpa, 0);
	assert_int_equal(fr[0].size, 0xA0000);
	assert_ptr_equal(fr[0].hva, f->ram);
	assert_ptr_equal(fr[1].region, &f->hole);
	assert_null(fr[1].hva);
	assert_int_equal(fr[1].slot, -1);
	assert_int_equal(fr[2].gpa, 0xC0000);
	assert_ptr_equal(fr[2].hva, f->ram + 0xC0000); /* the region's own offset */
	assert_int_equal(installed(&f->kvm), 2);
	assert_int_equal(vcpu_write(&f->kvm, 0x9F000), 'R');
	assert_int_equal(vcpu_write(&f->kvm, 0xB8000), 't');
	assert_int_equal(vcpu_write(&f->kvm, 0x200000), 'R');
	assert_int_equal(f->ram[0x200000], 0x5A);

	/* A BAR-like RAM region over the hole and over RAM: highest priority wins. */
	mem_region_init_ram(&f->bar, "bar", 0xB0000, 0x20000, f->rom, false, 2);
	assert_int_equal(mem_space_add(&f->space, &f->bar), 0);
	assert_int_equal(mem_space_fragments(&f->space, fr, MEM_FRAGMENTS_MAX), 4);
	assert_ptr_equal(fr[1].region, &f->hole);
	assert_int_equal(fr[1].size, 0x10000);
	assert_ptr_equal(fr[2].region, &f->bar);
	assert_int_equal(fr[3].gpa, 0xD0000);
	assert_ptr_equal(fr[3].hva, f->ram + 0xD0000);
	assert_int_equal(vcpu_write(&f->kvm, 0xB8000), 'R');
	assert_int_equal(f->rom[0x8000], 0x5A);

	/* Equal priority: the region added last is on top. */
	mem_region_init_ram(&f->rom_r, "rom", 0xB0000, 0x10000, f->rom, true, 2);
	assert_int_equal(mem_space_add(&f->space, &f->rom_r), 0);
	assert_int_equal(vcpu_write(&f->kvm, 0xB0000), 'r');
	assert_int_equal(vcpu_write(&f->kvm, 0xC0000), 'R');

	/* Removed, the regions below show again. */
	mem_space_remove(&f->space, &f->rom_r);
	mem_space_remove(&f->space, &f->bar);
	assert_int_equal(mem_space_fragments(&f->space, fr, MEM_FRAGMENTS_MAX), 3);
	assert_int_equal(installed(&f->kvm), 2);
	assert_int_equal(f->space.slots.count, 2);
	assert_null(mem_space_find(&f->space, "bar"));
	assert_ptr_equal(mem_space_find(&f->space, "hole"), &f->hole);
}

static void test_switching_keeps_unchanged_slots(void **state)
{
	struct fixture *f = *state;

	add_ram_and_hole(f);
	int low = slot_at(&f->kvm, 0), high = slot_at(&f->kvm, 0x100000);
	unsigned sets = f->kvm.sets;

	/* The hole becomes RAM (VGA banking, PAM): one slot more, nothing else moves. */
	assert_int_equal(mem_region_set_ram(&f->hole, f->rom, false), 0);
	assert_int_equal(f->kvm.sets, sets + 1);
	assert_int_equal(f->kvm.deletes, 0);
	assert_int_equal(slot_at(&f->kvm, 0), low);
	assert_int_equal(slot_at(&f->kvm, 0x100000), high);
	assert_int_equal(vcpu_write(&f->kvm, 0xA1000), 'R');
	assert_int_equal(f->rom[0x1000], 0x5A);
	/* Read-only: KVM cannot flip that in place, so delete and add. */
	assert_int_equal(mem_region_set_ram(&f->hole, f->rom, true), 0);
	assert_int_equal(f->kvm.deletes, 1);
	assert_int_equal(vcpu_write(&f->kvm, 0xA1000), 'r');
	/* Back to trapped. */
	assert_int_equal(mem_region_set_trap(&f->hole), 0);
	assert_int_equal(vcpu_write(&f->kvm, 0xA1000), 't');
	assert_int_equal(installed(&f->kvm), 2);
	assert_int_equal(f->space.slots.count, 2);
	/* Disabled, RAM shows through: the fragments join into one slot. */
	assert_int_equal(mem_region_set_enabled(&f->hole, false), 0);
	assert_int_equal(installed(&f->kvm), 1);
	assert_int_equal(vcpu_write(&f->kvm, 0xA1000), 'R');
	assert_int_equal(f->ram[0xA1000], 0x5A);
	assert_int_equal(mem_region_set_enabled(&f->hole, true), 0);
	/* Moved (a BAR reprogrammed). */
	assert_int_equal(mem_region_move(&f->hole, 0x300000), 0);
	assert_int_equal(vcpu_write(&f->kvm, 0xA1000), 'R');
	assert_int_equal(vcpu_write(&f->kvm, 0x310000), 't');
	assert_int_equal(installed(&f->kvm), 2);
	/* Bad requests change nothing. */
	assert_int_equal(mem_region_move(&f->hole, 0x300800), -EINVAL);
	assert_int_equal(mem_region_move(&f->hole, UINT64_MAX & ~0xFFFULL), -EINVAL);
	assert_int_equal(mem_region_set_ram(&f->hole, NULL, false), -EINVAL);
	assert_int_equal(vcpu_write(&f->kvm, 0x310000), 't');
}

static void test_trapped_region_handler_follows_the_switch(void **state)
{
	struct fixture *f = *state;
	struct io_bus mmio;
	struct io_region io;
	static const struct io_ops ops = { 0 };

	bus_init(&mmio, "mmio");
	f->space.mmio = &mmio;
	io_region_init(&io, "vga", &ops, NULL, 0x20000);
	add_ram_and_hole(f);
	f->hole.io = &io; /* set before the first change below */
	assert_int_equal(mem_region_set_trap(&f->hole), 0);
	assert_ptr_equal(bus_find(&mmio, 0xA0000), &io);
	assert_int_equal(mem_region_set_ram(&f->hole, f->rom, false), 0);
	assert_null(bus_find(&mmio, 0xA0000));
	assert_int_equal(mem_region_set_trap(&f->hole), 0);
	assert_int_equal(mem_region_move(&f->hole, 0x200000), 0);
	assert_null(bus_find(&mmio, 0xA0000));
	assert_ptr_equal(bus_find(&mmio, 0x21FFFF), &io);
	assert_int_equal(mem_region_set_enabled(&f->hole, false), 0);
	assert_null(bus_find(&mmio, 0x200000));
	f->space.mmio = NULL;
	bus_destroy(&mmio);
}

static bool bit(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static unsigned count_bits(const uint64_t *b, uint64_t n)
{
	unsigned c = 0;
	for (uint64_t i = 0; i < n; i++)
		c += bit(b, i);
	return c;
}

static void test_dirty_bitmap(void **state)
{
	struct fixture *f = *state;
	uint64_t pages = RAM_SIZE / PAGE;
	uint64_t *bits = calloc(pages / 64, 8);

	add_ram_and_hole(f);
	assert_int_equal(mem_region_get_dirty(&f->ram_r, bits, pages), -EINVAL); /* not logging */
	vcpu_write(&f->kvm, 0x5000); /* before logging: not counted */
	assert_int_equal(mem_region_set_log_dirty(&f->ram_r, true), 0);
	assert_int_equal(f->kvm.in_place, 2); /* both slots, flag flipped in place */
	assert_int_equal(f->kvm.slot[slot_at(&f->kvm, 0)].flags, MEM_SLOT_LOG_DIRTY);
	assert_int_equal(mem_region_get_dirty(&f->ram_r, bits, pages - 1), -EINVAL);

	/* Pages in both fragments, at the region's page numbers. */
	vcpu_write(&f->kvm, 0x3000);
	vcpu_write(&f->kvm, 0x3FFF);
	vcpu_write(&f->kvm, 0x1FF000);
	vcpu_write(&f->kvm, 0xB0000); /* the trapped hole: not RAM */
	assert_int_equal(mem_region_get_dirty(&f->ram_r, bits, pages), 0);
	assert_int_equal(count_bits(bits, pages), 2);
	assert_true(bit(bits, 3));
	assert_true(bit(bits, 0x1FF));
	/* Returned means cleared. */
	assert_int_equal(mem_region_get_dirty(&f->ram_r, bits, pages), 0);
	assert_int_equal(count_bits(bits, pages), 0);

	/* A slot that goes away (the hole disabled: the fragments join) keeps
	 * its bits; so does one replaced by a VM reset. */
	vcpu_write(&f->kvm, 0x2000);
	assert_int_equal(mem_region_set_enabled(&f->hole, false), 0);
	vcpu_write(&f->kvm, 0xA4000);
	mem_space_detach(&f->space);
	memset(&f->kvm, 0, sizeof(f->kvm)); /* the new VM has no slots */
	assert_int_equal(mem_space_attach(&f->space, &fake_ops, &f->kvm, 32), 0);
	/* Logging is installed again with the slots. */
	assert_int_equal(f->kvm.slot[slot_at(&f->kvm, 0)].flags, MEM_SLOT_LOG_DIRTY);
	vcpu_write(&f->kvm, 0x3FF000);
	/* Writes KVM cannot see (device DMA, a trapped region's handler). */
	mem_region_mark_dirty(&f->ram_r, 0x10FFF, 2);
	mem_region_mark_dirty(&f->ram_r, RAM_SIZE - 1, 100); /* clipped */
	mem_region_mark_dirty(&f->ram_r, RAM_SIZE, 1);       /* outside: ignored */
	assert_int_equal(mem_region_get_dirty(&f->ram_r, bits, pages), 0);
	assert_int_equal(count_bits(bits, pages), 5);
	assert_true(bit(bits, 2) && bit(bits, 0xA4) && bit(bits, 0x3FF));
	assert_true(bit(bits, 0x10) && bit(bits, 0x11));

	/* Logging off: slots lose the flag, the bitmap goes. */
	assert_int_equal(mem_region_set_log_dirty(&f->ram_r, false), 0);
	assert_int_equal(f->kvm.slot[slot_at(&f->kvm, 0)].flags, 0);
	assert_null(f->ram_r.dirty);
	assert_int_equal(mem_region_get_dirty(&f->ram_r, bits, pages), -EINVAL);
	free(bits);
}

static void test_dirty_bits_survive_switching(void **state)
{
	struct fixture *f = *state;
	uint64_t bits[1];

	add_ram_and_hole(f);
	assert_int_equal(mem_region_set_ram(&f->hole, f->rom, false), 0);
	assert_int_equal(mem_region_set_log_dirty(&f->hole, true), 0);
	assert_int_equal(vcpu_write(&f->kvm, 0xA7000), 'R');
	/* Banked out: the slot is deleted, its bits harvested first. */
	assert_int_equal(mem_region_set_trap(&f->hole), 0);
	mem_region_mark_dirty(&f->hole, 0x9000, 1); /* the device's own write */
	assert_int_equal(mem_region_set_ram(&f->hole, f->rom, false), 0);
	assert_int_equal(vcpu_write(&f->kvm, 0xBF000), 'R');
	assert_int_equal(mem_region_get_dirty(&f->hole, bits, 32), 0);
	assert_int_equal(bits[0], (1ULL << 7) | (1ULL << 9) | (1ULL << 0x1F));
}

/* RAM larger than KVM takes in one slot (2^31 - 1 pages) is cut at every
 * multiple of MEM_SLOT_SPAN in the guest's address space; a region that
 * straddles a cut keeps its dirty bits across both slots. */
static void test_ram_past_a_slots_limit_is_cut(void **state)
{
	struct fixture *f = *state;
	struct mem_fragment fr[MEM_FRAGMENTS_MAX];
	struct mem_region big, low;
	/* never touched: the fake only records where a slot points */
	uint8_t *far = (uint8_t *)(uintptr_t)0x100000000000ULL;
	const uint64_t four_g = 4ULL << 30, size = 9ULL << 40;

	mem_region_init_ram(&low, "low", 0, RAM_SIZE, f->ram, false, 0);
	mem_region_init_ram(&big, "big", four_g, size, far, false, 0);
	assert_int_equal(mem_space_add(&f->space, &low), 0);
	assert_int_equal(mem_space_add(&f->space, &big), 0);
	assert_int_equal(mem_space_attach(&f->space, &fake_ops, &f->kvm, 32), 0);
	assert_int_equal(mem_space_fragments(&f->space, fr, MEM_FRAGMENTS_MAX), 4);
	assert_int_equal(installed(&f->kvm), 4);
	const uint64_t at[] = { four_g, MEM_SLOT_SPAN, 2 * MEM_SLOT_SPAN, four_g + size };
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(fr[i + 1].gpa, at[i]);
		assert_int_equal(fr[i + 1].size, at[i + 1] - at[i]);
		assert_ptr_equal(fr[i + 1].hva, far + (at[i] - four_g));
		assert_ptr_equal(fr[i + 1].region, &big);
		assert_true(slot_at(&f->kvm, at[i]) >= 0);
	}
	mem_space_remove(&f->space, &big);
	assert_int_equal(installed(&f->kvm), 1);

	/* Logged, across a cut: each slot's bits land at its own offset. */
	struct mem_region across;
	mem_region_init_ram(&across, "across", MEM_SLOT_SPAN - 2 * PAGE, 4 * PAGE, f->rom, false, 0);
	assert_int_equal(mem_space_add(&f->space, &across), 0);
	assert_int_equal(mem_space_fragments(&f->space, fr, MEM_FRAGMENTS_MAX), 3);
	assert_int_equal(fr[1].size, 2 * PAGE);
	assert_int_equal(fr[2].gpa, MEM_SLOT_SPAN);
	assert_int_equal(mem_region_set_log_dirty(&across, true), 0);
	assert_int_equal(vcpu_write(&f->kvm, MEM_SLOT_SPAN - PAGE), 'R');
	assert_int_equal(vcpu_write(&f->kvm, MEM_SLOT_SPAN), 'R');
	uint64_t bits = 0;
	assert_int_equal(mem_region_get_dirty(&across, &bits, 4), 0);
	assert_int_equal(bits, 0x6);
	mem_space_remove(&f->space, &across);
}

static void test_bad_regions_and_limits(void **state)
{
	struct fixture *f = *state;
	static struct mem_region many[MEM_REGIONS_MAX + 1];
	static char names[MEM_REGIONS_MAX + 1][8];
	struct mem_region r;

	mem_region_init_ram(&r, "odd", 0x800, 0x1000, f->ram, false, 0);
	assert_int_equal(mem_space_add(&f->space, &r), -EINVAL);
	mem_region_init_ram(&r, "odd", 0, 0x1800, f->ram, false, 0);
	assert_int_equal(mem_space_add(&f->space, &r), -EINVAL);
	mem_region_init_ram(&r, "odd", 0, 0, f->ram, false, 0);
	assert_int_equal(mem_space_add(&f->space, &r), -EINVAL);
	mem_region_init_ram(&r, "odd", UINT64_MAX & ~0xFFFULL, 0x2000, f->ram, false, 0);
	assert_int_equal(mem_space_add(&f->space, &r), -EINVAL);
	/* A region outside a space cannot change. */
	assert_int_equal(mem_region_set_trap(&r), -EINVAL);
	assert_int_equal(mem_region_set_log_dirty(&r, true), -EINVAL);

	add_ram_and_hole(f);
	mem_region_init_trap(&r, "ram", 0, 0x1000, NULL, 0);
	assert_int_equal(mem_space_add(&f->space, &r), -EEXIST);

	/* A KVM error is passed on. */
	f->kvm.fail_next_set = EIO;
	assert_int_equal(mem_region_set_ram(&f->hole, f->rom, false), -EIO);
	assert_int_equal(mem_region_set_trap(&f->hole), 0);

	/* More RAM regions than slots: the add fails, nothing crashes. */
	unsigned i;
	int ret = 0;
	for (i = 0; i < MEM_REGIONS_MAX + 1 && !ret; i++) {
		snprintf(names[i], sizeof(names[i]), "r%u", i);
		mem_region_init_ram(&many[i], names[i], 0x1000000 + i * 0x2000ULL, 0x1000,
				    f->ram, false, 0);
		ret = mem_space_add(&f->space, &many[i]);
	}
	assert_int_equal(ret, -ENOSPC);
	/* The region that did not fit is not kept. */
	assert_null(mem_space_find(&f->space, names[i - 1]));
	assert_int_equal(installed(&f->kvm), 32);
	assert_int_equal(f->space.slots.count, 32);
}

/* The PC map: RAM, the VGA window, PAM segments and the BIOS, on slots. */
static void test_pc_map_and_pam(void **state)
{
	struct guest_mem mem;
	struct memmap mm;
	struct fake_kvm *k = calloc(1, sizeof(*k));
	uint8_t *bios = calloc(1, 256 << 10);
	uint64_t bits[(32 << 20) / PAGE / 64];

	assert_int_equal(guest_mem_init(&mem, 32 << 20), 0);
	assert_int_equal(memmap_init(&mm, &mem, bios, 256 << 10), 0);
	assert_int_equal(mem_space_attach(&mm.space, &fake_ops, k, 509), 0);
	/* Low RAM, 13 PAM segments, RAM from 1 MiB, the BIOS. */
	assert_int_equal(installed(k), 16);
	assert_int_equal(vcpu_write(k, 0xB8000), 't');
	assert_int_equal(vcpu_write(k, 0xF0000), 'r');
	assert_int_equal(k->slot[slot_at(k, 0xFFFFFFF0)].gpa, 0x100000000ULL - (256 << 10));
	assert_ptr_equal(k->slot[slot_at(k, 0xFFFFFFF0)].hva, mm.bios);
	assert_int_equal(k->slot[slot_at(k, 0xFFFFFFF0)].flags, MEM_SLOT_READONLY);
	assert_int_equal(memmap_set_pam(&mm, PAM_SEGMENTS - 1, PAM_RW), 0);
	assert_int_equal(vcpu_write(k, 0xF0000), 'R');
	assert_int_equal(mem.ram[0xF0000], 0x5A);
	assert_int_equal(installed(k), 16);

	struct mem_region *ram = memmap_find_region(&mm, "ram-below-4g");
	assert_non_null(ram);
	assert_non_null(memmap_find_region(&mm, "pam-f0000"));
	assert_null(memmap_find_region(&mm, "ram-above-4g"));
	/* KVM's own ranges are there, trapped: no slot, nothing over them */
	assert_non_null(memmap_find_region(&mm, "ioapic"));
	assert_non_null(memmap_find_region(&mm, "lapic-msi"));
	assert_non_null(memmap_find_region(&mm, "kvm-real-mode"));
	assert_int_equal(vcpu_write(k, 0xFEC00000), 't');
	assert_int_equal(vcpu_write(k, 0xFEE00300), 't');
	assert_int_equal(mem_region_set_log_dirty(ram, true), 0);
	vcpu_write(k, 0x105000);
	vcpu_write(k, 0xF1000); /* PAM RAM is the PAM region's, not ram-below-4g's */
	assert_int_equal(mem_region_get_dirty(ram, bits, ARRAY_SIZE(bits) * 64), 0);
	assert_int_equal(count_bits(bits, ARRAY_SIZE(bits) * 64), 1);
	assert_true(bit(bits, 0x105));
	/* A device's write (guest_write, guest_mark_dirty): logged, in
	 * every logged region it touches. */
	assert_true(guest_write(&mem, 0x107FFF, "ab", 2));
	guest_mark_dirty_hva(&mem, mem.ram + 0x200000, 1);
	assert_int_equal(mem_region_get_dirty(ram, bits, ARRAY_SIZE(bits) * 64), 0);
	assert_int_equal(count_bits(bits, ARRAY_SIZE(bits) * 64), 3);
	assert_true(bit(bits, 0x107) && bit(bits, 0x108) && bit(bits, 0x200));
	/* Logging off: nothing to do, nothing kept. */
	assert_int_equal(mem_region_set_log_dirty(ram, false), 0);
	assert_int_equal(atomic_load(&mm.space.logging), 0);
	guest_mark_dirty(&mem, 0x300000, 4096);
	assert_int_equal(mem_region_set_log_dirty(ram, true), 0);
	assert_int_equal(mem_region_get_dirty(ram, bits, ARRAY_SIZE(bits) * 64), 0);
	assert_int_equal(count_bits(bits, ARRAY_SIZE(bits) * 64), 0);
	memmap_destroy(&mm);
	guest_mem_destroy(&mem);
	free(bios);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_allocator),
		cmocka_unit_test_setup_teardown(test_overlap_by_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switching_keeps_unchanged_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trapped_region_handler_follows_the_switch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dirty_bitmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_bits_survive_switching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_regions_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ram_past_a_slots_limit_is_cut, setup, teardown),
		cmocka_unit_test(test_pc_map_and_pam),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
