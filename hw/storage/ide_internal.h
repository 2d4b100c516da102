/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared between hw/storage/ide_core.c, hw/storage/atapi.c and hw/storage/piix_ide.c: the state of
 * one IDE channel and its two drives, and the hooks between the drives and
 * the bus-master DMA engine. Not a public interface.
 */
#ifndef VMM_HW_IDE_INTERNAL_H
#define VMM_HW_IDE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "guest_mem.h"
#include "irq.h"

#define IDE_SECTOR 512
#define ATAPI_SECTOR 2048
#define IDE_BUF_SIZE (128 * 1024)
#define IDE_MAX_MULT 16

/* Status register */
#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DF 0x20
#define ST_DSC 0x10
#define ST_DRQ 0x08
#define ST_ERR 0x01

/* Error register */
#define ER_UNC 0x40
#define ER_IDNF 0x10
#define ER_ABRT 0x04

/* Device control register */
#define DC_HOB 0x80
#define DC_SRST 0x04
#define DC_NIEN 0x02

/* Device/head register */
#define DH_LBA 0x40
#define DH_DEV 0x10
#define DH_OBS 0xA0

/* ATAPI interrupt reason (in the sector count register) */
#define IR_COD 0x01
#define IR_IO 0x02

/* SCSI sense keys */
#define SK_NO_SENSE 0x0
#define SK_NOT_READY 0x2
#define SK_MEDIUM_ERROR 0x3
#define SK_ILLEGAL_REQUEST 0x5
#define SK_UNIT_ATTENTION 0x6
#define SK_ABORTED_COMMAND 0xB

enum ide_kind { IDE_NONE, IDE_DISK, IDE_CDROM };
enum ide_xfer { XFER_NONE, XFER_PIO_IN, XFER_PIO_OUT, XFER_DMA };

/* One contiguous piece of guest RAM a DMA transfer goes to or from. */
struct ide_sg {
	uint8_t *host;
	uint32_t len;
};

/* How a bus-master transfer ended, for the engine's status register. */
enum ide_dma_end {
	DMA_END_DONE,   /* the PRD table was used up exactly */
	DMA_END_SHORT,  /* the device finished before the PRD table: stays active */
	DMA_END_ERROR,  /* bad PRD table or buffer, or PRDs shorter than the transfer */
};

/* Provided by the bus-master engine (hw/storage/piix_ide.c). */
struct ide_dma_ops {
	/* Is the engine started and allowed to master the bus? */
	bool (*ready)(void *opaque);
	/* Maps the PRD table for a transfer of 'len' bytes. On success sets
	 * sg and n to pieces covering min(len, PRD total) bytes (in *mapped)
	 * and *more if PRD space is left past 'len'. Returns -1 if the table
	 * or a buffer lies outside guest RAM or the table runs past its 64 KiB
	 * page without an end-of-table mark. */
	int (*map)(void *opaque, uint64_t len, struct ide_sg **sg, unsigned *n,
		   uint64_t *mapped, bool *more);
	void (*end)(void *opaque, enum ide_dma_end how);
	/* The channel raised its interrupt (sets the engine's IRQ status bit). */
	void (*irq)(void *opaque);
};

struct ide_drive;
typedef void (*ide_done_fn)(struct ide_drive *d);
/* Moves the data of a DMA transfer; returns 0 or a device error. */
typedef int (*ide_dma_move_fn)(struct ide_drive *d, const struct ide_sg *sg, unsigned n,
			       uint64_t len);
/* Completes the command after a DMA transfer: err 0, -EFAULT for a bus
 * (PRD) error, else what the move function returned. */
typedef void (*ide_dma_finish_fn)(struct ide_drive *d, int err);

struct atapi_state {
	uint8_t cdb[12];
	uint8_t sense_key, asc, ascq;
	bool unit_attention; /* 28/00 pending after a medium change */
	bool tray_open, locked;
	uint8_t media_event; /* pending GESN media event code, 0 = none */
	bool dma;            /* PACKET with the DMA feature bit */
	uint16_t limit;      /* byte count limit given with PACKET */
	/* The data phase of the current command. */
	bool from_disc;      /* data comes from the medium, else from buf */
	uint64_t disc_off;   /* next byte of the medium */
	uint32_t buf_off;    /* next byte of buf */
	uint64_t left;       /* bytes still to send */
};

struct ide_channel;

struct ide_drive {
	struct ide_channel *ch;
	unsigned unit;
	enum ide_kind kind;
	struct block_dev *bd;
	uint64_t nsectors; /* disk: 512-byte sectors; CD: 2048-byte blocks of the medium */
	uint16_t cyls, heads, secs;             /* default geometry */
	uint16_t cur_cyls, cur_heads, cur_secs; /* INITIALIZE DEVICE PARAMETERS */
	uint8_t mult;        /* sectors per block for READ/WRITE MULTIPLE, 0 = off */
	uint8_t pio_mode;    /* SET FEATURES 03h: 0xFF = default */
	uint8_t mwdma_mode;  /* 0xFF = none selected */
	uint8_t udma_mode;
	bool write_cache;
	bool standby;
	char serial[21];

	/* Task file: every device on the channel latches every write. */
	uint8_t feature, nsector, lbal, lbam, lbah, select;
	uint8_t hob_feature, hob_nsector, hob_lbal, hob_lbam, hob_lbah;
	uint8_t status, error;
	bool intrq; /* interrupt pending (until status is read) */

	/* Data transfer in progress. */
	enum ide_xfer xfer;
	uint8_t *buf; /* IDE_BUF_SIZE bytes */
	uint32_t pos, end;
	ide_done_fn pio_done;
	uint64_t dma_len;
	bool dma_to_mem;
	ide_dma_move_fn dma_move;
	ide_dma_finish_fn dma_finish;
	uint64_t dma_fail_lba; /* set by a failed ATA move for its finish */

	/* ATA command in progress. */
	uint64_t lba;
	uint32_t remaining; /* sectors */
	uint32_t block;     /* sectors per DRQ block */
	bool lba48;
	uint8_t cmd;

	struct atapi_state atapi;
};

/* The PACKET (ATAPI) command set, as ide_core.c calls it for a CD-ROM
 * drive: atapi.c provides it (atapi_ops, hw/storage/atapi.h) and the
 * controller hands it to ide_channel_init. ide_core.c never names atapi.c,
 * which is built on ide_core.c's helpers (one direction only). */
struct ide_packet_ops {
	void (*identify)(struct ide_drive *d, uint16_t *id);
	void (*packet_cmd)(struct ide_drive *d);
	void (*reset)(struct ide_drive *d, bool hard);
	void (*change_media)(struct ide_drive *d, struct block_dev *bd);
	/* its data-phase callbacks, named in saved state */
	ide_done_fn pio_chunk, pio_packet;
	ide_dma_move_fn dma_move;
	ide_dma_finish_fn dma_finish;
};

struct ide_channel {
	pthread_mutex_t lock;
	struct ide_drive drive[2];
	unsigned cur; /* selected drive */
	uint8_t devctl;
	int irq_level;
	struct irq_line irq;
	const struct ide_dma_ops *dma;
	void *dma_opaque;
	const struct ide_packet_ops *packet; /* for IDE_CDROM drives */
	/* The guest opened or closed a CD drive's tray (START STOP UNIT):
	 * called with the lock held, from the vCPU thread; NULL: nobody asks. */
	void (*tray_moved)(void *opaque, unsigned channel, unsigned unit);
	void *tray_opaque;
	unsigned index; /* 0 primary, 1 secondary */

	/* Bus-master transfers off the vCPU thread (ide_channel_start_worker):
	 * the drive's data moves on the channel's worker without the lock,
	 * then the worker ends the transfer under it. One at a time, as on
	 * the wire; while one is out the drive is BSY and every guest write
	 * to the channel, reset and media change first waits for it
	 * (ide_channel_lock), so nothing it reads changes under it. */
	bool worker_on;
	bool worker_stop;
	bool paused;              /* quiesced: a queued job waits for resume */
	pthread_t worker;
	pthread_cond_t work_cond; /* a job queued, resume, or stop */
	pthread_cond_t idle_cond; /* the job ended */
	struct ide_drive *job;    /* the drive whose transfer is queued or running */
	struct ide_sg *job_sg;
	unsigned job_n;
	bool job_more;
};

/* Locks the channel once no transfer is out (the worker's job ended). */
void ide_channel_lock(struct ide_channel *ch);
/* The worker for asynchronous transfers; without one they run in the
 * caller. 0 or -errno. */
int ide_channel_start_worker(struct ide_channel *ch);
/* Quiesce: waits for the transfer that is out, then holds new ones
 * until ide_channel_resume. */
void ide_channel_quiesce(struct ide_channel *ch);
void ide_channel_resume(struct ide_channel *ch);

/* ide_core.c: called by the controller, with ch->lock held. */
void ide_channel_init(struct ide_channel *ch, struct irq_line irq, const struct ide_dma_ops *dma,
		      void *dma_opaque, const struct ide_packet_ops *packet);
void ide_channel_destroy(struct ide_channel *ch);
int ide_drive_attach(struct ide_channel *ch, unsigned unit, enum ide_kind kind,
		     struct block_dev *bd);
void ide_channel_hard_reset(struct ide_channel *ch);
uint32_t ide_cmd_read(struct ide_channel *ch, unsigned reg, unsigned size);
void ide_cmd_write(struct ide_channel *ch, unsigned reg, uint32_t val, unsigned size);
uint8_t ide_altstatus_read(struct ide_channel *ch);
void ide_devctl_write(struct ide_channel *ch, uint8_t val);
/* The bus-master engine was started: run a waiting DMA transfer. */
void ide_dma_kick(struct ide_channel *ch);

/* ide_core.c: helpers for the drive command sets. */
void ide_set_irq(struct ide_drive *d);
void ide_pio_start(struct ide_drive *d, bool to_host, uint32_t start, uint32_t len,
		   ide_done_fn done);
void ide_dma_start(struct ide_drive *d, bool to_mem, uint64_t len, ide_dma_move_fn move,
		   ide_dma_finish_fn finish);
void ide_stop_transfer(struct ide_drive *d);
void ide_set_signature(struct ide_drive *d);
void ide_put_string(uint16_t *words, unsigned first, unsigned nwords, const char *s);
void ide_finish_identify(uint16_t *id);
/* Serial, firmware, DMA/PIO modes and word 93, common to both IDENTIFYs. */
void ide_identify_common(const struct ide_drive *d, uint16_t *id);
/* Copies between a flat buffer and scattered guest memory. */
void ide_sg_copy_to(const struct ide_sg *sg, unsigned n, const uint8_t *src, uint64_t len);

/* ide_core.c: saved state of a channel (its drives' settings, task file,
 * and a data phase in progress with its buffer: every transfer waits for
 * the guest, as the block I/O behind it is synchronous, so it is saved
 * rather than completed). Loading is two-phase: ide_channel_get reads and
 * checks into 'st' (nothing changes), ide_channel_commit installs it. */
struct ss_writer;
struct ss_reader;
struct ide_channel_state {
	unsigned cur;
	uint8_t devctl;
	struct ide_drive drive[2];
	uint8_t *buf[2]; /* IDE_BUF_SIZE each, or NULL */
};
void ide_channel_save(struct ide_channel *ch, struct ss_writer *w);
bool ide_channel_get(struct ide_channel *ch, struct ss_reader *r, struct ide_channel_state *st);
void ide_channel_commit(struct ide_channel *ch, struct ide_channel_state *st);
void ide_channel_state_free(struct ide_channel_state *st);

#endif
