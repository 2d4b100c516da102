// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VGA core (hw/display/vga.c): registers, the planar memory model with
 * every write and read mode, chain-4 and odd/even, the window's memory
 * maps and its RAM mapping, Bochs VBE mode switches and their bounds, the
 * renderer's pixels and dirty rectangles, the PPM bytes, saved state.
 * Expected values are worked by hand from the VGA register descriptions.
 */
#include "unit.h"

#include <stdlib.h>

#include "display.h"
#include "event.h"
#include "hw/vga.h"
#include "memory.h"
#include "savestate.h"
#include "util.h"

#define VRAM (16u << 20)

struct fx {
	struct mem_space space;
	struct vga *v;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	mem_space_init(&f->space, NULL);
	f->v = vga_create(&(struct vga_config){ .vram_size = VRAM, .legacy = true,
						  .space = &f->space });
	assert_non_null(f->v);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vga_destroy(f->v);
	mem_space_destroy(&f->space);
	free(f);
	return 0;
}

static void sr(struct vga *v, uint8_t i, uint8_t val)
{
	vga_port_write(v, 0x3C4, i);
	vga_port_write(v, 0x3C5, val);
}

static void gr(struct vga *v, uint8_t i, uint8_t val)
{
	vga_port_write(v, 0x3CE, i);
	vga_port_write(v, 0x3CF, val);
}

static void cr(struct vga *v, uint8_t i, uint8_t val)
{
	vga_port_write(v, 0x3D4, i);
	vga_port_write(v, 0x3D5, val);
}

static void ar(struct vga *v, uint8_t i, uint8_t val)
{
	(void)vga_port_read(v, 0x3DA); /* the flip-flop to "index" */
	vga_port_write(v, 0x3C0, i);
	vga_port_write(v, 0x3C0, val);
}

static uint32_t planes(struct vga *v, uint32_t offset)
{
	const uint8_t *p = v->vram + offset * 4;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_planes(struct vga *v, uint32_t offset, uint32_t val)
{
	for (int i = 0; i < 4; i++)
		v->vram[offset * 4 + i] = (uint8_t)(val >> (8 * i));
}

/* Planar mode (mode 12h's memory set-up): colour ports, every plane
 * enabled, sequential addressing, 0xA0000 64 KiB, write mode 0. */
static void planar_mode(struct vga *v)
{
	vga_port_write(v, 0x3C2, 0xE3);
	sr(v, 2, 0x0F);
	sr(v, 4, 0x06);
	gr(v, 5, 0x00);
	gr(v, 6, 0x05);
	gr(v, 8, 0xFF);
}

/* Mode 3 as the VGA BIOS sets it: 80x25 text, 9x16 cells, B8000. */
static void text_mode(struct vga *v)
{
	static const uint8_t pal[16] = { 0, 1, 2, 3, 4, 5, 0x14, 7, 0x38, 0x39, 0x3A, 0x3B,
					 0x3C, 0x3D, 0x3E, 0x3F };
	vga_port_write(v, 0x3C2, 0x67);
	sr(v, 1, 0x00);
	sr(v, 2, 0x03);
	sr(v, 3, 0x00);
	sr(v, 4, 0x02);
	gr(v, 5, 0x10);
	gr(v, 6, 0x0E);
	gr(v, 8, 0xFF);
	cr(v, 0x11, 0x00);
	cr(v, 0x01, 0x4F);
	cr(v, 0x07, 0x1F);
	cr(v, 0x09, 0x4F);
	cr(v, 0x0A, 0x0D);
	cr(v, 0x0B, 0x0E);
	cr(v, 0x0C, 0);
	cr(v, 0x0D, 0);
	cr(v, 0x0E, 0);
	cr(v, 0x0F, 0);
	cr(v, 0x12, 0x8F);
	cr(v, 0x13, 0x28);
	for (uint8_t i = 0; i < 16; i++)
		ar(v, i, pal[i]);
	ar(v, 0x10, 0x0C);
	ar(v, 0x12, 0x0F);
	ar(v, 0x14, 0x00);
	(void)vga_port_read(v, 0x3DA);
	vga_port_write(v, 0x3C0, 0x20); /* the palette back to the display */
}

static void dac_entry(struct vga *v, uint8_t i, uint8_t r, uint8_t g, uint8_t b)
{
	vga_port_write(v, 0x3C8, i);
	vga_port_write(v, 0x3C9, r);
	vga_port_write(v, 0x3C9, g);
	vga_port_write(v, 0x3C9, b);
}

static uint32_t pixel(struct vga *v, unsigned x, unsigned y)
{
	return v->surface.pixels[(size_t)y * v->surface.width + x];
}

/* ---- registers ---------------------------------------------------------- */

static void test_register_files_and_indices(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	vga_port_write(v, 0x3C2, 0x01); /* colour: CRTC at 0x3D4 */
	cr(v, 0x14, 0x40);
	assert_int_equal(v->cr[0x14], 0x40);
	/* the mono ports are dead while misc says colour */
	vga_port_write(v, 0x3B4, 0x14);
	vga_port_write(v, 0x3B5, 0x99);
	assert_int_equal(v->cr[0x14], 0x40);
	assert_int_equal(vga_port_read(v, 0x3B5), 0xFF);
	/* hostile indices wrap within each file */
	vga_port_write(v, 0x3C4, 0xFF);
	vga_port_write(v, 0x3C5, 0x5A);
	assert_int_equal(v->sr[7], 0x5A);
	vga_port_write(v, 0x3CE, 0xFF);
	vga_port_write(v, 0x3CF, 0xA5);
	assert_int_equal(v->gr[15], 0xA5);
	cr(v, 0xFF, 0x77);
	assert_int_equal(v->cr[0x1F], 0x77);
	/* CR11 bit 7 protects CR0-7, but for CR7 bit 4 */
	cr(v, 0x11, 0x80);
	cr(v, 0x01, 0x33);
	assert_int_not_equal(v->cr[1], 0x33);
	cr(v, 0x07, 0xFF);
	assert_int_equal(v->cr[7], 0x10);
	/* the attribute flip-flop: index, data; 0x3DA resets it */
	ar(v, 0x05, 0x3F);
	assert_int_equal(v->ar[5], 0x3F);
	(void)vga_port_read(v, 0x3DA);
	vga_port_write(v, 0x3C0, 0x3F); /* index 0x1F: no register there */
	vga_port_write(v, 0x3C0, 0x12);
	assert_int_equal(v->ar[0x1F], 0);
	/* status 1 toggles retrace on each read */
	uint8_t a = vga_port_read(v, 0x3DA), b = vga_port_read(v, 0x3DA);
	assert_int_equal((a ^ b) & 0x09, 0x09);
}

static void test_dac_cycles_and_wrap(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	vga_port_write(v, 0x3C8, 0xFF);
	vga_port_write(v, 0x3C9, 0x11);
	vga_port_write(v, 0x3C9, 0xFF); /* six bits kept */
	vga_port_write(v, 0x3C9, 0x22);
	assert_memory_equal(v->palette + 255 * 3, ((uint8_t[]){ 0x11, 0x3F, 0x22 }), 3);
	assert_int_equal(vga_port_read(v, 0x3C8), 0x00); /* the index wrapped */
	vga_port_write(v, 0x3C9, 0x33);
	vga_port_write(v, 0x3C9, 0x01);
	assert_int_equal(v->palette[0], 0); /* an entry changes on its third write */
	vga_port_write(v, 0x3C9, 0x02);
	assert_memory_equal(v->palette, ((uint8_t[]){ 0x33, 0x01, 0x02 }), 3);
	vga_port_write(v, 0x3C7, 0xFF);
	assert_int_equal(vga_port_read(v, 0x3C7), 3);
	assert_int_equal(vga_port_read(v, 0x3C9), 0x11);
	assert_int_equal(vga_port_read(v, 0x3C9), 0x3F);
	assert_int_equal(vga_port_read(v, 0x3C9), 0x22);
	assert_int_equal(vga_port_read(v, 0x3C9), 0x33);
}

/* ---- the planar memory model -------------------------------------------- */

static void test_write_mode_0(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	planar_mode(v);
	/* plain: the byte to every enabled plane */
	vga_mem_write(v, 0x10, 0xA5);
	assert_int_equal(planes(v, 0x10), 0xA5A5A5A5);
	/* the map mask keeps planes 1 and 3 */
	sr(v, 2, 0x05);
	vga_mem_write(v, 0x10, 0x3C);
	assert_int_equal(planes(v, 0x10), 0xA53CA53C);
	sr(v, 2, 0x0F);
	/* set/reset on planes 0 and 1 (value 0b0010): plane 0 gets 0x00,
	 * plane 1 0xFF, planes 2-3 the CPU byte rotated right by 4 */
	gr(v, 1, 0x03);
	gr(v, 0, 0x02);
	gr(v, 3, 0x04);
	vga_mem_write(v, 0x20, 0x12);
	assert_int_equal(planes(v, 0x20), 0x2121FF00);
	/* bit mask 0x0F with the latch of offset 0x21 (read first) */
	gr(v, 1, 0);
	gr(v, 3, 0);
	set_planes(v, 0x21, 0x11223344);
	(void)vga_mem_read(v, 0x21);
	gr(v, 8, 0x0F);
	vga_mem_write(v, 0x21, 0xFF);
	assert_int_equal(planes(v, 0x21), 0x1F2F3F4F);
	/* the logical operations against the latch 0x11223344 */
	gr(v, 8, 0xFF);
	gr(v, 3, 0x08); /* AND */
	vga_mem_write(v, 0x22, 0xF0);
	assert_int_equal(planes(v, 0x22), 0x10203040);
	gr(v, 3, 0x10); /* OR */
	vga_mem_write(v, 0x22, 0x0F);
	assert_int_equal(planes(v, 0x22), 0x1F2F3F4F);
	gr(v, 3, 0x18); /* XOR */
	vga_mem_write(v, 0x22, 0xFF);
	assert_int_equal(planes(v, 0x22), 0xEEDDCCBB);
}

static void test_write_mode_1_copies_the_latches(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	planar_mode(v);
	set_planes(v, 0x100, 0xDEADBEEF);
	gr(v, 5, 0x01);
	(void)vga_mem_read(v, 0x100);
	vga_mem_write(v, 0x200, 0x00); /* the CPU byte does not matter */
	assert_int_equal(planes(v, 0x200), 0xDEADBEEF);
	sr(v, 2, 0x01); /* still masked by the map mask */
	set_planes(v, 0x300, 0);
	vga_mem_write(v, 0x300, 0x00);
	assert_int_equal(planes(v, 0x300), 0x000000EF);
}

static void test_write_mode_2_expands_a_colour(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	planar_mode(v);
	set_planes(v, 0x40, 0x0F0F0F0F);
	(void)vga_mem_read(v, 0x40);
	gr(v, 5, 0x02);
	gr(v, 8, 0xC0); /* the two leftmost pixels */
	vga_mem_write(v, 0x40, 0x05); /* colour 5: planes 0 and 2 */
	assert_int_equal(planes(v, 0x40), 0x0FCF0FCF);
}

static void test_write_mode_3_masks_by_the_rotated_byte(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	planar_mode(v);
	set_planes(v, 0x50, 0);
	(void)vga_mem_read(v, 0x50);
	gr(v, 5, 0x03);
	gr(v, 0, 0x0A); /* colour 10: planes 1 and 3 */
	gr(v, 8, 0xF0);
	gr(v, 3, 0x01); /* rotate right by one */
	vga_mem_write(v, 0x50, 0x3C); /* rotated 0x1E; & bit mask: 0x10 */
	assert_int_equal(planes(v, 0x50), 0x10001000);
}

static void test_read_modes(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	planar_mode(v);
	set_planes(v, 0x60, 0x44332211);
	gr(v, 4, 2);
	assert_int_equal(vga_mem_read(v, 0x60), 0x33);
	gr(v, 4, 0xFF); /* only two bits: plane 3 */
	assert_int_equal(vga_mem_read(v, 0x60), 0x44);
	/* read mode 1: pixel colours 0..7 across the byte */
	set_planes(v, 0x61, 0x000F3355);
	gr(v, 5, 0x08);
	gr(v, 2, 0x05); /* compare with colour 5 */
	gr(v, 7, 0x0F);
	/* pixel bits (MSB first): colours 0,0,2,2,4+1?... worked per bit:
	 * plane0 0x55 = 01010101, plane1 0x33 = 00110011, plane2 0x0F =
	 * 00001111, plane3 0: colours 0,1,2,3,4,5,6,7 -> only bit 2 (colour 5) */
	assert_int_equal(vga_mem_read(v, 0x61), 0x04);
	gr(v, 7, 0x01); /* only plane 0 cares: odd colours match */
	assert_int_equal(vga_mem_read(v, 0x61), 0x55);
	gr(v, 7, 0x00); /* nothing cares: all match */
	assert_int_equal(vga_mem_read(v, 0x61), 0xFF);
}

static void test_chain4_and_mode_13h_window(void **state)
{
	struct fx *f = *state;
	struct vga *v = f->v;

	planar_mode(v);
	sr(v, 4, 0x0E); /* chain-4 */
	gr(v, 5, 0x40);
	vga_mem_write(v, 0x1235, 0x77);
	assert_int_equal(v->vram[0x1235], 0x77); /* plane 1 of offset 0x48D */
	assert_int_equal(vga_mem_read(v, 0x1235), 0x77);
	/* with every plane on and 0xA0000 64 KiB: the window is RAM */
	assert_true(v->win[0].enabled && v->win[0].ram);
	assert_ptr_equal(v->win[0].hva, v->vram);
	assert_false(v->win[1].enabled);
	/* map mask 0x0D drops plane 1 writes, and the window traps again */
	sr(v, 2, 0x0D);
	assert_false(v->win[0].enabled);
	vga_mem_write(v, 0x1235, 0x11);
	assert_int_equal(v->vram[0x1235], 0x77);
	vga_mem_write(v, 0x1234, 0x11);
	assert_int_equal(v->vram[0x1234], 0x11);
	/* a 128 KiB map: both halves RAM */
	sr(v, 2, 0x0F);
	gr(v, 6, 0x01);
	assert_true(v->win[0].enabled && v->win[1].enabled);
	assert_ptr_equal(v->win[1].hva, v->vram + 0x10000);
	/* planar again: trapped */
	sr(v, 4, 0x06);
	assert_false(v->win[0].enabled || v->win[1].enabled);
}

static void test_odd_even_text_memory(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	text_mode(v);
	vga_mem_write(v, 0x18000, 'A');
	vga_mem_write(v, 0x18001, 0x1E);
	vga_mem_write(v, 0x18002, 'B');
	/* cell i at planar offset i: character plane 0, attribute plane 1 */
	assert_int_equal(v->vram[0], 'A');
	assert_int_equal(v->vram[1], 0x1E);
	assert_int_equal(v->vram[4], 'B');
	assert_int_equal(vga_mem_read(v, 0x18001), 0x1E);
	/* the B8000 map: 0xA0000 and 0xB0000 decode nothing */
	assert_int_equal(vga_mem_read(v, 0x0000), 0xFF);
	vga_mem_write(v, 0x10000, 0x99);
	assert_int_equal(v->vram[0x10000 * 2], 0);
	assert_false(v->win[0].enabled); /* text mode always traps */
}

/* ---- Bochs VBE ---------------------------------------------------------- */

static void vbe_mode(struct vga *v, uint16_t x, uint16_t y, uint16_t bpp, uint16_t flags)
{
	vga_vbe_write(v, VBE_ENABLE, 0);
	vga_vbe_write(v, VBE_XRES, x);
	vga_vbe_write(v, VBE_YRES, y);
	vga_vbe_write(v, VBE_BPP, bpp);
	vga_vbe_write(v, VBE_ENABLE, VBE_ENABLED | flags);
}

static void test_vbe_mode_switch_and_caps(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	sr(v, 2, 0x0F); /* as the VGA BIOS leaves it: every plane */
	assert_int_equal(vga_vbe_read(v, VBE_ID), VBE_ID5);
	vga_vbe_write(v, VBE_ID, VBE_ID0 + 2);
	assert_int_equal(vga_vbe_read(v, VBE_ID), VBE_ID0 + 2);
	vga_vbe_write(v, VBE_ID, 0x1234); /* not an id: ignored */
	assert_int_equal(vga_vbe_read(v, VBE_ID), VBE_ID0 + 2);
	vga_vbe_write(v, VBE_ENABLE, VBE_GETCAPS);
	assert_int_equal(vga_vbe_read(v, VBE_XRES), VBE_MAX_XRES);
	assert_int_equal(vga_vbe_read(v, VBE_BPP), VBE_MAX_BPP);
	assert_int_equal(vga_vbe_read(v, VBE_VIDEO_MEMORY_64K), VRAM >> 16);
	assert_int_equal(vga_vbe_read(v, 0x7FFF), 0);

	memset(v->vram, 0x5A, 4096);
	vbe_mode(v, 1024, 768, 32, VBE_LFB_ENABLED);
	assert_int_equal(vga_vbe_read(v, VBE_XRES), 1024);
	assert_int_equal(vga_vbe_read(v, VBE_VIRT_WIDTH), 1024);
	assert_int_equal(vga_vbe_read(v, VBE_VIRT_HEIGHT), VRAM / 4096);
	assert_int_equal(v->vram[0], 0); /* cleared */
	/* resolution writes while enabled are ignored */
	vga_vbe_write(v, VBE_XRES, 64);
	assert_int_equal(vga_vbe_read(v, VBE_XRES), 1024);
	/* the legacy side is a banked chain-4 window: RAM at the bank */
	assert_true(v->win[0].enabled);
	vga_vbe_write(v, VBE_BANK, 3);
	assert_ptr_equal(v->win[0].hva, v->vram + 3 * 0x10000);
	vga_mem_write(v, 0x10, 0xAB);
	assert_int_equal(v->vram[3 * 0x10000 + 0x10], 0xAB);
	/* a hostile bank wraps within video memory */
	vga_vbe_write(v, VBE_BANK, 0xFFFF);
	assert_int_equal(vga_vbe_read(v, VBE_BANK), (VRAM >> 16) - 1);
	assert_ptr_equal(v->win[0].hva, v->vram + VRAM - 0x10000);
	/* NOCLEARMEM keeps memory */
	v->vram[0] = 0x42;
	vbe_mode(v, 640, 480, 16, VBE_NOCLEARMEM);
	assert_int_equal(v->vram[0], 0x42);
	/* disabling drops the bank */
	vga_vbe_write(v, VBE_ENABLE, 0);
	assert_int_equal(vga_vbe_read(v, VBE_BANK), 0);
}

static void test_vbe_bounds(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	/* a mode larger than video memory: the height gives way */
	vbe_mode(v, 16000, 12000, 32, VBE_NOCLEARMEM);
	unsigned x = vga_vbe_read(v, VBE_XRES), y = vga_vbe_read(v, VBE_YRES);
	assert_int_equal(x, 16000);
	assert_true((uint64_t)x * y * 4 <= VRAM);
	/* odd widths round down to 8 pixels, a bad depth becomes 8 */
	vbe_mode(v, 1023, 0, 13, 0);
	assert_int_equal(vga_vbe_read(v, VBE_XRES), 1016);
	assert_int_equal(vga_vbe_read(v, VBE_YRES), 1);
	assert_int_equal(vga_vbe_read(v, VBE_BPP), 8);
	/* virtual width and offsets: everything visible stays in memory */
	vbe_mode(v, 800, 600, 32, 0);
	vga_vbe_write(v, VBE_VIRT_WIDTH, 0xFFFF);
	vga_vbe_write(v, VBE_Y_OFFSET, 0xFFFF);
	vga_vbe_write(v, VBE_X_OFFSET, 0xFFFF);
	unsigned vw = vga_vbe_read(v, VBE_VIRT_WIDTH), vh = vga_vbe_read(v, VBE_VIRT_HEIGHT);
	unsigned xo = vga_vbe_read(v, VBE_X_OFFSET), yo = vga_vbe_read(v, VBE_Y_OFFSET);
	assert_true(vw >= 800 && vh >= 600);
	assert_true(xo + 800 <= vw && yo + 600 <= vh);
	assert_true(v->vbe_start + 599ull * v->vbe_line_offset + 800 * 4 <= VRAM);
	assert_int_equal(v->vbe_start, yo * v->vbe_line_offset + xo * 4);
	vga_refresh(v); /* draws within memory (ASan watches) */
	assert_int_equal(v->surface.width, 800);
	/* panning */
	vga_vbe_write(v, VBE_VIRT_WIDTH, 1024);
	vga_vbe_write(v, VBE_X_OFFSET, 8);
	vga_vbe_write(v, VBE_Y_OFFSET, 2);
	assert_int_equal(v->vbe_start, 2 * 4096 + 8 * 4);
	v->vram[v->vbe_start] = 0x30; /* blue of the first visible pixel */
	v->vram[v->vbe_start + 2] = 0x10;
	vga_mark_vram_dirty(v, v->vbe_start, 4);
	vga_refresh(v);
	assert_int_equal(pixel(v, 0, 0), 0x100030);
}

/* ---- rendering ---------------------------------------------------------- */

static void test_vbe_pixels_every_depth(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	vbe_mode(v, 64, 8, 8, 0);
	dac_entry(v, 7, 63, 0, 1);
	v->vram[1] = 7;
	vga_refresh(v);
	assert_int_equal(pixel(v, 1, 0), 0xFF0007); /* 6 to 8 bits: 1 -> 7, 63 -> 255 */
	vbe_mode(v, 64, 8, 8, VBE_8BIT_DAC); /* eight-bit DAC: taken as is */
	dac_entry(v, 7, 0x80, 0x81, 0x82);
	v->vram[1] = 7;
	vga_refresh(v);
	assert_int_equal(pixel(v, 1, 0), 0x808182);
	vbe_mode(v, 64, 8, 15, 0);
	v->vram[2] = 0x1F; /* 0x7C1F: red 31, green 0, blue 31 */
	v->vram[3] = 0x7C;
	vga_refresh(v);
	assert_int_equal(pixel(v, 1, 0), 0xFF00FF);
	vbe_mode(v, 64, 8, 16, 0);
	v->vram[2] = 0xE0; /* 0x07E0: green 63 */
	v->vram[3] = 0x07;
	v->vram[4] = 0x01; /* 0x0801: red 1, blue 1 */
	v->vram[5] = 0x08;
	vga_refresh(v);
	assert_int_equal(pixel(v, 1, 0), 0x00FF00);
	assert_int_equal(pixel(v, 2, 0), 0x080008);
	vbe_mode(v, 64, 8, 24, 0);
	v->vram[3] = 0x01;
	v->vram[4] = 0x02;
	v->vram[5] = 0x03;
	vga_refresh(v);
	assert_int_equal(pixel(v, 1, 0), 0x030201);
	vbe_mode(v, 64, 8, 32, 0);
	v->vram[4 * 64 + 4] = 0x11; /* row 1, pixel 1 */
	v->vram[4 * 64 + 5] = 0x22;
	v->vram[4 * 64 + 6] = 0x33;
	vga_refresh(v);
	assert_int_equal(pixel(v, 1, 1), 0x332211);
}

static void test_dirty_rectangles(void **state)
{
	struct fx *f = *state;
	struct vga *v = f->v;
	struct display_rect r;

	sr(v, 2, 0x0F);
	vbe_mode(v, 640, 480, 32, 0);
	vga_refresh(v);
	assert_true(display_take_dirty(&v->surface, &r));
	assert_int_equal(r.w, 640);
	assert_int_equal(r.h, 480);
	/* nothing written: nothing to draw */
	vga_refresh(v);
	assert_false(display_take_dirty(&v->surface, &r));
	/* one write the device saw: the rows of that page */
	v->vram[100 * 2560 + 4] = 0xFF;
	vga_mark_vram_dirty(v, 100 * 2560 + 4, 1);
	vga_refresh(v);
	assert_true(display_take_dirty(&v->surface, &r));
	assert_int_equal(r.y, 4096 * (100 * 2560 / 4096) / 2560);
	assert_true(r.y <= 100 && r.y + r.h > 100 && r.h <= 3);
	assert_int_equal(pixel(v, 1, 100), 0x0000FF);
	/* a write KVM logged in the window's RAM (bank 2) */
	vga_vbe_write(v, VBE_BANK, 2);
	vga_refresh(v); /* the bank register changed: a full redraw */
	display_take_dirty(&v->surface, &r);
	assert_true(v->win[0].enabled && v->win[0].ram);
	v->vram[2 * 0x10000 + 0x20] = 0xFF;
	mem_region_mark_dirty(&v->win[0], 0x20, 1);
	vga_refresh(v);
	assert_true(display_take_dirty(&v->surface, &r));
	unsigned row = (2 * 0x10000) / 2560;
	assert_true(r.y <= row && r.y + r.h > row && r.h <= 3);
	/* a palette change redraws everything */
	dac_entry(v, 1, 1, 1, 1);
	vga_refresh(v);
	assert_true(display_take_dirty(&v->surface, &r));
	assert_int_equal(r.h, 480);
}

static void test_text_rendering_font_cursor_and_ppm(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	text_mode(v);
	/* glyph 'A' in font map 0 of plane 2: a bar on row 3, bit 7 and bit 0
	 * set on row 5 (bit 0 is column 7: the 9th column repeats it only for
	 * 0xC0-0xDF) */
	v->vram[('A' * 32 + 3) * 4 + 2] = 0xFF;
	v->vram[('A' * 32 + 5) * 4 + 2] = 0x81;
	v->vram[(0xC4 * 32 + 5) * 4 + 2] = 0x01;
	/* cell 0: 'A' yellow (14) on blue (1); cell 1: 0xC4 white on black */
	vga_mem_write(v, 0x18000, 'A');
	vga_mem_write(v, 0x18001, 0x1E);
	vga_mem_write(v, 0x18002, 0xC4);
	vga_mem_write(v, 0x18003, 0x07);
	vga_mem_write(v, 0x18000 + 2 * 81 + 1, 0x07); /* the cursor's cell: grey */
	dac_entry(v, 1, 0, 0, 42);
	dac_entry(v, 0x3E, 63, 63, 21);
	dac_entry(v, 7, 42, 42, 42);
	/* the cursor on cell 81 (row 1, column 1), lines 13-14 */
	cr(v, 0x0E, 0);
	cr(v, 0x0F, 81);
	vga_refresh(v);
	struct display_surface *s = &v->surface;
	assert_int_equal(s->kind, DISPLAY_TEXT);
	assert_int_equal(s->width, 720);
	assert_int_equal(s->height, 400);
	assert_int_equal(s->cols, 80);
	assert_int_equal(s->rows, 25);
	assert_int_equal(s->cells[0], 'A' | 0x1E << 8);
	assert_true(s->cursor_on);
	assert_int_equal(s->cursor_col, 1);
	assert_int_equal(s->cursor_row, 1);
	uint32_t yellow = 0xFFFF57, blue = 0x0000A8, grey = 0xA8A8A8;
	assert_int_equal(pixel(v, 0, 0), blue);
	for (unsigned x = 0; x < 8; x++)
		assert_int_equal(pixel(v, x, 3), yellow);
	assert_int_equal(pixel(v, 8, 3), blue); /* 9th column: background */
	assert_int_equal(pixel(v, 0, 5), yellow);
	assert_int_equal(pixel(v, 7, 5), yellow);
	assert_int_equal(pixel(v, 3, 5), blue);
	assert_int_equal(pixel(v, 9 + 7, 5), grey);
	assert_int_equal(pixel(v, 9 + 8, 5), grey); /* line graphics: repeated */
	assert_int_equal(pixel(v, 9 + 4, 16 + 13), grey); /* the cursor, in the cell's fg */
	assert_int_equal(pixel(v, 9 + 8, 16 + 14), grey);
	assert_int_equal(pixel(v, 9 + 4, 16 + 12), 0);
	assert_int_equal(pixel(v, 9 + 4, 16 + 15), 0);
	/* a change in one cell is one dirty cell */
	struct display_rect r;
	display_take_dirty(s, &r);
	vga_mem_write(v, 0x18000 + 2 * 5, 'A');
	vga_refresh(v);
	assert_true(display_take_dirty(s, &r));
	assert_int_equal(r.x, 45);
	assert_int_equal(r.y, 0);
	assert_int_equal(r.w, 9);
	assert_int_equal(r.h, 16);
	/* the cursor moving (as the BIOS does after every character) redraws
	 * the cell it left and the one it reached, not the screen */
	cr(v, 0x0F, 83);
	vga_refresh(v);
	assert_true(display_take_dirty(s, &r));
	assert_int_equal(r.x, 9);
	assert_int_equal(r.y, 16);
	assert_int_equal(r.w, 3 * 9);
	assert_int_equal(r.h, 16);
	assert_int_equal(pixel(v, 9 + 4, 16 + 13), 0); /* gone from cell 81 */
	/* two front-ends each see every change, whoever looks first */
	struct display_client a = { 0 }, b = { 0 };
	bool resized;
	assert_int_equal(display_client_add(s, &a), 0);
	assert_int_equal(display_client_add(s, &b), 0);
	pthread_mutex_lock(&s->lock);
	assert_true(display_client_take_locked(s, &a, &r, &resized));
	assert_true(resized); /* a new client sees it all, once */
	assert_int_equal(r.w, 720);
	assert_false(display_client_take_locked(s, &a, &r, &resized));
	pthread_mutex_unlock(&s->lock);
	vga_mem_write(v, 0x18000 + 2 * 7, 'A');
	vga_refresh(v);
	pthread_mutex_lock(&s->lock);
	assert_true(display_client_take_locked(s, &a, &r, &resized));
	assert_false(resized);
	assert_int_equal(r.x, 63);
	assert_int_equal(r.w, 9);
	assert_true(display_client_take_locked(s, &b, &r, &resized));
	assert_int_equal(r.w, 720); /* b had not looked yet: all of it */
	pthread_mutex_unlock(&s->lock);
	display_client_remove(s, &a);
	display_client_remove(s, &b);
	/* the PPM bytes: QEMU's header, then RGB rows */
	size_t len;
	uint8_t *ppm = display_ppm_bytes(s, &len);
	const char head[] = "P6\n720 400\n255\n";
	assert_int_equal(len, strlen(head) + 720 * 400 * 3);
	assert_memory_equal(ppm, head, strlen(head));
	const uint8_t *px = ppm + strlen(head) + (3 * 720 + 0) * 3;
	assert_memory_equal(px, ((uint8_t[]){ 0xFF, 0xFF, 0x57 }), 3);
	free(ppm);
	/* screen off (SR1 bit 5): blank */
	sr(v, 1, 0x20);
	vga_refresh(v);
	assert_int_equal(s->kind, DISPLAY_BLANK);
	assert_int_equal(pixel(v, 0, 3), 0);
}

static void test_mode_13h_and_planar_pixels(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	/* mode 13h: 320x200 chain-4 shown as 640x400 */
	vga_port_write(v, 0x3C2, 0x63);
	sr(v, 1, 0x01);
	sr(v, 2, 0x0F);
	sr(v, 4, 0x0E);
	gr(v, 5, 0x40);
	gr(v, 6, 0x05);
	cr(v, 0x11, 0);
	cr(v, 0x01, 0x4F);
	cr(v, 0x07, 0x1F);
	cr(v, 0x09, 0x41);
	cr(v, 0x12, 0x8F);
	cr(v, 0x13, 0x28);
	cr(v, 0x18, 0xFF);
	(void)vga_port_read(v, 0x3DA);
	vga_port_write(v, 0x3C0, 0x20);
	dac_entry(v, 9, 63, 0, 0);
	vga_mem_write(v, 320 * 10 + 5, 9);
	vga_refresh(v);
	assert_int_equal(v->surface.width, 640);
	assert_int_equal(v->surface.height, 400);
	assert_int_equal(pixel(v, 10, 20), 0xFF0000);
	assert_int_equal(pixel(v, 11, 21), 0xFF0000);
	assert_int_equal(pixel(v, 12, 20), 0);
	/* mode X: the same CRTC, chain-4 off; pixel x lives in plane x & 3 at
	 * offset x >> 2, written through the map mask */
	sr(v, 4, 0x06);
	gr(v, 8, 0xFF); /* as the BIOS leaves it (chain-4 ignored it) */
	assert_false(v->win[0].enabled); /* planar writes trap */
	sr(v, 2, 1u << (13 & 3));
	vga_mem_write(v, 80 * 3 + (13 >> 2), 9); /* (13, 3) */
	sr(v, 2, 0x0F);
	vga_refresh(v);
	assert_int_equal(v->vram[(80 * 3 + 3) * 4 + 1], 9);
	assert_int_equal(pixel(v, 26, 6), 0xFF0000);
	assert_int_equal(pixel(v, 27, 7), 0xFF0000);
	assert_int_equal(pixel(v, 24, 6), 0);
	/* mode 12h-like planar 16 colours: pixel 0 of offset 0 = colour 0b1011 */
	planar_mode(v);
	sr(v, 1, 0x01);
	gr(v, 5, 0x00);
	cr(v, 0x09, 0x40);
	cr(v, 0x12, 0xDF);
	cr(v, 0x07, 0x3E);
	for (uint8_t i = 0; i < 16; i++)
		ar(v, i, i);
	ar(v, 0x12, 0x0F);
	(void)vga_port_read(v, 0x3DA);
	vga_port_write(v, 0x3C0, 0x20);
	dac_entry(v, 11, 0, 63, 63);
	set_planes(v, 0, 0x80008080);
	vga_refresh(v);
	assert_int_equal(v->surface.height, 480);
	assert_int_equal(pixel(v, 0, 0), 0x00FFFF);
	assert_int_equal(pixel(v, 1, 0), 0);
	/* the colour plane enable hides plane 3: colour 3 */
	dac_entry(v, 3, 63, 0, 63);
	ar(v, 0x12, 0x07);
	(void)vga_port_read(v, 0x3DA);
	vga_port_write(v, 0x3C0, 0x20);
	vga_refresh(v);
	assert_int_equal(pixel(v, 0, 0), 0xFF00FF);
}

static void test_refresh_timer_only_with_listeners(void **state)
{
	struct vga *v = ((struct fx *)*state)->v;

	/* no event loop here: listening must not crash and changes nothing */
	display_listen(&v->surface, true);
	display_listen(&v->surface, false);
	display_listen(&v->surface, false);
	assert_int_equal(v->surface.listeners, 0);
	assert_ptr_equal(display_console(v->surface.console), &v->surface);
}

/* With an event loop: a listener makes the device refresh on its own
 * timer; without one nothing runs (a headless machine draws nothing). */
static void test_refresh_timer_follows_listeners(void **state)
{
	struct event_loop *loop = event_loop_new();
	struct vga *v = vga_create(&(struct vga_config){ .vram_size = VRAM, .legacy = true,
						       .loop = loop });
	struct display_rect r;

	assert_non_null(loop);
	sr(v, 2, 0x0F);
	vbe_mode(v, 64, 8, 32, 0);
	assert_false(event_timer_armed(v->timer));
	/* nobody listens: 100 ms of the loop draw nothing */
	int64_t end = event_clock_ns(loop, EVENT_CLOCK_HOST) + 100 * 1000 * 1000;
	while (event_clock_ns(loop, EVENT_CLOCK_HOST) < end)
		event_loop_run_once(loop, 10 * 1000 * 1000);
	assert_int_equal(v->surface.updates, 0);
	/* a listener: the timer draws the mode, then a change */
	display_listen(&v->surface, true);
	assert_true(event_timer_armed(v->timer));
	end = event_clock_ns(loop, EVENT_CLOCK_HOST) + 2000ll * 1000 * 1000;
	while (v->surface.updates == 0 && event_clock_ns(loop, EVENT_CLOCK_HOST) < end)
		event_loop_run_once(loop, 10 * 1000 * 1000);
	assert_int_equal(v->surface.width, 64);
	assert_true(display_take_dirty(&v->surface, &r));
	v->vram[4] = 0x40;
	vga_mark_vram_dirty(v, 4, 1);
	uint64_t before = v->surface.updates;
	while (v->surface.updates == before && event_clock_ns(loop, EVENT_CLOCK_HOST) < end)
		event_loop_run_once(loop, 10 * 1000 * 1000);
	assert_true(display_take_dirty(&v->surface, &r));
	assert_int_equal(r.y, 0);
	assert_int_equal(pixel(v, 1, 0), 0x000040);
	/* the last listener gone: the timer stops */
	display_listen(&v->surface, false);
	assert_false(event_timer_armed(v->timer));
	vga_destroy(v);
	event_loop_free(loop);
}

static void test_saved_state_round_trip(void **state)
{
	struct fx *f = *state;
	struct vga *v = f->v;
	struct ss_writer w;
	struct ss_reader r;

	text_mode(v);
	vbe_mode(v, 800, 600, 16, 0);
	vga_vbe_write(v, VBE_BANK, 5);
	dac_entry(v, 3, 1, 2, 3);
	v->vram[12345] = 0x77;
	ss_writer_init(&w);
	vga_save(v, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);

	struct vga *v2 = vga_create(&(struct vga_config){ .vram_size = VRAM, .legacy = true });
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(vga_load(v2, &r, 0));
	ss_reader_close(&r);
	assert_memory_equal(v2->cr, v->cr, sizeof(v->cr));
	assert_memory_equal(v2->palette, v->palette, sizeof(v->palette));
	assert_int_equal(v2->vram[12345], 0x77);
	assert_int_equal(v2->bank_offset, 5 * 0x10000);
	assert_int_equal(vga_vbe_read(v2, VBE_XRES), 800);
	assert_int_equal(v2->vbe_line_offset, 1600);
	vga_destroy(v2);
	/* another size of video memory: refused */
	struct vga *v3 = vga_create(&(struct vga_config){ .vram_size = 8u << 20, .legacy = true });
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(vga_load(v3, &r, 0));
	ss_reader_close(&r);
	vga_destroy(v3);
	ss_writer_free(&w);
	/* bad sizes are refused at creation */
	assert_null(vga_create(&(struct vga_config){ .vram_size = 3u << 20 }));
	assert_null(vga_create(&(struct vga_config){ .vram_size = 512u << 20 }));
}

/* The video memory as a RAM block of migration (include/guest_mem.h):
 * registered by its name, removed with the card; while migration logs it,
 * every page written reaches both consumers of the dirty log, the display
 * (cleared by a refresh) and migration (cleared when it takes them), and
 * neither takes a page from the other; the saved state then has no video
 * memory in it. */
static void test_video_memory_as_a_migration_block(void **state)
{
	struct fx *f = *state;
	static uint8_t ram[16 * 4096] __attribute__((aligned(4096)));
	struct guest_mem mem;
	uint64_t bits[VRAM / 4096 / 64] = { 0 };
	struct ss_writer w;

	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	struct vga *v = vga_create(&(struct vga_config){
		.vram_size = VRAM, .legacy = true, .mem = &mem, .ram_name = "vga.vram@02.0" });
	assert_non_null(v);
	assert_int_equal(mem.nnamed, 1);
	const struct named_ram *nb = guest_mem_named(&mem, "vga.vram@02.0");
	assert_non_null(nb);
	assert_ptr_equal(nb->hva, v->vram);
	assert_int_equal(nb->size, VRAM);
	/* a second card of the same name is refused */
	assert_null(vga_create(&(struct vga_config){
		.vram_size = VRAM, .legacy = true, .mem = &mem, .ram_name = "vga.vram@02.0" }));
	assert_int_equal(mem.nnamed, 1);

	nb->log(nb->opaque, true);
	vga_mark_vram_dirty(v, 5 * 4096 + 17, 1);  /* a device write */
	sr(v, 2, 0x0F);                            /* every plane */
	vga_mem_write(v, 0x20, 0x41);              /* through the trapped window */
	vga_refresh(v);                            /* the display takes its bits */
	assert_false(vga_vram_dirty_locked(v, 5 * 4096, 4096));
	nb->take_dirty(nb->opaque, bits);          /* migration still has them */
	assert_true(bits[0] & (1ull << 5));
	assert_true(bits[0] & 1);
	memset(bits, 0, sizeof(bits));
	vga_mark_vram_dirty(v, 7 * 4096, 4096);
	nb->take_dirty(nb->opaque, bits);          /* migration takes its bits */
	assert_int_equal(bits[0], 1ull << 7);
	assert_true(vga_vram_dirty_locked(v, 7 * 4096, 4096)); /* the display keeps them */
	memset(bits, 0, sizeof(bits));
	nb->take_dirty(nb->opaque, bits);
	assert_int_equal(bits[0], 0);
	nb->log(nb->opaque, false);

	/* registers only in the saved state; another card without a block
	 * (tests, a version-1 stream) keeps the memory in it */
	ss_writer_init(&w);
	vga_save(v, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_true(w.len < 64 * 1024);
	ss_writer_free(&w);
	ss_writer_init(&w);
	vga_save(f->v, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_true(w.len > VRAM);
	ss_writer_free(&w);
	vga_destroy(v);
	assert_int_equal(mem.nnamed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_register_files_and_indices),
		T(test_dac_cycles_and_wrap),
		T(test_write_mode_0),
		T(test_write_mode_1_copies_the_latches),
		T(test_write_mode_2_expands_a_colour),
		T(test_write_mode_3_masks_by_the_rotated_byte),
		T(test_read_modes),
		T(test_chain4_and_mode_13h_window),
		T(test_odd_even_text_memory),
		T(test_vbe_mode_switch_and_caps),
		T(test_vbe_bounds),
		T(test_vbe_pixels_every_depth),
		T(test_dirty_rectangles),
		T(test_text_rendering_font_cursor_and_ppm),
		T(test_mode_13h_and_planar_pixels),
		T(test_refresh_timer_only_with_listeners),
		T(test_refresh_timer_follows_listeners),
		T(test_saved_state_round_trip),
		T(test_video_memory_as_a_migration_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
