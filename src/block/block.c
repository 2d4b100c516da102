// SPDX-License-Identifier: GPL-2.0-or-later
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/openat2.h>

#include "util.h"

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


uint64_t fd_hole_run(int fd, uint64_t at, uint64_t len, bool *hole)
{
	off_t d = lseek(fd, (off_t)at, SEEK_DATA);
	uint64_t upto;

	*hole = d < 0 || (uint64_t)d > at; /* ENXIO: a hole up to the end */
	if (d < 0 && errno != ENXIO) {
		*hole = false; /* no hole information: all data */
		return len;
	}
	if (*hole) {
		upto = d < 0 ? at + len : (uint64_t)d;
	} else {
		off_t h = lseek(fd, (off_t)at, SEEK_HOLE);
		upto = h < 0 ? at + len : (uint64_t)h;
	}
	return upto > at ? MIN(len, upto - at) : len;
}

/* ---- O_DIRECT alignment ------------------------------------------------- */

static bool is_aligned(uint64_t v, unsigned align)
{
	return !(v & (align - 1));
}

unsigned fd_dio_align(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	struct stat st;
	void *buf;

	if (fl < 0 || !(fl & O_DIRECT))
		return 1;
	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
		int ss = 0;
		if (ioctl(fd, BLKSSZGET, &ss) == 0 && ss >= 512 && !(ss & (ss - 1)))
			return (unsigned)ss;
		return 4096;
	}
	/* Files: try the smaller size first; EINVAL means "misaligned". */
	if (posix_memalign(&buf, 4096, 4096))
		return 4096;
	unsigned align = 4096;
	for (unsigned a = 512; a < 4096; a *= 2) {
		ssize_t n;
		do
			n = pread(fd, buf, a, 0);
		while (n < 0 && errno == EINTR);
		if (n >= 0) {
			align = a;
			break;
		}
	}
	free(buf);
	return align;
}

static bool io_aligned(unsigned align, const void *buf, size_t len, uint64_t off)
{
	return align <= 1 || (is_aligned((uintptr_t)buf, align) && is_aligned(len, align) &&
			      is_aligned(off, align));
}

/* Reads the aligned range [start, start+len) into an aligned buffer; what
 * lies past the end of the file reads as zeros (a direct read stops short
 * at EOF, and the next one would start misaligned, so stop there). */
static int bounce_read(int fd, uint8_t *b, size_t len, uint64_t start)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, b + done, len - done, (off_t)(start + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n < (ssize_t)(len - done)) { /* EOF: the rest reads as zeros */
			memset(b + done + n, 0, len - done - (size_t)n);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

int fd_pread_al(int fd, unsigned align, void *buf, size_t len, uint64_t off)
{
	if (align <= 1)
		return fd_pread_full(fd, buf, len, off);
	if (io_aligned(align, buf, len, off)) {
		/* not fd_pread_full: after a short read at EOF it would go on
		 * at a misaligned offset, which O_DIRECT refuses */
		return bounce_read(fd, buf, len, off);
	}
	uint64_t start = off & ~(uint64_t)(align - 1);
	size_t blen = (size_t)(((off + len + align - 1) & ~(uint64_t)(align - 1)) - start);
	void *b;
	if (posix_memalign(&b, align, blen))
		return -ENOMEM;
	memset(b, 0, blen);
	int ret = bounce_read(fd, b, blen, start);
	if (!ret)
		memcpy(buf, (uint8_t *)b + (off - start), len);
	free(b);
	return ret;
}

int fd_pwrite_al(int fd, unsigned align, const void *buf, size_t len, uint64_t off)
{
	if (io_aligned(align, buf, len, off))
		return fd_pwrite_full(fd, buf, len, off);
	uint64_t start = off & ~(uint64_t)(align - 1);
	uint64_t end = (off + len + align - 1) & ~(uint64_t)(align - 1);
	size_t blen = (size_t)(end - start);
	bool partial = start != off || end != off + len;
	struct stat st;
	void *b;
	int ret = 0;

	if (partial && fstat(fd, &st) < 0)
		return -errno;
	if (posix_memalign(&b, align, blen))
		return -ENOMEM;
	memset(b, 0, blen);
	/* Only a partial head or tail block needs its old contents. */
	if (start != off)
		ret = bounce_read(fd, b, align, start);
	if (!ret && end != off + len && !(start != off && blen == align))
		ret = bounce_read(fd, (uint8_t *)b + blen - align, align, end - align);
	if (!ret) {
		memcpy((uint8_t *)b + (off - start), buf, len);
		ret = fd_pwrite_full(fd, b, blen, start);
	}
	/* Rounding up must not make the file longer than the write would. */
	if (!ret && partial && S_ISREG(st.st_mode) && end > (uint64_t)st.st_size &&
	    end > off + len) {
		uint64_t keep = MAX((uint64_t)st.st_size, off + len);
		if (ftruncate(fd, (off_t)keep) < 0)
			ret = -errno;
	}
	free(b);
	return ret;
}

/* ---- cache modes -------------------------------------------------------- */

static const char *const cache_names[] = {
	[BLOCK_CACHE_WRITEBACK] = "writeback",
	[BLOCK_CACHE_NONE] = "none",
	[BLOCK_CACHE_WRITETHROUGH] = "writethrough",
	[BLOCK_CACHE_DIRECTSYNC] = "directsync",
	[BLOCK_CACHE_UNSAFE] = "unsafe",
};

int block_cache_parse(const char *s)
{
	for (unsigned i = 0; i < ARRAY_SIZE(cache_names); i++)
		if (!strcmp(s, cache_names[i]))
			return (int)i;
	return -1;
}

const char *block_cache_name(enum block_cache c)
{
	return (unsigned)c < ARRAY_SIZE(cache_names) ? cache_names[c] : "?";
}

static int cache_open_flags(enum block_cache c)
{
	switch (c) {
	case BLOCK_CACHE_NONE:
		return O_DIRECT;
	case BLOCK_CACHE_WRITETHROUGH:
		return O_DSYNC;
	case BLOCK_CACHE_DIRECTSYNC:
		return O_DIRECT | O_DSYNC;
	default:
		return 0;
	}
}

static int raw_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	return fd_pread_al(bd->fd, bd->align, buf, len, offset);
}

struct raw_state {
	bool probed; /* format guessed: sector 0 may not become another format */
	/* O_DIRECT: a write of part of an aligned block reads, modifies and
	 * writes the block; it holds this exclusively, whole-block writes
	 * share it, so no write is lost in between. */
	pthread_rwlock_t rmw;
};

const struct block_format *block_format_find(const char *name)
{
	for (unsigned i = 0; i < block_formats_count; i++)
		if (!strcmp(block_formats[i]->name, name))
			return block_formats[i];
	return NULL;
}

const char *block_probe(const uint8_t *buf, size_t len)
{
	for (unsigned i = 0; i < block_formats_count; i++)
		if (block_formats[i]->probe(buf, len))
			return block_formats[i]->name;
	return "raw";
}

static int raw_pwrite_fd(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	struct raw_state *rs = bd->state;

	if (bd->align <= 1 || !rs)
		return fd_pwrite_full(bd->fd, buf, len, offset);
	bool whole = is_aligned(offset, bd->align) && is_aligned(len, bd->align);
	if (whole)
		pthread_rwlock_rdlock(&rs->rmw);
	else
		pthread_rwlock_wrlock(&rs->rmw);
	int ret = fd_pwrite_al(bd->fd, bd->align, buf, len, offset);
	pthread_rwlock_unlock(&rs->rmw);
	return ret;
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

static int raw_discard(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	if (fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) == 0)
		return 0;
	/* a file system without holes: discard stays a hint */
	return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
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

/* A hole reads zeros and has no data, but is this layer's (qemu-img map's
 * view of a file); both keep their offset. */
static int raw_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		   struct block_map *m)
{
	int st = raw_status(bd, offset, len, pnum);
	if (st < 0)
		return st;
	m->allocated = true;
	m->data = st;
	m->zero = !st;
	m->has_offset = true;
	m->offset = offset;
	return 0;
}

static int raw_flush(struct block_dev *bd)
{
	return fdatasync(bd->fd) < 0 ? -errno : 0;
}

static void raw_close(struct block_dev *bd)
{
	struct raw_state *rs = bd->state;

	close(bd->fd);
	if (rs)
		pthread_rwlock_destroy(&rs->rmw);
	free(rs);
}

static const struct block_driver raw_driver = {
	.name = "raw",
	.pread = raw_pread,
	.pwrite = raw_pwrite,
	.flush = raw_flush,
	.close = raw_close,
	.pwrite_zeroes = raw_pwrite_zeroes,
	.status = raw_status,
	.discard = raw_discard,
	.map = raw_map,
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
	bd->align = fd_dio_align(fd);
	struct raw_state *rs = xzalloc(sizeof(*rs));
	pthread_rwlock_init(&rs->rmw, NULL);
	bd->state = rs;
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

/* ---- files named inside images ----------------------------------------------
 *
 * A vmdk descriptor names its extents and a qcow2 header its backing file.
 * When nobody vouched for the image's format (it was probed: no format=, no
 * -f, no backing format recorded by a trusted overlay), those names come
 * from whoever made the image, who may be the guest or a stranger: a line
 * such as RW 8 FLAT "/home/user/.ssh/id_rsa" 0 would hand the guest a host
 * file. Such an image is untrusted and the files it names must lie in its
 * own directory or beneath it; openat2(RESOLVE_BENEATH) enforces that
 * against absolute names, ".." and symbolic links that lead out, all in the
 * kernel. Everything an untrusted image names is untrusted in turn.
 */

char *block_path_beside(const char *image, const char *name)
{
	const char *slash = strrchr(image, '/');
	if (name[0] == '/' || !slash)
		return xstrdup(name);
	size_t dl = (size_t)(slash - image) + 1;
	char *p = xzalloc(dl + strlen(name) + 1);
	memcpy(p, image, dl);
	strcpy(p + dl, name);
	return p;
}

static int open_dir_of(const char *image)
{
	const char *slash = strrchr(image, '/');
	if (!slash)
		return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (slash == image)
		return open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *dir = xzalloc((size_t)(slash - image) + 1);
	memcpy(dir, image, (size_t)(slash - image));
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	return fd;
}

/* Without openat2 (Linux before 5.6): only a plain name in the directory,
 * and not a symbolic link. */
static int open_beneath_fallback(int dirfd, const char *name, int flags)
{
	if (strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
		return -EXDEV;
	int fd = openat(dirfd, name, flags | O_NOFOLLOW);
	return fd < 0 ? (errno == ELOOP ? -EXDEV : -errno) : fd;
}

int block_open_named(const char *image, const char *name, int flags, bool confine,
		     char **resolved)
{
	*resolved = block_path_beside(image, name);
	if (!confine) {
		int fd = open(*resolved, flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	if (!*name)
		return -ENOENT;
	int dirfd = open_dir_of(image);
	if (dirfd < 0)
		return -errno;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = open_beneath_fallback(dirfd, name, flags | O_CLOEXEC);
	else if (fd < 0)
		fd = errno == ELOOP ? -EXDEV : -errno;
	close(dirfd);
	return fd;
}

void block_named_error(char *err, size_t errlen, const char *what, const char *name, int ret)
{
	if (ret == -EXDEV)
		snprintf(err, errlen,
			 "%s '%s' is outside the directory of an image whose format was probed "
			 "(give the image's format, format= or -f, to allow it)", what, name);
	else
		snprintf(err, errlen, "cannot open %s '%s': %s", what, name, strerror(-ret));
}

static struct block_dev *open_image_fd(int fd, const char *path, const char *format,
				       bool read_only, const struct block_opts *opts,
				       unsigned depth, bool untrusted, char *err, size_t errlen);

static int check_format(const char *format, unsigned depth, char *err, size_t errlen)
{
	if (depth > BLOCK_MAX_CHAIN) {
		snprintf(err, errlen, "backing chain is deeper than %d images (a loop?)",
			 BLOCK_MAX_CHAIN);
		return -ELOOP;
	}
	if (format && strcmp(format, "raw") && !block_format_find(format)) {
		snprintf(err, errlen, "unknown or unsupported format '%s'", format);
		return -EINVAL;
	}
	return 0;
}

struct block_dev *block_open_backing(const char *image, const char *name, const char *format,
				     bool read_only, const struct block_opts *opts, bool confine,
				     bool untrusted, unsigned depth, char *err, size_t errlen)
{
	char *path;

	if (check_format(format, depth, err, errlen) < 0)
		return NULL;
	int fd = block_open_named(image, name, read_only ? O_RDONLY : O_RDWR, confine, &path);
	if (fd < 0) {
		if (fd == -EXDEV)
			block_named_error(err, errlen, "backing file", name, fd);
		else
			snprintf(err, errlen, "%s", strerror(-fd));
		free(path);
		return NULL;
	}
	struct block_dev *bd = open_image_fd(fd, path, format, read_only, opts, depth,
					     untrusted || !format, err, errlen);
	free(path);
	return bd;
}

struct block_dev *block_open(const char *path, const char *format, bool read_only,
			     const struct block_opts *opts, char *err, size_t errlen)
{
	if (check_format(format, 0, err, errlen) < 0)
		return NULL;
	enum block_cache cache = opts ? opts->cache : BLOCK_CACHE_WRITEBACK;
	int cflags = cache_open_flags(cache);
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | cflags);
	if (fd < 0 && errno == EINVAL && (cflags & O_DIRECT)) {
		/* tmpfs (before Linux 6.6) and some others refuse O_DIRECT */
		snprintf(err, errlen, "cache=%s: the file system does not support O_DIRECT "
			 "(use cache=writeback or writethrough)", block_cache_name(cache));
		return NULL;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	return open_image_fd(fd, path, format, read_only, opts, 0, !format, err, errlen);
}

/* What open_image_fd took (image_lock), for block_lock_chain to take
 * the same again after a migration's hand-over. */
static void note_locks(struct block_dev *bd, bool metadata, const struct block_opts *opts)
{
	bd->lock_metadata = metadata;
	bd->lock_force_share = opts && opts->force_share;
	bd->locked = !(opts && opts->no_lock);
}

/* Takes over 'fd' (closed on failure). 'untrusted': the files the image
 * names must stay beneath its directory. */
static struct block_dev *open_image_fd(int fd, const char *path, const char *format,
				       bool read_only, const struct block_opts *opts,
				       unsigned depth, bool untrusted, char *err, size_t errlen)
{
	uint8_t head[512];
	const char *fmt;
	ssize_t n;
	enum block_cache cache = opts && depth == 0 ? opts->cache : BLOCK_CACHE_WRITEBACK;
	int cflags = cache_open_flags(cache);

	int ret = fd_pread_al(fd, fd_dio_align(fd), head, sizeof(head), 0);
	if (ret < 0) {
		snprintf(err, errlen, "%s", strerror(-ret));
		close(fd);
		return NULL;
	}
	n = (ssize_t)sizeof(head);
	fmt = format ? format : block_probe(head, (size_t)n);
	struct block_dev *bd;
	const struct block_format *f = block_format_find(fmt);
	/* before the format reads further or writes: QEMU's locks */
	if (!(opts && opts->no_lock) &&
	    image_lock(fd, path, !read_only, f != NULL, opts && opts->force_share, err,
		       errlen) < 0) {
		close(fd);
		return NULL;
	}
	if (f) {
		if (!f->o_direct && (cflags & O_DIRECT))
			(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
		bd = f->open(fd, path, read_only, opts, depth, untrusted, err, errlen);
		if (!bd)
			close(fd);
		else {
			bd->cache = cache;
			note_locks(bd, true, opts);
			if (f->o_direct) {
				bd->align = fd_dio_align(fd);
				bd->discard_ignore = opts && depth == 0 && opts->discard_ignore;
			}
		}
		return bd;
	}
	if (opts && opts->snapshot) {
		snprintf(err, errlen, "raw images have no snapshots");
		close(fd);
		return NULL;
	}
	bd = raw_from_fd(fd, path, read_only, err, errlen);
	if (bd) {
		bd->cache = cache;
		bd->discard_ignore = opts && depth == 0 && opts->discard_ignore;
		note_locks(bd, false, opts);
	}
	if (bd && !format) {
		((struct raw_state *)bd->state)->probed = true;
		if (!read_only && depth == 0)
			warn("image '%s' was probed as raw; writes to sector 0 that would make it "
			     "look like another format are refused (give format=raw)", path);
	}
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
	bd->format = "memory";
	bd->path = xstrdup("<memory>");
	bd->size = size;
	bd->read_only = read_only;
	bd->fd = -1;
	bd->state = buf;
	bd->align = 1;
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

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void block_account(struct block_dev *bd, enum block_acct type, uint64_t offset, uint64_t len,
		   int64_t ns, bool failed)
{
	struct block_stats *st = &bd->stats;
	const memory_order rx = memory_order_relaxed;

	if (ns < 0)
		ns = 0;
	switch (type) {
	case BLOCK_ACCT_READ:
		atomic_fetch_add_explicit(failed ? &st->failed_rd_operations : &st->rd_operations, 1, rx);
		if (!failed)
			atomic_fetch_add_explicit(&st->rd_bytes, len, rx);
		atomic_fetch_add_explicit(&st->rd_total_time_ns, (uint64_t)ns, rx);
		break;
	case BLOCK_ACCT_WRITE:
		atomic_fetch_add_explicit(failed ? &st->failed_wr_operations : &st->wr_operations, 1, rx);
		if (!failed) {
			uint64_t end = offset + len, cur = atomic_load_explicit(&st->wr_highest_offset, rx);
			atomic_fetch_add_explicit(&st->wr_bytes, len, rx);
			while (end > cur && !atomic_compare_exchange_weak_explicit(
						    &st->wr_highest_offset, &cur, end, rx, rx))
				;
		}
		atomic_fetch_add_explicit(&st->wr_total_time_ns, (uint64_t)ns, rx);
		break;
	case BLOCK_ACCT_FLUSH:
		atomic_fetch_add_explicit(failed ? &st->failed_flush_operations : &st->flush_operations,
					  1, rx);
		atomic_fetch_add_explicit(&st->flush_total_time_ns, (uint64_t)ns, rx);
		break;
	}
	atomic_store_explicit(&st->last_access_ns, now_ns(), rx);
}

void block_stats_get(struct block_dev *bd, struct block_stats_snapshot *o)
{
	struct block_stats *st = &bd->stats;
	int64_t last = atomic_load(&st->last_access_ns);

	o->rd_bytes = atomic_load(&st->rd_bytes);
	o->wr_bytes = atomic_load(&st->wr_bytes);
	o->rd_operations = atomic_load(&st->rd_operations);
	o->wr_operations = atomic_load(&st->wr_operations);
	o->flush_operations = atomic_load(&st->flush_operations);
	o->failed_rd_operations = atomic_load(&st->failed_rd_operations);
	o->failed_wr_operations = atomic_load(&st->failed_wr_operations);
	o->failed_flush_operations = atomic_load(&st->failed_flush_operations);
	o->rd_total_time_ns = atomic_load(&st->rd_total_time_ns);
	o->wr_total_time_ns = atomic_load(&st->wr_total_time_ns);
	o->flush_total_time_ns = atomic_load(&st->flush_total_time_ns);
	o->wr_highest_offset = atomic_load(&st->wr_highest_offset);
	o->idle_time_ns = last ? now_ns() - last : -1;
}

int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset)
{
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	int64_t t = now_ns();
	int ret = bd->drv->pread(bd, buf, len, offset);
	block_account(bd, BLOCK_ACCT_READ, offset, len, now_ns() - t, ret < 0);
	return ret;
}

int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset)
{
	if (bd->read_only)
		return -EROFS;
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	int64_t t = now_ns();
	int ret = bd->drv->pwrite(bd, buf, len, offset);
	block_account(bd, BLOCK_ACCT_WRITE, offset, len, now_ns() - t, ret < 0);
	return ret;
}

int block_flush(struct block_dev *bd)
{
	int ret = 0;
	int64_t t = now_ns();

	if (!bd->read_only && bd->cache != BLOCK_CACHE_UNSAFE)
		ret = bd->drv->flush(bd);
	block_account(bd, BLOCK_ACCT_FLUSH, 0, 0, now_ns() - t, ret < 0);
	return ret;
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
	for (unsigned i = 0; i < block_formats_count; i++)
		if (block_formats[i]->has_backing && block_formats[i]->has_backing(bd))
			return true;
	return false;
}

struct block_dev *block_backing(const struct block_dev *bd)
{
	for (unsigned i = 0; i < block_formats_count; i++) {
		struct block_dev *b = block_formats[i]->backing ? block_formats[i]->backing(bd)
								 : NULL;
		if (b)
			return b;
	}
	return NULL;
}

void block_unlock_chain(struct block_dev *bd)
{
	for (unsigned depth = 0; bd && depth <= BLOCK_MAX_CHAIN; bd = block_backing(bd), depth++)
		if (bd->locked && bd->fd >= 0) {
			if (bd->drv->inactivate)
				bd->drv->inactivate(bd);
			image_unlock(bd->fd);
			bd->locked = false;
		}
}

int block_lock_chain(struct block_dev *bd, char *err, size_t errlen)
{
	struct block_dev *taken[BLOCK_MAX_CHAIN + 1];
	unsigned n = 0;

	for (unsigned depth = 0; bd && depth <= BLOCK_MAX_CHAIN; bd = block_backing(bd), depth++) {
		if (bd->locked || bd->fd < 0)
			continue;
		if (image_lock(bd->fd, bd->path, !bd->read_only, bd->lock_metadata,
			       bd->lock_force_share, err, errlen) < 0) {
			/* image_lock leaves its bytes taken on a conflict */
			image_unlock(bd->fd);
			for (unsigned i = 0; i < n; i++) {
				image_unlock(taken[i]->fd);
				taken[i]->locked = false;
			}
			return -1;
		}
		bd->locked = true;
		taken[n++] = bd;
	}
	for (unsigned i = 0; i < n; i++)
		if (taken[i]->drv->activate)
			taken[i]->drv->activate(taken[i]);
	return 0;
}

int block_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
	      struct block_map *m)
{
	memset(m, 0, sizeof(*m));
	if (!range_ok(offset, len, bd->size) || !len)
		return -EINVAL;
	if (bd->drv->map)
		return bd->drv->map(bd, offset, len, pnum, m);
	int st = block_status(bd, offset, len, pnum);
	if (st < 0)
		return st;
	m->allocated = st || !block_has_backing(bd);
	m->data = st;
	m->zero = !st;
	return 0;
}

/* Source of the zeros the two functions below write. Never written, and
 * deliberately not const: a const array would be 64 KiB of the binary's
 * read-only data, mapped into every vmm process at start-up (fault-around
 * maps the pages next to any touched one); in .bss it reads as the
 * kernel's shared zero page and costs no memory. */
static uint8_t zeros[65536];

int block_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset)
{
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
	uint64_t size = base->size;
	const char *backing_fmt = base->format;
	block_close(base);
	if (block_format_find("qcow2")->create_overlay(tmpl, size, abs, backing_fmt, e2,
							 sizeof(e2)) < 0) {
		snprintf(err, errlen, "cannot create the overlay: %s", e2);
		unlink(tmpl);
		free(abs);
		return NULL;
	}
	/* the overlay is scratch: no ordering barriers (a crash loses it anyway) */
	struct block_opts bo = { .no_barriers = true, .untrusted_backing = !format };
	ov = block_open(tmpl, "qcow2", false, &bo, err, errlen);
	unlink(tmpl);
	free(abs);
	return ov;
}

int block_discard(struct block_dev *bd, uint64_t len, uint64_t offset)
{
	if (bd->read_only)
		return -EROFS;
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	if (!len || !bd->drv->discard || bd->discard_ignore)
		return 0;
	return bd->drv->discard(bd, len, offset);
}

int block_write_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset, bool unmap)
{

	if (bd->read_only)
		return -EROFS;
	if (!range_ok(offset, len, bd->size))
		return -EINVAL;
	if (unmap)
		return block_pwrite_zeroes(bd, len, offset);
	if (bd->drv == &raw_driver &&
	    fallocate(bd->fd, FALLOC_FL_ZERO_RANGE, (off_t)offset, (off_t)len) == 0)
		return 0;
	while (len) {
		size_t n = (size_t)MIN(len, sizeof(zeros));
		int ret = block_pwrite(bd, zeros, n, offset);
		if (ret < 0)
			return ret;
		len -= n;
		offset += n;
	}
	return 0;
}

int block_async_fd(struct block_dev *bd, uint64_t offset, uint64_t len, bool write)
{
	const struct raw_state *rs = bd->state;

	if (bd->drv != &raw_driver || !range_ok(offset, len, bd->size))
		return -1;
	if (write && (bd->read_only || (rs->probed && offset < 512)))
		return -1;
	return bd->fd;
}
