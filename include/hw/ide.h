/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PIIX3 IDE controller (PCI 00:01.1, 8086:7010) in legacy mode: two
 * channels at the ISA ports 0x1F0/0x3F6 (IRQ 14) and 0x170/0x376 (IRQ 15),
 * each with a master and a slave that is an ATA disk, an ATAPI CD/DVD
 * drive or nothing, plus the SFF-8038i bus-master DMA engine behind BAR4.
 *
 * The model is split by device: hw/storage/ide_core.c (ATA channel and drive state
 * machine, ATA commands), hw/storage/atapi.c (PACKET protocol, MMC commands) and
 * hw/storage/piix_ide.c (the PCI function, port mapping, bus-master DMA).
 */
#ifndef VMM_HW_IDE_H
#define VMM_HW_IDE_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "bus.h"
#include "guest_mem.h"
#include "irq.h"
#include "pci.h"

#define PIIX_IDE_DEVFN PCI_DEVFN(1, 1)
/* The PIIX IDE timing registers (IDETIM), primary and secondary: bit 15
 * enables the channel's decode. ata_piix reads it; firmware sets it. */
#define PIIX_IDETIM_PRI 0x40
#define PIIX_IDETIM_SEC 0x42
#define PIIX_IDETIM_DECODE 0x8000u

struct piix_ide;

/* Registers 00:01.1 on 'pci' and maps the legacy ports of both channels on
 * 'pio' (always decoded, as on QEMU's pc). DMA reaches guest memory only
 * through guest_ptr() on 'mem'. Returns NULL if the ports or the PCI slot
 * are taken. */
struct piix_ide *piix_ide_create(struct pci_bus *pci, struct io_bus *pio, const struct guest_mem *mem,
				 struct irq_line irq14, struct irq_line irq15);
/* Unmaps everything and frees the controller (the block devices stay
 * with the caller). */
void piix_ide_destroy(struct piix_ide *s);

/* channel 0-1, unit 0 (master) or 1 (slave). A disk needs a block device;
 * a CD drive may start empty (bd = NULL). The block devices stay owned by
 * the caller. Return 0, -EINVAL for a bad slot or a missing disk image,
 * -EBUSY if the slot is taken. */
int piix_ide_attach_disk(struct piix_ide *s, unsigned channel, unsigned unit, struct block_dev *bd);
int piix_ide_attach_cdrom(struct piix_ide *s, unsigned channel, unsigned unit, struct block_dev *bd);

/* Inserts 'bd' (or ejects the medium with bd = NULL) in a CD drive. The
 * guest sees UNIT ATTENTION 28/00 (medium may have changed) on its next
 * command after an insertion, NOT READY 3A/00 after an eject, and a media
 * event through GET EVENT STATUS NOTIFICATION. The previous medium is
 * returned through 'old' (if not NULL) for the caller to close.
 * Returns 0, or -ENODEV if that slot is not a CD drive. */
int ide_cdrom_change_media(struct piix_ide *s, unsigned channel, unsigned unit,
			   struct block_dev *bd, struct block_dev **old);

/* A CD drive's tray as QMP's query-block shows it. */
struct ide_cdrom_state {
	bool tray_open;
	bool locked;                /* the guest's PREVENT ALLOW MEDIUM REMOVAL */
	struct block_dev *medium;   /* NULL: no disc */
};
/* -ENODEV if that slot is not a CD drive. */
int ide_cdrom_get_state(struct piix_ide *s, unsigned channel, unsigned unit,
			struct ide_cdrom_state *out);
/* The host's tray operations, one step each, as QEMU's blockdev-open-tray,
 * -remove-medium, -insert-medium and -close-tray:
 * open_tray: a locked tray without 'force' only raises an eject request
 *   for the guest (GESN) and returns -EBUSY; with 'force' it is unlocked
 *   and opens. Returns 1 if the tray moved, 0 if it was open already.
 * set_medium: the tray must be open (-EAGAIN); the previous disc comes
 *   back through 'old' for the caller to close.
 * close_tray: 1 if the tray moved; the guest sees UNIT ATTENTION 28/00
 *   and a "new media" event when a disc is in.
 * Each -ENODEV for a slot that is not a CD drive. */
int ide_cdrom_open_tray(struct piix_ide *s, unsigned channel, unsigned unit, bool force);
int ide_cdrom_set_medium(struct piix_ide *s, unsigned channel, unsigned unit,
			 struct block_dev *bd, struct block_dev **old);
int ide_cdrom_close_tray(struct piix_ide *s, unsigned channel, unsigned unit);

/* 'fn' hears of the tray moves the guest makes (START STOP UNIT with
 * LoEj), from the vCPU thread with the channel lock held: it must only
 * note them (QMP's DEVICE_TRAY_MOVED is sent from the main loop). */
void piix_ide_set_tray_notify(struct piix_ide *s,
			      void (*fn)(void *opaque, unsigned channel, unsigned unit), void *opaque);

/* System reset of the drives and the bus-master engine (the PCI core
 * restores config space itself and then calls this through the
 * pci_device reset hook). */
void piix_ide_reset(struct piix_ide *s);

/* Bus-master DMA moves its data on a worker thread per channel with a
 * drive (started when the drive is attached). The device contract's
 * quiesce and resume: the transfers that are out end first; queued ones
 * wait for resume. */
void piix_ide_quiesce(struct piix_ide *s);
void piix_ide_resume(struct piix_ide *s);
/* Returns once no transfer is out (tests). */
void piix_ide_wait_idle(struct piix_ide *s);

/* Saved state (section "piix_ide", include/savestate.h): configuration
 * space, bus-master registers, and each drive's settings, task file and a
 * data phase in progress with its buffer (transfers wait for the guest:
 * they are saved, not completed). The same drives and media must be
 * attached on the loading side. piix_ide_load checks everything before it
 * changes the controller; false (reason in r->err) leaves it as it was. */
struct ss_writer;
struct ss_reader;
void piix_ide_save(struct piix_ide *s, struct ss_writer *w, uint32_t instance);
bool piix_ide_load(struct piix_ide *s, struct ss_reader *r, uint32_t instance);

#endif
