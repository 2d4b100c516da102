// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The table entries (include/device.h) of the devices the PC has today:
 * what each is called, its properties, and how it is wired on the board.
 * The device models themselves stay in hw/; this file is only their
 * entries, kept in one place so that the models' files stay free of board
 * glue while the saved-state work changes them all.
 *
 * Board-only entries (the chipset, RTC, i8042, fw_cfg, ports 0x80 and
 * 0x92) are the board's fixed devices: not for -device, but on the
 * instance list like every other device, so that one walk creates and
 * resets the whole machine, and -global reaches their properties.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "chardev.h"
#include "device.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/i8237.h"
#include "hw/ide.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "hw/chipset.h"
#include "hw/cirrus_vga.h"
#include "hw/edid.h"
#include "hw/vga_pci.h"
#include "hw/virtio_balloon.h"
#include "hw/virtio_blk.h"
#include "hw/virtio_console.h"
#include "hw/virtio_net.h"
#include "hw/virtio_pci.h"
#include "hw/virtio_rng.h"
#include "kvm.h"
#include "machine.h"
#include "memmap.h"
#include "net.h"
#include "savestate.h"
#include "util.h"

extern const struct dev_class virtconsole_class, virtserialport_class, virtio_serial_class,
	virtio_blk_class, virtio_net_class, isa_debugcon_class;

/* How many instances of 'c' come before 'd' in the list (a device's
 * index among its kind: default MAC addresses, disk serials). */
static unsigned index_among(const struct dev_board *b, const struct dev_instance *d)
{
	unsigned n = 0;
	for (const struct dev_instance *i = b->devs; i < d && i < b->devs + b->ndevs; i++)
		n += i->cls == d->cls;
	return n;
}

static struct board_control board_control_of(const struct dev_board *b)
{
	return (struct board_control){ b->req_reset, b->req_poweroff, b->req_exit, b->machine };
}

static int no_room(const struct dev_instance *d, char *err, size_t errlen)
{
	return set_err(err, errlen, "cannot create %s", d->cls->name);
}

/* ==== display ============================================================ */

#define VGA_SLOT 2 /* where QEMU's pc puts its VGA, and guests expect it */

/* Text and planar modes trap the window: with KVM's coalesced MMIO its
 * writes queue in a ring instead of each exiting (reads still exit, and
 * every exit applies the queue first; docs/architecture.md, "Coalesced
 * MMIO"). The Cirrus BitBLT registers (0xB8000-0xB80FF when SR17 maps
 * them there) start work whose result the guest may read through the
 * LFB, without an exit: they stay out. Without the capability the window
 * traps as before. */
#define CIRRUS_MMIO_BLT_BASE 0xB8000u
#define CIRRUS_MMIO_BLT_SIZE 0x100u

static void coalesce_vga_window(struct dev_board *b, bool cirrus)
{
	int ret;

	if (!b->kvm)
		return;
	if (!cirrus) {
		ret = kvm_coalesce_mmio(b->kvm, VGA_WINDOW_BASE, VGA_WINDOW_SIZE);
	} else {
		ret = kvm_coalesce_mmio(b->kvm, VGA_WINDOW_BASE,
					CIRRUS_MMIO_BLT_BASE - VGA_WINDOW_BASE);
		if (ret == 0)
			ret = kvm_coalesce_mmio(b->kvm, CIRRUS_MMIO_BLT_BASE + CIRRUS_MMIO_BLT_SIZE,
						VGA_WINDOW_BASE + VGA_WINDOW_SIZE -
							(CIRRUS_MMIO_BLT_BASE + CIRRUS_MMIO_BLT_SIZE));
	}
	if (ret < 0 && ret != -EOPNOTSUPP)
		warn("VGA window: coalesced MMIO not used: %s", strerror(-ret));
}

/* The name of a card's video memory in the migration stream: by its PCI
 * address, which the destination's command line must repeat. */
static const char *vram_name(const struct dev_instance *d, char buf[GUEST_MEM_NAME_LEN])
{
	snprintf(buf, GUEST_MEM_NAME_LEN, "vga.vram@%02x.%x", (unsigned)(d->devfn >> 3) & 0x1F,
		 (unsigned)d->devfn & 7);
	return buf;
}

static int vga_pci_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			      size_t errlen)
{
	bool legacy = !strcmp(d->cls->name, "VGA");
	const char *rom_name = legacy ? "vgabios-stdvga.bin" : "vgabios-bochs-display.bin";
	uint64_t mb = dev_get_uint(d, "vgamem_mb");
	size_t rom_len = 0;
	uint8_t *rom = NULL;
	char why[256];

	if (mb & (mb - 1))
		return set_err(err, errlen, "-device %s: vgamem_mb=%llu is not a power of two",
			       d->cls->name, (unsigned long long)mb);
	struct edid_monitor mon = {
		.xres = (uint32_t)dev_get_uint(d, "xres"), .yres = (uint32_t)dev_get_uint(d, "yres"),
		.xmax = (uint32_t)dev_get_uint(d, "xmax"), .ymax = (uint32_t)dev_get_uint(d, "ymax"),
		.refresh_mhz = (uint32_t)dev_get_uint(d, "refresh_rate"),
		.vram_size = mb << 20,
	};
	bool edid = dev_get_bool(d, "edid");
	/* the monitor's values are checked even with edid=off, as the
	 * card's other properties are: a typo fails whatever the switch */
	if (!edid_monitor_resolve(&mon, why, sizeof(why)))
		return set_err(err, errlen, "-device %s: %s", d->cls->name, why);
	const char *name = dev_is_set(d, "romfile") ? dev_get_str(d, "romfile") : rom_name;
	if (dev_get_bool(d, "romfile-load") && name && *name) {
		rom = b->option_rom(b, name, &rom_len, why, sizeof(why));
		if (!rom)
			return set_err(err, errlen, "-device %s: %s", d->cls->name, why);
	}
	char ram_name[GUEST_MEM_NAME_LEN];
	struct vga_config c = {
		.vram_size = (uint32_t)(mb << 20), .legacy = legacy, .space = &b->memmap->space,
		.pio = b->pio, .mmio = b->mmio, .loop = b->loop, .mem = b->mem,
		.ram_name = vram_name(d, ram_name),
	};
	struct vga_pci *p = vga_pci_create(b->pci, (uint8_t)d->devfn, &c, rom, rom_len);
	free(rom);
	if (!p)
		return no_room(d, err, errlen);
	if (edid) {
		uint8_t block[EDID_BLOCK_SIZE];
		edid_generate(&mon, block);
		vga_pci_set_edid(p, block);
	}
	if (legacy)
		coalesce_vga_window(b, false);
	d->state = p;
	return 0;
}

static void vga_pci_reset_dev(struct dev_instance *d)
{
	vga_pci_reset(d->state);
}

DEV_STATE_OPS(vga_pci, struct vga_pci)

static void vga_pci_destroy_dev(struct dev_instance *d)
{
	vga_pci_destroy(d->state);
	d->state = NULL;
}

static bool has_legacy_vga(const struct dev_class *cls)
{
	return !strcmp(cls->name, "VGA") || !strcmp(cls->name, "cirrus-vga");
}

/* One display card with the legacy VGA (its ports and window cannot be
 * shared: QEMU lets a second one overlap the first, vmm refuses it); the
 * first display card goes to slot 2 unless told otherwise or the slot is
 * taken, as on QEMU's pc. */
static int vga_pci_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			 size_t errlen)
{
	bool slot2_taken = false, first = true;

	for (unsigned i = 0; i < cfg->ndevs; i++) {
		const struct dev_instance *o = &cfg->devs[i];
		if (o == d)
			break;
		if (o->cls->categories & DEV_CAT_DISPLAY)
			first = false;
		if (has_legacy_vga(d->cls) && has_legacy_vga(o->cls))
			return set_err(err, errlen,
				       "-device %s: only one card with the legacy VGA (VGA, cirrus-vga) "
				       "is supported, and %s is there",
				       d->cls->name, o->cls->name);
	}
	for (unsigned i = 0; i < cfg->ndevs; i++) {
		const struct dev_instance *o = &cfg->devs[i];
		int ai = dev_class_prop_index(o->cls, "addr");
		if (o != d && ai >= 0 && o->val[ai].set && (o->val[ai].u >> 3) == VGA_SLOT)
			slot2_taken = true;
	}
	if (first && !slot2_taken && !dev_is_given(d, "addr"))
		return dev_instance_set(d, "addr", "02.0", err, errlen);
	return 0;
}

static const struct dev_prop vga_pci_props[] = {
	{ .name = "vgamem_mb", .type = PROP_UINT, .min = 1, .max = 256, .def = "16",
	  .type_name = "uint32", .help = "video memory in MiB, a power of two (default 16)" },
	{ .name = "romfile", .type = PROP_STR,
	  .help = "the VGA BIOS, a file name searched as the BIOS is" },
	{ .name = "romfile-load", .type = PROP_BOOL, .def = "on", .type_name = "bool",
	  .help = "map the VGA BIOS as the card's expansion ROM (default on)" },
	{ .name = "edid", .type = PROP_BOOL, .def = "on", .type_name = "bool",
	  .help = "an EDID block in the MMIO BAR (off: the window reads 0, guests fall back)" },
	{ .name = "xres", .type = PROP_UINT, .min = 0, .max = UINT32_MAX, .def = "0",
	  .type_name = "uint32", .help = "the monitor's preferred width (0: 1280)" },
	{ .name = "yres", .type = PROP_UINT, .min = 0, .max = UINT32_MAX, .def = "0",
	  .type_name = "uint32", .help = "the monitor's preferred height (0: 800)" },
	{ .name = "xmax", .type = PROP_UINT, .min = 0, .max = UINT32_MAX, .def = "0",
	  .type_name = "uint32", .help = "no wider mode is listed (0: 2048, or xres if larger)" },
	{ .name = "ymax", .type = PROP_UINT, .min = 0, .max = UINT32_MAX, .def = "0",
	  .type_name = "uint32", .help = "no taller mode is listed (0: 2048, or yres if larger)" },
	{ .name = "refresh_rate", .type = PROP_UINT, .min = 0, .max = UINT32_MAX, .def = "0",
	  .type_name = "uint32", .help = "the preferred mode's refresh rate in mHz (0: 60000)" },
};

const struct dev_class vga_std_class = {
	.name = "VGA",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_DISPLAY,
	.desc = "standard VGA with Bochs VBE extensions (PCI 1234:1111)",
	.props = vga_pci_props,
	.nprops = ARRAY_SIZE(vga_pci_props),
	.ops = { .create = vga_pci_create_dev, .reset = vga_pci_reset_dev,
		 .save = vga_pci_save_dev, .load = vga_pci_load_dev,
		 .destroy = vga_pci_destroy_dev, .check = vga_pci_check },
	.place_rank = 0,
};

const struct dev_class bochs_display_class = {
	.name = "bochs-display",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_DISPLAY,
	.desc = "Bochs VBE display without legacy VGA (PCI 1234:1111, class 0380)",
	.props = vga_pci_props,
	.nprops = ARRAY_SIZE(vga_pci_props),
	.ops = { .create = vga_pci_create_dev, .reset = vga_pci_reset_dev,
		 .save = vga_pci_save_dev, .load = vga_pci_load_dev,
		 .destroy = vga_pci_destroy_dev, .check = vga_pci_check },
	.place_rank = 0,
};

static int cirrus_vga_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
				 size_t errlen)
{
	uint64_t mb = dev_get_uint(d, "vgamem_mb");
	size_t rom_len = 0;
	uint8_t *rom = NULL;

	if (mb != 4 && mb != 8 && mb != 16)
		return set_err(err, errlen, "-device cirrus-vga: vgamem_mb=%llu: the card has 4, 8 or 16 MiB",
			       (unsigned long long)mb);
	const char *name = dev_is_set(d, "romfile") ? dev_get_str(d, "romfile") : "vgabios-cirrus.bin";
	if (dev_get_bool(d, "romfile-load") && name && *name) {
		char why[256];
		rom = b->option_rom(b, name, &rom_len, why, sizeof(why));
		if (!rom)
			return set_err(err, errlen, "-device cirrus-vga: %s", why);
	}
	char ram_name[GUEST_MEM_NAME_LEN];
	struct vga_config c = {
		.vram_size = (uint32_t)(mb << 20), .legacy = true, .space = &b->memmap->space,
		.pio = b->pio, .mmio = b->mmio, .loop = b->loop, .mem = b->mem,
		.ram_name = vram_name(d, ram_name),
	};
	struct cirrus_vga *cv = cirrus_vga_create(b->pci, (uint8_t)d->devfn, &c, rom, rom_len);
	free(rom);
	if (!cv)
		return no_room(d, err, errlen);
	cv->blitter = dev_get_bool(d, "blitter");
	coalesce_vga_window(b, true);
	d->state = cv;
	return 0;
}

static void cirrus_vga_reset_dev(struct dev_instance *d)
{
	cirrus_vga_reset(d->state);
}

DEV_STATE_OPS(cirrus_vga, struct cirrus_vga)

static void cirrus_vga_destroy_dev(struct dev_instance *d)
{
	cirrus_vga_destroy(d->state);
	d->state = NULL;
}

static const struct dev_prop cirrus_vga_props[] = {
	{ .name = "vgamem_mb", .type = PROP_UINT, .min = 1, .max = 16, .def = "4",
	  .type_name = "uint32", .help = "video memory in MiB: 4, 8 or 16" },
	{ .name = "blitter", .type = PROP_BOOL, .def = "on", .type_name = "bool",
	  .help = "the BitBLT engine (off: BLTs are ignored)" },
	{ .name = "romfile", .type = PROP_STR,
	  .help = "the VGA BIOS, a file name searched as the BIOS is" },
	{ .name = "romfile-load", .type = PROP_BOOL, .def = "on", .type_name = "bool",
	  .help = "map the VGA BIOS as the card's expansion ROM" },
};

const struct dev_class cirrus_vga_class = {
	.name = "cirrus-vga",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_DISPLAY,
	.desc = "Cirrus CLGD 54xx VGA (CL-GD5446, PCI 1013:00b8)",
	.props = cirrus_vga_props,
	.nprops = ARRAY_SIZE(cirrus_vga_props),
	.ops = { .create = cirrus_vga_create_dev, .reset = cirrus_vga_reset_dev,
		 .save = cirrus_vga_save_dev, .load = cirrus_vga_load_dev,
		 .destroy = cirrus_vga_destroy_dev, .check = vga_pci_check },
	.place_rank = 0,
};

/* ==== virtio devices ===================================================== */

/* Pause and saved state of a virtio device: its transport stops taking
 * work (the I/O thread no longer touches guest memory) and resumes
 * looking at every ready queue. Each class names its transport. */
#define VIRTIO_LIFECYCLE(kind, type)                                                     \
	static void kind##_quiesce_dev(struct dev_instance *d)                           \
	{                                                                                \
		virtio_pci_quiesce(kind##_transport((type *)d->state));                  \
	}                                                                                \
	static void kind##_resume_dev(struct dev_instance *d)                            \
	{                                                                                \
		virtio_pci_resume(kind##_transport((type *)d->state));                   \
	}                                                                                \
	static void kind##_save_dev(struct dev_instance *d, struct ss_writer *w,         \
				    uint32_t instance)                                   \
	{                                                                                \
		kind##_save((type *)d->state, w, instance);                              \
	}                                                                                \
	static bool kind##_load_dev(struct dev_instance *d, struct ss_reader *r,         \
				    uint32_t instance)                                   \
	{                                                                                \
		return kind##_load((type *)d->state, r, instance);                       \
	}

VIRTIO_LIFECYCLE(virtio_net, struct virtio_net)
NIC_LINK_OPS(virtio_net, struct virtio_net)

/* The backend's thread delivers into the NIC, whose reset and I/O thread
 * call the backend: the backend stops delivering, the NIC goes, then the
 * backend. */
static void virtio_net_pci_destroy(struct dev_instance *d)
{
	struct virtio_net *n = d->state;
	struct net_backend *be = virtio_net_backend(n);

	net_stop(be);
	virtio_net_destroy(n);
	net_destroy(be);
}
VIRTIO_LIFECYCLE(virtio_rng, struct virtio_rng)
VIRTIO_LIFECYCLE(virtio_balloon, struct virtio_balloon)
VIRTIO_LIFECYCLE(virtio_console, struct virtio_console)

static void virtio_rng_destroy_dev(struct dev_instance *d)
{
	virtio_rng_destroy(d->state);
}

static void virtio_balloon_destroy_dev(struct dev_instance *d)
{
	virtio_balloon_destroy(d->state);
}

/* Its I/O thread writes to chardevs: it stops before they go
 * (machine_destroy destroys the devices first). */
static void virtio_console_destroy_dev(struct dev_instance *d)
{
	virtio_console_destroy(d->state);
}

/* virtio-blk's quiesce also waits for the requests its workers and
 * io_uring carry out. */
static void virtio_blk_quiesce_dev(struct dev_instance *d)
{
	virtio_blk_quiesce(d->state);
}

static void virtio_blk_resume_dev(struct dev_instance *d)
{
	virtio_pci_resume(virtio_blk_transport(d->state));
}

static void virtio_blk_save_dev(struct dev_instance *d, struct ss_writer *w, uint32_t instance)
{
	virtio_blk_save(d->state, w, instance);
}

static bool virtio_blk_load_dev(struct dev_instance *d, struct ss_reader *r, uint32_t instance)
{
	return virtio_blk_load(d->state, r, instance);
}

/* Its threads stop, then the image is closed. */
static void virtio_blk_destroy_dev(struct dev_instance *d)
{
	virtio_blk_destroy(d->state);
}

static int virtio_net_pci_create(struct dev_instance *d, struct dev_board *b, char *err,
			     size_t errlen)
{
	uint8_t mac[6];
	struct net_backend *be = b->netdev(b, dev_get_str(d, "netdev"), err, errlen);

	if (!be)
		return -1;
	dev_nic_mac(b, d, mac);
	bool mq = dev_get_bool(d, "mq");
	unsigned vectors = virtio_net_queue_count(be, mq) + 1;
	if (dev_is_given(d, "vectors") && dev_get_uint(d, "vectors") != vectors) {
		snprintf(err, errlen, "vectors=%u: this card has %u MSI-X vectors (one per queue "
			 "and one for configuration changes)", (unsigned)dev_get_uint(d, "vectors"),
			 vectors);
		return -1;
	}
	struct virtio_net *n = virtio_net_create(b->pci, (uint8_t)d->devfn, b->mem, b->virtio,
						  mac, be, mq);
	if (!n || virtio_net_attach(n) < 0)
		return no_room(d, err, errlen);
	d->state = n;
	return 0;
}

static void virtio_net_log_dirty_dev(struct dev_instance *d, bool on)
{
	virtio_net_set_logging(d->state, on);
}

static const struct dev_prop virtio_net_props[] = {
	{ .name = "netdev", .type = PROP_NETDEV,
	  .help = "id of the -netdev this NIC sends and receives on (none: no peer)" },
	{ .name = "mac", .type = PROP_MAC,
	  .help = "MAC address such as 52:54:00:12:34:56 (default: 52:54:00:12:34:56 plus "
		  "the NIC's index)" },
	{ .name = "mq", .type = PROP_BOOL, .def = "off", .type_name = "bool",
	  .help = "multiqueue: a queue pair per queue of the netdev (-netdev tap,queues=N) "
		  "and a control queue (default off)" },
	{ .name = "vectors", .type = PROP_UINT, .min = 0, .max = 2 * VIRTIO_NET_MAX_PAIRS + 2,
	  .help = "MSI-X vectors: one per queue and one for configuration changes (3, or "
		  "2*pairs+2 with mq=on); other counts are refused" },
};

const struct dev_class virtio_net_class = {
	.name = "virtio-net-pci",
	.aliases = (const char *const[]){ "virtio-net", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "virtio network card (host side: user-mode or tap)",
	.props = virtio_net_props,
	.nprops = ARRAY_SIZE(virtio_net_props),
	.ops = { .create = virtio_net_pci_create, .quiesce = virtio_net_quiesce_dev,
		 .resume = virtio_net_resume_dev, .save = virtio_net_save_dev,
		 .load = virtio_net_load_dev, .destroy = virtio_net_pci_destroy,
		 .set_link = virtio_net_set_link_dev, .link_up = virtio_net_link_up_dev,
		 .log_dirty = virtio_net_log_dirty_dev },
	.place_rank = 1,
};

#define VIRTIO_BLK_WORKERS 4

static int virtio_blk_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
				 size_t errlen)
{
	char serial[21];
	bool cdrom;
	struct block_dev *bd = b->drive(b, dev_get_str(d, "drive"), &cdrom, err, errlen);

	if (!bd)
		return -1;
	if (dev_get_str(d, "serial"))
		snprintf(serial, sizeof(serial), "%s", dev_get_str(d, "serial"));
	else
		snprintf(serial, sizeof(serial), "VMM-VD%u", index_among(b, d));
	d->state = virtio_blk_create(b->pci, (uint8_t)d->devfn, b->mem, b->virtio, bd, serial,
				     VIRTIO_BLK_WORKERS);
	return d->state ? 0 : no_room(d, err, errlen);
}

/* The drive must be a disk: a CD-ROM has no virtio-blk form. */
static int virtio_blk_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			    size_t errlen)
{
	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (!strcmp(cfg->drives[i].id, dev_get_str(d, "drive")) && cfg->drives[i].d.cdrom)
			return set_err(err, errlen, "-device virtio-blk-pci: drive '%s' is a CD-ROM",
				       cfg->drives[i].id);
	return 0;
}

static const struct dev_prop virtio_blk_props[] = {
	{ .name = "drive", .type = PROP_DRIVE, .required = true,
	  .help = "id of the -drive if=none holding the disk image" },
	{ .name = "serial", .type = PROP_STR, .min = 1, .max = 20,
	  .help = "serial number the guest reads, 1 to 20 bytes (default: VMM-VD<index>)" },
	{ .name = "bootindex", .type = PROP_UINT, .max = INT32_MAX, .type_name = "int32",
	  .help = "accepted for QEMU's command lines; SeaBIOS boots in -boot order" },
};

const struct dev_class virtio_blk_class = {
	.name = "virtio-blk-pci",
	.aliases = (const char *const[]){ "virtio-blk", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_STORAGE,
	.desc = "virtio disk",
	.props = virtio_blk_props,
	.nprops = ARRAY_SIZE(virtio_blk_props),
	.ops = { .create = virtio_blk_create_dev, .check = virtio_blk_check,
		 .quiesce = virtio_blk_quiesce_dev, .resume = virtio_blk_resume_dev,
		 .save = virtio_blk_save_dev, .load = virtio_blk_load_dev,
		 .destroy = virtio_blk_destroy_dev },
	.place_rank = 0,
};

static struct machine *machine_of(struct dev_board *b)
{
	return b->machine;
}

static const struct rng_object *find_rng_object(const struct machine_config *cfg, const char *id)
{
	for (unsigned i = 0; id && i < cfg->nrng_objects; i++)
		if (!strcmp(cfg->rng_objects[i].id, id))
			return &cfg->rng_objects[i];
	return NULL;
}

static int virtio_rng_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			    size_t errlen)
{
	const char *id = dev_get_str(d, "rng");
	if (id && !find_rng_object(cfg, id))
		return set_err(err, errlen, "-device virtio-rng-pci: no -object rng-random or "
			       "rng-builtin with id '%s'", id);
	return 0;
}

/* rng=ID of an rng-random: its file is opened now, before the sandbox. */
static int virtio_rng_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
				 size_t errlen)
{
	const struct rng_object *o = find_rng_object(&machine_of(b)->cfg, dev_get_str(d, "rng"));
	int fd = -1;

	if (o && o->filename) {
		fd = open(o->filename, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return set_err(err, errlen, "-object rng-random,id=%s: cannot open '%s': %s",
				       o->id, o->filename, strerror(errno));
	}
	d->state = virtio_rng_create(b->pci, (uint8_t)d->devfn, b->mem, b->virtio);
	if (!d->state) {
		if (fd >= 0)
			close(fd);
		return no_room(d, err, errlen);
	}
	if (fd >= 0)
		virtio_rng_set_source(d->state, fd);
	return 0;
}

static const struct dev_prop virtio_rng_props[] = {
	{ .name = "rng", .type = PROP_STR, .min = 1,
	  .help = "id of the -object rng-random (its file) or rng-builtin (getrandom, the "
		  "default) the entropy comes from" },
};

const struct dev_class virtio_rng_class = {
	.name = "virtio-rng-pci",
	.aliases = (const char *const[]){ "virtio-rng", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_MISC,
	.desc = "virtio entropy source (the host's getrandom, or an -object rng-random's file)",
	.props = virtio_rng_props,
	.nprops = ARRAY_SIZE(virtio_rng_props),
	.ops = { .create = virtio_rng_create_dev, .check = virtio_rng_check,
		 .quiesce = virtio_rng_quiesce_dev,
		 .resume = virtio_rng_resume_dev, .save = virtio_rng_save_dev,
		 .load = virtio_rng_load_dev, .destroy = virtio_rng_destroy_dev },
	.max_instances = 1,
	.place_rank = 2,
};

static void balloon_changed_cb(void *opaque)
{
	struct dev_board *b = opaque;
	if (b->balloon_changed)
		b->balloon_changed(b->machine);
}

static int virtio_balloon_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
				     size_t errlen)
{
	d->state = virtio_balloon_create(b->pci, (uint8_t)d->devfn, b->mem, b->virtio,
					 dev_get_bool(d, "deflate-on-oom"), balloon_changed_cb, b);
	return d->state ? 0 : no_room(d, err, errlen);
}

/* The polling interval is the main loop's business (it asks for stats). */
static int virtio_balloon_check(struct dev_instance *d, struct machine_config *cfg, char *err,
				size_t errlen)
{
	cfg->balloon_stats_interval = (unsigned)dev_get_uint(d, "guest-stats-polling-interval");
	return 0;
}

static const struct dev_prop virtio_balloon_props[] = {
	{ .name = "deflate-on-oom", .type = PROP_BOOL, .def = "off",
	  .help = "the guest may take pages back when it runs out of memory" },
	{ .name = "guest-stats-polling-interval", .type = PROP_UINT, .max = 86400, .def = "0",
	  .help = "seconds between memory statistics requests, 0: only when QMP asks" },
};

const struct dev_class virtio_balloon_class = {
	.name = "virtio-balloon-pci",
	.aliases = (const char *const[]){ "virtio-balloon", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_MISC,
	.desc = "virtio memory balloon (QMP balloon, query-balloon)",
	.props = virtio_balloon_props,
	.nprops = ARRAY_SIZE(virtio_balloon_props),
	.ops = { .create = virtio_balloon_create_dev, .check = virtio_balloon_check,
		 .quiesce = virtio_balloon_quiesce_dev, .resume = virtio_balloon_resume_dev,
		 .save = virtio_balloon_save_dev, .load = virtio_balloon_load_dev,
		 .destroy = virtio_balloon_destroy_dev },
	.max_instances = 1,
	.place_rank = 3,
};

/* ---- virtio-serial and its ports ---------------------------------------- */

static bool is_port(const struct dev_instance *d)
{
	return d->cls == &virtconsole_class || d->cls == &virtserialport_class;
}

static int virtio_serial_create(struct dev_instance *d, struct dev_board *b, char *err,
				size_t errlen)
{
	struct virtio_console_port_config ports[MAX_VSERIAL_PORTS];
	unsigned n = 0;

	for (unsigned i = 0; i < b->ndevs; i++) {
		struct dev_instance *p = &b->devs[i];
		if (!is_port(p))
			continue;
		ports[n] = (struct virtio_console_port_config){
			.cd = chardev_find(dev_get_str(p, "chardev")),
			.name = dev_get_str(p, "name"),
			.console = p->cls == &virtconsole_class,
			.nr = (unsigned)dev_get_uint(p, "nr"),
		};
		if (!ports[n].cd)
			return set_err(err, errlen, "-device %s: no chardev '%s'", p->cls->name,
				       dev_get_str(p, "chardev"));
		n++;
	}
	d->state = virtio_console_create(b->pci, (uint8_t)d->devfn, b->mem, b->virtio, ports, n);
	if (!d->state)
		return set_err(err, errlen, "cannot create the virtio-serial device (a chardev "
			       "used twice?)");
	return 0;
}

static bool port_nr_used(const struct machine_config *cfg, const struct dev_instance *self,
			 uint64_t nr)
{
	for (unsigned i = 0; i < cfg->ndevs; i++)
		if (&cfg->devs[i] != self && is_port(&cfg->devs[i]) &&
		    dev_is_set(&cfg->devs[i], "nr") && dev_get_uint(&cfg->devs[i], "nr") == nr)
			return true;
	return false;
}

/* The bus numbers its ports: explicit nr= first (each once), then the
 * first free number for the rest (0 is kept for a console). */
static int virtio_serial_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			       size_t errlen)
{
	unsigned nports = 0;

	for (unsigned i = 0; i < cfg->ndevs; i++) {
		struct dev_instance *p = &cfg->devs[i];
		if (!is_port(p))
			continue;
		if (++nports > MAX_VSERIAL_PORTS)
			return set_err(err, errlen, "-device %s: at most %d virtio-serial ports",
				       p->cls->name, MAX_VSERIAL_PORTS);
		if (!dev_is_set(p, "nr"))
			continue;
		if (dev_get_uint(p, "nr") == 0 && p->cls != &virtconsole_class)
			return set_err(err, errlen, "-device %s: port number 0 is reserved for "
				       "virtconsole", p->cls->name);
		for (unsigned j = 0; j < i; j++)
			if (is_port(&cfg->devs[j]) && dev_is_set(&cfg->devs[j], "nr") &&
			    dev_get_uint(&cfg->devs[j], "nr") == dev_get_uint(p, "nr"))
				return set_err(err, errlen, "-device %s: port number %llu is already "
					       "in use", p->cls->name,
					       (unsigned long long)dev_get_uint(p, "nr"));
	}
	for (unsigned i = 0; i < cfg->ndevs; i++) {
		struct dev_instance *p = &cfg->devs[i];
		if (!is_port(p) || dev_is_set(p, "nr"))
			continue;
		uint64_t nr = p->cls == &virtconsole_class ? 0 : 1;
		while (nr < MAX_VSERIAL_PORTS && port_nr_used(cfg, p, nr))
			nr++;
		if (nr == MAX_VSERIAL_PORTS)
			return set_err(err, errlen, "-device %s: no free virtio-serial port number",
				       p->cls->name);
		char v[4];
		snprintf(v, sizeof(v), "%u", (unsigned)nr);
		if (dev_instance_set(p, "nr", v, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static const struct dev_prop virtio_serial_props[] = {
	{ .name = "max_ports", .type = PROP_UINT, .min = 1, .max = 31, .def = "31",
	  .help = "accepted for QEMU's command lines; vmm offers up to 8 ports" },
};

const struct dev_class virtio_serial_class = {
	.name = "virtio-serial-pci",
	.aliases = (const char *const[]){ "virtio-serial", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_INPUT,
	.desc = "virtio serial bus (virtconsole and virtserialport go on it)",
	.props = virtio_serial_props,
	.nprops = ARRAY_SIZE(virtio_serial_props),
	.ops = { .create = virtio_serial_create, .destroy = virtio_console_destroy_dev,
		 .check = virtio_serial_check, .quiesce = virtio_console_quiesce_dev,
		 .resume = virtio_console_resume_dev, .save = virtio_console_save_dev,
		 .load = virtio_console_load_dev },
	.max_instances = 1,
	.place_rank = 4,
};

static const struct dev_prop port_props[] = {
	{ .name = "chardev", .type = PROP_CHARDEV, .required = true,
	  .help = "id of the -chardev behind the port" },
	{ .name = "name", .type = PROP_STR, .min = 1, .max = 127,
	  .help = "the port's name, as the guest sees it (such as org.qemu.guest_agent.0)" },
	{ .name = "nr", .type = PROP_UINT, .max = MAX_VSERIAL_PORTS - 1,
	  .help = "port number (default: the first free one)" },
	{ .name = "bus", .type = PROP_STR, .help = "accepted; there is one virtio-serial bus" },
};

/* Ports are created by their bus (virtio-serial-pci), so they have no
 * create op of their own. */
const struct dev_class virtconsole_class = {
	.name = "virtconsole",
	.bus = DEV_BUS_VIRTIO_SERIAL,
	.categories = DEV_CAT_INPUT,
	.desc = "a console port on the virtio-serial bus (hvc0 in Linux)",
	.props = port_props,
	.nprops = ARRAY_SIZE(port_props),
};

const struct dev_class virtserialport_class = {
	.name = "virtserialport",
	.bus = DEV_BUS_VIRTIO_SERIAL,
	.categories = DEV_CAT_INPUT,
	.desc = "a named port on the virtio-serial bus",
	.props = port_props,
	.nprops = ARRAY_SIZE(port_props),
};

/* ==== IDE drives ========================================================= */

static const char *const ide_buses[] = { "ide.0", "ide.1", NULL };

extern const struct dev_class ide_hd_class, ide_cd_class;

/* Another IDE device of the list names this slot with bus= and unit=
 * (-hda and friends always do): one without bus= does not take it. */
static bool ide_slot_named(const struct machine_config *cfg, const struct dev_instance *self,
			   int index)
{
	for (unsigned i = 0; i < cfg->ndevs; i++) {
		const struct dev_instance *o = &cfg->devs[i];
		if (o != self && (o->cls == &ide_hd_class || o->cls == &ide_cd_class) &&
		    dev_is_set(o, "bus") &&
		    (int)(dev_get_uint(o, "bus") * 2 + dev_get_uint(o, "unit")) == index)
			return true;
	}
	return false;
}

/* An IDE drive takes its slot on the controller now; the controller
 * (piix3-ide, created with the board) opens and attaches it. */
static int ide_drive_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			   size_t errlen)
{
	const char *dev = d->cls->name, *id = dev_get_str(d, "drive");
	bool cd = !strcmp(dev, "ide-cd");
	struct named_drive *nd = NULL;
	int index = -1;

	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (!strcmp(cfg->drives[i].id, id))
			nd = &cfg->drives[i];
	if (!nd)
		return set_err(err, errlen, "-device %s: no -drive if=none with id '%s'", dev, id);
	struct drive_config dc = nd->d;
	dc.name = nd->id;
	dc.cdrom = cd;
	dc.read_only = dc.read_only || cd;
	if (!cd && !dc.path)
		return set_err(err, errlen, "-device ide-hd: drive '%s' has no file", id);
	if (dev_is_given(d, "unit") && !dev_is_set(d, "bus"))
		return set_err(err, errlen, "-device %s: unit= needs bus=", dev);
	if (dev_is_set(d, "bus"))
		index = (int)(dev_get_uint(d, "bus") * 2 + dev_get_uint(d, "unit"));
	for (int k = 0; index < 0 && k < MAX_IDE_DRIVES; k++)
		if (!cfg->ide[k].present && !ide_slot_named(cfg, d, k))
			index = k;
	if (index < 0)
		return set_err(err, errlen, "-device %s: no free IDE slot (at most 4 drives)", dev);
	if (cfg->ide[index].present)
		return set_err(err, errlen, "-device %s: IDE bus %d unit %d is already in use", dev,
			       index / 2, index % 2);
	cfg->ide[index] = dc;
	return 0;
}

static const struct dev_prop ide_drive_props[] = {
	{ .name = "drive", .type = PROP_DRIVE, .required = true,
	  .help = "id of the -drive if=none behind the drive" },
	{ .name = "bus", .type = PROP_ENUM, .choices = ide_buses, .type_name = "str",
	  .help = "IDE channel: ide.0 (primary) or ide.1 (secondary) (default: the first free)" },
	{ .name = "unit", .type = PROP_UINT, .max = 1, .def = "0",
	  .help = "0: master, 1: slave" },
	{ .name = "serial", .type = PROP_STR, .help = "accepted; vmm's drives have fixed serials" },
	{ .name = "bootindex", .type = PROP_UINT, .max = INT32_MAX, .type_name = "int32",
	  .help = "accepted for QEMU's command lines; SeaBIOS boots in -boot order" },
};

const struct dev_class ide_hd_class = {
	.name = "ide-hd",
	.bus = DEV_BUS_IDE,
	.categories = DEV_CAT_STORAGE,
	.desc = "IDE hard disk",
	.props = ide_drive_props,
	.nprops = ARRAY_SIZE(ide_drive_props),
	.ops = { .check = ide_drive_check },
};

const struct dev_class ide_cd_class = {
	.name = "ide-cd",
	.bus = DEV_BUS_IDE,
	.categories = DEV_CAT_STORAGE,
	.desc = "IDE (ATAPI) CD-ROM drive",
	.props = ide_drive_props,
	.nprops = ARRAY_SIZE(ide_drive_props),
	.ops = { .check = ide_drive_check },
};

/* ==== ISA debug devices ================================================= */

static void chardev_output(void *opaque, const uint8_t *buf, size_t len)
{
	chardev_write(opaque, buf, len);
}

/* The small ISA devices keep their bus, to leave it on destroy. */
struct debugcon_dev {
	struct debugcon dc;
	struct io_bus *pio;
};

struct debug_exit_dev {
	struct debug_exit de;
	struct io_bus *pio;
};

static int isa_debugcon_create(struct dev_instance *d, struct dev_board *b, char *err,
			       size_t errlen)
{
	static const struct chardev_frontend output_only = { 0 };
	const char *id = dev_get_str(d, "chardev");
	struct chardev *cd = id ? chardev_find(id) : NULL;
	struct debugcon_dev *s = xzalloc(sizeof(*s));
	struct debugcon *dc = &s->dc;

	s->pio = b->pio;
	d->state = s;
	if (id && (!cd || chardev_attach(cd, &output_only) < 0))
		return set_err(err, errlen, "-device isa-debugcon: chardev '%s' is missing or in "
			       "use", id);
	if (debugcon_init(dc, b->pio, (uint16_t)dev_get_uint(d, "iobase"),
			  (uint8_t)dev_get_uint(d, "readback"), cd ? chardev_output : NULL,
			  cd) < 0)
		return set_err(err, errlen, "-device isa-debugcon: port %#llx is taken by another "
			       "device", (unsigned long long)dev_get_uint(d, "iobase"));
	return 0;
}

static int isa_debugcon_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			      size_t errlen)
{
	for (struct dev_instance *o = cfg->devs; o < d; o++)
		if (o->cls == d->cls && dev_get_uint(o, "iobase") == dev_get_uint(d, "iobase"))
			return set_err(err, errlen, "-device isa-debugcon: port %#llx already has a "
				       "debug console", (unsigned long long)dev_get_uint(d, "iobase"));
	return 0;
}

static void isa_debugcon_destroy(struct dev_instance *d)
{
	struct debugcon_dev *s = d->state;
	bus_unmap(s->pio, &s->dc.io);
	free(s);
}

static const struct dev_prop isa_debugcon_props[] = {
	{ .name = "iobase", .type = PROP_UINT, .max = 0xFFFF, .def = "0xe9",
	  .help = "I/O port" },
	{ .name = "readback", .type = PROP_UINT, .max = 0xFF, .def = "0xe9",
	  .help = "what a read of the port returns" },
	{ .name = "chardev", .type = PROP_CHARDEV,
	  .help = "id of the -chardev the bytes go to (default: dropped)" },
};

const struct dev_class isa_debugcon_class = {
	.name = "isa-debugcon",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "debug console: bytes written to one I/O port go to a chardev",
	.props = isa_debugcon_props,
	.nprops = ARRAY_SIZE(isa_debugcon_props),
	.ops = { .create = isa_debugcon_create, .destroy = isa_debugcon_destroy,
		 .check = isa_debugcon_check },
	.max_instances = 4,
};

static int isa_debug_exit_create(struct dev_instance *d, struct dev_board *b, char *err,
				 size_t errlen)
{
	struct debug_exit_dev *s = xzalloc(sizeof(*s));
	uint16_t base = (uint16_t)dev_get_uint(d, "iobase");
	uint16_t size = (uint16_t)dev_get_uint(d, "iosize");

	s->pio = b->pio;
	d->state = s;
	if (debug_exit_init(&s->de, b->pio, base, size, board_control_of(b)) < 0)
		return set_err(err, errlen, "isa-debug-exit: ports %#x-%#x overlap another device",
			       base, base + size - 1);
	return 0;
}

static void isa_debug_exit_destroy(struct dev_instance *d)
{
	struct debug_exit_dev *s = d->state;
	bus_unmap(s->pio, &s->de.io);
	free(s);
}

static int isa_debug_exit_check(struct dev_instance *d, struct machine_config *cfg, char *err,
				size_t errlen)
{
	if (dev_get_uint(d, "iobase") + dev_get_uint(d, "iosize") > 0x10000)
		return set_err(err, errlen, "-device isa-debug-exit: ports beyond 0xffff");
	return 0;
}

static const struct dev_prop isa_debug_exit_props[] = {
	{ .name = "iobase", .type = PROP_UINT, .max = 0xFFFF, .def = "0x501",
	  .help = "first I/O port" },
	{ .name = "iosize", .type = PROP_UINT, .min = 1, .max = 4, .def = "2",
	  .help = "how many ports; a write of V ends vmm with status (V << 1) | 1" },
};

const struct dev_class isa_debug_exit_class = {
	.name = "isa-debug-exit",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "test device: a write to its port ends vmm with a status",
	.props = isa_debug_exit_props,
	.nprops = ARRAY_SIZE(isa_debug_exit_props),
	.ops = { .create = isa_debug_exit_create, .destroy = isa_debug_exit_destroy,
		 .check = isa_debug_exit_check },
};

/* ==== the board's fixed devices ========================================= */

DEV_STATE_OPS(i440fx, struct i440fx)
DEV_STATE_OPS(piix3, struct piix3)
DEV_STATE_OPS(piix_pm, struct piix_pm)
DEV_STATE_OPS(rtc, struct rtc)
DEV_STATE_OPS(serial, struct serial)
DEV_STATE_OPS(i8042, struct i8042)
DEV_STATE_OPS(fw_cfg, struct fw_cfg)
DEV_STATE_OPS(port92, struct port92)


static int i440fx_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct machine *m = machine_of(b);
	if (i440fx_init(&m->i440fx, b->pci, b->memmap, m->mem.ram_size) < 0)
		return set_err(err, errlen, "cannot create the i440FX host bridge");
	d->state = &m->i440fx;
	return 0;
}

/* The host bridge owns 0xCF8: its address latch clears with it. */
static void i440fx_reset(struct dev_instance *d)
{
	struct i440fx *s = d->state;
	s->pci.bus->config_address = 0;
}

const struct dev_class i440fx_class = {
	.name = "i440FX",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_BRIDGE,
	.desc = "i440FX host bridge (PAM: the BIOS shadow)",
	.ops = { .create = i440fx_create, .reset = i440fx_reset, .save = i440fx_save_dev,
		 .load = i440fx_load_dev },
	.board_only = true,
};

static int piix3_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct machine *m = machine_of(b);
	if (piix3_init(&m->piix3, b->pci, &m->isa_irq, board_control_of(b)) < 0)
		return set_err(err, errlen, "cannot create the PIIX3 ISA bridge");
	d->state = &m->piix3;
	return 0;
}

const struct dev_class piix3_class = {
	.name = "PIIX3",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_BRIDGE,
	.desc = "PIIX3 PCI-to-ISA bridge (PIRQ router, reset control)",
	.ops = { .create = piix3_create, .save = piix3_save_dev, .load = piix3_load_dev },
	.board_only = true,
};

extern const struct dev_class piix3_ide_class;

/* The controller and the images of its drives, which piix_ide leaves to
 * its caller: destroy closes them. */
struct piix3_ide_dev {
	struct piix_ide *ide;
	struct block_dev *bd[MAX_IDE_DRIVES];
};

static int piix3_ide_create(struct dev_instance *d, struct dev_board *b, char *err,
			    size_t errlen)
{
	struct machine *m = machine_of(b);
	struct piix3_ide_dev *s = xzalloc(sizeof(*s));

	d->state = s;
	m->ide = s->ide = piix_ide_create(b->pci, b->pio, b->mem, b->isa_irq(b, 14),
					  b->isa_irq(b, 15));
	if (!m->ide)
		return set_err(err, errlen, "cannot create the PIIX3 IDE controller");
	/* The board opened the images (m->ide_bd) before any chardev. */
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++) {
		const struct drive_config *dc = &m->cfg.ide[i];
		struct block_dev *bd = m->ide_bd[i];
		int ret;

		if (!dc->present)
			continue;
		m->ide_bd[i] = NULL; /* this device's now */
		s->bd[i] = bd;
		ret = dc->cdrom ? piix_ide_attach_cdrom(m->ide, i / 2, i % 2, bd)
				: piix_ide_attach_disk(m->ide, i / 2, i % 2, bd);
		if (ret < 0)
			return set_err(err, errlen, "could not attach IDE drive %u: %s", i,
				       strerror(-ret));
	}
	return 0;
}

struct block_dev **machine_ide_image(struct machine *m, unsigned index)
{
	for (unsigned i = 0; i < m->cfg.ndevs; i++)
		if (m->cfg.devs[i].cls == &piix3_ide_class && m->cfg.devs[i].state &&
		    index < MAX_IDE_DRIVES)
			return &((struct piix3_ide_dev *)m->cfg.devs[i].state)->bd[index];
	return NULL;
}

static void piix3_ide_destroy(struct dev_instance *d)
{
	struct piix3_ide_dev *s = d->state;

	piix_ide_destroy(s->ide);
	for (unsigned i = 0; i < MAX_IDE_DRIVES; i++)
		block_close(s->bd[i]);
	free(s);
}

static void piix3_ide_quiesce(struct dev_instance *d)
{
	piix_ide_quiesce(((struct piix3_ide_dev *)d->state)->ide);
}

static void piix3_ide_resume(struct dev_instance *d)
{
	piix_ide_resume(((struct piix3_ide_dev *)d->state)->ide);
}

static void piix3_ide_save(struct dev_instance *d, struct ss_writer *w, uint32_t instance)
{
	piix_ide_save(((struct piix3_ide_dev *)d->state)->ide, w, instance);
}

static bool piix3_ide_load(struct dev_instance *d, struct ss_reader *r, uint32_t instance)
{
	return piix_ide_load(((struct piix3_ide_dev *)d->state)->ide, r, instance);
}

const struct dev_class piix3_ide_class = {
	.name = "piix3-ide",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_STORAGE,
	.desc = "PIIX3 IDE controller: two channels of two drives (-hda..-hdd, -cdrom, ide-hd, "
		"ide-cd)",
	.ops = { .create = piix3_ide_create, .save = piix3_ide_save, .load = piix3_ide_load,
		 .quiesce = piix3_ide_quiesce, .resume = piix3_ide_resume,
		 .destroy = piix3_ide_destroy },
	.board_only = true,
};

static int piix4_pm_create(struct dev_instance *d, struct dev_board *b, char *err,
			   size_t errlen)
{
	struct machine *m = machine_of(b);
	if (piix_pm_init(&m->pm, b->pci, b->pio, b->isa_irq(b, 9), board_control_of(b)) < 0)
		return set_err(err, errlen, "cannot create the PIIX4 power management function");
	d->state = &m->pm;
	return 0;
}

const struct dev_class piix4_pm_class = {
	.name = "PIIX4_PM",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_BRIDGE,
	.desc = "ACPI power management (PM timer, power button, SCI on IRQ 9)",
	.ops = { .create = piix4_pm_create, .save = piix_pm_save_dev, .load = piix_pm_load_dev },
	.board_only = true,
};

static int rtc_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct machine *m = machine_of(b);

	m->rtc = rtc_create(b->isa_irq(b, (unsigned)dev_get_uint(d, "irq")), m->loop);
	if (!m->rtc || rtc_map(m->rtc, b->pio) < 0)
		return set_err(err, errlen, "cannot create the RTC");
	d->state = m->rtc;
	return 0;
}

static void rtc_reset_dev(struct dev_instance *d)
{
	rtc_reset(d->state);
}

/* Before the event loop is freed: the RTC's timers belong to it. */
static void rtc_destroy_dev(struct dev_instance *d)
{
	rtc_destroy(d->state);
}

static const struct dev_prop rtc_props[] = {
	{ .name = "irq", .type = PROP_UINT, .max = 15, .def = "8", .help = "ISA interrupt" },
};

const struct dev_class rtc_class = {
	.name = "mc146818rtc",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "MC146818 real-time clock and CMOS memory",
	.props = rtc_props,
	.nprops = ARRAY_SIZE(rtc_props),
	.ops = { .create = rtc_create_dev, .reset = rtc_reset_dev, .destroy = rtc_destroy_dev,
		 .save = rtc_save_dev, .load = rtc_load_dev },
	.board_only = true,
};

/* The UART drained its FIFO: have the chardev offer held-back input. */
static void serial_rx_ready(void *opaque)
{
	chardev_kick(opaque);
}

/* Ctrl-A b on a multiplexed console. */
static void serial_brk(void *opaque)
{
	serial_break(opaque);
}

static size_t serial_in(void *opaque, const uint8_t *buf, size_t len)
{
	return serial_receive(opaque, buf, len);
}

/* QEMU's isa-serial defaults by index: COM1 to COM4. */
static const struct {
	uint16_t iobase;
	uint8_t irq;
} com_ports[MAX_ISA_SERIAL] = { { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3e8, 4 }, { 0x2e8, 3 } };

#define UART_PORTS 8

/* The option a UART came from, for messages. */
static const char *isa_serial_opt(const struct dev_instance *d)
{
	return d->from_board ? "-serial" : "-device isa-serial";
}

/* The first index no other UART of the list has (-serial's are set, and
 * so are -device's with index= or checked before this one); -1 if none. */
static int free_serial_index(const struct dev_instance *d, const struct machine_config *cfg)
{
	unsigned used = 0;

	for (const struct dev_instance *o = cfg->devs; o < cfg->devs + cfg->ndevs; o++)
		if (o != d && o->cls == d->cls && dev_is_set(o, "index"))
			used |= 1u << dev_get_uint(o, "index");
	for (unsigned i = 0; i < MAX_ISA_SERIAL; i++)
		if (!(used & (1u << i)))
			return (int)i;
	return -1;
}

/* Fills in index (the first free), then iobase and irq from it where not
 * given, and refuses a UART on an index or ports another one has. */
static int isa_serial_check(struct dev_instance *d, struct machine_config *cfg, char *err,
			    size_t errlen)
{
	char val[16];

	if (!dev_is_set(d, "index")) {
		int free_index = free_serial_index(d, cfg);
		if (free_index < 0)
			return set_err(err, errlen, "%s: no free serial port index (COM1-COM4 are "
				       "all taken)", isa_serial_opt(d));
		format_uint(val, sizeof(val), (unsigned)free_index, 10, 1);
		if (dev_instance_set(d, "index", val, err, errlen) < 0)
			return -1;
	}
	unsigned index = (unsigned)dev_get_uint(d, "index");
	if (!dev_is_set(d, "iobase")) {
		val[0] = '0';
		val[1] = 'x';
		format_uint(val + 2, sizeof(val) - 2, com_ports[index].iobase, 16, 1);
		if (dev_instance_set(d, "iobase", val, err, errlen) < 0)
			return -1;
	}
	if (!dev_is_set(d, "irq")) {
		format_uint(val, sizeof(val), com_ports[index].irq, 10, 1);
		if (dev_instance_set(d, "irq", val, err, errlen) < 0)
			return -1;
	}
	uint64_t base = dev_get_uint(d, "iobase");
	for (const struct dev_instance *o = cfg->devs; o < d; o++) {
		if (o->cls != d->cls)
			continue;
		unsigned o_index = (unsigned)dev_get_uint(o, "index");
		uint64_t o_base = dev_get_uint(o, "iobase");
		if (o_index == index)
			return set_err(err, errlen, "%s: index %u (COM%u) is already taken by %s",
				       isa_serial_opt(d), index, index + 1,
				       o->from_board ? "-serial" : "another isa-serial");
		if (base < o_base + UART_PORTS && o_base < base + UART_PORTS)
			return set_err(err, errlen, "%s: ports %#llx-%#llx overlap COM%u's "
				       "(%#llx-%#llx)", isa_serial_opt(d), (unsigned long long)base,
				       (unsigned long long)base + UART_PORTS - 1, o_index + 1,
				       (unsigned long long)o_base,
				       (unsigned long long)o_base + UART_PORTS - 1);
	}
	return 0;
}

/* A -serial port talks to that option's backend; -device isa-serial to
 * its chardev=, or to nothing (output dropped) without one. */
static int isa_serial_create(struct dev_instance *d, struct dev_board *b, char *err,
			     size_t errlen)
{
	struct machine *m = machine_of(b);
	unsigned index = (unsigned)dev_get_uint(d, "index");
	uint16_t base = (uint16_t)dev_get_uint(d, "iobase");
	const char *id = dev_get_str(d, "chardev");
	struct chardev *cd = id ? chardev_find(id) : d->from_board ? m->serial_cd[index] : NULL;
	struct serial *s;

	if (id && !cd)
		return set_err(err, errlen, "%s: chardev '%s' is missing", isa_serial_opt(d), id);
	s = serial_create(b->isa_irq(b, (unsigned)dev_get_uint(d, "irq")),
			  cd ? chardev_output : NULL, cd);
	if (!s)
		return set_err(err, errlen, "cannot create the COM%u UART", index + 1);
	d->state = s;
	if (serial_map(s, b->pio, base) < 0)
		return set_err(err, errlen, "%s: ports %#x-%#x are taken by another device",
			       isa_serial_opt(d), base, base + UART_PORTS - 1);
	if (!cd)
		return 0;
	serial_set_rx_ready_cb(s, serial_rx_ready, cd);
	struct chardev_frontend uart_fe = { .receive = serial_in, .opaque = s,
					    .brk = serial_brk };
	if (chardev_attach(cd, &uart_fe) < 0)
		return set_err(err, errlen, "%s: chardev '%s' is already in use", isa_serial_opt(d),
			       chardev_label(cd));
	return 0;
}

static void isa_serial_reset(struct dev_instance *d)
{
	serial_reset(d->state);
}

static void isa_serial_destroy(struct dev_instance *d)
{
	serial_destroy(d->state);
}

/* No defaults for index, iobase and irq: the check fills them in (the
 * first free index, then that index's ports and line). */
static const struct dev_prop isa_serial_props[] = {
	{ .name = "chardev", .type = PROP_CHARDEV,
	  .help = "id of the -chardev it sends to and receives from (default: none, output "
		  "dropped)" },
	{ .name = "index", .type = PROP_UINT, .max = MAX_ISA_SERIAL - 1,
	  .help = "0-3 for COM1-COM4: picks iobase and irq (default: the first free)" },
	{ .name = "iobase", .type = PROP_UINT, .max = 0x10000 - UART_PORTS,
	  .help = "first of its 8 I/O ports (default: by index, 0x3f8 0x2f8 0x3e8 0x2e8)" },
	{ .name = "irq", .type = PROP_UINT, .max = 15,
	  .help = "ISA interrupt, shared with any other device on it (default: by index, 4 3 4 3)" },
};

const struct dev_class isa_serial_class = {
	.name = "isa-serial",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_INPUT,
	.desc = "16550A UART (COM1-COM4; -serial adds them by index)",
	.props = isa_serial_props,
	.nprops = ARRAY_SIZE(isa_serial_props),
	.ops = { .create = isa_serial_create, .reset = isa_serial_reset, .save = serial_save_dev,
		 .load = serial_load_dev, .destroy = isa_serial_destroy, .check = isa_serial_check },
	.max_instances = MAX_ISA_SERIAL,
};

static int i8042_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			    size_t errlen)
{
	struct machine *m = machine_of(b);

	m->i8042 = i8042_create(b->isa_irq(b, 1), b->isa_irq(b, 12), b->req_reset, b->machine);
	if (!m->i8042 || i8042_map(m->i8042, b->pio) < 0)
		return set_err(err, errlen, "cannot create the i8042 keyboard controller");
	i8042_connect_input(m->i8042);
	d->state = m->i8042;
	return 0;
}

static void i8042_reset_dev(struct dev_instance *d)
{
	i8042_reset(d->state);
}

static void i8042_destroy_dev(struct dev_instance *d)
{
	i8042_destroy(d->state);
}

const struct dev_class i8042_class = {
	.name = "i8042",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_INPUT,
	.desc = "PS/2 keyboard and mouse controller (A20, reset line)",
	.ops = { .create = i8042_create_dev, .reset = i8042_reset_dev, .save = i8042_save_dev,
		 .load = i8042_load_dev, .destroy = i8042_destroy_dev },
	.board_only = true,
};

static int fw_cfg_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			     size_t errlen)
{
	struct machine *m = machine_of(b);
	/* Test knob, older than the property: the traditional interface only. */
	const char *env = getenv("VMM_FW_CFG_DMA");

	m->fw_cfg = fw_cfg_create(b->mem);
	if (m->fw_cfg && (!dev_get_bool(d, "dma_enabled") || (env && !strcmp(env, "0"))))
		fw_cfg_disable_dma(m->fw_cfg);
	if (!m->fw_cfg || fw_cfg_map(m->fw_cfg, b->pio) < 0)
		return set_err(err, errlen, "cannot create fw_cfg");
	d->state = m->fw_cfg;
	return 0;
}

static void fw_cfg_reset_dev(struct dev_instance *d)
{
	fw_cfg_reset(d->state);
}

static void fw_cfg_destroy_dev(struct dev_instance *d)
{
	fw_cfg_destroy(d->state);
}

static const struct dev_prop fw_cfg_props[] = {
	{ .name = "dma_enabled", .type = PROP_BOOL, .def = "on",
	  .help = "offer the DMA interface (ports 0x514-0x51b)" },
};

const struct dev_class fw_cfg_class = {
	.name = "fw_cfg_io",
	.bus = DEV_BUS_SYSTEM,
	.categories = DEV_CAT_MISC,
	.desc = "firmware configuration interface (ports 0x510-0x51b)",
	.props = fw_cfg_props,
	.nprops = ARRAY_SIZE(fw_cfg_props),
	.ops = { .create = fw_cfg_create_dev, .reset = fw_cfg_reset_dev, .save = fw_cfg_save_dev,
		 .load = fw_cfg_load_dev, .destroy = fw_cfg_destroy_dev },
	.board_only = true,
};

static int port92_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct machine *m = machine_of(b);
	if (port92_init(&m->port92, b->pio, board_control_of(b)) < 0)
		return set_err(err, errlen, "cannot map port 0x92");
	d->state = &m->port92;
	return 0;
}

static void port92_reset_dev(struct dev_instance *d)
{
	port92_reset(d->state);
}

const struct dev_class port92_class = {
	.name = "port92",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "system control port A: fast A20 and fast reset",
	.ops = { .create = port92_create, .reset = port92_reset_dev, .save = port92_save_dev,
		 .load = port92_load_dev },
	.board_only = true,
};

static int ioport80_create(struct dev_instance *d, struct dev_board *b, char *err,
			   size_t errlen)
{
	struct machine *m = machine_of(b);
	if (post_port_init(&m->post, b->pio) < 0)
		return set_err(err, errlen, "cannot map port 0x80");
	d->state = &m->post;
	return 0;
}

/* The i8254 lives in the host's kernel (KVM_CREATE_PIT2, with the VM);
 * this class is where QEMU's -global kvm-pit.lost_tick_policy lands, and
 * what info qtree shows at port 0x40. Its state is the VM's (kvm_state.c). */
enum { LOST_TICKS_DELAY, LOST_TICKS_DISCARD }; /* lost_tick_policies' indices */
static const char *const lost_tick_policies[] = { "delay", "discard", NULL };

static const struct dev_prop kvm_pit_props[] = {
	{ .name = "lost_tick_policy", .type = PROP_ENUM, .choices = lost_tick_policies,
	  .type_name = "LostTickPolicy", .def = "delay",
	  .help = "delay: ticks the vCPU missed come later, one after another; discard: dropped" },
};

static int kvm_pit_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	return 0; /* made with the VM: machine_pc.c reads the policy before that */
}

const struct dev_class kvm_pit_class = {
	.name = "kvm-pit",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "i8254 interval timer, in the host's kernel",
	.props = kvm_pit_props,
	.nprops = ARRAY_SIZE(kvm_pit_props),
	.ops = { .create = kvm_pit_create },
	.board_only = true,
};

bool kvm_pit_discards_lost_ticks(const struct machine_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndevs; i++)
		if (cfg->devs[i].cls == &kvm_pit_class)
			return dev_get_uint(&cfg->devs[i], "lost_tick_policy") ==
			       LOST_TICKS_DISCARD;
	return false;
}

const struct dev_class ioport80_class = {
	.name = "ioport80",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "POST code port (firmware progress, for diagnostics)",
	.ops = { .create = ioport80_create },
	.board_only = true,
};

static int i8257_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			    size_t errlen)
{
	struct machine *m = machine_of(b);
	m->dma = i8237_create(b->mem);
	if (!m->dma || i8237_map(m->dma, b->pio) < 0)
		return set_err(err, errlen, "cannot create the 8237 DMA controllers");
	d->state = m->dma;
	b->dma = m->dma; /* for the ISA cards created after the board's devices */
	return 0;
}

static void i8257_reset_dev(struct dev_instance *d)
{
	i8237_reset(d->state);
}

static void i8257_destroy_dev(struct dev_instance *d)
{
	i8237_destroy(d->state);
}

DEV_STATE_OPS(i8237, struct i8237)

/* QEMU's name for the PC's pair of 8237A controllers is "i8257"; -global
 * reaches them by that name. */
const struct dev_class i8257_class = {
	.name = "i8257",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_MISC,
	.desc = "two 8237 DMA controllers (channels 0-3 8-bit, 5-7 16-bit)",
	.ops = { .create = i8257_create_dev, .reset = i8257_reset_dev,
		 .destroy = i8257_destroy_dev, .save = i8237_save_dev, .load = i8237_load_dev },
	.board_only = true,
};
