// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Image formats vmm recognises but does not read: QED ("QED\0", QEMU's
 * enhanced disk). Probing it keeps such a file from being taken for a raw
 * disk (a guest would boot the container's bytes, and could write a
 * header into them); opening one fails with a one-line reason that names
 * the way out.
 */
#include <stdio.h>
#include <string.h>

#include "block.h"

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

static struct block_dev *qed_open(int fd, const char *path, bool read_only,
				  const struct block_opts *opts, unsigned depth, bool untrusted,
				  char *err, size_t errlen)
{
	return refuse("QED", err, errlen);
}

const struct block_format qed_format = {
	.name = "qed",
	.probe = qed_probe,
	.open = qed_open,
};
