// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Worker threads with in-order commits (ordered_pool.h). Each thread
 * takes a job under the lock, works on it outside, then waits for its
 * turn (the job's sequence number) to commit it. A thread waits for its
 * turn holding one finished job, so at most nthreads jobs are in flight.
 */
#include "ordered_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct opool {
	const struct opool_ops *ops;
	void *ctx;
	bool ordered;
	pthread_mutex_t lock;
	pthread_cond_t turn_cv;
	uint64_t seq;  /* the next job's number */
	uint64_t turn; /* the job whose commit is due (ordered) */
	int error;     /* the first error, 0 until then */
};

/* Records the first error; lock held. */
static void opool_fail(struct opool *p, const void *job, enum opool_stage stage, int err)
{
	if (p->error)
		return;
	p->error = err;
	if (p->ops->error)
		p->ops->error(p->ctx, job, stage, err);
}

/* Waits for job 'seq's turn; lock held. */
static void opool_wait_turn(struct opool *p, uint64_t seq)
{
	while (p->ordered && p->turn != seq)
		pthread_cond_wait(&p->turn_cv, &p->lock);
}

/* Ends job 'seq's turn, error or not (so the jobs after it are not left
 * waiting); lock held. */
static void opool_end_turn(struct opool *p, const void *job)
{
	if (p->ops->done)
		p->ops->done(p->ctx, job);
	if (p->ordered) {
		p->turn++;
		pthread_cond_broadcast(&p->turn_cv);
	}
}

/* One job's commit stage: its turn, then the commit unless a job before
 * it (or its own work) failed. A work error is reported here, in turn,
 * so that an ordered run reports the first failing job in output order
 * whatever the threads' timing. Lock held on entry and exit. */
static void opool_commit(struct opool *p, void *ts, void *job, uint64_t seq, int work_ret)
{
	opool_wait_turn(p, seq);
	if (work_ret < 0) {
		opool_fail(p, job, OPOOL_WORK, work_ret);
	} else if (!p->error) {
		pthread_mutex_unlock(&p->lock);
		int ret = p->ops->commit(p->ctx, ts, job);
		pthread_mutex_lock(&p->lock);
		if (ret < 0)
			opool_fail(p, job, OPOOL_COMMIT, ret);
	}
	opool_end_turn(p, job);
}

static void *opool_thread(void *opaque)
{
	struct opool *p = opaque;
	const struct opool_ops *ops = p->ops;
	void *job = malloc(ops->job_size ? ops->job_size : 1), *ts = NULL;
	int ret = job ? 0 : -ENOMEM;
	if (!ret && ops->thread_new)
		ret = ops->thread_new(p->ctx, &ts);

	pthread_mutex_lock(&p->lock);
	if (ret < 0)
		opool_fail(p, NULL, OPOOL_WORK, ret);
	while (!ret && !p->error && ops->next(p->ctx, job)) {
		uint64_t seq = p->seq++;
		pthread_mutex_unlock(&p->lock);
		int work_ret = ops->work ? ops->work(p->ctx, ts, job) : 0;
		pthread_mutex_lock(&p->lock);
		opool_commit(p, ts, job, seq, work_ret);
	}
	pthread_mutex_unlock(&p->lock);
	if (ts && ops->thread_free)
		ops->thread_free(p->ctx, ts);
	free(job);
	return NULL;
}

int opool_run(const struct opool_ops *ops, void *ctx, unsigned nthreads, bool ordered)
{
	struct opool p = { .ops = ops, .ctx = ctx, .ordered = ordered };
	pthread_t th[OPOOL_MAX_THREADS];
	unsigned started = 0;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > OPOOL_MAX_THREADS)
		nthreads = OPOOL_MAX_THREADS;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.turn_cv, NULL);
	for (unsigned i = 1; i < nthreads; i++)
		if (!pthread_create(&th[started], NULL, opool_thread, &p))
			started++;
	opool_thread(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_cond_destroy(&p.turn_cv);
	pthread_mutex_destroy(&p.lock);
	return p.error;
}

unsigned opool_cpus(void)
{
	cpu_set_t set;
	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
