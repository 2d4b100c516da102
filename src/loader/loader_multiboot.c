// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Multiboot v1 kernels, written from the Multiboot Specification 0.6.96:
 * the header in the first 8 KiB, ELF32 program headers or the header's
 * address fields, modules, and the information block. The memory map and
 * mem_lower/mem_upper are the BIOS's own (int 15h E820, int 12h): the ROM
 * fills them in at boot, so they show what SeaBIOS reserved.
 */
#include "loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Header flags. */
#define MBH_PAGE_ALIGN   (1u << 0)
#define MBH_MEMORY_INFO  (1u << 1)
#define MBH_VIDEO_MODE   (1u << 2)
#define MBH_AOUT_KLUDGE  (1u << 16)
#define MBH_KNOWN_REQUIRED (MBH_PAGE_ALIGN | MBH_MEMORY_INFO | MBH_VIDEO_MODE)

/* Info flags. */
#define MBI_MEMORY       (1u << 0)
#define MBI_CMDLINE      (1u << 2)
#define MBI_MODS         (1u << 3)
#define MBI_MMAP         (1u << 6)
#define MBI_LOADER_NAME  (1u << 9)

/* Info block layout inside the blob at MB_INFO_ADDR. */
#define MBI_SIZE         0x58u
#define MBI_MMAP_OFF     0x60u
#define MBI_MMAP_ENTRY   24u
#define MBI_MODS_OFF     (MBI_MMAP_OFF + MB_MMAP_ENTRIES * MBI_MMAP_ENTRY)
#define MB_MOD_ENTRY     16u

#define ELF_PT_LOAD      1
#define ELF_EM_386       3
#define ELF_PHDR_SIZE    32u
#define ELF_MAX_PHDRS    64u
#define MB_LOW_LIMIT     0x100000u  /* below: BIOS data, ROMs, our ROM's stack */

struct segment {
	uint64_t paddr, memsz, offset, filesz;
};

struct mb_layout {
	struct segment seg[ELF_MAX_PHDRS];
	unsigned nseg;
	uint64_t entry;
};


/* ---- module list ---------------------------------------------------------- */

/* One entry up to an unescaped ','; *more says whether one follows. */
static char *next_entry(const char **p, bool *more)
{
	size_t cap = strlen(*p) + 1, n = 0;
	char *s = xzalloc(cap);
	const char *q = *p;

	while (*q) {
		if (q[0] == ',' && q[1] == ',') {
			s[n++] = ',';
			q += 2;
			continue;
		}
		if (*q == ',')
			break;
		s[n++] = *q++;
	}
	*more = *q == ',';
	*p = *more ? q + 1 : q;
	return s;
}

static char *path_of(const char *entry)
{
	size_t n = strcspn(entry, " \t");
	char *p = xzalloc(n + 1);
	memcpy(p, entry, n);
	return p;
}

int multiboot_parse_modules(const char *spec, struct mb_module **out, char *err, size_t errlen)
{
	struct mb_module *mods = xzalloc(MB_MAX_MODULES * sizeof(*mods));
	const char *p = spec;
	int n = 0;

	*out = NULL;
	if (!spec || !*spec) {
		free(mods);
		return set_err(err, errlen, "empty module list");
	}
	for (bool more = true; more;) {
		if (n == (int)MB_MAX_MODULES) {
			multiboot_free_modules(mods, n);
			return set_err(err, errlen, "more than %u modules", MB_MAX_MODULES);
		}
		char *entry = next_entry(&p, &more);
		const char *start = entry + strspn(entry, " \t");
		if (!*start) {
			free(entry);
			multiboot_free_modules(mods, n);
			return set_err(err, errlen, "module %d: empty entry in the -initrd list", n + 1);
		}
		mods[n].string = xstrdup(start);
		mods[n].path = path_of(start);
		free(entry);
		n++;
	}
	*out = mods;
	return n;
}

void multiboot_free_modules(struct mb_module *mods, int n)
{
	if (!mods)
		return;
	for (int i = 0; i < n; i++) {
		free(mods[i].path);
		free(mods[i].string);
	}
	free(mods);
}

/* ---- header ---------------------------------------------------------------- */

long multiboot_find_header(const uint8_t *file, size_t size)
{
	size_t end = MIN(size, (size_t)MB_SEARCH_LEN);
	for (size_t off = 0; off + 12 <= end; off += 4) {
		uint32_t magic = get_le32(file + off);
		uint32_t flags = get_le32(file + off + 4);
		uint32_t sum = get_le32(file + off + 8);
		if (magic == MB_HEADER_MAGIC && (uint32_t)(magic + flags + sum) == 0)
			return (long)off;
	}
	return -1;
}

/* ---- image layout --------------------------------------------------------------- */

static int check_segments(const struct mb_layout *l, uint64_t limit, char *err, size_t errlen)
{
	if (!l->nseg)
		return set_err(err, errlen, "no loadable segments");
	for (unsigned i = 0; i < l->nseg; i++) {
		const struct segment *s = &l->seg[i];
		if (s->paddr < MB_LOW_LIMIT)
			return set_err(err, errlen, "segment at 0x%llx is below 1 MiB",
				    (unsigned long long)s->paddr);
		if (s->paddr + s->memsz > limit)
			return set_err(err, errlen, "segment 0x%llx-0x%llx is beyond guest RAM "
				    "(usable up to 0x%llx)", (unsigned long long)s->paddr,
				    (unsigned long long)(s->paddr + s->memsz),
				    (unsigned long long)limit);
		for (unsigned j = 0; j < i; j++) {
			const struct segment *t = &l->seg[j];
			if (s->paddr < t->paddr + t->memsz && t->paddr < s->paddr + s->memsz)
				return set_err(err, errlen, "segments at 0x%llx and 0x%llx overlap",
					    (unsigned long long)t->paddr,
					    (unsigned long long)s->paddr);
		}
	}
	return 0;
}

static int read_phdr(const uint8_t *ph, size_t size, struct segment *s, uint64_t *vaddr,
		     char *err, size_t errlen)
{
	s->offset = get_le32(ph + 4);
	*vaddr = get_le32(ph + 8);
	s->paddr = get_le32(ph + 12);
	s->filesz = get_le32(ph + 16);
	s->memsz = get_le32(ph + 20);
	if (s->filesz > s->memsz)
		return set_err(err, errlen, "ELF segment with p_filesz > p_memsz");
	if (!range_ok(s->offset, s->filesz, size))
		return set_err(err, errlen, "ELF segment data lies outside the file");
	return 0;
}

static int parse_elf(const uint8_t *file, size_t size, struct mb_layout *l, char *err,
		     size_t errlen)
{
	if (size < 52 || memcmp(file, "\177ELF", 4))
		return set_err(err, errlen, "Multiboot kernel is neither ELF nor has address fields");
	if (file[4] != 1 || file[5] != 1 || get_le16(file + 18) != ELF_EM_386)
		return set_err(err, errlen, "Multiboot kernel is not a little-endian 32-bit x86 ELF");
	uint64_t entry = get_le32(file + 24), phoff = get_le32(file + 28);
	unsigned phentsize = get_le16(file + 42), phnum = get_le16(file + 44);
	if (phentsize < ELF_PHDR_SIZE || phnum == 0 || phnum > ELF_MAX_PHDRS)
		return set_err(err, errlen, "bad ELF program header table (%u entries of %u bytes)",
			    phnum, phentsize);
	if (!range_ok(phoff, (uint64_t)phnum * phentsize, size))
		return set_err(err, errlen, "ELF program headers lie outside the file");

	bool entry_found = false;
	l->nseg = 0;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = file + phoff + (uint64_t)i * phentsize;
		struct segment s;
		uint64_t vaddr;
		if (get_le32(ph) != ELF_PT_LOAD)
			continue;
		if (read_phdr(ph, size, &s, &vaddr, err, errlen) < 0)
			return -1;
		if (!s.memsz)
			continue;
		/* e_entry is virtual; the CPU starts with paging off. */
		if (!entry_found && entry >= vaddr && entry < vaddr + s.memsz) {
			l->entry = entry - vaddr + s.paddr;
			entry_found = true;
		}
		l->seg[l->nseg++] = s;
	}
	if (l->nseg && !entry_found)
		return set_err(err, errlen, "ELF entry point 0x%llx is outside every loaded segment",
			    (unsigned long long)entry);
	return 0;
}

/* The header's address fields (flag 16, the "a.out kludge"). */
static int parse_aout(const uint8_t *file, size_t size, long hoff, struct mb_layout *l,
		      char *err, size_t errlen)
{
	if (!range_ok((uint64_t)hoff, 32, size))
		return set_err(err, errlen, "Multiboot header address fields cut off by end of file");
	const uint8_t *h = file + hoff;
	uint64_t header_addr = get_le32(h + 12), load_addr = get_le32(h + 16);
	uint64_t load_end = get_le32(h + 20), bss_end = get_le32(h + 24);
	l->entry = get_le32(h + 28);

	if (load_addr > header_addr || header_addr - load_addr > (uint64_t)hoff)
		return set_err(err, errlen, "Multiboot header_addr/load_addr inconsistent");
	uint64_t offset = (uint64_t)hoff - (header_addr - load_addr);
	if (!load_end)
		load_end = load_addr + (size - offset);
	if (load_end < load_addr || !range_ok(offset, load_end - load_addr, size))
		return set_err(err, errlen, "Multiboot load_end_addr beyond the end of the file");
	if (bss_end && bss_end < load_end)
		return set_err(err, errlen, "Multiboot bss_end_addr below load_end_addr");
	struct segment *s = &l->seg[0];
	s->paddr = load_addr;
	s->offset = offset;
	s->filesz = load_end - load_addr;
	s->memsz = (bss_end ? bss_end : load_end) - load_addr;
	l->nseg = s->memsz ? 1 : 0;
	if (l->entry < load_addr || l->entry >= load_addr + s->memsz)
		return set_err(err, errlen, "Multiboot entry_addr outside the loaded image");
	return 0;
}

static void build_image(const uint8_t *file, const struct mb_layout *l, struct boot_blob *out)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (unsigned i = 0; i < l->nseg; i++) {
		lo = MIN(lo, l->seg[i].paddr);
		hi = MAX(hi, l->seg[i].paddr + l->seg[i].memsz);
	}
	out->addr = (uint32_t)lo;
	out->size = (uint32_t)(hi - lo);
	out->data = xzalloc(out->size);   /* the gaps and the bss read as zero */
	for (unsigned i = 0; i < l->nseg; i++)
		memcpy(out->data + (l->seg[i].paddr - lo), file + l->seg[i].offset,
		       l->seg[i].filesz);
}

/* ---- modules and info -------------------------------------------------------------- */

static uint64_t page_up(uint64_t v)
{
	return (v + 0xFFF) & ~0xFFFull;
}

static int place_modules(const struct loader_file *mods, unsigned n, uint64_t start,
			 uint64_t limit, uint32_t *addrs, struct boot_blob *out, char *err,
			 size_t errlen)
{
	uint64_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mods[i].size > limit)
			return set_err(err, errlen, "module '%s' is larger than guest RAM", mods[i].name);
		addrs[i] = (uint32_t)(start + off);
		off = page_up(off + mods[i].size);
		if (start + off > limit)
			return set_err(err, errlen, "modules do not fit in guest RAM (need %llu MiB "
				    "above 0x%llx)", (unsigned long long)((off + MiB - 1) >> 20),
				    (unsigned long long)start);
	}
	out->addr = (uint32_t)start;
	out->size = (uint32_t)off;
	out->data = xzalloc(off ? off : 1);
	for (unsigned i = 0; i < n; i++)
		if (mods[i].size)
			memcpy(out->data + (addrs[i] - start), mods[i].data, mods[i].size);
	return 0;
}

/* Appends a NUL-terminated string to the info blob; returns its address. */
static int add_string(struct boot_blob *b, uint32_t *used, const char *s, uint32_t *addr)
{
	size_t len = strlen(s) + 1;
	if (len > MB_INFO_MAX - *used)
		return -1;
	memcpy(b->data + *used, s, len);
	*addr = MB_INFO_ADDR + *used;
	*used += (uint32_t)len;
	return 0;
}

static int build_info(const char *cmdline, const struct loader_file *mods, unsigned n,
		      const uint32_t *mod_addrs, struct boot_blob *b, char *err, size_t errlen)
{
	uint32_t used = MBI_MODS_OFF + n * MB_MOD_ENTRY, addr;
	uint8_t *info;

	b->data = xzalloc(MB_INFO_MAX);
	b->addr = MB_INFO_ADDR;
	info = b->data;
	if (used > MB_INFO_MAX || add_string(b, &used, cmdline, &addr) < 0)
		goto too_long;
	put_le32(info + 16, addr);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *m = info + MBI_MODS_OFF + i * MB_MOD_ENTRY;
		put_le32(m, mod_addrs[i]);
		put_le32(m + 4, mod_addrs[i] + (uint32_t)mods[i].size);
		if (add_string(b, &used, mods[i].name, &addr) < 0)
			goto too_long;
		put_le32(m + 8, addr);
	}
	if (add_string(b, &used, MB_LOADER_NAME, &addr) < 0)
		goto too_long;
	put_le32(info + 64, addr);
	put_le32(info + 20, n);
	put_le32(info + 24, n ? MB_INFO_ADDR + MBI_MODS_OFF : 0);
	/* The ROM replaces the capacity by what E820 returned, and fills in
	 * mem_lower/mem_upper. */
	put_le32(info + 44, MB_MMAP_ENTRIES * MBI_MMAP_ENTRY);
	put_le32(info + 48, MB_INFO_ADDR + MBI_MMAP_OFF);
	put_le32(info, MBI_MEMORY | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME | (n ? MBI_MODS : 0));
	b->size = used;
	return 0;
too_long:
	free(b->data);
	b->data = NULL;
	return set_err(err, errlen, "command line and module strings exceed %u bytes", MB_INFO_MAX);
}

int multiboot_prepare(const uint8_t *file, size_t size, const char *cmdline,
		      const struct loader_file *mods, unsigned nmods, const struct loader_ram *ram,
		      struct boot_image *out, char *err, size_t errlen)
{
	struct mb_layout l = { .nseg = 0 };
	uint32_t mod_addrs[MB_MAX_MODULES];
	uint64_t limit = ram->below_4g > LOADER_TOP_RESERVE ? ram->below_4g - LOADER_TOP_RESERVE : 0;

	memset(out, 0, sizeof(*out));
	long hoff = multiboot_find_header(file, size);
	if (hoff < 0)
		return set_err(err, errlen, "no valid Multiboot header in the first 8 KiB");
	uint32_t flags = get_le32(file + hoff + 4);
	if (flags & 0xFFFFu & ~MBH_KNOWN_REQUIRED)
		return set_err(err, errlen, "Multiboot header requires unsupported features (flags 0x%x)",
			    flags);
	if (nmods > MB_MAX_MODULES)
		return set_err(err, errlen, "more than %u modules", MB_MAX_MODULES);
	int ret = (flags & MBH_AOUT_KLUDGE) ? parse_aout(file, size, hoff, &l, err, errlen)
					    : parse_elf(file, size, &l, err, errlen);
	if (ret < 0 || check_segments(&l, limit, err, errlen) < 0)
		return -1;
	build_image(file, &l, &out->kernel);
	uint64_t mod_start = page_up((uint64_t)out->kernel.addr + out->kernel.size);
	if (place_modules(mods, nmods, mod_start, limit, mod_addrs, &out->initrd, err, errlen) < 0 ||
	    build_info(cmdline, mods, nmods, mod_addrs, &out->setup, err, errlen) < 0) {
		boot_image_free(out);
		return -1;
	}
	out->entry = (uint32_t)l.entry;
	out->multiboot = true;
	return 0;
}
