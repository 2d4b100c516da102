// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitor's info qtree: the machine's devices on their buses, in the
 * layout of QEMU's ("bus: NAME", "type KIND", "dev: DRIVER, id "ID"", then
 * the device's properties and its child buses, two spaces deeper each
 * level). The tree is the PC's: the system bus holds the i440FX host
 * whose pci.0 holds every PCI function by address; PIIX3 bridges to
 * isa.0, the IDE function has ide.0 and ide.1, a virtio function its
 * virtio-bus (and virtio-serial its ports). Every device comes from the
 * machine's device list (src/board/device_table.c's classes); what is
 * printed of each is its set properties, the PCI identity and BARs the
 * bus reads back, and for the board's fixed ISA devices without
 * properties for them, the ports and IRQs the board wires.
 */
#include "pc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "util.h"

struct qtree_out {
	vmctl_print_fn *print;
	void *ctx;
};

static void line(struct qtree_out *o, unsigned depth, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line(struct qtree_out *o, unsigned depth, const char *fmt, ...)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "%*s", (int)(2 * depth), "");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	o->print(o->ctx, buf);
}

static void uint_line(struct qtree_out *o, unsigned depth, const char *name, uint64_t v)
{
	line(o, depth, "%s = %" PRIu64 " (0x%" PRIx64 ")", name, v, v);
}

/* The ports and IRQs the board gives its fixed ISA devices, where their
 * classes have no property for them (QEMU's property names where QEMU
 * has them). */
static const struct {
	const char *cls;
	const char *name;
	uint64_t value;
} fixed_resources[] = {
	{ "mc146818rtc", "iobase", 0x70 },
	{ "i8042", "iobase", 0x60 },
	{ "i8042", "kbd-irq", 1 },
	{ "i8042", "mouse-irq", 12 },
	{ "kvm-pit", "iobase", 0x40 },
	{ "port92", "iobase", 0x92 },
	{ "ioport80", "iobase", 0x80 },
	{ "i8257", "base", 0x00 },
	{ "i8257", "page-base", 0x80 },
	{ "i8257", "base-16bit", 0xc0 },
	{ "fw_cfg_io", "iobase", 0x510 },
	{ "PIIX4_PM", "sci-irq", 9 },
};

static void print_props(struct qtree_out *o, unsigned depth, const struct dev_instance *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(fixed_resources); i++)
		if (!strcmp(fixed_resources[i].cls, d->cls->name))
			uint_line(o, depth, fixed_resources[i].name, fixed_resources[i].value);
	for (unsigned i = 0; i < dev_class_nprops(d->cls); i++) {
		const struct dev_prop *p = dev_class_prop(d->cls, i);
		const struct dev_value *v = &d->val[i];
		if (!v->set || p->type == PROP_PCI_ADDR) /* addr: from where it sits */
			continue;
		switch (p->type) {
		case PROP_BOOL:
			line(o, depth, "%s = %s", p->name, v->u ? "true" : "false");
			break;
		case PROP_UINT:
			uint_line(o, depth, p->name, v->u);
			break;
		case PROP_ENUM:
			line(o, depth, "%s = \"%s\"", p->name, p->choices[v->u]);
			break;
		case PROP_MAC:
			line(o, depth, "%s = \"%02x:%02x:%02x:%02x:%02x:%02x\"", p->name,
			     (unsigned)(v->u >> 40) & 0xff, (unsigned)(v->u >> 32) & 0xff,
			     (unsigned)(v->u >> 24) & 0xff, (unsigned)(v->u >> 16) & 0xff,
			     (unsigned)(v->u >> 8) & 0xff, (unsigned)v->u & 0xff);
			break;
		default: /* strings and the ids of backends */
			line(o, depth, "%s = \"%.200s\"", p->name, v->s ? v->s : "");
			break;
		}
	}
}

static void dev_header(struct qtree_out *o, unsigned depth, const char *name, const char *id)
{
	line(o, depth, "dev: %s, id \"%.100s\"", name, id ? id : "");
}

static void bus_header(struct qtree_out *o, unsigned depth, const char *name, const char *type)
{
	line(o, depth, "bus: %s", name);
	line(o, depth + 1, "type %s", type);
}

/* The IDE channel a drive is on (its slot among the machine's IDE
 * drives, which -hda and ide-hd's bus=/unit= alike fill), -1: none. */
static int ide_channel(struct machine *m, const struct dev_instance *d)
{
	const char *drive = dev_get_str(d, "drive");

	for (unsigned s = 0; drive && s < MAX_IDE_DRIVES; s++)
		if (m->cfg.ide[s].present && m->cfg.ide[s].name &&
		    !strcmp(m->cfg.ide[s].name, drive))
			return (int)s / 2;
	return -1;
}

/* The devices of one kind of bus (for IDE: of channel 'channel'). */
static void print_bus_devices(struct machine *m, struct qtree_out *o, unsigned depth,
			      enum dev_bus bus, int channel)
{
	for (unsigned i = 0; i < m->cfg.ndevs; i++) {
		const struct dev_instance *d = &m->cfg.devs[i];
		if (d->cls->bus != bus || (bus == DEV_BUS_IDE && ide_channel(m, d) != channel))
			continue;
		dev_header(o, depth, d->cls->name, d->id);
		print_props(o, depth + 1, d);
	}
}

/* Child buses of a PCI function. */
static void print_pci_children(struct machine *m, struct qtree_out *o, unsigned depth,
			       const struct dev_instance *d)
{
	const char *name = d->cls->name;
	size_t len = strlen(name);

	if (!strcmp(name, "PIIX3")) {
		bus_header(o, depth, "isa.0", "ISA");
		print_bus_devices(m, o, depth + 1, DEV_BUS_ISA, -1);
	} else if (!strcmp(name, "piix3-ide")) {
		for (unsigned ch = 0; ch < 2; ch++) {
			char bus[8];
			snprintf(bus, sizeof(bus), "ide.%u", ch);
			bus_header(o, depth, bus, "IDE");
			print_bus_devices(m, o, depth + 1, DEV_BUS_IDE, (int)ch);
		}
	} else if (!strncmp(name, "virtio-", 7) && len > 4 && !strcmp(name + len - 4, "-pci")) {
		bus_header(o, depth, "virtio-bus", "virtio-pci-bus");
		line(o, depth + 1, "dev: %.*s-device, id \"\"", (int)(len - 4), name);
		if (!strcmp(name, "virtio-serial-pci")) {
			bus_header(o, depth + 2, "virtio-serial-bus.0", "virtio-serial-bus");
			print_bus_devices(m, o, depth + 3, DEV_BUS_VIRTIO_SERIAL, -1);
		}
	}
}

static void print_pci_function(struct machine *m, struct qtree_out *o, unsigned depth,
			       const struct dev_instance *d, const struct vmctl_pci *f)
{
	dev_header(o, depth, d->cls->name, d->id);
	line(o, depth + 1, "addr = %02x.%x", d->devfn >> 3, d->devfn & 7);
	print_props(o, depth + 1, d);
	if (f) {
		char cls[32];
		if (!f->desc)
			snprintf(cls, sizeof(cls), "Class %04x", f->class_code);
		line(o, depth + 1, "class %s, addr 00:%02x.%x, pci id %04x:%04x (sub %04x:%04x)",
		     f->desc ? f->desc : cls, f->slot, f->function, f->vendor, f->device,
		     f->subsystem_vendor, f->subsystem);
		for (unsigned b = 0; b < f->nbars; b++) {
			const struct vmctl_pci_bar *r = &f->bars[b];
			line(o, depth + 1, "bar %u: %s at 0x%" PRIx64 " [0x%" PRIx64 "]", r->bar,
			     r->io ? "i/o" : "mem", r->address, r->address + r->size - 1);
		}
	}
	print_pci_children(m, o, depth + 1, d);
}

void machine_qtree(void *opaque, vmctl_print_fn *print, void *ctx)
{
	struct machine *m = opaque;
	struct qtree_out o = { print, ctx };
	struct vmctl_pci *fns = xzalloc(256 * sizeof(*fns));
	unsigned nfns = machine_pci_devices(m, fns, 256);

	bus_header(&o, 0, "main-system-bus", "System");
	print_bus_devices(m, &o, 1, DEV_BUS_SYSTEM, -1);
	dev_header(&o, 1, "i440FX-pcihost", NULL);
	bus_header(&o, 2, "pci.0", "PCI");
	for (int devfn = 0; devfn < 256; devfn++)
		for (unsigned i = 0; i < m->cfg.ndevs; i++) {
			const struct dev_instance *d = &m->cfg.devs[i];
			const struct vmctl_pci *f = NULL;
			if (d->cls->bus != DEV_BUS_PCI || d->devfn != devfn)
				continue;
			for (unsigned k = 0; k < nfns; k++)
				if (fns[k].slot == (unsigned)devfn >> 3 &&
				    fns[k].function == (unsigned)(devfn & 7))
					f = &fns[k];
			print_pci_function(m, &o, 3, d, f);
		}
	free(fns);
}
