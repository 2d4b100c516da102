// SPDX-License-Identifier: GPL-2.0-or-later
/* The JSON parser and serializer: valid RFC 8259 texts round-trip, and every
 * kind of malformed, deep or huge input is rejected without touching memory
 * outside the buffer (each input is parsed from an exact-size heap copy, so
 * ASan sees any over-read). */
#include "unit.h"

#include <stdlib.h>

#include "json.h"

static struct json *parse(const char *text, size_t len, char *err)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	struct json *j = json_parse(copy, len, err, 128);
	free(copy);
	return j;
}

static char *roundtrip(const char *text)
{
	char err[128] = "";
	struct json *j = parse(text, strlen(text), err);
	struct strbuf b = { 0 };

	if (!j)
		fail_msg("'%s' rejected: %s", text, err);
	json_serialize(j, &b);
	json_free(j);
	return b.data;
}

static void expect_out(const char *in, const char *out)
{
	char *s = roundtrip(in);
	assert_string_equal(s, out);
	free(s);
}

static void expect_bad_len(const char *in, size_t len)
{
	char err[128] = "";
	struct json *j = parse(in, len, err);
	if (j) {
		json_free(j);
		fail_msg("accepted invalid JSON '%.60s'", in);
	}
	assert_true(err[0] != 0);
}

static void expect_bad(const char *in)
{
	expect_bad_len(in, strlen(in));
}

static void test_values(void **state)
{
	expect_out("null", "null");
	expect_out(" true ", "true");
	expect_out("false", "false");
	expect_out("0", "0");
	expect_out("-0", "-0");
	expect_out("-12.5e+3", "-12.5e+3");
	expect_out("1E9", "1E9");
	expect_out("\"\"", "\"\"");
	expect_out("[]", "[]");
	expect_out("{}", "{}");
	expect_out("\t[1,\n2 ,\r3]", "[1, 2, 3]");
	expect_out("{\"a\":{\"b\":[true,null]},\"c\":\"d\"}",
		   "{\"a\": {\"b\": [true, null]}, \"c\": \"d\"}");
}

static void test_string_escapes(void **state)
{
	expect_out("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\u0008\\u000c\\u000a\\u000d\\u0009\"");
	expect_out("\"\\u0041\\u00e9\\u20AC\"", "\"A\xc3\xa9\xe2\x82\xac\"");
	/* U+1F600 as a surrogate pair, and as raw UTF-8. */
	expect_out("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
	expect_out("\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\x80\"");

	char err[128];
	struct json *j = parse("\"a\\u0000b\"", 10, err);
	assert_non_null(j);
	assert_int_equal(j->type, JSON_STRING);
	assert_int_equal(j->len, 3);
	assert_memory_equal(j->str, "a\0b", 3);
	struct strbuf b = { 0 };
	json_serialize(j, &b);
	assert_string_equal(b.data, "\"a\\u0000b\"");
	strbuf_free(&b);
	json_free(j);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"", " ", "nul", "nulll", "True", "tru", "[", "]", "{", "}", "[1,]", "[,1]",
		"{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{1:2}", "[1 2]",
		"01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity",
		"\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\ud83d\"", "\"\\ude00\"",
		"\"\\ud83d\\u0041\"", "\"\\ud83dx\"", "\"tab\there\"", "\"nl\nx\"", "1 2",
		"[1]]", "{}{}", "/* c */ 1", "[1] // c", "\"\\", "{\"a\":1,\"a\":2}",
		"\"\xc0\xaf\"",         /* overlong '/' */
		"\"\xe0\x80\xaf\"",     /* overlong */
		"\"\xed\xa0\x80\"",     /* UTF-8-encoded surrogate */
		"\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
		"\"\xff\"", "\"\x80\"", "\"\xc3\"", "\"\xe2\x82\"", "\xef\xbb\xbf{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
	expect_bad_len("[1,\0]", 5);
	expect_bad_len("\"a\0\"", 4);
}

static void test_truncated_everywhere(void **state)
{
	const char *doc = "{\"execute\": \"x\", \"arguments\": {\"a\": [1, -2.5e3, true, null, "
			  "\"\\ud83d\\ude00\\n\"]}, \"id\": {\"k\": false}}";
	size_t n = strlen(doc);
	char *s = roundtrip(doc);
	free(s);
	/* Every proper prefix is incomplete: rejected, never over-read. */
	for (size_t len = 0; len < n; len++)
		expect_bad_len(doc, len);
}

static void test_depth_limit(void **state)
{
	char buf[2 * (JSON_MAX_DEPTH + 1) + 1];
	char err[128];

	for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
		memset(buf, '[', (size_t)depth);
		memset(buf + depth, ']', (size_t)depth);
		struct json *j = parse(buf, 2 * (size_t)depth, err);
		if (depth <= JSON_MAX_DEPTH) {
			assert_non_null(j);
			json_free(j);
		} else {
			assert_null(j);
			assert_non_null(strstr(err, "nesting"));
		}
	}
	/* Far too deep, unterminated: stops at the limit, no stack blow-up. */
	size_t big = 1 << 20;
	char *deep = malloc(big);
	memset(deep, '[', big);
	assert_null(json_parse(deep, big, err, sizeof(err)));
	memset(deep, '{', big);
	assert_null(json_parse(deep, big, err, sizeof(err)));
	free(deep);
}

static void test_huge_inputs(void **state)
{
	size_t big = 4 << 20;
	char *s = malloc(big);
	char err[128];

	/* A 4 MiB string is fine for the parser (QMP caps messages before it). */
	memset(s, 'a', big);
	s[0] = '"';
	s[big - 1] = '"';
	struct json *j = json_parse(s, big, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(j->len, big - 2);
	json_free(j);
	/* Too many members in one container. */
	size_t n = 0;
	s[n++] = '[';
	for (int i = 0; i <= JSON_MAX_MEMBERS; i++) {
		s[n++] = '0';
		s[n++] = ',';
	}
	s[n - 1] = ']';
	assert_null(json_parse(s, n, err, sizeof(err)));
	assert_non_null(strstr(err, "too many"));
	/* A huge number is kept as text, not overflowed. */
	memset(s, '9', 100000);
	j = json_parse(s, 100000, err, sizeof(err));
	assert_non_null(j);
	int64_t v;
	assert_false(json_get_int(j, &v));
	json_free(j);
	free(s);
}

static void test_builders_and_lookup(void **state)
{
	struct json *o = json_new_object(), *a = json_new_array();
	struct strbuf b = { 0 };
	int64_t v;

	json_array_append(a, json_new_int(-42));
	json_array_append(a, json_new_bool(true));
	json_array_append(a, json_new_null());
	json_object_set(o, "list", a);
	/* Invalid UTF-8 and control characters from vmm's own strings. */
	json_object_set(o, "name", json_new_string("x\xff\x01y\"\\"));
	struct json *c = json_clone(o);
	json_serialize(c, &b);
	assert_string_equal(b.data,
			    "{\"list\": [-42, true, null], \"name\": \"x\\ufffd\\u0001y\\\"\\\\\"}");
	assert_true(json_get_int(json_object_get(c, "list")->items[0], &v));
	assert_int_equal(v, -42);
	assert_null(json_object_get(c, "nope"));
	assert_null(json_object_get(a, "list"));
	strbuf_free(&b);
	json_free(o);
	json_free(c);

	char err[128];
	struct json *f = json_parse("1.5", 3, err, sizeof(err));
	assert_false(json_get_int(f, &v));
	json_free(f);
	f = json_parse("-9223372036854775808", 20, err, sizeof(err));
	assert_true(json_get_int(f, &v));
	assert_true(v == INT64_MIN);
	json_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_huge_inputs),
		cmocka_unit_test(test_builders_and_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
