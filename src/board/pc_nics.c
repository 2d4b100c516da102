// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The table entries of the emulated network cards (hw/net/: the e1000
 * family, the RTL8139, the NE2000 on PCI and ISA, the PCnet): each a PCI
 * function (or, ne2k_isa, ISA ports) on one -netdev backend, with QEMU's
 * names so that QEMU's command lines work. virtio-net's entry stays with the virtio devices in
 * pc_devices.c; -nic, -net nic and the default NIC pick any of these by
 * model name (src/cli.c).
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

#define NIC_PROPS(rom)                                                                   \
	{ .name = "netdev", .type = PROP_NETDEV, .required = true,                        \
	  .help = "id of the -netdev this NIC sends and receives on" },                   \
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
	uint8_t mac[6];
	struct net_backend *be = b->netdev(b, dev_get_str(d, "netdev"), err, errlen);

	if (!be)
		return -1;
	uint8_t *rom;
	size_t rom_len;
	if (nic_rom(d, b, &rom, &rom_len, err, errlen) < 0)
		return -1;
	dev_nic_mac(b, d, mac);
	struct e1000 *e = e1000_create(b->pci, (uint8_t)d->devfn, b->mem, m, mac, be, true, rom,
				       rom_len);
	if (!e || net_attach(be, e1000_receive, e) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	d->state = e;
	return 0;
}

DEV_STATE_OPS(e1000, struct e1000)
NIC_LINK_OPS(e1000, struct e1000)

/* The backend's thread delivers into the NIC: it stops delivering, the
 * NIC (and its transmit thread) goes, then the backend. */
static void e1000_destroy_dev(struct dev_instance *d)
{
	struct e1000 *nic = d->state;
	struct net_backend *be = e1000_backend(nic);

	net_stop(be);
	e1000_destroy(nic);
	net_destroy(be);
	d->state = NULL;
}

static void e1000_quiesce_dev(struct dev_instance *d)
{
	e1000_quiesce(d->state);
}

static void e1000_resume_dev(struct dev_instance *d)
{
	e1000_resume(d->state);
}

static int e1000_82540em_create(struct dev_instance *d, struct dev_board *b, char *err,
				size_t errlen)
{
	return e1000_create_model(d, b, E1000_82540EM, err, errlen);
}

static int e1000_82544gc_create(struct dev_instance *d, struct dev_board *b, char *err,
				size_t errlen)
{
	return e1000_create_model(d, b, E1000_82544GC, err, errlen);
}

static int e1000_82545em_create(struct dev_instance *d, struct dev_board *b, char *err,
				size_t errlen)
{
	return e1000_create_model(d, b, E1000_82545EM, err, errlen);
}

const struct dev_class e1000_class = {
	.name = "e1000",
	.aliases = (const char *const[]){ "e1000-82540em", NULL },
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Intel Gigabit Ethernet (82540EM, 8086:100e)",
	.props = e1000_props,
	.nprops = ARRAY_SIZE(e1000_props),
	.ops = { .create = e1000_82540em_create, .quiesce = e1000_quiesce_dev,
		 .resume = e1000_resume_dev, .save = e1000_save_dev, .load = e1000_load_dev,
		 .destroy = e1000_destroy_dev,
		 .set_link = e1000_set_link_dev, .link_up = e1000_link_up_dev },
	.place_rank = 1,
};

const struct dev_class e1000_82544gc_class = {
	.name = "e1000-82544gc",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Intel Gigabit Ethernet (82544GC, 8086:100c)",
	.props = e1000_props,
	.nprops = ARRAY_SIZE(e1000_props),
	.ops = { .create = e1000_82544gc_create, .quiesce = e1000_quiesce_dev,
		 .resume = e1000_resume_dev, .save = e1000_save_dev, .load = e1000_load_dev,
		 .destroy = e1000_destroy_dev,
		 .set_link = e1000_set_link_dev, .link_up = e1000_link_up_dev },
	.place_rank = 1,
};

const struct dev_class e1000_82545em_class = {
	.name = "e1000-82545em",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Intel Gigabit Ethernet (82545EM, 8086:100f)",
	.props = e1000_props,
	.nprops = ARRAY_SIZE(e1000_props),
	.ops = { .create = e1000_82545em_create, .quiesce = e1000_quiesce_dev,
		 .resume = e1000_resume_dev, .save = e1000_save_dev, .load = e1000_load_dev,
		 .destroy = e1000_destroy_dev,
		 .set_link = e1000_set_link_dev, .link_up = e1000_link_up_dev },
	.place_rank = 1,
};

/* ==== RTL8139 =============================================================== */

static int rtl8139_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			      size_t errlen)
{
	uint8_t mac[6];
	struct net_backend *be = b->netdev(b, dev_get_str(d, "netdev"), err, errlen);

	if (!be)
		return -1;
	uint8_t *rom;
	size_t rom_len;
	if (nic_rom(d, b, &rom, &rom_len, err, errlen) < 0)
		return -1;
	dev_nic_mac(b, d, mac);
	struct rtl8139 *n = rtl8139_create(b->pci, (uint8_t)d->devfn, b->mem, mac,
					   dev_get_bool(d, "cplus"), be, true, rom, rom_len,
					   NULL, NULL);
	if (!n || net_attach(be, rtl8139_receive, n) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	d->state = n;
	return 0;
}

static const struct dev_prop rtl8139_props[] = {
	NIC_PROPS("efi-rtl8139.rom"),
	{ .name = "cplus", .type = PROP_BOOL, .def = "on",
	  .help = "vmm's own: on, the RTL8139C+ (revision 0x20, Linux's 8139cp); off, an "
		  "RTL8139C (revision 0x10) for drivers that refuse the C+ (Linux's 8139too)" },
};

DEV_STATE_OPS(rtl8139, struct rtl8139)
NIC_LINK_OPS(rtl8139, struct rtl8139)

/* The backend's thread delivers into the NIC: it stops delivering, the
 * NIC (and its transmit thread) goes, then the backend. */
static void rtl8139_destroy_dev(struct dev_instance *d)
{
	struct rtl8139 *nic = d->state;
	struct net_backend *be = rtl8139_backend(nic);

	net_stop(be);
	rtl8139_destroy(nic);
	net_destroy(be);
	d->state = NULL;
}

static void rtl8139_quiesce_dev(struct dev_instance *d)
{
	rtl8139_quiesce(d->state);
}

static void rtl8139_resume_dev(struct dev_instance *d)
{
	rtl8139_resume(d->state);
}

const struct dev_class rtl8139_class = {
	.name = "rtl8139",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "Realtek RTL8139C+ Fast Ethernet (10ec:8139 rev 0x20; Linux: 8139cp)",
	.props = rtl8139_props,
	.nprops = ARRAY_SIZE(rtl8139_props),
	.ops = { .create = rtl8139_create_dev, .quiesce = rtl8139_quiesce_dev,
		 .resume = rtl8139_resume_dev, .save = rtl8139_save_dev, .load = rtl8139_load_dev,
		 .destroy = rtl8139_destroy_dev,
		 .set_link = rtl8139_set_link_dev, .link_up = rtl8139_link_up_dev },
	.place_rank = 1,
};

/* ==== NE2000 (PCI and ISA) ===================================================== */

static struct net_backend *nic_backend(struct dev_instance *d, struct dev_board *b, char *err,
				       size_t errlen)
{
	return b->netdev(b, dev_get_str(d, "netdev"), err, errlen);
}

static int ne2k_pci_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	uint8_t mac[6], *rom;
	size_t rom_len;
	struct net_backend *be = nic_backend(d, b, err, errlen);

	if (!be || nic_rom(d, b, &rom, &rom_len, err, errlen) < 0)
		return -1;
	dev_nic_mac(b, d, mac);
	struct ne2000 *n = ne2000_create_pci(b->pci, (uint8_t)d->devfn, mac, be, true, rom, rom_len);
	if (!n || net_attach(be, ne2000_receive, n) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	d->state = n;
	return 0;
}

static int ne2k_isa_create(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	uint8_t mac[6];
	uint16_t base = (uint16_t)dev_get_uint(d, "iobase");
	struct net_backend *be = nic_backend(d, b, err, errlen);

	if (!be)
		return -1;
	dev_nic_mac(b, d, mac);
	struct ne2000 *n = ne2000_create_isa(b->pio, base, b->isa_irq(b, (unsigned)dev_get_uint(d, "irq")),
					     mac, be, true);
	if (!n)
		return set_err(err, errlen, "-device ne2k_isa: ports %#x-%#x are taken by another "
			       "device", base, base + NE2000_IO_SIZE - 1);
	d->state = n;
	if (net_attach(be, ne2000_receive, n) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	return 0;
}

DEV_STATE_OPS(ne2000, struct ne2000)
NIC_LINK_OPS(ne2000, struct ne2000)

/* The backend's thread delivers into the NIC: it stops delivering, the
 * NIC (and its transmit thread) goes, then the backend. */
static void ne2000_destroy_dev(struct dev_instance *d)
{
	struct ne2000 *nic = d->state;
	struct net_backend *be = ne2000_backend(nic);

	net_stop(be);
	ne2000_destroy(nic);
	net_destroy(be);
	d->state = NULL;
}

static void ne2000_quiesce_dev(struct dev_instance *d)
{
	ne2000_quiesce(d->state);
}

static void ne2000_resume_dev(struct dev_instance *d)
{
	ne2000_resume(d->state);
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
	.ops = { .create = ne2k_pci_create, .quiesce = ne2000_quiesce_dev,
		 .resume = ne2000_resume_dev, .save = ne2000_save_dev, .load = ne2000_load_dev,
		 .destroy = ne2000_destroy_dev,
		 .set_link = ne2000_set_link_dev, .link_up = ne2000_link_up_dev },
	.place_rank = 1,
};

static const struct dev_prop ne2k_isa_props[] = {
	{ .name = "netdev", .type = PROP_NETDEV, .required = true,
	  .help = "id of the -netdev this NIC sends and receives on" },
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
	.ops = { .create = ne2k_isa_create, .reset = ne2k_isa_reset_dev,
		 .quiesce = ne2000_quiesce_dev, .resume = ne2000_resume_dev,
		 .save = ne2000_save_dev, .load = ne2000_load_dev, .destroy = ne2000_destroy_dev,
		 .set_link = ne2000_set_link_dev, .link_up = ne2000_link_up_dev },
};

/* ==== PCnet ======================================================================= */

static int pcnet_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	uint8_t mac[6], *rom;
	size_t rom_len;
	struct net_backend *be = nic_backend(d, b, err, errlen);

	if (!be || nic_rom(d, b, &rom, &rom_len, err, errlen) < 0)
		return -1;
	dev_nic_mac(b, d, mac);
	struct pcnet *p = pcnet_create(b->pci, (uint8_t)d->devfn, b->mem, mac, be, true, rom,
				       rom_len);
	if (!p || net_attach(be, pcnet_receive, p) < 0)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	d->state = p;
	return 0;
}

DEV_STATE_OPS(pcnet, struct pcnet)
NIC_LINK_OPS(pcnet, struct pcnet)

/* The backend's thread delivers into the NIC: it stops delivering, the
 * NIC (and its transmit thread) goes, then the backend. */
static void pcnet_destroy_dev(struct dev_instance *d)
{
	struct pcnet *nic = d->state;
	struct net_backend *be = pcnet_backend(nic);

	net_stop(be);
	pcnet_destroy(nic);
	net_destroy(be);
	d->state = NULL;
}

static void pcnet_quiesce_dev(struct dev_instance *d)
{
	pcnet_quiesce(d->state);
}

static void pcnet_resume_dev(struct dev_instance *d)
{
	pcnet_resume(d->state);
}

static const struct dev_prop pcnet_props[] = { NIC_PROPS("efi-pcnet.rom") };

const struct dev_class pcnet_class = {
	.name = "pcnet",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_NETWORK,
	.desc = "AMD PCnet-PCI II (Am79C970A, 1022:2000; Linux: pcnet32)",
	.props = pcnet_props,
	.nprops = ARRAY_SIZE(pcnet_props),
	.ops = { .create = pcnet_create_dev, .quiesce = pcnet_quiesce_dev,
		 .resume = pcnet_resume_dev, .save = pcnet_save_dev, .load = pcnet_load_dev,
		 .destroy = pcnet_destroy_dev,
		 .set_link = pcnet_set_link_dev, .link_up = pcnet_link_up_dev },
	.place_rank = 1,
};
