// SPDX-License-Identifier: GPL-2.0-or-later
/* Direct kernel boot loaders: bzImage headers and Multiboot images, good
 * and hostile, built in memory. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "guest_mem.h"
#include "hw/fw_cfg.h"
#include "loader.h"
#include "machine.h"
#include "util.h"

#define RAM_128M ((struct loader_ram){ .below_4g = 128 * MiB })

static char err[256];

/* ---- bzImage ------------------------------------------------------------- */

struct bz {
	uint8_t *data;
	size_t size;
};

/* A bzImage: 'sects' setup sectors, 'kernel' bytes of protected-mode part. */
static struct bz make_bz(unsigned sects, size_t kernel, uint16_t version)
{
	size_t setup = ((sects ? sects : 4) + 1) * 512;
	struct bz b = { .size = setup + kernel };
	b.data = calloc(1, b.size);
	b.data[0x1F1] = (uint8_t)sects;
	put_le32(b.data + 0x1F4, (uint32_t)(kernel / 16));
	put_le16(b.data + 0x1FE, 0xAA55);
	put_le32(b.data + 0x202, 0x53726448);
	put_le16(b.data + 0x206, version);
	b.data[0x211] = 0x01 | 0x40;            /* LOADED_HIGH, and a stray KEEP_SEGMENTS */
	put_le32(b.data + 0x22C, 0x37FFFFFF);
	put_le32(b.data + 0x238, 2047);
	for (size_t i = 0; i < kernel; i++)
		b.data[setup + i] = (uint8_t)(i * 7);
	return b;
}

static int prepare_bz(struct bz *b, const uint8_t *rd, size_t rdsize, const char *cmd,
		      uint64_t ram, struct boot_image *img)
{
	struct loader_ram r = { .below_4g = ram };
	return linux_prepare(b->data, b->size, rd, rdsize, cmd, &r, img, err, sizeof(err));
}

static void test_bz_good(void **state)
{
	struct bz b = make_bz(4, 64 * 1024, 0x020F);
	size_t rdsize = 3 * MiB + 5;
	uint8_t *rd = malloc(rdsize);
	struct boot_image img;

	memset(rd, 0x5A, rdsize);
	assert_true(linux_probe(b.data, b.size));
	assert_int_equal(prepare_bz(&b, rd, rdsize, "console=ttyS0 x=1", 128 * MiB, &img), 0);
	const uint8_t *h = img.setup.data;
	assert_int_equal(img.setup.addr, LINUX_SETUP_ADDR);
	assert_int_equal(img.setup.size, 5 * 512);
	assert_int_equal(h[0x210], LINUX_LOADER_TYPE);
	assert_int_equal(h[0x211], 0x81);        /* CAN_USE_HEAP set, KEEP_SEGMENTS cleared */
	assert_int_equal(get_le16(h + 0x224), 0xDE00);
	assert_int_equal(get_le32(h + 0x228), LINUX_CMDLINE_ADDR);
	uint32_t rd_addr = get_le32(h + 0x218);
	assert_int_equal(get_le32(h + 0x21C), rdsize);
	assert_int_equal(rd_addr % 4096, 0);
	assert_true(rd_addr + rdsize <= 127 * MiB);
	assert_true(rd_addr + rdsize > 127 * MiB - 4096);
	assert_int_equal(img.initrd.addr, rd_addr);
	assert_memory_equal(img.initrd.data, rd, rdsize);
	assert_int_equal(img.kernel.addr, 0x100000);
	assert_int_equal(img.kernel.size, 64 * 1024);
	assert_memory_equal(img.kernel.data, b.data + 5 * 512, 64 * 1024);
	assert_int_equal(img.cmdline.addr, LINUX_CMDLINE_ADDR);
	assert_string_equal((const char *)img.cmdline.data, "console=ttyS0 x=1");
	assert_int_equal(img.entry, 0);
	assert_false(img.multiboot);
	boot_image_free(&img);
	free(rd);
	free(b.data);
}

/* The 64-bit entry needs protocol 2.14 (the zero page's RSDP field) and
 * XLF_KERNEL_64; the zero page carries the filled-in header, as long as
 * its jump byte says, and nothing else. */
static void test_bz_direct_entry(void **state)
{
	struct bz b = make_bz(4, 4096, 0x020F);
	struct boot_image img;
	static uint8_t zp[LINUX_ZERO_PAGE_SIZE];

	put_le16(b.data + 0x236, 0x0003);
	b.data[0x201] = 0x6A;               /* header ends at 0x26C */
	assert_int_equal(prepare_bz(&b, NULL, 0, "quiet", 128 * MiB, &img), 0);
	assert_int_equal(linux_direct_check(&img, err, sizeof(err)), 0);
	memset(zp, 0xEE, sizeof(zp));
	linux_zero_page(&img, zp);
	assert_memory_equal(zp + 0x1F1, img.setup.data + 0x1F1, 0x26C - 0x1F1);
	assert_int_equal(get_le32(zp + 0x228), LINUX_CMDLINE_ADDR);
	assert_int_equal(zp[0x210], LINUX_LOADER_TYPE);
	for (size_t i = 0; i < sizeof(zp); i++)
		if (i < 0x1F1 || i >= 0x26C)
			assert_int_equal(zp[i], 0);
	boot_image_free(&img);

	b.data[0x201] = 0xFF;               /* the largest jump: up to 0x301 */
	assert_int_equal(prepare_bz(&b, NULL, 0, NULL, 128 * MiB, &img), 0);
	linux_zero_page(&img, zp);
	assert_memory_equal(zp + 0x1F1, img.setup.data + 0x1F1, 0x301 - 0x1F1);
	assert_int_equal(zp[0x301], 0);
	boot_image_free(&img);

	put_le16(b.data + 0x236, 0x0002);   /* no 64-bit entry */
	assert_int_equal(prepare_bz(&b, NULL, 0, NULL, 128 * MiB, &img), 0);
	assert_int_equal(linux_direct_check(&img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64-bit"));
	boot_image_free(&img);

	put_le16(b.data + 0x236, 0x0003);
	put_le16(b.data + 0x206, 0x020D);   /* 2.13: no acpi_rsdp_addr */
	assert_int_equal(prepare_bz(&b, NULL, 0, NULL, 128 * MiB, &img), 0);
	assert_int_equal(linux_direct_check(&img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "2.13"));
	boot_image_free(&img);
	free(b.data);
}

static void test_bz_setup_sects_zero_means_four(void **state)
{
	struct bz b = make_bz(0, 4096, 0x0206);
	struct boot_image img;
	assert_int_equal(prepare_bz(&b, NULL, 0, NULL, 64 * MiB, &img), 0);
	assert_int_equal(img.setup.size, 5 * 512);
	assert_int_equal(get_le32(img.setup.data + 0x218), 0);
	assert_int_equal(img.cmdline.size, 1);
	boot_image_free(&img);
	free(b.data);
}

static void expect_bz_error(struct bz *b, const uint8_t *rd, size_t rdsize, const char *cmd,
			    uint64_t ram, const char *needle)
{
	struct boot_image img;
	err[0] = 0;
	assert_int_equal(prepare_bz(b, rd, rdsize, cmd, ram, &img), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
	assert_null(img.setup.data);
	assert_null(img.kernel.data);
}

static void test_bz_malformed(void **state)
{
	struct bz b = make_bz(4, 8192, 0x020F);
	struct bz t;

	/* truncated inside the setup code, and shorter than syssize says */
	t = b;
	t.size = 3 * 512;
	expect_bz_error(&t, NULL, 0, NULL, 64 * MiB, "truncated");
	t.size = 5 * 512;
	expect_bz_error(&t, NULL, 0, NULL, 64 * MiB, "truncated");
	t.size = 5 * 512 + 4096;
	expect_bz_error(&t, NULL, 0, NULL, 64 * MiB, "truncated");
	/* too short for a header at all */
	t.size = 0x200;
	expect_bz_error(&t, NULL, 0, NULL, 64 * MiB, "not a Linux bzImage");

	/* setup_sects huge */
	b.data[0x1F1] = 255;
	expect_bz_error(&b, NULL, 0, NULL, 64 * MiB, "setup_sects 255");
	b.data[0x1F1] = 4;

	/* old protocol, zImage */
	put_le16(b.data + 0x206, 0x0205);
	expect_bz_error(&b, NULL, 0, NULL, 64 * MiB, "2.05 is too old (need 2.06 or later)");
	put_le16(b.data + 0x206, 0x020F);
	b.data[0x211] = 0;
	expect_bz_error(&b, NULL, 0, NULL, 64 * MiB, "zImage");
	b.data[0x211] = 1;

	/* bad magic, bad boot flag */
	b.data[0x202] = 'X';
	expect_bz_error(&b, NULL, 0, NULL, 64 * MiB, "not a Linux bzImage");
	b.data[0x202] = 'H';
	b.data[0x1FE] = 0;
	expect_bz_error(&b, NULL, 0, NULL, 64 * MiB, "not a Linux bzImage");
	b.data[0x1FE] = 0x55;

	/* a command line longer than the kernel takes */
	put_le32(b.data + 0x238, 10);
	expect_bz_error(&b, NULL, 0, "0123456789A", 64 * MiB, "command line of 11 bytes");
	put_le32(b.data + 0x238, 0xFFFFFFFF);
	char *longcmd = malloc(LINUX_CMDLINE_MAX + 1);
	memset(longcmd, 'a', LINUX_CMDLINE_MAX);
	longcmd[LINUX_CMDLINE_MAX] = 0;
	expect_bz_error(&b, NULL, 0, longcmd, 64 * MiB, "too long");
	free(longcmd);

	/* init_size (2.10+) beyond RAM */
	put_le32(b.data + 0x260, 0xF0000000);
	expect_bz_error(&b, NULL, 0, NULL, 64 * MiB, "kernel needs");
	free(b.data);
}

static void test_bz_initrd_limits(void **state)
{
	struct bz b = make_bz(4, 4096, 0x020F);
	uint8_t rd[4096] = { 1 };
	struct boot_image img;

	/* Too big for RAM: checked before anything reads the buffer. */
	expect_bz_error(&b, rd, 200 * MiB, NULL, 128 * MiB, "does not fit in guest RAM");
	expect_bz_error(&b, rd, 126 * MiB, NULL, 128 * MiB, "does not fit in guest RAM");
	/* The kernel's initrd_addr_max caps the placement. */
	put_le32(b.data + 0x22C, 0x01FFFFFF);
	assert_int_equal(prepare_bz(&b, rd, sizeof(rd), NULL, 128 * MiB, &img), 0);
	uint32_t a = get_le32(img.setup.data + 0x218);
	assert_int_equal(a, 32 * MiB - 4096);
	boot_image_free(&img);
	/* A hostile initrd_addr_max below the kernel: no initrd fits, and it
	 * does not matter without one. */
	put_le32(b.data + 0x22C, 0);
	expect_bz_error(&b, rd, sizeof(rd), NULL, 128 * MiB, "does not fit in guest RAM");
	assert_int_equal(prepare_bz(&b, NULL, 0, NULL, 128 * MiB, &img), 0);
	boot_image_free(&img);
	put_le32(b.data + 0x22C, 0x01FFFFFF);
	/* Tiny RAM: nothing above the reserve. */
	expect_bz_error(&b, rd, sizeof(rd), NULL, 2 * MiB, "kernel needs");
	/* 2.10+: the initrd stays out of [pref_address, + init_size). */
	put_le32(b.data + 0x22C, 0x7FFFFFFF);
	put_le32(b.data + 0x260, 48 * MiB);
	put_le64(b.data + 0x258, 16 * MiB);
	expect_bz_error(&b, rd, sizeof(rd), NULL, 64 * MiB, "kernel needs");
	expect_bz_error(&b, rd, 64 * MiB, NULL, 128 * MiB, "does not fit in guest RAM");
	put_le32(b.data + 0x22C, 70 * MiB - 1);
	assert_int_equal(prepare_bz(&b, rd, sizeof(rd), NULL, 128 * MiB, &img), 0);
	assert_int_equal(get_le32(img.setup.data + 0x218), 70 * MiB - 4096);
	boot_image_free(&img);
	expect_bz_error(&b, rd, 7 * MiB, NULL, 128 * MiB, "does not fit in guest RAM");
	put_le32(b.data + 0x22C, 0x7FFFFFFF);
	put_le64(b.data + 0x258, 0xFFFFFFFF00000000ull);   /* hostile: ignored, not wrapped */
	expect_bz_error(&b, rd, 100 * MiB, NULL, 128 * MiB, "does not fit in guest RAM");
	free(b.data);
}

/* ---- Multiboot ---------------------------------------------------------------- */

#define MB_FILE_SIZE 0x4000

struct elf_seg {
	uint32_t offset, vaddr, paddr, filesz, memsz;
};

/* An ELF32 with a Multiboot header at 0x100 and the given PT_LOADs. */
static uint8_t *make_elf(const struct elf_seg *s, unsigned n, uint32_t entry, uint32_t mbflags)
{
	uint8_t *f = calloc(1, MB_FILE_SIZE);
	memcpy(f, "\177ELF", 4);
	f[4] = 1;
	f[5] = 1;
	f[6] = 1;
	put_le16(f + 16, 2);
	put_le16(f + 18, 3);
	put_le32(f + 24, entry);
	put_le32(f + 28, 52);
	put_le16(f + 42, 32);
	put_le16(f + 44, (uint16_t)n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ph = f + 52 + i * 32;
		put_le32(ph, 1);
		put_le32(ph + 4, s[i].offset);
		put_le32(ph + 8, s[i].vaddr);
		put_le32(ph + 12, s[i].paddr);
		put_le32(ph + 16, s[i].filesz);
		put_le32(ph + 20, s[i].memsz);
	}
	put_le32(f + 0x100, MB_HEADER_MAGIC);
	put_le32(f + 0x104, mbflags);
	put_le32(f + 0x108, (uint32_t)-(MB_HEADER_MAGIC + mbflags));
	for (unsigned i = 0x200; i < MB_FILE_SIZE; i++)
		f[i] = (uint8_t)(i ^ 0x3C);
	return f;
}

static int mb_prepare(const uint8_t *f, size_t size, const struct loader_file *mods, unsigned n,
		      uint64_t ram, struct boot_image *img)
{
	struct loader_ram r = { .below_4g = ram };
	return multiboot_prepare(f, size, "kernel a=b", mods, n, &r, img, err, sizeof(err));
}

static const struct elf_seg good_segs[] = {
	{ 0x1000, 0xC0100000, 0x100000, 0x1000, 0x1000 },
	{ 0x2000, 0xC0200000, 0x200000, 0x800, 0x3000 },   /* with bss */
};

static const char *info_string(const struct boot_image *img, uint32_t addr)
{
	assert_true(addr >= img->setup.addr && addr < img->setup.addr + img->setup.size);
	return (const char *)img->setup.data + (addr - img->setup.addr);
}

static void test_mb_elf_good(void **state)
{
	uint8_t *f = make_elf(good_segs, 2, 0xC0100010, 3);
	uint8_t m1[100], m2[5000];
	struct loader_file mods[2] = {
		{ m1, sizeof(m1), "mod1 x" }, { m2, sizeof(m2), "mod2 y,z" },
	};
	struct boot_image img;

	memset(m1, 0x11, sizeof(m1));
	memset(m2, 0x22, sizeof(m2));
	assert_int_equal(multiboot_find_header(f, MB_FILE_SIZE), 0x100);
	assert_int_equal(mb_prepare(f, MB_FILE_SIZE, mods, 2, 128 * MiB, &img), 0);
	assert_true(img.multiboot);
	assert_int_equal(img.entry, 0x100010);   /* virtual entry, physical address */
	assert_int_equal(img.kernel.addr, 0x100000);
	assert_int_equal(img.kernel.size, 0x103000);
	assert_memory_equal(img.kernel.data, f + 0x1000, 0x1000);
	assert_memory_equal(img.kernel.data + 0x100000, f + 0x2000, 0x800);
	for (uint32_t i = 0x100800; i < 0x103000; i++)
		if (img.kernel.data[i])
			fail_msg("bss byte at +0x%x not zero", i);
	/* modules: page aligned after the image */
	assert_int_equal(img.initrd.addr, 0x203000);
	const uint8_t *info = img.setup.data;
	assert_int_equal(img.setup.addr, MB_INFO_ADDR);
	assert_true(img.setup.size <= MB_INFO_MAX);
	assert_int_equal(get_le32(info), 0x24D);
	assert_string_equal(info_string(&img, get_le32(info + 16)), "kernel a=b");
	assert_string_equal(info_string(&img, get_le32(info + 64)), "vmm");
	assert_int_equal(get_le32(info + 20), 2);
	const uint8_t *ml = info + (get_le32(info + 24) - MB_INFO_ADDR);
	assert_int_equal(get_le32(ml), 0x203000);
	assert_int_equal(get_le32(ml + 4), 0x203000 + 100);
	assert_string_equal(info_string(&img, get_le32(ml + 8)), "mod1 x");
	assert_int_equal(get_le32(ml + 16), 0x204000);
	assert_int_equal(get_le32(ml + 20), 0x204000 + 5000);
	assert_string_equal(info_string(&img, get_le32(ml + 24)), "mod2 y,z");
	assert_memory_equal(img.initrd.data, m1, sizeof(m1));
	assert_memory_equal(img.initrd.data + 0x1000, m2, sizeof(m2));
	/* room for the ROM's E820 map, inside the block */
	uint32_t mmap = get_le32(info + 48), mlen = get_le32(info + 44);
	assert_int_equal(mlen, MB_MMAP_ENTRIES * 24);
	assert_true(mmap >= MB_INFO_ADDR && mmap + mlen <= MB_INFO_ADDR + img.setup.size);
	assert_true(mmap + mlen <= get_le32(info + 24));
	boot_image_free(&img);
	free(f);
}

static void expect_mb_error(const uint8_t *f, size_t size, const struct loader_file *mods,
			    unsigned n, uint64_t ram, const char *needle)
{
	struct boot_image img;
	err[0] = 0;
	assert_int_equal(mb_prepare(f, size, mods, n, ram, &img), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
	assert_null(img.kernel.data);
	assert_null(img.setup.data);
}

static void expect_elf_error(const struct elf_seg *s, unsigned n, uint32_t entry,
			     const char *needle)
{
	uint8_t *f = make_elf(s, n, entry, 3);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, needle);
	free(f);
}

static void test_mb_elf_malformed(void **state)
{
	struct elf_seg s[2];

	memcpy(s, good_segs, sizeof(s));
	s[1].offset = MB_FILE_SIZE - 0x100;      /* data past the end of the file */
	expect_elf_error(s, 2, 0xC0100010, "outside the file");
	memcpy(s, good_segs, sizeof(s));
	s[1].offset = 0xFFFFFF00;                /* offset + size wraps in 32 bits */
	s[1].filesz = 0x200;
	expect_elf_error(s, 2, 0xC0100010, "outside the file");
	memcpy(s, good_segs, sizeof(s));
	s[1].paddr = 0x100800;                   /* overlaps the first segment */
	expect_elf_error(s, 2, 0xC0100010, "overlap");
	memcpy(s, good_segs, sizeof(s));
	s[0].paddr = 0x7C00;                     /* below 1 MiB */
	expect_elf_error(s, 2, 0xC0100010, "below 1 MiB");
	memcpy(s, good_segs, sizeof(s));
	s[1].paddr = 0x7FFFF000;                 /* beyond RAM */
	expect_elf_error(s, 2, 0xC0100010, "beyond guest RAM");
	memcpy(s, good_segs, sizeof(s));
	s[1].paddr = 0xFFFFF000;                 /* wraps past 4 GiB */
	s[1].memsz = 0x2000;
	expect_elf_error(s, 2, 0xC0100010, "beyond guest RAM");
	memcpy(s, good_segs, sizeof(s));
	s[0].filesz = 0x2000;                    /* filesz > memsz */
	expect_elf_error(s, 2, 0xC0100010, "p_filesz > p_memsz");
	memcpy(s, good_segs, sizeof(s));
	expect_elf_error(s, 2, 0xD0000000, "entry point");

	/* program header table out of the file, bad counts */
	uint8_t *f = make_elf(good_segs, 2, 0xC0100010, 3);
	put_le32(f + 28, MB_FILE_SIZE - 40);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "program headers lie outside");
	put_le32(f + 28, 0xFFFFFFF0);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "program headers lie outside");
	put_le32(f + 28, 52);
	put_le16(f + 44, 0);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "program header table");
	put_le16(f + 44, 65535);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "program header table");
	put_le16(f + 44, 2);
	put_le16(f + 42, 8);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "program header table");
	put_le16(f + 42, 32);
	put_le16(f + 18, 62);                    /* x86-64 */
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "32-bit x86 ELF");
	put_le16(f + 18, 3);
	f[0] = 0;                                /* not ELF, no address fields */
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "neither ELF");
	f[0] = 0x7F;
	/* truncated file */
	expect_mb_error(f, 0x180, NULL, 0, 128 * MiB, "outside the file");
	free(f);
}

static void test_mb_header(void **state)
{
	uint8_t *f = make_elf(good_segs, 2, 0xC0100010, 3);

	/* bad checksum */
	put_le32(f + 0x108, get_le32(f + 0x108) + 1);
	assert_int_equal(multiboot_find_header(f, MB_FILE_SIZE), -1);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "no valid Multiboot header");
	free(f);

	/* beyond the first 8 KiB, or not 4-byte aligned */
	f = calloc(1, 0x3000);
	put_le32(f + 0x2000, MB_HEADER_MAGIC);
	put_le32(f + 0x2008, (uint32_t)-MB_HEADER_MAGIC);
	assert_int_equal(multiboot_find_header(f, 0x3000), -1);
	put_le32(f + 0x1FF6, MB_HEADER_MAGIC);
	put_le32(f + 0x1FFE, (uint32_t)-MB_HEADER_MAGIC);
	assert_int_equal(multiboot_find_header(f, 0x3000), -1);
	/* a header cut off by the end of a short file */
	assert_int_equal(multiboot_find_header(f, 0x1FFA), -1);
	free(f);

	/* a required feature we do not know */
	f = make_elf(good_segs, 2, 0xC0100010, 3 | 0x100);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 128 * MiB, "unsupported features");
	free(f);
}

static uint8_t *make_aout(uint32_t header_addr, uint32_t load, uint32_t load_end,
			  uint32_t bss_end, uint32_t entry)
{
	uint32_t flags = 0x10003;
	uint8_t *f = calloc(1, MB_FILE_SIZE);
	put_le32(f + 0x40, MB_HEADER_MAGIC);
	put_le32(f + 0x44, flags);
	put_le32(f + 0x48, (uint32_t)-(MB_HEADER_MAGIC + flags));
	put_le32(f + 0x4C, header_addr);
	put_le32(f + 0x50, load);
	put_le32(f + 0x54, load_end);
	put_le32(f + 0x58, bss_end);
	put_le32(f + 0x5C, entry);
	return f;
}

static void test_mb_aout(void **state)
{
	struct boot_image img;
	uint8_t *f = make_aout(0x100040, 0x100000, 0, 0x110000, 0x100060);

	assert_int_equal(mb_prepare(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, &img), 0);
	assert_int_equal(img.kernel.addr, 0x100000);
	assert_int_equal(img.kernel.size, 0x10000);
	assert_int_equal(img.entry, 0x100060);
	assert_int_equal(get_le32(img.kernel.data + 0x40), MB_HEADER_MAGIC);
	assert_int_equal(get_le32(img.setup.data + 20), 0);   /* no modules */
	assert_int_equal(get_le32(img.setup.data) & (1 << 3), 0);
	boot_image_free(&img);
	free(f);

	f = make_aout(0x100040, 0x100000, 0x100000 + MB_FILE_SIZE + 1, 0, 0x100060);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "load_end_addr beyond");
	free(f);
	f = make_aout(0x100040, 0x100100, 0, 0, 0x100160);    /* load_addr > header_addr */
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "inconsistent");
	free(f);
	f = make_aout(0x200040, 0x100000, 0, 0, 0x100060);    /* image would start before the file */
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "inconsistent");
	free(f);
	f = make_aout(0x100040, 0x100000, 0x101000, 0x100800, 0x100060);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "bss_end_addr");
	free(f);
	f = make_aout(0x100040, 0x100000, 0, 0, 0x900000);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "entry_addr");
	free(f);
	f = make_aout(0x40, 0x0, 0, 0, 0x60);                 /* at address 0 */
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "below 1 MiB");
	free(f);
	f = make_aout(0x3F000040, 0x3F000000, 0, 0, 0x3F000060);
	expect_mb_error(f, MB_FILE_SIZE, NULL, 0, 64 * MiB, "beyond guest RAM");
	free(f);
}

static void test_mb_modules_vs_ram(void **state)
{
	uint8_t *f = make_elf(good_segs, 2, 0xC0100010, 3);
	uint8_t small[16] = { 0 };
	/* Sizes are checked before the (short) buffers would be read. */
	struct loader_file big[2] = { { small, 40 * MiB, "a" }, { small, 40 * MiB, "b" } };
	expect_mb_error(f, MB_FILE_SIZE, big, 2, 64 * MiB, "modules do not fit");
	struct loader_file huge = { small, 100 * MiB, "h" };
	expect_mb_error(f, MB_FILE_SIZE, &huge, 1, 64 * MiB, "larger than guest RAM");

	/* strings that overflow the info block */
	char *s = malloc(MB_INFO_MAX);
	memset(s, 'x', MB_INFO_MAX - 1);
	s[MB_INFO_MAX - 1] = 0;
	struct loader_file longname = { small, sizeof(small), s };
	expect_mb_error(f, MB_FILE_SIZE, &longname, 1, 64 * MiB, "exceed");
	free(s);
	free(f);
}

static void test_module_list(void **state)
{
	struct mb_module *m;
	int n = multiboot_parse_modules("/a/b.bin arg1 arg2,/c,,d  x,  /e", &m, err, sizeof(err));
	assert_int_equal(n, 3);
	assert_string_equal(m[0].path, "/a/b.bin");
	assert_string_equal(m[0].string, "/a/b.bin arg1 arg2");
	assert_string_equal(m[1].path, "/c,d");
	assert_string_equal(m[1].string, "/c,d  x");
	assert_string_equal(m[2].path, "/e");
	assert_string_equal(m[2].string, "/e");
	multiboot_free_modules(m, n);

	assert_int_equal(multiboot_parse_modules("single", &m, err, sizeof(err)), 1);
	assert_string_equal(m[0].path, "single");
	multiboot_free_modules(m, 1);

	assert_int_equal(multiboot_parse_modules("", &m, err, sizeof(err)), -1);
	assert_null(m);
	assert_int_equal(multiboot_parse_modules("a,,b,", &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty entry"));
	assert_int_equal(multiboot_parse_modules("a,,", &m, err, sizeof(err)), 1);
	assert_string_equal(m[0].path, "a,");
	multiboot_free_modules(m, 1);
	assert_int_equal(multiboot_parse_modules("a, ,b", &m, err, sizeof(err)), -1);

	char many[400] = "";
	for (int i = 0; i < 65; i++)
		strcat(many, i ? ",m" : "m");
	assert_int_equal(multiboot_parse_modules(many, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 64"));
}

static void test_loader_files(void **state)
{
	struct boot_image img;
	struct loader_ram ram = RAM_128M;
	assert_int_equal(loader_load("/nonexistent/kernel", NULL, NULL, &ram, &img, err,
				     sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(loader_load("/dev/null", NULL, NULL, &ram, &img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(loader_load("/proc/self/status", NULL, NULL, &ram, &img, err,
				     sizeof(err)), -1);
	assert_non_null(strstr(err, "not a Linux bzImage, PVH ELF or Multiboot kernel"));
}

/* ---- PVH ELF -------------------------------------------------------------- */

/* An x86-64 ELF: a PT_NOTE with Xen's PHYS32_ENTRY (entry), one PT_LOAD of
 * 'code' bytes at paddr with memsz 'memsz'. */
static uint8_t *make_pvh(size_t code, uint64_t paddr, uint64_t memsz, uint64_t entry,
			 size_t *size)
{
	size_t notes = 64 + 2 * 56, load = notes + 24;
	uint8_t *f = calloc(1, load + code);

	*size = load + code;
	put_le32(f, 0x464C457F);
	f[4] = 2;
	f[5] = 1;
	put_le16(f + 16, 2);
	put_le16(f + 18, 62);
	put_le64(f + 32, 64);          /* e_phoff */
	put_le16(f + 54, 56);
	put_le16(f + 56, 2);
	uint8_t *ph = f + 64;
	put_le32(ph, 4);               /* PT_NOTE */
	put_le64(ph + 8, notes);
	put_le64(ph + 32, 24);
	put_le64(ph + 40, 24);
	ph += 56;
	put_le32(ph, 1);               /* PT_LOAD */
	put_le64(ph + 8, load);
	put_le64(ph + 24, paddr);
	put_le64(ph + 32, code);
	put_le64(ph + 40, memsz);
	uint8_t *n = f + notes;
	put_le32(n, 4);
	put_le32(n + 4, 8);
	put_le32(n + 8, 18);
	memcpy(n + 12, "Xen", 4);
	put_le64(n + 16, entry);
	for (size_t i = 0; i < code; i++)
		f[load + i] = (uint8_t)(i * 3 + 1);
	return f;
}

static void test_pvh_good(void **state)
{
	size_t size;
	uint8_t *f = make_pvh(8192, 16 * MiB, 3 * MiB, 16 * MiB + 0x850, &size);
	uint8_t rd[5000];
	struct boot_image img;
	struct loader_ram ram = RAM_128M;

	memset(rd, 0x77, sizeof(rd));
	assert_int_equal(pvh_entry(f, size), 16 * MiB + 0x850);
	assert_int_equal(pvh_prepare(f, size, rd, sizeof(rd), "console=ttyS0", &ram, &img, err,
				     sizeof(err)), 0);
	assert_true(img.pvh);
	assert_int_equal(img.entry, 16 * MiB + 0x850);
	assert_int_equal(img.kernel.addr, 16 * MiB);
	assert_int_equal(img.kernel.size, 3 * MiB);
	assert_null(img.kernel.data);
	assert_ptr_equal(img.elf.buf, f);                        /* the image took the file */
	assert_int_equal(img.nseg, 1);
	assert_int_equal(img.seg[0].paddr, 16 * MiB);
	assert_int_equal(img.seg[0].offset, size - 8192);
	assert_int_equal(img.seg[0].filesz, 8192);
	assert_int_equal(img.seg[0].memsz, 3 * MiB);
	assert_int_equal(img.initrd.size, sizeof(rd));
	assert_int_equal(img.initrd.addr % 4096, 0);
	assert_true(img.initrd.addr + sizeof(rd) <= 127 * MiB);
	assert_int_equal(img.cmdline.addr, LINUX_CMDLINE_ADDR);
	assert_string_equal((const char *)img.cmdline.data, "console=ttyS0");
	boot_image_free(&img);                               /* frees f */
}

/* Open file descriptors of this process. */
static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/* A PVH ELF named by -kernel: probed from its headers and notes, kept
 * open rather than read whole; its segment bytes come from the file at
 * each boot, and a file that changed since is told apart. A load that
 * fails keeps no descriptor. */
static void test_pvh_from_file(void **state)
{
	size_t size;
	uint8_t *f = make_pvh(8192, 16 * MiB, 3 * MiB, 16 * MiB + 0x850, &size);
	char path[] = "/tmp/test_loader_pvhXXXXXX";
	int wfd = mkstemp(path);
	struct boot_image img;
	struct loader_ram ram = RAM_128M;
	uint8_t seg[8192];

	assert_true(wfd >= 0);
	assert_int_equal(write(wfd, f, size), (ssize_t)size);
	int fds = open_fds();
	assert_int_equal(loader_load(path, "/nonexistent/initrd", NULL, &ram, &img, err,
				     sizeof(err)), -1);
	assert_non_null(strstr(err, "initrd '/nonexistent/initrd'"));
	assert_int_equal(open_fds(), fds);
	int ret = loader_load(path, NULL, "quiet", &ram, &img, err, sizeof(err));
	unlink(path); /* the open file stays readable */
	assert_int_equal(ret, 0);
	assert_true(img.pvh);
	assert_null(img.elf.buf);
	assert_true(img.elf.fd >= 0);
	assert_int_equal(img.elf.size, size);
	assert_int_equal(img.entry, 16 * MiB + 0x850);
	assert_true(elf_source_unchanged(&img.elf));
	assert_true(elf_source_read(&img.elf, img.seg[0].offset, seg, sizeof(seg)));
	assert_memory_equal(seg, f + size - 8192, sizeof(seg));
	assert_false(elf_source_read(&img.elf, img.seg[0].offset, seg, sizeof(seg) + 1));
	assert_int_equal(ftruncate(wfd, (off_t)size - 1), 0);
	assert_false(elf_source_unchanged(&img.elf));
	assert_false(elf_source_read(&img.elf, img.seg[0].offset, seg, sizeof(seg)));
	assert_int_equal(errno, 0); /* a short file, not an I/O error */
	int fd = img.elf.fd;
	boot_image_free(&img);                               /* closes the file */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(open_fds(), fds);
	close(wfd);
	free(f);
}

/* Two segments out of order with a gap, a 4-byte entry note after a
 * note of another owner: the span covers both, each segment is kept. */
static void test_pvh_segments(void **state)
{
	size_t n = 1024 + 8192;
	uint8_t *g = calloc(1, n);
	struct boot_image img;
	struct loader_ram ram = RAM_128M;

	put_le32(g, 0x464C457F);
	g[4] = 2;
	g[5] = 1;
	put_le16(g + 18, 62);
	put_le64(g + 32, 64);
	put_le16(g + 54, 56);
	put_le16(g + 56, 3);
	/* headers: the notes at 512 (52 bytes), load A at 20 MiB (file 1024+4096,
	 * 2 MiB with its bss), load B at 16 MiB (file 1024, 4096 bytes) */
	uint8_t *ph = g + 64;
	put_le32(ph, 4);
	put_le64(ph + 8, 512);
	put_le64(ph + 32, 48);                     /* first too short for Xen's note */
	for (int i = 0; i < 2; i++) {
		uint8_t *p = ph + 56 * (i + 1);
		put_le32(p, 1);
		put_le64(p + 8, i ? 1024 : 1024 + 4096);
		put_le64(p + 24, i ? 16 * MiB : 20 * MiB);
		put_le64(p + 32, 4096);
		put_le64(p + 40, i ? 4096 : 2 * MiB);
	}
	uint8_t *nt = g + 512;                     /* "GNU" with 16 bytes, then Xen's */
	put_le32(nt, 4);
	put_le32(nt + 4, 16);
	put_le32(nt + 8, 3);
	memcpy(nt + 12, "GNU", 4);
	put_le32(nt + 32, 4);
	put_le32(nt + 36, 4);
	put_le32(nt + 40, 18);
	memcpy(nt + 44, "Xen", 4);
	put_le32(nt + 48, 20 * MiB + 0x10);
	for (size_t i = 1024; i < n; i++)
		g[i] = (uint8_t)i;
	assert_int_equal(pvh_entry(g, n), 0);      /* Xen's descriptor past the segment */
	put_le64(ph + 32, 52);
	assert_int_equal(pvh_entry(g, n), 20 * MiB + 0x10);
	assert_int_equal(pvh_prepare(g, n, NULL, 0, "", &ram, &img, err, sizeof(err)), 0);
	assert_int_equal(img.nseg, 2);
	assert_int_equal(img.kernel.addr, 16 * MiB);
	assert_int_equal(img.kernel.size, 6 * MiB);
	assert_int_equal(img.seg[0].paddr, 20 * MiB);
	assert_int_equal(img.seg[0].offset, 1024 + 4096);
	assert_int_equal(img.seg[0].memsz, 2 * MiB);
	assert_int_equal(img.seg[1].paddr, 16 * MiB);
	assert_int_equal(img.seg[1].filesz, 4096);
	boot_image_free(&img);                     /* frees g */
}

/* Every field a hostile file sets: segment outside the file, below 1 MiB,
 * past RAM, filesz over memsz, an entry outside the segments, a program
 * header table past the end, a note whose sizes run off its segment. */
static void test_pvh_malformed(void **state)
{
	size_t size;
	struct boot_image img;
	struct loader_ram ram = RAM_128M;
	uint8_t *f;

#define PVH_REFUSED(mutate, needle)                                                   \
	do {                                                                          \
		f = make_pvh(4096, 16 * MiB, 8192, 16 * MiB, &size);                 \
		mutate;                                                               \
		assert_int_equal(pvh_prepare(f, size, NULL, 0, NULL, &ram, &img, err, \
					     sizeof(err)), -1);                       \
		assert_null(img.elf.buf);                                                 \
		assert_non_null(strstr(err, needle));                                 \
		free(f);                                                              \
	} while (0)
	PVH_REFUSED(put_le64(f + 64 + 56 + 32, 1 << 20), "not in the file");     /* filesz */
	PVH_REFUSED(put_le64(f + 64 + 56 + 8, (uint64_t)-4096), "not in the file"); /* offset */
	PVH_REFUSED(put_le64(f + 64 + 56 + 40, 100), "not in the file");          /* filesz>memsz */
	PVH_REFUSED(put_le64(f + 64 + 56 + 24, 0x8000), "outside guest RAM");     /* paddr low */
	PVH_REFUSED(put_le64(f + 64 + 56 + 24, 127 * MiB - 4096), "outside guest RAM"); /* past RAM */
	PVH_REFUSED(put_le64(f + 64 + 56 + 24, (uint64_t)-8192), "outside guest RAM");
	PVH_REFUSED(put_le64(f + 64 + 56 + 40, (uint64_t)-1), "outside guest RAM");
	PVH_REFUSED(put_le64(f + 64 + 56 + 40, UINT64_MAX / 2), "outside guest RAM");
	PVH_REFUSED(put_le64(f + 64 + 2 * 56 + 16, 15 * MiB), "outside the loaded segments");
	PVH_REFUSED(put_le16(f + 56, 200), "program header");   /* table past the file */
#undef PVH_REFUSED
	/* more loadable segments than an image holds: 17 headers, the note's
	 * and 16 copies of the load header */
	{
		size_t n = 64 + 18 * 56 + 24 + 4096;
		uint8_t *g = calloc(1, n);
		f = make_pvh(4096, 16 * MiB, 8192, 16 * MiB, &size);
		memcpy(g, f, 64 + 2 * 56);
		for (unsigned i = 2; i < 18; i++)
			memcpy(g + 64 + i * 56, f + 64 + 56, 56);
		put_le16(g + 56, 18);
		put_le64(g + 64 + 8, 64 + 18 * 56);            /* the note moves */
		memcpy(g + 64 + 18 * 56, f + 64 + 2 * 56, 24);
		assert_int_equal(pvh_prepare(g, n, NULL, 0, NULL, &ram, &img, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "more than 16 loadable segments"));
		free(g);
		free(f);
	}
	/* the note's sizes: larger than its segment, and wrapping */
	f = make_pvh(4096, 16 * MiB, 8192, 16 * MiB, &size);
	put_le32(f + 64 + 2 * 56 + 4, 0xFFFFFFF0);
	assert_int_equal(pvh_entry(f, size), 0);
	put_le32(f + 64 + 2 * 56, 0xFFFFFFFF);
	assert_int_equal(pvh_entry(f, size), 0);
	free(f);
	/* a header that is not x86-64, and truncated files */
	f = make_pvh(4096, 16 * MiB, 8192, 16 * MiB, &size);
	for (size_t n = 0; n < size; n += 7) {
		uint8_t *cut = malloc(n ? n : 1);   /* exactly n bytes: ASan sees a read past */
		memcpy(cut, f, n);
		pvh_entry(cut, n);
		free(cut);
	}
	put_le16(f + 18, 3);
	assert_int_equal(pvh_entry(f, size), 0);
	free(f);
	/* an initrd that does not fit above the kernel */
	f = make_pvh(4096, 100 * MiB, 8192, 100 * MiB, &size);
	static uint8_t big[27 * 1024 * 1024];
	assert_int_equal(pvh_prepare(f, size, big, sizeof(big), NULL, &ram, &img, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "initrd"));
	free(f);
}

/* The embedded ROM is one SeaBIOS accepts: signature, size byte, zero
 * checksums, and a PnP header with a BEV inside the image. */
static void test_rom_image(void **state)
{
	const uint8_t *r = vmm_linuxboot_rom;
	uint32_t n = vmm_linuxboot_rom_size;
	uint8_t sum = 0;

	assert_true(n >= 512 && n % 512 == 0);
	assert_int_equal(r[0], 0x55);
	assert_int_equal(r[1], 0xAA);
	assert_int_equal(r[2] * 512u, n);
	for (uint32_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + r[i]);
	assert_int_equal(sum, 0);
	uint16_t pnp = get_le16(r + 0x1A);
	assert_true(pnp % 16 == 0 && pnp + 32u <= n);
	assert_memory_equal(r + pnp, "$PnP", 4);
	sum = 0;
	for (unsigned i = 0; i < r[pnp + 5] * 16u; i++)
		sum = (uint8_t)(sum + r[pnp + i]);
	assert_int_equal(sum, 0);
	uint16_t bev = get_le16(r + pnp + 0x1A);
	assert_true(bev > pnp && bev < n);
}

/* What the guest's ROM reads: the legacy keys, the ROM file, bootorder. */
static void test_install(void **state)
{
	struct guest_mem mem;
	uint8_t ram[4096];
	struct bz b = make_bz(4, 4096, 0x020F);
	uint8_t rd[100] = { 7 };
	struct boot_image img;
	char order[128] = "";

	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	struct fw_cfg *f = fw_cfg_create(&mem);
	assert_int_equal(prepare_bz(&b, rd, sizeof(rd), "abc", 64 * MiB, &img), 0);
	loader_install(&img, f, false, false);
	boot_image_free(&img);
	assert_int_equal(fw_cfg_read_file(f, "genroms/linuxboot.bin", NULL, 0),
			 vmm_linuxboot_rom_size);
	assert_true(fw_cfg_read_file(f, "bootorder", order, sizeof(order) - 1) > 0);
	assert_string_equal(order, "/rom@genroms/linuxboot.bin\n");
	fw_cfg_destroy(f);
	free(b.data);
}

/* vga= goes to the setup header's vid_mode (0x1FA), as the boot protocol
 * asks of the boot loader; a value that is not a mode is refused. */
static void test_bz_vga_mode(void **state)
{
	static const struct { const char *cmd; uint16_t mode; } good[] = {
		{ "vga=0x311 console=tty0", 0x0311 }, { "console=tty0 vga=785", 785 },
		{ "vga=normal", 0xFFFF }, { "vga=ext", 0xFFFE }, { "vga=ask", 0xFFFD },
		{ "vga=0x311 vga=0x314", 0x0314 }, { "novga=7 quiet", 0x1234 }, { NULL, 0x1234 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct bz b = make_bz(4, 4096, 0x020F);
		struct boot_image img;
		put_le16(b.data + 0x1FA, 0x1234); /* the image's own default */
		assert_int_equal(prepare_bz(&b, NULL, 0, good[i].cmd, 64 * MiB, &img), 0);
		assert_int_equal(get_le16(img.setup.data + 0x1FA), good[i].mode);
		boot_image_free(&img);
		free(b.data);
	}
	static const char *const bad[] = { "vga=", "vga=0x10000", "vga=12abc", "vga=-1", "vga=big x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct bz b = make_bz(4, 4096, 0x020F);
		expect_bz_error(&b, NULL, 0, bad[i], 64 * MiB, "invalid 'vga=' kernel parameter");
		free(b.data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bz_good),
		cmocka_unit_test(test_bz_setup_sects_zero_means_four),
		cmocka_unit_test(test_bz_vga_mode),
		cmocka_unit_test(test_bz_direct_entry),
		cmocka_unit_test(test_pvh_good),
		cmocka_unit_test(test_pvh_from_file),
		cmocka_unit_test(test_pvh_malformed),
		cmocka_unit_test(test_pvh_segments),
		cmocka_unit_test(test_bz_malformed),
		cmocka_unit_test(test_bz_initrd_limits),
		cmocka_unit_test(test_mb_elf_good),
		cmocka_unit_test(test_mb_elf_malformed),
		cmocka_unit_test(test_mb_header),
		cmocka_unit_test(test_mb_aout),
		cmocka_unit_test(test_mb_modules_vs_ram),
		cmocka_unit_test(test_module_list),
		cmocka_unit_test(test_loader_files),
		cmocka_unit_test(test_rom_image),
		cmocka_unit_test(test_install),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
