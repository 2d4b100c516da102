// SPDX-License-Identifier: GPL-2.0-or-later
/* Split virtqueue, device side: good chains, indirect tables, EVENT_IDX,
 * and every kind of malformed ring a hostile driver can build. Guest RAM is
 * a heap buffer, so ASan reports any access outside it. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "guest_mem.h"
#include "util.h"
#include "virtio.h"

#define RAM_SIZE (256 * 1024)
#define QSIZE 16
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define INDIR 0x4000
#define BUF 0x10000

struct ctx {
	uint8_t *ram;
	struct guest_mem mem;
	struct virtqueue vq;
	struct virtq_iov iov;
	uint16_t avail_idx;
};

static void set_desc(struct ctx *c, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = c->ram + table + 16 * i;
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

static void offer(struct ctx *c, uint16_t head)
{
	put_le16(c->ram + AVAIL + 4 + 2 * (c->avail_idx % QSIZE), head);
	c->avail_idx++;
	put_le16(c->ram + AVAIL + 2, c->avail_idx);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->ram = calloc(1, RAM_SIZE);
	guest_mem_init_buffer(&c->mem, c->ram, RAM_SIZE);
	virtq_reset(&c->vq, &c->mem, QSIZE);
	c->vq.desc_gpa = DESC;
	c->vq.avail_gpa = AVAIL;
	c->vq.used_gpa = USED;
	c->vq.indirect = true;
	assert_int_equal(virtq_enable(&c->vq), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	free(c->ram);
	free(c);
	return 0;
}

static void expect_broken(struct ctx *c)
{
	assert_int_equal(virtq_pop(&c->vq, &c->iov), -EINVAL);
	assert_true(c->vq.broken);
	/* Stays broken; nothing more is taken. */
	assert_int_equal(virtq_pop(&c->vq, &c->iov), -EINVAL);
}

static void test_empty_and_good_chain(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(virtq_pop(&c->vq, &c->iov), 0);
	set_desc(c, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(c, DESC, 5, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(c, DESC, 2, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(c, 0);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	assert_int_equal(c->iov.head, 0);
	assert_int_equal(c->iov.n_out, 1);
	assert_int_equal(c->iov.n_in, 2);
	assert_int_equal(c->iov.out_len, 16);
	assert_int_equal(c->iov.in_len, 513);
	assert_ptr_equal(c->iov.iov[0].iov_base, c->ram + BUF);
	assert_ptr_equal(c->iov.iov[1].iov_base, c->ram + BUF + 0x100);
	assert_ptr_equal(c->iov.iov[2].iov_base, c->ram + BUF + 0x400);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 0);

	virtq_push(&c->vq, 0, 513);
	assert_int_equal(get_le16(c->ram + USED + 2), 1);
	assert_int_equal(get_le32(c->ram + USED + 4), 0);
	assert_int_equal(get_le32(c->ram + USED + 8), 513);
	assert_int_equal(c->vq.inflight, 0);
}

static void test_ring_wraps(void **state)
{
	struct ctx *c = *state;

	set_desc(c, DESC, 3, BUF, 8, 0, 0);
	for (unsigned i = 0; i < 3 * QSIZE + 1; i++) {
		offer(c, 3);
		assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
		assert_int_equal(c->iov.head, 3);
		virtq_push(&c->vq, 3, 0);
	}
	assert_int_equal(get_le16(c->ram + USED + 2), 3 * QSIZE + 1);
	/* idx is free-running across 16 bits. */
	c->vq.last_avail = c->vq.used_idx = 0xFFFF;
	c->avail_idx = 0xFFFF;
	put_le16(c->ram + AVAIL + 2, c->avail_idx);
	offer(c, 3);
	offer(c, 3);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 0);
}

static void test_indirect(void **state)
{
	struct ctx *c = *state;

	set_desc(c, INDIR, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, INDIR, 1, BUF + 0x200, 4096, VIRTQ_DESC_F_NEXT, 2);
	set_desc(c, INDIR, 2, BUF + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	set_desc(c, DESC, 7, INDIR, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 7);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	assert_int_equal(c->iov.head, 7);
	assert_int_equal(c->iov.n_out, 2);
	assert_int_equal(c->iov.n_in, 1);
	assert_int_equal(c->iov.out_len, 16 + 4096);
	assert_ptr_equal(c->iov.iov[2].iov_base, c->ram + BUF + 0x2000);
}

static void test_indirect_not_negotiated(void **state)
{
	struct ctx *c = *state;

	c->vq.indirect = false;
	set_desc(c, INDIR, 0, BUF, 16, 0, 0);
	set_desc(c, DESC, 0, INDIR, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_event_idx(void **state)
{
	struct ctx *c = *state;
	uint8_t *used_event = c->ram + AVAIL + 4 + 2 * QSIZE;
	uint8_t *avail_event = c->ram + USED + 4 + 8 * QSIZE;

	c->vq.event_idx = true;
	set_desc(c, DESC, 0, BUF, 8, 0, 0);
	/* The first completion always interrupts. */
	offer(c, 0);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	virtq_push(&c->vq, 0, 0);
	assert_true(virtq_should_notify(&c->vq));
	/* Driver asks for an interrupt only once used->idx passes 3. */
	put_le16(used_event, 3);
	for (unsigned i = 0; i < 4; i++) {
		offer(c, 0);
		assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
		virtq_push(&c->vq, 0, 0);
		/* used idx becomes 2, 3, 4, 5: the crossing of 3 (3 -> 4) interrupts. */
		assert_int_equal(virtq_should_notify(&c->vq), i == 2);
	}
	/* Nothing new pushed: no interrupt. */
	assert_false(virtq_should_notify(&c->vq));
	/* Arming publishes where we stopped, and reports buffers that slipped in. */
	assert_false(virtq_arm_notify(&c->vq));
	assert_int_equal(get_le16(avail_event), c->vq.last_avail);
	offer(c, 0);
	assert_true(virtq_arm_notify(&c->vq));
}

static void test_no_interrupt_flag(void **state)
{
	struct ctx *c = *state;

	set_desc(c, DESC, 0, BUF, 8, 0, 0);
	offer(c, 0);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	virtq_push(&c->vq, 0, 0);
	assert_true(virtq_should_notify(&c->vq));
	put_le16(c->ram + AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_false(virtq_should_notify(&c->vq));
}

static void test_bad_address_outside_ram(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, RAM_SIZE - 8, 16, 0, 0); /* straddles the end */
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_address_far(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, 0xFEE00000, 4, 0, 0); /* the LAPIC, not RAM */
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_address_wraps(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, UINT64_MAX - 15, 64, 0, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_zero_length(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, DESC, 1, BUF, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_loop(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, DESC, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(c, DESC, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_self_loop_indirect(void **state)
{
	struct ctx *c = *state;
	set_desc(c, INDIR, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, INDIR, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, DESC, 0, INDIR, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_overlong_chain(void **state)
{
	struct ctx *c = *state;
	/* Every descriptor of the table in one chain is fine... */
	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(c, DESC, i, BUF, 16, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	offer(c, 0);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	assert_int_equal(c->iov.n_out, QSIZE);
	/* ...one more, through an index past the table, is not. */
	set_desc(c, DESC, QSIZE - 1, BUF, 16, VIRTQ_DESC_F_NEXT, QSIZE);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_indirect_too_big(void **state)
{
	struct ctx *c = *state;
	/* A table claiming more entries than any chain may have. */
	set_desc(c, DESC, 0, BUF, (VIRTQ_MAX_CHAIN + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_indirect_odd_size(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, INDIR, 24, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_indirect_outside_ram(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_indirect_in_indirect(void **state)
{
	struct ctx *c = *state;
	set_desc(c, INDIR + 0x100, 0, BUF, 16, 0, 0);
	set_desc(c, INDIR, 0, INDIR + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(c, DESC, 0, INDIR, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_indirect_with_next(void **state)
{
	struct ctx *c = *state;
	set_desc(c, INDIR, 0, BUF, 16, 0, 0);
	set_desc(c, DESC, 0, INDIR, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, DESC, 1, BUF, 16, 0, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_readable_after_writable(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(c, DESC, 1, BUF, 16, 0, 0);
	offer(c, 0);
	expect_broken(c);
}

static void test_bad_head_index(void **state)
{
	struct ctx *c = *state;
	offer(c, QSIZE);
	expect_broken(c);
}

static void test_bad_avail_jump(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 0, BUF, 16, 0, 0);
	put_le16(c->ram + AVAIL + 2, QSIZE + 1);
	expect_broken(c);
}

/* A driver that republishes a head the device still holds, over and over
 * (each time within the avail window): the device may hold at most 'size'
 * chains, then the queue is broken rather than popping without limit. */
static void test_bad_republished_head(void **state)
{
	struct ctx *c = *state;
	set_desc(c, DESC, 3, BUF, 8, 0, 0);
	for (unsigned i = 0; i < QSIZE; i++) {
		offer(c, 3);
		assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	}
	assert_int_equal(c->vq.inflight, QSIZE);
	/* One returned: one more may come. */
	virtq_push(&c->vq, 3, 0);
	offer(c, 3);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	offer(c, 3);
	expect_broken(c);
	assert_int_equal(c->vq.inflight, QSIZE);
}

static void test_enable_checks_ring(void **state)
{
	struct ctx *c = *state;
	struct virtqueue vq;

	virtq_reset(&vq, &c->mem, QSIZE);
	vq.desc_gpa = RAM_SIZE - 16 * QSIZE + 16; /* runs off RAM */
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	assert_int_equal(virtq_enable(&vq), -EINVAL);
	assert_false(vq.ready);
	vq.desc_gpa = DESC + 8; /* misaligned */
	assert_int_equal(virtq_enable(&vq), -EINVAL);
	vq.desc_gpa = DESC;
	vq.used_gpa = USED + 2;
	assert_int_equal(virtq_enable(&vq), -EINVAL);
	vq.used_gpa = USED;
	vq.size = 12; /* not a power of two */
	assert_int_equal(virtq_enable(&vq), -EINVAL);
	vq.size = QSIZE;
	assert_int_equal(virtq_enable(&vq), 0);
	/* Not ready: nothing popped, pushes ignored. */
	virtq_reset(&vq, &c->mem, QSIZE);
	assert_int_equal(virtq_pop(&vq, &c->iov), 0);
}

static void test_legacy_layout(void **state)
{
	struct ctx *c = *state;
	struct virtqueue vq;

	virtq_reset(&vq, &c->mem, 256);
	virtq_set_legacy_pfn(&vq, 0x20);
	assert_true(vq.ready);
	assert_int_equal(vq.desc_gpa, 0x20000);
	assert_int_equal(vq.avail_gpa, 0x20000 + 256 * 16);
	assert_int_equal(vq.used_gpa, 0x22000); /* next 4 KiB boundary after avail */
	/* A PFN whose ring is outside RAM breaks the queue, touching nothing. */
	virtq_set_legacy_pfn(&vq, 0xFFFFF);
	assert_false(vq.ready);
	assert_true(vq.broken);
	virtq_set_legacy_pfn(&vq, 0);
	assert_false(vq.ready);
}

/* The kernel's vhost-net served the ring and hands it back: vmm goes on
 * from the kernel's avail index and the ring's used index, asks the
 * driver for notifications again (the kernel may have left NO_NOTIFY),
 * interrupts on its next push, and takes the next chain. */
static void test_take_over_from_another_server(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < 3; i++) {
		set_desc(c, DESC, i, BUF + 0x100 * i, 64, VIRTQ_DESC_F_WRITE, 0);
		offer(c, (uint16_t)i);
	}
	/* the other side took chains 0 and 1, pushed both, left NO_NOTIFY */
	put_le32(c->ram + USED + 4, 0);
	put_le32(c->ram + USED + 12, 1);
	put_le16(c->ram + USED + 2, 2);
	put_le16(c->ram + USED, VIRTQ_USED_F_NO_NOTIFY);
	c->vq.inflight = 1;
	virtq_take_over(&c->vq, 2);
	assert_int_equal(c->vq.last_avail, 2);
	assert_int_equal(c->vq.used_idx, 2);
	assert_int_equal(c->vq.inflight, 0);
	assert_int_equal(get_le16(c->ram + USED), 0);
	assert_int_equal(virtq_pop(&c->vq, &c->iov), 1);
	assert_int_equal(c->iov.head, 2);
	virtq_push(&c->vq, 2, 64);
	assert_int_equal(get_le16(c->ram + USED + 2), 3);
	assert_int_equal(get_le32(c->ram + USED + 4 + 8 * 2), 2);
	assert_true(virtq_should_notify(&c->vq));
}

static void test_iov_helpers(void **state)
{
	uint8_t a[3] = { 1, 2, 3 }, b[5] = { 4, 5, 6, 7, 8 }, out[8] = { 0 };
	struct iovec iov[2] = { { a, 3 }, { b, 5 } };
	(void)state;

	assert_int_equal(iov_to_buf(iov, 2, 2, out, 4), 4);
	assert_memory_equal(out, ((uint8_t[]){ 3, 4, 5, 6 }), 4);
	assert_int_equal(iov_to_buf(iov, 2, 6, out, 8), 2);
	assert_int_equal(buf_to_iov(iov, 2, 1, (uint8_t[]){ 9, 9, 9 }, 3), 3);
	assert_int_equal(a[1], 9);
	assert_int_equal(b[0], 9);
	assert_int_equal(buf_to_iov(iov, 2, 100, out, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_empty_and_good_chain),
		T(test_ring_wraps),
		T(test_indirect),
		T(test_indirect_not_negotiated),
		T(test_event_idx),
		T(test_no_interrupt_flag),
		T(test_bad_address_outside_ram),
		T(test_bad_address_far),
		T(test_bad_address_wraps),
		T(test_bad_zero_length),
		T(test_bad_loop),
		T(test_bad_self_loop_indirect),
		T(test_bad_overlong_chain),
		T(test_bad_indirect_too_big),
		T(test_bad_indirect_odd_size),
		T(test_bad_indirect_outside_ram),
		T(test_bad_indirect_in_indirect),
		T(test_bad_indirect_with_next),
		T(test_bad_readable_after_writable),
		T(test_bad_head_index),
		T(test_bad_avail_jump),
		T(test_bad_republished_head),
		T(test_enable_checks_ring),
		T(test_legacy_layout),
		T(test_iov_helpers),
		T(test_take_over_from_another_server),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
