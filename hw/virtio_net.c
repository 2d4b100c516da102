// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net. Queue 0 receives, queue 1 transmits. Every buffer starts
 * with the 12-byte virtio_net_hdr (VERSION_1 layout, num_buffers included);
 * without offload features it is all zeroes going in, and ignored coming
 * out except for its size.
 *
 * Receive: the backend's thread queues frames in 'pending' (its own small
 * lock, never the transport's, so the backend may call us while we call
 * it) and schedules the receive queue on the I/O thread, which copies them
 * into the guest's buffers. A frame that does not fit the buffer chain is
 * dropped, as a NIC drops an oversized frame.
 */
#include "hw/virtio_net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RXQ 0
#define TXQ 1

struct frame {
	size_t len;
	uint8_t data[];
};

struct virtio_net {
	struct virtio_pci t;
	uint8_t config[8]; /* mac[6], le16 status */
	void (*send)(void *backend, const uint8_t *frame, size_t len);
	void *backend;
	struct virtq_iov scratch;
	uint8_t txbuf[VIRTIO_NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME];

	pthread_mutex_t rx_lock;
	struct frame *pending[VIRTIO_NET_RX_PENDING];
	unsigned rx_head, rx_count;
	uint64_t rx_dropped, tx_dropped;
};

void virtio_net_receive(void *opaque, const uint8_t *data, size_t len)
{
	struct virtio_net *n = opaque;
	struct frame *f;

	if (len == 0 || len > VIRTIO_NET_MAX_FRAME)
		return;
	f = malloc(sizeof(*f) + len);
	if (!f)
		return;
	f->len = len;
	memcpy(f->data, data, len);
	pthread_mutex_lock(&n->rx_lock);
	if (n->rx_count == VIRTIO_NET_RX_PENDING) {
		n->rx_dropped++;
		free(f);
		f = NULL;
	} else {
		n->pending[(n->rx_head + n->rx_count++) % VIRTIO_NET_RX_PENDING] = f;
	}
	pthread_mutex_unlock(&n->rx_lock);
	if (f)
		virtio_pci_schedule(&n->t, RXQ);
}

static struct frame *peek_frame(struct virtio_net *n)
{
	struct frame *f = NULL;
	pthread_mutex_lock(&n->rx_lock);
	if (n->rx_count)
		f = n->pending[n->rx_head];
	pthread_mutex_unlock(&n->rx_lock);
	return f;
}

static void drop_frame(struct virtio_net *n)
{
	pthread_mutex_lock(&n->rx_lock);
	if (n->rx_count) {
		free(n->pending[n->rx_head]);
		n->rx_head = (n->rx_head + 1) % VIRTIO_NET_RX_PENDING;
		n->rx_count--;
	}
	pthread_mutex_unlock(&n->rx_lock);
}

static void flush_pending(struct virtio_net *n)
{
	while (peek_frame(n))
		drop_frame(n);
}

/* Transport lock held. */
static void rx_process(struct virtio_net *n)
{
	struct virtio_pci *t = &n->t;
	struct virtqueue *vq = &t->vq[RXQ];
	struct virtq_iov *iov = &n->scratch;
	uint8_t hdr[VIRTIO_NET_HDR_SIZE] = { 0 };
	bool pushed = false;
	struct frame *f;

	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	put_le16(hdr + 10, 1); /* num_buffers */
	while ((f = peek_frame(n))) {
		int r = virtq_pop(vq, iov);
		if (r < 0) {
			virtio_pci_set_needs_reset(t);
			return;
		}
		if (r == 0) {
			/* No buffer: ask to be told, and look again in case one came. */
			if (!virtq_arm_notify(vq))
				break;
			continue;
		}
		uint32_t written = 0;
		if (iov->n_out == 0 && iov->in_len >= VIRTIO_NET_HDR_SIZE + f->len) {
			const struct iovec *in = iov->iov;
			buf_to_iov(in, iov->n_in, 0, hdr, sizeof(hdr));
			buf_to_iov(in, iov->n_in, sizeof(hdr), f->data, f->len);
			written = (uint32_t)(sizeof(hdr) + f->len);
		} else {
			n->rx_dropped++;
		}
		drop_frame(n);
		virtq_push(vq, iov->head, written);
		pushed = true;
	}
	if (pushed)
		virtio_pci_notify_queue(t, RXQ);
}

static void tx_one(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_net *n = t->dev;
	size_t len = (size_t)MIN(iov->out_len, (uint64_t)sizeof(n->txbuf));

	if (iov->out_len > sizeof(n->txbuf) || iov->out_len <= VIRTIO_NET_HDR_SIZE) {
		n->tx_dropped++;
	} else {
		iov_to_buf(iov->iov, iov->n_out, 0, n->txbuf, len);
		n->send(n->backend, n->txbuf + VIRTIO_NET_HDR_SIZE, len - VIRTIO_NET_HDR_SIZE);
	}
	virtq_push(&t->vq[q], iov->head, 0);
	virtio_pci_notify_queue(t, q);
}

static void net_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_net *n = t->dev;

	if (q == RXQ)
		rx_process(n);
	else if (q == TXQ)
		virtio_pci_drain(t, q, &n->scratch, tx_one);
}

static void net_reset(struct virtio_pci *t)
{
	flush_pending(t->dev);
}

static const struct virtio_device_ops net_ops = {
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

struct virtio_net *virtio_net_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host,
				     const uint8_t mac[6],
				     void (*send)(void *backend, const uint8_t *frame, size_t len),
				     void *backend)
{
	struct virtio_net *n = xzalloc(sizeof(*n));

	memcpy(n->config, mac, 6);
	put_le16(n->config + 6, 1); /* VIRTIO_NET_S_LINK_UP */
	n->send = send;
	n->backend = backend;
	pthread_mutex_init(&n->rx_lock, NULL);
	virtio_pci_init(&n->t, "virtio-net", VIRTIO_ID_NET, 0x020000, mem, host, &net_ops, n,
			1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS, 2,
			VIRTIO_NET_QUEUE_SIZE, n->config, sizeof(n->config));
	if (virtio_pci_start(&n->t, bus, devfn) < 0) {
		virtio_net_destroy(n);
		return NULL;
	}
	return n;
}

struct virtio_pci *virtio_net_transport(struct virtio_net *n)
{
	return &n->t;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_pci_stop(&n->t);
	flush_pending(n);
	free(n);
}
