// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PVH ELF kernels (an uncompressed Linux vmlinux built with CONFIG_PVH):
 * the ELF's PT_LOAD segments go to their physical addresses, and the
 * kernel is entered in 32-bit protected mode at the address its Xen
 * XEN_ELFNOTE_PHYS32_ENTRY note gives (Xen's "x86/HVM direct boot ABI").
 * No decompression runs in the guest: the point of this path.
 *
 * The file is untrusted: every header, offset and size is checked against
 * the file and the segments against guest RAM.
 *
 * Only the headers and notes are read here; the segments' bytes stay in
 * the file (struct elf_source) until pc_direct_boot.c reads them straight
 * into guest RAM, at the first boot and at every reset: a 66 MB vmlinux is
 * neither read twice nor kept in vmm's heap for the VM's life.
 */
#include "loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define ELF_MAGIC        0x464C457Fu /* "\x7fELF" little-endian */
#define ELFCLASS64       2
#define ELFDATA2LSB      1
#define EM_X86_64        62
#define PT_LOAD          1
#define PT_NOTE          4
#define EHDR64_SIZE      64
#define PHDR64_SIZE      56
#define XEN_NOTE_PHYS32_ENTRY 18
#define PVH_MIN_ADDR     0x100000u   /* below: vmm's boot structures */
#define ALIGN4(x)        (((uint64_t)(x) + 3) & ~3ULL)
/* Xen's notes are a few dozen bytes; Linux's whole note segment is under
 * 1 KiB. A larger one is not read. */
#define NOTES_MAX        (64u * 1024u)

struct elf_seg {
	uint64_t offset, paddr, filesz, memsz;
};

bool elf_source_read(const struct elf_source *src, uint64_t off, void *dst, size_t len)
{
	if (off > src->size || len > src->size - off) {
		errno = 0;
		return false;
	}
	if (src->buf) {
		memcpy(dst, src->buf + off, len);
		return true;
	}
	for (size_t done = 0; done < len;) {
		ssize_t r = pread(src->fd, (uint8_t *)dst + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) /* the file shrank since it was opened */
			errno = 0;
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

bool elf_source_identify(struct elf_source *src)
{
	struct stat st;
	if (fstat(src->fd, &st) < 0)
		return false;
	src->dev = st.st_dev;
	src->ino = st.st_ino;
	src->size = (uint64_t)st.st_size;
	src->mtime_sec = st.st_mtim.tv_sec;
	src->mtime_nsec = st.st_mtim.tv_nsec;
	return true;
}

bool elf_source_unchanged(const struct elf_source *src)
{
	struct stat st;
	if (src->buf)
		return true;
	return fstat(src->fd, &st) == 0 && st.st_dev == src->dev && st.st_ino == src->ino &&
	       (uint64_t)st.st_size == src->size && st.st_mtim.tv_sec == src->mtime_sec &&
	       st.st_mtim.tv_nsec == src->mtime_nsec;
}

static bool phdr_at(const struct elf_source *src, uint64_t phoff, unsigned i, uint32_t *type,
		    struct elf_seg *s)
{
	uint8_t p[PHDR64_SIZE];
	if (phoff > src->size || !elf_source_read(src, phoff + (uint64_t)i * PHDR64_SIZE, p,
						   sizeof(p)))
		return false;
	*type = get_le32(p);
	s->offset = get_le64(p + 8);
	s->paddr = get_le64(p + 24);
	s->filesz = get_le64(p + 32);
	s->memsz = get_le64(p + 40);
	return true;
}

/* The ELF header, if it is an x86-64 little-endian one with 64-bit
 * program headers. */
static bool elf64_header(const struct elf_source *src, uint8_t ehdr[EHDR64_SIZE])
{
	return elf_source_read(src, 0, ehdr, EHDR64_SIZE) && get_le32(ehdr) == ELF_MAGIC &&
	       ehdr[4] == ELFCLASS64 && ehdr[5] == ELFDATA2LSB &&
	       get_le16(ehdr + 18) == EM_X86_64 && get_le16(ehdr + 54) == PHDR64_SIZE;
}

/* The PHYS32_ENTRY note among one PT_NOTE segment's notes, or 0. */
static uint64_t entry_in_notes(const uint8_t *p, const uint8_t *end)
{
	while (end - p >= 12) {
		uint32_t namesz = get_le32(p), descsz = get_le32(p + 4), type = get_le32(p + 8);
		uint64_t name_len = ALIGN4(namesz), desc_len = ALIGN4(descsz);
		p += 12;
		if (name_len > (uint64_t)(end - p) || desc_len > (uint64_t)(end - p) - name_len)
			return 0;
		if (namesz == 4 && !memcmp(p, "Xen", 4) && type == XEN_NOTE_PHYS32_ENTRY &&
		    (descsz == 4 || descsz == 8))
			return descsz == 4 ? get_le32(p + name_len) : get_le64(p + name_len);
		p += name_len + desc_len;
	}
	return 0;
}

static uint64_t entry_in_note_segment(const struct elf_source *src, const struct elf_seg *s)
{
	if (s->filesz > NOTES_MAX)
		return 0;
	uint8_t *notes = xzalloc(s->filesz ? s->filesz : 1);
	uint64_t e = 0;
	if (elf_source_read(src, s->offset, notes, s->filesz))
		e = entry_in_notes(notes, notes + s->filesz);
	free(notes);
	return e;
}

uint64_t pvh_entry_of(const struct elf_source *src)
{
	uint8_t ehdr[EHDR64_SIZE];
	uint32_t type;
	struct elf_seg s;

	if (!elf64_header(src, ehdr))
		return 0;
	uint64_t phoff = get_le64(ehdr + 32);
	unsigned n = get_le16(ehdr + 56);
	for (unsigned i = 0; i < n && phdr_at(src, phoff, i, &type, &s); i++)
		if (type == PT_NOTE) {
			uint64_t e = entry_in_note_segment(src, &s);
			if (e)
				return e;
		}
	return 0;
}

uint64_t pvh_entry(const uint8_t *file, size_t size)
{
	struct elf_source src = { .buf = file, .fd = -1, .size = size };
	return pvh_entry_of(&src);
}

/* The PT_LOAD segments, each checked, and the span they cover. */
static int load_segments(const struct elf_source *src, uint64_t ram_top,
			 struct boot_image *out, uint64_t *lo, uint64_t *hi, char *err,
			 size_t errlen)
{
	uint8_t ehdr[EHDR64_SIZE];
	uint32_t type;
	struct elf_seg s;

	*lo = UINT64_MAX;
	*hi = 0;
	if (!elf64_header(src, ehdr))
		return set_err(err, errlen, "the ELF header cannot be read");
	uint64_t phoff = get_le64(ehdr + 32);
	unsigned n = get_le16(ehdr + 56);
	for (unsigned i = 0; i < n; i++) {
		if (!phdr_at(src, phoff, i, &type, &s))
			return set_err(err, errlen, "program header %u is outside the file", i);
		if (type != PT_LOAD || !s.memsz)
			continue;
		if (s.filesz > s.memsz || s.offset > src->size || s.filesz > src->size - s.offset)
			return set_err(err, errlen, "segment %u: its %llu bytes are not in the file", i,
				       (unsigned long long)s.filesz);
		if (s.paddr < PVH_MIN_ADDR || s.paddr > ram_top || s.memsz > ram_top - s.paddr)
			return set_err(err, errlen, "segment %u at 0x%llx (%llu bytes) is outside "
				       "guest RAM from 1 MiB to %llu MiB", i,
				       (unsigned long long)s.paddr, (unsigned long long)s.memsz,
				       (unsigned long long)(ram_top >> 20));
		if (out->nseg == PVH_SEGMENTS_MAX)
			return set_err(err, errlen, "more than %u loadable segments", PVH_SEGMENTS_MAX);
		out->seg[out->nseg++] = (struct boot_segment){
			.offset = s.offset, .paddr = s.paddr, .filesz = s.filesz, .memsz = s.memsz,
		};
		*lo = MIN(*lo, s.paddr);
		*hi = MAX(*hi, s.paddr + s.memsz);
	}
	if (*hi == 0)
		return set_err(err, errlen, "no loadable segment");
	return 0;
}

/* On success out->elf is *src (the caller gives up what it holds). */
static int prepare(const struct elf_source *src, const uint8_t *initrd, size_t initrd_size,
		   const char *cmdline, const struct loader_ram *ram, struct boot_image *out,
		   char *err, size_t errlen)
{
	uint64_t top = ram->below_4g > LOADER_TOP_RESERVE ? ram->below_4g - LOADER_TOP_RESERVE : 0;
	uint64_t entry = pvh_entry_of(src), lo, hi;
	size_t clen = cmdline ? strlen(cmdline) : 0;
	/* checked against the kernel below: only used when it fits */
	uint64_t initrd_addr = (top - initrd_size) & ~0xFFFull;

	memset(out, 0, sizeof(*out));
	if (!entry)
		return set_err(err, errlen, "not an ELF kernel with a PVH entry note");
	if (load_segments(src, top, out, &lo, &hi, err, errlen) < 0)
		goto fail;
	if (entry < lo || entry >= hi) {
		set_err(err, errlen, "PVH entry 0x%llx is outside the loaded segments",
			(unsigned long long)entry);
		goto fail;
	}
	if (clen + 1 > LINUX_CMDLINE_MAX) {
		set_err(err, errlen, "command line of %zu bytes is too long (at most %u)", clen,
			LINUX_CMDLINE_MAX - 1);
		goto fail;
	}
	if (initrd_size && initrd_size > top - hi) {
		set_err(err, errlen, "initrd of %zu bytes does not fit in guest RAM (at most %llu "
			"bytes between the kernel and %llu MiB)", initrd_size,
			(unsigned long long)(top - hi), (unsigned long long)(top >> 20));
		goto fail;
	}
	if (initrd_size && initrd_addr < hi) {
		set_err(err, errlen, "initrd of %zu bytes does not fit in guest RAM", initrd_size);
		goto fail;
	}
	out->pvh = true;
	out->entry = (uint32_t)entry;
	out->kernel.addr = (uint32_t)lo;
	out->kernel.size = (uint32_t)(hi - lo);
	out->elf = *src;
	boot_blob_copy(&out->cmdline, cmdline ? cmdline : "", clen + 1, LINUX_CMDLINE_ADDR);
	if (initrd_size)
		boot_blob_copy(&out->initrd, initrd, initrd_size, (uint32_t)initrd_addr);
	return 0;
fail:
	memset(out, 0, sizeof(*out)); /* the segments found so far */
	return -1;
}

int pvh_prepare(uint8_t *file, size_t size, const uint8_t *initrd, size_t initrd_size,
		const char *cmdline, const struct loader_ram *ram, struct boot_image *out,
		char *err, size_t errlen)
{
	struct elf_source src = { .buf = file, .fd = -1, .size = size };
	return prepare(&src, initrd, initrd_size, cmdline, ram, out, err, errlen);
}

int pvh_prepare_fd(int fd, const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		   const struct loader_ram *ram, struct boot_image *out, char *err,
		   size_t errlen)
{
	struct elf_source src = { .fd = fd };
	if (!elf_source_identify(&src)) {
		memset(out, 0, sizeof(*out));
		return set_err(err, errlen, "%s", strerror(errno));
	}
	return prepare(&src, initrd, initrd_size, cmdline, ram, out, err, errlen);
}
