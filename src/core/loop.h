/* SPDX-License-Identifier: MIT */
/*
 * loop.h - event-loop threads. Each loop owns one libevent event_base and
 * runs it on its own thread; other threads hand it work with loop_post(),
 * which is the only way to touch a loop's sessions from outside.
 * evthread_use_pthreads() must have been called (loop_global_init does it).
 */
#ifndef MSS_CORE_LOOP_H
#define MSS_CORE_LOOP_H

#include <event2/event.h>

struct loop;
typedef void loop_fn(void *arg);

/* loop_global_init - once per process, before any loop is created. */
int loop_global_init(void);

/* loop_new - a loop whose base is not yet running. NULL on failure. */
struct loop *loop_new(unsigned idx);
/* loop_start - run the loop on a new thread. */
int loop_start(struct loop *l);
/* loop_run - run the loop on the calling thread until loop_exit(). */
int loop_run(struct loop *l);
/* loop_exit - ask the loop to leave once its current callbacks return
 * (thread-safe). Pending posted work is still run first. */
void loop_exit(struct loop *l);
void loop_join(struct loop *l);
void loop_free(struct loop **l);

/* loop_post - run fn(arg) on l's thread; thread-safe; the caller gives
 * up ownership of arg to fn. Returns 0 or ERR_NOMEM. */
int loop_post(struct loop *l, loop_fn *fn, void *arg);

struct event_base *loop_base(struct loop *l);
unsigned loop_index(const struct loop *l);
/* loop_self - the loop running on this thread, or NULL. */
struct loop *loop_self(void);

#endif
