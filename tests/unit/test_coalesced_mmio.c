// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The coalesced MMIO ring's drain (src/core/coalesced_mmio.c), against a
 * ring page laid out as KVM lays it out (struct kvm_coalesced_mmio_ring
 * from <linux/kvm.h>) and allocated at exactly one page, so ASan stops
 * any read past it: the capacity from the page size, entries applied in
 * order across the wrap, 'first' advanced past each; hostile values (a
 * 'first' or 'last' beyond the ring, up to UINT32_MAX; lengths 0, 9 and
 * UINT32_MAX; a port flag) never used as an index or a length; what KVM
 * queues during a drain waits for the next; and the machine's path: the
 * bus's pending hook drains into the MMIO bus, nothing without a ring.
 */
#include "unit.h"

#include <stdlib.h>
#include <linux/kvm.h>

#include "bus.h"
#include "coalesced_mmio.h"

#define PAGE 4096u

struct seen {
	unsigned n;
	uint64_t addr[256];
	unsigned len[256];
	uint8_t data[256][8];
	/* KVM queuing behind the drain: on the first write, one more entry */
	struct kvm_coalesced_mmio_ring *append_to;
	unsigned capacity;
};

static void record(void *opaque, bool pio, uint64_t addr, const void *data, unsigned len)
{
	struct seen *s = opaque;

	assert_false(pio);
	assert_true(len >= 1 && len <= 8);
	assert_true(s->n < 256);
	s->addr[s->n] = addr;
	s->len[s->n] = len;
	memcpy(s->data[s->n], data, len);
	s->n++;
	if (s->append_to) {
		struct kvm_coalesced_mmio_ring *r = s->append_to;
		s->append_to = NULL;
		r->coalesced_mmio[r->last] = (struct kvm_coalesced_mmio){
			.phys_addr = 0xBEEF, .len = 1, .data = { 0x42 } };
		r->last = (r->last + 1) % s->capacity;
	}
}

static struct kvm_coalesced_mmio_ring *new_ring(void)
{
	struct kvm_coalesced_mmio_ring *r = calloc(1, PAGE);
	assert_non_null(r);
	return r;
}

static void put(struct kvm_coalesced_mmio_ring *r, unsigned capacity, uint64_t addr,
		uint32_t len, uint8_t fill)
{
	struct kvm_coalesced_mmio *e = &r->coalesced_mmio[r->last];
	*e = (struct kvm_coalesced_mmio){ .phys_addr = addr, .len = len };
	memset(e->data, fill, sizeof(e->data));
	r->last = (r->last + 1) % capacity;
}

static void test_capacity_from_page_size(void **state)
{
	(void)state;
	/* (4096 - 8) / 24: KVM's KVM_COALESCED_MMIO_MAX for 4 KiB pages */
	assert_int_equal(coalesced_ring_capacity(4096), 170);
	assert_int_equal(coalesced_ring_capacity(65536), (65536 - 8) / 24);
	assert_int_equal(coalesced_ring_capacity(8), 0);
	assert_int_equal(coalesced_ring_capacity(0), 0);
}

static void test_in_order_across_the_wrap(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct seen s = { 0 };

	r->first = r->last = cap - 3;
	for (unsigned i = 0; i < 7; i++)
		put(r, cap, 0xB8000 + 4 * i, 1 + i % 8, (uint8_t)(0x10 + i));
	assert_int_equal(r->last, 4);
	struct coalesced_drain_result res = coalesced_ring_drain(r, cap, record, &s);
	assert_int_equal(res.applied, 7);
	assert_int_equal(res.dropped, 0);
	assert_false(res.bad_index);
	assert_int_equal(s.n, 7);
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(s.addr[i], 0xB8000 + 4 * i);
		assert_int_equal(s.len[i], 1 + i % 8);
		assert_int_equal(s.data[i][0], 0x10 + i);
	}
	assert_int_equal(r->first, r->last);
	/* empty: nothing more */
	res = coalesced_ring_drain(r, cap, record, &s);
	assert_int_equal(res.applied, 0);
	assert_int_equal(s.n, 7);
	free(r);
}

static void test_full_ring(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct seen s = { 0 };

	/* KVM keeps one slot free: cap - 1 entries is full */
	r->first = r->last = 17;
	for (unsigned i = 0; i < cap - 1; i++)
		put(r, cap, 0xA0000 + i, 2, (uint8_t)i);
	struct coalesced_drain_result res = coalesced_ring_drain(r, cap, record, &s);
	assert_int_equal(res.applied, cap - 1);
	assert_int_equal(s.addr[0], 0xA0000);
	assert_int_equal(s.addr[cap - 2], 0xA0000 + cap - 2);
	assert_int_equal(r->first, 16);
	free(r);
}

static void test_hostile_lengths_dropped(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct seen s = { 0 };

	put(r, cap, 0xB8000, 0, 1);
	put(r, cap, 0xB8001, 9, 2);
	put(r, cap, 0xB8002, UINT32_MAX, 3);
	put(r, cap, 0xB8003, 8, 4);
	put(r, cap, 0x3D4, 1, 5);
	r->coalesced_mmio[4].pio = 1; /* no port zone was registered */
	put(r, cap, 0xB8005, 1, 6);
	struct coalesced_drain_result res = coalesced_ring_drain(r, cap, record, &s);
	assert_int_equal(res.applied, 2);
	assert_int_equal(res.dropped, 4);
	assert_int_equal(s.addr[0], 0xB8003);
	assert_int_equal(s.len[0], 8);
	assert_int_equal(s.addr[1], 0xB8005);
	assert_int_equal(r->first, 6);
	free(r);
}

static void test_last_out_of_range_untouched(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	static const uint32_t bad[] = { 170, 171, 4096, 0x80000000u, UINT32_MAX };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kvm_coalesced_mmio_ring *r = new_ring();
		struct seen s = { 0 };
		r->first = 3;
		r->last = bad[i];
		struct coalesced_drain_result res = coalesced_ring_drain(r, cap, record, &s);
		assert_true(res.bad_index);
		assert_int_equal(res.applied, 0);
		assert_int_equal(s.n, 0);
		assert_int_equal(r->first, 3);
		free(r);
	}
}

static void test_first_out_of_range_resynced(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	static const uint32_t bad[] = { 170, 1000, UINT32_MAX };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kvm_coalesced_mmio_ring *r = new_ring();
		struct seen s = { 0 };
		r->first = bad[i];
		r->last = 5;
		struct coalesced_drain_result res = coalesced_ring_drain(r, cap, record, &s);
		assert_true(res.bad_index);
		assert_int_equal(s.n, 0);
		assert_int_equal(r->first, 5);
		/* and it works from there */
		put(r, cap, 0xB8000, 2, 7);
		res = coalesced_ring_drain(r, cap, record, &s);
		assert_int_equal(res.applied, 1);
		assert_false(res.bad_index);
		free(r);
	}
}

static void test_zero_capacity_refused(void **state)
{
	(void)state;
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct seen s = { 0 };
	r->last = 1;
	struct coalesced_drain_result res = coalesced_ring_drain(r, 0, record, &s);
	assert_true(res.bad_index);
	assert_int_equal(s.n, 0);
	free(r);
}

static void test_queued_during_drain_waits(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct seen s = { .append_to = r, .capacity = cap };

	put(r, cap, 0xB8000, 1, 1);
	put(r, cap, 0xB8001, 1, 2);
	struct coalesced_drain_result res = coalesced_ring_drain(r, cap, record, &s);
	assert_int_equal(res.applied, 2);
	assert_int_equal(r->first, 2);
	assert_int_equal(r->last, 3);
	res = coalesced_ring_drain(r, cap, record, &s);
	assert_int_equal(res.applied, 1);
	assert_int_equal(s.addr[2], 0xBEEF);
	free(r);
}

/* ---- through the MMIO bus, as the machine drains ------------------------- */

struct window {
	unsigned writes;
	uint64_t last_off, last_val;
	unsigned last_size;
};

static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0;
}

static void window_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct window *w = opaque;
	w->writes++;
	w->last_off = off;
	w->last_val = val;
	w->last_size = size;
}

static const struct io_ops window_ops = { .read = window_read, .write = window_write,
					  .min_size = 1, .max_size = 4 };

static void test_bus_pending_hook_drains(void **state)
{
	(void)state;
	unsigned cap = coalesced_ring_capacity(PAGE);
	struct kvm_coalesced_mmio_ring *r = new_ring();
	struct io_bus mmio;
	struct io_region region;
	struct window w = { 0 };
	struct coalesced_mmio c;

	bus_init(&mmio, "mmio");
	io_region_init(&region, "window", &window_ops, &w, 0x20000);
	assert_int_equal(bus_map(&mmio, &region, 0xA0000), 0);
	coalesced_mmio_init(&c, PAGE);
	coalesced_mmio_set_bus(&c, &mmio);
	bus_set_pending(&mmio, coalesced_mmio_flush, &c);

	put(r, cap, 0xB8010, 4, 0x41);
	/* no ring yet (no vCPU 0): nothing happens */
	bus_apply_pending(&mmio);
	assert_int_equal(w.writes, 0);
	coalesced_mmio_set_ring(&c, r);
	bus_apply_pending(&mmio);
	assert_int_equal(w.writes, 1);
	assert_int_equal(w.last_off, 0x18010);
	assert_int_equal(w.last_size, 4);
	assert_int_equal(w.last_val, 0x41414141);
	assert_int_equal(atomic_load(&c.applied), 1);
	/* a hostile entry is dropped and counted, the next one still lands */
	put(r, cap, 0xB8020, 200, 0x55);
	put(r, cap, 0xB8030, 1, 0x66);
	coalesced_mmio_drain(&c);
	assert_int_equal(w.writes, 2);
	assert_int_equal(w.last_off, 0x18030);
	assert_int_equal(atomic_load(&c.dropped), 1);
	/* the ring gone (a reset): a drain does nothing */
	put(r, cap, 0xB8040, 1, 0x77);
	coalesced_mmio_set_ring(&c, NULL);
	coalesced_mmio_drain(&c);
	assert_int_equal(w.writes, 2);
	coalesced_mmio_destroy(&c);
	bus_unmap(&mmio, &region);
	bus_destroy(&mmio);
	free(r);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_capacity_from_page_size),
	cmocka_unit_test(test_in_order_across_the_wrap),
	cmocka_unit_test(test_full_ring),
	cmocka_unit_test(test_hostile_lengths_dropped),
	cmocka_unit_test(test_last_out_of_range_untouched),
	cmocka_unit_test(test_first_out_of_range_resynced),
	cmocka_unit_test(test_zero_capacity_refused),
	cmocka_unit_test(test_queued_during_drain_waits),
	cmocka_unit_test(test_bus_pending_hook_drains),
};

int main(void)
{
	return cmocka_run_group_tests(tests, NULL, NULL);
}
