// SPDX-License-Identifier: GPL-2.0-or-later
/* The watchdog action module and both watchdog models (hw/watchdog/ib700.c,
 * hw/watchdog/i6300esb.c), driven through their ports, BAR and configuration space
 * on an event loop whose host clock the test moves. */
#include "unit.h"
#include "bus_access.h"

#include <stdlib.h>

#include "bus.h"
#include "event.h"
#include "hw/i6300esb.h"
#include "hw/ib700.h"
#include "pci.h"
#include "savestate.h"
#include "watchdog.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define ESB_DEVFN PCI_DEVFN(5, 0)
#define ESB_BAR 0xFEBF0000u

struct fx {
	struct event_loop *loop;
	int64_t fake_ns;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct watchdog_host host;
	int resets, powerdowns, poweroffs, pauses, nmis, events;
	char last_event[64], last_data[64];
	int intx_level;
};

static void on_reset(void *o) { ((struct fx *)o)->resets++; }
static void on_powerdown(void *o) { ((struct fx *)o)->powerdowns++; }
static void on_poweroff(void *o) { ((struct fx *)o)->poweroffs++; }
static void on_pause(void *o) { ((struct fx *)o)->pauses++; }
static void on_nmi(void *o) { ((struct fx *)o)->nmis++; }

static void on_event(void *o, const char *name, const char *data)
{
	struct fx *x = o;
	x->events++;
	snprintf(x->last_event, sizeof(x->last_event), "%s", name);
	snprintf(x->last_data, sizeof(x->last_data), "%s", data);
}

static void on_intx(void *o, uint8_t devfn, unsigned pin, int level)
{
	struct fx *x = o;
	assert_int_equal(devfn, ESB_DEVFN);
	assert_int_equal(pin, 1);
	x->intx_level = level;
}

static int64_t fake_now(void *o)
{
	return ((struct fx *)o)->fake_ns;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	x->loop = event_loop_new();
	assert_non_null(x->loop);
	x->fake_ns = 1000 * SEC;
	event_loop_set_host_clock(x->loop, fake_now, x);
	bus_init(&x->pio, "pio");
	bus_init(&x->mmio, "mmio");
	pci_bus_init(&x->pci, &x->pio, &x->mmio);
	x->pci.set_intx = on_intx;
	x->pci.intx_opaque = x;
	x->host = (struct watchdog_host){ .reset = on_reset, .powerdown = on_powerdown,
					  .poweroff = on_poweroff, .pause = on_pause,
					  .inject_nmi = on_nmi, .event = on_event, .opaque = x };
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	event_loop_free(x->loop);
	bus_destroy(&x->pio);
	bus_destroy(&x->mmio);
	free(x);
	return 0;
}

/* Moves the host clock and runs the timers that are due. */
static void advance(struct fx *x, int64_t ns)
{
	x->fake_ns += ns;
	event_loop_run_once(x->loop, 0);
}

static int expiries(struct fx *x)
{
	return (int)atomic_load(&x->host.expiries);
}

/* ---- the action module ----------------------------------------------------- */

static void test_action_names_round_trip(void **state)
{
	static const char *const qemu_names[] = { "reset", "shutdown", "poweroff", "pause",
						  "debug", "none", "inject-nmi" };
	for (int i = 0; i < WATCHDOG_ACTION_COUNT; i++) {
		assert_string_equal(watchdog_action_name((enum watchdog_action)i), qemu_names[i]);
		assert_int_equal(watchdog_action_parse(qemu_names[i]), i);
	}
	assert_int_equal(watchdog_action_parse("Reset"), -1);
	assert_int_equal(watchdog_action_parse(""), -1);
	assert_null(watchdog_action_name(WATCHDOG_ACTION_COUNT));
	assert_non_null(watchdog_model_find("ib700"));
	assert_non_null(watchdog_model_find("i6300esb"));
	assert_null(watchdog_model_find("wdt"));
}

/* Each action: the WATCHDOG event with its name, then the one hook. */
static void test_each_action_event_then_hook(void **state)
{
	struct fx *x = *state;
	int *counters[] = { &x->resets, &x->powerdowns, &x->poweroffs, &x->pauses, NULL, NULL,
			    &x->nmis };
	for (int a = 0; a < WATCHDOG_ACTION_COUNT; a++) {
		int before[7];
		for (int i = 0; i < 7; i++)
			before[i] = counters[i] ? *counters[i] : 0;
		watchdog_set_action(&x->host, (enum watchdog_action)a);
		watchdog_expired(&x->host);
		char want[64];
		snprintf(want, sizeof(want), "{\"action\": \"%s\"}",
			 watchdog_action_name((enum watchdog_action)a));
		assert_string_equal(x->last_event, "WATCHDOG");
		assert_string_equal(x->last_data, want);
		for (int i = 0; i < 7; i++)
			if (counters[i])
				assert_int_equal(*counters[i], before[i] + (i == a));
	}
	assert_int_equal(x->events, WATCHDOG_ACTION_COUNT);
	/* A bad action is refused; the last good one stands. */
	watchdog_set_action(&x->host, (enum watchdog_action)99);
	assert_int_equal(atomic_load(&x->host.action), WATCHDOG_INJECT_NMI);
}

/* ---- ib700 ----------------------------------------------------------------- */

static void test_ib700_timeout_table(void **state)
{
	assert_int_equal(ib700_timeout_ns(0), 30 * SEC);
	assert_int_equal(ib700_timeout_ns(1), 28 * SEC);
	assert_int_equal(ib700_timeout_ns(12), 6 * SEC);
	assert_int_equal(ib700_timeout_ns(15), 0);
	assert_int_equal(ib700_timeout_ns(0xF3), 24 * SEC); /* only the low nibble counts */
}

static void test_ib700_runs_out_after_its_timeout(void **state)
{
	struct fx *x = *state;
	struct ib700 *s = ib700_create(&x->pio, x->loop, &x->host);
	assert_non_null(s);
	assert_false(ib700_armed(s, NULL));
	bus_wr(&x->pio, IB700_START_PORT, 12, 1); /* 6 s */
	assert_true(ib700_armed(s, NULL));
	advance(x, 6 * SEC - 1);
	assert_int_equal(expiries(x), 0);
	advance(x, 1);
	assert_int_equal(expiries(x), 1);
	assert_int_equal(x->resets, 1); /* the default action */
	assert_false(ib700_armed(s, NULL));
	advance(x, 60 * SEC); /* one expiry, one action */
	assert_int_equal(expiries(x), 1);
	/* Reads are open bus and do nothing. */
	assert_int_equal(bus_rd(&x->pio, IB700_START_PORT, 1), 0xFF);
	assert_int_equal(bus_rd(&x->pio, IB700_STOP_PORT, 1), 0xFF);
	assert_false(ib700_armed(s, NULL));
	ib700_destroy(s);
}

static void test_ib700_fed_runs_on_and_stop_disarms(void **state)
{
	struct fx *x = *state;
	struct ib700 *s = ib700_create(&x->pio, x->loop, &x->host);
	for (int i = 0; i < 20; i++) { /* 100 s, fed every 5 s of a 6 s timeout */
		bus_wr(&x->pio, IB700_START_PORT, 12, 1);
		advance(x, 5 * SEC);
	}
	assert_int_equal(expiries(x), 0);
	bus_wr(&x->pio, IB700_STOP_PORT, 0, 1);
	assert_false(ib700_armed(s, NULL));
	advance(x, 100 * SEC);
	assert_int_equal(expiries(x), 0);
	/* Reset stops it too. */
	bus_wr(&x->pio, IB700_START_PORT, 0, 1);
	ib700_reset(s);
	advance(x, 100 * SEC);
	assert_int_equal(expiries(x), 0);
	ib700_destroy(s);
}

/* The count is on the virtual clock: a paused VM's does not run out. */
static void test_ib700_paused_clock_holds_the_count(void **state)
{
	struct fx *x = *state;
	struct ib700 *s = ib700_create(&x->pio, x->loop, &x->host);
	bus_wr(&x->pio, IB700_START_PORT, 13, 1); /* 4 s */
	advance(x, 3 * SEC);
	event_clock_pause(x->loop);
	advance(x, 600 * SEC);
	assert_int_equal(expiries(x), 0);
	event_clock_resume(x->loop);
	advance(x, SEC - 1);
	assert_int_equal(expiries(x), 0);
	advance(x, 1);
	assert_int_equal(expiries(x), 1);
	ib700_destroy(s);
}

static void test_ib700_ports_taken(void **state)
{
	struct fx *x = *state;
	struct ib700 *a = ib700_create(&x->pio, x->loop, &x->host);
	assert_null(ib700_create(&x->pio, x->loop, &x->host));
	ib700_destroy(a);
}

static void save_ib700(struct ib700 *s, struct ss_writer *w)
{
	ss_writer_init(w);
	ib700_save(s, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void test_ib700_save_load_round_trip(void **state)
{
	struct fx *x = *state;
	struct io_bus pio2;
	struct ss_writer w1, w2;
	struct ss_reader r;

	bus_init(&pio2, "pio2");
	struct ib700 *a = ib700_create(&x->pio, x->loop, &x->host);
	struct ib700 *b = ib700_create(&pio2, x->loop, &x->host);
	bus_wr(&x->pio, IB700_START_PORT, 12, 1);
	advance(x, 2 * SEC);
	save_ib700(a, &w1);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(ib700_load(b, &r, 0));
	ss_reader_close(&r);
	save_ib700(b, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	/* The loaded one behaves the same: 4 s left. */
	ib700_destroy(a);
	advance(x, 4 * SEC - 1);
	assert_int_equal(expiries(x), 0);
	advance(x, 1);
	assert_int_equal(expiries(x), 1);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
	ib700_destroy(b);
	bus_destroy(&pio2);
}

/* A hostile stream: more time left than any timeout, or time left on a
 * stopped count: refused, the device unchanged. */
static void test_ib700_load_refuses_out_of_range(void **state)
{
	struct fx *x = *state;
	struct ib700 *s = ib700_create(&x->pio, x->loop, &x->host);
	const struct { bool armed; uint64_t left; } bad[] = { { true, 30 * SEC + 1 },
							      { false, 1 }, { true, UINT64_MAX } };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ss_writer w;
		struct ss_reader r;
		ss_writer_init(&w);
		ss_section_begin(&w, "ib700", 0, 1);
		ss_put_bool(&w, "armed", bad[i].armed);
		ss_put_u64(&w, "left_ns", bad[i].left);
		ss_section_end(&w);
		assert_int_equal(ss_writer_finish(&w), 0);
		assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
		assert_false(ib700_load(s, &r, 0));
		assert_false(ib700_armed(s, NULL));
		ss_reader_close(&r);
		ss_writer_free(&w);
	}
	ib700_destroy(s);
}

/* ---- i6300esb -------------------------------------------------------------- */

/* What the firmware does: BAR 0 placed, memory decoding on. */
static void esb_map(struct fx *x)
{
	pci_config_write(&x->pci, ESB_DEVFN, PCI_BAR0, ESB_BAR, 4);
	pci_config_write(&x->pci, ESB_DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
}

static struct i6300esb *esb_new(struct fx *x)
{
	struct i6300esb *s = i6300esb_create(&x->pci, ESB_DEVFN, x->loop, &x->host);
	assert_non_null(s);
	esb_map(x);
	return s;
}

/* A system reset, then the firmware again. */
static void esb_reset(struct fx *x, struct i6300esb *s)
{
	pci_device_reset(i6300esb_pci(s));
	esb_map(x);
}

static uint32_t esb_rd(struct fx *x, unsigned off, unsigned size)
{
	return (uint32_t)bus_rd(&x->mmio, ESB_BAR + off, size);
}

static void esb_wr(struct fx *x, unsigned off, uint32_t v, unsigned size)
{
	bus_wr(&x->mmio, ESB_BAR + off, v, size);
}

static void esb_unlock(struct fx *x)
{
	esb_wr(x, 0x0C, 0x80, 2);
	esb_wr(x, 0x0C, 0x86, 2);
}

/* What Linux's i6300esb does for a heartbeat of 'sec' and start. */
static void esb_linux_start(struct fx *x, unsigned sec)
{
	pci_config_write(&x->pci, ESB_DEVFN, 0x60, 0x03, 2); /* no stage-1 interrupt */
	esb_unlock(x);
	esb_wr(x, 0x00, sec << 9, 4);
	esb_unlock(x);
	esb_wr(x, 0x04, sec << 9, 4);
	esb_unlock(x);
	esb_wr(x, 0x0C, 0x100, 2);
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x02, 1);
}

static void esb_ping(struct fx *x)
{
	esb_unlock(x);
	esb_wr(x, 0x0C, 0x100, 2);
}

static void test_esb_stage_arithmetic(void **state)
{
	/* 1 kHz: preload << 15 clocks of 30 ns; Linux's 512 a stage is ~0.5 s. */
	assert_int_equal(i6300esb_stage_ns(512, false), 512LL * 32768 * 30);
	assert_int_equal(i6300esb_stage_ns(0xFFFFF, false), 0xFFFFFLL * 32768 * 30);
	assert_int_equal(i6300esb_stage_ns(512, true), 512LL * 32 * 30);
	assert_int_equal(i6300esb_stage_ns(0x1FFFFF, false), 0xFFFFFLL * 32768 * 30);
	/* The floor that keeps free-running 1 MHz stages off the main loop. */
	assert_int_equal(i6300esb_stage_ns(0, false), 100000);
	assert_int_equal(i6300esb_stage_ns(1, true), 100000);
}

static void test_esb_identity_and_defaults(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0, 4), 0x25AB8086);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0x0A, 2), 0x0880);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(esb_rd(x, 0x00, 4), 0xFFFFF);
	assert_int_equal(esb_rd(x, 0x04, 4), 0xFFFFF);
	assert_int_equal(esb_rd(x, 0x0C, 2), 0);
	assert_int_equal(i6300esb_stage(s, NULL), 0);
	i6300esb_destroy(s);
}

/* Preloads and the reload register take a write only right after 0x80,
 * 0x86; one write, then they are locked again. */
static void test_esb_unlock_sequence(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	esb_wr(x, 0x00, 5, 4);
	assert_int_equal(esb_rd(x, 0x00, 4), 0xFFFFF);
	esb_unlock(x);
	esb_wr(x, 0x00, 5, 4);
	assert_int_equal(esb_rd(x, 0x00, 4), 5);
	esb_wr(x, 0x00, 6, 4); /* locked again */
	assert_int_equal(esb_rd(x, 0x00, 4), 5);
	/* Wrong order, a step in between, a repeated 0x80: still locked ... */
	esb_wr(x, 0x0C, 0x86, 2);
	esb_wr(x, 0x0C, 0x80, 2);
	esb_wr(x, 0x04, 7, 4);
	assert_int_equal(esb_rd(x, 0x04, 4), 0xFFFFF);
	esb_wr(x, 0x0C, 0x80, 2);
	esb_wr(x, 0x0C, 0x85, 2);
	esb_wr(x, 0x0C, 0x86, 2);
	esb_wr(x, 0x04, 7, 4);
	assert_int_equal(esb_rd(x, 0x04, 4), 0xFFFFF);
	/* ... but 0x80 0x80 0x86 unlocks (the last two are the sequence). */
	esb_wr(x, 0x0C, 0x80, 2);
	esb_unlock(x);
	esb_wr(x, 0x04, 0xABCDEF12, 4); /* 20 bits kept */
	assert_int_equal(esb_rd(x, 0x04, 4), 0xDEF12);
	/* Byte writes merge into the preload; byte reads see their part. */
	esb_unlock(x);
	esb_wr(x, 0x05, 0x34, 1);
	assert_int_equal(esb_rd(x, 0x04, 4), 0xD3412);
	assert_int_equal(esb_rd(x, 0x05, 1), 0x34);
	assert_int_equal(esb_rd(x, 0x06, 2), 0x000D);
	i6300esb_destroy(s);
}

/* Linux's heartbeat of 4 s: 2048 per stage, both stages ~4.03 s. */
static void test_esb_linux_timeout_fires_after_both_stages(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	int64_t total = 2 * i6300esb_stage_ns(4 << 9, false);
	assert_true(total > 4 * SEC && total < 4 * SEC + 100 * MS);
	esb_linux_start(x, 4);
	assert_int_equal(i6300esb_stage(s, NULL), 1);
	advance(x, total / 2);
	assert_int_equal(i6300esb_stage(s, NULL), 2);
	assert_int_equal(x->intx_level, 0);           /* interrupt type 11: none */
	assert_int_equal(esb_rd(x, 0x08, 4), 0);
	advance(x, total / 2 - 1);
	assert_int_equal(expiries(x), 0);
	advance(x, 1);
	assert_int_equal(expiries(x), 1);
	assert_int_equal(x->resets, 1);
	assert_int_equal(esb_rd(x, 0x0C, 2), 0x200); /* WDT_TIMEOUT */
	advance(x, 60 * SEC);                          /* one expiry, one action */
	assert_int_equal(expiries(x), 1);
	/* A system reset keeps WDT_TIMEOUT for the rebooted guest; a write of
	 * 1 (unlocked) clears it. */
	esb_reset(x, s);
	assert_int_equal(i6300esb_stage(s, NULL), 0);
	assert_int_equal(esb_rd(x, 0x0C, 2), 0x200);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0x68, 1), 0);
	esb_wr(x, 0x0C, 0x200, 2);
	assert_int_equal(esb_rd(x, 0x0C, 2), 0x200); /* locked */
	esb_unlock(x);
	esb_wr(x, 0x0C, 0x200, 2);
	assert_int_equal(esb_rd(x, 0x0C, 2), 0);
	i6300esb_destroy(s);
}

static void test_esb_pinged_runs_on_and_disable_stops(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	esb_linux_start(x, 4);
	for (int i = 0; i < 30; i++) {
		advance(x, 3 * SEC); /* into stage 2, then back to stage 1 */
		esb_ping(x);
	}
	assert_int_equal(expiries(x), 0);
	/* A reload without the unlock does nothing. */
	esb_wr(x, 0x0C, 0x100, 2);
	advance(x, 3 * SEC);
	esb_wr(x, 0x0C, 0x100, 2);
	advance(x, 2 * SEC);
	assert_int_equal(expiries(x), 1);
	/* Enable off stops the count, on restarts stage 1. */
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x02, 1);
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x00, 1);
	advance(x, 100 * SEC);
	assert_int_equal(expiries(x), 1);
	i6300esb_destroy(s);
}

static void test_esb_stage1_interrupt_and_gintsr(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	esb_linux_start(x, 2);
	pci_config_write(&x->pci, ESB_DEVFN, 0x60, 0x00, 2); /* type 00: IRQ */
	advance(x, i6300esb_stage_ns(2 << 9, false));
	assert_int_equal(x->intx_level, 1);
	assert_int_equal(esb_rd(x, 0x08, 4), 1);
	esb_wr(x, 0x08, 0, 4); /* 0 clears nothing */
	assert_int_equal(x->intx_level, 1);
	esb_wr(x, 0x08, 1, 1);
	assert_int_equal(x->intx_level, 0);
	assert_int_equal(esb_rd(x, 0x08, 4), 0);
	i6300esb_destroy(s);
}

/* The lock bit holds 0x68 until a reset: Linux's nowayout. */
static void test_esb_lock_holds_until_reset(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	esb_linux_start(x, 4);
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x03, 1);
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x00, 1);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0x68, 1), 0x03);
	assert_int_equal(i6300esb_stage(s, NULL), 1);
	advance(x, 5 * SEC);
	assert_int_equal(expiries(x), 1);
	esb_reset(x, s);
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x02, 1);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0x68, 1), 0x02);
	/* Bits beyond the register's are not stored. */
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0xF8, 1);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0x68, 1), 0x00);
	pci_config_write(&x->pci, ESB_DEVFN, 0x60, 0xFFFF, 2);
	assert_int_equal(pci_config_read(&x->pci, ESB_DEVFN, 0x60, 2), 0x27);
	i6300esb_destroy(s);
}

/* Output disabled (0x60 bit 5) or free-running mode: no action. */
static void test_esb_no_output_and_free_run_take_no_action(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	esb_linux_start(x, 1);
	pci_config_write(&x->pci, ESB_DEVFN, 0x60, 0x23, 2);
	advance(x, 600 * MS);
	advance(x, 600 * MS);
	assert_int_equal(expiries(x), 0);
	assert_int_equal(esb_rd(x, 0x0C, 2), 0x200);
	esb_reset(x, s);
	esb_linux_start(x, 1);
	pci_config_write(&x->pci, ESB_DEVFN, 0x68, 0x06, 1);
	for (int i = 0; i < 40; i++)
		advance(x, 500 * MS);
	assert_int_equal(expiries(x), 0);
	assert_int_not_equal(i6300esb_stage(s, NULL), 0); /* still counting */
	i6300esb_destroy(s);
}

static void test_esb_paused_clock_holds_the_count(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	esb_linux_start(x, 4);
	advance(x, 3 * SEC);
	event_clock_pause(x->loop);
	advance(x, 600 * SEC);
	assert_int_equal(expiries(x), 0);
	event_clock_resume(x->loop);
	advance(x, 2 * SEC);
	assert_int_equal(expiries(x), 1);
	i6300esb_destroy(s);
}

/* Every access size at every offset, every value class: no crash, and the
 * device still obeys the unlock rule afterwards. */
static void test_esb_hostile_accesses(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	static const uint32_t vals[] = { 0, 1, 0x80, 0x86, 0x100, 0x200, 0x300, 0xFFFF,
					 0xFFFFFFFF, 0x80000000 };
	for (unsigned off = 0; off < 32; off++)
		for (unsigned size = 1; size <= 8; size *= 2)
			for (unsigned v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
				esb_wr(x, off, vals[v], size);
				(void)esb_rd(x, off, size);
			}
	for (unsigned off = 0x40; off < 0x100; off++)
		pci_config_write(&x->pci, ESB_DEVFN, off, 0xFFFFFFFF, 1);
	advance(x, 3600 * SEC);
	esb_wr(x, 0x0C, 0x42, 2); /* whatever state: a fresh sequence works */
	esb_unlock(x);
	esb_wr(x, 0x00, 0x123, 4);
	assert_int_equal(esb_rd(x, 0x00, 4), 0x123);
	i6300esb_destroy(s);
}

static void save_esb(struct i6300esb *s, struct ss_writer *w)
{
	ss_writer_init(w);
	i6300esb_save(s, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void test_esb_save_load_round_trip(void **state)
{
	struct fx *x = *state;
	struct io_bus pio2, mmio2;
	struct pci_bus pci2;
	struct ss_writer w1, w2;
	struct ss_reader r;

	bus_init(&pio2, "pio2");
	bus_init(&mmio2, "mmio2");
	pci_bus_init(&pci2, &pio2, &mmio2);
	struct i6300esb *a = esb_new(x);
	struct i6300esb *b = i6300esb_create(&pci2, ESB_DEVFN, x->loop, &x->host);
	esb_linux_start(x, 4);
	esb_wr(x, 0x0C, 0x80, 2); /* half an unlock sequence is state too */
	advance(x, 3 * SEC);     /* in stage 2, ~1 s left */
	save_esb(a, &w1);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(i6300esb_load(b, &r, 0));
	ss_reader_close(&r);
	save_esb(b, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	/* The loaded one has its BAR where the saved one had it, and runs out
	 * when the saved one would have. */
	assert_int_equal(bus_rd(&mmio2, ESB_BAR + 0x00, 4), 4 << 9);
	int64_t left_a, left_b;
	assert_int_equal(i6300esb_stage(a, &left_a), 2);
	assert_int_equal(i6300esb_stage(b, &left_b), 2);
	assert_int_equal(left_a, left_b);
	i6300esb_destroy(a);
	x->pci.dev[ESB_DEVFN] = NULL;
	advance(x, left_b - 1);
	assert_int_equal(expiries(x), 0);
	advance(x, 1);
	assert_int_equal(expiries(x), 1);
	assert_int_equal(bus_rd(&mmio2, ESB_BAR + 0x0C, 2), 0x200);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
	i6300esb_destroy(b);
	bus_destroy(&pio2);
	bus_destroy(&mmio2);
}

static void test_esb_load_refuses_out_of_range(void **state)
{
	struct fx *x = *state;
	struct i6300esb *s = esb_new(x);
	struct ss_writer good;
	save_esb(s, &good);
	/* The saved state with one bad value each: preload1, stage, unlock,
	 * left_ns. */
	for (unsigned f = 0; f < 4; f++) {
		struct ss_writer w;
		struct ss_reader r;
		uint8_t cfg[256];
		for (unsigned i = 0; i < 256; i++)
			cfg[i] = (uint8_t)pci_config_read(&x->pci, ESB_DEVFN, i, 1);
		ss_writer_init(&w);
		ss_section_begin(&w, "i6300esb", 0, 1);
		ss_put_bytes(&w, "pci.config", cfg, sizeof(cfg));
		ss_put_u32(&w, "preload1", f == 0 ? 0x100000 : 1);
		ss_put_u32(&w, "preload2", 1);
		ss_put_u8(&w, "unlock", f == 2 ? 3 : 0);
		ss_put_bool(&w, "int_status", false);
		ss_put_bool(&w, "timed_out", false);
		ss_put_u8(&w, "stage", f == 1 ? 3 : 0);
		ss_put_u64(&w, "left_ns", f == 3 ? 5 : 0); /* time left while stopped */
		ss_section_end(&w);
		assert_int_equal(ss_writer_finish(&w), 0);
		assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
		assert_false(i6300esb_load(s, &r, 0));
		ss_reader_close(&r);
		ss_writer_free(&w);
	}
	/* Unchanged by the refused loads. */
	struct ss_writer again;
	save_esb(s, &again);
	assert_int_equal(good.len, again.len);
	assert_memory_equal(good.buf, again.buf, good.len);
	ss_writer_free(&good);
	ss_writer_free(&again);
	i6300esb_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_action_names_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_action_event_then_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ib700_timeout_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ib700_runs_out_after_its_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ib700_fed_runs_on_and_stop_disarms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ib700_paused_clock_holds_the_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ib700_ports_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ib700_save_load_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ib700_load_refuses_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_stage_arithmetic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_identity_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_unlock_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_linux_timeout_fires_after_both_stages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_esb_pinged_runs_on_and_disable_stops, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_esb_stage1_interrupt_and_gintsr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_lock_holds_until_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_no_output_and_free_run_take_no_action, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_esb_paused_clock_holds_the_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_hostile_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_save_load_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_esb_load_refuses_out_of_range, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
