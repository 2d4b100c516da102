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
#include "sandbox.h"
#include "savestate.h"
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
	if (ch->worker_on) {
		/* BSY until it ends: the drive takes no command meanwhile */
		d->status = ST_BSY;
		ch->job = d;
		ch->job_sg = sg;
		ch->job_n = n;
		ch->job_more = more;
		pthread_cond_signal(&ch->work_cond);
		return;
	}
	err = d->dma_move(d, sg, n, d->dma_len);
	ch->dma->end(ch->dma_opaque, more || err ? DMA_END_SHORT : DMA_END_DONE);
	finish(d, err);
}

/* The channel's worker: moves a queued transfer's data without the lock
 * (nothing it reads changes meanwhile: see struct ide_channel), then ends
 * it, interrupt included, under the lock. */
static void *dma_worker(void *opaque)
{
	struct ide_channel *ch = opaque;

	sandbox_thread_start(SANDBOX_WORKER);
	pthread_mutex_lock(&ch->lock);
	for (;;) {
		while (!ch->worker_stop && (!ch->job || ch->paused))
			pthread_cond_wait(&ch->work_cond, &ch->lock);
		if (ch->worker_stop)
			break;
		struct ide_drive *d = ch->job;
		ide_dma_move_fn move = d->dma_move;
		ide_dma_finish_fn finish = d->dma_finish;
		const struct ide_sg *sg = ch->job_sg;
		unsigned n = ch->job_n;
		uint64_t len = d->dma_len;
		bool more = ch->job_more;

		pthread_mutex_unlock(&ch->lock);
		int err = move(d, sg, n, len);
		pthread_mutex_lock(&ch->lock);
		ch->dma->end(ch->dma_opaque, more || err ? DMA_END_SHORT : DMA_END_DONE);
		ch->job = NULL;
		finish(d, err);
		pthread_cond_broadcast(&ch->idle_cond);
	}
	pthread_mutex_unlock(&ch->lock);
	thread_exit_raw(); /* destroyed, at vmm's exit (util.h) */
	return NULL;
}

static void wait_idle(struct ide_channel *ch)
{
	while (ch->job)
		pthread_cond_wait(&ch->idle_cond, &ch->lock);
}

void ide_channel_lock(struct ide_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	wait_idle(ch);
}

int ide_channel_start_worker(struct ide_channel *ch)
{
	if (ch->worker_on)
		return 0;
	int ret = pthread_create(&ch->worker, NULL, dma_worker, ch);
	if (ret)
		return -ret;
	pthread_mutex_lock(&ch->lock);
	ch->worker_on = true;
	pthread_mutex_unlock(&ch->lock);
	return 0;
}

void ide_channel_quiesce(struct ide_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	wait_idle(ch);
	ch->paused = true;
	pthread_mutex_unlock(&ch->lock);
}

void ide_channel_resume(struct ide_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->paused = false;
	pthread_cond_signal(&ch->work_cond);
	pthread_mutex_unlock(&ch->lock);
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
		d->ch->packet->identify(d, id);
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
			d->dma_fail_lba = off / IDE_SECTOR;
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
			d->dma_fail_lba = off / IDE_SECTOR;
			return ER_ABRT;
		}
		off += piece;
		len -= piece;
	}
	ata_write_through(d);
	return 0;
}

/* Under the lock (the move may have run on the worker without it): the
 * task file shows where a failed transfer stopped. */
static void ata_dma_finish(struct ide_drive *d, int err)
{
	if (err == -EFAULT) {
		cmd_fail(d, ER_ABRT);
	} else if (err) {
		ata_set_lba(d, d->dma_fail_lba);
		cmd_fail(d, (uint8_t)err);
	} else {
		cmd_ok(d);
	}
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
		d->ch->packet->reset(d, false);
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
		d->ch->packet->packet_cmd(d);
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
		d->ch->packet->reset(d, true);
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
		      void *dma_opaque, const struct ide_packet_ops *packet)
{
	memset(ch, 0, sizeof(*ch));
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->work_cond, NULL);
	pthread_cond_init(&ch->idle_cond, NULL);
	ch->irq = irq;
	ch->dma = dma;
	ch->dma_opaque = dma_opaque;
	ch->packet = packet;
	for (unsigned i = 0; i < 2; i++) {
		ch->drive[i].ch = ch;
		ch->drive[i].unit = i;
	}
}

void ide_channel_destroy(struct ide_channel *ch)
{
	if (ch->worker_on) {
		pthread_mutex_lock(&ch->lock);
		ch->paused = false; /* the job out ends first */
		pthread_cond_signal(&ch->work_cond);
		wait_idle(ch);
		ch->worker_stop = true;
		pthread_cond_signal(&ch->work_cond);
		pthread_mutex_unlock(&ch->lock);
		pthread_join(ch->worker, NULL);
		ch->worker_on = false;
	}
	for (unsigned i = 0; i < 2; i++) {
		free(ch->drive[i].buf);
		ch->drive[i].buf = NULL;
	}
	pthread_cond_destroy(&ch->work_cond);
	pthread_cond_destroy(&ch->idle_cond);
	pthread_mutex_destroy(&ch->lock);
}

int ide_drive_attach(struct ide_channel *ch, unsigned unit, enum ide_kind kind,
		     struct block_dev *bd)
{
	static unsigned serial_seq;
	struct ide_drive *d;

	if (unit > 1 || kind == IDE_NONE || (kind == IDE_DISK && !bd) ||
	    (kind == IDE_CDROM && !ch->packet))
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
		ch->packet->change_media(d, bd);
		d->atapi.unit_attention = false;
		d->atapi.media_event = 0;
	}
	drive_power_on(d);
	/* A newly attached device changes word 93 of its neighbour and the
	 * absent-device behaviour of the channel, nothing else. */
	update_irq(ch);
	return 0;
}

/* ---- saved state -----------------------------------------------------------
 * The callbacks of a data phase in progress are saved by number. */
enum { PIO_CB_NONE, PIO_CB_IDENTIFY, PIO_CB_ATA_READ, PIO_CB_ATA_WRITE, PIO_CB_ATAPI_CHUNK,
       PIO_CB_ATAPI_PACKET, PIO_CB_COUNT };
enum { DMA_CB_NONE, DMA_CB_ATA_READ, DMA_CB_ATA_WRITE, DMA_CB_ATAPI, DMA_CB_COUNT };

static ide_done_fn pio_cb(const struct ide_drive *d, unsigned id)
{
	const struct ide_packet_ops *p = d->ch->packet;

	switch (id) {
	case PIO_CB_IDENTIFY: return identify_done;
	case PIO_CB_ATA_READ: return ata_read_done;
	case PIO_CB_ATA_WRITE: return ata_write_done;
	case PIO_CB_ATAPI_CHUNK: return p ? p->pio_chunk : NULL;
	case PIO_CB_ATAPI_PACKET: return p ? p->pio_packet : NULL;
	default: return NULL;
	}
}

static unsigned pio_cb_id(const struct ide_drive *d, ide_done_fn f)
{
	if (!f)
		return PIO_CB_NONE;
	for (unsigned id = 1; id < PIO_CB_COUNT; id++)
		if (pio_cb(d, id) == f)
			return id;
	return PIO_CB_NONE;
}

static unsigned dma_cb_id(const struct ide_drive *d)
{
	if (d->dma_move == ata_dma_read)
		return DMA_CB_ATA_READ;
	if (d->dma_move == ata_dma_write)
		return DMA_CB_ATA_WRITE;
	if (d->ch->packet && d->dma_move == d->ch->packet->dma_move)
		return DMA_CB_ATAPI;
	return DMA_CB_NONE;
}

static void set_dma_cb(struct ide_drive *d, unsigned id)
{
	const struct ide_packet_ops *p = d->ch->packet;

	d->dma_move = id == DMA_CB_ATA_READ ? ata_dma_read :
		      id == DMA_CB_ATA_WRITE ? ata_dma_write :
		      id == DMA_CB_ATAPI && p ? p->dma_move : NULL;
	d->dma_finish = id == DMA_CB_ATAPI ? (p ? p->dma_finish : NULL) : id ? ata_dma_finish : NULL;
}

/* How many bytes of the buffer the state refers to: a PIO phase's, and
 * what an ATAPI command still sends from it. */
static uint32_t buf_in_use(const struct ide_drive *d)
{
	uint64_t n = d->xfer == XFER_PIO_IN || d->xfer == XFER_PIO_OUT ? d->end : 0;
	const struct atapi_state *a = &d->atapi;
	if (d->kind == IDE_CDROM && !a->from_disc && a->left)
		n = MAX(n, (uint64_t)a->buf_off + a->left);
	return (uint32_t)MIN(n, (uint64_t)IDE_BUF_SIZE);
}

static void drive_save(const struct ide_drive *d, struct ss_writer *w)
{
	const struct atapi_state *a = &d->atapi;
	ss_put_u8(w, "kind", (uint8_t)d->kind);
	ss_put_u64(w, "nsectors", d->nsectors);
	ss_put_bytes(w, "serial", d->serial, strlen(d->serial));
	ss_put_u16(w, "cur_cyls", d->cur_cyls);
	ss_put_u16(w, "cur_heads", d->cur_heads);
	ss_put_u16(w, "cur_secs", d->cur_secs);
	ss_put_u8(w, "mult", d->mult);
	ss_put_u8(w, "pio_mode", d->pio_mode);
	ss_put_u8(w, "mwdma_mode", d->mwdma_mode);
	ss_put_u8(w, "udma_mode", d->udma_mode);
	ss_put_bool(w, "write_cache", d->write_cache);
	ss_put_bool(w, "standby", d->standby);
	const uint8_t tf[] = { d->feature, d->nsector, d->lbal, d->lbam, d->lbah, d->select,
			       d->hob_feature, d->hob_nsector, d->hob_lbal, d->hob_lbam,
			       d->hob_lbah, d->status, d->error, d->cmd };
	ss_put_bytes(w, "taskfile", tf, sizeof(tf));
	ss_put_bool(w, "intrq", d->intrq);
	ss_put_u8(w, "xfer", (uint8_t)d->xfer);
	ss_put_u32(w, "pos", d->pos);
	ss_put_u32(w, "end", d->end);
	ss_put_u8(w, "pio_done", (uint8_t)pio_cb_id(d, d->pio_done));
	ss_put_u64(w, "dma_len", d->dma_len);
	ss_put_bool(w, "dma_to_mem", d->dma_to_mem);
	ss_put_u8(w, "dma_cb", d->xfer == XFER_DMA ? (uint8_t)dma_cb_id(d) : 0);
	ss_put_u64(w, "lba", d->lba);
	ss_put_u32(w, "remaining", d->remaining);
	ss_put_u32(w, "block", d->block);
	ss_put_bool(w, "lba48", d->lba48);
	ss_put_bytes(w, "atapi.cdb", a->cdb, sizeof(a->cdb));
	const uint8_t sense[] = { a->sense_key, a->asc, a->ascq, a->media_event };
	ss_put_bytes(w, "atapi.sense", sense, sizeof(sense));
	ss_put_bool(w, "atapi.unit_attention", a->unit_attention);
	ss_put_bool(w, "atapi.tray_open", a->tray_open);
	ss_put_bool(w, "atapi.locked", a->locked);
	ss_put_bool(w, "atapi.dma", a->dma);
	ss_put_u16(w, "atapi.limit", a->limit);
	ss_put_bool(w, "atapi.from_disc", a->from_disc);
	ss_put_u64(w, "atapi.disc_off", a->disc_off);
	ss_put_u32(w, "atapi.buf_off", a->buf_off);
	ss_put_u64(w, "atapi.left", a->left);
	ss_put_bytes(w, "buf", d->buf, d->buf ? buf_in_use(d) : 0);
}

void ide_channel_save(struct ide_channel *ch, struct ss_writer *w)
{
	ss_put_u8(w, "cur", (uint8_t)ch->cur);
	ss_put_u8(w, "devctl", ch->devctl);
	ss_put_array(w, "drive", 2);
	for (unsigned i = 0; i < 2; i++) {
		ss_put_elem_begin(w, "drive", i);
		drive_save(&ch->drive[i], w);
		ss_put_elem_end(w);
	}
}

/* Reads drive state into t (a copy of the attached drive) and buf. */
static void drive_get(struct ss_reader *r, struct ide_drive *t, uint8_t *buf, size_t *buf_len,
		      uint8_t *pio, uint8_t *dma)
{
	struct atapi_state *a = &t->atapi;
	uint8_t kind = 0, xfer = 0, tf[14], sense[4];
	uint64_t nsectors = 0;
	size_t serial_len = 0;
	char serial[sizeof(t->serial)] = { 0 };

	ss_get_u8(r, "kind", &kind);
	ss_get_u64(r, "nsectors", &nsectors);
	ss_get_bytes_max(r, "serial", serial, sizeof(serial) - 1, &serial_len);
	ss_get_u16(r, "cur_cyls", &t->cur_cyls);
	ss_get_u16(r, "cur_heads", &t->cur_heads);
	ss_get_u16(r, "cur_secs", &t->cur_secs);
	ss_get_u8(r, "mult", &t->mult);
	ss_get_u8(r, "pio_mode", &t->pio_mode);
	ss_get_u8(r, "mwdma_mode", &t->mwdma_mode);
	ss_get_u8(r, "udma_mode", &t->udma_mode);
	ss_get_bool(r, "write_cache", &t->write_cache);
	ss_get_bool(r, "standby", &t->standby);
	ss_get_bytes(r, "taskfile", tf, sizeof(tf));
	ss_get_bool(r, "intrq", &t->intrq);
	ss_get_u8(r, "xfer", &xfer);
	ss_get_u32(r, "pos", &t->pos);
	ss_get_u32(r, "end", &t->end);
	ss_get_u8(r, "pio_done", pio);
	ss_get_u64(r, "dma_len", &t->dma_len);
	ss_get_bool(r, "dma_to_mem", &t->dma_to_mem);
	ss_get_u8(r, "dma_cb", dma);
	ss_get_u64(r, "lba", &t->lba);
	ss_get_u32(r, "remaining", &t->remaining);
	ss_get_u32(r, "block", &t->block);
	ss_get_bool(r, "lba48", &t->lba48);
	ss_get_bytes(r, "atapi.cdb", a->cdb, sizeof(a->cdb));
	ss_get_bytes(r, "atapi.sense", sense, sizeof(sense));
	ss_get_bool(r, "atapi.unit_attention", &a->unit_attention);
	ss_get_bool(r, "atapi.tray_open", &a->tray_open);
	ss_get_bool(r, "atapi.locked", &a->locked);
	ss_get_bool(r, "atapi.dma", &a->dma);
	ss_get_u16(r, "atapi.limit", &a->limit);
	ss_get_bool(r, "atapi.from_disc", &a->from_disc);
	ss_get_u64(r, "atapi.disc_off", &a->disc_off);
	ss_get_u32(r, "atapi.buf_off", &a->buf_off);
	ss_get_u64(r, "atapi.left", &a->left);
	ss_get_bytes_max(r, "buf", buf, IDE_BUF_SIZE, buf_len);
	if (!ss_ok(r))
		return;
	if (kind != t->kind || nsectors != t->nsectors) {
		ss_fail(r, "saved state: IDE unit %u: saved %s of %llu sectors, here %s of %llu",
			t->unit, kind == IDE_DISK ? "a disk" : kind == IDE_CDROM ? "a CD" : "nothing",
			(unsigned long long)nsectors,
			t->kind == IDE_DISK ? "a disk" : t->kind == IDE_CDROM ? "a CD" : "nothing",
			(unsigned long long)t->nsectors);
		return;
	}
	memcpy(t->serial, serial, sizeof(serial));
	t->feature = tf[0], t->nsector = tf[1], t->lbal = tf[2], t->lbam = tf[3];
	t->lbah = tf[4], t->select = tf[5], t->hob_feature = tf[6], t->hob_nsector = tf[7];
	t->hob_lbal = tf[8], t->hob_lbam = tf[9], t->hob_lbah = tf[10], t->status = tf[11];
	t->error = tf[12], t->cmd = tf[13];
	a->sense_key = sense[0], a->asc = sense[1], a->ascq = sense[2], a->media_event = sense[3];
	if (xfer > XFER_DMA) {
		ss_fail(r, "saved state: IDE unit %u: transfer kind %u", t->unit, xfer);
		return;
	}
	t->xfer = (enum ide_xfer)xfer;
}

/* Every value a callback or a register read will use, against this
 * drive: a state the drive could not have reached is refused. */
static bool drive_check(struct ss_reader *r, const struct ide_drive *t, size_t buf_len,
			unsigned pio, unsigned dma)
{
	const struct atapi_state *a = &t->atapi;
	bool disk = t->kind == IDE_DISK, cd = t->kind == IDE_CDROM;
	bool pio_phase = t->xfer == XFER_PIO_IN || t->xfer == XFER_PIO_OUT;
	uint64_t disc_bytes = t->nsectors * ATAPI_SECTOR;

	if (pio >= PIO_CB_COUNT || dma >= DMA_CB_COUNT ||
	    (t->kind == IDE_NONE && t->xfer != XFER_NONE))
		return ss_fail(r, "saved state: IDE unit %u: bad transfer state", t->unit);
	if ((!disk && (pio == PIO_CB_ATA_READ || pio == PIO_CB_ATA_WRITE || dma == DMA_CB_ATA_READ ||
		       dma == DMA_CB_ATA_WRITE)) ||
	    (!cd && (pio == PIO_CB_ATAPI_CHUNK || pio == PIO_CB_ATAPI_PACKET || dma == DMA_CB_ATAPI)) ||
	    (pio && !pio_phase) || ((t->xfer == XFER_DMA) != (dma != DMA_CB_NONE)))
		return ss_fail(r, "saved state: IDE unit %u: callbacks do not fit the drive",
			       t->unit);
	if (t->pos > t->end || t->end > IDE_BUF_SIZE || t->mult > IDE_MAX_MULT ||
	    t->block > IDE_MAX_MULT || (t->remaining && !t->block))
		return ss_fail(r, "saved state: IDE unit %u: buffer or block out of range", t->unit);
	if (disk && t->bd->read_only && (pio == PIO_CB_ATA_WRITE || dma == DMA_CB_ATA_WRITE))
		return ss_fail(r, "saved state: IDE unit %u: a write to a read-only disk", t->unit);
	if (disk && (t->lba > t->nsectors || t->remaining > t->nsectors - t->lba))
		return ss_fail(r, "saved state: IDE unit %u: LBA range past the disk", t->unit);
	if ((dma == DMA_CB_ATA_READ || dma == DMA_CB_ATA_WRITE) &&
	    t->dma_len != (uint64_t)t->remaining * IDE_SECTOR)
		return ss_fail(r, "saved state: IDE unit %u: DMA length", t->unit);
	if (cd && a->from_disc && (a->disc_off > disc_bytes || a->left > disc_bytes - a->disc_off))
		return ss_fail(r, "saved state: IDE unit %u: read past the medium", t->unit);
	if (cd && !a->from_disc && (a->buf_off > IDE_BUF_SIZE || a->left > IDE_BUF_SIZE - a->buf_off))
		return ss_fail(r, "saved state: IDE unit %u: reply past the buffer", t->unit);
	if (dma == DMA_CB_ATAPI && t->dma_len != a->left)
		return ss_fail(r, "saved state: IDE unit %u: DMA length", t->unit);
	if (buf_len != buf_in_use(t) || (t->kind == IDE_NONE && buf_len))
		return ss_fail(r, "saved state: IDE unit %u: %zu buffer bytes, the state uses %u",
			       t->unit, buf_len, buf_in_use(t));
	return true;
}

bool ide_channel_get(struct ide_channel *ch, struct ss_reader *r, struct ide_channel_state *st)
{
	uint8_t cur = 0;
	uint32_t n = 0;

	memset(st, 0, sizeof(*st));
	ss_get_u8(r, "cur", &cur);
	ss_get_u8(r, "devctl", &st->devctl);
	ss_get_array(r, "drive", 2, &n);
	if (ss_ok(r) && (n != 2 || cur > 1))
		return ss_fail(r, "saved state: IDE channel: %u drives, unit %u selected", n, cur);
	st->cur = cur;
	for (unsigned i = 0; i < 2 && ss_ok(r); i++) {
		struct ide_drive *t = &st->drive[i];
		uint8_t pio = 0, dma = 0;
		size_t buf_len = 0;
		*t = ch->drive[i]; /* identity: kind, size, geometry, block device */
		st->buf[i] = xzalloc(IDE_BUF_SIZE);
		ss_get_elem_begin(r, "drive", i);
		drive_get(r, t, st->buf[i], &buf_len, &pio, &dma);
		ss_get_elem_end(r);
		if (ss_ok(r) && drive_check(r, t, buf_len, pio, dma)) {
			t->pio_done = pio_cb(t, pio);
			set_dma_cb(t, dma);
		}
	}
	return ss_ok(r);
}

void ide_channel_commit(struct ide_channel *ch, struct ide_channel_state *st)
{
	ch->cur = st->cur;
	ch->devctl = st->devctl;
	for (unsigned i = 0; i < 2; i++) {
		uint8_t *buf = ch->drive[i].buf;
		ch->drive[i] = st->drive[i];
		ch->drive[i].buf = buf;
		if (buf && st->buf[i])
			memcpy(buf, st->buf[i], IDE_BUF_SIZE);
	}
	update_irq(ch);
}

void ide_channel_state_free(struct ide_channel_state *st)
{
	for (unsigned i = 0; i < 2; i++) {
		free(st->buf[i]);
		st->buf[i] = NULL;
	}
}
