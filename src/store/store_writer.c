/* SPDX-License-Identifier: MIT */
/*
 * store_writer.c - the single writer thread and its group commit.
 * Requests queue up while a commit is in flight; the writer then takes
 * them all (up to batch_max) into one transaction, gives each its own
 * nested transaction, commits once and answers each on its reply loop.
 * Without a running writer, store_exec runs the operation in place.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"

struct store_req {
	struct store_req *next;
	store_op_fn *op;
	void *arg;
	store_done_fn *done;
	struct loop *reply;
	int result;
	/* store_exec waits on these */
	pthread_mutex_t *wmtx;
	pthread_cond_t *wcond;
	int *wdone;
};

static void
req_reply(void *arg)
{
	struct store_req *q = arg;
	q->done(q->result, q->arg);
	free(q);
}

/* req_finish - hand the result back; the request is freed here. */
static void
req_finish(struct store_req *q)
{
	if (q->wmtx != NULL) {
		pthread_mutex_lock(q->wmtx);
		*q->wdone = q->result == 0 ? 1 : q->result;
		pthread_cond_signal(q->wcond);
		pthread_mutex_unlock(q->wmtx);
		free(q);
		return;
	}
	if (q->reply != NULL && loop_post(q->reply, req_reply, q) == 0)
		return;
	req_reply(q);
}

void
store_wtxn_touch(struct store_wtxn *w, uint32_t mailbox_id)
{
	for (size_t i = 0; i < w->n_touched; i++)
		if (w->touched[i] == mailbox_id)
			return;
	if (w->n_touched == STORE_TOUCH_MAX) {
		w->touch_overflow = true;
		return;
	}
	w->touched[w->n_touched++] = mailbox_id;
}

void
store_set_commit_hook(struct store *st, store_commit_hook *fn, void *arg)
{
	st->commit_hook = fn;
	st->commit_hook_arg = arg;
}

/* touched_merge - what one committed operation changed, into the batch's
 * list (grown as needed; on allocation failure the ids are dropped and
 * sessions catch up at their next command). */
static void
touched_merge(struct store_wtxn *w, uint32_t **ids, size_t *n, size_t *cap)
{
	/* Too many to list: id 0 tells listeners that anything changed. */
	if (w->touch_overflow && w->n_touched < STORE_TOUCH_MAX + 1)
		w->touched[w->n_touched - 1] = 0;
	for (size_t i = 0; i < w->n_touched; i++) {
		size_t k;
		for (k = 0; k < *n; k++)
			if ((*ids)[k] == w->touched[i])
				break;
		if (k < *n)
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			uint32_t *p = realloc(*ids, nc * sizeof(*p));
			if (p == NULL)
				return;
			*ids = p;
			*cap = nc;
		}
		(*ids)[(*n)++] = w->touched[i];
	}
}

/* run_batch - one transaction for the whole list; sets each result. */
static void
run_batch(struct store *st, struct store_req *list, unsigned n)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	struct store_req *q;
	uint32_t *ids = NULL;
	size_t n_ids = 0, cap_ids = 0;

	if (rc != 0) {
		log_warnx("- store txn_begin failed error=\"%s\"",
		    mdb_strerror(rc));
		for (q = list; q != NULL; q = q->next)
			q->result = store_err(rc);
		return;
	}
	for (q = list; q != NULL; q = q->next) {
		struct store_wtxn w;
		memset(&w, 0, sizeof(w));
		w.st = st;
		rc = mdb_txn_begin(st->env, txn, 0, &w.txn);
		if (rc != 0) {
			q->result = store_err(rc);
			continue;
		}
		q->result = q->op(&w, q->arg);
		if (q->result < 0) {
			mdb_txn_abort(w.txn);
		} else if ((rc = mdb_txn_commit(w.txn)) != 0) {
			q->result = store_err(rc);
		} else {
			touched_merge(&w, &ids, &n_ids, &cap_ids);
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		log_warnx("- store commit failed error=\"%s\" ops=%u",
		    mdb_strerror(rc), n);
		for (q = list; q != NULL; q = q->next)
			if (q->result >= 0)
				q->result = store_err(rc);
	} else if (n_ids > 0 && st->commit_hook != NULL) {
		st->commit_hook(ids, n_ids, st->commit_hook_arg);
	}
	free(ids);
	pthread_mutex_lock(&st->mtx);
	st->stats.commits++;
	st->stats.ops += n;
	if (n > st->stats.max_batch)
		st->stats.max_batch = n;
	pthread_mutex_unlock(&st->mtx);
}

static void *
writer_thread(void *arg)
{
	struct store *st = arg;

	for (;;) {
		pthread_mutex_lock(&st->mtx);
		while (st->head == NULL && !st->stopping)
			pthread_cond_wait(&st->cond, &st->mtx);
		if (st->head == NULL) {
			pthread_mutex_unlock(&st->mtx);
			break;
		}
		struct store_req *list = st->head, *last = list;
		unsigned n = 1;
		while (last->next != NULL && n < st->batch_max) {
			last = last->next;
			n++;
		}
		st->head = last->next;
		if (st->head == NULL)
			st->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&st->mtx);

		run_batch(st, list, n);
		while (list != NULL) {
			struct store_req *next = list->next;
			req_finish(list);
			list = next;
		}
	}
	return NULL;
}

int
store_writer_start(struct store *st)
{
	if (st->writer_running)
		return 0;
	if (pthread_create(&st->writer, NULL, writer_thread, st) != 0)
		return ERR_NOMEM;
	st->writer_running = 1;
	return 0;
}

void
store_writer_stop(struct store *st)
{
	if (!st->writer_running)
		return;
	pthread_mutex_lock(&st->mtx);
	st->stopping = 1;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mtx);
	pthread_join(st->writer, NULL);
	st->writer_running = 0;
}

static int
enqueue(struct store *st, struct store_req *q)
{
	pthread_mutex_lock(&st->mtx);
	if (st->stopping) {
		pthread_mutex_unlock(&st->mtx);
		return ERR_SHUTDOWN;
	}
	q->next = NULL;
	if (st->tail != NULL)
		st->tail->next = q;
	else
		st->head = q;
	st->tail = q;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mtx);
	return 0;
}

int
store_submit(struct store *st, store_op_fn *op, void *arg,
	     store_done_fn *done, struct loop *reply)
{
	struct store_req *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return ERR_NOMEM;
	q->op = op;
	q->arg = arg;
	q->done = done;
	q->reply = reply;
	if (!st->writer_running) {
		q->result = store_exec(st, op, arg);
		req_finish(q);
		return 0;
	}
	int r = enqueue(st, q);
	if (r < 0)
		free(q);
	return r;
}

int
store_exec(struct store *st, store_op_fn *op, void *arg)
{
	if (!st->writer_running) {
		struct store_wtxn w;
		memset(&w, 0, sizeof(w));
		w.st = st;
		int rc = mdb_txn_begin(st->env, NULL, 0, &w.txn);
		if (rc != 0)
			return store_err(rc);
		int r = op(&w, arg);
		if (r < 0) {
			mdb_txn_abort(w.txn);
			return r;
		}
		if ((rc = mdb_txn_commit(w.txn)) != 0)
			return store_err(rc);
		return r;
	}

	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	int done = 0;
	struct store_req *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return ERR_NOMEM;
	q->op = op;
	q->arg = arg;
	q->wmtx = &m;
	q->wcond = &c;
	q->wdone = &done;
	int r = enqueue(st, q);
	if (r < 0) {
		free(q);
		return r;
	}
	pthread_mutex_lock(&m);
	while (done == 0)
		pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	pthread_cond_destroy(&c);
	pthread_mutex_destroy(&m);
	return done == 1 ? 0 : done;
}

void
store_get_stats(struct store *st, struct store_stats *s)
{
	pthread_mutex_lock(&st->mtx);
	*s = st->stats;
	pthread_mutex_unlock(&st->mtx);
}
