// SPDX-License-Identifier: GPL-2.0-or-later
/* src/core/util.c: warnings a guest can provoke at will are rate-limited. */
#include "unit.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warning_flood_is_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
