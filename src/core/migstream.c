// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The migration stream (include/migstream.h). Layout, all integers
 * little-endian:
 *
 *   stream  := header (ram | block)* state end
 *   header  := "VMMMIGR\n" u32:version u32:ncpus u64:ram_size
 *              u32:page_size u32:crc32(the 28 bytes before it)
 *   section := u8:type u8[3]:0 u32:length payload[length]
 *              u32:crc32(type .. last byte of payload)
 *   ram     := section 'R': u64:gpa u32:npages u32:ndata
 *              u8:kind[npages] data[ndata * 4096]
 *   block   := section 'N': u8:name[24] u64:block_size u64:first_page
 *              u32:npages u32:ndata u8:kind[npages] data[ndata * 4096]
 *   state   := section 'S': the include/savestate.h stream
 *   end     := section 'E' of length 0
 *
 * A RAM section's pages are consecutive from gpa, all inside one RAM block
 * of the destination; kind 0 is a zero page, 1 a page of data (in order in
 * data[]), 2 a page this section leaves alone. The same page may come in
 * several sections (dirty rounds): the last one wins. A block section
 * (version 2 on) is the same for a device's named RAM block (video memory,
 * include/guest_mem.h): its pages from first_page, inside the block of that
 * name (NUL-padded) and of that size on the destination. Version 1 had no
 * block sections (a VGA's memory was inside its device state); its streams
 * still load.
 *
 * The reader reads each section whole into memory before it looks at the
 * payload: a RAM section is at most MIG_CHUNK_PAGES pages of data, a state
 * section at most SS_MAX_STREAM_BYTES and grown only as its bytes arrive,
 * so a lying length costs no more memory than the bytes really sent.
 */
#include "migstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

#define SECTION_RAM 'R'
#define SECTION_STATE 'S'
#define SECTION_END 'E'
#define SECTION_BLOCK 'N'
#define SECTION_HEAD_LEN 8
#define RAM_HEAD_LEN 16
#define BLOCK_HEAD_LEN (GUEST_MEM_NAME_LEN + 24)
#define PAGES_MAX_PAYLOAD (MIG_CHUNK_PAGES + MIG_CHUNK_PAGES * MIG_PAGE_SIZE)
#define RAM_MAX_PAYLOAD (RAM_HEAD_LEN + PAGES_MAX_PAYLOAD)
#define BLOCK_MAX_PAYLOAD (BLOCK_HEAD_LEN + PAGES_MAX_PAYLOAD)
#define STATE_READ_STEP (1u << 20)

/* Pages in a section's buffer are not 8-byte aligned: memcmp, not words. */
static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[MIG_PAGE_SIZE];
	return !memcmp(p, zero, MIG_PAGE_SIZE);
}

/* ---- sending ---- */

static void out_fail(struct mig_out *out, const char *what)
{
	if (!out->failed)
		snprintf(out->err, sizeof(out->err), "%s", what);
	out->failed = true;
}

static int out_bytes(struct mig_out *out, const void *buf, size_t len)
{
	if (out->failed)
		return -1;
	if (len && out->write(out->opaque, buf, len) < 0) {
		out_fail(out, "migration: the stream broke while writing (destination gone?)");
		return -1;
	}
	out->stats.bytes += len;
	return 0;
}

int mig_out_init(struct mig_out *out, mig_write_fn write, void *opaque)
{
	memset(out, 0, sizeof(*out));
	out->write = write;
	out->opaque = opaque;
	out->chunk = malloc(BLOCK_MAX_PAYLOAD);
	if (!out->chunk) {
		out_fail(out, "migration: out of memory");
		return -1;
	}
	return 0;
}

void mig_out_free(struct mig_out *out)
{
	free(out->chunk);
	out->chunk = NULL;
}

int mig_out_header(struct mig_out *out, const struct mig_header *h)
{
	uint8_t b[MIG_HEADER_LEN];

	memcpy(b, MIG_MAGIC, 8);
	put_le32(b + 8, MIG_VERSION);
	put_le32(b + 12, h->ncpus);
	put_le64(b + 16, h->ram_size);
	put_le32(b + 24, MIG_PAGE_SIZE);
	put_le32(b + 28, ss_crc32(b, 28));
	return out_bytes(out, b, sizeof(b));
}

/* One section: head, payload, checksum. */
static int out_section(struct mig_out *out, uint8_t type, const void *payload, size_t len)
{
	uint8_t head[SECTION_HEAD_LEN] = { type }, tail[4];

	if (len > UINT32_MAX) {
		out_fail(out, "migration: section too large");
		return -1;
	}
	put_le32(head + 4, (uint32_t)len);
	uint32_t crc = ss_crc32_update(ss_crc32_update(0, head, sizeof(head)), payload, len);
	put_le32(tail, crc);
	if (out_bytes(out, head, sizeof(head)) < 0 || out_bytes(out, payload, len) < 0)
		return -1;
	return out_bytes(out, tail, sizeof(tail));
}

static bool page_wanted(const uint64_t *dirty, uint64_t i)
{
	return !dirty || (dirty[i / 64] >> (i % 64) & 1);
}

/* One section of 'type' for the n pages at hva ('first': the dirty bit
 * of the first); its head, of 'head_len' bytes ending with npages and
 * ndata, is already in out->chunk but for those two. */
static int out_pages(struct mig_out *out, uint8_t type, size_t head_len, const uint8_t *hva,
		     uint64_t first, uint32_t n, const uint64_t *dirty)
{
	uint8_t *kinds = out->chunk + head_len;
	uint8_t *data = kinds + n;
	uint32_t ndata = 0, nsent = 0;

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *page = hva + (uint64_t)i * MIG_PAGE_SIZE;
		if (!page_wanted(dirty, first + i)) {
			kinds[i] = MIG_PAGE_SKIP;
			continue;
		}
		nsent++;
		/* Copied first, then tested: the copy is what gets sent. */
		uint8_t *slot = data + (size_t)ndata * MIG_PAGE_SIZE;
		memcpy(slot, page, MIG_PAGE_SIZE);
		if (page_is_zero(slot)) {
			kinds[i] = MIG_PAGE_ZERO;
			out->stats.zero_pages++;
		} else {
			kinds[i] = MIG_PAGE_DATA;
			ndata++;
			out->stats.data_pages++;
		}
	}
	if (!nsent)
		return 0;
	put_le32(out->chunk + head_len - 8, n);
	put_le32(out->chunk + head_len - 4, ndata);
	out->stats.ram_sections++;
	return out_section(out, type, out->chunk, head_len + n + (size_t)ndata * MIG_PAGE_SIZE);
}

int mig_out_ram(struct mig_out *out, const struct guest_mem *mem, uint64_t gpa,
		uint64_t npages, const uint64_t *dirty, uint64_t dirty_first)
{
	if (out->failed)
		return -1;
	for (uint64_t first = 0; first < npages; first += MIG_CHUNK_PAGES) {
		uint32_t n = (uint32_t)MIN((uint64_t)MIG_CHUNK_PAGES, npages - first);
		uint64_t at = gpa + first * MIG_PAGE_SIZE;
		const uint8_t *hva = guest_ptr(mem, at, (uint64_t)n * MIG_PAGE_SIZE);
		if (!hva) {
			out_fail(out, "migration: RAM range outside guest memory");
			return -1;
		}
		put_le64(out->chunk, at);
		if (out_pages(out, SECTION_RAM, RAM_HEAD_LEN, hva, dirty_first + first, n, dirty) < 0)
			return -1;
	}
	return 0;
}

int mig_out_named(struct mig_out *out, const struct named_ram *r, const uint64_t *dirty)
{
	uint64_t npages = r->size / MIG_PAGE_SIZE;

	if (out->failed)
		return -1;
	for (uint64_t first = 0; first < npages; first += MIG_CHUNK_PAGES) {
		uint32_t n = (uint32_t)MIN((uint64_t)MIG_CHUNK_PAGES, npages - first);
		memset(out->chunk, 0, GUEST_MEM_NAME_LEN);
		memcpy(out->chunk, r->name, strnlen(r->name, GUEST_MEM_NAME_LEN - 1));
		put_le64(out->chunk + GUEST_MEM_NAME_LEN, r->size);
		put_le64(out->chunk + GUEST_MEM_NAME_LEN + 8, first);
		if (out_pages(out, SECTION_BLOCK, BLOCK_HEAD_LEN, r->hva + first * MIG_PAGE_SIZE,
			      first, n, dirty) < 0)
			return -1;
	}
	return 0;
}

int mig_out_all_ram(struct mig_out *out, const struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nblocks; i++) {
		const struct mem_block *b = &mem->blocks[i];
		if (mig_out_ram(out, mem, b->gpa, b->size / MIG_PAGE_SIZE, NULL, 0) < 0)
			return -1;
	}
	for (unsigned i = 0; i < mem->nnamed; i++)
		if (mig_out_named(out, &mem->named[i], NULL) < 0)
			return -1;
	return 0;
}

int mig_out_state(struct mig_out *out, const void *state, size_t len)
{
	return out_section(out, SECTION_STATE, state, len);
}

int mig_out_end(struct mig_out *out)
{
	return out_section(out, SECTION_END, NULL, 0);
}

/* ---- receiving ---- */

static int in_fail(struct mig_in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int in_fail(struct mig_in *in, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(in->err, sizeof(in->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int in_bytes(struct mig_in *in, void *buf, size_t len)
{
	if (len && in->read(in->opaque, buf, len) < 0)
		return -1;
	in->stats.bytes += len;
	return 0;
}

static int in_header(struct mig_in *in, const struct mig_header *expect)
{
	uint8_t b[MIG_HEADER_LEN];

	if (in_bytes(in, b, sizeof(b)) < 0)
		return in_fail(in, "migration: the stream ended in its header (%llu bytes read)",
			       (unsigned long long)in->stats.bytes);
	if (memcmp(b, MIG_MAGIC, 8))
		return in_fail(in, "migration: not a vmm migration stream (bad magic)");
	uint32_t version = get_le32(b + 8);
	if (version < 1 || version > MIG_VERSION)
		return in_fail(in, "migration: stream version %u, this vmm reads versions 1 to %u",
			       version, MIG_VERSION);
	in->version = version;
	if (get_le32(b + 28) != ss_crc32(b, 28))
		return in_fail(in, "migration: the stream's header is corrupt (checksum)");
	uint32_t ncpus = get_le32(b + 12), page = get_le32(b + 24);
	uint64_t ram = get_le64(b + 16);
	if (page != MIG_PAGE_SIZE)
		return in_fail(in, "migration: page size %u, this vmm uses %u", page, MIG_PAGE_SIZE);
	if (ram != expect->ram_size)
		return in_fail(in, "migration: the source has %llu MiB of RAM, this machine %llu MiB "
			       "(start it with the same -m)", (unsigned long long)(ram >> 20),
			       (unsigned long long)(expect->ram_size >> 20));
	if (ncpus != expect->ncpus)
		return in_fail(in, "migration: the source has %u vCPUs, this machine %u (start it "
			       "with the same -smp)", ncpus, expect->ncpus);
	return 0;
}

/* Reads a section's payload of 'len' bytes into *buf (grown as bytes
 * arrive, so a lying length allocates no more than what was sent). */
static int in_payload(struct mig_in *in, uint8_t **buf, size_t *cap, uint32_t len, char type)
{
	size_t got = 0;

	while (got < len) {
		size_t step = MIN((size_t)len - got, (size_t)STATE_READ_STEP);
		if (got + step > *cap) {
			uint8_t *nb = realloc(*buf, got + step);
			if (!nb)
				return in_fail(in, "migration: out of memory for a %u-byte section", len);
			*buf = nb;
			*cap = got + step;
		}
		if (in_bytes(in, *buf + got, step) < 0)
			return in_fail(in, "migration: the stream ended inside a '%c' section "
				       "(%zu of %u bytes)", type, got, len);
		got += step;
	}
	return 0;
}

static int in_pages(struct mig_in *in, uint8_t *hva, const uint8_t *kinds, uint32_t npages,
		    uint32_t ndata, const char *where);

/* A checked RAM section into guest memory. */
static int in_ram(struct mig_in *in, struct guest_mem *mem, const uint8_t *p, uint32_t len)
{
	if (len < RAM_HEAD_LEN)
		return in_fail(in, "migration: RAM section of %u bytes is too short", len);
	uint64_t gpa = get_le64(p);
	uint32_t npages = get_le32(p + 8), ndata = get_le32(p + 12);
	if (npages == 0 || npages > MIG_CHUNK_PAGES || ndata > npages)
		return in_fail(in, "migration: RAM section with %u pages (%u of data): at most %u",
			       npages, ndata, MIG_CHUNK_PAGES);
	if ((uint64_t)len != RAM_HEAD_LEN + npages + (uint64_t)ndata * MIG_PAGE_SIZE)
		return in_fail(in, "migration: RAM section length %u does not match its %u pages",
			       len, npages);
	if (gpa % MIG_PAGE_SIZE)
		return in_fail(in, "migration: RAM section at 0x%llx is not page-aligned",
			       (unsigned long long)gpa);
	uint8_t *hva = guest_ptr(mem, gpa, (uint64_t)npages * MIG_PAGE_SIZE);
	if (!hva)
		return in_fail(in, "migration: RAM section at 0x%llx (%u pages) is not guest RAM "
			       "of this machine", (unsigned long long)gpa, npages);
	char where[48];
	snprintf(where, sizeof(where), "RAM section at 0x%llx", (unsigned long long)gpa);
	return in_pages(in, hva, p + RAM_HEAD_LEN, npages, ndata, where);
}

/* The pages of a RAM or block section, its kinds at 'kinds', the data
 * behind them, into the checked range at hva; 'where' names the section
 * in errors. */
static int in_pages(struct mig_in *in, uint8_t *hva, const uint8_t *kinds, uint32_t npages,
		    uint32_t ndata, const char *where)
{
	const uint8_t *data = kinds + npages;
	uint32_t seen = 0;
	for (uint32_t i = 0; i < npages; i++) {
		if (kinds[i] > MIG_PAGE_SKIP)
			return in_fail(in, "migration: %s: bad page kind %u", where, kinds[i]);
		seen += kinds[i] == MIG_PAGE_DATA;
	}
	if (seen != ndata)
		return in_fail(in, "migration: %s: %u data pages, %u announced", where, seen, ndata);
	/* Checked: now it may touch guest memory. */
	for (uint32_t i = 0; i < npages; i++) {
		uint8_t *page = hva + (uint64_t)i * MIG_PAGE_SIZE;
		if (kinds[i] == MIG_PAGE_DATA) {
			memcpy(page, data, MIG_PAGE_SIZE);
			data += MIG_PAGE_SIZE;
			in->stats.data_pages++;
		} else if (kinds[i] == MIG_PAGE_ZERO) {
			/* Reading a page never written maps the shared zero page:
			 * a fresh destination stays small. */
			if (!page_is_zero(page))
				memset(page, 0, MIG_PAGE_SIZE);
			in->stats.zero_pages++;
		}
	}
	in->stats.ram_sections++;
	return 0;
}

/* A name from the stream, printable and terminated inside its field. */
static bool name_ok(const uint8_t *p)
{
	size_t i = 0;
	for (; i < GUEST_MEM_NAME_LEN && p[i]; i++)
		if (p[i] < 0x21 || p[i] > 0x7E)
			return false;
	return i > 0 && i < GUEST_MEM_NAME_LEN;
}

/* A checked block section into the named block of this machine. */
static int in_block(struct mig_in *in, const struct guest_mem *mem, const uint8_t *p,
		    uint32_t len)
{
	if (len < BLOCK_HEAD_LEN)
		return in_fail(in, "migration: RAM block section of %u bytes is too short", len);
	if (!name_ok(p))
		return in_fail(in, "migration: RAM block section with a malformed name");
	const char *name = (const char *)p;
	uint64_t size = get_le64(p + GUEST_MEM_NAME_LEN);
	uint64_t first = get_le64(p + GUEST_MEM_NAME_LEN + 8);
	uint32_t npages = get_le32(p + BLOCK_HEAD_LEN - 8), ndata = get_le32(p + BLOCK_HEAD_LEN - 4);
	const struct named_ram *r = guest_mem_named(mem, name);
	if (!r)
		return in_fail(in, "migration: RAM block '%s' is not on this machine (start it with "
			       "the same devices)", name);
	if (size != r->size)
		return in_fail(in, "migration: RAM block '%s' is %llu bytes in the stream, %llu on "
			       "this machine (start it with the same devices and sizes)", name,
			       (unsigned long long)size, (unsigned long long)r->size);
	if (npages == 0 || npages > MIG_CHUNK_PAGES || ndata > npages)
		return in_fail(in, "migration: RAM block '%s': section with %u pages (%u of data): "
			       "at most %u", name, npages, ndata, MIG_CHUNK_PAGES);
	if ((uint64_t)len != BLOCK_HEAD_LEN + npages + (uint64_t)ndata * MIG_PAGE_SIZE)
		return in_fail(in, "migration: RAM block '%s': section length %u does not match "
			       "its %u pages", name, len, npages);
	uint64_t pages = r->size / MIG_PAGE_SIZE;
	if (first >= pages || npages > pages - first)
		return in_fail(in, "migration: RAM block '%s': pages %llu to %llu lie past its end "
			       "(%llu pages)", name, (unsigned long long)first,
			       (unsigned long long)first + npages - 1, (unsigned long long)pages);
	char where[GUEST_MEM_NAME_LEN + 32];
	snprintf(where, sizeof(where), "RAM block '%s' page %llu", name, (unsigned long long)first);
	if (in_pages(in, r->hva + first * MIG_PAGE_SIZE, p + BLOCK_HEAD_LEN, npages, ndata,
		     where) < 0)
		return -1;
	return 0;
}

static uint32_t max_payload(uint8_t type)
{
	switch (type) {
	case SECTION_RAM: return RAM_MAX_PAYLOAD;
	case SECTION_BLOCK: return BLOCK_MAX_PAYLOAD;
	case SECTION_STATE: return SS_MAX_STREAM_BYTES;
	default: return 0;
	}
}

/* Reads one section (head, payload, checksum); *type and *len tell it. */
static int in_section(struct mig_in *in, uint8_t **buf, size_t *cap, uint8_t *type,
		      uint32_t *len)
{
	uint8_t head[SECTION_HEAD_LEN], tail[4];

	if (in_bytes(in, head, sizeof(head)) < 0)
		return in_fail(in, "migration: the stream ended after %llu bytes, before its end "
			       "marker (truncated)", (unsigned long long)in->stats.bytes);
	*type = head[0];
	*len = get_le32(head + 4);
	if (*type != SECTION_RAM && *type != SECTION_STATE && *type != SECTION_END &&
	    *type != SECTION_BLOCK)
		return in_fail(in, "migration: unknown section type 0x%02x at byte %llu", *type,
			       (unsigned long long)(in->stats.bytes - sizeof(head)));
	if (head[1] || head[2] || head[3])
		return in_fail(in, "migration: section '%c' at byte %llu: reserved bytes are set",
			       *type, (unsigned long long)(in->stats.bytes - sizeof(head)));
	if (*len > max_payload(*type))
		return in_fail(in, "migration: section '%c' of %u bytes: at most %u", *type, *len,
			       max_payload(*type));
	if (in_payload(in, buf, cap, *len, (char)*type) < 0)
		return -1;
	if (in_bytes(in, tail, sizeof(tail)) < 0)
		return in_fail(in, "migration: the stream ended before a '%c' section's checksum",
			       *type);
	uint32_t crc = ss_crc32_update(ss_crc32_update(0, head, sizeof(head)), *buf, *len);
	if (crc != get_le32(tail))
		return in_fail(in, "migration: section '%c' ending at byte %llu is corrupt "
			       "(checksum mismatch)", *type, (unsigned long long)in->stats.bytes);
	return 0;
}

int mig_in_load(struct mig_in *in, struct guest_mem *mem, const struct mig_header *expect,
		uint8_t **state, size_t *len)
{
	uint8_t *buf = NULL, *saved = NULL;
	size_t cap = 0, saved_len = 0;
	int ret = -1;

	*state = NULL;
	*len = 0;
	memset(&in->stats, 0, sizeof(in->stats));
	in->err[0] = '\0';
	if (in_header(in, expect) < 0)
		return -1;
	for (;;) {
		uint8_t type = 0;
		uint32_t n = 0;
		if (in_section(in, &buf, &cap, &type, &n) < 0)
			goto out;
		if (type == SECTION_END) {
			if (!saved) {
				in_fail(in, "migration: the stream ended without the machine's state");
				goto out;
			}
			break;
		}
		if (saved) {
			in_fail(in, "migration: section '%c' after the machine's state", type);
			goto out;
		}
		if (type == SECTION_RAM) {
			if (in_ram(in, mem, buf, n) < 0)
				goto out;
			continue;
		}
		if (type == SECTION_BLOCK) {
			if (in->version < 2) {
				in_fail(in, "migration: a RAM block section in a version-%u stream",
					in->version);
				goto out;
			}
			if (in_block(in, mem, buf, n) < 0)
				goto out;
			continue;
		}
		if (!n) {
			in_fail(in, "migration: the machine's state section is empty");
			goto out;
		}
		/* The state: the buffer is handed over as it is. */
		saved = buf;
		saved_len = n;
		buf = NULL;
		cap = 0;
	}
	*state = saved;
	*len = saved_len;
	saved = NULL;
	ret = 0;
out:
	free(buf);
	free(saved);
	return ret;
}
