/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small strict JSON (RFC 8259) parser and serializer for QMP. Input comes
 * from untrusted clients: the parser takes an explicit length, bounds the
 * nesting depth and the members per container, validates UTF-8, and never
 * reads past the buffer. Strings may contain NUL (from \u0000), so every
 * string carries its length.
 */
#ifndef VMM_JSON_H
#define VMM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_MEMBERS 4096 /* per array or object: bounds the duplicate-key check */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	char *str;          /* JSON_STRING: the decoded bytes; JSON_NUMBER: its text */
	size_t len;
	size_t n, cap;      /* JSON_ARRAY / JSON_OBJECT */
	struct json **items;
	char **keys;        /* JSON_OBJECT only, NUL-terminated copies */
	size_t *keylens;
};

/* Parses exactly one JSON text from buf[0..len). Returns NULL on error with
 * a one-line reason in err. */
struct json *json_parse(const char *buf, size_t len, char *err, size_t errlen);
void json_free(struct json *j);

/* Builders; they abort on allocation failure like the rest of vmm. */
struct json *json_new_null(void);
struct json *json_new_bool(bool b);
struct json *json_new_int(int64_t v);
struct json *json_new_string(const char *s);
struct json *json_new_stringn(const char *s, size_t len);
struct json *json_new_array(void);
struct json *json_new_object(void);
/* Takes ownership of v. */
void json_array_append(struct json *a, struct json *v);
void json_object_set(struct json *o, const char *key, struct json *v);
struct json *json_clone(const struct json *j);

/* Member lookup by NUL-terminated key; NULL if absent or o is no object. */
struct json *json_object_get(const struct json *o, const char *key);
/* True if j is a number without fraction or exponent that fits int64. */
bool json_get_int(const struct json *j, int64_t *out);

/* A growable byte buffer, for serialized output. */
struct strbuf {
	char *data;
	size_t len, cap;
};
void strbuf_append(struct strbuf *b, const void *p, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_free(struct strbuf *b);

/* Appends the compact serialization, with ", " and ": " separators as QEMU
 * prints them. Invalid UTF-8 in strings built by vmm becomes U+FFFD. */
void json_serialize(const struct json *j, struct strbuf *out);

#endif
