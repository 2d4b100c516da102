// SPDX-License-Identifier: GPL-2.0-or-later
/* The Gravis Ultrasound (hw/audio/gus.c), driven as Linux's snd-gusclassic
 * drives it: the reset and DRAM probe, the register file through the
 * select/data ports, DRAM peek and poke, DMA uploads through the 8237,
 * voices playing 16-bit and 8-bit blocks to an audio backend stepped
 * through virtual time (the GF1's 617400 / voices Hz rate converted by the
 * backend), the wave, ramp, DMA and timer interrupts, hostile values and
 * saved state. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio.h"
#include "bus.h"
#include "bus_access.h"
#include "event.h"
#include "guest_mem.h"
#include "hw/gus.h"
#include "hw/i8237.h"
#include "savestate.h"
#include "util.h"

#define MS 1000000LL
#define BASE 0x240
#define GF1 (BASE + 0x100)
#define BUF 0x20000    /* host DMA buffer (8-bit channel 3) */
#define BUF16 0x40000  /* 16-bit channel 5, 128 KiB aligned */
#define FULL_GAIN 65408 /* volume 4095: the gain in Q16 */

struct fix {
	struct io_bus pio;
	struct guest_mem mem;
	struct i8237 *dma;
	struct gus *gus;
	struct audio_backend *be;
	struct event_loop *loop;
	char *wav;
	int irq_level;
	unsigned irq_rises;
	int64_t now, host;
};

static void irq_set_fn(void *opaque, unsigned line, int level)
{
	struct fix *f = opaque;
	if (level && !f->irq_level)
		f->irq_rises++;
	f->irq_level = level;
}

static void outb(struct fix *f, uint16_t port, uint8_t v) { bus_wr(&f->pio, port, v, 1); }
static void outw(struct fix *f, uint16_t port, uint16_t v) { bus_wr(&f->pio, port, v, 2); }
static uint8_t inb(struct fix *f, uint16_t port) { return (uint8_t)bus_rd(&f->pio, port, 1); }
static uint16_t inw(struct fix *f, uint16_t port) { return (uint16_t)bus_rd(&f->pio, port, 2); }

/* Linux's snd_gf1_write8/16 and look8/16. */
static void w8(struct fix *f, uint8_t reg, uint8_t v) { outb(f, GF1 + 3, reg); outb(f, GF1 + 5, v); }
static void w16(struct fix *f, uint8_t reg, uint16_t v) { outb(f, GF1 + 3, reg); outw(f, GF1 + 4, v); }
static uint8_t r8(struct fix *f, uint8_t reg) { outb(f, GF1 + 3, reg); return inb(f, GF1 + 5); }
static uint16_t r16(struct fix *f, uint8_t reg) { outb(f, GF1 + 3, reg); return inw(f, GF1 + 4); }
static void voice(struct fix *f, uint8_t v) { outb(f, GF1 + 2, v); }

/* An address register pair as snd_gf1_write_addr writes it (addr in
 * bytes; 16-bit voices in the GF1's bank:word form). */
static void waddr(struct fix *f, uint8_t reg, uint32_t addr, bool wide)
{
	uint32_t a = addr << 4;
	if (wide)
		a = (a & 0x00C0000F) | ((a & 0x003FFFF0) >> 1);
	w16(f, reg, (uint16_t)(a >> 11));
	w16(f, (uint8_t)(reg + 1), (uint16_t)(a << 5));
}

static uint32_t raddr(struct fix *f, uint8_t reg)
{
	return (((uint32_t)r16(f, reg | 0x80) << 11) & 0xFFF800) |
	       ((r16(f, (uint8_t)((reg + 1) | 0x80)) >> 5) & 0x7FF);
}

static void poke(struct fix *f, uint32_t a, uint8_t v)
{
	w16(f, 0x43, (uint16_t)a);
	w8(f, 0x44, (uint8_t)(a >> 16));
	outb(f, GF1 + 7, v);
}

static uint8_t peek(struct fix *f, uint32_t a)
{
	w16(f, 0x43, (uint16_t)a);
	w8(f, 0x44, (uint8_t)(a >> 16));
	return inb(f, GF1 + 7);
}

/* A card with freq= 'freq' on a wav backend at 'rate'. */
static void make_card_at(struct fix *f, uint32_t rate, uint32_t freq, struct event_loop *loop)
{
	char err[256];
	struct gus_config cfg = { .iobase = BASE, .irq = 7, .dma = 3, .freq = freq };
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
				     .out = { rate, 2, AUDIO_FMT_S16 } };
	f->be = audio_backend_open(&c, NULL, err, sizeof(err));
	assert_non_null(f->be);
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 7 };
	f->gus = gus_create(&f->pio, f->dma, irq, f->be, loop, &cfg, err, sizeof(err));
	assert_non_null(f->gus);
	audio_backend_run(f->be, f->now);
}

static void make_card(struct fix *f, uint32_t rate, struct event_loop *loop)
{
	make_card_at(f, rate, 44100, loop);
}

/* snd_gf1_start's order: reset, release, active voices, IRQ and DAC on. */
static void start_gf1(struct fix *f, unsigned voices)
{
	w8(f, 0x4C, 0);
	w8(f, 0x4C, 1);
	w8(f, 0x0E, (uint8_t)(0xC0 | (voices - 1)));
	w8(f, 0x4C, 7);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	bus_init(&f->pio, "pio");
	assert_int_equal(guest_mem_init(&f->mem, 16u << 20), 0);
	f->dma = i8237_create(&f->mem);
	assert_int_equal(i8237_map(f->dma, &f->pio), 0);
	outb(f, 0x0D, 0);
	outb(f, 0xDA, 0);
	outb(f, 0xD6, 0xC0);
	outb(f, 0xD4, 0x00);
	f->wav = xstrdup("/tmp/vmm-test-gus-XXXXXX");
	int fd = mkstemp(f->wav);
	assert_true(fd >= 0);
	close(fd);
	f->now = 1000 * MS;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	gus_destroy(f->gus);
	if (f->be)
		audio_backend_close(f->be);
	if (f->loop)
		event_loop_free(f->loop);
	i8237_destroy(f->dma);
	bus_destroy(&f->pio);
	guest_mem_destroy(&f->mem);
	unlink(f->wav);
	free(f->wav);
	free(f);
	return 0;
}

static void advance(struct fix *f, int64_t ms)
{
	for (int64_t i = 0; i < ms / 10; i++) {
		f->now += 10 * MS;
		audio_backend_run(f->be, f->now);
	}
}

static void dma_program(struct fix *f, unsigned ch, uint8_t mode, uint32_t addr, uint32_t len)
{
	static const uint16_t page_port[8] = { 0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A };
	bool word = ch >= 4;
	unsigned c = ch & 3;
	uint16_t reg = word ? 0xD4 : 0x0A, modep = word ? 0xD6 : 0x0B, ff = word ? 0xD8 : 0x0C;
	uint16_t ap = word ? (uint16_t)(0xC0 + 4 * c) : (uint16_t)(2 * c);
	uint16_t cp = word ? (uint16_t)(ap + 2) : (uint16_t)(ap + 1);
	uint32_t a = word ? (addr >> 1) & 0xFFFF : addr & 0xFFFF;
	uint32_t n = (word ? len / 2 : len) - 1;

	outb(f, reg, (uint8_t)(4 | c));
	outb(f, modep, (uint8_t)(mode | c));
	outb(f, ff, 0);
	outb(f, ap, (uint8_t)a);
	outb(f, ap, (uint8_t)(a >> 8));
	outb(f, page_port[ch], (uint8_t)(addr >> 16));
	outb(f, cp, (uint8_t)n);
	outb(f, cp, (uint8_t)(n >> 8));
	outb(f, reg, (uint8_t)c);
}

static uint8_t *recording(struct fix *f, size_t *len)
{
	FILE *fp = fopen(f->wav, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	assert_true(n >= 44);
	uint8_t *buf = malloc((size_t)n - 44 + 1);
	fseek(fp, 44, SEEK_SET);
	assert_int_equal(fread(buf, 1, (size_t)n - 44, fp), (size_t)n - 44);
	fclose(fp);
	*len = (size_t)n - 44;
	return buf;
}

static uint8_t *ram(struct fix *f, uint32_t gpa) { return f->mem.ram + gpa; }

/* What the GF1 makes of a sample at full volume on one side (pan 0 or 15). */
static int16_t full(int32_t s)
{
	int64_t g = (int64_t)s * FULL_GAIN;
	return (int16_t)((g * 65536) >> 32);
}

/* A voice set up as snd_gf1_pcm_trigger_up does, at full volume, without
 * the ramp; started by the voice control write. */
static void play(struct fix *f, unsigned v, uint32_t begin, uint32_t end, uint32_t cur,
		 uint16_t fc, uint8_t pan, uint8_t ctrl, uint8_t vctrl)
{
	bool wide = ctrl & 0x04;
	voice(f, (uint8_t)v);
	w8(f, 0x0C, pan);
	w16(f, 0x01, fc);
	waddr(f, 0x02, begin, wide);
	waddr(f, 0x04, end, wide);
	waddr(f, 0x0A, cur, wide);
	w16(f, 0x09, 4095 << 4);
	w8(f, 0x0D, vctrl);
	w8(f, 0x00, ctrl);
}

/* ---- tests ------------------------------------------------------------------ */

/* snd_gusclassic_detect, snd_gus_check_version and snd_gus_detect_memory:
 * the reset register reads back bits 2-0, the board is a classic (register
 * control and board version read 0xFF), DRAM keeps bytes in four 256 KiB
 * banks and the address wraps at 1 MiB. */
static void test_linux_probe(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);

	w8(f, 0x4C, 0);
	assert_int_equal(r8(f, 0x4C) & 7, 0);
	w8(f, 0x4C, 1);
	assert_int_equal(r8(f, 0x4C) & 7, 1);
	outb(f, BASE + 0xF, 0x20);
	assert_int_equal(inb(f, BASE + 0xF), 0xFF);
	assert_int_equal(inb(f, BASE + 0x506), 0xFF);

	poke(f, 0, 0xAA);
	poke(f, 1, 0x55);
	assert_int_equal(peek(f, 0), 0xAA);
	assert_int_equal(peek(f, 1), 0x55);
	for (unsigned idx = 1; idx < 4; idx++) {
		poke(f, idx << 18, (uint8_t)(0xAA + idx));
		poke(f, (idx << 18) + 1, (uint8_t)(0xAB + idx));
	}
	for (unsigned idx = 1; idx < 4; idx++) {
		assert_int_equal(peek(f, idx << 18), 0xAA + idx);
		assert_int_equal(peek(f, (idx << 18) + 1), 0xAB + idx);
	}
	assert_int_equal(peek(f, 0), 0xAA);
	poke(f, 0xFFFFF, 0x77);
	/* the high DRAM address register keeps 4 bits: 0x1FFFFF is 0xFFFFF */
	assert_int_equal(peek(f, 0x1FFFFF), 0x77);
	assert_int_equal(r8(f, 0x44), 0x0F);

	/* snd_gf1_start waits for the IRQ source to read both bits set */
	start_gf1(f, 14);
	assert_int_equal(r8(f, 0x8F) & 0xC0, 0xC0);
	assert_int_equal(inb(f, BASE + 6), 0);
	assert_int_equal(f->irq_level, 0);
	/* MIDI: always ready to send */
	assert_int_equal(inb(f, GF1 + 0) & 0x02, 0x02);
}

/* Voice registers per voice, as written (address pairs through the GF1's
 * layout, 16-bit registers by word or by low byte then high byte), the
 * global ones, and the active voice count's rate. */
static void test_register_file(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);

	for (unsigned v = 0; v < 32; v++) {
		voice(f, (uint8_t)v);
		w16(f, 0x01, (uint16_t)(0x400 + v * 2));
		waddr(f, 0x02, 0x1000 + v, false);
		waddr(f, 0x04, 0xFFFFF - v, false);
		waddr(f, 0x0A, 0x80000 + v, false);
		w8(f, 0x06, (uint8_t)(0x3F + v));
		w8(f, 0x07, (uint8_t)v);
		w8(f, 0x08, (uint8_t)(0xF0 + (v & 0xF)));
		w16(f, 0x09, (uint16_t)(0x1230 + (v << 4)));
		w8(f, 0x0C, (uint8_t)(v & 0xF));
	}
	for (unsigned v = 0; v < 32; v++) {
		voice(f, (uint8_t)v);
		assert_int_equal(inb(f, GF1 + 2), v);
		assert_int_equal(r16(f, 0x81), 0x400 + v * 2);
		assert_int_equal(raddr(f, 0x02) >> 4, 0x1000 + v);
		assert_int_equal(raddr(f, 0x04) >> 4, 0xFFFFF - v);
		assert_int_equal(raddr(f, 0x0A) >> 4, 0x80000 + v);
		assert_int_equal(r8(f, 0x86), (uint8_t)(0x3F + v));
		assert_int_equal(r8(f, 0x87), v);
		assert_int_equal(r8(f, 0x88), 0xF0 + (v & 0xF));
		assert_int_equal(r16(f, 0x89), 0x1230 + (v << 4));
		assert_int_equal(r8(f, 0x8C), v & 0xF);
		assert_int_equal(r8(f, 0x80) & 3, 1); /* stopped since the reset */
	}
	/* a 16-bit register by bytes: the low byte waits for the high one */
	voice(f, 3);
	outb(f, GF1 + 3, 0x01);
	outb(f, GF1 + 4, 0x34);
	assert_int_equal(r16(f, 0x81), 0x406);
	outb(f, GF1 + 3, 0x01);
	outb(f, GF1 + 5, 0x12);
	assert_int_equal(r16(f, 0x81), 0x1234);
	outb(f, GF1 + 3, 0x81);
	assert_int_equal(inb(f, GF1 + 5), 0x12);
	/* globals */
	w16(f, 0x42, 0xBEEF);
	assert_int_equal(r16(f, 0x42), 0xBEEF);
	w8(f, 0x46, 0x12);
	w8(f, 0x47, 0x34);
	w8(f, 0x48, 0x56);
	w8(f, 0x4B, 29);
	assert_int_equal(r8(f, 0x46), 0x12);
	assert_int_equal(r8(f, 0x47), 0x34);
	assert_int_equal(r8(f, 0x48), 0x56);
	assert_int_equal(r8(f, 0x4B), 29);
	assert_int_equal(r8(f, 0x8E), 0xCD);
	/* the mixing rate family: 617400 / voices */
	assert_int_equal(gus_mix_rate(0xC0 | 13), 44100);
	assert_int_equal(gus_mix_rate(0xC0 | 23), 25725);
	assert_int_equal(gus_mix_rate(0xC0 | 27), 22050);
	assert_int_equal(gus_mix_rate(0xC0 | 31), 19294);
	assert_int_equal(gus_mix_rate(0xC0 | 0), 44100); /* fewer than 14 count as 14 */
	/* a reset (bit 0 clear) stops every voice and clears the DMA control */
	voice(f, 5);
	w8(f, 0x00, 0x00);
	assert_int_equal(r8(f, 0x80) & 3, 0);
	w8(f, 0x4C, 0);
	assert_int_equal(r8(f, 0x80) & 3, 1);
	assert_int_equal(r8(f, 0x41), 0);
}

/* snd_gf1_dma_program: the 8237 programmed to read host memory, the GF1's
 * DMA address (bits 19-4) and control (enable, IRQ, invert): the bytes land
 * in DRAM, and terminal count raises bit 7 of the IRQ status and bit 6 of
 * the control, both taken by reading the control. */
static void test_dma_upload(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);

	for (unsigned i = 0; i < 4096; i++)
		ram(f, BUF)[i] = (uint8_t)(i * 7 + 3);
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 4096);
	w16(f, 0x42, 0x12340 >> 4);
	w8(f, 0x41, 0x21); /* enable, IRQ at the end, 8-bit data, no inversion */
	assert_int_equal(f->irq_rises, 1);
	assert_int_equal(inb(f, BASE + 6), 0x80);
	for (unsigned i = 0; i < 4096; i += 97)
		assert_int_equal(peek(f, 0x12340 + i), (uint8_t)(i * 7 + 3));
	assert_int_equal(peek(f, 0x12340 + 4096), 0);
	assert_int_equal(r8(f, 0x41) & 0x41, 0x40); /* done, pending */
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(r8(f, 0x41) & 0x40, 0);
	assert_int_equal(inb(f, BASE + 6), 0);

	/* unsigned 16-bit data: the high byte of each word is inverted */
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 256);
	w16(f, 0x42, 0x2000);
	w8(f, 0x41, 0xE1);
	for (unsigned i = 0; i < 256; i++)
		assert_int_equal(peek(f, 0x20000 + i), (uint8_t)((i * 7 + 3) ^ (i & 1 ? 0x80 : 0)));
	r8(f, 0x41);

	/* the GF1 first, the 8237 later: the transfer waits for the channel */
	w16(f, 0x42, 0x3000);
	w8(f, 0x41, 0x21 | 0x80);
	assert_int_equal(inb(f, BASE + 6), 0);
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 64);
	assert_int_equal(inb(f, BASE + 6), 0x80);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(peek(f, 0x30000 + i), (uint8_t)((i * 7 + 3) ^ 0x80));
	r8(f, 0x41);

	/* DRAM to the host (bit 1) */
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_WRITE, BUF + 0x8000, 32);
	w16(f, 0x42, 0x12340 >> 4);
	w8(f, 0x41, 0x23);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(ram(f, BUF + 0x8000)[i], (uint8_t)(i * 7 + 3));
	assert_int_equal(r8(f, 0x41) & 0x40, 0x40);
}

/* A 16-bit DMA channel (5): the GF1's address in bank:word form, as the
 * driver writes it for dma1 > 3 (control bit 2). */
static void test_dma_upload_16bit_channel(void **state)
{
	struct fix *f = *state;
	char err[256];
	struct gus_config cfg = { .iobase = BASE, .irq = 7, .dma = 5, .freq = 44100 };
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 7 };
	f->gus = gus_create(&f->pio, f->dma, irq, NULL, NULL, &cfg, err, sizeof(err));
	assert_non_null(f->gus);
	start_gf1(f, 14);

	for (unsigned i = 0; i < 1024; i++)
		ram(f, BUF16)[i] = (uint8_t)(i ^ 0x5A);
	dma_program(f, 5, I8237_MODE_SINGLE | I8237_MODE_READ, BUF16, 1024);
	uint32_t addr = 0x40000 + 0x1000; /* bank 1 */
	uint32_t a = (addr & 0xC0000) | ((addr & 0x3FFFF) >> 1);
	w16(f, 0x42, (uint16_t)(a >> 4));
	w8(f, 0x41, 0x25);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(peek(f, addr + i), (uint8_t)(i ^ 0x5A));
	assert_int_equal(r8(f, 0x41) & 0x40, 0x40);
}

/* A 16-bit block played by one voice at 14 active voices (44100 Hz), step
 * 1.0 (0x400), pan left: the backend at 44100 Hz gets the samples at full
 * volume on the left, silence on the right, and nothing after the voice
 * stops at its end address; the wave IRQ of the end is reported by the IRQ
 * status and the IRQ source register, whose read takes it. */
static void test_play_16bit_block(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	enum { N = 4410 };
	for (unsigned i = 0; i < N; i++) {
		int16_t s = (int16_t)(i * 13 - 28000);
		poke(f, 0x40000 + 2 * i, (uint8_t)s);
		poke(f, 0x40000 + 2 * i + 1, (uint8_t)(s >> 8));
	}
	play(f, 0, 0x40000, 0x40000 + 2 * (N - 1), 0x40000, 0x400, 0, 0x24, 0x03);
	assert_int_equal(inb(f, BASE + 6), 0);
	advance(f, 200);
	assert_int_equal(audio_backend_frames_written(f->be), N);
	assert_int_equal(f->irq_rises, 1);
	assert_int_equal(inb(f, BASE + 6), 0x20);
	voice(f, 0);
	assert_int_equal(r8(f, 0x80) & 0x81, 0x81); /* stopped, IRQ pending */
	assert_int_equal(r8(f, 0x8F), 0x60); /* voice 0, wave (bit 7 clear), no ramp */
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(r8(f, 0x8F) & 0xC0, 0xC0);
	assert_int_equal(inb(f, BASE + 6), 0);
	/* the current address sits at the end */
	assert_int_equal(raddr(f, 0x0A) >> 4, 0x40000 + (N - 1)); /* bank 1, word N - 1 */

	size_t len;
	int16_t *rec = (int16_t *)recording(f, &len);
	assert_int_equal(len, N * 4);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(rec[2 * i], full((int16_t)(i * 13 - 28000)));
		assert_int_equal(rec[2 * i + 1], 0);
	}
	free(rec);
}

/* An 8-bit block at 28 voices (22050 Hz), pan right, on the default
 * freq= 44100 into a 44100 Hz backend: the card produces two frames per
 * GF1 frame (every other one between two samples), the right channel
 * carries the samples (x 256), the left nothing. The IRQ disabled in the
 * voice control: no interrupt at the end. */
static void test_play_8bit_converted(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 28);
	enum { N = 2205 };
	for (unsigned i = 0; i < N; i++)
		poke(f, 0x100 + i, (uint8_t)(int8_t)(i % 200 - 100));
	play(f, 0, 0x100, 0x100 + N - 1, 0x100, 0x400, 15, 0x00, 0x03);
	advance(f, 200);
	uint64_t frames = audio_backend_frames_written(f->be);
	assert_true(frames >= 2 * N - 2 && frames <= 2 * N + 2);
	assert_int_equal(f->irq_rises, 0);

	size_t len;
	int16_t *rec = (int16_t *)recording(f, &len);
	/* the converter's start (interpolation from silence) delays the
	 * source by a few frames; from there every other frame is a sample */
	unsigned k0 = 0;
	while (k0 < 8 && rec[2 * k0 + 1] != full(-100 * 256))
		k0++;
	assert_true(k0 < 8);
	for (unsigned i = 0; i + 1 < N - k0 / 2; i++) {
		assert_int_equal(rec[2 * (k0 + 2 * i)], 0);
		assert_int_equal(rec[2 * (k0 + 2 * i) + 1], full((int8_t)(i % 200 - 100) * 256));
	}
	free(rec);
}

/* The step as a fraction: 0x200 (half a sample a frame) plays each sample
 * twice as long, interpolated linearly between neighbours (gus_render). */
static void test_interpolation(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	poke(f, 0, 0);
	poke(f, 1, 64);
	poke(f, 2, 0);
	play(f, 0, 0, 2, 0, 0x200, 0, 0x00, 0x03);
	int16_t out[2 * 8];
	assert_int_equal(gus_render(f->gus, out, 8), 6);
	static const int32_t want[6] = { 0, 32 * 256, 64 * 256, 32 * 256, 0, 0 };
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(out[2 * i], full(want[i]));
}

/* A 16-bit block of N samples at step 1.0 and 14 voices (the GF1 at 44100
 * Hz) written into 'rec' by a card with freq= 'freq' on a backend at the
 * same rate (no conversion): returns the frames written. */
static size_t play_block_at(struct fix *f, uint32_t freq, unsigned n, int16_t **rec)
{
	make_card_at(f, freq, freq, NULL);
	start_gf1(f, 14);
	for (unsigned i = 0; i < n; i++) {
		int16_t s = (int16_t)(i * 13 - 28000);
		poke(f, 0x40000 + 2 * i, (uint8_t)s);
		poke(f, 0x40000 + 2 * i + 1, (uint8_t)(s >> 8));
	}
	play(f, 0, 0x40000, 0x40000 + 2 * (n - 1), 0x40000, 0x400, 0, 0x24, 0x03);
	advance(f, 300);
	size_t len;
	*rec = (int16_t *)recording(f, &len);
	assert_int_equal(len % 4, 0);
	return len / 4;
}

/* freq= is the rate the card's output is made at (QEMU's freq=): at 22050
 * with the GF1 at 44100 Hz an output frame is two GF1 frames, the voice
 * sampled at every other sample (the block's length in time kept: half
 * the frames), the wave IRQ at its end; at 88200 each sample and the
 * point halfway to the next. (Before, the card made the GF1's 44100 Hz
 * whatever freq= said.) */
static void test_freq_is_the_output_rate(void **state)
{
	struct fix *f = *state;
	enum { N = 4410 };
	int16_t *rec;

	assert_int_equal(play_block_at(f, 22050, N, &rec), N / 2);
	for (unsigned k = 0; k < N / 2; k++)
		assert_int_equal(rec[2 * k], full((int16_t)(2 * k * 13 - 28000)));
	assert_int_equal(f->irq_rises, 1);
	assert_int_equal(inb(f, BASE + 6), 0x20);
	free(rec);
	teardown(state);
	setup(state);
	f = *state;

	assert_int_equal(play_block_at(f, 88200, N, &rec), 2 * N);
	for (unsigned k = 0; k < 2 * N; k++) {
		int32_t a = (int16_t)(k / 2 * 13 - 28000);
		int32_t b = k / 2 + 1 < N ? (int16_t)((k / 2 + 1) * 13 - 28000) : 0;
		assert_int_equal(rec[2 * k], full(k % 2 ? a + (b - a) / 2 : a));
	}
	assert_int_equal(f->irq_rises, 1);
	free(rec);
}

/* The GF1's time does not follow freq=: a volume ramp of S steps of a
 * GF1 frame each lasts S / 2 output frames at freq=22050 (GF1 44100);
 * at freq=48000 a voice at step 1.0 moves 44100 samples in 48000 frames
 * (the rounded moves add up to the exact distance at every frame). */
static void test_freq_keeps_the_gf1_time(void **state)
{
	struct fix *f = *state;
	make_card_at(f, 22050, 22050, NULL);
	start_gf1(f, 14);
	voice(f, 4);
	w16(f, 0x09, 1800 << 4);
	w8(f, 0x06, 0x2F);
	w8(f, 0x07, 1800 >> 4);
	w8(f, 0x08, 0xF0);
	w8(f, 0x0D, 0x24);
	unsigned steps = (0xF00 - 1800 + 0x2E) / 0x2F;
	assert_int_equal(gus_render(f->gus, NULL, 1000), (steps + 1) / 2);
	assert_int_equal(r16(f, 0x89), 0xF00 << 4);
	teardown(state);
	setup(state);
	f = *state;

	make_card_at(f, 48000, 48000, NULL);
	start_gf1(f, 14);
	play(f, 0, 0, 0xFFFFF, 0, 0x400, 0, 0x08, 0x03); /* 8-bit, loops the whole DRAM */
	for (unsigned n = 0; n < 48000; n += 1000) {
		assert_int_equal(gus_render(f->gus, NULL, 1000), 1000);
		/* the moves add up to the exact distance (4 fraction bits here) */
		assert_int_equal(raddr(f, 0x0A), (uint64_t)(n + 1000) * 44100 * 16 / 48000);
	}
	assert_int_equal(raddr(f, 0x0A), 44100 << 4);
}

static void save_card(struct gus *s, struct ss_writer *w);

/* The phase of the GF1's time within its frame is saved: a card at
 * freq=48000 saved after 37 frames renders the same as the one loaded;
 * a phase past a card's freq= (saved at 48000, loaded at 22050) is
 * refused. */
static void test_freq_phase_saved(void **state)
{
	struct fix *f = *state;
	struct ss_writer w;
	struct ss_reader r;
	int16_t a[2 * 50], b[2 * 50];

	make_card_at(f, 48000, 48000, NULL);
	start_gf1(f, 14);
	for (unsigned i = 0; i < 200; i++)
		poke(f, 0x800 + i, (uint8_t)(i * 7));
	play(f, 0, 0x800, 0x800 + 199, 0x800, 0x400, 0, 0x08, 0x03);
	gus_render(f->gus, NULL, 37);
	save_card(f->gus, &w);
	gus_render(f->gus, a, 50);
	gus_reset(f->gus);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(gus_load(f->gus, &r, 0));
	ss_reader_close(&r);
	gus_render(f->gus, b, 50);
	assert_memory_equal(a, b, sizeof(a));
	ss_writer_free(&w);

	save_card(f->gus, &w); /* after 87 frames: phase 87 * 44100 mod 48000 = 44700 */
	gus_destroy(f->gus);
	audio_backend_close(f->be);
	make_card_at(f, 22050, 22050, NULL);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(gus_load(f->gus, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
}

/* snd-gusclassic's block scheme: rollover (volume control bit 2) passes
 * the end with a wave IRQ but plays on; loop wraps to the start without a
 * gap (the end is the last sample played). */
static void test_rollover_and_loop(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	for (unsigned i = 0; i < 16; i++)
		poke(f, 0x2000 + i, (uint8_t)(i * 4));
	/* rollover at 7: the IRQ, and the samples after it follow */
	play(f, 1, 0x2000, 0x2007, 0x2000, 0x400, 0, 0x20, 0x04 | 0x03); /* ramp stopped */
	int16_t out[2 * 12];
	assert_int_equal(gus_render(f->gus, out, 12), 12);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(out[2 * i], full(i * 4 * 256));
	assert_int_equal(inb(f, BASE + 6) & 0x20, 0x20);
	assert_int_equal(r8(f, 0x8F), 0x61);
	assert_int_equal(r8(f, 0x8F) & 0xC0, 0xC0);
	voice(f, 1);
	w8(f, 0x00, 0x03);
	w8(f, 0x0D, 0x03);

	/* loop 0x2000-0x2003: 0, 4, 8, 12, 0, 4, ... and an IRQ per pass */
	play(f, 2, 0x2000, 0x2003, 0x2000, 0x400, 0, 0x28, 0x03);
	assert_int_equal(gus_render(f->gus, out, 12), 12);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(out[2 * i], full((i % 4) * 4 * 256));
	assert_int_equal(r8(f, 0x8F), 0x62);

	/* bidirectional: back down from the end */
	voice(f, 2);
	w8(f, 0x00, 0x03);
	play(f, 3, 0x2000, 0x2003, 0x2000, 0x400, 0, 0x18, 0x03);
	assert_int_equal(gus_render(f->gus, out, 8), 8);
	static const unsigned bidi[8] = { 0, 1, 2, 3, 3, 2, 1, 0 };
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(out[2 * i], full(bidi[i] * 4 * 256));
}

/* The volume ramp snd_gf1_pcm_trigger_up starts: from 1800 up by 0x2f a
 * frame to the end byte, then a ramp IRQ (bit 6 of the IRQ status, bit 6
 * clear in the IRQ source) and the ramp stops at its end. */
static void test_volume_ramp(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	voice(f, 4);
	w16(f, 0x09, 1800 << 4);
	w8(f, 0x06, 0x2F);
	w8(f, 0x07, 1800 >> 4);
	w8(f, 0x08, 0xF0);
	w8(f, 0x0D, 0x24);
	unsigned frames = (0xF00 - 1800 + 0x2E) / 0x2F;
	assert_int_equal(gus_render(f->gus, NULL, 1000), frames);
	assert_int_equal(r16(f, 0x89), 0xF00 << 4);
	assert_int_equal(r8(f, 0x8D) & 0x81, 0x81);
	assert_int_equal(inb(f, BASE + 6), 0x40);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(r8(f, 0x8F), 0xA4);
	assert_int_equal(f->irq_level, 0);
	/* down at rate bits 01: a step every 8 frames */
	w8(f, 0x06, 0x40 | 0x10);
	w8(f, 0x07, 0xE0);
	w8(f, 0x0D, 0x40);
	assert_int_equal(gus_render(f->gus, NULL, 1000), 8 * 16);
	assert_int_equal(r16(f, 0x89), 0xE00 << 4);
	assert_int_equal(r8(f, 0x8F) & 0xC0, 0xC0); /* no IRQ asked */
}

/* The timers through the AdLib ports: 0x46 counts 80 us ticks up to 256,
 * AdLib register 4 bit 0 starts it, 0x45 bit 2 lets it interrupt (IRQ
 * status bit 2), writing 0x45 without the bit takes the interrupt. */
static int64_t fake_clock(void *opaque) { return *(int64_t *)opaque; }

static void test_timers(void **state)
{
	struct fix *f = *state;
	f->loop = event_loop_new();
	assert_non_null(f->loop);
	f->host = 5000 * MS;
	event_loop_set_host_clock(f->loop, fake_clock, &f->host);
	make_card(f, 44100, f->loop);
	start_gf1(f, 14);

	w8(f, 0x46, 256 - 10); /* 800 us */
	w8(f, 0x45, 0x04);
	outb(f, BASE + 8, 4);
	outb(f, BASE + 9, 0x01);
	f->host += 700000;
	event_loop_run_once(f->loop, 0);
	assert_int_equal(f->irq_rises, 0);
	f->host += 100000;
	event_loop_run_once(f->loop, 0);
	assert_int_equal(f->irq_rises, 1);
	assert_int_equal(inb(f, BASE + 6), 0x04);
	assert_int_equal(inb(f, BASE + 8) & 0xC0, 0xC0);
	w8(f, 0x45, 0x00);
	assert_int_equal(f->irq_level, 0);
	outb(f, BASE + 8, 4);
	outb(f, BASE + 9, 0x80); /* clears the AdLib flags */
	assert_int_equal(inb(f, BASE + 8), 0);
	w8(f, 0x45, 0x04);
	f->host += 800000;
	event_loop_run_once(f->loop, 0);
	assert_int_equal(f->irq_rises, 2);
	w8(f, 0x45, 0x00);
	/* timer 2: 320 us ticks */
	w8(f, 0x47, 255);
	w8(f, 0x45, 0x08);
	outb(f, BASE + 8, 4);
	outb(f, BASE + 9, 0x02 | 0x40); /* timer 1 stopped, timer 2 started */
	f->host += 320000;
	event_loop_run_once(f->loop, 0);
	assert_int_equal(inb(f, BASE + 6), 0x08);
	w8(f, 0x45, 0);
	outb(f, BASE + 9, 0x00);
	f->host += 10 * MS;
	event_loop_run_once(f->loop, 0);
	assert_int_equal(inb(f, BASE + 6), 0);
	/* IRQs need the reset register's IRQ enable */
	gus_destroy(f->gus);
	f->gus = NULL;
	audio_backend_close(f->be);
	f->be = NULL;
}

/* ---- snd-gusclassic's PCM playback, step by step ----------------------------- */

struct pcm {
	uint32_t memory, dma_size, block_size, blocks, bpos;
	bool final_volume;
};

/* snd_gf1_pcm_interrupt_wave: the next block's end on both voices, loop
 * on the last block, rollover before it; the ramp re-armed until the
 * final volume is in. */
static void pcm_wave(struct fix *f, struct pcm *p)
{
	voice(f, 0);
	uint8_t vc = r8(f, 0x80) & (uint8_t)~0x8B;
	uint8_t rc = (uint8_t)((r8(f, 0x8D) & ~0xA4) | 0x03);
	p->bpos = (p->bpos + 1) % p->blocks;
	if (p->bpos + 1 >= p->blocks)
		vc |= 0x08;
	else
		rc |= 0x04;
	uint32_t end = p->memory + (p->bpos + 1) * p->block_size / 2 - 2;
	vc |= 0x20;
	if (!p->final_volume) {
		rc |= 0x20;
		rc &= (uint8_t)~0x03;
	}
	for (unsigned pass = 0; pass < 2; pass++) {
		uint8_t c = vc;
		for (unsigned v = 0; v < 2; v++, end += p->dma_size / 2) {
			voice(f, (uint8_t)v);
			if (!pass)
				waddr(f, 0x04, end, true);
			w8(f, 0x00, c);
			w8(f, 0x0D, rc);
			c &= (uint8_t)~0x20;
		}
	}
}

/* snd_gf1_pcm_interrupt_volume: the ramp stopped, the final volume. */
static void pcm_volume(struct fix *f, struct pcm *p, unsigned v)
{
	voice(f, (uint8_t)v);
	uint8_t rc = r8(f, 0x8D);
	w8(f, 0x0D, (uint8_t)((rc | 0x03) & ~0xA0));
	w16(f, 0x09, 0xFFF0);
	p->final_volume = true;
}

/* snd_gus_interrupt: the status until it reads 0; voices through the IRQ
 * source register until both its bits are set. */
static void pcm_irq(struct fix *f, struct pcm *p)
{
	for (unsigned loop = 0; loop < 100; loop++) {
		uint8_t st = inb(f, BASE + 6);
		if (!st)
			return;
		if (st & 0x60) {
			uint8_t vs;
			while (((vs = r8(f, 0x8F)) & 0xC0) != 0xC0) {
				if (!(vs & 0x80))
					pcm_wave(f, p);
				if (!(vs & 0x40))
					pcm_volume(f, p, vs & 0x1F);
			}
		}
		if (st & 0x80)
			r8(f, 0x41);
	}
	fail_msg("the IRQ status never cleared");
}

static int16_t pcm_sample(unsigned n)
{
	uint32_t h = n * 2654435761u;
	return (int16_t)((int32_t)(h >> 16) % 20000);
}

/* A 16-bit stereo stream as snd-gusclassic plays it: the buffer in DRAM
 * (each channel's half uploaded by DMA on the 16-bit channel, as its
 * copy callback does), snd_gf1_pcm_trigger_up (pan 1 and 14, the start
 * ramp from 1800 with its IRQ, rollover per block, loop on the last), the
 * interrupt handler after every 10 ms step. Two seconds of output are the
 * channels' samples in order without a gap or a repeat: left = 13/15 of
 * the signal at full volume (pan 1's left minus pan 14's share of the
 * inverted right), right its negation. */
static void test_linux_pcm_stream(void **state)
{
	struct fix *f = *state;
	char err[256];
	struct pcm p = { .memory = 0x40000, .block_size = 4096, .blocks = 4 };
	p.dma_size = p.block_size * p.blocks;
	uint32_t half = p.dma_size / 2, samples = half / 2;
	struct gus_config cfg = { .iobase = BASE, .irq = 7, .dma = 6, .freq = 44100 };
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
				     .out = { 44100, 2, AUDIO_FMT_S16 } };
	f->be = audio_backend_open(&c, NULL, err, sizeof(err));
	assert_non_null(f->be);
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 7 };
	f->gus = gus_create(&f->pio, f->dma, irq, f->be, NULL, &cfg, err, sizeof(err));
	assert_non_null(f->gus);
	audio_backend_run(f->be, f->now);
	start_gf1(f, 14);

	/* the channels, non-interleaved as the driver's buffer, uploaded by DMA */
	for (unsigned ch = 0; ch < 2; ch++) {
		int16_t *buf = (int16_t *)ram(f, BUF16);
		for (unsigned n = 0; n < samples; n++)
			buf[n] = (int16_t)(ch ? -pcm_sample(n) : pcm_sample(n));
		dma_program(f, 6, I8237_MODE_SINGLE | I8237_MODE_READ, BUF16, half);
		uint32_t addr = p.memory + ch * half;
		uint32_t a = (addr & 0xC0000) | ((addr & 0x3FFFF) >> 1);
		w8(f, 0x41, 0x00);
		r8(f, 0x41);
		w16(f, 0x42, (uint16_t)(a >> 4));
		w8(f, 0x41, 0x65); /* enable, 16-bit channel, IRQ, 16-bit data */
		assert_int_equal(inb(f, BASE + 6), 0x80);
		pcm_irq(f, &p);
	}

	/* snd_gf1_pcm_trigger_up */
	for (unsigned v = 0; v < 2; v++) {
		uint32_t begin = p.memory + v * half;
		voice(f, (uint8_t)v);
		w8(f, 0x0C, v ? 14 : 1);
		w16(f, 0x01, 0x400);
		waddr(f, 0x02, begin, true);
		waddr(f, 0x04, begin + p.block_size / 2 - 2, true);
		waddr(f, 0x0A, begin, true);
		w16(f, 0x09, 1800 << 4);
		w8(f, 0x06, 0x2F);
		w8(f, 0x07, 1800 >> 4);
		w8(f, 0x08, 0xFF);
		w8(f, 0x0D, 0x24);
		w8(f, 0x0D, 0x24);
	}
	for (unsigned pass = 0; pass < 2; pass++) {
		uint8_t vc = 0x24;
		for (unsigned v = 0; v < 2; v++) {
			voice(f, (uint8_t)v);
			w8(f, 0x00, vc);
			vc &= (uint8_t)~0x20;
		}
	}
	for (unsigned step = 0; step < 200; step++) {
		advance(f, 10);
		pcm_irq(f, &p);
	}
	assert_true(p.final_volume);
	assert_int_equal(audio_backend_frames_written(f->be), 200 * 441);

	size_t len;
	int16_t *rec = (int16_t *)recording(f, &len);
	assert_int_equal(len, 200 * 441 * 4);
	for (unsigned k = 441; k < 200 * 441; k++) {
		double want = pcm_sample(k % samples) * (double)FULL_GAIN / 65536.0 * 13.0 / 15.0;
		if (rec[2 * k] < want - 3 || rec[2 * k] > want + 3 || rec[2 * k + 1] < -want - 3 ||
		    rec[2 * k + 1] > -want + 3)
			fail_msg("frame %u: %d %d, expected %.1f", k, rec[2 * k], rec[2 * k + 1], want);
	}
	free(rec);
}

/* Values no driver writes: voice and DRAM selects out of range, addresses
 * past DRAM (the voice wraps at 1 MiB), the largest step, loops whose end
 * is before their start, a DMA whose 8237 count is the largest and whose
 * DRAM address wraps, reads of registers that do not exist. The card
 * stays inside its DRAM (ASan) and keeps answering. */
static void test_hostile_guest(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 32);
	int16_t out[2 * 256];

	outb(f, GF1 + 2, 0xFF);
	assert_int_equal(inb(f, GF1 + 2), 0x1F);
	for (unsigned v = 0; v < 32; v++) {
		voice(f, (uint8_t)v);
		w16(f, 0x01, 0xFFFF);
		w16(f, 0x02, 0xFFFF);
		w16(f, 0x03, 0xFFFF);
		w16(f, 0x04, (uint16_t)(v * 0x111));
		w16(f, 0x05, 0xFFFF);
		w16(f, 0x0A, 0xFFFF);
		w16(f, 0x0B, 0xFFE0);
		w16(f, 0x09, 0xFFFF);
		w8(f, 0x06, 0xFF);
		w8(f, 0x07, 0xFF);
		w8(f, 0x08, 0x00);
		w8(f, 0x0C, 0xFF);
		w8(f, 0x0D, (uint8_t)(0x7C & ~0x03));
		w8(f, 0x00, (uint8_t)((v & 0x5C) | 0x20));
	}
	for (unsigned i = 0; i < 200; i++)
		gus_render(f->gus, out, 256);
	assert_int_equal(r8(f, 0x8C), 0x0F);
	while ((r8(f, 0x8F) & 0xC0) != 0xC0)
		;
	/* the register file's holes read 0 */
	assert_int_equal(r8(f, 0x8E + 0x10), 0);
	assert_int_equal(r8(f, 0x7F), 0);
	/* a DMA of 64 KiB at the top of DRAM wraps to its bottom */
	memset(ram(f, BUF), 0x3C, 65536);
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 65536);
	w16(f, 0x42, 0xFFFF);
	w8(f, 0x41, 0x01);
	assert_int_equal(peek(f, 0xFFFF0), 0x3C);
	assert_int_equal(peek(f, 0xFFEF), 0x3C);
	assert_int_equal(peek(f, 0xFFF0), 0);
	/* a DMA whose channel runs in auto-init stops at its terminal count */
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF, 16);
	w8(f, 0x41, 0x21);
	assert_int_equal(r8(f, 0x41) & 0x41, 0x40);
	/* a verify-mode channel moves nothing but counts */
	dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_VERIFY, BUF, 16);
	w8(f, 0x41, 0x01);
	/* the ports the card does not decode */
	for (unsigned p = 0; p < 16; p++)
		inb(f, (uint16_t)(BASE + p));
	for (unsigned p = 0; p < 8; p++)
		inb(f, (uint16_t)(GF1 + p)), inw(f, (uint16_t)(GF1 + p));
	/* still a GF1 */
	poke(f, 5, 0x42);
	assert_int_equal(peek(f, 5), 0x42);
}

/* Options the card does not take, and resources another device holds. */
static void test_resources(void **state)
{
	struct fix *f = *state;
	char err[256];
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 7 };
	static const struct { struct gus_config c; const char *msg; } bad[] = {
		{ { 0x241, 7, 3, 44100 }, "iobase=0x241" },
		{ { 0x200, 7, 3, 44100 }, "iobase=0x200" },
		{ { 0x270, 7, 3, 44100 }, "iobase=0x270" },
		{ { 0x240, 4, 3, 44100 }, "irq=4" },
		{ { 0x240, 7, 2, 44100 }, "dma=2" },
		{ { 0x240, 7, 0, 44100 }, "dma=0" },
		{ { 0x240, 7, 3, 999 }, "freq=999" },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_null(gus_create(&f->pio, f->dma, irq, NULL, NULL, &bad[i].c, err, sizeof(err)));
		assert_non_null(strstr(err, bad[i].msg));
		assert_null(strchr(err, '\n'));
	}
	struct gus_config good = { 0x240, 7, 3, 44100 };
	f->gus = gus_create(&f->pio, f->dma, irq, NULL, NULL, &good, err, sizeof(err));
	assert_non_null(f->gus);
	struct gus_config same_ports = { 0x240, 5, 1, 44100 }, same_dma = { 0x220, 5, 3, 44100 };
	assert_null(gus_create(&f->pio, f->dma, irq, NULL, NULL, &same_ports, err, sizeof(err)));
	assert_non_null(strstr(err, "overlap"));
	assert_null(gus_create(&f->pio, f->dma, irq, NULL, NULL, &same_dma, err, sizeof(err)));
	assert_non_null(strstr(err, "DMA channel 3"));
	struct gus_config other = { 0x220, 5, 1, 44100 };
	struct gus *g2 = gus_create(&f->pio, f->dma, irq, NULL, NULL, &other, err, sizeof(err));
	assert_non_null(g2);
	gus_destroy(g2);
}

/* Saved state in the middle of a loop: loaded into a reset card, saved
 * again, the same bytes, and the voice plays on exactly as the original;
 * impossible values are refused. */
static void save_card(struct gus *s, struct ss_writer *w)
{
	ss_writer_init(w);
	gus_save(s, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}


/* A state with every field 0 (voices stopped) but 'field' = value. */
static void put_field(struct ss_writer *w, const char *type, const char *name, const char *field,
		      uint32_t value)
{
	uint32_t v = strcmp(name, field) ? 0 : value;
	if (!strcmp(type, "u8"))
		ss_put_u8(w, name, (uint8_t)v);
	else if (!strcmp(type, "u16"))
		ss_put_u16(w, name, (uint16_t)v);
	else if (!strcmp(type, "u32"))
		ss_put_u32(w, name, v);
	else
		ss_put_bool(w, name, v);
}

static void put_state(struct ss_writer *w, const char *field, uint32_t value)
{
	static const char *const regs[][2] = {
		{ "u8", "mix_ctrl" }, { "u8", "irq_latch" }, { "u8", "dma_latch" }, { "u8", "voice_sel" },
		{ "u8", "reg_sel" }, { "u8", "data_latch" }, { "u8", "active" }, { "u8", "dma_ctrl" },
		{ "u16", "dma_addr" }, { "u32", "dma_done" }, { "bool", "dma_irq" },
		{ "u32", "dram_addr" }, { "u8", "timer_ctrl" }, { "u8", "sample_rate" },
		{ "u8", "sample_ctrl" }, { "u8", "joystick" }, { "u8", "reset" }, { "u8", "timer_irq" },
		{ "u8", "adlib_index" }, { "u8", "adlib_ctrl" }, { "u8", "adlib_status" },
	};
	static const char *const vregs[][2] = {
		{ "u8", "ctrl" }, { "u8", "vctrl" }, { "u16", "freq" }, { "u32", "start" },
		{ "u32", "end" }, { "u32", "pos" }, { "u16", "volume" }, { "u8", "ramp_rate" },
		{ "u8", "ramp_start" }, { "u8", "ramp_end" }, { "u8", "pan" }, { "u16", "ramp_wait" },
	};
	uint8_t zero2[2] = { 0 };
	uint8_t *dram = calloc(1, GUS_DRAM_SIZE);
	ss_writer_init(w);
	ss_section_begin(w, "gus", 0, 1);
	for (unsigned i = 0; i < ARRAY_SIZE(regs); i++)
		put_field(w, regs[i][0], regs[i][1], field, value);
	ss_put_bytes(w, "timer_count", zero2, 2);
	ss_put_array(w, "voice", 32);
	for (unsigned v = 0; v < 32; v++) {
		char name[64];
		ss_put_elem_begin(w, "voice", v);
		for (unsigned i = 0; i < ARRAY_SIZE(vregs); i++) {
			snprintf(name, sizeof(name), "voice[%u].%s", v, vregs[i][1]);
			put_field(w, vregs[i][0], vregs[i][1], strcmp(name, field) ? "" : vregs[i][1],
				  value);
		}
		ss_put_elem_end(w);
	}
	ss_put_bytes(w, "dram", dram, GUS_DRAM_SIZE);
	ss_section_end(w);
	assert_int_equal(ss_writer_finish(w), 0);
	free(dram);
}

static void test_save_load(void **state)
{
	struct fix *f = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	for (unsigned i = 0; i < 100; i++)
		poke(f, 0x500 + i, (uint8_t)(i * 2));
	play(f, 7, 0x500, 0x500 + 99, 0x500, 0x333, 9, 0x28, 0x03);
	int16_t a[2 * 50], b[2 * 50];
	gus_render(f->gus, NULL, 37);
	save_card(f->gus, &w1);
	gus_render(f->gus, a, 50);

	gus_reset(f->gus);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(gus_load(f->gus, &r, 0));
	ss_reader_close(&r);
	save_card(f->gus, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	ss_writer_free(&w2);
	gus_render(f->gus, b, 50);
	assert_memory_equal(a, b, sizeof(a));

	/* impossible values: each one refused, the card as it was */
	static const struct { const char *field; uint32_t value; } bad[] = {
		{ "voice_sel", 32 }, { "dram_addr", 0x100000 }, { "dma_done", 0x100000 },
		{ "reset", 8 }, { "timer_irq", 1 }, { "sample_ctrl", 0x40 }, { "adlib_ctrl", 4 },
		{ "adlib_status", 1 }, { "voice[3].pos", 1u << 29 }, { "voice[0].pan", 16 },
		{ "voice[1].start", 1u << 24 }, { "voice[5].end", 1u << 24 }, { "voice[2].freq", 1 },
		{ "voice[4].ramp_wait", 512 }, { "voice[6].volume", 1 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		put_state(&w2, bad[i].field, bad[i].value);
		assert_int_equal(ss_reader_open(&r, w2.buf, w2.len), 0);
		assert_false(gus_load(f->gus, &r, 0));
		ss_reader_close(&r);
		ss_writer_free(&w2);
	}
	save_card(f->gus, &w2); /* unchanged by the refusals */
	ss_writer_free(&w2);
	put_state(&w2, "voice[3].pos", (1u << 29) - 1); /* the largest position loads */
	assert_int_equal(ss_reader_open(&r, w2.buf, w2.len), 0);
	assert_true(gus_load(f->gus, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w2);
	ss_writer_free(&w1);
}

/* A vCPU thread programs voices, DMA, timers and resets and reads the IRQ
 * sources while the loop's thread mixes: run under TSan (make tsan) and
 * ASan. */
struct race {
	struct fix *f;
	atomic_bool stop;
};

static void *race_vcpu(void *opaque)
{
	struct race *r = opaque;
	struct fix *f = r->f;
	uint32_t seed = 7;

	while (!atomic_load(&r->stop)) {
		seed = seed * 1103515245u + 12345u;
		uint8_t v = (uint8_t)(seed >> 20);
		switch ((seed >> 16) % 8) {
		case 0:
			play(f, v & 31, v << 4, (v << 8) | 0xFF, v << 4, (uint16_t)(v << 5),
			     v & 15, (uint8_t)(v & 0x7C), (uint8_t)(v & 0x7F));
			break;
		case 1:
			dma_program(f, 3, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 1 + v);
			w16(f, 0x42, (uint16_t)(v << 8));
			w8(f, 0x41, (uint8_t)(0x21 | (v & 0xC0)));
			break;
		case 2:
			r8(f, 0x8F), r8(f, 0x41), inb(f, BASE + 6);
			break;
		case 3:
			w8(f, 0x0E, (uint8_t)(0xC0 | (v & 31)));
			break;
		case 4:
			if (v < 4)
				w8(f, 0x4C, v & 1 ? 7 : 0);
			else
				w8(f, 0x4C, 7);
			break;
		case 5:
			poke(f, (uint32_t)v << 12, v);
			break;
		case 6:
			if (v < 8)
				gus_reset(f->gus), start_gf1(f, 14);
			break;
		default:
			voice(f, v & 31);
			r16(f, 0x8A), r8(f, 0x80);
			break;
		}
	}
	return NULL;
}

static void test_race_vcpu_against_mixer(void **state)
{
	struct fix *f = *state;
	struct race r = { .f = f };
	pthread_t t;

	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	assert_int_equal(pthread_create(&t, NULL, race_vcpu, &r), 0);
	for (unsigned i = 0; i < 1000; i++) {
		f->now += 10 * MS;
		audio_backend_run(f->be, f->now);
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	poke(f, 9, 0x5A);
	assert_int_equal(peek(f, 9), 0x5A);
}

/* The current address read as two halves, as snd_gf1_read_addr does:
 * a mixer step between the halves (an emulated CPU reads them
 * milliseconds apart) does not mix two positions; the pair reads the
 * position of its first half. A pair broken by another access, and the
 * next pair, read the position of their own time. */
static void test_current_address_halves_are_one_instant(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, NULL);
	start_gf1(f, 14);
	play(f, 0, 0, 0xFFFFF, 0x100, 0x400, 0, 0x08, 0x03); /* 8-bit, a sample a frame */
	assert_int_equal(gus_render(f->gus, NULL, 100), 100); /* at 0x164: low bits 0x64 */

	uint16_t hi = r16(f, 0x8A);
	assert_int_equal(gus_render(f->gus, NULL, 60), 60); /* to 0x1A0: past 0x180 */
	uint16_t lo = r16(f, 0x8B);
	uint32_t a = ((((uint32_t)hi << 11) & 0xFFF800) | ((lo >> 5) & 0x7FF)) >> 4;
	assert_int_equal(a, 0x164); /* not 0x120: hi of 0x164, lo of 0x1A0 */
	assert_int_equal(raddr(f, 0x0A) >> 4, 0x1A0);

	/* LO first, then HI: the same */
	lo = r16(f, 0x8B);
	assert_int_equal(gus_render(f->gus, NULL, 0x70), 0x70); /* to 0x210 */
	hi = r16(f, 0x8A);
	a = ((((uint32_t)hi << 11) & 0xFFF800) | ((lo >> 5) & 0x7FF)) >> 4;
	assert_int_equal(a, 0x1A0);

	/* another access between the halves: each reads live */
	hi = r16(f, 0x8A);
	assert_int_equal(gus_render(f->gus, NULL, 0x10), 0x10); /* to 0x220 */
	voice(f, 0);
	lo = r16(f, 0x8B);
	assert_int_equal(lo >> 9, 0x220 & 0x7F);
	assert_int_equal(hi, 0x210 >> 7);

	/* the same half twice is two reads: the second is live */
	hi = r16(f, 0x8A);
	assert_int_equal(gus_render(f->gus, NULL, 0x100), 0x100); /* to 0x320 */
	assert_int_equal(r16(f, 0x8A), 0x320 >> 7);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_freq_is_the_output_rate),
		T(test_freq_keeps_the_gf1_time),
		T(test_freq_phase_saved),
		T(test_linux_probe),
		T(test_register_file),
		T(test_dma_upload),
		T(test_dma_upload_16bit_channel),
		T(test_play_16bit_block),
		T(test_play_8bit_converted),
		T(test_interpolation),
		T(test_current_address_halves_are_one_instant),
		T(test_rollover_and_loop),
		T(test_volume_ramp),
		T(test_linux_pcm_stream),
		T(test_timers),
		T(test_hostile_guest),
		T(test_resources),
		T(test_save_load),
		T(test_race_vcpu_against_mixer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
