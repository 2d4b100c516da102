// SPDX-License-Identifier: GPL-2.0-or-later
/* The event loop: fd handlers, timers on both clocks, the paused virtual
 * clock, cross-thread posts, poll sources. Most tests drive a fake host
 * clock so that what fires is exact; a few use the real one to prove the
 * loop really sleeps and wakes. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "event.h"

#define MS 1000000LL

struct fx {
	struct event_loop *loop;
	int64_t fake_ns;
	int order[16];
	int norder;
};

static int64_t fake_now(void *opaque)
{
	return ((struct fx *)opaque)->fake_ns;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	x->loop = event_loop_new();
	assert_non_null(x->loop);
	x->fake_ns = 1000 * MS;
	event_loop_set_host_clock(x->loop, fake_now, x);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	event_loop_free(x->loop);
	free(x);
	return 0;
}

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fd handlers -------------------------------------------------------- */

struct fd_seen {
	int calls;
	unsigned revents;
	struct event_fd *self;
	bool remove_self;
};

static void on_fd(void *opaque, int fd, unsigned revents)
{
	struct fd_seen *s = opaque;
	char buf[16];
	s->calls++;
	s->revents = revents;
	if (revents & POLLIN)
		(void)!read(fd, buf, sizeof(buf));
	if (s->remove_self)
		event_fd_remove(s->self);
}

static void test_fd_read_write_readiness(void **state)
{
	struct fx *x = *state;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	struct fd_seen rd = { 0 }, wr = { 0 };
	struct event_fd *hr = event_fd_add(x->loop, p[0], POLLIN, on_fd, &rd);
	struct event_fd *hw = event_fd_add(x->loop, p[1], 0, on_fd, &wr);
	assert_non_null(hr);
	assert_non_null(hw);

	/* Nothing readable: nothing runs. */
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(rd.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(rd.calls, 1);
	assert_true(rd.revents & POLLIN);
	/* Drained by the handler: not reported again. */
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);

	/* Write readiness only once asked for. */
	assert_int_equal(wr.calls, 0);
	assert_int_equal(event_fd_set_events(hw, POLLOUT), 0);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(wr.calls, 1);
	assert_true(wr.revents & POLLOUT);
	assert_int_equal(event_fd_set_events(hw, 0), 0);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);

	/* Input waiting but not asked for: held back. */
	assert_int_equal(event_fd_set_events(hr, 0), 0);
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(event_fd_set_events(hr, POLLIN), 0);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(rd.calls, 2);

	/* A hang-up comes without being asked for. */
	event_fd_remove(hw);
	close(p[1]);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_true(rd.revents & POLLHUP);
	event_fd_remove(hr);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	close(p[0]);
}

static void test_fd_remove_inside_callbacks(void **state)
{
	struct fx *x = *state;
	int a[2], b[2];
	assert_int_equal(pipe2(a, O_NONBLOCK), 0);
	assert_int_equal(pipe2(b, O_NONBLOCK), 0);
	struct fd_seen sa = { .remove_self = true }, sb = { .remove_self = true };
	sa.self = event_fd_add(x->loop, a[0], POLLIN, on_fd, &sa);
	sb.self = event_fd_add(x->loop, b[0], POLLIN, on_fd, &sb);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* Both ready in one batch; each removes itself (freed at the round's end). */
	assert_int_equal(event_loop_run_once(x->loop, 0), 2);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(sa.calls + sb.calls, 2);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

static void test_fd_regular_file_is_always_ready(void **state)
{
	struct fx *x = *state;
	char path[] = "/tmp/vmm-test-event-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	struct fd_seen s = { 0 };
	/* epoll refuses regular files; poll() calls them ready, so does the loop. */
	struct event_fd *h = event_fd_add(x->loop, fd, POLLIN, on_fd, &s);
	assert_non_null(h);
	assert_int_equal(event_loop_run_once(x->loop, -1), 1); /* does not sleep */
	assert_int_equal(s.revents, POLLIN);
	assert_int_equal(event_fd_set_events(h, 0), 0);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	event_fd_remove(h);
	close(fd);
	/* A closed descriptor is an error, not a handler. */
	errno = 0;
	assert_null(event_fd_add(x->loop, fd, POLLIN, on_fd, &s));
	assert_int_equal(errno, EBADF);
}

/* ---- timers --------------------------------------------------------------- */

struct tick {
	struct fx *x;
	int id;
	int calls;
	struct event_timer *t;
	bool cancel_self;
};

static void on_tick(void *opaque)
{
	struct tick *k = opaque;
	k->calls++;
	if (k->x->norder < 16)
		k->x->order[k->x->norder++] = k->id;
	if (k->cancel_self)
		event_timer_cancel(k->t);
}

static void test_timer_order(void **state)
{
	struct fx *x = *state;
	struct tick k[5];
	int64_t base = event_clock_ns(x->loop, EVENT_CLOCK_HOST);
	static const int64_t at[5] = { 30, 10, 20, 20, 5 };
	for (int i = 0; i < 5; i++) {
		k[i] = (struct tick){ .x = x, .id = i };
		k[i].t = event_timer_new(x->loop, i == 4 ? EVENT_CLOCK_VIRTUAL : EVENT_CLOCK_HOST,
					 on_tick, &k[i]);
	}
	int64_t vbase = event_clock_ns(x->loop, EVENT_CLOCK_VIRTUAL);
	for (int i = 0; i < 4; i++)
		event_timer_arm(k[i].t, base + at[i] * MS, 0);
	event_timer_arm(k[4].t, vbase + at[4] * MS, 0); /* the virtual clock interleaves */

	x->fake_ns += 9 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(x->norder, 1);
	assert_int_equal(x->order[0], 4);
	x->fake_ns += 100 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 4);
	/* By deadline; equal deadlines in the order they were armed. */
	assert_int_equal(x->norder, 5);
	assert_int_equal(x->order[1], 1);
	assert_int_equal(x->order[2], 2);
	assert_int_equal(x->order[3], 3);
	assert_int_equal(x->order[4], 0);
	for (int i = 0; i < 5; i++) {
		assert_false(event_timer_armed(k[i].t));
		event_timer_free(k[i].t);
	}
}

static void test_periodic_timer_skips_missed_ticks(void **state)
{
	struct fx *x = *state;
	struct tick k = { .x = x };
	k.t = event_timer_new(x->loop, EVENT_CLOCK_HOST, on_tick, &k);
	event_timer_arm_in(k.t, 10 * MS, 10 * MS);
	for (int i = 1; i <= 3; i++) {
		x->fake_ns += 10 * MS;
		assert_int_equal(event_loop_run_once(x->loop, 0), 1);
		assert_int_equal(k.calls, i);
	}
	/* A round 35 ms late (three and a half periods): one call, not four,
	 * and the next tick stays on the 10 ms grid. */
	x->fake_ns += 35 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(k.calls, 4);
	x->fake_ns += 4 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	x->fake_ns += 1 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(k.calls, 5);
	assert_true(event_timer_armed(k.t));
	event_timer_free(k.t);
}

static void test_cancel_and_rearm(void **state)
{
	struct fx *x = *state;
	struct tick a = { .x = x, .id = 1 }, b = { .x = x, .id = 2, .cancel_self = true };
	a.t = event_timer_new(x->loop, EVENT_CLOCK_HOST, on_tick, &a);
	b.t = event_timer_new(x->loop, EVENT_CLOCK_HOST, on_tick, &b);

	event_timer_arm_in(a.t, 10 * MS, 0);
	event_timer_cancel(a.t);
	assert_false(event_timer_armed(a.t));
	x->fake_ns += 20 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);

	/* Re-arming replaces the deadline: earlier and later. */
	event_timer_arm_in(a.t, 10 * MS, 0);
	event_timer_arm_in(a.t, 30 * MS, 0);
	x->fake_ns += 10 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	event_timer_arm_in(a.t, 5 * MS, 0);
	x->fake_ns += 5 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(a.calls, 1);
	x->fake_ns += 100 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);

	/* A periodic timer that cancels itself in its callback stops. */
	event_timer_arm_in(b.t, 1 * MS, 1 * MS);
	x->fake_ns += 1 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	x->fake_ns += 10 * MS;
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(b.calls, 1);
	event_timer_free(a.t);
	event_timer_free(b.t);
}

static void test_paused_virtual_clock(void **state)
{
	struct fx *x = *state;
	struct tick v = { .x = x, .id = 1 }, h = { .x = x, .id = 2 };
	v.t = event_timer_new(x->loop, EVENT_CLOCK_VIRTUAL, on_tick, &v);
	h.t = event_timer_new(x->loop, EVENT_CLOCK_HOST, on_tick, &h);
	event_timer_arm_in(v.t, 10 * MS, 10 * MS);
	event_timer_arm_in(h.t, 10 * MS, 10 * MS);

	x->fake_ns += 5 * MS;
	event_clock_pause(x->loop);
	event_clock_pause(x->loop); /* idempotent */
	assert_true(event_clock_paused(x->loop));
	int64_t frozen = event_clock_ns(x->loop, EVENT_CLOCK_VIRTUAL);
	/* A second of pause: the host timer runs on, the virtual one does not. */
	for (int i = 0; i < 100; i++) {
		x->fake_ns += 10 * MS;
		event_loop_run_once(x->loop, 0);
	}
	assert_int_equal(v.calls, 0);
	assert_int_equal(h.calls, 100);
	assert_int_equal(event_clock_ns(x->loop, EVENT_CLOCK_VIRTUAL), frozen);

	/* Resumed: no jump, no burst of the missed ticks. */
	event_clock_resume(x->loop);
	assert_false(event_clock_paused(x->loop));
	assert_int_equal(event_clock_ns(x->loop, EVENT_CLOCK_VIRTUAL), frozen);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	x->fake_ns += 4 * MS;
	event_loop_run_once(x->loop, 0);
	assert_int_equal(v.calls, 0);
	x->fake_ns += 1 * MS; /* 10 ms of virtual time since arming */
	event_loop_run_once(x->loop, 0);
	assert_int_equal(v.calls, 1);
	x->fake_ns += 10 * MS;
	event_loop_run_once(x->loop, 0);
	assert_int_equal(v.calls, 2);
	assert_int_equal(event_clock_ns(x->loop, EVENT_CLOCK_VIRTUAL), frozen + 15 * MS);
	event_timer_free(v.t);
	event_timer_free(h.t);
}

/* The real clock: a paused loop really sleeps through its virtual timers. */
static void test_paused_clock_real_time(void **state)
{
	struct fx *x = *state;
	event_loop_set_host_clock(x->loop, NULL, NULL);
	struct tick v = { .x = x };
	v.t = event_timer_new(x->loop, EVENT_CLOCK_VIRTUAL, on_tick, &v);
	event_timer_arm_in(v.t, 20 * MS, 20 * MS);
	event_clock_pause(x->loop);
	int64_t start = real_ms();
	while (real_ms() - start < 100)
		event_loop_run_once(x->loop, 10 * MS);
	assert_int_equal(v.calls, 0);
	event_clock_resume(x->loop);
	/* 100 ms of pause owed five ticks; resuming delivers none of them at
	 * once: the first comes 20 ms of running time after arming. */
	event_loop_run_once(x->loop, 0);
	assert_int_equal(v.calls, 0);
	start = real_ms();
	while (v.calls == 0 && real_ms() - start < 2000)
		event_loop_run_once(x->loop, -1);
	assert_int_equal(v.calls, 1);
	event_timer_free(v.t);
}

static void test_nanosecond_timer_wakes_the_loop(void **state)
{
	struct fx *x = *state;
	event_loop_set_host_clock(x->loop, NULL, NULL);
	struct tick k = { .x = x };
	k.t = event_timer_new(x->loop, EVENT_CLOCK_HOST, on_tick, &k);
	int64_t armed = event_clock_ns(x->loop, EVENT_CLOCK_HOST);
	event_timer_arm(k.t, armed + 1500000, 0); /* 1.5 ms: below epoll's ms */
	while (k.calls == 0)
		assert_true(event_loop_run_once(x->loop, -1) >= 0);
	assert_true(event_clock_ns(x->loop, EVENT_CLOCK_HOST) >= armed + 1500000);
	event_timer_free(k.t);
}

/* ---- other threads --------------------------------------------------------- */

#define POSTERS 4
#define POSTS_EACH 500

struct post_fx {
	struct event_loop *loop;
	_Atomic int done;
	int last[POSTERS];
	int count;
	bool out_of_order;
};

struct post_msg {
	struct post_fx *p;
	int thread, seq;
};

static void on_post(void *opaque)
{
	struct post_msg *m = opaque;
	if (m->seq != m->p->last[m->thread] + 1)
		m->p->out_of_order = true;
	m->p->last[m->thread] = m->seq;
	m->p->count++;
	free(m);
}

static void *poster(void *arg)
{
	struct post_msg *first = arg;
	struct post_fx *p = first->p;
	int thread = first->thread;
	free(first);
	for (int seq = 1; seq <= POSTS_EACH; seq++) {
		struct post_msg *m = malloc(sizeof(*m));
		*m = (struct post_msg){ p, thread, seq };
		while (event_post(p->loop, on_post, m) == -EAGAIN)
			sched_yield(); /* bounded: wait for the loop */
	}
	p->done++;
	return NULL;
}

static void test_cross_thread_posts(void **state)
{
	struct fx *x = *state;
	struct post_fx p = { .loop = x->loop };
	pthread_t th[POSTERS];
	event_loop_set_host_clock(x->loop, NULL, NULL);
	for (int i = 0; i < POSTERS; i++) {
		struct post_msg *m = malloc(sizeof(*m));
		*m = (struct post_msg){ &p, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, poster, m), 0);
	}
	int64_t start = real_ms();
	while (p.count < POSTERS * POSTS_EACH && real_ms() - start < 20000)
		assert_true(event_loop_run_once(x->loop, -1) >= 0);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(p.count, POSTERS * POSTS_EACH);
	assert_false(p.out_of_order);
}

static void count_post(void *opaque) { (*(int *)opaque)++; }

static void test_post_queue_is_bounded(void **state)
{
	struct fx *x = *state;
	int n = 0;
	for (int i = 0; i < EVENT_POST_MAX; i++)
		assert_int_equal(event_post(x->loop, count_post, &n), 0);
	assert_int_equal(event_post(x->loop, count_post, &n), -EAGAIN);
	assert_int_equal(event_loop_run_once(x->loop, -1), EVENT_POST_MAX);
	assert_int_equal(n, EVENT_POST_MAX);
	assert_int_equal(event_post(x->loop, count_post, &n), 0);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
}

struct arm_later {
	struct event_timer *t;
	struct event_loop *loop;
};

static void *arm_from_thread(void *arg)
{
	struct arm_later *a = arg;
	struct timespec ts = { 0, 20 * MS };
	nanosleep(&ts, NULL);
	event_timer_arm_in(a->t, 5 * MS, 0); /* wakes the sleeping loop */
	return NULL;
}

static void test_timer_armed_from_another_thread(void **state)
{
	struct fx *x = *state;
	event_loop_set_host_clock(x->loop, NULL, NULL);
	struct tick k = { .x = x };
	k.t = event_timer_new(x->loop, EVENT_CLOCK_VIRTUAL, on_tick, &k);
	struct arm_later a = { k.t, x->loop };
	pthread_t th;
	int64_t start = real_ms();
	assert_int_equal(pthread_create(&th, NULL, arm_from_thread, &a), 0);
	while (k.calls == 0 && real_ms() - start < 5000)
		event_loop_run_once(x->loop, -1); /* no timer armed when it starts */
	pthread_join(th, NULL);
	assert_int_equal(k.calls, 1);
	assert_true(real_ms() - start >= 25);
	event_timer_free(k.t);
}

static void *quit_later(void *arg)
{
	struct timespec ts = { 0, 10 * MS };
	nanosleep(&ts, NULL);
	event_loop_quit(arg);
	return NULL;
}

static void test_quit_from_another_thread(void **state)
{
	struct fx *x = *state;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, quit_later, x->loop), 0);
	event_loop_run(x->loop); /* nothing registered: returns only on quit */
	pthread_join(th, NULL);
}

/* ---- poll sources ------------------------------------------------------------ */

struct src_fx {
	int fd[2];     /* descriptors offered, -1 = none */
	short ev[2];
	int handled;
	short seen[2];
};

static int src_fill(void *opaque, struct pollfd *fds, int max)
{
	struct src_fx *s = opaque;
	int n = 0;
	for (int i = 0; i < 2 && n < max; i++)
		if (s->fd[i] >= 0)
			fds[n++] = (struct pollfd){ .fd = s->fd[i], .events = s->ev[i] };
	return n;
}

static void src_handle(void *opaque, const struct pollfd *fds, int n)
{
	struct src_fx *s = opaque;
	char buf[16];
	s->handled++;
	s->seen[0] = s->seen[1] = 0;
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < 2; j++)
			if (fds[i].fd == s->fd[j])
				s->seen[j] = fds[i].revents;
		if (fds[i].revents & POLLIN)
			(void)!read(fds[i].fd, buf, sizeof(buf));
	}
}

static void test_poll_source_follows_fill(void **state)
{
	struct fx *x = *state;
	int a[2], b[2];
	assert_int_equal(pipe2(a, O_NONBLOCK), 0);
	assert_int_equal(pipe2(b, O_NONBLOCK), 0);
	struct src_fx s = { .fd = { a[0], -1 }, .ev = { POLLIN, 0 } };
	struct event_source *src = event_source_add(x->loop, 2, src_fill, src_handle, &s);

	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(s.seen[0], POLLIN);

	/* Back-pressure: fill stops asking for input, the data waits. */
	s.ev[0] = 0;
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	s.ev[0] = POLLIN;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);

	/* A second descriptor appears, the first goes. */
	s.fd[1] = b[1];
	s.ev[1] = POLLOUT;
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(s.seen[1], POLLOUT);
	s.fd[0] = -1;
	s.ev[1] = 0;
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);

	/* Its descriptor closed and the number reused by a new pipe between
	 * rounds: the new one is watched. */
	s.fd[1] = -1;
	close(a[0]);
	close(a[1]);
	assert_int_equal(pipe2(a, O_NONBLOCK), 0);
	s.fd[0] = a[0];
	s.ev[0] = POLLIN;
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(s.seen[0], POLLIN);

	event_source_remove(src);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

/* The control channels' case: inside handle(), one client's descriptor is
 * closed and the next accept gets the same number, asked for with the same
 * events. The kernel dropped the registration with the old file, so the
 * loop must register the number again (a regression: the monitor stopped
 * being served under hostile QMP clients). */
struct reuse_fx {
	int rd, wr;   /* the pipe offered */
	bool reopen;  /* handle() closes it and opens a new one on the same number */
	int handled;
};

static int reuse_fill(void *opaque, struct pollfd *fds, int max)
{
	struct reuse_fx *r = opaque;
	fds[0] = (struct pollfd){ .fd = r->rd, .events = POLLIN };
	return 1;
}

static void reuse_handle(void *opaque, const struct pollfd *fds, int n)
{
	struct reuse_fx *r = opaque;
	char buf[16];
	r->handled++;
	(void)!read(r->rd, buf, sizeof(buf));
	if (r->reopen) {
		int old = r->rd, p[2];
		close(r->rd);
		close(r->wr);
		assert_int_equal(pipe2(p, O_NONBLOCK), 0);
		assert_int_equal(p[0], old); /* the lowest free number: the same */
		r->rd = p[0];
		r->wr = p[1];
		r->reopen = false;
	}
}

static void test_poll_source_fd_reused_inside_handle(void **state)
{
	struct fx *x = *state;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	struct reuse_fx r = { .rd = p[0], .wr = p[1], .reopen = true };
	struct event_source *src = event_source_add(x->loop, 1, reuse_fill, reuse_handle, &r);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(write(r.wr, "x", 1), 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 1); /* closes and reopens */
	assert_int_equal(r.handled, 1);
	assert_int_equal(event_loop_run_once(x->loop, 0), 0);
	assert_int_equal(write(r.wr, "y", 1), 1); /* into the new pipe */
	assert_int_equal(event_loop_run_once(x->loop, 0), 1);
	assert_int_equal(r.handled, 2);
	event_source_remove(src);
	close(r.rd);
	close(r.wr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fd_read_write_readiness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_remove_inside_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_regular_file_is_always_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_timer_skips_missed_ticks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_virtual_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_clock_real_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nanosecond_timer_wakes_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cross_thread_posts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_queue_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_armed_from_another_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit_from_another_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_source_follows_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_source_fd_reused_inside_handle, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
