// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image formats vmm recognises but does not read: VHDX ("vhdxfile" at
 * byte 0, Hyper-V's newer format) and QED ("QED\0", QEMU's enhanced
 * disk). Probing them keeps such a file from being taken for a raw disk
 * (a guest would boot the container's bytes, and could write a header
 * into them); opening one fails with a one-line reason that names the
 * way out.
 */
#include <stdio.h>
#include <string.h>

#include "block.h"

static bool vhdx_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "vhdxfile", 8);
}

static bool qed_probe(const uint8_t *buf, size_t len)
{
	return len >= 4 && !memcmp(buf, "QED\0", 4);
}

static struct block_dev *refuse(const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s images are not supported (convert it to qcow2 or raw with "
		 "qemu-img convert)", what);
	return NULL;
}

static struct block_dev *vhdx_open(int fd, const char *path, bool read_only,
				   const struct block_opts *opts, unsigned depth, bool untrusted,
				   char *err, size_t errlen)
{
	return refuse("VHDX", err, errlen);
}

static struct block_dev *qed_open(int fd, const char *path, bool read_only,
				  const struct block_opts *opts, unsigned depth, bool untrusted,
				  char *err, size_t errlen)
{
	return refuse("QED", err, errlen);
}

const struct block_format vhdx_format = {
	.name = "vhdx",
	.probe = vhdx_probe,
	.open = vhdx_open,
};

const struct block_format qed_format = {
	.name = "qed",
	.probe = qed_probe,
	.open = qed_open,
};
