/* SPDX-License-Identifier: MIT */
/*
 * queue_mgr.c - the scheduler of mail for other operators, on a loop of
 * its own. Every second (or when woken) it reads the due index, loads
 * the records not already in hand, and splits each one's pending
 * recipients by domain into jobs. A destination (one domain) has a FIFO
 * of jobs, a route (resolved on a worker, cached for a minute) and at
 * most relay_max_per_destination connections, which take jobs in turn
 * and stay open two seconds for more. When every job of a record is back
 * the outcome is written in one transaction with the reports it calls
 * for: sent and failed recipients leave, the others wait for the next
 * step of the retry schedule, until the record's lifetime ends.
 *
 * Nothing is written when a record is picked up: after a crash the due
 * index still has it, and it is tried again (a peer that accepted it just
 * before may get it twice, as with Postfix).
 */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/str.h"
#include "core/workers.h"
#include "relay/relay.h"
#include "relay/trust.h"

#define SCAN_INTERVAL 1			/* seconds */
#define INFLIGHT_MAX 2000		/* records in hand */
#define INFLIGHT_BYTES_MAX (512u << 20)	/* their messages */
#define JOB_RCPTS_MAX 100		/* recipients per transaction */
#define ROUTE_TTL 60			/* seconds a route is kept */
#define CONN_IDLE_SEC 2			/* a connection waits for more */
#define RETRY_WRITE_SEC 5		/* a failed write is tried again */
#define HASH_SIZE 4096

struct qrec;
struct qdest;
struct qconn;

struct qjob {
	struct relay_job rj;
	struct qrec *rec;
	struct qdest *dest;
	size_t *idx;			/* recipient indexes in rec */
	struct relay_rcpt *rr;
	bool finished;
	struct qjob *next;		/* in the destination's FIFO */
};

struct qrec {
	struct store_queue q;
	struct buf msg;
	uint8_t *old_state;
	bool *tried;			/* a result came back this round */
	bool *peer_dsn;			/* its peer reports success itself */
	char (*remote)[STORE_HOST_MAX];
	struct qjob *jobs;
	size_t n_jobs, jobs_left;
	struct qrec *hnext;
	/* the write of the outcome */
	struct store_queue_update upd;
	struct queue_report *reports;
	struct event *retry_ev;
	bool without_reports;
};

struct qconn {
	struct relay_conn *rc;
	struct qdest *d;
	struct qjob *job;
	struct event *idle_ev;
	size_t target;
	bool ready;
	struct qconn *next;
};

struct qdest {
	char domain[STORE_HOST_MAX];
	struct qjob *head, *tail;
	size_t n_jobs;
	struct qconn *conns;
	unsigned n_conns, n_connecting;
	struct relay_route route;
	int64_t route_time;
	bool route_ok;
	bool resolving;
	struct qdest *next;
};

struct resolve_job {
	struct qdest *d;
	struct config *cfg;
	struct relay_route route;
};

static struct {
	struct loop *loop;
	struct store *st;
	struct workers *w;
	struct event *scan_ev;
	struct event *wake_ev;
	struct event *grace_ev;
	struct qrec *hash[HASH_SIZE];
	size_t n_inflight;
	size_t inflight_bytes;
	struct qdest *dests;
	unsigned n_resolving;
	bool stopping;
	void (*done)(void);
	int woken;
} m;

static const struct relay_conn_cbs conn_cbs;
static void dest_kick(struct qdest *d);
static void job_finish(struct qjob *j);
static void maybe_done(void);

/* ---- records in hand ---- */

static struct qrec **
hash_slot(uint64_t id)
{
	return &m.hash[(id ^ (id >> 29)) % HASH_SIZE];
}

static struct qrec *
rec_find(uint64_t id)
{
	for (struct qrec *r = *hash_slot(id); r != NULL; r = r->hnext)
		if (r->q.id == id)
			return r;
	return NULL;
}

static void
rec_free(struct qrec *r)
{
	struct qrec **p = hash_slot(r->q.id);
	while (*p != NULL && *p != r)
		p = &(*p)->hnext;
	if (*p == r)
		*p = r->hnext;
	m.n_inflight--;
	m.inflight_bytes -= buf_len(&r->msg);
	for (size_t i = 0; i < r->n_jobs; i++) {
		free(r->jobs[i].idx);
		free(r->jobs[i].rr);
	}
	free(r->jobs);
	free(r->old_state);
	free(r->tried);
	free(r->peer_dsn);
	free(r->remote);
	buf_wipe(&r->msg);
	queue_report_free(&r->reports);
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	store_queue_free(&r->q);
	free(r);
}

static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at != NULL ? at + 1 : "";
}

/* ---- writing an outcome ---- */

static int
finish_op(struct store_wtxn *w, void *arg)
{
	struct qrec *r = arg;
	int e = store_op_queue_update(w, &r->upd);
	if (e == 0 && r->reports != NULL && !r->without_reports)
		e = queue_report_apply(w, r->reports);
	return e;
}

static void finish_written(int result, void *arg);

static void
finish_submit(struct qrec *r)
{
	if (store_submit(m.st, finish_op, r, finish_written, m.loop) < 0) {
		struct timeval tv = { RETRY_WRITE_SEC, 0 };
		if (r->retry_ev != NULL)
			evtimer_add(r->retry_ev, &tv);
	}
}

static void
retry_write_cb(evutil_socket_t fd, short what, void *arg)
{
	finish_submit(arg);
}

static void
finish_written(int result, void *arg)
{
	struct qrec *r = arg;
	char id[17];

	queue_id_format(r->q.id, id);
	if (result == ERR_NOTFOUND && r->reports != NULL &&
	    !r->without_reports) {
		/* The sender's mailbox went meanwhile, or the record did:
		 * write the outcome alone. */
		r->without_reports = true;
		finish_submit(r);
		return;
	}
	if (result == ERR_NOTFOUND) {
		log_info("%s queue record gone meanwhile (deleted)", id);
	} else if (result < 0) {
		/* Never deliver again what the peer has: keep the record
		 * in hand and write the same outcome until it takes. */
		log_warnx("%s queue cannot write the outcome error=\"%s\"; "
		    "retrying in %ds", id, err_str(result), RETRY_WRITE_SEC);
		struct timeval tv = { RETRY_WRITE_SEC, 0 };
		if (r->retry_ev != NULL)
			evtimer_add(r->retry_ev, &tv);
		return;
	} else {
		if (r->reports != NULL && !r->without_reports &&
		    queue_report_queued(r->reports))
			queue_wake();
		if (r->upd.removed_r)
			log_info("%s queue removed", id);
	}
	rec_free(r);
	maybe_done();
}

/* peer_reply - the peer's own reply inside our diagnostic "host H said:
 * REPLY (in reply to CMD command)" (relay_client.c), into out: a report
 * gives the host as Remote-MTA and the reply as a Diagnostic-Code of
 * type smtp (RFC 3464 2.3.6). False for our own wording. */
static bool
peer_reply(const char *diag, char *out, size_t size)
{
	static const char said[] = " said: ", tail[] = " (in reply to ";
	if (strncmp(diag, "host ", 5) != 0)
		return false;
	const char *p = strstr(diag, said);
	if (p == NULL)
		return false;
	p += sizeof(said) - 1;
	const char *end = NULL;
	for (const char *s = p; (s = strstr(s, tail)) != NULL; s++)
		end = s;
	size_t len = strlen(p);
	if (end == NULL || end == p || len < 9 ||
	    strcmp(p + len - 9, " command)") != 0)
		return false;
	return str_copyn(out, size, p, (size_t)(end - p)) == 0;
}

static void
add_report(struct qrec *r, const struct config *cfg, enum dsn_action act,
	   int64_t now)
{
	struct dsn_rcpt dr[STORE_QUEUE_RCPTS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < r->q.n_rcpt; i++) {
		struct store_qrcpt *q = &r->q.rcpts[i];
		bool want = false;
		if (act == DSN_FAILED)
			want = q->state == STORE_RCPT_FAILED &&
			    r->old_state[i] != STORE_RCPT_FAILED &&
			    !(q->notify & STORE_NOTIFY_NEVER) &&
			    (q->notify == 0 || (q->notify &
			    STORE_NOTIFY_FAILURE));
		else if (act == DSN_RELAYED)
			want = q->state == STORE_RCPT_SENT &&
			    r->old_state[i] != STORE_RCPT_SENT &&
			    (q->notify & STORE_NOTIFY_SUCCESS) &&
			    !r->peer_dsn[i];
		else if (act == DSN_DELAYED)
			want = q->state == STORE_RCPT_PENDING &&
			    (q->notify & STORE_NOTIFY_DELAY) &&
			    !q->delay_notified && r->tried[i] &&
			    now - r->q.arrival >= (int64_t)cfg->
			    queue_delay_warning;
		if (!want)
			continue;
		if (act == DSN_DELAYED)
			q->delay_notified = true;
		struct dsn_rcpt *d = &dr[n++];
		memset(d, 0, sizeof(*d));
		d->final = q->addr;
		d->orcpt = q->orcpt[0] ? q->orcpt : NULL;
		d->action = act;
		d->status = q->status[0] ? q->status : (act == DSN_FAILED ?
		    "5.0.0" : act == DSN_DELAYED ? "4.0.0" : "2.0.0");
		d->remote_mta = q->remote[0] ? q->remote : NULL;
		d->diag = q->diag[0] ? q->diag : NULL;
		d->last_attempt = q->last_attempt;
		if (act == DSN_DELAYED)
			d->will_retry_until = r->q.arrival +
			    (int64_t)cfg->queue_max_lifetime;
	}
	if (n == 0 || r->q.is_dsn || r->q.sender[0] == '\0')
		return;
	/* Without memory the framed text goes, typed as our own words. */
	char (*replies)[STORE_DIAG_MAX] = calloc(n, sizeof(*replies));
	for (size_t k = 0; replies != NULL && k < n; k++)
		if (dr[k].diag != NULL && peer_reply(dr[k].diag, replies[k],
		    sizeof(replies[k])))
			dr[k].diag = replies[k];

	char from[STORE_ADDR_MAX + 16], mid[STORE_HOST_MAX + 40], rnd[17];
	str_fmt(from, sizeof(from), "MAILER-DAEMON@%s", cfg->hostname);
	str_rand_hex(rnd, 8);
	str_fmt(mid, sizeof(mid), "<dsn.%s@%s>", rnd, cfg->hostname);
	struct dsn_report rep = {
		.reporting_mta = cfg->hostname,
		.from = from,
		.to = r->q.sender,
		.envid = r->q.envid[0] ? r->q.envid : NULL,
		.arrival = r->q.arrival,
		.now = now,
		.ret = r->q.ret == STORE_RET_FULL ? DSN_RETURN_FULL :
		    r->q.ret == STORE_RET_HDRS ? DSN_RETURN_HDRS :
		    DSN_RETURN_DEFAULT,
		.message = buf_data(&r->msg),
		.message_len = buf_len(&r->msg),
		.n_rcpt = n,
		.rcpts = dr,
		.message_id = mid,
	};
	struct queue_report *qr = NULL;
	char id[17];
	queue_id_format(r->q.id, id);
	int e = queue_report_prepare(&rep, m.st, &qr);
	free(replies);
	if (e < 0) {
		log_warnx("%s queue cannot build the %s report error=\"%s\"",
		    id, act == DSN_FAILED ? "failure" : act == DSN_DELAYED ?
		    "delay" : "success", err_str(e));
		return;
	}
	if (qr != NULL) {
		log_info("%s queue report=%s to=<%s> recipients=%zu", id,
		    act == DSN_FAILED ? "failure" : act == DSN_DELAYED ?
		    "delay" : "success", r->q.sender, n);
		qr->next = r->reports;
		r->reports = qr;
	}
}

static int64_t
next_delay(const struct config *cfg, unsigned attempts)
{
	const struct config_list *s = &cfg->queue_retry_schedule;
	uint64_t sec = 60;
	size_t k = attempts == 0 ? 0 : attempts - 1;
	if (k >= s->n)
		k = s->n - 1;
	if (s->n > 0 && str_to_seconds(s->v[k], &sec) < 0)
		sec = 60;
	/* A tenth either way, so that what failed together is not retried
	 * together. */
	uint64_t span = sec / 5;
	if (span > 0)
		sec = sec - sec / 10 + randombytes_uniform((uint32_t)
		    (span > UINT32_MAX ? UINT32_MAX : span));
	return sec == 0 ? 1 : (int64_t)sec;
}

static void
log_rcpt(const struct qrec *r, size_t i, const char *status)
{
	const struct store_qrcpt *q = &r->q.rcpts[i];
	char id[17];
	queue_id_format(r->q.id, id);
	struct logline ll;
	logl_begin(&ll, id, "relay", status);
	logl_str(&ll, "to", q->addr);
	logl_str(&ll, "relay", q->remote[0] ? q->remote : "none");
	logl_u64(&ll, "attempts", q->attempts);
	logl_str(&ll, "dsn", q->status);
	logl_str(&ll, "diag", q->diag);
	logl_emit(&ll, LOG_INFO);
}

/* rec_finish - every job is back: the outcome, reports, the write. */
static void
rec_finish(struct qrec *r)
{
	struct config *cfg = config_current();
	int64_t now = (int64_t)time(NULL);
	unsigned max_attempts = 0;
	bool any_tried = false;

	if (cfg == NULL) {
		rec_free(r);
		return;
	}
	for (size_t i = 0; i < r->q.n_rcpt; i++) {
		struct store_qrcpt *q = &r->q.rcpts[i];
		if (q->state != STORE_RCPT_PENDING || !r->tried[i])
			continue;
		any_tried = true;
		if (q->attempts < UINT16_MAX)
			q->attempts++;
		q->last_attempt = now;
		if (q->status[0] == '2') {
			q->state = STORE_RCPT_SENT;
			log_rcpt(r, i, "sent");
		} else if (q->status[0] == '5') {
			q->state = STORE_RCPT_FAILED;
			log_rcpt(r, i, "bounced");
		} else if (now >= r->q.arrival +
		    (int64_t)cfg->queue_max_lifetime) {
			char diag[STORE_DIAG_MAX];
			str_fmt(diag, sizeof(diag), "delivery time expired "
			    "after %llu s; last error: %s",
			    (unsigned long long)(now - r->q.arrival), q->diag);
			str_copy(q->diag, sizeof(q->diag), diag);
			str_copy(q->status, sizeof(q->status), "4.4.7");
			q->state = STORE_RCPT_FAILED;
			log_rcpt(r, i, "expired");
		} else {
			log_rcpt(r, i, "deferred");
		}
		if (q->state == STORE_RCPT_PENDING && q->attempts >
		    max_attempts)
			max_attempts = q->attempts;
	}
	add_report(r, cfg, DSN_FAILED, now);
	add_report(r, cfg, DSN_RELAYED, now);
	add_report(r, cfg, DSN_DELAYED, now);

	int64_t next = now;
	if (any_tried) {
		next = now + next_delay(cfg, max_attempts);
		int64_t end = r->q.arrival + (int64_t)cfg->queue_max_lifetime;
		if (next > end)
			next = end > now ? end : now + 1;
	}
	r->upd.id = r->q.id;
	r->upd.n_rcpt = r->q.n_rcpt;
	r->upd.rcpts = r->q.rcpts;
	r->upd.next_attempt = next;
	config_unref(&cfg);
	finish_submit(r);
}

static void
job_finish(struct qjob *j)
{
	struct qrec *r = j->rec;
	if (j->finished)
		return;
	j->finished = true;
	for (size_t k = 0; k < j->rj.n_rcpt; k++) {
		struct relay_rcpt *rr = &j->rr[k];
		size_t i = j->idx[k];
		struct store_qrcpt *q = &r->q.rcpts[i];
		if (rr->code == 0)
			continue;		/* not tried */
		r->tried[i] = true;
		r->peer_dsn[i] = j->rj.peer_dsn_r;
		str_copy(q->status, sizeof(q->status), rr->status[0] ?
		    rr->status : (rr->code >= 500 ? "5.0.0" : rr->code >= 400 ?
		    "4.0.0" : "2.0.0"));
		/* class from the reply code, whatever the text claimed */
		q->status[0] = (char)('0' + rr->code / 100);
		str_copy(q->diag, sizeof(q->diag), rr->diag);
		str_copy(q->remote, sizeof(q->remote), j->rj.remote_r);
	}
	if (--r->jobs_left == 0)
		rec_finish(r);
}

/* fail_job - a job that did not reach a server gets this result. */
static void
fail_job(struct qjob *j, const char *status, const char *reason,
	 const char *remote)
{
	for (size_t k = 0; k < j->rj.n_rcpt; k++) {
		struct relay_rcpt *rr = &j->rr[k];
		rr->code = status == NULL ? 0 : status[0] == '5' ? 550 : 450;
		if (status != NULL) {
			str_copy(rr->status, sizeof(rr->status), status);
			str_copy(rr->diag, sizeof(rr->diag), reason);
		}
	}
	str_copy(j->rj.remote_r, sizeof(j->rj.remote_r), remote);
	job_finish(j);
}

/* ---- destinations ---- */

static struct qdest *
dest_get(const char *domain)
{
	for (struct qdest *d = m.dests; d != NULL; d = d->next)
		if (strcmp(d->domain, domain) == 0)
			return d;
	struct qdest *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	if (str_copy(d->domain, sizeof(d->domain), domain) < 0) {
		free(d);
		return NULL;
	}
	d->next = m.dests;
	m.dests = d;
	return d;
}

static void
dest_maybe_free(struct qdest *d)
{
	if (d->head != NULL || d->conns != NULL || d->resolving)
		return;
	/* Kept while its route is fresh: the next message reuses it. */
	if (!m.stopping && d->route_ok &&
	    (int64_t)time(NULL) - d->route_time < ROUTE_TTL)
		return;
	struct qdest **p = &m.dests;
	while (*p != NULL && *p != d)
		p = &(*p)->next;
	if (*p == d)
		*p = d->next;
	free(d);
}

static struct qjob *
dest_pop(struct qdest *d)
{
	struct qjob *j = d->head;
	if (j != NULL) {
		d->head = j->next;
		if (d->head == NULL)
			d->tail = NULL;
		j->next = NULL;
		d->n_jobs--;
	}
	return j;
}

static void
dest_push(struct qdest *d, struct qjob *j)
{
	j->next = NULL;
	if (d->tail != NULL)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	d->n_jobs++;
}

/* dest_fail_all - nothing could reach the destination: its waiting jobs
 * take the reason (they would fail the same way). */
static void
dest_fail_all(struct qdest *d, const char *status, const char *reason)
{
	struct qjob *j;
	while ((j = dest_pop(d)) != NULL)
		fail_job(j, status, reason, d->route.n > 0 ?
		    d->route.t[0].host : "");
}

static void
resolve_work(void *arg)
{
	struct resolve_job *rj = arg;
	relay_route_resolve(rj->cfg, m.st, rj->d->domain, &rj->route);
}

static void
resolve_done(void *arg)
{
	struct resolve_job *rj = arg;
	struct qdest *d = rj->d;
	d->resolving = false;
	m.n_resolving--;
	d->route = rj->route;
	d->route_time = (int64_t)time(NULL);
	d->route_ok = d->route.n > 0;
	config_unref(&rj->cfg);
	free(rj);
	if (!d->route_ok) {
		log_info("- relay no route domain=%s reason=\"%s\"", d->domain,
		    d->route.error);
		dest_fail_all(d, d->route.status[0] ? d->route.status :
		    d->route.permanent ? "5.4.4" : "4.4.3",
		    d->route.error[0] ? d->route.error : "no route");
	} else if (m.stopping) {
		struct qjob *j;
		while ((j = dest_pop(d)) != NULL)
			fail_job(j, NULL, "", "");
	}
	dest_kick(d);
	dest_maybe_free(d);
	maybe_done();
}

static void
dest_resolve(struct qdest *d)
{
	struct resolve_job *rj = calloc(1, sizeof(*rj));
	if (rj == NULL)
		return;
	rj->d = d;
	rj->cfg = config_current();
	if (rj->cfg == NULL) {
		free(rj);
		return;
	}
	d->resolving = true;
	m.n_resolving++;
	if (workers_submit(m.w, resolve_work, resolve_done, rj, m.loop) < 0) {
		d->resolving = false;
		m.n_resolving--;
		config_unref(&rj->cfg);
		free(rj);
		dest_fail_all(d, "4.3.0", "no resource to look up the route "
		    "(worker queue full)");
	}
}

static void
conn_open(struct qdest *d, struct qconn *qc)
{
	struct config *cfg = config_current();
	qc->rc = cfg != NULL ? relay_conn_open(loop_base(m.loop), cfg,
	    &d->route.t[qc->target], &conn_cbs, qc) : NULL;
	config_unref(&cfg);
	if (qc->rc != NULL)
		d->n_connecting++;
}

static void
conn_unlink(struct qconn *qc)
{
	struct qdest *d = qc->d;
	struct qconn **p = &d->conns;
	while (*p != NULL && *p != qc)
		p = &(*p)->next;
	if (*p == qc)
		*p = qc->next;
	d->n_conns--;
	if (qc->idle_ev != NULL)
		event_free(qc->idle_ev);
	free(qc);
}

static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qconn *qc = arg;
	if (qc->job == NULL && qc->rc != NULL)
		relay_conn_quit(qc->rc);
}

static void
conn_give(struct qconn *qc, struct qjob *j)
{
	qc->job = j;
	if (qc->idle_ev != NULL)
		evtimer_del(qc->idle_ev);
	if (relay_conn_send(qc->rc, &j->rj) < 0) {
		qc->job = NULL;
		fail_job(j, "4.3.0", "cannot start the transaction (out of "
		    "memory)", qc->d->route.t[qc->target].host);
	}
}

static void
dest_kick(struct qdest *d)
{
	struct config *cfg;

	for (struct qconn *qc = d->conns; qc != NULL && d->head != NULL;
	    qc = qc->next) {
		/* Not one that is saying QUIT (its message quota used up):
		 * it would refuse the job, which would then wait for the
		 * next retry instead of the next connection. */
		if (qc->ready && qc->job == NULL && qc->rc != NULL &&
		    relay_conn_usable(qc->rc))
			conn_give(qc, dest_pop(d));
	}
	if (d->head == NULL || m.stopping || d->resolving)
		return;
	if (!d->route_ok || (int64_t)time(NULL) - d->route_time >=
	    ROUTE_TTL) {
		dest_resolve(d);
		return;
	}
	cfg = config_current();
	if (cfg == NULL)
		return;
	while (d->n_conns < cfg->relay_max_per_destination &&
	    d->n_connecting < d->n_jobs) {
		struct qconn *qc = calloc(1, sizeof(*qc));
		if (qc == NULL)
			break;
		qc->d = d;
		qc->idle_ev = evtimer_new(loop_base(m.loop), idle_cb, qc);
		qc->next = d->conns;
		d->conns = qc;
		d->n_conns++;
		conn_open(d, qc);
		if (qc->rc == NULL) {
			conn_unlink(qc);
			dest_fail_all(d, "4.3.0", "cannot open a connection "
			    "(out of resources)");
			break;
		}
	}
	config_unref(&cfg);
}

/* ---- connection callbacks ---- */

static void
conn_idle(struct qconn *qc)
{
	struct qdest *d = qc->d;
	struct config *cfg = config_current();
	bool used_up = cfg == NULL || relay_conn_messages(qc->rc) >=
	    cfg->relay_max_messages_per_connection;
	config_unref(&cfg);
	if (used_up || m.stopping) {
		relay_conn_quit(qc->rc);
		return;
	}
	if (d->head != NULL) {
		conn_give(qc, dest_pop(d));
		return;
	}
	struct timeval tv = { CONN_IDLE_SEC, 0 };
	if (qc->idle_ev != NULL)
		evtimer_add(qc->idle_ev, &tv);
	else
		relay_conn_quit(qc->rc);
}

static void
on_ready(struct relay_conn *c, void *arg)
{
	struct qconn *qc = arg;
	qc->ready = true;
	qc->d->n_connecting--;
	conn_idle(qc);
	dest_kick(qc->d);
}

static void
on_done(struct relay_conn *c, struct relay_job *rj, void *arg)
{
	struct qconn *qc = arg;
	struct qjob *j = rj->owner;
	qc->job = NULL;
	job_finish(j);
	/* Still usable unless closed() follows: conn_idle finds out by
	 * relay_conn_send refusing. */
	if (qc->rc != NULL && relay_conn_usable(qc->rc))
		conn_idle(qc);
}

static void
on_closed(struct relay_conn *c, bool established, const char *status,
	  const char *reason, void *arg)
{
	struct qconn *qc = arg;
	struct qdest *d = qc->d;

	qc->rc = NULL;
	if (!established) {
		d->n_connecting--;
		log_info("- relay connection failed domain=%s reason=\"%s\"",
		    d->domain, reason);
		/* The next address or MX host, if there is one. */
		if (!m.stopping && qc->target + 1 < d->route.n &&
		    d->head != NULL) {
			qc->target++;
			conn_open(d, qc);
			if (qc->rc != NULL)
				return;
		}
		bool other = false;
		for (struct qconn *o = d->conns; o != NULL; o = o->next)
			if (o != qc && o->rc != NULL)
				other = true;
		if (!other) {
			dest_fail_all(d, status, reason);
			d->route_ok = false;	/* look it up again */
		}
	}
	conn_unlink(qc);
	dest_kick(d);
	dest_maybe_free(d);
	maybe_done();
}

static const struct relay_conn_cbs conn_cbs = {
	.ready = on_ready,
	.done = on_done,
	.closed = on_closed,
};

/* ---- taking records ---- */

static int
rec_plan(struct qrec *r)
{
	size_t n = r->q.n_rcpt;
	r->old_state = calloc(n, 1);
	r->tried = calloc(n, sizeof(*r->tried));
	r->peer_dsn = calloc(n, sizeof(*r->peer_dsn));
	r->jobs = calloc(n, sizeof(*r->jobs));
	if (r->old_state == NULL || r->tried == NULL || r->peer_dsn == NULL ||
	    r->jobs == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		r->old_state[i] = r->q.rcpts[i].state;

	bool *taken = calloc(n, sizeof(*taken));
	if (taken == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (taken[i] || r->q.rcpts[i].state != STORE_RCPT_PENDING)
			continue;
		const char *dom = domain_of(r->q.rcpts[i].addr);
		struct qjob *j = &r->jobs[r->n_jobs];
		j->idx = calloc(JOB_RCPTS_MAX, sizeof(*j->idx));
		j->rr = calloc(JOB_RCPTS_MAX, sizeof(*j->rr));
		if (j->idx == NULL || j->rr == NULL) {
			free(taken);
			return ERR_NOMEM;
		}
		r->n_jobs++;
		j->rec = r;
		for (size_t k = i; k < n && j->rj.n_rcpt < JOB_RCPTS_MAX;
		    k++) {
			struct store_qrcpt *q = &r->q.rcpts[k];
			if (taken[k] || q->state != STORE_RCPT_PENDING ||
			    strcasecmp(domain_of(q->addr), dom) != 0)
				continue;
			taken[k] = true;
			struct relay_rcpt *rr = &j->rr[j->rj.n_rcpt];
			rr->addr = q->addr;
			rr->orcpt = q->orcpt[0] ? q->orcpt : NULL;
			rr->notify = q->notify;
			j->idx[j->rj.n_rcpt++] = k;
		}
		j->rj.sender = r->q.sender;
		j->rj.envid = r->q.envid;
		j->rj.ret = r->q.ret;
		j->rj.data = buf_data(&r->msg);
		j->rj.len = buf_len(&r->msg);
		j->rj.rcpts = j->rr;
		j->rj.owner = j;
	}
	free(taken);
	r->jobs_left = r->n_jobs;
	return 0;
}

static void
rec_dispatch(struct qrec *r)
{
	size_t n = r->n_jobs;
	if (n == 0) {
		/* nothing pending (an odd record): the write removes it */
		rec_finish(r);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct qjob *j = &r->jobs[i];
		char dom[STORE_HOST_MAX];
		const char *why;
		const char *raw = domain_of(j->rr[0].addr);
		if (trust_domain_normalize(raw, dom, sizeof(dom), &why) < 0)
			str_copy(dom, sizeof(dom), raw);
		struct qdest *d = dest_get(dom);
		if (d == NULL) {
			fail_job(j, "4.3.0", "out of memory", "");
			continue;
		}
		j->dest = d;
		dest_push(d, j);
		dest_kick(d);
	}
}

struct scan_ctx {
	uint64_t ids[256];
	size_t n;
};

static int
due_cb(uint64_t id, int64_t due, void *arg)
{
	struct scan_ctx *sc = arg;
	(void)due;
	if (rec_find(id) != NULL)
		return 0;
	if (m.n_inflight + sc->n >= INFLIGHT_MAX ||
	    sc->n == sizeof(sc->ids) / sizeof(sc->ids[0]))
		return 1;
	sc->ids[sc->n++] = id;
	return 0;
}

static void
scan(void)
{
	struct scan_ctx sc;
	struct store_rtxn *rt;
	int64_t now = (int64_t)time(NULL);

	if (m.stopping)
		return;
	for (;;) {
		sc.n = 0;
		if (store_read_begin(m.st, &rt) < 0)
			return;
		int e = store_queue_due(rt, now, due_cb, &sc);
		if (e < 0)
			log_warnx("- queue cannot read the due index error=\"%s\"",
			    err_str(e));
		size_t taken = 0;
		for (size_t i = 0; i < sc.n; i++) {
			if (m.inflight_bytes >= INFLIGHT_BYTES_MAX)
				break;
			struct qrec *r = calloc(1, sizeof(*r));
			if (r == NULL)
				break;
			store_queue_init(&r->q);
			buf_init(&r->msg, SIZE_MAX / 2);
			r->retry_ev = evtimer_new(loop_base(m.loop),
			    retry_write_cb, r);
			int g = store_queue_get(rt, sc.ids[i], &r->q);
			if (g == 1 && !r->q.held) {
				int b = store_blob_read(rt, r->q.blob_id,
				    &r->msg);
				if (b < 0)
					g = b;
			} else if (g == 1)
				g = ERR_EXISTS;	/* held meanwhile */
			r->q.id = sc.ids[i];
			struct qrec **slot = hash_slot(r->q.id);
			r->hnext = *slot;
			*slot = r;
			m.n_inflight++;
			m.inflight_bytes += buf_len(&r->msg);
			taken++;
			char id[17];
			queue_id_format(sc.ids[i], id);
			if (g == 0 || g == ERR_EXISTS) {
				/* gone or held since the index was read */
				rec_free(r);
				continue;
			}
			if (g < 0) {
				log_warnx("%s queue cannot read the message "
				    "error=\"%s\"", id, err_str(g));
				/* Leave it: the write below pushes it back
				 * by the schedule. */
			}
			if (rec_plan(r) < 0) {
				rec_free(r);
				continue;
			}
			if (g < 0) {
				for (size_t k = 0; k < r->n_jobs; k++)
					fail_job(&r->jobs[k], "4.3.0",
					    "cannot read the queued message",
					    "");
				continue;
			}
			rec_dispatch(r);
		}
		store_read_end(&rt);
		if (taken < sizeof(sc.ids) / sizeof(sc.ids[0]) ||
		    m.n_inflight >= INFLIGHT_MAX ||
		    m.inflight_bytes >= INFLIGHT_BYTES_MAX)
			break;
	}
}

static void
scan_cb(evutil_socket_t fd, short what, void *arg)
{
	__atomic_store_n(&m.woken, 0, __ATOMIC_RELAXED);
	scan();
}

void
queue_wake(void)
{
	if (m.wake_ev == NULL)
		return;
	if (__atomic_exchange_n(&m.woken, 1, __ATOMIC_RELAXED) == 0)
		event_active(m.wake_ev, EV_TIMEOUT, 0);
}

int
queue_start(struct loop *l, struct store *st, struct workers *w)
{
	struct timeval tv = { SCAN_INTERVAL, 0 };
	m.loop = l;
	m.st = st;
	m.w = w;
	m.scan_ev = event_new(loop_base(l), -1, EV_PERSIST, scan_cb, NULL);
	m.wake_ev = event_new(loop_base(l), -1, 0, scan_cb, NULL);
	if (m.scan_ev == NULL || m.wake_ev == NULL ||
	    event_add(m.scan_ev, &tv) < 0)
		return ERR_NOMEM;
	event_active(m.wake_ev, EV_TIMEOUT, 0);
	return 0;
}

/* ---- stopping ---- */

static void
maybe_done(void)
{
	if (!m.stopping || m.done == NULL || m.n_inflight > 0 ||
	    m.n_resolving > 0)
		return;
	for (struct qdest *d = m.dests; d != NULL; d = d->next)
		if (d->conns != NULL)
			return;
	while (m.dests != NULL) {
		struct qdest *d = m.dests;
		m.dests = d->next;
		free(d);
	}
	if (m.grace_ev != NULL) {
		event_free(m.grace_ev);
		m.grace_ev = NULL;
	}
	event_free(m.scan_ev);
	event_free(m.wake_ev);
	m.scan_ev = m.wake_ev = NULL;
	void (*done)(void) = m.done;
	m.done = NULL;
	done();
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	/* What is still being sent is left as it was: tried again at the
	 * next start (the documented duplicate window). */
	for (struct qdest *d = m.dests; d != NULL; d = d->next) {
		struct qconn *qc = d->conns;
		while (qc != NULL) {
			struct qconn *next = qc->next;
			struct qjob *j = qc->job;
			if (qc->rc != NULL) {
				relay_conn_abort(qc->rc);
				qc->rc = NULL;
			}
			if (!qc->ready)
				d->n_connecting--;
			conn_unlink(qc);
			if (j != NULL)
				fail_job(j, NULL, "", "");
			qc = next;
		}
	}
	maybe_done();
}

struct shutdown_arg {
	unsigned grace;
	void (*done)(void);
};

static void
shutdown_cb(void *arg)
{
	struct shutdown_arg *sa = arg;
	m.stopping = true;
	m.done = sa->done;
	struct timeval tv = { (time_t)sa->grace, 0 };
	free(sa);
	m.grace_ev = evtimer_new(loop_base(m.loop), grace_cb, NULL);
	if (m.grace_ev != NULL)
		evtimer_add(m.grace_ev, &tv);
	for (struct qdest *d = m.dests; d != NULL; d = d->next) {
		struct qjob *j;
		while ((j = dest_pop(d)) != NULL)
			fail_job(j, NULL, "", "");
		for (struct qconn *qc = d->conns; qc != NULL; qc = qc->next)
			if (qc->ready && qc->job == NULL && qc->rc != NULL)
				relay_conn_quit(qc->rc);
	}
	maybe_done();
}

void
queue_shutdown(unsigned grace, void (*done)(void))
{
	struct shutdown_arg *sa = malloc(sizeof(*sa));
	if (sa == NULL) {
		done();
		return;
	}
	sa->grace = grace;
	sa->done = done;
	if (loop_post(m.loop, shutdown_cb, sa) < 0) {
		free(sa);
		done();
	}
}
