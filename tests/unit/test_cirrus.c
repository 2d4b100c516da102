// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Cirrus CL-GD5446 (hw/display/cirrus_vga.c, hw/display/cirrus_blt.c):
 * the extended registers as drivers program them, the pictures of the
 * extended modes, banks and write modes 4/5, the hardware cursor, and the
 * BitBLT engine: every raster operation in both directions against a
 * reference written from the data book's table (each code named by its
 * boolean function), colour expansion with and without transparency,
 * patterns, system-to-screen, and hostile sizes, pitches and addresses
 * that must be refused without a byte outside video memory being touched
 * (these tests run under ASan).
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "display.h"
#include "hw/cirrus_blt.h"
#include "hw/cirrus_vga.h"
#include "memory.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"

#define VRAM (4u << 20)
#define DEVFN PCI_DEVFN(2, 0)
#define BAR0 0xE0000000u
#define BAR1 0xFEB00000u

struct fx {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct mem_space space;
	struct cirrus_vga *c;
	struct vga *v;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci, &f->pio, &f->mmio);
	mem_space_init(&f->space, NULL);
	struct vga_config c = { .vram_size = VRAM, .legacy = true, .space = &f->space,
				.pio = &f->pio, .mmio = &f->mmio };
	f->c = cirrus_vga_create(&f->pci, DEVFN, &c, NULL, 0);
	assert_non_null(f->c);
	f->v = f->c->vga;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cirrus_vga_destroy(f->c);
	mem_space_destroy(&f->space);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}

static void out8(struct fx *f, uint16_t port, uint8_t val)
{
	assert_true(bus_write(&f->pio, port, &val, 1));
}

static uint8_t in8(struct fx *f, uint16_t port)
{
	uint8_t val = 0;
	assert_true(bus_read(&f->pio, port, &val, 1));
	return val;
}

static void sr(struct fx *f, uint8_t i, uint8_t val)
{
	out8(f, 0x3C4, i);
	out8(f, 0x3C5, val);
}

static void gr(struct fx *f, uint8_t i, uint8_t val)
{
	out8(f, 0x3CE, i);
	out8(f, 0x3CF, val);
}

static uint8_t gr_get(struct fx *f, uint8_t i)
{
	out8(f, 0x3CE, i);
	return in8(f, 0x3CF);
}

static void cr(struct fx *f, uint8_t i, uint8_t val)
{
	out8(f, 0x3D4, i);
	out8(f, 0x3D5, val);
}

static void hidden_dac(struct fx *f, uint8_t val)
{
	out8(f, 0x3C6, 0x00);
	for (int i = 0; i < 4; i++)
		(void)in8(f, 0x3C6);
	out8(f, 0x3C6, val);
	out8(f, 0x3C6, 0xFF);
}

/* A 640x480 extended mode as SeaBIOS's clext.c tables set it: SR7 picks
 * the depth (0x11 8 bpp, 0x17 16, 0x15 24, 0x19 32), CR13/CR1B the pitch. */
static void set_mode(struct fx *f, uint8_t sr7, uint8_t hdac, unsigned pitch)
{
	out8(f, 0x3C2, 0x01 | 0xC2); /* colour ports */
	sr(f, 0x06, 0x12);
	sr(f, 0x07, sr7);
	sr(f, 0x01, 0x21); /* as SeaBIOS's tables: the screen-off bit does not blank */
	sr(f, 0x04, 0x0E);
	sr(f, 0x02, 0x0F);
	gr(f, 0x05, 0x40);
	gr(f, 0x06, 0x05);
	cr(f, 0x11, 0x00);
	cr(f, 0x01, 0x4F);
	cr(f, 0x07, 0x3E);
	cr(f, 0x09, 0x40);
	cr(f, 0x12, 0xDF);
	cr(f, 0x13, (uint8_t)(pitch / 8));
	cr(f, 0x1B, (uint8_t)(0x22 | ((pitch / 8) & 0x100) >> 4));
	cr(f, 0x0C, 0);
	cr(f, 0x0D, 0);
	hidden_dac(f, hdac);
	(void)in8(f, 0x3DA);
	out8(f, 0x3C0, 0x20); /* the palette to the display */
}

static uint32_t px(struct fx *f, unsigned x, unsigned y)
{
	return f->v->surface.pixels[y * f->v->surface.width + x];
}

static void test_ids_and_unlock(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pci_config_read(&f->pci, DEVFN, 0, 2), 0x1013);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, 2, 2), 0x00B8);
	assert_int_equal(pci_config_read(&f->pci, DEVFN, 0x0A, 2), 0x0300);
	/* SeaBIOS's check: SR6 = 0x92 reads back 0x12, anything else 0x0F */
	out8(f, 0x3C2, 0x01);
	sr(f, 0x06, 0x92);
	assert_int_equal(in8(f, 0x3C5), 0x12);
	sr(f, 0x06, 0x00);
	assert_int_equal(in8(f, 0x3C5), 0x0F);
	/* the part ID and memory size the VGA BIOS reads */
	out8(f, 0x3D4, 0x27);
	assert_int_equal(in8(f, 0x3D5), 0xB8);
	out8(f, 0x3C4, 0x0F);
	assert_int_equal(in8(f, 0x3C5), 0x98);
	/* the full SR index reads back, SR0-SR4 stay the core's */
	out8(f, 0x3C4, 0x1F);
	assert_int_equal(in8(f, 0x3C4), 0x1F);
	sr(f, 0x02, 0x05);
	assert_int_equal(f->v->sr[2], 0x05);
}

static void test_hidden_dac(void **state)
{
	struct fx *f = *state;
	out8(f, 0x3C6, 0x3C); /* a plain write: the pixel mask */
	assert_int_equal(f->v->dac_mask, 0x3C);
	for (int i = 0; i < 4; i++)
		assert_int_equal(in8(f, 0x3C6), 0x3C);
	assert_int_equal(in8(f, 0x3C6), 0x00); /* the fifth: hidden DAC */
	hidden_dac(f, 0xE1);
	assert_int_equal(f->c->hidden_dac, 0xE1);
	assert_int_equal(f->v->dac_mask, 0xFF);
	/* any other DAC access in between breaks the sequence */
	for (int i = 0; i < 3; i++)
		(void)in8(f, 0x3C6);
	(void)in8(f, 0x3C8);
	(void)in8(f, 0x3C6);
	out8(f, 0x3C6, 0x77);
	assert_int_equal(f->c->hidden_dac, 0xE1);
	assert_int_equal(f->v->dac_mask, 0x77);
}

static void test_16bpp_picture(void **state)
{
	struct fx *f = *state;
	set_mode(f, 0x17, 0xE1, 1280);
	uint8_t *m = f->v->vram;
	/* (3, 2) red 5-6-5, (639, 479) white */
	m[2 * 1280 + 6] = 0x00;
	m[2 * 1280 + 7] = 0xF8;
	m[479 * 1280 + 1278] = 0xFF;
	m[479 * 1280 + 1279] = 0xFF;
	vga_mark_vram_dirty(f->v, 0, VRAM);
	vga_refresh(f->v);
	assert_int_equal(f->v->surface.width, 640);
	assert_int_equal(f->v->surface.height, 480);
	assert_int_equal(px(f, 3, 2), 0xFF0000);
	assert_int_equal(px(f, 639, 479), 0xFFFFFF);
	assert_int_equal(px(f, 4, 2), 0);
	/* with the hardware cursor on, QEMU's picture does not copy the top
	 * bits into the low ones */
	sr(f, 0x12, 0x01);
	vga_refresh(f->v);
	assert_int_equal(px(f, 639, 479), 0xF8FCF8);
	sr(f, 0x12, 0x00);
	vga_refresh(f->v);
	assert_int_equal(px(f, 639, 479), 0xFFFFFF);
	/* 5-5-5 with the hidden DAC's low nibble 0 */
	hidden_dac(f, 0xF0);
	vga_refresh(f->v);
	m[2 * 1280 + 6] = 0x1F; /* blue 31 in 5-5-5 */
	m[2 * 1280 + 7] = 0x00;
	vga_mark_vram_dirty(f->v, 0, 4096);
	vga_refresh(f->v);
	assert_int_equal(px(f, 3, 2), 0x0000FF);
}


/* ---- BitBLT ---------------------------------------------------------------- */

/* The data book's raster operations as truth tables: bit (s << 1 | d)
 * of 'tt' is the result bit for source bit s and destination bit d. */
static const struct { uint8_t code, tt; } rops[16] = {
	{ 0x00, 0x0 }, /* 0 */
	{ 0x05, 0x8 }, /* S and D */
	{ 0x06, 0xA }, /* D */
	{ 0x09, 0x4 }, /* S and not D */
	{ 0x0B, 0x5 }, /* not D */
	{ 0x0D, 0xC }, /* S */
	{ 0x0E, 0xF }, /* 1 */
	{ 0x50, 0x2 }, /* not S and D */
	{ 0x59, 0x6 }, /* S xor D */
	{ 0x6D, 0xE }, /* S or D */
	{ 0x90, 0x7 }, /* not S or not D */
	{ 0x95, 0x9 }, /* not (S xor D) */
	{ 0xAD, 0xD }, /* S or not D */
	{ 0xD0, 0x3 }, /* not S */
	{ 0xD6, 0xB }, /* not S or D */
	{ 0xDA, 0x1 }, /* not S and not D */
};

static uint8_t ref_rop(uint8_t tt, uint8_t s, uint8_t d)
{
	uint8_t r = 0;
	for (int i = 0; i < 8; i++) {
		unsigned sb = (s >> i) & 1, db = (d >> i) & 1;
		r |= (uint8_t)(((tt >> (sb << 1 | db)) & 1) << i);
	}
	return r;
}

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void mmio8(struct fx *f, unsigned off, uint8_t val)
{
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + off, val, 1);
}

/* Programs the BLT registers through BAR1 (width/height as the byte and
 * line counts; the registers hold them minus one) and starts it. */
static void blt(struct fx *f, const struct cirrus_blt *b)
{
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x00, b->bg, 4);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x04, b->fg, 4);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x08, b->width - 1, 2);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x0A, b->height - 1, 2);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x0C, b->dst_pitch, 2);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x0E, b->src_pitch, 2);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x10, b->dst, 4);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x14, b->src, 3);
	mmio8(f, 0x17, b->skip);
	mmio8(f, 0x18, b->mode);
	mmio8(f, 0x1A, b->rop);
	mmio8(f, 0x1B, b->modeext);
	cirrus_vga_mmio_write(f->c, CIRRUS_MMIO_BLT + 0x1C, b->transparent, 2);
	mmio8(f, 0x40, 0x02);
}

/* The reference copy: line y of 'width' bytes from src + y * spitch to
 * dst + y * dpitch, in the hardware's order (forward: lines down, bytes
 * up; backward: from the last byte, lines up, bytes down). */
static void ref_copy(uint8_t *m, const struct cirrus_blt *b, uint8_t tt)
{
	bool back = b->mode & CIRRUS_BLT_BACKWARDS;
	for (uint32_t y = 0; y < b->height; y++)
		for (uint32_t i = 0; i < b->width; i++) {
			int64_t d = back ? (int64_t)b->dst - (int64_t)y * b->dst_pitch - i
					 : (int64_t)b->dst + (int64_t)y * b->dst_pitch + i;
			int64_t s = back ? (int64_t)b->src - (int64_t)y * b->src_pitch - i
					 : (int64_t)b->src + (int64_t)y * b->src_pitch + i;
			m[d] = ref_rop(tt, m[s], m[d]);
		}
}

static void check_rop_copies(struct fx *f, bool backward)
{
	uint8_t *expect = malloc(VRAM);
	for (int r = 0; r < 16; r++) {
		fill_random(f->v->vram, 0x40000);
		memcpy(expect, f->v->vram, VRAM);
		struct cirrus_blt b = {
			.width = 37, .height = 9, .dst_pitch = 100, .src_pitch = 83,
			.dst = 0x20000 + (uint32_t)r * 3, .src = 0x10000 + (uint32_t)r,
			.mode = backward ? CIRRUS_BLT_BACKWARDS : 0, .rop = rops[r].code,
		};
		if (backward) { /* the addresses are the last bytes */
			b.dst += 8 * 100 + 36;
			b.src += 8 * 83 + 36;
		}
		blt(f, &b);
		ref_copy(expect, &b, rops[r].tt);
		assert_memory_equal(f->v->vram, expect, VRAM);
		assert_int_equal(f->c->refusals, 0);
		assert_int_equal(gr_get(f, 0x31) & 0x03, 0); /* no longer busy */
	}
	free(expect);
}

static void test_blt_every_rop_forward(void **state)
{
	check_rop_copies(*state, false);
}

static void test_blt_every_rop_backward(void **state)
{
	check_rop_copies(*state, true);
}

/* Overlapping copies: forward moves a block up, backward moves it down,
 * both as if the source were read before it is overwritten. */
static void test_blt_overlapping_scroll(void **state)
{
	struct fx *f = *state;
	uint8_t *snap = malloc(VRAM);
	fill_random(f->v->vram, 0x10000);
	memcpy(snap, f->v->vram, VRAM);
	/* down by 3 lines of 64: backward from the last bytes */
	struct cirrus_blt b = { .width = 64, .height = 20, .dst_pitch = 64, .src_pitch = 64,
				.dst = 23 * 64 - 1, .src = 20 * 64 - 1,
				.mode = CIRRUS_BLT_BACKWARDS, .rop = CIRRUS_ROP_S };
	blt(f, &b);
	assert_memory_equal(f->v->vram + 3 * 64, snap, 20 * 64);
	/* and up again, forward */
	struct cirrus_blt u = { .width = 64, .height = 20, .dst_pitch = 64, .src_pitch = 64,
				.dst = 0, .src = 3 * 64, .rop = CIRRUS_ROP_S };
	blt(f, &u);
	assert_memory_equal(f->v->vram, snap, 20 * 64);
	free(snap);
}

/* Colour expansion, 16 bpp, from packed bits in video memory: 1 bits the
 * foreground, 0 bits the background; with transparency 0 bits are left
 * alone, and with GR33's invert it is the 1 bits, 0 bits drawing the
 * background. Bit skip (GR2F) drops the first bits of each line. */
static void test_blt_colour_expansion(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	static const uint8_t bits[] = { 0xA5, 0x80, 0x3C, 0x01 }; /* 2 lines of 12 bits, 2 bytes each */
	for (int variant = 0; variant < 3; variant++) {
		memset(m, 0x11, 0x10000);
		memcpy(m + 0x8000, bits, sizeof(bits));
		struct cirrus_blt b = {
			.width = 12 * 2, .height = 2, .dst_pitch = 256, .src = 0x8000,
			.mode = CIRRUS_BLT_EXPAND | 0x10 | (variant ? CIRRUS_BLT_TRANSPARENT : 0),
			.modeext = variant == 2 ? CIRRUS_BLTX_INVERT : 0, .rop = CIRRUS_ROP_S,
			.fg = 0xF800, .bg = 0x001F,
		};
		blt(f, &b);
		for (unsigned y = 0; y < 2; y++)
			for (unsigned x = 0; x < 12; x++) {
				unsigned pos = x, byte = bits[y * 2 + pos / 8];
				bool bit = (byte >> (7 - pos % 8)) & 1;
				uint16_t got = (uint16_t)(m[y * 256 + 2 * x] | m[y * 256 + 2 * x + 1] << 8);
				uint16_t want = variant == 0 ? (bit ? 0xF800 : 0x001F)
					      : variant == 1 ? (bit ? 0xF800 : 0x1111)
							     : (bit ? 0x1111 : 0x001F);
				assert_int_equal(got, want);
			}
		assert_int_equal(m[2 * 256], 0x11); /* nothing past the height */
	}
	/* skip 3 bits: the first pixel is bit 3 of the first byte (0xA5: 0) */
	memset(m, 0x11, 0x10000);
	m[0x8000] = 0x10;
	struct cirrus_blt s = { .width = 8, .height = 1, .src = 0x8000, .dst = 0x100, .skip = 3,
				.mode = CIRRUS_BLT_EXPAND, .rop = CIRRUS_ROP_S, .fg = 0xEE, .bg = 0x22 };
	blt(f, &s);
	/* the 3 skipped pixels untouched, then bits 3..7 of 0x10 */
	static const uint8_t want[8] = { 0x11, 0x11, 0x11, 0xEE, 0x22, 0x22, 0x22, 0x22 };
	assert_memory_equal(m + 0x100, want, 8);
}

/* An 8x8 pattern (8 bpp: 64 bytes, rows of 8) repeated over the
 * destination; and a monochrome one (8 bytes) expanded, 32 bpp. */
static void test_blt_patterns(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	for (int i = 0; i < 64; i++)
		m[0x4000 + i] = (uint8_t)(i + 1);
	struct cirrus_blt b = { .width = 20, .height = 11, .dst_pitch = 32, .dst = 0x10000,
				.src = 0x4000, .mode = CIRRUS_BLT_PATTERN, .rop = CIRRUS_ROP_S };
	blt(f, &b);
	for (unsigned y = 0; y < 11; y++)
		for (unsigned x = 0; x < 20; x++)
			assert_int_equal(m[0x10000 + y * 32 + x], (y & 7) * 8 + (x & 7) + 1);
	assert_int_equal(m[0x10000 + 20], 0);
	static const uint8_t mono[8] = { 0x81, 0x42, 0x24, 0x18, 0x18, 0x24, 0x42, 0x81 };
	memcpy(m + 0x5000, mono, 8);
	struct cirrus_blt e = { .width = 10 * 4, .height = 9, .dst_pitch = 64, .dst = 0x20000,
				.src = 0x5000, .mode = CIRRUS_BLT_PATTERN | CIRRUS_BLT_EXPAND | 0x30,
				.rop = CIRRUS_ROP_S, .fg = 0x00FFFFFF, .bg = 0x00000080 };
	blt(f, &e);
	for (unsigned y = 0; y < 9; y++)
		for (unsigned x = 0; x < 10; x++) {
			const uint8_t *p = m + 0x20000 + y * 64 + x * 4;
			uint32_t got = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
			bool bit = (mono[y & 7] >> (7 - (x & 7))) & 1;
			assert_int_equal(got, bit ? 0x00FFFFFF : 0x00000080);
		}
}

/* Solid fill (GR33 bit 2 with pattern and expansion): the foreground
 * through the ROP, 24 bpp (3 bytes a pixel), XOR twice restores. */
static void test_blt_solid_fill(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	struct cirrus_blt b = { .width = 30, .height = 4, .dst_pitch = 40, .dst = 0x300,
				.mode = CIRRUS_BLT_PATTERN | CIRRUS_BLT_EXPAND | 0x20,
				.modeext = CIRRUS_BLTX_SOLID_FILL, .rop = CIRRUS_ROP_S,
				.fg = 0x123456 };
	blt(f, &b);
	for (unsigned y = 0; y < 4; y++)
		for (unsigned x = 0; x < 10; x++) {
			assert_int_equal(m[0x300 + y * 40 + 3 * x], 0x56);
			assert_int_equal(m[0x300 + y * 40 + 3 * x + 2], 0x12);
		}
	assert_int_equal(m[0x300 + 30], 0);
	b.rop = CIRRUS_ROP_S_XOR_D;
	blt(f, &b);
	blt(f, &b);
	assert_int_equal(m[0x300 + 3 * 40 + 27], 0x56);
	b.fg = 0x123456 ^ 0xFFFFFF;
	blt(f, &b);
	assert_int_equal(m[0x300], 0xFF);
}

/* Transparent copy, 16 bpp: a pixel whose result is the key colour is
 * not written; 24 bpp transparency is refused. */
static void test_blt_transparent_copy(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	static const uint16_t src[4] = { 0x1234, 0xBEEF, 0x0001, 0xBEEF };
	memcpy(m + 0x1000, src, sizeof(src));
	memset(m + 0x2000, 0x55, 8);
	struct cirrus_blt b = { .width = 8, .height = 1, .dst = 0x2000, .src = 0x1000,
				.mode = CIRRUS_BLT_TRANSPARENT | 0x10, .rop = CIRRUS_ROP_S,
				.transparent = 0xBEEF };
	blt(f, &b);
	static const uint16_t want[4] = { 0x1234, 0x5555, 0x0001, 0x5555 };
	assert_memory_equal(m + 0x2000, want, 8);
	b.mode = CIRRUS_BLT_TRANSPARENT | 0x20;
	b.width = 6;
	blt(f, &b);
	assert_int_equal(f->c->refusals, 1);
	assert_memory_equal(m + 0x2000, want, 8);
}

/* System to screen: the CPU writes the source through the window (an
 * extended mode) or BAR0's aperture at 16 MiB. A copy's lines are whole
 * dwords; colour expansion's lines whole bytes. */
static void test_blt_system_to_screen(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	out8(f, 0x3C2, 0x01);
	sr(f, 0x07, 0x01);
	struct cirrus_blt b = { .width = 6, .height = 3, .dst_pitch = 16, .dst = 0x400,
				.mode = CIRRUS_BLT_SYS_SRC, .rop = CIRRUS_ROP_S };
	blt(f, &b);
	assert_true(f->c->sys_active);
	assert_int_equal(gr_get(f, 0x31) & 0x01, 0x01); /* busy */
	for (unsigned i = 0; i < 3 * 8; i++) /* 6 bytes padded to 8 per line */
		vga_mem_write(f->v, 0x1234, (uint8_t)(i + 1));
	assert_false(f->c->sys_active);
	assert_int_equal(gr_get(f, 0x31) & 0x03, 0);
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 6; x++)
			assert_int_equal(m[0x400 + y * 16 + x], y * 8 + x + 1);
	assert_int_equal(m[0x400 + 6], 0);
	/* an 8x2 glyph expanded, 8 bpp, through BAR0 + 16 MiB */
	struct cirrus_blt e = { .width = 8, .height = 2, .dst_pitch = 16, .dst = 0x800,
				.mode = CIRRUS_BLT_SYS_SRC | CIRRUS_BLT_EXPAND, .rop = CIRRUS_ROP_S,
				.fg = 0x0F, .bg = 0xF0 };
	blt(f, &e);
	cirrus_vga_lfb_write(f->c, CIRRUS_BLT_APERTURE + 0x40, 0xC3, 1);
	cirrus_vga_lfb_write(f->c, CIRRUS_BLT_APERTURE, 0x18, 1);
	static const uint8_t want[2][8] = { { 0x0F, 0x0F, 0xF0, 0xF0, 0xF0, 0xF0, 0x0F, 0x0F },
					    { 0xF0, 0xF0, 0xF0, 0x0F, 0x0F, 0xF0, 0xF0, 0xF0 } };
	assert_memory_equal(m + 0x800, want[0], 8);
	assert_memory_equal(m + 0x810, want[1], 8);
	/* the window is plain video memory again */
	gr(f, 0x09, 0);
	vga_mem_write(f->v, 5, 0x77);
	assert_int_equal(m[5], 0x77);
	/* GR31 bit 2 cancels a BLT that waits for its source */
	blt(f, &b);
	assert_true(f->c->sys_active);
	gr(f, 0x31, 0x04);
	gr(f, 0x31, 0x00);
	assert_false(f->c->sys_active);
}

/* Starting a BLT by writing the destination's high byte (GR31 bit 7),
 * and the registers at 0xB8000 (SR17 bit 2) in an extended mode. */
static void test_blt_autostart_and_b8000(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	out8(f, 0x3C2, 0x01);
	sr(f, 0x07, 0x01);
	sr(f, 0x17, 0x04);
	vga_mem_write(f->v, 0x18000 + 0x04, 0xAB); /* foreground */
	vga_mem_write(f->v, 0x18000 + 0x08, 3);    /* 4 bytes */
	vga_mem_write(f->v, 0x18000 + 0x0A, 0);    /* 1 line */
	vga_mem_write(f->v, 0x18000 + 0x18, CIRRUS_BLT_PATTERN | CIRRUS_BLT_EXPAND);
	vga_mem_write(f->v, 0x18000 + 0x1B, CIRRUS_BLTX_SOLID_FILL);
	vga_mem_write(f->v, 0x18000 + 0x1A, CIRRUS_ROP_S);
	assert_int_equal(vga_mem_read(f->v, 0x18000 + 0x04), 0xAB);
	gr(f, 0x31, 0x80);
	vga_mem_write(f->v, 0x18000 + 0x10, 0x20);
	vga_mem_write(f->v, 0x18000 + 0x11, 0x00);
	assert_int_equal(m[0x20], 0);
	vga_mem_write(f->v, 0x18000 + 0x12, 0x00); /* starts it */
	static const uint8_t want[5] = { 0xAB, 0xAB, 0xAB, 0xAB, 0 };
	assert_memory_equal(m + 0x20, want, 5);
}

/* Bounds: the one check, at its edges. */
static void test_blt_fits(void **state)
{
	(void)state;
	assert_true(cirrus_blt_fits(VRAM, VRAM - 10, 0, 10, 1, false));
	assert_false(cirrus_blt_fits(VRAM, VRAM - 10, 0, 11, 1, false));
	assert_true(cirrus_blt_fits(VRAM, VRAM - 100 - 10, 100, 10, 2, false));
	assert_false(cirrus_blt_fits(VRAM, VRAM - 100 - 10, 100, 10, 3, false));
	assert_true(cirrus_blt_fits(VRAM, 9, 0, 10, 1, true));   /* bytes 0..9 */
	assert_false(cirrus_blt_fits(VRAM, 8, 0, 10, 1, true));  /* byte -1 */
	assert_true(cirrus_blt_fits(VRAM, 1000, -100, 10, 11, false));
	assert_false(cirrus_blt_fits(VRAM, 1000, -100, 10, 12, false));
	assert_true(cirrus_blt_fits(VRAM, VRAM - 1, -8192, 8192, 512, true));
	assert_false(cirrus_blt_fits(VRAM, VRAM - 1, -8192, 8192, 513, true));
	assert_false(cirrus_blt_fits(VRAM, 0, 0, 0, 1, false));
	assert_false(cirrus_blt_fits(VRAM, 0, 0, 1, 0, false));
	assert_false(cirrus_blt_fits(VRAM, 0, 0, 8193, 1, false));
	assert_false(cirrus_blt_fits(VRAM, 0, 1, 1, 8193, false));
	assert_false(cirrus_blt_fits(VRAM, 0, INT64_MAX, 1, 2, false));
	assert_false(cirrus_blt_fits(VRAM, 0, INT64_MIN, 1, 2, false));
	assert_false(cirrus_blt_fits(VRAM, UINT32_MAX, 0, 1, 1, false));
}

/* Hostile BLTs through the registers: refused, one log line each (up to
 * a limit), video memory untouched, the engine idle again. */
static void test_blt_hostile_refused(void **state)
{
	struct fx *f = *state;
	const uint32_t end = VRAM;
	const struct cirrus_blt bad[] = {
		/* destination past the end by one byte */
		{ .width = 16, .height = 1, .dst = end - 15, .rop = CIRRUS_ROP_S },
		/* 8192 lines of the largest pitch from the start */
		{ .width = 8192, .height = 8192, .dst_pitch = 8191, .src_pitch = 8191, .rop = CIRRUS_ROP_S },
		/* backward from address 0: the line runs below it */
		{ .width = 2, .height = 1, .dst = 0, .src = 100, .mode = CIRRUS_BLT_BACKWARDS, .rop = CIRRUS_ROP_S },
		/* backward with lines going below 0 */
		{ .width = 1, .height = 3, .dst = 0x1000, .dst_pitch = 0x1000, .src = end - 1,
		  .src_pitch = 0x1FFF, .mode = CIRRUS_BLT_BACKWARDS, .rop = CIRRUS_ROP_S },
		/* source past the end */
		{ .width = 64, .height = 2, .dst = 0, .dst_pitch = 64, .src = end - 64, .src_pitch = 64,
		  .rop = CIRRUS_ROP_S },
		/* colour-expansion bits past the end */
		{ .width = 64, .height = 100, .dst = 0, .dst_pitch = 64, .src = end - 100,
		  .mode = CIRRUS_BLT_EXPAND, .rop = CIRRUS_ROP_S },
		/* a fill running off the end */
		{ .width = 8192, .height = 600, .dst_pitch = 8191, .dst = end - 8192 * 500,
		  .mode = CIRRUS_BLT_PATTERN | CIRRUS_BLT_EXPAND, .modeext = CIRRUS_BLTX_SOLID_FILL,
		  .rop = CIRRUS_ROP_1 },
		/* a system-to-screen destination off the end */
		{ .width = 8192, .height = 8192, .dst_pitch = 8191, .dst = 0x3FFFFF,
		  .mode = CIRRUS_BLT_SYS_SRC, .rop = CIRRUS_ROP_S },
		/* video to system memory */
		{ .width = 4, .height = 1, .mode = CIRRUS_BLT_SYS_DEST, .rop = CIRRUS_ROP_S },
	};
	uint8_t *snap = malloc(VRAM);
	fill_random(f->v->vram, VRAM);
	memcpy(snap, f->v->vram, VRAM);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		blt(f, &bad[i]);
		assert_int_equal(f->c->refusals, i + 1);
		assert_false(f->c->sys_active);
		assert_int_equal(gr_get(f, 0x31) & 0x03, 0);
		assert_memory_equal(f->v->vram, snap, VRAM);
	}
	free(snap);
}

/* The engine on a heap buffer of exactly the video memory's size (ASan's
 * redzones around it): thousands of random register values, each run
 * either refused or kept inside. */
static void test_blt_random_under_asan(void **state)
{
	(void)state;
	const uint32_t size = 64 * 1024;
	uint8_t *vram = malloc(size), line[CIRRUS_BLT_LINE_MAX];
	fill_random(line, sizeof(line));
	unsigned ran = 0, refused = 0;
	for (int i = 0; i < 20000; i++) {
		struct cirrus_blt b = {
			.width = (rnd() % 4 ? rnd() % 300 : rnd() % 8192) + 1,
			.height = (rnd() % 4 ? rnd() % 40 : rnd() % 8192) + 1,
			.dst_pitch = rnd() % 4 ? rnd() % 512 : rnd() % 8192,
			.src_pitch = rnd() % 4 ? rnd() % 512 : rnd() % 8192,
			.dst = rnd() % (size + 0x1000), .src = rnd() % (size + 0x1000),
			.mode = (uint8_t)rnd(), .modeext = (uint8_t)rnd(), .rop = rops[rnd() % 16].code,
			.skip = (uint8_t)rnd(), .fg = rnd(), .bg = rnd(), .transparent = (uint16_t)rnd(),
		};
		uint32_t lo, hi, n;
		const char *why;
		if (b.mode & CIRRUS_BLT_SYS_SRC) {
			if (cirrus_blt_sys_check(size, &b, &n, &why) == 0) {
				for (uint32_t y = 0; y < cirrus_blt_sys_lines(&b); y++)
					cirrus_blt_sys_line(vram, size, &b, y, line);
				ran++;
			} else {
				refused++;
			}
		} else if (cirrus_blt_run(vram, size, &b, &why, &lo, &hi) == 0) {
			assert_true(lo <= hi && hi < size);
			ran++;
		} else {
			assert_non_null(why);
			refused++;
		}
	}
	free(vram);
	assert_true(ran > 1000 && refused > 1000);
}


/* ---- pictures, banks, cursor, saved state ---------------------------------- */

/* 8 bpp through the palette, 24 and 32 bpp as B, G, R; CR1B/CR1D's
 * extended start address (in dwords) and offset. */
static void test_8_24_32bpp_pictures(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	set_mode(f, 0x11, 0x00, 640);
	out8(f, 0x3C8, 7);
	out8(f, 0x3C9, 63);
	out8(f, 0x3C9, 0);
	out8(f, 0x3C9, 21);
	m[640 + 5] = 7;
	vga_refresh(f->v);
	assert_int_equal(px(f, 5, 1), 0xFF0057); /* 21 widened: 21 << 2 | 3 (the low bit copied) */
	set_mode(f, 0x15, 0xE5, 1920);
	m[1920 * 3 + 3 * 10] = 0x01;
	m[1920 * 3 + 3 * 10 + 1] = 0x02;
	m[1920 * 3 + 3 * 10 + 2] = 0x03;
	vga_mark_vram_dirty(f->v, 0, VRAM);
	vga_refresh(f->v);
	assert_int_equal(px(f, 10, 3), 0x030201);
	/* 32 bpp, pitch 2560 (CR13 0x40, CR1B bit 4), start at 0x100000 */
	set_mode(f, 0x19, 0x00, 2560);
	uint32_t start = 0x100000 / 4;
	cr(f, 0x0D, (uint8_t)start);
	cr(f, 0x0C, (uint8_t)(start >> 8));
	cr(f, 0x1B, (uint8_t)(0x32 | (start >> 16 & 1) | (start >> 15 & 0x0C)));
	cr(f, 0x1D, (uint8_t)((start >> 12) & 0x80));
	m[0x100000 + 2560 * 2 + 4 * 7 + 0] = 0xAA;
	m[0x100000 + 2560 * 2 + 4 * 7 + 2] = 0x11;
	vga_refresh(f->v);
	assert_int_equal(f->v->surface.width, 640);
	assert_int_equal(px(f, 7, 2), 0x1100AA);
}

/* GR9/GRA/GRB: one 64 KiB bank at GR9 (4 KiB or 16 KiB units), or two
 * 32 KiB banks; write mode 5 expands a byte to 8 pixels. */
static void test_banks_and_write_modes(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	set_mode(f, 0x11, 0x00, 640);
	gr(f, 0x0B, 0x20); /* 16 KiB granularity */
	gr(f, 0x09, 3);
	vga_mem_write(f->v, 0x10, 0x5A);
	assert_int_equal(m[3 * 0x4000 + 0x10], 0x5A);
	vga_mem_write(f->v, 0x8010, 0x5B); /* the single bank's upper half */
	assert_int_equal(m[3 * 0x4000 + 0x8010], 0x5B);
	gr(f, 0x0B, 0x21); /* dual banks: 0xA8000 uses GRA */
	gr(f, 0x0A, 5);
	vga_mem_write(f->v, 0x8010, 0x5C);
	assert_int_equal(m[5 * 0x4000 + 0x10], 0x5C);
	assert_int_equal(vga_mem_read(f->v, 0x10), 0x5A);
	gr(f, 0x0B, 0x00); /* 4 KiB units */
	gr(f, 0x09, 0xFF);
	vga_mem_write(f->v, 0x20, 0x5D);
	assert_int_equal(m[0xFF * 0x1000 + 0x20], 0x5D);
	/* write mode 5 (GRB bit 2), x8 addresses (bit 1): 1 bits GR1, 0 bits GR0 */
	gr(f, 0x0B, 0x06);
	gr(f, 0x09, 0);
	gr(f, 0x00, 0x22);
	gr(f, 0x01, 0xEE);
	gr(f, 0x05, 0x45);
	vga_mem_write(f->v, 2, 0xC1);
	static const uint8_t want[8] = { 0xEE, 0xEE, 0x22, 0x22, 0x22, 0x22, 0x22, 0xEE };
	assert_memory_equal(m + 16, want, 8);
	assert_int_equal(gr_get(f, 0x00), 0x22); /* GR0/GR1 read back all 8 bits */
	/* write mode 4 leaves 0 bits alone */
	gr(f, 0x05, 0x44);
	memset(m + 32, 0x77, 8);
	vga_mem_write(f->v, 4, 0x81);
	static const uint8_t want4[8] = { 0xEE, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0xEE };
	assert_memory_equal(m + 32, want4, 8);
}

/* The hardware cursor: SR10/SR11 with the index's top bits, SR12 on and
 * 32x32, SR13 the pattern in the last 16 KiB; colours from the hidden
 * palette (SR12 bit 1) entries 0 and 15; (plane 0, plane 1) = (1, 0)
 * inverts. */
static void test_hardware_cursor(void **state)
{
	struct fx *f = *state;
	uint8_t *m = f->v->vram;
	set_mode(f, 0x19, 0x00, 2560);
	memset(m, 0x40, 2560 * 480);
	sr(f, 0x12, 0x02);
	out8(f, 0x3C8, 0);
	out8(f, 0x3C9, 63); out8(f, 0x3C9, 0); out8(f, 0x3C9, 0);
	out8(f, 0x3C8, 15);
	out8(f, 0x3C9, 0); out8(f, 0x3C9, 63); out8(f, 0x3C9, 0);
	uint32_t pat = VRAM - 0x4000 + 2 * 256;
	m[pat + 0] = 0x80;       /* row 0 pixel 0: plane 0 only: invert */
	m[pat + 128] = 0x60;     /* row 0 pixels 1, 2: plane 1 only: colour 0 */
	m[pat + 4] = 0x10;       /* row 1 pixel 3: both: colour 15 */
	m[pat + 128 + 4] = 0x10;
	sr(f, 0x13, 2);
	sr(f, 0x10 | (5 << 5), 100 >> 3); /* x = 100 | 5 = 101 */
	sr(f, 0x11, 50 >> 3);             /* y = 48 */
	sr(f, 0x12, 0x01);
	vga_refresh(f->v);
	assert_int_equal(px(f, 101, 48), 0x404040 ^ 0xFFFFFF);
	assert_int_equal(px(f, 102, 48), 0xFF0000);
	assert_int_equal(px(f, 103, 48), 0xFF0000);
	assert_int_equal(px(f, 104, 48), 0x404040);
	assert_int_equal(px(f, 104, 49), 0x00FF00);
	/* moved: drawn again at the new place, the old one gone */
	sr(f, 0x10, 200 >> 3);
	vga_refresh(f->v);
	assert_int_equal(px(f, 101, 48), 0x404040);
	assert_int_equal(px(f, 200, 48), 0x404040 ^ 0xFFFFFF);
	/* 64x64: rows of 16 bytes, plane 1 the second 8 */
	sr(f, 0x12, 0x05);
	sr(f, 0x13, 0x04);
	pat = VRAM - 0x4000 + 4 * 256;
	m[pat + 16 * 63 + 7] = 0x01; /* row 63, pixel 63 */
	m[pat + 16 * 63 + 15] = 0x01;
	vga_refresh(f->v);
	assert_int_equal(px(f, 200 + 63, 48 + 63), 0x00FF00);
	/* off: gone */
	sr(f, 0x12, 0x00);
	vga_refresh(f->v);
	assert_int_equal(px(f, 200 + 63, 48 + 63), 0x404040);
}

static uint8_t *save_bytes(struct cirrus_vga *c, size_t *len)
{
	struct ss_writer w;
	ss_writer_init(&w);
	cirrus_vga_save(c, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	uint8_t *copy = malloc(w.len);
	memcpy(copy, w.buf, w.len);
	*len = w.len;
	ss_writer_free(&w);
	return copy;
}

/* Saved state, in the middle of a system-to-screen BLT: a fresh card
 * loads it, finishes the BLT as the first would, and saves the same
 * bytes. A stream whose BLT would leave video memory is refused. */
static void test_saved_state(void **state)
{
	struct fx *f = *state;
	set_mode(f, 0x17, 0xE1, 1280);
	sr(f, 0x12, 0x01);
	sr(f, 0x30, 7);
	struct cirrus_blt b = { .width = 4, .height = 2, .dst_pitch = 1280, .dst = 0x100,
				.mode = CIRRUS_BLT_SYS_SRC, .rop = CIRRUS_ROP_S };
	blt(f, &b);
	cirrus_vga_lfb_write(f->c, CIRRUS_BLT_APERTURE, 0x04030201, 4);
	size_t len, len2;
	uint8_t *bytes = save_bytes(f->c, &len);

	struct fx *g = NULL;
	setup((void **)&g);
	struct ss_reader r;
	assert_int_equal(ss_reader_open(&r, bytes, len), 0);
	assert_true(cirrus_vga_load(g->c, &r, 0));
	uint8_t *again = save_bytes(g->c, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(bytes, again, len);
	assert_true(g->c->sys_active);
	assert_int_equal(g->c->cursor_x, 7 << 3 | 1);
	cirrus_vga_lfb_write(g->c, CIRRUS_BLT_APERTURE, 0x08070605, 4);
	assert_false(g->c->sys_active);
	static const uint8_t want[4] = { 5, 6, 7, 8 };
	assert_memory_equal(g->v->vram + 0x100 + 1280, want, 4);
	ss_reader_close(&r);
	teardown((void **)&g);
	free(again);

	/* the BLT's destination moved past the end of video memory */
	f->c->sys.dst = VRAM - 2;
	uint8_t *bad = save_bytes(f->c, &len);
	setup((void **)&g);
	assert_int_equal(ss_reader_open(&r, bad, len), 0);
	assert_false(cirrus_vga_load(g->c, &r, 0));
	assert_false(g->c->sys_active);
	ss_reader_close(&r);
	teardown((void **)&g);
	free(bad);
	free(bytes);
}


/* Reset: the core's power-on state, then the 5446's (SR6 locked, SR7
 * plain VGA, the memory configuration), a BLT in progress dropped and
 * the window plain VGA memory again; video memory keeps its contents. */
static void test_reset(void **state)
{
	struct fx *f = *state;
	set_mode(f, 0x17, 0xE1, 1280);
	gr(f, 0x0B, 0x21);
	sr(f, 0x12, 0x05);
	f->v->vram[100] = 0x42;
	struct cirrus_blt b = { .width = 4, .height = 2, .dst_pitch = 1280, .dst = 0x100,
				.mode = CIRRUS_BLT_SYS_SRC, .rop = CIRRUS_ROP_S };
	blt(f, &b);
	assert_true(f->c->sys_active);
	cirrus_vga_reset(f->c);
	assert_false(f->c->sys_active);
	assert_int_equal(f->c->sr[6], 0x0F);
	assert_int_equal(f->c->sr[7], 0x00);
	assert_int_equal(f->c->sr[0x0F], 0x98);
	assert_int_equal(f->c->sr[0x12], 0x00);
	assert_int_equal(f->c->gr[0x0B], 0x00);
	assert_int_equal(f->c->hidden_dac, 0x00);
	assert_int_equal(f->v->misc, 0x00);
	assert_int_equal(f->v->vram[100], 0x42);
	assert_int_equal(f->c->refusals, 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_ids_and_unlock, setup, teardown),
	cmocka_unit_test_setup_teardown(test_hidden_dac, setup, teardown),
	cmocka_unit_test_setup_teardown(test_16bpp_picture, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_every_rop_forward, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_every_rop_backward, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_overlapping_scroll, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_colour_expansion, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_patterns, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_solid_fill, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_transparent_copy, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_system_to_screen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blt_autostart_and_b8000, setup, teardown),
	cmocka_unit_test(test_blt_fits),
	cmocka_unit_test_setup_teardown(test_blt_hostile_refused, setup, teardown),
	cmocka_unit_test(test_blt_random_under_asan),
	cmocka_unit_test_setup_teardown(test_8_24_32bpp_pictures, setup, teardown),
	cmocka_unit_test_setup_teardown(test_banks_and_write_modes, setup, teardown),
	cmocka_unit_test_setup_teardown(test_hardware_cursor, setup, teardown),
	cmocka_unit_test_setup_teardown(test_saved_state, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
};

int main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
