// SPDX-License-Identifier: GPL-2.0-or-later
/* The Ctrl-A keys (include/mux_keys.h): the plain console's three and the
 * multiplexer's, escapes split across reads, hostile input. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "mux_keys.h"

/* Runs the whole input through the filter as the chardev does, one action
 * at a time, up to Ctrl-A x: 'out' gets the kept bytes with a '|' where the focus switched,
 * 'acts' one letter per action. */
static void run(struct mux_keys *k, const char *in, size_t n, char *out, char *acts)
{
	static const char letter[] = { [MUX_QUIT] = 'x', [MUX_HELP] = 'h', [MUX_SWITCH] = 'c',
				       [MUX_SYNC] = 's', [MUX_BREAK] = 'b' };
	size_t off = 0, o = strlen(out), a = strlen(acts);

	while (off < n) {
		uint8_t buf[64];
		size_t used;
		enum mux_action act;
		size_t kept = mux_keys_filter(k, (const uint8_t *)in + off, n - off, buf, &used,
					      &act);
		assert_true(used > 0 && used <= n - off);
		assert_true(kept <= used);
		memcpy(out + o, buf, kept);
		o += kept;
		off += used;
		if (act == MUX_SWITCH)
			out[o++] = '|';
		if (act != MUX_NONE)
			acts[a++] = letter[act];
		if (act == MUX_QUIT)
			break; /* vmm ends: the rest is never read */
	}
	out[o] = 0;
	acts[a] = 0;
}

static void check(bool mux, const char *in, const char *want_out, const char *want_acts)
{
	struct mux_keys k = { .mux = mux };
	char out[64] = "", acts[16] = "";
	run(&k, in, strlen(in), out, acts);
	assert_string_equal(out, want_out);
	assert_string_equal(acts, want_acts);
	assert_false(k.escape);
}

static void test_plain_keys(void **state)
{
	(void)state;
	check(false, "ab\001xcd", "ab", "x");
	check(false, "\001h", "", "h");
	check(false, "\001?", "", "h");
	check(false, "a\001\001b", "a\001b", "");
	/* the multiplexer's keys are not the plain console's: swallowed */
	check(false, "a\001cb\001sc\001bd", "abcd", "");
	check(false, "\001zq", "q", "");
}

static void test_mux_keys(void **state)
{
	(void)state;
	check(true, "ab\001cinfo status\n\001cxy", "ab|info status\n|xy", "cc");
	check(true, "\001s\001b\001h", "", "sbh");
	check(true, "a\001\001\001cb", "a\001|b", "c");
	check(true, "\001zq", "q", "");
	check(true, "p\001xq", "p", "x");
}

/* A Ctrl-A at the end of one read, its key at the start of the next. */
static void test_split_across_reads(void **state)
{
	(void)state;
	struct mux_keys k = { .mux = true };
	char out[64] = "", acts[16] = "";

	run(&k, "abc\001", 4, out, acts);
	assert_true(k.escape);
	assert_string_equal(out, "abc");
	run(&k, "cdef", 4, out, acts);
	assert_string_equal(out, "abc|def");
	assert_string_equal(acts, "c");
	run(&k, "\001", 1, out, acts);
	run(&k, "\001", 1, out, acts);
	assert_false(k.escape);
	assert_string_equal(out, "abc|def\001");
}

/* Every byte value, long runs of Ctrl-A: nothing kept beyond what came in,
 * the state always consistent. */
static void test_hostile(void **state)
{
	(void)state;
	struct mux_keys k = { .mux = true };
	uint8_t in[4096], out[4096];
	unsigned seed = 12345;

	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(in); i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (seed >> 16) & 1 ? MUX_ESCAPE : (uint8_t)(seed >> 20);
		}
		size_t n = 1 + (seed % sizeof(in)), off = 0;
		while (off < n) {
			size_t used;
			enum mux_action act;
			size_t kept = mux_keys_filter(&k, in + off, n - off, out, &used, &act);
			assert_true(used >= 1 && used <= n - off);
			assert_true(kept <= used);
			if (act != MUX_NONE)
				assert_int_equal(used > 1 ? in[off + used - 2] : MUX_ESCAPE, MUX_ESCAPE);
			off += used;
		}
	}
	/* 4 KiB of Ctrl-A pairs: 2 KiB of Ctrl-A for the front end */
	memset(in, MUX_ESCAPE, sizeof(in));
	k.escape = false;
	size_t used;
	enum mux_action act;
	assert_int_equal(mux_keys_filter(&k, in, sizeof(in), out, &used, &act), sizeof(in) / 2);
	assert_int_equal(used, sizeof(in));
	assert_int_equal(act, MUX_NONE);
}

static void test_help_lists_the_keys(void **state)
{
	(void)state;
	struct mux_keys plain = { .mux = false }, mux = { .mux = true };
	assert_non_null(strstr(mux_keys_help(&mux), "C-a c"));
	assert_non_null(strstr(mux_keys_help(&mux), "C-a s"));
	assert_non_null(strstr(mux_keys_help(&mux), "C-a b"));
	assert_null(strstr(mux_keys_help(&plain), "C-a c"));
	assert_non_null(strstr(mux_keys_help(&plain), "C-a x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_keys),
		cmocka_unit_test(test_mux_keys),
		cmocka_unit_test(test_split_across_reads),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_help_lists_the_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
