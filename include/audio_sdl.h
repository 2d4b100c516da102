/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -audiodev sdl: the mixed output played through SDL2's audio (libSDL2
 * loaded on demand, as for the window).
 *
 * The mixer (src/audio/audio.c) writes each step's frames, paced by the
 * virtual clock, into a ring; SDL's audio thread takes them at the
 * device's pace through a callback. The ring holds buffer_us of audio: it
 * is primed to half of that before playing (and again after running dry,
 * when the guest stops or the device ran ahead). The mixer asks the cards
 * for no more than the ring has room for (sdl_audio_room): after a stall
 * of vmm's loop, or with a device slower than the virtual clock, the
 * cards fall behind the virtual clock instead of their samples being
 * lost, and the sound is late by up to the buffer. A device that takes
 * nothing for twice the buffer's time (at least 200 ms) does not play:
 * then the cards keep the virtual clock and what finds the ring full is
 * dropped, so neither side blocks the other.
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
/* The mixer's thread: the bytes the ring has room for, SIZE_MAX when the
 * device does not play (stuck: take everything, the ring drops). */
size_t sdl_audio_room(struct sdl_audio *a);
void sdl_audio_close(struct sdl_audio *a);

#endif
