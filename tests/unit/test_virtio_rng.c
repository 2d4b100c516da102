// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-rng through the transport: buffers filled with random bytes, and
 * the bounds on what one chain and one pass may ask for (issue 12, hole
 * 8). No I/O thread: a guest notify processes the queue. */
#include "unit.h"

#include <stdlib.h>

#include "hw/virtio_rng.h"
#include "virtio_fixture.h"

#define RAM_SIZE (1024 * 1024)
#define DEVFN PCI_DEVFN(4, 0)
#define QSIZE 32
#define BUF 0x80000ULL
#define BIG_LEN (512u * 1024)

struct ctx {
	struct vfix f;
	struct virtio_rng *rng;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	c->rng = virtio_rng_create(&c->f.pci, DEVFN, &c->f.mem, NULL);
	assert_non_null(c->rng);
	c->f.t = virtio_rng_transport(c->rng);
	vfix_place_bars(&c->f, 0);
	vfix_negotiate(&c->f, 1ULL << VIRTIO_F_VERSION_1);
	vfix_queue_setup(&c->f, 0);
	vfix_driver_ok(&c->f);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_rng_destroy(c->rng);
	vfix_destroy(&c->f);
	free(c);
	return 0;
}

static void test_fill(void **state)
{
	struct ctx *c = *state;
	static const uint8_t zero[64];

	memset(c->f.ram + BUF, 0, 64);
	vfix_set_desc(&c->f, 0, 0, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_int_equal(vfix_used_len(&c->f, 0, 0), 64);
	/* 64 random bytes all zero: one chance in 2^512 */
	assert_memory_not_equal(c->f.ram + BUF, zero, 64);
}

/* A chain naming the same 512 KiB of RAM 16 times (8 MiB; a guest can
 * make it 4 TiB) gets 64 KiB: the used length says so. Before the fix it
 * got all 8 MiB. */
static void test_chain_capped(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < 16; i++)
		vfix_set_desc(&c->f, 0, i, BUF, BIG_LEN, VIRTQ_DESC_F_WRITE | (i < 15 ? VIRTQ_DESC_F_NEXT : 0),
			      (uint16_t)(i + 1));
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_int_equal(vfix_used_len(&c->f, 0, 0), 64 * 1024);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

/* 32 chains of 64 KiB (2 MiB) offered at once: one pass fills 1 MiB (16
 * chains) and leaves the rest for the next (the I/O thread comes back on
 * its own; here the next notify). Before, one pass took all 32. */
static void test_pass_bounded(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < QSIZE; i++) {
		vfix_set_desc(&c->f, 0, i, BUF, 64 * 1024, VIRTQ_DESC_F_WRITE, 0);
		vfix_avail_push(&c->f, 0, (uint16_t)i);
	}
	vfix_avail_publish(&c->f, 0);
	vfix_notify(&c->f, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 16);
	vfix_notify(&c->f, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 16);
	for (unsigned n = 0; n < QSIZE; n++)
		assert_int_equal(vfix_used_len(&c->f, 0, n), 64 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pass_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
