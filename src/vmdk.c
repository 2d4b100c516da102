// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VMDK, read-only: monolithic sparse (hosted sparse extent, "KDMV"
 * header, grain directory -> grain tables -> grains) and descriptor files
 * with FLAT, ZERO and SPARSE extents (monolithicFlat, twoGbMaxExtent*).
 * Written from VMware's published "Virtual Disk Format 1.1" facts. As in
 * qcow2.c every value from the file is checked before use. Not supported:
 * compressed grains (streamOptimized), parent links (delta disks).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "util.h"

#define SECTOR 512ULL
#define VMDK_MAGIC 0x564d444bU /* "KDMV" little-endian */
#define FLAG_COMPRESSED (1u << 16)
#define MAX_EXTENTS 64
#define MAX_DESCRIPTOR (64 * KiB)

enum ext_type { EXT_FLAT, EXT_ZERO, EXT_SPARSE };

struct extent {
	enum ext_type type;
	int fd;
	uint64_t sectors;    /* size in the virtual disk */
	uint64_t start;      /* virtual start, bytes */
	uint64_t flat_off;   /* FLAT: byte offset in its file */
	uint64_t file_size;
	/* SPARSE */
	uint64_t grain;      /* bytes */
	uint32_t gtes;       /* entries per grain table */
	uint32_t *gd;        /* grain directory (sector offsets of tables) */
	uint64_t gd_entries;
	uint32_t *gt;        /* one cached grain table */
	uint64_t gt_sector;  /* which, 0: none */
};

struct vmdk {
	pthread_mutex_t lock;
	struct extent ext[MAX_EXTENTS];
	unsigned n;
};

static int readall(int fd, void *buf, size_t len, uint64_t off)
{
	return fd_pread_full(fd, buf, len, off);
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
	uint64_t gdoff = get_le64(h + 56);
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
	e->gd = xzalloc(MAX(1, e->gd_entries) * 4);
	if (readall(fd, e->gd, e->gd_entries * 4, gdoff * SECTOR) < 0) {
		snprintf(err, errlen, "cannot read the vmdk grain directory");
		return -EIO;
	}
	for (uint64_t i = 0; i < e->gd_entries; i++)
		e->gd[i] = get_le32(&e->gd[i]);
	e->gt = xzalloc((size_t)gtes * 4);
	if (desc && doff && dsize && dsize <= MAX_DESCRIPTOR / SECTOR &&
	    range_ok(doff * SECTOR, dsize * SECTOR, e->file_size)) {
		*desc = xzalloc(dsize * SECTOR + 1);
		readall(fd, *desc, dsize * SECTOR, doff * SECTOR);
	}
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
		if (gts != e->gt_sector) {
			if (!range_ok(gts * SECTOR, (uint64_t)e->gtes * 4, e->file_size))
				return -EIO;
			if (readall(e->fd, e->gt, (size_t)e->gtes * 4, gts * SECTOR) < 0)
				return -EIO;
			for (uint32_t i = 0; i < e->gtes; i++)
				e->gt[i] = get_le32(&e->gt[i]);
			e->gt_sector = gts;
		}
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

static int vmdk_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	struct vmdk *v = bd->state;
	uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < v->n && len && !ret; i++) {
		struct extent *e = &v->ext[i];
		uint64_t end = e->start + e->sectors * SECTOR;
		if (offset >= end)
			continue;
		uint64_t n = MIN(len, end - offset), o = offset - e->start;
		switch (e->type) {
		case EXT_ZERO:
			memset(p, 0, n);
			break;
		case EXT_FLAT:
			ret = readall(e->fd, p, n, e->flat_off + o);
			break;
		case EXT_SPARSE:
			ret = sparse_read(e, p, n, o);
			break;
		}
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&v->lock);
	if (!ret && len)
		memset(p, 0, len);
	return ret;
}

static int vmdk_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	return -EROFS;
}

static int vmdk_flush(struct block_dev *bd)
{
	return 0;
}

static void vmdk_free(struct vmdk *v)
{
	for (unsigned i = 0; i < v->n; i++) {
		if (v->ext[i].fd >= 0)
			close(v->ext[i].fd);
		free(v->ext[i].gd);
		free(v->ext[i].gt);
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

static const struct block_driver vmdk_driver = {
	.name = "vmdk",
	.pread = vmdk_pread,
	.pwrite = vmdk_pwrite,
	.flush = vmdk_flush,
	.close = vmdk_close,
};

static char *rel_path(const char *image, const char *name)
{
	const char *slash = strrchr(image, '/');
	if (name[0] == '/' || !slash)
		return xstrdup(name);
	char *p = xzalloc((size_t)(slash - image) + strlen(name) + 2);
	memcpy(p, image, (size_t)(slash - image) + 1);
	strcat(p, name);
	return p;
}

/* Parses descriptor text; extents are added to v. sparse_fd: the file
 * itself when the descriptor is embedded in a monolithic sparse file. */
static int parse_descriptor(struct vmdk *v, const char *path, char *text, int self_fd,
			    char *err, size_t errlen)
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
			if (self_fd >= 0 && !strcmp(type, "SPARSE")) {
				fd = dup(self_fd);
			} else {
				char *p = rel_path(path, name);
				fd = open(p, O_RDONLY | O_CLOEXEC);
				free(p);
			}
			if (fd < 0) {
				snprintf(err, errlen, "cannot open vmdk extent '%s': %s", name,
					 strerror(errno));
				return -errno;
			}
			e->fd = fd;
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

struct block_dev *vmdk_open(int fd, const char *path, bool read_only, char *err, size_t errlen);

struct block_dev *vmdk_open(int fd, const char *path, bool read_only, char *err, size_t errlen)
{
	struct vmdk *v = xzalloc(sizeof(*v));
	uint8_t head[4] = { 0 };
	int ret;

	pthread_mutex_init(&v->lock, NULL);
	if (!read_only) {
		snprintf(err, errlen, "vmdk images are supported read-only");
		vmdk_free(v);
		return NULL;
	}
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
		ret = parse_descriptor(v, path, text, -1, err, errlen);
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
	bd->read_only = true;
	bd->fd = fd;
	bd->state = v;
	return bd;
}
