// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The watchdog timer of the Intel 6300ESB I/O controller hub (-device
 * i6300esb): PCI function 8086:25ab, class 0880, facts from the 6300ESB
 * datasheet (watchdog timer chapter) and Linux's i6300esb driver.
 *
 * Configuration space:
 *   0x60 (16 bits) WDT configuration: bits 1:0 the interrupt of the first
 *        stage (00 IRQ = INTA here, 10 SMI, 11 none), bit 2 the prescaler
 *        (0: the 33 MHz PCI clock / 2^15, about 1 kHz; 1: / 2^5, about
 *        1 MHz), bit 5 WDT_TOUT# output (0: enabled, the action is taken).
 *   0x68 (8 bits) lock: bit 0 locks this register until reset, bit 1
 *        enables the timer, bit 2 free-running mode (no output at all).
 * BAR 0, 16 bytes of memory:
 *   0x00, 0x04 preload values of the two stages (20 bits each),
 *   0x08 GINTSR: bit 0, the first stage's interrupt (write 1 to clear),
 *   0x0C reload: bit 8 reloads stage 1 (the guest's "ping"), bit 9 is
 *        WDT_TIMEOUT, set when stage 2 ran out and kept across a system
 *        reset, so the rebooted guest can tell (write 1 to clear).
 * The preloads and reload register are guarded: a write to them takes
 * effect only right after 0x80 then 0x86 were written to 0x0C, and locks
 * them again.
 *
 * Two stages: the counter is loaded with preload 1; when it runs out the
 * first-stage interrupt is raised (if configured) and it is loaded with
 * preload 2; when that runs out WDT_TIMEOUT is set and the machine's
 * watchdog action taken (src/core/watchdog.c). Each stage lasts preload << 15
 * (or << 5) PCI clocks of 30 ns. The count runs on the event loop's
 * virtual clock: a paused VM's watchdog does not run out.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "device.h"
#include "event.h"
#include "hw/i6300esb.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"
#include "watchdog.h"

#define ESB_VENDOR 0x8086
#define ESB_DEVICE 0x25AB
#define ESB_CLASS 0x088000 /* base system peripheral, other */

#define ESB_CONFIG 0x60
#define ESB_CONFIG_INT_MASK 0x03
#define ESB_CONFIG_INT_IRQ 0x00
#define ESB_CONFIG_1MHZ 0x04
#define ESB_CONFIG_NO_OUTPUT 0x20
#define ESB_CONFIG_WMASK (ESB_CONFIG_INT_MASK | ESB_CONFIG_1MHZ | ESB_CONFIG_NO_OUTPUT)
#define ESB_LOCK 0x68
#define ESB_LOCK_LOCKED 0x01
#define ESB_LOCK_ENABLE 0x02
#define ESB_LOCK_FREE_RUN 0x04
#define ESB_LOCK_WMASK 0x07

#define ESB_PRELOAD1 0x00
#define ESB_PRELOAD2 0x04
#define ESB_GINTSR 0x08
#define ESB_RELOAD 0x0C
#define ESB_GINTSR_STAGE1 0x01
#define ESB_RELOAD_RELOAD 0x100
#define ESB_RELOAD_TIMEOUT 0x200
#define ESB_UNLOCK1 0x80
#define ESB_UNLOCK2 0x86
#define ESB_PRELOAD_MASK 0xFFFFF
#define ESB_BAR_SIZE 16

#define PCI_CLOCK_NS 30
/* A guest may program preloads of 0 or 1 with the 1 MHz prescaler and
 * free-running mode: a stage every microsecond, which would keep the main
 * loop's thread busy. No guest can tell a stage of 100 us from a shorter
 * one under a host scheduler, so stages last at least that. */
#define ESB_MIN_STAGE_NS 100000

#define ESB_STATE_VERSION 1

struct i6300esb {
	struct pci_device pci;
	pthread_mutex_t lock;
	struct event_loop *loop;     /* NULL: the counter never runs out (fuzzers) */
	struct event_timer *timer;
	struct watchdog_host *host;
	/* Copies of 0x60 and 0x68 as the hook last accepted them. */
	uint16_t config;
	uint8_t lock_reg;
	uint32_t preload[2];
	unsigned unlock;             /* 0, 1 after 0x80, 2 after 0x80 0x86 */
	bool int_status;             /* GINTSR bit 0 */
	bool timed_out;              /* reload register bit 9 */
	unsigned stage;              /* 0 stopped, 1 or 2 counting */
	int64_t deadline_ns;         /* virtual clock: the end of 'stage' */
};

int64_t i6300esb_stage_ns(uint32_t preload, bool mhz)
{
	int64_t clocks = (int64_t)(preload & ESB_PRELOAD_MASK) << (mhz ? 5 : 15);
	return MAX(clocks * PCI_CLOCK_NS, (int64_t)ESB_MIN_STAGE_NS);
}

static int64_t now_ns(struct i6300esb *s)
{
	return s->loop ? event_clock_ns(s->loop, EVENT_CLOCK_VIRTUAL) : 0;
}

/* ---- the counter (under the lock) ---------------------------------------- */

static void start_stage(struct i6300esb *s, unsigned stage, int64_t from_ns)
{
	s->stage = stage;
	s->deadline_ns = from_ns + i6300esb_stage_ns(s->preload[stage - 1],
						     s->config & ESB_CONFIG_1MHZ);
	if (s->timer)
		event_timer_arm(s->timer, s->deadline_ns, 0);
}

static void stop_counter(struct i6300esb *s)
{
	s->stage = 0;
	if (s->timer)
		event_timer_cancel(s->timer);
}

static void set_stage1_irq(struct i6300esb *s, bool level)
{
	s->int_status = level;
	pci_set_irq(&s->pci, level);
}

/* The loop's thread. The deadline under the lock decides: a reload may
 * have come since the timer was due. Returns whether the action is due. */
static bool advance(struct i6300esb *s)
{
	int64_t now = now_ns(s);

	if (!s->stage || now < s->deadline_ns)
		return false;
	if (s->stage == 1) {
		if ((s->config & ESB_CONFIG_INT_MASK) == ESB_CONFIG_INT_IRQ)
			set_stage1_irq(s, true);
		/* SMI (10) has no SMM to go to here; 11 is no interrupt. */
		start_stage(s, 2, s->deadline_ns);
		return false;
	}
	if (s->lock_reg & ESB_LOCK_FREE_RUN) {
		start_stage(s, 1, s->deadline_ns); /* counts on, never drives the output */
		return false;
	}
	s->timed_out = true;
	/* The output stays asserted until the guest reloads or re-enables:
	 * one expiry, one action (a reset or power-off ends it anyway). */
	stop_counter(s);
	return !(s->config & ESB_CONFIG_NO_OUTPUT);
}

static void expire(void *opaque)
{
	struct i6300esb *s = opaque;

	pthread_mutex_lock(&s->lock);
	bool fire = advance(s);
	pthread_mutex_unlock(&s->lock);
	if (fire)
		watchdog_expired(s->host);
}

/* ---- BAR 0 ----------------------------------------------------------------- */

static uint32_t reg_read(struct i6300esb *s, unsigned reg)
{
	switch (reg) {
	case ESB_PRELOAD1: return s->preload[0];
	case ESB_PRELOAD2: return s->preload[1];
	case ESB_GINTSR: return s->int_status ? ESB_GINTSR_STAGE1 : 0;
	case ESB_RELOAD: return s->timed_out ? ESB_RELOAD_TIMEOUT : 0;
	default: return 0;
	}
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct i6300esb *s = opaque;

	if (off >= ESB_BAR_SIZE || off + size > ESB_BAR_SIZE)
		return 0;
	pthread_mutex_lock(&s->lock);
	uint32_t v = reg_read(s, (unsigned)off & ~3u);
	pthread_mutex_unlock(&s->lock);
	v >>= 8 * (off & 3);
	return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

/* A write to the reload register while it is locked: a step of the
 * unlock sequence (anything else starts it over). */
static void unlock_step(struct i6300esb *s, uint32_t v)
{
	if (v == ESB_UNLOCK1)
		s->unlock = 1;
	else if (v == ESB_UNLOCK2 && s->unlock == 1)
		s->unlock = 2;
	else
		s->unlock = 0;
}

static void reload_write(struct i6300esb *s, uint32_t v)
{
	if (v & ESB_RELOAD_TIMEOUT)
		s->timed_out = false;
	if ((v & ESB_RELOAD_RELOAD) && (s->lock_reg & ESB_LOCK_ENABLE))
		start_stage(s, 1, now_ns(s));
}

/* 'v' is the register's new bytes merged at their place in 'mask'. */
static void reg_write(struct i6300esb *s, unsigned reg, uint32_t v, uint32_t mask)
{
	if (reg == ESB_GINTSR) {
		if (v & mask & ESB_GINTSR_STAGE1)
			set_stage1_irq(s, false);
		return;
	}
	if (reg == ESB_RELOAD && s->unlock != 2) {
		unlock_step(s, v & 0xFFFF);
		return;
	}
	if (s->unlock != 2)
		return; /* a preload while locked: ignored */
	s->unlock = 0;
	if (reg == ESB_RELOAD) {
		reload_write(s, v & mask);
	} else if (reg == ESB_PRELOAD1 || reg == ESB_PRELOAD2) {
		uint32_t *p = &s->preload[reg == ESB_PRELOAD2];
		*p = ((*p & ~mask) | (v & mask)) & ESB_PRELOAD_MASK;
	}
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct i6300esb *s = opaque;

	if (off >= ESB_BAR_SIZE || off + size > ESB_BAR_SIZE)
		return;
	unsigned shift = 8 * (unsigned)(off & 3);
	uint32_t mask = (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << shift;
	pthread_mutex_lock(&s->lock);
	reg_write(s, (unsigned)off & ~3u, (uint32_t)(val << shift) & mask, mask);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops esb_mmio_ops = { .read = mmio_read, .write = mmio_write,
					    .min_size = 1, .max_size = 4 };

/* ---- configuration space --------------------------------------------------- */

/* The core stored the bytes under the write masks; a locked 0x68 takes
 * its old value back. */
static void esb_config_write(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
	struct i6300esb *s = d->opaque;

	pthread_mutex_lock(&s->lock);
	if (off < ESB_CONFIG + 2 && off + size > ESB_CONFIG)
		s->config = pci_get_word(d, ESB_CONFIG);
	if (off <= ESB_LOCK && off + size > ESB_LOCK) {
		uint8_t now = d->config[ESB_LOCK];
		if (s->lock_reg & ESB_LOCK_LOCKED) {
			__atomic_store_n(&d->config[ESB_LOCK], s->lock_reg, __ATOMIC_RELAXED);
		} else {
			bool was = s->lock_reg & ESB_LOCK_ENABLE;
			s->lock_reg = now;
			if ((now & ESB_LOCK_ENABLE) && !was)
				start_stage(s, 1, now_ns(s));
			else if (!(now & ESB_LOCK_ENABLE))
				stop_counter(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* The power-on state; WDT_TIMEOUT survives (it tells the rebooted guest
 * why). The core has reset the header and lowered INTx already. */
static void esb_reset(struct pci_device *d)
{
	struct i6300esb *s = d->opaque;

	pthread_mutex_lock(&s->lock);
	stop_counter(s);
	s->config = 0;
	s->lock_reg = 0;
	s->preload[0] = s->preload[1] = ESB_PRELOAD_MASK;
	s->unlock = 0;
	s->int_status = false;
	pthread_mutex_unlock(&s->lock);
}

struct i6300esb *i6300esb_create(struct pci_bus *bus, uint8_t devfn, struct event_loop *loop,
				 struct watchdog_host *host)
{
	struct i6300esb *s = xzalloc(sizeof(*s));
	struct pci_device *d = &s->pci;

	pthread_mutex_init(&s->lock, NULL);
	s->loop = loop;
	s->host = host;
	if (loop)
		s->timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, expire, s);
	pci_device_init(d, "i6300esb", ESB_VENDOR, ESB_DEVICE, ESB_CLASS, 0);
	pci_device_set_bar(d, 0, PCI_BAR_MEM32, false, ESB_BAR_SIZE, &esb_mmio_ops, s);
	pci_device_set_interrupt_pin(d, 1);
	/* Of the device-specific space only the watchdog's two registers are
	 * writable (the core's default is all of it). */
	memset(d->wmask + 0x40, 0, sizeof(d->wmask) - 0x40);
	d->wmask[ESB_CONFIG] = ESB_CONFIG_WMASK;
	d->wmask[ESB_LOCK] = ESB_LOCK_WMASK;
	d->opaque = s;
	d->config_write = esb_config_write;
	d->reset = esb_reset;
	s->preload[0] = s->preload[1] = ESB_PRELOAD_MASK;
	if (pci_register(bus, d, devfn) < 0) {
		i6300esb_destroy(s);
		return NULL;
	}
	return s;
}

struct pci_device *i6300esb_pci(struct i6300esb *s)
{
	return &s->pci;
}

unsigned i6300esb_stage(struct i6300esb *s, int64_t *left_ns)
{
	pthread_mutex_lock(&s->lock);
	unsigned stage = s->stage;
	if (left_ns)
		*left_ns = stage ? MAX(s->deadline_ns - now_ns(s), 0) : 0;
	pthread_mutex_unlock(&s->lock);
	return stage;
}

/* ---- saved state --------------------------------------------------------- */

static uint16_t config_word(const uint8_t cfg[256])
{
	return (uint16_t)(cfg[ESB_CONFIG] | cfg[ESB_CONFIG + 1] << 8);
}

/* The configuration space (0x60 and 0x68 in it), both preloads, the
 * unlock step, GINTSR, WDT_TIMEOUT, the stage and the time it has left
 * (the virtual clock is not saved: the count goes on from the load). */
void i6300esb_save(struct i6300esb *s, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "i6300esb", instance, ESB_STATE_VERSION);
	pci_config_put(w, &s->pci);
	ss_put_u32(w, "preload1", s->preload[0]);
	ss_put_u32(w, "preload2", s->preload[1]);
	ss_put_u8(w, "unlock", (uint8_t)s->unlock);
	ss_put_bool(w, "int_status", s->int_status);
	ss_put_bool(w, "timed_out", s->timed_out);
	ss_put_u8(w, "stage", (uint8_t)s->stage);
	ss_put_u64(w, "left_ns", s->stage ? (uint64_t)MAX(s->deadline_ns - now_ns(s), 0) : 0);
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

bool i6300esb_load(struct i6300esb *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], unlock = 0, stage = 0;
	uint32_t p1 = 0, p2 = 0;
	bool int_status = false, timed_out = false;
	uint64_t left = 0;

	if (!ss_section_open(r, "i6300esb", instance, 1, ESB_STATE_VERSION, NULL))
		return false;
	pci_config_get(r, &s->pci, cfg);
	ss_get_u32(r, "preload1", &p1);
	ss_get_u32(r, "preload2", &p2);
	ss_get_u8(r, "unlock", &unlock);
	ss_get_bool(r, "int_status", &int_status);
	ss_get_bool(r, "timed_out", &timed_out);
	ss_get_u8(r, "stage", &stage);
	ss_get_u64(r, "left_ns", &left);
	if (!ss_section_close(r))
		return false;
	bool mhz = config_word(cfg) & ESB_CONFIG_1MHZ;
	if (p1 > ESB_PRELOAD_MASK || p2 > ESB_PRELOAD_MASK || unlock > 2 || stage > 2 ||
	    (stage && !(cfg[ESB_LOCK] & ESB_LOCK_ENABLE)) || (!stage && left) ||
	    (stage && (int64_t)left > i6300esb_stage_ns(stage == 1 ? p1 : p2, mhz)))
		return ss_fail(r, "saved state: i6300esb %u: a preload, the unlock step, the stage "
			       "or its time left is out of range", instance);
	pci_config_apply(&s->pci, cfg);
	pthread_mutex_lock(&s->lock);
	s->config = config_word(cfg);
	s->lock_reg = cfg[ESB_LOCK];
	s->preload[0] = p1;
	s->preload[1] = p2;
	s->unlock = unlock;
	s->timed_out = timed_out;
	set_stage1_irq(s, int_status);
	if (stage) {
		s->stage = stage;
		s->deadline_ns = now_ns(s) + (int64_t)left;
		if (s->timer)
			event_timer_arm(s->timer, s->deadline_ns, 0);
	} else {
		stop_counter(s);
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

void i6300esb_destroy(struct i6300esb *s)
{
	if (!s)
		return;
	event_timer_free(s->timer);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the device table's entry ------------------------------------------ */

static int esb_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	d->state = i6300esb_create(b->pci, (uint8_t)d->devfn, b->loop, b->watchdog);
	if (!d->state)
		return set_err(err, errlen, "cannot create %s", d->cls->name);
	return 0;
}

static void esb_destroy_dev(struct dev_instance *d)
{
	i6300esb_destroy(d->state);
}

DEV_STATE_OPS(i6300esb, struct i6300esb)

const struct dev_class i6300esb_class = {
	.name = "i6300esb",
	.bus = DEV_BUS_PCI,
	.categories = DEV_CAT_WATCHDOG,
	.desc = "Intel 6300ESB watchdog timer",
	/* The PCI function's reset (pci_device_reset) resets the model. */
	.ops = { .create = esb_create_dev, .destroy = esb_destroy_dev, .save = i6300esb_save_dev,
		 .load = i6300esb_load_dev },
	/* After every device vmm placed before it had: adding a watchdog does
	 * not move a guest's disks or NICs (their names follow the slot). */
	.place_rank = 5,
};
