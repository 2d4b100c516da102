// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The emulated NICs against the other threads that reach them in vmm. A
 * card transmits within the doorbell's register write, on the vCPU that
 * made it (src/board/pc_nics.c). Here "vCPU 0" rings the doorbell and the
 * transmit runs on it; "vCPU 1" works the same card at the same time, as
 * a guest's second CPU may without any driver lock: its own doorbells
 * (two transmits meet on tx_lock), interrupt acknowledgements and, on the
 * NE2000, resets. A "backend" thread delivers frames, and the e1000's
 * interrupt timers fire on a main-loop thread. The fake backend answers
 * every frame it is sent with one received synchronously, under a lock of
 * its own, as slirp does (its lock held while it calls the NIC): a card
 * that held its register lock while sending would deadlock here. Quiesce
 * and resume come between rounds while frames keep arriving, with both
 * vCPUs parked, as machine_pause() parks them first. Built under ASan and
 * UBSan (make unit) and ThreadSanitizer (make tsan), which reports any
 * lock-order inversion or unlocked access.
 *
 * Transmit is done when the write returns, so each test checks at once
 * that no frame was lost or sent twice where the count is known.
 */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bus.h"
#include "bus_access.h"
#include "event.h"
#include "guest_mem.h"
#include "hw/e1000.h"
#include "hw/ne2000.h"
#include "hw/pcnet.h"
#include "hw/rtl8139.h"
#include "net.h"
#include "pci.h"
#include "util.h"

#define RAM_SIZE (1u << 20)
#define DEVFN PCI_DEVFN(3, 0)
#define MMIO 0xE0000000u
#define IOBASE 0xC000u
#define ROUNDS 300
#define NDESC 16

struct ctx {
	struct net_backend be;
	pthread_mutex_t be_lock; /* slirp's */
	uint8_t *ram;
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	net_receive_fn rx;
	void *nic;
	atomic_uint sent, irq_changes;
	atomic_bool done, vcpu1_stop;
	/* The vCPUs hold it (read) while they run; quiesce takes it (write),
	 * writers first so that vCPU 1 cannot hold the pause off. */
	pthread_rwlock_t park;
	pthread_barrier_t start;
	pthread_t backend, vcpu1;
	void (*poke)(struct ctx *c, unsigned i); /* vCPU 1's i-th access */
	atomic_uint pokes;                       /* how many it made */
};

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void frame_to(uint8_t *f, size_t len)
{
	memset(f, 0, len);
	memcpy(f, MAC, 6);
	put_be16(f + 12, 0x0800);
}

/* Like slirp: under its own lock, and it may answer at once. */
static void backend_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame,
			 size_t len)
{
	struct ctx *c = (struct ctx *)b;
	static const struct net_hdr none;
	uint8_t reply[64];

	pthread_mutex_lock(&c->be_lock);
	atomic_fetch_add(&c->sent, 1);
	frame_to(reply, sizeof(reply));
	c->rx(c->nic, &none, reply, sizeof(reply));
	pthread_mutex_unlock(&c->be_lock);
}

static void backend_rx_ready(struct net_backend *b)
{
}

static const struct net_backend_ops fake_ops = { .send = backend_send,
						 .rx_ready = backend_rx_ready };

static void set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	atomic_fetch_add(&((struct ctx *)opaque)->irq_changes, 1);
}

static struct ctx *ctx_new(void)
{
	struct ctx *c = calloc(1, sizeof(*c));
	pthread_rwlockattr_t attr;

	assert_non_null(c);
	c->ram = calloc(1, RAM_SIZE);
	assert_non_null(c->ram);
	pthread_mutex_init(&c->be_lock, NULL);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->park, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_barrier_init(&c->start, NULL, 2);
	guest_mem_init_buffer(&c->mem, c->ram, RAM_SIZE);
	bus_init(&c->pio, "pio");
	bus_init(&c->mmio, "mmio");
	pci_bus_init(&c->pci, &c->pio, &c->mmio);
	c->pci.set_intx = set_intx;
	c->pci.intx_opaque = c;
	c->be.ops = &fake_ops;
	return c;
}

static void ctx_free(struct ctx *c)
{
	bus_destroy(&c->pio);
	bus_destroy(&c->mmio);
	pthread_barrier_destroy(&c->start);
	pthread_rwlock_destroy(&c->park);
	pthread_mutex_destroy(&c->be_lock);
	free(c->ram);
	free(c);
}

/* The backend's thread: frames as fast as the card takes them. */
static void *backend_thread(void *opaque)
{
	struct ctx *c = opaque;
	static const struct net_hdr none;
	uint8_t f[100];

	frame_to(f, sizeof(f));
	while (!atomic_load(&c->done)) {
		pthread_mutex_lock(&c->be_lock);
		c->rx(c->nic, &none, f, sizeof(f));
		pthread_mutex_unlock(&c->be_lock);
	}
	return NULL;
}

static void *vcpu1_thread(void *opaque)
{
	struct ctx *c = opaque;

	pthread_barrier_wait(&c->start);
	for (unsigned i = 0; !atomic_load(&c->vcpu1_stop); i++) {
		pthread_rwlock_rdlock(&c->park);
		c->poke(c, i);
		pthread_rwlock_unlock(&c->park);
		atomic_store(&c->pokes, i + 1);
	}
	return NULL;
}

/* The backend and vCPU 1 on the card; vCPU 0 (the caller) starts with vCPU 1. */
static void others_start(struct ctx *c, void (*poke)(struct ctx *c, unsigned i))
{
	c->poke = poke;
	assert_int_equal(pthread_create(&c->backend, NULL, backend_thread, c), 0);
	assert_int_equal(pthread_create(&c->vcpu1, NULL, vcpu1_thread, c), 0);
	pthread_barrier_wait(&c->start);
}

/* vCPU 1 first: the checks after this read what the vCPUs left. */
static void others_stop(struct ctx *c)
{
	atomic_store(&c->vcpu1_stop, true);
	pthread_join(c->vcpu1, NULL);
	atomic_store(&c->done, true);
	pthread_join(c->backend, NULL);
}

/* vCPU 0 goes on until each vCPU has made ROUNDS accesses: on a loaded
 * host vCPU 1 may not get a CPU for a while, and the two must overlap. */
static bool more_rounds(struct ctx *c, unsigned r)
{
	return r < ROUNDS || atomic_load(&c->pokes) < ROUNDS;
}

/* vCPU 0's round, run as vCPU 1 runs its accesses. */
static void round_begin(struct ctx *c)
{
	pthread_rwlock_rdlock(&c->park);
}

static void round_end(struct ctx *c)
{
	pthread_rwlock_unlock(&c->park);
}

/* Every 50 rounds, as machine_pause() and machine_resume() do it: the
 * vCPUs parked, then the card quiesced and resumed while frames come. */
#define PAUSE_EVERY 50
#define MAYBE_PAUSE(c, r, kind, nic)                                                     \
	do {                                                                             \
		if ((r) % PAUSE_EVERY == 0) {                                            \
			pthread_rwlock_wrlock(&(c)->park);                               \
			kind##_quiesce(nic);                                             \
			kind##_resume(nic);                                              \
			pthread_rwlock_unlock(&(c)->park);                               \
		}                                                                        \
	} while (0)

/* ---- e1000 ------------------------------------------------------------------- */

static uint32_t e_rd(struct ctx *c, unsigned reg)
{
	return (uint32_t)bus_rd(&c->mmio, MMIO + reg, 4);
}

static void e_wr(struct ctx *c, unsigned reg, uint32_t v)
{
	bus_wr(&c->mmio, MMIO + reg, v, 4);
}

static void *loop_thread(void *opaque)
{
	event_loop_run(opaque);
	return NULL;
}

/* vCPU 1: ICR read (it clears the causes vCPU 0 also reads), and TCTL
 * written again, a doorbell of its own: its transmit meets vCPU 0's. */
static void e1000_poke(struct ctx *c, unsigned i)
{
	e_rd(c, 0x00C0);
	e_wr(c, 0x0400, 0x0A); /* TCTL: EN, PSP */
	e_rd(c, 0x0008);       /* STATUS */
}

/* ... and the card's interrupt timers (ITR, the delay timers) firing on a
 * main-loop thread of their own. */
static void test_e1000_threads(void **state)
{
	struct ctx *c = ctx_new();
	struct e1000 *e = e1000_create(&c->pci, DEVFN, &c->mem, E1000_82540EM, MAC, &c->be,
				       NULL, 0);
	struct event_loop *loop = event_loop_new();
	pthread_t lt;

	assert_non_null(e);
	assert_non_null(loop);
	e1000_set_timers(e, loop);
	assert_int_equal(pthread_create(&lt, NULL, loop_thread, loop), 0);
	c->nic = e;
	c->rx = e1000_receive;
	net_attach(&c->be, e1000_receive, e);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, MMIO, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	/* Rings: transmit at 0x10000 (buffers at 0x30000), receive at 0x20000. */
	for (unsigned i = 0; i < NDESC; i++) {
		uint8_t *d = c->ram + 0x10000 + 16 * i;
		put_le64(d, 0x30000);
		put_le32(d + 8, 64 | 0x8B000000u); /* EOP IFCS RS IDE */
		put_le64(c->ram + 0x20000 + 16 * i, 0x40000 + 0x800 * i);
	}
	frame_to(c->ram + 0x30000, 64);
	e_wr(c, 0x3800, 0x10000);
	e_wr(c, 0x3808, NDESC * 16);
	e_wr(c, 0x0400, 0x0A);
	e_wr(c, 0x2800, 0x20000);
	e_wr(c, 0x2808, NDESC * 16);
	e_wr(c, 0x0100, 0x8002 | 0x08); /* EN, BAM, UPE */
	e_wr(c, 0x00D0, 0x9F);
	e_wr(c, 0x00C4, 40);   /* ITR: 10 us */
	e_wr(c, 0x2820, 2);    /* RDTR */
	e_wr(c, 0x282C, 8);    /* RADV */
	e_wr(c, 0x3820, 2);    /* TIDV */
	e_wr(c, 0x382C, 8);    /* TADV */
	others_start(c, e1000_poke);
	unsigned r;
	for (r = 0; more_rounds(c, r); r++) {
		round_begin(c);
		e_wr(c, 0x3818, (r + 1) % NDESC);           /* TDT: one more frame */
		e_rd(c, 0x00C0);                            /* ICR */
		e_wr(c, 0x2818, (e_rd(c, 0x2810) + NDESC - 1) % NDESC); /* give buffers back */
		round_end(c);
		MAYBE_PAUSE(c, r, e1000, e);
	}
	others_stop(c);
	/* One frame per TDT step, each sent once, whichever vCPU sent it. */
	assert_int_equal(e_rd(c, 0x3810), e_rd(c, 0x3818));
	assert_int_equal(atomic_load(&c->sent), r);
	assert_true(atomic_load(&c->irq_changes) > 0);
	event_loop_quit(loop);
	pthread_join(lt, NULL);
	e1000_destroy(e);
	event_loop_free(loop);
	ctx_free(c);
}

/* ---- rtl8139 ------------------------------------------------------------------- */

/* Slot s sends the 64-byte frame at 0x30000. */
static void rtl_send(struct ctx *c, unsigned s)
{
	bus_wr(&c->pio, IOBASE + 0x10 + 4 * s, 64, 4);
}

/* vCPU 1: slots 2 and 3 (vCPU 0 has 0 and 1), and ISR read and acked. */
static void rtl8139_poke(struct ctx *c, unsigned i)
{
	rtl_send(c, 2 + i % 2);
	uint16_t isr = (uint16_t)bus_rd(&c->pio, IOBASE + 0x3E, 2);
	bus_wr(&c->pio, IOBASE + 0x3E, isr, 2);
}

static void test_rtl8139_threads(void **state)
{
	struct ctx *c = ctx_new();
	struct rtl8139 *n = rtl8139_create(&c->pci, DEVFN, &c->mem, MAC, true, &c->be, NULL, 0,
					   NULL, NULL);

	assert_non_null(n);
	c->nic = n;
	c->rx = rtl8139_receive;
	net_attach(&c->be, rtl8139_receive, n);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	frame_to(c->ram + 0x30000, 64);
	bus_wr(&c->pio, IOBASE + 0x30, 0x20000, 4);     /* RBSTART */
	bus_wr(&c->pio, IOBASE + 0x44, 0x0A | 0x80, 4); /* APM AB WRAP */
	bus_wr(&c->pio, IOBASE + 0x37, 0x0C, 1);
	bus_wr(&c->pio, IOBASE + 0x3C, 0xFFFF, 2);
	for (unsigned s = 0; s < 4; s++)
		bus_wr(&c->pio, IOBASE + 0x20 + 4 * s, 0x30000, 4);
	others_start(c, rtl8139_poke);
	unsigned r;
	for (r = 0; more_rounds(c, r); r++) {
		round_begin(c);
		rtl_send(c, r % 2);
		uint16_t isr = (uint16_t)bus_rd(&c->pio, IOBASE + 0x3E, 2);
		bus_wr(&c->pio, IOBASE + 0x3E, isr, 2);
		uint16_t cbr = (uint16_t)bus_rd(&c->pio, IOBASE + 0x3A, 2);
		bus_wr(&c->pio, IOBASE + 0x38, (uint16_t)(cbr - 16), 2); /* read it all */
		round_end(c);
		MAYBE_PAUSE(c, r, rtl8139, n);
	}
	others_stop(c);
	/* Each slot write sent once, and every slot handed back (OWN). */
	for (unsigned s = 0; s < 4; s++)
		assert_true(bus_rd(&c->pio, IOBASE + 0x10 + 4 * s, 4) & 0x2000);
	assert_int_equal(atomic_load(&c->sent), r + atomic_load(&c->pokes));
	assert_true(atomic_load(&c->irq_changes) > 0);
	rtl8139_destroy(n);
	ctx_free(c);
}

/* ---- ne2000 ------------------------------------------------------------------- */

static void ne_wr(struct ctx *c, unsigned reg, uint32_t v, unsigned size)
{
	bus_wr(&c->pio, IOBASE + reg, v, size);
}

static uint8_t ne_rd(struct ctx *c, unsigned reg)
{
	return (uint8_t)bus_rd(&c->pio, IOBASE + reg, 1);
}

/* vCPU 1: TXP over vCPU 0's (the frame at TPSR again, or the one being
 * sent), and now and then the reset port, then the interrupt mask again:
 * the reset and the second TXP that tx_lock keeps off a transmit still
 * sending from txbuf. Page and remote DMA are shared with vCPU 0, as on
 * a real card; what that does to vCPU 0's accesses is the guest's own
 * business. */
static void ne2000_poke(struct ctx *c, unsigned i)
{
	if (i % 64 == 63) {
		ne_wr(c, 0x1F, 0, 1);
		ne_wr(c, 0x0F, 0x3F, 1);
	} else {
		ne_wr(c, 0x00, 0x26, 1);
	}
}

/* As Linux's 8390 runs it: the ring 0x46-0x80, a frame written by
 * remote DMA and sent, the ring read back to BNRY, interrupts acked. */
static void test_ne2000_threads(void **state)
{
	struct ctx *c = ctx_new();
	struct ne2000 *n = ne2000_create_pci(&c->pci, DEVFN, MAC, &c->be, NULL, 0);
	uint8_t f[64];

	assert_non_null(n);
	c->nic = n;
	c->rx = ne2000_receive;
	net_attach(&c->be, ne2000_receive, n);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	static const uint8_t init[][2] = {
		{ 0x00, 0x21 }, { 0x0E, 0x49 }, { 0x04, 0x40 }, { 0x01, 0x46 }, { 0x03, 0x7F },
		{ 0x02, 0x80 }, { 0x07, 0xFF }, { 0x0F, 0x3F }, { 0x00, 0x61 }, { 0x07, 0x46 },
		{ 0x00, 0x22 }, { 0x0D, 0x00 }, { 0x0C, 0x1C },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(init); i++)
		ne_wr(c, init[i][0], init[i][1], 1);
	frame_to(f, sizeof(f));
	others_start(c, ne2000_poke);
	unsigned r;
	for (r = 0; more_rounds(c, r); r++) {
		round_begin(c);
		/* The frame into page 0x40 (remote write), then TXP. */
		ne_wr(c, 0x0A, 64, 1), ne_wr(c, 0x0B, 0, 1);
		ne_wr(c, 0x08, 0, 1), ne_wr(c, 0x09, 0x40, 1);
		ne_wr(c, 0x00, 0x12, 1);
		for (unsigned i = 0; i < 64; i += 2)
			ne_wr(c, 0x10, f[i] | f[i + 1] << 8, 2);
		ne_wr(c, 0x07, 0x40, 1);
		if (!(ne_rd(c, 0x00) & 0x04)) {
			ne_wr(c, 0x05, 64, 1), ne_wr(c, 0x06, 0, 1), ne_wr(c, 0x04, 0x40, 1);
			ne_wr(c, 0x00, 0x26, 1);
		}
		/* Everything received is read: BNRY just behind CURR. */
		ne_wr(c, 0x00, 0x62, 1);
		uint8_t curr = ne_rd(c, 0x07);
		ne_wr(c, 0x00, 0x22, 1);
		ne_wr(c, 0x03, curr == 0x46 ? 0x7F : curr - 1, 1);
		ne_wr(c, 0x07, ne_rd(c, 0x07), 1);
		round_end(c);
		MAYBE_PAUSE(c, r, ne2000, n);
	}
	others_stop(c);
	/* Every TXP's transmit ended (or a reset took it) before its write
	 * returned. */
	assert_false(ne_rd(c, 0x00) & 0x04);
	assert_true(atomic_load(&c->sent) > 0);
	assert_true(atomic_load(&c->irq_changes) > 0);
	ne2000_destroy(n);
	ctx_free(c);
}

/* ---- pcnet --------------------------------------------------------------------- */

static void pc_csr(struct ctx *c, unsigned reg, uint16_t v)
{
	bus_wr(&c->pio, IOBASE + 0x12, reg, 2);
	bus_wr(&c->pio, IOBASE + 0x10, v, 2);
}

static uint16_t pc_csr_rd(struct ctx *c, unsigned reg)
{
	bus_wr(&c->pio, IOBASE + 0x12, reg, 2);
	return (uint16_t)bus_rd(&c->pio, IOBASE + 0x10, 2);
}

/* vCPU 1: CSR0 read and acknowledged (each RDP access also retries held
 * frames). Not TDMD: the transmit descriptors are vCPU 0's to hand over,
 * and a transmit on this thread would read them unsynchronised with it. */
static void pcnet_poke(struct ctx *c, unsigned i)
{
	uint16_t csr0 = pc_csr_rd(c, 0);
	pc_csr(c, 0, csr0 & ~0x004F);
}

/* As pcnet32 runs it: style 2, rings of 16; the receive ring laid out
 * before the threads start (the card writes it on the backend's thread;
 * this test touches it no more), the transmit ring one descriptor per
 * round, handed to the card (OWN) before TDMD. */
static void test_pcnet_threads(void **state)
{
	struct ctx *c = ctx_new();
	struct pcnet *p = pcnet_create(&c->pci, DEVFN, &c->mem, MAC, &c->be, NULL, 0);

	assert_non_null(p);
	c->nic = p;
	c->rx = pcnet_receive;
	net_attach(&c->be, pcnet_receive, p);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0, IOBASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	uint8_t *ib = c->ram + 0x8000;
	put_le16(ib, 0x8000);                 /* promiscuous */
	ib[2] = 4 << 4, ib[3] = 4 << 4;       /* 16 each */
	put_le32(ib + 20, 0x10000);
	put_le32(ib + 24, 0x20000);
	for (unsigned i = 0; i < NDESC; i++) {
		put_le32(c->ram + 0x10000 + 16 * i, 0x40000 + 0x800 * i);
		put_le32(c->ram + 0x10004 + 16 * i, 0x8000F9F8u); /* OWN, 1544 bytes */
		put_le32(c->ram + 0x20000 + 16 * i, 0x30000);
		put_le32(c->ram + 0x20004 + 16 * i, 0x0300FFC0u); /* STP ENP, 64: the host's */
	}
	frame_to(c->ram + 0x30000, 64);
	bus_wr(&c->pio, IOBASE + 0x12, 20, 2);
	bus_wr(&c->pio, IOBASE + 0x16, 2, 2);
	pc_csr(c, 1, 0x8000);
	pc_csr(c, 2, 0);
	pc_csr(c, 0, 0x0001);
	pc_csr(c, 0, 0x0042);
	others_start(c, pcnet_poke);
	unsigned r;
	for (r = 0; more_rounds(c, r); r++) {
		round_begin(c);
		put_le32(c->ram + 0x20004 + 16 * (r % NDESC), 0x8300FFC0u); /* OWN STP ENP */
		pc_csr(c, 0, 0x0048);                        /* TDMD, IENA */
		uint16_t csr0 = pc_csr_rd(c, 0);
		pc_csr(c, 0, csr0 & ~0x004F);                /* acknowledge */
		pc_csr(c, 0, 0x0040);
		round_end(c);
		MAYBE_PAUSE(c, r, pcnet, p);
	}
	others_stop(c);
	/* Each descriptor handed over went out once, within its TDMD. */
	assert_int_equal(atomic_load(&c->sent), r);
	assert_false(c->ram[0x20004 + 16 * ((r - 1) % NDESC) + 3] & 0x80);
	assert_true(atomic_load(&c->irq_changes) > 0);
	pcnet_destroy(p);
	ctx_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e1000_threads),
		cmocka_unit_test(test_rtl8139_threads),
		cmocka_unit_test(test_ne2000_threads),
		cmocka_unit_test(test_pcnet_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
