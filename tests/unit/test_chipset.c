// SPDX-License-Identifier: GPL-2.0-or-later
/* PCI configuration mechanism, BAR placement, the i440FX PAM registers, the
 * PIIX3 PIRQ router and reset register, and the PIIX4 PM function, driven
 * through the same port bus the vCPUs use. */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"
#include "hw/chipset.h"
#include "memmap.h"
#include "savestate.h"
#include "util.h"
#include "pci.h"

/* Live heap bytes: the sanitizer's count under ASan (the unit build),
 * glibc's otherwise. */
#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer runtime (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
#include <malloc.h>
static size_t heap_in_use(void) { return mallinfo2().uordblks; }
#endif

struct board {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct guest_mem mem;
	struct memmap mm;
	struct isa_irq isa;
	struct i440fx nb;
	struct piix3 sb;
	struct piix_pm pm;
	uint8_t *bios;
	int gsi_level[24];
	int resets, poweroffs;
};

static void set_gsi(void *opaque, unsigned gsi, int level)
{
	((struct board *)opaque)->gsi_level[gsi] = level;
}
static void on_reset(void *o) { ((struct board *)o)->resets++; }
static void on_poweroff(void *o) { ((struct board *)o)->poweroffs++; }
static void on_exit_req(void *o, int s) { (void)o; (void)s; }

static int setup(void **state)
{
	struct board *b = calloc(1, sizeof(*b));
	struct board_control ctl = { on_reset, on_poweroff, on_exit_req, b };

	bus_init(&b->pio, "pio");
	bus_init(&b->mmio, "mmio");
	assert_int_equal(guest_mem_init(&b->mem, 32 << 20), 0);
	b->bios = malloc(256 << 10);
	for (unsigned i = 0; i < (256 << 10); i++)
		b->bios[i] = (uint8_t)(i >> 12);
	assert_int_equal(memmap_init(&b->mm, &b->mem, b->bios, 256 << 10), 0);
	pci_bus_init(&b->pci, &b->pio, &b->mmio);
	assert_int_equal(pci_bus_map_host_ports(&b->pci), 0);
	assert_int_equal(i440fx_init(&b->nb, &b->pci, &b->mm, 32 << 20), 0);
	isa_irq_init(&b->isa, set_gsi, b, NULL, NULL);
	assert_int_equal(piix3_init(&b->sb, &b->pci, &b->isa, ctl), 0);
	struct irq_line sci;
	assert_int_equal(isa_irq_claim(&b->isa, 9, &sci), 0);
	assert_int_equal(piix_pm_init(&b->pm, &b->pci, &b->pio, sci, ctl), 0);
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct board *b = *state;
	memmap_destroy(&b->mm);
	guest_mem_destroy(&b->mem);
	bus_destroy(&b->pio);
	bus_destroy(&b->mmio);
	free(b->bios);
	free(b);
	return 0;
}

static void outl(struct board *b, uint16_t port, uint32_t v) { bus_write(&b->pio, port, &v, 4); }
static void outw(struct board *b, uint16_t port, uint16_t v) { bus_write(&b->pio, port, &v, 2); }
static void outb(struct board *b, uint16_t port, uint8_t v) { bus_write(&b->pio, port, &v, 1); }
static uint32_t inl(struct board *b, uint16_t port) { uint32_t v = 0; bus_read(&b->pio, port, &v, 4); return v; }
static uint16_t inw(struct board *b, uint16_t port) { uint16_t v = 0; bus_read(&b->pio, port, &v, 2); return v; }
static uint8_t inb(struct board *b, uint16_t port) { uint8_t v = 0; bus_read(&b->pio, port, &v, 1); return v; }

static uint32_t cfg_addr(unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | dev << 11 | fn << 8 | (reg & 0xFC);
}
static uint32_t cfg_readl(struct board *b, unsigned dev, unsigned fn, unsigned reg)
{
	outl(b, 0xCF8, cfg_addr(dev, fn, reg));
	return inl(b, 0xCFC);
}
static void cfg_writel(struct board *b, unsigned dev, unsigned fn, unsigned reg, uint32_t v)
{
	outl(b, 0xCF8, cfg_addr(dev, fn, reg));
	outl(b, 0xCFC, v);
}
static void cfg_writeb(struct board *b, unsigned dev, unsigned fn, unsigned reg, uint8_t v)
{
	outl(b, 0xCF8, cfg_addr(dev, fn, reg));
	outb(b, (uint16_t)(0xCFC + (reg & 3)), v);
}

static void test_config_mechanism(void **state)
{
	struct board *b = *state;

	/* SeaBIOS's probe: the enable bit reads back. */
	outl(b, 0xCF8, 0x80000000);
	assert_int_equal(inl(b, 0xCF8), 0x80000000);
	assert_int_equal(cfg_readl(b, 0, 0, 0), 0x12378086);
	assert_int_equal(cfg_readl(b, 1, 0, 0), 0x70008086);
	assert_int_equal(cfg_readl(b, 1, 3, 0), 0x71138086);
	/* Multifunction bit on 00:01.0, so SeaBIOS scans 01.1-01.7. */
	assert_int_equal((cfg_readl(b, 1, 0, 0x0C) >> 16) & 0x80, 0x80);
	/* Absent device and bus reads all-ones. */
	assert_int_equal(cfg_readl(b, 5, 0, 0), 0xFFFFFFFF);
	outl(b, 0xCF8, 0x80010000);
	assert_int_equal(inl(b, 0xCFC), 0xFFFFFFFF);
	/* Read-only IDs stay. */
	cfg_writel(b, 0, 0, 0, 0);
	assert_int_equal(cfg_readl(b, 0, 0, 0), 0x12378086);
	/* Byte access at an offset inside the dword. */
	outl(b, 0xCF8, cfg_addr(0, 0, 0));
	assert_int_equal(inb(b, 0xCFE), 0x37);
	assert_int_equal(inw(b, 0xCFE), 0x1237);
	/* PIIX4 PM says SMM is already set up (0x5B bit 1). */
	assert_int_equal((cfg_readl(b, 1, 3, 0x58) >> 24) & 2, 2);
}

static void test_pam_switches_segments(void **state)
{
	struct board *b = *state;
	struct memmap_view v;

	/* At reset, 0xF0000 shows the BIOS image's last 64 KiB, read-only. */
	v = memmap_segment_view(&b->mm, PAM_SEGMENTS - 1);
	assert_int_equal(v.gpa, 0xF0000);
	assert_true(v.read_only);
	assert_ptr_equal(v.hva, b->mm.bios + (256 << 10) - 0x10000);
	/* 0xE0000 is the low alias of the image too; 0xC0000 is empty ROM. */
	v = memmap_segment_view(&b->mm, 8);
	assert_int_equal(v.gpa, 0xE0000);
	assert_ptr_equal(v.hva, b->mm.bios + (256 << 10) - 0x20000);
	v = memmap_segment_view(&b->mm, 0);
	assert_int_equal(v.gpa, 0xC0000);
	assert_true(v.read_only);
	assert_int_equal(v.hva[0], 0);

	/* SeaBIOS's shadowing: 0x59 = 0x30, 0x5A-0x5F = 0x33 -> RAM RW. */
	cfg_writeb(b, 0, 0, 0x59, 0x30);
	cfg_writel(b, 0, 0, 0x5C, 0x33333333);
	cfg_writeb(b, 0, 0, 0x5A, 0x33);
	cfg_writeb(b, 0, 0, 0x5B, 0x33);
	v = memmap_segment_view(&b->mm, PAM_SEGMENTS - 1);
	assert_false(v.read_only);
	assert_ptr_equal(v.hva, b->mem.ram + 0xF0000);
	/* make_bios_readonly: 0x10 -> read-only RAM. */
	cfg_writeb(b, 0, 0, 0x59, 0x10);
	v = memmap_segment_view(&b->mm, PAM_SEGMENTS - 1);
	assert_true(v.read_only);
	assert_ptr_equal(v.hva, b->mem.ram + 0xF0000);
	/* 0x5A high nibble governs 0xC4000. */
	cfg_writeb(b, 0, 0, 0x5A, 0x13);
	assert_false(memmap_segment_view(&b->mm, 0).read_only);
	assert_true(memmap_segment_view(&b->mm, 1).read_only);
	/* Reserved low nibble of 0x59 is not writable. */
	assert_int_equal(cfg_readl(b, 0, 0, 0x58) >> 8 & 0xFF, 0x10);

	/* System reset: PAM back to 0, the BIOS visible again. */
	pci_bus_reset(&b->pci);
	v = memmap_segment_view(&b->mm, PAM_SEGMENTS - 1);
	assert_true(v.read_only);
	assert_ptr_equal(v.hva, b->mm.bios + (256 << 10) - 0x10000);
}

static void test_bar_sizing_and_placement(void **state)
{
	struct board *b = *state;
	/* PM has no BAR; use a test device with an I/O and a memory BAR. */
	static struct pci_device d;
	static const struct io_ops ops = { 0 };
	pci_device_init(&d, "test", 0x1234, 0x5678, 0x020000, 1);
	pci_device_set_bar(&d, 0, PCI_BAR_IO, false, 32, &ops, NULL);
	pci_device_set_bar(&d, 1, PCI_BAR_MEM32, false, 0x1000, &ops, NULL);
	pci_device_set_interrupt_pin(&d, 1);
	assert_int_equal(pci_register(&b->pci, &d, PCI_DEVFN(3, 0)), 0);
	assert_int_equal(pci_register(&b->pci, &d, PCI_DEVFN(3, 0)), -EEXIST);

	cfg_writel(b, 3, 0, 0x10, 0xFFFFFFFF);
	assert_int_equal(cfg_readl(b, 3, 0, 0x10), 0xFFFFFFE1);
	cfg_writel(b, 3, 0, 0x14, 0xFFFFFFFF);
	assert_int_equal(cfg_readl(b, 3, 0, 0x14), 0xFFFFF000);
	cfg_writel(b, 3, 0, 0x10, 0xC000);
	cfg_writel(b, 3, 0, 0x14, 0xFEBF0000);
	/* Nothing decodes until the command register enables it. */
	assert_null(bus_find(&b->pio, 0xC000));
	cfg_writel(b, 3, 0, 0x04, 0x3);
	assert_ptr_equal(bus_find(&b->pio, 0xC01F), &d.bar[0].region);
	assert_ptr_equal(bus_find(&b->mmio, 0xFEBF0FFF), &d.bar[1].region);
	/* Moving the BAR moves the region. */
	cfg_writel(b, 3, 0, 0x10, 0xC100);
	assert_null(bus_find(&b->pio, 0xC000));
	assert_ptr_equal(bus_find(&b->pio, 0xC100), &d.bar[0].region);
	/* Sizing while enabled unmaps rather than decoding at 0xFFFFF000. */
	cfg_writel(b, 3, 0, 0x14, 0xFFFFFFFF);
	assert_null(bus_find(&b->mmio, 0xFFFFF000));
	/* Disabling decode unmaps. */
	cfg_writel(b, 3, 0, 0x04, 0x0);
	assert_null(bus_find(&b->pio, 0xC100));
	/* Reset restores the config and unmaps. */
	cfg_writel(b, 3, 0, 0x04, 0x1);
	pci_bus_reset(&b->pci);
	assert_null(bus_find(&b->pio, 0xC100));
	assert_int_equal(cfg_readl(b, 3, 0, 0x10), 1);
	b->pci.dev[PCI_DEVFN(3, 0)] = NULL;
}

static void test_pirq_routing(void **state)
{
	struct board *b = *state;
	static struct pci_device d;
	pci_device_init(&d, "nic", 0x1234, 0x1, 0x020000, 1);
	pci_device_set_interrupt_pin(&d, 1);
	pci_register(&b->pci, &d, PCI_DEVFN(3, 0));

	/* Disabled PIRQs (0x80 at reset) route nowhere. */
	pci_set_irq(&d, 1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(b->gsi_level[i], 0);
	/* Slot 3 INTA -> PIRQC (index (3 + 1 - 2) & 3 = 2). SeaBIOS: 10,10,11,11. */
	cfg_writel(b, 1, 0, 0x60, 0x0B0B0A0A);
	assert_int_equal(b->gsi_level[11], 1);
	pci_set_irq(&d, 0);
	assert_int_equal(b->gsi_level[11], 0);
	pci_set_irq(&d, 1);
	/* INTx disable in the command register masks it. */
	cfg_writel(b, 3, 0, 0x04, 0x400);
	assert_int_equal(b->gsi_level[11], 0);
	cfg_writel(b, 3, 0, 0x04, 0x0);
	assert_int_equal(b->gsi_level[11], 1);
	/* Re-routing PIRQC moves the level. */
	cfg_writeb(b, 1, 0, 0x62, 5);
	assert_int_equal(b->gsi_level[11], 0);
	assert_int_equal(b->gsi_level[5], 1);
	pci_set_irq(&d, 0);
	assert_int_equal(b->gsi_level[5], 0);
	b->pci.dev[PCI_DEVFN(3, 0)] = NULL;
}

static void test_reset_register(void **state)
{
	struct board *b = *state;
	outb(b, 0xCF9, 0x02);
	assert_int_equal(inb(b, 0xCF9), 0x02);
	assert_int_equal(b->resets, 0);
	outb(b, 0xCF9, 0x06);
	assert_int_equal(b->resets, 1);
	/* A dword write at 0xCF8 still latches the config address. */
	outl(b, 0xCF8, 0x80000800);
	assert_int_equal(inl(b, 0xCF8), 0x80000800);
}

static void test_pm_sci_and_poweroff(void **state)
{
	struct board *b = *state;

	/* SeaBIOS: PMBA = 0xB001, PMREGMISC = 1. */
	cfg_writel(b, 1, 3, 0x40, 0xB001);
	cfg_writeb(b, 1, 3, 0x80, 1);
	uint32_t t1 = inl(b, 0xB008);
	assert_true(t1 <= 0xFFFFFF);
	/* The PM timer advances (3.58 MHz). */
	uint32_t t2;
	do {
		t2 = inl(b, 0xB008);
	} while (t2 == t1);
	/* ACPI enable through the APM port sets SCI_EN. */
	assert_int_equal(inw(b, 0xB004) & 1, 0);
	outb(b, 0xB2, 0xF1);
	assert_int_equal(inw(b, 0xB004) & 1, 1);
	/* Power button: status bit + SCI when enabled. */
	outw(b, 0xB002, 0x0100);
	piix_pm_power_button(&b->pm);
	assert_int_equal(inw(b, 0xB000) & 0x100, 0x100);
	assert_int_equal(b->gsi_level[9], 1);
	outw(b, 0xB000, 0x0100); /* write 1 to clear */
	assert_int_equal(inw(b, 0xB000) & 0x100, 0);
	assert_int_equal(b->gsi_level[9], 0);
	/* GPE0 at 0xAFE0 */
	outb(b, 0xAFE2, 0x02);
	assert_int_equal(inb(b, 0xAFE2), 0x02);
	/* _S5: SLP_TYP 0 | SLP_EN. */
	outw(b, 0xB004, 0x2001);
	assert_int_equal(b->poweroffs, 1);
	/* Moving PMBA moves the block. */
	cfg_writel(b, 1, 3, 0x40, 0x601);
	assert_null(bus_find(&b->pio, 0xB000));
	assert_non_null(bus_find(&b->pio, 0x608));
}

/* isa-debugcon: each byte written to its one port goes out; reads give the
 * readback value; the port next to it is not claimed. */
struct captured {
	char buf[16];
	size_t len;
};

static void capture(void *opaque, const uint8_t *buf, size_t len)
{
	struct captured *c = opaque;
	assert_true(c->len + len <= sizeof(c->buf));
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
}

static void test_isa_debugcon(void **state)
{
	struct board *b = *state;
	struct debugcon e9, log402, mute;
	struct captured out = { 0 }, log = { 0 };

	assert_int_equal(debugcon_init(&e9, &b->pio, 0xE9, DEBUGCON_DEFAULT_READBACK, capture,
				       &out), 0);
	assert_int_equal(debugcon_init(&log402, &b->pio, 0x402, 0x5A, capture, &log), 0);
	assert_int_equal(debugcon_init(&mute, &b->pio, 0x500, 0xE9, NULL, NULL), 0);
	/* a second device on a taken port is refused */
	struct debugcon again;
	assert_int_not_equal(debugcon_init(&again, &b->pio, 0xE9, 0xE9, capture, &out), 0);

	outb(b, 0xE9, 'o');
	outb(b, 0xE9, 'k');
	outb(b, 0x402, 'S');
	outb(b, 0x500, 'x');  /* no backend: dropped */
	outb(b, 0xEA, 'y');   /* not ours */
	outb(b, 0x401, 'z');
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.buf, "ok", 2);
	assert_int_equal(log.len, 1);
	assert_int_equal(log.buf[0], 'S');
	assert_int_equal(inb(b, 0xE9), 0xE9);
	assert_int_equal(inb(b, 0x402), 0x5A);
	assert_int_equal(inb(b, 0x500), 0xE9);
}

/* A test device with an I/O BAR at 0xC000 and a memory BAR at 0xFEBF0000
 * in slot 3, decode off. */
static struct pci_device toggled;
static void register_toggled_device(struct board *b)
{
	static const struct io_ops ops = { 0 };
	pci_device_init(&toggled, "toggled", 0x1234, 0x5678, 0x020000, 1);
	pci_device_set_bar(&toggled, 0, PCI_BAR_IO, false, 32, &ops, NULL);
	pci_device_set_bar(&toggled, 1, PCI_BAR_MEM32, false, 0x1000, &ops, NULL);
	assert_int_equal(pci_register(&b->pci, &toggled, PCI_DEVFN(3, 0)), 0);
	cfg_writel(b, 3, 0, 0x10, 0xC000);
	cfg_writel(b, 3, 0, 0x14, 0xFEBF0000);
}

enum { TOGGLES = 100000, HEAP_SLACK = 64 << 10 };

/* Regression (issue 12, hole 2): every decode toggle and every PM base move
 * publishes a new bus map; the old ones used to be kept until exit (~0.85 KiB
 * a write, 800 MiB from a guest loop in seconds). Host memory must stay flat. */
static void test_decode_toggling_keeps_memory_bounded(void **state)
{
	struct board *b = *state;
	register_toggled_device(b);
	cfg_writeb(b, 1, 3, 0x80, 1); /* PM I/O block enabled */
	/* Warm up: a few maps exist at any time. */
	for (int i = 0; i < 64; i++) {
		cfg_writel(b, 3, 0, 0x04, (i & 1) ? 0x3 : 0x0);
		cfg_writel(b, 1, 3, 0x40, (i & 1) ? 0xB001 : 0x601);
	}
	size_t before = heap_in_use();
	for (int i = 0; i < TOGGLES; i++) {
		cfg_writel(b, 3, 0, 0x04, (i & 1) ? 0x3 : 0x0);
		/* A new PM base each time: no two maps alike. */
		cfg_writel(b, 1, 3, 0x40, (uint32_t)(0x1000 + (i % 0x200) * 0x40) | 1);
	}
	size_t after = heap_in_use();
	print_message("heap growth over %d toggles and moves: %zd bytes\n", TOGGLES,
		      (ssize_t)(after - before));
	assert_true(after < before + HEAP_SLACK);
	/* Decode still works after all that. */
	cfg_writel(b, 3, 0, 0x04, 0x3);
	assert_ptr_equal(bus_find(&b->pio, 0xC000), &toggled.bar[0].region);
	assert_ptr_equal(bus_find(&b->mmio, 0xFEBF0000), &toggled.bar[1].region);
	b->pci.dev[PCI_DEVFN(3, 0)] = NULL;
}

/* Readers on other threads while one vCPU toggles: maps are freed under
 * them only once nobody can be using them (ASan reports a use after free
 * otherwise), and memory stays bounded all the same. */
struct reader_ctx {
	struct board *b;
	atomic_bool stop;
	atomic_ulong reads;
};

static void *port_reader(void *opaque)
{
	struct reader_ctx *c = opaque;
	while (!atomic_load(&c->stop)) {
		uint32_t v;
		bus_read(&c->b->pio, 0xC004, &v, 4);
		bus_read(&c->b->pio, 0x1008, &v, 4); /* the PM timer, when it is there */
		bus_read(&c->b->mmio, 0xFEBF0010, &v, 4);
		atomic_fetch_add(&c->reads, 1);
	}
	return NULL;
}

static void test_decode_toggling_with_concurrent_readers(void **state)
{
	struct board *b = *state;
	struct reader_ctx c = { .b = b };
	pthread_t t[2];

	register_toggled_device(b);
	cfg_writeb(b, 1, 3, 0x80, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, port_reader, &c), 0);
	size_t before = heap_in_use();
	size_t peak = before;
	for (int i = 0; i < TOGGLES / 4; i++) {
		/* Through the port bus, as a vCPU would: the access that publishes
		 * a new pio map is itself using the old one. */
		cfg_writel(b, 3, 0, 0x04, (i & 1) ? 0x3 : 0x0);
		cfg_writel(b, 1, 3, 0x40, (uint32_t)(0x1000 + (i % 0x200) * 0x40) | 1);
		size_t now = heap_in_use();
		if (now > peak)
			peak = now;
	}
	atomic_store(&c.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&c.reads) > 0);
	print_message("peak heap growth with 2 readers (%lu reads): %zu bytes\n",
		      atomic_load(&c.reads), peak - before);
	assert_true(peak < before + HEAP_SLACK);
	/* At most a few per thread that dispatches (three here). */
	assert_true(bus_retired_maps(&b->pio) <= 12);
	assert_true(bus_retired_maps(&b->mmio) <= 12);
	b->pci.dev[PCI_DEVFN(3, 0)] = NULL;
}

static void save_board(struct board *b, struct ss_writer *w)
{
	ss_writer_init(w);
	i440fx_save(&b->nb, w, 0);
	piix3_save(&b->sb, w, 0);
	piix_pm_save(&b->pm, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Save a programmed chipset, load it into a fresh one, save again: the
 * same bytes; and the new chipset behaves as the old: PAM segments are
 * RAM, the PIRQ a device asserts is up on its routed IRQ, the PM block
 * sits at its programmed base with the power button's status and SCI. */
static void test_save_load(void **state)
{
	struct board *b = *state, *c;
	struct ss_writer w1, w2;
	struct ss_reader r;
	static struct pci_device nic;

	cfg_writeb(b, 0, 0, 0x59, 0x30);
	cfg_writel(b, 0, 0, 0x5C, 0x33333333);
	cfg_writel(b, 1, 0, 0x60, 0x0B0B0A0A);
	pci_device_init(&nic, "nic", 0x1234, 0x1, 0x020000, 1);
	pci_device_set_interrupt_pin(&nic, 1);
	pci_register(&b->pci, &nic, PCI_DEVFN(3, 0));
	pci_set_irq(&nic, 1); /* slot 3 INTA -> PIRQC -> IRQ 11 */
	assert_int_equal(b->gsi_level[11], 1);
	outb(b, 0xCF9, 0x02);
	cfg_writel(b, 1, 3, 0x40, 0xB001);
	cfg_writeb(b, 1, 3, 0x80, 1);
	outb(b, 0xB2, 0xF1);
	outw(b, 0xB002, 0x0100);
	piix_pm_power_button(&b->pm);
	outb(b, 0xAFE2, 0x02);
	assert_int_equal(b->gsi_level[9], 1);
	save_board(b, &w1);
	b->pci.dev[PCI_DEVFN(3, 0)] = NULL;

	setup((void **)&c);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(i440fx_load(&c->nb, &r, 0));
	assert_true(piix3_load(&c->sb, &r, 0));
	assert_true(piix_pm_load(&c->pm, &r, 0));
	assert_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);
	save_board(c, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	struct memmap_view v = memmap_segment_view(&c->mm, PAM_SEGMENTS - 1);
	assert_false(v.read_only);
	assert_ptr_equal(v.hva, c->mem.ram + 0xF0000);
	assert_false(memmap_segment_view(&c->mm, 6).read_only);
	assert_int_equal(c->gsi_level[11], 1);
	assert_int_equal(c->gsi_level[9], 1);
	assert_int_equal(inb(c, 0xCF9), 0x02);
	assert_int_equal(inw(c, 0xB000) & 0x100, 0x100);
	assert_int_equal(inw(c, 0xB004) & 1, 1);
	assert_int_equal(inb(c, 0xAFE2), 0x02);
	outw(c, 0xB000, 0x0100);
	assert_int_equal(c->gsi_level[9], 0);
	teardown((void **)&c);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

static void save_piix3(struct board *b, struct ss_writer *w)
{
	ss_writer_init(w);
	piix3_save(&b->sb, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void load_piix3(struct board *b, const struct ss_writer *w)
{
	struct ss_reader r;
	assert_int_equal(ss_reader_open(&r, w->buf, w->len), 0);
	assert_true(piix3_load(&b->sb, &r, 0));
	ss_reader_close(&r);
}

/* A load into a PIIX3 that is driving its own lines (a running machine,
 * not a fresh one) re-drives the ISA router: the line the saved route
 * names goes up, the line the old route held goes down, and a line shared
 * with another ISA device keeps that device's level. */
static void test_load_redrives_router(void **state)
{
	struct board *b = *state;
	struct ss_writer asserted, quiet;
	struct irq_line other;
	static struct pci_device nic;

	pci_device_init(&nic, "nic", 0x1234, 0x1, 0x020000, 1);
	pci_device_set_interrupt_pin(&nic, 1);
	pci_register(&b->pci, &nic, PCI_DEVFN(3, 0));
	cfg_writel(b, 1, 0, 0x60, 0x0B0B0B0B); /* slot 3 INTA = PIRQC -> IRQ 11 */
	pci_set_irq(&nic, 1);
	assert_int_equal(b->gsi_level[11], 1);
	save_piix3(b, &asserted);
	pci_set_irq(&nic, 0);
	save_piix3(b, &quiet);

	/* The machine moves on: PIRQC to IRQ 10, asserted there. */
	cfg_writel(b, 1, 0, 0x60, 0x0B0A0B0B);
	pci_set_irq(&nic, 1);
	assert_int_equal(b->gsi_level[10], 1);
	assert_int_equal(b->gsi_level[11], 0);
	/* Back to the saved PIRQ state: IRQ 11 up, IRQ 10 released. */
	load_piix3(b, &asserted);
	assert_int_equal(cfg_readl(b, 1, 0, 0x60), 0x0B0B0B0B);
	assert_int_equal(b->gsi_level[11], 1);
	assert_int_equal(b->gsi_level[10], 0);
	/* The quiet state lowers IRQ 11 again... */
	load_piix3(b, &quiet);
	assert_int_equal(b->gsi_level[11], 0);
	/* ...but not another ISA device's level on the same line. */
	load_piix3(b, &asserted);
	assert_int_equal(isa_irq_claim(&b->isa, 11, &other), 0);
	irq_raise(&other);
	load_piix3(b, &quiet);
	assert_int_equal(b->gsi_level[11], 1);
	irq_lower(&other);
	assert_int_equal(b->gsi_level[11], 0);
	b->pci.dev[PCI_DEVFN(3, 0)] = NULL;
	ss_writer_free(&asserted);
	ss_writer_free(&quiet);
}

/* Another device's configuration space under this device's name: refused
 * (its IDs are read-only), the device unchanged. */
static void test_load_refuses_other_device(void **state)
{
	struct board *b = *state;
	struct ss_writer w;
	struct ss_reader r;
	uint8_t zeros[512] = { 0 };

	cfg_writel(b, 1, 0, 0x60, 0x0B0B0A0A);
	ss_writer_init(&w);
	ss_section_begin(&w, "piix3", 0, 1);
	pci_config_put(&w, &b->nb.pci); /* the host bridge's */
	ss_put_u8(&w, "rcr", 0);
	ss_put_bytes(&w, "pirq_sources", zeros, sizeof(zeros));
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(piix3_load(&b->sb, &r, 0));
	assert_non_null(strstr(r.err, "read-only configuration byte 0x02"));
	ss_reader_close(&r);
	assert_int_equal(cfg_readl(b, 1, 0, 0x60), 0x0B0B0A0A);
	assert_int_equal(cfg_readl(b, 1, 0, 0) & 0xFFFF, 0x8086);
	ss_writer_free(&w);
}

/* Port 0x92: A20 as the guest left it; the reset bit is never state. */
static void test_port92_save_load(void **state)
{
	struct board *b = *state;
	struct board_control ctl = { on_reset, on_poweroff, on_exit_req, b };
	struct port92 p, q = { 0 };
	struct ss_writer w1, w2;
	struct ss_reader r;

	assert_int_equal(port92_init(&p, &b->pio, ctl), 0);
	outb(b, 0x92, 0x02);
	ss_writer_init(&w1);
	port92_save(&p, &w1, 0);
	assert_int_equal(ss_writer_finish(&w1), 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(port92_load(&q, &r, 0));
	ss_reader_close(&r);
	assert_int_equal(q.value, 0x02);
	ss_writer_init(&w2);
	port92_save(&q, &w2, 0);
	assert_int_equal(ss_writer_finish(&w2), 0);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	ss_writer_free(&w2);

	w1.buf[w1.len - 5 - 1] = 0x03; /* the value byte: reset bit set */
	size_t sec = 12;
	put_le32(w1.buf + w1.len - 5, ss_crc32(w1.buf + sec, w1.len - 5 - sec));
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_false(port92_load(&q, &r, 0));
	assert_non_null(strstr(r.err, "reset bit"));
	ss_reader_close(&r);
	assert_int_equal(q.value, 0x02);
	assert_int_equal(b->resets, 0);
	ss_writer_free(&w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_mechanism, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pam_switches_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_and_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pirq_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_sci_and_poweroff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isa_debugcon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_toggling_keeps_memory_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_redrives_router, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_other_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port92_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_toggling_with_concurrent_readers, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
