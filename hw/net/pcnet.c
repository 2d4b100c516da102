// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * AMD PCnet-PCI II (Am79C970A, 1022:2000).
 *
 * The host reaches 128 control and status registers (CSRs) and 128 bus
 * configuration registers (BCRs) through an index (RAP) and two data
 * ports (RDP for CSRs, BDP for BCRs), after 16 bytes of address PROM. The
 * ports sit 16 bits apart (WIO, after reset) or 32 bits apart (DWIO, once
 * the driver writes RDP with a 32-bit access); a read of the reset port
 * is a software reset. The I/O BAR and the memory BAR decode the same 32
 * bytes.
 *
 * The driver builds an init block in guest memory (CSR1/CSR2 point at
 * it) and sets CSR0.INIT: the card reads the mode (-> CSR15), station
 * address (-> CSR12-14), logical address filter (-> CSR8-11) and the two
 * rings' addresses and log2 lengths, then sets IDON. CSR0.STRT starts
 * transmit and receive, STOP stops them, TDMD asks for a transmit poll.
 * Descriptors and the init block come in three software styles (BCR20,
 * also CSR58): 0, 16-bit (8-byte descriptors, 24-bit addresses); 2,
 * 32-bit (16-byte descriptors); 3, 32-bit with the words in another
 * order. A frame spans the descriptors from the one with STP to the one
 * with ENP; buffer lengths are two's complements (BCNT). Received frames
 * carry their FCS (pcnet32 takes 4 bytes off MCNT).
 *
 * Interrupts: CSR0's IDON, TINT, RINT, MERR, MISS and BABL unless masked
 * in CSR3 make INTR, which drives INTA when IENA is set.
 *
 * Checks: the init block, each descriptor and each buffer must lie in
 * guest RAM (else MERR and the ring stops, one log line); a ring is at
 * most 512 descriptors and each transmit poll or received frame walks it
 * at most once; a transmit chain longer than PCNET_TX_MAX bytes, or that
 * never ends within the ring, is dropped with its descriptors handed back
 * with ERR; a received frame that needs more descriptors than the ring
 * has is dropped (MISS).
 *
 * Locks as in rtl8139.c: transmit runs within the TDMD or STRT write
 * under tx_lock, descriptors under the register lock, net_send without
 * it. Receive runs on the backend's thread; with no descriptor the frame
 * waits in a 64-frame FIFO (include/net_rx_fifo.h) until the driver gives
 * some back (the card looks again on every RDP access, and on the next
 * frame), and beyond that the backend is refused.
 */
#include "hw/pcnet.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_rx_fifo.h"
#include "savestate.h"
#include "util.h"

/* ---- ports and registers ------------------------------------------------------ */

#define APROM_SIZE 16
#define WIO_RDP 0x10
#define WIO_RAP 0x12
#define WIO_RESET 0x14
#define WIO_BDP 0x16
#define DWIO_RDP 0x10
#define DWIO_RAP 0x14
#define DWIO_RESET 0x18
#define DWIO_BDP 0x1C

#define NREGS 128

#define CSR0_INIT 0x0001
#define CSR0_STRT 0x0002
#define CSR0_STOP 0x0004
#define CSR0_TDMD 0x0008
#define CSR0_TXON 0x0010
#define CSR0_RXON 0x0020
#define CSR0_IENA 0x0040
#define CSR0_INTR 0x0080
#define CSR0_IDON 0x0100
#define CSR0_TINT 0x0200
#define CSR0_RINT 0x0400
#define CSR0_MERR 0x0800
#define CSR0_MISS 0x1000
#define CSR0_CERR 0x2000
#define CSR0_BABL 0x4000
#define CSR0_ERR 0x8000
/* Written as 1 to clear. */
#define CSR0_W1C (CSR0_IDON | CSR0_TINT | CSR0_RINT | CSR0_MERR | CSR0_MISS | CSR0_CERR | \
		  CSR0_BABL)
/* The sources of INTR; CSR3 masks them with the same bit positions. */
#define CSR0_SOURCES (CSR0_IDON | CSR0_TINT | CSR0_RINT | CSR0_MERR | CSR0_MISS | CSR0_BABL)

#define CSR_IADR_LO 1
#define CSR_IADR_HI 2
#define CSR_IMASK 3
#define CSR_FEAT 4
#define CSR_EXTCTL1 5
#define CSR_LADRF 8   /* 8-11 */
#define CSR_PADR 12   /* 12-14 */
#define CSR_MODE 15
#define CSR_BADR_LO 24
#define CSR_BADR_HI 25
#define CSR_BADX_LO 30
#define CSR_BADX_HI 31
#define CSR_SWS 58    /* BCR20's alias */
#define CSR_RCVRL 76
#define CSR_XMTRL 78
#define CSR_CHIPID_LO 88
#define CSR_CHIPID_HI 89
#define CSR_MISSED 112

#define MODE_DRX 0x0001
#define MODE_DTX 0x0002
#define MODE_LOOP 0x0004
#define MODE_DRCVPA 0x2000
#define MODE_DRCVBC 0x4000
#define MODE_PROM 0x8000

#define CSR4_APAD_XMT 0x0800

#define BCR_MC 2
#define BCR_LNKST 4
#define BCR_FDC 9
#define BCR_BSBC 18
#define BCR_SWS 20
#define BCR_MIICAS 32
#define BCR_MIIADDR 33
#define BCR_MIIDATA 34

#define SWS_STYLE_MASK 0x00FF
#define SWS_SSIZE32 0x0100
#define SWS_CSRPCNET 0x0200

/* Am79C970A: part number 0x2621, AMD's 0x003. */
#define CHIPID_LO 0x1003
#define CHIPID_HI 0x0262

/* Descriptor bits, in the 32-bit layout of RMD1/TMD1 (flags) and
 * TMD2 (misc). */
#define D_OWN (1u << 31)
#define D_ERR (1u << 30)
#define D_STP (1u << 25)
#define D_ENP (1u << 24)
#define RD_BUFF (1u << 26)
#define RD_PAM (1u << 22)
#define RD_LAFM (1u << 21)
#define RD_BAM (1u << 20)
#define TD2_BUFF (1u << 31)
#define TD2_UFLO (1u << 30)
#define D_BCNT_MASK 0x0FFF
#define D_ONES 0xF000

/* MII PHY (BCR33/34): a 10/100 PHY at address 0. */
#define PHY_ADDR 0
#define MII_BMCR 0
#define MII_BMSR 1
#define MII_ID1 2
#define MII_ID2 3
#define MII_ANAR 4
#define MII_ANLPAR 5
#define BMCR_RESET 0x8000
#define BMSR_LINK 0x0004
#define BMSR_ANDONE 0x0020

/* rx_filter's answer for a frame taken with no status bit of its own. */
#define RX_ACCEPT 1u

#define ETH_MIN 60
#define FCS_LEN 4
#define RX_MAX 1518 /* the largest frame taken from the wire, without FCS */

/* A descriptor in the 32-bit style-2 form, whatever the guest's style. */
struct desc {
	uint32_t addr;
	uint32_t flags; /* RMD1/TMD1 */
	uint32_t misc;  /* RMD2 (MCNT) / TMD2 (error bits) */
};

struct pcnet {
	struct pci_device pci;
	const struct guest_mem *mem;
	struct net_backend *backend;
	uint8_t mac[6];
	uint8_t aprom[APROM_SIZE];
	uint8_t *rom;

	/* ---- under lock ---------------------------------------------------- */
	pthread_mutex_t lock;
	uint16_t csr[NREGS], bcr[NREGS];
	uint16_t phy[32];
	uint32_t rap;
	bool dwio;
	bool link_up;
	/* From the init block. */
	uint32_t rx_base, tx_base;
	uint32_t rx_len, tx_len;   /* descriptors, 1-512 */
	uint32_t rx_idx, tx_idx;
	/* Frames without a descriptor yet; quiesced, all received frames
	 * wait here (and transmit stops), no register or memory changes. */
	struct net_rx_fifo rxq;
	uint8_t rxbuf[RX_MAX + FCS_LEN + ETH_MIN];
	uint64_t rx_dropped, tx_dropped;
	bool warned;

	/* ---- under tx_lock (taken before lock) -------------------------------- */
	pthread_mutex_t tx_lock;
	uint8_t txbuf[PCNET_TX_MAX];
};

static void complain(struct pcnet *p, const char *what)
{
	if (!__atomic_exchange_n(&p->warned, true, __ATOMIC_RELAXED))
		warn("pcnet %02x.%x: %s (further errors not logged)", p->pci.devfn >> 3,
		     p->pci.devfn & 7, what);
}

static bool bus_master(const struct pcnet *p)
{
	return pci_get_word(&p->pci, PCI_COMMAND) & PCI_COMMAND_MASTER;
}

/* ---- interrupts --------------------------------------------------------------- */

static void update_irq(struct pcnet *p)
{
	uint16_t c = p->csr[0];
	bool intr = (c & CSR0_SOURCES & ~p->csr[CSR_IMASK]) != 0;

	c &= (uint16_t)~(CSR0_INTR | CSR0_ERR);
	if (intr)
		c |= CSR0_INTR;
	if (c & (CSR0_BABL | CSR0_CERR | CSR0_MISS | CSR0_MERR))
		c |= CSR0_ERR;
	p->csr[0] = c;
	pci_set_irq(&p->pci, intr && (c & CSR0_IENA));
}

static void raise_csr0(struct pcnet *p, uint16_t bits)
{
	p->csr[0] |= bits;
	update_irq(p);
}

/* A bus error (an address outside guest RAM): MERR, logged once. */
static void memory_error(struct pcnet *p, const char *what)
{
	complain(p, what);
	raise_csr0(p, CSR0_MERR);
}

/* ---- software style and descriptors ----------------------------------------------- */

static unsigned sw_style(const struct pcnet *p)
{
	return p->bcr[BCR_SWS] & SWS_STYLE_MASK;
}

static bool ssize32(const struct pcnet *p)
{
	return (p->bcr[BCR_SWS] & SWS_SSIZE32) != 0;
}

/* BCR20 (or CSR58) written: the style, SSIZE32 following it (styles 1,
 * 2 and 3 are 32-bit; style 1, the ILACC's, is taken as 2). */
static void sws_write(struct pcnet *p, uint16_t v)
{
	unsigned style = v & SWS_STYLE_MASK;
	uint16_t sws = (uint16_t)(style | SWS_CSRPCNET);
	if (style == 1 || style == 2 || style == 3)
		sws |= SWS_SSIZE32;
	else if (style != 0)
		sws = (uint16_t)(SWS_CSRPCNET); /* undefined styles: 0 */
	p->bcr[BCR_SWS] = sws;
	p->csr[CSR_SWS] = sws;
}

static unsigned desc_size(const struct pcnet *p)
{
	return ssize32(p) ? 16 : 8;
}

/* 24-bit addresses of the 16-bit style get CSR2's upper byte. */
static uint32_t addr16(const struct pcnet *p, uint32_t low24)
{
	return (uint32_t)(p->csr[CSR_IADR_HI] & 0xFF00) << 16 | (low24 & 0xFFFFFF);
}

/* Reads descriptor 'idx' of the ring at 'base'; false (MERR) if it is
 * not in guest RAM. rx: the RMD layout, else TMD. */
static bool desc_load(struct pcnet *p, uint32_t base, uint32_t idx, bool rx, struct desc *d)
{
	uint8_t b[16];
	uint64_t at = (uint64_t)base + (uint64_t)idx * desc_size(p);

	if (!guest_read(p->mem, at, b, desc_size(p))) {
		memory_error(p, "descriptor outside guest RAM: ring stopped");
		return false;
	}
	if (!ssize32(p)) {
		uint16_t w1 = get_le16(b + 2);
		d->addr = addr16(p, get_le16(b) | (uint32_t)(w1 & 0xFF) << 16);
		d->flags = (uint32_t)(w1 >> 8) << 24 | get_le16(b + 4);
		d->misc = rx ? get_le16(b + 6) : (uint32_t)get_le16(b + 6) << 16;
	} else if (sw_style(p) == 3) {
		d->misc = get_le32(b);
		d->flags = get_le32(b + 4);
		d->addr = get_le32(b + 8);
	} else {
		d->addr = get_le32(b);
		d->flags = get_le32(b + 4);
		d->misc = get_le32(b + 8);
	}
	return true;
}

/* Writes back the status of descriptor 'idx': misc first, the word with
 * OWN last, as the card hands it back. */
static void desc_store(struct pcnet *p, uint32_t base, uint32_t idx, bool rx,
		       const struct desc *d)
{
	uint64_t at = (uint64_t)base + (uint64_t)idx * desc_size(p);
	uint8_t b[4];

	if (!ssize32(p)) {
		put_le16(b, (uint16_t)(rx ? d->misc : d->misc >> 16));
		guest_write(p->mem, at + 6, b, 2);
		b[0] = (uint8_t)(d->flags >> 24);
		guest_write(p->mem, at + 3, b, 1);
		return;
	}
	put_le32(b, d->misc);
	guest_write(p->mem, at + (sw_style(p) == 3 ? 0 : 8), b, 4);
	put_le32(b, d->flags);
	guest_write(p->mem, at + 4, b, 4);
}

/* A buffer's length from its BCNT (a 12-bit two's complement). */
static uint32_t bcnt_len(uint32_t flags)
{
	return (0x1000 - (flags & D_BCNT_MASK)) & D_BCNT_MASK;
}

/* ---- init block --------------------------------------------------------------------- */

/* Ring length from its log2 (0-9; more is 512). */
static uint32_t ring_len(unsigned log2)
{
	return 1u << MIN(log2, 9u);
}

/* CSR0.INIT: the init block at CSR1/CSR2 in the current style. */
static void init_block_load(struct pcnet *p)
{
	uint32_t iadr = (uint32_t)p->csr[CSR_IADR_HI] << 16 | p->csr[CSR_IADR_LO];
	uint8_t b[28];
	const uint8_t *padr, *ladrf;
	uint16_t mode;

	if (!ssize32(p)) {
		iadr = addr16(p, iadr);
		if (!guest_read(p->mem, iadr, b, 24)) {
			memory_error(p, "init block outside guest RAM");
			return;
		}
		mode = get_le16(b);
		padr = b + 2;
		ladrf = b + 8;
		uint16_t r_hi = get_le16(b + 0x12), t_hi = get_le16(b + 0x16);
		p->rx_base = addr16(p, get_le16(b + 0x10) | (uint32_t)(r_hi & 0xFF) << 16);
		p->tx_base = addr16(p, get_le16(b + 0x14) | (uint32_t)(t_hi & 0xFF) << 16);
		p->rx_len = ring_len(r_hi >> 13);
		p->tx_len = ring_len(t_hi >> 13);
	} else {
		if (!guest_read(p->mem, iadr, b, 28)) {
			memory_error(p, "init block outside guest RAM");
			return;
		}
		mode = get_le16(b);
		p->rx_len = ring_len((b[2] >> 4) & 0xF);
		p->tx_len = ring_len((b[3] >> 4) & 0xF);
		padr = b + 4;
		ladrf = b + 12;
		p->rx_base = get_le32(b + 20);
		p->tx_base = get_le32(b + 24);
	}
	p->csr[CSR_MODE] = mode;
	for (int i = 0; i < 3; i++)
		p->csr[CSR_PADR + i] = get_le16(padr + 2 * i);
	for (int i = 0; i < 4; i++)
		p->csr[CSR_LADRF + i] = get_le16(ladrf + 2 * i);
	p->csr[CSR_BADR_LO] = (uint16_t)p->rx_base;
	p->csr[CSR_BADR_HI] = (uint16_t)(p->rx_base >> 16);
	p->csr[CSR_BADX_LO] = (uint16_t)p->tx_base;
	p->csr[CSR_BADX_HI] = (uint16_t)(p->tx_base >> 16);
	p->csr[CSR_RCVRL] = (uint16_t)(0x10000 - p->rx_len); /* kept as two's complements */
	p->csr[CSR_XMTRL] = (uint16_t)(0x10000 - p->tx_len);
	p->rx_idx = p->tx_idx = 0;
	raise_csr0(p, CSR0_IDON);
}

/* ---- receive ------------------------------------------------------------------------- */

/* CRC-32 as Ethernet's FCS (reflected, without the final inversion). */
static uint32_t crc32_raw(const uint8_t *b, size_t len)
{
	uint32_t crc = 0xFFFFFFFF;
	for (size_t i = 0; i < len; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return crc;
}

/* The descriptor status bits of an accepted frame (PAM, BAM, LAFM, or
 * just acceptance under PROM), or 0 to drop it. */
static uint32_t rx_filter(const struct pcnet *p, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	uint16_t mode = p->csr[CSR_MODE];
	uint8_t padr[6];

	for (int i = 0; i < 3; i++)
		put_le16(padr + 2 * i, p->csr[CSR_PADR + i]);
	if (!memcmp(dst, padr, 6) && !(mode & MODE_DRCVPA))
		return RD_PAM;
	if (!memcmp(dst, bcast, 6) && !(mode & MODE_DRCVBC))
		return RD_BAM;
	if (dst[0] & 1) {
		/* The logical address filter: the CRC's upper 6 bits index LADRF. */
		unsigned bit = crc32_raw(dst, 6) >> 26;
		if ((p->csr[CSR_LADRF + bit / 16] >> (bit % 16)) & 1)
			return RD_LAFM;
	}
	return mode & MODE_PROM ? RX_ACCEPT : 0;
}

static bool rx_on(const struct pcnet *p)
{
	return (p->csr[0] & CSR0_RXON) && !(p->csr[CSR_MODE] & MODE_DRX);
}

/* The frame (FCS included) over the descriptors from rx_idx: they are
 * counted first, so a frame is written whole or not at all. 1 done
 * (written or dropped), 0 no descriptor yet. Lock held. */
static int rx_descriptors(struct pcnet *p, const uint8_t *f, size_t len, uint32_t status)
{
	struct desc d;
	uint32_t idx = p->rx_idx, ndesc = 0;
	size_t room = 0;

	while (room < len) {
		if (ndesc == p->rx_len) {
			complain(p, "receive ring too small for a frame: dropped");
			p->rx_dropped++;
			p->csr[CSR_MISSED]++;
			raise_csr0(p, CSR0_MISS);
			return 1;
		}
		if (!desc_load(p, p->rx_base, idx, true, &d)) {
			p->rx_dropped++;
			return 1;
		}
		if (!(d.flags & D_OWN))
			return 0;
		room += bcnt_len(d.flags);
		ndesc++;
		idx = (idx + 1) % p->rx_len;
	}
	size_t done = 0;
	idx = p->rx_idx;
	for (uint32_t i = 0; i < ndesc; i++) {
		desc_load(p, p->rx_base, idx, true, &d);
		size_t chunk = MIN((size_t)bcnt_len(d.flags), len - done);
		bool last = i == ndesc - 1;
		uint32_t flags = (d.flags & (D_ONES | D_BCNT_MASK)) | (i == 0 ? D_STP : 0);
		if (chunk && !guest_write(p->mem, d.addr, f + done, chunk)) {
			memory_error(p, "receive buffer outside guest RAM");
			flags |= D_ERR | RD_BUFF;
		}
		done += chunk;
		if (last) {
			flags |= D_ENP | (status & (RD_PAM | RD_BAM | RD_LAFM));
			d.misc = (uint32_t)len & D_BCNT_MASK; /* MCNT */
		} else {
			d.misc = 0;
		}
		d.flags = flags; /* OWN cleared: the driver's again */
		desc_store(p, p->rx_base, idx, true, &d);
		idx = (idx + 1) % p->rx_len;
	}
	p->rx_idx = idx;
	raise_csr0(p, CSR0_RINT);
	return 1;
}

/* One frame (without FCS): filtered, padded, its FCS added, into the
 * ring. 1 done, 0 no room. Lock held. */
static int rx_deliver(struct pcnet *p, const uint8_t *frame, size_t len, bool loopback)
{
	if (!rx_on(p) || (!p->link_up && !loopback) || !bus_master(p) || len < NET_MIN_FRAME ||
	    len > RX_MAX)
		return 1;
	if (!loopback && (p->csr[CSR_MODE] & MODE_LOOP))
		return 1; /* in loopback the card does not listen to the wire */
	uint32_t status = rx_filter(p, frame);
	if (!status)
		return 1;
	uint8_t *b = p->rxbuf;
	memcpy(b, frame, len);
	if (len < ETH_MIN) {
		memset(b + len, 0, ETH_MIN - len);
		len = ETH_MIN;
	}
	put_le32(b + len, ~crc32_raw(b, len));
	return rx_descriptors(p, b, len + FCS_LEN, status);
}

/* The FIFO's way into the ring: frames from the wire. Lock held. */
static int rx_deliver_held(void *opaque, const uint8_t *frame, size_t len)
{
	return rx_deliver(opaque, frame, len, false);
}

bool pcnet_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len)
{
	struct pcnet *p = opaque;
	uint8_t *copy;

	if (len < NET_MIN_FRAME || len > RX_MAX)
		return true;
	frame = net_rx_plain(hdr, frame, len, &copy);
	if (!frame)
		return true; /* dropped, as a wire would */
	pthread_mutex_lock(&p->lock);
	bool ready;
	enum net_rx_verdict v = net_rx_fifo_offer(&p->rxq, frame, len, &ready);
	pthread_mutex_unlock(&p->lock);
	free(copy);
	if (ready)
		net_rx_ready(p->backend);
	return net_rx_taken(v); /* refused: the backend keeps it until rx_ready */
}

/* ---- transmit -------------------------------------------------------------------------- */

static bool tx_on(const struct pcnet *p)
{
	return (p->csr[0] & CSR0_TXON) && !(p->csr[CSR_MODE] & MODE_DTX) && bus_master(p);
}

/* Hands back descriptors [from, from + n) of the transmit ring, the
 * last with 'misc' (its error bits) and ERR if there are any. */
static void tx_hand_back(struct pcnet *p, uint32_t from, uint32_t n, uint32_t misc)
{
	struct desc d;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = (from + i) % p->tx_len;
		if (!desc_load(p, p->tx_base, idx, false, &d))
			return;
		d.flags &= ~D_OWN;
		d.misc = 0;
		if (i == n - 1 && misc) {
			d.flags |= D_ERR;
			d.misc = misc;
		}
		desc_store(p, p->tx_base, idx, false, &d);
	}
}

enum tx_step { TX_IDLE, TX_SENT, TX_DROPPED };

/* One frame from tx_idx: its chain is checked whole (OWN from STP to
 * ENP, within one ring's worth) before it is consumed; an unfinished
 * chain waits for the next poll. Fills txbuf. tx_lock and lock held. */
static enum tx_step tx_gather(struct pcnet *p, size_t *len)
{
	struct desc d;
	uint32_t n = 0, idx = p->tx_idx;
	bool bad = false;

	*len = 0;
	for (;;) {
		if (n == p->tx_len) {
			complain(p, "transmit chain without ENP over the whole ring: dropped");
			tx_hand_back(p, p->tx_idx, n, TD2_BUFF);
			p->tx_idx = idx;
			return TX_DROPPED;
		}
		if (!desc_load(p, p->tx_base, idx, false, &d))
			return TX_IDLE;
		if (!(d.flags & D_OWN))
			return TX_IDLE; /* nothing (more) from the driver yet */
		if (n == 0 && !(d.flags & D_STP)) {
			/* A descriptor in the middle of nothing: hand it back. */
			complain(p, "transmit descriptor without STP: skipped");
			tx_hand_back(p, idx, 1, TD2_BUFF);
			p->tx_idx = (idx + 1) % p->tx_len;
			return TX_DROPPED;
		}
		uint32_t blen = bcnt_len(d.flags);
		if (!bad && blen) {
			if (blen > PCNET_TX_MAX - *len) {
				complain(p, "transmit frame longer than the card's limit: dropped");
				bad = true;
			} else if (!guest_read(p->mem, d.addr, p->txbuf + *len, blen)) {
				memory_error(p, "transmit buffer outside guest RAM: frame dropped");
				bad = true;
			} else {
				*len += blen;
			}
		}
		n++;
		idx = (idx + 1) % p->tx_len;
		if (d.flags & D_ENP)
			break;
	}
	tx_hand_back(p, p->tx_idx, n, bad ? TD2_BUFF | TD2_UFLO : 0);
	p->tx_idx = idx;
	return bad || *len < NET_MIN_FRAME ? TX_DROPPED : TX_SENT;
}

/* A transmit poll: frames until a descriptor the driver does not own, at
 * most one ring's worth. */
static void tx_poll(struct pcnet *p)
{
	bool any = false;

	pthread_mutex_lock(&p->tx_lock);
	for (uint32_t budget = PCNET_RING_MAX; budget; budget--) {
		pthread_mutex_lock(&p->lock);
		if (!tx_on(p) || net_rx_fifo_quiesced(&p->rxq)) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		size_t len;
		enum tx_step step = tx_gather(p, &len);
		bool loopback = (p->csr[CSR_MODE] & MODE_LOOP) != 0;
		if (step == TX_SENT && len < ETH_MIN && (p->csr[CSR_FEAT] & CSR4_APAD_XMT)) {
			memset(p->txbuf + len, 0, ETH_MIN - len);
			len = ETH_MIN;
		}
		if (step == TX_SENT && loopback)
			rx_deliver(p, p->txbuf, len, true);
		if (step == TX_DROPPED)
			p->tx_dropped++;
		bool link = p->link_up;
		pthread_mutex_unlock(&p->lock);
		if (step == TX_IDLE)
			break;
		if (step == TX_SENT && !loopback && link) {
			static const struct net_hdr none;
			net_send(p->backend, &none, p->txbuf, len);
		}
		any = true;
	}
	pthread_mutex_unlock(&p->tx_lock);
	if (any) {
		pthread_mutex_lock(&p->lock);
		raise_csr0(p, CSR0_TINT);
		pthread_mutex_unlock(&p->lock);
	}
}

/* ---- reset ------------------------------------------------------------------------------ */

static void aprom_build(struct pcnet *p)
{
	memset(p->aprom, 0, sizeof(p->aprom));
	memcpy(p->aprom, p->mac, 6);
	p->aprom[14] = p->aprom[15] = 0x57; /* 'WW' */
	/* Bytes 12-13: the sum of bytes 0-11 and 14-15. */
	uint16_t sum = 0;
	for (int i = 0; i < APROM_SIZE; i++)
		if (i != 12 && i != 13)
			sum = (uint16_t)(sum + p->aprom[i]);
	put_le16(p->aprom + 12, sum);
}

static void phy_reset(struct pcnet *p)
{
	memset(p->phy, 0, sizeof(p->phy));
	p->phy[MII_BMCR] = 0x3100;  /* 100 Mbit/s, autonegotiation, full duplex */
	p->phy[MII_ID1] = 0x0022;   /* an Am79C874-like PHY */
	p->phy[MII_ID2] = 0x561B;
	p->phy[MII_ANAR] = 0x01E1;
	p->phy[MII_ANLPAR] = 0x45E1;
}

static uint16_t phy_read(struct pcnet *p, unsigned reg)
{
	if (reg == MII_BMSR)
		return (uint16_t)(0x7809 | (p->link_up ? BMSR_LINK | BMSR_ANDONE : 0));
	return reg < 32 ? p->phy[reg] : 0;
}

static void phy_write(struct pcnet *p, unsigned reg, uint16_t v)
{
	if (reg == MII_BMCR && (v & BMCR_RESET)) {
		phy_reset(p);
		return;
	}
	if (reg == MII_BMCR || reg == MII_ANAR)
		p->phy[reg] = (uint16_t)(v & ~0x0200); /* autonegotiation ends at once */
}

/* S_RESET (a read of the reset port): the CSRs to their reset values,
 * the rings forgotten; the BCRs stay, but the software style goes back
 * to 0. Lock held. */
static void soft_reset(struct pcnet *p)
{
	memset(p->csr, 0, sizeof(p->csr));
	p->csr[0] = CSR0_STOP;
	p->csr[CSR_IMASK] = 0;
	p->csr[CSR_FEAT] = 0x0115;
	for (int i = 0; i < 3; i++)
		p->csr[CSR_PADR + i] = get_le16(p->mac + 2 * i);
	p->csr[CSR_CHIPID_LO] = CHIPID_LO;
	p->csr[CSR_CHIPID_HI] = CHIPID_HI;
	p->rx_base = p->tx_base = 0;
	p->rx_len = p->tx_len = 1;
	p->rx_idx = p->tx_idx = 0;
	p->rap = 0;
	sws_write(p, 0);
	net_rx_fifo_flush(&p->rxq);
	update_irq(p);
}

/* H_RESET (power-on, PCI reset): the BCRs too, WIO again. Lock held. */
static void hard_reset(struct pcnet *p)
{
	memset(p->bcr, 0, sizeof(p->bcr));
	p->bcr[0] = 0x0005;
	p->bcr[1] = 0x0005;
	p->bcr[BCR_MC] = 0x0002;   /* ASEL */
	p->bcr[BCR_LNKST] = 0x00C0;
	p->bcr[5] = 0x0084;
	p->bcr[6] = 0x0088;
	p->bcr[7] = 0x0090;
	p->bcr[BCR_BSBC] = 0x9001;
	p->bcr[22] = 0xFF06;
	p->dwio = false;
	phy_reset(p);
	soft_reset(p);
}

/* ---- register access ------------------------------------------------------------------- */

/* What a write leaves to do once the lock is dropped. */
#define WORK_TX 1u
#define WORK_RX 2u

static unsigned csr0_write(struct pcnet *p, uint16_t v)
{
	unsigned work = 0;
	uint16_t c = p->csr[0];

	c &= (uint16_t)~(v & CSR0_W1C);
	c = (uint16_t)((c & ~CSR0_IENA) | (v & CSR0_IENA));
	p->csr[0] = c;
	if (v & CSR0_STOP) {
		/* STOP wins over INIT and STRT: everything halts. */
		p->csr[0] = (uint16_t)(CSR0_STOP | (c & CSR0_IENA));
		update_irq(p);
		return 0;
	}
	if ((v & CSR0_INIT) && !(c & CSR0_INIT)) {
		p->csr[0] = (uint16_t)((p->csr[0] & ~CSR0_STOP) | CSR0_INIT);
		init_block_load(p);
	}
	if ((v & CSR0_STRT) && !(p->csr[0] & CSR0_STRT)) {
		uint16_t mode = p->csr[CSR_MODE];
		p->csr[0] &= (uint16_t)~CSR0_STOP;
		p->csr[0] |= CSR0_STRT;
		if (!(mode & MODE_DTX))
			p->csr[0] |= CSR0_TXON;
		if (!(mode & MODE_DRX))
			p->csr[0] |= CSR0_RXON;
		work |= WORK_TX | WORK_RX;
	}
	if (v & CSR0_TDMD)
		work |= WORK_TX;
	update_irq(p);
	return work;
}

static unsigned csr_write(struct pcnet *p, unsigned reg, uint16_t v)
{
	switch (reg) {
	case 0:
		return csr0_write(p, v);
	case CSR_IMASK:
		p->csr[reg] = v & 0x5F7C;
		update_irq(p);
		return WORK_RX;
	case CSR_SWS:
		sws_write(p, v);
		return 0;
	case CSR_CHIPID_LO:
	case CSR_CHIPID_HI:
		return 0; /* read-only */
	case CSR_EXTCTL1:
		p->csr[reg] = v; /* SPND takes effect at once, and reads back */
		return WORK_RX;
	default:
		p->csr[reg] = v;
		return 0;
	}
}

static uint16_t bcr_read(struct pcnet *p, unsigned reg)
{
	switch (reg) {
	case BCR_LNKST:
	case 5:
	case 6:
	case 7: {
		/* LEDOUT (bit 15): any enabled status that holds; link (bit 6) */
		uint16_t v = p->bcr[reg] & 0x7FFF;
		uint16_t state = p->link_up ? 0x0040 : 0;
		return (uint16_t)(v | ((v & state) ? 0x8000 : 0));
	}
	case BCR_MIIDATA: {
		unsigned phy = (p->bcr[BCR_MIIADDR] >> 5) & 0x1F, r = p->bcr[BCR_MIIADDR] & 0x1F;
		return phy == PHY_ADDR ? phy_read(p, r) : 0xFFFF;
	}
	default:
		return p->bcr[reg];
	}
}

static void bcr_write(struct pcnet *p, unsigned reg, uint16_t v)
{
	switch (reg) {
	case BCR_SWS:
		sws_write(p, v);
		break;
	case BCR_MIIDATA: {
		unsigned phy = (p->bcr[BCR_MIIADDR] >> 5) & 0x1F, r = p->bcr[BCR_MIIADDR] & 0x1F;
		if (phy == PHY_ADDR)
			phy_write(p, r, v);
		break;
	}
	case 0:
	case 1:
	case 3:
		break; /* read-only or reserved */
	default:
		p->bcr[reg] = v;
		break;
	}
}

/* Where each port is in the current layout. */
static void port_of(const struct pcnet *p, uint64_t off, bool *rdp, bool *rap, bool *reset,
		    bool *bdp)
{
	*rdp = *rap = *reset = *bdp = false;
	if (p->dwio) {
		*rdp = off == DWIO_RDP;
		*rap = off == DWIO_RAP;
		*reset = off == DWIO_RESET;
		*bdp = off == DWIO_BDP;
	} else {
		*rdp = off == WIO_RDP;
		*rap = off == WIO_RAP;
		*reset = off == WIO_RESET;
		*bdp = off == WIO_BDP;
	}
}

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
	struct pcnet *p = opaque;
	bool rdp, rap, reset, bdp, refused = false;
	uint64_t v = 0;

	pthread_mutex_lock(&p->lock);
	if (off < APROM_SIZE) {
		for (unsigned i = 0; i < size && off + i < APROM_SIZE; i++)
			v |= (uint64_t)p->aprom[off + i] << (8 * i);
		pthread_mutex_unlock(&p->lock);
		return v;
	}
	port_of(p, off, &rdp, &rap, &reset, &bdp);
	if (rdp) {
		refused = net_rx_fifo_drain(&p->rxq);
		v = p->csr[p->rap];
	} else if (rap) {
		v = p->rap;
	} else if (reset) {
		soft_reset(p);
	} else if (bdp) {
		v = bcr_read(p, p->rap);
	}
	pthread_mutex_unlock(&p->lock);
	if (refused)
		net_rx_ready(p->backend);
	return v;
}

static void port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pcnet *p = opaque;
	bool rdp, rap, reset, bdp, refused = false;
	unsigned work = 0;

	pthread_mutex_lock(&p->lock);
	/* A 32-bit write to RDP switches the ports to DWIO. */
	if (!p->dwio && off == DWIO_RDP && size == 4)
		p->dwio = true;
	port_of(p, off, &rdp, &rap, &reset, &bdp);
	if (rdp)
		work = csr_write(p, p->rap, (uint16_t)val);
	else if (rap)
		p->rap = (uint32_t)val & (NREGS - 1);
	else if (bdp)
		bcr_write(p, p->rap, (uint16_t)val);
	if (rdp)
		refused = net_rx_fifo_drain(&p->rxq);
	pthread_mutex_unlock(&p->lock);
	if (refused)
		net_rx_ready(p->backend);
	if (work & WORK_TX)
		tx_poll(p);
}

/* WIO takes 16-bit accesses, DWIO 32-bit ones; the APROM any. The core
 * hands wider accesses over whole, narrower ones as they come. */
static const struct io_ops port_ops = {
	.read = port_read, .write = port_write, .min_size = 1, .max_size = 4,
};

/* ---- lifecycle --------------------------------------------------------------------------- */

static void pci_reset(struct pci_device *d)
{
	struct pcnet *p = d->opaque;
	pthread_mutex_lock(&p->tx_lock);
	pthread_mutex_lock(&p->lock);
	hard_reset(p);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->tx_lock);
}

struct pcnet *pcnet_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			   const uint8_t mac[6], struct net_backend *backend, uint8_t *rom,
			   size_t rom_len)
{
	struct pcnet *p = xzalloc(sizeof(*p));

	p->mem = mem;
	p->backend = backend;
	p->link_up = true;
	memcpy(p->mac, mac, 6);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->tx_lock, NULL);
	net_rx_fifo_init(&p->rxq, PCNET_RX_PENDING, rx_deliver_held, p);
	aprom_build(p);
	pci_device_init(&p->pci, "pcnet", 0x1022, 0x2000, 0x020000, 0x10);
	pci_device_set_bar(&p->pci, 0, PCI_BAR_IO, false, PCNET_IO_SIZE, &port_ops, p);
	pci_device_set_bar(&p->pci, 1, PCI_BAR_MEM32, false, PCNET_IO_SIZE, &port_ops, p);
	pci_device_set_interrupt_pin(&p->pci, 1);
	if (rom) {
		p->rom = rom;
		pci_device_set_rom(&p->pci, rom, rom_len);
	}
	p->pci.opaque = p;
	p->pci.reset = pci_reset;
	p->pci.devfn = devfn;
	hard_reset(p);
	if (pci_register(bus, &p->pci, devfn) < 0) {
		pcnet_destroy(p);
		return NULL;
	}
	return p;
}

struct pci_device *pcnet_pci(struct pcnet *p)
{
	return &p->pci;
}

void pcnet_destroy(struct pcnet *p)
{
	if (!p)
		return;
	net_rx_fifo_flush(&p->rxq);
	pci_device_release(&p->pci);
	free(p->rom);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->tx_lock);
	free(p);
}

void pcnet_quiesce(struct pcnet *p)
{
	pthread_mutex_lock(&p->lock);
	net_rx_fifo_quiesce(&p->rxq);
	pthread_mutex_unlock(&p->lock);
}

/* Frames that arrived meanwhile go in first, in order; then a transmit
 * poll, for a TDMD that came meanwhile (a poll stops while quiesced). */
void pcnet_resume(struct pcnet *p)
{
	pthread_mutex_lock(&p->lock);
	bool refused = net_rx_fifo_resume(&p->rxq);
	pthread_mutex_unlock(&p->lock);
	if (refused)
		net_rx_ready(p->backend);
	tx_poll(p);
}

struct net_backend *pcnet_backend(struct pcnet *p)
{
	return p->backend;
}

bool pcnet_link(struct pcnet *p)
{
	pthread_mutex_lock(&p->lock);
	bool up = p->link_up;
	pthread_mutex_unlock(&p->lock);
	return up;
}

void pcnet_set_link(struct pcnet *p, bool up)
{
	pthread_mutex_lock(&p->lock);
	p->link_up = up;
	pthread_mutex_unlock(&p->lock);
}

void pcnet_stats(struct pcnet *p, uint64_t *rx_dropped, uint64_t *tx_dropped)
{
	pthread_mutex_lock(&p->tx_lock);
	pthread_mutex_lock(&p->lock);
	*rx_dropped = p->rx_dropped;
	*tx_dropped = p->tx_dropped;
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->tx_lock);
}

/* ---- saved state -------------------------------------------------------------------------- */

/*
 * Section "pcnet" v1: PCI configuration, MAC (must be this card's), the
 * CSRs and BCRs, RAP, DWIO, the PHY, link, the rings from the init block
 * and the positions in them. Held receive frames are not saved.
 */
void pcnet_save(struct pcnet *p, struct ss_writer *w, uint32_t instance)
{
	uint8_t regs[NREGS * 2];

	pthread_mutex_lock(&p->tx_lock);
	pthread_mutex_lock(&p->lock);
	ss_section_begin(w, "pcnet", instance, 1);
	pci_config_put(w, &p->pci);
	ss_put_bytes(w, "mac", p->mac, 6);
	for (int i = 0; i < NREGS; i++)
		put_le16(regs + 2 * i, p->csr[i]);
	ss_put_bytes(w, "csr", regs, sizeof(regs));
	for (int i = 0; i < NREGS; i++)
		put_le16(regs + 2 * i, p->bcr[i]);
	ss_put_bytes(w, "bcr", regs, sizeof(regs));
	for (int i = 0; i < 32; i++)
		put_le16(regs + 2 * i, p->phy[i]);
	ss_put_bytes(w, "phy", regs, 64);
	ss_put_u32(w, "rap", p->rap);
	ss_put_bool(w, "dwio", p->dwio);
	ss_put_bool(w, "link_up", p->link_up);
	ss_put_u32(w, "rx_base", p->rx_base);
	ss_put_u32(w, "tx_base", p->tx_base);
	ss_put_u32(w, "rx_len", p->rx_len);
	ss_put_u32(w, "tx_len", p->tx_len);
	ss_put_u32(w, "rx_idx", p->rx_idx);
	ss_put_u32(w, "tx_idx", p->tx_idx);
	ss_section_end(w);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->tx_lock);
}

static bool valid_ring_len(uint32_t n)
{
	return n && n <= PCNET_RING_MAX && (n & (n - 1)) == 0;
}

bool pcnet_load(struct pcnet *p, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], mac[6], csr[NREGS * 2], bcr[NREGS * 2], phy[64];
	uint32_t rap, rx_base, tx_base, rx_len, tx_len, rx_idx, tx_idx;
	bool dwio, link_up;

	if (!ss_section_open(r, "pcnet", instance, 1, 1, NULL))
		return false;
	pci_config_get(r, &p->pci, cfg);
	ss_get_bytes(r, "mac", mac, 6);
	ss_get_bytes(r, "csr", csr, sizeof(csr));
	ss_get_bytes(r, "bcr", bcr, sizeof(bcr));
	ss_get_bytes(r, "phy", phy, sizeof(phy));
	ss_get_u32(r, "rap", &rap);
	ss_get_bool(r, "dwio", &dwio);
	ss_get_bool(r, "link_up", &link_up);
	ss_get_u32(r, "rx_base", &rx_base);
	ss_get_u32(r, "tx_base", &tx_base);
	ss_get_u32(r, "rx_len", &rx_len);
	ss_get_u32(r, "tx_len", &tx_len);
	ss_get_u32(r, "rx_idx", &rx_idx);
	ss_get_u32(r, "tx_idx", &tx_idx);
	if (!ss_section_close(r))
		return false;
	if (memcmp(mac, p->mac, 6))
		return ss_fail(r, "saved state: section pcnet instance %u: another card's MAC",
			       instance);
	if (rap >= NREGS || !valid_ring_len(rx_len) || !valid_ring_len(tx_len) ||
	    rx_idx >= rx_len || tx_idx >= tx_len)
		return ss_fail(r, "saved state: section pcnet instance %u: register index or ring "
			       "out of range", instance);
	pthread_mutex_lock(&p->tx_lock);
	pthread_mutex_lock(&p->lock);
	net_rx_fifo_flush(&p->rxq);
	for (int i = 0; i < NREGS; i++) {
		p->csr[i] = get_le16(csr + 2 * i);
		p->bcr[i] = get_le16(bcr + 2 * i);
	}
	for (int i = 0; i < 32; i++)
		p->phy[i] = get_le16(phy + 2 * i);
	sws_write(p, p->bcr[BCR_SWS]); /* SSIZE32 as the style says */
	p->csr[CSR_CHIPID_LO] = CHIPID_LO;
	p->csr[CSR_CHIPID_HI] = CHIPID_HI;
	p->rap = rap;
	p->dwio = dwio;
	p->link_up = link_up;
	p->rx_base = rx_base;
	p->tx_base = tx_base;
	p->rx_len = rx_len;
	p->tx_len = tx_len;
	p->rx_idx = rx_idx;
	p->tx_idx = tx_idx;
	pci_config_apply(&p->pci, cfg);
	update_irq(p);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->tx_lock);
	return true;
}
