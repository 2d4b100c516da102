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
	int (*status)(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum);
	int (*pwrite_zeroes)(struct block_dev *bd, uint64_t len, uint64_t offset);
};

struct block_dev {
	const struct block_driver *drv;
	const char *format; /* "raw", "qcow2", "memory" */
	char *path;
	uint64_t size;   /* bytes */
	bool read_only;
	int fd;
	void *state;     /* driver-private */
};

/* Extra open options; a NULL pointer means all defaults. */
struct block_opts {
	/* No fdatasync ordering barriers between data, refcount and L2
	 * writes: only for a file being created (vmm-img create/convert),
	 * which is worthless after a crash anyway. Flush still syncs. */
	bool no_barriers;
	/* qcow2: read this internal snapshot (by ID or name); read-only. */
	const char *snapshot;
	/* qcow2: do not open the backing file (reads of unallocated clusters
	 * give zeros); vmm-img info/check/rebase -u. */
	bool no_backing;
	/* qcow2: L2 cache size in tables (0: default). */
	unsigned l2_cache;
};

/* Opens an image of 'format' ("raw", "qcow2"), or probes it when format
 * is NULL. A probed raw image may not have sector 0 rewritten into
 * another format's signature (-EPERM; a warning says so at open), as
 * QEMU does. Backing files open read-only, by name relative to the
 * image's directory, with their recorded format (probed if none; a chain
 * deeper than BLOCK_MAX_CHAIN or looping is refused). On failure returns
 * NULL with a one-line reason in err. */
#define BLOCK_MAX_CHAIN 16
struct block_dev *block_open(const char *path, const char *format, bool read_only,
			     const struct block_opts *opts, char *err, size_t errlen);
/* Opens 'path' (format or probed) read-only beneath a new qcow2 overlay
 * in $TMPDIR (default /var/tmp), which takes every write and is unlinked
 * at once: the image itself is never modified (-snapshot, snapshot=on). */
struct block_dev *block_open_snapshot(const char *path, const char *format, char *err,
				      size_t errlen);
/* Guesses the format of an open file from its first bytes: "qcow2",
 * "vmdk" or "raw". */
const char *block_probe(const uint8_t *buf, size_t len);
/* Internal: block_open for a backing file at chain depth 'depth'. */
struct block_dev *block_open_depth(const char *path, const char *format, bool read_only,
				   const struct block_opts *opts, unsigned depth,
				   char *err, size_t errlen);

/* Opens 'path' as a raw image. On failure returns NULL and writes a
 * one-line reason ("No such file or directory") into err. */
struct block_dev *block_open_raw(const char *path, bool read_only, char *err, size_t errlen);
/* An in-memory disk (unit tests). The buffer is owned by the caller. */
struct block_dev *block_open_memory(void *buf, uint64_t size, bool read_only);
void block_close(struct block_dev *bd);

/* Positional I/O on a host file, retried on EINTR and short transfers;
 * fd_pread_full reads what lies past the end of the file as zeros. Both
 * return 0 or -errno. For the format drivers. */
int fd_pread_full(int fd, void *buf, size_t len, uint64_t off);
int fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* Each returns 0 or -errno; a range past the end gives -EINVAL, a write
 * to a read-only device -EROFS. */
int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
int block_flush(struct block_dev *bd);

/* Allocation status of [offset, offset+len): returns 1 if the first
 * *pnum bytes are allocated in this layer (data or explicit zeros), 0 if
 * unallocated here (reads come from the backing file, or zeros), <0 on
 * error. *pnum > 0 on success. Raw images are all allocated. */
int block_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum);
/* Whether unallocated ranges read from a backing file (else as zeros). */
bool block_has_backing(const struct block_dev *bd);
/* Makes [offset, offset+len) read as zero without falling through to a
 * backing file (qcow2: zero clusters for whole clusters in v3). Partial
 * clusters are written with zeros. */
int block_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset);

#endif
