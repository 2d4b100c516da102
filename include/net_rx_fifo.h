/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The held-frame FIFO of an emulated NIC (e1000, rtl8139, ne2000, pcnet):
 * the rules for a frame from the backend that the card cannot take now.
 *
 * - A frame the card has no room for (its ring full, its receiver off
 *   for a descriptor) waits here, a copy, in arrival order; later frames
 *   queue behind it, so the guest sees them in wire order.
 * - The FIFO is bounded (capacity <= NET_RX_FIFO_SLOTS): a frame that
 *   finds it full is refused, and the backend keeps it until the card
 *   says there is room (net_rx_ready, after the card's lock is dropped).
 *   A refusal while the card runs is a missed frame (the card counts it
 *   in its own register, e.g. MPC); one while it is quiesced is not.
 * - Quiesced (paused, or being saved): frames only join the FIFO; the
 *   card is not called, so no register, interrupt or guest memory
 *   changes. Resume delivers them first, in order.
 * - Drain: when the guest may have made room, the held frames go in,
 *   oldest first, until the card has no room again.
 *
 * Locking: the FIFO has no lock of its own. Every call is made with the
 * card's receive lock held (the same lock its deliver callback needs),
 * so checking for room and using it happen under one lock. The 'ready'
 * results say the backend must hear net_rx_ready(); the card calls it
 * after dropping its lock (the backend calls the card with its own lock
 * held, so the card must never call the backend while holding its lock).
 */
#ifndef VMM_NET_RX_FIFO_H
#define VMM_NET_RX_FIFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_RX_FIFO_SLOTS 64 /* the most frames a card may hold */

/* Puts one frame into the card (registers, interrupt, guest memory): 1 done
 * (delivered, or dropped as the card would drop it), 0 no room yet (the
 * frame must wait). Called with the card's lock held. */
typedef int (*net_rx_deliver_fn)(void *card, const uint8_t *frame, size_t len);

struct net_rx_held;

struct net_rx_fifo {
	net_rx_deliver_fn deliver;
	void *card;
	unsigned capacity;
	struct net_rx_held *slot[NET_RX_FIFO_SLOTS];
	unsigned head, count;
	bool refused;  /* a frame was refused: the backend waits for net_rx_ready */
	bool quiesced;
	uint64_t missed;    /* refused because full while the card ran */
	uint64_t discarded; /* held frames thrown away (reset, load, destroy) */
};

enum net_rx_verdict {
	NET_RX_DELIVERED, /* the card has it (or dropped it as hardware would) */
	NET_RX_HELD,      /* waits in the FIFO: no room in the card, or quiesced */
	NET_RX_REFUSED,   /* FIFO full: the backend keeps it, told later */
};

/* 'capacity' frames at most (1..NET_RX_FIFO_SLOTS). */
void net_rx_fifo_init(struct net_rx_fifo *q, unsigned capacity, net_rx_deliver_fn deliver,
		      void *card);
/* A frame from the backend (copied if it must wait). *ready: the backend
 * was refused earlier and a held frame has gone in since: tell it
 * net_rx_ready() once the lock is dropped. */
enum net_rx_verdict net_rx_fifo_offer(struct net_rx_fifo *q, const uint8_t *frame, size_t len,
				      bool *ready);
/* The guest may have made room: held frames into the card while it takes
 * them (nothing while quiesced). Returns 'ready' as above. */
bool net_rx_fifo_drain(struct net_rx_fifo *q);
void net_rx_fifo_quiesce(struct net_rx_fifo *q);
/* Not quiesced any more: the frames that waited go in, in order.
 * Returns 'ready' as above. */
bool net_rx_fifo_resume(struct net_rx_fifo *q);
/* Throws the held frames away (card reset, state loaded, destroy) and
 * forgets a refusal. */
void net_rx_fifo_flush(struct net_rx_fifo *q);

static inline bool net_rx_fifo_quiesced(const struct net_rx_fifo *q)
{
	return q->quiesced;
}

static inline unsigned net_rx_fifo_count(const struct net_rx_fifo *q)
{
	return q->count;
}

static inline bool net_rx_taken(enum net_rx_verdict v)
{
	return v != NET_RX_REFUSED;
}

#endif
