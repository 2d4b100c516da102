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
/* The QEMU release whose command line, QMP and monitor vmm follows: what
 * query-version and the QMP greeting report as "qemu" (tools such as
 * libvirt gate features on it), with vmm's own version in "package". */
#define VMM_QEMU_MAJOR 7
#define VMM_QEMU_MINOR 2
#define VMM_QEMU_MICRO 0
#define VMM_QEMU_VERSION "7.2.0"

struct vmctl_cpu {
	unsigned index;
	pid_t thread_id; /* the vCPU thread's TID, 0 if not running */
};

/* VM exits of every vCPU, by kind. */
struct vmctl_exits {
	uint64_t io, mmio, hlt, intr;
	uint64_t coalesced; /* writes KVM queued in the coalesced MMIO ring, applied */
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

/* A block device as query-block, query-blockstats and info block show
 * it (QEMU's BlockInfo). Valid until the next command. */
struct vmctl_block {
	char device[64];          /* QEMU's drive name: ide1-cd0, virtio0, the -drive id */
	char qdev[96];            /* the device's id=, or its QOM path */
	unsigned node;            /* numbers QEMU's "#blockNNN" node names */
	bool removable;           /* has a tray: locked and tray_open mean something */
	bool locked, tray_open;
	bool inserted;            /* a medium: the rest below */
	const char *file, *format;
	bool ro;
	uint64_t virtual_size, actual_size;
	unsigned backing_depth;
	const char *backing_file;  /* NULL: none */
	bool cache_direct, cache_no_flush, cache_writeback;
	struct vmctl_block_stats {
		uint64_t rd_bytes, wr_bytes, rd_operations, wr_operations, flush_operations;
		uint64_t failed_rd_operations, failed_wr_operations, failed_flush_operations;
		uint64_t rd_total_time_ns, wr_total_time_ns, flush_total_time_ns;
		uint64_t wr_highest_offset;
		int64_t idle_time_ns; /* -1: never accessed */
	} stats;
};

/* The host's tray operations (QMP blockdev-open-tray ..., eject). */
enum vmctl_tray_op {
	VMCTL_TRAY_OPEN,
	VMCTL_TRAY_CLOSE,
	VMCTL_MEDIUM_REMOVE, /* the tray must be open */
	VMCTL_EJECT,         /* open, then remove */
};

/* A PCI function as query-pci and info pci show it. */
struct vmctl_pci_bar {
	int bar;               /* 0-5, 6: the ROM */
	bool io, mem64, prefetch;
	uint64_t address;      /* UINT64_MAX: not mapped */
	uint64_t size;
};
struct vmctl_pci {
	unsigned bus, slot, function;
	uint16_t vendor, device, subsystem_vendor, subsystem;
	uint16_t class_code;   /* base class << 8 | subclass */
	uint8_t prog_if, revision;
	uint8_t irq_pin;       /* 0: none, 1-4: INTA-INTD */
	uint8_t irq;           /* the interrupt line register */
	const char *qdev_id;   /* "" without id= */
	unsigned nbars;
	struct vmctl_pci_bar bars[7];
	const char *desc;      /* the class's name as QEMU prints it, or NULL */
};

/* A character device as query-chardev shows it. */
struct vmctl_chardev {
	char label[64];
	char filename[160];
	bool frontend_open;
};

/* A device type as qom-list-types shows it (QEMU's ObjectTypeInfo). */
struct vmctl_type {
	const char *name;
	const char *parent; /* NULL: none named */
	bool abstract;      /* a kind of device, not one -device creates */
};

/* query-memdev: one memory backend as QEMU lists it. */
struct vmctl_memdev {
	const char *id;
	uint64_t size;
	bool merge, dump, prealloc, share, reserve;
};

enum vmctl_value_kind { VMCTL_VALUE_NONE, VMCTL_VALUE_INT, VMCTL_VALUE_BOOL, VMCTL_VALUE_STR };

/* A device property as device-list-properties shows it (ObjectPropertyInfo). */
struct vmctl_prop {
	const char *name;
	const char *type;       /* "bool", "uint32", "str"... as -device DRIVER,help */
	char description[320];  /* empty: none */
	enum vmctl_value_kind def_kind; /* the default, if it has one */
	uint64_t def_int;
	bool def_bool;
	const char *def_str;
};

struct vmctl_ops {
	bool (*running)(void *opaque);
	/* stop/cont are synchronous: when stop returns, no vCPU runs guest code. */
	void (*stop)(void *opaque);
	/* -1 with a reason when the guest cannot run: a source after its
	 * migration whose images another process holds now. */
	int (*cont)(void *opaque, char *err, size_t errlen);
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
	/* Test hook behind QMP's x-query-exits (NULL: not offered): the
	 * vCPUs' exits by kind, summed, since they were created (start or
	 * reset). */
	void (*exits)(void *opaque, struct vmctl_exits *out);
	/* inject-nmi / monitor nmi: an NMI to every vCPU, as QEMU's x86
	 * machines deliver it: 0, or -errno (NULL: not offered). */
	int (*inject_nmi)(void *opaque);
	/* -m: the guest's RAM in bytes (query-memory-size-summary). */
	uint64_t (*ram_size)(void *opaque);
	/* query-memdev: the memory backends, up to 'max': every -object
	 * memory-backend-*, and -m's own RAM as QEMU's "pc.ram" when no
	 * backend is the machine's; their count. (NULL: none.) */
	unsigned (*memdevs)(void *opaque, struct vmctl_memdev *out, unsigned max);
	/* -uuid: its 16 bytes as written, true; false without one. (NULL: none.) */
	bool (*uuid)(void *opaque, uint8_t out[16]);
	/* Block devices (NULL: none). blocks lists up to 'max' in QEMU's
	 * order; their count. block_tray and block_change_medium name the
	 * drive by 'device' (its drive name) or 'id' (the device's id or QOM
	 * path), exactly one of them: 0; -ENODEV: no such device (QEMU's
	 * DeviceNotFound); -1: err says why. A locked tray is only asked to
	 * open unless 'force'. change_medium: ro_mode NULL, "retain",
	 * "read-only" or "read-write"; format NULL: probed. */
	unsigned (*blocks)(void *opaque, struct vmctl_block *out, unsigned max);
	int (*block_tray)(void *opaque, const char *device, const char *id, enum vmctl_tray_op op,
			  bool force, char *err, size_t errlen);
	int (*block_change_medium)(void *opaque, const char *device, const char *id,
				   const char *filename, const char *format, const char *ro_mode,
				   bool force, char *err, size_t errlen);
	/* ---- inspection (NULL: not offered) ----
	 * read_memory: 'len' bytes at 'addr': guest-physical (cpu < 0), or
	 * as vCPU 'cpu' sees it (linear, through its page tables when paging
	 * is on). Only guest RAM and the ROMs: 0, or -EFAULT (outside them,
	 * or not mapped), -EINVAL (no such vCPU). The vCPUs are held while
	 * it reads. */
	int (*read_memory)(void *opaque, int cpu, uint64_t addr, void *buf, size_t len);
	/* info registers: vCPU 'cpu''s registers, printed in QEMU's layout;
	 * -EINVAL: no such vCPU. cpu_register: one register by gdb's / the
	 * monitor's name ("pc", "eax", "rsp", "cr3"...) for p; -ENOENT. */
	int (*cpu_registers)(void *opaque, unsigned cpu, vmctl_print_fn *print, void *ctx);
	int (*cpu_register)(void *opaque, unsigned cpu, const char *name, uint64_t *val);
	/* query-pci, info pci: the functions on bus 0, up to 'max'. */
	unsigned (*pci_devices)(void *opaque, struct vmctl_pci *out, unsigned max);
	/* query-chardev, info chardev: up to 'max'. */
	unsigned (*chardevs)(void *opaque, struct vmctl_chardev *out, unsigned max);
	/* info mtree: the guest's address spaces, printed. */
	void (*mtree)(void *opaque, vmctl_print_fn *print, void *ctx);
	/* info qtree: the devices on their buses, printed. */
	void (*qtree)(void *opaque, vmctl_print_fn *print, void *ctx);
	/* qom-list-types: the device types, abstract ones included, up to
	 * 'max'; each parent named is in the list. */
	unsigned (*device_types)(void *opaque, struct vmctl_type *out, unsigned max);
	/* device-list-properties: the properties of type 'name', up to 'max';
	 * -ENOENT: no such type, -EINVAL: an abstract one. */
	int (*device_props)(void *opaque, const char *name, struct vmctl_prop *out, unsigned max);
};

struct vmctl {
	const struct vmctl_ops *ops;
	void *opaque;
};

/* memsave / pmemsave (QMP and monitor): 'size' bytes of the guest from
 * 'addr' into a new file at 'path'; 'cpu' < 0: guest-physical, where
 * what is not RAM or ROM reads as zeros (as QEMU's unassigned memory);
 * otherwise linear addresses as that vCPU sees them, and an unmapped page
 * fails the whole save. 0, or -1 with QEMU's wording in err. */
int vmctl_memsave(const struct vmctl *ctl, int cpu, uint64_t addr, uint64_t size,
		  const char *path, char *err, size_t errlen);

#endif
