// SPDX-License-Identifier: GPL-2.0-or-later
/* The input layer (src/core/input.c): key names and scan codes, and the
 * path from front-end events through an i8042 to what the guest reads at
 * port 0x60. */
#include "unit.h"
#include "bus_access.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bus.h"
#include "hw/i8042.h"
#include "input.h"
#include "irq.h"

struct fx {
	struct io_bus bus;
	struct i8042 *k;
};

static void set_irq(void *opaque, unsigned line, int level) {}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	bus_init(&x->bus, "pio");
	x->k = i8042_create((struct irq_line){ set_irq, x, 1 }, (struct irq_line){ set_irq, x, 12 },
			    NULL, x);
	assert_int_equal(i8042_map(x->k, &x->bus), 0);
	i8042_connect_input(x->k);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	i8042_destroy(x->k);
	assert_false(input_has_keyboard());
	assert_false(input_has_mouse());
	bus_destroy(&x->bus);
	free(x);
	return 0;
}

static void outb(struct fx *x, uint16_t port, uint8_t v) { bus_wr(&x->bus, port, v, 1); }
static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->bus, port, 1); }

static void expect(struct fx *x, uint8_t v)
{
	assert_true(inb(x, 0x64) & 0x01);
	assert_int_equal(inb(x, 0x60), v);
}

static void expect_seq(struct fx *x, const uint8_t *seq, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect(x, seq[i]);
	assert_int_equal(inb(x, 0x64) & 0x01, 0);
}

#define EXPECT(x, ...)                                               \
	do {                                                         \
		static const uint8_t s_[] = { __VA_ARGS__ };         \
		expect_seq((x), s_, sizeof(s_));                     \
	} while (0)

static int key(const char *name)
{
	int k = input_key_by_name(name);
	assert_true(k > 0);
	return k;
}

static void test_names_and_codes(void **state)
{
	uint8_t b[INPUT_SEQ_MAX];

	assert_int_equal(input_key_by_name("no-such-key"), 0);
	assert_int_equal(input_key_by_name(""), 0);
	assert_null(input_key_name(0));
	assert_null(input_key_name(input_key_count()));
	assert_null(input_key_name(-1));
	assert_string_equal(input_key_name(key("kp_enter")), "kp_enter");
	/* QEMU's aliases */
	assert_int_equal(key("asterisk"), key("kp_multiply"));
	assert_int_equal(key("compose"), key("menu"));
	/* every key has a distinct name and a make code */
	for (int i = 1; i < input_key_count(); i++) {
		assert_int_equal(input_key_by_name(input_key_name(i)), i);
		assert_true(input_key_set2(i, true, b) > 0);
	}

	/* set 1 numbers: plain, E0 as 0xE0xx, E0 as 0x80|xx (QEMU's) */
	assert_int_equal(input_key_by_scancode(0x1e), key("a"));
	assert_int_equal(input_key_by_scancode(0x1c), key("ret"));
	assert_int_equal(input_key_by_scancode(0xe01c), key("kp_enter"));
	assert_int_equal(input_key_by_scancode(0x9c), key("kp_enter"));
	assert_int_equal(input_key_by_scancode(0xc8), key("up"));
	assert_int_equal(input_key_by_scancode(0x48), key("kp_8"));
	assert_int_equal(input_key_by_scancode(0x10000), 0);
	assert_int_equal(input_key_by_scancode(0x7f), 0);

	/* set 2 sequences */
	assert_int_equal(input_key_set2(key("a"), true, b), 1);
	assert_int_equal(b[0], 0x1c);
	assert_int_equal(input_key_set2(key("a"), false, b), 2);
	assert_memory_equal(b, ((uint8_t[]){ 0xf0, 0x1c }), 2);
	assert_int_equal(input_key_set2(key("up"), false, b), 3);
	assert_memory_equal(b, ((uint8_t[]){ 0xe0, 0xf0, 0x75 }), 3);
	assert_int_equal(input_key_set2(key("print"), true, b), 4);
	assert_memory_equal(b, ((uint8_t[]){ 0xe0, 0x12, 0xe0, 0x7c }), 4);
	assert_int_equal(input_key_set2(key("print"), false, b), 6);
	assert_memory_equal(b, ((uint8_t[]){ 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12 }), 6);
	assert_int_equal(input_key_set2(key("pause"), true, b), 8);
	assert_memory_equal(b, ((uint8_t[]){ 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 }), 8);
	assert_int_equal(input_key_set2(key("pause"), false, b), 0);
	assert_int_equal(input_key_set2(0, true, b), 0);
	assert_int_equal(input_key_set2(input_key_count(), true, b), 0);
}

/* The default configuration translates: the guest reads set 1. */
static void test_keys_through_translator(void **state)
{
	struct fx *x = *state;

	assert_true(input_key(key("a"), true));
	EXPECT(x, 0x1e);
	assert_true(input_key(key("a"), false));
	EXPECT(x, 0x9e);
	input_key(key("up"), true);
	input_key(key("up"), false);
	EXPECT(x, 0xe0, 0x48, 0xe0, 0xc8);
	input_key(key("kp_enter"), true);
	EXPECT(x, 0xe0, 0x1c);
	input_key(key("kp_enter"), false);
	EXPECT(x, 0xe0, 0x9c);
	/* the Windows and Menu keys (the translator had no entry for their
	 * set 2 codes and passed 0x1F, 0x27, 0x2F through) */
	input_key(key("meta_l"), true);
	input_key(key("meta_l"), false);
	EXPECT(x, 0xe0, 0x5b, 0xe0, 0xdb);
	input_key(key("meta_r"), true);
	EXPECT(x, 0xe0, 0x5c);
	input_key(key("menu"), true);
	EXPECT(x, 0xe0, 0x5d);
	input_release_all();
	EXPECT(x, 0xe0, 0xdc, 0xe0, 0xdd);
	/* Print Screen and Pause as a PC/AT keyboard sends them */
	input_key(key("print"), true);
	EXPECT(x, 0xe0, 0x2a, 0xe0, 0x37);
	input_key(key("print"), false);
	EXPECT(x, 0xe0, 0xb7, 0xe0, 0xaa);
	input_key(key("pause"), true);
	EXPECT(x, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
	input_key(key("pause"), false);
	EXPECT(x);
}

/* Translation off: the guest reads set 2 as sent. */
static void test_keys_raw_set2(void **state)
{
	struct fx *x = *state;

	outb(x, 0x64, 0x60);
	outb(x, 0x60, 0x01); /* keyboard interrupt, no translation */
	input_key(key("ctrl_r"), true);
	input_key(key("ctrl_r"), false);
	EXPECT(x, 0xe0, 0x14, 0xe0, 0xf0, 0x14);
	input_key(key("f7"), true);
	EXPECT(x, 0x83);
}

static void test_repeat_release_and_stuck_keys(void **state)
{
	struct fx *x = *state;

	/* a release without a press is not sent */
	assert_true(input_key(key("b"), false));
	EXPECT(x);
	/* typematic: the host's repeated presses are repeated makes */
	input_key(key("shift"), true);
	input_key(key("b"), true);
	input_key(key("b"), true);
	input_key(key("b"), true);
	EXPECT(x, 0x2a, 0x30, 0x30, 0x30);
	/* focus lost: both released, each once */
	input_release_all();
	EXPECT(x, 0xaa, 0xb0);
	input_release_all();
	EXPECT(x);
	assert_true(input_key(key("b"), false));
	EXPECT(x);
	assert_false(input_key(0, true));
	assert_false(input_key(input_key_count(), true));
}

static void test_full_buffer_drops_whole_events(void **state)
{
	struct fx *x = *state;
	struct input_stats before, after;

	input_stats(&before);
	for (int i = 0; i < 20; i++)
		input_key(key("c"), true); /* 16 bytes queued, 1 in the output buffer */
	input_stats(&after);
	assert_int_equal(after.keys - before.keys, 17);
	assert_int_equal(after.keys_dropped - before.keys_dropped, 3);
	for (int i = 0; i < 17; i++)
		expect(x, 0x2e);
	input_key(key("c"), false);
	EXPECT(x, 0xae);
}

static void enable_mouse(struct fx *x)
{
	outb(x, 0x64, 0xa8);
	outb(x, 0x64, 0xd4);
	outb(x, 0x60, 0xf4);
	EXPECT(x, 0xfa);
}

static void test_mouse_rel_abs_buttons(void **state)
{
	struct fx *x = *state;

	enable_mouse(x);
	/* relative: right 4, down 2 (PS/2's y grows upwards) */
	input_mouse_rel(4, 2, 0, 0);
	EXPECT(x, 0x08 | 0x20, 4, 0xfe);
	/* absolute: the first position only sets the origin */
	input_mouse_abs_reset();
	input_mouse_abs(100, 100, 0, 0);
	EXPECT(x);
	input_mouse_abs(110, 95, 0, 0);
	EXPECT(x, 0x08, 10, 5);
	/* a button alone is an event; release_all lets it go */
	input_mouse_abs(110, 95, 0, INPUT_BUTTON_LEFT | INPUT_BUTTON_RIGHT);
	EXPECT(x, 0x0b, 0, 0);
	input_mouse_abs(110, 95, 0, INPUT_BUTTON_LEFT | INPUT_BUTTON_RIGHT);
	EXPECT(x);
	input_release_all();
	EXPECT(x, 0x08, 0, 0);
	input_mouse_rel(0, 0, 0, INPUT_BUTTON_MIDDLE);
	EXPECT(x, 0x0c, 0, 0);
}

static void test_no_devices(void **state)
{
	struct fx *x = *state;
	input_detach_keyboard(x->k);
	input_detach_mouse(x->k);
	assert_false(input_has_keyboard());
	assert_false(input_has_mouse());
	assert_false(input_key(key("a"), true));
	input_mouse_rel(1, 1, 0, 1); /* goes nowhere */
	input_release_all();
	EXPECT(x);
	/* detaching another device leaves the attached one alone */
	i8042_connect_input(x->k);
	input_detach_keyboard(&x->bus);
	input_detach_mouse(&x->bus);
	assert_true(input_has_keyboard());
	assert_true(input_has_mouse());
	assert_true(input_key(key("a"), true));
	EXPECT(x, 0x1e);
}

struct hammer {
	_Atomic bool stop;
	_Atomic unsigned long sent;
};

static void *press_keys(void *opaque)
{
	struct hammer *h = opaque;
	int a = input_key_by_name("a");
	while (!h->stop) {
		input_key(a, true);
		input_key(a, false);
		input_mouse_rel(1, -1, 0, 0);
		h->sent++;
	}
	return NULL;
}

/* Front-end threads send while keyboards come and go: the layer's lock
 * keeps every call on a live device (ASan sees any other). */
static void test_detach_while_sending(void **state)
{
	struct fx *x = *state;
	struct hammer h = { 0 };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, press_keys, &h), 0);
	for (int round = 0; round < 200 || h.sent < 2000; round++) {
		struct i8042 *other = i8042_create((struct irq_line){ set_irq, x, 1 },
						   (struct irq_line){ set_irq, x, 12 }, NULL, x);
		i8042_connect_input(other);
		i8042_destroy(other);
		i8042_connect_input(x->k);
	}
	/* Keys sent to the mapped controller once it is attached for good: on
	 * a loaded host the senders may not have run since the last round. */
	unsigned long at_end = h.sent;
	while (h.sent < at_end + 100)
		sched_yield();
	h.stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_true(h.sent > 0);
	/* the mapped controller got keys while it was attached */
	assert_true(inb(x, 0x64) & 0x01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_codes),
		cmocka_unit_test_setup_teardown(test_keys_through_translator, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_raw_set2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_release_and_stuck_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_buffer_drops_whole_events, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mouse_rel_abs_buttons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_while_sending, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
