// SPDX-License-Identifier: GPL-2.0-or-later
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "qcow2.h"
#include "util.h"
#include "vmdk.h"

int fd_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) { /* a file shorter than its size: holes read as zero */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int raw_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	return fd_pread_full(bd->fd, buf, len, offset);
}

struct raw_state {
	bool probed; /* format guessed: sector 0 may not become another format */
};

const char *block_probe(const uint8_t *buf, size_t len)
{
	if (len >= 8 && !memcmp(buf, "QFI\xfb", 4) && get_be32(buf + 4) >= 1)
		return "qcow2";
	if (len >= 4 && !memcmp(buf, "KDMV", 4))
		return "vmdk";
	if (len >= 21 && !memcmp(buf, "# Disk DescriptorFile", 21))
		return "vmdk";
	return "raw";
}

static int raw_pwrite_fd(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	return fd_pwrite_full(bd->fd, buf, len, offset);
}

static int raw_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct raw_state *rs = bd->state;

	if (rs && rs->probed && offset < 512) {
		uint8_t s0[512];
		size_t n = MIN(len, 512 - (size_t)offset);
		int ret = raw_pread(bd, s0, sizeof(s0), 0);
		if (ret < 0)
			return ret;
		memcpy(s0 + offset, buf, n);
		if (strcmp(block_probe(s0, sizeof(s0)), "raw")) {
			warn("%s: refusing to write a %s signature into sector 0 of an image "
			     "probed as raw (give format=raw to allow it)", bd->path,
			     block_probe(s0, sizeof(s0)));
			return -EPERM;
		}
	}
	return raw_pwrite_fd(bd, buf, len, offset);
}

static int raw_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	struct stat st;
	/* beyond the end of a sparse file: already zero */
	if (fstat(bd->fd, &st) == 0 && S_ISREG(st.st_mode) && offset >= (uint64_t)st.st_size)
		return 0;
	if (fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) == 0)
		return 0;
	return -ENOTSUP;
}

/* Holes (SEEK_HOLE/SEEK_DATA) count as unallocated: they read as zeros. */
static int raw_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	off_t d = lseek(bd->fd, (off_t)offset, SEEK_DATA);
	if (d < 0 && errno == ENXIO) { /* only a hole up to EOF */
		*pnum = len;
		return 0;
	}
	if (d < 0) {
		*pnum = len;
		return 1;
	}
	if ((uint64_t)d > offset) {
		*pnum = MIN(len, (uint64_t)d - offset);
		return 0;
	}
	off_t h = lseek(bd->fd, (off_t)offset, SEEK_HOLE);
	*pnum = h < 0 || (uint64_t)h <= offset ? len : MIN(len, (uint64_t)h - offset);
	return 1;
}

static int raw_flush(struct block_dev *bd)
{
	return fdatasync(bd->fd) < 0 ? -errno : 0;
}

static void raw_close(struct block_dev *bd)
{
	close(bd->fd);
	free(bd->state);
}

static const struct block_driver raw_driver = {
	.name = "raw",
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.flush = raw_flush,
	.close = raw_close,
	.pwrite_zeroes = raw_pwrite_zeroes,
	.status = raw_status,
};

static struct block_dev *raw_from_fd(int fd, const char *path, bool read_only, char *err,
				     size_t errlen)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			snprintf(err, errlen, "cannot get device size: %s", strerror(errno));
			close(fd);
			return NULL;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		snprintf(err, errlen, "not a regular file or block device");
		close(fd);
		return NULL;
	}
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &raw_driver;
	bd->format = "raw";
	bd->path = xstrdup(path);
	bd->size = size;
	bd->read_only = read_only;
	bd->fd = fd;
	bd->state = xzalloc(sizeof(struct raw_state));
	return bd;
}

struct block_dev *block_open_raw(const char *path, bool read_only, char *err, size_t errlen)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	return raw_from_fd(fd, path, read_only, err, errlen);
}

struct block_dev *qcow2_open(int fd, const char *path, bool read_only, const struct block_opts *opts,
			     unsigned depth, char *err, size_t errlen);


struct block_dev *block_open_depth(const char *path, const char *format, bool read_only,
				   const struct block_opts *opts, unsigned depth,
				   char *err, size_t errlen)
{
	uint8_t head[512];
	const char *fmt;
	ssize_t n;
	int fd;

	if (depth > BLOCK_MAX_CHAIN) {
		snprintf(err, errlen, "backing chain is deeper than %d images (a loop?)",
			 BLOCK_MAX_CHAIN);
		return NULL;
	}
	if (format && strcmp(format, "raw") && strcmp(format, "qcow2") && strcmp(format, "vmdk")) {
		snprintf(err, errlen, "unknown or unsupported format '%s'", format);
		return NULL;
	}
	fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	memset(head, 0, sizeof(head));
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	fmt = format ? format : block_probe(head, (size_t)n);
	struct block_dev *bd;
	if (!strcmp(fmt, "vmdk")) {
		bd = vmdk_open(fd, path, read_only, opts, err, errlen);
		if (!bd)
			close(fd);
		return bd;
	}
	if (!strcmp(fmt, "qcow2")) {
		bd = qcow2_open(fd, path, read_only, opts, depth, err, errlen);
		if (!bd)
			close(fd);
		return bd;
	}
	if (opts && opts->snapshot) {
		snprintf(err, errlen, "raw images have no snapshots");
		close(fd);
		return NULL;
	}
	bd = raw_from_fd(fd, path, read_only, err, errlen);
	if (bd && !format) {
		((struct raw_state *)bd->state)->probed = true;
		if (!read_only && depth == 0)
			warn("image '%s' was probed as raw; writes to sector 0 that would make it "
			     "look like another format are refused (give format=raw)", path);
	}
	return bd;
}

struct block_dev *block_open(const char *path, const char *format, bool read_only,
			     const struct block_opts *opts, char *err, size_t errlen)
{
	return block_open_depth(path, format, read_only, opts, 0, err, errlen);
}

static int mem_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	memcpy(buf, (uint8_t *)bd->state + offset, len);
	return 0;
}

static int mem_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	memcpy((uint8_t *)bd->state + offset, buf, len);
	return 0;
}

static int mem_flush(struct block_dev *bd)
{
	(void)bd;
	return 0;
}

static const struct block_driver memory_driver = {
	.name = "memory",
	.pread = mem_pread,
	.pwrite = mem_pwrite,
	.flush = mem_flush,
};

struct block_dev *block_open_memory(void *buf, uint64_t size, bool read_only)
{
	struct block_dev *bd = xzalloc(sizeof(*bd));
	bd->drv = &memory_driver;
	bd->format = "memory";
	bd->path = xstrdup("<memory>");
	bd->size = size;
	bd->read_only = read_only;
	bd->fd = -1;
	bd->state = buf;
	return bd;
}

void block_close(struct block_dev *bd)
{
	if (!bd)
		return;
	if (bd->drv->close)
		bd->drv->close(bd);
	free(bd->path);
	free(bd);
}

int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	return bd->drv->pread(bd, buf, len, offset);
}

int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	if (bd->read_only)
		return -EROFS;
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	return bd->drv->pwrite(bd, buf, len, offset);
}

int block_flush(struct block_dev *bd)
{
	if (bd->read_only)
		return 0;
	return bd->drv->flush(bd);
}

int block_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum)
{
	if (!range_ok(offset, len, bd->size) || !len)
		return -EINVAL;
	if (bd->drv->status)
		return bd->drv->status(bd, offset, len, pnum);
	*pnum = len;
	return 1;
}

bool block_has_backing(const struct block_dev *bd)
{
	return block_is_qcow2(bd) && qcow2_has_backing(bd);
}

int block_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	static const uint8_t zeros[65536];
	int ret;

	if (bd->read_only)
		return -EROFS;
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	if (bd->drv->pwrite_zeroes) {
		ret = bd->drv->pwrite_zeroes(bd, len, offset);
		if (ret != -ENOTSUP)
			return ret;
	}
	while (len) {
		size_t n = (size_t)MIN(len, sizeof(zeros));
		ret = bd->drv->pwrite(bd, zeros, n, offset);
		if (ret < 0)
			return ret;
		len -= n;
		offset += n;
	}
	return 0;
}

struct block_dev *block_open_snapshot(const char *path, const char *format, char *err,
				      size_t errlen)
{
	struct block_dev *base = block_open(path, format, true, NULL, err, errlen), *ov;
	const char *dir = getenv("TMPDIR");
	char *abs, tmpl[4096], e2[256];
	int fd;

	if (!base)
		return NULL;
	abs = realpath(path, NULL);
	if (!abs) {
		snprintf(err, errlen, "%s", strerror(errno));
		block_close(base);
		return NULL;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/vmm-snapshot-XXXXXX", dir && *dir ? dir : "/var/tmp");
	fd = mkstemp(tmpl);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the overlay in %s: %s",
			 dir && *dir ? dir : "/var/tmp", strerror(errno));
		free(abs);
		block_close(base);
		return NULL;
	}
	close(fd);
	struct qcow2_create_opts o = {
		.size = base->size, .backing_file = abs, .backing_fmt = base->format,
	};
	block_close(base);
	if (qcow2_create(tmpl, &o, e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "cannot create the overlay: %s", e2);
		unlink(tmpl);
		free(abs);
		return NULL;
	}
	/* the overlay is scratch: no ordering barriers (a crash loses it anyway) */
	struct block_opts bo = { .no_barriers = true };
	ov = block_open(tmpl, "qcow2", false, &bo, err, errlen);
	unlink(tmpl);
	free(abs);
	return ov;
}
