// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Strict RFC 8259: no comments, no trailing commas, no leading zeros or
 * '+', no raw control characters in strings, UTF-8 validated (no overlong
 * forms, no encoded surrogates, nothing above U+10FFFF), \u surrogates only
 * as proper pairs, duplicate object keys rejected as QEMU does.
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct parser {
	const unsigned char *p, *end;
	const unsigned char *start;
	char *err;
	size_t errlen;
	bool failed;
};

static struct json *fail(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct json *fail(struct parser *ps, const char *fmt, ...)
{
	if (!ps->failed) {
		char msg[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(ps->err, ps->errlen, "%s at offset %zu", msg, (size_t)(ps->p - ps->start));
		ps->failed = true;
	}
	return NULL;
}

static struct json *new_value(enum json_type t)
{
	struct json *j = xzalloc(sizeof(*j));
	j->type = t;
	return j;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool match(struct parser *ps, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return false;
	ps->p += n;
	return true;
}

static void grow(void **arr, size_t elem, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t ncap = *cap ? *cap * 2 : 4;
	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*arr, ncap * elem);
	if (!n)
		die("out of memory");
	*arr = n;
	*cap = ncap;
}

void strbuf_append(struct strbuf *b, const void *p, size_t n)
{
	size_t cap = b->cap;
	void *data = b->data;
	grow(&data, 1, &cap, b->len + n + 1);
	b->data = data;
	b->cap = cap;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		strbuf_append(b, small, (size_t)n);
		return;
	}
	char *big = xzalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	strbuf_append(b, big, (size_t)n);
	free(big);
}

void strbuf_free(struct strbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, cp = c & 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, cp = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static void put_utf8(struct strbuf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xF0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	strbuf_append(b, u, n);
}

/* ---- parser ------------------------------------------------------------ */

static struct json *parse_value(struct parser *ps, unsigned depth);

static int hex4(struct parser *ps, uint32_t *out)
{
	uint32_t v = 0;
	if (ps->end - ps->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char c = *ps->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static int parse_escape(struct parser *ps, struct strbuf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	uint32_t cp, lo;

	if (ps->p >= ps->end)
		return -1;
	unsigned char c = *ps->p++;
	const char *k = c ? strchr(from, c) : NULL;
	if (k) {
		strbuf_append(b, &to[k - from], 1);
		return 0;
	}
	if (c != 'u' || hex4(ps, &cp) < 0)
		return -1;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return -1; /* a low surrogate must follow a high one */
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return -1;
		ps->p += 2;
		if (hex4(ps, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
			return -1;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	put_utf8(b, cp);
	return 0;
}

/* After the opening quote; fills b with the decoded bytes. */
static bool parse_string_body(struct parser *ps, struct strbuf *b)
{
	for (;;) {
		if (ps->p >= ps->end) {
			fail(ps, "unterminated string");
			return false;
		}
		unsigned char c = *ps->p;
		if (c == '"') {
			ps->p++;
			return true;
		}
		if (c < 0x20) {
			fail(ps, "control character in string");
			return false;
		}
		if (c == '\\') {
			ps->p++;
			if (parse_escape(ps, b) < 0) {
				fail(ps, "invalid escape in string");
				return false;
			}
			continue;
		}
		size_t n = utf8_seq_len(ps->p, (size_t)(ps->end - ps->p));
		if (!n) {
			fail(ps, "invalid UTF-8 in string");
			return false;
		}
		strbuf_append(b, ps->p, n);
		ps->p += n;
	}
}

static struct json *parse_string(struct parser *ps)
{
	struct strbuf b = { 0 };
	ps->p++;
	if (!parse_string_body(ps, &b)) {
		strbuf_free(&b);
		return NULL;
	}
	struct json *j = new_value(JSON_STRING);
	j->len = b.len;
	j->str = b.data ? b.data : xzalloc(1);
	return j;
}

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static struct json *parse_number(struct parser *ps)
{
	const unsigned char *s = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!is_digit(ps->p, ps->end))
		return fail(ps, "invalid number");
	if (*ps->p == '0')
		ps->p++;
	else
		while (is_digit(ps->p, ps->end))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!is_digit(ps->p, ps->end))
			return fail(ps, "invalid number");
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!is_digit(ps->p, ps->end))
			return fail(ps, "invalid number");
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	/* "01" parses as 0 then junk: rejected by the caller's next token. */
	struct json *j = new_value(JSON_NUMBER);
	j->len = (size_t)(ps->p - s);
	j->str = xzalloc(j->len + 1);
	memcpy(j->str, s, j->len);
	return j;
}

static bool has_key(const struct json *o, const char *k, size_t klen)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->keylens[i] == klen && !memcmp(o->keys[i], k, klen))
			return true;
	return false;
}

static void object_add(struct json *o, char *key, size_t klen, struct json *v)
{
	size_t cap = o->cap;
	grow((void **)&o->items, sizeof(*o->items), &cap, o->n + 1);
	cap = o->cap;
	grow((void **)&o->keys, sizeof(*o->keys), &cap, o->n + 1);
	cap = o->cap;
	grow((void **)&o->keylens, sizeof(*o->keylens), &cap, o->n + 1);
	o->cap = cap;
	o->items[o->n] = v;
	o->keys[o->n] = key;
	o->keylens[o->n] = klen;
	o->n++;
}

static void array_add(struct json *a, struct json *v)
{
	grow((void **)&a->items, sizeof(*a->items), &a->cap, a->n + 1);
	a->items[a->n++] = v;
}

static struct json *parse_object(struct parser *ps, unsigned depth)
{
	struct json *o = new_value(JSON_OBJECT);

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return o;
	}
	for (;;) {
		struct strbuf key = { 0 };
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"') {
			fail(ps, "expected a string key");
			goto bad;
		}
		ps->p++;
		if (!parse_string_body(ps, &key))
			goto bad_key;
		if (!key.data)
			key.data = xzalloc(1);
		if (has_key(o, key.data, key.len)) {
			fail(ps, "duplicate key '%.40s'", key.data);
			goto bad_key;
		}
		if (o->n == JSON_MAX_MEMBERS) {
			fail(ps, "too many members");
			goto bad_key;
		}
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':') {
			fail(ps, "expected ':'");
			goto bad_key;
		}
		ps->p++;
		struct json *v = parse_value(ps, depth + 1);
		if (!v)
			goto bad_key;
		object_add(o, key.data, key.len, v);
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return o;
		}
		fail(ps, "expected ',' or '}'");
		goto bad;
bad_key:
		strbuf_free(&key);
		goto bad;
	}
bad:
	json_free(o);
	return NULL;
}

static struct json *parse_array(struct parser *ps, unsigned depth)
{
	struct json *a = new_value(JSON_ARRAY);

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return a;
	}
	for (;;) {
		if (a->n == JSON_MAX_MEMBERS) {
			fail(ps, "too many elements");
			break;
		}
		struct json *v = parse_value(ps, depth + 1);
		if (!v)
			break;
		array_add(a, v);
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return a;
		}
		fail(ps, "expected ',' or ']'");
		break;
	}
	json_free(a);
	return NULL;
}

static struct json *parse_value(struct parser *ps, unsigned depth)
{
	if (depth > JSON_MAX_DEPTH)
		return fail(ps, "nesting deeper than %d", JSON_MAX_DEPTH);
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of input");
	switch (*ps->p) {
	case '{':
		return parse_object(ps, depth);
	case '[':
		return parse_array(ps, depth);
	case '"':
		return parse_string(ps);
	case 't':
		if (match(ps, "true")) {
			struct json *j = new_value(JSON_BOOL);
			j->boolean = true;
			return j;
		}
		break;
	case 'f':
		if (match(ps, "false"))
			return new_value(JSON_BOOL);
		break;
	case 'n':
		if (match(ps, "null"))
			return new_value(JSON_NULL);
		break;
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps);
		break;
	}
	return fail(ps, "unexpected character");
}

struct json *json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct parser ps = {
		.p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len,
		.start = (const unsigned char *)buf, .err = err, .errlen = errlen,
	};
	struct json *j = parse_value(&ps, 1);

	if (!j)
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fail(&ps, "unexpected data after the value");
		json_free(j);
		return NULL;
	}
	return j;
}

void json_free(struct json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->keylens);
	free(j->str);
	free(j);
}

/* ---- builders ---------------------------------------------------------- */

struct json *json_new_null(void)
{
	return new_value(JSON_NULL);
}

struct json *json_new_bool(bool b)
{
	struct json *j = new_value(JSON_BOOL);
	j->boolean = b;
	return j;
}

struct json *json_new_int(int64_t v)
{
	char text[24];
	struct json *j = new_value(JSON_NUMBER);
	snprintf(text, sizeof(text), "%" PRId64, v);
	j->str = xstrdup(text);
	j->len = strlen(text);
	return j;
}

struct json *json_new_stringn(const char *s, size_t len)
{
	struct json *j = new_value(JSON_STRING);
	j->str = xzalloc(len + 1);
	memcpy(j->str, s, len);
	j->len = len;
	return j;
}

struct json *json_new_string(const char *s)
{
	return json_new_stringn(s, strlen(s));
}

struct json *json_new_array(void)
{
	return new_value(JSON_ARRAY);
}

struct json *json_new_object(void)
{
	return new_value(JSON_OBJECT);
}

void json_array_append(struct json *a, struct json *v)
{
	array_add(a, v);
}

void json_object_set(struct json *o, const char *key, struct json *v)
{
	object_add(o, xstrdup(key), strlen(key), v);
}

struct json *json_clone(const struct json *j)
{
	struct json *c = new_value(j->type);
	c->boolean = j->boolean;
	if (j->str) {
		c->str = xzalloc(j->len + 1);
		memcpy(c->str, j->str, j->len);
		c->len = j->len;
	}
	for (size_t i = 0; i < j->n; i++) {
		if (j->type == JSON_OBJECT) {
			char *k = xzalloc(j->keylens[i] + 1);
			memcpy(k, j->keys[i], j->keylens[i]);
			object_add(c, k, j->keylens[i], json_clone(j->items[i]));
		} else {
			array_add(c, json_clone(j->items[i]));
		}
	}
	return c;
}

struct json *json_object_get(const struct json *o, const char *key)
{
	if (!o || o->type != JSON_OBJECT)
		return NULL;
	size_t klen = strlen(key);
	for (size_t i = 0; i < o->n; i++)
		if (o->keylens[i] == klen && !memcmp(o->keys[i], key, klen))
			return o->items[i];
	return NULL;
}

bool json_get_int(const struct json *j, int64_t *out)
{
	char *end;

	if (!j || j->type != JSON_NUMBER || strpbrk(j->str, ".eE"))
		return false;
	errno = 0;
	long long v = strtoll(j->str, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* ---- serializer -------------------------------------------------------- */

static void serialize_string(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	strbuf_append(out, "\"", 1);
	while (p < end) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			strbuf_append(out, esc, 2);
			p++;
		} else if (c < 0x20 || c == 0x7F) {
			strbuf_printf(out, "\\u%04x", c);
			p++;
		} else {
			size_t n = utf8_seq_len(p, (size_t)(end - p));
			if (n) {
				strbuf_append(out, p, n);
				p += n;
			} else {
				strbuf_append(out, "\\ufffd", 6);
				p++;
			}
		}
	}
	strbuf_append(out, "\"", 1);
}

void json_serialize(const struct json *j, struct strbuf *out)
{
	switch (j->type) {
	case JSON_NULL:
		strbuf_append(out, "null", 4);
		break;
	case JSON_BOOL:
		if (j->boolean)
			strbuf_append(out, "true", 4);
		else
			strbuf_append(out, "false", 5);
		break;
	case JSON_NUMBER:
		strbuf_append(out, j->str, j->len);
		break;
	case JSON_STRING:
		serialize_string(j->str, j->len, out);
		break;
	case JSON_ARRAY:
		strbuf_append(out, "[", 1);
		for (size_t i = 0; i < j->n; i++) {
			if (i)
				strbuf_append(out, ", ", 2);
			json_serialize(j->items[i], out);
		}
		strbuf_append(out, "]", 1);
		break;
	case JSON_OBJECT:
		strbuf_append(out, "{", 1);
		for (size_t i = 0; i < j->n; i++) {
			if (i)
				strbuf_append(out, ", ", 2);
			serialize_string(j->keys[i], j->keylens[i], out);
			strbuf_append(out, ": ", 2);
			json_serialize(j->items[i], out);
		}
		strbuf_append(out, "}", 1);
		break;
	}
}
