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

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}
