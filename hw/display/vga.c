// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VGA core and Bochs VBE (include/hw/vga.h): registers, planar memory,
 * the window's RAM mapping, and the renderer into the display surface.
 * Register facts are from IBM's VGA technical reference and the Bochs
 * dispi interface as SeaBIOS's vgabios drives it.
 */
#include "hw/vga.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "event.h"
#include "savestate.h"
#include "util.h"

#define PAGE 4096u
/* 2: registers only, the video memory goes as a RAM block of the migration
 * stream (include/guest_mem.h); 1 (still loaded): the memory inside. */
#define VGA_STATE_VERSION 2
#define REFRESH_NS (33 * 1000 * 1000)
#define PLANAR_SPAN 0x10000u  /* planar offsets the window reaches (64 KiB x 4 planes) */
#define FONT_BYTES (PLANAR_SPAN) /* plane 2 of every planar offset: the 8 font maps */

/* Port numbers, colour and mono. */
#define P_AR_INDEX 0x3C0
#define P_AR_READ 0x3C1
#define P_MISC_WRITE 0x3C2 /* read: input status 0 */
#define P_SR_INDEX 0x3C4
#define P_SR_DATA 0x3C5
#define P_DAC_MASK 0x3C6
#define P_DAC_READ_INDEX 0x3C7 /* read: DAC state */
#define P_DAC_WRITE_INDEX 0x3C8
#define P_DAC_DATA 0x3C9
#define P_FCR_READ 0x3CA
#define P_MISC_READ 0x3CC
#define P_GR_INDEX 0x3CE
#define P_GR_DATA 0x3CF
#define P_CR_INDEX_MONO 0x3B4
#define P_CR_DATA_MONO 0x3B5
#define P_ST1_MONO 0x3BA
#define P_CR_INDEX 0x3D4
#define P_CR_DATA 0x3D5
#define P_ST1 0x3DA

#define ST01_RETRACE 0x08
#define ST01_DISP_ENABLE 0x01

/* A byte repeated in each plane that 'planes' (4 bits) selects. */
static uint32_t plane_mask(unsigned planes)
{
	uint32_t m = 0;
	for (unsigned p = 0; p < 4; p++)
		if (planes & (1u << p))
			m |= 0xFFu << (8 * p);
	return m;
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void vga_mark_dirty_locked(struct vga *v, uint64_t off, uint64_t len)
{
	if (!len || off >= v->vram_size)
		return;
	len = MIN(len, v->vram_size - off);
	for (uint64_t p = off / PAGE; p <= (off + len - 1) / PAGE; p++) {
		v->dirty[p / 64] |= 1ull << (p % 64);
		if (v->mig_dirty)
			v->mig_dirty[p / 64] |= 1ull << (p % 64);
	}
}

void vga_mark_vram_dirty(struct vga *v, uint64_t offset, uint64_t len)
{
	pthread_mutex_lock(&v->lock);
	vga_mark_dirty_locked(v, offset, len);
	pthread_mutex_unlock(&v->lock);
}

static bool vbe_enabled(const struct vga *v)
{
	return v->vbe[VBE_ENABLE] & VBE_ENABLED;
}

/* ---- dirty logs of the RAM-backed regions ------------------------------ */

/* Moves a logged region's dirty bits into the core's bitmap; 'vram_off'
 * is the VRAM offset of the region's first byte. */
static void harvest(struct vga *v, struct mem_region *r, uint64_t vram_off)
{
	uint64_t pages = mem_region_pages(r);

	if (!r->log_dirty || mem_region_get_dirty(r, v->scratch, pages) < 0)
		return;
	for (uint64_t i = 0; i < pages; i++)
		if (v->scratch[i / 64] & (1ull << (i % 64)))
			vga_mark_dirty_locked(v, vram_off + i * PAGE, PAGE);
}

static void harvest_all(struct vga *v)
{
	for (int i = 0; i < 2; i++)
		if (v->win_added && v->win_offset[i] >= 0)
			harvest(v, &v->win[i], (uint64_t)v->win_offset[i]);
	if (v->lfb_added)
		harvest(v, &v->lfb, 0);
}

/* ---- the video memory as a RAM block of migration ---------------------- */

/* KVM keeps one dirty log per slot, and harvest() hands it to one bitmap
 * per consumer: the display's (cleared at each refresh) and, while a
 * migration logs the block, migration's (cleared when it takes it). Every
 * VRAM write, through a slot or through the device, goes through
 * vga_mark_dirty_locked, so each consumer sees every page. */
static void migration_log(void *opaque, bool on)
{
	struct vga *v = opaque;
	size_t words = (v->vram_size / PAGE + 63) / 64;

	pthread_mutex_lock(&v->lock);
	if (on && !v->mig_dirty)
		v->mig_dirty = xzalloc(words * sizeof(uint64_t));
	if (!on) {
		free(v->mig_dirty);
		v->mig_dirty = NULL;
	}
	pthread_mutex_unlock(&v->lock);
}

static void migration_take_dirty(void *opaque, uint64_t *bits)
{
	struct vga *v = opaque;
	size_t words = (v->vram_size / PAGE + 63) / 64;

	pthread_mutex_lock(&v->lock);
	harvest_all(v);
	for (size_t i = 0; v->mig_dirty && i < words; i++) {
		bits[i] |= v->mig_dirty[i];
		v->mig_dirty[i] = 0;
	}
	pthread_mutex_unlock(&v->lock);
}

static bool register_ram(struct vga *v, struct guest_mem *mem, const char *name)
{
	struct named_ram r = {
		.hva = v->vram, .size = v->vram_size, .log = migration_log,
		.take_dirty = migration_take_dirty, .opaque = v,
	};

	if (!name || strlen(name) >= sizeof(r.name))
		return false;
	memcpy(r.name, name, strlen(name) + 1);
	if (guest_mem_add_named(mem, &r) < 0)
		return false;
	v->mem = mem;
	return true;
}

/* ---- the window as the graphics controller maps it --------------------- */

static bool chain4(const struct vga *v)
{
	return v->sr[4] & 0x08;
}

/* The offset in the memory map that address 'addr' (from 0xA0000)
 * reaches, or -1 where the map does not decode it; 'banked': plus the VBE
 * bank, which only chain-4 accesses use. */
static int64_t window_addr(const struct vga *v, uint32_t addr, bool banked)
{
	switch ((v->gr[6] >> 2) & 3) {
	case 0:
		return addr;
	case 1:
		if (addr >= 0x10000)
			return -1;
		return (int64_t)addr + (banked ? v->bank_offset : 0);
	case 2:
		return addr >= 0x10000 && addr < 0x18000 ? (int64_t)addr - 0x10000 : -1;
	default:
		return addr >= 0x18000 ? (int64_t)addr - 0x18000 : -1;
	}
}

/* Which VRAM offset each 64 KiB half of the window should show as RAM
 * (-1: trapped). RAM only where a plain store is what the model does:
 * chain-4 with every plane enabled, a map at 0xA0000. */
static void wanted_window(const struct vga *v, int32_t want[2])
{
	want[0] = want[1] = -1;
	if (v->ext && v->ext->window && v->ext->window(v->ext_opaque, want))
		return;
	if (!v->legacy || !chain4(v) || (v->sr[2] & 0x0F) != 0x0F)
		return;
	unsigned map = (v->gr[6] >> 2) & 3;
	if (map == 1 && v->bank_offset + 0x10000ull <= v->vram_size)
		want[0] = (int32_t)v->bank_offset;
	if (map == 0 && 0x20000 <= v->vram_size) {
		want[0] = 0;
		want[1] = 0x10000;
	}
}

/* Switches the window halves between RAM and trapped after a register
 * write that may change the mapping. The dirty bits of a half are taken
 * before it moves, while they still mean its old offset. */
void vga_update_window_locked(struct vga *v)
{
	int32_t want[2];

	if (!v->win_added)
		return;
	wanted_window(v, want);
	for (int i = 0; i < 2; i++) {
		if (want[i] == v->win_offset[i])
			continue;
		if (v->win_offset[i] >= 0)
			harvest(v, &v->win[i], (uint64_t)v->win_offset[i]);
		/* a half KVM refuses stays trapped: slower, still right */
		if (want[i] >= 0 && (mem_region_set_ram(&v->win[i], v->vram + want[i], false) < 0 ||
				     mem_region_set_enabled(&v->win[i], true) < 0))
			want[i] = -1;
		if (want[i] < 0)
			mem_region_set_enabled(&v->win[i], false);
		v->win_offset[i] = want[i];
	}
}

/* ---- memory reads and writes ------------------------------------------- */

static uint8_t rotate_right(uint8_t val, unsigned n)
{
	n &= 7;
	return (uint8_t)((val >> n) | (val << ((8 - n) & 7)));
}

/* The graphics controller's write path for write modes 0-3: data from the
 * CPU byte, set/reset and the latches, the logical operation, the bit
 * mask. Returns the 32-bit value for the four planes. */
static uint32_t planar_write_value(struct vga *v, uint8_t val)
{
	unsigned mode = v->gr[5] & 3;
	uint32_t data, bitmask = v->gr[8];

	switch (mode) {
	case 0: {
		uint8_t r = rotate_right(val, v->gr[3] & 7);
		uint32_t sr_planes = plane_mask(v->gr[1] & 0x0F);
		data = (r * 0x01010101u & ~sr_planes) | (plane_mask(v->gr[0] & 0x0F) & sr_planes);
		break;
	}
	case 1:
		return v->latch;
	case 2:
		data = plane_mask(val & 0x0F);
		break;
	default: {
		uint8_t r = rotate_right(val, v->gr[3] & 7);
		bitmask &= r;
		data = plane_mask(v->gr[0] & 0x0F);
		break;
	}
	}
	switch ((v->gr[3] >> 3) & 3) {
	case 1:
		data &= v->latch;
		break;
	case 2:
		data |= v->latch;
		break;
	case 3:
		data ^= v->latch;
		break;
	}
	bitmask *= 0x01010101u;
	return (data & bitmask) | (v->latch & ~bitmask);
}

/* The plain VGA's path (a card's extension hook comes first). */
static uint8_t std_mem_read_locked(struct vga *v, uint32_t addr)
{
	if (!v->legacy || addr >= VGA_WINDOW_SIZE)
		return 0xFF;
	if (chain4(v)) {
		int64_t off = window_addr(v, addr, true);
		return off >= 0 && off < v->vram_size ? v->vram[off] : 0xFF;
	}
	int64_t woff = window_addr(v, addr, false);
	if (woff < 0)
		return 0xFF;
	uint32_t a = (uint32_t)woff;
	if (v->gr[5] & 0x10) {
		/* odd/even: the low bit picks plane 0/1 (2/3 with GR4 bit 1) */
		unsigned plane = (v->gr[4] & 2) | (a & 1);
		uint64_t i = (uint64_t)(a >> 1) * 4 + plane;
		return i < v->vram_size ? v->vram[i] : 0xFF;
	}
	uint64_t base = (uint64_t)a * 4;
	if (base + 4 > v->vram_size)
		return 0xFF;
	v->latch = load32(v->vram + base);
	if (!(v->gr[5] & 0x08))
		return (uint8_t)(v->latch >> (8 * (v->gr[4] & 3)));
	/* read mode 1: 1 where every plane the colour don't-care selects
	 * matches the colour compare */
	uint32_t care = plane_mask(v->gr[7] & 0x0F);
	uint32_t diff = (v->latch ^ plane_mask(v->gr[2] & 0x0F)) & care;
	uint8_t any = (uint8_t)(diff | diff >> 8 | diff >> 16 | diff >> 24);
	return (uint8_t)~any;
}

/* The plain VGA's path (a card's extension hook comes first). */
static void std_mem_write_locked(struct vga *v, uint32_t addr, uint8_t val)
{
	if (!v->legacy || addr >= VGA_WINDOW_SIZE)
		return;
	if (chain4(v)) {
		int64_t off = window_addr(v, addr, true);
		if (off < 0 || off >= v->vram_size || !(v->sr[2] & (1u << (off & 3))))
			return;
		v->vram[off] = val;
		vga_mark_dirty_locked(v, (uint64_t)off, 1);
		return;
	}
	int64_t woff = window_addr(v, addr, false);
	if (woff < 0)
		return;
	uint32_t a = (uint32_t)woff;
	if (!(v->sr[4] & 0x04)) {
		/* odd/even addressing (SR4 bit 2 clear) */
		unsigned plane = (v->gr[4] & 2) | (a & 1);
		uint64_t i = (uint64_t)(a >> 1) * 4 + plane;
		if (!(v->sr[2] & (1u << plane)) || i >= v->vram_size)
			return;
		v->vram[i] = val;
		vga_mark_dirty_locked(v, i, 1);
		return;
	}
	uint64_t base = (uint64_t)a * 4;
	if (base + 4 > v->vram_size)
		return;
	uint32_t value = planar_write_value(v, val);
	uint32_t enable = plane_mask(v->sr[2] & 0x0F);
	uint32_t old = load32(v->vram + base);
	store32(v->vram + base, (old & ~enable) | (value & enable));
	vga_mark_dirty_locked(v, base, 4);
}

static uint8_t mem_read_locked(struct vga *v, uint32_t addr)
{
	uint8_t val;
	if (v->ext && v->ext->mem_read && v->ext->mem_read(v->ext_opaque, addr, &val))
		return val;
	return std_mem_read_locked(v, addr);
}

static void mem_write_locked(struct vga *v, uint32_t addr, uint8_t val)
{
	if (v->ext && v->ext->mem_write && v->ext->mem_write(v->ext_opaque, addr, val))
		return;
	std_mem_write_locked(v, addr, val);
}

uint8_t vga_mem_read(struct vga *v, uint32_t addr)
{
	pthread_mutex_lock(&v->lock);
	uint8_t r = mem_read_locked(v, addr);
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vga_mem_write(struct vga *v, uint32_t addr, uint8_t val)
{
	pthread_mutex_lock(&v->lock);
	mem_write_locked(v, addr, val);
	pthread_mutex_unlock(&v->lock);
}

/* ---- register ports ----------------------------------------------------- */

static bool colour_ports(const struct vga *v)
{
	return v->misc & 0x01;
}

/* The CRTC and status-1 ports answer only at the address misc bit 0 picks. */
static bool port_active(const struct vga *v, uint16_t port)
{
	if (port >= 0x3B0 && port <= 0x3BF)
		return !colour_ports(v);
	if (port >= 0x3D0 && port <= 0x3DF)
		return colour_ports(v);
	return true;
}

/* The plain VGA's path (a card's extension hook comes first). */
static uint8_t std_port_read_locked(struct vga *v, uint16_t port)
{
	if (!port_active(v, port))
		return 0xFF;
	switch (port) {
	case P_AR_INDEX:
		return v->ar_index;
	case P_AR_READ:
		return v->ar[v->ar_index & 0x1F];
	case P_MISC_WRITE:
		return 0; /* input status 0 */
	case P_SR_INDEX:
		return v->sr_index;
	case P_SR_DATA:
		return v->sr[v->sr_index & 7];
	case P_DAC_MASK:
		return v->dac_mask;
	case P_DAC_READ_INDEX:
		return v->dac_state;
	case P_DAC_WRITE_INDEX:
		return v->dac_write;
	case P_DAC_DATA: {
		uint8_t r = v->palette[v->dac_read * 3 + v->dac_sub];
		if (++v->dac_sub == 3) {
			v->dac_sub = 0;
			v->dac_read++;
		}
		return r;
	}
	case P_FCR_READ:
		return v->fcr;
	case P_MISC_READ:
		return v->misc;
	case P_GR_INDEX:
		return v->gr_index;
	case P_GR_DATA:
		return v->gr[v->gr_index & 0x0F];
	case P_CR_INDEX:
	case P_CR_INDEX_MONO:
		return v->cr_index;
	case P_CR_DATA:
	case P_CR_DATA_MONO:
		return v->cr[v->cr_index & 0x1F];
	case P_ST1:
	case P_ST1_MONO:
		/* No real beam: each read flips retrace and display enable,
		 * so programs that wait for either edge go on at once. */
		v->ar_flip = false;
		v->st01 ^= ST01_RETRACE | ST01_DISP_ENABLE;
		return v->st01;
	default:
		return 0xFF;
	}
}

static void crtc_write(struct vga *v, uint8_t val)
{
	unsigned i = v->cr_index & 0x1F;

	/* CR11 bit 7 protects CR0-CR7, but for CR7's line compare bit */
	if ((v->cr[0x11] & 0x80) && i <= 7) {
		if (i == 7)
			v->cr[7] = (uint8_t)((v->cr[7] & ~0x10) | (val & 0x10));
		return;
	}
	v->cr[i] = val;
}

/* The plain VGA's path (a card's extension hook comes first). */
static void std_port_write_locked(struct vga *v, uint16_t port, uint8_t val)
{
	if (!port_active(v, port))
		return;
	switch (port) {
	case P_AR_INDEX:
		if (!v->ar_flip) {
			v->ar_index = val & 0x3F;
		} else {
			unsigned i = v->ar_index & 0x1F;
			if (i <= 0x14)
				v->ar[i] = i < 0x10 ? val & 0x3F : val;
		}
		v->ar_flip = !v->ar_flip;
		break;
	case P_MISC_WRITE:
		v->misc = val & 0xEF;
		break;
	case P_SR_INDEX:
		v->sr_index = val & 7;
		break;
	case P_SR_DATA:
		v->sr[v->sr_index & 7] = val;
		vga_update_window_locked(v);
		break;
	case P_DAC_MASK:
		v->dac_mask = val;
		break;
	case P_DAC_READ_INDEX:
		v->dac_read = val;
		v->dac_sub = 0;
		v->dac_state = 3;
		break;
	case P_DAC_WRITE_INDEX:
		v->dac_write = val;
		v->dac_sub = 0;
		v->dac_state = 0;
		break;
	case P_DAC_DATA:
		v->dac_cache[v->dac_sub] = val;
		if (++v->dac_sub == 3) {
			bool wide = vbe_enabled(v) && (v->vbe[VBE_ENABLE] & VBE_8BIT_DAC);
			for (int c = 0; c < 3; c++)
				v->palette[v->dac_write * 3 + c] =
					wide ? v->dac_cache[c] : v->dac_cache[c] & 0x3F;
			v->dac_sub = 0;
			v->dac_write++;
		}
		break;
	case P_GR_INDEX:
		v->gr_index = val & 0x0F;
		break;
	case P_GR_DATA:
		v->gr[v->gr_index & 0x0F] = val;
		vga_update_window_locked(v);
		break;
	case P_CR_INDEX:
	case P_CR_INDEX_MONO:
		v->cr_index = val;
		break;
	case P_CR_DATA:
	case P_CR_DATA_MONO:
		crtc_write(v, val);
		break;
	case P_ST1:
	case P_ST1_MONO:
		v->fcr = val & 0x10;
		break;
	}
}

static uint8_t port_read_locked(struct vga *v, uint16_t port)
{
	uint8_t val;
	if (v->ext && v->ext->port_read && v->ext->port_read(v->ext_opaque, port, &val))
		return val;
	return std_port_read_locked(v, port);
}

static void port_write_locked(struct vga *v, uint16_t port, uint8_t val)
{
	if (v->ext && v->ext->port_write && v->ext->port_write(v->ext_opaque, port, val))
		return;
	std_port_write_locked(v, port, val);
}

uint8_t vga_port_read(struct vga *v, uint16_t port)
{
	pthread_mutex_lock(&v->lock);
	uint8_t r = v->legacy ? port_read_locked(v, port) : 0xFF;
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vga_port_write(struct vga *v, uint16_t port, uint8_t val)
{
	pthread_mutex_lock(&v->lock);
	if (v->legacy)
		port_write_locked(v, port, val);
	pthread_mutex_unlock(&v->lock);
}

/* ---- Bochs VBE ---------------------------------------------------------- */

static unsigned vbe_bytes_pp(unsigned bpp)
{
	return (bpp + 7) / 8;
}

static bool vbe_bpp_ok(unsigned bpp)
{
	return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

/* Brings the dispi registers to a geometry that fits video memory, as
 * the registers read back: resolution, virtual size, offsets. After it,
 * vbe_start + (yres - 1) * vbe_line_offset + xres * Bpp <= vram_size. */
static void vbe_fixup(struct vga *v)
{
	uint16_t *r = v->vbe;

	if (!vbe_bpp_ok(r[VBE_BPP]))
		r[VBE_BPP] = 8;
	unsigned bpp = vbe_bytes_pp(r[VBE_BPP]);
	unsigned xres = MIN(MAX(r[VBE_XRES] & ~7u, 8u), (unsigned)VBE_MAX_XRES);
	unsigned yres = MIN(MAX(r[VBE_YRES], 1u), (unsigned)VBE_MAX_YRES);
	unsigned vwidth = MIN(MAX(r[VBE_VIRT_WIDTH], xres), (unsigned)VBE_MAX_XRES);
	uint64_t line = (uint64_t)vwidth * bpp;

	if (line * yres > v->vram_size) {
		/* the virtual width first, then the height, give way */
		vwidth = xres;
		line = (uint64_t)vwidth * bpp;
		if (line * yres > v->vram_size)
			yres = (unsigned)(v->vram_size / line);
	}
	uint64_t vheight = MIN(v->vram_size / line, 0xFFFFull);
	unsigned xoff = MIN((unsigned)r[VBE_X_OFFSET], vwidth - xres);
	unsigned yoff = MIN((unsigned)r[VBE_Y_OFFSET], (unsigned)(vheight - yres));

	r[VBE_XRES] = (uint16_t)xres;
	r[VBE_YRES] = (uint16_t)yres;
	r[VBE_VIRT_WIDTH] = (uint16_t)vwidth;
	r[VBE_VIRT_HEIGHT] = (uint16_t)vheight;
	r[VBE_X_OFFSET] = (uint16_t)xoff;
	r[VBE_Y_OFFSET] = (uint16_t)yoff;
	v->vbe_line_offset = (uint32_t)line;
	v->vbe_start = (uint32_t)(yoff * line + (uint64_t)xoff * bpp);
}

static void vbe_enable(struct vga *v, uint16_t val)
{
	bool was = vbe_enabled(v);

	v->vbe[VBE_ENABLE] = val & (VBE_ENABLED | VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED |
				    VBE_NOCLEARMEM);
	if ((val & VBE_ENABLED) && !was) {
		v->vbe[VBE_VIRT_WIDTH] = 0;
		v->vbe[VBE_X_OFFSET] = v->vbe[VBE_Y_OFFSET] = 0;
		vbe_fixup(v);
		if (!(val & VBE_NOCLEARMEM)) {
			uint64_t len = (uint64_t)v->vbe[VBE_YRES] * v->vbe_line_offset;
			memset(v->vram, 0, len);
			vga_mark_dirty_locked(v, 0, len);
		}
		/* the legacy side as a banked chain-4 window at 0xA0000 */
		v->sr[4] |= 0x08;
		v->gr[6] = (uint8_t)((v->gr[6] & ~0x0C) | 0x05);
		v->gr[5] = (uint8_t)((v->gr[5] & ~0x60) | 0x40);
	} else if (!(val & VBE_ENABLED) && was) {
		v->bank_offset = 0;
		v->vbe[VBE_BANK] = 0;
	}
	vga_update_window_locked(v);
}

static uint16_t vbe_read_locked(struct vga *v, unsigned index)
{
	if (index == VBE_VIDEO_MEMORY_64K)
		return (uint16_t)(v->vram_size >> 16);
	if (index >= VBE_NREGS)
		return 0;
	if ((v->vbe[VBE_ENABLE] & VBE_GETCAPS) && index >= VBE_XRES && index <= VBE_BPP) {
		static const uint16_t caps[] = { 0, VBE_MAX_XRES, VBE_MAX_YRES, VBE_MAX_BPP };
		return caps[index];
	}
	return v->vbe[index];
}

static void vbe_write_locked(struct vga *v, unsigned index, uint16_t val)
{
	switch (index) {
	case VBE_ID:
		if (val >= VBE_ID0 && val <= VBE_ID5)
			v->vbe[VBE_ID] = val;
		break;
	case VBE_XRES:
	case VBE_YRES:
	case VBE_BPP:
		/* the mode is taken as a whole when it is enabled */
		if (!vbe_enabled(v))
			v->vbe[index] = val;
		break;
	case VBE_ENABLE:
		vbe_enable(v, val);
		break;
	case VBE_BANK: {
		uint32_t banks = v->vram_size >> 16;
		v->vbe[VBE_BANK] = (uint16_t)(val & (banks - 1));
		v->bank_offset = (uint32_t)v->vbe[VBE_BANK] << 16;
		vga_update_window_locked(v);
		break;
	}
	case VBE_VIRT_WIDTH:
	case VBE_X_OFFSET:
	case VBE_Y_OFFSET:
		v->vbe[index] = val;
		if (vbe_enabled(v))
			vbe_fixup(v);
		break;
	default:
		break; /* VIRT_HEIGHT and the memory size are read only */
	}
}

uint16_t vga_vbe_read(struct vga *v, unsigned index)
{
	pthread_mutex_lock(&v->lock);
	uint16_t r = vbe_read_locked(v, index);
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vga_vbe_write(struct vga *v, unsigned index, uint16_t val)
{
	pthread_mutex_lock(&v->lock);
	vbe_write_locked(v, index, val);
	pthread_mutex_unlock(&v->lock);
}

uint16_t vga_vbe_index_read(struct vga *v)
{
	pthread_mutex_lock(&v->lock);
	uint16_t r = v->vbe_index;
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vga_vbe_index_write(struct vga *v, uint16_t val)
{
	pthread_mutex_lock(&v->lock);
	v->vbe_index = val;
	pthread_mutex_unlock(&v->lock);
}

/* ---- rendering ---------------------------------------------------------- */

static uint8_t dac6_to_8(uint8_t c)
{
	c &= 0x3F;
	return (uint8_t)(c << 2 | (c & 1) * 3);
}

uint32_t vga_dac_rgb6(const uint8_t p[3])
{
	return (uint32_t)dac6_to_8(p[0]) << 16 | (uint32_t)dac6_to_8(p[1]) << 8 | dac6_to_8(p[2]);
}

static uint32_t dac_rgb(const struct vga *v, unsigned index, bool wide)
{
	const uint8_t *p = v->palette + (index & 0xFF) * 3;
	if (wide)
		return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	return vga_dac_rgb6(p);
}

/* The DAC index a 4-bit attribute colour goes to through the attribute
 * controller's palette and colour select. */
static unsigned attr_to_dac(const struct vga *v, unsigned colour)
{
	unsigned p = v->ar[colour & 0x0F];
	if (v->ar[0x10] & 0x80)
		p = (p & 0x0F) | (v->ar[0x14] & 0x0F) << 4;
	else
		p = (p & 0x3F) | (v->ar[0x14] & 0x0C) << 4;
	return p & v->dac_mask;
}

bool vga_vram_dirty_locked(const struct vga *v, uint64_t off, uint64_t len)
{
	if (!len || off >= v->vram_size)
		return false;
	len = MIN(len, v->vram_size - off);
	for (uint64_t p = off / PAGE; p <= (off + len - 1) / PAGE; p++)
		if (v->dirty[p / 64] & (1ull << (p % 64)))
			return true;
	return false;
}

/* Everything that changes how memory turns into pixels; a difference
 * from the last drawing redraws it all. */
static bool registers_changed(struct vga *v)
{
	uint8_t now[sizeof(v->drawn_regs)];
	size_t n = 0;

	memcpy(now + n, v->sr, 8), n += 8;
	memcpy(now + n, v->gr, 16), n += 16;
	memcpy(now + n, v->cr, 32), n += 32;
	/* but not the cursor's place (CRTC 0Eh/0Fh): the text renderer
	 * redraws the two cells it left and reached (it moves with every
	 * character the BIOS prints, and a front-end would get the whole
	 * screen for each) */
	now[n - 32 + 0x0E] = now[n - 32 + 0x0F] = 0;
	memcpy(now + n, v->ar, 32), n += 32;
	now[n++] = v->dac_mask;
	now[n++] = v->ar_index & 0x20;
	now[n++] = v->misc;
	for (unsigned i = 0; i < VBE_NREGS; i++) {
		now[n++] = (uint8_t)v->vbe[i];
		now[n++] = (uint8_t)(v->vbe[i] >> 8);
	}
	bool changed = memcmp(now, v->drawn_regs, n) || memcmp(v->palette, v->drawn_palette, 768);
	memcpy(v->drawn_regs, now, n);
	memcpy(v->drawn_palette, v->palette, 768);
	return changed;
}

static void draw_vbe(struct vga *v, struct display_surface *s, bool full)
{
	unsigned bpp = v->vbe[VBE_BPP], Bpp = vbe_bytes_pp(bpp);
	unsigned w = v->vbe[VBE_XRES], h = v->vbe[VBE_YRES];
	bool wide = v->vbe[VBE_ENABLE] & VBE_8BIT_DAC;

	if (display_set_mode(s, DISPLAY_GRAPHICS, w, h, 0, 0) < 0)
		return;
	for (unsigned i = 0; i < 256 && bpp == 8; i++)
		v->rgb[i] = dac_rgb(v, i, wide);
	for (unsigned y = 0; y < h; y++) {
		uint64_t off = v->vbe_start + (uint64_t)y * v->vbe_line_offset;
		uint64_t len = (uint64_t)w * Bpp;
		if (off + len > v->vram_size)
			break; /* vbe_fixup keeps this from happening */
		if (!full && !vga_vram_dirty_locked(v, off, len))
			continue;
		const uint8_t *src = v->vram + off;
		uint32_t *dst = s->pixels + (size_t)y * s->width;
		for (unsigned x = 0; x < w; x++, src += Bpp) {
			uint32_t c;
			switch (bpp) {
			case 8:
				c = v->rgb[src[0]];
				break;
			case 15: {
				unsigned p = src[0] | src[1] << 8;
				unsigned r = (p >> 10) & 31, g = (p >> 5) & 31, b = p & 31;
				c = (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
				break;
			}
			case 16: {
				unsigned p = src[0] | src[1] << 8;
				unsigned r = (p >> 11) & 31, g = (p >> 5) & 63, b = p & 31;
				c = (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
				break;
			}
			default: /* 24 and 32: B, G, R (, X) */
				c = (uint32_t)src[2] << 16 | (uint32_t)src[1] << 8 | src[0];
				break;
			}
			dst[x] = c;
		}
		display_mark_dirty(s, 0, y, w, 1);
	}
}

/* Vertical display end, in scan lines. */
static unsigned vga_height(const struct vga *v)
{
	return (v->cr[0x12] | (v->cr[7] & 0x02) << 7 | (v->cr[7] & 0x40) << 3) + 1u;
}

static unsigned vga_start(const struct vga *v)
{
	return (unsigned)v->cr[0x0C] << 8 | v->cr[0x0D];
}

/* Planar offset of a font map's first glyph (SR3 picks map A for
 * attribute bit 3 set, B for clear). */
static uint32_t font_base(const struct vga *v, bool map_a)
{
	unsigned s = v->sr[3];
	unsigned sel = map_a ? ((s >> 2) & 3) | ((s >> 3) & 4) : (s & 3) | ((s >> 2) & 4);
	return (sel & 3) * 0x4000u + (sel >> 2) * 0x2000u;
}

static void draw_text(struct vga *v, struct display_surface *s, bool full)
{
	/* with the dot clock halved (40 columns) each cell is 8 dots shown
	 * twice, without a 9th column: QEMU's picture, 16 pixels a cell */
	unsigned dbl_w = (v->sr[1] & 0x08) ? 2 : 1;
	unsigned cw = (v->sr[1] & 0x01) || dbl_w == 2 ? 8 : 9;
	unsigned ch = (v->cr[9] & 0x1F) + 1u;
	unsigned cols = v->cr[1] + 1u;
	unsigned dbl_h = (v->cr[9] & 0x80) ? 2 : 1;
	unsigned rows = vga_height(v) / (ch * dbl_h);
	unsigned stride = v->cr[0x13] * 2u;
	unsigned start = vga_start(v);
	bool blink = v->ar[0x10] & 0x08;
	bool line_graphics = v->ar[0x10] & 0x04;

	if (!rows)
		rows = 1;
	if (display_set_mode(s, DISPLAY_TEXT, cols * cw * dbl_w, rows * ch * dbl_h, cols, rows) < 0)
		return;
	if (v->drawn_ncells != cols * rows) {
		free(v->drawn_cells);
		v->drawn_cells = xzalloc((size_t)cols * rows * sizeof(uint16_t));
		v->drawn_ncells = cols * rows;
		full = true;
	}
	/* a font change (plane 2) redraws every cell */
	if (vga_vram_dirty_locked(v, 0, FONT_BYTES * 4)) {
		uint8_t font[FONT_BYTES];
		for (uint32_t i = 0; i < FONT_BYTES; i++)
			font[i] = v->vram[i * 4 + 2];
		if (memcmp(font, v->drawn_font, FONT_BYTES)) {
			memcpy(v->drawn_font, font, FONT_BYTES);
			full = true;
		}
	}
	for (unsigned i = 0; i < 16; i++)
		v->rgb[i] = dac_rgb(v, attr_to_dac(v, i), false);

	unsigned cur_addr = (unsigned)v->cr[0x0E] << 8 | v->cr[0x0F];
	int cursor = -1;
	unsigned cs = v->cr[0x0A] & 0x1F, ce = v->cr[0x0B] & 0x1F;
	if (!(v->cr[0x0A] & 0x20) && cur_addr >= start && cs <= ce && cs < ch) {
		unsigned rel = cur_addr - start;
		if (stride && rel / stride < rows && rel % stride < cols)
			cursor = (int)((rel / stride) * cols + rel % stride);
	}
	s->cursor_on = cursor >= 0;
	s->cursor_col = cursor >= 0 ? (unsigned)cursor % cols : 0;
	s->cursor_row = cursor >= 0 ? (unsigned)cursor / cols : 0;

	for (unsigned r = 0; r < rows; r++) {
		for (unsigned c = 0; c < cols; c++) {
			unsigned idx = r * cols + c;
			uint64_t cell_off = ((uint64_t)start + (uint64_t)r * stride + c) * 4;
			uint16_t cell = 0;
			if (cell_off + 4 <= v->vram_size)
				cell = (uint16_t)(v->vram[cell_off] | v->vram[cell_off + 1] << 8);
			bool is_cursor = (int)idx == cursor, was_cursor = (int)idx == v->drawn_cursor;
			s->cells[idx] = cell;
			if (!full && cell == v->drawn_cells[idx] && is_cursor == was_cursor)
				continue;
			v->drawn_cells[idx] = cell;
			uint8_t chr = (uint8_t)cell, attr = (uint8_t)(cell >> 8);
			uint32_t fg = v->rgb[attr & 0x0F];
			uint32_t bg = v->rgb[blink ? (attr >> 4) & 7 : attr >> 4];
			uint32_t glyph = font_base(v, attr & 0x08) + chr * 32u;
			for (unsigned y = 0; y < ch; y++) {
				uint8_t bits = v->vram[((glyph + y) & (PLANAR_SPAN - 1)) * 4 + 2];
				bool cur_line = is_cursor && y >= cs && y <= ce;
				for (unsigned x = 0; x < cw; x++) {
					bool on;
					if (x < 8)
						on = bits & (0x80 >> x);
					else /* the 9th column repeats the 8th for line graphics */
						on = line_graphics && chr >= 0xC0 && chr <= 0xDF && (bits & 1);
					uint32_t px = (on || cur_line) ? fg : bg;
					for (unsigned dy = 0; dy < dbl_h; dy++) {
						uint32_t *row = s->pixels +
							(size_t)((r * ch + y) * dbl_h + dy) * s->width;
						for (unsigned dx = 0; dx < dbl_w; dx++)
							row[(c * cw + x) * dbl_w + dx] = px;
					}
				}
			}
			display_mark_dirty(s, c * cw * dbl_w, r * ch * dbl_h, cw * dbl_w, ch * dbl_h);
		}
	}
	v->drawn_cursor = cursor;
}

/* One scan line of a planar 16-colour or a 256-colour mode. */
static void draw_graphics_line(struct vga *v, uint32_t *dst, uint32_t addr, unsigned width,
			       bool colour256, unsigned pix_w)
{
	unsigned plane_en = v->ar[0x12] & 0x0F;
	unsigned x = 0;

	while (x < width) {
		uint64_t off = (uint64_t)(addr & (PLANAR_SPAN - 1)) * 4;
		uint32_t d = load32(v->vram + off);
		addr++;
		if (colour256) {
			/* four pixels, planes 0-3, each two dots wide */
			for (unsigned p = 0; p < 4 && x < width; p++) {
				uint32_t c = v->rgb[(d >> (8 * p)) & 0xFF];
				for (unsigned k = 0; k < 2 * pix_w && x < width; k++)
					dst[x++] = c;
			}
		} else {
			for (unsigned b = 0; b < 8 && x < width; b++) {
				unsigned bit = 7 - b, idx = 0;
				for (unsigned p = 0; p < 4; p++)
					idx |= ((d >> (8 * p + bit)) & 1) << p;
				uint32_t c = v->rgb[idx & plane_en];
				for (unsigned k = 0; k < pix_w && x < width; k++)
					dst[x++] = c;
			}
		}
	}
}

static void draw_graphics(struct vga *v, struct display_surface *s, bool full)
{
	bool colour256 = v->gr[5] & 0x40;
	unsigned pix_w = (v->sr[1] & 0x08) ? 2 : 1;
	unsigned width = (v->cr[1] + 1u) * 8 * pix_w;
	unsigned height = vga_height(v);
	unsigned repeat = ((v->cr[9] & 0x1F) + 1u) * ((v->cr[9] & 0x80) ? 2 : 1);
	unsigned stride = v->cr[0x13] * 2u;
	unsigned line_compare = v->cr[0x18] | (v->cr[7] & 0x10) << 4 | (v->cr[9] & 0x40) << 3;
	uint32_t addr = vga_start(v);

	if (display_set_mode(s, DISPLAY_GRAPHICS, width, height, 0, 0) < 0)
		return;
	if (colour256)
		for (unsigned i = 0; i < 256; i++)
			v->rgb[i] = dac_rgb(v, i & v->dac_mask, false);
	else
		for (unsigned i = 0; i < 16; i++)
			v->rgb[i] = dac_rgb(v, attr_to_dac(v, i), false);
	unsigned words = (width + 7) / 8;
	for (unsigned y = 0, sub = 0; y < height; y++) {
		if (y == line_compare) {
			addr = 0;
			sub = 0;
		}
		uint64_t off = (uint64_t)(addr & (PLANAR_SPAN - 1)) * 4;
		if (full || vga_vram_dirty_locked(v, off, (uint64_t)words * 4 + 4) ||
		    off + (uint64_t)words * 4 > PLANAR_SPAN * 4) {
			draw_graphics_line(v, s->pixels + (size_t)y * s->width, addr, width,
					   colour256, pix_w);
			display_mark_dirty(s, 0, y, width, 1);
		}
		if (++sub == repeat) {
			sub = 0;
			addr += stride;
		}
	}
}

void vga_refresh(struct vga *v)
{
	/* Window writes KVM still holds in its coalesced MMIO ring (they take
	 * the lock, so before it). */
	if (v->mmio)
		bus_apply_pending(v->mmio);
	pthread_mutex_lock(&v->lock);
	harvest_all(v);
	bool full = registers_changed(v) || v->full_update;
	if (v->ext && v->ext->regs_changed && v->ext->regs_changed(v->ext_opaque))
		full = true;
	v->full_update = false;
	struct display_surface *s = &v->surface;
	pthread_mutex_lock(&s->lock);
	bool had = s->has_dirty;
	if (vbe_enabled(v)) {
		draw_vbe(v, s, full);
	} else if (v->legacy && (v->ar_index & 0x20) && (v->gr[6] & 0x01) && v->ext &&
		   v->ext->draw && v->ext->draw(v->ext_opaque, s, full)) {
		/* an extended mode the card drew (SR1's screen-off bit does not
		 * blank it: QEMU's Cirrus shows it, and SeaBIOS's Cirrus mode
		 * tables set it) */
	} else if (!v->legacy || !(v->ar_index & 0x20) || (v->sr[1] & 0x20)) {
		/* the attribute controller has the palette, or the screen is off */
		if (full || s->kind != DISPLAY_BLANK) {
			display_set_mode(s, DISPLAY_BLANK, s->width, s->height, 0, 0);
			memset(s->pixels, 0, (size_t)s->width * s->height * 4);
		}
	} else if (!(v->gr[6] & 0x01)) {
		draw_text(v, s, full);
	} else {
		draw_graphics(v, s, full);
	}
	if (s->has_dirty && (!had || full))
		s->updates++;
	pthread_mutex_unlock(&s->lock);
	memset(v->dirty, 0, (v->vram_size / PAGE + 63) / 64 * sizeof(uint64_t));
	pthread_mutex_unlock(&v->lock);
}

static void surface_refresh(void *opaque)
{
	vga_refresh(opaque);
}

static void refresh_tick(void *opaque)
{
	vga_refresh(opaque);
}

/* Only a front-end that looks makes the device refresh on its own. */
static void listeners_changed(void *opaque, unsigned n)
{
	struct vga *v = opaque;
	if (!v->timer)
		return;
	if (n && !event_timer_armed(v->timer))
		event_timer_arm_in(v->timer, REFRESH_NS, REFRESH_NS);
	else if (!n)
		event_timer_cancel(v->timer);
}

static const struct display_source_ops surface_ops = {
	.refresh = surface_refresh,
	.listeners_changed = listeners_changed,
};

/* ---- bus glue ----------------------------------------------------------- */

static uint64_t ports_read(void *opaque, uint64_t off, unsigned size)
{
	(void)size;
	return vga_port_read(opaque, (uint16_t)(VGA_PORT_BASE + off));
}

static void ports_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;
	/* a 16-bit out writes the index, then the data port after it */
	vga_port_write(v, (uint16_t)(VGA_PORT_BASE + off), (uint8_t)val);
	if (size == 2)
		vga_port_write(v, (uint16_t)(VGA_PORT_BASE + off + 1), (uint8_t)(val >> 8));
}

static const struct io_ops port_ops = {
	.read = ports_read, .write = ports_write, .min_size = 1, .max_size = 2,
};

static uint64_t vbe_port_read(void *opaque, uint64_t off, unsigned size)
{
	(void)size;
	return off == 0 ? vga_vbe_index_read(opaque) : vga_vbe_read(opaque,
								     vga_vbe_index_read(opaque));
}

static void vbe_port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;
	(void)size;
	if (off == 0)
		vga_vbe_index_write(v, (uint16_t)val);
	else
		vga_vbe_write(v, vga_vbe_index_read(v), (uint16_t)val);
}

/* 0x1CE index, 0x1CF data (and 0x1D0, which old Bochs BIOSes used): the
 * region is 3 ports wide so that a 16-bit access at 0x1CF lies inside it. */
static const struct io_ops vbe_port_ops = {
	.read = vbe_port_read, .write = vbe_port_write, .min_size = 1, .max_size = 2,
};

static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
	struct vga *v = opaque;
	uint64_t r = 0;
	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++)
		r |= (uint64_t)mem_read_locked(v, (uint32_t)(off + i)) << (8 * i);
	pthread_mutex_unlock(&v->lock);
	return r;
}

static void window_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct vga *v = opaque;
	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++)
		mem_write_locked(v, (uint32_t)(off + i), (uint8_t)(val >> (8 * i)));
	pthread_mutex_unlock(&v->lock);
}

static const struct io_ops window_ops = {
	.read = window_read, .write = window_write, .min_size = 1, .max_size = 8,
};

/* ---- the linear framebuffer ------------------------------------------- */

void vga_lfb_map(struct vga *v, uint64_t gpa)
{
	pthread_mutex_lock(&v->lock);
	vga_lfb_map_locked(v, gpa);
	pthread_mutex_unlock(&v->lock);
}

void vga_lfb_map_locked(struct vga *v, uint64_t gpa)
{
	if (v->space) {
		if (gpa == UINT64_MAX) {
			if (v->lfb_added) {
				harvest(v, &v->lfb, 0);
				mem_region_set_enabled(&v->lfb, false);
			}
		} else if (!v->lfb_added) {
			mem_region_init_ram(&v->lfb, "vga.vram", gpa, v->vram_size, v->vram, false, 2);
			if (mem_space_add(v->space, &v->lfb) == 0) {
				v->lfb_added = true;
				mem_region_set_log_dirty(&v->lfb, true);
			}
		} else {
			mem_region_move(&v->lfb, gpa);
			mem_region_set_enabled(&v->lfb, true);
		}
	}
}

/* ---- life cycle --------------------------------------------------------- */

void vga_reset(struct vga *v)
{
	pthread_mutex_lock(&v->lock);
	v->misc = v->fcr = v->st01 = 0;
	v->sr_index = v->gr_index = v->cr_index = v->ar_index = 0;
	memset(v->sr, 0, sizeof(v->sr));
	memset(v->gr, 0, sizeof(v->gr));
	memset(v->cr, 0, sizeof(v->cr));
	memset(v->ar, 0, sizeof(v->ar));
	v->ar_flip = false;
	v->dac_mask = 0xFF;
	v->dac_read = v->dac_write = v->dac_sub = v->dac_state = 0;
	v->latch = 0;
	v->vbe_index = 0;
	memset(v->vbe, 0, sizeof(v->vbe));
	v->vbe[VBE_ID] = VBE_ID5;
	v->vbe[VBE_BPP] = 8;
	v->bank_offset = 0;
	v->vbe_line_offset = v->vbe_start = 0;
	v->full_update = true;
	vga_update_window_locked(v);
	pthread_mutex_unlock(&v->lock);
}

struct vga *vga_create(const struct vga_config *c)
{
	uint32_t size = c->vram_size;

	if (size < (1u << 20) || size > (256u << 20) || (size & (size - 1)))
		return NULL;
	struct vga *v = xzalloc(sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	v->vram_size = size;
	/* page-aligned (KVM maps it) and zero pages until the guest draws */
	v->vram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->vram == MAP_FAILED) {
		free(v);
		return NULL;
	}
	v->legacy = c->legacy;
	v->space = c->space;
	v->pio = c->pio;
	v->mmio = c->mmio;
	v->dirty = xzalloc((size / PAGE + 63) / 64 * sizeof(uint64_t));
	if (c->mem && !register_ram(v, c->mem, c->ram_name)) {
		free(v->dirty);
		munmap(v->vram, size);
		pthread_mutex_destroy(&v->lock);
		free(v);
		return NULL;
	}
	v->scratch = xzalloc((size / PAGE + 63) / 64 * sizeof(uint64_t));
	v->drawn_font = xzalloc(FONT_BYTES);
	v->drawn_cursor = -1;
	v->win_offset[0] = v->win_offset[1] = -1;
	display_surface_init(&v->surface, &surface_ops, v);
	if (c->loop)
		v->timer = event_timer_new(c->loop, EVENT_CLOCK_HOST, refresh_tick, v);
	if (v->legacy && v->space) {
		mem_region_init_ram(&v->win[0], "vga.window-a", VGA_WINDOW_BASE, 0x10000, v->vram,
				    false, 2);
		mem_region_init_ram(&v->win[1], "vga.window-b", VGA_WINDOW_BASE + 0x10000, 0x10000,
				    v->vram + 0x10000, false, 2);
		if (mem_space_add(v->space, &v->win[0]) == 0 &&
		    mem_space_add(v->space, &v->win[1]) == 0) {
			v->win_added = true;
			for (int i = 0; i < 2; i++) {
				mem_region_set_enabled(&v->win[i], false);
				mem_region_set_log_dirty(&v->win[i], true);
			}
		}
	}
	if (v->legacy && v->pio) {
		io_region_init(&v->ports, "vga", &port_ops, v, VGA_PORT_COUNT);
		bus_map(v->pio, &v->ports, VGA_PORT_BASE);
	}
	if (v->pio && !c->no_vbe) {
		io_region_init(&v->vbe_ports, "vbe", &vbe_port_ops, v, 3);
		bus_map(v->pio, &v->vbe_ports, VBE_PORT_INDEX);
	}
	if (v->legacy && v->mmio) {
		io_region_init(&v->window, "vga-window", &window_ops, v, VGA_WINDOW_SIZE);
		bus_map(v->mmio, &v->window, VGA_WINDOW_BASE);
	}
	vga_reset(v);
	return v;
}

void vga_destroy(struct vga *v)
{
	if (!v)
		return;
	if (v->timer)
		event_timer_free(v->timer);
	if (v->ports.mapped)
		bus_unmap(v->pio, &v->ports);
	if (v->vbe_ports.mapped)
		bus_unmap(v->pio, &v->vbe_ports);
	if (v->window.mapped)
		bus_unmap(v->mmio, &v->window);
	if (v->win_added) {
		mem_space_remove(v->space, &v->win[0]);
		mem_space_remove(v->space, &v->win[1]);
	}
	if (v->lfb_added)
		mem_space_remove(v->space, &v->lfb);
	display_surface_destroy(&v->surface);
	free(v->drawn_cells);
	free(v->drawn_font);
	if (v->mem)
		guest_mem_remove_named(v->mem, v->vram);
	free(v->dirty);
	free(v->mig_dirty);
	free(v->scratch);
	munmap(v->vram, v->vram_size);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* ---- saved state -------------------------------------------------------- */

void vga_save(struct vga *v, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&v->lock);
	ss_section_begin(w, "vga", instance, VGA_STATE_VERSION);
	ss_put_u32(w, "vram_size", v->vram_size);
	ss_put_u8(w, "misc", v->misc);
	ss_put_u8(w, "fcr", v->fcr);
	ss_put_u8(w, "st01", v->st01);
	ss_put_u8(w, "sr_index", v->sr_index);
	ss_put_bytes(w, "sr", v->sr, sizeof(v->sr));
	ss_put_u8(w, "gr_index", v->gr_index);
	ss_put_bytes(w, "gr", v->gr, sizeof(v->gr));
	ss_put_u8(w, "cr_index", v->cr_index);
	ss_put_bytes(w, "cr", v->cr, sizeof(v->cr));
	ss_put_u8(w, "ar_index", v->ar_index);
	ss_put_bytes(w, "ar", v->ar, sizeof(v->ar));
	ss_put_bool(w, "ar_flip", v->ar_flip);
	ss_put_u8(w, "dac_mask", v->dac_mask);
	ss_put_u8(w, "dac_read", v->dac_read);
	ss_put_u8(w, "dac_write", v->dac_write);
	ss_put_u8(w, "dac_sub", v->dac_sub);
	ss_put_u8(w, "dac_state", v->dac_state);
	ss_put_bytes(w, "dac_cache", v->dac_cache, 3);
	ss_put_bytes(w, "palette", v->palette, sizeof(v->palette));
	ss_put_u32(w, "latch", v->latch);
	ss_put_u16(w, "vbe_index", v->vbe_index);
	for (unsigned i = 0; i < VBE_NREGS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "vbe%u", i);
		ss_put_u16(w, name, v->vbe[i]);
	}
	/* no video memory: it is a RAM block of the stream (v->mem); a core
	 * without one (tests) keeps it in its state as version 1 did */
	if (!v->mem)
		ss_put_bytes(w, "vram", v->vram, v->vram_size);
	ss_section_end(w);
	pthread_mutex_unlock(&v->lock);
}

bool vga_load(struct vga *v, struct ss_reader *r, uint32_t instance)
{
	uint32_t size = 0, version = 0;
	uint16_t vbe[VBE_NREGS] = { 0 };

	if (!ss_section_open(r, "vga", instance, 1, VGA_STATE_VERSION, &version))
		return false;
	ss_get_u32(r, "vram_size", &size);
	if (ss_ok(r) && size != v->vram_size)
		return ss_fail(r, "vga: video memory is %u bytes, the stream has %u", v->vram_size,
			       size);
	pthread_mutex_lock(&v->lock);
	ss_get_u8(r, "misc", &v->misc);
	ss_get_u8(r, "fcr", &v->fcr);
	ss_get_u8(r, "st01", &v->st01);
	ss_get_u8(r, "sr_index", &v->sr_index);
	ss_get_bytes(r, "sr", v->sr, sizeof(v->sr));
	ss_get_u8(r, "gr_index", &v->gr_index);
	ss_get_bytes(r, "gr", v->gr, sizeof(v->gr));
	ss_get_u8(r, "cr_index", &v->cr_index);
	ss_get_bytes(r, "cr", v->cr, sizeof(v->cr));
	ss_get_u8(r, "ar_index", &v->ar_index);
	ss_get_bytes(r, "ar", v->ar, sizeof(v->ar));
	ss_get_bool(r, "ar_flip", &v->ar_flip);
	ss_get_u8(r, "dac_mask", &v->dac_mask);
	ss_get_u8(r, "dac_read", &v->dac_read);
	ss_get_u8(r, "dac_write", &v->dac_write);
	ss_get_u8(r, "dac_sub", &v->dac_sub);
	ss_get_u8(r, "dac_state", &v->dac_state);
	ss_get_bytes(r, "dac_cache", v->dac_cache, 3);
	ss_get_bytes(r, "palette", v->palette, sizeof(v->palette));
	ss_get_u32(r, "latch", &v->latch);
	ss_get_u16(r, "vbe_index", &v->vbe_index);
	for (unsigned i = 0; i < VBE_NREGS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "vbe%u", i);
		ss_get_u16(r, name, &vbe[i]);
	}
	/* version 1, and a core without a RAM block: the memory is here;
	 * otherwise the stream's RAM block has already filled it */
	if (version < 2 || !v->mem)
		ss_get_bytes(r, "vram", v->vram, v->vram_size);
	/* indices as the ports would have masked them */
	v->sr_index &= 7;
	v->gr_index &= 0x0F;
	v->ar_index &= 0x3F;
	v->dac_sub %= 3;
	/* the dispi registers through their own checks */
	memcpy(v->vbe, vbe, sizeof(vbe));
	if (!vbe_bpp_ok(v->vbe[VBE_BPP]))
		v->vbe[VBE_BPP] = 8;
	v->vbe[VBE_BANK] &= (uint16_t)((v->vram_size >> 16) - 1);
	v->bank_offset = (uint32_t)v->vbe[VBE_BANK] << 16;
	if (vbe_enabled(v))
		vbe_fixup(v);
	v->full_update = true;
	vga_mark_dirty_locked(v, 0, v->vram_size);
	vga_update_window_locked(v);
	pthread_mutex_unlock(&v->lock);
	return ss_section_close(r);
}
