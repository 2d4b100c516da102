// SPDX-License-Identifier: GPL-2.0-or-later
/* 16550A UART driven through the I/O bus at COM1, and COM1-COM4 together. */
#include "unit.h"
#include "bus_access.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "hw/serial.h"
#include "irq.h"
#include "isa_irq.h"
#include "savestate.h"

#define COM1 0x3f8

struct fx {
	struct io_bus bus;
	struct serial *s;
	_Atomic int level, raises;
	uint8_t out[256];
	size_t nout;
	_Atomic int ready_calls;
};

static void set_irq(void *opaque, unsigned line, int level)
{
	struct fx *x = opaque;
	assert_int_equal(line, 4);
	if (level && !x->level)
		x->raises++;
	x->level = level;
}

static void tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fx *x = opaque;
	for (size_t i = 0; i < len && x->nout < sizeof(x->out); i++)
		x->out[x->nout++] = buf[i];
}

static void rx_ready(void *opaque)
{
	struct fx *x = opaque;
	x->ready_calls++;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	bus_init(&x->bus, "pio");
	x->s = serial_create((struct irq_line){ set_irq, x, 4 }, tx, x);
	serial_set_rx_ready_cb(x->s, rx_ready, x);
	assert_int_equal(serial_map(x->s, &x->bus, COM1), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	serial_destroy(x->s);
	bus_destroy(&x->bus);
	free(x);
	return 0;
}

static void outb(struct fx *x, uint16_t port, uint8_t v) { bus_wr(&x->bus, port, v, 1); }
static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->bus, port, 1); }

static void test_seabios_detect(void **state)
{
	struct fx *x = *state;
	outb(x, COM1 + 1, 0x02);
	assert_int_equal(inb(x, COM1 + 1), 0x02);
	assert_int_equal(inb(x, COM1 + 2) & 0x3f, 0x02);
	outb(x, COM1 + 1, 0x00);
	/* Absent COM2 reads all-ones. */
	assert_int_equal(inb(x, 0x2f8 + 1), 0xff);
	/* LSR: transmitter empty, no data. */
	assert_int_equal(inb(x, COM1 + 5), 0x60);
	/* MSR: CTS, DSR, DCD. */
	assert_int_equal(inb(x, COM1 + 6) & 0xf0, 0xb0);
	/* IER holds only 4 bits; scratch holds 8. */
	outb(x, COM1 + 1, 0xff);
	assert_int_equal(inb(x, COM1 + 1), 0x0f);
	outb(x, COM1 + 1, 0);
	outb(x, COM1 + 7, 0x5a);
	assert_int_equal(inb(x, COM1 + 7), 0x5a);
}

static void test_tx(void **state)
{
	struct fx *x = *state;
	const char *msg = "Hello";
	for (const char *p = msg; *p; p++) {
		while (!(inb(x, COM1 + 5) & 0x20))
			;
		outb(x, COM1, (uint8_t)*p);
	}
	assert_int_equal(x->nout, 5);
	assert_memory_equal(x->out, msg, 5);
	assert_int_equal(x->level, 0); /* no interrupts enabled */
}

static void test_dlab(void **state)
{
	struct fx *x = *state;
	outb(x, COM1 + 3, 0x80);
	outb(x, COM1 + 0, 0x01);
	outb(x, COM1 + 1, 0x02);
	assert_int_equal(inb(x, COM1 + 0), 0x01);
	assert_int_equal(inb(x, COM1 + 1), 0x02);
	outb(x, COM1 + 3, 0x03);
	assert_int_equal(inb(x, COM1 + 3), 0x03);
	/* DLL write did not transmit, DLM write did not touch IER. */
	assert_int_equal(x->nout, 0);
	assert_int_equal(inb(x, COM1 + 1), 0x00);
	outb(x, COM1 + 3, 0x83);
	assert_int_equal(inb(x, COM1 + 0), 0x01);
	assert_int_equal(inb(x, COM1 + 1), 0x02);
}

static void test_rx_fifo(void **state)
{
	struct fx *x = *state;
	uint8_t data[20];
	for (int i = 0; i < 20; i++)
		data[i] = (uint8_t)('a' + i);

	/* FIFOs off: a single holding register. */
	assert_int_equal(serial_rx_space(x->s), 1);
	assert_int_equal(serial_receive(x->s, data, 20), 1);
	assert_int_equal(inb(x, COM1 + 5) & 0x01, 0x01);
	assert_int_equal(inb(x, COM1), 'a');
	assert_int_equal(x->ready_calls, 1);
	assert_int_equal(inb(x, COM1 + 5) & 0x01, 0);

	/* FIFOs on: 16 bytes; IIR shows FIFO bits. */
	outb(x, COM1 + 2, 0xc7);
	assert_int_equal(inb(x, COM1 + 2) & 0xc0, 0xc0);
	assert_int_equal(serial_receive(x->s, data, 20), 16);
	assert_int_equal(serial_receive(x->s, data, 20), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(inb(x, COM1 + 5) & 0x01, 0x01);
		assert_int_equal(inb(x, COM1), 'a' + i);
	}
	assert_int_equal(inb(x, COM1 + 5) & 0x03, 0); /* no data, no overrun */

	/* FCR clear RX. */
	assert_int_equal(serial_receive(x->s, data, 3), 3);
	int before = x->ready_calls;
	outb(x, COM1 + 2, 0xc3);
	assert_int_equal(inb(x, COM1 + 5) & 0x01, 0);
	assert_int_equal(x->ready_calls, before + 1);
	assert_int_equal(serial_rx_space(x->s), 16);
}

static void test_rx_irq(void **state)
{
	struct fx *x = *state;
	uint8_t b[8] = "12345678";

	outb(x, COM1 + 1, 0x01); /* ERBFI */
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 2), 0x01);
	serial_receive(x->s, b, 1);
	assert_int_equal(x->level, 1);
	assert_int_equal(inb(x, COM1 + 2), 0x04);
	assert_int_equal(inb(x, COM1), '1');
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 2), 0x01);

	/* FIFO with trigger level 4: below it, a timeout indication (0x0C);
	 * at it, received data available (0x04). */
	outb(x, COM1 + 2, 0x41);
	serial_receive(x->s, b, 2);
	assert_int_equal(inb(x, COM1 + 2), 0xcc);
	serial_receive(x->s, b + 2, 2);
	assert_int_equal(inb(x, COM1 + 2), 0xc4);
	assert_int_equal(x->level, 1);
	for (int i = 0; i < 4; i++)
		inb(x, COM1);
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 2), 0xc1);
}

static void test_thre_irq(void **state)
{
	struct fx *x = *state;
	/* Enabling ETBEI with THR empty raises THRE. */
	outb(x, COM1 + 1, 0x02);
	assert_int_equal(x->level, 1);
	/* Reading IIR reports it once and clears it. */
	assert_int_equal(inb(x, COM1 + 2), 0x02);
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 2), 0x01);
	/* Writing THR: the byte leaves at once and THRE is pending again. */
	outb(x, COM1, 'x');
	assert_int_equal(x->level, 1);
	assert_int_equal(inb(x, COM1 + 2), 0x02);
	assert_int_equal(x->level, 0);
	/* Re-enabling ETBEI re-raises it (Linux start_tx). */
	outb(x, COM1 + 1, 0x00);
	outb(x, COM1 + 1, 0x02);
	assert_int_equal(x->level, 1);
	/* Disabling ETBEI drops the line. */
	outb(x, COM1 + 1, 0x00);
	assert_int_equal(x->level, 0);

	/* Priority: RX data beats THRE; THRE shows after RX is drained. */
	outb(x, COM1 + 1, 0x03);
	uint8_t c = 'q';
	serial_receive(x->s, &c, 1);
	assert_int_equal(inb(x, COM1 + 2), 0x04);
	assert_int_equal(inb(x, COM1), 'q');
	assert_int_equal(inb(x, COM1 + 2), 0x02);
	assert_int_equal(inb(x, COM1 + 2), 0x01);
	assert_int_equal(x->level, 0);
}

static void test_loopback(void **state)
{
	struct fx *x = *state;
	inb(x, COM1 + 6); /* clear deltas */
	/* Linux's probe: MCR = LOOP | OUT2 | RTS, MSR high nibble = DCD | CTS. */
	outb(x, COM1 + 4, 0x1a);
	assert_int_equal(inb(x, COM1 + 6) & 0xf0, 0x90);
	outb(x, COM1 + 4, 0x1f);
	assert_int_equal(inb(x, COM1 + 6) & 0xf0, 0xf0);
	/* RI trailing edge and CTS change -> TERI, DCTS. */
	outb(x, COM1 + 4, 0x19);
	uint8_t msr = inb(x, COM1 + 6);
	assert_int_equal(msr & 0xf0, 0xa0);
	assert_int_equal(msr & 0x0f, 0x05);
	assert_int_equal(inb(x, COM1 + 6) & 0x0f, 0); /* deltas cleared */

	/* TX loops back to RX, nothing reaches the backend. */
	outb(x, COM1, 'L');
	assert_int_equal(x->nout, 0);
	assert_int_equal(inb(x, COM1 + 5) & 0x01, 0x01);
	assert_int_equal(inb(x, COM1), 'L');
	/* Host input is refused in loopback. */
	uint8_t c = 'h';
	assert_int_equal(serial_receive(x->s, &c, 1), 0);

	/* Modem status interrupt from a delta. */
	outb(x, COM1 + 1, 0x08);
	assert_int_equal(x->level, 0);
	outb(x, COM1 + 4, 0x1b); /* RTS -> CTS change */
	assert_int_equal(x->level, 1);
	assert_int_equal(inb(x, COM1 + 2), 0x00);
	inb(x, COM1 + 6);
	assert_int_equal(x->level, 0);
	outb(x, COM1 + 1, 0x00);

	/* Leaving loopback: lines asserted again, output flows. */
	outb(x, COM1 + 4, 0x0b);
	assert_int_equal(inb(x, COM1 + 6) & 0xf0, 0xb0);
	outb(x, COM1, 'o');
	assert_int_equal(x->nout, 1);
	assert_int_equal(serial_receive(x->s, &c, 1), 1);
}

static void test_overrun(void **state)
{
	struct fx *x = *state;
	outb(x, COM1 + 4, 0x10);
	outb(x, COM1 + 1, 0x04); /* ELSI */
	outb(x, COM1, 'A');
	outb(x, COM1, 'B'); /* holding register full: B is lost */
	assert_int_equal(x->level, 1);
	assert_int_equal(inb(x, COM1 + 2), 0x06);
	uint8_t lsr = inb(x, COM1 + 5);
	assert_int_equal(lsr & 0x03, 0x03);
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 5) & 0x02, 0); /* OE cleared by the read */
	assert_int_equal(inb(x, COM1), 'A');

	/* FIFO mode: the 17th byte overruns. */
	outb(x, COM1 + 2, 0x01);
	for (int i = 0; i < 17; i++)
		outb(x, COM1, (uint8_t)i);
	assert_int_equal(inb(x, COM1 + 5) & 0x03, 0x03);
	for (int i = 0; i < 16; i++)
		assert_int_equal(inb(x, COM1), i);
	assert_int_equal(inb(x, COM1 + 5) & 0x01, 0);
}

static void test_reset(void **state)
{
	struct fx *x = *state;
	outb(x, COM1 + 1, 0x02);
	outb(x, COM1 + 3, 0x03);
	assert_int_equal(x->level, 1);
	serial_reset(x->s);
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 1), 0);
	assert_int_equal(inb(x, COM1 + 3), 0);
	assert_int_equal(inb(x, COM1 + 2), 0x01);
}

#define STREAM_LEN 20000

static void *feeder(void *arg)
{
	struct fx *x = arg;
	uint8_t buf[37];
	unsigned sent = 0;
	while (sent < STREAM_LEN) {
		unsigned n = 0;
		while (n < sizeof(buf) && sent + n < STREAM_LEN) {
			buf[n] = (uint8_t)((sent + n) * 31 + 7);
			n++;
		}
		size_t took = serial_receive(x->s, buf, n);
		sent += (unsigned)took;
		if (!took) {
			struct timespec ts = { 0, 10000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Host input from another thread while the "guest" drains RBR: every byte
 * arrives once, in order, with no overrun. */
static void test_threaded_rx(void **state)
{
	struct fx *x = *state;
	outb(x, COM1 + 2, 0x81); /* FIFO, trigger 8 */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, feeder, x), 0);
	unsigned got = 0;
	while (got < STREAM_LEN) {
		uint8_t lsr = inb(x, COM1 + 5);
		assert_int_equal(lsr & 0x02, 0);
		if (lsr & 0x01) {
			assert_int_equal(inb(x, COM1), (uint8_t)(got * 31 + 7));
			got++;
		}
	}
	pthread_join(t, NULL);
	assert_int_equal(inb(x, COM1 + 5) & 0x01, 0);
	assert_true(x->ready_calls >= 1);
}

static void save_to(struct serial *s, struct ss_writer *w)
{
	ss_writer_init(w);
	serial_save(s, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Save, load into a fresh UART, save again: the same bytes; and the new
 * UART behaves as the old one would: divisor, IER, LCR, scratch, FIFO
 * contents in order (after the ring had wrapped), the IRQ raised again. */
static void test_save_load(void **state)
{
	struct fx *x = *state, *y;
	struct ss_writer w1, w2;
	struct ss_reader r;

	outb(x, COM1 + 3, 0x80); /* DLAB */
	outb(x, COM1 + 0, 0x01); /* 115200 */
	outb(x, COM1 + 1, 0x00);
	outb(x, COM1 + 3, 0x1b); /* 8E1 */
	outb(x, COM1 + 2, 0x81); /* FIFO on, trigger 8 */
	outb(x, COM1 + 7, 0x5a);
	outb(x, COM1 + 1, 0x05); /* ERBFI | ELSI */
	for (int round = 0; round < 3; round++) { /* move the ring's head */
		assert_int_equal(serial_receive(x->s, (const uint8_t *)"abcdefghij", 10), 10);
		for (int i = 0; i < 10; i++)
			inb(x, COM1);
	}
	assert_int_equal(serial_receive(x->s, (const uint8_t *)"0123456789ABC", 13), 13);
	inb(x, COM1); /* '0' */
	assert_int_equal(x->level, 1);
	save_to(x->s, &w1);

	setup((void **)&y);
	assert_int_equal(y->level, 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(serial_load(y->s, &r, 0));
	ss_reader_close(&r);
	assert_int_equal(y->level, 1); /* data waiting, ERBFI on */
	save_to(y->s, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	assert_int_equal(inb(y, COM1 + 1), 0x05);
	assert_int_equal(inb(y, COM1 + 3), 0x1b);
	assert_int_equal(inb(y, COM1 + 7), 0x5a);
	assert_int_equal(inb(y, COM1 + 2) & 0xcf, 0xc4); /* FIFOs on, RDA (12 >= 8) */
	outb(y, COM1 + 3, 0x9b);
	assert_int_equal(inb(y, COM1 + 0), 0x01);
	assert_int_equal(inb(y, COM1 + 1), 0x00);
	outb(y, COM1 + 3, 0x1b);
	char got[13] = { 0 };
	for (int i = 0; i < 12; i++) {
		assert_true(inb(y, COM1 + 5) & 0x01);
		got[i] = (char)inb(y, COM1);
	}
	assert_string_equal(got, "123456789ABC");
	assert_false(inb(y, COM1 + 5) & 0x01);
	assert_int_equal(y->level, 0);
	assert_int_equal(serial_rx_space(y->s), 16);

	teardown((void **)&y);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

/* Out-of-range values in a well-formed stream: refused, device unchanged. */
static void test_load_refuses(void **state)
{
	struct fx *x = *state;
	struct ss_writer w;
	struct ss_reader r;
	uint8_t big[16] = { 0 };

	outb(x, COM1 + 7, 0x77);
	ss_writer_init(&w);
	ss_section_begin(&w, "serial", 0, 1);
	static const char *regs[] = { "ier", "lcr", "mcr", "scr", "fcr", "dll", "dlm",
				      "lsr_err", "msr" };
	for (unsigned i = 0; i < 9; i++)
		ss_put_u8(&w, regs[i], i == 3 ? 0x11 : 0);
	ss_put_bool(&w, "thr_ipending", false);
	ss_put_bytes(&w, "rx", big, 2); /* two bytes with the FIFO off */
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(serial_load(x->s, &r, 0));
	assert_non_null(strstr(r.err, "2 bytes in a 1-byte receiver"));
	ss_reader_close(&r);
	assert_int_equal(inb(x, COM1 + 7), 0x77);
	ss_writer_free(&w);
}

/* ---- COM1-COM4 on one bus and one ISA IRQ router -------------------------- */

struct pc_ports;
struct port_sink {
	struct pc_ports *pc;
	unsigned n;
};

struct pc_ports {
	struct io_bus bus;
	struct isa_irq router;
	int line[ISA_IRQ_LINES]; /* what the router drives */
	struct serial *com[4];
	uint8_t out[4][8];
	size_t nout[4];
	struct port_sink sink[4]; /* each UART's backend */
};

static const uint16_t com_base[4] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };
static const unsigned com_irq[4] = { 4, 3, 4, 3 };

static void router_out(void *opaque, unsigned gsi, int level)
{
	struct pc_ports *pc = opaque;
	pc->line[gsi] = level;
}


static void port_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct port_sink *k = opaque;
	for (size_t i = 0; i < len && k->pc->nout[k->n] < sizeof(k->pc->out[0]); i++)
		k->pc->out[k->n][k->pc->nout[k->n]++] = buf[i];
}

static struct pc_ports *pc_ports_new(void)
{
	struct pc_ports *pc = calloc(1, sizeof(*pc));
	bus_init(&pc->bus, "pio");
	isa_irq_init(&pc->router, router_out, pc, NULL, NULL); /* NULL: level lines */
	for (unsigned i = 0; i < 4; i++) {
		struct irq_line l;
		assert_int_equal(isa_irq_claim(&pc->router, com_irq[i], &l), 0);
		pc->sink[i] = (struct port_sink){ pc, i };
		pc->com[i] = serial_create(l, port_tx, &pc->sink[i]);
		assert_int_equal(serial_map(pc->com[i], &pc->bus, com_base[i]), 0);
	}
	return pc;
}

static void pc_ports_free(struct pc_ports *pc)
{
	for (unsigned i = 0; i < 4; i++)
		serial_destroy(pc->com[i]);
	isa_irq_destroy(&pc->router);
	bus_destroy(&pc->bus);
	free(pc);
}

static void pc_out(struct pc_ports *pc, uint16_t port, uint8_t v) { bus_wr(&pc->bus, port, v, 1); }
static uint8_t pc_in(struct pc_ports *pc, uint16_t port) { return (uint8_t)bus_rd(&pc->bus, port, 1); }

/* Four UARTs at QEMU's COM1-COM4 places: each transmits on its own
 * backend; COM1 and COM3 share IRQ 4 (COM2 and COM4 IRQ 3) through the
 * router, each on its own input, so one lowering its request leaves the
 * line up while the other still asks. */
static void test_four_ports_share_irq_lines(void **state)
{
	struct pc_ports *pc = pc_ports_new();

	for (unsigned i = 0; i < 4; i++)
		pc_out(pc, com_base[i], (uint8_t)('1' + i));
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pc->nout[i], 1);
		assert_int_equal(pc->out[i][0], '1' + i);
	}
	for (unsigned i = 0; i < 4; i++)
		pc_in(pc, com_base[i] + 2); /* acknowledge the THRE those left */

	/* COM1 and COM3 both ask (ETBEI with THR empty). */
	pc_out(pc, 0x3f8 + 1, 0x02);
	pc_out(pc, 0x3e8 + 1, 0x02);
	assert_int_equal(pc->line[4], 1);
	assert_int_equal(isa_irq_level(&pc->router, 4), 1);
	assert_int_equal(pc->line[3], 0);
	/* COM1 stops asking: the line stays up for COM3. */
	pc_out(pc, 0x3f8 + 1, 0x00);
	assert_int_equal(pc->line[4], 1);
	assert_int_equal(pc_in(pc, 0x3e8 + 2) & 0x0f, 0x02); /* COM3: THRE (and acknowledged) */
	assert_int_equal(pc->line[4], 0);

	/* IRQ 3: COM4 asks, COM2 asks and is reset; COM4 still holds it. */
	pc_out(pc, 0x2e8 + 1, 0x02);
	pc_out(pc, 0x2f8 + 1, 0x02);
	assert_int_equal(pc->line[3], 1);
	serial_reset(pc->com[1]);
	assert_int_equal(pc->line[3], 1);
	assert_int_equal(pc_in(pc, 0x2f8 + 1), 0x00); /* COM2's IER cleared, COM4's kept */
	assert_int_equal(pc_in(pc, 0x2e8 + 1), 0x02);
	pc_out(pc, 0x2e8 + 1, 0x00);
	assert_int_equal(pc->line[3], 0);
	assert_int_equal(pc->line[4], 0);
	pc_ports_free(pc);
}

/* The machine saves each UART as its own instance of section "serial":
 * four in one stream load back into four fresh UARTs, each its own. */
static void test_four_ports_save_load(void **state)
{
	struct pc_ports *a = pc_ports_new(), *b;
	struct ss_writer w1, w2;
	struct ss_reader r;

	for (unsigned i = 0; i < 4; i++)
		pc_out(a, com_base[i] + 7, (uint8_t)(0xa0 + i)); /* scratch */
	pc_out(a, 0x3e8 + 1, 0x02); /* COM3 asks for IRQ 4 */
	assert_int_equal(serial_receive(a->com[3], (const uint8_t *)"x", 1), 1);
	ss_writer_init(&w1);
	for (unsigned i = 0; i < 4; i++)
		serial_save(a->com[i], &w1, i);
	assert_int_equal(ss_writer_finish(&w1), 0);
	pc_ports_free(a);

	b = pc_ports_new();
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_true(serial_load(b->com[i], &r, i));
	ss_reader_close(&r);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pc_in(b, com_base[i] + 7), 0xa0 + i);
	assert_int_equal(b->line[4], 1); /* driven again after the load */
	assert_int_equal(b->line[3], 0);
	assert_true(pc_in(b, 0x2e8 + 5) & 0x01); /* COM4's byte, COM4's only */
	assert_false(pc_in(b, 0x3f8 + 5) & 0x01);
	ss_writer_init(&w2);
	for (unsigned i = 0; i < 4; i++)
		serial_save(b->com[i], &w2, i);
	assert_int_equal(ss_writer_finish(&w2), 0);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
	pc_ports_free(b);
}

/* Ctrl-A b: a break is one zero character with LSR BI, an interrupt when
 * the line status interrupt is on (IIR 0x06), BI cleared by reading LSR. */
static void test_break(void **state)
{
	struct fx *x = *state;

	outb(x, COM1 + 1, 0x04); /* ELSI */
	serial_break(x->s);
	assert_int_equal(x->level, 1);
	assert_int_equal(inb(x, COM1 + 2) & 0x0f, 0x06);
	assert_int_equal(inb(x, COM1 + 5), 0x60 | 0x10 | 0x01); /* THRE TEMT BI DR */
	assert_int_equal(x->level, 0);
	assert_int_equal(inb(x, COM1 + 5), 0x61); /* BI read once */
	assert_int_equal(inb(x, COM1), 0x00);
	assert_int_equal(inb(x, COM1 + 5), 0x60);
	/* loopback: the line is the transmitter's, no break from outside */
	outb(x, COM1 + 4, 0x10);
	serial_break(x->s);
	assert_int_equal(inb(x, COM1 + 5), 0x60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seabios_detect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_break, setup, teardown),
		cmocka_unit_test(test_four_ports_share_irq_lines),
		cmocka_unit_test(test_four_ports_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
