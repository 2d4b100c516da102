// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Linux bzImage loading, written from the x86 boot protocol
 * (Documentation/arch/x86/boot.rst): the real-mode setup goes to 0x10000
 * with its heap up to 0xE000 and the command line right after, the
 * protected-mode kernel to 1 MiB, the initrd as high in low RAM as the
 * kernel allows.
 */
#include "loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Setup header offsets (from the start of the file). */
#define HDR_SETUP_SECTS     0x1F1
#define HDR_SYSSIZE         0x1F4
#define HDR_VID_MODE        0x1FA
#define HDR_BOOT_FLAG       0x1FE
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21C
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22C
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
#define HDR_JUMP            0x201   /* the setup header ends at 0x202 + this byte */
#define HDR_XLOADFLAGS      0x236
#define HDR_END             0x264   /* enough for every field we read */

#define BOOT_FLAG       0xAA55
#define HDRS_MAGIC      0x53726448u /* "HdrS" */
#define LOADED_HIGH     0x01
#define KEEP_SEGMENTS   0x40
#define CAN_USE_HEAP    0x80
#define MIN_PROTOCOL    0x0206
#define XLF_KERNEL_64   0x0001      /* the 64-bit entry at load address + 0x200 */
/* 2.12 gave xloadflags (the 64-bit entry); 2.14 the zero page's
 * acpi_rsdp_addr, the only way a firmware-less boot can name its RSDP
 * outside the BIOS area's scan. */
#define DIRECT_PROTOCOL 0x020E


bool linux_probe(const uint8_t *file, size_t size)
{
	return size >= HDR_END && get_le16(file + HDR_BOOT_FLAG) == BOOT_FLAG &&
	       get_le32(file + HDR_MAGIC) == HDRS_MAGIC;
}

static uint32_t setup_size_of(const uint8_t *file)
{
	unsigned sects = file[HDR_SETUP_SECTS];
	/* The protocol: 0 means 4, from the days it was not filled in. */
	return (sects ? sects : 4) * 512u + 512u;
}

static int check_header(const uint8_t *file, size_t size, uint32_t *setup_size, char *err,
			size_t errlen)
{
	if (!linux_probe(file, size))
		return set_err(err, errlen, "not a Linux bzImage or Multiboot kernel");
	uint16_t version = get_le16(file + HDR_VERSION);
	if (version < MIN_PROTOCOL)
		return set_err(err, errlen, "Linux boot protocol %u.%02u is too old (need 2.06 or later)",
			    version >> 8, version & 0xff);
	if (!(file[HDR_LOADFLAGS] & LOADED_HIGH))
		return set_err(err, errlen, "zImage kernels (not loaded high) are not supported");
	uint32_t ss = setup_size_of(file);
	if (ss > LINUX_SETUP_MAX)
		return set_err(err, errlen, "setup_sects %u: setup code larger than %u bytes",
			    file[HDR_SETUP_SECTS], LINUX_SETUP_MAX);
	if (ss >= size)
		return set_err(err, errlen, "truncated: file ends inside the setup code");
	/* syssize counts 16-byte paragraphs of the protected-mode part. */
	uint64_t sys = (uint64_t)get_le32(file + HDR_SYSSIZE) * 16;
	if (sys > size - ss + 15)
		return set_err(err, errlen, "truncated: syssize says %llu bytes, the file has %zu",
			    (unsigned long long)sys, size - ss);
	*setup_size = ss;
	return 0;
}

/* RAM the loader may fill: below 4 GiB, less what SeaBIOS keeps on top. */
static uint64_t usable_top(const struct loader_ram *ram)
{
	return ram->below_4g > LOADER_TOP_RESERVE ? ram->below_4g - LOADER_TOP_RESERVE : 0;
}

/* End of what the kernel occupies while it starts. 2.10+: it decompresses
 * itself to pref_address (16 MiB for Debian's) and needs init_size bytes
 * there; a pref_address beyond RAM means the kernel relocates. */
static uint64_t kernel_end_of(const uint8_t *file, size_t kernel_size, uint64_t ram_top)
{
	uint64_t end = LINUX_KERNEL_ADDR + (uint64_t)kernel_size;
	if (get_le16(file + HDR_VERSION) >= 0x020A) {
		uint64_t init = get_le32(file + HDR_INIT_SIZE);
		uint64_t pref = get_le64(file + HDR_PREF_ADDRESS);
		end = MAX(end, LINUX_KERNEL_ADDR + init);
		if (pref >= LINUX_KERNEL_ADDR && pref < ram_top)
			end = MAX(end, pref + init);
	}
	return end;
}

static int place_initrd(const uint8_t *file, size_t kernel_size, size_t initrd_size,
			const struct loader_ram *ram, uint32_t *addr, char *err, size_t errlen)
{
	uint64_t ram_top = usable_top(ram);
	uint64_t kernel_end = kernel_end_of(file, kernel_size, ram_top);

	*addr = 0;
	if (kernel_end > ram_top)
		return set_err(err, errlen, "kernel needs RAM up to %llu MiB, the guest has %llu MiB "
			    "usable below 4 GiB", (unsigned long long)((kernel_end + MiB - 1) >> 20),
			    (unsigned long long)(ram_top >> 20));
	if (!initrd_size)
		return 0;
	/* initrd_addr_max is the highest byte the initrd may occupy. */
	uint64_t top = MIN(ram_top, (uint64_t)get_le32(file + HDR_INITRD_ADDR_MAX) + 1);
	if (top < kernel_end || initrd_size > top - kernel_end)
		return set_err(err, errlen, "initrd of %zu bytes does not fit in guest RAM "
			    "(at most %llu bytes between the kernel and the highest address "
			    "the kernel and RAM allow)", initrd_size,
			    (unsigned long long)(top > kernel_end ? top - kernel_end : 0));
	uint64_t a = (top - initrd_size) & ~0xFFFull;
	if (a < kernel_end)
		return set_err(err, errlen, "initrd of %zu bytes does not fit in guest RAM", initrd_size);
	*addr = (uint32_t)a;
	return 0;
}

static int make_cmdline(const uint8_t *file, const char *cmdline, struct boot_blob *out,
			char *err, size_t errlen)
{
	size_t len = cmdline ? strlen(cmdline) : 0;
	uint32_t max = get_le32(file + HDR_CMDLINE_SIZE);

	if (len > max || len + 1 > LINUX_CMDLINE_MAX)
		return set_err(err, errlen, "command line of %zu bytes is too long (at most %u)", len,
			    MIN(max, LINUX_CMDLINE_MAX - 1));
	out->size = (uint32_t)len + 1;
	out->data = xzalloc(out->size);
	if (len)
		memcpy(out->data, cmdline, len);
	out->addr = LINUX_CMDLINE_ADDR;
	return 0;
}

/* vga= on the command line. The boot protocol has the boot loader copy it
 * to vid_mode, which the kernel's real-mode code reads before it parses
 * the command line (so vga=0x311 sets a VESA mode through the VGA BIOS):
 * "normal" 0xFFFF, "ext" 0xFFFE, "ask" 0xFFFD, or a number in C notation
 * up to 0xFFFF. 0 with *set false when there is none; -1 when it is not
 * a mode (QEMU refuses it too). */
static int video_mode(const char *cmdline, bool *set, uint16_t *mode, char *err, size_t errlen)
{
	static const struct { const char *name; uint16_t mode; } named[] = {
		{ "normal", 0xFFFF }, { "ext", 0xFFFE }, { "ask", 0xFFFD },
	};
	const char *v = NULL;

	*set = false;
	for (const char *p = cmdline; p && (p = strstr(p, "vga=")); p += 4)
		if (p == cmdline || p[-1] == ' ')
			v = p + 4; /* the last one wins, as the kernel's own parsing */
	if (!v)
		return 0;
	size_t len = strcspn(v, " ");
	for (size_t i = 0; i < ARRAY_SIZE(named); i++)
		if (len == strlen(named[i].name) && !strncmp(v, named[i].name, len)) {
			*mode = named[i].mode;
			*set = true;
			return 0;
		}
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 0);
	if (!len || v[0] == '-' || errno || end != v + len || n > 0xFFFF)
		return set_err(err, errlen, "invalid 'vga=' kernel parameter: %.*s", (int)MIN(len, 32),
			       v);
	*mode = (uint16_t)n;
	*set = true;
	return 0;
}

/* The fields the protocol says the boot loader writes. */
static void fill_header(uint8_t *setup, uint32_t initrd_addr, uint32_t initrd_size)
{
	setup[HDR_TYPE_OF_LOADER] = LINUX_LOADER_TYPE;
	setup[HDR_LOADFLAGS] = (uint8_t)((setup[HDR_LOADFLAGS] | CAN_USE_HEAP) & ~KEEP_SEGMENTS);
	put_le16(setup + HDR_HEAP_END_PTR, LINUX_HEAP_END - 0x200);
	put_le32(setup + HDR_CMD_LINE_PTR, LINUX_CMDLINE_ADDR);
	put_le32(setup + HDR_RAMDISK_IMAGE, initrd_addr);
	put_le32(setup + HDR_RAMDISK_SIZE, initrd_size);
}

int linux_prepare(const uint8_t *file, size_t size, const uint8_t *initrd, size_t initrd_size,
		  const char *cmdline, const struct loader_ram *ram, struct boot_image *out,
		  char *err, size_t errlen)
{
	uint32_t setup_size = 0, initrd_addr = 0;
	uint16_t vid_mode = 0;
	bool vid_set;

	memset(out, 0, sizeof(*out));
	if (check_header(file, size, &setup_size, err, errlen) < 0)
		return -1;
	if (video_mode(cmdline, &vid_set, &vid_mode, err, errlen) < 0)
		return -1;
	if (initrd_size > UINT32_MAX)
		return set_err(err, errlen, "initrd larger than 4 GiB");
	if (place_initrd(file, size - setup_size, initrd_size, ram, &initrd_addr, err, errlen) < 0)
		return -1;
	if (make_cmdline(file, cmdline, &out->cmdline, err, errlen) < 0)
		return -1;
	boot_blob_copy(&out->setup, file, setup_size, LINUX_SETUP_ADDR);
	fill_header(out->setup.data, initrd_addr, (uint32_t)initrd_size);
	if (vid_set)
		put_le16(out->setup.data + HDR_VID_MODE, vid_mode);
	boot_blob_copy(&out->kernel, file + setup_size, size - setup_size, LINUX_KERNEL_ADDR);
	if (initrd_size)
		boot_blob_copy(&out->initrd, initrd, initrd_size, initrd_addr);
	return 0;
}

int linux_direct_check(const struct boot_image *img, char *why, size_t whylen)
{
	if (img->multiboot)
		return set_err(why, whylen, "a Multiboot kernel boots through the firmware");
	const uint8_t *setup = img->setup.data;
	uint16_t version = get_le16(setup + HDR_VERSION);
	if (version < DIRECT_PROTOCOL)
		return set_err(why, whylen, "boot protocol %u.%02u is older than 2.14", version >> 8,
			       version & 0xff);
	if (!(get_le16(setup + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return set_err(why, whylen, "the kernel has no 64-bit entry point");
	return 0;
}

void linux_zero_page(const struct boot_image *img, uint8_t page[LINUX_ZERO_PAGE_SIZE])
{
	const uint8_t *setup = img->setup.data;
	size_t end = MIN((size_t)0x202 + setup[HDR_JUMP], (size_t)img->setup.size);

	memset(page, 0, LINUX_ZERO_PAGE_SIZE);
	/* The header as the loader filled it in (command line, initrd, loader
	 * type): the kernel reads it from the zero page on this entry. */
	if (end > HDR_SETUP_SECTS && end <= LINUX_ZERO_PAGE_SIZE)
		memcpy(page + HDR_SETUP_SECTS, setup + HDR_SETUP_SECTS, end - HDR_SETUP_SECTS);
}
