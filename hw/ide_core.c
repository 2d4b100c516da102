// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * IDE channel and ATA disk: the command block registers (task file), the
 * device control register, software reset and signatures, PIO and DMA data
 * phases, interrupts, and the ATA command set of a fixed disk (ATA/ATAPI-7).
 *
 * Everything completes synchronously: a command either finishes at once or
 * waits with DRQ set for the host (PIO) or for the bus-master engine (DMA),
 * so BSY is only ever seen while SRST is held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ide_internal.h"
#include "util.h"

#define FW_REV "1.0"

static struct ide_drive *selected(struct ide_channel *ch)
{
	return &ch->drive[ch->cur];
}

static bool channel_empty(const struct ide_channel *ch)
{
	return ch->drive[0].kind == IDE_NONE && ch->drive[1].kind == IDE_NONE;
}

/* ---- interrupts --------------------------------------------------------- */

/* INTRQ is driven by the selected device while nIEN is clear. */
static void update_irq(struct ide_channel *ch)
{
	const struct ide_drive *d = selected(ch);
	int level = d->kind != IDE_NONE && d->intrq && !(ch->devctl & DC_NIEN);

	if (level != ch->irq_level) {
		ch->irq_level = level;
		irq_set(&ch->irq, level);
	}
}

void ide_set_irq(struct ide_drive *d)
{
	struct ide_channel *ch = d->ch;

	d->intrq = true;
	if (!(ch->devctl & DC_NIEN) && ch->cur == d->unit && ch->dma && ch->dma->irq)
		ch->dma->irq(ch->dma_opaque);
	update_irq(ch);
}

/* ---- helpers shared with atapi.c ---------------------------------------- */

/* ATA strings: two characters per word, the first in the high byte. */
void ide_put_string(uint16_t *words, unsigned first, unsigned nwords, const char *s)
{
	size_t len = strlen(s);
	for (unsigned i = 0; i < nwords * 2; i++) {
		uint8_t c = i < len ? (uint8_t)s[i] : ' ';
		if (i & 1)
			words[first + i / 2] |= c;
		else
			words[first + i / 2] = (uint16_t)(c << 8);
	}
}

/* Word 255: signature A5h and a checksum that makes the 512 bytes sum to 0. */
void ide_finish_identify(uint16_t *id)
{
	uint8_t sum = 0xA5;
	id[255] = 0x00A5;
	for (unsigned i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	id[255] |= (uint16_t)((uint8_t)-sum << 8);
}

void ide_sg_copy_to(const struct ide_sg *sg, unsigned n, const uint8_t *src, uint64_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		uint32_t piece = (uint32_t)MIN((uint64_t)sg[i].len, len);
		memcpy(sg[i].host, src, piece);
		src += piece;
		len -= piece;
	}
}

void ide_set_signature(struct ide_drive *d)
{
	d->nsector = 1;
	d->lbal = 1;
	if (d->kind == IDE_CDROM) {
		d->lbam = 0x14;
		d->lbah = 0xEB;
	} else {
		d->lbam = 0;
		d->lbah = 0;
	}
	d->select = 0;
	d->hob_nsector = d->hob_lbal = d->hob_lbam = d->hob_lbah = 0;
}

void ide_stop_transfer(struct ide_drive *d)
{
	d->xfer = XFER_NONE;
	d->pos = d->end = 0;
	d->pio_done = NULL;
}

/* ---- data phases ------------------------------------------------------- */

void ide_pio_start(struct ide_drive *d, bool to_host, uint32_t start, uint32_t len,
		   ide_done_fn done)
{
	if (start > IDE_BUF_SIZE || len > IDE_BUF_SIZE - start)
		len = start = 0; /* cannot happen: callers size their blocks */
	d->xfer = to_host ? XFER_PIO_IN : XFER_PIO_OUT;
	d->pos = start;
	d->end = start + len;
	d->pio_done = done;
}

static uint32_t data_read(struct ide_channel *ch, unsigned size)
{
	struct ide_drive *d = selected(ch);
	uint32_t v = 0;

	if (d->xfer != XFER_PIO_IN)
		return 0;
	size = MAX(size, 2u); /* the bus is 16 bits wide: a byte read moves a word */
	for (unsigned i = 0; i < size && d->pos < d->end; i++)
		v |= (uint32_t)d->buf[d->pos++] << (8 * i);
	if (d->pos >= d->end) {
		ide_done_fn done = d->pio_done;
		ide_stop_transfer(d);
		if (done)
			done(d);
	}
	return v;
}

static void data_write(struct ide_channel *ch, uint32_t v, unsigned size)
{
	struct ide_drive *d = selected(ch);

	if (d->xfer != XFER_PIO_OUT)
		return;
	size = MAX(size, 2u);
	for (unsigned i = 0; i < size && d->pos < d->end; i++)
		d->buf[d->pos++] = (uint8_t)(v >> (8 * i));
	if (d->pos >= d->end) {
		ide_done_fn done = d->pio_done;
		ide_stop_transfer(d);
		if (done)
			done(d);
	}
}

static void dma_run(struct ide_drive *d)
{
	struct ide_channel *ch = d->ch;
	struct ide_sg *sg = NULL;
	unsigned n = 0;
	uint64_t mapped = 0;
	bool more = false;
	ide_dma_finish_fn finish = d->dma_finish;
	int err;

	d->xfer = XFER_NONE;
	if (ch->dma->map(ch->dma_opaque, d->dma_len, &sg, &n, &mapped, &more) < 0 ||
	    mapped < d->dma_len) {
		/* Nothing is transferred: the table is checked before any data moves. */
		ch->dma->end(ch->dma_opaque, DMA_END_ERROR);
		finish(d, -EFAULT);
		return;
	}
	err = d->dma_move(d, sg, n, d->dma_len);
	ch->dma->end(ch->dma_opaque, more || err ? DMA_END_SHORT : DMA_END_DONE);
	finish(d, err);
}

void ide_dma_start(struct ide_drive *d, bool to_mem, uint64_t len, ide_dma_move_fn move,
		   ide_dma_finish_fn finish)
{
	struct ide_channel *ch = d->ch;

	d->xfer = XFER_DMA;
	d->dma_len = len;
	d->dma_to_mem = to_mem;
	d->dma_move = move;
	d->dma_finish = finish;
	d->status = ST_DRDY | ST_DSC | ST_DRQ;
	if (ch->dma && ch->dma->ready(ch->dma_opaque))
		dma_run(d);
}

void ide_dma_kick(struct ide_channel *ch)
{
	if (!ch->dma || !ch->dma->ready(ch->dma_opaque))
		return;
	for (unsigned i = 0; i < 2; i++) {
		struct ide_drive *d = &ch->drive[(ch->cur + i) & 1];
		if (d->xfer == XFER_DMA) {
			dma_run(d);
			return;
		}
	}
}

/* ---- ATA disk commands ------------------------------------------------- */

static void cmd_ok(struct ide_drive *d)
{
	d->status = ST_DRDY | ST_DSC;
	ide_set_irq(d);
}

static void cmd_fail(struct ide_drive *d, uint8_t err)
{
	ide_stop_transfer(d);
	d->error = err;
	d->status = ST_DRDY | ST_DSC | ST_ERR;
	ide_set_irq(d);
}

static uint16_t word93(const struct ide_drive *d)
{
	/* Bit 14 valid, bit 13 80-conductor cable (CBLID- high). Device 0:
	 * number set by jumper, diagnostics passed, PDIAG-/DASP- seen if
	 * device 1 exists. Device 1: number set by jumper, PDIAG- asserted. */
	uint16_t w = 0x6000;
	if (d->unit == 0) {
		w |= 0x000B;
		if (d->ch->drive[1].kind != IDE_NONE)
			w |= 0x0030;
	} else {
		w |= 0x0B00;
	}
	return w;
}

void ide_identify_common(const struct ide_drive *d, uint16_t *id)
{
	ide_put_string(id, 10, 10, d->serial);
	ide_put_string(id, 23, 4, FW_REV);
	id[49] = 0x0B00; /* IORDY supported and can be disabled, LBA, DMA */
	id[50] = 0x4000;
	id[51] = 0x0200; /* PIO timing mode 2 (obsolete field) */
	id[53] = 0x0007; /* words 54-58, 64-70 and 88 valid */
	id[63] = 0x0007; /* multiword DMA 0-2 */
	if (d->mwdma_mode <= 2)
		id[63] |= (uint16_t)(0x100 << d->mwdma_mode);
	id[64] = 0x0003; /* PIO 3 and 4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	id[80] = 0x00F0; /* ATA/ATAPI-4 to -7 */
	id[88] = 0x003F; /* UDMA 0-5 */
	if (d->udma_mode <= 5)
		id[88] |= (uint16_t)(0x100 << d->udma_mode);
	id[93] = word93(d);
}

static void ata_identify(const struct ide_drive *d, uint16_t *id)
{
	uint64_t chs = (uint64_t)d->cur_cyls * d->cur_heads * d->cur_secs;
	uint64_t lba28 = MIN(d->nsectors, 0x0FFFFFFFull);

	memset(id, 0, 512);
	id[0] = 0x0040; /* fixed device */
	id[1] = d->cyls;
	id[3] = d->heads;
	id[6] = d->secs;
	ide_put_string(id, 27, 20, "VMM HARDDISK");
	id[47] = 0x8000 | IDE_MAX_MULT;
	ide_identify_common(d, id);
	id[54] = d->cur_cyls;
	id[55] = d->cur_heads;
	id[56] = d->cur_secs;
	chs = MIN(chs, d->nsectors);
	id[57] = (uint16_t)chs;
	id[58] = (uint16_t)(chs >> 16);
	if (d->mult)
		id[59] = 0x0100 | d->mult;
	id[60] = (uint16_t)lba28;
	id[61] = (uint16_t)(lba28 >> 16);
	/* NOP, write cache, power management; FLUSH CACHE (EXT), LBA48. */
	id[82] = 0x4028;
	id[83] = 0x7400;
	id[84] = 0x4000;
	id[85] = 0x4008 | (d->write_cache ? 0x0020 : 0);
	id[86] = 0x3400;
	id[87] = 0x4000;
	for (unsigned i = 0; i < 4; i++)
		id[100 + i] = (uint16_t)(d->nsectors >> (16 * i));
	ide_finish_identify(id);
}

static void identify_done(struct ide_drive *d)
{
	d->status = ST_DRDY | ST_DSC;
}

/* Sends a 512-byte IDENTIFY (PACKET) DEVICE block in one PIO-in phase. */
static void send_identify(struct ide_drive *d)
{
	uint16_t id[256];

	if (d->kind == IDE_CDROM)
		atapi_identify(d, id);
	else
		ata_identify(d, id);
	for (unsigned i = 0; i < 256; i++)
		put_le16(d->buf + 2 * i, id[i]);
	d->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_pio_start(d, true, 0, 512, identify_done);
	ide_set_irq(d);
}

/* The address of a read/write command: CHS, LBA28 or LBA48. */
static bool ata_get_lba(const struct ide_drive *d, uint64_t *lba)
{
	if (d->lba48) {
		*lba = (uint64_t)d->hob_lbah << 40 | (uint64_t)d->hob_lbam << 32 |
		       (uint64_t)d->hob_lbal << 24 | (uint64_t)d->lbah << 16 |
		       (uint64_t)d->lbam << 8 | d->lbal;
	} else if (d->select & DH_LBA) {
		*lba = (uint64_t)(d->select & 0x0F) << 24 | (uint64_t)d->lbah << 16 |
		       (uint64_t)d->lbam << 8 | d->lbal;
	} else {
		unsigned cyl = (unsigned)d->lbah << 8 | d->lbam;
		unsigned head = d->select & 0x0F, sec = d->lbal;
		if (sec == 0 || sec > d->cur_secs || head >= d->cur_heads)
			return false;
		*lba = ((uint64_t)cyl * d->cur_heads + head) * d->cur_secs + sec - 1;
	}
	return true;
}

/* Reports 'lba' back in the address registers (the failing sector). */
static void ata_set_lba(struct ide_drive *d, uint64_t lba)
{
	if (d->lba48) {
		d->lbal = (uint8_t)lba;
		d->lbam = (uint8_t)(lba >> 8);
		d->lbah = (uint8_t)(lba >> 16);
		d->hob_lbal = (uint8_t)(lba >> 24);
		d->hob_lbam = (uint8_t)(lba >> 32);
		d->hob_lbah = (uint8_t)(lba >> 40);
	} else if (d->select & DH_LBA) {
		d->lbal = (uint8_t)lba;
		d->lbam = (uint8_t)(lba >> 8);
		d->lbah = (uint8_t)(lba >> 16);
		d->select = (uint8_t)((d->select & 0xF0) | ((lba >> 24) & 0x0F));
	} else {
		unsigned per_cyl = (unsigned)d->cur_heads * d->cur_secs;
		uint64_t cyl = lba / per_cyl;
		unsigned rest = (unsigned)(lba % per_cyl);
		d->lbam = (uint8_t)cyl;
		d->lbah = (uint8_t)(cyl >> 8);
		d->select = (uint8_t)((d->select & 0xF0) | (rest / d->cur_secs));
		d->lbal = (uint8_t)(rest % d->cur_secs + 1);
	}
}

static uint32_t ata_count(const struct ide_drive *d)
{
	if (d->lba48) {
		uint32_t n = (uint32_t)d->hob_nsector << 8 | d->nsector;
		return n ? n : 65536;
	}
	return d->nsector ? d->nsector : 256;
}

static void ata_write_through(struct ide_drive *d)
{
	if (!d->write_cache)
		block_flush(d->bd);
}

static void ata_read_block(struct ide_drive *d);

static void ata_read_done(struct ide_drive *d)
{
	if (d->remaining)
		ata_read_block(d);
	else
		d->status = ST_DRDY | ST_DSC;
}

/* PIO in: one DRQ block, announced by an interrupt. */
static void ata_read_block(struct ide_drive *d)
{
	uint32_t n = MIN(d->remaining, d->block);

	if (block_pread(d->bd, d->buf, (size_t)n * IDE_SECTOR, d->lba * IDE_SECTOR) < 0) {
		ata_set_lba(d, d->lba);
		cmd_fail(d, ER_UNC);
		return;
	}
	d->lba += n;
	d->remaining -= n;
	d->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_pio_start(d, true, 0, n * IDE_SECTOR, ata_read_done);
	ide_set_irq(d);
}

static void ata_write_done(struct ide_drive *d);

/* PIO out: ask for the next block. */
static void ata_write_block(struct ide_drive *d)
{
	uint32_t n = MIN(d->remaining, d->block);

	d->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_pio_start(d, false, 0, n * IDE_SECTOR, ata_write_done);
}

static void ata_write_done(struct ide_drive *d)
{
	uint32_t n = MIN(d->remaining, d->block);

	if (block_pwrite(d->bd, d->buf, (size_t)n * IDE_SECTOR, d->lba * IDE_SECTOR) < 0) {
		ata_set_lba(d, d->lba);
		cmd_fail(d, ER_ABRT);
		return;
	}
	ata_write_through(d);
	d->lba += n;
	d->remaining -= n;
	if (d->remaining)
		ata_write_block(d);
	else
		d->status = ST_DRDY | ST_DSC;
	ide_set_irq(d);
}

static int ata_dma_read(struct ide_drive *d, const struct ide_sg *sg, unsigned n, uint64_t len)
{
	uint64_t off = d->lba * IDE_SECTOR;

	for (unsigned i = 0; i < n && len; i++) {
		uint32_t piece = (uint32_t)MIN((uint64_t)sg[i].len, len);
		if (block_pread(d->bd, sg[i].host, piece, off) < 0) {
			ata_set_lba(d, off / IDE_SECTOR);
			return ER_UNC;
		}
		off += piece;
		len -= piece;
	}
	return 0;
}

static int ata_dma_write(struct ide_drive *d, const struct ide_sg *sg, unsigned n, uint64_t len)
{
	uint64_t off = d->lba * IDE_SECTOR;

	for (unsigned i = 0; i < n && len; i++) {
		uint32_t piece = (uint32_t)MIN((uint64_t)sg[i].len, len);
		if (block_pwrite(d->bd, sg[i].host, piece, off) < 0) {
			ata_set_lba(d, off / IDE_SECTOR);
			return ER_ABRT;
		}
		off += piece;
		len -= piece;
	}
	ata_write_through(d);
	return 0;
}

static void ata_dma_finish(struct ide_drive *d, int err)
{
	if (err == -EFAULT)
		cmd_fail(d, ER_ABRT);
	else if (err)
		cmd_fail(d, (uint8_t)err);
	else
		cmd_ok(d);
}

enum rw_mode { RW_PIO, RW_MULT, RW_DMA, RW_VERIFY };

static void ata_rw(struct ide_drive *d, bool write, bool lba48, enum rw_mode mode)
{
	uint64_t lba;
	uint32_t count;

	if (mode == RW_MULT && !d->mult) {
		cmd_fail(d, ER_ABRT);
		return;
	}
	if (write && d->bd->read_only) {
		cmd_fail(d, ER_ABRT);
		return;
	}
	d->lba48 = lba48;
	if (!ata_get_lba(d, &lba)) {
		cmd_fail(d, ER_IDNF);
		return;
	}
	count = ata_count(d);
	if (!range_ok(lba, count, d->nsectors)) {
		ata_set_lba(d, MAX(lba, d->nsectors));
		cmd_fail(d, ER_IDNF);
		return;
	}
	d->standby = false;
	d->lba = lba;
	d->remaining = count;
	d->block = mode == RW_MULT ? d->mult : 1;
	switch (mode) {
	case RW_VERIFY:
		cmd_ok(d);
		break;
	case RW_DMA:
		ide_dma_start(d, !write, (uint64_t)count * IDE_SECTOR,
			      write ? ata_dma_write : ata_dma_read, ata_dma_finish);
		break;
	default:
		if (write)
			ata_write_block(d); /* no interrupt before the first block */
		else
			ata_read_block(d);
		break;
	}
}

static void set_multiple(struct ide_drive *d)
{
	uint8_t n = d->nsector;

	/* 0 disables; otherwise a power of two up to the maximum in word 47. */
	if (n > IDE_MAX_MULT || (n & (n - 1))) {
		cmd_fail(d, ER_ABRT);
		return;
	}
	d->mult = n;
	cmd_ok(d);
}

static void init_dev_params(struct ide_drive *d)
{
	unsigned heads = (d->select & 0x0F) + 1u, secs = d->nsector;

	if (secs == 0) {
		cmd_fail(d, ER_ABRT);
		return;
	}
	d->cur_heads = (uint16_t)heads;
	d->cur_secs = (uint16_t)secs;
	d->cur_cyls = (uint16_t)MIN(d->nsectors / (heads * secs), 65535u);
	cmd_ok(d);
}

static bool set_xfer_mode(struct ide_drive *d, uint8_t v)
{
	unsigned mode = v & 7;

	switch (v >> 3) {
	case 0: /* PIO default, with or without IORDY */
		if (mode > 1)
			return false;
		d->pio_mode = 0xFF;
		return true;
	case 1: /* PIO flow control */
		if (mode > 4)
			return false;
		d->pio_mode = (uint8_t)mode;
		return true;
	case 4: /* multiword DMA */
		if (mode > 2)
			return false;
		d->mwdma_mode = (uint8_t)mode;
		d->udma_mode = 0xFF;
		return true;
	case 8: /* Ultra DMA */
		if (mode > 5)
			return false;
		d->udma_mode = (uint8_t)mode;
		d->mwdma_mode = 0xFF;
		return true;
	default:
		return false;
	}
}

static void set_features(struct ide_drive *d)
{
	bool ok = true;

	switch (d->feature) {
	case 0x03:
		ok = set_xfer_mode(d, d->nsector);
		break;
	case 0x02: /* enable write cache */
	case 0x82: /* disable: writes go through to stable storage */
		if (d->kind != IDE_DISK) {
			ok = false;
			break;
		}
		d->write_cache = d->feature == 0x02;
		if (!d->write_cache && block_flush(d->bd) < 0)
			ok = false;
		break;
	case 0x55: case 0xAA: /* read look-ahead off/on */
	case 0x66: case 0xCC: /* keep/revert to power-on defaults */
		break;
	default:
		ok = false;
		break;
	}
	if (ok)
		cmd_ok(d);
	else
		cmd_fail(d, ER_ABRT);
}

static void flush_cache(struct ide_drive *d)
{
	if (d->kind == IDE_DISK && block_flush(d->bd) < 0)
		cmd_fail(d, ER_ABRT);
	else
		cmd_ok(d);
}

static void drive_soft_reset(struct ide_drive *d)
{
	ide_stop_transfer(d);
	ide_set_signature(d);
	d->intrq = false;
	d->error = 0x01; /* diagnostic code: no error */
	if (d->kind == IDE_CDROM) {
		d->status = 0; /* packet devices leave DRDY clear after a reset */
		atapi_reset(d, false);
	} else {
		d->status = ST_DRDY | ST_DSC;
	}
}

/* A missing device has no registers; after a reset the bus reads back
 * like QEMU's: count and LBA low 1, LBA mid/high FFh (no signature). */
static void absent_reset(struct ide_drive *d)
{
	ide_stop_transfer(d);
	d->nsector = d->lbal = 1;
	d->lbam = d->lbah = 0xFF;
	d->hob_nsector = d->hob_lbal = d->hob_lbam = d->hob_lbah = 0;
	d->select = 0;
	d->status = d->error = 0;
	d->intrq = false;
}

static void exec_diagnostic(struct ide_channel *ch)
{
	for (unsigned i = 0; i < 2; i++)
		if (ch->drive[i].kind != IDE_NONE)
			drive_soft_reset(&ch->drive[i]);
	ch->cur = 0;
	if (ch->drive[0].kind != IDE_NONE)
		ide_set_irq(&ch->drive[0]);
	else
		update_irq(ch);
}

/* Commands both kinds of device accept. Returns false if 'cmd' is not one. */
static bool common_cmd(struct ide_drive *d, uint8_t cmd)
{
	switch (cmd) {
	case 0xEF:
		set_features(d);
		return true;
	case 0xE0: case 0xE2: case 0xE6: /* STANDBY (IMMEDIATE), SLEEP */
		d->standby = true;
		cmd_ok(d);
		return true;
	case 0xE1: case 0xE3: /* IDLE (IMMEDIATE) */
		d->standby = false;
		cmd_ok(d);
		return true;
	case 0xE5: /* CHECK POWER MODE */
		d->nsector = d->standby ? 0x00 : 0xFF;
		cmd_ok(d);
		return true;
	case 0xE7: case 0xEA:
		flush_cache(d);
		return true;
	default:
		return false;
	}
}

static void disk_cmd(struct ide_drive *d, uint8_t cmd)
{
	if (common_cmd(d, cmd))
		return;
	switch (cmd) {
	case 0xEC: send_identify(d); break;
	case 0x20: case 0x21: ata_rw(d, false, false, RW_PIO); break;
	case 0x30: case 0x31: ata_rw(d, true, false, RW_PIO); break;
	case 0x24: ata_rw(d, false, true, RW_PIO); break;
	case 0x34: ata_rw(d, true, true, RW_PIO); break;
	case 0xC4: ata_rw(d, false, false, RW_MULT); break;
	case 0xC5: ata_rw(d, true, false, RW_MULT); break;
	case 0x29: ata_rw(d, false, true, RW_MULT); break;
	case 0x39: ata_rw(d, true, true, RW_MULT); break;
	case 0xC8: case 0xC9: ata_rw(d, false, false, RW_DMA); break;
	case 0xCA: case 0xCB: ata_rw(d, true, false, RW_DMA); break;
	case 0x25: ata_rw(d, false, true, RW_DMA); break;
	case 0x35: ata_rw(d, true, true, RW_DMA); break;
	case 0x40: case 0x41: ata_rw(d, false, false, RW_VERIFY); break;
	case 0x42: ata_rw(d, false, true, RW_VERIFY); break;
	case 0xC6: set_multiple(d); break;
	case 0x91: init_dev_params(d); break;
	case 0x90: exec_diagnostic(d->ch); break;
	default:
		if ((cmd & 0xF0) == 0x10 || (cmd & 0xF0) == 0x70) /* RECALIBRATE, SEEK */
			cmd_ok(d);
		else
			cmd_fail(d, ER_ABRT); /* includes NOP (00h) and IDENTIFY PACKET */
		break;
	}
}

static void cdrom_cmd(struct ide_drive *d, uint8_t cmd)
{
	if (common_cmd(d, cmd))
		return;
	switch (cmd) {
	case 0xA0:
		atapi_packet_cmd(d);
		break;
	case 0xA1:
		send_identify(d);
		break;
	case 0x08: /* DEVICE RESET: completes without an interrupt */
		drive_soft_reset(d);
		break;
	case 0x90:
		exec_diagnostic(d->ch);
		break;
	case 0xEC: case 0x20: case 0x21: case 0x24:
		/* A packet device aborts these and shows its signature. */
		cmd_fail(d, ER_ABRT);
		ide_set_signature(d);
		d->select = (uint8_t)(d->select | (d->unit << 4));
		break;
	default:
		cmd_fail(d, ER_ABRT);
		break;
	}
}

static void exec_cmd(struct ide_channel *ch, uint8_t cmd)
{
	struct ide_drive *d = selected(ch);

	/* Commands to a missing device, or during a reset, go nowhere. */
	if (d->kind == IDE_NONE || (ch->devctl & DC_SRST))
		return;
	ide_stop_transfer(d);
	d->cmd = cmd;
	d->error = 0;
	d->intrq = false;
	update_irq(ch);
	if (d->kind == IDE_CDROM)
		cdrom_cmd(d, cmd);
	else
		disk_cmd(d, cmd);
}

/* ---- registers ---------------------------------------------------------- */

static uint8_t reg_read(struct ide_channel *ch, unsigned reg)
{
	struct ide_drive *d = selected(ch);
	bool hob = ch->devctl & DC_HOB;

	if (reg == 1 || reg == 7) {
		if (d->kind == IDE_NONE)
			return 0;
		if (reg == 1)
			return d->error;
		d->intrq = false;
		update_irq(ch);
		return d->status;
	}
	if (channel_empty(ch))
		return 0;
	switch (reg) {
	case 2: return hob ? d->hob_nsector : d->nsector;
	case 3: return hob ? d->hob_lbal : d->lbal;
	case 4: return hob ? d->hob_lbam : d->lbam;
	case 5: return hob ? d->hob_lbah : d->lbah;
	default: return d->select;
	}
}

static void latch(uint8_t *reg, uint8_t *hob, uint8_t v)
{
	*hob = *reg;
	*reg = v;
}

static void reg_write(struct ide_channel *ch, unsigned reg, uint8_t v)
{
	ch->devctl &= (uint8_t)~DC_HOB;
	for (unsigned i = 0; i < 2 && reg < 7; i++) {
		struct ide_drive *d = &ch->drive[i];
		switch (reg) {
		case 1: latch(&d->feature, &d->hob_feature, v); break;
		case 2: latch(&d->nsector, &d->hob_nsector, v); break;
		case 3: latch(&d->lbal, &d->hob_lbal, v); break;
		case 4: latch(&d->lbam, &d->hob_lbam, v); break;
		case 5: latch(&d->lbah, &d->hob_lbah, v); break;
		case 6: d->select = v | DH_OBS; break;
		}
	}
	if (reg == 6) {
		ch->cur = (v & DH_DEV) ? 1 : 0;
		update_irq(ch);
	} else if (reg == 7) {
		exec_cmd(ch, v);
	}
}

uint32_t ide_cmd_read(struct ide_channel *ch, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	if (reg == 0)
		return data_read(ch, size);
	for (unsigned i = 0; i < size && reg + i < 8; i++)
		v |= (uint32_t)reg_read(ch, reg + i) << (8 * i);
	return v;
}

void ide_cmd_write(struct ide_channel *ch, unsigned reg, uint32_t val, unsigned size)
{
	if (reg == 0) {
		data_write(ch, val, size);
		return;
	}
	for (unsigned i = 0; i < size && reg + i < 8; i++)
		reg_write(ch, reg + i, (uint8_t)(val >> (8 * i)));
}

uint8_t ide_altstatus_read(struct ide_channel *ch)
{
	const struct ide_drive *d = selected(ch);
	return d->kind == IDE_NONE ? 0 : d->status;
}

void ide_devctl_write(struct ide_channel *ch, uint8_t val)
{
	uint8_t old = ch->devctl;

	ch->devctl = val;
	if ((val & DC_SRST) && !(old & DC_SRST)) {
		for (unsigned i = 0; i < 2; i++) {
			struct ide_drive *d = &ch->drive[i];
			ide_stop_transfer(d);
			d->intrq = false;
			if (d->kind != IDE_NONE)
				d->status = ST_BSY;
		}
	} else if (!(val & DC_SRST) && (old & DC_SRST)) {
		for (unsigned i = 0; i < 2; i++) {
			if (ch->drive[i].kind != IDE_NONE)
				drive_soft_reset(&ch->drive[i]);
			else
				absent_reset(&ch->drive[i]);
		}
		ch->cur = 0;
	}
	update_irq(ch);
}

/* ---- setup -------------------------------------------------------------- */

static void drive_power_on(struct ide_drive *d)
{
	d->cur_cyls = d->cyls;
	d->cur_heads = d->heads;
	d->cur_secs = d->secs;
	d->mult = 0;
	d->pio_mode = 0xFF;
	d->mwdma_mode = 0xFF;
	d->udma_mode = 0xFF;
	d->write_cache = true;
	d->standby = false;
	d->feature = d->hob_feature = 0;
	drive_soft_reset(d);
	if (d->kind == IDE_CDROM)
		atapi_reset(d, true);
}

void ide_channel_hard_reset(struct ide_channel *ch)
{
	ch->devctl = 0;
	ch->cur = 0;
	for (unsigned i = 0; i < 2; i++) {
		struct ide_drive *d = &ch->drive[i];
		if (d->kind != IDE_NONE) {
			drive_power_on(d);
		} else {
			d->feature = d->hob_feature = 0;
			absent_reset(d);
		}
	}
	update_irq(ch);
}

void ide_channel_init(struct ide_channel *ch, struct irq_line irq, const struct ide_dma_ops *dma,
		      void *dma_opaque)
{
	memset(ch, 0, sizeof(*ch));
	pthread_mutex_init(&ch->lock, NULL);
	ch->irq = irq;
	ch->dma = dma;
	ch->dma_opaque = dma_opaque;
	for (unsigned i = 0; i < 2; i++) {
		ch->drive[i].ch = ch;
		ch->drive[i].unit = i;
	}
}

void ide_channel_destroy(struct ide_channel *ch)
{
	for (unsigned i = 0; i < 2; i++) {
		free(ch->drive[i].buf);
		ch->drive[i].buf = NULL;
	}
	pthread_mutex_destroy(&ch->lock);
}

int ide_drive_attach(struct ide_channel *ch, unsigned unit, enum ide_kind kind,
		     struct block_dev *bd)
{
	static unsigned serial_seq;
	struct ide_drive *d;

	if (unit > 1 || kind == IDE_NONE || (kind == IDE_DISK && !bd))
		return -EINVAL;
	d = &ch->drive[unit];
	if (d->kind != IDE_NONE)
		return -EBUSY;
	d->buf = calloc(1, IDE_BUF_SIZE);
	if (!d->buf)
		return -ENOMEM;
	d->kind = kind;
	snprintf(d->serial, sizeof(d->serial), "VMM%05u", ++serial_seq);
	if (kind == IDE_DISK) {
		d->bd = bd;
		/* A trailing partial sector is not addressable. */
		d->nsectors = bd->size / IDE_SECTOR;
		d->heads = 16;
		d->secs = 63;
		d->cyls = (uint16_t)MAX(1u, MIN(d->nsectors / (16 * 63), 16383u));
	} else {
		atapi_change_media(d, bd);
		d->atapi.unit_attention = false;
		d->atapi.media_event = 0;
	}
	drive_power_on(d);
	/* A newly attached device changes word 93 of its neighbour and the
	 * absent-device behaviour of the channel, nothing else. */
	update_irq(ch);
	return 0;
}
