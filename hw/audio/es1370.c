// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Ensoniq AudioPCI ES1370 (-device ES1370): two DACs and an ADC that move
 * their samples by PCI bus mastering, the AK4531 codec's write port and a
 * UART with nothing attached (see include/hw/es1370.h for the registers).
 *
 * Facts from the ES1370 register descriptions and Linux's snd-ens1370
 * (how a driver programs it): the frame registers sit behind the memory
 * page register (page 0xC the DACs', 0xD the ADC's), a frame size counts
 * longwords - 1 with the current longword in its high half, a sample
 * count counts samples - 1 with the samples left in its high half, the
 * DAC2/ADC rate is 1411200 / (PCLKDIV + 2), DAC1's is one of four fixed
 * rates, a driver acknowledges an interrupt by clearing and setting its
 * enable bit in the serial control register, and the codec's busy bit is
 * polled before each codec write.
 *
 * Choices where the register descriptions are silent, for a hostile guest:
 * - A frame size whose current longword lies past the buffer's end
 *   restarts at the buffer's start (it cannot run past it).
 * - A frame that a mid-stream format change leaves straddling the
 *   buffer's end is dropped: the channel wraps to the start.
 * - A buffer outside guest RAM reads as all ones (a PCI master abort);
 *   the ADC's writes there are dropped.
 * - With bus mastering off in the PCI command register, or a clock the
 *   card does not have (the MPEG clocks, M_SBB and M_CB), a channel does
 *   not advance.
 * - Rates outside what the audio layer takes (AUDIO_RATE_MIN..MAX: a
 *   PCLKDIV below 5 or above 1409) run at the nearest bound.
 * - Stop mode stops the channel at the end of its sample count; it plays
 *   nothing until the guest enables it again (or writes its sample
 *   count). "Hold the last sample" (P2_DAC_SEN) is a constant level: it
 *   is silent too.
 * - The codec's levels are stored, not applied.
 *
 * Threads: vCPUs access the registers; the audio backend's step (the event
 * loop's thread) runs the channels. One lock covers the card.
 */
#include "hw/es1370.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bus.h"
#include "device.h"
#include "guest_mem.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"

#define ES1370_STATE_VERSION 1
#define ES1370_CLASS 0x040100 /* multimedia, audio */
#define PCI_MIN_GNT 0x3E
#define PCI_MAX_LAT 0x3F
#define PCI_STATUS_DEVSEL_MEDIUM 0x0200

/* Registers (offsets in the I/O BAR). */
#define REG_CONTROL 0x00
#define REG_STATUS 0x04
#define REG_UART 0x08 /* data, status/control, test: one byte each */
#define REG_MEM_PAGE 0x0C
#define REG_CODEC 0x10
#define REG_SERIAL 0x20
#define REG_COUNT_DAC1 0x24 /* DAC2 0x28, ADC 0x2C */
#define REG_MEM 0x30

#define CTL_ADC_STOP (1u << 31)
#define CTL_PCLKDIV_SHIFT 16
#define CTL_PCLKDIV_MASK 0x1FFFu
#define CTL_M_SBB (1u << 14)
#define CTL_WTSRSEL_SHIFT 12
#define CTL_DAC_SYNC (1u << 11)
#define CTL_M_CB (1u << 9)
#define CTL_DAC1_EN (1u << 6)
#define CTL_DAC2_EN (1u << 5)
#define CTL_ADC_EN (1u << 4)
#define CTL_UART_EN (1u << 3)
#define CTL_RESET_VALUE 0x00000001u /* SERR# disabled */

#define STAT_INTR (1u << 31)
#define STAT_VC_UNDEFINED (3u << 5) /* no CCB voice interrupted */
#define STAT_UART (1u << 3)
#define STAT_DAC1 (1u << 2)
#define STAT_DAC2 (1u << 1)
#define STAT_ADC (1u << 0)

#define UART_TXINT 0x04
#define UART_TXRDY 0x02
#define UART_TXINTEN_MASK 0x60
#define UART_TXINTEN_ON 0x20
#define UART_CNTRL_MASK 0x03
#define UART_CNTRL_RESET 0x03

#define SER_WMASK 0x003FFFFFu
#define SER_R1_LOOP_SEL (1u << 15)
#define SER_P2_LOOP_SEL (1u << 14)
#define SER_P1_LOOP_SEL (1u << 13)
#define SER_P2_PAUSE (1u << 12)
#define SER_P1_PAUSE (1u << 11)
#define SER_R1_INT_EN (1u << 10)
#define SER_P2_INT_EN (1u << 9)
#define SER_P1_INT_EN (1u << 8)
#define SER_P1_SCT_RLD (1u << 7)
#define SER_R1_MODE_SHIFT 4
#define SER_P2_MODE_SHIFT 2
#define SER_P1_MODE_SHIFT 0
#define MODE_STEREO 1u
#define MODE_16BIT 2u

#define NSEC 1000000000ull
#define SILENCE_CHUNK 256 /* bytes of silence the ADC writes at a time */

#define PAGE_DAC 0xC
#define PAGE_ADC 0xD
#define CODEC_REGS 0x20

enum chan_id { DAC1, DAC2, ADC, NCHAN };

/* What distinguishes the three channels. */
struct chan_bits {
	const char *name;
	const char *scount, *leftover, *stopped; /* saved-state fields */
	uint32_t enable, pause, loop_sel, int_en, status;
	unsigned mode_shift;
	unsigned page, lw; /* where its frame address is (its size: lw + 1) */
};

static const struct chan_bits chan_bits[NCHAN] = {
	[DAC1] = { "es1370.dac1", "dac1.scount", "dac1.leftover", "dac1.stopped", CTL_DAC1_EN, SER_P1_PAUSE, SER_P1_LOOP_SEL, SER_P1_INT_EN,
		   STAT_DAC1, SER_P1_MODE_SHIFT, PAGE_DAC, 0 },
	[DAC2] = { "es1370.dac2", "dac2.scount", "dac2.leftover", "dac2.stopped", CTL_DAC2_EN, SER_P2_PAUSE, SER_P2_LOOP_SEL, SER_P2_INT_EN,
		   STAT_DAC2, SER_P2_MODE_SHIFT, PAGE_DAC, 2 },
	[ADC] = { "es1370.adc", "adc.scount", "adc.leftover", "adc.stopped", CTL_ADC_EN, 0, SER_R1_LOOP_SEL, SER_R1_INT_EN, STAT_ADC,
		  SER_R1_MODE_SHIFT, PAGE_ADC, 0 },
};

static const uint32_t dac1_rates[4] = { 5512, 11025, 22050, 44100 };

struct es1370_chan {
	uint32_t scount;   /* the sample count register */
	uint8_t leftover;  /* bytes of the current longword already moved (0-3) */
	bool stopped;      /* stop mode: the count ran out */
	struct audio_voice *voice;
	/* ADC: frames owed, in units of 1/NSEC frame (the step's time times
	 * the rate); not saved, as output in flight is not. */
	uint64_t owed;
};

struct es1370 {
	struct pci_device pci;
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	struct audio_backend *audio; /* NULL: no voices */
	bool quiesced;

	uint32_t ctrl, sctrl;
	uint32_t irq_status;        /* STAT_DAC1 | STAT_DAC2 | STAT_ADC */
	uint8_t uart_ctrl, uart_test;
	uint8_t mem_page;
	uint32_t codec;             /* the last codec write (reads back) */
	uint8_t codec_regs[CODEC_REGS];
	uint32_t memory[16][4];     /* the pages behind 0x30-0x3F */
	struct es1370_chan chan[NCHAN];
};

/* ---- interrupts (under the lock) ------------------------------------------ */

static bool uart_irq(const struct es1370 *s)
{
	/* Nothing is attached: the transmitter is always ready, so its
	 * interrupt is pending whenever it is enabled. */
	return (s->ctrl & CTL_UART_EN) && (s->uart_ctrl & UART_TXINTEN_MASK) == UART_TXINTEN_ON;
}

static uint32_t status_value(const struct es1370 *s)
{
	uint32_t v = s->irq_status | STAT_VC_UNDEFINED;

	if (uart_irq(s))
		v |= STAT_UART;
	if (v & (STAT_UART | STAT_DAC1 | STAT_DAC2 | STAT_ADC))
		v |= STAT_INTR;
	return v;
}

static void update_irq(struct es1370 *s)
{
	pci_set_irq(&s->pci, (status_value(s) & STAT_INTR) ? 1 : 0);
}

/* ---- channels (under the lock) -------------------------------------------- */

static unsigned chan_mode(const struct es1370 *s, enum chan_id c)
{
	return (s->sctrl >> chan_bits[c].mode_shift) & 3;
}

static unsigned frame_bytes(unsigned mode)
{
	return ((mode & MODE_16BIT) ? 2u : 1u) * ((mode & MODE_STEREO) ? 2u : 1u);
}

static uint32_t *frame_addr_reg(struct es1370 *s, enum chan_id c)
{
	return &s->memory[chan_bits[c].page][chan_bits[c].lw];
}

static uint32_t *frame_size_reg(struct es1370 *s, enum chan_id c)
{
	return &s->memory[chan_bits[c].page][chan_bits[c].lw + 1];
}

/* The channel's sample rate; 0: its clock is one the card does not have. */
static uint32_t chan_rate(const struct es1370 *s, enum chan_id c)
{
	uint32_t dac1 = dac1_rates[(s->ctrl >> CTL_WTSRSEL_SHIFT) & 3];
	uint32_t pclk = ES1370_CLOCK / (((s->ctrl >> CTL_PCLKDIV_SHIFT) & CTL_PCLKDIV_MASK) + 2);

	switch (c) {
	case DAC1:
		return dac1;
	case DAC2:
		if (s->ctrl & CTL_DAC_SYNC)
			return dac1;
		return (s->ctrl & CTL_M_SBB) ? 0 : pclk;
	default:
		return (s->ctrl & CTL_M_CB) ? 0 : pclk;
	}
}

/* Whether the channel moves samples now. */
static bool chan_running(const struct es1370 *s, enum chan_id c)
{
	const struct chan_bits *b = &chan_bits[c];

	if (s->quiesced || !(s->ctrl & b->enable) || (s->sctrl & b->pause) || s->chan[c].stopped)
		return false;
	if (c == ADC && (s->ctrl & CTL_ADC_STOP))
		return false;
	if (!(pci_get_word(&s->pci, PCI_COMMAND) & PCI_COMMAND_MASTER))
		return false;
	return chan_rate(s, c) != 0;
}

static void kick_voices(struct es1370 *s)
{
	for (unsigned c = 0; c < NCHAN; c++)
		if (s->chan[c].voice && chan_running(s, c))
			audio_voice_kick(s->chan[c].voice);
}

/* The sample count ran out: interrupt, reload, and stop in stop mode. */
static void count_done(struct es1370 *s, enum chan_id c)
{
	const struct chan_bits *b = &chan_bits[c];
	struct es1370_chan *ch = &s->chan[c];
	uint32_t count = ch->scount & 0xFFFF;

	ch->scount = count << 16 | count;
	if (s->sctrl & b->int_en) {
		s->irq_status |= b->status;
		update_irq(s);
	}
	if (s->sctrl & b->loop_sel)
		ch->stopped = true;
}

/* What the ADC records: nothing is plugged in, so the centre of unsigned
 * 8-bit samples or zero of signed 16-bit ones. Dropped outside RAM. */
static void write_silence(struct es1370 *s, uint64_t gpa, size_t len)
{
	uint8_t silence[SILENCE_CHUNK];

	memset(silence, (chan_mode(s, ADC) & MODE_16BIT) ? 0x00 : 0x80, sizeof(silence));
	for (size_t off = 0; off < len; off += sizeof(silence))
		guest_write(s->mem, gpa + off, silence, MIN(sizeof(silence), len - off));
}

/* Moves up to 'frames' frames from the channel's buffer in guest memory to
 * 'buf' (the ADC: silence into its buffer; buf unused); returns how many
 * moved (fewer: stop mode stopped it). */
static size_t run_chan(struct es1370 *s, enum chan_id c, uint8_t *buf, size_t frames)
{
	struct es1370_chan *ch = &s->chan[c];
	unsigned fb = frame_bytes(chan_mode(s, c));
	size_t done = 0;

	while (done < frames && !ch->stopped) {
		uint32_t *size_reg = frame_size_reg(s, c);
		uint32_t buf_bytes = ((*size_reg & 0xFFFF) + 1) * 4;
		uint32_t pos = (*size_reg >> 16) * 4 + ch->leftover;

		if (pos + fb > buf_bytes)
			pos = 0; /* past the end (a hostile count or format change) */
		size_t n = MIN(frames - done, (size_t)(buf_bytes - pos) / fb);
		n = MIN(n, (size_t)(ch->scount >> 16) + 1);
		uint64_t gpa = (uint64_t)*frame_addr_reg(s, c) + pos;
		if (c == ADC) {
			write_silence(s, gpa, n * fb);
		} else if (!guest_read(s->mem, gpa, buf + done * fb, n * fb)) {
			memset(buf + done * fb, 0xFF, n * fb); /* master abort */
		}
		pos += (uint32_t)(n * fb);
		if (pos >= buf_bytes)
			pos = 0;
		*size_reg = (pos / 4) << 16 | (*size_reg & 0xFFFF);
		ch->leftover = (uint8_t)(pos % 4);
		done += n;
		uint32_t left = (ch->scount >> 16) + 1 - (uint32_t)n;
		if (left)
			ch->scount = (left - 1) << 16 | (ch->scount & 0xFFFF);
		else
			count_done(s, c);
	}
	return done;
}

static struct audio_format chan_format(const struct es1370 *s, enum chan_id c)
{
	unsigned mode = chan_mode(s, c);

	return (struct audio_format){ .rate = chan_rate(s, c),
				      .channels = (mode & MODE_STEREO) ? 2 : 1,
				      .fmt = (mode & MODE_16BIT) ? AUDIO_FMT_S16 : AUDIO_FMT_U8 };
}

/* The ADC's frames in this step: its rate times the step's span of
 * virtual time (recording gives the mixer nothing, so the mixer's count
 * of frames taken cannot pace it). At most a second's worth: after a
 * stall the time beyond is dropped, as the backend drops it. */
static size_t adc_frames_due(struct es1370 *s, const struct audio_request *req, uint32_t rate)
{
	struct es1370_chan *ch = &s->chan[ADC];
	int64_t t0, t1;

	audio_request_window(req, &t0, &t1);
	if (t1 > t0)
		ch->owed += (uint64_t)MIN(t1 - t0, (int64_t)NSEC) * rate;
	size_t n = (size_t)(ch->owed / NSEC);
	ch->owed %= NSEC;
	return MIN(n, (size_t)rate);
}

/* The audio backend's step (loop thread): the frames it is worth. */
static void fill_chan(struct es1370 *s, enum chan_id c, struct audio_request *req)
{
	pthread_mutex_lock(&s->lock);
	if (!chan_running(s, c)) {
		s->chan[c].owed = 0;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct audio_format fmt = chan_format(s, c);
	if (c == ADC) {
		/* Recording plays nothing. The request (in the backend's own
		 * format, which the mixer takes as is: no frame of silence)
		 * keeps the backend's clock running for it. */
		struct audio_format out = *audio_backend_format(s->audio);
		audio_request_frames(req, &out);
		uint32_t rate = MIN(MAX(fmt.rate, (uint32_t)AUDIO_RATE_MIN), (uint32_t)AUDIO_RATE_MAX);
		run_chan(s, c, NULL, adc_frames_due(s, req, rate));
		audio_request_done(req, 0);
	} else {
		size_t frames = audio_request_frames(req, &fmt); /* may clamp the rate */
		audio_request_done(req, run_chan(s, c, audio_request_buffer(req), frames));
	}
	pthread_mutex_unlock(&s->lock);
}

static void fill_dac1(void *opaque, struct audio_request *req) { fill_chan(opaque, DAC1, req); }
static void fill_dac2(void *opaque, struct audio_request *req) { fill_chan(opaque, DAC2, req); }
static void fill_adc(void *opaque, struct audio_request *req) { fill_chan(opaque, ADC, req); }

/* ---- registers (under the lock) ------------------------------------------- */

static void control_write(struct es1370 *s, uint32_t v)
{
	uint32_t was = s->ctrl;

	s->ctrl = v;
	for (unsigned c = 0; c < NCHAN; c++)
		if ((v & chan_bits[c].enable) && !(was & chan_bits[c].enable))
			s->chan[c].stopped = false; /* enabled again: stop mode starts over */
	update_irq(s); /* UART_EN gates the UART's interrupt */
}

static void serial_write(struct es1370 *s, uint32_t v)
{
	v &= SER_WMASK;
	/* A cleared enable bit acknowledges (and masks) the channel's interrupt. */
	for (unsigned c = 0; c < NCHAN; c++)
		if (!(v & chan_bits[c].int_en))
			s->irq_status &= ~chan_bits[c].status;
	if (v & SER_P1_SCT_RLD) {
		uint32_t count = s->chan[DAC1].scount & 0xFFFF;
		s->chan[DAC1].scount = count << 16 | count;
	}
	s->sctrl = v;
	update_irq(s);
}

static void count_write(struct es1370 *s, enum chan_id c, uint32_t v)
{
	uint32_t count = v & 0xFFFF;

	/* The count takes effect at once: the samples left start from it. */
	s->chan[c].scount = count << 16 | count;
	s->chan[c].stopped = false;
}

static void memory_write(struct es1370 *s, unsigned lw, uint32_t v)
{
	s->memory[s->mem_page][lw] = v;
	/* A frame size written: the channel continues at the longword it names. */
	for (unsigned c = 0; c < NCHAN; c++)
		if (s->mem_page == chan_bits[c].page && lw == chan_bits[c].lw + 1)
			s->chan[c].leftover = 0;
}

static void codec_write(struct es1370 *s, uint16_t v)
{
	s->codec = v;
	if ((v >> 8) < CODEC_REGS)
		s->codec_regs[v >> 8] = (uint8_t)v;
}

static void uart_ctrl_write(struct es1370 *s, uint8_t v)
{
	/* A software reset (control field 11) leaves the UART idle. */
	s->uart_ctrl = (v & UART_CNTRL_MASK) == UART_CNTRL_RESET ? 0 : v;
	update_irq(s);
}

static uint32_t uart_read(const struct es1370 *s)
{
	uint8_t status = UART_TXRDY | (uart_irq(s) ? UART_TXINT : 0);

	/* nothing received: the data byte reads 0 */
	return (uint32_t)status << 8 | (uint32_t)s->uart_test << 16;
}

static uint32_t reg_read(struct es1370 *s, unsigned reg)
{
	switch (reg) {
	case REG_CONTROL: return s->ctrl;
	case REG_STATUS: return status_value(s);
	case REG_UART: return uart_read(s);
	case REG_MEM_PAGE: return s->mem_page;
	case REG_CODEC: return s->codec;
	case REG_SERIAL: return s->sctrl;
	case REG_COUNT_DAC1: return s->chan[DAC1].scount;
	case REG_COUNT_DAC1 + 4: return s->chan[DAC2].scount;
	case REG_COUNT_DAC1 + 8: return s->chan[ADC].scount;
	default:
		if (reg >= REG_MEM)
			return s->memory[s->mem_page][(reg - REG_MEM) / 4];
		return 0xFFFFFFFF; /* nothing there */
	}
}

/* 'v' holds the written bytes at their place in 'mask'. */
static void reg_write(struct es1370 *s, unsigned reg, uint32_t v, uint32_t mask)
{
	uint32_t merged = (reg_read(s, reg) & ~mask) | (v & mask);

	switch (reg) {
	case REG_CONTROL:
		control_write(s, merged);
		break;
	case REG_UART:
		/* byte 0: MIDI out, nothing attached; byte 1: control; byte 2: test */
		if (mask & 0xFF00)
			uart_ctrl_write(s, (uint8_t)(v >> 8));
		if (mask & 0xFF0000)
			s->uart_test = (uint8_t)(v >> 16) & 1;
		break;
	case REG_MEM_PAGE:
		s->mem_page = merged & 0xF;
		break;
	case REG_CODEC:
		if (mask & 0xFFFF)
			codec_write(s, (uint16_t)merged);
		break;
	case REG_SERIAL:
		serial_write(s, merged);
		break;
	case REG_COUNT_DAC1:
	case REG_COUNT_DAC1 + 4:
	case REG_COUNT_DAC1 + 8:
		count_write(s, (reg - REG_COUNT_DAC1) / 4, merged);
		break;
	default:
		if (reg >= REG_MEM)
			memory_write(s, (reg - REG_MEM) / 4, merged);
		break; /* the status register and the holes: read-only */
	}
}

static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
	struct es1370 *s = opaque;

	if (off >= ES1370_IO_SIZE || off + size > ES1370_IO_SIZE)
		return 0xFFFFFFFF;
	pthread_mutex_lock(&s->lock);
	uint32_t v = reg_read(s, (unsigned)off & ~3u);
	pthread_mutex_unlock(&s->lock);
	v >>= 8 * (off & 3);
	return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct es1370 *s = opaque;

	if (off >= ES1370_IO_SIZE || off + size > ES1370_IO_SIZE)
		return;
	unsigned shift = 8 * (unsigned)(off & 3);
	uint32_t mask = (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << shift;
	pthread_mutex_lock(&s->lock);
	reg_write(s, (unsigned)off & ~3u, (uint32_t)(val << shift) & mask, mask);
	kick_voices(s);
	pthread_mutex_unlock(&s->lock);
}

/* Accesses stay within one longword (the bus splits wider and unaligned ones). */
static const struct io_ops es1370_io_ops = { .read = io_read, .write = io_write,
					     .min_size = 1, .max_size = 4 };

/* ---- life cycle ------------------------------------------------------------ */

/* Under the lock: the power-on state (the caller updates INTx). */
static void reset_state(struct es1370 *s)
{
	s->ctrl = CTL_RESET_VALUE;
	s->sctrl = 0;
	s->irq_status = 0;
	s->uart_ctrl = s->uart_test = 0;
	s->mem_page = 0;
	s->codec = 0;
	memset(s->codec_regs, 0, sizeof(s->codec_regs));
	memset(s->memory, 0, sizeof(s->memory));
	for (unsigned c = 0; c < NCHAN; c++) {
		s->chan[c].scount = 0;
		s->chan[c].leftover = 0;
		s->chan[c].stopped = false;
	}
}

void es1370_reset(struct es1370 *s)
{
	pthread_mutex_lock(&s->lock);
	reset_state(s);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void es1370_quiesce(struct es1370 *s)
{
	pthread_mutex_lock(&s->lock);
	s->quiesced = true;
	pthread_mutex_unlock(&s->lock);
}

void es1370_resume(struct es1370 *s)
{
	pthread_mutex_lock(&s->lock);
	s->quiesced = false;
	kick_voices(s);
	pthread_mutex_unlock(&s->lock);
}

struct es1370 *es1370_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			     struct audio_backend *audio)
{
	static audio_fill_fn *const fills[NCHAN] = { fill_dac1, fill_dac2, fill_adc };
	struct es1370 *s = xzalloc(sizeof(*s));
	struct pci_device *d = &s->pci;

	pthread_mutex_init(&s->lock, NULL);
	s->mem = mem;
	pci_device_init(d, "ES1370", ES1370_VENDOR, ES1370_DEVICE, ES1370_CLASS, 0);
	/* QEMU's subsystem IDs: guests that knew QEMU's card see the same one. */
	pci_set_word(d, PCI_SUBSYSTEM_VENDOR_ID, 0x4942);
	pci_set_word(d, PCI_SUBSYSTEM_ID, 0x4C4C);
	pci_set_word(d, PCI_STATUS, PCI_STATUS_DEVSEL_MEDIUM);
	d->config[PCI_MIN_GNT] = 0x0C;
	d->config[PCI_MAX_LAT] = 0x80;
	pci_device_set_bar(d, 0, PCI_BAR_IO, false, ES1370_IO_SIZE, &es1370_io_ops, s);
	pci_device_set_interrupt_pin(d, 1);
	memset(d->wmask + 0x40, 0, sizeof(d->wmask) - 0x40); /* no device-specific config */
	d->opaque = s;
	reset_state(s);
	if (pci_register(bus, d, devfn) < 0) {
		es1370_destroy(s);
		return NULL;
	}
	s->audio = audio;
	if (audio)
		for (unsigned c = 0; c < NCHAN; c++)
			s->chan[c].voice = audio_voice_add(audio, chan_bits[c].name, fills[c], s);
	return s;
}

struct pci_device *es1370_pci(struct es1370 *s)
{
	return &s->pci;
}

uint8_t es1370_codec_reg(struct es1370 *s, unsigned reg)
{
	pthread_mutex_lock(&s->lock);
	uint8_t v = reg < CODEC_REGS ? s->codec_regs[reg] : 0;
	pthread_mutex_unlock(&s->lock);
	return v;
}

void es1370_destroy(struct es1370 *s)
{
	if (!s)
		return;
	for (unsigned c = 0; c < NCHAN; c++)
		audio_voice_remove(s->chan[c].voice);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- saved state ----------------------------------------------------------- */

static void pack_memory(const uint32_t m[16][4], uint8_t out[256])
{
	for (unsigned i = 0; i < 64; i++)
		for (unsigned b = 0; b < 4; b++)
			out[4 * i + b] = (uint8_t)(m[i / 4][i % 4] >> (8 * b));
}

static void unpack_memory(const uint8_t in[256], uint32_t m[16][4])
{
	for (unsigned i = 0; i < 64; i++) {
		uint32_t v = 0;
		for (unsigned b = 0; b < 4; b++)
			v |= (uint32_t)in[4 * i + b] << (8 * b);
		m[i / 4][i % 4] = v;
	}
}

/* The configuration space, every register, and where each channel is
 * within its longword and whether stop mode stopped it. */
void es1370_save(struct es1370 *s, struct ss_writer *w, uint32_t instance)
{
	uint8_t memory[256];

	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "es1370", instance, ES1370_STATE_VERSION);
	pci_config_put(w, &s->pci);
	ss_put_u32(w, "ctrl", s->ctrl);
	ss_put_u32(w, "sctrl", s->sctrl);
	ss_put_u32(w, "irq_status", s->irq_status);
	ss_put_u8(w, "uart_ctrl", s->uart_ctrl);
	ss_put_u8(w, "uart_test", s->uart_test);
	ss_put_u8(w, "mem_page", s->mem_page);
	ss_put_u32(w, "codec", s->codec);
	ss_put_bytes(w, "codec_regs", s->codec_regs, sizeof(s->codec_regs));
	pack_memory(s->memory, memory);
	ss_put_bytes(w, "memory", memory, sizeof(memory));
	for (unsigned c = 0; c < NCHAN; c++) {
		ss_put_u32(w, chan_bits[c].scount, s->chan[c].scount);
		ss_put_u8(w, chan_bits[c].leftover, s->chan[c].leftover);
		ss_put_bool(w, chan_bits[c].stopped, s->chan[c].stopped);
	}
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

bool es1370_load(struct es1370 *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], memory[256], codec_regs[CODEC_REGS];
	uint32_t ctrl = 0, sctrl = 0, irq_status = 0, codec = 0, scount[NCHAN] = { 0 };
	uint8_t uart_ctrl = 0, uart_test = 0, mem_page = 0, leftover[NCHAN] = { 0 };
	bool stopped[NCHAN] = { false };

	memset(memory, 0, sizeof(memory));
	memset(codec_regs, 0, sizeof(codec_regs));
	if (!ss_section_open(r, "es1370", instance, 1, ES1370_STATE_VERSION, NULL))
		return false;
	pci_config_get(r, &s->pci, cfg);
	ss_get_u32(r, "ctrl", &ctrl);
	ss_get_u32(r, "sctrl", &sctrl);
	ss_get_u32(r, "irq_status", &irq_status);
	ss_get_u8(r, "uart_ctrl", &uart_ctrl);
	ss_get_u8(r, "uart_test", &uart_test);
	ss_get_u8(r, "mem_page", &mem_page);
	ss_get_u32(r, "codec", &codec);
	ss_get_bytes(r, "codec_regs", codec_regs, sizeof(codec_regs));
	ss_get_bytes(r, "memory", memory, sizeof(memory));
	for (unsigned c = 0; c < NCHAN; c++) {
		ss_get_u32(r, chan_bits[c].scount, &scount[c]);
		ss_get_u8(r, chan_bits[c].leftover, &leftover[c]);
		ss_get_bool(r, chan_bits[c].stopped, &stopped[c]);
	}
	if (!ss_section_close(r))
		return false;
	bool bad = (sctrl & ~SER_WMASK) || (irq_status & ~(STAT_DAC1 | STAT_DAC2 | STAT_ADC)) ||
		   uart_test > 1 || mem_page > 0xF || codec > 0xFFFF ||
		   (uart_ctrl & UART_CNTRL_MASK) == UART_CNTRL_RESET;
	for (unsigned c = 0; c < NCHAN; c++)
		bad = bad || leftover[c] > 3 || (scount[c] >> 16) > (scount[c] & 0xFFFF);
	if (bad)
		return ss_fail(r, "saved state: es1370 %u: a register or a channel's position is "
			       "out of range", instance);
	pci_config_apply(&s->pci, cfg);
	pthread_mutex_lock(&s->lock);
	s->ctrl = ctrl;
	s->sctrl = sctrl;
	s->irq_status = irq_status;
	s->uart_ctrl = uart_ctrl;
	s->uart_test = uart_test;
	s->mem_page = mem_page;
	s->codec = codec;
	memcpy(s->codec_regs, codec_regs, sizeof(codec_regs));
	unpack_memory(memory, s->memory);
	for (unsigned c = 0; c < NCHAN; c++) {
		s->chan[c].scount = scount[c];
		s->chan[c].leftover = leftover[c];
		s->chan[c].stopped = stopped[c];
	}
	update_irq(s);
	kick_voices(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}

/* ---- the device table's entry ---------------------------------------------- */

static const struct dev_prop es1370_props[] = {
	{ .name = "audiodev", .type = PROP_AUDIODEV,
	  .help = "the -audiodev it plays through (none: silent)" },
};

static int es1370_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			     size_t errlen)
{
	struct audio_backend *audio = NULL;

	if (b->audiodev && !(audio = b->audiodev(b, dev_get_str(d, "audiodev"), err, errlen)))
		return -1;
	d->state = es1370_create(b->pci, (uint8_t)d->devfn, b->mem, audio);
	if (!d->state)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	return 0;
}

static void es1370_reset_dev(struct dev_instance *d)
{
	es1370_reset(d->state);
}

static void es1370_quiesce_dev(struct dev_instance *d)
{
	es1370_quiesce(d->state);
}

static void es1370_resume_dev(struct dev_instance *d)
{
	es1370_resume(d->state);
}

static void es1370_destroy_dev(struct dev_instance *d)
{
	es1370_destroy(d->state);
}

DEV_STATE_OPS(es1370, struct es1370)

const struct dev_class es1370_class = {
	.name = "ES1370",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_SOUND,
	.desc = "ENSONIQ AudioPCI ES1370",
	.props = es1370_props,
	.nprops = ARRAY_SIZE(es1370_props),
	.ops = { .create = es1370_create_dev, .reset = es1370_reset_dev,
		 .quiesce = es1370_quiesce_dev, .resume = es1370_resume_dev,
		 .destroy = es1370_destroy_dev, .save = es1370_save_dev, .load = es1370_load_dev },
	/* After every device vmm placed before it had: adding a sound card
	 * does not move a guest's disks or NICs (their names follow the slot). */
	.place_rank = 5,
};
