/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC's memory map as memory regions (memory.h): RAM, the BIOS ROM at
 * the top of 4 GiB, and the 0xC0000-0xFFFFF area whose 13 segments the
 * i440FX PAM registers switch between ROM (the BIOS's low alias, or empty
 * option-ROM space), read-only RAM and read-write RAM. The legacy VGA
 * window 0xA0000-0xBFFFF is a trapped region: accesses exit to the MMIO bus.
 *
 * Region names (for dirty logging and diagnostics): "ram-below-4g",
 * "ram-above-4g" (only with more than 3.5 GiB), "pc.bios", "vga-lowmem",
 * "pam-c0000" ... "pam-ec000" and "pam-f0000".
 */
#ifndef VMM_MEMMAP_H
#define VMM_MEMMAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "memory.h"

struct kvm_vm;

#define PAM_SEGMENTS 13 /* 12 x 16 KiB from 0xC0000, then 64 KiB at 0xF0000 */

enum pam_mode {
	PAM_PCI = 0,    /* reads and writes go to the ROM / PCI side */
	PAM_READ = 1,   /* reads from RAM, writes dropped */
	PAM_WRITE = 2,  /* writes to RAM; mapped read-write, as QEMU does */
	PAM_RW = 3,
};

struct memmap {
	struct kvm_vm *kvm;       /* NULL in unit tests */
	struct guest_mem *mem;
	uint8_t *bios;            /* page-aligned copy of the firmware image */
	uint64_t bios_size;
	uint8_t *option_rom_space; /* 128 KiB of zeros seen at 0xC0000 when PAM=0 */
	uint8_t pam[PAM_SEGMENTS];
	pthread_mutex_t lock;
	struct mem_space space;
	struct mem_region ram_low, ram_high, bios_rom, vga_window;
	/* What KVM serves itself there (the IOAPIC, the LAPIC and MSI window,
	 * its real-mode pages): trapped, no handler, so nothing a guest places
	 * (a ROM BAR) becomes a slot over them. */
	struct mem_region kvm_owned[3];
	struct mem_region pam_region[PAM_SEGMENTS];
	char pam_name[PAM_SEGMENTS][16];
};

struct memmap_view {
	uint64_t gpa, size;
	const uint8_t *hva;
	bool read_only;
};

/* Copies the firmware image (size: a multiple of 64 KiB, at most 16 MiB).
 * With bios NULL the image is left zeroed for the caller to fill through
 * mm->bios (vmm reads the file straight into it: no second copy). */
int memmap_init(struct memmap *mm, struct guest_mem *mem, const void *bios, uint64_t bios_size);
void memmap_destroy(struct memmap *mm);
/* Installs every slot in a new VM, with its dirty logging. */
int memmap_apply(struct memmap *mm, struct kvm_vm *kvm);
/* Before the VM is replaced (reset) or closed: keeps the dirty bits. */
void memmap_detach(struct memmap *mm);
/* The region called 'name', or NULL. */
struct mem_region *memmap_find_region(struct memmap *mm, const char *name);
/* Changes the mode of one segment (the i440FX calls this on PAM writes). */
int memmap_set_pam(struct memmap *mm, unsigned segment, enum pam_mode mode);
/* What the guest sees at a segment now (for tests and diagnostics). */
struct memmap_view memmap_segment_view(const struct memmap *mm, unsigned segment);

#endif
