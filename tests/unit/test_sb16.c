// SPDX-License-Identifier: GPL-2.0-or-later
/* The Sound Blaster 16 (hw/audio/sb16.c), driven as a DOS program or
 * Linux's snd-sb16 drives it: through its ports and the 8237's, with an
 * audio backend stepped through virtual time and recording to a WAVE
 * file. The DSP's reset handshake, version and identification, every DMA
 * mode (8-bit and 16-bit, single-cycle and auto-init, mono and stereo,
 * pause, exit auto-init, recording), the rate at which it consumes
 * samples, the interrupts and their acknowledge ports, the mixer, hostile
 * values, and saved state. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audio.h"
#include "bus.h"
#include "event.h"
#include "bus_access.h"
#include "guest_mem.h"
#include "hw/i8237.h"
#include "hw/sb16.h"
#include "savestate.h"
#include "util.h"

#define MS 1000000LL
#define BASE 0x220
#define BUF_8 0x20000  /* 8-bit DMA buffer (channel 1) */
#define BUF_16 0x40000 /* 16-bit DMA buffer (channel 5), 128 KiB aligned */

struct fix {
	struct io_bus pio;
	struct guest_mem mem;
	struct i8237 *dma;
	struct sb16 *sb;
	struct audio_backend *be;
	char *wav;
	int irq_level;
	unsigned irq_rises;
	int64_t now;
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

/* The card with a backend recording 'rate' Hz, 'ch' channels of 'fmt'. */
static void make_card(struct fix *f, uint32_t rate, unsigned ch, enum audio_fmt fmt,
		      const struct sb16_config *cfg)
{
	char err[256];
	struct sb16_config def = { .iobase = BASE, .irq = 5, .dma = 1, .dma16 = 5 };
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
				     .out = { rate, ch, fmt } };
	f->be = audio_backend_open(&c, NULL, err, sizeof(err));
	assert_non_null(f->be);
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 5 };
	f->sb = sb16_create(&f->pio, f->dma, irq, f->be, cfg ? cfg : &def, err, sizeof(err));
	assert_non_null(f->sb);
	audio_backend_run(f->be, f->now); /* the clock starts */
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	bus_init(&f->pio, "pio");
	assert_int_equal(guest_mem_init(&f->mem, 16u << 20), 0);
	f->dma = i8237_create(&f->mem);
	assert_int_equal(i8237_map(f->dma, &f->pio), 0);
	/* what SeaBIOS leaves: channel 4 cascades controller 1 */
	outb(f, 0x0D, 0);
	outb(f, 0xDA, 0);
	outb(f, 0xD6, 0xC0);
	outb(f, 0xD4, 0x00);
	f->wav = xstrdup("/tmp/vmm-test-sb16-XXXXXX");
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
	sb16_destroy(f->sb);
	audio_backend_close(f->be);
	i8237_destroy(f->dma);
	bus_destroy(&f->pio);
	guest_mem_destroy(&f->mem);
	unlink(f->wav);
	free(f->wav);
	free(f);
	return 0;
}

/* Virtual time passes in 10 ms steps (the backend's timer period). */
static void advance(struct fix *f, int64_t ms)
{
	for (int64_t i = 0; i < ms / 10; i++) {
		f->now += 10 * MS;
		audio_backend_run(f->be, f->now);
	}
}

static void dsp(struct fix *f, uint8_t v) { outb(f, BASE + 0xC, v); }

static uint8_t dsp_read(struct fix *f)
{
	assert_true(inb(f, BASE + 0xE) & 0x80);
	return inb(f, BASE + 0xA);
}

static void dsp_reset(struct fix *f)
{
	outb(f, BASE + 6, 1);
	outb(f, BASE + 6, 0);
	assert_int_equal(dsp_read(f), 0xAA);
}

/* A channel programmed as a driver does: mask, mode, address, page, count
 * (bytes or words - 1), unmask. */
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

static uint8_t mixer(struct fix *f, uint8_t reg)
{
	outb(f, BASE + 4, reg);
	return inb(f, BASE + 5);
}

static void mixer_set(struct fix *f, uint8_t reg, uint8_t v)
{
	outb(f, BASE + 4, reg);
	outb(f, BASE + 5, v);
}

/* The recording's data chunk (the file as written so far). */
static uint8_t *recording(struct fix *f, size_t *len)
{
	FILE *fp = fopen(f->wav, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	assert_true(n >= 44);
	uint8_t *buf = malloc((size_t)n);
	fseek(fp, 44, SEEK_SET);
	assert_int_equal(fread(buf, 1, (size_t)n - 44, fp), (size_t)n - 44);
	fclose(fp);
	*len = (size_t)n - 44;
	return buf;
}

static uint8_t *ram(struct fix *f, uint32_t gpa) { return f->mem.ram + gpa; }

static void ramp8(struct fix *f, uint32_t gpa, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ram(f, gpa)[i] = (uint8_t)(i * 3 + 1);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_reset_version_identify(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);

	assert_false(inb(f, BASE + 0xE) & 0x80); /* nothing to read */
	assert_false(inb(f, BASE + 0xC) & 0x80); /* ready for a command */
	dsp_reset(f);
	dsp(f, 0xE1);
	assert_int_equal(dsp_read(f), 4);
	assert_int_equal(dsp_read(f), 5);
	dsp(f, 0xE0);
	dsp(f, 0x5A);
	assert_int_equal(dsp_read(f), 0xA5);
	dsp(f, 0xE4);
	dsp(f, 0x3C);
	dsp(f, 0xE8);
	assert_int_equal(dsp_read(f), 0x3C);
	dsp(f, 0xD8);
	assert_int_equal(dsp_read(f), 0x00);
	dsp(f, 0xD1);
	dsp(f, 0xD8);
	assert_int_equal(dsp_read(f), 0xFF);
	/* a reset in the middle of a command's parameters drops it */
	dsp(f, 0xE0);
	dsp_reset(f);
	dsp(f, 0xE1);
	assert_int_equal(dsp_read(f), 4);
	assert_int_equal(dsp_read(f), 5);
	assert_false(inb(f, BASE + 0xE) & 0x80);
	/* commands vmm does not model take their parameters: a parameter
	 * byte of 0xE1 is not read as "version" */
	static const uint8_t unmodelled[][3] = { { 0x74, 0xE1, 0xE1 }, { 0x16, 0xE1, 0xE1 },
						 { 0x0E, 0xE1, 0xE1 }, { 0xE2, 0xE1, 0 } };
	for (unsigned i = 0; i < ARRAY_SIZE(unmodelled); i++)
		for (unsigned k = 0; k < 1u + (unmodelled[i][2] ? 2 : 1); k++)
			dsp(f, unmodelled[i][k]);
	assert_false(inb(f, BASE + 0xE) & 0x80);
	/* the OPL3 and MPU-401 ports are not decoded */
	assert_int_equal(inb(f, BASE + 0), 0xFF);
	assert_int_equal(inb(f, BASE + 8), 0xFF);
	assert_int_equal(inb(f, 0x331), 0xFF);
}

/* 0x14 at 8000 Hz (time constant 131): 800 samples take 100 ms of virtual
 * time, reach the recording unchanged, and end with one 8-bit interrupt
 * that reading base+0xE acknowledges. */
static void test_dma8_single_cycle(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	ramp8(f, BUF_8, 800);
	dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ, BUF_8, 800);
	dsp(f, 0xD1);
	dsp(f, 0x40);
	dsp(f, 131);
	dsp(f, 0x14);
	dsp(f, (800 - 1) & 0xFF);
	dsp(f, (800 - 1) >> 8);

	advance(f, 50);
	assert_int_equal(audio_backend_frames_written(f->be), 400);
	assert_int_equal(f->irq_rises, 0);
	advance(f, 50);
	assert_int_equal(audio_backend_frames_written(f->be), 800);
	assert_int_equal(f->irq_rises, 1);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(mixer(f, 0x82) & 3, 1);
	inb(f, BASE + 0xF); /* the 16-bit acknowledge leaves it */
	assert_int_equal(f->irq_level, 1);
	inb(f, BASE + 0xE);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(mixer(f, 0x82) & 3, 0);
	advance(f, 100); /* stopped: nothing more */
	assert_int_equal(audio_backend_frames_written(f->be), 800);
	assert_int_equal(f->irq_rises, 1);

	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 800);
	assert_memory_equal(rec, ram(f, BUF_8), 800);
	free(rec);
}

/* 0x1C with a block of 400 over an auto-init 8237 buffer of 800: an
 * interrupt every 50 ms, the buffer over and over; 0xDA stops at the end
 * of the block under way. */
static void test_dma8_auto_init_and_exit(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	ramp8(f, BUF_8, 800);
	dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF_8, 800);
	dsp(f, 0x40);
	dsp(f, 131);
	dsp(f, 0x48);
	dsp(f, (400 - 1) & 0xFF);
	dsp(f, (400 - 1) >> 8);
	dsp(f, 0x1C);
	for (unsigned i = 1; i <= 6; i++) {
		advance(f, 50);
		assert_int_equal(f->irq_rises, i);
		inb(f, BASE + 0xE);
	}
	assert_int_equal(audio_backend_frames_written(f->be), 2400);
	advance(f, 20);
	dsp(f, 0xDA);
	advance(f, 100);
	assert_int_equal(audio_backend_frames_written(f->be), 2800);
	assert_int_equal(f->irq_rises, 7);

	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 2800);
	for (unsigned k = 0; k < 3; k++)
		assert_memory_equal(rec + k * 800, ram(f, BUF_8), 800);
	assert_memory_equal(rec + 2400, ram(f, BUF_8), 400);
	free(rec);
}

/* 0xB6 (16-bit, auto-init, FIFO), mode 0x30 (stereo, signed), 22050 Hz by
 * 0x41 on DMA channel 5: the frames pass unchanged to an s16 stereo
 * recording; the 16-bit interrupt is bit 1 of 0x82 and base+0xF clears it. */
static void test_dma16_stereo_auto_init(void **state)
{
	struct fix *f = *state;
	make_card(f, 22050, 2, AUDIO_FMT_S16, NULL);
	dsp_reset(f);
	int16_t *buf = (int16_t *)ram(f, BUF_16);
	for (unsigned i = 0; i < 4410; i++) {
		buf[2 * i] = (int16_t)(i * 11 - 20000);
		buf[2 * i + 1] = (int16_t)(-(int)i * 5);
	}
	dma_program(f, 5, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF_16,
		    4410 * 4);
	dsp(f, 0x41);
	dsp(f, 22050 >> 8);
	dsp(f, 22050 & 0xFF);
	dsp(f, 0xB6);
	dsp(f, 0x30);
	uint16_t count = 4410 - 1; /* half the buffer in samples (both channels) - 1 */
	dsp(f, (uint8_t)count);
	dsp(f, (uint8_t)(count >> 8));
	advance(f, 90);
	assert_int_equal(f->irq_rises, 0);
	advance(f, 10); /* 2205 frames: 100 ms */
	assert_int_equal(f->irq_rises, 1);
	assert_int_equal(mixer(f, 0x82) & 3, 2);
	inb(f, BASE + 0xE); /* the 8-bit acknowledge leaves it */
	assert_int_equal(f->irq_level, 1);
	inb(f, BASE + 0xF);
	assert_int_equal(f->irq_level, 0);
	advance(f, 100);
	assert_int_equal(f->irq_rises, 2);
	assert_int_equal(audio_backend_frames_written(f->be), 4410);
	dsp(f, 0xD9); /* exit auto-init: the third block is the last */
	advance(f, 300);
	assert_int_equal(f->irq_rises, 2); /* not acknowledged since: no new rise */
	assert_int_equal(mixer(f, 0x82) & 3, 2);
	assert_int_equal(audio_backend_frames_written(f->be), 4410 + 2205);

	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, (4410 + 2205) * 4);
	assert_memory_equal(rec, buf, 4410 * 4);
	assert_memory_equal(rec + 4410 * 4, buf, 2205 * 4);
	free(rec);
}

static void test_pause_continue(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	ramp8(f, BUF_8, 800);
	dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ, BUF_8, 800);
	dsp(f, 0x40);
	dsp(f, 131);
	dsp(f, 0xC0); /* 8-bit single-cycle output, the SB16 form */
	dsp(f, 0x00); /* mono unsigned */
	dsp(f, (800 - 1) & 0xFF);
	dsp(f, (800 - 1) >> 8);
	advance(f, 30);
	dsp(f, 0xD0);
	uint64_t at_pause = audio_backend_frames_written(f->be);
	assert_int_equal(at_pause, 240);
	advance(f, 200);
	assert_int_equal(audio_backend_frames_written(f->be), at_pause);
	dsp(f, 0xD5); /* the 16-bit continue does not touch an 8-bit transfer */
	dsp(f, 0xD6);
	advance(f, 50);
	assert_int_equal(audio_backend_frames_written(f->be), at_pause);
	dsp(f, 0xD4);
	advance(f, 10); /* the clock starts again */
	advance(f, 200);
	assert_int_equal(audio_backend_frames_written(f->be), 800);
	assert_int_equal(f->irq_rises, 1);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_memory_equal(rec, ram(f, BUF_8), 800);
	free(rec);
}

/* A transfer whose DMA channel is masked: the DSP waits (silence, no
 * interrupt) and goes on once the channel is unmasked. */
static void test_starved_dma(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	ramp8(f, BUF_8, 160);
	dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ, BUF_8, 160);
	outb(f, 0x0A, 4 | 1); /* mask channel 1 */
	dsp(f, 0x40);
	dsp(f, 131);
	dsp(f, 0x14);
	dsp(f, 159);
	dsp(f, 0);
	advance(f, 50);
	assert_int_equal(f->irq_rises, 0);
	assert_int_equal(audio_backend_frames_written(f->be), 400);
	outb(f, 0x0A, 1);
	advance(f, 30);
	assert_int_equal(f->irq_rises, 1);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 400 + 160);
	for (unsigned i = 0; i < 400; i++)
		assert_int_equal(rec[i], 0x80);
	assert_memory_equal(rec + 400, ram(f, BUF_8), 160);
	free(rec);
}

/* Recording (0x24): silence (0x80) is written to memory at the rate, with
 * the interrupt at the end; nothing is played. */
static void test_record_silence(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	memset(ram(f, BUF_8), 0x11, 1000);
	dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, BUF_8, 800);
	dsp(f, 0x42);
	dsp(f, 8000 >> 8);
	dsp(f, 8000 & 0xFF);
	dsp(f, 0x24);
	dsp(f, (800 - 1) & 0xFF);
	dsp(f, (800 - 1) >> 8);
	advance(f, 50);
	assert_int_equal(f->irq_rises, 0);
	advance(f, 60);
	assert_int_equal(f->irq_rises, 1);
	for (unsigned i = 0; i < 800; i++)
		assert_int_equal(ram(f, BUF_8)[i], 0x80);
	assert_int_equal(ram(f, BUF_8)[800], 0x11);
	assert_int_equal(audio_backend_frames_written(f->be), 0);
}

/* Direct DAC writes (0x10): each value is held from its time to the next
 * one's, at 22050 Hz; the output ends 100 ms after the last write. */
static void test_direct_dac(void **state)
{
	struct fix *f = *state;
	static const uint8_t values[] = { 0x80, 0xC0, 0x40, 0xFF, 0x00, 0x90 };

	make_card(f, 22050, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	advance(f, 10);
	for (unsigned i = 0; i < ARRAY_SIZE(values); i++) {
		dsp(f, 0x10);
		dsp(f, values[i]);
		advance(f, 10);
	}
	advance(f, 300);
	uint64_t frames = audio_backend_frames_written(f->be);
	/* five values of 10 ms, the last held 100 ms from its write (one step
	 * of slack) */
	assert_true(frames >= 22050 * 150 / 1000 - 2 && frames <= 22050 * 160 / 1000 + 2);
	advance(f, 100);
	assert_int_equal(audio_backend_frames_written(f->be), frames); /* it ended */
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, frames);
	size_t k = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(values); i++) {
		size_t run = 0;
		while (k < len && rec[k] == values[i])
			k++, run++;
		if (i + 1 < ARRAY_SIZE(values))
			assert_true(run >= 220 && run <= 221); /* 10 ms at 22050 Hz */
		else
			assert_true(run >= 2204); /* held to the end */
	}
	assert_int_equal(k, len);
	free(rec);
	/* a flood of writes: the queue stays bounded, the card answers */
	for (unsigned i = 0; i < 5000; i++) {
		dsp(f, 0x10);
		dsp(f, (uint8_t)i);
	}
	advance(f, 20);
	dsp(f, 0xE1);
	assert_int_equal(dsp_read(f), 4);
}

/* A direct write in the middle of a step (the backend on a loop whose
 * clock is this test's): the step's output changes value at the write's
 * time, not at the step's start. */
static int64_t fake_clock(void *opaque)
{
	return *(int64_t *)opaque;
}

static void test_direct_dac_mid_step(void **state)
{
	struct fix *f = *state;
	char err[256];
	int64_t host = 5000 * MS;
	struct event_loop *loop = event_loop_new();
	assert_non_null(loop);
	event_loop_set_host_clock(loop, fake_clock, &host);
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
				     .out = { 22050, 1, AUDIO_FMT_U8 } };
	f->be = audio_backend_open(&c, loop, err, sizeof(err));
	assert_non_null(f->be);
	struct sb16_config def = { .iobase = BASE, .irq = 5, .dma = 1, .dma16 = 5 };
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 5 };
	f->sb = sb16_create(&f->pio, f->dma, irq, f->be, &def, err, sizeof(err));
	assert_non_null(f->sb);

	dsp(f, 0x10), dsp(f, 0x40);   /* at t0: the kick starts the clock here */
	int64_t t0 = event_clock_ns(loop, EVENT_CLOCK_VIRTUAL);
	host += 10 * MS;
	audio_backend_run(f->be, event_clock_ns(loop, EVENT_CLOCK_VIRTUAL));
	host += 5 * MS;
	dsp(f, 0x10), dsp(f, 0xC0);   /* at t0 + 15 ms */
	host += 5 * MS;
	audio_backend_run(f->be, event_clock_ns(loop, EVENT_CLOCK_VIRTUAL));
	assert_int_equal(event_clock_ns(loop, EVENT_CLOCK_VIRTUAL) - t0, 20 * MS);
	assert_int_equal(audio_backend_frames_written(f->be), 441);

	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 441);
	size_t k = 0;
	while (k < len && rec[k] == 0x40)
		k++;
	assert_true(k >= 330 && k <= 331); /* 15 ms at 22050 Hz */
	while (k < len && rec[k] == 0xC0)
		k++;
	assert_int_equal(k, len);
	free(rec);
	sb16_destroy(f->sb);
	f->sb = NULL;
	audio_backend_close(f->be);
	f->be = NULL;
	event_loop_free(loop);
}

static void test_mixer(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);

	assert_int_equal(mixer(f, 0x80), 0x02);       /* IRQ 5 */
	assert_int_equal(mixer(f, 0x81), 0x22);       /* DMA 1 and 5 */
	mixer_set(f, 0x80, 0x04);                     /* the card's resources are fixed */
	assert_int_equal(mixer(f, 0x80), 0x02);
	assert_int_equal(mixer(f, 0x30), 0xC0);       /* master left's default */
	assert_int_equal(mixer(f, 0x3C), 0x1F);
	mixer_set(f, 0x30, 0xFF);
	assert_int_equal(mixer(f, 0x30), 0xF8);       /* 5 bits */
	mixer_set(f, 0x22, 0x9C);                     /* SB Pro master: 9 left, C right */
	assert_int_equal(mixer(f, 0x30) & 0xF0, 0x90);
	assert_int_equal(mixer(f, 0x31) & 0xF0, 0xC0);
	assert_int_equal(mixer(f, 0x22), 0x9C);
	mixer_set(f, 0x00, 0);                        /* reset */
	assert_int_equal(mixer(f, 0x30), 0xC0);
	assert_int_equal(mixer(f, 0x22), 0xCC);
	assert_int_equal(mixer(f, 0x90), 0xFF);       /* no such register */
	outb(f, BASE + 4, 0x33);
	assert_int_equal(inb(f, BASE + 4), 0x33);

	/* other resources */
	sb16_destroy(f->sb);
	struct sb16_config c = { .iobase = 0x240, .irq = 10, .dma = 3, .dma16 = 7 };
	char err[128];
	struct irq_line irq = { .set = irq_set_fn, .opaque = f };
	f->sb = sb16_create(&f->pio, f->dma, irq, f->be, &c, err, sizeof(err));
	assert_non_null(f->sb);
	outb(f, 0x244, 0x80);
	assert_int_equal(inb(f, 0x245), 0x08);
	outb(f, 0x244, 0x81);
	assert_int_equal(inb(f, 0x245), 0x88);
}

/* Values no real card takes, and channels another card holds, are one
 * error; two cards never share ports or DMA channels. */
static void test_config_errors(void **state)
{
	struct fix *f = *state;
	char err[256];
	struct irq_line irq = { 0 };
	static const struct sb16_config bad[] = {
		{ 0x221, 5, 1, 5 }, { 0x220, 4, 1, 5 }, { 0x220, 5, 2, 5 }, { 0x220, 5, 1, 4 },
		{ 0x220, 5, 4, 5 }, { 0x0, 5, 1, 5 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = 0;
		assert_null(sb16_create(&f->pio, f->dma, irq, NULL, &bad[i], err, sizeof(err)));
		assert_true(err[0]);
	}
	struct sb16_config one = { 0x220, 5, 1, 5 }, same_ports = { 0x220, 7, 0, 6 },
			   same_dma = { 0x240, 7, 1, 6 }, same_dma16 = { 0x240, 7, 3, 5 },
			   dma16_on_8 = { 0x260, 7, 3, 3 };
	struct sb16 *a = sb16_create(&f->pio, f->dma, irq, NULL, &one, err, sizeof(err));
	assert_non_null(a);
	assert_null(sb16_create(&f->pio, f->dma, irq, NULL, &same_ports, err, sizeof(err)));
	assert_non_null(strstr(err, "overlap"));
	assert_null(sb16_create(&f->pio, f->dma, irq, NULL, &same_dma, err, sizeof(err)));
	assert_non_null(strstr(err, "DMA channel 1"));
	assert_null(sb16_create(&f->pio, f->dma, irq, NULL, &same_dma16, err, sizeof(err)));
	assert_non_null(strstr(err, "DMA channel 5"));
	struct sb16 *b = sb16_create(&f->pio, f->dma, irq, NULL, &dma16_on_8, err, sizeof(err));
	assert_non_null(b);
	sb16_destroy(b);
	sb16_destroy(a);
	/* released: the channels can be claimed again */
	a = sb16_create(&f->pio, f->dma, irq, NULL, &one, err, sizeof(err));
	assert_non_null(a);
	sb16_destroy(a);
}

/* A guest that writes anything: random command streams, counts past
 * memory, a 64 Ki-word transfer from the top of RAM, an output queue
 * that is never read. Bounded, no overflow (ASan), the card still answers
 * a reset afterwards. */
static void test_hostile_guest(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, 2, AUDIO_FMT_S16, NULL);
	uint32_t seed = 12345;

	for (unsigned i = 0; i < 200; i++)
		dsp(f, 0xE1); /* 400 bytes queued: 64 kept */
	unsigned n = 0;
	while (inb(f, BASE + 0xE) & 0x80) {
		inb(f, BASE + 0xA);
		n++;
		assert_true(n <= 64);
	}
	assert_int_equal(n, 64);

	/* the 16-bit channel pointing at the last 128 KiB page of a 16 MiB
	 * machine and beyond (page 0xFF: 0xFE0000-0xFFFFFF, past RAM's end
	 * for the high page 1) */
	outb(f, 0x48F, 0x01);
	dma_program(f, 5, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, 0xFE0000,
		    0x20000);
	outb(f, 0x48B, 0x01); /* channel 5's high page: 16 MiB up, no RAM */
	dsp(f, 0x41);
	dsp(f, 0xFF);
	dsp(f, 0xFF);                   /* 65535 Hz: clamped to 45000 */
	dsp(f, 0xB4);
	dsp(f, 0x30);
	dsp(f, 0xFF);
	dsp(f, 0xFF);                   /* 65536 samples */
	advance(f, 3000);
	assert_true(f->irq_rises >= 1);

	for (unsigned i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		uint8_t port = (uint8_t)(BASE + 4 + (seed >> 16) % 12);
		uint8_t v = (uint8_t)(seed >> 8);
		if ((seed >> 28) & 1)
			outb(f, (uint16_t)(0x200 | port), v);
		else
			inb(f, (uint16_t)(0x200 | port));
		if (i % 100 == 0)
			advance(f, 10);
	}
	dsp_reset(f);
	dsp(f, 0xE1);
	assert_int_equal(dsp_read(f), 4);
}

/* A vCPU thread drives the card and the 8237 (start, pause, continue,
 * exit auto-init, acknowledges, direct DAC writes, mixer, resets) while
 * the loop's thread mixes: run under TSan (make tsan) and ASan. */
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
		seed = seed * 1103515245 + 12345;
		switch ((seed >> 16) % 10) {
		case 0:
			dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT,
				    BUF_8, 800);
			dsp(f, 0x48), dsp(f, 99), dsp(f, 0);
			dsp(f, 0x1C);
			break;
		case 1:
			dma_program(f, 5, I8237_MODE_SINGLE | I8237_MODE_READ, BUF_16, 4000);
			dsp(f, 0xB0), dsp(f, 0x30), dsp(f, 0xCF), dsp(f, 0x07);
			break;
		case 2: dsp(f, (seed >> 8) & 1 ? 0xD0 : 0xD4); break;
		case 3: dsp(f, (seed >> 8) & 1 ? 0xD5 : 0xD6); break;
		case 4: dsp(f, (seed >> 8) & 1 ? 0xDA : 0xD9); break;
		case 5: inb(f, BASE + 0xE), inb(f, BASE + 0xF); break;
		case 6: dsp(f, 0x10), dsp(f, (uint8_t)seed); break;
		case 7: mixer_set(f, 0x30 + (seed >> 8) % 0x18, (uint8_t)seed); break;
		case 8: outb(f, BASE + 6, 1), outb(f, BASE + 6, 0), inb(f, BASE + 0xA); break;
		default: dsp(f, 0x41), dsp(f, 0x1F), dsp(f, 0x40); break;
		}
	}
	return NULL;
}

static void test_race_vcpu_against_mixer(void **state)
{
	struct fix *f = *state;
	struct race r = { .f = f };
	pthread_t t;

	make_card(f, 44100, 2, AUDIO_FMT_S16, NULL);
	ramp8(f, BUF_8, 800);
	assert_int_equal(pthread_create(&t, NULL, race_vcpu, &r), 0);
	for (unsigned i = 0; i < 2000; i++)
		advance(f, 10);
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	dsp_reset(f);
	dsp(f, 0xE1);
	assert_int_equal(dsp_read(f), 4);
}

/* Saved state in the middle of an auto-init transfer: loaded into a
 * fresh card (after a reset), saved again, the same bytes; then both
 * cards go on the same way. Corrupt sections are refused. */
static void save_card(struct sb16 *s, struct ss_writer *w)
{
	ss_writer_init(w);
	sb16_save(s, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void test_save_load(void **state)
{
	struct fix *f = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;

	make_card(f, 8000, 1, AUDIO_FMT_U8, NULL);
	dsp_reset(f);
	ramp8(f, BUF_8, 800);
	dma_program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF_8, 800);
	dsp(f, 0x40);
	dsp(f, 131);
	dsp(f, 0x48);
	dsp(f, (400 - 1) & 0xFF);
	dsp(f, (400 - 1) >> 8);
	dsp(f, 0x1C);
	mixer_set(f, 0x32, 0x50);
	dsp(f, 0xE4);
	dsp(f, 0x77);
	dsp(f, 0xE1); /* two bytes left unread */
	dsp(f, 0xE0); /* a command waiting for its parameter */
	advance(f, 30);
	save_card(f->sb, &w1);

	sb16_reset(f->sb);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(sb16_load(f->sb, &r, 0));
	ss_reader_close(&r);
	save_card(f->sb, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	dsp(f, 0x0F); /* the parameter of 0xE0 */
	assert_int_equal(dsp_read(f), 4);
	assert_int_equal(dsp_read(f), 5);
	assert_int_equal(dsp_read(f), 0xF0);
	assert_int_equal(mixer(f, 0x32), 0x50);
	advance(f, 20); /* the transfer goes on: the block ends at 50 ms */
	assert_int_equal(f->irq_rises, 1);
	ss_writer_free(&w2);

	/* corrupt: an output queue longer than the card's */
	static const char *const fields[] = { "out_len", "out_rate", "x.left_bytes" };
	for (unsigned i = 0; i < ARRAY_SIZE(fields); i++) {
		struct ss_writer w;
		ss_writer_init(&w);
		ss_section_begin(&w, "sb16", 0, 1);
		ss_put_bool(&w, "in_reset", false);
		ss_put_u8(&w, "cmd", 0);
		ss_put_u8(&w, "need", 0);
		ss_put_u8(&w, "nparams", 0);
		uint8_t zero[64] = { 0 };
		ss_put_bytes(&w, "params", zero, 3);
		ss_put_bytes(&w, "outq", zero, 64);
		ss_put_u8(&w, "out_head", 0);
		ss_put_u8(&w, "out_len", i == 0 ? 65 : 0);
		ss_put_u8(&w, "last_read", 0);
		ss_put_u8(&w, "test_reg", 0);
		ss_put_bool(&w, "speaker", false);
		ss_put_u8(&w, "time_constant", 0);
		ss_put_bool(&w, "rate_from_tc", false);
		ss_put_u16(&w, "out_rate", i == 1 ? 4 : 11025);
		ss_put_u16(&w, "in_rate", 11025);
		ss_put_u16(&w, "block_size", 0);
		ss_put_u8(&w, "dac", 0x80);
		ss_put_u8(&w, "irq_status", 0);
		ss_put_bool(&w, "x.active", i == 2);
		ss_put_bool(&w, "x.input", false);
		ss_put_bool(&w, "x.silence", false);
		ss_put_bool(&w, "x.autoinit", false);
		ss_put_bool(&w, "x.exit_pending", false);
		ss_put_bool(&w, "x.is16", false);
		ss_put_bool(&w, "x.stereo", false);
		ss_put_bool(&w, "x.signed", false);
		ss_put_bool(&w, "x.paused", false);
		ss_put_u32(&w, "x.block_bytes", 100);
		ss_put_u32(&w, "x.left_bytes", i == 2 ? 200 : 0);
		ss_put_u8(&w, "mixer_index", 0);
		uint8_t mix[0x48] = { 0 };
		ss_put_bytes(&w, "mixer", mix, sizeof(mix));
		ss_section_end(&w);
		assert_int_equal(ss_writer_finish(&w), 0);
		assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
		assert_false(sb16_load(f->sb, &r, 0));
		ss_reader_close(&r);
		ss_writer_free(&w);
	}
	/* the refused loads left the card as it was */
	save_card(f->sb, &w2);
	ss_writer_free(&w2);
	ss_writer_free(&w1);
	dsp(f, 0xE8);
	assert_int_equal(dsp_read(f), 0x77);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_reset_version_identify),
		T(test_dma8_single_cycle),
		T(test_dma8_auto_init_and_exit),
		T(test_dma16_stereo_auto_init),
		T(test_pause_continue),
		T(test_starved_dma),
		T(test_record_silence),
		T(test_direct_dac),
		T(test_direct_dac_mid_step),
		T(test_mixer),
		T(test_config_errors),
		T(test_hostile_guest),
		T(test_save_load),
		T(test_race_vcpu_against_mixer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
