/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU's QMP commands that vmm does not have, each with the reason: the
 * dispatcher names the reason in its CommandNotFound, and a test holds the
 * list against the QEMU the tests run, so the list cannot drift.
 */
#ifndef VMM_QMP_LACKING_H
#define VMM_QMP_LACKING_H

#include <stddef.h>

struct qmp_lacking {
	const char *name;
	const char *why;
};

/* The reason vmm lacks QEMU's command 'name', or NULL. */
const char *qmp_lacking_why(const char *name);

/* The whole list (for the docs and tests). */
const struct qmp_lacking *qmp_lacking_list(size_t *count);

#endif
