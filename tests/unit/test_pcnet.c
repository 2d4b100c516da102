// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The PCnet-PCI II (hw/net/pcnet.c) as Linux's pcnet32 drives it, and as a
 * hostile guest does: identity and the APROM, the probe (reset port,
 * CSR0, RAP, chip ID) in WIO and DWIO, the init block and both rings in
 * software styles 0, 2 and 3, chained buffers both ways, CSR3's masks,
 * the filters (CSR15, LADRF), a full receive ring, hostile descriptors,
 * lengths and addresses, suspend, the link in BCR4 and the MII PHY,
 * quiesce, saved state.
 */
#include "unit.h"

#include <stdlib.h>

#include "bus.h"
#include "bus_access.h"
#include "nic_fixture.h"
#include "guest_mem.h"
#include "hw/pcnet.h"
#include "net.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"

#define RAM_SIZE (1u << 20)
#define DEVFN PCI_DEVFN(4, 0)
#define IOBASE 0xC100u
#define MMIO 0xE0001000u
#define INITBLK 0x10000u
#define RXRING 0x20000u
#define TXRING 0x30000u
#define TXBUF 0x40000u
#define RXBUFS 0x60000u

#define RDP 0x10
#define RAP 0x12
#define RESET 0x14
#define BDP 0x16

#define INIT 0x0001
#define STRT 0x0002
#define STOP 0x0004
#define TDMD 0x0008
#define TXON 0x0010
#define RXON 0x0020
#define IENA 0x0040
#define INTR 0x0080
#define IDON 0x0100
#define TINT 0x0200
#define RINT 0x0400
#define MERR 0x0800
#define MISS 0x1000

#define OWN (1u << 31)
#define ERR (1u << 30)
#define STP (1u << 25)
#define ENP (1u << 24)
#define BAM (1u << 20)
#define LAFM (1u << 21)
#define PAM (1u << 22)

struct ctx {
	NIC_FIXTURE;
	struct pcnet *p;
	unsigned style;
};

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x70 };

static uint32_t rd(struct ctx *c, unsigned reg, unsigned size)
{
	return (uint32_t)bus_rd(&c->pio, IOBASE + reg, size);
}

static void wr(struct ctx *c, unsigned reg, uint32_t v, unsigned size)
{
	bus_wr(&c->pio, IOBASE + reg, v, size);
}

static uint16_t csr(struct ctx *c, unsigned n)
{
	wr(c, RAP, n, 2);
	return (uint16_t)rd(c, RDP, 2);
}

static void set_csr(struct ctx *c, unsigned n, uint16_t v)
{
	wr(c, RAP, n, 2);
	wr(c, RDP, v, 2);
}

static uint16_t bcr(struct ctx *c, unsigned n)
{
	wr(c, RAP, n, 2);
	return (uint16_t)rd(c, BDP, 2);
}

static void set_bcr(struct ctx *c, unsigned n, uint16_t v)
{
	wr(c, RAP, n, 2);
	wr(c, BDP, v, 2);
}

static struct ctx *make(void)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	nic_fixture_init(&c->fx, RAM_SIZE);
	c->p = pcnet_create(&c->pci, DEVFN, &c->mem, MAC, &c->be, NULL, 0);
	assert_non_null(c->p);
	net_attach(&c->be, pcnet_receive, c->p);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0 + 4, MMIO, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND,
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	return c;
}

static void destroy(struct ctx *c)
{
	pcnet_destroy(c->p);
	nic_fixture_fini(&c->fx);
	free(c);
}

static int setup(void **state)
{
	*state = make();
	return 0;
}

static int teardown(void **state)
{
	destroy(*state);
	return 0;
}

static bool receive(struct ctx *c, const uint8_t *f, size_t len)
{
	static const struct net_hdr none;
	return pcnet_receive(c->p, &none, f, len);
}

static size_t make_frame(uint8_t *f, const uint8_t dst[6], size_t len, uint8_t fill)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	put_be16(f + 12, 0x0800);
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(fill + i);
	return len;
}

/* ---- descriptors in the three styles ----------------------------------------------- */

static unsigned dsize(const struct ctx *c)
{
	return c->style ? 16 : 8;
}

/* A descriptor from its 32-bit fields: addr, flags (RMD1/TMD1), misc. */
static void put_desc(struct ctx *c, uint32_t ring, unsigned i, uint32_t addr, uint32_t flags,
		     uint32_t misc, bool rx)
{
	uint8_t *d = c->ram + ring + i * dsize(c);
	if (c->style == 0) {
		put_le16(d, (uint16_t)addr);
		put_le16(d + 2, (uint16_t)((addr >> 16) & 0xFF) | (uint16_t)((flags >> 24) << 8));
		put_le16(d + 4, (uint16_t)flags);
		put_le16(d + 6, (uint16_t)(rx ? misc : misc >> 16));
	} else if (c->style == 3) {
		put_le32(d, misc);
		put_le32(d + 4, flags);
		put_le32(d + 8, addr);
	} else {
		put_le32(d, addr);
		put_le32(d + 4, flags);
		put_le32(d + 8, misc);
	}
}

static uint32_t desc_flags(struct ctx *c, uint32_t ring, unsigned i)
{
	uint8_t *d = c->ram + ring + i * dsize(c);
	if (c->style == 0)
		return (uint32_t)d[3] << 24 | get_le16(d + 4);
	return get_le32(d + 4);
}

static uint32_t desc_misc(struct ctx *c, uint32_t ring, unsigned i, bool rx)
{
	uint8_t *d = c->ram + ring + i * dsize(c);
	if (c->style == 0)
		return rx ? get_le16(d + 6) : (uint32_t)get_le16(d + 6) << 16;
	return get_le32(d + (c->style == 3 ? 0 : 8));
}

static uint32_t bcnt(unsigned len)
{
	return 0xF000 | ((0x1000 - len) & 0xFFF);
}

static void tx_desc(struct ctx *c, unsigned i, uint32_t addr, unsigned len, uint32_t bits)
{
	put_desc(c, TXRING, i, addr, bits | bcnt(len), 0, false);
}

static void rx_desc(struct ctx *c, unsigned i, uint32_t addr, unsigned len)
{
	put_desc(c, RXRING, i, addr, OWN | bcnt(len), 0, true);
}

/* What pcnet32_open does: reset, the style, the init block, INIT, IDON,
 * STRT|IENA. Rings of 2^log2 descriptors, each receive one given a
 * 1544-byte buffer. */
static void open_card(struct ctx *c, unsigned style, unsigned rlog2, unsigned tlog2, uint16_t mode)
{
	uint8_t *ib = c->ram + INITBLK;

	c->style = style;
	rd(c, RESET, 2);
	set_bcr(c, 20, (uint16_t)style);
	memset(ib, 0, 28);
	if (style == 0) {
		put_le16(ib, mode);
		memcpy(ib + 2, MAC, 6);
		put_le16(ib + 0x10, (uint16_t)RXRING);
		put_le16(ib + 0x12, (uint16_t)((RXRING >> 16) | rlog2 << 13));
		put_le16(ib + 0x14, (uint16_t)TXRING);
		put_le16(ib + 0x16, (uint16_t)((TXRING >> 16) | tlog2 << 13));
	} else {
		put_le16(ib, mode);
		ib[2] = (uint8_t)(rlog2 << 4);
		ib[3] = (uint8_t)(tlog2 << 4);
		memcpy(ib + 4, MAC, 6);
		put_le32(ib + 20, RXRING);
		put_le32(ib + 24, TXRING);
	}
	for (unsigned i = 0; i < (1u << rlog2); i++)
		rx_desc(c, i, RXBUFS + i * 2048, 1544);
	for (unsigned i = 0; i < (1u << tlog2); i++)
		tx_desc(c, i, 0, 0, 0);
	set_csr(c, 1, INITBLK & 0xFFFF);
	set_csr(c, 2, INITBLK >> 16);
	set_csr(c, 4, 0x0915);
	set_csr(c, 0, INIT);
	assert_true(csr(c, 0) & IDON);
	set_csr(c, 0, STRT | IENA);
}

/* ---- identity, probe ------------------------------------------------------------------ */

static void test_identity_and_aprom(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_VENDOR_ID, 2), 0x1022);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_DEVICE_ID, 2), 0x2000);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_REVISION_ID, 1), 0x10);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_CLASS_DEVICE, 2), 0x0200);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rd(c, i, 1), MAC[i]);
	assert_int_equal(rd(c, 14, 1), 0x57);
	assert_int_equal(rd(c, 15, 1), 0x57);
	unsigned sum = 0;
	for (int i = 0; i < 16; i++)
		if (i != 12 && i != 13)
			sum += rd(c, i, 1);
	assert_int_equal(rd(c, 12, 2), sum & 0xFFFF);
	/* The memory BAR: the same 32 bytes. */
	assert_int_equal(bus_rd(&c->mmio, MMIO, 4), get_le32(MAC));
}

/* pcnet32_probe1: WIO reset, CSR0 == 4, RAP reads back, the chip ID;
 * the MAC in CSR12-14. */
static void test_probe_wio(void **state)
{
	struct ctx *c = *state;

	rd(c, RESET, 2);
	assert_int_equal(csr(c, 0), STOP);
	wr(c, RAP, 88, 2);
	assert_int_equal(rd(c, RAP, 2), 88);
	uint32_t chip = csr(c, 88) | (uint32_t)csr(c, 89) << 16;
	assert_int_equal(chip & 0xFFF, 0x003);
	assert_int_equal((chip >> 12) & 0xFFFF, 0x2621);
	for (int i = 0; i < 3; i++)
		assert_int_equal(csr(c, 12 + i), get_le16(MAC + 2 * i));
	/* BCRs Linux reads: ASEL in BCR2, the LED/link register BCR4 (not
	 * 0xc0 when the link is up), BCR20's style and SSIZE32. */
	assert_int_equal(bcr(c, 2) & 2, 2);
	assert_int_not_equal(bcr(c, 4), 0xC0);
	set_bcr(c, 20, 2);
	assert_int_equal(bcr(c, 20) & 0x1FF, 0x102);
	assert_int_equal(csr(c, 58) & 0xFF, 2);
	pcnet_set_link(c->p, false);
	assert_int_equal(bcr(c, 4), 0xC0);
	pcnet_set_link(c->p, true);
	/* The MII PHY at address 0. */
	set_bcr(c, 33, (0 << 5) | 1);
	assert_true(bcr(c, 34) & 0x0004);
	set_bcr(c, 33, (3 << 5) | 1);
	assert_int_equal(bcr(c, 34), 0xFFFF);
}

/* DWIO: a 32-bit write to RDP; then RAP at 0x14, BDP at 0x1C, reset 0x18. */
static void test_probe_dwio(void **state)
{
	struct ctx *c = *state;

	wr(c, RDP, 0, 4);
	wr(c, 0x14, 88, 4);
	assert_int_equal(rd(c, 0x14, 4), 88);
	assert_int_equal(rd(c, RDP, 4), 0x1003);
	wr(c, 0x14, 2, 4);
	assert_int_equal(rd(c, 0x1C, 4) & 2, 2);
	rd(c, 0x18, 4); /* reset: still DWIO */
	assert_int_equal(rd(c, RDP, 4) & 0xFFFF, STOP);
	/* A machine reset: WIO again. */
	pci_device_reset(pcnet_pci(c->p));
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	wr(c, RAP, 89, 2);
	assert_int_equal(rd(c, RDP, 2), 0x0262);
}

/* ---- init, transmit, receive in each style ---------------------------------------------- */

static void check_init(struct ctx *c)
{
	assert_int_equal(csr(c, 0) & (TXON | RXON | STRT | IENA), TXON | RXON | STRT | IENA);
	/* IDON with IENA: INTR and the line, until acknowledged. */
	assert_true(csr(c, 0) & INTR);
	assert_int_equal(c->intx, 1);
	set_csr(c, 0, IDON | IENA);
	assert_int_equal(c->intx, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(csr(c, 12 + i), get_le16(MAC + 2 * i));
}

static void transmit_and_receive(struct ctx *c)
{
	uint8_t f[1514];

	/* One frame in one descriptor. */
	make_frame(c->ram + TXBUF, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 600, 1);
	tx_desc(c, 0, TXBUF, 600, OWN | STP | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(c->sent_len[0], 600);
	assert_memory_equal(c->sent[0], c->ram + TXBUF, 600);
	assert_false(desc_flags(c, TXRING, 0) & OWN);
	assert_true(csr(c, 0) & TINT);
	assert_int_equal(c->intx, 1);
	set_csr(c, 0, TINT | IENA);
	/* Chained over three buffers. */
	make_frame(c->ram + TXBUF, MAC, 1000, 2);
	tx_desc(c, 1, TXBUF, 100, OWN | STP);
	tx_desc(c, 2, TXBUF + 100, 800, OWN);
	tx_desc(c, 3, TXBUF + 900, 100, OWN | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 2);
	assert_int_equal(c->sent_len[1], 1000);
	assert_memory_equal(c->sent[1], c->ram + TXBUF, 1000);
	for (unsigned i = 1; i < 4; i++)
		assert_false(desc_flags(c, TXRING, i) & OWN);
	/* A short frame is padded (CSR4.APAD_XMT). */
	tx_desc(c, 4, TXBUF, 42, OWN | STP | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->sent_len[2], 60);

	/* Receive: the frame and its FCS, MCNT with the FCS, STP|ENP. */
	assert_true(receive(c, f, make_frame(f, MAC, 1514, 3)));
	uint32_t fl = desc_flags(c, RXRING, 0);
	assert_false(fl & OWN);
	assert_int_equal(fl & (STP | ENP | ERR), STP | ENP);
	assert_int_equal(desc_misc(c, RXRING, 0, true) & 0xFFF, 1518);
	assert_memory_equal(c->ram + RXBUFS, f, 1514);
	assert_true(csr(c, 0) & RINT);
	/* Broadcast: BAM (32-bit styles). */
	assert_true(receive(c, f, make_frame(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 100, 3)));
	assert_int_equal(desc_misc(c, RXRING, 1, true) & 0xFFF, 104);
	if (c->style)
		assert_true(desc_flags(c, RXRING, 1) & BAM);
	/* A runt is padded to 60 (+ FCS). */
	assert_true(receive(c, f, make_frame(f, MAC, 20, 3)));
	assert_int_equal(desc_misc(c, RXRING, 2, true) & 0xFFF, 64);
}

static void test_style2(void **state)
{
	struct ctx *c = *state;
	open_card(c, 2, 4, 4, 0);
	check_init(c);
	transmit_and_receive(c);
}

static void test_style3(void **state)
{
	struct ctx *c = *state;
	open_card(c, 3, 4, 4, 0);
	check_init(c);
	transmit_and_receive(c);
}

static void test_style0(void **state)
{
	struct ctx *c = *state;
	open_card(c, 0, 3, 3, 0);
	assert_int_equal(bcr(c, 20) & 0x100, 0); /* SSIZE32 off */
	check_init(c);
	transmit_and_receive(c);
}

/* CSR3's masks: RINT with RINTM set raises no INTR; cleared, it does. */
static void test_interrupt_masks(void **state)
{
	struct ctx *c = *state;
	uint8_t f[100];

	open_card(c, 2, 4, 4, 0);
	set_csr(c, 0, IDON | IENA);
	set_csr(c, 3, 0x5F00);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 1)));
	assert_true(csr(c, 0) & RINT);
	assert_false(csr(c, 0) & INTR);
	assert_int_equal(c->intx, 0);
	set_csr(c, 3, 0);
	assert_true(csr(c, 0) & INTR);
	assert_int_equal(c->intx, 1);
	/* IENA off (pcnet32's acknowledge writes it 0): the line drops. */
	set_csr(c, 0, 0);
	assert_int_equal(c->intx, 0);
	set_csr(c, 0, RINT | IENA);
	assert_false(csr(c, 0) & INTR);
}

/* Received frames over chained small buffers; a full ring holds frames
 * until the driver gives descriptors back (noticed on an RDP access). */
static void test_receive_chained_and_full(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	open_card(c, 2, 2, 2, 0);
	for (unsigned i = 0; i < 4; i++)
		rx_desc(c, i, RXBUFS + i * 2048, 512);
	assert_true(receive(c, f, make_frame(f, MAC, 1200, 5)));
	/* 1204 bytes: 512 + 512 + 180. */
	assert_int_equal(desc_flags(c, RXRING, 0) & (OWN | STP | ENP), STP);
	assert_int_equal(desc_flags(c, RXRING, 1) & (OWN | STP | ENP), 0);
	assert_int_equal(desc_flags(c, RXRING, 2) & (OWN | STP | ENP), ENP);
	assert_int_equal(desc_misc(c, RXRING, 2, true) & 0xFFF, 1204);
	assert_memory_equal(c->ram + RXBUFS, f, 512);
	assert_memory_equal(c->ram + RXBUFS + 2048, f + 512, 512);
	assert_memory_equal(c->ram + RXBUFS + 4096, f + 1024, 176);
	/* One descriptor left: a 1200-byte frame waits (nothing written). */
	assert_true(receive(c, f, make_frame(f, MAC, 1200, 6)));
	assert_true(desc_flags(c, RXRING, 3) & OWN);
	for (unsigned i = 0; i < 63; i++)
		assert_true(receive(c, f, make_frame(f, MAC, 100, (uint8_t)i)));
	assert_false(receive(c, f, make_frame(f, MAC, 100, 99))); /* FIFO full: refused */
	/* The driver gives back descriptors 0-2; its next CSR access delivers. */
	for (unsigned i = 0; i < 3; i++)
		rx_desc(c, i, RXBUFS + i * 2048, 512);
	csr(c, 0);
	assert_false(desc_flags(c, RXRING, 3) & OWN);
	assert_int_equal(desc_misc(c, RXRING, 1, true) & 0xFFF, 1204);
	assert_int_equal(c->ram[RXBUFS + 3 * 2048 + 14], (uint8_t)(6 + 14));
	/* Ring of one descriptor too small for the frame: dropped, MISS. */
	open_card(c, 2, 0, 0, 0);
	rx_desc(c, 0, RXBUFS, 100);
	set_csr(c, 0, IDON | IENA);
	assert_true(receive(c, f, make_frame(f, MAC, 1000, 1)));
	assert_true(csr(c, 0) & MISS);
	assert_int_equal(csr(c, 112), 1);
}

static void test_filters(void **state)
{
	struct ctx *c = *state;
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0, 0, 9 };
	static const uint8_t group[6] = { 0x01, 0x00, 0x5E, 0x00, 0x00, 0x01 };
	uint8_t f[100];

	open_card(c, 2, 4, 4, 0);
	set_csr(c, 0, IDON | IENA);
	assert_true(receive(c, f, make_frame(f, other, 100, 1)));
	assert_true(receive(c, f, make_frame(f, group, 100, 1)));
	assert_false(csr(c, 0) & RINT);
	/* pcnet32_load_multicast: ether_crc_le >> 26 = 0x36: LADRF word 3, bit 6. */
	set_csr(c, 11, 1u << 6);
	assert_true(receive(c, f, make_frame(f, group, 100, 1)));
	assert_true(desc_flags(c, RXRING, 0) & LAFM);
	/* CSR15.PROM: everything; DRCVBC: no broadcast. */
	set_csr(c, 15, 0x8000);
	assert_true(receive(c, f, make_frame(f, other, 100, 1)));
	assert_false(desc_flags(c, RXRING, 1) & OWN);
	set_csr(c, 15, 0x4000);
	assert_true(receive(c, f, make_frame(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 100, 1)));
	assert_true(desc_flags(c, RXRING, 2) & OWN);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 1)));
	assert_true(desc_flags(c, RXRING, 2) & PAM);
	/* Suspend (pcnet32_suspend): CSR5.SPND reads back at once. */
	set_csr(c, 5, 1);
	assert_true(csr(c, 5) & 1);
	set_csr(c, 5, 0);
	/* STOP: nothing received, nothing sent. */
	set_csr(c, 0, STOP);
	assert_int_equal(csr(c, 0), STOP);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 1)));
	assert_true(desc_flags(c, RXRING, 3) & OWN);
}

static void test_transmit_hostile(void **state)
{
	struct ctx *c = *state;

	open_card(c, 2, 4, 4, 0);
	set_csr(c, 0, IDON | IENA);
	/* A chain that never ends: every descriptor OWN|STP-less after the
	 * first, no ENP anywhere: dropped once around the ring, handed back. */
	tx_desc(c, 0, TXBUF, 100, OWN | STP);
	for (unsigned i = 1; i < 16; i++)
		tx_desc(c, i, TXBUF, 100, OWN);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 0);
	for (unsigned i = 0; i < 16; i++)
		assert_false(desc_flags(c, TXRING, i) & OWN);
	assert_true(desc_flags(c, TXRING, 15) & ERR);
	/* A buffer outside guest RAM: MERR, dropped, the ring goes on. */
	tx_desc(c, 0, 0xFFFFF000, 1000, OWN | STP | ENP);
	tx_desc(c, 1, TXBUF, 100, OWN | STP | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_true(csr(c, 0) & MERR);
	assert_int_equal(c->nsent, 1);
	assert_true(desc_flags(c, TXRING, 0) & ERR);
	/* A frame longer than the card's limit over many descriptors. */
	for (unsigned i = 2; i < 8; i++)
		tx_desc(c, i, TXBUF, 4000, OWN | (i == 2 ? STP : 0) | (i == 7 ? ENP : 0));
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 1);
	assert_false(desc_flags(c, TXRING, 7) & OWN);
	/* Zero-length buffers and a frame below an Ethernet header. */
	tx_desc(c, 8, TXBUF, 0, OWN | STP);
	tx_desc(c, 9, TXBUF, 10, OWN | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 1);
	/* A descriptor ring outside guest RAM. */
	open_card(c, 2, 4, 4, 0);
	c->ram[INITBLK + 24] = 0;
	put_le32(c->ram + INITBLK + 24, 0xFFFFFF00);
	set_csr(c, 0, STOP);
	set_csr(c, 0, INIT);
	set_csr(c, 0, STRT | TDMD | IENA);
	assert_true(csr(c, 0) & MERR);
	/* An init block outside guest RAM: MERR, no IDON. */
	set_csr(c, 0, STOP);
	set_csr(c, 1, 0xFF00);
	set_csr(c, 2, 0xFFFF);
	set_csr(c, 0, INIT);
	assert_false(csr(c, 0) & IDON);
	assert_true(csr(c, 0) & MERR);
	uint64_t rx_dropped, tx_dropped;
	pcnet_stats(c->p, &rx_dropped, &tx_dropped);
	assert_true(tx_dropped >= 4);
}

/* A 512-descriptor ring, all owned, every one a one-descriptor frame:
 * one poll sends at most one ring's worth. */
static void test_transmit_full_ring(void **state)
{
	struct ctx *c = *state;

	open_card(c, 2, 9, 9, 0);
	make_frame(c->ram + TXBUF, MAC, 60, 1);
	for (unsigned i = 0; i < 512; i++)
		tx_desc(c, i, TXBUF, 60, OWN | STP | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 512);
	/* The ring as long as RLEN 15 says: 512. */
	open_card(c, 2, 15, 15, 0);
	assert_int_equal(csr(c, 76), (uint16_t)(0x10000 - 512));
}

/* set_link down: BCR4 (LED0, link status enabled by LNKSTE) shows LEDOUT off, the PHY's BMSR
 * link bit off; a transmit completes (OWN back) but reaches no backend,
 * nothing is received; the reset port keeps the cable out; up: both flow. */
static void test_link_down_stops_frames(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	open_card(c, 2, 4, 4, 0);
	pcnet_set_link(c->p, false);
	assert_false(pcnet_link(c->p));
	assert_int_equal(bcr(c, 4) & 0x8040, 0x0040); /* LNKSTE on, LEDOUT off */
	set_bcr(c, 33, (0 << 5) | 1);
	assert_false(bcr(c, 34) & 0x0004);
	make_frame(c->ram + TXBUF, MAC, 100, 1);
	tx_desc(c, 0, TXBUF, 100, OWN | STP | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_false(desc_flags(c, TXRING, 0) & OWN);
	assert_int_equal(c->nsent, 0);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 3)));
	assert_true(desc_flags(c, RXRING, 0) & OWN); /* still the card's: nothing came */
	rd(c, RESET, 2);
	assert_false(pcnet_link(c->p));
	assert_int_equal(bcr(c, 4) & 0x8040, 0x0040);
	pcnet_set_link(c->p, true);
	assert_int_equal(bcr(c, 4) & 0x8040, 0x8040);
	open_card(c, 2, 4, 4, 0);
	tx_desc(c, 0, TXBUF, 100, OWN | STP | ENP);
	set_csr(c, 0, TDMD | IENA);
	assert_int_equal(c->nsent, 1);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 3)));
	assert_false(desc_flags(c, RXRING, 0) & OWN);
}

static void test_quiesce_and_savestate(void **state)
{
	struct ctx *c = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;
	uint8_t f[300];

	open_card(c, 3, 4, 4, 0);
	set_csr(c, 0, IDON | IENA);
	pcnet_quiesce(c->p);
	assert_true(receive(c, f, make_frame(f, MAC, 300, 7)));
	assert_true(desc_flags(c, RXRING, 0) & OWN);
	pcnet_resume(c->p);
	assert_false(desc_flags(c, RXRING, 0) & OWN);
	wr(c, RAP, 15, 2);
	ss_writer_init(&w1);
	pcnet_save(c->p, &w1, 0);
	assert_int_equal(ss_writer_finish(&w1), 0);

	struct ctx *d = make();
	memcpy(d->ram, c->ram, RAM_SIZE);
	d->style = 3;
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(pcnet_load(d->p, &r, 0));
	ss_reader_close(&r);
	ss_writer_init(&w2);
	pcnet_save(d->p, &w2, 0);
	assert_int_equal(ss_writer_finish(&w2), 0);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	/* The loaded card goes on where the other stopped. */
	assert_int_equal(rd(d, RAP, 2), 15);
	assert_true(receive(d, f, make_frame(f, MAC, 300, 8)));
	assert_false(desc_flags(d, RXRING, 1) & OWN);
	tx_desc(d, 0, TXBUF, 100, OWN | STP | ENP);
	set_csr(d, 0, TDMD | IENA);
	assert_int_equal(d->nsent, 1);
	ss_writer_free(&w2);
	destroy(d);
	ss_writer_free(&w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_aprom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_wio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_dwio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_style2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_style3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_style0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_chained_and_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_full_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_stops_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_and_savestate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
