// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-serial through the transport, with real chardevs: a file for the
 * console (port 0) and a unix-socket server for a named port (port 1) that
 * the test connects to. Control handshake, data both ways, back-pressure
 * (more host data than the port holds), malformed control messages and
 * oversize buffers. No I/O thread: a guest notify processes the queue. */
#include "unit.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chardev.h"
#include "hw/virtio_console.h"
#include "savestate.h"
#include "virtio_fixture.h"

#define RAM_SIZE (4 * 1024 * 1024)
#define DEVFN PCI_DEVFN(5, 0)
#define QSIZE 8
#define NQ 6 /* port 0 rx/tx, control rx/tx, port 1 rx/tx */
#define BUF(q, i) (0x100000ULL + 0x40000ULL * (q) + 0x8000ULL * (i))
#define BIG 0x280000ULL
#define BIG_LEN 0x100000u
#define P0_RX 0
#define P0_TX 1
#define C_RX 2
#define C_TX 3
#define P1_RX 4
#define P1_TX 5

struct ctx {
	struct vfix f;
	struct virtio_console *vc;
	char dir[64], file[96], sock[96];
	int client;
};

/* One main-loop round of the chardev layer. */
static void pump(int timeout_ms)
{
	struct pollfd fds[CHARDEV_POLL_FDS];
	int n = chardev_poll_fill(fds, CHARDEV_POLL_FDS);
	poll(fds, (nfds_t)n, timeout_ms);
	chardev_poll_handle(fds, n);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[256];

	snprintf(c->dir, sizeof(c->dir), "/tmp/vcon-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->file, sizeof(c->file), "%s/console.out", c->dir);
	snprintf(c->sock, sizeof(c->sock), "%s/port.sock", c->dir);
	struct chardev_config fc, sc;
	char spec[256];
	snprintf(spec, sizeof(spec), "file,id=con,path=%s", c->file);
	assert_int_equal(chardev_parse(spec, &fc, err, sizeof(err)), 0);
	snprintf(spec, sizeof(spec), "socket,id=p1,path=%s,server=on,wait=off", c->sock);
	assert_int_equal(chardev_parse(spec, &sc, err, sizeof(err)), 0);
	struct chardev *con = chardev_create(&fc, err, sizeof(err));
	struct chardev *p1 = chardev_create(&sc, err, sizeof(err));
	assert_non_null(con);
	assert_non_null(p1);
	struct virtio_console_port_config ports[2] = {
		{ .cd = con, .console = true, .nr = 0 },
		{ .cd = p1, .name = "org.example.x", .nr = 1 },
	};

	c->client = -1;
	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	c->vc = virtio_console_create(&c->f.pci, DEVFN, &c->f.mem, NULL, ports, 2);
	assert_non_null(c->vc);
	c->f.t = virtio_console_transport(c->vc);
	vfix_place_bars(&c->f, 0);
	vfix_negotiate(&c->f, 1ULL << VIRTIO_F_VERSION_1 | 1u << VIRTIO_CONSOLE_F_MULTIPORT);
	for (unsigned q = 0; q < NQ; q++)
		vfix_queue_setup(&c->f, q);
	vfix_driver_ok(&c->f);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_console_destroy(c->vc);
	chardev_destroy_all();
	if (c->client >= 0)
		close(c->client);
	vfix_destroy(&c->f);
	unlink(c->file);
	unlink(c->sock);
	rmdir(c->dir);
	free(c);
	return 0;
}

/* Posts a writable buffer of len bytes at descriptor slot 'slot' of q. */
static void post_rx(struct ctx *c, unsigned q, unsigned slot, uint32_t len)
{
	memset(c->f.ram + BUF(q, slot), 0xEE, len);
	vfix_set_desc(&c->f, q, slot, BUF(q, slot), len, VIRTQ_DESC_F_WRITE, 0);
	vfix_offer(&c->f, q, (uint16_t)slot);
}

/* Sends bytes on a transmit queue from slot 'slot'. */
static void send_tx(struct ctx *c, unsigned q, unsigned slot, const void *data, uint32_t len)
{
	memcpy(c->f.ram + BUF(q, slot), data, len);
	vfix_set_desc(&c->f, q, slot, BUF(q, slot), len, 0, 0);
	vfix_offer(&c->f, q, (uint16_t)slot);
}

static void send_ctrl(struct ctx *c, unsigned slot, uint32_t id, uint16_t event, uint16_t value)
{
	uint8_t m[8];
	put_le32(m, id);
	put_le16(m + 4, event);
	put_le16(m + 6, value);
	send_tx(c, C_TX, slot, m, sizeof(m));
}

struct msg {
	uint32_t id;
	uint16_t event, value;
	char extra[64];
	uint32_t len;
};

/* Posts control receive buffers until no more messages come; returns how
 * many were read into out. */
static unsigned read_ctrl(struct ctx *c, struct msg *out, unsigned max)
{
	unsigned n = 0;
	/* No I/O thread here: a notify has the device look at what it queued. */
	vfix_notify(&c->f, C_RX);
	for (;;) {
		/* keep exactly one buffer posted */
		if ((uint16_t)(c->f.avail_idx[C_RX] - vfix_used_idx(&c->f, C_RX)) == 0)
			post_rx(c, C_RX, c->f.avail_idx[C_RX] % QSIZE, 64);
		if (vfix_used_idx(&c->f, C_RX) == c->f.used_seen[C_RX])
			return n; /* the buffer stays posted for later messages */
		unsigned e = c->f.used_seen[C_RX]++;
		uint32_t id = vfix_used_id(&c->f, C_RX, e);
		const uint8_t *b = c->f.ram + BUF(C_RX, id);
		assert_true(n < max);
		out[n].len = vfix_used_len(&c->f, C_RX, e);
		assert_true(out[n].len >= 8);
		out[n].id = get_le32(b);
		out[n].event = get_le16(b + 4);
		out[n].value = get_le16(b + 6);
		memset(out[n].extra, 0, sizeof(out[n].extra));
		memcpy(out[n].extra, b + 8, out[n].len - 8);
		n++;
		/* one buffer was taken by a message: the loop posts another */
	}
}

static bool has_msg(const struct msg *m, unsigned n, uint32_t id, uint16_t event, uint16_t value)
{
	for (unsigned i = 0; i < n; i++)
		if (m[i].id == id && m[i].event == event && m[i].value == value)
			return true;
	return false;
}

static void handshake(struct ctx *c)
{
	struct msg m[16];
	unsigned n;

	send_ctrl(c, 0, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	n = read_ctrl(c, m, 16);
	assert_int_equal(n, 2);
	assert_true(has_msg(m, n, 0, VIRTIO_CONSOLE_DEVICE_ADD, 1));
	assert_true(has_msg(m, n, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1));
	send_ctrl(c, 1, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	send_ctrl(c, 2, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	n = read_ctrl(c, m, 16);
	/* console: CONSOLE_PORT and PORT_OPEN (a file is always connected);
	 * port 1: its name, and no PORT_OPEN while no client is connected. */
	assert_int_equal(n, 3);
	assert_true(has_msg(m, n, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1));
	assert_true(has_msg(m, n, 0, VIRTIO_CONSOLE_PORT_OPEN, 1));
	assert_true(has_msg(m, n, 1, VIRTIO_CONSOLE_PORT_NAME, 1));
	for (unsigned i = 0; i < n; i++)
		if (m[i].event == VIRTIO_CONSOLE_PORT_NAME) {
			assert_int_equal(m[i].len, 8 + strlen("org.example.x"));
			assert_string_equal(m[i].extra, "org.example.x");
		}
}

static void connect_client(struct ctx *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->sock);
	c->client = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(c->client >= 0);
	assert_int_equal(connect(c->client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(1000); /* accept */
}

static void test_config_and_handshake(void **state)
{
	struct ctx *c = *state;
	struct msg m[8];

	assert_int_equal(vfix_cfg_rd(&c->f, PCI_DEVICE_ID, 2), 0x1003);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_CONSOLE);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_NUMQ, 2), 18);
	assert_int_equal(vfix_devcfg_rd(&c->f, 4, 4), VIRTIO_CONSOLE_MAX_PORTS);
	vfix_common_wr(&c->f, VIRTIO_COMMON_DFSELECT, 0, 4);
	assert_true(vfix_common_rd(&c->f, VIRTIO_COMMON_DF, 4) & 1u << VIRTIO_CONSOLE_F_MULTIPORT);
	handshake(c);
	/* A client connects: the guest hears PORT_OPEN 1; it leaves: 0. */
	connect_client(c);
	unsigned n = read_ctrl(c, m, 8);
	assert_int_equal(n, 1);
	assert_true(has_msg(m, n, 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	close(c->client);
	c->client = -1;
	pump(1000);
	n = read_ctrl(c, m, 8);
	assert_int_equal(n, 1);
	assert_true(has_msg(m, n, 1, VIRTIO_CONSOLE_PORT_OPEN, 0));
	assert_int_equal(virtio_console_stats(c->vc).bad_control, 0);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 2000), 1);
		ssize_t r = read(fd, (uint8_t *)buf + got, len - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

static void test_data_both_ways(void **state)
{
	struct ctx *c = *state;
	struct msg m[8];
	char out[64];

	handshake(c);
	connect_client(c);
	read_ctrl(c, m, 8);
	/* Host -> guest before the guest opened the port: held, not lost. */
	assert_int_equal(write(c->client, "hello\n", 6), 6);
	pump(1000);
	post_rx(c, P1_RX, 0, 64);
	assert_int_equal(vfix_used_idx(&c->f, P1_RX), 0);
	send_ctrl(c, 3, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(vfix_used_idx(&c->f, P1_RX), 1);
	assert_int_equal(vfix_used_len(&c->f, P1_RX, 0), 6);
	/* The control chain is the one returned, though delivering the held
	 * input popped a receive chain meanwhile. */
	assert_int_equal(vfix_used_id(&c->f, C_TX, vfix_used_idx(&c->f, C_TX) - 1), 3);
	assert_memory_equal(c->f.ram + BUF(P1_RX, 0), "hello\n", 6);
	/* Guest -> host on port 1: to the socket client. */
	send_tx(c, P1_TX, 0, "olleh\n", 6);
	assert_int_equal(vfix_used_idx(&c->f, P1_TX), 1);
	read_exact(c->client, out, 6);
	assert_memory_equal(out, "olleh\n", 6);
	/* The console, port 0: into the file. */
	send_tx(c, P0_TX, 0, "console line\n", 13);
	assert_int_equal(vfix_used_idx(&c->f, P0_TX), 1);
	int fd = open(c->file, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, out, sizeof(out)), 13);
	assert_memory_equal(out, "console line\n", 13);
	close(fd);
}

static void test_backpressure(void **state)
{
	struct ctx *c = *state;
	struct msg m[8];
	static uint8_t data[20000], got[20000];
	size_t have = 0;

	handshake(c);
	connect_client(c);
	read_ctrl(c, m, 8);
	send_ctrl(c, 3, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 8));
	assert_int_equal(write(c->client, data, sizeof(data)), (ssize_t)sizeof(data));
	/* No guest buffers: the port holds 4 KiB, the chardev one chunk more,
	 * then it stops reading the socket; nothing is dropped. */
	for (int i = 0; i < 5; i++)
		pump(20);
	/* The guest drains it with small buffers, 8 at a time. */
	for (int round = 0; round < 200 && have < sizeof(data); round++) {
		uint16_t before = vfix_used_idx(&c->f, P1_RX);
		/* fill the free slots; posted-but-unused ones stay where they are */
		unsigned nfree = QSIZE - (uint16_t)(c->f.avail_idx[P1_RX] - before);
		for (unsigned k = 0; k < nfree; k++)
			post_rx(c, P1_RX, c->f.avail_idx[P1_RX] % QSIZE, 1000);
		/* what the I/O thread's schedule would do */
		vfix_notify(&c->f, P1_RX);
		for (uint16_t e = before; e != vfix_used_idx(&c->f, P1_RX); e++) {
			uint32_t id = vfix_used_id(&c->f, P1_RX, e);
			uint32_t len = vfix_used_len(&c->f, P1_RX, e);
			assert_true(have + len <= sizeof(got));
			memcpy(got + have, c->f.ram + BUF(P1_RX, id), len);
			have += len;
		}
		pump(20); /* the kick: offer held input, read more */
		pump(20);
	}
	assert_int_equal(have, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
}

static void test_malformed_control(void **state)
{
	struct ctx *c = *state;
	struct msg m[8];

	handshake(c);
	uint8_t shortmsg[4] = { 1, 0, 0, 0 };
	send_tx(c, C_TX, 3, shortmsg, sizeof(shortmsg));      /* short */
	send_ctrl(c, 4, 99, VIRTIO_CONSOLE_PORT_READY, 1);   /* port id out of range */
	send_ctrl(c, 5, 0xFFFFFFFF, VIRTIO_CONSOLE_PORT_OPEN, 1);
	send_ctrl(c, 6, 5, VIRTIO_CONSOLE_PORT_OPEN, 1);     /* port not present */
	send_ctrl(c, 7, 0, 42, 1);                           /* unknown event */
	send_ctrl(c, 0, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);  /* a device-only event */
	assert_int_equal(virtio_console_stats(c->vc).bad_control, 6);
	assert_int_equal(vfix_used_idx(&c->f, C_TX), 3 + 6);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	/* Nothing was sent back for any of them. */
	assert_int_equal(read_ctrl(c, m, 8), 0);
	/* A DEVICE_READY with value 0 (driver failure) announces nothing. */
	send_ctrl(c, 1, 0, VIRTIO_CONSOLE_DEVICE_READY, 0);
	assert_int_equal(read_ctrl(c, m, 8), 0);
	/* A control receive buffer too small for a header gets no bytes. */
	send_ctrl(c, 2, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	vfix_set_desc(&c->f, C_RX, 7, BUF(C_RX, 7), 4, VIRTQ_DESC_F_WRITE, 0);
	uint16_t before = vfix_used_idx(&c->f, C_RX);
	vfix_offer(&c->f, C_RX, 7);
	assert_true(vfix_used_idx(&c->f, C_RX) != before);
	/* A control message outside guest RAM: the queue layer breaks it. */
	vfix_set_desc(&c->f, C_TX, 3, RAM_SIZE - 4, 8, 0, 0);
	vfix_offer(&c->f, C_TX, 3);
	assert_true(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_oversize(void **state)
{
	struct ctx *c = *state;
	struct msg m[8];
	size_t total = 0;
	char buf[4096];

	handshake(c);
	connect_client(c);
	read_ctrl(c, m, 8);
	/* 1 MiB to a client that does not read: what the socket does not take
	 * is buffered up to the cap, the rest dropped; the chain completes and
	 * nothing blocks. */
	memset(c->f.ram + BIG, 'a', BIG_LEN);
	vfix_set_desc(&c->f, P1_TX, 0, BIG, BIG_LEN, 0, 0);
	vfix_offer(&c->f, P1_TX, 0);
	assert_int_equal(vfix_used_idx(&c->f, P1_TX), 1);
	assert_false(vfix_status(&c->f) & VIRTIO_STATUS_NEEDS_RESET);
	/* The client now reads what was kept: more than nothing, at most the
	 * socket buffer plus the cap, in order from the start. */
	fcntl(c->client, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 400; i++) {
		pump(5);
		ssize_t r = read(c->client, buf, sizeof(buf));
		if (r > 0) {
			for (ssize_t k = 0; k < r; k++)
				assert_int_equal(buf[k], 'a');
			total += (size_t)r;
		} else if (i > 50 && total) {
			break;
		}
	}
	assert_true(total > CHARDEV_OUT_CAP / 2);
	assert_true(total < BIG_LEN);
	/* A one-byte receive buffer takes one byte. */
	send_ctrl(c, 3, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(write(c->client, "xyz", 3), 3);
	pump(1000);
	post_rx(c, P1_RX, 0, 1);
	assert_int_equal(vfix_used_idx(&c->f, P1_RX), 1);
	assert_int_equal(vfix_used_len(&c->f, P1_RX, 0), 1);
	assert_int_equal(c->f.ram[BUF(P1_RX, 0)], 'x');
	post_rx(c, P1_RX, 1, 64);
	assert_int_equal(vfix_used_len(&c->f, P1_RX, 1), 2);
	assert_memory_equal(c->f.ram + BUF(P1_RX, 1), "yz", 2);
}

/* Bytes in the console's output file. */
static long file_size(struct ctx *c)
{
	struct stat st;
	assert_int_equal(stat(c->file, &st), 0);
	return (long)st.st_size;
}

/* Issue 12, hole 8: a transmit chain naming 1 MiB of RAM 8 times (a guest
 * can make it terabytes) passes 1 MiB on to the file chardev and counts
 * the rest as cut; before, all 8 MiB were written with the transport lock
 * held. */
static void test_tx_chain_capped(void **state)
{
	struct ctx *c = *state;

	handshake(c);
	long before = file_size(c);
	memset(c->f.ram + BIG, 'b', BIG_LEN);
	for (unsigned i = 0; i < QSIZE; i++)
		vfix_set_desc(&c->f, P0_TX, i, BIG, BIG_LEN, i < QSIZE - 1 ? VIRTQ_DESC_F_NEXT : 0,
			      (uint16_t)(i + 1));
	vfix_offer(&c->f, P0_TX, 0);
	assert_int_equal(vfix_used_idx(&c->f, P0_TX), 1);
	assert_int_equal(file_size(c) - before, BIG_LEN);
	assert_int_equal(virtio_console_stats(c->vc).tx_cut_bytes, (uint64_t)(QSIZE - 1) * BIG_LEN);
	/* The port still works. */
	send_tx(c, P0_TX, 0, "ok", 2);
	assert_int_equal(vfix_used_idx(&c->f, P0_TX), 2);
	assert_int_equal(file_size(c) - before, BIG_LEN + 2);
}

/* Eight 1 MiB chains at once: one pass writes 4 MiB (four chains) and
 * leaves the rest for the next pass (the I/O thread comes back on its
 * own; here the next notify), so the lock is never held for more. Before,
 * one pass wrote all eight. */
static void test_tx_pass_bounded(void **state)
{
	struct ctx *c = *state;

	handshake(c);
	long before = file_size(c);
	memset(c->f.ram + BIG, 'c', BIG_LEN);
	for (unsigned i = 0; i < QSIZE; i++) {
		vfix_set_desc(&c->f, P0_TX, i, BIG, BIG_LEN, 0, 0);
		vfix_avail_push(&c->f, P0_TX, (uint16_t)i);
	}
	vfix_avail_publish(&c->f, P0_TX);
	vfix_notify(&c->f, P0_TX);
	assert_int_equal(vfix_used_idx(&c->f, P0_TX), 4);
	assert_int_equal(file_size(c) - before, 4L * BIG_LEN);
	vfix_notify(&c->f, P0_TX);
	assert_int_equal(vfix_used_idx(&c->f, P0_TX), 8);
	assert_int_equal(file_size(c) - before, 8L * BIG_LEN);
	assert_int_equal(virtio_console_stats(c->vc).tx_cut_bytes, 0);
}

static void save_console(struct virtio_console *vc, struct ss_writer *w)
{
	ss_writer_init(w);
	virtio_console_save(vc, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* After the handshake, with host input held for port 1 (the guest has not
 * opened it) and a control message not yet delivered (the client left):
 * saved, loaded into a second device with the same ports on a copy of
 * guest RAM, saved again (the same bytes). The second device delivers the
 * waiting PORT_OPEN 0, then the held input once the guest opens the port. */
static void test_save_load(void **state)
{
	struct ctx *c = *state, d = { 0 };
	struct ss_writer w1, w2;
	struct ss_reader r;
	struct msg m[8];
	char err[256], spec[256], file2[128], sock2[128];

	handshake(c);
	connect_client(c);
	assert_int_equal(read_ctrl(c, m, 8), 1);
	assert_int_equal(write(c->client, "held!", 5), 5);
	pump(1000);
	close(c->client);
	c->client = -1;
	pump(1000); /* PORT_OPEN 0 queued; no notify delivers it here */
	save_console(c->vc, &w1);

	struct chardev_config fc, sc;
	snprintf(file2, sizeof(file2), "%s/console2.out", c->dir);
	snprintf(sock2, sizeof(sock2), "%s/port2.sock", c->dir);
	snprintf(spec, sizeof(spec), "file,id=con2,path=%s", file2);
	assert_int_equal(chardev_parse(spec, &fc, err, sizeof(err)), 0);
	snprintf(spec, sizeof(spec), "socket,id=p2,path=%s,server=on,wait=off", sock2);
	assert_int_equal(chardev_parse(spec, &sc, err, sizeof(err)), 0);
	struct virtio_console_port_config ports[2] = {
		{ .cd = chardev_create(&fc, err, sizeof(err)), .console = true, .nr = 0 },
		{ .cd = chardev_create(&sc, err, sizeof(err)), .name = "org.example.x", .nr = 1 },
	};
	uint8_t *ram = malloc(RAM_SIZE);
	memcpy(ram, c->f.ram, RAM_SIZE);
	vfix_init_ram(&d.f, ram, RAM_SIZE, DEVFN, QSIZE);
	d.f.own_ram = true;
	memcpy(d.f.avail_idx, c->f.avail_idx, sizeof(d.f.avail_idx));
	memcpy(d.f.used_seen, c->f.used_seen, sizeof(d.f.used_seen));
	d.vc = virtio_console_create(&d.f.pci, DEVFN, &d.f.mem, NULL, ports, 2);
	d.f.t = virtio_console_transport(d.vc);
	vfix_place_bars(&d.f, 0);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(virtio_console_load(d.vc, &r, 0));
	assert_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);
	save_console(d.vc, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	virtio_pci_resume(d.f.t);
	unsigned n = read_ctrl(&d, m, 8);
	assert_int_equal(n, 1);
	assert_true(has_msg(m, n, 1, VIRTIO_CONSOLE_PORT_OPEN, 0));
	post_rx(&d, P1_RX, 0, 64);
	assert_int_equal(vfix_used_idx(&d.f, P1_RX), 0);
	send_ctrl(&d, 4, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	assert_int_equal(vfix_used_idx(&d.f, P1_RX), 1);
	assert_int_equal(vfix_used_len(&d.f, P1_RX, 0), 5);
	assert_memory_equal(d.f.ram + BUF(P1_RX, 0), "held!", 5);
	assert_int_equal(virtio_console_stats(d.vc).bad_control, 0);
	virtio_console_destroy(d.vc);
	vfix_destroy(&d.f);
	unlink(file2);
	unlink(sock2);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

static void test_chardev_parse(void **state)
{
	struct chardev_config cc;
	char err[256];

	assert_int_equal(chardev_parse("socket,id=a,host=127.0.0.1,port=4444,server,nowait", &cc,
				       err, sizeof(err)), 0);
	assert_true(cc.tcp && cc.server && !cc.wait);
	assert_string_equal(cc.port, "4444");
	assert_int_equal(chardev_parse("socket,id=a,path=/x,server=on", &cc, err, sizeof(err)), 0);
	assert_true(!cc.tcp && cc.server && cc.wait);
	assert_int_equal(chardev_parse("socket,id=a,path=/x", &cc, err, sizeof(err)), 0);
	assert_true(!cc.server && !cc.wait);
	assert_int_equal(chardev_parse("stdio,id=s,signal=off", &cc, err, sizeof(err)), 0);
	assert_false(cc.signal);
	assert_int_equal(chardev_parse("file,id=f,path=a,,b", &cc, err, sizeof(err)), 0);
	assert_string_equal(cc.path, "a,b");
	assert_int_equal(chardev_parse_legacy("tcp::5555,server,nowait", &cc, err, sizeof(err)), 0);
	assert_true(cc.kind == CHARDEV_SOCKET && cc.tcp && cc.server && !cc.wait);
	assert_string_equal(cc.host, "");
	assert_int_equal(chardev_parse_legacy("unix:/tmp/s,server", &cc, err, sizeof(err)), 0);
	assert_true(cc.kind == CHARDEV_SOCKET && !cc.tcp && cc.server && cc.wait);
	assert_int_equal(chardev_parse_legacy("chardev:abc", &cc, err, sizeof(err)), 0);
	assert_true(cc.kind == CHARDEV_REF);
	assert_string_equal(cc.id, "abc");
	assert_int_equal(chardev_parse_legacy("tcp:host:0x10", &cc, err, sizeof(err)), -1);
	assert_int_equal(chardev_parse("socket,id=a,port=99999", &cc, err, sizeof(err)), -1);
	assert_int_equal(chardev_parse("", &cc, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_chain_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_pass_bounded, setup, teardown),
		cmocka_unit_test(test_chardev_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
