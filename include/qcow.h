/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow version 1 beneath struct block_dev (src/block/qcow.c). */
#ifndef VMM_QCOW_H
#define VMM_QCOW_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"

bool block_is_qcow(const struct block_dev *bd);
/* The backing file name the image records, or NULL. */
const char *qcow_backing_name(const struct block_dev *bd);
/* Creates (truncates) 'path' as an empty qcow image of 'size' bytes, over
 * 'backing' (NULL: none; qcow records no backing format), laid out as
 * qemu-img lays it out: 4 KiB clusters, or 512-byte ones over a backing
 * file. */
int qcow_create(const char *path, uint64_t size, const char *backing, char *err, size_t errlen);

#endif
