/* SPDX-License-Identifier: MIT */
/*
 * queue.h - the queue manager: it picks the records of the store's queue
 * that are due, hands them to outbound connections (per destination, a
 * bounded number at once), writes each attempt's per-recipient outcome
 * back, retries with backoff, and reports to senders (RFC 3464 DSNs).
 * It runs on a loop of its own; other threads only wake it.
 *
 * Also here, because the SMTP server needs it too: the delivery of a
 * report to the sender it is for (a local mailbox, or the queue when the
 * sender is at another operator of the trust space).
 */
#ifndef MSS_QUEUE_H
#define MSS_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "queue/dsn.h"
#include "store/store.h"

struct loop;
struct workers;

/* queue_start - run the manager on l (its own loop, started by the
 * caller). Route lookups run on w. */
int queue_start(struct loop *l, struct store *st, struct workers *w);
/* queue_wake - records may have become due (thread-safe, cheap). */
void queue_wake(void);
/* queue_shutdown - (any thread) stop taking records; connections finish
 * the message they are sending (at most grace seconds), what was learnt
 * is written, then done() runs on the manager's loop. */
void queue_shutdown(unsigned grace, void (*done)(void));

/* ---- reports on their way to a sender ---- */

struct queue_report {
	uint32_t account_id;		/* local sender: its INBOX */
	struct store_queue q;		/* else: queued for its operator */
	struct store_qrcpt rcpt;
	struct buf sealed;
	struct buf info;
	uint64_t size;
	uint32_t uid_r, mailbox_id_r;
	struct queue_report *next;	/* callers chain several */
};

/*
 * queue_report_prepare - build the report r (see dsn_build), seal it and
 * find where it goes: the INBOX of r->to when that address is local, else
 * the queue when its domain is in the trust space. Returns 0 with *out
 * set, 0 with *out NULL when nobody can take it (null sender, unknown or
 * outside address: logged and dropped, as RFC 3461 allows), or <0.
 */
int queue_report_prepare(const struct dsn_report *r, struct store *st,
			 struct queue_report **out);
/* queue_report_apply - inside a store op: deliver or queue every report
 * of the chain. */
int queue_report_apply(struct store_wtxn *w, struct queue_report *qr);
/* queue_report_queued - whether the chain queued something (the manager
 * should be woken after the commit). */
bool queue_report_queued(const struct queue_report *qr);
void queue_report_free(struct queue_report **qr);

/* queue_id_parse / _format - 16 lowercase hex digits. */
int queue_id_parse(const char *s, uint64_t *id);
void queue_id_format(uint64_t id, char out[17]);

#endif
