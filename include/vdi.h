/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VDI (VirtualBox) beneath struct block_dev (src/block/vdi.c). */
#ifndef VMM_VDI_H
#define VMM_VDI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "block.h"

bool block_is_vdi(const struct block_dev *bd);
/* Creates (truncates) 'path' as an empty VDI of 'size' bytes (rounded up
 * to sectors) with 1 MiB blocks, laid out as qemu-img lays it out;
 * 'fixed': every block allocated up front (static=on). */
/* Checks the block map (entries inside the image, no data block used
 * twice, the header's allocated count): each finding a line on 'log';
 * returns how many. */
uint64_t vdi_check(struct block_dev *bd, FILE *log);
int vdi_create(const char *path, uint64_t size, bool fixed, char *err, size_t errlen);

#endif
