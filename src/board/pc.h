/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Between the PC board's own files (src/board/): machine_pc.c is the board
 * (what sits where, vCPUs, reset, pause); the firmware search, the CMOS and
 * fw_cfg contents, the control interface's view and the main loop are
 * modules of their own.
 */
#ifndef VMM_BOARD_PC_H
#define VMM_BOARD_PC_H

#include <stdio.h>

#include "machine.h"
#include "vmctl.h"

/* pc_firmware.c: opens the BIOS (-bios, -L, the default directories);
 * returns its fd, size and path. read_bios reads it into dst and closes
 * it. Both die with one line on failure. */
int open_bios(const struct machine_config *cfg, uint64_t *size, char **path_out);
void read_bios(int fd, char *path, uint8_t *dst, uint64_t size);
/* A PCI option ROM (romfile=), found as firmware is or in iPXE's
 * directory: its contents (heap) and size, or NULL with one line in err. */
uint8_t *read_option_rom(const struct machine_config *cfg, const char *name, size_t *len,
			 char *err, size_t errlen);

/* pc_cmos.c, pc_fw_cfg.c: what SeaBIOS reads, filled in once the devices
 * exist; setup_kernel_boot loads -kernel/-initrd/-append (dies on a bad
 * kernel). */
void setup_cmos(struct machine *m);
/* The CMOS boot order bytes (0x3D, 0x38) from letters: "" is cad. */
void setup_boot_order(struct machine *m, const char *order);
void setup_fw_cfg(struct machine *m);
/* The memory map's types, for SeaBIOS's etc/e820 and the zero page's or
 * PVH start info's map; KVM's identity map and TSS pages (kvm.c), which
 * both reserve. */
#define E820_RAM 1u
#define E820_RESERVED 2u
#define E820_ACPI 3u
#define KVM_RESERVED_START 0xFEFFC000ULL
#define KVM_RESERVED_SIZE 0x4000ULL
/* pc_smbios.c: the SMBIOS 2.8 entry point and structures for SeaBIOS's
 * etc/smbios files (tables: heap, the caller frees); false when they do
 * not fit a 2.1-style entry point (over 8 TiB of RAM, 1024 sockets) and
 * SeaBIOS should build its own. */
#define SMBIOS_ENTRY_POINT_LEN 31
bool smbios_build(const struct machine *m, uint8_t ep[SMBIOS_ENTRY_POINT_LEN],
		  uint8_t **tables, size_t *len);
/* The structures' guest address in the entry point, its checksums again
 * (what SeaBIOS does with the anchor; the firmware-less boot does it). */
void smbios_set_table_address(uint8_t ep[SMBIOS_ENTRY_POINT_LEN], uint32_t addr);
void setup_kernel_boot(struct machine *m);
/* pc_direct_boot.c: whether -kernel's img is entered without firmware
 * (then m keeps img, else the caller still owns it); and the set-up that
 * entry needs, done after the devices exist and again at every reset. */
bool direct_boot_choose(struct machine *m, struct boot_image *img);
void direct_boot_setup(struct machine *m);

/* pc_control.c: the control interfaces' ops, and the balloon's events
 * (BALLOON_CHANGE) and statistics timer. */
extern const struct vmctl_ops machine_vmctl_ops;
void balloon_changed(void *opaque);
void balloon_event(void *opaque);
void start_balloon_timers(struct machine *m);
/* The watchdog's actions (src/core/watchdog.c) on this board's paths. */
void init_watchdog(struct machine *m);

/* pc_migrate.c: QMP migrate, -incoming, query-migrate (vmctl ops), and
 * the incoming side's set-up (before the sandbox) and start (from the
 * main loop, the vCPUs parked). */
int machine_migrate(void *opaque, const char *uri, char *err, size_t errlen);
int machine_migrate_incoming(void *opaque, const char *uri, char *err, size_t errlen);
void machine_query_migrate(void *opaque, struct vmctl_migration *out);
int machine_migrate_set_capability(void *opaque, const char *name, bool on);
int machine_migrate_set_parameter(void *opaque, const char *name, uint64_t value);
void machine_migrate_cancel(void *opaque);
void machine_incoming_attach(struct machine *m);
void machine_migration_destroy(struct machine *m);

/* pc_snapshot.c: savevm/loadvm/delvm, info snapshots and QMP's snapshot
 * jobs (vmctl ops); -loadvm's load once the vCPUs are parked. */
int machine_snapshot(void *opaque, enum vmctl_snapshot_op op,
		     const struct vmctl_snapshot_req *req, char *err, size_t errlen);
void machine_snapshot_info(void *opaque, vmctl_print_fn *print, void *ctx);
int machine_job_start(void *opaque, const char *id, enum vmctl_snapshot_op op,
		      const struct vmctl_snapshot_req *req, char *err, size_t errlen);
unsigned machine_jobs(void *opaque, struct vmctl_job *out, unsigned max);
int machine_job_dismiss(void *opaque, const char *id, char *err, size_t errlen);
void machine_loadvm_attach(struct machine *m);
void machine_jobs_destroy(struct machine *m);
/* pc_gdb.c: the gdb stub's target (-gdb, -s, monitor gdbserver). A vCPU's
 * debug exit parks it and wakes the main loop, whose machine_gdb_poll
 * stops the machine and tells the stub. */
bool machine_gdb_debug_exit(struct machine *m, struct vcpu *v, const struct vcpu_debug_exit *e);
void machine_gdb_poll(void *opaque);
void machine_gdb_start(struct machine *m);
void machine_gdb_reapply(struct machine *m);
int machine_gdbserver(void *opaque, const char *spec, char *err, size_t errlen);

/* pc_devices.c: where the IDE controller keeps the image of slot 'index'
 * (channel * 2 + unit; it closes them at the end), NULL without one. */
struct block_dev **machine_ide_image(struct machine *m, unsigned index);
/* pc_media.c: block devices and removable media for the control
 * interfaces (query-block, query-blockstats, eject, blockdev-change-medium). */
unsigned machine_blocks(void *opaque, struct vmctl_block *out, unsigned max);
int machine_block_tray(void *opaque, const char *device, const char *id, enum vmctl_tray_op op,
		       bool force, char *err, size_t errlen);
void machine_guest_tray_moved(void *opaque, unsigned channel, unsigned unit);
int machine_block_change_medium(void *opaque, const char *device, const char *id,
				const char *filename, const char *format, const char *ro_mode,
				bool force, char *err, size_t errlen);

/* pc_gdb.c: guest memory as the gdb stub reads it (guest RAM and the
 * ROMs only): physical for cpu < 0, else through that vCPU's translation;
 * the vCPUs parked. 0 or -EFAULT. */
int machine_guest_read(struct machine *m, int cpu, uint64_t addr, void *buf, size_t len);
/* pc_inspect.c: the monitor's inspection commands (x, xp, info registers,
 * info pci, info chardev, info mtree) and QMP's query-pci, query-chardev. */
int machine_read_memory(void *opaque, int cpu, uint64_t addr, void *buf, size_t len);
int machine_cpu_registers(void *opaque, unsigned cpu, vmctl_print_fn *print, void *ctx);
void machine_dump_cpus(struct machine *m, FILE *out);
int machine_cpu_register(void *opaque, unsigned cpu, const char *name, uint64_t *val);
unsigned machine_pci_devices(void *opaque, struct vmctl_pci *out, unsigned max);
unsigned machine_chardevs(void *opaque, struct vmctl_chardev *out, unsigned max);
void machine_mtree(void *opaque, vmctl_print_fn *print, void *ctx);
/* pc_qtree.c: info qtree, the devices on their buses. */
void machine_qtree(void *opaque, vmctl_print_fn *print, void *ctx);
/* pc_qom.c: qom-list-types and device-list-properties from the device table. */
unsigned machine_device_types(void *opaque, struct vmctl_type *out, unsigned max);
int machine_device_props(void *opaque, const char *name, struct vmctl_prop *out, unsigned max);

/* pc_run.c: SIGTERM/SIGINT/SIGHUP blocked, read from the returned signalfd. */
int block_exit_signals(void);

/* machine_pc.c, for the main loop. */
void start_vcpus(struct machine *m);
/* The vCPU threads started parked (-S, -incoming): the machine is paused
 * as machine_pause leaves it, and machine_resume runs it. */
void start_vcpus_paused(struct machine *m);
void stop_vcpus(struct machine *m);
void machine_reset(struct machine *m);

#endif
