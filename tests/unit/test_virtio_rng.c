// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-rng through the transport: buffers filled with random bytes, and
 * the bounds on what one chain and one pass may ask for (issue 12, hole
 * 8). No I/O thread: a guest notify processes the queue. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "hw/virtio_rng.h"
#include "savestate.h"
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

/* -object rng-random,filename=F: the bytes come from the file, in order;
 * at its end a chain gets what there was (the used length says how much),
 * and then nothing, without blocking. */
static void test_file_source(void **state)
{
	struct ctx *c = *state;
	int fds[2];
	uint8_t want[100];

	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], want, sizeof(want)), (ssize_t)sizeof(want));
	close(fds[1]); /* the end of the source after 100 bytes */
	virtio_rng_set_source(c->rng, fds[0]);

	memset(c->f.ram + BUF, 0, 256);
	vfix_set_desc(&c->f, 0, 0, BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, 0, 0);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_int_equal(vfix_used_len(&c->f, 0, 0), 64);
	assert_memory_equal(c->f.ram + BUF, want, 64);

	vfix_set_desc(&c->f, 0, 1, BUF + 64, 64, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, 0, 1);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_int_equal(vfix_used_len(&c->f, 0, 1), 36);
	assert_memory_equal(c->f.ram + BUF + 64, want + 64, 36);

	vfix_set_desc(&c->f, 0, 2, BUF + 128, 64, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, 0, 2);
	assert_int_equal(vfix_used_new(&c->f, 0), 1);
	assert_int_equal(vfix_used_len(&c->f, 0, 2), 0);
	/* the device closes the source with itself (teardown; ASan sees a leak otherwise) */
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

static void save_to(struct ctx *c, struct ss_writer *w)
{
	ss_writer_init(w);
	virtio_rng_save(c->rng, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Transport and queue state: saved after two chains were used, loaded
 * into a fresh device on a copy of guest RAM (what a migration moves),
 * saved again (the same bytes); the new device takes the next chain where
 * the old one stopped, with the interrupt still pending. */
static void test_save_load(void **state)
{
	struct ctx *c = *state, d = { 0 };
	struct ss_writer w1, w2;
	struct ss_reader r;

	for (uint16_t i = 0; i < 2; i++) {
		vfix_set_desc(&c->f, 0, i, BUF + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
		vfix_offer(&c->f, 0, i);
	}
	assert_int_equal(vfix_used_new(&c->f, 0), 2);
	assert_int_equal(c->f.intx, 1);
	save_to(c, &w1);

	uint8_t *ram = malloc(RAM_SIZE);
	memcpy(ram, c->f.ram, RAM_SIZE);
	vfix_init_ram(&d.f, ram, RAM_SIZE, DEVFN, QSIZE);
	d.f.own_ram = true;
	memcpy(d.f.avail_idx, c->f.avail_idx, sizeof(d.f.avail_idx));
	memcpy(d.f.used_seen, c->f.used_seen, sizeof(d.f.used_seen));
	d.rng = virtio_rng_create(&d.f.pci, DEVFN, &d.f.mem, NULL);
	d.f.t = virtio_rng_transport(d.rng);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(virtio_rng_load(d.rng, &r, 0));
	ss_reader_close(&r);
	save_to(&d, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	assert_int_equal(d.f.intx, 1);
	assert_int_equal(vfix_isr(&d.f), VIRTIO_ISR_QUEUE); /* reading acknowledges */
	assert_int_equal(d.f.intx, 0);
	assert_true(vfix_status(&d.f) & VIRTIO_STATUS_DRIVER_OK);
	memset(d.f.ram + BUF + 128, 0, 64);
	vfix_set_desc(&d.f, 0, 2, BUF + 128, 64, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&d.f, 0, 2);
	assert_int_equal(vfix_used_new(&d.f, 0), 1);
	assert_int_equal(get_le16(d.f.ram + VFIX_USED(0) + 2), 3); /* used->idx went on */
	virtio_rng_destroy(d.rng);
	vfix_destroy(&d.f);
	ss_writer_free(&w2);

	/* A smaller guest RAM, where the rings cannot be: refused, unchanged. */
	ram = calloc(1, 0x2000);
	memset(&d, 0, sizeof(d));
	vfix_init_ram(&d.f, ram, 0x2000, DEVFN, QSIZE);
	d.f.own_ram = true;
	d.rng = virtio_rng_create(&d.f.pci, DEVFN, &d.f.mem, NULL);
	d.f.t = virtio_rng_transport(d.rng);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_false(virtio_rng_load(d.rng, &r, 0));
	assert_non_null(strstr(r.err, "rings outside guest RAM"));
	ss_reader_close(&r);
	assert_int_equal(pci_config_read(&d.f.pci, DEVFN, PCI_COMMAND, 2), 0);
	virtio_rng_destroy(d.rng);
	vfix_destroy(&d.f);
	ss_writer_free(&w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pass_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
