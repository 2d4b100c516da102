// SPDX-License-Identifier: GPL-2.0-or-later
/* The floppy disk controller (hw/storage/fdc.c), driven through its ports
 * and the 8237's as a BIOS or Linux's floppy driver drives it: reset and
 * its four polled statuses, the identification commands, seeks, reads and
 * writes by DMA (multi-sector, multi-track, terminal count, end of
 * cylinder) and without (PIO), FORMAT, VERIFY, READ ID at the medium's
 * rate, the error statuses (no disk, write protect, bad sector, cylinder,
 * size code, side), the disk change line, media sizes, saved state, and
 * the hostile streams of the VENOM class (CVE-2015-3456). */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "bus_access.h"
#include "guest_mem.h"
#include "hw/fdc.h"
#include "hw/i8237.h"
#include "memdisk.h"
#include "savestate.h"
#include "util.h"

#define DOR 0x3F2
#define MSR 0x3F4
#define DSR 0x3F4
#define FIFO 0x3F5
#define DIR 0x3F7
#define CCR 0x3F7
#define BUF 0x20000
#define SPT 18
#define SIZE_144 1474560

struct fix {
	struct io_bus pio;
	struct guest_mem mem;
	struct i8237 *dma;
	struct fdc *fdc;
	uint8_t *data[2]; /* the media's bytes (the controller closes the memdisks) */
	int irq_level;
	unsigned irq_rises;
};

static void irq_set_fn(void *opaque, unsigned line, int level)
{
	struct fix *f = opaque;
	if (level && !f->irq_level)
		f->irq_rises++;
	f->irq_level = level;
}

static void outb(struct fix *f, uint16_t port, uint8_t v) { bus_wr(&f->pio, port, v, 1); }
static uint8_t inb(struct fix *f, uint16_t port) { return (uint8_t)bus_rd(&f->pio, port, 1); }

/* Puts a medium of 'size' bytes (patterned) in drive 'unit'. */
static void insert(struct fix *f, unsigned unit, uint64_t size, bool ro, bool attach)
{
	char err[256];
	struct memdisk *m = memdisk_patterned(size, unit * 7 + 1, ro);
	f->data[unit] = m->data;
	if (attach) {
		unsigned type = fdc_type_of_size(size, err, sizeof(err));
		assert_true(type != 0);
		assert_int_equal(fdc_attach(f->fdc, unit, &m->bd, type, err, sizeof(err)), 0);
	} else {
		assert_int_equal(fdc_change_medium(f->fdc, unit, &m->bd, err, sizeof(err)), 0);
	}
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256];

	bus_init(&f->pio, "pio");
	assert_int_equal(guest_mem_init(&f->mem, 16u << 20), 0);
	f->dma = i8237_create(&f->mem);
	assert_int_equal(i8237_map(f->dma, &f->pio), 0);
	/* what SeaBIOS leaves: channel 4 cascades controller 1 */
	outb(f, 0xD6, 0xC0);
	outb(f, 0xD4, 0x00);
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 6 };
	f->fdc = fdc_create(&f->pio, f->dma, irq, err, sizeof(err));
	assert_non_null(f->fdc);
	insert(f, 0, SIZE_144, false, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	fdc_destroy(f->fdc);
	for (unsigned i = 0; i < 2; i++)
		free(f->data[i]);
	i8237_destroy(f->dma);
	bus_destroy(&f->pio);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

static void cmd(struct fix *f, const uint8_t *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(inb(f, MSR) & 0xC0, 0x80); /* RQM, to the controller */
		outb(f, FIFO, b[i]);
	}
}
#define CMD(f, ...) do { const uint8_t c_[] = { __VA_ARGS__ }; cmd(f, c_, sizeof(c_)); } while (0)

static void result(struct fix *f, uint8_t *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(inb(f, MSR) & 0xD0, 0xD0); /* RQM, DIO, busy */
		out[i] = inb(f, FIFO);
	}
	assert_int_equal(inb(f, MSR), 0x80); /* back to the command phase */
}

static uint8_t result1(struct fix *f)
{
	uint8_t v;
	result(f, &v, 1);
	return v;
}

/* What a BIOS does: DOR 0 (reset), then 0x0C (out of reset, DMA gate),
 * and the four polled statuses. */
static void reset_controller(struct fix *f)
{
	uint8_t r[2];
	outb(f, DOR, 0x00);
	outb(f, DOR, 0x0C);
	assert_int_equal(f->irq_level, 1);
	for (unsigned i = 0; i < 4; i++) {
		CMD(f, 0x08);
		result(f, r, 2);
		assert_int_equal(r[0], 0xC0 | i);
		assert_int_equal(r[1], 0);
	}
	assert_int_equal(f->irq_level, 0);
	outb(f, CCR, 0); /* 500 kbit/s: the 1.44M medium's */
}

static void seek(struct fix *f, unsigned unit, unsigned track)
{
	uint8_t r[2];
	CMD(f, 0x0F, (uint8_t)unit, (uint8_t)track);
	assert_int_equal(f->irq_level, 1);
	CMD(f, 0x08);
	result(f, r, 2);
	assert_int_equal(r[0], 0x20 | unit);
	assert_int_equal(r[1], track);
}

/* Channel 2, single mode, 'len' bytes at 'addr'; 'to_mem': a read. */
static void dma_program(struct fix *f, uint32_t addr, uint32_t len, bool to_mem, bool unmask)
{
	outb(f, 0x0A, 0x06);
	outb(f, 0x0C, 0);
	outb(f, 0x0B, (uint8_t)(0x40 | (to_mem ? 0x04 : 0x08) | 2));
	outb(f, 0x04, (uint8_t)addr);
	outb(f, 0x04, (uint8_t)(addr >> 8));
	outb(f, 0x81, (uint8_t)(addr >> 16));
	outb(f, 0x05, (uint8_t)(len - 1));
	outb(f, 0x05, (uint8_t)((len - 1) >> 8));
	if (unmask)
		outb(f, 0x0A, 0x02);
}

static uint64_t off_of(unsigned c, unsigned h, unsigned s)
{
	return (((uint64_t)c * 2 + h) * SPT + s - 1) * 512;
}

static uint8_t *ram(struct fix *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_ptr(&f->mem, gpa, len);
	assert_non_null(p);
	return p;
}

/* READ DATA (MFM, MT as given) of drive 0 at C/H/R to EOT: the result. */
static void read_cmd(struct fix *f, bool mt, unsigned c, unsigned h, unsigned r, unsigned eot,
		     uint8_t res[7])
{
	CMD(f, (uint8_t)(0x46 | (mt ? 0x80 : 0)), (uint8_t)(h << 2), (uint8_t)c, (uint8_t)h,
	    (uint8_t)r, 2, (uint8_t)eot, 0x1B, 0xFF);
	result(f, res, 7);
}

/* ---- tests ------------------------------------------------------------ */

static void test_media_sizes(void **state)
{
	char err[256];
	static const struct { uint64_t size; unsigned type; } sizes[] = {
		{ 163840, 1 }, { 184320, 1 }, { 327680, 1 }, { 368640, 1 }, { 737280, 3 },
		{ 1228800, 2 }, { 1474560, 4 }, { 2949120, 5 }, { 0, 0 }, { 1474561, 0 },
		{ 1024 * 1024, 0 }, { 512, 0 },
	};
	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		err[0] = 0;
		assert_int_equal(fdc_type_of_size(sizes[i].size, err, sizeof(err)), sizes[i].type);
		assert_true(sizes[i].type ? !err[0] : strstr(err, "not a floppy size") != NULL);
	}
}

static void test_reset_polls_four_drives(void **state)
{
	struct fix *f = *state;

	assert_int_equal(inb(f, MSR), 0); /* held in reset after power-on */
	reset_controller(f);
	CMD(f, 0x08); /* nothing more to sense */
	assert_int_equal(result1(f), 0x80);
	/* DSR's software reset polls again */
	outb(f, DSR, 0x80);
	assert_int_equal(f->irq_level, 1);
	uint8_t r[2];
	CMD(f, 0x08);
	result(f, r, 2);
	assert_int_equal(r[0], 0xC0);
	/* a command other than SENSE INTERRUPT drops the other three */
	CMD(f, 0x10);
	assert_int_equal(result1(f), 0x90);
	CMD(f, 0x08);
	assert_int_equal(result1(f), 0x80);
}

static void test_identification_and_configuration(void **state)
{
	struct fix *f = *state;
	uint8_t r[10];

	reset_controller(f);
	CMD(f, 0x10);
	assert_int_equal(result1(f), 0x90);
	CMD(f, 0x18);
	assert_int_equal(result1(f), 0x41);
	CMD(f, 0x03, 0xAF, 0x02); /* SPECIFY: no result, no interrupt */
	assert_int_equal(inb(f, MSR), 0x80);
	CMD(f, 0x13, 0x00, 0x47, 0x05); /* CONFIGURE: EIS, polling on, threshold 7 */
	CMD(f, 0x12, 0x84); /* PERPENDICULAR: OW, drive 0 */
	CMD(f, 0x94);
	assert_int_equal(result1(f), 0x10);
	CMD(f, 0x0F, 0x00, 0x07);
	CMD(f, 0x08);
	result(f, r, 2);
	CMD(f, 0x0E);
	result(f, r, 10);
	assert_int_equal(r[0], 7); /* drive 0's cylinder */
	assert_int_equal(r[1], 0);
	assert_int_equal(r[4], 0xAF);
	assert_int_equal(r[5], 0x02);
	assert_int_equal(r[7], 0x80 | 0x04);
	assert_int_equal(r[8], 0x47);
	assert_int_equal(r[9], 0x05);
	/* LOCK keeps CONFIGURE over a software reset */
	outb(f, DSR, 0x80);
	CMD(f, 0x08);
	result(f, r, 2);
	CMD(f, 0x0E);
	result(f, r, 10);
	assert_int_equal(r[8], 0x47);
	CMD(f, 0x14);
	assert_int_equal(result1(f), 0x00);
}

static void test_invalid_commands(void **state)
{
	struct fix *f = *state;
	static const uint8_t bad[] = { 0x00, 0x01, 0x09, 0x0B, 0x11, 0x17, 0x19, 0x1F, 0x83,
				       0xFF, 0x1E, 0x4E, 0x8B };

	reset_controller(f);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		outb(f, FIFO, bad[i]);
		assert_int_equal(result1(f), 0x80);
		assert_int_equal(f->irq_level, 0);
	}
}

static void test_seek_recalibrate_sense_drive(void **state)
{
	struct fix *f = *state;
	uint8_t r[2];

	reset_controller(f);
	seek(f, 0, 5);
	CMD(f, 0xCF, 0x00, 3); /* relative seek, inward */
	CMD(f, 0x08);
	result(f, r, 2);
	assert_int_equal(r[1], 8);
	CMD(f, 0x8F, 0x00, 10); /* outward, stops at 0 */
	CMD(f, 0x08);
	result(f, r, 2);
	assert_int_equal(r[1], 0);
	seek(f, 0, 40);
	CMD(f, 0x04, 0x00);
	assert_int_equal(result1(f), 0x28); /* ready, two-sided, not track 0 */
	CMD(f, 0x07, 0x00);
	CMD(f, 0x08);
	result(f, r, 2);
	assert_int_equal(r[0], 0x20);
	assert_int_equal(r[1], 0);
	CMD(f, 0x04, 0x00);
	assert_int_equal(result1(f), 0x38);
	/* drive 1 is not there: recalibrate fails (equipment check) */
	CMD(f, 0x07, 0x01);
	CMD(f, 0x08);
	result(f, r, 2);
	assert_int_equal(r[0], 0x71);
}

static void test_read_dma_multi_track_to_terminal_count(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	seek(f, 0, 1);
	memset(ram(f, BUF, 3 * 512), 0, 3 * 512);
	dma_program(f, BUF, 3 * 512, true, true);
	read_cmd(f, true, 1, 0, 17, 18, r); /* C1 H0 S17, S18, then C1 H1 S1 */
	assert_int_equal(f->irq_rises, 3); /* reset, seek, the read */
	assert_int_equal(r[0], 0x04);      /* normal termination, head 1 */
	assert_int_equal(r[1], 0);
	assert_int_equal(r[2], 0);
	assert_int_equal(r[3], 1);
	assert_int_equal(r[4], 1);
	assert_int_equal(r[5], 2);
	assert_int_equal(r[6], 2);
	assert_memory_equal(ram(f, BUF, 1024), f->data[0] + off_of(1, 0, 17), 1024);
	assert_memory_equal(ram(f, BUF + 1024, 512), f->data[0] + off_of(1, 1, 1), 512);
}

static void test_read_to_end_of_cylinder(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	dma_program(f, BUF, 8 * 512, true, true);
	read_cmd(f, false, 0, 0, 17, 18, r); /* no MT: two sectors, then EN */
	assert_int_equal(r[0], 0x40);
	assert_int_equal(r[1], 0x80);
	assert_int_equal(r[3], 1); /* C+1, R=1 */
	assert_int_equal(r[5], 1);
	assert_memory_equal(ram(f, BUF, 1024), f->data[0] + off_of(0, 0, 17), 1024);
	/* the last sector of the disk */
	seek(f, 0, 79);
	dma_program(f, BUF, 512, true, true);
	read_cmd(f, false, 79, 1, 18, 18, r);
	assert_int_equal(r[0], 0x04);
	assert_memory_equal(ram(f, BUF, 512), f->data[0] + SIZE_144 - 512, 512);
}

static void test_write_dma_and_write_protect(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	seek(f, 0, 2);
	uint8_t *p = ram(f, BUF, 1024);
	for (unsigned i = 0; i < 1024; i++)
		p[i] = (uint8_t)(i * 3 + 1);
	dma_program(f, BUF, 1024, false, true);
	CMD(f, 0xC5, 0x04, 2, 1, 5, 2, 18, 0x1B, 0xFF); /* MT, head 1, sectors 5-6 */
	result(f, r, 7);
	assert_int_equal(r[0], 0x04);
	assert_int_equal(r[5], 7);
	assert_memory_equal(f->data[0] + off_of(2, 1, 5), p, 1024);

	/* a read-only medium in drive B: */
	insert(f, 1, SIZE_144, true, true);
	CMD(f, 0x0F, 0x01, 2);
	CMD(f, 0x08);
	result(f, r, 2);
	dma_program(f, BUF, 512, false, true);
	CMD(f, 0xC5, 0x01, 2, 0, 1, 2, 18, 0x1B, 0xFF);
	result(f, r, 7);
	assert_int_equal(r[0], 0x41);
	assert_int_equal(r[1], 0x02);
	CMD(f, 0x04, 0x01);
	assert_int_equal(result1(f) & 0x40, 0x40);
}

static void test_dma_waits_for_the_channel(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	dma_program(f, BUF, 512, true, false); /* still masked */
	CMD(f, 0x46, 0x00, 0, 0, 3, 2, 3, 0x1B, 0xFF);
	assert_int_equal(inb(f, MSR), 0x10); /* busy, no request for the CPU */
	outb(f, 0x0A, 0x02);                 /* the unmask kicks the controller */
	result(f, r, 7);
	assert_int_equal(r[0], 0x00);
	assert_memory_equal(ram(f, BUF, 512), f->data[0] + off_of(0, 0, 3), 512);
	/* DOR's DMA gate closed: nothing moves until it opens */
	dma_program(f, BUF, 512, true, true);
	outb(f, DOR, 0x04);
	CMD(f, 0x46, 0x00, 0, 0, 4, 2, 4, 0x1B, 0xFF);
	assert_int_equal(inb(f, MSR), 0x10);
	outb(f, DOR, 0x0C);
	result(f, r, 7);
	assert_int_equal(r[0], 0x00);
	assert_memory_equal(ram(f, BUF, 512), f->data[0] + off_of(0, 0, 4), 512);
}

static void test_pio_read_and_write(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];
	uint8_t sec[512];

	reset_controller(f);
	CMD(f, 0x03, 0xAF, 0x03); /* non-DMA */
	CMD(f, 0x46, 0x00, 0, 0, 9, 2, 9, 0x1B, 0xFF);
	assert_int_equal(f->irq_level, 1);
	for (unsigned i = 0; i < 512; i++) {
		assert_int_equal(inb(f, MSR), 0xF0); /* RQM, DIO, NDMA, busy */
		sec[i] = inb(f, FIFO);
	}
	assert_memory_equal(sec, f->data[0] + off_of(0, 0, 9), 512);
	result(f, r, 7); /* no terminal count without DMA: end of cylinder */
	assert_int_equal(r[0], 0x40);
	assert_int_equal(r[1], 0x80);

	CMD(f, 0x45, 0x00, 0, 0, 10, 2, 10, 0x1B, 0xFF);
	for (unsigned i = 0; i < 512; i++) {
		assert_int_equal(inb(f, MSR), 0xB0); /* RQM, NDMA, busy: to the controller */
		outb(f, FIFO, (uint8_t)(i ^ 0x5A));
	}
	result(f, r, 7);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(f->data[0][off_of(0, 0, 10) + i], (uint8_t)(i ^ 0x5A));
}

static void test_format_track(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	seek(f, 0, 3);
	uint8_t *p = ram(f, BUF, SPT * 4);
	for (unsigned s = 0; s < SPT; s++) {
		p[s * 4 + 0] = 3;
		p[s * 4 + 1] = 1;
		p[s * 4 + 2] = (uint8_t)(s + 1);
		p[s * 4 + 3] = 2;
	}
	dma_program(f, BUF, SPT * 4, false, true);
	CMD(f, 0x4D, 0x04, 2, SPT, 0x6C, 0xF6);
	result(f, r, 7);
	assert_int_equal(r[0] & 0xC0, 0);
	for (unsigned s = 1; s <= SPT; s++)
		for (unsigned i = 0; i < 512; i++)
			assert_int_equal(f->data[0][off_of(3, 1, s) + i], 0xF6);
	/* head 0 of the track is untouched */
	assert_int_not_equal(f->data[0][off_of(3, 0, 1) + 5], 0xF6);
}

static void test_read_id_rate_and_verify(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	seek(f, 0, 12);
	outb(f, CCR, 2); /* 250 kbit/s: a 720K medium's rate, not this one's */
	CMD(f, 0x4A, 0x00);
	result(f, r, 7);
	assert_int_equal(r[0], 0x40);
	assert_int_equal(r[1], 0x01); /* missing address mark */
	outb(f, CCR, 0);
	CMD(f, 0x4A, 0x04);
	result(f, r, 7);
	assert_int_equal(r[0], 0x04);
	assert_int_equal(r[3], 12);
	assert_int_equal(r[4], 1);
	assert_int_equal(r[6], 2);
	/* VERIFY with EC: 4 sectors from 3 */
	CMD(f, 0xD6, 0x80, 12, 0, 3, 2, 18, 0x1B, 4);
	result(f, r, 7);
	assert_int_equal(r[0], 0x00);
	assert_int_equal(r[5], 7);
	/* READ TRACK from sector 1 whatever R says: EN at EOT without TC */
	dma_program(f, BUF, 4096, true, true);
	CMD(f, 0x42, 0x00, 12, 0, 9, 2, 2, 0x1B, 0xFF);
	result(f, r, 7);
	assert_int_equal(r[1], 0x80);
	assert_memory_equal(ram(f, BUF, 1024), f->data[0] + off_of(12, 0, 1), 1024);
}

static void test_error_statuses(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	dma_program(f, BUF, 512, true, true);
	read_cmd(f, false, 0, 0, 0, 18, r); /* sector 0 */
	assert_int_equal(r[0], 0x40);
	assert_int_equal(r[1], 0x04);
	read_cmd(f, false, 0, 0, 19, 19, r); /* past the track */
	assert_int_equal(r[1], 0x04);
	read_cmd(f, false, 5, 0, 1, 18, r); /* the head is at cylinder 0 */
	assert_int_equal(r[1], 0x04);
	assert_int_equal(r[2], 0x10);
	read_cmd(f, false, 0xFF, 0, 1, 18, r);
	assert_int_equal(r[2], 0x02);
	CMD(f, 0x46, 0x00, 0, 0, 1, 3, 18, 0x1B, 0xFF); /* N=3 */
	result(f, r, 7);
	assert_int_equal(r[1], 0x04);
	/* EOT past the track's sectors: the first missing one ends it */
	dma_program(f, BUF, 8192, true, true);
	read_cmd(f, false, 0, 0, 17, 40, r);
	assert_int_equal(r[1], 0x04);
	/* no drive B: */
	CMD(f, 0x46, 0x01, 0, 0, 1, 2, 18, 0x1B, 0xFF);
	result(f, r, 7);
	assert_int_equal(r[0], 0x49);
	/* past the medium's 80 cylinders */
	seek(f, 0, 85);
	read_cmd(f, false, 85, 0, 1, 18, r);
	assert_int_equal(r[1], 0x01);
	/* a single-sided 160K medium has no head 1 */
	char err[256];
	struct memdisk *m = memdisk_patterned(163840, 9, false);
	uint8_t *old = f->data[0];
	assert_int_equal(fdc_change_medium(f->fdc, 0, &m->bd, err, sizeof(err)), 0);
	free(old);
	f->data[0] = m->data;
	outb(f, CCR, 2);
	seek(f, 0, 0);
	read_cmd(f, false, 0, 1, 1, 8, r);
	assert_int_equal(r[0], 0x44);
	assert_int_equal(r[1], 0x01);
	dma_program(f, BUF, 512, true, true);
	read_cmd(f, false, 0, 0, 8, 8, r);
	assert_int_equal(r[0], 0x00);
	assert_int_equal(r[1], 0x00);
	assert_memory_equal(ram(f, BUF, 512), m->data + 7 * 512, 512);
}

static void test_disk_change_line(void **state)
{
	struct fix *f = *state;
	char err[256];

	reset_controller(f);
	assert_int_equal(inb(f, DIR) & 0x80, 0x80); /* changed since power-on */
	seek(f, 0, 1);
	assert_int_equal(inb(f, DIR) & 0x80, 0);
	assert_int_equal(fdc_change_medium(f->fdc, 0, NULL, err, sizeof(err)), 0); /* eject */
	free(f->data[0]);
	f->data[0] = NULL;
	assert_int_equal(inb(f, DIR) & 0x80, 0x80);
	seek(f, 0, 2); /* no disk: the line stays */
	assert_int_equal(inb(f, DIR) & 0x80, 0x80);
	uint8_t r[7];
	read_cmd(f, false, 2, 0, 1, 1, r);
	assert_int_equal(r[0] & 0xC8, 0x48);
	insert(f, 0, 737280, false, false);
	assert_null(fdc_medium(f->fdc, 1));
	assert_non_null(fdc_medium(f->fdc, 0));
	seek(f, 0, 3);
	assert_int_equal(inb(f, DIR) & 0x80, 0);
	/* odd sizes are refused and change nothing */
	struct memdisk *m = memdisk_new(1000, false);
	assert_int_equal(fdc_change_medium(f->fdc, 0, &m->bd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a floppy size"));
	memdisk_free(m);
	assert_int_equal(inb(f, DIR) & 0x80, 0);
	assert_int_equal(fdc_change_medium(f->fdc, 1, NULL, err, sizeof(err)), -1);
	/* a disk pulled in the middle of a PIO read ends it with an error */
	outb(f, CCR, 2);
	CMD(f, 0x03, 0xAF, 0x03);
	CMD(f, 0x46, 0x00, 3, 0, 1, 2, 9, 0x1B, 0xFF);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(inb(f, FIFO), f->data[0][(3 * 2 * 9) * 512 + i]);
	assert_int_equal(inb(f, MSR), 0xF0);
	assert_int_equal(fdc_change_medium(f->fdc, 0, NULL, err, sizeof(err)), 0);
	free(f->data[0]);
	f->data[0] = NULL;
	result(f, r, 7);
	assert_int_equal(r[0] & 0xC0, 0x40);
	insert(f, 0, 737280, false, false);
	CMD(f, 0x03, 0xAF, 0x02);
	seek(f, 0, 3);
	/* the 720K medium reads at 250 kbit/s */
	outb(f, CCR, 2);
	dma_program(f, BUF, 512, true, true);
	read_cmd(f, false, 3, 1, 9, 9, r);
	assert_int_equal(r[0], 0x04);
	assert_memory_equal(ram(f, BUF, 512), f->data[0] + ((3 * 2 + 1) * 9 + 8) * 512, 512);
}

/* The VENOM class: long parameter streams and repeated bytes to the data
 * port, in every phase; the controller stays within its buffers (ASan)
 * and answers VERSION afterwards. */
static void drain(struct fix *f)
{
	for (unsigned i = 0; i < 20000 && inb(f, MSR) != 0x80; i++) {
		uint8_t m = inb(f, MSR);
		if (m & 0x40)
			inb(f, FIFO);
		else if (m & 0x80)
			outb(f, FIFO, 0);
		else
			outb(f, DSR, 0x80); /* stuck on DMA: reset */
	}
	assert_int_equal(inb(f, MSR), 0x80);
}

static void sane(struct fix *f)
{
	uint8_t r[2];
	drain(f);
	CMD(f, 0x10);
	assert_int_equal(result1(f), 0x90);
	while (inb(f, MSR) == 0x80) { /* polled statuses from resets */
		CMD(f, 0x08);
		if (inb(f, MSR) != 0xD0)
			break;
		r[0] = inb(f, FIFO);
		if (r[0] == 0x80)
			break;
		inb(f, FIFO);
	}
	drain(f);
}

static void test_venom_long_streams(void **state)
{
	struct fix *f = *state;
	static const uint8_t starts[] = { 0x8E, 0x4A, 0x0A, 0x46, 0xC5, 0x4D, 0x13, 0x0E,
					  0x12, 0x03, 0x0F, 0x8F };

	reset_controller(f);
	for (unsigned s = 0; s < ARRAY_SIZE(starts); s++) {
		outb(f, FIFO, starts[s]);
		for (unsigned i = 0; i < 100000; i++)
			outb(f, FIFO, (uint8_t)(s & 1 ? 0x42 : i)); /* never bit 7 for 0x8E: 0x42 */
		sane(f);
	}
	/* drive specification: four drive bytes, then 0x8x ends it */
	CMD(f, 0x8E, 0x01, 0x22, 0x43, 0x64, 0x80);
	uint8_t r[4];
	result(f, r, 4);
	assert_int_equal(r[0], 0x01);
	assert_int_equal(r[3], 0x04);
	CMD(f, 0x8E, 0x05, 0xC0); /* NRP: no result phase */
	assert_int_equal(inb(f, MSR), 0x80);
	/* reading the data port in every phase */
	for (unsigned i = 0; i < 100000; i++)
		inb(f, FIFO);
	CMD(f, 0x03, 0xAF, 0x03);
	CMD(f, 0x46, 0x00, 0, 0, 1, 2, 0xFF, 0x1B, 0xFF); /* PIO to EOT 255: ND at 19 */
	for (unsigned i = 0; i < 100000; i++)
		inb(f, FIFO);
	sane(f);
	CMD(f, 0x45, 0x00, 0, 0, 1, 2, 0xFF, 0x1B, 0xFF);
	for (unsigned i = 0; i < 100000; i++)
		outb(f, FIFO, 0xEE);
	sane(f);
	/* every command byte, each with a stream of parameters of each value */
	for (unsigned c = 0; c < 256; c++) {
		for (unsigned v = 0; v < 256; v += 51) {
			outb(f, DSR, 0x80);
			outb(f, FIFO, (uint8_t)c);
			for (unsigned i = 0; i < 40; i++) {
				outb(f, FIFO, (uint8_t)v);
				inb(f, FIFO);
			}
		}
	}
	outb(f, DSR, 0x80);
	sane(f);
}

/* A DMA transfer the guest sized at 64 KiB for one sector, and DMA
 * programmed short of the sector. */
static void test_dma_lengths(void **state)
{
	struct fix *f = *state;
	uint8_t r[7];

	reset_controller(f);
	dma_program(f, 0xFFF00, 0x10000, true, true); /* wraps in its 64K page */
	read_cmd(f, false, 0, 0, 1, 1, r);
	assert_int_equal(r[1], 0x80); /* one sector, end of cylinder */
	dma_program(f, BUF, 100, true, true);
	memset(ram(f, BUF, 512), 0, 512);
	read_cmd(f, false, 0, 0, 2, 18, r); /* terminal count inside the sector */
	assert_int_equal(r[0], 0x00);
	assert_int_equal(r[5], 3);
	assert_memory_equal(ram(f, BUF, 100), f->data[0] + off_of(0, 0, 2), 100);
	assert_int_equal(*ram(f, BUF + 100, 1), 0);
	/* a write of 10 bytes: the rest of the sector is zeros */
	memset(ram(f, BUF, 10), 0xAB, 10);
	dma_program(f, BUF, 10, false, true);
	CMD(f, 0x45, 0x00, 0, 0, 5, 2, 18, 0x1B, 0xFF);
	result(f, r, 7);
	assert_int_equal(r[0], 0x00);
	assert_int_equal(f->data[0][off_of(0, 0, 5) + 9], 0xAB);
	assert_int_equal(f->data[0][off_of(0, 0, 5) + 10], 0);
	assert_int_equal(f->data[0][off_of(0, 0, 5) + 511], 0);
}

static void save_fdc(struct fdc *fdc, struct ss_writer *w)
{
	ss_writer_init(w);
	fdc_save(fdc, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Saved in the middle of a PIO read: loaded into a reset controller, the
 * same bytes saved again, and the read goes on where it was. Loaded into
 * a controller without the medium, refused. */
static void test_save_load(void **state)
{
	struct fix *f = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;
	uint8_t sec[512], res[7];
	char err[256];

	reset_controller(f);
	CMD(f, 0x03, 0xAF, 0x03);
	seek(f, 0, 4);
	CMD(f, 0x46, 0x00, 4, 0, 2, 2, 3, 0x1B, 0xFF);
	for (unsigned i = 0; i < 100; i++)
		sec[i] = inb(f, FIFO);
	save_fdc(f->fdc, &w1);
	fdc_reset(f->fdc);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(fdc_load(f->fdc, &r, 0));
	ss_reader_close(&r);
	save_fdc(f->fdc, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	ss_writer_free(&w2);
	for (unsigned i = 100; i < 512; i++)
		sec[i] = inb(f, FIFO);
	assert_memory_equal(sec, f->data[0] + off_of(4, 0, 2), 512);
	for (unsigned i = 0; i < 512; i++)
		inb(f, FIFO);
	result(f, res, 7);
	assert_int_equal(res[1], 0x80);

	struct irq_line none = { 0 };
	struct io_bus pio2;
	bus_init(&pio2, "pio2");
	struct fdc *empty = fdc_create(&pio2, NULL, none, err, sizeof(err));
	assert_non_null(empty);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_false(fdc_load(empty, &r, 0));
	assert_non_null(strstr(r.err, "invalid transfer"));
	ss_reader_close(&r);
	fdc_destroy(empty);
	bus_destroy(&pio2);
	ss_writer_free(&w1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_media_sizes),
		T(test_reset_polls_four_drives),
		T(test_identification_and_configuration),
		T(test_invalid_commands),
		T(test_seek_recalibrate_sense_drive),
		T(test_read_dma_multi_track_to_terminal_count),
		T(test_read_to_end_of_cylinder),
		T(test_write_dma_and_write_protect),
		T(test_dma_waits_for_the_channel),
		T(test_pio_read_and_write),
		T(test_format_track),
		T(test_read_id_rate_and_verify),
		T(test_error_statuses),
		T(test_disk_change_line),
		T(test_venom_long_streams),
		T(test_dma_lengths),
		T(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
