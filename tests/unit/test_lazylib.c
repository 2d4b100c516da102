// SPDX-License-Identifier: GPL-2.0-or-later
/* Libraries loaded on first use (src/core/lazylib.c): symbols resolved once,
 * and a missing library or symbol is a one-line reason, remembered. */
#include "unit.h"

#include <zlib.h>

#include "lazylib.h"

static __typeof__(zlibVersion) *version_fn;
static void *missing_fn;

static void test_loads_once_and_resolves(void **state)
{
	static const struct lazysym syms[] = {
		{ "zlibVersion", (void **)&version_fn },
		{ NULL, NULL },
	};
	static struct lazylib lib = LAZYLIB_INIT("libz.so.1", syms);
	char err[160] = "";

	assert_int_equal(lazylib_load(&lib, err, sizeof(err)), 0);
	assert_non_null(version_fn);
	assert_int_equal(version_fn()[0], ZLIB_VERSION[0]); /* not linked: no direct call */
	assert_int_equal(lazylib_load(&lib, NULL, 0), 0);
}

static void test_missing_library(void **state)
{
	static const struct lazysym syms[] = {
		{ "anything", &missing_fn },
		{ NULL, NULL },
	};
	static struct lazylib lib = LAZYLIB_INIT("libvmm-no-such-library.so.9", syms);
	char err[160] = "";

	assert_int_equal(lazylib_load(&lib, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot load libvmm-no-such-library.so.9"));
	assert_null(strchr(err, '\n'));
	/* the outcome is kept: no second dlopen, the same reason */
	err[0] = 0;
	assert_int_equal(lazylib_load(&lib, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot load"));
}

static void test_missing_symbol(void **state)
{
	static const struct lazysym syms[] = {
		{ "zlibVersion", (void **)&version_fn },
		{ "vmm_no_such_symbol", &missing_fn },
		{ NULL, NULL },
	};
	static struct lazylib lib = LAZYLIB_INIT("libz.so.1", syms);
	char err[160] = "";

	assert_int_equal(lazylib_load(&lib, err, sizeof(err)), -1);
	assert_string_equal(err, "libz.so.1 has no vmm_no_such_symbol");
	assert_null(missing_fn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_once_and_resolves),
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_symbol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
