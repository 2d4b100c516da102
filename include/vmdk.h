/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VMDK beneath struct block_dev (src/block/vmdk.c). */
#ifndef VMM_VMDK_H
#define VMM_VMDK_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"

/* Opens an already-open VMDK file (a sparse extent or a descriptor).
 * 'untrusted': its extents must be beneath its directory (block_open). */
struct block_dev *vmdk_open(int fd, const char *path, bool read_only,
			    const struct block_opts *opts, bool untrusted, char *err,
			    size_t errlen);

enum vmdk_subformat { VMDK_MONOLITHIC_SPARSE, VMDK_MONOLITHIC_FLAT };
/* Creates (truncates) an empty image of 'size' bytes (rounded up to
 * sectors). monolithicFlat also creates "NAME-flat.vmdk" beside it. */
int vmdk_create(const char *path, uint64_t size, enum vmdk_subformat sub, char *err,
		size_t errlen);

#endif
