// SPDX-License-Identifier: GPL-2.0-or-later
/* Audio backends, the mixer and the sample conversions (include/audio.h). */
#include "audio.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_sdl.h"
#include "event.h"
#include "util.h"
#include "wavfile.h"

#define NSEC 1000000000ULL
#define FRAC_ONE (1ULL << 32)
#define MAX_CHANNELS 2
#define DEFAULT_PERIOD_US 10000
#define DEFAULT_BUFFER_US 100000
#define NO_KICK INT64_MIN

struct audio_voice {
	struct audio_backend *be;
	struct audio_voice *next;
	char name[32];
	audio_fill_fn *fill;
	void *opaque;
	/* The rate converter, reset whenever the voice starts or changes
	 * format: the output frame lies 'frac' (32.32) of the way from prev
	 * to cur, both already in the backend's channel layout. */
	bool playing;
	struct audio_format in;
	uint64_t step;   /* input frames per output frame, 32.32 */
	uint64_t frac;
	int32_t prev[MAX_CHANNELS], cur[MAX_CHANNELS];
};

struct audio_request {
	struct audio_voice *v;
	size_t out_frames; /* what the step is worth at the backend's rate */
	size_t due;        /* ... in the voice's frames */
	bool active;
	size_t produced;   /* output frames the voice filled */
};

struct audio_backend {
	char id[AUDIODEV_ID_MAX];
	enum audiodev_kind kind;
	struct audio_format out;
	struct wav_file *wav;
	struct sdl_audio *sdl;
	struct event_loop *loop;
	struct event_timer *timer;
	int64_t period_ns;
	atomic_bool kicked;   /* a voice may have started since the timer stopped */
	bool started;         /* the clock runs: start_ns and frames_done are valid */
	int64_t start_ns;
	uint64_t frames_done; /* output frames the clock has counted since start_ns */
	_Atomic int64_t last_ns; /* the latest step's time */
	_Atomic int64_t kick_ns; /* when a voice started while the clock rested (NO_KICK: none) */
	int64_t win_start, win_end; /* the step being mixed */
	uint64_t written;
	struct audio_voice *voices;
	uint8_t *in_buf;      /* one voice's frames for a step */
	int32_t *mix;         /* the step's mix, backend channels */
	uint8_t *out_buf;     /* the mix in the backend's format */
};

/* ---- formats -------------------------------------------------------------- */

static const char *const fmt_names[] = { "u8", "s8", "u16", "s16", "u32", "s32", "f32",
					  "s16be", "ulaw", "alaw" };

const char *audio_fmt_name(enum audio_fmt f)
{
	return (unsigned)f < ARRAY_SIZE(fmt_names) ? fmt_names[f] : "?";
}

int audio_fmt_parse(const char *s)
{
	for (unsigned i = 0; i <= AUDIO_FMT_F32; i++) /* the backends' formats */
		if (!strcmp(s, fmt_names[i]))
			return (int)i;
	return -1;
}

unsigned audio_fmt_bytes(enum audio_fmt f)
{
	switch (f) {
	case AUDIO_FMT_U8:
	case AUDIO_FMT_S8:
	case AUDIO_FMT_ULAW:
	case AUDIO_FMT_ALAW:
		return 1;
	case AUDIO_FMT_U16:
	case AUDIO_FMT_S16:
	case AUDIO_FMT_S16BE:
		return 2;
	default:
		return 4;
	}
}

/* ITU-T G.711 (the companded formats): a sign bit, a 3-bit segment
 * (exponent) and a 4-bit step within it. mu-law is sent inverted and its
 * segments are biased by 0x84 (so the steps of segment 0 are 8 wide as
 * well); A-law has every even bit inverted and its segment 0 linear.
 * Decoded onto the 16-bit scale (14- and 13-bit codes shifted up); the
 * encoders pick the code whose step holds the value (truncating, as
 * G.711), so decoding then encoding gives every code back (mu-law's two
 * zeros both come back as 0xFF). */
#define ULAW_BIAS 0x84
#define ULAW_CLIP 32635

static int32_t ulaw_decode(uint8_t code)
{
	uint8_t u = (uint8_t)~code;
	unsigned seg = (u >> 4) & 7;
	int32_t mag = ((((int32_t)(u & 0x0F)) << 3) + ULAW_BIAS) << seg;

	mag -= ULAW_BIAS;
	return (u & 0x80) ? -mag : mag;
}

static uint8_t ulaw_encode(int32_t v)
{
	uint8_t sign = v < 0 ? 0x80 : 0;
	int32_t mag = v < 0 ? -v : v;
	unsigned seg = 0;

	mag = MIN(mag, ULAW_CLIP) + ULAW_BIAS;
	while (seg < 7 && mag >= (0x100 << seg))
		seg++;
	return (uint8_t)~(sign | seg << 4 | ((mag >> (seg + 3)) & 0x0F));
}

static int32_t alaw_decode(uint8_t code)
{
	uint8_t a = code ^ 0x55;
	unsigned seg = (a >> 4) & 7;
	int32_t mag = ((int32_t)(a & 0x0F) << 4) + 8;

	if (seg)
		mag = (mag + 0x100) << (seg - 1);
	return (a & 0x80) ? mag : -mag; /* A-law's sign bit set is positive */
}

static uint8_t alaw_encode(int32_t v)
{
	uint8_t sign = v >= 0 ? 0x80 : 0;
	int32_t mag = v < 0 ? -(v + 1) : v; /* -1 .. -32768 onto 0 .. 32767, as G.711 */
	unsigned seg = 0;

	while (seg < 7 && mag >= (0x100 << seg))
		seg++;
	unsigned step = seg ? (mag >> (seg + 3)) & 0x0F : (mag >> 4) & 0x0F;
	return (uint8_t)((sign | seg << 4 | step) ^ 0x55);
}

/* The mixing scale is signed 16-bit: every format up to 16 bits converts
 * to it and back unchanged; 32-bit formats keep their top 16 bits. */
int32_t audio_sample_to_mix(enum audio_fmt fmt, const uint8_t *p)
{
	float f;
	uint32_t u;

	switch (fmt) {
	case AUDIO_FMT_U8:
		return ((int32_t)p[0] - 128) * 256;
	case AUDIO_FMT_S8:
		return (int8_t)p[0] * 256;
	case AUDIO_FMT_U16:
		return (int32_t)(p[0] | p[1] << 8) - 32768;
	case AUDIO_FMT_S16:
		return (int16_t)(p[0] | p[1] << 8);
	case AUDIO_FMT_S16BE:
		return (int16_t)(p[0] << 8 | p[1]);
	case AUDIO_FMT_ULAW:
		return ulaw_decode(p[0]);
	case AUDIO_FMT_ALAW:
		return alaw_decode(p[0]);
	case AUDIO_FMT_U32:
		return ((int32_t)(get_le32(p) >> 16)) - 32768;
	case AUDIO_FMT_S32:
		return (int16_t)(get_le32(p) >> 16);
	case AUDIO_FMT_F32:
		u = get_le32(p);
		memcpy(&f, &u, sizeof(f));
		if (!(f > -1.0f)) /* also NaN */
			return f < 0 ? -32768 : 0;
		if (f >= 1.0f)
			return 32767;
		return (int32_t)(f * 32768.0f + (f < 0 ? -0.5f : 0.5f));
	}
	return 0;
}

void audio_sample_from_mix(enum audio_fmt fmt, int32_t v, uint8_t *p)
{
	float f;
	uint32_t u;

	v = v < -32768 ? -32768 : v > 32767 ? 32767 : v;
	switch (fmt) {
	case AUDIO_FMT_U8:
		p[0] = (uint8_t)((v + 32768) >> 8);
		break;
	case AUDIO_FMT_S8:
		p[0] = (uint8_t)(((v + 32768) >> 8) - 128);
		break;
	case AUDIO_FMT_U16:
		p[0] = (uint8_t)(v + 32768), p[1] = (uint8_t)((v + 32768) >> 8);
		break;
	case AUDIO_FMT_S16:
		p[0] = (uint8_t)v, p[1] = (uint8_t)((uint32_t)v >> 8);
		break;
	case AUDIO_FMT_S16BE:
		p[0] = (uint8_t)((uint32_t)v >> 8), p[1] = (uint8_t)v;
		break;
	case AUDIO_FMT_ULAW:
		p[0] = ulaw_encode(v);
		break;
	case AUDIO_FMT_ALAW:
		p[0] = alaw_encode(v);
		break;
	case AUDIO_FMT_U32:
		put_le32(p, (uint32_t)(v + 32768) << 16);
		break;
	case AUDIO_FMT_S32:
		put_le32(p, (uint32_t)v << 16);
		break;
	case AUDIO_FMT_F32:
		f = (float)v / 32768.0f;
		memcpy(&u, &f, sizeof(u));
		put_le32(p, u);
		break;
	}
}

static unsigned frame_bytes(const struct audio_format *f)
{
	return f->channels * audio_fmt_bytes(f->fmt);
}

/* A card's format as the mixer takes it. */
static struct audio_format sane_format(const struct audio_format *f)
{
	struct audio_format s = *f;

	s.rate = MIN(MAX(s.rate, AUDIO_RATE_MIN), AUDIO_RATE_MAX);
	if (s.channels != 2)
		s.channels = 1;
	if ((unsigned)s.fmt > AUDIO_FMT_LAST)
		s.fmt = AUDIO_FMT_S16;
	return s;
}

/* ---- -audiodev ------------------------------------------------------------ */

static int parse_uint_in(const char *key, const char *v, uint64_t min, uint64_t max,
			 uint64_t *out, char *err, size_t errlen)
{
	const char *end = scan_uint(v, 0, out);

	if (!end || *end || *out < min || *out > max)
		return set_err(err, errlen, "-audiodev: %s=%s: expected a number from %llu to %llu",
			       key, v, (unsigned long long)min, (unsigned long long)max);
	return 0;
}

static int audiodev_set(struct audiodev_config *c, const char *key, const char *v, char *err,
			size_t errlen)
{
	uint64_t n;
	int f;

	if (!strcmp(key, "id")) {
		if (!*v || strlen(v) >= sizeof(c->id))
			return set_err(err, errlen, "-audiodev: id= must be 1 to %zu characters",
				       sizeof(c->id) - 1);
		strcpy(c->id, v);
	} else if (!strcmp(key, "path")) {
		if (!*v)
			return set_err(err, errlen, "-audiodev: path= is empty");
		free(c->path);
		c->path = xstrdup(v);
	} else if (!strcmp(key, "out.frequency")) {
		if (parse_uint_in(key, v, 8000, AUDIO_RATE_MAX, &n, err, errlen) < 0)
			return -1;
		c->out.rate = (uint32_t)n;
	} else if (!strcmp(key, "out.channels")) {
		if (parse_uint_in(key, v, 1, 2, &n, err, errlen) < 0)
			return -1;
		c->out.channels = (unsigned)n;
	} else if (!strcmp(key, "out.format")) {
		if ((f = audio_fmt_parse(v)) < 0)
			return set_err(err, errlen, "-audiodev: out.format=%s: expected u8, s8, u16, "
				       "s16, u32, s32 or f32", v);
		c->out.fmt = (enum audio_fmt)f;
	} else if (!strcmp(key, "out.buffer-length")) {
		if (parse_uint_in(key, v, 10000, 2000000, &n, err, errlen) < 0)
			return -1;
		c->buffer_us = (uint32_t)n;
	} else if (!strcmp(key, "timer-period")) {
		if (parse_uint_in(key, v, 1000, 1000000, &n, err, errlen) < 0)
			return -1;
		c->period_us = (uint32_t)n;
	} else {
		return set_err(err, errlen, "-audiodev: unknown parameter '%s' (known: id, path, "
			       "out.frequency, out.channels, out.format, out.buffer-length, "
			       "timer-period)", key);
	}
	return 0;
}

int audiodev_parse(const char *arg, struct audiodev_config *c, char *err, size_t errlen)
{
	char field[1024], driver[sizeof(field)] = "";
	const char *p = arg;
	bool first = true;

	memset(c, 0, sizeof(*c));
	c->out = (struct audio_format){ .rate = 44100, .channels = 2, .fmt = AUDIO_FMT_S16 };
	c->period_us = DEFAULT_PERIOD_US;
	c->buffer_us = DEFAULT_BUFFER_US;
	while (p && *p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "-audiodev: a parameter is too long");
		char *eq = strchr(field, '=');
		bool leading = first;
		first = false;
		if (!eq && leading) { /* QEMU's implied driver= */
			snprintf(driver, sizeof(driver), "%s", field);
			continue;
		}
		if (!eq)
			return set_err(err, errlen, "-audiodev: '%s' is not KEY=VALUE", field);
		*eq = '\0';
		if (!strcmp(field, "driver")) {
			snprintf(driver, sizeof(driver), "%s", eq + 1);
			continue;
		}
		if (audiodev_set(c, field, eq + 1, err, errlen) < 0)
			return -1;
	}
	if (!strcmp(driver, "none"))
		c->kind = AUDIODEV_NONE;
	else if (!strcmp(driver, "wav"))
		c->kind = AUDIODEV_WAV;
	else if (!strcmp(driver, "sdl"))
		c->kind = AUDIODEV_SDL;
	else if (!strcmp(driver, "help"))
		return set_err(err, errlen, "-audiodev: drivers: none, wav, sdl");
	else
		return set_err(err, errlen, "-audiodev %s: unknown driver (vmm has none, wav and "
			       "sdl)", driver[0] ? driver : "(none given)");
	if (!c->id[0])
		return set_err(err, errlen, "-audiodev %s: id= is required", driver);
	if (c->kind != AUDIODEV_NONE) {
		enum audio_fmt f = c->out.fmt;
		if (f != AUDIO_FMT_U8 && f != AUDIO_FMT_S16 && f != AUDIO_FMT_S32 &&
		    f != AUDIO_FMT_F32)
			return set_err(err, errlen, "-audiodev %s: out.format=%s: expected u8, s16, "
				       "s32 or f32", driver, audio_fmt_name(f));
	}
	if (c->kind == AUDIODEV_WAV && !c->path)
		c->path = xstrdup("vmm.wav");
	return 0;
}

void audiodev_config_free(struct audiodev_config *c)
{
	free(c->path);
	c->path = NULL;
}

/* ---- the mixer ------------------------------------------------------------ */

static void reset_converter(struct audio_voice *v, const struct audio_format *in)
{
	v->in = *in;
	v->step = ((uint64_t)in->rate << 32) / v->be->out.rate;
	v->frac = 0;
	memset(v->prev, 0, sizeof(v->prev));
	memset(v->cur, 0, sizeof(v->cur));
}

size_t audio_request_frames(struct audio_request *req, struct audio_format *fmt)
{
	struct audio_voice *v = req->v;
	struct audio_format in = sane_format(fmt);

	*fmt = in;
	if (!v->playing || in.rate != v->in.rate || in.channels != v->in.channels ||
	    in.fmt != v->in.fmt)
		reset_converter(v, &in);
	v->playing = true;
	req->active = true;
	if (in.rate == v->be->out.rate)
		req->due = req->out_frames;
	else
		req->due = (size_t)((v->frac + req->out_frames * v->step) >> 32);
	/* An input rate far above the output's could ask for more than the
	 * buffer: the card then plays slower, never past the buffer. */
	req->due = MIN(req->due, (size_t)AUDIO_STEP_MAX_FRAMES + 1);
	return req->due;
}

void audio_request_window(const struct audio_request *req, int64_t *start_ns, int64_t *end_ns)
{
	*start_ns = req->v->be->win_start;
	*end_ns = req->v->be->win_end;
}

int64_t audio_voice_clock(const struct audio_voice *v)
{
	if (v->be->loop)
		return event_clock_ns(v->be->loop, EVENT_CLOCK_VIRTUAL);
	return atomic_load(&v->be->last_ns);
}

void *audio_request_buffer(struct audio_request *req)
{
	return req->v->be->in_buf;
}

/* One input frame, mapped onto the backend's channels. */
static void load_frame(const struct audio_voice *v, const uint8_t *p, int32_t *out)
{
	unsigned bytes = audio_fmt_bytes(v->in.fmt);
	int32_t l = audio_sample_to_mix(v->in.fmt, p);
	int32_t r = v->in.channels == 2 ? audio_sample_to_mix(v->in.fmt, p + bytes) : l;

	if (v->be->out.channels == 1) {
		out[0] = (l + r) / 2;
	} else {
		out[0] = l;
		out[1] = r;
	}
}

/* Same rates: each input frame is an output frame. */
static size_t mix_direct(struct audio_voice *v, size_t given)
{
	struct audio_backend *be = v->be;
	unsigned ch = be->out.channels, fb = frame_bytes(&v->in);
	int32_t f[MAX_CHANNELS];

	for (size_t i = 0; i < given; i++) {
		load_frame(v, be->in_buf + i * fb, f);
		for (unsigned c = 0; c < ch; c++)
			be->mix[i * ch + c] += f[c];
	}
	return given;
}

/* Other rates: linear interpolation between the two latest input frames. */
static size_t mix_converted(struct audio_voice *v, size_t out_frames, size_t given)
{
	struct audio_backend *be = v->be;
	unsigned ch = be->out.channels, fb = frame_bytes(&v->in);
	size_t used = 0, k;

	for (k = 0; k < out_frames; k++) {
		for (unsigned c = 0; c < ch; c++) {
			int64_t d = (int64_t)v->cur[c] - v->prev[c];
			be->mix[k * ch + c] += v->prev[c] + (int32_t)((d * (int64_t)v->frac) >> 32);
		}
		v->frac += v->step;
		while (v->frac >= FRAC_ONE) {
			if (used == given)
				return k + 1; /* the voice ended within the step */
			v->frac -= FRAC_ONE;
			memcpy(v->prev, v->cur, sizeof(v->prev));
			load_frame(v, be->in_buf + used * fb, v->cur);
			used++;
		}
	}
	return k;
}

void audio_request_done(struct audio_request *req, size_t frames)
{
	struct audio_voice *v = req->v;

	if (!req->active)
		return;
	size_t given = MIN(frames, req->due);
	if (v->in.rate == v->be->out.rate)
		req->produced = mix_direct(v, given);
	else
		req->produced = mix_converted(v, req->out_frames, given);
}

/* Output frames the clock owes since the last step. A resting clock
 * starts again from the kick that woke it (so a card's first samples are
 * due from its start command, not from the next tick), or from now. */
static size_t frames_due(struct audio_backend *be, int64_t now_ns, int64_t kick_ns)
{
	if (!be->started) {
		be->started = true;
		be->start_ns = kick_ns != NO_KICK && kick_ns <= now_ns ? kick_ns : now_ns;
		be->frames_done = 0;
		be->win_end = be->start_ns;
	}
	if (now_ns <= be->start_ns)
		return 0;
	uint64_t total = (uint64_t)((unsigned __int128)(uint64_t)(now_ns - be->start_ns) *
				    be->out.rate / NSEC);
	if (total <= be->frames_done)
		return 0;
	uint64_t n = total - be->frames_done;
	if (n > AUDIO_STEP_MAX_FRAMES)
		n = AUDIO_STEP_MAX_FRAMES; /* the time beyond is dropped */
	if (be->sdl) {
		/* The device takes the ring at its own pace: what does not
		 * fit now is not asked of the cards (they fall behind the
		 * virtual clock by that time instead of losing the samples). */
		size_t room = sdl_audio_room(be->sdl);
		if (room != SIZE_MAX)
			n = MIN(n, room / frame_bytes(&be->out));
	}
	be->frames_done = total;
	return (size_t)n;
}

static void write_out(struct audio_backend *be, size_t frames)
{
	unsigned ch = be->out.channels, sb = audio_fmt_bytes(be->out.fmt);

	for (size_t i = 0; i < frames * ch; i++)
		audio_sample_from_mix(be->out.fmt, be->mix[i], be->out_buf + i * sb);
	if (be->wav)
		wav_file_write(be->wav, be->out_buf, frames * ch * sb);
	if (be->sdl)
		sdl_audio_write(be->sdl, be->out_buf, frames * ch * sb);
	be->written += frames;
}

/* Returns whether a voice played. */
static bool mix_step(struct audio_backend *be, size_t n)
{
	size_t longest = 0;
	bool any = false;

	memset(be->mix, 0, n * be->out.channels * sizeof(*be->mix));
	for (struct audio_voice *v = be->voices; v; v = v->next) {
		struct audio_request req = { .v = v, .out_frames = n };
		v->fill(v->opaque, &req);
		if (!req.active) {
			v->playing = false;
			continue;
		}
		any = true;
		longest = MAX(longest, req.produced);
	}
	if (longest)
		write_out(be, longest);
	return any;
}

void audio_backend_run(struct audio_backend *be, int64_t now_ns)
{
	int64_t kick_ns = atomic_exchange(&be->kick_ns, NO_KICK);
	atomic_store(&be->last_ns, now_ns);
	size_t n = frames_due(be, now_ns, kick_ns);

	if (!n)
		return;
	be->win_start = be->win_end;
	be->win_end = now_ns;
	if (mix_step(be, n))
		return;
	/* Nobody plays: the timer rests until a voice kicks it, and the
	 * clock starts again from then. */
	be->started = false;
	if (be->timer) {
		event_timer_cancel(be->timer);
		if (atomic_exchange(&be->kicked, false))
			event_timer_arm_in(be->timer, be->period_ns, be->period_ns);
	}
}

static void tick(void *opaque)
{
	struct audio_backend *be = opaque;

	atomic_store(&be->kicked, false);
	audio_backend_run(be, event_clock_ns(be->loop, EVENT_CLOCK_VIRTUAL));
}

void audio_voice_kick(struct audio_voice *v)
{
	struct audio_backend *be = v->be;

	atomic_store(&be->kick_ns, audio_voice_clock(v));
	atomic_store(&be->kicked, true);
	if (be->timer && !event_timer_armed(be->timer))
		event_timer_arm_in(be->timer, be->period_ns, be->period_ns);
}

/* ---- backends and voices -------------------------------------------------- */

struct audio_backend *audio_backend_open(const struct audiodev_config *c, struct event_loop *loop,
					 char *err, size_t errlen)
{
	struct audio_backend *be = xzalloc(sizeof(*be));
	unsigned out_frame;

	snprintf(be->id, sizeof(be->id), "%s", c->id);
	be->kind = c->kind;
	be->out = sane_format(&c->out);
	if (c->kind == AUDIODEV_WAV) {
		enum audio_fmt f = be->out.fmt;
		be->wav = wav_file_create(c->path ? c->path : "vmm.wav", be->out.rate,
					  be->out.channels, audio_fmt_bytes(f) * 8,
					  f == AUDIO_FMT_F32, err, errlen);
		if (!be->wav) {
			free(be);
			return NULL;
		}
	}
	if (c->kind == AUDIODEV_SDL) {
		enum audio_fmt f = be->out.fmt;
		be->sdl = sdl_audio_open(be->out.rate, be->out.channels, audio_fmt_bytes(f) * 8,
					 f == AUDIO_FMT_F32, c->buffer_us ? c->buffer_us
					 : DEFAULT_BUFFER_US, c->sandboxed, err, errlen);
		if (!be->sdl) {
			free(be);
			return NULL;
		}
	}
	out_frame = frame_bytes(&be->out);
	be->in_buf = xzalloc(((size_t)AUDIO_STEP_MAX_FRAMES + 1) * MAX_CHANNELS * 4);
	be->mix = xzalloc((size_t)AUDIO_STEP_MAX_FRAMES * MAX_CHANNELS * sizeof(*be->mix));
	be->out_buf = xzalloc((size_t)AUDIO_STEP_MAX_FRAMES * out_frame);
	be->period_ns = (int64_t)(c->period_us ? c->period_us : DEFAULT_PERIOD_US) * 1000;
	atomic_init(&be->kick_ns, NO_KICK);
	be->loop = loop;
	if (loop)
		be->timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, tick, be);
	return be;
}

void audio_backend_close(struct audio_backend *be)
{
	if (!be)
		return;
	event_timer_free(be->timer);
	wav_file_close(be->wav);
	sdl_audio_close(be->sdl);
	free(be->in_buf);
	free(be->mix);
	free(be->out_buf);
	free(be);
}

const struct audio_format *audio_backend_format(const struct audio_backend *be)
{
	return &be->out;
}

uint64_t audio_backend_frames_written(const struct audio_backend *be)
{
	return be->written;
}

struct audio_voice *audio_voice_add(struct audio_backend *be, const char *name,
				    audio_fill_fn *fill, void *opaque)
{
	struct audio_voice *v = xzalloc(sizeof(*v));
	struct audio_voice **tail = &be->voices;

	v->be = be;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->fill = fill;
	v->opaque = opaque;
	while (*tail)
		tail = &(*tail)->next;
	*tail = v;
	return v;
}

void audio_voice_remove(struct audio_voice *v)
{
	if (!v)
		return;
	for (struct audio_voice **p = &v->be->voices; *p; p = &(*p)->next)
		if (*p == v) {
			*p = v->next;
			break;
		}
	free(v);
}
