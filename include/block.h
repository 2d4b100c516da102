/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block backends under every disk device (IDE, ATAPI, later virtio).
 * A device model sees only this interface, so image formats can be added
 * beneath it without touching the devices. All calls are synchronous and
 * thread-safe (positional I/O); flush means fdatasync.
 */
#ifndef VMM_BLOCK_H
#define VMM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct block_dev;

struct block_driver {
	const char *name;
	int (*pread)(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
	int (*pwrite)(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
	int (*flush)(struct block_dev *bd);
	void (*close)(struct block_dev *bd);
};

struct block_dev {
	const struct block_driver *drv;
	char *path;
	uint64_t size;   /* bytes */
	bool read_only;
	int fd;
	void *state;     /* driver-private */
};

/* Opens 'path' as a raw image. On failure returns NULL and writes a
 * one-line reason ("No such file or directory") into err. */
struct block_dev *block_open_raw(const char *path, bool read_only, char *err, size_t errlen);
/* An in-memory disk (unit tests). The buffer is owned by the caller. */
struct block_dev *block_open_memory(void *buf, uint64_t size, bool read_only);
void block_close(struct block_dev *bd);

/* Each returns 0 or -errno; a range past the end gives -EINVAL, a write
 * to a read-only device -EROFS. */
int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
int block_flush(struct block_dev *bd);

#endif
