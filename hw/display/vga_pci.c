// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The standard VGA and bochs-display PCI cards (include/hw/vga_pci.h):
 * the PCI function around the VGA core.
 */
#include "hw/vga_pci.h"

#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

#define VGA_PCI_VENDOR 0x1234
#define VGA_PCI_DEVICE 0x1111
#define CLASS_VGA 0x030000
#define CLASS_DISPLAY_OTHER 0x038000
#define MMIO_BAR 2
#define MMIO_SIZE 0x1000
#define MMIO_EDID 0x000
#define MMIO_EDID_SIZE 0x400 /* the window; past the block it reads 0 */
#define MMIO_VGA_PORTS 0x400 /* ports 0x3C0-0x3DF */
#define MMIO_VBE 0x500       /* dispi register i at 0x500 + 2i */
#define MMIO_QEMU_EXT 0x600  /* size of this block, framebuffer byte order */
#define QEMU_EXT_SIZE 8
#define QEMU_EXT_LITTLE_ENDIAN 0x1e1e1e1e

/* BAR0 while the guest reaches it through the MMIO bus (before the RAM
 * region is in place): the same bytes. */
static uint64_t lfb_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga_pci *p = opaque;
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < p->vga->vram_size; i++)
		v |= (uint64_t)p->vga->vram[off + i] << (8 * i);
	return v;
}

static void lfb_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga_pci *p = opaque;
	for (unsigned i = 0; i < size && off + i < p->vga->vram_size; i++)
		p->vga->vram[off + i] = (uint8_t)(val >> (8 * i));
	vga_mark_vram_dirty(p->vga, off, size);
}

static const struct io_ops lfb_ops = {
	.read = lfb_read, .write = lfb_write, .min_size = 1, .max_size = 8,
};

/* The EDID window, little-endian as the bytes lie. The offset and size are
 * the guest's: only bytes inside both the window and the block are read. */
static uint64_t edid_read(const struct vga_pci *p, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size && i < 8; i++) {
		uint64_t at = off + i;
		if (at < MMIO_EDID + MMIO_EDID_SIZE && at - MMIO_EDID < sizeof(p->edid))
			v |= (uint64_t)p->edid[at - MMIO_EDID] << (8 * i);
	}
	return v;
}

uint64_t vga_pci_mmio_read(struct vga_pci *p, uint64_t off, unsigned size)
{
	if (off < MMIO_EDID + MMIO_EDID_SIZE)
		return edid_read(p, off, size);
	if (off >= MMIO_VGA_PORTS && off < MMIO_VGA_PORTS + 0x20 && p->legacy) {
		uint64_t v = 0;
		for (unsigned i = 0; i < size && off + i < MMIO_VGA_PORTS + 0x20; i++)
			v |= (uint64_t)vga_port_read(p->vga,
						     (uint16_t)(0x3C0 + off - MMIO_VGA_PORTS + i))
			     << (8 * i);
		return v;
	}
	if (off >= MMIO_VBE && off < MMIO_VBE + 2 * (VBE_NREGS + 1) && size == 2 && !(off & 1))
		return vga_vbe_read(p->vga, (unsigned)(off - MMIO_VBE) / 2);
	if (off == MMIO_QEMU_EXT && size == 4)
		return QEMU_EXT_SIZE;
	if (off == MMIO_QEMU_EXT + 4 && size == 4)
		return QEMU_EXT_LITTLE_ENDIAN;
	return 0;
}

/* Writes to the EDID window are ignored: the monitor's data is read-only. */
void vga_pci_mmio_write(struct vga_pci *p, uint64_t off, uint64_t val, unsigned size)
{
	if (off >= MMIO_VGA_PORTS && off < MMIO_VGA_PORTS + 0x20 && p->legacy) {
		for (unsigned i = 0; i < size && off + i < MMIO_VGA_PORTS + 0x20; i++)
			vga_port_write(p->vga, (uint16_t)(0x3C0 + off - MMIO_VGA_PORTS + i),
				       (uint8_t)(val >> (8 * i)));
		return;
	}
	if (off >= MMIO_VBE && off < MMIO_VBE + 2 * VBE_NREGS && size == 2 && !(off & 1))
		vga_vbe_write(p->vga, (unsigned)(off - MMIO_VBE) / 2, (uint16_t)val);
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
	return vga_pci_mmio_read(opaque, off, size);
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	vga_pci_mmio_write(opaque, off, val, size);
}

static const struct io_ops mmio_ops = {
	.read = mmio_read, .write = mmio_write, .min_size = 1, .max_size = 4,
};

static void bar_moved(struct pci_device *d, int bar, uint64_t addr)
{
	struct vga_pci *p = d->opaque;
	if (bar == 0)
		vga_lfb_map(p->vga, addr == PCI_BAR_UNMAPPED ? UINT64_MAX : addr);
}

struct vga_pci *vga_pci_create(struct pci_bus *bus, uint8_t devfn, const struct vga_config *c,
			       const uint8_t *rom, size_t rom_len)
{
	struct vga_pci *p = xzalloc(sizeof(*p));

	p->legacy = c->legacy;
	p->vga = vga_create(c);
	if (!p->vga) {
		free(p);
		return NULL;
	}
	struct pci_device *d = &p->pci;
	pci_device_init(d, c->legacy ? "VGA" : "bochs-display", VGA_PCI_VENDOR, VGA_PCI_DEVICE,
			c->legacy ? CLASS_VGA : CLASS_DISPLAY_OTHER, 2);
	d->opaque = p;
	d->bar_moved = bar_moved;
	pci_device_set_bar(d, 0, PCI_BAR_MEM32, true, c->vram_size, &lfb_ops, p);
	pci_device_set_bar(d, MMIO_BAR, PCI_BAR_MEM32, false, MMIO_SIZE, &mmio_ops, p);
	if (rom && rom_len) {
		p->rom = xzalloc(rom_len);
		memcpy(p->rom, rom, rom_len);
		pci_device_set_rom(d, p->rom, rom_len);
	}
	if (pci_register(bus, d, devfn) < 0) {
		vga_pci_destroy(p);
		return NULL;
	}
	return p;
}

void vga_pci_set_edid(struct vga_pci *p, const uint8_t edid[EDID_BLOCK_SIZE])
{
	memcpy(p->edid, edid, sizeof(p->edid));
}

void vga_pci_reset(struct vga_pci *p)
{
	vga_reset(p->vga);
}

#define VGA_PCI_STATE_VERSION 1

/* Two sections: the PCI function's configuration (where the BARs are),
 * then the VGA core's registers and video memory ("vga"). */
void vga_pci_save(struct vga_pci *p, struct ss_writer *w, uint32_t instance)
{
	ss_section_begin(w, p->pci.name, instance, VGA_PCI_STATE_VERSION);
	pci_config_put(w, &p->pci);
	ss_section_end(w);
	vga_save(p->vga, w, instance);
}

/* The configuration goes in first, so the framebuffer BAR is where the
 * core's load then maps the window and the LFB. */
bool vga_pci_load(struct vga_pci *p, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256];

	if (!ss_section_open(r, p->pci.name, instance, 1, VGA_PCI_STATE_VERSION, NULL))
		return false;
	pci_config_get(r, &p->pci, cfg);
	if (!ss_section_close(r))
		return false;
	pci_config_apply(&p->pci, cfg);
	return vga_load(p->vga, r, instance);
}

void vga_pci_destroy(struct vga_pci *p)
{
	if (!p)
		return;
	vga_destroy(p->vga);
	pci_device_release(&p->pci);
	free(p->rom);
	free(p);
}
