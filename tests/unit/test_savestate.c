// SPDX-License-Identifier: GPL-2.0-or-later
/* The saved-state stream (src/core/savestate.c): round trips, every error class,
 * truncation at every byte, single-byte corruption, version mismatch. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "savestate.h"
#include "util.h"

struct demo_queue {
	uint16_t size;
	uint64_t desc;
	bool ready;
};

struct demo {
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	bool e;
	uint8_t blob[5];
	uint32_t nq;
	struct demo_queue q[4];
};

static const struct demo sample = {
	.a = 0x12, .b = 0x3456, .c = 0x789abcde, .d = 0x0123456789abcdefULL, .e = true,
	.blob = { 1, 2, 3, 4, 5 }, .nq = 2,
	.q = { { 256, 0x1000, true }, { 128, 0x2000, false } },
};

static void demo_save(struct ss_writer *w, const struct demo *d, uint32_t instance)
{
	ss_section_begin(w, "demo", instance, 2);
	ss_put_u8(w, "a", d->a);
	ss_put_u16(w, "b", d->b);
	ss_put_u32(w, "c", d->c);
	ss_put_u64(w, "d", d->d);
	ss_put_bool(w, "e", d->e);
	ss_put_bytes(w, "blob", d->blob, sizeof(d->blob));
	ss_put_array(w, "q", d->nq);
	for (uint32_t i = 0; i < d->nq; i++) {
		ss_put_elem_begin(w, "q", i);
		ss_put_u16(w, "size", d->q[i].size);
		ss_put_u64(w, "desc", d->q[i].desc);
		ss_put_bool(w, "ready", d->q[i].ready);
		ss_put_elem_end(w);
	}
	ss_section_end(w);
}

/* The pattern every device load follows: read into a copy, commit on success. */
static bool demo_load(struct ss_reader *r, struct demo *d, uint32_t instance)
{
	struct demo t = { 0 };
	if (!ss_section_open(r, "demo", instance, 1, 2, NULL))
		return false;
	ss_get_u8(r, "a", &t.a);
	ss_get_u16(r, "b", &t.b);
	ss_get_u32(r, "c", &t.c);
	ss_get_u64(r, "d", &t.d);
	ss_get_bool(r, "e", &t.e);
	ss_get_bytes(r, "blob", t.blob, sizeof(t.blob));
	ss_get_array(r, "q", ARRAY_SIZE(t.q), &t.nq);
	for (uint32_t i = 0; i < t.nq && ss_ok(r); i++) {
		ss_get_elem_begin(r, "q", i);
		ss_get_u16(r, "size", &t.q[i].size);
		ss_get_u64(r, "desc", &t.q[i].desc);
		ss_get_bool(r, "ready", &t.q[i].ready);
		ss_get_elem_end(r);
	}
	if (!ss_section_close(r))
		return false;
	*d = t;
	return true;
}

static void save_two(struct ss_writer *w)
{
	ss_writer_init(w);
	demo_save(w, &sample, 0);
	struct demo other = sample;
	other.a = 0x99;
	demo_save(w, &other, 1);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void test_round_trip(void **state)
{
	struct ss_writer w, w2;
	struct ss_reader r;
	struct demo d0, d1;

	save_two(&w);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_int_equal(r.nsections, 2);
	/* sections are found by name and instance, in any order */
	assert_true(demo_load(&r, &d1, 1));
	assert_true(demo_load(&r, &d0, 0));
	assert_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);
	assert_int_equal(d0.a, 0x12);
	assert_int_equal(d1.a, 0x99);
	assert_int_equal(d0.d, sample.d);
	assert_int_equal(d0.nq, 2);
	assert_int_equal(d0.q[0].size, 256);
	assert_int_equal(d0.q[1].desc, 0x2000);
	assert_false(d0.q[1].ready);
	assert_memory_equal(d0.blob, sample.blob, 5);

	/* save again from what was loaded: the same bytes */
	ss_writer_init(&w2);
	demo_save(&w2, &d0, 0);
	demo_save(&w2, &d1, 1);
	assert_int_equal(ss_writer_finish(&w2), 0);
	assert_int_equal(w.len, w2.len);
	assert_memory_equal(w.buf, w2.buf, w.len);
	ss_writer_free(&w);
	ss_writer_free(&w2);
}

static void test_layout(void **state)
{
	struct ss_writer w;
	ss_writer_init(&w);
	ss_section_begin(&w, "x", 7, 3);
	ss_put_u16(&w, "f", 0xBEEF);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	static const uint8_t want[] = {
		'V', 'M', 'M', 'S', 'T', 'A', 'T', 'E', 1, 0, 0, 0,
		'S', 1, 'x', 7, 0, 0, 0, 3, 0, 0, 0, 8, 0, 0, 0,
		1, 'f', 2, 0, 0, 0, 0xEF, 0xBE,
	};
	assert_int_equal(w.len, sizeof(want) + 4 + 1);
	assert_memory_equal(w.buf, want, sizeof(want));
	assert_int_equal(get_le32(w.buf + sizeof(want)), ss_crc32(w.buf + 12, sizeof(want) - 12));
	assert_int_equal(w.buf[w.len - 1], 'E');
	ss_writer_free(&w);
}

/* Loads a stream built by 'build' and expects the error to contain 'want'. */
static void expect_load_error(void (*build)(struct ss_writer *), const char *want)
{
	struct ss_writer w;
	struct ss_reader r;
	struct demo d = sample;
	d.a = 0x55;

	ss_writer_init(&w);
	build(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(demo_load(&r, &d, 0));
	assert_false(ss_ok(&r));
	if (!strstr(r.err, want))
		fail_msg("error \"%s\" does not mention \"%s\"", r.err, want);
	assert_int_equal(d.a, 0x55); /* nothing half-loaded */
	ss_reader_close(&r);
	ss_writer_free(&w);
}

static void build_missing(struct ss_writer *w)
{
	ss_section_begin(w, "demo", 0, 2);
	ss_put_u8(w, "a", 1);
	ss_section_end(w);
}

static void build_unknown(struct ss_writer *w)
{
	demo_save(w, &sample, 0);
	/* the same, with one extra field: rebuild by hand */
	ss_writer_free(w);
	ss_writer_init(w);
	ss_section_begin(w, "demo", 0, 2);
	ss_put_u8(w, "a", 1);
	ss_put_u16(w, "b", 2);
	ss_put_u32(w, "c", 3);
	ss_put_u64(w, "d", 4);
	ss_put_bool(w, "e", 1);
	ss_put_bytes(w, "blob", "abcde", 5);
	ss_put_array(w, "q", 0);
	ss_put_u32(w, "surprise", 5);
	ss_section_end(w);
}

static void build_wrong_size(struct ss_writer *w)
{
	ss_section_begin(w, "demo", 0, 2);
	ss_put_u8(w, "a", 1);
	ss_put_u32(w, "b", 2); /* u16 expected */
	ss_section_end(w);
}

static void build_wrong_version(struct ss_writer *w)
{
	ss_section_begin(w, "demo", 0, 3);
	ss_section_end(w);
}

static void build_no_section(struct ss_writer *w)
{
	demo_save(w, &sample, 5);
}

static void build_too_many_elems(struct ss_writer *w)
{
	ss_section_begin(w, "demo", 0, 2);
	ss_put_u8(w, "a", 1);
	ss_put_u16(w, "b", 2);
	ss_put_u32(w, "c", 3);
	ss_put_u64(w, "d", 4);
	ss_put_bool(w, "e", 1);
	ss_put_bytes(w, "blob", "abcde", 5);
	ss_put_array(w, "q", 1000);
	ss_section_end(w);
}

static void build_bad_bool(struct ss_writer *w)
{
	ss_section_begin(w, "demo", 0, 2);
	ss_put_u8(w, "a", 1);
	ss_put_u16(w, "b", 2);
	ss_put_u32(w, "c", 3);
	ss_put_u64(w, "d", 4);
	ss_put_u8(w, "e", 7);
	ss_section_end(w);
}

static void test_field_errors(void **state)
{
	expect_load_error(build_missing, "missing field b");
	expect_load_error(build_unknown, "unknown field surprise");
	expect_load_error(build_wrong_size, "field b is 4 bytes, expected 2");
	expect_load_error(build_wrong_version, "is version 3, this vmm loads 1..2");
	expect_load_error(build_no_section, "no section demo instance 0");
	expect_load_error(build_too_many_elems, "array q has 1000 elements, at most 4");
	expect_load_error(build_bad_bool, "not a boolean");
}

static void test_load_twice(void **state)
{
	struct ss_writer w;
	struct ss_reader r;
	struct demo d;
	save_two(&w);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(demo_load(&r, &d, 0));
	assert_non_null(ss_unclaimed_section(&r)); /* instance 1 */
	assert_false(demo_load(&r, &d, 0));
	assert_non_null(strstr(r.err, "loaded twice"));
	ss_reader_close(&r);
	ss_writer_free(&w);
}

/* Every proper prefix of a valid stream is refused at open, with an error. */
static void test_truncation_everywhere(void **state)
{
	struct ss_writer w;
	struct ss_reader r;
	save_two(&w);
	for (size_t n = 0; n < w.len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
		memcpy(copy, w.buf, n);
		assert_int_equal(ss_reader_open(&r, copy, n), -1);
		assert_true(r.err[0] != '\0');
		ss_reader_close(&r);
		free(copy);
	}
	ss_writer_free(&w);
}

/* Flipping any single byte is caught: at open (layout, checksum) or, for
 * the header's version field, as a format version error. */
static void test_corruption_everywhere(void **state)
{
	struct ss_writer w;
	struct ss_reader r;
	save_two(&w);
	uint8_t *copy = malloc(w.len);
	for (size_t i = 0; i < w.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(copy, w.buf, w.len);
			copy[i] ^= (uint8_t)(1u << bit);
			if (ss_reader_open(&r, copy, w.len) == 0)
				fail_msg("a flip of bit %u at byte %zu went unnoticed", bit, i);
			ss_reader_close(&r);
		}
	}
	free(copy);
	ss_writer_free(&w);
}

static void test_header_errors(void **state)
{
	struct ss_writer w;
	struct ss_reader r;
	save_two(&w);

	w.buf[8] = 2; /* format version 2 */
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), -1);
	assert_non_null(strstr(r.err, "format version 2"));
	w.buf[8] = 1;
	w.buf[0] = 'X';
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), -1);
	assert_non_null(strstr(r.err, "bad magic"));
	w.buf[0] = 'V';

	/* garbage after the end marker */
	uint8_t *longer = malloc(w.len + 1);
	memcpy(longer, w.buf, w.len);
	longer[w.len] = 0;
	assert_int_equal(ss_reader_open(&r, longer, w.len + 1), -1);
	assert_non_null(strstr(r.err, "garbage"));
	free(longer);
	ss_writer_free(&w);
}

/* A section whose length claims more than the stream holds, with a
 * correct checksum of what is there: refused without reading past it. */
static void test_hostile_lengths(void **state)
{
	struct ss_writer w;
	struct ss_reader r;

	ss_writer_init(&w);
	ss_section_begin(&w, "demo", 0, 2);
	ss_put_u8(&w, "a", 1);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	/* the field's size: 1 -> 0xFFFFFFF0, checksum recomputed */
	size_t field_size = 12 + 2 + 4 + 4 + 4 + 4 + 2;
	assert_int_equal(get_le32(w.buf + field_size), 1);
	put_le32(w.buf + field_size, 0xFFFFFFF0u);
	size_t crc_at = w.len - 5;
	put_le32(w.buf + crc_at, ss_crc32(w.buf + 12, crc_at - 12));
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), -1);
	assert_non_null(strstr(r.err, "runs past"));
	/* the body length: huge */
	put_le32(w.buf + 12 + 2 + 4 + 4 + 4, 0xFFFFFFFFu);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), -1);
	assert_non_null(strstr(r.err, "too large"));
	ss_writer_free(&w);
}

static void test_writer_errors(void **state)
{
	struct ss_writer w;
	char longname[80];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	ss_writer_init(&w);
	ss_put_u8(&w, "a", 1);
	assert_int_equal(ss_writer_finish(&w), -1);
	assert_non_null(strstr(w.err, "outside a section"));
	ss_writer_free(&w);

	ss_writer_init(&w);
	ss_section_begin(&w, "s", 0, 1);
	ss_put_u8(&w, longname, 1);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), -1);
	assert_non_null(strstr(w.err, "bad field name"));
	ss_writer_free(&w);

	ss_writer_init(&w);
	ss_section_begin(&w, "bad name", 0, 1);
	assert_int_equal(ss_writer_finish(&w), -1);
	ss_writer_free(&w);

	ss_writer_init(&w);
	ss_section_begin(&w, "s", 0, 1);
	assert_int_equal(ss_writer_finish(&w), -1);
	assert_non_null(strstr(w.err, "still open"));
	ss_writer_free(&w);

	ss_writer_init(&w);
	ss_section_begin(&w, "s", 0, 1);
	for (uint32_t i = 0; i <= SS_PREFIX_DEPTH; i++)
		ss_put_elem_begin(&w, "e", i);
	assert_int_equal(ss_writer_finish(&w), -1);
	assert_non_null(strstr(w.err, "nested too deep"));
	ss_writer_free(&w);
}

static void test_duplicate_field(void **state)
{
	struct ss_writer w;
	struct ss_reader r;
	uint8_t v;
	ss_writer_init(&w);
	ss_section_begin(&w, "s", 0, 1);
	ss_put_u8(&w, "a", 1);
	ss_put_u8(&w, "a", 2);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(ss_section_open(&r, "s", 0, 1, 1, NULL));
	assert_non_null(strstr(r.err, "appears twice"));
	ss_get_u8(&r, "a", &v); /* sticky: does nothing */
	ss_reader_close(&r);
	ss_writer_free(&w);
}

static void test_bytes_max(void **state)
{
	struct ss_writer w;
	struct ss_reader r;
	uint8_t buf[8];
	size_t n = 99;
	ss_writer_init(&w);
	ss_section_begin(&w, "s", 0, 1);
	ss_put_bytes(&w, "short", "abc", 3);
	ss_put_bytes(&w, "long", "0123456789", 10);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(ss_section_open(&r, "s", 0, 1, 1, NULL));
	ss_get_bytes_max(&r, "short", buf, sizeof(buf), &n);
	assert_true(ss_ok(&r));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "abc", 3);
	ss_get_bytes_max(&r, "long", buf, sizeof(buf), &n);
	assert_false(ss_ok(&r));
	assert_non_null(strstr(r.err, "expected at most 8"));
	assert_int_equal(n, 3);
	ss_section_close(&r);
	ss_reader_close(&r);
	ss_writer_free(&w);
}

/* The CRC-32 of the streams: the standard check value, and eight bytes a
 * step the same as a byte at a time, for every length and start offset
 * around the step and in pieces (a section's head, payload and tail). */
static uint32_t crc_bytewise(uint32_t crc, const uint8_t *p, size_t len)
{
	crc ^= 0xFFFFFFFFu;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
	}
	return crc ^ 0xFFFFFFFFu;
}

static void test_crc32(void **state)
{
	uint8_t buf[200];

	assert_int_equal(ss_crc32("123456789", 9), 0xCBF43926u);
	assert_int_equal(ss_crc32(buf, 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 151u + 7u);
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len++)
			assert_int_equal(ss_crc32(buf + off, len), crc_bytewise(0, buf + off, len));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 13)
		assert_int_equal(ss_crc32_update(ss_crc32(buf, cut), buf + cut, sizeof(buf) - cut),
				 ss_crc32(buf, sizeof(buf)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_load_twice),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_corruption_everywhere),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_writer_errors),
		cmocka_unit_test(test_duplicate_field),
		cmocka_unit_test(test_bytes_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
