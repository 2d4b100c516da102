/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the control interfaces (QMP, the human monitor) may do to the
 * machine. They see only this ops table, so their protocol code runs in unit
 * tests against a fake machine, without KVM.
 */
#ifndef VMM_VMCTL_H
#define VMM_VMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VMM_VERSION_MAJOR 0
#define VMM_VERSION_MINOR 1
#define VMM_VERSION_MICRO 0
#define VMM_VERSION "0.1.0"

struct vmctl_cpu {
	unsigned index;
	pid_t thread_id; /* the vCPU thread's TID, 0 if not running */
};

/* A NIC as info network shows it. */
struct vmctl_nic {
	const char *id;     /* id=, or NULL */
	const char *model;  /* the -device driver name */
	const char *netdev; /* the backend's -netdev id */
	uint8_t mac[6];
	bool link_up;
};

#define VMCTL_BALLOON_NSTATS 10

/* The balloon as the control interfaces see it. */
struct vmctl_balloon {
	uint64_t actual;  /* guest RAM minus the balloon, in bytes (QEMU's "actual") */
	uint64_t stats[VMCTL_BALLOON_NSTATS]; /* the guest's latest figures, by virtio tag */
	uint32_t stats_valid;                 /* bit t: stats[t] was reported */
};

/* A migration as query-migrate shows it (QEMU's MigrationInfo). */
struct vmctl_migration {
	const char *status;      /* QEMU's MigrationStatus name: none, setup, active, completed,
				  * failed, cancelling, cancelled */
	bool has_stats;          /* times and RAM figures (once it went past setup) */
	int64_t setup_ms, total_ms, downtime_ms; /* total: so far while it runs */
	uint64_t transferred;    /* stream bytes */
	uint64_t remaining, total; /* RAM bytes */
	uint64_t duplicate, normal; /* zero pages, data pages */
	uint64_t dirty_sync_count;
	const char *error;       /* failed: why, else NULL */
	bool events;             /* the "events" capability */
	/* migrate-set-parameters' values */
	uint64_t downtime_limit_ms;
	uint64_t max_bandwidth;  /* bytes per second during pre-copy */
};

/* What a VM snapshot command names (savevm, QMP snapshot-save...). */
struct vmctl_snapshot_req {
	const char *tag;           /* savevm: NULL or "": a name from the date */
	const char *vmstate;       /* the disk for the VM state; NULL: the first */
	const char *const *devices; /* the disks; NULL: every writable one */
	unsigned ndevices;
	bool overwrite;            /* savevm replaces a snapshot of that tag */
};

enum vmctl_snapshot_op { VMCTL_SNAPSHOT_SAVE, VMCTL_SNAPSHOT_LOAD, VMCTL_SNAPSHOT_DELETE };

/* A job as query-jobs shows it (QEMU's JobInfo). */
struct vmctl_job {
	const char *id;
	const char *type;          /* "snapshot-save", "snapshot-load", "snapshot-delete" */
	const char *status;        /* QEMU's JobStatus name */
	uint64_t current_progress, total_progress;
	const char *error;         /* NULL: none */
};

/* info snapshots prints through this, a line at a time. */
typedef void vmctl_print_fn(void *ctx, const char *text);

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
	/* The balloon (NULL or -ENODEV: there is none). balloon_set asks the
	 * guest to leave it 'bytes' of RAM (1 .. RAM size; more is RAM size). */
	int (*balloon_set)(void *opaque, uint64_t bytes);
	int (*balloon_query)(void *opaque, struct vmctl_balloon *out);
	/* Test hooks behind QMP's x-dirty-log and x-query-dirty-pages (NULL:
	 * not offered). dirty_log turns dirty logging of the memory region
	 * 'region' on or off. dirty_pages returns, then clears, what vCPUs
	 * wrote there since the last call: the guest-physical addresses of the
	 * first 'max' dirty pages in 'gpas' and their total count as the result.
	 * -ENOENT: no such region; -EINVAL: its logging is off. */
	int (*dirty_log)(void *opaque, const char *region, bool on);
	int64_t (*dirty_pages)(void *opaque, const char *region, uint64_t *gpas, size_t max);
	/* Test hook behind QMP's x-state-roundtrip (NULL: not offered): the
	 * whole machine's saved state (every device and KVM), loaded straight
	 * back into it. The stream's size, or -1 with one line in err. */
	int64_t (*state_roundtrip)(void *opaque, char *err, size_t errlen);
	/* watchdog-set-action: an enum watchdog_action (NULL: not offered). */
	void (*watchdog_set_action)(void *opaque, int action);
	/* screendump: the first display's picture into 'path', format 0 PPM,
	 * 1 PNG. 0; -ENODEV: no display (NULL: the same); -EIO: err says why. */
	int (*screendump)(void *opaque, const char *path, int format, char *err, size_t errlen);
	/* set_link: the cable of the NIC whose id= is 'name', or of the NIC
	 * on the -netdev whose id is 'name' (either side takes the link down
	 * for the pair). 0, or -ENODEV: no such NIC or netdev (NULL: none). */
	int (*set_link)(void *opaque, const char *name, bool up);
	/* info network: up to 'max' NICs in creation order; their count. */
	unsigned (*nics)(void *opaque, struct vmctl_nic *out, unsigned max);
	/* QEMU's RunState name for query-status (running, paused, inmigrate,
	 * postmigrate, prelaunch). NULL: running or paused by running(). */
	const char *(*run_state)(void *opaque);
	/* migrate: starts sending the machine to 'uri' (the work runs from
	 * the main loop after the reply). 0, or -1 with one line in err.
	 * migrate_incoming: -incoming defer's URI. query_migrate fills 'out'.
	 * migrate_set_capability: -ENOENT for a capability vmm does not
	 * have, -EBUSY while a migration runs. (NULL: no migration.) */
	int (*migrate)(void *opaque, const char *uri, char *err, size_t errlen);
	int (*migrate_incoming)(void *opaque, const char *uri, char *err, size_t errlen);
	void (*query_migrate)(void *opaque, struct vmctl_migration *out);
	int (*migrate_set_capability)(void *opaque, const char *name, bool on);
	/* migrate-set-parameters: "downtime-limit" (ms) or "max-bandwidth"
	 * (bytes/s); -ENOENT: no such parameter, -ERANGE: out of range,
	 * -EBUSY: a migration runs. */
	int (*migrate_set_parameter)(void *opaque, const char *name, uint64_t value);
	/* migrate_cancel: stops the outgoing migration (asynchronous: status
	 * cancelling, then cancelled, and the guest runs on). */
	void (*migrate_cancel)(void *opaque);
	/* savevm, loadvm, delvm (synchronous): 0, or -1 with one line in err.
	 * snapshot_info: info snapshots' text. (NULL: no snapshots.) */
	int (*snapshot)(void *opaque, enum vmctl_snapshot_op op, const struct vmctl_snapshot_req *req,
			char *err, size_t errlen);
	void (*snapshot_info)(void *opaque, vmctl_print_fn *print, void *ctx);
	/* QMP's snapshot jobs: job_start checks the job id, creates the job
	 * (its JOB_STATUS_CHANGE events) and runs it from the main loop after
	 * the reply; jobs lists up to 'max' (valid until the next command);
	 * job_dismiss removes a concluded one. 0, or -1 with one line. */
	int (*job_start)(void *opaque, const char *id, enum vmctl_snapshot_op op,
			 const struct vmctl_snapshot_req *req, char *err, size_t errlen);
	unsigned (*jobs)(void *opaque, struct vmctl_job *out, unsigned max);
	int (*job_dismiss)(void *opaque, const char *id, char *err, size_t errlen);
	/* gdbserver: the gdb stub on DEV (NULL: tcp::1234; "none": off; a
	 * client attached to the old one is detached). 0, or -1 with one
	 * line in err. (NULL: no stub.) */
	int (*gdbserver)(void *opaque, const char *dev, char *err, size_t errlen);
};

struct vmctl {
	const struct vmctl_ops *ops;
	void *opaque;
};

#endif
