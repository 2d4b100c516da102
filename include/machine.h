/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC machine: configuration from the command line, the KVM VM, memory,
 * buses, devices and vCPUs, wired in one place (src/board/machine_pc.c), and the
 * requests (reset, power-off, exit) that vCPU threads send the main loop.
 */
#ifndef VMM_MACHINE_H
#define VMM_MACHINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "audio.h"
#include "bus.h"
#include "chan.h"
#include "chardev.h"
#include "cpu_model.h"
#include "device.h"
#include "event.h"
#include "guest_mem.h"
#include "hw/chipset.h"
#include "kvm.h"
#include "memmap.h"
#include "migchan.h"
#include "migstream.h"
#include "net.h"
#include "pci.h"
#include "sandbox.h"
#include "savestate.h"
#include "sdl.h"
#include "topology.h"
#include "vcpu.h"
#include "vnc.h"
#include "watchdog.h"

#define MAX_IDE_DRIVES 4
#define MAX_VIRTIO_DRIVES 8
/* backends and NICs: QEMU has no limit on -netdev and -device; 16 carries a
 * guest with every card model over two backends (tools/bench/nics.py: 14) */
#define MAX_NETDEVS 16
#define MAX_VCPUS 255
#define MAX_DRIVES 16    /* -drive if=none and if=virtio, by id */

#define MAX_VSERIAL_PORTS 8 /* VIRTIO_CONSOLE_MAX_PORTS */
#define MAX_ISA_SERIAL 4     /* COM1-COM4: -serial up to 4 times, isa-serial index 0-3 */

struct drive_config {
	const char *path;
	const char *format; /* NULL: probe */
	bool present;
	bool cdrom;
	bool read_only;
	bool snapshot;      /* writes go to a temporary qcow2 overlay */
	int cache;          /* enum block_cache, -drive cache= */
	bool discard_ignore; /* -drive discard=ignore: guest discards are no-ops */
	/* IDE slots (cfg.ide): QEMU's drive name (ide1-cd0, or the -drive
	 * id), which the ide-hd/ide-cd instance names with drive= */
	const char *name;
};

/* A -drive a device names by id (if=none, and if=virtio's own). */
struct named_drive {
	const char *id;
	struct drive_config d;
	const char *user; /* the device that took it, or NULL */
};

enum netdev_kind { NETDEV_USER, NETDEV_TAP };

struct netdev_config {
	const char *id;
	enum netdev_kind kind;
	struct net_user_config user; /* -netdev user */
	struct net_tap_config tap;   /* -netdev tap */
};

#define DEFAULT_NETDEV_ID "__default"

/* -rtc: where the guest's clock starts and which host clock drives it. */
enum rtc_base { RTC_BASE_UTC, RTC_BASE_LOCALTIME, RTC_BASE_DATE };
enum rtc_clock { RTC_CLOCK_HOST, RTC_CLOCK_RT, RTC_CLOCK_VM };

struct rtc_config {
	enum rtc_base base;
	int64_t date;        /* RTC_BASE_DATE: the start, seconds since 1970 as the registers read */
	enum rtc_clock clock;
	bool driftfix_slew;  /* accepted: vmm's periodic timer owes no ticks (docs/architecture.md) */
};

struct machine_config {
	uint64_t ram_size;
	struct cpu_topology smp;      /* resolved by the CLI */
	struct cpu_model cpu;         /* -cpu; default host */
	const char *bios_path;        /* -bios; NULL = search */
	const char *firmware_dirs[8]; /* -L, searched first */
	unsigned nfirmware_dirs;
	struct drive_config ide[MAX_IDE_DRIVES]; /* index = channel * 2 + unit */
	struct named_drive drives[MAX_DRIVES];
	unsigned ndrives;
	/* -fda/-fdb/-drive if=floppy: drive floppy0/floppy1 (in drives[]) is
	 * the board's isa-fdc's drive A:/B: */
	bool floppy[2];
	unsigned balloon_stats_interval; /* guest-stats-polling-interval=S, 0: on demand */
	struct netdev_config netdev[MAX_NETDEVS];
	unsigned nnetdev;
	/* Every device of the machine (include/device.h): the board's fixed
	 * ones, then -device and what older options imply, in creation and
	 * reset order. On the heap, grown as options come. */
	struct dev_instance *devs;
	unsigned ndevs;
	struct dev_global *globals;   /* -global */
	unsigned nglobals;
	char boot_order[5];           /* "cdn": a floppy, c disk, d CD, n network */
	char boot_once[5];            /* -boot once=: the first boot's order, then boot_order */
	bool boot_menu;
	bool boot_strict;             /* -boot strict=on: only the listed devices */
	int reboot_timeout;           /* -boot reboot-timeout=MS (-1: none); -2: not given */
	int splash_time;              /* -boot splash-time=MS; -1: not given */
	struct rtc_config rtc;        /* -rtc */
	bool no_acpi;                 /* -no-acpi: no PIIX4 PM, so SeaBIOS builds no ACPI tables */
	/* -machine pcspk-audiodev=ID: the PC speaker (isa-pcspk) plays
	 * through -audiodev ID; NULL: no speaker model, KVM's dummy port 0x61 */
	const char *pcspk_audiodev;
	bool no_fd_bootchk;           /* -no-fd-bootchk: SeaBIOS boots a floppy without 55AAh */
	/* -object rng-random|rng-builtin: what virtio-rng-pci,rng=ID reads */
	struct rng_object {
		const char *id;
		const char *filename;         /* rng-random's; NULL: rng-builtin (getrandom) */
	} rng_objects[4];
	unsigned nrng_objects;
	/* Guest RAM (include/guest_mem.h): -m's own anonymous mapping, a
	 * -mem-path file, or the -object memory-backend-* that -machine
	 * memory-backend= names; ram.size is ram_size. */
	struct ram_backend ram;
	struct ram_backend mem_backends[4]; /* every -object memory-backend-* */
	unsigned nmem_backends;
	bool mem_lock;                /* -overcommit mem-lock=on: mlockall() */
	bool uuid_set;                /* -uuid */
	uint8_t uuid[16];             /* ... in the order it is written (big-endian fields) */
	/* -serial by index (COM1-COM4); CHARDEV_REF: one of chardevs[].
	 * serial[0].kind CHARDEV_NONE: COM1's default, chosen by the CLI. */
	struct chardev_config serial[MAX_ISA_SERIAL];
	unsigned serial_ports;        /* bit per index with a UART: COM1 unless -serial none */
	/* -chardev (and -debugcon's own), at most CHARDEV_MAX. On the heap:
	 * each is 2.5 KiB, and a fixed array would be written (cleared, then
	 * copied into struct machine) by every vmm process, used or not. */
	struct chardev_config *chardevs;
	unsigned nchardevs;
	/* -audiodev, at most AUDIODEV_MAX (on the heap, as chardevs). */
	struct audiodev_config *audiodevs;
	unsigned naudiodevs;
	bool nographic;
	struct vnc_config vnc;        /* -vnc, -display vnc= */
	struct sdl_config sdl;        /* -display sdl, or the default with a display server */
	bool sdl_default;             /* ... the default: no window is only a warning */
	bool no_reboot;
	int watchdog_action;          /* enum watchdog_action; -watchdog-action */
	bool snapshot;                /* -snapshot: every disk as snapshot=on */
	const char *name;
	const char *kvm_path;
	struct chan_config qmp[4];    /* -qmp, CONTROL_MAX_QMP */
	unsigned nqmp;
	struct chan_config monitor;   /* -monitor */
	/* -mon chardev=ID on a -chardev stdio,mux=on: the human monitor is
	 * that chardev's second front end ("" none; see also serial[0].mux) */
	char monitor_mux[CHARDEV_ID_MAX];
	bool daemonize;
	const char *pidfile;
	struct sandbox_config sandbox; /* -sandbox, -runas, -chroot */
	const char *kernel_path;      /* -kernel: direct boot, see loader.h */
	const char *initrd_path;      /* -initrd (Multiboot: module list) */
	const char *append;           /* -append */
	/* -machine kernel-boot=: how -kernel starts (src/board/pc_direct_boot.c):
	 * auto enters the kernel without firmware when nothing needs the
	 * BIOS; firmware always boots it through SeaBIOS; direct insists. */
	enum kernel_boot_mode { KERNEL_BOOT_AUTO, KERNEL_BOOT_FIRMWARE, KERNEL_BOOT_DIRECT } kernel_boot;
	const char *incoming;         /* -incoming URI or "defer" */
	bool start_paused;            /* -S */
	const char *loadvm;           /* -loadvm TAG: start from that VM snapshot */
	struct chan_config gdb;       /* -gdb, -s (kind CHAN_NONE: no stub) */
};

enum machine_req {
	MACHINE_REQ_NONE,
	MACHINE_REQ_RESET,
	MACHINE_REQ_POWEROFF,
	MACHINE_REQ_EXIT,   /* with a status: isa-debug-exit, Ctrl-A x */
	MACHINE_REQ_ERROR,
};

/* Who asked, for the QMP events' "guest" and "reason" fields. */
enum machine_cause {
	CAUSE_GUEST,
	CAUSE_HOST_QMP,    /* QMP or monitor: system_reset, quit */
	CAUSE_HOST_SIGNAL, /* SIGTERM, SIGINT, SIGHUP */
	CAUSE_HOST_UI,     /* Ctrl-A x */
};

/* machine.hold bits: the one word a vCPU thread checks per exit. */
#define HOLD_REQUEST 1u
#define HOLD_PAUSE 2u
#define HOLD_DEBUG 4u /* a vCPU stopped for the gdb stub: parked until the main loop has seen it */

struct fw_cfg;
struct rtc;
struct serial;
struct i8042;
struct piix_ide;
struct control;
struct virtio_blk;
struct virtio_rng;
struct virtio_net;
struct virtio_balloon;
struct virtio_console;
struct chardev;
struct i8237;

/* QEMU's MigrationStatus values vmm reaches. */
enum mig_status {
	MIG_STATUS_NONE,
	MIG_STATUS_SETUP,
	MIG_STATUS_ACTIVE,
	MIG_STATUS_COMPLETED,
	MIG_STATUS_FAILED,
	MIG_STATUS_CANCELLING,
	MIG_STATUS_CANCELLED,
};

/* The switchover handshake: the migration thread wants the guest stopped
 * and its state saved; the main thread does it (or cannot). */
enum mig_switchover {
	SWITCH_NONE,
	SWITCH_WANTED, /* the thread asked */
	SWITCH_ASKED,  /* the main loop saw it */
	SWITCH_READY,  /* stopped, m->mig.state holds the state */
	SWITCH_ABORT,  /* no: switch_err says why */
};

/* One migration, outgoing or incoming (src/board/pc_migrate.c). */
struct machine_migration {
	enum mig_status status;
	bool events;              /* capability "events": MIGRATION events are sent */
	uint64_t downtime_limit_ms; /* migrate-set-parameters, once set */
	bool downtime_limit_set;
	uint64_t max_bandwidth;     /* bytes/s in pre-copy; 0 until set: the default */
	uint64_t throttle_start_ms, throttle_bytes; /* the pre-copy rate limit's window */
	bool throttle;            /* pre-copy: writes keep to max_bandwidth */
	bool incoming;            /* -incoming: waiting for (or reading) a stream */
	bool chan_open;           /* chan holds a descriptor */
	struct mig_chan chan;
	struct event_fd *listen_handle; /* incoming unix:/tcp: before the source connects */
	struct mig_stats stats;
	uint64_t ram_total;       /* bytes of guest RAM the stream carries */
	uint64_t dirty_syncs;
	uint64_t start_ms, setup_ms, total_ms, downtime_ms;
	uint64_t expected_downtime_ms; /* pre-copy: what is left, at the last round's rate */
	char error[256];
	/* The outgoing side's thread (src/board/pc_migrate.c). 'lock' guards
	 * what both threads touch while it runs: stats, dirty_syncs,
	 * expected_downtime_ms, the switchover and the thread's result. */
	pthread_t thread;
	bool thread_started;
	_Atomic bool cancel;      /* migrate_cancel, or vmm exits */
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* switchover changed */
	enum mig_switchover switchover;
	char switch_err[256];
	struct ss_writer state;   /* saved by the main thread at the switchover */
	bool was_running;
	/* The source's images are inactive: flushed, their locks dropped at
	 * the switchover for the destination to take (QEMU's
	 * bdrv_inactivate_all); a failed migration or cont takes them back. */
	bool images_inactive;
	uint64_t stop_at_ms;      /* when the guest stopped (0: not yet) */
	uint64_t limit_ms, bandwidth; /* the parameters, fixed for this migration */
	int thread_ret;
	char thread_err[256];
	bool stream_done;         /* the thread sent the stream or failed (thread_ret) */
	bool stream_reported;     /* main: the outcome is in status */
	bool thread_done;         /* ... and has cleaned up: it may be joined */
	uint64_t passes_announced; /* MIGRATION_PASS events sent */
	int wake_fd;              /* the thread wakes the main loop */
	struct event_fd *wake_handle;
};

/* A disk image as savevm sees it: QEMU's drive name (ide0-hd0,
 * virtio0, the -drive id) and the image, which its device owns. */
struct machine_disk {
	char name[64];
	struct block_dev *bd;
};

/* A QMP snapshot job (src/board/pc_snapshot.c). */
struct snapshot_job;

struct machine {
	struct machine_config cfg;
	struct kvm_vm kvm;
	struct guest_mem mem;
	struct memmap memmap;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct vcpu vcpus[MAX_VCPUS];
	unsigned ncpus;
	struct vcpu_host vcpu_host; /* what the vCPUs see of the machine */

	struct isa_irq isa_irq; /* the 16 ISA lines, each the OR of its devices */
	struct i440fx i440fx;
	struct piix3 piix3;
	struct piix_pm pm;
	struct port92 port92;
	struct post_port post;
	struct piix_ide *ide;
	struct virtio_balloon *vballoon;
	_Atomic bool balloon_changed; /* the driver wrote 'actual': BALLOON_CHANGE due */
	uint64_t balloon_stats_due;   /* monotonic ms: no query-driven refresh before */
	uint64_t balloon_event_due;   /* no BALLOON_CHANGE before this (rate limit) */
	struct event_timer *balloon_event_timer; /* the held-back BALLOON_CHANGE */
	struct event_timer *balloon_stats_timer; /* guest-stats-polling-interval */
	struct fw_cfg *fw_cfg;
	/* -kernel entered without firmware (pc_direct_boot.c), kept for resets;
	 * NULL when SeaBIOS boots it */
	struct boot_image *direct_boot;
	struct rtc *rtc;
	struct i8042 *i8042;
	struct i8237 *dma;           /* ISA DMA channels 0-7 */
	/* Audio backends, opened when a card first names them: one per
	 * -audiodev, and the implicit "none" of cards without one. */
	struct audio_backend *audio[AUDIODEV_MAX];
	struct audio_backend *audio_default;
	struct chardev *serial_cd[MAX_ISA_SERIAL]; /* -serial's backends, by index */
	/* cfg.netdev[i]'s backend, made for the NIC that names it (owned by
	 * that NIC; NULL: none yet): its saved state goes with the machine's. */
	struct net_backend *netdev_be[MAX_NETDEVS];
	struct dev_board board;      /* what device models use while created */
	struct watchdog_host watchdog; /* what i6300esb and ib700 do when they run out */
	struct machine_migration mig;
	const char *unshared_disk; /* a writable qcow2/vmdk or -snapshot disk: no migration */
	const char *run_state;   /* a QEMU RunState beyond running/paused, or NULL */

	_Atomic int request;     /* enum machine_req */
	_Atomic int exit_status;
	_Atomic int cause;       /* enum machine_cause of the request */
	_Atomic unsigned hold;   /* HOLD_* */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond; /* parked count changed, or hold changed */
	unsigned parked;
	struct control *control; /* QMP and monitor channels, or NULL */
	struct gdb_server *gdb;  /* -gdb or monitor gdbserver, or NULL (src/board/pc_gdb.c) */
	/* The first debug exit the main loop has not seen yet (pause_lock). */
	struct {
		bool valid;
		unsigned cpu;
		struct vcpu_debug_exit e;
	} gdb_pending;
	_Atomic bool gdb_sw_bp;  /* the stub has INT3s in guest memory */
	struct event_loop *loop; /* the main thread's; device timers, control, chardevs */
	int signal_fd;
	int event_fd;            /* requests wake the main loop */
	unsigned resets;
	uint64_t disk_size[MAX_IDE_DRIVES]; /* virtual sizes, for the CMOS */
	/* Images opened before the devices that take them (then NULL). */
	struct block_dev *ide_bd[MAX_IDE_DRIVES];
	struct block_dev *drive_bd[MAX_DRIVES];
	/* Every hard disk image (no CD-ROM), in QEMU's order, for savevm. */
	struct machine_disk disks[MAX_IDE_DRIVES + MAX_DRIVES];
	unsigned ndisks;
	struct snapshot_job *jobs; /* QMP jobs until job-dismiss (a list) */
	int64_t vm_clock_start;    /* the virtual clock at creation: a snapshot's VM CLOCK from 0 */
	int64_t rtc_epoch_real;    /* -rtc clock=rt|vm: CLOCK_REALTIME (ns) at creation ... */
	int64_t rtc_epoch_clock;   /* ... and the clock that counts from it, then */
	_Atomic unsigned tray_moved; /* IDE slots whose tray the guest moved: DEVICE_TRAY_MOVED due */
};

/* Direct kernel boot (src/board/pc_fw_cfg.c): adds the fw_cfg keys
 * loader.h lists, genroms/linuxboot.bin and a bootorder that puts the ROM
 * first. */
struct boot_image;
/* With borrow, the image's buffers are fw_cfg's without a copy (they
 * must outlive it). */
void loader_install(const struct boot_image *img, struct fw_cfg *f, bool strict, bool borrow);

/* The end of configuration, before anything starts: the board's fixed
 * devices go first in cfg->devs, and every PCI function gets its slot.
 * Returns -1 with one line in err (a taken slot, say). */
int machine_config_finish(struct machine_config *cfg, char *err, size_t errlen);

/* -global kvm-pit.lost_tick_policy=discard was given (the kernel PIT then
 * drops the ticks a vCPU missed instead of reinjecting them). */
bool kvm_pit_discards_lost_ticks(const struct machine_config *cfg);

/* Opens a drive's image through the block layer (its format or probed,
 * read-only, or behind a -snapshot overlay); dies with one line. */
struct block_dev *machine_open_drive(const struct machine *m, const struct drive_config *d);

/* Builds the whole machine in m, which must be all zero but for m->cfg
 * when cfg is m->cfg (main's machine is in .bss and the options are parsed
 * into it: clearing or copying its ~48 KiB again would make every page of
 * it resident, most of it vCPU slots a small machine never writes); on
 * error prints one line and exits 1. */
void machine_create(struct machine *m, const struct machine_config *cfg);
/* Runs until power-off or exit; returns the process exit status. */
int machine_run(struct machine *m);
void machine_destroy(struct machine *m);

/* From any thread: asks the main loop to reset, power off or exit. The
 * first request wins until the main loop has handled it. */
void machine_request(struct machine *m, enum machine_req req, int status);
void machine_request_from(struct machine *m, enum machine_req req, int status,
			  enum machine_cause cause);
bool machine_stopping(struct machine *m);
/* The ACPI power button, with QMP's POWERDOWN event (main thread). */
void machine_power_button(struct machine *m);
/* A request is pending after which no vCPU thread runs again (vmm exits). */
bool machine_stopping_for_good(struct machine *m);

/* Main thread: stop all vCPUs (returns once none runs guest code) and let
 * them run again. Both return false if nothing changed. */
bool machine_pause(struct machine *m);
bool machine_resume(struct machine *m);
/* Main thread: the whole machine's saved state, one stream (see
 * docs/architecture.md, "Saved state"): the vCPUs paused and every device
 * quiesced (unless already), each device instance saved in list order,
 * then KVM's VM and vCPU state; then it runs again if it ran. The load
 * does the reverse and fails on a section no device claimed. Guest RAM is
 * not part of it. 0, or -1 with one line in err (after a failed load the
 * machine's state is undefined: the caller discards it). */
struct ss_writer;
struct ss_reader;
int machine_save_state(struct machine *m, struct ss_writer *w, char *err, size_t errlen);
int machine_load_state(struct machine *m, struct ss_reader *r, char *err, size_t errlen);
/* -incoming: opens the URI (listens, opens the file, starts the
 * command) at set-up, before the sandbox; dies with one line. */
void machine_incoming_open(struct machine *m);
/* Every open image (disks, IDE CD media) and its backing chain:
 * machine_images_inactivate flushes the writable ones and drops all
 * their locks (a source at the switchover); machine_images_activate takes
 * them (a destination once loaded, a source continued or whose migration
 * failed): -1 with QEMU's message in err (one line) when another process
 * holds an image. */
void machine_images_inactivate(struct machine *m);
/* Ctrl-A s: fdatasync every writable image (warns on a failure). */
void machine_images_flush(struct machine *m);
int machine_images_activate(struct machine *m, char *err, size_t errlen);
/* Once, from machine_create: the migration state's lock and defaults. */
void machine_migration_init(struct machine *m);
/* vCPU thread, when 'hold' is set: parks while paused; returns false when
 * the thread must leave its loop (a request is pending). */
bool machine_vcpu_hold(struct machine *m);

#endif
