// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP's qom-list-types and device-list-properties, as far as vmm's device
 * table answers them. vmm has no object model: the types are the drivers
 * -device help lists and the -object types it takes (memory and rng
 * backends), plus the abstract kinds QEMU files them under, so
 * that a client's "implements": "pci-device" (or "isa-device",
 * "virtio-pci"...) finds what it would find in QEMU. A driver's parent is
 * its bus's kind unless the table below names QEMU's intermediate base
 * type (e1000-base, pci-vga, virtio-net-pci-base...).
 */
#include "pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "util.h"

/* The abstract types, each with its parent (QEMU's root, "object", has
 * none). */
static const struct vmctl_type abstract_types[] = {
	{ "object", NULL, true },
	{ "device", "object", true },
	{ "sys-bus-device", "device", true },
	{ "pci-device", "device", true },
	{ "isa-device", "device", true },
	{ "ide-device", "device", true },
	{ "virtio-serial-port", "device", true },
	{ "virtio-pci", "pci-device", true },
	{ "pci-vga", "pci-device", true },
	{ "e1000-base", "pci-device", true },
	{ "virtio-blk-pci-base", "virtio-pci", true },
	{ "virtio-net-pci-base", "virtio-pci", true },
	{ "virtio-rng-pci-base", "virtio-pci", true },
	{ "virtio-balloon-pci-base", "virtio-pci", true },
	{ "virtio-serial-pci-base", "virtio-pci", true },
};

/* The -object types vmm creates, under QEMU's parents: a client such as
 * libvirt looks for a memory or rng backend here before it uses one. They
 * are objects, not devices: device-list-properties refuses them, as QEMU
 * does. */
static const struct vmctl_type object_types[] = {
	{ "memory-backend", "object", true },
	{ "memory-backend-ram", "memory-backend", false },
	{ "memory-backend-file", "memory-backend", false },
	{ "memory-backend-memfd", "memory-backend", false },
	{ "rng-backend", "object", true },
	{ "rng-random", "rng-backend", false },
	{ "rng-builtin", "rng-backend", false },
};

/* Drivers whose QEMU parent is not their bus's kind. */
static const struct {
	const char *name, *parent;
} parents[] = {
	{ "e1000", "e1000-base" },
	{ "e1000-82544gc", "e1000-base" },
	{ "e1000-82545em", "e1000-base" },
	{ "VGA", "pci-vga" },
	{ "virtio-blk-pci", "virtio-blk-pci-base" },
	{ "virtio-net-pci", "virtio-net-pci-base" },
	{ "virtio-rng-pci", "virtio-rng-pci-base" },
	{ "virtio-balloon-pci", "virtio-balloon-pci-base" },
	{ "virtio-serial-pci", "virtio-serial-pci-base" },
	{ "virtconsole", "virtserialport" },
};

static const char *parent_of(const struct dev_class *c)
{
	static const char *const by_bus[] = {
		[DEV_BUS_SYSTEM] = "sys-bus-device",
		[DEV_BUS_PCI] = "pci-device",
		[DEV_BUS_ISA] = "isa-device",
		[DEV_BUS_IDE] = "ide-device",
		[DEV_BUS_VIRTIO_SERIAL] = "virtio-serial-port",
	};

	for (size_t i = 0; i < ARRAY_SIZE(parents); i++)
		if (!strcmp(parents[i].name, c->name))
			return parents[i].parent;
	return c->bus < ARRAY_SIZE(by_bus) ? by_bus[c->bus] : "device";
}

unsigned machine_device_types(void *opaque, struct vmctl_type *out, unsigned max)
{
	unsigned n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(abstract_types) && n < max; i++)
		out[n++] = abstract_types[i];
	for (unsigned i = 0; i < dev_table_size && n < max; i++) {
		const struct dev_class *c = dev_table[i];
		if (!c->board_only)
			out[n++] = (struct vmctl_type){ c->name, parent_of(c), false };
	}
	for (size_t i = 0; i < ARRAY_SIZE(object_types) && n < max; i++)
		out[n++] = object_types[i];
	return n;
}

static void describe(const struct dev_prop *p, struct vmctl_prop *o)
{
	uint64_t u;
	bool b;

	*o = (struct vmctl_prop){ .name = p->name, .type = dev_prop_type_name(p) };
	if (p->help) {
		snprintf(o->description, sizeof(o->description), "%s", p->help);
	} else if (p->type == PROP_BOOL) {
		snprintf(o->description, sizeof(o->description), "on/off");
	} else if (p->type == PROP_ENUM) {
		size_t len = 0;
		for (const char *const *c = p->choices; *c && len < sizeof(o->description); c++)
			len += (size_t)snprintf(o->description + len, sizeof(o->description) - len,
						"%s%s", len ? "/" : "", *c);
	}
	if (!p->def)
		return;
	if (p->type == PROP_UINT && !dev_parse_uint(p->def, &u)) {
		o->def_kind = VMCTL_VALUE_INT;
		o->def_int = u;
	} else if (p->type == PROP_BOOL && !dev_parse_bool(p->def, &b)) {
		o->def_kind = VMCTL_VALUE_BOOL;
		o->def_bool = b;
	} else {
		o->def_kind = VMCTL_VALUE_STR;
		o->def_str = p->def;
	}
}

int machine_device_props(void *opaque, const char *name, struct vmctl_prop *out, unsigned max)
{
	const struct dev_class *c = NULL;
	unsigned n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(abstract_types); i++)
		if (!strcmp(abstract_types[i].name, name))
			return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(object_types); i++)
		if (!strcmp(object_types[i].name, name))
			return -EINVAL; /* "expects a non-abstract device type", as QEMU */
	for (unsigned i = 0; i < dev_table_size; i++)
		if (!dev_table[i]->board_only && !strcmp(dev_table[i]->name, name))
			c = dev_table[i];
	if (!c)
		return -ENOENT;
	for (unsigned i = 0; i < dev_class_nprops(c) && n < max; i++)
		describe(dev_class_prop(c, i), &out[n++]);
	return (int)n;
}
