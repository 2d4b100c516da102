/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Creative Sound Blaster 16 (hw/audio/sb16.c): the DSP (version 4.05) and
 * the CT1745 mixer at iobase (default 0x220), an ISA interrupt (default 5),
 * an 8-bit and a 16-bit ISA DMA channel (default 1 and 5) of the 8237s.
 *
 *   base+0x4  mixer index        base+0x5  mixer data
 *   base+0x6  DSP reset          base+0xA  DSP read data
 *   base+0xC  DSP command/data (write), write-buffer status (read, bit 7 busy)
 *   base+0xE  read-buffer status (bit 7: data to read); reading it
 *             acknowledges the 8-bit DMA interrupt
 *   base+0xF  reading it acknowledges the 16-bit DMA interrupt
 *
 * The OPL3 FM ports (base+0-3, base+8-9) and the MPU-401 (0x330) are not
 * decoded: they read as absent (0xFF), as on a card without them.
 *
 * Playback: the DSP reads its samples through the 8237 channel (8-bit
 * transfers on 'dma', 16-bit on 'dma16') at its sample rate, paced by the
 * audio backend's clock (include/audio.h), and interrupts after each block
 * of its transfer count: single-cycle stops there, auto-init goes on until
 * an exit-auto-init command. Recording delivers silence (nothing is
 * plugged into the card's inputs) at the input rate, with the same
 * interrupts. Direct DAC writes (0x10), which the program times itself,
 * are held from each write's time to the next at 22050 Hz, until 100 ms
 * after the last. The mixer's levels are registers only: the output is not
 * attenuated by them.
 */
#ifndef VMM_HW_SB16_H
#define VMM_HW_SB16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "irq.h"

#define SB16_PORTS 16
#define SB16_DSP_VERSION 0x0405

struct io_bus;
struct i8237;
struct audio_backend;
struct ss_writer;
struct ss_reader;
struct sb16;

struct sb16_config {
	uint16_t iobase;
	unsigned irq;    /* 2/9, 5, 7 or 10 */
	unsigned dma;    /* 0, 1 or 3 */
	unsigned dma16;  /* 5, 6 or 7, or the same as dma (16-bit data on it) */
};

/* Maps the ports, claims the DMA channels, adds a voice to 'audio' (NULL:
 * the card plays nowhere and nothing paces it). NULL with err set. */
struct sb16 *sb16_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq,
			 struct audio_backend *audio, const struct sb16_config *cfg, char *err,
			 size_t errlen);
void sb16_reset(struct sb16 *s);
void sb16_save(struct sb16 *s, struct ss_writer *w, uint32_t instance);
bool sb16_load(struct sb16 *s, struct ss_reader *r, uint32_t instance);
void sb16_destroy(struct sb16 *s);

#endif
