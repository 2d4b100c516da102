// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "tap" network backend: a Linux tap interface (/dev/net/tun,
 * IFF_TAP | IFF_NO_PI), as QEMU's -netdev tap. With IFF_VNET_HDR every
 * frame on the descriptor is preceded by a virtio-net header (12 bytes,
 * TUNSETVNETHDRSZ), so partial checksums and TSO pass between the guest
 * and the host kernel untouched; TUNSETOFFLOAD tells the kernel which of
 * them the guest's driver accepts on receive.
 *
 * Threads: the NIC's I/O thread writes (non-blocking: a full queue drops
 * the frame, as a NIC does). virtio-net's I/O thread also reads (recv),
 * when the descriptor turns readable and the guest has buffers: one
 * thread then carries both directions, as QEMU's main loop, with no
 * hand-off per frame. For the other NICs a "tap" thread reads and hands
 * frames over; when the NIC has no room it keeps the frame and waits for
 * net_rx_ready() (an eventfd). Either way, a guest without buffers leaves
 * frames in the kernel's queue, which fills, and TCP slows down instead
 * of losing frames.
 *
 * With vhost=on the backend also holds a /dev/vhost-net (include/
 * vhost_net.h). While the NIC lends the descriptor to the kernel's data
 * path, the tap thread sleeps on a condition variable and does not touch
 * the descriptor: the kernel's worker alone reads and writes it.
 *
 * queues=N opens the interface N times with IFF_MULTI_QUEUE: one backend
 * per descriptor, each with its own thread (and vhost-net), linked through
 * next_queue. The kernel spreads received flows over the queues that are
 * attached (TUNSETQUEUE); a detached descriptor's thread sleeps as it
 * does for a lent one.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "sandbox.h"
#include "vhost_net.h"

#define TAP_HDR_SIZE 12 /* struct virtio_net_hdr_mrg_rxbuf; num_buffers unused */
#define DEFAULT_IFUP "/etc/qemu-ifup"
#define DEFAULT_IFDOWN "/etc/qemu-ifdown"
#define MAX_TAPS 16 /* as many as -netdev backends (MAX_NETDEVS, include/machine.h) */
#define TAP_MAX_IOV 1023 /* a frame's pieces in one writev (IOV_MAX, with the header) */

struct tap_backend {
	struct net_backend base;
	int fd, wake_fd;
	bool vnet_hdr;
	char ifname[IFNAMSIZ];
	pid_t down_helper; /* runs the downscript when down_fd closes; 0: none */
	int down_fd;       /* write end of the helper's pipe */
	pthread_t thread;
	bool attached;
	/* Set once, before the device the thread feeds is freed: the thread
	 * leaves at its next wake (wake_fd is written with it). */
	_Atomic bool stopping;
	struct vhost_net *vhost; /* vhost=on and /dev/vhost-net opened; else NULL */
	/* The descriptor lent to the kernel (net_lend_fd), or a queue
	 * detached: lend_wanted or detached asks the thread to stop reading,
	 * asleep says it has. Under lend_lock. */
	pthread_mutex_t lend_lock;
	pthread_cond_t lend_cond;
	_Atomic bool lend_wanted, detached;
	bool asleep;
	bool multiqueue;
	uint8_t rxbuf[TAP_HDR_SIZE + NET_MAX_FRAME];
	uint64_t tx_dropped;
};

static struct tap_backend *taps[MAX_TAPS];
static unsigned ntaps;

static void put_hdr(uint8_t *p, const struct net_hdr *h)
{
	memset(p, 0, TAP_HDR_SIZE);
	net_hdr_write(p, h);
}

/* Runs 'script ifname' and waits for it, as QEMU does. 0, or -1 with a
 * reason. A close-on-exec pipe carries exec's errno back. */
static int run_script(const char *script, const char *ifname, char *err, size_t errlen)
{
	int status, pfd[2], e = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot fork for %s: %s", script, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		/* The script must not hold the tap or any other of our descriptors. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != pfd[1])
				close(fd);
		execl(script, script, ifname, (char *)NULL);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0) {
			/* the parent then reports a failed script */
		}
		_exit(127);
	}
	close(pfd[1]);
	ssize_t n;
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "waiting for %s: %s", script, strerror(errno));
			return -1;
		}
	}
	if (n == (ssize_t)sizeof(e)) {
		snprintf(err, errlen, "could not launch network script %s: %s", script, strerror(e));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(err, errlen, "network script %s failed with status %d", script,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return -1;
	}
	return 0;
}

static bool no_script(const char *s)
{
	return !s[0] || !strcmp(s, "no");
}

/* The downscript helper: a child forked at set-up, while vmm may still
 * fork and exec, that waits for EOF on a pipe and then runs the downscript.
 * vmm itself never needs execve at run time, so the sandbox can forbid it;
 * the helper keeps the identity vmm had before -runas, so the script can
 * still take the interface down; and it runs even if vmm is killed. */
static void __attribute__((noreturn)) downscript_helper(int rfd, const char *script,
							 const char *ifname)
{
	char err[256], c;
	ssize_t n;

	/* Nothing of vmm's (the tap, /dev/kvm, images) stays open here. */
	if (rfd > 3)
		close_range(3, (unsigned)rfd - 1, 0);
	close_range((unsigned)rfd + 1, ~0U, 0);
	do
		n = read(rfd, &c, 1);
	while (n > 0 || (n < 0 && errno == EINTR));
	if (run_script(script, ifname, err, sizeof(err)) < 0)
		warn("-netdev tap: %s", err);
	_exit(0);
}

static int start_downscript_helper(struct tap_backend *b, const char *script, char *err,
				   size_t errlen)
{
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot fork for %s: %s", script, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0)
		downscript_helper(pfd[0], script, b->ifname);
	close(pfd[0]);
	b->down_helper = pid;
	b->down_fd = pfd[1];
	return 0;
}

void net_tap_shutdown(void)
{
	for (unsigned i = 0; i < ntaps; i++) {
		struct tap_backend *b = taps[i];
		if (!b->down_helper)
			continue;
		/* EOF starts the script; waiting keeps QEMU's order (the
		 * script has run when vmm exits). */
		close(b->down_fd);
		while (waitpid(b->down_helper, NULL, 0) < 0 && errno == EINTR)
			;
		b->down_helper = 0;
	}
}

static void at_exit(void)
{
	net_tap_shutdown();
}

static bool must_sleep(struct tap_backend *b)
{
	return atomic_load(&b->lend_wanted) || atomic_load(&b->detached);
}

/* Tap thread: while the descriptor is lent or detached, sleep here
 * without touching it. */
static void sleep_while_unused(struct tap_backend *b)
{
	pthread_mutex_lock(&b->lend_lock);
	b->asleep = true;
	pthread_cond_broadcast(&b->lend_cond);
	while (must_sleep(b) && !atomic_load(&b->stopping))
		pthread_cond_wait(&b->lend_cond, &b->lend_lock);
	b->asleep = false;
	pthread_mutex_unlock(&b->lend_lock);
}

/* Returns once the tap thread sleeps (or has not started). */
static void wait_asleep(struct tap_backend *b)
{
	pthread_mutex_lock(&b->lend_lock);
	while (b->attached && !b->asleep && !atomic_load(&b->stopping))
		pthread_cond_wait(&b->lend_cond, &b->lend_lock);
	pthread_mutex_unlock(&b->lend_lock);
}

/* Wakes the thread if nothing keeps it asleep any more. */
static void wake_from_sleep(struct tap_backend *b)
{
	pthread_mutex_lock(&b->lend_lock);
	pthread_cond_broadcast(&b->lend_cond);
	pthread_mutex_unlock(&b->lend_lock);
}

static int tap_rx_fd(struct net_backend *nb)
{
	return ((struct tap_backend *)nb)->fd;
}

/* The next frame on the descriptor, read into rxbuf; NULL when none waits
 * (or the read failed: the next frame's readiness tries again). */
static uint8_t *tap_recv(struct net_backend *nb, struct net_hdr *h, size_t *len)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	unsigned hlen = b->vnet_hdr ? TAP_HDR_SIZE : 0;

	for (;;) {
		ssize_t n = read(b->fd, b->rxbuf, sizeof(b->rxbuf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				warn("tap %s: read: %s", b->ifname, strerror(errno));
			return NULL;
		}
		if ((size_t)n < hlen + NET_MIN_FRAME)
			continue;
		*h = (struct net_hdr){ 0 };
		if (hlen)
			net_hdr_read(b->rxbuf, h);
		*len = (size_t)n - hlen;
		return b->rxbuf + hlen;
	}
}

/* Waits for the NIC to make room (net_rx_ready), a second at most. */
static void wait_for_room(struct tap_backend *b)
{
	struct pollfd w = { .fd = b->wake_fd, .events = POLLIN };
	uint64_t v;

	if (poll(&w, 1, 1000) > 0 && read(b->wake_fd, &v, sizeof(v)) < 0) {
		/* already drained */
	}
}

static void *tap_thread(void *opaque)
{
	struct tap_backend *b = opaque;
	struct pollfd pfd[2] = {
		{ .fd = b->fd, .events = POLLIN },
		{ .fd = b->wake_fd, .events = POLLIN },
	};

	sandbox_thread_start(SANDBOX_NET);

	while (!atomic_load(&b->stopping)) {
		if (must_sleep(b)) {
			sleep_while_unused(b);
			continue;
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno != EINTR)
				warn("tap %s: poll: %s", b->ifname, strerror(errno));
			continue;
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t v;
			if (read(b->wake_fd, &v, sizeof(v)) < 0) {
				/* already drained */
			}
		}
		if (!(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		while (!atomic_load(&b->stopping) && !must_sleep(b)) {
			struct net_hdr h;
			size_t len;
			uint8_t *frame = tap_recv(&b->base, &h, &len);
			if (!frame)
				break;
			/* NIC full: wait for room, then offer it again. A frame
			 * held when the descriptor is lent is lost, as on a wire. */
			while (!atomic_load(&b->stopping) && !must_sleep(b) &&
			       !b->base.rx(b->base.rx_opaque, &h, frame, len))
				wait_for_room(b);
		}
	}
	return NULL;
}

static int tap_attach(struct net_backend *nb)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	if (pthread_create(&b->thread, NULL, tap_thread, b))
		return -EAGAIN;
	b->attached = true;
	return 0;
}

/* The header (unless vnet_hdr=off), then the frame's pieces (for
 * virtio-net the guest's buffers: the kernel copies them once, and vmm
 * not at all), in one writev. EAGAIN: the interface's queue is full; the
 * frame is lost, as on a wire. */
static void tap_sendv(struct net_backend *nb, const struct net_hdr *hdr, const struct iovec *iov,
		      unsigned n)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	struct iovec all[TAP_MAX_IOV + 1];
	uint8_t h[TAP_HDR_SIZE];

	if (n > TAP_MAX_IOV) {
		b->tx_dropped++;
		return;
	}
	put_hdr(h, hdr);
	all[0] = (struct iovec){ .iov_base = h, .iov_len = sizeof(h) };
	memcpy(all + 1, iov, n * sizeof(*iov));
	if (writev(b->fd, b->vnet_hdr ? all : all + 1, b->vnet_hdr ? (int)n + 1 : (int)n) < 0)
		b->tx_dropped++;
}

static void tap_send(struct net_backend *nb, const struct net_hdr *hdr, const uint8_t *frame,
		     size_t len)
{
	const struct iovec one = { .iov_base = (void *)frame, .iov_len = len };
	tap_sendv(nb, hdr, &one, 1);
}

static void tap_set_offload(struct net_backend *nb, bool csum, bool tso4, bool tso6, bool ecn)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	unsigned f = 0;

	if (!b->vnet_hdr)
		return;
	if (csum) {
		f |= TUN_F_CSUM;
		if (tso4)
			f |= TUN_F_TSO4;
		if (tso6)
			f |= TUN_F_TSO6;
		if ((tso4 || tso6) && ecn)
			f |= TUN_F_TSO_ECN;
	}
	if (ioctl(b->fd, TUNSETOFFLOAD, f) < 0)
		warn("tap %s: TUNSETOFFLOAD %#x: %s", b->ifname, f, strerror(errno));
}

static void tap_rx_ready(struct net_backend *nb)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	uint64_t one = 1;
	if (write(b->wake_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the thread */
	}
}

/* The card is about to be freed: no frame may reach it after this
 * returns (the thread is joined, also when it waits for room). */
static void tap_stop(struct net_backend *nb)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	if (!b->attached)
		return;
	atomic_store(&b->stopping, true);
	tap_rx_ready(nb);
	pthread_mutex_lock(&b->lend_lock);
	pthread_cond_broadcast(&b->lend_cond);
	pthread_mutex_unlock(&b->lend_lock);
	pthread_join(b->thread, NULL);
	b->attached = false;
}

static struct vhost_net *tap_vhost(struct net_backend *nb)
{
	return ((struct tap_backend *)nb)->vhost;
}

/* Returns once the tap thread sleeps (or has not started): from then on
 * only the borrower uses the descriptor. */
static int tap_lend_fd(struct net_backend *nb)
{
	struct tap_backend *b = (struct tap_backend *)nb;

	atomic_store(&b->lend_wanted, true);
	tap_rx_ready(nb);
	wait_asleep(b);
	return b->fd;
}

static void tap_reclaim_fd(struct net_backend *nb)
{
	struct tap_backend *b = (struct tap_backend *)nb;

	atomic_store(&b->lend_wanted, false);
	wake_from_sleep(b);
}

/* The thread sleeps before the queue is detached and wakes after it is
 * attached again: it never polls a detached descriptor (which stays
 * idle). A failed detach leaves the thread reading, as the kernel still
 * steers flows to the queue. */
static int tap_enable_queue(struct net_backend *nb, bool on)
{
	struct tap_backend *b = (struct tap_backend *)nb;
	struct ifreq ifr = { .ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };
	int r = 0;

	if (!b->multiqueue || atomic_load(&b->detached) == !on)
		return 0;
	if (!on) {
		atomic_store(&b->detached, true);
		tap_rx_ready(nb);
		wait_asleep(b);
	}
	if (ioctl(b->fd, TUNSETQUEUE, &ifr) < 0) {
		r = -errno;
		warn("tap %s: %s a queue: %s", b->ifname, on ? "attaching" : "detaching",
		     strerror(errno));
	}
	if (on == (r == 0)) {
		atomic_store(&b->detached, false);
		wake_from_sleep(b);
	}
	return r;
}

static const struct net_backend_ops tap_ops = {
	.rx_fd = tap_rx_fd,
	.recv = tap_recv,
	.vhost = tap_vhost,
	.lend_fd = tap_lend_fd,
	.reclaim_fd = tap_reclaim_fd,
	.enable_queue = tap_enable_queue,
	.attach = tap_attach,
	.stop = tap_stop,
	.send = tap_send,
	.sendv = tap_sendv,
	.set_offload = tap_set_offload,
	.rx_ready = tap_rx_ready,
};

/* Opens /dev/net/tun and attaches it to 'name' (empty: a new tapN). */
static int tap_open(const char *name, bool vnet_hdr, bool multiqueue, char *ifname, char *err,
		    size_t errlen)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open /dev/net/tun: %s%s", strerror(errno),
			 errno == EACCES || errno == EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
		return -1;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0) |
			(multiqueue ? IFF_MULTI_QUEUE : 0);
	if (name)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		const char *why = e == EBUSY ? " (in use by another process?)"
				  : e == EPERM ? " (needs CAP_NET_ADMIN, or a persistent tap owned by this user)"
				  : e == EINVAL ? (multiqueue ? " (not a tap interface, or one opened "
						    "without multiqueue?)" : " (not a tap interface?)")
				  : "";
		snprintf(err, errlen, "ifname=%s: cannot attach: %s%s", name ? name : "(new)",
			 strerror(e), why);
		close(fd);
		return -1;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* vhost=on: the kernel's data path when it can be had; else one line and
 * vmm's own path, as the guest sees the same card either way. It needs the
 * virtio-net header on the descriptor (the kernel passes it through). */
static void open_vhost(struct tap_backend *b, const struct net_tap_config *cfg)
{
	char why[256];

	if (!b->vnet_hdr) {
		warn("-netdev tap: vhost=on needs vnet_hdr=on; using vmm's own data path");
		return;
	}
	b->vhost = vhost_net_open(cfg->vhostfd, why, sizeof(why));
	if (!b->vhost)
		warn("-netdev tap: vhost=on: %s; using vmm's own data path", why);
}

/* The header size, no receive offloads yet, non-blocking. 0, or -1 with
 * a reason. */
static int tap_prepare_fd(int fd, bool vnet_hdr, const char *ifname, char *err, size_t errlen)
{
	if (vnet_hdr) {
		int sz = TAP_HDR_SIZE;
		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
			snprintf(err, errlen, "%s: cannot set the vnet header: %s", ifname,
				 strerror(errno));
			return -1;
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: O_NONBLOCK: %s", ifname, strerror(errno));
		return -1;
	}
	return 0;
}

/* fd=N (libvirt): the descriptor is already attached; take what it was
 * opened with. Its descriptor, or -1 with a reason. */
static int tap_adopt(const struct net_tap_config *cfg, bool *vnet_hdr, char *ifname, char *err,
		     size_t errlen)
{
	struct ifreq ifr = { 0 };

	if (ioctl(cfg->fd, TUNGETIFF, &ifr) < 0) {
		snprintf(err, errlen, "fd=%d is not a tap descriptor: %s", cfg->fd, strerror(errno));
		return -1;
	}
	if (!(ifr.ifr_flags & IFF_TAP)) {
		snprintf(err, errlen, "fd=%d is a tun (layer 3) device, not a tap", cfg->fd);
		return -1;
	}
	/* The header is a property of the descriptor: it cannot be turned
	 * off here. */
	if ((ifr.ifr_flags & IFF_VNET_HDR) && !*vnet_hdr) {
		snprintf(err, errlen, "fd=%d was opened with IFF_VNET_HDR; vnet_hdr=off cannot apply",
			 cfg->fd);
		return -1;
	}
	*vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	if (fcntl(cfg->fd, F_SETFD, FD_CLOEXEC) < 0) {
		/* harmless: only scripts could inherit it */
	}
	return cfg->fd;
}

static struct tap_backend *tap_backend_new(int fd, bool vnet_hdr, bool multiqueue,
					   const char *ifname, const struct net_tap_config *cfg)
{
	struct tap_backend *b = xzalloc(sizeof(*b));

	b->base.ops = &tap_ops;
	b->base.caps = vnet_hdr ? NET_CAP_OFFLOAD : 0;
	b->fd = fd;
	b->vnet_hdr = vnet_hdr;
	b->multiqueue = multiqueue;
	snprintf(b->ifname, sizeof(b->ifname), "%s", ifname);
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wake_fd < 0)
		die_errno("eventfd");
	pthread_mutex_init(&b->lend_lock, NULL);
	pthread_cond_init(&b->lend_cond, NULL);
	if (cfg->vhost)
		open_vhost(b, cfg);
	return b;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		close(fds[k]);
}

/* After a failed set-up; vmm exits on it, so the vhost handles go with it. */
static void free_backends(struct tap_backend **b, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		close(b[k]->wake_fd);
		free(b[k]);
	}
}

struct net_backend *net_tap_create(const struct net_tap_config *cfg, char *err, size_t errlen)
{
	struct tap_backend *b[NET_MAX_QUEUES];
	char ifname[IFNAMSIZ] = "";
	int fds[NET_MAX_QUEUES];
	unsigned nq = cfg->queues > 1 ? cfg->queues : 1, opened = 0;
	bool vnet_hdr = !cfg->no_vnet_hdr, multiqueue = nq > 1;

	if (ntaps == MAX_TAPS) {
		snprintf(err, errlen, "at most %d tap backends", MAX_TAPS);
		return NULL;
	}
	if (cfg->ifname && strlen(cfg->ifname) >= IFNAMSIZ) {
		snprintf(err, errlen, "ifname=%s: longer than %d characters", cfg->ifname,
			 IFNAMSIZ - 1);
		return NULL;
	}
	if (nq > NET_MAX_QUEUES) {
		snprintf(err, errlen, "queues=%u: at most %d", nq, NET_MAX_QUEUES);
		return NULL;
	}
	if (multiqueue && (cfg->fd >= 0 || cfg->vhostfd >= 0)) {
		snprintf(err, errlen, "queues=%u: not with fd= or vhostfd= (one descriptor each)", nq);
		return NULL;
	}
	if (cfg->fd >= 0) {
		fds[opened] = tap_adopt(cfg, &vnet_hdr, ifname, err, errlen);
		if (fds[opened] < 0)
			return NULL;
		opened++;
	}
	/* The first open names the interface; the others join it. */
	for (; opened < nq; opened++) {
		fds[opened] = tap_open(opened ? ifname : cfg->ifname, vnet_hdr, multiqueue, ifname,
				       err, errlen);
		if (fds[opened] < 0)
			goto fail;
	}
	for (unsigned k = 0; k < nq; k++)
		if (tap_prepare_fd(fds[k], vnet_hdr, ifname, err, errlen) < 0)
			goto fail;
	if (cfg->fd < 0) {
		const char *up = cfg->script ? cfg->script : DEFAULT_IFUP;
		if (!no_script(up) && run_script(up, ifname, err, errlen) < 0)
			goto fail;
	}
	for (unsigned k = 0; k < nq; k++)
		b[k] = tap_backend_new(fds[k], vnet_hdr, multiqueue, ifname, cfg);
	for (unsigned k = 0; k + 1 < nq; k++)
		b[k]->base.next_queue = &b[k + 1]->base;
	/* Only the first queue carries frames until a NIC turns more on: a
	 * card without queues of its own reads only that one. */
	for (unsigned k = 1; k < nq; k++)
		if (tap_enable_queue(&b[k]->base, false) < 0) {
			snprintf(err, errlen, "%s: cannot detach queue %u of %u", ifname, k, nq);
			free_backends(b, nq);
			goto fail;
		}
	if (cfg->fd < 0) {
		const char *down = cfg->downscript ? cfg->downscript : DEFAULT_IFDOWN;
		if (!no_script(down) && start_downscript_helper(b[0], down, err, errlen) < 0) {
			free_backends(b, nq);
			goto fail;
		}
	}
	if (ntaps == 0)
		atexit(at_exit);
	taps[ntaps++] = b[0];
	return &b[0]->base;
fail:
	if (cfg->fd < 0)
		close_fds(fds, opened);
	return NULL;
}
