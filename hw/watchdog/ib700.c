// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The iBASE IB700 single-board computer's watchdog (-device ib700): two
 * write-only ISA ports. A write to 0x443 sets the timeout from the low
 * nibble of the byte (index 0 = 30 s, each step 2 s less, 15 = 0 s, the
 * table of the board's manual and Linux's ib700wdt) and starts or restarts
 * the count; a write to 0x441 stops it. When the count runs out the
 * machine's watchdog action is taken (src/core/watchdog.c).
 *
 * The count runs on the event loop's virtual clock, so a paused VM's
 * watchdog does not run out while it is paused.
 */
#include <pthread.h>
#include <stdlib.h>

#include "bus.h"
#include "device.h"
#include "event.h"
#include "hw/ib700.h"
#include "savestate.h"
#include "util.h"
#include "watchdog.h"

#define NSEC 1000000000LL
#define IB700_STATE_VERSION 1

struct ib700 {
	pthread_mutex_t lock;
	struct io_region stop_io, start_io;
	struct io_bus *pio;
	struct event_loop *loop;     /* NULL: the count never runs out (fuzzers) */
	struct event_timer *timer;
	struct watchdog_host *host;
	bool armed;
	int64_t deadline_ns;         /* virtual clock, while armed */
};

int64_t ib700_timeout_ns(uint8_t value)
{
	return (30 - 2 * (int64_t)(value & 0xF)) * NSEC;
}

static int64_t now_ns(struct ib700 *s)
{
	return s->loop ? event_clock_ns(s->loop, EVENT_CLOCK_VIRTUAL) : 0;
}

/* Under the lock. */
static void arm(struct ib700 *s, int64_t delay_ns)
{
	s->armed = true;
	s->deadline_ns = now_ns(s) + delay_ns;
	if (s->timer)
		event_timer_arm(s->timer, s->deadline_ns, 0);
}

static void disarm(struct ib700 *s)
{
	s->armed = false;
	if (s->timer)
		event_timer_cancel(s->timer);
}

/* The loop's thread. A write may have re-armed or stopped the count since
 * the timer was due: the deadline under the lock decides. */
static void expire(void *opaque)
{
	struct ib700 *s = opaque;
	bool fire;

	pthread_mutex_lock(&s->lock);
	fire = s->armed && now_ns(s) >= s->deadline_ns;
	if (fire)
		s->armed = false; /* one expiry, one action; a new write re-arms */
	pthread_mutex_unlock(&s->lock);
	if (fire)
		watchdog_expired(s->host);
}

/* Reads of either port are not decoded by the board: open bus. */
static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	return 0xFF;
}

static void start_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct ib700 *s = opaque;
	pthread_mutex_lock(&s->lock);
	arm(s, ib700_timeout_ns((uint8_t)val));
	pthread_mutex_unlock(&s->lock);
}

static void stop_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct ib700 *s = opaque;
	pthread_mutex_lock(&s->lock);
	disarm(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops start_ops = { .read = port_read, .write = start_write,
					 .min_size = 1, .max_size = 1 };
static const struct io_ops stop_ops = { .read = port_read, .write = stop_write,
					.min_size = 1, .max_size = 1 };

struct ib700 *ib700_create(struct io_bus *pio, struct event_loop *loop,
			   struct watchdog_host *host)
{
	struct ib700 *s = xzalloc(sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->pio = pio;
	s->loop = loop;
	s->host = host;
	if (loop)
		s->timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, expire, s);
	io_region_init(&s->stop_io, "ib700-stop", &stop_ops, s, 1);
	io_region_init(&s->start_io, "ib700-start", &start_ops, s, 1);
	if (bus_map(pio, &s->stop_io, IB700_STOP_PORT) < 0 ||
	    bus_map(pio, &s->start_io, IB700_START_PORT) < 0) {
		ib700_destroy(s);
		return NULL;
	}
	return s;
}

void ib700_reset(struct ib700 *s)
{
	pthread_mutex_lock(&s->lock);
	disarm(s);
	pthread_mutex_unlock(&s->lock);
}

bool ib700_armed(struct ib700 *s, int64_t *left_ns)
{
	pthread_mutex_lock(&s->lock);
	bool armed = s->armed;
	if (left_ns)
		*left_ns = armed ? MAX(s->deadline_ns - now_ns(s), 0) : 0;
	pthread_mutex_unlock(&s->lock);
	return armed;
}

/* Saved state: whether the count runs and the time it has left (the
 * virtual clock is not saved: the count goes on from the load). */
void ib700_save(struct ib700 *s, struct ss_writer *w, uint32_t instance)
{
	int64_t left;
	bool armed = ib700_armed(s, &left);

	ss_section_begin(w, "ib700", instance, IB700_STATE_VERSION);
	ss_put_bool(w, "armed", armed);
	ss_put_u64(w, "left_ns", (uint64_t)left);
	ss_section_end(w);
}

bool ib700_load(struct ib700 *s, struct ss_reader *r, uint32_t instance)
{
	bool armed = false;
	uint64_t left = 0;

	if (!ss_section_open(r, "ib700", instance, 1, IB700_STATE_VERSION, NULL))
		return false;
	ss_get_bool(r, "armed", &armed);
	ss_get_u64(r, "left_ns", &left);
	if (!ss_section_close(r))
		return false;
	if (left > (uint64_t)ib700_timeout_ns(0) || (!armed && left))
		return ss_fail(r, "saved state: ib700 %u: %llu ns left is out of range", instance,
			       (unsigned long long)left);
	pthread_mutex_lock(&s->lock);
	if (armed)
		arm(s, (int64_t)left);
	else
		disarm(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}

void ib700_destroy(struct ib700 *s)
{
	if (!s)
		return;
	if (s->stop_io.mapped)
		bus_unmap(s->pio, &s->stop_io);
	if (s->start_io.mapped)
		bus_unmap(s->pio, &s->start_io);
	event_timer_free(s->timer);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the device table's entry ------------------------------------------ */

static int ib700_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	d->state = ib700_create(b->pio, b->loop, b->watchdog);
	if (!d->state)
		return set_err(err, errlen, "ib700: ports %#x and %#x overlap another device",
			       IB700_STOP_PORT, IB700_START_PORT);
	return 0;
}

static void ib700_reset_dev(struct dev_instance *d)
{
	ib700_reset(d->state);
}

static void ib700_destroy_dev(struct dev_instance *d)
{
	ib700_destroy(d->state);
}

DEV_STATE_OPS(ib700, struct ib700)

const struct dev_class ib700_class = {
	.name = "ib700",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_WATCHDOG,
	.desc = "iBASE 700 watchdog (ports 0x441, 0x443)",
	.ops = { .create = ib700_create_dev, .reset = ib700_reset_dev,
		 .destroy = ib700_destroy_dev, .save = ib700_save_dev, .load = ib700_load_dev },
	.max_instances = 1, /* fixed ports */
};
