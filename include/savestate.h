/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Saved state: a versioned, self-describing byte stream (docs/architecture.md,
 * "Saved state"). A stream is a header, sections and an end marker; a
 * section is one device instance (name, instance id, version) holding named
 * fields of a given size. All integers are little-endian, so the bytes are the
 * same on every host, and saving the same state twice gives the same bytes.
 *
 * Writing: ss_writer_init, then per device ss_section_begin, ss_put_* for
 * each field, ss_section_end; ss_writer_finish closes the stream. Errors
 * (out of memory, a section too large, a name too long) are sticky: every
 * later call does nothing, and ss_writer_finish returns -1 with the message.
 *
 * Loading: ss_reader_open checks the whole stream once (magic, format
 * version, every section's bounds and checksum, every field's bounds), so a
 * truncated or corrupt stream fails before any device sees it. A device's
 * load function then calls ss_section_open for its section, ss_get_* for each
 * field, and ss_section_close, which fails on a field nobody asked for.
 * Errors are sticky too: a load function reads every field into a local
 * copy, checks ss_ok() and the values' ranges (the stream is hostile input),
 * and only then commits them to the device, so a failed load leaves the
 * device as it was. The reader's error message names the section and field.
 */
#ifndef VMM_SAVESTATE_H
#define VMM_SAVESTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_MAGIC "VMMSTATE"
#define SS_FORMAT_VERSION 1
#define SS_NAME_MAX 63             /* section and (prefixed) field names */
#define SS_MAX_SECTIONS 4096
#define SS_MAX_FIELDS 4096         /* per section */
#define SS_MAX_SECTION_BYTES (64u << 20)
#define SS_MAX_STREAM_BYTES (256u << 20)
#define SS_ERR_MAX 256
#define SS_PREFIX_DEPTH 3

/* Field-name prefix for elements of arrays of structs: "queue[2].size". */
struct ss_prefix {
	char text[SS_NAME_MAX + 1];
	size_t len[SS_PREFIX_DEPTH];
	unsigned depth;
};

struct ss_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t section_start; /* offset of the open section's body, 0: none */
	unsigned nfields;
	struct ss_prefix prefix;
	bool failed;
	char err[SS_ERR_MAX];
};

struct ss_field {
	char name[SS_NAME_MAX + 1];
	const uint8_t *data;
	uint32_t size;
	bool used;
};

struct ss_section {
	char name[SS_NAME_MAX + 1];
	uint32_t instance, version;
	const uint8_t *body;
	uint32_t body_len;
	bool claimed; /* opened by a load function */
};

struct ss_reader {
	const uint8_t *buf;
	size_t len;
	struct ss_section *sections;
	unsigned nsections;
	/* the open section's fields */
	struct ss_section *cur;
	struct ss_field *fields;
	unsigned nfields;
	struct ss_prefix prefix;
	bool failed;
	char err[SS_ERR_MAX];
};

/* ---- writing ---- */
void ss_writer_init(struct ss_writer *w);
void ss_writer_free(struct ss_writer *w);
/* Appends the end marker. 0, or -1 with w->err set; the stream is w->buf,
 * w->len bytes (still owned by the writer). */
int ss_writer_finish(struct ss_writer *w);

/* Records an error (the first one wins): for a save function that finds
 * its device in a state it cannot save (requests still in flight). */
void ss_writer_fail(struct ss_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ss_section_begin(struct ss_writer *w, const char *name, uint32_t instance, uint32_t version);
void ss_section_end(struct ss_writer *w);

void ss_put_u8(struct ss_writer *w, const char *name, uint8_t v);
void ss_put_u16(struct ss_writer *w, const char *name, uint16_t v);
void ss_put_u32(struct ss_writer *w, const char *name, uint32_t v);
void ss_put_u64(struct ss_writer *w, const char *name, uint64_t v);
void ss_put_bool(struct ss_writer *w, const char *name, bool v);
void ss_put_bytes(struct ss_writer *w, const char *name, const void *p, size_t len);
/* An array of structs: a count field "name[]", then the caller writes
 * element i's fields between ss_put_elem_begin(w, name, i) and
 * ss_put_elem_end(w); they get the prefix "name[i].". Nests up to
 * SS_PREFIX_DEPTH deep. */
void ss_put_array(struct ss_writer *w, const char *name, uint32_t count);
void ss_put_elem_begin(struct ss_writer *w, const char *name, uint32_t index);
void ss_put_elem_end(struct ss_writer *w);

/* ---- loading ---- */
/* Checks and indexes the stream (not copied: buf must outlive the reader).
 * 0, or -1 with r->err set. */
int ss_reader_open(struct ss_reader *r, const void *buf, size_t len);
void ss_reader_close(struct ss_reader *r);
static inline bool ss_ok(const struct ss_reader *r) { return !r->failed; }
/* Records an error (the first one wins); for a load function's own checks
 * of value ranges. Always returns false. */
bool ss_fail(struct ss_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the section (name, instance); its version must lie in
 * [min_version, max_version]; *version (may be NULL) gets it. false (and
 * the error) if it is missing, already opened, or of another version. */
bool ss_section_open(struct ss_reader *r, const char *name, uint32_t instance,
		     uint32_t min_version, uint32_t max_version, uint32_t *version);
/* Ends the section: an error if a field was never read. Returns ss_ok(r). */
bool ss_section_close(struct ss_reader *r);
/* The first section no load function opened, or NULL. */
const struct ss_section *ss_unclaimed_section(const struct ss_reader *r);

/* Each reads the field of that name and exact size; on any error *v is
 * left alone and the reader fails. */
void ss_get_u8(struct ss_reader *r, const char *name, uint8_t *v);
void ss_get_u16(struct ss_reader *r, const char *name, uint16_t *v);
void ss_get_u32(struct ss_reader *r, const char *name, uint32_t *v);
void ss_get_u64(struct ss_reader *r, const char *name, uint64_t *v);
void ss_get_bool(struct ss_reader *r, const char *name, bool *v);
void ss_get_bytes(struct ss_reader *r, const char *name, void *p, size_t len);
/* A variable-length byte field of at most max bytes; *len gets its size. */
void ss_get_bytes_max(struct ss_reader *r, const char *name, void *p, size_t max, size_t *len);
/* Reads the count of array 'name'; more than max is an error. */
void ss_get_array(struct ss_reader *r, const char *name, uint32_t max, uint32_t *count);
void ss_get_elem_begin(struct ss_reader *r, const char *name, uint32_t index);
void ss_get_elem_end(struct ss_reader *r);

/* CRC-32 (IEEE), used for the sections' checksums. */
uint32_t ss_crc32(const void *p, size_t len);
/* The CRC-32 of pieces: crc = ss_crc32_update(crc, piece, len) from 0
 * gives ss_crc32 of their concatenation. */
uint32_t ss_crc32_update(uint32_t crc, const void *p, size_t len);

#endif
