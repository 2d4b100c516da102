/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Direct kernel boot (-kernel, -initrd, -append): Linux bzImage (boot
 * protocol 2.06+) and Multiboot v1 kernels.
 *
 * vmm prepares everything on the host and hands it to the guest through the
 * legacy fw_cfg kernel keys; our option ROM (bios/linuxboot.S, fw_cfg file
 * genroms/linuxboot.bin) copies the pieces into place with fw_cfg DMA when
 * SeaBIOS boots it, and enters the kernel. The keys, as this ROM reads them:
 *
 *   SETUP_ADDR/SIZE/DATA     Linux: real-mode setup (header already filled
 *                            in); Multiboot: the info block, its module
 *                            list, strings and room for the memory map
 *   KERNEL_ADDR/SIZE/DATA    Linux: protected-mode kernel at 1 MiB;
 *                            Multiboot: the image from the lowest load
 *                            address to the end of the bss (bss zeroed)
 *   INITRD_ADDR/SIZE/DATA    Linux: the initrd; Multiboot: the modules,
 *                            each page aligned
 *   CMDLINE_ADDR/SIZE/DATA   Linux: the command line (NUL-terminated);
 *                            Multiboot: unused (strings are in the info)
 *   KERNEL_ENTRY             0: Linux, real-mode entry at SETUP_ADDR+0x200;
 *                            else the Multiboot 32-bit entry point, entered
 *                            with EAX=0x2BADB002, EBX=SETUP_ADDR
 *
 * Every size and offset read from a file is checked against the file and
 * against guest RAM: the files are untrusted.
 */
#ifndef VMM_LOADER_H
#define VMM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the ROM puts Linux's real-mode part, and its heap/stack end and
 * command line inside that 64 KiB segment (the protocol's suggested
 * layout, with X = 0x10000). */
#define LINUX_SETUP_ADDR   0x10000u
#define LINUX_HEAP_END     0xE000u
#define LINUX_CMDLINE_ADDR (LINUX_SETUP_ADDR + LINUX_HEAP_END)
#define LINUX_CMDLINE_MAX  0x2000u       /* up to the end of the segment */
#define LINUX_SETUP_MAX    0x8000u       /* setup must end below the heap */
#define LINUX_KERNEL_ADDR  0x100000u
#define LINUX_LOADER_TYPE  0xFFu         /* "undefined": we have no ID */

/* Multiboot info block in low memory: the ROM (real mode) writes mem_lower,
 * mem_upper and the BIOS memory map into it with 16-bit addressing. */
#define MB_INFO_ADDR       0x10000u
#define MB_INFO_MAX        0x8000u
#define MB_MMAP_ENTRIES    32u
#define MB_MAX_MODULES     64u
#define MB_SEARCH_LEN      8192u
#define MB_HEADER_MAGIC    0x1BADB002u
#define MB_BOOT_MAGIC      0x2BADB002u
#define MB_LOADER_NAME     "vmm"

/* RAM below 4 GiB the loaders leave alone at the top: SeaBIOS keeps its
 * ACPI/SMBIOS tables there, filled in before our ROM runs. */
#define LOADER_TOP_RESERVE (1024u * 1024u)

struct boot_blob {
	uint8_t *data;
	uint32_t size;
	uint32_t addr;
};

/* A PVH ELF's loadable segment: filesz bytes from the file at offset go
 * to paddr, then zeros up to memsz. */
#define PVH_SEGMENTS_MAX 16u
struct boot_segment {
	uint64_t offset, paddr, filesz, memsz;
};

/* A PVH ELF's bytes: a buffer (unit tests) or, when buf is NULL, the
 * kernel file, read where and when they are needed. The file's identity
 * when it was opened (elf_source_identify) tells a reset whether the
 * headers read then still describe it. */
struct elf_source {
	const uint8_t *buf;
	int fd;
	uint64_t size;
	uint64_t dev, ino;
	int64_t mtime_sec, mtime_nsec;
};

/* len bytes at off; false if they are not all there: errno says why, 0
 * for a file that ended early (it shrank since it was opened). */
bool elf_source_read(const struct elf_source *src, uint64_t off, void *dst, size_t len);
/* Records the open file's identity; false if fstat fails. */
bool elf_source_identify(struct elf_source *src);
/* Whether the file is still the one identified: same inode, size and
 * modification time (a buffer always is). */
bool elf_source_unchanged(const struct elf_source *src);

/* What goes to fw_cfg. Buffers are owned; free with boot_image_free. */
struct boot_image {
	struct boot_blob setup, kernel, initrd, cmdline;
	/* PVH: kernel has the span's addr and size but no data; the segments
	 * are read from elf (owned: its buffer or its fd) straight into guest
	 * RAM at each boot. */
	struct elf_source elf;
	struct boot_segment seg[PVH_SEGMENTS_MAX];
	unsigned nseg;
	uint32_t entry;  /* 0: Linux */
	bool multiboot;
	bool pvh;        /* a PVH ELF: entry is its 32-bit entry; no setup */
};

struct loader_ram {
	uint64_t below_4g;   /* RAM from 0 */
};

/* A file's bytes (host memory) and the name used in messages. */
struct loader_file {
	const uint8_t *data;
	size_t size;
	const char *name;
};

/* ---- PVH ELF (loader_pvh.c) ---- */

/* The 32-bit entry of an x86-64 ELF with Xen's PHYS32_ENTRY note, or 0. */
uint64_t pvh_entry(const uint8_t *file, size_t size);
uint64_t pvh_entry_of(const struct elf_source *src);

/* Kernel: the PT_LOAD segments (at most PVH_SEGMENTS_MAX) in out->seg,
 * their span in out->kernel (addr, size); the initrd as high below
 * LOADER_TOP_RESERVE as it goes; the command line at LINUX_CMDLINE_ADDR.
 * On success out->elf takes the file (a heap buffer, or an open fd, whose
 * identity it records), freed or closed with the image; on failure the
 * caller keeps it. Only entered directly (pc_direct_boot.c builds the start
 * info). */
int pvh_prepare(uint8_t *file, size_t size, const uint8_t *initrd, size_t initrd_size,
		const char *cmdline, const struct loader_ram *ram, struct boot_image *out,
		char *err, size_t errlen);
int pvh_prepare_fd(int fd, const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		   const struct loader_ram *ram, struct boot_image *out, char *err,
		   size_t errlen);

/* ---- Linux ---- */

/* The zero page (struct boot_params) of the 64-bit entry, with the fields
 * a firmware-less boot fills in (Documentation/arch/x86/zero-page.rst). */
#define LINUX_ZERO_PAGE_SIZE   4096u
#define ZP_ACPI_RSDP_ADDR      0x070u  /* u64 */
#define ZP_E820_ENTRIES        0x1E8u  /* u8 */
#define ZP_E820_TABLE          0x2D0u  /* 20-byte entries */
#define ZP_E820_MAX            128u

/* 0 if img (from linux_prepare) can be entered at its 64-bit entry point
 * with a zero page; else -1 and why not. */
int linux_direct_check(const struct boot_image *img, char *why, size_t whylen);

/* A zero page holding img's filled-in setup header, everything else 0. */
void linux_zero_page(const struct boot_image *img, uint8_t page[LINUX_ZERO_PAGE_SIZE]);

/* Is this a bzImage-style setup header (boot flag + "HdrS")? */
bool linux_probe(const uint8_t *file, size_t size);

/* Builds setup, kernel, initrd (may be NULL/0) and cmdline blobs; fills in
 * the header fields the protocol asks the boot loader to set. Returns 0, or
 * -1 with a reason in err. */
int linux_prepare(const uint8_t *file, size_t size, const uint8_t *initrd, size_t initrd_size,
		  const char *cmdline, const struct loader_ram *ram, struct boot_image *out,
		  char *err, size_t errlen);

/* ---- Multiboot v1 ---- */

struct mb_module {
	char *path;      /* file to load */
	char *string;    /* the whole "path args" entry, as the module's string */
};

/* Parses -initrd for Multiboot: comma-separated entries "path args", ",,"
 * standing for a literal comma. Returns the count (>= 1) or -1 with err. */
int multiboot_parse_modules(const char *spec, struct mb_module **out, char *err, size_t errlen);
void multiboot_free_modules(struct mb_module *mods, int n);

/* Offset of a valid Multiboot header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *file, size_t size);

/* Builds the image, module and info blobs. 'mods' holds the loaded module
 * files (data, size, string in name). */
int multiboot_prepare(const uint8_t *file, size_t size, const char *cmdline,
		      const struct loader_file *mods, unsigned nmods, const struct loader_ram *ram,
		      struct boot_image *out, char *err, size_t errlen);

/* ---- common ---- */

/* Reads a whole regular file (at most max_size bytes). Returns NULL with a
 * reason in err. */
uint8_t *loader_read_file(const char *path, uint64_t max_size, size_t *size, char *err,
			  size_t errlen);

/* Loads -kernel/-initrd/-append into 'out'. Returns 0 or -1 with err (the
 * reason only; the caller names the kernel). */
int loader_load(const char *kernel, const char *initrd, const char *append,
		const struct loader_ram *ram, struct boot_image *out, char *err, size_t errlen);

/* b holds a heap copy of size bytes of data, to go to addr. */
void boot_blob_copy(struct boot_blob *b, const void *data, size_t size, uint32_t addr);
void boot_image_free(struct boot_image *img);

/* The option ROM, embedded at build time (build/bios/linuxboot_rom.c). */
extern const uint8_t vmm_linuxboot_rom[];
extern const uint32_t vmm_linuxboot_rom_size;

#endif
