// SPDX-License-Identifier: GPL-2.0-or-later
/* -sandbox option parsing: QEMU's spelling, and one clear error per mistake.
 * (The filters themselves are tested on a running vmm in tests/fw.) */
#include "unit.h"

#include "sandbox.h"

static int parse(const char *arg, struct sandbox_config *c, char *err)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true; /* the CLI's default */
	return sandbox_parse(arg, c, err, 256);
}

static void test_on_off(void **state)
{
	struct sandbox_config c;
	char err[256];

	assert_int_equal(parse("off", &c, err), 0);
	assert_false(c.enabled);
	assert_int_equal(parse("on", &c, err), 0);
	assert_true(c.enabled);
	assert_int_equal(parse("enable=off", &c, err), 0);
	assert_false(c.enabled);
	/* every sub-option denies by default */
	assert_false(c.obsolete || c.elevate || c.spawn || c.resourcecontrol);
}

static void test_sub_options(void **state)
{
	struct sandbox_config c;
	char err[256];

	assert_int_equal(parse("on,obsolete=allow,elevateprivileges=children,spawn=allow,"
			       "resourcecontrol=allow", &c, err), 0);
	assert_true(c.enabled && c.obsolete && c.elevate && c.spawn && c.resourcecontrol);
	assert_int_equal(parse("on,spawn=allow,spawn=deny,elevateprivileges=allow", &c, err), 0);
	assert_false(c.spawn);
	assert_true(c.elevate);
	assert_int_equal(parse("on,elevateprivileges=deny", &c, err), 0);
	assert_false(c.elevate);
}

static void test_errors(void **state)
{
	static const struct {
		const char *arg, *msg;
	} bad[] = {
		{ "", "-sandbox: expected 'on' or 'off'" },
		{ "maybe", "-sandbox: expected 'on' or 'off', got 'maybe'" },
		{ "on,spawn=yes", "-sandbox: spawn: expected 'allow' or 'deny', got 'yes'" },
		{ "on,elevateprivileges=grandchildren",
		  "-sandbox: elevateprivileges: expected 'allow' or 'deny', got 'grandchildren'" },
		{ "on,colour=red", "-sandbox: unknown parameter 'colour'" },
		{ "on,spawn", "-sandbox: 'spawn' needs a value" },
		{ "on,off", "-sandbox: 'off' needs a value" },
	};
	struct sandbox_config c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].arg, &c, err), -1);
		assert_string_equal(err, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_on_off),
		cmocka_unit_test(test_sub_options),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
