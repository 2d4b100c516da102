// SPDX-License-Identifier: GPL-2.0-or-later
/* The CS4231A (hw/audio/cs4231a.c), driven as Linux's snd-wss/snd-cs4231
 * drives it: through its four ports and the 8237's, with an audio backend
 * stepped through virtual time and recording to a WAVE file. The probe
 * Linux makes (ID, version, mode 2, register aliasing), the register file
 * (reset values, reserved bits, what needs MCE or PMCE, read-only
 * registers), the rate table and format codes, DMA playback (16-bit
 * stereo, 8-bit mono, mu-law) at its rate with the base count's
 * interrupt, single-cycle DMA running out, silent capture, IEN and TRD,
 * hostile values, resources, and saved state. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audio.h"
#include "bus.h"
#include "bus_access.h"
#include "guest_mem.h"
#include "hw/cs4231a.h"
#include "hw/i8237.h"
#include "savestate.h"
#include "util.h"

#define MS 1000000LL
#define BASE 0x534
#define CH 3
#define BUF 0x20000 /* the DMA buffer (channel 3: one 64 KiB page) */

/* R0 bits and the registers the tests name */
#define MCE 0x40
#define TRD 0x20
#define I_FORMAT 8
#define I_IFACE 9
#define I_PIN 10
#define I_ERROR 11
#define I_MODE_ID 12
#define I_UPPER 14
#define I_LOWER 15
#define I_ALT1 16
#define I_STATUS 24
#define I_VERSION 25
#define I_CAP_FORMAT 28
#define PEN 0x01
#define CEN 0x02
#define SDC 0x04
#define ACAL 0x08
#define IEN 0x02
#define PI 0x10

/* I8 values: format code << 5 | stereo | divider << 1 | crystal 2 */
#define FMT_S16_STEREO_44100 0x5B
#define FMT_S16_STEREO_48000 0x5C
#define FMT_U8_MONO_22050 0x07
#define FMT_U8_MONO_11025 0x03
#define FMT_U8_MONO_8000 0x00
#define FMT_ULAW_MONO_8000 0x20
#define FMT_ADPCM_MONO_8000 0xA0

static uint8_t r0_bits; /* R0's MCE and TRD as the driver keeps them (snd-wss's mce_bit) */

struct fix {
	struct io_bus pio;
	struct guest_mem mem;
	struct i8237 *dma;
	struct cs4231a *cs;
	struct audio_backend *be;
	char *wav;
	int irq_level;
	unsigned irq_rises;
	unsigned acks;
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

static void make_card(struct fix *f, uint32_t rate, unsigned ch, enum audio_fmt fmt)
{
	char err[256];
	struct cs4231a_config cfg = { .iobase = BASE, .irq = 9, .dma = CH };
	struct audiodev_config c = { .id = "a", .kind = AUDIODEV_WAV, .path = f->wav,
				     .out = { rate, ch, fmt } };
	f->be = audio_backend_open(&c, NULL, err, sizeof(err));
	assert_non_null(f->be);
	struct irq_line irq = { .set = irq_set_fn, .opaque = f, .line = 9 };
	f->cs = cs4231a_create(&f->pio, f->dma, irq, f->be, &cfg, err, sizeof(err));
	assert_non_null(f->cs);
	audio_backend_run(f->be, f->now); /* the clock starts */
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	bus_init(&f->pio, "pio");
	assert_int_equal(guest_mem_init(&f->mem, 16u << 20), 0);
	f->dma = i8237_create(&f->mem);
	assert_int_equal(i8237_map(f->dma, &f->pio), 0);
	outb(f, 0x0D, 0); /* what SeaBIOS leaves: channel 4 cascades controller 1 */
	outb(f, 0xDA, 0);
	outb(f, 0xD6, 0xC0);
	outb(f, 0xD4, 0x00);
	f->wav = xstrdup("/tmp/vmm-test-cs4231a-XXXXXX");
	int fd = mkstemp(f->wav);
	assert_true(fd >= 0);
	close(fd);
	f->now = 1000 * MS;
	r0_bits = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	cs4231a_destroy(f->cs);
	audio_backend_close(f->be);
	i8237_destroy(f->dma);
	bus_destroy(&f->pio);
	guest_mem_destroy(&f->mem);
	unlink(f->wav);
	free(f->wav);
	free(f);
	return 0;
}

/* The indexed registers, as snd-wss reaches them (R0 then R1). */
static void wr(struct fix *f, uint8_t reg, uint8_t v)
{
	outb(f, BASE, r0_bits | reg);
	outb(f, BASE + 1, v);
}

static uint8_t rd(struct fix *f, uint8_t reg)
{
	outb(f, BASE, r0_bits | reg);
	return inb(f, BASE + 1);
}

static void mce_up(struct fix *f) { r0_bits = MCE; outb(f, BASE, MCE); }
static void mce_down(struct fix *f) { r0_bits = 0; outb(f, BASE, 0); }

/* Virtual time in 10 ms steps (the backend's period); each interrupt is
 * answered as snd-wss's handler does: I24 read, its PI written back 0. */
static void advance(struct fix *f, int64_t ms, bool ack)
{
	for (int64_t i = 0; i < ms / 10; i++) {
		f->now += 10 * MS;
		audio_backend_run(f->be, f->now);
		if (ack && f->irq_level) {
			assert_true(inb(f, BASE + 2) & 1);
			if (rd(f, I_MODE_ID) & 0x40) { /* mode 2: I24's PI written 0 */
				uint8_t st = rd(f, I_STATUS);
				assert_true(st & PI);
				wr(f, I_STATUS, (uint8_t)~st | 0x8F);
			} else { /* mode 1 has no I24: a write to R2 */
				outb(f, BASE + 2, 0);
			}
			assert_false(inb(f, BASE + 2) & 1);
			assert_false(f->irq_level);
			f->acks++;
		}
	}
}

static void dma_program(struct fix *f, uint8_t mode, uint32_t addr, uint32_t len)
{
	outb(f, 0x0A, 4 | CH);
	outb(f, 0x0B, (uint8_t)(mode | CH));
	outb(f, 0x0C, 0);
	outb(f, 0x06, (uint8_t)addr);
	outb(f, 0x06, (uint8_t)(addr >> 8));
	outb(f, 0x82, (uint8_t)(addr >> 16));
	outb(f, 0x07, (uint8_t)(len - 1));
	outb(f, 0x07, (uint8_t)((len - 1) >> 8));
	outb(f, 0x0A, CH);
}

/* Playback as snd-wss prepares and triggers it: format under MCE, the
 * base count (lower, then upper), IEN, PEN. */
static void start_playback(struct fix *f, uint8_t fmt, uint16_t samples)
{
	mce_up(f);
	wr(f, I_MODE_ID, 0x40);
	wr(f, I_FORMAT, fmt);
	wr(f, I_IFACE, ACAL);
	mce_down(f);
	wr(f, I_LOWER, (uint8_t)(samples - 1));
	wr(f, I_UPPER, (uint8_t)((samples - 1) >> 8));
	wr(f, I_PIN, IEN);
	wr(f, I_IFACE, ACAL | PEN);
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

/* ---- tests ------------------------------------------------------------------ */

/* What snd_ad1848_probe and snd_wss_probe check, in their order. */
static void test_linux_probe(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, 2, AUDIO_FMT_S16);

	assert_int_equal(inb(f, BASE), MCE); /* out of reset in mode change, INIT clear */
	mce_down(f);
	wr(f, I_MODE_ID, 0); /* mode 1 */
	wr(f, 1, 0x45);
	assert_int_equal(rd(f, 1), 0x45);
	wr(f, 0, 0xAA);
	assert_int_equal(rd(f, 0), 0xAA);
	assert_int_equal(rd(f, I_MODE_ID), 0x8A); /* ID 0xA */
	rd(f, I_ERROR); /* ACI from the MCE exit above: read once */
	for (unsigned i = 0; i < 16; i++) /* mode 1: IA4 is not decoded */
		assert_int_equal(rd(f, (uint8_t)(16 + i)), rd(f, (uint8_t)i));
	wr(f, I_MODE_ID, 0x40);
	assert_int_equal(rd(f, I_MODE_ID), 0xCA);
	bool differ = false;
	for (unsigned i = 0; i < 16; i++)
		differ |= rd(f, (uint8_t)(16 + i)) != rd(f, (uint8_t)i);
	assert_true(differ);
	wr(f, I_VERSION, 0); /* read only: CMI8330 would take the 0 */
	assert_int_equal(rd(f, I_VERSION), 0xA0);
	assert_int_equal(rd(f, I_VERSION) & 0xE7, 0xA0); /* snd-wss: CS4231A */
	/* leaving mode change with ACAL calibrates: ACI shows once */
	mce_up(f);
	wr(f, I_IFACE, ACAL);
	assert_false(rd(f, I_ERROR) & 0x20);
	mce_down(f);
	assert_true(rd(f, I_ERROR) & 0x20);
	assert_false(rd(f, I_ERROR) & 0x20);
	assert_false(inb(f, BASE) & 0x80);
}

static void test_register_file(void **state)
{
	struct fix *f = *state;
	static const uint8_t defaults[32] = {
		0x00, 0x00, 0x88, 0x88, 0x88, 0x88, 0x80, 0x80, 0x00, 0x08, 0x00, 0x00, 0xCA,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x88, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0xA0,
		0xA0, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	make_card(f, 44100, 2, AUDIO_FMT_S16);
	mce_up(f);
	wr(f, I_MODE_ID, 0x40);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(rd(f, (uint8_t)i), defaults[i]);
	/* all ones: reserved bits stay 0, read-only registers keep theirs */
	static const uint8_t ones[32] = {
		0xEF, 0xEF, 0x9F, 0x9F, 0x9F, 0x9F, 0xBF, 0xBF, 0xFF, 0xCF, 0xCA, 0x00, 0xCA,
		0xFD, 0xFF, 0xFF, 0xFF, 0x09, 0x9F, 0x9F, 0xFF, 0xFF, 0x00, 0x01, 0x00, 0xA0,
		0xEF, 0x00, 0xFF, 0x00, 0xFF, 0xFF,
	};
	for (unsigned i = 0; i < 32; i++)
		if (i != I_IFACE && i != I_PIN) /* not start playback here */
			wr(f, (uint8_t)i, 0xFF);
	wr(f, I_IFACE, 0xFE); /* everything but PEN */
	wr(f, I_PIN, 0xFF);
	for (unsigned i = 0; i < 32; i++) {
		uint8_t want = i == I_IFACE ? 0xCE : ones[i];
		if (i == I_ERROR)
			continue; /* DRS and ACI: checked elsewhere */
		assert_int_equal(rd(f, (uint8_t)i), want);
	}
	/* without MCE: I8 and I28 keep their value, I9 only PEN/CEN change */
	wr(f, I_ALT1, 0x00);
	mce_down(f);
	wr(f, I_FORMAT, 0x12);
	assert_int_equal(rd(f, I_FORMAT), 0xFF);
	wr(f, I_CAP_FORMAT, 0x12);
	assert_int_equal(rd(f, I_CAP_FORMAT), 0xFF);
	wr(f, I_IFACE, 0x00);
	assert_int_equal(rd(f, I_IFACE), 0xCC);
	/* PMCE (I16 bit 4): the data format bits of I8 change, not the clock */
	wr(f, I_ALT1, 0x10);
	wr(f, I_FORMAT, 0x12);
	assert_int_equal(rd(f, I_FORMAT), 0x1F);
	wr(f, I_CAP_FORMAT, 0x12);
	assert_int_equal(rd(f, I_CAP_FORMAT), 0xFF);
	wr(f, I_ALT1, 0x20); /* CMCE: I28's */
	wr(f, I_CAP_FORMAT, 0x12);
	assert_int_equal(rd(f, I_CAP_FORMAT), 0x1F);
	/* mode 1 again: I16-I31 out of reach */
	wr(f, I_MODE_ID, 0);
	assert_int_equal(rd(f, I_VERSION), rd(f, I_VERSION & 0x0F));
	/* R0 keeps MCE, TRD and the index; INIT never reads set */
	outb(f, BASE, 0xFF);
	assert_int_equal(inb(f, BASE), 0x7F);
	/* reset: every register back */
	cs4231a_reset(f->cs);
	mce_up(f); /* leaving MCE would show ACI in I11 */
	wr(f, I_MODE_ID, 0x40);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(rd(f, (uint8_t)i), defaults[i]);
}

static void test_format_decode(void **state)
{
	(void)state;
	static const uint32_t rates[16] = {
		8000, 5513, 16000, 11025, 27429, 18900, 32000, 22050,
		54857, 37800, 64000, 44100, 48000, 33075, 9600, 6615,
	};
	struct audio_format a;

	for (unsigned c = 0; c < 16; c++) {
		assert_int_equal(cs4231a_rate((uint8_t)c), rates[c]);
		assert_true(cs4231a_decode_format((uint8_t)c, true, &a));
		assert_int_equal(a.rate, rates[c]);
	}
	static const struct { uint8_t reg; bool mode2; bool ok; enum audio_fmt fmt; unsigned ch; }
	cases[] = {
		{ 0x00, false, true, AUDIO_FMT_U8, 1 },   { 0x10, false, true, AUDIO_FMT_U8, 2 },
		{ 0x20, false, true, AUDIO_FMT_ULAW, 1 }, { 0x40, false, true, AUDIO_FMT_S16, 1 },
		{ 0x50, true, true, AUDIO_FMT_S16, 2 },   { 0x60, true, true, AUDIO_FMT_ALAW, 1 },
		{ 0xC0, true, true, AUDIO_FMT_S16BE, 1 }, { 0xA0, true, false, 0, 1 },
		{ 0x80, true, false, 0, 1 },              { 0xE0, true, false, 0, 1 },
		/* mode 1 has no FMT1 bit: 0xA0 is mu-law, 0xC0 16-bit little-endian */
		{ 0xA0, false, true, AUDIO_FMT_ULAW, 1 }, { 0xC0, false, true, AUDIO_FMT_S16, 1 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		bool ok = cs4231a_decode_format(cases[i].reg, cases[i].mode2, &a);
		assert_int_equal(ok, cases[i].ok);
		if (ok) {
			assert_int_equal(a.fmt, cases[i].fmt);
			assert_int_equal(a.channels, cases[i].ch);
		}
	}
	/* G.711 in the audio layer: known points, every code decodes and
	 * encodes back (mu-law's negative zero 0x7F comes back as 0xFF) */
	uint8_t b = 0xFF;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_ULAW, &b), 0);
	b = 0x80;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_ULAW, &b), 32124);
	b = 0x00;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_ULAW, &b), -32124);
	b = 0xD5;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_ALAW, &b), 8);
	b = 0x55;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_ALAW, &b), -8);
	b = 0xAA;
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_ALAW, &b), 32256);
	for (unsigned c = 0; c < 256; c++) {
		uint8_t in = (uint8_t)c, out;
		audio_sample_from_mix(AUDIO_FMT_ULAW, audio_sample_to_mix(AUDIO_FMT_ULAW, &in), &out);
		assert_int_equal(out, c == 0x7F ? 0xFF : c);
		audio_sample_from_mix(AUDIO_FMT_ALAW, audio_sample_to_mix(AUDIO_FMT_ALAW, &in), &out);
		assert_int_equal(out, c);
	}
	uint8_t be[2] = { 0x81, 0x02 };
	assert_int_equal(audio_sample_to_mix(AUDIO_FMT_S16BE, be), (int16_t)0x8102);
	/* encoding clamps: the ends of the scale are the largest codes */
	uint8_t o;
	audio_sample_from_mix(AUDIO_FMT_ULAW, 40000, &o);
	assert_int_equal(o, 0x80);
	audio_sample_from_mix(AUDIO_FMT_ALAW, -40000, &o);
	assert_int_equal(o, 0x2A);
}

/* 16-bit stereo at 44100 Hz by auto-init DMA, an interrupt every 4096
 * samples: one second of virtual time is 44100 frames, bit for bit the
 * buffer over and over, and 10 interrupts, each answered. */
static void test_play_16bit_stereo(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, 2, AUDIO_FMT_S16);
	for (unsigned i = 0; i < 8192; i++) {
		int16_t l = (int16_t)(-32000 + 7 * (int)i), r = (int16_t)(16000 - 3 * (int)i);
		uint8_t *p = ram(f, BUF + 4 * i);
		p[0] = (uint8_t)l, p[1] = (uint8_t)((uint16_t)l >> 8);
		p[2] = (uint8_t)r, p[3] = (uint8_t)((uint16_t)r >> 8);
	}
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF, 32768);
	start_playback(f, FMT_S16_STEREO_44100, 4096);
	advance(f, 1000, true);
	assert_int_equal(f->acks, 10);
	assert_int_equal(f->irq_rises, 10);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 44100 * 4);
	for (size_t i = 0; i < len; i++)
		if (rec[i] != ram(f, BUF)[i % 32768])
			fail_msg("byte %zu differs", i);
	free(rec);
	/* PEN off: nothing more plays (the backend writes nothing) */
	wr(f, I_IFACE, ACAL);
	advance(f, 100, true);
	rec = recording(f, &len);
	free(rec);
	assert_int_equal(len, 44100 * 4);
}

/* 8-bit mono at 11025 Hz by single-cycle DMA: the 8237 masks the channel
 * at terminal count, the count's interrupt comes with the last sample,
 * then the codec underruns: silence, no more interrupts. */
static void test_play_8bit_single_cycle(void **state)
{
	struct fix *f = *state;
	make_card(f, 11025, 1, AUDIO_FMT_U8);
	for (unsigned i = 0; i < 2205; i++)
		ram(f, BUF)[i] = (uint8_t)(i * 7 + 3);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 2205);
	start_playback(f, FMT_U8_MONO_11025, 2205);
	advance(f, 100, false);
	assert_int_equal(f->irq_rises, 0);
	advance(f, 100, false);
	assert_int_equal(f->irq_rises, 1); /* at 200 ms: the 2205th sample */
	assert_true(rd(f, I_STATUS) & PI);
	outb(f, BASE + 2, 0); /* any write to R2 clears every interrupt */
	assert_false(f->irq_level);
	assert_false(rd(f, I_STATUS) & PI);
	advance(f, 100, false);
	assert_int_equal(f->irq_rises, 1);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 3307); /* 300 ms at 11025 Hz */
	assert_memory_equal(rec, ram(f, BUF), 2205);
	for (size_t i = 2205; i < len; i++)
		assert_int_equal(rec[i], 0x80);
	free(rec);
}

/* mu-law mono at 8000 Hz into an s16 backend: the G.711 values. */
static void test_play_ulaw(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_S16);
	for (unsigned i = 0; i < 256; i++)
		ram(f, BUF)[i] = (uint8_t)i;
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF, 256);
	start_playback(f, FMT_ULAW_MONO_8000, 256);
	advance(f, 100, true);
	size_t len;
	uint8_t *rec = recording(f, &len);
	assert_int_equal(len, 800 * 2);
	for (unsigned i = 0; i < 800; i++) {
		uint8_t code = (uint8_t)(i % 256);
		int16_t v = (int16_t)(rec[2 * i] | rec[2 * i + 1] << 8);
		assert_int_equal(v, audio_sample_to_mix(AUDIO_FMT_ULAW, &code));
	}
	free(rec);
	assert_int_equal(f->acks, 3);
}

/* IEN clear: INT shows in R2, the line stays low. TRD: no DMA requests
 * while INT is set; the transfer goes on once it is cleared. */
static void test_ien_and_trd(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF, 1000);
	start_playback(f, FMT_U8_MONO_8000, 100);
	wr(f, I_PIN, 0);
	advance(f, 20, false); /* 160 samples */
	assert_true(inb(f, BASE + 2) & 1);
	assert_int_equal(f->irq_rises, 0);
	wr(f, I_PIN, IEN); /* IEN on with INT pending: the line rises */
	assert_int_equal(f->irq_level, 1);
	outb(f, BASE + 2, 0);
	assert_int_equal(f->irq_level, 0);

	/* TRD (kept in every R0 write): the card stops at the count's end
	 * until INT is cleared */
	r0_bits = TRD;
	outb(f, BASE, TRD);
	advance(f, 50, false);
	assert_int_equal(f->irq_level, 1);
	uint32_t left = i8237_remaining(f->dma, CH);
	assert_true(inb(f, BASE + 2) & 1);
	advance(f, 50, false);
	assert_int_equal(i8237_remaining(f->dma, CH), left); /* nothing moved */
	assert_false(rd(f, I_ERROR) & 0x10);                 /* DRS: no request */
	outb(f, BASE + 2, 0);

	assert_true(rd(f, I_ERROR) & 0x10); /* DRS: the request is back */
	advance(f, 10, false);
	assert_true(i8237_remaining(f->dma, CH) != left);
}

/* Capture through the one channel (SDC): silence (0x80 for unsigned
 * 8-bit) goes into memory at the rate, the count interrupts, nothing is
 * played. Without SDC the capture request is not wired: nothing moves. */
static void test_capture_silence(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8);
	memset(ram(f, BUF), 0x11, 2000);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_WRITE | I8237_MODE_AUTOINIT, BUF, 1600);
	mce_up(f);
	wr(f, I_FORMAT, FMT_U8_MONO_8000);
	wr(f, I_IFACE, ACAL);
	mce_down(f);
	wr(f, I_LOWER, (800 - 1) & 0xFF);
	wr(f, I_UPPER, (800 - 1) >> 8);
	wr(f, I_PIN, IEN);
	wr(f, I_IFACE, ACAL | CEN); /* no SDC */
	advance(f, 100, true);
	assert_int_equal(ram(f, BUF)[0], 0x11);
	assert_int_equal(f->acks, 0);
	mce_up(f);
	wr(f, I_IFACE, ACAL | SDC);
	mce_down(f);
	wr(f, I_IFACE, ACAL | SDC | CEN);
	advance(f, 100, true); /* 800 samples: the count's interrupt */
	assert_int_equal(f->acks, 1);
	for (unsigned i = 0; i < 800; i++)
		assert_int_equal(ram(f, BUF)[i], 0x80);
	assert_int_equal(ram(f, BUF)[800], 0x11);
	size_t len;
	uint8_t *rec = recording(f, &len);
	free(rec);
	assert_int_equal(len, 0);
	/* mode 2: I28 gives the capture format (16-bit: zeros) */
	wr(f, I_MODE_ID, 0x40);
	mce_up(f);
	wr(f, I_CAP_FORMAT, 0x40);
	mce_down(f);
	advance(f, 100, true);
	assert_int_equal(ram(f, BUF)[800], 0x00);
	assert_int_equal(ram(f, BUF)[1599], 0x00);
}

/* Capture of 16-bit stereo stopped by the 8237 three bytes into a sample,
 * then mode 1 (the capture format now I8's 8-bit mono): the bytes of the
 * old sample are forgotten, the new format's samples go where the channel
 * points, one a byte, and nothing beyond its count. */
static void test_format_switch_mid_sample(void **state)
{
	struct fix *f = *state;
	make_card(f, 8000, 1, AUDIO_FMT_U8);
	memset(ram(f, BUF), 0x11, 64);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_WRITE, BUF, 3);
	mce_up(f);
	wr(f, I_MODE_ID, 0x40);
	wr(f, I_FORMAT, FMT_U8_MONO_8000);
	wr(f, I_CAP_FORMAT, 0x50); /* 16-bit stereo */
	wr(f, I_IFACE, SDC);
	mce_down(f);
	wr(f, I_LOWER, 0);
	wr(f, I_UPPER, 0); /* an interrupt every sample */
	wr(f, I_IFACE, SDC | CEN);
	advance(f, 10, true);
	assert_int_equal(ram(f, BUF)[2], 0x00);
	assert_int_equal(ram(f, BUF)[3], 0x11);
	wr(f, I_MODE_ID, 0x00);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_WRITE, BUF + 3, 4);
	advance(f, 20, true);
	for (unsigned i = 3; i < 7; i++)
		assert_int_equal(ram(f, BUF)[i], 0x80);
	assert_int_equal(ram(f, BUF)[7], 0x11);
}

/* A guest that programs nonsense: ADPCM and reserved codes move nothing;
 * a count of one sample at 48 kHz stereo (an interrupt a sample) for a
 * second; DMA from beyond RAM; 20000 random accesses to the card and the
 * 8237 with time passing. Nothing overflows (ASan), the card answers. */
static void test_hostile_guest(void **state)
{
	struct fix *f = *state;
	make_card(f, 44100, 2, AUDIO_FMT_S16);
	wr(f, I_MODE_ID, 0x40);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, BUF, 4096);
	start_playback(f, FMT_ADPCM_MONO_8000, 16);
	advance(f, 100, true);
	assert_int_equal(i8237_remaining(f->dma, CH), 4096);
	assert_int_equal(f->acks, 0);
	size_t len;
	uint8_t *rec = recording(f, &len);
	free(rec);
	assert_int_equal(len, 0);
	for (uint8_t code = 0x80; code; code = code == 0x80 ? 0xE0 : 0) {
		start_playback(f, code, 16);
		advance(f, 20, true);
		assert_int_equal(f->acks, 0);
	}
	/* an interrupt every sample, never answered, then answered */
	start_playback(f, FMT_S16_STEREO_48000, 1);
	advance(f, 1000, false);
	assert_true(inb(f, BASE + 2) & 1);
	advance(f, 200, true);
	/* the buffer beyond RAM (page 0xFF: 16 MiB is all there is) */
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, 0xFF0000, 65536);
	start_playback(f, 0x5A /* s16 stereo at 64 kHz, out of spec */, 65535);
	advance(f, 500, true);
	/* random writes */
	uint32_t seed = 12345;
	for (unsigned i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		uint8_t v = (uint8_t)(seed >> 16);
		switch ((seed >> 8) % 6) {
		case 0: outb(f, BASE, v); break;
		case 1: outb(f, BASE + 1, v); break;
		case 2: outb(f, BASE + (v & 3), (uint8_t)(seed >> 24)); break;
		case 3: inb(f, (uint16_t)(BASE + (v & 3))); break;
		case 4: outb(f, (uint16_t)(v & 0x0F), (uint8_t)(seed >> 24)); break;
		default:
			f->now += (int64_t)(v & 31) * MS;
			audio_backend_run(f->be, f->now);
			break;
		}
	}
	outb(f, BASE, 0x0C);
	outb(f, BASE + 1, 0);
	assert_true((inb(f, BASE + 1) & 0x0F) == 0x0A);
}

static void test_resources(void **state)
{
	struct fix *f = *state;
	char err[256];
	struct irq_line irq = { 0 };
	static const struct { struct cs4231a_config c; const char *msg; } bad[] = {
		{ { 0x534, 4, 3 }, "irq=4" },
		{ { 0x534, 9, 2 }, "dma=2" },
		{ { 0x535, 9, 3 }, "iobase=0x535" },
		{ { 0x0F0, 9, 3 }, "iobase=0xf0" },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = 0;
		assert_null(cs4231a_create(&f->pio, f->dma, irq, NULL, &bad[i].c, err, sizeof(err)));
		assert_non_null(strstr(err, bad[i].msg));
		assert_null(strchr(err, '\n'));
	}
	make_card(f, 44100, 2, AUDIO_FMT_S16);
	struct cs4231a_config same_ports = { 0x534, 10, 1 }, same_dma = { 0x608, 10, 3 };
	assert_null(cs4231a_create(&f->pio, f->dma, irq, NULL, &same_ports, err, sizeof(err)));
	assert_non_null(strstr(err, "overlap"));
	assert_null(cs4231a_create(&f->pio, f->dma, irq, NULL, &same_dma, err, sizeof(err)));
	assert_non_null(strstr(err, "DMA channel 3"));
	/* the failed ones left nothing behind: a card on other resources fits */
	struct cs4231a_config other = { 0x608, 10, 1 };
	struct cs4231a *c2 = cs4231a_create(&f->pio, f->dma, irq, NULL, &other, err, sizeof(err));
	assert_non_null(c2);
	cs4231a_destroy(c2);
}

/* Saved state in the middle of a 16-bit stereo transfer whose DMA ended
 * inside a sample (an odd byte count, single-cycle): loaded into the card
 * after a reset, saved again, the same bytes; the sample's first byte
 * waits, and the rest comes when the guest gives the channel more.
 * Impossible values are refused and leave the card as it was. */
static void save_card(struct cs4231a *s, struct ss_writer *w)
{
	ss_writer_init(w);
	cs4231a_save(s, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void put_state(struct ss_writer *w, uint8_t index, const uint8_t regs[32], uint8_t part)
{
	uint8_t zero[4] = { 0 };
	ss_writer_init(w);
	ss_section_begin(w, "cs4231a", 0, 1);
	ss_put_u8(w, "index", index);
	ss_put_bytes(w, "regs", regs, 32);
	ss_put_u16(w, "play_count", 0);
	ss_put_u16(w, "cap_count", 0);
	ss_put_u8(w, "part_len", part);
	ss_put_bytes(w, "part", zero, 4);
	ss_put_bool(w, "aci", false);
	ss_section_end(w);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void test_save_load(void **state)
{
	struct fix *f = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;

	make_card(f, 44100, 2, AUDIO_FMT_S16);
	for (unsigned i = 0; i < 8192; i++)
		ram(f, BUF)[i] = (uint8_t)(i * 5);
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ, BUF, 4097);
	start_playback(f, FMT_S16_STEREO_44100, 1024);
	wr(f, 3, 0x15); /* a register of its own */
	advance(f, 100, true);
	assert_int_equal(f->acks, 1); /* 1024 samples and a byte */
	save_card(f->cs, &w1);

	cs4231a_reset(f->cs);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(cs4231a_load(f->cs, &r, 0));
	ss_reader_close(&r);
	save_card(f->cs, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	ss_writer_free(&w2);
	r0_bits = 0;
	assert_int_equal(rd(f, 3), 0x15);
	/* the rest of the sample and on: the channel from byte 4097 */
	dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ, BUF + 4097, 3);
	size_t before;
	uint8_t *rec = recording(f, &before);
	free(rec);
	advance(f, 20, true);
	size_t len;
	rec = recording(f, &len);
	assert_int_equal(len - before, 882 * 4); /* the steps are 441 frames each */
	assert_memory_equal(rec + before, ram(f, BUF + 4096), 4); /* the joined sample */
	for (size_t i = before + 4; i < len; i += 2)
		assert_int_equal(rec[i] | rec[i + 1], 0); /* then the underrun's silence */
	free(rec);

	/* impossible states */
	uint8_t regs[32] = { [8] = 0x00, [12] = 0x8A, [25] = 0xA0 };
	struct { uint8_t index; uint8_t reg, val; uint8_t part; } bad[] = {
		{ 0x80, 0, 0, 0 },    /* INIT */
		{ 0x00, 25, 0x00, 0 }, /* another version */
		{ 0x00, 12, 0x0A, 0 }, /* bit 7 of I12 is fixed */
		{ 0x00, 0, 0x10, 0 },  /* a reserved bit */
		{ 0x00, 11, 0x20, 0 }, /* I11 is computed */
		{ 0x00, 0, 0, 1 },     /* part of a one-byte sample */
		{ 0x00, 0, 0, 4 },
		{ 0x00, 8, 0xA0, 1 },  /* part of an ADPCM sample */
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t rr[32];
		memcpy(rr, regs, 32);
		rr[bad[i].reg] = bad[i].val;
		put_state(&w2, bad[i].index, rr, bad[i].part);
		assert_int_equal(ss_reader_open(&r, w2.buf, w2.len), 0);
		assert_false(cs4231a_load(f->cs, &r, 0));
		ss_reader_close(&r);
		ss_writer_free(&w2);
	}
	put_state(&w2, 0x00, regs, 0); /* and a good one of the same form loads */
	assert_int_equal(ss_reader_open(&r, w2.buf, w2.len), 0);
	assert_true(cs4231a_load(f->cs, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w2);
	ss_writer_free(&w1);
}

/* A vCPU thread programs the codec and the 8237 (formats under MCE,
 * counts, PEN, TRD, capture, acknowledges, resets) while the loop's
 * thread mixes: run under TSan (make tsan) and ASan. */
struct race {
	struct fix *f;
	atomic_bool stop;
};

static void *race_vcpu(void *opaque)
{
	struct race *r = opaque;
	struct fix *f = r->f;
	uint32_t seed = 11;
	static const uint8_t formats[] = { FMT_S16_STEREO_44100, FMT_U8_MONO_22050,
					   FMT_ULAW_MONO_8000, FMT_ADPCM_MONO_8000, 0xC1 };

	while (!atomic_load(&r->stop)) {
		seed = seed * 1103515245u + 12345u;
		uint8_t v = (uint8_t)(seed >> 20);
		switch ((seed >> 16) % 8) {
		case 0:
			dma_program(f, I8237_MODE_SINGLE | I8237_MODE_READ |
				    ((v & 1) ? I8237_MODE_AUTOINIT : 0), BUF, 1 + (v << 4));
			break;
		case 1:
			start_playback(f, formats[v % ARRAY_SIZE(formats)], (uint16_t)(1 + v * 37));
			break;
		case 2:
			outb(f, BASE + 2, v);
			break;
		case 3:
			wr(f, I_STATUS, v);
			break;
		case 4:
			mce_up(f);
			wr(f, I_IFACE, (uint8_t)(v & 0x0F));
			mce_down(f);
			break;
		case 5:
			outb(f, BASE, (uint8_t)(v & (TRD | 0x1F)));
			break;
		case 6:
			if (v < 8)
				cs4231a_reset(f->cs);
			break;
		default:
			inb(f, (uint16_t)(BASE + (v & 3)));
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

	make_card(f, 44100, 2, AUDIO_FMT_S16);
	assert_int_equal(pthread_create(&t, NULL, race_vcpu, &r), 0);
	for (unsigned i = 0; i < 2000; i++) {
		f->now += 10 * MS;
		audio_backend_run(f->be, f->now);
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	r0_bits = 0;
	assert_int_equal(rd(f, I_MODE_ID) & 0x8F, 0x8A);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_linux_probe),
		T(test_register_file),
		T(test_format_decode),
		T(test_play_16bit_stereo),
		T(test_play_8bit_single_cycle),
		T(test_play_ulaw),
		T(test_ien_and_trd),
		T(test_capture_silence),
		T(test_format_switch_mid_sample),
		T(test_hostile_guest),
		T(test_resources),
		T(test_save_load),
		T(test_race_vcpu_against_mixer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
