// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The NICs' held-frame FIFO (src/net/net_rx_fifo.c) against a fake card
 * whose room the test sets: frames go in wire order, the bound holds and
 * refusals are counted (missed only while running), quiesce changes
 * nothing in the card and resume delivers in order, 'ready' comes exactly
 * once after a refusal and only when a slot has freed, flush discards.
 * And net_rx_plain, which readies a backend's frame for these cards.
 */
#include "unit.h"

#include <stdlib.h>

#include "net.h"
#include "net_rx_fifo.h"

#define CAP 4

/* The card: takes frames while it has room, records each one's first byte. */
struct fake_card {
	unsigned room;
	unsigned calls; /* deliver calls, whether or not there was room */
	uint8_t got[64];
	unsigned ngot;
};

static int fake_deliver(void *opaque, const uint8_t *frame, size_t len)
{
	struct fake_card *c = opaque;
	c->calls++;
	if (!c->room)
		return 0;
	assert_true(len >= 1 && c->ngot < sizeof(c->got));
	c->room--;
	c->got[c->ngot++] = frame[0];
	return 1;
}

struct fixture {
	struct fake_card card;
	struct net_rx_fifo q;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	net_rx_fifo_init(&f->q, CAP, fake_deliver, &f->card);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	net_rx_fifo_flush(&f->q);
	free(f);
	return 0;
}

/* A frame of 'len' bytes whose first byte is 'tag'. */
static enum net_rx_verdict offer_sized(struct fixture *f, uint8_t tag, size_t len, bool *ready)
{
	uint8_t *frame = calloc(1, len);
	assert_non_null(frame);
	frame[0] = tag;
	enum net_rx_verdict v = net_rx_fifo_offer(&f->q, frame, len, ready);
	free(frame); /* the FIFO must have its own copy */
	return v;
}

static enum net_rx_verdict offer(struct fixture *f, uint8_t tag, bool *ready)
{
	return offer_sized(f, tag, 60, ready);
}

static void test_room_delivers_at_once(void **state)
{
	struct fixture *f = *state;
	bool ready = true;

	f->card.room = 2;
	assert_int_equal(offer(f, 1, &ready), NET_RX_DELIVERED);
	assert_false(ready);
	assert_int_equal(offer(f, 2, &ready), NET_RX_DELIVERED);
	assert_int_equal(net_rx_fifo_count(&f->q), 0);
	assert_int_equal(f->card.ngot, 2);
	assert_int_equal(f->card.got[0], 1);
	assert_int_equal(f->card.got[1], 2);
}

/* Held frames go in oldest first, and a new frame never overtakes them
 * even when the card has room for it. */
static void test_order_kept(void **state)
{
	struct fixture *f = *state;
	bool ready;

	assert_int_equal(offer(f, 1, &ready), NET_RX_HELD);
	assert_int_equal(offer(f, 2, &ready), NET_RX_HELD);
	f->card.room = 1;
	/* Room for one: the oldest held frame takes it, 3 queues behind 2. */
	assert_int_equal(offer(f, 3, &ready), NET_RX_HELD);
	assert_int_equal(f->card.ngot, 1);
	assert_int_equal(f->card.got[0], 1);
	f->card.room = 10;
	assert_false(net_rx_fifo_drain(&f->q));
	assert_int_equal(net_rx_fifo_count(&f->q), 0);
	assert_int_equal(f->card.ngot, 3);
	assert_int_equal(f->card.got[1], 2);
	assert_int_equal(f->card.got[2], 3);
	/* Empty again: the next frame goes straight in. */
	assert_int_equal(offer(f, 4, &ready), NET_RX_DELIVERED);
	assert_int_equal(f->card.got[3], 4);
}

/* The ring wraps: many rounds of fill and drain keep the order. */
static void test_wraps(void **state)
{
	struct fixture *f = *state;
	bool ready;
	uint8_t tag = 0;

	for (unsigned round = 0; round < 5; round++) {
		f->card.room = 0;
		f->card.ngot = 0;
		for (unsigned i = 0; i < CAP - 1; i++)
			assert_int_equal(offer(f, tag++, &ready), NET_RX_HELD);
		f->card.room = 2;
		net_rx_fifo_drain(&f->q);
		f->card.room = 10;
		net_rx_fifo_drain(&f->q);
		assert_int_equal(f->card.ngot, CAP - 1);
		for (unsigned i = 0; i < CAP - 1; i++)
			assert_int_equal(f->card.got[i], (uint8_t)(tag - (CAP - 1) + i));
	}
}

/* The bound: CAP frames wait, the next is refused and counted as missed,
 * the FIFO does not grow. */
static void test_bound_and_missed(void **state)
{
	struct fixture *f = *state;
	bool ready;

	for (unsigned i = 0; i < CAP; i++)
		assert_int_equal(offer(f, (uint8_t)i, &ready), NET_RX_HELD);
	for (unsigned i = 0; i < 100; i++) {
		enum net_rx_verdict v = offer(f, 0xEE, &ready);
		assert_int_equal(v, NET_RX_REFUSED);
		assert_false(net_rx_taken(v));
		assert_false(ready);
	}
	assert_int_equal(net_rx_fifo_count(&f->q), CAP);
	assert_int_equal(f->q.missed, 100);
	assert_int_equal(f->q.discarded, 0);
	assert_int_equal(f->card.ngot, 0);
	/* The refused frames never reach the card later. */
	f->card.room = 100;
	net_rx_fifo_drain(&f->q);
	assert_int_equal(f->card.ngot, CAP);
	for (unsigned i = 0; i < CAP; i++)
		assert_int_equal(f->card.got[i], i);
}

/* The largest frame the backends hand over is copied whole (ASan checks
 * the copy's bounds). */
static void test_large_frame_copied(void **state)
{
	struct fixture *f = *state;
	bool ready;

	assert_int_equal(offer_sized(f, 0x5A, 65535 + 18, &ready), NET_RX_HELD);
	f->card.room = 1;
	net_rx_fifo_drain(&f->q);
	assert_int_equal(f->card.got[0], 0x5A);
}

/* Refuse, then ready exactly once: when a held frame has gone in (a slot
 * is free), not before, and not again. */
static void test_ready_after_refusal(void **state)
{
	struct fixture *f = *state;
	bool ready;

	for (unsigned i = 0; i < CAP; i++)
		offer(f, (uint8_t)i, &ready);
	assert_int_equal(offer(f, 0xEE, &ready), NET_RX_REFUSED);
	/* No room yet: draining delivers nothing, no ready. */
	assert_false(net_rx_fifo_drain(&f->q));
	f->card.room = 1;
	assert_true(net_rx_fifo_drain(&f->q));
	assert_false(net_rx_fifo_drain(&f->q));
	f->card.room = 1;
	assert_false(net_rx_fifo_drain(&f->q)); /* no refusal since */
	assert_int_equal(f->card.ngot, 2);
}

/* The refused frame comes back (the backend offers it again): the held
 * frames drain first, in the same call, which then reports ready because
 * the backend had been refused, and the frame is taken. */
static void test_ready_through_offer(void **state)
{
	struct fixture *f = *state;
	bool ready;

	for (unsigned i = 0; i < CAP; i++)
		offer(f, (uint8_t)i, &ready);
	assert_int_equal(offer(f, 0xEE, &ready), NET_RX_REFUSED);
	f->card.room = 2;
	assert_int_equal(offer(f, 0xEF, &ready), NET_RX_HELD);
	assert_true(ready);
	assert_int_equal(f->card.ngot, 2);
	/* Full again, refused again: no ready now, the next drain tells. */
	assert_int_equal(offer(f, 0xF0, &ready), NET_RX_HELD);
	assert_int_equal(offer(f, 0xF1, &ready), NET_RX_REFUSED);
	assert_false(ready);
	f->card.room = 1;
	assert_true(net_rx_fifo_drain(&f->q));
}

/* Quiesced: the card is never called (no register, interrupt or memory
 * change), even with room; frames wait, a full FIFO refuses without
 * counting a miss; drain does nothing; resume delivers all in order and
 * tells the refused backend. */
static void test_quiesce_resume(void **state)
{
	struct fixture *f = *state;
	bool ready;

	f->card.room = 100;
	assert_int_equal(offer(f, 1, &ready), NET_RX_DELIVERED);
	net_rx_fifo_quiesce(&f->q);
	assert_true(net_rx_fifo_quiesced(&f->q));
	unsigned calls = f->card.calls;
	for (unsigned i = 0; i < CAP; i++)
		assert_int_equal(offer(f, (uint8_t)(2 + i), &ready), NET_RX_HELD);
	assert_int_equal(offer(f, 0xEE, &ready), NET_RX_REFUSED);
	assert_false(ready);
	assert_false(net_rx_fifo_drain(&f->q));
	assert_int_equal(f->card.calls, calls);
	assert_int_equal(f->q.missed, 0);
	assert_true(net_rx_fifo_resume(&f->q));
	assert_false(net_rx_fifo_quiesced(&f->q));
	assert_int_equal(net_rx_fifo_count(&f->q), 0);
	assert_int_equal(f->card.ngot, 1 + CAP);
	for (unsigned i = 0; i <= CAP; i++)
		assert_int_equal(f->card.got[i], 1 + i);
}

/* Resume with still no room: the frames keep waiting, no ready. */
static void test_resume_without_room(void **state)
{
	struct fixture *f = *state;
	bool ready;

	net_rx_fifo_quiesce(&f->q);
	offer(f, 1, &ready);
	assert_false(net_rx_fifo_resume(&f->q));
	assert_int_equal(net_rx_fifo_count(&f->q), 1);
	f->card.room = 1;
	assert_int_equal(offer(f, 2, &ready), NET_RX_HELD);
	assert_int_equal(f->card.got[0], 1);
}

/* Flush (reset, load): held frames discarded and counted, the refusal
 * forgotten, the card untouched; the FIFO works again afterwards. */
static void test_flush(void **state)
{
	struct fixture *f = *state;
	bool ready;

	for (unsigned i = 0; i < CAP; i++)
		offer(f, (uint8_t)i, &ready);
	offer(f, 0xEE, &ready);
	net_rx_fifo_flush(&f->q);
	assert_int_equal(net_rx_fifo_count(&f->q), 0);
	assert_int_equal(f->q.discarded, CAP);
	f->card.room = 10;
	assert_false(net_rx_fifo_drain(&f->q));
	assert_int_equal(f->card.ngot, 0);
	assert_int_equal(offer(f, 7, &ready), NET_RX_DELIVERED);
	assert_false(ready);
	assert_int_equal(f->card.got[0], 7);
}

/* A card that drops a frame (deliver returns 1 without storing it, as
 * for a frame its filter rejects) frees the slot like a delivery. */
static int dropping_deliver(void *opaque, const uint8_t *frame, size_t len)
{
	(void)frame;
	(void)len;
	unsigned *calls = opaque;
	(*calls)++;
	return 1;
}

static void test_capacity_one(void **state)
{
	(void)state;
	struct net_rx_fifo q;
	unsigned calls = 0;
	uint8_t frame[60] = { 0 };
	bool ready;

	net_rx_fifo_init(&q, 1, dropping_deliver, &calls);
	net_rx_fifo_quiesce(&q);
	assert_int_equal(net_rx_fifo_offer(&q, frame, sizeof(frame), &ready), NET_RX_HELD);
	assert_int_equal(net_rx_fifo_offer(&q, frame, sizeof(frame), &ready), NET_RX_REFUSED);
	assert_true(net_rx_fifo_resume(&q));
	assert_int_equal(calls, 1);
	assert_int_equal(net_rx_fifo_offer(&q, frame, sizeof(frame), &ready), NET_RX_DELIVERED);
	assert_int_equal(calls, 2);
	net_rx_fifo_flush(&q);
}

/* ---- net_rx_plain: what the four cards hand the FIFO ---------------------- */

static uint16_t ones_sum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)s;
}

/* A complete frame passes as it is; a GSO one is dropped; a partial
 * checksum is completed in a copy (the backend's buffer untouched), one
 * whose field lies outside the frame dropped. */
static void test_rx_plain(void **state)
{
	(void)state;
	uint8_t frame[61], *copy = (uint8_t *)1;
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7 + 1);
	struct net_hdr h = { 0 };

	assert_ptr_equal(net_rx_plain(&h, frame, sizeof(frame), &copy), frame);
	assert_null(copy);
	h.gso_type = NET_HDR_GSO_TCPV4;
	assert_null(net_rx_plain(&h, frame, sizeof(frame), &copy));
	assert_null(copy);

	h = (struct net_hdr){ .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6 };
	frame[40] = frame[41] = 0; /* the pseudo-header's sum, 0 here: the sum then checks to ~0 */
	uint8_t before[sizeof(frame)];
	memcpy(before, frame, sizeof(frame));
	const uint8_t *out = net_rx_plain(&h, frame, sizeof(frame), &copy);
	assert_non_null(out);
	assert_ptr_equal(out, copy);
	assert_memory_equal(frame, before, sizeof(frame));
	assert_memory_equal(out, frame, 40);                 /* all but the field */
	assert_memory_equal(out + 42, frame + 42, sizeof(frame) - 42);
	assert_int_equal(ones_sum(out + 34, sizeof(frame) - 34), 0xFFFF);
	free(copy);

	h.csum_offset = (uint16_t)(sizeof(frame) - 34 - 1); /* the field's 2nd byte past the end */
	assert_null(net_rx_plain(&h, frame, sizeof(frame), &copy));
	assert_null(copy);
	h.csum_start = sizeof(frame);
	h.csum_offset = 0;
	assert_null(net_rx_plain(&h, frame, sizeof(frame), &copy));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_room_delivers_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_missed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_frame_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_after_refusal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_through_offer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_without_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test(test_capacity_one),
		cmocka_unit_test(test_rx_plain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
