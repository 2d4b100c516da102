// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The user-network backend (libslirp) driven as a guest would, without a
 * guest: crafted Ethernet frames go in through net_send(), the frames slirp
 * sends back are collected from the receive callback.
 *
 * Issue 12, hole 5: by default (as in QEMU) the guest reaches the host's
 * 127.0.0.1 through the host address 10.0.2.2, which includes vmm's own QMP
 * or monitor socket when it is on TCP. restrict=on must cut the guest off
 * from the host and the outside (hostfwd still comes in), and
 * host-loopback=off must cut off the loopback alone.
 *
 * Issue 18: the backend's saved state (libslirp's: DHCP leases, the IP id
 * counter) moves with the machine in a section keyed by the netdev id, and
 * a state this vmm cannot load is refused with one line.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "savestate.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
#define GUEST_IP "10.0.2.15"
#define HOST_IP "10.0.2.2"
#define GUEST_PORT 40000

/* ---- what slirp sends to the guest ---- */

/* One per backend: a backend's thread keeps running after its test. */
struct seen {
	pthread_mutex_t lock;
	unsigned arp_replies, tcp_rst, tcp_syn_to_guest, tcp_syn_ack;
	uint32_t syn_ack_seq; /* the last SYN-ACK's sequence number */
	uint16_t syn_dport;
	/* DHCP replies: the boot file field and option 66 of the last one */
	unsigned dhcp_replies;
	char dhcp_file[129], dhcp_tftp_server[256];
	uint8_t dhcp_yiaddr[4]; /* the address offered */
	/* TFTP answers (from port 69): the last one's opcode and data */
	unsigned tftp_replies;
	uint16_t tftp_opcode, tftp_block;
	uint8_t tftp_data[600];
	size_t tftp_len;
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* BOOTP: the file field at 108 (128 bytes), options after the cookie at 236. */
static void seen_dhcp(struct seen *seen, const uint8_t *bootp, size_t len)
{
	if (len < 240 || bootp[0] != 2)
		return;
	memcpy(seen->dhcp_yiaddr, bootp + 16, 4);
	memcpy(seen->dhcp_file, bootp + 108, 128);
	seen->dhcp_file[128] = 0;
	seen->dhcp_tftp_server[0] = 0;
	for (size_t i = 240; i + 1 < len && bootp[i] != 255;) {
		if (bootp[i] == 0) {
			i++;
			continue;
		}
		size_t olen = bootp[i + 1];
		if (i + 2 + olen > len)
			break;
		if (bootp[i] == 66) {
			memcpy(seen->dhcp_tftp_server, bootp + i + 2, olen);
			seen->dhcp_tftp_server[olen] = 0;
		}
		i += 2 + olen;
	}
	seen->dhcp_replies++;
}

static void seen_tftp(struct seen *seen, const uint8_t *p, size_t len)
{
	if (len < 4)
		return;
	seen->tftp_opcode = get16(p);
	seen->tftp_block = get16(p + 2);
	seen->tftp_len = len - 4 < sizeof(seen->tftp_data) ? len - 4 : sizeof(seen->tftp_data);
	memcpy(seen->tftp_data, p + 4, seen->tftp_len);
	seen->tftp_replies++;
}

static bool rx(void *opaque, const struct net_hdr *hdr, const uint8_t *f, size_t len)
{
	struct seen *seen = opaque;
	pthread_mutex_lock(&seen->lock);
	if (len >= 42 && get16(f + 12) == 0x0800 && f[23] == 17) {
		const uint8_t *udp = f + 14 + (f[14] & 0xF) * 4;
		if (udp + 8 <= f + len) {
			size_t ulen = (size_t)(f + len - udp) - 8;
			if (get16(udp) == 67)
				seen_dhcp(seen, udp + 8, ulen);
			else if (get16(udp) == 69)
				seen_tftp(seen, udp + 8, ulen);
		}
	}
	if (len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2)
		seen->arp_replies++;
	if (len >= 54 && get16(f + 12) == 0x0800 && f[23] == 6) {
		const uint8_t *tcp = f + 14 + (f[14] & 0xF) * 4;
		if (tcp[13] & 0x04)
			seen->tcp_rst++;
		if ((tcp[13] & 0x12) == 0x12) {
			seen->tcp_syn_ack++;
			seen->syn_ack_seq = (uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6);
		}
		if ((tcp[13] & 0x12) == 0x02) {
			seen->tcp_syn_to_guest++;
			seen->syn_dport = get16(tcp + 2);
		}
	}
	pthread_mutex_unlock(&seen->lock);
	return true;
}

static unsigned seen_count(struct seen *seen, unsigned *field)
{
	pthread_mutex_lock(&seen->lock);
	unsigned v = *field;
	pthread_mutex_unlock(&seen->lock);
	return v;
}

/* ---- frames from the guest ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint16_t csum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

static void send_arp_request(struct net_backend *b)
{
	uint8_t f[42] = { 0 };
	memset(f, 0xFF, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);      /* Ethernet */
	put16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1); /* request */
	memcpy(f + 22, guest_mac, 6);
	inet_pton(AF_INET, GUEST_IP, f + 28);
	inet_pton(AF_INET, HOST_IP, f + 38);
	static const struct net_hdr none;
	net_send(b, &none, f, sizeof(f));
}

/* A TCP segment without data from the guest to dst:dport. */
static void send_tcp(struct net_backend *b, const char *dst, uint16_t dport, uint8_t flags,
		     uint32_t ack)
{
	uint8_t f[14 + 20 + 20] = { 0 };
	uint8_t *ip = f + 14, *tcp = ip + 20;

	memcpy(f, "\x52\x55\x0a\x00\x02\x02", 6); /* slirp's gateway MAC */
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 40);
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 6;
	inet_pton(AF_INET, GUEST_IP, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	put16(ip + 10, csum(0, ip, 20));
	put16(tcp, GUEST_PORT);
	put16(tcp + 2, dport);
	tcp[4] = 0x10; /* sequence number 0x10000000 (+1 after the SYN) */
	if (!(flags & 0x02))
		tcp[7] = 1;
	put16(tcp + 8, (uint16_t)(ack >> 16));
	put16(tcp + 10, (uint16_t)ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 64240);
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, 20);
	uint32_t sum = 0;
	for (int i = 0; i < 12; i += 2)
		sum += get16(pseudo + i);
	put16(tcp + 16, csum(sum, tcp, 20));
	static const struct net_hdr none;
	net_send(b, &none, f, sizeof(f));
}

/* A TCP SYN from the guest to dst:dport. */
static void send_syn(struct net_backend *b, const char *dst, uint16_t dport)
{
	send_tcp(b, dst, dport, 0x02, 0);
}

/* A UDP datagram from the guest (src 0.0.0.0 for DHCP), checksum 0. */
static void send_udp(struct net_backend *b, const char *src, const char *dst, const uint8_t *dmac,
		     uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	uint8_t f[14 + 20 + 8 + 600] = { 0 };
	uint8_t *ip = f + 14, *udp = ip + 20;

	assert_true(plen <= 600);
	memcpy(f, dmac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(28 + plen));
	put16(ip + 4, 0x4321);
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	put16(ip + 10, csum(0, ip, 20));
	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, (uint16_t)(8 + plen));
	memcpy(udp + 8, payload, plen);
	static const struct net_hdr none;
	net_send(b, &none, f, 14 + 28 + plen);
}

/* A DHCPDISCOVER as a PXE client sends it (a whole BOOTP packet: slirp
 * wants the 312 option bytes there). */
static void send_dhcp_discover_from(struct net_backend *b, const uint8_t *mac)
{
	uint8_t bootp[236 + 312] = { 0 };
	bootp[0] = 1; /* request */
	bootp[1] = 1; /* Ethernet */
	bootp[2] = 6;
	memcpy(bootp + 4, "\x12\x34\x56\x78", 4); /* xid */
	memcpy(bootp + 28, mac, 6);
	memcpy(bootp + 236, "\x63\x82\x53\x63", 4); /* the magic cookie */
	memcpy(bootp + 240, "\x35\x01\x01\xff", 4);  /* DISCOVER, end */
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	send_udp(b, "0.0.0.0", "255.255.255.255", broadcast, 68, 67, bootp, sizeof(bootp));
}

static void send_dhcp_discover(struct net_backend *b)
{
	send_dhcp_discover_from(b, guest_mac);
}

/* A TFTP read request (octet mode) to slirp's server at 10.0.2.2:69. */
static void send_tftp_rrq(struct net_backend *b, const char *file)
{
	uint8_t p[300];
	size_t n = strlen(file);
	assert_true(n + 10 <= sizeof(p));
	put16(p, 1);
	memcpy(p + 2, file, n + 1);
	memcpy(p + 3 + n, "octet", 6);
	send_udp(b, GUEST_IP, HOST_IP, (const uint8_t *)"\x52\x55\x0a\x00\x02\x02", 2069, 69,
		 p, n + 9);
}

/* ---- the host side ---- */

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return s;
}

/* Whether a connection arrives at listener 's' within 'ms'. */
static bool connection_arrives(int s, int ms)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return false;
	int c = accept(s, NULL, NULL);
	if (c < 0)
		return false;
	close(c);
	return true;
}

static struct net_backend *start(struct net_user_config *c, struct seen **seen)
{
	char err[256];
	*seen = calloc(1, sizeof(**seen)); /* the backend's thread outlives the test */
	pthread_mutex_init(&(*seen)->lock, NULL);
	struct net_backend *b = net_user_create(c, err, sizeof(err));
	if (!b)
		fail_msg("net_user_create: %s", err);
	assert_int_equal(net_attach(b, rx, *seen), 0);
	return b;
}

static bool wait_for_n(struct seen *seen, unsigned *field, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (seen_count(seen, field))
			return true;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return seen_count(seen, field) != 0;
}
#define wait_for(seen, field, ms) wait_for_n(seen, &(seen)->field, ms)

/* A non-loopback IPv4 address of this host (the "outside" slirp would NAT
 * to), or false if it has none. */
static bool outside_address(char *out, size_t len)
{
	struct ifaddrs *ifs, *i;
	bool found = false;
	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		if ((ntohl(a.s_addr) >> 24) == 127)
			continue;
		inet_ntop(AF_INET, &a, out, (socklen_t)len);
		found = true;
	}
	freeifaddrs(ifs);
	return found;
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return s;
}

/* The default, as QEMU's: 10.0.2.2 leads to the host's 127.0.0.1. This is
 * what restrict=on and host-loopback=off take away (and shows the frames
 * below are ones slirp acts on). */
static void test_default_reaches_host_loopback(void **state)
{
	uint16_t port;
	int s = listen_loopback(&port);
	struct net_user_config c = { 0 };
	struct seen *seen;
	struct net_backend *b = start(&c, &seen);
	send_arp_request(b);
	assert_true(wait_for(seen, arp_replies, 2000));
	send_syn(b, HOST_IP, port);
	assert_true(connection_arrives(s, 5000));
	close(s);
	/* And the outside: an address of this host that is not loopback. */
	char out[INET_ADDRSTRLEN];
	if (outside_address(out, sizeof(out))) {
		s = listen_any(&port);
		send_syn(b, out, port);
		assert_true(connection_arrives(s, 5000));
		close(s);
	}
}

static void test_restrict_blocks_host_loopback(void **state)
{
	uint16_t port;
	int s = listen_loopback(&port);
	struct net_user_config c = { 0 };
	char err[128];
	assert_int_equal(net_user_option(&c, "restrict", "on", err, sizeof(err)), 1);
	struct seen *seen;
	struct net_backend *b = start(&c, &seen);
	send_arp_request(b);
	assert_true(wait_for(seen, arp_replies, 2000)); /* slirp itself still answers */
	send_syn(b, HOST_IP, port);
	/* Refused with a reset, and nothing reaches the host. */
	assert_true(wait_for(seen, tcp_rst, 3000));
	assert_false(connection_arrives(s, 1500));
	close(s);
	/* Nor does the outside. */
	char out[INET_ADDRSTRLEN];
	if (outside_address(out, sizeof(out))) {
		s = listen_any(&port);
		send_syn(b, out, port);
		assert_false(connection_arrives(s, 1500));
		close(s);
	}
}

static void test_host_loopback_off(void **state)
{
	uint16_t port;
	int s = listen_loopback(&port);
	struct net_user_config c = { 0 };
	char err[128];
	assert_int_equal(net_user_option(&c, "host-loopback", "off", err, sizeof(err)), 1);
	struct seen *seen;
	struct net_backend *b = start(&c, &seen);
	send_arp_request(b);
	assert_true(wait_for(seen, arp_replies, 2000));
	send_syn(b, HOST_IP, port);
	assert_false(connection_arrives(s, 2000));
	close(s);
}

/* restrict=on still lets hostfwd connections in. */
static void test_restrict_keeps_hostfwd(void **state)
{
	uint16_t hport;
	int probe = listen_loopback(&hport); /* a free port, released below */
	close(probe);
	struct net_user_config c = { 0 };
	char err[128], rule[64];
	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%u-:22", hport);
	assert_int_equal(net_parse_hostfwd(rule, &c.fwd[0], err, sizeof(err)), 0);
	c.nfwd = 1;
	assert_int_equal(net_user_option(&c, "restrict", "on", err, sizeof(err)), 1);
	struct seen *seen;
	struct net_backend *b = start(&c, &seen);
	send_arp_request(b); /* slirp learns the guest's MAC */
	assert_true(wait_for(seen, arp_replies, 2000));
	int cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hport),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int r = connect(cs, (struct sockaddr *)&a, sizeof(a));
	assert_true(r == 0 || errno == EINPROGRESS);
	assert_true(wait_for(seen, tcp_syn_to_guest, 5000));
	assert_int_equal(seen->syn_dport, 22);
	close(cs);
}

/* tftp=DIR, bootfile=, tftp-server-name= (for -boot n): the DHCP offer
 * names the boot file and server, TFTP serves the file from DIR and
 * nothing outside it. Before these options vmm refused them. */
static void test_tftp_and_bootfile(void **state)
{
	char dir[] = "/tmp/vmm-tftp-XXXXXX", path[64], err[256];
	static const char content[] = "VMM-TFTP-PAYLOAD #!ipxe chain marker";
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/boot.ipxe", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);

	struct net_user_config c = { 0 };
	assert_int_equal(net_user_option(&c, "tftp", dir, err, sizeof(err)), 1);
	assert_int_equal(net_user_option(&c, "bootfile", "boot.ipxe", err, sizeof(err)), 1);
	assert_int_equal(net_user_option(&c, "tftp-server-name", "pxe.example", err, sizeof(err)),
			 1);
	struct seen *seen;
	struct net_backend *b = start(&c, &seen);

	send_dhcp_discover(b);
	assert_true(wait_for(seen, dhcp_replies, 3000));
	pthread_mutex_lock(&seen->lock);
	assert_string_equal(seen->dhcp_file, "boot.ipxe");
	assert_string_equal(seen->dhcp_tftp_server, "pxe.example");
	pthread_mutex_unlock(&seen->lock);

	send_arp_request(b); /* slirp learns the guest's MAC */
	assert_true(wait_for(seen, arp_replies, 2000));
	send_tftp_rrq(b, "boot.ipxe");
	assert_true(wait_for(seen, tftp_replies, 3000));
	pthread_mutex_lock(&seen->lock);
	assert_int_equal(seen->tftp_opcode, 3); /* DATA */
	assert_int_equal(seen->tftp_block, 1);
	assert_int_equal(seen->tftp_len, strlen(content));
	assert_memory_equal(seen->tftp_data, content, strlen(content));
	seen->tftp_replies = 0;
	pthread_mutex_unlock(&seen->lock);

	/* a name leading out of DIR gets a TFTP error, not the file */
	send_tftp_rrq(b, "../../../etc/passwd");
	assert_true(wait_for(seen, tftp_replies, 3000));
	pthread_mutex_lock(&seen->lock);
	assert_int_equal(seen->tftp_opcode, 5); /* ERROR */
	pthread_mutex_unlock(&seen->lock);

	net_user_clear(&c);
	unlink(path);
	rmdir(dir);
}

static void expect_option_error(const char *k, const char *v, const char *needle)
{
	struct net_user_config c = { 0 };
	char err[256] = "";
	int r = net_user_option(&c, k, v, err, sizeof(err));
	if (r > 0)
		r = net_user_resolve(&c, err, sizeof(err));
	assert_true(r < 0);
	net_user_clear(&c);
	if (!strstr(err, needle))
		fail_msg("%s=%s: '%s' lacks '%s'", k, v, err, needle);
}

/* smb=DIR: a guest's connection to 10.0.2.4:445 (or smbserver=) runs the
 * smbd program, here a stand-in that leaves a mark (the real smbd and its
 * answers: tests/fw/test_smb.py). */
static bool smb_connection_runs_smbd(const char *server, const char *extra_key,
				     const char *extra_value)
{
	char script[64], mark[64], err[256];
	snprintf(script, sizeof(script), "/tmp/vmm-slirp-smbd-%d.sh", getpid());
	snprintf(mark, sizeof(mark), "/tmp/vmm-slirp-smbd-%d.mark", getpid());
	unlink(mark);
	FILE *f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\ntouch %s\n", mark);
	fclose(f);
	chmod(script, 0700);
	setenv("VMM_SMBD", script, 1);

	struct net_user_config c = { 0 };
	assert_int_equal(net_user_option(&c, "smb", "/tmp", err, sizeof(err)), 1);
	if (extra_key)
		assert_int_equal(net_user_option(&c, extra_key, extra_value, err, sizeof(err)), 1);
	struct seen *seen;
	struct net_backend *b = start(&c, &seen);
	send_arp_request(b);
	assert_true(wait_for(seen, arp_replies, 2000));
	send_syn(b, server, 445);
	/* slirp connects to the launcher once the handshake completes */
	if (wait_for(seen, tcp_syn_ack, 2000))
		send_tcp(b, server, 445, 0x10 /* ACK */, seen_count(seen, &seen->syn_ack_seq) + 1);
	bool ran = false;
	for (int i = 0; i < 500 && !ran; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		ran = access(mark, F_OK) == 0;
	}
	net_stop(b);
	net_destroy(b);
	free(seen); /* ends the launcher, removes its directory */
	net_user_clear(&c);
	unlink(mark);
	unlink(script);
	unsetenv("VMM_SMBD");
	return ran;
}

static void test_smb_share(void **state)
{
	assert_true(smb_connection_runs_smbd("10.0.2.4", NULL, NULL));
	assert_true(smb_connection_runs_smbd("10.0.2.9", "smbserver", "10.0.2.9"));
	/* not on another address */
	assert_false(smb_connection_runs_smbd("10.0.2.5", NULL, NULL));
}

static void test_options(void **state)
{
	struct net_user_config c = { 0 };
	char err[256];
	/* Defaults: QEMU's addresses. */
	assert_int_equal(net_user_resolve(&c, err, sizeof(err)), 0);
	assert_int_equal(ntohl(c.net), 0x0A000200);
	assert_int_equal(ntohl(c.mask), 0xFFFFFF00);
	assert_int_equal(ntohl(c.host), 0x0A000202);
	assert_int_equal(ntohl(c.dns), 0x0A000203);
	assert_int_equal(ntohl(c.dhcp_start), 0x0A00020F);
	assert_int_equal(c.ipv4, NET_ON);
	assert_int_equal(c.ipv6, NET_OFF);
	assert_false(c.restrict_guest);
	/* net= derives the others; masks either way. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(net_user_option(&c, "net", "192.168.76.9/255.255.255.0", err, 256), 1);
	assert_int_equal(net_user_resolve(&c, err, sizeof(err)), 0);
	assert_int_equal(ntohl(c.net), 0xC0A84C00);
	assert_int_equal(ntohl(c.host), 0xC0A84C02);
	assert_int_equal(ntohl(c.dhcp_start), 0xC0A84C0F);
	memset(&c, 0, sizeof(c));
	assert_int_equal(net_user_option(&c, "net", "172.16.0.0/12", err, 256), 1);
	assert_int_equal(net_user_option(&c, "ipv6", "on", err, 256), 1);
	assert_int_equal(net_user_option(&c, "ipv6-net", "fd00:1:2::/48", err, 256), 1);
	assert_int_equal(net_user_option(&c, "dnssearch", "a.example", err, 256), 1);
	assert_int_equal(net_user_option(&c, "dnssearch", "b.example", err, 256), 1);
	assert_int_equal(net_user_option(&c, "nosuch", "1", err, 256), 0);
	assert_int_equal(net_user_resolve(&c, err, sizeof(err)), 0);
	assert_int_equal(c.ndnssearch, 2);
	assert_int_equal(c.ipv6_host.s6_addr[15], 2);
	assert_int_equal(c.ipv6_prefix_len, 48);
	net_user_clear(&c);
	/* A name given twice: the last counts, the first is not leaked (LSan). */
	assert_int_equal(net_user_option(&c, "hostname", "first", err, 256), 1);
	assert_int_equal(net_user_option(&c, "hostname", "second", err, 256), 1);
	assert_int_equal(net_user_option(&c, "bootfile", "a.ipxe", err, 256), 1);
	assert_int_equal(net_user_option(&c, "bootfile", "b.ipxe", err, 256), 1);
	assert_string_equal(c.hostname, "second");
	assert_string_equal(c.bootfile, "b.ipxe");
	net_user_clear(&c);
	/* Bad values, one clear reason each. */
	expect_option_error("restrict", "maybe", "expected on or off");
	expect_option_error("net", "10.0.2.0/31", "1 to 30 bits");
	expect_option_error("net", "10.0.0.0/255.0.255.0", "1 to 30 bits");
	expect_option_error("net", "10.9.8.0/28", "dhcpstart"); /* .15 is the broadcast */
	expect_option_error("host", "10.0.3.2", "not an address of the guest network");
	expect_option_error("dns", "10.0.2.2", "must differ");
	expect_option_error("dhcpstart", "nonsense", "expected an IPv4 address");
	expect_option_error("ipv6-net", "fd00::/127", "at most 126");
	expect_option_error("ipv6-host", "fd00::2", "without ipv6=on");
	expect_option_error("hostname", "a-name-much-longer-than-thirty-two-characters", "1 to 32");
	expect_option_error("domainname", "", "1 to 253");
	expect_option_error("tftp", "/nonexistent/vmm-tftp", "No such file");
	expect_option_error("tftp", "/dev/null", "not a directory");
	expect_option_error("tftp", "", "expected a directory");
	char longname[200];
	memset(longname, 'b', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	expect_option_error("bootfile", longname, "1 to 127"); /* BOOTP's file field */
	expect_option_error("tftp-server-name", "", "1 to 255");
	expect_option_error("smb", "/nonexistent/vmm-smb", "No such file");
	expect_option_error("smb", "/dev/null", "not a directory");
	expect_option_error("smbserver", "10.0.2.4", "needs smb=DIR");
	memset(&c, 0, sizeof(c));
	net_user_option(&c, "smb", "/tmp", err, 256);
	assert_int_equal(net_user_resolve(&c, err, sizeof(err)), 0);
	assert_int_equal(ntohl(c.smb_server), 0x0A000204); /* QEMU's 10.0.2.4 */
	assert_true(net_user_option(&c, "smbserver", "10.0.3.4", err, 256) > 0);
	assert_true(net_user_resolve(&c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "smbserver 10.0.3.4 must be an address of the guest network"));
	net_user_option(&c, "smbserver", "10.0.2.3", err, 256);
	assert_true(net_user_resolve(&c, err, sizeof(err)) < 0); /* the DNS */
	net_user_clear(&c);
	memset(&c, 0, sizeof(c));
	net_user_option(&c, "ipv4", "off", err, 256);
	net_user_option(&c, "ipv6", "off", err, 256);
	assert_true(net_user_resolve(&c, err, sizeof(err)) < 0);
}

/* ---- saved state (issue 18) ---- */

static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };

/* The last octet of the address slirp offers 'mac' (DHCPDISCOVER). */
static unsigned offered(struct net_backend *b, struct seen *seen, const uint8_t *mac)
{
	unsigned before = seen_count(seen, &seen->dhcp_replies);
	send_dhcp_discover_from(b, mac);
	for (int i = 0; i < 300 && seen_count(seen, &seen->dhcp_replies) == before; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&seen->lock);
	assert_int_equal(seen->dhcp_replies, before + 1);
	assert_memory_equal(seen->dhcp_yiaddr, "\x0a\x00\x02", 3);
	unsigned last = seen->dhcp_yiaddr[3];
	pthread_mutex_unlock(&seen->lock);
	return last;
}

/* A stream of one backend's state (net_save_state), finished. */
static void save_backend(struct net_backend *b, const char *id, struct ss_writer *w)
{
	ss_writer_init(w);
	net_save_state(b, w, id);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* The guest on backend A got 10.0.2.15; the state moves to B (the
 * destination's, started with the same options): there the same MAC keeps
 * .15 and another gets .16. Without the state B would offer .15 to the
 * first MAC that asks (checked on a third backend). */
static void test_state_moves_dhcp_leases(void **state)
{
	struct net_user_config ca = { 0 }, cb = { 0 }, cc = { 0 };
	struct seen *sa, *sb, *sc;
	struct net_backend *a = start(&ca, &sa);
	struct ss_writer w;
	struct ss_reader r;
	uint32_t version;

	assert_int_equal(offered(a, sa, guest_mac), 15);
	save_backend(a, "net0", &w);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	struct net_backend *b = start(&cb, &sb);
	/* versioned, keyed by the netdev id */
	assert_true(ss_section_open(&r, "slirp.net0", 0, 1, 1, &version));
	ss_reader_close(&r);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(net_load_state(b, &r, "net0"));
	assert_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);
	assert_int_equal(offered(b, sb, other_mac), 16);
	assert_int_equal(offered(b, sb, guest_mac), 15);
	struct net_backend *c = start(&cc, &sc);
	assert_int_equal(offered(c, sc, other_mac), 15);
	ss_writer_free(&w);
	net_destroy(a);
	net_destroy(b);
	net_destroy(c);
	free(sa); /* their threads have ended */
	free(sb);
	free(sc);
}

/* A section of version 1 with these fields. */
static void craft(struct ss_writer *w, const char *name, uint32_t section_version,
		  uint32_t slirp_version, const uint8_t *st, size_t len)
{
	ss_writer_init(w);
	ss_section_begin(w, name, 0, section_version);
	ss_put_u32(w, "libslirp-version", slirp_version);
	ss_put_bytes(w, "state", st, len);
	ss_section_end(w);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* What the destination refuses, with one line naming the section; a
 * stream without the section (from before the backend saved state)
 * leaves the backend as it was. */
static void test_state_refusals(void **state)
{
	struct net_user_config c = { 0 };
	struct seen *seen;
	struct net_backend *a = start(&c, &seen), *b;
	struct seen *seen_a = seen;
	struct ss_writer good, w;
	struct ss_reader r, gr;
	const struct ss_section *sec;
	uint8_t st[4096];
	size_t len;

	save_backend(a, "net0", &good);
	assert_int_equal(ss_reader_open(&gr, good.buf, good.len), 0);
	assert_true(ss_section_open(&gr, "slirp.net0", 0, 1, 1, NULL));
	uint32_t v;
	ss_get_u32(&gr, "libslirp-version", &v);
	ss_get_bytes_max(&gr, "state", st, sizeof(st), &len);
	assert_true(ss_section_close(&gr));
	ss_reader_close(&gr);
	assert_true(len > 1 && st[0] == 0 && v >= 1);

	b = start(&c, &seen);
	static const struct {
		const char *name;
		uint32_t section_version;
		int64_t slirp_version; /* -1: as saved */
		int first, extra; /* first byte (-1: as saved), bytes added */
		const char *expect;
	} cases[] = {
		{ "slirp.net0", 1, 1000, -1, 0, "libslirp state version 1000, this libslirp loads 1 to" },
		{ "slirp.net0", 1, 0, -1, 0, "libslirp state version 0" },
		{ "slirp.net0", 2, -1, -1, 0, "slirp.net0" },
		{ "slirp.net0", 1, -1, 42, 0, "guestfwd" },
		{ "slirp.net0", 1, -1, -1, 1, "1 bytes after libslirp's state" },
		{ "slirp.net0", 1, -1, -1, -1, "libslirp's state is truncated" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t bad[4097];
		size_t n = len + (size_t)cases[i].extra;
		memcpy(bad, st, len);
		bad[len] = 0;
		if (cases[i].first >= 0)
			bad[0] = (uint8_t)cases[i].first;
		craft(&w, cases[i].name, cases[i].section_version,
		      cases[i].slirp_version < 0 ? v : (uint32_t)cases[i].slirp_version, bad, n);
		assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
		if (net_load_state(b, &r, "net0"))
			fail_msg("case %u: loaded", i);
		if (!strstr(r.err, cases[i].expect) || strchr(r.err, '\n'))
			fail_msg("case %u: '%s' lacks '%s'", i, r.err, cases[i].expect);
		ss_reader_close(&r);
		ss_writer_free(&w);
	}
	/* The empty state too. */
	craft(&w, "slirp.net0", 1, v, st, 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(net_load_state(b, &r, "net0"));
	assert_non_null(strstr(r.err, "empty"));
	ss_reader_close(&r);
	ss_writer_free(&w);
	/* Another netdev's section: this backend's load leaves it alone and
	 * the machine finds it unclaimed (its one-line refusal). */
	assert_int_equal(ss_reader_open(&r, good.buf, good.len), 0);
	assert_true(net_load_state(b, &r, "other"));
	sec = ss_unclaimed_section(&r);
	assert_non_null(sec);
	assert_string_equal(sec->name, "slirp.net0");
	ss_reader_close(&r);
	ss_writer_free(&good);
	net_destroy(a);
	net_destroy(b);
	free(seen_a);
	free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_default_reaches_host_loopback),
		cmocka_unit_test(test_restrict_blocks_host_loopback),
		cmocka_unit_test(test_host_loopback_off),
		cmocka_unit_test(test_restrict_keeps_hostfwd),
		cmocka_unit_test(test_tftp_and_bootfile),
		cmocka_unit_test(test_smb_share),
		cmocka_unit_test(test_state_moves_dhcp_leases),
		cmocka_unit_test(test_state_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
