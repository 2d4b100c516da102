// SPDX-License-Identifier: GPL-2.0-or-later
/* src/core/util.c: warnings a guest can provoke at will are rate-limited;
 * the number helpers read and write what strtoull and snprintf do. */
#include "unit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Runs warn() n times with stderr in a file; returns the lines written. */
static unsigned warn_lines(unsigned n, char *last, size_t lastlen)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	for (unsigned i = 0; i < n; i++)
		warn("virtio-blk: the driver broke a virtqueue; device needs reset (%u)", i);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(tmp);
	char line[256];
	unsigned lines = 0;
	while (fgets(line, sizeof(line), tmp)) {
		lines++;
		snprintf(last, lastlen, "%s", line);
	}
	fclose(tmp);
	return lines;
}

/* A guest that breaks its queue in a loop used to put one line per break on
 * stderr (36,000 lines in 5 s of fuzzing): now a burst, then one a second. */
static void test_warning_flood_is_limited(void **state)
{
	char last[256] = "";
	unsigned lines = warn_lines(100000, last, sizeof(last));
	assert_true(lines >= 1);
	assert_true(lines <= 32);
	/* After a pause the next warning goes out with the count held back. */
	sleep(2);
	lines = warn_lines(1, last, sizeof(last));
	assert_int_equal(lines, 2);
	assert_non_null(strstr(last, "(0)"));
}

/* scan_uint agrees with strtoull wherever strtoull sees digits and no sign
 * or white space, including where each stops and 64-bit overflow. */
static void test_scan_uint_is_strtoull(void **state)
{
	static const char *const inputs[] = {
		"0", "7", "256", "0256", "08", "0x", "0xg", "0x1f", "0X1F", "0xf4,iosize=4",
		"1f", "ff", "FFx", "18446744073709551615", "18446744073709551616",
		"0xffffffffffffffff", "0x10000000000000000", "01777777777777777777777",
		"02000000000000000000000", "12a", "00", "0.3", "31.7",
	};
	static const unsigned bases[] = { 0, 10, 16 };

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		for (size_t b = 0; b < 3; b++) {
			const char *s = inputs[i];
			char *end;
			uint64_t v = 12345;
			errno = 0;
			unsigned long long ref = strtoull(s, &end, (int)bases[b]);
			const char *got = scan_uint(s, bases[b], &v);
			if (end == s || errno == ERANGE) {
				assert_null(got);
				assert_true(v == 12345); /* untouched on failure */
			} else {
				assert_ptr_equal(got, end);
				assert_true(v == ref);
			}
		}
	}
	/* what strtoull would take and the option parsers must not */
	static const char *const refused[] = { "", " 1", "+1", "-1", "\t2", "x1" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		uint64_t v;
		assert_null(scan_uint(refused[i], 0, &v));
	}
}

static void test_format_uint_is_snprintf(void **state)
{
	static const uint64_t values[] = { 0, 1, 9, 10, 255, 0xc0000, 0xfffff, 4096,
					   UINT64_MAX };
	char got[32], want[32];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t v = values[i];
		snprintf(want, sizeof(want), "%" PRIu64, v);
		assert_string_equal(format_uint(got, sizeof(got), v, 10, 1), want);
		snprintf(want, sizeof(want), "%05" PRIx64, v);
		assert_string_equal(format_uint(got, sizeof(got), v, 16, 5), want);
		snprintf(want, sizeof(want), "%" PRIx64, v);
		assert_string_equal(format_uint(got, sizeof(got), v, 16, 0), want);
	}
	/* cut like snprintf, always terminated */
	assert_string_equal(format_uint(got, 4, 123456, 10, 1), "123"); /* snprintf's cut */
	got[0] = 'x';
	format_uint(got, 1, 7, 10, 1);
	assert_int_equal(got[0], '\0');
	/* the memory map's region names */
	memcpy(got, "pam-", 4);
	format_uint(got + 4, 12, 0xc0000, 16, 5);
	assert_string_equal(got, "pam-c0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warning_flood_is_limited),
		cmocka_unit_test(test_scan_uint_is_strtoull),
		cmocka_unit_test(test_format_uint_is_snprintf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
