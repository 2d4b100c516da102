// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Intel 8254x (e1000) gigabit Ethernet: 82540EM, 82544GC, 82545EM.
 *
 * Registers live in one array the size of BAR0 (plain storage for the
 * many a driver only writes and reads back); the ones with side effects
 * are decoded below. BAR1 is the I/O window (IOADDR at 0, IODATA at 4)
 * through which Linux issues the reset of these parts.
 *
 * Transmit runs within the write to TDT (or TCTL), on the vCPU that made
 * it, as QEMU's does. It handles at most one ring's worth of descriptors
 * per write, under tx_lock (another vCPU may write TDT meanwhile); each
 * descriptor is handled under the register lock, which is dropped before
 * a frame goes to the backend (the backend's own thread calls
 * e1000_receive with its lock held and takes the register lock, so we
 * must never call the backend while holding it). A packet collects its buffers up to EOP in
 * txbuf (bounded: a larger one is dropped), then is segmented (TSE),
 * checksummed (POPTS, legacy IC), tagged (VLE) and sent.
 *
 * Receive runs on the backend's thread: the frame is filtered, copied into
 * as many receive buffers as it needs (EOP on the last) and RXT0 raised.
 * With too few buffers it waits in the card's FIFO (include/net_rx_fifo.h)
 * and goes when the driver moves RDT; when that is full the backend is
 * refused (MPC counts, RXO is raised) and told once there is room.
 *
 * Every guest value is checked where it is used: ring lengths and indices
 * against the ring, descriptors and buffers against guest RAM, packet and
 * header lengths against txbuf, checksum and header offsets against the
 * frame. A bad value drops that packet, or stops the ring (as a card that
 * got a master abort would), with one log line per device.
 *
 * Interrupt moderation is applied when the board gives the card its timers
 * (e1000_set_timers), on the machine's virtual clock:
 * - the delay timers (manual 3.2.7 and 3.4.1): RXT0 waits for RDTR's
 *   packet timer (restarted by each packet) or RADV's absolute timer
 *   (started by the first), TXDW for TIDV's and TADV's likewise when the
 *   descriptor asks (IDE); a delay of 0 signals at once;
 * - throttling (ITR): INTA rises no sooner than ITR x 256 ns after it last
 *   rose, and a cause that comes sooner is signalled when that interval ends.
 * Without timers (unit tests, fuzzing) every cause is signalled at once.
 */
#include "hw/e1000.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "net_rx_fifo.h"
#include "savestate.h"
#include "util.h"

/* ---- registers (8254x manual, section 13) ------------------------------- */

#define CTRL 0x0000
#define STATUS 0x0008
#define EECD 0x0010
#define EERD 0x0014
#define CTRL_EXT 0x0018
#define MDIC 0x0020
#define VET 0x0038
#define ICR 0x00C0
#define ITR 0x00C4
#define ICS 0x00C8
#define IMS 0x00D0
#define IMC 0x00D8
#define RCTL 0x0100
#define TCTL 0x0400
#define TIPG 0x0410
#define LEDCTL 0x0E00
#define PBA 0x1000
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define RDH 0x2810
#define RDT 0x2818
#define RDTR 0x2820
#define RADV 0x282C
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define TIDV 0x3820
#define TADV 0x382C
#define STATS_FIRST 0x4000
#define STATS_END 0x4100
#define MPC 0x4010
#define GPRC 0x4074
#define BPRC 0x4078
#define MPRC 0x407C
#define GPTC 0x4080
#define GORCL 0x4088
#define GOTCL 0x4090
#define RNBC 0x40A0
#define TORL 0x40C0
#define TOTL 0x40C8
#define TPR 0x40D0
#define TPT 0x40D4
#define MPTC 0x40F0
#define BPTC 0x40F4
#define TSCTC 0x40F8
#define MTA 0x5200
#define RAL0 0x5400
#define RA_COUNT 16
#define VFTA 0x5600

#define CTRL_RST (1u << 26)
#define CTRL_VME (1u << 30)
#define CTRL_PHY_RST (1u << 31)

#define STATUS_FD (1u << 0)
#define STATUS_LU (1u << 1)
#define STATUS_SPEED_1000 (2u << 6)
#define STATUS_ASDV_1000 (2u << 8)

#define EECD_SK (1u << 0)
#define EECD_CS (1u << 1)
#define EECD_DI (1u << 2)
#define EECD_DO (1u << 3)
#define EECD_FWE (3u << 4)
#define EECD_REQ (1u << 6)
#define EECD_GNT (1u << 7)
#define EECD_PRES (1u << 8)

#define EERD_START (1u << 0)
#define EERD_DONE (1u << 4)

#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_INT_EN (1u << 29)
#define MDIC_ERROR (1u << 30)

#define ICR_TXDW (1u << 0)
#define ICR_TXQE (1u << 1)
#define ICR_LSC (1u << 2)
#define ICR_RXDMT0 (1u << 4)
#define ICR_RXO (1u << 6)
#define ICR_RXT0 (1u << 7)
#define ICR_MDAC (1u << 9)

#define RCTL_EN (1u << 1)
#define RCTL_UPE (1u << 3)
#define RCTL_MPE (1u << 4)
#define RCTL_LPE (1u << 5)
#define RCTL_BAM (1u << 15)
#define RCTL_VFE (1u << 18)
#define RCTL_BSEX (1u << 25)
#define RCTL_SECRC (1u << 26)

#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)

#define RAH_AV (1u << 31)

/* Descriptor bytes. */
#define TXD_CMD_EOP 0x01
#define TXD_CMD_IC 0x04 /* legacy: insert checksum */
#define TXD_CMD_RS 0x08
#define TXD_CMD_RPS 0x10
#define TXD_CMD_DEXT 0x20
#define TXD_CMD_VLE 0x40
#define TXD_CMD_IDE 0x80 /* the cause waits for TIDV / TADV */
#define TXD_CMD_TSE 0x04 /* extended data descriptor */
#define TXD_STAT_DD 0x01
#define TXD_POPTS_IXSM 0x01
#define TXD_POPTS_TXSM 0x02
#define TUCMD_TCP 0x01
#define TUCMD_IP 0x02
#define TUCMD_TSE 0x04

#define RXD_STAT_DD 0x01
#define RXD_STAT_EOP 0x02
#define RXD_STAT_IXSM 0x04
#define RXD_STAT_VP 0x08

/* PHY registers (IEEE 802.3 clause 22 and the M88's own). */
#define PHY_CTRL 0x00
#define PHY_STATUS 0x01
#define PHY_ID1 0x02
#define PHY_ID2 0x03
#define PHY_LP_ABILITY 0x05
#define PHY_AUTONEG_EXP 0x06
#define PHY_1000T_STATUS 0x0A
#define PHY_EXT_STATUS 0x0F
#define PHY_SPEC_STATUS 0x11
#define PHY_CTRL_RESET 0x8000
#define PHY_CTRL_RESTART_AN 0x0200
#define PHY_STATUS_LINK 0x0004
#define PHY_STATUS_AN_DONE 0x0020
#define PHY_SPEC_LINK 0x0400
#define PHY_ADDR 1

#define EEPROM_CHECKSUM 0xBABA

/* The largest packet a driver may hand over in buffers: a 64 KiB TSO
 * payload behind its (at most 255-byte) headers. */
#define TXBUF_MAX (65536 + 256)
/* Without LPE a frame longer than 1522 bytes (tag and CRC included) is
 * dropped; with it, the card's limit. */
#define RX_MAX_NORMAL 1522
#define RX_MAX_LONG 16384
#define ETH_MIN 60 /* what the wire delivers, without the CRC */
#define VLAN_HLEN 4

static const char *const model_names[] = { "82540EM", "82544GC", "82545EM" };
static const uint16_t model_device_id[] = { 0x100E, 0x100C, 0x100F };
static const uint16_t model_phy_id2[] = { 0x0C20, 0x0C30, 0x0C20 }; /* M88E1011, M88E1000 */

/* The offload parameters of the last context descriptor (they stay until
 * the next one). */
struct tx_context {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

struct e1000 {
	struct pci_device pci;
	const struct guest_mem *mem;
	struct net_backend *backend;
	enum e1000_model model;
	uint8_t mac[6];
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint8_t *rom;           /* the option ROM image (romfile=), or NULL */

	/* ---- under lock: registers, PHY, EEPROM wires, receive ------------ */
	pthread_mutex_t lock;
	uint32_t regs[E1000_MMIO_SIZE / 4];
	uint16_t phy[32];
	uint32_t ioaddr;
	bool link_up;
	/* Microwire EEPROM: bits shifted in since CS rose, the word being
	 * shifted out and where. */
	uint16_t ee_cmd;
	uint8_t ee_bits;
	bool ee_reading;
	uint8_t ee_addr, ee_pos;
	bool ee_do;
	/* Frames without buffers yet; quiesced (paused or being saved), all
	 * received frames wait here, no register or guest memory changes. */
	struct net_rx_fifo rxq;
	uint8_t rxbuf[RX_MAX_LONG + VLAN_HLEN + 4];
	uint64_t rx_dropped, tx_dropped;
	bool warned;
	/* INTA as last set, and when (virtual clock) it last rose
	 * (INT64_MIN: not since the reset); a cause that comes within ITR's
	 * interval after that arms itr_timer (NULL: no timers, no
	 * throttling). */
	bool line;
	int64_t irq_rose_at;
	struct event_loop *loop;
	struct event_timer *itr_timer;
	/* The delay timers, receive and transmit: when each ends (virtual
	 * clock; INT64_MAX: stopped; a running packet timer is a cause held
	 * back), the one loop timer for the earliest end, and when it is
	 * armed to fire (INT64_MAX: not armed). */
	struct delay_timers {
		int64_t packet_end, absolute_end;
	} delay[2];
	struct event_timer *delay_timer;
	int64_t delay_armed;

	/* ---- under tx_lock (taken before lock): the packet being built ---- */
	pthread_mutex_t tx_lock;
	struct tx_context ctx;
	uint32_t txlen;
	bool tx_bad;          /* this packet is dropped at EOP */
	bool tx_tse, tx_ic;   /* options of the packet's first descriptor */
	uint8_t tx_popts, tx_cso, tx_css;
	uint8_t txbuf[TXBUF_MAX];
	uint8_t txseg[TXBUF_MAX + VLAN_HLEN]; /* one frame on its way out */
};

#define R(e, off) ((e)->regs[(off) >> 2])

/* Where the 8254x has registers (general, interrupts, receive and flow
 * control; transmit and statistics; filters and wake-up): writes elsewhere
 * are ignored, as reserved space, and only these are saved. */
static const struct { unsigned first, end; const char *field; } reg_ranges[] = {
	{ 0x0000, 0x3000, "regs.0000" },
	{ 0x3000, 0x4100, "regs.3000" },
	{ 0x5000, 0x6000, "regs.5000" },
};

static bool reg_exists(unsigned off)
{
	for (unsigned i = 0; i < ARRAY_SIZE(reg_ranges); i++)
		if (off >= reg_ranges[i].first && off < reg_ranges[i].end)
			return true;
	return false;
}

/* One line per device, then silence: a hostile guest must not flood the log. */
static void complain(struct e1000 *e, const char *what)
{
	if (!__atomic_exchange_n(&e->warned, true, __ATOMIC_RELAXED)) {
		warn("e1000 %02x.%x: %s (further errors not logged)", e->pci.devfn >> 3,
		     e->pci.devfn & 7, what);
	}
}

/* ---- interrupts ---------------------------------------------------------- */

/* INTA follows ICR & IMS, but rises no sooner than ITR's interval (in
 * 256 ns units, 8254x manual 13.4.18) after it last rose; the timer
 * raises what came sooner. Lock held. */
static void update_irq(struct e1000 *e)
{
	bool want = (R(e, ICR) & R(e, IMS)) != 0;

	if (want && !e->line && e->itr_timer) {
		int64_t now = event_clock_ns(e->loop, EVENT_CLOCK_VIRTUAL);
		int64_t not_before = e->irq_rose_at + (int64_t)(R(e, ITR) & 0xFFFF) * 256;
		if (e->irq_rose_at != INT64_MIN && now < not_before) {
			event_timer_arm(e->itr_timer, not_before, 0);
			return;
		}
		e->irq_rose_at = now;
	}
	e->line = want;
	pci_set_irq(&e->pci, want);
}

/* The loop's thread: ITR's interval ended with a cause waiting. */
static void itr_expired(void *opaque)
{
	struct e1000 *e = opaque;

	pthread_mutex_lock(&e->lock);
	update_irq(e);
	pthread_mutex_unlock(&e->lock);
}

static void raise_cause(struct e1000 *e, uint32_t cause)
{
	R(e, ICR) |= cause;
	update_irq(e);
}

/* ---- delay timers (manual 3.2.7.1, 3.4.1, 13.4.30-31, 13.4.44, 13.4.50) ---- */

enum { DELAY_RX, DELAY_TX };
static const uint32_t delay_cause[2] = { ICR_RXT0, ICR_TXDW };
#define DELAY_UNIT_NS 1024 /* both timers count 1.024 us */

/* The loop timer fires at the earliest end, or sooner: each packet moves
 * its packet timer's end later, and re-arming the loop timer (a wake-up of
 * the loop's thread) for every packet would cost more than the one early
 * expiry that finds nothing due and arms it again. */
static void delay_rearm(struct e1000 *e)
{
	int64_t next = INT64_MAX;
	for (unsigned i = 0; i < 2; i++) {
		if (e->delay[i].packet_end < next)
			next = e->delay[i].packet_end;
		if (e->delay[i].absolute_end < next)
			next = e->delay[i].absolute_end;
	}
	if (next == INT64_MAX) {
		if (e->delay_armed != INT64_MAX)
			event_timer_cancel(e->delay_timer);
		e->delay_armed = INT64_MAX;
	} else if (next < e->delay_armed) {
		event_timer_arm(e->delay_timer, next, 0);
		e->delay_armed = next;
	}
}

/* The causes the delay timers hold back: those whose packet timer runs
 * (the absolute timer never runs without it). */
static uint32_t delay_held(const struct e1000 *e)
{
	uint32_t causes = 0;
	for (unsigned i = 0; i < 2; i++)
		if (e->delay[i].packet_end != INT64_MAX)
			causes |= delay_cause[i];
	return causes;
}

/* Either timer's end (or a cause signalled at once) stops both: no second
 * interrupt for the same packets. */
static void delay_signal(struct e1000 *e, unsigned which)
{
	e->delay[which] = (struct delay_timers){ INT64_MAX, INT64_MAX };
	if (e->delay_timer)
		delay_rearm(e);
	raise_cause(e, delay_cause[which]);
}

/* A packet is in host memory (receive) or its descriptor written back with
 * IDE (transmit): its cause waits for the packet timer, restarted now, or
 * the absolute timer, started by the first packet it holds. A packet
 * delay of 0 disables both. Lock held. */
static void delay_start(struct e1000 *e, unsigned which, unsigned packet, unsigned absolute)
{
	struct delay_timers *d = &e->delay[which];

	if (!e->delay_timer || packet == 0) {
		delay_signal(e, which);
		return;
	}
	int64_t now = event_clock_ns(e->loop, EVENT_CLOCK_VIRTUAL);
	d->packet_end = now + (int64_t)packet * DELAY_UNIT_NS;
	if (absolute && d->absolute_end == INT64_MAX)
		d->absolute_end = now + (int64_t)absolute * DELAY_UNIT_NS;
	delay_rearm(e);
}

/* The 82544GC has no absolute timers (RADV, TADV). */
static unsigned absolute_delay(const struct e1000 *e, unsigned off)
{
	return e->model == E1000_82544GC ? 0 : R(e, off) & 0xFFFF;
}

/* The loop's thread: a delay timer ended. */
static void delay_expired(void *opaque)
{
	struct e1000 *e = opaque;

	pthread_mutex_lock(&e->lock);
	int64_t now = event_clock_ns(e->loop, EVENT_CLOCK_VIRTUAL);
	e->delay_armed = INT64_MAX; /* it fired */
	for (unsigned i = 0; i < 2; i++)
		if (now >= e->delay[i].packet_end || now >= e->delay[i].absolute_end)
			delay_signal(e, i);
	delay_rearm(e); /* early: a packet timer restarted since */
	pthread_mutex_unlock(&e->lock);
}

static void delay_reset(struct e1000 *e)
{
	for (unsigned i = 0; i < 2; i++)
		e->delay[i] = (struct delay_timers){ INT64_MAX, INT64_MAX };
	e->delay_armed = INT64_MAX;
	if (e->delay_timer)
		event_timer_cancel(e->delay_timer);
}

/* ---- statistics (clear on read) ------------------------------------------ */

static void count(struct e1000 *e, unsigned off, uint32_t n)
{
	R(e, off) += n;
}

static void count64(struct e1000 *e, unsigned off_low, uint64_t n)
{
	uint64_t v = ((uint64_t)R(e, off_low + 4) << 32 | R(e, off_low)) + n;
	R(e, off_low) = (uint32_t)v;
	R(e, off_low + 4) = (uint32_t)(v >> 32);
}

/* ---- EEPROM ---------------------------------------------------------------- */

static void eeprom_build(struct e1000 *e)
{
	uint16_t *w = e->eeprom, sum = 0;
	uint16_t dev = model_device_id[e->model];

	memset(e->eeprom, 0, sizeof(e->eeprom));
	for (int i = 0; i < 3; i++)
		w[i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
	w[0x05] = 0x2000;         /* image version */
	w[0x08] = 0x0000;         /* PBA number */
	w[0x09] = 0x0000;
	w[0x0A] = 0x4408;         /* init control 1: signature 01b, load subsystem IDs */
	w[0x0B] = dev == 0x100E ? 0x001E : dev; /* subsystem: the PRO/1000 MT desktop board */
	w[0x0C] = 0x8086;
	w[0x0D] = dev;
	w[0x0E] = 0x8086;
	w[0x0F] = 0x3040;         /* init control 2: flow control both ways */
	for (int i = 0; i < E1000_EEPROM_WORDS - 1; i++)
		sum = (uint16_t)(sum + w[i]);
	w[E1000_EEPROM_WORDS - 1] = (uint16_t)(EEPROM_CHECKSUM - sum);
}

/* Microwire: CS low deselects; on each rising SK with CS high, a READ
 * (start bit, opcode 10, 6 address bits) is shifted in on DI, then the
 * word comes out on DO most significant bit first (and the next words,
 * for as long as the clock runs). Other opcodes (erase, write, EWEN) are
 * ignored: the EEPROM reads as shipped. */
static void eecd_write(struct e1000 *e, uint32_t v)
{
	uint32_t old = R(e, EECD);

	if (!(v & EECD_CS)) {
		e->ee_bits = 0;
		e->ee_cmd = 0;
		e->ee_reading = false;
		e->ee_do = false;
	} else if ((v & EECD_SK) && !(old & EECD_SK)) {
		if (e->ee_reading) {
			e->ee_do = (e->eeprom[e->ee_addr] >> (15 - e->ee_pos)) & 1;
			if (++e->ee_pos == 16) {
				e->ee_pos = 0;
				e->ee_addr = (e->ee_addr + 1) % E1000_EEPROM_WORDS;
			}
		} else if (e->ee_bits < 9) {
			e->ee_cmd = (uint16_t)(e->ee_cmd << 1 | !!(v & EECD_DI));
			if (++e->ee_bits == 9 && (e->ee_cmd >> 6) == 6) {
				e->ee_reading = true;
				e->ee_addr = e->ee_cmd & (E1000_EEPROM_WORDS - 1);
				e->ee_pos = 0;
			}
		}
	}
	R(e, EECD) = (v & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE | EECD_REQ)) | EECD_PRES;
}

static uint32_t eecd_read(struct e1000 *e)
{
	uint32_t v = R(e, EECD) | EECD_PRES;
	if (v & EECD_REQ)
		v |= EECD_GNT; /* no firmware competes for the EEPROM */
	if (e->ee_do)
		v |= EECD_DO;
	return v;
}

static void eerd_write(struct e1000 *e, uint32_t v)
{
	unsigned addr = (v >> 8) & 0xFF;
	if (!(v & EERD_START))
		return;
	uint16_t data = addr < E1000_EEPROM_WORDS ? e->eeprom[addr] : 0;
	R(e, EERD) = (uint32_t)data << 16 | addr << 8 | EERD_DONE;
}

/* ---- PHY ----------------------------------------------------------------- */

static void phy_reset(struct e1000 *e)
{
	memset(e->phy, 0, sizeof(e->phy));
	e->phy[PHY_CTRL] = 0x1140;       /* autonegotiation on, full duplex, 1000 */
	e->phy[PHY_STATUS] = 0x7949;     /* abilities, extended status, MF preamble */
	e->phy[PHY_ID1] = 0x0141;        /* Marvell */
	e->phy[PHY_ID2] = model_phy_id2[e->model];
	e->phy[0x04] = 0x0DE1;           /* advertised: pause, 10/100 both duplexes */
	e->phy[PHY_LP_ABILITY] = 0x45E1;
	e->phy[PHY_AUTONEG_EXP] = 0x000F;
	e->phy[0x09] = 0x0E00;           /* advertised: 1000 both duplexes */
	e->phy[PHY_1000T_STATUS] = 0x3C00;
	e->phy[PHY_EXT_STATUS] = 0x3000;
	e->phy[0x10] = 0x0068;
	e->phy[PHY_SPEC_STATUS] = 0x8000 | 0x2000 | 0x0800; /* 1000, full, resolved */
	if (e->link_up) {
		e->phy[PHY_STATUS] |= PHY_STATUS_LINK | PHY_STATUS_AN_DONE;
		e->phy[PHY_SPEC_STATUS] |= PHY_SPEC_LINK;
	}
}

static bool phy_read_only(unsigned reg)
{
	return reg == PHY_STATUS || reg == PHY_ID1 || reg == PHY_ID2 || reg == PHY_LP_ABILITY ||
	       reg == PHY_AUTONEG_EXP || reg == PHY_1000T_STATUS || reg == PHY_EXT_STATUS ||
	       reg == PHY_SPEC_STATUS;
}

static void phy_write(struct e1000 *e, unsigned reg, uint16_t v)
{
	if (phy_read_only(reg))
		return;
	if (reg == PHY_CTRL) {
		if (v & PHY_CTRL_RESET) {
			phy_reset(e);
			return;
		}
		/* Autonegotiation finishes at once (the link partner is us). */
		v &= (uint16_t)~PHY_CTRL_RESTART_AN;
	}
	e->phy[reg] = v;
}

static void mdic_write(struct e1000 *e, uint32_t v)
{
	unsigned reg = (v >> 16) & 0x1F, addr = (v >> 21) & 0x1F;
	uint32_t op = v & (3u << 26);
	uint32_t data = v & 0xFFFF;

	if (addr != PHY_ADDR) {
		v |= MDIC_ERROR; /* nothing answers at that address */
	} else if (op == MDIC_OP_READ) {
		data = e->phy[reg];
	} else if (op == MDIC_OP_WRITE) {
		phy_write(e, reg, (uint16_t)data);
	}
	R(e, MDIC) = (v & ~0xFFFFu) | data | MDIC_READY; /* done at once */
	if (v & MDIC_INT_EN)
		raise_cause(e, ICR_MDAC);
}

/* ---- link ------------------------------------------------------------------ */

static void apply_link(struct e1000 *e)
{
	if (e->link_up) {
		R(e, STATUS) |= STATUS_LU;
		e->phy[PHY_STATUS] |= PHY_STATUS_LINK | PHY_STATUS_AN_DONE;
		e->phy[PHY_SPEC_STATUS] |= PHY_SPEC_LINK;
	} else {
		R(e, STATUS) &= ~STATUS_LU;
		e->phy[PHY_STATUS] &= (uint16_t)~(PHY_STATUS_LINK | PHY_STATUS_AN_DONE);
		e->phy[PHY_SPEC_STATUS] &= (uint16_t)~PHY_SPEC_LINK;
	}
}

/* ---- receive ------------------------------------------------------------- */

static unsigned rx_buf_size(uint32_t rctl)
{
	static const unsigned normal[] = { 2048, 1024, 512, 256 };
	static const unsigned extended[] = { 2048, 16384, 8192, 4096 }; /* BSEX; 00 reserved */
	unsigned i = (rctl >> 16) & 3;
	return rctl & RCTL_BSEX ? extended[i] : normal[i];
}

static bool is_vlan(const struct e1000 *e, const uint8_t *f, size_t len)
{
	return len >= 18 && get_be16(f + 12) == (uint16_t)R(e, VET);
}

static bool vlan_allowed(const struct e1000 *e, const uint8_t *f, size_t len)
{
	if (!(R(e, RCTL) & RCTL_VFE) || !is_vlan(e, f, len))
		return true;
	unsigned vid = get_be16(f + 14) & 0xFFF;
	return (e->regs[(VFTA >> 2) + (vid >> 5)] >> (vid & 31)) & 1;
}

/* The 12 address bits RCTL.MO picks for the multicast table. */
static unsigned mta_hash(uint32_t rctl, const uint8_t *dst)
{
	static const unsigned shift[] = { 4, 3, 2, 0 };
	unsigned mo = (rctl >> 12) & 3;
	return ((dst[4] >> shift[mo]) | (unsigned)dst[5] << (8 - shift[mo])) & 0xFFF;
}

static bool address_accepted(struct e1000 *e, const uint8_t *dst)
{
	uint32_t rctl = R(e, RCTL);
	static const uint8_t bcast[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

	if (!memcmp(dst, bcast, 6)) {
		if (rctl & RCTL_BAM)
			count(e, BPRC, 1);
		return rctl & (RCTL_BAM | RCTL_MPE);
	}
	if (dst[0] & 1) {
		if (rctl & RCTL_MPE)
			return true;
		unsigned h = mta_hash(rctl, dst);
		if ((e->regs[(MTA >> 2) + (h >> 5)] >> (h & 31)) & 1) {
			count(e, MPRC, 1);
			return true;
		}
		return false;
	}
	if (rctl & RCTL_UPE)
		return true;
	for (unsigned i = 0; i < RA_COUNT; i++) {
		uint32_t lo = R(e, RAL0 + 8 * i), hi = R(e, RAL0 + 8 * i + 4);
		if ((hi & RAH_AV) && get_le32(dst) == lo && get_le16(dst + 4) == (uint16_t)hi)
			return true;
	}
	return false;
}

/* The ring as the driver laid it out: false if its registers are unusable
 * (no descriptors, indices past the end, or a ring that is not RAM). */
static bool ring_ok(struct e1000 *e, unsigned base_lo, uint64_t *base, uint32_t *size)
{
	uint64_t b = (uint64_t)R(e, base_lo + 4) << 32 | (R(e, base_lo) & ~0xFu);
	uint32_t n = (R(e, base_lo + 8) & 0xFFF80) / 16;
	uint32_t head = R(e, base_lo + 0x10), tail = R(e, base_lo + 0x18);

	if (!n || !(pci_get_word(&e->pci, PCI_COMMAND) & PCI_COMMAND_MASTER))
		return false; /* no ring, or no bus mastering: no DMA */
	if (head >= n || tail >= n || !guest_ptr(e->mem, b, (uint64_t)n * 16)) {
		complain(e, "descriptor ring outside guest RAM or index past its end: ring stopped");
		return false;
	}
	*base = b;
	*size = n;
	return true;
}

/* Descriptors the driver has handed to the card. */
static uint32_t rx_free(struct e1000 *e, uint32_t size)
{
	return (R(e, RDT) + size - R(e, RDH)) % size;
}

/*
 * Puts one frame (as it came off the wire, without CRC) in the ring.
 * 1: done (delivered, or dropped as the card would), 0: not enough
 * buffers yet. Lock held.
 */
static int rx_deliver(struct e1000 *e, const uint8_t *frame, size_t len)
{
	uint32_t rctl = R(e, RCTL), size;
	uint16_t special = 0;
	uint8_t status = RXD_STAT_IXSM;
	uint64_t base;
	uint8_t *p = e->rxbuf;
	size_t n = len;

	if (!(rctl & RCTL_EN) || !e->link_up || len < NET_MIN_FRAME || len > RX_MAX_LONG ||
	    !vlan_allowed(e, frame, len) || !address_accepted(e, frame))
		return 1; /* not for us: no buffer used, no error */
	if (!(rctl & RCTL_LPE) && len + 4 > RX_MAX_NORMAL) {
		e->rx_dropped++; /* a long frame the driver did not enable */
		return 1;
	}
	memcpy(p, frame, len);
	if ((R(e, CTRL) & CTRL_VME) && is_vlan(e, p, n)) {
		special = get_be16(p + 14);
		status |= RXD_STAT_VP;
		memmove(p + 12, p + 16, n - 16);
		n -= VLAN_HLEN;
	}
	if (n < ETH_MIN) {
		memset(p + n, 0, ETH_MIN - n);
		n = ETH_MIN;
	}
	if (!(rctl & RCTL_SECRC)) {
		put_le32(p + n, ss_crc32(p, n)); /* the FCS, as the wire had it */
		n += 4;
	}
	if (!ring_ok(e, RDBAL, &base, &size)) {
		count(e, RNBC, 1);
		return 0;
	}
	unsigned bufsize = rx_buf_size(rctl);
	uint32_t need = (uint32_t)((n + bufsize - 1) / bufsize);
	if (need >= size) {
		complain(e, "receive ring too small for a frame: dropped");
		e->rx_dropped++;
		return 1;
	}
	if (rx_free(e, size) < need) {
		count(e, RNBC, 1);
		return 0;
	}
	uint32_t head = R(e, RDH);
	for (size_t done = 0; done < n; head = (head + 1) % size) {
		uint8_t *d = guest_ptr(e->mem, base + (uint64_t)head * 16, 16);
		size_t chunk = MIN(bufsize, n - done);
		/* A buffer outside RAM: the card's write goes nowhere (master
		 * abort), the descriptor still completes. */
		if (!guest_write(e->mem, get_le64(d), p + done, chunk))
			complain(e, "receive buffer outside guest RAM");
		done += chunk;
		put_le16(d + 8, (uint16_t)chunk);
		put_le16(d + 10, 0);
		d[12] = (uint8_t)(status | RXD_STAT_DD | (done == n ? RXD_STAT_EOP : 0));
		d[13] = 0;
		put_le16(d + 14, special);
	}
	R(e, RDH) = head;
	count(e, GPRC, 1);
	count(e, TPR, 1);
	count64(e, GORCL, n);
	count64(e, TORL, n);
	unsigned rdmts = (rctl >> 8) & 3; /* free buffers at 1/2, 1/4, 1/8 of the ring */
	if (rdmts < 3 && rx_free(e, size) <= size >> (rdmts + 1))
		raise_cause(e, ICR_RXDMT0);
	delay_start(e, DELAY_RX, R(e, RDTR) & 0xFFFF, absolute_delay(e, RADV));
	return 1;
}

/* The FIFO's way into the ring. Lock held. */
static int rx_deliver_held(void *opaque, const uint8_t *frame, size_t len)
{
	return rx_deliver(opaque, frame, len);
}

bool e1000_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *frame, size_t len)
{
	struct e1000 *e = opaque;
	uint8_t *copy;

	if (len < NET_MIN_FRAME || len > RX_MAX_LONG)
		return true;
	/* Offloads stay off on this card: GSO is never asked for, a partial
	 * checksum is completed. */
	frame = net_rx_plain(hdr, frame, len, &copy);
	if (!frame)
		return true;
	pthread_mutex_lock(&e->lock);
	bool ready;
	enum net_rx_verdict v = net_rx_fifo_offer(&e->rxq, frame, len, &ready);
	if (v == NET_RX_REFUSED && !net_rx_fifo_quiesced(&e->rxq)) {
		count(e, MPC, 1); /* missed: the FIFO is full */
		raise_cause(e, ICR_RXO);
	}
	pthread_mutex_unlock(&e->lock);
	free(copy);
	if (ready)
		net_rx_ready(e->backend);
	return net_rx_taken(v);
}

/* ---- transmit ------------------------------------------------------------ */

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

/* The one's complement sum of [start, end] (end 0: to the frame's end),
 * plus 'add', stored at 'at': only if every byte lies inside the frame. */
static void insert_csum(uint8_t *f, size_t len, unsigned start, unsigned end, unsigned at,
			uint32_t add)
{
	size_t stop = end ? (size_t)end + 1 : len;
	if (start >= len || stop > len || start >= stop || (size_t)at + 2 > len)
		return;
	put_be16(f + at, csum_fold(csum_sum(f + start, stop - start, add)));
}

/* The 802.1Q tag a packet gets (VLE), read with its EOP descriptor. */
struct tx_tag {
	bool vle;
	uint16_t vet, special;
};

static size_t insert_vlan(uint8_t *f, size_t len, const struct tx_tag *tag)
{
	memmove(f + 16, f + 12, len - 12);
	put_be16(f + 12, tag->vet);
	put_be16(f + 14, tag->special);
	return len + VLAN_HLEN;
}

/* Sends one finished frame from txseg (tx_lock held, lock not held). */
static void tx_send(struct e1000 *e, size_t len, const struct tx_tag *tag, uint32_t *sent,
		    uint64_t *bytes)
{
	if (tag->vle)
		len = insert_vlan(e->txseg, len, tag);
	if (len < ETH_MIN) {
		memset(e->txseg + len, 0, ETH_MIN - len); /* TCTL.PSP pads short frames */
		len = ETH_MIN;
	}
	if (len > NET_MAX_FRAME) {
		e->tx_dropped++;
		return;
	}
	static const struct net_hdr none;
	net_send(e->backend, &none, e->txseg, len);
	(*sent)++;
	*bytes += len;
}

/* TCP segmentation: the context's header in front of each MSS of payload,
 * with the IP length and ID, the TCP sequence and flags and both
 * checksums made right for that segment. */
static void tx_segment(struct e1000 *e, const struct tx_tag *tag, uint32_t *sent,
		       uint64_t *bytes)
{
	const struct tx_context *c = &e->ctx;
	size_t hl = c->hdrlen, total = e->txlen;
	bool ipv4 = c->tucmd & TUCMD_IP, tcp = c->tucmd & TUCMD_TCP;
	uint16_t ip_id = 0;
	uint32_t seq = 0;

	if (!c->mss || hl < NET_MIN_FRAME || hl >= total || hl + c->mss > TXBUF_MAX) {
		char why[96];
		snprintf(why, sizeof(why), "TSO packet of %zu bytes with header %zu, MSS %u: dropped",
			 total, hl, c->mss);
		complain(e, why);
		e->tx_dropped++;
		return;
	}
	if (ipv4 && (size_t)c->ipcss + 6 <= hl)
		ip_id = get_be16(e->txbuf + c->ipcss + 4);
	if (tcp && (size_t)c->tucss + 14 <= hl)
		seq = get_be32(e->txbuf + c->tucss + 4);
	for (size_t off = hl, i = 0; off < total; off += c->mss, i++) {
		size_t plen = MIN((size_t)c->mss, total - off), len = hl + plen;
		bool last = off + plen == total;
		uint8_t *f = e->txseg;

		memcpy(f, e->txbuf, hl);
		memcpy(f + hl, e->txbuf + off, plen);
		if (ipv4 && (size_t)c->ipcss + 6 <= hl) {
			put_be16(f + c->ipcss + 2, (uint16_t)(len - c->ipcss));
			put_be16(f + c->ipcss + 4, (uint16_t)(ip_id + i));
		} else if (!ipv4 && (size_t)c->ipcss + 6 <= hl) {
			put_be16(f + c->ipcss + 4, (uint16_t)(len - c->ipcss - 40));
		}
		if (tcp && (size_t)c->tucss + 14 <= hl) {
			put_be32(f + c->tucss + 4, seq + (uint32_t)(off - hl));
			if (!last)
				f[c->tucss + 13] &= (uint8_t)~0x09; /* FIN, PSH: last segment only */
		} else if (!tcp && (size_t)c->tucss + 6 <= hl) {
			put_be16(f + c->tucss + 4, (uint16_t)(len - c->tucss));
		}
		if ((e->tx_popts & TXD_POPTS_IXSM) && (size_t)c->ipcso + 2 <= hl) {
			put_be16(f + c->ipcso, 0);
			insert_csum(f, len, c->ipcss, c->ipcse, c->ipcso, 0);
		}
		/* The driver left the pseudo-header sum without the length in
		 * the field: add this segment's. */
		if ((e->tx_popts & TXD_POPTS_TXSM) && c->tucss < len)
			insert_csum(f, len, c->tucss, 0, c->tucso, (uint32_t)(len - c->tucss));
		tx_send(e, len, tag, sent, bytes);
	}
	count(e, TSCTC, 1);
}

/* The packet in txbuf is complete: offloads, then out (tx_lock held). */
static void tx_emit(struct e1000 *e, const struct tx_tag *tag)
{
	uint32_t sent = 0;
	uint64_t bytes = 0;
	size_t len = e->txlen;

	if (e->tx_bad || len < NET_MIN_FRAME) {
		e->tx_dropped++;
		return;
	}
	/* With the cable out the MAC still completes the descriptors, but
	 * the frame goes nowhere (not a driver's fault: not counted). */
	pthread_mutex_lock(&e->lock);
	bool link_up = e->link_up;
	pthread_mutex_unlock(&e->lock);
	if (!link_up)
		return;
	if (e->tx_tse) {
		tx_segment(e, tag, &sent, &bytes);
	} else {
		uint8_t *f = e->txseg;
		if (len > NET_MAX_FRAME) {
			e->tx_dropped++;
			return;
		}
		memcpy(f, e->txbuf, len);
		if (e->tx_ic)
			insert_csum(f, len, e->tx_css, 0, e->tx_cso, 0);
		if (e->tx_popts & TXD_POPTS_IXSM)
			insert_csum(f, len, e->ctx.ipcss, e->ctx.ipcse, e->ctx.ipcso, 0);
		if (e->tx_popts & TXD_POPTS_TXSM)
			insert_csum(f, len, e->ctx.tucss, e->ctx.tucse, e->ctx.tucso, 0);
		tx_send(e, len, tag, &sent, &bytes);
	}
	pthread_mutex_lock(&e->lock);
	count(e, GPTC, sent);
	count(e, TPT, sent);
	count64(e, GOTCL, bytes);
	count64(e, TOTL, bytes);
	pthread_mutex_unlock(&e->lock);
}

static void tx_context_load(struct e1000 *e, const uint8_t *d)
{
	struct tx_context *c = &e->ctx;
	c->ipcss = d[0];
	c->ipcso = d[1];
	c->ipcse = get_le16(d + 2);
	c->tucss = d[4];
	c->tucso = d[5];
	c->tucse = get_le16(d + 6);
	c->paylen = get_le32(d + 8) & 0xFFFFF;
	c->tucmd = d[11];
	c->hdrlen = d[13];
	c->mss = get_le16(d + 14);
}

/* Appends a buffer to the packet being built (tx_lock and lock held). */
static void tx_append(struct e1000 *e, uint64_t addr, uint32_t len)
{
	if (e->tx_bad || !len)
		return;
	if (len > TXBUF_MAX - e->txlen) {
		complain(e, "transmit packet longer than 64 KiB: dropped");
		e->tx_bad = true;
		return;
	}
	if (!guest_read(e->mem, addr, e->txbuf + e->txlen, len)) {
		complain(e, "transmit buffer outside guest RAM: packet dropped");
		e->tx_bad = true;
		return;
	}
	e->txlen += len;
}

/*
 * One descriptor (tx_lock and lock held): a context updates the offload
 * parameters; a data or legacy descriptor adds its buffer. Returns true at
 * EOP, with the frame's tag in *tag.
 */
static bool tx_descriptor(struct e1000 *e, uint8_t *d, struct tx_tag *tag)
{
	uint32_t dw2 = get_le32(d + 8);
	uint8_t cmd = d[11];
	bool first = e->txlen == 0 && !e->tx_bad;
	uint32_t len;

	if (cmd & TXD_CMD_DEXT) {
		unsigned dtyp = (dw2 >> 20) & 0xF;
		if (dtyp == 0) {
			tx_context_load(e, d);
			return false;
		}
		if (dtyp != 1) {
			complain(e, "transmit descriptor of unknown type: skipped");
			return false;
		}
		len = dw2 & 0xFFFFF;
		if (first) {
			e->tx_tse = cmd & TXD_CMD_TSE;
			e->tx_popts = d[13];
			e->tx_ic = false;
		}
	} else {
		len = dw2 & 0xFFFF;
		if (first) {
			e->tx_tse = false;
			e->tx_popts = 0;
			e->tx_ic = cmd & TXD_CMD_IC;
			e->tx_cso = d[10];
			e->tx_css = d[13];
		}
	}
	tx_append(e, get_le64(d), len);
	if (!(cmd & TXD_CMD_EOP))
		return false;
	tag->vle = (cmd & TXD_CMD_VLE) && (R(e, CTRL) & CTRL_VME);
	tag->vet = (uint16_t)R(e, VET);
	tag->special = get_le16(d + 14);
	return true;
}

static void tx_reset_packet(struct e1000 *e)
{
	e->txlen = 0;
	e->tx_bad = false;
	e->tx_tse = e->tx_ic = false;
	e->tx_popts = 0;
}

/* Runs the transmit ring from TDH to TDT: at most one ring's worth of
 * descriptors, so a driver that keeps moving TDT cannot keep us here. */
static void tx_run(struct e1000 *e)
{
	pthread_mutex_lock(&e->tx_lock);
	uint32_t budget = UINT32_MAX;
	for (;;) {
		uint64_t base;
		uint32_t size;
		struct tx_tag tag = { 0 };
		bool eop;

		pthread_mutex_lock(&e->lock);
		if (!(R(e, TCTL) & TCTL_EN) || !ring_ok(e, TDBAL, &base, &size)) {
			pthread_mutex_unlock(&e->lock);
			break;
		}
		if (budget == UINT32_MAX)
			budget = size;
		if (R(e, TDH) == R(e, TDT) || budget-- == 0) {
			if (R(e, TDH) == R(e, TDT))
				raise_cause(e, ICR_TXQE);
			pthread_mutex_unlock(&e->lock);
			break;
		}
		uint8_t *d = guest_ptr(e->mem, base + (uint64_t)R(e, TDH) * 16, 16);
		eop = tx_descriptor(e, d, &tag);
		if (d[11] & (TXD_CMD_RS | TXD_CMD_RPS)) {
			d[12] |= TXD_STAT_DD;
			if (d[11] & TXD_CMD_IDE)
				delay_start(e, DELAY_TX, R(e, TIDV) & 0xFFFF,
					    absolute_delay(e, TADV));
			else
				delay_signal(e, DELAY_TX);
		}
		R(e, TDH) = (R(e, TDH) + 1) % size;
		pthread_mutex_unlock(&e->lock);
		if (eop) {
			tx_emit(e, &tag);
			tx_reset_packet(e);
		}
	}
	pthread_mutex_unlock(&e->tx_lock);
}

/* ---- register access ------------------------------------------------------ */

static void regs_reset(struct e1000 *e)
{
	memset(e->regs, 0, sizeof(e->regs));
	R(e, CTRL) = 0x00000240;                 /* SLU, full duplex speed bits */
	R(e, STATUS) = STATUS_FD | STATUS_SPEED_1000 | STATUS_ASDV_1000;
	R(e, EECD) = EECD_PRES;
	R(e, MDIC) = MDIC_READY;
	R(e, VET) = 0x8100;
	R(e, LEDCTL) = 0x07068302;
	R(e, PBA) = 0x00100030;                  /* 48 KiB receive, 16 KiB transmit */
	R(e, RAL0) = get_le32(e->mac);
	R(e, RAL0 + 4) = get_le16(e->mac + 4) | RAH_AV;
	e->ee_bits = 0;
	e->ee_cmd = 0;
	e->ee_reading = false;
	e->ee_do = false;
	e->ioaddr = 0;
	phy_reset(e);
	apply_link(e);
	net_rx_fifo_flush(&e->rxq);
	e->irq_rose_at = INT64_MIN;
	if (e->itr_timer)
		event_timer_cancel(e->itr_timer);
	delay_reset(e);
	update_irq(e);
}

/* A full reset: CTRL.RST or the machine's. tx_lock and lock held. */
static void device_reset(struct e1000 *e)
{
	memset(&e->ctx, 0, sizeof(e->ctx));
	tx_reset_packet(e);
	regs_reset(e);
}

static uint32_t reg_read(struct e1000 *e, unsigned off)
{
	uint32_t v;
	switch (off) {
	case ICR:
		v = R(e, ICR);
		R(e, ICR) = 0;
		update_irq(e);
		return v;
	case EECD:
		return eecd_read(e);
	case IMC:
	case ICS:
		return 0; /* write-only */
	default:
		if (off >= STATS_FIRST && off < STATS_END) {
			v = R(e, off);
			R(e, off) = 0;
			return v;
		}
		return R(e, off);
	}
}

/* What a register write does, lock held. Returns the work to do after the
 * lock is dropped: 1 transmit. A reset (CTRL.RST) is done by the caller. */
static int reg_write(struct e1000 *e, unsigned off, uint32_t v)
{
	switch (off) {
	case CTRL:
		R(e, CTRL) = v & ~CTRL_RST;
		return 0;
	case STATUS:
		return 0;
	case EECD:
		eecd_write(e, v);
		return 0;
	case EERD:
		eerd_write(e, v);
		return 0;
	case MDIC:
		mdic_write(e, v);
		return 0;
	case ICR:
		R(e, ICR) &= ~v;
		update_irq(e);
		return 0;
	case ICS:
		raise_cause(e, v);
		return 0;
	case IMS:
		R(e, IMS) |= v;
		update_irq(e);
		return 0;
	case IMC:
		R(e, IMS) &= ~v;
		update_irq(e);
		return 0;
	case ITR:
		/* a new interval counts from the last rise at once (0: a
		 * held cause rises now) */
		R(e, ITR) = v;
		update_irq(e);
		return 0;
	case RDTR:
		/* FPD (bit 31) ends the packet timer now; it reads as 0. A new
		 * delay applies from the next packet. */
		R(e, RDTR) = v & 0xFFFF;
		if ((v & (1u << 31)) && (delay_held(e) & ICR_RXT0))
			delay_signal(e, DELAY_RX);
		return 0;
	case RDBAL:
	case TDBAL:
		R(e, off) = v & ~0xFu;
		return 0;
	case RDLEN:
	case TDLEN:
		R(e, off) = v & 0xFFF80;
		return 0;
	case RDH:
	case RDT:
	case TDH:
		R(e, off) = v & 0xFFFF;
		return 0;
	case TDT:
		R(e, off) = v & 0xFFFF;
		return 1;
	case TCTL:
		R(e, TCTL) = v;
		return v & TCTL_EN ? 1 : 0;
	default:
		if (off >= STATS_FIRST && off < STATS_END)
			return 0; /* counters are read-only */
		if (reg_exists(off))
			R(e, off) = v;
		return 0;
	}
}

/* After a write that may have made room or enabled receive. Lock held. */
static bool rx_kick_needed(unsigned off)
{
	return off == RDT || off == RCTL || off == RDLEN || off == RDBAL || off == RDBAH ||
	       off == RDH || off == CTRL;
}

static uint32_t mmio_read32(struct e1000 *e, unsigned off)
{
	pthread_mutex_lock(&e->lock);
	uint32_t v = reg_read(e, off);
	pthread_mutex_unlock(&e->lock);
	return v;
}

static void mmio_write32(struct e1000 *e, unsigned off, uint32_t v)
{
	bool refused = false;
	int work;

	if (off == CTRL && (v & CTRL_RST)) {
		pthread_mutex_lock(&e->tx_lock);
		pthread_mutex_lock(&e->lock);
		device_reset(e);
		pthread_mutex_unlock(&e->lock);
		pthread_mutex_unlock(&e->tx_lock);
		return;
	}
	pthread_mutex_lock(&e->lock);
	work = reg_write(e, off, v);
	if (rx_kick_needed(off))
		refused = net_rx_fifo_drain(&e->rxq);
	pthread_mutex_unlock(&e->lock);
	if (refused)
		net_rx_ready(e->backend);
	if (work)
		tx_run(e);
}

/* Registers are 32 bits; a narrower access reads or merges into the
 * aligned dword (a driver never does this, a hostile one may). */
static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
	struct e1000 *e = opaque;
	unsigned aligned = (unsigned)off & ~3u, shift = ((unsigned)off & 3) * 8;
	uint32_t v = mmio_read32(e, aligned) >> shift;
	return size >= 4 ? v : v & ((1u << (size * 8)) - 1);
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct e1000 *e = opaque;
	unsigned aligned = (unsigned)off & ~3u, shift = ((unsigned)off & 3) * 8;
	uint32_t v = (uint32_t)val;

	if (size < 4 || shift) {
		uint32_t mask = (size >= 4 ? 0xFFFFFFFFu : (1u << (size * 8)) - 1) << shift;
		pthread_mutex_lock(&e->lock);
		uint32_t cur = R(e, aligned);
		pthread_mutex_unlock(&e->lock);
		v = (cur & ~mask) | ((v << shift) & mask);
	}
	mmio_write32(e, aligned, v);
}

static const struct io_ops mmio_ops = {
	.read = mmio_read, .write = mmio_write, .min_size = 1, .max_size = 4,
};

/* The I/O window: IOADDR selects a register, IODATA reads or writes it. */
static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
	struct e1000 *e = opaque;
	uint32_t v = 0xFFFFFFFF;
	if (off == 0 && size == 4) {
		pthread_mutex_lock(&e->lock);
		v = e->ioaddr;
		pthread_mutex_unlock(&e->lock);
	} else if (off == 4 && size == 4) {
		pthread_mutex_lock(&e->lock);
		unsigned a = e->ioaddr;
		pthread_mutex_unlock(&e->lock);
		v = mmio_read32(e, a);
	}
	return size >= 4 ? v : v & ((1u << (size * 8)) - 1);
}

static void io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct e1000 *e = opaque;
	if (size != 4)
		return;
	if (off == 0) {
		pthread_mutex_lock(&e->lock);
		e->ioaddr = (uint32_t)val & (E1000_MMIO_SIZE - 4);
		pthread_mutex_unlock(&e->lock);
	} else if (off == 4) {
		pthread_mutex_lock(&e->lock);
		unsigned a = e->ioaddr;
		pthread_mutex_unlock(&e->lock);
		mmio_write32(e, a, (uint32_t)val);
	}
}

static const struct io_ops io_ops = {
	.read = io_read, .write = io_write, .min_size = 1, .max_size = 4,
};

/* ---- lifecycle ------------------------------------------------------------- */

static void pci_reset(struct pci_device *d)
{
	struct e1000 *e = d->opaque;
	pthread_mutex_lock(&e->tx_lock);
	pthread_mutex_lock(&e->lock);
	device_reset(e);
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&e->tx_lock);
}

struct e1000 *e1000_create(struct pci_bus *bus, uint8_t devfn, const struct guest_mem *mem,
			   enum e1000_model model, const uint8_t mac[6],
			   struct net_backend *backend, uint8_t *rom, size_t rom_len)
{
	struct e1000 *e = xzalloc(sizeof(*e));

	e->mem = mem;
	e->backend = backend;
	e->model = model;
	e->link_up = true;
	memcpy(e->mac, mac, 6);
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->tx_lock, NULL);
	net_rx_fifo_init(&e->rxq, E1000_RX_PENDING, rx_deliver_held, e);
	eeprom_build(e);
	pci_device_init(&e->pci, "e1000", 0x8086, model_device_id[model], 0x020000,
			model == E1000_82540EM ? 0x03 : 0x00);
	pci_set_word(&e->pci, PCI_SUBSYSTEM_VENDOR_ID, e->eeprom[0x0C]);
	pci_set_word(&e->pci, PCI_SUBSYSTEM_ID, e->eeprom[0x0B]);
	pci_device_set_bar(&e->pci, 0, PCI_BAR_MEM32, false, E1000_MMIO_SIZE, &mmio_ops, e);
	pci_device_set_bar(&e->pci, 1, PCI_BAR_IO, false, E1000_IO_SIZE, &io_ops, e);
	pci_device_set_interrupt_pin(&e->pci, 1);
	if (rom) {
		e->rom = rom;
		/* iPXE's efi-e1000.rom names the 82540EM (8086:100E); SeaBIOS
		 * runs a ROM only when its IDs are the function's, so the
		 * 82544GC and 82545EM would never boot from the network. */
		pci_rom_set_ids(rom, rom_len, 0x8086, model_device_id[model]);
		pci_device_set_rom(&e->pci, rom, rom_len);
	}
	e->pci.opaque = e;
	e->pci.reset = pci_reset;
	regs_reset(e);
	if (pci_register(bus, &e->pci, devfn) < 0) {
		e1000_destroy(e);
		return NULL;
	}
	(void)model_names;
	return e;
}

void e1000_set_timers(struct e1000 *e, struct event_loop *loop)
{
	if (!loop)
		return;
	e->loop = loop;
	e->itr_timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, itr_expired, e);
	e->delay_timer = event_timer_new(loop, EVENT_CLOCK_VIRTUAL, delay_expired, e);
	if (!e->itr_timer || !e->delay_timer)
		warn("%s: no timer: interrupts are signalled at once (ITR, RDTR, TIDV)",
		     e->pci.name);
}

struct pci_device *e1000_pci(struct e1000 *e)
{
	return &e->pci;
}

void e1000_destroy(struct e1000 *e)
{
	if (!e)
		return;
	if (e->itr_timer)
		event_timer_free(e->itr_timer);
	if (e->delay_timer)
		event_timer_free(e->delay_timer);
	net_rx_fifo_flush(&e->rxq);
	pci_device_release(&e->pci);
	free(e->rom);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->tx_lock);
	free(e);
}

void e1000_quiesce(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	net_rx_fifo_quiesce(&e->rxq);
	pthread_mutex_unlock(&e->lock);
}

/* Frames that arrived meanwhile go in first, in order. */
void e1000_resume(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	bool refused = net_rx_fifo_resume(&e->rxq);
	pthread_mutex_unlock(&e->lock);
	if (refused)
		net_rx_ready(e->backend);
}

struct net_backend *e1000_backend(struct e1000 *e)
{
	return e->backend;
}

void e1000_set_link(struct e1000 *e, bool up)
{
	pthread_mutex_lock(&e->lock);
	if (e->link_up != up) {
		e->link_up = up;
		apply_link(e);
		raise_cause(e, ICR_LSC);
	}
	pthread_mutex_unlock(&e->lock);
}

bool e1000_link(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	bool up = e->link_up;
	pthread_mutex_unlock(&e->lock);
	return up;
}

void e1000_stats(struct e1000 *e, uint64_t *rx_dropped, uint64_t *tx_dropped)
{
	pthread_mutex_lock(&e->tx_lock);
	pthread_mutex_lock(&e->lock);
	*rx_dropped = e->rx_dropped;
	*tx_dropped = e->tx_dropped;
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&e->tx_lock);
}

/* ---- saved state ------------------------------------------------------------ */

/*
 * Section "e1000" v1: the PCI configuration, the register ranges, the PHY, the
 * EEPROM wires, the transmit context and a packet half built (buffers up
 * to a descriptor without EOP). Frames held for a full ring are not
 * saved: to the guest they are frames lost on the wire. The EEPROM is
 * rebuilt from the MAC, which must be this card's.
 */
void e1000_save(struct e1000 *e, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&e->tx_lock);
	pthread_mutex_lock(&e->lock);
	ss_section_begin(w, "e1000", instance, 1);
	pci_config_put(w, &e->pci);
	ss_put_u8(w, "model", (uint8_t)e->model);
	ss_put_bytes(w, "mac", e->mac, 6);
	/* A cause a delay timer holds back goes in ICR: the destination
	 * signals it at once, early rather than lost. */
	uint32_t icr = R(e, ICR);
	R(e, ICR) |= delay_held(e);
	for (unsigned i = 0; i < ARRAY_SIZE(reg_ranges); i++)
		ss_put_bytes(w, reg_ranges[i].field, &e->regs[reg_ranges[i].first / 4],
			     reg_ranges[i].end - reg_ranges[i].first);
	R(e, ICR) = icr;
	ss_put_bytes(w, "phy", e->phy, sizeof(e->phy));
	ss_put_u32(w, "ioaddr", e->ioaddr);
	ss_put_bool(w, "link_up", e->link_up);
	ss_put_u16(w, "ee_cmd", e->ee_cmd);
	ss_put_u8(w, "ee_bits", e->ee_bits);
	ss_put_bool(w, "ee_reading", e->ee_reading);
	ss_put_u8(w, "ee_addr", e->ee_addr);
	ss_put_u8(w, "ee_pos", e->ee_pos);
	ss_put_bool(w, "ee_do", e->ee_do);
	const struct tx_context *c = &e->ctx;
	uint8_t ctx[20];
	ctx[0] = c->ipcss;
	ctx[1] = c->ipcso;
	ctx[2] = c->tucss;
	ctx[3] = c->tucso;
	ctx[4] = c->tucmd;
	ctx[5] = c->hdrlen;
	put_le16(ctx + 6, c->ipcse);
	put_le16(ctx + 8, c->tucse);
	put_le16(ctx + 10, c->mss);
	put_le32(ctx + 12, c->paylen);
	put_le32(ctx + 16, 0);
	ss_put_bytes(w, "tx.context", ctx, sizeof(ctx));
	ss_put_bool(w, "tx.bad", e->tx_bad);
	ss_put_bool(w, "tx.tse", e->tx_tse);
	ss_put_bool(w, "tx.ic", e->tx_ic);
	ss_put_u8(w, "tx.popts", e->tx_popts);
	ss_put_u8(w, "tx.cso", e->tx_cso);
	ss_put_u8(w, "tx.css", e->tx_css);
	ss_put_bytes(w, "tx.packet", e->txbuf, e->txlen);
	ss_section_end(w);
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&e->tx_lock);
}

bool e1000_load(struct e1000 *e, struct ss_reader *r, uint32_t instance)
{
	uint8_t cfg[256], model, mac[6], ee_bits, ee_addr, ee_pos, popts, cso, css, ctx[20];
	uint16_t phy[32], ee_cmd;
	uint32_t ioaddr;
	bool link_up, ee_reading, ee_do, bad, tse, ic;
	uint32_t *regs = malloc(sizeof(e->regs));
	uint8_t *packet = malloc(TXBUF_MAX);
	size_t plen = 0;
	bool ok = false;

	if (!regs || !packet)
		goto out;
	if (!ss_section_open(r, "e1000", instance, 1, 1, NULL))
		goto out;
	pci_config_get(r, &e->pci, cfg);
	ss_get_u8(r, "model", &model);
	ss_get_bytes(r, "mac", mac, 6);
	memset(regs, 0, sizeof(e->regs));
	for (unsigned i = 0; i < ARRAY_SIZE(reg_ranges); i++)
		ss_get_bytes(r, reg_ranges[i].field, &regs[reg_ranges[i].first / 4],
			     reg_ranges[i].end - reg_ranges[i].first);
	ss_get_bytes(r, "phy", phy, sizeof(phy));
	ss_get_u32(r, "ioaddr", &ioaddr);
	ss_get_bool(r, "link_up", &link_up);
	ss_get_u16(r, "ee_cmd", &ee_cmd);
	ss_get_u8(r, "ee_bits", &ee_bits);
	ss_get_bool(r, "ee_reading", &ee_reading);
	ss_get_u8(r, "ee_addr", &ee_addr);
	ss_get_u8(r, "ee_pos", &ee_pos);
	ss_get_bool(r, "ee_do", &ee_do);
	ss_get_bytes(r, "tx.context", ctx, sizeof(ctx));
	ss_get_bool(r, "tx.bad", &bad);
	ss_get_bool(r, "tx.tse", &tse);
	ss_get_bool(r, "tx.ic", &ic);
	ss_get_u8(r, "tx.popts", &popts);
	ss_get_u8(r, "tx.cso", &cso);
	ss_get_u8(r, "tx.css", &css);
	ss_get_bytes_max(r, "tx.packet", packet, TXBUF_MAX, &plen);
	if (!ss_section_close(r))
		goto out;
	if (model != e->model || memcmp(mac, e->mac, 6)) {
		ss_fail(r, "saved state: section e1000 instance %u: another card (model or MAC)",
			instance);
		goto out;
	}
	if (ee_bits > 9 || ee_addr >= E1000_EEPROM_WORDS || ee_pos > 15 ||
	    ioaddr > E1000_MMIO_SIZE - 4 || (ioaddr & 3)) {
		ss_fail(r, "saved state: section e1000 instance %u: EEPROM or I/O state out of range",
			instance);
		goto out;
	}
	pthread_mutex_lock(&e->tx_lock);
	pthread_mutex_lock(&e->lock);
	net_rx_fifo_flush(&e->rxq);
	memcpy(e->regs, regs, sizeof(e->regs));
	memcpy(e->phy, phy, sizeof(phy));
	e->ioaddr = ioaddr;
	e->link_up = link_up;
	e->ee_cmd = ee_cmd;
	e->ee_bits = ee_bits;
	e->ee_reading = ee_reading;
	e->ee_addr = ee_addr;
	e->ee_pos = ee_pos;
	e->ee_do = ee_do;
	e->ctx = (struct tx_context){
		.ipcss = ctx[0], .ipcso = ctx[1], .tucss = ctx[2], .tucso = ctx[3],
		.tucmd = ctx[4], .hdrlen = ctx[5], .ipcse = get_le16(ctx + 6),
		.tucse = get_le16(ctx + 8), .mss = get_le16(ctx + 10),
		.paylen = get_le32(ctx + 12) & 0xFFFFF,
	};
	e->tx_bad = bad;
	e->tx_tse = tse;
	e->tx_ic = ic;
	e->tx_popts = popts;
	e->tx_cso = cso;
	e->tx_css = css;
	memcpy(e->txbuf, packet, plen);
	e->txlen = (uint32_t)plen;
	pci_config_apply(&e->pci, cfg);
	e->line = false;
	e->irq_rose_at = INT64_MIN; /* the source's clock is not ours */
	delay_reset(e);
	update_irq(e);
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&e->tx_lock);
	ok = true;
out:
	free(regs);
	free(packet);
	return ok;
}
