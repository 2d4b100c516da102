// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-net through the transport, with a recording backend: config (MAC,
 * link up), transmit (header stripped, frame handed over), receive (header
 * + frame into the guest's buffer, held while no buffer is posted, dropped
 * when it does not fit), malformed chains, and hostfwd parsing. */
#include "unit.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "bus.h"
#include "guest_mem.h"
#include "hw/virtio_net.h"
#include "hw/virtio_pci.h"
#include "net.h"
#include "pci.h"
#include "util.h"

#define RAM_SIZE (1024 * 1024)
#define DEVFN PCI_DEVFN(4, 0)
#define BAR4BASE 0xFE000000ULL
#define QSIZE 8
#define RX_DESC 0x1000
#define RX_AVAIL 0x2000
#define RX_USED 0x3000
#define TX_DESC 0x4000
#define TX_AVAIL 0x5000
#define TX_USED 0x6000
#define BUF 0x10000

struct ctx {
	struct net_backend be; /* first: the ops get it back as the context */
	uint8_t *ram;
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct virtio_net *net;
	uint8_t sent[70000];
	size_t sent_len;
	unsigned nsent;
	struct net_hdr sent_hdr;
	unsigned offload_calls;
	bool off_csum, off_tso4, off_tso6;
	unsigned rx_ready_calls;
	uint16_t rx_avail, tx_avail;
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

static const struct net_backend_ops fake_ops = {
	.send = backend_send,
	.set_offload = backend_offload,
	.rx_ready = backend_rx_ready,
};

static void set_intx(void *opaque, uint8_t devfn, unsigned pin, int level) { }

static uint64_t mrd(struct ctx *c, uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	bus_read(&c->mmio, addr, &v, size);
	return v;
}

static void mwr(struct ctx *c, uint64_t addr, uint64_t v, unsigned size)
{
	bus_write(&c->mmio, addr, &v, size);
}

#define COMMON(off) (BAR4BASE + VIRTIO_PCI_COMMON_OFF + (off))

static void setup_queue(struct ctx *c, unsigned q, uint64_t desc, uint64_t avail, uint64_t used)
{
	mwr(c, COMMON(VIRTIO_COMMON_Q_SELECT), q, 2);
	mwr(c, COMMON(VIRTIO_COMMON_Q_SIZE), QSIZE, 2);
	mwr(c, COMMON(VIRTIO_COMMON_Q_DESCLO), desc, 4);
	mwr(c, COMMON(VIRTIO_COMMON_Q_AVAILLO), avail, 4);
	mwr(c, COMMON(VIRTIO_COMMON_Q_USEDLO), used, 4);
	mwr(c, COMMON(VIRTIO_COMMON_Q_ENABLE), 1, 2);
}

/* A NIC over the fake backend ('caps' its capabilities), the driver
 * accepting 'features' (low 32 bits; VERSION_1 always). */
static struct ctx *make(unsigned caps, uint32_t features)
{
	struct ctx *c = calloc(1, sizeof(*c));
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC };

	c->ram = calloc(1, RAM_SIZE);
	guest_mem_init_buffer(&c->mem, c->ram, RAM_SIZE);
	bus_init(&c->pio, "pio");
	bus_init(&c->mmio, "mmio");
	pci_bus_init(&c->pci, &c->pio, &c->mmio);
	c->pci.set_intx = set_intx;
	c->be.ops = &fake_ops;
	c->be.caps = caps;
	c->net = virtio_net_create(&c->pci, DEVFN, &c->mem, NULL, mac, &c->be);
	net_attach(&c->be, virtio_net_receive, c->net);
	assert_non_null(c->net);
	pci_config_write(&c->pci, DEVFN, PCI_BAR0 + 16, (uint32_t)BAR4BASE, 4);
	pci_config_write(&c->pci, DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	mwr(c, COMMON(VIRTIO_COMMON_STATUS), 3, 1);
	mwr(c, COMMON(VIRTIO_COMMON_GFSELECT), 0, 4);
	mwr(c, COMMON(VIRTIO_COMMON_GF), features, 4);
	mwr(c, COMMON(VIRTIO_COMMON_GFSELECT), 1, 4);
	mwr(c, COMMON(VIRTIO_COMMON_GF), 1, 4); /* VERSION_1 */
	mwr(c, COMMON(VIRTIO_COMMON_STATUS), 0xB, 1);
	assert_int_equal(mrd(c, COMMON(VIRTIO_COMMON_NUMQ), 2), 2);
	setup_queue(c, 0, RX_DESC, RX_AVAIL, RX_USED);
	setup_queue(c, 1, TX_DESC, TX_AVAIL, TX_USED);
	mwr(c, COMMON(VIRTIO_COMMON_STATUS), 0xF, 1);
	return c;
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
	bus_destroy(&c->pio);
	bus_destroy(&c->mmio);
	free(c->ram);
	free(c);
	return 0;
}

static void set_desc(struct ctx *c, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = c->ram + table + 16 * i;
	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

static void offer(struct ctx *c, uint64_t avail, uint16_t *idx, uint16_t head, unsigned q)
{
	put_le16(c->ram + avail + 4 + 2 * (*idx % QSIZE), head);
	(*idx)++;
	put_le16(c->ram + avail + 2, *idx);
	mwr(c, BAR4BASE + VIRTIO_PCI_NOTIFY_OFF + 4 * q, q, 2);
}

static void test_config(void **state)
{
	struct ctx *c = *state;
	uint64_t dev = BAR4BASE + VIRTIO_PCI_DEVICE_OFF;

	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_DEVICE_ID, 2), 0x1000);
	assert_int_equal(pci_config_read(&c->pci, DEVFN, PCI_CLASS_DEVICE, 2), 0x0200);
	assert_int_equal(mrd(c, dev, 1), 0x52);
	assert_int_equal(mrd(c, dev + 5, 1), 0xCC);
	assert_int_equal(mrd(c, dev + 6, 2), 1); /* link up */
	mwr(c, COMMON(VIRTIO_COMMON_DFSELECT), 0, 4);
	uint32_t f = (uint32_t)mrd(c, COMMON(VIRTIO_COMMON_DF), 4);
	assert_true(f & 1u << VIRTIO_NET_F_MAC);
	assert_true(f & 1u << VIRTIO_NET_F_STATUS);
	assert_true(mrd(c, COMMON(VIRTIO_COMMON_STATUS), 1) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_transmit(void **state)
{
	struct ctx *c = *state;

	/* Header and frame split over two descriptors, the frame over two. */
	memset(c->ram + BUF, 0, VIRTIO_NET_HDR_SIZE);
	for (unsigned i = 0; i < 60; i++)
		c->ram[BUF + 0x100 + i] = (uint8_t)i;
	set_desc(c, TX_DESC, 0, BUF, VIRTIO_NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, 1);
	set_desc(c, TX_DESC, 1, BUF + 0x100, 20, VIRTQ_DESC_F_NEXT, 2);
	set_desc(c, TX_DESC, 2, BUF + 0x114, 40, 0, 0);
	offer(c, TX_AVAIL, &c->tx_avail, 0, 1);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(c->sent_len, 60);
	for (unsigned i = 0; i < 60; i++)
		assert_int_equal(c->sent[i], i);
	assert_int_equal(get_le16(c->ram + TX_USED + 2), 1);
	/* Shorter than a header: completed, not sent. */
	set_desc(c, TX_DESC, 3, BUF, 8, 0, 0);
	offer(c, TX_AVAIL, &c->tx_avail, 3, 1);
	assert_int_equal(c->nsent, 1);
	assert_int_equal(get_le16(c->ram + TX_USED + 2), 2);
	/* A transmit buffer outside RAM: needs reset, nothing sent. */
	set_desc(c, TX_DESC, 4, RAM_SIZE - 4, 64, 0, 0);
	offer(c, TX_AVAIL, &c->tx_avail, 4, 1);
	assert_int_equal(c->nsent, 1);
	assert_true(mrd(c, COMMON(VIRTIO_COMMON_STATUS), 1) & VIRTIO_STATUS_NEEDS_RESET);
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
	assert_int_equal(get_le16(c->ram + RX_USED + 2), 0);
	/* The guest posts one buffer: the frame lands with a zero header and
	 * num_buffers = 1. */
	memset(c->ram + BUF, 0xEE, 2048);
	set_desc(c, RX_DESC, 0, BUF, 1526, VIRTQ_DESC_F_WRITE, 0);
	offer(c, RX_AVAIL, &c->rx_avail, 0, 0);
	assert_int_equal(get_le16(c->ram + RX_USED + 2), 1);
	assert_int_equal(get_le32(c->ram + RX_USED + 8), VIRTIO_NET_HDR_SIZE + sizeof(frame));
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(c->ram[BUF + i], 0);
	assert_int_equal(get_le16(c->ram + BUF + 10), 1);
	assert_memory_equal(c->ram + BUF + VIRTIO_NET_HDR_SIZE, frame, sizeof(frame));
	/* A buffer too small for the frame: the frame is dropped, the buffer
	 * returned empty. */
	virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	set_desc(c, RX_DESC, 1, BUF + 0x1000, 50, VIRTQ_DESC_F_WRITE, 0);
	offer(c, RX_AVAIL, &c->rx_avail, 1, 0);
	assert_int_equal(get_le16(c->ram + RX_USED + 2), 2);
	assert_int_equal(get_le32(c->ram + RX_USED + 16), 0);
	/* A device-readable receive buffer is refused the same way. */
	virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	set_desc(c, RX_DESC, 2, BUF + 0x2000, 2048, 0, 0);
	offer(c, RX_AVAIL, &c->rx_avail, 2, 0);
	assert_int_equal(get_le16(c->ram + RX_USED + 2), 3);
	assert_int_equal(get_le32(c->ram + RX_USED + 28), 0);
	/* Held frames are bounded. */
	for (unsigned i = 0; i < VIRTIO_NET_RX_PENDING + 10; i++)
		virtio_net_receive(c->net, &nohdr, frame, sizeof(frame));
	/* A reset drops what is held (teardown would leak otherwise). */
	mwr(c, COMMON(VIRTIO_COMMON_STATUS), 0, 1);
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
		cmocka_unit_test(test_hostfwd_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
