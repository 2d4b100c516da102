// SPDX-License-Identifier: GPL-2.0-or-later
/* The migration stream (src/core/migstream.c): round trips with zero, data
 * and skipped pages, dirty rounds, truncation at every byte, every
 * single-byte corruption, header mismatches, and hostile sections with
 * valid checksums (bad addresses, counts, kinds, lengths, order). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "migstream.h"
#include "savestate.h"
#include "util.h"

#define PAGE MIG_PAGE_SIZE

/* A stream in memory: written by mig_out, read back by mig_in. */
struct membuf {
	uint8_t *data;
	size_t len, cap, pos;
	size_t fail_after; /* writes fail once this many bytes are in; 0: never */
};

static int mb_write(void *opaque, const void *buf, size_t n)
{
	struct membuf *b = opaque;
	if (b->fail_after && b->len + n > b->fail_after)
		return -1;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	if (n)
		memcpy(b->data + b->len, buf, n);
	b->len += n;
	return 0;
}

static int mb_read(void *opaque, void *buf, size_t n)
{
	struct membuf *b = opaque;
	if (n > b->len - b->pos)
		return -1;
	memcpy(buf, b->data + b->pos, n);
	b->pos += n;
	return 0;
}

struct machine_ram {
	uint8_t *buf;
	struct guest_mem mem;
};

static void ram_init(struct machine_ram *r, size_t pages, uint8_t fill)
{
	r->buf = aligned_alloc(PAGE, pages * PAGE);
	assert_non_null(r->buf);
	memset(r->buf, fill, pages * PAGE);
	guest_mem_init_buffer(&r->mem, r->buf, pages * PAGE);
}

static void ram_free(struct machine_ram *r)
{
	free(r->buf);
}

/* Page i: zero when i % 3 == 0, else a pattern naming the page. */
static void fill_pattern(struct machine_ram *r, size_t pages)
{
	for (size_t i = 0; i < pages; i++) {
		uint8_t *p = r->buf + i * PAGE;
		if (i % 3 == 0) {
			memset(p, 0, PAGE);
			continue;
		}
		for (size_t k = 0; k < PAGE; k++)
			p[k] = (uint8_t)(i * 7 + k);
	}
}

static const char state_blob[] = "a saved-state stream stands here";

/* A whole stream of 'src' into b. */
static void write_stream(struct membuf *b, struct machine_ram *src, uint32_t ncpus)
{
	struct mig_out out;
	const struct mig_header h = { src->mem.ram_size, ncpus };

	assert_int_equal(mig_out_init(&out, mb_write, b), 0);
	assert_int_equal(mig_out_header(&out, &h), 0);
	assert_int_equal(mig_out_all_ram(&out, &src->mem), 0);
	assert_int_equal(mig_out_state(&out, state_blob, sizeof(state_blob)), 0);
	assert_int_equal(mig_out_end(&out), 0);
	assert_int_equal(out.stats.bytes, b->len);
	mig_out_free(&out);
}

/* Loads b into dst; returns mig_in_load's result, error in err. */
static int read_stream(struct membuf *b, struct machine_ram *dst, uint32_t ncpus,
		       char *err, size_t errlen, struct mig_stats *stats)
{
	struct mig_in in = { .read = mb_read, .opaque = b };
	const struct mig_header expect = { dst->mem.ram_size, ncpus };
	uint8_t *state;
	size_t len;

	b->pos = 0;
	int ret = mig_in_load(&in, &dst->mem, &expect, &state, &len);
	snprintf(err, errlen, "%s", in.err);
	if (stats)
		*stats = in.stats;
	if (ret == 0) {
		assert_int_equal(len, sizeof(state_blob));
		assert_memory_equal(state, state_blob, len);
		free(state);
	} else {
		assert_null(state);
		assert_true(strlen(in.err) > 10);
		assert_null(strchr(in.err, '\n'));
	}
	return ret;
}

static void test_round_trip(void **unused)
{
	enum { PAGES = 600 }; /* three RAM sections */
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	struct mig_stats st;
	char err[MIG_ERR_MAX];

	ram_init(&src, PAGES, 0);
	ram_init(&dst, PAGES, 0xAA); /* zero pages must clear it */
	fill_pattern(&src, PAGES);
	write_stream(&b, &src, 2);
	assert_int_equal(read_stream(&b, &dst, 2, err, sizeof(err), &st), 0);
	assert_memory_equal(src.buf, dst.buf, PAGES * PAGE);
	assert_int_equal(st.zero_pages, PAGES / 3);
	assert_int_equal(st.data_pages, PAGES - PAGES / 3);
	assert_int_equal(st.ram_sections, 3);
	assert_int_equal(st.bytes, b.len);
	/* Zero pages cost their kind byte only. */
	assert_true(b.len < (PAGES - PAGES / 3) * PAGE + 4096);
	ram_free(&src);
	ram_free(&dst);
	free(b.data);
}

/* An all-zero machine is a few bytes per page. */
static void test_zero_pages_are_small(void **unused)
{
	enum { PAGES = 1024 };
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	char err[MIG_ERR_MAX];

	ram_init(&src, PAGES, 0);
	ram_init(&dst, PAGES, 0);
	write_stream(&b, &src, 1);
	assert_true(b.len < PAGES * 2);
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), 0);
	ram_free(&src);
	ram_free(&dst);
	free(b.data);
}

/* A first pass, then a round of the pages written since (the others
 * skipped: they keep what the first pass sent). */
static void test_dirty_round(void **unused)
{
	enum { PAGES = 300 };
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	struct mig_out out;
	const struct mig_header h = { PAGES * PAGE, 1 };
	uint64_t dirty[(PAGES + 63) / 64] = { 0 };
	char err[MIG_ERR_MAX];

	ram_init(&src, PAGES, 0);
	ram_init(&dst, PAGES, 0x55);
	fill_pattern(&src, PAGES);
	assert_int_equal(mig_out_init(&out, mb_write, &b), 0);
	assert_int_equal(mig_out_header(&out, &h), 0);
	assert_int_equal(mig_out_all_ram(&out, &src.mem), 0);
	/* The guest writes pages 5, 6 and 299 and zeroes page 7. */
	memset(src.buf + 5 * PAGE, 0x11, 2 * PAGE);
	memset(src.buf + 299 * PAGE, 0x22, PAGE);
	memset(src.buf + 7 * PAGE, 0, PAGE);
	for (unsigned p = 5; p <= 7; p++)
		dirty[p / 64] |= 1ULL << (p % 64);
	dirty[299 / 64] |= 1ULL << (299 % 64);
	uint64_t before = out.stats.ram_sections;
	assert_int_equal(mig_out_ram(&out, &src.mem, 0, PAGES, dirty, 0), 0);
	/* Only the two chunks with dirty pages went out. */
	assert_int_equal(out.stats.ram_sections - before, 2);
	/* A range that starts inside the bitmap: pages 256.. with bit offset 256. */
	memset(src.buf + 298 * PAGE, 0x33, PAGE);
	memset(dirty, 0, sizeof(dirty));
	dirty[298 / 64] |= 1ULL << (298 % 64);
	assert_int_equal(mig_out_ram(&out, &src.mem, 256 * PAGE, PAGES - 256, dirty, 256), 0);
	assert_int_equal(mig_out_state(&out, state_blob, sizeof(state_blob)), 0);
	assert_int_equal(mig_out_end(&out), 0);
	mig_out_free(&out);
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), 0);
	assert_memory_equal(src.buf, dst.buf, PAGES * PAGE);
	ram_free(&src);
	ram_free(&dst);
	free(b.data);
}

/* A stream cut anywhere is refused with one line, never a crash. */
static void test_truncated_everywhere(void **unused)
{
	enum { PAGES = 8 };
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	char err[MIG_ERR_MAX];

	ram_init(&src, PAGES, 0);
	ram_init(&dst, PAGES, 0);
	fill_pattern(&src, PAGES);
	write_stream(&b, &src, 1);
	size_t full = b.len;
	for (size_t cut = 0; cut < full; cut++) {
		b.len = cut;
		assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), -1);
		assert_true(strstr(err, "ended") || strstr(err, "truncated"));
	}
	b.len = full;
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), 0);
	ram_free(&src);
	ram_free(&dst);
	free(b.data);
}

/* Every single-byte change anywhere is caught (CRC-32 finds every burst
 * of up to 32 bits), and a corrupt RAM section changes no guest page. */
static void test_corrupt_every_byte(void **unused)
{
	enum { PAGES = 4 };
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	char err[MIG_ERR_MAX];

	ram_init(&src, PAGES, 0);
	ram_init(&dst, PAGES, 0);
	fill_pattern(&src, PAGES);
	write_stream(&b, &src, 1);
	/* The first RAM section ends before the state section: corrupting
	 * it must leave dst as it was. */
	size_t ram_end = b.len - (8 + sizeof(state_blob) + 4) - (8 + 4);
	for (size_t at = 0; at < b.len; at++) {
		memset(dst.buf, 0xAA, PAGES * PAGE);
		b.data[at] ^= 0x5A;
		assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), -1);
		b.data[at] ^= 0x5A;
		if (at < ram_end)
			for (size_t k = 0; k < PAGES * PAGE; k++)
				assert_int_equal(dst.buf[k], 0xAA);
	}
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), 0);
	ram_free(&src);
	ram_free(&dst);
	free(b.data);
}

static void test_header_mismatches(void **unused)
{
	struct machine_ram src, dst, bigger;
	struct membuf b = { 0 };
	char err[MIG_ERR_MAX];

	ram_init(&src, 4, 0);
	ram_init(&dst, 4, 0);
	ram_init(&bigger, 8, 0);
	write_stream(&b, &src, 2);
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "2 vCPUs, this machine 1"));
	assert_int_equal(read_stream(&b, &bigger, 2, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "RAM"));
	/* A newer version (its header checksum right) is named. */
	put_le32(b.data + 8, MIG_VERSION + 1);
	put_le32(b.data + 28, ss_crc32(b.data, 28));
	assert_int_equal(read_stream(&b, &dst, 2, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "version 3, this vmm reads versions 1 to 2"));
	memcpy(b.data, "QEVM", 4);
	assert_int_equal(read_stream(&b, &dst, 2, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "bad magic"));
	ram_free(&src);
	ram_free(&dst);
	ram_free(&bigger);
	free(b.data);
}

/* ---- hostile streams with valid checksums ---- */

static void put_header(struct membuf *b, uint64_t ram, uint32_t ncpus)
{
	uint8_t h[MIG_HEADER_LEN];
	memcpy(h, MIG_MAGIC, 8);
	put_le32(h + 8, MIG_VERSION);
	put_le32(h + 12, ncpus);
	put_le64(h + 16, ram);
	put_le32(h + 24, PAGE);
	put_le32(h + 28, ss_crc32(h, 28));
	mb_write(b, h, sizeof(h));
}

static void put_section(struct membuf *b, uint8_t type, const void *p, uint32_t len,
			uint8_t reserved)
{
	uint8_t head[8] = { type, reserved }, tail[4];
	put_le32(head + 4, len);
	put_le32(tail, ss_crc32_update(ss_crc32_update(0, head, 8), p, len));
	mb_write(b, head, 8);
	mb_write(b, p, len);
	mb_write(b, tail, 4);
}

/* A RAM section: npages kinds, then as many data pages as kind 1s. */
static void put_ram(struct membuf *b, uint64_t gpa, uint32_t npages, uint32_t ndata,
		    const uint8_t *kinds, uint32_t real_data)
{
	size_t len = 16 + npages + (size_t)real_data * PAGE;
	uint8_t *p = calloc(1, len);
	put_le64(p, gpa);
	put_le32(p + 8, npages);
	put_le32(p + 12, ndata);
	memcpy(p + 16, kinds, npages);
	memset(p + 16 + npages, 0x77, (size_t)real_data * PAGE);
	put_section(b, 'R', p, (uint32_t)len, 0);
	free(p);
}

static void put_tail(struct membuf *b)
{
	put_section(b, 'S', state_blob, sizeof(state_blob), 0);
	put_section(b, 'E', NULL, 0, 0);
}

/* Builds header + one hostile piece (+ the normal tail) and expects the
 * load to fail with 'expect' in the message and dst untouched. */
#define HOSTILE(build, expect)                                                          \
	do {                                                                            \
		struct membuf hb = { 0 };                                               \
		put_header(&hb, 4 * PAGE, 1);                                           \
		build;                                                                  \
		memset(dst.buf, 0xAA, 4 * PAGE);                                        \
		assert_int_equal(read_stream(&hb, &dst, 1, err, sizeof(err), NULL), -1); \
		if (!strstr(err, expect))                                               \
			fail_msg("'%s' does not say '%s'", err, expect);                \
		for (size_t k = 0; k < 4 * PAGE; k++)                                   \
			assert_int_equal(dst.buf[k], 0xAA);                             \
		free(hb.data);                                                          \
	} while (0)

static void test_hostile_sections(void **unused)
{
	struct machine_ram dst;
	char err[MIG_ERR_MAX];
	const uint8_t one_data[4] = { 1, 0, 0, 0 }, bad_kind[2] = { 0, 3 };
	uint8_t many[MIG_CHUNK_PAGES + 1] = { 0 };

	ram_init(&dst, 4, 0xAA);
	/* outside guest RAM, straddling its end, unaligned, at 2^64 - 4096 */
	HOSTILE((put_ram(&hb, 4 * PAGE, 1, 1, one_data, 1), put_tail(&hb)), "not guest RAM");
	HOSTILE((put_ram(&hb, 3 * PAGE, 2, 1, one_data, 1), put_tail(&hb)), "not guest RAM");
	HOSTILE((put_ram(&hb, 100, 1, 1, one_data, 1), put_tail(&hb)), "page-aligned");
	HOSTILE((put_ram(&hb, ~0ULL - PAGE + 1, 1, 1, one_data, 1), put_tail(&hb)),
		"not guest RAM");
	/* counts */
	HOSTILE((put_ram(&hb, 0, 0, 0, one_data, 0), put_tail(&hb)), "0 pages");
	HOSTILE((put_ram(&hb, 0, MIG_CHUNK_PAGES + 1, 0, many, 0), put_tail(&hb)), "at most");
	HOSTILE((put_ram(&hb, 0, 4, 2, one_data, 1), put_tail(&hb)), "does not match");
	HOSTILE((put_ram(&hb, 0, 4, 5, one_data, 5), put_tail(&hb)), "at most");
	HOSTILE((put_ram(&hb, 0, 4, 0, one_data, 0), put_tail(&hb)), "announced");
	HOSTILE((put_ram(&hb, 0, 2, 0, bad_kind, 0), put_tail(&hb)), "bad page kind 3");
	HOSTILE(put_section(&hb, 'R', "short", 5, 0), "too short");
	/* types, reserved bytes, lengths beyond a type's limit */
	HOSTILE(put_section(&hb, 'X', NULL, 0, 0), "unknown section type 0x58");
	HOSTILE(put_section(&hb, 'E', NULL, 0, 1), "reserved");
	{
		/* a RAM section claiming more than a chunk can hold: refused
		 * from its head, before any of it is read */
		uint8_t head[8] = { 'R' };
		put_le32(head + 4, 16 + MIG_CHUNK_PAGES + MIG_CHUNK_PAGES * PAGE + 1);
		HOSTILE(mb_write(&hb, head, 8), "at most");
		/* a state section claiming 4 GiB - 1 */
		uint8_t shead[8] = { 'S' };
		put_le32(shead + 4, 0xFFFFFFFFu);
		HOSTILE(mb_write(&hb, shead, 8), "at most");
		/* a state section claiming 200 MiB with 10 bytes behind it:
		 * refused when the bytes run out (memory grows with them) */
		put_le32(shead + 4, 200u << 20);
		HOSTILE((mb_write(&hb, shead, 8), mb_write(&hb, "0123456789", 10)),
			"ended inside");
	}
	/* order: no state, RAM after the state, two states, an empty state */
	HOSTILE(put_section(&hb, 'E', NULL, 0, 0), "without the machine's state");
	HOSTILE((put_section(&hb, 'S', "x", 1, 0), put_ram(&hb, 0, 4, 1, one_data, 1),
		 put_section(&hb, 'E', NULL, 0, 0)), "after the machine's state");
	HOSTILE((put_section(&hb, 'S', "x", 1, 0), put_tail(&hb)), "after the machine's state");
	HOSTILE((put_section(&hb, 'S', NULL, 0, 0), put_tail(&hb)), "empty");
	/* A good RAM section, then a bad one: the first was loaded (the
	 * destination discards the machine), the error names the second. */
	{
		struct membuf hb = { 0 };
		put_header(&hb, 4 * PAGE, 1);
		put_ram(&hb, 0, 4, 1, one_data, 1);
		put_ram(&hb, 8 * PAGE, 1, 1, one_data, 1);
		put_tail(&hb);
		assert_int_equal(read_stream(&hb, &dst, 1, err, sizeof(err), NULL), -1);
		assert_non_null(strstr(err, "0x8000"));
		free(hb.data);
	}
	ram_free(&dst);
}

/* A version-1 stream, built by hand from the layout docs/architecture.md
 * gives ("Migration"), with Python's zlib.crc32, not by vmm's writer: a
 * 2-page machine, one vCPU; a RAM section with page 0 zero and page 1
 * skipped; the state "state v1"; the end. Later versions must keep
 * loading it (or refuse it by its version, never misread it). */
static const uint8_t stream_v1[] = {
	0x56, 0x4d, 0x4d, 0x4d, 0x49, 0x47, 0x52, 0x0a, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x10, 0x00, 0x00, 0x0e, 0x46, 0x87, 0xd2, 0x52, 0x00, 0x00, 0x00,
	0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xd6, 0xfb,
	0x72, 0xb9, 0x53, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x73, 0x74,
	0x61, 0x74, 0x65, 0x20, 0x76, 0x31, 0x1d, 0x26, 0x2a, 0xe2, 0x45, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x13, 0x5f, 0x04,
};

static void test_version1_stream_still_loads(void **unused)
{
	struct machine_ram dst;
	struct membuf b = { .data = (uint8_t *)stream_v1, .len = sizeof(stream_v1) };
	struct mig_in in = { .read = mb_read, .opaque = &b };
	const struct mig_header expect = { 2 * PAGE, 1 };
	uint8_t *state;
	size_t len;

	ram_init(&dst, 2, 0xAA);
	assert_int_equal(mig_in_load(&in, &dst.mem, &expect, &state, &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(state, "state v1", 8);
	for (size_t k = 0; k < PAGE; k++) {
		assert_int_equal(dst.buf[k], 0);          /* the zero page */
		assert_int_equal(dst.buf[PAGE + k], 0xAA); /* skipped */
	}
	assert_int_equal(in.stats.bytes, sizeof(stream_v1));
	free(state);
	ram_free(&dst);
}

/* ---- a device's named RAM block (video memory) beside guest RAM ---- */

/* A block of 'pages' pages named 'name' in r's memory, filled with 'fill'. */
static uint8_t *add_block(struct machine_ram *r, const char *name, size_t pages, uint8_t fill)
{
	struct named_ram nb = { .size = pages * PAGE };
	uint8_t *buf = aligned_alloc(PAGE, pages * PAGE);

	assert_non_null(buf);
	memset(buf, fill, pages * PAGE);
	snprintf(nb.name, sizeof(nb.name), "%s", name);
	nb.hva = buf;
	assert_int_equal(guest_mem_add_named(&r->mem, &nb), 0);
	return buf;
}

/* Guest RAM and a 300-page block (two block sections), mostly zero as
 * video memory is: the block lands in the block of its name, and its
 * zero pages cost a byte each. */
static void test_named_block_round_trip(void **unused)
{
	enum { PAGES = 8, VPAGES = 300 };
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	struct mig_stats st;
	char err[MIG_ERR_MAX];

	ram_init(&src, PAGES, 0);
	ram_init(&dst, PAGES, 0xAA);
	fill_pattern(&src, PAGES);
	uint8_t *sv = add_block(&src, "vga.vram@02.0", VPAGES, 0);
	uint8_t *dv = add_block(&dst, "vga.vram@02.0", VPAGES, 0xAA);
	memset(sv + 3 * PAGE, 0x5A, PAGE);
	memset(sv + 299 * PAGE, 0xA5, PAGE);
	write_stream(&b, &src, 1);
	assert_true(b.len < (PAGES + 2) * PAGE + VPAGES + 1024);
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), &st), 0);
	assert_memory_equal(src.buf, dst.buf, PAGES * PAGE);
	assert_memory_equal(sv, dv, VPAGES * PAGE);
	assert_int_equal(st.ram_sections, 1 + 2);
	/* a dirty round of the block: only page 299 again */
	uint64_t dirty[(VPAGES + 63) / 64] = { 0 };
	struct mig_out out;
	const struct mig_header h = { PAGES * PAGE, 1 };
	free(b.data);
	b = (struct membuf){ 0 };
	memset(dv, 0x11, VPAGES * PAGE);
	memset(sv + 299 * PAGE, 0x42, PAGE);
	dirty[299 / 64] |= 1ULL << (299 % 64);
	assert_int_equal(mig_out_init(&out, mb_write, &b), 0);
	assert_int_equal(mig_out_header(&out, &h), 0);
	assert_int_equal(mig_out_named(&out, &src.mem.named[0], dirty), 0);
	assert_int_equal(out.stats.ram_sections, 1);
	assert_int_equal(mig_out_state(&out, state_blob, sizeof(state_blob)), 0);
	assert_int_equal(mig_out_end(&out), 0);
	mig_out_free(&out);
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), 0);
	assert_memory_equal(dv + 299 * PAGE, sv + 299 * PAGE, PAGE);
	assert_int_equal(dv[298 * PAGE], 0x11); /* skipped */
	free(b.data);
	free(sv);
	free(dv);
	ram_free(&src);
	ram_free(&dst);
}

/* A stream with a block, cut at every byte: one line each time. */
static void test_named_block_truncated_everywhere(void **unused)
{
	struct machine_ram src, dst;
	struct membuf b = { 0 };
	char err[MIG_ERR_MAX];

	ram_init(&src, 2, 0);
	ram_init(&dst, 2, 0);
	uint8_t *sv = add_block(&src, "vram", 3, 0x3C);
	uint8_t *dv = add_block(&dst, "vram", 3, 0);
	write_stream(&b, &src, 1);
	size_t full = b.len;
	for (size_t cut = 0; cut < full; cut++) {
		b.len = cut;
		assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), -1);
		assert_true(strstr(err, "ended") || strstr(err, "truncated"));
	}
	b.len = full;
	assert_int_equal(read_stream(&b, &dst, 1, err, sizeof(err), NULL), 0);
	assert_memory_equal(sv, dv, 3 * PAGE);
	free(sv);
	free(dv);
	ram_free(&src);
	ram_free(&dst);
	free(b.data);
}

/* A block section built by hand: name field, block size, first page,
 * npages kinds, ndata, and real_data pages of data. */
static void put_block(struct membuf *b, const char *name, size_t name_len, uint64_t size,
		      uint64_t first, uint32_t npages, uint32_t ndata, const uint8_t *kinds,
		      uint32_t real_data)
{
	size_t head = GUEST_MEM_NAME_LEN + 24, len = head + npages + (size_t)real_data * PAGE;
	uint8_t *p = calloc(1, len);
	memcpy(p, name, name_len);
	put_le64(p + GUEST_MEM_NAME_LEN, size);
	put_le64(p + GUEST_MEM_NAME_LEN + 8, first);
	put_le32(p + GUEST_MEM_NAME_LEN + 16, npages);
	put_le32(p + GUEST_MEM_NAME_LEN + 20, ndata);
	memcpy(p + head, kinds, npages);
	memset(p + head + npages, 0x77, (size_t)real_data * PAGE);
	put_section(b, 'N', p, (uint32_t)len, 0);
	free(p);
}

#define VNAME "vga.vram", 9

/* Hostile block sections, checksums right: each refused with one line
 * naming the fault, the block untouched. */
static void test_hostile_block_sections(void **unused)
{
	struct machine_ram dst;
	char err[MIG_ERR_MAX];
	const uint8_t one_data[4] = { 1, 0, 0, 0 }, bad_kind[2] = { 0, 3 };
	char long_name[GUEST_MEM_NAME_LEN];

	memset(long_name, 'a', sizeof(long_name));
	ram_init(&dst, 4, 0xAA);
	uint8_t *dv = add_block(&dst, "vga.vram", 4, 0xAA);
#define HOSTILE_BLOCK(build, expect)                                                    	do {                                                                            		HOSTILE(build, expect);                                                 		for (size_t k = 0; k < 4 * PAGE; k++)                                   			assert_int_equal(dv[k], 0xAA);                                  	} while (0)
	/* a block of another size, of another name, a malformed name */
	HOSTILE_BLOCK((put_block(&hb, VNAME, 8 * PAGE, 0, 1, 1, one_data, 1), put_tail(&hb)),
		      "'vga.vram' is 32768 bytes in the stream, 16384 on this machine");
	HOSTILE_BLOCK((put_block(&hb, "vga.vram@03.0", 14, 4 * PAGE, 0, 1, 1, one_data, 1),
		       put_tail(&hb)), "'vga.vram@03.0' is not on this machine");
	HOSTILE_BLOCK((put_block(&hb, long_name, sizeof(long_name), 4 * PAGE, 0, 1, 1, one_data, 1),
		       put_tail(&hb)), "malformed name");
	HOSTILE_BLOCK((put_block(&hb, "vga\nvram", 9, 4 * PAGE, 0, 1, 1, one_data, 1),
		       put_tail(&hb)), "malformed name");
	HOSTILE_BLOCK((put_block(&hb, "", 1, 4 * PAGE, 0, 1, 1, one_data, 1), put_tail(&hb)),
		      "malformed name");
	/* page indices past the block: wholly, straddling, at 2^64 - 1 */
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, 4, 1, 1, one_data, 1), put_tail(&hb)),
		      "pages 4 to 4 lie past its end (4 pages)");
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, 3, 2, 1, one_data, 1), put_tail(&hb)),
		      "past its end");
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, ~0ULL, 1, 1, one_data, 1), put_tail(&hb)),
		      "past its end");
	/* counts, kinds, lengths */
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, 0, 0, 0, one_data, 0), put_tail(&hb)),
		      "0 pages");
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, 0, 4, 2, one_data, 1), put_tail(&hb)),
		      "does not match");
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, 0, 4, 0, one_data, 0), put_tail(&hb)),
		      "announced");
	HOSTILE_BLOCK((put_block(&hb, VNAME, 4 * PAGE, 0, 2, 0, bad_kind, 0), put_tail(&hb)),
		      "bad page kind 3");
	HOSTILE_BLOCK(put_section(&hb, 'N', "short", 5, 0), "too short");
	/* a block section after the state */
	HOSTILE_BLOCK((put_section(&hb, 'S', "x", 1, 0),
		       put_block(&hb, VNAME, 4 * PAGE, 0, 1, 1, one_data, 1),
		       put_section(&hb, 'E', NULL, 0, 0)), "after the machine's state");
	{
		/* a block section claiming more than a chunk: refused from its head */
		uint8_t head[8] = { 'N' };
		put_le32(head + 4, GUEST_MEM_NAME_LEN + 24 + MIG_CHUNK_PAGES + MIG_CHUNK_PAGES * PAGE + 1);
		HOSTILE_BLOCK(mb_write(&hb, head, 8), "at most");
	}
	{
		/* a version-1 stream has no block sections */
		struct membuf hb = { 0 };
		put_header(&hb, 4 * PAGE, 1);
		put_le32(hb.data + 8, 1);
		put_le32(hb.data + 28, ss_crc32(hb.data, 28));
		put_block(&hb, VNAME, 4 * PAGE, 0, 1, 1, one_data, 1);
		put_tail(&hb);
		assert_int_equal(read_stream(&hb, &dst, 1, err, sizeof(err), NULL), -1);
		assert_non_null(strstr(err, "version-1 stream"));
		assert_int_equal(dv[0], 0xAA);
		free(hb.data);
	}
	/* and a good one, to show the builder right */
	{
		struct membuf hb = { 0 };
		put_header(&hb, 4 * PAGE, 1);
		put_block(&hb, VNAME, 4 * PAGE, 3, 1, 1, one_data, 1);
		put_tail(&hb);
		assert_int_equal(read_stream(&hb, &dst, 1, err, sizeof(err), NULL), 0);
		assert_int_equal(dv[3 * PAGE], 0x77);
		free(hb.data);
	}
#undef HOSTILE_BLOCK
	free(dv);
	ram_free(&dst);
}

/* The sending side: a broken pipe is one error, sticky. */
static void test_write_failure(void **unused)
{
	struct machine_ram src;
	struct membuf b = { .fail_after = 5000 };
	struct mig_out out;
	const struct mig_header h = { 64 * PAGE, 1 };

	ram_init(&src, 64, 0);
	fill_pattern(&src, 64);
	assert_int_equal(mig_out_init(&out, mb_write, &b), 0);
	assert_int_equal(mig_out_header(&out, &h), 0);
	assert_int_equal(mig_out_all_ram(&out, &src.mem), -1);
	assert_non_null(strstr(out.err, "broke"));
	assert_int_equal(mig_out_state(&out, state_blob, sizeof(state_blob)), -1);
	assert_int_equal(mig_out_end(&out), -1);
	/* RAM outside guest memory is the caller's bug, refused too. */
	mig_out_free(&out);
	assert_int_equal(mig_out_init(&out, mb_write, &(struct membuf){ 0 }), 0);
	assert_int_equal(mig_out_ram(&out, &src.mem, 60 * PAGE, 8, NULL, 0), -1);
	mig_out_free(&out);
	ram_free(&src);
	free(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_zero_pages_are_small),
		cmocka_unit_test(test_dirty_round),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_corrupt_every_byte),
		cmocka_unit_test(test_header_mismatches),
		cmocka_unit_test(test_hostile_sections),
		cmocka_unit_test(test_write_failure),
		cmocka_unit_test(test_version1_stream_still_loads),
		cmocka_unit_test(test_named_block_round_trip),
		cmocka_unit_test(test_named_block_truncated_everywhere),
		cmocka_unit_test(test_hostile_block_sections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
