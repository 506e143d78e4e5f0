/* SPDX-License-Identifier: MIT */
/*
 * smtp_deliver.c - the end of a message: submission checks on its header
 * (exactly one From, naming only the user's own addresses), the trace
 * and missing headers the gateway adds (Received per RFC 5321 4.4 with
 * the RFC 3848 protocol name and the TLS parameters; Date and Message-ID
 * when absent, RFC 6409 section 8), sealing, and the durable hand-off to
 * the store. "250" is sent only after the commit.
 */
#include "smtp_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "mime/mime.h"
#include "mime/mime_struct.h"
#include "queue/queue.h"

#define FROM_ADDRS_MAX 16
#define TRACE_MAX 2048
#define HOPS_MAX 50		/* Received fields, as Postfix's hopcount */

struct deliver_job {
	struct store_delivery d;	/* local mailboxes */
	struct store_queue q;		/* other operators */
	struct store_queue_add qa;	/* ... when nothing is local */
	struct queue_report *reports;	/* success reports (NOTIFY) */
	struct smtp_session *s;
	struct buf sealed;
	struct buf info;		/* IMAP's view of the message */
	uint32_t *ids;
	uint32_t *uids;
	uint32_t *mboxes;
	char **addrs;
	size_t n;
};

static void
job_free(struct deliver_job *j)
{
	store_queue_free(&j->q);
	queue_report_free(&j->reports);
	buf_free(&j->sealed);
	buf_free(&j->info);
	free(j->ids);
	free(j->uids);
	free(j->mboxes);
	free(j->addrs);
	free(j);
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
deliver_done(int result, void *arg)
{
	struct deliver_job *j = arg;
	struct smtp_session *s = j->s;
	struct logline ll;

	if (result == 0) {
		for (size_t i = 0; i < j->n; i++) {
			logl_begin(&ll, s->qid, "smtp", "delivered");
			logl_str(&ll, "to", j->addrs[i]);
			logl_str(&ll, "mailbox", "INBOX");
			logl_u64(&ll, "uid", j->uids[i]);
			logl_emit(&ll, LOG_INFO);
		}
		for (size_t i = 0; i < j->q.n_rcpt; i++) {
			logl_begin(&ll, s->qid, "smtp", "queued");
			logl_str(&ll, "to", j->q.rcpts[i].addr);
			logl_emit(&ll, LOG_INFO);
		}
		if (j->q.n_rcpt > 0 || queue_report_queued(j->reports))
			queue_wake();
	}
	logl_begin(&ll, s->qid, "smtp", result == 0 ? "accepted" : "failed");
	logl_str(&ll, "session", s->id);
	logl_str(&ll, "from", s->null_sender ? "<>" : s->mail_from);
	logl_u64(&ll, "size", j->d.size);
	logl_u64(&ll, "nrcpt", j->n + j->q.n_rcpt);
	char delay[32];
	snprintf(delay, sizeof(delay), "%.4f", elapsed(&s->t_data));
	logl_str(&ll, "delay", delay);
	if (result < 0)
		logl_str(&ll, "error", err_str(result));
	logl_emit(&ll, result == 0 ? LOG_INFO : LOG_WARNING);

	if (!smtp_pending_done(s)) {
		job_free(j);
		return;
	}
	s->state = SMTP_STATE_COMMAND;
	if (result == 0)
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
	else if (result == ERR_STORE_FULL)
		smtp_reply_error(s, "452 4.3.1 Insufficient system storage");
	else if (result == ERR_NOTFOUND)
		smtp_reply_error(s, "451 4.3.0 Error: a recipient's mailbox "
		    "changed meanwhile, try again");
	else if (result == ERR_EXISTS)
		smtp_reply_error(s, "451 4.3.0 Error: queue id collision, try "
		    "again");
	else
		smtp_reply_error(s, "451 4.3.0 Error: queue file write error");
	job_free(j);
	smtp_txn_reset(s);
	if (s->state == SMTP_STATE_COMMAND)
		smtp_resume(s);
}

/* refuse - end the transaction with a reply; back to commands. */
static void
refuse(struct smtp_session *s, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
refuse(struct smtp_session *s, const char *reason, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	struct logline ll;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	logl_begin(&ll, s->qid, "smtp", "reject");
	logl_str(&ll, "session", s->id);
	logl_str(&ll, "reason", reason);
	logl_emit(&ll, LOG_NOTICE);
	s->state = SMTP_STATE_COMMAND;
	smtp_txn_reset(s);
	smtp_reply_error(s, "%s", text);
	if (s->state == SMTP_STATE_COMMAND)
		smtp_resume(s);
}

/* header_check - the RFC 6409 / MSSanté submission rules on the header
 * section; fills which fields are missing. 0 or a refusal was sent. */
static int
header_check(struct smtp_session *s, const char *msg, size_t hlen,
	     bool *no_from, bool *no_date, bool *no_msgid)
{
	struct mime_hdr_iter it;
	struct strv name, value;
	char addrs[FROM_ADDRS_MAX][MIME_ADDR_MAX];
	unsigned n_from = 0, n_date = 0, n_msgid = 0, n_hops = 0;
	bool relay = s->kind == SMTP_LISTENER_RELAY;
	int r;

	*no_from = *no_date = *no_msgid = false;
	mime_header_iter_init(&it, msg, hlen);
	while ((r = mime_header_next(&it, &name, &value)) == 1) {
		if (name.len == 8 && strncasecmp(name.p, "Received", 8) == 0 &&
		    ++n_hops > HOPS_MAX) {
			refuse(s, "too many hops", "554 5.4.6 Error: too many "
			    "hops (more than %d Received fields): mail loop?",
			    HOPS_MAX);
			return ERR_PROTO;
		}
		if (relay)
			continue;	/* another operator's message, as is */
		if (name.len == 4 && strncasecmp(name.p, "From", 4) == 0) {
			n_from++;
			int n = mime_mailbox_list(value.p, value.len, addrs,
			    FROM_ADDRS_MAX);
			if (n < 0) {
				refuse(s, "unparsable From", "550 5.7.1 Error: "
				    "the From header cannot be parsed; it must "
				    "name your own address");
				return ERR_PROTO;
			}
			for (int i = 0; i < n; i++) {
				bool own = false;
				for (size_t k = 0; k < s->acct.n_addr; k++)
					if (strcasecmp(s->acct.addr[k],
					    addrs[i]) == 0)
						own = true;
				if (!own) {
					refuse(s, "foreign From",
					    "550 5.7.1 Error: From header "
					    "address <%s> is not owned by user "
					    "%s", addrs[i], s->acct.login);
					return ERR_PERM;
				}
			}
		} else if (name.len == 4 && strncasecmp(name.p, "Date", 4)
		    == 0) {
			n_date++;
		} else if (name.len == 10 && strncasecmp(name.p, "Message-ID",
		    10) == 0) {
			n_msgid++;
		}
	}
	if (relay)
		return 0;
	if (r < 0) {
		refuse(s, "malformed header", "550 5.6.0 Error: malformed "
		    "header line in message");
		return ERR_PROTO;
	}
	if (n_from > 1) {
		refuse(s, "several From", "550 5.6.0 Error: more than one From "
		    "header");
		return ERR_PROTO;
	}
	*no_from = n_from == 0;
	*no_date = n_date == 0;
	*no_msgid = n_msgid == 0;
	return 0;
}

static const char *
protocol_name(const struct smtp_session *s)
{
	if (!s->is_ehlo)
		return "SMTP";
	if (s->is_tls)
		return s->has_auth ? "ESMTPSA" : "ESMTPS";
	return s->has_auth ? "ESMTPA" : "ESMTP";
}

/* trace_headers - what the gateway adds at the top of the message. */
static int
trace_headers(struct smtp_session *s, struct buf *b, bool no_from,
	      bool no_date, bool no_msgid)
{
	char date[64];
	time_t now = time(NULL);
	int r = 0;

	if (str_rfc5322_date(date, sizeof(date), now) < 0)
		return ERR_INVAL;
	r |= buf_addf(b, "Received: from %s ([%s])\r\n", s->helo, s->peer);
	if (s->is_tls)
		r |= buf_addf(b, "\t(using %s with cipher %s (%d/%d bits))\r\n",
		    s->tls_version, s->tls_cipher, s->tls_bits, s->tls_bits);
	if (s->kind == SMTP_LISTENER_RELAY)
		r |= buf_addf(b, "\t(client certificate %s verified, operator "
		    "of %s)\r\n", s->peer_names, s->relay_domain);
	r |= buf_addf(b, "\tby %s (mssgate) with %s id %s\r\n",
	    s->cfg->hostname, protocol_name(s), s->qid);
	if (s->n_rcpt == 1)
		r |= buf_addf(b, "\tfor <%s>; %s\r\n", s->rcpts[0].addr, date);
	else
		r |= buf_addf(b, "\t; %s\r\n", date);
	if (no_from)
		r |= buf_addf(b, "From: <%s>\r\n", s->null_sender ?
		    s->acct.login : s->mail_from);
	if (no_date)
		r |= buf_addf(b, "Date: %s\r\n", date);
	if (no_msgid) {
		char rnd[17];
		str_rand_hex(rnd, 8);
		r |= buf_addf(b, "Message-ID: <%s.%s@%s>\r\n", s->qid, rnd,
		    s->cfg->hostname);
	}
	return r ? ERR_LIMIT : 0;
}

/* deliver_op - one transaction: the mailboxes, the queue record, and
 * the success reports, all or nothing. */
static int
deliver_op(struct store_wtxn *w, void *arg)
{
	struct deliver_job *j = arg;
	int r;
	if (j->n > 0)
		r = store_op_deliver(w, &j->d);
	else
		r = store_op_queue_add(w, &j->qa);
	if (r == 0 && j->reports != NULL)
		r = queue_report_apply(w, j->reports);
	return r;
}

/* success_reports - NOTIFY=SUCCESS on a local recipient: the sender is
 * told "delivered" (RFC 3461 5.2.2.1), in the same transaction. */
static int
success_reports(struct smtp_session *s, struct deliver_job *j,
		const struct buf *plain)
{
	size_t n = 0;
	int64_t now = (int64_t)time(NULL);

	if (s->null_sender)
		return 0;
	struct dsn_rcpt *dr = calloc(s->n_rcpt, sizeof(*dr));
	if (dr == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < s->n_rcpt; i++) {
		const struct smtp_rcpt *rc = &s->rcpts[i];
		if (rc->account_id == 0 || !(rc->notify &
		    STORE_NOTIFY_SUCCESS))
			continue;
		memset(&dr[n], 0, sizeof(dr[n]));
		dr[n].final = rc->addr;
		dr[n].orcpt = rc->orcpt[0] ? rc->orcpt : NULL;
		dr[n].action = DSN_DELIVERED;
		dr[n].status = "2.0.0";
		dr[n].last_attempt = now;
		n++;
	}
	if (n == 0) {
		free(dr);
		return 0;
	}
	char from[STORE_ADDR_MAX + 16], mid[STORE_HOST_MAX + 40], rnd[17];
	str_fmt(from, sizeof(from), "MAILER-DAEMON@%s", s->cfg->hostname);
	str_rand_hex(rnd, 8);
	str_fmt(mid, sizeof(mid), "<dsn.%s.%s@%s>", s->qid, rnd,
	    s->cfg->hostname);
	struct dsn_report rep = {
		.reporting_mta = s->cfg->hostname,
		.from = from,
		.to = s->mail_from,
		.envid = s->envid[0] ? s->envid : NULL,
		.arrival = now,
		.now = now,
		.ret = s->ret == STORE_RET_FULL ? DSN_RETURN_FULL :
		    s->ret == STORE_RET_HDRS ? DSN_RETURN_HDRS :
		    DSN_RETURN_DEFAULT,
		.message = buf_data(plain),
		.message_len = buf_len(plain),
		.n_rcpt = n,
		.rcpts = dr,
		.message_id = mid,
	};
	int r = queue_report_prepare(&rep, smtp_store(), &j->reports);
	free(dr);
	/* The message matters more than its receipt: deliver it anyway. */
	if (r < 0)
		log_warnx("%s smtp cannot build the success report error="
		    "\"%s\"", s->qid, err_str(r));
	return 0;
}

void
smtp_deliver(struct smtp_session *s)
{
	const char *msg = buf_data(&s->msg);
	size_t len = buf_len(&s->msg), body_off;
	bool no_from, no_date, no_msgid;
	struct buf plain;
	struct deliver_job *j;

	smtp_set_timeout(s, false);
	if (s->data.overflow || len > s->cfg->smtp_max_message_size) {
		refuse(s, "too big", "552 5.3.4 Error: message file too big");
		return;
	}
	/* BDAT content is taken as sent: hold it to the same line-ending
	 * rule as DATA so both paths store the same kind of message. */
	if (s->bdat_used) {
		for (size_t i = 0; i < len; i++) {
			if ((msg[i] == '\r' && (i + 1 == len ||
			    msg[i + 1] != '\n')) ||
			    (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))) {
				refuse(s, "bare CR or LF in BDAT", "550 5.6.0 "
				    "Error: bare <CR> or <LF> in message, use "
				    "CRLF line endings");
				return;
			}
		}
	}
	size_t hlen = mime_header_section(msg, len, &body_off);
	if (header_check(s, msg, hlen, &no_from, &no_date, &no_msgid) < 0)
		return;
	/* S/MIME: signed for a signing address, or its signature checked */
	struct buf sm;
	char sreply[256];
	buf_init(&sm, s->cfg->smtp_max_message_size * 2 + 65536);
	int sr = smtp_smime_process(s, msg, len, hlen, &sm, sreply,
	    sizeof(sreply));
	if (sr < 0) {
		buf_free(&sm);
		refuse(s, "smime", "%s", sreply);
		return;
	}
	if (sr == 1) {
		msg = buf_data(&sm);
		len = buf_len(&sm);
	}

	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		buf_wipe(&sm);
		goto tempfail;
	}
	j->s = s;
	store_queue_init(&j->q);
	buf_init(&j->sealed, SIZE_MAX / 2);
	buf_init(&j->info, SIZE_MAX / 2);
	buf_init(&plain, s->cfg->smtp_max_message_size * 2 + 65536 +
	    TRACE_MAX);
	if (trace_headers(s, &plain, no_from, no_date, no_msgid) < 0 ||
	    buf_add(&plain, msg, len) < 0)
		goto tempfail_plain;
	/* The plaintext is no longer needed once sealed. */
	buf_wipe(&sm);
	buf_free(&s->msg);
	buf_init(&s->msg, s->cfg->smtp_max_message_size);

	/* Local mailboxes once each, even for two addresses of one user;
	 * the others go to the queue, one record for all of them. */
	j->ids = calloc(s->n_rcpt, sizeof(*j->ids));
	j->uids = calloc(s->n_rcpt, sizeof(*j->uids));
	j->mboxes = calloc(s->n_rcpt, sizeof(*j->mboxes));
	j->addrs = calloc(s->n_rcpt, sizeof(*j->addrs));
	j->q.rcpts = calloc(s->n_rcpt, sizeof(*j->q.rcpts));
	if (j->ids == NULL || j->uids == NULL || j->mboxes == NULL ||
	    j->addrs == NULL || j->q.rcpts == NULL)
		goto tempfail_plain;
	for (size_t i = 0; i < s->n_rcpt; i++) {
		const struct smtp_rcpt *rc = &s->rcpts[i];
		if (rc->account_id == 0) {
			/* the same address twice is one delivery, as with
			 * Postfix's cleanup */
			bool dup = false;
			for (size_t k = 0; k < j->q.n_rcpt && !dup; k++)
				dup = strcasecmp(j->q.rcpts[k].addr,
				    rc->addr) == 0;
			if (dup)
				continue;
			struct store_qrcpt *q = &j->q.rcpts[j->q.n_rcpt++];
			str_copy(q->addr, sizeof(q->addr), rc->addr);
			str_copy(q->orcpt, sizeof(q->orcpt), rc->orcpt);
			q->notify = rc->notify;
			q->state = STORE_RCPT_PENDING;
			continue;
		}
		size_t k;
		for (k = 0; k < j->n; k++)
			if (j->ids[k] == rc->account_id)
				break;
		if (k < j->n)
			continue;
		j->ids[j->n] = rc->account_id;
		j->addrs[j->n] = s->rcpts[i].addr;
		j->n++;
	}
	if (j->q.n_rcpt > 0) {
		uint64_t qid;
		if (queue_id_parse(s->qid, &qid) < 0)
			goto tempfail_plain;
		j->q.id = qid;
		j->q.arrival = j->q.next_attempt = (int64_t)time(NULL);
		j->q.ret = s->ret;
		j->q.account_id = s->has_auth ? s->acct.id : 0;
		str_copy(j->q.sender, sizeof(j->q.sender), s->mail_from);
		str_copy(j->q.envid, sizeof(j->q.envid), s->envid);
	}
	if (success_reports(s, j, &plain) < 0)
		goto tempfail_plain;
	/* What IMAP will ask of this message is computed once, now. */
	struct mime_info mi;
	mime_info_init(&mi);
	int pr = mime_info_parse(buf_data(&plain), buf_len(&plain), &mi);
	if ((pr == 0 || pr == ERR_LIMIT) &&
	    mime_info_encode(&mi, &j->info) == 0)
		pr = 0;
	mime_info_free(&mi);
	if (pr < 0)
		goto tempfail_plain;
	if (store_blob_seal(smtp_store(), buf_data(&plain), buf_len(&plain),
	    &j->sealed) < 0)
		goto tempfail_plain;
	j->d.info = buf_data(&j->info);
	j->d.info_len = buf_len(&j->info);
	j->d.sealed = buf_data(&j->sealed);
	j->d.sealed_len = buf_len(&j->sealed);
	j->d.size = buf_len(&plain);
	j->d.internaldate = (int64_t)time(NULL);
	j->d.n_rcpt = j->n;
	j->d.account_ids = j->ids;
	j->d.uids_r = j->uids;
	j->d.mailbox_ids_r = j->mboxes;
	j->d.queue = j->q.n_rcpt > 0 ? &j->q : NULL;
	j->qa.q = &j->q;
	j->qa.sealed = j->d.sealed;
	j->qa.sealed_len = j->d.sealed_len;
	j->qa.info = j->d.info;
	j->qa.info_len = j->d.info_len;
	j->qa.size = j->d.size;
	buf_wipe(&plain);

	s->state = SMTP_STATE_WAIT;
	s->pending++;
	bufferevent_disable(s->bev, EV_READ);
	int r = store_submit(smtp_store(), deliver_op, j, deliver_done,
	    s->loop);
	if (r < 0) {
		s->pending--;
		job_free(j);
		refuse(s, err_str(r), "451 4.3.0 Error: queue file write "
		    "error");
	}
	return;

tempfail_plain:
	buf_wipe(&plain);
	buf_wipe(&sm);
tempfail:
	if (j != NULL)
		job_free(j);
	refuse(s, "out of memory", "451 4.3.0 Error: insufficient system "
	    "resources");
}
