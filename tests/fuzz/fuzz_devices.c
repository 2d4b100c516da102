// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for every guest-facing device model in hw/. One source,
 * one binary, one target per device set-up: the target is picked by the
 * name the binary runs under (build/fuzz/fuzz_dev_<target>, a symlink to
 * fuzz_devices) or by FUZZ_DEVICE=<target>.
 *
 * Each input is a fresh machine for that target: port and memory buses, a
 * PCI bus, guest RAM (RAM_SIZE bytes, zeroed) and the device(s), placed as
 * firmware would place them (BARs assigned, decode and bus mastering on).
 * The input's first byte picks set-up variants (virtio-net over a backend
 * with or without offloads, with mq=on over two queues or not, read by the
 * device itself as a tap is or delivering through a thread as slirp does;
 * the balloon with or without deflate-on-oom).
 * The rest is read as a program of operations, what a hostile guest
 * (and, for a few ops, the host side) can do:
 *
 *   port / MMIO read or write of 1, 2, 4 or 8 bytes in one of the target's
 *     windows (or anywhere in port space), PCI configuration read or write,
 *   guest RAM writes (bytes or a little-endian value): the contents device
 *     DMA reads, rings, descriptors, PRD tables, fw_cfg DMA descriptors,
 *   driver shortcuts for virtio (negotiate and lay out a queue at a known
 *     place, write a descriptor, publish and notify) so the fuzzer reaches
 *     queue processing without rediscovering the whole handshake,
 *   host events (a frame from the network, serial input, key presses, a CD
 *     change, a balloon target, the clock moving on), and resets.
 *
 * Everything runs on the fuzzer's thread: virtio transports are created
 * with io_thread = false (queue work runs inside the notify write that
 * triggered it) and virtio-blk with 0 workers (requests are carried out
 * synchronously), so an input replays exactly. The one exception is the
 * RTC's timer thread, started by the RTC itself when the guest enables its
 * interrupts; it only sets flag bits under the RTC lock, and the time the
 * guest reads comes from this harness's fake clock.
 *
 * `FUZZ_LIST_TARGETS=1 fuzz_devices` prints every target and the hw/ .c
 * files it drives; tests/fuzz/check_targets.sh fails when a device file
 * is not driven by any target.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "bus.h"
#include "chardev.h"
#include "event.h"
#include "guest_mem.h"
#include "hw/chipset.h"
#include "hw/e1000.h"
#include "hw/fdc.h"
#include "hw/ne2000.h"
#include "hw/pcnet.h"
#include "hw/pcspk.h"
#include "hw/rtl8139.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/i6300esb.h"
#include "hw/i8237.h"
#include "hw/ib700.h"
#include "hw/sb16.h"
#include "hw/cs4231a.h"
#include "hw/gus.h"
#include "hw/es1370.h"
#include "audio.h"
#include "savestate.h"
#include "hw/ide.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "hw/cirrus_vga.h"
#include "hw/edid.h"
#include "hw/vga_pci.h"
#include "hw/virtio_balloon.h"
#include "hw/virtio_blk.h"
#include "hw/virtio_console.h"
#include "hw/virtio_net.h"
#include "hw/virtio_pci.h"
#include "hw/virtio_rng.h"
#include "memmap.h"
#include "net.h"
#include "pci.h"
#include "util.h"
#include "watchdog.h"

#define RAM_SIZE (256u << 10) /* small: random guest addresses land in RAM often */
#define CHIPSET_RAM_SIZE (2u << 20) /* the memory map wants at least 2 MiB */
#define BIOS_SIZE (64u << 10)
#define DISK_SIZE (256u << 10)
#define CD_SIZE (64u * 2048)
#define MAX_WINDOWS 12
#define MAX_DEVFNS 4

/* Where the harness's "firmware" puts PCI BARs. */
#define VIRTIO_DEVFN PCI_DEVFN(3, 0)
#define VIRTIO_IOBASE 0xC000
#define VIRTIO_BAR4 0xFE000000ULL
#define VIRTIO_MSIX_BAR 0xFE010000ULL
#define IDE_BM_BASE 0xC040
#define PM_BASE 0x600

/* The driver shortcuts lay queue q's rings out here (4 KiB each). */
#define RING_DESC(q) (0x1000u + 0x3000u * (q))
#define RING_AVAIL(q) (RING_DESC(q) + 0x1000u)
#define RING_USED(q) (RING_DESC(q) + 0x2000u)

struct window {
	struct io_bus *bus;
	uint64_t base, len;
};

struct fuzz_machine {
	uint8_t *ram;
	uint32_t ram_size;
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct window win[MAX_WINDOWS];
	unsigned nwin;
	uint8_t devfn[MAX_DEVFNS];
	unsigned ndevfn;
	uint8_t variant; /* the input's first byte: set-up choices of the target */
	unsigned irq_changes, resets, poweroffs, exits, msis;

	/* the devices; a target fills what it uses */
	struct memmap mm;
	uint8_t *bios;
	struct isa_irq isa;
	struct i440fx nb;
	struct piix3 sb;
	struct piix_pm pm;
	struct port92 port92;
	struct post_port post;
	struct debugcon dbgcon;
	struct debug_exit dbgexit;
	struct rtc *rtc;
	int64_t clock_ns;
	struct serial *serial;
	struct i8042 *kbd;
	struct i8237 *dma;
	unsigned dma_kicks;
	struct fw_cfg *fw_cfg;
	struct piix_ide *ide;
	uint8_t *disk_data, *cd_data;
	struct block_dev *disk, *cd;
	struct event_loop *loop;      /* the watchdogs' timers, on clock_ns */
	struct watchdog_host wdt_host;
	unsigned wdt_fires;
	struct i6300esb *esb;
	struct ib700 *ib700;
	struct sb16 *sb16;
	struct cs4231a *cs4231a;
	struct gus *gus;
	struct fdc *fdc;
	uint8_t *fd_data[2]; /* the floppies' bytes (the controller closes their devices) */
	struct es1370 *es1370;
	struct pcspk *pcspk;
	struct pcspk_channel pit2; /* the speaker's PIT channel 2, set by events */
	struct audio_backend *audio; /* "none": the SB16's clock, stepped by events */
	int64_t audio_ns;
	struct virtio_pci *vt; /* the virtio target's transport */
	struct virtio_blk *vblk;
	struct virtio_net *vnet;
	struct net_backend net_be;
	struct net_backend net_be2; /* virtio-net's second queue (mq=on) */
	/* A polled backend's next frame, per queue (virtio-net, variant bit 2) */
	uint8_t *net_waiting[2];
	size_t net_waiting_len[2];
	struct net_hdr net_waiting_hdr[2];
	struct virtio_rng *vrng;
	struct virtio_balloon *vballoon;
	struct virtio_console *vcon;
	struct mem_space vga_space;
	struct vga_pci *vga;
	struct cirrus_vga *cirrus;
	unsigned vga_looks;    /* refreshes and dumps this input (each up to ~8M pixels) */
	struct e1000 *e1000;
	struct rtl8139 *rtl8139;
	struct ne2000 *ne2000;
	struct pcnet *pcnet;
	int con_in[2][2];      /* pipes: host input for console ports 0 and 1 */
	uint16_t avail_idx[VIRTIO_PCI_MAX_QUEUES];
	uint16_t qsize[VIRTIO_PCI_MAX_QUEUES];
};

/* ---- input reader ----------------------------------------------------------- */

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static uint8_t take8(struct input *in) { return (uint8_t)take(in, 1); }
static uint16_t take16(struct input *in) { return (uint16_t)take(in, 2); }
static uint32_t take32(struct input *in) { return (uint32_t)take(in, 4); }

/* ---- the board's ends of interrupts and requests ---------------------------- */

static void irq_recorder(void *opaque, unsigned line, int level)
{
	((struct fuzz_machine *)opaque)->irq_changes++;
}

static void intx_recorder(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	((struct fuzz_machine *)opaque)->irq_changes++;
}

static void on_reset(void *o) { ((struct fuzz_machine *)o)->resets++; }
static void on_poweroff(void *o) { ((struct fuzz_machine *)o)->poweroffs++; }
static void on_exit_req(void *o, int status) { ((struct fuzz_machine *)o)->exits++; }

static void send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	((struct fuzz_machine *)opaque)->msis++;
}

static struct irq_line isa_irq(struct fuzz_machine *m, unsigned line)
{
	return (struct irq_line){ irq_recorder, m, line };
}

static struct board_control board(struct fuzz_machine *m)
{
	return (struct board_control){ on_reset, on_poweroff, on_exit_req, m };
}

static void add_window(struct fuzz_machine *m, struct io_bus *bus, uint64_t base, uint64_t len)
{
	if (m->nwin < MAX_WINDOWS)
		m->win[m->nwin++] = (struct window){ bus, base, len };
}

static void cfg_wr(struct fuzz_machine *m, uint8_t devfn, unsigned off, uint32_t v, unsigned size)
{
	pci_config_write(&m->pci, devfn, off, v, size);
}

/* ---- targets: the chipset and the fixed-port devices ---------------------- */

static bool chipset_create(struct fuzz_machine *m)
{
	m->bios = malloc(BIOS_SIZE);
	for (unsigned i = 0; m->bios && i < BIOS_SIZE / 4096; i++)
		memset(m->bios + 4096 * i, (int)(i * 13), 4096);
	if (!m->bios || memmap_init(&m->mm, &m->mem, m->bios, BIOS_SIZE) < 0)
		return false;
	/* The chipset's lines go through the ISA router, as on the board:
	 * the PIIX3's PIRQ inputs and the SCI share it. */
	struct irq_line sci;
	isa_irq_init(&m->isa, irq_recorder, m, NULL, NULL);
	if (isa_irq_claim(&m->isa, 9, &sci) < 0)
		return false;
	if (pci_bus_map_host_ports(&m->pci) < 0 ||
	    i440fx_init(&m->nb, &m->pci, &m->mm, m->ram_size) < 0 ||
	    piix3_init(&m->sb, &m->pci, &m->isa, board(m)) < 0 ||
	    piix_pm_init(&m->pm, &m->pci, &m->pio, sci, board(m)) < 0 ||
	    port92_init(&m->port92, &m->pio, board(m)) < 0 || post_port_init(&m->post, &m->pio) < 0 ||
	    debugcon_init(&m->dbgcon, &m->pio, 0x402, DEBUGCON_DEFAULT_READBACK, NULL, NULL) < 0 ||
	    debug_exit_init(&m->dbgexit, &m->pio, 0xF4, 4, board(m)) < 0)
		return false;
	m->pci.set_intx = piix3_set_intx;
	m->pci.intx_opaque = &m->sb;
	/* SeaBIOS's PM set-up: PMBA, PMIO enable, SCI routing. */
	cfg_wr(m, PCI_DEVFN(1, 3), 0x40, PM_BASE | 1, 4);
	cfg_wr(m, PCI_DEVFN(1, 3), 0x80, 1, 1);
	m->devfn[m->ndevfn++] = PCI_DEVFN(0, 0);
	m->devfn[m->ndevfn++] = PCI_DEVFN(1, 0);
	m->devfn[m->ndevfn++] = PCI_DEVFN(1, 3);
	add_window(m, &m->pio, 0xCF8, 8);       /* config mechanism #1, 0xCF9 */
	add_window(m, &m->pio, PM_BASE, 0x40);  /* PM1, PM timer */
	add_window(m, &m->pio, 0xAFE0, 0x20);   /* GPE0, hotplug */
	add_window(m, &m->pio, 0xB2, 2);        /* APM */
	add_window(m, &m->pio, 0x80, 0x20);     /* POST, port 0x92 */
	add_window(m, &m->pio, 0xF4, 4);        /* isa-debug-exit */
	add_window(m, &m->pio, 0x402, 1);       /* debugcon */
	return true;
}

static void chipset_destroy(struct fuzz_machine *m)
{
	if (m->bios && m->mm.mem)
		memmap_destroy(&m->mm);
	free(m->bios);
}

static void chipset_event(struct fuzz_machine *m, struct input *in)
{
	if (take8(in) & 1)
		piix_pm_power_button(&m->pm);
	else
		port92_reset(&m->port92);
}

static int64_t fake_clock(void *opaque)
{
	return ((struct fuzz_machine *)opaque)->clock_ns;
}

static bool rtc_target_create(struct fuzz_machine *m)
{
	m->clock_ns = 1700000000LL * 1000000000LL;
	m->rtc = rtc_create(isa_irq(m, 8), NULL); /* no loop: C reads see time pass */
	if (!m->rtc)
		return false;
	rtc_set_clock(m->rtc, fake_clock, m);
	add_window(m, &m->pio, 0x70, 2);
	return rtc_map(m->rtc, &m->pio) == 0;
}

static void rtc_target_destroy(struct fuzz_machine *m)
{
	rtc_destroy(m->rtc);
}

/* The clock moves on (up to ~4 s), or the host resets the RTC. */
static void rtc_event(struct fuzz_machine *m, struct input *in)
{
	uint32_t step = take32(in);
	if (step == 0xFFFFFFFF)
		rtc_reset(m->rtc);
	else
		m->clock_ns += step;
}

static void serial_sink(void *opaque, const uint8_t *buf, size_t len)
{
}

static bool serial_target_create(struct fuzz_machine *m)
{
	m->serial = serial_create(isa_irq(m, 4), serial_sink, m);
	add_window(m, &m->pio, 0x3F8, 8);
	return m->serial && serial_map(m->serial, &m->pio, 0x3F8) == 0;
}

static void serial_target_destroy(struct fuzz_machine *m)
{
	serial_destroy(m->serial);
}

static void serial_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t buf[64];
	size_t n = take8(in) % sizeof(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = take8(in);
	if (n == 0)
		serial_reset(m->serial);
	else
		serial_receive(m->serial, buf, n);
}

static bool i8042_target_create(struct fuzz_machine *m)
{
	m->kbd = i8042_create(isa_irq(m, 1), isa_irq(m, 12), on_reset, m);
	add_window(m, &m->pio, 0x60, 1);
	add_window(m, &m->pio, 0x64, 1);
	return m->kbd && i8042_map(m->kbd, &m->pio) == 0;
}

static void i8042_target_destroy(struct fuzz_machine *m)
{
	i8042_destroy(m->kbd);
}

static void i8042_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t kind = take8(in);
	if (kind & 1) {
		uint8_t keys[4];
		size_t n = 1 + (kind >> 1) % 3;
		for (size_t i = 0; i < n; i++)
			keys[i] = take8(in);
		i8042_put_keycode(m->kbd, keys, n);
	} else if (kind & 2) {
		i8042_mouse_event(m->kbd, (int8_t)take8(in) * 8, (int8_t)take8(in) * 8, (int8_t)take8(in),
				  take8(in) & 7);
	} else {
		i8042_reset(m->kbd);
	}
}

static void fw_cfg_on_write(void *opaque, const char *name, uint32_t offset, uint32_t len,
			    const uint8_t *data)
{
}

static bool fw_cfg_target_create(struct fuzz_machine *m)
{
	static const char bootorder[] = "/pci@i0cf8/ide@1,1/drive@0/disk@0\n";
	uint8_t blob[300];

	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;
	m->fw_cfg = fw_cfg_create(&m->mem);
	if (!m->fw_cfg)
		return false;
	fw_cfg_add_u16(m->fw_cfg, 0x05, 1);             /* nb_cpus */
	fw_cfg_add_u64(m->fw_cfg, 0x03, RAM_SIZE);      /* ram_size */
	fw_cfg_add_bytes(m->fw_cfg, 0x0D, blob, 17);    /* a legacy key */
	if (fw_cfg_add_file(m->fw_cfg, "bootorder", bootorder, sizeof(bootorder)) < 0 ||
	    fw_cfg_add_file(m->fw_cfg, "etc/blob", blob, sizeof(blob)) < 0 ||
	    fw_cfg_add_file(m->fw_cfg, "etc/empty", NULL, 0) < 0 ||
	    fw_cfg_add_file_writable(m->fw_cfg, "etc/writable", blob, 64, fw_cfg_on_write, m) < 0)
		return false;
	add_window(m, &m->pio, FW_CFG_PORT_SEL, 2);
	add_window(m, &m->pio, FW_CFG_PORT_DMA, 8);
	return fw_cfg_map(m->fw_cfg, &m->pio) == 0;
}

static void fw_cfg_target_destroy(struct fuzz_machine *m)
{
	fw_cfg_destroy(m->fw_cfg);
}

static void fw_cfg_event(struct fuzz_machine *m, struct input *in)
{
	fw_cfg_reset(m->fw_cfg);
}

/* ---- target: the 8237 DMA controllers -------------------------------------- */

static void dma_kick(void *opaque, unsigned ch)
{
	((struct fuzz_machine *)opaque)->dma_kicks++;
}

/* The ISA DMA controllers (8237) on the harness's guest memory, at their
 * ports, for the targets whose devices move data through them. */
static bool create_fuzz_dma(struct fuzz_machine *m)
{
	m->dma = i8237_create(&m->mem);
	return m->dma && i8237_map(m->dma, &m->pio) == 0;
}

static bool dma_target_create(struct fuzz_machine *m)
{
	if (!create_fuzz_dma(m))
		return false;
	/* A floppy controller on channel 2, an SB16 on 1 and 5. */
	if (i8237_claim(m->dma, 1, dma_kick, m) < 0 || i8237_claim(m->dma, 2, dma_kick, m) < 0 ||
	    i8237_claim(m->dma, 5, dma_kick, m) < 0)
		return false;
	add_window(m, &m->pio, 0x00, 0x10);  /* controller 1 */
	add_window(m, &m->pio, 0xC0, 0x20);  /* controller 2 */
	add_window(m, &m->pio, 0x81, 0x0F);  /* page registers */
	add_window(m, &m->pio, 0x480, 0x10); /* high pages */
	return true;
}

static void dma_target_destroy(struct fuzz_machine *m)
{
	i8237_destroy(m->dma);
}

/* The device side: DREQ, a transfer either way of up to 4 KiB (checked:
 * never more than asked, a 16-bit channel whole words), a reset. */
static void dma_event(struct fuzz_machine *m, struct input *in)
{
	static uint8_t buf[4096];
	uint8_t ctl = take8(in);
	unsigned ch = ctl & 7;
	size_t len = take16(in) % (sizeof(buf) + 1);
	bool tc;

	switch ((ctl >> 3) & 3) {
	case 0:
		i8237_set_dreq(m->dma, ch, ctl & 0x20);
		break;
	case 1:
	case 2: {
		enum i8237_dir dir = (ctl >> 3) & 1 ? I8237_TO_MEMORY : I8237_FROM_MEMORY;
		uint32_t left = i8237_remaining(m->dma, ch);
		memset(buf, ctl, len);
		size_t n = i8237_transfer(m->dma, ch, buf, len, dir, &tc);
		size_t unit = ch >= 4 ? 2 : 1;
		if (n > len || n % unit || n / unit > left || (tc && n / unit != left))
			abort();
		break;
	}
	default:
		i8237_reset(m->dma);
		break;
	}
}

/* ---- target: the PIIX IDE controller, an ATA disk and an ATAPI CD ------- */

static bool ide_target_create(struct fuzz_machine *m)
{
	m->disk_data = calloc(1, DISK_SIZE);
	m->cd_data = calloc(1, CD_SIZE);
	if (!m->disk_data || !m->cd_data)
		return false;
	/* Sector n is filled with n (per sector: byte loops here would be
	 * traced comparisons, and cost more than the input's run). */
	for (unsigned i = 0; i < CD_SIZE / 2048; i++)
		memset(m->cd_data + 2048 * i, (int)i, 2048);
	m->disk = block_open_memory(m->disk_data, DISK_SIZE, false);
	m->cd = block_open_memory(m->cd_data, CD_SIZE, true);
	m->ide = piix_ide_create(&m->pci, &m->pio, &m->mem, isa_irq(m, 14), isa_irq(m, 15));
	if (!m->ide || piix_ide_attach_disk(m->ide, 0, 0, m->disk) < 0 ||
	    piix_ide_attach_cdrom(m->ide, 1, 0, m->cd) < 0 ||
	    piix_ide_attach_cdrom(m->ide, 1, 1, NULL) < 0)
		return false;
	cfg_wr(m, PIIX_IDE_DEVFN, PCI_BAR0 + 16, IDE_BM_BASE, 4);
	cfg_wr(m, PIIX_IDE_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	m->devfn[m->ndevfn++] = PIIX_IDE_DEVFN;
	add_window(m, &m->pio, 0x1F0, 8);
	add_window(m, &m->pio, 0x3F6, 1);
	add_window(m, &m->pio, 0x170, 8);
	add_window(m, &m->pio, 0x376, 1);
	add_window(m, &m->pio, IDE_BM_BASE, 16);
	return true;
}

static void ide_target_destroy(struct fuzz_machine *m)
{
	piix_ide_destroy(m->ide);
	block_close(m->disk);
	block_close(m->cd);
	free(m->disk_data);
	free(m->cd_data);
}

/* The host's tray steps (QMP blockdev-open-tray, -remove-medium, insert,
 * -close-tray; bit 5: force against the guest's lock), in any order. */
static void ide_tray_step(struct fuzz_machine *m, uint8_t what)
{
	struct block_dev *old = NULL;

	switch ((what >> 3) & 3) {
	case 0:
		ide_cdrom_open_tray(m->ide, 1, 0, what & 0x20);
		break;
	case 1:
		if (ide_cdrom_set_medium(m->ide, 1, 0, NULL, &old) == 0 && old) {
			block_close(old);
			m->cd = NULL;
		}
		break;
	case 2:
		if (m->cd)
			break;
		m->cd = block_open_memory(m->cd_data, CD_SIZE, true);
		if (ide_cdrom_set_medium(m->ide, 1, 0, m->cd, &old) < 0) {
			block_close(m->cd);
			m->cd = NULL;
		}
		break;
	default:
		ide_cdrom_close_tray(m->ide, 1, 0);
		break;
	}
}

/* The host ejects the CD or puts it back (QMP eject / change). */
static void ide_event(struct fuzz_machine *m, struct input *in)
{
	struct block_dev *old = NULL;
	uint8_t what = take8(in);

	if (what & 2) {
		piix_ide_reset(m->ide);
		return;
	}
	if (what & 4) {
		ide_tray_step(m, what);
		return;
	}
	if (what & 1) {
		/* 'old' is m->cd: the caller closes an ejected medium. */
		if (ide_cdrom_change_media(m->ide, 1, 0, NULL, &old) == 0 && old) {
			block_close(old);
			m->cd = NULL;
		}
	} else if (!m->cd) {
		m->cd = block_open_memory(m->cd_data, CD_SIZE, true);
		if (ide_cdrom_change_media(m->ide, 1, 0, m->cd, &old) < 0) {
			block_close(m->cd);
			m->cd = NULL;
		}
	}
}

/* An event loop whose host clock is the harness's fake one, at 1 s: a
 * target's timers fire only when an event moves the clock on and runs the
 * loop, inside the input. */
static bool harness_loop_new(struct fuzz_machine *m)
{
	m->clock_ns = 1000000000LL;
	m->loop = event_loop_new();
	if (!m->loop)
		return false;
	event_loop_set_host_clock(m->loop, fake_clock, m);
	return true;
}

/* ---- targets: the watchdogs ------------------------------------------------ */

/* Their timers run on an event loop whose host clock is the harness's
 * fake one; the event op moves it on and runs what is due, so expiries
 * (and their actions, counted here) happen inside the input. */
static void wdt_fired(void *o) { ((struct fuzz_machine *)o)->wdt_fires++; }

static bool wdt_loop_new(struct fuzz_machine *m)
{
	if (!harness_loop_new(m))
		return false;
	m->wdt_host = (struct watchdog_host){ .reset = wdt_fired, .powerdown = wdt_fired,
					      .poweroff = wdt_fired, .pause = wdt_fired,
					      .inject_nmi = wdt_fired, .opaque = m };
	return true;
}

/* The clock moves on (up to ~69 min: past either watchdog's longest
 * stage at 1 kHz is 2^20 x 2^15 x 30 ns, ~17 min), the action changes, the
 * virtual clock pauses or resumes, or the host resets the device. */
static void wdt_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	uint32_t step = take32(in);

	switch (what % 8) {
	case 0:
		if (m->esb)
			pci_device_reset(i6300esb_pci(m->esb));
		if (m->ib700)
			ib700_reset(m->ib700);
		break;
	case 1: /* 7 is no action (refused); debug would print every expiry */
		if (step % 8 != WATCHDOG_DEBUG)
			watchdog_set_action(&m->wdt_host, (enum watchdog_action)(step % 8));
		break;
	case 2: event_clock_pause(m->loop); break;
	case 3: event_clock_resume(m->loop); break;
	default: m->clock_ns += (int64_t)step * 1000; break;
	}
	event_loop_run_once(m->loop, 0);
}

#define ESB_DEVFN PCI_DEVFN(5, 0)
#define ESB_BAR 0xFEBF0000u

static bool i6300esb_target_create(struct fuzz_machine *m)
{
	if (!wdt_loop_new(m))
		return false;
	m->esb = i6300esb_create(&m->pci, ESB_DEVFN, m->loop, &m->wdt_host);
	if (!m->esb)
		return false;
	cfg_wr(m, ESB_DEVFN, PCI_BAR0, ESB_BAR, 4);
	cfg_wr(m, ESB_DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	m->devfn[m->ndevfn++] = ESB_DEVFN;
	add_window(m, &m->mmio, ESB_BAR, 16);
	return true;
}

static void i6300esb_target_destroy(struct fuzz_machine *m)
{
	i6300esb_destroy(m->esb);
	event_loop_free(m->loop);
}

static bool ib700_target_create(struct fuzz_machine *m)
{
	if (!wdt_loop_new(m))
		return false;
	m->ib700 = ib700_create(&m->pio, m->loop, &m->wdt_host);
	add_window(m, &m->pio, IB700_STOP_PORT, 3);
	return m->ib700 != NULL;
}

static void ib700_target_destroy(struct fuzz_machine *m)
{
	ib700_destroy(m->ib700);
	event_loop_free(m->loop);
}

/* ---- target: the floppy controller on the 8237, two drives ---------------- */

/* A: a writable 720K disk, B: a read-only 160K one; both read at the
 * reset's 250 kbit/s, so reads work without a rate set first. Sector n
 * is filled with n. */
/* Saves a device and loads the bytes back into it: a device's own state
 * always loads, whatever the guest did to it. */
#define STATE_ROUND_TRIP(kind, dev)                                                   \
	do {                                                                          \
		struct ss_writer w_;                                                  \
		struct ss_reader r_;                                                  \
		ss_writer_init(&w_);                                                  \
		kind##_save(dev, &w_, 0);                                             \
		if (ss_writer_finish(&w_) < 0 || ss_reader_open(&r_, w_.buf, w_.len) < 0 || \
		    !kind##_load(dev, &r_, 0))                                        \
			abort();                                                      \
		ss_reader_close(&r_);                                                 \
		ss_writer_free(&w_);                                                  \
	} while (0)

#define FD_A_SIZE (720u * 1024)
#define FD_B_SIZE (160u * 1024)

static struct block_dev *fd_medium(struct fuzz_machine *m, unsigned unit)
{
	return block_open_memory(m->fd_data[unit], unit ? FD_B_SIZE : FD_A_SIZE, unit == 1);
}

static bool fdc_target_create(struct fuzz_machine *m)
{
	char err[256];

	m->fd_data[0] = calloc(1, FD_A_SIZE);
	m->fd_data[1] = calloc(1, FD_B_SIZE);
	if (!m->fd_data[0] || !m->fd_data[1])
		return false;
	for (unsigned i = 0; i < FD_A_SIZE / 512; i++)
		memset(m->fd_data[0] + 512 * i, (int)i, 512);
	for (unsigned i = 0; i < FD_B_SIZE / 512; i++)
		memset(m->fd_data[1] + 512 * i, (int)(i ^ 0x55), 512);
	if (!create_fuzz_dma(m))
		return false;
	struct irq_line irq = { .set = irq_recorder, .opaque = m, .line = FDC_IRQ };
	m->fdc = fdc_create(&m->pio, m->dma, irq, err, sizeof(err));
	if (!m->fdc || fdc_attach(m->fdc, 0, fd_medium(m, 0), 3, err, sizeof(err)) < 0 ||
	    fdc_attach(m->fdc, 1, fd_medium(m, 1), 1, err, sizeof(err)) < 0)
		return false;
	add_window(m, &m->pio, FDC_IOBASE, 8);  /* the controller (0x3F6 is IDE's) */
	add_window(m, &m->pio, 0x00, 0x10);     /* DMA controller 1 */
	add_window(m, &m->pio, 0xC0, 0x20);     /* DMA controller 2 */
	add_window(m, &m->pio, 0x81, 0x0F);     /* page registers */
	return true;
}

static void fdc_target_destroy(struct fuzz_machine *m)
{
	fdc_destroy(m->fdc);
	i8237_destroy(m->dma);
	free(m->fd_data[0]);
	free(m->fd_data[1]);
}

/* A reset of the controller or the 8237, a saved-state round trip in the
 * middle of whatever runs, or the host ejects or changes a disk. */
static void fdc_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	unsigned unit = (what >> 4) & 1;
	char err[256];

	switch (what % 5) {
	case 0:
		fdc_reset(m->fdc);
		break;
	case 1:
		i8237_reset(m->dma);
		break;
	case 2:
		STATE_ROUND_TRIP(fdc, m->fdc);
		break;
	case 3:
		fdc_change_medium(m->fdc, unit, NULL, err, sizeof(err));
		break;
	default: {
		struct block_dev *bd = fd_medium(m, unit);
		if (fdc_change_medium(m->fdc, unit, bd, err, sizeof(err)) < 0)
			block_close(bd);
		break;
	}
	}
}

/* ---- the sound cards' backend: "none", paced by the input's time steps -- */

static bool open_fuzz_audio(struct fuzz_machine *m)
{
	struct audiodev_config cfg = { .id = "fuzz", .kind = AUDIODEV_NONE,
				       .out = { .rate = 44100, .channels = 2, .fmt = AUDIO_FMT_S16 } };
	char err[256];

	m->audio = audio_backend_open(&cfg, NULL, err, sizeof(err));
	if (!m->audio)
		return false;
	m->audio_ns = 1000000000LL;
	audio_backend_run(m->audio, m->audio_ns);
	return true;
}

static void advance_audio(struct fuzz_machine *m, int64_t ns)
{
	m->audio_ns += ns;
	audio_backend_run(m->audio, m->audio_ns);
}

/* ---- target: the Sound Blaster 16 on the 8237, paced by a "none" backend - */

static bool sb16_target_create(struct fuzz_machine *m)
{
	struct sb16_config sc = { .iobase = 0x220, .irq = 5, .dma = 1, .dma16 = 5 };
	char err[256];

	if (!create_fuzz_dma(m))
		return false;
	if (!open_fuzz_audio(m))
		return false;
	struct irq_line irq = { .set = irq_recorder, .opaque = m, .line = 5 };
	m->sb16 = sb16_create(&m->pio, m->dma, irq, m->audio, &sc, err, sizeof(err));
	if (!m->sb16)
		return false;
	add_window(m, &m->pio, 0x220, 0x10); /* the card */
	add_window(m, &m->pio, 0x00, 0x10);  /* DMA controller 1 */
	add_window(m, &m->pio, 0xC0, 0x20);  /* DMA controller 2 */
	add_window(m, &m->pio, 0x81, 0x0F);  /* page registers */
	add_window(m, &m->pio, 0x480, 0x10); /* high pages */
	return true;
}

static void sb16_target_destroy(struct fuzz_machine *m)
{
	sb16_destroy(m->sb16);
	audio_backend_close(m->audio);
	i8237_destroy(m->dma);
}

/* Time passes for the backend (up to ~65 ms a step, or a long stall: the
 * card moves that much through DMA), a reset of the card or the 8237, or
 * a saved-state round trip in the middle of whatever runs. */
static void sb16_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	uint16_t step = take16(in);

	switch (what % 8) {
	case 0:
		sb16_reset(m->sb16);
		break;
	case 1:
		i8237_reset(m->dma);
		break;
	case 2:
		STATE_ROUND_TRIP(sb16, m->sb16);
		break;
	case 3:
		advance_audio(m, (int64_t)step * 1000000); /* a stall of up to 65 s */
		break;
	default:
		advance_audio(m, (int64_t)step * 1000);
		break;
	}
}

/* ---- target: the CS4231A on the 8237, paced by a "none" backend --------- */

static bool cs4231a_target_create(struct fuzz_machine *m)
{
	struct cs4231a_config cc = { .iobase = 0x534, .irq = 9, .dma = 3 };
	char err[256];

	if (!create_fuzz_dma(m))
		return false;
	if (!open_fuzz_audio(m))
		return false;
	struct irq_line irq = { .set = irq_recorder, .opaque = m, .line = 9 };
	m->cs4231a = cs4231a_create(&m->pio, m->dma, irq, m->audio, &cc, err, sizeof(err));
	if (!m->cs4231a)
		return false;
	add_window(m, &m->pio, 0x534, 0x04); /* the codec */
	add_window(m, &m->pio, 0x00, 0x10);  /* DMA controller 1 */
	add_window(m, &m->pio, 0x81, 0x0F);  /* page registers */
	return true;
}

static void cs4231a_target_destroy(struct fuzz_machine *m)
{
	cs4231a_destroy(m->cs4231a);
	audio_backend_close(m->audio);
	i8237_destroy(m->dma);
}

/* As the SB16's: time passes (a step or a stall), a reset of the card or
 * the 8237, or a saved-state round trip in the middle of a transfer. */
static void cs4231a_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	uint16_t step = take16(in);

	switch (what % 8) {
	case 0:
		cs4231a_reset(m->cs4231a);
		break;
	case 1:
		i8237_reset(m->dma);
		break;
	case 2:
		STATE_ROUND_TRIP(cs4231a, m->cs4231a);
		break;
	case 3:
		advance_audio(m, (int64_t)step * 1000000); /* a stall of up to 65 s */
		break;
	default:
		advance_audio(m, (int64_t)step * 1000);
		break;
	}
}

/* ---- target: the Gravis Ultrasound on the 8237, paced by a "none" backend,
 * its timers on an event loop on the harness's clock ------------------------ */

static bool gus_target_create(struct fuzz_machine *m)
{
	struct gus_config gc = { .iobase = 0x240, .irq = 7, .dma = 3, .freq = 44100 };
	char err[256];

	if (!create_fuzz_dma(m))
		return false;
	if (!open_fuzz_audio(m))
		return false;
	if (!harness_loop_new(m))
		return false;
	struct irq_line irq = { .set = irq_recorder, .opaque = m, .line = 7 };
	m->gus = gus_create(&m->pio, m->dma, irq, m->audio, m->loop, &gc, err, sizeof(err));
	if (!m->gus)
		return false;
	add_window(m, &m->pio, 0x240, 0x10);  /* mix control, IRQ status, timers */
	add_window(m, &m->pio, 0x340, 0x08);  /* MIDI, the GF1's registers, DRAM */
	add_window(m, &m->pio, 0x00, 0x10);   /* DMA controller 1 */
	add_window(m, &m->pio, 0x81, 0x0F);   /* page registers */
	return true;
}

static void gus_target_destroy(struct fuzz_machine *m)
{
	gus_destroy(m->gus);
	audio_backend_close(m->audio);
	event_loop_free(m->loop);
	i8237_destroy(m->dma);
}

/* Time passes for the voices and the timers (a step of up to ~65 ms, or a
 * stall), a reset of the card or the 8237, or a saved-state round trip
 * (the seeds' save events have step 0: a round trip). */
static void gus_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	uint16_t step = take16(in);
	int64_t ns = 0;

	switch (what % 8) {
	case 0:
		gus_reset(m->gus);
		break;
	case 1:
		i8237_reset(m->dma);
		break;
	case 2:
		/* a sixteenth of these events: the state's 1 MiB of DRAM (its CRC
		 * under coverage) makes a round trip the slowest thing here */
		if (!(step & 0xF))
			STATE_ROUND_TRIP(gus, m->gus);
		else
			ns = (int64_t)step * 1000;
		break;
	case 3:
		ns = (int64_t)step * 1000000; /* a stall of up to 65 s */
		break;
	default:
		ns = (int64_t)step * 1000;
		break;
	}
	if (ns) {
		advance_audio(m, ns);
		m->clock_ns += ns;
		event_loop_run_once(m->loop, 0);
	}
}

/* ---- target: the ES1370, bus mastering from RAM, paced by a "none" backend - */

#define ES1370_DEVFN PCI_DEVFN(6, 0)
#define ES1370_IOBASE 0xC100

static bool es1370_target_create(struct fuzz_machine *m)
{
	if (!open_fuzz_audio(m))
		return false;
	m->es1370 = es1370_create(&m->pci, ES1370_DEVFN, &m->mem, m->audio);
	if (!m->es1370)
		return false;
	cfg_wr(m, ES1370_DEVFN, PCI_BAR0, ES1370_IOBASE, 4);
	cfg_wr(m, ES1370_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	m->devfn[m->ndevfn++] = ES1370_DEVFN;
	add_window(m, &m->pio, ES1370_IOBASE, ES1370_IO_SIZE); /* window 1 */
	return true;
}

static void es1370_target_destroy(struct fuzz_machine *m)
{
	es1370_destroy(m->es1370);
	audio_backend_close(m->audio);
}

/* Time passes for the backend (up to ~65 ms a step, or a stall of up to
 * 65 s: the channels move that much through guest RAM), a reset, a
 * quiesce/resume pair, or a saved-state round trip of whatever runs. */
static void es1370_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	uint16_t step = take16(in);

	switch (what % 8) {
	case 0:
		es1370_reset(m->es1370);
		break;
	case 1:
		es1370_quiesce(m->es1370);
		advance_audio(m, (int64_t)step * 1000);
		es1370_resume(m->es1370);
		break;
	case 2:
		STATE_ROUND_TRIP(es1370, m->es1370);
		break;
	case 3:
		advance_audio(m, (int64_t)step * 1000000); /* a stall of up to 65 s */
		break;
	default:
		advance_audio(m, (int64_t)step * 1000);
		break;
	}
}

/* ---- target: the PC speaker, a fake PIT channel 2, paced by a "none" backend */

#define PCSPK_PIT_OFFSET 123456789LL /* the PIT's clock ahead of the backend's */

static bool fuzz_pit2(void *opaque, struct pcspk_channel *ch)
{
	*ch = ((struct fuzz_machine *)opaque)->pit2;
	return true;
}

static int64_t fuzz_pit_now(void *opaque)
{
	return ((struct fuzz_machine *)opaque)->audio_ns + PCSPK_PIT_OFFSET;
}

static bool pcspk_target_create(struct fuzz_machine *m)
{
	struct pcspk_pit pit = { .channel2 = fuzz_pit2, .now_ns = fuzz_pit_now, .opaque = m };
	char err[256];

	if (!open_fuzz_audio(m))
		return false;
	m->pit2 = (struct pcspk_channel){ .mode = PCSPK_MODE_NONE };
	m->pcspk = pcspk_create(&m->pio, &pit, m->audio, err, sizeof(err));
	if (!m->pcspk)
		return false;
	add_window(m, &m->pio, PCSPK_PORT, 1);
	return true;
}

static void pcspk_target_destroy(struct fuzz_machine *m)
{
	pcspk_destroy(m->pcspk);
	audio_backend_close(m->audio);
}

/* The guest programs channel 2 (any count, mode and load time, as KVM
 * would report: hostile values included), time passes for the backend
 * (up to ~65 ms a step, or a stall of up to 65 s), a reset, or a
 * saved-state round trip. */
static void pcspk_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t what = take8(in);
	uint16_t step = take16(in);

	switch (what % 8) {
	case 0:
		pcspk_reset(m->pcspk);
		break;
	case 1: {
		uint32_t count = take32(in);
		uint8_t mode = take8(in);
		int32_t ago = (int32_t)take32(in);
		m->pit2 = (struct pcspk_channel){
			.count = count, .mode = mode,
			.load_ns = m->audio_ns + PCSPK_PIT_OFFSET - (int64_t)ago * 1000 };
		break;
	}
	case 2:
		STATE_ROUND_TRIP(pcspk, m->pcspk);
		break;
	case 3:
		advance_audio(m, (int64_t)step * 1000000); /* a stall of up to 65 s */
		break;
	default:
		advance_audio(m, (int64_t)step * 1000);
		break;
	}
}

/* ---- targets: virtio devices ---------------------------------------------- */

static struct virtio_host fuzz_virtio_host(struct fuzz_machine *m)
{
	/* No I/O thread: queue work runs inside the notify that asked for it. */
	return (struct virtio_host){ .send_msi = send_msi, .opaque = m, .io_thread = false };
}

/* Firmware's part for a virtio function: BAR0 (legacy I/O), BAR1 (MSI-X
 * table), BAR4 (modern registers), decode and bus mastering on. */
static bool virtio_place(struct fuzz_machine *m, struct virtio_pci *t)
{
	if (!t)
		return false;
	m->vt = t;
	cfg_wr(m, VIRTIO_DEVFN, PCI_BAR0, VIRTIO_IOBASE, 4);
	cfg_wr(m, VIRTIO_DEVFN, PCI_BAR0 + 4, (uint32_t)VIRTIO_MSIX_BAR, 4);
	cfg_wr(m, VIRTIO_DEVFN, PCI_BAR0 + 16, (uint32_t)VIRTIO_BAR4, 4);
	cfg_wr(m, VIRTIO_DEVFN, PCI_BAR0 + 20, 0, 4);
	cfg_wr(m, VIRTIO_DEVFN, PCI_COMMAND,
	       PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	m->devfn[m->ndevfn++] = VIRTIO_DEVFN;
	add_window(m, &m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_COMMON_OFF, VIRTIO_COMMON_SIZE);
	add_window(m, &m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_ISR_OFF, 4);
	add_window(m, &m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_DEVICE_OFF, 0x100);
	add_window(m, &m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_NOTIFY_OFF,
		   VIRTIO_PCI_NOTIFY_MULT * VIRTIO_PCI_MAX_QUEUES);
	add_window(m, &m->mmio, VIRTIO_MSIX_BAR, 0x1000);
	add_window(m, &m->pio, VIRTIO_IOBASE, 0x100);
	return true;
}

static void common_wr(struct fuzz_machine *m, unsigned off, uint64_t v, unsigned size)
{
	bus_write(&m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_COMMON_OFF + off, &v, size);
}

static uint64_t common_rd(struct fuzz_machine *m, unsigned off, unsigned size)
{
	uint64_t v = 0;
	bus_read(&m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_COMMON_OFF + off, &v, size);
	return v;
}

/* What Linux does for MSI-X: enable it in the capability's message
 * control and unmask table entries 0..n-1, each with its own vector. */
static void virtio_enable_msix(struct fuzz_machine *m, unsigned n)
{
	unsigned cap = pci_config_read(&m->pci, VIRTIO_DEVFN, PCI_CAPABILITY_LIST, 1);

	for (unsigned hops = 0; cap && hops < 48; hops++) {
		if (pci_config_read(&m->pci, VIRTIO_DEVFN, cap, 1) == 0x11) {
			cfg_wr(m, VIRTIO_DEVFN, cap + 2, 0x8000, 2);
			break;
		}
		cap = pci_config_read(&m->pci, VIRTIO_DEVFN, cap + 1, 1);
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = VIRTIO_MSIX_BAR + 16 * i, addr = 0xFEE00000, data = 0x30 + i, ctl = 0;
		bus_write(&m->mmio, e, &addr, 4);
		bus_write(&m->mmio, e + 8, &data, 4);
		bus_write(&m->mmio, e + 12, &ctl, 4);
	}
	common_wr(m, VIRTIO_COMMON_MSIX, 0, 2); /* configuration changes: vector 0 */
}

/* A modern driver's handshake with features from the input (VERSION_1
 * kept), then queues 0..n-1 at RING_*(q) with a size from the input,
 * MSI-X if the input says so, and DRIVER_OK. Later ops fill the rings. */
static void virtio_driver_setup(struct fuzz_machine *m, struct input *in)
{
	uint64_t want = take(in, 8) | 1ULL << VIRTIO_F_VERSION_1;
	uint8_t shape = take8(in);
	unsigned nq = 1 + shape % 8;
	bool msix = shape & 0x80;
	uint16_t qsize = (uint16_t)(1u << (take8(in) % 9)); /* 1..256 */

	common_wr(m, VIRTIO_COMMON_STATUS, 0, 1);
	common_wr(m, VIRTIO_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	common_wr(m, VIRTIO_COMMON_DFSELECT, 0, 4);
	uint64_t offered = common_rd(m, VIRTIO_COMMON_DF, 4);
	common_wr(m, VIRTIO_COMMON_DFSELECT, 1, 4);
	offered |= common_rd(m, VIRTIO_COMMON_DF, 4) << 32;
	want &= offered;
	common_wr(m, VIRTIO_COMMON_GFSELECT, 0, 4);
	common_wr(m, VIRTIO_COMMON_GF, (uint32_t)want, 4);
	common_wr(m, VIRTIO_COMMON_GFSELECT, 1, 4);
	common_wr(m, VIRTIO_COMMON_GF, (uint32_t)(want >> 32), 4);
	common_wr(m, VIRTIO_COMMON_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	for (unsigned q = 0; q < nq; q++) {
		m->avail_idx[q] = 0;
		m->qsize[q] = qsize;
		memset(m->ram + RING_DESC(q), 0, 0x3000);
		common_wr(m, VIRTIO_COMMON_Q_SELECT, q, 2);
		common_wr(m, VIRTIO_COMMON_Q_SIZE, qsize, 2);
		common_wr(m, VIRTIO_COMMON_Q_MSIX, q + 1, 2);
		common_wr(m, VIRTIO_COMMON_Q_DESCLO, RING_DESC(q), 4);
		common_wr(m, VIRTIO_COMMON_Q_DESCHI, 0, 4);
		common_wr(m, VIRTIO_COMMON_Q_AVAILLO, RING_AVAIL(q), 4);
		common_wr(m, VIRTIO_COMMON_Q_AVAILHI, 0, 4);
		common_wr(m, VIRTIO_COMMON_Q_USEDLO, RING_USED(q), 4);
		common_wr(m, VIRTIO_COMMON_Q_USEDHI, 0, 4);
		common_wr(m, VIRTIO_COMMON_Q_ENABLE, 1, 2);
	}
	if (msix)
		virtio_enable_msix(m, nq + 1);
	common_wr(m, VIRTIO_COMMON_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK, 1);
}

/* A legacy (virtio 0.9.5) driver through I/O BAR0: features, then queues
 * 0..n-1 by page frame number at RING_DESC(q). With the device's queue
 * size of 256 (blk, net) the legacy layout puts avail and used exactly at
 * RING_AVAIL(q) and RING_USED(q), so the other shortcuts apply. */
static void virtio_legacy_setup(struct fuzz_machine *m, struct input *in)
{
	uint64_t v = 0, base = VIRTIO_IOBASE;
	unsigned nq = 1 + take8(in) % 8;

	bus_write(&m->pio, base + VIRTIO_LEGACY_STATUS, &v, 1);
	v = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	bus_write(&m->pio, base + VIRTIO_LEGACY_STATUS, &v, 1);
	bus_read(&m->pio, base + VIRTIO_LEGACY_HOST_FEATURES, &v, 4);
	v &= take32(in);
	bus_write(&m->pio, base + VIRTIO_LEGACY_GUEST_FEATURES, &v, 4);
	for (unsigned q = 0; q < nq; q++) {
		m->avail_idx[q] = 0;
		m->qsize[q] = 256;
		memset(m->ram + RING_DESC(q), 0, 0x3000);
		v = q;
		bus_write(&m->pio, base + VIRTIO_LEGACY_QUEUE_SEL, &v, 2);
		v = RING_DESC(q) >> 12;
		bus_write(&m->pio, base + VIRTIO_LEGACY_QUEUE_PFN, &v, 4);
	}
	v = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK;
	bus_write(&m->pio, base + VIRTIO_LEGACY_STATUS, &v, 1);
}

/* Descriptor i of queue q (only the queues the shortcut laid out; a ring
 * the guest placed itself is reached with plain RAM writes). Addresses
 * are mostly inside RAM, lengths anything. */
static void virtio_write_desc(struct fuzz_machine *m, struct input *in)
{
	unsigned q = take8(in) % 8, i = take8(in) % 256;
	uint8_t *d = m->ram + RING_DESC(q) + 16 * i;
	uint32_t addr = take32(in);
	uint32_t len = take32(in);
	uint16_t flags = take16(in) & 7, next = take16(in);

	if (!(addr & 0x80000000u))
		addr %= m->ram_size;
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Puts a head in queue q's avail ring, publishes the index and notifies
 * (through BAR4, or the legacy register if the queue byte's top bit is set). */
static void virtio_offer(struct fuzz_machine *m, struct input *in)
{
	uint8_t qb = take8(in);
	unsigned q = qb % 8;
	uint16_t head = take16(in);
	uint16_t size = m->qsize[q] ? m->qsize[q] : 256;
	uint8_t *avail = m->ram + RING_AVAIL(q);

	put_le16(avail + 4 + 2 * (m->avail_idx[q] % size), head);
	m->avail_idx[q]++;
	put_le16(avail + 2, m->avail_idx[q]);
	uint64_t v = q;
	if (qb & 0x80)
		bus_write(&m->pio, VIRTIO_IOBASE + VIRTIO_LEGACY_QUEUE_NOTIFY, &v, 2);
	else
		bus_write(&m->mmio, VIRTIO_BAR4 + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q,
			  &v, 2);
}

static bool virtio_blk_target_create(struct fuzz_machine *m)
{
	struct virtio_host host = fuzz_virtio_host(m);
	m->disk_data = calloc(1, DISK_SIZE);
	if (!m->disk_data)
		return false;
	/* The device owns (and closes) the block device; 0 workers: every
	 * request is carried out inside the notify. */
	m->vblk = virtio_blk_create(&m->pci, VIRTIO_DEVFN, &m->mem, &host,
				    block_open_memory(m->disk_data, DISK_SIZE, false), "FUZZ", 0);
	return m->vblk && virtio_place(m, virtio_blk_transport(m->vblk));
}

static void virtio_blk_target_destroy(struct fuzz_machine *m)
{
	virtio_blk_destroy(m->vblk);
	free(m->disk_data);
}

static void fake_net_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame,
			  size_t len)
{
}

/* Reads every byte it is given, as the kernel's writev would: a piece
 * outside guest RAM shows under ASan. */
static void fake_net_sendv(struct net_backend *b, const struct net_hdr *hdr,
			   const struct iovec *iov, unsigned n)
{
	uint8_t x = 0;

	for (unsigned i = 0; i < n; i++)
		for (size_t k = 0; k < iov[i].iov_len; k++)
			x ^= ((const uint8_t *)iov[i].iov_base)[k];
	__asm__ volatile("" : : "r"(x)); /* the reads stay */
}

static void fake_net_offload(struct net_backend *b, bool csum, bool tso4, bool tso6, bool ecn)
{
}

static void fake_net_rx_ready(struct net_backend *b)
{
}

static const struct net_backend_ops fake_net_ops = {
	.send = fake_net_send, .sendv = fake_net_sendv, .set_offload = fake_net_offload,
	.rx_ready = fake_net_rx_ready,
};

/* A backend the device reads itself (tap): the frame the input's last
 * event left on that queue, given once, in a buffer the device may
 * change (it completes checksums in place). */
static struct fuzz_machine *polled_machine;
static uint8_t polled_buf[NET_MAX_FRAME];

static int fake_net_rx_fd(struct net_backend *b)
{
	return 0; /* never watched: the fuzzer has no I/O thread */
}

static uint8_t *fake_net_recv(struct net_backend *b, struct net_hdr *hdr, size_t *len)
{
	struct fuzz_machine *m = polled_machine;
	unsigned k = b == &m->net_be2;

	if (!m->net_waiting[k])
		return NULL;
	memcpy(polled_buf, m->net_waiting[k], m->net_waiting_len[k]);
	*len = m->net_waiting_len[k];
	*hdr = m->net_waiting_hdr[k];
	free(m->net_waiting[k]);
	m->net_waiting[k] = NULL;
	return polled_buf;
}

static const struct net_backend_ops fake_net_polled_ops = {
	.send = fake_net_send, .sendv = fake_net_sendv, .set_offload = fake_net_offload,
	.rx_ready = fake_net_rx_ready,
	.rx_fd = fake_net_rx_fd, .recv = fake_net_recv,
};

static bool virtio_net_target_create(struct fuzz_machine *m)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct virtio_host host = fuzz_virtio_host(m);

	/* With offloads (tap-like) or without (slirp-like, where vmm itself
	 * completes checksums and segments TSO frames), by the variant byte;
	 * with mq=on over a two-queue backend (the control queue, two
	 * pairs) or not; read by the device (tap) or delivering (slirp). */
	bool mq = m->variant & 2;
	polled_machine = m;
	m->net_be = (struct net_backend){ .ops = m->variant & 4 ? &fake_net_polled_ops : &fake_net_ops,
					  .caps = m->variant & 1 ? 0 : NET_CAP_OFFLOAD };
	m->net_be2 = m->net_be;
	m->net_be.next_queue = mq ? &m->net_be2 : NULL;
	m->vnet = virtio_net_create(&m->pci, VIRTIO_DEVFN, &m->mem, &host, mac, &m->net_be, mq);
	if (!m->vnet || virtio_net_attach(m->vnet) < 0)
		return false;
	return virtio_place(m, virtio_net_transport(m->vnet));
}

static void virtio_net_target_destroy(struct fuzz_machine *m)
{
	virtio_net_destroy(m->vnet);
	for (unsigned k = 0; k < 2; k++)
		free(m->net_waiting[k]);
}

/* A frame from the network, with a header the backend made up. */
static void virtio_net_event(struct fuzz_machine *m, struct input *in)
{
	static uint8_t frame[NET_MAX_FRAME];
	uint8_t queue = take8(in);
	struct net_backend *be = queue & 1 && m->net_be.next_queue ? m->net_be.next_queue
								   : &m->net_be;
	struct net_hdr hdr = { .flags = take8(in) & 3, .gso_type = take8(in),
			       .hdr_len = take16(in), .gso_size = take16(in),
			       .csum_start = take16(in), .csum_offset = take16(in) };
	size_t len = take16(in) % sizeof(frame);
	size_t given = len < in->left ? len : in->left;

	memcpy(frame, in->p, given);
	memset(frame + given, 0x5A, len - given);
	in->p += given;
	in->left -= given;
	if (m->variant & 4) {
		/* Waits in the backend until the device reads it (a receive
		 * kick), replacing one not read yet. */
		unsigned k = be == &m->net_be2;
		free(m->net_waiting[k]);
		m->net_waiting[k] = malloc(len ? len : 1);
		if (!m->net_waiting[k])
			return;
		memcpy(m->net_waiting[k], frame, len);
		m->net_waiting_len[k] = len;
		m->net_waiting_hdr[k] = hdr;
		return;
	}
	be->rx(be->rx_opaque, &hdr, frame, len);
}

static bool virtio_rng_target_create(struct fuzz_machine *m)
{
	struct virtio_host host = fuzz_virtio_host(m);
	m->vrng = virtio_rng_create(&m->pci, VIRTIO_DEVFN, &m->mem, &host);
	return m->vrng && virtio_place(m, virtio_rng_transport(m->vrng));
}

static void virtio_rng_target_destroy(struct fuzz_machine *m)
{
	virtio_rng_destroy(m->vrng);
}

static void balloon_changed(void *opaque)
{
}

static bool virtio_balloon_target_create(struct fuzz_machine *m)
{
	struct virtio_host host = fuzz_virtio_host(m);
	m->vballoon = virtio_balloon_create(&m->pci, VIRTIO_DEVFN, &m->mem, &host, !(m->variant & 1),
					    balloon_changed, m);
	return m->vballoon && virtio_place(m, virtio_balloon_transport(m->vballoon));
}

static void virtio_balloon_target_destroy(struct fuzz_machine *m)
{
	virtio_balloon_destroy(m->vballoon);
}

static void virtio_balloon_event(struct fuzz_machine *m, struct input *in)
{
	struct virtio_balloon_info info;
	uint32_t pages = take32(in);

	if (pages & 1)
		virtio_balloon_request_stats(m->vballoon);
	else
		virtio_balloon_set_target(m->vballoon, pages >> 1);
	virtio_balloon_get_info(m->vballoon, &info);
}

/* Ports 0 (a console) and 1 read host input from a pipe the harness
 * writes (a file chardev's input-path), port 7 is on a null chardev. */
static bool virtio_console_target_create(struct fuzz_machine *m)
{
	struct virtio_console_port_config ports[3];
	struct virtio_host host = fuzz_virtio_host(m);
	char err[256], spec[128];

	for (unsigned i = 0; i < 3; i++) {
		struct chardev_config cc;
		if (i < 2) {
			if (pipe2(m->con_in[i], O_NONBLOCK | O_CLOEXEC) < 0)
				return false;
			snprintf(spec, sizeof(spec), "file,id=fz%u,path=/dev/null,input-path=/proc/self/fd/%d",
				 i, m->con_in[i][0]);
		} else {
			snprintf(spec, sizeof(spec), "null,id=fz%u", i);
		}
		if (chardev_parse(spec, &cc, err, sizeof(err)) < 0)
			return false;
		ports[i] = (struct virtio_console_port_config){
			.cd = chardev_create(&cc, err, sizeof(err)), .console = i == 0,
			.name = i ? "org.example.fuzz" : NULL, .nr = i == 2 ? 7 : i };
		if (!ports[i].cd)
			return false;
	}
	m->vcon = virtio_console_create(&m->pci, VIRTIO_DEVFN, &m->mem, &host, ports, 3);
	return m->vcon && virtio_place(m, virtio_console_transport(m->vcon));
}

static void virtio_console_target_destroy(struct fuzz_machine *m)
{
	virtio_console_destroy(m->vcon);
	chardev_destroy_all();
	for (unsigned i = 0; i < 2; i++) {
		close(m->con_in[i][0]);
		close(m->con_in[i][1]);
	}
}

/* Host input for port 0 or 1, then one round of the chardev main loop
 * (which hands it to the device, as vmm's main thread does). */
static void virtio_console_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t ctl = take8(in), buf[256];
	size_t n = take8(in);
	struct pollfd fds[CHARDEV_POLL_FDS];

	if (n > in->left)
		n = in->left;
	memcpy(buf, in->p, n);
	in->p += n;
	in->left -= n;
	if (n && write(m->con_in[ctl & 1][1], buf, n) < 0)
		return; /* the pipe is full: the device has not taken earlier input */
	int nfds = chardev_poll_fill(fds, CHARDEV_POLL_FDS);
	if (poll(fds, (nfds_t)nfds, 0) > 0)
		chardev_poll_handle(fds, nfds);
}

/* ---- target: the standard VGA (or bochs-display, variant bit 0) ---------- */
/* Variant bit 1: no monitor (edid=off), else the EDID of a 1024x768
 * monitor, listing up to 1920x1200 (what fits the 1 MiB), in the MMIO BAR's
 * first 1 KiB. */

#define VGA_DEVFN PCI_DEVFN(2, 0)
#define VGA_LFB 0xE0000000ULL
#define VGA_MMIO 0xFEB00000ULL

static bool vga_target_create(struct fuzz_machine *m)
{
	bool legacy = !(m->variant & 1);
	mem_space_init(&m->vga_space, &m->mmio);
	/* 1 MiB of video memory: the smallest, so that hostile sizes and
	 * offsets meet its end often */
	struct vga_config c = { .vram_size = 1u << 20, .legacy = legacy, .space = &m->vga_space,
				.pio = &m->pio, .mmio = &m->mmio };
	/* 8 KiB: a ROM BAR of two pages, which the PCI core makes a
	 * read-only region of the space wherever the guest decodes it */
	static const uint8_t rom[8192] = { 0x55, 0xAA, 16 };
	m->pci.space = &m->vga_space;
	m->vga = vga_pci_create(&m->pci, VGA_DEVFN, &c, rom, sizeof(rom));
	if (!m->vga)
		return false;
	if (!(m->variant & 2)) {
		struct edid_monitor mon = { .xres = 1024, .yres = 768, .xmax = 1920, .ymax = 1200 };
		uint8_t block[EDID_BLOCK_SIZE];
		char err[128];
		if (!edid_monitor_resolve(&mon, err, sizeof(err)))
			return false;
		edid_generate(&mon, block);
		vga_pci_set_edid(m->vga, block);
	}
	cfg_wr(m, VGA_DEVFN, PCI_BAR0, (uint32_t)VGA_LFB, 4);
	cfg_wr(m, VGA_DEVFN, PCI_BAR0 + 8, (uint32_t)VGA_MMIO, 4);
	cfg_wr(m, VGA_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	m->devfn[m->ndevfn++] = VGA_DEVFN;
	add_window(m, &m->pio, 0x3B0, 0x30);
	add_window(m, &m->pio, 0x1CE, 3);
	add_window(m, &m->mmio, 0xA0000, 0x20000);
	add_window(m, &m->mmio, VGA_MMIO, 0x1000);
	add_window(m, &m->mmio, VGA_LFB, 0x10000);
	add_window(m, &m->mmio, VGA_LFB + 0xF0000, 0x10000);
	return true;
}

static void vga_target_destroy(struct fuzz_machine *m)
{
	vga_pci_destroy(m->vga);
	mem_space_destroy(&m->vga_space);
}

/* The host looks at the screen (the renderer reads every mode the
 * registers can describe), takes a screendump's bytes, or resets. */
static void vga_event(struct fuzz_machine *m, struct input *in)
{
	struct display_rect r;
	size_t len;

	unsigned what = take8(in) % 3;
	/* a picture costs up to a few million pixels: a handful per input
	 * covers the renderer without the run timing out */
	if (what < 2 && ++m->vga_looks > 6)
		return;
	switch (what) {
	case 0:
		vga_refresh(m->vga->vga);
		display_take_dirty(&m->vga->vga->surface, &r);
		break;
	case 1:
		free(display_ppm_bytes(&m->vga->vga->surface, &len));
		break;
	default:
		vga_pci_reset(m->vga);
		break;
	}
}

/* ---- targets: network cards --------------------------------------------------- */

#define NIC_DEVFN PCI_DEVFN(3, 0)
#define NIC_MMIO 0xFE000000u
#define NIC_IOBASE 0xC000u

/* The three e1000 models by the variant byte, BARs placed and bus
 * mastering on, as firmware and the driver leave them; the interrupt
 * timers (ITR, the delay timers) on the harness's clock. */
static bool e1000_target_create(struct fuzz_machine *m)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const enum e1000_model models[] = { E1000_82540EM, E1000_82544GC, E1000_82545EM };

	m->net_be = (struct net_backend){ .ops = &fake_net_ops };
	if (!harness_loop_new(m))
		return false;
	m->e1000 = e1000_create(&m->pci, NIC_DEVFN, &m->mem, models[m->variant % 3], mac,
				&m->net_be, NULL, 0);
	if (!m->e1000)
		return false;
	e1000_set_timers(m->e1000, m->loop);
	net_attach(&m->net_be, e1000_receive, m->e1000);
	cfg_wr(m, NIC_DEVFN, PCI_BAR0, NIC_MMIO, 4);
	cfg_wr(m, NIC_DEVFN, PCI_BAR0 + 4, NIC_IOBASE, 4);
	cfg_wr(m, NIC_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	m->devfn[m->ndevfn++] = NIC_DEVFN;
	add_window(m, &m->mmio, NIC_MMIO, E1000_MMIO_SIZE);       /* window 1: registers */
	add_window(m, &m->pio, NIC_IOBASE, E1000_IO_SIZE);        /* window 2: IOADDR/IODATA */
	add_window(m, &m->mmio, NIC_MMIO + 0x2800, 0x1000);       /* window 3: the rings' registers */
	return true;
}

static void e1000_target_destroy(struct fuzz_machine *m)
{
	e1000_destroy(m->e1000);
	event_loop_free(m->loop);
}

/* A frame from the network (with a header the backend made up), the cable
 * pulled or plugged, or time passing (up to ~65 ms) for the timers. */
static void e1000_event(struct fuzz_machine *m, struct input *in)
{
	static uint8_t frame[NET_MAX_FRAME];
	uint8_t ctl = take8(in);
	if (ctl >= 0xF0) {
		e1000_set_link(m->e1000, ctl & 1);
		return;
	}
	if (ctl >= 0xE0) {
		m->clock_ns += (int64_t)take16(in) * 1000;
		event_loop_run_once(m->loop, 0);
		return;
	}
	struct net_hdr hdr = { .flags = ctl & 3, .gso_type = take8(in),
			       .csum_start = take16(in), .csum_offset = take16(in) };
	size_t len = take16(in) % sizeof(frame);
	size_t given = len < in->left ? len : in->left;

	memcpy(frame, in->p, given);
	memset(frame + given, 0x5A, len - given);
	in->p += given;
	in->left -= given;
	e1000_receive(m->e1000, &hdr, frame, len);
}

/* The RTL8139C+: both windows, TCTR on the harness's clock. */
static bool rtl8139_target_create(struct fuzz_machine *m)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	m->net_be = (struct net_backend){ .ops = &fake_net_ops };
	m->clock_ns = 1000000000;
	m->rtl8139 = rtl8139_create(&m->pci, NIC_DEVFN, &m->mem, mac, !(m->variant & 1),
				    &m->net_be, NULL, 0, fake_clock, m);
	if (!m->rtl8139)
		return false;
	net_attach(&m->net_be, rtl8139_receive, m->rtl8139);
	cfg_wr(m, NIC_DEVFN, PCI_BAR0, NIC_IOBASE, 4);
	cfg_wr(m, NIC_DEVFN, PCI_BAR0 + 4, NIC_MMIO, 4);
	cfg_wr(m, NIC_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	m->devfn[m->ndevfn++] = NIC_DEVFN;
	add_window(m, &m->pio, NIC_IOBASE, RTL8139_REGS_SIZE);  /* window 1 */
	add_window(m, &m->mmio, NIC_MMIO, RTL8139_REGS_SIZE);   /* window 2 */
	return true;
}

static void rtl8139_target_destroy(struct fuzz_machine *m)
{
	rtl8139_destroy(m->rtl8139);
}

/* A frame from the network, the cable, or the clock moving on. */
static void rtl8139_event(struct fuzz_machine *m, struct input *in)
{
	static uint8_t frame[NET_MAX_FRAME];
	uint8_t ctl = take8(in);
	if (ctl >= 0xF0) {
		rtl8139_set_link(m->rtl8139, ctl & 1);
		return;
	}
	if (ctl >= 0xE0) {
		m->clock_ns += take32(in);
		return;
	}
	struct net_hdr hdr = { .flags = ctl & 3, .gso_type = take8(in),
			       .csum_start = take16(in), .csum_offset = take16(in) };
	size_t len = take16(in) % sizeof(frame);
	size_t given = len < in->left ? len : in->left;

	memcpy(frame, in->p, given);
	memset(frame + given, 0x5A, len - given);
	in->p += given;
	in->left -= given;
	rtl8139_receive(m->rtl8139, &hdr, frame, len);
}

/* A frame from the network with the header fields the input gives. */
static void nic_frame_event(struct input *in, uint8_t ctl,
			    bool (*rx)(void *, const struct net_hdr *, const uint8_t *, size_t),
			    void *nic)
{
	static uint8_t frame[NET_MAX_FRAME];
	struct net_hdr hdr = { .flags = ctl & 3, .gso_type = take8(in),
			       .csum_start = take16(in), .csum_offset = take16(in) };
	size_t len = take16(in) % sizeof(frame);
	size_t given = len < in->left ? len : in->left;

	memcpy(frame, in->p, given);
	memset(frame + given, 0x5A, len - given);
	in->p += given;
	in->left -= given;
	rx(nic, &hdr, frame, len);
}

/* The NE2000: odd variants the ISA card at 0x300, even ones the PCI card. */
#define NE2K_ISA_BASE 0x300u

static bool ne2000_target_create(struct fuzz_machine *m)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	m->net_be = (struct net_backend){ .ops = &fake_net_ops };
	if (m->variant & 1) {
		struct irq_line none = { 0 };
		m->ne2000 = ne2000_create_isa(&m->pio, NE2K_ISA_BASE, none, mac, &m->net_be);
		if (!m->ne2000)
			return false;
		add_window(m, &m->pio, NE2K_ISA_BASE, NE2000_IO_SIZE); /* window 1 */
	} else {
		m->ne2000 = ne2000_create_pci(&m->pci, NIC_DEVFN, mac, &m->net_be, NULL, 0);
		if (!m->ne2000)
			return false;
		cfg_wr(m, NIC_DEVFN, PCI_BAR0, NIC_IOBASE, 4);
		cfg_wr(m, NIC_DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
		m->devfn[m->ndevfn++] = NIC_DEVFN;
		add_window(m, &m->pio, NIC_IOBASE, NE2000_IO_SIZE);     /* window 1 */
	}
	net_attach(&m->net_be, ne2000_receive, m->ne2000);
	return true;
}

static void ne2000_target_destroy(struct fuzz_machine *m)
{
	ne2000_destroy(m->ne2000);
}

/* A frame, the cable, a machine reset of the ISA card, quiesce/resume. */
static void ne2000_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t ctl = take8(in);
	if (ctl >= 0xF0) {
		ne2000_set_link(m->ne2000, ctl & 1);
	} else if (ctl >= 0xE8) {
		ne2000_reset(m->ne2000);
	} else if (ctl >= 0xE0) {
		ne2000_quiesce(m->ne2000);
		ne2000_resume(m->ne2000);
	} else {
		nic_frame_event(in, ctl, ne2000_receive, m->ne2000);
	}
}

/* The PCnet: both windows. */
static bool pcnet_target_create(struct fuzz_machine *m)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	m->net_be = (struct net_backend){ .ops = &fake_net_ops };
	m->pcnet = pcnet_create(&m->pci, NIC_DEVFN, &m->mem, mac, &m->net_be, NULL, 0);
	if (!m->pcnet)
		return false;
	net_attach(&m->net_be, pcnet_receive, m->pcnet);
	cfg_wr(m, NIC_DEVFN, PCI_BAR0, NIC_IOBASE, 4);
	cfg_wr(m, NIC_DEVFN, PCI_BAR0 + 4, NIC_MMIO, 4);
	cfg_wr(m, NIC_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	m->devfn[m->ndevfn++] = NIC_DEVFN;
	add_window(m, &m->pio, NIC_IOBASE, PCNET_IO_SIZE);  /* window 1 */
	add_window(m, &m->mmio, NIC_MMIO, PCNET_IO_SIZE);   /* window 2 */
	return true;
}

static void pcnet_target_destroy(struct fuzz_machine *m)
{
	pcnet_destroy(m->pcnet);
}

static void pcnet_event(struct fuzz_machine *m, struct input *in)
{
	uint8_t ctl = take8(in);
	if (ctl >= 0xF0) {
		pcnet_set_link(m->pcnet, ctl & 1);
	} else if (ctl >= 0xE0) {
		pcnet_quiesce(m->pcnet);
		pcnet_resume(m->pcnet);
	} else {
		nic_frame_event(in, ctl, pcnet_receive, m->pcnet);
	}
}

/* ---- target: the Cirrus CL-GD5446 (cirrus-vga) --------------------------------- */

#define CIRRUS_LFB 0xE0000000ULL
#define CIRRUS_MMIO 0xFEB00000ULL

/* Windows: 1 the VGA ports, 2 the legacy window, 3 BAR1 (ports and BLT
 * registers), 4 the LFB's start, 5 the end of its 4 MiB (cursor
 * patterns, the BLT registers at the LFB's end), 6 the BLT source
 * aperture at 16 MiB. */
static bool cirrus_target_create(struct fuzz_machine *m)
{
	mem_space_init(&m->vga_space, &m->mmio);
	struct vga_config c = { .vram_size = 4u << 20, .legacy = true, .space = &m->vga_space,
				.pio = &m->pio, .mmio = &m->mmio };
	static const uint8_t rom[512] = { 0x55, 0xAA, 1 };
	m->cirrus = cirrus_vga_create(&m->pci, VGA_DEVFN, &c, rom, sizeof(rom));
	if (!m->cirrus)
		return false;
	cfg_wr(m, VGA_DEVFN, PCI_BAR0, (uint32_t)CIRRUS_LFB, 4);
	cfg_wr(m, VGA_DEVFN, PCI_BAR0 + 4, (uint32_t)CIRRUS_MMIO, 4);
	cfg_wr(m, VGA_DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	m->devfn[m->ndevfn++] = VGA_DEVFN;
	add_window(m, &m->pio, 0x3B0, 0x30);
	add_window(m, &m->mmio, 0xA0000, 0x20000);
	add_window(m, &m->mmio, CIRRUS_MMIO, 0x1000);
	add_window(m, &m->mmio, CIRRUS_LFB, 0x10000);
	add_window(m, &m->mmio, CIRRUS_LFB + 0x3F0000, 0x10000);
	add_window(m, &m->mmio, CIRRUS_LFB + CIRRUS_BLT_APERTURE, 0x10000);
	return true;
}

static void cirrus_target_destroy(struct fuzz_machine *m)
{
	cirrus_vga_destroy(m->cirrus);
	mem_space_destroy(&m->vga_space);
}

/* As the VGA's: a look at the screen, a screendump's bytes, a reset. */
static void cirrus_event(struct fuzz_machine *m, struct input *in)
{
	struct display_rect r;
	size_t len;
	struct vga *v = m->cirrus->vga;

	unsigned what = take8(in) % 3;
	if (what < 2 && ++m->vga_looks > 6)
		return;
	switch (what) {
	case 0:
		vga_refresh(v);
		display_take_dirty(&v->surface, &r);
		break;
	case 1:
		free(display_ppm_bytes(&v->surface, &len));
		break;
	default:
		cirrus_vga_reset(m->cirrus);
		break;
	}
}

/* ---- the target table -------------------------------------------------------- */

struct target {
	const char *name;
	/* the hw/ files this target drives (check_targets.sh reads this) */
	const char *covers;
	bool (*create)(struct fuzz_machine *m);
	void (*destroy)(struct fuzz_machine *m);
	void (*event)(struct fuzz_machine *m, struct input *in); /* host side, optional */
	bool virtio;
	uint32_t ram_size; /* 0: RAM_SIZE */
};

static const struct target *target; /* the one this process runs */

#define DEVICE(n, files, pre, ...) \
	{ .name = #n, .covers = files, .create = pre##_create, .destroy = pre##_destroy, __VA_ARGS__ }

static const struct target targets[] = {
	DEVICE(chipset, "hw/chipset/i440fx.c hw/chipset/piix3.c hw/chipset/piix_pm.c hw/chipset/legacy_ports.c", chipset,
	       .event = chipset_event, .ram_size = CHIPSET_RAM_SIZE),
	DEVICE(rtc, "hw/chipset/rtc.c", rtc_target, .event = rtc_event),
	DEVICE(serial, "hw/misc/serial.c", serial_target, .event = serial_event),
	DEVICE(i8042, "hw/misc/i8042.c", i8042_target, .event = i8042_event),
	DEVICE(fw_cfg, "hw/chipset/fw_cfg.c", fw_cfg_target, .event = fw_cfg_event),
	DEVICE(dma, "hw/chipset/i8237.c", dma_target, .event = dma_event),
	DEVICE(ide, "hw/storage/piix_ide.c hw/storage/ide_core.c hw/storage/atapi.c", ide_target, .event = ide_event),
	DEVICE(i6300esb, "hw/watchdog/i6300esb.c", i6300esb_target, .event = wdt_event),
	DEVICE(ib700, "hw/watchdog/ib700.c", ib700_target, .event = wdt_event),
	DEVICE(sb16, "hw/audio/sb16.c hw/chipset/i8237.c", sb16_target, .event = sb16_event),
	DEVICE(cs4231a, "hw/audio/cs4231a.c hw/chipset/i8237.c", cs4231a_target,
	       .event = cs4231a_event),
	DEVICE(gus, "hw/audio/gus.c hw/chipset/i8237.c", gus_target, .event = gus_event),
	DEVICE(fdc, "hw/storage/fdc.c hw/chipset/i8237.c", fdc_target, .event = fdc_event),
	DEVICE(es1370, "hw/audio/es1370.c", es1370_target, .event = es1370_event),
	DEVICE(pcspk, "hw/audio/pcspk.c", pcspk_target, .event = pcspk_event),
	DEVICE(virtio_blk, "hw/virtio/virtio_blk.c hw/virtio/virtio_pci.c", virtio_blk_target, .virtio = true),
	DEVICE(virtio_net, "hw/virtio/virtio_net.c hw/virtio/virtio_pci.c", virtio_net_target,
	       .event = virtio_net_event, .virtio = true),
	DEVICE(virtio_rng, "hw/virtio/virtio_rng.c hw/virtio/virtio_pci.c", virtio_rng_target, .virtio = true),
	DEVICE(virtio_balloon, "hw/virtio/virtio_balloon.c hw/virtio/virtio_pci.c", virtio_balloon_target,
	       .event = virtio_balloon_event, .virtio = true),
	DEVICE(virtio_console, "hw/virtio/virtio_console.c hw/virtio/virtio_pci.c", virtio_console_target,
	       .event = virtio_console_event, .virtio = true),
	DEVICE(vga, "hw/display/vga.c hw/display/vga_pci.c hw/display/edid.c", vga_target, .event = vga_event),
	DEVICE(e1000, "hw/net/e1000.c", e1000_target, .event = e1000_event),
	DEVICE(rtl8139, "hw/net/rtl8139.c", rtl8139_target, .event = rtl8139_event),
	DEVICE(ne2000, "hw/net/ne2000.c", ne2000_target, .event = ne2000_event),
	DEVICE(pcnet, "hw/net/pcnet.c", pcnet_target, .event = pcnet_event),
	DEVICE(cirrus, "hw/display/vga.c hw/display/cirrus_vga.c hw/display/cirrus_blt.c", cirrus_target,
	       .event = cirrus_event),
};

/* ---- the interpreter -------------------------------------------------------- */

enum op {
	OP_READ, OP_WRITE, OP_CFG_READ, OP_CFG_WRITE, OP_RAM_BYTES, OP_RAM_VALUE,
	OP_EVENT, OP_DRIVER, OP_RESET, OP_RAW_PIO, OP_COUNT
};

static unsigned access_size(uint8_t b) { return 1u << (b % 4); }

static void op_access(struct fuzz_machine *m, struct input *in, bool write)
{
	const struct window *w = &m->win[take8(in) % m->nwin];
	uint64_t addr = w->base + take16(in) % w->len;
	unsigned size = access_size(take8(in));
	uint64_t v = write ? take(in, size) : 0;

	if (write)
		bus_write(w->bus, addr, &v, size);
	else
		bus_read(w->bus, addr, &v, size);
}

/* Anywhere in port space: other devices' ports, the gaps between them. */
static void op_raw_pio(struct fuzz_machine *m, struct input *in)
{
	uint16_t port = take16(in);
	uint8_t ctl = take8(in);
	unsigned size = 1u << (ctl % 3);
	uint64_t v = 0;

	if (ctl & 0x80) {
		v = take(in, size);
		bus_write(&m->pio, port, &v, size);
	} else {
		bus_read(&m->pio, port, &v, size);
	}
}

static void op_config(struct fuzz_machine *m, struct input *in, bool write)
{
	uint8_t sel = take8(in);
	uint8_t devfn = sel < 0xF0 && m->ndevfn ? m->devfn[sel % m->ndevfn] : take8(in);
	unsigned off = take8(in), size = 1u << (take8(in) % 3);

	if (write)
		pci_config_write(&m->pci, devfn, off, (uint32_t)take(in, size), size);
	else
		pci_config_read(&m->pci, devfn, off, size);
}

static void op_ram_bytes(struct fuzz_machine *m, struct input *in)
{
	uint32_t addr = take32(in) % m->ram_size;
	size_t len = take8(in);
	if (len > in->left)
		len = in->left;
	if (len > m->ram_size - addr)
		len = m->ram_size - addr;
	memcpy(m->ram + addr, in->p, len);
	in->p += len;
	in->left -= len;
}

static void op_ram_value(struct fuzz_machine *m, struct input *in)
{
	uint32_t addr = take32(in) % (m->ram_size - 8);
	unsigned size = access_size(take8(in));
	uint64_t v = take(in, size);
	for (unsigned i = 0; i < size; i++)
		m->ram[addr + i] = (uint8_t)(v >> (8 * i));
}

static void op_driver(struct fuzz_machine *m, struct input *in)
{
	if (!target->virtio)
		return;
	switch (take8(in) % 4) {
	case 0: virtio_driver_setup(m, in); break;
	case 1: virtio_write_desc(m, in); break;
	case 2: virtio_offer(m, in); break;
	default: virtio_legacy_setup(m, in); break;
	}
}

static void run_program(struct fuzz_machine *m, struct input *in)
{
	/* Bounds the work per input (libFuzzer's -timeout catches the rest). */
	for (unsigned steps = 0; in->left && steps < 4096; steps++) {
		switch (take8(in) % OP_COUNT) {
		case OP_READ: op_access(m, in, false); break;
		case OP_WRITE: op_access(m, in, true); break;
		case OP_CFG_READ: op_config(m, in, false); break;
		case OP_CFG_WRITE: op_config(m, in, true); break;
		case OP_RAM_BYTES: op_ram_bytes(m, in); break;
		case OP_RAM_VALUE: op_ram_value(m, in); break;
		case OP_EVENT:
			if (target->event)
				target->event(m, in);
			break;
		case OP_DRIVER: op_driver(m, in); break;
		case OP_RESET: pci_bus_reset(&m->pci); break;
		case OP_RAW_PIO: op_raw_pio(m, in); break;
		}
	}
}

static struct fuzz_machine *machine_new(void)
{
	struct fuzz_machine *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->ram_size = target->ram_size ? target->ram_size : RAM_SIZE;
	if (guest_mem_init(&m->mem, m->ram_size) < 0)
		abort();
	m->ram = m->mem.ram; /* the whole mapping, VGA window included */
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	pci_bus_init(&m->pci, &m->pio, &m->mmio);
	m->pci.set_intx = intx_recorder;
	m->pci.intx_opaque = m;
	add_window(m, &m->pio, 0, 0x10000); /* window 0: all of port space */
	return m;
}

static void machine_free(struct fuzz_machine *m)
{
	target->destroy(m);
	bus_destroy(&m->pio);
	bus_destroy(&m->mmio);
	guest_mem_destroy(&m->mem);
	free(m);
}

/* ---- seed corpus ------------------------------------------------------------
 * `FUZZ_WRITE_SEEDS=DIR fuzz_devices` writes DIR/<target>/seed-N for every
 * target (tests/fuzz/seeds.sh calls it): short programs in the encoding
 * above that do what a driver does first, so fuzzing starts deep inside
 * each device rather than at its first register. */

struct seed {
	uint8_t b[4096];
	size_t n;
};

static void put(struct seed *s, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes && s->n < sizeof(s->b); i++)
		s->b[s->n++] = (uint8_t)(v >> (8 * i));
}

/* Window index 'w' of the target: access at 'off', size 1 << lg. */
static void s_wr(struct seed *s, unsigned w, unsigned off, uint64_t v, unsigned lg)
{
	put(s, OP_WRITE, 1), put(s, w, 1), put(s, off, 2), put(s, lg, 1), put(s, v, 1u << lg);
}

static void s_rd(struct seed *s, unsigned w, unsigned off, unsigned lg)
{
	put(s, OP_READ, 1), put(s, w, 1), put(s, off, 2), put(s, lg, 1);
}

static void s_io_wr(struct seed *s, unsigned port, uint64_t v, unsigned lg)
{
	s_wr(s, 0, port, v, lg); /* window 0 is all of port space */
}

static void s_io_rd(struct seed *s, unsigned port, unsigned lg)
{
	s_rd(s, 0, port, lg);
}

static void s_ram(struct seed *s, uint32_t addr, uint64_t v, unsigned lg)
{
	put(s, OP_RAM_VALUE, 1), put(s, addr, 4), put(s, lg, 1), put(s, v, 1u << lg);
}

static void s_cfg_rd(struct seed *s, unsigned devfn_idx, unsigned off, unsigned lg)
{
	put(s, OP_CFG_READ, 1), put(s, devfn_idx, 1), put(s, off, 1), put(s, lg, 1);
}

static void s_cfg_wr(struct seed *s, unsigned devfn_idx, unsigned off, uint32_t v, unsigned lg)
{
	put(s, OP_CFG_WRITE, 1), put(s, devfn_idx, 1), put(s, off, 1), put(s, lg, 1);
	put(s, v, 1u << lg);
}

static void s_event(struct seed *s, const uint8_t *args, size_t n)
{
	put(s, OP_EVENT, 1);
	for (size_t i = 0; i < n; i++)
		put(s, args[i], 1);
}

static void s_virtio_setup(struct seed *s, unsigned nq)
{
	put(s, OP_DRIVER, 1), put(s, 0, 1), put(s, UINT64_MAX, 8), put(s, (nq - 1) | 0x80, 1);
	put(s, 4, 1);
}

static void s_desc(struct seed *s, unsigned q, unsigned i, uint32_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	put(s, OP_DRIVER, 1), put(s, 1, 1), put(s, q, 1), put(s, i, 1), put(s, addr, 4);
	put(s, len, 4), put(s, flags, 2), put(s, next, 2);
}

static void s_offer(struct seed *s, unsigned q, uint16_t head)
{
	put(s, OP_DRIVER, 1), put(s, 2, 1), put(s, q, 1), put(s, head, 2);
}

#define D_NEXT 1
#define D_WRITE 2

/* Generic: every register of every window read, then written with zero. */
static void seed_generic(struct fuzz_machine *m, struct seed *s)
{
	for (unsigned w = 1; w < m->nwin; w++)
		for (unsigned off = 0; off < m->win[w].len && off < 64; off++)
			s_rd(s, w, off, 0);
	for (unsigned w = 1; w < m->nwin; w++)
		for (unsigned off = 0; off < m->win[w].len && off < 64; off++)
			s_wr(s, w, off, 0, 0);
}

static unsigned seed_target(struct fuzz_machine *m, unsigned k, struct seed *s)
{
	const char *t = target->name;

	if (k == 0) {
		seed_generic(m, s);
		return 1;
	}
	if (target->virtio) {
		unsigned nq = !strcmp(t, "virtio_console") ? 6 : !strcmp(t, "virtio_net") ? 2 :
			      !strcmp(t, "virtio_balloon") ? 3 : 1;
		if (k > 3)
			return 0;
		if (k == 3) { /* a legacy driver: the same request through BAR0 */
			if (strcmp(t, "virtio_blk") && strcmp(t, "virtio_net"))
				return 0;
			put(s, OP_DRIVER, 1), put(s, 3, 1), put(s, nq - 1, 1), put(s, UINT32_MAX, 4);
			s_ram(s, 0x20000, 0, 2);
			s_desc(s, 0, 0, 0x20000, 16, D_NEXT, 1);
			s_desc(s, 0, 1, 0x21000, 512, D_NEXT | D_WRITE, 2);
			s_desc(s, 0, 2, 0x22000, 1, D_WRITE, 0);
			s_offer(s, 0x80, 0);
			return 1;
		}
		s_virtio_setup(s, nq);
		if (!strcmp(t, "virtio_blk")) {
			s_ram(s, 0x20000, k == 1 ? 0 : 1, 2);       /* type: IN or OUT */
			s_ram(s, 0x20008, 3, 3);                   /* sector */
			s_desc(s, 0, 0, 0x20000, 16, D_NEXT, 1);
			s_desc(s, 0, 1, 0x21000, 1024, D_NEXT | (k == 1 ? D_WRITE : 0), 2);
			s_desc(s, 0, 2, 0x22000, 1, D_WRITE, 0);
			s_offer(s, 0, 0);
		} else if (!strcmp(t, "virtio_net")) {
			s_desc(s, 0, 0, 0x20000, 1526, D_WRITE, 0);   /* a receive buffer */
			s_offer(s, 0, 0);
			s_desc(s, 1, 0, 0x21000, 12, D_NEXT, 1);     /* header + frame */
			s_desc(s, 1, 1, 0x21100, 60, 0, 0);
			s_offer(s, 1, 0);
			const uint8_t frame[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0 };
			s_event(s, frame, sizeof(frame));
		} else if (!strcmp(t, "virtio_rng")) {
			s_desc(s, 0, 0, 0x20000, 64, D_WRITE | D_NEXT, 1);
			s_desc(s, 0, 1, 0x20100, 32, D_WRITE, 0);
			s_offer(s, 0, 0);
		} else if (!strcmp(t, "virtio_balloon")) {
			const uint8_t target4[] = { 8, 0, 0, 0 };
			s_event(s, target4, sizeof(target4));
			for (unsigned i = 0; i < 4; i++)
				s_ram(s, 0x20000 + 4 * i, 0x30 + i, 2); /* PFNs */
			s_desc(s, k == 1 ? 0 : 1, 0, 0x20000, 16, 0, 0);
			s_offer(s, k == 1 ? 0 : 1, 0);
			s_ram(s, 0x21000, 0x0004, 1);                /* a stats entry */
			s_ram(s, 0x21002, 12345, 3);
			s_desc(s, 2, 0, 0x21000, 10, 0, 0);
			s_offer(s, 2, 0);
		} else if (!strcmp(t, "virtio_console")) {
			/* control: DEVICE_READY, PORT_READY 0, PORT_OPEN 1 */
			s_ram(s, 0x20000, 0, 2), s_ram(s, 0x20004, 0, 1), s_ram(s, 0x20006, 1, 1);
			s_ram(s, 0x20100, 0, 2), s_ram(s, 0x20104, 3, 1), s_ram(s, 0x20106, 1, 1);
			s_ram(s, 0x20200, 1, 2), s_ram(s, 0x20204, 6, 1), s_ram(s, 0x20206, 1, 1);
			s_desc(s, 2, 0, 0x21000, 64, D_WRITE, 0);
			s_offer(s, 2, 0);
			for (unsigned i = 0; i < 3; i++) {
				s_desc(s, 3, i, 0x20000 + 0x100 * i, 8, 0, 0);
				s_offer(s, 3, (uint16_t)i);
			}
			s_ram(s, 0x22000, 0x6f6c6c6568, 3);
			s_desc(s, 1, 0, 0x22000, 5, 0, 0);
			s_offer(s, 1, 0);
			s_desc(s, 0, 0, 0x23000, 64, D_WRITE, 0);
			s_offer(s, 0, 0);
			const uint8_t input[] = { 0, 3, 'l', 's', '\n' };
			s_event(s, input, sizeof(input));
		}
		return 1;
	}
	if (!strcmp(t, "ide")) {
		if (k == 1) {            /* IDENTIFY, PIO */
			s_io_wr(s, 0x1F6, 0xA0, 0);
			s_io_wr(s, 0x1F7, 0xEC, 0);
			s_io_rd(s, 0x1F7, 0);
			for (unsigned i = 0; i < 8; i++)
				s_io_rd(s, 0x1F0, 1);
		} else if (k == 2) {     /* READ DMA of 2 sectors through a PRD table */
			s_ram(s, 0x2000, 0x3000, 2);
			s_ram(s, 0x2004, 0x80000400, 2);
			s_io_wr(s, IDE_BM_BASE + 4, 0x2000, 2);
			s_io_wr(s, 0x1F6, 0xE0, 0);
			s_io_wr(s, 0x1F2, 2, 0);
			s_io_wr(s, 0x1F3, 1, 0);
			s_io_wr(s, 0x1F7, 0xC8, 0);
			s_io_wr(s, IDE_BM_BASE, 0x09, 0);
			s_io_rd(s, IDE_BM_BASE + 2, 0);
		} else if (k == 3 || k == 4) { /* ATAPI INQUIRY / READ(10) by PIO */
			s_io_wr(s, 0x176, 0xA0, 0);
			s_io_wr(s, 0x171, 0, 0);
			s_io_wr(s, 0x174, 0x00, 0);
			s_io_wr(s, 0x175, 0x08, 0);
			s_io_wr(s, 0x177, 0xA0, 0);
			uint8_t cdb[12] = { 0x12, 0, 0, 0, 36 };
			if (k == 4) {
				uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2 };
				memcpy(cdb, rd, sizeof(cdb));
			}
			for (unsigned i = 0; i < 12; i += 2)
				s_io_wr(s, 0x170, cdb[i] | cdb[i + 1] << 8, 1);
			for (unsigned i = 0; i < 8; i++)
				s_io_rd(s, 0x170, 1);
		} else {
			return 0;
		}
		return 1;
	}
	if (!strcmp(t, "e1000") && k <= 3) {
		/* Window 1 is BAR0. Rings of 8 descriptors: transmit at 0x10000,
		 * receive at 0x11000 (buffers from 0x30000). */
		s_wr(s, 1, 0x3800, 0x10000, 2), s_wr(s, 1, 0x3808, 128, 2);
		s_wr(s, 1, 0x2800, 0x11000, 2), s_wr(s, 1, 0x2808, 128, 2);
		for (unsigned i = 0; i < 8; i++)
			s_ram(s, 0x11000 + 16 * i, 0x30000 + 0x800 * i, 3);
		s_wr(s, 1, 0x00D0, 0x9F, 2);                  /* IMS */
		s_wr(s, 1, 0x0100, 0x8002, 2);                /* RCTL: EN, BAM */
		s_wr(s, 1, 0x2818, 7, 2);                     /* RDT */
		s_wr(s, 1, 0x0400, 0x0A, 2);                  /* TCTL: EN, PSP */
		if (k == 1) {        /* a legacy frame, then one from the network,
				      * both causes held by the delay timers */
			s_wr(s, 1, 0x2820, 4, 2);             /* RDTR */
			s_wr(s, 1, 0x282C, 16, 2);            /* RADV */
			s_wr(s, 1, 0x3820, 8, 2);             /* TIDV */
			s_wr(s, 1, 0x382C, 32, 2);            /* TADV */
			s_ram(s, 0x10000, 0x20000, 3);
			s_ram(s, 0x10008, 0x8B000040, 2);     /* 64 bytes, EOP IFCS RS IDE */
			s_wr(s, 1, 0x3818, 1, 2);
			const uint8_t frame[] = { 0, 0, 0, 0, 0, 0, 0, 60, 0 };
			s_event(s, frame, sizeof(frame));
			const uint8_t later[] = { 0xE0, 40, 0 }; /* 40 us pass */
			s_event(s, later, sizeof(later));
			s_rd(s, 1, 0x00C0, 2);                /* ICR */
		} else if (k == 2) { /* TSO: context, header, payload */
			s_ram(s, 0x10000, 0x0033180E, 2);     /* IPCSS 14 IPCSO 24 IPCSE 51 */
			s_ram(s, 0x10004, 0x00003222, 2);     /* TUCSS 34 TUCSO 50 */
			s_ram(s, 0x10008, 0x270007D0, 2);     /* PAYLEN 2000, DEXT TSE IP TCP */
			s_ram(s, 0x1000C, 0x05DC3600, 2);     /* HDRLEN 54, MSS 1500 */
			s_ram(s, 0x10010, 0x20000, 3);
			s_ram(s, 0x10018, 0x24100036, 2);     /* 54 bytes, data, DEXT TSE */
			s_ram(s, 0x1001C, 0x00000300, 2);     /* POPTS IXSM TXSM */
			s_ram(s, 0x20000 + 12, 0x0008, 1);
			s_ram(s, 0x20000 + 14, 0x45, 0);
			s_ram(s, 0x10020, 0x21000, 3);
			s_ram(s, 0x10028, 0x2D1007D0, 2);     /* 2000 bytes, EOP RS */
			s_ram(s, 0x1002C, 0x00000300, 2);
			s_wr(s, 1, 0x3818, 3, 2);
		} else {             /* EEPROM word 0 bit-banged, EERD, a PHY read */
			s_wr(s, 1, 0x0010, 0x42, 2);
			const unsigned cmd = 6u << 6;
			for (int i = 8; i >= 0; i--) {
				unsigned di = (cmd >> i) & 1 ? 4 : 0;
				s_wr(s, 1, 0x0010, 0x42 | di, 2), s_wr(s, 1, 0x0010, 0x43 | di, 2);
			}
			for (unsigned i = 0; i < 16; i++)
				s_wr(s, 1, 0x0010, 0x43, 2), s_rd(s, 1, 0x0010, 2), s_wr(s, 1, 0x0010, 0x42, 2);
			s_wr(s, 1, 0x0014, 0x0101, 2), s_rd(s, 1, 0x0014, 2);
			s_wr(s, 1, 0x0020, 0x08220000, 2), s_rd(s, 1, 0x0020, 2);
			s_wr(s, 2, 0, 0x0000, 2), s_wr(s, 2, 4, 0x04000000, 2); /* reset via I/O */
		}
		return 1;
	}
	if (!strcmp(t, "rtl8139") && k <= 2) {
		/* Window 1 is the I/O window. */
		s_wr(s, 1, 0x37, 0x10, 0);                         /* reset */
		s_wr(s, 1, 0x3C, 0xFFFF, 1);                       /* IMR */
		if (k == 1) {        /* C mode: ring buffer at 0x20000, slot 0 */
			s_wr(s, 1, 0x30, 0x20000, 2);
			s_wr(s, 1, 0x44, 0x8A, 2);                 /* APM AB WRAP, 8 KiB */
			s_wr(s, 1, 0x37, 0x0C, 0);
			s_wr(s, 1, 0x20, 0x10000, 2);
			s_wr(s, 1, 0x10, 64, 2);                   /* send 64 bytes */
			const uint8_t frame[] = { 0, 0, 0, 0, 0, 0, 0, 60, 0 };
			s_event(s, frame, sizeof(frame));
			s_rd(s, 1, 0x3A, 1);                       /* CBR */
			s_wr(s, 1, 0x38, 64 + 8 - 16, 1);          /* CAPR */
		} else {             /* C+ mode: rings at 0x11000 (rx) and 0x10000 (tx) */
			for (unsigned i = 0; i < 4; i++) {
				s_ram(s, 0x11000 + 16 * i, (i == 3 ? 0xC0000600u : 0x80000600u), 2);
				s_ram(s, 0x11008 + 16 * i, 0x30000 + 0x800 * i, 3);
			}
			s_ram(s, 0x10000, 0xB8000040u | 1000u << 16, 2); /* OWN FS LS LGSEN */
			s_ram(s, 0x10008, 0x20000, 3);
			s_wr(s, 1, 0xE0, 0x0043, 1);               /* CpCmd: rx, tx, VLAN */
			s_wr(s, 1, 0xE4, 0x11000, 2);
			s_wr(s, 1, 0x20, 0x10000, 2);
			s_wr(s, 1, 0x44, 0x0A, 2);
			s_wr(s, 1, 0x37, 0x0C, 0);
			s_wr(s, 1, 0xD9, 0x40, 0);                 /* TxPoll */
			const uint8_t frame[] = { 0, 0, 0, 0, 0, 0, 0, 60, 0 };
			s_event(s, frame, sizeof(frame));
			s_rd(s, 1, 0x3E, 1);
			s_wr(s, 1, 0x3E, 0xFFFF, 1);
		}
		return 1;
	}
	if (!strcmp(t, "ne2000") && k <= 2) {
		/* NS8390_init, a frame into the ring, one out (window 1: the ports;
		 * k 2: the same on the ISA card, variant byte odd). */
		static const uint8_t init[][2] = {
			{ 0x00, 0x21 }, { 0x0E, 0x49 }, { 0x04, 0x40 }, { 0x01, 0x46 }, { 0x03, 0x7F },
			{ 0x02, 0x80 }, { 0x07, 0xFF }, { 0x0F, 0x7F }, { 0x00, 0x61 }, { 0x01, 0x52 },
			{ 0x07, 0x46 }, { 0x00, 0x22 }, { 0x0D, 0x00 }, { 0x0C, 0x0C },
		};
		for (unsigned i = 0; i < ARRAY_SIZE(init); i++)
			s_wr(s, 1, init[i][0], init[i][1], 0);
		const uint8_t frame[] = { 0, 0, 0, 0, 0, 0, 0, 60, 0 };
		s_event(s, frame, sizeof(frame));
		/* Remote read of the header at 0x4600, a remote write of 64
		 * bytes at 0x4000, transmit them. */
		s_wr(s, 1, 0x0A, 4, 0), s_wr(s, 1, 0x0B, 0, 0);
		s_wr(s, 1, 0x08, 0x00, 0), s_wr(s, 1, 0x09, 0x46, 0);
		s_wr(s, 1, 0x00, 0x0A, 0);
		s_rd(s, 1, 0x10, 1), s_rd(s, 1, 0x10, 1);
		s_wr(s, 1, 0x0A, 64, 0), s_wr(s, 1, 0x0B, 0, 0);
		s_wr(s, 1, 0x08, 0x00, 0), s_wr(s, 1, 0x09, 0x40, 0);
		s_wr(s, 1, 0x00, 0x12, 0);
		for (unsigned i = 0; i < 32; i++)
			s_wr(s, 1, 0x10, 0xFFFF, 1);
		s_wr(s, 1, 0x05, 64, 0), s_wr(s, 1, 0x06, 0, 0);
		s_wr(s, 1, 0x00, 0x26, 0);
		s_rd(s, 1, 0x07, 0), s_wr(s, 1, 0x07, 0xFF, 0);
		s_rd(s, 1, 0x1F, 0);
		return 1;
	}
	if (!strcmp(t, "pcnet") && k <= 2) {
		/* pcnet32_open: reset, style 2 (k 1) or 0 (k 2), the init block
		 * at 0x10000 (rings at 0x11000 and 0x12000, 4 entries), INIT,
		 * STRT, a frame each way. Window 1: WIO ports. */
		s_rd(s, 1, 0x14, 1);
		s_wr(s, 1, 0x12, 20, 1), s_wr(s, 1, 0x16, k == 1 ? 2 : 0, 1);
		if (k == 1) {
			s_ram(s, 0x10000, 0x20200000, 2);           /* RLEN 2, TLEN 2 */
			s_ram(s, 0x10014, 0x11000, 2);
			s_ram(s, 0x10018, 0x12000, 2);
			for (unsigned i = 0; i < 4; i++) {
				s_ram(s, 0x11000 + 16 * i, 0x20000 + 0x800 * i, 2);
				s_ram(s, 0x11004 + 16 * i, 0x8000F9F8, 2); /* OWN, 1544 */
			}
			s_ram(s, 0x12000, 0x30000, 2);
			s_ram(s, 0x12004, 0x8300FFC4, 2);           /* OWN STP ENP, 60 */
		} else {
			s_ram(s, 0x10010, 0x1000, 1), s_ram(s, 0x10012, 0x4001, 1);
			s_ram(s, 0x10014, 0x2000, 1), s_ram(s, 0x10016, 0x4001, 1);
			s_ram(s, 0x11000, 0x0000, 1), s_ram(s, 0x11002, 0x8002, 1);
			s_ram(s, 0x11004, 0xF9F8, 1);
			s_ram(s, 0x12000, 0x0000, 1), s_ram(s, 0x12002, 0x8303, 1);
			s_ram(s, 0x12004, 0xFFC4, 1);
		}
		s_wr(s, 1, 0x12, 1, 1), s_wr(s, 1, 0x10, 0x0000, 1);
		s_wr(s, 1, 0x12, 2, 1), s_wr(s, 1, 0x10, 0x0001, 1);
		s_wr(s, 1, 0x12, 0, 1), s_wr(s, 1, 0x10, 0x0001, 1);
		s_wr(s, 1, 0x10, 0x0042, 1);
		s_wr(s, 1, 0x10, 0x0048, 1);
		const uint8_t frame[] = { 0, 0, 0, 0, 0, 0, 0, 60, 0 };
		s_event(s, frame, sizeof(frame));
		s_rd(s, 1, 0x10, 1), s_wr(s, 1, 0x10, 0x7F00, 1);
		return 1;
	}
	if (!strcmp(t, "fw_cfg") && k == 1) {
		s_io_wr(s, FW_CFG_PORT_SEL, 0x0000, 1);
		for (unsigned i = 0; i < 4; i++)
			s_io_rd(s, FW_CFG_PORT_DATA, 0);
		s_io_wr(s, FW_CFG_PORT_SEL, 0x0019, 1);
		for (unsigned i = 0; i < 8; i++)
			s_io_rd(s, FW_CFG_PORT_DATA, 0);
		/* DMA: select the file directory and read 64 bytes to 0x3000 */
		s_ram(s, 0x1000, __builtin_bswap32(0x0019u << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ), 2);
		s_ram(s, 0x1004, __builtin_bswap32(64), 2);
		s_ram(s, 0x1008, __builtin_bswap64(0x3000), 3);
		s_io_wr(s, FW_CFG_PORT_DMA, 0, 2);
		s_io_wr(s, FW_CFG_PORT_DMA + 4, __builtin_bswap32(0x1000), 2);
		return 1;
	}
	if (!strcmp(t, "rtc") && k == 1) {
		for (unsigned r = 0; r < 0x0E; r++)
			s_io_wr(s, 0x70, r, 0), s_io_rd(s, 0x71, 0);
		s_io_wr(s, 0x70, 0x0B, 0), s_io_wr(s, 0x71, 0x82, 0);
		s_io_wr(s, 0x70, 0x00, 0), s_io_wr(s, 0x71, 0x30, 0);
		s_io_wr(s, 0x70, 0x0B, 0), s_io_wr(s, 0x71, 0x72, 0);
		const uint8_t step[] = { 0, 0xCA, 0x9A, 0x3B };
		s_event(s, step, sizeof(step));
		s_io_wr(s, 0x70, 0x0C, 0), s_io_rd(s, 0x71, 0);
		return 1;
	}
	if (!strcmp(t, "serial") && k == 1) {
		s_io_wr(s, 0x3FB, 0x80, 0), s_io_wr(s, 0x3F8, 1, 0), s_io_wr(s, 0x3F9, 0, 0);
		s_io_wr(s, 0x3FB, 0x03, 0), s_io_wr(s, 0x3F9, 0x0F, 0), s_io_wr(s, 0x3FA, 0xC7, 0);
		s_io_wr(s, 0x3FC, 0x0B, 0);
		for (unsigned i = 0; i < 20; i++)
			s_io_wr(s, 0x3F8, 'a' + i, 0);
		const uint8_t rx[] = { 4, 'o', 'k', '\r', '\n' };
		s_event(s, rx, sizeof(rx));
		s_io_rd(s, 0x3FA, 0), s_io_rd(s, 0x3FD, 0), s_io_rd(s, 0x3F8, 0), s_io_rd(s, 0x3FE, 0);
		return 1;
	}
	if (!strcmp(t, "i8042") && k == 1) {
		s_io_wr(s, 0x64, 0x20, 0), s_io_rd(s, 0x60, 0);
		s_io_wr(s, 0x64, 0x60, 0), s_io_wr(s, 0x60, 0x47, 0);
		s_io_wr(s, 0x64, 0xAE, 0), s_io_wr(s, 0x64, 0xA8, 0);
		s_io_wr(s, 0x60, 0xF2, 0), s_io_rd(s, 0x60, 0), s_io_rd(s, 0x60, 0);
		s_io_wr(s, 0x64, 0xD4, 0), s_io_wr(s, 0x60, 0xF4, 0), s_io_rd(s, 0x60, 0);
		const uint8_t key[] = { 1, 0x1C }, mouse[] = { 2, 5, 0xFB, 0, 1 };
		s_event(s, key, sizeof(key));
		s_event(s, mouse, sizeof(mouse));
		for (unsigned i = 0; i < 4; i++)
			s_io_rd(s, 0x64, 0), s_io_rd(s, 0x60, 0);
		return 1;
	}
	if (!strcmp(t, "dma") && k == 1) {
		/* The BIOS's cascade set-up, then a floppy read on channel 2
		 * and an SB16 auto-init playback on channel 5. */
		s_io_wr(s, 0x0D, 0, 0), s_io_wr(s, 0xDA, 0, 0);
		s_io_wr(s, 0xD6, 0xC0, 0), s_io_wr(s, 0xD4, 0, 0);
		s_io_wr(s, 0x0A, 0x06, 0), s_io_wr(s, 0x0B, 0x46, 0), s_io_wr(s, 0x0C, 0, 0);
		s_io_wr(s, 0x04, 0x00, 0), s_io_wr(s, 0x04, 0x10, 0), s_io_wr(s, 0x81, 0x01, 0);
		s_io_wr(s, 0x05, 0xFF, 0), s_io_wr(s, 0x05, 0x01, 0), s_io_wr(s, 0x0A, 0x02, 0);
		const uint8_t dreq2[] = { 0x22, 0, 0 }, xfer2[] = { 0x0A, 0x00, 0x02 };
		s_event(s, dreq2, sizeof(dreq2));
		s_event(s, xfer2, sizeof(xfer2));
		s_io_rd(s, 0x08, 0), s_io_rd(s, 0x0F, 0);
		s_io_wr(s, 0xD4, 0x05, 0), s_io_wr(s, 0xD6, 0x59, 0), s_io_wr(s, 0xD8, 0, 0);
		s_io_wr(s, 0xC4, 0x00, 0), s_io_wr(s, 0xC4, 0x08, 0), s_io_wr(s, 0x8B, 0x02, 0);
		s_io_wr(s, 0xC6, 0x7F, 0), s_io_wr(s, 0xC6, 0x00, 0), s_io_wr(s, 0xD4, 0x01, 0);
		const uint8_t dreq5[] = { 0x25, 0, 0 }, xfer5[] = { 0x15, 0x00, 0x01 };
		s_event(s, dreq5, sizeof(dreq5));
		s_event(s, xfer5, sizeof(xfer5));
		s_event(s, xfer5, sizeof(xfer5));
		s_io_rd(s, 0xD0, 0), s_io_rd(s, 0xC4, 0), s_io_rd(s, 0xC4, 0);
		return 1;
	}
	if (!strcmp(t, "fdc") && k <= 3) {
		/* The BIOS's cascade set-up, the controller out of reset and its
		 * four polled statuses, SPECIFY, a seek; then k 1: a two-sector
		 * multi-track DMA read (channel 2 to 0x10000), k 2: a PIO write
		 * and READ ID, k 3: the VENOM streams (DRIVE SPECIFICATION and
		 * READ ID followed by long runs of bytes) and a saved state. */
		s_io_wr(s, 0x0D, 0, 0), s_io_wr(s, 0xDA, 0, 0);
		s_io_wr(s, 0xD6, 0xC0, 0), s_io_wr(s, 0xD4, 0, 0);
		s_io_wr(s, 0x3F2, 0x00, 0), s_io_wr(s, 0x3F2, 0x1C, 0);
		for (unsigned i = 0; i < 4; i++)
			s_io_wr(s, 0x3F5, 0x08, 0), s_io_rd(s, 0x3F5, 0), s_io_rd(s, 0x3F5, 0);
		static const uint8_t specify[] = { 0x03, 0xAF, 0x02 }, seek[] = { 0x0F, 0x00, 0x03 };
		static const uint8_t pio[] = { 0x03, 0xAF, 0x03 };
		static const uint8_t rd[] = { 0xE6, 0x00, 3, 0, 9, 2, 9, 0x1B, 0xFF };
		static const uint8_t wr[] = { 0xC5, 0x04, 3, 1, 2, 2, 2, 0x1B, 0xFF };
		static const uint8_t rid[] = { 0x4A, 0x00 };
		for (unsigned i = 0; i < sizeof(specify); i++)
			s_io_wr(s, 0x3F5, k == 2 ? pio[i] : specify[i], 0);
		for (unsigned i = 0; i < sizeof(seek); i++)
			s_io_wr(s, 0x3F5, seek[i], 0);
		s_io_wr(s, 0x3F5, 0x08, 0), s_io_rd(s, 0x3F5, 0), s_io_rd(s, 0x3F5, 0);
		if (k == 1) {
			s_io_wr(s, 0x0A, 0x06, 0), s_io_wr(s, 0x0B, 0x46, 0), s_io_wr(s, 0x0C, 0, 0);
			s_io_wr(s, 0x04, 0x00, 0), s_io_wr(s, 0x04, 0x00, 0), s_io_wr(s, 0x81, 0x01, 0);
			s_io_wr(s, 0x05, 0xFF, 0), s_io_wr(s, 0x05, 0x03, 0), s_io_wr(s, 0x0A, 0x02, 0);
			for (unsigned i = 0; i < sizeof(rd); i++)
				s_io_wr(s, 0x3F5, rd[i], 0);
			for (unsigned i = 0; i < 7; i++)
				s_io_rd(s, 0x3F5, 0);
		} else if (k == 2) {
			for (unsigned i = 0; i < sizeof(wr); i++)
				s_io_wr(s, 0x3F5, wr[i], 0);
			for (unsigned i = 0; i < 520; i++)
				s_io_wr(s, 0x3F5, i, 0);
			for (unsigned i = 0; i < sizeof(rid); i++)
				s_io_wr(s, 0x3F5, rid[i], 0);
			for (unsigned i = 0; i < 8; i++)
				s_io_rd(s, 0x3F4, 0), s_io_rd(s, 0x3F5, 0);
		} else {
			s_io_wr(s, 0x3F5, 0x8E, 0);
			for (unsigned i = 0; i < 64; i++)
				s_io_wr(s, 0x3F5, 0x42, 0);
			for (unsigned i = 0; i < sizeof(rid); i++)
				s_io_wr(s, 0x3F5, rid[i], 0);
			for (unsigned i = 0; i < 64; i++)
				s_io_wr(s, 0x3F5, 0x42, 0);
			const uint8_t save[] = { 2 };
			s_event(s, save, sizeof(save));
			s_io_rd(s, 0x3F7, 0), s_io_wr(s, 0x3F4, 0x80, 0);
		}
		return 1;
	}
	if (!strcmp(t, "sb16") && k <= 2) {
		/* The BIOS's cascade set-up, a DSP reset, then k 1: an 8-bit
		 * auto-init playback (channel 1, time constant, block size,
		 * 0x1C), k 2: a 16-bit stereo one (channel 5, 0x41, 0xB6);
		 * time passes, interrupts are acknowledged, the transfer ends. */
		s_io_wr(s, 0x0D, 0, 0), s_io_wr(s, 0xDA, 0, 0);
		s_io_wr(s, 0xD6, 0xC0, 0), s_io_wr(s, 0xD4, 0, 0);
		s_io_wr(s, 0x226, 1, 0), s_io_wr(s, 0x226, 0, 0);
		s_io_rd(s, 0x22E, 0), s_io_rd(s, 0x22A, 0);
		static const uint8_t dsp8[] = { 0xD1, 0x40, 131, 0x48, 0xFF, 0x03, 0x1C };
		static const uint8_t dsp16[] = { 0x41, 0x56, 0x22, 0xB6, 0x30, 0xFF, 0x03 };
		if (k == 1) {
			s_io_wr(s, 0x0A, 0x05, 0), s_io_wr(s, 0x0B, 0x59, 0), s_io_wr(s, 0x0C, 0, 0);
			s_io_wr(s, 0x02, 0x00, 0), s_io_wr(s, 0x02, 0x00, 0), s_io_wr(s, 0x83, 0x01, 0);
			s_io_wr(s, 0x03, 0xFF, 0), s_io_wr(s, 0x03, 0x07, 0), s_io_wr(s, 0x0A, 0x01, 0);
		} else {
			s_io_wr(s, 0xD4, 0x05, 0), s_io_wr(s, 0xD6, 0x59, 0), s_io_wr(s, 0xD8, 0, 0);
			s_io_wr(s, 0xC4, 0x00, 0), s_io_wr(s, 0xC4, 0x00, 0), s_io_wr(s, 0x8B, 0x02, 0);
			s_io_wr(s, 0xC6, 0xFF, 0), s_io_wr(s, 0xC6, 0x07, 0), s_io_wr(s, 0xD4, 0x01, 0);
		}
		for (unsigned i = 0; i < sizeof(dsp8); i++)
			s_io_wr(s, 0x22C, k == 1 ? dsp8[i] : dsp16[i], 0);
		const uint8_t step[] = { 4, 0x10, 0x27 }, stall[] = { 3, 0x02, 0x00 },
			      save[] = { 2, 0, 0 };
		for (unsigned i = 0; i < 12; i++) {
			s_event(s, step, sizeof(step)); /* 10 ms */
			s_io_rd(s, k == 1 ? 0x22E : 0x22F, 0);
		}
		s_event(s, save, sizeof(save));
		s_io_wr(s, 0x224, 0x82, 0), s_io_rd(s, 0x225, 0);
		s_io_wr(s, 0x22C, k == 1 ? 0xDA : 0xD9, 0);
		s_event(s, stall, sizeof(stall));
		return 1;
	}
	if (!strcmp(t, "pcspk") && k <= 2) {
		/* k 1: a 1000 Hz square wave (count 1193, mode 3) heard, then
		 * silenced with the gate on, a round trip; k 2: SeaBIOS's
		 * calibration (mode 0, gate on, OUT2 polled), then a program
		 * toggling bit 1 itself every millisecond. */
		const uint8_t tone[] = { 1, 0, 0, 0xA9, 0x04, 0, 0, 3, 0, 0, 0, 0 },
			      cal[] = { 1, 0, 0, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0 },
			      step[] = { 4, 0x10, 0x27 }, ms[] = { 4, 0xE8, 0x03 },
			      save[] = { 2, 0, 0 };
		if (k == 1) {
			s_event(s, tone, sizeof(tone));
			s_io_wr(s, 0x61, 0x03, 0);
			for (unsigned i = 0; i < 5; i++)
				s_event(s, step, sizeof(step));
			s_io_wr(s, 0x61, 0x01, 0);
			s_event(s, save, sizeof(save));
			s_event(s, step, sizeof(step));
			s_io_wr(s, 0x61, 0x00, 0);
		} else {
			s_io_wr(s, 0x61, 0x01, 0);
			s_event(s, cal, sizeof(cal));
			for (unsigned i = 0; i < 4; i++)
				s_io_rd(s, 0x61, 0);
			for (unsigned i = 0; i < 20; i++) {
				s_io_wr(s, 0x61, (i & 1) ? 0x00 : 0x02, 0);
				s_event(s, ms, sizeof(ms));
			}
		}
		s_event(s, step, sizeof(step));
		return 1;
	}
	if (!strcmp(t, "gus") && k <= 2) {
		/* The BIOS's cascade set-up; snd_gf1_start (reset, release, 14
		 * voices, IRQ and DAC on); a DMA upload of 4 KiB from 0x1000 on
		 * channel 3 (k 2: unsigned 16-bit data, inverted); then voice 0
		 * plays it (k 1: 16-bit, looping, wave IRQ; k 2: 8-bit with
		 * rollover and a volume ramp with its IRQ); time passes, the IRQ
		 * sources are read as the handler does, timer 1 runs, a saved
		 * state round trip, a stall, a reset. */
		s_io_wr(s, 0x0D, 0, 0), s_io_wr(s, 0xDA, 0, 0);
		s_io_wr(s, 0xD6, 0xC0, 0), s_io_wr(s, 0xD4, 0, 0);
		for (uint32_t a = 0x1000; a < 0x2000; a += 8)
			s_ram(s, a, a * 0x9E3779B97F4A7C15ull, 3);
		const unsigned sel = 0x343, lo = 0x344, hi = 0x345;
#define W8(r, v) (s_io_wr(s, sel, r, 0), s_io_wr(s, hi, v, 0))
#define W16(r, v) (s_io_wr(s, sel, r, 0), s_io_wr(s, lo, v, 1))
		W8(0x4C, 0), W8(0x4C, 1), W8(0x0E, 0xCD), W8(0x4C, 7);
		s_io_wr(s, 0x0A, 0x07, 0), s_io_wr(s, 0x0B, 0x4B, 0), s_io_wr(s, 0x0C, 0, 0);
		s_io_wr(s, 0x06, 0x00, 0), s_io_wr(s, 0x06, 0x10, 0), s_io_wr(s, 0x82, 0x00, 0);
		s_io_wr(s, 0x07, 0xFF, 0), s_io_wr(s, 0x07, 0x0F, 0), s_io_wr(s, 0x0A, 0x03, 0);
		W16(0x42, 0x0100);
		W8(0x41, k == 1 ? 0x21 : 0xE1);
		s_io_rd(s, 0x246, 0);
		s_io_wr(s, sel, 0x41, 0), s_io_rd(s, hi, 0);
		s_io_wr(s, 0x342, 0, 0);
		W8(0x0C, 7), W16(0x01, k == 1 ? 0x400 : 0x2AB);
		W16(0x02, k == 1 ? 0x0100 : 0x0200), W16(0x03, 0);
		W16(0x04, k == 1 ? 0x0107 : 0x021F), W16(0x05, 0xFFE0);
		W16(0x0A, k == 1 ? 0x0100 : 0x0200), W16(0x0B, 0);
		W16(0x09, 1800 << 4), W8(0x06, 0x2F), W8(0x07, 0x70), W8(0x08, 0xF0);
		W8(0x0D, k == 1 ? 0x03 : 0x24);
		W8(0x00, k == 1 ? 0x2C : 0x20);
		W8(0x46, 0xF0), W8(0x45, 0x04), s_io_wr(s, 0x248, 4, 0), s_io_wr(s, 0x249, 1, 0);
		const uint8_t step[] = { 4, 0x10, 0x27 }, stall[] = { 3, 0x02, 0x00 },
			      save[] = { 2, 0, 0 }, reset[] = { 0, 0, 0 };
		for (unsigned i = 0; i < 8; i++) {
			s_event(s, step, sizeof(step)); /* 10 ms */
			s_io_rd(s, 0x246, 0);
			s_io_wr(s, sel, 0x8F, 0), s_io_rd(s, hi, 0), s_io_rd(s, hi, 0);
			s_io_wr(s, sel, 0x8A, 0), s_io_rd(s, lo, 1);
			W8(0x45, 0x00), W8(0x45, 0x04);
		}
		s_event(s, save, sizeof(save));
		s_event(s, stall, sizeof(stall));
		s_event(s, reset, sizeof(reset));
#undef W8
#undef W16
		return 1;
	}
	if (!strcmp(t, "cs4231a") && k <= 2) {
		/* The BIOS's cascade set-up; as snd-wss probes and plays: mode 2,
		 * the format under MCE (k 1: 16-bit stereo at 44100 Hz, k 2:
		 * mu-law mono at 8000 Hz), channel 3 auto-init, the base count,
		 * IEN, PEN; time passes, each interrupt acknowledged through
		 * I24, a saved-state round trip, a stall, TRD, capture (SDC). */
		s_io_wr(s, 0x0D, 0, 0), s_io_wr(s, 0xDA, 0, 0);
		s_io_wr(s, 0xD6, 0xC0, 0), s_io_wr(s, 0xD4, 0, 0);
		static const uint8_t setup[][2] = {
			{ 0x4C, 0x40 }, { 0x48, 0x5B }, { 0x49, 0x08 }, { 0x0A, 0x00 },
		};
		for (unsigned i = 0; i < 4; i++)
			s_io_wr(s, 0x534, setup[i][0], 0), s_io_wr(s, 0x535, setup[i][1], 0);
		if (k == 2) { /* PMCE, then the data format without MCE */
			s_io_wr(s, 0x534, 0x50, 0), s_io_wr(s, 0x535, 0x10, 0);
			s_io_wr(s, 0x534, 0x08, 0), s_io_wr(s, 0x535, 0x20, 0);
		}
		s_io_rd(s, 0x534, 0), s_io_wr(s, 0x534, 0x0B, 0), s_io_rd(s, 0x535, 0);
		s_io_wr(s, 0x0A, 0x07, 0), s_io_wr(s, 0x0B, 0x5B, 0), s_io_wr(s, 0x0C, 0, 0);
		s_io_wr(s, 0x06, 0x00, 0), s_io_wr(s, 0x06, 0x00, 0), s_io_wr(s, 0x82, 0x01, 0);
		s_io_wr(s, 0x07, 0xFF, 0), s_io_wr(s, 0x07, 0x3F, 0), s_io_wr(s, 0x0A, 0x03, 0);
		static const uint8_t play[][2] = {
			{ 0x0F, 0xFF }, { 0x0E, 0x03 }, { 0x0A, 0x02 }, { 0x09, 0x09 },
		};
		for (unsigned i = 0; i < 4; i++)
			s_io_wr(s, 0x534, play[i][0], 0), s_io_wr(s, 0x535, play[i][1], 0);
		const uint8_t step[] = { 4, 0x10, 0x27 }, stall[] = { 3, 0x02, 0x00 },
			      save[] = { 2, 0, 0 };
		for (unsigned i = 0; i < 12; i++) {
			s_event(s, step, sizeof(step)); /* 10 ms */
			s_io_rd(s, 0x536, 0);
			s_io_wr(s, 0x534, 0x18, 0), s_io_rd(s, 0x535, 0), s_io_wr(s, 0x535, 0xEF, 0);
		}
		s_event(s, save, sizeof(save));
		s_io_wr(s, 0x534, 0x29, 0), s_io_wr(s, 0x535, 0x0C, 0); /* TRD, SDC+CEN later */
		s_event(s, stall, sizeof(stall));
		s_io_wr(s, 0x536, 0, 0);
		s_io_wr(s, 0x534, 0x49, 0), s_io_wr(s, 0x535, 0x0E, 0), s_io_wr(s, 0x534, 0x09, 0);
		s_event(s, step, sizeof(step));
		return 1;
	}
	if (!strcmp(t, "es1370") && k <= 2) {
		/* As snd-ens1370 prepares and starts a channel: k 1 DAC2 16-bit
		 * stereo at 22050 Hz from a 4 KiB buffer at 0x1000, k 2 the ADC
		 * 8-bit mono at 11025 Hz into it; the codec written, time
		 * passes, interrupts acknowledged (enable bit cleared and set),
		 * stop mode, a saved-state round trip. */
		uint32_t sctrl = k == 1 ? 0x200 | (3 << 2) : 0x400;
		for (uint32_t a = 0x1000; a < 0x2000; a += 64)
			s_ram(s, a, a * 0x9E3779B97F4A7C15ull, 3);
		s_wr(s, 1, 0x10, 0x1602, 1), s_wr(s, 1, 0x10, 0x1603, 1);
		s_wr(s, 1, 0x00, 0x00AE0002, 2);
		s_wr(s, 1, 0x0C, k == 1 ? 0x0C : 0x0D, 2);
		s_wr(s, 1, k == 1 ? 0x38 : 0x30, 0x1000, 2);
		s_wr(s, 1, k == 1 ? 0x3C : 0x34, 0x3FF, 2);
		s_wr(s, 1, 0x20, sctrl, 2);
		s_wr(s, 1, k == 1 ? 0x28 : 0x2C, 0xFF, 2);
		s_wr(s, 1, 0x00, k == 1 ? 0x003E0022 : 0x007E0012, 2);
		const uint8_t step[] = { 4, 0x10, 0x27 }, save[] = { 2, 0, 0 },
			      quiesce[] = { 1, 0x10, 0x27 };
		for (unsigned i = 0; i < 8; i++) {
			s_event(s, step, sizeof(step)); /* 10 ms */
			s_rd(s, 1, 0x04, 2);
			s_wr(s, 1, 0x20, sctrl & ~0x700u, 2), s_wr(s, 1, 0x20, sctrl, 2);
			s_rd(s, 1, k == 1 ? 0x3C : 0x34, 2);
		}
		s_event(s, save, sizeof(save));
		s_event(s, quiesce, sizeof(quiesce));
		s_wr(s, 1, 0x20, sctrl | 0xE000, 2);
		s_event(s, step, sizeof(step));
		return 1;
	}
	if (!strcmp(t, "cirrus") && k <= 3) {
		/* an extended mode as the VGA BIOS sets it (SR6 unlock, SR7
		 * 16 bpp, the hidden DAC after four mask reads), then a BLT
		 * through BAR1: k 1 a copy, 2 a solid fill, 3 a system-source
		 * colour expansion fed through the aperture; then a look */
		s_io_wr(s, 0x3C2, 0xC3, 0);
		s_io_wr(s, 0x3C4, 0x1206, 1), s_io_wr(s, 0x3C4, 0x1707, 1);
		s_io_wr(s, 0x3CE, 0x4005, 1), s_io_wr(s, 0x3CE, 0x0506, 1);
		s_io_wr(s, 0x3D4, 0x4F01, 1), s_io_wr(s, 0x3D4, 0xDF12, 1), s_io_wr(s, 0x3D4, 0xA013, 1);
		for (unsigned i = 0; i < 4; i++)
			s_io_rd(s, 0x3C6, 0);
		s_io_wr(s, 0x3C6, 0xE1, 0);
		s_io_rd(s, 0x3DA, 0), s_io_wr(s, 0x3C0, 0x20, 0);
		s_wr(s, 3, 0x108, 63, 1), s_wr(s, 3, 0x10A, 7, 1);     /* 64 bytes x 8 lines */
		s_wr(s, 3, 0x10C, 1280, 1), s_wr(s, 3, 0x10E, 1280, 1);
		s_wr(s, 3, 0x110, 0x2000, 2), s_wr(s, 3, 0x114, 0x100, 2);
		s_wr(s, 3, 0x104, 0xF800, 1);
		s_wr(s, 3, 0x11A, 0x0D, 0);
		if (k == 1)
			s_wr(s, 3, 0x118, 0x10, 0);
		else if (k == 2)
			s_wr(s, 3, 0x118, 0xD0, 0), s_wr(s, 3, 0x11B, 0x04, 0);
		else
			s_wr(s, 3, 0x118, 0x94, 0);
		s_wr(s, 3, 0x140, 0x02, 0);
		for (unsigned i = 0; i < 8 && k == 3; i++)
			s_wr(s, 6, 0, 0xA5A5A5A5, 2);
		s_rd(s, 3, 0x140, 0);
		/* a 64x64 hardware cursor with a pattern in the last 16 KiB */
		s_io_wr(s, 0x3C4, 0x0512, 1), s_io_wr(s, 0x3C4, 0x0A10, 1), s_io_wr(s, 0x3C4, 0x0A11, 1);
		s_wr(s, 5, 0xC000, 0xFFFFFFFF, 2);
		const uint8_t look[] = { 0 };
		s_event(s, look, sizeof(look));
		return 1;
	}
	if (!strcmp(t, "chipset") && k == 1) {
		for (unsigned d = 0; d < 3; d++)
			for (unsigned off = 0; off < 0x100; off += 4)
				s_cfg_rd(s, d, off, 2);
		for (unsigned seg = 0x59; seg <= 0x5F; seg++)
			s_cfg_wr(s, 0, seg, 0x33, 0);
		s_io_wr(s, 0xCF8, 0x80000808, 2), s_io_rd(s, 0xCFC, 2);
		s_io_rd(s, PM_BASE, 1), s_io_rd(s, PM_BASE + 8, 2);
		s_io_wr(s, PM_BASE + 2, 0x0100, 1), s_io_wr(s, 0xB2, 0xF1, 0);
		s_io_wr(s, PM_BASE + 4, 0x2001, 1);
		s_io_wr(s, 0x92, 0x02, 0), s_io_wr(s, 0x80, 0x55, 0), s_io_wr(s, 0x402, 'x', 0);
		return 1;
	}
	return 0;
}

static void write_seeds(const char *dir)
{
	mkdir(dir, 0755);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char path[512];
		target = &targets[i];
		snprintf(path, sizeof(path), "%s/%s", dir, target->name);
		mkdir(path, 0755);
		for (unsigned k = 0;; k++) {
			struct fuzz_machine *m = machine_new();
			struct seed *s = calloc(1, sizeof(*s));
			if (!s || !target->create(m))
				abort();
			/* the variant byte: bits 0 and 2 (virtio-net: a polled backend) */
			put(s, (k & 1) | (k & 2 ? 4 : 0), 1);
			unsigned more = seed_target(m, k, s);
			machine_free(m);
			if (!more) {
				free(s);
				break;
			}
			snprintf(path, sizeof(path), "%s/%s/seed-%u", dir, target->name, k);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f))
				die("cannot write %s", path);
			free(s);
		}
	}
}

static const struct target *find_target(const char *name)
{
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		if (!strcmp(targets[i].name, name))
			return &targets[i];
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_LIST_TARGETS")) {
		for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
			printf("%s %s\n", targets[i].name, targets[i].covers);
		exit(0);
	}
	if (getenv("FUZZ_WRITE_SEEDS")) {
		write_seeds(getenv("FUZZ_WRITE_SEEDS"));
		exit(0);
	}
	const char *name = getenv("FUZZ_DEVICE");
	char *self = strdup((*argv)[0]);
	const char *base = basename(self);
	if (!name && !strncmp(base, "fuzz_dev_", 9))
		name = base + 9;
	target = name ? find_target(name) : NULL;
	if (!target) {
		fprintf(stderr, "fuzz_devices: run as fuzz_dev_<target> or with FUZZ_DEVICE=<target>; "
				"FUZZ_LIST_TARGETS=1 lists them\n");
		exit(1);
	}
	free(self);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_machine *m = machine_new();
	struct input in = { data, size };

	m->variant = take8(&in);
	if (!target->create(m)) {
		fprintf(stderr, "fuzz_devices: cannot build the %s target\n", target->name);
		abort();
	}
	run_program(m, &in);
	machine_free(m);
	return 0;
}
