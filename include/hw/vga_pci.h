/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PCI display cards built on the VGA core (include/hw/vga.h):
 *
 *  - "VGA", QEMU's standard VGA (PCI 1234:1111, class 0300): the legacy
 *    ports and window, Bochs VBE on ports 0x1CE/0x1CF, BAR0 the video
 *    memory as a prefetchable linear framebuffer, BAR2 4 KiB of MMIO
 *    (0x000-0x3FF the monitor's EDID, include/hw/edid.h, zeros when the
 *    card has none; 0x400 the ports 0x3C0-0x3DF; 0x500
 *    the VBE registers at index * 2; 0x600 QEMU's extended registers),
 *    the expansion ROM SeaBIOS's vgabios-stdvga.bin;
 *  - "bochs-display" (the same IDs, class 0380): no legacy VGA at all,
 *    only BAR0, BAR2 (EDID at 0x000, VBE at 0x500) and
 *    vgabios-bochs-display.bin.
 */
#ifndef VMM_HW_VGA_PCI_H
#define VMM_HW_VGA_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/edid.h"
#include "hw/vga.h"
#include "pci.h"

struct ss_writer;
struct ss_reader;

struct vga_pci {
	struct pci_device pci;
	struct vga *vga;
	bool legacy;
	uint8_t *rom;
	/* The EDID window's bytes: set before the guest runs and only read
	 * afterwards (so no lock); all zeros when the card has no EDID. */
	uint8_t edid[EDID_BLOCK_SIZE];
};

/* 'rom' (may be NULL) is copied. NULL if the slot is taken or the video
 * memory size is not a power of two from 1 to 256 MiB. */
struct vga_pci *vga_pci_create(struct pci_bus *bus, uint8_t devfn, const struct vga_config *c,
			       const uint8_t *rom, size_t rom_len);
void vga_pci_destroy(struct vga_pci *p);
/* Gives the card a monitor (its EDID block, from edid_generate); before
 * this the EDID window reads as zeros, which guests take as "no EDID". */
void vga_pci_set_edid(struct vga_pci *p, const uint8_t edid[EDID_BLOCK_SIZE]);
void vga_pci_reset(struct vga_pci *p);
/* Saved state: the PCI configuration, then the core's section "vga". */
void vga_pci_save(struct vga_pci *p, struct ss_writer *w, uint32_t instance);
bool vga_pci_load(struct vga_pci *p, struct ss_reader *r, uint32_t instance);
/* The MMIO BAR (BAR2) by offset, as the guest reaches it. */
uint64_t vga_pci_mmio_read(struct vga_pci *p, uint64_t off, unsigned size);
void vga_pci_mmio_write(struct vga_pci *p, uint64_t off, uint64_t val, unsigned size);

#endif
