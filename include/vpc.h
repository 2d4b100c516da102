/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VHD / vpc beneath struct block_dev (src/block/vpc.c). */
#ifndef VMM_VPC_H
#define VMM_VPC_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"

bool block_is_vpc(const struct block_dev *bd);
/* Creates (truncates) 'path' as an empty VHD, laid out as qemu-img lays
 * it out: dynamic (2 MiB blocks) or 'fixed'. The disk size is the CHS
 * geometry's, rounded up from 'size', unless 'force_size' (then 'size'
 * itself, creator "qem2", as Hyper-V and Azure size disks). */
int vpc_create(const char *path, uint64_t size, bool fixed, bool force_size, char *err,
	       size_t errlen);

#endif
