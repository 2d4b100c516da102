// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Every image format beneath the block layer, in probing order. block.c
 * knows formats only through this table; a new format is its file, its
 * struct block_format and one line below.
 */
#include "block.h"
#include "util.h"

extern const struct block_format qcow2_format, qcow_format, vmdk_format, vdi_format, vpc_format,
	vhdx_format, qed_format;

const struct block_format *const block_formats[] = {
	&qcow2_format,
	&qcow_format,
	&vmdk_format,
	&vdi_format,
	&vpc_format,
	&vhdx_format,
	&qed_format,
};

const unsigned block_formats_count = ARRAY_SIZE(block_formats);
