// SPDX-License-Identifier: GPL-2.0-or-later
#include "memmap.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "kvm.h"
#include "util.h"

#define FOUR_GIB 0x100000000ULL
#define ISA_BIOS_START 0xE0000ULL
#define ISA_BIOS_SIZE 0x20000ULL
#define PAM_START 0xC0000ULL

enum slot_id {
	SLOT_LOW_RAM,   /* [0, 0xA0000) */
	SLOT_RAM,       /* [1 MiB, below_4g) */
	SLOT_HIGH_RAM,  /* [4 GiB, ...) */
	SLOT_BIOS,      /* [4 GiB - size, 4 GiB) */
	SLOT_PAM0,      /* PAM_SEGMENTS slots follow */
};

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

static void *map_copy(const void *src, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (src)
		memcpy(p, src, size);
	return p;
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
	return 0;
}

void memmap_destroy(struct memmap *mm)
{
	if (mm->bios)
		munmap(mm->bios, mm->bios_size);
	if (mm->option_rom_space)
		munmap(mm->option_rom_space, ISA_BIOS_SIZE);
	mm->bios = mm->option_rom_space = NULL;
}

static int apply_segment(struct memmap *mm, unsigned seg)
{
	struct memmap_view v = memmap_segment_view(mm, seg);

	if (!mm->kvm)
		return 0;
	/* KVM cannot change a slot's backing in place: delete, then add. */
	kvm_set_slot(mm->kvm, SLOT_PAM0 + seg, v.gpa, 0, NULL, false);
	return kvm_set_slot(mm->kvm, SLOT_PAM0 + seg, v.gpa, v.size, (void *)v.hva, v.read_only);
}

int memmap_apply(struct memmap *mm, struct kvm_vm *kvm)
{
	struct guest_mem *mem = mm->mem;
	int ret;

	pthread_mutex_lock(&mm->lock);
	mm->kvm = kvm;
	ret = kvm_set_slot(kvm, SLOT_LOW_RAM, 0, 0xA0000, mem->ram, false);
	if (!ret)
		ret = kvm_set_slot(kvm, SLOT_RAM, 0x100000, mem->below_4g - 0x100000,
				   mem->ram + 0x100000, false);
	if (!ret && mem->above_4g)
		ret = kvm_set_slot(kvm, SLOT_HIGH_RAM, FOUR_GIB, mem->above_4g,
				   mem->ram + mem->below_4g, false);
	if (!ret)
		ret = kvm_set_slot(kvm, SLOT_BIOS, FOUR_GIB - mm->bios_size, mm->bios_size,
				   mm->bios, true);
	for (unsigned seg = 0; !ret && seg < PAM_SEGMENTS; seg++)
		ret = apply_segment(mm, seg);
	pthread_mutex_unlock(&mm->lock);
	return ret;
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
