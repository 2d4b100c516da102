// SPDX-License-Identifier: GPL-2.0-or-later
/* MC146818 RTC/CMOS driven through ports 0x70/0x71. */
#include "unit.h"
#include "bus_access.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "event.h"
#include "hw/rtc.h"
#include "irq.h"
#include "savestate.h"

#define T0 1709214356LL /* 2024-02-29 13:45:56 UTC, a Thursday */
#define NS 1000000000LL

struct fx {
	struct io_bus bus;
	struct rtc *r;
	struct event_loop *loop; /* the RTC's timers, run by loop_thread */
	pthread_t loop_thread;
	_Atomic int level, raises;
	_Atomic int64_t fake_ns;
};

static void set_irq(void *opaque, unsigned line, int level)
{
	struct fx *x = opaque;
	assert_int_equal(line, 8);
	if (level && !x->level)
		x->raises++;
	x->level = level;
}

static int64_t fake_clock(void *opaque)
{
	struct fx *x = opaque;
	return x->fake_ns;
}

static void *run_loop(void *arg)
{
	event_loop_run(arg);
	return NULL;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	bus_init(&x->bus, "pio");
	x->loop = event_loop_new();
	assert_non_null(x->loop);
	x->r = rtc_create((struct irq_line){ set_irq, x, 8 }, x->loop);
	assert_int_equal(pthread_create(&x->loop_thread, NULL, run_loop, x->loop), 0);
	x->fake_ns = T0 * NS + 100000000; /* .1 s into the second */
	rtc_set_clock(x->r, fake_clock, x);
	assert_int_equal(rtc_map(x->r, &x->bus), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	event_loop_quit(x->loop);
	pthread_join(x->loop_thread, NULL);
	rtc_destroy(x->r);
	event_loop_free(x->loop);
	bus_destroy(&x->bus);
	free(x);
	return 0;
}

static void outb(struct fx *x, uint16_t port, uint8_t v) { bus_wr(&x->bus, port, v, 1); }
static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->bus, port, 1); }
static uint8_t cmos_read(struct fx *x, uint8_t idx)
{
	outb(x, 0x70, idx);
	return inb(x, 0x71);
}
static void cmos_write(struct fx *x, uint8_t idx, uint8_t v)
{
	outb(x, 0x70, idx);
	outb(x, 0x71, v);
}

static void test_defaults_and_bcd(void **state)
{
	struct fx *x = *state;
	assert_int_equal(inb(x, 0x70), 0xff);
	assert_int_equal(cmos_read(x, RTC_REG_A), 0x26);
	assert_int_equal(cmos_read(x, RTC_REG_B), 0x02);
	/* PF may be up already, as on hardware: A=0x26 ticks at 1024 Hz, and
	 * a sanitized run (TSan) can take longer than a period to get here. */
	assert_int_equal(cmos_read(x, RTC_REG_C) & ~RTC_C_PF, 0x00);
	assert_int_equal(cmos_read(x, RTC_REG_D), 0x80);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x56);
	assert_int_equal(cmos_read(x, RTC_MINUTES), 0x45);
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x13);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_WEEK), 0x05);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_MONTH), 0x29);
	assert_int_equal(cmos_read(x, RTC_MONTH), 0x02);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x24);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x20);
	/* The NMI-mask bit of the index is ignored. */
	assert_int_equal(cmos_read(x, 0x80 | RTC_MINUTES), 0x45);
	/* Time advances with the clock. */
	x->fake_ns += 5 * NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x01);
	assert_int_equal(cmos_read(x, RTC_MINUTES), 0x46);
}

/* The calendar vmm computes (no gmtime_r) against the C library's, in
 * binary 24-hour mode: leap days, century years, and a sweep to 2200. */
static void check_date(struct fx *x, int64_t secs)
{
	time_t t = (time_t)secs;
	struct tm tm;
	assert_non_null(gmtime_r(&t, &tm));
	x->fake_ns = secs * NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), tm.tm_sec);
	assert_int_equal(cmos_read(x, RTC_MINUTES), tm.tm_min);
	assert_int_equal(cmos_read(x, RTC_HOURS), tm.tm_hour);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_WEEK), tm.tm_wday + 1);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_MONTH), tm.tm_mday);
	assert_int_equal(cmos_read(x, RTC_MONTH), tm.tm_mon + 1);
	assert_int_equal(cmos_read(x, RTC_YEAR), (tm.tm_year + 1900) % 100);
	assert_int_equal(cmos_read(x, RTC_CENTURY), (tm.tm_year + 1900) / 100);
}

/* -rtc base=DATE: the clock reads the date at once and runs on from it;
 * the guest setting the time later still works from there. */
static void test_set_time(void **state)
{
	struct fx *x = *state;
	rtc_set_time(x->r, 1150560081); /* 2006-06-17T16:01:21 */
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x20);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x06);
	assert_int_equal(cmos_read(x, RTC_MONTH), 0x06);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_MONTH), 0x17);
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x16);
	assert_int_equal(cmos_read(x, RTC_MINUTES), 0x01);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x21);
	/* a whole second after it was set (whatever the host's fraction then) */
	x->fake_ns += NS - 1;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x21);
	x->fake_ns += 1;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x22);
	x->fake_ns += 3600 * NS;
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x17);
	/* dates before 1970 (QEMU accepts them) */
	rtc_set_time(x->r, -86400 * 365LL);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x19);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x69);
	assert_int_equal(cmos_read(x, RTC_MONTH), 0x01);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_MONTH), 0x01);
}

static void test_calendar_matches_gmtime(void **state)
{
	struct fx *x = *state;
	static const int64_t fixed[] = {
		0, 86399, 86400,            /* 1970-01-01, a Thursday */
		951782400, 951868799,       /* 2000-02-29 (a leap century) */
		4107456000, 4107542400,     /* 2100-02-28, 2100-03-01 (no leap day) */
		2147483647, 1709164800,     /* 2038-01-19, 2024-02-29 */
		4102444799, 7258118399,     /* 2099-12-31 23:59:59, 2199-12-31 23:59:59 */
	};

	cmos_write(x, RTC_REG_B, RTC_B_DM | RTC_B_24H);
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_date(x, fixed[i]);
	for (int64_t secs = 0; secs < 7258118400; secs += 1000003)
		check_date(x, secs);
}

static void test_binary_and_12h(void **state)
{
	struct fx *x = *state;
	cmos_write(x, RTC_REG_B, RTC_B_DM | RTC_B_24H);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 56);
	assert_int_equal(cmos_read(x, RTC_HOURS), 13);
	assert_int_equal(cmos_read(x, RTC_YEAR), 24);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 20);
	/* 12-hour binary: 1 PM. */
	cmos_write(x, RTC_REG_B, RTC_B_DM);
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x80 | 1);
	/* 12-hour BCD, midnight and noon. */
	cmos_write(x, RTC_REG_B, 0);
	x->fake_ns = (T0 - 13 * 3600 - 45 * 60) * NS; /* 00:00:56 */
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x12);
	x->fake_ns += 12 * 3600 * NS; /* 12:00:56 */
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x92);
	x->fake_ns += 11 * 3600 * NS; /* 23:00:56 */
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x91);
	/* DSE is accepted and ignored. */
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_DSE);
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x23);
}

static void test_set_freeze_and_persist(void **state)
{
	struct fx *x = *state;
	/* SET freezes the registers. */
	cmos_write(x, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	x->fake_ns += 3 * NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x56);
	assert_int_equal(cmos_read(x, RTC_REG_A) & RTC_A_UIP, 0);
	/* Set 1999-12-31 23:59:58. */
	cmos_write(x, RTC_SECONDS, 0x58);
	cmos_write(x, RTC_MINUTES, 0x59);
	cmos_write(x, RTC_HOURS, 0x23);
	cmos_write(x, RTC_DAY_OF_MONTH, 0x31);
	cmos_write(x, RTC_MONTH, 0x12);
	cmos_write(x, RTC_YEAR, 0x99);
	cmos_write(x, RTC_CENTURY, 0x19);
	x->fake_ns += 10 * NS; /* still frozen */
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x58);
	cmos_write(x, RTC_REG_B, RTC_B_24H);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x58);
	x->fake_ns += 3 * NS; /* rolls over into 2000 */
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x01);
	assert_int_equal(cmos_read(x, RTC_MINUTES), 0x00);
	assert_int_equal(cmos_read(x, RTC_HOURS), 0x00);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_MONTH), 0x01);
	assert_int_equal(cmos_read(x, RTC_MONTH), 0x01);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x00);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x20);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_WEEK), 0x07); /* Saturday */
	/* The offset survives a system reset. */
	rtc_reset(x->r);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x00);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x01);
	/* Writing one field of a running clock keeps the others. */
	cmos_write(x, RTC_MINUTES, 0x30);
	assert_int_equal(cmos_read(x, RTC_MINUTES), 0x30);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x01);
	x->fake_ns += NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x02);
	assert_int_equal(cmos_read(x, RTC_MINUTES), 0x30);
}

static void test_uip(void **state)
{
	struct fx *x = *state;
	/* Fake clock: UIP only in the last 244 us of a second. */
	x->fake_ns = T0 * NS + 500000000;
	assert_int_equal(cmos_read(x, RTC_REG_A), 0x26);
	x->fake_ns = T0 * NS + NS - 100000;
	assert_int_equal(cmos_read(x, RTC_REG_A), 0xa6);
	x->fake_ns = T0 * NS + NS + 1000;
	assert_int_equal(cmos_read(x, RTC_REG_A), 0x26);
	/* Divider held in reset: no updates, no UIP. */
	cmos_write(x, RTC_REG_A, 0x70);
	x->fake_ns = T0 * NS + NS - 100000;
	assert_int_equal(cmos_read(x, RTC_REG_A), 0x70);
	cmos_write(x, RTC_REG_A, 0xa6); /* UIP is read-only */
	assert_int_equal(cmos_read(x, RTC_REG_A) & 0x7f, 0x26);

	/* Real clock: SeaBIOS's wait for UIP to clear must finish quickly. */
	rtc_set_clock(x->r, NULL, NULL);
	for (int round = 0; round < 3; round++) {
		int spins = 0;
		while (cmos_read(x, RTC_REG_A) & RTC_A_UIP)
			assert_true(++spins < 10000000);
	}
}

static void test_reg_c_and_irq(void **state)
{
	struct fx *x = *state;
	/* An update happened since the last C read: UF set, no IRQ. */
	x->fake_ns += NS;
	uint8_t c = cmos_read(x, RTC_REG_C);
	assert_int_equal(c & RTC_C_UF, RTC_C_UF);
	assert_int_equal(c & RTC_C_IRQF, 0);
	assert_int_equal(cmos_read(x, RTC_REG_C) & RTC_C_UF, 0);
	assert_int_equal(x->level, 0);

	/* Enabling UIE with UF already latched raises IRQ 8 at once. */
	x->fake_ns += NS;
	rtc_set_cmos(x->r, RTC_REG_C, RTC_C_UF);
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	assert_int_equal(x->level, 1);
	c = cmos_read(x, RTC_REG_C);
	assert_int_equal(c & (RTC_C_IRQF | RTC_C_UF), RTC_C_IRQF | RTC_C_UF);
	assert_int_equal(x->level, 0);
	assert_int_equal(cmos_read(x, RTC_REG_C) & 0xf0, 0);
	/* SET clears UIE. */
	cmos_write(x, RTC_REG_B, RTC_B_SET | RTC_B_24H | RTC_B_UIE);
	assert_int_equal(cmos_read(x, RTC_REG_B), RTC_B_SET | RTC_B_24H);
	cmos_write(x, RTC_REG_B, RTC_B_24H);
	/* C and D are read-only. */
	cmos_write(x, RTC_REG_C, 0xff);
	cmos_write(x, RTC_REG_D, 0x00);
	assert_int_equal(cmos_read(x, RTC_REG_D), 0x80);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_periodic_irq(void **state)
{
	struct fx *x = *state;
	cmos_write(x, RTC_REG_A, 0x26); /* 1024 Hz */
	cmos_read(x, RTC_REG_C);
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	int64_t start = mono_ms();
	int acks = 0;
	while (acks < 5 && mono_ms() - start < 2000) {
		if (x->level) {
			uint8_t c = cmos_read(x, RTC_REG_C);
			assert_int_equal(c & (RTC_C_IRQF | RTC_C_PF), RTC_C_IRQF | RTC_C_PF);
			assert_int_equal(x->level, 0);
			acks++;
		}
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(acks, 5);
	/* Disabled: the line stays low. */
	cmos_write(x, RTC_REG_B, RTC_B_24H);
	cmos_read(x, RTC_REG_C);
	struct timespec ts = { 0, 20000000 };
	nanosleep(&ts, NULL);
	assert_int_equal(x->level, 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* A paused VM (the loop's virtual clock stopped) gets no periodic
 * interrupt, and reading C then shows no PF either; after resuming the
 * ticks come back at their rate, without a burst for the pause. */
static void test_paused_clock_stops_periodic_irq(void **state)
{
	struct fx *x = *state;
	cmos_write(x, RTC_REG_A, 0x2f); /* rate 15: 2 Hz, 500 ms */
	cmos_read(x, RTC_REG_C);
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	event_clock_pause(x->loop);
	int raises = x->raises;
	sleep_ms(700); /* longer than a period */
	assert_int_equal(x->raises, raises);
	assert_int_equal(x->level, 0);
	assert_int_equal(cmos_read(x, RTC_REG_C) & RTC_C_PF, 0);
	event_clock_resume(x->loop);
	/* The tick owed since before the pause comes once its 500 ms of
	 * running time are over, not at once. */
	sleep_ms(100);
	assert_int_equal(x->raises, raises);
	int64_t start = mono_ms();
	while (!x->level && mono_ms() - start < 3000)
		sleep_ms(5);
	assert_int_equal(x->level, 1);
	assert_int_equal(x->raises, raises + 1);
	assert_int_equal(cmos_read(x, RTC_REG_C) & (RTC_C_IRQF | RTC_C_PF), RTC_C_IRQF | RTC_C_PF);
	cmos_write(x, RTC_REG_B, RTC_B_24H);
}

static void test_update_and_alarm_irq(void **state)
{
	struct fx *x = *state;
	rtc_set_clock(x->r, NULL, NULL); /* real time, real seconds */
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	/* Alarm every second (all don't-care) plus update-ended. */
	cmos_write(x, RTC_SECONDS_ALARM, 0xc0);
	cmos_write(x, RTC_MINUTES_ALARM, 0xc0);
	cmos_write(x, RTC_HOURS_ALARM, 0xc0);
	cmos_read(x, RTC_REG_C);
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_DM | RTC_B_AIE | RTC_B_UIE);
	int64_t start = mono_ms();
	while (!x->level && mono_ms() - start < 2500) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(x->level, 1);
	uint8_t c = cmos_read(x, RTC_REG_C);
	assert_int_equal(c & (RTC_C_IRQF | RTC_C_AF | RTC_C_UF), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	assert_int_equal(x->level, 0);
}

static void test_cmos_bytes_and_reset(void **state)
{
	struct fx *x = *state;
	rtc_set_cmos(x->r, 0x34, 0x12);
	rtc_set_cmos(x->r, 0x5f, 0x03);
	assert_int_equal(cmos_read(x, 0x34), 0x12);
	assert_int_equal(cmos_read(x, 0x5f), 0x03);
	cmos_write(x, 0x7f, 0xab);
	assert_int_equal(rtc_get_cmos(x->r, 0x7f), 0xab);
	assert_int_equal(cmos_read(x, 0xff), 0xab); /* index 0x7f with NMI bit */
	/* Reset: shutdown byte cleared unless 0xFE; config bytes kept. */
	cmos_write(x, RTC_SHUTDOWN, 0x05);
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_PIE | RTC_B_SQWE);
	rtc_reset(x->r);
	assert_int_equal(cmos_read(x, RTC_SHUTDOWN), 0);
	assert_int_equal(cmos_read(x, RTC_REG_B), RTC_B_24H);
	assert_int_equal(cmos_read(x, 0x34), 0x12);
	cmos_write(x, RTC_SHUTDOWN, 0xfe);
	rtc_reset(x->r);
	assert_int_equal(cmos_read(x, RTC_SHUTDOWN), 0xfe);
	assert_int_equal(x->level, 0);
}

/* Regression (issue 12, hole 6): the century register goes up to 99, and a
 * date past 2262 overflowed the signed nanosecond offset (undefined
 * behaviour; UBSan aborts the unit build). The clock must keep counting
 * there, both when set with SET and when one field of a running clock is
 * written. */
static void test_far_future_years(void **state)
{
	struct fx *x = *state;
	/* 9999-12-31 23:59:58 through SET. */
	cmos_write(x, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	cmos_write(x, RTC_SECONDS, 0x58);
	cmos_write(x, RTC_MINUTES, 0x59);
	cmos_write(x, RTC_HOURS, 0x23);
	cmos_write(x, RTC_DAY_OF_MONTH, 0x31);
	cmos_write(x, RTC_MONTH, 0x12);
	cmos_write(x, RTC_YEAR, 0x99);
	cmos_write(x, RTC_CENTURY, 0x99);
	cmos_write(x, RTC_REG_B, RTC_B_24H);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x58);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x99);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x99);
	x->fake_ns += NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x59);
	assert_int_equal(cmos_read(x, RTC_DAY_OF_MONTH), 0x31);
	/* The registers wrap to year 00 of century 100, which they show as 00. */
	x->fake_ns += NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x00);
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x00);
	assert_int_equal(cmos_read(x, RTC_MONTH), 0x01);

	/* Writing the century of a running clock: 2300. */
	cmos_write(x, RTC_CENTURY, 0x23);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x23);
	x->fake_ns += NS / 2;
	cmos_write(x, RTC_YEAR, 0x63); /* 2363 */
	assert_int_equal(cmos_read(x, RTC_YEAR), 0x63);
	assert_int_equal(cmos_read(x, RTC_CENTURY), 0x23);
	x->fake_ns += NS;
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x01);
	/* Binary mode takes year and century bytes up to 255: the largest date
	 * a guest can write still counts. */
	cmos_write(x, RTC_REG_B, RTC_B_SET | RTC_B_24H | RTC_B_DM);
	cmos_write(x, RTC_YEAR, 0xFF);
	cmos_write(x, RTC_CENTURY, 99);
	cmos_write(x, RTC_MONTH, 0xFF);
	cmos_write(x, RTC_DAY_OF_MONTH, 0xFF);
	cmos_write(x, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	x->fake_ns += NS;
	(void)cmos_read(x, RTC_YEAR);
	(void)cmos_read(x, RTC_REG_A); /* UIP from the sub-second phase */
	(void)cmos_read(x, RTC_REG_C);
}

static void save_to(struct rtc *r, struct ss_writer *w)
{
	ss_writer_init(w);
	rtc_save(r, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Save, load into a fresh RTC, save again: the same bytes; the new RTC
 * shows the guest's time (not the host's), its CMOS bytes and keeps
 * counting from there. */
static void test_save_load(void **state)
{
	struct fx *x = *state, *y;
	struct ss_writer w1, w2;
	struct ss_reader r;

	cmos_write(x, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	cmos_write(x, RTC_SECONDS, 0x58);
	cmos_write(x, RTC_MINUTES, 0x59);
	cmos_write(x, RTC_HOURS, 0x23);
	cmos_write(x, RTC_DAY_OF_MONTH, 0x31);
	cmos_write(x, RTC_MONTH, 0x12);
	cmos_write(x, RTC_YEAR, 0x99);
	cmos_write(x, RTC_CENTURY, 0x19);
	cmos_write(x, RTC_REG_B, RTC_B_24H);
	cmos_write(x, 0x34, 0xab);
	outb(x, 0x70, 0x34);
	save_to(x->r, &w1);

	setup((void **)&y);
	y->fake_ns = x->fake_ns;
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(rtc_load(y->r, &r, 0));
	ss_reader_close(&r);
	save_to(y->r, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	assert_int_equal(inb(y, 0x71), 0xab); /* the index register came along */
	assert_int_equal(cmos_read(y, RTC_SECONDS), 0x58);
	assert_int_equal(cmos_read(y, RTC_YEAR), 0x99);
	y->fake_ns += 2 * NS;
	assert_int_equal(cmos_read(y, RTC_SECONDS), 0x00);
	assert_int_equal(cmos_read(y, RTC_CENTURY), 0x20);
	teardown((void **)&y);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

/* An offset no guest can set (it would overflow the time arithmetic):
 * refused, the RTC unchanged. */
static void test_load_refuses(void **state)
{
	struct fx *x = *state;
	struct ss_writer w;
	struct ss_reader r;
	uint8_t cmos[128] = { 0 };

	ss_writer_init(&w);
	ss_section_begin(&w, "rtc", 0, 1);
	ss_put_bytes(&w, "cmos", cmos, sizeof(cmos));
	ss_put_u8(&w, "index", 0);
	ss_put_u64(&w, "offset_sec", (uint64_t)INT64_MAX);
	ss_put_u64(&w, "offset_ns", 0);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(rtc_load(x->r, &r, 0));
	assert_non_null(strstr(r.err, "out of range"));
	ss_reader_close(&r);
	assert_int_equal(cmos_read(x, RTC_SECONDS), 0x56);
	assert_int_equal(cmos_read(x, RTC_REG_A), 0x26);
	ss_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_and_bcd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_and_12h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_calendar_matches_gmtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_freeze_and_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_c_and_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_clock_stops_periodic_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_and_alarm_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_bytes_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_far_future_years, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
