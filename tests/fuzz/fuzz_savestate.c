// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the saved-state loader (src/core/savestate.c) and the
 * device load functions behind it: the input is a state stream. It is
 * opened (layout, checksums), then every device that has a load function
 * is loaded from it into a fresh instance. A device that loads must save
 * what it loaded, and that save must load again and save to the same
 * bytes (a load that accepts state its own save cannot reproduce is a bug).
 * Any crash, sanitizer report, leak or hang is a bug; a clean error is fine.
 *
 * Sections carry checksums, so random mutations mostly stop there: for an
 * input whose first byte is 'F' the target recomputes every section's
 * checksum before loading the rest, so the fuzzer reaches the field
 * parser and the devices' range checks too.
 *
 *   FUZZ_WRITE_SEEDS=DIR fuzz_savestate   writes valid streams as seeds
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "guest_mem.h"
#include "hw/chipset.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/ide.h"
#include "hw/i6300esb.h"
#include "hw/i8237.h"
#include "hw/ib700.h"
#include "hw/fdc.h"
#include "hw/pcspk.h"
#include "hw/sb16.h"
#include "hw/cs4231a.h"
#include "hw/gus.h"
#include "hw/es1370.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "hw/e1000.h"
#include "hw/ne2000.h"
#include "hw/pcnet.h"
#include "hw/rtl8139.h"
#include "net.h"
#include "hw/virtio_rng.h"
#include "isa_irq.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"
#include "../unit/memdisk.h"

#define RAM_SIZE (64u << 10)

struct device_kind {
	const char *name;
	void *(*create)(void);
	void (*destroy)(void *dev);
	void (*save)(void *dev, struct ss_writer *w, uint32_t instance);
	bool (*load)(void *dev, struct ss_reader *r, uint32_t instance);
	void (*prime)(void *dev); /* seeds only: a state worth starting from */
};

static void *serial_new(void) { return serial_create((struct irq_line){ 0 }, NULL, NULL); }
static void serial_free(void *d) { serial_destroy(d); }
static void serial_sv(void *d, struct ss_writer *w, uint32_t i) { serial_save(d, w, i); }
static bool serial_ld(void *d, struct ss_reader *r, uint32_t i) { return serial_load(d, r, i); }

static void *rtc_new(void) { return rtc_create((struct irq_line){ 0 }, NULL); }
static void rtc_free(void *d) { rtc_destroy(d); }
static void rtc_sv(void *d, struct ss_writer *w, uint32_t i) { rtc_save(d, w, i); }
static bool rtc_ld(void *d, struct ss_reader *r, uint32_t i) { return rtc_load(d, r, i); }

static void *i8042_new(void) { return i8042_create((struct irq_line){ 0 }, (struct irq_line){ 0 }, NULL, NULL); }
static void i8042_free(void *d) { i8042_destroy(d); }
static void i8042_sv(void *d, struct ss_writer *w, uint32_t i) { i8042_save(d, w, i); }
static bool i8042_ld(void *d, struct ss_reader *r, uint32_t i) { return i8042_load(d, r, i); }

/* A small board for the devices that need buses, RAM or disks. */
struct board {
	uint8_t ram[RAM_SIZE];
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct isa_irq isa;
	struct piix3 sb;
	struct piix_pm pm;
	struct fw_cfg *fw;
	struct piix_ide *ide;
	struct memdisk *disk, *cd;
	struct virtio_rng *rng;
	struct ib700 *ib700;
	struct i6300esb *esb;
	struct i8237 *dma;
	struct sb16 *sb16;
	struct cs4231a *cs4231a;
	struct gus *gus;
	struct fdc *fdc;
	uint8_t *fd_data;
	struct e1000 *nic;
	struct rtl8139 *rtl;
	struct ne2000 *ne2k;
	struct pcnet *pcnet;
	struct es1370 *es1370;
	struct pcspk *pcspk;
};

static void no_gsi(void *opaque, unsigned gsi, int level) { }
static void no_board(void *opaque) { }
static void no_exit(void *opaque, int status) { }

static struct board *board_new(void)
{
	struct board *b = xzalloc(sizeof(*b));
	guest_mem_init_buffer(&b->mem, b->ram, RAM_SIZE);
	bus_init(&b->pio, "pio");
	bus_init(&b->mmio, "mmio");
	pci_bus_init(&b->pci, &b->pio, &b->mmio);
	isa_irq_init(&b->isa, no_gsi, b, NULL, NULL);
	return b;
}

static void board_free(struct board *b)
{
	isa_irq_destroy(&b->isa);
	bus_destroy(&b->pio);
	bus_destroy(&b->mmio);
	free(b);
}

static void *chipset_new(void)
{
	struct board *b = board_new();
	struct board_control ctl = { no_board, no_board, no_exit, b };
	if (piix3_init(&b->sb, &b->pci, &b->isa, ctl) < 0 ||
	    piix_pm_init(&b->pm, &b->pci, &b->pio, (struct irq_line){ 0 }, ctl) < 0)
		abort();
	return b;
}
static void chipset_sv(void *d, struct ss_writer *w, uint32_t i)
{
	piix3_save(&((struct board *)d)->sb, w, i);
	piix_pm_save(&((struct board *)d)->pm, w, i);
}
static bool chipset_ld(void *d, struct ss_reader *r, uint32_t i)
{
	return piix3_load(&((struct board *)d)->sb, r, i) && piix_pm_load(&((struct board *)d)->pm, r, i);
}
static void chipset_free(void *d) { board_free(d); }

static void *fw_cfg_new(void)
{
	struct board *b = board_new();
	b->fw = fw_cfg_create(&b->mem);
	fw_cfg_add_file(b->fw, "etc/ro", "0123456789", 10);
	fw_cfg_add_file_writable(b->fw, "etc/rw", "........", 8, NULL, NULL);
	return b;
}
static void fw_cfg_free(void *d) { fw_cfg_destroy(((struct board *)d)->fw); board_free(d); }
static void fw_cfg_sv(void *d, struct ss_writer *w, uint32_t i) { fw_cfg_save(((struct board *)d)->fw, w, i); }
static bool fw_cfg_ld(void *d, struct ss_reader *r, uint32_t i) { return fw_cfg_load(((struct board *)d)->fw, r, i); }

static void *ide_new(void)
{
	struct board *b = board_new();
	b->ide = piix_ide_create(&b->pci, &b->pio, &b->mem, (struct irq_line){ 0 },
				 (struct irq_line){ 0 });
	b->disk = memdisk_patterned(64 * 512, 1, false);
	b->cd = memdisk_patterned(8 * 2048, 2, true);
	if (!b->ide || piix_ide_attach_disk(b->ide, 0, 0, &b->disk->bd) < 0 ||
	    piix_ide_attach_cdrom(b->ide, 1, 0, &b->cd->bd) < 0)
		abort();
	return b;
}
static void ide_free(void *d)
{
	struct board *b = d;
	piix_ide_destroy(b->ide);
	free(b->disk->data);
	free(b->disk);
	free(b->cd->data);
	free(b->cd);
	board_free(b);
}
static void ide_sv(void *d, struct ss_writer *w, uint32_t i) { piix_ide_save(((struct board *)d)->ide, w, i); }
static bool ide_ld(void *d, struct ss_reader *r, uint32_t i) { return piix_ide_load(((struct board *)d)->ide, r, i); }

static void outb(struct board *b, uint16_t port, uint8_t v)
{
	uint64_t x = v;
	bus_write(&b->pio, port, &x, 1);
}

static uint16_t inw(struct board *b, uint16_t port)
{
	uint64_t x = 0;
	bus_read(&b->pio, port, &x, 2);
	return (uint16_t)x;
}

/* A disk part-way through a PIO read, a CD waiting for its packet. */
static void ide_prime(void *d)
{
	struct board *b = d;
	static const uint8_t tf[] = { 0xE0, 3, 5, 0, 0 }; /* dev, count, LBA */
	for (unsigned i = 0; i < sizeof(tf); i++)
		outb(b, (uint16_t)(i ? 0x1F1 + i : 0x1F6), tf[i]);
	outb(b, 0x1F7, 0x20);
	for (unsigned i = 0; i < 100; i++)
		inw(b, 0x1F0);
	outb(b, 0x176, 0xA0);
	outb(b, 0x175, 0x08);
	outb(b, 0x177, 0xA0);
}

static void *rng_new(void)
{
	struct board *b = board_new();
	b->rng = virtio_rng_create(&b->pci, PCI_DEVFN(4, 0), &b->mem, NULL);
	if (!b->rng)
		abort();
	return b;
}
static void rng_free(void *d) { virtio_rng_destroy(((struct board *)d)->rng); board_free(d); }
static void rng_sv(void *d, struct ss_writer *w, uint32_t i)
{
	virtio_pci_save(virtio_rng_transport(((struct board *)d)->rng), w, i);
}
static bool rng_ld(void *d, struct ss_reader *r, uint32_t i)
{
	return virtio_pci_load(virtio_rng_transport(((struct board *)d)->rng), r, i);
}

/* The watchdogs without a loop: their counts never run out here, and the
 * time left is what the stream says. */
static void *ib700_new(void)
{
	struct board *b = board_new();
	if (!(b->ib700 = ib700_create(&b->pio, NULL, NULL)))
		abort();
	return b;
}
static void ib700_free(void *d) { ib700_destroy(((struct board *)d)->ib700); board_free(d); }
static void ib700_sv(void *d, struct ss_writer *w, uint32_t i) { ib700_save(((struct board *)d)->ib700, w, i); }
static bool ib700_ld(void *d, struct ss_reader *r, uint32_t i) { return ib700_load(((struct board *)d)->ib700, r, i); }
static void ib700_prime(void *d)
{
	uint8_t six_seconds = 12;
	bus_write(&((struct board *)d)->pio, IB700_START_PORT, &six_seconds, 1);
}

static void *esb_new(void)
{
	struct board *b = board_new();
	if (!(b->esb = i6300esb_create(&b->pci, PCI_DEVFN(5, 0), NULL, NULL)))
		abort();
	return b;
}
static void esb_free(void *d) { i6300esb_destroy(((struct board *)d)->esb); board_free(d); }
static void esb_sv(void *d, struct ss_writer *w, uint32_t i) { i6300esb_save(((struct board *)d)->esb, w, i); }
static bool esb_ld(void *d, struct ss_reader *r, uint32_t i) { return i6300esb_load(((struct board *)d)->esb, r, i); }
static void esb_prime(void *d)
{
	pci_config_write(&((struct board *)d)->pci, PCI_DEVFN(5, 0), 0x68, 0x02, 1); /* enabled */
}

/* The 8237 pair, programmed so the stream has non-zero registers; no
 * channel is claimed, so a load kicks nothing. */
static void *dma_new(void)
{
	struct board *b = board_new();
	struct i8237 *d = i8237_create(&b->mem);
	if (!d || i8237_map(d, &b->pio) < 0)
		abort();
	b->dma = d;
	return b;
}
static void dma_free(void *d) { i8237_destroy(((struct board *)d)->dma); board_free(d); }
static void dma_sv(void *d, struct ss_writer *w, uint32_t i) { i8237_save(((struct board *)d)->dma, w, i); }
static bool dma_ld(void *d, struct ss_reader *r, uint32_t i) { return i8237_load(((struct board *)d)->dma, r, i); }
static void dma_prime(void *d)
{
	struct io_bus *pio = &((struct board *)d)->pio;
	uint8_t v[] = { 0x46, 0x34, 0x12, 0x81 };
	bus_write(pio, 0x0b, &v[0], 1); /* channel 2: single, write to memory */
	bus_write(pio, 0x04, &v[1], 1); /* address low, then high */
	bus_write(pio, 0x04, &v[2], 1);
	bus_write(pio, 0x81, &v[3], 1); /* its page */
}
/* The SB16 on the 8237, without a backend: a load that starts a transfer
 * raises DREQ and nothing moves. */
static void *sb16_new(void)
{
	struct board *b = dma_new();
	struct sb16_config c = { .iobase = 0x220, .irq = 5, .dma = 1, .dma16 = 5 };
	char err[128];
	if (!(b->sb16 = sb16_create(&b->pio, b->dma, (struct irq_line){ 0 }, NULL, &c, err,
				    sizeof(err))))
		abort();
	return b;
}
static void sb16_free(void *d)
{
	sb16_destroy(((struct board *)d)->sb16);
	dma_free(d);
}
static void sb16_sv(void *d, struct ss_writer *w, uint32_t i) { sb16_save(((struct board *)d)->sb16, w, i); }
static bool sb16_ld(void *d, struct ss_reader *r, uint32_t i) { return sb16_load(((struct board *)d)->sb16, r, i); }
static void sb16_prime(void *d)
{
	struct io_bus *pio = &((struct board *)d)->pio;
	/* an auto-init 16-bit stereo transfer under way, a command half given */
	static const uint8_t cmds[] = { 0x41, 0x56, 0x22, 0x48, 0xFF, 0x07, 0xB6, 0x30, 0xFF, 0x07,
					0xE0 };
	for (unsigned i = 0; i < sizeof(cmds); i++)
		bus_write(pio, 0x22C, &cmds[i], 1);
}

/* The Gravis Ultrasound on the 8237, without a backend or timers: a load
 * with a DMA under way raises DREQ; voices only move when rendered. */
static void *gus_new(void)
{
	struct board *b = dma_new();
	struct gus_config c = { .iobase = 0x240, .irq = 7, .dma = 3, .freq = 44100 };
	char err[128];
	if (!(b->gus = gus_create(&b->pio, b->dma, (struct irq_line){ 0 }, NULL, NULL, &c, err,
				  sizeof(err))))
		abort();
	return b;
}
static void gus_free(void *d)
{
	gus_destroy(((struct board *)d)->gus);
	dma_free(d);
}
static void gus_sv(void *d, struct ss_writer *w, uint32_t i) { gus_save(((struct board *)d)->gus, w, i); }
static bool gus_ld(void *d, struct ss_reader *r, uint32_t i) { return gus_load(((struct board *)d)->gus, r, i); }
static void gus_prime(void *d)
{
	struct gus *g = ((struct board *)d)->gus;
	struct io_bus *pio = &((struct board *)d)->pio;
	/* running, voice 0 looping with its wave IRQ, a DMA waiting for its channel */
	static const uint8_t regs[][2] = { { 0x4C, 0x07 }, { 0x01, 0x04 }, { 0x04, 0x01 },
					   { 0x41, 0x21 }, { 0x00, 0x28 } };
	for (unsigned i = 0; i < 5; i++) {
		bus_write(pio, 0x343, &regs[i][0], 1);
		bus_write(pio, 0x345, &regs[i][1], 1);
	}
	gus_render(g, NULL, 100);
}

/* The CS4231A on the 8237, without a backend: a load that starts a
 * transfer raises DREQ and nothing moves. */
static void *cs4231a_new(void)
{
	struct board *b = dma_new();
	struct cs4231a_config c = { .iobase = 0x534, .irq = 9, .dma = 3 };
	char err[128];
	if (!(b->cs4231a = cs4231a_create(&b->pio, b->dma, (struct irq_line){ 0 }, NULL, &c, err,
					  sizeof(err))))
		abort();
	return b;
}
static void cs4231a_free(void *d)
{
	cs4231a_destroy(((struct board *)d)->cs4231a);
	dma_free(d);
}
static void cs4231a_sv(void *d, struct ss_writer *w, uint32_t i) { cs4231a_save(((struct board *)d)->cs4231a, w, i); }
static bool cs4231a_ld(void *d, struct ss_reader *r, uint32_t i) { return cs4231a_load(((struct board *)d)->cs4231a, r, i); }
static void cs4231a_prime(void *d)
{
	struct io_bus *pio = &((struct board *)d)->pio;
	/* mode 2, 16-bit stereo under MCE, a count, IEN and PEN: playing */
	static const uint8_t regs[][2] = { { 0x4C, 0x40 }, { 0x48, 0x5B }, { 0x0F, 0xFF },
					   { 0x0E, 0x03 }, { 0x0A, 0x02 }, { 0x09, 0x09 } };
	for (unsigned i = 0; i < 6; i++) {
		bus_write(pio, 0x534, &regs[i][0], 1);
		bus_write(pio, 0x535, &regs[i][1], 1);
	}
}

/* The floppy controller on the 8237, a 720K disk in drive A:. */
static void *fdc_new(void)
{
	struct board *b = dma_new();
	char err[128];
	struct memdisk *m = memdisk_patterned(720 * 1024, 3, false);
	b->fd_data = m->data; /* the controller closes the device, not the data */
	if (!(b->fdc = fdc_create(&b->pio, b->dma, (struct irq_line){ 0 }, err, sizeof(err))) ||
	    fdc_attach(b->fdc, 0, &m->bd, 3, err, sizeof(err)) < 0)
		abort();
	return b;
}
static void fdc_free(void *d)
{
	struct board *b = d;
	fdc_destroy(b->fdc);
	free(b->fd_data);
	dma_free(d);
}
static void fdc_sv(void *d, struct ss_writer *w, uint32_t i) { fdc_save(((struct board *)d)->fdc, w, i); }
static bool fdc_ld(void *d, struct ss_reader *r, uint32_t i) { return fdc_load(((struct board *)d)->fdc, r, i); }
static void fdc_prime(void *d)
{
	struct io_bus *pio = &((struct board *)d)->pio;
	/* out of reset, non-DMA, a PIO read of sector 2 under way, 5 bytes in */
	static const uint8_t dor[] = { 0x00, 0x0C };
	static const uint8_t cmds[] = { 0x03, 0xAF, 0x03, 0x46, 0x00, 0, 0, 2, 2, 9, 0x1B, 0xFF };
	uint8_t v;
	for (unsigned i = 0; i < sizeof(dor); i++)
		bus_write(pio, 0x3F2, &dor[i], 1);
	for (unsigned i = 0; i < sizeof(cmds); i++)
		bus_write(pio, 0x3F5, &cmds[i], 1);
	for (unsigned i = 0; i < 5; i++)
		bus_read(pio, 0x3F5, &v, 1);
}

static void no_send(struct net_backend *b, const struct net_hdr *h, const uint8_t *f, size_t n) { }
static const struct net_backend_ops no_net_ops = { .send = no_send };
static struct net_backend no_net = { .ops = &no_net_ops };

static void *e1000_new(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct board *b = board_new();
	b->nic = e1000_create(&b->pci, PCI_DEVFN(4, 0), &b->mem, E1000_82540EM, mac, &no_net,
			      NULL, 0);
	if (!b->nic)
		abort();
	return b;
}
static void e1000_free(void *d) { e1000_destroy(((struct board *)d)->nic); board_free(d); }
static void e1000_sv(void *d, struct ss_writer *w, uint32_t i) { e1000_save(((struct board *)d)->nic, w, i); }
static bool e1000_ld(void *d, struct ss_reader *r, uint32_t i) { return e1000_load(((struct board *)d)->nic, r, i); }

static int64_t fixed_clock(void *opaque) { return 1000000000; }
static void *rtl8139_new(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct board *b = board_new();
	b->rtl = rtl8139_create(&b->pci, PCI_DEVFN(4, 0), &b->mem, mac, true, &no_net, NULL, 0,
				fixed_clock, NULL);
	if (!b->rtl)
		abort();
	return b;
}
static void rtl8139_free(void *d) { rtl8139_destroy(((struct board *)d)->rtl); board_free(d); }
static void rtl8139_sv(void *d, struct ss_writer *w, uint32_t i) { rtl8139_save(((struct board *)d)->rtl, w, i); }
static bool rtl8139_ld(void *d, struct ss_reader *r, uint32_t i) { return rtl8139_load(((struct board *)d)->rtl, r, i); }

static void *ne2k_pci_new(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct board *b = board_new();
	b->ne2k = ne2000_create_pci(&b->pci, PCI_DEVFN(4, 0), mac, &no_net, NULL, 0);
	if (!b->ne2k)
		abort();
	return b;
}
static void *ne2k_isa_new(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct board *b = board_new();
	b->ne2k = ne2000_create_isa(&b->pio, 0x300, (struct irq_line){ 0 }, mac, &no_net);
	if (!b->ne2k)
		abort();
	return b;
}
static void ne2k_free(void *d) { ne2000_destroy(((struct board *)d)->ne2k); board_free(d); }
static void ne2k_sv(void *d, struct ss_writer *w, uint32_t i) { ne2000_save(((struct board *)d)->ne2k, w, i); }
static bool ne2k_ld(void *d, struct ss_reader *r, uint32_t i) { return ne2000_load(((struct board *)d)->ne2k, r, i); }

static void *pcnet_new(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct board *b = board_new();
	b->pcnet = pcnet_create(&b->pci, PCI_DEVFN(4, 0), &b->mem, mac, &no_net, NULL, 0);
	if (!b->pcnet)
		abort();
	return b;
}
static void pcnet_free(void *d) { pcnet_destroy(((struct board *)d)->pcnet); board_free(d); }
static void pcnet_sv(void *d, struct ss_writer *w, uint32_t i) { pcnet_save(((struct board *)d)->pcnet, w, i); }
static bool pcnet_ld(void *d, struct ss_reader *r, uint32_t i) { return pcnet_load(((struct board *)d)->pcnet, r, i); }

/* The ES1370 without a backend: a loaded channel that plays moves nothing. */
static void *es1370_new(void)
{
	struct board *b = board_new();
	if (!(b->es1370 = es1370_create(&b->pci, PCI_DEVFN(6, 0), &b->mem, NULL)))
		abort();
	return b;
}
static void es1370_free(void *d) { es1370_destroy(((struct board *)d)->es1370); board_free(d); }
static void es1370_sv(void *d, struct ss_writer *w, uint32_t i) { es1370_save(((struct board *)d)->es1370, w, i); }
static bool es1370_ld(void *d, struct ss_reader *r, uint32_t i) { return es1370_load(((struct board *)d)->es1370, r, i); }
static void es1370_prime(void *d)
{
	struct board *b = d;
	/* DAC2 playing mid-buffer: page 0xC, frame, size at longword 5,
	 * serial control, count, then PCLKDIV and the enable */
	uint32_t regs[][2] = { { 0xC00C, 0x0C }, { 0xC038, 0x1000 }, { 0xC03C, 0x000503FF },
			       { 0xC020, 0x020C }, { 0xC028, 0x00FF }, { 0xC000, 0x003E0022 } };
	pci_config_write(&b->pci, PCI_DEVFN(6, 0), PCI_BAR0, 0xC000, 4);
	pci_config_write(&b->pci, PCI_DEVFN(6, 0), PCI_COMMAND, 0x05, 2);
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		bus_write(&b->pio, regs[i][0], &regs[i][1], 4);
}

/* The PC speaker without a PIT or a backend: the port's bits. */
static void *pcspk_new(void)
{
	struct board *b = board_new();
	char err[128];
	if (!(b->pcspk = pcspk_create(&b->pio, NULL, NULL, err, sizeof(err))))
		abort();
	return b;
}
static void pcspk_free(void *d) { pcspk_destroy(((struct board *)d)->pcspk); board_free(d); }
static void pcspk_sv(void *d, struct ss_writer *w, uint32_t i) { pcspk_save(((struct board *)d)->pcspk, w, i); }
static bool pcspk_ld(void *d, struct ss_reader *r, uint32_t i) { return pcspk_load(((struct board *)d)->pcspk, r, i); }
static void pcspk_prime(void *d)
{
	uint8_t v = 0x0B; /* gate, speaker and channel check on */
	bus_write(&((struct board *)d)->pio, 0x61, &v, 1);
}

static const struct device_kind kinds[] = {
	{ "serial", serial_new, serial_free, serial_sv, serial_ld, NULL },
	{ "rtc", rtc_new, rtc_free, rtc_sv, rtc_ld, NULL },
	{ "i8042", i8042_new, i8042_free, i8042_sv, i8042_ld, NULL },
	{ "chipset", chipset_new, chipset_free, chipset_sv, chipset_ld, NULL },
	{ "fw_cfg", fw_cfg_new, fw_cfg_free, fw_cfg_sv, fw_cfg_ld, NULL },
	{ "ide", ide_new, ide_free, ide_sv, ide_ld, ide_prime },
	{ "virtio_rng", rng_new, rng_free, rng_sv, rng_ld, NULL },
	{ "ib700", ib700_new, ib700_free, ib700_sv, ib700_ld, ib700_prime },
	{ "i6300esb", esb_new, esb_free, esb_sv, esb_ld, esb_prime },
	{ "i8257", dma_new, dma_free, dma_sv, dma_ld, dma_prime },
	{ "sb16", sb16_new, sb16_free, sb16_sv, sb16_ld, sb16_prime },
	{ "cs4231a", cs4231a_new, cs4231a_free, cs4231a_sv, cs4231a_ld, cs4231a_prime },
	{ "gus", gus_new, gus_free, gus_sv, gus_ld, gus_prime },
	{ "isa-fdc", fdc_new, fdc_free, fdc_sv, fdc_ld, fdc_prime },
	{ "e1000", e1000_new, e1000_free, e1000_sv, e1000_ld, NULL },
	{ "rtl8139", rtl8139_new, rtl8139_free, rtl8139_sv, rtl8139_ld, NULL },
	{ "ne2k_pci", ne2k_pci_new, ne2k_free, ne2k_sv, ne2k_ld, NULL },
	{ "ne2k_isa", ne2k_isa_new, ne2k_free, ne2k_sv, ne2k_ld, NULL },
	{ "pcnet", pcnet_new, pcnet_free, pcnet_sv, pcnet_ld, NULL },
	{ "es1370", es1370_new, es1370_free, es1370_sv, es1370_ld, es1370_prime },
	{ "pcspk", pcspk_new, pcspk_free, pcspk_sv, pcspk_ld, pcspk_prime },
};

static void save_one(const struct device_kind *k, void *dev, struct ss_writer *w)
{
	ss_writer_init(w);
	k->save(dev, w, 0);
	if (ss_writer_finish(w) < 0)
		abort();
}

/* Loads kind k from r; if it loads, checks the save / load / save cycle. */
static void try_device(const struct device_kind *k, const uint8_t *data, size_t size)
{
	struct ss_reader r;
	if (ss_reader_open(&r, data, size) < 0) {
		ss_reader_close(&r);
		return;
	}
	void *dev = k->create();
	bool loaded = k->load(dev, &r, 0);
	ss_reader_close(&r);
	if (loaded) {
		struct ss_writer w1, w2;
		struct ss_reader r2;
		save_one(k, dev, &w1);
		void *again = k->create();
		if (ss_reader_open(&r2, w1.buf, w1.len) < 0 || !k->load(again, &r2, 0)) {
			fprintf(stderr, "%s: its own save does not load: %s\n", k->name, r2.err);
			abort();
		}
		ss_reader_close(&r2);
		save_one(k, again, &w2);
		if (w1.len != w2.len || memcmp(w1.buf, w2.buf, w1.len)) {
			fprintf(stderr, "%s: save / load / save changed the bytes\n", k->name);
			abort();
		}
		ss_writer_free(&w1);
		ss_writer_free(&w2);
		k->destroy(again);
	}
	k->destroy(dev);
}

/* Rewrites each section's checksum over whatever the input holds, walking
 * the layout as far as it is consistent. */
static void fix_checksums(uint8_t *p, size_t n)
{
	size_t at = 12;
	while (at + 2 <= n && p[at] == 'S') {
		size_t name = p[at + 1];
		size_t hdr = 2 + name + 12;
		if (at + hdr > n)
			return;
		uint32_t body = get_le32(p + at + hdr - 4);
		if (body > n || at + hdr + body + 4 > n)
			return;
		put_le32(p + at + hdr + body, ss_crc32(p + at, hdr + body));
		at += hdr + body + 4;
	}
}

static void write_seeds(const char *dir)
{
	char path[512];
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		void *dev = kinds[i].create();
		struct ss_writer w;
		if (kinds[i].prime)
			kinds[i].prime(dev);
		save_one(&kinds[i], dev, &w);
		for (int fix = 0; fix < 2; fix++) {
			snprintf(path, sizeof(path), "%s/%s%s", dir, fix ? "F-" : "", kinds[i].name);
			FILE *f = fopen(path, "wb");
			if (!f)
				die("cannot write %s", path);
			if (fix)
				fputc('F', f);
			if (fwrite(w.buf, 1, w.len, f) != w.len || fclose(f))
				die("cannot write %s", path);
		}
		ss_writer_free(&w);
		kinds[i].destroy(dev);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_WRITE_SEEDS")) {
		write_seeds(getenv("FUZZ_WRITE_SEEDS"));
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = NULL;
	if (size && data[0] == 'F') {
		copy = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
		memcpy(copy, data + 1, size - 1);
		fix_checksums(copy, size - 1);
		data = copy;
		size--;
	}
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		try_device(&kinds[i], data, size);
	free(copy);
	return 0;
}
