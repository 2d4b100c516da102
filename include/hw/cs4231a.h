/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Crystal CS4231A, the Windows Sound System codec, as an ISA card
 * (hw/audio/cs4231a.c, -device cs4231a): four ports at iobase (QEMU's
 * default 0x534, where a WSS card puts its codec), an ISA interrupt
 * (default 9) and one 8-bit ISA DMA channel of the 8237 (default 3).
 *
 *   iobase+0  R0 index address: bit 7 INIT (reads 0: the codec is always
 *             ready), bit 6 MCE (mode change enable), bit 5 TRD (transfer
 *             request disable), bits 4-0 the indexed register
 *   iobase+1  R1 indexed data: I0-I15, and I16-I31 in mode 2 (I12 bit 6)
 *   iobase+2  R2 status: bit 0 INT; any write clears every interrupt
 *   iobase+3  R3 PIO data
 *
 * Like QEMU's card there is no WSS configuration block (the card's
 * IRQ/DMA latch at base-4..base-1): the resources are the -device options.
 *
 * Playback: I8 (rate from the crystal and divider, 8-bit unsigned, mu-law,
 * A-law, 16-bit little- and big-endian, mono or stereo) read by DMA while
 * I9 PEN is set and PPIO clear, paced by the audio backend's clock; the
 * current count (loaded from I14:I15 when I14 is written, and at each
 * expiry) counts samples, and the sample after zero sets I24 PI and INT
 * (the IRQ line follows INT while I10 IEN is set). Capture: with I9 SDC
 * (one DMA channel for both, which is all the card has) CEN writes silence
 * (nothing is plugged into the inputs) into memory at the rate, counted
 * and interrupting the same way; without SDC it would use the codec's
 * capture DMA request, which this card does not wire: nothing moves.
 * ADPCM and the reserved format codes play nothing (no DMA, no interrupt).
 * PIO transfers, the timer (I20/I21), loopback and the mixer's levels are
 * registers only.
 */
#ifndef VMM_HW_CS4231A_H
#define VMM_HW_CS4231A_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"
#include "irq.h"

#define CS4231A_PORTS 4
#define CS4231A_VERSION 0xA0 /* I25: revision A, chip ID 0 */

struct io_bus;
struct i8237;
struct ss_writer;
struct ss_reader;
struct cs4231a;

struct cs4231a_config {
	uint16_t iobase;
	unsigned irq; /* 5, 7, 9, 10 or 11 */
	unsigned dma; /* 0, 1 or 3 */
};

/* Maps the ports, claims the DMA channel, adds a voice to 'audio' (NULL:
 * the card plays nowhere and nothing paces it). NULL with err set. */
struct cs4231a *cs4231a_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq,
			       struct audio_backend *audio, const struct cs4231a_config *cfg,
			       char *err, size_t errlen);
void cs4231a_reset(struct cs4231a *s);
void cs4231a_save(struct cs4231a *s, struct ss_writer *w, uint32_t instance);
bool cs4231a_load(struct cs4231a *s, struct ss_reader *r, uint32_t instance);
void cs4231a_destroy(struct cs4231a *s);

/* The data format a clock and data format register (I8, or I28's upper
 * bits with I8's clock) selects: false for ADPCM and the reserved codes
 * (mode 1 has only the four codes of bits 6-5). Exported for the tests. */
bool cs4231a_decode_format(uint8_t reg, bool mode2, struct audio_format *out);
/* The sample rate of I8's clock bits (crystal / divider, rounded). */
uint32_t cs4231a_rate(uint8_t reg);

#endif
