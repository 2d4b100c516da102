// SPDX-License-Identifier: GPL-2.0-or-later
/* The I/O bus: overlap rejection, moves, access-size splitting, unclaimed
 * accesses, and guest memory bounds. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"

struct rec {
	uint64_t last_off, last_val;
	unsigned last_size, reads, writes;
	uint8_t regs[16];
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned size)
{
	struct rec *r = opaque;
	uint64_t v = 0;
	r->reads++;
	r->last_off = off;
	r->last_size = size;
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)r->regs[(off + i) % 16] << (8 * i);
	return v;
}

static void rec_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct rec *r = opaque;
	r->writes++;
	r->last_off = off;
	r->last_size = size;
	r->last_val = v;
	for (unsigned i = 0; i < size; i++)
		r->regs[(off + i) % 16] = (uint8_t)(v >> (8 * i));
}

static const struct io_ops byte_ops = { rec_read, rec_write, 1, 1 };
static const struct io_ops word_ops = { rec_read, rec_write, 2, 2 };
static const struct io_ops any_ops = { rec_read, rec_write, 1, 8 };

static void test_overlap_rejected(void **state)
{
	struct io_bus bus;
	struct rec ra = { 0 }, rb = { 0 };
	struct io_region a, b;

	bus_init(&bus, "t");
	io_region_init(&a, "a", &any_ops, &ra, 8);
	io_region_init(&b, "b", &any_ops, &rb, 8);
	assert_int_equal(bus_map(&bus, &a, 0x100), 0);
	assert_int_equal(bus_map(&bus, &b, 0x104), -EEXIST);
	assert_int_equal(bus_map(&bus, &b, 0xFC), -EEXIST);
	assert_int_equal(bus_map(&bus, &b, 0x108), 0);
	assert_ptr_equal(bus_find(&bus, 0x107), &a);
	assert_ptr_equal(bus_find(&bus, 0x108), &b);
	assert_null(bus_find(&bus, 0x110));
	/* Empty and wrapping ranges are refused. */
	struct io_region z;
	io_region_init(&z, "z", &any_ops, &rb, 0);
	assert_int_equal(bus_map(&bus, &z, 0x200), -EINVAL);
	io_region_init(&z, "z", &any_ops, &rb, 16);
	assert_int_equal(bus_map(&bus, &z, UINT64_MAX - 4), -EINVAL);
	bus_destroy(&bus);
}

static void test_move_and_offsets(void **state)
{
	struct io_bus bus;
	struct rec r = { 0 };
	struct io_region a;
	uint32_t v = 0x11223344;

	bus_init(&bus, "t");
	io_region_init(&a, "a", &any_ops, &r, 16);
	assert_int_equal(bus_map(&bus, &a, 0xC000), 0);
	assert_true(bus_write(&bus, 0xC004, &v, 4));
	assert_int_equal(r.last_off, 4);
	/* Moving keeps the device's view: offsets, not addresses. */
	assert_int_equal(bus_map(&bus, &a, 0xD000), 0);
	assert_null(bus_find(&bus, 0xC004));
	uint32_t got = 0;
	assert_true(bus_read(&bus, 0xD004, &got, 4));
	assert_int_equal(got, 0x11223344);
	assert_int_equal(r.last_off, 4);
	bus_unmap(&bus, &a);
	assert_false(a.mapped);
	got = 0;
	assert_false(bus_read(&bus, 0xD004, &got, 4));
	assert_int_equal(got, 0xFFFFFFFF);
	assert_int_equal(bus.unhandled, 1);
	bus_destroy(&bus);
}

static void test_size_splitting(void **state)
{
	struct io_bus bus;
	struct rec r = { 0 };
	struct io_region a;

	bus_init(&bus, "t");
	io_region_init(&a, "bytes", &byte_ops, &r, 16);
	bus_map(&bus, &a, 0x60);
	uint32_t v = 0xAABBCCDD;
	bus_write(&bus, 0x60, &v, 4);
	assert_int_equal(r.writes, 4);
	assert_int_equal(r.last_size, 1);
	assert_int_equal(r.regs[0], 0xDD);
	assert_int_equal(r.regs[3], 0xAA);
	uint32_t got = 0;
	bus_read(&bus, 0x60, &got, 4);
	assert_int_equal(got, 0xAABBCCDD);
	bus_destroy(&bus);

	/* A word-only device: byte reads come from the containing word,
	 * byte writes are dropped. */
	struct rec w = { 0 };
	bus_init(&bus, "t");
	io_region_init(&a, "words", &word_ops, &w, 4);
	bus_map(&bus, &a, 0x1F0);
	uint16_t hv = 0xBEEF;
	bus_write(&bus, 0x1F0, &hv, 2);
	uint8_t b = 0;
	bus_read(&bus, 0x1F1, &b, 1);
	assert_int_equal(b, 0xBE);
	unsigned writes = w.writes;
	bus_write(&bus, 0x1F0, &b, 1);
	assert_int_equal(w.writes, writes);
	bus_destroy(&bus);
}

static void test_straddling_access(void **state)
{
	struct io_bus bus;
	struct rec ra = { 0 };
	struct io_region a;

	bus_init(&bus, "t");
	io_region_init(&a, "a", &any_ops, &ra, 2);
	bus_map(&bus, &a, 0x10);
	ra.regs[0] = 0x12;
	ra.regs[1] = 0x34;
	uint32_t got = 0;
	/* Two bytes claimed, two unclaimed (all-ones). */
	assert_true(bus_read(&bus, 0x10, &got, 4));
	assert_int_equal(got, 0xFFFF3412);
	bus_destroy(&bus);
}

static void test_guest_ptr_bounds(void **state)
{
	struct guest_mem m;
	assert_int_equal(guest_mem_init(&m, 64 << 20), 0);
	assert_non_null(guest_ptr(&m, 0, 4096));
	assert_non_null(guest_ptr(&m, (64 << 20) - 1, 1));
	assert_null(guest_ptr(&m, (64 << 20) - 1, 2));
	assert_null(guest_ptr(&m, 64 << 20, 1));
	/* The VGA window is not RAM. */
	assert_null(guest_ptr(&m, 0xA0000, 1));
	assert_null(guest_ptr(&m, 0x9FFFF, 2));
	assert_non_null(guest_ptr(&m, 0xC0000, 1));
	/* Overflowing ranges. */
	assert_null(guest_ptr(&m, UINT64_MAX, 2));
	assert_null(guest_ptr(&m, 16, UINT64_MAX));
	uint8_t buf[8];
	assert_false(guest_read(&m, (64 << 20) - 4, buf, 8));
	guest_mem_destroy(&m);

	/* 4 GiB: 3 GiB low, 1 GiB from 4 GiB; nothing in the hole. */
	assert_int_equal(guest_mem_init(&m, 4ULL << 30), 0);
	assert_int_equal(m.below_4g, 3ULL << 30);
	assert_int_equal(m.above_4g, 1ULL << 30);
	assert_null(guest_ptr(&m, 3ULL << 30, 1));
	assert_non_null(guest_ptr(&m, 4ULL << 30, 1));
	assert_null(guest_ptr(&m, (5ULL << 30) - 1, 2));
	guest_mem_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap_rejected),
		cmocka_unit_test(test_move_and_offsets),
		cmocka_unit_test(test_size_splitting),
		cmocka_unit_test(test_straddling_access),
		cmocka_unit_test(test_guest_ptr_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
