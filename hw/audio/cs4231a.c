// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Crystal CS4231A, the Windows Sound System codec, on ISA (-device cs4231a;
 * see include/hw/cs4231a.h for the ports and what is modelled).
 *
 * Facts from Crystal's CS4231A data sheet (DS139) and its family's
 * (CS4235/CS4239 WSS codec chapters): the four direct registers (R0 INIT,
 * MCE, TRD and the index; R2's INT cleared by any write), the indexed
 * registers in modes 1 and 2 and their reset values, I8's crystal (24.576
 * or 16.9344 MHz) and divider table and its format codes, I9's enables
 * (PEN, CEN, SDC, ACAL, PPIO, CPIO; bits 7-2 change only under MCE), I8
 * changed only under MCE or, bits 7-4, I16 PMCE; the DMA base count
 * "samples - 1", loaded into the current count when the upper byte is
 * written, the sample after zero setting PI (I24) and reloading; I24's
 * bits cleared by writing 0; I10 IEN gating the IRQ pin while R2 INT
 * always shows the state; I12's ID 0xA and I25's version 0xA0, which
 * Linux's snd-wss probe checks (it also expects I0/I1 to keep what it
 * writes and I16-I31 to differ from I0-I15 in mode 2).
 *
 * Threads: vCPUs write the ports; the audio backend's step (the event
 * loop's thread) moves the samples and raises the interrupt. One lock
 * covers the card; the 8237's lock is taken inside it (transfers), never
 * the other way round.
 */
#include "hw/cs4231a.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bus.h"
#include "device.h"
#include "hw/i8237.h"
#include "savestate.h"
#include "util.h"

#define CS4231A_STATE_VERSION 1
#define NREGS 32
#define FRAME_MAX 4 /* 16-bit stereo */

/* Direct registers (port offsets). */
enum { R_INDEX, R_DATA, R_STATUS, R_PIO };

/* R0 */
#define R0_INIT 0x80
#define R0_MCE 0x40
#define R0_TRD 0x20
#define R0_INDEX 0x1F

/* R2 */
#define R2_INT 0x01
#define R2_PRDY 0x02
#define R2_PLR 0x04
#define R2_PUL 0x08
#define R2_CRDY 0x20
#define R2_CLR 0x40
#define R2_CUL 0x80

/* Indexed registers. */
enum {
	I_FORMAT = 8,      /* clock and (playback) data format */
	I_IFACE = 9,       /* interface configuration */
	I_PIN = 10,        /* pin control */
	I_ERROR = 11,      /* error status and initialization (read only) */
	I_MODE_ID = 12,    /* MODE2 and the codec ID */
	I_PLAY_UPPER = 14, /* playback base count */
	I_PLAY_LOWER = 15,
	I_ALT1 = 16,       /* alternate feature enable I */
	I_ALT_STATUS = 24, /* PI, CI, TI and the error bits */
	I_VERSION = 25,
	I_CAP_FORMAT = 28,
	I_CAP_UPPER = 30,
	I_CAP_LOWER = 31,
};

/* I8 / I28 */
#define FMT_XTAL2 0x01
#define FMT_CFS_SHIFT 1
#define FMT_STEREO 0x10
#define FMT_CODE_SHIFT 5 /* C/L, FMT, FMT1 */
#define FMT_DATA_BITS 0xF0 /* what PMCE/CMCE let change */

/* I9 */
#define IF_PEN 0x01
#define IF_CEN 0x02
#define IF_SDC 0x04
#define IF_ACAL 0x08
#define IF_PPIO 0x40
#define IF_CPIO 0x80
#define IF_ANYTIME (IF_PEN | IF_CEN) /* the rest only under MCE */

#define PIN_IEN 0x02
#define ERR_DRS 0x10
#define ERR_ACI 0x20
#define MODE2 0x40
#define MODE_ID_FIXED 0x8A /* bit 7 and the ID 0xA */
#define ALT1_PMCE 0x10
#define ALT1_CMCE 0x20
#define ST_PI 0x10
#define ST_CI 0x20
#define ST_TI 0x40
#define ST_IRQS (ST_PI | ST_CI | ST_TI)

static const uint8_t reg_defaults[NREGS] = {
	[2] = 0x88, [3] = 0x88, [4] = 0x88, [5] = 0x88, [6] = 0x80, [7] = 0x80,
	[I_IFACE] = IF_ACAL, [I_MODE_ID] = MODE_ID_FIXED, [18] = 0x88, [19] = 0x88,
	[I_VERSION] = CS4231A_VERSION, [26] = 0xA0,
};

/* Bits a guest write keeps (reserved bits read 0). I11, I12 (but MODE2),
 * I24 and I25 are handled on their own; I22, I27 and I29 are reserved. */
static const uint8_t reg_masks[NREGS] = {
	0xEF, 0xEF, 0x9F, 0x9F, 0x9F, 0x9F, 0xBF, 0xBF, /* I0-I7: gains, mutes */
	0xFF, 0xCF, 0xCA, 0x00, MODE2, 0xFD, 0xFF, 0xFF, /* I8-I15 */
	0xFF, 0x09, 0x9F, 0x9F, 0xFF, 0xFF, 0x00, 0x01, /* I16-I23 */
	0x0F, 0x00, 0xEF, 0x00, 0xFF, 0x00, 0xFF, 0xFF, /* I24-I31 */
};

struct cs4231a {
	pthread_mutex_t lock;
	struct cs4231a_config cfg;
	struct io_bus *pio;
	struct io_region io;
	struct i8237 *dma;
	bool claimed;
	struct irq_line irq;
	struct audio_voice *voice;

	uint8_t index;          /* R0 as written: MCE, TRD, IA4-0 */
	uint8_t regs[NREGS];
	uint16_t play_count;    /* the current count: samples to the interrupt - 1 */
	uint16_t cap_count;     /* capture's (loaded from I30:I31; its DMA request is not wired) */
	uint8_t part_len;       /* bytes of the sample in flight the channel gave so far */
	uint8_t part[FRAME_MAX];
	bool aci;               /* autocalibration shows in I11 until read once */
	bool dreq;              /* the DMA request line as the card drives it */
};

/* ---- formats ----------------------------------------------------------------- */

/* Dividers of the crystal by I8 bits 3-1 (CFS). */
static const uint16_t dividers[8] = { 3072, 1536, 896, 768, 448, 384, 512, 2560 };
#define XTAL1_HZ 24576000u
#define XTAL2_HZ 16934400u

uint32_t cs4231a_rate(uint8_t reg)
{
	uint32_t xtal = (reg & FMT_XTAL2) ? XTAL2_HZ : XTAL1_HZ;
	uint32_t div = dividers[(reg >> FMT_CFS_SHIFT) & 7];

	return (xtal + div / 2) / div;
}

bool cs4231a_decode_format(uint8_t reg, bool mode2, struct audio_format *out)
{
	unsigned code = (reg >> FMT_CODE_SHIFT) & (mode2 ? 7 : 3);

	out->rate = cs4231a_rate(reg);
	out->channels = (reg & FMT_STEREO) ? 2 : 1;
	switch (code) {
	case 0: out->fmt = AUDIO_FMT_U8; return true;
	case 1: out->fmt = AUDIO_FMT_ULAW; return true;
	case 2: out->fmt = AUDIO_FMT_S16; return true;
	case 3: out->fmt = AUDIO_FMT_ALAW; return true;
	case 6: out->fmt = AUDIO_FMT_S16BE; return true;
	default: return false; /* 5: IMA ADPCM; 4, 7: reserved */
	}
}

static unsigned frame_bytes(const struct audio_format *f)
{
	return f->channels * audio_fmt_bytes(f->fmt);
}

/* The byte that is silence in a format (16-bit: both bytes 0). */
static uint8_t silence_byte(enum audio_fmt f)
{
	switch (f) {
	case AUDIO_FMT_U8: return 0x80;
	case AUDIO_FMT_ULAW: return 0xFF;
	case AUDIO_FMT_ALAW: return 0xD5;
	default: return 0x00;
	}
}

static bool mode2(const struct cs4231a *s)
{
	return s->regs[I_MODE_ID] & MODE2;
}

/* The indexed register R1 reaches: mode 1 has only I0-I15. */
static unsigned cur_index(const struct cs4231a *s)
{
	return s->index & (mode2(s) ? 0x1F : 0x0F);
}

/* ---- what runs ------------------------------------------------------------------ */

enum xfer { XFER_NONE, XFER_PLAY, XFER_CAPTURE };

/* Playback while PEN (DMA mode); otherwise capture through the one channel
 * when SDC routes it there. Under the lock. */
static enum xfer active_xfer(const struct cs4231a *s, struct audio_format *fmt)
{
	uint8_t ifc = s->regs[I_IFACE];

	if ((ifc & IF_PEN) && !(ifc & IF_PPIO))
		return cs4231a_decode_format(s->regs[I_FORMAT], mode2(s), fmt) ? XFER_PLAY
									     : XFER_NONE;
	if ((ifc & IF_CEN) && !(ifc & IF_CPIO) && (ifc & IF_SDC)) {
		/* mode 2 has the capture format in I28, with I8's clock */
		uint8_t reg = mode2(s) ? (uint8_t)((s->regs[I_CAP_FORMAT] & FMT_DATA_BITS) |
						   (s->regs[I_FORMAT] & 0x0F))
				       : s->regs[I_FORMAT];
		return cs4231a_decode_format(reg, mode2(s), fmt) ? XFER_CAPTURE : XFER_NONE;
	}
	return XFER_NONE;
}

static bool int_pending(const struct cs4231a *s)
{
	return s->regs[I_ALT_STATUS] & ST_IRQS;
}

/* Under the lock, after anything that changes what runs or the interrupt
 * state: the IRQ pin and the DMA request follow. */
static void update(struct cs4231a *s)
{
	struct audio_format fmt;
	bool active = active_xfer(s, &fmt) != XFER_NONE;
	bool want = active && !((s->index & R0_TRD) && int_pending(s)); /* TRD: none while INT */

	if (!active)
		s->part_len = 0; /* a sample in flight ends with its transfer */

	irq_set(&s->irq, int_pending(s) && (s->regs[I_PIN] & PIN_IEN));
	if (want != s->dreq) {
		s->dreq = want;
		if (s->dma)
			i8237_set_dreq(s->dma, s->cfg.dma, want);
		if (want && s->voice)
			audio_voice_kick(s->voice);
	}
}

/* 'n' samples went through; the sample after zero interrupts and reloads
 * the count from the base registers. n never passes that sample. */
static void count_samples(struct cs4231a *s, size_t n)
{
	if (!n)
		return;
	if (n > s->play_count) {
		s->regs[I_ALT_STATUS] |= ST_PI;
		s->play_count = (uint16_t)(s->regs[I_PLAY_UPPER] << 8 | s->regs[I_PLAY_LOWER]);
		update(s);
	} else {
		s->play_count -= (uint16_t)n;
	}
}

/* Moves up to 'frames' whole samples between buf and memory through the
 * channel, interrupting at each count expiry. The bytes of a sample the
 * channel gave only in part (terminal count without auto-init, a masked
 * channel) wait in s->part for the rest. Returns the samples moved. */
static size_t move_samples(struct cs4231a *s, uint8_t *buf, size_t frames, unsigned fb,
			   enum i8237_dir dir)
{
	size_t done = 0;

	if (s->part_len >= fb)
		s->part_len = 0; /* never more than a sample of the format in flight */
	while (done < frames && s->dreq) {
		size_t n = MIN(frames - done, (size_t)s->play_count + 1);
		uint8_t *p = buf + done * fb;
		size_t want = n * fb - s->part_len;

		if (dir == I8237_FROM_MEMORY)
			memcpy(p, s->part, s->part_len);
		size_t got = i8237_transfer(s->dma, s->cfg.dma, p + s->part_len, want, dir, NULL);
		size_t have = s->part_len + got, whole = have / fb;
		s->part_len = (uint8_t)(have % fb);
		if (dir == I8237_FROM_MEMORY)
			memcpy(s->part, p + whole * fb, s->part_len);
		done += whole;
		count_samples(s, whole);
		if (!got)
			break; /* the channel does not serve: starved */
	}
	return done;
}

/* The audio backend's step (loop thread): the samples this step is worth. */
static void fill(void *opaque, struct audio_request *req)
{
	struct cs4231a *s = opaque;
	struct audio_format fmt;

	pthread_mutex_lock(&s->lock);
	enum xfer x = active_xfer(s, &fmt);
	if (x == XFER_NONE) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	size_t frames = audio_request_frames(req, &fmt);
	unsigned fb = frame_bytes(&fmt);
	uint8_t *buf = audio_request_buffer(req);
	size_t done = 0;

	if (x == XFER_CAPTURE) /* nothing at the inputs: silence into memory */
		memset(buf, silence_byte(fmt.fmt), frames * fb);
	if (s->dreq && s->dma)
		done = move_samples(s, buf, frames, fb,
				    x == XFER_PLAY ? I8237_FROM_MEMORY : I8237_TO_MEMORY);
	if (x == XFER_PLAY) {
		/* Starved (the channel masked or not programmed, or TRD): the
		 * DAC underruns and plays silence meanwhile. */
		memset(buf + done * fb, silence_byte(fmt.fmt), (frames - done) * fb);
		audio_request_done(req, frames);
	} else {
		audio_request_done(req, 0); /* recording plays nothing: the step paced it */
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- registers ------------------------------------------------------------------- */

static uint8_t indexed_read(struct cs4231a *s)
{
	unsigned i = cur_index(s);
	uint8_t v = s->regs[i];

	if (i == I_ERROR) {
		v = (uint8_t)((s->dreq ? ERR_DRS : 0) | (s->aci ? ERR_ACI : 0));
		s->aci = false;
	}
	return v;
}

/* A write to a format register: all of it under MCE, the data format bits
 * (7-4) under PMCE/CMCE, nothing otherwise. */
static void format_write(struct cs4231a *s, unsigned i, uint8_t v, uint8_t alt_enable)
{
	uint8_t old = s->regs[i];

	if (s->index & R0_MCE)
		s->regs[i] = v;
	else if (s->regs[I_ALT1] & alt_enable)
		s->regs[i] = (uint8_t)((v & FMT_DATA_BITS) | (old & ~FMT_DATA_BITS));
	if (s->regs[i] != old)
		s->part_len = 0; /* a sample in flight is of the old format */
}

static void indexed_write(struct cs4231a *s, uint8_t v)
{
	unsigned i = cur_index(s);

	switch (i) {
	case I_FORMAT:
		format_write(s, i, v, ALT1_PMCE);
		break;
	case I_CAP_FORMAT:
		format_write(s, i, v, ALT1_CMCE);
		break;
	case I_IFACE: {
		uint8_t keep = (s->index & R0_MCE) ? reg_masks[i] : IF_ANYTIME;
		uint8_t old = s->regs[i];
		s->regs[i] = (uint8_t)((old & ~keep) | (v & keep));
		if ((old ^ s->regs[i]) & (IF_PEN | IF_CEN | IF_PPIO | IF_CPIO | IF_SDC))
			s->part_len = 0;
		break;
	}
	case I_ALT_STATUS:
		/* writing 0 clears an interrupt bit; 1 leaves it */
		s->regs[i] &= (uint8_t)(v | ~ST_IRQS);
		break;
	case I_PLAY_UPPER:
		s->regs[i] = v;
		s->play_count = (uint16_t)(v << 8 | s->regs[I_PLAY_LOWER]);
		break;
	case I_CAP_UPPER:
		s->regs[i] = v;
		s->cap_count = (uint16_t)(v << 8 | s->regs[I_CAP_LOWER]);
		break;
	case I_MODE_ID:
		if ((s->regs[i] ^ v) & MODE2)
			s->part_len = 0; /* capture's format moves between I28 and I8 */
		s->regs[i] = (uint8_t)(MODE_ID_FIXED | (v & MODE2));
		break;
	case I_ERROR:
	case I_VERSION:
		break; /* read only */
	default:
		s->regs[i] = v & reg_masks[i];
		break;
	}
	update(s);
}

static void index_write(struct cs4231a *s, uint8_t v)
{
	/* Leaving mode change with ACAL set calibrates: I11 ACI shows it. */
	if ((s->index & R0_MCE) && !(v & R0_MCE) && (s->regs[I_IFACE] & IF_ACAL))
		s->aci = true;
	s->index = v & (R0_MCE | R0_TRD | R0_INDEX);
	update(s);
}

/* R2: INT, and the PIO handshake bits of a direction in PIO mode (PIO
 * transfers are not modelled: the playback side always takes, the capture
 * side always has silence). */
static uint8_t status_read(const struct cs4231a *s)
{
	uint8_t ifc = s->regs[I_IFACE], v = int_pending(s) ? R2_INT : 0;

	if ((ifc & IF_PEN) && (ifc & IF_PPIO))
		v |= R2_PRDY | R2_PLR | R2_PUL;
	if ((ifc & IF_CEN) && (ifc & IF_CPIO))
		v |= R2_CRDY | R2_CLR | R2_CUL;
	return v;
}

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	struct cs4231a *s = opaque;
	uint8_t v = 0xFF;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case R_INDEX:
		v = s->index; /* INIT clear: never initializing */
		break;
	case R_DATA:
		v = indexed_read(s);
		break;
	case R_STATUS:
		v = status_read(s);
		break;
	case R_PIO: {
		struct audio_format f;
		bool ok = cs4231a_decode_format(s->regs[mode2(s) ? I_CAP_FORMAT : I_FORMAT],
						mode2(s), &f);
		v = ok ? silence_byte(f.fmt) : 0x80;
		break;
	}
	}
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void port_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct cs4231a *s = opaque;
	uint8_t v = (uint8_t)value;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case R_INDEX:
		index_write(s, v);
		break;
	case R_DATA:
		indexed_write(s, v);
		break;
	case R_STATUS:
		s->regs[I_ALT_STATUS] &= (uint8_t)~ST_IRQS; /* any write clears INT */
		update(s);
		break;
	case R_PIO:
		break; /* PIO playback is not modelled: the byte is dropped */
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops cs4231a_ops = { .read = port_read, .write = port_write,
					   .min_size = 1, .max_size = 1 };

/* ---- saved state ---------------------------------------------------------------- */

void cs4231a_save(struct cs4231a *s, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "cs4231a", instance, CS4231A_STATE_VERSION);
	ss_put_u8(w, "index", s->index);
	ss_put_bytes(w, "regs", s->regs, sizeof(s->regs));
	ss_put_u16(w, "play_count", s->play_count);
	ss_put_u16(w, "cap_count", s->cap_count);
	ss_put_u8(w, "part_len", s->part_len);
	ss_put_bytes(w, "part", s->part, sizeof(s->part));
	ss_put_bool(w, "aci", s->aci);
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

/* Values no sequence of port writes could leave. */
static const char *bad_state(const struct cs4231a *n)
{
	if (n->index & R0_INIT)
		return "index register";
	for (unsigned i = 0; i < NREGS; i++) {
		uint8_t v = n->regs[i];
		bool ok;
		switch (i) {
		case I_ERROR: ok = v == 0; break;
		case I_MODE_ID: ok = (v & ~MODE2) == MODE_ID_FIXED; break;
		case I_VERSION: ok = v == CS4231A_VERSION; break;
		case I_ALT_STATUS: ok = !(v & ~(ST_IRQS | 0x0F)); break;
		default: ok = !(v & ~reg_masks[i]); break;
		}
		if (!ok)
			return "indexed register";
	}
	struct audio_format f;
	if (n->part_len && (n->part_len >= FRAME_MAX || active_xfer(n, &f) == XFER_NONE ||
			    n->part_len >= frame_bytes(&f)))
		return "partial sample";
	return NULL;
}

bool cs4231a_load(struct cs4231a *s, struct ss_reader *r, uint32_t instance)
{
	struct cs4231a n;

	memset(&n, 0, sizeof(n));
	if (!ss_section_open(r, "cs4231a", instance, 1, CS4231A_STATE_VERSION, NULL))
		return false;
	ss_get_u8(r, "index", &n.index);
	ss_get_bytes(r, "regs", n.regs, sizeof(n.regs));
	ss_get_u16(r, "play_count", &n.play_count);
	ss_get_u16(r, "cap_count", &n.cap_count);
	ss_get_u8(r, "part_len", &n.part_len);
	ss_get_bytes(r, "part", n.part, sizeof(n.part));
	ss_get_bool(r, "aci", &n.aci);
	if (!ss_section_close(r))
		return false;
	const char *bad = bad_state(&n);
	if (bad)
		return ss_fail(r, "saved state: cs4231a %u: invalid %s", instance, bad);

	pthread_mutex_lock(&s->lock);
	s->index = n.index;
	memcpy(s->regs, n.regs, sizeof(s->regs));
	s->play_count = n.play_count;
	s->cap_count = n.cap_count;
	s->part_len = n.part_len;
	memcpy(s->part, n.part, sizeof(s->part));
	s->aci = n.aci;
	update(s); /* the DMA request and the IRQ pin as the registers say */
	pthread_mutex_unlock(&s->lock);
	return true;
}

/* ---- life cycle ------------------------------------------------------------------ */

void cs4231a_reset(struct cs4231a *s)
{
	pthread_mutex_lock(&s->lock);
	s->index = R0_MCE; /* the codec comes out of reset in mode change */
	memcpy(s->regs, reg_defaults, sizeof(s->regs));
	s->play_count = s->cap_count = 0;
	s->part_len = 0;
	s->aci = false;
	update(s);
	pthread_mutex_unlock(&s->lock);
}

static int check_config(const struct cs4231a_config *c, char *err, size_t errlen)
{
	if (c->iobase & 3 || c->iobase < 0x100 || c->iobase > 0xFFC)
		return set_err(err, errlen, "cs4231a: iobase=%#x: expected a multiple of 4 from "
			       "0x100 to 0xffc (WSS cards: 0x534, 0x608, 0xe84, 0xf44)", c->iobase);
	if (c->irq != 5 && c->irq != 7 && c->irq != 9 && c->irq != 10 && c->irq != 11)
		return set_err(err, errlen, "cs4231a: irq=%u: the card takes 5, 7, 9, 10 or 11",
			       c->irq);
	if (c->dma != 0 && c->dma != 1 && c->dma != 3)
		return set_err(err, errlen, "cs4231a: dma=%u: the card takes 0, 1 or 3 (8-bit "
			       "channels; 2 is the floppy's)", c->dma);
	return 0;
}

struct cs4231a *cs4231a_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq,
			       struct audio_backend *audio, const struct cs4231a_config *cfg,
			       char *err, size_t errlen)
{
	if (check_config(cfg, err, errlen) < 0)
		return NULL;
	struct cs4231a *s = xzalloc(sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->cfg = *cfg;
	s->pio = pio;
	s->irq = irq;
	io_region_init(&s->io, "cs4231a", &cs4231a_ops, s, CS4231A_PORTS);
	if (bus_map(pio, &s->io, cfg->iobase) < 0) {
		set_err(err, errlen, "cs4231a: ports %#x-%#x overlap another device", cfg->iobase,
			cfg->iobase + CS4231A_PORTS - 1);
		cs4231a_destroy(s);
		return NULL;
	}
	if (dma) {
		if (i8237_claim(dma, cfg->dma, NULL, NULL) < 0) {
			set_err(err, errlen, "cs4231a: DMA channel %u is taken by another device",
				cfg->dma);
			cs4231a_destroy(s);
			return NULL;
		}
		s->dma = dma;
		s->claimed = true;
	}
	if (audio)
		s->voice = audio_voice_add(audio, "cs4231a", fill, s);
	cs4231a_reset(s);
	return s;
}

void cs4231a_destroy(struct cs4231a *s)
{
	if (!s)
		return;
	audio_voice_remove(s->voice);
	if (s->io.mapped)
		bus_unmap(s->pio, &s->io);
	if (s->claimed)
		i8237_release(s->dma, s->cfg.dma);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the device table's entry ----------------------------------------------------- */

static const struct dev_prop cs4231a_props[] = {
	{ .name = "iobase", .type = PROP_UINT, .def = "0x534", .min = 0, .max = 0xFFFF,
	  .help = "base I/O port of the codec (0x534 on a WSS card)" },
	{ .name = "irq", .type = PROP_UINT, .def = "9", .min = 0, .max = 15,
	  .help = "ISA interrupt: 5, 7, 9, 10 or 11" },
	{ .name = "dma", .type = PROP_UINT, .def = "3", .min = 0, .max = 7,
	  .help = "8-bit DMA channel: 0, 1 or 3" },
	{ .name = "audiodev", .type = PROP_AUDIODEV,
	  .help = "the -audiodev it plays through (none: silent)" },
};

static struct cs4231a_config config_of(const struct dev_instance *d)
{
	return (struct cs4231a_config){
		.iobase = (uint16_t)dev_get_uint(d, "iobase"),
		.irq = (unsigned)dev_get_uint(d, "irq"),
		.dma = (unsigned)dev_get_uint(d, "dma"),
	};
}

/* An ISA sound card's interrupt (2 is 9 on the AT bus). */
static unsigned card_irq(const struct dev_instance *o)
{
	unsigned irq = (unsigned)dev_get_uint(o, "irq");
	return irq == 2 ? 9 : irq;
}

/* Another ISA sound card on our interrupt or DMA channel: an ISA line
 * cannot be shared by two cards that both interrupt on edges, and a DMA
 * channel serves one device. One line naming the other card. */
static int check_other_cards(const struct dev_instance *d, const struct cs4231a_config *c,
			     const struct dev_instance *devs, unsigned ndevs, char *err,
			     size_t errlen)
{
	for (unsigned i = 0; i < ndevs; i++) {
		const struct dev_instance *o = &devs[i];
		bool sb16 = !strcmp(o->cls->name, "sb16");
		if (o == d || (!sb16 && o->cls != d->cls))
			continue;
		if (card_irq(o) == c->irq)
			return set_err(err, errlen, "cs4231a: irq=%u is taken by %s (ISA sound "
				       "cards do not share an interrupt)", c->irq, o->cls->name);
		if (dev_get_uint(o, "dma") == c->dma || (sb16 && dev_get_uint(o, "dma16") == c->dma))
			return set_err(err, errlen, "cs4231a: DMA channel %u is taken by %s",
				       c->dma, o->cls->name);
	}
	return 0;
}

/* Before anything starts: values the card does not take are one line
 * (the other cards' resources are checked at creation, which sees the
 * whole list; overlapping ports are found when they are mapped). */
static int cs4231a_check_dev(struct dev_instance *d, struct machine_config *mc, char *err,
			     size_t errlen)
{
	struct cs4231a_config cfg = config_of(d);
	return check_config(&cfg, err, errlen);
}

static int cs4231a_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			      size_t errlen)
{
	struct cs4231a_config cfg = config_of(d);
	struct audio_backend *audio = NULL;
	const char *id = dev_get_str(d, "audiodev");

	if (check_other_cards(d, &cfg, b->devs, b->ndevs, err, errlen) < 0)
		return -1; /* before the audiodev opens (a wav file) */
	if (b->audiodev && !(audio = b->audiodev(b, id, err, errlen)))
		return -1;
	d->state = cs4231a_create(b->pio, b->dma, b->isa_irq(b, cfg.irq), audio, &cfg, err,
				  errlen);
	return d->state ? 0 : -1;
}

static void cs4231a_reset_dev(struct dev_instance *d)
{
	cs4231a_reset(d->state);
}

static void cs4231a_destroy_dev(struct dev_instance *d)
{
	cs4231a_destroy(d->state);
}

DEV_STATE_OPS(cs4231a, struct cs4231a)

const struct dev_class cs4231a_class = {
	.name = "cs4231a",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_SOUND,
	.desc = "Crystal Semiconductor CS4231A",
	.props = cs4231a_props,
	.nprops = ARRAY_SIZE(cs4231a_props),
	.ops = { .create = cs4231a_create_dev, .reset = cs4231a_reset_dev,
		 .destroy = cs4231a_destroy_dev, .save = cs4231a_save_dev,
		 .load = cs4231a_load_dev, .check = cs4231a_check_dev },
};
