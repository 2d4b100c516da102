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
#include <inttypes.h>
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
	__typeof__(deflateReset) *deflateReset;
	__typeof__(deflate) *deflate;
	__typeof__(deflateEnd) *deflateEnd;
} zl;

static const struct lazysym zlib_syms[] = {
	{ "inflateInit2_", (void **)&zl.inflateInit2_ },
	{ "inflateReset", (void **)&zl.inflateReset },
	{ "inflate", (void **)&zl.inflate },
	{ "inflateEnd", (void **)&zl.inflateEnd },
	{ "deflateInit2_", (void **)&zl.deflateInit2_ },
	{ "deflateReset", (void **)&zl.deflateReset },
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
#define EXT_BITMAPS 0x23852875U
#define AUTOCLEAR_BITMAPS 1ULL
/* bitmap directory limits (the spec's: names up to 1023 bytes, QEMU's
 * 65535 bitmaps; a directory past 64 MiB is refused as implausible) */
#define BITMAP_MAX_NAME 1023
#define BITMAP_MAX_COUNT 65535
#define BITMAP_MAX_DIR (64 * MiB)
#define BITMAP_MAX_BYTES (512 * MiB)

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

/* One decompression slot of qcow2_pread's: its own zlib stream and
 * buffers (allocated on first use). 'busy' (under the lock) gives it to
 * one reader, who inflates into it with the lock released; 'entry' (the
 * L2 entry dbuf holds, 0: none) is only set while not busy. */
struct inflater {
	z_stream z;
	bool z_ok, busy;
	uint8_t *cbuf, *dbuf;
	uint64_t entry, used;
};
#define INFLATERS 8

struct snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec, vm_state_size, disk_size, icount;
};

/* One entry of the bitmap directory (persistent dirty bitmaps). On a
 * writable open every consistent bitmap (in-use flag clear) is
 * 'tracked': the writes of this open are marked in 'dirty' (at the
 * bitmap's granularity, allocated on the first mark) while enabled, and
 * folded into the stored bits at close. 'flags' are the bitmap's own; the
 * directory carries the in-use flag on top while tracked bitmaps are
 * marked in use (struct qcow2's bm_marked). */
struct bitmap_ent {
	uint64_t table_offset;
	uint32_t table_size, flags;
	uint8_t type, granularity_bits;
	char *name;
	bool tracked;
	uint8_t *dirty;
};
#define BME_IN_USE 1u
#define BME_AUTO 2u

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
	/* the bitmaps extension, when the autoclear bit vouches for it */
	uint32_t nb_bitmaps;
	struct bitmap_ent *bitmaps;
	uint64_t bm_dir_off, bm_dir_clusters; /* the directory's clusters */
	uint64_t bm_dir_size;                  /* its bytes, as the extension says */
	/* The tracked bitmaps are marked in use in the file: set before the
	 * first write this open makes (so a crash leaves them inconsistent,
	 * as the spec's in-use flag says), cleared when close stores them. */
	bool bm_marked;
	bool bm_stale; /* opened inactive: the bitmaps are not tracked */
	char *backing_name, *backing_fmt;
	struct block_dev *backing;
	bool read_only, barriers, snapshot_view;
	struct cache l2c, rbc;
	uint64_t free_hint;
	/* compressed reads under the lock (a write's partial cluster, the
	 * VM state) */
	z_stream inf;
	bool inf_ok;
	uint8_t *cbuf, *dbuf;
	uint64_t dbuf_entry; /* L2 entry dbuf holds, 0: none */
	/* qcow2_pread's decompression, outside the lock: several readers
	 * inflate at once (vmm-img convert and compare from a compressed
	 * image run on threads). A slot is taken under the lock;
	 * 'inflate_gen' counts forget_inflated's calls (every free), so an
	 * inflate, or a plain read outside the lock, that a free overtook
	 * is looked up again. */
	struct inflater inflaters[INFLATERS];
	pthread_cond_t inflater_free;
	uint64_t inflate_gen, inflate_clock;
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
	/* a freed cluster of the compressed packing area may be handed out
	 * again: the next compressed cluster must not be packed into it */
	if (!v && s->cz_off && idx >= s->cz_off >> s->cluster_bits &&
	    idx < s->cz_end >> s->cluster_bits)
		s->cz_off = s->cz_end = 0;
	ret = cache_get(s, &s->rbc, off, NULL, false, &b);
	if (ret < 0)
		return ret;
	rb_entry_set(s, b, idx & ((1ULL << s->rb_bits) - 1), v, &boff, &blen);
	if (v == 0 && idx < s->free_hint)
		s->free_hint = idx;
	return file_write(s, b + boff, blen, off + boff);
}

static void forget_inflated(struct qcow2 *s);

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
		forget_inflated(s); /* a compressed cluster's bytes may be there */
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

/* The L2 entry of guest cluster vcl in the L2 table that L1 entry l1e
 * names (the active tree's or a snapshot's). */
static int l2_entry_in(struct qcow2 *s, uint64_t l1e, uint64_t vcl, uint64_t *e)
{
	uint64_t l2off = l1e & OFF_MASK;
	uint8_t *t;
	int ret;

	*e = 0;
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

static int l2_entry(struct qcow2 *s, uint64_t vcl, uint64_t *e)
{
	uint64_t l1i = vcl >> s->l2_bits;

	*e = 0;
	return l1i < s->l1_size ? l2_entry_in(s, s->l1[l1i], vcl, e) : 0;
}

/* Where compressed cluster e's bytes lie: *off, and *clen of them that
 * the file holds; -EIO (reported) when they start past its end. */
static int compressed_extent(struct qcow2 *s, uint64_t e, uint64_t *off, uint64_t *clen)
{
	uint32_t x = 62 - (s->cluster_bits - 8);
	uint64_t nsec = (e >> x) & ((1ULL << (s->cluster_bits - 8)) - 1);

	*off = e & ((1ULL << x) - 1);
	if (*off >= s->file_size) {
		io_error(s, "compressed cluster at 0x%llx is past the end of the file",
			 (unsigned long long)*off);
		return -EIO;
	}
	*clen = MIN((nsec + 1) * 512 - (*off & 511), s->file_size - *off);
	return 0;
}

/* zlib, loaded on the first compressed cluster; under the lock. */
static int zlib_ready(struct qcow2 *s, uint64_t off)
{
	char why[160];

	if (lazylib_load(&zlib, why, sizeof(why)) < 0) {
		io_error(s, "compressed cluster at 0x%llx: %s", (unsigned long long)off, why);
		return -EIO;
	}
	return 0;
}

/* Inflates clen bytes at cbuf into one whole cluster at dbuf with stream
 * z (made on first use: *z_ok). Needs no lock: the stream and buffers are
 * the caller's, s->cs never changes. 0, -ENOMEM, or -EIO (not reported:
 * the caller reports under the lock). */
static int inflate_cluster(const struct qcow2 *s, z_stream *z, bool *z_ok, const uint8_t *cbuf,
			   uint64_t clen, uint8_t *dbuf)
{
	if (!*z_ok) {
		memset(z, 0, sizeof(*z));
		if (zl.inflateInit2_(z, -15, ZLIB_VERSION, (int)sizeof(z_stream)) != Z_OK)
			return -ENOMEM;
		*z_ok = true;
	} else {
		zl.inflateReset(z);
	}
	z->next_in = (uint8_t *)cbuf; /* zlib's API is not const-correct */
	z->avail_in = (uInt)clen;
	z->next_out = dbuf;
	z->avail_out = (uInt)s->cs;
	int ret = zl.inflate(z, Z_FINISH);
	if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR && ret != Z_OK) || z->avail_out)
		return -EIO;
	return 0;
}

/* Compressed cluster e into s->dbuf, all under the lock (for callers in
 * the middle of a metadata update, which cannot let it go). */
static int read_compressed(struct qcow2 *s, uint64_t e)
{
	uint64_t off, clen;
	int ret;

	if (s->dbuf_entry == e)
		return 0;
	s->dbuf_entry = 0;
	ret = compressed_extent(s, e, &off, &clen);
	if (!ret)
		ret = zlib_ready(s, off);
	if (!ret)
		ret = file_read(s, s->cbuf, clen, off);
	if (ret < 0)
		return ret;
	ret = inflate_cluster(s, &s->inf, &s->inf_ok, s->cbuf, clen, s->dbuf);
	if (ret == -EIO)
		io_error(s, "compressed cluster at 0x%llx does not decompress",
			 (unsigned long long)off);
	if (!ret)
		s->dbuf_entry = e;
	return ret;
}

/* Every decompressed cluster kept is forgotten: a compressed cluster's
 * place may be freed and written again (under the lock). */
static void forget_inflated(struct qcow2 *s)
{
	s->dbuf_entry = 0;
	for (unsigned i = 0; i < INFLATERS; i++)
		s->inflaters[i].entry = 0;
	s->inflate_gen++;
}

/* The slot that holds e, if one does (under the lock). */
static struct inflater *inflater_holding(struct qcow2 *s, uint64_t e)
{
	for (unsigned i = 0; i < INFLATERS; i++)
		if (s->inflaters[i].entry == e && !s->inflaters[i].busy)
			return &s->inflaters[i];
	return NULL;
}

/* A free slot, the least recently used; NULL if all are busy. */
static struct inflater *inflater_claim(struct qcow2 *s)
{
	struct inflater *best = NULL;
	for (unsigned i = 0; i < INFLATERS; i++) {
		struct inflater *f = &s->inflaters[i];
		if (!f->busy && (!best || f->used < best->used))
			best = f;
	}
	if (best && !best->cbuf) {
		best->cbuf = xzalloc(2 * s->cs);
		best->dbuf = xzalloc(s->cs);
	}
	return best;
}

/* Bytes [o, o + n) of compressed cluster e into buf, for qcow2_pread:
 * with the lock held on entry and on return, but not while reading and
 * inflating the compressed bytes into a slot of its own. The L2 entry
 * was looked up under the lock, so its bytes were in use then; they can
 * only be written over after a free, and any free bumps inflate_gen: if
 * one came in between, what was read may be another cluster's, and the
 * caller looks the entry up again (-EAGAIN). Otherwise the cluster stays
 * in the slot for the next read of it. */
static int read_compressed_unlocked(struct qcow2 *s, uint64_t e, uint8_t *buf, uint64_t o,
				    uint64_t n)
{
	struct inflater *f;
	uint64_t off, clen;
	int ret;

	if (s->dbuf_entry == e) {
		memcpy(buf, s->dbuf + o, n);
		return 0;
	}
	if ((f = inflater_holding(s, e))) {
		f->used = ++s->inflate_clock;
		memcpy(buf, f->dbuf + o, n);
		return 0;
	}
	ret = compressed_extent(s, e, &off, &clen);
	if (!ret)
		ret = zlib_ready(s, off);
	if (ret < 0)
		return ret;
	/* all slots busy: another reader frees one soon (nothing else is
	 * held here, and the entry is looked up again after the wait) */
	uint64_t gen = s->inflate_gen;
	while (!(f = inflater_claim(s)))
		pthread_cond_wait(&s->inflater_free, &s->lock);
	if (gen != s->inflate_gen)
		return -EAGAIN; /* a free while waiting: the caller looks again */
	f->entry = 0;
	f->busy = true;
	pthread_mutex_unlock(&s->lock);
	/* s->fd and s->align do not change while the image is open */
	bool read_ok = file_read(s, f->cbuf, clen, off) == 0;
	ret = read_ok ? inflate_cluster(s, &f->z, &f->z_ok, f->cbuf, clen, f->dbuf) : -EIO;
	if (!ret)
		memcpy(buf, f->dbuf + o, n);
	pthread_mutex_lock(&s->lock);
	f->busy = false;
	f->used = ++s->inflate_clock;
	pthread_cond_signal(&s->inflater_free);
	if (gen != s->inflate_gen)
		return -EAGAIN;
	f->entry = ret ? 0 : e;
	if (ret == -EIO)
		io_error(s, read_ok ? "compressed cluster at 0x%llx does not decompress" :
			 "compressed cluster at 0x%llx cannot be read", (unsigned long long)off);
	return ret;
}

/* A run of plain data clusters, read with the lock let go (other readers
 * and the writers' metadata work go on meanwhile). As for compressed
 * clusters: the entries were looked up under the lock, and their host
 * clusters can only be handed to other data after a free, which bumps
 * inflate_gen; then what was read may be another cluster's (or past a
 * shrunk end), so it is not returned and the caller looks again. A
 * guest write into the same clusters meanwhile is the guest's own race,
 * as on a raw file. */
static int read_plain_unlocked(struct qcow2 *s, uint8_t *buf, uint64_t n, uint64_t off)
{
	uint64_t gen = s->inflate_gen;

	pthread_mutex_unlock(&s->lock);
	/* s->fd and s->align do not change while the image is open */
	int ret = file_read(s, buf, n, off);
	pthread_mutex_lock(&s->lock);
	return gen != s->inflate_gen ? -EAGAIN : ret;
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
			ret = read_plain_unlocked(s, p, n, h + o);
			if (ret == -EAGAIN)
				continue; /* the clusters may have moved: looked up again */
		} else if (classify(s, e) == C_COMPRESSED) {
			ret = read_compressed_unlocked(s, e, p, o, n);
			if (ret == -EAGAIN)
				continue; /* the cluster may have moved: looked up again */
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
		forget_inflated(s);
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

/* Marks [off, off+len) in the enabled tracked bitmaps (the first time
 * marking them in use in the file); s->lock held. Below, with the
 * bitmap code. */
static int bitmaps_mark(struct qcow2 *s, uint64_t off, uint64_t len);

static int qcow2_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct qcow2 *s = QS(bd);
	const uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	ret = bitmaps_mark(s, offset, len);
	if (!ret)
		ret = write_runs(s, p, len, offset);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Whole clusters become zero clusters (v3) or, with no backing file to
 * hide and nothing allocated, stay unallocated; the rest is written.
 * Under the lock; the bitmaps are the caller's. */
static int write_zeroes(struct qcow2 *s, uint64_t len, uint64_t offset)
{
	int ret = 0;

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
				forget_inflated(s);
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
	return ret;
}

static int qcow2_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	struct qcow2 *s = QS(bd);
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = bitmaps_mark(s, offset, len);
	if (!ret)
		ret = write_zeroes(s, len, offset);
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
	/* the whole range counts as written for the bitmaps, as QEMU's */
	pthread_mutex_lock(&s->lock);
	int r = bitmaps_mark(s, offset, len);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
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
	uint64_t done = 0, e, per_l2 = s->cs << s->l2_bits;
	int state = -1, ret = 0;

	pthread_mutex_lock(&s->lock);
	/* at most 128 Ki steps under the lock (64 MiB of 512-byte clusters) */
	for (unsigned steps = 0; done < len && steps < 128 * 1024; steps++) {
		uint64_t off = offset + done, l1i = (off >> s->cluster_bits) >> s->l2_bits;
		uint64_t n = MIN(len - done, s->cs - (off & (s->cs - 1)));
		int st;
		if (l1i >= s->l1_size || !(s->l1[l1i] & OFF_MASK)) {
			/* no L2 table: its whole range is unallocated, in one step
			 * (an empty terabyte image is a few thousand steps) */
			n = MIN(len - done, per_l2 - (off & (per_l2 - 1)));
			st = 0;
		} else {
			ret = l2_entry(s, off >> s->cluster_bits, &e);
			if (ret < 0)
				break;
			st = classify(s, e) != C_UNALLOC;
		}
		if (state >= 0 && st != state)
			break;
		state = st;
		done += n;
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
	for (unsigned i = 0; i < INFLATERS; i++) {
		if (s->inflaters[i].z_ok)
			zl.inflateEnd(&s->inflaters[i].z);
		free(s->inflaters[i].cbuf);
		free(s->inflaters[i].dbuf);
	}
	for (uint32_t i = 0; s->snaps && i < s->nb_snapshots; i++) {
		free(s->snaps[i].id);
		free(s->snaps[i].name);
	}
	free(s->snaps);
	for (uint32_t i = 0; s->bitmaps && i < s->nb_bitmaps; i++) {
		free(s->bitmaps[i].name);
		free(s->bitmaps[i].dirty);
	}
	free(s->bitmaps);
	free(s->l1);
	free(s->rt);
	free(s->cbuf);
	free(s->dbuf);
	free(s->backing_name);
	free(s->backing_fmt);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->inflater_free);
	free(s);
}

/* Folds the tracked bitmaps' marks into their stored bits and clears
 * their in-use flags; s->lock held. */
static int bitmaps_store_tracked(struct qcow2 *s);

static void qcow2_close(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	pthread_mutex_lock(&s->lock);
	int ret = bitmaps_store_tracked(s);
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		fprintf(stderr, "%s: storing the dirty bitmaps failed (%s): they stay marked in "
			"use\n", s->path, strerror(-ret));
	close(s->fd);
	free_state(s);
}

/* A migration hands the image over: the bitmaps are stored now (the
 * destination owns the file from here), and tracked again if this side
 * takes it back (a failed migration's cont). */
static void qcow2_inactivate(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	pthread_mutex_lock(&s->lock);
	int ret = bitmaps_store_tracked(s);
	for (uint32_t i = 0; i < s->nb_bitmaps; i++)
		s->bitmaps[i].tracked = false;
	/* failed: they stay in use in the file, and this side writes no more
	 * (the marks are kept for a cont, which marks them in use again) */
	s->bm_marked = false;
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		fprintf(stderr, "%s: storing the dirty bitmaps failed (%s): they stay marked in "
			"use\n", s->path, strerror(-ret));
}

static void qcow2_activate(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; !bd->read_only && !s->bm_stale && i < s->nb_bitmaps; i++)
		s->bitmaps[i].tracked = !(s->bitmaps[i].flags & BME_IN_USE);
	pthread_mutex_unlock(&s->lock);
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
	.inactivate = qcow2_inactivate,
	.activate = qcow2_activate,
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

/* Bytes of a bitmap of the disk at 2^gbits granularity. */
static uint64_t bitmap_bytes(uint64_t size, unsigned gbits)
{
	uint64_t bits = (size + (1ULL << gbits) - 1) >> gbits;
	return (bits + 7) / 8;
}

/* Reads the bitmap directory the bitmaps extension 'ext' (24 bytes)
 * points to. Every field is checked: a hostile image fails to open with
 * one line, as QEMU refuses it. */
static int load_bitmaps(struct qcow2 *s, const uint8_t *ext, char *err, size_t errlen)
{
	uint32_t n = get_be32(ext);
	uint64_t dsize = get_be64(ext + 8), doff = get_be64(ext + 16);
	if (!n || n > BITMAP_MAX_COUNT || get_be32(ext + 4) || dsize > BITMAP_MAX_DIR ||
	    dsize < (uint64_t)n * 24 || !meta_ok(s, doff, dsize)) {
		snprintf(err, errlen, "invalid bitmaps extension (%u bitmaps, directory of %llu "
			 "bytes at 0x%llx)", n, (unsigned long long)dsize, (unsigned long long)doff);
		return -1;
	}
	uint8_t *d = xzalloc(dsize);
	if (file_read(s, d, dsize, doff) < 0) {
		free(d);
		snprintf(err, errlen, "cannot read the bitmap directory");
		return -1;
	}
	s->bitmaps = xzalloc(n * sizeof(*s->bitmaps));
	s->nb_bitmaps = n;
	s->bm_dir_off = doff;
	s->bm_dir_clusters = (dsize + s->cs - 1) / s->cs;
	s->bm_dir_size = dsize;
	uint64_t pos = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct bitmap_ent *b = &s->bitmaps[i];
		if (pos + 24 > dsize)
			goto bad;
		const uint8_t *e = d + pos;
		b->table_offset = get_be64(e);
		b->table_size = get_be32(e + 8);
		b->flags = get_be32(e + 12);
		b->type = e[16];
		b->granularity_bits = e[17];
		uint32_t name_size = get_be16(e + 18), extra = get_be32(e + 20);
		uint64_t len = 24 + (uint64_t)extra + name_size;
		/* QEMU's constraints: granularity 512 B-2 GiB, the table exactly
		 * as long as the bitmap needs, the bitmap at most 512 MiB (which
		 * bounds what reading it allocates) */
		uint64_t bytes = b->granularity_bits >= 9 && b->granularity_bits <= 31
					 ? bitmap_bytes(s->size, b->granularity_bits) : 0;
		if (!name_size || name_size > BITMAP_MAX_NAME || pos + len > dsize || !bytes ||
		    bytes > BITMAP_MAX_BYTES ||
		    b->table_size != MAX(1, (bytes + s->cs - 1) / s->cs) ||
		    (b->table_offset & (s->cs - 1)) || !b->table_offset ||
		    !range_ok(b->table_offset, (uint64_t)b->table_size * 8, s->file_size))
			goto bad;
		b->name = xzalloc(name_size + 1);
		memcpy(b->name, e + 24 + extra, name_size);
		pos += (len + 7) & ~7ULL;
	}
	free(d);
	return 0;
bad:
	free(d);
	snprintf(err, errlen, "invalid bitmap directory entry");
	return -1;
}

struct block_dev *qcow2_open(int fd, const char *path, bool read_only, const struct block_opts *opts,
			     unsigned depth, bool untrusted, char *err, size_t errlen);
static int header_set_bitmaps(struct qcow2 *s, uint32_t nb, uint64_t dsize, uint64_t doff);

struct block_dev *qcow2_open(int fd, const char *path, bool read_only, const struct block_opts *opts,
			     unsigned depth, bool untrusted, char *err, size_t errlen)
{
	struct qcow2 *s = xzalloc(sizeof(*s));
	uint8_t h[HDR_V3_LEN + 8], *c0 = NULL;
	struct stat st;
	struct block_dev *bd;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->inflater_free, NULL);
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
	bool stale_bitmaps = false;
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
		if (type == EXT_BITMAPS && !(s->autoclear & AUTOCLEAR_BITMAPS))
			stale_bitmaps = true;
		if (type == EXT_BITMAPS && (s->autoclear & AUTOCLEAR_BITMAPS) && !s->bitmaps) {
			if (len < 24)
				FAIL("invalid bitmaps extension");
			if (load_bitmaps(s, c0 + off + 8, err, errlen) < 0)
				goto fail;
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
		/* an inactive image's (-incoming) backing files are inactive too */
		const struct block_opts bopts = { .no_lock = opts && opts->no_lock };
		s->backing = block_open_backing(path, s->backing_name, s->backing_fmt, true, &bopts,
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
	if (!read_only && (s->autoclear & ~(s->bitmaps ? AUTOCLEAR_BITMAPS : 0))) {
		/* features vmm does not maintain become invalid; the bitmaps'
		 * bit stays: their writes are tracked (bitmaps_mark) */
		uint8_t v[8];
		s->autoclear &= s->bitmaps ? AUTOCLEAR_BITMAPS : 0;
		put_be64(v, s->autoclear);
		if (file_write(s, v, 8, 88) < 0 || barrier(s) < 0)
			FAIL("cannot update the header: %s", strerror(errno));
	}
	/* An inactive image (-incoming) may still be written by the source,
	 * whose close stores its bitmaps: this open's directory would be
	 * stale, so its writes drop the bitmaps' autoclear bit instead. */
	s->bm_stale = opts && opts->no_lock;
	for (uint32_t i = 0; !read_only && !s->bm_stale && i < s->nb_bitmaps; i++)
		s->bitmaps[i].tracked = !(s->bitmaps[i].flags & BME_IN_USE);
	/* a bitmaps extension a program without bitmaps left stale goes, as
	 * QEMU's writable open drops it (its clusters leak: check -r frees
	 * them) */
	if (!read_only && !s->bm_stale && stale_bitmaps && !s->snapshot_view) {
		int r = header_set_bitmaps(s, 0, 0, 0);
		if (!r)
			r = barrier(s);
		if (r < 0)
			FAIL("cannot update the header: %s", strerror(-r));
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
	size_t blen = backing ? strlen(backing) : 0;
	if (off + 8 + blen > cs)
		return -ENAMETOOLONG;
	/* feature name table, as the spec suggests, for tools' messages; it
	 * is optional and left out where it does not fit (512-byte clusters
	 * with a backing file: it used to overrun the header buffer) */
	if (version == 3 && off + 8 + 8 * 48 + 8 + blen <= cs) {
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

/* Where preallocation puts things in a new image, qemu-img's layout:
 * from the first free cluster, each L2 table followed by the data
 * clusters it maps; a refcount block, when an allocation passes the
 * clusters the blocks so far cover, right after that allocation. Every
 * cluster below 'end' is used once. */
struct prealloc_plan {
	uint64_t *l2;     /* per L1 entry: its table's cluster */
	uint64_t *data;   /* per L1 entry: its first data cluster */
	uint64_t *rb;     /* the added refcount blocks' clusters, in table order */
	uint64_t nrb, end;
};

static void prealloc_cover(struct prealloc_plan *p, uint64_t *covered, uint64_t E,
			   uint64_t *cap)
{
	while (p->end > *covered) {
		if (p->nrb == *cap) {
			*cap = *cap * 2 + 16;
			p->rb = realloc(p->rb, *cap * sizeof(*p->rb));
			if (!p->rb)
				abort();
		}
		p->rb[p->nrb++] = p->end++;
		*covered += E;
	}
}

static void prealloc_plan(struct prealloc_plan *p, uint64_t size, uint64_t cs, uint64_t E,
			  uint64_t l1, uint64_t first_free, uint64_t rbc)
{
	uint64_t per_l2 = cs / 8, clusters = (size + cs - 1) / cs, covered = rbc * E, cap = 0;
	p->l2 = xzalloc(MAX(1, l1) * sizeof(*p->l2));
	p->data = xzalloc(MAX(1, l1) * sizeof(*p->data));
	p->rb = NULL;
	p->nrb = 0;
	p->end = first_free;
	for (uint64_t i = 0; i < l1; i++) {
		p->l2[i] = p->end++;
		prealloc_cover(p, &covered, E, &cap);
		p->data[i] = p->end;
		p->end += MIN(per_l2, clusters - i * per_l2);
		prealloc_cover(p, &covered, E, &cap);
	}
}

static void prealloc_plan_free(struct prealloc_plan *p)
{
	free(p->l2);
	free(p->data);
	free(p->rb);
	memset(p, 0, sizeof(*p));
}

/* Writes the plan into the new image on fd (its refcount table at
 * cluster 1, rtc clusters long, its first rbc refcount blocks after it):
 * L1 and L2 entries, every cluster below p->end counted once, the added
 * blocks in the refcount table; then the data clusters as 'mode' wants. */
static int prealloc_write(int fd, const struct prealloc_plan *p, enum qcow2_prealloc mode,
			  uint64_t size, uint64_t cs, uint64_t E, struct qcow2 *rc_fmt, uint64_t l1,
			  uint64_t l1_off, uint64_t rtc, uint64_t rbc)
{
	uint64_t per_l2 = cs / 8, img_clusters = (size + cs - 1) / cs, bo, bl;
	uint8_t *b = xzalloc(cs), *t = xzalloc(MAX(8, l1 * 8));
	int ret = 0;

	if (ftruncate(fd, (off_t)(p->end * cs)) < 0)
		ret = -errno;
	for (uint64_t i = 0; i < l1 && !ret; i++) {
		uint64_t n = MIN(per_l2, img_clusters - i * per_l2);
		memset(b, 0, cs);
		for (uint64_t j = 0; j < n; j++)
			put_be64(b + j * 8, ((p->data[i] + j) * cs) | OFLAG_COPIED);
		put_be64(t + i * 8, (p->l2[i] * cs) | OFLAG_COPIED);
		ret = write_all(fd, b, cs, p->l2[i] * cs);
	}
	if (!ret)
		ret = write_all(fd, t, l1 * 8, l1_off);
	for (uint64_t ti = 0; ti < rbc + p->nrb && !ret; ti++) {
		uint64_t at = ti < rbc ? 1 + rtc + ti : p->rb[ti - rbc];
		memset(b, 0, cs);
		for (uint64_t c = ti * E; c < MIN((ti + 1) * E, p->end); c++)
			rb_entry_set(rc_fmt, b, c - ti * E, 1, &bo, &bl);
		ret = write_all(fd, b, cs, at * cs);
		if (!ret && ti >= rbc) {
			uint8_t e[8];
			put_be64(e, at * cs);
			ret = write_all(fd, e, 8, cs + ti * 8);
		}
	}
	for (uint64_t i = 0; i < l1 && !ret && mode != QCOW2_PREALLOC_METADATA; i++) {
		uint64_t from = p->data[i] * cs;
		uint64_t len = MIN(per_l2, img_clusters - i * per_l2) * cs;
		if (mode == QCOW2_PREALLOC_FALLOC) {
			int e = posix_fallocate(fd, (off_t)from, (off_t)len);
			ret = -e;
			continue;
		}
		uint8_t *z = xzalloc(MiB);
		for (uint64_t off = 0; off < len && !ret; off += MIN(MiB, len - off))
			ret = write_all(fd, z, MIN(MiB, len - off), from + off);
		free(z);
	}
	free(b);
	free(t);
	return ret;
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
	uint64_t E = 1ULL << (cb + 3 - order), rbc = 1, rtc = 1, min_rtc = 1, total;
	struct prealloc_plan plan = { 0 };
	for (;;) {
		for (int i = 0; i < 8; i++) {
			total = 1 + rtc + rbc + l1c;
			rbc = (total + E - 1) / E;
			rtc = MAX(min_rtc, (rbc * 8 + cs - 1) / cs);
		}
		total = 1 + rtc + rbc + l1c;
		if (o->prealloc == QCOW2_PREALLOC_OFF)
			break;
		prealloc_plan(&plan, o->size, cs, E, l1, total, rbc);
		/* the refcount table must hold the blocks the data needs (qemu-img
		 * moves a full one; here it is made large enough at once) */
		if (rbc + plan.nrb <= rtc * cs / 8)
			break;
		min_rtc = rtc + 1;
		prealloc_plan_free(&plan);
	}
	if (rtc * cs > MAX_REFTABLE_BYTES || plan.end << cb > MAX_HOST_OFFSET) {
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
	if (!ret && o->prealloc != QCOW2_PREALLOC_OFF)
		ret = prealloc_write(fd, &plan, o->prealloc, o->size, cs, E, &tmp, l1,
				     (1 + rtc + rbc) * cs, rtc, rbc);
	prealloc_plan_free(&plan);
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
	close(fd);
	free(b);
	if (ret < 0)
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

/* ---- persistent bitmaps: changes (vmm-img bitmap) ------------------------ */

#define BITMAP_TABLE_OFF_MASK 0x00fffffffffffe00ULL

static struct bitmap_ent *bitmap_find(struct qcow2 *s, const char *name)
{
	for (uint32_t i = 0; i < s->nb_bitmaps; i++)
		if (!strcmp(s->bitmaps[i].name, name))
			return &s->bitmaps[i];
	return NULL;
}

/* The bitmap's table, checked: every data cluster inside the file. */
static int bitmap_table(struct qcow2 *s, const struct bitmap_ent *b, uint64_t **out)
{
	uint64_t *t = xzalloc(MAX(1, (uint64_t)b->table_size) * 8);
	uint8_t *raw = xzalloc(MAX(1, (uint64_t)b->table_size) * 8);
	int ret = b->table_size ? file_read(s, raw, (uint64_t)b->table_size * 8, b->table_offset) : 0;
	for (uint32_t i = 0; i < b->table_size && !ret; i++) {
		t[i] = get_be64(raw + i * 8);
		uint64_t off = t[i] & BITMAP_TABLE_OFF_MASK;
		if (off && !meta_ok(s, off, s->cs))
			ret = -EIO;
	}
	free(raw);
	if (ret < 0) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

/* The bitmap's bits (LSB first), bitmap_bytes() long. */
static int bitmap_read_bits(struct qcow2 *s, const struct bitmap_ent *b, uint8_t **out)
{
	uint64_t n = bitmap_bytes(s->size, b->granularity_bits), *t;
	if (b->granularity_bits < 9 || b->granularity_bits > 31 ||
	    (n + s->cs - 1) / s->cs > b->table_size)
		return -EINVAL;
	int ret = bitmap_table(s, b, &t);
	if (ret < 0)
		return ret;
	uint8_t *bits = xzalloc(MAX(1, b->table_size) * s->cs);
	for (uint32_t i = 0; i < b->table_size && !ret; i++) {
		uint64_t off = t[i] & BITMAP_TABLE_OFF_MASK;
		if (off)
			ret = file_read(s, bits + i * s->cs, s->cs, off);
		else if (t[i] & 1)
			memset(bits + i * s->cs, 0xff, s->cs);
	}
	free(t);
	if (ret < 0) {
		free(bits);
		return ret;
	}
	/* tail bits past the disk are not the bitmap's */
	uint64_t nbits = (s->size + (1ULL << b->granularity_bits) - 1) >> b->granularity_bits;
	if (nbits % 8)
		bits[nbits / 8] &= (uint8_t)((1u << (nbits % 8)) - 1);
	memset(bits + n, 0, MAX(1, b->table_size) * s->cs - n);
	*out = bits;
	return 0;
}

/* Drops the references of a bitmap's table and data clusters. */
static int bitmap_release(struct qcow2 *s, const struct bitmap_ent *b)
{
	uint64_t *t;
	if (!b->table_offset)
		return 0;
	int ret = bitmap_table(s, b, &t);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < b->table_size && !ret; i++)
		if (t[i] & BITMAP_TABLE_OFF_MASK)
			ret = rc_add(s, (t[i] & BITMAP_TABLE_OFF_MASK) >> s->cluster_bits, -1);
	uint64_t tc = ((uint64_t)b->table_size * 8 + s->cs - 1) / s->cs;
	for (uint64_t i = 0; i < tc && !ret; i++)
		ret = rc_add(s, (b->table_offset >> s->cluster_bits) + i, -1);
	free(t);
	return ret;
}

/* Writes 'bits' (NULL: all clear) as b's new table and data clusters;
 * the old ones are released after. Zero clusters take no space. */
static int bitmap_store(struct qcow2 *s, struct bitmap_ent *b, const uint8_t *bits)
{
	uint64_t n = bitmap_bytes(s->size, b->granularity_bits);
	uint64_t entries = MAX(1, (n + s->cs - 1) / s->cs);
	uint64_t tc = (entries * 8 + s->cs - 1) / s->cs, first;
	uint8_t *raw = xzalloc(tc * s->cs);
	int ret = 0;
	for (uint64_t i = 0; i < entries && !ret && bits; i++) {
		const uint8_t *d = bits + i * s->cs;
		bool zero = true;
		for (uint64_t k = 0; k < s->cs && zero; k++)
			zero = !d[k];
		if (zero)
			continue;
		ret = alloc_clusters(s, 1, &first);
		if (!ret)
			ret = file_write(s, d, s->cs, first << s->cluster_bits);
		put_be64(raw + i * 8, first << s->cluster_bits);
	}
	if (!ret)
		ret = alloc_clusters(s, tc, &first);
	if (!ret)
		ret = file_write(s, raw, tc * s->cs, first << s->cluster_bits);
	if (!ret)
		ret = barrier(s);
	free(raw);
	if (ret < 0)
		return ret;
	struct bitmap_ent old = *b;
	b->table_offset = first << s->cluster_bits;
	b->table_size = (uint32_t)entries;
	return bitmap_release(s, &old);
}

/* Rewrites the first cluster's header extensions with the bitmaps
 * extension for (nb, dsize, doff), or without it when nb is 0, the
 * others kept, and the autoclear bit to match. */
static int header_set_bitmaps_in(struct qcow2 *s, uint32_t nb, uint64_t dsize, uint64_t doff,
				  bool drop_names);

/* The feature name table is optional (help for other programs): with
 * small clusters it makes room for the bitmaps extension. */
static int header_set_bitmaps(struct qcow2 *s, uint32_t nb, uint64_t dsize, uint64_t doff)
{
	int ret = header_set_bitmaps_in(s, nb, dsize, doff, false);
	return ret == -ENOSPC ? header_set_bitmaps_in(s, nb, dsize, doff, true) : ret;
}

static int header_set_bitmaps_in(struct qcow2 *s, uint32_t nb, uint64_t dsize, uint64_t doff,
				  bool drop_names)
{
	uint8_t *c0 = xzalloc(s->cs), *b = xzalloc(s->cs);
	int ret = file_read(s, c0, s->cs, 0);
	uint64_t off = s->header_length, bo = s->header_length;
	if (ret < 0)
		goto out;
	memcpy(b, c0, s->header_length);
	if (nb) {
		put_be32(b + bo, EXT_BITMAPS);
		put_be32(b + bo + 4, 24);
		put_be32(b + bo + 8, nb);
		put_be64(b + bo + 16, dsize);
		put_be64(b + bo + 24, doff);
		bo += 32;
	}
	for (;;) {
		uint32_t type = get_be32(c0 + off), len = get_be32(c0 + off + 4);
		uint64_t sz = 8 + (((uint64_t)len + 7) & ~7ULL);
		if (type == EXT_END)
			break;
		if (type != EXT_BITMAPS && !(drop_names && type == EXT_FEATURE_TABLE)) {
			if (bo + sz + 8 > s->cs) {
				ret = -ENOSPC;
				goto out;
			}
			memcpy(b + bo, c0 + off, sz);
			bo += sz;
		}
		off += sz; /* checked at open */
	}
	put_be32(b + bo, EXT_END);
	bo += 8;
	uint64_t bf_off = get_be64(c0 + 8);
	uint32_t bf_len = get_be32(c0 + 16);
	if (bf_off) {
		if (bo + bf_len > s->cs) {
			ret = -ENOSPC;
			goto out;
		}
		memcpy(b + bo, c0 + bf_off, bf_len);
		put_be64(b + 8, bo);
	}
	s->autoclear = nb ? s->autoclear | AUTOCLEAR_BITMAPS : s->autoclear & ~AUTOCLEAR_BITMAPS;
	put_be64(b + 88, s->autoclear);
	ret = file_write(s, b, s->cs, 0);
out:
	free(c0);
	free(b);
	return ret;
}

/* Writes the bitmap directory anew, points the header at it (setting
 * the autoclear bit) and releases the old directory. */
static int bitmaps_commit(struct qcow2 *s)
{
	uint64_t dsize = 0, first = 0;
	for (uint32_t i = 0; i < s->nb_bitmaps; i++)
		dsize += (24 + strlen(s->bitmaps[i].name) + 7) & ~7ULL;
	uint64_t dc = (dsize + s->cs - 1) / s->cs;
	uint8_t *d = xzalloc(MAX(1, dc) * s->cs);
	uint64_t pos = 0;
	for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
		const struct bitmap_ent *b = &s->bitmaps[i];
		size_t nl = strlen(b->name);
		put_be64(d + pos, b->table_offset);
		put_be32(d + pos + 8, b->table_size);
		put_be32(d + pos + 12, b->flags | (b->tracked && s->bm_marked ? BME_IN_USE : 0));
		d[pos + 16] = 1; /* dirty tracking bitmap */
		d[pos + 17] = b->granularity_bits;
		put_be16(d + pos + 18, (uint16_t)nl);
		memcpy(d + pos + 24, b->name, nl);
		pos += (24 + nl + 7) & ~7ULL;
	}
	int ret = 0;
	if (dc)
		ret = alloc_clusters(s, dc, &first);
	if (!ret && dc)
		ret = file_write(s, d, dc * s->cs, first << s->cluster_bits);
	if (!ret)
		ret = barrier(s);
	if (!ret)
		ret = header_set_bitmaps(s, s->nb_bitmaps, dsize, first << s->cluster_bits);
	if (!ret)
		ret = barrier(s);
	for (uint64_t i = 0; i < s->bm_dir_clusters && !ret; i++)
		ret = rc_add(s, (s->bm_dir_off >> s->cluster_bits) + i, -1);
	if (!ret) {
		s->bm_dir_off = first << s->cluster_bits;
		s->bm_dir_clusters = dc;
		s->bm_dir_size = dsize;
	}
	free(d);
	return ret;
}

/* Sets bits [from, to] of a bitmap. */
static void bits_set(uint8_t *bits, uint64_t from, uint64_t to)
{
	for (; from <= to && from % 8; from++)
		bits[from / 8] |= (uint8_t)(1u << (from % 8));
	if (from + 8 <= to + 1) {
		memset(bits + from / 8, 0xff, (to + 1 - from) / 8);
		from += (to + 1 - from) / 8 * 8;
	}
	for (; from <= to; from++)
		bits[from / 8] |= (uint8_t)(1u << (from % 8));
}

/* Before a write lands: the tracked bitmaps marked in use in the file
 * (an untracked stale directory disowned). 1 when some are tracked. */
static int bitmaps_in_use(struct qcow2 *s)
{
	bool any = false;
	int ret;

	if (!s->nb_bitmaps)
		return 0;
	if (s->bm_stale && (s->autoclear & AUTOCLEAR_BITMAPS)) {
		/* not tracked (an inactive open's stale directory): a writer
		 * that does not maintain them says so, as the spec asks */
		uint8_t v[8];
		put_be64(v, s->autoclear & ~AUTOCLEAR_BITMAPS);
		ret = file_write(s, v, 8, 88);
		if (!ret)
			ret = barrier(s);
		if (ret < 0)
			return ret;
		s->autoclear &= ~AUTOCLEAR_BITMAPS;
	}
	for (uint32_t i = 0; i < s->nb_bitmaps; i++)
		any |= s->bitmaps[i].tracked;
	if (!any)
		return 0;
	if (!s->bm_marked) {
		/* in use in the file before the first write lands */
		s->bm_marked = true;
		ret = bitmaps_commit(s);
		if (ret < 0) {
			s->bm_marked = false;
			return ret;
		}
	}
	return 1;
}

static int bitmaps_mark(struct qcow2 *s, uint64_t off, uint64_t len)
{
	int ret;

	if (!len)
		return 0;
	ret = bitmaps_in_use(s);
	if (ret <= 0)
		return ret;
	for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
		struct bitmap_ent *b = &s->bitmaps[i];
		if (!b->tracked || !(b->flags & BME_AUTO))
			continue;
		if (!b->dirty)
			b->dirty = xzalloc(bitmap_bytes(s->size, b->granularity_bits));
		uint64_t last = MIN(off + len, s->size) - 1;
		if (off <= last)
			bits_set(b->dirty, off >> b->granularity_bits, last >> b->granularity_bits);
	}
	return 0;
}

/* The bitmap's bits now: as stored, with this open's marks. */
static int bitmap_bits_now(struct qcow2 *s, const struct bitmap_ent *b, uint8_t **out)
{
	*out = NULL;
	int ret = bitmap_read_bits(s, b, out);
	if (!ret && b->dirty)
		for (uint64_t i = 0, n = bitmap_bytes(s->size, b->granularity_bits); i < n; i++)
			(*out)[i] |= b->dirty[i];
	return ret;
}

static int bitmaps_store_tracked(struct qcow2 *s)
{
	int ret = 0;
	if (!s->bm_marked)
		return 0;
	for (uint32_t i = 0; i < s->nb_bitmaps && !ret; i++) {
		struct bitmap_ent *b = &s->bitmaps[i];
		uint8_t *bits = NULL;
		if (!b->tracked || !b->dirty)
			continue;
		ret = bitmap_bits_now(s, b, &bits);
		if (!ret)
			ret = bitmap_store(s, b, bits);
		if (!ret) {
			free(b->dirty);
			b->dirty = NULL;
		}
		free(bits);
	}
	if (ret < 0)
		return ret;
	s->bm_marked = false;
	ret = bitmaps_commit(s);
	if (ret < 0)
		s->bm_marked = true;
	return ret;
}

/* Before a resize (s->lock held): every tracked bitmap's bits now, in
 * (*out)[i]. -EINVAL if a bitmap is inconsistent (QEMU refuses to resize
 * those); an inactive open's bitmaps are given up instead (bitmaps_mark). */
static int bitmaps_take(struct qcow2 *s, uint8_t ***out)
{
	int ret = 0;
	*out = NULL;
	if (!s->nb_bitmaps)
		return 0;
	if (s->bm_stale)
		return bitmaps_mark(s, 0, 1);
	for (uint32_t i = 0; i < s->nb_bitmaps; i++)
		if (!s->bitmaps[i].tracked)
			return -EINVAL;
	*out = xzalloc(s->nb_bitmaps * sizeof(**out));
	for (uint32_t i = 0; i < s->nb_bitmaps && !ret; i++)
		ret = bitmap_bits_now(s, &s->bitmaps[i], &(*out)[i]);
	return ret;
}

/* After the resize: the bits bitmaps_take got, cut or extended with
 * clear bits to the new size, stored, and the directory rewritten. */
static int bitmaps_put_resized(struct qcow2 *s, uint8_t **bits, uint64_t old_size)
{
	int ret = 0;
	for (uint32_t i = 0; bits && i < s->nb_bitmaps && !ret; i++) {
		struct bitmap_ent *b = &s->bitmaps[i];
		uint64_t n = bitmap_bytes(s->size, b->granularity_bits);
		uint64_t keep = MIN(n, bitmap_bytes(old_size, b->granularity_bits));
		uint64_t nbits = (s->size + (1ULL << b->granularity_bits) - 1) >> b->granularity_bits;
		uint8_t *nb = xzalloc(MAX(1, (n + s->cs - 1) / s->cs) * s->cs);
		memcpy(nb, bits[i], keep);
		if (nbits % 8)
			nb[nbits / 8] &= (uint8_t)((1u << (nbits % 8)) - 1);
		free(b->dirty);
		b->dirty = NULL;
		ret = bitmap_store(s, b, nb);
		free(nb);
	}
	if (!ret && bits)
		ret = bitmaps_commit(s);
	return ret;
}

static void bitmaps_free_taken(struct qcow2 *s, uint8_t **bits)
{
	for (uint32_t i = 0; bits && i < s->nb_bitmaps; i++)
		free(bits[i]);
	free(bits);
}

static int bitmap_check_name(const char *name, const char *path, char *err, size_t errlen)
{
	if (!*name)
		return set_err(err, errlen, "Bitmap name cannot be empty"), -EINVAL;
	if (strlen(name) > BITMAP_MAX_NAME)
		return set_err(err, errlen, "Can't make bitmap '%s' persistent in '%s': Name length "
			       "exceeds maximum (%d characters)", name, path, BITMAP_MAX_NAME),
		       -EINVAL;
	return 0;
}

int qcow2_bitmap_change(struct block_dev *bd, enum qcow2_bitmap_op op, const char *name,
			uint64_t granularity, const uint8_t *src_bits, uint64_t src_granularity,
			char *err, size_t errlen)
{
	struct qcow2 *s = QS(bd);
	struct bitmap_ent *b;
	uint8_t *bits = NULL;
	int ret = 0;

	if (bd->read_only || s->snapshot_view)
		return set_err(err, errlen, "the image is read-only"), -EROFS;
	if (s->version < 3)
		return set_err(err, errlen, "Cannot store dirty bitmaps in qcow2 v2 files"), -ENOTSUP;
	pthread_mutex_lock(&s->lock);
	b = bitmap_find(s, name);
	if (op == QCOW2_BITMAP_ADD) {
		unsigned gbits = 0;
		if (!granularity)
			granularity = MAX(4096, s->cs);
		while (gbits < 63 && (1ULL << gbits) < granularity)
			gbits++;
		if (b) {
			ret = -EEXIST;
			set_err(err, errlen, "Bitmap already exists: %s", name);
		} else if ((1ULL << gbits) != granularity || gbits < 9 || gbits > 31) {
			ret = -EINVAL;
			set_err(err, errlen, "Granularity must be power of 2 and at least 512");
		} else if (bitmap_bytes(s->size, gbits) > BITMAP_MAX_BYTES) {
			ret = -EFBIG;
			set_err(err, errlen, "Too large bitmap: %llu bytes (at most %llu)",
				(unsigned long long)bitmap_bytes(s->size, gbits),
				(unsigned long long)BITMAP_MAX_BYTES);
		} else if (!(ret = bitmap_check_name(name, bd->path, err, errlen)) &&
			   s->nb_bitmaps >= BITMAP_MAX_COUNT) {
			ret = -ENOSPC;
			set_err(err, errlen, "Too many bitmaps");
		}
		if (!ret) {
			s->bitmaps = realloc(s->bitmaps, (s->nb_bitmaps + 1) * sizeof(*s->bitmaps));
			if (!s->bitmaps)
				abort();
			b = &s->bitmaps[s->nb_bitmaps++];
			*b = (struct bitmap_ent){ .flags = BME_AUTO, .type = 1,
						  .granularity_bits = (uint8_t)gbits,
						  .name = xstrdup(name), .tracked = !s->bm_stale };
			ret = bitmap_store(s, b, NULL);
		}
		goto commit;
	}
	if (!b) {
		ret = -ENOENT;
		set_err(err, errlen, "Dirty bitmap '%s' not found", name);
		goto out;
	}
	switch (op) {
	case QCOW2_BITMAP_REMOVE:
		ret = bitmap_release(s, b);
		free(b->name);
		free(b->dirty);
		memmove(b, b + 1, (size_t)(s->bitmaps + s->nb_bitmaps - (b + 1)) * sizeof(*b));
		s->nb_bitmaps--;
		break;
	case QCOW2_BITMAP_CLEAR:
		free(b->dirty);
		b->dirty = NULL;
		ret = bitmap_store(s, b, NULL);
		break;
	case QCOW2_BITMAP_ENABLE:
		b->flags |= 2;
		break;
	case QCOW2_BITMAP_DISABLE:
		b->flags &= ~2u;
		break;
	case QCOW2_BITMAP_MERGE: {
		/* every byte range the source marks, marked at this one's granularity */
		ret = bitmap_bits_now(s, b, &bits);
		uint64_t sn = (s->size + src_granularity - 1) / src_granularity;
		for (uint64_t i = 0; i < sn && !ret; i++) {
			if (!(src_bits[i / 8] & (1u << (i % 8))))
				continue;
			uint64_t from = i * src_granularity;
			uint64_t to = MIN(s->size, from + src_granularity) - 1;
			for (uint64_t k = from >> b->granularity_bits; k <= to >> b->granularity_bits; k++)
				bits[k / 8] |= (uint8_t)(1u << (k % 8));
		}
		if (!ret)
			ret = bitmap_store(s, b, bits);
		break;
	}
	default:
		break;
	}
commit:
	if (!ret)
		ret = bitmaps_commit(s);
	if (ret < 0 && !*err)
		set_err(err, errlen, "%s", strerror(-ret));
out:
	pthread_mutex_unlock(&s->lock);
	free(bits);
	return ret;
}

int qcow2_bitmap_read(struct block_dev *bd, const char *name, uint8_t **bits,
		      uint64_t *granularity)
{
	struct qcow2 *s = QS(bd);
	pthread_mutex_lock(&s->lock);
	struct bitmap_ent *b = bitmap_find(s, name);
	int ret = b ? bitmap_bits_now(s, b, bits) : -ENOENT;
	if (b && !ret)
		*granularity = 1ULL << b->granularity_bits;
	pthread_mutex_unlock(&s->lock);
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

int qcow2_bitmap_list(struct block_dev *bd, struct qcow2_bitmap_info **out)
{
	struct qcow2 *s = QS(bd);
	struct qcow2_bitmap_info *v = xzalloc(MAX(1, s->nb_bitmaps) * sizeof(*v));
	for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "%s", s->bitmaps[i].name);
		v[i].granularity = 1ULL << s->bitmaps[i].granularity_bits;
		v[i].in_use = s->bitmaps[i].flags & 1;
		v[i].autom = s->bitmaps[i].flags & 2;
	}
	*out = v;
	return (int)s->nb_bitmaps;
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

/* One thread's deflate stream, reset for each cluster: raw deflate
 * with a 4 KiB window (window bits -12), as qcow2's zlib compression
 * type requires of readers' inflate (QEMU inflates with -12 too); the
 * stream is kept so that each cluster costs a reset, not an init. */
struct qcow2_deflater {
	z_stream zs;
};

int qcow2_deflater_new(struct qcow2_deflater **out)
{
	*out = NULL;
	if (lazylib_load(&zlib, NULL, 0) < 0)
		return -ENOSYS;
	struct qcow2_deflater *d = xzalloc(sizeof(*d));
	if (zl.deflateInit2_(&d->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY,
			     ZLIB_VERSION, (int)sizeof(z_stream)) != Z_OK) {
		free(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void qcow2_deflater_free(struct qcow2_deflater *d)
{
	if (!d)
		return;
	zl.deflateEnd(&d->zs);
	free(d);
}

/* A cluster is stored compressed when that saves at least one byte, as
 * qemu-img stores it (the descriptor's sector count covers any length
 * up to the cluster's at any byte offset); otherwise plain. */
int qcow2_deflate(struct qcow2_deflater *d, struct block_dev *bd, const void *buf, void *out)
{
	struct qcow2 *s = QS(bd);
	if (zl.deflateReset(&d->zs) != Z_OK)
		return -EINVAL;
	d->zs.next_in = (Bytef *)(uintptr_t)buf;
	d->zs.avail_in = (uInt)s->cs;
	d->zs.next_out = out;
	d->zs.avail_out = (uInt)(s->cs - 1);
	int ret = zl.deflate(&d->zs, Z_FINISH);
	if (ret == Z_STREAM_END)
		return (int)(s->cs - 1 - d->zs.avail_out);
	return ret == Z_OK || ret == Z_BUF_ERROR ? 0 : -EINVAL;
}

int qcow2_write_compressed(struct block_dev *bd, uint64_t offset, const void *buf)
{
	struct qcow2 *s = QS(bd);
	struct qcow2_deflater *d;
	if ((offset & (s->cs - 1)) || !range_ok(offset, s->cs, s->size) || bd->read_only)
		return -EINVAL;
	int ret = qcow2_deflater_new(&d);
	if (ret < 0)
		return ret;
	uint8_t *out = xzalloc(s->cs);
	ret = qcow2_deflate(d, bd, buf, out);
	qcow2_deflater_free(d);
	if (ret >= 0)
		ret = qcow2_write_deflated(bd, offset, buf, out, (size_t)ret);
	free(out);
	return ret;
}

/* Where the next compressed cluster of 'clen' bytes goes (s->cz_off, with
 * a reference on each host cluster it touches): packed right after the
 * previous one, as qemu-img packs them. It shares the host cluster(s) it
 * lands in (one more reference each); when it does not fit in the area,
 * the clusters it needs past its end are allocated, and when they are
 * contiguous with it (the usual case in a convert: nothing else was
 * allocated meanwhile) it runs on across the boundary, else it starts at
 * the new clusters. s->lock held. */
static int pack_compressed(struct qcow2 *s, uint64_t clen)
{
	uint64_t need = clen, first;
	int ret = 0;
	if (s->cz_off && s->cz_off < s->cz_end) {
		/* the area's part it takes (the clusters touched get a reference) */
		uint64_t in_area = MIN(clen, s->cz_end - s->cz_off);
		for (uint64_t c = s->cz_off >> s->cluster_bits;
		     c <= (s->cz_off + in_area - 1) >> s->cluster_bits && !ret; c++)
			ret = rc_add(s, c, +1);
		if (ret < 0 || in_area == clen)
			return ret;
		need = clen - in_area;
	}
	uint64_t k = (need + s->cs - 1) / s->cs;
	ret = alloc_clusters(s, k, &first);
	if (ret < 0)
		return ret;
	if (s->cz_off && s->cz_off < s->cz_end && first << s->cluster_bits == s->cz_end) {
		s->cz_end += k * s->cs; /* runs on into them */
		return 0;
	}
	/* not contiguous: the references taken in the old area go back, and
	 * the cluster starts afresh in clusters of its own */
	if (s->cz_off && s->cz_off < s->cz_end) {
		for (uint64_t c = s->cz_off >> s->cluster_bits;
		     c < s->cz_end >> s->cluster_bits && !ret; c++)
			ret = rc_add(s, c, -1);
	}
	uint64_t kk = (clen + s->cs - 1) / s->cs;
	if (!ret && kk > k) { /* needs more than the run it got */
		for (uint64_t i = 0; i < k && !ret; i++)
			ret = rc_add(s, first + i, -1);
		if (!ret)
			ret = alloc_clusters(s, kk, &first);
		k = kk;
	}
	if (ret < 0)
		return ret;
	s->cz_off = first << s->cluster_bits;
	s->cz_end = s->cz_off + k * s->cs;
	return 0;
}

int qcow2_write_deflated(struct block_dev *bd, uint64_t offset, const void *buf, const void *z,
			 size_t clen)
{
	struct qcow2 *s = QS(bd);
	uint64_t vcl = offset >> s->cluster_bits, e, l2off, idx;
	uint8_t *t, raw[8];
	int ret;

	if ((offset & (s->cs - 1)) || !range_ok(offset, s->cs, s->size) || bd->read_only ||
	    clen >= s->cs)
		return -EINVAL;
	if (!clen) /* did not shrink: stored plain */
		return block_pwrite(bd, buf, s->cs, offset);
	pthread_mutex_lock(&s->lock);
	ret = bitmaps_mark(s, offset, s->cs);
	if (!ret)
		ret = l2_entry(s, vcl, &e);
	if (ret < 0)
		goto out;
	if (classify(s, e) != C_UNALLOC) {
		pthread_mutex_unlock(&s->lock);
		return block_pwrite(bd, buf, s->cs, offset);
	}
	ret = l2_for_write(s, vcl >> s->l2_bits, &l2off, &t);
	if (ret < 0)
		goto out;
	ret = pack_compressed(s, clen);
	if (ret < 0)
		goto out;
	ret = cache_get(s, &s->l2c, l2off, NULL, false, &t);
	if (!ret)
		ret = file_write(s, z, clen, s->cz_off);
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
	/* the bitmaps extension (and its autoclear bit) goes back in */
	if (!ret && s->nb_bitmaps && s->version == 3)
		ret = header_set_bitmaps(s, s->nb_bitmaps, s->bm_dir_size, s->bm_dir_off);
	if (!ret && s->nb_bitmaps && s->version == 3)
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
	uint64_t old_size = s->size;
	uint8_t **bits;
	ret = bitmaps_take(s, &bits);
	if (!ret)
		ret = grow_l1(s, need);
	if (!ret)
		ret = set_size(bd, new_size);
	if (!ret)
		ret = bitmaps_put_resized(s, bits, old_size);
	bitmaps_free_taken(s, bits);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- amend -------------------------------------------------------------- */

/* Rewrites the header cluster for 'version' with the image's current
 * tables, backing file and snapshots; v3 gets 'compat' as its compatible
 * feature bits (lazy refcounts), v2 has none. One write, made durable. */
static int rewrite_header(struct qcow2 *s, int version, uint64_t compat)
{
	uint8_t *b = xzalloc(s->cs);
	int ret = build_header(b, s->cs, version, s->cluster_bits, s->size,
			       version == 3 ? s->refcount_order : 4, s->l1_size, s->l1_offset,
			       s->rt_offset, s->rt_clusters, s->nb_snapshots, s->snapshots_offset,
			       s->backing_name, s->backing_fmt);
	if (!ret && version == 3)
		put_be64(b + 80, compat);
	if (!ret)
		ret = file_write(s, b, s->cs, 0);
	if (!ret && fdatasync(s->fd) < 0)
		ret = -errno;
	free(b);
	if (!ret) {
		s->version = version;
		s->header_length = version == 3 ? 112 : HDR_V2_LEN;
		s->compat = version == 3 ? compat : 0;
		s->incompat = 0;
		s->autoclear = 0;
	}
	/* the bitmaps extension (and its autoclear bit) goes back in */
	if (!ret && version == 3 && s->nb_bitmaps)
		ret = header_set_bitmaps(s, s->nb_bitmaps, s->bm_dir_size, s->bm_dir_off);
	if (!ret && version == 3 && s->nb_bitmaps && fdatasync(s->fd) < 0)
		ret = -errno;
	return ret;
}

/* A zero cluster whose host cluster snapshots share, without a backing
 * file: the entry becomes unallocated (reads zeros all the same) and the
 * references of every tree that reaches it through this table go, the
 * entry first (a crash leaks only). The shared cluster keeps its data for
 * the trees that map it as data. */
static int drop_shared_zero_entry(struct qcow2 *s, uint8_t *t, uint64_t l2off, uint64_t j)
{
	uint64_t host = get_be64(t + j * 8) & OFF_MASK, trees;
	uint8_t raw[8] = { 0 };
	int ret = rc_get(s, l2off >> s->cluster_bits, &trees);
	if (!ret)
		ret = file_write(s, raw, 8, l2off + j * 8);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		return ret;
	memcpy(t + j * 8, raw, 8);
	for (uint64_t k = 0; k < trees && !ret; k++)
		ret = rc_add(s, host >> s->cluster_bits, -1);
	return ret;
}

/* One zero-flagged L2 entry made something version 2 reads the same:
 * unallocated when nothing lies beneath (no backing file), else a cluster
 * of zeros (its own preallocated one, or a new one). An unallocated entry
 * may be cleared in a table that snapshots share (every tree reads zeros
 * there either way); a cluster is only written where one tree owns it. */
static int expand_zero_entry(struct qcow2 *s, uint8_t *t, uint64_t l2off, uint64_t j)
{
	uint64_t e = get_be64(t + j * 8), host = e & OFF_MASK, c, rc = 0;
	int ret = 0;
	uint8_t raw[8];

	if (host)
		ret = rc_get(s, host >> s->cluster_bits, &rc);
	else if (s->backing_name)
		ret = rc_get(s, l2off >> s->cluster_bits, &rc);
	if (ret < 0)
		return ret;
	if (host && rc != 1 && !s->backing_name)
		return drop_shared_zero_entry(s, t, l2off, j);
	if ((host || s->backing_name) && rc != 1)
		return -ENOTSUP; /* a new cluster for several trees: not done */
	if (!host && s->backing_name) {
		ret = alloc_clusters(s, 1, &c);
		host = c << s->cluster_bits;
	}
	if (!ret && host) {
		uint8_t *z = xzalloc(s->cs);
		ret = file_write(s, z, s->cs, host);
		free(z);
		if (!ret)
			ret = barrier(s);
	}
	if (ret < 0)
		return ret;
	put_be64(raw, host ? host | OFLAG_COPIED : 0);
	ret = file_write(s, raw, 8, l2off + j * 8);
	if (!ret)
		memcpy(t + j * 8, raw, 8);
	return ret;
}

/* Expands the zero clusters of the L2 tables under one L1 table. */
static int expand_zero_tree(struct qcow2 *s, const uint64_t *l1, uint32_t l1_size)
{
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & OFF_MASK;
		uint8_t *t;
		if (!l2off)
			continue;
		if (!meta_ok(s, l2off, s->cs))
			return -EIO;
		int ret = cache_get(s, &s->l2c, l2off, NULL, false, &t);
		if (ret < 0)
			return ret;
		for (uint64_t j = 0; j < s->cs / 8; j++) {
			uint64_t e = get_be64(t + j * 8);
			if ((e & OFLAG_COMPRESSED) || !(e & OFLAG_ZERO))
				continue;
			ret = expand_zero_entry(s, t, l2off, j);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int downgrade(struct qcow2 *s, char *err, size_t errlen)
{
	if (s->refcount_order != 4) {
		snprintf(err, errlen, "compat=0.10 requires refcount_bits=16");
		return -ENOTSUP;
	}
	/* a v2 snapshot records no disk size of its own */
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (s->snaps[i].disk_size != s->size) {
			snprintf(err, errlen, "Internal snapshots prevent downgrade of image");
			return -ENOTSUP;
		}
	int ret = expand_zero_tree(s, s->l1, s->l1_size);
	for (uint32_t i = 0; !ret && i < s->nb_snapshots; i++) {
		uint64_t *l1;
		ret = load_table(s, s->snaps[i].l1_offset, s->snaps[i].l1_size, &l1);
		if (ret < 0)
			break;
		ret = expand_zero_tree(s, l1, s->snaps[i].l1_size);
		free(l1);
	}
	if (ret == -ENOTSUP)
		snprintf(err, errlen, "Cannot downgrade: zero clusters that internal snapshots "
			 "share over a backing file (not supported)");
	if (!ret)
		ret = fdatasync(s->fd) < 0 ? -errno : 0;
	if (!ret)
		ret = rewrite_header(s, 2, 0);
	return ret;
}

/* The refcounts of every cluster of the file, read from the current
 * structures; *n gets the count. */
static int read_all_refcounts(struct qcow2 *s, uint64_t **out, uint64_t *n)
{
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	*n = ((uint64_t)st.st_size + s->cs - 1) >> s->cluster_bits;
	uint64_t *rc = calloc(MAX(*n, 1), sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	for (uint64_t i = 0; i < *n; i++) {
		int ret = rc_get(s, i, &rc[i]);
		if (ret < 0) {
			free(rc);
			return ret;
		}
	}
	*out = rc;
	return 0;
}

/* Rebuilds the refcount table and blocks with entries of 2^order bits,
 * past the end of the file; the header switches to them in one write,
 * after which the old ones are free clusters (a crash before it leaves
 * the old structures in charge and the new clusters unreferenced). */
static int change_refcount_order(struct qcow2 *s, unsigned order, char *err, size_t errlen)
{
	uint64_t *rc = NULL, n = 0;
	int ret = read_all_refcounts(s, &rc, &n);
	if (ret < 0)
		return ret;
	uint64_t max = order == 6 ? UINT64_MAX : (1ULL << (1u << order)) - 1;
	for (uint64_t i = 0; i < n; i++)
		if (rc[i] > max) {
			snprintf(err, errlen, "Cannot decrease refcount entry width to %u bits: "
				 "Cluster at offset %#" PRIx64 " has a refcount of %" PRIu64,
				 1u << order, i << s->cluster_bits, rc[i]);
			free(rc);
			return -EINVAL;
		}
	/* the old structures are not counted in the new ones */
	for (uint64_t i = 0; i < s->rt_clusters; i++)
		rc[(s->rt_offset >> s->cluster_bits) + i] = 0;
	for (uint64_t i = 0; i < s->rt_entries; i++)
		if ((s->rt[i] & REFT_MASK) && (s->rt[i] >> s->cluster_bits) < n)
			rc[s->rt[i] >> s->cluster_bits] = 0;
	uint64_t per_block = 1ULL << (s->cluster_bits + 3 - order), nb = 1, nt = 1;
	for (int i = 0; i < 16; i++) {
		nb = (n + nb + nt + per_block - 1) / per_block;
		nt = (nb * 8 + s->cs - 1) >> s->cluster_bits;
	}
	uint64_t total = n + nb + nt;
	if (nt * s->cs > MAX_REFTABLE_BYTES) {
		free(rc);
		return -EFBIG;
	}
	struct qcow2 tmp = { .refcount_order = order };
	uint8_t *blocks = xzalloc(nb * s->cs), *table = xzalloc(nt * s->cs);
	uint64_t bo, bl;
	for (uint64_t i = 0; i < total; i++) {
		uint64_t v = i < n ? rc[i] : 1;
		if (v)
			rb_entry_set(&tmp, blocks + (i / per_block) * s->cs, i % per_block, v, &bo,
				     &bl);
	}
	for (uint64_t i = 0; i < nb; i++)
		put_be64(table + i * 8, (n + i) << s->cluster_bits);
	uint64_t boff = n << s->cluster_bits, toff = (n + nb) << s->cluster_bits;
	ret = file_write(s, blocks, nb * s->cs, boff);
	if (!ret)
		ret = file_write(s, table, nt * s->cs, toff);
	if (!ret && fdatasync(s->fd) < 0)
		ret = -errno;
	if (!ret) {
		/* table offset and clusters (48..59) and the order (96..99) at once */
		uint8_t h[52];
		ret = file_read(s, h, sizeof(h), 48);
		put_be64(h, toff);
		put_be32(h + 8, (uint32_t)nt);
		put_be32(h + 48, order);
		if (!ret)
			ret = file_write(s, h, sizeof(h), 48);
		if (!ret && fdatasync(s->fd) < 0)
			ret = -errno;
	}
	free(blocks);
	free(rc);
	if (ret < 0) {
		free(table);
		return ret;
	}
	free(s->rt);
	s->rt = xzalloc(nt * s->cs);
	for (uint64_t i = 0; i < nt * s->cs / 8; i++)
		s->rt[i] = get_be64(table + i * 8);
	free(table);
	s->rt_offset = toff;
	s->rt_clusters = (uint32_t)nt;
	s->rt_entries = nt * s->cs / 8;
	s->refcount_order = order;
	s->rb_bits = s->cluster_bits + 3 - order;
	s->rc_max = max;
	cache_free(&s->rbc);
	cache_init(&s->rbc, RB_CACHE_SIZE, s->cs);
	s->free_hint = 0;
	return 0;
}

int qcow2_amend(struct block_dev *bd, const struct qcow2_amend_opts *o, char *err, size_t errlen)
{
	struct qcow2 *s = QS(bd);
	int version = o->version ? o->version : s->version, ret = 0;
	unsigned order = s->refcount_order;
	bool lazy = o->lazy_refcounts >= 0 ? o->lazy_refcounts != 0 : (s->compat & COMPAT_LAZY) != 0;

	snprintf(err, errlen, "%s", "");
	if (bd->read_only || s->snapshot_view)
		return -EROFS;
	if (o->refcount_bits)
		for (order = 0; (1u << order) < o->refcount_bits; order++)
			;
	if (o->refcount_bits && o->refcount_bits != 16 && version < 3) {
		snprintf(err, errlen, "Refcount widths other than 16 bits require compatibility "
			 "level 1.1 or above (use compat=1.1 or greater)");
		return -EINVAL;
	}
	if (lazy && version < 3) {
		snprintf(err, errlen, "Lazy refcounts only supported with compatibility level 1.1 "
			 "and above (use compat=1.1 or greater)");
		return -EINVAL;
	}
	/* qemu-img 7.2 downgrades and leaves the extension behind in the v2
	 * image, its clusters leaked and the bitmaps taken as inconsistent:
	 * vmm-img refuses instead, before anything changes */
	if (version < s->version && s->nb_bitmaps) {
		snprintf(err, errlen, "Cannot downgrade an image with persistent dirty bitmaps to "
			 "compat=0.10 (remove them first with 'vmm-img bitmap --remove')");
		return -ENOTSUP;
	}
	pthread_mutex_lock(&s->lock);
	/* upgrade first, downgrade last: each step leaves a valid image */
	if (version > s->version)
		ret = rewrite_header(s, 3, lazy ? COMPAT_LAZY : 0);
	if (!ret && order != s->refcount_order)
		ret = change_refcount_order(s, order, err, errlen);
	if (!ret && version == 3 && lazy != !!(s->compat & COMPAT_LAZY))
		ret = rewrite_header(s, 3, lazy ? COMPAT_LAZY : 0);
	pthread_mutex_unlock(&s->lock);
	if (!ret && o->size && o->size > s->size)
		ret = qcow2_grow(bd, o->size);
	else if (!ret && o->size && o->size < s->size)
		ret = qcow2_shrink(bd, o->size);
	if (ret == -EBUSY)
		snprintf(err, errlen, "Can't resize an image which has snapshots");
	pthread_mutex_lock(&s->lock);
	if (!ret && version < s->version)
		ret = downgrade(s, err, errlen);
	pthread_mutex_unlock(&s->lock);
	if (ret < 0 && !*err)
		snprintf(err, errlen, "%s", strerror(-ret));
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
	pthread_mutex_lock(&s->lock);
	/* The part of the last kept cluster past the new end must read as
	 * zeros if the image is grown again. Not a write the bitmaps record:
	 * what is cut off is no data any more (qemu-img's shrink marks
	 * nothing either). */
	uint64_t tail_end = MIN(s->size, (new_size + s->cs - 1) & ~(s->cs - 1));
	ret = tail_end > new_size ? bitmaps_in_use(s) : 0;
	if (ret >= 0 && tail_end > new_size)
		ret = write_zeroes(s, tail_end - new_size, new_size);
	uint64_t old_size = s->size;
	uint8_t **bits = NULL;
	if (!ret)
		ret = bitmaps_take(s, &bits);
	/* The new size goes first: from then on nothing past it is visible. */
	if (!ret)
		ret = set_size(bd, new_size);
	uint64_t first = (new_size + s->cs - 1) >> s->cluster_bits;
	for (uint64_t l1i = first >> s->l2_bits; l1i < s->l1_size && !ret; l1i++)
		ret = shrink_table(s, l1i, first);
	forget_inflated(s);
	if (!ret)
		ret = barrier(s);
	if (!ret)
		ret = bitmaps_put_resized(s, bits, old_size);
	bitmaps_free_taken(s, bits);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* commit's emptying of an image that keeps its bitmaps: every L2 table
 * unhooked and released, as a shrink to 0 does, the size and the
 * bitmaps' bits left alone (QEMU's make_empty does not mark them). */
int qcow2_make_empty(struct block_dev *bd)
{
	struct qcow2 *s = QS(bd);
	int ret = 0;

	if (bd->read_only || s->snapshot_view)
		return -EROFS;
	if (s->nb_snapshots)
		return -EBUSY;
	pthread_mutex_lock(&s->lock);
	for (uint64_t l1i = 0; l1i < s->l1_size && !ret; l1i++)
		ret = shrink_table(s, l1i, 0);
	forget_inflated(s);
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
		/* fragmentation as qemu-img counts it: a data cluster not right
		 * after the previous one of the same L2 table, and every
		 * compressed cluster (re-read sectors even when adjacent) */
		last_host = 0;
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
					k->r->fragmented_clusters++;
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
	/* persistent bitmaps: the directory, each table and its data clusters */
	if (s->nb_bitmaps)
		ref_range(&k, s->bm_dir_off, s->bm_dir_clusters * s->cs, "bitmap directory");
	for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
		const struct bitmap_ent *b = &s->bitmaps[i];
		uint64_t *t;
		ref_range(&k, b->table_offset, (uint64_t)b->table_size * 8, "bitmap table");
		if (bitmap_table(s, b, &t) < 0) {
			fprintf(log, "ERROR bitmap '%s' has an invalid table\n", b->name);
			r->corruptions++;
			continue;
		}
		for (uint32_t j = 0; j < b->table_size; j++)
			if (t[j] & BITMAP_TABLE_OFF_MASK)
				ref_range(&k, t[j] & BITMAP_TABLE_OFF_MASK, s->cs, "bitmap data");
		free(t);
	}
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

/* The L1 entries that map a disk of 'size' bytes; the VM state area
 * starts at the first guest offset past them. */
static uint64_t disk_l1_entries(const struct qcow2 *s, uint64_t size)
{
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	return size / per + !!(size % per); /* any size: a snapshot table's may lie */
}

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
	if (s->nb_bitmaps) {
		ret = -EBUSY; /* the bitmaps cannot follow the data back: QEMU refuses too */
		goto out;
	}
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
	/* Only the entries that map the disk: a snapshot with VM state maps
	 * more, but that stays the snapshot's alone (loadvm reads it with
	 * qcow2_snapshot_vmstate_read), so the active tree never references
	 * the VM state clusters and allocates nothing past the disk. */
	uint32_t take = (uint32_t)MIN((uint64_t)sn->l1_size, disk_l1_entries(s, s->size));
	ret = grow_l1(s, take);
	old_size = s->l1_size;
	if (ret < 0)
		goto out;
	ret = load_table(s, sn->l1_offset, take, &sl1);
	if (ret < 0)
		goto out;
	/* the snapshot's tree gains the active reference first (leaks only
	 * if interrupted), then the active L1 takes its entries */
	ret = tree_refcounts(s, sl1, take, +1);
	if (!ret)
		ret = barrier(s);
	if (ret < 0)
		goto out;
	old = s->l1;
	s->l1 = xzalloc((size_t)MAX(1, s->l1_size) * 8);
	uint8_t *raw = xzalloc((size_t)MAX(1, s->l1_size) * 8);
	for (uint32_t k = 0; k < take; k++) {
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
	forget_inflated(s);
	for (unsigned k = 0; k < s->l2c.n; k++)
		s->l2c.e[k].off = 0;
out:
	free(sl1);
	free(old);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- the VM state area (savevm) ------------------------------------------ */

/* Where the VM state of a disk of 'size' bytes starts: the first guest
 * offset past the virtual size that an L1 entry of its own maps. The
 * specification leaves its place to the writer; QEMU puts it there (with
 * the size when the snapshot is taken), so images either wrote read in
 * both. */
static uint64_t vmstate_base(const struct qcow2 *s, uint64_t size)
{
	return disk_l1_entries(s, size) << (s->cluster_bits + s->l2_bits);
}

/* [pos, pos + len) of the area is within QCOW2_VMSTATE_MAX and within
 * what the largest L1 table maps. */
static bool vmstate_range_ok(const struct qcow2 *s, uint64_t size, uint64_t pos, uint64_t len)
{
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits);
	uint64_t mapped = MAX_L1_BYTES / 8 * per;

	if (pos > QCOW2_VMSTATE_MAX || len > QCOW2_VMSTATE_MAX - pos ||
	    disk_l1_entries(s, size) > MAX_L1_BYTES / 8)
		return false;
	return pos + len <= mapped - vmstate_base(s, size);
}

/* After a snapshot took the VM state: the active tree's entries past the
 * disk are cleared on disk first, then their references dropped (a crash
 * in between leaks only). */
static int discard_vmstate(struct qcow2 *s)
{
	uint8_t zero[8] = { 0 };
	int ret = 0;

	for (uint64_t i = disk_l1_entries(s, s->size); i < s->l1_size && !ret; i++) {
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
	if (!vmstate_range_ok(s, s->size, pos, len)) {
		ret = -EFBIG;
		goto out;
	}
	uint64_t offset = vmstate_base(s, s->size) + pos;
	ret = grow_l1(s, (offset + len + per - 1) / per);
	if (!ret)
		ret = write_runs(s, p, len, offset);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Reads 'len' bytes at guest offset 'offset' of a VM state area through
 * L1 entries l1[0..n), l1[k] being entry first + k of its table (the
 * entries past them map nothing). Unallocated parts read as zeros:
 * nothing of the VM state comes from a backing file. */
static int vmstate_read_tree(struct qcow2 *s, const uint64_t *l1, uint64_t first, uint64_t n,
			     uint8_t *p, size_t len, uint64_t offset)
{
	while (len) {
		uint64_t vcl = offset >> s->cluster_bits, o = offset & (s->cs - 1);
		uint64_t chunk = MIN(len, s->cs - o), l1i = vcl >> s->l2_bits, e = 0;
		int ret = 0;
		if (l1i >= first && l1i - first < n)
			ret = l2_entry_in(s, l1[l1i - first], vcl, &e);
		if (ret < 0)
			return ret;
		if (classify(s, e) == C_UNALLOC)
			memset(p, 0, chunk);
		else if ((ret = read_in_cluster(s, vcl, e, p, o, chunk)) < 0)
			return ret;
		p += chunk;
		len -= chunk;
		offset += chunk;
	}
	return 0;
}

int qcow2_vmstate_read(struct block_dev *bd, void *buf, size_t len, uint64_t pos)
{
	struct qcow2 *s = QS(bd);
	int ret = -EFBIG;

	pthread_mutex_lock(&s->lock);
	if (vmstate_range_ok(s, s->size, pos, len))
		ret = vmstate_read_tree(s, s->l1, 0, s->l1_size, buf, len,
					vmstate_base(s, s->size) + pos);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* The snapshot's VM state through the snapshot's own L1 table: only the
 * few entries the range needs are read (the table's place and size are
 * checked against the file first, as apply checks them). */
int qcow2_snapshot_vmstate_read(struct block_dev *bd, const char *name, void *buf, size_t len,
				uint64_t pos)
{
	struct qcow2 *s = QS(bd);
	uint64_t per = 1ULL << (s->cluster_bits + s->l2_bits), *l1 = NULL, first, last;
	int ret, i;

	pthread_mutex_lock(&s->lock);
	i = find_snapshot(s, name);
	if (i < 0) {
		ret = -ENOENT;
		goto out;
	}
	const struct snapshot *sn = &s->snaps[i];
	if (!vmstate_range_ok(s, sn->disk_size, pos, len)) {
		ret = -EFBIG;
		goto out;
	}
	if ((uint64_t)sn->l1_size > MAX_L1_BYTES / 8 ||
	    (sn->l1_size && !meta_ok(s, sn->l1_offset, (uint64_t)sn->l1_size * 8))) {
		ret = -EINVAL;
		goto out;
	}
	uint64_t offset = vmstate_base(s, sn->disk_size) + pos;
	first = offset / per;
	last = len ? (offset + len - 1) / per : first;
	last = MIN(last + 1, (uint64_t)sn->l1_size);
	if (first < last) {
		ret = load_table(s, sn->l1_offset + first * 8, last - first, &l1);
		if (ret < 0)
			goto out;
	}
	ret = vmstate_read_tree(s, l1, first, first < last ? last - first : 0, buf, len, offset);
out:
	free(l1);
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
