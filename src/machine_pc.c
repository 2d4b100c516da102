// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PC machine, wired in one place: what QEMU's "-M pc" (i440FX + PIIX3)
 * offers SeaBIOS and the OS, in the same places, so that the firmware's
 * built-in tables (ACPI, MP, PIR, SMBIOS) describe it correctly.
 */
#include "machine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "block.h"
#include "chardev.h"
#include "control.h"
#include "hw/fw_cfg.h"
#include "hw/rtc.h"
#include "hw/virtio_balloon.h"
#include "loader.h"
#include "util.h"


#define E820_RAM 1
#define E820_RESERVED 2
#define KVM_RESERVED_START 0xFEFFC000ULL
#define KVM_RESERVED_SIZE 0x4000ULL

#define DEFAULT_BIOS "bios-256k.bin"

static const char *const default_firmware_dirs[] = {
	"/usr/share/seabios",
	"/usr/share/qemu",
};

static int block_exit_signals(void);

/* ---- firmware ---------------------------------------------------------- */

static char *find_firmware(const struct machine_config *cfg, const char *name)
{
	char path[4096];
	const char *env = getenv("VMM_FIRMWARE_DIR");

	if (strchr(name, '/'))
		return xstrdup(name);
	for (unsigned i = 0; i < cfg->nfirmware_dirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", cfg->firmware_dirs[i], name);
		if (access(path, R_OK) == 0)
			return xstrdup(path);
	}
	if (env) {
		snprintf(path, sizeof(path), "%s/%s", env, name);
		if (access(path, R_OK) == 0)
			return xstrdup(path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(default_firmware_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", default_firmware_dirs[i], name);
		if (access(path, R_OK) == 0)
			return xstrdup(path);
	}
	/* -bios with a bare name in the current directory. */
	if (cfg->bios_path && access(name, R_OK) == 0)
		return xstrdup(name);
	return NULL;
}

/* Finds the firmware and checks its size; the open file, read later by
 * read_bios() straight into the guest's ROM mapping (no heap copy: that
 * would add the image's size to vmm's peak RSS). */
static int open_bios(const struct machine_config *cfg, uint64_t *size, char **path_out)
{
	const char *name = cfg->bios_path ? cfg->bios_path : DEFAULT_BIOS;
	char *path = find_firmware(cfg, name);
	struct stat st;

	if (!path)
		die("could not find firmware '%s' (install Debian's 'seabios' package, "
		    "or give -bios PATH or -L DIR)", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno("could not open firmware '%s'", path);
	if (fstat(fd, &st) < 0)
		die_errno("could not stat firmware '%s'", path);
	if (st.st_size <= 0 || st.st_size % (64 * 1024) || st.st_size > 16 * (off_t)MiB)
		die("firmware '%s' has size %lld: it must be a non-zero multiple of 64 KiB, "
		    "at most 16 MiB", path, (long long)st.st_size);
	*size = (uint64_t)st.st_size;
	*path_out = path;
	return fd;
}

static void read_bios(int fd, char *path, uint8_t *dst, uint64_t size)
{
	if (read(fd, dst, (size_t)size) != (ssize_t)size)
		die_errno("could not read firmware '%s'", path);
	close(fd);
	free(path);
}

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

/* ---- CMOS and fw_cfg contents ------------------------------------------ */

static uint8_t boot_device_code(char c)
{
	switch (c) {
	case 'a': return 1;
	case 'c': return 2;
	case 'd': return 3;
	case 'n': return 4;
	default: return 0;
	}
}

static void setup_cmos(struct machine *m)
{
	const struct machine_config *cfg = &m->cfg;
	uint64_t ext_kib = (m->mem.below_4g - 1 * MiB) / KiB;
	uint64_t above_16m = m->mem.below_4g > 16 * MiB ? (m->mem.below_4g - 16 * MiB) / (64 * KiB) : 0;
	uint64_t above_4g = m->mem.above_4g / (64 * KiB);
	const char *order = cfg->boot_order[0] ? cfg->boot_order : "cad";
	uint8_t b[3] = { 0 };
	uint8_t translation = 0;

	ext_kib = MIN(ext_kib, 0xFFFF);
	above_16m = MIN(above_16m, 0xFFFF);
	rtc_set_cmos(m->rtc, 0x10, 0x00); /* no floppy drives */
	rtc_set_cmos(m->rtc, 0x14, 0x06); /* FPU, PS/2 mouse, VGA */
	rtc_set_cmos(m->rtc, 0x15, 640 & 0xFF);
	rtc_set_cmos(m->rtc, 0x16, 640 >> 8);
	rtc_set_cmos(m->rtc, 0x17, (uint8_t)ext_kib);
	rtc_set_cmos(m->rtc, 0x18, (uint8_t)(ext_kib >> 8));
	rtc_set_cmos(m->rtc, 0x30, (uint8_t)ext_kib);
	rtc_set_cmos(m->rtc, 0x31, (uint8_t)(ext_kib >> 8));
	rtc_set_cmos(m->rtc, 0x34, (uint8_t)above_16m);
	rtc_set_cmos(m->rtc, 0x35, (uint8_t)(above_16m >> 8));
	rtc_set_cmos(m->rtc, 0x5B, (uint8_t)above_4g);
	rtc_set_cmos(m->rtc, 0x5C, (uint8_t)(above_4g >> 8));
	rtc_set_cmos(m->rtc, 0x5D, (uint8_t)(above_4g >> 16));
	/* SeaBIOS waits for max(this + 1, fw_cfg NB_CPUS) CPUs to check in. */
	rtc_set_cmos(m->rtc, 0x5F, (uint8_t)MIN(m->ncpus - 1, 0xFF));
	for (unsigned i = 0; i < 3 && order[i]; i++)
		b[i] = boot_device_code(order[i]);
	rtc_set_cmos(m->rtc, 0x3D, (uint8_t)(b[0] | b[1] << 4));
	rtc_set_cmos(m->rtc, 0x38, (uint8_t)(b[2] << 4 | 0x01)); /* no floppy sig check */
	/* LBA translation for disks over 504 MiB, so int13 CHS matches
	 * partitions made under LBA. */
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++) {
		const struct drive_config *d = &cfg->ide[i];
		if (d->present && !d->cdrom && d->path && m->disk_size[i] > 504 * MiB)
			translation |= (uint8_t)(1 << (i * 2));
	}
	rtc_set_cmos(m->rtc, 0x39, translation);
}

static void setup_fw_cfg(struct machine *m)
{
	struct fw_cfg *f = m->fw_cfg;
	uint8_t e820[3 * 20];
	size_t n = 0;
	uint8_t uuid[16] = { 0 };

	/* NB_CPUS: how many CPUs SeaBIOS waits for. MAX_CPUS: not a count but
	 * the APIC ID limit, over which SeaBIOS builds its MADT and MP table,
	 * enabling the entries of the CPUs that checked in; with a topology
	 * whose fields are not powers of two the IDs have gaps. */
	fw_cfg_add_u16(f, FW_CFG_NB_CPUS, (uint16_t)m->ncpus);
	fw_cfg_add_u16(f, FW_CFG_MAX_CPUS, (uint16_t)topology_apic_id_limit(&m->cfg.smp));
	fw_cfg_add_u64(f, FW_CFG_RAM_SIZE, m->mem.ram_size);
	fw_cfg_add_u16(f, FW_CFG_NOGRAPHIC, m->cfg.nographic ? 1 : 0);
	fw_cfg_add_u16(f, FW_CFG_BOOT_MENU, m->cfg.boot_menu ? 1 : 0);
	fw_cfg_add_u64(f, FW_CFG_NUMA, 0);
	fw_cfg_add_bytes(f, FW_CFG_UUID, uuid, sizeof(uuid));
	/* Our GSI routing sends the PIT to IOAPIC pin 2. */
	fw_cfg_add_u32(f, FW_CFG_IRQ0_OVERRIDE, 1);

	put_le64(e820 + n, 0);
	put_le64(e820 + n + 8, m->mem.below_4g);
	put_le32(e820 + n + 16, E820_RAM);
	n += 20;
	if (m->mem.above_4g) {
		put_le64(e820 + n, 4 * GiB);
		put_le64(e820 + n + 8, m->mem.above_4g);
		put_le32(e820 + n + 16, E820_RAM);
		n += 20;
	}
	/* KVM's identity map and TSS pages. */
	put_le64(e820 + n, KVM_RESERVED_START);
	put_le64(e820 + n + 8, KVM_RESERVED_SIZE);
	put_le32(e820 + n + 16, E820_RESERVED);
	n += 20;
	fw_cfg_add_file(f, "etc/e820", e820, (uint32_t)n);
}

/* ---- direct kernel boot ------------------------------------------------ */

/* -kernel: everything is read and checked here, before any vCPU runs; the
 * option ROM does the rest when SeaBIOS boots it. */
static void setup_kernel_boot(struct machine *m)
{
	const struct machine_config *cfg = &m->cfg;
	struct loader_ram ram = { .below_4g = m->mem.below_4g };
	struct boot_image img;
	char err[512];

	if (!cfg->kernel_path)
		return;
	if (loader_load(cfg->kernel_path, cfg->initrd_path, cfg->append, &ram, &img, err,
			sizeof(err)) < 0)
		die("could not load kernel '%s': %s", cfg->kernel_path, err);
	loader_install(&img, m->fw_cfg);
	boot_image_free(&img);
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
						      .discard_ignore = d->discard_ignore }, err,
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

static void balloon_event(void *opaque);

/* From the thread that wrote the balloon config (a vCPU): the main loop
 * sends BALLOON_CHANGE. Changes until the loop gets to it are merged:
 * only the first one posts. */
static void balloon_changed(void *opaque)
{
	struct machine *m = opaque;
	uint64_t one = 1;

	if (atomic_exchange(&m->balloon_changed, true))
		return;
	if (event_post(m->loop, balloon_event, m) == 0)
		return;
	/* The post queue is full: the request eventfd's handler looks too. */
	if (write(m->event_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the loop */
	}
}

/* Every -chardev, then COM1's own backend unless it names one of them. */
static void create_chardevs(struct machine *m)
{
	const struct machine_config *cfg = &m->cfg;
	char err[256];

	for (unsigned i = 0; i < cfg->nchardevs; i++)
		if (!chardev_create(&cfg->chardevs[i], err, sizeof(err)))
			die("-chardev %s: %s", cfg->chardevs[i].id, err);
	if (cfg->serial.kind == CHARDEV_REF) {
		m->serial_cd = chardev_find(cfg->serial.id);
		if (!m->serial_cd)
			die("-serial chardev:%s: no such chardev", cfg->serial.id);
		return;
	}
	struct chardev_config c = cfg->serial;
	c.label = "serial0";
	/* COM1 on the terminal (-nographic, -serial stdio, the default) has
	 * always had the Ctrl-A keys, with Ctrl-C going to the guest. */
	if (c.kind == CHARDEV_STDIO)
		c.mux_keys = true;
	m->serial_cd = chardev_create(&c, err, sizeof(err));
	if (!m->serial_cd)
		die("-serial: %s", err);
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
	const struct machine_config *cfg = &((struct machine *)b->machine)->cfg;
	const struct netdev_config *nd = NULL;
	char why[256];

	for (unsigned j = 0; j < cfg->nnetdev; j++)
		if (!strcmp(cfg->netdev[j].id, id))
			nd = &cfg->netdev[j];
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
	return be;
}

/* Every image a device uses, IDE's and those named by id. */
static void open_drives(struct machine *m)
{
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++) {
		const struct drive_config *d = &m->cfg.ide[i];
		if (d->present && d->path) {
			m->ide_bd[i] = machine_open_drive(m, d);
			m->disk_size[i] = m->ide_bd[i]->size;
		}
	}
	for (unsigned i = 0; i < m->cfg.ndrives; i++) {
		const struct named_drive *nd = &m->cfg.drives[i];
		/* if=none drives of IDE devices were copied into cfg.ide */
		if (nd->d.path && nd->user && strncmp(nd->user, "ide-", 4))
			m->drive_bd[i] = machine_open_drive(m, &nd->d);
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

/* ---- the watchdog action (src/watchdog.c) -------------------------------- */

static void ctl_stop(void *opaque);
static void ctl_powerdown(void *opaque);

static void watchdog_reset(void *opaque)
{
	machine_request(opaque, MACHINE_REQ_RESET, 0); /* QEMU's "guest-reset" */
}

/* QEMU's poweroff action exits at once, with status 0 and no SHUTDOWN
 * event: an exit request from the guest's side does the same, in order. */
static void watchdog_poweroff(void *opaque)
{
	machine_request(opaque, MACHINE_REQ_EXIT, 0);
}

/* An NMI to every vCPU: one MSI to the broadcast APIC ID with delivery
 * mode NMI (KVM_SIGNAL_MSI is a VM ioctl, so no vCPU thread is needed). */
static void watchdog_nmi(void *opaque)
{
	struct machine *m = opaque;
	if (kvm_signal_msi(&m->kvm, 0xFEE00000u | (0xFFu << 12), 4u << 8) < 0)
		fprintf(stderr, "vmm: watchdog: could not inject an NMI\n");
}

static void watchdog_event(void *opaque, const char *name, const char *data)
{
	struct machine *m = opaque;
	control_event(m->control, name, data);
}

static void init_watchdog(struct machine *m)
{
	m->watchdog = (struct watchdog_host){
		.reset = watchdog_reset, .powerdown = ctl_powerdown, .poweroff = watchdog_poweroff,
		.pause = ctl_stop, .inject_nmi = watchdog_nmi, .event = watchdog_event,
		.opaque = m,
	};
	watchdog_set_action(&m->watchdog, (enum watchdog_action)m->cfg.watchdog_action);
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
		.netdev = board_netdev, .drive = board_drive, .balloon_changed = balloon_changed,
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
	{ "isa-serial", NULL, false },
	{ "i8042", NULL, false },
	{ "fw_cfg_io", NULL, false },
	{ "port92", NULL, false },
	{ "ioport80", NULL, false },
	{ "i8257", NULL, false },
};

int machine_config_finish(struct machine_config *cfg, char *err, size_t errlen)
{
	size_t nb = ARRAY_SIZE(board_devices);
	struct dev_instance *all = xzalloc((nb + cfg->ndevs) * sizeof(*all));
	struct devfn_alloc slots;

	for (size_t i = 0; i < nb; i++) {
		struct dev_instance *d = &all[i];
		dev_instance_init(d, dev_class_find(board_devices[i].driver));
		d->from_board = true;
		if (board_devices[i].addr &&
		    (dev_instance_set(d, "addr", board_devices[i].addr, err, errlen) < 0 ||
		     dev_instance_set(d, "multifunction", board_devices[i].multifunction ? "on" : "off",
				      err, errlen) < 0))
			return -1;
		dev_apply_globals(d, cfg->globals, cfg->nglobals);
	}
	if (cfg->ndevs)
		memcpy(all + nb, cfg->devs, cfg->ndevs * sizeof(*all));
	free(cfg->devs);
	cfg->devs = all;
	cfg->ndevs += (unsigned)nb;
	devfn_alloc_init(&slots, FIRST_AUTO_SLOT);
	return dev_place_pci(&slots, cfg->devs, cfg->ndevs, err, errlen);
}

static void create_devices(struct machine *m)
{
	struct virtio_host host;
	char err[512];

	isa_irq_init(&m->isa_irq, kvm_set_gsi, &m->kvm, guest_trigger, &m->kvm);
	pci_bus_init(&m->pci, &m->pio, &m->mmio);
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
	setup_cmos(m);
	setup_fw_cfg(m);
	setup_kernel_boot(m);
}

/* ---- vCPUs, VM and reset ----------------------------------------------- */

static void create_vm_and_vcpus(struct machine *m)
{
	char err[256];

	/* A reset replaces the VM: keep the dirty bits of the old one. */
	memmap_detach(&m->memmap);
	if (kvm_create_vm(&m->kvm, err, sizeof(err)) < 0)
		die("%s", err);
	if (memmap_apply(&m->memmap, &m->kvm) < 0)
		die_errno("cannot set up guest memory slots");
	for (unsigned i = 0; i < m->ncpus; i++)
		if (vcpu_create(&m->vcpus[i], m, i, err, sizeof(err)) < 0)
			die("%s", err);
}

static void start_vcpus(struct machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++)
		if (vcpu_start_thread(&m->vcpus[i]) < 0)
			die("cannot start the thread of vCPU %u", i);
}

static void stop_vcpus(struct machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_kick(&m->vcpus[i]);
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_join(&m->vcpus[i]);
}

/* A PC reset: every CPU back to its reset state, every device reset, the
 * BIOS visible again through PAM. We get clean CPU, irqchip and PIT state
 * by replacing the KVM VM; guest RAM, like real DRAM, keeps its contents. */
static void machine_reset(struct machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++)
		vcpu_destroy(&m->vcpus[i]);
	create_vm_and_vcpus(m);
	/* One order for every device: the instance list's (board first). */
	dev_reset_all(m->cfg.devs, m->cfg.ndevs, &m->pci);
	/* The new VM's lines are all low: drive what devices still hold. */
	isa_irq_resync(&m->isa_irq);
	m->resets++;
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
	while ((atomic_load(&m->hold) & HOLD_PAUSE) && !machine_stopping(m)) {
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
	/* Then the devices' own threads and in-flight I/O (their quiesce ops). */
	dev_quiesce_all(m->cfg.devs, m->cfg.ndevs);
	/* Device timers stop with the vCPUs. */
	event_clock_pause(m->loop);
	return true;
}

bool machine_resume(struct machine *m)
{
	/* Before the vCPUs run: they must not see the clock still stopped. */
	event_clock_resume(m->loop);
	if (atomic_load(&m->hold) & HOLD_PAUSE)
		dev_resume_all(m->cfg.devs, m->cfg.ndevs);
	pthread_mutex_lock(&m->pause_lock);
	bool was_paused = atomic_fetch_and(&m->hold, ~HOLD_PAUSE) & HOLD_PAUSE;
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
	return was_paused;
}

/* ---- the control interface (QMP, monitor) ------------------------------ */

static bool ctl_running(void *opaque)
{
	struct machine *m = opaque;
	return !(atomic_load(&m->hold) & HOLD_PAUSE);
}

static void ctl_stop(void *opaque)
{
	struct machine *m = opaque;
	if (machine_pause(m))
		control_event(m->control, "STOP", NULL);
}

static void ctl_cont(void *opaque)
{
	struct machine *m = opaque;
	if (machine_resume(m))
		control_event(m->control, "RESUME", NULL);
}

static void ctl_reset(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_RESET, 0, CAUSE_HOST_QMP);
}

static void ctl_powerdown(void *opaque)
{
	struct machine *m = opaque;
	piix_pm_power_button(&m->pm);
	control_event(m->control, "POWERDOWN", NULL);
}

static void ctl_quit(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_EXIT, 0, CAUSE_HOST_QMP);
}

static unsigned ctl_cpus(void *opaque, struct vmctl_cpu *out, unsigned max)
{
	struct machine *m = opaque;
	unsigned n = MIN(m->ncpus, max);
	for (unsigned i = 0; i < n; i++)
		out[i] = (struct vmctl_cpu){ i, atomic_load(&m->vcpus[i].tid) };
	return n;
}

static const char *ctl_name(void *opaque)
{
	struct machine *m = opaque;
	return m->cfg.name;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* QEMU's balloon target is the RAM the guest keeps; the device's is the
 * number of 4 KiB pages it gives up. */
static int ctl_balloon_set(void *opaque, uint64_t bytes)
{
	struct machine *m = opaque;
	uint64_t ram = m->mem.ram_size;

	if (!m->vballoon)
		return -ENODEV;
	if (bytes > ram)
		bytes = ram;
	uint64_t pages = (ram - bytes) >> VIRTIO_BALLOON_PFN_SHIFT;
	virtio_balloon_set_target(m->vballoon, (uint32_t)MIN(pages, (uint64_t)UINT32_MAX));
	return 0;
}

#define BALLOON_STATS_MIN_AGE_MS 2000

/* QEMU's "actual": the RAM the balloon leaves the guest. */
static uint64_t balloon_actual(struct machine *m, const struct virtio_balloon_info *info)
{
	uint64_t held = (uint64_t)info->actual_pages << VIRTIO_BALLOON_PFN_SHIFT;
	return held < m->mem.ram_size ? m->mem.ram_size - held : 0;
}

static int ctl_balloon_query(void *opaque, struct vmctl_balloon *out)
{
	struct machine *m = opaque;
	struct virtio_balloon_info info;

	if (!m->vballoon)
		return -ENODEV;
	virtio_balloon_get_info(m->vballoon, &info);
	out->actual = balloon_actual(m, &info);
	memcpy(out->stats, info.stats, sizeof(out->stats));
	out->stats_valid = info.stats_valid;
	/* Without a polling interval, whoever asks refreshes the figures for
	 * the next query (at most every 2 s): the driver answers within
	 * milliseconds, and a query must not wait for the guest. */
	if (!m->cfg.balloon_stats_interval && monotonic_ms() >= m->balloon_stats_due &&
	    virtio_balloon_request_stats(m->vballoon))
		m->balloon_stats_due = monotonic_ms() + BALLOON_STATS_MIN_AGE_MS;
	return 0;
}

/* At most one BALLOON_CHANGE a second, as QEMU: a driver moves 'actual'
 * in steps of 256 pages, hundreds of times per inflation. The last value
 * always follows, from a host-clock timer at balloon_event_due. */
#define BALLOON_EVENT_GAP_MS 1000

static void balloon_event(void *opaque)
{
	struct machine *m = opaque;
	struct virtio_balloon_info info;
	char data[64];

	if (!m->vballoon || !atomic_load(&m->balloon_changed))
		return;
	uint64_t now = monotonic_ms();
	if (now < m->balloon_event_due) {
		event_timer_arm(m->balloon_event_timer, (int64_t)m->balloon_event_due * 1000000, 0);
		return;
	}
	atomic_store(&m->balloon_changed, false);
	m->balloon_event_due = now + BALLOON_EVENT_GAP_MS;
	virtio_balloon_get_info(m->vballoon, &info);
	snprintf(data, sizeof(data), "{\"actual\": %llu}",
		 (unsigned long long)balloon_actual(m, &info));
	control_event(m->control, "BALLOON_CHANGE", data);
}

/* guest-stats-polling-interval: a periodic timer on the virtual clock (a
 * paused guest cannot answer). */
static void balloon_stats_tick(void *opaque)
{
	struct machine *m = opaque;
	virtio_balloon_request_stats(m->vballoon);
}

static void start_balloon_timers(struct machine *m)
{
	if (!m->vballoon)
		return;
	m->balloon_event_timer = event_timer_new(m->loop, EVENT_CLOCK_HOST, balloon_event, m);
	if (!m->cfg.balloon_stats_interval)
		return;
	int64_t period = (int64_t)m->cfg.balloon_stats_interval * 1000000000LL;
	m->balloon_stats_timer = event_timer_new(m->loop, EVENT_CLOCK_VIRTUAL,
						 balloon_stats_tick, m);
	event_timer_arm(m->balloon_stats_timer, event_clock_ns(m->loop, EVENT_CLOCK_VIRTUAL),
			period); /* the first request at once, as before */
}

/* QMP's x-dirty-log and x-query-dirty-pages (test hooks): dirty logging of
 * one of the board's memory regions (memmap.h lists their names). */
static int ctl_dirty_log(void *opaque, const char *name, bool on)
{
	struct machine *m = opaque;
	struct mem_region *r = memmap_find_region(&m->memmap, name);

	return r ? mem_region_set_log_dirty(r, on) : -ENOENT;
}

static int64_t ctl_dirty_pages(void *opaque, const char *name, uint64_t *gpas, size_t max)
{
	struct machine *m = opaque;
	struct mem_region *r = memmap_find_region(&m->memmap, name);
	int64_t n = 0;

	if (!r)
		return -ENOENT;
	uint64_t pages = mem_region_pages(r);
	uint64_t *bits = calloc((pages + 63) / 64, sizeof(uint64_t));
	if (!bits)
		return -ENOMEM;
	int err = mem_region_get_dirty(r, bits, pages);
	for (uint64_t p = 0; !err && p < pages; p++) {
		if (!(bits[p / 64] >> (p % 64) & 1))
			continue;
		if ((size_t)n < max)
			gpas[n] = r->gpa + (p << MEM_PAGE_SHIFT);
		n++;
	}
	free(bits);
	return err ? err : n;
}

static void ctl_watchdog_set_action(void *opaque, int action)
{
	struct machine *m = opaque;
	watchdog_set_action(&m->watchdog, (enum watchdog_action)action);
}

static const struct vmctl_ops machine_vmctl_ops = {
	ctl_running, ctl_stop, ctl_cont, ctl_reset, ctl_powerdown, ctl_quit, ctl_cpus, ctl_name,
	ctl_balloon_set, ctl_balloon_query, ctl_dirty_log, ctl_dirty_pages,
	ctl_watchdog_set_action,
};

void machine_create(struct machine *m, const struct machine_config *cfg)
{
	char err[256];
	uint64_t bios_size;
	int ret;

	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->ncpus = cfg->smp.cpus;
	if (kvm_open(&m->kvm, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm", err, sizeof(err)) < 0)
		die("%s", err);
	if (m->ncpus > (unsigned)m->kvm.max_vcpus)
		die("-smp %u: this KVM supports at most %d vCPUs", m->ncpus, m->kvm.max_vcpus);
	if (topology_apic_id_limit(&cfg->smp) > (unsigned)m->kvm.max_vcpu_id)
		die("-smp: APIC IDs up to %u are needed, this KVM allows ids below %d",
		    topology_apic_id_limit(&cfg->smp) - 1, m->kvm.max_vcpu_id);
	char *bios_path;
	int bios_fd = open_bios(cfg, &bios_size, &bios_path);
	ret = guest_mem_init(&m->mem, cfg->ram_size);
	if (ret < 0)
		die("cannot allocate %llu MiB of guest RAM: %s",
		    (unsigned long long)(cfg->ram_size / MiB), strerror(-ret));
	if (memmap_init(&m->memmap, &m->mem, NULL, bios_size) < 0)
		die("cannot set up the memory map");
	read_bios(bios_fd, bios_path, m->memmap.bios, bios_size);
	m->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->event_fd < 0)
		die_errno("eventfd");
	m->loop = event_loop_new();
	if (!m->loop)
		die_errno("cannot create the event loop");
	pthread_mutex_init(&m->pause_lock, NULL);
	pthread_cond_init(&m->pause_cond, NULL);
	m->signal_fd = block_exit_signals();
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	vcpu_signals_init();
	m->kvm.vm_fd = -1;
	create_vm_and_vcpus(m);
	create_devices(m);
}

/* SIGTERM, SIGINT and SIGHUP end vmm cleanly (sockets and the pidfile are
 * removed); blocked here before any vCPU thread exists, so only the main
 * loop sees them, through a signalfd. */
static int block_exit_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		die_errno("signalfd");
	return fd;
}

static void handle_signal(void *opaque, int fd, unsigned revents)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;
	if (read(m->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	fprintf(stderr, "vmm: terminating on signal %u from pid %u\n", si.ssi_signo, si.ssi_pid);
	machine_request_from(m, MACHINE_REQ_EXIT, 0, CAUSE_HOST_SIGNAL);
}

static void shutdown_event(struct machine *m, bool guest, const char *reason)
{
	char data[96];
	snprintf(data, sizeof(data), "{\"guest\": %s, \"reason\": \"%s\"}",
		 guest ? "true" : "false", reason);
	control_event(m->control, "SHUTDOWN", data);
}

/* Handles a pending request; returns -1 to go on running, or the process
 * exit status. */
static int handle_request(struct machine *m, int req)
{
	bool guest = atomic_load(&m->cause) == CAUSE_GUEST;

	stop_vcpus(m);
	switch (req) {
	case MACHINE_REQ_RESET:
		if (m->cfg.no_reboot) {
			shutdown_event(m, guest, guest ? "guest-reset" : "host-qmp-system-reset");
			return 0;
		}
		debug("system reset");
		machine_reset(m);
		atomic_store(&m->request, MACHINE_REQ_NONE);
		atomic_fetch_and(&m->hold, ~HOLD_REQUEST);
		start_vcpus(m);
		control_event(m->control, "RESET",
			      guest ? "{\"guest\": true, \"reason\": \"guest-reset\"}"
				    : "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}");
		return -1;
	case MACHINE_REQ_POWEROFF:
		shutdown_event(m, true, "guest-shutdown");
		return 0;
	case MACHINE_REQ_EXIT:
		switch (atomic_load(&m->cause)) {
		case CAUSE_HOST_QMP: shutdown_event(m, false, "host-qmp-quit"); break;
		case CAUSE_HOST_SIGNAL: shutdown_event(m, false, "host-signal"); break;
		case CAUSE_HOST_UI: shutdown_event(m, false, "host-ui"); break;
		default: break; /* isa-debug-exit: QEMU exits without an event */
		}
		return atomic_load(&m->exit_status);
	default:
		return 1;
	}
}

/* machine_request_from wrote the eventfd; the round's end looks at the
 * request. Also a balloon change whose post did not fit the queue. */
static void handle_wakeup(void *opaque, int fd, unsigned revents)
{
	uint64_t count;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		die_errno("eventfd read");
	balloon_event(opaque);
}

static void ui_quit(void *opaque)
{
	machine_request_from(opaque, MACHINE_REQ_EXIT, 0, CAUSE_HOST_UI);
}

int machine_run(struct machine *m)
{
	struct vmctl ctl = { &machine_vmctl_ops, m };

	control_start(m->control, &ctl);
	chardev_start_all(); /* server sockets with wait=on */
	if (!event_fd_add(m->loop, m->event_fd, POLLIN, handle_wakeup, m) ||
	    !event_fd_add(m->loop, m->signal_fd, POLLIN, handle_signal, m))
		die_errno("event loop");
	control_attach(m->control, m->loop);
	chardev_attach_loop(m->loop, ui_quit, m);
	start_balloon_timers(m);
	start_vcpus(m);
	for (;;) {
		int ret = event_loop_run_once(m->loop, -1);
		if (ret < 0 && ret != -EINTR)
			die("event loop: %s", strerror(-ret));
		int req = atomic_load(&m->request);
		if (req == MACHINE_REQ_NONE)
			continue;
		int status = handle_request(m, req);
		if (status >= 0)
			return status;
	}
}

void machine_destroy(struct machine *m)
{
	net_tap_shutdown(); /* downscripts: main() leaves with _exit */
	/* Devices first, in reverse order: their threads write to chardevs. */
	dev_destroy_all(m->cfg.devs, m->cfg.ndevs);
	m->rtc = NULL;
	m->dma = NULL;
	chardev_destroy_all();
	m->serial_cd = NULL;
	event_timer_free(m->balloon_event_timer);
	event_timer_free(m->balloon_stats_timer);
	event_loop_free(m->loop);
	m->loop = NULL;
}
