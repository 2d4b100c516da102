// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ordered pool vmm-img convert runs on (ordered_pool.h): jobs are
 * worked on at once on several threads and committed one at a time in
 * the order they were handed out; the first failing job (in that order)
 * is reported once and stops the run with nothing after it committed;
 * every thread's state is freed (LeakSanitizer watches).
 */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ordered_pool.h"

#define MAX_JOBS 400

struct job {
	unsigned n;
};

struct tctx {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned njobs, next;
	unsigned log[MAX_JOBS], nlog; /* jobs committed, in commit order */
	unsigned done[MAX_JOBS], ndone;
	int committing, most_committing;
	int working, most_working;
	bool rendezvous; /* job 0's work waits until another job's work runs */
	bool rendezvous_met;
	int fail_work[2], fail_work_ret, fail_commit, fail_new_after;
	unsigned slow_job; /* its work sleeps 20 ms (-1u: none) */
	unsigned nerrors;
	const struct job *err_job;
	unsigned err_n;
	enum opool_stage err_stage;
	int err;
	int states, states_freed, news;
};

static void us_sleep(unsigned us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)us * 1000 };
	nanosleep(&ts, NULL);
}

static bool t_next(void *ctx, void *job)
{
	struct tctx *t = ctx;
	if (t->next >= t->njobs)
		return false;
	((struct job *)job)->n = t->next++;
	return true;
}

static int t_new(void *ctx, void **ts)
{
	struct tctx *t = ctx;
	pthread_mutex_lock(&t->lock);
	int n = t->news++;
	pthread_mutex_unlock(&t->lock);
	if (t->fail_new_after && n >= t->fail_new_after)
		return -EMFILE;
	*ts = malloc(64);
	pthread_mutex_lock(&t->lock);
	t->states++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void t_free(void *ctx, void *ts)
{
	struct tctx *t = ctx;
	free(ts);
	pthread_mutex_lock(&t->lock);
	t->states_freed++;
	pthread_mutex_unlock(&t->lock);
}

static int t_work(void *ctx, void *ts, void *job)
{
	struct tctx *t = ctx;
	unsigned n = ((struct job *)job)->n;
	pthread_mutex_lock(&t->lock);
	t->working++;
	if (t->working > t->most_working)
		t->most_working = t->working;
	if (t->working > 1) {
		t->rendezvous_met = true;
		pthread_cond_broadcast(&t->cv);
	}
	if (t->rendezvous && n == 0) {
		/* a serial pool never runs a second work meanwhile: 5 s */
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 5;
		while (!t->rendezvous_met && !pthread_cond_timedwait(&t->cv, &t->lock, &dl))
			;
	}
	pthread_mutex_unlock(&t->lock);
	/* uneven work, so later jobs often finish first */
	us_sleep(n == t->slow_job ? 20000 : (unsigned)(rand_r(&n) % 300));
	pthread_mutex_lock(&t->lock);
	t->working--;
	pthread_mutex_unlock(&t->lock);
	n = ((struct job *)job)->n;
	return (int)n == t->fail_work[0] || (int)n == t->fail_work[1] ? t->fail_work_ret : 0;
}

static int t_commit(void *ctx, void *ts, void *job)
{
	struct tctx *t = ctx;
	unsigned n = ((struct job *)job)->n;
	assert_non_null(ts);
	pthread_mutex_lock(&t->lock);
	t->committing++;
	if (t->committing > t->most_committing)
		t->most_committing = t->committing;
	pthread_mutex_unlock(&t->lock);
	us_sleep(50);
	pthread_mutex_lock(&t->lock);
	t->committing--;
	if (t->nlog < MAX_JOBS)
		t->log[t->nlog++] = n;
	pthread_mutex_unlock(&t->lock);
	return (int)n == t->fail_commit ? -EIO : 0;
}

static void t_done(void *ctx, const void *job)
{
	struct tctx *t = ctx;
	if (t->ndone < MAX_JOBS)
		t->done[t->ndone++] = ((const struct job *)job)->n;
}

static void t_error(void *ctx, const void *job, enum opool_stage stage, int err)
{
	struct tctx *t = ctx;
	t->nerrors++;
	t->err_job = job;
	t->err_n = job ? ((const struct job *)job)->n : ~0u;
	t->err_stage = stage;
	t->err = err;
}

static const struct opool_ops ops = {
	.job_size = sizeof(struct job),
	.next = t_next,
	.thread_new = t_new,
	.thread_free = t_free,
	.work = t_work,
	.commit = t_commit,
	.done = t_done,
	.error = t_error,
};

static void init(struct tctx *t, unsigned njobs)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->njobs = njobs;
	t->fail_work[0] = t->fail_work[1] = t->fail_commit = -1;
	t->slow_job = ~0u;
}

static void fini(struct tctx *t)
{
	/* every state made was freed */
	assert_int_equal(t->states, t->states_freed);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->lock);
}

/* Ordered: commits one at a time, in job order, whatever order the
 * works end in; works overlap. */
static void test_ordered_commits(void **state)
{
	for (unsigned threads = 1; threads <= 8; threads *= 2) {
		struct tctx t;
		init(&t, 300);
		t.rendezvous = threads > 1;
		assert_int_equal(opool_run(&ops, &t, threads, true), 0);
		assert_int_equal(t.nlog, 300);
		assert_int_equal(t.ndone, 300);
		for (unsigned i = 0; i < 300; i++) {
			assert_int_equal(t.log[i], i);
			assert_int_equal(t.done[i], i);
		}
		assert_int_equal(t.most_committing, 1);
		assert_int_equal(t.nerrors, 0);
		assert_int_equal(t.states, threads);
		if (threads > 1) {
			assert_true(t.rendezvous_met);
			assert_true(t.most_working > 1);
			assert_true(t.most_working <= (int)threads);
		} else {
			assert_int_equal(t.most_working, 1);
		}
		fini(&t);
	}
}

/* Unordered (-W): every job committed exactly once, in any order. */
static void test_unordered_commits(void **state)
{
	struct tctx t;
	init(&t, 200);
	assert_int_equal(opool_run(&ops, &t, 4, false), 0);
	assert_int_equal(t.nlog, 200);
	bool seen[200] = { false };
	for (unsigned i = 0; i < 200; i++) {
		assert_false(seen[t.log[i]]);
		seen[t.log[i]] = true;
	}
	fini(&t);
}

/* Two jobs fail in their work, the later one first (the earlier is
 * slow): the earlier is the one reported, once; the jobs before it are
 * all committed and none after it; no job is handed out long after. */
static void test_work_error_in_order(void **state)
{
	for (unsigned threads = 1; threads <= 8; threads *= 2) {
		struct tctx t;
		init(&t, MAX_JOBS);
		t.fail_work[0] = 40;
		t.fail_work[1] = 41;
		t.fail_work_ret = -EIO;
		t.slow_job = 40;
		assert_int_equal(opool_run(&ops, &t, threads, true), -EIO);
		assert_int_equal(t.nerrors, 1);
		assert_int_equal(t.err_n, 40);
		assert_int_equal(t.err_stage, OPOOL_WORK);
		assert_int_equal(t.err, -EIO);
		assert_int_equal(t.nlog, 40);
		for (unsigned i = 0; i < 40; i++)
			assert_int_equal(t.log[i], i);
		/* each thread holds at most one job past the failing one */
		assert_true(t.next <= 41 + threads);
		fini(&t);
	}
}

/* A commit fails: reported once, nothing committed after it. */
static void test_commit_error_stops(void **state)
{
	struct tctx t;
	init(&t, MAX_JOBS);
	t.fail_commit = 17;
	assert_int_equal(opool_run(&ops, &t, 4, true), -EIO);
	assert_int_equal(t.nerrors, 1);
	assert_int_equal(t.err_n, 17);
	assert_int_equal(t.err_stage, OPOOL_COMMIT);
	assert_int_equal(t.nlog, 18);
	assert_int_equal(t.log[17], 17);
	assert_true(t.next <= 18 + 4);
	fini(&t);
}

/* A thread whose state cannot be made stops the run with its error
 * (no job to name); the states that were made are freed. */
static void test_thread_state_error(void **state)
{
	struct tctx t;
	init(&t, MAX_JOBS);
	t.fail_new_after = 2;
	assert_int_equal(opool_run(&ops, &t, 4, true), -EMFILE);
	assert_int_equal(t.nerrors, 1);
	assert_null(t.err_job);
	assert_int_equal(t.err, -EMFILE);
	for (unsigned i = 0; i < t.nlog; i++)
		assert_int_equal(t.log[i], i);
	fini(&t);
}

/* No jobs; thread counts out of range are clamped. */
static void test_edges(void **state)
{
	struct tctx t;
	init(&t, 0);
	assert_int_equal(opool_run(&ops, &t, 0, true), 0);
	assert_int_equal(t.nlog, 0);
	assert_int_equal(t.states, 1);
	fini(&t);
	init(&t, 100);
	assert_int_equal(opool_run(&ops, &t, 1000, true), 0);
	assert_int_equal(t.nlog, 100);
	assert_true(t.states <= OPOOL_MAX_THREADS);
	fini(&t);
}

static void test_cpus(void **state)
{
	cpu_set_t set;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	assert_int_equal(opool_cpus(), (unsigned)CPU_COUNT(&set));
	assert_true(opool_cpus() >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordered_commits),
		cmocka_unit_test(test_unordered_commits),
		cmocka_unit_test(test_work_error_in_order),
		cmocka_unit_test(test_commit_error_stops),
		cmocka_unit_test(test_thread_state_error),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_cpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
