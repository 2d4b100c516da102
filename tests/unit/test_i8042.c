// SPDX-License-Identifier: GPL-2.0-or-later
/* i8042 + PS/2 keyboard and mouse driven through ports 0x60/0x64. */
#include "unit.h"
#include "bus_access.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "hw/i8042.h"
#include "irq.h"
#include "savestate.h"

struct fx {
	struct io_bus bus;
	struct i8042 *k;
	_Atomic int level[16], raises[16];
	_Atomic int resets;
};

static void set_irq(void *opaque, unsigned line, int level)
{
	struct fx *x = opaque;
	assert_true(line == 1 || line == 12);
	if (level && !x->level[line])
		x->raises[line]++;
	x->level[line] = level;
}

static void reset_req(void *opaque)
{
	struct fx *x = opaque;
	x->resets++;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	bus_init(&x->bus, "pio");
	x->k = i8042_create((struct irq_line){ set_irq, x, 1 }, (struct irq_line){ set_irq, x, 12 },
			    reset_req, x);
	assert_int_equal(i8042_map(x->k, &x->bus), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	i8042_destroy(x->k);
	bus_destroy(&x->bus);
	free(x);
	return 0;
}

static void outb(struct fx *x, uint16_t port, uint8_t v) { bus_wr(&x->bus, port, v, 1); }
static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->bus, port, 1); }

/* Reads one byte, asserting it is there; returns it. */
static uint8_t rd(struct fx *x)
{
	assert_true(inb(x, 0x64) & 0x01);
	return inb(x, 0x60);
}
static void expect(struct fx *x, uint8_t v) { assert_int_equal(rd(x), v); }
static void expect_empty(struct fx *x) { assert_int_equal(inb(x, 0x64) & 0x01, 0); }

static void test_self_test_and_config(void **state)
{
	struct fx *x = *state;
	/* 0x61 is not ours. */
	assert_null(bus_find(&x->bus, 0x61));
	uint8_t st = inb(x, 0x64);
	assert_int_equal(st & 0x03, 0);
	outb(x, 0x64, 0xaa);
	assert_int_equal(inb(x, 0x64) & 0x08, 0x08); /* A2: last write was a command */
	expect(x, 0x55);
	assert_int_equal(inb(x, 0x64) & 0x04, 0x04); /* SYS */
	outb(x, 0x64, 0xab);
	expect(x, 0x00);
	outb(x, 0x64, 0xa9);
	expect(x, 0x00);
	expect_empty(x);

	/* Config byte round trip. */
	outb(x, 0x64, 0x20);
	uint8_t c = rd(x);
	assert_int_equal(c & 0x40, 0x40); /* translation on by default */
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x65);
	assert_int_equal(inb(x, 0x64) & 0x08, 0);
	outb(x, 0x64, 0x20);
	expect(x, 0x65);
	/* 0xA7/0xA8 and 0xAD/0xAE toggle the disable bits. */
	outb(x, 0x64, 0xa7);
	outb(x, 0x64, 0xad);
	outb(x, 0x64, 0x20);
	expect(x, 0x75);
	outb(x, 0x64, 0xa8);
	outb(x, 0x64, 0xae);
	outb(x, 0x64, 0x20);
	expect(x, 0x45);
}

static void test_kbd_reset_and_irq(void **state)
{
	struct fx *x = *state;
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x01); /* kbd int, no translation */
	assert_int_equal(x->level[1], 0);
	outb(x, 0x60, 0xff);
	assert_int_equal(x->level[1], 1);
	assert_int_equal(inb(x, 0x64) & 0x20, 0); /* not aux */
	expect(x, 0xfa);
	/* The line dropped and rose again for the second byte. */
	assert_int_equal(x->raises[1], 2);
	assert_int_equal(x->level[1], 1);
	expect(x, 0xaa);
	assert_int_equal(x->level[1], 0);
	expect_empty(x);

	/* Identify, echo, LEDs, typematic, scan code set, unknown. */
	outb(x, 0x60, 0xf2);
	expect(x, 0xfa); expect(x, 0xab); expect(x, 0x83);
	outb(x, 0x60, 0xee);
	expect(x, 0xee);
	outb(x, 0x60, 0xed);
	expect(x, 0xfa);
	outb(x, 0x60, 0x07);
	expect(x, 0xfa);
	outb(x, 0x60, 0xf3);
	expect(x, 0xfa);
	outb(x, 0x60, 0x20);
	expect(x, 0xfa);
	outb(x, 0x60, 0xf0);
	expect(x, 0xfa);
	outb(x, 0x60, 0x00);
	expect(x, 0xfa); expect(x, 0x02);
	outb(x, 0x60, 0xf5);
	expect(x, 0xfa);
	outb(x, 0x60, 0xf4);
	expect(x, 0xfa);
	outb(x, 0x60, 0x42);
	expect(x, 0xfe);
	expect_empty(x);

	/* Interrupts off: data still arrives, no IRQ. */
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x00);
	int before = x->raises[1];
	outb(x, 0x60, 0xee);
	assert_int_equal(x->raises[1], before);
	expect(x, 0xee);
}

static void test_scancodes(void **state)
{
	struct fx *x = *state;
	/* Translation on (default config): set 2 in, set 1 out. */
	static const uint8_t a_down[] = { 0x1c }, a_up[] = { 0xf0, 0x1c };
	static const uint8_t up_down[] = { 0xe0, 0x75 }, up_up[] = { 0xe0, 0xf0, 0x75 };
	assert_int_equal(i8042_put_keycode(x->k, a_down, 1), 1);
	assert_int_equal(x->level[1], 1);
	expect(x, 0x1e);
	i8042_put_keycode(x->k, a_up, 2);
	expect(x, 0x9e);
	i8042_put_keycode(x->k, up_down, 2);
	expect(x, 0xe0); expect(x, 0x48);
	i8042_put_keycode(x->k, up_up, 3);
	expect(x, 0xe0); expect(x, 0xc8);
	expect_empty(x);
	/* Identify through the translator: AB 41. */
	outb(x, 0x60, 0xf2);
	expect(x, 0xfa); expect(x, 0xab); expect(x, 0x41);

	/* Translation off: raw set 2. */
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x01);
	i8042_put_keycode(x->k, a_up, 2);
	expect(x, 0xf0); expect(x, 0x1c);

	/* Keyboard switched to set 1 itself. */
	outb(x, 0x60, 0xf0);
	expect(x, 0xfa);
	outb(x, 0x60, 0x01);
	expect(x, 0xfa);
	i8042_put_keycode(x->k, a_down, 1);
	expect(x, 0x1e);
	i8042_put_keycode(x->k, up_up, 3);
	expect(x, 0xe0); expect(x, 0xc8);

	/* Disabled keyboard (0xF5) drops keys; disabled interface holds them. */
	outb(x, 0x60, 0xf5);
	expect(x, 0xfa);
	assert_int_equal(i8042_put_keycode(x->k, a_down, 1), 0);
	expect_empty(x);
	outb(x, 0x60, 0xf4);
	expect(x, 0xfa);
	outb(x, 0x64, 0xad);
	i8042_put_keycode(x->k, a_down, 1);
	expect_empty(x);
	outb(x, 0x64, 0xae);
	expect(x, 0x1c); /* 0xF5 restored the default set 2; no translation */
	/* Buffer overflow: whole sequences are refused. */
	for (int i = 0; i < 16; i++)
		i8042_put_keycode(x->k, a_down, 1);
	assert_int_equal(i8042_put_keycode(x->k, up_down, 2), 0);
}

static void test_reset_paths(void **state)
{
	struct fx *x = *state;
	outb(x, 0x64, 0xff); /* pulse nothing */
	assert_int_equal(x->resets, 0);
	outb(x, 0x64, 0xfe);
	assert_int_equal(x->resets, 1);
	outb(x, 0x64, 0xf0);
	assert_int_equal(x->resets, 2);
	/* Output port: read, write with bit 0 set (no reset), then clear. */
	outb(x, 0x64, 0xd0);
	assert_int_equal(rd(x) & 0x03, 0x03);
	outb(x, 0x64, 0xd1);
	outb(x, 0x60, 0x03);
	assert_int_equal(x->resets, 2);
	outb(x, 0x64, 0xd1);
	outb(x, 0x60, 0x02);
	assert_int_equal(x->resets, 3);
	/* D2: byte appears as keyboard data. */
	outb(x, 0x64, 0xd2);
	outb(x, 0x60, 0x5a);
	assert_int_equal(inb(x, 0x64) & 0x20, 0);
	expect(x, 0x5a);
	/* i8042_reset restores the config byte. */
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x00);
	i8042_reset(x->k);
	outb(x, 0x64, 0x20);
	expect(x, 0x45);
}

static void aux_cmd(struct fx *x, uint8_t c)
{
	outb(x, 0x64, 0xd4);
	outb(x, 0x60, c);
}

static uint8_t aux_rd(struct fx *x)
{
	assert_int_equal(inb(x, 0x64) & 0x21, 0x21);
	return inb(x, 0x60);
}

static void test_mouse(void **state)
{
	struct fx *x = *state;
	outb(x, 0x64, 0xa8);
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x47); /* kbd+aux interrupts */
	aux_cmd(x, 0xff);
	assert_int_equal(x->level[12], 1);
	assert_int_equal(x->level[1], 0);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0xaa);
	assert_int_equal(aux_rd(x), 0x00);
	assert_int_equal(x->level[12], 0);
	aux_cmd(x, 0xf2);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0x00);

	/* Status: defaults 100 Hz, resolution 2, stream, disabled. */
	aux_cmd(x, 0xe8); assert_int_equal(aux_rd(x), 0xfa);
	aux_cmd(x, 0x03); assert_int_equal(aux_rd(x), 0xfa);
	aux_cmd(x, 0xe7); assert_int_equal(aux_rd(x), 0xfa);
	aux_cmd(x, 0xe9);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0x10);
	assert_int_equal(aux_rd(x), 0x03);
	assert_int_equal(aux_rd(x), 100);
	aux_cmd(x, 0xe6); assert_int_equal(aux_rd(x), 0xfa);

	/* No packets until reporting is enabled. */
	i8042_mouse_event(x->k, 5, 5, 0, 0);
	expect_empty(x);
	aux_cmd(x, 0xf4);
	assert_int_equal(aux_rd(x), 0xfa);
	/* Right 10, down 3 (PS/2 y is up), left button. */
	i8042_mouse_event(x->k, 10, 3, 0, I8042_BUTTON_LEFT);
	assert_int_equal(x->level[12], 1);
	assert_int_equal(aux_rd(x), 0x08 | 0x20 | 0x01);
	assert_int_equal(aux_rd(x), 10 + 5);
	assert_int_equal(aux_rd(x), (uint8_t)(-3 - 5));
	expect_empty(x);
	/* Large motion is split into packets. */
	i8042_mouse_event(x->k, 300, 0, 0, 0);
	assert_int_equal(aux_rd(x), 0x08);
	assert_int_equal(aux_rd(x), 255);
	assert_int_equal(aux_rd(x), 0);
	assert_int_equal(aux_rd(x), 0x08);
	assert_int_equal(aux_rd(x), 45);
	assert_int_equal(aux_rd(x), 0);
	expect_empty(x);

	/* IntelliMouse: rates 200, 100, 80 make ID 3 and 4-byte packets. */
	static const uint8_t rates[] = { 200, 100, 80 };
	for (int i = 0; i < 3; i++) {
		aux_cmd(x, 0xf3); assert_int_equal(aux_rd(x), 0xfa);
		aux_cmd(x, rates[i]); assert_int_equal(aux_rd(x), 0xfa);
	}
	aux_cmd(x, 0xf2);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0x03);
	i8042_mouse_event(x->k, -1, 0, 2, I8042_BUTTON_MIDDLE);
	assert_int_equal(aux_rd(x), 0x08 | 0x10 | 0x04);
	assert_int_equal(aux_rd(x), 0xff);
	assert_int_equal(aux_rd(x), 0x00);
	assert_int_equal(aux_rd(x), 0x02);

	/* IntelliMouse Explorer: 200, 200, 80 from wheel mode make ID 4;
	 * the 4th byte is Z in bits 0-3 and buttons 4 and 5 in bits 4 and 5. */
	static const uint8_t explorer[] = { 200, 200, 80 };
	for (int i = 0; i < 3; i++) {
		aux_cmd(x, 0xf3); assert_int_equal(aux_rd(x), 0xfa);
		aux_cmd(x, explorer[i]); assert_int_equal(aux_rd(x), 0xfa);
	}
	aux_cmd(x, 0xf2);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0x04);
	i8042_mouse_event(x->k, 0, 0, -1, I8042_BUTTON_SIDE);
	assert_int_equal(aux_rd(x), 0x08);
	assert_int_equal(aux_rd(x), 0x00);
	assert_int_equal(aux_rd(x), 0x00);
	assert_int_equal(aux_rd(x), 0x0f | 0x10);
	i8042_mouse_event(x->k, 0, 0, 3, I8042_BUTTON_EXTRA | I8042_BUTTON_LEFT);
	assert_int_equal(aux_rd(x), 0x09);
	assert_int_equal(aux_rd(x), 0x00);
	assert_int_equal(aux_rd(x), 0x00);
	assert_int_equal(aux_rd(x), 0x03 | 0x20);
	i8042_mouse_event(x->k, 0, 0, 0, 0);
	for (int i = 0; i < 4; i++)
		aux_rd(x);
	expect_empty(x);

	/* Remote mode + read data. */
	aux_cmd(x, 0xf0); assert_int_equal(aux_rd(x), 0xfa);
	i8042_mouse_event(x->k, 4, 0, 0, 0);
	expect_empty(x);
	aux_cmd(x, 0xeb);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0x08);
	assert_int_equal(aux_rd(x), 4);
	assert_int_equal(aux_rd(x), 0);
	assert_int_equal(aux_rd(x), 0);
	aux_cmd(x, 0xea); assert_int_equal(aux_rd(x), 0xfa);
	aux_cmd(x, 0xf5); assert_int_equal(aux_rd(x), 0xfa);
	aux_cmd(x, 0x12); assert_int_equal(aux_rd(x), 0xfe);

	/* D3 echoes as mouse data; aux disable holds mouse data back. */
	outb(x, 0x64, 0xd3);
	outb(x, 0x60, 0x77);
	assert_int_equal(aux_rd(x), 0x77);
	outb(x, 0x64, 0xa7);
	aux_cmd(x, 0xf2);
	expect_empty(x);
	outb(x, 0x64, 0xa8);
	assert_int_equal(aux_rd(x), 0xfa);
	assert_int_equal(aux_rd(x), 0x04); /* still the Explorer */
	expect_empty(x);
	assert_int_equal(x->level[12], 0);
}

#define NKEYS 3000

static void *typist(void *arg)
{
	struct fx *x = arg;
	for (unsigned i = 0; i < NKEYS;) {
		/* make codes 0x01..0x7F, raw set 2 (translation off) */
		uint8_t code = (uint8_t)(i % 0x7f + 1);
		if (i8042_put_keycode(x->k, &code, 1) == 1) {
			i++;
		} else {
			struct timespec ts = { 0, 10000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Keys typed from another thread arrive in order while the guest reads. */
static void test_threaded_keys(void **state)
{
	struct fx *x = *state;
	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x01);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, typist, x), 0);
	for (unsigned got = 0; got < NKEYS;) {
		if (inb(x, 0x64) & 0x01) {
			assert_int_equal(inb(x, 0x60), got % 0x7f + 1);
			got++;
		}
	}
	pthread_join(t, NULL);
	expect_empty(x);
}

static void save_to(struct i8042 *k, struct ss_writer *w)
{
	ss_writer_init(w);
	i8042_save(k, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Save with keys and mouse bytes queued and the mouse in IntelliMouse
 * mode; load into a fresh controller; save again: the same bytes; the new
 * controller hands out the same bytes in the same order, with IRQ 1 up. */
static void test_save_load(void **state)
{
	struct fx *x = *state, *y;
	struct ss_writer w1, w2;
	struct ss_reader r;

	outb(x, 0x64, 0x60); /* config: both interrupts, translation */
	outb(x, 0x60, 0x47);
	outb(x, 0x64, 0xa8); /* enable the aux port */
	static const uint8_t knock[] = { 0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf4 };
	for (size_t i = 0; i < sizeof(knock); i++) {
		outb(x, 0x64, 0xd4);
		outb(x, 0x60, knock[i]);
		expect(x, 0xfa);
	}
	i8042_put_keycode(x->k, (const uint8_t *)"\x1c", 1);            /* A down */
	i8042_put_keycode(x->k, (const uint8_t *)"\xf0\x1c", 2);        /* A up */
	i8042_mouse_event(x->k, 5, -3, 1, I8042_BUTTON_LEFT);
	assert_int_equal(x->level[1], 1);
	save_to(x->k, &w1);

	setup((void **)&y);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(i8042_load(y->k, &r, 0));
	ss_reader_close(&r);
	assert_int_equal(y->level[1], 1);
	save_to(y->k, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	uint8_t a[16], b[16];
	unsigned n = 0;
	while ((inb(x, 0x64) & 0x01) && n < 16) {
		a[n] = rd(x);
		b[n] = rd(y);
		n++;
	}
	expect_empty(y);
	assert_int_equal(n, 2 + 4); /* set-1 make and break, a 4-byte wheel packet */
	assert_memory_equal(a, b, n);
	assert_int_equal(a[0], 0x1e);
	assert_int_equal(a[1], 0x9e);
	teardown((void **)&y);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

/* A stream claiming more queued keys than the keyboard holds: refused. */
static void test_load_refuses(void **state)
{
	struct fx *x = *state, *y;
	struct ss_writer w;
	struct ss_reader r;

	save_to(x->k, &w);
	/* the keyboard queue field is empty: grow it through a rebuilt stream */
	setup((void **)&y);
	for (int i = 0; i < 20; i++)
		i8042_put_keycode(y->k, (const uint8_t *)"\x1c", 1);
	ss_writer_free(&w);
	save_to(y->k, &w); /* at most 16 queued: a real one loads */
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(i8042_load(x->k, &r, 0));
	ss_reader_close(&r);
	teardown((void **)&y);
	ss_writer_free(&w);

	ss_writer_init(&w);
	ss_section_begin(&w, "i8042", 0, 1);
	uint8_t ram[32] = { 0 }, keys[17] = { 0 };
	ss_put_bytes(&w, "ram", ram, sizeof(ram));
	ss_put_u8(&w, "status", 0);
	ss_put_u8(&w, "out_port", 3);
	ss_put_u8(&w, "pending_cmd", 0);
	ss_put_u8(&w, "obuf", 0);
	ss_put_bool(&w, "obuf_full", false);
	ss_put_bool(&w, "obuf_aux", false);
	ss_put_bytes(&w, "ctrl.queue", NULL, 0);
	ss_put_bytes(&w, "ctrl.queue_aux", NULL, 0);
	ss_put_bytes(&w, "kbd.queue", keys, sizeof(keys));
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(i8042_load(x->k, &r, 0));
	assert_non_null(strstr(r.err, "kbd.queue is 17 bytes, expected at most 16"));
	ss_reader_close(&r);
	ss_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self_test_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kbd_reset_and_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scancodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mouse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
