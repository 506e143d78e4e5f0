/* SPDX-License-Identifier: MIT */
/*
 * smtp_session.c - one SMTP connection: TLS set-up, reading commands and
 * message data off the bufferevent, replies, timeouts, error limits, and
 * the session's end. A line is taken only when complete; a line longer
 * than the limit is answered once and skipped to its end. While an answer
 * is pending (password check, commit, delay) reading stops, and what the
 * client pipelined meanwhile waits in the input buffer.
 */
#include "smtp_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/str.h"
#include "pki/pki.h"

#define MAX_LOOPS 64
#define LINE_BUF_MAX 65540

struct loop_sessions {
	struct smtp_session *head;
	unsigned n;
	bool shutting_down;
	void (*done)(struct loop *l);
	struct event *grace_ev;
};

static struct store *g_store;
static struct loop_sessions per_loop[MAX_LOOPS];
static unsigned g_count;

static void smtp_read_cb(struct bufferevent *bev, void *arg);
static void smtp_write_cb(struct bufferevent *bev, void *arg);
static void smtp_event_cb(struct bufferevent *bev, short what, void *arg);
static void smtp_process(struct smtp_session *s);
static void close_when_flushed(struct smtp_session *s);

void
smtp_init(struct store *st)
{
	g_store = st;
}

struct store *
smtp_store(void)
{
	return g_store;
}

unsigned
smtp_session_count(void)
{
	return __atomic_load_n(&g_count, __ATOMIC_RELAXED);
}

static struct loop_sessions *
ls_of(struct loop *l)
{
	return &per_loop[loop_index(l) % MAX_LOOPS];
}

static void
smtp_free(struct smtp_session *s)
{
	struct loop_sessions *ls = ls_of(s->loop);
	struct logline ll;

	logl_begin(&ll, s->id, "smtp", "disconnect");
	logl_u64(&ll, "errors", s->n_errors);
	logl_emit(&ll, LOG_INFO);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		ls->head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	ls->n--;
	__atomic_sub_fetch(&g_count, 1, __ATOMIC_RELAXED);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->delay_ev != NULL)
		event_free(s->delay_ev);
	if (s->close_ev != NULL)
		event_free(s->close_ev);
	buf_free(&s->msg);
	free(s->rcpts);
	sodium_memzero(s->auth_user, sizeof(s->auth_user));
	sodium_memzero(&s->acct, sizeof(s->acct));
	config_unref(&s->cfg);
	struct loop *l = s->loop;
	free(s);
	if (ls->shutting_down && ls->n == 0 && ls->done != NULL) {
		void (*done)(struct loop *) = ls->done;
		ls->done = NULL;
		if (ls->grace_ev != NULL) {
			event_free(ls->grace_ev);
			ls->grace_ev = NULL;
		}
		done(l);
	}
}

static void
smtp_free_cb(void *arg)
{
	smtp_free(arg);
}

/* smtp_release - the session ends now: stop I/O, free once nothing is
 * pending. Safe to call from inside any of its callbacks. */
static void
smtp_release(struct smtp_session *s)
{
	if (s->freeing)
		return;
	s->freeing = true;
	if (s->bev != NULL) {
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	}
	if (s->delay_ev != NULL)
		event_del(s->delay_ev);
	if (s->close_ev != NULL)
		event_del(s->close_ev);
	if (s->pending == 0 && loop_post(s->loop, smtp_free_cb, s) < 0)
		log_warnx("%s smtp free deferred: out of memory", s->id);
}

bool
smtp_pending_done(struct smtp_session *s)
{
	s->pending--;
	if (s->freeing) {
		if (s->pending == 0)
			smtp_free(s);
		return false;
	}
	if (s->state == SMTP_STATE_CLOSING) {
		close_when_flushed(s);
		return false;
	}
	return true;
}

static void smtp_vreply(struct smtp_session *s, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
smtp_vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	if (s->freeing || s->bev == NULL)
		return;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	if (evbuffer_add_vprintf(out, fmt, ap) < 0 ||
	    evbuffer_add(out, "\r\n", 2) < 0)
		smtp_release(s);
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
}

static void
underlying_drained(struct evbuffer *buf,
		   const struct evbuffer_cb_info *info, void *arg)
{
	struct smtp_session *s = arg;
	if (!s->freeing && evbuffer_get_length(buf) == 0 &&
	    pki_bev_output_pending(s->bev) == 0)
		smtp_release(s);
}

/* close_when_flushed - release now, or once the last byte is out. */
static void
close_when_flushed(struct smtp_session *s)
{
	if (pki_bev_output_pending(s->bev) == 0) {
		smtp_release(s);
		return;
	}
	struct bufferevent *u = bufferevent_get_underlying(s->bev);
	if (u != NULL && !s->watch_underlying) {
		s->watch_underlying = true;
		evbuffer_add_cb(bufferevent_get_output(u), underlying_drained,
		    s);
	}
	/* otherwise smtp_write_cb calls again when our buffer drains */
}

void
smtp_close(struct smtp_session *s)
{
	if (s->freeing || s->state == SMTP_STATE_CLOSING)
		return;
	s->state = SMTP_STATE_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	close_when_flushed(s);
}

void
smtp_reply_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
	s->n_errors++;
	if (s->n_errors >= s->cfg->smtp_hard_error_limit) {
		smtp_reply(s, "421 4.7.0 %s Error: too many errors",
		    s->cfg->hostname);
		smtp_close(s);
	} else if (s->n_errors >= s->cfg->smtp_soft_error_limit &&
	    s->state == SMTP_STATE_COMMAND) {
		/* Past the soft limit each error costs the client a second,
		 * like Postfix's smtpd_error_sleep_time. */
		smtp_delay(s, 1);
	}
}

void
smtp_set_timeout(struct smtp_session *s, bool data)
{
	struct timeval tv = { 0, 0 };
	tv.tv_sec = (time_t)(data ? s->cfg->smtp_timeout_data :
	    s->cfg->smtp_timeout_command);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void
smtp_txn_reset(struct smtp_session *s)
{
	s->in_txn = false;
	s->null_sender = false;
	s->smtputf8 = false;
	s->body_8bit = false;
	s->mail_from[0] = '\0';
	s->ret = STORE_RET_NONE;
	s->envid[0] = '\0';
	s->n_rcpt = 0;
	buf_free(&s->msg);
	buf_init(&s->msg, s->cfg->smtp_max_message_size);
	s->bdat_used = false;
	s->bdat_last = false;
	s->bdat_left = 0;
	s->qid[0] = '\0';
	if (s->quit_after_txn && s->state != SMTP_STATE_CLOSING) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down, closing "
		    "transmission channel", s->cfg->hostname);
		smtp_close(s);
	}
}

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (!smtp_pending_done(s))
		return;
	smtp_resume(s);
}

void
smtp_delay(struct smtp_session *s, uint64_t sec)
{
	struct timeval tv = { (time_t)sec, 0 };
	if (sec == 0 || s->freeing || s->state == SMTP_STATE_CLOSING)
		return;
	if (s->delay_ev == NULL) {
		s->delay_ev = evtimer_new(loop_base(s->loop), delay_cb, s);
		if (s->delay_ev == NULL)
			return;
	}
	s->state = SMTP_STATE_WAIT;
	s->pending++;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_add(s->delay_ev, &tv);
}

void
smtp_resume(struct smtp_session *s)
{
	if (s->freeing || s->state == SMTP_STATE_CLOSING)
		return;
	s->state = SMTP_STATE_COMMAND;
	if (s->quit_after_txn && !s->in_txn) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down, closing "
		    "transmission channel", s->cfg->hostname);
		smtp_close(s);
		return;
	}
	smtp_set_timeout(s, false);
	bufferevent_enable(s->bev, EV_READ);
	smtp_process(s);
}

static void
close_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	smtp_release(arg);
}

/* close_deadline - release the session after sec seconds whatever is
 * still unsent: a closing peer that does not read cannot hold us. */
static void
close_deadline(struct smtp_session *s, time_t sec)
{
	struct timeval tv = { sec, 0 };
	if (s->close_ev == NULL)
		s->close_ev = evtimer_new(loop_base(s->loop), close_deadline_cb,
		    s);
	if (s->close_ev != NULL)
		evtimer_add(s->close_ev, &tv);
}

static void
tls_note(struct smtp_session *s)
{
	pki_bev_describe(s->bev, s->tls_version, sizeof(s->tls_version),
	    s->tls_cipher, sizeof(s->tls_cipher), &s->tls_bits);
	s->is_tls = true;
	struct logline ll;
	logl_begin(&ll, s->id, "smtp", "tls");
	logl_str(&ll, "version", s->tls_version);
	logl_str(&ll, "cipher", s->tls_cipher);
	logl_emit(&ll, LOG_INFO);
}

static void
handshake_timeout(struct smtp_session *s)
{
	struct timeval tv = { (time_t)s->cfg->tls_handshake_timeout, 0 };
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void
smtp_starttls(struct smtp_session *s)
{
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 section 4.2 / Postfix: whatever the client sent after
	 * STARTTLS in plaintext must never be read as a command. */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t junk = evbuffer_get_length(in);
	if (junk > 0) {
		evbuffer_drain(in, junk);
		log_info("%s smtp starttls discarded=%zu", s->id, junk);
	}
	struct bufferevent *tls = pki_bev_starttls(loop_base(s->loop), s->bev,
	    s->kind == SMTP_LISTENER_RELAY ? PKI_CTX_RELAY : PKI_CTX_SERVER);
	if (tls == NULL) {
		smtp_reply(s, "421 4.7.0 TLS failed");
		smtp_close(s);
		return;
	}
	s->bev = tls;
	bufferevent_setcb(tls, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	handshake_timeout(s);
	/* Forget everything said before TLS (RFC 3207 section 4.2). */
	s->has_helo = false;
	s->is_ehlo = false;
	s->helo[0] = '\0';
	s->auth_step = SMTP_AUTH_NONE;
	smtp_txn_reset(s);
}

void
smtp_greeting(struct smtp_session *s)
{
	smtp_reply(s, "220 %s ESMTP mssgate", s->cfg->hostname);
}

void
smtp_accept(struct loop *l, int fd, const struct sockaddr *sa,
	    enum smtp_listener_kind kind)
{
	struct config *cfg = config_current();
	struct loop_sessions *ls = ls_of(l);
	struct smtp_session *s = NULL;
	char peer[64];

	net_addr_str(sa, peer, sizeof(peer));
	if (cfg == NULL || ls->shutting_down ||
	    smtp_session_count() >= cfg->smtp_max_sessions) {
		static const char busy[] = "421 4.7.0 Too many connections, "
		    "try again later\r\n";
		if (kind != SMTP_LISTENER_SUBMISSION_TLS) {
			ssize_t w = write(fd, busy, sizeof(busy) - 1);
			(void)w;
		}
		log_warnx("- smtp refused peer=%s reason=%s", peer,
		    ls->shutting_down ? "shutdown" : "max_sessions");
		close(fd);
		config_unref(&cfg);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		config_unref(&cfg);
		return;
	}
	str_rand_hex(s->id, 8);
	s->loop = l;
	s->cfg = cfg;
	s->kind = kind;
	str_copy(s->peer, sizeof(s->peer), peer);
	buf_init(&s->msg, cfg->smtp_max_message_size);

	if (kind == SMTP_LISTENER_SUBMISSION_TLS) {
		s->bev = pki_bev_accept(loop_base(l), fd);	/* closes fd */
		s->state = SMTP_STATE_TLS_WAIT;
	} else {
		s->bev = bufferevent_socket_new(loop_base(l), fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		s->state = SMTP_STATE_COMMAND;
		if (s->bev == NULL)
			close(fd);
	}
	if (s->bev == NULL) {
		config_unref(&s->cfg);
		buf_free(&s->msg);
		free(s);
		return;
	}
	s->next = ls->head;
	if (ls->head != NULL)
		ls->head->prev = s;
	ls->head = s;
	ls->n++;
	__atomic_add_fetch(&g_count, 1, __ATOMIC_RELAXED);

	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb,
	    s);
	struct logline ll;
	logl_begin(&ll, s->id, "smtp", "connect");
	logl_str(&ll, "peer", peer);
	logl_str(&ll, "listener", kind == SMTP_LISTENER_SUBMISSION_TLS ?
	    "submissions" : kind == SMTP_LISTENER_RELAY ? "relay" :
	    "submission");
	logl_emit(&ll, LOG_INFO);

	if (kind == SMTP_LISTENER_SUBMISSION_TLS) {
		handshake_timeout(s);
	} else {
		smtp_set_timeout(s, false);
		smtp_greeting(s);
	}
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	smtp_process(arg);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SMTP_STATE_CLOSING)
		close_when_flushed(s);
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		tls_note(s);
		if (s->kind == SMTP_LISTENER_RELAY)
			smtp_relay_peer(s);
		smtp_set_timeout(s, false);
		if (s->state == SMTP_STATE_TLS_WAIT) {
			s->state = SMTP_STATE_COMMAND;
			smtp_greeting(s);
		}
		smtp_process(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_info("%s smtp timeout state=%d", s->id, (int)s->state);
		if (s->state == SMTP_STATE_CLOSING || s->state ==
		    SMTP_STATE_TLS_WAIT) {
			smtp_release(s);
			return;
		}
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->cfg->hostname);
		smtp_close(s);
		close_deadline(s, 10);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		char detail[256];
		pki_bev_error(bev, detail, sizeof(detail));
		struct logline ll;
		logl_begin(&ll, s->id, "smtp", "error");
		logl_str(&ll, "reason", detail[0] ? detail : "connection error");
		/* a refused client certificate: say why (revoked, expired,
		 * unknown CA), not only that verification failed */
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
		if (v != X509_V_OK)
			logl_str(&ll, "verify", pki_verify_reason(v));
		logl_emit(&ll, LOG_INFO);
	}
	/* A refused STARTTLS handshake leaves its alert in the socket
	 * bufferevent under the TLS filter: send it before closing. */
	struct bufferevent *u = bufferevent_get_underlying(bev);
	if (u != NULL && !s->freeing &&
	    evbuffer_get_length(bufferevent_get_output(u)) > 0) {
		s->state = SMTP_STATE_CLOSING;
		bufferevent_enable(u, EV_WRITE);
		close_when_flushed(s);
		close_deadline(s, 5);
		return;
	}
	smtp_release(s);
}

/* take_line - copy the next complete line (CRLF removed) into line.
 * Returns 1 with a line, 0 when more input is needed, -1 when the line
 * was refused and a reply was sent. */
static int
take_line(struct smtp_session *s, char *line, size_t *len_r)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in), eol_len;
	size_t max = s->state == SMTP_STATE_AUTH ?
	    s->cfg->smtp_max_auth_line_length : s->cfg->smtp_max_line_length;

	if (avail == 0)
		return 0;
	struct evbuffer_ptr e = evbuffer_search_eol(in, NULL, &eol_len,
	    EVBUFFER_EOL_LF);
	if (e.pos < 0) {
		if (avail < max)
			return 0;
		evbuffer_drain(in, avail);
		if (!s->skip_line) {
			s->skip_line = true;
			smtp_reply_error(s, "500 5.5.2 Error: line too long");
			return -1;
		}
		return 0;
	}
	size_t n = (size_t)e.pos + 1;	/* with the LF */
	if (s->skip_line) {
		s->skip_line = false;
		evbuffer_drain(in, n);
		return -1;
	}
	if (n > max) {
		evbuffer_drain(in, n);
		smtp_reply_error(s, "500 5.5.2 Error: line too long");
		return -1;
	}
	if (evbuffer_remove(in, line, n) != (int)n)
		return 0;
	if (n < 2 || line[n - 2] != '\r') {
		smtp_reply_error(s, "500 5.5.2 Error: bare <LF> received");
		return -1;
	}
	n -= 2;
	line[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (line[i] == '\r' || line[i] == '\0') {
			smtp_reply_error(s, "500 5.5.2 Error: bare <CR> or "
			    "NUL in command");
			return -1;
		}
	}
	*len_r = n;
	return 1;
}

/* data_input - feed the DATA decoder; returns false to stop reading. */
static bool
data_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v[8];
	size_t used_total = 0;
	int r = 0;

	int n = evbuffer_peek(in, -1, NULL, v, 8);
	for (int i = 0; i < n && i < 8; i++) {
		size_t used = 0;
		r = smtp_data_feed(&s->data, v[i].iov_base, v[i].iov_len,
		    &used, &s->msg);
		used_total += used;
		if (r != 0)
			break;
	}
	evbuffer_drain(in, used_total);
	if (r == 0)
		return used_total > 0 && evbuffer_get_length(in) > 0;
	if (r < 0) {
		struct logline ll;
		logl_begin(&ll, s->id, "smtp", "reject");
		logl_str(&ll, "qid", s->qid);
		logl_str(&ll, "reason", "bare CR or LF in DATA");
		logl_emit(&ll, LOG_NOTICE);
		smtp_reply(s, "554 5.5.2 Error: bare <CR> or <LF> in message "
		    "data, message refused (SMTP smuggling defence)");
		smtp_txn_reset(s);
		smtp_close(s);
		return false;
	}
	s->state = SMTP_STATE_WAIT;
	smtp_deliver(s);
	return false;
}

/* bdat_input - read the current chunk; returns false to stop reading. */
static bool
bdat_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < s->bdat_left ? avail : (size_t)s->bdat_left;

	if (n > 0) {
		if (!s->bdat_failed && buf_reserve(&s->msg, n) == 0) {
			if (evbuffer_remove(in, s->msg.data + s->msg.len, n)
			    != (int)n) {
				smtp_close(s);
				return false;
			}
			s->msg.len += n;
			s->msg.data[s->msg.len] = '\0';
		} else {
			if (!s->bdat_failed) {
				s->bdat_failed = true;
				s->bdat_fail_reply = "552 5.3.4 Error: message "
				    "file too big";
			}
			evbuffer_drain(in, n);
		}
		s->bdat_left -= n;
	}
	if (s->bdat_left > 0)
		return false;

	s->state = SMTP_STATE_COMMAND;
	smtp_set_timeout(s, false);
	if (s->bdat_failed) {
		s->bdat_failed = false;
		smtp_txn_reset(s);
		smtp_reply_error(s, "%s", s->bdat_fail_reply);
		return s->state == SMTP_STATE_COMMAND;
	}
	if (!s->bdat_last) {
		smtp_reply(s, "250 2.0.0 Ok: %zu octets received",
		    buf_len(&s->msg));
		return true;
	}
	s->state = SMTP_STATE_WAIT;
	smtp_deliver(s);
	return false;
}

static void
smtp_process(struct smtp_session *s)
{
	char line[LINE_BUF_MAX];
	size_t len;

	while (!s->freeing && s->bev != NULL) {
		switch (s->state) {
		case SMTP_STATE_COMMAND:
		case SMTP_STATE_AUTH: {
			int r = take_line(s, line, &len);
			if (r == 0)
				return;
			if (r < 0)
				continue;
			if (s->state == SMTP_STATE_AUTH) {
				smtp_auth_line(s, line, len);
				sodium_memzero(line, len);
			} else {
				smtp_command(s, line, len);
			}
			continue;
		}
		case SMTP_STATE_DATA:
			if (!data_input(s))
				return;
			continue;
		case SMTP_STATE_BDAT:
			if (!bdat_input(s))
				return;
			continue;
		case SMTP_STATE_TLS_WAIT:
		case SMTP_STATE_WAIT:
		case SMTP_STATE_CLOSING:
			return;
		}
	}
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop_sessions *ls = arg;
	struct smtp_session *s, *next;
	for (s = ls->head; s != NULL; s = next) {
		next = s->next;
		/* A commit in flight finishes within milliseconds and its
		 * session closes after the reply: never drop its answer. */
		if (s->pending > 0 && s->state == SMTP_STATE_WAIT)
			continue;
		if (!s->freeing && s->state != SMTP_STATE_CLOSING) {
			smtp_reply(s, "421 4.3.2 %s Service shutting down",
			    s->cfg->hostname);
			smtp_close(s);
		} else if (s->state == SMTP_STATE_CLOSING) {
			smtp_release(s);
		}
	}
}

void
smtp_shutdown(struct loop *l, unsigned grace, void (*done)(struct loop *l))
{
	struct loop_sessions *ls = ls_of(l);
	struct smtp_session *s, *next;

	ls->shutting_down = true;
	ls->done = done;
	for (s = ls->head; s != NULL; s = next) {
		next = s->next;
		if (s->freeing || s->state == SMTP_STATE_CLOSING)
			continue;
		if (s->in_txn || s->state == SMTP_STATE_WAIT ||
		    s->state == SMTP_STATE_DATA || s->state ==
		    SMTP_STATE_BDAT) {
			s->quit_after_txn = true;
			continue;
		}
		smtp_reply(s, "421 4.3.2 %s Service shutting down, closing "
		    "transmission channel", s->cfg->hostname);
		smtp_close(s);
	}
	if (ls->n == 0) {
		ls->done = NULL;
		done(l);
		return;
	}
	struct timeval tv = { (time_t)grace, 0 };
	ls->grace_ev = evtimer_new(loop_base(l), grace_cb, ls);
	if (ls->grace_ev != NULL)
		evtimer_add(ls->grace_ev, &tv);
}
