// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net. Queue 2k receives and 2k+1 transmits for queue pair k; with
 * mq=on (VIRTIO_NET_F_MQ) there is one pair per queue of the backend
 * (-netdev tap,queues=N) and a control queue after them, on which the
 * driver says how many pairs it uses (only the first until it does). Each
 * pair has its own backend queue, pending frames and vhost-net; pairs not
 * in use have their backend queue detached, so the host steers no flow to
 * them. Every frame is preceded
 * by the virtio_net_hdr: 12 bytes (with num_buffers) for a VERSION_1 or
 * MRG_RXBUF driver, 10 for a legacy driver without MRG_RXBUF.
 *
 * Features follow the backend: CSUM and MRG_RXBUF always (for a backend
 * without offloads the partial checksum is completed here, before the
 * frame leaves); GUEST_CSUM and TSO4/6 both ways only over a backend that
 * takes the header itself (tap with IFF_VNET_HDR). Every header field from
 * the guest (and from the backend) is checked against the frame; a bad one
 * drops that frame.
 *
 * Receive: a backend that offers it (tap) is read by the I/O thread
 * itself, when its descriptor turns readable or the guest posts buffers;
 * while the guest has none, frames wait in the backend (the kernel's
 * queue). Another backend's thread (slirp's) queues frames in 'pending'
 * (its own small lock, never the transport's, so the backend may call us
 * while we call it) and schedules the receive queue on the I/O thread.
 * Either way the I/O thread copies each frame into the guest's buffers:
 * one chain per frame, or with MRG_RXBUF as many as the frame needs, all
 * returned in one used-ring update, and one interrupt per pass. A frame
 * that can never fit is dropped, as a NIC drops an oversized frame.
 *
 * Over a tap with vhost=on the host kernel runs both queues (include/
 * vhost_net.h) whenever it can: the driver is running, both vectors are
 * MSI-X vectors KVM can raise from an eventfd and unmasked, the cable is
 * in, and neither a pause nor migration's dirty log needs vmm to see every
 * write to guest RAM. Otherwise the queues come back here, with the
 * kernel's place in them, and this file's path serves them.
 */
#include "hw/virtio_net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"
#include "vhost_net.h"

/* A pair's two queues, as offsets from 2k. */
#define RXQ 0
#define TXQ 1
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define CTRL_MAX_COMMAND 64 /* class, command and the largest data vmm takes */

#define F(bit) (1ULL << (bit))
/* The ring and header features the kernel must honour for vhost-net to
 * serve this driver (the offloads are the tap's). */
#define VHOST_RING_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | \
			     F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_NET_F_MRG_RXBUF))
/* What the guest may accept in received frames; mirrored to the backend. */
#define RX_OFFLOADS (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | \
		     F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN))

/* A received frame: a copy the backend's thread queued (its bytes right
 * after the struct, in the same allocation), or one a polled backend
 * holds in its own buffer (net_recv). */
struct frame {
	struct net_hdr hdr;
	size_t len;
	uint8_t *data;
};

/* Frames one pass takes from a polled backend before the other queues'
 * work (and the next pass) gets a turn: the I/O thread also transmits. */
#define RX_POLL_BUDGET 64

/* Queue pair k: its backend queue, the frames it delivered, and the
 * kernel's data path for it. */
struct net_pair {
	struct virtio_net *n;
	unsigned rxq, txq;     /* 2k, 2k+1 */
	struct net_backend *backend;
	uint16_t rx_wait_idx;  /* avail index a waiting merged frame needs passed */

	pthread_mutex_t rx_lock;
	struct frame *pending[VIRTIO_NET_RX_PENDING];
	unsigned rx_head, rx_count;
	bool rx_refused;       /* a frame was refused: tell the backend when room is made */
	/* A copy of the device's link_up, under rx_lock (see there). */
	bool link_up;

	/* The I/O thread reads the backend itself (net_recv), set at attach;
	 * 'watched': its descriptor is in the I/O thread's epoll. 'held': a
	 * frame read that did not fit yet, kept in the backend's buffer;
	 * 'lent': the descriptor is the kernel's (vhost-net) now. Transport
	 * lock. */
	bool polled, watched, lent, holding;
	struct frame held;

	/* The kernel's data path (transport lock): the backend queue's
	 * vhost-net or NULL; whether it runs the two queues now, with these
	 * irqfds; a start that failed (vmm's path from then on). */
	struct vhost_net *vhost;
	bool vhost_on, vhost_failed;
	int vhost_call[2];
};

struct virtio_net {
	struct virtio_pci t;
	uint8_t config[10]; /* mac[6], le16 status, le16 max_virtqueue_pairs (mq=on) */
	struct net_pair pair[VIRTIO_NET_MAX_PAIRS];
	unsigned npairs;       /* the device's pairs: 1, or the backend's queues with mq=on */
	unsigned pairs_on;     /* the pairs the driver uses (control queue; transport lock) */
	bool mq;
	struct virtq_iov scratch;
	/* The control queue's own: a command may run rx_process (vhost-net's
	 * start), which pops receive chains into 'scratch'. */
	struct virtq_iov ctrl_scratch;
	uint8_t txbuf[VIRTIO_NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME];
	struct iovec tx_iov[VIRTQ_MAX_CHAIN]; /* a frame's pieces (tx_gather) */
	uint64_t offload_set;  /* RX_OFFLOADS bits last given to the backend */
	/* One merged receive in progress (I/O thread, transport lock). */
	uint16_t rx_heads[VIRTIO_NET_QUEUE_SIZE];
	uint32_t rx_lens[VIRTIO_NET_QUEUE_SIZE];
	/* The cable (set_link), under the transport lock; each pair's copy is
	 * written with the transport lock and that pair's rx_lock held, so
	 * either lock reads it. Mirrored in the config's status field
	 * (VIRTIO_NET_S_LINK_UP), which is what saved state carries. */
	bool link_up;
	uint64_t rx_dropped, tx_dropped;
	bool logging;          /* migration's dirty log on: no vhost-net */
};

static bool has(const struct virtio_net *n, unsigned bit)
{
	return virtio_pci_has_feature(&n->t, bit);
}

static size_t hdr_size(const struct virtio_net *n)
{
	return has(n, VIRTIO_F_VERSION_1) || has(n, VIRTIO_NET_F_MRG_RXBUF)
		       ? VIRTIO_NET_HDR_SIZE
		       : VIRTIO_NET_HDR_SIZE_LEGACY;
}

static bool offload_backend(const struct virtio_net *n)
{
	return net_caps(n->pair[0].backend) & NET_CAP_OFFLOAD;
}

/* The backend's receive callback for pair p. */
static bool pair_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *data, size_t len)
{
	struct net_pair *n = opaque;
	struct frame *f;
	bool queued = false;

	if (len < NET_MIN_FRAME || len > VIRTIO_NET_MAX_FRAME)
		return true; /* dropped: not a frame we could deliver */
	f = malloc(sizeof(*f) + len);
	if (!f)
		return true;
	f->hdr = *hdr;
	f->len = len;
	f->data = (uint8_t *)(f + 1);
	memcpy(f->data, data, len);
	pthread_mutex_lock(&n->rx_lock);
	if (!n->link_up) {
		pthread_mutex_unlock(&n->rx_lock);
		free(f);
		return true; /* the cable is out: lost on the wire */
	}
	if (n->rx_count == VIRTIO_NET_RX_PENDING) {
		n->rx_refused = true;
	} else {
		n->pending[(n->rx_head + n->rx_count++) % VIRTIO_NET_RX_PENDING] = f;
		queued = true;
	}
	pthread_mutex_unlock(&n->rx_lock);
	if (queued)
		virtio_pci_schedule(&n->n->t, n->rxq);
	else
		free(f);
	return queued;
}

bool virtio_net_receive(void *opaque, const struct net_hdr *hdr, const uint8_t *data, size_t len)
{
	struct virtio_net *n = opaque;
	return pair_receive(&n->pair[0], hdr, data, len);
}

static struct frame *peek_frame(struct net_pair *n)
{
	struct frame *f = NULL;
	pthread_mutex_lock(&n->rx_lock);
	if (n->rx_count)
		f = n->pending[n->rx_head];
	pthread_mutex_unlock(&n->rx_lock);
	return f;
}

/* Drops the oldest pending frame; whether the backend waits for room. */
static bool drop_frame(struct net_pair *n)
{
	bool refused;
	pthread_mutex_lock(&n->rx_lock);
	if (n->rx_count) {
		free(n->pending[n->rx_head]);
		n->rx_head = (n->rx_head + 1) % VIRTIO_NET_RX_PENDING;
		n->rx_count--;
	}
	refused = n->rx_refused;
	n->rx_refused = false;
	pthread_mutex_unlock(&n->rx_lock);
	return refused;
}

/* Drops every frame received and not delivered. Transport lock held. */
static void flush_pending(struct net_pair *n)
{
	bool refused = false;
	n->holding = false;
	while (peek_frame(n))
		refused |= drop_frame(n);
	if (refused)
		net_rx_ready(n->backend);
}

static void flush_all_pending(struct virtio_net *n)
{
	for (unsigned k = 0; k < n->npairs; k++)
		flush_pending(&n->pair[k]);
}

/* Tells the backend which offloads the driver accepts on receive, when
 * that changed (the driver negotiated, or reset). Transport lock held. */
static void sync_offloads(struct virtio_net *n)
{
	/* Legacy drivers never set FEATURES_OK; theirs count at DRIVER_OK. */
	bool set = n->t.status & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	uint64_t want = set ? n->t.guest_features & RX_OFFLOADS : 0;
	if (want == n->offload_set || !offload_backend(n))
		return;
	n->offload_set = want;
	/* The tap's offloads are the interface's, whichever queue sets them;
	 * the first is never detached. */
	net_set_offload(n->pair[0].backend, want & F(VIRTIO_NET_F_GUEST_CSUM),
			want & F(VIRTIO_NET_F_GUEST_TSO4), want & F(VIRTIO_NET_F_GUEST_TSO6),
			want & F(VIRTIO_NET_F_GUEST_ECN));
}

/* The checksum fields of a header lie inside a frame of 'len' bytes. */
static bool csum_fields_ok(const struct net_hdr *h, size_t len)
{
	return h->csum_start < len && (size_t)h->csum_start + h->csum_offset + 2 <= len;
}

/*
 * A received frame's header as the guest may see it, or false to drop the
 * frame. Offloads the driver did not negotiate are undone here: a partial
 * checksum is completed, a segmented super-frame (the backend should not
 * send one then) is dropped.
 */
static bool rx_header(struct virtio_net *n, struct frame *f, struct net_hdr *h)
{
	*h = f->hdr;
	h->flags &= NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID;
	if (h->gso_type != NET_HDR_GSO_NONE) {
		uint8_t type = h->gso_type & ~NET_HDR_GSO_ECN;
		bool ok = (type == NET_HDR_GSO_TCPV4 && has(n, VIRTIO_NET_F_GUEST_TSO4)) ||
			  (type == NET_HDR_GSO_TCPV6 && has(n, VIRTIO_NET_F_GUEST_TSO6));
		if ((h->gso_type & NET_HDR_GSO_ECN) && !has(n, VIRTIO_NET_F_GUEST_ECN))
			ok = false;
		if (!ok || !h->gso_size || !(h->flags & NET_HDR_F_NEEDS_CSUM))
			return false;
	} else {
		h->hdr_len = h->gso_size = 0;
	}
	if (h->flags & NET_HDR_F_NEEDS_CSUM) {
		if (!csum_fields_ok(h, f->len))
			return false;
		if (!has(n, VIRTIO_NET_F_GUEST_CSUM)) {
			/* Once: the frame may wait for buffers and come back here. */
			net_csum_complete(f->data, f->len, h->csum_start, h->csum_offset);
			f->hdr.flags &= (uint8_t)~NET_HDR_F_NEEDS_CSUM;
			h->flags = 0;
		}
	}
	if (!has(n, VIRTIO_NET_F_GUEST_CSUM))
		*h = (struct net_hdr){ 0 };
	else if (!(h->flags & NET_HDR_F_NEEDS_CSUM))
		h->csum_start = h->csum_offset = 0;
	return true;
}

static void encode_hdr(uint8_t *p, const struct net_hdr *h, uint16_t num_buffers)
{
	net_hdr_write(p, h);
	put_le16(p + 10, num_buffers);
}

/* Without MRG_RXBUF: the whole frame in one chain. 1 done (delivered or
 * dropped), 0 no buffer, -1 broken queue. */
static int rx_single(struct virtio_net *n, struct net_pair *p, struct frame *f,
		     const uint8_t *hdr, size_t hl)
{
	struct virtqueue *vq = &n->t.vq[p->rxq];
	struct virtq_iov *iov = &n->scratch;
	uint32_t written = 0;
	int r = virtq_pop(vq, iov);

	if (r <= 0)
		return r;
	if (iov->n_out == 0 && iov->in_len >= hl + f->len) {
		buf_to_iov(iov->iov, iov->n_in, 0, hdr, hl);
		buf_to_iov(iov->iov, iov->n_in, hl, f->data, f->len);
		written = (uint32_t)(hl + f->len);
		virtq_mark_written(vq, iov->iov, iov->n_in, written);
	} else {
		n->rx_dropped++;
	}
	virtq_push(vq, iov->head, written);
	return 1;
}

/*
 * With MRG_RXBUF: header and frame spread over as many chains as needed,
 * num_buffers in the first chain's header. If the driver has not posted
 * enough yet, the chains go back (unpopped) and we wait; if it could not
 * post enough even with every descriptor (the frame can never fit), the
 * frame is dropped. 1 done, 0 wait, -1 broken.
 */
static int rx_merged(struct virtio_net *n, struct net_pair *p, struct frame *f, uint8_t *hdr,
		     size_t hl)
{
	struct virtqueue *vq = &n->t.vq[p->rxq];
	struct virtq_iov *iov = &n->scratch;
	struct iovec first[VIRTIO_NET_HDR_SIZE]; /* the first chain's header part */
	unsigned nfirst = 0, nbufs = 0, ndesc = 0;
	size_t total = hl + f->len, done = 0;
	bool bad = false;

	while (done < total) {
		int r = virtq_pop(vq, iov);
		if (r < 0)
			return -1;
		if (r == 0) {
			/* Every descriptor is ours and still not enough: never fits. */
			if (nbufs >= vq->size || ndesc >= vq->size) {
				bad = true;
				break;
			}
			p->rx_wait_idx = (uint16_t)(vq->last_avail);
			virtq_unpop(vq, nbufs);
			return 0;
		}
		if (nbufs == VIRTIO_NET_QUEUE_SIZE) { /* cannot happen: pending <= size */
			virtq_unpop(vq, 1);
			bad = true;
			break;
		}
		n->rx_heads[nbufs] = iov->head;
		n->rx_lens[nbufs] = 0;
		nbufs++;
		ndesc += iov->n_in + iov->n_out;
		if (iov->n_out || (nbufs == 1 && iov->in_len < hl)) {
			bad = true; /* a readable part, or no room for the header */
			break;
		}
		if (nbufs == 1) {
			size_t covered = 0;
			for (unsigned i = 0; i < iov->n_in && covered < hl; i++) {
				first[nfirst++] = iov->iov[i];
				covered += iov->iov[i].iov_len;
			}
		}
		/* Fill this chain with the next part of header + frame. */
		size_t room = (size_t)MIN(iov->in_len, (uint64_t)(total - done)), put = 0;
		if (done < hl) {
			size_t c = MIN(room, hl - done);
			buf_to_iov(iov->iov, iov->n_in, 0, hdr + done, c);
			put = c;
		}
		if (put < room)
			buf_to_iov(iov->iov, iov->n_in, put, f->data + (done + put - hl), room - put);
		n->rx_lens[nbufs - 1] = (uint32_t)room;
		virtq_mark_written(vq, iov->iov, iov->n_in, room);
		done += room;
	}
	if (bad) {
		for (unsigned i = 0; i < nbufs; i++)
			n->rx_lens[i] = 0;
		n->rx_dropped++;
	} else {
		uint8_t nb[2];
		put_le16(nb, (uint16_t)nbufs);
		buf_to_iov(first, nfirst, 10, nb, 2);
		virtq_mark_written(vq, first, nfirst, 12);
	}
	virtq_push_many(vq, n->rx_heads, n->rx_lens, nbufs);
	return 1;
}

/* Whether the I/O thread may read pair p's backend now. */
static bool reads_backend(const struct virtio_net *n, const struct net_pair *p)
{
	return p->polled && !p->lent && p->rxq / 2 < n->pairs_on;
}

/*
 * The next frame for pair p, or NULL: one the backend's thread queued,
 * else the one held since the guest last ran out of buffers, else (a
 * polled backend, while 'budget' lasts) a new one read now. A frame that
 * cannot be delivered is dropped as it is read: too short or too long,
 * or the cable is out (lost on the wire).
 */
static struct frame *next_frame(struct virtio_net *n, struct net_pair *p, unsigned *budget)
{
	struct frame *f = peek_frame(p);

	if (f)
		return f;
	if (p->holding)
		return &p->held;
	while (reads_backend(n, p) && *budget) {
		struct frame *h = &p->held;
		h->data = net_recv(p->backend, &h->hdr, &h->len);
		if (!h->data)
			return NULL;
		--*budget;
		if (h->len < NET_MIN_FRAME || h->len > VIRTIO_NET_MAX_FRAME || !n->link_up)
			continue;
		p->holding = true;
		return h;
	}
	return NULL;
}

/* The frame next_frame gave is done with; whether a backend's thread
 * waits for room (net_rx_ready). */
static bool frame_done(struct net_pair *p, struct frame *f)
{
	if (f == &p->held) {
		p->holding = false;
		return false;
	}
	return drop_frame(p);
}

/* Transport lock held. */
static void rx_process(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_pci *t = &n->t;
	struct virtqueue *vq = &t->vq[p->rxq];
	size_t hl = hdr_size(n);
	bool pushed = false, refused = false;
	unsigned budget = RX_POLL_BUDGET;
	struct frame *f;

	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	if (p->rxq / 2 >= n->pairs_on) {
		/* delivered just before the pair was turned off */
		flush_pending(p);
		return;
	}
	while ((f = next_frame(n, p, &budget))) {
		uint8_t hdr[VIRTIO_NET_HDR_SIZE];
		struct net_hdr h;
		int r;

		if (!rx_header(n, f, &h)) {
			n->rx_dropped++;
			refused |= frame_done(p, f);
			continue;
		}
		encode_hdr(hdr, &h, 1);
		r = has(n, VIRTIO_NET_F_MRG_RXBUF) ? rx_merged(n, p, f, hdr, hl)
						   : rx_single(n, p, f, hdr, hl);
		if (r < 0) {
			virtio_pci_set_needs_reset(t);
			break;
		}
		if (r == 0) {
			/* Not enough buffers: ask to be told of more, and look again
			 * in case some came meanwhile. A polled backend's frames
			 * wait in the kernel's queue until that notify. */
			bool more = has(n, VIRTIO_NET_F_MRG_RXBUF) ? virtq_arm_notify_at(vq, p->rx_wait_idx)
								   : virtq_arm_notify(vq);
			if (!more)
				break;
			continue;
		}
		refused |= frame_done(p, f);
		pushed = true;
	}
	/* The budget ran out with frames perhaps still waiting: the
	 * descriptor's edge has passed, so this queue runs again itself. */
	if (!budget)
		virtio_pci_schedule(t, p->rxq);
	if (pushed)
		virtio_pci_notify_queue(t, p->rxq);
	if (refused)
		net_rx_ready(p->backend);
}

/*
 * A transmitted frame's header, checked and made fit for the backend: 0 to
 * send, -1 to drop. Offloads the device did not offer are refused; a
 * partial checksum is completed here, in 'frame', if the backend cannot
 * take it (so 'frame' may be NULL for a backend with offloads).
 */
static int tx_header(struct virtio_net *n, struct net_hdr *h, uint8_t *frame, size_t len)
{
	h->flags &= NET_HDR_F_NEEDS_CSUM; /* DATA_VALID means nothing on transmit */
	if (h->gso_type != NET_HDR_GSO_NONE) {
		bool ok = (h->gso_type == NET_HDR_GSO_TCPV4 && has(n, VIRTIO_NET_F_HOST_TSO4)) ||
			  (h->gso_type == NET_HDR_GSO_TCPV6 && has(n, VIRTIO_NET_F_HOST_TSO6));
		if (!ok || !offload_backend(n) || !h->gso_size || h->hdr_len > len ||
		    !(h->flags & NET_HDR_F_NEEDS_CSUM))
			return -1;
	} else {
		h->hdr_len = h->gso_size = 0;
	}
	if (h->flags & NET_HDR_F_NEEDS_CSUM) {
		if (!has(n, VIRTIO_NET_F_CSUM) || !csum_fields_ok(h, len))
			return -1;
		if (!offload_backend(n)) {
			net_csum_complete(frame, len, h->csum_start, h->csum_offset);
			h->flags = 0;
		}
	}
	if (!(h->flags & NET_HDR_F_NEEDS_CSUM))
		h->csum_start = h->csum_offset = 0;
	return 0;
}

/*
 * A frame to a backend that passes it on as it is (tap with offloads):
 * the header read and checked from vmm's own copy, the frame handed over
 * in the guest's buffers. The guest may change those bytes meanwhile,
 * but only its own frame's: every length and offset the backend acts on
 * is from the checked copy (and the host kernel checks the header again).
 */
static void tx_gather(struct virtio_net *n, unsigned q, struct virtq_iov *iov, size_t hl)
{
	uint8_t p[VIRTIO_NET_HDR_SIZE];
	size_t len = (size_t)iov->out_len - hl;
	struct net_hdr h;
	unsigned k;

	iov_to_buf(iov->iov, iov->n_out, 0, p, hl);
	net_hdr_read(p, &h);
	if (tx_header(n, &h, NULL, len) < 0) {
		n->tx_dropped++;
		return;
	}
	iov_cut(iov->iov, iov->n_out, hl, len, n->tx_iov, &k);
	if (n->link_up) /* down: the buffer is used, the frame lost */
		net_sendv(n->pair[q / 2].backend, &h, n->tx_iov, k);
}

static void tx_one(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_net *n = t->dev;
	size_t hl = hdr_size(n);

	if (iov->out_len > hl + VIRTIO_NET_MAX_FRAME || iov->out_len < hl + NET_MIN_FRAME) {
		n->tx_dropped++;
	} else if (offload_backend(n) && net_can_sendv(n->pair[q / 2].backend)) {
		tx_gather(n, q, iov, hl);
	} else {
		size_t len = (size_t)iov->out_len - hl;
		uint8_t *p = n->txbuf, *frame = n->txbuf + hl;
		struct net_hdr h;

		iov_to_buf(iov->iov, iov->n_out, 0, n->txbuf, hl + len);
		net_hdr_read(p, &h);
		if (tx_header(n, &h, frame, len) < 0)
			n->tx_dropped++;
		else if (n->link_up) /* down: the buffer is used, the frame lost */
			net_send(n->pair[q / 2].backend, &h, frame, len);
	}
	virtq_push(&t->vq[q], iov->head, 0);
}

/* ---- the kernel's data path (vhost-net) --------------------------------- */

/* Why the kernel may not run pair p now, or NULL if it may. */
static const char *vhost_unwanted(const struct virtio_net *n, const struct net_pair *p)
{
	const struct virtio_pci *t = &n->t;

	if (!p->vhost || p->vhost_failed)
		return "no vhost-net";
	if (n->logging)
		return "dirty log on";
	if (t->quiesced)
		return "paused";
	if (!n->link_up)
		return "link down";
	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET) ||
	    !t->vq[p->rxq].ready || t->vq[p->rxq].broken || !t->vq[p->txq].ready ||
	    t->vq[p->txq].broken)
		return "driver not running";
	if (p->rxq / 2 >= n->pairs_on)
		return "queue pair not in use";
	if (hdr_size(n) != VIRTIO_NET_HDR_SIZE) /* the tap's header size */
		return "legacy header";
	if (t->guest_features & VHOST_RING_FEATURES & ~vhost_net_features(p->vhost))
		return "a negotiated feature the kernel lacks";
	return NULL;
}

/* The backend's descriptor for the kernel to read: a polled one leaves
 * the I/O thread's watch first. -1 if it has none. */
static int lend_backend(struct virtio_net *n, struct net_pair *p)
{
	if (p->polled) {
		p->lent = true;
		if (p->watched)
			virtio_pci_watch_fd(&n->t, p->rxq, net_rx_fd(p->backend), false);
		p->watched = false;
	}
	return net_lend_fd(p->backend);
}

/* Watches a polled pair's descriptor again (after a loan, or a failed
 * try). Adding it reports at once what waits on it already (epoll looks
 * when a descriptor is added). 0 or -errno. */
static int watch_again(struct virtio_net *n, struct net_pair *p)
{
	int r = 0;

	if (p->polled && !p->lent && !p->watched) {
		r = virtio_pci_watch_fd(&n->t, p->rxq, net_rx_fd(p->backend), true);
		p->watched = r == 0;
	}
	return r;
}

/* The descriptor is vmm's again. Without its watch the pair would
 * receive only when the driver kicks: the device needs reset, whose
 * handling tries the watch again. */
static void reclaim_backend(struct virtio_net *n, struct net_pair *p)
{
	int r;

	net_reclaim_fd(p->backend);
	p->lent = false;
	r = watch_again(n, p);
	if (r < 0) {
		warn("%s: pair %u: cannot watch the backend again: %s; the device needs reset",
		     n->t.pci.name, p->rxq / 2, strerror(-r));
		virtio_pci_set_needs_reset(&n->t);
	}
}

/* Queue q back to vmm's path; a queue the I/O thread cannot take back
 * would never be served again, so the device then needs reset. */
static void give_back(struct virtio_net *n, unsigned q)
{
	if (virtio_pci_hand_over(&n->t, q, false) < 0) {
		warn("%s: queue %u: cannot take it back from vhost-net; the device needs reset",
		     n->t.pci.name, q);
		virtio_pci_set_needs_reset(&n->t);
	}
}

/* The kernel lets go of the tap and the rings: its place in each, and
 * whatever it pushed, become ours. */
static void vhost_stop(struct virtio_net *n, struct net_pair *p, const char *why)
{
	struct virtio_pci *t = &n->t;
	const unsigned qs[2] = { p->rxq, p->txq };
	uint16_t last[2] = { 0, 0 };
	int r;

	if (!p->vhost_on)
		return;
	r = vhost_net_stop(p->vhost, last);
	if (r < 0) {
		warn("%s: vhost-net: stopping: %s; the device needs reset", t->pci.name, strerror(-r));
		p->vhost_failed = true;
		virtio_pci_set_needs_reset(t);
	}
	for (unsigned i = 0; i < 2; i++)
		virtq_take_over(&t->vq[qs[i]], r == 0 ? last[i] : t->vq[qs[i]].last_avail);
	p->vhost_on = false;
	debug("%s: vmm takes the queues back from vhost-net (%s; pair %u, avail rx %u tx %u)",
	      t->pci.name, why, p->rxq / 2, t->vq[p->rxq].last_avail, t->vq[p->txq].last_avail);
	reclaim_backend(n, p);
	for (unsigned i = 0; i < 2; i++)
		give_back(n, qs[i]);
}

static void vhost_start(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_pci *t = &n->t;
	const struct guest_mem *m = t->mem;
	const unsigned qs[2] = { p->rxq, p->txq };
	struct vhost_ring ring[2];
	int kick[2], tap;
	char err[256];

	for (unsigned i = 0; i < 2; i++) {
		p->vhost_call[i] = virtio_pci_queue_irqfd(t, qs[i]);
		if (p->vhost_call[i] < 0)
			return; /* INTx or a masked vector: vmm's path raises it */
	}
	sync_offloads(n);
	/* vmm lets go of the tap first, so the frames it took before are
	 * all in 'pending' (or held): they go into the ring here, then the
	 * kernel goes on from where they end. */
	tap = lend_backend(n, p);
	rx_process(n, p);
	flush_pending(p); /* what did not fit */
	for (unsigned i = 0; i < 2; i++)
		kick[i] = virtio_pci_hand_over(t, qs[i], true);
	const char *why = vhost_unwanted(n, p); /* the ring may have broken just now */
	for (unsigned i = 0; i < 2; i++) {
		const struct virtqueue *vq = &t->vq[qs[i]];
		ring[i] = (struct vhost_ring){
			.size = vq->size, .desc = vq->desc, .avail = vq->avail, .used = vq->used,
			.used_gpa = vq->used_gpa, .last_avail = vq->last_avail,
			.kick_fd = kick[i], .call_fd = p->vhost_call[i],
		};
	}
	if (why || kick[0] < 0 || kick[1] < 0 || tap < 0 ||
	    /* the kernel reaches what guest_ptr lets devices reach: RAM's
	     * blocks, not the legacy VGA window's backing */
	    vhost_net_start(p->vhost, t->guest_features, m->blocks, m->nblocks, ring, tap, err,
			    sizeof(err)) < 0) {
		if (!why && tap >= 0 && kick[0] >= 0 && kick[1] >= 0) {
			warn("%s: %s; using vmm's own data path", t->pci.name, err);
			p->vhost_failed = true;
		}
		reclaim_backend(n, p);
		for (unsigned i = 0; i < 2; i++)
			give_back(n, qs[i]);
		return;
	}
	p->vhost_on = true;
	debug("%s: vhost-net runs the queues (pair %u, avail rx %u tx %u)", t->pci.name,
	      p->rxq / 2, ring[RXQ].last_avail, ring[TXQ].last_avail);
}

/* Transport lock held: the kernel runs each pair's queues exactly when it
 * may. A vector that moved gets its route updated in place (the same
 * irqfd); one that was masked or changed kind takes the queues back. */
static void vhost_update(struct virtio_net *n)
{
	for (unsigned k = 0; k < n->npairs; k++) {
		struct net_pair *p = &n->pair[k];
		const char *why = vhost_unwanted(n, p);

		if (p->vhost_on && !why &&
		    (virtio_pci_queue_irqfd(&n->t, p->rxq) != p->vhost_call[RXQ] ||
		     virtio_pci_queue_irqfd(&n->t, p->txq) != p->vhost_call[TXQ]))
			why = "vector masked or changed";
		if (p->vhost_on && why)
			vhost_stop(n, p, why);
		if (!p->vhost_on && !vhost_unwanted(n, p))
			vhost_start(n, p);
	}
}

/* ---- multiqueue ---------------------------------------------------------- */

/* The control queue: after the pairs when the driver took MQ, else after
 * the first pair (virtio 1.x 5.1.2). */
static unsigned ctrl_queue(const struct virtio_net *n)
{
	return has(n, VIRTIO_NET_F_MQ) ? 2 * n->npairs : 2;
}

/* The driver uses pairs [0, count): the others' backend queues are
 * detached (their frames dropped) and vhost-net stops on them. -1 if a
 * backend queue could not be attached: the pairs in use are then as they
 * were. Transport lock held; vhost-net's start on new pairs is the
 * caller's (vhost_update), as a reset must not start it. */
static int apply_pairs(struct virtio_net *n, unsigned count)
{
	unsigned old = n->pairs_on;

	for (unsigned k = 1; k < n->npairs; k++) {
		if (k < count || k >= old)
			continue;
		vhost_stop(n, &n->pair[k], "queue pair not in use");
		flush_pending(&n->pair[k]);
	}
	n->pairs_on = count;
	for (unsigned k = 1; k < n->npairs; k++) {
		if (net_enable_queue(n->pair[k].backend, k < count) < 0 && k < count) {
			for (unsigned j = 1; j < n->npairs; j++)
				net_enable_queue(n->pair[j].backend, j < old);
			n->pairs_on = old;
			return -1;
		}
	}
	/* A pair back in use is read once now: its descriptor may hold
	 * frames from before (a detach that failed leaves the queue
	 * attached and filling), and a full one wakes nobody. */
	for (unsigned k = old; k < count; k++)
		virtio_pci_schedule(&n->t, n->pair[k].rxq);
	return 0;
}

/* One control command: VIRTIO_NET_OK or VIRTIO_NET_ERR. Only the
 * multiqueue class is offered (no CTRL_RX, CTRL_VLAN, ...). */
static uint8_t ctrl_command(struct virtio_net *n, const uint8_t *cmd, size_t len)
{
	if (len == 4 && cmd[0] == VIRTIO_NET_CTRL_MQ && cmd[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
	    has(n, VIRTIO_NET_F_MQ)) {
		unsigned count = get_le16(cmd + 2);
		if (count < 1 || count > n->npairs || apply_pairs(n, count) < 0)
			return VIRTIO_NET_ERR;
		vhost_update(n);
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

/* A control chain: the command readable, then the ack byte writable. A
 * chain without room for the ack is used with nothing written. The head
 * and the ack's place are read before the command runs. */
static void ctrl_one(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_net *n = t->dev;
	uint8_t cmd[CTRL_MAX_COMMAND], ack;
	size_t len = (size_t)MIN(iov->out_len, (uint64_t)sizeof(cmd));
	uint16_t head = iov->head;
	uint32_t written = 0;

	if (iov->in_len >= 1) {
		struct iovec ack_at = iov->iov[iov->n_out];
		iov_to_buf(iov->iov, iov->n_out, 0, cmd, len);
		ack = iov->out_len <= sizeof(cmd) ? ctrl_command(n, cmd, len) : VIRTIO_NET_ERR;
		buf_to_iov(&ack_at, 1, 0, &ack, 1);
		virtq_mark_written(&t->vq[q], &ack_at, 1, 1);
		written = 1;
	} else {
		n->tx_dropped++;
	}
	virtq_push(&t->vq[q], head, written);
}

/* ---- the transport's callbacks ------------------------------------------- */

/* Every available chain of queue q through fn, then one interrupt
 * decision for the whole burst: the driver sees every buffer used so far
 * in one used-ring update. */
static void drain_and_notify(struct virtio_pci *t, unsigned q, struct virtq_iov *scratch,
			     void (*fn)(struct virtio_pci *t, unsigned q, struct virtq_iov *iov))
{
	uint16_t before = t->vq[q].used_idx;

	virtio_pci_drain(t, q, scratch, fn);
	if (t->vq[q].used_idx != before)
		virtio_pci_notify_queue(t, q);
}

static void net_state_changed(struct virtio_pci *t)
{
	vhost_update(t->dev);
}

static void net_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_net *n = t->dev;

	sync_offloads(n);
	if (n->mq && q == ctrl_queue(n))
		drain_and_notify(t, q, &n->ctrl_scratch, ctrl_one);
	else if (q % 2 == RXQ)
		rx_process(n, &n->pair[q / 2]);
	else
		drain_and_notify(t, q, &n->scratch, tx_one);
}

static void net_reset(struct virtio_pci *t)
{
	struct virtio_net *n = t->dev;

	for (unsigned k = 0; k < n->npairs; k++) {
		vhost_stop(n, &n->pair[k], "device reset");
		flush_pending(&n->pair[k]);
		if (watch_again(n, &n->pair[k]) < 0)
			warn("%s: pair %u: cannot watch the backend: frames wait for the "
			     "driver's next receive kick", n->t.pci.name, k);
	}
	apply_pairs(n, 1); /* detaching cannot fail the reset */
	if (n->offload_set) {
		n->offload_set = 0;
		net_set_offload(n->pair[0].backend, false, false, false, false);
	}
}

static const struct virtio_device_ops net_ops = {
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.state_changed = net_state_changed,
};

static unsigned pairs_for(const struct net_backend *backend, bool mq)
{
	return mq ? MIN(net_queues(backend), VIRTIO_NET_MAX_PAIRS) : 1;
}

unsigned virtio_net_queue_count(const struct net_backend *backend, bool mq)
{
	return mq ? 2 * pairs_for(backend, mq) + 1 : 2;
}

struct virtio_net *virtio_net_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host,
				     const uint8_t mac[6], struct net_backend *backend, bool mq)
{
	struct virtio_net *n = xzalloc(sizeof(*n));
	uint64_t features = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
			    F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM);

	/* Only what the backend can honour: partial checksums and segments
	 * from the host, and segments from the guest, need a backend that
	 * takes the header. */
	if (net_caps(backend) & NET_CAP_OFFLOAD)
		features |= F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
			    F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_HOST_TSO4) |
			    F(VIRTIO_NET_F_HOST_TSO6);
	n->mq = mq;
	n->npairs = pairs_for(backend, mq);
	n->pairs_on = 1;
	if (mq)
		features |= F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ);
	memcpy(n->config, mac, 6);
	put_le16(n->config + 6, VIRTIO_NET_S_LINK_UP);
	put_le16(n->config + 8, (uint16_t)n->npairs);
	n->link_up = true;
	for (unsigned k = 0; k < n->npairs; k++) {
		struct net_pair *p = &n->pair[k];
		p->n = n;
		p->rxq = 2 * k;
		p->txq = 2 * k + 1;
		p->backend = net_queue(backend, k);
		p->vhost = net_vhost(p->backend);
		p->link_up = true;
		pthread_mutex_init(&p->rx_lock, NULL);
	}
	virtio_pci_init(&n->t, "virtio-net", VIRTIO_ID_NET, 0x020000, mem, host, &net_ops, n,
			features, virtio_net_queue_count(backend, mq), VIRTIO_NET_QUEUE_SIZE, n->config,
			mq ? 10 : 8);
	/* Its commands start and stop vhost-net, which the sandbox allows the
	 * vCPU threads, not the I/O thread. */
	if (mq)
		n->t.vcpu_queue[2 * n->npairs] = true;
	if (virtio_pci_start(&n->t, bus, devfn) < 0) {
		virtio_net_destroy(n);
		return NULL;
	}
	return n;
}

/* A backend that can be read on the I/O thread is (no hand-off from a
 * thread of its own per frame); the others deliver through pair_receive. */
int virtio_net_attach(struct virtio_net *n)
{
	for (unsigned k = 0; k < n->npairs; k++) {
		struct net_pair *p = &n->pair[k];
		int r;

		if (net_can_poll(p->backend)) {
			pthread_mutex_lock(&n->t.lock);
			r = virtio_pci_watch_fd(&n->t, p->rxq, net_rx_fd(p->backend), true);
			p->polled = p->watched = r == 0;
			pthread_mutex_unlock(&n->t.lock);
		} else {
			r = net_attach(p->backend, pair_receive, p);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

struct net_backend *virtio_net_backend(struct virtio_net *n)
{
	return n->pair[0].backend;
}

struct virtio_pci *virtio_net_transport(struct virtio_net *n)
{
	return &n->t;
}

void virtio_net_stats(struct virtio_net *n, uint64_t *rx_dropped, uint64_t *tx_dropped)
{
	pthread_mutex_lock(&n->t.lock);
	*rx_dropped = n->rx_dropped;
	*tx_dropped = n->tx_dropped;
	pthread_mutex_unlock(&n->t.lock);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_pci_stop(&n->t);
	flush_all_pending(n);
	free(n);
}

/* Saved state: the transport and its queues (hw/virtio_pci.h), and with
 * mq=on the pairs in use. A merged receive gives its buffers back when a
 * frame does not fit, and transmit is synchronous, so nothing is in
 * flight between passes. Frames the backend delivered that are not in
 * guest buffers yet are not saved: to the guest they are frames lost on
 * the wire. After a load the backend is told the receive offloads the
 * driver had negotiated. */
void virtio_net_save(struct virtio_net *n, struct ss_writer *w, uint32_t instance)
{
	virtio_pci_save(&n->t, w, instance);
	if (n->mq) {
		ss_section_begin(w, "virtio-net-mq", instance, 1);
		pthread_mutex_lock(&n->t.lock);
		ss_put_u16(w, "pairs", (uint16_t)n->pairs_on);
		pthread_mutex_unlock(&n->t.lock);
		ss_section_end(w);
	}
}

/* Every pair's copy of the cable, each under its own lock. */
static void set_pair_links(struct virtio_net *n, bool up)
{
	for (unsigned k = 0; k < n->npairs; k++) {
		pthread_mutex_lock(&n->pair[k].rx_lock);
		n->pair[k].link_up = up;
		pthread_mutex_unlock(&n->pair[k].rx_lock);
	}
}

/* The cable out: the status loses LINK_UP and, if the driver runs, it gets
 * a configuration interrupt (MSI-X config vector, or ISR bit 1 on INTx).
 * The state lives in the config, so a device reset keeps it. */
void virtio_net_set_link(struct virtio_net *n, bool up)
{
	pthread_mutex_lock(&n->t.lock);
	bool changed = n->link_up != up;
	n->link_up = up;
	set_pair_links(n, up);
	if (changed) {
		put_le16(n->config + 6, up ? VIRTIO_NET_S_LINK_UP : 0);
		if (!up)
			flush_all_pending(n);
		if (n->t.status & VIRTIO_STATUS_DRIVER_OK)
			virtio_pci_config_changed(&n->t);
		vhost_update(n); /* a pulled cable: vmm's path drops the frames */
	}
	pthread_mutex_unlock(&n->t.lock);
}

void virtio_net_set_logging(struct virtio_net *n, bool on)
{
	pthread_mutex_lock(&n->t.lock);
	n->logging = on;
	vhost_update(n);
	pthread_mutex_unlock(&n->t.lock);
}

bool virtio_net_link(struct virtio_net *n)
{
	pthread_mutex_lock(&n->t.lock);
	bool up = n->link_up;
	pthread_mutex_unlock(&n->t.lock);
	return up;
}

/* The status field is the only part of the config the device writes; the
 * transport loaded it as saved. Only LINK_UP is defined (ANNOUNCE is not
 * offered): other bits are dropped, and the link follows the bit. The
 * pair count is the device's own, whatever the stream says. */
static void load_link(struct virtio_net *n)
{
	uint16_t status = get_le16(n->config + 6) & VIRTIO_NET_S_LINK_UP;

	put_le16(n->config + 6, status);
	put_le16(n->config + 8, (uint16_t)n->npairs);
	n->link_up = status != 0;
	set_pair_links(n, n->link_up);
}

/* The pairs in use (mq=on): 1..npairs, and more than one only if the
 * driver took MQ. */
static bool load_pairs(struct virtio_net *n, struct ss_reader *r, uint32_t instance,
		       uint16_t *pairs)
{
	*pairs = 1;
	if (!n->mq)
		return true;
	if (ss_section_open(r, "virtio-net-mq", instance, 1, 1, NULL)) {
		ss_get_u16(r, "pairs", pairs);
		ss_section_close(r);
	}
	if (ss_ok(r) && (*pairs < 1 || *pairs > n->npairs))
		return ss_fail(r, "virtio-net-mq: %u queue pairs in use, the device has %u", *pairs,
			       n->npairs);
	return ss_ok(r);
}

bool virtio_net_load(struct virtio_net *n, struct ss_reader *r, uint32_t instance)
{
	uint16_t pairs;

	if (!load_pairs(n, r, instance, &pairs) || !virtio_pci_load(&n->t, r, instance))
		return false;
	pthread_mutex_lock(&n->t.lock);
	load_link(n);
	flush_all_pending(n);
	for (unsigned k = 0; k < n->npairs; k++)
		n->pair[k].rx_wait_idx = 0;
	sync_offloads(n);
	if (apply_pairs(n, has(n, VIRTIO_NET_F_MQ) ? pairs : 1) < 0)
		warn("%s: loaded state uses %u queue pairs; the tap could not attach them, so "
		     "only %u carry frames", n->t.pci.name, pairs, n->pairs_on);
	pthread_mutex_unlock(&n->t.lock);
	return true;
}
