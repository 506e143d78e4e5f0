/* SPDX-License-Identifier: MIT */
/*
 * loop.c - event-loop threads and the cross-thread post queue.
 * A post appends to a mutex-protected list and activates one event; the
 * loop drains the whole list in a single callback, so a burst of replies
 * from the store writer costs one wake-up.
 */
#include "loop.h"

#include <pthread.h>
#include <stdlib.h>

#include <event2/thread.h>

#include "err.h"
#include "log.h"

struct post {
	struct post *next;
	loop_fn *fn;
	void *arg;
};

struct loop {
	unsigned idx;
	struct event_base *base;
	struct event *wake;
	pthread_t thread;
	int started;
	pthread_mutex_t mtx;
	struct post *head, *tail;
};

static __thread struct loop *self;

int
loop_global_init(void)
{
	return evthread_use_pthreads() == 0 ? 0 : ERR_NOMEM;
}

/* loop_drain - run every posted item; items posted meanwhile run too. */
static void
loop_drain(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	for (;;) {
		pthread_mutex_lock(&l->mtx);
		struct post *p = l->head;
		l->head = l->tail = NULL;
		pthread_mutex_unlock(&l->mtx);
		if (p == NULL)
			break;
		while (p != NULL) {
			struct post *next = p->next;
			p->fn(p->arg);
			free(p);
			p = next;
		}
	}
}

struct loop *
loop_new(unsigned idx)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->idx = idx;
	if (pthread_mutex_init(&l->mtx, NULL) != 0) {
		free(l);
		return NULL;
	}
	l->base = event_base_new();
	if (l->base == NULL)
		goto fail;
	l->wake = event_new(l->base, -1, 0, loop_drain, l);
	if (l->wake == NULL)
		goto fail;
	return l;
fail:
	if (l->base != NULL)
		event_base_free(l->base);
	pthread_mutex_destroy(&l->mtx);
	free(l);
	return NULL;
}

static void *
loop_thread(void *arg)
{
	struct loop *l = arg;
	self = l;
	if (event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
		log_warnx("- loop error idx=%u", l->idx);
	/* Work posted after the loop left must still run: its owner is
	 * waiting for it (store replies, shutdown notices). */
	loop_drain(-1, 0, l);
	self = NULL;
	return NULL;
}

int
loop_start(struct loop *l)
{
	if (pthread_create(&l->thread, NULL, loop_thread, l) != 0)
		return ERR_NOMEM;
	l->started = 1;
	return 0;
}

int
loop_run(struct loop *l)
{
	loop_thread(l);
	return 0;
}

static void
loop_break(void *arg)
{
	struct loop *l = arg;
	/* loopexit, not loopbreak: callbacks already active (deferred
	 * bufferevent frees among them) still run. */
	event_base_loopexit(l->base, NULL);
}

void
loop_exit(struct loop *l)
{
	if (loop_post(l, loop_break, l) < 0)
		event_base_loopbreak(l->base);
}

void
loop_join(struct loop *l)
{
	if (l->started) {
		pthread_join(l->thread, NULL);
		l->started = 0;
	}
}

void
loop_free(struct loop **lp)
{
	struct loop *l = *lp;
	if (l == NULL)
		return;
	*lp = NULL;
	loop_join(l);
	loop_drain(-1, 0, l);
	event_free(l->wake);
	event_base_free(l->base);
	pthread_mutex_destroy(&l->mtx);
	free(l);
}

int
loop_post(struct loop *l, loop_fn *fn, void *arg)
{
	struct post *p = malloc(sizeof(*p));
	if (p == NULL)
		return ERR_NOMEM;
	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&l->mtx);
	int was_empty = l->head == NULL;
	if (l->tail != NULL)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	pthread_mutex_unlock(&l->mtx);
	if (was_empty)
		event_active(l->wake, EV_READ, 0);
	return 0;
}

struct event_base *
loop_base(struct loop *l)
{
	return l->base;
}

unsigned
loop_index(const struct loop *l)
{
	return l->idx;
}

struct loop *
loop_self(void)
{
	return self;
}
