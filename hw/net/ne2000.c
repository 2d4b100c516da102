// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * NE2000: a National DP8390 network interface controller with 32 KiB of
 * buffer memory the host reaches only through the DP8390's remote DMA,
 * behind a PCI function (the RTL8029, `ne2k_pci`) or 32 ISA ports
 * (`ne2k_isa`). One core; the two wrappers at the end only differ in how
 * the ports are decoded and where the interrupt goes.
 *
 * The card's address space (16 bits): the station address PROM at
 * 0x0000-0x001F (each byte twice, the word-wide NE2000's layout, 'WW' in
 * the last four bytes, which is how drivers tell an NE2000 from an
 * NE1000), repeated up to 0x3FFF; the buffer memory at 0x4000-0xBFFF;
 * above, nothing (a remote DMA that gets there is stopped). Only the
 * buffer memory takes writes. The driver keeps a receive ring of 256-byte pages
 * in the buffer memory (PSTART to PSTOP; CURR is the page the card writes
 * next, BNRY the last page the driver has read) and a transmit area at
 * TPSR. Each received frame gets a 4-byte header (receive status, next
 * page, byte count including the header) and runs on past PSTOP back at
 * PSTART; the card stops short of BNRY, counted around the ring (BNRY ==
 * CURR reads as a full ring, as every driver keeps BNRY one page behind
 * CURR when it is empty; PSTART - 1 is one page behind PSTART).
 * The remote DMA (RSAR, RBCR, CR.RD) moves data between the data port and
 * the card's memory, wrapping at PSTOP as the ring does, and sets ISR.RDC
 * when RBCR reaches 0. The data port is a byte or a word wide (DCR.WTS);
 * a word-wide port read with a byte access still moves a word (NE2000
 * drivers read the PROM that way), a 32-bit access moves four bytes.
 *
 * Checks: the ring is used only when PSTART < PSTOP lie in the buffer
 * memory and CURR inside the ring (BNRY is never an address), else the
 * frame is dropped; a frame too large for the whole ring raises OVW and is dropped;
 * a transmit whose TPSR/TBCR leave the buffer memory is aborted (TSR.ABT,
 * ISR.TXE); a remote DMA that reaches past the card's memory is stopped
 * (RBCR 0, RDC). One log line per card for the first such event. All
 * positions are 16-bit and every access to the memory array goes through
 * a bounds check, so no guest value can reach outside it.
 *
 * Locks as in rtl8139.c: registers and memory under 'lock'; transmit runs
 * within the CR.TXP write, copies the frame under the lock and sends it
 * without (the backend's thread calls ne2000_receive with its own lock
 * held, and that takes ours). Receive runs on the backend's thread; with
 * no room the frame waits in a 64-frame FIFO (include/net_rx_fifo.h)
 * until the driver moves BNRY, and beyond that the backend is refused (it
 * keeps the frame and offers it again after net_rx_ready).
 */
#include "hw/ne2000.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_rx_fifo.h"
#include "savestate.h"
#include "util.h"

/* ---- the DP8390's registers (data sheet, section 10) ------------------------- */

#define REG_CR 0x00
#define REG_DATA 0x10  /* data port, mirrored to 0x17 */
#define REG_RESET 0x18 /* reset port, mirrored to 0x1F */

/* Page 0 */
#define P0_PSTART 0x01 /* write; read: CLDA0 */
#define P0_PSTOP 0x02  /* write; read: CLDA1 */
#define P0_BNRY 0x03
#define P0_TPSR 0x04   /* write; read: TSR */
#define P0_TBCR0 0x05  /* write; read: NCR */
#define P0_TBCR1 0x06  /* write; read: FIFO */
#define P0_ISR 0x07
#define P0_RSAR0 0x08  /* write; read: CRDA0 */
#define P0_RSAR1 0x09  /* write; read: CRDA1 */
#define P0_RBCR0 0x0A  /* write; read: the RTL8029's ID 'P' */
#define P0_RBCR1 0x0B  /* write; read: the RTL8029's ID 'C' */
#define P0_RCR 0x0C    /* write; read: RSR */
#define P0_TCR 0x0D    /* write; read: CNTR0 */
#define P0_DCR 0x0E    /* write; read: CNTR1 */
#define P0_IMR 0x0F    /* write; read: CNTR2 */
/* Page 1 */
#define P1_PAR0 0x01
#define P1_CURR 0x07
#define P1_MAR0 0x08
/* Page 2 (reads of what page 0 writes) */
#define P2_PSTART 0x01
#define P2_PSTOP 0x02
#define P2_TPSR 0x04
#define P2_RCR 0x0C
#define P2_TCR 0x0D
#define P2_DCR 0x0E
#define P2_IMR 0x0F

#define CR_STP 0x01
#define CR_STA 0x02
#define CR_TXP 0x04
#define CR_RD_MASK 0x38
#define CR_RD_READ 0x08
#define CR_RD_WRITE 0x10
#define CR_RD_ABORT 0x20
#define CR_PS_SHIFT 6

#define ISR_PRX 0x01
#define ISR_PTX 0x02
#define ISR_RXE 0x04
#define ISR_TXE 0x08
#define ISR_OVW 0x10
#define ISR_CNT 0x20
#define ISR_RDC 0x40
#define ISR_RST 0x80

#define RCR_SEP 0x01
#define RCR_AR 0x02
#define RCR_AB 0x04
#define RCR_AM 0x08
#define RCR_PRO 0x10
#define RCR_MON 0x20

#define TCR_LB_MASK 0x06 /* loopback modes 1-3 */

#define DCR_WTS 0x01

#define TSR_PTX 0x01
#define TSR_ABT 0x08
#define TSR_CRS 0x10

#define RSR_PRX 0x01
#define RSR_MPA 0x10
#define RSR_PHY 0x20 /* multicast or broadcast */

#define RTL8029_ID0 0x50 /* 'P' */
#define RTL8029_ID1 0x43 /* 'C' */

#define PAGE 256
#define ETH_MIN 60
#define RX_MAX 1518 /* the largest frame the card takes from the wire */
#define RX_HDR 4

struct ne2000 {
	const char *kind;          /* "ne2k_pci" or "ne2k_isa": logs, saved state */
	bool is_pci;
	struct pci_device pci;     /* the PCI card's function */
	struct io_region isa_ports;/* the ISA card's 32 ports */
	struct io_bus *isa_bus;
	struct irq_line isa_irq;
	uint16_t iobase;
	struct net_backend *backend;
	uint8_t mac[6];
	uint8_t *rom;

	/* ---- under lock ---------------------------------------------------- */
	pthread_mutex_t lock;
	uint8_t cr, isr, imr, rcr, tcr, dcr;
	uint8_t pstart, pstop, bnry, curr, tpsr;
	uint16_t tbcr, rsar, rbcr;
	uint8_t tsr, rsr, cntr[3];
	uint8_t par[6], mar[8];
	bool link_up;
	bool tx_pending;           /* CR.TXP given, the transmit work not done yet */
	uint8_t mem[NE2000_MEM_END];
	struct net_rx_fifo rxq;    /* quiesced: received frames wait, no state changes */
	uint8_t rxbuf[RX_MAX + ETH_MIN];
	uint64_t rx_dropped, tx_dropped;
	bool warned;

	/* One transmit at a time, taken before lock: the work runs on the
	 * vCPU that wrote CR.TXP, and another vCPU's reset and TXP could
	 * start a second one while the first still sends from txbuf. */
	pthread_mutex_t tx_lock;
	/* The transmit work's own copy of the frame it sends. */
	uint8_t txbuf[NE2000_MEM_END - NE2000_MEM_START];
};

static void complain(struct ne2000 *n, const char *what)
{
	if (!__atomic_exchange_n(&n->warned, true, __ATOMIC_RELAXED)) {
		if (n->is_pci)
			warn("%s %02x.%x: %s (further errors not logged)", n->kind,
			     n->pci.devfn >> 3, n->pci.devfn & 7, what);
		else
			warn("%s %#x: %s (further errors not logged)", n->kind, n->iobase, what);
	}
}

/* ---- interrupts -------------------------------------------------------------- */

static void update_irq(struct ne2000 *n)
{
	int level = (n->isr & n->imr & 0x7F) != 0;
	if (n->is_pci)
		pci_set_irq(&n->pci, level);
	else
		irq_set(&n->isa_irq, level);
}

static void raise_isr(struct ne2000 *n, uint8_t bits)
{
	n->isr |= bits;
	update_irq(n);
}

/* ---- the card's memory -------------------------------------------------------- */

static void prom_build(struct ne2000 *n)
{
	memset(n->mem, 0, NE2000_PROM_SIZE);
	for (int i = 0; i < 6; i++)
		n->mem[2 * i] = n->mem[2 * i + 1] = n->mac[i];
	/* Bytes 28-31 ('WW'): an NE2000, word-wide. */
	memset(n->mem + 28, 0x57, 4);
}

static bool in_buffer(uint32_t addr)
{
	return addr >= NE2000_MEM_START && addr < NE2000_MEM_END;
}

/* What a read of the card's address 'a' gives: below the buffer memory
 * the PROM, repeated every 32 bytes (drivers read past its end: ne2k-pci
 * reads 32 words of it), then the buffer memory. false past 0xBFFF. */
static bool mem_byte(const struct ne2000 *n, uint32_t a, uint8_t *b)
{
	if (a < NE2000_MEM_START)
		*b = n->mem[a % NE2000_PROM_SIZE];
	else if (a < NE2000_MEM_END)
		*b = n->mem[a];
	else
		return false;
	return true;
}

/* The ring is usable: PSTART < PSTOP in the buffer memory, CURR inside
 * it. BNRY is no address (the card only compares with it): Linux's 8390
 * leaves it at PSTART - 1 after reading a frame that ended at PSTOP, one
 * page behind PSTART around the ring. */
static bool ring_valid(const struct ne2000 *n)
{
	return n->pstart >= NE2000_MEM_START / PAGE && n->pstop <= NE2000_MEM_END / PAGE &&
	       n->pstart < n->pstop && n->curr >= n->pstart && n->curr < n->pstop;
}

/* Frames the driver has not read yet: the page after BNRY (around the
 * ring) is not CURR. */
static bool ring_unread(const struct ne2000 *n)
{
	if (!ring_valid(n))
		return false;
	int ring = n->pstop - n->pstart;
	int next = ((int)n->bnry + 1 - n->pstart) % ring;
	if (next < 0)
		next += ring;
	return n->pstart + next != n->curr;
}

/* Pages the card may fill from CURR before it reaches BNRY, counted
 * around the ring (BNRY == CURR: none). */
static unsigned ring_room(const struct ne2000 *n)
{
	int ring = n->pstop - n->pstart;
	int d = ((int)n->bnry - (int)n->curr) % ring;
	return (unsigned)(d < 0 ? d + ring : d);
}

/* ---- remote DMA ------------------------------------------------------------------- */

/* Ends the remote DMA: RBCR is 0, RDC set. */
static void dma_done(struct ne2000 *n)
{
	n->rbcr = 0;
	n->cr = (uint8_t)((n->cr & ~CR_RD_MASK) | CR_RD_ABORT);
	raise_isr(n, ISR_RDC);
}

/* Past one byte: RSAR wraps from PSTOP to PSTART as the ring does. */
static void dma_advance(struct ne2000 *n)
{
	n->rsar++;
	if (n->pstart < n->pstop && n->rsar == (uint16_t)(n->pstop * PAGE))
		n->rsar = (uint16_t)(n->pstart * PAGE);
	if (n->rbcr && --n->rbcr == 0)
		dma_done(n);
}

/* 'width' bytes from RSAR to the data port. false if the DMA left the
 * card's memory (stopped). */
static bool dma_read(struct ne2000 *n, unsigned width, uint32_t *v)
{
	*v = 0;
	for (unsigned i = 0; i < width; i++) {
		uint8_t b;
		if (!mem_byte(n, n->rsar, &b)) {
			complain(n, "remote DMA read outside the card's memory: stopped");
			*v |= 0xFFFFFFFFu << (8 * i);
			dma_done(n);
			return false;
		}
		*v |= (uint32_t)b << (8 * i);
		dma_advance(n);
	}
	return true;
}

static void dma_write(struct ne2000 *n, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++) {
		uint32_t a = n->rsar;
		if (!in_buffer(a)) {
			complain(n, "remote DMA write outside the card's buffer memory: stopped");
			dma_done(n);
			return;
		}
		n->mem[a] = (uint8_t)(v >> (8 * i));
		dma_advance(n);
	}
}

/* The data port moves a byte, a word (DCR.WTS, also for a byte access:
 * the bus cycle is a word's) or, with a 32-bit access, four bytes. */
static unsigned data_width(const struct ne2000 *n, unsigned size)
{
	if (size == 4)
		return 4;
	return n->dcr & DCR_WTS ? 2 : 1;
}

/* ---- receive ------------------------------------------------------------------- */

/* The multicast filter's bit: the top 6 bits of the Ethernet CRC of the
 * destination (bits taken least significant first, no final inversion). */
static unsigned mcast_bit(const uint8_t *dst)
{
	uint32_t crc = 0xFFFFFFFF;
	for (int i = 0; i < 6; i++) {
		uint8_t octet = dst[i];
		for (int b = 0; b < 8; b++, octet >>= 1) {
			bool carry = ((crc >> 31) ^ octet) & 1;
			crc <<= 1;
			if (carry)
				crc ^= 0x04C11DB7;
		}
	}
	return crc >> 26;
}

/* The receive status of an accepted frame, or 0 to drop it. */
static uint8_t rx_filter(const struct ne2000 *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

	if (n->rcr & RCR_PRO)
		return RSR_PRX | ((dst[0] & 1) ? RSR_PHY : 0);
	if (!memcmp(dst, bcast, 6))
		return n->rcr & RCR_AB ? RSR_PRX | RSR_PHY : 0;
	if (dst[0] & 1) {
		unsigned b = mcast_bit(dst);
		bool hit = (n->mar[b / 8] >> (b % 8)) & 1;
		return (n->rcr & RCR_AM) && hit ? RSR_PRX | RSR_PHY : 0;
	}
	return memcmp(dst, n->par, 6) ? 0 : RSR_PRX;
}

static bool started(const struct ne2000 *n)
{
	return (n->cr & (CR_STA | CR_STP)) == CR_STA;
}

static void count_missed(struct ne2000 *n)
{
	if (n->cntr[2] < 0xFF)
		n->cntr[2]++;
	if (n->cntr[2] & 0x80)
		raise_isr(n, ISR_CNT);
}

/* 'len' bytes into the ring at the card's address 'at', wrapping at
 * PSTOP. Returns where it ended. */
static uint32_t ring_copy(struct ne2000 *n, uint32_t at, const uint8_t *p, size_t len)
{
	uint32_t start = (uint32_t)n->pstart * PAGE, stop = (uint32_t)n->pstop * PAGE;
	while (len) {
		size_t chunk = MIN(len, (size_t)(stop - at));
		memcpy(n->mem + at, p, chunk);
		p += chunk;
		len -= chunk;
		at += (uint32_t)chunk;
		if (at == stop)
			at = start;
	}
	return at;
}

/* One frame from the wire into the ring. 1 done (written or dropped), 0
 * no room yet. Lock held. */
static int rx_deliver(struct ne2000 *n, const uint8_t *frame, size_t len, bool loopback)
{
	if (!started(n) || (!n->link_up && !loopback) || len < NET_MIN_FRAME || len > RX_MAX)
		return 1;
	if (!loopback && (n->tcr & TCR_LB_MASK))
		return 1; /* in loopback the card does not listen to the wire */
	if (n->rcr & RCR_MON)
		return 1; /* monitor mode: checked, not stored */
	uint8_t status = rx_filter(n, frame);
	if (!status)
		return 1;
	if (!ring_valid(n)) {
		complain(n, "receive ring (PSTART, PSTOP, CURR) outside the buffer memory: frame "
			    "dropped");
		n->rx_dropped++;
		return 1;
	}
	uint8_t *p = n->rxbuf;
	memcpy(p, frame, len);
	if (len < ETH_MIN) {
		memset(p + len, 0, ETH_MIN - len);
		len = ETH_MIN;
	}
	unsigned ring = (unsigned)(n->pstop - n->pstart);
	/* Pages as the card fills them: header, frame and its CRC (not kept). */
	unsigned pages = (unsigned)((len + RX_HDR + 4 + PAGE - 1) / PAGE);
	if (pages >= ring) {
		complain(n, "receive ring smaller than a frame: overflow");
		n->rx_dropped++;
		n->rsr = RSR_MPA;
		count_missed(n);
		raise_isr(n, ISR_OVW);
		return 1;
	}
	if (pages > ring_room(n))
		return 0;
	uint8_t next = (uint8_t)(n->pstart + (n->curr - n->pstart + pages) % ring);
	uint8_t hdr[RX_HDR] = { status, next, (uint8_t)(len + RX_HDR), (uint8_t)((len + RX_HDR) >> 8) };
	uint32_t at = ring_copy(n, (uint32_t)n->curr * PAGE, hdr, RX_HDR);
	ring_copy(n, at, p, len);
	n->curr = next;
	n->rsr = status;
	raise_isr(n, ISR_PRX);
	return 1;
}

/* The FIFO's way into the ring: frames from the wire. Lock held. */
static int rx_deliver_held(void *opaque, const uint8_t *frame, size_t len)
{
	return rx_deliver(opaque, frame, len, false);
}

bool ne2000_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len)
{
	struct ne2000 *n = opaque;
	uint8_t *copy;

	if (len < NET_MIN_FRAME || len > RX_MAX)
		return true;
	frame = net_rx_plain(hdr, frame, len, &copy);
	if (!frame)
		return true; /* dropped, as a wire would */
	pthread_mutex_lock(&n->lock);
	bool ready;
	enum net_rx_verdict v = net_rx_fifo_offer(&n->rxq, frame, len, &ready);
	/* A frame waits for room (held, or refused: the backend keeps it):
	 * the ring is full of unread ones, which the driver must hear about. */
	if (v != NET_RX_DELIVERED && !net_rx_fifo_quiesced(&n->rxq) && ring_unread(n))
		raise_isr(n, ISR_PRX);
	pthread_mutex_unlock(&n->lock);
	free(copy);
	if (ready)
		net_rx_ready(n->backend);
	return net_rx_taken(v);
}

/* ---- transmit ---------------------------------------------------------------- */

/* The transmit work: the frame at TPSR, TBCR bytes long, out. */
static void tx_run(struct ne2000 *n)
{
	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->lock);
	if (!n->tx_pending) {
		pthread_mutex_unlock(&n->lock);
		pthread_mutex_unlock(&n->tx_lock);
		return;
	}
	uint32_t start = (uint32_t)n->tpsr * PAGE, len = n->tbcr;
	bool loopback = (n->tcr & TCR_LB_MASK) != 0;
	bool ok = in_buffer(start) && start + len <= NE2000_MEM_END && len >= NET_MIN_FRAME;
	if (ok)
		memcpy(n->txbuf, n->mem + start, len);
	else
		complain(n, "transmit area (TPSR, TBCR) outside the buffer memory or shorter than "
			    "an Ethernet header: aborted");
	if (ok && loopback)
		rx_deliver(n, n->txbuf, len, true);
	bool send = ok && !loopback && n->link_up;
	pthread_mutex_unlock(&n->lock);

	if (send) {
		static const struct net_hdr none;
		net_send(n->backend, &none, n->txbuf, len);
	}

	pthread_mutex_lock(&n->lock);
	n->tx_pending = false;
	n->cr &= (uint8_t)~CR_TXP;
	if (!ok) {
		n->tx_dropped++;
		n->tsr = TSR_ABT;
		raise_isr(n, ISR_TXE);
	} else {
		n->tsr = TSR_PTX | (ok && !loopback && !n->link_up ? TSR_CRS : 0);
		raise_isr(n, ISR_PTX);
	}
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_unlock(&n->tx_lock);
}

/* ---- reset --------------------------------------------------------------------- */

/* The reset port and a machine reset: stopped, RST set, no interrupt
 * enabled, nothing in flight. The buffer memory keeps its contents. Lock
 * held. */
static void soft_reset(struct ne2000 *n)
{
	n->cr = CR_STP | CR_RD_ABORT;
	n->isr = ISR_RST;
	n->imr = 0;
	n->rbcr = 0;
	n->tx_pending = false;
	net_rx_fifo_flush(&n->rxq);
	update_irq(n);
}

/* Power-on: every register, the memory cleared, the PROM built. */
static void hard_reset(struct ne2000 *n)
{
	n->rcr = n->tcr = n->dcr = 0;
	n->pstart = n->pstop = n->bnry = n->curr = n->tpsr = 0;
	n->tbcr = n->rsar = 0;
	n->tsr = n->rsr = 0;
	memset(n->cntr, 0, sizeof(n->cntr));
	memcpy(n->par, n->mac, 6);
	memset(n->mar, 0, sizeof(n->mar));
	memset(n->mem, 0, sizeof(n->mem));
	prom_build(n);
	soft_reset(n);
}

/* ---- register access ---------------------------------------------------------- */

static uint8_t read_counter(struct ne2000 *n, unsigned i)
{
	uint8_t v = n->cntr[i];
	n->cntr[i] = 0; /* the tally counters clear when read */
	return v;
}

/* Registers 0x01-0x0F of the selected page. Lock held. */
static uint8_t reg_read_paged(struct ne2000 *n, unsigned off)
{
	unsigned page = n->cr >> CR_PS_SHIFT;

	if (page == 1) {
		if (off >= P1_PAR0 && off < P1_PAR0 + 6)
			return n->par[off - P1_PAR0];
		if (off == P1_CURR)
			return n->curr;
		return n->mar[off - P1_MAR0];
	}
	if (page == 2) {
		switch (off) {
		case P2_PSTART: return n->pstart;
		case P2_PSTOP: return n->pstop;
		case P2_TPSR: return n->tpsr;
		case P2_RCR: return n->rcr;
		case P2_TCR: return n->tcr;
		case P2_DCR: return n->dcr;
		case P2_IMR: return n->imr;
		default: return 0;
		}
	}
	if (page == 3)
		return 0; /* the RTL8029's configuration page: nothing drivers need */
	switch (off) {
	case P0_PSTART: return 0;                  /* CLDA0: the page's low byte */
	case P0_PSTOP: return n->curr;             /* CLDA1 */
	case P0_BNRY: return n->bnry;
	case P0_TPSR: return n->tsr;
	case P0_TBCR0: return 0;                   /* NCR: no collisions */
	case P0_TBCR1: return 0;                   /* FIFO */
	case P0_ISR: return n->isr;
	case P0_RSAR0: return (uint8_t)n->rsar;    /* CRDA */
	case P0_RSAR1: return (uint8_t)(n->rsar >> 8);
	case P0_RBCR0: return RTL8029_ID0;
	case P0_RBCR1: return RTL8029_ID1;
	case P0_RCR: return n->rsr;
	case P0_TCR: return read_counter(n, 0);
	case P0_DCR: return read_counter(n, 1);
	default: return read_counter(n, 2);
	}
}

/* What a write leaves to do once the lock is dropped. */
#define WORK_TX 1u
#define WORK_RX 2u

static unsigned cr_write(struct ne2000 *n, uint8_t v)
{
	unsigned work = 0;
	bool txp = (n->cr & CR_TXP) != 0;

	/* STP stops the card and STA starts it; a command with neither (a
	 * page or DMA change: Linux's 8390 writes 0x20 and 0x60 all the
	 * time) leaves it as it was. */
	uint8_t run = n->cr & (CR_STP | CR_STA);
	if (v & CR_STP) {
		run = CR_STP;
		n->isr |= ISR_RST;
	} else if (v & CR_STA) {
		run = CR_STA;
		n->isr &= (uint8_t)~ISR_RST;
		work |= WORK_RX;
	}
	n->cr = (uint8_t)((v & ~(CR_TXP | CR_STP | CR_STA)) | run);
	/* TXP is set by the driver and cleared by the card when it is done. */
	if ((v & CR_TXP) && started(n) && !txp) {
		n->tx_pending = true;
		txp = true;
		work |= WORK_TX;
	}
	if (txp)
		n->cr |= CR_TXP;
	unsigned rd = v & CR_RD_MASK;
	if ((rd == CR_RD_READ || rd == CR_RD_WRITE) && n->rbcr == 0)
		raise_isr(n, ISR_RDC); /* nothing to move: complete at once */
	update_irq(n);
	return work;
}

static unsigned reg_write_page0(struct ne2000 *n, unsigned off, uint8_t v)
{
	switch (off) {
	case P0_PSTART: n->pstart = v; return 0;
	case P0_PSTOP: n->pstop = v; return 0;
	case P0_BNRY: n->bnry = v; return WORK_RX;
	case P0_TPSR: n->tpsr = v; return 0;
	case P0_TBCR0: n->tbcr = (uint16_t)((n->tbcr & 0xFF00) | v); return 0;
	case P0_TBCR1: n->tbcr = (uint16_t)((n->tbcr & 0x00FF) | v << 8); return 0;
	case P0_ISR:
		n->isr &= (uint8_t)~(v & 0x7F); /* RST goes with a Start command only */
		/* Frames left in the ring keep PRX: Linux's 8390 reads at most
		 * ten per interrupt, then acknowledges; held frames only come
		 * in as it reads, so without this nothing would wake it again
		 * (the wire does on real hardware; here the backend waits). */
		if ((v & ISR_PRX) && ring_unread(n))
			n->isr |= ISR_PRX;
		update_irq(n);
		return 0;
	case P0_RSAR0: n->rsar = (uint16_t)((n->rsar & 0xFF00) | v); return 0;
	case P0_RSAR1: n->rsar = (uint16_t)((n->rsar & 0x00FF) | v << 8); return 0;
	case P0_RBCR0: n->rbcr = (uint16_t)((n->rbcr & 0xFF00) | v); return 0;
	case P0_RBCR1: n->rbcr = (uint16_t)((n->rbcr & 0x00FF) | v << 8); return 0;
	case P0_RCR: n->rcr = v & 0x3F; return WORK_RX;
	case P0_TCR: n->tcr = v & 0x1F; return 0;
	case P0_DCR: n->dcr = v & 0x7F; return 0;
	default: /* P0_IMR */
		n->imr = v & 0x7F;
		update_irq(n);
		return 0;
	}
}

/* Registers 0x01-0x0F. Lock held. */
static unsigned reg_write_paged(struct ne2000 *n, unsigned off, uint8_t v)
{
	unsigned page = n->cr >> CR_PS_SHIFT;

	if (page == 0)
		return reg_write_page0(n, off, v);
	if (page == 1) {
		if (off >= P1_PAR0 && off < P1_PAR0 + 6)
			n->par[off - P1_PAR0] = v;
		else if (off == P1_CURR)
			n->curr = v;
		else
			n->mar[off - P1_MAR0] = v;
	}
	return 0; /* pages 2 and 3: diagnostics and the RTL8029's own, not kept */
}

static uint64_t port_read(void *opaque, uint64_t addr, unsigned size)
{
	struct ne2000 *n = opaque;
	uint32_t v = 0;

	pthread_mutex_lock(&n->lock);
	if (addr >= REG_RESET) {
		soft_reset(n); /* reading the reset port resets the card */
	} else if (addr >= REG_DATA) {
		dma_read(n, data_width(n, size), &v);
	} else if (addr == REG_CR) {
		v = n->cr;
	} else {
		v = reg_read_paged(n, (unsigned)addr);
	}
	pthread_mutex_unlock(&n->lock);
	if (size < 4)
		v &= (1u << (8 * size)) - 1;
	return v;
}

static void port_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
	struct ne2000 *n = opaque;
	unsigned work = 0;
	bool refused = false;

	pthread_mutex_lock(&n->lock);
	if (addr >= REG_RESET)
		soft_reset(n);
	else if (addr >= REG_DATA)
		dma_write(n, data_width(n, size), (uint32_t)val);
	else if (addr == REG_CR)
		work = cr_write(n, (uint8_t)val);
	else
		work = reg_write_paged(n, (unsigned)addr, (uint8_t)val);
	if (work & WORK_RX)
		refused = net_rx_fifo_drain(&n->rxq); /* nothing while quiesced */
	pthread_mutex_unlock(&n->lock);
	if (refused)
		net_rx_ready(n->backend);
	if (work & WORK_TX)
		tx_run(n);
}

/* Registers are a byte wide; the data port takes 8, 16 and 32 bits (the
 * core splits a wider access to a register into bytes). */
static const struct io_ops port_ops = {
	.read = port_read, .write = port_write, .min_size = 1, .max_size = 4,
};

/* ---- lifecycle ------------------------------------------------------------------ */

static struct ne2000 *core_new(const char *kind, const uint8_t mac[6], struct net_backend *backend)
{
	struct ne2000 *n = xzalloc(sizeof(*n));
	n->kind = kind;
	n->backend = backend;
	n->link_up = true;
	memcpy(n->mac, mac, 6);
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->tx_lock, NULL);
	net_rx_fifo_init(&n->rxq, NE2000_RX_PENDING, rx_deliver_held, n);
	return n;
}

static void pci_reset(struct pci_device *d)
{
	ne2000_reset(d->opaque);
}

struct ne2000 *ne2000_create_pci(struct pci_bus *bus, uint8_t devfn, const uint8_t mac[6],
				 struct net_backend *backend, uint8_t *rom, size_t rom_len)
{
	struct ne2000 *n = core_new("ne2k_pci", mac, backend);

	n->is_pci = true;
	pci_device_init(&n->pci, "ne2k_pci", 0x10EC, 0x8029, 0x020000, 0);
	pci_device_set_bar(&n->pci, 0, PCI_BAR_IO, false, NE2000_IO_SIZE, &port_ops, n);
	pci_device_set_interrupt_pin(&n->pci, 1);
	if (rom) {
		n->rom = rom;
		/* iPXE's ne2k_pci ROM serves several cards: its IDs are 0000:0000. */
		pci_rom_set_ids(rom, rom_len, 0x10EC, 0x8029);
		pci_device_set_rom(&n->pci, rom, rom_len);
	}
	n->pci.opaque = n;
	n->pci.reset = pci_reset;
	n->pci.devfn = devfn;
	hard_reset(n);
	if (pci_register(bus, &n->pci, devfn) < 0) {
		ne2000_destroy(n);
		return NULL;
	}
	return n;
}

struct ne2000 *ne2000_create_isa(struct io_bus *pio, uint16_t iobase, struct irq_line irq,
				 const uint8_t mac[6], struct net_backend *backend)
{
	struct ne2000 *n = core_new("ne2k_isa", mac, backend);

	n->isa_irq = irq;
	n->iobase = iobase;
	io_region_init(&n->isa_ports, "ne2k_isa", &port_ops, n, NE2000_IO_SIZE);
	hard_reset(n);
	if (bus_map(pio, &n->isa_ports, iobase) < 0) {
		ne2000_destroy(n);
		return NULL;
	}
	n->isa_bus = pio;
	return n;
}

/* A machine reset: the card as at power-on. */
void ne2000_reset(struct ne2000 *n)
{
	pthread_mutex_lock(&n->lock);
	hard_reset(n);
	pthread_mutex_unlock(&n->lock);
}

void ne2000_destroy(struct ne2000 *n)
{
	if (!n)
		return;
	if (n->isa_bus)
		bus_unmap(n->isa_bus, &n->isa_ports);
	net_rx_fifo_flush(&n->rxq);
	pci_device_release(&n->pci);
	free(n->rom);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->tx_lock);
	free(n);
}

void ne2000_quiesce(struct ne2000 *n)
{
	pthread_mutex_lock(&n->lock);
	net_rx_fifo_quiesce(&n->rxq);
	pthread_mutex_unlock(&n->lock);
}

/* Frames that arrived meanwhile go in first, in order; then a transmit
 * still pending (a loaded state's CR.TXP) runs. */
void ne2000_resume(struct ne2000 *n)
{
	pthread_mutex_lock(&n->lock);
	bool refused = net_rx_fifo_resume(&n->rxq);
	bool tx = n->tx_pending;
	pthread_mutex_unlock(&n->lock);
	if (refused)
		net_rx_ready(n->backend);
	if (tx)
		tx_run(n);
}

struct net_backend *ne2000_backend(struct ne2000 *n)
{
	return n->backend;
}

struct pci_device *ne2000_pci(struct ne2000 *n)
{
	return n->is_pci ? &n->pci : NULL;
}

bool ne2000_link(struct ne2000 *n)
{
	pthread_mutex_lock(&n->lock);
	bool up = n->link_up;
	pthread_mutex_unlock(&n->lock);
	return up;
}

/* The DP8390 has no link status, so the guest cannot see the cable (as
 * on the real card): frames just stop flowing both ways, and a transmit
 * ends with TSR.CRS (carrier sense lost). */
void ne2000_set_link(struct ne2000 *n, bool up)
{
	pthread_mutex_lock(&n->lock);
	n->link_up = up;
	pthread_mutex_unlock(&n->lock);
}

void ne2000_stats(struct ne2000 *n, uint64_t *rx_dropped, uint64_t *tx_dropped)
{
	pthread_mutex_lock(&n->lock);
	*rx_dropped = n->rx_dropped;
	*tx_dropped = n->tx_dropped;
	pthread_mutex_unlock(&n->lock);
}

/* ---- saved state ---------------------------------------------------------------- */

/*
 * Section "ne2k_pci" / "ne2k_isa" v1: the PCI configuration (PCI card),
 * MAC (must be this card's), the DP8390's registers, the buffer memory,
 * a transmit the driver started. Held receive frames are not saved (lost
 * on the wire, to the guest).
 */
void ne2000_save(struct ne2000 *n, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&n->lock);
	ss_section_begin(w, n->kind, instance, 1);
	if (n->is_pci)
		pci_config_put(w, &n->pci);
	ss_put_bytes(w, "mac", n->mac, 6);
	uint8_t r[] = { n->cr, n->isr, n->imr, n->rcr, n->tcr, n->dcr, n->pstart, n->pstop,
			n->bnry, n->curr, n->tpsr, n->tsr, n->rsr };
	ss_put_bytes(w, "regs", r, sizeof(r));
	ss_put_u16(w, "tbcr", n->tbcr);
	ss_put_u16(w, "rsar", n->rsar);
	ss_put_u16(w, "rbcr", n->rbcr);
	ss_put_bytes(w, "cntr", n->cntr, 3);
	ss_put_bytes(w, "par", n->par, 6);
	ss_put_bytes(w, "mar", n->mar, 8);
	ss_put_bool(w, "link_up", n->link_up);
	ss_put_bool(w, "tx_pending", n->tx_pending);
	ss_put_bytes(w, "mem", n->mem + NE2000_MEM_START, NE2000_MEM_END - NE2000_MEM_START);
	ss_section_end(w);
	pthread_mutex_unlock(&n->lock);
}

bool ne2000_load(struct ne2000 *n, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], mac[6], regs[13], cntr[3], par[6], mar[8];
	uint16_t tbcr, rsar, rbcr;
	bool link_up, tx_pending;
	uint8_t *mem = malloc(NE2000_MEM_END - NE2000_MEM_START);
	bool ok = false;

	if (!mem || !ss_section_open(r, n->kind, instance, 1, 1, NULL))
		goto out;
	if (n->is_pci)
		pci_config_get(r, &n->pci, cfg);
	ss_get_bytes(r, "mac", mac, 6);
	ss_get_bytes(r, "regs", regs, sizeof(regs));
	ss_get_u16(r, "tbcr", &tbcr);
	ss_get_u16(r, "rsar", &rsar);
	ss_get_u16(r, "rbcr", &rbcr);
	ss_get_bytes(r, "cntr", cntr, 3);
	ss_get_bytes(r, "par", par, 6);
	ss_get_bytes(r, "mar", mar, 8);
	ss_get_bool(r, "link_up", &link_up);
	ss_get_bool(r, "tx_pending", &tx_pending);
	ss_get_bytes(r, "mem", mem, NE2000_MEM_END - NE2000_MEM_START);
	if (!ss_section_close(r))
		goto out;
	if (memcmp(mac, n->mac, 6)) {
		ss_fail(r, "saved state: section %s instance %u: another card's MAC", n->kind,
			instance);
		goto out;
	}
	/* Every register value is one a guest could have written: the
	 * checks at use cover them. */
	pthread_mutex_lock(&n->lock);
	net_rx_fifo_flush(&n->rxq);
	n->cr = regs[0];
	n->isr = regs[1];
	n->imr = regs[2] & 0x7F;
	n->rcr = regs[3] & 0x3F;
	n->tcr = regs[4] & 0x1F;
	n->dcr = regs[5] & 0x7F;
	n->pstart = regs[6];
	n->pstop = regs[7];
	n->bnry = regs[8];
	n->curr = regs[9];
	n->tpsr = regs[10];
	n->tsr = regs[11];
	n->rsr = regs[12];
	n->tbcr = tbcr;
	n->rsar = rsar;
	n->rbcr = rbcr;
	memcpy(n->cntr, cntr, 3);
	memcpy(n->par, par, 6);
	memcpy(n->mar, mar, 8);
	n->link_up = link_up;
	n->tx_pending = tx_pending && (n->cr & CR_TXP);
	if (!n->tx_pending)
		n->cr &= (uint8_t)~CR_TXP;
	memcpy(n->mem + NE2000_MEM_START, mem, NE2000_MEM_END - NE2000_MEM_START);
	prom_build(n);
	if (n->is_pci)
		pci_config_apply(&n->pci, cfg);
	update_irq(n);
	pthread_mutex_unlock(&n->lock);
	ok = true;
out:
	free(mem);
	return ok;
}
