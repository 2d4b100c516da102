// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Intel PIIX3 IDE function (00:01.1, 8086:7010, class 0101, prog-if 80h):
 * both channels fixed in legacy ("compatibility") mode at the ISA ports
 * and IRQs 14/15, and the bus-master IDE engine (SFF-8038i) in the 16-byte
 * I/O BAR4: per channel +0 command, +2 status, +4 PRD table address.
 *
 * The engine walks a table of physical region descriptors {u32 address,
 * u16 byte count (0 = 64 KiB), u16 flags (bit 15 = end of table)} that
 * must not leave its 64 KiB page. Every table entry and buffer goes
 * through guest_ptr(); anything outside guest RAM, a table that runs off
 * its page or a table shorter than the transfer sets the error bit and
 * fails the command before any data moves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/ide.h"
#include "atapi.h"
#include "ide_internal.h"
#include "savestate.h"
#include "util.h"


#define BM_CMD_START 0x01
#define BM_CMD_TO_MEM 0x08
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR 0x02
#define BM_ST_IRQ 0x04
#define BM_ST_DRV_DMA 0x60 /* drive 0/1 DMA capable: software scratch bits */

#define PRD_PAGE 0x10000u
#define PRD_MAX (PRD_PAGE / 8)

struct bmdma {
	struct piix_ide *s;
	uint8_t cmd, status;
	uint32_t prdt;
	struct ide_sg sg[PRD_MAX];
	unsigned nsg; /* entries of sg the drive may have written (dirty logging) */
};

struct piix_ide {
	struct pci_device pci;
	struct io_bus *pio;
	const struct guest_mem *mem;
	struct ide_channel ch[2];
	struct bmdma bm[2];
	struct io_region cmd_io[2], ctl_io[2];
};

static const uint16_t cmd_ports[2] = { 0x1F0, 0x170 };
static const uint16_t ctl_ports[2] = { 0x3F6, 0x376 };

/* ---- bus-master engine, called by the drives with the channel lock held -- */

static bool bm_ready(void *opaque)
{
	struct bmdma *bm = opaque;
	uint16_t cmd = pci_get_word(&bm->s->pci, PCI_COMMAND);

	return (bm->cmd & BM_CMD_START) && (bm->status & BM_ST_ACTIVE) &&
	       (cmd & PCI_COMMAND_MASTER);
}

/* A transfer to memory is done with the buffers mapped last: dirty
 * logging sees them (KVM logs only what vCPUs write). */
static void bm_mark_written(struct bmdma *bm)
{
	if (bm->cmd & BM_CMD_TO_MEM)
		for (unsigned i = 0; i < bm->nsg; i++)
			guest_mark_dirty_hva(bm->s->mem, bm->sg[i].host, bm->sg[i].len);
	bm->nsg = 0;
}

static int bm_map(void *opaque, uint64_t len, struct ide_sg **sg, unsigned *n, uint64_t *mapped,
		  bool *more)
{
	struct bmdma *bm = opaque;
	const struct guest_mem *mem = bm->s->mem;
	uint32_t addr = bm->prdt;
	uint64_t total = 0;
	unsigned count = 0;

	bm_mark_written(bm); /* a previous mapping's data has moved */
	*sg = bm->sg;
	*n = 0;
	*mapped = 0;
	*more = false;
	for (;;) {
		const uint8_t *e;
		uint32_t base, size, use;
		bool eot;

		if ((addr & (PRD_PAGE - 1)) > PRD_PAGE - 8 || count >= PRD_MAX)
			return -1; /* the entry would straddle the table's page */
		e = guest_ptr(mem, addr, 8);
		if (!e)
			return -1;
		base = get_le32(e) & ~1u;
		size = get_le16(e + 4) & ~1u;
		if (!size)
			size = 0x10000;
		eot = get_le16(e + 6) & 0x8000;
		use = (uint32_t)MIN((uint64_t)size, len - total);
		if (use) {
			uint8_t *host = guest_ptr(mem, base, use);
			if (!host)
				return -1;
			bm->sg[count++] = (struct ide_sg){ host, use };
			total += use;
		}
		if (eot) {
			*more = use < size;
			break;
		}
		if (total == len) {
			*more = true;
			break;
		}
		addr += 8;
		if (!(addr & (PRD_PAGE - 1)))
			return -1; /* ran off the page without an end-of-table mark */
	}
	*n = count;
	*mapped = total;
	bm->nsg = count;
	return 0;
}

static void bm_end(void *opaque, enum ide_dma_end how)
{
	struct bmdma *bm = opaque;

	bm_mark_written(bm);
	switch (how) {
	case DMA_END_DONE:
		bm->status &= (uint8_t)~BM_ST_ACTIVE;
		break;
	case DMA_END_SHORT: /* the PRDs were larger than the transfer: stays active */
		break;
	case DMA_END_ERROR:
		bm->status = (uint8_t)((bm->status & ~BM_ST_ACTIVE) | BM_ST_ERROR);
		break;
	}
}

static void bm_irq(void *opaque)
{
	struct bmdma *bm = opaque;
	bm->status |= BM_ST_IRQ;
}

static const struct ide_dma_ops bm_ops = {
	.ready = bm_ready,
	.map = bm_map,
	.end = bm_end,
	.irq = bm_irq,
};

/* ---- BAR4 registers ------------------------------------------------------- */

static uint8_t bm_readb(const struct bmdma *bm, unsigned reg)
{
	switch (reg) {
	case 0: return bm->cmd;
	case 2: return bm->status;
	case 4: case 5: case 6: case 7: return (uint8_t)(bm->prdt >> (8 * (reg - 4)));
	default: return 0;
	}
}

static void bm_writeb(struct piix_ide *s, unsigned chan, unsigned reg, uint8_t v)
{
	struct bmdma *bm = &s->bm[chan];

	switch (reg) {
	case 0: {
		uint8_t old = bm->cmd;
		bm->cmd = v & (BM_CMD_START | BM_CMD_TO_MEM);
		if ((v & BM_CMD_START) && !(old & BM_CMD_START)) {
			bm->status |= BM_ST_ACTIVE;
			ide_dma_kick(&s->ch[chan]);
		} else if (!(v & BM_CMD_START) && (old & BM_CMD_START)) {
			/* Stopping aborts the engine; a waiting drive keeps waiting. */
			bm->status &= (uint8_t)~BM_ST_ACTIVE;
		}
		break;
	}
	case 2:
		bm->status &= (uint8_t)~(v & (BM_ST_ERROR | BM_ST_IRQ));
		bm->status = (uint8_t)((bm->status & ~BM_ST_DRV_DMA) | (v & BM_ST_DRV_DMA));
		break;
	case 4: case 5: case 6: case 7: {
		unsigned shift = 8 * (reg - 4);
		bm->prdt = (bm->prdt & ~(0xFFu << shift)) | ((uint32_t)v << shift);
		bm->prdt &= ~3u;
		break;
	}
	}
}

static uint64_t bar4_read(void *opaque, uint64_t off, unsigned size)
{
	struct piix_ide *s = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < size && off + i < 16; i++) {
		unsigned chan = (unsigned)(off + i) >> 3;
		pthread_mutex_lock(&s->ch[chan].lock);
		v |= (uint64_t)bm_readb(&s->bm[chan], (unsigned)(off + i) & 7) << (8 * i);
		pthread_mutex_unlock(&s->ch[chan].lock);
	}
	return v;
}

static void bar4_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct piix_ide *s = opaque;

	/* Bytes in ascending order: a dword write of the PRD address is
	 * complete before anything can start. */
	for (unsigned i = 0; i < size && off + i < 16; i++) {
		unsigned chan = (unsigned)(off + i) >> 3;
		ide_channel_lock(&s->ch[chan]);
		bm_writeb(s, chan, (unsigned)(off + i) & 7, (uint8_t)(v >> (8 * i)));
		pthread_mutex_unlock(&s->ch[chan].lock);
	}
}

static const struct io_ops bar4_ops = { .read = bar4_read, .write = bar4_write, .max_size = 4 };

/* ---- legacy ports --------------------------------------------------------- */

static uint64_t cmd_read(void *opaque, uint64_t off, unsigned size)
{
	struct ide_channel *ch = opaque;
	uint32_t v;

	pthread_mutex_lock(&ch->lock);
	v = ide_cmd_read(ch, (unsigned)off, size);
	pthread_mutex_unlock(&ch->lock);
	return v;
}

static void cmd_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct ide_channel *ch = opaque;

	ide_channel_lock(ch);
	ide_cmd_write(ch, (unsigned)off, (uint32_t)v, size);
	pthread_mutex_unlock(&ch->lock);
}

static uint64_t ctl_read(void *opaque, uint64_t off, unsigned size)
{
	struct ide_channel *ch = opaque;
	uint8_t v;

	pthread_mutex_lock(&ch->lock);
	v = ide_altstatus_read(ch);
	pthread_mutex_unlock(&ch->lock);
	return v;
}

static void ctl_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct ide_channel *ch = opaque;

	ide_channel_lock(ch);
	ide_devctl_write(ch, (uint8_t)v);
	pthread_mutex_unlock(&ch->lock);
}

/* The data register takes 16- and 32-bit accesses; the others are bytes
 * (a wider access to them is split by ide_cmd_read/write). */
static const struct io_ops cmd_ops = { .read = cmd_read, .write = cmd_write, .max_size = 4 };
static const struct io_ops ctl_ops = { .read = ctl_read, .write = ctl_write, .max_size = 1 };

/* ---- the PCI function ----------------------------------------------------- */

void piix_ide_reset(struct piix_ide *s)
{
	for (unsigned i = 0; i < 2; i++) {
		ide_channel_lock(&s->ch[i]);
		s->bm[i].cmd = 0;
		s->bm[i].status = 0;
		s->bm[i].prdt = 0;
		ide_channel_hard_reset(&s->ch[i]);
		pthread_mutex_unlock(&s->ch[i].lock);
	}
}

static void pci_reset_hook(struct pci_device *d)
{
	piix_ide_reset(d->opaque);
}

struct piix_ide *piix_ide_create(struct pci_bus *pci, struct io_bus *pio, const struct guest_mem *mem,
				 struct irq_line irq14, struct irq_line irq15)
{
	struct piix_ide *s = calloc(1, sizeof(*s));
	const struct irq_line irqs[2] = { irq14, irq15 };
	unsigned mapped = 0;

	if (!s)
		return NULL;
	s->pio = pio;
	s->mem = mem;
	for (unsigned i = 0; i < 2; i++) {
		s->bm[i].s = s;
		ide_channel_init(&s->ch[i], irqs[i], &bm_ops, &s->bm[i], &atapi_ops);
		s->ch[i].index = i;
		io_region_init(&s->cmd_io[i], "ide-cmd", &cmd_ops, &s->ch[i], 8);
		io_region_init(&s->ctl_io[i], "ide-ctl", &ctl_ops, &s->ch[i], 1);
	}
	for (; mapped < 2; mapped++) {
		if (bus_map(pio, &s->cmd_io[mapped], cmd_ports[mapped]) < 0)
			goto fail;
		if (bus_map(pio, &s->ctl_io[mapped], ctl_ports[mapped]) < 0) {
			bus_unmap(pio, &s->cmd_io[mapped]);
			goto fail;
		}
	}
	pci_device_init(&s->pci, "piix3-ide", 0x8086, 0x7010, 0x010180, 0x00);
	pci_device_set_bar(&s->pci, 4, PCI_BAR_IO, false, 16, &bar4_ops, s);
	pci_device_set_interrupt_pin(&s->pci, 0);
	s->pci.opaque = s;
	s->pci.reset = pci_reset_hook;
	/* IDETIM (0x40-0x43) stays writable: ata_piix reads the decode-enable
	 * bits 15 back; the rest of 0x40-0xFF is plain storage. */
	if (pci_register(pci, &s->pci, PIIX_IDE_DEVFN) < 0)
		goto fail;
	piix_ide_reset(s);
	return s;
fail:
	while (mapped--) {
		bus_unmap(pio, &s->cmd_io[mapped]);
		bus_unmap(pio, &s->ctl_io[mapped]);
	}
	for (unsigned i = 0; i < 2; i++)
		ide_channel_destroy(&s->ch[i]);
	free(s);
	return NULL;
}

void piix_ide_destroy(struct piix_ide *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < 2; i++) {
		bus_unmap(s->pio, &s->cmd_io[i]);
		bus_unmap(s->pio, &s->ctl_io[i]);
	}
	if (s->pci.bus) {
		if (s->pci.bar[4].region.mapped)
			bus_unmap(s->pci.bus->pio, &s->pci.bar[4].region);
		if (s->pci.bus->dev[s->pci.devfn] == &s->pci)
			s->pci.bus->dev[s->pci.devfn] = NULL;
	}
	for (unsigned i = 0; i < 2; i++)
		ide_channel_destroy(&s->ch[i]);
	free(s);
}

static int attach(struct piix_ide *s, unsigned channel, unsigned unit, enum ide_kind kind,
		  struct block_dev *bd)
{
	int ret;

	if (channel > 1 || unit > 1)
		return -EINVAL;
	ide_channel_lock(&s->ch[channel]);
	ret = ide_drive_attach(&s->ch[channel], unit, kind, bd);
	pthread_mutex_unlock(&s->ch[channel].lock);
	/* a channel with a drive moves its DMA data off the vCPU thread */
	if (!ret)
		ret = ide_channel_start_worker(&s->ch[channel]);
	return ret;
}

void piix_ide_quiesce(struct piix_ide *s)
{
	for (unsigned i = 0; i < 2; i++)
		ide_channel_quiesce(&s->ch[i]);
}

void piix_ide_resume(struct piix_ide *s)
{
	for (unsigned i = 0; i < 2; i++)
		ide_channel_resume(&s->ch[i]);
}

void piix_ide_wait_idle(struct piix_ide *s)
{
	for (unsigned i = 0; i < 2; i++) {
		ide_channel_lock(&s->ch[i]);
		pthread_mutex_unlock(&s->ch[i].lock);
	}
}

int piix_ide_attach_disk(struct piix_ide *s, unsigned channel, unsigned unit, struct block_dev *bd)
{
	return attach(s, channel, unit, IDE_DISK, bd);
}

int piix_ide_attach_cdrom(struct piix_ide *s, unsigned channel, unsigned unit, struct block_dev *bd)
{
	return attach(s, channel, unit, IDE_CDROM, bd);
}

int ide_cdrom_change_media(struct piix_ide *s, unsigned channel, unsigned unit,
			   struct block_dev *bd, struct block_dev **old)
{
	struct ide_drive *d;
	int ret = 0;

	if (channel > 1 || unit > 1)
		return -ENODEV;
	ide_channel_lock(&s->ch[channel]);
	d = &s->ch[channel].drive[unit];
	if (d->kind != IDE_CDROM) {
		ret = -ENODEV;
	} else {
		if (old)
			*old = d->bd;
		atapi_change_media(d, bd);
	}
	pthread_mutex_unlock(&s->ch[channel].lock);
	return ret;
}

/* Locks the channel of a CD drive; NULL (nothing locked) if that slot
 * holds none. */
static struct ide_drive *lock_cdrom(struct piix_ide *s, unsigned channel, unsigned unit)
{
	struct ide_drive *d;

	if (channel > 1 || unit > 1)
		return NULL;
	ide_channel_lock(&s->ch[channel]);
	d = &s->ch[channel].drive[unit];
	if (d->kind == IDE_CDROM)
		return d;
	pthread_mutex_unlock(&s->ch[channel].lock);
	return NULL;
}

static void unlock_cdrom(struct ide_drive *d)
{
	pthread_mutex_unlock(&d->ch->lock);
}

void piix_ide_set_tray_notify(struct piix_ide *s,
			      void (*fn)(void *opaque, unsigned channel, unsigned unit), void *opaque)
{
	for (unsigned i = 0; i < 2; i++) {
		pthread_mutex_lock(&s->ch[i].lock);
		s->ch[i].tray_moved = fn;
		s->ch[i].tray_opaque = opaque;
		pthread_mutex_unlock(&s->ch[i].lock);
	}
}

int ide_cdrom_get_state(struct piix_ide *s, unsigned channel, unsigned unit,
			struct ide_cdrom_state *out)
{
	struct ide_drive *d = lock_cdrom(s, channel, unit);

	if (!d)
		return -ENODEV;
	out->tray_open = d->atapi.tray_open;
	out->locked = d->atapi.locked;
	out->medium = d->bd;
	unlock_cdrom(d);
	return 0;
}

int ide_cdrom_open_tray(struct piix_ide *s, unsigned channel, unsigned unit, bool force)
{
	struct ide_drive *d = lock_cdrom(s, channel, unit);
	int ret = 1;

	if (!d)
		return -ENODEV;
	if (d->atapi.tray_open) {
		ret = 0;
	} else if (d->atapi.locked) {
		atapi_host_eject_request(d, force);
		if (!force)
			ret = -EBUSY;
	}
	if (ret == 1)
		atapi_host_tray(d, true);
	unlock_cdrom(d);
	return ret;
}

int ide_cdrom_set_medium(struct piix_ide *s, unsigned channel, unsigned unit,
			 struct block_dev *bd, struct block_dev **old)
{
	struct ide_drive *d = lock_cdrom(s, channel, unit);
	int ret = 0;

	if (!d)
		return -ENODEV;
	if (!d->atapi.tray_open) {
		ret = -EAGAIN;
	} else {
		if (old)
			*old = d->bd;
		atapi_host_medium(d, bd);
	}
	unlock_cdrom(d);
	return ret;
}

int ide_cdrom_close_tray(struct piix_ide *s, unsigned channel, unsigned unit)
{
	struct ide_drive *d = lock_cdrom(s, channel, unit);
	int ret;

	if (!d)
		return -ENODEV;
	ret = d->atapi.tray_open ? 1 : 0;
	atapi_host_tray(d, false);
	unlock_cdrom(d);
	return ret;
}

/* ---- saved state ------------------------------------------------------------
 * Configuration space (BAR4), each channel's bus-master registers and its
 * drives (hw/storage/ide_core.c: settings, task file, a data phase in progress
 * with its buffer). The block devices and media are the machine's: the
 * loading side attaches the same ones, and a drive of another kind or size
 * is refused. A DMA transfer waiting for the engine is saved as waiting;
 * one the engine had started has already completed (I/O is synchronous). */
#define PIIX_IDE_STATE_VERSION 1
#define BM_ST_BITS (BM_ST_ACTIVE | BM_ST_ERROR | BM_ST_IRQ | BM_ST_DRV_DMA)

void piix_ide_save(struct piix_ide *s, struct ss_writer *w, uint32_t instance)
{
	ss_section_begin(w, "piix_ide", instance, PIIX_IDE_STATE_VERSION);
	pci_config_put(w, &s->pci);
	ss_put_array(w, "ch", 2);
	for (unsigned i = 0; i < 2; i++) {
		ide_channel_lock(&s->ch[i]);
		ss_put_elem_begin(w, "ch", i);
		ss_put_u8(w, "bm.cmd", s->bm[i].cmd);
		ss_put_u8(w, "bm.status", s->bm[i].status);
		ss_put_u32(w, "bm.prdt", s->bm[i].prdt);
		ide_channel_save(&s->ch[i], w);
		ss_put_elem_end(w);
		pthread_mutex_unlock(&s->ch[i].lock);
	}
	ss_section_end(w);
}

bool piix_ide_load(struct piix_ide *s, struct ss_reader *r, uint32_t instance)
{
	struct ide_channel_state *st = xzalloc(2 * sizeof(*st));
	uint8_t cfg[256], cmd[2] = { 0 }, status[2] = { 0 };
	uint32_t prdt[2] = { 0 }, n = 0;
	bool ok = false;

	for (unsigned i = 0; i < 2; i++)
		ide_channel_lock(&s->ch[i]);
	if (!ss_section_open(r, "piix_ide", instance, 1, PIIX_IDE_STATE_VERSION, NULL))
		goto out;
	pci_config_get(r, &s->pci, cfg);
	ss_get_array(r, "ch", 2, &n);
	if (ss_ok(r) && n != 2)
		ss_fail(r, "saved state: piix_ide: %u channels", n);
	for (unsigned i = 0; i < 2 && ss_ok(r); i++) {
		ss_get_elem_begin(r, "ch", i);
		ss_get_u8(r, "bm.cmd", &cmd[i]);
		ss_get_u8(r, "bm.status", &status[i]);
		ss_get_u32(r, "bm.prdt", &prdt[i]);
		ide_channel_get(&s->ch[i], r, &st[i]);
		ss_get_elem_end(r);
		if (ss_ok(r) && ((cmd[i] & ~(BM_CMD_START | BM_CMD_TO_MEM)) ||
				 (status[i] & ~BM_ST_BITS) || (prdt[i] & 3)))
			ss_fail(r, "saved state: piix_ide: channel %u bus-master registers", i);
	}
	if (!ss_section_close(r))
		goto out;
	for (unsigned i = 0; i < 2; i++) {
		s->bm[i].cmd = cmd[i];
		s->bm[i].status = status[i];
		s->bm[i].prdt = prdt[i];
		ide_channel_commit(&s->ch[i], &st[i]);
	}
	ok = true;
out:
	for (unsigned i = 0; i < 2; i++) {
		ide_channel_state_free(&st[i]);
		pthread_mutex_unlock(&s->ch[i].lock);
	}
	free(st);
	if (ok) /* maps BAR4 where the guest had it: takes the bus lock, not a channel's */
		pci_config_apply(&s->pci, cfg);
	return ok;
}
