/* SPDX-License-Identifier: MIT */
/* workers.c - bounded thread pool (see workers.h). */
#include "workers.h"

#include <pthread.h>
#include <stdlib.h>

#include "err.h"
#include "log.h"
#include "loop.h"

struct job {
	struct job *next;
	workers_work_fn *work;
	workers_done_fn *done;
	void *arg;
	struct loop *reply;
};

struct workers {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct job *head, *tail;
	unsigned pending;
	unsigned max_pending;
	unsigned n_threads;
	int stopping;
	pthread_t *threads;
};

static void *
workers_thread(void *arg)
{
	struct workers *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mtx);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->mtx);
		struct job *j = w->head;
		if (j == NULL) {
			pthread_mutex_unlock(&w->mtx);
			return NULL;
		}
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mtx);

		j->work(j->arg);
		if (j->reply == NULL ||
		    loop_post(j->reply, j->done, j->arg) < 0)
			j->done(j->arg);

		pthread_mutex_lock(&w->mtx);
		w->pending--;
		pthread_mutex_unlock(&w->mtx);
		free(j);
	}
}

struct workers *
workers_new(unsigned n_threads, unsigned max_pending)
{
	struct workers *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->threads = calloc(n_threads, sizeof(pthread_t));
	if (w->threads == NULL) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->max_pending = max_pending;
	for (unsigned i = 0; i < n_threads; i++) {
		if (pthread_create(&w->threads[i], NULL, workers_thread,
		    w) != 0) {
			log_warnx("- workers start failed n=%u", i);
			break;
		}
		w->n_threads++;
	}
	if (w->n_threads == 0) {
		workers_free(&w);
		return NULL;
	}
	return w;
}

int
workers_submit(struct workers *w, workers_work_fn *work,
	       workers_done_fn *done, void *arg, struct loop *reply)
{
	struct job *j = malloc(sizeof(*j));
	if (j == NULL)
		return ERR_NOMEM;
	j->next = NULL;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->reply = reply;
	pthread_mutex_lock(&w->mtx);
	if (w->stopping || w->pending >= w->max_pending) {
		int r = w->stopping ? ERR_SHUTDOWN : ERR_TEMP;
		pthread_mutex_unlock(&w->mtx);
		free(j);
		return r;
	}
	w->pending++;
	if (w->tail != NULL)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	return 0;
}

void
workers_free(struct workers **wp)
{
	struct workers *w = *wp;
	if (w == NULL)
		return;
	*wp = NULL;
	pthread_mutex_lock(&w->mtx);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	for (unsigned i = 0; i < w->n_threads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mtx);
	free(w->threads);
	free(w);
}
