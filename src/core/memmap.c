// SPDX-License-Identifier: GPL-2.0-or-later
#include "memmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "kvm.h"
#include "util.h"

#define FOUR_GIB 0x100000000ULL
#define ISA_BIOS_START 0xE0000ULL
#define ISA_BIOS_SIZE 0x20000ULL
#define PAM_START 0xC0000ULL

static void segment_range(unsigned seg, uint64_t *gpa, uint64_t *size)
{
	if (seg < PAM_SEGMENTS - 1) {
		*gpa = PAM_START + seg * 0x4000ULL;
		*size = 0x4000;
	} else {
		*gpa = 0xF0000;
		*size = 0x10000;
	}
}

/* The ROM side of a segment: the last 128 KiB of the BIOS image appear at
 * 0xE0000-0xFFFFF; below that, empty option-ROM space. */
static const uint8_t *rom_side(const struct memmap *mm, uint64_t gpa)
{
	uint64_t alias = MIN(mm->bios_size, ISA_BIOS_SIZE);
	uint64_t alias_start = 0x100000 - alias;

	if (gpa >= alias_start)
		return mm->bios + mm->bios_size - alias + (gpa - alias_start);
	return mm->option_rom_space + (gpa - PAM_START);
}

struct memmap_view memmap_segment_view(const struct memmap *mm, unsigned seg)
{
	struct memmap_view v;
	segment_range(seg, &v.gpa, &v.size);
	switch (mm->pam[seg]) {
	case PAM_PCI:
		v.hva = rom_side(mm, v.gpa);
		v.read_only = true;
		break;
	case PAM_READ:
		v.hva = mm->mem->ram + v.gpa;
		v.read_only = true;
		break;
	default:
		v.hva = mm->mem->ram + v.gpa;
		v.read_only = false;
		break;
	}
	return v;
}

/* ---- device DMA (guest_mem hooks) ---------------------------------------- */

static void dma_mark_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	struct memmap *mm = opaque;
	mem_space_mark_dirty(&mm->space, gpa, len);
}

/* A device writing into 0xC0000-0xFFFFF reaches RAM only through a
 * segment PAM maps writable; elsewhere the write goes to the ROM side
 * and is lost, as on the chipset. */
static bool dma_writable(void *opaque, uint64_t gpa, uint64_t len)
{
	struct memmap *mm = opaque;
	bool ok = true;

	if (gpa >= 0x100000 || gpa + len <= PAM_START)
		return true;
	pthread_mutex_lock(&mm->lock);
	for (unsigned seg = 0; seg < PAM_SEGMENTS && ok; seg++) {
		uint64_t s, n;
		segment_range(seg, &s, &n);
		if (gpa < s + n && s < gpa + len)
			ok = mm->pam[seg] >= PAM_WRITE;
	}
	pthread_mutex_unlock(&mm->lock);
	return ok;
}

static const struct guest_mem_hooks dma_hooks = {
	.mark_dirty = dma_mark_dirty,
	.writable = dma_writable,
};

static void *map_copy(const void *src, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (src)
		memcpy(p, src, size);
	return p;
}

/* Guest-physical ranges KVM answers itself: a slot there would hide the
 * in-kernel device (or collide with KVM's private slots: the identity map
 * and TSS pages it uses for real mode on VMX, kvm.c). */
static const struct {
	const char *name;
	uint64_t gpa, size;
} kvm_owned[] = {
	{ "ioapic", 0xFEC00000ULL, 0x1000 },
	{ "kvm-real-mode", 0xFEFFC000ULL, 0x4000 },
	{ "lapic-msi", 0xFEE00000ULL, 0x100000 },
};

static int add_regions(struct memmap *mm)
{
	struct guest_mem *mem = mm->mem;
	int ret;

	mem_space_init(&mm->space, NULL);
	/* Priority 0: RAM and the BIOS; 1: what lies over RAM below 1 MiB. */
	mem_region_init_ram(&mm->ram_low, "ram-below-4g", 0, mem->below_4g, mem->ram, false, 0);
	mem_region_init_trap(&mm->vga_window, "vga-lowmem", 0xA0000, 0x20000, NULL, 1);
	mem_region_init_ram(&mm->bios_rom, "pc.bios", FOUR_GIB - mm->bios_size, mm->bios_size,
			    mm->bios, true, 0);
	ret = mem_space_add(&mm->space, &mm->ram_low);
	if (!ret)
		ret = mem_space_add(&mm->space, &mm->vga_window);
	if (!ret)
		ret = mem_space_add(&mm->space, &mm->bios_rom);
	if (!ret && mem->above_4g) {
		mem_region_init_ram(&mm->ram_high, "ram-above-4g", FOUR_GIB, mem->above_4g,
				    mem->ram + mem->below_4g, false, 0);
		ret = mem_space_add(&mm->space, &mm->ram_high);
	}
	for (unsigned i = 0; !ret && i < ARRAY_SIZE(kvm_owned); i++) {
		mem_region_init_trap(&mm->kvm_owned[i], kvm_owned[i].name, kvm_owned[i].gpa,
				     kvm_owned[i].size, NULL, 0);
		ret = mem_space_add(&mm->space, &mm->kvm_owned[i]);
	}
	for (unsigned seg = 0; !ret && seg < PAM_SEGMENTS; seg++) {
		struct memmap_view v = memmap_segment_view(mm, seg);
		memcpy(mm->pam_name[seg], "pam-", 4);
		format_uint(mm->pam_name[seg] + 4, sizeof(mm->pam_name[seg]) - 4, v.gpa, 16, 5);
		mem_region_init_ram(&mm->pam_region[seg], mm->pam_name[seg], v.gpa, v.size,
				    (void *)v.hva, v.read_only, 1);
		ret = mem_space_add(&mm->space, &mm->pam_region[seg]);
	}
	return ret;
}

int memmap_init(struct memmap *mm, struct guest_mem *mem, const void *bios, uint64_t bios_size)
{
	memset(mm, 0, sizeof(*mm));
	if (!bios_size || bios_size % (64 * KiB) || bios_size > 16 * MiB)
		return -EINVAL;
	if (mem->below_4g < 2 * MiB)
		return -EINVAL;
	mm->mem = mem;
	mm->bios_size = bios_size;
	mm->bios = map_copy(bios, bios_size);
	mm->option_rom_space = map_copy(NULL, ISA_BIOS_SIZE);
	if (!mm->bios || !mm->option_rom_space)
		return -ENOMEM;
	pthread_mutex_init(&mm->lock, NULL);
	mem->hooks = &dma_hooks;
	mem->hooks_opaque = mm;
	return add_regions(mm);
}

void memmap_destroy(struct memmap *mm)
{
	if (mm->mem && mm->mem->hooks == &dma_hooks)
		mm->mem->hooks = NULL;
	if (mm->bios) {
		mem_space_destroy(&mm->space);
		munmap(mm->bios, mm->bios_size);
	}
	if (mm->option_rom_space)
		munmap(mm->option_rom_space, ISA_BIOS_SIZE);
	mm->bios = mm->option_rom_space = NULL;
}

/* KVM cannot change a slot's backing in place: the region switch deletes
 * the segment's slot and installs a new one. */
static int apply_segment(struct memmap *mm, unsigned seg)
{
	struct memmap_view v = memmap_segment_view(mm, seg);

	return mem_region_set_ram(&mm->pam_region[seg], (void *)v.hva, v.read_only);
}

int memmap_apply(struct memmap *mm, struct kvm_vm *kvm)
{
	mm->kvm = kvm;
	return mem_space_attach(&mm->space, &kvm_mem_slot_ops, kvm, kvm->nr_memslots);
}

void memmap_detach(struct memmap *mm)
{
	if (mm->kvm)
		mem_space_detach(&mm->space);
	mm->kvm = NULL;
}

struct mem_region *memmap_find_region(struct memmap *mm, const char *name)
{
	return mem_space_find(&mm->space, name);
}

int memmap_set_pam(struct memmap *mm, unsigned seg, enum pam_mode mode)
{
	int ret = 0;

	if (seg >= PAM_SEGMENTS)
		return -EINVAL;
	pthread_mutex_lock(&mm->lock);
	/* PAM_WRITE and PAM_RW map identically, so skip the slot churn. */
	bool same = mm->pam[seg] == mode ||
		    (mm->pam[seg] >= PAM_WRITE && mode >= PAM_WRITE);
	mm->pam[seg] = (uint8_t)mode;
	if (!same)
		ret = apply_segment(mm, seg);
	pthread_mutex_unlock(&mm->lock);
	return ret;
}
