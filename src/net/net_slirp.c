// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "user" network backend on libslirp. libslirp is not thread-safe: one
 * mutex covers every call into it. Its own thread polls slirp's sockets
 * (and an eventfd to be woken), runs slirp's timers, and hands the frames
 * slirp emits to the NIC's receive callback (which must not call back into
 * the backend).
 *
 * libslirp is loaded with dlopen() when the first user backend is created
 * (lazylib.h), not linked: it pulls in glib, pcre2 and libm, whose loading,
 * relocation and constructors cost about 1.1 MiB of resident memory (and
 * start-up time) in every vmm process, also in those with no user network.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "lazylib.h"
#include "savestate.h"
#include "util.h"
#include "sandbox.h"
#include "smb_share.h"

#define MAX_POLLFDS 256
#define MAX_TIMERS 16

struct slirp_timer {
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	bool used;
};

struct slirp_backend {
	struct net_backend base;
	Slirp *slirp;
	pthread_mutex_t lock;
	pthread_t thread;
	int wake_fd;
	atomic_bool wake_pending; /* wake_fd written since the thread last woke */
	atomic_bool stopping;     /* destroy: the thread ends at its next wake-up */
	bool thread_started;
	struct pollfd pfd[MAX_POLLFDS + 1];
	unsigned npfd;
	struct slirp_timer timers[MAX_TIMERS];
	struct smb_share smb; /* smb=: the smbd launcher, if any */
};

/* The libslirp entry points vmm uses, resolved by lazylib_load(). */
static struct {
	__typeof__(slirp_new) *new_;
	__typeof__(slirp_cleanup) *cleanup;
	__typeof__(slirp_add_hostfwd) *add_hostfwd;
	__typeof__(slirp_add_unix) *add_unix;
	__typeof__(slirp_input) *input;
	__typeof__(slirp_pollfds_fill) *pollfds_fill;
	__typeof__(slirp_pollfds_poll) *pollfds_poll;
	__typeof__(slirp_state_save) *state_save;
	__typeof__(slirp_state_load) *state_load;
	__typeof__(slirp_state_version) *state_version;
} lib;

static const struct lazysym libslirp_syms[] = {
	{ "slirp_new", (void **)&lib.new_ },
	{ "slirp_cleanup", (void **)&lib.cleanup },
	{ "slirp_add_hostfwd", (void **)&lib.add_hostfwd },
	{ "slirp_add_unix", (void **)&lib.add_unix }, /* libslirp 4.7 */
	{ "slirp_input", (void **)&lib.input },
	{ "slirp_pollfds_fill", (void **)&lib.pollfds_fill },
	{ "slirp_pollfds_poll", (void **)&lib.pollfds_poll },
	{ "slirp_state_save", (void **)&lib.state_save },
	{ "slirp_state_load", (void **)&lib.state_load },
	{ "slirp_state_version", (void **)&lib.state_version },
	{ NULL, NULL },
};
static struct lazylib libslirp = LAZYLIB_INIT("libslirp.so.0", libslirp_syms);

int net_parse_hostfwd(const char *s, struct net_hostfwd *out, char *err, size_t errlen)
{
	char buf[128], *p, *hostpart, *guestpart, *colon;
	unsigned long port;
	struct in_addr a;

	memset(out, 0, sizeof(*out));
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	p = buf;
	if (!strncmp(p, "tcp:", 4)) {
		p += 4;
	} else if (!strncmp(p, "udp:", 4)) {
		out->udp = true;
		p += 4;
	} else if (*p == ':') {
		p++;
	} else {
		goto bad;
	}
	hostpart = p;
	guestpart = strchr(p, '-');
	if (!guestpart)
		goto bad;
	*guestpart++ = 0;
	/* hostaddr:hostport */
	colon = strchr(hostpart, ':');
	if (!colon)
		goto bad;
	*colon = 0;
	if (*hostpart) {
		if (!inet_aton(hostpart, &a))
			goto bad;
		out->host_addr = a.s_addr;
	}
	port = strtoul(colon + 1, &p, 10);
	if (p == colon + 1 || *p || port == 0 || port > 65535)
		goto bad;
	out->host_port = (uint16_t)port;
	/* [guestaddr]:guestport */
	colon = strchr(guestpart, ':');
	if (!colon)
		goto bad;
	*colon = 0;
	if (*guestpart) {
		if (!inet_aton(guestpart, &a))
			goto bad;
		out->guest_addr = a.s_addr;
	}
	port = strtoul(colon + 1, &p, 10);
	if (p == colon + 1 || *p || port == 0 || port > 65535)
		goto bad;
	out->guest_port = (uint16_t)port;
	return 0;
bad:
	snprintf(err, errlen, "hostfwd=%s: expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport",
		 s);
	return -1;
}

/* ---- -netdev user options ---------------------------------------------------- */

static int parse_onoff(const char *key, const char *v, bool *out, char *err, size_t errlen)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "y")) {
		*out = true;
	} else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") ||
		   !strcmp(v, "n")) {
		*out = false;
	} else {
		snprintf(err, errlen, "%s=%s: expected on or off", key, v);
		return -1;
	}
	return 1;
}

static int parse_ipv4(const char *key, const char *v, uint32_t *out, char *err, size_t errlen)
{
	struct in_addr a;
	if (!inet_pton(AF_INET, v, &a) || a.s_addr == 0) {
		snprintf(err, errlen, "%s=%s: expected an IPv4 address", key, v);
		return -1;
	}
	*out = a.s_addr;
	return 1;
}

/* net=ADDR[/MASK]: MASK a prefix length or a dotted mask, default /24. */
static int parse_ipv4_net(const char *v, struct net_user_config *c, char *err, size_t errlen)
{
	char addr[64];
	const char *slash = strchr(v, '/');
	unsigned long bits = 24;
	uint32_t mask;

	if (strlen(v) >= sizeof(addr))
		goto bad;
	snprintf(addr, sizeof(addr), "%.*s", slash ? (int)(slash - v) : (int)strlen(v), v);
	if (parse_ipv4("net", addr, &c->net, err, errlen) < 0)
		return -1;
	if (slash && strchr(slash + 1, '.')) {
		struct in_addr m;
		if (!inet_pton(AF_INET, slash + 1, &m))
			goto bad;
		mask = ntohl(m.s_addr);
		bits = (unsigned long)__builtin_popcount(mask);
		if (bits < 1 || bits > 30 || mask != 0xFFFFFFFFu << (32 - bits))
			goto bad; /* not a contiguous mask */
	} else if (slash) {
		char *end;
		bits = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end)
			goto bad;
	}
	if (bits < 1 || bits > 30)
		goto bad;
	c->mask = htonl(0xFFFFFFFFu << (32 - bits));
	c->net &= c->mask;
	return 1;
bad:
	snprintf(err, errlen, "net=%s: expected ADDRESS[/PREFIX-LENGTH|/MASK], 1 to 30 bits", v);
	return -1;
}

static int parse_ipv6(const char *key, const char *v, struct in6_addr *out, bool *given,
		      char *err, size_t errlen)
{
	if (!inet_pton(AF_INET6, v, out)) {
		snprintf(err, errlen, "%s=%s: expected an IPv6 address", key, v);
		return -1;
	}
	*given = true;
	return 1;
}

static int parse_ipv6_net(const char *v, struct net_user_config *c, char *err, size_t errlen)
{
	char addr[64];
	const char *slash = strchr(v, '/');
	unsigned long len = 64;

	if (strlen(v) >= sizeof(addr))
		goto bad;
	snprintf(addr, sizeof(addr), "%.*s", slash ? (int)(slash - v) : (int)strlen(v), v);
	if (!inet_pton(AF_INET6, addr, &c->ipv6_net))
		goto bad;
	if (slash) {
		char *end;
		len = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end || len > 126)
			goto bad;
	}
	c->ipv6_prefix_len = (uint8_t)len;
	c->ipv6_net_given = true;
	return 1;
bad:
	snprintf(err, errlen, "ipv6-net=%s: expected ADDRESS[/PREFIX-LENGTH], at most 126 bits", v);
	return -1;
}

static int parse_name(const char *key, const char *v, size_t max, const char **out, char *err,
		      size_t errlen)
{
	if (!*v || strlen(v) > max) {
		snprintf(err, errlen, "%s=%s: 1 to %zu characters", key, v, max);
		return -1;
	}
	free((char *)*out); /* the option given again: the last one counts */
	*out = xstrdup(v);
	return 1;
}

/* tftp=DIR, smb=DIR: an existing directory, kept as an absolute path
 * (libslirp opens the files by name on its thread, after -daemonize's
 * chdir; smbd runs in its own directory). */
static int parse_dir(const char *key, const char *v, const char **out, char *err, size_t errlen)
{
	struct stat st;
	char *abs;

	if (!*v) {
		snprintf(err, errlen, "%s=: expected a directory", key);
		return -1;
	}
	abs = realpath(v, NULL);
	if (!abs || stat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s=%s: %s", key, v, abs ? "not a directory" : strerror(errno));
		free(abs);
		return -1;
	}
	free((char *)*out);
	*out = abs;
	return 1;
}

int net_user_option(struct net_user_config *c, const char *k, const char *v, char *err,
		    size_t errlen)
{
	bool on;
	int r;

	if (!strcmp(k, "restrict"))
		return parse_onoff(k, v, &c->restrict_guest, err, errlen);
	if (!strcmp(k, "host-loopback")) {
		r = parse_onoff(k, v, &on, err, errlen);
		c->no_host_loopback = !on;
		return r;
	}
	if (!strcmp(k, "ipv4") || !strcmp(k, "ipv6")) {
		r = parse_onoff(k, v, &on, err, errlen);
		*(k[3] == '4' ? &c->ipv4 : &c->ipv6) = on ? NET_ON : NET_OFF;
		return r;
	}
	if (!strcmp(k, "net"))
		return parse_ipv4_net(v, c, err, errlen);
	if (!strcmp(k, "host"))
		return parse_ipv4(k, v, &c->host, err, errlen);
	if (!strcmp(k, "dhcpstart"))
		return parse_ipv4(k, v, &c->dhcp_start, err, errlen);
	if (!strcmp(k, "dns"))
		return parse_ipv4(k, v, &c->dns, err, errlen);
	if (!strcmp(k, "ipv6-net") || !strcmp(k, "ipv6-prefix"))
		return parse_ipv6_net(v, c, err, errlen);
	if (!strcmp(k, "ipv6-host"))
		return parse_ipv6(k, v, &c->ipv6_host, &c->ipv6_host_given, err, errlen);
	if (!strcmp(k, "ipv6-dns"))
		return parse_ipv6(k, v, &c->ipv6_dns, &c->ipv6_dns_given, err, errlen);
	/* libslirp keeps the DHCP client name in 32 bytes */
	if (!strcmp(k, "hostname"))
		return parse_name(k, v, 32, &c->hostname, err, errlen);
	if (!strcmp(k, "domainname"))
		return parse_name(k, v, 253, &c->domainname, err, errlen);
	if (!strcmp(k, "dnssearch")) {
		if (c->ndnssearch == NET_MAX_DNSSEARCH) {
			snprintf(err, errlen, "dnssearch: at most %d domains", NET_MAX_DNSSEARCH);
			return -1;
		}
		return parse_name(k, v, 253, &c->dnssearch[c->ndnssearch++], err, errlen);
	}
	if (!strcmp(k, "tftp"))
		return parse_dir(k, v, &c->tftp_path, err, errlen);
	if (!strcmp(k, "smb"))
		return parse_dir(k, v, &c->smb_dir, err, errlen);
	if (!strcmp(k, "smbserver"))
		return parse_ipv4(k, v, &c->smb_server, err, errlen);
	/* BOOTP's file field holds 128 bytes with the NUL; DHCP option 66
	 * (the TFTP server's name) at most 255 */
	if (!strcmp(k, "bootfile"))
		return parse_name(k, v, 127, &c->bootfile, err, errlen);
	if (!strcmp(k, "tftp-server-name"))
		return parse_name(k, v, 255, &c->tftp_server_name, err, errlen);
	return 0;
}

void net_user_clear(struct net_user_config *c)
{
	free((char *)c->hostname);
	free((char *)c->domainname);
	for (unsigned i = 0; i < c->ndnssearch; i++)
		free((char *)c->dnssearch[i]);
	c->hostname = c->domainname = NULL;
	c->ndnssearch = 0;
	free((char *)c->tftp_path);
	free((char *)c->bootfile);
	free((char *)c->tftp_server_name);
	c->tftp_path = c->bootfile = c->tftp_server_name = NULL;
	free((char *)c->smb_dir);
	c->smb_dir = NULL;
}

static bool in_net4(uint32_t a, uint32_t net, uint32_t mask)
{
	/* inside, and neither the network nor the broadcast address */
	return (a & mask) == net && a != net && (a | mask) != 0xFFFFFFFFu;
}

static bool in_net6(const struct in6_addr *a, const struct in6_addr *net, unsigned len)
{
	for (unsigned i = 0; i < len; i++) {
		unsigned byte = i / 8, bit = 7 - i % 8;
		if (((a->s6_addr[byte] ^ net->s6_addr[byte]) >> bit) & 1)
			return false;
	}
	return true;
}

static uint32_t net_plus(const struct net_user_config *c, uint32_t n)
{
	return htonl(ntohl(c->net) + n);
}

int net_user_resolve(struct net_user_config *c, char *err, size_t errlen)
{
	bool v4_given = c->net || c->host || c->dhcp_start || c->dns;
	bool v6_given = c->ipv6_net_given || c->ipv6_host_given || c->ipv6_dns_given;

	if (!c->ipv4)
		c->ipv4 = NET_ON;
	if (!c->ipv6)
		c->ipv6 = NET_OFF; /* QEMU turns it on; vmm keeps it opt-in */
	if (c->ipv4 == NET_OFF && c->ipv6 == NET_OFF) {
		snprintf(err, errlen, "ipv4=off and ipv6=off: nothing left to network with");
		return -1;
	}
	if (c->ipv4 == NET_OFF && v4_given) {
		snprintf(err, errlen, "ipv4=off, yet IPv4 addresses were given");
		return -1;
	}
	if (c->ipv6 == NET_OFF && v6_given) {
		snprintf(err, errlen, "IPv6 addresses were given without ipv6=on");
		return -1;
	}
	if (!c->net) {
		c->net = htonl(0x0A000200); /* 10.0.2.0 */
		c->mask = htonl(0xFFFFFF00);
	}
	uint32_t hm = ntohl(c->mask);
	struct { const char *name; uint32_t *addr; uint32_t dflt; } v4[] = {
		{ "host", &c->host, 2 }, { "dns", &c->dns, 3 }, { "dhcpstart", &c->dhcp_start, 15 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(v4); i++) {
		bool derived = !*v4[i].addr;
		if (derived)
			*v4[i].addr = net_plus(c, v4[i].dflt);
		if (!in_net4(ntohl(*v4[i].addr), ntohl(c->net), hm)) {
			char a[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, v4[i].addr, a, sizeof(a));
			snprintf(err, errlen, "%s %s%s is not an address of the guest network",
				 v4[i].name, a, derived ? " (derived from net=)" : "");
			return -1;
		}
	}
	if (c->dns == c->host) {
		snprintf(err, errlen, "dns= must differ from host=");
		return -1;
	}
	if (c->smb_server && !c->smb_dir) {
		snprintf(err, errlen, "smbserver= needs smb=DIR");
		return -1;
	}
	if (c->smb_dir) {
		bool derived = !c->smb_server;
		if (derived)
			c->smb_server = net_plus(c, 4);
		if (!in_net4(ntohl(c->smb_server), ntohl(c->net), hm) ||
		    c->smb_server == c->host || c->smb_server == c->dns) {
			char a[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &c->smb_server, a, sizeof(a));
			snprintf(err, errlen, "smbserver %s%s must be an address of the guest network "
				 "other than host= and dns=", a, derived ? " (derived from net=)" : "");
			return -1;
		}
	}
	if (!c->ipv6_net_given) {
		inet_pton(AF_INET6, "fec0::", &c->ipv6_net);
		c->ipv6_prefix_len = 64;
	}
	struct { const char *name; struct in6_addr *addr; bool given; unsigned dflt; } v6[] = {
		{ "ipv6-host", &c->ipv6_host, c->ipv6_host_given, 2 },
		{ "ipv6-dns", &c->ipv6_dns, c->ipv6_dns_given, 3 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(v6); i++) {
		if (!v6[i].given) {
			*v6[i].addr = c->ipv6_net;
			v6[i].addr->s6_addr[15] |= (uint8_t)v6[i].dflt;
		}
		if (!in_net6(v6[i].addr, &c->ipv6_net, c->ipv6_prefix_len)) {
			snprintf(err, errlen, "%s is not in ipv6-net", v6[i].name);
			return -1;
		}
	}
	return 0;
}

/* ---- slirp callbacks (called with b->lock held) -------------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_backend *b = opaque;
	static const struct net_hdr none;
	/* A full NIC drops the frame: slirp's TCP retransmits. */
	if (b->base.rx)
		b->base.rx(b->base.rx_opaque, &none, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	debug("slirp: guest error: %s", msg);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_backend *b = opaque;
	for (unsigned i = 0; i < MAX_TIMERS; i++) {
		if (!b->timers[i].used) {
			b->timers[i] = (struct slirp_timer){ cb, cb_opaque, -1, true };
			return &b->timers[i];
		}
	}
	warn("slirp: out of timers");
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	if (timer)
		((struct slirp_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	if (timer)
		((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque) { }
static void cb_unregister_poll_fd(int fd, void *opaque) { }

/* Wakes the thread to poll again (slirp has new sockets or data to send).
 * One write per wake-up: a guest sending a burst of frames would otherwise
 * cost an eventfd write, and a thread switch, per frame. */
static void cb_notify(void *opaque)
{
	struct slirp_backend *b = opaque;
	uint64_t one = 1;

	if (atomic_exchange(&b->wake_pending, true))
		return;
	if (write(b->wake_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the thread */
	}
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_backend *b = opaque;
	short ev = 0;

	if (b->npfd == MAX_POLLFDS)
		return -1;
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	b->pfd[b->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)b->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_backend *b = opaque;
	short r;
	int out = 0;

	if (idx < 0 || (unsigned)idx >= b->npfd)
		return 0;
	r = b->pfd[idx].revents;
	if (r & POLLIN)
		out |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		out |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		out |= SLIRP_POLL_PRI;
	if (r & POLLERR)
		out |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		out |= SLIRP_POLL_HUP;
	return out;
}

static void *net_thread(void *opaque)
{
	struct slirp_backend *b = opaque;

	sandbox_thread_start(SANDBOX_NET);

	for (;;) {
		uint32_t timeout = 1000;
		int64_t now_ms = now_ns() / 1000000;

		pthread_mutex_lock(&b->lock);
		/* Expired timers first; then the nearest one bounds the poll. */
		for (unsigned i = 0; i < MAX_TIMERS; i++) {
			struct slirp_timer *t = &b->timers[i];
			if (t->used && t->expire_ms >= 0 && t->expire_ms <= now_ms) {
				t->expire_ms = -1;
				t->cb(t->cb_opaque);
			}
		}
		for (unsigned i = 0; i < MAX_TIMERS; i++) {
			struct slirp_timer *t = &b->timers[i];
			if (t->used && t->expire_ms >= 0)
				timeout = (uint32_t)MIN((int64_t)timeout, MAX(t->expire_ms - now_ms, 0));
		}
		b->npfd = 0;
		lib.pollfds_fill(b->slirp, &timeout, add_poll, b);
		unsigned n = b->npfd;
		b->pfd[n] = (struct pollfd){ .fd = b->wake_fd, .events = POLLIN };
		pthread_mutex_unlock(&b->lock);

		int r = poll(b->pfd, n + 1, (int)timeout);
		if (r < 0 && errno != EINTR)
			warn("slirp: poll: %s", strerror(errno));
		if (b->pfd[n].revents & POLLIN) {
			uint64_t count;
			if (read(b->wake_fd, &count, sizeof(count)) < 0) {
				/* nothing to drain */
			}
		}
		/* After the drain and before slirp runs and the next fill: what
		 * was sent until now is seen by that fill, and a frame sent from
		 * now on wakes us again. */
		atomic_store(&b->wake_pending, false);
		if (atomic_load(&b->stopping)) {
			thread_exit_raw(); /* destroyed, at vmm's exit (util.h) */
			return NULL;
		}
		pthread_mutex_lock(&b->lock);
		lib.pollfds_poll(b->slirp, r < 0, get_revents, b);
		pthread_mutex_unlock(&b->lock);
	}
}

static int slirp_attach(struct net_backend *nb)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	if (pthread_create(&b->thread, NULL, net_thread, b))
		return -EAGAIN;
	b->thread_started = true;
	return 0;
}

static void slirp_stop(struct net_backend *nb)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	uint64_t one = 1;

	if (!b->thread_started)
		return;
	atomic_store(&b->stopping, true);
	if (write(b->wake_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the thread */
	}
	pthread_join(b->thread, NULL);
	b->thread_started = false;
}

/* The NIC is gone: slirp closes its sockets. */
static void slirp_destroy(struct net_backend *nb)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;

	lib.cleanup(b->slirp);
	smb_share_stop(&b->smb);
	close(b->wake_fd);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* The NIC completed any partial checksum: slirp gets whole frames. */
static void slirp_send(struct net_backend *nb, const struct net_hdr *hdr, const uint8_t *frame,
		       size_t len)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	pthread_mutex_lock(&b->lock);
	lib.input(b->slirp, frame, (int)len);
	pthread_mutex_unlock(&b->lock);
	cb_notify(b);
}

/* ---- saved state -----------------------------------------------------------
 *
 * Section "slirp.ID" (version 1): "libslirp-version", the version
 * slirp_state_version() gave at the save, and "state", libslirp's own
 * bytes: its guestfwd sockets (a byte 42 and the socket before each, a 0
 * after the last), then the IP id counter and the DHCP leases (address and
 * MAC of each of its 16 clients). libslirp keeps nothing else: the guest's
 * TCP and UDP connections through the host are not in it (the destination
 * answers their next segments with a reset, as QEMU's). vmm has no
 * guestfwd, so a state whose first byte is not 0 is refused before
 * libslirp parses any socket; the rest is fixed fields, read to the last
 * byte (a shorter or longer state is refused). */
#define SLIRP_SECTION_VERSION 1
#define SLIRP_STATE_MAX 4096u /* libslirp 4.x: 131 bytes without guestfwd */

struct state_buf {
	uint8_t data[SLIRP_STATE_MAX];
	size_t len, pos;
	bool overflow;  /* saving: more than SLIRP_STATE_MAX */
	bool truncated; /* loading: libslirp asked past the end */
};

static ssize_t state_put(const void *buf, size_t len, void *opaque)
{
	struct state_buf *s = opaque;

	if (len > sizeof(s->data) - s->len) {
		s->overflow = true;
		return -1;
	}
	memcpy(s->data + s->len, buf, len);
	s->len += len;
	return (ssize_t)len;
}

static ssize_t state_get(void *buf, size_t len, void *opaque)
{
	struct state_buf *s = opaque;

	if (len > s->len - s->pos) {
		/* libslirp 4.x does not always pass the failure on */
		s->truncated = true;
		return -1;
	}
	memcpy(buf, s->data + s->pos, len);
	s->pos += len;
	return (ssize_t)len;
}

static void slirp_save(struct net_backend *nb, struct ss_writer *w, const char *section)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	struct state_buf *s = xzalloc(sizeof(*s));

	/* the backend's thread runs on: its lock keeps slirp still */
	pthread_mutex_lock(&b->lock);
	lib.state_save(b->slirp, state_put, s);
	int version = lib.state_version();
	pthread_mutex_unlock(&b->lock);
	if (s->overflow)
		ss_writer_fail(w, "%s: libslirp's state is larger than %u bytes", section,
			       SLIRP_STATE_MAX);
	ss_section_begin(w, section, 0, SLIRP_SECTION_VERSION);
	ss_put_u32(w, "libslirp-version", (uint32_t)version);
	ss_put_bytes(w, "state", s->data, s->len);
	ss_section_end(w);
	free(s);
}

static bool section_present(const struct ss_reader *r, const char *section)
{
	for (unsigned i = 0; i < r->nsections; i++)
		if (!strcmp(r->sections[i].name, section) && r->sections[i].instance == 0)
			return true;
	return false;
}

static bool slirp_load(struct net_backend *nb, struct ss_reader *r, const char *section)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	uint32_t version = 0;
	int ours = lib.state_version(), ret;

	if (!section_present(r, section))
		return ss_ok(r); /* a stream from before user networking saved state */
	if (!ss_section_open(r, section, 0, SLIRP_SECTION_VERSION, SLIRP_SECTION_VERSION, NULL))
		return false;
	struct state_buf *s = xzalloc(sizeof(*s));
	ss_get_u32(r, "libslirp-version", &version);
	ss_get_bytes_max(r, "state", s->data, sizeof(s->data), &s->len);
	if (!ss_section_close(r))
		goto out;
	if (version < 1 || version > (uint32_t)ours) {
		ss_fail(r, "saved state: section %s: libslirp state version %u, this libslirp "
			"loads 1 to %d", section, version, ours);
		goto out;
	}
	if (s->len < 1 || s->data[0] != 0) {
		ss_fail(r, "saved state: section %s: %s", section,
			s->len ? "the state holds guestfwd sockets (vmm has no guestfwd)"
			       : "the state is empty");
		goto out;
	}
	pthread_mutex_lock(&b->lock);
	ret = lib.state_load(b->slirp, (int)version, state_get, s);
	pthread_mutex_unlock(&b->lock);
	if (ret < 0)
		ss_fail(r, "saved state: section %s: libslirp refused the state (%s)", section,
			strerror(-ret));
	else if (s->truncated)
		ss_fail(r, "saved state: section %s: libslirp's state is truncated", section);
	else if (s->pos != s->len)
		ss_fail(r, "saved state: section %s: %zu bytes after libslirp's state", section,
			s->len - s->pos);
out:
	free(s);
	return ss_ok(r);
}

static const struct net_backend_ops slirp_ops = {
	.attach = slirp_attach,
	.send = slirp_send,
	.stop = slirp_stop,
	.destroy = slirp_destroy,
	.save = slirp_save,
	.load = slirp_load,
};

/* smb=DIR: the launcher's socket answers the guest's connections to
 * smbserver:445 (the SMB port, as QEMU). */
static int add_smb_share(struct slirp_backend *b, const struct net_user_config *c, char *err,
			 size_t errlen)
{
	struct in_addr server = { .s_addr = c->smb_server };

	if (smb_share_start(&b->smb, c->smb_dir, err, errlen) < 0)
		return -1;
	if (lib.add_unix(b->slirp, b->smb.sock, &server, 445) < 0) {
		snprintf(err, errlen, "smb=: libslirp cannot forward port 445 to smbd");
		smb_share_stop(&b->smb);
		return -1;
	}
	return 0;
}

struct net_backend *net_user_create(const struct net_user_config *given, char *err,
				    size_t errlen)
{
	struct net_user_config c = *given, *cfg = &c;
	/* libslirp reads the search list until a NULL */
	const char *dnssearch[NET_MAX_DNSSEARCH + 1] = { NULL };
	SlirpConfig sc = { .version = 1 };
	char why[160];

	if (net_user_resolve(&c, err, errlen) < 0)
		return NULL;
	if (lazylib_load(&libslirp, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "user networking needs libslirp: %s", why);
		return NULL;
	}
	struct slirp_backend *b = xzalloc(sizeof(*b));

	b->base.ops = &slirp_ops;
	pthread_mutex_init(&b->lock, NULL);
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(b);
		return NULL;
	}
	sc.restricted = c.restrict_guest;
	sc.disable_host_loopback = c.no_host_loopback;
	sc.in_enabled = c.ipv4 == NET_ON;
	sc.vnetwork.s_addr = c.net;
	sc.vnetmask.s_addr = c.mask;
	sc.vhost.s_addr = c.host;
	sc.vdhcp_start.s_addr = c.dhcp_start;
	sc.vnameserver.s_addr = c.dns;
	sc.in6_enabled = c.ipv6 == NET_ON;
	sc.vprefix_addr6 = c.ipv6_net;
	sc.vprefix_len = c.ipv6_prefix_len;
	sc.vhost6 = c.ipv6_host;
	sc.vnameserver6 = c.ipv6_dns;
	sc.vhostname = c.hostname ? c.hostname : "vmm";
	sc.vdomainname = c.domainname;
	for (unsigned i = 0; i < c.ndnssearch; i++)
		dnssearch[i] = c.dnssearch[i];
	sc.vdnssearch = c.ndnssearch ? dnssearch : NULL;
	sc.tftp_path = c.tftp_path;
	sc.bootfile = c.bootfile;
	sc.tftp_server_name = c.tftp_server_name;
	b->slirp = lib.new_(&sc, &callbacks, b);
	if (!b->slirp) {
		snprintf(err, errlen, "libslirp could not start");
		close(b->wake_fd);
		free(b);
		return NULL;
	}
	for (unsigned i = 0; i < cfg->nfwd; i++) {
		const struct net_hostfwd *f = &cfg->fwd[i];
		struct in_addr h = { .s_addr = f->host_addr }, g = { .s_addr = f->guest_addr };
		if (!f->guest_addr)
			g.s_addr = c.dhcp_start; /* the first address DHCP gives */
		if (lib.add_hostfwd(b->slirp, f->udp, h, f->host_port, g, f->guest_port) < 0) {
			snprintf(err, errlen, "hostfwd: cannot listen on %s port %u: %s",
				 f->udp ? "udp" : "tcp", f->host_port, strerror(errno));
			lib.cleanup(b->slirp);
			close(b->wake_fd);
			free(b);
			return NULL;
		}
	}
	if (c.smb_dir && add_smb_share(b, &c, err, errlen) < 0) {
		lib.cleanup(b->slirp);
		close(b->wake_fd);
		free(b);
		return NULL;
	}
	return &b->base;
}
