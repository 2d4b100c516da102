// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VMDK: monolithic sparse (hosted sparse extent, "KDMV" header, grain
 * directory -> grain tables -> grains) and descriptor files with FLAT,
 * ZERO and SPARSE extents (monolithicFlat, twoGbMaxExtent*), read and
 * write, and creation of monolithicSparse and monolithicFlat images.
 * Written from VMware's published "Virtual Disk Format 1.1" facts. As in
 * qcow2.c every value from the file is checked before use. Not supported:
 * compressed grains (streamOptimized), parent links (delta disks).
 *
 * Crash safety of a sparse write: a new grain (or grain table) is
 * appended at the end of the file and made durable before the table
 * entry that points to it is written, so a kill leaves at worst an
 * unreferenced grain at the end of the file, never an entry pointing at
 * garbage.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "vmdk.h"
#include "util.h"

#define SECTOR 512ULL
#define VMDK_MAGIC 0x564d444bU /* "KDMV" little-endian */
#define FLAG_NL_DETECT (1u << 0)
#define FLAG_RGD (1u << 1)
#define FLAG_COMPRESSED (1u << 16)
#define MAX_EXTENTS 64
#define MAX_DESCRIPTOR (64 * KiB)

enum ext_type { EXT_FLAT, EXT_ZERO, EXT_SPARSE };

struct extent {
	enum ext_type type;
	bool writable;       /* RW in the descriptor, and opened for writing */
	int fd;
	uint64_t sectors;    /* size in the virtual disk */
	uint64_t start;      /* virtual start, bytes */
	uint64_t flat_off;   /* FLAT: byte offset in its file */
	uint64_t file_size;
	/* SPARSE */
	uint64_t grain;      /* bytes */
	uint32_t gtes;       /* entries per grain table */
	uint32_t *gd;        /* grain directory (sector offsets of tables) */
	uint32_t *rgd;       /* redundant directory, NULL when there is none */
	uint64_t gd_sector, rgd_sector;
	uint64_t gd_entries;
	char *file;          /* its file, when it is not the image itself */
	uint32_t *gt;        /* one cached grain table */
	uint64_t gt_sector;  /* which, 0: none */
};

struct vmdk {
	pthread_mutex_t lock;
	bool barriers;       /* fdatasync between a grain and its table entry */
	struct extent ext[MAX_EXTENTS];
	unsigned n;
};

static int readall(int fd, void *buf, size_t len, uint64_t off)
{
	return fd_pread_full(fd, buf, len, off);
}

/* A grain directory at 'sector', in host order; NULL on a read error. */
static uint32_t *read_directory(struct extent *e, uint64_t sector)
{
	uint32_t *d = xzalloc(MAX(1, e->gd_entries) * 4);
	if (readall(e->fd, d, e->gd_entries * 4, sector * SECTOR) < 0) {
		free(d);
		return NULL;
	}
	for (uint64_t i = 0; i < e->gd_entries; i++)
		d[i] = get_le32(&d[i]);
	return d;
}

/* Opens a hosted sparse extent; its header at byte 0 of fd. */
static int sparse_open(struct extent *e, int fd, char *err, size_t errlen, char **desc)
{
	uint8_t h[512];
	struct stat st;

	if (fstat(fd, &st) < 0 || readall(fd, h, sizeof(h), 0) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -EIO;
	}
	e->file_size = (uint64_t)st.st_size;
	if (e->file_size < sizeof(h) || get_le32(h) != VMDK_MAGIC) {
		snprintf(err, errlen, "not a vmdk sparse extent (or truncated header)");
		return -EINVAL;
	}
	uint32_t version = get_le32(h + 4), flags = get_le32(h + 8);
	uint64_t capacity = get_le64(h + 12), grain = get_le64(h + 20);
	uint64_t doff = get_le64(h + 28), dsize = get_le64(h + 36);
	uint32_t gtes = get_le32(h + 44);
	uint64_t rgdoff = get_le64(h + 48), gdoff = get_le64(h + 56);
	if (version < 1 || version > 3) {
		snprintf(err, errlen, "unsupported vmdk version %u", version);
		return -EINVAL;
	}
	if ((flags & FLAG_COMPRESSED) || get_le16(h + 77)) {
		snprintf(err, errlen, "compressed vmdk (streamOptimized) is not supported");
		return -ENOTSUP;
	}
	if (grain < 8 || grain > 2048 * 128 || (grain & (grain - 1))) {
		snprintf(err, errlen, "invalid vmdk grain size (%llu sectors)",
			 (unsigned long long)grain);
		return -EINVAL;
	}
	if (gtes < 1 || gtes > 65536) {
		snprintf(err, errlen, "invalid vmdk grain table size (%u)", gtes);
		return -EINVAL;
	}
	if (capacity > (1ULL << 44)) {
		snprintf(err, errlen, "vmdk capacity %llu sectors is too large",
			 (unsigned long long)capacity);
		return -EFBIG;
	}
	uint64_t grains = (capacity + grain - 1) / grain;
	e->gd_entries = (grains + gtes - 1) / gtes;
	if (e->gd_entries > 16 * MiB / 4 || gdoff > e->file_size / SECTOR ||
	    !range_ok(gdoff * SECTOR, e->gd_entries * 4, e->file_size)) {
		snprintf(err, errlen, "vmdk grain directory is past the end of the file");
		return -EINVAL;
	}
	e->fd = fd;
	e->sectors = capacity;
	e->grain = grain * SECTOR;
	e->gtes = gtes;
	e->gd = read_directory(e, gdoff);
	if (!e->gd) {
		snprintf(err, errlen, "cannot read the vmdk grain directory");
		return -EIO;
	}
	e->gd_sector = gdoff;
	if ((flags & FLAG_RGD) && rgdoff && rgdoff != gdoff &&
	    range_ok(rgdoff * SECTOR, e->gd_entries * 4, e->file_size)) {
		e->rgd = read_directory(e, rgdoff);
		if (!e->rgd) {
			snprintf(err, errlen, "cannot read the vmdk redundant grain directory");
			return -EIO;
		}
		e->rgd_sector = rgdoff;
	}
	e->gt = xzalloc((size_t)gtes * 4);
	if (desc && doff && dsize && dsize <= MAX_DESCRIPTOR / SECTOR &&
	    range_ok(doff * SECTOR, dsize * SECTOR, e->file_size)) {
		*desc = xzalloc(dsize * SECTOR + 1);
		readall(fd, *desc, dsize * SECTOR, doff * SECTOR);
	}
	return 0;
}

/* Makes the grain table at sector 'gts' the cached one. */
static int load_gt(struct extent *e, uint64_t gts)
{
	if (gts == e->gt_sector)
		return 0;
	if (!range_ok(gts * SECTOR, (uint64_t)e->gtes * 4, e->file_size))
		return -EIO;
	if (readall(e->fd, e->gt, (size_t)e->gtes * 4, gts * SECTOR) < 0) {
		e->gt_sector = 0;
		return -EIO;
	}
	for (uint32_t i = 0; i < e->gtes; i++)
		e->gt[i] = get_le32(&e->gt[i]);
	e->gt_sector = gts;
	return 0;
}

static int sparse_read(struct extent *e, uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		uint64_t g = off / e->grain, o = off % e->grain, n = MIN(len, e->grain - o);
		uint64_t gdi = g / e->gtes, gti = g % e->gtes, gts, gs;
		if (gdi >= e->gd_entries || !(gts = e->gd[gdi])) {
			memset(buf, 0, n);
			goto next;
		}
		if (load_gt(e, gts) < 0)
			return -EIO;
		gs = e->gt[gti];
		if (gs <= 1) { /* 0 unallocated, 1 zero grain: both zeros here */
			memset(buf, 0, n);
			goto next;
		}
		if (gs * SECTOR >= e->file_size)
			return -EIO;
		if (readall(e->fd, buf, n, gs * SECTOR + o) < 0)
			return -EIO;
next:
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int barrier(struct vmdk *v, struct extent *e)
{
	if (v->barriers && fdatasync(e->fd) < 0)
		return -errno;
	return 0;
}

/* Appends 'len' bytes at the sector-aligned end of the extent file and
 * returns the sector they start at (0 on error). Sector numbers in the
 * tables are 32 bits: an extent file is at most 2 TiB. */
static uint64_t append(struct extent *e, const void *buf, uint64_t len)
{
	uint64_t sector = (e->file_size + SECTOR - 1) / SECTOR;
	if (sector + (len + SECTOR - 1) / SECTOR > UINT32_MAX)
		return 0;
	if (fd_pwrite_full(e->fd, buf, len, sector * SECTOR) < 0)
		return 0;
	e->file_size = sector * SECTOR + len;
	return sector;
}

static int put_entry(struct extent *e, uint64_t table_sector, uint64_t index, uint32_t value)
{
	uint8_t le[4];
	put_le32(le, value);
	return fd_pwrite_full(e->fd, le, 4, table_sector * SECTOR + index * 4) < 0 ? -EIO : 0;
}

/* Gives directory entry 'gdi' a zeroed grain table (and its redundant
 * copy): tables first, durable, then the directory entries. */
static int alloc_gt(struct vmdk *v, struct extent *e, uint64_t gdi)
{
	uint64_t bytes = ((uint64_t)e->gtes * 4 + SECTOR - 1) / SECTOR * SECTOR;
	uint8_t *zero = xzalloc(bytes);
	uint64_t gts = append(e, zero, bytes), rgts = 0;
	if (gts && e->rgd)
		rgts = append(e, zero, bytes);
	free(zero);
	if (!gts || (e->rgd && !rgts))
		return -ENOSPC;
	int ret = barrier(v, e);
	if (!ret)
		ret = put_entry(e, e->gd_sector, gdi, (uint32_t)gts);
	if (!ret && e->rgd)
		ret = put_entry(e, e->rgd_sector, gdi, (uint32_t)rgts);
	if (ret)
		return ret;
	e->gd[gdi] = (uint32_t)gts;
	if (e->rgd)
		e->rgd[gdi] = (uint32_t)rgts;
	return 0;
}

/* Points grain 'gti' of table 'gdi' at 'gs' in both tables. */
static int set_grain(struct extent *e, uint64_t gdi, uint64_t gti, uint32_t gs)
{
	int ret = put_entry(e, e->gd[gdi], gti, gs);
	if (!ret && e->rgd && e->rgd[gdi] && e->rgd[gdi] != e->gd[gdi] &&
	    range_ok(e->rgd[gdi] * SECTOR, (uint64_t)e->gtes * 4, e->file_size))
		ret = put_entry(e, e->rgd[gdi], gti, gs);
	if (!ret)
		e->gt[gti] = gs;
	return ret;
}

/* Writes one piece that lies within a single grain. */
static int sparse_write_grain(struct vmdk *v, struct extent *e, const uint8_t *buf,
			      uint64_t n, uint64_t off)
{
	uint64_t g = off / e->grain, o = off % e->grain;
	uint64_t gdi = g / e->gtes, gti = g % e->gtes;
	int ret;

	if (gdi >= e->gd_entries)
		return -EIO;
	if (!e->gd[gdi] && (ret = alloc_gt(v, e, gdi)) < 0)
		return ret;
	if (load_gt(e, e->gd[gdi]) < 0)
		return -EIO;
	uint64_t gs = e->gt[gti];
	if (gs > 1) {
		if (gs * SECTOR >= e->file_size)
			return -EIO;
		return fd_pwrite_full(e->fd, buf, n, gs * SECTOR + o) < 0 ? -EIO : 0;
	}
	/* A new grain: the untouched rest of it reads as zeros, as before. */
	uint8_t *grain = xzalloc(e->grain);
	memcpy(grain + o, buf, n);
	uint64_t sector = append(e, grain, e->grain);
	free(grain);
	if (!sector)
		return -ENOSPC;
	if ((ret = barrier(v, e)) < 0)
		return ret;
	return set_grain(e, gdi, gti, (uint32_t)sector);
}

static int sparse_write(struct vmdk *v, struct extent *e, const uint8_t *buf, uint64_t len,
			uint64_t off)
{
	while (len) {
		uint64_t n = MIN(len, e->grain - off % e->grain);
		int ret = sparse_write_grain(v, e, buf, n, off);
		if (ret < 0)
			return ret;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

typedef int (*extent_io_fn)(struct vmdk *v, struct extent *e, uint8_t *p, uint64_t n,
			    uint64_t off);

/* Splits [offset, offset+len) over the extents, under the lock; returns
 * the first error, and in *left what lies past the last extent. */
static int each_extent(struct vmdk *v, uint8_t *p, size_t len, uint64_t offset, extent_io_fn fn,
		       size_t *left)
{
	int ret = 0;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < v->n && len && !ret; i++) {
		struct extent *e = &v->ext[i];
		uint64_t end = e->start + e->sectors * SECTOR;
		if (offset >= end)
			continue;
		uint64_t n = MIN(len, end - offset);
		ret = fn(v, e, p, n, offset - e->start);
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&v->lock);
	*left = len;
	return ret;
}

static int extent_read(struct vmdk *v, struct extent *e, uint8_t *p, uint64_t n, uint64_t o)
{
	switch (e->type) {
	case EXT_ZERO:
		memset(p, 0, n);
		return 0;
	case EXT_FLAT:
		return readall(e->fd, p, n, e->flat_off + o);
	default:
		return sparse_read(e, p, n, o);
	}
}

static int extent_write(struct vmdk *v, struct extent *e, uint8_t *p, uint64_t n, uint64_t o)
{
	if (!e->writable || e->type == EXT_ZERO)
		return -EIO; /* RDONLY/NOACCESS extents, ZERO extents: no storage */
	if (e->type == EXT_FLAT)
		return fd_pwrite_full(e->fd, p, n, e->flat_off + o) < 0 ? -EIO : 0;
	return sparse_write(v, e, p, n, o);
}

static int vmdk_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	size_t left;
	int ret = each_extent(bd->state, buf, len, offset, extent_read, &left);
	if (!ret && left)
		memset((uint8_t *)buf + len - left, 0, left);
	return ret;
}

static int vmdk_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	size_t left;
	if (bd->read_only)
		return -EROFS;
	/* extent_write only reads the buffer: the cast keeps one signature */
	int ret = each_extent(bd->state, (uint8_t *)(uintptr_t)buf, len, offset, extent_write,
			      &left);
	return !ret && left ? -EIO : ret; /* past the last extent */
}

static int vmdk_flush(struct block_dev *bd)
{
	struct vmdk *v = bd->state;
	int ret = 0;

	if (bd->read_only)
		return 0;
	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < v->n; i++)
		if (v->ext[i].writable && fdatasync(v->ext[i].fd) < 0)
			ret = -errno;
	pthread_mutex_unlock(&v->lock);
	return ret;
}

static void vmdk_free(struct vmdk *v)
{
	for (unsigned i = 0; i < v->n; i++) {
		if (v->ext[i].fd >= 0)
			close(v->ext[i].fd);
		free(v->ext[i].gd);
		free(v->ext[i].rgd);
		free(v->ext[i].gt);
		free(v->ext[i].file);
	}
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static void vmdk_close(struct block_dev *bd)
{
	/* bd->fd is the first extent's or the descriptor's: closed here */
	struct vmdk *v = bd->state;
	bool owned = false;
	for (unsigned i = 0; i < v->n; i++)
		if (v->ext[i].fd == bd->fd)
			owned = true;
	if (!owned)
		close(bd->fd);
	vmdk_free(v);
}

/* vmm-img map within one extent, from extent offset 'o'. */
static void extent_map(struct extent *e, uint64_t o, uint64_t len, uint64_t *pnum,
		       struct block_map *m)
{
	m->file = e->file;
	if (e->type == EXT_ZERO) {
		m->allocated = m->zero = true;
		*pnum = len;
		return;
	}
	if (e->type == EXT_FLAT) { /* a hole in the extent file reads zeros */
		uint64_t at = e->flat_off + o;
		*pnum = fd_hole_run(e->fd, at, len, &m->zero);
		m->allocated = m->data = m->has_offset = true;
		m->offset = at;
		return;
	}
	/* sparse: runs of unallocated grains, zero grains, or grains whose
	 * sectors follow each other */
	uint64_t done = 0, next = 0;
	int kind = -1;
	while (done < len) {
		uint64_t off = o + done, g = off / e->grain, in = off % e->grain;
		uint64_t n = MIN(len - done, e->grain - in), gdi = g / e->gtes, gs = 0;
		if (gdi < e->gd_entries && e->gd[gdi] && load_gt(e, e->gd[gdi]) == 0)
			gs = e->gt[g % e->gtes];
		int k = gs > 1 ? 2 : (int)gs; /* 0 unallocated, 1 zero, 2 data */
		uint64_t host = gs * SECTOR + in;
		if (kind >= 0 && (k != kind || (k == 2 && host != next)))
			break;
		if (kind < 0 && k == 2) {
			m->has_offset = true;
			m->offset = host;
		}
		kind = k;
		next = host + n;
		done += n;
	}
	m->allocated = kind != 0;
	m->zero = kind != 2;
	m->data = kind == 2;
	*pnum = done;
}

static int vmdk_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		    struct block_map *m)
{
	struct vmdk *v = bd->state;

	pthread_mutex_lock(&v->lock);
	*pnum = len; /* past the last extent: zeros, nobody's */
	m->zero = true;
	for (unsigned i = 0; i < v->n; i++) {
		struct extent *e = &v->ext[i];
		uint64_t end = e->start + e->sectors * SECTOR;
		if (offset >= end)
			continue;
		m->zero = false;
		extent_map(e, offset - e->start, MIN(len, end - offset), pnum, m);
		break;
	}
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static const struct block_driver vmdk_driver = {
	.name = "vmdk",
	.pread = vmdk_pread,
	.pwrite = vmdk_pwrite,
	.flush = vmdk_flush,
	.close = vmdk_close,
	.map = vmdk_map,
};

/* Parses descriptor text; extents are added to v. sparse_fd: the file
 * itself when the descriptor is embedded in a monolithic sparse file.
 * 'untrusted': extent files must be beneath the descriptor's directory. */
static int parse_descriptor(struct vmdk *v, const char *path, char *text, int self_fd,
			    bool read_only, bool untrusted, char *err, size_t errlen)
{
	uint64_t start = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char access[16], type[16], name[1024];
		unsigned long long sectors, off = 0;
		while (isspace((unsigned char)*line))
			line++;
		if (!strncmp(line, "parentCID", 9)) {
			char *eq = strchr(line, '=');
			if (eq && strtoul(eq + 1, NULL, 16) != 0xffffffffUL) {
				snprintf(err, errlen, "vmdk delta disks (parent links) are not supported");
				return -ENOTSUP;
			}
			continue;
		}
		if (strncmp(line, "RW ", 3) && strncmp(line, "RDONLY ", 7) &&
		    strncmp(line, "NOACCESS ", 9))
			continue;
		int k = sscanf(line, "%15s %llu %15s \"%1023[^\"]\" %llu", access, &sectors, type,
			       name, &off);
		if (k < 3) {
			snprintf(err, errlen, "bad vmdk extent line");
			return -EINVAL;
		}
		if (v->n >= MAX_EXTENTS || sectors > (1ULL << 44) ||
		    start + sectors * SECTOR < start) {
			snprintf(err, errlen, "too many or too large vmdk extents");
			return -EINVAL;
		}
		struct extent *e = &v->ext[v->n];
		memset(e, 0, sizeof(*e));
		e->fd = -1;
		e->start = start;
		e->sectors = sectors;
		if (!strcmp(type, "ZERO")) {
			e->type = EXT_ZERO;
		} else if (!strcmp(type, "FLAT") || !strcmp(type, "SPARSE")) {
			if (k < 4) {
				snprintf(err, errlen, "vmdk extent without a file name");
				return -EINVAL;
			}
			int fd;
			bool rw = !read_only && !strcmp(access, "RW");
			if (self_fd >= 0 && !strcmp(type, "SPARSE")) {
				fd = dup(self_fd);
			} else {
				char *p;
				fd = block_open_named(path, name, rw ? O_RDWR : O_RDONLY, untrusted,
						      &p);
				if (fd < 0) {
					free(p);
					block_named_error(err, errlen, "vmdk extent", name, fd);
					return fd;
				}
				e->file = p; /* freed with the extent */
			}
			if (fd < 0) {
				snprintf(err, errlen, "cannot open vmdk extent '%s': %s", name,
					 strerror(errno));
				return -errno;
			}
			e->fd = fd;
			e->writable = rw;
			v->n++;
			if (!strcmp(type, "FLAT")) {
				struct stat st;
				e->type = EXT_FLAT;
				e->flat_off = off * SECTOR;
				if (fstat(fd, &st) < 0 || off > (1ULL << 50)) {
					snprintf(err, errlen, "bad vmdk flat extent '%s'", name);
					return -EINVAL;
				}
				e->file_size = (uint64_t)st.st_size;
			} else {
				e->type = EXT_SPARSE;
				int ret = sparse_open(e, fd, err, errlen, NULL);
				if (ret < 0)
					return ret;
				e->sectors = sectors; /* the descriptor's view wins */
			}
			start += sectors * SECTOR;
			continue;
		} else {
			snprintf(err, errlen, "vmdk extent type '%s' is not supported", type);
			return -ENOTSUP;
		}
		v->n++;
		start += sectors * SECTOR;
	}
	if (!v->n) {
		snprintf(err, errlen, "vmdk descriptor lists no extents");
		return -EINVAL;
	}
	return 0;
}

struct block_dev *vmdk_open(int fd, const char *path, bool read_only,
			    const struct block_opts *opts, bool untrusted, char *err,
			    size_t errlen)
{
	struct vmdk *v = xzalloc(sizeof(*v));
	uint8_t head[4] = { 0 };
	int ret;

	pthread_mutex_init(&v->lock, NULL);
	v->barriers = !(opts && opts->no_barriers);
	readall(fd, head, sizeof(head), 0);
	if (get_le32(head) == VMDK_MAGIC) {
		/* monolithic sparse: the embedded descriptor, if any, names it;
		 * otherwise the header alone is the disk */
		char *desc = NULL;
		struct extent *e = &v->ext[0];
		e->fd = -1;
		e->type = EXT_SPARSE;
		int dfd = dup(fd);
		ret = dfd < 0 ? -errno : sparse_open(e, dfd, err, errlen, &desc);
		if (dfd < 0)
			snprintf(err, errlen, "%s", strerror(errno));
		if (ret == 0) {
			v->n = 1;
			e->writable = !read_only;
			if (desc) {
				char *p = strstr(desc, "parentCID");
				if (p && strtoul(strchr(p, '=') ? strchr(p, '=') + 1 : p, NULL, 16) !=
						 0xffffffffUL) {
					snprintf(err, errlen,
						 "vmdk delta disks (parent links) are not supported");
					ret = -ENOTSUP;
				}
			}
		}
		if (ret < 0) {
			if (dfd >= 0)
				close(dfd);
			e->fd = -1;
			free(e->gd);
			free(e->gt);
			e->gd = NULL;
			e->gt = NULL;
		}
		free(desc);
	} else {
		struct stat st;
		char *text;
		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > MAX_DESCRIPTOR) {
			snprintf(err, errlen, "vmdk descriptor is too large");
			vmdk_free(v);
			return NULL;
		}
		text = xzalloc((size_t)st.st_size + 1);
		readall(fd, text, (size_t)st.st_size, 0);
		ret = parse_descriptor(v, path, text, -1, read_only, untrusted, err, errlen);
		free(text);
	}
	if (ret < 0) {
		vmdk_free(v);
		return NULL;
	}
	uint64_t size = 0;
	for (unsigned i = 0; i < v->n; i++)
		size = v->ext[i].start + v->ext[i].sectors * SECTOR;
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &vmdk_driver;
	bd->format = "vmdk";
	bd->path = xstrdup(path);
	bd->size = size;
	bd->read_only = read_only;
	bd->fd = fd;
	bd->state = v;
	return bd;
}

/* ---- creation ------------------------------------------------------------ */

#define NEW_GRAIN 128ULL   /* sectors: 64 KiB grains */
#define NEW_GTES 512U      /* entries per grain table: 4 sectors each */
#define NEW_DESC_SECTORS 20ULL

static char *flat_name(const char *path)
{
	size_t n = strlen(path);
	if (n > 5 && !strcmp(path + n - 5, ".vmdk"))
		n -= 5;
	char *p = xzalloc(n + 11);
	memcpy(p, path, n);
	strcat(p, "-flat.vmdk");
	return p;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static void descriptor(char *buf, size_t len, uint64_t capacity, const char *type,
		       const char *extent)
{
	uint64_t cyl = MIN(capacity / (16 * 63), 16383ULL);
	uint32_t cid = 0;
	if (getrandom(&cid, sizeof(cid), 0) != sizeof(cid))
		cid = (uint32_t)getpid();
	snprintf(buf, len,
		 "# Disk DescriptorFile\n"
		 "version=1\n"
		 "CID=%08x\n"
		 "parentCID=ffffffff\n"
		 "createType=\"%s\"\n"
		 "\n"
		 "# Extent description\n"
		 "RW %llu %s\n"
		 "\n"
		 "# The Disk Data Base\n"
		 "#DDB\n"
		 "\n"
		 "ddb.virtualHWVersion = \"4\"\n"
		 "ddb.geometry.cylinders = \"%llu\"\n"
		 "ddb.geometry.heads = \"16\"\n"
		 "ddb.geometry.sectors = \"63\"\n"
		 "ddb.adapterType = \"ide\"\n",
		 cid ? cid : 1, type, (unsigned long long)capacity, extent,
		 (unsigned long long)cyl);
}

static int create_flat(const char *path, uint64_t capacity, char *err, size_t errlen)
{
	char *data = flat_name(path), extent[1200], text[4096];
	int fd = open(data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)(capacity * SECTOR)) < 0) {
		snprintf(err, errlen, "%s: %s", data, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(data);
		return -1;
	}
	close(fd);
	snprintf(extent, sizeof(extent), "FLAT \"%.1000s\" 0", base_name(data));
	free(data);
	descriptor(text, sizeof(text), capacity, "monolithicFlat", extent);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fd_pwrite_full(fd, text, strlen(text), 0) < 0 || fdatasync(fd) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Writes a directory whose entry i points at table_start + i * table
 * sectors; the tables themselves stay zero (a fresh file reads zeros). */
static int write_directory(int fd, uint64_t at, uint64_t entries, uint64_t table_start,
			   uint64_t table_sectors)
{
	uint8_t *gd = xzalloc(MAX(1, entries) * 4);
	for (uint64_t i = 0; i < entries; i++)
		put_le32(gd + i * 4, (uint32_t)(table_start + i * table_sectors));
	int ret = fd_pwrite_full(fd, gd, entries * 4, at * SECTOR);
	free(gd);
	return ret;
}

static int create_sparse(const char *path, uint64_t capacity, char *err, size_t errlen)
{
	uint64_t grains = (capacity + NEW_GRAIN - 1) / NEW_GRAIN;
	uint64_t entries = MAX(1, (grains + NEW_GTES - 1) / NEW_GTES);
	uint64_t gd_sectors = (entries * 4 + SECTOR - 1) / SECTOR;
	uint64_t gt_sectors = NEW_GTES * 4 / SECTOR;
	uint64_t rgd = 1 + NEW_DESC_SECTORS, rgt = rgd + gd_sectors;
	uint64_t gd = rgt + entries * gt_sectors, gt = gd + gd_sectors;
	uint64_t overhead = (gt + entries * gt_sectors + NEW_GRAIN - 1) / NEW_GRAIN * NEW_GRAIN;
	uint8_t h[512] = { 0 };
	char text[NEW_DESC_SECTORS * SECTOR], extent[1100];

	if (overhead > UINT32_MAX) {
		snprintf(err, errlen, "vmdk image too large");
		return -1;
	}
	put_le32(h, VMDK_MAGIC);
	put_le32(h + 4, 1);
	put_le32(h + 8, FLAG_NL_DETECT | FLAG_RGD);
	put_le64(h + 12, capacity);
	put_le64(h + 20, NEW_GRAIN);
	put_le64(h + 28, 1);
	put_le64(h + 36, NEW_DESC_SECTORS);
	put_le32(h + 44, NEW_GTES);
	put_le64(h + 48, rgd);
	put_le64(h + 56, gd);
	put_le64(h + 64, overhead);
	h[73] = '\n';
	h[74] = ' ';
	h[75] = '\r';
	h[76] = '\n';
	memset(text, 0, sizeof(text));
	snprintf(extent, sizeof(extent), "SPARSE \"%.1000s\"", base_name(path));
	descriptor(text, sizeof(text), capacity, "monolithicSparse", extent);

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fd_pwrite_full(fd, h, sizeof(h), 0) < 0 ||
	    fd_pwrite_full(fd, text, sizeof(text), SECTOR) < 0 ||
	    write_directory(fd, rgd, entries, rgt, gt_sectors) < 0 ||
	    write_directory(fd, gd, entries, gt, gt_sectors) < 0 ||
	    ftruncate(fd, (off_t)(overhead * SECTOR)) < 0 || fdatasync(fd) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int vmdk_create(const char *path, uint64_t size, enum vmdk_subformat sub, char *err,
		size_t errlen)
{
	uint64_t capacity = (size + SECTOR - 1) / SECTOR;
	/* Table entries are 32-bit sector numbers: the whole sparse file,
	 * tables included, must stay below 2 TiB. */
	if (sub == VMDK_MONOLITHIC_SPARSE && capacity > (1ULL << 32) - (1ULL << 21)) {
		snprintf(err, errlen, "monolithicSparse vmdk images are limited to 2047 GiB");
		return -1;
	}
	if (capacity > (1ULL << 44)) {
		snprintf(err, errlen, "vmdk capacity is too large");
		return -1;
	}
	return sub == VMDK_MONOLITHIC_FLAT ? create_flat(path, capacity, err, errlen)
					   : create_sparse(path, capacity, err, errlen);
}

/* ---- the block layer's table entry (src/block/block_formats.c) ---------- */

static bool vmdk_probe(const uint8_t *buf, size_t len)
{
	return (len >= 4 && !memcmp(buf, "KDMV", 4)) ||
	       (len >= 21 && !memcmp(buf, "# Disk DescriptorFile", 21));
}

/* A vmdk has no backing chain of its own: 'depth' is not needed. */
static struct block_dev *vmdk_format_open(int fd, const char *path, bool read_only,
					  const struct block_opts *opts, unsigned depth,
					  bool untrusted, char *err, size_t errlen)
{
	return vmdk_open(fd, path, read_only, opts, untrusted, err, errlen);
}

/* Read-only sparse extents: no O_DIRECT path, the file keeps the cache. */
const struct block_format vmdk_format = {
	.name = "vmdk",
	.probe = vmdk_probe,
	.open = vmdk_format_open,
	.o_direct = false,
};
