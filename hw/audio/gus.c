// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Gravis Ultrasound classic: the GF1 synthesizer and its 1 MiB of DRAM on
 * ISA (-device gus; see include/hw/gus.h for the ports and registers).
 *
 * Facts from Gravis' "Ultrasound Software Development Kit" register
 * descriptions and what Linux's snd-gusclassic (sound/isa/gus/) does with
 * them: the register select / data ports and the read index (voice
 * registers | 0x80), 16-bit registers written as a word to the low data
 * port; address registers holding 20 address bits and fraction bits (high:
 * bits 12-0 = address 19-7, low: bits 15-9 = address 6-0, 8-5 fraction);
 * the frequency control as a step per mixed frame (bits 15-10 integer, 9-1
 * fraction; 1024 = one sample); 16-bit data addressed as words within a
 * 256 KiB bank; the mixing rate 617400 / active voices (14: 44100 Hz, 32:
 * 19293 Hz); the voice control (0 stopped, 1 stop, 2 16-bit, 3 loop, 4
 * bidirectional, 5 wave IRQ, 6 decreasing, 7 IRQ pending) and volume
 * control (the same, with bit 2 the rollover: the wave IRQ at the end
 * without looping or stopping); volume ramps by rate bits 5-0 every 1, 8,
 * 64 or 512 frames (bits 7-6) between start and end (the upper 8 of the 12
 * volume bits); the 12-bit volume as 4-bit exponent and 8-bit mantissa;
 * the IRQ source register, read until bits 7 and 6 are both set; the DMA
 * control (0 enable, 1 DRAM to host, 2 16-bit channel, 5 IRQ enable, 6
 * 16-bit data / on read IRQ pending, 7 invert the MSB); the reset register
 * that reads back bits 2-0; the timers in 80 and 320 us ticks counting up
 * from their register to 256, started through AdLib register 4.
 *
 * The end address is the last sample played: a voice passes it one
 * sample later (Linux puts the end of a block at its last sample and
 * loops a buffer from the first sample after it without a gap).
 *
 * freq= (QEMU's property, 44100 by default) is the rate the card's output
 * is produced at, as in QEMU: every output frame samples each voice where
 * it is at that instant of the GF1's time, which runs at the mixing rate
 * (617400 / active voices) whatever freq= is, so pitch, lengths, ramps
 * and wave IRQs keep the GF1's time; the audio layer converts freq= to the
 * backend's rate. With freq= equal to the mixing rate (14 voices and the
 * default) an output frame is a GF1 frame.
 *
 * Threads: vCPUs write the ports; the audio backend's step (the event
 * loop's thread) runs the voices and raises the interrupts; the timers run
 * on the loop too. One lock covers the card; the 8237's lock is taken
 * inside it (DMA), never the other way round.
 */
#include "hw/gus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bus.h"
#include "device.h"
#include "event.h"
#include "hw/i8237.h"
#include "savestate.h"
#include "util.h"

#define GUS_STATE_VERSION 2 /* 2: gf1_phase */
#define DRAM_MASK (GUS_DRAM_SIZE - 1)
#define LOW_PORTS 16         /* iobase + 0x0 - 0xF */
#define HIGH_OFFSET 0x100
#define HIGH_PORTS 8         /* iobase + 0x100 - 0x107 */
#define POS_BITS 29          /* 20 address bits, 9 fraction bits */
#define POS_MASK ((1u << POS_BITS) - 1)
#define ONE_SAMPLE 512       /* a sample in the position's units */
#define DMA_CHUNK 4096
#define DMA_MAX_PER_RUN (256u * 1024) /* more than any 8237 count: TC comes first */
#define MIN_VOICES 14

/* Low ports (offsets from iobase). */
enum {
	P_MIX = 0x0, P_IRQ_STATUS = 0x6, P_ADLIB_INDEX = 0x8, P_ADLIB_DATA = 0x9,
	P_LATCH = 0xB, P_REG_CONTROL = 0xF,
};
/* High ports (offsets from iobase + 0x100). */
enum {
	P_MIDI_CTRL = 0x0, P_MIDI_DATA = 0x1, P_VOICE = 0x2, P_SELECT = 0x3, P_DATA_LOW = 0x4,
	P_DATA_HIGH = 0x5, P_DRAM = 0x7,
};

/* Registers (write index; voice registers are read at index | 0x80). */
enum {
	R_VOICE_CTRL = 0x00, R_FREQ = 0x01, R_START_HI = 0x02, R_START_LO = 0x03,
	R_END_HI = 0x04, R_END_LO = 0x05, R_RAMP_RATE = 0x06, R_RAMP_START = 0x07,
	R_RAMP_END = 0x08, R_VOLUME = 0x09, R_CUR_HI = 0x0A, R_CUR_LO = 0x0B, R_PAN = 0x0C,
	R_VOL_CTRL = 0x0D, R_ACTIVE = 0x0E, R_IRQ_SOURCE = 0x0F,
	R_DMA_CTRL = 0x41, R_DMA_ADDR = 0x42, R_DRAM_LO = 0x43, R_DRAM_HI = 0x44,
	R_TIMER_CTRL = 0x45, R_TIMER1 = 0x46, R_TIMER2 = 0x47, R_SAMPLE_RATE = 0x48,
	R_SAMPLE_CTRL = 0x49, R_JOYSTICK = 0x4B, R_RESET = 0x4C,
};
#define READ_VOICE 0x80

/* Voice and volume control bits. */
#define C_STOPPED 0x01
#define C_STOP 0x02
#define C_HALTED (C_STOPPED | C_STOP)
#define C_16BIT 0x04 /* voice control */
#define C_ROLLOVER 0x04 /* volume control */
#define C_LOOP 0x08
#define C_BIDI 0x10
#define C_IRQ 0x20
#define C_DOWN 0x40
#define C_PENDING 0x80

/* DMA control. */
#define D_ENABLE 0x01
#define D_TO_HOST 0x02
#define D_WIDE 0x04
#define D_IRQ 0x20
#define D_16BIT_DATA 0x40
#define D_PENDING 0x40 /* on read */
#define D_INVERT 0x80

/* IRQ status (iobase + 6). */
#define S_TIMER1 0x04
#define S_TIMER2 0x08
#define S_WAVE 0x20
#define S_RAMP 0x40
#define S_DMA 0x80

/* Reset register. */
#define RESET_RUN 0x01
#define RESET_DAC 0x02
#define RESET_IRQ 0x04

/* AdLib timer control (register 4) and status. */
#define AD_T1_START 0x01
#define AD_T2_START 0x02
#define AD_T2_MASK 0x20
#define AD_T1_MASK 0x40
#define AD_RESET 0x80
#define AD_ST_T2 0x20
#define AD_ST_T1 0x40
#define AD_ST_ANY 0x80

#define T1_TICK_NS 80000LL
#define T2_TICK_NS 320000LL

struct gus_voice {
	uint8_t ctrl;       /* voice control; C_PENDING: wave IRQ pending */
	uint8_t vctrl;      /* volume control; C_PENDING: ramp IRQ pending */
	uint16_t freq;
	uint32_t start, end; /* address << 4 | 4 fraction bits */
	uint32_t pos;       /* address << 9 | 9 fraction bits */
	uint16_t volume;    /* bits 15-4 */
	uint8_t ramp_rate, ramp_start, ramp_end, pan;
	uint16_t ramp_wait; /* frames since the ramp's last step */
};

struct gus {
	pthread_mutex_t lock;
	struct gus_config cfg;
	struct io_bus *pio;
	struct io_region low_io, high_io;
	struct i8237 *dma;
	bool claimed;
	struct irq_line irq;
	struct audio_voice *out;
	struct event_timer *timer[2];

	uint8_t *dram;
	struct gus_voice v[GUS_VOICES];
	uint8_t mix_ctrl, irq_latch, dma_latch;
	uint8_t voice_sel, reg_sel, data_latch;
	uint8_t active;      /* register 0x0E as written */
	uint8_t dma_ctrl;
	uint16_t dma_addr;
	uint32_t dma_done;   /* bytes the running DMA moved */
	bool dma_irq;
	uint32_t dram_addr;
	uint8_t timer_ctrl, timer_count[2], sample_rate, sample_ctrl, joystick, reset;
	uint8_t timer_irq;   /* S_TIMER1 | S_TIMER2 */
	uint8_t adlib_index, adlib_ctrl, adlib_status;
	bool irq_level;
	/* The GF1's time within the current GF1 frame, in 1/cfg.freq of a
	 * frame (0 to cfg.freq - 1): each output frame adds the mixing rate. */
	uint32_t gf1_phase;
	/* The current address read as a pair of halves (cur_half_read):
	 * the register whose read began the pair (0: none) and the position
	 * it was read at. Not saved: a pair cut by a migration reads live. */
	uint8_t pair_reg;
	uint32_t pair_pos;
};

/* ---- rates, volumes, addresses ------------------------------------------------ */

static unsigned voices_of(uint8_t reg)
{
	unsigned n = (reg & 0x1F) + 1u;
	return n < MIN_VOICES ? MIN_VOICES : n;
}

uint32_t gus_mix_rate(uint8_t reg)
{
	unsigned n = voices_of(reg);
	return (GUS_CLOCK_HZ + n / 2) / n;
}

/* The 12-bit logarithmic volume as a linear Q16 gain: mantissa with its
 * hidden bit, shifted by the exponent (4095: 65408, just under 1.0;
 * each exponent step 6 dB). */
static uint32_t volume_gain(uint16_t reg)
{
	unsigned v = reg >> 4;
	return ((256u + (v & 0xFF)) << (v >> 8)) >> 8;
}

/* Pan 0 (left only) to 15 (right only), linear between. Q16. */
static void pan_gains(uint8_t pan, uint32_t *left, uint32_t *right)
{
	*right = (uint32_t)(pan & 15) * 65536u / 15u;
	*left = 65536u - *right;
}

/* DRAM byte address of a 16-bit sample (or DMA) address: bank bits 19-18
 * kept, bits 16-0 a word in the bank. */
static uint32_t wide_addr(uint32_t a)
{
	return (a & 0xC0000) | ((a & 0x1FFFF) << 1);
}

static int32_t sample_at(const struct gus *s, uint32_t a, bool wide)
{
	a &= DRAM_MASK;
	if (wide) {
		uint32_t p = wide_addr(a);
		return (int16_t)(s->dram[p] | s->dram[p + 1] << 8);
	}
	return (int8_t)s->dram[a] * 256;
}

/* ---- interrupts ------------------------------------------------------------- */

static uint8_t irq_status(const struct gus *s)
{
	uint8_t st = s->timer_irq;

	for (unsigned i = 0; i < GUS_VOICES; i++) {
		if (s->v[i].ctrl & C_PENDING)
			st |= S_WAVE;
		if (s->v[i].vctrl & C_PENDING)
			st |= S_RAMP;
	}
	if (s->dma_irq)
		st |= S_DMA;
	return st;
}

/* Under the lock, after anything that changes an interrupt source. */
static void update_irq(struct gus *s)
{
	bool level = (s->reset & (RESET_RUN | RESET_IRQ)) == (RESET_RUN | RESET_IRQ) &&
		     irq_status(s);
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_set(&s->irq, level);
	}
}

/* ---- the voices ----------------------------------------------------------------- */

static bool voice_runs(const struct gus_voice *v) { return !(v->ctrl & C_HALTED); }
static bool ramp_runs(const struct gus_voice *v) { return !(v->vctrl & C_HALTED); }

static bool anything_runs(const struct gus *s)
{
	if (!(s->reset & RESET_RUN))
		return false;
	for (unsigned i = 0, n = voices_of(s->active); i < n; i++)
		if (voice_runs(&s->v[i]) || ramp_runs(&s->v[i]))
			return true;
	return false;
}

static void wave_boundary(struct gus_voice *v)
{
	if (v->ctrl & C_IRQ)
		v->ctrl |= C_PENDING;
}

/* The position's move over one output frame that takes the GF1's time
 * from 'from' to 'to' (in 1/freq of a GF1 frame, 'to' - 'from' the mixing
 * rate): the frequency control's step per GF1 frame times the GF1 frames
 * passed, rounded so that the moves add up to the exact distance. */
static int64_t voice_step(const struct gus_voice *v, uint32_t from, uint32_t to, uint32_t freq)
{
	uint64_t step = v->freq >> 1;

	if (to - from == freq)
		return (int64_t)step; /* an output frame is a GF1 frame */
	return (int64_t)(step * to / freq - step * from / freq);
}

/* One output frame's move of the position by 'step'. Bounded arithmetic in
 * int64 on 29-bit positions: any register values stay inside DRAM (the
 * address wraps). */
static void advance_position(struct gus_voice *v, bool rollover, int64_t step)
{
	int64_t start = (int64_t)v->start << 5, end = (int64_t)v->end << 5;
	int64_t past = end + ONE_SAMPLE; /* the first position after the last sample */
	int64_t len = past - start, old = v->pos, pos;
	bool loop = v->ctrl & C_LOOP;

	if (!(v->ctrl & C_DOWN)) {
		pos = old + step;
		if (old < past && pos >= past) {
			int64_t over = pos - past;
			wave_boundary(v);
			if (loop && (v->ctrl & C_BIDI)) {
				v->ctrl |= C_DOWN;
				pos = MAX(end - over, start);
			} else if (loop) {
				pos = len > 0 ? start + over % len : start;
			} else if (!rollover) {
				pos = end;
				v->ctrl |= C_STOPPED;
			}
		}
	} else {
		pos = old - step;
		if (old >= start && pos < start) {
			int64_t over = start - pos;
			wave_boundary(v);
			if (loop && (v->ctrl & C_BIDI)) {
				v->ctrl &= (uint8_t)~C_DOWN;
				pos = MIN(start + over, end);
			} else if (loop) {
				pos = len > 0 ? start + (len - over % len) % len : start;
			} else if (!rollover) {
				pos = start;
				v->ctrl |= C_STOPPED;
			}
		}
	}
	v->pos = (uint32_t)((uint64_t)pos & POS_MASK);
}

/* One frame of the volume ramp (every 1, 8, 64 or 512 frames a step). */
static void advance_ramp(struct gus_voice *v)
{
	unsigned every = 1u << (3 * (v->ramp_rate >> 6));
	int32_t inc = v->ramp_rate & 0x3F, vol = v->volume >> 4;
	int32_t lo = v->ramp_start << 4, hi = v->ramp_end << 4;

	if (++v->ramp_wait < every)
		return;
	v->ramp_wait = 0;
	bool down = v->vctrl & C_DOWN, hit;
	vol += down ? -inc : inc;
	hit = down ? vol <= lo : vol >= hi;
	if (hit) {
		if (v->vctrl & C_IRQ)
			v->vctrl |= C_PENDING;
		if ((v->vctrl & C_LOOP) && (v->vctrl & C_BIDI)) {
			v->vctrl ^= C_DOWN;
			vol = down ? lo : hi;
		} else if (v->vctrl & C_LOOP) {
			vol = down ? hi : lo;
		} else {
			vol = down ? lo : hi;
			v->vctrl |= C_STOPPED;
		}
	}
	vol = vol < 0 ? 0 : vol > 4095 ? 4095 : vol;
	v->volume = (uint16_t)(vol << 4);
}

/* One output frame of every active voice: each sampled where it is, then
 * moved on by the GF1's time an output frame lasts (the mixing rate over
 * freq= GF1 frames); the volume ramps step once per whole GF1 frame
 * passed. Under the lock. */
static void render_frame(struct gus *s, int16_t out[2])
{
	int64_t left = 0, right = 0;
	uint32_t freq = s->cfg.freq, from = s->gf1_phase, to = from + gus_mix_rate(s->active);
	uint32_t gf1_frames = to / freq;

	s->gf1_phase = to % freq;
	for (unsigned i = 0, n = voices_of(s->active); i < n; i++) {
		struct gus_voice *v = &s->v[i];
		if (voice_runs(v)) {
			bool wide = v->ctrl & C_16BIT;
			uint32_t a = v->pos >> 9, frac = v->pos & (ONE_SAMPLE - 1);
			int32_t s0 = sample_at(s, a, wide), s1 = sample_at(s, a + 1, wide);
			int64_t smp = s0 + (int64_t)(s1 - s0) * frac / ONE_SAMPLE;
			int64_t g = smp * volume_gain(v->volume);
			uint32_t gl, gr;
			pan_gains(v->pan, &gl, &gr);
			left += (g * gl) >> 32;
			right += (g * gr) >> 32;
			advance_position(v, v->vctrl & C_ROLLOVER, voice_step(v, from, to, freq));
		}
		for (uint32_t k = 0; k < gf1_frames && ramp_runs(v); k++)
			advance_ramp(v);
	}
	bool dac = s->reset & RESET_DAC;
	out[0] = dac ? (int16_t)MAX(MIN(left, 32767), -32768) : 0;
	out[1] = dac ? (int16_t)MAX(MIN(right, 32767), -32768) : 0;
}

/* Frames until every voice is idle (at most 'frames'). Under the lock. */
static size_t render(struct gus *s, int16_t *out, size_t frames)
{
	size_t n = 0;
	int16_t scratch[2];

	while (n < frames && anything_runs(s)) {
		render_frame(s, out ? out + 2 * n : scratch);
		n++;
	}
	update_irq(s);
	return n;
}

size_t gus_render(struct gus *s, int16_t *out, size_t frames)
{
	pthread_mutex_lock(&s->lock);
	size_t n = render(s, out, frames);
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The audio backend's step (loop thread). */
static void fill(void *opaque, struct audio_request *req)
{
	struct gus *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (!anything_runs(s)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct audio_format fmt = { s->cfg.freq, 2, AUDIO_FMT_S16 };
	size_t frames = audio_request_frames(req, &fmt);
	audio_request_done(req, render(s, audio_request_buffer(req), frames));
	pthread_mutex_unlock(&s->lock);
}

/* ---- DMA between the host and DRAM ------------------------------------------------ */

/* DRAM address of the running DMA's next byte. */
static uint32_t dma_dram_addr(const struct gus *s)
{
	uint32_t base = (uint32_t)s->dma_addr << 4;
	if (s->dma_ctrl & D_WIDE)
		base = wide_addr(base);
	return (base + s->dma_done) & DRAM_MASK;
}

/* The inversion of sample MSBs (unsigned data to the GF1's signed): every
 * byte of 8-bit data, the high byte of 16-bit data. */
static uint8_t dma_convert(const struct gus *s, uint32_t done, uint8_t b)
{
	if (!(s->dma_ctrl & D_INVERT))
		return b;
	if (!(s->dma_ctrl & D_16BIT_DATA) || (done & 1))
		return b ^ 0x80;
	return b;
}

/* Moves bytes while the channel serves, up to terminal count. Under the lock. */
static void dma_run(struct gus *s)
{
	uint8_t buf[DMA_CHUNK];
	size_t moved = 0;

	if (!s->dma || !(s->dma_ctrl & D_ENABLE))
		return;
	i8237_set_dreq(s->dma, s->cfg.dma, true);
	while (moved < DMA_MAX_PER_RUN) {
		bool tc = false, to_host = s->dma_ctrl & D_TO_HOST;
		size_t got;
		if (to_host) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = dma_convert(s, s->dma_done + (uint32_t)i,
						     s->dram[(dma_dram_addr(s) + i) & DRAM_MASK]);
			got = i8237_transfer(s->dma, s->cfg.dma, buf, sizeof(buf), I8237_TO_MEMORY, &tc);
			s->dma_done += (uint32_t)got;
		} else {
			got = i8237_transfer(s->dma, s->cfg.dma, buf, sizeof(buf), I8237_FROM_MEMORY, &tc);
			for (size_t i = 0; i < got; i++) {
				s->dram[dma_dram_addr(s)] = dma_convert(s, s->dma_done, buf[i]);
				s->dma_done++;
			}
		}
		s->dma_done &= DRAM_MASK;
		moved += got;
		if (tc) {
			s->dma_ctrl &= (uint8_t)~D_ENABLE;
			if (s->dma_ctrl & D_IRQ)
				s->dma_irq = true;
			i8237_set_dreq(s->dma, s->cfg.dma, false);
			break;
		}
		if (got < sizeof(buf))
			break; /* the channel does not serve now: its kick resumes */
	}
	update_irq(s);
}

static void dma_kick(void *opaque, unsigned ch)
{
	struct gus *s = opaque;
	pthread_mutex_lock(&s->lock);
	dma_run(s);
	pthread_mutex_unlock(&s->lock);
}

/* ---- timers ------------------------------------------------------------------------ */

static int64_t timer_period_ns(const struct gus *s, unsigned t)
{
	return (256 - s->timer_count[t]) * (t ? T2_TICK_NS : T1_TICK_NS);
}

/* Under the lock: each timer runs while its AdLib start bit is set. */
static void timers_arm(struct gus *s)
{
	for (unsigned t = 0; t < 2; t++) {
		if (!s->timer[t])
			continue;
		bool run = (s->reset & RESET_RUN) && (s->adlib_ctrl & (t ? AD_T2_START : AD_T1_START));
		if (!run)
			event_timer_cancel(s->timer[t]);
		else if (!event_timer_armed(s->timer[t]))
			event_timer_arm_in(s->timer[t], timer_period_ns(s, t), timer_period_ns(s, t));
	}
}

static void timer_expired(struct gus *s, unsigned t)
{
	pthread_mutex_lock(&s->lock);
	if (!(s->reset & RESET_RUN) || !(s->adlib_ctrl & (t ? AD_T2_START : AD_T1_START))) {
		pthread_mutex_unlock(&s->lock); /* stopped while the loop took the expiry */
		return;
	}
	if (!(s->adlib_ctrl & (t ? AD_T2_MASK : AD_T1_MASK)))
		s->adlib_status |= AD_ST_ANY | (t ? AD_ST_T2 : AD_ST_T1);
	if (s->timer_ctrl & (t ? S_TIMER2 : S_TIMER1))
		s->timer_irq |= t ? S_TIMER2 : S_TIMER1;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void timer1_fn(void *opaque) { timer_expired(opaque, 0); }
static void timer2_fn(void *opaque) { timer_expired(opaque, 1); }

static void adlib_write(struct gus *s, uint8_t v)
{
	if (s->adlib_index != 4)
		return; /* the other AdLib registers are the FM chip's: none here */
	if (v & AD_RESET) {
		s->adlib_status = 0;
		return;
	}
	s->adlib_ctrl = v & (AD_T1_START | AD_T2_START | AD_T1_MASK | AD_T2_MASK);
	timers_arm(s);
}

/* ---- registers ------------------------------------------------------------------------ */

static bool reg_is_16bit(uint8_t reg)
{
	uint8_t r = reg >= READ_VOICE && reg < READ_VOICE + 0x10 ? reg & 0x7F : reg;
	return (r >= R_FREQ && r <= R_END_LO) || (r >= R_VOLUME && r <= R_CUR_LO) ||
	       r == R_DMA_ADDR || r == R_DRAM_LO;
}

static uint32_t set_hi(uint32_t a24, uint16_t v) { return (a24 & 0x7FF) | (uint32_t)(v & 0x1FFF) << 11; }
static uint32_t set_lo(uint32_t a24, uint16_t v) { return (a24 & ~0x7FFu) | ((v >> 5) & 0x7FF); }

/* The GF1 in reset: every voice stopped, DMA, timers and IRQs cleared. */
static void chip_reset(struct gus *s)
{
	memset(s->v, 0, sizeof(s->v));
	for (unsigned i = 0; i < GUS_VOICES; i++)
		s->v[i].ctrl = s->v[i].vctrl = C_STOPPED;
	s->active = 0xC0 | (MIN_VOICES - 1);
	s->gf1_phase = 0;
	s->dma_ctrl = 0;
	s->dma_done = 0;
	s->dma_irq = false;
	s->timer_ctrl = 0;
	s->timer_irq = 0;
	s->sample_ctrl = 0;
	s->adlib_ctrl = 0;
	s->adlib_status = 0;
	s->pair_reg = 0;
	if (s->dma)
		i8237_set_dreq(s->dma, s->cfg.dma, false);
}

static void voice_write(struct gus *s, uint8_t reg, uint16_t val)
{
	struct gus_voice *v = &s->v[s->voice_sel & (GUS_VOICES - 1)];

	switch (reg) {
	case R_VOICE_CTRL: v->ctrl = (uint8_t)((v->ctrl & C_PENDING) | (val & 0x7F)); break;
	case R_FREQ: v->freq = val & 0xFFFE; break;
	case R_START_HI: v->start = set_hi(v->start, val); break;
	case R_START_LO: v->start = set_lo(v->start, val); break;
	case R_END_HI: v->end = set_hi(v->end, val); break;
	case R_END_LO: v->end = set_lo(v->end, val); break;
	case R_RAMP_RATE: v->ramp_rate = (uint8_t)val; v->ramp_wait = 0; break;
	case R_RAMP_START: v->ramp_start = (uint8_t)val; break;
	case R_RAMP_END: v->ramp_end = (uint8_t)val; break;
	case R_VOLUME: v->volume = val & 0xFFF0; break;
	case R_CUR_HI: v->pos = set_hi(v->pos >> 5, val) << 5; break;
	case R_CUR_LO: v->pos = set_lo(v->pos >> 5, val) << 5; break;
	case R_PAN: v->pan = val & 0x0F; break;
	case R_VOL_CTRL: v->vctrl = (uint8_t)((v->vctrl & C_PENDING) | (val & 0x7F)); break;
	}
}

static void reg_write(struct gus *s, uint8_t reg, uint16_t val)
{
	uint8_t b = (uint8_t)val;

	if (reg < R_ACTIVE) {
		voice_write(s, reg, val);
		if (s->out && anything_runs(s))
			audio_voice_kick(s->out);
		return;
	}
	switch (reg) {
	case R_ACTIVE: s->active = b; break;
	case R_DMA_CTRL:
		s->dma_ctrl = b;
		s->dma_done = 0;
		if (b & D_ENABLE)
			dma_run(s);
		else if (s->dma)
			i8237_set_dreq(s->dma, s->cfg.dma, false);
		break;
	case R_DMA_ADDR: s->dma_addr = val; break;
	case R_DRAM_LO: s->dram_addr = (s->dram_addr & 0xF0000) | val; break;
	case R_DRAM_HI: s->dram_addr = (s->dram_addr & 0xFFFF) | (uint32_t)(b & 0x0F) << 16; break;
	case R_TIMER_CTRL:
		s->timer_ctrl = b;
		s->timer_irq &= b & (S_TIMER1 | S_TIMER2); /* a disabled timer's IRQ is taken */
		break;
	case R_TIMER1: s->timer_count[0] = b; break;
	case R_TIMER2: s->timer_count[1] = b; break;
	case R_SAMPLE_RATE: s->sample_rate = b; break;
	case R_SAMPLE_CTRL: s->sample_ctrl = b & (uint8_t)~0x40; break;
	case R_JOYSTICK: s->joystick = b; break;
	case R_RESET:
		if (!(b & RESET_RUN))
			chip_reset(s);
		s->reset = b & (RESET_RUN | RESET_DAC | RESET_IRQ);
		timers_arm(s);
		if (s->out && anything_runs(s))
			audio_voice_kick(s->out);
		break;
	}
	update_irq(s);
}

/* IRQ source: the lowest voice with an IRQ (bit 7 clear: wave, bit 6
 * clear: ramp), whose IRQs the read takes; 0xE0 | voice... with both bits
 * set when none is pending. */
static uint8_t irq_source_read(struct gus *s)
{
	for (unsigned i = 0; i < GUS_VOICES; i++) {
		struct gus_voice *v = &s->v[i];
		if (!((v->ctrl | v->vctrl) & C_PENDING))
			continue;
		uint8_t r = (uint8_t)(0x20 | i | (v->ctrl & C_PENDING ? 0 : 0x80) |
				      (v->vctrl & C_PENDING ? 0 : 0x40));
		v->ctrl &= (uint8_t)~C_PENDING;
		v->vctrl &= (uint8_t)~C_PENDING;
		update_irq(s);
		return r;
	}
	return 0xE0;
}

/* A half of the current address (R_CUR_HI or R_CUR_LO). The GF1 moves a
 * voice a sample at a time while a CPU reads the two halves microseconds
 * apart; here the voices move a mixer step at a time, and an emulated CPU
 * reads the halves milliseconds apart, so a step often falls between them.
 * The halves would then mix two positions, up to 127 samples behind the
 * first: Linux's snd-gusclassic takes a pointer that went back for a wrap
 * of its buffer, that is an underrun. So the second half of an adjacent
 * pair (only register selects between) comes from the position the first
 * was read at, as on the hardware. */
static uint16_t cur_half_read(struct gus *s, const struct gus_voice *v, uint8_t reg)
{
	uint32_t pos = v->pos;

	if (s->pair_reg && s->pair_reg != reg) {
		pos = s->pair_pos;
		s->pair_reg = 0;
	} else {
		s->pair_reg = reg;
		s->pair_pos = pos;
	}
	uint32_t cur = pos >> 5;
	return reg == R_CUR_HI ? (uint16_t)((cur >> 11) & 0x1FFF) : (uint16_t)(cur << 5);
}

static uint16_t voice_read(struct gus *s, uint8_t reg)
{
	const struct gus_voice *v = &s->v[s->voice_sel & (GUS_VOICES - 1)];

	switch (reg) {
	case R_VOICE_CTRL: return v->ctrl;
	case R_FREQ: return v->freq;
	case R_START_HI: return (uint16_t)(v->start >> 11);
	case R_START_LO: return (uint16_t)(v->start << 5);
	case R_END_HI: return (uint16_t)(v->end >> 11);
	case R_END_LO: return (uint16_t)(v->end << 5);
	case R_RAMP_RATE: return v->ramp_rate;
	case R_RAMP_START: return v->ramp_start;
	case R_RAMP_END: return v->ramp_end;
	case R_VOLUME: return v->volume;
	case R_CUR_HI:
	case R_CUR_LO: return cur_half_read(s, v, reg);
	case R_PAN: return v->pan;
	case R_VOL_CTRL: return v->vctrl;
	}
	return 0;
}

static uint16_t reg_read(struct gus *s, uint8_t reg)
{
	if (reg != (READ_VOICE | R_CUR_HI) && reg != (READ_VOICE | R_CUR_LO))
		s->pair_reg = 0;
	if (reg >= READ_VOICE && reg < READ_VOICE + R_ACTIVE)
		return voice_read(s, reg & 0x7F);
	switch (reg) {
	case READ_VOICE | R_ACTIVE: return s->active;
	case READ_VOICE | R_IRQ_SOURCE: return irq_source_read(s);
	case R_DMA_CTRL: {
		uint8_t v = (uint8_t)((s->dma_ctrl & ~D_PENDING) | (s->dma_irq ? D_PENDING : 0));
		s->dma_irq = false;
		update_irq(s);
		return v;
	}
	case R_DMA_ADDR: return s->dma_addr;
	case R_DRAM_LO: return (uint16_t)s->dram_addr;
	case R_DRAM_HI: return (uint16_t)(s->dram_addr >> 16);
	case R_TIMER_CTRL: return s->timer_ctrl;
	case R_TIMER1: return s->timer_count[0];
	case R_TIMER2: return s->timer_count[1];
	case R_SAMPLE_RATE: return s->sample_rate;
	case R_SAMPLE_CTRL: return s->sample_ctrl; /* nothing is sampled: no IRQ */
	case R_JOYSTICK: return s->joystick;
	case R_RESET: return s->reset;
	}
	return 0;
}

/* ---- ports ---------------------------------------------------------------------------- */

static uint64_t low_read(void *opaque, uint64_t off, unsigned size)
{
	struct gus *s = opaque;
	uint8_t v = 0xFF;

	pthread_mutex_lock(&s->lock);
	s->pair_reg = 0;
	switch (off) {
	case P_IRQ_STATUS: v = irq_status(s); break;
	case P_ADLIB_INDEX: v = s->adlib_status; break;
	case P_ADLIB_DATA: v = 0; break;
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void low_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct gus *s = opaque;
	uint8_t v = (uint8_t)value;

	pthread_mutex_lock(&s->lock);
	s->pair_reg = 0;
	switch (off) {
	case P_MIX: s->mix_ctrl = v; break;
	case P_ADLIB_INDEX: s->adlib_index = v; break;
	case P_ADLIB_DATA: adlib_write(s, v); break;
	case P_LATCH:
		if (s->mix_ctrl & 0x40)
			s->irq_latch = v;
		else
			s->dma_latch = v;
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static uint64_t high_read(void *opaque, uint64_t off, unsigned size)
{
	struct gus *s = opaque;
	uint16_t v = size == 2 ? 0xFFFF : 0xFF;

	pthread_mutex_lock(&s->lock);
	if (off != P_DATA_LOW && off != P_DATA_HIGH)
		s->pair_reg = 0; /* (the data ports: reg_read) */
	switch (off) {
	case P_MIDI_CTRL: v = 0x02; break; /* transmit register empty, nothing received */
	case P_MIDI_DATA: v = 0; break;
	case P_VOICE: v = s->voice_sel; break;
	case P_SELECT: v = s->reg_sel; break;
	case P_DATA_LOW: {
		uint16_t r = reg_read(s, s->reg_sel);
		v = size == 2 ? r : (uint8_t)r;
		break;
	}
	case P_DATA_HIGH: {
		uint16_t r = reg_read(s, s->reg_sel);
		v = reg_is_16bit(s->reg_sel) ? r >> 8 : (uint8_t)r;
		break;
	}
	case P_DRAM: v = s->dram[s->dram_addr & DRAM_MASK]; break;
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void high_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct gus *s = opaque;
	uint8_t b = (uint8_t)value;

	pthread_mutex_lock(&s->lock);
	if (off != P_SELECT)
		s->pair_reg = 0;
	switch (off) {
	case P_VOICE: s->voice_sel = b & (GUS_VOICES - 1); break;
	case P_SELECT: s->reg_sel = b; break;
	case P_DATA_LOW:
		if (size == 2 && reg_is_16bit(s->reg_sel))
			reg_write(s, s->reg_sel, (uint16_t)value);
		else
			s->data_latch = b; /* the low byte waits for the high one */
		break;
	case P_DATA_HIGH:
		if (reg_is_16bit(s->reg_sel))
			reg_write(s, s->reg_sel, (uint16_t)(s->data_latch | b << 8));
		else
			reg_write(s, s->reg_sel, b);
		break;
	case P_DRAM: s->dram[s->dram_addr & DRAM_MASK] = b; break;
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops low_ops = { .read = low_read, .write = low_write,
				       .min_size = 1, .max_size = 1 };
static const struct io_ops high_ops = { .read = high_read, .write = high_write,
					.min_size = 1, .max_size = 2 };

/* ---- saved state ------------------------------------------------------------------------ */

static void save_voice(struct ss_writer *w, const struct gus_voice *v, uint32_t i)
{
	ss_put_elem_begin(w, "voice", i);
	ss_put_u8(w, "ctrl", v->ctrl);
	ss_put_u8(w, "vctrl", v->vctrl);
	ss_put_u16(w, "freq", v->freq);
	ss_put_u32(w, "start", v->start);
	ss_put_u32(w, "end", v->end);
	ss_put_u32(w, "pos", v->pos);
	ss_put_u16(w, "volume", v->volume);
	ss_put_u8(w, "ramp_rate", v->ramp_rate);
	ss_put_u8(w, "ramp_start", v->ramp_start);
	ss_put_u8(w, "ramp_end", v->ramp_end);
	ss_put_u8(w, "pan", v->pan);
	ss_put_u16(w, "ramp_wait", v->ramp_wait);
	ss_put_elem_end(w);
}

static void load_voice(struct ss_reader *r, struct gus_voice *v, uint32_t i)
{
	ss_get_elem_begin(r, "voice", i);
	ss_get_u8(r, "ctrl", &v->ctrl);
	ss_get_u8(r, "vctrl", &v->vctrl);
	ss_get_u16(r, "freq", &v->freq);
	ss_get_u32(r, "start", &v->start);
	ss_get_u32(r, "end", &v->end);
	ss_get_u32(r, "pos", &v->pos);
	ss_get_u16(r, "volume", &v->volume);
	ss_get_u8(r, "ramp_rate", &v->ramp_rate);
	ss_get_u8(r, "ramp_start", &v->ramp_start);
	ss_get_u8(r, "ramp_end", &v->ramp_end);
	ss_get_u8(r, "pan", &v->pan);
	ss_get_u16(r, "ramp_wait", &v->ramp_wait);
	ss_get_elem_end(r);
}

/* The card's registers as one record (the DRAM is its own field). */
#define GUS_REGS(X) \
	X(u8, mix_ctrl) X(u8, irq_latch) X(u8, dma_latch) X(u8, voice_sel) X(u8, reg_sel) \
	X(u8, data_latch) X(u8, active) X(u8, dma_ctrl) X(u16, dma_addr) X(u32, dma_done) \
	X(bool, dma_irq) X(u32, dram_addr) X(u8, timer_ctrl) X(u8, sample_rate) \
	X(u8, sample_ctrl) X(u8, joystick) X(u8, reset) X(u8, timer_irq) X(u8, adlib_index) \
	X(u8, adlib_ctrl) X(u8, adlib_status)

void gus_save(struct gus *s, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "gus", instance, GUS_STATE_VERSION);
#define PUT(t, f) ss_put_##t(w, #f, s->f);
	GUS_REGS(PUT)
#undef PUT
	ss_put_bytes(w, "timer_count", s->timer_count, sizeof(s->timer_count));
	ss_put_array(w, "voice", GUS_VOICES);
	for (uint32_t i = 0; i < GUS_VOICES; i++)
		save_voice(w, &s->v[i], i);
	ss_put_bytes(w, "dram", s->dram, GUS_DRAM_SIZE);
	ss_put_u32(w, "gf1_phase", s->gf1_phase);
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

/* Values no sequence of port writes could leave (on a card with 'freq'). */
static const char *bad_state(const struct gus *n, uint32_t freq)
{
	if (n->gf1_phase >= freq)
		return "GF1 phase";
	if (n->voice_sel >= GUS_VOICES)
		return "voice select";
	if (n->dram_addr > DRAM_MASK || n->dma_done > DRAM_MASK)
		return "DRAM address";
	if (n->reset & ~(RESET_RUN | RESET_DAC | RESET_IRQ))
		return "reset register";
	if (n->timer_irq & ~(S_TIMER1 | S_TIMER2) || n->sample_ctrl & 0x40)
		return "interrupt state";
	if (n->adlib_ctrl & ~(AD_T1_START | AD_T2_START | AD_T1_MASK | AD_T2_MASK) ||
	    n->adlib_status & ~(AD_ST_ANY | AD_ST_T1 | AD_ST_T2))
		return "timer control";
	for (unsigned i = 0; i < GUS_VOICES; i++) {
		const struct gus_voice *v = &n->v[i];
		if (v->start >> 24 || v->end >> 24 || v->pos > POS_MASK || v->pan > 15 ||
		    v->volume & 0xF || v->freq & 1 || v->ramp_wait >= 512)
			return "voice";
	}
	return NULL;
}

bool gus_load(struct gus *s, struct ss_reader *r, uint32_t instance)
{
	struct gus *n = xzalloc(sizeof(*n));
	uint8_t *dram = xzalloc(GUS_DRAM_SIZE);
	uint32_t count = 0, version = 0;
	bool ok = false;

	if (!ss_section_open(r, "gus", instance, 1, GUS_STATE_VERSION, &version))
		goto out;
#define GET(t, f) ss_get_##t(r, #f, &n->f);
	GUS_REGS(GET)
#undef GET
	ss_get_bytes(r, "timer_count", n->timer_count, sizeof(n->timer_count));
	ss_get_array(r, "voice", GUS_VOICES, &count);
	for (uint32_t i = 0; i < count && i < GUS_VOICES; i++)
		load_voice(r, &n->v[i], i);
	ss_get_bytes(r, "dram", dram, GUS_DRAM_SIZE);
	if (version >= 2)
		ss_get_u32(r, "gf1_phase", &n->gf1_phase); /* version 1: a GF1 frame's start */
	if (!ss_section_close(r))
		goto out;
	if (count != GUS_VOICES) {
		ss_fail(r, "saved state: gus %u: %u voices, expected %u", instance, count, GUS_VOICES);
		goto out;
	}
	const char *bad = bad_state(n, s->cfg.freq);
	if (bad) {
		ss_fail(r, "saved state: gus %u: invalid %s", instance, bad);
		goto out;
	}

	pthread_mutex_lock(&s->lock);
	memcpy(s->v, n->v, sizeof(s->v));
	memcpy(s->dram, dram, GUS_DRAM_SIZE);
#define COPY(t, f) s->f = n->f;
	GUS_REGS(COPY)
#undef COPY
	memcpy(s->timer_count, n->timer_count, sizeof(s->timer_count));
	s->gf1_phase = n->gf1_phase;
	s->pair_reg = 0;
	if (s->dma)
		i8237_set_dreq(s->dma, s->cfg.dma, s->dma_ctrl & D_ENABLE);
	timers_arm(s);
	update_irq(s);
	if (s->out && anything_runs(s))
		audio_voice_kick(s->out);
	pthread_mutex_unlock(&s->lock);
	ok = true;
out:
	free(dram);
	free(n);
	return ok;
}

/* ---- life cycle ------------------------------------------------------------------------ */

void gus_reset(struct gus *s)
{
	pthread_mutex_lock(&s->lock);
	chip_reset(s);
	memset(s->dram, 0, GUS_DRAM_SIZE);
	s->mix_ctrl = 0x0B; /* line in and out off, latches on, as the card powers up */
	s->irq_latch = s->dma_latch = 0;
	s->voice_sel = s->reg_sel = s->data_latch = 0;
	s->dma_addr = 0;
	s->dram_addr = 0;
	s->timer_count[0] = s->timer_count[1] = 0;
	s->sample_rate = 0;
	s->joystick = 0;
	s->reset = 0;
	s->adlib_index = 0;
	timers_arm(s);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static int check_config(const struct gus_config *c, char *err, size_t errlen)
{
	if (c->iobase & 0xF || c->iobase < 0x210 || c->iobase > 0x260)
		return set_err(err, errlen, "gus: iobase=%#x: the card's jumpers take 0x210, 0x220, "
			       "0x230, 0x240, 0x250 or 0x260", c->iobase);
	switch (c->irq) {
	case 2: case 3: case 5: case 7: case 9: case 11: case 12: case 15: break;
	default:
		return set_err(err, errlen, "gus: irq=%u: the card takes 2 (9), 3, 5, 7, 11, 12 "
			       "or 15", c->irq);
	}
	if (c->dma != 1 && c->dma != 3 && c->dma != 5 && c->dma != 6 && c->dma != 7)
		return set_err(err, errlen, "gus: dma=%u: the card takes 1, 3, 5, 6 or 7", c->dma);
	if (c->freq < AUDIO_RATE_MIN || c->freq > AUDIO_RATE_MAX)
		return set_err(err, errlen, "gus: freq=%u: expected %u to %u", c->freq,
			       AUDIO_RATE_MIN, AUDIO_RATE_MAX);
	return 0;
}

struct gus *gus_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq,
		       struct audio_backend *audio, struct event_loop *loop,
		       const struct gus_config *cfg, char *err, size_t errlen)
{
	if (check_config(cfg, err, errlen) < 0)
		return NULL;
	struct gus *s = xzalloc(sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->cfg = *cfg;
	s->pio = pio;
	s->irq = irq;
	s->dram = xzalloc(GUS_DRAM_SIZE);
	io_region_init(&s->low_io, "gus", &low_ops, s, LOW_PORTS);
	io_region_init(&s->high_io, "gus-gf1", &high_ops, s, HIGH_PORTS);
	if (bus_map(pio, &s->low_io, cfg->iobase) < 0 ||
	    bus_map(pio, &s->high_io, cfg->iobase + HIGH_OFFSET) < 0) {
		set_err(err, errlen, "gus: ports %#x-%#x or %#x-%#x overlap another device",
			cfg->iobase, cfg->iobase + LOW_PORTS - 1, cfg->iobase + HIGH_OFFSET,
			cfg->iobase + HIGH_OFFSET + HIGH_PORTS - 1);
		gus_destroy(s);
		return NULL;
	}
	if (dma) {
		if (i8237_claim(dma, cfg->dma, dma_kick, s) < 0) {
			set_err(err, errlen, "gus: DMA channel %u is taken by another device", cfg->dma);
			gus_destroy(s);
			return NULL;
		}
		s->dma = dma;
		s->claimed = true;
	}
	if (loop) {
		s->timer[0] = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, timer1_fn, s);
		s->timer[1] = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, timer2_fn, s);
	}
	if (audio)
		s->out = audio_voice_add(audio, "gus", fill, s);
	gus_reset(s);
	return s;
}

void gus_destroy(struct gus *s)
{
	if (!s)
		return;
	audio_voice_remove(s->out);
	for (unsigned t = 0; t < 2; t++)
		if (s->timer[t])
			event_timer_free(s->timer[t]);
	if (s->low_io.mapped)
		bus_unmap(s->pio, &s->low_io);
	if (s->high_io.mapped)
		bus_unmap(s->pio, &s->high_io);
	if (s->claimed)
		i8237_release(s->dma, s->cfg.dma);
	pthread_mutex_destroy(&s->lock);
	free(s->dram);
	free(s);
}

/* ---- the device table's entry ------------------------------------------------------------- */

static const struct dev_prop gus_props[] = {
	{ .name = "iobase", .type = PROP_UINT, .def = "0x240", .min = 0, .max = 0xFFFF,
	  .help = "base I/O port: 0x210 to 0x260 (the GF1's ports are at base+0x100 too)" },
	{ .name = "irq", .type = PROP_UINT, .def = "7", .min = 0, .max = 15,
	  .help = "ISA interrupt: 2 (9), 3, 5, 7, 11, 12 or 15" },
	{ .name = "dma", .type = PROP_UINT, .def = "3", .min = 0, .max = 7,
	  .help = "DMA channel for DRAM uploads: 1, 3 (8-bit), 5, 6 or 7 (16-bit)" },
	{ .name = "freq", .type = PROP_UINT, .def = "44100", .min = 0, .max = 0xFFFFFFFF,
	  .help = "accepted as QEMU's; the GF1 mixes at 617400 / active voices Hz" },
	{ .name = "audiodev", .type = PROP_AUDIODEV,
	  .help = "the -audiodev it plays through (none: silent)" },
};

static struct gus_config config_of(const struct dev_instance *d)
{
	return (struct gus_config){
		.iobase = (uint16_t)dev_get_uint(d, "iobase"),
		.irq = (unsigned)dev_get_uint(d, "irq"),
		.dma = (unsigned)dev_get_uint(d, "dma"),
		.freq = (uint32_t)dev_get_uint(d, "freq"),
	};
}

/* An ISA sound card's interrupt (2 is 9 on the AT bus). */
static unsigned card_irq(const struct dev_instance *o)
{
	unsigned irq = (unsigned)dev_get_uint(o, "irq");
	return irq == 2 ? 9 : irq;
}

/* Another ISA sound card on our interrupt or DMA channel: edge-triggered
 * ISA cards cannot share a line, and a DMA channel serves one device. */
static int check_other_cards(const struct dev_instance *d, const struct gus_config *c,
			     const struct dev_instance *devs, unsigned ndevs, char *err,
			     size_t errlen)
{
	static const char *const cards[] = { "sb16", "cs4231a", "gus" };
	unsigned irq = c->irq == 2 ? 9 : c->irq;

	for (unsigned i = 0; i < ndevs; i++) {
		const struct dev_instance *o = &devs[i];
		bool card = false;
		for (unsigned k = 0; k < ARRAY_SIZE(cards); k++)
			card |= !strcmp(o->cls->name, cards[k]);
		if (o == d || !card)
			continue;
		bool sb16 = !strcmp(o->cls->name, "sb16");
		if (card_irq(o) == irq)
			return set_err(err, errlen, "gus: irq=%u is taken by %s (ISA sound cards do "
				       "not share an interrupt)", c->irq, o->cls->name);
		if (dev_get_uint(o, "dma") == c->dma || (sb16 && dev_get_uint(o, "dma16") == c->dma))
			return set_err(err, errlen, "gus: DMA channel %u is taken by %s", c->dma,
				       o->cls->name);
	}
	return 0;
}

static int gus_check_dev(struct dev_instance *d, struct machine_config *mc, char *err,
			 size_t errlen)
{
	struct gus_config cfg = config_of(d);
	return check_config(&cfg, err, errlen);
}

static int gus_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	struct gus_config cfg = config_of(d);
	struct audio_backend *audio = NULL;
	const char *id = dev_get_str(d, "audiodev");
	unsigned irq = cfg.irq == 2 ? 9 : cfg.irq;

	if (check_other_cards(d, &cfg, b->devs, b->ndevs, err, errlen) < 0)
		return -1; /* before the audiodev opens (a wav file) */
	if (b->audiodev && !(audio = b->audiodev(b, id, err, errlen)))
		return -1;
	d->state = gus_create(b->pio, b->dma, b->isa_irq(b, irq), audio, b->loop, &cfg, err,
			      errlen);
	return d->state ? 0 : -1;
}

static void gus_reset_dev(struct dev_instance *d)
{
	gus_reset(d->state);
}

static void gus_destroy_dev(struct dev_instance *d)
{
	gus_destroy(d->state);
}

DEV_STATE_OPS(gus, struct gus)

const struct dev_class gus_class = {
	.name = "gus",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_SOUND,
	.desc = "Gravis Ultrasound GF1",
	.props = gus_props,
	.nprops = ARRAY_SIZE(gus_props),
	.ops = { .create = gus_create_dev, .reset = gus_reset_dev,
		 .destroy = gus_destroy_dev, .save = gus_save_dev,
		 .load = gus_load_dev, .check = gus_check_dev },
};
