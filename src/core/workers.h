/* SPDX-License-Identifier: MIT */
/*
 * workers.h - a small pool of threads for CPU-heavy work (Argon2id checks,
 * bulk signing) that must never run on an event loop. The queue is bounded:
 * when it is full, workers_submit refuses at once with ERR_TEMP so the
 * caller can answer "try again later" instead of piling up memory.
 */
#ifndef MSS_CORE_WORKERS_H
#define MSS_CORE_WORKERS_H

struct loop;
struct workers;

typedef void workers_work_fn(void *arg);	/* runs on a worker thread */
typedef void workers_done_fn(void *arg);	/* runs on the reply loop */

struct workers *workers_new(unsigned n_threads, unsigned max_pending);
/*
 * workers_submit - run work(arg) on a worker, then done(arg) on reply (or
 * on the worker itself when reply is NULL). Returns 0, ERR_TEMP when the
 * queue is full, ERR_SHUTDOWN when stopping, ERR_NOMEM.
 */
int workers_submit(struct workers *w, workers_work_fn *work,
		   workers_done_fn *done, void *arg, struct loop *reply);
/* workers_free - finish queued work, join the threads, free. */
void workers_free(struct workers **w);

#endif
