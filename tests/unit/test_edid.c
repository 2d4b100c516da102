// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitor's EDID (hw/display/edid.c) and the EDID window of the
 * standard VGA's MMIO BAR (hw/display/vga_pci.c). The block is decoded
 * here independently, from the VESA E-EDID 1.4 layout: header, vendor,
 * version, checksum, the detailed timing back to the preferred mode (with
 * the CVT reduced-blanking figures VESA's DMT table lists for 1280x800 and
 * 1920x1080 at 60 Hz), the name and range descriptors, the established and
 * standard timings; the refusals of bad sizes; the window read by every
 * size at every offset, hostile ones included, and written (ignored); a
 * card without EDID (edid=off) reads zeros.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "bus_access.h"
#include "hw/edid.h"
#include "hw/vga_pci.h"
#include "memory.h"
#include "pci.h"
#include "util.h"

/* ---- an independent decoder ---------------------------------------------- */

struct dtd {
	uint32_t clock_khz;
	unsigned hactive, hblank, vactive, vblank, hfront, hsync, vfront, vsync;
	unsigned wmm, hmm, flags;
};

static struct dtd decode_dtd(const uint8_t *d)
{
	struct dtd t;
	t.clock_khz = (uint32_t)(d[0] | d[1] << 8) * 10;
	t.hactive = d[2] | (d[4] >> 4) << 8;
	t.hblank = d[3] | (d[4] & 0xF) << 8;
	t.vactive = d[5] | (d[7] >> 4) << 8;
	t.vblank = d[6] | (d[7] & 0xF) << 8;
	t.hfront = d[8] | (d[11] >> 6) << 8;
	t.hsync = d[9] | (d[11] >> 4 & 3) << 8;
	t.vfront = (d[10] >> 4) | (d[11] >> 2 & 3) << 4;
	t.vsync = (d[10] & 0xF) | (d[11] & 3) << 4;
	t.wmm = d[12] | (d[14] >> 4) << 8;
	t.hmm = d[13] | (d[14] & 0xF) << 8;
	t.flags = d[17];
	return t;
}

static uint8_t sum_of(const uint8_t *e, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + e[i]);
	return s;
}

/* The display descriptor with 'tag' among the four, or NULL. */
static const uint8_t *descriptor(const uint8_t *e, uint8_t tag)
{
	for (int i = 0; i < 4; i++) {
		const uint8_t *d = e + 54 + 18 * i;
		if (!d[0] && !d[1] && !d[2] && d[3] == tag)
			return d;
	}
	return NULL;
}

static void make(struct edid_monitor m, uint8_t e[EDID_BLOCK_SIZE])
{
	char err[256];
	assert_true(edid_monitor_resolve(&m, err, sizeof(err)));
	edid_generate(&m, e);
}

static bool has_standard(const uint8_t *e, unsigned w, unsigned h)
{
	/* aspect codes of EDID 1.3+: 16:10, 4:3, 5:4, 16:9 */
	static const unsigned num[4] = { 10, 3, 4, 9 }, den[4] = { 16, 4, 5, 16 };
	for (int i = 0; i < 8; i++) {
		uint8_t a = e[38 + 2 * i], b = e[39 + 2 * i];
		if (a == 1 && b == 1)
			continue;
		unsigned sw = (a + 31u) * 8, sh = sw * num[b >> 6] / den[b >> 6];
		assert_int_equal(b & 0x3F, 0); /* 60 Hz */
		if (sw == w && sh == h)
			return true;
	}
	return false;
}

/* ---- the block ----------------------------------------------------------- */

static void test_header_version_vendor_checksum(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];
	static const uint8_t header[8] = { 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0 };
	make((struct edid_monitor){ 0 }, e);
	assert_memory_equal(e, header, 8);
	unsigned pnp = e[8] << 8 | e[9];
	assert_int_equal(pnp >> 15, 0);
	char id[4] = { (char)('A' - 1 + (pnp >> 10 & 31)), (char)('A' - 1 + (pnp >> 5 & 31)),
		       (char)('A' - 1 + (pnp & 31)), 0 };
	assert_string_equal(id, "VMM");
	assert_int_equal(e[18], 1); /* EDID 1.4 */
	assert_int_equal(e[19], 4);
	assert_true(e[20] & 0x80); /* digital */
	assert_int_equal(e[24] & 0x03, 0x03); /* native preferred timing, continuous */
	assert_int_equal(e[126], 0); /* no extension */
	assert_int_equal(sum_of(e, EDID_BLOCK_SIZE), 0);
	/* sRGB red x 0.640: 655/1024 */
	assert_int_equal(e[27] << 2 | e[25] >> 6, 655);
	/* the same properties, the same bytes: nothing to save */
	uint8_t again[EDID_BLOCK_SIZE];
	make((struct edid_monitor){ 0 }, again);
	assert_memory_equal(e, again, sizeof(e));
}

static void test_default_preferred_mode_is_1280x800_cvt_rb(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];
	make((struct edid_monitor){ .vram_size = 16u << 20 }, e);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 1280);
	assert_int_equal(t.vactive, 800);
	/* VESA DMT, 1280x800 at 60 Hz reduced blanking: 71.00 MHz, H 48/32/80,
	 * V 3/6/14 */
	assert_int_equal(t.clock_khz, 71000);
	assert_int_equal(t.hblank, 160);
	assert_int_equal(t.hfront, 48);
	assert_int_equal(t.hsync, 32);
	assert_int_equal(t.vblank, 23);
	assert_int_equal(t.vfront, 3);
	assert_int_equal(t.vsync, 6);
	assert_int_equal(t.flags, 0x1A); /* digital separate, +hsync, -vsync */
	assert_int_equal(t.wmm, 325);   /* 100 dpi */
	assert_int_equal(t.hmm, 203);
	assert_int_equal(e[21], 33);    /* cm */
	assert_int_equal(e[22], 20);
	/* established 640x480, 800x600, 1024x768 at 60 Hz */
	assert_int_equal(e[35], 0x21);
	assert_int_equal(e[36], 0x08);
	/* by default modes up to 2048 are listed, the largest eight */
	assert_true(has_standard(e, 2048, 1152));
	assert_true(has_standard(e, 1920, 1080));
	assert_true(has_standard(e, 1280, 1024));
	assert_false(has_standard(e, 1280, 720));
	/* xmax/ymax the preferred mode: only what fits in it */
	make((struct edid_monitor){ .xmax = 1280, .ymax = 800, .vram_size = 16u << 20 }, e);
	assert_true(has_standard(e, 1280, 720));
	assert_false(has_standard(e, 1280, 1024)); /* taller than ymax */
	assert_false(has_standard(e, 1920, 1080));
	assert_int_equal(e[35], 0x21);
	assert_int_equal(sum_of(e, EDID_BLOCK_SIZE), 0);
}

static void test_refresh_rate(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];
	/* 75 Hz (QEMU's unit: millihertz) */
	make((struct edid_monitor){ .refresh_mhz = 75000 }, e);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 1280);
	unsigned htotal = t.hactive + t.hblank, vtotal = t.vactive + t.vblank;
	unsigned mhz = (unsigned)((uint64_t)t.clock_khz * 1000000 / htotal / vtotal);
	assert_true(mhz >= 74500 && mhz <= 75000);
	const uint8_t *r = descriptor(e, 0xFD);
	assert_true(r[6] >= 75);
	assert_true(r[8] >= t.clock_khz / htotal);
	assert_int_equal(sum_of(e, EDID_BLOCK_SIZE), 0);
	/* 120 Hz: the range's top follows */
	make((struct edid_monitor){ .refresh_mhz = 120000 }, e);
	assert_int_equal(descriptor(e, 0xFD)[6], 120);
	/* out of range: refused */
	char err[256];
	struct edid_monitor m = { .refresh_mhz = 60 };
	assert_false(edid_monitor_resolve(&m, err, sizeof(err)));
	assert_non_null(strstr(err, "refresh_rate=60: the rate is in millihertz"));
	m = (struct edid_monitor){ .refresh_mhz = 1000000 };
	assert_false(edid_monitor_resolve(&m, err, sizeof(err)));
	/* 3840x2160 fits at 60 Hz, not at 120 */
	m = (struct edid_monitor){ .xres = 3840, .yres = 2160, .refresh_mhz = 120000 };
	assert_false(edid_monitor_resolve(&m, err, sizeof(err)));
	assert_non_null(strstr(err, "at 120 Hz needs a pixel clock"));
}

static void test_given_size_decodes_back(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];
	make((struct edid_monitor){ .xres = 1920, .yres = 1080, .vram_size = 16u << 20 }, e);
	struct dtd t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 1920);
	assert_int_equal(t.vactive, 1080);
	assert_int_equal(t.clock_khz, 138500); /* DMT 1920x1080 RB: 138.5 MHz */
	assert_int_equal(t.vblank, 31);
	assert_int_equal(t.vsync, 5);
	assert_int_equal(sum_of(e, EDID_BLOCK_SIZE), 0);

	/* an odd size: still exact in the timing */
	make((struct edid_monitor){ .xres = 1366, .yres = 768 }, e);
	t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 1366);
	assert_int_equal(t.vactive, 768);
	assert_int_equal(t.vsync, 10); /* no CVT aspect ratio */
	assert_int_equal(sum_of(e, EDID_BLOCK_SIZE), 0);

	/* only xres given: yres keeps its default */
	make((struct edid_monitor){ .xres = 1024 }, e);
	t = decode_dtd(e + 54);
	assert_int_equal(t.hactive, 1024);
	assert_int_equal(t.vactive, 800);
}

static void test_xmax_ymax_list_larger_modes(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];
	make((struct edid_monitor){ .xmax = 1920, .ymax = 1200, .vram_size = 16u << 20 }, e);
	assert_int_equal(decode_dtd(e + 54).hactive, 1280);
	assert_true(has_standard(e, 1920, 1200));
	assert_true(has_standard(e, 1920, 1080));
	assert_true(has_standard(e, 1280, 1024));
	/* the range limits hold every listed mode */
	const uint8_t *r = descriptor(e, 0xFD);
	assert_non_null(r);
	assert_true(r[5] <= 60 && r[6] >= 60);
	assert_true(r[8] >= 75);        /* 1920x1200 RB: 74.0 kHz */
	assert_true(r[9] * 10 >= 154);  /* 1920x1200 RB: 154 MHz */
	assert_int_equal(sum_of(e, EDID_BLOCK_SIZE), 0);

	/* with 8 MiB, 1920x1200 at 32 bpp (9 MB) is not listed */
	make((struct edid_monitor){ .xmax = 1920, .ymax = 1200, .vram_size = 8u << 20 }, e);
	assert_false(has_standard(e, 1920, 1200));
	assert_true(has_standard(e, 1920, 1080));
}

static void test_name_and_range_descriptors(void **state)
{
	uint8_t e[EDID_BLOCK_SIZE];
	make((struct edid_monitor){ 0 }, e);
	const uint8_t *n = descriptor(e, 0xFC);
	assert_non_null(n);
	assert_memory_equal(n + 5, "vmm monitor\n ", 13);
	const uint8_t *r = descriptor(e, 0xFD);
	assert_non_null(r);
	struct dtd t = decode_dtd(e + 54);
	unsigned hfreq_khz = t.clock_khz / (t.hactive + t.hblank);
	assert_true(r[7] <= 31 && r[8] >= hfreq_khz);
	assert_true(r[9] * 10000u >= t.clock_khz);
	assert_int_equal(r[10], 0x01);
	assert_int_equal(r[11], 0x0A);
}

static void test_bad_sizes_refused(void **state)
{
	static const struct {
		struct edid_monitor m;
		const char *needle;
	} bad[] = {
		{ { .xres = 5000 }, "xres=5000: the preferred width must be 640 to 4095" },
		{ { .xres = 320, .yres = 200 }, "xres=320" },
		{ { .yres = 479 }, "yres=479: the preferred height must be 480" },
		{ { .yres = 4096 }, "yres=4096" },
		{ { .xres = 1024, .xmax = 800 }, "xres=1024 is larger than xmax=800" },
		{ { .yres = 1024, .ymax = 768 }, "yres=1024 is larger than ymax=768" },
		{ { .xres = 1920, .yres = 1200, .vram_size = 8u << 20 }, "needs 9000 KiB" },
		{ { .xres = 4000, .yres = 4000 }, "pixel clock" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct edid_monitor m = bad[i].m;
		char err[256] = "";
		assert_false(edid_monitor_resolve(&m, err, sizeof(err)));
		assert_non_null(strstr(err, bad[i].needle));
		assert_null(strchr(err, '\n'));
	}
}

static void test_default_mode_shrinks_to_small_video_memory(void **state)
{
	char err[256];
	struct edid_monitor m = { .vram_size = 2u << 20 };
	assert_true(edid_monitor_resolve(&m, err, sizeof(err)));
	assert_int_equal(m.xres, 800);
	assert_int_equal(m.yres, 600);
	m = (struct edid_monitor){ .vram_size = 1u << 20 };
	assert_true(edid_monitor_resolve(&m, err, sizeof(err)));
	assert_int_equal(m.xres, 640);
	assert_int_equal(m.yres, 480);
}

static void test_cvt_rb_limits(void **state)
{
	struct edid_timing t;
	assert_true(edid_cvt_rb(3840, 2160, 60, &t));
	assert_true(t.pixel_clock_khz <= EDID_MAX_PIXEL_CLOCK_KHZ);
	assert_false(edid_cvt_rb(4095, 4095, 60, &t));
	assert_false(edid_cvt_rb(0, 480, 60, &t));
	assert_false(edid_cvt_rb(4096, 480, 60, &t));
	assert_false(edid_cvt_rb(640, 480, 0, &t));
}

/* ---- the window of the MMIO BAR ------------------------------------------ */

#define DEVFN PCI_DEVFN(2, 0)
#define BAR2 0xFEB00000u

struct fx {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct mem_space space;
	struct vga_pci *p;
	uint8_t edid[EDID_BLOCK_SIZE];
};

static int setup_card(void **state, bool legacy)
{
	struct fx *f = calloc(1, sizeof(*f));
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci, &f->pio, &f->mmio);
	mem_space_init(&f->space, NULL);
	struct vga_config c = { .vram_size = 16u << 20, .legacy = legacy, .space = &f->space,
				.pio = &f->pio, .mmio = &f->mmio };
	f->p = vga_pci_create(&f->pci, DEVFN, &c, NULL, 0);
	assert_non_null(f->p);
	pci_config_write(&f->pci, DEVFN, 0x18, BAR2, 4);
	pci_config_write(&f->pci, DEVFN, 0x04, 0x2, 2); /* memory space on */
	*state = f;
	return 0;
}

static int setup_vga(void **state)
{
	return setup_card(state, true);
}

static int setup_bochs(void **state)
{
	return setup_card(state, false);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vga_pci_destroy(f->p);
	mem_space_destroy(&f->space);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}

static void give_edid(struct fx *f)
{
	make((struct edid_monitor){ .vram_size = 16u << 20 }, f->edid);
	vga_pci_set_edid(f->p, f->edid);
}

/* What the window must read: the block's bytes, little-endian, zeros past
 * it. */
static uint64_t expected(const struct fx *f, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		if (off + i < EDID_BLOCK_SIZE)
			v |= (uint64_t)f->edid[off + i] << (8 * i);
	return v;
}

static void test_window_reads_the_block(void **state)
{
	struct fx *f = *state;
	give_edid(f);
	static const unsigned sizes[] = { 1, 2, 4 };
	for (uint64_t off = 0; off < 0x400; off++)
		for (size_t s = 0; s < ARRAY_SIZE(sizes); s++)
			assert_int_equal(bus_rd(&f->mmio, BAR2 + off, sizes[s]),
					 expected(f, off, sizes[s]));
	/* the VBE registers at 0x500 are still there: the id register */
	assert_int_equal(bus_rd(&f->mmio, BAR2 + 0x500, 2) & 0xFFF0, 0xB0C0);
	/* as Linux reads it: the header's first bytes */
	assert_int_equal(bus_rd(&f->mmio, BAR2 + 0, 1), 0x00);
	assert_int_equal(bus_rd(&f->mmio, BAR2 + 1, 1), 0xFF);
}

static void test_window_writes_ignored(void **state)
{
	struct fx *f = *state;
	give_edid(f);
	for (uint64_t off = 0; off < 0x400; off += 3)
		bus_wr(&f->mmio, BAR2 + off, 0xDEADBEEF, 4);
	for (uint64_t off = 0; off < EDID_BLOCK_SIZE; off++)
		assert_int_equal(bus_rd(&f->mmio, BAR2 + off, 1), f->edid[off]);
	assert_int_equal(bus_rd(&f->mmio, BAR2 + 0x200, 4), 0);
}

static void test_window_hostile_offsets_and_sizes(void **state)
{
	struct fx *f = *state;
	give_edid(f);
	/* straight at the device, past the bus's checks: wide, straddling,
	 * wrapping and out-of-BAR accesses read only what is there */
	static const uint64_t offs[] = { 0x7C, 0x7F, 0x3FC, 0x3FF, 0x400, 0xFFF, 0x1000,
					 UINT64_MAX, UINT64_MAX - 3, 1ull << 63 };
	static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8, 16, 4096, UINT32_MAX };
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
			/* (the bus never passes more than 4 bytes; wider ones
			 * are for the EDID window's own bound) */
			if (sizes[s] > 8 && offs[i] >= 0x400)
				continue;
			uint64_t v = vga_pci_mmio_read(f->p, offs[i], sizes[s]);
			if (offs[i] < 0x400) {
				unsigned n = sizes[s] > 8 ? 8 : sizes[s];
				assert_int_equal(v, expected(f, offs[i], n));
			}
			vga_pci_mmio_write(f->p, offs[i], ~0ull, sizes[s]);
		}
	/* through the bus: 8 bytes across the window's end and the BAR's */
	assert_int_equal(bus_rd(&f->mmio, BAR2 + 0x3FC, 8) & 0xFFFFFFFF, 0);
	(void)bus_rd(&f->mmio, BAR2 + 0xFFC, 8);
	assert_memory_equal(f->p->edid, f->edid, EDID_BLOCK_SIZE);
	assert_int_equal(vga_pci_mmio_read(f->p, 0x7C, 8), expected(f, 0x7C, 8));
}

static void test_edid_off_reads_zeros(void **state)
{
	struct fx *f = *state;
	/* no vga_pci_set_edid: what edid=off leaves */
	for (uint64_t off = 0; off < 0x400; off += 2)
		assert_int_equal(bus_rd(&f->mmio, BAR2 + off, 2), 0);
	/* reset does not bring anything in, nor take the block away */
	vga_pci_reset(f->p);
	assert_int_equal(bus_rd(&f->mmio, BAR2, 4), 0);
	give_edid(f);
	vga_pci_reset(f->p);
	assert_int_equal(bus_rd(&f->mmio, BAR2 + 4, 4), expected(f, 4, 4));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_header_version_vendor_checksum),
	cmocka_unit_test(test_default_preferred_mode_is_1280x800_cvt_rb),
	cmocka_unit_test(test_given_size_decodes_back),
	cmocka_unit_test(test_xmax_ymax_list_larger_modes),
	cmocka_unit_test(test_name_and_range_descriptors),
	cmocka_unit_test(test_bad_sizes_refused),
	cmocka_unit_test(test_default_mode_shrinks_to_small_video_memory),
	cmocka_unit_test(test_cvt_rb_limits),
	cmocka_unit_test(test_refresh_rate),
	cmocka_unit_test_setup_teardown(test_window_reads_the_block, setup_vga, teardown),
	cmocka_unit_test_setup_teardown(test_window_reads_the_block, setup_bochs, teardown),
	cmocka_unit_test_setup_teardown(test_window_writes_ignored, setup_vga, teardown),
	cmocka_unit_test_setup_teardown(test_window_hostile_offsets_and_sizes, setup_vga, teardown),
	cmocka_unit_test_setup_teardown(test_edid_off_reads_zeros, setup_vga, teardown),
	cmocka_unit_test_setup_teardown(test_edid_off_reads_zeros, setup_bochs, teardown),
};

int main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
