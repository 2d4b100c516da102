/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audio backends (-audiodev) and the voices of the sound cards that play
 * through them.
 *
 * A backend is the host side: "none" (everything is taken and dropped),
 * "wav" (a RIFF WAVE file) or "sdl" (SDL2's audio, include/audio_sdl.h). It has one output format (out.frequency,
 * out.channels, out.format; QEMU's defaults 44100 Hz, 2 channels, s16) and
 * its own clock: every timer-period (default 10 ms) of the event loop's
 * virtual clock it mixes the frames that time is worth at its rate. So a
 * card is paced by the backend, not by how fast the guest or the host runs:
 * a second of virtual time is a second of sound, and a paused machine
 * plays nothing.
 *
 * A voice is one card's output. In each mixing step the backend calls the
 * voice's fill callback (on the loop's thread, with no lock of the audio
 * layer held, so the card may take its own lock inside). A card that is
 * playing says in what format (audio_request_frames, which also tells it
 * how many frames of that format the step is worth) and hands them over
 * (audio_request_done); a card that does not call audio_request_frames is
 * silent in that step. Format conversion, channel mapping, rate conversion
 * (linear interpolation; none at all when the rates are equal, so samples
 * pass unchanged) and mixing are done here, for every card the same way.
 * A step in which no voice plays writes nothing (as QEMU's backends); a
 * voice that gives fewer frames than the step is worth has ended within it
 * (single-cycle DMA at its end), and the step's output is as long as the
 * longest voice's.
 *
 * Threads: backends and voices are made and freed while the loop does not
 * run (machine creation and exit); everything else runs on the loop's
 * thread.
 */
#ifndef VMM_AUDIO_H
#define VMM_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIODEV_MAX 8
#define AUDIODEV_ID_MAX 64
#define AUDIO_RATE_MIN 1000
#define AUDIO_RATE_MAX 192000
/* Output frames one step mixes at most (a step after a long stall of the
 * loop drops the time beyond this instead of mixing it in one burst). */
#define AUDIO_STEP_MAX_FRAMES 16384

enum audio_fmt {
	AUDIO_FMT_U8,
	AUDIO_FMT_S8,
	AUDIO_FMT_U16,
	AUDIO_FMT_S16,
	AUDIO_FMT_U32,
	AUDIO_FMT_S32,
	AUDIO_FMT_F32,
	/* Cards' formats only (never a backend's): 16-bit signed big-endian
	 * and ITU-T G.711 mu-law and A-law, one byte a sample (the CS4231A's
	 * companded formats). */
	AUDIO_FMT_S16BE,
	AUDIO_FMT_ULAW,
	AUDIO_FMT_ALAW,
};
#define AUDIO_FMT_LAST AUDIO_FMT_ALAW

/* Little-endian interleaved frames. */
struct audio_format {
	uint32_t rate;      /* frames per second */
	unsigned channels;  /* 1 or 2 */
	enum audio_fmt fmt;
};

enum audiodev_kind { AUDIODEV_NONE, AUDIODEV_WAV, AUDIODEV_SDL };

struct audiodev_config {
	char id[AUDIODEV_ID_MAX];
	enum audiodev_kind kind;
	char *path;              /* wav: the file (heap; default "vmm.wav") */
	struct audio_format out; /* out.frequency, out.channels, out.format */
	uint32_t period_us;      /* timer-period */
	uint32_t buffer_us;      /* sdl: out.buffer-length, the ring between mixer and device */
	bool sandboxed;          /* sdl: the sandbox is on (set by the board) */
	const char *user;        /* the first card that named it (CLI bookkeeping) */
};

/* -audiodev's argument into c (c->path on the heap). 0, or -1 with one
 * line in err. */
int audiodev_parse(const char *arg, struct audiodev_config *c, char *err, size_t errlen);
void audiodev_config_free(struct audiodev_config *c);
/* "u8", "s16"...: the format's name, and back (-1: not a name; only the
 * backends' formats, u8 to f32, are parsed). */
const char *audio_fmt_name(enum audio_fmt f);
int audio_fmt_parse(const char *s);
unsigned audio_fmt_bytes(enum audio_fmt f);

/* ---- backends ----------------------------------------------------------- */

struct audio_backend;
struct event_loop;

/* Opens the backend (the wav file is created now). loop NULL: no timer
 * (tests and fuzzers step it with audio_backend_run). NULL with err set. */
struct audio_backend *audio_backend_open(const struct audiodev_config *c, struct event_loop *loop,
					 char *err, size_t errlen);
/* Every voice must be removed first. The wav file's header is completed. */
void audio_backend_close(struct audio_backend *be);
/* One mixing step up to 'now_ns' of the virtual clock (the timer calls it;
 * tests call it directly). The first call only starts the clock. */
void audio_backend_run(struct audio_backend *be, int64_t now_ns);
const struct audio_format *audio_backend_format(const struct audio_backend *be);
/* Output frames written so far (all steps in which a voice played). */
uint64_t audio_backend_frames_written(const struct audio_backend *be);

/* ---- voices --------------------------------------------------------------- */

struct audio_voice;
struct audio_request;
typedef void audio_fill_fn(void *opaque, struct audio_request *req);

struct audio_voice *audio_voice_add(struct audio_backend *be, const char *name,
				    audio_fill_fn *fill, void *opaque);
void audio_voice_remove(struct audio_voice *v);
/* Any thread: the card started playing; the backend's timer, which rests
 * while nobody plays, runs again. */
void audio_voice_kick(struct audio_voice *v);

/* Inside fill: the card plays in *fmt this step; a rate outside
 * AUDIO_RATE_MIN..MAX is clamped, channels other than 1 or 2 count as 1,
 * an unknown sample format as s16, and *fmt is updated to what is taken:
 * the buffer holds frames of that. Returns the frames the step is worth
 * (0 to AUDIO_STEP_MAX_FRAMES + 1); audio_request_buffer has room for them. */
size_t audio_request_frames(struct audio_request *req, struct audio_format *fmt);
void *audio_request_buffer(struct audio_request *req);
/* The span of virtual time the step covers (its frames are spread evenly
 * over it): for cards whose samples come with times, not by DMA. */
void audio_request_window(const struct audio_request *req, int64_t *start_ns, int64_t *end_ns);
/* The backend's clock now (the virtual clock; without a loop, the time
 * of the last step), for such cards to stamp their samples; any thread. */
int64_t audio_voice_clock(const struct audio_voice *v);
/* The card wrote 'frames' frames (at most what audio_request_frames said)
 * to the buffer. */
void audio_request_done(struct audio_request *req, size_t frames);

/* ---- sample conversion (the one place; exported for the tests) ------------ */

/* One sample of 'fmt' at p to the mixing scale (signed 16-bit range, in an
 * int32_t) and back (clamped). */
int32_t audio_sample_to_mix(enum audio_fmt fmt, const uint8_t *p);
void audio_sample_from_mix(enum audio_fmt fmt, int32_t v, uint8_t *p);

#endif
