/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event loop: one thread (the main thread in vmm) waits in epoll for
 *
 *  - fd handlers: a callback when a descriptor is readable or writable;
 *  - timers, one-shot or periodic, with nanosecond deadlines on one of two
 *    clocks (a single timerfd wakes the loop for the earliest one);
 *  - callbacks posted from other threads (a bounded queue and an eventfd);
 *  - poll sources: modules that describe their descriptors as a pollfd
 *    array each round (fill) and handle the results (handle), as the
 *    control channels and chardevs always did; the loop keeps their epoll
 *    registrations in step with what they ask for.
 *
 * Clocks. EVENT_CLOCK_HOST is CLOCK_MONOTONIC: for the user interface and
 * the control channels (rate limits, polling intervals). EVENT_CLOCK_VIRTUAL
 * runs with it but stops while the machine is paused (event_clock_pause)
 * and resumes where it stopped, without a jump: device timers use it, so a
 * paused guest sees no time pass in its timer devices and no burst of
 * missed ticks afterwards.
 *
 * Threads. fd handlers, sources and event_timer_free belong to the loop's
 * thread (or to a loop that is not running). Timer arm/cancel, the clocks,
 * event_post and event_loop_quit may be called from any thread; they wake
 * the loop when needed. Callbacks always run on the loop's thread, without
 * any lock of the loop held, so they may arm, cancel, post and add or
 * remove handlers.
 */
#ifndef VMM_EVENT_H
#define VMM_EVENT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

/* Posted callbacks waiting at once; event_post fails beyond that. */
#define EVENT_POST_MAX 256

enum event_clock {
	EVENT_CLOCK_HOST,    /* CLOCK_MONOTONIC */
	EVENT_CLOCK_VIRTUAL, /* stops while the VM is paused */
};

struct event_loop;
struct event_fd;
struct event_timer;
struct event_source;

typedef void event_fd_fn(void *opaque, int fd, unsigned revents);
typedef void event_timer_fn(void *opaque);
typedef void event_post_fn(void *opaque);
typedef int event_fill_fn(void *opaque, struct pollfd *fds, int max);
typedef void event_handle_fn(void *opaque, const struct pollfd *fds, int n);

/* NULL with errno set if the epoll, timer or wake descriptor cannot be made. */
struct event_loop *event_loop_new(void);
/* Frees the fd handlers and sources left registered. Timers belong to
 * their owners, who free them first. Callbacks still posted are dropped
 * (not run): stop the threads that post before freeing the loop. */
void event_loop_free(struct event_loop *loop);

/* Waits up to timeout_ns (< 0: until something happens; 0: not at all)
 * and dispatches what is ready: fd handlers, sources, due timers, posted
 * callbacks. Returns how many callbacks ran, or -errno. */
int event_loop_run_once(struct event_loop *loop, int64_t timeout_ns);
/* Runs rounds until event_loop_quit. */
void event_loop_run(struct event_loop *loop);
/* Any thread: event_loop_run returns after its current round. */
void event_loop_quit(struct event_loop *loop);

/* ---- fd handlers (POLLIN, POLLOUT; POLLERR and POLLHUP always come) ---- */

/* NULL with errno set if epoll refuses the descriptor for another reason
 * than being a regular file or the like (those are always ready, as
 * poll() says, and are reported every round while asked for). */
struct event_fd *event_fd_add(struct event_loop *loop, int fd, unsigned events,
			      event_fd_fn *fn, void *opaque);
/* Changes what is waited for (0: nothing, the handler stays). */
int event_fd_set_events(struct event_fd *h, unsigned events);
/* Call before closing the descriptor; safe inside any callback. */
void event_fd_remove(struct event_fd *h);

/* ---- timers -------------------------------------------------------------- */

struct event_timer *event_timer_new(struct event_loop *loop, enum event_clock clock,
				    event_timer_fn *fn, void *opaque);
void event_timer_free(struct event_timer *t);
/* Fires at 'deadline_ns' of the timer's clock, then every 'period_ns' if
 * that is > 0. A periodic timer that falls behind (a busy loop) skips the
 * ticks it missed and stays on its grid: one call, never a burst. Re-arming
 * replaces the previous deadline. */
void event_timer_arm(struct event_timer *t, int64_t deadline_ns, int64_t period_ns);
void event_timer_arm_in(struct event_timer *t, int64_t delay_ns, int64_t period_ns);
void event_timer_cancel(struct event_timer *t);
bool event_timer_armed(struct event_timer *t);

/* ---- clocks ---------------------------------------------------------------- */

int64_t event_clock_ns(struct event_loop *loop, enum event_clock clock);
/* Stops / restarts the virtual clock (idempotent). */
void event_clock_pause(struct event_loop *loop);
void event_clock_resume(struct event_loop *loop);
bool event_clock_paused(struct event_loop *loop);
/* Tests: replaces CLOCK_MONOTONIC as the host clock (NULL: back to it). */
void event_loop_set_host_clock(struct event_loop *loop, int64_t (*now_ns)(void *opaque),
			       void *opaque);

/* ---- work from other threads --------------------------------------------- */

/* Runs fn(opaque) on the loop's thread, in posting order. 0, or -EAGAIN
 * when EVENT_POST_MAX callbacks are already waiting. */
int event_post(struct event_loop *loop, event_post_fn *fn, void *opaque);

/* ---- poll sources -------------------------------------------------------- */

/* Before each wait the loop calls fill(opaque, fds, max_fds) for the
 * descriptors and events wanted this round (distinct descriptors); after
 * it, handle(opaque, fds, n) with revents set if any of them is ready. */
struct event_source *event_source_add(struct event_loop *loop, int max_fds,
				      event_fill_fn *fill, event_handle_fn *handle,
				      void *opaque);
void event_source_remove(struct event_source *s);

#endif
