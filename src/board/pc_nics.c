// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The table entries of the emulated network cards (hw/net/: the e1000
 * family, the RTL8139, the NE2000 on PCI and ISA, the PCnet): each a PCI
 * function (or, ne2k_isa, ISA ports) on one -netdev backend, with QEMU's
 * names so that QEMU's command lines work. virtio-net's entry stays with the virtio devices in
 * pc_devices.c; -nic, -net nic and the default NIC pick any of these by
 * model name (src/cli.c).
 *
 * A card transmits within the doorbell's register write, on the vCPU that
 * wrote it, as QEMU's cards do. A thread of the card's own cost a wake-up
 * per doorbell: in the nested L1, e1000 over user networking streamed
 * 6.15 MB/s that way against 8.53 inline (best of 3 x 16 MiB), and a
 * ping's round trip took 1.45 ms against 1.00 (docs/bench.md,
 * 2026-12-07). With user networking the vCPU's sandbox list has the slirp
 * set for this (docs/security.md).
 */
#include <string.h>

#include "device.h"
#include "hw/e1000.h"
#include "hw/ne2000.h"
#include "hw/pcnet.h"
#include "hw/rtl8139.h"
#include "net.h"
#include "util.h"

/* romfile=: the option ROM for the card's expansion ROM BAR; empty, none.
 * *rom NULL and 0 returned for none; -1 with err if it cannot be read. */
static int nic_rom(const struct dev_instance *d, struct dev_board *b, uint8_t **rom,
		   size_t *len, char *err, size_t errlen)
{
	const char *name = dev_get_str(d, "romfile");
	char why[256];

	*rom = NULL;
	*len = 0;
	if (!name || !*name)
		return 0;
	*rom = b->option_rom(b, name, len, why, sizeof(why));
	if (!*rom)
		return set_err(err, errlen, "-device %s: %s", d->cls->name, why);
	return 0;
}

/*
 * The lifecycle of an emulated NIC, from its model's kind##_quiesce,
 * _resume, _save, _load, _set_link, _link, _backend and _destroy: the
 * dev_ops wrappers, and NIC_OPS(kind, create) fills a class's ops with
 * them. Destroy order: the backend's thread delivers into the NIC, so it
 * stops delivering first, then the NIC goes, then the backend.
 */
#define NIC_LIFECYCLE(kind, type)                                                        \
	DEV_STATE_OPS(kind, type)                                                        \
	NIC_LINK_OPS(kind, type)                                                         \
	static void kind##_destroy_dev(struct dev_instance *d)                           \
	{                                                                                \
		type *nic = d->state;                                                    \
		struct net_backend *be = kind##_backend(nic);                            \
		net_stop(be);                                                            \
		kind##_destroy(nic);                                                     \
		net_destroy(be);                                                         \
		d->state = NULL;                                                         \
	}                                                                                \
	static void kind##_quiesce_dev(struct dev_instance *d)                           \
	{                                                                                \
		kind##_quiesce((type *)d->state);                                        \
	}                                                                                \
	static void kind##_resume_dev(struct dev_instance *d)                            \
	{                                                                                \
		kind##_resume((type *)d->state);                                         \
	}

#define NIC_OPS(kind, create_fn)                                                         \
	.create = (create_fn), .quiesce = kind##_quiesce_dev, .resume = kind##_resume_dev,  \
	.save = kind##_save_dev, .load = kind##_load_dev, .destroy = kind##_destroy_dev,   \
	.set_link = kind##_set_link_dev, .link_up = kind##_link_up_dev

NIC_LIFECYCLE(e1000, struct e1000)
NIC_LIFECYCLE(rtl8139, struct rtl8139)
NIC_LIFECYCLE(ne2000, struct ne2000)
NIC_LIFECYCLE(pcnet, struct pcnet)

/* What a PCI NIC's create starts from: its -netdev backend, its option ROM
 * (romfile=) and its MAC. -1 with err if the backend or the ROM is not there. */
struct nic_parts {
	struct net_backend *be;
	uint8_t mac[6];
	uint8_t *rom;
	size_t rom_len;
};

static int nic_parts(struct dev_instance *d, struct dev_board *b, struct nic_parts *p, char *err,
		     size_t errlen)
{
	p->be = b->netdev(b, dev_get_str(d, "netdev"), err, errlen);
	if (!p->be || nic_rom(d, b, &p->rom, &p->rom_len, err, errlen) < 0)
		return -1;
	dev_nic_mac(b, d, p->mac);
	return 0;
}

/* The created NIC (NULL: its model failed) starts receiving from its backend. */
static int nic_connect(struct dev_instance *d, void *nic, struct net_backend *be,
		       net_receive_fn rx, char *err, size_t errlen)
{
	if (!nic || net_attach(be, rx, nic) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	d->state = nic;
	return 0;
}

#define NIC_PROPS(rom)                                                                   \
	{ .name = "netdev", .type = PROP_NETDEV,                                          \
	  .help = "id of the -netdev this NIC sends and receives on (none: no peer)" },   \
	{ .name = "mac", .type = PROP_MAC,                                                \
	  .help = "MAC address such as 52:54:00:12:34:56 (default: 52:54:00:12:34:56 "   \
		  "plus the NIC's index)" },                                              \
	{ .name = "romfile", .type = PROP_STR, .def = rom,                                \
	  .help = "option ROM (iPXE) in the card's expansion ROM BAR, a file name looked "\
		  "for as firmware is, or a path; empty: none" }

static const struct dev_prop e1000_props[] = { NIC_PROPS("efi-e1000.rom") };

/* ==== e1000 family ======================================================== */

static int e1000_create_model(struct dev_instance *d, struct dev_board *b, enum e1000_model m,
			      char *err, size_t errlen)
{
	struct nic_parts p;

	if (nic_parts(d, b, &p, err, errlen) < 0)
		return -1;
	struct e1000 *e = e1000_create(b->pci, (uint8_t)d->devfn, b->mem, m, p.mac, p.be, p.rom,
				       p.rom_len);
	if (e && b->loop)
		e1000_set_timers(e, b->loop);
	return nic_connect(d, e, p.be, e1000_receive, err, errlen);
}

#define E1000_MODEL_CREATE(name, model)                                                  \
	static int name(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen) \
	{                                                                                \
		return e1000_create_model(d, b, model, err, errlen);                     \
	}

E1000_MODEL_CREATE(e1000_82540em_create, E1000_82540EM)
E1000_MODEL_CREATE(e1000_82544gc_create, E1000_82544GC)
E1000_MODEL_CREATE(e1000_82545em_create, E1000_82545EM)

const struct dev_class e1000_class = {
	.name = "e1000",
	.aliases = (const char *const[]){ "e1000-82540em", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Intel Gigabit Ethernet (82540EM, 8086:100e)",
	.props = e1000_props,
	.nprops = ARRAY_SIZE(e1000_props),
	.ops = { NIC_OPS(e1000, e1000_82540em_create) },
	.place_rank = 1,
};

const struct dev_class e1000_82544gc_class = {
	.name = "e1000-82544gc",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Intel Gigabit Ethernet (82544GC, 8086:100c)",
	.props = e1000_props,
	.nprops = ARRAY_SIZE(e1000_props),
	.ops = { NIC_OPS(e1000, e1000_82544gc_create) },
	.place_rank = 1,
};

const struct dev_class e1000_82545em_class = {
	.name = "e1000-82545em",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Intel Gigabit Ethernet (82545EM, 8086:100f)",
	.props = e1000_props,
	.nprops = ARRAY_SIZE(e1000_props),
	.ops = { NIC_OPS(e1000, e1000_82545em_create) },
	.place_rank = 1,
};

/* ==== RTL8139 =============================================================== */

static int rtl8139_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			      size_t errlen)
{
	struct nic_parts p;

	if (nic_parts(d, b, &p, err, errlen) < 0)
		return -1;
	struct rtl8139 *n = rtl8139_create(b->pci, (uint8_t)d->devfn, b->mem, p.mac,
					   dev_get_bool(d, "cplus"), p.be, p.rom, p.rom_len, NULL,
					   NULL);
	return nic_connect(d, n, p.be, rtl8139_receive, err, errlen);
}

static const struct dev_prop rtl8139_props[] = {
	NIC_PROPS("efi-rtl8139.rom"),
	{ .name = "cplus", .type = PROP_BOOL, .def = "on",
	  .help = "vmm's own: on, the RTL8139C+ (revision 0x20, Linux's 8139cp); off, an "
		  "RTL8139C (revision 0x10) for drivers that refuse the C+ (Linux's 8139too)" },
};

const struct dev_class rtl8139_class = {
	.name = "rtl8139",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Realtek RTL8139C+ Fast Ethernet (10ec:8139 rev 0x20; Linux: 8139cp)",
	.props = rtl8139_props,
	.nprops = ARRAY_SIZE(rtl8139_props),
	.ops = { NIC_OPS(rtl8139, rtl8139_create_dev) },
	.place_rank = 1,
};

/* ==== NE2000 (PCI and ISA) ===================================================== */

static int ne2k_pci_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct nic_parts p;

	if (nic_parts(d, b, &p, err, errlen) < 0)
		return -1;
	struct ne2000 *n = ne2000_create_pci(b->pci, (uint8_t)d->devfn, p.mac, p.be, p.rom,
					     p.rom_len);
	return nic_connect(d, n, p.be, ne2000_receive, err, errlen);
}

static int ne2k_isa_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	uint8_t mac[6];
	uint16_t base = (uint16_t)dev_get_uint(d, "iobase");
	struct net_backend *be = b->netdev(b, dev_get_str(d, "netdev"), err, errlen);

	if (!be)
		return -1;
	dev_nic_mac(b, d, mac);
	struct ne2000 *n = ne2000_create_isa(b->pio, base, b->isa_irq(b, (unsigned)dev_get_uint(d, "irq")),
					     mac, be);
	if (!n)
		return set_err(err, errlen, "-device ne2k_isa: ports %#x-%#x are taken by another "
			       "device", base, base + NE2000_IO_SIZE - 1);
	d->state = n;
	if (net_attach(be, ne2000_receive, n) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	return 0;
}

/* The PCI card resets with its function (its PCI hook); the ISA card here. */
static void ne2k_isa_reset_dev(struct dev_instance *d)
{
	ne2000_reset(d->state);
}

static const struct dev_prop ne2k_pci_props[] = { NIC_PROPS("efi-ne2k_pci.rom") };

const struct dev_class ne2k_pci_class = {
	.name = "ne2k_pci",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "NE2000 on PCI: Realtek RTL8029 (10ec:8029; Linux: ne2k-pci)",
	.props = ne2k_pci_props,
	.nprops = ARRAY_SIZE(ne2k_pci_props),
	.ops = { NIC_OPS(ne2000, ne2k_pci_create) },
	.place_rank = 1,
};

static const struct dev_prop ne2k_isa_props[] = {
	{ .name = "netdev", .type = PROP_NETDEV,
	  .help = "id of the -netdev this NIC sends and receives on (none: no peer)" },
	{ .name = "mac", .type = PROP_MAC,
	  .help = "MAC address such as 52:54:00:12:34:56 (default: 52:54:00:12:34:56 plus the "
		  "NIC's index)" },
	{ .name = "iobase", .type = PROP_UINT, .def = "0x300", .max = 0x10000 - NE2000_IO_SIZE,
	  .help = "first of its 32 I/O ports" },
	{ .name = "irq", .type = PROP_UINT, .def = "9", .max = 15,
	  .help = "ISA interrupt, shared with any other device on it" },
};

const struct dev_class ne2k_isa_class = {
	.name = "ne2k_isa",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_NETWORK,
	.desc = "NE2000 on ISA (DP8390, 32 ports at iobase; Linux: ne)",
	.props = ne2k_isa_props,
	.nprops = ARRAY_SIZE(ne2k_isa_props),
	.ops = { NIC_OPS(ne2000, ne2k_isa_create), .reset = ne2k_isa_reset_dev },
};

/* ==== PCnet ======================================================================= */

static int pcnet_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct nic_parts p;

	if (nic_parts(d, b, &p, err, errlen) < 0)
		return -1;
	struct pcnet *nic = pcnet_create(b->pci, (uint8_t)d->devfn, b->mem, p.mac, p.be, p.rom,
					 p.rom_len);
	return nic_connect(d, nic, p.be, pcnet_receive, err, errlen);
}

static const struct dev_prop pcnet_props[] = { NIC_PROPS("efi-pcnet.rom") };

const struct dev_class pcnet_class = {
	.name = "pcnet",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "AMD PCnet-PCI II (Am79C970A, 1022:2000; Linux: pcnet32)",
	.props = pcnet_props,
	.nprops = ARRAY_SIZE(pcnet_props),
	.ops = { NIC_OPS(pcnet, pcnet_create_dev) },
	.place_rank = 1,
};
