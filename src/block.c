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

#include "util.h"

static int raw_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(bd->fd, p, len, (off_t)offset);
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
		offset += (uint64_t)n;
	}
	return 0;
}

static int raw_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(bd->fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

static int raw_flush(struct block_dev *bd)
{
	return fdatasync(bd->fd) < 0 ? -errno : 0;
}

static void raw_close(struct block_dev *bd)
{
	close(bd->fd);
}

static const struct block_driver raw_driver = {
	.name = "raw",
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.flush = raw_flush,
	.close = raw_close,
};

struct block_dev *block_open_raw(const char *path, bool read_only, char *err, size_t errlen)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	struct stat st;
	uint64_t size;

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
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
	bd->path = xstrdup(path);
	bd->size = size;
	bd->read_only = read_only;
	bd->fd = fd;
	return bd;
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
