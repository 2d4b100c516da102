// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-net through the transport, with a recording backend: config (MAC,
 * link up), transmit (header stripped, frame handed over), receive (header
 * + frame into the guest's buffer, held while no buffer is posted, dropped
 * when it does not fit), malformed chains, and hostfwd parsing. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hw/virtio_net.h"
#include "net.h"
#include "savestate.h"
#include "virtio_fixture.h"

#define RAM_SIZE (1024 * 1024)
#define DEVFN PCI_DEVFN(4, 0)
#define QSIZE 8
#define RXQ 0
#define TXQ 1
#define BUF 0x10000

struct ctx {
	struct net_backend be; /* first: the ops get it back as the context */
	struct vfix f;
	struct virtio_net *net;
	uint8_t sent[70000];
	size_t sent_len;
	unsigned nsent, nsentv; /* all frames sent; those sent in pieces */
	struct net_hdr sent_hdr;
	unsigned offload_calls;
	bool off_csum, off_tso4, off_tso6;
	unsigned rx_ready_calls;
	/* A backend the NIC reads itself (poll_ops): frames waiting in it. */
	int rx_fd;
	uint8_t *waiting[160];
	size_t waiting_len[160];
	unsigned nwaiting, next_waiting, recv_calls;
	uint8_t recv_buf[VIRTIO_NET_MAX_FRAME + 100];
};

static void backend_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame,
			 size_t len)
{
	struct ctx *c = (struct ctx *)b;
	assert_true(len <= sizeof(c->sent));
	memcpy(c->sent, frame, len);
	c->sent_len = len;
	c->sent_hdr = *hdr;
	c->nsent++;
}

/* A frame in pieces (tap's writev): gathered into the same record. */
static void backend_sendv(struct net_backend *b, const struct net_hdr *hdr,
			  const struct iovec *iov, unsigned n)
{
	struct ctx *c = (struct ctx *)b;
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		assert_true(len + iov[i].iov_len <= sizeof(c->sent));
		memcpy(c->sent + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	c->sent_len = len;
	c->sent_hdr = *hdr;
	c->nsent++;
	c->nsentv++;
}

static void backend_offload(struct net_backend *b, bool csum, bool tso4, bool tso6, bool ecn)
{
	struct ctx *c = (struct ctx *)b;
	c->offload_calls++;
	c->off_csum = csum;
	c->off_tso4 = tso4;
	c->off_tso6 = tso6;
}

static void backend_rx_ready(struct net_backend *b)
{
	((struct ctx *)b)->rx_ready_calls++;
}

/* sendv as tap: the NIC uses it only over a backend with offloads, so
 * the tests over NET_CAP_OFFLOAD check the gathering path, the others
 * the copying one. */
static const struct net_backend_ops fake_ops = {
	.send = backend_send,
	.sendv = backend_sendv,
	.set_offload = backend_offload,
	.rx_ready = backend_rx_ready,
};

static int poll_rx_fd(struct net_backend *b)
{
	return ((struct ctx *)b)->rx_fd;
}

/* The next waiting frame, copied into the backend's own buffer (which the
 * NIC may change: it completes checksums in place). */
static uint8_t *poll_recv(struct net_backend *b, struct net_hdr *hdr, size_t *len)
{
	struct ctx *c = (struct ctx *)b;

	c->recv_calls++;
	if (c->next_waiting == c->nwaiting)
		return NULL;
	*hdr = (struct net_hdr){ 0 };
	*len = c->waiting_len[c->next_waiting];
	memcpy(c->recv_buf, c->waiting[c->next_waiting], *len);
	free(c->waiting[c->next_waiting++]);
	return c->recv_buf;
}

static const struct net_backend_ops poll_ops = {
	.send = backend_send,
	.set_offload = backend_offload,
	.rx_ready = backend_rx_ready,
	.rx_fd = poll_rx_fd,
	.recv = poll_recv,
};

/* A backend on a datagram socket, as a tap (a frame per read): its
 * receive end is rx_fd, non-blocking; the test writes frames into the
 * other end. */
static uint8_t *sock_recv(struct net_backend *b, struct net_hdr *hdr, size_t *len)
{
	struct ctx *c = (struct ctx *)b;
	ssize_t n = read(c->rx_fd, c->recv_buf, sizeof(c->recv_buf));

	c->recv_calls++;
	if (n < 0)
		return NULL;
	*hdr = (struct net_hdr){ 0 };
	*len = (size_t)n;
	return c->recv_buf;
}

static const struct net_backend_ops sock_ops = {
	.send = backend_send,
	.set_offload = backend_offload,
	.rx_ready = backend_rx_ready,
	.rx_fd = poll_rx_fd,
	.recv = sock_recv,
};

/* A NIC over a fake backend with 'ops' ('caps' its capabilities), the
 * driver accepting 'features' (low 32 bits; VERSION_1 always); with
 * 'host', the transport's host side (an I/O thread), else none. rx_fd
 * must be set first for a backend that has one. */
static struct ctx *make_on(struct ctx *c, const struct net_backend_ops *ops, unsigned caps,
			   uint32_t features, const struct virtio_host *host)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC };

	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	c->be.ops = ops;
	c->be.caps = caps;
	c->net = virtio_net_create(&c->f.pci, DEVFN, &c->f.mem, host, mac, &c->be, false);
	assert_non_null(c->net);
	assert_int_equal(virtio_net_attach(c->net), 0);
	c->f.t = virtio_net_transport(c->net);
	vfix_place_bars(&c->f, 0);
	vfix_negotiate(&c->f, 1ULL << VIRTIO_F_VERSION_1 | features);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_NUMQ, 2), 2);
	vfix_queue_setup(&c->f, RXQ);
	vfix_queue_setup(&c->f, TXQ);
	vfix_driver_ok(&c->f);
	return c;
}

static struct ctx *make_over(const struct net_backend_ops *ops, unsigned caps,
			     uint32_t features)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->rx_fd = 0; /* never polled: there is no I/O thread */
	return make_on(c, ops, caps, features, NULL);
}

static struct ctx *make(unsigned caps, uint32_t features)
{
	return make_over(&fake_ops, caps, features);
}

#define BASIC_FEATURES (1u << VIRTIO_NET_F_MAC | 1u << VIRTIO_NET_F_STATUS)

static int setup(void **state)
{
	*state = make(0, BASIC_FEATURES);
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_net_destroy(c->net);
	vfix_destroy(&c->f);
	while (c->next_waiting < c->nwaiting)
		free(c->waiting[c->next_waiting++]);
	free(c);
	return 0;
}

static void test_config(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(vfix_cfg_rd(&c->f, PCI_DEVICE_ID, 2), 0x1000);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_CLASS_DEVICE, 2), 0x0200);
	assert_int_equal(vfix_devcfg_rd(&c->f, 0, 1), 0x52);
	assert_int_equal(vfix_devcfg_rd(&c->f, 5, 1), 0xCC);
	assert_int_equal(vfix_devcfg_rd(&c->f, 6, 2), 1); /* link up */
	vfix_common_wr(&c->f, VIRTIO_COMMON_DFSELECT, 0, 4);
	uint32_t f = (uint32_t)vfix_common_rd(&c->f, VIRTIO_COMMON_DF, 4);
	assert_true(f & 1u << VIRTIO_NET_F_MAC);
	assert_true(f & 1u << VIRTIO_NET_F_STATUS);
	assert_true(vfix_status(&c->f) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_transmit(void **state)
{
	struct ctx *c = *state;

	/* Header and frame split over two descriptors, the frame over two. */
	memset(c->f.ram + BUF, 0, VIRTIO_NET_HDR_SIZE);
	for (unsigned i = 0; i < 60; i++)
		c->f.ram[BUF + 0x100 + i] = (uint8_t)i;
	vfix_set_desc(&c->f, TXQ, 0, BUF, VIRTIO_NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&c->f, TXQ, 1, BUF + 0x100, 20, VIRTQ_DESC_F_NEXT, 2);
	vfix_set_desc(&c->f, TXQ, 2, BUF + 0x114, 40, 0, 0);
	vfix_offer(&c->f, TXQ, 0);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(c->sent_len, 60);
	for (unsigned i = 0; i < 60; i++)
		assert_int_equal(c->sent[i], i);
	assert_int_equal(vfix_used_idx(&c->f, TXQ), 1);
	/* Shorter than a header: completed, not sent. */
	vfix_set_desc(&c->f, TXQ, 3, BUF, 8, 0, 0);
	vfix_offer(&c->f, TXQ, 3);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(vfix_used_idx(&c->f, TXQ), 2);
	/* A transmit buffer outside RAM: needs reset, nothing sent. */
	vfix_set_desc(&c->f, TXQ, 4, RAM_SIZE - 4, 64, 0, 0);
	vfix_offer(&c->f, TXQ, 4);
	assert_int_equal(c->nsent, 1);
	assert_true(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

static const struct net_hdr nohdr;

static void test_receive(void **state)
{
	struct ctx *c = *state;
	uint8_t frame[100];

	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(0xA0 ^ i);
	/* No buffer yet: the frame waits. */
	virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 0);
	/* The guest posts one buffer: the frame lands with a zero header and
	 * num_buffers = 1. */
	memset(c->f.ram + BUF, 0xEE, 2048);
	vfix_set_desc(&c->f, RXQ, 0, BUF, 1526, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, RXQ, 0);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 1);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 0), VIRTIO_NET_HDR_SIZE + sizeof(frame));
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(c->f.ram[BUF + i], 0);
	assert_int_equal(get_le16(c->f.ram + BUF + 10), 1);
	assert_memory_equal(c->f.ram + BUF + VIRTIO_NET_HDR_SIZE, frame, sizeof(frame));
	/* A buffer too small for the frame: the frame is dropped, the buffer
	 * returned empty. */
	virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	vfix_set_desc(&c->f, RXQ, 1, BUF + 0x1000, 50, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, RXQ, 1);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 2);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 1), 0);
	/* A device-readable receive buffer is refused the same way. */
	virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	vfix_set_desc(&c->f, RXQ, 2, BUF + 0x2000, 2048, 0, 0);
	vfix_offer(&c->f, RXQ, 2);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 3);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 2), 0);
	/* Held frames are bounded. */
	for (unsigned i = 0; i < VIRTIO_NET_RX_PENDING + 10; i++)
		virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	/* A reset drops what is held (teardown would leak otherwise). */
	vfix_set_status(&c->f, 0);
}

/* ---- offloads ------------------------------------------------------------ */

#define F(b) (1u << (b))
#define MRG (BASIC_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF))

/* The reference checksum of a TCP or UDP segment, written out the long
 * way (pseudo-header and segment as 16-bit words), independent of vmm's. */
static uint16_t ref_csum(const uint8_t *ip, bool v6, const uint8_t *l4, size_t l4len, uint8_t proto,
			 size_t csum_off)
{
	uint32_t sum = 0;
	uint8_t *seg = malloc(l4len + 1);
	memcpy(seg, l4, l4len);
	seg[csum_off] = seg[csum_off + 1] = 0;
	seg[l4len] = 0;
	if (v6) {
		for (int i = 8; i < 40; i += 2)
			sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		sum += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xFFFF) + proto;
	} else {
		for (int i = 12; i < 20; i += 2)
			sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		sum += (uint32_t)l4len + proto;
	}
	for (size_t i = 0; i < l4len; i += 2)
		sum += (uint32_t)(seg[i] << 8 | seg[i + 1]);
	free(seg);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The folded pseudo-header sum a driver leaves in the field for NEEDS_CSUM. */
static uint16_t pseudo_sum(const uint8_t *ip, bool v6, size_t l4len, uint8_t proto)
{
	uint32_t sum = 0;
	int from = v6 ? 8 : 12, to = v6 ? 40 : 20;
	for (int i = from; i < to; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	sum += (uint32_t)l4len + proto;
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

struct pkt {
	uint8_t b[2048];
	size_t len;
	unsigned l4;       /* offset of the TCP/UDP header */
	unsigned csum_off; /* of the checksum within it */
	uint16_t want;     /* reference checksum */
};

/* Ethernet + IPv4/IPv6 + TCP/UDP with 'payload' bytes, checksum field
 * holding the pseudo-header sum (what a driver sends with NEEDS_CSUM). */
static void build(struct pkt *p, bool v6, bool tcp, size_t payload, uint8_t seed)
{
	uint8_t proto = tcp ? 6 : 17;
	size_t iplen = v6 ? 40 : 20, l4hdr = tcp ? 20 : 8, l4len = l4hdr + payload;
	uint8_t *ip = p->b + 14, *l4;

	memset(p, 0, sizeof(*p));
	memcpy(p->b, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xaa\xbb\xcc", 12);
	p->b[12] = v6 ? 0x86 : 0x08;
	p->b[13] = v6 ? 0xDD : 0x00;
	if (v6) {
		ip[0] = 0x60;
		put_be16(ip + 4, (uint16_t)l4len);
		ip[6] = proto;
		ip[7] = 64;
		for (int i = 0; i < 32; i++)
			ip[8 + i] = (uint8_t)(0xFE + i * 7 + seed);
	} else {
		ip[0] = 0x45;
		put_be16(ip + 2, (uint16_t)(iplen + l4len));
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
		ip[15] = seed;
	}
	l4 = ip + iplen;
	p->l4 = (unsigned)(14 + iplen);
	p->csum_off = tcp ? 16 : 6;
	put_be16(l4, 40000);
	put_be16(l4 + 2, 80);
	if (tcp) {
		l4[12] = 0x50;
		l4[13] = 0x18;
	} else {
		put_be16(l4 + 4, (uint16_t)l4len);
	}
	for (size_t i = 0; i < payload; i++)
		l4[l4hdr + i] = (uint8_t)(i * 13 + seed);
	p->len = 14 + iplen + l4len;
	p->want = ref_csum(ip, v6, l4, l4len, proto, p->csum_off);
	put_be16(l4 + p->csum_off, pseudo_sum(ip, v6, l4len, proto));
}

/* Transmits header + frame in one descriptor; whether the backend got it. */
static bool tx(struct ctx *c, const struct net_hdr *h, const uint8_t *frame, size_t len)
{
	static uint16_t slot;
	uint8_t *b = c->f.ram + BUF + 0x20000;
	unsigned before = c->nsent;

	net_hdr_write(b, h);
	put_le16(b + 10, 0);
	memcpy(b + VIRTIO_NET_HDR_SIZE, frame, len);
	slot = (uint16_t)((slot + 1) % QSIZE);
	vfix_set_desc(&c->f, TXQ, slot, BUF + 0x20000, (uint32_t)(VIRTIO_NET_HDR_SIZE + len), 0, 0);
	vfix_offer(&c->f, TXQ, slot);
	return c->nsent == before + 1;
}

static struct net_hdr partial(const struct pkt *p)
{
	return (struct net_hdr){ .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = (uint16_t)p->l4,
				 .csum_offset = (uint16_t)p->csum_off };
}

/* Over a backend without offloads, vmm completes the partial checksum:
 * TCP and UDP over IPv4 and IPv6, even and odd lengths, match the
 * reference, and the backend sees a plain header. */
static void test_csum_completed_for_slirp(void **state)
{
	struct ctx *c = make(0, BASIC_FEATURES | F(VIRTIO_NET_F_CSUM));
	struct pkt p;
	unsigned n = 0;

	for (int v6 = 0; v6 < 2; v6++) {
		for (int tcp = 0; tcp < 2; tcp++) {
			for (size_t payload = 0; payload < 1400; payload += 347) {
				build(&p, v6, tcp, payload, (uint8_t)(payload + n));
				struct net_hdr h = partial(&p);
				assert_true(tx(c, &h, p.b, p.len));
				assert_int_equal(c->sent_len, p.len);
				assert_int_equal(c->sent_hdr.flags, 0);
				assert_int_equal(get_be16(c->sent + p.l4 + p.csum_off), p.want);
				/* Everything else unchanged. */
				assert_memory_equal(c->sent, p.b, p.l4 + p.csum_off);
				n++;
			}
		}
	}
	assert_int_equal(n, 20);
	/* A complete frame (no NEEDS_CSUM) is passed untouched. */
	build(&p, false, true, 100, 1);
	put_be16(p.b + p.l4 + p.csum_off, p.want);
	struct net_hdr none = { 0 };
	assert_true(tx(c, &none, p.b, p.len));
	assert_memory_equal(c->sent, p.b, p.len);
	teardown((void **)&c);
	(void)state;
}

/* Malformed transmit headers drop the frame, nothing else happens. */
static void test_tx_bad_headers(void **state)
{
	struct ctx *c = make(0, BASIC_FEATURES | F(VIRTIO_NET_F_CSUM));
	struct ctx *nocsum = make(0, BASIC_FEATURES);
	struct ctx *tap = make(NET_CAP_OFFLOAD, BASIC_FEATURES | F(VIRTIO_NET_F_CSUM) |
						F(VIRTIO_NET_F_HOST_TSO4));
	struct pkt p;
	struct net_hdr h;

	build(&p, false, true, 200, 3);
	h = partial(&p);
	h.csum_start = (uint16_t)p.len; /* starts at the end */
	assert_false(tx(c, &h, p.b, p.len));
	h = partial(&p);
	h.csum_offset = (uint16_t)(p.len - p.l4 - 1); /* field straddles the end */
	assert_false(tx(c, &h, p.b, p.len));
	h = partial(&p);
	h.csum_start = 0xFFFF;
	h.csum_offset = 0xFFFF;
	assert_false(tx(c, &h, p.b, p.len));
	/* NEEDS_CSUM from a driver that did not negotiate CSUM. */
	h = partial(&p);
	assert_false(tx(nocsum, &h, p.b, p.len));
	/* Segmentation over a backend without offloads (never offered). */
	h = partial(&p);
	h.gso_type = NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = 54;
	assert_false(tx(c, &h, p.b, p.len));
	/* Over tap: TSO4 passes; UDP (UFO), TCPV6 (not negotiated), ECN,
	 * gso_size 0, hdr_len past the frame, GSO without NEEDS_CSUM do not. */
	assert_true(tx(tap, &h, p.b, p.len));
	assert_int_equal(tap->sent_hdr.gso_type, NET_HDR_GSO_TCPV4);
	assert_int_equal(tap->sent_hdr.gso_size, 1448);
	assert_int_equal(tap->sent_hdr.flags, NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(tap->sent_hdr.csum_start, p.l4);
	assert_memory_equal(tap->sent, p.b, p.len); /* the checksum left to the host */
	struct net_hdr bad[6];
	for (int i = 0; i < 6; i++)
		bad[i] = h;
	bad[0].gso_type = NET_HDR_GSO_UDP;
	bad[1].gso_type = NET_HDR_GSO_TCPV6;
	bad[2].gso_type = NET_HDR_GSO_TCPV4 | NET_HDR_GSO_ECN;
	bad[3].gso_size = 0;
	bad[4].hdr_len = (uint16_t)(p.len + 1);
	bad[5].flags = 0;
	for (int i = 0; i < 6; i++)
		assert_false(tx(tap, &bad[i], p.b, p.len));
	/* Shorter than an Ethernet header. */
	h = (struct net_hdr){ 0 };
	assert_false(tx(c, &h, p.b, 13));
	assert_true(tx(c, &h, p.b, 14));
	/* None of this broke the device. */
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(vfix_status(&tap->f) & VIRTIO_STATUS_NEEDS_RESET);
	uint64_t rxd, txd;
	virtio_net_stats(tap->net, &rxd, &txd);
	assert_int_equal(txd, 6);
	teardown((void **)&c);
	teardown((void **)&nocsum);
	teardown((void **)&tap);
	(void)state;
}

/* Over a backend with offloads that takes pieces (tap), the frame leaves
 * in the guest's own buffers: the header read from a copy (also when it
 * straddles two descriptors), the frame's pieces after it in order, a
 * TSO header passed on; a bad header still drops the frame. Over slirp
 * (no offloads) the frame is gathered and sent whole. */
static void test_tx_gather(void **state)
{
	struct ctx *tap = make(NET_CAP_OFFLOAD, BASIC_FEATURES | F(VIRTIO_NET_F_CSUM) |
						F(VIRTIO_NET_F_HOST_TSO4));
	struct ctx *slirp = make(0, BASIC_FEATURES | F(VIRTIO_NET_F_CSUM));
	uint8_t *g = tap->f.ram + BUF;
	struct pkt p;

	build(&p, false, true, 1900, 5);
	struct net_hdr h = partial(&p);
	h.gso_type = NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = 54;
	/* header 6 + 6 bytes in two descriptors, the frame in three */
	g[0] = h.flags;
	g[1] = h.gso_type;
	put_le16(g + 2, h.hdr_len);
	put_le16(g + 4, h.gso_size);
	put_le16(g + 0x100 + 0, h.csum_start);
	put_le16(g + 0x100 + 2, h.csum_offset);
	put_le16(g + 0x100 + 4, 0);
	memcpy(g + 0x1000, p.b, 100);
	memcpy(g + 0x2000, p.b + 100, 1000);
	memcpy(g + 0x3000, p.b + 1100, p.len - 1100);
	vfix_set_desc(&tap->f, TXQ, 0, BUF, 6, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&tap->f, TXQ, 1, BUF + 0x100, 6, VIRTQ_DESC_F_NEXT, 2);
	vfix_set_desc(&tap->f, TXQ, 2, BUF + 0x1000, 100, VIRTQ_DESC_F_NEXT, 3);
	vfix_set_desc(&tap->f, TXQ, 3, BUF + 0x2000, 1000, VIRTQ_DESC_F_NEXT, 4);
	vfix_set_desc(&tap->f, TXQ, 4, BUF + 0x3000, (uint32_t)(p.len - 1100), 0, 0);
	vfix_offer(&tap->f, TXQ, 0);
	assert_int_equal(tap->nsentv, 1);
	assert_int_equal(tap->sent_len, p.len);
	assert_memory_equal(tap->sent, p.b, p.len);
	assert_int_equal(tap->sent_hdr.gso_type, NET_HDR_GSO_TCPV4);
	assert_int_equal(tap->sent_hdr.gso_size, 1448);
	assert_int_equal(tap->sent_hdr.csum_start, p.l4);
	assert_int_equal(tap->sent_hdr.csum_offset, p.csum_off);
	/* hdr_len past the frame: dropped, the buffer used. */
	h.hdr_len = (uint16_t)(p.len + 1);
	assert_false(tx(tap, &h, p.b, p.len));
	assert_int_equal(tap->nsentv, 1);
	assert_int_equal(vfix_used_idx(&tap->f, TXQ), 2);
	/* Over slirp the same partial checksum is completed in a copy. */
	h = partial(&p);
	assert_true(tx(slirp, &h, p.b, p.len));
	assert_int_equal(slirp->nsentv, 0);
	assert_int_equal(get_be16(slirp->sent + p.l4 + p.csum_off), p.want);
	teardown((void **)&tap);
	teardown((void **)&slirp);
	(void)state;
}

/* Posts 'n' receive buffers of 'size' bytes (descriptors from 'first'). */
static void post_rx(struct ctx *c, unsigned first, unsigned n, uint32_t size)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned d = (first + i) % QSIZE;
		vfix_set_desc(&c->f, RXQ, d, BUF + 0x800 * d, size, VIRTQ_DESC_F_WRITE, 0);
		vfix_avail_push(&c->f, RXQ, (uint16_t)d);
	}
	vfix_avail_publish(&c->f, RXQ);
	vfix_notify(&c->f, RXQ);
}

/* MRG_RXBUF: a 200-byte frame over 64-byte buffers takes four, all
 * returned in one used-index update, num_buffers = 4 in the first. A frame
 * that needs more than is posted waits; one that can never fit (every
 * descriptor too small) is dropped with its buffers returned empty. */
static void test_mergeable_rx(void **state)
{
	struct ctx *c = make(0, MRG);
	uint8_t frame[200], got[200];

	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7 + 1);
	post_rx(c, 0, 3, 64);
	assert_true(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	/* 12 + 200 bytes need four buffers: nothing yet, the three go back. */
	vfix_notify(&c->f, RXQ);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 0);
	post_rx(c, 3, 2, 64);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 4);
	const uint32_t want[4] = { 64, 64, 64, 20 };
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(vfix_used_id(&c->f, RXQ, i), i);
		assert_int_equal(vfix_used_len(&c->f, RXQ, i), want[i]);
	}
	assert_int_equal(get_le16(c->f.ram + BUF + 10), 4); /* num_buffers */
	assert_int_equal(c->f.ram[BUF], 0);                  /* flags */
	memcpy(got, c->f.ram + BUF + 12, 52);
	memcpy(got + 52, c->f.ram + BUF + 0x800, 64);
	memcpy(got + 116, c->f.ram + BUF + 0x1000, 64);
	memcpy(got + 180, c->f.ram + BUF + 0x1800, 20);
	assert_memory_equal(got, frame, sizeof(frame));
	/* A small frame takes one buffer (the fifth, still posted). */
	assert_true(virtio_net_receive(c->net, &nohdr, frame, 40));
	vfix_notify(&c->f, RXQ);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 5);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 4), 52);
	assert_int_equal(get_le16(c->f.ram + BUF + 0x800 * 4 + 10), 1);
	/* Eight 16-byte buffers (the whole queue) for 212 bytes: dropped. */
	assert_true(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	post_rx(c, 5, QSIZE, 16);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 5 + QSIZE);
	for (unsigned i = 5; i < 5 + QSIZE; i++)
		assert_int_equal(vfix_used_len(&c->f, RXQ, i), 0);
	uint64_t rxd, txd;
	virtio_net_stats(c->net, &rxd, &txd);
	assert_int_equal(rxd, 1);
	/* A first buffer smaller than the header: dropped, not written. */
	assert_true(virtio_net_receive(c->net, &nohdr, frame, 40));
	post_rx(c, 5, 1, 8);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 5 + QSIZE), 0);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	teardown((void **)&c);
	(void)state;
}

/* Over tap (offload backend): the driver's receive offloads reach the
 * backend (TUNSETOFFLOAD); a partial checksum from the host reaches a
 * GUEST_CSUM driver as is, and is completed for one without it; segmented
 * frames reach only a driver that took GUEST_TSO4; bad fields drop. */
static void test_rx_offloads(void **state)
{
	uint32_t all = MRG | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
		       F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_HOST_TSO4);
	struct ctx *c = make(NET_CAP_OFFLOAD, all);
	struct ctx *plain = make(NET_CAP_OFFLOAD, MRG);
	struct pkt p;

	/* Offered over tap: everything in 'all' and TSO6 both ways. */
	vfix_common_wr(&c->f, VIRTIO_COMMON_DFSELECT, 0, 4);
	uint32_t offered = (uint32_t)vfix_common_rd(&c->f, VIRTIO_COMMON_DF, 4);
	assert_int_equal(offered & all, all);
	assert_true(offered & F(VIRTIO_NET_F_GUEST_TSO6));
	assert_false(offered & F(VIRTIO_NET_F_HOST_ECN));
	/* ... and not over slirp. */
	struct ctx *s = make(0, BASIC_FEATURES);
	vfix_common_wr(&s->f, VIRTIO_COMMON_DFSELECT, 0, 4);
	offered = (uint32_t)vfix_common_rd(&s->f, VIRTIO_COMMON_DF, 4);
	assert_true(offered & F(VIRTIO_NET_F_CSUM));
	assert_true(offered & F(VIRTIO_NET_F_MRG_RXBUF));
	assert_false(offered & (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
				F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6)));
	teardown((void **)&s);

	build(&p, false, true, 300, 9);
	struct net_hdr h = partial(&p);
	post_rx(c, 0, 4, 2048);
	assert_true(c->off_csum && c->off_tso4 && !c->off_tso6);
	assert_true(virtio_net_receive(c->net, &h, p.b, p.len));
	vfix_notify(&c->f, RXQ);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 1);
	uint8_t *g = c->f.ram + BUF;
	assert_int_equal(g[0], NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(get_le16(g + 6), p.l4);
	assert_int_equal(get_le16(g + 8), p.csum_off);
	assert_memory_equal(g + 12, p.b, p.len); /* left partial */
	/* A TSO super-frame of 3000 bytes over merged 2 KiB buffers. */
	struct net_hdr gso = h;
	gso.gso_type = NET_HDR_GSO_TCPV4;
	gso.gso_size = 1448;
	gso.hdr_len = 54;
	static uint8_t big[3000];
	memcpy(big, p.b, p.len);
	assert_true(virtio_net_receive(c->net, &gso, big, sizeof(big)));
	vfix_notify(&c->f, RXQ);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 3);
	g = c->f.ram + BUF + 0x800;
	assert_int_equal(g[1], NET_HDR_GSO_TCPV4);
	assert_int_equal(get_le16(g + 4), 1448);
	assert_int_equal(get_le16(g + 10), 2);
	/* Bad fields from the backend: dropped, the buffer stays posted. */
	struct net_hdr b1 = h, b2 = gso;
	b1.csum_start = (uint16_t)p.len;
	b2.gso_type = NET_HDR_GSO_TCPV6; /* not negotiated */
	assert_true(virtio_net_receive(c->net, &b1, p.b, p.len));
	assert_true(virtio_net_receive(c->net, &b2, big, sizeof(big)));
	vfix_notify(&c->f, RXQ);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 3);

	/* A driver without GUEST_CSUM: completed in vmm, flags 0; no TSO. */
	post_rx(plain, 0, 4, 2048);
	assert_false(plain->off_csum);
	assert_true(virtio_net_receive(plain->net, &h, p.b, p.len));
	assert_true(virtio_net_receive(plain->net, &gso, big, sizeof(big)));
	vfix_notify(&plain->f, RXQ);
	assert_int_equal(vfix_used_idx(&plain->f, RXQ), 1);
	g = plain->f.ram + BUF;
	assert_int_equal(g[0], 0);
	assert_int_equal(get_le16(g + 6), 0);
	assert_int_equal(get_be16(g + 12 + p.l4 + p.csum_off), p.want);
	/* A driver reset takes the offloads back from the backend. */
	unsigned calls = c->offload_calls;
	vfix_set_status(&c->f, 0);
	assert_int_equal(c->offload_calls, calls + 1);
	assert_false(c->off_csum || c->off_tso4);
	teardown((void **)&c);
	teardown((void **)&plain);
	(void)state;
}

/* A full receive queue refuses frames (the tap backend then waits) and
 * calls net_rx_ready() once the guest takes some. */
static void test_rx_backpressure(void **state)
{
	struct ctx *c = make(0, MRG);
	uint8_t frame[60] = { 1 };

	for (unsigned i = 0; i < VIRTIO_NET_RX_PENDING; i++)
		assert_true(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	assert_false(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	assert_int_equal(c->rx_ready_calls, 0);
	post_rx(c, 0, 2, 2048);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 2);
	assert_int_equal(c->rx_ready_calls, 1);
	assert_true(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	/* Frames outside Ethernet's bounds are not queued at all. */
	assert_true(virtio_net_receive(c->net, &nohdr, frame, 10));
	teardown((void **)&c);
	(void)state;
}

/* A frame waiting in a polled backend: 'len' bytes of 'fill' + its index. */
static void backend_has(struct ctx *c, size_t len, uint8_t fill)
{
	assert_true(c->nwaiting < ARRAY_SIZE(c->waiting));
	uint8_t *f = malloc(len);
	memset(f, fill, len);
	if (len)
		f[0] = (uint8_t)c->nwaiting;
	c->waiting[c->nwaiting] = f;
	c->waiting_len[c->nwaiting++] = len;
}

/* A backend the I/O thread reads itself (tap): frames stay in it while
 * the guest has no buffers, one frame at most is taken early and held;
 * each pass reads until the backend is empty or its budget is spent;
 * frames outside Ethernet's bounds, or with the cable out, are read and
 * dropped; a reset drops the held frame. */
static void test_polled_backend(void **state)
{
	struct ctx *c = make_over(&poll_ops, 0, MRG);
	uint64_t rxd, txd;

	c->recv_calls = 0; /* the driver's start looked once, at nothing */
	for (unsigned i = 0; i < 3; i++)
		backend_has(c, 100, 0xB0);
	/* No buffers: nothing read yet (no kick has come). */
	assert_int_equal(c->recv_calls, 0);
	post_rx(c, 0, 2, 2048);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 2);
	assert_int_equal(c->recv_calls, 3); /* the third is held */
	assert_int_equal(c->f.ram[BUF + 12], 0);
	assert_int_equal(c->f.ram[BUF + 0x800 + 12], 1);
	assert_int_equal(c->f.ram[BUF + 0x800 + 13], 0xB0);
	post_rx(c, 2, 1, 2048);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 3);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 2), 12 + 100);
	assert_int_equal(c->f.ram[BUF + 0x1000 + 12], 2);
	assert_int_equal(c->recv_calls, 4); /* and then found it empty */

	/* Runts and giants are dropped as read, and count against the
	 * pass's budget: 70 of them, then one good frame. */
	for (unsigned i = 0; i < 35; i++) {
		backend_has(c, 10, 0);
		backend_has(c, VIRTIO_NET_MAX_FRAME + 1, 0);
	}
	backend_has(c, 60, 0xC0);
	unsigned before = c->recv_calls;
	post_rx(c, 3, 1, 2048);
	assert_int_equal(c->recv_calls - before, 64); /* the budget */
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 3);
	vfix_notify(&c->f, RXQ); /* the I/O thread's next pass */
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 4);
	assert_int_equal(vfix_used_len(&c->f, RXQ, 3), 12 + 60);
	assert_int_equal(c->f.ram[BUF + 0x1800 + 13], 0xC0);

	/* The cable out: read and lost; back in: delivered again. */
	virtio_net_set_link(c->net, false);
	backend_has(c, 80, 0xD0);
	post_rx(c, 4, 1, 2048);
	assert_int_equal(c->next_waiting, c->nwaiting);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 4);
	virtio_net_set_link(c->net, true);
	backend_has(c, 80, 0xD1);
	vfix_notify(&c->f, RXQ);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 5);
	assert_int_equal(c->f.ram[BUF + 0x2000 + 13], 0xD1);

	/* A frame held at reset is gone: the new driver never sees it. */
	backend_has(c, 90, 0xE0);
	backend_has(c, 90, 0xE1);
	post_rx(c, 5, 1, 2048);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 6);
	vfix_set_status(&c->f, 0);
	vfix_negotiate(&c->f, 1ULL << VIRTIO_F_VERSION_1 | MRG);
	vfix_queue_setup(&c->f, RXQ);
	vfix_queue_setup(&c->f, TXQ);
	vfix_driver_ok(&c->f);
	backend_has(c, 70, 0xF0);
	post_rx(c, 0, 1, 2048);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 1);
	assert_int_equal(c->f.ram[BUF + 13], 0xF0);
	virtio_net_stats(c->net, &rxd, &txd);
	assert_int_equal(rxd, 0); /* runts, giants, the cable: not the guest's drops */
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	teardown((void **)&c);
	(void)state;
}

/* Waits (up to 5 s) for the device's I/O thread to have used 'want'
 * receive buffers; the used index then. */
static uint16_t wait_rx_used(struct ctx *c, uint16_t want)
{
	for (unsigned i = 0; i < 5000 && vfix_used_idx(&c->f, RXQ) != want; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	return vfix_used_idx(&c->f, RXQ);
}

/* With the I/O thread, over a datagram socket standing in for the tap:
 * frames arriving after the driver posted buffers are delivered with no
 * kick (the descriptor is watched, edge-triggered); a pass that spends
 * its budget on runts schedules itself again, so the good frame behind
 * them still arrives with no kick; frames beyond the ring wait in the
 * socket until the driver posts more. */
static void test_polled_io_thread(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct virtio_host host = { .io_thread = true };
	int sv[2];
	uint8_t frame[100], runt[5] = { 0 };

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	c->rx_fd = sv[0];
	make_on(c, &sock_ops, 0, MRG, &host);
	post_rx(c, 0, 4, 2048);
	/* The kick's pass has run (found the socket empty) before any frame. */
	for (unsigned i = 0; i < 5000 && !__atomic_load_n(&c->recv_calls, __ATOMIC_ACQUIRE); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(__atomic_load_n(&c->recv_calls, __ATOMIC_ACQUIRE) > 0);
	for (unsigned i = 0; i < 3; i++) {
		memset(frame, 0x30 + i, sizeof(frame));
		assert_int_equal(write(sv[1], frame, sizeof(frame)), sizeof(frame));
	}
	assert_int_equal(wait_rx_used(c, 3), 3);
	assert_int_equal(c->f.ram[BUF + 0x1000 + 12], 0x32);
	/* 70 runts (dropped as read) then a frame, all there when the pause
	 * ends: the resume's pass reads 64, and the one it schedules itself
	 * the rest (no edge comes: nothing new arrives). */
	virtio_pci_quiesce(c->f.t);
	for (unsigned i = 0; i < 70; i++)
		assert_int_equal(write(sv[1], runt, sizeof(runt)), sizeof(runt));
	memset(frame, 0x40, sizeof(frame));
	assert_int_equal(write(sv[1], frame, sizeof(frame)), sizeof(frame));
	nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 3);
	virtio_pci_resume(c->f.t);
	assert_int_equal(wait_rx_used(c, 4), 4);
	assert_int_equal(c->f.ram[BUF + 0x1800 + 12], 0x40);
	/* Six frames, no buffer: they wait; four buffers take four. */
	for (unsigned i = 0; i < 6; i++) {
		memset(frame, 0x50 + i, sizeof(frame));
		assert_int_equal(write(sv[1], frame, sizeof(frame)), sizeof(frame));
	}
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 4);
	post_rx(c, 4, 4, 2048);
	assert_int_equal(wait_rx_used(c, 8), 8);
	post_rx(c, 0, 2, 2048);
	assert_int_equal(wait_rx_used(c, 10), 10);
	assert_int_equal(c->f.ram[BUF + 0x800 + 12], 0x55); /* the sixth, in order */
	teardown((void **)&c);
	close(sv[0]);
	close(sv[1]);
	(void)state;
}

/* A legacy driver over BAR0 without MRG_RXBUF uses the 10-byte header
 * both ways (queues of 256 at page frames 0x40 and 0x50). */
static void test_legacy_header(void **state)
{
	struct ctx *c = make(0, BASIC_FEATURES);
	const uint16_t io = 0xC000;
	uint8_t frame[64];

	vfix_place_bars(&c->f, io); /* BAR4 stays where it is; BAR0 joins it */
#define IOW(off, val, sz) vfix_iowr(&c->f, io + (off), (val), (sz))
	IOW(VIRTIO_LEGACY_STATUS, 0, 1);
	IOW(VIRTIO_LEGACY_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	IOW(VIRTIO_LEGACY_GUEST_FEATURES, 1u << VIRTIO_NET_F_MAC, 4);
	IOW(VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
	IOW(VIRTIO_LEGACY_QUEUE_PFN, 0x50, 4);
	IOW(VIRTIO_LEGACY_QUEUE_SEL, 1, 2);
	IOW(VIRTIO_LEGACY_QUEUE_PFN, 0x40, 4);
	IOW(VIRTIO_LEGACY_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_DRIVER_OK, 1);
	/* Transmit: 10-byte header + 64-byte frame. */
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i + 3);
	uint8_t *tx = c->f.ram + 0x60000, *d = c->f.ram + 0x40000;
	memset(tx, 0, 10);
	memcpy(tx + 10, frame, sizeof(frame));
	put_le64(d, 0x60000);
	put_le32(d + 8, 10 + sizeof(frame));
	put_le16(c->f.ram + 0x40000 + 4096 + 4, 0);
	put_le16(c->f.ram + 0x40000 + 4096 + 2, 1);
	IOW(VIRTIO_LEGACY_QUEUE_NOTIFY, 1, 2);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(c->sent_len, sizeof(frame));
	assert_memory_equal(c->sent, frame, sizeof(frame));
	/* Receive: the frame lands after 10 header bytes. */
	d = c->f.ram + 0x50000;
	put_le64(d, 0x70000);
	put_le32(d + 8, 1514);
	put_le16(d + 12, VIRTQ_DESC_F_WRITE);
	put_le16(c->f.ram + 0x50000 + 4096 + 4, 0);
	put_le16(c->f.ram + 0x50000 + 4096 + 2, 1);
	assert_true(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	IOW(VIRTIO_LEGACY_QUEUE_NOTIFY, 0, 2);
	assert_int_equal(get_le16(c->f.ram + 0x50000 + 8192 + 2), 1);
	assert_int_equal(get_le32(c->f.ram + 0x50000 + 8192 + 8), 10 + sizeof(frame));
	assert_memory_equal(c->f.ram + 0x70000 + 10, frame, sizeof(frame));
#undef IOW
	teardown((void **)&c);
	(void)state;
}

static void save_net(struct virtio_net *n, struct ss_writer *w)
{
	ss_writer_init(w);
	virtio_net_save(n, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Over an offloading backend, after a frame each way: saved, loaded into
 * a fresh NIC (a copy of guest RAM, a new backend), saved again (the same
 * bytes). The new backend is told the driver's receive offloads, and the
 * NIC goes on transmitting from where the ring was. */
static void test_save_load(void **state)
{
	uint32_t feats = MRG | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4);
	struct ctx *c = make(NET_CAP_OFFLOAD, feats);
	struct ss_writer w1, w2;
	struct ss_reader r;
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC };

	memset(c->f.ram + BUF, 0, VIRTIO_NET_HDR_SIZE);
	vfix_set_desc(&c->f, TXQ, 0, BUF, VIRTIO_NET_HDR_SIZE + 60, 0, 0);
	vfix_offer(&c->f, TXQ, 0);
	assert_int_equal(c->nsent, 1);
	save_net(c->net, &w1);

	struct ctx *d = calloc(1, sizeof(*d));
	uint8_t *ram = malloc(RAM_SIZE);
	memcpy(ram, c->f.ram, RAM_SIZE);
	vfix_init_ram(&d->f, ram, RAM_SIZE, DEVFN, QSIZE);
	d->f.own_ram = true;
	memcpy(d->f.avail_idx, c->f.avail_idx, sizeof(d->f.avail_idx));
	memcpy(d->f.used_seen, c->f.used_seen, sizeof(d->f.used_seen));
	d->be.ops = &fake_ops;
	d->be.caps = NET_CAP_OFFLOAD;
	d->net = virtio_net_create(&d->f.pci, DEVFN, &d->f.mem, NULL, mac, &d->be, false);
	net_attach(&d->be, virtio_net_receive, d->net);
	d->f.t = virtio_net_transport(d->net);
	vfix_place_bars(&d->f, 0);
	assert_false(d->off_csum);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(virtio_net_load(d->net, &r, 0));
	ss_reader_close(&r);
	assert_true(d->off_csum && d->off_tso4 && !d->off_tso6);
	save_net(d->net, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	for (unsigned i = 0; i < 60; i++)
		d->f.ram[BUF + VIRTIO_NET_HDR_SIZE + i] = (uint8_t)(i + 1);
	vfix_set_desc(&d->f, TXQ, 1, BUF, VIRTIO_NET_HDR_SIZE + 60, 0, 0);
	vfix_offer(&d->f, TXQ, 1);
	assert_int_equal(d->nsent, 1);
	assert_int_equal(d->sent_len, 60);
	assert_int_equal(d->sent[59], 60);
	assert_int_equal(vfix_used_idx(&d->f, TXQ), 2);
	teardown((void **)&d);
	teardown((void **)&c);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

/* ---- multiqueue ---------------------------------------------------------- */

/* Two backend queues (a tap with queues=2), each recording what it sends
 * and whether it is attached. */
struct mq_queue {
	struct net_backend be; /* first: the ops get it back */
	unsigned nsent, enable_calls;
	uint8_t last[64];
	bool on, stuck;
};

struct mqctx {
	struct vfix f;
	struct virtio_net *net;
	struct mq_queue q[2];
};

#define MQ_CTRLQ 4 /* after rx0 tx0 rx1 tx1 */
#define MQ_FEATURES (BASIC_FEATURES | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ))

static void mq_send(struct net_backend *b, const struct net_hdr *hdr, const uint8_t *frame,
		    size_t len)
{
	struct mq_queue *q = (struct mq_queue *)b;
	memcpy(q->last, frame, MIN(len, sizeof(q->last)));
	q->nsent++;
}

static void mq_enable_common(struct mq_queue *q, bool on)
{
	q->on = on;
	q->enable_calls++;
}

/* A queue that cannot be attached (TUNSETQUEUE failing) when 'stuck'. */
static int mq_enable(struct net_backend *b, bool on)
{
	struct mq_queue *q = (struct mq_queue *)b;
	if (on && q->stuck)
		return -EINVAL;
	mq_enable_common(q, on);
	return 0;
}

static void mq_nop_offload(struct net_backend *b, bool csum, bool tso4, bool tso6, bool ecn) {}
static void mq_nop_ready(struct net_backend *b) {}

static const struct net_backend_ops mq_ops = {
	.send = mq_send,
	.set_offload = mq_nop_offload,
	.rx_ready = mq_nop_ready,
	.enable_queue = mq_enable,
};

static struct mqctx *mq_make_n(bool mq, uint32_t features, unsigned nqueues)
{
	struct mqctx *c = calloc(1, sizeof(*c));
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCD };

	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	for (unsigned k = 0; k < 2; k++)
		c->q[k].be.ops = &mq_ops;
	c->q[0].be.next_queue = nqueues > 1 ? &c->q[1].be : NULL;
	c->q[0].on = true; /* as a tap starts: only the first queue attached */
	c->net = virtio_net_create(&c->f.pci, DEVFN, &c->f.mem, NULL, mac, &c->q[0].be, mq);
	assert_non_null(c->net);
	assert_int_equal(virtio_net_attach(c->net), 0);
	c->f.t = virtio_net_transport(c->net);
	vfix_place_bars(&c->f, 0);
	vfix_negotiate(&c->f, 1ULL << VIRTIO_F_VERSION_1 | features);
	return c;
}

static struct mqctx *mq_make(bool mq, uint32_t features)
{
	return mq_make_n(mq, features, 2);
}

static void mq_free(struct mqctx *c)
{
	virtio_net_destroy(c->net);
	vfix_destroy(&c->f);
	free(c);
}

static void mq_start(struct mqctx *c, unsigned nq)
{
	for (unsigned q = 0; q < nq; q++)
		vfix_queue_setup(&c->f, q);
	vfix_driver_ok(&c->f);
}

/* A control command from 'ctl' (len bytes) with an ack buffer of
 * 'acklen' bytes (0: none) at descriptor 'd'; the used length returned,
 * the ack in *ack. */
static uint32_t mq_ctrl_on(struct mqctx *c, unsigned cq, unsigned d, const uint8_t *ctl,
			   unsigned len, unsigned acklen, uint8_t *ack)
{
	uint64_t cmd = BUF + 0x100 * d, ackp = cmd + 0x80;
	unsigned n = c->f.used_seen[cq];

	memcpy(c->f.ram + cmd, ctl, len);
	c->f.ram[ackp] = 0xEE;
	vfix_set_desc(&c->f, cq, d, cmd, len, acklen ? VIRTQ_DESC_F_NEXT : 0, d + 1);
	if (acklen)
		vfix_set_desc(&c->f, cq, d + 1, ackp, acklen, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, cq, (uint16_t)d);
	assert_int_equal(vfix_used_new(&c->f, cq), 1);
	assert_int_equal(vfix_used_id(&c->f, cq, n), d);
	*ack = c->f.ram[ackp];
	return vfix_used_len(&c->f, cq, n);
}

static uint32_t mq_ctrl(struct mqctx *c, unsigned d, const uint8_t *ctl, unsigned len,
			unsigned acklen, uint8_t *ack)
{
	return mq_ctrl_on(c, MQ_CTRLQ, d, ctl, len, acklen, ack);
}

static uint8_t mq_pairs_set_on(struct mqctx *c, unsigned cq, unsigned d, uint16_t pairs)
{
	uint8_t cmd[4] = { 4, 0, (uint8_t)pairs, (uint8_t)(pairs >> 8) }, ack;
	assert_int_equal(mq_ctrl_on(c, cq, d, cmd, sizeof(cmd), 1, &ack), 1);
	return ack;
}

static uint8_t mq_pairs_set(struct mqctx *c, unsigned d, uint16_t pairs)
{
	return mq_pairs_set_on(c, MQ_CTRLQ, d, pairs);
}

/* A 60-byte frame on transmit queue q, its first byte 'tag'. */
static void mq_transmit(struct mqctx *c, unsigned q, unsigned d, uint8_t tag)
{
	uint64_t a = BUF + 0x4000 + 0x100 * d;
	memset(c->f.ram + a, 0, VIRTIO_NET_HDR_SIZE + 60);
	c->f.ram[a + VIRTIO_NET_HDR_SIZE] = tag;
	vfix_set_desc(&c->f, q, d, a, VIRTIO_NET_HDR_SIZE + 60, 0, 0);
	vfix_offer(&c->f, q, (uint16_t)d);
}

/* mq=on over two backend queues: the config says 2 pairs, there are five
 * queues (rx0 tx0 rx1 tx1 ctrl); the driver uses one pair until it sets
 * two, which attaches the second backend queue; each pair sends through
 * its own backend queue and receives from it; a reset goes back to one. */
static void test_mq_pairs(void **state)
{
	struct mqctx *c = mq_make(true, MQ_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	uint8_t frame[80];

	assert_true(vfix_device_features(&c->f) & F(VIRTIO_NET_F_MQ));
	assert_true(vfix_device_features(&c->f) & F(VIRTIO_NET_F_CTRL_VQ));
	assert_int_equal(vfix_devcfg_rd(&c->f, 8, 2), 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_NUMQ, 2), 5);
	mq_start(c, 5);
	assert_false(c->q[1].on);

	/* Before the command only pair 0 receives: pair 1's frames drop. */
	memset(frame, 0x5A, sizeof(frame));
	vfix_set_desc(&c->f, 2, 0, BUF + 0x8000, 2048, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, 2, 0);
	assert_true(c->q[1].be.rx(c->q[1].be.rx_opaque, &nohdr, frame, sizeof(frame)));
	vfix_notify(&c->f, 2);
	assert_int_equal(vfix_used_idx(&c->f, 2), 0);

	assert_int_equal(mq_pairs_set(c, 0, 2), 0 /* VIRTIO_NET_OK */);
	assert_true(c->q[1].on);
	mq_transmit(c, 1, 0, 0xA0);
	mq_transmit(c, 3, 0, 0xA1);
	assert_int_equal(c->q[0].nsent, 1);
	assert_int_equal(c->q[0].last[0], 0xA0);
	assert_int_equal(c->q[1].nsent, 1);
	assert_int_equal(c->q[1].last[0], 0xA1);
	/* Pair 1 receives into its own queue (2), pair 0's (0) sees nothing. */
	frame[0] = 0x77;
	assert_true(c->q[1].be.rx(c->q[1].be.rx_opaque, &nohdr, frame, sizeof(frame)));
	vfix_notify(&c->f, 2);
	assert_int_equal(vfix_used_idx(&c->f, 2), 1);
	assert_int_equal(vfix_used_len(&c->f, 2, 0), VIRTIO_NET_HDR_SIZE + sizeof(frame));
	assert_int_equal(c->f.ram[BUF + 0x8000 + VIRTIO_NET_HDR_SIZE], 0x77);
	assert_int_equal(vfix_used_idx(&c->f, 0), 0);

	/* Back to one pair: the second backend queue is detached again. */
	assert_int_equal(mq_pairs_set(c, 2, 1), 0);
	assert_false(c->q[1].on);
	unsigned calls = c->q[1].enable_calls;
	assert_int_equal(mq_pairs_set(c, 4, 2), 0);
	assert_true(c->q[1].on);
	assert_int_equal(c->q[1].enable_calls, calls + 1);
	vfix_set_status(&c->f, 0);
	assert_false(c->q[1].on);
	assert_true(c->q[0].on);
	mq_free(c);
}

/* Hostile control chains: a pair count of 0 or past the device's, a
 * short or unknown command, a command too long to be any vmm takes, and
 * MQ's command when the driver did not take MQ all get VIRTIO_NET_ERR and
 * change nothing; a chain with no byte for the ack is used, unwritten. */
static void test_mq_ctrl_hostile(void **state)
{
	struct mqctx *c = mq_make(true, MQ_FEATURES);
	uint8_t ack, big[200] = { 4, 0, 2, 0 };
	const uint8_t shorter[3] = { 4, 0, 2 }, unknown[4] = { 0, 0, 1, 0 }, rx[3] = { 0, 1, 1 };

	mq_start(c, 5);
	assert_int_equal(mq_pairs_set(c, 0, 0), 1);
	assert_int_equal(mq_pairs_set(c, 2, 3), 1);
	assert_int_equal(mq_pairs_set(c, 4, 0xFFFF), 1);
	assert_int_equal(mq_ctrl(c, 6, shorter, sizeof(shorter), 1, &ack), 1);
	assert_int_equal(ack, 1);
	assert_int_equal(mq_ctrl(c, 0, unknown, sizeof(unknown), 1, &ack), 1);
	assert_int_equal(ack, 1);
	assert_int_equal(mq_ctrl(c, 2, rx, sizeof(rx), 1, &ack), 1);
	assert_int_equal(ack, 1);
	assert_int_equal(mq_ctrl(c, 4, big, sizeof(big), 1, &ack), 1);
	assert_int_equal(ack, 1);
	assert_false(c->q[1].on);
	/* No writable byte: used with length 0, the command not run. */
	const uint8_t two[4] = { 4, 0, 2, 0 };
	assert_int_equal(mq_ctrl(c, 6, two, sizeof(two), 0, &ack), 0);
	assert_false(c->q[1].on);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	mq_free(c);

	/* The driver did not take MQ: the control queue is queue 2 (after
	 * the first pair, virtio 1.x 5.1.2) and the command is refused. */
	c = mq_make(true, BASIC_FEATURES | F(VIRTIO_NET_F_CTRL_VQ));
	mq_start(c, 3);
	assert_int_equal(mq_pairs_set_on(c, 2, 0, 2), 1);
	assert_false(c->q[1].on);
	mq_free(c);

	/* A tap queue that cannot be attached: the command fails and the
	 * pairs in use stay as they were. */
	c = mq_make(true, MQ_FEATURES);
	mq_start(c, 5);
	c->q[1].stuck = true;
	assert_int_equal(mq_pairs_set(c, 0, 2), 1);
	assert_false(c->q[1].on);
	mq_transmit(c, 1, 0, 0xC0);
	assert_int_equal(c->q[0].nsent, 1);
	c->q[1].stuck = false;
	assert_int_equal(mq_pairs_set(c, 2, 2), 0);
	assert_true(c->q[1].on);
	mq_free(c);

	/* mq=off over the same two-queue backend: one pair, no control
	 * queue, nothing offered, the second queue never attached. */
	c = mq_make(false, BASIC_FEATURES);
	assert_false(vfix_device_features(&c->f) & F(VIRTIO_NET_F_MQ));
	assert_false(vfix_device_features(&c->f) & F(VIRTIO_NET_F_CTRL_VQ));
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_NUMQ, 2), 2);
	mq_start(c, 2);
	mq_transmit(c, 1, 0, 0xB0);
	assert_int_equal(c->q[0].nsent, 1);
	assert_false(c->q[1].on);
	mq_free(c);
}

/* Saved state carries the pairs in use; a stream that claims more than
 * the device has is refused. */
static void test_mq_save_load(void **state)
{
	struct mqctx *c = mq_make(true, MQ_FEATURES), *d;
	struct ss_writer w;
	struct ss_reader r;

	mq_start(c, 5);
	assert_int_equal(mq_pairs_set(c, 0, 2), 0);
	save_net(c->net, &w);
	d = mq_make(true, MQ_FEATURES);
	assert_false(d->q[1].on);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(virtio_net_load(d->net, &r, 0));
	ss_reader_close(&r);
	assert_true(d->q[1].on);
	mq_free(d);
	/* A destination with one backend queue has one pair: refused. */
	d = mq_make_n(true, MQ_FEATURES, 1);
	assert_int_equal(vfix_devcfg_rd(&d->f, 8, 2), 1);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(virtio_net_load(d->net, &r, 0));
	assert_non_null(strstr(r.err, "2 queue pairs in use, the device has 1"));
	ss_reader_close(&r);
	assert_int_equal(vfix_devcfg_rd(&d->f, 8, 2), 1);
	mq_free(d);
	/* A two-pair destination given a stream without the section: refused,
	 * the device unchanged. */
	d = mq_make(true, MQ_FEATURES);
	{
		struct ss_writer w0;
		struct mqctx *plain = mq_make(false, BASIC_FEATURES);
		save_net(plain->net, &w0);
		assert_int_equal(ss_reader_open(&r, w0.buf, w0.len), 0);
		assert_false(virtio_net_load(d->net, &r, 0));
		ss_reader_close(&r);
		assert_false(d->q[1].on);
		ss_writer_free(&w0);
		mq_free(plain);
	}
	mq_free(d);
	ss_writer_free(&w);
	mq_free(c);
}

/* set_link: VIRTIO_NET_S_LINK_UP follows the cable with a configuration
 * interrupt (ISR bit 1 on INTx); no frame either way while down; a device
 * reset keeps it; saved state carries it. */
static void test_link(void **state)
{
	struct ctx *c = *state;
	uint8_t frame[100] = { 0 };
	struct ss_writer w;
	struct ss_reader r;

	assert_int_equal(c->f.intx, 0);
	virtio_net_set_link(c->net, false);
	assert_false(virtio_net_link(c->net));
	assert_int_equal(vfix_devcfg_rd(&c->f, 6, 2), 0);
	assert_int_equal(c->f.intx, 1);
	assert_int_equal(vfix_isr(&c->f), VIRTIO_ISR_CONFIG);
	assert_int_equal(c->f.intx, 0);
	virtio_net_set_link(c->net, false); /* no change, no interrupt */
	assert_int_equal(c->f.intx, 0);
	memset(c->f.ram + BUF, 0, VIRTIO_NET_HDR_SIZE);
	vfix_set_desc(&c->f, TXQ, 0, BUF, VIRTIO_NET_HDR_SIZE + 60, 0, 0);
	vfix_offer(&c->f, TXQ, 0);
	assert_int_equal(vfix_used_idx(&c->f, TXQ), 1); /* used, but lost */
	assert_int_equal(c->nsent, 0);
	vfix_set_desc(&c->f, RXQ, 0, BUF + 0x1000, 1526, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, RXQ, 0);
	assert_true(virtio_net_receive(c->net, &nohdr, frame, sizeof(frame)));
	assert_int_equal(vfix_used_idx(&c->f, RXQ), 0);
	/* Saved down; brought up; the load puts it down again. */
	save_net(c->net, &w);
	virtio_net_set_link(c->net, true);
	assert_int_equal(vfix_devcfg_rd(&c->f, 6, 2), 1);
	assert_true(vfix_isr(&c->f) & VIRTIO_ISR_CONFIG); /* with the TX queue's */
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(virtio_net_load(c->net, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
	assert_false(virtio_net_link(c->net));
	assert_int_equal(vfix_devcfg_rd(&c->f, 6, 2), 0);
	/* A device reset keeps the cable out. */
	vfix_set_status(&c->f, 0);
	assert_int_equal(vfix_devcfg_rd(&c->f, 6, 2), 0);
	assert_false(virtio_net_link(c->net));
	virtio_net_set_link(c->net, true); /* no driver: no interrupt */
	assert_int_equal(vfix_devcfg_rd(&c->f, 6, 2), 1);
	assert_int_equal(c->f.intx, 0);
}

static void test_hostfwd_parse(void **state)
{
	struct net_hostfwd f;
	char err[160];
	(void)state;

	assert_int_equal(net_parse_hostfwd("tcp::2222-:22", &f, err, sizeof(err)), 0);
	assert_false(f.udp);
	assert_int_equal(f.host_port, 2222);
	assert_int_equal(f.guest_port, 22);
	assert_int_equal(f.host_addr, 0);
	assert_int_equal(net_parse_hostfwd("udp:127.0.0.1:5353-10.0.2.15:53", &f, err,
					   sizeof(err)), 0);
	assert_true(f.udp);
	assert_int_equal(f.host_addr, inet_addr("127.0.0.1"));
	assert_int_equal(f.guest_addr, inet_addr("10.0.2.15"));
	assert_int_equal(net_parse_hostfwd("::8080-:80", &f, err, sizeof(err)), 0);
	const char *bad[] = { "tcp:2222-:22", "tcp::0-:22", "tcp::70000-:22", "tcp::22",
			      "sctp::1-:2", "tcp:1.2.3.400:1-:2", "tcp::1-:x", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(net_parse_hostfwd(bad[i], &f, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
		cmocka_unit_test(test_csum_completed_for_slirp),
		cmocka_unit_test(test_tx_bad_headers),
		cmocka_unit_test(test_tx_gather),
		cmocka_unit_test(test_mergeable_rx),
		cmocka_unit_test(test_rx_offloads),
		cmocka_unit_test(test_rx_backpressure),
		cmocka_unit_test(test_polled_backend),
		cmocka_unit_test(test_polled_io_thread),
		cmocka_unit_test(test_legacy_header),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_mq_pairs),
		cmocka_unit_test(test_mq_ctrl_hostile),
		cmocka_unit_test(test_mq_save_load),
		cmocka_unit_test_setup_teardown(test_link, setup, teardown),
		cmocka_unit_test(test_hostfwd_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
