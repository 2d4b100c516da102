// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The event loop (include/event.h): epoll for descriptors, one timerfd set
 * to the earliest timer deadline of either clock, one eventfd that other
 * threads write to when they post work, arm a timer or ask the loop to
 * quit.
 *
 * Handles are never freed inside a round: event_fd_remove marks a handle
 * and unregisters it, and the round's end frees it, so an epoll event
 * already fetched for it, or a list walk in progress, never meets freed
 * memory.
 */
#include "event.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define NSEC 1000000000LL
#define EPOLL_BATCH 64
/* Timer callbacks per round at most: a callback that keeps re-arming its
 * timer in the past cannot hold the loop forever. */
#define TIMER_FIRES_PER_ROUND 1024

struct event_fd {
	struct event_loop *loop;
	int fd;
	unsigned events;
	event_fd_fn *fn;
	void *opaque;
	bool always_ready; /* epoll refuses it (a regular file): poll says ready */
	bool removed;
	struct event_fd *next;
};

struct event_timer {
	struct event_loop *loop;
	enum event_clock clock;
	event_timer_fn *fn;
	void *opaque;
	int64_t deadline, period; /* on the timer's clock; under loop->lock */
	bool armed;
	struct event_timer *next; /* in its clock's list, by deadline */
};

struct event_source {
	struct event_loop *loop;
	int max;
	event_fill_fn *fill;
	event_handle_fn *handle;
	void *opaque;
	struct pollfd *fds;   /* this round's, from fill */
	int n;
	struct event_fd **reg; /* one handle per descriptor of fds[0..n) */
	bool ready, removed;
	bool handled; /* handle() ran since the last fill: it may have closed fds */
	struct event_source *next;
};

struct posted {
	event_post_fn *fn;
	void *opaque;
};

struct event_loop {
	int epoll_fd, timer_fd, wake_fd;
	bool timer_fd_armed;           /* loop thread only */
	struct event_fd *fds;          /* loop thread only */
	struct event_source *sources;  /* loop thread only */

	pthread_mutex_t lock; /* timers, clocks, posts, quit */
	struct event_timer *timers[2];
	int64_t (*host_now)(void *opaque);
	void *host_opaque;
	int64_t virt_offset;  /* virtual = host - offset while running */
	int64_t virt_frozen;  /* virtual time while paused */
	bool paused, quit;
	struct posted posts[EVENT_POST_MAX];
	unsigned post_head, post_count;
};

/* The loop whose round this thread is running, if any: calls from inside
 * a callback need not wake their own loop. */
static __thread struct event_loop *current_loop;

static int64_t monotonic_ns(void *opaque)
{
	(void)opaque;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

static void wake(struct event_loop *loop)
{
	uint64_t one = 1;
	if (current_loop == loop)
		return; /* the round recomputes its wait before sleeping */
	if (write(loop->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the loop is awake anyway */
	}
}

static void drain(int fd)
{
	uint64_t count;
	if (read(fd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing pending */
	}
}

/* ---- loop -------------------------------------------------------------- */

/* The timerfd and the wake eventfd carry these instead of a handle
 * pointer (no allocation sits at address 1 or 2). */
#define TAG_TIMER 1
#define TAG_WAKE  2

static int add_internal(struct event_loop *loop, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

struct event_loop *event_loop_new(void)
{
	struct event_loop *loop = xzalloc(sizeof(*loop));
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epoll_fd < 0 || loop->timer_fd < 0 || loop->wake_fd < 0 ||
	    add_internal(loop, loop->timer_fd, TAG_TIMER) < 0 ||
	    add_internal(loop, loop->wake_fd, TAG_WAKE) < 0) {
		int err = errno;
		event_loop_free(loop);
		errno = err;
		return NULL;
	}
	pthread_mutex_init(&loop->lock, NULL);
	loop->host_now = monotonic_ns;
	return loop;
}

static void sweep_fds(struct event_loop *loop, bool all)
{
	struct event_fd **pp = &loop->fds;
	while (*pp) {
		struct event_fd *h = *pp;
		if (h->removed || all) {
			*pp = h->next;
			free(h);
		} else {
			pp = &h->next;
		}
	}
}

static void sweep_sources(struct event_loop *loop, bool all)
{
	struct event_source **pp = &loop->sources;
	while (*pp) {
		struct event_source *s = *pp;
		if (s->removed || all) {
			*pp = s->next;
			free(s->fds);
			free(s->reg);
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

void event_loop_free(struct event_loop *loop)
{
	if (!loop)
		return;
	sweep_sources(loop, true);
	sweep_fds(loop, true);
	if (loop->host_now) /* set up past the descriptors */
		pthread_mutex_destroy(&loop->lock);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	if (loop->timer_fd >= 0)
		close(loop->timer_fd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	free(loop);
}

void event_loop_quit(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	loop->quit = true;
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
}

void event_loop_run(struct event_loop *loop)
{
	for (;;) {
		pthread_mutex_lock(&loop->lock);
		bool quit = loop->quit;
		loop->quit = false;
		pthread_mutex_unlock(&loop->lock);
		if (quit)
			return;
		int ret = event_loop_run_once(loop, -1);
		if (ret < 0 && ret != -EINTR)
			die("event loop: %s", strerror(-ret));
	}
}

/* ---- clocks -------------------------------------------------------------- */

static int64_t virtual_locked(struct event_loop *loop, int64_t host)
{
	return loop->paused ? loop->virt_frozen : host - loop->virt_offset;
}

int64_t event_clock_ns(struct event_loop *loop, enum event_clock clock)
{
	pthread_mutex_lock(&loop->lock);
	int64_t host = loop->host_now(loop->host_opaque);
	int64_t now = clock == EVENT_CLOCK_HOST ? host : virtual_locked(loop, host);
	pthread_mutex_unlock(&loop->lock);
	return now;
}

void event_clock_pause(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (!loop->paused) {
		loop->virt_frozen = loop->host_now(loop->host_opaque) - loop->virt_offset;
		loop->paused = true;
	}
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
}

void event_clock_resume(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->paused) {
		/* Continue from the frozen value: the pause never happened, as
		 * far as virtual time goes. */
		loop->virt_offset = loop->host_now(loop->host_opaque) - loop->virt_frozen;
		loop->paused = false;
	}
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
}

bool event_clock_paused(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	bool paused = loop->paused;
	pthread_mutex_unlock(&loop->lock);
	return paused;
}

void event_loop_set_host_clock(struct event_loop *loop, int64_t (*now_ns)(void *opaque),
			       void *opaque)
{
	pthread_mutex_lock(&loop->lock);
	int64_t virt = virtual_locked(loop, loop->host_now(loop->host_opaque));
	loop->host_now = now_ns ? now_ns : monotonic_ns;
	loop->host_opaque = opaque;
	/* The virtual clock keeps its reading across the switch. */
	if (!loop->paused)
		loop->virt_offset = loop->host_now(loop->host_opaque) - virt;
	pthread_mutex_unlock(&loop->lock);
}

/* ---- timers ---------------------------------------------------------------- */

struct event_timer *event_timer_new(struct event_loop *loop, enum event_clock clock,
				    event_timer_fn *fn, void *opaque)
{
	struct event_timer *t = xzalloc(sizeof(*t));
	t->loop = loop;
	t->clock = clock;
	t->fn = fn;
	t->opaque = opaque;
	return t;
}

static void unlink_locked(struct event_timer *t)
{
	if (!t->armed)
		return;
	struct event_timer **pp = &t->loop->timers[t->clock];
	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	t->next = NULL;
	t->armed = false;
}

/* Equal deadlines fire in the order they were armed. */
static void insert_locked(struct event_timer *t, int64_t deadline)
{
	struct event_timer **pp = &t->loop->timers[t->clock];
	while (*pp && (*pp)->deadline <= deadline)
		pp = &(*pp)->next;
	t->deadline = deadline;
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

void event_timer_free(struct event_timer *t)
{
	if (!t)
		return;
	event_timer_cancel(t);
	free(t);
}

void event_timer_arm(struct event_timer *t, int64_t deadline_ns, int64_t period_ns)
{
	struct event_loop *loop = t->loop;
	pthread_mutex_lock(&loop->lock);
	unlink_locked(t);
	t->period = period_ns > 0 ? period_ns : 0;
	insert_locked(t, deadline_ns);
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
}

void event_timer_arm_in(struct event_timer *t, int64_t delay_ns, int64_t period_ns)
{
	event_timer_arm(t, event_clock_ns(t->loop, t->clock) + delay_ns, period_ns);
}

void event_timer_cancel(struct event_timer *t)
{
	pthread_mutex_lock(&t->loop->lock);
	unlink_locked(t);
	pthread_mutex_unlock(&t->loop->lock);
}

bool event_timer_armed(struct event_timer *t)
{
	pthread_mutex_lock(&t->loop->lock);
	bool armed = t->armed;
	pthread_mutex_unlock(&t->loop->lock);
	return armed;
}

/* The host time at which the earliest timer is due, INT64_MAX for none.
 * A virtual deadline maps to host time at the current offset, since both
 * clocks advance together while the machine runs. */
static int64_t next_deadline_locked(struct event_loop *loop, int64_t host)
{
	int64_t due = INT64_MAX;
	if (loop->timers[EVENT_CLOCK_HOST])
		due = loop->timers[EVENT_CLOCK_HOST]->deadline;
	if (loop->timers[EVENT_CLOCK_VIRTUAL] && !loop->paused) {
		int64_t v = loop->timers[EVENT_CLOCK_VIRTUAL]->deadline;
		int64_t vnow = virtual_locked(loop, host);
		int64_t h = v <= vnow ? host : host + (v - vnow);
		due = MIN(due, h);
	}
	return due;
}

/* Takes the earliest expired timer off its list and re-arms it if it is
 * periodic (skipping missed ticks); NULL if none is due. */
static struct event_timer *pop_expired_locked(struct event_loop *loop, int64_t host)
{
	int64_t vnow = virtual_locked(loop, host);
	struct event_timer *h = loop->timers[EVENT_CLOCK_HOST];
	struct event_timer *v = loop->paused ? NULL : loop->timers[EVENT_CLOCK_VIRTUAL];
	int64_t h_late = h && h->deadline <= host ? host - h->deadline : -1;
	int64_t v_late = v && v->deadline <= vnow ? vnow - v->deadline : -1;
	if (h_late < 0 && v_late < 0)
		return NULL;
	/* The one due longer ago goes first. */
	struct event_timer *t = h_late >= v_late ? h : v;
	int64_t now = t == h ? host : vnow;
	unlink_locked(t);
	if (t->period) {
		int64_t missed = (now - t->deadline) / t->period;
		insert_locked(t, t->deadline + (missed + 1) * t->period);
	}
	return t;
}

static int fire_timers(struct event_loop *loop)
{
	int fired = 0;
	while (fired < TIMER_FIRES_PER_ROUND) {
		pthread_mutex_lock(&loop->lock);
		struct event_timer *t = pop_expired_locked(loop, loop->host_now(loop->host_opaque));
		event_timer_fn *fn = t ? t->fn : NULL;
		void *opaque = t ? t->opaque : NULL;
		pthread_mutex_unlock(&loop->lock);
		if (!t)
			break;
		fn(opaque);
		fired++;
	}
	return fired;
}

/* ---- posts ----------------------------------------------------------------- */

int event_post(struct event_loop *loop, event_post_fn *fn, void *opaque)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->post_count == EVENT_POST_MAX) {
		pthread_mutex_unlock(&loop->lock);
		return -EAGAIN;
	}
	unsigned slot = (loop->post_head + loop->post_count) % EVENT_POST_MAX;
	loop->posts[slot] = (struct posted){ fn, opaque };
	loop->post_count++;
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
	return 0;
}

/* Runs what was posted before this round began; later posts wait for the
 * next round (which then does not sleep). */
static int run_posts(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	unsigned n = loop->post_count;
	pthread_mutex_unlock(&loop->lock);
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&loop->lock);
		struct posted p = loop->posts[loop->post_head];
		loop->post_head = (loop->post_head + 1) % EVENT_POST_MAX;
		loop->post_count--;
		pthread_mutex_unlock(&loop->lock);
		p.fn(p.opaque);
	}
	return (int)n;
}

/* ---- fd handlers ------------------------------------------------------------- */

static int epoll_set(struct event_fd *h, int op)
{
	struct epoll_event ev = { .events = h->events, .data.ptr = h };
	return epoll_ctl(h->loop->epoll_fd, op, h->fd, &ev);
}

struct event_fd *event_fd_add(struct event_loop *loop, int fd, unsigned events,
			      event_fd_fn *fn, void *opaque)
{
	struct event_fd *h = xzalloc(sizeof(*h));
	h->loop = loop;
	h->fd = fd;
	h->events = events & (POLLIN | POLLOUT);
	h->fn = fn;
	h->opaque = opaque;
	if (epoll_set(h, EPOLL_CTL_ADD) < 0) {
		if (errno != EPERM) {
			int err = errno;
			free(h);
			errno = err;
			return NULL;
		}
		h->always_ready = true;
	}
	h->next = loop->fds;
	loop->fds = h;
	return h;
}

/* MOD, or ADD if the kernel no longer has the descriptor. */
static int fd_register(struct event_fd *h)
{
	if (epoll_set(h, EPOLL_CTL_MOD) == 0)
		return 0;
	/* Closed and its number reused since: the kernel dropped the old
	 * registration with the old file. */
	if (errno == ENOENT && epoll_set(h, EPOLL_CTL_ADD) == 0)
		return 0;
	return -errno;
}

int event_fd_set_events(struct event_fd *h, unsigned events)
{
	events &= POLLIN | POLLOUT;
	if (h->removed)
		return -EBADF;
	if (events == h->events || h->always_ready) {
		h->events = events;
		return 0;
	}
	h->events = events;
	return fd_register(h);
}

/* Another live handle on the same number means this one's file was closed
 * and the number taken by someone else, whose registration stays. */
static bool fd_taken_by_other(struct event_fd *h)
{
	for (struct event_fd *o = h->loop->fds; o; o = o->next)
		if (o != h && !o->removed && o->fd == h->fd)
			return true;
	return false;
}

void event_fd_remove(struct event_fd *h)
{
	if (!h || h->removed)
		return;
	if (!h->always_ready && !fd_taken_by_other(h))
		epoll_ctl(h->loop->epoll_fd, EPOLL_CTL_DEL, h->fd, NULL); /* EBADF: closed */
	h->removed = true;
}

static void source_fd_ready(void *opaque, int fd, unsigned revents);

static bool any_always_ready(struct event_loop *loop)
{
	for (struct event_fd *h = loop->fds; h; h = h->next)
		if (h->always_ready && !h->removed && h->events)
			return true;
	return false;
}

static int run_always_ready(struct event_loop *loop)
{
	int n = 0;
	for (struct event_fd *h = loop->fds; h; h = h->next) {
		if (h->always_ready && !h->removed && h->events) {
			h->fn(h->opaque, h->fd, h->events);
			n += h->fn != source_fd_ready;
		}
	}
	return n;
}

/* ---- poll sources ------------------------------------------------------------ */

static void source_fd_ready(void *opaque, int fd, unsigned revents)
{
	struct event_source *s = opaque;
	for (int i = 0; i < s->n; i++) {
		if (s->fds[i].fd == fd) {
			s->fds[i].revents |= (short)revents;
			s->ready = true;
		}
	}
}

struct event_source *event_source_add(struct event_loop *loop, int max_fds,
				      event_fill_fn *fill, event_handle_fn *handle, void *opaque)
{
	struct event_source *s = xzalloc(sizeof(*s));
	s->loop = loop;
	s->max = max_fds;
	s->fill = fill;
	s->handle = handle;
	s->opaque = opaque;
	s->fds = xzalloc(sizeof(*s->fds) * (size_t)max_fds);
	s->reg = xzalloc(sizeof(*s->reg) * (size_t)max_fds);
	s->next = loop->sources;
	loop->sources = s;
	return s;
}

void event_source_remove(struct event_source *s)
{
	if (!s || s->removed)
		return;
	for (int i = 0; i < s->n; i++)
		event_fd_remove(s->reg[i]);
	s->n = 0;
	s->removed = true;
}

/* Keeps a registration for a descriptor fill lists again. After handle()
 * ran, the number may belong to a new file (closed, then reused by an
 * accept): re-register it even with the same events, since the kernel
 * dropped the old file's registration when it was closed. */
static int source_keep(struct event_source *s, struct event_fd *h, unsigned events)
{
	if (!s->handled)
		return event_fd_set_events(h, events);
	if (h->always_ready) {
		h->events = events & (POLLIN | POLLOUT);
		return 0;
	}
	h->events = events & (POLLIN | POLLOUT);
	return fd_register(h);
}

/* Brings the source's registrations in line with what fill asks for this
 * round: same descriptor, new events; new descriptors added; gone ones
 * removed. */
static void source_prepare(struct event_source *s)
{
	struct event_fd *old[s->max];
	int nold = s->n;
	memcpy(old, s->reg, sizeof(*old) * (size_t)nold);

	int n = s->fill(s->opaque, s->fds, s->max);
	s->n = n < 0 ? 0 : MIN(n, s->max);
	s->ready = false;
	for (int i = 0; i < s->n; i++) {
		struct pollfd *p = &s->fds[i];
		p->revents = 0;
		s->reg[i] = NULL;
		for (int j = 0; j < nold; j++) {
			if (old[j] && old[j]->fd == p->fd) {
				s->reg[i] = old[j];
				old[j] = NULL;
				break;
			}
		}
		if (s->reg[i] && source_keep(s, s->reg[i], (unsigned)p->events) < 0) {
			event_fd_remove(s->reg[i]);
			s->reg[i] = NULL;
		}
		if (!s->reg[i])
			s->reg[i] = event_fd_add(s->loop, p->fd, (unsigned)p->events,
						 source_fd_ready, s);
		if (!s->reg[i]) {
			/* A descriptor epoll cannot take: poll() would say POLLNVAL. */
			p->revents = POLLNVAL;
			s->ready = true;
			s->reg[i] = NULL;
		}
	}
	for (int j = 0; j < nold; j++)
		event_fd_remove(old[j]);
	s->handled = false;
}

static void prepare_sources(struct event_loop *loop)
{
	for (struct event_source *s = loop->sources; s; s = s->next)
		if (!s->removed)
			source_prepare(s);
}

static int handle_sources(struct event_loop *loop)
{
	int n = 0;
	for (struct event_source *s = loop->sources; s; s = s->next) {
		if (!s->removed && s->ready) {
			s->ready = false;
			s->handled = true;
			s->handle(s->opaque, s->fds, s->n);
			n++;
		}
	}
	return n;
}

/* ---- one round ------------------------------------------------------------- */

/* How long epoll may sleep: 0, -1 (no limit), or until the timerfd fires. */
static int arm_wait(struct event_loop *loop, int64_t timeout_ns, bool busy)
{
	pthread_mutex_lock(&loop->lock);
	int64_t host = loop->host_now(loop->host_opaque);
	int64_t due = next_deadline_locked(loop, host);
	bool posted = loop->post_count > 0 || loop->quit;
	pthread_mutex_unlock(&loop->lock);

	int64_t wait = due == INT64_MAX ? -1 : MAX(due - host, 0);
	if (timeout_ns >= 0 && (wait < 0 || timeout_ns < wait))
		wait = timeout_ns;
	if (busy || posted)
		wait = 0;
	struct itimerspec its = { 0 };
	if (wait > 0) {
		its.it_value.tv_sec = wait / NSEC;
		its.it_value.tv_nsec = wait % NSEC;
	}
	/* Disarmed unless a wait with a limit is due (a stale expiry would
	 * cost a spurious round); an idle loop makes no call for it. */
	if (wait > 0 || loop->timer_fd_armed)
		timerfd_settime(loop->timer_fd, 0, &its, NULL);
	loop->timer_fd_armed = wait > 0;
	return wait == 0 ? 0 : -1;
}

int event_loop_run_once(struct event_loop *loop, int64_t timeout_ns)
{
	struct epoll_event evs[EPOLL_BATCH];
	struct event_loop *outer = current_loop;
	int ran = 0;

	current_loop = loop;
	prepare_sources(loop);
	int ms = arm_wait(loop, timeout_ns, any_always_ready(loop));
	int n = epoll_wait(loop->epoll_fd, evs, EPOLL_BATCH, ms);
	if (n < 0) {
		int err = errno;
		current_loop = outer;
		return -err;
	}
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 == TAG_TIMER || evs[i].data.u64 == TAG_WAKE) {
			drain(evs[i].data.u64 == TAG_TIMER ? loop->timer_fd : loop->wake_fd);
			continue;
		}
		struct event_fd *h = evs[i].data.ptr;
		if (!h->removed) {
			h->fn(h->opaque, h->fd, evs[i].events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP));
			ran += h->fn != source_fd_ready; /* a source counts once, below */
		}
	}
	ran += run_always_ready(loop);
	ran += handle_sources(loop);
	ran += fire_timers(loop);
	ran += run_posts(loop);
	sweep_sources(loop, false);
	sweep_fds(loop, false);
	current_loop = outer;
	return ran;
}
