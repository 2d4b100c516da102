/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names QEMU 7.2's x86 system emulator knows and vmm does not
 * implement: options, -device drivers, machine types, accelerators. The
 * command line uses them to tell "not supported by vmm" from a typo; the
 * docs and tests list them from here, so there is one list.
 */
#ifndef VMM_QEMU_NAMES_H
#define VMM_QEMU_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* One QEMU name vmm leaves out, and why (for -help and the docs). */
struct qemu_name {
	const char *name;
	const char *why;
};

enum qemu_name_kind {
	QEMU_OPTION,  /* without the leading '-' */
	QEMU_DEVICE,  /* -device DRIVER */
	QEMU_MACHINE, /* -machine TYPE (a prefix for the versioned ones: "pc-q35-") */
	QEMU_ACCEL,   /* -accel NAME */
	QEMU_OBJECT,  /* -object TYPE */
	QEMU_NAME_KINDS
};

/* The entry for 'name' of that kind, or NULL when QEMU 7.2 has no such
 * name that vmm lacks. */
const struct qemu_name *qemu_name_unsupported(enum qemu_name_kind kind, const char *name);

/* The whole list of one kind (for `vmm -help` and tests). */
const struct qemu_name *qemu_names(enum qemu_name_kind kind, size_t *count);

#endif
