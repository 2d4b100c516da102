/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VGA core: the register file of IBM's VGA (sequencer, graphics
 * controller, CRTC, attribute controller, DAC, misc output, input status),
 * its planar video memory seen through the 0xA0000-0xBFFFF window, the
 * Bochs VBE "dispi" extension, and the renderer that turns all of it into
 * a display surface (include/display.h). The PCI cards are wrappers of
 * their own (hw/display/vga_pci.c: "VGA" and "bochs-display"); a Cirrus
 * model extends this same core.
 *
 * Video memory layout: planar offset o holds its four planes in the bytes
 * 4o..4o+3 (plane p at 4o+p). So chain-4 address a is simply byte a (plane
 * a&3 at offset a>>2), the VBE linear framebuffer is the same bytes, and in
 * odd/even mode address a is plane (a&1) (| 2 with GR4 bit 1) at offset
 * a>>1, which puts text cell i (character in plane 0, attribute in plane 1)
 * at offset i and the font at plane 2.
 *
 * Where the mode allows (chain-4 with every plane enabled, as mode 13h and
 * the VBE banked window use it), the window is a RAM-backed memory region
 * pointing into video memory, so the guest writes without an exit; the
 * linear framebuffer BAR is always one. Their dirty logs, and the core's
 * own bitmap for writes it serves itself, say which pages changed.
 *
 * Locking: one mutex per device, taken by every port, window and BAR
 * access (vCPU threads) and by the refresh (the main thread); the surface
 * lock nests inside it.
 */
#ifndef VMM_HW_VGA_H
#define VMM_HW_VGA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "display.h"
#include "guest_mem.h"
#include "memory.h"

#define VGA_WINDOW_BASE 0xA0000u
#define VGA_WINDOW_SIZE 0x20000u
#define VGA_PORT_BASE 0x3B0u
#define VGA_PORT_COUNT 0x30u
#define VBE_PORT_INDEX 0x1CEu
#define VBE_PORT_DATA 0x1CFu

/* Bochs VBE (dispi) registers. */
enum {
	VBE_ID = 0,
	VBE_XRES,
	VBE_YRES,
	VBE_BPP,
	VBE_ENABLE,
	VBE_BANK,
	VBE_VIRT_WIDTH,
	VBE_VIRT_HEIGHT,
	VBE_X_OFFSET,
	VBE_Y_OFFSET,
	VBE_VIDEO_MEMORY_64K, /* read only: VRAM / 64 KiB */
	VBE_NREGS,
};

#define VBE_ID0 0xB0C0
#define VBE_ID5 0xB0C5
#define VBE_ENABLED 0x01
#define VBE_GETCAPS 0x02
#define VBE_8BIT_DAC 0x20
#define VBE_LFB_ENABLED 0x40
#define VBE_NOCLEARMEM 0x80
#define VBE_MAX_XRES 16000
#define VBE_MAX_YRES 12000
#define VBE_MAX_BPP 32

struct event_loop;
struct event_timer;
struct ss_writer;
struct ss_reader;

struct vga_config {
	uint32_t vram_size;       /* a power of two, 1 to 256 MiB */
	bool legacy;              /* the VGA register file and window (not bochs-display) */
	bool no_vbe;              /* leave out the Bochs VBE ports (a Cirrus card has none) */
	struct mem_space *space;  /* where the window and LFB regions go (NULL: none, tests) */
	struct io_bus *pio, *mmio; /* legacy ports and window (NULL: the caller dispatches) */
	struct event_loop *loop;  /* the refresh timer's (NULL: refresh only on demand) */
	/* Where the video memory joins guest RAM's migration and snapshots as
	 * a named block (include/guest_mem.h), and its name (unique on the
	 * machine); NULL: it does not (tests). */
	struct guest_mem *mem;
	const char *ram_name;
};

/* A card that extends the core (hw/display/cirrus_vga.c) hooks its paths.
 * Every hook runs with the core's lock held; a hook that returns false
 * leaves the access or the decision to the core. */
struct vga_ext_ops {
	/* Ports 0x3B0-0x3DF (absolute numbers), one byte. */
	bool (*port_read)(void *opaque, uint16_t port, uint8_t *val);
	bool (*port_write)(void *opaque, uint16_t port, uint8_t val);
	/* The window, 'addr' the offset from 0xA0000. */
	bool (*mem_read)(void *opaque, uint32_t addr, uint8_t *val);
	bool (*mem_write)(void *opaque, uint32_t addr, uint8_t val);
	/* The VRAM offset each 64 KiB half of the window shows as RAM (-1:
	 * trapped). */
	bool (*window)(void *opaque, int32_t want[2]);
	/* At each refresh: did a register of the extension that shapes the
	 * picture change since the last one (a full redraw)? */
	bool (*regs_changed)(void *opaque);
	/* Draws a graphics mode of the extension (the surface lock held too). */
	bool (*draw)(void *opaque, struct display_surface *s, bool full);
};

struct vga {
	pthread_mutex_t lock;
	const struct vga_ext_ops *ext; /* NULL: the plain core */
	void *ext_opaque;
	uint8_t *vram;
	uint32_t vram_size;
	bool legacy;
	struct mem_space *space;
	struct io_bus *pio, *mmio;

	/* the VGA register file */
	uint8_t misc, fcr, st01;
	uint8_t sr_index, sr[8];
	uint8_t gr_index, gr[16];
	uint8_t cr_index, cr[32];
	uint8_t ar_index, ar[32];
	bool ar_flip;             /* false: the next 0x3C0 write is an index */
	uint8_t dac_mask, dac_read, dac_write, dac_sub, dac_state;
	uint8_t dac_cache[3];
	uint8_t palette[768];     /* 256 x R, G, B (6 bits, or 8 with VBE_8BIT_DAC) */
	uint32_t latch;           /* planes 0-3 in bytes 0-3 */

	/* Bochs VBE */
	uint16_t vbe_index;
	uint16_t vbe[VBE_NREGS];
	uint32_t vbe_line_offset; /* bytes per line of the virtual screen */
	uint32_t vbe_start;       /* byte of the first visible pixel */
	uint32_t bank_offset;

	/* the window as RAM (chain-4), and the linear framebuffer */
	struct mem_region win[2]; /* 0xA0000 and 0xB0000, 64 KiB each */
	bool win_added;
	int32_t win_offset[2];    /* VRAM offset each shows, -1: not RAM */
	struct mem_region lfb;
	bool lfb_added;
	uint64_t *dirty;          /* one bit per VRAM page, for the display */
	uint64_t *mig_dirty;      /* the same, for migration while it logs (else NULL) */
	struct guest_mem *mem;    /* where the VRAM is a named block (or NULL) */
	uint64_t *scratch;        /* a region's dirty bits while harvested */

	/* what was drawn: a full redraw when any of it changes */
	uint8_t drawn_regs[8 + 16 + 32 + 32 + 3 + 2 * VBE_NREGS];
	uint8_t drawn_palette[768];
	uint16_t *drawn_cells;    /* text: char | attr << 8 of every drawn cell */
	unsigned drawn_ncells;
	int drawn_cursor;         /* cell index, -1: none */
	uint8_t *drawn_font;      /* plane 2 of the first 64 KiB planar offsets */
	bool full_update;
	uint32_t rgb[256];        /* the palette as 0x00RRGGBB */

	struct display_surface surface;
	struct event_timer *timer;
	struct io_region ports, vbe_ports, window;
};

struct vga *vga_create(const struct vga_config *c);
void vga_destroy(struct vga *v);
/* Power-on state of the registers; video memory keeps its contents. */
void vga_reset(struct vga *v);

/* Register ports 0x3B0-0x3DF (absolute port numbers), one byte. */
uint8_t vga_port_read(struct vga *v, uint16_t port);
void vga_port_write(struct vga *v, uint16_t port, uint8_t val);
/* The window: 'addr' is the offset from 0xA0000 (0 .. 0x1FFFF). */
uint8_t vga_mem_read(struct vga *v, uint32_t addr);
void vga_mem_write(struct vga *v, uint32_t addr, uint8_t val);
/* Bochs VBE registers by index (the 0x1CF data port, the MMIO BAR). */
uint16_t vga_vbe_read(struct vga *v, unsigned index);
void vga_vbe_write(struct vga *v, unsigned index, uint16_t val);
uint16_t vga_vbe_index_read(struct vga *v);
void vga_vbe_index_write(struct vga *v, uint16_t val);

/* The linear framebuffer (a PCI BAR) moved to 'gpa', or went away
 * (UINT64_MAX). */
void vga_lfb_map(struct vga *v, uint64_t gpa);
/* A write to VRAM the core did not see through its own callbacks. */
void vga_mark_vram_dirty(struct vga *v, uint64_t offset, uint64_t len);

/* ---- for extensions, the lock held ------------------------------------ */

/* Re-decides which halves of the window are RAM (after a register that
 * maps it changed). */
void vga_update_window_locked(struct vga *v);
void vga_mark_dirty_locked(struct vga *v, uint64_t offset, uint64_t len);
/* Did the guest write a page of [offset, offset + len) since the last
 * refresh? */
bool vga_vram_dirty_locked(const struct vga *v, uint64_t offset, uint64_t len);
/* vga_lfb_map with the lock held. */
void vga_lfb_map_locked(struct vga *v, uint64_t gpa);
/* The DAC entry as 0x00RRGGBB (6-bit values, widened as QEMU does). */
uint32_t vga_dac_rgb6(const uint8_t rgb[3]);

/* Brings the surface up to date (display_refresh calls this). */
void vga_refresh(struct vga *v);

/* Saved state (section "vga"): the registers and video memory. vga_load
 * checks every value as the guest's own writes would be, then maps the
 * window as they say. */
void vga_save(struct vga *v, struct ss_writer *w, uint32_t instance);
bool vga_load(struct vga *v, struct ss_reader *r, uint32_t instance);

#endif
