// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Creative Sound Blaster 16 (-device sb16): the DSP 4.05 and the CT1745
 * mixer (see include/hw/sb16.h for the ports and what is modelled).
 *
 * Facts from Creative's "Sound Blaster Series Hardware Programming Guide":
 * the reset handshake (1 then 0 to base+6, then 0xAA to read), the command
 * set and its parameter bytes, the time constant 256 - 1000000 / (channels
 * * rate), transfer counts as "samples - 1", the 16-bit command byte
 * 0xBx/0xCx (bit 3 input, bit 2 auto-init, bit 1 FIFO) with its mode byte
 * (bit 4 stereo, bit 5 signed), and the mixer's interrupt and DMA setup
 * registers 0x80/0x81 and interrupt status 0x82.
 *
 * Threads: vCPUs write the ports; the audio backend's step (the event
 * loop's thread) moves the samples and raises the interrupts. One lock
 * covers the card; the 8237's lock is taken inside it (transfers), never
 * the other way round.
 */
#include "hw/sb16.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bus.h"
#include "device.h"
#include "hw/i8237.h"
#include "savestate.h"
#include "util.h"

#define SB16_STATE_VERSION 1
#define OUT_QUEUE 64        /* DSP bytes waiting to be read */
#define MAX_PARAMS 3
#define DIRECT_RATE 22050   /* the rate direct DAC output is rendered at */
#define DIRECT_QUEUE 512    /* direct DAC writes not yet rendered */
#define DIRECT_HOLD_NS (100 * 1000000LL) /* direct output ends this long after the last write */

/* Port offsets from iobase. The region starts at +4 (mixer index). */
#define REG_MIXER_INDEX 0x4
#define REG_MIXER_DATA 0x5
#define REG_RESET 0x6
#define REG_READ_DATA 0xA
#define REG_WRITE 0xC
#define REG_READ_STATUS 0xE
#define REG_ACK16 0xF
#define REGION_START REG_MIXER_INDEX

/* Interrupt status (mixer 0x82) bits. */
#define IRQ_8BIT 0x01
#define IRQ_16BIT 0x02

enum dsp_cmd {
	CMD_DIRECT_DAC = 0x10,
	CMD_DMA8_SINGLE = 0x14,
	CMD_DMA8_AUTO = 0x1C,
	CMD_DIRECT_ADC = 0x20,
	CMD_DMA8_IN_SINGLE = 0x24,
	CMD_DMA8_IN_AUTO = 0x2C,
	CMD_MIDI_WRITE_POLL = 0x38,
	CMD_TIME_CONSTANT = 0x40,
	CMD_OUT_RATE = 0x41,
	CMD_IN_RATE = 0x42,
	CMD_CONTINUE_AUTO8 = 0x45,
	CMD_CONTINUE_AUTO16 = 0x47,
	CMD_BLOCK_SIZE = 0x48,
	CMD_SILENCE = 0x80,
	CMD_DMA8_HS_AUTO = 0x90,
	CMD_DMA8_HS_SINGLE = 0x91,
	CMD_DMA8_HS_IN_AUTO = 0x98,
	CMD_DMA8_HS_IN_SINGLE = 0x99,
	CMD_PAUSE8 = 0xD0,
	CMD_SPEAKER_ON = 0xD1,
	CMD_SPEAKER_OFF = 0xD3,
	CMD_CONTINUE8 = 0xD4,
	CMD_PAUSE16 = 0xD5,
	CMD_CONTINUE16 = 0xD6,
	CMD_SPEAKER_STATUS = 0xD8,
	CMD_EXIT_AUTO16 = 0xD9,
	CMD_EXIT_AUTO8 = 0xDA,
	CMD_IDENTIFY = 0xE0,
	CMD_VERSION = 0xE1,
	CMD_WRITE_TEST = 0xE4,
	CMD_READ_TEST = 0xE8,
	CMD_IRQ8 = 0xF2,
	CMD_IRQ16 = 0xF3,
};

/* The 16-bit (0xBx) and 8-bit (0xCx) DMA commands and their mode byte. */
#define GEN_CMD_16 0xB0
#define GEN_CMD_8 0xC0
#define GEN_INPUT 0x08
#define GEN_AUTO 0x04
#define GEN_MODE_STEREO 0x10
#define GEN_MODE_SIGNED 0x20

/* Direct DAC writes (0x10), stamped with the backend's clock: the guest
 * times them itself (a timer interrupt per sample), so the output holds
 * each value from its time to the next one's. Not saved: output in
 * flight, as the backend's own buffers. */
struct sb16_direct {
	bool on;
	int64_t last_ns;
	unsigned head, len;
	int64_t t[DIRECT_QUEUE];
	uint8_t v[DIRECT_QUEUE];
};

/* A DMA transfer of the DSP (or a silence block: no DMA). */
struct sb16_xfer {
	bool active;
	bool input;        /* A/D: silence goes to memory */
	bool silence;      /* command 0x80: a block of silence, no DMA */
	bool autoinit;
	bool exit_pending; /* exit auto-init: stop at the end of this block */
	bool is16, stereo, is_signed;
	bool paused;
	uint32_t block_bytes; /* the block after which the DSP interrupts */
	uint32_t left_bytes;  /* of the current block */
};

struct sb16 {
	pthread_mutex_t lock;
	struct sb16_config cfg;
	struct io_bus *pio;
	struct io_region io;
	struct i8237 *dma;
	bool claimed8, claimed16;
	struct irq_line irq;
	struct audio_voice *voice;

	/* DSP */
	bool in_reset;           /* 1 written to the reset port */
	uint8_t cmd;             /* the command collecting parameters */
	uint8_t need, nparams;
	uint8_t params[MAX_PARAMS];
	uint8_t outq[OUT_QUEUE];
	uint8_t out_head, out_len;
	uint8_t last_read;       /* what the data port reads with nothing queued */
	uint8_t test_reg;
	bool speaker;
	uint8_t time_constant;
	bool rate_from_tc;       /* the rate was set by a time constant */
	uint16_t out_rate, in_rate;
	uint16_t block_size;     /* 0x48: samples - 1 for 0x1C/0x90 and their input forms */
	uint8_t dac;             /* the last direct DAC value (held) */
	struct sb16_direct direct;
	struct sb16_xfer xfer;
	uint8_t irq_status;      /* IRQ_8BIT | IRQ_16BIT */

	/* mixer */
	uint8_t mixer_index;
	uint8_t mixer[0x48];     /* 0x00-0x47; 0x80-0x82 are computed */
};

/* ---- interrupts ---------------------------------------------------------- */

/* Under the lock. */
static void update_irq(struct sb16 *s)
{
	irq_set(&s->irq, s->irq_status ? 1 : 0);
}

static void raise_irq(struct sb16 *s, uint8_t bit)
{
	s->irq_status |= bit;
	update_irq(s);
}

static void ack_irq(struct sb16 *s, uint8_t bit)
{
	s->irq_status &= (uint8_t)~bit;
	update_irq(s);
}

/* ---- the DSP's output queue ------------------------------------------------- */

static void push_out(struct sb16 *s, uint8_t v)
{
	if (s->out_len == OUT_QUEUE)
		return; /* a guest that never reads: the oldest bytes stay */
	s->outq[(s->out_head + s->out_len) % OUT_QUEUE] = v;
	s->out_len++;
}

static uint8_t pop_out(struct sb16 *s)
{
	if (s->out_len) {
		s->last_read = s->outq[s->out_head];
		s->out_head = (uint8_t)((s->out_head + 1) % OUT_QUEUE);
		s->out_len--;
	}
	return s->last_read;
}

/* ---- DMA transfers -------------------------------------------------------------- */

static unsigned xfer_channel(const struct sb16 *s)
{
	return s->xfer.is16 ? s->cfg.dma16 : s->cfg.dma;
}

static void set_dreq(struct sb16 *s, bool level)
{
	if (s->xfer.silence || !s->dma)
		return;
	i8237_set_dreq(s->dma, xfer_channel(s), level);
}

static void stop_xfer(struct sb16 *s)
{
	if (s->xfer.active)
		set_dreq(s, false);
	s->xfer.active = false;
}

/* Samples of the guest's count (count + 1) in bytes. */
static uint32_t count_bytes(uint32_t count_minus_one, bool is16)
{
	return (count_minus_one + 1) * (is16 ? 2u : 1u);
}

static void start_xfer(struct sb16 *s, const struct sb16_xfer *x)
{
	stop_xfer(s);
	s->xfer = *x;
	s->xfer.active = true;
	s->xfer.left_bytes = s->xfer.block_bytes;
	set_dreq(s, true);
	if (s->voice)
		audio_voice_kick(s->voice);
}

/* The transfer's sample rate in frames per second. */
static uint32_t xfer_rate(const struct sb16 *s)
{
	uint32_t rate = s->xfer.input ? s->in_rate : s->out_rate;

	if (s->rate_from_tc) {
		rate = 1000000u / (256u - s->time_constant);
		if (s->xfer.stereo)
			rate /= 2; /* the time constant counts samples of both channels */
	}
	return rate;
}

static struct audio_format xfer_format(const struct sb16 *s)
{
	struct audio_format f = { .rate = xfer_rate(s), .channels = s->xfer.stereo ? 2 : 1 };

	if (s->xfer.is16)
		f.fmt = s->xfer.is_signed ? AUDIO_FMT_S16 : AUDIO_FMT_U16;
	else
		f.fmt = s->xfer.is_signed ? AUDIO_FMT_S8 : AUDIO_FMT_U8;
	return f;
}

/* The end of a block: interrupt, then reload or stop. Under the lock. */
static void block_done(struct sb16 *s)
{
	raise_irq(s, s->xfer.is16 ? IRQ_16BIT : IRQ_8BIT);
	if (s->xfer.autoinit && !s->xfer.exit_pending && !s->xfer.silence)
		s->xfer.left_bytes = s->xfer.block_bytes;
	else
		stop_xfer(s);
}

static void fill_silence(const struct sb16 *s, uint8_t *p, size_t len)
{
	/* the centre of an unsigned format is 0x80 (0x8000 for 16 bits) */
	uint8_t centre = s->xfer.is_signed ? 0x00 : 0x80;

	if (!s->xfer.is16) {
		memset(p, centre, len);
		return;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = (i & 1) ? centre : 0x00;
}

/* Moves up to 'len' bytes of the current block; returns what moved (0: the
 * DMA channel is not serving the card). */
static size_t move_block_bytes(struct sb16 *s, uint8_t *p, size_t len)
{
	len = MIN(len, (size_t)s->xfer.left_bytes);
	if (s->xfer.is16)
		len &= ~(size_t)1;
	if (!len)
		return 0;
	if (s->xfer.silence) {
		fill_silence(s, p, len);
		return len;
	}
	if (!s->dma)
		return 0;
	if (s->xfer.input) {
		fill_silence(s, p, len);
		return i8237_transfer(s->dma, xfer_channel(s), p, len, I8237_TO_MEMORY, NULL);
	}
	return i8237_transfer(s->dma, xfer_channel(s), p, len, I8237_FROM_MEMORY, NULL);
}

/* A direct DAC write: queued with its time (the oldest is dropped when
 * the guest writes faster than the backend renders); the held value
 * (dac) changes when the output reaches that time. */
static void direct_write(struct sb16 *s, uint8_t v)
{
	struct sb16_direct *d = &s->direct;

	if (!s->voice) {
		s->dac = v; /* nothing renders: only the value is kept */
		return;
	}
	if (d->len == DIRECT_QUEUE) {
		d->head = (d->head + 1) % DIRECT_QUEUE;
		d->len--;
	}
	unsigned i = (d->head + d->len) % DIRECT_QUEUE;
	d->t[i] = audio_voice_clock(s->voice);
	d->v[i] = v;
	d->len++;
	d->last_ns = d->t[i];
	if (!d->on) {
		d->on = true;
		audio_voice_kick(s->voice);
	}
}

/* The step's frames of direct output: frame k holds the value of the
 * latest write at or before its time. */
static void fill_direct(struct sb16 *s, struct audio_request *req)
{
	struct sb16_direct *d = &s->direct;
	struct audio_format fmt = { .rate = DIRECT_RATE, .channels = 1, .fmt = AUDIO_FMT_U8 };
	size_t n = audio_request_frames(req, &fmt);
	uint8_t *buf = audio_request_buffer(req);
	int64_t t0, t1;

	audio_request_window(req, &t0, &t1);
	for (size_t k = 0; k < n; k++) {
		int64_t tk = t0 + (int64_t)((t1 - t0) * (double)k / (double)n);
		while (d->len && d->t[d->head] <= tk) {
			s->dac = d->v[d->head];
			d->head = (d->head + 1) % DIRECT_QUEUE;
			d->len--;
		}
		buf[k] = s->dac;
	}
	audio_request_done(req, n);
	if (!d->len && t1 - d->last_ns >= DIRECT_HOLD_NS)
		d->on = false;
}

/* The audio backend's step (loop thread): the bytes this step is worth. */
static void fill(void *opaque, struct audio_request *req)
{
	struct sb16 *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (!s->xfer.active && s->direct.on) {
		fill_direct(s, req);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (!s->xfer.active || s->xfer.paused) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct audio_format fmt = xfer_format(s);
	size_t frames = audio_request_frames(req, &fmt); /* may clamp the rate */
	size_t fb = fmt.channels * audio_fmt_bytes(fmt.fmt);
	uint8_t *buf = audio_request_buffer(req);
	size_t want = frames * fb, done = 0;

	while (done < want && s->xfer.active) {
		size_t n = move_block_bytes(s, buf + done, want - done);
		if (!n)
			break;
		done += n;
		s->xfer.left_bytes -= (uint32_t)n;
		if (!s->xfer.left_bytes)
			block_done(s);
	}
	if (s->xfer.active && done < want) {
		/* Starved (the channel masked or not programmed): the DSP waits
		 * for its DMA and the DAC holds silence meanwhile. */
		fill_silence(s, buf + done, want - done);
		done = want;
	}
	/* Recording plays nothing: the step only paced the transfer. */
	audio_request_done(req, s->xfer.input ? 0 : done / fb);
	pthread_mutex_unlock(&s->lock);
}

/* ---- DSP commands ------------------------------------------------------------- */

/* Parameter bytes each command takes (unknown commands take none). The
 * commands vmm does not model (ADPCM, the ASP/CSP chip, DMA
 * identification) still take theirs, so the bytes after them are read
 * as the commands they are. */
static uint8_t params_of(uint8_t cmd)
{
	if ((cmd & 0xF0) == GEN_CMD_16 || (cmd & 0xF0) == GEN_CMD_8)
		return 3;
	switch (cmd) {
	case CMD_DIRECT_DAC:
	case CMD_MIDI_WRITE_POLL:
	case CMD_TIME_CONSTANT:
	case CMD_IDENTIFY:
	case CMD_WRITE_TEST:
	case 0x04: /* ASP: set mode */
	case 0x0F: /* ASP: read register */
	case 0xE2: /* DMA identification */
		return 1;
	case CMD_DMA8_SINGLE:
	case CMD_DMA8_IN_SINGLE:
	case CMD_OUT_RATE:
	case CMD_IN_RATE:
	case CMD_BLOCK_SIZE:
	case CMD_SILENCE:
	case 0x05: /* ASP: set codec parameter */
	case 0x0E: /* ASP: write register */
	case 0x16: /* 2-bit ADPCM single-cycle, and with reference byte */
	case 0x17:
	case 0x74: /* 4-bit ADPCM */
	case 0x75:
	case 0x76: /* 2.6-bit ADPCM */
	case 0x77:
		return 2;
	default:
		return 0;
	}
}

static uint16_t param16_lo_hi(const struct sb16 *s, unsigned i)
{
	return (uint16_t)(s->params[i] | s->params[i + 1] << 8);
}

/* An 8-bit transfer of the old commands (0x14, 0x1C, 0x24, 0x2C, 0x9x):
 * unsigned mono, at the time constant's or the set rate. */
static void legacy_dma8(struct sb16 *s, bool input, bool autoinit, uint32_t count)
{
	struct sb16_xfer x = { .input = input, .autoinit = autoinit,
			       .block_bytes = count_bytes(count, false) };
	start_xfer(s, &x);
}

static void generic_dma(struct sb16 *s, uint8_t cmd)
{
	uint8_t mode = s->params[0];
	struct sb16_xfer x = {
		.is16 = (cmd & 0xF0) == GEN_CMD_16,
		.input = cmd & GEN_INPUT,
		.autoinit = cmd & GEN_AUTO,
		.stereo = mode & GEN_MODE_STEREO,
		.is_signed = mode & GEN_MODE_SIGNED,
	};
	x.block_bytes = count_bytes(param16_lo_hi(s, 1), x.is16);
	start_xfer(s, &x);
}

static void set_pause(struct sb16 *s, bool is16, bool paused)
{
	if (!s->xfer.active || s->xfer.is16 != is16)
		return;
	s->xfer.paused = paused;
	set_dreq(s, !paused);
	if (!paused && s->voice)
		audio_voice_kick(s->voice);
}

static void exit_auto(struct sb16 *s, bool is16, bool exit)
{
	if (s->xfer.active && s->xfer.is16 == is16 && s->xfer.autoinit)
		s->xfer.exit_pending = exit;
}

/* The command with all its parameters. Under the lock. */
static void run_command(struct sb16 *s, uint8_t cmd)
{
	if ((cmd & 0xF0) == GEN_CMD_16 || (cmd & 0xF0) == GEN_CMD_8) {
		generic_dma(s, cmd);
		return;
	}
	switch (cmd) {
	case CMD_DIRECT_DAC:
		direct_write(s, s->params[0]);
		break;
	case CMD_DMA8_SINGLE:
	case CMD_DMA8_IN_SINGLE:
		legacy_dma8(s, cmd == CMD_DMA8_IN_SINGLE, false, param16_lo_hi(s, 0));
		break;
	case CMD_DMA8_AUTO:
	case CMD_DMA8_IN_AUTO:
	case CMD_DMA8_HS_AUTO:
	case CMD_DMA8_HS_IN_AUTO:
		legacy_dma8(s, cmd == CMD_DMA8_IN_AUTO || cmd == CMD_DMA8_HS_IN_AUTO, true,
			    s->block_size);
		break;
	case CMD_DMA8_HS_SINGLE:
	case CMD_DMA8_HS_IN_SINGLE:
		legacy_dma8(s, cmd == CMD_DMA8_HS_IN_SINGLE, false, s->block_size);
		break;
	case CMD_DIRECT_ADC:
		push_out(s, 0x80); /* nothing at the input: the centre value */
		break;
	case CMD_TIME_CONSTANT:
		s->time_constant = s->params[0];
		s->rate_from_tc = true;
		break;
	case CMD_OUT_RATE:
	case CMD_IN_RATE: {
		/* high byte first; the DSP takes 5000 to 45000 Hz */
		uint16_t rate = (uint16_t)(s->params[0] << 8 | s->params[1]);
		rate = MIN(MAX(rate, 5000), 45000);
		if (cmd == CMD_OUT_RATE)
			s->out_rate = rate;
		else
			s->in_rate = rate;
		s->rate_from_tc = false;
		break;
	}
	case CMD_BLOCK_SIZE:
		s->block_size = param16_lo_hi(s, 0);
		break;
	case CMD_SILENCE: {
		struct sb16_xfer x = { .silence = true,
				       .block_bytes = count_bytes(param16_lo_hi(s, 0), false) };
		start_xfer(s, &x);
		break;
	}
	case CMD_CONTINUE_AUTO8:
	case CMD_CONTINUE_AUTO16:
		exit_auto(s, cmd == CMD_CONTINUE_AUTO16, false);
		break;
	case CMD_EXIT_AUTO8:
	case CMD_EXIT_AUTO16:
		exit_auto(s, cmd == CMD_EXIT_AUTO16, true);
		break;
	case CMD_PAUSE8:
	case CMD_PAUSE16:
		set_pause(s, cmd == CMD_PAUSE16, true);
		break;
	case CMD_CONTINUE8:
	case CMD_CONTINUE16:
		set_pause(s, cmd == CMD_CONTINUE16, false);
		break;
	case CMD_SPEAKER_ON:
	case CMD_SPEAKER_OFF:
		s->speaker = cmd == CMD_SPEAKER_ON;
		break;
	case CMD_SPEAKER_STATUS:
		push_out(s, s->speaker ? 0xFF : 0x00);
		break;
	case CMD_IDENTIFY:
		push_out(s, (uint8_t)~s->params[0]);
		break;
	case CMD_VERSION:
		push_out(s, SB16_DSP_VERSION >> 8);
		push_out(s, SB16_DSP_VERSION & 0xFF);
		break;
	case CMD_WRITE_TEST:
		s->test_reg = s->params[0];
		break;
	case CMD_READ_TEST:
		push_out(s, s->test_reg);
		break;
	case CMD_IRQ8:
		raise_irq(s, IRQ_8BIT);
		break;
	case CMD_IRQ16:
		raise_irq(s, IRQ_16BIT);
		break;
	default:
		debug("sb16: DSP command %#x ignored", cmd);
		break;
	}
}

static void dsp_write(struct sb16 *s, uint8_t v)
{
	if (s->in_reset)
		return;
	if (s->need) {
		s->params[s->nparams++] = v;
		if (--s->need)
			return;
		run_command(s, s->cmd);
		return;
	}
	s->cmd = v;
	s->nparams = 0;
	s->need = params_of(v);
	if (!s->need)
		run_command(s, v);
}

/* The DSP's own reset: what the reset port's 1-then-0 does. */
static void dsp_reset(struct sb16 *s)
{
	stop_xfer(s);
	memset(&s->xfer, 0, sizeof(s->xfer));
	s->cmd = s->need = s->nparams = 0;
	s->out_head = s->out_len = 0;
	s->speaker = false;
	s->time_constant = 0;
	s->rate_from_tc = false;
	s->out_rate = s->in_rate = 11025;
	s->block_size = 0x7FF;
	s->dac = 0x80;
	memset(&s->direct, 0, sizeof(s->direct));
	s->irq_status = 0;
	update_irq(s);
}

static void reset_write(struct sb16 *s, uint8_t v)
{
	if (v & 1) {
		s->in_reset = true;
		return;
	}
	if (s->in_reset) {
		s->in_reset = false;
		dsp_reset(s);
		push_out(s, 0xAA);
	}
}

/* ---- the mixer (CT1745) ------------------------------------------------------- */

static const uint8_t mixer_defaults[][2] = {
	{ 0x30, 0xC0 }, { 0x31, 0xC0 }, { 0x32, 0xC0 }, { 0x33, 0xC0 }, { 0x34, 0xC0 },
	{ 0x35, 0xC0 }, { 0x3C, 0x1F }, { 0x3D, 0x15 }, { 0x3E, 0x0B }, { 0x44, 0x80 },
	{ 0x45, 0x80 }, { 0x46, 0x80 }, { 0x47, 0x80 },
};

/* Bits each register 0x30-0x47 keeps. */
static uint8_t mixer_mask(uint8_t reg)
{
	if (reg <= 0x3A)
		return 0xF8;
	if (reg == 0x3B || (reg >= 0x3F && reg <= 0x42))
		return 0xC0;
	if (reg == 0x3C)
		return 0x1F;
	if (reg == 0x3D || reg == 0x3E)
		return 0x7F;
	if (reg == 0x43)
		return 0x01;
	return 0xF0; /* treble, bass */
}

static void mixer_reset(struct sb16 *s)
{
	memset(s->mixer, 0, sizeof(s->mixer));
	for (unsigned i = 0; i < ARRAY_SIZE(mixer_defaults); i++)
		s->mixer[mixer_defaults[i][0]] = mixer_defaults[i][1];
}

/* The SB Pro registers are views of the CT1745's left/right pairs. */
static int pro_pair(uint8_t reg)
{
	switch (reg) {
	case 0x04: return 0x32; /* voice */
	case 0x22: return 0x30; /* master */
	case 0x26: return 0x34; /* MIDI */
	case 0x28: return 0x36; /* CD */
	case 0x2E: return 0x38; /* line */
	default: return -1;
	}
}

static uint8_t irq_select(const struct sb16 *s)
{
	switch (s->cfg.irq) {
	case 2:
	case 9: return 0x01;
	case 5: return 0x02;
	case 7: return 0x04;
	default: return 0x08; /* 10 */
	}
}

static uint8_t dma_select(const struct sb16 *s)
{
	uint8_t v = (uint8_t)(1u << s->cfg.dma);
	if (s->cfg.dma16 != s->cfg.dma)
		v |= (uint8_t)(1u << s->cfg.dma16);
	return v;
}

static uint8_t mixer_read(const struct sb16 *s)
{
	uint8_t reg = s->mixer_index;
	int pair = pro_pair(reg);

	if (pair >= 0)
		return (uint8_t)((s->mixer[pair] & 0xF0) | s->mixer[pair + 1] >> 4);
	if (reg == 0x0A)
		return (uint8_t)(s->mixer[0x3A] >> 5);
	if (reg >= 0x30 && reg <= 0x47)
		return s->mixer[reg];
	if (reg == 0x80)
		return irq_select(s);
	if (reg == 0x81)
		return dma_select(s);
	if (reg == 0x82)
		return s->irq_status;
	return 0xFF;
}

static void mixer_write(struct sb16 *s, uint8_t v)
{
	uint8_t reg = s->mixer_index;
	int pair = pro_pair(reg);

	if (reg == 0x00) {
		mixer_reset(s);
	} else if (pair >= 0) {
		s->mixer[pair] = (uint8_t)((v & 0xF0) | 0x08);
		s->mixer[pair + 1] = (uint8_t)((v << 4) | 0x08);
	} else if (reg == 0x0A) {
		s->mixer[0x3A] = (uint8_t)((v & 7) << 5);
	} else if (reg >= 0x30 && reg <= 0x47) {
		s->mixer[reg] = v & mixer_mask(reg);
	}
	/* 0x80/0x81: the resources are the -device options' (a driver that
	 * asks for others reads back what the card has); the rest: no such
	 * register. */
}

/* ---- ports --------------------------------------------------------------------- */

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	struct sb16 *s = opaque;
	uint8_t v = 0xFF;

	pthread_mutex_lock(&s->lock);
	switch (off + REGION_START) {
	case REG_MIXER_INDEX:
		v = s->mixer_index;
		break;
	case REG_MIXER_DATA:
		v = mixer_read(s);
		break;
	case REG_READ_DATA:
		v = pop_out(s);
		break;
	case REG_WRITE:
		v = 0x7F; /* bit 7 clear: the DSP takes a byte at once */
		break;
	case REG_READ_STATUS:
		v = s->out_len ? 0xFF : 0x7F;
		ack_irq(s, IRQ_8BIT);
		break;
	case REG_ACK16:
		v = s->out_len ? 0xFF : 0x7F;
		ack_irq(s, IRQ_16BIT);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void port_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct sb16 *s = opaque;
	uint8_t v = (uint8_t)value;

	pthread_mutex_lock(&s->lock);
	switch (off + REGION_START) {
	case REG_MIXER_INDEX:
		s->mixer_index = v;
		break;
	case REG_MIXER_DATA:
		mixer_write(s, v);
		break;
	case REG_RESET:
		reset_write(s, v);
		break;
	case REG_WRITE:
		dsp_write(s, v);
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops sb16_ops = { .read = port_read, .write = port_write,
					.min_size = 1, .max_size = 1 };

/* ---- saved state --------------------------------------------------------------- */

void sb16_save(struct sb16 *s, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "sb16", instance, SB16_STATE_VERSION);
	ss_put_bool(w, "in_reset", s->in_reset);
	ss_put_u8(w, "cmd", s->cmd);
	ss_put_u8(w, "need", s->need);
	ss_put_u8(w, "nparams", s->nparams);
	ss_put_bytes(w, "params", s->params, sizeof(s->params));
	ss_put_bytes(w, "outq", s->outq, sizeof(s->outq));
	ss_put_u8(w, "out_head", s->out_head);
	ss_put_u8(w, "out_len", s->out_len);
	ss_put_u8(w, "last_read", s->last_read);
	ss_put_u8(w, "test_reg", s->test_reg);
	ss_put_bool(w, "speaker", s->speaker);
	ss_put_u8(w, "time_constant", s->time_constant);
	ss_put_bool(w, "rate_from_tc", s->rate_from_tc);
	ss_put_u16(w, "out_rate", s->out_rate);
	ss_put_u16(w, "in_rate", s->in_rate);
	ss_put_u16(w, "block_size", s->block_size);
	ss_put_u8(w, "dac", s->dac);
	ss_put_u8(w, "irq_status", s->irq_status);
	ss_put_bool(w, "x.active", s->xfer.active);
	ss_put_bool(w, "x.input", s->xfer.input);
	ss_put_bool(w, "x.silence", s->xfer.silence);
	ss_put_bool(w, "x.autoinit", s->xfer.autoinit);
	ss_put_bool(w, "x.exit_pending", s->xfer.exit_pending);
	ss_put_bool(w, "x.is16", s->xfer.is16);
	ss_put_bool(w, "x.stereo", s->xfer.stereo);
	ss_put_bool(w, "x.signed", s->xfer.is_signed);
	ss_put_bool(w, "x.paused", s->xfer.paused);
	ss_put_u32(w, "x.block_bytes", s->xfer.block_bytes);
	ss_put_u32(w, "x.left_bytes", s->xfer.left_bytes);
	ss_put_u8(w, "mixer_index", s->mixer_index);
	ss_put_bytes(w, "mixer", s->mixer, sizeof(s->mixer));
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

/* Values no sequence of port writes could leave. */
static const char *bad_state(const struct sb16 *n)
{
	if (n->out_len > OUT_QUEUE || n->out_head >= OUT_QUEUE)
		return "output queue";
	if (n->need > MAX_PARAMS || n->nparams > MAX_PARAMS ||
	    n->need + n->nparams > MAX_PARAMS || (n->need && n->nparams + n->need !=
						   params_of(n->cmd)))
		return "command parameters";
	if (n->out_rate < 5000 || n->out_rate > 45000 || n->in_rate < 5000 || n->in_rate > 45000)
		return "sample rate";
	if (n->irq_status & ~(IRQ_8BIT | IRQ_16BIT))
		return "interrupt status";
	const struct sb16_xfer *x = &n->xfer;
	if (x->block_bytes > count_bytes(0xFFFF, true) || x->left_bytes > x->block_bytes ||
	    (x->active && !x->left_bytes) || (x->silence && (x->is16 || x->input)))
		return "transfer count";
	for (unsigned r = 0x30; r <= 0x47; r++)
		if (n->mixer[r] & ~mixer_mask((uint8_t)r))
			return "mixer register";
	for (unsigned r = 0; r < 0x30; r++)
		if (n->mixer[r])
			return "mixer register";
	return NULL;
}

bool sb16_load(struct sb16 *s, struct ss_reader *r, uint32_t instance)
{
	struct sb16 n;

	memset(&n, 0, sizeof(n));
	if (!ss_section_open(r, "sb16", instance, 1, SB16_STATE_VERSION, NULL))
		return false;
	ss_get_bool(r, "in_reset", &n.in_reset);
	ss_get_u8(r, "cmd", &n.cmd);
	ss_get_u8(r, "need", &n.need);
	ss_get_u8(r, "nparams", &n.nparams);
	ss_get_bytes(r, "params", n.params, sizeof(n.params));
	ss_get_bytes(r, "outq", n.outq, sizeof(n.outq));
	ss_get_u8(r, "out_head", &n.out_head);
	ss_get_u8(r, "out_len", &n.out_len);
	ss_get_u8(r, "last_read", &n.last_read);
	ss_get_u8(r, "test_reg", &n.test_reg);
	ss_get_bool(r, "speaker", &n.speaker);
	ss_get_u8(r, "time_constant", &n.time_constant);
	ss_get_bool(r, "rate_from_tc", &n.rate_from_tc);
	ss_get_u16(r, "out_rate", &n.out_rate);
	ss_get_u16(r, "in_rate", &n.in_rate);
	ss_get_u16(r, "block_size", &n.block_size);
	ss_get_u8(r, "dac", &n.dac);
	ss_get_u8(r, "irq_status", &n.irq_status);
	ss_get_bool(r, "x.active", &n.xfer.active);
	ss_get_bool(r, "x.input", &n.xfer.input);
	ss_get_bool(r, "x.silence", &n.xfer.silence);
	ss_get_bool(r, "x.autoinit", &n.xfer.autoinit);
	ss_get_bool(r, "x.exit_pending", &n.xfer.exit_pending);
	ss_get_bool(r, "x.is16", &n.xfer.is16);
	ss_get_bool(r, "x.stereo", &n.xfer.stereo);
	ss_get_bool(r, "x.signed", &n.xfer.is_signed);
	ss_get_bool(r, "x.paused", &n.xfer.paused);
	ss_get_u32(r, "x.block_bytes", &n.xfer.block_bytes);
	ss_get_u32(r, "x.left_bytes", &n.xfer.left_bytes);
	ss_get_u8(r, "mixer_index", &n.mixer_index);
	ss_get_bytes(r, "mixer", n.mixer, sizeof(n.mixer));
	if (!ss_section_close(r))
		return false;
	const char *bad = bad_state(&n);
	if (bad)
		return ss_fail(r, "saved state: sb16 %u: invalid %s", instance, bad);

	pthread_mutex_lock(&s->lock);
	stop_xfer(s);
	s->in_reset = n.in_reset;
	s->cmd = n.cmd, s->need = n.need, s->nparams = n.nparams;
	memcpy(s->params, n.params, sizeof(s->params));
	memcpy(s->outq, n.outq, sizeof(s->outq));
	s->out_head = n.out_head, s->out_len = n.out_len, s->last_read = n.last_read;
	s->test_reg = n.test_reg, s->speaker = n.speaker;
	s->time_constant = n.time_constant, s->rate_from_tc = n.rate_from_tc;
	s->out_rate = n.out_rate, s->in_rate = n.in_rate, s->block_size = n.block_size;
	s->dac = n.dac;
	memset(&s->direct, 0, sizeof(s->direct));
	s->irq_status = n.irq_status;
	s->xfer = n.xfer;
	s->mixer_index = n.mixer_index;
	memcpy(s->mixer, n.mixer, sizeof(s->mixer));
	if (s->xfer.active) {
		set_dreq(s, !s->xfer.paused);
		if (s->voice)
			audio_voice_kick(s->voice);
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}

/* ---- life cycle ----------------------------------------------------------------- */

void sb16_reset(struct sb16 *s)
{
	pthread_mutex_lock(&s->lock);
	s->in_reset = false;
	dsp_reset(s);
	s->last_read = 0xFF;
	s->test_reg = 0;
	s->mixer_index = 0;
	mixer_reset(s);
	pthread_mutex_unlock(&s->lock);
}

static int check_config(const struct sb16_config *c, char *err, size_t errlen)
{
	if (c->iobase & 0xF || c->iobase < 0x100 || c->iobase > 0x3F0)
		return set_err(err, errlen, "sb16: iobase=%#x: expected a multiple of 0x10 from "
			       "0x100 to 0x3f0 (the card has 0x220-0x280)", c->iobase);
	if (c->irq != 2 && c->irq != 5 && c->irq != 7 && c->irq != 9 && c->irq != 10)
		return set_err(err, errlen, "sb16: irq=%u: the card takes 2 (9), 5, 7 or 10",
			       c->irq);
	if (c->dma != 0 && c->dma != 1 && c->dma != 3)
		return set_err(err, errlen, "sb16: dma=%u: the card takes 0, 1 or 3", c->dma);
	if (c->dma16 != c->dma && (c->dma16 < 5 || c->dma16 > 7))
		return set_err(err, errlen, "sb16: dma16=%u: the card takes 5, 6 or 7 (or the "
			       "8-bit channel, dma=)", c->dma16);
	return 0;
}

struct sb16 *sb16_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq,
			 struct audio_backend *audio, const struct sb16_config *cfg, char *err,
			 size_t errlen)
{
	if (check_config(cfg, err, errlen) < 0)
		return NULL;
	struct sb16 *s = xzalloc(sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->cfg = *cfg;
	s->pio = pio;
	s->dma = dma;
	s->irq = irq;
	io_region_init(&s->io, "sb16", &sb16_ops, s, SB16_PORTS - REGION_START);
	if (bus_map(pio, &s->io, cfg->iobase + REGION_START) < 0) {
		set_err(err, errlen, "sb16: ports %#x-%#x overlap another device",
			cfg->iobase + REGION_START, cfg->iobase + SB16_PORTS - 1);
		sb16_destroy(s);
		return NULL;
	}
	if (dma) {
		s->claimed8 = i8237_claim(dma, cfg->dma, NULL, NULL) == 0;
		s->claimed16 = cfg->dma16 == cfg->dma ||
			       i8237_claim(dma, cfg->dma16, NULL, NULL) == 0;
		if (!s->claimed8 || !s->claimed16) {
			set_err(err, errlen, "sb16: DMA channel %u is taken by another device",
				s->claimed8 ? cfg->dma16 : cfg->dma);
			sb16_destroy(s);
			return NULL;
		}
	}
	if (audio)
		s->voice = audio_voice_add(audio, "sb16", fill, s);
	sb16_reset(s);
	return s;
}

void sb16_destroy(struct sb16 *s)
{
	if (!s)
		return;
	audio_voice_remove(s->voice);
	if (s->io.mapped)
		bus_unmap(s->pio, &s->io);
	if (s->dma && s->claimed8)
		i8237_release(s->dma, s->cfg.dma);
	if (s->dma && s->claimed16 && s->cfg.dma16 != s->cfg.dma)
		i8237_release(s->dma, s->cfg.dma16);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the device table's entry ---------------------------------------------------- */

static const struct dev_prop sb16_props[] = {
	{ .name = "iobase", .type = PROP_UINT, .def = "0x220", .min = 0, .max = 0xFFFF,
	  .help = "base I/O port (0x220, 0x240, 0x260 or 0x280 on the card)" },
	{ .name = "irq", .type = PROP_UINT, .def = "5", .min = 0, .max = 15,
	  .help = "ISA interrupt: 2 (9), 5, 7 or 10" },
	{ .name = "dma", .type = PROP_UINT, .def = "1", .min = 0, .max = 7,
	  .help = "8-bit DMA channel: 0, 1 or 3" },
	{ .name = "dma16", .type = PROP_UINT, .def = "5", .min = 0, .max = 7,
	  .help = "16-bit DMA channel: 5, 6 or 7" },
	{ .name = "audiodev", .type = PROP_AUDIODEV,
	  .help = "the -audiodev it plays through (none: silent)" },
	{ .name = "version", .type = PROP_UINT, .def = "0x405", .min = 0x405, .max = 0x405,
	  .help = "DSP version (QEMU's property; only 4.05)" },
};

static struct sb16_config config_of(const struct dev_instance *d)
{
	return (struct sb16_config){
		.iobase = (uint16_t)dev_get_uint(d, "iobase"),
		.irq = (unsigned)dev_get_uint(d, "irq"),
		.dma = (unsigned)dev_get_uint(d, "dma"),
		.dma16 = (unsigned)dev_get_uint(d, "dma16"),
	};
}

/* Before anything starts: values the card does not take are one line
 * (overlaps with other devices are found when the ports and channels are
 * taken). */
static int sb16_check_dev(struct dev_instance *d, struct machine_config *mc, char *err,
			  size_t errlen)
{
	struct sb16_config cfg = config_of(d);
	return check_config(&cfg, err, errlen);
}

static int sb16_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			   size_t errlen)
{
	struct sb16_config cfg = config_of(d);
	struct audio_backend *audio = NULL;
	const char *id = dev_get_str(d, "audiodev");

	if (b->audiodev && !(audio = b->audiodev(b, id, err, errlen)))
		return -1;
	d->state = sb16_create(b->pio, b->dma, b->isa_irq(b, cfg.irq == 2 ? 9 : cfg.irq), audio,
			       &cfg, err, errlen);
	return d->state ? 0 : -1;
}

static void sb16_reset_dev(struct dev_instance *d)
{
	sb16_reset(d->state);
}

static void sb16_destroy_dev(struct dev_instance *d)
{
	sb16_destroy(d->state);
}

DEV_STATE_OPS(sb16, struct sb16)

const struct dev_class sb16_class = {
	.name = "sb16",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_SOUND,
	.desc = "Creative Sound Blaster 16",
	.props = sb16_props,
	.nprops = ARRAY_SIZE(sb16_props),
	.ops = { .create = sb16_create_dev, .reset = sb16_reset_dev,
		 .destroy = sb16_destroy_dev, .save = sb16_save_dev, .load = sb16_load_dev,
		 .check = sb16_check_dev },
};
