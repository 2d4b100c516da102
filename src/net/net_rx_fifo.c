// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The held-frame FIFO of the emulated NICs (include/net_rx_fifo.h): one
 * place for the rules of frames a card cannot take yet. A ring of at most
 * 'capacity' frame copies; the bound keeps a guest that never gives the
 * card room from growing host memory (64 frames of 64 KiB at worst).
 */
#include "net_rx_fifo.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct net_rx_held {
	size_t len;
	uint8_t data[];
};

void net_rx_fifo_init(struct net_rx_fifo *q, unsigned capacity, net_rx_deliver_fn deliver,
		      void *card)
{
	assert(capacity >= 1 && capacity <= NET_RX_FIFO_SLOTS);
	memset(q, 0, sizeof(*q));
	q->deliver = deliver;
	q->card = card;
	q->capacity = MAX(1u, MIN(capacity, (unsigned)NET_RX_FIFO_SLOTS)); /* even under NDEBUG */
}

static struct net_rx_held *oldest(const struct net_rx_fifo *q)
{
	return q->slot[q->head];
}

static void drop_oldest(struct net_rx_fifo *q)
{
	free(q->slot[q->head]);
	q->slot[q->head] = NULL;
	q->head = (q->head + 1) % q->capacity;
	q->count--;
}

/* A copy at the tail; false if the FIFO is full (or out of memory, which
 * the backend sees as a full card: it keeps the frame). */
static bool hold(struct net_rx_fifo *q, const uint8_t *frame, size_t len)
{
	if (q->count >= q->capacity)
		return false;
	struct net_rx_held *h = malloc(sizeof(*h) + len);
	if (!h)
		return false;
	h->len = len;
	memcpy(h->data, frame, len);
	q->slot[(q->head + q->count++) % q->capacity] = h;
	return true;
}

bool net_rx_fifo_drain(struct net_rx_fifo *q)
{
	bool ready = false;

	if (q->quiesced)
		return false; /* the card must not change until resume */
	while (q->count) {
		struct net_rx_held *h = oldest(q);
		if (!q->deliver(q->card, h->data, h->len))
			break;
		drop_oldest(q);
		/* One slot is free: a frame the backend kept fits now. */
		ready |= q->refused;
		q->refused = false;
	}
	return ready;
}

enum net_rx_verdict net_rx_fifo_offer(struct net_rx_fifo *q, const uint8_t *frame, size_t len,
				      bool *ready)
{
	/* Held frames first (the driver may have made room without telling
	 * the card: some rings have no doorbell), and in order. */
	bool was_refused = q->count && net_rx_fifo_drain(q);
	enum net_rx_verdict v = NET_RX_DELIVERED;

	if (q->quiesced || q->count || !q->deliver(q->card, frame, len)) {
		if (hold(q, frame, len)) {
			v = NET_RX_HELD;
		} else {
			v = NET_RX_REFUSED;
			q->refused = true;
			if (!q->quiesced)
				q->missed++;
		}
	}
	/* Refused again: the flag stays set and a later drain tells it. */
	*ready = was_refused && v != NET_RX_REFUSED;
	return v;
}

void net_rx_fifo_quiesce(struct net_rx_fifo *q)
{
	q->quiesced = true;
}

bool net_rx_fifo_resume(struct net_rx_fifo *q)
{
	q->quiesced = false;
	return net_rx_fifo_drain(q);
}

void net_rx_fifo_flush(struct net_rx_fifo *q)
{
	while (q->count) {
		drop_oldest(q);
		q->discarded++;
	}
	q->head = 0;
	q->refused = false;
}
