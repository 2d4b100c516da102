// SPDX-License-Identifier: GPL-2.0-or-later
/* -audiodev sdl: the mixed output through SDL2's audio (include/audio_sdl.h). */
#include "audio_sdl.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <SDL2/SDL.h>

#include "lazylib.h"
#include "sandbox.h"
#include "util.h"

/* ---- libSDL2, loaded on demand --------------------------------------------- */

static struct {
	int (*init_subsystem)(Uint32);
	void (*quit_subsystem)(Uint32);
	SDL_bool (*set_hint)(const char *, const char *);
	const char *(*get_error)(void);
	SDL_AudioDeviceID (*open_device)(const char *, int, const SDL_AudioSpec *, SDL_AudioSpec *,
					 int);
	void (*pause_device)(SDL_AudioDeviceID, int);
	void (*close_device)(SDL_AudioDeviceID);
	const char *(*current_driver)(void);
} sdl;

static const struct lazysym sdl_syms[] = {
	{ "SDL_InitSubSystem", (void **)&sdl.init_subsystem },
	{ "SDL_QuitSubSystem", (void **)&sdl.quit_subsystem },
	{ "SDL_SetHint", (void **)&sdl.set_hint },
	{ "SDL_GetError", (void **)&sdl.get_error },
	{ "SDL_OpenAudioDevice", (void **)&sdl.open_device },
	{ "SDL_PauseAudioDevice", (void **)&sdl.pause_device },
	{ "SDL_CloseAudioDevice", (void **)&sdl.close_device },
	{ "SDL_GetCurrentAudioDriver", (void **)&sdl.current_driver },
	{ NULL, NULL },
};

static struct lazylib libsdl = LAZYLIB_INIT("libSDL2-2.0.so.0", sdl_syms);

/* SDL drivers that run no threads of their own beyond SDL's audio thread
 * (which filters itself in the callback). */
static const char *const sandboxable_drivers[] = { "alsa", "dsp", "disk", "dummy", NULL };

struct sdl_audio {
	SDL_AudioDeviceID dev;
	bool sandboxed;
	bool filtered;         /* the audio thread loaded its filter */
	pthread_mutex_t lock;  /* the ring, between the mixer and SDL's thread */
	uint8_t *ring;
	size_t size, head, len;
	size_t prime;          /* bytes held back before playing starts */
	size_t byte_rate;
	bool playing;
	bool draining;         /* closing: play what is left, primed or not */
	uint8_t silence;
	atomic_uint_fast64_t takes; /* callbacks so far: the device is taking */
	uint64_t takes_seen;   /* mixer's thread: 'takes' at its previous look */
	int64_t last_look_ns;  /* ... the time of that look */
	int64_t quiet_ns;      /* ... the mixer's running time since 'takes' moved */
	int64_t stuck_after_ns; /* a device quiet this long does not play */
};

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the ring ------------------------------------------------------------------ */

void sdl_audio_write(struct sdl_audio *a, const void *frames, size_t bytes)
{
	const uint8_t *p = frames;

	pthread_mutex_lock(&a->lock);
	bytes = MIN(bytes, a->size - a->len); /* the rest is dropped: the ring is full */
	size_t tail = (a->head + a->len) % a->size;
	size_t first = MIN(bytes, a->size - tail);
	memcpy(a->ring + tail, p, first);
	memcpy(a->ring, p + first, bytes - first);
	a->len += bytes;
	pthread_mutex_unlock(&a->lock);
}

/* The most one gap between the mixer's looks adds to a device's quiet
 * time: a longer gap is the whole process stopped (SIGSTOP, a loaded
 * host), the device's thread with it, not a device that stopped taking. */
#define QUIET_GAP_MAX_NS (50 * 1000 * 1000)

/* Whether the device has taken nothing for stuck_after_ns of the mixer's
 * running time. Counting wall time from a look would take a stall of the
 * whole process for a stuck device when the look just before the stall
 * saw no callback: the mixer then dropped a ring's worth of sound. */
static bool device_stuck(struct sdl_audio *a)
{
	uint64_t takes = atomic_load(&a->takes);
	int64_t now = monotonic_ns();
	int64_t gap = a->last_look_ns ? now - a->last_look_ns : 0;

	a->last_look_ns = now;
	if (takes != a->takes_seen) {
		a->takes_seen = takes;
		a->quiet_ns = 0;
		return false;
	}
	a->quiet_ns += MIN(MAX(gap, (int64_t)0), (int64_t)QUIET_GAP_MAX_NS);
	return a->quiet_ns > a->stuck_after_ns;
}

size_t sdl_audio_room(struct sdl_audio *a)
{
	if (device_stuck(a))
		return SIZE_MAX; /* the cards keep the virtual clock; the ring drops */
	pthread_mutex_lock(&a->lock);
	size_t room = a->size - a->len;
	pthread_mutex_unlock(&a->lock);
	return room;
}

/* SDL's audio thread: the device wants 'len' bytes. */
static void SDLCALL take_frames(void *opaque, Uint8 *out, int len)
{
	struct sdl_audio *a = opaque;
	size_t want = (size_t)len, got = 0;

	if (!a->filtered) {
		/* the first thing vmm's code does on this thread */
		sandbox_thread_start(SANDBOX_AUDIO);
		a->filtered = true;
	}
	pthread_mutex_lock(&a->lock);
	if (!a->playing && (a->len >= a->prime || (a->draining && a->len)))
		a->playing = true;
	if (a->playing) {
		got = MIN(want, a->len);
		size_t first = MIN(got, a->size - a->head);
		memcpy(out, a->ring + a->head, first);
		memcpy(out + first, a->ring, got - first);
		a->head = (a->head + got) % a->size;
		a->len -= got;
		/* ran dry (an underrun, not a period that took the last
		 * frames): prime again */
		if (got < want)
			a->playing = false;
	}
	pthread_mutex_unlock(&a->lock);
	memset(out + got, a->silence, want - got);
	atomic_fetch_add(&a->takes, 1);
}

/* ---- the device ---------------------------------------------------------------- */

static SDL_AudioFormat sdl_format(unsigned bits, bool is_float)
{
	if (is_float)
		return AUDIO_F32LSB;
	return bits == 8 ? AUDIO_U8 : bits == 16 ? AUDIO_S16LSB : AUDIO_S32LSB;
}

/* Threads of this process now (set-up only: it reads /proc). */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool driver_sandboxable(const char *driver)
{
	for (const char *const *d = sandboxable_drivers; *d; d++)
		if (driver && !strcmp(driver, *d))
			return true;
	return false;
}

struct sdl_audio *sdl_audio_open(uint32_t rate, unsigned channels, unsigned bits, bool is_float,
				 uint32_t buffer_us, bool sandboxed, char *err, size_t errlen)
{
	char why[200];

	if (lazylib_load(&libsdl, why, sizeof(why)) < 0) {
		set_err(err, errlen, "%s (Debian: libsdl2-2.0-0)", why);
		return NULL;
	}
	/* vmm handles its signals itself */
	sdl.set_hint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
	int threads_before = thread_count();
	if (sdl.init_subsystem(SDL_INIT_AUDIO) < 0) {
		set_err(err, errlen, "SDL's audio: %s", sdl.get_error());
		return NULL;
	}
	const char *driver = sdl.current_driver();
	if (sandboxed && !driver_sandboxable(driver)) {
		set_err(err, errlen, "SDL's %s audio driver runs threads the sandbox cannot "
			"filter: choose alsa, dsp, disk or dummy with SDL_AUDIODRIVER, or "
			"-sandbox off", driver ? driver : "(none)");
		sdl.quit_subsystem(SDL_INIT_AUDIO);
		return NULL;
	}
	struct sdl_audio *a = xzalloc(sizeof(*a));
	unsigned frame = channels * bits / 8;
	pthread_mutex_init(&a->lock, NULL);
	a->sandboxed = sandboxed;
	a->silence = bits == 8 ? 0x80 : 0x00;
	a->size = MAX((size_t)((uint64_t)rate * buffer_us / 1000000), (size_t)64) * frame;
	a->prime = a->size / 2 / frame * frame;
	a->ring = xzalloc(a->size);
	a->byte_rate = (size_t)rate * frame;
	/* twice the buffer's time, at least 200 ms: a device's periods are a
	 * quarter of the buffer */
	a->stuck_after_ns = MAX((int64_t)buffer_us * 2000, (int64_t)200 * 1000 * 1000);
	atomic_init(&a->takes, 0);

	SDL_AudioSpec want = { .freq = (int)rate, .format = sdl_format(bits, is_float),
			       .channels = (Uint8)channels, .callback = take_frames,
			       .userdata = a }, have;
	/* the device's own period: a quarter of the ring, a power of two */
	unsigned samples = 64;
	while (samples * 2 * frame <= a->size / 4 && samples < 8192)
		samples *= 2;
	want.samples = (Uint16)samples;
	/* vmm converts: the device takes the backend's format as it is */
	a->dev = sdl.open_device(NULL, 0, &want, &have, 0);
	if (!a->dev) {
		set_err(err, errlen, "SDL's %s audio driver: %s", driver ? driver : "",
			sdl.get_error());
		sdl_audio_close(a);
		sdl.quit_subsystem(SDL_INIT_AUDIO); /* before the sandbox: allowed */
		return NULL;
	}
	/* SDL's own audio thread filters itself in the callback; a driver
	 * whose libraries started more (ALSA's default device routed to a
	 * sound server, say) cannot be sandboxed */
	int started = thread_count() - threads_before;
	if (sandboxed && (threads_before < 0 || started > 1)) {
		set_err(err, errlen, "SDL's %s audio driver started %d threads the sandbox cannot "
			"filter: choose a device without a sound server (SDL_AUDIODRIVER=alsa with "
			"AUDIODEV=hw:0, say), or -sandbox off", driver ? driver : "", started - 1);
		sdl_audio_close(a);
		sdl.quit_subsystem(SDL_INIT_AUDIO);
		return NULL;
	}
	sdl.pause_device(a->dev, 0); /* the callback runs from now on: silence until primed */
	return a;
}

/* At exit: what the ring still holds is played first (at most its
 * length of time), so the last of the guest's sound is heard. */
static void drain(struct sdl_audio *a)
{
	pthread_mutex_lock(&a->lock);
	a->draining = true;
	uint64_t left_ms = (uint64_t)a->len * 1000 / a->byte_rate + 100;
	pthread_mutex_unlock(&a->lock);
	for (uint64_t waited = 0; waited < left_ms; waited += 10) {
		pthread_mutex_lock(&a->lock);
		size_t len = a->len;
		pthread_mutex_unlock(&a->lock);
		if (!len)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

void sdl_audio_close(struct sdl_audio *a)
{
	if (!a)
		return;
	if (a->dev) {
		drain(a);
		sdl.close_device(a->dev); /* joins SDL's audio thread */
	}
	/* not SDL_QuitSubSystem: it looks at the signal handlers
	 * (rt_sigaction), which the sandbox forbids; the process ends next */
	pthread_mutex_destroy(&a->lock);
	free(a->ring);
	free(a);
}
