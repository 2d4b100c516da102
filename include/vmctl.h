/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the control interfaces (QMP, the human monitor) may do to the
 * machine. They see only this ops table, so their protocol code runs in unit
 * tests against a fake machine, without KVM.
 */
#ifndef VMM_VMCTL_H
#define VMM_VMCTL_H

#include <stdbool.h>
#include <sys/types.h>

#define VMM_VERSION_MAJOR 0
#define VMM_VERSION_MINOR 1
#define VMM_VERSION_MICRO 0
#define VMM_VERSION "0.1.0"

struct vmctl_cpu {
	unsigned index;
	pid_t thread_id; /* the vCPU thread's TID, 0 if not running */
};

struct vmctl_ops {
	bool (*running)(void *opaque);
	/* stop/cont are synchronous: when stop returns, no vCPU runs guest code. */
	void (*stop)(void *opaque);
	void (*cont)(void *opaque);
	void (*reset)(void *opaque);     /* asynchronous, through the main loop */
	void (*powerdown)(void *opaque); /* ACPI power button */
	void (*quit)(void *opaque);      /* asynchronous: vmm exits with status 0 */
	unsigned (*cpus)(void *opaque, struct vmctl_cpu *out, unsigned max);
	const char *(*name)(void *opaque); /* -name, or NULL */
};

struct vmctl {
	const struct vmctl_ops *ops;
	void *opaque;
};

#endif
