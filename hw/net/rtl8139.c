// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Realtek RTL8139C+ (10ec:8139 revision 0x20).
 *
 * The 256 register bytes live in one array; the ones with side effects
 * (CR, CAPR, ISR, the transmit status registers, TxPoll, 9346CR, TCTR,
 * MPC, the PHY's BMCR) are decoded per byte, and the read-only ones
 * (CBR, CR.BUFE, BMSR, MSR, TSAD, TCTR) are computed when read, so any
 * access width a driver uses works.
 *
 * Two ways to move frames, chosen by the driver:
 *  - C mode (8139too): transmit from one of four slots (TSADn, length in
 *    TSDn; writing TSDn sends it), receive into a ring buffer at RBSTART
 *    of 8, 16, 32 or 64 KiB: a 4-byte header (status, length with the
 *    CRC), the frame and its CRC, 4-byte aligned; CBR is where the card
 *    writes, CAPR + 16 where the driver reads. With RCR.WRAP a frame runs
 *    past the end (the driver's buffer has slack) instead of wrapping.
 *  - C+ mode (8139cp; CpCmd.CpTxOn / CpRxOn): descriptor rings of 16-byte
 *    descriptors (opts1 with OWN, RingEnd, First/LastFrag and the length;
 *    opts2 the VLAN tag; the 64-bit buffer address) at TNPDS (transmit,
 *    polled through TxPoll) and RDSAR (receive). Transmit may ask for the
 *    IP, TCP and UDP checksums or a large send (TCP segmentation of IPv4 at
 *    the descriptor's MSS); the card parses the headers itself and
 *    computes each checksum from scratch.
 *
 * Locks as in e1000.c: transmit runs within the doorbell's write (TSDn or
 * TxPoll), under tx_lock, one slot or descriptor at a time under the
 * register lock, dropped before net_send (the backend's thread calls
 * rtl8139_receive with its own lock held, and that takes the register
 * lock). Receive runs on the backend's thread; with no room the frame
 * waits in a 64-frame FIFO (include/net_rx_fifo.h) until the driver moves
 * CAPR (or the C+ ring gets buffers); beyond that the backend is refused,
 * MPC counts and RxOverflow is raised.
 *
 * Checks: a ring buffer or slot buffer outside guest RAM drops the frame;
 * a C+ ring stops at RingEnd or after RTL8139_CP_RING_MAX descriptors,
 * each doorbell handles at most that many, a packet over 64 KiB or with a
 * buffer outside RAM is dropped at its LastFrag; header offsets are
 * checked against the frame before any checksum or segmentation field is
 * touched. One log line per card for the first such event.
 *
 * TimerInt is checked when ISR or TCTR is read (there is no timer
 * thread): a driver polling for the TimeOut interrupt sees it, a driver
 * sleeping on it does not (neither 8139too nor 8139cp uses it).
 */
#include "hw/rtl8139.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net_rx_fifo.h"
#include "savestate.h"
#include "util.h"

/* ---- registers (RTL8139C+ data sheet, section 6) --------------------------- */

#define IDR0 0x00
#define MAR0 0x08
#define TSD0 0x10
#define TSAD0 0x20 /* C+: TNPDS (64 bits) at 0x20, THPDS at 0x28 */
#define TNPDS 0x20
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
#define CONFIG0 0x51
#define CONFIG1 0x52
#define TIMERINT 0x54
#define MSR 0x58
#define CONFIG3 0x59
#define CONFIG4 0x5A
#define MULINT 0x5C
#define TSAD 0x60
#define BMCR 0x62
#define BMSR 0x64
#define ANAR 0x66
#define ANLPAR 0x68
#define ANER 0x6A
#define CONFIG5 0xD8
#define TXPOLL 0xD9
#define RMS 0xDA /* the RTL8169's RxMaxSize: reserved on the 8139 */
#define CPCMD 0xE0
#define RDSAR 0xE4

#define CR_BUFE 0x01
#define CR_TE 0x04
#define CR_RE 0x08
#define CR_RST 0x10

#define INT_ROK 0x0001
#define INT_TOK 0x0004
#define INT_TER 0x0008
#define INT_RXOVW 0x0010 /* C+: Rx descriptor unavailable */
#define INT_LINKCHG 0x0020
#define INT_FOVW 0x0040
#define INT_TDU 0x0080   /* C+: Tx descriptor unavailable */
#define INT_SWINT 0x0100
#define INT_TIMEOUT 0x4000

#define TSD_SIZE 0x1FFF
#define TSD_OWN (1u << 13)
#define TSD_TOK (1u << 15)
#define TSD_TABT (1u << 30)

#define RCR_AAP (1u << 0)
#define RCR_APM (1u << 1)
#define RCR_AM (1u << 2)
#define RCR_AB (1u << 3)
#define RCR_WRAP (1u << 7)

#define RX_ROK 0x0001
#define RX_BAR 0x2000
#define RX_PAM 0x4000
#define RX_MAR 0x8000

/* TCR's hardware version bits (30:26, 23:22): RTL8139C+. */
#define TCR_HWVER_MASK 0x7CC00000u
#define TCR_HWVER_CPLUS 0x74800000u
#define TCR_HWVER_C 0x74000000u /* RTL8139C, without C+ (cplus=off) */

#define EE_DO 0x01
#define EE_DI 0x02
#define EE_SK 0x04
#define EE_CS 0x08
#define EEM_SHIFT 6
#define EEM_PROGRAM 2
#define EEM_CONFIG_WRITE 3

#define TXPOLL_NPQ 0x40
#define TXPOLL_FSWINT 0x01

#define CPCMD_TXON 0x0001
#define CPCMD_RXON 0x0002
#define CPCMD_RXVLAN 0x0040

/* C+ descriptor bits (opts1). */
#define DESC_OWN (1u << 31)
#define DESC_EOR (1u << 30)
#define DESC_FS (1u << 29)
#define DESC_LS (1u << 28)
#define TXD_LGSEN (1u << 27)
#define TXD_MSS_SHIFT 16
#define TXD_MSS_MASK 0x7FF
#define TXD_IPCS (1u << 18)
#define TXD_UDPCS (1u << 17)
#define TXD_TCPCS (1u << 16)
#define TXD_VLAN_TAG (1u << 17) /* opts2 */
#define RXD_VLAN_TAGGED (1u << 16) /* opts2 */

#define BMCR_RESET 0x8000
#define BMCR_RESTART_AN 0x0200
#define BMSR_LINK 0x0004
#define BMSR_AN_DONE 0x0020
#define MSR_LINKB 0x04

#define TX_SLOT_MAX 1792 /* the largest frame a C-mode slot takes */
#define TXBUF_MAX 65536  /* a C+ packet, large send included */
#define RX_MAX 1522      /* frames longer than this the card does not take */
#define ETH_MIN 60
#define VLAN_HLEN 4

struct rtl8139 {
	struct pci_device pci;
	const struct guest_mem *mem;
	struct net_backend *backend;
	uint8_t mac[6];
	uint32_t hwver;          /* TCR's version bits */
	uint16_t eeprom[RTL8139_EEPROM_WORDS];
	uint8_t *rom;            /* the option ROM image (romfile=), or NULL */
	int64_t (*clock)(void *opaque);
	void *clock_opaque;

	/* ---- under lock -------------------------------------------------------- */
	pthread_mutex_t lock;
	uint8_t r[RTL8139_REGS_SIZE];
	uint16_t cbr;
	uint32_t cp_rx_idx;
	int64_t tctr_base;        /* clock value when TCTR was 0 */
	bool link_up;
	/* 93C46: bits shifted in since the start bit, the word shifting out. */
	uint16_t ee_cmd;
	uint8_t ee_bits;
	bool ee_started, ee_reading;
	uint8_t ee_addr, ee_pos;
	bool ee_do;
	/* Frames without room yet; quiesced (paused or being saved), all
	 * received frames wait here, no register or guest memory changes. */
	struct net_rx_fifo rxq;
	uint8_t rxbuf[RX_MAX + 8];
	uint64_t rx_dropped, tx_dropped;
	bool warned;

	/* ---- under tx_lock (taken before lock) ----------------------------------- */
	pthread_mutex_t tx_lock;
	uint32_t cp_tx_idx;
	uint32_t txlen;
	bool tx_bad;
	uint32_t tx_opts1, tx_opts2; /* of the packet's first descriptor */
	uint8_t txbuf[TXBUF_MAX];
	uint8_t txseg[TXBUF_MAX + VLAN_HLEN];
};

static void complain(struct rtl8139 *n, const char *what)
{
	if (!__atomic_exchange_n(&n->warned, true, __ATOMIC_RELAXED))
		warn("rtl8139 %02x.%x: %s (further errors not logged)", n->pci.devfn >> 3,
		     n->pci.devfn & 7, what);
}

static uint16_t r16(const struct rtl8139 *n, unsigned off) { return get_le16(n->r + off); }
static uint32_t r32(const struct rtl8139 *n, unsigned off) { return get_le32(n->r + off); }
static void w16(struct rtl8139 *n, unsigned off, uint16_t v) { put_le16(n->r + off, v); }
static void w32(struct rtl8139 *n, unsigned off, uint32_t v) { put_le32(n->r + off, v); }

static bool cplus_tx(const struct rtl8139 *n) { return r16(n, CPCMD) & CPCMD_TXON; }
static bool cplus_rx(const struct rtl8139 *n) { return r16(n, CPCMD) & CPCMD_RXON; }

static bool bus_master(const struct rtl8139 *n)
{
	return pci_get_word(&n->pci, PCI_COMMAND) & PCI_COMMAND_MASTER;
}

/* ---- interrupts, timer ------------------------------------------------------ */

static void update_irq(struct rtl8139 *n)
{
	pci_set_irq(&n->pci, (r16(n, ISR) & r16(n, IMR)) != 0);
}

static void raise_cause(struct rtl8139 *n, uint16_t cause)
{
	w16(n, ISR, r16(n, ISR) | cause);
	update_irq(n);
}

static int64_t now_ns(struct rtl8139 *n)
{
	if (n->clock)
		return n->clock(n->clock_opaque);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* TCTR counts at the PCI clock, 33 MHz. */
static uint32_t tctr(struct rtl8139 *n)
{
	int64_t d = now_ns(n) - n->tctr_base;
	return (uint32_t)((uint64_t)(d > 0 ? d : 0) * 33 / 1000);
}

/* TimerInt: TimeOut once TCTR has reached it (0 turns it off). */
static void check_timer(struct rtl8139 *n)
{
	uint32_t limit = r32(n, TIMERINT);
	if (limit && tctr(n) >= limit && !(r16(n, ISR) & INT_TIMEOUT))
		raise_cause(n, INT_TIMEOUT);
}

/* ---- EEPROM (93C46, 64 words) ------------------------------------------------ */

static void eeprom_build(struct rtl8139 *n)
{
	uint16_t *w = n->eeprom;
	memset(n->eeprom, 0, sizeof(n->eeprom));
	w[0] = 0x8129;                 /* the 8139's signature (and its size test) */
	w[1] = 0x10EC;
	w[2] = 0x8139;
	w[3] = 0x10EC;                 /* subsystem */
	w[4] = 0x8139;
	w[5] = 0x4020;                 /* PCI min grant / max latency */
	w[6] = 0xE112;                 /* CONFIG3/CONFIG4 defaults... and CONFIG0/1 */
	for (int i = 0; i < 3; i++)
		w[7 + i] = (uint16_t)(n->mac[2 * i] | n->mac[2 * i + 1] << 8);
	w[10] = 0x4D10;                /* PHY parameters */
	w[12] = 0xF7C2;
}

/* The pins as the driver drives them in programming mode: a READ
 * (start bit, opcode 10, 6 address bits; leading zeros before the start
 * bit are ignored, as on the part) is clocked in on rising SK, then the
 * words come out on DO, most significant bit first. */
static void eeprom_pins(struct rtl8139 *n, uint8_t v)
{
	uint8_t old = n->r[CR9346];

	if (!(v & EE_CS)) {
		n->ee_bits = 0;
		n->ee_cmd = 0;
		n->ee_started = n->ee_reading = false;
		n->ee_do = false;
		return;
	}
	if (!(v & EE_SK) || (old & EE_SK))
		return; /* not a rising edge */
	if (n->ee_reading) {
		n->ee_do = (n->eeprom[n->ee_addr] >> (15 - n->ee_pos)) & 1;
		if (++n->ee_pos == 16) {
			n->ee_pos = 0;
			n->ee_addr = (n->ee_addr + 1) % RTL8139_EEPROM_WORDS;
		}
		return;
	}
	if (!n->ee_started) {
		n->ee_started = (v & EE_DI) != 0;
		return;
	}
	if (n->ee_bits >= 8)
		return; /* an opcode we do not act on: wait for CS to drop */
	n->ee_cmd = (uint16_t)(n->ee_cmd << 1 | !!(v & EE_DI));
	if (++n->ee_bits == 8 && (n->ee_cmd >> 6) == 2) {
		n->ee_reading = true;
		n->ee_addr = n->ee_cmd & (RTL8139_EEPROM_WORDS - 1);
		n->ee_pos = 0;
		n->ee_do = false; /* the dummy zero */
	}
}

static void cr9346_write(struct rtl8139 *n, uint8_t v)
{
	if ((v >> EEM_SHIFT) == EEM_PROGRAM)
		eeprom_pins(n, v);
	else
		eeprom_pins(n, 0);
	n->r[CR9346] = v & 0xCE; /* EEM, CS, SK, DI; DO is the EEPROM's */
}

static uint8_t cr9346_read(struct rtl8139 *n)
{
	return (uint8_t)(n->r[CR9346] | (n->ee_do ? EE_DO : 0));
}

/* ---- the PHY ------------------------------------------------------------------ */

static uint16_t bmsr(const struct rtl8139 *n)
{
	uint16_t v = 0x7809; /* 100/10 full/half, autonegotiation, extended */
	return n->link_up ? v | BMSR_LINK | BMSR_AN_DONE : v;
}

static void phy_reset(struct rtl8139 *n)
{
	w16(n, BMCR, 0x3100); /* 100 Mbit/s, autonegotiation, full duplex */
	w16(n, ANAR, 0x05E1);
	w16(n, ANLPAR, 0x45E1);
	w16(n, ANER, 0x0001);
}

static void bmcr_write(struct rtl8139 *n, uint16_t v)
{
	if (v & BMCR_RESET) {
		phy_reset(n);
		return;
	}
	w16(n, BMCR, v & (uint16_t)~BMCR_RESTART_AN); /* autonegotiation finishes at once */
}

/* ---- receive --------------------------------------------------------------- */

static uint32_t crc32_le_raw(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFF;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return crc;
}

/* The multicast filter's bit: the top 6 bits of the destination's
 * big-endian CRC-32. */
static unsigned mar_bit(const uint8_t *dst)
{
	uint32_t crc = crc32_le_raw(dst, 6), rev = 0;
	for (int i = 0; i < 32; i++)
		rev |= ((crc >> i) & 1) << (31 - i);
	return rev >> 26;
}

/* The receive status bits for an accepted frame, or 0 to drop it. */
static uint16_t rx_filter(const struct rtl8139 *n, const uint8_t *dst)
{
	uint32_t rcr = r32(n, RCR);
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

	if (!memcmp(dst, bcast, 6))
		return rcr & (RCR_AB | RCR_AAP) ? RX_BAR : 0;
	if (dst[0] & 1) {
		unsigned b = mar_bit(dst);
		bool hit = (n->r[MAR0 + b / 8] >> (b % 8)) & 1;
		return (rcr & RCR_AAP) || ((rcr & RCR_AM) && hit) ? RX_MAR : 0;
	}
	if (!memcmp(dst, n->r + IDR0, 6))
		return rcr & (RCR_APM | RCR_AAP) ? RX_PAM : 0;
	return rcr & RCR_AAP ? RX_PAM : 0;
}

static unsigned rx_ring_size(const struct rtl8139 *n)
{
	return 8192u << ((r32(n, RCR) >> 11) & 3);
}

/* Free bytes of the C-mode ring: up to the driver's read pointer. */
static uint32_t ring_room(const struct rtl8139 *n, uint32_t size)
{
	uint32_t rd = (uint32_t)(r16(n, CAPR) + 16) % size, wr = n->cbr % size;
	return (rd + size - wr - 1) % size;
}

static bool buffer_empty(const struct rtl8139 *n)
{
	return (uint32_t)(r16(n, CAPR) + 16) % rx_ring_size(n) == n->cbr % rx_ring_size(n);
}

/* C mode: 1 done (written or dropped), 0 no room yet. */
static int rx_ring_buffer(struct rtl8139 *n, const uint8_t *p, size_t len, uint16_t status)
{
	uint32_t size = rx_ring_size(n), need = (uint32_t)(len + 4 + 3) & ~3u;
	uint64_t base = r32(n, RBSTART);
	bool nowrap = (r32(n, RCR) & RCR_WRAP) && size < 65536;
	/* What the card may touch: the ring, and with WRAP a frame past its end. */
	uint64_t span = (uint64_t)size + (nowrap ? 16 + RX_MAX + 8 : 0);

	if (!guest_ptr(n->mem, base, span)) {
		complain(n, "receive buffer outside guest RAM: frame dropped");
		n->rx_dropped++;
		return 1;
	}
	if (ring_room(n, size) < need) {
		/* "Rx buffer overflow": the ring's room is exhausted. The frame
		 * waits in the FIFO, but the driver must hear of it: 8139too
		 * acks ROK after each CAPR write (which drains the FIFO) and
		 * ends a NAPI pass at its budget with ROK clear, so without this
		 * interrupt a full ring is never read again. */
		raise_cause(n, INT_RXOVW);
		return 0;
	}
	uint8_t hdr[4];
	put_le16(hdr, status | RX_ROK);
	put_le16(hdr + 2, (uint16_t)len);
	uint32_t at = n->cbr % size;
	for (size_t done = 0; done < len + 4;) {
		const uint8_t *src = done < 4 ? hdr + done : p + done - 4;
		size_t chunk = done < 4 ? 4 - done : len - (done - 4);
		if (!nowrap)
			chunk = MIN(chunk, size - at);
		guest_write(n->mem, base + at, src, chunk);
		done += chunk;
		at += (uint32_t)chunk;
		if (!nowrap && at == size)
			at = 0;
	}
	n->cbr = (uint16_t)((n->cbr % size + need) % size);
	return 1;
}

/* C+ mode: the frame over as many descriptors as it needs (counted
 * first, so a frame is never half written). 1 done, 0 no buffers yet. */
static int rx_descriptors(struct rtl8139 *n, const uint8_t *p, size_t len, uint16_t vlan,
			  bool tagged)
{
	uint64_t base = (uint64_t)r32(n, RDSAR + 4) << 32 | r32(n, RDSAR);
	uint32_t idx = n->cp_rx_idx, ndesc = 0;
	size_t room = 0;

	while (room < len) {
		uint8_t *d = guest_ptr(n->mem, base + (uint64_t)idx * 16, 16);
		if (!d) {
			complain(n, "receive descriptor outside guest RAM: frame dropped");
			n->rx_dropped++;
			return 1;
		}
		uint32_t opts1 = get_le32(d);
		if (!(opts1 & DESC_OWN) || ndesc == RTL8139_CP_RING_MAX) {
			if (ndesc == RTL8139_CP_RING_MAX) {
				complain(n, "receive ring too small for a frame: dropped");
				n->rx_dropped++;
				return 1;
			}
			raise_cause(n, INT_RXOVW); /* descriptor unavailable */
			return 0;
		}
		room += opts1 & 0x1FFF;
		ndesc++;
		idx = opts1 & DESC_EOR ? 0 : (idx + 1) % RTL8139_CP_RING_MAX;
	}
	idx = n->cp_rx_idx;
	size_t done = 0;
	for (uint32_t i = 0; i < ndesc; i++) {
		uint8_t *d = guest_ptr(n->mem, base + (uint64_t)idx * 16, 16);
		uint32_t opts1 = get_le32(d);
		size_t chunk = MIN((size_t)(opts1 & 0x1FFF), len - done);
		if (chunk && !guest_write(n->mem, get_le64(d + 8), p + done, chunk))
			complain(n, "receive buffer outside guest RAM");
		done += chunk;
		bool last = i == ndesc - 1;
		uint32_t status = (opts1 & DESC_EOR) | (i == 0 ? DESC_FS : 0) |
				  (last ? DESC_LS | (uint32_t)len : (uint32_t)chunk);
		put_le32(d + 4, tagged ? RXD_VLAN_TAGGED | (uint16_t)(vlan >> 8 | vlan << 8) : 0);
		put_le32(d, status); /* OWN cleared: the driver's again */
		idx = opts1 & DESC_EOR ? 0 : (idx + 1) % RTL8139_CP_RING_MAX;
	}
	n->cp_rx_idx = idx;
	return 1;
}

/* One frame from the wire (no CRC yet): filtered, then into the guest.
 * 1 done, 0 no room. Lock held. */
static int rx_deliver(struct rtl8139 *n, const uint8_t *frame, size_t len)
{
	bool cplus = cplus_rx(n);
	uint16_t status, vlan = 0;
	bool tagged = false;
	uint8_t *p = n->rxbuf;

	if (!(n->r[CR] & CR_RE) || !n->link_up || !bus_master(n) || len < NET_MIN_FRAME ||
	    len + 4 > RX_MAX)
		return 1;
	status = rx_filter(n, frame);
	if (!status)
		return 1;
	memcpy(p, frame, len);
	if (cplus && (r16(n, CPCMD) & CPCMD_RXVLAN) && len >= 18 && get_be16(p + 12) == 0x8100) {
		vlan = get_be16(p + 14);
		tagged = true;
		memmove(p + 12, p + 16, len - 16);
		len -= VLAN_HLEN;
	}
	if (len < ETH_MIN) {
		memset(p + len, 0, ETH_MIN - len);
		len = ETH_MIN;
	}
	put_le32(p + len, ~crc32_le_raw(p, len)); /* the FCS */
	len += 4;
	int r = cplus ? rx_descriptors(n, p, len, vlan, tagged) : rx_ring_buffer(n, p, len, status);
	if (r == 1)
		raise_cause(n, INT_ROK);
	return r;
}

/* The FIFO's way into the card. Lock held. */
static int rx_deliver_held(void *opaque, const uint8_t *frame, size_t len)
{
	return rx_deliver(opaque, frame, len);
}

bool rtl8139_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len)
{
	struct rtl8139 *n = opaque;
	uint8_t *copy;

	if (len < NET_MIN_FRAME || len > RX_MAX)
		return true;
	frame = net_rx_plain(hdr, frame, len, &copy);
	if (!frame)
		return true; /* dropped, as a wire would */
	pthread_mutex_lock(&n->lock);
	/* Held frames go first (a C+ ring has no doorbell: the driver may
	 * have made room without telling us). */
	bool ready;
	enum net_rx_verdict v = net_rx_fifo_offer(&n->rxq, frame, len, &ready);
	if (v == NET_RX_REFUSED && !net_rx_fifo_quiesced(&n->rxq)) {
		w32(n, MPC, (r32(n, MPC) + 1) & 0xFFFFFF); /* missed: the FIFO is full */
		raise_cause(n, cplus_rx(n) ? INT_FOVW : INT_RXOVW);
	}
	pthread_mutex_unlock(&n->lock);
	free(copy);
	if (ready)
		net_rx_ready(n->backend);
	return net_rx_taken(v);
}

/* ---- checksums and segmentation (C+ transmit) -------------------------------- */

static uint32_t csum_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Where an IPv4 packet's headers are in a frame: false if it is not one
 * or a header runs past the frame. */
struct ip_layout {
	size_t l3, l4, ihl;
	uint8_t proto;
};

static bool parse_ipv4(const uint8_t *f, size_t len, struct ip_layout *ip)
{
	size_t l3 = 14;
	if (len >= 18 && get_be16(f + 12) == 0x8100)
		l3 = 18;
	if (len < l3 + 20 || get_be16(f + l3 - 2) != 0x0800 || (f[l3] >> 4) != 4)
		return false;
	ip->l3 = l3;
	ip->ihl = (size_t)(f[l3] & 0xF) * 4;
	ip->l4 = l3 + ip->ihl;
	ip->proto = f[l3 + 9];
	return ip->ihl >= 20 && ip->l4 <= len;
}

static void ip_checksum(uint8_t *f, const struct ip_layout *ip)
{
	put_be16(f + ip->l3 + 10, 0);
	put_be16(f + ip->l3 + 10, csum_fold(csum_sum(f + ip->l3, ip->ihl, 0)));
}

/* TCP or UDP checksum from scratch, over the pseudo-header. */
static void l4_checksum(uint8_t *f, size_t len, const struct ip_layout *ip)
{
	size_t l4len = len - ip->l4, at = ip->proto == 6 ? 16 : 6;
	if (l4len < at + 2 || (ip->proto != 6 && ip->proto != 17))
		return;
	put_be16(f + ip->l4 + at, 0);
	uint32_t sum = csum_sum(f + ip->l3 + 12, 8, 0) + ip->proto + (uint32_t)l4len;
	uint16_t c = csum_fold(csum_sum(f + ip->l4, l4len, sum));
	if (ip->proto == 17 && c == 0)
		c = 0xFFFF;
	put_be16(f + ip->l4 + at, c);
}

static void tx_send(struct rtl8139 *n, uint8_t *f, size_t len, uint32_t *sent)
{
	if (len < ETH_MIN) {
		memset(f + len, 0, ETH_MIN - len); /* the card pads short frames */
		len = ETH_MIN;
	}
	static const struct net_hdr none;
	net_send(n->backend, &none, f, len);
	(*sent)++;
}

/* Large send: IPv4 TCP cut at 'mss' behind a copy of the headers. */
static void tx_large_send(struct rtl8139 *n, size_t total, unsigned mss, uint32_t *sent)
{
	struct ip_layout ip;
	if (!parse_ipv4(n->txseg, total, &ip) || ip.proto != 6 || total < ip.l4 + 20) {
		complain(n, "large send of something other than IPv4 TCP: dropped");
		n->tx_dropped++;
		return;
	}
	size_t hl = ip.l4 + (size_t)(n->txseg[ip.l4 + 12] >> 4) * 4;
	if (!mss || hl < ip.l4 + 20 || hl >= total) {
		complain(n, "large send with a bad TCP header or MSS: dropped");
		n->tx_dropped++;
		return;
	}
	/* The packet moves to txbuf (free: it was copied out), segments are
	 * built in txseg. */
	memcpy(n->txbuf, n->txseg, total);
	uint16_t id = get_be16(n->txbuf + ip.l3 + 4);
	uint32_t seq = get_be32(n->txbuf + ip.l4 + 4);
	for (size_t off = hl, i = 0; off < total; off += mss, i++) {
		size_t plen = MIN((size_t)mss, total - off), len = hl + plen;
		uint8_t *f = n->txseg;
		memcpy(f, n->txbuf, hl);
		memcpy(f + hl, n->txbuf + off, plen);
		put_be16(f + ip.l3 + 2, (uint16_t)(len - ip.l3));
		put_be16(f + ip.l3 + 4, (uint16_t)(id + i));
		put_be32(f + ip.l4 + 4, seq + (uint32_t)(off - hl));
		if (off + plen < total)
			f[ip.l4 + 13] &= (uint8_t)~0x09; /* FIN, PSH: last segment only */
		ip_checksum(f, &ip);
		l4_checksum(f, len, &ip);
		tx_send(n, f, len, sent);
	}
}

/* A finished packet (tx_lock held, lock not): offloads, tag, out. */
static void tx_emit(struct rtl8139 *n, size_t len, uint32_t opts1, uint32_t opts2)
{
	uint32_t sent = 0;
	uint8_t *f = n->txseg;

	/* Link down: the slot or descriptor completes, the frame is lost on
	 * the wire. */
	pthread_mutex_lock(&n->lock);
	bool link_up = n->link_up;
	pthread_mutex_unlock(&n->lock);
	if (!link_up)
		return;
	memcpy(f, n->txbuf, len);
	if (opts2 & TXD_VLAN_TAG) {
		memmove(f + 16, f + 12, len - 12);
		put_be16(f + 12, 0x8100);
		put_be16(f + 14, (uint16_t)((opts2 & 0xFF) << 8 | (opts2 >> 8 & 0xFF)));
		len += VLAN_HLEN;
	}
	if (opts1 & TXD_LGSEN) {
		tx_large_send(n, len, (opts1 >> TXD_MSS_SHIFT) & TXD_MSS_MASK, &sent);
	} else {
		struct ip_layout ip;
		if ((opts1 & (TXD_IPCS | TXD_TCPCS | TXD_UDPCS)) && parse_ipv4(f, len, &ip)) {
			if (opts1 & TXD_IPCS)
				ip_checksum(f, &ip);
			if (((opts1 & TXD_TCPCS) && ip.proto == 6) ||
			    ((opts1 & TXD_UDPCS) && ip.proto == 17))
				l4_checksum(f, len, &ip);
		}
		if (len <= NET_MAX_FRAME)
			tx_send(n, f, len, &sent);
		else
			n->tx_dropped++;
	}
	(void)sent;
}

/* ---- transmit: C mode ---------------------------------------------------------- */

/* TSDn was written: send slot n (tx_lock held). */
static void tx_slot(struct rtl8139 *n, unsigned slot)
{
	pthread_mutex_lock(&n->lock);
	uint32_t tsd = r32(n, TSD0 + 4 * slot);
	size_t len = tsd & TSD_SIZE;
	bool ok = (n->r[CR] & CR_TE) && !(tsd & TSD_OWN) && !cplus_tx(n) && bus_master(n);
	if (!ok) {
		pthread_mutex_unlock(&n->lock);
		return;
	}
	if (len < NET_MIN_FRAME || len > TX_SLOT_MAX ||
	    !guest_read(n->mem, r32(n, TSAD0 + 4 * slot), n->txbuf, len)) {
		complain(n, "transmit slot with a bad length or a buffer outside guest RAM");
		n->tx_dropped++;
		w32(n, TSD0 + 4 * slot, tsd | TSD_OWN | TSD_TABT);
		raise_cause(n, INT_TER);
		pthread_mutex_unlock(&n->lock);
		return;
	}
	pthread_mutex_unlock(&n->lock);
	tx_emit(n, len, 0, 0);
	pthread_mutex_lock(&n->lock);
	/* The slot is done (unless the driver reused it meanwhile). */
	if (r32(n, TSD0 + 4 * slot) == tsd) {
		w32(n, TSD0 + 4 * slot, tsd | TSD_OWN | TSD_TOK);
		raise_cause(n, INT_TOK);
	}
	pthread_mutex_unlock(&n->lock);
}

/* ---- transmit: C+ mode ---------------------------------------------------------- */

static void tx_reset_packet(struct rtl8139 *n)
{
	n->txlen = 0;
	n->tx_bad = false;
	n->tx_opts1 = n->tx_opts2 = 0;
}

/* One descriptor (tx_lock and lock held). Returns true at LastFrag. */
static bool cp_tx_descriptor(struct rtl8139 *n, uint8_t *d)
{
	uint32_t opts1 = get_le32(d), len = opts1 & 0xFFFF;

	if (opts1 & DESC_FS) {
		tx_reset_packet(n);
		n->tx_opts1 = opts1;
		n->tx_opts2 = get_le32(d + 4);
	}
	if (!n->tx_bad && len) {
		if (len > TXBUF_MAX - VLAN_HLEN - n->txlen) {
			complain(n, "transmit packet longer than 64 KiB: dropped");
			n->tx_bad = true;
		} else if (!guest_read(n->mem, get_le64(d + 8), n->txbuf + n->txlen, len)) {
			complain(n, "transmit buffer outside guest RAM: packet dropped");
			n->tx_bad = true;
		} else {
			n->txlen += len;
		}
	}
	put_le32(d, opts1 & ~DESC_OWN); /* handed back */
	return opts1 & DESC_LS;
}

/* TxPoll NPQ: the normal-priority ring from where the card stopped, until
 * a descriptor the driver does not own, at most one ring's worth. */
static void cp_tx_run(struct rtl8139 *n)
{
	bool any = false;

	pthread_mutex_lock(&n->tx_lock);
	for (unsigned budget = RTL8139_CP_RING_MAX; budget; budget--) {
		pthread_mutex_lock(&n->lock);
		uint64_t base = (uint64_t)r32(n, TNPDS + 4) << 32 | r32(n, TNPDS);
		uint8_t *d = guest_ptr(n->mem, base + (uint64_t)n->cp_tx_idx * 16, 16);
		if (!cplus_tx(n) || !(n->r[CR] & CR_TE) || !bus_master(n)) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		if (!d) {
			complain(n, "transmit descriptor outside guest RAM: ring stopped");
			pthread_mutex_unlock(&n->lock);
			break;
		}
		uint32_t opts1 = get_le32(d);
		if (!(opts1 & DESC_OWN)) {
			raise_cause(n, INT_TDU);
			pthread_mutex_unlock(&n->lock);
			break;
		}
		bool last = cp_tx_descriptor(n, d);
		n->cp_tx_idx = opts1 & DESC_EOR ? 0 : (n->cp_tx_idx + 1) % RTL8139_CP_RING_MAX;
		pthread_mutex_unlock(&n->lock);
		if (last) {
			if (n->tx_bad || n->txlen < NET_MIN_FRAME)
				n->tx_dropped++;
			else
				tx_emit(n, n->txlen, n->tx_opts1, n->tx_opts2);
			tx_reset_packet(n);
			any = true;
		}
	}
	pthread_mutex_unlock(&n->tx_lock);
	if (any) {
		pthread_mutex_lock(&n->lock);
		raise_cause(n, INT_TOK);
		pthread_mutex_unlock(&n->lock);
	}
}

/* ---- reset ------------------------------------------------------------------ */

/* Registers to their power-on values (the EEPROM's MAC in IDR). Lock held. */
static void regs_reset(struct rtl8139 *n)
{
	uint8_t keep9346 = n->r[CR9346];
	memset(n->r, 0, sizeof(n->r));
	memcpy(n->r + IDR0, n->mac, 6);
	for (unsigned i = 0; i < 4; i++)
		w32(n, TSD0 + 4 * i, TSD_OWN);
	n->r[CR] = 0;
	w16(n, CAPR, 0xFFF0);
	w32(n, TCR, n->hwver);
	n->r[CONFIG1] = 0x0D;
	n->r[CONFIG3] = 0x40;
	n->r[CONFIG4] = 0x80;
	n->r[CONFIG5] = 0x00;
	w16(n, 0xDA, 0x0600);  /* RxMaxSize */
	n->r[0xEC] = 0x06;     /* TxThresh */
	n->r[CR9346] = keep9346 & 0xC0;
	phy_reset(n);
	n->cbr = 0;
	n->cp_rx_idx = 0;
	n->tctr_base = now_ns(n);
	net_rx_fifo_flush(&n->rxq);
	update_irq(n);
}

/* CR.RST or a machine reset. tx_lock and lock held. */
static void device_reset(struct rtl8139 *n)
{
	n->cp_tx_idx = 0;
	tx_reset_packet(n);
	regs_reset(n);
}

/* ---- register access ---------------------------------------------------------- */

/* A byte as the driver reads it. Lock held. */
/* Offsets the RTL8139C+ leaves reserved: they read 0 and keep no write.
 * Drivers probe them: iPXE's realtek driver writes the RTL8169's RxMaxSize
 * (0xDA) and takes a card that reads it back for an 8169, whose PHY it
 * then reaches through registers this card does not have. */
static bool reserved(unsigned off)
{
	return off == 0x06 || off == 0x07 || (off >= RMS && off <= 0xDF);
}

static uint8_t read_byte(struct rtl8139 *n, unsigned off)
{
	if (reserved(off))
		return 0;
	switch (off) {
	case CR:
		return (uint8_t)((n->r[CR] & (CR_RE | CR_TE)) | (buffer_empty(n) ? CR_BUFE : 0));
	case CBR:
	case CBR + 1:
		return (uint8_t)(n->cbr >> (8 * (off - CBR)));
	case ISR:
		check_timer(n);
		return n->r[ISR];
	case TCTR:
	case TCTR + 1:
	case TCTR + 2:
	case TCTR + 3:
		check_timer(n);
		return (uint8_t)(tctr(n) >> (8 * (off - TCTR)));
	case TCR + 3:
	case TCR + 2: {
		uint32_t v = (r32(n, TCR) & ~TCR_HWVER_MASK) | n->hwver;
		return (uint8_t)(v >> (8 * (off - TCR)));
	}
	case CR9346:
		return cr9346_read(n);
	case MSR:
		return (uint8_t)(n->r[MSR] | (n->link_up ? 0 : MSR_LINKB));
	case BMSR:
	case BMSR + 1:
		return (uint8_t)(bmsr(n) >> (8 * (off - BMSR)));
	case TSAD:
	case TSAD + 1: {
		/* TOK, TABT, TUN and OWN of the four slots, gathered. */
		uint16_t v = 0;
		for (unsigned i = 0; i < 4; i++) {
			uint32_t t = r32(n, TSD0 + 4 * i);
			v |= (uint16_t)(((t >> 15) & 1) << (12 + i) | ((t >> 30) & 1) << (8 + i) |
					((t >> 14) & 1) << (4 + i) | ((t >> 13) & 1) << i);
		}
		return (uint8_t)(v >> (8 * (off - TSAD)));
	}
	case TXPOLL:
		return 0;
	default:
		return n->r[off];
	}
}

static bool config_unlocked(const struct rtl8139 *n)
{
	return (n->r[CR9346] >> EEM_SHIFT) == EEM_CONFIG_WRITE;
}

/* What a write leaves to do once the lock is dropped. */
#define WORK_TX_SLOT(i) (1u << (i))
#define WORK_CP_TX 0x10
#define WORK_RESET 0x20
#define WORK_RX 0x40

/* One byte of a write. Lock held. */
static unsigned write_byte(struct rtl8139 *n, unsigned off, uint8_t v)
{
	if (reserved(off))
		return 0;
	switch (off) {
	case CR:
		if (v & CR_RST)
			return WORK_RESET;
		n->r[CR] = v & (CR_RE | CR_TE);
		return WORK_RX;
	case CAPR:
	case CAPR + 1:
		n->r[off] = v;
		return WORK_RX;
	case CBR:
	case CBR + 1:
	case MSR:
	case BMSR:
	case BMSR + 1:
	case ANLPAR:
	case ANLPAR + 1:
	case ANER:
	case ANER + 1:
	case TSAD:
	case TSAD + 1:
		return 0; /* read-only */
	case ISR:
	case ISR + 1:
		n->r[off] &= (uint8_t)~v;
		return WORK_RX; /* 8139cp acks after refilling its ring */
	case TCTR:
	case TCTR + 1:
	case TCTR + 2:
	case TCTR + 3:
		n->tctr_base = now_ns(n); /* any write starts it from 0 */
		return 0;
	case MPC:
	case MPC + 1:
	case MPC + 2:
	case MPC + 3:
		w32(n, MPC, 0);
		return 0;
	case TCR + 2:
	case TCR + 3:
		n->r[off] = v; /* the version bits are put back when read */
		return 0;
	case CR9346:
		cr9346_write(n, v);
		return 0;
	case CONFIG0:
	case CONFIG1:
	case CONFIG3:
	case CONFIG4:
	case CONFIG5:
		if (config_unlocked(n))
			n->r[off] = v;
		return 0;
	case TXPOLL:
		if (v & TXPOLL_FSWINT)
			raise_cause(n, INT_SWINT);
		return v & TXPOLL_NPQ ? WORK_CP_TX : 0;
	case RCR:
	case RCR + 1:
	case RCR + 2:
	case RCR + 3:
		n->r[off] = v;
		return WORK_RX;
	default:
		if (off >= TNPDS && off < TNPDS + 8)
			n->cp_tx_idx = 0; /* a new ring starts at its first descriptor */
		if (off >= RDSAR && off < RDSAR + 8)
			n->cp_rx_idx = 0;
		n->r[off] = v;
		return off >= TSD0 && off < TSD0 + 16 ? WORK_TX_SLOT((off - TSD0) / 4) : 0;
	}
}

static uint64_t reg_read(void *opaque, uint64_t addr, unsigned size)
{
	struct rtl8139 *n = opaque;
	uint64_t v = 0;
	pthread_mutex_lock(&n->lock);
	for (unsigned i = 0; i < size && addr + i < RTL8139_REGS_SIZE; i++)
		v |= (uint64_t)read_byte(n, (unsigned)addr + i) << (8 * i);
	pthread_mutex_unlock(&n->lock);
	return v;
}

/* The slots this write filled and the C+ ring it polled, lock not held. */
static void tx_run(struct rtl8139 *n, unsigned work)
{
	for (unsigned i = 0; i < 4; i++) {
		if (work & WORK_TX_SLOT(i)) {
			pthread_mutex_lock(&n->tx_lock);
			tx_slot(n, i);
			pthread_mutex_unlock(&n->tx_lock);
		}
	}
	if (work & WORK_CP_TX)
		cp_tx_run(n);
}

static void reg_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
	struct rtl8139 *n = opaque;
	unsigned work = 0;
	bool refused = false;

	pthread_mutex_lock(&n->lock);
	for (unsigned i = 0; i < size && addr + i < RTL8139_REGS_SIZE; i++)
		work |= write_byte(n, (unsigned)addr + i, (uint8_t)(val >> (8 * i)));
	if (addr <= BMCR + 1 && addr + size > BMCR)
		bmcr_write(n, r16(n, BMCR));
	update_irq(n);
	if (work & WORK_RX)
		refused = net_rx_fifo_drain(&n->rxq);
	pthread_mutex_unlock(&n->lock);
	if (refused)
		net_rx_ready(n->backend);
	if (work & WORK_RESET) {
		pthread_mutex_lock(&n->tx_lock);
		pthread_mutex_lock(&n->lock);
		device_reset(n);
		pthread_mutex_unlock(&n->lock);
		pthread_mutex_unlock(&n->tx_lock);
		return;
	}
	tx_run(n, work);
}

static const struct io_ops reg_ops = {
	.read = reg_read, .write = reg_write, .min_size = 1, .max_size = 4,
};

/* ---- lifecycle ------------------------------------------------------------------ */

static void pci_reset(struct pci_device *d)
{
	struct rtl8139 *n = d->opaque;
	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->lock);
	n->r[CR9346] = 0;
	device_reset(n);
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_unlock(&n->tx_lock);
}

struct rtl8139 *rtl8139_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			       const uint8_t mac[6], bool cplus, struct net_backend *backend,
			       uint8_t *rom, size_t rom_len, int64_t (*clock)(void *opaque),
			       void *clock_opaque)
{
	struct rtl8139 *n = xzalloc(sizeof(*n));

	n->mem = mem;
	n->backend = backend;
	n->clock = clock;
	n->clock_opaque = clock_opaque;
	n->link_up = true;
	n->hwver = cplus ? TCR_HWVER_CPLUS : TCR_HWVER_C;
	memcpy(n->mac, mac, 6);
	pthread_mutex_init(&n->lock, NULL);
	net_rx_fifo_init(&n->rxq, RTL8139_RX_PENDING, rx_deliver_held, n);
	pthread_mutex_init(&n->tx_lock, NULL);
	eeprom_build(n);
	/* Linux's 8139too leaves revision 0x20 and up to 8139cp. */
	pci_device_init(&n->pci, "rtl8139", 0x10EC, 0x8139, 0x020000, cplus ? 0x20 : 0x10);
	pci_set_word(&n->pci, PCI_SUBSYSTEM_VENDOR_ID, 0x10EC);
	pci_set_word(&n->pci, PCI_SUBSYSTEM_ID, 0x8139);
	pci_device_set_bar(&n->pci, 0, PCI_BAR_IO, false, RTL8139_REGS_SIZE, &reg_ops, n);
	pci_device_set_bar(&n->pci, 1, PCI_BAR_MEM32, false, RTL8139_REGS_SIZE, &reg_ops, n);
	pci_device_set_interrupt_pin(&n->pci, 1);
	if (rom) {
		n->rom = rom;
		pci_device_set_rom(&n->pci, rom, rom_len);
	}
	n->pci.opaque = n;
	n->pci.reset = pci_reset;
	regs_reset(n);
	if (pci_register(bus, &n->pci, devfn) < 0) {
		rtl8139_destroy(n);
		return NULL;
	}
	return n;
}

struct pci_device *rtl8139_pci(struct rtl8139 *n)
{
	return &n->pci;
}

void rtl8139_destroy(struct rtl8139 *n)
{
	if (!n)
		return;
	net_rx_fifo_flush(&n->rxq);
	pci_device_release(&n->pci);
	free(n->rom);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->tx_lock);
	free(n);
}

void rtl8139_quiesce(struct rtl8139 *n)
{
	pthread_mutex_lock(&n->lock);
	net_rx_fifo_quiesce(&n->rxq);
	pthread_mutex_unlock(&n->lock);
}

/* Frames that arrived meanwhile go in first, in order. */
void rtl8139_resume(struct rtl8139 *n)
{
	pthread_mutex_lock(&n->lock);
	bool refused = net_rx_fifo_resume(&n->rxq);
	pthread_mutex_unlock(&n->lock);
	if (refused)
		net_rx_ready(n->backend);
}

struct net_backend *rtl8139_backend(struct rtl8139 *n)
{
	return n->backend;
}

bool rtl8139_link(struct rtl8139 *n)
{
	pthread_mutex_lock(&n->lock);
	bool up = n->link_up;
	pthread_mutex_unlock(&n->lock);
	return up;
}

void rtl8139_set_link(struct rtl8139 *n, bool up)
{
	pthread_mutex_lock(&n->lock);
	if (n->link_up != up) {
		n->link_up = up;
		raise_cause(n, INT_LINKCHG);
	}
	pthread_mutex_unlock(&n->lock);
}

void rtl8139_stats(struct rtl8139 *n, uint64_t *rx_dropped, uint64_t *tx_dropped)
{
	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->lock);
	*rx_dropped = n->rx_dropped;
	*tx_dropped = n->tx_dropped;
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_unlock(&n->tx_lock);
}

/* ---- saved state ---------------------------------------------------------------- */

/*
 * Section "rtl8139" v1: PCI configuration, MAC (must be this card's), the
 * 256 register bytes, CBR, the C+ ring positions, TCTR (as its count),
 * link, the EEPROM wires and a C+ packet half built. Held receive frames
 * are not saved (lost on the wire, to the guest).
 */
void rtl8139_save(struct rtl8139 *n, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->lock);
	ss_section_begin(w, "rtl8139", instance, 1);
	pci_config_put(w, &n->pci);
	ss_put_bytes(w, "mac", n->mac, 6);
	ss_put_bytes(w, "regs", n->r, sizeof(n->r));
	ss_put_u16(w, "cbr", n->cbr);
	ss_put_u32(w, "cp_rx_idx", n->cp_rx_idx);
	ss_put_u32(w, "cp_tx_idx", n->cp_tx_idx);
	ss_put_u32(w, "tctr", tctr(n));
	ss_put_bool(w, "link_up", n->link_up);
	ss_put_u16(w, "ee_cmd", n->ee_cmd);
	ss_put_u8(w, "ee_bits", n->ee_bits);
	ss_put_bool(w, "ee_started", n->ee_started);
	ss_put_bool(w, "ee_reading", n->ee_reading);
	ss_put_u8(w, "ee_addr", n->ee_addr);
	ss_put_u8(w, "ee_pos", n->ee_pos);
	ss_put_bool(w, "ee_do", n->ee_do);
	ss_put_bool(w, "tx.bad", n->tx_bad);
	ss_put_u32(w, "tx.opts1", n->tx_opts1);
	ss_put_u32(w, "tx.opts2", n->tx_opts2);
	ss_put_bytes(w, "tx.packet", n->txbuf, n->txlen);
	ss_section_end(w);
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_unlock(&n->tx_lock);
}

bool rtl8139_load(struct rtl8139 *n, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], mac[6], regs[RTL8139_REGS_SIZE], ee_bits, ee_addr, ee_pos;
	uint16_t cbr, ee_cmd;
	uint32_t rx_idx, tx_idx, count, opts1, opts2;
	bool link_up, ee_started, ee_reading, ee_do, bad;
	uint8_t *packet = malloc(TXBUF_MAX);
	size_t plen = 0;
	bool ok = false;

	if (!packet || !ss_section_open(r, "rtl8139", instance, 1, 1, NULL))
		goto out;
	pci_config_get(r, &n->pci, cfg);
	ss_get_bytes(r, "mac", mac, 6);
	ss_get_bytes(r, "regs", regs, sizeof(regs));
	ss_get_u16(r, "cbr", &cbr);
	ss_get_u32(r, "cp_rx_idx", &rx_idx);
	ss_get_u32(r, "cp_tx_idx", &tx_idx);
	ss_get_u32(r, "tctr", &count);
	ss_get_bool(r, "link_up", &link_up);
	ss_get_u16(r, "ee_cmd", &ee_cmd);
	ss_get_u8(r, "ee_bits", &ee_bits);
	ss_get_bool(r, "ee_started", &ee_started);
	ss_get_bool(r, "ee_reading", &ee_reading);
	ss_get_u8(r, "ee_addr", &ee_addr);
	ss_get_u8(r, "ee_pos", &ee_pos);
	ss_get_bool(r, "ee_do", &ee_do);
	ss_get_bool(r, "tx.bad", &bad);
	ss_get_u32(r, "tx.opts1", &opts1);
	ss_get_u32(r, "tx.opts2", &opts2);
	ss_get_bytes_max(r, "tx.packet", packet, TXBUF_MAX - VLAN_HLEN, &plen);
	if (!ss_section_close(r))
		goto out;
	if (memcmp(mac, n->mac, 6)) {
		ss_fail(r, "saved state: section rtl8139 instance %u: another card's MAC", instance);
		goto out;
	}
	if (rx_idx >= RTL8139_CP_RING_MAX || tx_idx >= RTL8139_CP_RING_MAX || ee_bits > 8 ||
	    ee_addr >= RTL8139_EEPROM_WORDS || ee_pos > 15) {
		ss_fail(r, "saved state: section rtl8139 instance %u: ring or EEPROM state out of range",
			instance);
		goto out;
	}
	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->lock);
	net_rx_fifo_flush(&n->rxq);
	memcpy(n->r, regs, sizeof(regs));
	n->cbr = cbr;
	n->cp_rx_idx = rx_idx;
	n->cp_tx_idx = tx_idx;
	n->tctr_base = now_ns(n) - (int64_t)((uint64_t)count * 1000 / 33);
	n->link_up = link_up;
	n->ee_cmd = ee_cmd;
	n->ee_bits = ee_bits;
	n->ee_started = ee_started;
	n->ee_reading = ee_reading;
	n->ee_addr = ee_addr;
	n->ee_pos = ee_pos;
	n->ee_do = ee_do;
	n->tx_bad = bad;
	n->tx_opts1 = opts1;
	n->tx_opts2 = opts2;
	memcpy(n->txbuf, packet, plen);
	n->txlen = (uint32_t)plen;
	pci_config_apply(&n->pci, cfg);
	update_irq(n);
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_unlock(&n->tx_lock);
	ok = true;
out:
	free(packet);
	return ok;
}
