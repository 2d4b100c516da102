// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PC floppy disk controller (isa-fdc): see include/hw/fdc.h for the
 * ports and the media it knows.
 *
 * Facts from Intel's 82077AA/82078 data sheets and NEC's uPD765: the
 * register bits (DOR, MSR, DSR, CCR, DIR), the command bytes and their
 * parameter and result bytes, the status registers ST0-ST3, the result
 * C/H/R/N after a multi-sector transfer (end of track, multi-track), the
 * four SENSE INTERRUPT STATUS answers after a reset with polling, VERSION
 * (0x90), PART ID (0x41), LOCK, CONFIGURE, DUMPREG and the invalid
 * command answer (0x80).
 *
 * The guest is hostile (the VENOM bug, CVE-2015-3456, was a FIFO index
 * of this device running past its buffer): every byte the guest writes
 * goes into a fixed command buffer whose length the decoded command
 * bounds; the sector buffer's index never passes FDC_SECTOR; every drive,
 * head, track, sector and size code is checked against the medium, and a
 * bad one gives the controller's error status.
 *
 * Seeks complete at once; a transfer runs as the DMA channel takes the
 * bytes (from the vCPU's port write that started it, or the 8237's kick
 * when the driver unmasks the channel later). Threads: vCPUs only; one
 * lock covers the controller, the 8237's lock is taken inside it.
 */
#include "hw/fdc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "bus.h"
#include "device.h"
#include "hw/i8237.h"
#include "savestate.h"
#include "util.h"

#define FDC_STATE_VERSION 1
#define CMD_MAX 9   /* the longest command (READ DATA): 9 bytes */
#define RES_MAX 10  /* the longest result (DUMPREG): 10 bytes */
#define RESET_SENSEI 4

/* Port offsets from 0x3F0. */
#define REG_SRA 0
#define REG_SRB 1
#define REG_DOR 2
#define REG_TDR 3
#define REG_MSR 4 /* read; DSR on write */
#define REG_FIFO 5
#define REG_DIR 7 /* read; CCR on write */

#define DOR_SEL 0x03
#define DOR_NRESET 0x04
#define DOR_DMA_GATE 0x08 /* DMA and interrupt enable */
#define DOR_MOTORS 0xF0

#define MSR_RQM 0x80
#define MSR_DIO 0x40
#define MSR_NDMA 0x20
#define MSR_CB 0x10

#define DSR_SWRESET 0x80
#define DSR_RATE 0x03

#define DIR_CHANGED 0x80

#define ST0_ABNORMAL 0x40
#define ST0_INVALID 0x80
#define ST0_SEEK_END 0x20
#define ST0_EQUIP 0x10
#define ST0_NOT_READY 0x08
#define ST0_POLL 0xC0 /* abnormal termination by a ready change: after reset */

#define ST1_MA 0x01 /* missing address mark: no format at this rate/side/track */
#define ST1_NW 0x02 /* not writable */
#define ST1_ND 0x04 /* no data: the sector was not found */
#define ST1_DE 0x20 /* data error */
#define ST1_EN 0x80 /* end of cylinder */

#define ST2_BC 0x02 /* bad cylinder */
#define ST2_WC 0x10 /* wrong cylinder */

#define ST3_WP 0x40
#define ST3_RDY 0x20
#define ST3_T0 0x10
#define ST3_TS 0x08

#define CONFIG_EIS 0x40 /* implied seek */
#define CONFIG_POLL_OFF 0x10
#define SPEC_ND 0x01    /* SPECIFY's second byte: non-DMA mode */

enum rate { RATE_500K, RATE_300K, RATE_250K, RATE_1M };

enum phase { PHASE_COMMAND, PHASE_EXEC, PHASE_RESULT };

enum op {
	OP_INVALID,
	OP_READ,
	OP_WRITE,
	OP_READ_TRACK,
	OP_VERIFY,
	OP_READ_ID,
	OP_FORMAT,
	OP_SPECIFY,
	OP_SENSE_DRIVE,
	OP_RECALIBRATE,
	OP_SENSE_INT,
	OP_SEEK,
	OP_RELATIVE_SEEK,
	OP_VERSION,
	OP_CONFIGURE,
	OP_DUMPREG,
	OP_PERPENDICULAR,
	OP_LOCK,
	OP_PART_ID,
	OP_DRIVE_SPEC,
	OP_COUNT,
};

/* Command bytes, including the opcode (DRIVE SPECIFICATION: at most). */
static const uint8_t op_length[OP_COUNT] = {
	[OP_READ] = 9, [OP_WRITE] = 9, [OP_READ_TRACK] = 9, [OP_VERIFY] = 9,
	[OP_READ_ID] = 2, [OP_FORMAT] = 6, [OP_SPECIFY] = 3, [OP_SENSE_DRIVE] = 2,
	[OP_RECALIBRATE] = 2, [OP_SENSE_INT] = 1, [OP_SEEK] = 3, [OP_RELATIVE_SEEK] = 3,
	[OP_VERSION] = 1, [OP_CONFIGURE] = 4, [OP_DUMPREG] = 1, [OP_PERPENDICULAR] = 2,
	[OP_LOCK] = 1, [OP_PART_ID] = 1, [OP_DRIVE_SPEC] = 6,
};

/* A floppy format: the medium's geometry and data rate, and the drive
 * it belongs in (CMOS type). */
struct fdc_format {
	uint32_t kib;
	uint8_t spt, tracks, heads;
	uint8_t rate;
	uint8_t cmos;
};

static const struct fdc_format formats[] = {
	{ 160, 8, 40, 1, RATE_250K, 1 },  { 180, 9, 40, 1, RATE_300K, 1 },
	{ 320, 8, 40, 2, RATE_250K, 1 },  { 360, 9, 40, 2, RATE_300K, 1 },
	{ 720, 9, 80, 2, RATE_250K, 3 },  { 1200, 15, 80, 2, RATE_500K, 2 },
	{ 1440, 18, 80, 2, RATE_500K, 4 }, { 2880, 36, 80, 2, RATE_1M, 5 },
};

struct fdc_drive {
	uint8_t cmos_type;        /* 0: no drive */
	struct block_dev *bd;     /* NULL: no medium */
	const struct fdc_format *fmt;
	uint8_t track;            /* where the head is (the present cylinder number) */
	bool changed;             /* the disk change line */
};

/* A data transfer in its execution phase. */
struct fdc_xfer {
	uint8_t op;
	bool dma;
	bool mt;
	uint8_t drive, head;
	uint8_t cyl, id_head, sector, eot; /* the ID of the sector at hand */
	uint8_t formats_left;              /* FORMAT: IDs still to come */
	uint8_t fill;                      /* FORMAT: the filler byte */
	uint16_t pos, len;                 /* in buf */
};

struct fdc {
	pthread_mutex_t lock;
	struct io_bus *pio;
	struct io_region io, dir_io;
	struct i8237 *dma;
	bool dma_claimed;
	struct irq_line irq;
	bool irq_level; /* what the line was last driven to */

	struct fdc_drive drv[FDC_DRIVES];

	uint8_t dor, tdr, dsr;
	uint8_t rate;            /* DSR/CCR bits 0-1 */
	uint8_t phase;
	uint8_t cmd[CMD_MAX];
	uint8_t cmd_len, cmd_need, cmd_op;
	uint8_t res[RES_MAX];
	uint8_t res_len, res_pos;
	bool irq_pending;
	uint8_t reset_sensei;    /* reset statuses still to sense */
	bool seek_int;           /* a seek or recalibrate ended: SENSE INTERRUPT answers it */
	uint8_t seek_st0;
	uint8_t spec[2];         /* SPECIFY: SRT/HUT, HLT/ND */
	uint8_t config, pretrk;  /* CONFIGURE */
	bool locked;
	uint8_t perpendicular;
	uint8_t drive_spec[4];
	uint8_t pcn_other[2];    /* drives 2 and 3 (none here): what the guest seeked them to */
	struct fdc_xfer x;
	uint8_t buf[FDC_SECTOR];
};

/* ---- formats --------------------------------------------------------- */

static const struct fdc_format *format_of_size(uint64_t size)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if ((uint64_t)formats[i].kib * 1024 == size)
			return &formats[i];
	return NULL;
}

unsigned fdc_type_of_size(uint64_t size, char *err, size_t errlen)
{
	const struct fdc_format *f = format_of_size(size);
	if (!f) {
		set_err(err, errlen, "floppy image of %llu bytes: not a floppy size (160K, 180K, "
			"320K, 360K, 720K, 1.2M, 1.44M or 2.88M)", (unsigned long long)size);
		return 0;
	}
	return f->cmos;
}

/* ---- interrupt --------------------------------------------------------- */

/* Under the lock: the line is the pending request gated by DOR bit 3. */
static void update_irq(struct fdc *f)
{
	bool level = f->irq_pending && (f->dor & DOR_DMA_GATE) && (f->dor & DOR_NRESET);
	if (level != f->irq_level) {
		f->irq_level = level;
		irq_set(&f->irq, level);
	}
}

static void raise_irq(struct fdc *f)
{
	f->irq_pending = true;
	update_irq(f);
}

static void lower_irq(struct fdc *f)
{
	f->irq_pending = false;
	update_irq(f);
}

/* ---- phases --------------------------------------------------------------- */

static struct fdc_drive *drive_at(struct fdc *f, unsigned unit)
{
	return unit < FDC_DRIVES && f->drv[unit].cmos_type ? &f->drv[unit] : NULL;
}

static void set_dreq(struct fdc *f, bool level)
{
	if (f->dma_claimed)
		i8237_set_dreq(f->dma, FDC_DMA, level);
}

static void to_command_phase(struct fdc *f)
{
	f->phase = PHASE_COMMAND;
	f->cmd_len = 0;
	f->cmd_need = 0;
	f->res_len = f->res_pos = 0;
}

/* The result bytes (at most RES_MAX); irq: the command interrupts. */
static void to_result_phase(struct fdc *f, const uint8_t *res, unsigned n, bool irq)
{
	if (n > RES_MAX)
		n = RES_MAX;
	memcpy(f->res, res, n);
	f->res_len = (uint8_t)n;
	f->res_pos = 0;
	f->phase = PHASE_RESULT;
	if (irq)
		raise_irq(f);
}

static void result1(struct fdc *f, uint8_t v)
{
	to_result_phase(f, &v, 1, false);
}

/* A transfer command's seven result bytes. */
static void rw_result(struct fdc *f, uint8_t st0, uint8_t st1, uint8_t st2, uint8_t c,
		      uint8_t h, uint8_t r)
{
	uint8_t res[7] = { st0, st1, st2, c, h, r, 2 };
	set_dreq(f, false);
	to_result_phase(f, res, 7, true);
}

static uint8_t st0_base(const struct fdc *f, unsigned head, unsigned drive)
{
	(void)f;
	return (uint8_t)((head & 1) << 2 | (drive & 3));
}

/* ---- the medium ------------------------------------------------------------ */

static uint64_t sector_offset(const struct fdc_format *fm, unsigned track, unsigned head,
			      unsigned sector)
{
	return (((uint64_t)track * fm->heads + head) * fm->spt + (sector - 1)) * FDC_SECTOR;
}

/* The error ST1 for the sector (track, head, sector) of drive d at the
 * present rate, 0 if it can be read; *st2 gets the cylinder bits. */
static uint8_t locate(const struct fdc *f, const struct fdc_drive *d, unsigned cyl,
		      unsigned head, unsigned sector, unsigned size_code, uint8_t *st2)
{
	const struct fdc_format *fm = d->fmt;

	*st2 = 0;
	if (!fm || (f->rate & DSR_RATE) != fm->rate || head >= fm->heads ||
	    d->track >= fm->tracks)
		return ST1_MA;
	if (cyl != d->track) {
		*st2 = cyl == 0xFF ? ST2_BC : ST2_WC;
		return ST1_ND;
	}
	if (size_code != 2 || sector < 1 || sector > fm->spt)
		return ST1_ND;
	return 0;
}

static bool read_sector(struct fdc *f, const struct fdc_drive *d, unsigned head,
			unsigned sector)
{
	return block_pread(d->bd, f->buf, FDC_SECTOR,
			   sector_offset(d->fmt, d->track, head, sector)) == 0;
}

static bool write_sector(struct fdc *f, const struct fdc_drive *d, unsigned head,
			 unsigned sector)
{
	return block_pwrite(d->bd, f->buf, FDC_SECTOR,
			    sector_offset(d->fmt, d->track, head, sector)) == 0;
}

/* ---- data transfers ------------------------------------------------------ */

static bool to_guest(const struct fdc_xfer *x)
{
	return x->op == OP_READ || x->op == OP_READ_TRACK;
}

/* Ends the transfer: abnormal with st1/st2, or normal (st1 = st2 = 0). */
static void end_xfer(struct fdc *f, uint8_t st1, uint8_t st2)
{
	struct fdc_xfer *x = &f->x;
	uint8_t st0 = st0_base(f, x->head, x->drive) | (st1 || st2 ? ST0_ABNORMAL : 0);
	rw_result(f, st0, st1, st2, x->cyl, x->id_head, x->sector);
}

/* Moves the ID to the next sector as the controller does after a sector
 * (multi-track: head 0's end of track goes on to head 1). Returns false
 * at the end of the track (the ID is then the next cylinder's first). */
static bool next_sector(struct fdc_xfer *x)
{
	if (x->sector != x->eot) {
		x->sector++;
		return true;
	}
	x->sector = 1;
	if (x->mt && !(x->id_head & 1)) {
		x->id_head ^= 1;
		x->head = 1;
		return true;
	}
	if (x->mt)
		x->id_head ^= 1;
	x->cyl++;
	return false;
}

/* Loads (reading) or makes ready for (writing) the sector the ID names;
 * false if the transfer ended with an error. */
static bool begin_sector(struct fdc *f)
{
	struct fdc_xfer *x = &f->x;
	const struct fdc_drive *d = &f->drv[x->drive];
	uint8_t st2;
	uint8_t st1 = locate(f, d, x->cyl, x->head, x->sector, 2, &st2);

	if (st1) {
		end_xfer(f, st1, st2);
		return false;
	}
	x->pos = 0;
	x->len = FDC_SECTOR;
	if (to_guest(x) && !read_sector(f, d, x->head, x->sector)) {
		end_xfer(f, ST1_DE, 0);
		return false;
	}
	if (!x->dma)
		raise_irq(f); /* non-DMA: the data request */
	return true;
}

/* FORMAT: the four ID bytes in buf name a sector to fill. */
static bool format_id(struct fdc *f)
{
	struct fdc_xfer *x = &f->x;
	const struct fdc_drive *d = &f->drv[x->drive];
	uint8_t st2;

	x->cyl = f->buf[0];
	x->id_head = f->buf[1];
	x->sector = f->buf[2];
	if (!locate(f, d, x->cyl, x->head, x->sector, f->buf[3], &st2) &&
	    x->id_head == x->head) {
		memset(f->buf, x->fill, FDC_SECTOR);
		if (!write_sector(f, d, x->head, x->sector)) {
			end_xfer(f, ST1_DE, 0);
			return false;
		}
	}
	if (--x->formats_left == 0) {
		end_xfer(f, 0, 0);
		return false;
	}
	x->pos = 0;
	x->len = 4;
	if (!x->dma)
		raise_irq(f);
	return true;
}

/* The buffer is full (or emptied), or the DMA channel reached terminal
 * count: finish this piece. false: the transfer has ended. */
static bool piece_done(struct fdc *f, bool tc)
{
	struct fdc_xfer *x = &f->x;
	const struct fdc_drive *d = &f->drv[x->drive];

	if (x->op == OP_FORMAT) {
		if (x->pos < x->len) { /* terminal count inside an ID */
			end_xfer(f, 0, 0);
			return false;
		}
		if (!format_id(f))
			return false;
		if (tc) {
			end_xfer(f, 0, 0);
			return false;
		}
		return true;
	}
	if (x->op == OP_WRITE) {
		/* terminal count inside a sector: the rest is written as zeros */
		memset(f->buf + x->pos, 0, FDC_SECTOR - x->pos);
		if (!write_sector(f, d, x->head, x->sector)) {
			end_xfer(f, ST1_DE, 0);
			return false;
		}
	}
	bool more = next_sector(x);
	if (tc) {
		end_xfer(f, 0, 0);
		return false;
	}
	if (!more) {
		end_xfer(f, ST1_EN, 0); /* no terminal count: the end of the cylinder */
		return false;
	}
	return begin_sector(f);
}

/* Moves bytes through the DMA channel while it takes them. */
static void pump_dma(struct fdc *f)
{
	struct fdc_xfer *x = &f->x;

	while (f->phase == PHASE_EXEC && x->dma && f->dma_claimed &&
	       (f->dor & DOR_DMA_GATE) && (f->dor & DOR_NRESET)) {
		bool tc = false;
		if (x->pos > x->len || x->len > FDC_SECTOR)
			return; /* cannot happen: every path sets them together */
		size_t n = i8237_transfer(f->dma, FDC_DMA, f->buf + x->pos, x->len - x->pos,
					  to_guest(x) ? I8237_TO_MEMORY : I8237_FROM_MEMORY, &tc);
		x->pos = (uint16_t)(x->pos + n);
		if (x->pos == x->len || tc) {
			if (!piece_done(f, tc))
				return;
		} else if (!n) {
			return; /* the channel is not ready: its kick resumes */
		}
	}
}

static void dma_kick(void *opaque, unsigned ch)
{
	struct fdc *f = opaque;
	(void)ch;
	pthread_mutex_lock(&f->lock);
	pump_dma(f);
	pthread_mutex_unlock(&f->lock);
}

/* ---- commands ---------------------------------------------------------- */

static enum op decode(uint8_t b)
{
	switch (b) {
	case 0x03: return OP_SPECIFY;
	case 0x04: return OP_SENSE_DRIVE;
	case 0x07: return OP_RECALIBRATE;
	case 0x08: return OP_SENSE_INT;
	case 0x0E: return OP_DUMPREG;
	case 0x0F: return OP_SEEK;
	case 0x10: return OP_VERSION;
	case 0x12: return OP_PERPENDICULAR;
	case 0x13: return OP_CONFIGURE;
	case 0x14: case 0x94: return OP_LOCK;
	case 0x18: return OP_PART_ID;
	case 0x8E: return OP_DRIVE_SPEC;
	case 0x8F: case 0xCF: return OP_RELATIVE_SEEK;
	}
	/* the data commands carry MT (bit 7), MFM (bit 6) and SK (bit 5) */
	switch (b & 0x1F) {
	case 0x06: return OP_READ;
	case 0x05: return OP_WRITE;
	case 0x02: return OP_READ_TRACK;
	case 0x16: return OP_VERIFY;
	case 0x0A: return OP_READ_ID;
	case 0x0D: return OP_FORMAT;
	}
	return OP_INVALID;
}

/* The checks every transfer command starts with: the drive, its medium,
 * the rate; implied seek. The error ST0/ST1, or 0. */
static uint8_t check_drive(struct fdc *f, unsigned unit, unsigned head, bool writing,
			   uint8_t *st1)
{
	struct fdc_drive *d = drive_at(f, unit);

	*st1 = 0;
	if (!d || !d->bd) {
		*st1 = ST1_MA;
		return ST0_ABNORMAL | ST0_NOT_READY;
	}
	if (writing && d->bd->read_only) {
		*st1 = ST1_NW;
		return ST0_ABNORMAL;
	}
	(void)head;
	return 0;
}

static void cmd_transfer(struct fdc *f, enum op op)
{
	struct fdc_xfer *x = &f->x;
	unsigned unit = f->cmd[1] & 3, head = (f->cmd[1] >> 2) & 1;
	bool writing = op == OP_WRITE || op == OP_FORMAT;
	uint8_t st1;
	uint8_t st0 = check_drive(f, unit, head, writing, &st1);

	memset(x, 0, sizeof(*x));
	x->op = (uint8_t)op;
	x->drive = (uint8_t)unit;
	x->head = (uint8_t)head;
	x->dma = !(f->spec[1] & SPEC_ND);
	x->mt = (f->cmd[0] & 0x80) && op != OP_READ_TRACK && op != OP_FORMAT;
	if (op == OP_FORMAT) {
		x->cyl = unit < FDC_DRIVES ? f->drv[unit].track : 0;
		x->id_head = (uint8_t)head;
		x->sector = 1;
		x->formats_left = f->cmd[3];
		x->fill = f->cmd[5];
	} else {
		x->cyl = f->cmd[2];
		x->id_head = f->cmd[3];
		x->sector = op == OP_READ_TRACK ? 1 : f->cmd[4];
		x->eot = f->cmd[6];
	}
	if (st0) {
		rw_result(f, st0 | st0_base(f, head, unit), st1, 0, x->cyl, x->id_head, x->sector);
		return;
	}
	struct fdc_drive *d = &f->drv[unit];
	if ((f->config & CONFIG_EIS) && op != OP_FORMAT)
		d->track = x->cyl;
	if (op == OP_FORMAT) {
		uint8_t st2;
		/* a track of another rate or side cannot be written here */
		if (locate(f, d, d->track, head, 1, 2, &st2)) {
			end_xfer(f, ST1_MA, 0);
			return;
		}
		if (!x->formats_left) {
			end_xfer(f, 0, 0);
			return;
		}
		f->phase = PHASE_EXEC;
		x->len = 4;
		if (x->dma)
			set_dreq(f, true);
		else
			raise_irq(f);
		pump_dma(f);
		return;
	}
	uint8_t st2;
	st1 = locate(f, d, x->cyl, head, x->sector, f->cmd[5], &st2);
	if (st1) {
		end_xfer(f, st1, st2);
		return;
	}
	if (op == OP_VERIFY) {
		/* EC (bit 7 of the drive byte): verify SC (the last byte) sectors,
		 * else to the end of the track */
		unsigned left = (f->cmd[1] & 0x80) ? f->cmd[8] : 0x100;
		while (left--) {
			if ((st1 = locate(f, d, x->cyl, x->head, x->sector, 2, &st2))) {
				end_xfer(f, st1, st2);
				return;
			}
			if (!read_sector(f, d, x->head, x->sector)) {
				end_xfer(f, ST1_DE, 0);
				return;
			}
			if (!next_sector(x) || !left)
				break;
		}
		end_xfer(f, 0, 0);
		return;
	}
	f->phase = PHASE_EXEC;
	if (!begin_sector(f))
		return;
	if (x->dma) {
		set_dreq(f, true);
		pump_dma(f);
	}
}

static void cmd_read_id(struct fdc *f)
{
	unsigned unit = f->cmd[1] & 3, head = (f->cmd[1] >> 2) & 1;
	uint8_t st1, st2;
	uint8_t st0 = check_drive(f, unit, head, false, &st1);

	if (st0) {
		rw_result(f, st0 | st0_base(f, head, unit), st1, 0, 0, (uint8_t)head, 1);
		return;
	}
	const struct fdc_drive *d = &f->drv[unit];
	st1 = locate(f, d, d->track, head, 1, 2, &st2);
	rw_result(f, st0_base(f, head, unit) | (st1 ? ST0_ABNORMAL : 0), st1, st2, d->track,
		  (uint8_t)head, 1);
}

/* SEEK, RELATIVE SEEK, RECALIBRATE: at once, with the seek-end interrupt. */
static void seek_to(struct fdc *f, unsigned unit, unsigned head, unsigned track, bool recal)
{
	struct fdc_drive *d = drive_at(f, unit);
	uint8_t st0 = ST0_SEEK_END | st0_base(f, head, unit);

	if (d) {
		d->track = (uint8_t)track;
		if (d->bd)
			d->changed = false; /* a step with a disk in clears the change line */
	} else if (unit >= FDC_DRIVES) {
		f->pcn_other[unit - FDC_DRIVES] = (uint8_t)track;
	}
	if (!d && recal)
		st0 |= ST0_ABNORMAL | ST0_EQUIP; /* no track 0 signal */
	f->seek_int = true;
	f->seek_st0 = st0;
	to_command_phase(f);
	raise_irq(f);
}

static uint8_t pcn_of(const struct fdc *f, unsigned unit)
{
	if (unit < FDC_DRIVES)
		return f->drv[unit].track;
	return f->pcn_other[unit - FDC_DRIVES];
}

static void cmd_sense_int(struct fdc *f)
{
	uint8_t res[2];

	lower_irq(f);
	if (f->reset_sensei) {
		unsigned unit = RESET_SENSEI - f->reset_sensei;
		f->reset_sensei--;
		res[0] = (uint8_t)(ST0_POLL | unit);
		res[1] = pcn_of(f, unit);
	} else if (f->seek_int) {
		f->seek_int = false;
		res[0] = f->seek_st0;
		res[1] = pcn_of(f, f->seek_st0 & 3);
	} else {
		result1(f, ST0_INVALID);
		return;
	}
	to_result_phase(f, res, 2, false);
}

static void cmd_sense_drive(struct fdc *f)
{
	unsigned unit = f->cmd[1] & 3, head = (f->cmd[1] >> 2) & 1;
	const struct fdc_drive *d = drive_at(f, unit);
	uint8_t st3 = st0_base(f, head, unit) | ST3_RDY;

	if (d) {
		st3 |= ST3_TS;
		if (!d->track)
			st3 |= ST3_T0;
		if (!d->bd || d->bd->read_only)
			st3 |= ST3_WP;
	}
	result1(f, st3);
}

static void cmd_dumpreg(struct fdc *f)
{
	uint8_t res[10] = {
		f->drv[0].track, f->drv[1].track, f->pcn_other[0], f->pcn_other[1],
		f->spec[0], f->spec[1],
		f->x.eot,
		(uint8_t)((f->locked ? 0x80 : 0) | (f->perpendicular & 0x7F)),
		f->config, f->pretrk,
	};
	to_result_phase(f, res, 10, false);
}

/* DRIVE SPECIFICATION: up to four drive bytes, ended by one with bit 7
 * set (bit 6 of it: no result phase) or by the fifth. */
static bool drive_spec_done(struct fdc *f)
{
	uint8_t last = f->cmd[f->cmd_len - 1];
	return f->cmd_len > 1 && ((last & 0x80) || f->cmd_len == op_length[OP_DRIVE_SPEC]);
}

static void cmd_drive_spec(struct fdc *f, unsigned len)
{
	uint8_t last = f->cmd[len - 1];
	unsigned n = len - 1 - ((last & 0x80) ? 1 : 0);

	for (unsigned i = 0; i < n && i + 1 < len; i++) {
		uint8_t b = f->cmd[1 + i];
		f->drive_spec[(b >> 5) & 3] = b & 0x1F;
	}
	if ((last & 0x80) && (last & 0x40)) {
		to_command_phase(f);
		return;
	}
	to_result_phase(f, f->drive_spec, 4, false);
}

/* The command is complete (its bytes stay in cmd[] for the handler). */
static void execute(struct fdc *f)
{
	enum op op = (enum op)f->cmd_op;
	unsigned len = f->cmd_len;

	f->cmd_len = 0;
	f->cmd_need = 0;

	switch (op) {
	case OP_READ: case OP_WRITE: case OP_READ_TRACK: case OP_VERIFY: case OP_FORMAT:
		cmd_transfer(f, op);
		break;
	case OP_READ_ID:
		cmd_read_id(f);
		break;
	case OP_SPECIFY:
		f->spec[0] = f->cmd[1];
		f->spec[1] = f->cmd[2];
		to_command_phase(f);
		break;
	case OP_SENSE_DRIVE:
		cmd_sense_drive(f);
		break;
	case OP_RECALIBRATE:
		seek_to(f, f->cmd[1] & 3, 0, 0, true);
		break;
	case OP_SENSE_INT:
		cmd_sense_int(f);
		break;
	case OP_SEEK:
		seek_to(f, f->cmd[1] & 3, (f->cmd[1] >> 2) & 1, f->cmd[2], false);
		break;
	case OP_RELATIVE_SEEK: {
		unsigned unit = f->cmd[1] & 3, now = pcn_of(f, unit);
		unsigned to = (f->cmd[0] & 0x40) ? MIN(now + f->cmd[2], 255u)
						 : (now > f->cmd[2] ? now - f->cmd[2] : 0);
		seek_to(f, unit, (f->cmd[1] >> 2) & 1, to, false);
		break;
	}
	case OP_VERSION:
		result1(f, 0x90);
		break;
	case OP_CONFIGURE:
		f->config = f->cmd[2];
		f->pretrk = f->cmd[3];
		to_command_phase(f);
		break;
	case OP_DUMPREG:
		cmd_dumpreg(f);
		break;
	case OP_PERPENDICULAR:
		/* bit 7 (OW) lets bits 2-5 (the drives) change */
		if (f->cmd[1] & 0x80)
			f->perpendicular = (uint8_t)(f->cmd[1] & 0x3F);
		else
			f->perpendicular = (uint8_t)((f->perpendicular & 0x3C) | (f->cmd[1] & 0x03));
		to_command_phase(f);
		break;
	case OP_LOCK:
		f->locked = f->cmd[0] & 0x80;
		result1(f, f->locked ? 0x10 : 0x00);
		break;
	case OP_PART_ID:
		result1(f, 0x41);
		break;
	case OP_DRIVE_SPEC:
		cmd_drive_spec(f, len);
		break;
	default:
		result1(f, ST0_INVALID);
		break;
	}
}

/* A command or parameter byte. The buffer index is bounded by the
 * decoded command's length, itself at most CMD_MAX. */
static void command_byte(struct fdc *f, uint8_t v)
{
	if (!f->cmd_len) {
		enum op op = decode(v);
		if (op == OP_INVALID) {
			result1(f, ST0_INVALID);
			return;
		}
		if (op != OP_SENSE_INT && f->reset_sensei) {
			/* a command other than SENSE INTERRUPT after a reset
			 * drops the polled statuses */
			f->reset_sensei = 0;
		}
		if (op != OP_SENSE_INT)
			lower_irq(f);
		f->cmd_op = (uint8_t)op;
		f->cmd_need = op_length[op];
	}
	if (f->cmd_len >= f->cmd_need || f->cmd_len >= CMD_MAX) {
		to_command_phase(f); /* cannot happen: the command ran at its last byte */
		return;
	}
	f->cmd[f->cmd_len++] = v;
	if (f->cmd_op == OP_DRIVE_SPEC ? drive_spec_done(f) : f->cmd_len == f->cmd_need)
		execute(f);
}

/* A data byte of a non-DMA transfer. */
static void pio_data(struct fdc *f, uint8_t *v, bool write)
{
	struct fdc_xfer *x = &f->x;

	lower_irq(f);
	if (x->dma || to_guest(x) == write || x->pos >= x->len || x->len > FDC_SECTOR)
		return;
	if (write)
		f->buf[x->pos++] = *v;
	else
		*v = f->buf[x->pos++];
	if (x->pos == x->len)
		piece_done(f, false);
}

static uint8_t fifo_read(struct fdc *f)
{
	uint8_t v = 0;

	switch (f->phase) {
	case PHASE_RESULT:
		if (f->res_pos < f->res_len && f->res_len <= RES_MAX)
			v = f->res[f->res_pos++];
		if (f->res_pos == 1)
			lower_irq(f);
		if (f->res_pos >= f->res_len)
			to_command_phase(f);
		break;
	case PHASE_EXEC:
		pio_data(f, &v, false);
		break;
	}
	return v;
}

static void fifo_write(struct fdc *f, uint8_t v)
{
	switch (f->phase) {
	case PHASE_COMMAND:
		command_byte(f, v);
		break;
	case PHASE_EXEC:
		pio_data(f, &v, true);
		break;
	default:
		break; /* the result is to be read: ignored */
	}
}

static uint8_t msr(const struct fdc *f)
{
	if (!(f->dor & DOR_NRESET))
		return 0;
	switch (f->phase) {
	case PHASE_EXEC:
		if (f->x.dma)
			return MSR_CB;
		return MSR_RQM | MSR_NDMA | MSR_CB | (to_guest(&f->x) ? MSR_DIO : 0);
	case PHASE_RESULT:
		return MSR_RQM | MSR_DIO | MSR_CB;
	default:
		return MSR_RQM | (f->cmd_len ? MSR_CB : 0);
	}
}

/* ---- reset ----------------------------------------------------------------- */

/* The controller's reset (DOR bit 2 low, DSR bit 7, power-on): the
 * command in progress ends; SPECIFY's values stay (the data sheet's
 * "unaffected by software reset"), CONFIGURE's too while LOCKed. */
static void controller_reset(struct fdc *f, bool hard)
{
	set_dreq(f, false);
	memset(&f->x, 0, sizeof(f->x));
	to_command_phase(f);
	f->irq_pending = false;
	f->seek_int = false;
	f->reset_sensei = 0;
	if (hard || !f->locked) {
		f->config = 0x20; /* FIFO off, polling on, threshold 1 */
		f->pretrk = 0;
	}
	if (hard) {
		f->locked = false;
		f->spec[0] = f->spec[1] = 0;
		f->perpendicular = 0;
		memset(f->drive_spec, 0, sizeof(f->drive_spec));
	}
	f->perpendicular &= 0x3C; /* GAP and WGATE clear on any reset */
	f->rate = RATE_250K;
	update_irq(f);
}

/* Leaving reset: with polling on, the interrupt and four statuses. */
static void leave_reset(struct fdc *f)
{
	if (!(f->config & CONFIG_POLL_OFF)) {
		f->reset_sensei = RESET_SENSEI;
		raise_irq(f);
	}
}

static void dor_write(struct fdc *f, uint8_t v)
{
	uint8_t old = f->dor;

	f->dor = v;
	if (!(v & DOR_NRESET)) {
		if (old & DOR_NRESET)
			controller_reset(f, false);
	} else if (!(old & DOR_NRESET)) {
		leave_reset(f);
	}
	update_irq(f);
	pump_dma(f); /* the DMA gate may have opened */
}

static void dsr_write(struct fdc *f, uint8_t v)
{
	f->dsr = v & 0x7F;
	f->rate = v & DSR_RATE;
	if (v & DSR_SWRESET) {
		controller_reset(f, false);
		f->rate = v & DSR_RATE;
		leave_reset(f);
	}
}

/* ---- ports --------------------------------------------------------------- */

static uint8_t sra(const struct fdc *f)
{
	uint8_t v = 0;
	if (f->irq_pending)
		v |= 0x80;
	if (!drive_at((struct fdc *)f, 1))
		v |= 0x40; /* nDRV2: no second drive */
	return v;
}

static uint8_t srb(const struct fdc *f)
{
	return (uint8_t)(0xC0 | ((f->dor & DOR_SEL) ? 0x20 : 0) | ((f->dor >> 4) & 0x03));
}

static uint8_t dir_read(const struct fdc *f)
{
	const struct fdc_drive *d = drive_at((struct fdc *)f, f->dor & DOR_SEL);
	/* no drive or no disk reads as changed, as the line floats up */
	return (!d || !d->bd || d->changed) ? DIR_CHANGED : 0;
}

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	struct fdc *f = opaque;
	uint8_t v = 0xFF;

	(void)size;
	pthread_mutex_lock(&f->lock);
	switch (off) {
	case REG_SRA: v = sra(f); break;
	case REG_SRB: v = srb(f); break;
	case REG_DOR: v = f->dor; break;
	case REG_TDR: v = f->tdr; break;
	case REG_MSR: v = msr(f); break;
	case REG_FIFO: v = fifo_read(f); break;
	}
	pthread_mutex_unlock(&f->lock);
	return v;
}

static void port_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct fdc *f = opaque;
	uint8_t v = (uint8_t)value;

	(void)size;
	pthread_mutex_lock(&f->lock);
	switch (off) {
	case REG_DOR: dor_write(f, v); break;
	case REG_TDR: f->tdr = v & 0x03; break;
	case REG_MSR: dsr_write(f, v); break;
	case REG_FIFO:
		if (f->dor & DOR_NRESET)
			fifo_write(f, v);
		break;
	}
	pthread_mutex_unlock(&f->lock);
}

static uint64_t dir_port_read(void *opaque, uint64_t off, unsigned size)
{
	struct fdc *f = opaque;
	(void)off, (void)size;
	pthread_mutex_lock(&f->lock);
	uint8_t v = dir_read(f);
	pthread_mutex_unlock(&f->lock);
	return v;
}

static void ccr_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct fdc *f = opaque;
	(void)off, (void)size;
	pthread_mutex_lock(&f->lock);
	f->rate = value & DSR_RATE;
	f->dsr = (uint8_t)((f->dsr & ~DSR_RATE) | f->rate);
	pthread_mutex_unlock(&f->lock);
}

static const struct io_ops fdc_ops = { .read = port_read, .write = port_write,
				       .min_size = 1, .max_size = 1 };
static const struct io_ops dir_ops = { .read = dir_port_read, .write = ccr_write,
				       .min_size = 1, .max_size = 1 };

/* ---- saved state ----------------------------------------------------------- */

void fdc_save(struct fdc *f, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&f->lock);
	ss_section_begin(w, "isa-fdc", instance, FDC_STATE_VERSION);
	ss_put_u8(w, "dor", f->dor);
	ss_put_u8(w, "tdr", f->tdr);
	ss_put_u8(w, "dsr", f->dsr);
	ss_put_u8(w, "rate", f->rate);
	ss_put_u8(w, "phase", f->phase);
	ss_put_bytes(w, "cmd", f->cmd, sizeof(f->cmd));
	ss_put_u8(w, "cmd_len", f->cmd_len);
	ss_put_u8(w, "cmd_need", f->cmd_need);
	ss_put_u8(w, "cmd_op", f->cmd_op);
	ss_put_bytes(w, "res", f->res, sizeof(f->res));
	ss_put_u8(w, "res_len", f->res_len);
	ss_put_u8(w, "res_pos", f->res_pos);
	ss_put_bool(w, "irq_pending", f->irq_pending);
	ss_put_u8(w, "reset_sensei", f->reset_sensei);
	ss_put_bool(w, "seek_int", f->seek_int);
	ss_put_u8(w, "seek_st0", f->seek_st0);
	ss_put_bytes(w, "spec", f->spec, sizeof(f->spec));
	ss_put_u8(w, "config", f->config);
	ss_put_u8(w, "pretrk", f->pretrk);
	ss_put_bool(w, "locked", f->locked);
	ss_put_u8(w, "perpendicular", f->perpendicular);
	ss_put_bytes(w, "drive_spec", f->drive_spec, sizeof(f->drive_spec));
	ss_put_bytes(w, "pcn_other", f->pcn_other, sizeof(f->pcn_other));
	for (unsigned i = 0; i < FDC_DRIVES; i++) {
		ss_put_elem_begin(w, "drive", i);
		ss_put_u8(w, "track", f->drv[i].track);
		ss_put_bool(w, "changed", f->drv[i].changed);
		ss_put_elem_end(w);
	}
	ss_put_u8(w, "x.op", f->x.op);
	ss_put_bool(w, "x.dma", f->x.dma);
	ss_put_bool(w, "x.mt", f->x.mt);
	ss_put_u8(w, "x.drive", f->x.drive);
	ss_put_u8(w, "x.head", f->x.head);
	ss_put_u8(w, "x.cyl", f->x.cyl);
	ss_put_u8(w, "x.id_head", f->x.id_head);
	ss_put_u8(w, "x.sector", f->x.sector);
	ss_put_u8(w, "x.eot", f->x.eot);
	ss_put_u8(w, "x.formats_left", f->x.formats_left);
	ss_put_u8(w, "x.fill", f->x.fill);
	ss_put_u16(w, "x.pos", f->x.pos);
	ss_put_u16(w, "x.len", f->x.len);
	ss_put_bytes(w, "buf", f->buf, sizeof(f->buf));
	ss_section_end(w);
	pthread_mutex_unlock(&f->lock);
}

/* Values no sequence of port writes could leave (the stream is hostile). */
static const char *bad_state(const struct fdc *n, const struct fdc *f)
{
	if (n->phase > PHASE_RESULT)
		return "phase";
	if (n->cmd_op >= OP_COUNT || n->cmd_need > CMD_MAX || n->cmd_len > CMD_MAX ||
	    (n->cmd_len && (n->cmd_op == OP_INVALID || n->cmd_need != op_length[n->cmd_op] ||
			    n->cmd_len >= n->cmd_need)) ||
	    (n->phase != PHASE_COMMAND && n->cmd_len))
		return "command";
	if (n->res_len > RES_MAX || n->res_pos > n->res_len ||
	    (n->phase == PHASE_RESULT) != (n->res_pos < n->res_len))
		return "result";
	if (n->reset_sensei > RESET_SENSEI || n->rate > DSR_RATE || n->tdr > 3)
		return "register";
	if (n->phase == PHASE_EXEC) {
		const struct fdc_xfer *x = &n->x;
		bool valid_op = x->op == OP_READ || x->op == OP_WRITE || x->op == OP_READ_TRACK ||
				x->op == OP_FORMAT;
		if (!valid_op || x->drive >= FDC_DRIVES || !f->drv[x->drive].bd || x->head > 1 ||
		    x->len != (x->op == OP_FORMAT ? 4 : FDC_SECTOR) || x->pos >= x->len ||
		    (x->op == OP_FORMAT && !x->formats_left))
			return "transfer";
	}
	return NULL;
}

bool fdc_load(struct fdc *f, struct ss_reader *r, uint32_t instance)
{
	struct fdc *n = xzalloc(sizeof(*n));
	uint8_t track[FDC_DRIVES];
	bool changed[FDC_DRIVES];

	if (!ss_section_open(r, "isa-fdc", instance, 1, FDC_STATE_VERSION, NULL)) {
		free(n);
		return false;
	}
	ss_get_u8(r, "dor", &n->dor);
	ss_get_u8(r, "tdr", &n->tdr);
	ss_get_u8(r, "dsr", &n->dsr);
	ss_get_u8(r, "rate", &n->rate);
	ss_get_u8(r, "phase", &n->phase);
	ss_get_bytes(r, "cmd", n->cmd, sizeof(n->cmd));
	ss_get_u8(r, "cmd_len", &n->cmd_len);
	ss_get_u8(r, "cmd_need", &n->cmd_need);
	ss_get_u8(r, "cmd_op", &n->cmd_op);
	ss_get_bytes(r, "res", n->res, sizeof(n->res));
	ss_get_u8(r, "res_len", &n->res_len);
	ss_get_u8(r, "res_pos", &n->res_pos);
	ss_get_bool(r, "irq_pending", &n->irq_pending);
	ss_get_u8(r, "reset_sensei", &n->reset_sensei);
	ss_get_bool(r, "seek_int", &n->seek_int);
	ss_get_u8(r, "seek_st0", &n->seek_st0);
	ss_get_bytes(r, "spec", n->spec, sizeof(n->spec));
	ss_get_u8(r, "config", &n->config);
	ss_get_u8(r, "pretrk", &n->pretrk);
	ss_get_bool(r, "locked", &n->locked);
	ss_get_u8(r, "perpendicular", &n->perpendicular);
	ss_get_bytes(r, "drive_spec", n->drive_spec, sizeof(n->drive_spec));
	ss_get_bytes(r, "pcn_other", n->pcn_other, sizeof(n->pcn_other));
	for (unsigned i = 0; i < FDC_DRIVES; i++) {
		ss_get_elem_begin(r, "drive", i);
		ss_get_u8(r, "track", &track[i]);
		ss_get_bool(r, "changed", &changed[i]);
		ss_get_elem_end(r);
	}
	ss_get_u8(r, "x.op", &n->x.op);
	ss_get_bool(r, "x.dma", &n->x.dma);
	ss_get_bool(r, "x.mt", &n->x.mt);
	ss_get_u8(r, "x.drive", &n->x.drive);
	ss_get_u8(r, "x.head", &n->x.head);
	ss_get_u8(r, "x.cyl", &n->x.cyl);
	ss_get_u8(r, "x.id_head", &n->x.id_head);
	ss_get_u8(r, "x.sector", &n->x.sector);
	ss_get_u8(r, "x.eot", &n->x.eot);
	ss_get_u8(r, "x.formats_left", &n->x.formats_left);
	ss_get_u8(r, "x.fill", &n->x.fill);
	ss_get_u16(r, "x.pos", &n->x.pos);
	ss_get_u16(r, "x.len", &n->x.len);
	ss_get_bytes(r, "buf", n->buf, sizeof(n->buf));
	if (!ss_section_close(r)) {
		free(n);
		return false;
	}
	pthread_mutex_lock(&f->lock);
	const char *bad = bad_state(n, f);
	if (bad) {
		pthread_mutex_unlock(&f->lock);
		free(n);
		return ss_fail(r, "saved state: isa-fdc %u: invalid %s", instance, bad);
	}
	f->dor = n->dor, f->tdr = n->tdr, f->dsr = n->dsr, f->rate = n->rate;
	f->phase = n->phase;
	memcpy(f->cmd, n->cmd, sizeof(f->cmd));
	f->cmd_len = n->cmd_len, f->cmd_need = n->cmd_need, f->cmd_op = n->cmd_op;
	memcpy(f->res, n->res, sizeof(f->res));
	f->res_len = n->res_len, f->res_pos = n->res_pos;
	f->irq_pending = n->irq_pending;
	f->reset_sensei = n->reset_sensei;
	f->seek_int = n->seek_int, f->seek_st0 = n->seek_st0;
	memcpy(f->spec, n->spec, sizeof(f->spec));
	f->config = n->config, f->pretrk = n->pretrk, f->locked = n->locked;
	f->perpendicular = n->perpendicular;
	memcpy(f->drive_spec, n->drive_spec, sizeof(f->drive_spec));
	memcpy(f->pcn_other, n->pcn_other, sizeof(f->pcn_other));
	for (unsigned i = 0; i < FDC_DRIVES; i++) {
		f->drv[i].track = track[i];
		f->drv[i].changed = changed[i];
	}
	f->x = n->x;
	memcpy(f->buf, n->buf, sizeof(f->buf));
	set_dreq(f, f->phase == PHASE_EXEC && f->x.dma);
	update_irq(f);
	pthread_mutex_unlock(&f->lock);
	free(n);
	return true;
}

/* ---- life cycle ------------------------------------------------------------ */

void fdc_reset(struct fdc *f)
{
	pthread_mutex_lock(&f->lock);
	f->dor = 0; /* held in reset until the BIOS lets it go */
	f->tdr = 0;
	f->dsr = RATE_250K;
	controller_reset(f, true);
	memset(f->pcn_other, 0, sizeof(f->pcn_other));
	for (unsigned i = 0; i < FDC_DRIVES; i++) {
		f->drv[i].track = 0;
		f->drv[i].changed = true; /* as a drive reports after power-on */
	}
	pthread_mutex_unlock(&f->lock);
}

struct fdc *fdc_create(struct io_bus *pio, struct i8237 *dma, struct irq_line irq, char *err,
		       size_t errlen)
{
	struct fdc *f = xzalloc(sizeof(*f));

	pthread_mutex_init(&f->lock, NULL);
	f->pio = pio;
	f->dma = dma;
	f->irq = irq;
	io_region_init(&f->io, "isa-fdc", &fdc_ops, f, 6);
	io_region_init(&f->dir_io, "isa-fdc-dir", &dir_ops, f, 1);
	if (bus_map(pio, &f->io, FDC_IOBASE) < 0 || bus_map(pio, &f->dir_io, FDC_IOBASE + 7) < 0) {
		set_err(err, errlen, "isa-fdc: ports 0x3f0-0x3f5, 0x3f7 overlap another device");
		fdc_destroy(f);
		return NULL;
	}
	if (dma) {
		if (i8237_claim(dma, FDC_DMA, dma_kick, f) < 0) {
			set_err(err, errlen, "isa-fdc: DMA channel %u is taken by another device",
				FDC_DMA);
			fdc_destroy(f);
			return NULL;
		}
		f->dma_claimed = true;
	}
	fdc_reset(f);
	return f;
}

/* Under the lock: puts 'bd' in drive d (the old medium closed). */
static int set_medium(struct fdc_drive *d, struct block_dev *bd, char *err, size_t errlen)
{
	const struct fdc_format *fm = NULL;

	if (bd && !(fm = format_of_size(bd->size))) {
		fdc_type_of_size(bd->size, err, errlen);
		return -1;
	}
	if (d->bd && d->bd != bd)
		block_close(d->bd);
	d->bd = bd;
	d->fmt = fm;
	d->changed = true;
	return 0;
}

int fdc_attach(struct fdc *f, unsigned unit, struct block_dev *bd, unsigned cmos_type,
	       char *err, size_t errlen)
{
	if (unit >= FDC_DRIVES || !cmos_type || cmos_type > 5)
		return set_err(err, errlen, "isa-fdc: no drive %u of type %u", unit, cmos_type);
	pthread_mutex_lock(&f->lock);
	int r = set_medium(&f->drv[unit], bd, err, errlen);
	if (!r)
		f->drv[unit].cmos_type = (uint8_t)cmos_type;
	pthread_mutex_unlock(&f->lock);
	return r;
}

unsigned fdc_drive_type(struct fdc *f, unsigned unit)
{
	return unit < FDC_DRIVES ? f->drv[unit].cmos_type : 0;
}

int fdc_change_medium(struct fdc *f, unsigned unit, struct block_dev *bd, char *err,
		      size_t errlen)
{
	pthread_mutex_lock(&f->lock);
	struct fdc_drive *d = drive_at(f, unit);
	int r;
	if (!d) {
		r = set_err(err, errlen, "isa-fdc: no floppy drive %u", unit);
	} else if (bd && !format_of_size(bd->size)) {
		r = set_medium(d, bd, err, errlen); /* refused: one line in err */
	} else {
		/* a transfer from the disk going out ends as the disk goes */
		if (f->phase == PHASE_EXEC && f->x.drive == unit)
			end_xfer(f, ST1_MA, 0);
		r = set_medium(d, bd, err, errlen);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

struct block_dev *fdc_medium(struct fdc *f, unsigned unit)
{
	pthread_mutex_lock(&f->lock);
	struct fdc_drive *d = drive_at(f, unit);
	struct block_dev *bd = d ? d->bd : NULL;
	pthread_mutex_unlock(&f->lock);
	return bd;
}

void fdc_destroy(struct fdc *f)
{
	if (!f)
		return;
	if (f->io.mapped)
		bus_unmap(f->pio, &f->io);
	if (f->dir_io.mapped)
		bus_unmap(f->pio, &f->dir_io);
	if (f->dma_claimed)
		i8237_release(f->dma, FDC_DMA);
	for (unsigned i = 0; i < FDC_DRIVES; i++)
		if (f->drv[i].bd)
			block_close(f->drv[i].bd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- the device table's entry ---------------------------------------------- */

static const struct dev_prop fdc_props[] = {
	{ .name = "driveA", .type = PROP_DRIVE, .help = "drive A: (-fda, -drive if=floppy,index=0)" },
	{ .name = "driveB", .type = PROP_DRIVE, .help = "drive B: (-fdb, -drive if=floppy,index=1)" },
};

static int attach_drive(struct dev_instance *d, struct dev_board *b, unsigned unit,
			char *err, size_t errlen)
{
	const char *id = dev_get_str(d, unit ? "driveB" : "driveA");
	bool cdrom = false;
	char why[256];

	if (!id)
		return 0;
	if (!b->drive)
		return set_err(err, errlen, "isa-fdc: no drives on this board");
	struct block_dev *bd = b->drive(b, id, &cdrom, why, sizeof(why));
	if (!bd)
		return set_err(err, errlen, "isa-fdc: %s", why);
	unsigned type = fdc_type_of_size(bd->size, why, sizeof(why));
	if (!type) {
		set_err(err, errlen, "%s: %s", bd->path ? bd->path : id, why);
		block_close(bd);
		return -1;
	}
	if (fdc_attach(d->state, unit, bd, type, why, sizeof(why)) < 0) {
		block_close(bd);
		return set_err(err, errlen, "%s", why);
	}
	return 0;
}

static int fdc_create_dev(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen)
{
	d->state = fdc_create(b->pio, b->dma, b->isa_irq(b, FDC_IRQ), err, errlen);
	if (!d->state)
		return -1;
	if (attach_drive(d, b, 0, err, errlen) < 0 || attach_drive(d, b, 1, err, errlen) < 0) {
		fdc_destroy(d->state);
		d->state = NULL;
		return -1;
	}
	return 0;
}

static void fdc_reset_dev(struct dev_instance *d)
{
	fdc_reset(d->state);
}

static void fdc_destroy_dev(struct dev_instance *d)
{
	fdc_destroy(d->state);
}

DEV_STATE_OPS(fdc, struct fdc)

const struct dev_class isa_fdc_class = {
	.name = "isa-fdc",
	.bus = DEV_BUS_ISA,
	.categories = DEV_CAT_STORAGE,
	.desc = "floppy disk controller (82078, uPD765-compatible)",
	.props = fdc_props,
	.nprops = ARRAY_SIZE(fdc_props),
	.ops = { .create = fdc_create_dev, .reset = fdc_reset_dev, .destroy = fdc_destroy_dev,
		 .save = fdc_save_dev, .load = fdc_load_dev },
	.board_only = true,
	.max_instances = 1,
};
