/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block backends under every disk device (IDE, ATAPI, later virtio).
 * A device model sees only this interface, so image formats can be added
 * beneath it without touching the devices. All calls are synchronous and
 * thread-safe (positional I/O); flush means fdatasync.
 */
#ifndef VMM_BLOCK_H
#define VMM_BLOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct block_dev;

/* What one layer of an image holds at an offset (vmm-img map, with
 * qemu-img map's meaning). */
struct block_map {
	bool allocated;   /* this layer decides the contents ("present") */
	bool zero;        /* reads as zeros */
	bool data;        /* stored data backs it */
	bool compressed;
	bool has_offset;
	uint64_t offset;  /* where the first byte lies in the layer's file */
	const char *file; /* that file when it is not the image's own (vmdk extents) */
};

struct block_driver {
	const char *name;
	int (*pread)(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
	int (*pwrite)(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
	int (*flush)(struct block_dev *bd);
	void (*close)(struct block_dev *bd);
	int (*status)(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum);
	int (*pwrite_zeroes)(struct block_dev *bd, uint64_t len, uint64_t offset);
	/* Deallocates [offset, offset+len): reads give zeros afterwards.
	 * NULL: discard is an accepted no-op hint. */
	int (*discard)(struct block_dev *bd, uint64_t len, uint64_t offset);
	/* vmm-img map: what this layer holds at 'offset' (struct block_map),
	 * the same for the *pnum bytes from there. NULL: block_map derives
	 * it from status. */
	int (*map)(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
		   struct block_map *m);
	/* A migration hands the image over (block_unlock_chain): state the
	 * format keeps in memory for the file (qcow2's dirty bitmaps) is
	 * written now; activate (block_lock_chain) takes it back. NULL: none. */
	void (*inactivate)(struct block_dev *bd);
	void (*activate)(struct block_dev *bd);
};

/* -drive cache=, as QEMU: which host caching the image file gets.
 * writeback: page cache, guest flush = fdatasync. none: O_DIRECT (page
 * cache bypassed, flush still fdatasync). writethrough: O_DSYNC, every
 * write durable before it completes. directsync: both. unsafe: page cache,
 * flush does nothing. */
enum block_cache {
	BLOCK_CACHE_WRITEBACK = 0,
	BLOCK_CACHE_NONE,
	BLOCK_CACHE_WRITETHROUGH,
	BLOCK_CACHE_DIRECTSYNC,
	BLOCK_CACHE_UNSAFE,
};
/* Parses a cache= value; -1 if unknown. */
int block_cache_parse(const char *s);
const char *block_cache_name(enum block_cache c);

/* What the guest asked of a device's image, for query-blockstats and
 * info blockstats: counted by block_pread/pwrite/flush (and block_account
 * for I/O that bypasses them), relaxed atomics since vCPU threads and
 * I/O workers count concurrently. */
enum block_acct { BLOCK_ACCT_READ, BLOCK_ACCT_WRITE, BLOCK_ACCT_FLUSH };
struct block_stats {
	_Atomic uint64_t rd_bytes, wr_bytes;
	_Atomic uint64_t rd_operations, wr_operations, flush_operations;
	_Atomic uint64_t failed_rd_operations, failed_wr_operations, failed_flush_operations;
	_Atomic uint64_t rd_total_time_ns, wr_total_time_ns, flush_total_time_ns;
	_Atomic uint64_t wr_highest_offset;  /* the end of the furthest write */
	_Atomic int64_t last_access_ns;      /* CLOCK_MONOTONIC of the last operation, 0: none */
};

struct block_dev {
	const struct block_driver *drv;
	const char *format; /* "raw", "qcow2", "qcow", "vdi", "vpc", "vmdk", "memory" */
	char *path;
	uint64_t size;   /* bytes */
	bool read_only;
	int fd;
	void *state;     /* driver-private */
	enum block_cache cache;
	/* O_DIRECT: buffer, offset and length alignment the file needs
	 * (512 or 4096); 1 without O_DIRECT. The block layer bounces. */
	unsigned align;
	bool discard_ignore;
	/* The format's allocation unit (vmm-img info's cluster_size), 0 if
	 * it has none; qcow2 reports its own through qcow2_get_info. */
	uint32_t cluster_size;
	/* Image locks (image_lock.c) on fd: the kind taken at open, and
	 * whether they are held now (not with no_lock, nor while inactive
	 * across a migration: block_unlock_chain / block_lock_chain). */
	bool lock_metadata, lock_force_share, locked;
	struct block_stats stats;
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
	/* Host caching of the image itself (backing files always use the
	 * page cache: they are read-only). */
	enum block_cache cache;
	/* -drive discard=ignore: block_discard does nothing */
	bool discard_ignore;
	/* qcow2: the backing file's recorded format was itself probed (the
	 * -snapshot overlay of a probed image): the files it names stay
	 * confined as an untrusted image's (see block_open). */
	bool untrusted_backing;
	/* -U / --force-share: take the image's locks sharing every
	 * permission (reads an image another process writes). */
	bool force_share;
	/* No image locks at all: vmm -incoming, whose source (on shared
	 * storage, maybe this host) still holds the image's locks. QEMU
	 * opens such images inactive, without locks, too. */
	bool no_lock;
};

/* Opens an image of 'format' ("raw", "qcow2", "vmdk"), or probes it when
 * format is NULL. A probed raw image may not have sector 0 rewritten into
 * another format's signature (-EPERM; a warning says so at open), as
 * QEMU does. Backing files open read-only, by name relative to the
 * image's directory, with their recorded format (probed if none; a chain
 * deeper than BLOCK_MAX_CHAIN or looping is refused).
 *
 * Files named inside an image (vmdk extents, a qcow2 backing file) may be
 * anywhere when the image is trusted: its format was given, or recorded by
 * the trusted overlay above it. An untrusted image (probed, or named by an
 * untrusted one) may only name files in its own directory or beneath it:
 * no absolute names, no ".." or symbolic link leading out.
 * On failure returns NULL with a one-line reason in err. */
#define BLOCK_MAX_CHAIN 16
struct block_dev *block_open(const char *path, const char *format, bool read_only,
			     const struct block_opts *opts, char *err, size_t errlen);
/* Opens the backing file 'name' that 'image' records (relative to its
 * directory) at chain depth 'depth', with 'format' or probed. 'confine':
 * 'image' is untrusted, so the name must stay beneath its directory.
 * 'untrusted': the backing file is untrusted whatever its format (an
 * untrusted image above it). */
struct block_dev *block_open_backing(const char *image, const char *name, const char *format,
				     bool read_only, const struct block_opts *opts, bool confine,
				     bool untrusted, unsigned depth, char *err, size_t errlen);
/* The path of 'name' as 'image' names it: relative to the image's
 * directory unless absolute. Freed by the caller. */
char *block_path_beside(const char *image, const char *name);
/* Opens the file 'name' that 'image' names, relative to its directory,
 * with open(2) 'flags'; with 'confine' it must be beneath that directory
 * (-EXDEV if not). Returns the fd or -errno; *resolved gets the path
 * (freed by the caller, also on error). For the format drivers. */
int block_open_named(const char *image, const char *name, int flags, bool confine,
		     char **resolved);
/* The one-line reason block_open_named()'s 'ret' gives for 'name', a
 * 'what' ("vmdk extent", "backing file"). */
void block_named_error(char *err, size_t errlen, const char *what, const char *name, int ret);
/* Opens 'path' (format or probed) read-only beneath a new qcow2 overlay
 * in $TMPDIR (default /var/tmp), which takes every write and is unlinked
 * at once: the image itself is never modified (-snapshot, snapshot=on). */
struct block_dev *block_open_snapshot(const char *path, const char *format, char *err,
				      size_t errlen);
/* Guesses the format of an open file from its first bytes: "qcow2",
 * "vmdk" or "raw". */
const char *block_probe(const uint8_t *buf, size_t len);

/* An image format beneath the block layer (qcow2, vmdk). block.c reaches
 * the formats only through this table (src/block/block_formats.c lists
 * them, probed in that order); raw is block.c's own. */
struct block_format {
	const char *name;
	/* Do the image's first bytes carry this format's magic? */
	bool (*probe)(const uint8_t *buf, size_t len);
	/* Opens the image on 'fd' at backing-chain depth 'depth' (the fd is
	 * the caller's to close on failure: NULL with a reason in err). */
	struct block_dev *(*open)(int fd, const char *path, bool read_only,
				  const struct block_opts *opts, unsigned depth, bool untrusted,
				  char *err, size_t errlen);
	/* true: the image keeps cache=none's O_DIRECT (aligned I/O, and
	 * discard=ignore applies); false: the file goes back to the page
	 * cache before open (read-only sparse extents). */
	bool o_direct;
	/* Does this open image of the format have a backing file? NULL: never. */
	bool (*has_backing)(const struct block_dev *bd);
	/* Its open backing file, or NULL (NULL: never has one). */
	struct block_dev *(*backing)(const struct block_dev *bd);
	/* Creates (truncates) 'path' as an empty overlay of 'size' bytes over
	 * 'backing' (format 'backing_fmt'). NULL: the format has none. */
	int (*create_overlay)(const char *path, uint64_t size, const char *backing,
			      const char *backing_fmt, char *err, size_t errlen);
};
extern const struct block_format *const block_formats[];
extern const unsigned block_formats_count;
/* The format called 'name', or NULL (raw, or unknown). */
const struct block_format *block_format_find(const char *name);

/* Locks an open image file as QEMU does (src/block/image_lock.c): a
 * writer (write) or a reader, of an image with metadata (a format, not
 * raw: the resize permission too), sharing everything with force_share.
 * The locks go with the file's close. -EAGAIN when another user's locks
 * conflict, with QEMU's two-line message in err ("Failed to get \"write\"
 * lock" / "Is another process using the image [path]?"). A file system
 * without locks is no error. */
int image_lock(int fd, const char *path, bool write, bool metadata, bool force_share,
	       char *err, size_t errlen);
/* Drops every lock image_lock took on fd (the open stays). */
void image_unlock(int fd);

/* A migration's hand-over of the images, as QEMU's inactivate/activate:
 * block_unlock_chain drops the locks of 'bd' and its backing chain (the
 * caller flushed it first); block_lock_chain takes them again, as at open
 * (a writer's for a writable image), for every layer not holding them.
 * -1 with the conflicting layer's two-line message in err when another
 * user holds the image; the layers taken by this call are dropped again,
 * so a failure leaves the chain as it was. */
void block_unlock_chain(struct block_dev *bd);
int block_lock_chain(struct block_dev *bd, char *err, size_t errlen);

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
/* The same on a file that may be open with O_DIRECT: anything not aligned
 * to 'align' (buffer, offset, length) goes through an aligned bounce
 * buffer; a partial block is read, modified and written back, so callers
 * must not write the same block concurrently (raw takes a lock, qcow2 has
 * its mutex). The file never grows past off+len because of rounding. */
int fd_pread_al(int fd, unsigned align, void *buf, size_t len, uint64_t off);
int fd_pwrite_al(int fd, unsigned align, const void *buf, size_t len, uint64_t off);
/* How much of [at, at+len) of a file is one kind, hole (*hole true: reads
 * zeros, no blocks) or data: at least 1 byte, at most len (vmm-img map
 * of extents that pass through to a file). */
uint64_t fd_hole_run(int fd, uint64_t at, uint64_t len, bool *hole);
/* The O_DIRECT alignment of an open file: 1 if it is not open with
 * O_DIRECT, else BLKSSZGET for a block device or the smallest of 512 and
 * 4096 that a direct read accepts. */
unsigned fd_dio_align(int fd);

/* Each returns 0 or -errno; a range past the end gives -EINVAL, a write
 * to a read-only device -EROFS. */
int block_pread(struct block_dev *bd, void *buf, size_t len, uint64_t offset);
int block_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t offset);
int block_flush(struct block_dev *bd);
/* Counts one operation of 'len' bytes at 'offset' that took 'ns' and
 * failed or not, for I/O that went around block_pread/pwrite/flush
 * (virtio-blk's io_uring path). */
void block_account(struct block_dev *bd, enum block_acct type, uint64_t offset, uint64_t len,
		   int64_t ns, bool failed);
/* A copy of the counters (plain integers). */
struct block_stats_snapshot {
	uint64_t rd_bytes, wr_bytes, rd_operations, wr_operations, flush_operations;
	uint64_t failed_rd_operations, failed_wr_operations, failed_flush_operations;
	uint64_t rd_total_time_ns, wr_total_time_ns, flush_total_time_ns, wr_highest_offset;
	int64_t idle_time_ns; /* since the last operation; -1: none yet */
};
void block_stats_get(struct block_dev *bd, struct block_stats_snapshot *out);

/* Allocation status of [offset, offset+len): returns 1 if the first
 * *pnum bytes are allocated in this layer (data or explicit zeros), 0 if
 * unallocated here (reads come from the backing file, or zeros), <0 on
 * error. *pnum > 0 on success. Raw images are all allocated. */
int block_status(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum);
/* Whether unallocated ranges read from a backing file (else as zeros). */
bool block_has_backing(const struct block_dev *bd);
/* The open backing file of 'bd', or NULL. */
struct block_dev *block_backing(const struct block_dev *bd);
/* What 'bd' itself holds at [offset, offset+len): fills *m for the first
 * *pnum (> 0) bytes. 0 or -errno. */
int block_map(struct block_dev *bd, uint64_t offset, uint64_t len, uint64_t *pnum,
	      struct block_map *m);
/* Makes [offset, offset+len) read as zero without falling through to a
 * backing file (qcow2: zero clusters for whole clusters in v3). Partial
 * clusters are written with zeros. */
int block_pwrite_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset);
/* Guest discard: deallocates the range when the driver can (raw: a hole
 * punched, so it reads as zeros and the blocks are freed; qcow2 v3: whole
 * clusters become zero clusters, their host clusters released); otherwise
 * a no-op hint that keeps the data (partial qcow2 clusters, v2, vmdk). */
int block_discard(struct block_dev *bd, uint64_t len, uint64_t offset);
/* Guest write-zeroes: with 'unmap' the range may be deallocated (raw:
 * punched; others: block_pwrite_zeroes); without, it stays allocated
 * (raw: FALLOC_FL_ZERO_RANGE, else zeros written). */
int block_write_zeroes(struct block_dev *bd, uint64_t len, uint64_t offset, bool unmap);
/* The host fd a device may hand to asynchronous I/O (io_uring) for
 * [offset, offset+len): only for raw images, and not where the block
 * layer must see the write (a probed raw image's sector 0). -1 if not. */
int block_async_fd(struct block_dev *bd, uint64_t offset, uint64_t len, bool write);

#endif
