// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Races on the virtio transport: two "vCPU" threads hit the same
 * registers at once while the device's I/O thread (and virtio-blk's
 * workers) complete requests. Built twice: under ASan/UBSan with the other
 * unit tests (`make unit`), where the QUEUE_SEL race of issue 12 shows as
 * a heap overflow, and under ThreadSanitizer (`make tsan`), which reports
 * any access to shared state without a common lock.
 *
 * The threads start together and run for RUN_MS; with ASan or TSan a hit
 * aborts the test, so passing means none was seen in that time (on the
 * code before the fix, the QUEUE_SEL test hit within a few ms here).
 */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hw/virtio_blk.h"
#include "hw/virtio_rng.h"
#include "memdisk.h"
#include "virtio_fixture.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#define RAM_SIZE (1024 * 1024)
#define DEVFN PCI_DEVFN(4, 0)
#define IOBASE 0xC000
#define MSIXBASE 0xFEBFF000ULL
#define CAP_MSIX 0x40
#define QSIZE 16
#define RUN_MS 400 /* how long each race runs */

struct ctx {
	struct vfix f;
	struct virtio_rng *rng;
	struct virtio_blk *blk;
	struct memdisk *disk;
	atomic_uint msis;
	atomic_bool stop;
	pthread_barrier_t start;
	struct timespec deadline;
	atomic_uint bad; /* checks failed on a thread (cmocka asserts only on the main one) */
	uint16_t huge_sel; /* the out-of-range QUEUE_SEL the attacker writes */
};

static void send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct ctx *c = opaque;
	atomic_fetch_add(&c->msis, 1);
}

/* MSI-X table entry v: an address and data, unmasked. */
static void msix_entry(struct ctx *c, unsigned v, uint32_t data)
{
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 0, 0xFEE00000u, 4);
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 4, 0, 4);
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 8, data, 4);
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 12, 0, 4);
}

/* Firmware and a driver's first steps: BARs placed, MSI-X on (vectors 0
 * and 1 set up), features negotiated, queue 0 enabled, DRIVER_OK. */
static void bring_up(struct ctx *c, uint64_t features)
{
	vfix_cfg_wr(&c->f, PCI_BAR0 + 4, (uint32_t)MSIXBASE, 4);
	vfix_place_bars(&c->f, IOBASE);
	msix_entry(c, 0, 0x40);
	msix_entry(c, 1, 0x41);
	vfix_cfg_wr(&c->f, CAP_MSIX + 2, 0x8000, 2);
	vfix_negotiate(&c->f, features);
	vfix_queue_setup(&c->f, 0);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
	vfix_driver_ok(&c->f);
}

/* A QUEUE_SEL value past queue_vector[] whose element lies in the redzone
 * right after the device's heap object, so that ASan reports a use of it
 * for certain (0xFFFF, the value, lands 128 KiB on, maybe inside
 * another object). Without ASan: 0xFFFF. */
static uint16_t redzone_sel(struct virtio_pci *t)
{
#if defined(__SANITIZE_ADDRESS__)
	uint8_t *base = (uint8_t *)t->queue_vector;
	for (unsigned i = VIRTIO_PCI_MAX_QUEUES; i < 0xFFFF; i++)
		if (__asan_address_is_poisoned(base + 2 * i))
			return (uint16_t)i;
#else
	(void)t;
#endif
	return 0xFFFF;
}

static int setup_rng(void **state, bool io_thread)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct virtio_host host = { .send_msi = send_msi, .opaque = c, .io_thread = io_thread };

	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	c->rng = virtio_rng_create(&c->f.pci, DEVFN, &c->f.mem, &host);
	assert_non_null(c->rng);
	c->f.t = virtio_rng_transport(c->rng);
	c->huge_sel = redzone_sel(c->f.t);
	bring_up(c, 1ULL << VIRTIO_F_VERSION_1);
	*state = c;
	return 0;
}

static int setup_rng_sync(void **state) { return setup_rng(state, false); }
static int setup_rng_thread(void **state) { return setup_rng(state, true); }

static int setup_blk(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct virtio_host host = { .send_msi = send_msi, .opaque = c, .io_thread = true };

	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	c->disk = memdisk_new(64 * 512, false);
	for (unsigned i = 0; i < 64 * 512; i++)
		c->disk->data[i] = (uint8_t)(i >> 9);
	c->blk = virtio_blk_create(&c->f.pci, DEVFN, &c->f.mem, &host, &c->disk->bd, "race", 4);
	assert_non_null(c->blk);
	c->f.t = virtio_blk_transport(c->blk);
	c->huge_sel = redzone_sel(c->f.t);
	bring_up(c, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_EVENT_IDX);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	uint8_t *disk_data = c->disk ? c->disk->data : NULL;

	virtio_rng_destroy(c->rng);
	virtio_blk_destroy(c->blk); /* frees the memdisk struct (block_close) */
	free(disk_data);
	vfix_destroy(&c->f);
	free(c);
	return 0;
}

/* A racing thread's loop condition: both threads released together, then
 * RUN_MS of work (or until the other one failed). */
static bool racing(struct ctx *c, unsigned *round)
{
	struct timespec now;

	if ((*round)++ == 0)
		pthread_barrier_wait(&c->start);
	if (atomic_load(&c->stop))
		return false;
	if (*round % 64)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > c->deadline.tv_sec ||
	    (now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec)) {
		atomic_store(&c->stop, true);
		return false;
	}
	return true;
}

/* Runs a and b on two threads ("vCPUs") at once and waits for both. */
static void run_two(struct ctx *c, void *(*a)(void *), void *(*b)(void *))
{
	pthread_t ta, tb;

	atomic_store(&c->stop, false);
	pthread_barrier_init(&c->start, NULL, 2);
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_nsec += RUN_MS * 1000000L;
	c->deadline.tv_sec += c->deadline.tv_nsec / 1000000000L;
	c->deadline.tv_nsec %= 1000000000L;
	assert_int_equal(pthread_create(&ta, NULL, a, c), 0);
	assert_int_equal(pthread_create(&tb, NULL, b, c), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&c->start);
	assert_int_equal(atomic_load(&c->bad), 0);
}

/* ---- issue 12, hole 1: QUEUE_SEL against QUEUE_VECTOR ---------------------- */

/* vCPU 0: QUEUE_SEL alternately valid and huge (legacy offset 14). */
static void *legacy_sel_flipper(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, c->huge_sel, 2);
	}
	return NULL;
}

/* vCPU 1: QUEUE_VECTOR (legacy offset 22, there with MSI-X on) written and
 * read: either the selected queue's vector or NO_VECTOR, never memory
 * past the array. */
static void *legacy_vector_user(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 1, 2);
		uint64_t v = vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2);
		if (v != 1 && v != VIRTIO_MSI_NO_VECTOR)
			atomic_fetch_add(&c->bad, 1);
	}
	return NULL;
}

static void test_legacy_queue_sel_vs_vector(void **state)
{
	struct ctx *c = *state;

	run_two(c, legacy_sel_flipper, legacy_vector_user);
	/* The device is intact: queue 0 keeps its vector, a huge selector
	 * reads back as written but selects nothing. */
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2), 1);
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, c->huge_sel, 2);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2),
			 VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SIZE, 2), 0);
}

/* The same through the modern common configuration (Q_SELECT, Q_MSIX). */
static void *modern_sel_flipper(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
		vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, c->huge_sel, 2);
	}
	return NULL;
}

static void *modern_vector_user(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
		uint64_t v = vfix_common_rd(&c->f, VIRTIO_COMMON_Q_MSIX, 2);
		if (v != 1 && v != VIRTIO_MSI_NO_VECTOR)
			atomic_fetch_add(&c->bad, 1);
		if (vfix_common_rd(&c->f, VIRTIO_COMMON_Q_NOFF, 2) != 0)
			atomic_fetch_add(&c->bad, 1);
	}
	return NULL;
}

static void test_modern_queue_sel_vs_vector(void **state)
{
	struct ctx *c = *state;

	run_two(c, modern_sel_flipper, modern_vector_user);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_MSIX, 2), 1);
}

/* A config-space access through the host bridge's CONFIG_ADDRESS and
 * CONFIG_DATA ports, as a vCPU makes it (under the PCI bus lock). */
static uint32_t cf8_addr(unsigned off)
{
	return 0x80000000u | (uint32_t)DEVFN << 8 | (off & 0xFC);
}

static void cfg_port_wr16(struct ctx *c, unsigned off, uint16_t v)
{
	vfix_iowr(&c->f, 0xCF8, cf8_addr(off), 4);
	vfix_iowr(&c->f, 0xCFC + (off & 3), v, 2);
}

static uint32_t cfg_port_rd32(struct ctx *c, unsigned off)
{
	vfix_iowr(&c->f, 0xCF8, cf8_addr(off), 4);
	return (uint32_t)vfix_iord(&c->f, 0xCFC, 4);
}

/* One vCPU switches MSI-X on and off through the config ports while the
 * other reads the legacy registers, whose layout follows the enable bit
 * (device config at 20 or 24, QUEUE_VECTOR only with it), and config
 * space through the same ports (the two interleave their CONFIG_ADDRESS
 * writes, the guest's own business, but the bridge must stay sound). */
static void *msix_toggler(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		cfg_port_wr16(c, CAP_MSIX + 2, 0x0000);
		cfg_port_wr16(c, CAP_MSIX + 2, 0x8000);
	}
	return NULL;
}

static void *legacy_reader(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		cfg_port_rd32(c, PCI_VENDOR_ID);
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, c->huge_sel, 2);
		vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2);
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
		vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2);
		vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_CONFIG_VECTOR, 2);
	}
	return NULL;
}

static void test_msix_toggle_vs_legacy(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_bus_map_host_ports(&c->f.pci), 0);
	run_two(c, msix_toggler, legacy_reader);
	/* Where the interleaved port accesses left MSI-X is chance: set it,
	 * and the legacy layout follows. */
	vfix_cfg_wr(&c->f, CAP_MSIX + 2, 0x8000, 2);
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2), 1);
}

/* ---- queue work on the I/O thread while vCPUs use the registers ------------ */

/* vCPU 1 in every test below: everything a driver touches besides the
 * ring: ISR, common configuration (queue select, vectors, status), the
 * device configuration, MSI-X table masking, notifies both ways. */
static void *register_hammer(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		vfix_isr(&c->f);
		vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, round & 1 ? 0 : c->huge_sel, 2);
		vfix_common_rd(&c->f, VIRTIO_COMMON_Q_MSIX, 2);
		vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
		vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
		vfix_common_rd(&c->f, VIRTIO_COMMON_Q_ENABLE, 2);
		vfix_status(&c->f);
		vfix_devcfg_rd(&c->f, 0, 4);
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
		vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_VECTOR, 2);
		/* mask vector 1 and unmask it: pending messages go out */
		vfix_mwr(&c->f, MSIXBASE + 16 + 12, 1, 4);
		vfix_mrd(&c->f, MSIXBASE + VIRTIO_PCI_MSIX_PBA_OFF, 4);
		vfix_mwr(&c->f, MSIXBASE + 16 + 12, 0, 4);
		vfix_notify(&c->f, 0);
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_NOTIFY, 0, 2);
	}
	return NULL;
}

/* Waits (up to 2 s) until the device used everything offered on queue 0. */
static bool wait_all_used(struct ctx *c)
{
	for (int spin = 0; spin < 20000; spin++) {
		if (vfix_used_idx(&c->f, 0) == c->f.avail_idx[0])
			return true;
		usleep(100);
	}
	return false;
}

/* vCPU 0, an rng driver: one 64-byte buffer per descriptor slot, QSIZE
 * at a time, notified, until the device has used them all. */
static void *rng_driver(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		for (unsigned i = 0; i < QSIZE; i++) {
			vfix_set_desc(&c->f, 0, i, 0x80000 + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
			vfix_avail_push(&c->f, 0, (uint16_t)i);
		}
		vfix_avail_publish(&c->f, 0);
		vfix_notify(&c->f, 0);
		if (!wait_all_used(c)) {
			atomic_fetch_add(&c->bad, 1);
			atomic_store(&c->stop, true);
			break;
		}
		for (uint16_t n = c->f.used_seen[0]; n != c->f.avail_idx[0]; n++)
			if (vfix_used_len(&c->f, 0, n) != 64)
				atomic_fetch_add(&c->bad, 1);
		c->f.used_seen[0] = c->f.avail_idx[0];
	}
	return NULL;
}

static void test_rng_io_thread_vs_registers(void **state)
{
	struct ctx *c = *state;

	run_two(c, rng_driver, register_hammer);
	assert_true(c->f.avail_idx[0] >= QSIZE);
	assert_true(atomic_load(&c->msis) > 0);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

/* vCPU 0, a blk driver: five 1-sector reads at a time (descriptors 3r..3r+2)
 * at varying sectors, checked against the disk. */
static void *blk_driver(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		for (unsigned r = 0; r < 5; r++) {
			unsigned d = 3 * r;
			uint64_t hdr = 0x8000 + 32 * r, data = 0x10000 + 0x1000 * r, st = 0x9000 + r;
			put_le32(c->f.ram + hdr, VIRTIO_BLK_T_IN);
			put_le32(c->f.ram + hdr + 4, 0);
			put_le64(c->f.ram + hdr + 8, (round + r) % 64);
			c->f.ram[st] = 0xEE;
			vfix_set_desc(&c->f, 0, d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
			vfix_set_desc(&c->f, 0, d + 1, data, 512,
				      VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(d + 2));
			vfix_set_desc(&c->f, 0, d + 2, st, 1, VIRTQ_DESC_F_WRITE, 0);
			vfix_avail_push(&c->f, 0, (uint16_t)d);
		}
		vfix_avail_publish(&c->f, 0);
		vfix_notify(&c->f, 0);
		if (!wait_all_used(c)) {
			atomic_fetch_add(&c->bad, 1);
			atomic_store(&c->stop, true);
			break;
		}
		for (unsigned r = 0; r < 5; r++)
			if (c->f.ram[0x9000 + r] != VIRTIO_BLK_S_OK ||
			    c->f.ram[0x10000 + 0x1000 * r] != (uint8_t)((round + r) % 64))
				atomic_fetch_add(&c->bad, 1);
		c->f.used_seen[0] = c->f.avail_idx[0];
	}
	return NULL;
}

static void test_blk_workers_vs_registers(void **state)
{
	struct ctx *c = *state;

	run_two(c, blk_driver, register_hammer);
	assert_true(c->f.avail_idx[0] >= 5);
	assert_true(atomic_load(&c->msis) > 0);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

/* vCPU 1 with INTx: reads the ISR (acknowledging) and the function's PCI
 * status through the host bridge's CONFIG_ADDRESS/CONFIG_DATA, as a guest
 * does, while the I/O thread raises and the ISR read lowers INTx. */
static void *intx_poker(void *opaque)
{
	struct ctx *c = opaque;
	for (unsigned round = 0; racing(c, &round);) {
		vfix_isr(&c->f);
		vfix_iowr(&c->f, 0xCF8, 0x80000000u | (uint32_t)DEVFN << 8 | PCI_COMMAND, 4);
		vfix_iord(&c->f, 0xCFC + 2, 2); /* status: its interrupt bit */
		vfix_iord(&c->f, 0xCFC, 2);
	}
	return NULL;
}

static void test_intx_vs_config_reads(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_bus_map_host_ports(&c->f.pci), 0);
	vfix_cfg_wr(&c->f, CAP_MSIX + 2, 0x0000, 2); /* MSI-X off: INTx */
	run_two(c, rng_driver, intx_poker);
	assert_true(c->f.avail_idx[0] >= QSIZE);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_legacy_queue_sel_vs_vector, setup_rng_sync,
						teardown),
		cmocka_unit_test_setup_teardown(test_modern_queue_sel_vs_vector, setup_rng_sync,
						teardown),
		cmocka_unit_test_setup_teardown(test_msix_toggle_vs_legacy, setup_rng_thread,
						teardown),
		cmocka_unit_test_setup_teardown(test_rng_io_thread_vs_registers, setup_rng_thread,
						teardown),
		cmocka_unit_test_setup_teardown(test_blk_workers_vs_registers, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_intx_vs_config_reads, setup_rng_thread,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
