// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A worker thread woken by a doorbell (include/kick.h).
 */
#include "kick.h"

static void *kick_main(void *opaque)
{
	struct kick_thread *k = opaque;

	sandbox_thread_start(k->kind);
	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->stop && (!k->kicked || k->paused))
			pthread_cond_wait(&k->cond, &k->lock);
		if (k->stop)
			break;
		/* Kicks from now on run the work again: it may have read the
		 * device's state before they came. */
		k->kicked = false;
		k->busy = true;
		pthread_mutex_unlock(&k->lock);
		k->work(k->opaque);
		pthread_mutex_lock(&k->lock);
		k->busy = false;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

int kick_thread_start(struct kick_thread *k, bool threaded, enum sandbox_kind kind,
		      void (*work)(void *opaque), void *opaque)
{
	*k = (struct kick_thread){ .work = work, .opaque = opaque, .kind = kind,
				   .threaded = threaded };
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	if (threaded && pthread_create(&k->thread, NULL, kick_main, k) != 0) {
		k->threaded = false;
		return -1;
	}
	return 0;
}

void kick_thread_kick(struct kick_thread *k)
{
	if (!k->threaded) {
		k->work(k->opaque);
		return;
	}
	pthread_mutex_lock(&k->lock);
	k->kicked = true;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

void kick_thread_pause(struct kick_thread *k)
{
	pthread_mutex_lock(&k->lock);
	k->paused = true;
	while (k->busy)
		pthread_cond_wait(&k->cond, &k->lock);
	pthread_mutex_unlock(&k->lock);
}

void kick_thread_resume(struct kick_thread *k)
{
	pthread_mutex_lock(&k->lock);
	k->paused = false;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

void kick_thread_stop(struct kick_thread *k)
{
	if (k->threaded) {
		pthread_mutex_lock(&k->lock);
		k->stop = true;
		pthread_cond_broadcast(&k->cond);
		pthread_mutex_unlock(&k->lock);
		pthread_join(k->thread, NULL);
		k->threaded = false;
	}
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
}
