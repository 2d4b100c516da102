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
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_BLOCKS 4

struct mem_block {
	uint64_t gpa, size;
	uint8_t *hva;
};

#define GUEST_MEM_MAX_NAMED 4
#define GUEST_MEM_NAME_LEN 24 /* with its NUL: the stream's name field */

/* Memory a device owns beside guest RAM (video memory): migrated and saved
 * with guest RAM as a block of its own name (QEMU's RAM blocks), pre-copied
 * with dirty logging like guest RAM, but never reachable through guest_ptr
 * (no DMA into it). Its owner keeps the dirty log: while migration logs it,
 * take_dirty ORs into 'bits' (one per page) every page written since the
 * last call, by vCPUs or by the device, and forgets them; the owner's other
 * consumers of the same log (the display) still see every page. */
struct named_ram {
	char name[GUEST_MEM_NAME_LEN];
	uint8_t *hva;
	uint64_t size;              /* a multiple of 4 KiB */
	void (*log)(void *opaque, bool on);
	void (*take_dirty)(void *opaque, uint64_t *bits);
	void *opaque;
};

/* What the memory map adds to device DMA (memmap.c installs them): dirty
 * logging of host-side writes (KVM logs only what vCPUs write), and
 * which ranges a device may write (PAM read-only segments drop writes). */
struct guest_mem_hooks {
	void (*mark_dirty)(void *opaque, uint64_t gpa, uint64_t len);
	bool (*writable)(void *opaque, uint64_t gpa, uint64_t len);
};

/* Where guest RAM comes from: QEMU's memory backends (-object
 * memory-backend-ram|file|memfd with -machine memory-backend=, or the
 * legacy -mem-path/-mem-prealloc); vmm's default is a private anonymous
 * mapping (kind RAM, share off, merge on). */
enum ram_backend_kind { RAM_BACKEND_RAM, RAM_BACKEND_FILE, RAM_BACKEND_MEMFD };

struct ram_backend {
	enum ram_backend_kind kind;
	const char *id;            /* the -object's id; NULL: -m's own RAM */
	uint64_t size;
	const char *mem_path;      /* file: a file (created if missing), or a
				    * directory for an unlinked temporary file */
	bool share;                /* MAP_SHARED: others mapping the file see it */
	bool prealloc;             /* every page touched before the guest runs */
	bool reserve;              /* off: MAP_NORESERVE, no swap or huge pages
				    * set aside (backends default on, as QEMU;
				    * -m's own RAM off) */
	unsigned prealloc_threads; /* 0: as many as the size and host warrant */
	bool merge;                /* MADV_MERGEABLE (KSM may merge its pages) */
	bool dump;                 /* off: MADV_DONTDUMP (not in a core dump) */
	bool discard_data;         /* file: its contents are dropped at exit */
	bool hugetlb;              /* memfd: MFD_HUGETLB */
	uint64_t hugetlbsize;      /* memfd with hugetlb: page size, 0: default */
	bool seal;                 /* memfd: no grow/shrink once sized */
	bool prealloc_given, merge_given; /* the option parser's: said explicitly */
};

struct guest_mem {
	const struct guest_mem_hooks *hooks; /* NULL: no memory map (unit tests) */
	void *hooks_opaque;
	uint8_t *ram;        /* one host mapping for all guest RAM */
	uint64_t ram_size;   /* total, as given by -m */
	int fd;              /* the backing file or memfd, if fd_open */
	bool fd_open;
	uint64_t page_size;  /* of the backing: 4 KiB, or a huge page size */
	bool shared;         /* MAP_SHARED */
	bool discard_data;   /* drop the file's pages at destroy */
	uint64_t below_4g;   /* RAM mapped from 0 */
	uint64_t above_4g;   /* RAM mapped from 4 GiB */
	struct mem_block blocks[GUEST_MEM_MAX_BLOCKS];
	unsigned nblocks;
	struct named_ram named[GUEST_MEM_MAX_NAMED];
	unsigned nnamed;
};

/* A device's block joins the machine's (its name unique); 0, or -1 (full,
 * a duplicate name, a size not of whole pages). Removed by its memory. */
int guest_mem_add_named(struct guest_mem *m, const struct named_ram *r);
void guest_mem_remove_named(struct guest_mem *m, const uint8_t *hva);
/* The block of that name, or NULL. */
const struct named_ram *guest_mem_named(const struct guest_mem *m, const char *name);

/* Where RAM of this size ends in the PC's map (past the PCI hole). */
uint64_t guest_mem_ram_end(uint64_t ram_size);
/* Lays out RAM the way QEMU's pc machine does: all of it low when it is
 * below 3.5 GiB, else 3 GiB low and the rest from 4 GiB. Allocates the host
 * memory (MAP_NORESERVE, so untouched RAM costs nothing). Returns -errno. */
int guest_mem_init(struct guest_mem *m, uint64_t ram_size);
/* The same from a backend: opens or creates its file or memfd, maps it
 * (shared or private), advises the kernel, preallocates. On failure one
 * line in err (naming the -object) and -1, nothing left open. */
int guest_mem_init_backend(struct guest_mem *m, const struct ram_backend *b, char *err,
			   size_t errlen);
/* Touches every page of [p, p+size) with up to 'threads' threads (0:
 * chosen by size), so the host allocates it now. Returns -errno. */
int guest_mem_prealloc(uint8_t *p, uint64_t size, uint64_t page_size, unsigned threads);
/* How many threads guest_mem_prealloc uses for 'size' bytes (0: auto). */
unsigned guest_mem_prealloc_threads(uint64_t size, unsigned requested);
/* Gives host pages of guest RAM back (the balloon): afterwards they read
 * as zeros on anonymous or shared memory. Returns -errno. */
int guest_mem_discard(const struct guest_mem *m, void *hva, uint64_t len);
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
