/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC speaker (hw/audio/pcspk.c, -machine pcspk-audiodev=ID): port 0x61
 * (the PC/AT's "port B") and the sound of PIT channel 2.
 *
 *   port 0x61 write: bit 0 gate of PIT channel 2, bit 1 speaker data
 *                    enable, bits 2-3 parity/channel check enables (kept)
 *   port 0x61 read:  bits 0-3 as written, bit 4 refresh toggle (flips every
 *                    15 us), bit 5 OUT of channel 2, bits 6-7 0 (no errors)
 *
 * The speaker's input is OUT2 AND bit 1: a square wave of 1193182 / count
 * Hz in mode 3, the one-shot levels of modes 0 and 1, the one-tick pulses
 * of modes 2, 4 and 5; bit 1 toggled by the program itself (gate low, OUT2
 * high) is heard as level changes. The PIT is KVM's in-kernel one: the
 * model reads channel 2's count, mode and load time through struct
 * pcspk_pit (KVM_GET_PIT2 on the machine), and takes port 0x61 from the
 * kernel (the PIT is created without KVM_PIT_SPEAKER_DUMMY when the
 * speaker is on the board).
 *
 * Samples: s16 mono at the backend's rate, each the average of the
 * speaker's level over its interval (so a tone has no aliasing jitter and
 * a rate above the output's averages out), +-PCSPK_AMPLITUDE, 0 while bit 1
 * is clear. The voice plays while bit 0 or bit 1 is set (or a change is
 * still to be played), so a recording has silence where the program holds
 * the gate without the speaker, and nothing while the speaker is unused.
 */
#ifndef VMM_HW_PCSPK_H
#define VMM_HW_PCSPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCSPK_PORT 0x61
#define PCSPK_PIT_HZ 1193182
#define PCSPK_AMPLITUDE 8192 /* a quarter of full scale: moderate, never clipping */
/* The PIT's "no mode programmed yet" (KVM's channels after a reset). */
#define PCSPK_MODE_NONE 0xFF

struct io_bus;
struct audio_backend;
struct ss_writer;
struct ss_reader;
struct pcspk;

/* What the speaker needs of PIT channel 2. */
struct pcspk_channel {
	uint32_t count;  /* the programmed count (0: 65536; values above are taken as 65536) */
	uint8_t mode;    /* 0-5 (6, 7: 2, 3), or PCSPK_MODE_NONE */
	int64_t load_ns; /* when counting started, on the PIT's clock */
};

/* The PIT (KVM's, a fake in tests): channel 2 now, and the PIT's clock
 * (CLOCK_MONOTONIC for KVM's, whose load times are ktime_get()). */
struct pcspk_pit {
	bool (*channel2)(void *opaque, struct pcspk_channel *ch);
	int64_t (*now_ns)(void *opaque);
	void *opaque;
};

/* Maps port 0x61; adds a voice to 'audio' (NULL: the port works, nothing
 * is heard). NULL with err set. */
struct pcspk *pcspk_create(struct io_bus *pio, const struct pcspk_pit *pit,
			   struct audio_backend *audio, char *err, size_t errlen);
void pcspk_reset(struct pcspk *s);
void pcspk_save(struct pcspk *s, struct ss_writer *w, uint32_t instance);
bool pcspk_load(struct pcspk *s, struct ss_reader *r, uint32_t instance);
void pcspk_destroy(struct pcspk *s);

/* ---- the generator (exported for the tests) -------------------------------- */

/* OUT2 'elapsed_ns' after counting started (negative: at the start).
 * triggered: for modes 1 and 5, a gate edge started the count (otherwise
 * OUT stays high). */
bool pcspk_out(const struct pcspk_channel *ch, bool gate, bool triggered, int64_t elapsed_ns);
/* The fraction of [e0_ns, e1_ns) (times since counting started) during
 * which OUT2 is high, 0.0 to 1.0 (e1_ns <= e0_ns: OUT at e0_ns). */
double pcspk_out_high(const struct pcspk_channel *ch, bool gate, bool triggered, int64_t e0_ns,
		      int64_t e1_ns);

#endif
