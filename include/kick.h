/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A device's own worker thread, woken by a doorbell: the vCPU that writes
 * the register kicks it and returns at once; the thread runs the device's
 * work function (coalescing kicks that come while it runs) under its
 * sandbox kind's filter. The emulated NICs transmit through it.
 *
 * Without a thread (started with threaded = false: vmm's board, whose
 * cards transmit within the doorbell's write as QEMU's do, for the
 * wake-up per doorbell it saves (src/board/pc_nics.c); unit tests,
 * fuzzing) a kick runs the work at once on the caller's thread.
 */
#ifndef VMM_KICK_H
#define VMM_KICK_H

#include <pthread.h>
#include <stdbool.h>

#include "sandbox.h"

struct kick_thread {
	void (*work)(void *opaque);
	void *opaque;
	enum sandbox_kind kind;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool threaded, kicked, busy, paused, stop;
};

/* Starts the thread (threaded) or sets up the inline form. 0, or -1 if
 * the thread cannot be created. */
int kick_thread_start(struct kick_thread *k, bool threaded, enum sandbox_kind kind,
		      void (*work)(void *opaque), void *opaque);
/* Runs the work soon (any thread; never blocks on the work when threaded). */
void kick_thread_kick(struct kick_thread *k);
/* Holds the work: returns once a run in progress has ended; kicks that
 * come meanwhile wait for kick_thread_resume (pause, saving state).
 * Without a thread nothing is held: a kick runs where it is made, and vmm
 * parks every vCPU (whose register writes are the kicks) before it
 * quiesces a device (src/board/machine_pc.c). */
void kick_thread_pause(struct kick_thread *k);
void kick_thread_resume(struct kick_thread *k);
/* Ends and joins the thread. */
void kick_thread_stop(struct kick_thread *k);

#endif
