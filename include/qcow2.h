/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 beneath struct block_dev (src/block/qcow2.c), written from the format
 * specification: version 2 and 3 read/write, L1/L2 tables with an L2
 * cache, refcount_order 0..6, zlib-compressed clusters, backing files,
 * internal snapshots (list, read, create, apply, delete, with VM state).
 * The tool-facing extras below serve
 * vmm-img; the devices only see block.h.
 */
#ifndef VMM_QCOW2_H
#define VMM_QCOW2_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "block.h"

enum qcow2_prealloc {
	QCOW2_PREALLOC_OFF, QCOW2_PREALLOC_METADATA, QCOW2_PREALLOC_FALLOC, QCOW2_PREALLOC_FULL,
};

struct qcow2_create_opts {
	uint64_t size;
	uint32_t cluster_size;    /* 0: 65536 */
	int version;              /* 2 (compat=0.10) or 3 (compat=1.1, default) */
	unsigned refcount_bits;   /* 0: 16 */
	const char *backing_file; /* stored as given */
	const char *backing_fmt;  /* NULL: none recorded */
	enum qcow2_prealloc prealloc;
};
/* Creates (truncates) 'path' as an empty qcow2 image; with preallocation,
 * every cluster gets its L2 entry and host cluster as qemu-img lays them
 * out (an L2 table, then the clusters it maps; a refcount block right
 * after the allocation it is first needed for): the data reads as zeros
 * from file holes (metadata), posix_fallocate'd (falloc) or written
 * zeros (full). */
int qcow2_create(const char *path, const struct qcow2_create_opts *o, char *err, size_t errlen);

struct qcow2_info {
	int version;
	uint32_t cluster_size;
	unsigned refcount_bits;
	uint64_t size;
	char backing_file[1024];
	char backing_fmt[32];
	bool dirty, corrupt, lazy_refcounts;
	uint32_t nb_snapshots;
};
bool block_is_qcow2(const struct block_dev *bd);
int qcow2_get_info(struct block_dev *bd, struct qcow2_info *info);

struct qcow2_snapshot_info {
	char id[128];
	char name[256];
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint64_t icount; /* UINT64_MAX: not recorded */
};
/* Returns the number of snapshots and a malloc'ed array in *out. */
int qcow2_snapshot_list(struct block_dev *bd, struct qcow2_snapshot_info **out);

/* Persistent dirty bitmaps (the bitmaps extension, when its autoclear bit
 * is set), maintained as QEMU does: a writable open tracks every
 * consistent bitmap; the first write marks them in use in the file, every
 * write, zero write and discard sets the enabled ones' bits, and close
 * stores the bits and clears the in-use flags (a crash leaves them in use:
 * inconsistent, for every tool). Bitmaps already in use stay so,
 * untouched. Resize resizes them; amend and rebase keep them; snapshot
 * apply is refused (-EBUSY), as QEMU's. An inactive open (-incoming) does
 * not track: its first write clears the autoclear bit instead. */
struct qcow2_bitmap_info {
	char name[1024];
	uint64_t granularity;
	bool in_use, autom; /* flags: in-use, auto (enabled) */
};
/* Fills *out (freed by the caller) and returns how many. */
int qcow2_bitmap_list(struct block_dev *bd, struct qcow2_bitmap_info **out);

/* vmm-img bitmap: one change to the image's bitmaps (open read-write),
 * written through at once: the bitmap's table and data clusters, a new
 * directory, the header extension and its autoclear bit. ADD creates an
 * enabled, empty bitmap of 'granularity' (0: the larger of 4 KiB and the
 * cluster size); MERGE marks every byte range 'src_bits' (at
 * 'src_granularity', LSB first) marks. 0, or -errno with qemu-img's
 * reason in err. */
enum qcow2_bitmap_op {
	QCOW2_BITMAP_ADD, QCOW2_BITMAP_REMOVE, QCOW2_BITMAP_CLEAR, QCOW2_BITMAP_ENABLE,
	QCOW2_BITMAP_DISABLE, QCOW2_BITMAP_MERGE,
};
int qcow2_bitmap_change(struct block_dev *bd, enum qcow2_bitmap_op op, const char *name,
			uint64_t granularity, const uint8_t *src_bits, uint64_t src_granularity,
			char *err, size_t errlen);
/* A bitmap's bits (LSB first, freed by the caller) and granularity;
 * -ENOENT if there is none of that name. */
int qcow2_bitmap_read(struct block_dev *bd, const char *name, uint8_t **bits,
		      uint64_t *granularity);

struct qcow2_check_result {
	uint64_t corruptions, leaks;
	uint64_t corruptions_fixed, leaks_fixed;
	uint64_t image_end_offset;
	uint64_t allocated_clusters, total_clusters, compressed_clusters, fragmented_clusters;
};
#define QCOW2_REPAIR_LEAKS 1
#define QCOW2_REPAIR_ERRORS 2
/* Walks every table, recounts references, compares them with the stored
 * refcounts, and lists each finding on 'log' as qemu-img check does.
 * With repair flags (the image open read-write), rewrites refcounts. */
int qcow2_check(struct block_dev *bd, int repair, struct qcow2_check_result *r, FILE *log);

/* Internal snapshots of the disk state (no VM state), by ID or name.
 * The image must be open read-write, without a snapshot view. Apply needs
 * the same virtual size as when the snapshot was taken. */
int qcow2_snapshot_create(struct block_dev *bd, const char *name);
int qcow2_snapshot_apply(struct block_dev *bd, const char *name);
int qcow2_snapshot_delete(struct block_dev *bd, const char *name);

/* VM snapshots (savevm): the machine's state goes into the image's VM
 * state area, guest offsets from the first L1 entry past the virtual size
 * (where QEMU puts it), written with qcow2_vmstate_write into the active
 * image before qcow2_snapshot_create_vm takes the snapshot, whose L1
 * copy then maps it (the active tree lets it go). Loading: apply the
 * snapshot (the disk's part of its tree only: the active tree never maps
 * a VM state once a snapshot holds it), then qcow2_snapshot_vmstate_read
 * reads the VM state through the snapshot's own tree. qcow2_vmstate_read
 * reads the active image's area (what qcow2_vmstate_write wrote before a
 * snapshot took it). Reads and writes past QCOW2_VMSTATE_MAX, or past
 * what an L1 table can map, fail with -EFBIG; an unallocated part of the
 * area reads as zeros (never from a backing file). */
#define QCOW2_VMSTATE_MAX (1ULL << 40)
struct qcow2_vm_snapshot {
	uint64_t vm_state_size;  /* bytes of VM state written from offset 0 */
	uint64_t vm_clock_nsec;  /* the guest clock at the save */
};
int qcow2_snapshot_create_vm(struct block_dev *bd, const char *name,
			     const struct qcow2_vm_snapshot *vm);
int qcow2_vmstate_write(struct block_dev *bd, const void *buf, size_t len, uint64_t pos);
int qcow2_vmstate_read(struct block_dev *bd, void *buf, size_t len, uint64_t pos);
int qcow2_snapshot_vmstate_read(struct block_dev *bd, const char *name, void *buf, size_t len,
				uint64_t pos);

/* Writes one whole guest cluster (cluster-aligned offset) deflate-
 * compressed; falls back to a normal write when it does not shrink.
 * The cluster must be unallocated in this image (convert -c). */
int qcow2_write_compressed(struct block_dev *bd, uint64_t offset, const void *buf);
/* The same in two steps, for compressing on several threads (convert -c):
 * qcow2_deflate on any thread, each with its own deflater, then
 * qcow2_write_deflated in the order the clusters should land in the file
 * (compressed clusters are packed in write order, so the same order gives
 * the same file). qcow2_deflater_new: 0, or -ENOSYS without zlib.
 * qcow2_deflate: one whole cluster of bd's size into 'out' (at least the
 * cluster size less one byte): its compressed length, 0 when that does
 * not shrink it (it is then written plain, as qemu-img does), or -errno.
 * qcow2_write_deflated: the cluster at 'offset' (plain data in 'buf'),
 * its compressed form 'z' of 'zlen' bytes (0: write 'buf' plain). */
struct qcow2_deflater;
int qcow2_deflater_new(struct qcow2_deflater **d);
void qcow2_deflater_free(struct qcow2_deflater *d);
int qcow2_deflate(struct qcow2_deflater *d, struct block_dev *bd, const void *buf, void *out);
int qcow2_write_deflated(struct block_dev *bd, uint64_t offset, const void *buf, const void *z,
			 size_t zlen);
/* Rewrites the backing file name and format in the header (rebase, and
 * commit leaves it alone). NULL name: no backing file. */
int qcow2_set_backing(struct block_dev *bd, const char *name, const char *fmt);
/* Grows the virtual size (the L1 table grows as needed). */
int qcow2_grow(struct block_dev *bd, uint64_t new_size);
/* Shrinks the virtual size: the header first, then the clusters past the
 * new end are unmapped and freed (a crash in between leaks only). The
 * tail of the last cluster is zeroed. -EBUSY with internal snapshots. */
int qcow2_shrink(struct block_dev *bd, uint64_t new_size);
/* Unallocates every cluster (reads fall through to the backing file);
 * size and bitmaps stay. -EBUSY with internal snapshots. */
int qcow2_make_empty(struct block_dev *bd);
/* vmm-img amend: what to change (0 / -1: keep). Upgrade (compat 1.1)
 * first, then the refcount width (new table and blocks past the end of
 * the file, the header switched in one write), lazy refcounts, and a
 * downgrade (compat 0.10: zero clusters expanded, 16-bit refcounts
 * only) last. The image must not be dirty. On failure a one-line reason,
 * qemu-img's where it has one, in err. */
struct qcow2_amend_opts {
	int version;            /* 2 or 3; 0: keep */
	int lazy_refcounts;     /* 0 off, 1 on, -1 keep */
	unsigned refcount_bits; /* 0: keep */
	uint64_t size;          /* 0: keep; else grown or shrunk (before a downgrade) */
};
int qcow2_amend(struct block_dev *bd, const struct qcow2_amend_opts *o, char *err,
		size_t errlen);
uint32_t qcow2_cluster_size(const struct block_dev *bd);
bool qcow2_has_backing(const struct block_dev *bd);

#endif
