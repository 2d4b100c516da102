// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Cirrus Logic CL-GD5446 PCI card (include/hw/cirrus_vga.h) on the VGA
 * core's extension hooks: the extended registers, banked and linear video
 * memory, the BitBLT registers (hw/display/cirrus_blt.c does the work),
 * the hardware cursor and the extended modes' pictures.
 *
 * Register facts are from the CL-GD5446 technical reference, and from
 * what drivers program: SeaBIOS's vgasrc/clext.c (mode tables, the hidden
 * DAC sequence, SR6 unlock check, SR0F memory size, GR31 BLT reset),
 * Linux's cirrus DRM and cirrusfb drivers. Where the data book and QEMU's
 * model differ, QEMU's picture wins (the tests compare screendumps).
 */
#include "hw/cirrus_vga.h"

#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

#define CHIP_MEMORY (4u << 20)     /* what the 5446 addresses */
#define CURSOR_AREA 0x4000u        /* the cursor patterns: the last 16 KiB of it */
#define CIRRUS_STATE_VERSION 1
#define CIRRUS_PCI_STATE_VERSION 1
#define REFUSALS_LOGGED 8

/* SR12, the graphics cursor attributes. */
#define CURSOR_SHOW 0x01
#define CURSOR_HIDDEN_PALETTE 0x02  /* DAC accesses reach the 16 extra entries */
#define CURSOR_LARGE 0x04           /* 64x64, else 32x32 */

/* GRB, the graphics controller mode extensions. */
#define GRB_DUAL_BANK 0x01
#define GRB_BY8 0x02                /* addresses x8 (extended write modes) */
#define GRB_EXT_WRITE 0x04          /* write modes 4 and 5 */
#define GRB_16BPP_EXPAND 0x10       /* with GRB_EXT_WRITE: 16-bit pixels, addresses x16 */
#define GRB_16K 0x20                /* bank granularity 16 KiB, else 4 KiB */

/* GR31, the BLT start/status register. */
#define BLT_BUSY 0x01
#define BLT_START 0x02
#define BLT_RESET 0x04
#define BLT_FIFO_USED 0x10
#define BLT_AUTOSTART 0x80

/* SR17: memory-mapped I/O on, and at the end of the LFB instead of 0xB8000. */
#define SR17_MMIO 0x04
#define SR17_MMIO_LFB 0x40

static struct vga *core(struct cirrus_vga *c)
{
	return c->vga;
}

static bool extended(const struct cirrus_vga *c)
{
	return c->sr[7] & 0x01;
}

static uint32_t chip_memory(const struct cirrus_vga *c)
{
	return c->addr_mask + 1;
}

/* ---- memory mapping ------------------------------------------------------ */

/* Does a plain store to video memory do what the card does? Not while a
 * system-to-screen BLT takes the CPU's writes, with scaled addresses or
 * extended write modes, or with the BLT registers at the end of the LFB. */
static bool plain_stores(const struct cirrus_vga *c)
{
	unsigned mode = c->vga->gr[5] & 7;

	if (c->sys_active || (c->sr[0x17] & (SR17_MMIO | SR17_MMIO_LFB)) == (SR17_MMIO | SR17_MMIO_LFB))
		return false;
	if ((c->gr[0x0B] & (GRB_EXT_WRITE | GRB_16BPP_EXPAND)) == (GRB_EXT_WRITE | GRB_16BPP_EXPAND) ||
	    (c->gr[0x0B] & GRB_BY8))
		return false;
	return !((c->gr[0x0B] & GRB_EXT_WRITE) && (mode == 4 || mode == 5));
}

/* Bank i (0: 0xA0000-0xA7FFF, 1: 0xA8000-0xAFFFF): the chip-memory offset
 * it starts at and how many bytes from there exist. One bank (GRB bit 0
 * clear) is 64 KiB at GR9, its upper half bank 1. */
static void bank_range(const struct cirrus_vga *c, unsigned i, uint32_t *base, uint32_t *limit)
{
	bool dual = c->gr[0x0B] & GRB_DUAL_BANK;
	uint32_t off = (uint32_t)(dual ? c->gr[9 + i] : c->gr[9]) << ((c->gr[0x0B] & GRB_16K) ? 14 : 12);

	if (!dual && i)
		off += 0x8000;
	*base = off;
	*limit = off < chip_memory(c) ? chip_memory(c) - off : 0;
}

/* The window half at 0xA0000 as RAM: one bank, plain stores, all of its
 * 64 KiB in video memory. The rest traps (dual banks are rare: drivers
 * use the LFB). */
static bool window_hook(void *opaque, int32_t want[2])
{
	struct cirrus_vga *c = opaque;
	uint32_t base, limit;

	if (!extended(c))
		return false;
	want[0] = want[1] = -1;
	bank_range(c, 0, &base, &limit);
	if (plain_stores(c) && !(c->gr[0x0B] & GRB_DUAL_BANK) && limit >= 0x10000)
		want[0] = (int32_t)base;
	return true;
}

/* The LFB part of BAR0 is the RAM region while plain stores do. Only a
 * change touches the region (each one is a KVM memory slot update). */
static void update_lfb(struct cirrus_vga *c)
{
	bool want = c->bar0 != UINT64_MAX && plain_stores(c);

	if (want && (!c->lfb_ram || c->lfb_at != c->bar0))
		vga_lfb_map_locked(core(c), c->bar0);
	else if (!want && c->lfb_ram)
		vga_lfb_map_locked(core(c), UINT64_MAX);
	c->lfb_ram = want;
	c->lfb_at = want ? c->bar0 : UINT64_MAX;
}

static void update_mapping(struct cirrus_vga *c)
{
	vga_update_window_locked(core(c));
	update_lfb(c);
}

/* ---- video memory as the card's writes see it ------------------------ */

/* A linear or banked offset scaled as GRB says (write modes with x8 or
 * x16 addresses), within chip memory. */
static uint32_t scaled(const struct cirrus_vga *c, uint32_t off)
{
	if ((c->gr[0x0B] & (GRB_EXT_WRITE | GRB_16BPP_EXPAND)) == (GRB_EXT_WRITE | GRB_16BPP_EXPAND))
		off <<= 4;
	else if (c->gr[0x0B] & GRB_BY8)
		off <<= 3;
	return off & c->addr_mask;
}

/* Write modes 4 and 5: the CPU byte's bits, most significant first, are 8
 * pixels of the foreground colour (GR1, GR11 for 16 bpp); 0 bits are the
 * background (GR0, GR10) in mode 5 and left alone in mode 4. */
static void expand_write(struct cirrus_vga *c, uint32_t off, uint8_t val, unsigned mode)
{
	struct vga *v = core(c);
	unsigned bpp = (c->gr[0x0B] & GRB_16BPP_EXPAND) ? 2 : 1;
	uint8_t fg[2] = { c->shadow_gr1, c->gr[0x11] }, bg[2] = { c->shadow_gr0, c->gr[0x10] };

	for (unsigned x = 0; x < 8; x++) {
		bool bit = val & (0x80 >> x);
		if (!bit && mode == 4)
			continue;
		for (unsigned k = 0; k < bpp; k++) {
			uint64_t at = (uint64_t)off + x * bpp + k;
			if (at < v->vram_size)
				v->vram[at] = bit ? fg[k] : bg[k];
		}
	}
	vga_mark_dirty_locked(v, off, 8 * bpp);
}

static void vram_write(struct cirrus_vga *c, uint32_t off, uint8_t val)
{
	struct vga *v = core(c);
	unsigned mode = v->gr[5] & 7;

	if ((c->gr[0x0B] & GRB_EXT_WRITE) && (mode == 4 || mode == 5)) {
		expand_write(c, off, val, mode);
		return;
	}
	if (off < v->vram_size) {
		v->vram[off] = val;
		vga_mark_dirty_locked(v, off, 1);
	}
}

static uint8_t vram_read(struct cirrus_vga *c, uint32_t off)
{
	return off < c->vga->vram_size ? c->vga->vram[off] : 0xFF;
}

/* ---- the BitBLT engine's registers ---------------------------------------- */

static void blt_feed(struct cirrus_vga *c, uint8_t val);

static void blt_log(struct cirrus_vga *c, const struct cirrus_blt *b, const char *why)
{
	if (c->refusals < REFUSALS_LOGGED)
		warn("cirrus-vga: BitBLT refused: %s (%ux%u bytes, dst %#x pitch %u, src %#x pitch "
		     "%u, mode %#x, rop %#x)%s",
		     why, b->width, b->height, b->dst, b->dst_pitch, b->src, b->src_pitch, b->mode,
		     b->rop, c->refusals + 1 == REFUSALS_LOGGED ? "; further refusals not logged" : "");
	c->refusals++;
}

/* The BLT's end (or a reset): GR31 no longer busy, the CPU's writes go to
 * video memory again. */
static void blt_done(struct cirrus_vga *c)
{
	c->gr[0x31] &= (uint8_t)~(BLT_START | BLT_BUSY | BLT_FIFO_USED);
	if (c->sys_active) {
		c->sys_active = false;
		update_mapping(c);
	}
}

static struct cirrus_blt blt_decode(const struct cirrus_vga *c)
{
	const uint8_t *g = c->gr;
	struct cirrus_blt b = {
		.width = (g[0x20] | (uint32_t)g[0x21] << 8) + 1,
		.height = (g[0x22] | (uint32_t)g[0x23] << 8) + 1,
		.dst_pitch = g[0x24] | (uint32_t)g[0x25] << 8,
		.src_pitch = g[0x26] | (uint32_t)g[0x27] << 8,
		.dst = (g[0x28] | (uint32_t)g[0x29] << 8 | (uint32_t)g[0x2A] << 16) & c->addr_mask,
		.src = (g[0x2C] | (uint32_t)g[0x2D] << 8 | (uint32_t)g[0x2E] << 16) & c->addr_mask,
		.mode = g[0x30],
		.modeext = g[0x33],
		.rop = g[0x32],
		.skip = g[0x2F] & 7,
		.fg = c->shadow_gr1 | (uint32_t)g[0x11] << 8 | (uint32_t)g[0x13] << 16 |
		      (uint32_t)g[0x15] << 24,
		.bg = c->shadow_gr0 | (uint32_t)g[0x10] << 8 | (uint32_t)g[0x12] << 16 |
		      (uint32_t)g[0x14] << 24,
		.transparent = (uint16_t)(g[0x34] | g[0x35] << 8),
	};
	return b;
}

static void blt_start(struct cirrus_vga *c)
{
	struct cirrus_blt b = blt_decode(c);
	const char *why = NULL;
	uint32_t lo, hi, line;

	c->gr[0x31] |= BLT_BUSY;
	if (!c->blitter) {
		/* blitter=off: the start is ignored, as QEMU's */
	} else if (b.mode & CIRRUS_BLT_SYS_DEST) {
		blt_log(c, &b, "video-to-system BLTs are not supported");
	} else if ((b.mode & CIRRUS_BLT_SYS_SRC) && !cirrus_blt_is_fill(&b)) {
		if (cirrus_blt_sys_check(chip_memory(c), &b, &line, &why) == 0) {
			/* the CPU's writes to the window and BAR0 now feed it */
			c->sys = b;
			c->sys_line_bytes = line;
			c->sys_fill = c->sys_y = 0;
			c->sys_active = true;
			update_mapping(c);
			return;
		}
		blt_log(c, &b, why);
	} else if (cirrus_blt_run(core(c)->vram, chip_memory(c), &b, &why, &lo, &hi) == 0) {
		vga_mark_dirty_locked(core(c), lo, (uint64_t)hi - lo + 1);
	} else {
		blt_log(c, &b, why);
	}
	blt_done(c);
}

/* A byte of a system-to-screen BLT's source: a whole line draws it. */
static void blt_feed(struct cirrus_vga *c, uint8_t val)
{
	struct vga *v = core(c);
	const struct cirrus_blt *b = &c->sys;

	c->sys_buf[c->sys_fill++] = val;
	if (c->sys_fill < c->sys_line_bytes)
		return;
	c->sys_fill = 0;
	cirrus_blt_sys_line(v->vram, chip_memory(c), b, c->sys_y, c->sys_buf);
	if (cirrus_blt_sys_lines(b) == 1) {
		vga_mark_dirty_locked(v, b->dst, (uint64_t)(b->height - 1) * b->dst_pitch + b->width);
		blt_done(c);
		return;
	}
	vga_mark_dirty_locked(v, b->dst + (uint64_t)c->sys_y * b->dst_pitch, b->width);
	if (++c->sys_y == b->height)
		blt_done(c);
}

static void blt_control(struct cirrus_vga *c, uint8_t val)
{
	uint8_t old = c->gr[0x31];

	c->gr[0x31] = val;
	if ((old & BLT_RESET) && !(val & BLT_RESET))
		blt_done(c);
	else if (!(old & BLT_START) && (val & BLT_START))
		blt_start(c);
}

/* ---- the extended register files ----------------------------------------- */

static uint8_t gr_read(struct cirrus_vga *c, uint8_t i)
{
	if (i == 0)
		return c->shadow_gr0;
	if (i == 1)
		return c->shadow_gr1;
	if (i <= 8)
		return c->vga->gr[i];
	return i < 0x3A ? c->gr[i] : 0xFF;
}

static void gr_write(struct cirrus_vga *c, uint8_t i, uint8_t val)
{
	switch (i) {
	case 0x00:
		c->shadow_gr0 = val;
		c->vga->gr[0] = val & 0x0F;
		break;
	case 0x01:
		c->shadow_gr1 = val;
		c->vga->gr[1] = val & 0x0F;
		break;
	case 0x05:
		c->vga->gr[5] = val & 0x7F;
		update_mapping(c);
		break;
	case 0x09: case 0x0A: case 0x0B:
		c->gr[i] = val;
		update_mapping(c);
		break;
	case 0x10: case 0x11: case 0x12: case 0x13: case 0x14: case 0x15:
	case 0x20: case 0x22: case 0x24: case 0x26: case 0x28: case 0x29:
	case 0x2C: case 0x2D: case 0x2F: case 0x30: case 0x32: case 0x33:
	case 0x34: case 0x35: case 0x38: case 0x39:
		c->gr[i] = val;
		break;
	case 0x21: case 0x23: case 0x25: case 0x27:
		c->gr[i] = val & 0x1F; /* 13-bit width, height, pitches */
		break;
	case 0x2A:
		c->gr[i] = val & 0x3F; /* 22-bit addresses */
		if (c->gr[0x31] & BLT_AUTOSTART)
			blt_start(c);
		break;
	case 0x2E:
		c->gr[i] = val & 0x3F;
		break;
	case 0x31:
		blt_control(c, val);
		break;
	default:
		if (i >= 2 && i <= 8) {
			c->vga->gr[i] = val;
			update_mapping(c);
		}
		break; /* read-only or not there */
	}
}

static uint8_t sr_read(struct cirrus_vga *c, uint8_t i)
{
	if ((i & 0x1F) == 0x10 || (i & 0x1F) == 0x11)
		return c->sr[i & 0x1F]; /* the cursor position, any of its 8 aliases */
	return i < 0x20 ? c->sr[i] : 0xFF;
}

static void sr_write(struct cirrus_vga *c, uint8_t i, uint8_t val)
{
	/* SR10/SR11 are the cursor position's high bits; the index's bits
	 * 5-7 are its low three */
	if ((i & 0x1F) == 0x10) {
		c->sr[0x10] = val;
		c->cursor_x = (uint16_t)(val << 3 | i >> 5);
		return;
	}
	if ((i & 0x1F) == 0x11) {
		c->sr[0x11] = val;
		c->cursor_y = (uint16_t)(val << 3 | i >> 5);
		return;
	}
	switch (i) {
	case 0x06: /* the unlock key: reads back 0x12 when right, 0x0F otherwise */
		c->sr[6] = (val & 0x17) == 0x12 ? 0x12 : 0x0F;
		break;
	case 0x07:
		c->sr[7] = val;
		update_mapping(c);
		break;
	case 0x17: /* bits 3-5 are the bus type, read only */
		c->sr[0x17] = (uint8_t)((c->sr[0x17] & 0x38) | (val & 0xC7));
		update_mapping(c);
		break;
	default:
		if (i >= 0x08 && i < 0x20)
			c->sr[i] = val;
		break; /* SR5 and above SR1F: nothing */
	}
}

static uint8_t cr_read(struct cirrus_vga *c, uint8_t i)
{
	struct vga *v = core(c);

	switch (i) {
	case 0x19: case 0x1A: case 0x1B: case 0x1C: case 0x1D: case 0x25:
		return c->cr[i];
	case 0x22: /* the graphics data latch that GR4 selects */
		return (uint8_t)(v->latch >> (8 * (v->gr[4] & 3)));
	case 0x24: /* the attribute controller's flip-flop */
		return v->ar_flip ? 0x80 : 0;
	case 0x26:
		return v->ar_index & 0x3F;
	case 0x27:
		return CIRRUS_DEVICE_5446; /* the part ID: 0x2E << 2 */
	default:
		return 0xFF;
	}
}

static void cr_write(struct cirrus_vga *c, uint8_t i, uint8_t val)
{
	if (i >= 0x19 && i <= 0x1D)
		c->cr[i] = val;
}

/* The CRTC answers at 0x3B4/5 or 0x3D4/5 as misc bit 0 says. */
static bool crtc_port_active(const struct cirrus_vga *c, uint16_t port)
{
	bool colour = c->vga->misc & 0x01;
	return port >= 0x3D0 ? colour : !colour;
}

/* The DAC's data port while SR12 bit 1 gives it the 16 extra entries. */
static uint8_t hidden_palette_read(struct cirrus_vga *c)
{
	struct vga *v = core(c);
	uint8_t r = c->hidden_palette[(v->dac_read & 0x0F) * 3 + v->dac_sub % 3];
	if (++v->dac_sub >= 3) {
		v->dac_sub = 0;
		v->dac_read++;
	}
	return r;
}

static void hidden_palette_write(struct cirrus_vga *c, uint8_t val)
{
	struct vga *v = core(c);
	v->dac_cache[v->dac_sub % 3] = val;
	if (++v->dac_sub >= 3) {
		for (int k = 0; k < 3; k++)
			c->hidden_palette[(v->dac_write & 0x0F) * 3 + k] = v->dac_cache[k] & 0x3F;
		v->dac_sub = 0;
		v->dac_write++;
	}
}

static bool port_read_hook(void *opaque, uint16_t port, uint8_t *val)
{
	struct cirrus_vga *c = opaque;
	struct vga *v = core(c);

	switch (port) {
	case 0x3C4:
		*val = c->sr_index;
		return true;
	case 0x3C5:
		if (c->sr_index <= 4)
			return false;
		*val = sr_read(c, c->sr_index);
		return true;
	case 0x3C6:
		/* the fifth read in a row is the hidden DAC register */
		if (++c->mask_reads < 5)
			return false;
		c->mask_reads = 0;
		*val = c->hidden_dac;
		return true;
	case 0x3C7: case 0x3C8:
		c->mask_reads = 0;
		return false;
	case 0x3C9:
		c->mask_reads = 0;
		if (!(c->sr[0x12] & CURSOR_HIDDEN_PALETTE))
			return false;
		*val = hidden_palette_read(c);
		return true;
	case 0x3CE:
		*val = c->gr_index;
		return true;
	case 0x3CF:
		if (c->gr_index >= 2 && c->gr_index <= 8)
			return false;
		*val = gr_read(c, c->gr_index);
		return true;
	case 0x3B5: case 0x3D5:
		if (!crtc_port_active(c, port) || v->cr_index <= 0x18)
			return false;
		*val = cr_read(c, v->cr_index);
		return true;
	default:
		return false;
	}
}

static bool port_write_hook(void *opaque, uint16_t port, uint8_t val)
{
	struct cirrus_vga *c = opaque;
	struct vga *v = core(c);

	switch (port) {
	case 0x3C4:
		c->sr_index = val;
		return false; /* the core keeps its 3 bits too */
	case 0x3C5:
		if (c->sr_index <= 4)
			return false;
		sr_write(c, c->sr_index, val);
		return true;
	case 0x3C6:
		/* after four reads of the pixel mask, a write is the hidden DAC's */
		if (c->mask_reads == 4) {
			c->mask_reads = 0;
			c->hidden_dac = val;
			return true;
		}
		c->mask_reads = 0;
		return false;
	case 0x3C7: case 0x3C8:
		c->mask_reads = 0;
		return false;
	case 0x3C9:
		c->mask_reads = 0;
		if (!(c->sr[0x12] & CURSOR_HIDDEN_PALETTE))
			return false;
		hidden_palette_write(c, val);
		return true;
	case 0x3CE:
		c->gr_index = val;
		return false;
	case 0x3CF:
		if (c->gr_index >= 2 && c->gr_index <= 8 && c->gr_index != 5)
			return false;
		gr_write(c, c->gr_index, val);
		return true;
	case 0x3B5: case 0x3D5:
		if (!crtc_port_active(c, port) || v->cr_index <= 0x18)
			return false;
		cr_write(c, v->cr_index, val);
		return true;
	default:
		return false;
	}
}

/* ---- the window in extended modes ---------------------------------------- */

/* The BLT registers by their memory-mapped offset (BAR1 0x100 + offset,
 * 0xB8000 + offset, or the LFB's last 256 bytes): the GR register behind
 * each byte, -1 for none. */
static int blt_mmio_index(unsigned off)
{
	static const struct { uint8_t off, gr; } map[] = {
		{ 0x00, 0x00 }, { 0x01, 0x10 }, { 0x02, 0x12 }, { 0x03, 0x14 }, /* background */
		{ 0x04, 0x01 }, { 0x05, 0x11 }, { 0x06, 0x13 }, { 0x07, 0x15 }, /* foreground */
		{ 0x08, 0x20 }, { 0x09, 0x21 }, { 0x0A, 0x22 }, { 0x0B, 0x23 }, /* width, height */
		{ 0x0C, 0x24 }, { 0x0D, 0x25 }, { 0x0E, 0x26 }, { 0x0F, 0x27 }, /* pitches */
		{ 0x10, 0x28 }, { 0x11, 0x29 }, { 0x12, 0x2A },                 /* destination */
		{ 0x14, 0x2C }, { 0x15, 0x2D }, { 0x16, 0x2E },                 /* source */
		{ 0x17, 0x2F }, { 0x18, 0x30 }, { 0x1A, 0x32 }, { 0x1B, 0x33 }, /* mask, mode, ROP */
		{ 0x1C, 0x34 }, { 0x1D, 0x35 }, { 0x20, 0x38 }, { 0x21, 0x39 }, /* transparency */
		{ 0x40, 0x31 },                                                 /* start/status */
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (map[i].off == off)
			return map[i].gr;
	return -1;
}

static uint8_t blt_mmio_read(struct cirrus_vga *c, unsigned off)
{
	int i = blt_mmio_index(off);
	return i < 0 ? 0xFF : gr_read(c, (uint8_t)i);
}

static void blt_mmio_write(struct cirrus_vga *c, unsigned off, uint8_t val)
{
	int i = blt_mmio_index(off);
	if (i >= 0)
		gr_write(c, (uint8_t)i, val);
}

static bool mmio_at_b8000(const struct cirrus_vga *c)
{
	return (c->sr[0x17] & (SR17_MMIO | SR17_MMIO_LFB)) == SR17_MMIO;
}

/* The chip-memory offset window address 'addr' (< 0x10000) reaches. */
static bool window_offset(const struct cirrus_vga *c, uint32_t addr, uint32_t *off)
{
	uint32_t base, limit, in_bank = addr & 0x7FFF;

	bank_range(c, addr >> 15, &base, &limit);
	if (in_bank >= limit)
		return false;
	*off = scaled(c, base + in_bank);
	return true;
}

static bool mem_read_hook(void *opaque, uint32_t addr, uint8_t *val)
{
	struct cirrus_vga *c = opaque;
	uint32_t off;

	if (!extended(c))
		return false;
	if (addr < 0x10000)
		*val = window_offset(c, addr, &off) ? vram_read(c, off) : 0xFF;
	else if (addr >= 0x18000 && addr < 0x18100 && mmio_at_b8000(c))
		*val = blt_mmio_read(c, addr & 0xFF);
	else
		*val = 0xFF;
	return true;
}

static bool mem_write_hook(void *opaque, uint32_t addr, uint8_t val)
{
	struct cirrus_vga *c = opaque;
	uint32_t off;

	if (!extended(c))
		return false;
	if (addr < 0x10000) {
		if (c->sys_active)
			blt_feed(c, val);
		else if (window_offset(c, addr, &off))
			vram_write(c, off, val);
	} else if (addr >= 0x18000 && addr < 0x18100 && mmio_at_b8000(c)) {
		blt_mmio_write(c, addr & 0xFF, val);
	}
	return true;
}

/* ---- the picture ---------------------------------------------------------- */

/* Bits per pixel of an extended mode: SR7 bits 1-3, the hidden DAC
 * telling 5-6-5 from 5-5-5. */
static unsigned depth(const struct cirrus_vga *c)
{
	switch (c->sr[7] & 0x0E) {
	case 0x02:
	case 0x06:
		return (c->hidden_dac & 0x0F) == 1 ? 16 : 15;
	case 0x04:
		return 24;
	case 0x08:
		return 32;
	default:
		return 8;
	}
}

static bool regs_changed_hook(void *opaque)
{
	struct cirrus_vga *c = opaque;
	uint8_t now[sizeof(c->drawn)] = {
		c->sr[7], c->sr[0x12], c->sr[0x13], c->cr[0x1A], c->cr[0x1B], c->cr[0x1D],
		c->hidden_dac, (uint8_t)c->cursor_x, (uint8_t)(c->cursor_x >> 8),
		(uint8_t)c->cursor_y, (uint8_t)(c->cursor_y >> 8),
	};
	memcpy(now + 11, c->hidden_palette, sizeof(c->hidden_palette));
	bool changed = memcmp(now, c->drawn, sizeof(now)) != 0;
	memcpy(c->drawn, now, sizeof(now));
	return changed;
}

/* A 5- or 6-bit component widened to 8: the top bits copied into the
 * low ones, or (QEMU's picture while the hardware cursor is on, drawn
 * through its shadow surface) left zero. */
static unsigned widen(unsigned c, unsigned bits, bool fill)
{
	unsigned v = c << (8 - bits);
	return fill ? v | c >> (2 * bits - 8) : v;
}

static uint32_t pixel(const uint8_t *p, unsigned bpp, const uint32_t *rgb, bool fill)
{
	switch (bpp) {
	case 8:
		return rgb[p[0]];
	case 15: {
		unsigned v = p[0] | p[1] << 8;
		return widen((v >> 10) & 31, 5, fill) << 16 | widen((v >> 5) & 31, 5, fill) << 8 |
		       widen(v & 31, 5, fill);
	}
	case 16: {
		unsigned v = p[0] | p[1] << 8;
		return widen((v >> 11) & 31, 5, fill) << 16 | widen((v >> 5) & 63, 6, fill) << 8 |
		       widen(v & 31, 5, fill);
	}
	default: /* 24 and 32: B, G, R (, X) */
		return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
	}
}

/* The hardware cursor over one scan line: plane 0 and plane 1 bits of
 * each pixel say transparent (0, 0), inverted (1, 0), colour 0 (0, 1) or
 * colour 15 (1, 1) of the hidden palette. A 32x32 cursor's planes are 128
 * bytes apart, 4 bytes a row; a 64x64 one's rows are 16 bytes, plane 1 the
 * second 8. */
static void draw_cursor_line(struct cirrus_vga *c, uint32_t *dst, unsigned width, unsigned row)
{
	bool large = c->sr[0x12] & CURSOR_LARGE;
	unsigned size = large ? 64 : 32;
	uint32_t base = chip_memory(c) - CURSOR_AREA +
			(uint32_t)(c->sr[0x13] & (large ? 0x3C : 0x3F)) * 256;
	const uint8_t *p0 = c->vga->vram + base + row * (large ? 16 : 4);
	const uint8_t *p1 = p0 + (large ? 8 : 128);
	uint32_t colour0 = vga_dac_rgb6(c->hidden_palette), colour1 = vga_dac_rgb6(c->hidden_palette + 45);

	for (unsigned x = 0; x < size && c->cursor_x + x < width; x++) {
		unsigned b0 = (p0[x >> 3] >> (7 - (x & 7))) & 1, b1 = (p1[x >> 3] >> (7 - (x & 7))) & 1;
		uint32_t *d = dst + c->cursor_x + x;
		if (b0 && !b1)
			*d ^= 0xFFFFFF;
		else if (b1)
			*d = b0 ? colour1 : colour0;
	}
}

struct geometry {
	unsigned width, height, bpp, repeat, line_compare;
	uint32_t start, pitch;
};

static struct geometry geometry(const struct cirrus_vga *c)
{
	const struct vga *v = c->vga;
	struct geometry g;

	g.bpp = depth(c);
	g.width = (v->cr[1] + 1u) * 8;
	g.height = (v->cr[0x12] | (v->cr[7] & 0x02) << 7 | (v->cr[7] & 0x40) << 3) + 1u;
	if (c->cr[0x1A] & 0x01) /* interlaced: each field is half the frame */
		g.height *= 2;
	g.pitch = (v->cr[0x13] | (c->cr[0x1B] & 0x10) << 4) * 8u;
	/* the start address counts dwords: CR0C/CR0D, CR1B bits 0, 2, 3, CR1D bit 7 */
	g.start = ((uint32_t)v->cr[0x0C] << 8 | v->cr[0x0D] | (c->cr[0x1B] & 0x01) << 16 |
		   (c->cr[0x1B] & 0x0C) << 15 | (c->cr[0x1D] & 0x80) << 12) * 4;
	g.repeat = ((v->cr[9] & 0x1Fu) + 1) << (v->cr[9] >> 7);
	g.line_compare = v->cr[0x18] | (v->cr[7] & 0x10) << 4 | (v->cr[9] & 0x40) << 3;
	return g;
}

static bool draw_hook(void *opaque, struct display_surface *s, bool full)
{
	struct cirrus_vga *c = opaque;
	struct vga *v = core(c);

	/* the 256-colour shift mode of an extended mode; anything else is
	 * the core's */
	if (!extended(c) || ((v->gr[5] >> 5) & 3) < 2)
		return false;
	struct geometry g = geometry(c);
	unsigned Bpp = (g.bpp + 7) / 8;
	bool cursor = c->sr[0x12] & CURSOR_SHOW;
	unsigned csize = (c->sr[0x12] & CURSOR_LARGE) ? 64 : 32;
	bool cursor_dirty = cursor && vga_vram_dirty_locked(v, chip_memory(c) - CURSOR_AREA, CURSOR_AREA);
	uint32_t rgb[256];

	if (display_set_mode(s, DISPLAY_GRAPHICS, g.width, g.height, 0, 0) < 0)
		return true;
	for (unsigned i = 0; i < 256 && g.bpp == 8; i++)
		rgb[i] = vga_dac_rgb6(v->palette + (i & v->dac_mask) * 3);
	uint64_t addr = g.start, len = (uint64_t)g.width * Bpp;
	for (unsigned y = 0, sub = 0; y < g.height; y++) {
		if (y == g.line_compare) {
			addr = 0;
			sub = 0;
		}
		bool fits = addr + len <= v->vram_size;
		bool in_cursor = cursor && y >= c->cursor_y && y < c->cursor_y + csize;
		if (full || (fits && vga_vram_dirty_locked(v, addr, len)) || (in_cursor && cursor_dirty)) {
			uint32_t *dst = s->pixels + (size_t)y * s->width;
			if (fits)
				for (unsigned x = 0; x < g.width; x++)
					dst[x] = pixel(v->vram + addr + (uint64_t)x * Bpp, g.bpp, rgb,
						       !cursor);
			else
				memset(dst, 0, (size_t)g.width * 4);
			if (in_cursor)
				draw_cursor_line(c, dst, g.width, y - c->cursor_y);
			display_mark_dirty(s, 0, y, g.width, 1);
		}
		if (++sub >= g.repeat) {
			sub = 0;
			addr += g.pitch;
		}
	}
	return true;
}

static const struct vga_ext_ops cirrus_ext_ops = {
	.port_read = port_read_hook,
	.port_write = port_write_hook,
	.mem_read = mem_read_hook,
	.mem_write = mem_write_hook,
	.window = window_hook,
	.regs_changed = regs_changed_hook,
	.draw = draw_hook,
};

/* ---- BAR0 and BAR1 -------------------------------------------------------- */

static uint8_t lfb_read_byte(struct cirrus_vga *c, uint64_t off)
{
	if (off >= CIRRUS_BLT_APERTURE || off >= c->vga->vram_size)
		return 0xFF; /* the BLT aperture reads nothing */
	uint32_t a = (uint32_t)off & c->addr_mask;
	if ((c->sr[0x17] & (SR17_MMIO | SR17_MMIO_LFB)) == (SR17_MMIO | SR17_MMIO_LFB) &&
	    a >= chip_memory(c) - 256)
		return blt_mmio_read(c, a & 0xFF);
	return vram_read(c, scaled(c, (uint32_t)off));
}

static void lfb_write_byte(struct cirrus_vga *c, uint64_t off, uint8_t val)
{
	if (off >= CIRRUS_BLT_APERTURE) {
		if (off < CIRRUS_BLT_APERTURE + CHIP_MEMORY && c->sys_active)
			blt_feed(c, val);
		return;
	}
	if (off >= c->vga->vram_size)
		return;
	uint32_t a = (uint32_t)off & c->addr_mask;
	if ((c->sr[0x17] & (SR17_MMIO | SR17_MMIO_LFB)) == (SR17_MMIO | SR17_MMIO_LFB) &&
	    a >= chip_memory(c) - 256)
		blt_mmio_write(c, a & 0xFF, val);
	else if (c->sys_active)
		blt_feed(c, val);
	else
		vram_write(c, scaled(c, (uint32_t)off), val);
}

uint64_t cirrus_vga_lfb_read(struct cirrus_vga *c, uint64_t off, unsigned size)
{
	uint64_t r = 0;
	pthread_mutex_lock(&c->vga->lock);
	for (unsigned i = 0; i < size; i++)
		r |= (uint64_t)lfb_read_byte(c, off + i) << (8 * i);
	pthread_mutex_unlock(&c->vga->lock);
	return r;
}

void cirrus_vga_lfb_write(struct cirrus_vga *c, uint64_t off, uint64_t val, unsigned size)
{
	pthread_mutex_lock(&c->vga->lock);
	for (unsigned i = 0; i < size; i++)
		lfb_write_byte(c, off + i, (uint8_t)(val >> (8 * i)));
	pthread_mutex_unlock(&c->vga->lock);
}

/* BAR1: the ports 0x3C0-0x3DF at 0x000, the BLT registers at 0x100. */
uint64_t cirrus_vga_mmio_read(struct cirrus_vga *c, uint64_t off, unsigned size)
{
	uint64_t r = 0;
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = 0xFF;
		if (o < 0x20) {
			b = vga_port_read(c->vga, (uint16_t)(0x3C0 + o));
		} else if (o >= CIRRUS_MMIO_BLT && o < CIRRUS_MMIO_BLT + 0x100) {
			pthread_mutex_lock(&c->vga->lock);
			b = blt_mmio_read(c, (unsigned)(o - CIRRUS_MMIO_BLT));
			pthread_mutex_unlock(&c->vga->lock);
		}
		r |= (uint64_t)b << (8 * i);
	}
	return r;
}

void cirrus_vga_mmio_write(struct cirrus_vga *c, uint64_t off, uint64_t val, unsigned size)
{
	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		if (o < 0x20) {
			vga_port_write(c->vga, (uint16_t)(0x3C0 + o), b);
		} else if (o >= CIRRUS_MMIO_BLT && o < CIRRUS_MMIO_BLT + 0x100) {
			pthread_mutex_lock(&c->vga->lock);
			blt_mmio_write(c, (unsigned)(o - CIRRUS_MMIO_BLT), b);
			pthread_mutex_unlock(&c->vga->lock);
		}
	}
}

static uint64_t lfb_ops_read(void *opaque, uint64_t off, unsigned size)
{
	return cirrus_vga_lfb_read(opaque, off, size);
}

static void lfb_ops_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	cirrus_vga_lfb_write(opaque, off, val, size);
}

static const struct io_ops lfb_ops = {
	.read = lfb_ops_read, .write = lfb_ops_write, .min_size = 1, .max_size = 8,
};

static uint64_t mmio_ops_read(void *opaque, uint64_t off, unsigned size)
{
	return cirrus_vga_mmio_read(opaque, off, size);
}

static void mmio_ops_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	cirrus_vga_mmio_write(opaque, off, val, size);
}

static const struct io_ops mmio_ops = {
	.read = mmio_ops_read, .write = mmio_ops_write, .min_size = 1, .max_size = 4,
};

static void bar_moved(struct pci_device *d, int bar, uint64_t addr)
{
	struct cirrus_vga *c = d->opaque;

	if (bar != 0)
		return;
	pthread_mutex_lock(&c->vga->lock);
	c->bar0 = addr == PCI_BAR_UNMAPPED ? UINT64_MAX : addr;
	update_lfb(c);
	pthread_mutex_unlock(&c->vga->lock);
}

/* ---- life cycle ------------------------------------------------------------ */

/* Power-on values, as QEMU's 5446: 4 MiB of 64-bit memory (SR0F, SR15),
 * PCI bus (SR17), memory clock (SR1F), fastest memory timing (GR18). */
static void ext_reset_locked(struct cirrus_vga *c)
{
	c->sr_index = c->gr_index = 0;
	memset(c->sr, 0, sizeof(c->sr));
	memset(c->gr, 0, sizeof(c->gr));
	memset(c->cr, 0, sizeof(c->cr));
	c->sr[0x06] = 0x0F;
	c->sr[0x0F] = 0x98;
	c->sr[0x15] = 0x04;
	c->sr[0x17] = 0x20;
	c->sr[0x1F] = 0x2D;
	c->gr[0x18] = 0x0F;
	c->shadow_gr0 = c->shadow_gr1 = 0;
	c->hidden_dac = 0;
	c->mask_reads = 0;
	memset(c->hidden_palette, 0, sizeof(c->hidden_palette));
	c->cursor_x = c->cursor_y = 0;
	c->sys_active = false;
	c->sys_fill = c->sys_y = c->sys_line_bytes = 0;
	update_mapping(c);
}

void cirrus_vga_reset(struct cirrus_vga *c)
{
	vga_reset(c->vga);
	pthread_mutex_lock(&c->vga->lock);
	ext_reset_locked(c);
	pthread_mutex_unlock(&c->vga->lock);
}

struct cirrus_vga *cirrus_vga_create(struct pci_bus *bus, uint8_t devfn,
				     const struct vga_config *cfg, const uint8_t *rom,
				     size_t rom_len)
{
	uint32_t mb = cfg->vram_size >> 20;

	if ((cfg->vram_size & ((1u << 20) - 1)) || (mb != 4 && mb != 8 && mb != 16))
		return NULL;
	struct vga_config vc = *cfg;
	vc.legacy = true;
	vc.no_vbe = true;
	struct cirrus_vga *c = xzalloc(sizeof(*c));
	c->vga = vga_create(&vc);
	if (!c->vga) {
		free(c);
		return NULL;
	}
	c->addr_mask = MIN(cfg->vram_size, CHIP_MEMORY) - 1;
	c->blitter = true;
	c->bar0 = c->lfb_at = UINT64_MAX;
	pthread_mutex_lock(&c->vga->lock);
	c->vga->ext = &cirrus_ext_ops;
	c->vga->ext_opaque = c;
	ext_reset_locked(c);
	pthread_mutex_unlock(&c->vga->lock);

	struct pci_device *d = &c->pci;
	pci_device_init(d, "cirrus-vga", CIRRUS_VENDOR, CIRRUS_DEVICE_5446, 0x030000, 0);
	d->opaque = c;
	d->bar_moved = bar_moved;
	pci_device_set_bar(d, 0, PCI_BAR_MEM32, true, CIRRUS_BAR0_SIZE, &lfb_ops, c);
	pci_device_set_bar(d, 1, PCI_BAR_MEM32, false, CIRRUS_MMIO_SIZE, &mmio_ops, c);
	if (rom && rom_len) {
		c->rom = xzalloc(rom_len);
		memcpy(c->rom, rom, rom_len);
		pci_device_set_rom(d, c->rom, rom_len);
	}
	if (pci_register(bus, d, devfn) < 0) {
		cirrus_vga_destroy(c);
		return NULL;
	}
	return c;
}

void cirrus_vga_destroy(struct cirrus_vga *c)
{
	if (!c)
		return;
	vga_destroy(c->vga);
	pci_device_release(&c->pci);
	free(c->rom);
	free(c);
}

/* ---- saved state ------------------------------------------------------------ */

static void put_blt(struct ss_writer *w, const struct cirrus_blt *b)
{
	ss_put_u32(w, "blt.width", b->width);
	ss_put_u32(w, "blt.height", b->height);
	ss_put_u32(w, "blt.dst_pitch", b->dst_pitch);
	ss_put_u32(w, "blt.src_pitch", b->src_pitch);
	ss_put_u32(w, "blt.dst", b->dst);
	ss_put_u32(w, "blt.src", b->src);
	ss_put_u8(w, "blt.mode", b->mode);
	ss_put_u8(w, "blt.modeext", b->modeext);
	ss_put_u8(w, "blt.rop", b->rop);
	ss_put_u8(w, "blt.skip", b->skip);
	ss_put_u32(w, "blt.fg", b->fg);
	ss_put_u32(w, "blt.bg", b->bg);
	ss_put_u16(w, "blt.transparent", b->transparent);
}

static void get_blt(struct ss_reader *r, struct cirrus_blt *b)
{
	ss_get_u32(r, "blt.width", &b->width);
	ss_get_u32(r, "blt.height", &b->height);
	ss_get_u32(r, "blt.dst_pitch", &b->dst_pitch);
	ss_get_u32(r, "blt.src_pitch", &b->src_pitch);
	ss_get_u32(r, "blt.dst", &b->dst);
	ss_get_u32(r, "blt.src", &b->src);
	ss_get_u8(r, "blt.mode", &b->mode);
	ss_get_u8(r, "blt.modeext", &b->modeext);
	ss_get_u8(r, "blt.rop", &b->rop);
	ss_get_u8(r, "blt.skip", &b->skip);
	ss_get_u32(r, "blt.fg", &b->fg);
	ss_get_u32(r, "blt.bg", &b->bg);
	ss_get_u16(r, "blt.transparent", &b->transparent);
}

void cirrus_vga_save(struct cirrus_vga *c, struct ss_writer *w, uint32_t instance)
{
	ss_section_begin(w, "cirrus-vga", instance, CIRRUS_PCI_STATE_VERSION);
	pci_config_put(w, &c->pci);
	ss_section_end(w);
	vga_save(c->vga, w, instance);

	pthread_mutex_lock(&c->vga->lock);
	ss_section_begin(w, "cirrus", instance, CIRRUS_STATE_VERSION);
	ss_put_u8(w, "sr_index", c->sr_index);
	ss_put_u8(w, "gr_index", c->gr_index);
	ss_put_bytes(w, "sr", c->sr, sizeof(c->sr));
	ss_put_bytes(w, "gr", c->gr, sizeof(c->gr));
	ss_put_bytes(w, "cr", c->cr, sizeof(c->cr));
	ss_put_u8(w, "shadow_gr0", c->shadow_gr0);
	ss_put_u8(w, "shadow_gr1", c->shadow_gr1);
	ss_put_u8(w, "hidden_dac", c->hidden_dac);
	ss_put_u8(w, "mask_reads", c->mask_reads);
	ss_put_bytes(w, "hidden_palette", c->hidden_palette, sizeof(c->hidden_palette));
	ss_put_u16(w, "cursor_x", c->cursor_x);
	ss_put_u16(w, "cursor_y", c->cursor_y);
	ss_put_bool(w, "sys_active", c->sys_active);
	put_blt(w, &c->sys);
	ss_put_u32(w, "sys_line_bytes", c->sys_line_bytes);
	ss_put_u32(w, "sys_fill", c->sys_fill);
	ss_put_u32(w, "sys_y", c->sys_y);
	ss_put_bytes(w, "sys_buf", c->sys_buf, sizeof(c->sys_buf));
	ss_section_end(w);
	pthread_mutex_unlock(&c->vga->lock);
}

/* The stream is hostile: every value is brought back to what the guest's
 * own writes could have made, and a BLT in progress is checked again as
 * at its start. */
static bool check_loaded(struct cirrus_vga *c, struct cirrus_vga *n, struct ss_reader *r)
{
	static const uint8_t masked[] = { 0x21, 0x23, 0x25, 0x27 };
	uint32_t line = 0;

	for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
		n->gr[masked[i]] &= 0x1F;
	n->gr[0x2A] &= 0x3F;
	n->gr[0x2E] &= 0x3F;
	if (n->mask_reads > 4)
		n->mask_reads = 0;
	for (size_t i = 0; i < sizeof(n->hidden_palette); i++)
		n->hidden_palette[i] &= 0x3F;
	n->cursor_x &= 0x7FF;
	n->cursor_y &= 0x7FF;
	if (!n->sys_active)
		return true;
	if (cirrus_blt_sys_check(chip_memory(c), &n->sys, &line, NULL) < 0 ||
	    line != n->sys_line_bytes || n->sys_fill >= line ||
	    n->sys_y >= cirrus_blt_sys_lines(&n->sys))
		return ss_fail(r, "cirrus: the BLT in progress is out of bounds");
	return true;
}

bool cirrus_vga_load(struct cirrus_vga *c, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256];

	if (!ss_section_open(r, "cirrus-vga", instance, 1, CIRRUS_PCI_STATE_VERSION, NULL))
		return false;
	pci_config_get(r, &c->pci, cfg);
	if (!ss_section_close(r))
		return false;
	pci_config_apply(&c->pci, cfg);
	if (!vga_load(c->vga, r, instance))
		return false;
	if (!ss_section_open(r, "cirrus", instance, 1, CIRRUS_STATE_VERSION, NULL))
		return false;
	struct cirrus_vga *n = xzalloc(sizeof(*n));
	ss_get_u8(r, "sr_index", &n->sr_index);
	ss_get_u8(r, "gr_index", &n->gr_index);
	ss_get_bytes(r, "sr", n->sr, sizeof(n->sr));
	ss_get_bytes(r, "gr", n->gr, sizeof(n->gr));
	ss_get_bytes(r, "cr", n->cr, sizeof(n->cr));
	ss_get_u8(r, "shadow_gr0", &n->shadow_gr0);
	ss_get_u8(r, "shadow_gr1", &n->shadow_gr1);
	ss_get_u8(r, "hidden_dac", &n->hidden_dac);
	ss_get_u8(r, "mask_reads", &n->mask_reads);
	ss_get_bytes(r, "hidden_palette", n->hidden_palette, sizeof(n->hidden_palette));
	ss_get_u16(r, "cursor_x", &n->cursor_x);
	ss_get_u16(r, "cursor_y", &n->cursor_y);
	ss_get_bool(r, "sys_active", &n->sys_active);
	get_blt(r, &n->sys);
	ss_get_u32(r, "sys_line_bytes", &n->sys_line_bytes);
	ss_get_u32(r, "sys_fill", &n->sys_fill);
	ss_get_u32(r, "sys_y", &n->sys_y);
	ss_get_bytes(r, "sys_buf", n->sys_buf, sizeof(n->sys_buf));
	bool ok = ss_ok(r) && check_loaded(c, n, r) && ss_section_close(r);
	if (ok) {
		pthread_mutex_lock(&c->vga->lock);
		c->sr_index = n->sr_index;
		c->gr_index = n->gr_index;
		memcpy(c->sr, n->sr, sizeof(c->sr));
		memcpy(c->gr, n->gr, sizeof(c->gr));
		memcpy(c->cr, n->cr, sizeof(c->cr));
		c->shadow_gr0 = n->shadow_gr0;
		c->shadow_gr1 = n->shadow_gr1;
		c->hidden_dac = n->hidden_dac;
		c->mask_reads = n->mask_reads;
		memcpy(c->hidden_palette, n->hidden_palette, sizeof(c->hidden_palette));
		c->cursor_x = n->cursor_x;
		c->cursor_y = n->cursor_y;
		c->sys_active = n->sys_active;
		c->sys = n->sys;
		c->sys_line_bytes = n->sys_line_bytes;
		c->sys_fill = n->sys_fill;
		c->sys_y = n->sys_y;
		memcpy(c->sys_buf, n->sys_buf, sizeof(c->sys_buf));
		c->vga->full_update = true;
		update_mapping(c);
		pthread_mutex_unlock(&c->vga->lock);
	}
	free(n);
	return ok;
}
