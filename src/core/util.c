// SPDX-License-Identifier: GPL-2.0-or-later
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

bool debug_enabled;
bool dump_cpus_enabled;
bool msg_timestamp;

/* Warnings are rate-limited: many are the guest's doing (a driver that
 * breaks a virtqueue, a BAR placed over another device), and a hostile
 * guest repeating one must not flood the host's logs nor slow vmm down.
 * A burst of WARN_BURST goes out, then one more per second; what is held
 * back is counted and reported with the next warning that goes out. */
#define WARN_BURST 30
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static double warn_tokens = WARN_BURST;
static double warn_last_s;
static unsigned long warn_suppressed;

/* Whether a warning may be printed now; *held gets what was held back. */
static bool warn_allowed(unsigned long *held)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	bool ok;

	pthread_mutex_lock(&warn_lock);
	if (warn_last_s)
		warn_tokens += now - warn_last_s;
	if (warn_tokens > WARN_BURST)
		warn_tokens = WARN_BURST;
	warn_last_s = now;
	ok = warn_tokens >= 1;
	if (ok) {
		warn_tokens -= 1;
		*held = warn_suppressed;
		warn_suppressed = 0;
	} else {
		warn_suppressed++;
	}
	pthread_mutex_unlock(&warn_lock);
	return ok;
}

/* "2026-12-04T15:52:16.123456Z " with -msg timestamp=on, else "". The date
 * is computed here (days to a proleptic Gregorian date, years from March),
 * not with gmtime_r(): glibc's first call reads the time-zone files, which
 * the sandbox of a running vmm does not allow. */
static void timestamp(char *out, size_t size)
{
	struct timespec ts;

	out[0] = 0;
	if (!msg_timestamp)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t secs = ts.tv_sec, days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = yoe + era * 400 + (month <= 2);
	snprintf(out, size, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64
		 ":%02" PRId64 ".%06ldZ ", year, month, day, rem / 3600, rem / 60 % 60, rem % 60,
		 ts.tv_nsec / 1000);
}

static void vreport(const char *prefix, const char *fmt, va_list ap, int err)
{
	char buf[1024], ts[128];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	timestamp(ts, sizeof(ts));
	if (err)
		fprintf(stderr, "%svmm: %s%s: %s\n", ts, prefix, buf, strerror(err));
	else
		fprintf(stderr, "%svmm: %s%s\n", ts, prefix, buf);
}

void report(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

void die_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vreport("", fmt, ap, err);
	va_end(ap);
	exit(1);
}

void warn(const char *fmt, ...)
{
	unsigned long held = 0;
	if (!warn_allowed(&held))
		return;
	if (held)
		fprintf(stderr, "vmm: warning: %lu more warnings were suppressed\n", held);
	va_list ap;
	va_start(ap, fmt);
	vreport("warning: ", fmt, ap, 0);
	va_end(ap);
}

void debug(const char *fmt, ...)
{
	if (!debug_enabled)
		return;
	va_list ap;
	va_start(ap, fmt);
	vreport("debug: ", fmt, ap, 0);
	va_end(ap);
}

void *xzalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		die("out of memory allocating %zu bytes", size);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return 99;
}

const char *scan_uint(const char *s, unsigned base, uint64_t *out)
{
	bool hex_prefix = s[0] == '0' && (s[1] | 0x20) == 'x' && digit_value(s[2]) < 16;
	uint64_t v = 0;
	const char *p;

	if (base == 0)
		base = hex_prefix ? 16 : s[0] == '0' ? 8 : 10;
	if (base == 16 && hex_prefix)
		s += 2;
	for (p = s; digit_value(*p) < (int)base; p++) {
		unsigned d = (unsigned)digit_value(*p);
		if (v > (UINT64_MAX - d) / base)
			return NULL;
		v = v * base + d;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

char *format_uint(char *buf, size_t size, uint64_t v, unsigned base, unsigned min_digits)
{
	char digits[24];
	size_t n = 0;

	if (!size)
		return buf;
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while ((v || n < min_digits) && n < sizeof(digits));
	size_t len = n < size - 1 ? n : size - 1;
	for (size_t i = 0; i < len; i++)
		buf[i] = digits[n - 1 - i];
	buf[len] = '\0';
	return buf;
}

bool parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	const char *end;
	uint64_t unit = default_unit, v;

	if (!s || !(end = scan_uint(s, 10, &v)))
		return false;
	switch (*end) {
	case 'b': case 'B': unit = 1; end++; break;
	case 'k': case 'K': unit = KiB; end++; break;
	case 'm': case 'M': unit = MiB; end++; break;
	case 'g': case 'G': unit = GiB; end++; break;
	case 't': case 'T': unit = 1024 * GiB; end++; break;
	case '\0': break;
	default: return false;
	}
	if (*end == 'i' || *end == 'I') /* accept "MiB"-style suffixes */
		end++;
	if ((*end == 'b' || *end == 'B') && unit != 1)
		end++;
	if (*end)
		return false;
	if (v > UINT64_MAX / unit)
		return false;
	*out = v * unit;
	return true;
}

int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *opt_field(const char *p, char *out, size_t size)
{
	size_t n = 0;
	for (; *p; p++) {
		if (*p == ',' && p[1] == ',')
			p++;
		else if (*p == ',')
			break;
		if (n + 1 >= size)
			return NULL;
		out[n++] = *p;
	}
	out[n] = 0;
	return *p == ',' ? p + 1 : p;
}

int parse_on_off(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		*out = false;
	else
		return -1;
	return 0;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VMM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define VMM_SANITIZED 1
#endif
#endif

void thread_exit_raw(void)
{
#ifndef VMM_SANITIZED
	syscall(__NR_exit, 0);
#endif
}

#if defined(__SANITIZE_ADDRESS__)
void __lsan_do_leak_check(void);
#endif

void leak_check(void *forget, size_t len)
{
#if defined(__SANITIZE_ADDRESS__)
	/* What the destroyed object still points to is what it failed to
	 * free: without its pointers, LeakSanitizer reports it. */
	memset(forget, 0, len);
	/* Honours ASAN_OPTIONS=detect_leaks=0; a leak ends the process with
	 * LeakSanitizer's report and exit code. */
	__lsan_do_leak_check();
#else
	(void)forget;
	(void)len;
#endif
}
