/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -audiodev sdl: the mixed output played through SDL2's audio (libSDL2
 * loaded on demand, as for the window).
 *
 * The mixer (src/audio/audio.c) writes each step's frames, paced by the
 * virtual clock, into a ring; SDL's audio thread takes them at the
 * device's pace through a callback. The ring holds buffer_us of audio: it
 * is primed to half of that before playing (and again after running dry,
 * when the guest stops or the device ran ahead), and frames that find it
 * full are dropped (the device runs slower than the virtual clock, or
 * does not play at all). So sound is late by about half the buffer and
 * neither side blocks the other.
 *
 * SDL's audio thread loads the sandbox's "audio" filter on its first
 * callback. SDL drivers whose client libraries run threads of their own
 * (PulseAudio, PipeWire, JACK...) cannot be filtered: with the sandbox on,
 * only SDL's alsa, dsp (OSS), disk and dummy drivers are taken (choose one
 * with SDL_AUDIODRIVER), and only when opening the device started no
 * thread but SDL's own; the others need -sandbox off.
 */
#ifndef VMM_AUDIO_SDL_H
#define VMM_AUDIO_SDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sdl_audio;

/* bits 8 (unsigned), 16 or 32 (signed), or 32 with is_float; sandboxed:
 * the sandbox is on. NULL with err set. */
struct sdl_audio *sdl_audio_open(uint32_t rate, unsigned channels, unsigned bits, bool is_float,
				 uint32_t buffer_us, bool sandboxed, char *err, size_t errlen);
/* The mixer's thread: appends frames (what does not fit is dropped). */
void sdl_audio_write(struct sdl_audio *a, const void *frames, size_t bytes);
void sdl_audio_close(struct sdl_audio *a);

#endif
