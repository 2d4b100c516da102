// SPDX-License-Identifier: GPL-2.0-or-later
/* -vnc's argument and the keysym table (src/ui/vnc.c); the server itself
 * is tested with real clients in tests/fw/test_vnc.py. */
#include "unit.h"

#include "input.h"
#include "vnc.h"

static void test_parse(void **state)
{
	struct vnc_config c;
	char err[256];

	assert_int_equal(vnc_parse(":3", &c, err, sizeof(err)), 0);
	assert_true(c.enabled);
	assert_string_equal(c.host, "");
	assert_int_equal(c.display, 3);
	assert_false(c.password);
	assert_int_equal(vnc_parse("127.0.0.1:0,password=on,to=9", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.display, 0);
	assert_int_equal(c.to, 9);
	assert_true(c.password);
	assert_int_equal(vnc_parse("[::1]:2", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "::1");
	assert_int_equal(vnc_parse("unix:/tmp/v.sock,share=force-shared", &c, err, sizeof(err)), 0);
	assert_string_equal(c.unix_path, "/tmp/v.sock");
	assert_int_equal(vnc_parse("none", &c, err, sizeof(err)), 0);
	assert_false(c.enabled);

	static const char *const bad[] = {
		"", "host", ":", ":-1", ":60000", ":1x", "unix:", ":1,to=0", "unix:/x,to=3",
		":1,password=perhaps", ":1,color=red", "none,to=2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(vnc_parse(bad[i], &c, err, sizeof(err)), -1);
		assert_true(!strncmp(err, "-vnc", 4));
	}
	char longpath[200] = "unix:";
	memset(longpath + 5, 'p', 150);
	assert_int_equal(vnc_parse(longpath, &c, err, sizeof(err)), -1);
}

static void test_keysyms(void **state)
{
	assert_int_equal(vnc_keysym_to_key('a'), input_key_by_name("a"));
	assert_int_equal(vnc_keysym_to_key('Q'), input_key_by_name("q"));
	assert_int_equal(vnc_keysym_to_key('7'), input_key_by_name("7"));
	assert_int_equal(vnc_keysym_to_key('&'), input_key_by_name("7"));
	assert_int_equal(vnc_keysym_to_key('?'), input_key_by_name("slash"));
	assert_int_equal(vnc_keysym_to_key(0xff0d), input_key_by_name("ret"));
	assert_int_equal(vnc_keysym_to_key(0xffbe), input_key_by_name("f1"));
	assert_int_equal(vnc_keysym_to_key(0xffc9), input_key_by_name("f12"));
	assert_int_equal(vnc_keysym_to_key(0xffb5), input_key_by_name("kp_5"));
	assert_int_equal(vnc_keysym_to_key(0xffe3), input_key_by_name("ctrl"));
	assert_int_equal(vnc_keysym_to_key(0xff13), input_key_by_name("pause"));
	assert_int_equal(vnc_keysym_to_key(0xff61), input_key_by_name("print"));
	assert_int_equal(vnc_keysym_to_key(0xfe03), input_key_by_name("alt_r"));
	assert_int_equal(vnc_keysym_to_key(0), 0);
	assert_int_equal(vnc_keysym_to_key(0x20ac), 0); /* the euro sign: no US key */
	assert_int_equal(vnc_keysym_to_key(0xffffffffu), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_keysyms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
