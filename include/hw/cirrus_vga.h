/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "cirrus-vga": the Cirrus Logic CL-GD5446 as QEMU's PCI card has it (PCI
 * 1013:00b8, class 0300), built on the VGA core (include/hw/vga.h) through
 * its extension hooks:
 *
 *  - the extended registers: SR6 (unlock), SR7 (extended modes: 8, 15/16,
 *    24, 32 bpp with the hidden DAC), SR10-SR13 the hardware cursor, SR17
 *    the memory-mapped I/O switch, GR0/GR1 and GR10-GR15 the BLT colours,
 *    GR9/GRA the two bank offsets with GRB's granularity and dual banking
 *    and extended write modes 4/5, GR20-GR39 the BitBLT registers, CR1A,
 *    CR1B, CR1D the extended display start and offset, CR27 the chip ID;
 *  - BAR0 (32 MiB, prefetchable): video memory as a linear framebuffer
 *    from offset 0 (a RAM region while plain stores are what the card
 *    does), and at 16 MiB the 4 MiB aperture where the CPU writes the
 *    source of a system-to-screen BLT; no byte-swapping apertures;
 *  - BAR1 (4 KiB): 0x000-0x01F the ports 0x3C0-0x3DF, 0x100-0x1FF the
 *    BitBLT registers (also at 0xB8000 when SR17 says so);
 *  - the expansion ROM: SeaBIOS's vgabios-cirrus.bin.
 *
 * Video memory is vgamem_mb MiB (4, 8 or 16; 4 by default, as QEMU); the
 * chip addresses 4 MiB of it (BLT and bank addresses, the cursor's
 * patterns in its last 16 KiB). Locking: the core's lock covers all of
 * the card's state.
 */
#ifndef VMM_HW_CIRRUS_VGA_H
#define VMM_HW_CIRRUS_VGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/cirrus_blt.h"
#include "hw/vga.h"
#include "pci.h"

struct ss_writer;
struct ss_reader;

#define CIRRUS_VENDOR 0x1013
#define CIRRUS_DEVICE_5446 0x00B8
#define CIRRUS_BAR0_SIZE (32u << 20)
#define CIRRUS_BLT_APERTURE (16u << 20) /* BAR0 offset of the BLT source aperture */
#define CIRRUS_MMIO_SIZE 0x1000
#define CIRRUS_MMIO_BLT 0x100           /* BAR1 offset of the BLT registers */

struct cirrus_vga {
	struct pci_device pci;
	struct vga *vga;
	uint8_t *rom;
	uint32_t addr_mask;       /* what the chip addresses: min(VRAM, 4 MiB) - 1 */
	uint64_t bar0;            /* where BAR0 is (UINT64_MAX: unmapped) */
	bool blitter;             /* the BLT engine runs (QEMU's blitter=on, the default) */
	bool lfb_ram;             /* BAR0's video memory is the RAM region now, */
	uint64_t lfb_at;          /* at this address */

	/* The extended registers (the core keeps SR0-SR4, GR0-GR8, CR0-CR18). */
	uint8_t sr_index, gr_index; /* the full 8-bit indices */
	uint8_t sr[0x20];
	uint8_t gr[0x40];
	uint8_t cr[0x28];
	uint8_t shadow_gr0, shadow_gr1; /* GR0/GR1 as written (the core keeps 4 bits' use) */
	uint8_t hidden_dac;
	uint8_t mask_reads;       /* successive reads of 0x3C6 (the hidden DAC after 4) */
	uint8_t hidden_palette[48]; /* 16 extra DAC entries: cursor colours 0 and 15 */
	uint16_t cursor_x, cursor_y;

	/* A system-to-screen BLT in progress: its parameters, the line being
	 * collected, and the next line to draw. */
	bool sys_active;
	struct cirrus_blt sys;
	uint32_t sys_line_bytes, sys_fill, sys_y;
	uint8_t sys_buf[CIRRUS_BLT_LINE_MAX];

	unsigned refusals;        /* BLTs refused (logged: the first few) */
	uint8_t drawn[64];        /* the extension's picture registers at the last refresh */
};

/* 'rom' (may be NULL) is copied. NULL if the slot is taken or the video
 * memory size is not 4, 8 or 16 MiB. */
struct cirrus_vga *cirrus_vga_create(struct pci_bus *bus, uint8_t devfn,
				     const struct vga_config *c, const uint8_t *rom,
				     size_t rom_len);
void cirrus_vga_destroy(struct cirrus_vga *c);
void cirrus_vga_reset(struct cirrus_vga *c);

/* BAR0 and BAR1 by offset, as the guest reaches them when trapped. */
uint64_t cirrus_vga_lfb_read(struct cirrus_vga *c, uint64_t off, unsigned size);
void cirrus_vga_lfb_write(struct cirrus_vga *c, uint64_t off, uint64_t val, unsigned size);
uint64_t cirrus_vga_mmio_read(struct cirrus_vga *c, uint64_t off, unsigned size);
void cirrus_vga_mmio_write(struct cirrus_vga *c, uint64_t off, uint64_t val, unsigned size);

/* Saved state: the PCI configuration ("cirrus-vga"), the core ("vga"),
 * then the card's own registers and any BLT in progress ("cirrus"). */
void cirrus_vga_save(struct cirrus_vga *c, struct ss_writer *w, uint32_t instance);
bool cirrus_vga_load(struct cirrus_vga *c, struct ss_reader *r, uint32_t instance);

#endif
