// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VHD ("vpc": Virtual PC, Hyper-V generation 1, Azure), fixed and dynamic:
 * read, write and create. Written from Microsoft's published "Virtual
 * Hard Disk Image Format Specification": a 512-byte big-endian footer
 * ("conectix", data offset at 16, creator application at 28, current size
 * at 48, CHS geometry at 56, disk type at 60: 2 fixed, 3 dynamic, 4
 * differencing; checksum at 64) at the end of the file, and for dynamic
 * disks a copy of it at byte 0, a 1024-byte dynamic header ("cxsparse",
 * BAT offset at 16, BAT entries at 28, block size at 32) and the block
 * allocation table: one big-endian sector number per block, 0xffffffff
 * for none. An allocated block is a sector bitmap followed by the block's
 * data. Differencing disks are refused.
 *
 * The disk size: Virtual PC sizes a disk by its CHS geometry, Hyper-V and
 * other tools by the footer's current size. As QEMU does (its
 * force_size), the geometry decides unless the creator is one of the
 * tools known to use the current size ("win ", "qem2", "d2v ", "CTXS",
 * "tap") or the geometry is the maximum 65535/16/255.
 *
 * As QEMU, reads of an allocated block ignore its sector bitmap (writers
 * set every bit; a block's unwritten sectors hold zeros).
 *
 * Every value from the file is checked: the footer's checksum, the
 * dynamic header and BAT against the end of the file, each BAT entry at
 * I/O time against the file and the metadata (an entry pointing into the
 * footer copy, the dynamic header or the BAT is an I/O error).
 *
 * Crash safety: a new block is written where the trailing footer was,
 * followed by the footer again, made durable, and only then entered in
 * the BAT.
 */
#include "vpc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define FOOTER 512
#define DYN_HEADER 1024
#define BAT_NONE 0xffffffffU
#define VHD_FIXED 2
#define VHD_DYNAMIC 3
#define VHD_DIFF 4
#define VHD_MAX_SECTORS 0xff000000ULL            /* about 2040 GiB */
#define VHD_MAX_GEOMETRY (65535ULL * 16 * 255)
#define VHD_MAX_BAT (16U * 1024 * 1024)           /* entries */
#define VHD_EPOCH 946684800                       /* 2000-01-01 UTC */

enum {
	F_COOKIE = 0, F_FEATURES = 8, F_VERSION = 12, F_DATA_OFFSET = 16, F_TIME = 24,
	F_CREATOR = 28, F_CREATOR_VER = 32, F_HOST_OS = 36, F_ORIG_SIZE = 40, F_CUR_SIZE = 48,
	F_CYLS = 56, F_HEADS = 58, F_SECS = 59, F_TYPE = 60, F_CHECKSUM = 64, F_UUID = 68,
};
enum {
	D_COOKIE = 0, D_DATA_OFFSET = 8, D_BAT = 16, D_VERSION = 24, D_ENTRIES = 28,
	D_BLOCK = 32, D_CHECKSUM = 36,
};

struct vpc {
	pthread_mutex_t lock;
	int fd;
	bool barriers;
	bool fixed;
	uint8_t footer[FOOTER];
	uint64_t dyn_off, bat_off;
	uint32_t entries;
	uint32_t *bat;         /* host order */
	uint64_t block;        /* bytes */
	uint64_t bitmap;       /* bytes of sector bitmap before each block */
	uint64_t end;          /* where the trailing footer sits (dynamic) */
	uint64_t file_size;
	uint8_t *new_block;    /* bitmap + block + footer being appended */
};

static uint32_t checksum(const uint8_t *p, size_t n, size_t skip)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < n; i++)
		if (i < skip || i >= skip + 4)
			sum += p[i];
	return ~sum;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* File offset of the data of BAT entry 'e' (a whole block), checked
 * against the file and the metadata: 0 if invalid. */
static uint64_t block_data(const struct vpc *s, uint32_t e)
{
	uint64_t start = (uint64_t)e * 512, len = s->bitmap + s->block;
	if (start < FOOTER || !range_ok(start, len, s->end) ||
	    overlaps(start, len, s->dyn_off, DYN_HEADER) ||
	    overlaps(start, len, s->bat_off, (uint64_t)s->entries * 4))
		return 0;
	return start + s->bitmap;
}

static int vpc_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	struct vpc *s = bd->state;
	uint8_t *p = buf;
	int ret = 0;

	if (s->fixed)
		return fd_pread_full(s->fd, buf, len, offset);
	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t bi = offset / s->block, o = offset % s->block, n = MIN(len, s->block - o);
		uint32_t e = bi < s->entries ? s->bat[bi] : BAT_NONE;
		if (e == BAT_NONE) {
			memset(p, 0, n);
		} else {
			uint64_t at = block_data(s, e);
			ret = at ? fd_pread_full(s->fd, p, n, at + o) : -EIO;
		}
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int barrier(struct vpc *s)
{
	return s->barriers && fdatasync(s->fd) < 0 ? -errno : 0;
}

/* Gives block 'bi' data holding [o, o+n) of 'buf', zeros elsewhere. */
static int allocate(struct vpc *s, uint64_t bi, const uint8_t *buf, uint64_t o, uint64_t n)
{
	uint64_t at = (s->end + 511) / 512 * 512;
	uint64_t total = s->bitmap + s->block;
	if ((at + total) / 512 > UINT32_MAX)
		return -ENOSPC; /* BAT entries are 32-bit sector numbers */
	uint8_t *b = s->new_block;
	memset(b, 0xff, s->bitmap);
	memset(b + s->bitmap, 0, s->block);
	memcpy(b + s->bitmap + o, buf, n);
	memcpy(b + total, s->footer, FOOTER);
	int ret = fd_pwrite_full(s->fd, b, total + FOOTER, at);
	if (!ret)
		ret = barrier(s);
	if (!ret) {
		uint8_t be[4];
		put_be32(be, (uint32_t)(at / 512));
		ret = fd_pwrite_full(s->fd, be, sizeof(be), s->bat_off + bi * 4);
	}
	if (ret)
		return ret;
	s->bat[bi] = (uint32_t)(at / 512);
	s->end = at + total;
	s->file_size = MAX(s->file_size, s->end + FOOTER);
	return 0;
}

static int vpc_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct vpc *s = bd->state;
	const uint8_t *p = buf;
	int ret = 0;

	if (s->fixed)
		return fd_pwrite_full(s->fd, buf, len, offset);
	pthread_mutex_lock(&s->lock);
	while (len && !ret) {
		uint64_t bi = offset / s->block, o = offset % s->block, n = MIN(len, s->block - o);
		if (bi >= s->entries) {
			ret = -EIO;
			break;
		}
		if (s->bat[bi] == BAT_NONE) {
			ret = allocate(s, bi, p, o, n);
		} else {
			uint64_t at = block_data(s, s->bat[bi]);
			ret = at ? fd_pwrite_full(s->fd, p, n, at + o) : -EIO;
		}
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int vpc_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	struct vpc *s = bd->state;

	if (s->fixed) {
		*pnum = len;
		return 1;
	}
	uint64_t bi = offset / s->block;
	pthread_mutex_lock(&s->lock);
	bool allocated = bi < s->entries && s->bat[bi] != BAT_NONE;
	pthread_mutex_unlock(&s->lock);
	*pnum = MIN(len, s->block - offset % s->block);
	return allocated;
}

static int vpc_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		   struct block_map *m)
{
	struct vpc *s = bd->state;
	uint64_t done = 0, next = 0;
	int kind = -1;

	m->allocated = true;
	if (s->fixed) {
		/* the data at its own offset; a hole in the file reads zeros */
		*pnum = fd_hole_run(s->fd, offset, len, &m->zero);
		m->data = true;
		m->has_offset = true;
		m->offset = offset;
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	while (done < len) {
		uint64_t off = offset + done, bi = off / s->block, o = off % s->block;
		uint64_t n = MIN(len - done, s->block - o);
		uint32_t e = bi < s->entries ? s->bat[bi] : BAT_NONE;
		uint64_t at = e == BAT_NONE ? 0 : block_data(s, e);
		int k = at != 0;
		if (kind >= 0 && (k != kind || (k && at + o != next)))
			break;
		if (kind < 0 && k) {
			m->has_offset = true;
			m->offset = at + o;
		}
		kind = k;
		next = at + o + n;
		done += n;
	}
	pthread_mutex_unlock(&s->lock);
	m->data = kind == 1;
	m->zero = kind != 1;
	*pnum = done;
	return 0;
}

static int vpc_flush(struct block_dev *bd)
{
	struct vpc *s = bd->state;
	return fdatasync(s->fd) < 0 ? -errno : 0;
}

static void vpc_free(struct vpc *s)
{
	free(s->bat);
	free(s->new_block);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void vpc_close(struct block_dev *bd)
{
	close(bd->fd);
	vpc_free(bd->state);
}

static const struct block_driver vpc_driver = {
	.name = "vpc",
	.pread = vpc_pread,
	.pwrite = vpc_pwrite,
	.flush = vpc_flush,
	.close = vpc_close,
	.status = vpc_status,
	.map = vpc_map,
};

bool block_is_vpc(const struct block_dev *bd)
{
	return bd && bd->drv == &vpc_driver;
}

/* The disk size the footer gives (see the top of this file). */
static uint64_t footer_size(const uint8_t *f)
{
	static const char *const by_size[] = { "win ", "qem2", "d2v ", "CTXS" };
	uint64_t chs = (uint64_t)get_be16(f + F_CYLS) * f[F_HEADS] * f[F_SECS];
	bool use_size = chs == VHD_MAX_GEOMETRY || !memcmp(f + F_CREATOR, "tap\0", 4);
	for (size_t i = 0; i < ARRAY_SIZE(by_size); i++)
		use_size |= !memcmp(f + F_CREATOR, by_size[i], 4);
	return use_size ? get_be64(f + F_CUR_SIZE) / 512 * 512 : chs * 512;
}

static int open_dynamic(struct vpc *s, char *err, size_t errlen)
{
	uint8_t d[DYN_HEADER];

	s->dyn_off = get_be64(s->footer + F_DATA_OFFSET);
	if (s->dyn_off < FOOTER || !range_ok(s->dyn_off, DYN_HEADER, s->end) ||
	    fd_pread_full(s->fd, d, sizeof(d), s->dyn_off) < 0 ||
	    memcmp(d + D_COOKIE, "cxsparse", 8)) {
		snprintf(err, errlen, "vpc dynamic header is missing or past the end of the file");
		return -EINVAL;
	}
	s->bat_off = get_be64(d + D_BAT);
	s->entries = get_be32(d + D_ENTRIES);
	uint32_t block = get_be32(d + D_BLOCK);
	if (block < 512 || block > 256 * MiB || (block & (block - 1))) {
		snprintf(err, errlen, "vpc block size %u is not supported", block);
		return -ENOTSUP;
	}
	s->block = block;
	s->bitmap = (block / 512 / 8 + 511) / 512 * 512;
	if (s->entries > VHD_MAX_BAT || s->bat_off < FOOTER ||
	    !range_ok(s->bat_off, (uint64_t)s->entries * 4, s->end) ||
	    overlaps(s->bat_off, (uint64_t)s->entries * 4, s->dyn_off, DYN_HEADER)) {
		snprintf(err, errlen, "vpc block allocation table is invalid or past the end of "
			 "the file");
		return -EINVAL;
	}
	s->bat = xzalloc(MAX(1, (size_t)s->entries) * 4);
	if (fd_pread_full(s->fd, s->bat, (size_t)s->entries * 4, s->bat_off) < 0) {
		snprintf(err, errlen, "cannot read the vpc block allocation table");
		return -EIO;
	}
	for (uint32_t i = 0; i < s->entries; i++)
		s->bat[i] = get_be32(&s->bat[i]);
	s->new_block = xzalloc(s->bitmap + s->block + FOOTER);
	return 0;
}

static struct block_dev *vpc_open(int fd, const char *path, bool read_only,
				  const struct block_opts *opts, unsigned depth, bool untrusted,
				  char *err, size_t errlen)
{
	struct vpc *s = xzalloc(sizeof(*s));
	struct stat st;

	pthread_mutex_init(&s->lock, NULL);
	s->fd = fd;
	s->barriers = !(opts && opts->no_barriers);
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	if (s->file_size < FOOTER || fd_pread_full(fd, s->footer, FOOTER, 0) < 0) {
		snprintf(err, errlen, "vpc image is truncated");
		goto fail;
	}
	/* a dynamic disk starts with a copy of its footer; a fixed one has it
	 * only at the end */
	s->end = s->file_size - FOOTER;
	if (memcmp(s->footer, "conectix", 8)) {
		if (fd_pread_full(fd, s->footer, FOOTER, s->end) < 0 ||
		    memcmp(s->footer, "conectix", 8)) {
			snprintf(err, errlen, "not a vpc (VHD) image: no footer");
			goto fail;
		}
	}
	if (checksum(s->footer, FOOTER, F_CHECKSUM) != get_be32(s->footer + F_CHECKSUM)) {
		snprintf(err, errlen, "vpc footer checksum is wrong");
		goto fail;
	}
	uint32_t type = get_be32(s->footer + F_TYPE);
	uint64_t size = footer_size(s->footer);
	if (type == VHD_DIFF) {
		snprintf(err, errlen, "differencing vpc (VHD) images are not supported");
		goto fail;
	}
	if (type != VHD_FIXED && type != VHD_DYNAMIC) {
		snprintf(err, errlen, "vpc disk type %u is invalid", type);
		goto fail;
	}
	if (size / 512 > VHD_MAX_SECTORS) {
		snprintf(err, errlen, "vpc image size %llu is too large", (unsigned long long)size);
		goto fail;
	}
	if (opts && opts->snapshot) {
		snprintf(err, errlen, "vpc images have no internal snapshots");
		goto fail;
	}
	s->fixed = type == VHD_FIXED;
	if (s->fixed && size > s->end) {
		snprintf(err, errlen, "fixed vpc image is shorter than its disk size");
		goto fail;
	}
	if (!s->fixed) {
		if (open_dynamic(s, err, errlen) < 0)
			goto fail;
		if ((uint64_t)s->entries * s->block < size) {
			snprintf(err, errlen, "vpc block allocation table is too small for the disk");
			goto fail;
		}
	}
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &vpc_driver;
	bd->format = "vpc";
	bd->path = xstrdup(path);
	bd->size = size;
	bd->read_only = read_only;
	bd->fd = fd;
	bd->state = s;
	bd->cluster_size = s->fixed ? 0 : (uint32_t)s->block;
	return bd;
fail:
	vpc_free(s);
	return NULL;
}

/* ---- creation ------------------------------------------------------------ */

/* The CHS geometry the VHD specification's algorithm gives 'sectors'
 * (its appendix "CHS Calculation"); the product may be below 'sectors'. */
static void chs_of(uint64_t sectors, uint16_t *c, uint8_t *h, uint8_t *spt)
{
	uint64_t cth, heads, secs;

	if (sectors > VHD_MAX_GEOMETRY)
		sectors = VHD_MAX_GEOMETRY;
	if (sectors >= 65535ULL * 16 * 63) {
		secs = 255;
		heads = 16;
		cth = sectors / secs;
	} else {
		secs = 17;
		cth = sectors / secs;
		heads = (cth + 1023) / 1024;
		if (heads < 4)
			heads = 4;
		if (cth >= heads * 1024 || heads > 16) {
			secs = 31;
			heads = 16;
			cth = sectors / secs;
		}
		if (cth >= heads * 1024) {
			secs = 63;
			heads = 16;
			cth = sectors / secs;
		}
	}
	*c = (uint16_t)MIN(cth / heads, 65535);
	*h = (uint8_t)heads;
	*spt = (uint8_t)secs;
}

static void new_uuid(uint8_t *u)
{
	if (getrandom(u, 16, 0) != 16)
		for (int i = 0; i < 16; i++)
			u[i] = (uint8_t)(random() >> 8);
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

int vpc_create(const char *path, uint64_t size, bool fixed, bool force_size, char *err,
	       size_t errlen)
{
	uint8_t f[FOOTER] = { 0 };
	uint16_t c = 0;
	uint8_t h = 0, spt = 0;
	uint64_t want = (size + 511) / 512;

	if (want > VHD_MAX_SECTORS) {
		snprintf(err, errlen, "vpc images are limited to %llu bytes",
			 (unsigned long long)(VHD_MAX_SECTORS * 512));
		return -1;
	}
	/* round up: the geometry must hold at least the size asked for */
	for (uint64_t n = want; ; n++) {
		chs_of(n, &c, &h, &spt);
		if ((uint64_t)c * h * spt >= want || (uint64_t)c * h * spt == VHD_MAX_GEOMETRY ||
		    n - want > 65535)
			break;
	}
	if (force_size) {
		/* the geometry that says "use the current size", as qemu-img writes */
		c = 65535;
		h = 16;
		spt = 255;
	}
	uint64_t chs = (uint64_t)c * h * spt;
	/* the largest geometry cannot describe the disk: the size itself */
	uint64_t bytes = force_size || chs == VHD_MAX_GEOMETRY || chs < want ? want * 512
									 : chs * 512;
	memcpy(f + F_COOKIE, "conectix", 8);
	put_be32(f + F_FEATURES, 2);
	put_be32(f + F_VERSION, 0x00010000);
	put_be64(f + F_DATA_OFFSET, fixed ? ~0ULL : FOOTER);
	put_be32(f + F_TIME, (uint32_t)(time(NULL) - VHD_EPOCH));
	memcpy(f + F_CREATOR, force_size ? "qem2" : "qemu", 4);
	put_be32(f + F_CREATOR_VER, 0x00050003);
	memcpy(f + F_HOST_OS, "Wi2k", 4);
	put_be64(f + F_ORIG_SIZE, bytes);
	put_be64(f + F_CUR_SIZE, bytes);
	put_be16(f + F_CYLS, c);
	f[F_HEADS] = h;
	f[F_SECS] = spt;
	put_be32(f + F_TYPE, fixed ? VHD_FIXED : VHD_DYNAMIC);
	new_uuid(f + F_UUID);
	put_be32(f + F_CHECKSUM, checksum(f, FOOTER, F_CHECKSUM));

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool ok = fd >= 0;
	if (ok && fixed) {
		ok = ftruncate(fd, (off_t)bytes) == 0 && fd_pwrite_full(fd, f, FOOTER, bytes) == 0;
	} else if (ok) {
		const uint64_t block = 2 * MiB, bat_off = FOOTER + DYN_HEADER;
		uint64_t entries = (bytes + block - 1) / block;
		uint64_t bat_bytes = (entries * 4 + 511) / 512 * 512;
		uint8_t d[DYN_HEADER] = { 0 };
		memcpy(d + D_COOKIE, "cxsparse", 8);
		put_be64(d + D_DATA_OFFSET, ~0ULL);
		put_be64(d + D_BAT, bat_off);
		put_be32(d + D_VERSION, 0x00010000);
		put_be32(d + D_ENTRIES, (uint32_t)entries);
		put_be32(d + D_BLOCK, (uint32_t)block);
		put_be32(d + D_CHECKSUM, checksum(d, DYN_HEADER, D_CHECKSUM));
		uint8_t *bat = xzalloc(bat_bytes);
		memset(bat, 0xff, bat_bytes);
		ok = fd_pwrite_full(fd, f, FOOTER, 0) == 0 &&
		     fd_pwrite_full(fd, d, DYN_HEADER, FOOTER) == 0 &&
		     fd_pwrite_full(fd, bat, bat_bytes, bat_off) == 0 &&
		     fd_pwrite_full(fd, f, FOOTER, bat_off + bat_bytes) == 0;
		free(bat);
	}
	if (ok)
		ok = fdatasync(fd) == 0;
	if (!ok)
		snprintf(err, errlen, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* ---- the block layer's table entry (src/block/block_formats.c) ---------- */

/* As QEMU: only a footer copy at byte 0 (a dynamic disk) is recognised;
 * a fixed disk, whose footer is only at the end, probes as raw (its
 * contents are the disk's, plus the footer sector) and opens as vpc with
 * -f vpc / format=vpc. */
static bool vpc_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "conectix", 8);
}

const struct block_format vpc_format = {
	.name = "vpc",
	.probe = vpc_probe,
	.open = vpc_open,
	.o_direct = false,
};
