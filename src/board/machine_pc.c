// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PC machine, wired in one place: what QEMU's "-M pc" (i440FX + PIIX3)
 * offers SeaBIOS and the OS, in the same places, so that the firmware's
 * built-in tables (ACPI, MP, PIR, SMBIOS) describe it correctly.
 */
#include "machine.h"
#include "pc.h"
#include "loader.h"
#include "hw/ide.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "block.h"
#include "chardev.h"
#include "display.h"
#include "hw/virtio_balloon.h"
#include "kvm_state.h"
#include "util.h"

/* ---- board wiring callbacks -------------------------------------------- */

static void board_reset(void *opaque)
{
	machine_request(opaque, MACHINE_REQ_RESET, 0);
}

static void board_poweroff(void *opaque)
{
	machine_request(opaque, MACHINE_REQ_POWEROFF, 0);
}

static void board_exit(void *opaque, int status)
{
	machine_request(opaque, MACHINE_REQ_EXIT, status);
}

/* A device's own input on ISA line 'gsi' (shared with every other device
 * on that line). */
static struct irq_line isa_irq(struct machine *m, unsigned gsi)
{
	struct irq_line l;

	if (isa_irq_claim(&m->isa_irq, gsi, &l) < 0)
		die("ISA IRQ %u: no free input left on the line", gsi);
	return l;
}

static enum isa_irq_trigger guest_trigger(void *opaque, unsigned line)
{
	/* An unreadable irqchip counts as level: no extra edges then. */
	return kvm_gsi_level_triggered(opaque, line) == 0 ? ISA_IRQ_EDGE : ISA_IRQ_LEVEL;
}

/* ---- devices ----------------------------------------------------------- */

/* Opens a drive's image through the block layer: its format (or probed),
 * read-only for CDs and readonly=on, or behind a temporary overlay for
 * -snapshot / snapshot=on. Dies with one line on failure. */
struct block_dev *machine_open_drive(const struct machine *m, const struct drive_config *d)
{
	char err[256];
	bool ro = d->read_only || d->cdrom;
	struct block_dev *bd;

	if ((d->snapshot || m->cfg.snapshot) && !ro)
		bd = block_open_snapshot(d->path, d->format, err, sizeof(err));
	else
		bd = block_open(d->path, d->format, ro,
				&(struct block_opts){ .cache = (enum block_cache)d->cache,
						      .discard_ignore = d->discard_ignore,
						      /* the source keeps its locks */
						      .no_lock = m->cfg.incoming != NULL }, err,
				sizeof(err));
	if (!bd)
		die("could not open disk image '%s': %s", d->path, err);
	return bd;
}

/* virtio devices sit from PCI slot 3, as QEMU's -drive if=virtio does
 * (slot 2 is where QEMU's VGA goes). */
#define FIRST_AUTO_SLOT 3

static void host_send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	int r = kvm_signal_msi(opaque, addr, data);
	if (r < 0)
		warn("KVM_SIGNAL_MSI(%#llx, %#x) failed: %s", (unsigned long long)addr, data,
		     strerror(-r));
}

static int host_ioeventfd(void *opaque, uint64_t addr, unsigned len, bool pio, int datamatch,
			  int fd, bool assign)
{
	return kvm_ioeventfd(opaque, addr, len, pio, datamatch, fd, assign);
}

static int host_msi_route(void *opaque, int *gsi, uint64_t addr, uint32_t data)
{
	return kvm_msi_route_set(opaque, gsi, addr, data);
}

static int host_irqfd(void *opaque, int fd, int gsi, bool assign)
{
	return kvm_irqfd(opaque, fd, gsi, assign);
}

/* Every -chardev, then each -serial port's own backend unless it names
 * one of them. */
static void create_chardevs(struct machine *m)
{
	static const char *const labels[MAX_ISA_SERIAL] = { "serial0", "serial1", "serial2",
							     "serial3" };
	const struct machine_config *cfg = &m->cfg;
	char err[256];

	for (unsigned i = 0; i < cfg->nchardevs; i++)
		if (!chardev_create(&cfg->chardevs[i], err, sizeof(err)))
			die("-chardev %s: %s", cfg->chardevs[i].id, err);
	for (unsigned i = 0; i < MAX_ISA_SERIAL; i++) {
		if (!(cfg->serial_ports & (1u << i)))
			continue;
		if (cfg->serial[i].kind == CHARDEV_REF) {
			m->serial_cd[i] = chardev_find(cfg->serial[i].id);
			if (!m->serial_cd[i])
				die("-serial chardev:%s: no such chardev", cfg->serial[i].id);
			continue;
		}
		struct chardev_config c = cfg->serial[i];
		c.label = labels[i];
		/* A port on the terminal (-nographic, -serial stdio, COM1's
		 * default) has always had the Ctrl-A keys, with Ctrl-C going
		 * to the guest. */
		if (c.kind == CHARDEV_STDIO)
			c.mux_keys = true;
		m->serial_cd[i] = chardev_create(&c, err, sizeof(err));
		if (!m->serial_cd[i])
			die("-serial: %s", err);
	}
}

/* ---- the board: what device models may use while created ---------------- */

static struct irq_line board_isa_irq(struct dev_board *b, unsigned irq)
{
	struct machine *m = b->machine;
	return isa_irq(m, irq);
}

static struct net_backend *board_netdev(struct dev_board *b, const char *id, char *err,
					size_t errlen)
{
	struct machine *m = b->machine;
	const struct machine_config *cfg = &m->cfg;
	const struct netdev_config *nd = NULL;
	unsigned index = 0;
	char why[256];

	if (!id) {
		/* no netdev=: QEMU's NIC without a peer (the CLI warned) */
		struct net_backend *none = net_none_create();
		if (!none)
			snprintf(err, errlen, "out of memory");
		return none;
	}
	for (unsigned j = 0; j < cfg->nnetdev; j++)
		if (!strcmp(cfg->netdev[j].id, id)) {
			nd = &cfg->netdev[j];
			index = j;
		}
	if (!nd) {
		snprintf(err, errlen, "no netdev '%s'", id);
		return NULL;
	}
	const char *kind = nd->kind == NETDEV_TAP ? "tap" : "user";
	struct net_backend *be = nd->kind == NETDEV_TAP ? net_tap_create(&nd->tap, why, sizeof(why))
							: net_user_create(&nd->user, why, sizeof(why));
	if (!be)
		snprintf(err, errlen, "-netdev %s%s%s: %s", kind, nd->id[0] == '_' ? "" : ",id=",
			 nd->id[0] == '_' ? "" : nd->id, why);
	else if (!m->netdev_be[index])
		m->netdev_be[index] = be;
	return be;
}

/* -audiodev ID's backend, opened by the first card that names it; a card
 * without audiodev= plays through the first -audiodev, or through an
 * implicit "none" (silent, but paced as any backend, so the guest's
 * driver sees its transfers end on time). */
static struct audio_backend *board_audiodev(struct dev_board *b, const char *id, char *err,
					    size_t errlen)
{
	struct machine *m = b->machine;
	const struct machine_config *cfg = &m->cfg;
	struct audiodev_config implicit = { .id = "none", .kind = AUDIODEV_NONE,
					    .out = { .rate = 44100, .channels = 2,
						     .fmt = AUDIO_FMT_S16 } };
	char why[256];

	if (!id && !cfg->naudiodevs) {
		if (!m->audio_default)
			m->audio_default = audio_backend_open(&implicit, m->loop, why, sizeof(why));
		if (!m->audio_default)
			snprintf(err, errlen, "audio: %s", why);
		return m->audio_default;
	}
	for (unsigned i = 0; i < cfg->naudiodevs; i++) {
		if (id && strcmp(cfg->audiodevs[i].id, id))
			continue;
		if (!m->audio[i]) {
			struct audiodev_config c = cfg->audiodevs[i];
			c.sandboxed = cfg->sandbox.enabled;
			m->audio[i] = audio_backend_open(&c, m->loop, why, sizeof(why));
		}
		if (!m->audio[i])
			snprintf(err, errlen, "-audiodev id=%s: %s", cfg->audiodevs[i].id, why);
		return m->audio[i];
	}
	snprintf(err, errlen, "no audiodev '%s'", id);
	return NULL;
}

/* Migration hands a writable disk over only as a plain file both sides
 * open: a qcow2 or vmdk image's metadata is cached inside the process
 * that opened it, and a -snapshot overlay is that process's own file.
 * The first other writable disk is remembered, for migrate and
 * -incoming to refuse by name. */
static void note_unshared_disk(struct machine *m, const struct drive_config *d,
			       const struct block_dev *bd)
{
	if (m->unshared_disk || bd->read_only)
		return;
	if (strcmp(bd->format, "raw") || d->snapshot || m->cfg.snapshot)
		m->unshared_disk = d->path;
}

/* A hard disk for savevm, by the name QEMU gives its drive. */
static void note_disk(struct machine *m, const struct drive_config *d, struct block_dev *bd,
		      const char *name)
{
	struct machine_disk *k;

	if (d->cdrom || m->ndisks >= ARRAY_SIZE(m->disks))
		return;
	k = &m->disks[m->ndisks++];
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->bd = bd;
}

/* Every image a device uses, IDE's and those named by id. */
static void open_drives(struct machine *m)
{
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++) {
		const struct drive_config *d = &m->cfg.ide[i];
		if (d->present && d->path) {
			m->ide_bd[i] = machine_open_drive(m, d);
			m->disk_size[i] = m->ide_bd[i]->size;
			note_unshared_disk(m, d, m->ide_bd[i]);
			char name[16];
			snprintf(name, sizeof(name), "ide%u-hd%u", i / 2, i % 2);
			note_disk(m, d, m->ide_bd[i], name);
		}
	}
	for (unsigned i = 0; i < m->cfg.ndrives; i++) {
		const struct named_drive *nd = &m->cfg.drives[i];
		/* if=none drives of IDE devices were copied into cfg.ide */
		if (nd->d.path && nd->user && strncmp(nd->user, "ide-", 4)) {
			m->drive_bd[i] = machine_open_drive(m, &nd->d);
			note_unshared_disk(m, &nd->d, m->drive_bd[i]);
			/* -drive if=virtio's own id "__virtioN" is QEMU's virtioN */
			note_disk(m, &nd->d, m->drive_bd[i],
				  !strncmp(nd->id, "__", 2) ? nd->id + 2 : nd->id);
		}
	}
}

static struct block_dev *board_drive(struct dev_board *b, const char *id, bool *cdrom,
				     char *err, size_t errlen)
{
	struct machine *m = b->machine;

	for (unsigned i = 0; i < m->cfg.ndrives; i++) {
		const struct named_drive *nd = &m->cfg.drives[i];
		if (strcmp(nd->id, id))
			continue;
		*cdrom = nd->d.cdrom;
		if (!m->drive_bd[i]) {
			snprintf(err, errlen, "drive '%s' has no file", id);
			return NULL;
		}
		struct block_dev *bd = m->drive_bd[i];
		m->drive_bd[i] = NULL; /* the device owns it now */
		return bd;
	}
	snprintf(err, errlen, "no drive '%s'", id);
	return NULL;
}

static uint8_t *board_option_rom(struct dev_board *b, const char *name, size_t *len, char *err,
				 size_t errlen)
{
	return read_option_rom(&((struct machine *)b->machine)->cfg, name, len, err, errlen);
}

static void init_board(struct machine *m, struct virtio_host *host)
{
	/* Debugging knobs: VMM_VIRTIO_NO_MSIX=1 offers no MSI-X (INTx only),
	 * VMM_NO_IRQFD=1 sends MSIs with KVM_SIGNAL_MSI instead of irqfds. */
	bool no_msix = getenv("VMM_VIRTIO_NO_MSIX") && !strcmp(getenv("VMM_VIRTIO_NO_MSIX"), "1");
	bool irqfd = !no_msix && kvm_has_cap(&m->kvm, KVM_CAP_IRQFD) && !getenv("VMM_NO_IRQFD");

	*host = (struct virtio_host){
		.send_msi = !no_msix && kvm_has_cap(&m->kvm, KVM_CAP_SIGNAL_MSI) ? host_send_msi
										  : NULL,
		.ioeventfd = kvm_has_cap(&m->kvm, KVM_CAP_IOEVENTFD) ? host_ioeventfd : NULL,
		.msi_route = irqfd ? host_msi_route : NULL,
		.irqfd = irqfd ? host_irqfd : NULL,
		.opaque = &m->kvm,
		.io_thread = true,
	};
	m->board = (struct dev_board){
		.pci = &m->pci, .pio = &m->pio, .mmio = &m->mmio, .mem = &m->mem,
		.memmap = &m->memmap, .virtio = host, .kvm = &m->kvm,
		.isa_irq = board_isa_irq, .set_gsi = kvm_set_gsi, .gsi_opaque = &m->kvm,
		.req_reset = board_reset, .req_poweroff = board_poweroff, .req_exit = board_exit,
		.netdev = board_netdev, .drive = board_drive, .option_rom = board_option_rom,
		.audiodev = board_audiodev,
		.balloon_changed = balloon_changed,
		.devs = m->cfg.devs, .ndevs = m->cfg.ndevs, .machine = m,
		.loop = m->loop, .watchdog = &m->watchdog,
	};
	init_watchdog(m);
}

/* The PC's fixed devices, where they sit: they open the instance list, so
 * that they are created and reset before anything plugged into them. */
static const struct {
	const char *driver;
	const char *addr;      /* PCI functions: their fixed place */
	bool multifunction;
} board_devices[] = {
	{ "i440FX", "00.0", false },
	{ "PIIX3", "01.0", true },
	{ "piix3-ide", "01.1", false },
	{ "PIIX4_PM", "01.3", false },
	{ "mc146818rtc", NULL, false },
	{ "kvm-pit", NULL, false },
	{ "i8042", NULL, false },
	{ "fw_cfg_io", NULL, false },
	{ "port92", NULL, false },
	{ "ioport80", NULL, false },
	{ "i8257", NULL, false },
	{ "isa-fdc", NULL, false },
};

/* -fda, -fdb, -drive if=floppy: the drives the CLI named floppy0 and
 * floppy1 (QEMU's names) go to the board's controller. */
static int set_floppy_drives(struct machine_config *cfg, struct dev_instance *fdc, char *err,
			     size_t errlen)
{
	for (unsigned i = 0; i < 2; i++)
		if (cfg->floppy[i] && dev_instance_set(fdc, i ? "driveB" : "driveA",
						       i ? "floppy1" : "floppy0", err, errlen) < 0)
			return -1;
	return 0;
}

int machine_config_finish(struct machine_config *cfg, char *err, size_t errlen)
{
	size_t nb = ARRAY_SIZE(board_devices);
	struct dev_instance *all = xzalloc((nb + 1 + cfg->ndevs) * sizeof(*all));
	struct devfn_alloc slots;

	size_t n = 0;
	for (size_t i = 0; i < nb; i++) {
		/* -no-acpi: as QEMU's pc, no PIIX4 PM function, so SeaBIOS (which
		 * builds its ACPI tables only when it finds one) builds none */
		if (cfg->no_acpi && !strcmp(board_devices[i].driver, "PIIX4_PM"))
			continue;
		struct dev_instance *d = &all[n++];
		dev_instance_init(d, dev_class_find(board_devices[i].driver));
		d->from_board = true;
		if (board_devices[i].addr &&
		    (dev_instance_set(d, "addr", board_devices[i].addr, err, errlen) < 0 ||
		     dev_instance_set(d, "multifunction", board_devices[i].multifunction ? "on" : "off",
				      err, errlen) < 0))
			return -1;
		dev_apply_globals(d, cfg->globals, cfg->nglobals);
		if (!strcmp(board_devices[i].driver, "isa-fdc") &&
		    set_floppy_drives(cfg, d, err, errlen) < 0)
			return -1;
	}
	/* -machine pcspk-audiodev=: the speaker joins the board (as QEMU's
	 * pc, without it the speaker is silent: here KVM's dummy port) */
	if (cfg->pcspk_audiodev) {
		struct dev_instance *d = &all[n++];
		dev_instance_init(d, dev_class_find("isa-pcspk"));
		d->from_board = true;
		if (dev_instance_set(d, "audiodev", cfg->pcspk_audiodev, err, errlen) < 0)
			return -1;
	}
	if (cfg->ndevs)
		memcpy(all + n, cfg->devs, cfg->ndevs * sizeof(*all));
	free(cfg->devs);
	cfg->devs = all;
	cfg->ndevs += (unsigned)n;
	devfn_alloc_init(&slots, FIRST_AUTO_SLOT);
	return dev_place_pci(&slots, cfg->devs, cfg->ndevs, err, errlen);
}

static void create_devices(struct machine *m)
{
	struct virtio_host host;
	char err[512];

	isa_irq_init(&m->isa_irq, kvm_set_gsi, &m->kvm, guest_trigger, &m->kvm);
	pci_bus_init(&m->pci, &m->pio, &m->mmio);
	m->pci.space = &m->memmap.space; /* expansion ROMs as read-only slots */
	if (pci_bus_map_host_ports(&m->pci) < 0)
		die("cannot map the PCI configuration ports");
	/* Images before chardevs: a missing image fails before a chardev
	 * has made its file or socket. */
	open_drives(m);
	create_chardevs(m);
	init_board(m, &host);
	if (dev_create_all(m->cfg.devs, m->cfg.ndevs, &m->board, err, sizeof(err)) < 0)
		die("%s", err);
	m->board.virtio = NULL; /* 'host' was for creation only */
	struct dev_instance *balloon = dev_find(m->cfg.devs, m->cfg.ndevs,
						dev_class_find("virtio-balloon-pci"));
	m->vballoon = balloon ? balloon->state : NULL;
	/* the guest's own tray moves become DEVICE_TRAY_MOVED (pc_media.c) */
	if (m->ide)
		piix_ide_set_tray_notify(m->ide, machine_guest_tray_moved, m);
	/* libpng for PNG screendumps, mapped now (the sandbox maps no code
	 * later), and only where a screendump can be asked for: a display
	 * and a control channel */
	if (display_console(0) && (m->cfg.nqmp || m->cfg.monitor.kind != CHAN_NONE))
		display_preload_png();
	setup_cmos(m);
	setup_fw_cfg(m);
	setup_kernel_boot(m);
	direct_boot_setup(m);
}

/* ---- vCPUs, VM and reset ----------------------------------------------- */

/* The board's answers to its vCPUs (struct vcpu_host). */
static void vcpu_request(void *ctx, enum vcpu_request req)
{
	switch (req) {
	case VCPU_REQ_RESET:
		machine_request(ctx, MACHINE_REQ_RESET, 0);
		break;
	case VCPU_REQ_POWEROFF:
		machine_request(ctx, MACHINE_REQ_POWEROFF, 0);
		break;
	case VCPU_REQ_ERROR:
		machine_request(ctx, MACHINE_REQ_ERROR, 1);
		break;
	}
}

static bool vcpu_hold(void *ctx)
{
	return machine_vcpu_hold(ctx);
}

static bool vcpu_debug_exit(void *ctx, struct vcpu *v, const struct vcpu_debug_exit *e)
{
	return machine_gdb_debug_exit(ctx, v, e);
}

static bool vcpu_stopping_for_good(void *ctx)
{
	return machine_stopping_for_good(ctx);
}

static void create_vm_and_vcpus(struct machine *m)
{
	char err[256];

	m->vcpu_host = (struct vcpu_host){
		.kvm = &m->kvm, .pio = &m->pio, .mmio = &m->mmio,
		.cpu = &m->cfg.cpu, .smp = &m->cfg.smp,
		.hold = &m->hold, .hold_fn = vcpu_hold, .request = vcpu_request,
		.stopping_for_good = vcpu_stopping_for_good, .debug_exit = vcpu_debug_exit,
		.ctx = m,
	};

	/* A reset replaces the VM: keep the dirty bits of the old one. */
	memmap_detach(&m->memmap);
	m->kvm.speaker_port_in_user = m->cfg.pcspk_audiodev != NULL;
	m->kvm.pit_discard_lost_ticks = kvm_pit_discards_lost_ticks(&m->cfg);
	if (kvm_create_vm(&m->kvm, err, sizeof(err)) < 0)
		die("%s", err);
	if (memmap_apply(&m->memmap, &m->kvm) < 0)
		die_errno("cannot set up guest memory slots");
	for (unsigned i = 0; i < m->ncpus; i++)
		if (vcpu_create(&m->vcpus[i], &m->vcpu_host, i, err, sizeof(err)) < 0)
			die("%s", err);
}

void start_vcpus(struct machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++)
		if (vcpu_start_thread(&m->vcpus[i]) < 0)
			die("cannot start the thread of vCPU %u", i);
}

void start_vcpus_paused(struct machine *m)
{
	atomic_fetch_or(&m->hold, HOLD_PAUSE);
	start_vcpus(m);
	pthread_mutex_lock(&m->pause_lock);
	while (m->parked < m->ncpus && !machine_stopping(m))
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	pthread_mutex_unlock(&m->pause_lock);
	dev_quiesce_all(m->cfg.devs, m->cfg.ndevs);
	event_clock_pause(m->loop);
}

void stop_vcpus(struct machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_kick(&m->vcpus[i]);
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_join(&m->vcpus[i]);
}

/* A PC reset: every CPU back to its reset state, every device reset, the
 * BIOS visible again through PAM. We get clean CPU, irqchip and PIT state
 * by replacing the KVM VM; guest RAM, like real DRAM, keeps its contents. */
void machine_reset(struct machine *m)
{
	/* The ring goes with the VM: what the guest wrote still counts. */
	coalesced_mmio_drain(&m->kvm.coalesced);
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_destroy(&m->vcpus[i]);
	create_vm_and_vcpus(m);
	/* One order for every device: the instance list's (board first). */
	dev_reset_all(m->cfg.devs, m->cfg.ndevs, &m->pci);
	/* The new VM's lines are all low: drive what devices still hold. */
	isa_irq_resync(&m->isa_irq);
	/* -boot once= was for the first boot: from now on, order= */
	if (m->resets == 0 && m->cfg.boot_once[0])
		setup_boot_order(m, m->cfg.boot_order);
	m->resets++;
	direct_boot_setup(m);
}

void machine_request_from(struct machine *m, enum machine_req req, int status,
			  enum machine_cause cause)
{
	int expected = MACHINE_REQ_NONE;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&m->request, &expected, (int)req))
		return;
	atomic_store(&m->exit_status, status);
	atomic_store(&m->cause, (int)cause);
	atomic_fetch_or(&m->hold, HOLD_REQUEST);
	/* Parked vCPUs must wake to leave their loop. */
	pthread_mutex_lock(&m->pause_lock);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
	for (unsigned i = 0; i < m->ncpus; i++)
		if (!pthread_equal(m->vcpus[i].thread, pthread_self()))
			vcpu_kick(&m->vcpus[i]);
	if (write(m->event_fd, &one, sizeof(one)) < 0) {
		/* cannot fail short of a saturated counter */
	}
}

void machine_request(struct machine *m, enum machine_req req, int status)
{
	machine_request_from(m, req, status, CAUSE_GUEST);
}

bool machine_stopping(struct machine *m)
{
	return atomic_load(&m->request) != MACHINE_REQ_NONE;
}

bool machine_stopping_for_good(struct machine *m)
{
	/* The first request stands until handle_request() is done with it;
	 * only a reset that reboots starts vCPU threads again. */
	int req = atomic_load(&m->request);
	return req != MACHINE_REQ_NONE && (req != MACHINE_REQ_RESET || m->cfg.no_reboot);
}

/* ---- pause and resume -------------------------------------------------- */

bool machine_vcpu_hold(struct machine *m)
{
	pthread_mutex_lock(&m->pause_lock);
	while ((atomic_load(&m->hold) & (HOLD_PAUSE | HOLD_DEBUG)) && !machine_stopping(m)) {
		m->parked++;
		pthread_cond_broadcast(&m->pause_cond);
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
		m->parked--;
	}
	pthread_mutex_unlock(&m->pause_lock);
	return !machine_stopping(m);
}

bool machine_pause(struct machine *m)
{
	pthread_mutex_lock(&m->pause_lock);
	if (atomic_load(&m->hold) & HOLD_PAUSE) {
		pthread_mutex_unlock(&m->pause_lock);
		return false;
	}
	atomic_fetch_or(&m->hold, HOLD_PAUSE);
	pthread_mutex_unlock(&m->pause_lock);
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_kick(&m->vcpus[i]);
	/* A pending reset or exit joins the threads instead; after a reset
	 * the new threads park at once because HOLD_PAUSE stays set. */
	pthread_mutex_lock(&m->pause_lock);
	while (m->parked < m->ncpus && !machine_stopping(m))
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	pthread_mutex_unlock(&m->pause_lock);
	/* A kicked vCPU parks without an exit to drain at: the writes KVM
	 * queued reach the devices before anything saves or reads them. */
	coalesced_mmio_drain(&m->kvm.coalesced);
	/* Then the devices' own threads and in-flight I/O (their quiesce ops). */
	dev_quiesce_all(m->cfg.devs, m->cfg.ndevs);
	/* Device timers stop with the vCPUs, and so does the guest's clock. */
	event_clock_pause(m->loop);
	if (kvm_clock_hold(&m->kvm) < 0)
		fprintf(stderr, "vmm: warning: cannot read the guest's clock: %s\n", strerror(errno));
	return true;
}

bool machine_resume(struct machine *m)
{
	/* Before the vCPUs run: they must not see the clock still stopped. */
	event_clock_resume(m->loop);
	if (kvm_clock_release(&m->kvm) < 0)
		fprintf(stderr, "vmm: warning: cannot set the guest's clock: %s\n", strerror(errno));
	if (atomic_load(&m->hold) & HOLD_PAUSE)
		dev_resume_all(m->cfg.devs, m->cfg.ndevs);
	pthread_mutex_lock(&m->pause_lock);
	bool was_paused = atomic_fetch_and(&m->hold, ~HOLD_PAUSE) & HOLD_PAUSE;
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
	return was_paused;
}

/* ---- saved state ------------------------------------------------------- */

int machine_save_state(struct machine *m, struct ss_writer *w, char *err, size_t errlen)
{
	bool paused_here = machine_pause(m);
	int ret = 0;

	if (machine_stopping(m)) {
		ret = set_err(err, errlen, "saved state: the machine is resetting or exiting");
		goto out;
	}
	/* Every device quiesced: nothing changes under the save. */
	dev_save_all(m->cfg.devs, m->cfg.ndevs, w);
	/* then the backends behind the NICs (user networking's slirp) */
	for (unsigned i = 0; i < m->cfg.nnetdev; i++)
		net_save_state(m->netdev_be[i], w, m->cfg.netdev[i].id);
	if (kvm_vm_state_save(&m->kvm, w, err, errlen) < 0) {
		ret = -1;
		goto out;
	}
	for (unsigned i = 0; i < m->ncpus; i++)
		if (kvm_vcpu_state_save(&m->kvm, m->vcpus[i].fd, i, w, err, errlen) < 0) {
			ret = -1;
			goto out;
		}
	if (ss_writer_finish(w) < 0)
		ret = set_err(err, errlen, "%s", w->err);
out:
	if (paused_here)
		machine_resume(m);
	return ret;
}

int machine_load_state(struct machine *m, struct ss_reader *r, char *err, size_t errlen)
{
	bool paused_here = machine_pause(m);
	const struct ss_section *left;
	int ret = -1;

	if (machine_stopping(m)) {
		set_err(err, errlen, "saved state: the machine is resetting or exiting");
		goto out;
	}
	/* Devices first (their loads drive their interrupt lines again),
	 * then KVM's irqchip state over what those edges did. */
	if (dev_load_all(m->cfg.devs, m->cfg.ndevs, r) < 0) {
		set_err(err, errlen, "%s", r->err);
		goto out;
	}
	for (unsigned i = 0; i < m->cfg.nnetdev; i++)
		if (!net_load_state(m->netdev_be[i], r, m->cfg.netdev[i].id)) {
			set_err(err, errlen, "%s", r->err);
			goto out;
		}
	if (kvm_vm_state_load(&m->kvm, r, err, errlen) < 0)
		goto out;
	for (unsigned i = 0; i < m->ncpus; i++)
		if (kvm_vcpu_state_load(&m->kvm, m->vcpus[i].fd, i, r, err, errlen) < 0)
			goto out;
	left = ss_unclaimed_section(r);
	if (left) {
		set_err(err, errlen, "saved state: section %s instance %u belongs to no device of "
			"this machine", left->name, left->instance);
		goto out;
	}
	ret = 0;
out:
	if (paused_here)
		machine_resume(m);
	return ret;
}

/* RAM above 4 GiB starts there and must end inside the guest's physical
 * address space (as QEMU refuses it: "Address space limit ... phys-bits
 * too low"). */
static void check_ram_fits(struct machine *m, uint64_t ram_size)
{
	unsigned bits = kvm_guest_phys_bits(&m->kvm);
	uint64_t end = guest_mem_ram_end(ram_size);

	if (bits < 64 && end > 1ULL << bits)
		die("-m %llu MiB: guest RAM would end at %llu GiB, past this KVM's %u-bit guest "
		    "physical address space (%llu GiB)", (unsigned long long)(ram_size / MiB),
		    (unsigned long long)(end / GiB), bits, (unsigned long long)((1ULL << bits) / GiB));
}

void machine_create(struct machine *m, const struct machine_config *cfg)
{
	char err[600];
	uint64_t bios_size;

	if (cfg != &m->cfg)
		m->cfg = *cfg;
	m->ncpus = cfg->smp.cpus;
	if (kvm_open(&m->kvm, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm", err, sizeof(err)) < 0)
		die("%s", err);
	if (m->ncpus > (unsigned)m->kvm.max_vcpus)
		die("-smp %u: this KVM supports at most %d vCPUs", m->ncpus, m->kvm.max_vcpus);
	check_ram_fits(m, cfg->ram.size ? cfg->ram.size : cfg->ram_size);
	if (topology_apic_id_limit(&cfg->smp) > (unsigned)m->kvm.max_vcpu_id)
		die("-smp: APIC IDs up to %u are needed, this KVM allows ids below %d",
		    topology_apic_id_limit(&cfg->smp) - 1, m->kvm.max_vcpu_id);
	char *bios_path;
	int bios_fd = open_bios(cfg, &bios_size, &bios_path);
	/* -overcommit mem-lock=on: before guest RAM, which is then locked
	 * (and so populated) as it is mapped, as QEMU locks it */
	if (cfg->mem_lock && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		die("-overcommit mem-lock=on: locking memory failed: %s", strerror(errno));
	struct ram_backend ram = cfg->ram;
	if (!ram.size) /* a configuration not from the command line */
		ram = (struct ram_backend){ .size = cfg->ram_size, .merge = true, .dump = true };
	if (guest_mem_init_backend(&m->mem, &ram, err, sizeof(err)) < 0)
		die("%s", err);
	if (memmap_init(&m->memmap, &m->mem, NULL, bios_size) < 0)
		die("cannot set up the memory map");
	read_bios(bios_fd, bios_path, m->memmap.bios, bios_size);
	m->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->event_fd < 0)
		die_errno("eventfd");
	m->loop = event_loop_new();
	if (!m->loop)
		die_errno("cannot create the event loop");
	m->vm_clock_start = event_clock_ns(m->loop, EVENT_CLOCK_VIRTUAL);
	pthread_mutex_init(&m->pause_lock, NULL);
	machine_migration_init(m);
	pthread_cond_init(&m->pause_cond, NULL);
	m->signal_fd = block_exit_signals();
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	/* KVM's coalesced MMIO ring holds writes meant for the MMIO bus. */
	coalesced_mmio_set_bus(&m->kvm.coalesced, &m->mmio);
	bus_set_pending(&m->mmio, coalesced_mmio_flush, &m->kvm.coalesced);
	vcpu_signals_init();
	m->kvm.vm_fd = -1;
	create_vm_and_vcpus(m);
	create_devices(m);
}

void machine_destroy(struct machine *m)
{
	machine_migration_destroy(m); /* its listening socket is on the loop */
	machine_jobs_destroy(m);
	net_tap_shutdown(); /* downscripts: main() leaves with _exit */
	/* Devices first, in reverse order: their threads write to chardevs. */
	dev_destroy_all(m->cfg.devs, m->cfg.ndevs);
	m->rtc = NULL;
	m->dma = NULL;
	m->ide = NULL;
	m->i8042 = NULL;
	m->fw_cfg = NULL;
	m->vballoon = NULL;
	if (m->direct_boot) {
		boot_image_free(m->direct_boot);
		free(m->direct_boot);
		m->direct_boot = NULL;
	}
	/* after the cards (their voices) and before the loop (the timers);
	 * a wav file gets its final header here, also after SIGTERM */
	for (unsigned i = 0; i < AUDIODEV_MAX; i++) {
		audio_backend_close(m->audio[i]);
		m->audio[i] = NULL;
	}
	audio_backend_close(m->audio_default);
	m->audio_default = NULL;
	chardev_destroy_all();
	memset(m->serial_cd, 0, sizeof(m->serial_cd));
	event_timer_free(m->balloon_event_timer);
	event_timer_free(m->balloon_stats_timer);
	event_loop_free(m->loop);
	m->loop = NULL;
	/* Then the board itself: vCPUs (joined by now), the VM, the memory
	 * map and RAM, the buses' dispatch tables, images no device took. */
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_destroy(&m->vcpus[i]);
	kvm_close(&m->kvm);
	memmap_destroy(&m->memmap);
	guest_mem_destroy(&m->mem);
	isa_irq_destroy(&m->isa_irq);
	bus_destroy(&m->pio);
	bus_destroy(&m->mmio);
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++)
		block_close(m->ide_bd[i]);
	for (unsigned i = 0; i < MAX_DRIVES; i++)
		block_close(m->drive_bd[i]);
}
