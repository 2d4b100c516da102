// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PC speaker (-machine pcspk-audiodev=ID): port 0x61 and the sound of
 * PIT channel 2 (see include/hw/pcspk.h for the port's bits).
 *
 * Facts from the Intel 8254 datasheet (the six counter modes: mode 0's
 * output low until terminal count, mode 1's one-shot low pulse after a
 * gate trigger, mode 2's one-clock low pulse per period, mode 3's square
 * wave high for (N+1)/2 and low for (N-1)/2 clocks, modes 4 and 5's
 * one-clock strobe; a low gate holds modes 2 and 3 high; a rising gate
 * restarts modes 1, 2, 3 and 5; counts of 1 are illegal in modes 2 and 3;
 * 0 counts 65536) and the IBM PC/AT technical reference (port B: bit 0
 * timer 2 gate, bit 1 speaker data, bit 4 refresh detect, bit 5 timer 2
 * output).
 *
 * The PIT is KVM's: the guest programs channel 2 in the kernel, and the
 * model reads its count, mode and load time when it needs them (a port
 * read, a mixing step). A gate edge is the model's own (KVM's copy of the
 * gate changes nothing the guest can see but a restart, which the model
 * keeps as restart_ns); so no KVM_SET_PIT2, which would restart channel 0
 * too.
 *
 * Threads: vCPUs read and write the port; the audio backend's step (the
 * event loop's thread) renders. One lock covers the model. Port writes are
 * stamped with the backend's clock and queued; the step plays each from
 * its time, so the speaker's on/off and the guest's own level changes
 * land where the guest made them (to the output frame).
 */
#include "hw/pcspk.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bus.h"
#include "device.h"
#include "kvm.h"
#include "savestate.h"
#include "util.h"

#define PCSPK_STATE_VERSION 1
#define NSEC 1000000000LL
#define PORT_GATE 0x01
#define PORT_DATA 0x02
#define PORT_WRITABLE 0x0F /* gate, data, parity and channel check enables */
#define PORT_REFRESH 0x10
#define PORT_OUT2 0x20
#define REFRESH_NS 15085   /* the AT's refresh request period (channel 1, count 18) */
#define EVENT_QUEUE 1024   /* port writes not yet played */
#define NO_RESTART INT64_MIN
/* The voice plays on this long after the speaker was last used, so a
 * program toggling bit 1 itself (off half the time) is one stream, not
 * bursts, and a beep ends in silence rather than a cut. */
#define HOLD_NS (100 * 1000000LL)

/* A port write as the output plays it. */
struct pcspk_event {
	int64_t t;          /* the backend's clock */
	uint8_t bits;       /* gate and data */
	int64_t restart_ns; /* the gate's latest rising edge, PIT clock */
};

/* What the output has reached (the queue's writes up to the frame). */
struct pcspk_wave {
	uint8_t bits;
	int64_t restart_ns;
};

struct pcspk {
	pthread_mutex_t lock;
	struct io_bus *pio;
	struct io_region io;
	struct pcspk_pit pit;
	struct audio_backend *audio;
	struct audio_voice *voice;

	uint8_t port;       /* bits 0-3 as written */
	int64_t restart_ns; /* the gate's latest rising edge (PIT clock), or NO_RESTART */

	bool playing;       /* the voice asks for frames */
	int64_t off_ns;     /* when the output last saw bits 0 and 1 cleared (backend's clock) */
	unsigned head, len;
	struct pcspk_event q[EVENT_QUEUE];
	struct pcspk_wave out;
	/* Channel 2 at the latest step, and as it was before its latest
	 * change (frames before the new load time play the old one). */
	struct pcspk_channel cur, prev;
};

/* ---- the generator ------------------------------------------------------------- */

/* The mode as the counter runs it, or -1 (never programmed). */
static int counter_mode(const struct pcspk_channel *ch)
{
	if (ch->mode > 7)
		return -1;
	return ch->mode >= 6 ? ch->mode - 4 : ch->mode;
}

static uint32_t counter_period(const struct pcspk_channel *ch, int mode)
{
	uint32_t n = ch->count == 0 || ch->count > 65536 ? 65536 : ch->count;

	if ((mode == 2 || mode == 3) && n < 2)
		n = 2; /* illegal on the chip; the nearest legal count */
	return n;
}

/* Time since counting started, in PIT clocks: whole and fraction (kept
 * apart so the periodic modes stay exact however long it runs). */
struct ticks {
	uint64_t whole;
	double frac;
};

static struct ticks ticks_of(int64_t ns)
{
	if (ns <= 0)
		return (struct ticks){ 0, 0.0 };
	unsigned __int128 p = (unsigned __int128)(uint64_t)ns * PCSPK_PIT_HZ;
	return (struct ticks){ (uint64_t)(p / NSEC), (double)(uint64_t)(p % NSEC) / (double)NSEC };
}

/* Clocks in [0, x) during which OUT is high. */
static double high_clocks(int mode, uint32_t n, bool gate, bool triggered, struct ticks x)
{
	double xd = (double)x.whole + x.frac;
	double r = (double)(x.whole % n) + x.frac; /* position in the period */
	uint64_t periods = x.whole / n;

	switch (mode) {
	case 1:
		if (!triggered)
			return xd;
		/* fall through */
	case 0: /* low from the count (mode 1: the trigger) to terminal count */
		return MAX(0.0, xd - n);
	case 2:
		if (!gate)
			return xd;
		return xd - (double)periods - MAX(0.0, r - (double)(n - 1));
	case 3:
		if (!gate)
			return xd;
		return (double)(periods * ((n + 1) / 2)) + MIN(r, (double)((n + 1) / 2));
	case 5:
		if (!triggered)
			return xd;
		/* fall through */
	case 4: /* the one-clock strobe at terminal count */
		return xd - MIN(1.0, MAX(0.0, xd - n));
	default:
		return xd; /* not programmed: high */
	}
}

bool pcspk_out(const struct pcspk_channel *ch, bool gate, bool triggered, int64_t elapsed_ns)
{
	int mode = counter_mode(ch);
	uint32_t n = counter_period(ch, mode);
	struct ticks x = ticks_of(elapsed_ns);

	switch (mode) {
	case 1:
		if (!triggered)
			return true;
		/* fall through */
	case 0:
		return x.whole >= n;
	case 2:
		return !gate || x.whole % n != n - 1;
	case 3:
		return !gate || x.whole % n < (n + 1) / 2;
	case 5:
		if (!triggered)
			return true;
		/* fall through */
	case 4:
		return x.whole != n;
	default:
		return true;
	}
}

double pcspk_out_high(const struct pcspk_channel *ch, bool gate, bool triggered, int64_t e0_ns,
		      int64_t e1_ns)
{
	int mode = counter_mode(ch);
	uint32_t n = counter_period(ch, mode);
	struct ticks a = ticks_of(e0_ns), b = ticks_of(e1_ns);
	double width = (double)(b.whole - a.whole) + (b.frac - a.frac);

	if (e1_ns <= e0_ns || width <= 0.0)
		return pcspk_out(ch, gate, triggered, e0_ns) ? 1.0 : 0.0;
	double h = high_clocks(mode, n, gate, triggered, b) - high_clocks(mode, n, gate, triggered, a);
	return MIN(1.0, MAX(0.0, h / width));
}

/* ---- the port --------------------------------------------------------------------- */

static struct pcspk_channel read_channel(struct pcspk *s)
{
	struct pcspk_channel ch = { .mode = PCSPK_MODE_NONE };

	if (!s->pit.channel2 || !s->pit.channel2(s->pit.opaque, &ch))
		ch = (struct pcspk_channel){ .mode = PCSPK_MODE_NONE };
	return ch;
}

static int64_t pit_now(const struct pcspk *s)
{
	return s->pit.now_ns ? s->pit.now_ns(s->pit.opaque) : 0;
}

/* Where counting started: a rising gate restarts modes 1, 2, 3 and 5. */
static int64_t count_start(const struct pcspk_channel *ch, int64_t restart_ns, bool *triggered)
{
	int mode = counter_mode(ch);
	bool restarts = mode == 1 || mode == 2 || mode == 3 || mode == 5;

	*triggered = restart_ns != NO_RESTART && restart_ns >= ch->load_ns;
	return restarts && *triggered ? restart_ns : ch->load_ns;
}

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct pcspk *s = opaque;

	pthread_mutex_lock(&s->lock);
	struct pcspk_channel ch = read_channel(s);
	int64_t now = pit_now(s);
	bool triggered;
	int64_t start = count_start(&ch, s->restart_ns, &triggered);
	uint8_t v = s->port;
	if (pcspk_out(&ch, s->port & PORT_GATE, triggered, now - start))
		v |= PORT_OUT2;
	if ((now / REFRESH_NS) & 1)
		v |= PORT_REFRESH;
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* The oldest queued write, played now (or early: the queue is full). */
static void pop_event(struct pcspk *s)
{
	if ((s->out.bits & (PORT_GATE | PORT_DATA)) && !(s->q[s->head].bits & (PORT_GATE | PORT_DATA)))
		s->off_ns = s->q[s->head].t;
	s->out.bits = s->q[s->head].bits;
	s->out.restart_ns = s->q[s->head].restart_ns;
	s->head = (s->head + 1) % EVENT_QUEUE;
	s->len--;
}

static void queue_event(struct pcspk *s)
{
	if (s->len == EVENT_QUEUE)
		pop_event(s);
	struct pcspk_event *e = &s->q[(s->head + s->len) % EVENT_QUEUE];
	e->t = audio_voice_clock(s->voice);
	e->bits = s->port & (PORT_GATE | PORT_DATA);
	e->restart_ns = s->restart_ns;
	s->len++;
	if (!s->playing && (s->port & (PORT_GATE | PORT_DATA))) {
		s->playing = true;
		audio_voice_kick(s->voice);
	}
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct pcspk *s = opaque;
	uint8_t v = (uint8_t)value & PORT_WRITABLE;

	pthread_mutex_lock(&s->lock);
	if (!(s->port & PORT_GATE) && (v & PORT_GATE))
		s->restart_ns = pit_now(s);
	uint8_t changed = (s->port ^ v) & (PORT_GATE | PORT_DATA);
	s->port = v;
	if (changed && s->voice)
		queue_event(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct io_ops pcspk_ops = { .read = port_read, .write = port_write,
					 .min_size = 1, .max_size = 1 };

/* ---- the output --------------------------------------------------------------------- */

/* Channel 2 as the step starts; its previous programming is kept for the
 * frames before the new one's load time. */
static void refresh_channel(struct pcspk *s)
{
	struct pcspk_channel ch = read_channel(s);

	if (ch.count != s->cur.count || ch.mode != s->cur.mode || ch.load_ns != s->cur.load_ns) {
		s->prev = s->cur;
		s->cur = ch;
	}
}

/* One frame covering [h0, h1) of the PIT's clock. */
static int16_t render_frame(const struct pcspk *s, int64_t h0, int64_t h1)
{
	if (!(s->out.bits & PORT_DATA))
		return 0;
	const struct pcspk_channel *ch = h0 >= s->cur.load_ns ? &s->cur : &s->prev;
	bool triggered;
	int64_t start = count_start(ch, s->out.restart_ns, &triggered);
	double high = pcspk_out_high(ch, s->out.bits & PORT_GATE, triggered, h0 - start, h1 - start);
	double v = PCSPK_AMPLITUDE * (2.0 * high - 1.0);
	return (int16_t)(v >= 0 ? v + 0.5 : v - 0.5); /* to the nearest (no libm) */
}

/* The audio backend's step (loop thread). */
static void fill(void *opaque, struct audio_request *req)
{
	struct pcspk *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (!s->playing) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct audio_format fmt = { .channels = 1, .fmt = AUDIO_FMT_S16 };
	fmt.rate = audio_backend_format(s->audio)->rate;
	size_t n = audio_request_frames(req, &fmt), active = 0;
	int16_t *buf = audio_request_buffer(req);
	int64_t t0, t1;
	audio_request_window(req, &t0, &t1);
	/* The PIT's clock runs with the backend's (the virtual clock is the
	 * host's less the time paused): one offset maps a frame's time. */
	int64_t offset = pit_now(s) - audio_voice_clock(s->voice);
	refresh_channel(s);
	for (size_t k = 0; k < n; k++) {
		int64_t f0 = t0 + (int64_t)((double)(t1 - t0) * (double)k / (double)n);
		int64_t f1 = t0 + (int64_t)((double)(t1 - t0) * (double)(k + 1) / (double)n);
		while (s->len && s->q[s->head].t <= f0)
			pop_event(s);
		buf[k] = render_frame(s, f0 + offset, f1 + offset);
		if ((s->out.bits & (PORT_GATE | PORT_DATA)) || f0 - s->off_ns < HOLD_NS)
			active = k + 1;
	}
	if (!s->len && !(s->out.bits & (PORT_GATE | PORT_DATA)) && t1 - s->off_ns >= HOLD_NS) {
		s->playing = false; /* unused for HOLD_NS within the step: the output ends there */
		n = active;
	}
	audio_request_done(req, n);
	pthread_mutex_unlock(&s->lock);
}

/* ---- saved state ------------------------------------------------------------------ */

void pcspk_save(struct pcspk *s, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&s->lock);
	ss_section_begin(w, "pcspk", instance, PCSPK_STATE_VERSION);
	ss_put_u8(w, "port", s->port);
	ss_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

/* The count restarts KVM's PIT loads are not saved: loading the PIT
 * (KVM_SET_PIT2) starts every channel's count again anyway. The output in
 * flight is not saved either, as the backend's own buffers. */
bool pcspk_load(struct pcspk *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t port = 0;

	if (!ss_section_open(r, "pcspk", instance, 1, PCSPK_STATE_VERSION, NULL))
		return false;
	ss_get_u8(r, "port", &port);
	if (!ss_section_close(r))
		return false;
	if (port & ~PORT_WRITABLE)
		return ss_fail(r, "saved state: pcspk %u: invalid port 0x61 value %#x", instance,
			       port);
	pthread_mutex_lock(&s->lock);
	s->port = port;
	s->restart_ns = NO_RESTART;
	s->head = s->len = 0;
	s->out = (struct pcspk_wave){ .bits = port & (PORT_GATE | PORT_DATA),
				      .restart_ns = NO_RESTART };
	s->off_ns = INT64_MIN / 2;
	if (s->voice && (port & (PORT_GATE | PORT_DATA)) && !s->playing) {
		s->playing = true;
		audio_voice_kick(s->voice);
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

/* ---- life cycle ------------------------------------------------------------------- */

void pcspk_reset(struct pcspk *s)
{
	pthread_mutex_lock(&s->lock);
	s->port = 0;
	s->restart_ns = NO_RESTART;
	s->head = s->len = 0;
	s->out = (struct pcspk_wave){ .restart_ns = NO_RESTART };
	s->off_ns = INT64_MIN / 2;
	s->playing = false;
	s->cur = s->prev = (struct pcspk_channel){ .mode = PCSPK_MODE_NONE };
	pthread_mutex_unlock(&s->lock);
}

struct pcspk *pcspk_create(struct io_bus *pio, const struct pcspk_pit *pit,
			   struct audio_backend *audio, char *err, size_t errlen)
{
	struct pcspk *s = xzalloc(sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->pio = pio;
	if (pit)
		s->pit = *pit;
	io_region_init(&s->io, "pcspk", &pcspk_ops, s, 1);
	if (bus_map(pio, &s->io, PCSPK_PORT) < 0) {
		set_err(err, errlen, "pcspk: port %#x is taken by another device", PCSPK_PORT);
		pcspk_destroy(s);
		return NULL;
	}
	s->audio = audio;
	if (audio)
		s->voice = audio_voice_add(audio, "pcspk", fill, s);
	pcspk_reset(s);
	return s;
}

void pcspk_destroy(struct pcspk *s)
{
	if (!s)
		return;
	audio_voice_remove(s->voice);
	if (s->io.mapped)
		bus_unmap(s->pio, &s->io);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- the device table's entry ----------------------------------------------------- */

/* KVM's in-kernel PIT, read with KVM_GET_PIT2; its load times are
 * ktime_get(), i.e. CLOCK_MONOTONIC. */
static bool kvm_channel2(void *opaque, struct pcspk_channel *ch)
{
	struct kvm_pit_channel_info info;

	if (kvm_get_pit_channel(opaque, 2, &info) < 0)
		return false;
	*ch = (struct pcspk_channel){ .count = info.count, .mode = info.mode,
				      .load_ns = info.load_ns };
	return true;
}

static int64_t kvm_pit_now(void *opaque)
{
	return kvm_pit_clock_ns();
}

static const struct dev_prop pcspk_props[] = {
	{ .name = "audiodev", .type = PROP_AUDIODEV,
	  .help = "the -audiodev it plays through (-machine pcspk-audiodev=)" },
};

static int pcspk_create_dev(struct dev_instance *d, struct dev_board *b, char *err,
			    size_t errlen)
{
	struct audio_backend *audio = NULL;
	const char *id = dev_get_str(d, "audiodev");
	struct pcspk_pit pit = { .channel2 = kvm_channel2, .now_ns = kvm_pit_now,
				 .opaque = b->kvm };

	if (b->audiodev && !(audio = b->audiodev(b, id, err, errlen)))
		return -1;
	d->state = pcspk_create(b->pio, b->kvm ? &pit : NULL, audio, err, errlen);
	return d->state ? 0 : -1;
}

static void pcspk_reset_dev(struct dev_instance *d)
{
	pcspk_reset(d->state);
}

static void pcspk_destroy_dev(struct dev_instance *d)
{
	pcspk_destroy(d->state);
}

DEV_STATE_OPS(pcspk, struct pcspk)

const struct dev_class pcspk_class = {
	.name = "isa-pcspk",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_SOUND,
	.desc = "PC speaker (-machine pcspk-audiodev=ID)",
	.props = pcspk_props,
	.nprops = ARRAY_SIZE(pcspk_props),
	.board_only = true,
	.max_instances = 1,
	.ops = { .create = pcspk_create_dev, .reset = pcspk_reset_dev,
		 .destroy = pcspk_destroy_dev, .save = pcspk_save_dev, .load = pcspk_load_dev },
};
