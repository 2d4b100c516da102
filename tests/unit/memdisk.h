/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A RAM disk behind the block layer for the disk-device unit tests (IDE,
 * virtio-blk), with a flush counter so a FLUSH can be seen. The test owns
 * the data: closing the block device (block_close, as a device does when
 * it is destroyed) frees only the struct, through its first member.
 */
#ifndef VMM_TESTS_MEMDISK_H
#define VMM_TESTS_MEMDISK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"

struct memdisk {
	struct block_dev bd; /* first: block_close frees the memdisk */
	uint8_t *data;
	int flushes;
};

static int md_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	memcpy(buf, ((struct memdisk *)bd->state)->data + off, len);
	return 0;
}

static int md_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	memcpy(((struct memdisk *)bd->state)->data + off, buf, len);
	return 0;
}

static int md_flush(struct block_dev *bd)
{
	((struct memdisk *)bd->state)->flushes++;
	return 0;
}

static void md_close(struct block_dev *bd)
{
	(void)bd; /* the data is the test's */
}

static const struct block_driver md_driver = {
	.name = "test-mem", .pread = md_pread, .pwrite = md_pwrite, .flush = md_flush,
	.close = md_close,
};

/* A disk of 'size' zero bytes; the test writes its own pattern. */
static inline struct memdisk *memdisk_new(uint64_t size, bool read_only)
{
	struct memdisk *m = calloc(1, sizeof(*m));
	m->data = calloc(1, size ? size : 1);
	m->bd = (struct block_dev){ .drv = &md_driver, .size = size, .read_only = read_only,
				    .fd = -1, .state = m };
	return m;
}

/* A RAM disk filled with a pattern of its seed, for tests that read it
 * back through a device. */
static inline struct memdisk *memdisk_patterned(uint64_t size, unsigned seed, bool read_only)
{
	struct memdisk *m = memdisk_new(size, read_only);
	for (uint64_t i = 0; i < size; i++)
		m->data[i] = (uint8_t)(i * 13 + (i >> 9) * 5 + seed);
	return m;
}

static inline void memdisk_free(struct memdisk *m)
{
	if (m) {
		free(m->data);
		free(m);
	}
}

#endif
