// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow2 image format, written from the qcow2 specification
 * (docs/interop/qcow2.txt facts: big-endian header, two-level L1/L2
 * mapping, refcount table and blocks, compressed cluster descriptors,
 * header extensions, snapshot table). No code from other projects.
 *
 * Every value read from the file is treated as hostile: offsets are
 * checked for alignment and against the end of the file, sizes against
 * overflow and fixed limits, before anything is read or allocated.
 *
 * Crash safety: clusters are allocated with their refcount written first;
 * an fdatasync barrier separates "refcount (and data) written" from "L2/L1
 * entry points at the cluster", and "L2 no longer points at the old
 * cluster" from "old cluster's refcount decremented". A kill at any point
 * thus leaves at worst leaked clusters (refcount > references).
 * All caches are write-through; one mutex serialises a device's requests.
 */
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util.h"
#include "lazylib.h"

/* zlib, loaded on the first compressed cluster (lazylib.h): most images
 * have none, and a linked zlib costs every vmm process ~90 KiB resident. */
static struct {
	__typeof__(inflateInit2_) *inflateInit2_;
	__typeof__(inflateReset) *inflateReset;
	__typeof__(inflate) *inflate;
	__typeof__(inflateEnd) *inflateEnd;
	__typeof__(deflateInit2_) *deflateInit2_;
	__typeof__(deflate) *deflate;
	__typeof__(deflateEnd) *deflateEnd;
} zl;

static const struct lazysym zlib_syms[] = {
	{ "inflateInit2_", (void **)&zl.inflateInit2_ },
	{ "inflateReset", (void **)&zl.inflateReset },
	{ "inflate", (void **)&zl.inflate },
	{ "inflateEnd", (void **)&zl.inflateEnd },
	{ "deflateInit2_", (void **)&zl.deflateInit2_ },
	{ "deflate", (void **)&zl.deflate },
	{ "deflateEnd", (void **)&zl.deflateEnd },
	{ NULL, NULL },
};
static struct lazylib zlib = LAZYLIB_INIT("libz.so.1", zlib_syms);

#define QCOW2_MAGIC 0x514649fbU
#define HDR_V2_LEN 72
#define HDR_V3_LEN 104
#define OFF_MASK 0x00fffffffffffe00ULL
#define OFLAG_COPIED (1ULL << 63)
#define OFLAG_COMPRESSED (1ULL << 62)
#define OFLAG_ZERO 1ULL
#define REFT_MASK 0xfffffffffffffe00ULL
#define MAX_L1_BYTES (32 * MiB)
#define MAX_REFTABLE_BYTES (8 * MiB)
#define MAX_SNAPSHOTS 65536
#define MAX_SNAPSHOT_TABLE (64 * MiB)
#define MAX_HOST_OFFSET (1ULL << 56)
#define MAX_VIRTUAL_SIZE (1ULL << 61)

#define INCOMPAT_DIRTY 1ULL
#define INCOMPAT_CORRUPT 2ULL
#define INCOMPAT_DATA_FILE 4ULL
#define INCOMPAT_COMPRESSION 8ULL
#define INCOMPAT_EXTL2 16ULL
#define COMPAT_LAZY 1ULL

#define EXT_END 0
#define EXT_BACKING_FMT 0xe2792acaU
#define EXT_FEATURE_TABLE 0x6803f857U

#define L2_CACHE_DEFAULT 32
#define RB_CACHE_SIZE 8
#define MAX_RUN_BYTES (4 * MiB)

struct cache_ent {
	uint64_t off; /* 0: empty */
	uint64_t used;
	uint8_t *buf;
};

struct cache {
	unsigned n;
	uint64_t clock;
	struct cache_ent *e;
};

struct snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec, vm_state_size, disk_size, icount;
};

struct qcow2 {
	pthread_mutex_t lock;
	int fd;
	const char *path;
	uint64_t file_size;
	int version;
	uint32_t cluster_bits, l2_bits;
	uint64_t cs; /* cluster size */
	uint64_t size;
	uint64_t incompat, compat, autoclear;
	uint32_t header_length;
	uint32_t refcount_order, rb_bits; /* rb_bits: log2 entries per refblock */
	uint64_t rc_max;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t *l1;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset, snapshots_len;
	struct snapshot *snaps;
	char *backing_name, *backing_fmt;
	struct block_dev *backing;
	bool read_only, barriers, snapshot_view;
	struct cache l2c, rbc;
	uint64_t free_hint;
	/* compressed reads */
	z_stream inf;
	bool inf_ok;
	uint8_t *cbuf, *dbuf;
	uint64_t dbuf_entry; /* L2 entry dbuf holds, 0: none */
	/* compressed writes: bytes left in the current host cluster */
	uint64_t cz_off, cz_end;
	unsigned io_errors;
	unsigned align; /* O_DIRECT alignment (cache=none), 1 otherwise */
};

static struct qcow2 *QS(const struct block_dev *bd)
{
	return bd->state;
}

static void io_error(struct qcow2 *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void io_error(struct qcow2 *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (s->io_errors++ >= 8)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn("qcow2 '%s': %s", s->path, msg);
}

/* ---- file I/O ----------------------------------------------------------- */

static int file_read(struct qcow2 *s, void *buf, size_t len, uint64_t off)
{
	return fd_pread_al(s->fd, s->align, buf, len, off);
}

static int file_write(struct qcow2 *s, const void *buf, size_t len, uint64_t off)
{
	int ret = fd_pwrite_al(s->fd, s->align, buf, len, off);

	if (!ret && off + len > s->file_size)
		s->file_size = off + len;
	return ret;
}

static int barrier(struct qcow2 *s)
{
	if (!s->barriers)
		return 0;
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

/* Metadata (a table cluster) must lie inside the file and be aligned. */
static bool meta_ok(struct qcow2 *s, uint64_t off, uint64_t len)
{
	return !(off & (s->cs - 1)) && off && range_ok(off, len, s->file_size);
}

/* ---- caches ------------------------------------------------------------- */

static void cache_init(struct cache *c, unsigned n, uint64_t cs)
{
	c->n = n;
	c->e = xzalloc(n * sizeof(*c->e));
	for (unsigned i = 0; i < n; i++)
		c->e[i].buf = xzalloc(cs);
}

static void cache_free(struct cache *c)
{
	for (unsigned i = 0; i < c->n; i++)
		free(c->e[i].buf);
	free(c->e);
}

static void cache_drop(struct cache *c, uint64_t off)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->e[i].off == off)
			c->e[i].off = 0;
}

/* Returns the cached cluster at 'off'; 'fresh' means the cluster was just
 * allocated and its contents are 'init' (or zeros) rather than the file's. */
static int cache_get(struct qcow2 *s, struct cache *c, uint64_t off, const void *init, bool fresh,
		     uint8_t **out)
{
	struct cache_ent *victim = &c->e[0];
	for (unsigned i = 0; i < c->n; i++) {
		struct cache_ent *e = &c->e[i];
		if (e->off == off) {
			e->used = ++c->clock;
			if (fresh) {
				if (init)
					memcpy(e->buf, init, s->cs);
				else
					memset(e->buf, 0, s->cs);
			}
			*out = e->buf;
			return 0;
		}
		if (e->used < victim->used)
			victim = e;
	}
	victim->off = 0;
	if (fresh) {
		if (init)
			memcpy(victim->buf, init, s->cs);
		else
			memset(victim->buf, 0, s->cs);
	} else {
		if (!meta_ok(s, off, s->cs)) {
			io_error(s, "table at 0x%llx is unaligned or past the end of the file",
				 (unsigned long long)off);
			return -EIO;
		}
		int ret = file_read(s, victim->buf, s->cs, off);
		if (ret < 0)
			return ret;
	}
	victim->off = off;
	victim->used = ++c->clock;
	*out = victim->buf;
	return 0;
}

/* ---- refcounts ---------------------------------------------------------- */

static uint64_t rb_entry_get(struct qcow2 *s, const uint8_t *b, uint64_t i)
{
	unsigned bits = 1u << s->refcount_order;
	switch (bits) {
	case 64: return get_be64(b + i * 8);
	case 32: return get_be32(b + i * 4);
	case 16: return get_be16(b + i * 2);
	case 8: return b[i];
	default:
		return (uint64_t)(b[i * bits / 8] >> ((i * bits) % 8)) & s->rc_max;
	}
}

/* Sets entry i; returns the byte offset and length to write back. */
static void rb_entry_set(struct qcow2 *s, uint8_t *b, uint64_t i, uint64_t v, uint64_t *boff,
			 uint64_t *blen)
{
	unsigned bits = 1u << s->refcount_order;
	switch (bits) {
	case 64: put_be64(b + i * 8, v); *boff = i * 8; *blen = 8; return;
	case 32: put_be32(b + i * 4, (uint32_t)v); *boff = i * 4; *blen = 4; return;
	case 16: put_be16(b + i * 2, (uint16_t)v); *boff = i * 2; *blen = 2; return;
	case 8: b[i] = (uint8_t)v; *boff = i; *blen = 1; return;
	default: {
		unsigned sh = (unsigned)((i * bits) % 8);
		uint8_t *p = &b[i * bits / 8];
		*p = (uint8_t)((*p & ~(s->rc_max << sh)) | (v << sh));
		*boff = i * bits / 8;
		*blen = 1;
	}
	}
}

static int rb_offset(struct qcow2 *s, uint64_t ti, uint64_t *off)
{
	*off = 0;
	if (ti >= s->rt_entries)
		return 0;
	*off = s->rt[ti] & REFT_MASK;
	if (*off && !meta_ok(s, *off, s->cs)) {
		io_error(s, "refcount block at 0x%llx is unaligned or past the end of the file",
			 (unsigned long long)*off);
		return -EIO;
	}
	return 0;
}

static int rc_get(struct qcow2 *s, uint64_t idx, uint64_t *rc)
{
	uint64_t off;
	uint8_t *b;
	int ret = rb_offset(s, idx >> s->rb_bits, &off);

	*rc = 0;
	if (ret < 0 || !off)
		return ret;
	ret = cache_get(s, &s->rbc, off, NULL, false, &b);
	if (ret < 0)
		return ret;
	*rc = rb_entry_get(s, b, idx & ((1ULL << s->rb_bits) - 1));
	return 0;
}

/* Sets the refcount of an existing refblock's cluster (no allocation). */
static int rc_set(struct qcow2 *s, uint64_t idx, uint64_t v)
{
	uint64_t off, boff, blen;
	uint8_t *b;
	int ret = rb_offset(s, idx >> s->rb_bits, &off);

	if (ret < 0)
		return ret;
	if (!off) {
		io_error(s, "cluster %llu has no refcount block", (unsigned long long)idx);
		return -EIO;
	}
	ret = cache_get(s, &s->rbc, off, NULL, false, &b);
	if (ret < 0)
		return ret;
	rb_entry_set(s, b, idx & ((1ULL << s->rb_bits) - 1), v, &boff, &blen);
	if (v == 0 && idx < s->free_hint)
		s->free_hint = idx;
	return file_write(s, b + boff, blen, off + boff);
}

static int rc_add(struct qcow2 *s, uint64_t idx, int delta)
{
	uint64_t rc;
	int ret = rc_get(s, idx, &rc);
	if (ret < 0)
		return ret;
	if (delta > 0 && rc >= s->rc_max) {
		io_error(s, "refcount overflow on cluster %llu", (unsigned long long)idx);
		return -ERANGE;
	}
	if (delta < 0 && rc == 0) {
		io_error(s, "refcount underflow on cluster %llu", (unsigned long long)idx);
		return -EIO;
	}
	rc = delta > 0 ? rc + 1 : rc - 1;
	if (rc == 0) {
		cache_drop(&s->l2c, idx << s->cluster_bits);
		cache_drop(&s->rbc, idx << s->cluster_bits);
	}
	return rc_set(s, idx, rc);
}

static int header_write_reftable(struct qcow2 *s, uint64_t off, uint32_t clusters)
{
	uint8_t b[12];
	put_be64(b, off);
	put_be32(b + 8, clusters);
	return file_write(s, b, sizeof(b), 48);
}

/* Grows the refcount table to at least min_entries: the new table and a
 * refcount block describing it go at the first cluster no refblock covers. */
static int grow_reftable(struct qcow2 *s, uint64_t min_entries)
{
	uint64_t want = MAX(min_entries, s->rt_entries * 2);
	uint64_t bytes = (want * 8 + s->cs - 1) & ~(s->cs - 1);
	uint64_t nclusters = bytes / s->cs, entries = bytes / 8;
	uint64_t ti = s->rt_entries, c0 = ti << s->rb_bits;
	uint64_t old_off = s->rt_offset, old_clusters = s->rt_clusters;
	uint64_t boff, blen;
	int ret;

	if (bytes > MAX_REFTABLE_BYTES || nclusters + 1 > (1ULL << s->rb_bits) ||
	    (c0 + nclusters + 1) << s->cluster_bits > MAX_HOST_OFFSET) {
		io_error(s, "refcount table cannot grow further (%llu entries, %llu wanted)", (unsigned long long)s->rt_entries, (unsigned long long)min_entries);
		return -EFBIG;
	}
	uint8_t *blk = xzalloc(s->cs);
	for (uint64_t i = 0; i <= nclusters; i++)
		rb_entry_set(s, blk, i, 1, &boff, &blen);
	uint64_t *nt = xzalloc(bytes);
	uint8_t *raw = xzalloc(bytes);
	memcpy(nt, s->rt, s->rt_entries * 8);
	nt[ti] = c0 << s->cluster_bits;
	for (uint64_t i = 0; i < entries; i++)
		put_be64(raw + i * 8, nt[i]);
	ret = file_write(s, blk, s->cs, c0 << s->cluster_bits);
	if (!ret)
		ret = file_write(s, raw, bytes, (c0 + 1) << s->cluster_bits);
	if (!ret)
		ret = barrier(s);
	if (!ret)
		ret = header_write_reftable(s, (c0 + 1) << s->cluster_bits, (uint32_t)nclusters);
	if (!ret)
		ret = barrier(s);
	free(blk);
	free(raw);
	if (ret < 0) {
		free(nt);
		return ret;
	}
	free(s->rt);
	s->rt = nt;
	s->rt_entries = entries;
	s->rt_offset = (c0 + 1) << s->cluster_bits;
	s->rt_clusters = (uint32_t)nclusters;
	for (uint64_t i = 0; i < old_clusters && !ret; i++)
		ret = rc_add(s, (old_off >> s->cluster_bits) + i, -1);
	return ret;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* A new refcount block for table entry ti, placed at the first cluster it
 * covers (free, since no block covered it) and counting itself. */
static int new_refblock(struct qcow2 *s, uint64_t ti)
{
	uint64_t c = ti << s->rb_bits, off = c << s->cluster_bits, boff, blen;
	uint8_t *b, raw[8];
	int ret;

	if (off + s->cs > MAX_HOST_OFFSET) {
		io_error(s, "image file too large");
		return -EFBIG;
	}
	/* A range no refblock covers is free only in a consistent image. If it
	 * holds the header (a refblock at 0 would also read as "none", and the
	 * allocation would loop) or the image's own tables, the refcounts
	 * are corrupt: refuse rather than overwrite them. */
	if (ranges_overlap(off, s->cs, 0, s->cs) ||
	    ranges_overlap(off, s->cs, s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits) ||
	    ranges_overlap(off, s->cs, s->l1_offset, (uint64_t)s->l1_size * 8)) {
		io_error(s, "corrupt refcounts: cluster %#llx holds metadata but no refcount block "
			 "covers it", (unsigned long long)off);
		return -EIO;
	}
	ret = cache_get(s, &s->rbc, off, NULL, true, &b);
	if (ret < 0)
		return ret;
	rb_entry_set(s, b, 0, 1, &boff, &blen);
	ret = file_write(s, b, s->cs, off);
	if (!ret)
		ret = barrier(s);
	if (ret < 0) {
		cache_drop(&s->rbc, off);
		return ret;
	}
	put_be64(raw, off);
	ret = file_write(s, raw, 8, s->rt_offset + ti * 8);
	if (ret < 0) {
		cache_drop(&s->rbc, off);
		return ret;
	}
	s->rt[ti] = off;
	return 0;
}

/* Allocates n contiguous clusters with refcount 1; returns the first
 * cluster index. Refcounts are written (not yet synced) on return. */
static int alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *first)
{
	/* refblocks sit at the start of their ranges: no free run is longer */
	if (n >= (1ULL << s->rb_bits)) {
		io_error(s, "cannot allocate %llu contiguous clusters", (unsigned long long)n);
		return -EFBIG;
	}
	for (;;) {
		uint64_t c = s->free_hint, run = 0, start = 0, rc;
		uint64_t per_block = 1ULL << s->rb_bits;
		bool changed = false;
		int ret;

		while (run < n) {
			uint64_t ti = c >> s->rb_bits;
			if ((c + n) << s->cluster_bits > MAX_HOST_OFFSET) {
				io_error(s, "image file too large");
				return -EFBIG;
			}
			if (ti >= s->rt_entries || !(s->rt[ti] & REFT_MASK)) {
				/* no block: every cluster of its range is free */
				uint64_t end = (ti + 1) * per_block;
				if (!run)
					start = c;
				run += end - c;
				c = end;
				continue;
			}
			ret = rc_get(s, c, &rc);
			if (ret < 0)
				return ret;
			if (rc) {
				run = 0;
			} else {
				if (!run)
					start = c;
				run++;
			}
			c++;
		}
		for (uint64_t ti = start >> s->rb_bits; ti <= (start + n - 1) >> s->rb_bits; ti++) {
			if (ti >= s->rt_entries) {
				ret = grow_reftable(s, ti + 1);
				if (ret < 0)
					return ret;
				changed = true;
				break;
			}
			if (!(s->rt[ti] & REFT_MASK)) {
				ret = new_refblock(s, ti);
				if (ret < 0)
					return ret;
				changed = true;
				break;
			}
		}
		if (changed)
			continue;
		/* refcounts to 1, one write per refcount block touched */
		for (uint64_t i = 0; i < n;) {
			uint64_t c0 = start + i, ti = c0 >> s->rb_bits, boff, blen, lo = 0, hi = 0;
			uint64_t end = MIN(start + n, (ti + 1) << s->rb_bits), off;
			uint8_t *b;
			ret = rb_offset(s, ti, &off);
			if (!ret)
				ret = cache_get(s, &s->rbc, off, NULL, false, &b);
			if (ret < 0)
				return ret;
			for (uint64_t k = c0; k < end; k++) {
				rb_entry_set(s, b, k & (per_block - 1), 1, &boff, &blen);
				if (k == c0)
					lo = boff;
				hi = boff + blen;
			}
			ret = file_write(s, b + lo, hi - lo, off + lo);
			if (ret < 0)
				return ret;
			i += end - c0;
		}
		s->free_hint = start + n;
		*first = start;
		return 0;
	}
}

/* Drops one reference held by an L2 entry's host clusters. */
static int release_entry(struct qcow2 *s, uint64_t e)
{
	if (e & OFLAG_COMPRESSED) {
		uint32_t x = 62 - (s->cluster_bits - 8);
		uint64_t off = e & ((1ULL << x) - 1);
		uint64_t nsec = (e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1);
		uint64_t last = ((off & ~511ULL) + (nsec + 1) * 512 - 1) >> s->cluster_bits;
		for (uint64_t c = off >> s->cluster_bits; c <= last; c++) {
			int ret = rc_add(s, c, -1);
			if (ret < 0)
				return ret;
		}
		return 0;
	}
	if (e & OFF_MASK)
		return rc_add(s, (e & OFF_MASK) >> s->cluster_bits, -1);
	return 0;
}

/* ---- mapping ------------------------------------------------------------ */

enum ctype { C_UNALLOC, C_ZERO, C_NORMAL, C_COMPRESSED };

static enum ctype classify(struct qcow2 *s, uint64_t e)
{
	if (e & OFLAG_COMPRESSED)
		return C_COMPRESSED;
	if (s->version >= 3 && (e & OFLAG_ZERO))
		return C_ZERO;
	if (e & OFF_MASK)
		return C_NORMAL;
	return C_UNALLOC;
}

static int l2_entry(struct qcow2 *s, uint64_t vcl, uint64_t *e)
{
	uint64_t l1i = vcl >> s->l2_bits, l2off;
	uint8_t *t;
	int ret;

	*e = 0;
	if (l1i >= s->l1_size)
		return 0;
	l2off = s->l1[l1i] & OFF_MASK;
	if (!l2off)
		return 0;
	ret = cache_get(s, &s->l2c, l2off, NULL, false, &t);
	if (ret < 0)
		return ret;
	*e = get_be64(t + (vcl & ((1ULL << s->l2_bits) - 1)) * 8);
	if (classify(s, *e) == C_NORMAL && (*e & (s->cs - 1) & OFF_MASK)) {
		io_error(s, "data cluster offset 0x%llx is unaligned",
			 (unsigned long long)(*e & OFF_MASK));
		return -EIO;
	}
	return 0;
}

static int read_compressed(struct qcow2 *s, uint64_t e)
{
	uint32_t x = 62 - (s->cluster_bits - 8);
	uint64_t off = e & ((1ULL << x) - 1);
	uint64_t nsec = (e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1);
	uint64_t clen = (nsec + 1) * 512 - (off & 511);
	int ret;

	if (s->dbuf_entry == e)
		return 0;
	if (off >= s->file_size) {
		io_error(s, "compressed cluster at 0x%llx is past the end of the file",
			 (unsigned long long)off);
		return -EIO;
	}
	clen = MIN(clen, s->file_size - off);
	ret = file_read(s, s->cbuf, clen, off);
	if (ret < 0)
		return ret;
	if (!s->inf_ok) {
		char why[160];
		if (lazylib_load(&zlib, why, sizeof(why)) < 0) {
			io_error(s, "compressed cluster at 0x%llx: %s", (unsigned long long)off, why);
			return -EIO;
		}
		memset(&s->inf, 0, sizeof(s->inf));
		if (zl.inflateInit2_(&s->inf, -15, ZLIB_VERSION, (int)sizeof(z_stream)) != Z_OK)
			return -ENOMEM;
		s->inf_ok = true;
	} else {
		zl.inflateReset(&s->inf);
	}
	s->inf.next_in = s->cbuf;
	s->inf.avail_in = (uInt)clen;
	s->inf.next_out = s->dbuf;
	s->inf.avail_out = (uInt)s->cs;
	ret = zl.inflate(&s->inf, Z_FINISH);
	if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR && ret != Z_OK) || s->inf.avail_out) {
		s->dbuf_entry = 0;
		io_error(s, "compressed cluster at 0x%llx does not decompress",
			 (unsigned long long)off);
		return -EIO;
	}
	s->dbuf_entry = e;
	return 0;
}

static int backing_read(struct qcow2 *s, void *buf, uint64_t len, uint64_t off)
{
	uint64_t bsize = s->backing ? s->backing->size : 0;
	uint64_t n = off < bsize ? MIN(len, bsize - off) : 0;
	if (n) {
		int ret = block_pread(s->backing, buf, n, off);
		if (ret < 0)
			return ret;
	}
	memset((uint8_t *)buf + n, 0, len - n);
	return 0;
}

/* Reads part of guest cluster vcl, whose L2 entry is e. */
static int read_in_cluster(struct qcow2 *s, uint64_t vcl, uint64_t e, void *buf, uint64_t o,
			   uint64_t n)
{
	switch (classify(s, e)) {
	case C_UNALLOC:
		return backing_read(s, buf, n, (vcl << s->cluster_bits) + o);
	case C_ZERO:
		memset(buf, 0, n);
		return 0;
	case C_COMPRESSED: {
		int ret = read_compressed(s, e);
		if (ret < 0)
			return ret;
		memcpy(buf, s->dbuf + o, n);
		return 0;
	}
	case C_NORMAL: {
		uint64_t h = e & OFF_MASK;
		if (h >= s->file_size) {
			io_error(s, "data cluster at 0x%llx is past the end of the file",
				 (unsigned long long)h);
			return -EIO;
		}
		return file_read(s, buf, n, h + o);
	}
	}
	return -EIO;
}

static int qcow2_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	struct qcow2 *s = QS(bd);
	uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (len) {
		uint64_t vcl = offset >> s->cluster_bits, o = offset & (s->cs - 1);
		uint64_t n = MIN(len, s->cs - o), e;
		ret = l2_entry(s, vcl, &e);
		if (ret < 0)
			break;
		/* coalesce contiguous normal clusters into one read */
		if (classify(s, e) == C_NORMAL && o + n == s->cs) {
			uint64_t h = e & OFF_MASK, e2;
			while (n < len && n < MAX_RUN_BYTES) {
				if (l2_entry(s, vcl + (o + n) / s->cs, &e2) < 0 ||
				    classify(s, e2) != C_NORMAL ||
				    (e2 & OFF_MASK) != h + o + n)
					break;
				n += MIN(len - n, s->cs);
			}
			if (h >= s->file_size) {
				io_error(s, "data cluster at 0x%llx is past the end of the file",
					 (unsigned long long)h);
				ret = -EIO;
				break;
			}
			ret = file_read(s, p, n, h + o);
		} else {
			ret = read_in_cluster(s, vcl, e, p, o, n);
		}
		if (ret < 0)
			break;
		p += n;
		len -= n;
		offset += n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* The L2 table for L1 index l1i, made writable: allocated if absent,
 * copied if shared with a snapshot (COPIED clear). */
static int l2_for_write(struct qcow2 *s, uint64_t l1i, uint64_t *l2off, uint8_t **t)
{
	uint64_t e = s->l1[l1i], old = e & OFF_MASK, c;
	uint8_t *oldt = NULL, raw[8];
	int ret;

	if (old && (e & OFLAG_COPIED)) {
		*l2off = old;
		return cache_get(s, &s->l2c, old, NULL, false, t);
	}
	if (old) {
		uint8_t *ot;
		ret = cache_get(s, &s->l2c, old, NULL, false, &ot);
		if (ret < 0)
			return ret;
		oldt = xzalloc(s->cs);
		memcpy(oldt, ot, s->cs);
	}
	ret = alloc_clusters(s, 1, &c);
	if (ret < 0)
		goto out;
	*l2off = c << s->cluster_bits;
	ret = cache_get(s, &s->l2c, *l2off, oldt, true, t);
	if (!ret)
		ret = file_write(s, *t, s->cs, *l2off);
	if (!ret)
		ret = barrier(s);
	if (ret < 0) {
		cache_drop(&s->l2c, *l2off);
		goto out;
	}
	put_be64(raw, *l2off | OFLAG_COPIED);
	ret = file_write(s, raw, 8, s->l1_offset + l1i * 8);
	if (ret < 0)
		goto out;
	s->l1[l1i] = *l2off | OFLAG_COPIED;
	if (old) {
		ret = barrier(s);
		if (!ret)
			ret = rc_add(s, old >> s->cluster_bits, -1);
	}
out:
	free(oldt);
	return ret;
}

static bool in_place(struct qcow2 *s, uint64_t e)
{
	return classify(s, e) == C_NORMAL && (e & OFLAG_COPIED);
}

/* Writes [offset, offset+len) when it lies within one L2 table; 'buf'
 * NULL writes zeros. Returns bytes done or -errno. */
static int64_t write_run(struct qcow2 *s, const uint8_t *buf, uint64_t len, uint64_t offset)
{
	uint64_t vcl = offset >> s->cluster_bits, o = offset & (s->cs - 1);
	uint64_t l2n = 1ULL << s->l2_bits, idx = vcl & (l2n - 1), l2off, e, e2;
	/* runs short enough to fit beside a new refblock (see alloc_clusters) */
	uint64_t maxc = MAX(1, MIN(MAX_RUN_BYTES / s->cs, (1ULL << s->rb_bits) / 4));
	uint8_t *t;
	int ret = l2_for_write(s, vcl >> s->l2_bits, &l2off, &t);

	if (ret < 0)
		return ret;
	e = get_be64(t + idx * 8);
	if (classify(s, e) == C_NORMAL && (e & (s->cs - 1) & OFF_MASK))
		return -EIO;
	uint64_t n = 1, bytes = MIN(len, s->cs - o);
	if (in_place(s, e)) {
		uint64_t h = e & OFF_MASK;
		while (bytes < len && idx + n < l2n && n < maxc) {
			e2 = get_be64(t + (idx + n) * 8);
			if (!in_place(s, e2) || (e2 & OFF_MASK) != h + n * s->cs)
				break;
			bytes += MIN(len - bytes, s->cs);
			n++;
		}
		if (buf) {
			ret = file_write(s, buf, bytes, h + o);
		} else {
			uint8_t *z = xzalloc(bytes);
			ret = file_write(s, z, bytes, h + o);
			free(z);
		}
		return ret < 0 ? ret : (int64_t)bytes;
	}
	/* new clusters for a run of entries that cannot be written in place */
	while (bytes < len && idx + n < l2n && n < maxc) {
		e2 = get_be64(t + (idx + n) * 8);
		if (in_place(s, e2))
			break;
		bytes += MIN(len - bytes, s->cs);
		n++;
	}
	uint64_t first;
	uint64_t end = o + bytes; /* from the run's first cluster start */
	/* whole clusters from the caller's buffer go out as they are */
	bool direct = buf && !o && !(end & (s->cs - 1));
	uint8_t *data = direct ? NULL : xzalloc(n * s->cs);
	uint64_t *old = xzalloc(n * sizeof(*old));
	for (uint64_t i = 0; i < n; i++)
		old[i] = get_be64(t + (idx + i) * 8);
	if (direct)
		goto alloc;
	/* the partial head and tail clusters keep their old contents */
	if (o) {
		ret = read_in_cluster(s, vcl, old[0], data, 0, o);
		if (ret < 0)
			goto out;
	}
	if (end & (s->cs - 1)) {
		uint64_t last = n - 1, lo = end & (s->cs - 1);
		ret = read_in_cluster(s, vcl + last, old[last], data + last * s->cs + lo, lo,
				      s->cs - lo);
		if (ret < 0)
			goto out;
	}
	if (buf)
		memcpy(data + o, buf, bytes);
alloc:
	ret = alloc_clusters(s, n, &first);
	if (ret < 0)
		goto out;
	/* re-read the table: allocation may have evicted it from the cache */
	ret = cache_get(s, &s->l2c, l2off, NULL, false, &t);
	if (ret < 0)
		goto out;
	ret = file_write(s, direct ? buf : data, n * s->cs, first << s->cluster_bits);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		goto out;
	for (uint64_t i = 0; i < n; i++)
		put_be64(t + (idx + i) * 8, ((first + i) << s->cluster_bits) | OFLAG_COPIED);
	ret = file_write(s, t + idx * 8, n * 8, l2off + idx * 8);
	if (ret < 0)
		goto out;
	bool need_release = false;
	for (uint64_t i = 0; i < n; i++)
		if (classify(s, old[i]) == C_COMPRESSED || (old[i] & OFF_MASK))
			need_release = true;
	if (need_release) {
		ret = barrier(s);
		for (uint64_t i = 0; i < n && !ret; i++)
			ret = release_entry(s, old[i]);
		if (s->dbuf_entry)
			s->dbuf_entry = 0;
	}
out:
	free(data);
	free(old);
	return ret < 0 ? ret : (int64_t)bytes;
}

/* The whole of [offset, offset + len) through write_run; s->lock held.
 * 0, or the first run's negative errno. */
static int write_runs(struct qcow2 *s, const uint8_t *p, size_t len, uint64_t offset)
{
	while (len) {
		int64_t n = write_run(s, p, len, offset);
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int qcow2_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct qcow2 *s = QS(bd);
	const uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	ret = write_runs(s, p, len, offset);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Whole clusters become zero clusters (v3) or, with no backing file to
 * hide and nothing allocated, stay unallocated; the rest is written. */
static int qcow2_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	struct qcow2 *s = QS(bd);
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t vcl = offset >> s->cluster_bits, o = offset & (s->cs - 1);
		uint64_t n = MIN(len, s->cs - o), e;
		ret = l2_entry(s, vcl, &e);
		if (ret < 0)
			break;
		if (classify(s, e) == C_UNALLOC && !s->backing) {
			/* reads as zero already */
		} else if (classify(s, e) == C_ZERO) {
		} else if (!o && n == s->cs && s->version >= 3) {
			uint64_t l2off, idx = vcl & ((1ULL << s->l2_bits) - 1);
			uint8_t *t, raw[8];
			ret = l2_for_write(s, vcl >> s->l2_bits, &l2off, &t);
			if (ret < 0)
				break;
			e = get_be64(t + idx * 8);
			put_be64(raw, OFLAG_ZERO);
			ret = file_write(s, raw, 8, l2off + idx * 8);
			if (ret < 0)
				break;
			put_be64(t + idx * 8, OFLAG_ZERO);
			if (classify(s, e) == C_COMPRESSED || (e & OFF_MASK)) {
				ret = barrier(s);
				if (!ret)
					ret = release_entry(s, e);
				s->dbuf_entry = 0;
			}
		} else {
			int64_t r = write_run(s, NULL, n, offset);
			if (r < 0)
				ret = (int)r;
			else
				n = (uint64_t)r;
		}
		len -= n;
		offset += n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Guest discard: whole clusters holding data become zero clusters and
 * their host clusters are released, in qcow2_pwrite_zeroes's order (L2
 * entry written, barrier, then the refcount dropped: a crash leaks at
 * worst). Partial clusters, and v2 images (no zero flag: unallocating
 * would expose a backing file), keep their data: discard is a hint. */
static int qcow2_discard(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	struct qcow2 *s = QS(bd);
	uint64_t first = (offset + s->cs - 1) >> s->cluster_bits;
	uint64_t end = (offset + len) >> s->cluster_bits;

	if (s->version < 3)
		return 0;
	for (uint64_t vcl = first; vcl < end; vcl++) {
		uint64_t e;
		pthread_mutex_lock(&s->lock);
		int ret = l2_entry(s, vcl, &e), c = classify(s, e);
		pthread_mutex_unlock(&s->lock);
		if (ret < 0)
			return ret;
		if (c == C_UNALLOC || c == C_ZERO)
			continue;
		ret = qcow2_pwrite_zeroes(bd, s->cs, vcl << s->cluster_bits);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int qcow2_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	struct qcow2 *s = QS(bd);
	uint64_t done = 0, e;
	int state = -1, ret = 0;

	pthread_mutex_lock(&s->lock);
	while (done < len) {
		uint64_t off = offset + done;
		uint64_t n = MIN(len - done, s->cs - (off & (s->cs - 1)));
		ret = l2_entry(s, off >> s->cluster_bits, &e);
		if (ret < 0)
			break;
		int st = classify(s, e) != C_UNALLOC;
		if (state >= 0 && st != state)
			break;
		state = st;
		done += n;
		if (done >= 64 * MiB)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0 && !done)
		return ret;
	*pnum = done;
	return state < 0 ? 0 : state;
}

/* Runs of one kind of cluster; data clusters only while their host
 * clusters follow each other. */
static int qcow2_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		     struct block_map *m)
{
	struct qcow2 *s = QS(bd);
	uint64_t done = 0, e, next_host = 0;
	int kind = -1, ret = 0;

	pthread_mutex_lock(&s->lock);
	while (done < len && done < 64 * MiB) {
		uint64_t off = offset + done;
		uint64_t in = off & (s->cs - 1), n = MIN(len - done, s->cs - in);
		ret = l2_entry(s, off >> s->cluster_bits, &e);
		if (ret < 0)
			break;
		int c = (int)classify(s, e);
		uint64_t host = (e & OFF_MASK) + in;
		if (kind >= 0 && (c != kind || (c == C_NORMAL && host != next_host)))
			break;
		if (kind < 0 && c == C_NORMAL) {
			m->has_offset = true;
			m->offset = host;
		}
		kind = c;
		next_host = host + n;
		done += n;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0 && !done)
		return ret;
	m->allocated = kind != C_UNALLOC;
	m->zero = kind == C_ZERO || kind == C_UNALLOC;
	m->data = kind == C_NORMAL || kind == C_COMPRESSED;
	m->compressed = kind == C_COMPRESSED;
	*pnum = done;
	return 0;
}

static int qcow2_flush(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

static void free_state(struct qcow2 *s)
{
	if (!s)
		return;
	block_close(s->backing);
	cache_free(&s->l2c);
	cache_free(&s->rbc);
	if (s->inf_ok)
		zl.inflateEnd(&s->inf);
	for (uint32_t i = 0; s->snaps && i < s->nb_snapshots; i++) {
		free(s->snaps[i].id);
		free(s->snaps[i].name);
	}
	free(s->snaps);
	free(s->l1);
	free(s->rt);
	free(s->cbuf);
	free(s->dbuf);
	free(s->backing_name);
	free(s->backing_fmt);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void qcow2_close(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	close(s->fd);
	free_state(s);
}

static const struct block_driver qcow2_driver = {
	.name = "qcow2",
	.pread = qcow2_pread,
	.pwrite = qcow2_pwrite,
	.flush = qcow2_flush,
	.close = qcow2_close,
	.status = qcow2_status,
	.pwrite_zeroes = qcow2_pwrite_zeroes,
	.discard = qcow2_discard,
	.map = qcow2_map,
};

bool block_is_qcow2(const struct block_dev *bd)
{
	return bd && bd->drv == &qcow2_driver;
}

bool qcow2_has_backing(const struct block_dev *bd)
{
	return QS(bd)->backing != NULL;
}

uint32_t qcow2_cluster_size(const struct block_dev *bd)
{
	return (uint32_t)QS(bd)->cs;
}

/* ---- open --------------------------------------------------------------- */

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

static int load_table(struct qcow2 *s, uint64_t off, uint64_t entries, uint64_t **out)
{
	uint64_t *t = malloc(MAX(entries, 1) * 8);
	if (!t)
		return -ENOMEM;
	int ret = file_read(s, t, entries * 8, off);
	if (ret < 0) {
		free(t);
		return ret;
	}
	for (uint64_t i = 0; i < entries; i++)
		t[i] = get_be64(&t[i]);
	*out = t;
	return 0;
}

static int load_snapshots(struct qcow2 *s, char *err, size_t errlen)
{
	uint64_t off = s->snapshots_offset, total = 0;
	uint8_t h[40];

	if (!s->nb_snapshots)
		return 0;
	if (s->nb_snapshots > MAX_SNAPSHOTS) {
		snprintf(err, errlen, "too many snapshots (%u)", s->nb_snapshots);
		return -EINVAL;
	}
	if (!meta_ok(s, off, 40)) {
		snprintf(err, errlen, "snapshot table offset 0x%llx is invalid",
			 (unsigned long long)off);
		return -EINVAL;
	}
	s->snaps = xzalloc(s->nb_snapshots * sizeof(*s->snaps));
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		struct snapshot *sn = &s->snaps[i];
		if (!range_ok(off, 40, s->file_size) || total > MAX_SNAPSHOT_TABLE)
			goto bad;
		if (file_read(s, h, 40, off) < 0)
			goto bad;
		sn->l1_offset = get_be64(h);
		sn->l1_size = get_be32(h + 8);
		uint16_t idlen = get_be16(h + 12), nlen = get_be16(h + 14);
		sn->date_sec = get_be32(h + 16);
		sn->date_nsec = get_be32(h + 20);
		sn->vm_clock_nsec = get_be64(h + 24);
		sn->vm_state_size = get_be32(h + 32);
		uint32_t extra = get_be32(h + 36);
		sn->disk_size = s->size;
		sn->icount = UINT64_MAX;
		if (extra > 1024)
			goto bad;
		uint64_t len = 40 + (uint64_t)extra + idlen + nlen;
		if (!range_ok(off, len, s->file_size))
			goto bad;
		len = (len + 7) & ~7ULL; /* the last entry's padding may pass EOF */
		uint8_t *b = xzalloc(len);
		if (file_read(s, b, len, off) < 0) {
			free(b);
			goto bad;
		}
		if (extra >= 8)
			sn->vm_state_size = get_be64(b + 40);
		if (extra >= 16)
			sn->disk_size = get_be64(b + 48);
		if (extra >= 24)
			sn->icount = get_be64(b + 56);
		sn->id = xzalloc(idlen + 1u);
		memcpy(sn->id, b + 40 + extra, idlen);
		sn->name = xzalloc(nlen + 1u);
		memcpy(sn->name, b + 40 + extra + idlen, nlen);
		free(b);
		off += len;
		total += len;
	}
	s->snapshots_len = total;
	return 0;
bad:
	snprintf(err, errlen, "snapshot table is truncated or corrupt");
	return -EINVAL;
}

/* Checks and loads an L1 table of l1_size entries for virtual size 'size'. */
static int check_l1(struct qcow2 *s, uint64_t size, uint64_t l1_off, uint32_t l1_size, char *err,
		    size_t errlen)
{
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	uint64_t need = size / per + (size % per != 0);
	if (size > MAX_VIRTUAL_SIZE || need > MAX_L1_BYTES / 8) {
		snprintf(err, errlen, "virtual size %llu is too large",
			 (unsigned long long)size);
		return -EFBIG;
	}
	if (l1_size < need) {
		snprintf(err, errlen, "L1 table too small (%u entries, %llu needed)", l1_size,
			 (unsigned long long)need);
		return -EINVAL;
	}
	if ((uint64_t)l1_size > MAX_L1_BYTES / 8) {
		snprintf(err, errlen, "L1 table too large (%u entries)", l1_size);
		return -EFBIG;
	}
	if (l1_size && !meta_ok(s, l1_off, (uint64_t)l1_size * 8)) {
		snprintf(err, errlen, "L1 table offset 0x%llx is unaligned or past the end of "
			 "the file", (unsigned long long)l1_off);
		return -EINVAL;
	}
	return 0;
}

struct block_dev *qcow2_open(int fd, const char *path, bool read_only, const struct block_opts *opts,
			     unsigned depth, bool untrusted, char *err, size_t errlen);

struct block_dev *qcow2_open(int fd, const char *path, bool read_only, const struct block_opts *opts,
			     unsigned depth, bool untrusted, char *err, size_t errlen)
{
	struct qcow2 *s = xzalloc(sizeof(*s));
	uint8_t h[HDR_V3_LEN + 8], *c0 = NULL;
	struct stat st;
	struct block_dev *bd;

	pthread_mutex_init(&s->lock, NULL);
	s->fd = fd;
	s->align = fd_dio_align(fd);
	s->path = path;
	s->read_only = read_only;
	s->barriers = !(opts && opts->no_barriers);
	if (fstat(fd, &st) < 0)
		FAIL("%s", strerror(errno));
	s->file_size = (uint64_t)st.st_size;
	if (s->file_size < HDR_V2_LEN)
		FAIL("qcow2 header is truncated");
	memset(h, 0, sizeof(h));
	if (file_read(s, h, MIN(sizeof(h), s->file_size), 0) < 0)
		FAIL("cannot read the header: %s", strerror(errno));
	if (get_be32(h) != QCOW2_MAGIC)
		FAIL("not a qcow2 image");
	/* zlib is mapped here, during set-up: the first compressed cluster is
	 * read later on an I/O thread, under the sandbox, which maps no code
	 * (nor finds the library after -chroot). A missing zlib is reported
	 * when a compressed cluster is met. */
	lazylib_load(&zlib, NULL, 0);
	s->version = (int)get_be32(h + 4);
	if (s->version != 2 && s->version != 3)
		FAIL("unsupported qcow2 version %d", s->version);
	s->cluster_bits = get_be32(h + 20);
	if (s->cluster_bits < 9 || s->cluster_bits > 21)
		FAIL("unsupported cluster size: 2^%u bytes", s->cluster_bits);
	s->cs = 1ULL << s->cluster_bits;
	s->l2_bits = s->cluster_bits - 3;
	s->size = get_be64(h + 24);
	if (get_be32(h + 32))
		FAIL("encrypted qcow2 images are not supported");
	s->l1_size = get_be32(h + 36);
	s->l1_offset = get_be64(h + 40);
	s->rt_offset = get_be64(h + 48);
	s->rt_clusters = get_be32(h + 56);
	s->nb_snapshots = get_be32(h + 60);
	s->snapshots_offset = get_be64(h + 64);
	s->refcount_order = 4;
	s->header_length = HDR_V2_LEN;
	if (s->version == 3) {
		if (s->file_size < HDR_V3_LEN)
			FAIL("qcow2 header is truncated");
		s->incompat = get_be64(h + 72);
		s->compat = get_be64(h + 80);
		s->autoclear = get_be64(h + 88);
		s->refcount_order = get_be32(h + 96);
		s->header_length = get_be32(h + 100);
		if (s->header_length < HDR_V3_LEN || s->header_length > s->cs ||
		    s->header_length % 8)
			FAIL("invalid qcow2 header length %u", s->header_length);
		if (s->incompat & INCOMPAT_DATA_FILE)
			FAIL("external data files are not supported");
		if (s->incompat & INCOMPAT_EXTL2)
			FAIL("extended L2 entries (subclusters) are not supported");
		if (s->incompat & INCOMPAT_COMPRESSION) {
			if (s->header_length < HDR_V3_LEN + 1 || h[104] != 0)
				FAIL("compression type %u is not supported (only zlib)",
				     s->header_length > HDR_V3_LEN ? h[104] : 0);
		}
		if (s->incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION))
			FAIL("unsupported qcow2 incompatible feature bits 0x%llx",
			     (unsigned long long)(s->incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT |
								   INCOMPAT_COMPRESSION)));
		if (s->refcount_order > 6)
			FAIL("invalid refcount order %u", s->refcount_order);
		if (!read_only && (s->incompat & INCOMPAT_CORRUPT))
			FAIL("image is marked corrupt; it can only be opened read-only");
		if (!read_only && (s->incompat & INCOMPAT_DIRTY))
			FAIL("image is dirty (lazy refcounts); repair it with 'qemu-img check "
			     "-r all' first");
	}
	s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
	s->rc_max = s->refcount_order == 6 ? UINT64_MAX : (1ULL << (1u << s->refcount_order)) - 1;

	/* the whole first cluster: header extensions and backing file name */
	c0 = xzalloc(s->cs);
	if (file_read(s, c0, MIN(s->cs, s->file_size), 0) < 0)
		FAIL("cannot read the header: %s", strerror(errno));
	for (uint64_t off = s->header_length;;) {
		if (off + 8 > s->cs)
			FAIL("header extensions run past the first cluster");
		uint32_t type = get_be32(c0 + off), len = get_be32(c0 + off + 4);
		if (type == EXT_END)
			break;
		if (len > s->cs - off - 8)
			FAIL("header extension 0x%x runs past the first cluster", type);
		if (type == EXT_BACKING_FMT) {
			if (len == 0 || len > 31)
				FAIL("invalid backing format extension");
			s->backing_fmt = xzalloc(len + 1);
			memcpy(s->backing_fmt, c0 + off + 8, len);
		}
		off += 8 + (((uint64_t)len + 7) & ~7ULL);
	}
	uint64_t bf_off = get_be64(h + 8);
	uint32_t bf_len = get_be32(h + 16);
	if (bf_off) {
		if (bf_len == 0 || bf_len > 1023 || !range_ok(bf_off, bf_len, MIN(s->cs, s->file_size)))
			FAIL("invalid backing file name (offset 0x%llx, length %u)",
			     (unsigned long long)bf_off, bf_len);
		s->backing_name = xzalloc(bf_len + 1);
		memcpy(s->backing_name, c0 + bf_off, bf_len);
		if (memchr(s->backing_name, 0, bf_len))
			FAIL("invalid backing file name");
	}

	if (check_l1(s, s->size, s->l1_offset, s->l1_size, err, errlen) < 0)
		goto fail;
	if (s->rt_clusters == 0 || (uint64_t)s->rt_clusters * s->cs > MAX_REFTABLE_BYTES)
		FAIL("invalid refcount table size (%u clusters)", s->rt_clusters);
	if (!meta_ok(s, s->rt_offset, (uint64_t)s->rt_clusters * s->cs))
		FAIL("refcount table offset 0x%llx is unaligned or past the end of the file",
		     (unsigned long long)s->rt_offset);
	s->rt_entries = (uint64_t)s->rt_clusters * s->cs / 8;
	if (load_table(s, s->rt_offset, s->rt_entries, &s->rt) < 0)
		FAIL("cannot read the refcount table");
	if (s->nb_snapshots && (s->snapshots_offset & (s->cs - 1)))
		FAIL("snapshot table offset is unaligned");
	if (load_snapshots(s, err, errlen) < 0)
		goto fail;
	if (opts && opts->snapshot) {
		struct snapshot *sn = NULL;
		for (uint32_t i = 0; i < s->nb_snapshots && !sn; i++)
			if (!strcmp(s->snaps[i].id, opts->snapshot))
				sn = &s->snaps[i];
		for (uint32_t i = 0; i < s->nb_snapshots && !sn; i++)
			if (!strcmp(s->snaps[i].name, opts->snapshot))
				sn = &s->snaps[i];
		if (!sn)
			FAIL("snapshot '%s' not found", opts->snapshot);
		if (!read_only)
			FAIL("a snapshot can only be opened read-only");
		if (check_l1(s, sn->disk_size, sn->l1_offset, sn->l1_size, err, errlen) < 0)
			goto fail;
		s->size = sn->disk_size;
		s->l1_offset = sn->l1_offset;
		s->l1_size = sn->l1_size;
		s->snapshot_view = true;
	}
	if (load_table(s, s->l1_offset, s->l1_size, &s->l1) < 0)
		FAIL("cannot read the L1 table");
	for (uint32_t i = 0; i < s->l1_size; i++)
		if ((s->l1[i] & OFF_MASK) & (s->cs - 1))
			FAIL("L1 entry %u is unaligned (0x%llx)", i, (unsigned long long)s->l1[i]);

	cache_init(&s->l2c, opts && opts->l2_cache ? opts->l2_cache : L2_CACHE_DEFAULT, s->cs);
	cache_init(&s->rbc, RB_CACHE_SIZE, s->cs);
	s->cbuf = xzalloc(2 * s->cs);
	s->dbuf = xzalloc(s->cs);

	if (s->backing_name && !(opts && opts->no_backing)) {
		char berr[256];
		if (!strncmp(s->backing_name, "json:", 5))
			FAIL("json: backing file names are not supported");
		/* A backing format that was itself probed (-snapshot of a probed
		 * image) vouches for nothing. */
		bool backing_untrusted = untrusted || (opts && opts->untrusted_backing);
		char *bp = block_path_beside(path, s->backing_name);
		s->backing = block_open_backing(path, s->backing_name, s->backing_fmt, true, NULL,
						untrusted, backing_untrusted, depth + 1, berr,
						sizeof(berr));
		if (!s->backing) {
			if (depth == 0)
				snprintf(err, errlen, "could not open backing file '%s': %s", bp,
					 berr);
			else
				snprintf(err, errlen, "%s", berr);
			free(bp);
			goto fail;
		}
		free(bp);
	}
	if (!read_only && s->autoclear) {
		/* features we do not maintain (bitmaps) become invalid */
		uint8_t z[8] = { 0 };
		if (file_write(s, z, 8, 88) < 0 || barrier(s) < 0)
			FAIL("cannot update the header: %s", strerror(errno));
		s->autoclear = 0;
	}
	free(c0);
	bd = xzalloc(sizeof(*bd));
	bd->drv = &qcow2_driver;
	bd->format = "qcow2";
	bd->path = xstrdup(path);
	bd->size = s->size;
	bd->read_only = read_only;
	bd->fd = fd;
	bd->state = s;
	return bd;
fail:
	free(c0);
	s->fd = -1;
	free_state(s);
	return NULL;
}

/* ---- create ------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	return fd_pwrite_full(fd, buf, len, off);
}

/* Builds header + extensions + backing name into cluster-sized buf. */
static int build_header(uint8_t *b, uint64_t cs, int version, unsigned cluster_bits, uint64_t size,
			unsigned refcount_order, uint32_t l1_size, uint64_t l1_off, uint64_t rt_off,
			uint32_t rt_clusters, uint32_t nb_snap, uint64_t snap_off,
			const char *backing, const char *bfmt)
{
	uint64_t off;
	memset(b, 0, cs);
	put_be32(b, QCOW2_MAGIC);
	put_be32(b + 4, (uint32_t)version);
	put_be32(b + 20, cluster_bits);
	put_be64(b + 24, size);
	put_be32(b + 36, l1_size);
	put_be64(b + 40, l1_off);
	put_be64(b + 48, rt_off);
	put_be32(b + 56, rt_clusters);
	put_be32(b + 60, nb_snap);
	put_be64(b + 64, snap_off);
	if (version == 3) {
		put_be32(b + 96, refcount_order);
		put_be32(b + 100, 112);
		off = 112; /* byte 104: compression type 0 (zlib) */
	} else {
		off = HDR_V2_LEN;
	}
	if (bfmt && *bfmt) {
		size_t l = strlen(bfmt);
		if (l > 31)
			return -EINVAL;
		put_be32(b + off, EXT_BACKING_FMT);
		put_be32(b + off + 4, (uint32_t)l);
		memcpy(b + off + 8, bfmt, l);
		off += 8 + ((l + 7) & ~7ULL);
	}
	if (version == 3) {
		/* feature name table, as the spec suggests, for tools' messages */
		static const struct { uint8_t type, bit; const char *name; } f[] = {
			{ 0, 0, "dirty bit" }, { 0, 1, "corrupt bit" }, { 0, 2, "external data file" },
			{ 0, 3, "compression type" }, { 0, 4, "extended L2 entries" },
			{ 1, 0, "lazy refcounts" }, { 2, 0, "bitmaps" }, { 2, 1, "raw external data" },
		};
		put_be32(b + off, EXT_FEATURE_TABLE);
		put_be32(b + off + 4, (uint32_t)(ARRAY_SIZE(f) * 48));
		off += 8;
		for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
			b[off] = f[i].type;
			b[off + 1] = f[i].bit;
			strncpy((char *)b + off + 2, f[i].name, 46);
			off += 48;
		}
	}
	put_be32(b + off, EXT_END);
	put_be32(b + off + 4, 0);
	off += 8;
	if (backing && *backing) {
		size_t l = strlen(backing);
		if (l > 1023 || off + l > cs)
			return -ENAMETOOLONG;
		memcpy(b + off, backing, l);
		put_be64(b + 8, off);
		put_be32(b + 16, (uint32_t)l);
	}
	return 0;
}

int qcow2_create(const char *path, const struct qcow2_create_opts *o, char *err, size_t errlen)
{
	uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
	unsigned cb = 0, rbits = o->refcount_bits ? o->refcount_bits : 16, order = 0;
	int version = o->version ? o->version : 3;
	int fd, ret;

	while ((1ULL << cb) < cs)
		cb++;
	if ((1ULL << cb) != cs || cb < 9 || cb > 21) {
		snprintf(err, errlen, "cluster size must be a power of two between 512 and 2M");
		return -EINVAL;
	}
	while ((1u << order) < rbits)
		order++;
	if ((1u << order) != rbits || order > 6 || (version == 2 && order != 4)) {
		snprintf(err, errlen, "refcount_bits must be a power of two up to 64 (16 for "
			 "compat=0.10)");
		return -EINVAL;
	}
	uint64_t per = 1ULL << (cb + cb - 3);
	uint64_t l1 = o->size / per + (o->size % per != 0);
	if (o->size > MAX_VIRTUAL_SIZE || l1 > MAX_L1_BYTES / 8) {
		snprintf(err, errlen, "image size too large for this cluster size");
		return -EFBIG;
	}
	uint64_t l1c = MAX(1, (l1 * 8 + cs - 1) / cs);
	uint64_t E = 1ULL << (cb + 3 - order), rbc = 1, rtc = 1;
	for (int i = 0; i < 8; i++) {
		uint64_t total = 1 + rtc + rbc + l1c;
		rbc = (total + E - 1) / E;
		rtc = (rbc * 8 + cs - 1) / cs;
	}
	uint64_t total = 1 + rtc + rbc + l1c;
	if (rtc * cs > MAX_REFTABLE_BYTES) {
		snprintf(err, errlen, "image size too large");
		return -EFBIG;
	}
	uint8_t *b = xzalloc(cs);
	ret = build_header(b, cs, version, cb, o->size, order, (uint32_t)l1, (1 + rtc + rbc) * cs,
			   cs, (uint32_t)rtc, 0, 0, o->backing_file, o->backing_fmt);
	if (ret < 0) {
		snprintf(err, errlen, "backing file name or format too long");
		free(b);
		return ret;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(b);
		return -errno;
	}
	ret = write_all(fd, b, cs, 0);
	/* refcount table: rtc clusters from cluster 1; blocks follow */
	uint8_t *t = xzalloc(rtc * cs);
	for (uint64_t i = 0; i < rbc; i++)
		put_be64(t + i * 8, (1 + rtc + i) * cs);
	if (!ret)
		ret = write_all(fd, t, rtc * cs, cs);
	free(t);
	struct qcow2 tmp = { .refcount_order = order };
	tmp.rc_max = order == 6 ? UINT64_MAX : (1ULL << (1u << order)) - 1;
	uint8_t *rb = xzalloc(rbc * cs);
	uint64_t bo, bl;
	for (uint64_t i = 0; i < total; i++)
		rb_entry_set(&tmp, rb + (i / E) * cs, i % E, 1, &bo, &bl);
	if (!ret)
		ret = write_all(fd, rb, rbc * cs, (1 + rtc) * cs);
	free(rb);
	/* the L1 table: zeros up to the end of the file */
	if (!ret && ftruncate(fd, (off_t)(total * cs)) < 0)
		ret = -errno;
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
	close(fd);
	free(b);
	if (ret < 0)
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

/* ---- tool helpers ------------------------------------------------------- */

int qcow2_get_info(struct block_dev *bd, struct qcow2_info *info)
{
	struct qcow2 *s = QS(bd);
	memset(info, 0, sizeof(*info));
	info->version = s->version;
	info->cluster_size = (uint32_t)s->cs;
	info->refcount_bits = 1u << s->refcount_order;
	info->size = s->size;
	if (s->backing_name)
		snprintf(info->backing_file, sizeof(info->backing_file), "%s", s->backing_name);
	if (s->backing_fmt)
		snprintf(info->backing_fmt, sizeof(info->backing_fmt), "%s", s->backing_fmt);
	info->dirty = s->incompat & INCOMPAT_DIRTY;
	info->corrupt = s->incompat & INCOMPAT_CORRUPT;
	info->lazy_refcounts = s->compat & COMPAT_LAZY;
	info->nb_snapshots = s->nb_snapshots;
	return 0;
}

int qcow2_snapshot_list(struct block_dev *bd, struct qcow2_snapshot_info **out)
{
	struct qcow2 *s = QS(bd);
	struct qcow2_snapshot_info *v = xzalloc(MAX(1, s->nb_snapshots) * sizeof(*v));
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		struct snapshot *sn = &s->snaps[i];
		snprintf(v[i].id, sizeof(v[i].id), "%s", sn->id);
		snprintf(v[i].name, sizeof(v[i].name), "%s", sn->name);
		v[i].date_sec = sn->date_sec;
		v[i].date_nsec = sn->date_nsec;
		v[i].vm_clock_nsec = sn->vm_clock_nsec;
		v[i].vm_state_size = sn->vm_state_size;
		v[i].disk_size = sn->disk_size;
		v[i].icount = sn->icount;
	}
	*out = v;
	return (int)s->nb_snapshots;
}

int qcow2_write_compressed(struct block_dev *bd, uint64_t offset, const void *buf)
{
	struct qcow2 *s = QS(bd);
	uint64_t vcl = offset >> s->cluster_bits, e, l2off, idx;
	uint8_t *out = xzalloc(s->cs), *t, raw[8];
	z_stream zs;
	int ret;

	if ((offset & (s->cs - 1)) || !range_ok(offset, s->cs, s->size) || bd->read_only) {
		free(out);
		return -EINVAL;
	}
	if (lazylib_load(&zlib, NULL, 0) < 0) {
		free(out);
		return -ENOSYS;
	}
	memset(&zs, 0, sizeof(zs));
	if (zl.deflateInit2_(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY,
			    ZLIB_VERSION, (int)sizeof(z_stream)) != Z_OK) {
		free(out);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)(uintptr_t)buf;
	zs.avail_in = (uInt)s->cs;
	zs.next_out = out;
	zs.avail_out = (uInt)(s->cs - 512);
	ret = zl.deflate(&zs, Z_FINISH);
	uint64_t clen = s->cs - 512 - zs.avail_out;
	zl.deflateEnd(&zs);
	if (ret != Z_STREAM_END) {
		free(out);
		return block_pwrite(bd, buf, s->cs, offset);
	}
	pthread_mutex_lock(&s->lock);
	ret = l2_entry(s, vcl, &e);
	if (ret < 0)
		goto out;
	if (classify(s, e) != C_UNALLOC) {
		pthread_mutex_unlock(&s->lock);
		free(out);
		return block_pwrite(bd, buf, s->cs, offset);
	}
	ret = l2_for_write(s, vcl >> s->l2_bits, &l2off, &t);
	if (ret < 0)
		goto out;
	if (s->cz_off && s->cz_off + clen <= s->cz_end) {
		/* shares the host cluster(s) it lands in: one more reference each */
		for (uint64_t c = s->cz_off >> s->cluster_bits;
		     c <= (s->cz_off + clen - 1) >> s->cluster_bits && !ret; c++)
			ret = rc_add(s, c, +1);
	} else {
		uint64_t k = (clen + s->cs - 1) / s->cs, first;
		ret = alloc_clusters(s, k, &first);
		s->cz_off = first << s->cluster_bits;
		s->cz_end = s->cz_off + k * s->cs;
	}
	if (ret < 0)
		goto out;
	ret = cache_get(s, &s->l2c, l2off, NULL, false, &t);
	if (!ret)
		ret = file_write(s, out, clen, s->cz_off);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		goto out;
	uint32_t x = 62 - (s->cluster_bits - 8);
	uint64_t nsec = ((s->cz_off + clen - 1) >> 9) - (s->cz_off >> 9);
	e = OFLAG_COMPRESSED | nsec << x | s->cz_off;
	idx = vcl & ((1ULL << s->l2_bits) - 1);
	put_be64(raw, e);
	ret = file_write(s, raw, 8, l2off + idx * 8);
	if (!ret)
		put_be64(t + idx * 8, e);
	s->cz_off += clen;
out:
	pthread_mutex_unlock(&s->lock);
	free(out);
	return ret;
}

/* Rewrites cluster 0 with a new backing file name/format, keeping the
 * other header fields. */
int qcow2_set_backing(struct block_dev *bd, const char *name, const char *fmt)
{
	struct qcow2 *s = QS(bd);
	uint8_t *b = xzalloc(s->cs), *old = xzalloc(s->cs);
	int ret;

	if (bd->read_only || s->snapshot_view) {
		ret = -EROFS;
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	ret = file_read(s, old, s->cs, 0);
	if (!ret)
		ret = build_header(b, s->cs, s->version, s->cluster_bits, s->size, s->refcount_order,
				   s->l1_size, s->l1_offset, s->rt_offset, s->rt_clusters,
				   s->nb_snapshots, s->snapshots_offset, name, fmt);
	if (!ret && s->version == 3) {
		memcpy(b + 72, old + 72, 24); /* feature bits */
		put_be64(b + 88, 0);
	}
	if (!ret)
		ret = file_write(s, b, s->cs, 0);
	if (!ret)
		ret = barrier(s);
	if (!ret) {
		free(s->backing_name);
		free(s->backing_fmt);
		s->backing_name = name && *name ? xstrdup(name) : NULL;
		s->backing_fmt = fmt && *fmt ? xstrdup(fmt) : NULL;
	}
	pthread_mutex_unlock(&s->lock);
out:
	free(b);
	free(old);
	return ret;
}

/* Writes the header's virtual size, durably. Called with the lock held. */
static int set_size(struct block_dev *bd, uint64_t new_size)
{
	struct qcow2 *s = QS(bd);
	uint8_t b[8];
	put_be64(b, new_size);
	int ret = file_write(s, b, 8, 24);
	if (!ret)
		ret = barrier(s);
	if (!ret) {
		s->size = new_size;
		bd->size = new_size;
	}
	return ret;
}

/* The active L1 table grows to 'need' entries (new clusters, the header
 * switched to them, the old ones freed); s->lock held. */
static int grow_l1(struct qcow2 *s, uint64_t need)
{
	uint64_t bytes = (need * 8 + s->cs - 1) & ~(s->cs - 1), first;
	uint64_t oldc = ((uint64_t)s->l1_size * 8 + s->cs - 1) / s->cs;
	uint64_t *nl;
	uint8_t *raw, b[12];
	int ret;

	if (need <= s->l1_size)
		return 0;
	if (need > MAX_L1_BYTES / 8)
		return -EFBIG;
	nl = xzalloc(bytes);
	raw = xzalloc(bytes);
	memcpy(nl, s->l1, (size_t)s->l1_size * 8);
	for (uint64_t i = 0; i < need; i++)
		put_be64(raw + i * 8, nl[i]);
	ret = alloc_clusters(s, bytes / s->cs, &first);
	if (!ret)
		ret = file_write(s, raw, bytes, first << s->cluster_bits);
	if (!ret)
		ret = barrier(s);
	if (!ret) {
		put_be32(b, (uint32_t)need);
		put_be64(b + 4, first << s->cluster_bits);
		ret = file_write(s, b, 12, 36);
	}
	if (!ret)
		ret = barrier(s);
	free(raw);
	if (ret < 0) {
		free(nl);
		return ret;
	}
	uint64_t old_off = s->l1_offset;
	free(s->l1);
	s->l1 = nl;
	s->l1_size = (uint32_t)need;
	s->l1_offset = first << s->cluster_bits;
	for (uint64_t i = 0; old_off && i < oldc && !ret; i++)
		ret = rc_add(s, (old_off >> s->cluster_bits) + i, -1);
	return ret;
}

int qcow2_grow(struct block_dev *bd, uint64_t new_size)
{
	struct qcow2 *s = QS(bd);
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	uint64_t need = new_size / per + (new_size % per != 0);
	int ret;

	if (bd->read_only || s->snapshot_view)
		return -EROFS;
	if (new_size < s->size)
		return -ENOTSUP;
	if (new_size > MAX_VIRTUAL_SIZE || need > MAX_L1_BYTES / 8)
		return -EFBIG;
	pthread_mutex_lock(&s->lock);
	ret = grow_l1(s, need);
	if (!ret)
		ret = set_size(bd, new_size);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Releases the clusters of virtual clusters [first, ...) of L2 table l1i:
 * the entries are cleared on disk first, then their references dropped,
 * so a crash in between only leaks. */
static int shrink_table(struct qcow2 *s, uint64_t l1i, uint64_t first)
{
	uint64_t l2n = 1ULL << s->l2_bits, base = l1i << s->l2_bits, l2off;
	uint64_t from = first > base ? first - base : 0;
	uint8_t *t, *copy;
	int ret;

	if (!(s->l1[l1i] & OFF_MASK))
		return 0;
	if (from == 0) {
		/* the whole table goes: unhook it from L1, then free it all */
		uint8_t raw[8] = { 0 };
		l2off = s->l1[l1i] & OFF_MASK;
		ret = cache_get(s, &s->l2c, l2off, NULL, false, &t);
		if (ret < 0)
			return ret;
		copy = xzalloc(s->cs);
		memcpy(copy, t, s->cs);
		ret = file_write(s, raw, 8, s->l1_offset + l1i * 8);
		if (!ret)
			ret = barrier(s);
		if (!ret) {
			s->l1[l1i] = 0;
			cache_drop(&s->l2c, l2off);
			for (uint64_t i = 0; i < l2n && !ret; i++)
				ret = release_entry(s, get_be64(copy + i * 8));
			if (!ret)
				ret = rc_add(s, l2off >> s->cluster_bits, -1);
		}
		free(copy);
		return ret;
	}
	ret = l2_for_write(s, l1i, &l2off, &t);
	if (ret < 0)
		return ret;
	copy = xzalloc(s->cs);
	memcpy(copy, t, s->cs);
	memset(t + from * 8, 0, (l2n - from) * 8);
	ret = file_write(s, t + from * 8, (l2n - from) * 8, l2off + from * 8);
	if (!ret)
		ret = barrier(s);
	for (uint64_t i = from; i < l2n && !ret; i++)
		ret = release_entry(s, get_be64(copy + i * 8));
	free(copy);
	return ret;
}

int qcow2_shrink(struct block_dev *bd, uint64_t new_size)
{
	struct qcow2 *s = QS(bd);
	int ret;

	if (bd->read_only || s->snapshot_view)
		return -EROFS;
	if (new_size > s->size)
		return -EINVAL;
	if (s->nb_snapshots)
		return -EBUSY; /* the snapshots would still map what goes */
	/* The part of the last kept cluster past the new end must read as
	 * zeros if the image is grown again. */
	uint64_t tail_end = MIN(s->size, (new_size + s->cs - 1) & ~(s->cs - 1));
	if (tail_end > new_size) {
		ret = qcow2_pwrite_zeroes(bd, tail_end - new_size, new_size);
		if (ret < 0)
			return ret;
	}
	pthread_mutex_lock(&s->lock);
	/* The new size goes first: from then on nothing past it is visible. */
	ret = set_size(bd, new_size);
	uint64_t first = (new_size + s->cs - 1) >> s->cluster_bits;
	for (uint64_t l1i = first >> s->l2_bits; l1i < s->l1_size && !ret; l1i++)
		ret = shrink_table(s, l1i, first);
	s->dbuf_entry = 0;
	if (!ret)
		ret = barrier(s);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- check -------------------------------------------------------------- */

struct checker {
	struct qcow2 *s;
	uint64_t nclusters;
	uint32_t *ref; /* references counted per host cluster */
	FILE *log;
	struct qcow2_check_result *r;
};

static void ref_range(struct checker *k, uint64_t off, uint64_t len, const char *what)
{
	if (!len)
		return;
	if (off >= k->nclusters << k->s->cluster_bits ||
	    len > (k->nclusters << k->s->cluster_bits) - off) {
		fprintf(k->log, "ERROR %s at offset 0x%llx is past the end of the image file\n",
			what, (unsigned long long)off);
		k->r->corruptions++;
		return;
	}
	for (uint64_t c = off >> k->s->cluster_bits; c <= (off + len - 1) >> k->s->cluster_bits; c++)
		if (k->ref[c] < UINT32_MAX)
			k->ref[c]++;
}

static int check_l1_tree(struct checker *k, uint64_t l1_off, uint32_t l1_size, bool active)
{
	struct qcow2 *s = k->s;
	uint64_t *l1;
	uint8_t *t = xzalloc(s->cs);
	uint64_t l2n = 1ULL << s->l2_bits, last_host = 0;

	if (!l1_size) {
		free(t);
		return 0;
	}
	if (!range_ok(l1_off, (uint64_t)l1_size * 8, s->file_size) || (l1_off & (s->cs - 1))) {
		fprintf(k->log, "ERROR L1 table at 0x%llx is invalid\n", (unsigned long long)l1_off);
		k->r->corruptions++;
		free(t);
		return 0;
	}
	ref_range(k, l1_off, (uint64_t)l1_size * 8, "L1 table");
	if (load_table(s, l1_off, l1_size, &l1) < 0) {
		free(t);
		return -EIO;
	}
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & OFF_MASK, rc;
		if (!l2off)
			continue;
		if (l2off & (s->cs - 1) || !range_ok(l2off, s->cs, s->file_size)) {
			fprintf(k->log, "ERROR L2 table offset 0x%llx is invalid\n",
				(unsigned long long)l2off);
			k->r->corruptions++;
			continue;
		}
		ref_range(k, l2off, s->cs, "L2 table");
		if (active && rc_get(s, l2off >> s->cluster_bits, &rc) == 0 &&
		    ((rc == 1) != !!(l1[i] & OFLAG_COPIED))) {
			fprintf(k->log, "ERROR OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%llx "
				"refcount=%llu\n", i, (unsigned long long)l1[i],
				(unsigned long long)rc);
			k->r->corruptions++;
		}
		if (file_read(s, t, s->cs, l2off) < 0)
			continue;
		for (uint64_t j = 0; j < l2n; j++) {
			uint64_t e = get_be64(t + j * 8);
			switch (classify(s, e)) {
			case C_COMPRESSED: {
				uint32_t x = 62 - (s->cluster_bits - 8);
				uint64_t off = e & ((1ULL << x) - 1);
				uint64_t nsec = (e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1);
				uint64_t start = off & ~511ULL;
				ref_range(k, start, (nsec + 1) * 512, "compressed cluster");
				if (active) {
					k->r->compressed_clusters++;
					k->r->allocated_clusters++;
				}
				break;
			}
			case C_ZERO:
			case C_NORMAL: {
				uint64_t h = e & OFF_MASK;
				if (!h)
					break;
				if (h & (s->cs - 1)) {
					fprintf(k->log, "ERROR offset=%llx: Cluster is not properly "
						"aligned; L2 entry corrupted.\n", (unsigned long long)h);
					k->r->corruptions++;
					break;
				}
				ref_range(k, h, s->cs, "data cluster");
				if (active) {
					k->r->allocated_clusters++;
					if (last_host && h != last_host + s->cs)
						k->r->fragmented_clusters++;
					last_host = h;
					if (rc_get(s, h >> s->cluster_bits, &rc) == 0 &&
					    (rc == 1) != !!(e & OFLAG_COPIED)) {
						fprintf(k->log, "ERROR OFLAG_COPIED data cluster: "
							"l2_entry=%llx refcount=%llu\n",
							(unsigned long long)e, (unsigned long long)rc);
						k->r->corruptions++;
					}
				}
				break;
			}
			case C_UNALLOC:
				break;
			}
		}
	}
	free(l1);
	free(t);
	return 0;
}

int qcow2_check(struct block_dev *bd, int repair, struct qcow2_check_result *r, FILE *log)
{
	struct qcow2 *s = QS(bd);
	struct checker k = { .s = s, .log = log, .r = r };
	uint64_t maxc, rc;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (repair && bd->read_only)
		return -EROFS;
	pthread_mutex_lock(&s->lock);
	maxc = (s->file_size + s->cs - 1) >> s->cluster_bits;
	/* clusters refcounted past EOF are also considered */
	for (uint64_t ti = 0; ti < s->rt_entries; ti++)
		if (s->rt[ti] & REFT_MASK)
			maxc = MAX(maxc, (ti + 1) << s->rb_bits);
	if (maxc > (64ULL << 30) >> 2) {
		ret = -EFBIG;
		goto out;
	}
	k.nclusters = maxc;
	k.ref = calloc(maxc ? maxc : 1, sizeof(uint32_t));
	if (!k.ref) {
		ret = -ENOMEM;
		goto out;
	}
	k.nclusters = (s->file_size + s->cs - 1) >> s->cluster_bits;
	ref_range(&k, 0, s->cs, "header");
	ref_range(&k, s->rt_offset, (uint64_t)s->rt_clusters * s->cs, "refcount table");
	for (uint64_t ti = 0; ti < s->rt_entries; ti++) {
		uint64_t off = s->rt[ti] & REFT_MASK;
		if (!off)
			continue;
		if (off & (s->cs - 1)) {
			fprintf(log, "ERROR refcount block %llu is not cluster aligned; refcount "
				"table entry corrupted\n", (unsigned long long)ti);
			r->corruptions++;
			continue;
		}
		ref_range(&k, off, s->cs, "refcount block");
	}
	check_l1_tree(&k, s->l1_offset, s->l1_size, !s->snapshot_view);
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		check_l1_tree(&k, s->snaps[i].l1_offset, s->snaps[i].l1_size, false);
	if (s->nb_snapshots)
		ref_range(&k, s->snapshots_offset, s->snapshots_len, "snapshot table");
	k.nclusters = maxc;
	r->total_clusters = s->size / s->cs + (s->size % s->cs != 0);
	for (uint64_t c = 0; c < maxc; c++) {
		if (rc_get(s, c, &rc) < 0) {
			r->corruptions++;
			continue;
		}
		if (rc == k.ref[c])
			continue;
		if (rc > k.ref[c]) {
			fprintf(log, "%s cluster %llu refcount=%llu reference=%u\n",
				repair & QCOW2_REPAIR_LEAKS ? "Repairing" : "Leaked",
				(unsigned long long)c, (unsigned long long)rc, k.ref[c]);
			r->leaks++;
			if ((repair & QCOW2_REPAIR_LEAKS) && rc_set(s, c, k.ref[c]) == 0)
				r->leaks_fixed++;
		} else {
			fprintf(log, "%s cluster %llu refcount=%llu reference=%u\n",
				repair & QCOW2_REPAIR_ERRORS ? "Repairing" : "ERROR",
				(unsigned long long)c, (unsigned long long)rc, k.ref[c]);
			r->corruptions++;
			if ((repair & QCOW2_REPAIR_ERRORS) && k.ref[c] <= s->rc_max &&
			    (c >> s->rb_bits) < s->rt_entries && (s->rt[c >> s->rb_bits] & REFT_MASK) &&
			    rc_set(s, c, k.ref[c]) == 0)
				r->corruptions_fixed++;
		}
	}
	/* as qemu-img: the end of the last cluster in use (referenced, or
	 * still refcounted: a leak counts until repaired) */
	uint64_t end = 0;
	for (uint64_t c = 0; c < maxc; c++)
		if (k.ref[c] || (rc_get(s, c, &rc) == 0 && rc))
			end = (c + 1) << s->cluster_bits;
	r->image_end_offset = end;
	if (repair)
		fdatasync(s->fd);
	free(k.ref);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- internal snapshots: create, apply, delete --------------------------- */

/* Adds delta to the refcount of every cluster tree l1 references: each L2
 * table and, once per tree, each data cluster (the spec's accounting: a
 * cluster's refcount is the number of L1 trees using it). */
static int tree_refcounts(struct qcow2 *s, const uint64_t *l1, uint32_t l1_size, int delta)
{
	uint8_t *t = xzalloc(s->cs);
	int ret = 0;

	for (uint32_t i = 0; i < l1_size && !ret; i++) {
		uint64_t l2off = l1[i] & OFF_MASK;
		if (!l2off)
			continue;
		if (!meta_ok(s, l2off, s->cs)) {
			ret = -EIO;
			break;
		}
		ret = file_read(s, t, s->cs, l2off);
		for (uint64_t j = 0; j < (1ULL << s->l2_bits) && !ret; j++) {
			uint64_t e = get_be64(t + j * 8);
			if (classify(s, e) == C_COMPRESSED) {
				uint32_t x = 62 - (s->cluster_bits - 8);
				uint64_t off = e & ((1ULL << x) - 1);
				uint64_t nsec = (e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1);
				uint64_t last = ((off & ~511ULL) + (nsec + 1) * 512 - 1) >> s->cluster_bits;
				for (uint64_t c = off >> s->cluster_bits; c <= last && !ret; c++)
					ret = rc_add(s, c, delta);
			} else if (e & OFF_MASK) {
				ret = rc_add(s, (e & OFF_MASK) >> s->cluster_bits, delta);
			}
		}
		if (!ret)
			ret = rc_add(s, l2off >> s->cluster_bits, delta);
	}
	free(t);
	return ret;
}

/* Sets COPIED in the active tree exactly where the refcount is 1. */
static int fix_copied(struct qcow2 *s)
{
	uint8_t *t = xzalloc(s->cs), raw[8];
	int ret = 0;

	for (uint32_t i = 0; i < s->l1_size && !ret; i++) {
		uint64_t l2off = s->l1[i] & OFF_MASK, rc;
		if (!l2off)
			continue;
		ret = rc_get(s, l2off >> s->cluster_bits, &rc);
		if (ret < 0)
			break;
		uint64_t want = rc == 1 ? (l2off | OFLAG_COPIED) : l2off;
		if (want != s->l1[i]) {
			put_be64(raw, want);
			ret = file_write(s, raw, 8, s->l1_offset + i * 8ULL);
			s->l1[i] = want;
		}
		if (ret < 0)
			continue;
		/* entries too, shared tables included (data in a shared table
		 * has refcount >= 2 and so loses COPIED) */
		ret = file_read(s, t, s->cs, l2off);
		bool dirty = false;
		for (uint64_t j = 0; j < (1ULL << s->l2_bits) && !ret; j++) {
			uint64_t e = get_be64(t + j * 8), drc;
			if (classify(s, e) == C_COMPRESSED || !(e & OFF_MASK))
				continue;
			ret = rc_get(s, (e & OFF_MASK) >> s->cluster_bits, &drc);
			uint64_t ne = drc == 1 ? (e | OFLAG_COPIED) : (e & ~OFLAG_COPIED);
			if (ne != e) {
				put_be64(t + j * 8, ne);
				dirty = true;
			}
		}
		if (!ret && dirty) {
			ret = file_write(s, t, s->cs, l2off);
			cache_drop(&s->l2c, l2off);
		}
	}
	free(t);
	return ret;
}

static uint64_t snap_entry_len(const struct snapshot *sn)
{
	return (40 + 16 + strlen(sn->id) + strlen(sn->name) + 7) & ~7ULL;
}

/* Writes the table of the n snapshots in v to new clusters and switches
 * the header to it; frees the old table. Once the header points at the new
 * table, v (heap) becomes s->snaps even if freeing the old table's
 * clusters then fails: the caller knows by s->snaps == v. */
static int write_snapshot_table(struct qcow2 *s, struct snapshot *v, uint32_t n)
{
	uint64_t len = 0, first = 0, off = 0;
	uint64_t old_off = s->snapshots_offset, old_len = s->snapshots_len;
	uint32_t old_n = s->nb_snapshots;
	uint8_t hdr[12];
	int ret = 0;

	for (uint32_t i = 0; i < n; i++)
		len += snap_entry_len(&v[i]);
	uint64_t nclusters = (len + s->cs - 1) / s->cs;
	if (n) {
		uint8_t *b = xzalloc(nclusters * s->cs);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *p = b + off;
			size_t il = strlen(v[i].id), nl = strlen(v[i].name);
			put_be64(p, v[i].l1_offset);
			put_be32(p + 8, v[i].l1_size);
			put_be16(p + 12, (uint16_t)il);
			put_be16(p + 14, (uint16_t)nl);
			put_be32(p + 16, v[i].date_sec);
			put_be32(p + 20, v[i].date_nsec);
			put_be64(p + 24, v[i].vm_clock_nsec);
			put_be32(p + 32, (uint32_t)MIN(v[i].vm_state_size, UINT32_MAX));
			put_be32(p + 36, 16);
			put_be64(p + 40, v[i].vm_state_size);
			put_be64(p + 48, v[i].disk_size);
			memcpy(p + 56, v[i].id, il);
			memcpy(p + 56 + il, v[i].name, nl);
			off += snap_entry_len(&v[i]);
		}
		ret = alloc_clusters(s, nclusters, &first);
		if (!ret)
			ret = file_write(s, b, nclusters * s->cs, first << s->cluster_bits);
		free(b);
		if (!ret)
			ret = barrier(s);
		if (ret < 0)
			return ret;
	}
	put_be32(hdr, n);
	put_be64(hdr + 4, n ? first << s->cluster_bits : 0);
	ret = file_write(s, hdr, 12, 60);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		return ret;
	/* switched: the new list is the image's now, whatever follows */
	s->nb_snapshots = n;
	s->snapshots_offset = n ? first << s->cluster_bits : 0;
	s->snapshots_len = len;
	free(s->snaps);
	s->snaps = v;
	if (old_n && old_len)
		for (uint64_t c = old_off >> s->cluster_bits;
		     c <= (old_off + old_len - 1) >> s->cluster_bits && !ret; c++)
			ret = rc_add(s, c, -1);
	return ret;
}

static int find_snapshot(struct qcow2 *s, const char *name)
{
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].id, name))
			return (int)i;
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].name, name))
			return (int)i;
	return -1;
}

static int snap_check_rw(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	if (bd->read_only || s->snapshot_view)
		return -EROFS;
	return 0;
}

static int discard_vmstate(struct qcow2 *s);

/* A snapshot of the active tree; with 'vm', one whose VM state the
 * caller wrote into the active image's VM state area just before
 * (qcow2_vmstate_write): the snapshot's L1 copy maps it from then on,
 * and the active tree lets it go. The order on disk: the L1 copy and
 * the refcounts, flushed; the snapshot table and the header pointing to
 * it, flushed (write_snapshot_table); only then the active tree drops the
 * VM state. A crash (or kill -9) before the table leaks clusters at
 * worst, after it loses nothing. */
static int snapshot_create(struct block_dev *bd, const char *name,
			   const struct qcow2_vm_snapshot *vm)
{
	struct qcow2 *s = QS(bd);
	int ret = snap_check_rw(bd);
	uint64_t first = 0, l1c = ((uint64_t)s->l1_size * 8 + s->cs - 1) / s->cs;
	struct timespec ts;

	if (ret < 0)
		return ret;
	if (!*name || strlen(name) > 255 || s->nb_snapshots >= MAX_SNAPSHOTS)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (find_snapshot(s, name) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	/* the L1 copy */
	if (s->l1_size) {
		uint8_t *raw = xzalloc(l1c * s->cs);
		for (uint32_t i = 0; i < s->l1_size; i++)
			put_be64(raw + i * 8, s->l1[i] & ~OFLAG_COPIED);
		ret = alloc_clusters(s, l1c, &first);
		if (!ret)
			ret = file_write(s, raw, l1c * s->cs, first << s->cluster_bits);
		free(raw);
		if (ret < 0)
			goto out;
	}
	ret = tree_refcounts(s, s->l1, s->l1_size, +1);
	if (!ret)
		ret = fix_copied(s);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		goto out;
	unsigned long maxid = 0;
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		maxid = MAX(maxid, strtoul(s->snaps[i].id, NULL, 10));
	struct snapshot *v = xzalloc((s->nb_snapshots + 1) * sizeof(*v));
	if (s->nb_snapshots) /* snaps is NULL without any (memcpy's UB) */
		memcpy(v, s->snaps, s->nb_snapshots * sizeof(*v));
	struct snapshot *sn = &v[s->nb_snapshots];
	char id[24];
	snprintf(id, sizeof(id), "%lu", maxid + 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	sn->l1_offset = first << s->cluster_bits;
	sn->l1_size = s->l1_size;
	sn->id = xstrdup(id);
	sn->name = xstrdup(name);
	sn->date_sec = (uint32_t)ts.tv_sec;
	sn->date_nsec = (uint32_t)ts.tv_nsec;
	sn->disk_size = s->size;
	sn->icount = UINT64_MAX;
	if (vm) {
		sn->vm_state_size = vm->vm_state_size;
		sn->vm_clock_nsec = vm->vm_clock_nsec;
	}
	ret = write_snapshot_table(s, v, s->nb_snapshots + 1);
	if (ret < 0 && s->snaps != v) {
		free(sn->id);
		free(sn->name);
		free(v);
		goto out;
	}
	if (vm && !ret)
		ret = discard_vmstate(s);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int qcow2_snapshot_create(struct block_dev *bd, const char *name)
{
	return snapshot_create(bd, name, NULL);
}

int qcow2_snapshot_create_vm(struct block_dev *bd, const char *name,
			     const struct qcow2_vm_snapshot *vm)
{
	return snapshot_create(bd, name, vm);
}

int qcow2_snapshot_delete(struct block_dev *bd, const char *name)
{
	struct qcow2 *s = QS(bd);
	int ret = snap_check_rw(bd), i;
	uint64_t *l1 = NULL;

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->lock);
	i = find_snapshot(s, name);
	if (i < 0) {
		ret = -ENOENT;
		goto out;
	}
	struct snapshot gone = s->snaps[i];
	/* first drop it from the table: a crash after that only leaks */
	struct snapshot *v = xzalloc(MAX(1, s->nb_snapshots) * sizeof(*v));
	uint32_t n = 0;
	for (uint32_t k = 0; k < s->nb_snapshots; k++)
		if ((int)k != i)
			v[n++] = s->snaps[k];
	ret = write_snapshot_table(s, v, n);
	if (ret < 0 && s->snaps != v) {
		free(v);
		goto out;
	}
	if (ret < 0) {
		free(gone.id);
		free(gone.name);
		goto out;
	}
	if (gone.l1_size && meta_ok(s, gone.l1_offset, (uint64_t)gone.l1_size * 8)) {
		ret = load_table(s, gone.l1_offset, gone.l1_size, &l1);
		if (!ret)
			ret = tree_refcounts(s, l1, gone.l1_size, -1);
		uint64_t l1c = ((uint64_t)gone.l1_size * 8 + s->cs - 1) / s->cs;
		for (uint64_t c = 0; c < l1c && !ret; c++)
			ret = rc_add(s, (gone.l1_offset >> s->cluster_bits) + c, -1);
	}
	if (!ret)
		ret = fix_copied(s);
	if (!ret)
		ret = barrier(s);
	free(gone.id);
	free(gone.name);
out:
	free(l1);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int qcow2_snapshot_apply(struct block_dev *bd, const char *name)
{
	struct qcow2 *s = QS(bd);
	int ret = snap_check_rw(bd), i;
	uint64_t *sl1 = NULL, *old = NULL;
	uint32_t old_size = s->l1_size;

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->lock);
	i = find_snapshot(s, name);
	if (i < 0) {
		ret = -ENOENT;
		goto out;
	}
	struct snapshot *sn = &s->snaps[i];
	if (sn->disk_size != s->size) {
		ret = -ENOTSUP; /* the image was resized since */
		goto out;
	}
	/* the table is the file's word: checked before it is read */
	if ((uint64_t)sn->l1_size > MAX_L1_BYTES / 8 ||
	    (sn->l1_size && !meta_ok(s, sn->l1_offset, (uint64_t)sn->l1_size * 8))) {
		ret = -EINVAL;
		goto out;
	}
	/* a snapshot with VM state maps more than the disk: the active L1
	 * grows to take it (the VM state is then read through it) */
	ret = grow_l1(s, sn->l1_size);
	old_size = s->l1_size;
	if (ret < 0)
		goto out;
	ret = load_table(s, sn->l1_offset, sn->l1_size, &sl1);
	if (ret < 0)
		goto out;
	/* the snapshot's tree gains the active reference first (leaks only
	 * if interrupted), then the active L1 takes its entries */
	ret = tree_refcounts(s, sl1, sn->l1_size, +1);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		goto out;
	old = s->l1;
	s->l1 = xzalloc((size_t)MAX(1, s->l1_size) * 8);
	uint8_t *raw = xzalloc((size_t)MAX(1, s->l1_size) * 8);
	for (uint32_t k = 0; k < sn->l1_size; k++) {
		s->l1[k] = sl1[k] & ~OFLAG_COPIED;
		put_be64(raw + k * 8, s->l1[k]);
	}
	ret = file_write(s, raw, (size_t)s->l1_size * 8, s->l1_offset);
	free(raw);
	if (!ret)
		ret = barrier(s);
	if (!ret)
		ret = tree_refcounts(s, old, old_size, -1);
	if (!ret)
		ret = fix_copied(s);
	if (!ret)
		ret = barrier(s);
	s->dbuf_entry = 0;
	for (unsigned k = 0; k < s->l2c.n; k++)
		s->l2c.e[k].off = 0;
out:
	free(sl1);
	free(old);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- the VM state area (savevm) ------------------------------------------ */

/* Where the VM state starts: the first guest offset past the virtual size
 * that an L1 entry of its own maps. The specification leaves its place to
 * the writer; QEMU puts it there, so images either wrote read in both. */
static uint64_t vmstate_base(const struct qcow2 *s)
{
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	return (s->size + per - 1) / per * per;
}

/* [pos, pos + len) of the area is within QCOW2_VMSTATE_MAX and within
 * what the largest L1 table maps. */
static bool vmstate_range_ok(const struct qcow2 *s, uint64_t pos, uint64_t len)
{
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	uint64_t mapped = MAX_L1_BYTES / 8 * per, base = vmstate_base(s);

	if (pos > QCOW2_VMSTATE_MAX || len > QCOW2_VMSTATE_MAX - pos)
		return false;
	return base <= mapped && pos + len <= mapped - base;
}

/* After a snapshot took the VM state: the active tree's entries past the
 * disk are cleared on disk first, then their references dropped (a crash
 * in between leaks only). */
static int discard_vmstate(struct qcow2 *s)
{
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	uint8_t zero[8] = { 0 };
	int ret = 0;

	for (uint64_t i = vmstate_base(s) / per; i < s->l1_size && !ret; i++) {
		uint64_t e = s->l1[i] & ~OFLAG_COPIED;
		if (!(e & OFF_MASK))
			continue;
		ret = file_write(s, zero, 8, s->l1_offset + i * 8);
		if (!ret)
			ret = barrier(s);
		if (ret < 0)
			break;
		s->l1[i] = 0;
		cache_drop(&s->l2c, e & OFF_MASK);
		ret = tree_refcounts(s, &e, 1, -1);
	}
	if (!ret)
		ret = barrier(s);
	return ret;
}

int qcow2_vmstate_write(struct block_dev *bd, const void *buf, size_t len, uint64_t pos)
{
	struct qcow2 *s = QS(bd);
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	const uint8_t *p = buf;
	int ret = snap_check_rw(bd);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->lock);
	if (!vmstate_range_ok(s, pos, len)) {
		ret = -EFBIG;
		goto out;
	}
	uint64_t offset = vmstate_base(s) + pos;
	ret = grow_l1(s, (offset + len + per - 1) / per);
	if (!ret)
		ret = write_runs(s, p, len, offset);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int qcow2_vmstate_read(struct block_dev *bd, void *buf, size_t len, uint64_t pos)
{
	struct qcow2 *s = QS(bd);
	uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (!vmstate_range_ok(s, pos, len)) {
		ret = -EFBIG;
		goto out;
	}
	uint64_t offset = vmstate_base(s) + pos;
	while (len) {
		uint64_t vcl = offset >> s->cluster_bits, o = offset & (s->cs - 1);
		uint64_t n = MIN(len, s->cs - o), e;
		ret = l2_entry(s, vcl, &e);
		if (ret < 0)
			break;
		/* nothing of the VM state comes from a backing file */
		if (classify(s, e) == C_UNALLOC)
			memset(p, 0, n);
		else
			ret = read_in_cluster(s, vcl, e, p, o, n);
		if (ret < 0)
			break;
		p += n;
		len -= n;
		offset += n;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- the block layer's table entry (src/block/block_formats.c) ---------- */

static bool qcow2_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "QFI\xfb", 4) && get_be32(buf + 4) >= 2; /* 1: qcow.c */
}

static bool qcow2_format_has_backing(const struct block_dev *bd)
{
	return block_is_qcow2(bd) && qcow2_has_backing(bd);
}

static struct block_dev *qcow2_format_backing(const struct block_dev *bd)
{
	return block_is_qcow2(bd) ? QS(bd)->backing : NULL;
}

static int qcow2_create_overlay(const char *path, uint64_t size, const char *backing,
				const char *backing_fmt, char *err, size_t errlen)
{
	struct qcow2_create_opts o = {
		.size = size, .backing_file = backing, .backing_fmt = backing_fmt,
	};
	return qcow2_create(path, &o, err, errlen);
}

const struct block_format qcow2_format = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.o_direct = true,
	.has_backing = qcow2_format_has_backing,
	.backing = qcow2_format_backing,
	.create_overlay = qcow2_create_overlay,
};
