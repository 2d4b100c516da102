// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-balloon through the virtio-pci transport, driven as a driver
 * would: inflate releases the named pages (they read back as zeros) and
 * nothing else; bad PFNs, odd lengths, split and huge arrays; deflate
 * accounting; the stats buffer held and handed back; the target in the
 * config, the driver's 'actual', and reset. */
#include "unit.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "hw/virtio_balloon.h"
#include "savestate.h"
#include "virtio_fixture.h"

#define RAM_SIZE (1024 * 1024)
#define GUARD (64 * 1024) /* host memory either side of guest RAM */
#define DEVFN PCI_DEVFN(3, 0)
#define IOBASE 0xC000
#define QSIZE 16
#define BUF 0x10000   /* PFN arrays and stats buffers */
#define PAGES 0x80000 /* pages the tests inflate */
#define PAGE 4096

struct ctx {
	struct vfix f;
	uint8_t *map; /* guest RAM (f.ram) with GUARD bytes either side */
	struct virtio_balloon *b;
	unsigned changes;
};

static void changed(void *opaque)
{
	((struct ctx *)opaque)->changes++;
}

static void make(struct ctx *c, bool deflate_on_oom)
{
	struct virtio_host host = { .opaque = c, .io_thread = false };

	c->b = virtio_balloon_create(&c->f.pci, DEVFN, &c->f.mem, &host, deflate_on_oom, changed,
				     c);
	assert_non_null(c->b);
	c->f.t = virtio_balloon_transport(c->b);
	vfix_place_bars(&c->f, IOBASE);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	/* Page-aligned anonymous memory, as vmm's guest RAM, with guards. */
	c->map = mmap(NULL, RAM_SIZE + 2 * GUARD, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(c->map != MAP_FAILED);
	memset(c->map, 0x5A, RAM_SIZE + 2 * GUARD);
	memset(c->map + GUARD, 0, RAM_SIZE);
	vfix_init_ram(&c->f, c->map + GUARD, RAM_SIZE, DEVFN, QSIZE);
	make(c, false);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_balloon_destroy(c->b);
	vfix_destroy(&c->f);
	munmap(c->map, RAM_SIZE + 2 * GUARD);
	free(c);
	return 0;
}

static bool guards_intact(struct ctx *c)
{
	for (unsigned i = 0; i < GUARD; i++)
		if (c->map[i] != 0x5A || c->map[GUARD + RAM_SIZE + i] != 0x5A)
			return false;
	return true;
}

/* ---- a small driver ---- */

/* Everything up to FEATURES_OK and the queues; driver_init adds DRIVER_OK. */
static void driver_setup(struct ctx *c)
{
	vfix_set_status(&c->f, 0);
	vfix_negotiate(&c->f, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_NUMQ, 2), 3);
	for (unsigned q = 0; q < 3; q++)
		assert_int_equal(vfix_queue_setup(&c->f, q), VIRTIO_BALLOON_QUEUE_SIZE);
}

static void driver_init(struct ctx *c)
{
	driver_setup(c);
	vfix_driver_ok(&c->f);
}

/* One buffer of PFNs at BUF, on queue q (0 inflate, 1 deflate). */
static unsigned pfns(struct ctx *c, unsigned q, const uint32_t *pfn, unsigned n, unsigned extra)
{
	for (unsigned i = 0; i < n; i++)
		put_le32(c->f.ram + BUF + 4 * i, pfn[i]);
	vfix_set_desc(&c->f, q, 0, BUF, 4 * n + extra, 0, 0);
	vfix_offer(&c->f, q, 0);
	return vfix_used_new(&c->f, q);
}

static struct virtio_balloon_info info(struct ctx *c)
{
	struct virtio_balloon_info i;
	virtio_balloon_get_info(c->b, &i);
	return i;
}

static bool page_is(struct ctx *c, uint32_t pfn, uint8_t v)
{
	for (unsigned i = 0; i < PAGE; i++)
		if (c->f.ram[(uint64_t)pfn * PAGE + i] != v)
			return false;
	return true;
}

/* ---- tests ---- */

static void test_identity_and_features(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(vfix_cfg_rd(&c->f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_DEVICE_ID, 2), 0x1002);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_BALLOON);
	uint64_t f = vfix_device_features(&c->f);
	assert_true(f & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
	assert_false(f & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_false(f & (1ULL << VIRTIO_BALLOON_F_MUST_TELL_HOST));
	assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
	/* deflate-on-oom=on offers the bit (a second function, in slot 4). */
	struct virtio_host host = { .opaque = c };
	struct virtio_balloon *b2 = virtio_balloon_create(&c->f.pci, PCI_DEVFN(4, 0), &c->f.mem,
							  &host, true, NULL, NULL);
	assert_non_null(b2);
	assert_true(virtio_balloon_transport(b2)->host_features &
		    (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	virtio_balloon_destroy(b2);
}

static void test_inflate_releases_only_named_pages(void **state)
{
	struct ctx *c = *state;
	uint32_t base = PAGES / PAGE;
	/* In RAM, out of RAM (the page at 1 MiB, just past the end; a huge
	 * PFN), and a run of adjacent pages given out of order. */
	uint32_t list[] = { base, base + 1, base + 3, 0xFFFFFFFF, RAM_SIZE / PAGE, base + 2,
			    base + 10 };

	driver_init(c);
	memset(c->f.ram + PAGES, 0xA5, 16 * PAGE);
	assert_int_equal(pfns(c, 0, list, ARRAY_SIZE(list), 0), 1);
	for (uint32_t p = base; p < base + 4; p++)
		assert_true(page_is(c, p, 0));
	for (uint32_t p = base + 4; p < base + 10; p++)
		assert_true(page_is(c, p, 0xA5));
	assert_true(page_is(c, base + 10, 0));
	assert_true(page_is(c, base + 11, 0xA5));
	assert_true(guards_intact(c));
	struct virtio_balloon_info i = info(c);
	assert_int_equal(i.inflated, 5);
	assert_int_equal(i.released, 5);
	assert_int_equal(i.bad_pfns, 2);
	/* A released page is ordinary memory again when touched. */
	c->f.ram[PAGES] = 1;
	assert_int_equal(c->f.ram[PAGES], 1);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

/* Linux lists the pages it allocated last first: a run going down is one
 * madvise, as is one going up, or both ways from its first page. */
static void test_adjacent_pages_are_one_release_either_way(void **state)
{
	struct ctx *c = *state;
	uint32_t base = PAGES / PAGE;
	uint32_t list[] = { base + 5, base + 4, base + 3, base + 6, base + 2, /* one run */
			    base + 9, base + 8,				      /* a second */
			    base + 12, base + 12,			      /* twice: two */
			    base + 14 };

	driver_init(c);
	memset(c->f.ram + PAGES, 0xA5, 16 * PAGE);
	assert_int_equal(pfns(c, 0, list, ARRAY_SIZE(list), 0), 1);
	for (uint32_t p = base; p < base + 16; p++) {
		bool named = (p >= base + 2 && p <= base + 6) || p == base + 8 || p == base + 9 ||
			     p == base + 12 || p == base + 14;
		assert_true(page_is(c, p, named ? 0 : 0xA5));
	}
	assert_true(guards_intact(c));
	struct virtio_balloon_info i = info(c);
	assert_int_equal(i.inflated, ARRAY_SIZE(list));
	assert_int_equal(i.released, ARRAY_SIZE(list));
	assert_int_equal(i.release_calls, 5);
}

static void test_odd_lengths_and_split_arrays(void **state)
{
	struct ctx *c = *state;
	uint32_t base = PAGES / PAGE;

	driver_init(c);
	memset(c->f.ram + PAGES, 0xA5, 8 * PAGE);
	/* One PFN and 3 stray bytes: the PFN counts, the tail is ignored. */
	uint32_t one = base;
	put_le32(c->f.ram + BUF + 4, base + 1); /* the stray bytes are its start */
	assert_int_equal(pfns(c, 0, &one, 1, 3), 1);
	assert_true(page_is(c, base, 0));
	assert_true(page_is(c, base + 1, 0xA5));
	assert_int_equal(info(c).bad_pfns, 1);
	/* A PFN split over two buffers (2 + 2 bytes) is still one PFN; a
	 * 1-byte buffer in between belongs to the next one. */
	uint8_t *a = c->f.ram + BUF + 0x100, *b = c->f.ram + BUF + 0x200;
	uint8_t *d = c->f.ram + BUF + 0x300;
	put_le32(c->f.ram + BUF + 0x400, base + 2);
	memcpy(a, c->f.ram + BUF + 0x400, 2);
	memcpy(b, c->f.ram + BUF + 0x402, 2);
	put_le32(c->f.ram + BUF + 0x400, base + 3);
	d[0] = c->f.ram[BUF + 0x400];
	memcpy(c->f.ram + BUF + 0x500, c->f.ram + BUF + 0x401, 3);
	vfix_set_desc(&c->f, 0, 0, BUF + 0x100, 2, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&c->f, 0, 1, BUF + 0x200, 2, VIRTQ_DESC_F_NEXT, 2);
	vfix_set_desc(&c->f, 0, 2, BUF + 0x300, 1, VIRTQ_DESC_F_NEXT, 3);
	vfix_set_desc(&c->f, 0, 3, BUF + 0x500, 3, 0, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_true(page_is(c, base + 2, 0));
	assert_true(page_is(c, base + 3, 0));
	assert_true(page_is(c, base + 4, 0xA5));
	/* A chain with no readable byte (only a writable buffer) does nothing. */
	vfix_set_desc(&c->f, 0, 0, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_int_equal(info(c).inflated, 3);
	assert_true(guards_intact(c));
}

static void test_zero_length_buffer_breaks_the_queue(void **state)
{
	struct ctx *c = *state;

	driver_init(c);
	memset(c->f.ram + PAGES, 0xA5, PAGE);
	put_le32(c->f.ram + BUF, PAGES / PAGE);
	vfix_set_desc(&c->f, 0, 0, BUF, 0, 0, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 0);
	assert_true(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(page_is(c, PAGES / PAGE, 0xA5));
	assert_int_equal(info(c).inflated, 0);
	/* A buffer leaving guest RAM too. */
	driver_init(c);
	vfix_set_desc(&c->f, 0, 0, RAM_SIZE - 4, 8, 0, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 0);
	assert_true(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(guards_intact(c));
}

static void test_huge_arrays(void **state)
{
	struct ctx *c = *state;
	const unsigned n = 0x40000 / 4; /* 256 KiB of PFNs */

	driver_init(c);
	memset(c->f.ram + PAGES, 0xA5, 4 * PAGE);
	/* All out of RAM but every 4096th, which names one page in RAM. */
	for (unsigned i = 0; i < n; i++)
		put_le32(c->f.ram + 0x40000 + 4 * i,
			 i % 4096 ? 0x100000u + i : PAGES / PAGE + i / 4096);
	vfix_set_desc(&c->f, 0, 0, 0x40000, 4 * n, 0, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	struct virtio_balloon_info i = info(c);
	assert_int_equal(i.inflated, n / 4096);
	assert_int_equal(i.bad_pfns, n - n / 4096);
	for (unsigned p = 0; p < 4; p++)
		assert_true(page_is(c, PAGES / PAGE + p, p < n / 4096 ? 0 : 0xA5));
	assert_true(guards_intact(c));
	/* Every page of RAM named twice, the rings and this array included:
	 * the device does as told (the driver loses its rings, its own
	 * fault) and never more. The first pass is one run, released when
	 * the second starts, so the rest of the array reads as zeros (PFN 0). */
	for (unsigned k = 0; k < 2 * RAM_SIZE / PAGE; k++)
		put_le32(c->f.ram + BUF + 4 * k, k % (RAM_SIZE / PAGE));
	vfix_set_desc(&c->f, 0, 0, BUF, 8 * RAM_SIZE / PAGE, 0, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(info(c).inflated, n / 4096 + 2 * RAM_SIZE / PAGE);
	for (unsigned k = BUF; k < RAM_SIZE; k++)
		if (c->f.ram[k])
			fail_msg("guest byte %#x not released", k);
	assert_true(guards_intact(c));
}

static void test_deflate_only_counts(void **state)
{
	struct ctx *c = *state;
	uint32_t list[] = { PAGES / PAGE, PAGES / PAGE + 1, 0x7FFFFFFF };

	driver_init(c);
	memset(c->f.ram + PAGES, 0xA5, 2 * PAGE);
	assert_int_equal(pfns(c, 1, list, 3, 0), 1);
	assert_true(page_is(c, PAGES / PAGE, 0xA5));
	struct virtio_balloon_info i = info(c);
	assert_int_equal(i.deflated, 2);
	assert_int_equal(i.inflated, 0);
	assert_int_equal(i.bad_pfns, 1);
}

static void put_stat(struct ctx *c, unsigned at, uint16_t tag, uint64_t v)
{
	put_le16(c->f.ram + at, tag);
	put_le64(c->f.ram + at + 2, v);
}

static void test_stats(void **state)
{
	struct ctx *c = *state;

	/* Nothing to hand back before the driver gave a buffer. */
	assert_false(virtio_balloon_request_stats(c->b));
	driver_init(c);
	/* free 100, total 500, an unknown tag, then 5 stray bytes. */
	put_stat(c, BUF, 4, 100);
	put_stat(c, BUF + 10, 5, 500);
	put_stat(c, BUF + 20, 0x4242, 7);
	vfix_set_desc(&c->f, 2, 0, BUF, 35, 0, 0);
	vfix_offer(&c->f, 2, 0);
	assert_int_equal(vfix_used_new(&c->f, 2), 0); /* held */
	struct virtio_balloon_info i = info(c);
	assert_true(i.stats_held);
	assert_int_equal(i.stats_valid, (1u << 4) | (1u << 5));
	assert_int_equal(i.stats[4], 100);
	assert_int_equal(i.stats[5], 500);
	assert_int_equal(i.stats_updates, 1);
	assert_string_equal(virtio_balloon_stat_name(4), "free_mem");
	assert_null(virtio_balloon_stat_name(10));
	/* Asking for fresh stats returns it, with an interrupt (INTx here). */
	assert_int_equal(c->f.intx, 0);
	assert_true(virtio_balloon_request_stats(c->b));
	assert_int_equal(vfix_used_new(&c->f, 2), 1);
	assert_int_equal(c->f.intx, 1);
	assert_int_equal(vfix_isr(&c->f), VIRTIO_ISR_QUEUE);
	assert_false(virtio_balloon_request_stats(c->b));
	/* The refill: shorter than one entry changes nothing but is held. */
	vfix_set_desc(&c->f, 2, 1, BUF, 9, 0, 0);
	vfix_offer(&c->f, 2, 1);
	assert_int_equal(info(c).stats[4], 100);
	/* A second buffer while one is held: the old one goes back. */
	put_stat(c, BUF + 64, 4, 90);
	vfix_set_desc(&c->f, 2, 2, BUF + 64, 10, 0, 0);
	vfix_offer(&c->f, 2, 2);
	assert_int_equal(vfix_used_new(&c->f, 2), 1);
	assert_int_equal(info(c).stats[4], 90);
	assert_int_equal(info(c).stats_updates, 3);
}

/* Linux primes the stats queue (and notifies) before DRIVER_OK: the
 * device must not take the buffer then, but must find it afterwards. */
static void test_stats_offered_before_driver_ok(void **state)
{
	struct ctx *c = *state;

	driver_setup(c);
	put_stat(c, BUF, 6, 12345);
	vfix_set_desc(&c->f, 2, 0, BUF, 10, 0, 0);
	vfix_offer(&c->f, 2, 0);
	assert_false(info(c).stats_held);
	vfix_driver_ok(&c->f);
	struct virtio_balloon_info i = info(c);
	assert_true(i.stats_held);
	assert_int_equal(i.stats[6], 12345);
	assert_int_equal(vfix_used_new(&c->f, 2), 0);
}

static void test_target_actual_and_reset(void **state)
{
	struct ctx *c = *state;

	/* Before the driver runs: stored, no interrupt. */
	virtio_balloon_set_target(c->b, 1000);
	assert_int_equal(c->f.intx, 0);
	driver_init(c);
	assert_int_equal(vfix_devcfg_rd(&c->f, 0, 4), 1000);
	assert_int_equal(vfix_devcfg_rd(&c->f, 4, 4), 0);
	uint8_t gen = (uint8_t)vfix_common_rd(&c->f, VIRTIO_COMMON_CFGGEN, 1);
	virtio_balloon_set_target(c->b, 2000);
	assert_int_equal(c->f.intx, 1);
	assert_int_equal(vfix_isr(&c->f), VIRTIO_ISR_CONFIG);
	assert_int_not_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_CFGGEN, 1), gen);
	/* Same target again: no interrupt. */
	virtio_balloon_set_target(c->b, 2000);
	assert_int_equal(c->f.intx, 0);
	/* The driver cannot change num_pages; it reports actual. */
	vfix_devcfg_wr(&c->f, 0, 5, 4);
	assert_int_equal(vfix_devcfg_rd(&c->f, 0, 4), 2000);
	assert_int_equal(c->changes, 0);
	vfix_devcfg_wr(&c->f, 4, 1500, 4);
	assert_int_equal(c->changes, 1);
	vfix_devcfg_wr(&c->f, 4, 1500, 4);
	assert_int_equal(c->changes, 1);
	/* The legacy view of the same config (after the 20-byte header). */
	assert_int_equal(vfix_iord(&c->f, IOBASE + 20, 4), 2000);
	assert_int_equal(vfix_iord(&c->f, IOBASE + 24, 4), 1500);
	struct virtio_balloon_info i = info(c);
	assert_int_equal(i.target_pages, 2000);
	assert_int_equal(i.actual_pages, 1500);
	/* Stats held, then a driver reset: everything but the target goes. */
	put_stat(c, BUF, 4, 100);
	vfix_set_desc(&c->f, 2, 0, BUF, 10, 0, 0);
	vfix_offer(&c->f, 2, 0);
	assert_true(info(c).stats_held);
	vfix_set_status(&c->f, 0);
	i = info(c);
	assert_int_equal(i.actual_pages, 0);
	assert_int_equal(c->changes, 2);
	assert_false(i.stats_held);
	assert_int_equal(i.stats_valid, 0);
	assert_int_equal(i.target_pages, 2000);
	assert_int_equal(vfix_devcfg_rd(&c->f, 0, 4), 2000);
	assert_false(virtio_balloon_request_stats(c->b));
	/* A PCI (system) reset too. */
	driver_init(c);
	vfix_devcfg_wr(&c->f, 4, 7, 4);
	pci_bus_reset(&c->f.pci);
	assert_int_equal(info(c).actual_pages, 0);
	assert_int_equal(c->changes, 4);
}

static void save_balloon(struct virtio_balloon *b, struct ss_writer *w)
{
	ss_writer_init(w);
	virtio_balloon_save(b, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* With a target, an actual size and a held statistics buffer: the save
 * gives the buffer back (nothing stays in flight), a fresh device loads
 * the state (on a copy of guest RAM) with the same target and actual,
 * saves the same bytes, and takes the driver's refilled buffer. */
static void test_save_load(void **state)
{
	struct ctx *c = *state, d = { 0 };
	struct ss_writer w1, w2;
	struct ss_reader r;

	driver_init(c);
	virtio_balloon_set_target(c->b, 2000);
	vfix_devcfg_wr(&c->f, 4, 1500, 4);
	put_stat(c, BUF, 4, 100);
	vfix_set_desc(&c->f, 2, 0, BUF, 10, 0, 0);
	vfix_offer(&c->f, 2, 0);
	assert_true(info(c).stats_held);
	save_balloon(c->b, &w1);
	assert_false(info(c).stats_held);
	assert_int_equal(vfix_used_new(&c->f, 2), 1);

	uint8_t *ram = calloc(1, RAM_SIZE);
	memcpy(ram, c->f.ram, RAM_SIZE);
	vfix_init_ram(&d.f, ram, RAM_SIZE, DEVFN, QSIZE);
	d.f.own_ram = true;
	memcpy(d.f.avail_idx, c->f.avail_idx, sizeof(d.f.avail_idx));
	memcpy(d.f.used_seen, c->f.used_seen, sizeof(d.f.used_seen));
	make(&d, false);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(virtio_balloon_load(d.b, &r, 0));
	ss_reader_close(&r);
	save_balloon(d.b, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);
	struct virtio_balloon_info i = info(&d);
	assert_int_equal(i.target_pages, 2000);
	assert_int_equal(i.actual_pages, 1500);
	assert_false(i.stats_held);
	put_stat(&d, BUF, 4, 77);
	vfix_set_desc(&d.f, 2, 1, BUF, 10, 0, 0);
	vfix_offer(&d.f, 2, 1);
	i = info(&d);
	assert_true(i.stats_held);
	assert_int_equal(i.stats[4], 77);
	virtio_balloon_destroy(d.b);
	vfix_destroy(&d.f);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflate_releases_only_named_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adjacent_pages_are_one_release_either_way, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_odd_lengths_and_split_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length_buffer_breaks_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deflate_only_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_offered_before_driver_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_actual_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
