// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the image parsers (qcow2, qcow, vmdk, vdi, vpc,
 * the refused vhdx/qed, probing): the input is an image file. It is
 * opened with its format probed and as each format explicitly, read-only and (for what opens) read-write, and read and
 * written at a few places, the way a guest would touch a disk; a qcow2
 * image's snapshots are applied and their VM state read (loadvm), and one
 * with VM state is taken (savevm). Any crash,
 * sanitizer report, leak or hang is a bug; a clean open error is fine.
 *
 *   make fuzz FUZZ_SECONDS=600         (make check runs it briefly)
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block.h"
#include "qcow2.h"

static int image_fd = -1;
static char image_path[64];

static void touch_image(struct block_dev *bd)
{
	static uint8_t buf[65536];
	const uint64_t offsets[] = { 0, 512, 65536, 1 << 20, bd->size / 2, bd->size - 512 };

	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		uint64_t off = offsets[i] & ~511ULL;
		size_t len = i == 0 ? sizeof(buf) : 4096;
		if (off >= bd->size)
			continue;
		if (len > bd->size - off)
			len = (size_t)(bd->size - off);
		if (block_pread(bd, buf, len, off) < 0)
			continue;
		if (!bd->read_only) {
			memset(buf, 0xA5, len);
			block_pwrite(bd, buf, len, off);
		}
	}
	block_flush(bd);
	/* vmm-img map's walk: every table entry's kind and host offset */
	uint64_t n = 0;
	struct block_map m;
	for (uint64_t off = 0, i = 0; off < bd->size && i < 32; off += n, i++)
		if (block_map(bd, off, (bd->size - off < (1 << 20) ? bd->size - off : (1 << 20)), &n, &m) < 0 || !n)
			break;
}

/* qcow2's internal snapshots as loadvm uses them: each one applied (the
 * table's L1 offset and size, its trees) and its VM state read through
 * its own tree (and the active area through the active tree); then a VM
 * state written and a snapshot taken with it. */
static void touch_snapshots(struct block_dev *bd)
{
	static uint8_t buf[65536];
	struct qcow2_snapshot_info *sn;
	int n;

	if (!block_is_qcow2(bd) || bd->read_only)
		return;
	n = qcow2_snapshot_list(bd, &sn);
	for (int i = 0; i < n && i < 4; i++) {
		if (qcow2_snapshot_apply(bd, sn[i].id) < 0)
			continue;
		uint64_t len = sn[i].vm_state_size < sizeof(buf) ? sn[i].vm_state_size : sizeof(buf);
		qcow2_snapshot_vmstate_read(bd, sn[i].id, buf, (size_t)len, 0);
		if (sn[i].vm_state_size > sizeof(buf))
			qcow2_snapshot_vmstate_read(bd, sn[i].id, buf, 4096,
						    sn[i].vm_state_size - 4096);
		qcow2_vmstate_read(bd, buf, 4096, 0);
	}
	free(sn);
	memset(buf, 0x5A, sizeof(buf));
	if (qcow2_vmstate_write(bd, buf, sizeof(buf), 1000) == 0) {
		struct qcow2_vm_snapshot vm = { 1000 + sizeof(buf), 1 };
		qcow2_snapshot_create_vm(bd, "fuzz-vm", &vm);
	}
}

/* qcow2's persistent bitmaps as vmm-img info/bitmap/check use them: each
 * listed and its bits read (tables and data clusters from the input);
 * on a writable open each merged into itself, and one added and removed. */
static void touch_bitmaps(struct block_dev *bd)
{
	struct qcow2_bitmap_info *b;
	char err[1200];
	uint8_t *bits;
	uint64_t gran;
	int n;

	if (!block_is_qcow2(bd))
		return;
	n = qcow2_bitmap_list(bd, &b);
	for (int i = 0; i < n && i < 4; i++) {
		/* a legal bitmap may be 512 MiB: only small ones, for speed */
		if (!b[i].granularity || bd->size / b[i].granularity > (8 << 20))
			continue;
		if (qcow2_bitmap_read(bd, b[i].name, &bits, &gran) < 0)
			continue;
		if (!bd->read_only)
			qcow2_bitmap_change(bd, QCOW2_BITMAP_MERGE, b[i].name, 0, bits, gran, err,
					    sizeof(err));
		free(bits);
	}
	free(b);
	if (!bd->read_only && bd->size <= (1ULL << 36) &&
	    qcow2_bitmap_change(bd, QCOW2_BITMAP_ADD, "fuzz", 0, NULL, 0, err,
						  sizeof(err)) == 0)
		qcow2_bitmap_change(bd, QCOW2_BITMAP_REMOVE, "fuzz", 0, NULL, 0, err, sizeof(err));
}

static void try_open(const char *format, bool read_only)
{
	char err[256];
	/* Backing files are not followed: their names come from the input. */
	struct block_opts opts = { .no_backing = true, .no_barriers = true };
	struct block_dev *bd = block_open(image_path, format, read_only, &opts, err, sizeof(err));

	if (!bd)
		return;
	touch_image(bd);
	touch_bitmaps(bd);
	touch_snapshots(bd);
	block_close(bd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = { NULL, "qcow2", "vmdk", "qcow", "vdi", "vpc",
						"vhdx", "qed" };
	const size_t nformats = sizeof(formats) / sizeof(formats[0]);

	if (image_fd < 0) {
		image_fd = memfd_create("fuzz-image", 0);
		if (image_fd < 0)
			abort();
		snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
	}
	/* A vmdk descriptor names its extent files, which may be any host
	 * file: never open one for writing here. */
	bool descriptor = (size < 4 || memcmp(data, "KDMV", 4)) &&
			  !strcmp(block_probe(data, size), "vmdk");
	for (size_t f = 0; f < nformats; f++) {
		for (int rw = 0; rw < 2; rw++) {
			if (rw && (descriptor || (f == 2 && (size < 4 || memcmp(data, "KDMV", 4)))))
				continue;
			/* Every open sees the input as given, not an earlier write. */
			if (ftruncate(image_fd, 0) < 0 || pwrite(image_fd, data, size, 0) != (ssize_t)size)
				abort();
			try_open(formats[f], !rw);
		}
	}
	return 0;
}
