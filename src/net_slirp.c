// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "user" network backend on libslirp. libslirp is not thread-safe: one
 * mutex covers every call into it. Its own thread polls slirp's sockets
 * (and an eventfd to be woken), runs slirp's timers, and hands the frames
 * slirp emits to the NIC's receive callback (which must not call back into
 * the backend).
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
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "util.h"
#include "sandbox.h"

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
	struct pollfd pfd[MAX_POLLFDS + 1];
	unsigned npfd;
	struct slirp_timer timers[MAX_TIMERS];
};

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
		slirp_pollfds_fill(b->slirp, &timeout, add_poll, b);
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
		pthread_mutex_lock(&b->lock);
		slirp_pollfds_poll(b->slirp, r < 0, get_revents, b);
		pthread_mutex_unlock(&b->lock);
	}
	return NULL;
}

static int slirp_attach(struct net_backend *nb)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	return pthread_create(&b->thread, NULL, net_thread, b) ? -EAGAIN : 0;
}

/* The NIC completed any partial checksum: slirp gets whole frames. */
static void slirp_send(struct net_backend *nb, const struct net_hdr *hdr, const uint8_t *frame,
		       size_t len)
{
	struct slirp_backend *b = (struct slirp_backend *)nb;
	pthread_mutex_lock(&b->lock);
	slirp_input(b->slirp, frame, (int)len);
	pthread_mutex_unlock(&b->lock);
	cb_notify(b);
}

static const struct net_backend_ops slirp_ops = {
	.attach = slirp_attach,
	.send = slirp_send,
};

struct net_backend *net_user_create(const struct net_user_config *cfg, char *err, size_t errlen)
{
	struct slirp_backend *b = xzalloc(sizeof(*b));
	SlirpConfig sc = { .version = 1 };

	b->base.ops = &slirp_ops;
	pthread_mutex_init(&b->lock, NULL);
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(b);
		return NULL;
	}
	sc.in_enabled = true;
	inet_aton("10.0.2.0", &sc.vnetwork);
	inet_aton("255.255.255.0", &sc.vnetmask);
	inet_aton("10.0.2.2", &sc.vhost);
	inet_aton("10.0.2.15", &sc.vdhcp_start);
	inet_aton("10.0.2.3", &sc.vnameserver);
	sc.vhostname = "vmm";
	b->slirp = slirp_new(&sc, &callbacks, b);
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
			inet_aton("10.0.2.15", &g);
		if (slirp_add_hostfwd(b->slirp, f->udp, h, f->host_port, g, f->guest_port) < 0) {
			snprintf(err, errlen, "hostfwd: cannot listen on %s port %u: %s",
				 f->udp ? "udp" : "tcp", f->host_port, strerror(errno));
			slirp_cleanup(b->slirp);
			close(b->wake_fd);
			free(b);
			return NULL;
		}
	}
	return &b->base;
}
