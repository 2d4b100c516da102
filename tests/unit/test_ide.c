// SPDX-License-Identifier: GPL-2.0-or-later
/* PIIX3 IDE, ATA disk and ATAPI CD driven through the I/O bus ports and
 * PCI config space, the way SeaBIOS and Linux ata_piix drive them. */
#include "unit.h"
#include "bus_access.h"

#include <errno.h>
#include <stdlib.h>

#include "block.h"
#include "memdisk.h"
#include "savestate.h"
#include "bus.h"
#include "guest_mem.h"
#include "hw/ide.h"
#include "irq.h"
#include "pci.h"
#include "util.h"

#define RAM_SIZE (1024 * 1024)
#define CMD0 0x1F0
#define CTL0 0x3F6
#define CMD1 0x170
#define CTL1 0x376
#define BM 0xC000
#define DEVFN PIIX_IDE_DEVFN

/* Task file offsets */
#define R_DATA 0
#define R_ERR 1
#define R_FEAT 1
#define R_NSECT 2
#define R_LBAL 3
#define R_LBAM 4
#define R_LBAH 5
#define R_DEV 6
#define R_STATUS 7
#define R_CMD 7

/* A huge virtual disk (beyond LBA28) whose content is a function of the offset. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off / 512) * 7 + (off % 512) * 3 + (off >> 28));
}

struct bigdisk {
	struct block_dev bd;
	uint64_t last_write_off;
	uint8_t last_write[512];
};

static int big_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = pattern(off + i);
	return 0;
}

static int big_pwrite(struct block_dev *bd, const void *buf, size_t len, uint64_t off)
{
	struct bigdisk *b = bd->state;
	b->last_write_off = off;
	memcpy(b->last_write, buf, MIN(len, sizeof(b->last_write)));
	return 0;
}

static int big_flush(struct block_dev *bd)
{
	return 0;
}

static const struct block_driver big_driver = {
	.name = "test-big", .pread = big_pread, .pwrite = big_pwrite, .flush = big_flush,
};

struct fx {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct guest_mem mem;
	uint8_t *ram;
	struct piix_ide *ide;
	int level[16], raises[16];
	struct memdisk *disk, *cd;
	struct block_dev *cd2;
	uint8_t *cd2_data;
};

static void set_irq(void *opaque, unsigned line, int level)
{
	struct fx *x = opaque;
	assert_true(line == 14 || line == 15);
	if (level && !x->level[line])
		x->raises[line]++;
	x->level[line] = level;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	x->ram = calloc(1, RAM_SIZE);
	guest_mem_init_buffer(&x->mem, x->ram, RAM_SIZE);
	bus_init(&x->pio, "pio");
	bus_init(&x->mmio, "mmio");
	pci_bus_init(&x->pci, &x->pio, &x->mmio);
	x->ide = piix_ide_create(&x->pci, &x->pio, &x->mem, (struct irq_line){ set_irq, x, 14 },
				 (struct irq_line){ set_irq, x, 15 });
	assert_non_null(x->ide);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	piix_ide_destroy(x->ide);
	bus_destroy(&x->pio);
	bus_destroy(&x->mmio);
	memdisk_free(x->disk);
	memdisk_free(x->cd);
	block_close(x->cd2);
	free(x->cd2_data);
	free(x->ram);
	free(x);
	return 0;
}

/* ---- port helpers ---------------------------------------------------------- */

/* A write may start a bus-master transfer on the channel's worker: the
 * helpers return once it has ended, as a guest sees it after the
 * interrupt (test_dma_runs_on_the_worker looks at the time between). */
static void outb(struct fx *x, uint16_t port, uint8_t v)
{
	bus_wr(&x->pio, port, v, 1);
	piix_ide_wait_idle(x->ide);
}

static void outw(struct fx *x, uint16_t port, uint16_t v)
{
	bus_wr(&x->pio, port, v, 2);
	piix_ide_wait_idle(x->ide);
}

static void outl(struct fx *x, uint16_t port, uint32_t v)
{
	bus_wr(&x->pio, port, v, 4);
	piix_ide_wait_idle(x->ide);
}
static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->pio, port, 1); }
static uint16_t inw(struct fx *x, uint16_t port) { return (uint16_t)bus_rd(&x->pio, port, 2); }
static uint32_t inl(struct fx *x, uint16_t port) { return (uint32_t)bus_rd(&x->pio, port, 4); }

static void pio_in(struct fx *x, uint16_t base, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 2)
		put_le16((uint8_t *)buf + i, inw(x, base));
}

static void pio_out(struct fx *x, uint16_t base, const void *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 2)
		outw(x, base, get_le16((const uint8_t *)buf + i));
}

/* LBA28 task file, as SeaBIOS and Linux write it. */
static void tf28(struct fx *x, uint16_t base, unsigned dev, uint32_t lba, uint8_t count)
{
	outb(x, base + R_DEV, (uint8_t)(0xE0 | dev << 4 | ((lba >> 24) & 0xF)));
	outb(x, base + R_NSECT, count);
	outb(x, base + R_LBAL, (uint8_t)lba);
	outb(x, base + R_LBAM, (uint8_t)(lba >> 8));
	outb(x, base + R_LBAH, (uint8_t)(lba >> 16));
}

static void tf48(struct fx *x, uint16_t base, unsigned dev, uint64_t lba, uint16_t count)
{
	outb(x, base + R_DEV, (uint8_t)(0xE0 | dev << 4));
	outb(x, base + R_NSECT, (uint8_t)(count >> 8));
	outb(x, base + R_LBAL, (uint8_t)(lba >> 24));
	outb(x, base + R_LBAM, (uint8_t)(lba >> 32));
	outb(x, base + R_LBAH, (uint8_t)(lba >> 40));
	outb(x, base + R_NSECT, (uint8_t)count);
	outb(x, base + R_LBAL, (uint8_t)lba);
	outb(x, base + R_LBAM, (uint8_t)(lba >> 8));
	outb(x, base + R_LBAH, (uint8_t)(lba >> 16));
}

static void attach_disk(struct fx *x, uint64_t size)
{
	x->disk = memdisk_patterned(size, 1, false);
	assert_int_equal(piix_ide_attach_disk(x->ide, 0, 0, &x->disk->bd), 0);
}

static void attach_cd(struct fx *x, unsigned channel, unsigned unit, uint64_t size)
{
	x->cd = memdisk_patterned(size, 7, true);
	assert_int_equal(piix_ide_attach_cdrom(x->ide, channel, unit, &x->cd->bd), 0);
}

static void read_identify(struct fx *x, uint16_t base, uint8_t cmd, uint16_t *id)
{
	outb(x, base + R_CMD, cmd);
	assert_int_equal(inb(x, base + R_STATUS), 0x58);
	for (unsigned i = 0; i < 256; i++)
		id[i] = inw(x, base);
	assert_int_equal(inb(x, base + R_STATUS), 0x50);
}

static void id_string(const uint16_t *id, unsigned first, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = (char)(id[first + i] >> 8);
		out[2 * i + 1] = (char)id[first + i];
	}
	out[2 * n] = 0;
}

/* ---- PCI function ------------------------------------------------------------ */

static void test_pci_config(void **state)
{
	struct fx *x = *state;

	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0, 4), 0x70108086);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0x08, 4) >> 8, 0x010180);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, PCI_COMMAND, 2), 0);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0x20, 4), 0x1);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, PCI_INTERRUPT_PIN, 1), 0);
	/* BAR4 sizes as 16 bytes of I/O. */
	pci_config_write(&x->pci, DEVFN, 0x20, 0xFFFFFFFF, 4);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0x20, 4) & 0xFFFF, 0xFFF1);
	/* SeaBIOS enables decode of both channels; ata_piix reads bit 15 back. */
	pci_config_write(&x->pci, DEVFN, 0x40, 0x8000, 2);
	pci_config_write(&x->pci, DEVFN, 0x42, 0x8000, 2);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0x41, 1) & 0x80, 0x80);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0x43, 1) & 0x80, 0x80);
	/* The legacy ports decode with PCI I/O decode still off. */
	assert_non_null(bus_find(&x->pio, 0x1F7));
	assert_non_null(bus_find(&x->pio, 0x3F6));
	assert_non_null(bus_find(&x->pio, 0x170));
	assert_non_null(bus_find(&x->pio, 0x376));
	assert_null(bus_find(&x->pio, 0x3F7));
}

static void enable_bm(struct fx *x)
{
	pci_config_write(&x->pci, DEVFN, 0x20, BM, 4);
	pci_config_write(&x->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	assert_non_null(bus_find(&x->pio, BM));
}

static void test_bmdma_registers(void **state)
{
	struct fx *x = *state;

	enable_bm(x);
	outl(x, BM + 4, 0x12345);
	assert_int_equal(inl(x, BM + 4), 0x12344); /* dword aligned */
	outb(x, BM + 2, 0x60);
	assert_int_equal(inb(x, BM + 2), 0x60);
	outb(x, BM + 8 + 2, 0x20);
	assert_int_equal(inb(x, BM + 8 + 2), 0x20);
	assert_int_equal(inb(x, BM + 2), 0x60);
	outb(x, BM, 0x08);
	assert_int_equal(inb(x, BM), 0x08);
	outb(x, BM, 0x09); /* start with no command: active, nothing else */
	assert_int_equal(inb(x, BM + 2), 0x61);
	outb(x, BM, 0x00);
	assert_int_equal(inb(x, BM + 2), 0x60);
	/* System reset clears the engine. */
	pci_bus_reset(&x->pci);
	assert_int_equal(pci_config_read(&x->pci, DEVFN, 0x20, 4), 0x1);
	assert_null(bus_find(&x->pio, BM));
	enable_bm(x);
	assert_int_equal(inb(x, BM), 0);
	assert_int_equal(inb(x, BM + 2), 0);
	assert_int_equal(inl(x, BM + 4), 0);
}

/* ---- SeaBIOS probe --------------------------------------------------------- */

static void test_seabios_probe(void **state)
{
	struct fx *x = *state;
	uint16_t id[256];

	attach_disk(x, 64 * 512);
	attach_cd(x, 0, 1, 16 * 2048);

	/* Register latch test on both devices of channel 0. */
	for (unsigned dev = 0; dev < 2; dev++) {
		uint8_t dh = (uint8_t)(0xA0 | dev << 4);
		outb(x, CTL0, 0x0A);
		outb(x, CMD0 + R_DEV, dh);
		outb(x, CMD0 + R_NSECT, 0x55);
		outb(x, CMD0 + R_LBAL, 0xAA);
		outb(x, CMD0 + R_NSECT, 0xAA);
		outb(x, CMD0 + R_LBAL, 0x55);
		outb(x, CMD0 + R_NSECT, 0x55);
		outb(x, CMD0 + R_LBAL, 0xAA);
		outb(x, CMD0 + R_DEV, dh);
		assert_int_equal(inb(x, CMD0 + R_DEV), dh);
		assert_int_equal(inb(x, CMD0 + R_NSECT), 0x55);
		assert_int_equal(inb(x, CMD0 + R_LBAL), 0xAA);
	}
	/* Channel 1 is empty: everything reads 0, so SeaBIOS skips it. */
	outb(x, CMD1 + R_DEV, 0xA0);
	outb(x, CMD1 + R_NSECT, 0x55);
	outb(x, CMD1 + R_LBAL, 0xAA);
	assert_int_equal(inb(x, CMD1 + R_NSECT), 0);
	assert_int_equal(inb(x, CMD1 + R_LBAL), 0);
	assert_int_equal(inb(x, CMD1 + R_STATUS), 0);
	assert_int_equal(inb(x, CTL1), 0);

	/* Soft reset: BSY while SRST is held, then the signatures. */
	outb(x, CTL0, 0x0E);
	assert_int_equal(inb(x, CTL0) & 0x80, 0x80);
	outb(x, CTL0, 0x0A);
	outb(x, CMD0 + R_DEV, 0xA0);
	assert_int_equal(inb(x, CMD0 + R_DEV), 0xA0);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x01);
	assert_int_equal(inb(x, CMD0 + R_NSECT), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0);
	assert_int_equal(inb(x, CMD0 + R_LBAH), 0);
	outb(x, CMD0 + R_DEV, 0xB0);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x00); /* packet device: no DRDY */
	assert_int_equal(inb(x, CMD0 + R_NSECT), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0x14);
	assert_int_equal(inb(x, CMD0 + R_LBAH), 0xEB);

	/* Disk: IDENTIFY PACKET aborts; then IDENTIFY works. */
	outb(x, CMD0 + R_DEV, 0xA0);
	outb(x, CMD0 + R_CMD, 0xA1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[0], 0x0040);
	/* Device 1 exists: word 93 must not claim otherwise. */
	assert_int_not_equal(id[93] & 0xDF61, 0x4041);
	assert_int_equal(id[93] & 0x6030, 0x6030);

	/* CD: IDENTIFY aborts with the signature; IDENTIFY PACKET works. */
	outb(x, CMD0 + R_DEV, 0xB0);
	outb(x, CMD0 + R_CMD, 0xEC);
	assert_int_equal(inb(x, CMD0 + R_STATUS) & 0x01, 0x01);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0x14);
	assert_int_equal(inb(x, CMD0 + R_LBAH), 0xEB);
	read_identify(x, CMD0, 0xA1, id);
	assert_int_equal(id[0], 0x85C0);
	assert_int_equal((id[0] >> 8) & 0x1F, 5);
	char model[41];
	id_string(id, 27, 20, model);
	assert_string_equal(model, "VMM DVD-ROM                             ");
	/* Polling with nIEN: no interrupt was ever raised. */
	assert_int_equal(x->raises[14], 0);
}

static void test_absent_slave(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 64 * 512);
	outb(x, CMD0 + R_DEV, 0xB0);
	outb(x, CMD0 + R_NSECT, 0x55);
	outb(x, CMD0 + R_LBAL, 0xAA);
	/* Registers are latched by the bus, status and error read 0. */
	assert_int_equal(inb(x, CMD0 + R_NSECT), 0x55);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 0xAA);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0);
	assert_int_equal(inb(x, CTL0), 0);
	/* After a soft reset it shows no signature (and no latched junk). */
	outb(x, CTL0, 0x04);
	outb(x, CTL0, 0x00);
	outb(x, CMD0 + R_DEV, 0xB0);
	assert_int_equal(inb(x, CMD0 + R_NSECT), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0xFF);
	assert_int_equal(inb(x, CMD0 + R_LBAH), 0xFF);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0);
	/* A command to it goes nowhere. */
	outb(x, CMD0 + R_CMD, 0xA1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0);
	assert_int_equal(x->raises[14], 0);
	outb(x, CMD0 + R_CMD, 0xEC);
	assert_int_equal(inw(x, CMD0), 0);
	/* The master is untouched. */
	outb(x, CMD0 + R_DEV, 0xA0);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	/* Word 93: device 0 alone. */
	uint16_t id[256];
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[93] & 0x0030, 0);
	assert_int_equal(id[93] & 0x400B, 0x400B);
}

/* ---- ATA disk ------------------------------------------------------------- */

static void test_identify_sizes(void **state)
{
	struct fx *x = *state;
	uint16_t id[256];
	char s[41];
	uint8_t sum = 0;

	attach_disk(x, 3 * 512 + 100); /* the partial sector is not exposed */
	outb(x, CTL0, 0x02);
	outb(x, CMD0 + R_DEV, 0xA0);
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[60] | id[61] << 16, 3);
	assert_int_equal(id[100], 3);
	assert_int_equal(id[101] | id[102] | id[103], 0);
	assert_int_equal(id[57] | id[58] << 16, 3);
	assert_int_equal(id[3], 16);
	assert_int_equal(id[6], 63);
	assert_int_equal(id[1], 1);
	id_string(id, 27, 20, s);
	assert_memory_equal(s, "VMM HARDDISK ", 13);
	id_string(id, 10, 10, s);
	assert_true(s[0] != ' ' && s[0] != 0);
	id_string(id, 23, 4, s);
	assert_memory_equal(s, "1.0 ", 4);
	assert_int_equal(id[47] & 0xFF, 16);
	assert_int_equal(id[49] & 0x0300, 0x0300); /* LBA and DMA */
	assert_int_equal(id[53] & 0x0006, 0x0006);
	assert_int_equal(id[63] & 0x0007, 0x0007);
	assert_int_equal(id[88] & 0x003F, 0x003F);
	assert_int_equal(id[83] & 0x7400, 0x7400); /* LBA48, FLUSH CACHE (EXT) */
	assert_int_equal(id[86] & 0x3400, 0x3400);
	assert_int_equal(id[82] & 0x0020, 0x0020); /* write cache */
	assert_int_equal(id[85] & 0x0020, 0x0020);
	assert_int_equal(id[93] & 0x2000, 0x2000); /* 80-wire cable */
	assert_int_equal(id[255] & 0xFF, 0xA5);
	for (unsigned i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	assert_int_equal(sum, 0);
	/* Transfer mode through SET FEATURES shows in words 63/88. */
	outb(x, CMD0 + R_FEAT, 0x03);
	outb(x, CMD0 + R_NSECT, 0x22); /* MWDMA2 */
	outb(x, CMD0 + R_CMD, 0xEF);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[63], 0x0407);
	assert_int_equal(id[88], 0x003F);
	outb(x, CMD0 + R_FEAT, 0x03);
	outb(x, CMD0 + R_NSECT, 0x45); /* UDMA5 */
	outb(x, CMD0 + R_CMD, 0xEF);
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[88], 0x203F);
	assert_int_equal(id[63], 0x0007);
	outb(x, CMD0 + R_NSECT, 0x46); /* UDMA6 is not offered */
	outb(x, CMD0 + R_FEAT, 0x03);
	outb(x, CMD0 + R_CMD, 0xEF);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
}

static void test_identify_large(void **state)
{
	struct fx *x = *state;
	struct bigdisk *b = calloc(1, sizeof(*b));
	uint64_t n = (1ull << 28) + 1000;
	uint16_t id[256];

	b->bd = (struct block_dev){ .drv = &big_driver, .size = n * 512, .fd = -1, .state = b };
	assert_int_equal(piix_ide_attach_disk(x->ide, 0, 0, &b->bd), 0);
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[60] | (uint32_t)id[61] << 16, 0x0FFFFFFF);
	assert_int_equal(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32, n);
	assert_int_equal(id[1], 16383);
	assert_int_equal(id[57] | (uint32_t)id[58] << 16, 16383 * 16 * 63);
	piix_ide_destroy(x->ide);
	x->ide = NULL;
	free(b);
}

static void test_pio_read(void **state)
{
	struct fx *x = *state;
	uint8_t buf[3 * 512];

	attach_disk(x, 64 * 512);
	tf28(x, CMD0, 0, 5, 3);
	outb(x, CMD0 + R_CMD, 0x20);
	for (unsigned s = 0; s < 3; s++) {
		assert_int_equal(x->level[14], 1);
		assert_int_equal(inb(x, CTL0), 0x58);
		assert_int_equal(x->level[14], 1); /* alt status does not acknowledge */
		assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
		assert_int_equal(x->level[14], 0);
		pio_in(x, CMD0, buf + s * 512, 512);
	}
	assert_int_equal(x->raises[14], 3);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(buf, x->disk->data + 5 * 512, sizeof(buf));

	/* 32-bit data port accesses. */
	tf28(x, CMD0, 0, 30, 4);
	outb(x, CMD0 + R_CMD, 0x21);
	for (unsigned s = 0; s < 4; s++) {
		uint32_t w[128];
		assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
		for (unsigned i = 0; i < 128; i++)
			w[i] = inl(x, CMD0);
		assert_memory_equal(w, x->disk->data + (30 + s) * 512, 512);
	}
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	/* No data phase left: the data port reads 0. */
	assert_int_equal(inw(x, CMD0), 0);
}

static void test_pio_read_count0_is_256(void **state)
{
	struct fx *x = *state;
	uint8_t sec[512];

	attach_disk(x, 300 * 512);
	tf28(x, CMD0, 0, 10, 0);
	outb(x, CMD0 + R_CMD, 0x20);
	for (unsigned s = 0; s < 256; s++) {
		assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
		pio_in(x, CMD0, sec, 512);
		assert_memory_equal(sec, x->disk->data + (10 + s) * 512, 512);
	}
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->raises[14], 256);
}

static void test_pio_write(void **state)
{
	struct fx *x = *state;
	uint8_t buf[2 * 512];

	attach_disk(x, 64 * 512);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xC3 ^ i);
	tf28(x, CMD0, 0, 7, 2);
	outb(x, CMD0 + R_CMD, 0x30);
	assert_int_equal(inb(x, CTL0), 0x58);
	assert_int_equal(x->raises[14], 0); /* no interrupt before the first block */
	pio_out(x, CMD0, buf, 512);
	assert_int_equal(x->raises[14], 1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_out(x, CMD0, buf + 512, 512);
	assert_int_equal(x->raises[14], 2);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->disk->data + 7 * 512, buf, sizeof(buf));
	/* 32-bit data port writes. */
	tf28(x, CMD0, 0, 20, 1);
	outb(x, CMD0 + R_CMD, 0x30);
	for (unsigned i = 0; i < 512; i += 4)
		outl(x, CMD0, 0xA0B0C0D0u + i);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(get_le32(x->disk->data + 20 * 512), 0xA0B0C0D0u);
	assert_int_equal(get_le32(x->disk->data + 20 * 512 + 508), 0xA0B0C0D0u + 508);
	/* The neighbours are untouched. */
	assert_int_equal(x->disk->data[7 * 512 - 1], (uint8_t)((7 * 512 - 1) * 13 + 6 * 5 + 1));
	assert_int_equal(x->disk->data[9 * 512], (uint8_t)(9 * 512 * 13 + 9 * 5 + 1));
}

static void test_multiple(void **state)
{
	struct fx *x = *state;
	uint8_t buf[5 * 512];
	uint16_t id[256];

	attach_disk(x, 64 * 512);
	/* READ MULTIPLE before SET MULTIPLE aborts. */
	tf28(x, CMD0, 0, 0, 1);
	outb(x, CMD0 + R_CMD, 0xC4);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	/* 3 is not a power of two. */
	outb(x, CMD0 + R_NSECT, 3);
	outb(x, CMD0 + R_CMD, 0xC6);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	outb(x, CMD0 + R_NSECT, 2);
	outb(x, CMD0 + R_CMD, 0xC6);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[59], 0x0102);

	x->raises[14] = 0;
	tf28(x, CMD0, 0, 20, 5);
	outb(x, CMD0 + R_CMD, 0xC4);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, buf, 1024);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, buf + 1024, 1024);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, buf + 2048, 512);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->raises[14], 3); /* blocks of 2, 2, 1 */
	assert_memory_equal(buf, x->disk->data + 20 * 512, sizeof(buf));

	/* WRITE MULTIPLE EXT. */
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 29);
	x->raises[14] = 0;
	tf48(x, CMD0, 0, 40, 3);
	outb(x, CMD0 + R_CMD, 0x39);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_out(x, CMD0, buf, 1024);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_out(x, CMD0, buf + 1024, 512);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->raises[14], 2);
	assert_memory_equal(x->disk->data + 40 * 512, buf, 3 * 512);
}

static void test_lba48_beyond_28_bits(void **state)
{
	struct fx *x = *state;
	struct bigdisk *b = calloc(1, sizeof(*b));
	uint64_t n = (1ull << 28) + 1000, lba = (1ull << 28) + 5;
	uint8_t buf[2 * 512], expect[2 * 512];

	b->bd = (struct block_dev){ .drv = &big_driver, .size = n * 512, .fd = -1, .state = b };
	assert_int_equal(piix_ide_attach_disk(x->ide, 0, 0, &b->bd), 0);
	tf48(x, CMD0, 0, lba, 2);
	outb(x, CMD0 + R_CMD, 0x24);
	for (unsigned s = 0; s < 2; s++) {
		assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
		pio_in(x, CMD0, buf + s * 512, 512);
	}
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	for (unsigned i = 0; i < sizeof(expect); i++)
		expect[i] = pattern(lba * 512 + i);
	assert_memory_equal(buf, expect, sizeof(buf));

	/* HOB readback of the address. */
	outb(x, CTL0, 0x80);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 0x10); /* bits 31:24 */
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0);
	outb(x, CTL0, 0x00);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 5);

	/* WRITE SECTORS EXT lands at the 48-bit offset. */
	tf48(x, CMD0, 0, n - 1, 1);
	outb(x, CMD0 + R_CMD, 0x34);
	for (unsigned i = 0; i < 512; i++)
		buf[i] = (uint8_t)(0x5A + i);
	pio_out(x, CMD0, buf, 512);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(b->last_write_off, (n - 1) * 512);
	assert_memory_equal(b->last_write, buf, 512);

	/* One past the end: IDNF, failing address reported. */
	tf48(x, CMD0, 0, n - 1, 2);
	outb(x, CMD0 + R_CMD, 0x24);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x10);
	piix_ide_destroy(x->ide);
	x->ide = NULL;
	free(b);
}

static void test_read_past_end(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 64 * 512);
	outb(x, CTL0, 0x00);
	tf28(x, CMD0, 0, 63, 2);
	outb(x, CMD0 + R_CMD, 0x20);
	assert_int_equal(x->level[14], 1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x10);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 64); /* first address that failed */
	assert_int_equal(inw(x, CMD0), 0); /* no data phase */
	/* The last sector alone is fine. */
	uint8_t sec[512];
	tf28(x, CMD0, 0, 63, 1);
	outb(x, CMD0 + R_CMD, 0x20);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, sec, 512);
	assert_memory_equal(sec, x->disk->data + 63 * 512, 512);
	/* Writes and verifies past the end fail the same way. */
	tf28(x, CMD0, 0, 64, 1);
	outb(x, CMD0 + R_CMD, 0x30);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x10);
	tf28(x, CMD0, 0, 60, 8);
	outb(x, CMD0 + R_CMD, 0x40);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	tf28(x, CMD0, 0, 56, 8);
	outb(x, CMD0 + R_CMD, 0x40);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
}

static void test_chs_and_misc_commands(void **state)
{
	struct fx *x = *state;
	uint8_t sec[512];

	attach_disk(x, 2000 * 512);
	/* CHS: cylinder 1, head 2, sector 3 = (1*16 + 2)*63 + 2. */
	outb(x, CMD0 + R_DEV, 0xA2);
	outb(x, CMD0 + R_NSECT, 1);
	outb(x, CMD0 + R_LBAL, 3);
	outb(x, CMD0 + R_LBAM, 1);
	outb(x, CMD0 + R_LBAH, 0);
	outb(x, CMD0 + R_CMD, 0x20);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, sec, 512);
	assert_memory_equal(sec, x->disk->data + ((1 * 16 + 2) * 63 + 2) * 512, 512);
	/* Sector 0 does not exist in CHS. */
	outb(x, CMD0 + R_LBAL, 0);
	outb(x, CMD0 + R_CMD, 0x20);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x10);
	/* INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors. */
	outb(x, CMD0 + R_DEV, 0xA3);
	outb(x, CMD0 + R_NSECT, 17);
	outb(x, CMD0 + R_CMD, 0x91);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	outb(x, CMD0 + R_DEV, 0xA1);
	outb(x, CMD0 + R_NSECT, 1);
	outb(x, CMD0 + R_LBAL, 5);
	outb(x, CMD0 + R_LBAM, 2);
	outb(x, CMD0 + R_CMD, 0x20);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, sec, 512);
	assert_memory_equal(sec, x->disk->data + ((2 * 4 + 1) * 17 + 4) * 512, 512);

	/* NOP aborts; RECALIBRATE, SEEK, IDLE succeed; CHECK POWER MODE. */
	outb(x, CMD0 + R_DEV, 0xE0);
	outb(x, CMD0 + R_CMD, 0x00);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	outb(x, CMD0 + R_CMD, 0x10);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x00);
	outb(x, CMD0 + R_CMD, 0x70);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	outb(x, CMD0 + R_CMD, 0xE0); /* STANDBY IMMEDIATE */
	outb(x, CMD0 + R_CMD, 0xE5);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(inb(x, CMD0 + R_NSECT), 0x00);
	outb(x, CMD0 + R_CMD, 0xE1); /* IDLE IMMEDIATE */
	outb(x, CMD0 + R_CMD, 0xE5);
	assert_int_equal(inb(x, CMD0 + R_NSECT), 0xFF);
	/* An unknown opcode aborts. */
	outb(x, CMD0 + R_CMD, 0xF0);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	/* EXECUTE DEVICE DIAGNOSTIC: signature, code 01h, interrupt. */
	x->raises[14] = 0;
	outb(x, CMD0 + R_CMD, 0x90);
	assert_int_equal(x->raises[14], 1);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x01);
	assert_int_equal(inb(x, CMD0 + R_NSECT), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAL), 1);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0);
}

static void test_flush_cache(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 64 * 512);
	outb(x, CMD0 + R_DEV, 0xE0);
	outb(x, CMD0 + R_CMD, 0xE7);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->disk->flushes, 1);
	outb(x, CMD0 + R_CMD, 0xEA);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->disk->flushes, 2);
	/* With the write cache off, every write is flushed. */
	outb(x, CMD0 + R_FEAT, 0x82);
	outb(x, CMD0 + R_CMD, 0xEF);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	int before = x->disk->flushes;
	uint8_t sec[512] = { 1, 2, 3 };
	tf28(x, CMD0, 0, 1, 1);
	outb(x, CMD0 + R_CMD, 0x30);
	pio_out(x, CMD0, sec, 512);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->disk->flushes, before + 1);
	uint16_t id[256];
	read_identify(x, CMD0, 0xEC, id);
	assert_int_equal(id[85] & 0x20, 0);
}

static void test_nien_and_irq(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 64 * 512);
	attach_cd(x, 1, 0, 4 * 2048);
	/* nIEN set: the interrupt stays pending but the line stays low. */
	outb(x, CTL0, 0x02);
	outb(x, CMD0 + R_DEV, 0xE0);
	outb(x, CMD0 + R_CMD, 0xE7);
	assert_int_equal(x->level[14], 0);
	/* Clearing nIEN exposes the pending interrupt; status read acks it. */
	outb(x, CTL0, 0x00);
	assert_int_equal(x->level[14], 1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(x->level[14], 0);
	/* Channel 1 uses IRQ 15. */
	outb(x, CMD1 + R_DEV, 0xA0);
	outb(x, CMD1 + R_CMD, 0xE1);
	assert_int_equal(x->level[15], 1);
	assert_int_equal(x->level[14], 0);
	inb(x, CMD1 + R_STATUS);
	assert_int_equal(x->level[15], 0);
	/* Writing a command drops a pending interrupt. */
	outb(x, CMD0 + R_CMD, 0xE1);
	assert_int_equal(x->level[14], 1);
	outb(x, CMD0 + R_CMD, 0xE1);
	assert_int_equal(x->level[14], 1);
	assert_int_equal(x->raises[14], 3);
	/* SRST drops it too, and raises nothing. */
	outb(x, CTL0, 0x04);
	assert_int_equal(x->level[14], 0);
	outb(x, CTL0, 0x00);
	assert_int_equal(x->level[14], 0);
	assert_int_equal(x->raises[14], 3);
	/* A read-only disk refuses writes. */
	x->disk->bd.read_only = true;
	tf28(x, CMD0, 0, 1, 1);
	outb(x, CMD0 + R_CMD, 0x30);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	x->disk->bd.read_only = false;
}

/* ---- bus-master DMA --------------------------------------------------------- */

static void prd(struct fx *x, uint32_t table, unsigned i, uint32_t addr, uint32_t count, bool eot)
{
	uint8_t *e = x->ram + table + 8 * i;
	put_le32(e, addr);
	put_le16(e + 4, (uint16_t)count);
	put_le16(e + 6, eot ? 0x8000 : 0);
}

/* READ DMA of 'count' sectors at 'lba' into the table at 'table', in
 * Linux's order: PRD address, direction, status cleared, interrupts on,
 * task file, command; the engine is not started yet. */
static void read_dma_before_start(struct fx *x, uint32_t table, uint32_t lba, uint8_t count)
{
	outl(x, BM + 4, table);
	outb(x, BM, 0x08);
	outb(x, BM + 2, 0x06);
	outb(x, CTL0, 0x00);
	tf28(x, CMD0, 0, lba, count);
	outb(x, CMD0 + R_CMD, 0xC8);
}

static void test_dma_read_write(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 256 * 512);
	enable_bm(x);
	prd(x, 0x1000, 0, 0x20000, 512, false);
	prd(x, 0x1000, 1, 0x30000, 1024, true);
	read_dma_before_start(x, 0x1000, 10, 3);
	assert_int_equal(inb(x, CTL0), 0x58); /* waiting for the engine */
	assert_int_equal(x->level[14], 0);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2), 0x04); /* done: not active, interrupt */
	assert_int_equal(x->level[14], 1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->ram + 0x20000, x->disk->data + 10 * 512, 512);
	assert_memory_equal(x->ram + 0x30000, x->disk->data + 11 * 512, 1024);
	outb(x, BM, 0x08);
	outb(x, BM + 2, 0x04);
	assert_int_equal(inb(x, BM + 2), 0x00);

	/* WRITE DMA EXT with the engine started first. */
	for (unsigned i = 0; i < 1536; i++)
		x->ram[0x40000 + i] = (uint8_t)(i * 11 + 3);
	prd(x, 0x2000, 0, 0x40000, 1536, true);
	outl(x, BM + 4, 0x2000);
	outb(x, BM, 0x01);
	tf48(x, CMD0, 0, 100, 3);
	outb(x, CMD0 + R_CMD, 0x35);
	assert_int_equal(inb(x, BM + 2), 0x04);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->disk->data + 100 * 512, x->ram + 0x40000, 1536);
	outb(x, BM, 0x00);
	outb(x, BM + 2, 0x06);

	/* PRDs larger than the transfer: the engine stays active, no error. */
	prd(x, 0x1000, 0, 0x20000, 4096, true);
	outl(x, BM + 4, 0x1000);
	outb(x, BM, 0x08);
	tf28(x, CMD0, 0, 50, 1);
	outb(x, CMD0 + R_CMD, 0xC8);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2), 0x05);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->ram + 0x20000, x->disk->data + 50 * 512, 512);
	outb(x, BM, 0x08);
	assert_int_equal(inb(x, BM + 2), 0x04);
	outb(x, BM + 2, 0x04);

	/* Without bus mastering enabled in PCI COMMAND, nothing moves. */
	pci_config_write(&x->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	memset(x->ram + 0x20000, 0, 512);
	tf28(x, CMD0, 0, 60, 1);
	outb(x, CMD0 + R_CMD, 0xC8);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	assert_int_equal(x->ram[0x20000] | x->ram[0x20001], 0);
}

/* Starts a READ DMA of 'count' sectors at LBA 0 with the table at 'table'
 * and checks that it fails with the engine's error bit. */
static void dma_expect_error(struct fx *x, uint32_t table, uint8_t count)
{
	outb(x, BM, 0x00);
	outb(x, BM + 2, 0x06);
	outl(x, BM + 4, table);
	outb(x, BM, 0x08);
	tf28(x, CMD0, 0, 0, count);
	outb(x, CMD0 + R_CMD, 0xC8);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2) & 0x03, 0x02); /* error, not active */
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x51);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x04);
	assert_int_equal(x->level[14], 0);
}

/* The transfer runs on the channel's worker: quiesced, a started transfer
 * waits with the drive BSY and no interrupt; resume lets it end, with the
 * data, the engine's status and the interrupt as when it ran at once. */
static void test_dma_runs_on_the_worker(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 256 * 512);
	enable_bm(x);
	prd(x, 0x1000, 0, 0x20000, 1024, true);
	read_dma_before_start(x, 0x1000, 20, 2);
	piix_ide_quiesce(x->ide);
	bus_wr(&x->pio, BM, 0x09, 1); /* start: queued, not run */
	assert_int_equal(inb(x, CTL0), 0x80);
	assert_int_equal(inb(x, BM + 2), 0x01); /* active */
	assert_int_equal(x->level[14], 0);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(x->ram[0x20000 + i], 0);
	piix_ide_resume(x->ide);
	piix_ide_wait_idle(x->ide);
	assert_int_equal(inb(x, BM + 2), 0x04);
	assert_int_equal(x->level[14], 1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->ram + 0x20000, x->disk->data + 20 * 512, 1024);
}

static void test_dma_hostile(void **state)
{
	struct fx *x = *state;

	attach_disk(x, 256 * 512);
	enable_bm(x);
	outb(x, CTL0, 0x00);

	/* A buffer that runs past the end of RAM. */
	prd(x, 0x1000, 0, RAM_SIZE - 256, 512, true);
	dma_expect_error(x, 0x1000, 1);
	/* A buffer far outside RAM (in the PCI hole). */
	prd(x, 0x1000, 0, 0xFEC00000, 512, true);
	dma_expect_error(x, 0x1000, 1);
	/* The PRD table itself at the very end of RAM: entry 0 is half outside. */
	dma_expect_error(x, RAM_SIZE - 4, 1);
	/* The table outside RAM. */
	dma_expect_error(x, 0xF0000000, 1);
	/* Count 0 = 64 KiB, from 32 KiB below the end of RAM. */
	prd(x, 0x1000, 0, RAM_SIZE - 0x8000, 0, true);
	dma_expect_error(x, 0x1000, 128);
	/* PRDs shorter than the transfer. */
	prd(x, 0x1000, 0, 0x20000, 512, true);
	dma_expect_error(x, 0x1000, 2);
	/* An endless table of tiny entries: it runs off its 64 KiB page. */
	for (unsigned i = 0; i < 8192; i++)
		prd(x, 0x10000, i, 0x40000, 2, false);
	dma_expect_error(x, 0x10000, 64);
	/* A table starting 4 bytes before a 64 KiB boundary straddles it. */
	prd(x, 0x2FFFC - 0x2FFFC % 8, 0, 0x20000, 512, false);
	dma_expect_error(x, 0x2FFFC, 1);
	/* The disk was never touched and the engine still works afterwards. */
	prd(x, 0x1000, 0, 0x20000, 512, true);
	outb(x, BM, 0x00);
	outb(x, BM + 2, 0x06);
	outl(x, BM + 4, 0x1000);
	outb(x, BM, 0x08);
	tf28(x, CMD0, 0, 3, 1);
	outb(x, CMD0 + R_CMD, 0xC8);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2), 0x04);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->ram + 0x20000, x->disk->data + 3 * 512, 512);
}

/* ---- ATAPI --------------------------------------------------------------------- */

/* Sends a PACKET command; returns the status after the command phase. */
static uint8_t packet(struct fx *x, const uint8_t *cdb, uint16_t limit, bool dma)
{
	outb(x, CMD0 + R_FEAT, dma ? 1 : 0);
	outb(x, CMD0 + R_LBAM, (uint8_t)limit);
	outb(x, CMD0 + R_LBAH, (uint8_t)(limit >> 8));
	outb(x, CMD0 + R_CMD, 0xA0);
	assert_int_equal(inb(x, CTL0) & 0x88, 0x08);
	assert_int_equal(inb(x, CMD0 + R_NSECT) & 3, 1); /* CoD=1, IO=0 */
	pio_out(x, CMD0, cdb, 12);
	return inb(x, CTL0);
}

/* Runs a PIO data-in command and collects every DRQ block. Returns the
 * byte count, or -(sense key) on CHECK CONDITION. */
static int atapi_in(struct fx *x, const uint8_t *cdb, uint16_t limit, uint8_t *buf, size_t max,
		    unsigned *blocks)
{
	size_t got = 0;
	unsigned n = 0;

	packet(x, cdb, limit, false);
	for (;;) {
		uint8_t st = inb(x, CMD0 + R_STATUS);
		uint8_t ir = inb(x, CMD0 + R_NSECT) & 3;
		if (!(st & 0x08)) {
			assert_int_equal(ir, 3); /* CoD=1, IO=1: completed */
			if (blocks)
				*blocks = n;
			if (st & 0x01)
				return -(inb(x, CMD0 + R_ERR) >> 4);
			return (int)got;
		}
		assert_int_equal(ir, 2); /* IO=1, data to the host */
		unsigned len = inb(x, CMD0 + R_LBAM) | inb(x, CMD0 + R_LBAH) << 8;
		/* never empty; at most the limit, or one word for a limit of 1 */
		assert_true(len > 0);
		assert_true(len <= limit || limit == 0 || (limit == 1 && len == 2));
		assert_true(got + len <= max);
		assert_true(n < 65536);
		pio_in(x, CMD0, buf + got, (len + 1) & ~1u);
		got += len;
		n++;
	}
}

static void request_sense(struct fx *x, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
	uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 }, s[18];
	assert_int_equal(atapi_in(x, cdb, 2048, s, sizeof(s), NULL), 18);
	assert_int_equal(s[0], 0x70);
	assert_int_equal(s[7], 10);
	*key = s[2];
	*asc = s[12];
	*ascq = s[13];
}

static void expect_sense(struct fx *x, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t k, a, q;
	request_sense(x, &k, &a, &q);
	assert_int_equal(k, key);
	assert_int_equal(a, asc);
	assert_int_equal(q, ascq);
}

static int tur(struct fx *x)
{
	uint8_t cdb[12] = { 0 };
	return atapi_in(x, cdb, 2048, NULL, 0, NULL);
}

static void cd_select(struct fx *x)
{
	outb(x, CTL0, 0x00);
	outb(x, CMD0 + R_DEV, 0xA0);
}

static void test_atapi_no_medium(void **state)
{
	struct fx *x = *state;
	uint8_t buf[64];

	assert_int_equal(piix_ide_attach_cdrom(x->ide, 0, 0, NULL), 0);
	cd_select(x);
	x->raises[14] = 0;
	assert_int_equal(tur(x), -2);
	assert_int_equal(x->raises[14], 1); /* no interrupt for the packet phase */
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x20);
	expect_sense(x, 2, 0x3A, 0);
	/* Sense is cleared once read. */
	expect_sense(x, 0, 0, 0);
	uint8_t cap[12] = { 0x25 };
	assert_int_equal(atapi_in(x, cap, 2048, buf, sizeof(buf), NULL), -2);
	/* INQUIRY works without a medium. */
	uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
	assert_int_equal(atapi_in(x, inq, 2048, buf, sizeof(buf), NULL), 36);
	/* So does MODE SENSE page 2Ah. */
	uint8_t ms[12] = { 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 64 };
	assert_int_equal(atapi_in(x, ms, 2048, buf, sizeof(buf), NULL), 30);
	assert_int_equal(buf[8], 0x2A);
}

static void test_atapi_basic(void **state)
{
	struct fx *x = *state;
	uint8_t buf[256];

	attach_cd(x, 0, 0, 100 * 2048 + 1000);
	cd_select(x);
	/* Freshly attached: ready, no unit attention. */
	assert_int_equal(tur(x), 0);
	assert_int_equal(inb(x, CMD0 + R_STATUS) & 0x89, 0);

	uint8_t inq[12] = { 0x12, 0, 0, 0, 96 };
	assert_int_equal(atapi_in(x, inq, 2048, buf, sizeof(buf), NULL), 36);
	assert_int_equal(buf[0], 0x05);
	assert_int_equal(buf[1], 0x80);
	assert_memory_equal(buf + 8, "VMM     VMM DVD-ROM     ", 24);
	/* Allocation length truncates. */
	inq[4] = 5;
	assert_int_equal(atapi_in(x, inq, 2048, buf, sizeof(buf), NULL), 5);

	uint8_t cap[12] = { 0x25 };
	assert_int_equal(atapi_in(x, cap, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(get_be32(buf), 99);
	assert_int_equal(get_be32(buf + 4), 2048);

	/* MODE SENSE(10), page 2Ah: header of 8, page of 22. */
	uint8_t ms[12] = { 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 255 };
	assert_int_equal(atapi_in(x, ms, 2048, buf, sizeof(buf), NULL), 30);
	assert_int_equal(get_be16(buf), 28);
	assert_int_equal(buf[8], 0x2A);
	assert_int_equal(buf[9], 0x14);
	assert_int_equal(buf[14] & 0x08, 0x08); /* eject */
	/* MODE SENSE(6), all pages. */
	uint8_t ms6[12] = { 0x1A, 0, 0x3F, 0, 255 };
	assert_int_equal(atapi_in(x, ms6, 2048, buf, sizeof(buf), NULL), 34);
	assert_int_equal(buf[0], 33);
	assert_int_equal(buf[4], 0x01);
	assert_int_equal(buf[12], 0x2A);
	/* An unsupported page, and saved values. */
	ms[2] = 0x05;
	assert_int_equal(atapi_in(x, ms, 2048, buf, sizeof(buf), NULL), -5);
	expect_sense(x, 5, 0x24, 0);
	ms[2] = 0xEA;
	assert_int_equal(atapi_in(x, ms, 2048, buf, sizeof(buf), NULL), -5);
	expect_sense(x, 5, 0x39, 0);

	/* GET CONFIGURATION: CD-ROM profile current. */
	uint8_t gc[12] = { 0x46, 0, 0, 0, 0, 0, 0, 1, 0 };
	int n = atapi_in(x, gc, 2048, buf, sizeof(buf), NULL);
	assert_true(n > 16);
	assert_int_equal(get_be32(buf), (uint32_t)n - 4);
	assert_int_equal(get_be16(buf + 6), 0x0008);
	assert_int_equal(get_be16(buf + 8), 0x0000); /* profile list first */
	/* RT=2 with feature 0010h: only Random Readable. */
	uint8_t gc2[12] = { 0x46, 2, 0x00, 0x10, 0, 0, 0, 1, 0 };
	assert_int_equal(atapi_in(x, gc2, 2048, buf, sizeof(buf), NULL), 20);
	assert_int_equal(get_be16(buf + 8), 0x0010);
	assert_int_equal(buf[10] & 1, 1);
	assert_int_equal(get_be32(buf + 12), 2048);

	/* READ DISC INFORMATION. */
	uint8_t di[12] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 };
	assert_int_equal(atapi_in(x, di, 2048, buf, sizeof(buf), NULL), 34);
	assert_int_equal(get_be16(buf), 32);
	assert_int_equal(buf[2] & 3, 2);

	/* Accepted no-data commands. */
	uint8_t speed[12] = { 0xBB, 0, 0xFF, 0xFF };
	assert_int_equal(atapi_in(x, speed, 2048, buf, sizeof(buf), NULL), 0);
	uint8_t seek[12] = { 0x2B, 0, 0, 0, 0, 50 };
	assert_int_equal(atapi_in(x, seek, 2048, buf, sizeof(buf), NULL), 0);
	seek[5] = 100;
	assert_int_equal(atapi_in(x, seek, 2048, buf, sizeof(buf), NULL), -5);
	expect_sense(x, 5, 0x21, 0);
	uint8_t mech[12] = { 0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
	assert_int_equal(atapi_in(x, mech, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[1] & 0x10, 0);

	/* Unknown command: ILLEGAL REQUEST, invalid opcode. */
	uint8_t bad[12] = { 0xFF };
	assert_int_equal(atapi_in(x, bad, 2048, buf, sizeof(buf), NULL), -5);
	assert_int_equal(inb(x, CMD0 + R_ERR), 0x50);
	expect_sense(x, 5, 0x20, 0);
	/* WRITE(10) is not offered either. */
	uint8_t wr[12] = { 0x2A, 0, 0, 0, 0, 0, 0, 0, 1 };
	assert_int_equal(atapi_in(x, wr, 2048, buf, sizeof(buf), NULL), -5);
	expect_sense(x, 5, 0x20, 0);
}

static void test_atapi_read(void **state)
{
	struct fx *x = *state;
	uint8_t *buf = calloc(1, 64 * 1024);
	unsigned blocks;

	attach_cd(x, 0, 0, 100 * 2048);
	cd_select(x);
	/* READ(10) of 2 blocks at LBA 0x11, limit 2048: two DRQ blocks. */
	uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 0x11, 0, 0, 2 };
	x->raises[14] = 0;
	assert_int_equal(atapi_in(x, rd, 2048, buf, 64 * 1024, &blocks), 4096);
	assert_int_equal(blocks, 2);
	assert_int_equal(x->raises[14], 3); /* two blocks and completion */
	assert_memory_equal(buf, x->cd->data + 0x11 * 2048, 4096);
	/* A large limit: one block. */
	assert_int_equal(atapi_in(x, rd, 0xFFFF, buf, 64 * 1024, &blocks), 4096);
	assert_int_equal(blocks, 1);
	/* An odd limit below a sector: even chunks. */
	memset(buf, 0, 4096);
	assert_int_equal(atapi_in(x, rd, 1001, buf, 64 * 1024, &blocks), 4096);
	assert_int_equal(blocks, 5); /* 1000 x4 + 96 */
	assert_memory_equal(buf, x->cd->data + 0x11 * 2048, 4096);
	/* Issue 12, hole 8: a limit of 1 gave empty blocks forever; now it is
	 * one word per block (and a limit of 3, rounded down, the same). */
	memset(buf, 0, 4096);
	assert_int_equal(atapi_in(x, rd, 1, buf, 64 * 1024, &blocks), 4096);
	assert_int_equal(blocks, 2048);
	assert_memory_equal(buf, x->cd->data + 0x11 * 2048, 4096);
	assert_int_equal(atapi_in(x, rd, 3, buf, 64 * 1024, &blocks), 4096);
	assert_int_equal(blocks, 2048);
	/* An odd reply (INQUIRY cut to 35 bytes) under a limit of 1: 17
	 * words, then the odd last byte. */
	uint8_t inq35[12] = { 0x12, 0, 0, 0, 35 };
	assert_int_equal(atapi_in(x, inq35, 1, buf, 64 * 1024, &blocks), 35);
	assert_int_equal(blocks, 18);
	assert_memory_equal(buf + 8, "VMM     ", 8);
	/* READ(12) and READ CD (user data). */
	uint8_t rd12[12] = { 0xA8, 0, 0, 0, 0, 98, 0, 0, 0, 2 };
	assert_int_equal(atapi_in(x, rd12, 0x8000, buf, 64 * 1024, NULL), 4096);
	assert_memory_equal(buf, x->cd->data + 98 * 2048, 4096);
	uint8_t rcd[12] = { 0xBE, 0, 0, 0, 0, 3, 0, 0, 1, 0x10 };
	assert_int_equal(atapi_in(x, rcd, 0x8000, buf, 64 * 1024, NULL), 2048);
	assert_memory_equal(buf, x->cd->data + 3 * 2048, 2048);
	rcd[9] = 0xF8; /* raw sectors are not emulated */
	assert_int_equal(atapi_in(x, rcd, 0x8000, buf, 64 * 1024, NULL), -5);
	/* Past the end: LBA out of range. */
	rd12[5] = 99;
	assert_int_equal(atapi_in(x, rd12, 0x8000, buf, 64 * 1024, NULL), -5);
	expect_sense(x, 5, 0x21, 0);
	/* Zero blocks: no data phase. */
	rd[8] = 0;
	assert_int_equal(atapi_in(x, rd, 2048, buf, 64 * 1024, &blocks), 0);
	assert_int_equal(blocks, 0);

	/* DMA: PACKET with the DMA feature bit, the engine started after the CDB. */
	enable_bm(x);
	prd(x, 0x1000, 0, 0x20000, 2048, false);
	prd(x, 0x1000, 1, 0x28000, 4096, true);
	outl(x, BM + 4, 0x1000);
	outb(x, BM, 0x08);
	uint8_t rdd[12] = { 0x28, 0, 0, 0, 0, 40, 0, 0, 3 };
	x->raises[14] = 0;
	uint8_t st = packet(x, rdd, 0, true);
	assert_int_equal(st & 0x08, 0x08);
	assert_int_equal(x->raises[14], 0);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2), 0x04);
	assert_int_equal(x->raises[14], 1);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_int_equal(inb(x, CMD0 + R_NSECT) & 3, 3);
	assert_memory_equal(x->ram + 0x20000, x->cd->data + 40 * 2048, 2048);
	assert_memory_equal(x->ram + 0x28000, x->cd->data + 41 * 2048, 4096);
	/* DMA of a small reply (INQUIRY) into larger PRDs. */
	outb(x, BM, 0x08);
	outb(x, BM + 2, 0x06);
	uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
	packet(x, inq, 0, true);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2), 0x05);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(x->ram + 0x20008, "VMM     ", 8);
	/* A PRD outside guest RAM: engine error, CHECK CONDITION, RAM untouched. */
	outb(x, BM, 0x08);
	outb(x, BM + 2, 0x06);
	prd(x, 0x1000, 0, RAM_SIZE - 1024, 2048, true);
	memset(x->ram + RAM_SIZE - 1024, 0xEE, 1024);
	packet(x, rd, 0xFFFE, true); /* READ(10) of 0 blocks: no data, no DMA */
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	rd[8] = 1;
	packet(x, rd, 0xFFFE, true);
	outb(x, BM, 0x09);
	assert_int_equal(inb(x, BM + 2) & 0x03, 0x02);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x41);
	assert_int_equal(inb(x, CMD0 + R_ERR) >> 4, 0x0B);
	assert_int_equal(x->ram[RAM_SIZE - 1024], 0xEE);
	assert_int_equal(x->ram[RAM_SIZE - 1], 0xEE);
	outb(x, BM, 0x00);
	expect_sense(x, 0x0B, 0, 0);
	free(buf);
}

static void test_atapi_toc(void **state)
{
	struct fx *x = *state;
	uint8_t buf[256];

	attach_cd(x, 0, 0, 1000 * 2048);
	cd_select(x);
	/* Format 0, LBA. */
	uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 200 };
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), 20);
	assert_int_equal(get_be16(buf), 18);
	assert_int_equal(buf[2], 1);
	assert_int_equal(buf[3], 1);
	assert_int_equal(buf[5], 0x14);
	assert_int_equal(buf[6], 1);
	assert_int_equal(get_be32(buf + 8), 0);
	assert_int_equal(buf[14], 0xAA);
	assert_int_equal(get_be32(buf + 16), 1000);
	/* Format 0, MSF: 1000 + 150 frames = 00:15:25. */
	toc[1] = 2;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), 20);
	assert_memory_equal(buf + 8, "\x00\x00\x02\x00", 4);
	assert_memory_equal(buf + 16, "\x00\x00\x0f\x19", 4);
	/* Lead-out only. */
	toc[1] = 0;
	toc[6] = 0xAA;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), 12);
	assert_int_equal(buf[6], 0xAA);
	toc[6] = 5;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), -5);
	toc[6] = 0;
	/* Format 1: session info. */
	toc[2] = 1;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), 12);
	assert_int_equal(get_be16(buf), 10);
	assert_int_equal(buf[6], 1);
	/* Format 2: raw TOC, A2 = lead-out in MSF. */
	toc[2] = 2;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), 48);
	assert_int_equal(get_be16(buf), 46);
	assert_int_equal(buf[4 + 3], 0xA0);
	assert_int_equal(buf[4 + 22 + 3], 0xA2);
	assert_memory_equal(buf + 4 + 22 + 8, "\x00\x0f\x19", 3);
	assert_int_equal(buf[4 + 33 + 3], 1);
	/* Allocation length truncates but keeps the full length field. */
	toc[2] = 0;
	toc[8] = 4;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), 4);
	assert_int_equal(get_be16(buf), 18);
	/* Format 5 is not supported. */
	toc[2] = 5;
	toc[8] = 200;
	assert_int_equal(atapi_in(x, toc, 2048, buf, sizeof(buf), NULL), -5);
}

static void test_atapi_media_change(void **state)
{
	struct fx *x = *state;
	uint8_t buf[64];
	struct block_dev *old = NULL;

	attach_cd(x, 0, 0, 10 * 2048);
	cd_select(x);
	assert_int_equal(tur(x), 0);
	/* Eject from the host side. */
	assert_int_equal(ide_cdrom_change_media(x->ide, 0, 0, NULL, &old), 0);
	assert_ptr_equal(old, &x->cd->bd);
	assert_int_equal(tur(x), -2);
	expect_sense(x, 2, 0x3A, 0);
	uint8_t gesn[12] = { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8 };
	assert_int_equal(atapi_in(x, gesn, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[2], 4);
	assert_int_equal(buf[4], 3); /* media removal */
	assert_int_equal(buf[5] & 2, 0);
	/* Insert another disc. */
	x->cd2_data = calloc(1, 20 * 2048);
	x->cd2_data[5 * 2048] = 0x77;
	x->cd2 = block_open_memory(x->cd2_data, 20 * 2048, true);
	assert_int_equal(ide_cdrom_change_media(x->ide, 0, 0, x->cd2, &old), 0);
	assert_null(old);
	/* INQUIRY and GESN do not consume the unit attention. */
	uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
	assert_int_equal(atapi_in(x, inq, 2048, buf, sizeof(buf), NULL), 36);
	assert_int_equal(atapi_in(x, gesn, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[4], 2); /* new media */
	assert_int_equal(buf[5] & 2, 2);
	assert_int_equal(atapi_in(x, gesn, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[4], 0); /* reported once */
	/* The next other command gets it, once. */
	assert_int_equal(tur(x), -6);
	expect_sense(x, 6, 0x28, 0);
	assert_int_equal(tur(x), 0);
	uint8_t cap[12] = { 0x25 };
	assert_int_equal(atapi_in(x, cap, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(get_be32(buf), 19);
	uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 5, 0, 0, 1 };
	uint8_t sec[2048];
	assert_int_equal(atapi_in(x, rd, 2048, sec, sizeof(sec), NULL), 2048);
	assert_int_equal(sec[0], 0x77);
	/* REQUEST SENSE reports a pending unit attention and clears it. */
	assert_int_equal(ide_cdrom_change_media(x->ide, 0, 0, x->cd2, NULL), 0);
	expect_sense(x, 6, 0x28, 0);
	assert_int_equal(tur(x), 0);
	/* Not a CD drive. */
	assert_int_equal(ide_cdrom_change_media(x->ide, 1, 0, NULL, NULL), -ENODEV);

	/* Guest eject: refused while locked, then the tray opens. */
	uint8_t lock[12] = { 0x1E, 0, 0, 0, 1 };
	assert_int_equal(atapi_in(x, lock, 2048, buf, sizeof(buf), NULL), 0);
	uint8_t eject[12] = { 0x1B, 0, 0, 0, 0x02 };
	assert_int_equal(atapi_in(x, eject, 2048, buf, sizeof(buf), NULL), -5);
	expect_sense(x, 5, 0x53, 0x02);
	lock[4] = 0;
	assert_int_equal(atapi_in(x, lock, 2048, buf, sizeof(buf), NULL), 0);
	assert_int_equal(atapi_in(x, eject, 2048, buf, sizeof(buf), NULL), 0);
	assert_int_equal(tur(x), -2);
	expect_sense(x, 2, 0x3A, 0x02);
	uint8_t mech[12] = { 0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
	assert_int_equal(atapi_in(x, mech, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[1] & 0x10, 0x10);
	eject[4] = 0x03; /* load */
	assert_int_equal(atapi_in(x, eject, 2048, buf, sizeof(buf), NULL), 0);
	assert_int_equal(tur(x), 0);
}

static unsigned tray_notes, tray_note_slot;

static void note_tray(void *opaque, unsigned channel, unsigned unit)
{
	tray_notes++;
	tray_note_slot = channel * 2 + unit;
}

/* The host's tray steps (QMP eject, blockdev-change-medium): what the
 * guest sees at each, and the guest's lock. */
static void test_atapi_host_tray(void **state)
{
	struct fx *x = *state;
	uint8_t buf[64], sec[2048];
	uint8_t gesn[12] = { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8 };
	uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 5, 0, 0, 1 };
	struct block_dev *old = NULL;
	struct ide_cdrom_state st;

	attach_cd(x, 0, 0, 10 * 2048);
	cd_select(x);
	assert_int_equal(tur(x), 0);
	assert_int_equal(ide_cdrom_get_state(x->ide, 0, 0, &st), 0);
	assert_false(st.tray_open);
	assert_false(st.locked);
	assert_ptr_equal(st.medium, &x->cd->bd);
	/* Not a CD drive; a disc only goes in or out of an open tray. */
	assert_int_equal(ide_cdrom_get_state(x->ide, 1, 0, &st), -ENODEV);
	assert_int_equal(ide_cdrom_open_tray(x->ide, 1, 0, false), -ENODEV);
	assert_int_equal(ide_cdrom_set_medium(x->ide, 0, 0, NULL, &old), -EAGAIN);

	/* The guest locks the tray: the host's eject only raises an eject
	 * request (GESN event 1) and the disc stays readable. */
	uint8_t lock[12] = { 0x1E, 0, 0, 0, 1 };
	assert_int_equal(atapi_in(x, lock, 2048, buf, sizeof(buf), NULL), 0);
	assert_int_equal(ide_cdrom_get_state(x->ide, 0, 0, &st), 0);
	assert_true(st.locked);
	assert_int_equal(ide_cdrom_open_tray(x->ide, 0, 0, false), -EBUSY);
	assert_int_equal(atapi_in(x, gesn, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[2], 4);
	assert_int_equal(buf[4], 1); /* eject request */
	assert_int_equal(buf[5], 2); /* medium present, tray closed */
	assert_int_equal(tur(x), 0);
	/* force: unlocked, and the tray opens */
	assert_int_equal(ide_cdrom_open_tray(x->ide, 0, 0, true), 1);
	assert_int_equal(ide_cdrom_get_state(x->ide, 0, 0, &st), 0);
	assert_true(st.tray_open);
	assert_false(st.locked);
	assert_int_equal(ide_cdrom_open_tray(x->ide, 0, 0, false), 0); /* already open */
	assert_int_equal(tur(x), -2);
	expect_sense(x, 2, 0x3A, 0x02); /* medium not present, tray open */
	assert_int_equal(atapi_in(x, gesn, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[4], 3); /* media removal */
	assert_int_equal(buf[5], 1); /* tray open */

	/* Swap the disc while the tray is open: still not ready. */
	x->cd2_data = calloc(1, 20 * 2048);
	x->cd2_data[5 * 2048] = 0x5A;
	x->cd2 = block_open_memory(x->cd2_data, 20 * 2048, true);
	assert_int_equal(ide_cdrom_set_medium(x->ide, 0, 0, x->cd2, &old), 0);
	assert_ptr_equal(old, &x->cd->bd);
	assert_int_equal(tur(x), -2);
	expect_sense(x, 2, 0x3A, 0x02);

	/* Closing: one UNIT ATTENTION 28/00, a "new media" event, then the
	 * new disc reads. */
	assert_int_equal(ide_cdrom_close_tray(x->ide, 0, 0), 1);
	assert_int_equal(ide_cdrom_close_tray(x->ide, 0, 0), 0);
	assert_int_equal(atapi_in(x, gesn, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(buf[4], 2);
	assert_int_equal(buf[5], 2);
	assert_int_equal(atapi_in(x, rd, 2048, sec, sizeof(sec), NULL), -6);
	expect_sense(x, 6, 0x28, 0);
	assert_int_equal(tur(x), 0);
	uint8_t cap[12] = { 0x25 };
	assert_int_equal(atapi_in(x, cap, 2048, buf, sizeof(buf), NULL), 8);
	assert_int_equal(get_be32(buf), 19);
	assert_int_equal(atapi_in(x, rd, 2048, sec, sizeof(sec), NULL), 2048);
	assert_int_equal(sec[0], 0x5A);

	/* An empty tray closed: NOT READY 3A/00, no unit attention. */
	assert_int_equal(ide_cdrom_open_tray(x->ide, 0, 0, false), 1);
	assert_int_equal(ide_cdrom_set_medium(x->ide, 0, 0, NULL, &old), 0);
	assert_ptr_equal(old, x->cd2);
	assert_int_equal(ide_cdrom_close_tray(x->ide, 0, 0), 1);
	assert_int_equal(tur(x), -2);
	expect_sense(x, 2, 0x3A, 0x00);
	assert_int_equal(tur(x), -2);

	/* The guest's own tray moves are told (DEVICE_TRAY_MOVED); the
	 * host's are not (the board sends those itself). */
	tray_notes = 0;
	piix_ide_set_tray_notify(x->ide, note_tray, NULL);
	assert_int_equal(ide_cdrom_open_tray(x->ide, 0, 0, false), 1);
	assert_int_equal(ide_cdrom_close_tray(x->ide, 0, 0), 1);
	assert_int_equal(tray_notes, 0);
	uint8_t eject[12] = { 0x1B, 0, 0, 0, 0x02 };
	assert_int_equal(atapi_in(x, eject, 2048, buf, sizeof(buf), NULL), 0);
	assert_int_equal(tray_notes, 1);
	assert_int_equal(tray_note_slot, 0);
	assert_int_equal(atapi_in(x, eject, 2048, buf, sizeof(buf), NULL), 0); /* open already */
	assert_int_equal(tray_notes, 1);
	eject[4] = 0x03; /* load */
	assert_int_equal(atapi_in(x, eject, 2048, buf, sizeof(buf), NULL), 0);
	assert_int_equal(tray_notes, 2);
	assert_int_equal(ide_cdrom_get_state(x->ide, 0, 0, &st), 0);
	assert_false(st.tray_open);
}

static void test_atapi_srst_and_reset(void **state)
{
	struct fx *x = *state;
	uint8_t buf[64];

	attach_disk(x, 64 * 512);
	attach_cd(x, 0, 1, 10 * 2048);
	outb(x, CTL0, 0x00);
	outb(x, CMD0 + R_DEV, 0xB0);
	/* DEVICE RESET on the CD: signature back, no interrupt. */
	x->raises[14] = 0;
	outb(x, CMD0 + R_CMD, 0x08);
	assert_int_equal(x->raises[14], 0);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0x14);
	assert_int_equal(inb(x, CMD0 + R_LBAH), 0xEB);
	/* A PACKET cut short by SRST leaves nothing behind. */
	outb(x, CMD0 + R_DEV, 0xB0);
	outb(x, CMD0 + R_LBAM, 0x00);
	outb(x, CMD0 + R_LBAH, 0x08);
	outb(x, CMD0 + R_CMD, 0xA0);
	outw(x, CMD0, 0x0028);
	outb(x, CTL0, 0x04);
	outb(x, CTL0, 0x00);
	outb(x, CMD0 + R_DEV, 0xB0);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x00);
	assert_int_equal(inw(x, CMD0), 0);
	assert_int_equal(tur(x), 0);
	/* System reset through the PCI bus. */
	pci_bus_reset(&x->pci);
	assert_int_equal(inb(x, CMD0 + R_DEV), 0);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x50);
	outb(x, CMD0 + R_DEV, 0xB0);
	assert_int_equal(inb(x, CMD0 + R_LBAM), 0x14);
	assert_int_equal(tur(x), 0);
	uint8_t inq[12] = { 0x12, 0, 0, 0, 36 };
	assert_int_equal(atapi_in(x, inq, 2048, buf, sizeof(buf), NULL), 36);
	/* Attaching twice is refused. */
	assert_int_equal(piix_ide_attach_cdrom(x->ide, 0, 1, NULL), -EBUSY);
	assert_int_equal(piix_ide_attach_disk(x->ide, 1, 0, NULL), -EINVAL);
	assert_int_equal(piix_ide_attach_disk(x->ide, 2, 0, &x->disk->bd), -EINVAL);
}

/* ---- saved state ---------------------------------------------------------------- */

static void save_ide(struct fx *x, struct ss_writer *w)
{
	ss_writer_init(w);
	piix_ide_save(x->ide, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* A disk in the middle of a 3-sector PIO read and a CD in the middle of a
 * 2-block READ(10), the bus-master engine programmed: saved, loaded into a
 * fresh controller with the same media, saved again (the same bytes); the
 * new controller hands out the rest of both transfers. */
static void test_save_load_mid_transfer(void **state)
{
	struct fx *x = *state, *y;
	struct ss_writer w1, w2;
	struct ss_reader r;
	uint8_t buf[3 * 512], cdbuf[2 * 2048];

	attach_disk(x, 64 * 512);
	attach_cd(x, 1, 0, 16 * 2048);
	enable_bm(x);
	outl(x, BM + 4, 0x3000);
	outb(x, BM + 2, 0x20); /* drive 0 DMA capable (scratch bit) */
	tf28(x, CMD0, 0, 5, 3);
	outb(x, CMD0 + R_CMD, 0x20);
	assert_int_equal(inb(x, CMD0 + R_STATUS), 0x58);
	pio_in(x, CMD0, buf, 512 + 256); /* a sector and a half */

	uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2 };
	outb(x, CMD1 + R_DEV, 0xA0);
	outb(x, CMD1 + R_FEAT, 0);
	outb(x, CMD1 + R_LBAM, 0x00);
	outb(x, CMD1 + R_LBAH, 0x08); /* limit 2048: one block per DRQ */
	outb(x, CMD1 + R_CMD, 0xA0);
	pio_out(x, CMD1, read10, 12);
	assert_int_equal(inb(x, CMD1 + R_STATUS) & 0x89, 0x08);
	pio_in(x, CMD1, cdbuf, 1024);
	save_ide(x, &w1);

	setup((void **)&y);
	y->disk = memdisk_patterned(64 * 512, 1, false);
	assert_int_equal(piix_ide_attach_disk(y->ide, 0, 0, &y->disk->bd), 0);
	y->cd = memdisk_patterned(16 * 2048, 7, true);
	assert_int_equal(piix_ide_attach_cdrom(y->ide, 1, 0, &y->cd->bd), 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(piix_ide_load(y->ide, &r, 0));
	ss_reader_close(&r);
	save_ide(y, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	assert_int_equal(inb(y, BM + 2), 0x24); /* DMA capable, the interrupt bit of the reads */
	assert_int_equal(inl(y, BM + 4), 0x3000);
	pio_in(y, CMD0, buf + 768, 256);
	assert_int_equal(inb(y, CMD0 + R_STATUS), 0x58);
	pio_in(y, CMD0, buf + 1024, 512);
	assert_int_equal(inb(y, CMD0 + R_STATUS), 0x50);
	assert_memory_equal(buf, x->disk->data + 5 * 512, sizeof(buf));

	pio_in(y, CMD1, cdbuf + 1024, 1024);
	assert_int_equal(inb(y, CMD1 + R_STATUS) & 0x89, 0x08); /* the second block */
	pio_in(y, CMD1, cdbuf + 2048, 2048);
	assert_int_equal(inb(y, CMD1 + R_STATUS) & 0x89, 0x00);
	assert_memory_equal(cdbuf, x->cd->data + 2048, sizeof(cdbuf));
	teardown((void **)&y);
	ss_writer_free(&w2);

	/* The same stream with a disk of another size attached: refused. */
	setup((void **)&y);
	y->disk = memdisk_patterned(32 * 512, 1, false);
	assert_int_equal(piix_ide_attach_disk(y->ide, 0, 0, &y->disk->bd), 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_false(piix_ide_load(y->ide, &r, 0));
	assert_non_null(strstr(r.err, "saved a disk of 64 sectors, here a disk of 32"));
	ss_reader_close(&r);
	assert_int_equal(inb(y, CMD0 + R_STATUS), 0x50);
	teardown((void **)&y);
	ss_writer_free(&w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bmdma_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seabios_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_slave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pio_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load_mid_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pio_read_count0_is_256, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pio_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lba48_beyond_28_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chs_and_misc_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nien_and_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_runs_on_the_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_no_medium, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_toc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_media_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_host_tray, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atapi_srst_and_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
