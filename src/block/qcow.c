// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qcow version 1, the format before qcow2: read, write, create, a backing
 * file, zlib-compressed clusters (read; a write to one copies it into a
 * new plain cluster). Written from the format's published layout (a
 * big-endian 48-byte header: magic "QFI\xfb", version 1, backing file
 * name offset and length, mtime, size, cluster_bits, l2_bits, crypt
 * method, L1 table offset; L1 and L2 tables of 64-bit big-endian
 * offsets; bit 63 of an L2 entry marks a compressed cluster whose byte
 * length sits in the cluster_bits bits below it and whose offset in the
 * rest). No reference counts: clusters are only ever appended.
 *
 * Every value from the file is checked before use: the header's fields
 * against fixed limits, the L1 table, L2 tables and data clusters against
 * the end of the file and the metadata at its start (a cluster that
 * overlaps the header or the L1 table is an I/O error, never written).
 *
 * Crash safety: a new L2 table or data cluster is appended and made
 * durable before the entry pointing at it is written, so a kill leaves at
 * worst an unreferenced cluster at the end of the file.
 */
#include "qcow.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lazylib.h"
#include "util.h"

#define QCOW_HEADER 48
#define QCOW_COMPRESSED (1ULL << 63)
#define QCOW_MAX_SIZE (1ULL << 50)      /* 1 PiB: keeps every sum below 2^63 */
#define QCOW_MAX_L1 (32ULL * MiB)       /* bytes of L1 table we accept */
#define QCOW_MAX_BACKING_NAME 1023

/* zlib for compressed clusters, loaded on the first one (see qcow2.c). */
static struct {
	__typeof__(inflateInit2_) *inflateInit2_;
	__typeof__(inflate) *inflate;
	__typeof__(inflateEnd) *inflateEnd;
} zq;

static const struct lazysym zq_syms[] = {
	{ "inflateInit2_", (void **)&zq.inflateInit2_ },
	{ "inflate", (void **)&zq.inflate },
	{ "inflateEnd", (void **)&zq.inflateEnd },
	{ NULL, NULL },
};
static struct lazylib zq_lib = LAZYLIB_INIT("libz.so.1", zq_syms);

struct qcow {
	pthread_mutex_t lock;
	int fd;
	bool barriers;
	unsigned cluster_bits, l2_bits;
	uint64_t cs;          /* cluster size, bytes */
	uint64_t file_size;   /* where the next cluster is appended (rounded up) */
	uint64_t meta_end;    /* header, backing name and L1 table end here */
	uint64_t l1_off;
	uint64_t l1_entries;
	uint64_t *l1;         /* host order */
	uint64_t *l2;         /* the cached L2 table, host order */
	uint64_t l2_off;      /* its offset, 0: none cached */
	uint8_t *cbuf;        /* a compressed cluster's bytes */
	uint8_t *cluster;     /* one cluster: decompressed or copy-on-write */
	char *backing_name;
	struct block_dev *backing;
};

static uint64_t l2_bytes(const struct qcow *s)
{
	return 8ULL << s->l2_bits;
}

static int barrier(struct qcow *s)
{
	return s->barriers && fdatasync(s->fd) < 0 ? -errno : 0;
}

/* Is a cluster-sized object at 'off' (L2 table or data) somewhere legal:
 * past the metadata, inside the file? */
static bool object_ok(const struct qcow *s, uint64_t off, uint64_t len)
{
	return off >= s->meta_end && range_ok(off, len, s->file_size);
}

static int load_l2(struct qcow *s, uint64_t off)
{
	if (off == s->l2_off)
		return 0;
	if (!object_ok(s, off, l2_bytes(s)))
		return -EIO;
	s->l2_off = 0;
	int ret = fd_pread_full(s->fd, s->l2, l2_bytes(s), off);
	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < (1ULL << s->l2_bits); i++)
		s->l2[i] = get_be64(&s->l2[i]);
	s->l2_off = off;
	return 0;
}

/* The L2 entry of guest cluster 'vcl' (0 when its table is missing). */
static int l2_entry(struct qcow *s, uint64_t vcl, uint64_t *e)
{
	uint64_t l1i = vcl >> s->l2_bits;
	*e = 0;
	if (l1i >= s->l1_entries)
		return -EIO;
	if (!s->l1[l1i])
		return 0;
	int ret = load_l2(s, s->l1[l1i]);
	if (ret < 0)
		return ret;
	*e = s->l2[vcl & ((1ULL << s->l2_bits) - 1)];
	return 0;
}

/* Decompresses the cluster of compressed entry 'e' into s->cluster. */
static int read_compressed(struct qcow *s, uint64_t e)
{
	unsigned shift = 63 - s->cluster_bits;
	uint64_t off = e & ((1ULL << shift) - 1);
	uint64_t len = (e >> shift) & (s->cs - 1);
	z_stream z;
	char why[160];

	if (!len || off < s->meta_end || !range_ok(off, len, s->file_size))
		return -EIO;
	int ret = fd_pread_full(s->fd, s->cbuf, len, off);
	if (ret < 0)
		return ret;
	if (lazylib_load(&zq_lib, why, sizeof(why)) < 0)
		return -EIO;
	memset(&z, 0, sizeof(z));
	if (zq.inflateInit2_(&z, -15, ZLIB_VERSION, (int)sizeof(z)) != Z_OK)
		return -ENOMEM;
	z.next_in = s->cbuf;
	z.avail_in = (uInt)len;
	z.next_out = s->cluster;
	z.avail_out = (uInt)s->cs;
	ret = zq.inflate(&z, Z_FINISH);
	zq.inflateEnd(&z);
	/* the whole cluster must come out, no more and no less */
	if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR) || z.avail_out)
		return -EIO;
	return 0;
}

static int backing_read(struct qcow *s, uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t bsize = s->backing ? s->backing->size : 0;
	uint64_t n = off < bsize ? MIN(len, bsize - off) : 0;
	if (n) {
		int ret = block_pread(s->backing, buf, n, off);
		if (ret < 0)
			return ret;
	}
	memset(buf + n, 0, len - n);
	return 0;
}

/* Reads [o, o+n) of guest cluster 'vcl', whose L2 entry is 'e'. */
static int read_piece(struct qcow *s, uint64_t vcl, uint64_t e, uint8_t *buf, uint64_t o,
		      uint64_t n)
{
	if (!e)
		return backing_read(s, buf, n, vcl * s->cs + o);
	if (e & QCOW_COMPRESSED) {
		int ret = read_compressed(s, e);
		if (ret < 0)
			return ret;
		memcpy(buf, s->cluster + o, n);
		return 0;
	}
	/* the last cluster may lie partly past the end of the file: zeros */
	if (e % s->cs || e < s->meta_end || e >= s->file_size)
		return -EIO;
	return fd_pread_full(s->fd, buf, n, e + o);
}

static int qcow_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	struct qcow *s = bd->state;
	uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t vcl = offset / s->cs, o = offset % s->cs, n = MIN(len, s->cs - o), e;
		ret = l2_entry(s, vcl, &e);
		if (!ret)
			ret = read_piece(s, vcl, e, p, o, n);
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Appends 'len' bytes at the next cluster boundary; returns the offset or
 * 0 on error (0 is never a valid place: the header is there). */
static uint64_t append(struct qcow *s, const void *buf, uint64_t len)
{
	uint64_t at = (s->file_size + s->cs - 1) / s->cs * s->cs;
	if (at > QCOW_MAX_SIZE * 2 || at >> (63 - s->cluster_bits))
		return 0; /* also keeps compressed-entry offsets representable */
	if (fd_pwrite_full(s->fd, buf, len, at) < 0)
		return 0;
	s->file_size = at + len;
	return at;
}

static int put_be64_at(struct qcow *s, uint64_t v, uint64_t off)
{
	uint8_t be[8];
	put_be64(be, v);
	return fd_pwrite_full(s->fd, be, sizeof(be), off);
}

/* Gives L1 entry 'l1i' a zeroed L2 table: table first, durable, then L1. */
static int alloc_l2(struct qcow *s, uint64_t l1i)
{
	uint8_t *zero = xzalloc(l2_bytes(s));
	uint64_t off = append(s, zero, l2_bytes(s));
	free(zero);
	if (!off)
		return -ENOSPC;
	int ret = barrier(s);
	if (!ret)
		ret = put_be64_at(s, off, s->l1_off + l1i * 8);
	if (!ret)
		s->l1[l1i] = off;
	return ret;
}

/* Writes [o, o+n) of guest cluster 'vcl' (n <= cluster size - o). */
static int write_piece(struct qcow *s, uint64_t vcl, const uint8_t *buf, uint64_t o, uint64_t n)
{
	uint64_t l1i = vcl >> s->l2_bits, l2i = vcl & ((1ULL << s->l2_bits) - 1), e;
	int ret;

	if (l1i >= s->l1_entries)
		return -EIO;
	if (!s->l1[l1i] && (ret = alloc_l2(s, l1i)) < 0)
		return ret;
	if ((ret = load_l2(s, s->l1[l1i])) < 0)
		return ret;
	e = s->l2[l2i];
	if (e && !(e & QCOW_COMPRESSED)) {
		if (e % s->cs || e < s->meta_end || e >= s->file_size)
			return -EIO;
		return fd_pwrite_full(s->fd, buf, n, e + o);
	}
	/* A new plain cluster: what the write leaves untouched keeps what it
	 * read before (backing, zeros or the decompressed cluster). */
	if (n < s->cs) {
		if (e)
			ret = read_compressed(s, e);
		else
			ret = backing_read(s, s->cluster, s->cs, vcl * s->cs);
		if (ret < 0)
			return ret;
	}
	memcpy(s->cluster + o, buf, n);
	uint64_t off = append(s, s->cluster, s->cs);
	if (!off)
		return -ENOSPC;
	if ((ret = barrier(s)) < 0)
		return ret;
	ret = put_be64_at(s, off, s->l1[l1i] + l2i * 8);
	if (!ret)
		s->l2[l2i] = off;
	return ret;
}

static int qcow_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct qcow *s = bd->state;
	const uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t vcl = offset / s->cs, o = offset % s->cs, n = MIN(len, s->cs - o);
		ret = write_piece(s, vcl, p, o, n);
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int qcow_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	struct qcow *s = bd->state;
	uint64_t e;

	pthread_mutex_lock(&s->lock);
	int ret = l2_entry(s, offset / s->cs, &e);
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		return ret;
	*pnum = MIN(len, s->cs - offset % s->cs);
	return e != 0;
}

static int qcow_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		    struct block_map *m)
{
	struct qcow *s = bd->state;
	uint64_t done = 0, e, first = 0, next = 0;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (done < len && done < 64 * MiB) {
		uint64_t off = offset + done, in = off % s->cs, n = MIN(len - done, s->cs - in);
		ret = l2_entry(s, off / s->cs, &e);
		if (ret < 0)
			break;
		uint64_t host = e && !(e & QCOW_COMPRESSED) ? e + in : 0;
		/* one run: all unallocated, one compressed cluster, or
		 * plain clusters whose host clusters follow each other */
		if (done && (!e != !first || (first & QCOW_COMPRESSED) ||
			     (e & QCOW_COMPRESSED) || host != next))
			break;
		if (!done)
			first = e;
		next = host + n;
		done += n;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0 && !done)
		return ret;
	m->allocated = first != 0;
	m->zero = !first;
	m->data = first != 0;
	m->compressed = (first & QCOW_COMPRESSED) != 0;
	if (first && !m->compressed) {
		m->has_offset = true;
		m->offset = first + offset % s->cs;
	}
	*pnum = done;
	return 0;
}

static int qcow_flush(struct block_dev *bd)
{
	struct qcow *s = bd->state;
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

static void qcow_free(struct qcow *s)
{
	block_close(s->backing);
	free(s->backing_name);
	free(s->l1);
	free(s->l2);
	free(s->cbuf);
	free(s->cluster);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void qcow_close(struct block_dev *bd)
{
	close(bd->fd);
	qcow_free(bd->state);
}

static const struct block_driver qcow_driver = {
	.name = "qcow",
	.pread = qcow_pread,
	.pwrite = qcow_pwrite,
	.flush = qcow_flush,
	.close = qcow_close,
	.status = qcow_status,
	.map = qcow_map,
};

bool block_is_qcow(const struct block_dev *bd)
{
	return bd && bd->drv == &qcow_driver;
}

const char *qcow_backing_name(const struct block_dev *bd)
{
	return block_is_qcow(bd) ? ((const struct qcow *)bd->state)->backing_name : NULL;
}

/* Checks the header 'h' of a file of 'file_size' bytes and fills 's'. */
static int parse_header(struct qcow *s, const uint8_t *h, uint64_t file_size, uint64_t *size,
			char *err, size_t errlen)
{
	uint64_t boff = get_be64(h + 8);
	uint32_t blen = get_be32(h + 16);

	*size = get_be64(h + 24);
	s->cluster_bits = h[32];
	s->l2_bits = h[33];
	s->l1_off = get_be64(h + 40);
	if (get_be32(h) != 0x514649fbU || get_be32(h + 4) != 1) {
		snprintf(err, errlen, "not a qcow version 1 image");
		return -EINVAL;
	}
	if (get_be32(h + 36)) {
		snprintf(err, errlen, "encrypted qcow images are not supported");
		return -ENOTSUP;
	}
	if (s->cluster_bits < 9 || s->cluster_bits > 16 || s->l2_bits < 6 || s->l2_bits > 16) {
		snprintf(err, errlen, "invalid qcow cluster size or L2 table size (bits %u, %u)",
			 s->cluster_bits, s->l2_bits);
		return -EINVAL;
	}
	if (*size > QCOW_MAX_SIZE) {
		snprintf(err, errlen, "qcow image size %llu is too large",
			 (unsigned long long)*size);
		return -EFBIG;
	}
	s->cs = 1ULL << s->cluster_bits;
	unsigned shift = s->cluster_bits + s->l2_bits;
	s->l1_entries = (*size + (1ULL << shift) - 1) >> shift;
	if (s->l1_entries * 8 > QCOW_MAX_L1 || s->l1_off % 8 ||
	    !range_ok(s->l1_off, s->l1_entries * 8, file_size) || s->l1_off < QCOW_HEADER) {
		snprintf(err, errlen, "qcow L1 table is invalid or past the end of the file");
		return -EINVAL;
	}
	s->meta_end = MAX(s->l1_off + s->l1_entries * 8, (uint64_t)QCOW_HEADER);
	if (boff || blen) {
		if (blen == 0 || blen > QCOW_MAX_BACKING_NAME || boff < QCOW_HEADER ||
		    !range_ok(boff, blen, file_size)) {
			snprintf(err, errlen, "qcow backing file name is invalid");
			return -EINVAL;
		}
		s->backing_name = xzalloc(blen + 1);
		if (fd_pread_full(s->fd, s->backing_name, blen, boff) < 0 ||
		    strlen(s->backing_name) != blen) {
			snprintf(err, errlen, "qcow backing file name is invalid");
			return -EINVAL;
		}
		s->meta_end = MAX(s->meta_end, boff + blen);
	}
	return 0;
}

static int read_l1(struct qcow *s)
{
	s->l1 = xzalloc(MAX(1, s->l1_entries) * 8);
	int ret = fd_pread_full(s->fd, s->l1, s->l1_entries * 8, s->l1_off);
	for (uint64_t i = 0; i < s->l1_entries; i++)
		s->l1[i] = get_be64(&s->l1[i]);
	return ret;
}

static struct block_dev *qcow_open(int fd, const char *path, bool read_only,
				   const struct block_opts *opts, unsigned depth, bool untrusted,
				   char *err, size_t errlen)
{
	struct qcow *s = xzalloc(sizeof(*s));
	uint8_t h[QCOW_HEADER];
	struct stat st;
	uint64_t size;

	pthread_mutex_init(&s->lock, NULL);
	s->fd = fd;
	s->barriers = !(opts && opts->no_barriers);
	if (fstat(fd, &st) < 0 || fd_pread_full(fd, h, sizeof(h), 0) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	if (s->file_size < QCOW_HEADER) {
		snprintf(err, errlen, "qcow header is truncated");
		goto fail;
	}
	if (parse_header(s, h, s->file_size, &size, err, errlen) < 0)
		goto fail;
	/* zlib is mapped now, during set-up, as qcow2.c does: a compressed
	 * cluster is read later under the sandbox, which maps no code */
	lazylib_load(&zq_lib, NULL, 0);
	if (read_l1(s) < 0) {
		snprintf(err, errlen, "cannot read the qcow L1 table");
		goto fail;
	}
	for (uint64_t i = 0; i < s->l1_entries; i++)
		if (s->l1[i] && !object_ok(s, s->l1[i], l2_bytes(s))) {
			snprintf(err, errlen, "qcow L2 table %llu is outside the file",
				 (unsigned long long)i);
			goto fail;
		}
	s->l2 = xzalloc(l2_bytes(s));
	s->cbuf = xzalloc(s->cs);
	s->cluster = xzalloc(s->cs);
	if (s->backing_name && !(opts && opts->no_backing)) {
		char berr[400];
		/* qcow records no backing format: it is probed, so untrusted */
		/* an inactive image's (-incoming) backing files are inactive too */
		const struct block_opts bopts = { .no_lock = opts && opts->no_lock };
		s->backing = block_open_backing(path, s->backing_name, NULL, true, &bopts, untrusted,
						true, depth + 1, berr, sizeof(berr));
		if (!s->backing) {
			snprintf(err, errlen, "could not open backing file '%s': %s",
				 s->backing_name, berr);
			goto fail;
		}
	}
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &qcow_driver;
	bd->format = "qcow";
	bd->path = xstrdup(path);
	bd->size = (size + 511) / 512 * 512; /* whole sectors, as QEMU shows it */
	bd->read_only = read_only;
	bd->fd = fd;
	bd->state = s;
	bd->cluster_size = (uint32_t)s->cs;
	return bd;
fail:
	qcow_free(s);
	return NULL;
}

/* ---- creation ------------------------------------------------------------ */

int qcow_create(const char *path, uint64_t size, const char *backing, char *err, size_t errlen)
{
	size_t blen = backing ? strlen(backing) : 0;
	/* small clusters under a backing file: less to copy on a first write */
	unsigned cluster_bits = backing ? 9 : 12, l2_bits = backing ? 12 : 9;
	unsigned shift = cluster_bits + l2_bits;
	uint64_t l1_off = (QCOW_HEADER + blen + 7) / 8 * 8;
	uint8_t h[QCOW_HEADER] = { 0 };

	if (size > QCOW_MAX_SIZE) {
		snprintf(err, errlen, "qcow image size is too large");
		return -1;
	}
	size = (size + 511) / 512 * 512; /* whole sectors, as qemu-img stores it */
	uint64_t l1_entries = (size + (1ULL << shift) - 1) >> shift;
	uint64_t l1_bytes = (l1_entries * 8 + 511) / 512 * 512;
	if (l1_entries * 8 > QCOW_MAX_L1) {
		snprintf(err, errlen, "qcow image size is too large");
		return -1;
	}
	if (blen > QCOW_MAX_BACKING_NAME) {
		snprintf(err, errlen, "backing file name is too long");
		return -1;
	}
	put_be32(h, 0x514649fbU);
	put_be32(h + 4, 1);
	if (blen) {
		put_be64(h + 8, QCOW_HEADER);
		put_be32(h + 16, (uint32_t)blen);
	}
	put_be64(h + 24, size);
	h[32] = (uint8_t)cluster_bits;
	h[33] = (uint8_t)l2_bits;
	put_be64(h + 40, l1_off);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fd_pwrite_full(fd, h, sizeof(h), 0) < 0 ||
	    (blen && fd_pwrite_full(fd, backing, blen, QCOW_HEADER) < 0) ||
	    ftruncate(fd, (off_t)(l1_off + l1_bytes)) < 0 || fdatasync(fd) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- the block layer's table entry (src/block/block_formats.c) ---------- */

static bool qcow_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && get_be32(buf) == 0x514649fbU && get_be32(buf + 4) == 1;
}

static bool qcow_has_backing(const struct block_dev *bd)
{
	return block_is_qcow(bd) && ((const struct qcow *)bd->state)->backing;
}

static struct block_dev *qcow_backing(const struct block_dev *bd)
{
	return block_is_qcow(bd) ? ((const struct qcow *)bd->state)->backing : NULL;
}

static int qcow_create_overlay(const char *path, uint64_t size, const char *backing,
			       const char *backing_fmt, char *err, size_t errlen)
{
	return qcow_create(path, size, backing, err, errlen);
}

/* Appending metadata in pieces smaller than a sector: no O_DIRECT. */
const struct block_format qcow_format = {
	.name = "qcow",
	.probe = qcow_probe,
	.open = qcow_open,
	.o_direct = false,
	.has_backing = qcow_has_backing,
	.backing = qcow_backing,
	.create_overlay = qcow_create_overlay,
};
