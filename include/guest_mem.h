/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest physical memory as device models see it.
 *
 * Every guest-supplied address goes through guest_ptr(), which returns a
 * host pointer only when the whole range lies inside one block of guest RAM.
 * Device DMA can therefore never reach outside guest RAM, nor into the VGA
 * window or the PCI hole.
 */
#ifndef VMM_GUEST_MEM_H
#define VMM_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define GUEST_MEM_MAX_BLOCKS 4

struct mem_block {
	uint64_t gpa, size;
	uint8_t *hva;
};

/* What the memory map adds to device DMA (memmap.c installs them): dirty
 * logging of host-side writes (KVM logs only what vCPUs write), and
 * which ranges a device may write (PAM read-only segments drop writes). */
struct guest_mem_hooks {
	void (*mark_dirty)(void *opaque, uint64_t gpa, uint64_t len);
	bool (*writable)(void *opaque, uint64_t gpa, uint64_t len);
};

struct guest_mem {
	const struct guest_mem_hooks *hooks; /* NULL: no memory map (unit tests) */
	void *hooks_opaque;
	uint8_t *ram;        /* one host mapping for all guest RAM */
	uint64_t ram_size;   /* total, as given by -m */
	uint64_t below_4g;   /* RAM mapped from 0 */
	uint64_t above_4g;   /* RAM mapped from 4 GiB */
	struct mem_block blocks[GUEST_MEM_MAX_BLOCKS];
	unsigned nblocks;
};

/* Lays out RAM the way QEMU's pc machine does: all of it low when it is
 * below 3.5 GiB, else 3 GiB low and the rest from 4 GiB. Allocates the host
 * memory (MAP_NORESERVE, so untouched RAM costs nothing). Returns -errno. */
int guest_mem_init(struct guest_mem *m, uint64_t ram_size);
/* Wraps an existing buffer as guest RAM at 0 (unit tests). */
void guest_mem_init_buffer(struct guest_mem *m, void *buf, uint64_t size);
void guest_mem_destroy(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len), or NULL unless it is all guest RAM. */
void *guest_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
bool guest_read(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len);
/* Also marks the range dirty. */
bool guest_write(const struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len);

/* Device DMA that writes through a host pointer calls this after the
 * write: dirty logging sees [gpa, gpa+len) (memory_mark_dirty). The _hva
 * form takes a pointer guest_ptr returned (virtio's iovecs). */
void guest_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len);
void guest_mark_dirty_hva(const struct guest_mem *m, const void *hva, uint64_t len);
/* guest_ptr for a device's write: NULL also where the memory map drops
 * writes (a PAM segment that is read-only or on the ROM side). */
void *guest_ptr_write(const struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif
