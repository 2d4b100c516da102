// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The backend-independent part of networking: dispatch to a backend's
 * operations, and checksum completion for NICs whose backend cannot take
 * partial checksums.
 */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

/* A NIC with no peer (-device e1000 without netdev=): what it sends goes
 * nowhere, nothing arrives; as a NIC with its cable in no switch. */
static void none_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame,
		      size_t len)
{
}

static void none_destroy(struct net_backend *b)
{
	free(b);
}

static const struct net_backend_ops none_ops = { .send = none_send, .destroy = none_destroy };

struct net_backend *net_none_create(void)
{
	struct net_backend *b = calloc(1, sizeof(*b));
	if (b)
		b->ops = &none_ops;
	return b;
}

void net_stop(struct net_backend *b)
{
	for (; b; b = b->next_queue)
		if (b->ops->stop)
			b->ops->stop(b);
}

void net_destroy(struct net_backend *b)
{
	net_stop(b);
	if (b && b->ops->destroy)
		b->ops->destroy(b);
}

int net_attach(struct net_backend *b, net_receive_fn rx, void *opaque)
{
	b->rx = rx;
	b->rx_opaque = opaque;
	return b->ops->attach ? b->ops->attach(b) : 0;
}

void net_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame, size_t len)
{
	b->ops->send(b, hdr, frame, len);
}

/* One prefix per kind with state: only user networking has any. */
static void state_section(char *name, size_t len, const char *id)
{
	snprintf(name, len, "slirp.%s", id);
}

void net_save_state(struct net_backend *b, struct ss_writer *w, const char *id)
{
	char name[SS_NAME_MAX + 2];

	if (!b || !b->ops->save)
		return;
	state_section(name, sizeof(name), id);
	b->ops->save(b, w, name);
}

bool net_load_state(struct net_backend *b, struct ss_reader *r, const char *id)
{
	char name[SS_NAME_MAX + 2];

	if (!b || !b->ops->load)
		return ss_ok(r);
	state_section(name, sizeof(name), id);
	return b->ops->load(b, r, name);
}

bool net_can_sendv(const struct net_backend *b)
{
	return b->ops->sendv != NULL;
}

void net_sendv(struct net_backend *b, const struct net_hdr *hdr, const struct iovec *iov,
	       unsigned n)
{
	b->ops->sendv(b, hdr, iov, n);
}

unsigned net_caps(const struct net_backend *b)
{
	return b->caps;
}

void net_set_offload(struct net_backend *b, bool csum, bool tso4, bool tso6, bool ecn)
{
	if (b->ops->set_offload)
		b->ops->set_offload(b, csum, tso4, tso6, ecn);
}

void net_hdr_read(const uint8_t *p, struct net_hdr *h)
{
	h->flags = p[0];
	h->gso_type = p[1];
	h->hdr_len = get_le16(p + 2);
	h->gso_size = get_le16(p + 4);
	h->csum_start = get_le16(p + 6);
	h->csum_offset = get_le16(p + 8);
}

void net_hdr_write(uint8_t *p, const struct net_hdr *h)
{
	p[0] = h->flags;
	p[1] = h->gso_type;
	put_le16(p + 2, h->hdr_len);
	put_le16(p + 4, h->gso_size);
	put_le16(p + 6, h->csum_start);
	put_le16(p + 8, h->csum_offset);
}

bool net_can_poll(const struct net_backend *b)
{
	return b->ops->rx_fd && b->ops->recv;
}

int net_rx_fd(struct net_backend *b)
{
	return b->ops->rx_fd(b);
}

uint8_t *net_recv(struct net_backend *b, struct net_hdr *hdr, size_t *len)
{
	return b->ops->recv(b, hdr, len);
}

void net_rx_ready(struct net_backend *b)
{
	if (b->ops->rx_ready)
		b->ops->rx_ready(b);
}

struct vhost_net *net_vhost(struct net_backend *b)
{
	return b->ops->vhost ? b->ops->vhost(b) : NULL;
}

int net_lend_fd(struct net_backend *b)
{
	return b->ops->lend_fd ? b->ops->lend_fd(b) : -1;
}

struct net_backend *net_queue(struct net_backend *b, unsigned k)
{
	while (b && k--)
		b = b->next_queue;
	return b;
}

unsigned net_queues(const struct net_backend *b)
{
	unsigned n = 0;
	for (; b; b = b->next_queue)
		n++;
	return n;
}

int net_enable_queue(struct net_backend *b, bool on)
{
	return b->ops->enable_queue ? b->ops->enable_queue(b, on) : 0;
}

void net_reclaim_fd(struct net_backend *b)
{
	if (b->ops->reclaim_fd)
		b->ops->reclaim_fd(b);
}

/* RFC 1071: 16-bit big-endian words summed with end-around carry; an odd
 * last byte is padded with zero. */
static uint32_t csum_add(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t s = sum;
	size_t i = 0;

	for (; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint32_t)s;
}

int net_csum_complete(uint8_t *frame, size_t len, unsigned start, unsigned offset)
{
	size_t field = (size_t)start + offset;

	if (start >= len || field + 2 > len)
		return -1;
	/* The field holds the pseudo-header sum; it is summed with the rest. */
	uint16_t c = (uint16_t)~csum_add(frame + start, len - start, 0);
	/* A zero result goes out as 0xFFFF (the same value in one's complement):
	 * for UDP 0 would mean "no checksum". */
	if (c == 0)
		c = 0xFFFF;
	frame[field] = (uint8_t)(c >> 8);
	frame[field + 1] = (uint8_t)c;
	return 0;
}

const uint8_t *net_rx_plain(const struct net_hdr *hdr, const uint8_t *frame, size_t len,
			    uint8_t **copy)
{
	*copy = NULL;
	if (hdr->gso_type != NET_HDR_GSO_NONE)
		return NULL;
	if (!(hdr->flags & NET_HDR_F_NEEDS_CSUM))
		return frame;
	uint8_t *c = malloc(len);
	if (!c)
		return NULL;
	memcpy(c, frame, len);
	if (net_csum_complete(c, len, hdr->csum_start, hdr->csum_offset) < 0) {
		free(c);
		return NULL;
	}
	*copy = c;
	return c;
}
