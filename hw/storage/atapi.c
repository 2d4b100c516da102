// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ATAPI CD/DVD drive: the PACKET protocol (SFF-8020i / ATA-7 packet
 * protocol) and the MMC commands that SeaBIOS's El Torito boot and Linux
 * libata + sr use on a read-only data disc with one track.
 *
 * PACKET: the device asks for the 12-byte command with DRQ and interrupt
 * reason CoD=1/IO=0 (no interrupt: IDENTIFY PACKET word 0 announces fast
 * DRQ). Data goes to the host in chunks no larger than the byte count limit
 * the host put in LBA mid/high, each announced with IO=1/CoD=0, the chunk
 * size in LBA mid/high and an interrupt; or by bus-master DMA when the
 * host set the DMA feature bit. Completion: CoD=1/IO=1, interrupt. Errors
 * are CHECK CONDITION: ERR in status, the sense key in error bits 7:4, the
 * details for REQUEST SENSE.
 */
#include <errno.h>
#include <string.h>

#include "atapi.h"
#include "util.h"

#define CD_MAX_BLOCKS 445500u /* 99 minutes: anything bigger is a DVD */

#define F_MEDIUM 0x01   /* needs a readable medium */
#define F_ALLOW_UA 0x02 /* runs even with a unit attention pending */

/* GESN media event codes (MMC-5, Media Event Descriptor) */
#define EV_EJECT_REQUEST 1
#define EV_NEW_MEDIA 2
#define EV_MEDIA_REMOVAL 3

static uint8_t *out(struct ide_drive *d, size_t len)
{
	memset(d->buf, 0, len);
	return d->buf;
}

/* ---- completion and data phases ----------------------------------------- */

static void atapi_ok(struct ide_drive *d)
{
	d->atapi.left = 0;
	d->error = 0;
	d->status = ST_DRDY | ST_DSC;
	d->nsector = IR_IO | IR_COD;
	ide_set_irq(d);
}

static void atapi_fail(struct ide_drive *d, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct atapi_state *a = &d->atapi;

	ide_stop_transfer(d);
	a->left = 0;
	a->sense_key = key;
	a->asc = asc;
	a->ascq = ascq;
	d->error = (uint8_t)(key << 4);
	d->status = ST_DRDY | ST_ERR;
	d->nsector = IR_IO | IR_COD;
	ide_set_irq(d);
}

static void illegal(struct ide_drive *d, uint8_t asc)
{
	atapi_fail(d, SK_ILLEGAL_REQUEST, asc, 0);
}

/* The most bytes one DRQ block may carry under the host's byte count
 * limit. A data block is a whole number of 16-bit words except the last
 * one, so an odd limit is rounded down to even (what real drives do: an
 * odd limit gets limit-1 bytes per block), but never below one word: a
 * limit of 1 gives 2-byte blocks, not empty ones that never finish. 0 is
 * no limit the host may give; the drive then uses its largest block, as
 * for FFFFh. */
static uint32_t chunk_limit(uint16_t limit)
{
	if (limit == 0)
		return 0xFFFE;
	return MAX((uint32_t)limit & ~1u, 2u);
}

/* One DRQ block of at most the byte count limit. */
static void next_chunk(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;
	uint32_t limit = chunk_limit(a->limit), chunk, start = 0;

	if (!a->left) {
		atapi_ok(d);
		return;
	}
	if (a->left <= limit) {
		chunk = (uint32_t)a->left; /* the last block may be odd */
	} else {
		chunk = limit;
		if (a->from_disc && chunk >= ATAPI_SECTOR)
			chunk -= chunk % ATAPI_SECTOR;
	}
	if (a->from_disc) {
		if (!d->bd || block_pread(d->bd, d->buf, chunk, a->disc_off) < 0) {
			atapi_fail(d, SK_MEDIUM_ERROR, 0x11, 0); /* unrecovered read error */
			return;
		}
		a->disc_off += chunk;
	} else {
		start = a->buf_off;
		a->buf_off += chunk;
	}
	a->left -= chunk;
	d->lbam = (uint8_t)chunk;
	d->lbah = (uint8_t)(chunk >> 8);
	d->nsector = IR_IO;
	d->status = ST_DRDY | ST_DSC | ST_DRQ;
	ide_pio_start(d, true, start, chunk, next_chunk);
	ide_set_irq(d);
}

static int dma_move(struct ide_drive *d, const struct ide_sg *sg, unsigned n, uint64_t len)
{
	struct atapi_state *a = &d->atapi;
	uint64_t off = a->disc_off;

	if (!a->from_disc) {
		ide_sg_copy_to(sg, n, d->buf + a->buf_off, len);
		return 0;
	}
	for (unsigned i = 0; i < n && len; i++) {
		uint32_t piece = (uint32_t)MIN((uint64_t)sg[i].len, len);
		if (!d->bd || block_pread(d->bd, sg[i].host, piece, off) < 0)
			return -1;
		off += piece;
		len -= piece;
	}
	return 0;
}

static void dma_finish(struct ide_drive *d, int err)
{
	if (err == -EFAULT) /* the bus-master engine failed */
		atapi_fail(d, SK_ABORTED_COMMAND, 0, 0);
	else if (err)
		atapi_fail(d, SK_MEDIUM_ERROR, 0x11, 0);
	else
		atapi_ok(d);
}

static void start_data(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;

	if (!a->left)
		atapi_ok(d);
	else if (a->dma)
		ide_dma_start(d, true, a->left, dma_move, dma_finish);
	else
		next_chunk(d);
}

/* Sends buf[0..min(len, alloc)). */
static void send_buf(struct ide_drive *d, uint32_t len, uint32_t alloc)
{
	d->atapi.from_disc = false;
	d->atapi.buf_off = 0;
	d->atapi.left = MIN(len, alloc);
	start_data(d);
}

static void send_disc(struct ide_drive *d, uint64_t lba, uint64_t nblocks)
{
	d->atapi.from_disc = true;
	d->atapi.disc_off = lba * ATAPI_SECTOR;
	d->atapi.left = nblocks * ATAPI_SECTOR;
	start_data(d);
}

/* ---- helpers ------------------------------------------------------------- */

static bool medium_present(const struct ide_drive *d)
{
	return d->bd && !d->atapi.tray_open;
}

static bool is_dvd(const struct ide_drive *d)
{
	return d->nsectors > CD_MAX_BLOCKS;
}

/* Address in the form READ TOC asks for: MSF (with the 2-second pregap) or LBA. */
static void put_addr(uint8_t *p, uint64_t lba, bool msf)
{
	if (msf) {
		uint64_t f = lba + 150;
		p[0] = 0;
		p[1] = (uint8_t)MIN(f / (60 * 75), 255u);
		p[2] = (uint8_t)(f / 75 % 60);
		p[3] = (uint8_t)(f % 75);
	} else {
		put_be32(p, (uint32_t)lba);
	}
}

/* ---- commands ------------------------------------------------------------ */

static void cmd_test_unit_ready(struct ide_drive *d)
{
	atapi_ok(d);
}

static void cmd_request_sense(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;
	uint8_t *p = out(d, 18);

	if (a->sense_key == SK_NO_SENSE && a->unit_attention) {
		a->unit_attention = false;
		a->sense_key = SK_UNIT_ATTENTION;
		a->asc = 0x28;
		a->ascq = 0;
	}
	p[0] = 0x70; /* current error, fixed format */
	p[2] = a->sense_key;
	p[7] = 10;
	p[12] = a->asc;
	p[13] = a->ascq;
	a->sense_key = a->asc = a->ascq = 0;
	send_buf(d, 18, a->cdb[4]);
}

static void cmd_inquiry(struct ide_drive *d)
{
	const uint8_t *cdb = d->atapi.cdb;
	uint8_t *p;

	if (cdb[1] & 1) { /* no vital product data pages */
		illegal(d, 0x24);
		return;
	}
	p = out(d, 36);
	p[0] = 0x05; /* CD/DVD device */
	p[1] = 0x80; /* removable */
	p[2] = 0x00;
	p[3] = 0x21; /* ATAPI, response data format 1 */
	p[4] = 36 - 5;
	memcpy(p + 8, "VMM     ", 8);
	memcpy(p + 16, "VMM DVD-ROM     ", 16);
	memcpy(p + 32, "1.0 ", 4);
	send_buf(d, 36, get_be16(cdb + 3));
}

static void cmd_read_capacity(struct ide_drive *d)
{
	uint8_t *p = out(d, 8);

	put_be32(p, d->nsectors ? (uint32_t)MIN(d->nsectors - 1, 0xFFFFFFFFull) : 0);
	put_be32(p + 4, ATAPI_SECTOR);
	send_buf(d, 8, 8);
}

static void do_read(struct ide_drive *d, uint64_t lba, uint64_t n)
{
	if (!range_ok(lba, n, d->nsectors)) {
		illegal(d, 0x21); /* logical block address out of range */
		return;
	}
	send_disc(d, lba, n);
}

static void cmd_read10(struct ide_drive *d)
{
	do_read(d, get_be32(d->atapi.cdb + 2), get_be16(d->atapi.cdb + 7));
}

static void cmd_read12(struct ide_drive *d)
{
	do_read(d, get_be32(d->atapi.cdb + 2), get_be32(d->atapi.cdb + 6));
}

static void cmd_read_cd(struct ide_drive *d)
{
	const uint8_t *cdb = d->atapi.cdb;
	unsigned type = (cdb[1] >> 2) & 7;
	uint32_t n = (uint32_t)cdb[6] << 16 | (uint32_t)cdb[7] << 8 | cdb[8];

	if (type != 0 && type != 2) { /* only Mode 1 data sectors exist here */
		illegal(d, 0x64);
		return;
	}
	switch (cdb[9] & 0xF8) {
	case 0x00: /* nothing selected: no data */
		n = 0;
		/* fall through */
	case 0x10: /* user data only */
		do_read(d, get_be32(cdb + 2), n);
		break;
	default: /* headers, EDC/ECC, sub-channels: not emulated */
		illegal(d, 0x24);
		break;
	}
}

static void cmd_seek(struct ide_drive *d)
{
	if (get_be32(d->atapi.cdb + 2) >= d->nsectors)
		illegal(d, 0x21);
	else
		atapi_ok(d);
}

/* Mode pages: read error recovery (01h) and capabilities (2Ah). */
static unsigned mode_page(struct ide_drive *d, uint8_t *p, unsigned page, bool changeable)
{
	unsigned len;

	if (page == 0x01) {
		p[0] = 0x01;
		p[1] = 6;
		p[2] = 0x00; /* error recovery parameters */
		p[3] = 5;    /* read retry count */
		len = 8;
	} else {
		p[0] = 0x2A;
		p[1] = 0x14;
		p[2] = 0x3F; /* reads CD-R, CD-RW, method 2, DVD-ROM, DVD-R, DVD-RAM */
		p[3] = 0x00; /* writes nothing */
		p[4] = 0x71; /* multi-session, mode 2 form 1/2, audio play */
		p[5] = 0x00; /* no CD-DA commands */
		p[6] = 0x29 | (d->atapi.locked ? 0x02 : 0); /* tray, eject, lock */
		put_be16(p + 8, 2816);  /* max read speed, kB/s (16x) */
		put_be16(p + 12, 512);  /* buffer, KiB */
		put_be16(p + 14, 2816); /* current read speed */
		len = 22;
	}
	if (changeable)
		memset(p + 2, 0, len - 2);
	return len;
}

static void mode_sense(struct ide_drive *d, bool ten)
{
	const uint8_t *cdb = d->atapi.cdb;
	unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3F;
	unsigned hdr = ten ? 8 : 4, len;
	uint8_t *p;

	if (pc == 3) {
		illegal(d, 0x39); /* saving parameters not supported */
		return;
	}
	if (page != 0x01 && page != 0x2A && page != 0x3F) {
		illegal(d, 0x24);
		return;
	}
	p = out(d, 256);
	len = hdr;
	if (page == 0x01 || page == 0x3F)
		len += mode_page(d, p + len, 0x01, pc == 1);
	if (page == 0x2A || page == 0x3F)
		len += mode_page(d, p + len, 0x2A, pc == 1);
	if (ten) {
		put_be16(p, (uint16_t)(len - 2));
		send_buf(d, len, get_be16(cdb + 7));
	} else {
		p[0] = (uint8_t)(len - 1);
		send_buf(d, len, cdb[4]);
	}
}

static void cmd_mode_sense6(struct ide_drive *d)
{
	mode_sense(d, false);
}

static void cmd_mode_sense10(struct ide_drive *d)
{
	mode_sense(d, true);
}

struct feature {
	uint16_t code;
	uint8_t flags; /* version << 2 | persistent << 1 (current is added) */
	bool current;
	uint8_t len;
	uint8_t data[8];
};

static void cmd_get_configuration(struct ide_drive *d)
{
	const uint8_t *cdb = d->atapi.cdb;
	unsigned rt = cdb[1] & 3, start = get_be16(cdb + 2);
	bool medium = medium_present(d), dvd = is_dvd(d);
	uint16_t profile = !medium ? 0 : dvd ? 0x0010 : 0x0008;
	const struct feature features[] = {
		{ 0x0000, 0x02, true, 8,
		  { 0x00, 0x10, profile == 0x0010, 0, 0x00, 0x08, profile == 0x0008, 0 } },
		{ 0x0001, 0x0A, true, 8, { 0, 0, 0, 2, 0x01, 0, 0, 0 } }, /* Core: ATAPI */
		{ 0x0002, 0x06, true, 4, { 0x02 } },                       /* Morphing */
		{ 0x0003, 0x02, true, 4, { 0x29 } },                       /* Removable */
		{ 0x0010, 0x00, medium, 8, { 0, 0, 0x08, 0, 0, dvd ? 16 : 1 } },
		{ 0x001E, 0x08, medium && !dvd, 4, { 0 } },                /* CD Read */
		{ 0x001F, 0x00, medium && dvd, 0, { 0 } },                 /* DVD Read */
	};
	uint8_t *p;
	unsigned len = 8;

	if (rt == 3) {
		illegal(d, 0x24);
		return;
	}
	p = out(d, 256);
	put_be16(p + 6, profile);
	for (size_t i = 0; i < ARRAY_SIZE(features); i++) {
		const struct feature *f = &features[i];
		if (rt == 2 ? f->code != start : f->code < start)
			continue;
		if (rt == 1 && !f->current)
			continue;
		put_be16(p + len, f->code);
		p[len + 2] = (uint8_t)(f->flags | f->current);
		p[len + 3] = f->len;
		memcpy(p + len + 4, f->data, f->len);
		len += 4u + f->len;
	}
	put_be32(p, len - 4);
	send_buf(d, len, get_be16(cdb + 7));
}

static void cmd_get_event_status(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;
	const uint8_t *cdb = a->cdb;
	uint8_t *p;
	unsigned len = 4;

	if (!(cdb[1] & 1)) { /* asynchronous notification is not supported */
		illegal(d, 0x24);
		return;
	}
	p = out(d, 8);
	p[3] = 0x10; /* supported classes: media */
	if (cdb[4] & 0x10) {
		p[2] = 4; /* media class */
		p[4] = a->media_event;
		p[5] = (uint8_t)((d->bd && !a->tray_open ? 0x02 : 0) | (a->tray_open ? 0x01 : 0));
		a->media_event = 0;
		len = 8;
	} else {
		p[2] = 0x80; /* no event available */
	}
	put_be16(p, (uint16_t)(len - 2));
	send_buf(d, len, get_be16(cdb + 7));
}

static void cmd_read_toc(struct ide_drive *d)
{
	const uint8_t *cdb = d->atapi.cdb;
	bool msf = cdb[1] & 2;
	unsigned format = cdb[2] & 0x0F, track = cdb[6], len = 4;
	uint8_t *p = out(d, 64);

	if (format == 0)
		format = cdb[9] >> 6; /* the older place for the format */
	switch (format) {
	case 0: /* track descriptors and the lead-out */
		p[2] = 1;
		p[3] = 1;
		if (track <= 1) {
			p[len + 1] = 0x14; /* data track, digital copy permitted */
			p[len + 2] = 1;
			put_addr(p + len + 4, 0, msf);
			len += 8;
		} else if (track != 0xAA) {
			illegal(d, 0x24);
			return;
		}
		p[len + 1] = 0x14;
		p[len + 2] = 0xAA;
		put_addr(p + len + 4, d->nsectors, msf);
		len += 8;
		break;
	case 1: /* multi-session: first track of the last session */
		p[2] = 1;
		p[3] = 1;
		p[5] = 0x14;
		p[6] = 1;
		put_addr(p + 8, 0, msf);
		len = 12;
		break;
	case 2: { /* raw TOC of session 1: points A0, A1, A2 and track 1 */
		static const uint8_t points[] = { 0xA0, 0xA1, 0xA2, 0x01 };
		p[2] = 1;
		p[3] = 1;
		for (unsigned i = 0; i < 4; i++, len += 11) {
			uint8_t *e = p + len, m[4];
			e[0] = 1;
			e[1] = 0x14;
			e[3] = points[i];
			if (points[i] == 0xA0 || points[i] == 0xA1) {
				e[8] = 1; /* first/last track; disc type 0 */
			} else {
				put_addr(m, points[i] == 0xA2 ? d->nsectors : 0, true);
				memcpy(e + 8, m + 1, 3);
			}
		}
		break;
	}
	default:
		illegal(d, 0x24);
		return;
	}
	put_be16(p, (uint16_t)(len - 2));
	send_buf(d, len, get_be16(cdb + 7));
}

static void cmd_read_disc_info(struct ide_drive *d)
{
	const uint8_t *cdb = d->atapi.cdb;
	uint8_t *p;

	if (cdb[1] & 7) {
		illegal(d, 0x24);
		return;
	}
	p = out(d, 34);
	put_be16(p, 32);
	p[2] = 0x0E; /* complete disc, last session complete */
	p[3] = 1;    /* first track */
	p[4] = 1;    /* sessions */
	p[5] = 1;    /* first track of the last session */
	p[6] = 1;    /* last track of the last session */
	put_be32(p + 16, 0xFFFFFFFF); /* no next session */
	put_be32(p + 20, 0xFFFFFFFF);
	send_buf(d, 34, get_be16(cdb + 7));
}

static void cmd_prevent_allow(struct ide_drive *d)
{
	d->atapi.locked = d->atapi.cdb[4] & 1;
	atapi_ok(d);
}

static void tray_moved(struct ide_drive *d)
{
	if (d->ch->tray_moved)
		d->ch->tray_moved(d->ch->tray_opaque, d->ch->index, d->unit);
}

static void cmd_start_stop(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;
	uint8_t v = a->cdb[4];
	bool was_open = a->tray_open;

	if (v & 2) { /* LoEj */
		if (!(v & 1)) {
			if (a->locked) {
				illegal(d, 0x53);
				a->ascq = 0x02; /* medium removal prevented */
				return;
			}
			if (!a->tray_open && d->bd)
				a->media_event = EV_MEDIA_REMOVAL;
			a->tray_open = true;
		} else if (a->tray_open) {
			a->tray_open = false;
			if (d->bd)
				a->media_event = EV_NEW_MEDIA;
		}
	}
	if (a->tray_open != was_open)
		tray_moved(d);
	atapi_ok(d);
}

static void cmd_set_speed(struct ide_drive *d)
{
	atapi_ok(d);
}

static void cmd_mechanism_status(struct ide_drive *d)
{
	uint8_t *p = out(d, 8);

	p[1] = d->atapi.tray_open ? 0x10 : 0;
	send_buf(d, 8, get_be16(d->atapi.cdb + 8));
}

struct atapi_cmd {
	uint8_t op, flags;
	void (*fn)(struct ide_drive *d);
};

static const struct atapi_cmd commands[] = {
	{ 0x00, F_MEDIUM, cmd_test_unit_ready },
	{ 0x03, F_ALLOW_UA, cmd_request_sense },
	{ 0x12, F_ALLOW_UA, cmd_inquiry },
	{ 0x1A, 0, cmd_mode_sense6 },
	{ 0x1B, 0, cmd_start_stop },
	{ 0x1E, 0, cmd_prevent_allow },
	{ 0x25, F_MEDIUM, cmd_read_capacity },
	{ 0x28, F_MEDIUM, cmd_read10 },
	{ 0x2B, F_MEDIUM, cmd_seek },
	{ 0x43, F_MEDIUM, cmd_read_toc },
	{ 0x46, F_ALLOW_UA, cmd_get_configuration },
	{ 0x4A, F_ALLOW_UA, cmd_get_event_status },
	{ 0x51, F_MEDIUM, cmd_read_disc_info },
	{ 0x5A, 0, cmd_mode_sense10 },
	{ 0xA8, F_MEDIUM, cmd_read12 },
	{ 0xBB, 0, cmd_set_speed },
	{ 0xBD, 0, cmd_mechanism_status },
	{ 0xBE, F_MEDIUM, cmd_read_cd },
};

static void exec_packet(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;
	const struct atapi_cmd *c = NULL;

	memcpy(a->cdb, d->buf, sizeof(a->cdb));
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].op == a->cdb[0])
			c = &commands[i];
	/* Sense data describes the last command only. */
	if (a->cdb[0] != 0x03)
		a->sense_key = a->asc = a->ascq = 0;
	if (!c) {
		illegal(d, 0x20); /* invalid command operation code */
		return;
	}
	if (a->unit_attention && !(c->flags & F_ALLOW_UA)) {
		a->unit_attention = false;
		atapi_fail(d, SK_UNIT_ATTENTION, 0x28, 0); /* medium may have changed */
		return;
	}
	if ((c->flags & F_MEDIUM) && !medium_present(d)) {
		atapi_fail(d, SK_NOT_READY, 0x3A, a->tray_open ? 0x02 : 0x00);
		return;
	}
	d->standby = false;
	c->fn(d);
}

/* ---- entry points from the ATA layer ------------------------------------- */

static void atapi_packet_cmd(struct ide_drive *d)
{
	struct atapi_state *a = &d->atapi;

	a->dma = d->feature & 1;
	a->limit = (uint16_t)(d->lbah << 8 | d->lbam);
	a->left = 0;
	d->status = ST_DRDY | ST_DRQ;
	d->nsector = IR_COD;
	ide_pio_start(d, false, 0, sizeof(a->cdb), exec_packet);
}

static void atapi_identify(struct ide_drive *d, uint16_t *id)
{
	memset(id, 0, 512);
	/* ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets. */
	id[0] = 0x85C0;
	ide_put_string(id, 27, 20, "VMM DVD-ROM");
	ide_identify_common(d, id);
	/* NOP, DEVICE RESET, PACKET feature sets. */
	id[82] = 0x4210;
	id[83] = 0x4000;
	id[84] = 0x4000;
	id[85] = 0x4210;
	id[87] = 0x4000;
	ide_finish_identify(id);
}

static void atapi_reset(struct ide_drive *d, bool hard)
{
	struct atapi_state *a = &d->atapi;

	a->left = 0;
	if (hard) {
		a->locked = false;
		a->tray_open = false;
		a->sense_key = a->asc = a->ascq = 0;
	}
}

void atapi_change_media(struct ide_drive *d, struct block_dev *bd)
{
	struct atapi_state *a = &d->atapi;

	d->bd = bd;
	d->nsectors = bd ? bd->size / ATAPI_SECTOR : 0;
	a->tray_open = false;
	a->unit_attention = bd != NULL;
	a->media_event = bd ? EV_NEW_MEDIA : EV_MEDIA_REMOVAL;
}

/* ---- the host's side of the tray (QMP eject, blockdev-change-medium) ------
 * These follow a real drive whose user presses the button or swaps the
 * disc: the tray opens (the guest sees "media removal" and NOT READY), a
 * disc is taken out or put in while it is open, and it closes (UNIT
 * ATTENTION 28/00 once, GESN "new media"). The caller holds the channel
 * lock. */

void atapi_host_tray(struct ide_drive *d, bool open)
{
	struct atapi_state *a = &d->atapi;

	if (a->tray_open == open)
		return;
	a->tray_open = open;
	if (open) {
		a->unit_attention = false;
		if (d->bd)
			a->media_event = EV_MEDIA_REMOVAL;
	} else if (d->bd) {
		a->unit_attention = true;
		a->media_event = EV_NEW_MEDIA;
	}
}

void atapi_host_medium(struct ide_drive *d, struct block_dev *bd)
{
	d->bd = bd;
	d->nsectors = bd ? bd->size / ATAPI_SECTOR : 0;
}

/* The eject button while the guest holds the tray locked: the drive only
 * reports an eject request (GESN) for the guest to act on; 'force'
 * overrides the lock, as QEMU's eject -f does. */
void atapi_host_eject_request(struct ide_drive *d, bool force)
{
	d->atapi.media_event = EV_EJECT_REQUEST;
	if (force)
		d->atapi.locked = false;
}

const struct ide_packet_ops atapi_ops = {
	.identify = atapi_identify,
	.packet_cmd = atapi_packet_cmd,
	.reset = atapi_reset,
	.change_media = atapi_change_media,
	.pio_chunk = next_chunk,
	.pio_packet = exec_packet,
	.dma_move = dma_move,
	.dma_finish = dma_finish,
};
