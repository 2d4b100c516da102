// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * NS16550A UART, written from the datasheet's register description.
 * See include/hw/serial.h for the host-side model (instant transmit,
 * FIFO-bounded receive).
 */
#include "hw/serial.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

/* Register offsets. */
enum { R_RBR_THR = 0, R_IER = 1, R_IIR_FCR = 2, R_LCR = 3, R_MCR = 4, R_LSR = 5,
       R_MSR = 6, R_SCR = 7 };

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NONE    0x01
#define IIR_MSR     0x00
#define IIR_THRE    0x02
#define IIR_RDA     0x04
#define IIR_LSR     0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_PE   0x04
#define LSR_FE   0x08
#define LSR_BI   0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

struct serial {
	pthread_mutex_t lock;
	struct io_region region;
	struct irq_line irq;
	serial_write_fn write;
	void *opaque;
	void (*rx_ready)(void *opaque);
	void *rx_ready_opaque;

	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	uint8_t lsr_err;      /* latched OE/PE/FE/BI, cleared by reading LSR */
	uint8_t msr;          /* lines (high nibble) + deltas (low nibble) */
	bool thr_ipending;    /* THRE interrupt pending */
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	int irq_level;
};

static unsigned rx_capacity(const struct serial *s)
{
	return (s->fcr & FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct serial *s)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return (s->fcr & FCR_ENABLE) ? levels[s->fcr >> 6] : 1;
}

/* Highest-priority pending interrupt identification (IIR bits 3:0). */
static uint8_t pending_id(const struct serial *s)
{
	if ((s->ier & IER_ELSI) && s->lsr_err)
		return IIR_LSR;
	if ((s->ier & IER_ERBFI) && s->rx_count) {
		/* No real character timer: data below the trigger level is
		 * reported as a timeout straight away. */
		return s->rx_count >= rx_trigger(s) ? IIR_RDA : IIR_TIMEOUT;
	}
	if ((s->ier & IER_ETBEI) && s->thr_ipending)
		return IIR_THRE;
	if ((s->ier & IER_EDSSI) && (s->msr & 0x0f))
		return IIR_MSR;
	return IIR_NONE;
}

static void update_irq(struct serial *s)
{
	int level = pending_id(s) != IIR_NONE;
	if (level != s->irq_level) {
		s->irq_level = level;
		irq_set(&s->irq, level);
	}
}

static void rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count >= rx_capacity(s)) {
		s->lsr_err |= LSR_OE; /* the new character is lost */
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = b;
	s->rx_count++;
}

static void rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* Recomputes the modem status lines from MCR (loopback) or the fixed
 * "cable connected" state, accumulating delta bits. */
static void update_msr(struct serial *s)
{
	uint8_t lines;
	if (s->mcr & MCR_LOOP) {
		lines = (s->mcr & MCR_RTS ? MSR_CTS : 0) | (s->mcr & MCR_DTR ? MSR_DSR : 0) |
			(s->mcr & MCR_OUT1 ? MSR_RI : 0) | (s->mcr & MCR_OUT2 ? MSR_DCD : 0);
	} else {
		lines = MSR_CTS | MSR_DSR | MSR_DCD;
	}
	uint8_t old = s->msr & 0xf0, changed = old ^ lines;
	uint8_t delta = s->msr & 0x0f;
	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	if ((old & MSR_RI) && !(lines & MSR_RI))
		delta |= MSR_TERI;
	s->msr = lines | delta;
}

static void reset_locked(struct serial *s)
{
	s->ier = 0;
	s->lcr = 0;
	s->mcr = 0;
	s->scr = 0;
	s->fcr = 0;
	s->dll = 0x0c; /* 9600 baud, as a BIOS would leave it */
	s->dlm = 0;
	s->lsr_err = 0;
	s->msr = MSR_CTS | MSR_DSR | MSR_DCD;
	s->thr_ipending = false;
	rx_clear(s);
	s->irq_level = 0;
	irq_lower(&s->irq);
}

static uint64_t serial_read(void *opaque, uint64_t offset, unsigned size)
{
	struct serial *s = opaque;
	uint8_t v = 0xff;
	bool notify = false;

	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case R_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
		} else if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
			s->rx_count--;
			notify = !(s->mcr & MCR_LOOP);
		} else {
			v = 0;
		}
		break;
	case R_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case R_IIR_FCR: {
		uint8_t id = pending_id(s);
		if (id == IIR_THRE)
			s->thr_ipending = false; /* reading IIR acknowledges THRE */
		v = id | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
		break;
	}
	case R_LCR:
		v = s->lcr;
		break;
	case R_MCR:
		v = s->mcr;
		break;
	case R_LSR:
		v = (s->rx_count ? LSR_DR : 0) | s->lsr_err | LSR_THRE | LSR_TEMT;
		s->lsr_err = 0;
		break;
	case R_MSR:
		v = s->msr;
		s->msr &= 0xf0;
		break;
	case R_SCR:
		v = s->scr;
		break;
	}
	update_irq(s);
	void (*cb)(void *) = s->rx_ready;
	void *cb_opaque = s->rx_ready_opaque;
	pthread_mutex_unlock(&s->lock);
	if (notify && cb)
		cb(cb_opaque);
	return v;
}

static void serial_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct serial *s = opaque;
	uint8_t v = (uint8_t)value;
	bool notify = false;

	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case R_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP)
			rx_push(s, v);
		else if (s->write)
			s->write(s->opaque, &v, 1);
		/* Sent at once: THR is empty again. */
		s->thr_ipending = true;
		break;
	case R_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			uint8_t old = s->ier;
			s->ier = v & 0x0f;
			/* Enabling ETBEI with THR empty raises THRE at once. */
			if ((s->ier & IER_ETBEI) && !(old & IER_ETBEI))
				s->thr_ipending = true;
		}
		break;
	case R_IIR_FCR: {
		uint8_t old = s->fcr;
		uint8_t nfcr = (v & FCR_ENABLE) ? (v & (FCR_ENABLE | 0xc0)) : 0;
		if ((old ^ nfcr) & FCR_ENABLE) {
			rx_clear(s); /* toggling the FIFO mode clears both FIFOs */
			notify = true;
		}
		if (v & FCR_CLEAR_RX) {
			rx_clear(s);
			notify = true;
		}
		/* FCR_CLEAR_TX: the transmitter is always empty already. */
		s->fcr = nfcr;
		break;
	}
	case R_LCR:
		s->lcr = v;
		break;
	case R_MCR: {
		bool was_loop = s->mcr & MCR_LOOP;
		s->mcr = v & 0x1f;
		update_msr(s);
		if (was_loop && !(s->mcr & MCR_LOOP))
			notify = true;
		break;
	}
	case R_LSR:
	case R_MSR:
		break; /* read-only (factory test registers) */
	case R_SCR:
		s->scr = v;
		break;
	}
	update_irq(s);
	notify = notify && !(s->mcr & MCR_LOOP);
	void (*cb)(void *) = s->rx_ready;
	void *cb_opaque = s->rx_ready_opaque;
	pthread_mutex_unlock(&s->lock);
	if (notify && cb)
		cb(cb_opaque);
}

static const struct io_ops serial_ops = {
	.read = serial_read, .write = serial_write, .min_size = 1, .max_size = 1,
};

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	if (!(s->mcr & MCR_LOOP)) {
		while (n < len && s->rx_count < rx_capacity(s))
			rx_push(s, buf[n++]);
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_break(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	if (!(s->mcr & MCR_LOOP)) {
		/* 16550: a break loads one zero character into the receiver,
		 * with BI (an interrupt through the line status, IER bit 2) */
		rx_push(s, 0);
		s->lsr_err |= LSR_BI;
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
}

size_t serial_rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = (s->mcr & MCR_LOOP) ? 0 : rx_capacity(s) - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_set_rx_ready_cb(struct serial *s, void (*cb)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->rx_ready = cb;
	s->rx_ready_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

struct serial *serial_create(struct irq_line irq, serial_write_fn write, void *opaque)
{
	struct serial *s = xzalloc(sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->irq = irq;
	s->write = write;
	s->opaque = opaque;
	io_region_init(&s->region, "serial", &serial_ops, s, 8);
	reset_locked(s);
	return s;
}

int serial_map(struct serial *s, struct io_bus *pio, uint16_t base)
{
	return bus_map(pio, &s->region, base);
}

void serial_reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	reset_locked(s);
	void (*cb)(void *) = s->rx_ready;
	void *cb_opaque = s->rx_ready_opaque;
	pthread_mutex_unlock(&s->lock);
	if (cb)
		cb(cb_opaque);
}

/* Saved state: the registers and the receive FIFO's contents, oldest
 * first (the ring's head position is not guest-visible). Transmission is
 * instantaneous, so nothing is ever in flight. The IRQ level is not saved:
 * it follows from the registers and is driven again after a load. */
#define SERIAL_STATE_VERSION 1

void serial_save(struct serial *s, struct ss_writer *w, uint32_t instance)
{
	uint8_t rx[SERIAL_FIFO_SIZE];

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->rx_count; i++)
		rx[i] = s->rx[(s->rx_head + i) % SERIAL_FIFO_SIZE];
	ss_section_begin(w, "serial", instance, SERIAL_STATE_VERSION);
	ss_put_u8(w, "ier", s->ier);
	ss_put_u8(w, "lcr", s->lcr);
	ss_put_u8(w, "mcr", s->mcr);
	ss_put_u8(w, "scr", s->scr);
	ss_put_u8(w, "fcr", s->fcr);
	ss_put_u8(w, "dll", s->dll);
	ss_put_u8(w, "dlm", s->dlm);
	ss_put_u8(w, "lsr_err", s->lsr_err);
	ss_put_u8(w, "msr", s->msr);
	ss_put_bool(w, "thr_ipending", s->thr_ipending);
	ss_put_bytes(w, "rx", rx, s->rx_count);
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

bool serial_load(struct serial *s, struct ss_reader *r, uint32_t instance)
{
	struct serial t; /* the registers only: checked before they replace s's */
	size_t rx_len = 0;

	if (!ss_section_open(r, "serial", instance, 1, SERIAL_STATE_VERSION, NULL))
		return false;
	ss_get_u8(r, "ier", &t.ier);
	ss_get_u8(r, "lcr", &t.lcr);
	ss_get_u8(r, "mcr", &t.mcr);
	ss_get_u8(r, "scr", &t.scr);
	ss_get_u8(r, "fcr", &t.fcr);
	ss_get_u8(r, "dll", &t.dll);
	ss_get_u8(r, "dlm", &t.dlm);
	ss_get_u8(r, "lsr_err", &t.lsr_err);
	ss_get_u8(r, "msr", &t.msr);
	ss_get_bool(r, "thr_ipending", &t.thr_ipending);
	ss_get_bytes_max(r, "rx", t.rx, sizeof(t.rx), &rx_len);
	if (!ss_section_close(r))
		return false;
	/* Values the guest could never have produced are refused. */
	if ((t.ier & ~0x0f) || (t.mcr & ~0x1f) || (t.lsr_err & ~LSR_ERRS) ||
	    (t.fcr & ~(FCR_ENABLE | 0xc0)) || (!(t.fcr & FCR_ENABLE) && t.fcr))
		return ss_fail(r, "saved state: serial %u: invalid register values", instance);
	if (rx_len > ((t.fcr & FCR_ENABLE) ? SERIAL_FIFO_SIZE : 1))
		return ss_fail(r, "saved state: serial %u: %zu bytes in a %s receiver", instance,
			       rx_len, (t.fcr & FCR_ENABLE) ? "16-byte" : "1-byte");

	pthread_mutex_lock(&s->lock);
	s->ier = t.ier, s->lcr = t.lcr, s->mcr = t.mcr, s->scr = t.scr, s->fcr = t.fcr;
	s->dll = t.dll, s->dlm = t.dlm, s->lsr_err = t.lsr_err, s->msr = t.msr;
	s->thr_ipending = t.thr_ipending;
	memcpy(s->rx, t.rx, rx_len);
	s->rx_head = 0;
	s->rx_count = (unsigned)rx_len;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}
