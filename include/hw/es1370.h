/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ensoniq AudioPCI ES1370 (hw/audio/es1370.c): PCI 1274:5000, class 0401,
 * 64 bytes of I/O at BAR 0, INTA.
 *
 *   0x00 control: bit 31 ADC_STOP, 28:16 PCLKDIV (DAC2 and ADC rate
 *        1411200 / (PCLKDIV + 2) Hz), 14 M_SBB (DAC2 from the MPEG clock),
 *        13:12 WTSRSEL (DAC1 at 5512, 11025, 22050 or 44100 Hz), 11
 *        DAC_SYNC (DAC2 on DAC1's clock), 9 M_CB (ADC from the MPEG clock),
 *        6 DAC1_EN, 5 DAC2_EN, 4 ADC_EN, 3 UART_EN, 1 CDC_EN, 0 SERR_DIS
 *   0x04 status (read-only): bit 31 INTR (any below), 10:8 codec busy
 *        (never: a codec write completes at once), 6:5 CCB voice, 3 UART,
 *        2 DAC1, 1 DAC2, 0 ADC interrupt pending
 *   0x08 UART data, 0x09 UART status (read) / control (write), 0x0A test
 *   0x0C memory page (bits 3:0): which 16 bytes 0x30-0x3F show
 *   0x10 AK4531 codec write: bits 15:8 register, 7:0 value
 *   0x20 serial interface control: 21:19 P2 end increment, 18:16 P2 start
 *        increment, 15 ADC / 14 DAC2 / 13 DAC1 stop mode (0: loop),
 *        12 DAC2 / 11 DAC1 pause, 10 ADC / 9 DAC2 / 8 DAC1 interrupt
 *        enable (clearing it acknowledges the interrupt), 7 DAC1 sample
 *        counter reload, 6 DAC2 holds its last sample when stopped,
 *        5:4 ADC, 3:2 DAC2, 1:0 DAC1 format (bit 0 stereo, bit 1 16-bit)
 *   0x24, 0x28, 0x2C DAC1, DAC2, ADC sample count: bits 15:0 the samples
 *        per interrupt - 1, 31:16 the samples left - 1 (counting down)
 *   0x30-0x3F page 0xC: DAC1 frame address, DAC1 frame size, DAC2 frame
 *        address, DAC2 frame size; page 0xD: ADC frame address, ADC frame
 *        size, the phantom frame (stored, unused). A frame size is bits
 *        15:0 the buffer's longwords - 1, 31:16 the longword being played.
 *
 * Each channel reads (the ADC writes) its buffer in guest memory by bus
 * mastering, a frame per sample clock, paced by the audio backend's clock
 * (include/audio.h): the buffer wraps at its end, and every 'sample count
 * + 1' frames the channel interrupts (if enabled) and reloads the count;
 * in stop mode it stops there until it is enabled again. The ADC records
 * silence (nothing is plugged into the card's inputs). DAC1 and DAC2 are
 * two voices of the backend, mixed there.
 */
#ifndef VMM_HW_ES1370_H
#define VMM_HW_ES1370_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES1370_VENDOR 0x1274
#define ES1370_DEVICE 0x5000
#define ES1370_IO_SIZE 0x40
#define ES1370_CLOCK 1411200 /* Hz: DAC2 and ADC rates are this / (PCLKDIV + 2) */

struct pci_bus;
struct pci_device;
struct guest_mem;
struct audio_backend;
struct ss_writer;
struct ss_reader;
struct es1370;

/* Registers at 'devfn' on 'bus'; plays through 'audio' (NULL: nowhere,
 * and nothing paces the channels). NULL if the slot is taken. */
struct es1370 *es1370_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			     struct audio_backend *audio);
struct pci_device *es1370_pci(struct es1370 *s);
void es1370_reset(struct es1370 *s);
/* No DMA and no state change between quiesce and resume. */
void es1370_quiesce(struct es1370 *s);
void es1370_resume(struct es1370 *s);
void es1370_save(struct es1370 *s, struct ss_writer *w, uint32_t instance);
bool es1370_load(struct es1370 *s, struct ss_reader *r, uint32_t instance);
void es1370_destroy(struct es1370 *s);
/* The last value written to AK4531 register 'reg' (0-0x1F). */
uint8_t es1370_codec_reg(struct es1370 *s, unsigned reg);

#endif
