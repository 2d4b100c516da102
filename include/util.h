/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared by the core, the device models and the tools. */
#ifndef VMM_UTIL_H
#define VMM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define KiB (1024ULL)
#define MiB (1024ULL * 1024)
#define GiB (1024ULL * 1024 * 1024)

/* Startup-time fatal error: prints "vmm: <message>" and exits 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Same, with ": strerror(errno)" appended. */
void die_errno(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Runtime diagnostics on stderr; never fatal. Rate-limited (a burst of 30,
 * then one a second; held-back ones are counted in the next line), since a
 * guest can provoke many. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Debug tracing, enabled by VMM_DEBUG=1 in the environment. */
void debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool debug_enabled;
/* VMM_DUMP_CPUS=1: a triple fault and a terminating signal print where the
 * vCPUs are (for test harnesses that keep only stderr) */
extern bool dump_cpus_enabled;
/* -msg timestamp=on: die(), warn() and report() lines start with the UTC
 * time as QEMU writes it (2026-12-04T15:52:16.123456Z). */
extern bool msg_timestamp;
/* An error line on stderr: "vmm: " and the message, timestamped as set. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xzalloc(size_t size);
char *xstrdup(const char *s);

/* Parses a size with an optional K/M/G/T suffix; 'default_unit' applies
 * when there is no suffix (QEMU's -m uses MiB). Returns false on junk or
 * overflow. */
bool parse_size(const char *s, uint64_t default_unit, uint64_t *out);

/* strtoull and snprintf("%llu"/"%llx") for option values and names, without
 * the parts of libc behind them: strtoull reads the locale's character
 * table and printf is a large engine, and nothing else a plain start-up
 * runs touches either, so each cost the empty machine 64-128 KiB of peak
 * RSS in mapped libc pages (docs/bench.md, "Peak RSS").
 * scan_uint reads digits at s in base 10 or 16, or with base 0 by C's
 * rules (0x/0X: hex, a leading 0: octal, else decimal); base 16 takes an
 * optional 0x as strtoull does. No sign, no white space. Returns the first
 * character after the digits, or NULL when there is none or the value
 * does not fit in 64 bits.
 * format_uint writes v in base 10 or 16 (lower case) with at least
 * min_digits digits (zeros in front) and a NUL into buf, cut to size - 1
 * characters; returns buf. 24 bytes hold any value. */
const char *scan_uint(const char *s, unsigned base, uint64_t *out);
char *format_uint(char *buf, size_t size, uint64_t v, unsigned base, unsigned min_digits);

/* Option-string helpers shared by the parsers of -chardev, -qmp, -monitor:
 * set_err formats a one-line reason into err and returns -1;
 * opt_field copies the first comma-separated field of p (",," is a
 * literal comma) into out and returns the rest after the comma, or NULL
 * if the field does not fit; parse_on_off takes on/off, yes/no,
 * true/false (0), anything else is -1. */
int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *opt_field(const char *p, char *out, size_t size);
int parse_on_off(const char *v, bool *out);

/* Ends the calling thread at once, without glibc's per-thread clean-up,
 * whose resolver and malloc code would be mapped in for it alone (~0.15
 * MiB of peak RSS); pthread_join works all the same (the kernel clears the
 * thread id). Only for a thread whose thread-local state does not matter:
 * the process exits next, or the thread allocated nothing. In a sanitizer
 * build (whose runtime must see every thread exit) it returns, and the
 * caller returns from its thread function as usual. */
void thread_exit_raw(void);

/* An ASan build's leak check, now (vmm leaves with _exit, which skips the
 * one at exit), after clearing 'forget' (len bytes: the destroyed machine,
 * whose leftover pointers would hide what it did not free); nothing in
 * other builds. */
void leak_check(void *forget, size_t len);

/* Bounds check that cannot overflow: is [off, off+len) inside [0, size)? */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static inline uint16_t get_le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t get_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t get_le64(const void *p)
{
	return get_le32(p) | (uint64_t)get_le32((const uint8_t *)p + 4) << 32;
}
static inline void put_le16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void put_le32(void *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16((uint8_t *)p + 2, (uint16_t)(v >> 16));
}
static inline void put_le64(void *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t get_be16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t get_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t get_be64(const void *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32((const uint8_t *)p + 4);
}
static inline void put_be16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}
static inline void put_be32(void *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16((uint8_t *)p + 2, (uint16_t)v);
}
static inline void put_be64(void *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32((uint8_t *)p + 4, (uint32_t)v);
}

#endif
