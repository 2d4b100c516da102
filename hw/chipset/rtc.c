// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * MC146818 RTC/CMOS, written from the datasheet's register description.
 *
 * Time model: guest time = clock() + offset. While B.SET is clear the time
 * registers are regenerated from that on every read; while it is set they
 * hold whatever the guest wrote, and clearing SET turns them back into a
 * new offset (the divider chain restarts, so the next update is 1 s later).
 * The offset is whole seconds plus nanoseconds: the guest may write any
 * year up to century 99 (binary mode reaches 10155 and beyond), far past
 * what 64-bit nanoseconds hold (2262).
 */
#include "hw/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "util.h"
#include "savestate.h"

#define NSEC 1000000000LL
#define UIP_WINDOW_NS 244000LL /* UIP rises 244 us before each update */

struct rtc {
	pthread_mutex_t lock;
	struct event_loop *loop; /* NULL: no interrupts from time passing */
	struct event_timer *periodic_timer, *second_timer;

	struct io_region region;
	struct irq_line irq;
	int irq_level;

	int64_t (*now_ns)(void *opaque);
	void *now_opaque;
	int64_t offset_sec;
	int64_t offset_frac; /* nanoseconds, 0 <= offset_frac < NSEC */

	uint8_t cmos[128];
	uint8_t index;

	/* interrupt bookkeeping */
	int64_t last_sec;      /* guest second last seen by the update timer */
	int64_t c_mono;        /* virtual time of the last C read (lazy PF) */
	int64_t c_sec;         /* guest second at the last C read (lazy UF) */
};

static int64_t realtime_ns(void *opaque)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

/* The periodic rate's clock: the loop's virtual one, which stops while
 * the VM is paused. */
static int64_t tick_clock_ns(struct rtc *r)
{
	if (r->loop)
		return event_clock_ns(r->loop, EVENT_CLOCK_VIRTUAL);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A point in guest time: whole seconds, and nanoseconds into the second. */
struct guest_time {
	int64_t sec, frac;
};

static struct guest_time guest_now(struct rtc *r)
{
	int64_t host = r->now_ns(r->now_opaque);
	int64_t host_sec = floor_div(host, NSEC);
	int64_t frac = host - host_sec * NSEC + r->offset_frac; /* < 2 s */
	return (struct guest_time){ host_sec + r->offset_sec + frac / NSEC, frac % NSEC };
}

static int64_t guest_sec(struct rtc *r)
{
	return guest_now(r).sec;
}

/* Makes the guest clock read 'sec' seconds and 'frac' ns now. */
static void set_guest_time(struct rtc *r, int64_t sec, int64_t frac)
{
	int64_t host = r->now_ns(r->now_opaque);
	int64_t host_sec = floor_div(host, NSEC);
	int64_t d = frac - (host - host_sec * NSEC); /* -1 s < d < 1 s */
	r->offset_sec = sec - host_sec - (d < 0);
	r->offset_frac = d < 0 ? d + NSEC : d;
}

static bool binary_mode(const struct rtc *r) { return r->cmos[RTC_REG_B] & RTC_B_DM; }

static uint8_t to_reg(const struct rtc *r, unsigned v)
{
	v %= 100;
	return binary_mode(r) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | (v % 10));
}

static unsigned from_reg(const struct rtc *r, uint8_t v)
{
	return binary_mode(r) ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

static uint8_t hour_to_reg(const struct rtc *r, unsigned h)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return to_reg(r, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(to_reg(r, h12) | (h >= 12 ? 0x80 : 0));
}

static unsigned hour_from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return from_reg(r, v);
	unsigned h = from_reg(r, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

/* A UTC date from days since 1970-01-01 (proleptic Gregorian calendar):
 * counted in 400-year eras of 146097 days, each year starting on March 1
 * so that February's leap day comes last. Done here rather than with
 * gmtime_r(), whose time-zone machinery would be paged into every vmm
 * process for a calculation this small. */
struct civil_date {
	int64_t year;
	unsigned month, day, weekday; /* 1-12, 1-31, 0 = Sunday */
};

static struct civil_date civil_from_days(int64_t days)
{
	int64_t z = days + 719468; /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                      /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */
	struct civil_date d;

	d.day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	d.month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	d.year = yoe + era * 400 + (d.month <= 2);
	d.weekday = (unsigned)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
	return d;
}

/* Renders 'secs' (UTC) in the current format into out[0..9] and out[0x32]. */
static void render_time(const struct rtc *r, int64_t secs, uint8_t *out)
{
	int64_t days = floor_div(secs, 86400);
	unsigned sod = (unsigned)(secs - days * 86400);
	struct civil_date d = civil_from_days(days);
	unsigned year = (unsigned)d.year;

	out[RTC_SECONDS] = to_reg(r, sod % 60);
	out[RTC_MINUTES] = to_reg(r, sod / 60 % 60);
	out[RTC_HOURS] = hour_to_reg(r, sod / 3600);
	out[RTC_DAY_OF_WEEK] = to_reg(r, d.weekday + 1);
	out[RTC_DAY_OF_MONTH] = to_reg(r, d.day);
	out[RTC_MONTH] = to_reg(r, d.month);
	out[RTC_YEAR] = to_reg(r, year % 100);
	out[RTC_CENTURY] = to_reg(r, year / 100);
}

static void refresh_time(struct rtc *r)
{
	if (!(r->cmos[RTC_REG_B] & RTC_B_SET))
		render_time(r, guest_sec(r), r->cmos);
}

/* The time the registers currently hold, as UTC seconds. */
static int64_t parse_time(const struct rtc *r)
{
	struct tm tm = { 0 };
	unsigned century = from_reg(r, r->cmos[RTC_CENTURY]);
	if (century < 19 || century > 99)
		century = 20;
	tm.tm_sec = (int)from_reg(r, r->cmos[RTC_SECONDS]);
	tm.tm_min = (int)from_reg(r, r->cmos[RTC_MINUTES]);
	tm.tm_hour = (int)hour_from_reg(r, r->cmos[RTC_HOURS]);
	tm.tm_mday = (int)from_reg(r, r->cmos[RTC_DAY_OF_MONTH]);
	tm.tm_mon = (int)from_reg(r, r->cmos[RTC_MONTH]) - 1;
	tm.tm_year = (int)(century * 100 + from_reg(r, r->cmos[RTC_YEAR])) - 1900;
	return (int64_t)timegm(&tm);
}

static bool is_time_reg(uint8_t idx)
{
	return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
	       (idx >= RTC_DAY_OF_WEEK && idx <= RTC_YEAR) || idx == RTC_CENTURY;
}

static int64_t pf_period_ns(const struct rtc *r)
{
	unsigned rate = r->cmos[RTC_REG_A] & 0x0f;
	if (!rate)
		return 0;
	if (rate <= 2)
		rate += 7;
	return (int64_t)(((uint64_t)NSEC << rate) / 65536);
}

static bool alarm_matches(const struct rtc *r, int64_t secs)
{
	uint8_t now[0x33];
	render_time(r, secs, now);
	static const uint8_t pairs[3][2] = {
		{ RTC_SECONDS_ALARM, RTC_SECONDS },
		{ RTC_MINUTES_ALARM, RTC_MINUTES },
		{ RTC_HOURS_ALARM, RTC_HOURS },
	};
	for (int i = 0; i < 3; i++) {
		uint8_t a = r->cmos[pairs[i][0]];
		if ((a & 0xc0) == 0xc0)
			continue; /* don't care */
		if (a != now[pairs[i][1]])
			return false;
	}
	return true;
}

static void update_irq(struct rtc *r)
{
	uint8_t b = r->cmos[RTC_REG_B], c = r->cmos[RTC_REG_C] & 0x70;
	bool on = (c & b & (RTC_B_PIE | RTC_B_AIE | RTC_B_UIE)) != 0;
	/* C and B share bit positions for PF/PIE, AF/AIE, UF/UIE. */
	r->cmos[RTC_REG_C] = (uint8_t)(c | (on ? RTC_C_IRQF : 0));
	if (on != r->irq_level) {
		r->irq_level = on;
		irq_set(&r->irq, on);
	}
}

/* ---- timers ---------------------------------------------------------------- */

/* Both run on the loop's virtual clock: while the VM is paused the guest
 * gets no periodic or update interrupts, and none are owed afterwards. */

static void periodic_tick(void *opaque)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	if ((r->cmos[RTC_REG_B] & RTC_B_PIE) && pf_period_ns(r)) {
		r->cmos[RTC_REG_C] |= RTC_C_PF;
		update_irq(r);
	}
	pthread_mutex_unlock(&r->lock);
}

static bool seconds_wanted(const struct rtc *r)
{
	uint8_t b = r->cmos[RTC_REG_B];
	return (b & (RTC_B_AIE | RTC_B_UIE)) && !(b & RTC_B_SET);
}

/* Just after the next guest second begins (the update cycle's end). */
static void arm_second(struct rtc *r)
{
	event_timer_arm_in(r->second_timer, NSEC - guest_now(r).frac + 1000, 0);
}

static void second_tick(void *opaque)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	if (seconds_wanted(r)) {
		int64_t sec = guest_sec(r);
		if (sec != r->last_sec) {
			r->last_sec = sec;
			r->cmos[RTC_REG_C] |= RTC_C_UF;
			if (alarm_matches(r, sec))
				r->cmos[RTC_REG_C] |= RTC_C_AF;
			update_irq(r);
		}
		arm_second(r);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Called with the lock held after A or B changed: a write to A or B
 * restarts the periodic phase, as the divider chain does. */
static void timer_kick(struct rtc *r)
{
	if (!r->loop)
		return;
	int64_t period = pf_period_ns(r);
	if ((r->cmos[RTC_REG_B] & RTC_B_PIE) && period)
		event_timer_arm_in(r->periodic_timer, period, period);
	else
		event_timer_cancel(r->periodic_timer);
	if (seconds_wanted(r))
		arm_second(r);
	else
		event_timer_cancel(r->second_timer);
}

/* ---- guest interface ------------------------------------------------------- */

static uint8_t read_reg(struct rtc *r, uint8_t idx)
{
	switch (idx) {
	case RTC_REG_A: {
		uint8_t a = r->cmos[RTC_REG_A] & 0x7f;
		bool running = ((a >> 4) & 7) != 6 && ((a >> 4) & 7) != 7;
		if (running && !(r->cmos[RTC_REG_B] & RTC_B_SET)) {
			if (guest_now(r).frac >= NSEC - UIP_WINDOW_NS)
				a |= RTC_A_UIP;
		}
		return a;
	}
	case RTC_REG_C: {
		/* Bring PF and UF up to date for guests that poll C. */
		int64_t now = tick_clock_ns(r), period = pf_period_ns(r);
		if (period && now - r->c_mono >= period)
			r->cmos[RTC_REG_C] |= RTC_C_PF;
		r->c_mono = now;
		if (!(r->cmos[RTC_REG_B] & RTC_B_SET)) {
			int64_t sec = guest_sec(r);
			if (sec != r->c_sec)
				r->cmos[RTC_REG_C] |= RTC_C_UF;
			r->c_sec = sec;
		}
		update_irq(r);
		uint8_t c = r->cmos[RTC_REG_C];
		r->cmos[RTC_REG_C] = 0;
		update_irq(r);
		return c;
	}
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		if (is_time_reg(idx))
			refresh_time(r);
		return r->cmos[idx];
	}
}

static void write_reg(struct rtc *r, uint8_t idx, uint8_t v)
{
	switch (idx) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = v & 0x7f;
		timer_kick(r);
		break;
	case RTC_REG_B: {
		uint8_t old = r->cmos[RTC_REG_B];
		if ((v & RTC_B_SET) && !(old & RTC_B_SET)) {
			refresh_time(r);      /* freeze the current time */
			v &= (uint8_t)~RTC_B_UIE; /* SET clears UIE */
		}
		r->cmos[RTC_REG_B] = v;
		if (!(v & RTC_B_SET) && (old & RTC_B_SET)) {
			/* Restart the clock from what the guest wrote. */
			set_guest_time(r, parse_time(r), 0);
			r->last_sec = r->c_sec = guest_sec(r); /* no update yet */
		}
		if ((v & ~old) & (RTC_B_AIE | RTC_B_UIE))
			r->last_sec = guest_sec(r);
		update_irq(r);
		timer_kick(r);
		break;
	}
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		if (is_time_reg(idx) && !(r->cmos[RTC_REG_B] & RTC_B_SET)) {
			/* Setting one field of a running clock: keep the others
			 * and the sub-second phase. */
			struct guest_time g = guest_now(r);
			render_time(r, g.sec, r->cmos);
			r->cmos[idx] = v;
			set_guest_time(r, parse_time(r), g.frac);
		} else {
			r->cmos[idx] = v;
		}
		break;
	}
}

static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
	struct rtc *r = opaque;
	if (offset == 0)
		return 0xff; /* the index port is write-only */
	pthread_mutex_lock(&r->lock);
	uint8_t v = read_reg(r, r->index);
	pthread_mutex_unlock(&r->lock);
	return v;
}

static void rtc_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	if (offset == 0)
		r->index = value & 0x7f; /* bit 7 is the NMI mask: ignored */
	else
		write_reg(r, r->index, (uint8_t)value);
	pthread_mutex_unlock(&r->lock);
}

static const struct io_ops rtc_ops = {
	.read = rtc_read, .write = rtc_write, .min_size = 1, .max_size = 1,
};

/* ---- lifecycle -------------------------------------------------------------- */

struct rtc *rtc_create(struct irq_line irq8, struct event_loop *loop)
{
	struct rtc *r = xzalloc(sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->irq = irq8;
	r->loop = loop;
	if (loop) {
		r->periodic_timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, periodic_tick, r);
		r->second_timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, second_tick, r);
	}
	r->now_ns = realtime_ns;
	r->cmos[RTC_REG_A] = 0x26;
	r->cmos[RTC_REG_B] = RTC_B_24H;
	r->cmos[RTC_REG_D] = RTC_D_VRT;
	r->c_mono = tick_clock_ns(r);
	r->c_sec = guest_sec(r);
	render_time(r, r->c_sec, r->cmos);
	io_region_init(&r->region, "rtc", &rtc_ops, r, 2);
	return r;
}

int rtc_map(struct rtc *r, struct io_bus *pio)
{
	return bus_map(pio, &r->region, RTC_PORT_BASE);
}

void rtc_set_cmos(struct rtc *r, uint8_t index, uint8_t value)
{
	pthread_mutex_lock(&r->lock);
	r->cmos[index & 0x7f] = value;
	pthread_mutex_unlock(&r->lock);
}

uint8_t rtc_get_cmos(struct rtc *r, uint8_t index)
{
	pthread_mutex_lock(&r->lock);
	uint8_t v = r->cmos[index & 0x7f];
	pthread_mutex_unlock(&r->lock);
	return v;
}

void rtc_set_clock(struct rtc *r, int64_t (*now_ns)(void *opaque), void *opaque)
{
	pthread_mutex_lock(&r->lock);
	r->now_ns = now_ns ? now_ns : realtime_ns;
	r->now_opaque = opaque;
	r->offset_sec = r->offset_frac = 0;
	r->c_sec = guest_sec(r);
	r->last_sec = r->c_sec;
	pthread_mutex_unlock(&r->lock);
}

void rtc_set_time(struct rtc *r, int64_t sec)
{
	pthread_mutex_lock(&r->lock);
	set_guest_time(r, sec, 0);
	r->c_sec = guest_sec(r);
	r->last_sec = r->c_sec;
	pthread_mutex_unlock(&r->lock);
}

void rtc_reset(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	r->cmos[RTC_REG_B] &= (uint8_t)~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
	r->cmos[RTC_REG_C] = 0;
	if (r->cmos[RTC_SHUTDOWN] != 0xfe)
		r->cmos[RTC_SHUTDOWN] = 0;
	r->index = 0;
	timer_kick(r); /* PIE, AIE and UIE are off: both timers stop */
	update_irq(r);
	r->irq_level = 0;
	irq_lower(&r->irq);
	pthread_mutex_unlock(&r->lock);
}

/* ---- saved state ------------------------------------------------------------
 * CMOS (the time registers included: they matter while B.SET holds them),
 * the index register and the guest's offset from the host clock, so the
 * guest's clock keeps following the host's real time across a save, as a
 * PC's battery-backed clock would (and QEMU's -rtc clock=host). The timer
 * bookkeeping is host-clock based: it restarts at load (the next periodic
 * tick one period later, the next update-ended at the next second); flags
 * already latched in C are kept. Nothing is in flight. */
#define RTC_STATE_VERSION 1
#define RTC_MAX_OFFSET_SEC 10000000000000LL /* 300,000 years: past any guest year */

void rtc_save(struct rtc *r, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&r->lock);
	ss_section_begin(w, "rtc", instance, RTC_STATE_VERSION);
	ss_put_bytes(w, "cmos", r->cmos, sizeof(r->cmos));
	ss_put_u8(w, "index", r->index);
	ss_put_u64(w, "offset_sec", (uint64_t)r->offset_sec);
	ss_put_u64(w, "offset_ns", (uint64_t)r->offset_frac);
	ss_section_end(w);
	pthread_mutex_unlock(&r->lock);
}

bool rtc_load(struct rtc *r, struct ss_reader *rd, uint32_t instance)
{
	uint8_t cmos[128], index = 0;
	uint64_t sec = 0, frac = 0;

	if (!ss_section_open(rd, "rtc", instance, 1, RTC_STATE_VERSION, NULL))
		return false;
	ss_get_bytes(rd, "cmos", cmos, sizeof(cmos));
	ss_get_u8(rd, "index", &index);
	ss_get_u64(rd, "offset_sec", &sec);
	ss_get_u64(rd, "offset_ns", &frac);
	if (!ss_section_close(rd))
		return false;
	if (index > 0x7f || frac >= (uint64_t)NSEC || (int64_t)sec > RTC_MAX_OFFSET_SEC ||
	    (int64_t)sec < -RTC_MAX_OFFSET_SEC)
		return ss_fail(rd, "saved state: rtc %u: index, offset or its fraction out of "
			       "range", instance);

	pthread_mutex_lock(&r->lock);
	memcpy(r->cmos, cmos, sizeof(cmos));
	r->index = index;
	r->offset_sec = (int64_t)sec;
	r->offset_frac = (int64_t)frac;
	r->c_mono = tick_clock_ns(r);
	r->last_sec = r->c_sec = guest_sec(r);
	update_irq(r);
	timer_kick(r); /* arms the timers the loaded B enables */
	pthread_mutex_unlock(&r->lock);
	return true;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	event_timer_free(r->periodic_timer);
	event_timer_free(r->second_timer);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
