/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Gravis Ultrasound (classic, GF1 synthesizer; hw/audio/gus.c,
 * -device gus): 1 MiB of on-board DRAM, 32 wavetable voices mixed to the
 * audio backend, DRAM uploads by ISA DMA, the GF1 interrupts and the two
 * AdLib-compatible timers. QEMU's defaults: iobase 0x240, irq 7, dma 3,
 * freq 44100 (QEMU's option: the rate the card's output is produced at,
 * each output frame sampling the voices at that instant of the GF1's time,
 * which runs at 617400 / active voices frames per second; the audio layer
 * converts it to the backend's rate).
 *
 *   iobase+0x0  mix control (write): bit 6 selects the IRQ (1) or DMA (0)
 *               latch at +0xB; bit 3 enables the latches
 *   iobase+0x6  IRQ status (read): bit 2 timer 1, 3 timer 2, 5 any voice's
 *               wave IRQ, 6 any voice's volume ramp IRQ, 7 DMA terminal
 *               count
 *   iobase+0x8  AdLib index (write) / timer status (read: 7 any, 6 timer 1,
 *               5 timer 2 expired); +0x9 AdLib data (register 4: timer
 *               start bits 0/1, masks 6/5, 7 clears the flags)
 *   iobase+0xB  IRQ / DMA latch (stored; the resources are the options)
 *   iobase+0xF  register control: reads 0xFF (a board before rev 3.7)
 *   iobase+0x100, +0x101  MIDI control/status and data (a UART that is
 *               always ready and never receives)
 *   iobase+0x102  voice select; +0x103 register select; +0x104 data low
 *               (or the 16-bit register as a word); +0x105 data high (the
 *               8-bit registers); +0x107 DRAM byte at the DRAM I/O address
 *
 * GF1 registers (write index, read index = write index | 0x80 for the
 * voice registers): per voice 0x00 voice control, 0x01 frequency control
 * (bits 15-10 integer, 9-1 fraction of the per-frame step), 0x02-0x05 loop
 * start and end, 0x06-0x08 volume ramp rate/start/end, 0x09 volume
 * (bits 15-4: 4-bit exponent, 8-bit mantissa), 0x0A/0x0B current address
 * (20 address bits and the top 4 of 9 fraction bits), 0x0C pan, 0x0D
 * volume control; 0x0E active voices (14-32, the mixing rate); 0x8F IRQ
 * source (read: voice, bit 7 clear = wave IRQ, bit 6 clear = ramp IRQ;
 * the read takes that voice's IRQs). Global: 0x41 DRAM DMA control (read:
 * bit 6 is the terminal count IRQ, cleared by the read), 0x42 DMA DRAM
 * address bits 19-4, 0x43/0x44 DRAM I/O address, 0x45 timer IRQ enables
 * (bits 2, 3), 0x46/0x47 timer 1/2 counts (80/320 us ticks up to 256),
 * 0x48/0x49 sampling rate/control (recording: registers only, nothing is
 * sampled), 0x4C reset (bit 0 run, 1 DAC enable, 2 GF1 IRQ enable).
 *
 * A 16-bit voice or a DMA through a 16-bit channel addresses DRAM as the
 * GF1 does: bits 19-18 keep the 256 KiB bank, bits 16-0 are a word in it.
 * Every DRAM address wraps at 1 MiB (20 address bits, as on the card).
 */
#ifndef VMM_HW_GUS_H
#define VMM_HW_GUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "irq.h"

#define GUS_DRAM_SIZE (1u << 20)
#define GUS_VOICES 32
#define GUS_CLOCK_HZ 617400u /* the mixing rate is GUS_CLOCK_HZ / active voices */

struct io_bus;
struct i8237;
struct event_loop;
struct ss_writer;
struct ss_reader;
struct gus;

struct gus_config {
	uint16_t iobase; /* 0x210-0x260, a multiple of 0x10 */
	unsigned irq;    /* 2(9), 3, 5, 7, 11, 12 or 15 */
	unsigned dma;    /* 1, 3, 5, 6 or 7 */
	uint32_t freq;   /* the output rate, AUDIO_RATE_MIN to AUDIO_RATE_MAX */
};

/* Maps the ports, claims the DMA channel, adds a voice to 'audio' (NULL:
 * silent, and the voices only advance when gus_run is called) and the
 * timers to 'loop' (NULL: they never expire). NULL with err set. */
struct gus *gus_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq,
		       struct audio_backend *audio, struct event_loop *loop,
		       const struct gus_config *cfg, char *err, size_t errlen);
void gus_reset(struct gus *s);
void gus_save(struct gus *s, struct ss_writer *w, uint32_t instance);
bool gus_load(struct gus *s, struct ss_reader *r, uint32_t instance);
void gus_destroy(struct gus *s);

/* The GF1's mixing rate for a value of register 0x0E (14-32 voices). */
uint32_t gus_mix_rate(uint8_t active_voices_reg);
/* Tests: renders 'frames' stereo s16 frames at freq= as the backend
 * would take them (NULL out: dropped), returns how many were produced
 * before every voice went idle. */
size_t gus_render(struct gus *s, int16_t *out, size_t frames);

#endif
