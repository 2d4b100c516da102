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

struct qcow2_create_opts {
	uint64_t size;
	uint32_t cluster_size;    /* 0: 65536 */
	int version;              /* 2 (compat=0.10) or 3 (compat=1.1, default) */
	unsigned refcount_bits;   /* 0: 16 */
	const char *backing_file; /* stored as given */
	const char *backing_fmt;  /* NULL: none recorded */
};
/* Creates (truncates) 'path' as an empty qcow2 image. */
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
 * snapshot, then qcow2_vmstate_read reads it through the active tree.
 * Reads and writes past QCOW2_VMSTATE_MAX, or past what an L1 table can
 * map, fail with -EFBIG; an unallocated part of the area reads as zeros
 * (never from a backing file). */
#define QCOW2_VMSTATE_MAX (1ULL << 40)
struct qcow2_vm_snapshot {
	uint64_t vm_state_size;  /* bytes of VM state written from offset 0 */
	uint64_t vm_clock_nsec;  /* the guest clock at the save */
};
int qcow2_snapshot_create_vm(struct block_dev *bd, const char *name,
			     const struct qcow2_vm_snapshot *vm);
int qcow2_vmstate_write(struct block_dev *bd, const void *buf, size_t len, uint64_t pos);
int qcow2_vmstate_read(struct block_dev *bd, void *buf, size_t len, uint64_t pos);

/* Writes one whole guest cluster (cluster-aligned offset) deflate-
 * compressed; falls back to a normal write when it does not shrink.
 * The cluster must be unallocated in this image (convert -c). */
int qcow2_write_compressed(struct block_dev *bd, uint64_t offset, const void *buf);
/* Rewrites the backing file name and format in the header (rebase, and
 * commit leaves it alone). NULL name: no backing file. */
int qcow2_set_backing(struct block_dev *bd, const char *name, const char *fmt);
/* Grows the virtual size (the L1 table grows as needed). */
int qcow2_grow(struct block_dev *bd, uint64_t new_size);
/* Shrinks the virtual size: the header first, then the clusters past the
 * new end are unmapped and freed (a crash in between leaks only). The
 * tail of the last cluster is zeroed. -EBUSY with internal snapshots. */
int qcow2_shrink(struct block_dev *bd, uint64_t new_size);
uint32_t qcow2_cluster_size(const struct block_dev *bd);
bool qcow2_has_backing(const struct block_dev *bd);

#endif
