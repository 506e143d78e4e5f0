/* SPDX-License-Identifier: MIT */
/*
 * relay_client.c - one outbound SMTP connection to another operator, on
 * libevent and OpenSSL (libetpan's client cannot verify certificates on
 * Debian). Greeting, EHLO, STARTTLS (mandatory: a peer that does not
 * offer it gets nothing), the handshake with the peer's certificate
 * verified for the host we meant to reach and ours presented, EHLO
 * again; then messages one after another: MAIL, RCPT..., and BDAT when
 * the peer offers CHUNKING (else DATA with dot-stuffing), all pipelined
 * when it offers PIPELINING (RFC 2920). Each recipient gets its own
 * result; a transaction that did not end with a final answer is RSET.
 */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/str.h"
#include "pki/pki.h"

enum rc_state {
	RC_CONNECT,
	RC_GREETING,
	RC_EHLO1,
	RC_STARTTLS,
	RC_HANDSHAKE,
	RC_EHLO2,
	RC_IDLE,
	RC_TXN,
	RC_RSET,
	RC_QUIT,
};

struct relay_conn {
	struct event_base *base;
	struct bufferevent *bev;
	const struct relay_conn_cbs *cbs;
	void *arg;
	struct relay_target t;
	char helo[256];
	struct timeval tv_connect, tv_io;
	enum rc_state state;
	struct relay_reply reply;
	bool established;
	unsigned n_msgs;

	/* what the peer offers (after TLS) */
	bool x_pipelining, x_8bitmime, x_smtputf8, x_dsn, x_chunking, x_tls;
	uint64_t x_size;

	/* the transaction */
	struct relay_job *job;
	size_t n_cmd;		/* MAIL, RCPT x n, DATA or BDAT */
	size_t n_sent;
	size_t n_got;
	bool mail_ok;
	size_t n_accepted;
	bool *accepted;
	bool use_bdat;
	bool wait_final;	/* body sent after 354 */
	bool body_8bit;
	bool need_utf8;
	unsigned busy;		/* inside one of its callbacks */
	bool dead;		/* closed: freed when the callback ends */
	char mail_reply[STORE_DIAG_MAX];
	char mail_status[STORE_STATUS_MAX];
	int mail_code;
};

static void rc_read_cb(struct bufferevent *bev, void *arg);
static void rc_unbusy(struct relay_conn *c);
static void rc_event_cb(struct bufferevent *bev, short what, void *arg);

static void
rc_free(struct relay_conn *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->busy > 0) {
		c->dead = true;		/* freed by rc_unbusy */
		return;
	}
	free(c->accepted);
	free(c);
}

static void
rc_unbusy(struct relay_conn *c)
{
	if (--c->busy == 0 && c->dead)
		rc_free(c);
}

/* rc_fail_job - recipients without a result take this one. */
static void
rc_fail_job(struct relay_conn *c, int code, const char *status,
	    const char *diag)
{
	struct relay_job *j = c->job;
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n_rcpt; i++) {
		struct relay_rcpt *r = &j->rcpts[i];
		if (r->code != 0 && !(c->accepted != NULL &&
		    c->accepted[i]))
			continue;
		r->code = code;
		str_copy(r->status, sizeof(r->status), status);
		str_copy(r->diag, sizeof(r->diag), diag);
	}
}

/* rc_close - the connection ends: the job in hand (if any) gets the
 * reason, done() then closed() are called, and it is freed. */
static void
rc_close(struct relay_conn *c, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
rc_close(struct relay_conn *c, const char *status, const char *fmt, ...)
{
	char reason[STORE_DIAG_MAX];
	va_list ap;
	if (c->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	const struct relay_conn_cbs *cbs = c->cbs;
	void *arg = c->arg;
	bool est = c->established;
	struct relay_job *j = c->job;

	if (j != NULL) {
		rc_fail_job(c, status[0] == '5' ? 500 : 400, status, reason);
		c->job = NULL;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->busy++;
	c->dead = true;
	if (j != NULL)
		cbs->done(c, j, arg);
	cbs->closed(c, est, status, reason, arg);
	rc_unbusy(c);
}

static void
rc_send(struct relay_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
rc_send(struct relay_conn *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;
	va_start(ap, fmt);
	int r = evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	if (r >= 0)
		r = evbuffer_add(out, "\r\n", 2);
	if (r < 0)
		log_warnx("- relay output buffer error host=%s", c->t.addr_str);
}

struct relay_conn *
relay_conn_open(struct event_base *base, const struct config *cfg,
		const struct relay_target *t, const struct relay_conn_cbs *cbs,
		void *arg)
{
	struct relay_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->base = base;
	c->cbs = cbs;
	c->arg = arg;
	c->t = *t;
	str_copy(c->helo, sizeof(c->helo), cfg->hostname);
	c->tv_connect.tv_sec = (time_t)cfg->relay_connect_timeout;
	c->tv_io.tv_sec = (time_t)cfg->relay_timeout;
	relay_reply_init(&c->reply);
	/* Not deferred: the connect error must be read while errno still
	 * holds it. Reentrancy is handled by busy/dead instead. */
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, rc_read_cb, NULL, rc_event_cb, c);
	bufferevent_set_timeouts(c->bev, &c->tv_connect, &c->tv_connect);
	c->state = RC_CONNECT;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->t.addr,
	    (int)c->t.addr_len) < 0) {
		/* libevent reports an immediate refusal through the event
		 * callback; a failure here means no socket at all. */
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

bool
relay_conn_usable(const struct relay_conn *c)
{
	return !c->dead && c->state == RC_IDLE && c->job == NULL;
}

unsigned
relay_conn_messages(const struct relay_conn *c)
{
	return c->n_msgs;
}

void
relay_conn_abort(struct relay_conn *c)
{
	c->job = NULL;
	if (c->dead)
		return;
	c->dead = true;
	rc_free(c);
}

void
relay_conn_quit(struct relay_conn *c)
{
	if (c->dead)
		return;
	if (c->state != RC_IDLE) {
		rc_close(c, "4.4.2", "connection to %s closed", c->t.addr_str);
		return;
	}
	c->state = RC_QUIT;
	bufferevent_set_timeouts(c->bev, &c->tv_io, &c->tv_io);
	rc_send(c, "QUIT");
}

/* ---- the handshake ---- */

static void
parse_ehlo(struct relay_conn *c)
{
	c->x_pipelining = c->x_8bitmime = c->x_smtputf8 = c->x_dsn =
	    c->x_chunking = c->x_tls = false;
	c->x_size = 0;
	for (size_t i = 1; i < c->reply.n_lines; i++) {
		const char *k = c->reply.lines[i];
		size_t n = strcspn(k, " ");
		if (n == 10 && strncasecmp(k, "PIPELINING", 10) == 0)
			c->x_pipelining = true;
		else if (n == 8 && strncasecmp(k, "8BITMIME", 8) == 0)
			c->x_8bitmime = true;
		else if (n == 8 && strncasecmp(k, "SMTPUTF8", 8) == 0)
			c->x_smtputf8 = true;
		else if (n == 3 && strncasecmp(k, "DSN", 3) == 0)
			c->x_dsn = true;
		else if (n == 8 && strncasecmp(k, "CHUNKING", 8) == 0)
			c->x_chunking = true;
		else if (n == 8 && strncasecmp(k, "STARTTLS", 8) == 0)
			c->x_tls = true;
		else if (n == 4 && strncasecmp(k, "SIZE", 4) == 0) {
			uint64_t v;
			if (k[4] == ' ' && str_to_u64(k + 5, 0, UINT64_MAX,
			    &v) == 0)
				c->x_size = v;
		}
	}
}

static void
start_tls(struct relay_conn *c)
{
	/* Anything the server sent after its 220 would be read as if it
	 * came under TLS: refuse (the client side of CVE-2011-0411). */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		rc_close(c, "4.7.0", "%s sent data after its STARTTLS reply",
		    c->t.addr_str);
		return;
	}
	struct bufferevent *tls = pki_bev_connect_tls(c->base, c->bev,
	    c->t.host);
	if (tls == NULL) {
		rc_close(c, "4.7.5", "TLS with %s: cannot set up the TLS "
		    "session", c->t.addr_str);
		return;
	}
	c->bev = tls;
	c->state = RC_HANDSHAKE;
	bufferevent_setcb(tls, rc_read_cb, NULL, rc_event_cb, c);
	bufferevent_set_timeouts(tls, &c->tv_io, &c->tv_io);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

/* ---- a transaction ---- */

static bool
has_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

static void
add_xtext(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			evbuffer_add_printf(out, "+%02X", ch);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
send_mail(struct relay_conn *c)
{
	struct relay_job *j = c->job;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "MAIL FROM:<%s>", j->sender);
	if (c->x_size)
		evbuffer_add_printf(out, " SIZE=%zu", j->len);
	if (c->body_8bit && c->x_8bitmime)
		evbuffer_add_printf(out, " BODY=8BITMIME");
	if (c->need_utf8)
		evbuffer_add_printf(out, " SMTPUTF8");
	if (c->x_dsn && j->ret != STORE_RET_NONE)
		evbuffer_add_printf(out, " RET=%s", j->ret == STORE_RET_FULL ?
		    "FULL" : "HDRS");
	if (c->x_dsn && j->envid[0] != '\0') {
		evbuffer_add_printf(out, " ENVID=");
		add_xtext(out, j->envid);
	}
	evbuffer_add(out, "\r\n", 2);
	c->n_sent++;
}

static void
send_rcpt(struct relay_conn *c, size_t i)
{
	struct relay_rcpt *r = &c->job->rcpts[i];
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "RCPT TO:<%s>", r->addr);
	if (c->x_dsn && r->notify != 0) {
		if (r->notify & STORE_NOTIFY_NEVER) {
			evbuffer_add_printf(out, " NOTIFY=NEVER");
		} else {
			const char *sep = "";
			evbuffer_add_printf(out, " NOTIFY=");
			if (r->notify & STORE_NOTIFY_SUCCESS) {
				evbuffer_add_printf(out, "SUCCESS");
				sep = ",";
			}
			if (r->notify & STORE_NOTIFY_FAILURE) {
				evbuffer_add_printf(out, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & STORE_NOTIFY_DELAY)
				evbuffer_add_printf(out, "%sDELAY", sep);
		}
	}
	if (c->x_dsn && r->orcpt != NULL && r->orcpt[0] != '\0') {
		const char *semi = strchr(r->orcpt, ';');
		if (semi != NULL) {
			evbuffer_add_printf(out, " ORCPT=%.*s;",
			    (int)(semi - r->orcpt), r->orcpt);
			add_xtext(out, semi + 1);
		}
	}
	evbuffer_add(out, "\r\n", 2);
	c->n_sent++;
}

/* add_stuffed - the message with leading dots doubled (RFC 5321
 * 4.5.2) and the end-of-data line, by reference where possible. */
static void
add_stuffed(struct evbuffer *out, const char *p, size_t len)
{
	size_t start = 0;
	bool bol = true;
	for (size_t i = 0; i < len; i++) {
		if (bol && p[i] == '.') {
			evbuffer_add_reference(out, p + start, i - start, NULL,
			    NULL);
			evbuffer_add(out, ".", 1);
			start = i;
		}
		bol = p[i] == '\n';
	}
	evbuffer_add_reference(out, p + start, len - start, NULL, NULL);
	if (len > 0 && !(len >= 2 && p[len - 2] == '\r' &&
	    p[len - 1] == '\n'))
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
}

static void
send_data_cmd(struct relay_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (c->use_bdat) {
		evbuffer_add_printf(out, "BDAT %zu LAST\r\n", c->job->len);
		evbuffer_add_reference(out, c->job->data, c->job->len, NULL,
		    NULL);
	} else {
		evbuffer_add(out, "DATA\r\n", 6);
	}
	c->n_sent++;
}

/* send_next - without PIPELINING, one command per reply. */
static void
send_next(struct relay_conn *c)
{
	size_t n_rcpt = c->job->n_rcpt;
	if (c->n_sent == 0)
		send_mail(c);
	else if (c->n_sent <= n_rcpt)
		send_rcpt(c, c->n_sent - 1);
	else if (c->n_sent == n_rcpt + 1)
		send_data_cmd(c);
}

int
relay_conn_send(struct relay_conn *c, struct relay_job *j)
{
	if (!relay_conn_usable(c) || j->n_rcpt == 0)
		return ERR_INVAL;
	free(c->accepted);
	c->accepted = calloc(j->n_rcpt, sizeof(*c->accepted));
	if (c->accepted == NULL)
		return ERR_NOMEM;
	c->job = j;
	str_copy(j->remote_r, sizeof(j->remote_r), c->t.host);
	j->peer_dsn_r = c->x_dsn;
	for (size_t i = 0; i < j->n_rcpt; i++) {
		j->rcpts[i].code = 0;
		j->rcpts[i].status[0] = '\0';
		j->rcpts[i].diag[0] = '\0';
	}
	c->n_cmd = j->n_rcpt + 2;
	c->n_sent = c->n_got = 0;
	c->n_accepted = 0;
	c->mail_ok = false;
	c->wait_final = false;
	c->use_bdat = c->x_chunking;
	c->body_8bit = has_8bit(j->data, j->len);
	c->need_utf8 = has_8bit(j->sender, strlen(j->sender));
	for (size_t i = 0; i < j->n_rcpt; i++)
		if (has_8bit(j->rcpts[i].addr, strlen(j->rcpts[i].addr)))
			c->need_utf8 = true;

	/* What the peer said it cannot take fails now, without trying
	 * (RFC 6531 3.4, RFC 1870). */
	const char *fail = NULL, *st = NULL;
	if (c->need_utf8 && !c->x_smtputf8) {
		st = "5.6.7";
		fail = "the peer does not support SMTPUTF8, which the "
		    "addresses need";
	} else if (c->x_size > 0 && j->len > c->x_size) {
		st = "5.3.4";
		fail = "message size exceeds the peer's fixed limit";
	}
	if (fail != NULL) {
		char diag[STORE_DIAG_MAX];
		str_fmt(diag, sizeof(diag), "%s: %s", c->t.addr_str, fail);
		rc_fail_job(c, 554, st, diag);
		c->job = NULL;
		c->cbs->done(c, j, c->arg);
		return 0;
	}
	c->state = RC_TXN;
	bufferevent_set_timeouts(c->bev, &c->tv_io, &c->tv_io);
	if (c->x_pipelining) {
		send_mail(c);
		for (size_t i = 0; i < j->n_rcpt; i++)
			send_rcpt(c, i);
		send_data_cmd(c);
	} else {
		send_next(c);
	}
	return 0;
}

static void
reply_diag(struct relay_conn *c, const char *cmd, char *out, size_t size)
{
	str_fmt(out, size, "host %s said: %d %s (in reply to %s command)",
	    c->t.addr_str, c->reply.code, c->reply.text, cmd);
}

static void
set_result(struct relay_conn *c, struct relay_rcpt *r, const char *cmd)
{
	r->code = c->reply.code;
	relay_reply_status(&c->reply, r->status, sizeof(r->status));
	reply_diag(c, cmd, r->diag, sizeof(r->diag));
}

/* txn_end - the transaction is over; RSET when it did not complete. */
static void
txn_end(struct relay_conn *c, bool completed)
{
	if (!completed) {
		c->state = RC_RSET;
		rc_send(c, "RSET");
		return;
	}
	struct relay_job *j = c->job;
	c->job = NULL;
	c->n_msgs++;
	c->state = RC_IDLE;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->cbs->done(c, j, c->arg);
}

static void
final_reply(struct relay_conn *c, const char *cmd)
{
	struct relay_job *j = c->job;
	for (size_t i = 0; i < j->n_rcpt; i++)
		if (c->accepted[i])
			set_result(c, &j->rcpts[i], cmd);
	txn_end(c, c->reply.code / 100 == 2);
}

static void
txn_reply(struct relay_conn *c)
{
	struct relay_job *j = c->job;
	size_t n_rcpt = j->n_rcpt;
	size_t k = c->n_got++;
	int cls = c->reply.code / 100;

	if (c->wait_final) {
		final_reply(c, "end of DATA");
		return;
	}
	if (k == 0) {
		c->mail_ok = cls == 2;
		if (!c->mail_ok) {
			c->mail_code = c->reply.code;
			relay_reply_status(&c->reply, c->mail_status,
			    sizeof(c->mail_status));
			reply_diag(c, "MAIL FROM", c->mail_reply,
			    sizeof(c->mail_reply));
			for (size_t i = 0; i < n_rcpt; i++) {
				j->rcpts[i].code = c->mail_code;
				str_copy(j->rcpts[i].status,
				    sizeof(j->rcpts[i].status),
				    c->mail_status);
				str_copy(j->rcpts[i].diag,
				    sizeof(j->rcpts[i].diag), c->mail_reply);
			}
			if (!c->x_pipelining) {
				txn_end(c, false);
				return;
			}
		}
	} else if (k <= n_rcpt) {
		struct relay_rcpt *r = &j->rcpts[k - 1];
		if (c->mail_ok) {
			if (cls == 2) {
				c->accepted[k - 1] = true;
				c->n_accepted++;
			} else {
				set_result(c, r, "RCPT TO");
			}
		}
		if (!c->x_pipelining && k == n_rcpt && c->n_accepted == 0) {
			txn_end(c, false);
			return;
		}
	} else {
		/* DATA or BDAT */
		if (c->use_bdat) {
			if (c->n_accepted > 0) {
				final_reply(c, "end of DATA");
				return;
			}
			txn_end(c, false);
			return;
		}
		if (c->reply.code == 354) {
			struct evbuffer *out = bufferevent_get_output(c->bev);
			c->wait_final = true;
			if (c->n_accepted > 0)
				add_stuffed(out, j->data, j->len);
			else
				evbuffer_add(out, ".\r\n", 3);
			return;
		}
		for (size_t i = 0; i < n_rcpt; i++)
			if (c->accepted[i])
				set_result(c, &j->rcpts[i], "DATA");
		txn_end(c, false);
		return;
	}
	if (!c->x_pipelining)
		send_next(c);
}

/* ---- input ---- */

static void
on_reply(struct relay_conn *c)
{
	int cls = c->reply.code / 100;
	switch (c->state) {
	case RC_GREETING:
		if (c->reply.code != 220) {
			rc_close(c, "4.0.0", "host %s "
			    "refused to talk to me: %d %s", c->t.addr_str,
			    c->reply.code, c->reply.text);
			return;
		}
		c->state = RC_EHLO1;
		rc_send(c, "EHLO %s", c->helo);
		return;
	case RC_EHLO1:
		if (cls != 2) {
			rc_close(c, "4.7.4", "host %s refused EHLO: %d %s; TLS "
			    "is required", c->t.addr_str, c->reply.code,
			    c->reply.text);
			return;
		}
		parse_ehlo(c);
		if (!c->x_tls) {
			rc_close(c, "4.7.4", "TLS is required, but was not "
			    "offered by host %s", c->t.addr_str);
			return;
		}
		c->state = RC_STARTTLS;
		rc_send(c, "STARTTLS");
		return;
	case RC_STARTTLS:
		if (c->reply.code != 220) {
			rc_close(c, "4.7.4", "host %s refused STARTTLS: %d %s",
			    c->t.addr_str, c->reply.code, c->reply.text);
			return;
		}
		start_tls(c);
		return;
	case RC_EHLO2:
		if (cls != 2) {
			rc_close(c, "4.0.0", "host %s refused EHLO after TLS: "
			    "%d %s", c->t.addr_str, c->reply.code,
			    c->reply.text);
			return;
		}
		parse_ehlo(c);
		c->state = RC_IDLE;
		c->established = true;
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		c->cbs->ready(c, c->arg);
		return;
	case RC_TXN:
		txn_reply(c);
		return;
	case RC_RSET:
		if (cls != 2) {
			rc_close(c, "4.0.0", "host %s refused RSET: %d %s",
			    c->t.addr_str, c->reply.code, c->reply.text);
			return;
		}
		txn_end(c, true);
		return;
	case RC_QUIT:
		rc_close(c, "2.0.0", "closed after QUIT");
		return;
	case RC_IDLE:
		/* 421 on an idle connection: the peer is leaving. */
		rc_close(c, "4.4.2", "host %s closed the connection: %d %s",
		    c->t.addr_str, c->reply.code, c->reply.text);
		return;
	case RC_CONNECT:
	case RC_HANDSHAKE:
		rc_close(c, "4.4.2", "host %s spoke out of turn",
		    c->t.addr_str);
		return;
	}
}

/* rc_connected - the TCP connection is up: wait for the greeting. */
static void
rc_connected(struct relay_conn *c)
{
	c->state = RC_GREETING;
	net_nodelay(bufferevent_getfd(c->bev));
	bufferevent_set_timeouts(c->bev, &c->tv_io, &c->tv_io);
}

static void
rc_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[RELAY_REPLY_LINE_MAX + 2];

	c->busy++;
	/* libevent may run the read callback before the connect
	 * completion when the greeting came at once (both ready in one
	 * loop turn, read first): the connection is evidently up. */
	if (c->state == RC_CONNECT && !c->dead && c->bev == bev)
		rc_connected(c);
	while (!c->dead && c->bev == bev) {
		size_t eol;
		struct evbuffer_ptr e = evbuffer_search_eol(in, NULL, &eol,
		    EVBUFFER_EOL_CRLF);
		if (e.pos < 0) {
			if (evbuffer_get_length(in) > RELAY_REPLY_LINE_MAX)
				rc_close(c, "4.5.0", "host %s sent a reply line "
				    "too long", c->t.addr_str);
			break;
		}
		size_t n = (size_t)e.pos;
		if (n > RELAY_REPLY_LINE_MAX) {
			rc_close(c, "4.5.0", "host %s sent a reply line too "
			    "long", c->t.addr_str);
			break;
		}
		if (evbuffer_remove(in, line, n) != (int)n ||
		    evbuffer_drain(in, eol) < 0) {
			rc_close(c, "4.3.0", "read error from %s",
			    c->t.addr_str);
			break;
		}
		line[n] = '\0';
		if (c->reply.done)
			relay_reply_init(&c->reply);
		int r = relay_reply_line(&c->reply, line, n);
		if (r < 0) {
			rc_close(c, "4.5.0", "host %s sent a malformed reply: "
			    "%.80s", c->t.addr_str, line);
			break;
		}
		if (r == 1)
			on_reply(c);
	}
	/* After STARTTLS c->bev is the TLS filter, with its own callbacks:
	 * the plaintext one is not read again. */
	rc_unbusy(c);
}

static void
rc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay_conn *c = arg;

	c->busy++;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == RC_CONNECT) {
			rc_connected(c);
		} else if (c->state == RC_HANDSHAKE) {
			char v[32], ciph[64];
			int bits;
			pki_bev_describe(c->bev, v, sizeof(v), ciph,
			    sizeof(ciph), &bits);
			log_info("- relay tls host=%s version=%s cipher=%s",
			    c->t.addr_str, v, ciph);
			c->state = RC_EHLO2;
			rc_send(c, "EHLO %s", c->helo);
		}
		rc_unbusy(c);
		return;
	}
	if (c->state == RC_CONNECT) {
		int e = EVUTIL_SOCKET_ERROR();
		if (what & BEV_EVENT_TIMEOUT)
			rc_close(c, "4.4.1", "connect to %s: Connection timed "
			    "out", c->t.addr_str);
		else
			rc_close(c, "4.4.1", "connect to %s: %s",
			    c->t.addr_str, e ? evutil_socket_error_to_string(e)
			    : "Connection failed");
	} else if (c->state == RC_HANDSHAKE) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
		char detail[256];
		/* The alert that tells the peer why (unknown_ca,
		 * certificate_expired...) is still in the socket bufferevent
		 * under the TLS filter, which closing would drop: send it
		 * now, a few bytes on a non-blocking socket, best effort
		 * (libevent keeps that buffer's front frozen: copy, not
		 * drain). */
		struct bufferevent *u = bufferevent_get_underlying(bev);
		struct evbuffer *pending = u != NULL ?
		    bufferevent_get_output(u) : NULL;
		size_t plen = pending != NULL ?
		    evbuffer_get_length(pending) : 0;
		unsigned char *alert = plen > 0 && plen <= 256 ?
		    evbuffer_pullup(pending, -1) : NULL;
		if (alert != NULL && bufferevent_getfd(u) >= 0 &&
		    send(bufferevent_getfd(u), alert, plen, MSG_DONTWAIT |
		    MSG_NOSIGNAL) < 0)
			log_info("- relay cannot send the TLS alert host=%s",
			    c->t.addr_str);
		if (v != X509_V_OK) {
			rc_close(c, "4.7.5", "TLS with %s: certificate verify "
			    "failed: %s", c->t.addr_str, pki_verify_reason(v));
		} else {
			pki_bev_error(bev, detail, sizeof(detail));
			rc_close(c, "4.7.5", "TLS with %s: handshake failed%s%s",
			    c->t.addr_str, detail[0] ? ": " : "", detail);
		}
	} else if (what & BEV_EVENT_TIMEOUT) {
		rc_close(c, "4.4.2", "conversation with %s timed out%s",
		    c->t.addr_str, c->job != NULL ? " while sending a message"
		    : "");
	} else if (c->state == RC_QUIT) {
		rc_close(c, "2.0.0", "closed after QUIT");
	} else {
		/* With TLS 1.3 the server judges our certificate after our
		 * side of the handshake is done: its refusal (certificate
		 * revoked, unknown CA...) comes as an alert on the first
		 * read, and is the reason to give. */
		char detail[256];
		pki_bev_error(bev, detail, sizeof(detail));
		if (strstr(detail, "alert") != NULL)
			rc_close(c, "4.7.5", "TLS with %s: refused by the peer: "
			    "%s", c->t.addr_str, detail);
		else
			rc_close(c, "4.4.2", "lost connection with %s%s",
			    c->t.addr_str, c->job != NULL ? " while sending "
			    "a message" : "");
	}
	rc_unbusy(c);
}
