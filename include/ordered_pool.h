/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small pool of threads that runs jobs in two stages: "work" (reading,
 * compressing: any number at once) and "commit" (writing: one at a time,
 * in the order the jobs were handed out, unless unordered). vmm-img
 * convert runs on it: with -c the deflate of one request runs on one CPU
 * while other requests are deflated on the others and the finished ones
 * are written in order, so the output is the same bytes whatever the
 * thread count.
 *
 * Errors: the first failing job (in commit order when ordered) is
 * reported once through ops->error; no job is handed out after it, and
 * no job after it in order is committed, so the target holds a prefix
 * of the output.
 */
#ifndef VMM_ORDERED_POOL_H
#define VMM_ORDERED_POOL_H

#include <stdbool.h>
#include <stddef.h>

enum opool_stage { OPOOL_WORK, OPOOL_COMMIT };

struct opool_ops {
	size_t job_size; /* bytes of one job, copied by value */
	/* Under the pool's lock: fills in the next job; false at the end. */
	bool (*next)(void *ctx, void *job);
	/* One thread's state (buffers, a compressor) into *ts, made on the
	 * thread that uses it: 0 or -errno (an error with no job, which
	 * stops the run). Optional. */
	int (*thread_new)(void *ctx, void **ts);
	void (*thread_free)(void *ctx, void *ts);
	/* Outside the lock, in parallel: 0 or -errno. */
	int (*work)(void *ctx, void *ts, void *job);
	/* Ordered: one at a time, in next()'s order, never after the first
	 * failing job. Unordered: as soon as the job's work is done, maybe
	 * several at once (the callee serialises what it must). 0 or -errno. */
	int (*commit)(void *ctx, void *ts, void *job);
	/* Under the lock, after each job's turn, error or not (progress).
	 * Optional. */
	void (*done)(void *ctx, const void *job);
	/* Under the lock, once: the first error, its job (NULL when a
	 * thread's state could not be made) and stage. */
	void (*error)(void *ctx, const void *job, enum opool_stage stage, int err);
};

/* Runs every job on 'nthreads' threads (the caller's is one; at least
 * 1, at most OPOOL_MAX_THREADS; a thread that cannot be started leaves
 * the others to do its share). 0, or the first error. */
#define OPOOL_MAX_THREADS 64
int opool_run(const struct opool_ops *ops, void *ctx, unsigned nthreads, bool ordered);

/* The CPUs this process may run on (its affinity mask; at least 1). */
unsigned opool_cpus(void);

#endif
