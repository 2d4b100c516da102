/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC's floppy disk controller (hw/storage/fdc.c): an Intel 82078 /
 * NEC uPD765-compatible controller (QEMU's isa-fdc) at 0x3F0-0x3F5 and
 * 0x3F7, ISA interrupt 6, ISA DMA channel 2, with drives A: and B:.
 *
 *   0x3F0 SRA (read)     0x3F1 SRB (read)     0x3F2 DOR
 *   0x3F3 TDR            0x3F4 MSR (read) / DSR (write)
 *   0x3F5 FIFO (command, data and result bytes)
 *   0x3F7 DIR (read: bit 7 disk changed) / CCR (write: data rate)
 *
 * A drive's geometry comes from the size of its image: 160K, 180K, 320K
 * and 360K 5.25" (a 360K drive, CMOS type 1), 1.2M (type 2), 720K
 * (type 3), 1.44M (type 4), 2.88M (type 5); other sizes are refused.
 * Each medium is read at its own data rate (DSR/CCR), so a BIOS that
 * probes rates finds the medium's format, as on a real drive.
 */
#ifndef VMM_HW_FDC_H
#define VMM_HW_FDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "irq.h"

#define FDC_IOBASE 0x3F0
#define FDC_IRQ 6
#define FDC_DMA 2
#define FDC_DRIVES 2
#define FDC_SECTOR 512

struct io_bus;
struct i8237;
struct block_dev;
struct ss_writer;
struct ss_reader;
struct fdc;

/* The CMOS drive type (register 0x10's nibble) of a medium of 'size'
 * bytes, or 0 (with one line in err) for a size no floppy has. */
unsigned fdc_type_of_size(uint64_t size, char *err, size_t errlen);

/* Maps the ports, claims DMA channel 2 (dma may be NULL: PIO only).
 * NULL with one line in err. */
struct fdc *fdc_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq, char *err,
		       size_t errlen);
/* Drive 'unit' (0: A:, 1: B:) exists, holding 'bd' (the controller owns
 * it and closes it) or empty with bd NULL; cmos_type is the drive's kind
 * (what fdc_type_of_size gave). -1 with one line in err for a medium of
 * a size no floppy has. */
int fdc_attach(struct fdc *f, unsigned unit, struct block_dev *bd, unsigned cmos_type,
	       char *err, size_t errlen);
/* A drive's CMOS type (0: no drive). */
unsigned fdc_drive_type(struct fdc *f, unsigned unit);
/* Media change (monitor change/eject): the old medium, if any, is closed;
 * the disk change line goes up; a transfer on the drive ends with an
 * error (as when a disk is pulled). bd NULL ejects. -1 with one line in
 * err (no such drive, a size no floppy has: then nothing changed). */
int fdc_change_medium(struct fdc *f, unsigned unit, struct block_dev *bd, char *err,
		      size_t errlen);
/* The drive's medium now (NULL: empty or no drive); still the
 * controller's. */
struct block_dev *fdc_medium(struct fdc *f, unsigned unit);
void fdc_reset(struct fdc *f);
void fdc_save(struct fdc *f, struct ss_writer *w, uint32_t instance);
bool fdc_load(struct fdc *f, struct ss_reader *r, uint32_t instance);
/* Unmaps, releases the channel, closes the media, frees. */
void fdc_destroy(struct fdc *f);

#endif
