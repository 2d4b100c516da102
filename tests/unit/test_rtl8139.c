// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The RTL8139C+ (hw/net/rtl8139.c) as 8139too (C mode) and 8139cp (C+
 * mode) drive it, and as a hostile guest does: identity, the EEPROM as
 * Linux reads it, reset, C-mode slots and ring buffer, C+ descriptor
 * rings with checksum offload and large send, the multicast filter,
 * interrupts, TCTR/TimerInt, link, saved state.
 */
#include "unit.h"

#include <stdlib.h>

#include "bus.h"
#include "bus_access.h"
#include "nic_fixture.h"
#include "guest_mem.h"
#include "hw/rtl8139.h"
#include "net.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"

#define RAM_SIZE (1u << 20)
#define DEVFN PCI_DEVFN(4, 0)
#define IOBASE 0xC100u
#define MMIO 0xE0001000u
#define RXRING 0x20000u /* C mode ring buffer, or the C+ receive descriptors */
#define TXRING 0x30000u
#define TXBUF 0x40000u
#define RXBUFS 0x60000u

#define TSD0 0x10
#define TSAD0 0x20
#define RBSTART 0x30
#define CR 0x37
#define CAPR 0x38
#define CBR 0x3A
#define IMR 0x3C
#define ISR 0x3E
#define TCR 0x40
#define RCR 0x44
#define TCTR 0x48
#define MPC 0x4C
#define CR9346 0x50
#define CONFIG1 0x52
#define TIMERINT 0x54
#define MSR 0x58
#define BMCR 0x62
#define BMSR 0x64
#define TXPOLL 0xD9
#define CPCMD 0xE0
#define RDSAR 0xE4

#define OWN (1u << 31)
#define EOR (1u << 30)
#define FS (1u << 29)
#define LS (1u << 28)

struct ctx {
	NIC_FIXTURE;
	struct rtl8139 *n;
	int64_t clock;
};

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x58 };

static int64_t fake_clock(void *opaque)
{
	return ((struct ctx *)opaque)->clock;
}

static uint32_t rd(struct ctx *c, unsigned reg, unsigned size)
{
	return (uint32_t)bus_rd(&c->pio, IOBASE + reg, size);
}

static void wr(struct ctx *c, unsigned reg, uint32_t v, unsigned size)
{
	bus_wr(&c->pio, IOBASE + reg, v, size);
}

static struct ctx *make(void)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	nic_fixture_init(&c->fx, RAM_SIZE);
	c->clock = 1000000000;
	c->n = rtl8139_create(&c->pci, DEVFN, &c->mem, MAC, true, &c->be, NULL, 0, fake_clock, c);
	assert_non_null(c->n);
	net_attach(&c->be, rtl8139_receive, c->n);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0 + 4, MMIO, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND,
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	return c;
}

static void destroy(struct ctx *c)
{
	rtl8139_destroy(c->n);
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

static size_t make_frame(uint8_t *f, const uint8_t dst[6], size_t len, uint8_t fill)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	put_be16(f + 12, 0x0800);
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(fill + i);
	return len;
}

static bool receive(struct ctx *c, const uint8_t *f, size_t len)
{
	static const struct net_hdr none;
	return rtl8139_receive(c->n, &none, f, len);
}

/* ---- identity, EEPROM, reset ----------------------------------------------------- */

static void test_identity(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_VENDOR_ID, 2), 0x10EC);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_DEVICE_ID, 2), 0x8139);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_REVISION_ID, 1), 0x20);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_CLASS_DEVICE, 2), 0x0200);
	/* The same registers through both windows; the C+ version in TCR. */
	assert_int_equal(rd(c, 0, 4), get_le32(MAC));
	assert_int_equal(bus_rd(&c->mmio, MMIO + 4, 2), get_le16(MAC + 4));
	assert_int_equal(rd(c, TCR, 4) & 0x7CC00000, 0x74800000);
	wr(c, TCR, 0, 4);
	assert_int_equal(rd(c, TCR, 4) & 0x7CC00000, 0x74800000);
	assert_true(rd(c, CR, 1) & 1); /* receive buffer empty */
}

/* cplus=off: what 8139too checks (revision below 0x20, TCR's RTL8139C). */
static void test_identity_without_cplus(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	nic_fixture_init(&c->fx, RAM_SIZE);
	c->n = rtl8139_create(&c->pci, DEVFN, &c->mem, MAC, false, &c->be, NULL, 0, fake_clock, c);
	assert_non_null(c->n);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_REVISION_ID, 1), 0x10);
	assert_int_equal(rd(c, TCR, 4) & 0x7CC00000, 0x74000000);
	destroy(c);
}

/* One word, bit by bit, the way 8139too and 8139cp read it. */
static uint16_t ee_read(struct ctx *c, unsigned loc, unsigned addr_len)
{
	const uint8_t ENB = 0x80 | 0x08, SK = 0x04, DI = 0x02, DO = 0x01;
	unsigned cmd = loc | 6u << addr_len;
	uint16_t v = 0;

	wr(c, CR9346, ENB & ~0x08, 1);
	wr(c, CR9346, ENB, 1);
	for (int i = 4 + (int)addr_len; i >= 0; i--) {
		uint8_t d = (cmd >> i) & 1 ? DI : 0;
		wr(c, CR9346, ENB | d, 1);
		wr(c, CR9346, ENB | d | SK, 1);
	}
	wr(c, CR9346, ENB, 1);
	for (int i = 16; i > 0; i--) {
		wr(c, CR9346, ENB | SK, 1);
		v = (uint16_t)(v << 1 | (rd(c, CR9346, 1) & DO ? 1 : 0));
		wr(c, CR9346, ENB, 1);
	}
	wr(c, CR9346, (uint8_t)~0x08, 1);
	return v;
}

static void test_eeprom(void **state)
{
	struct ctx *c = *state;

	/* Linux's size test: word 0 read as a 93C56 is not 0x8129, as a 93C46 is. */
	assert_int_not_equal(ee_read(c, 0, 8), 0x8129);
	assert_int_equal(ee_read(c, 0, 6), 0x8129);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(ee_read(c, 7 + i, 6), MAC[2 * i] | MAC[2 * i + 1] << 8);
	/* Config registers take writes only while unlocked (EEM 11). */
	wr(c, CR9346, 0x00, 1);
	uint8_t before = (uint8_t)rd(c, CONFIG1, 1);
	wr(c, CONFIG1, 0xFF, 1);
	assert_int_equal(rd(c, CONFIG1, 1), before);
	wr(c, CR9346, 0xC0, 1);
	wr(c, CONFIG1, 0x2D, 1);
	assert_int_equal(rd(c, CONFIG1, 1), 0x2D);
}

static void test_reset(void **state)
{
	struct ctx *c = *state;

	wr(c, 0, 0x11223344, 4); /* the driver's own MAC */
	wr(c, IMR, 0xFFFF, 2);
	wr(c, CR, 0x0C, 1);
	wr(c, CR, 0x10, 1);
	assert_int_equal(rd(c, CR, 1) & 0x10, 0); /* self-clearing */
	assert_int_equal(rd(c, CR, 1) & 0x0C, 0);
	assert_int_equal(rd(c, IMR, 2), 0);
	assert_int_equal(rd(c, 0, 4), get_le32(MAC));
	assert_int_equal(rd(c, CAPR, 2), 0xFFF0);
	assert_int_equal(rd(c, CBR, 2), 0);
}

/* iPXE tells an RTL8169 from an 8139C+ by whether RxMaxSize (0xDA) keeps
 * a write; it kept one here, and iPXE drove a PHY register this card does
 * not have until its probe failed ("No more network devices"). */
static void test_reserved_registers_read_zero(void **state)
{
	struct ctx *c = *state;

	wr(c, 0xDA, 0x05F6, 2);
	assert_int_equal(rd(c, 0xDA, 2), 0);
	wr(c, 0xDC, 0xFFFFFFFF, 4);
	assert_int_equal(rd(c, 0xDC, 4), 0);
	wr(c, 0x04, 0xFFFFFFFF, 4); /* IDR4-5 keep theirs, 6-7 are reserved */
	assert_int_equal(rd(c, 0x04, 4), 0xFFFF);
	wr(c, 0xE0, 0x000B, 2); /* C+ command: the 8139C+ has it */
	assert_int_equal(rd(c, 0xE0, 2), 0x000B);
}

/* ---- C mode ------------------------------------------------------------------ */

static void test_c_transmit(void **state)
{
	struct ctx *c = *state;

	wr(c, CR, 0x0C, 1);
	wr(c, IMR, 0xFFFF, 2);
	make_frame(c->ram + TXBUF, MAC, 100, 1);
	for (unsigned slot = 0; slot < 4; slot++) {
		wr(c, TSAD0 + 4 * slot, TXBUF, 4);
		wr(c, TSD0 + 4 * slot, 100 | 0x80000, 4);
		uint32_t tsd = rd(c, TSD0 + 4 * slot, 4);
		assert_true(tsd & (1u << 13)); /* OWN: DMA done */
		assert_true(tsd & (1u << 15)); /* TOK */
	}
	assert_int_equal(c->nsent, 4);
	assert_int_equal(c->sent_len[3], 100);
	assert_memory_equal(c->sent[3], c->ram + TXBUF, 100);
	assert_int_equal(rd(c, 0x60, 2) & 0xF00F, 0xF00F); /* TSAD: all TOK and OWN */
	assert_int_equal(c->intx, 1);
	assert_true(rd(c, ISR, 2) & 0x4);
	wr(c, ISR, 0x4, 2);
	assert_int_equal(c->intx, 0);
	/* Hostile: too long, a buffer outside RAM: aborted, nothing sent. */
	wr(c, TSD0, 4000, 4);
	assert_true(rd(c, TSD0, 4) & (1u << 30));
	wr(c, TSAD0 + 4, RAM_SIZE - 10, 4);
	wr(c, TSD0 + 4, 100, 4);
	assert_true(rd(c, TSD0 + 4, 4) & (1u << 30));
	assert_true(rd(c, ISR, 2) & 0x8);
	assert_int_equal(c->nsent, 4);
	/* A short frame is padded to 60. */
	wr(c, TSAD0 + 8, TXBUF, 4);
	wr(c, TSD0 + 8, 42, 4);
	assert_int_equal(c->sent_len[4], 60);
	/* Transmit disabled: nothing. */
	wr(c, CR, 0x08, 1);
	wr(c, TSD0 + 12, 100, 4);
	assert_int_equal(c->nsent, 5);
}

static void c_rx_setup(struct ctx *c, uint32_t rcr)
{
	wr(c, RBSTART, RXRING, 4);
	wr(c, RCR, rcr, 4);
	wr(c, CR, 0x0C, 1);
	wr(c, IMR, 0xFFFF, 2);
}

/* set_link down: BMSR loses the link bit, MSR shows LINKB, ISR LinkChg
 * interrupts; a TX slot completes (TOK) but nothing reaches the backend,
 * nothing is received; a software reset keeps the cable out; up again,
 * frames flow and LinkChg is raised again. */
static void test_link_down_stops_frames(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	wr(c, CR, 0x0C, 1);
	wr(c, IMR, 0x20, 2);
	rtl8139_set_link(c->n, false);
	assert_false(rtl8139_link(c->n));
	assert_int_equal(c->intx, 1);
	assert_true(rd(c, ISR, 2) & 0x20);
	assert_false(rd(c, BMSR, 2) & 0x4);
	assert_true(rd(c, MSR, 1) & 0x4);
	wr(c, ISR, 0x20, 2);
	make_frame(c->ram + TXBUF, MAC, 100, 1);
	wr(c, TSAD0, TXBUF, 4);
	wr(c, TSD0, 100 | 0x80000, 4);
	assert_true(rd(c, TSD0, 4) & (1u << 15)); /* TOK */
	assert_int_equal(c->nsent, 0);
	c_rx_setup(c, 0x02 | 0x08 | 0x80);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 0)));
	assert_int_equal(rd(c, CBR, 2), 0);
	wr(c, CR, 0x10, 1); /* software reset */
	assert_false(rd(c, BMSR, 2) & 0x4);
	assert_true(rd(c, MSR, 1) & 0x4);
	wr(c, IMR, 0x20, 2);
	rtl8139_set_link(c->n, true);
	assert_true(rtl8139_link(c->n));
	assert_true(rd(c, ISR, 2) & 0x20);
	assert_true(rd(c, BMSR, 2) & 0x4);
	assert_false(rd(c, MSR, 1) & 0x4);
	wr(c, CR, 0x0C, 1);
	wr(c, TSAD0, TXBUF, 4);
	wr(c, TSD0, 100 | 0x80000, 4);
	assert_int_equal(c->nsent, 1);
	c_rx_setup(c, 0x02 | 0x08 | 0x80);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 0)));
	assert_int_equal(rd(c, CBR, 2), 108);
}

static void test_c_receive(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	c_rx_setup(c, 0x02 | 0x08 | 0x80); /* APM, AB, WRAP; 8 KiB */
	assert_true(receive(c, f, make_frame(f, MAC, 100, 0)));
	uint8_t *p = c->ram + RXRING;
	assert_int_equal(get_le16(p), 0x4001);        /* ROK, PAM */
	assert_int_equal(get_le16(p + 2), 104);       /* with the CRC */
	assert_memory_equal(p + 4, f, 100);
	assert_int_equal(rd(c, CBR, 2), 108);
	assert_false(rd(c, CR, 1) & 1);
	assert_int_equal(c->intx, 1);
	assert_true(rd(c, ISR, 2) & 1);
	/* The driver reads it and moves CAPR: empty again. */
	wr(c, CAPR, 108 - 16, 2);
	assert_true(rd(c, CR, 1) & 1);
	/* Another station's frame, broadcast, a short one padded. */
	static const uint8_t other[6] = { 0x52, 0x54, 0, 0, 0, 9 };
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	assert_true(receive(c, f, make_frame(f, other, 100, 0)));
	assert_int_equal(rd(c, CBR, 2), 108);
	assert_true(receive(c, f, make_frame(f, bcast, 42, 0)));
	assert_int_equal(get_le16(p + 108), 0x2001);  /* ROK, BAR */
	assert_int_equal(get_le16(p + 110), 64);
	/* Too long for the card: dropped. */
	uint8_t big[2000];
	assert_true(receive(c, big, make_frame(big, MAC, 2000, 0)));
	assert_int_equal(rd(c, CBR, 2), 108 + 68);
}

static void test_c_receive_full_and_wrap(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	/* Without WRAP a frame wraps at the end of the 8 KiB ring. */
	c_rx_setup(c, 0x02);
	unsigned frames = 0;
	/* 1000-byte frames take 1008 bytes: 8 fit (the 9th would reach the
	 * read pointer), the rest are held. */
	for (unsigned i = 0; i < 10; i++, frames++)
		assert_true(receive(c, f, make_frame(f, MAC, 1000, (uint8_t)i)));
	assert_int_equal(rd(c, CBR, 2), 8 * 1008);
	/* The driver consumed 3 frames: the held ones come, the 9th wraps. */
	wr(c, CAPR, 3 * 1008 - 16, 2);
	assert_int_equal(rd(c, CBR, 2), (10 * 1008) % 8192);
	uint8_t *p = c->ram + RXRING;
	make_frame(f, MAC, 1000, 8);
	assert_int_equal(get_le16(p + 8 * 1008 + 2), 1004);
	size_t first = 8192 - 8 * 1008 - 4;
	assert_memory_equal(p + 8 * 1008 + 4, f, first);
	assert_memory_equal(p, f + first, 1000 - first);
	/* Fill it and go on: beyond the FIFO the backend is refused, and
	 * hears of room once the driver reads. */
	unsigned refused = 0;
	for (unsigned i = 0; i < 100; i++)
		refused += !receive(c, f, make_frame(f, MAC, 1000, 0));
	assert_true(refused > 0);
	assert_true(rd(c, MPC, 4) > 0);
	assert_true(rd(c, ISR, 2) & 0x10);
	wr(c, CAPR, (uint16_t)(rd(c, CBR, 2) - 16), 2);
	assert_int_equal(c->rx_ready, 1);
	/* A ring buffer outside RAM: the frame is dropped, nothing written. */
	wr(c, RBSTART, RAM_SIZE - 4096, 4);
	wr(c, CAPR, (uint16_t)(rd(c, CBR, 2) - 16), 2);
	uint64_t rxd, txd;
	rtl8139_stats(c->n, &rxd, &txd);
	assert_true(rxd > 0);
}

/* Quiesced (pause, saving state): received frames only wait, with room
 * in the ring or not. A CAPR write changes nothing either (the old card
 * drained its FIFO into the ring on that write: this test failed there).
 * Resume delivers in order; the rest go once the driver reads. */
static void test_quiesce_holds_frames(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	c_rx_setup(c, 0x02);
	rtl8139_quiesce(c->n);
	for (unsigned i = 0; i < 10; i++)
		assert_true(receive(c, f, make_frame(f, MAC, 1000, (uint8_t)i)));
	wr(c, CAPR, 0xFFF0, 2); /* the driver's "nothing read yet" */
	assert_int_equal(rd(c, CBR, 2), 0);
	assert_int_equal(get_le16(c->ram + RXRING), 0);
	assert_int_equal(rd(c, ISR, 2), 0);
	assert_int_equal(c->intx, 0);
	rtl8139_resume(c->n);
	assert_int_equal(rd(c, CBR, 2), 8 * 1008); /* 8 fit, 2 still held */
	assert_true(rd(c, ISR, 2) & 1);
	for (unsigned i = 0; i < 8; i++) {
		make_frame(f, MAC, 1000, (uint8_t)i);
		assert_memory_equal(c->ram + RXRING + i * 1008 + 4, f, 1000);
	}
	wr(c, CAPR, 3 * 1008 - 16, 2);
	assert_int_equal(rd(c, CBR, 2), (10 * 1008) % 8192);
}

/* 8139too's NAPI pass acks ROK after each CAPR write and may stop at its
 * budget with frames left and ROK clear: a frame that finds the ring full
 * must raise RXOVW (an interrupt), or the driver never reads again. */
static void test_c_receive_full_ring_interrupts(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	c_rx_setup(c, 0x02);
	for (unsigned i = 0; i < 8; i++)
		assert_true(receive(c, f, make_frame(f, MAC, 1000, (uint8_t)i)));
	wr(c, ISR, 0xFFFF, 2); /* the driver acked everything, then stopped */
	assert_int_equal(rd(c, ISR, 2), 0);
	assert_true(receive(c, f, make_frame(f, MAC, 1000, 8))); /* held: no room */
	assert_int_equal(rd(c, ISR, 2) & 0x11, 0x10);
	wr(c, ISR, 0xFFFF, 2);
	assert_true(receive(c, f, make_frame(f, MAC, 1000, 9))); /* still full */
	assert_int_equal(rd(c, ISR, 2) & 0x10, 0x10);
}

/* The old drivers' big-endian CRC, to check the multicast hash apart
 * from the model's own. */
static unsigned ether_crc_top6(const uint8_t *a)
{
	int32_t crc = -1;
	for (int i = 0; i < 6; i++) {
		uint8_t o = a[i];
		for (int b = 0; b < 8; b++, o >>= 1)
			crc = (int32_t)(((uint32_t)crc << 1) ^ (((crc < 0) ^ (o & 1)) ? 0x04C11DB7u : 0));
	}
	return (uint32_t)crc >> 26;
}

static void test_multicast_filter(void **state)
{
	struct ctx *c = *state;
	uint8_t f[100];
	static const uint8_t mc[6] = { 0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB };

	c_rx_setup(c, 0x02 | 0x04 | 0x80); /* APM, AM */
	assert_true(receive(c, f, make_frame(f, mc, 100, 0)));
	assert_int_equal(rd(c, CBR, 2), 0);
	unsigned bit = ether_crc_top6(mc);
	wr(c, 0x08 + bit / 8, 1u << (bit % 8), 1);
	assert_true(receive(c, f, make_frame(f, mc, 100, 0)));
	assert_int_equal(rd(c, CBR, 2), 108);
	assert_int_equal(get_le16(c->ram + RXRING), 0x8001); /* ROK, MAR */
}

/* ---- C+ mode -------------------------------------------------------------------- */

static void cp_setup(struct ctx *c, unsigned nrx)
{
	for (unsigned i = 0; i < nrx; i++) {
		uint8_t *d = c->ram + RXRING + 16 * i;
		put_le32(d, OWN | (i == nrx - 1 ? EOR : 0) | 1536);
		put_le32(d + 4, 0);
		put_le64(d + 8, RXBUFS + 0x800 * i);
	}
	wr(c, CPCMD, 0x0003, 2);
	wr(c, RDSAR, RXRING, 4);
	wr(c, RDSAR + 4, 0, 4);
	wr(c, TSAD0, TXRING, 4);
	wr(c, TSAD0 + 4, 0, 4);
	wr(c, RCR, 0x02 | 0x08, 4);
	wr(c, CR, 0x0C, 1);
	wr(c, IMR, 0xFFFF, 2);
}

static void tx_desc(struct ctx *c, unsigned i, uint32_t opts1, uint32_t opts2, uint64_t addr)
{
	uint8_t *d = c->ram + TXRING + 16 * i;
	put_le32(d, opts1);
	put_le32(d + 4, opts2);
	put_le64(d + 8, addr);
}

static void test_cp_transmit(void **state)
{
	struct ctx *c = *state;

	cp_setup(c, 4);
	make_frame(c->ram + TXBUF, MAC, 100, 5);
	tx_desc(c, 0, OWN | FS | 40, 0, TXBUF);
	tx_desc(c, 1, OWN | LS | 60, 0, TXBUF + 40);
	tx_desc(c, 2, 0, 0, 0);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(c->sent_len[0], 100);
	assert_memory_equal(c->sent[0], c->ram + TXBUF, 100);
	assert_false(get_le32(c->ram + TXRING) & OWN);
	assert_false(get_le32(c->ram + TXRING + 16) & OWN);
	assert_true(rd(c, ISR, 2) & 0x4);
	/* A VLAN tag from opts2 (byte-swapped, as 8139cp writes it). */
	tx_desc(c, 2, OWN | FS | LS | 100, (1u << 17) | 0x0500, TXBUF);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->sent_len[1], 104);
	assert_int_equal(get_be16(c->sent[1] + 12), 0x8100);
	assert_int_equal(get_be16(c->sent[1] + 14), 5);
}

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

static void ipv4_tcp(uint8_t *h, size_t payload)
{
	memset(h, 0, 54);
	memcpy(h, MAC, 6);
	put_be16(h + 12, 0x0800);
	h[14] = 0x45;
	put_be16(h + 16, (uint16_t)(40 + payload));
	put_be16(h + 18, 0x2000);
	h[22] = 64;
	h[23] = 6;
	put_be32(h + 26, 0x0A00020F);
	put_be32(h + 30, 0x0A000202);
	put_be32(h + 38, 500);
	h[46] = 0x50;
	h[47] = 0x19;
	put_be16(h + 50, 0xBEEF); /* garbage: the card computes from scratch */
	put_be16(h + 24, 0xDEAD);
}

static uint32_t pseudo(size_t l4len)
{
	return 0x0A00 + 0x020F + 0x0A00 + 0x0202 + 6 + (uint32_t)l4len;
}

static void test_cp_offloads(void **state)
{
	struct ctx *c = *state;

	cp_setup(c, 4);
	/* Checksums: IPCS | TCPCS. */
	ipv4_tcp(c->ram + TXBUF, 30);
	memset(c->ram + TXBUF + 54, 0x77, 30);
	tx_desc(c, 0, OWN | FS | LS | (1u << 18) | (1u << 16) | 84, 0, TXBUF);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(csum(c->sent[0] + 14, 20, 0), 0xFFFF);
	assert_int_equal(csum(c->sent[0] + 34, 50, pseudo(50)), 0xFFFF);
	/* Large send: 2500 bytes at MSS 1000. */
	ipv4_tcp(c->ram + TXBUF, 2500);
	for (unsigned i = 0; i < 2500; i++)
		c->ram[TXBUF + 54 + i] = (uint8_t)(i * 3);
	tx_desc(c, 1, OWN | FS | (1u << 27) | 1000u << 16 | 54, 0, TXBUF);
	tx_desc(c, 2, OWN | LS | 2500, 0, TXBUF + 54);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 4);
	for (unsigned s = 0; s < 3; s++) {
		const uint8_t *f = c->sent[1 + s];
		unsigned plen = s < 2 ? 1000 : 500;
		assert_int_equal(c->sent_len[1 + s], 54 + plen);
		assert_int_equal(get_be16(f + 16), 40 + plen);
		assert_int_equal(get_be16(f + 18), 0x2000 + s);
		assert_int_equal(csum(f + 14, 20, 0), 0xFFFF);
		assert_int_equal(get_be32(f + 38), 500 + 1000 * s);
		assert_int_equal(f[47], s < 2 ? 0x10 : 0x19);
		assert_int_equal(csum(f + 34, 20 + plen, pseudo(20 + plen)), 0xFFFF);
		assert_int_equal(f[54], (uint8_t)(1000 * s * 3));
	}
	/* Large send of something that is not IPv4 TCP, or with MSS 0: dropped. */
	c->ram[TXBUF + 23] = 17;
	tx_desc(c, 3, OWN | FS | LS | EOR | (1u << 27) | 1000u << 16 | 200, 0, TXBUF);
	wr(c, TXPOLL, 0x40, 1);
	c->ram[TXBUF + 23] = 6;
	tx_desc(c, 0, OWN | FS | LS | (1u << 27) | 200, 0, TXBUF);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 4);
	uint64_t rxd, txd;
	rtl8139_stats(c->n, &rxd, &txd);
	assert_int_equal(txd, 2);
}

static void test_cp_transmit_hostile(void **state)
{
	struct ctx *c = *state;

	cp_setup(c, 4);
	/* A ring that never ends, every descriptor the card's, no LastFrag:
	 * one poll walks at most 1024 descriptors, and the packet is
	 * dropped when it passes 64 KiB. */
	for (unsigned i = 0; i < 1024; i++)
		tx_desc(c, i, OWN | (i == 0 ? FS : 0) | 0x1000, 0, TXBUF);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 0);
	for (unsigned i = 0; i < 1024; i++)
		assert_false(get_le32(c->ram + TXRING + 16 * i) & OWN);
	tx_desc(c, 0, OWN | LS | 60, 0, TXBUF);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 0);
	uint64_t rxd, txd;
	rtl8139_stats(c->n, &rxd, &txd);
	assert_int_equal(txd, 1);
	/* A buffer outside RAM, a ring outside RAM, and at 2^64. */
	tx_desc(c, 1, OWN | FS | LS | 60, 0, UINT64_MAX - 4);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 0);
	wr(c, TSAD0, RAM_SIZE - 8, 4);
	wr(c, TXPOLL, 0x40, 1);
	wr(c, TSAD0, 0xFFFFFFF0, 4);
	wr(c, TSAD0 + 4, 0xFFFFFFFF, 4);
	wr(c, TXPOLL, 0x40, 1);
	/* No bus mastering: nothing moves. */
	wr(c, TSAD0, TXRING, 4);
	wr(c, TSAD0 + 4, 0, 4);
	tx_desc(c, 0, OWN | FS | LS | 60, 0, TXBUF);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	wr(c, TXPOLL, 0x40, 1);
	assert_int_equal(c->nsent, 0);
	assert_true(get_le32(c->ram + TXRING) & OWN);
}

static void test_cp_receive(void **state)
{
	struct ctx *c = *state;
	uint8_t f[1514];

	cp_setup(c, 2);
	assert_true(receive(c, f, make_frame(f, MAC, 200, 1)));
	uint32_t opts1 = get_le32(c->ram + RXRING);
	assert_false(opts1 & OWN);
	assert_int_equal(opts1 & (FS | LS), FS | LS);
	assert_int_equal(opts1 & 0x1FFF, 204);
	assert_memory_equal(c->ram + RXBUFS, f, 200);
	assert_true(rd(c, ISR, 2) & 1);
	/* The second descriptor has RingEnd: the third frame waits for the
	 * driver to give the first one back, then comes without a doorbell
	 * when it acknowledges the interrupt. */
	assert_true(receive(c, f, make_frame(f, MAC, 300, 2)));
	assert_true(receive(c, f, make_frame(f, MAC, 400, 3)));
	assert_true(rd(c, ISR, 2) & 0x10); /* descriptor unavailable */
	put_le32(c->ram + RXRING, OWN | 1536);
	wr(c, ISR, 0xFFFF, 2);
	assert_false(get_le32(c->ram + RXRING) & OWN);
	assert_int_equal(get_le32(c->ram + RXRING) & 0x1FFF, 404);
	/* A frame over two small buffers: FirstFrag then LastFrag. */
	put_le32(c->ram + RXRING, OWN | 256);
	put_le32(c->ram + RXRING + 16, OWN | EOR | 256);
	wr(c, RDSAR, RXRING, 4); /* a new ring: from its first descriptor */
	assert_true(receive(c, f, make_frame(f, MAC, 400, 4)));
	assert_int_equal(get_le32(c->ram + RXRING) & (FS | LS | 0x1FFF), FS | 256);
	assert_int_equal(get_le32(c->ram + RXRING + 16) & (FS | LS | 0x1FFF), LS | 404);
	assert_memory_equal(c->ram + RXBUFS + 0x800, f + 256, 144);
	/* Zero-sized buffers all round: the frame can never fit, dropped. */
	for (unsigned i = 0; i < 4; i++)
		put_le32(c->ram + RXRING + 16 * i, OWN | (i == 3 ? EOR : 0));
	wr(c, RDSAR, RXRING, 4);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 0)));
	uint64_t rxd, txd;
	rtl8139_stats(c->n, &rxd, &txd);
	assert_int_equal(rxd, 1);
	/* Descriptors outside RAM: dropped. */
	wr(c, RDSAR, RAM_SIZE - 8, 4);
	assert_true(receive(c, f, make_frame(f, MAC, 100, 0)));
	rtl8139_stats(c->n, &rxd, &txd);
	assert_int_equal(rxd, 2);
}

static void test_cp_receive_vlan(void **state)
{
	struct ctx *c = *state;
	uint8_t f[100];

	cp_setup(c, 2);
	wr(c, CPCMD, 0x0043, 2);
	make_frame(f, MAC, 100, 0);
	put_be16(f + 12, 0x8100);
	put_be16(f + 14, 0x0007);
	put_be16(f + 16, 0x0800);
	assert_true(receive(c, f, 100));
	assert_int_equal(get_le32(c->ram + RXRING) & 0x1FFF, 100);
	assert_int_equal(get_le32(c->ram + RXRING + 4), (1u << 16) | 0x0700);
	assert_int_equal(get_be16(c->ram + RXBUFS + 12), 0x0800);
}

/* ---- PHY, link, timer, interrupts -------------------------------------------------- */

static void test_phy_link_timer(void **state)
{
	struct ctx *c = *state;

	assert_true(rd(c, BMSR, 2) & 0x4);
	assert_false(rd(c, MSR, 1) & 0x4);
	wr(c, BMSR, 0, 2);
	assert_true(rd(c, BMSR, 2) & 0x4);
	wr(c, BMCR, 0x1200, 2); /* restart autonegotiation: clears itself */
	assert_int_equal(rd(c, BMCR, 2), 0x1000);
	wr(c, BMCR, 0x8000, 2);
	assert_int_equal(rd(c, BMCR, 2), 0x3100);
	wr(c, IMR, 0x20, 2);
	rtl8139_set_link(c->n, false);
	assert_int_equal(c->intx, 1);
	assert_false(rd(c, BMSR, 2) & 0x4);
	assert_true(rd(c, MSR, 1) & 0x4);
	wr(c, ISR, 0x20, 2);
	assert_int_equal(c->intx, 0);
	rtl8139_set_link(c->n, true);
	assert_true(rd(c, BMSR, 2) & 0x4);
	/* TCTR counts at 33 MHz from its last write; TimerInt raises TimeOut. */
	wr(c, TCTR, 0, 4);
	c->clock += 1000000; /* 1 ms */
	assert_int_equal(rd(c, TCTR, 4), 33000);
	wr(c, TIMERINT, 66000, 4);
	assert_false(rd(c, ISR, 2) & 0x4000);
	c->clock += 1000000;
	assert_true(rd(c, ISR, 2) & 0x4000);
	/* TxPoll's software interrupt. */
	wr(c, IMR, 0x100, 2);
	wr(c, TXPOLL, 0x01, 1);
	assert_int_equal(c->intx, 1);
}

/* ---- saved state ------------------------------------------------------------------- */

static void test_savestate(void **state)
{
	struct ctx *c = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;
	uint8_t f[200];

	cp_setup(c, 4);
	assert_true(receive(c, f, make_frame(f, MAC, 200, 1)));
	make_frame(c->ram + TXBUF, MAC, 100, 5);
	tx_desc(c, 0, OWN | FS | 40, 0, TXBUF); /* half a packet */
	tx_desc(c, 1, 0, 0, 0);
	wr(c, TXPOLL, 0x40, 1);
	c->clock += 5000;
	ss_writer_init(&w1);
	rtl8139_save(c->n, &w1, 0);
	assert_int_equal(ss_writer_finish(&w1), 0);

	struct ctx *d = make();
	d->clock = c->clock;
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(rtl8139_load(d->n, &r, 0));
	ss_reader_close(&r);
	ss_writer_init(&w2);
	rtl8139_save(d->n, &w2, 0);
	assert_int_equal(ss_writer_finish(&w2), 0);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	/* The loaded card finishes the packet and keeps its ring places. */
	memcpy(d->ram, c->ram, RAM_SIZE);
	tx_desc(d, 1, OWN | LS | 60, 0, TXBUF + 40);
	wr(d, TXPOLL, 0x40, 1);
	assert_int_equal(d->nsent, 1);
	assert_int_equal(d->sent_len[0], 100);
	assert_true(receive(d, f, make_frame(f, MAC, 100, 1)));
	assert_false(get_le32(d->ram + RXRING + 16) & OWN);
	ss_writer_free(&w2);
	destroy(d);
	ss_writer_free(&w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test(test_identity_without_cplus),
		cmocka_unit_test_setup_teardown(test_eeprom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_registers_read_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_c_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_stops_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_c_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_c_receive_full_ring_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_holds_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_c_receive_full_and_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multicast_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cp_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cp_offloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cp_transmit_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cp_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cp_receive_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phy_link_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_savestate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
