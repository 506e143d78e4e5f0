/* SPDX-License-Identifier: MIT */
/*
 * imap_session.c - one IMAP connection: TLS, assembling commands from
 * lines and literals (a synchronizing literal too big is refused before
 * any "+", a non-synchronizing one closes the session), dispatching them
 * by state, tagged answers, output flow control, timeouts (autologout)
 * and the session's end.
 */
#include "imap_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/str.h"
#include "pki/pki.h"

#define MAX_LOOPS 64
#define MAX_TOKENS 100000
#define SASL_LINE_MAX 16384

struct loop_sessions {
	struct imap_session *head;
	unsigned n;
	bool shutting_down;
	void (*done)(struct loop *l);
	struct event *grace_ev;
};

static struct store *g_store;
static struct loop_sessions per_loop[MAX_LOOPS];
static unsigned g_count;

static void imap_read_cb(struct bufferevent *bev, void *arg);
static void imap_write_cb(struct bufferevent *bev, void *arg);
static void imap_event_cb(struct bufferevent *bev, short what, void *arg);
static void imap_process(struct imap_session *s);
static void close_when_flushed(struct imap_session *s);

static const struct imap_cmd_def cmd_table[] = {
	{ "CAPABILITY", imap_cmd_capability, IMAP_CF_ANY },
	{ "NOOP", imap_cmd_noop, IMAP_CF_ANY },
	{ "LOGOUT", imap_cmd_logout, IMAP_CF_ANY },
	{ "ID", imap_cmd_id, IMAP_CF_ANY },
	{ "STARTTLS", imap_cmd_starttls, IMAP_CF_NOTAUTH },
	{ "AUTHENTICATE", imap_cmd_authenticate, IMAP_CF_NOTAUTH },
	{ "LOGIN", imap_cmd_login, IMAP_CF_NOTAUTH },
	{ "ENABLE", imap_cmd_enable, IMAP_CF_AUTH },
	{ "NAMESPACE", imap_cmd_namespace, IMAP_CF_AUTH },
	{ "IDLE", imap_cmd_idle, IMAP_CF_AUTH },
	{ "SELECT", imap_cmd_select, IMAP_CF_AUTH },
	{ "EXAMINE", imap_cmd_examine, IMAP_CF_AUTH },
	{ "CREATE", imap_cmd_create, IMAP_CF_AUTH },
	{ "DELETE", imap_cmd_delete, IMAP_CF_AUTH },
	{ "RENAME", imap_cmd_rename, IMAP_CF_AUTH },
	{ "SUBSCRIBE", imap_cmd_subscribe, IMAP_CF_AUTH },
	{ "UNSUBSCRIBE", imap_cmd_unsubscribe, IMAP_CF_AUTH },
	{ "LIST", imap_cmd_list, IMAP_CF_AUTH },
	{ "LSUB", imap_cmd_lsub, IMAP_CF_AUTH },
	{ "STATUS", imap_cmd_status, IMAP_CF_AUTH },
	{ "APPEND", imap_cmd_append, IMAP_CF_AUTH },
	{ "CHECK", imap_cmd_check, IMAP_CF_SELECTED },
	{ "CLOSE", imap_cmd_close, IMAP_CF_SELECTED },
	{ "UNSELECT", imap_cmd_unselect, IMAP_CF_SELECTED },
	{ "EXPUNGE", imap_cmd_expunge, IMAP_CF_SELECTED | IMAP_CF_UID },
	{ "SEARCH", imap_cmd_search, IMAP_CF_SELECTED | IMAP_CF_UID |
	  IMAP_CF_NO_EXPUNGE },
	{ "FETCH", imap_cmd_fetch, IMAP_CF_SELECTED | IMAP_CF_UID |
	  IMAP_CF_NO_EXPUNGE },
	{ "STORE", imap_cmd_store, IMAP_CF_SELECTED | IMAP_CF_UID |
	  IMAP_CF_NO_EXPUNGE },
	{ "COPY", imap_cmd_copy, IMAP_CF_SELECTED | IMAP_CF_UID },
	{ "MOVE", imap_cmd_move, IMAP_CF_SELECTED | IMAP_CF_UID },
};

void
imap_init_store(struct store *st)
{
	g_store = st;
}

struct store *
imap_store(void)
{
	return g_store;
}

unsigned
imap_session_count(void)
{
	return __atomic_load_n(&g_count, __ATOMIC_RELAXED);
}

static struct loop_sessions *
ls_of(struct loop *l)
{
	return &per_loop[loop_index(l) % MAX_LOOPS];
}

/* ---- output ---- */

static void
imap_vwrite(struct imap_session *s, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
imap_vwrite(struct imap_session *s, const char *fmt, va_list ap)
{
	if (s->freeing || s->bev == NULL)
		return;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	if (evbuffer_add_vprintf(out, fmt, ap) < 0 ||
	    evbuffer_add(out, "\r\n", 2) < 0)
		imap_close(s);
}

void
imap_write(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_vwrite(s, fmt, ap);
	va_end(ap);
}

void
imap_write_raw(struct imap_session *s, const void *p, size_t len)
{
	if (s->freeing || s->bev == NULL)
		return;
	if (evbuffer_add(bufferevent_get_output(s->bev), p, len) < 0)
		imap_close(s);
}

bool
imap_output_full(struct imap_session *s)
{
	return s->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) >
	    s->cfg->imap_output_buffer_max;
}

void
imap_wait_output(struct imap_session *s, void (*cont)(struct imap_session *))
{
	s->cont = cont;
	/* The write callback fires once the buffer is down to half. */
	bufferevent_setwatermark(s->bev, EV_WRITE,
	    s->cfg->imap_output_buffer_max / 2, 0);
}

/* ---- life cycle ---- */

static void
imap_free(struct imap_session *s)
{
	struct loop_sessions *ls = ls_of(s->loop);
	struct logline ll;

	logl_begin(&ll, s->id, "imap", "disconnect");
	if (s->login[0] != '\0')
		logl_str(&ll, "user", s->login);
	logl_emit(&ll, LOG_INFO);
	imap_unwatch(s);
	imap_view_free(&s->view);
	if (s->ctx_free != NULL && s->ctx != NULL)
		s->ctx_free(s->ctx);
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
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->close_timer != NULL)
		event_free(s->close_timer);
	imap_cmdbuf_free(&s->cmd);
	config_unref(&s->cfg);
	struct loop *l = s->loop;
	sodium_memzero(s, sizeof(*s));
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
imap_free_cb(void *arg)
{
	imap_free(arg);
}

/* imap_release - end now: stop I/O, free once nothing is pending. */
static void
imap_release(struct imap_session *s)
{
	if (s->freeing)
		return;
	s->freeing = true;
	imap_unwatch(s);
	if (s->bev != NULL) {
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	}
	if (s->timer != NULL)
		event_del(s->timer);
	if (s->close_timer != NULL)
		event_del(s->close_timer);
	if (s->timer_fn != NULL) {
		/* a delay was pending: it will not fire any more */
		s->timer_fn = NULL;
		s->pending--;
	}
	if (s->pending == 0 && loop_post(s->loop, imap_free_cb, s) < 0)
		log_warnx("%s imap free deferred: out of memory", s->id);
}

bool
imap_resume_ok(struct imap_session *s)
{
	s->pending--;
	if (s->freeing) {
		if (s->pending == 0)
			imap_free(s);
		return false;
	}
	if (s->io == IMAP_IO_CLOSING) {
		close_when_flushed(s);
		return false;
	}
	return true;
}

void
imap_suspend(struct imap_session *s)
{
	s->pending++;
	bufferevent_disable(s->bev, EV_READ);
}

static void
underlying_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info,
		   void *arg)
{
	struct imap_session *s = arg;
	if (!s->freeing && evbuffer_get_length(buf) == 0 &&
	    pki_bev_output_pending(s->bev) == 0)
		imap_release(s);
}

static void
close_when_flushed(struct imap_session *s)
{
	if (s->bev == NULL || pki_bev_output_pending(s->bev) == 0) {
		imap_release(s);
		return;
	}
	struct bufferevent *u = bufferevent_get_underlying(s->bev);
	if (u != NULL && !s->watch_underlying) {
		s->watch_underlying = true;
		evbuffer_add_cb(bufferevent_get_output(u), underlying_drained,
		    s);
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	void (*fn)(struct imap_session *) = s->timer_fn;
	s->timer_fn = NULL;
	if (fn != NULL)
		fn(s);
}

/* arm_timer - run fn after sec seconds (a delay: the caller counted it
 * in s->pending). */
static void
arm_timer(struct imap_session *s, uint64_t sec,
	  void (*fn)(struct imap_session *s))
{
	struct timeval tv = { (time_t)sec, 0 };
	if (s->timer == NULL)
		s->timer = evtimer_new(loop_base(s->loop), timer_cb, s);
	if (s->timer == NULL) {
		fn(s);
		return;
	}
	s->timer_fn = fn;
	evtimer_add(s->timer, &tv);
}

static void
close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	imap_release(arg);
}

/* close_deadline - release the session after sec seconds whatever is
 * still unsent or pending. */
static void
close_deadline(struct imap_session *s, time_t sec)
{
	struct timeval tv = { sec, 0 };
	if (s->close_timer == NULL)
		s->close_timer = evtimer_new(loop_base(s->loop),
		    close_timer_cb, s);
	if (s->close_timer != NULL)
		evtimer_add(s->close_timer, &tv);
}

void
imap_close(struct imap_session *s)
{
	if (s->freeing || s->io == IMAP_IO_CLOSING)
		return;
	s->io = IMAP_IO_CLOSING;
	s->state = IMAP_LOGOUT;
	imap_unwatch(s);
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ);
	/* A peer that does not read cannot keep us. */
	close_deadline(s, 10);
	close_when_flushed(s);
}

static void
delay_done(struct imap_session *s)
{
	if (!imap_resume_ok(s))
		return;
	s->io = IMAP_IO_LINE;
	bufferevent_enable(s->bev, EV_READ);
	imap_process(s);
}

void
imap_delay(struct imap_session *s, uint64_t sec,
	   void (*fn)(struct imap_session *s))
{
	imap_suspend(s);
	arm_timer(s, sec, fn ? fn : delay_done);
}

static void
set_timeouts(struct imap_session *s)
{
	struct timeval tv = { 0, 0 };
	tv.tv_sec = (time_t)(s->state == IMAP_NOT_AUTH ?
	    s->cfg->imap_timeout_auth : s->cfg->imap_timeout_idle);
	bufferevent_set_timeouts(s->bev, &tv, NULL);
}

/* ---- capabilities ---- */

void
imap_capability_string(struct imap_session *s, struct buf *out)
{
	buf_adds(out, "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
	if (s->state == IMAP_NOT_AUTH) {
		if (!s->is_tls)
			buf_adds(out, " STARTTLS LOGINDISABLED");
		else
			buf_adds(out, " AUTH=PLAIN");
		return;
	}
	buf_adds(out, " NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN UNSELECT"
	    " CONDSTORE QRESYNC LIST-STATUS ESEARCH");
}

static void
greeting(struct imap_session *s)
{
	struct buf b;
	buf_init(&b, 1024);
	imap_capability_string(s, &b);
	imap_write(s, "* OK [CAPABILITY %s] mssgate ready", buf_data(&b));
	buf_free(&b);
}

void
imap_starttls(struct imap_session *s)
{
	imap_write(s, "%s OK Begin TLS negotiation now", s->tag);
	/* RFC 3501 6.2.1: nothing pipelined after STARTTLS in plaintext
	 * may be taken as a command. */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t junk = evbuffer_get_length(in);
	if (junk > 0) {
		evbuffer_drain(in, junk);
		log_info("%s imap starttls discarded=%zu", s->id, junk);
	}
	struct bufferevent *tls = pki_bev_starttls(loop_base(s->loop),
	    s->bev, PKI_CTX_SERVER);
	if (tls == NULL) {
		imap_write(s, "* BYE TLS failed");
		imap_close(s);
		return;
	}
	s->bev = tls;
	bufferevent_setcb(tls, imap_read_cb, imap_write_cb, imap_event_cb, s);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	struct timeval tv = { (time_t)s->cfg->tls_handshake_timeout, 0 };
	bufferevent_set_timeouts(tls, &tv, &tv);
	imap_cmdbuf_reset(&s->cmd);
	s->io = IMAP_IO_TLS_WAIT;
}

void
imap_accept(struct loop *l, int fd, const struct sockaddr *sa,
	    enum imap_listener_kind kind)
{
	struct config *cfg = config_current();
	struct loop_sessions *ls = ls_of(l);
	char peer[64];

	net_addr_str(sa, peer, sizeof(peer));
	if (cfg == NULL || ls->shutting_down ||
	    imap_session_count() >= cfg->imap_max_sessions) {
		static const char busy[] = "* BYE Too many connections, try "
		    "again later\r\n";
		if (kind == IMAP_LISTENER_STARTTLS) {
			ssize_t w = write(fd, busy, sizeof(busy) - 1);
			(void)w;
		}
		log_warnx("- imap refused peer=%s reason=%s", peer,
		    ls->shutting_down ? "shutdown" : "max_sessions");
		close(fd);
		config_unref(&cfg);
		return;
	}
	struct imap_session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		config_unref(&cfg);
		return;
	}
	str_rand_hex(s->id, 8);
	s->loop = l;
	s->cfg = cfg;
	s->implicit_tls = kind == IMAP_LISTENER_TLS;
	str_copy(s->peer, sizeof(s->peer), peer);
	imap_cmdbuf_init(&s->cmd, cfg->imap_max_line_length, MAX_TOKENS,
	    (unsigned)cfg->imap_max_nesting);
	if (s->implicit_tls) {
		s->bev = pki_bev_accept(loop_base(l), fd);
		s->io = IMAP_IO_TLS_WAIT;
	} else {
		s->bev = bufferevent_socket_new(loop_base(l), fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		s->io = IMAP_IO_LINE;
		if (s->bev == NULL)
			close(fd);
	}
	if (s->bev == NULL) {
		imap_cmdbuf_free(&s->cmd);
		config_unref(&s->cfg);
		free(s);
		return;
	}
	s->next = ls->head;
	if (ls->head != NULL)
		ls->head->prev = s;
	ls->head = s;
	ls->n++;
	__atomic_add_fetch(&g_count, 1, __ATOMIC_RELAXED);
	bufferevent_setcb(s->bev, imap_read_cb, imap_write_cb, imap_event_cb,
	    s);
	struct logline ll;
	logl_begin(&ll, s->id, "imap", "connect");
	logl_str(&ll, "peer", peer);
	logl_str(&ll, "listener", s->implicit_tls ? "imaps" : "imap");
	logl_emit(&ll, LOG_INFO);
	if (s->implicit_tls) {
		struct timeval tv = { (time_t)cfg->tls_handshake_timeout, 0 };
		bufferevent_set_timeouts(s->bev, &tv, &tv);
	} else {
		set_timeouts(s);
		greeting(s);
	}
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
imap_read_cb(struct bufferevent *bev, void *arg)
{
	imap_process(arg);
}

static void
imap_write_cb(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;
	if (s->io == IMAP_IO_CLOSING) {
		close_when_flushed(s);
		return;
	}
	if (s->cont != NULL && !imap_output_full(s)) {
		void (*cont)(struct imap_session *) = s->cont;
		s->cont = NULL;
		bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
		cont(s);
	}
}

static void
autologout(struct imap_session *s)
{
	log_info("%s imap autologout state=%d", s->id, (int)s->state);
	imap_write(s, "* BYE Autologout; idle for too long");
	imap_close(s);
}

static void
imap_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_session *s = arg;
	char reason[256];

	if (what & BEV_EVENT_CONNECTED) {
		char version[32], cipher[64];
		int bits;
		pki_bev_describe(bev, version, sizeof(version), cipher,
		    sizeof(cipher), &bits);
		s->is_tls = true;
		struct logline ll;
		logl_begin(&ll, s->id, "imap", "tls");
		logl_str(&ll, "version", version);
		logl_str(&ll, "cipher", cipher);
		logl_emit(&ll, LOG_INFO);
		set_timeouts(s);
		if (s->io == IMAP_IO_TLS_WAIT) {
			s->io = IMAP_IO_LINE;
			if (s->implicit_tls)
				greeting(s);
		}
		imap_process(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->io == IMAP_IO_CLOSING || s->io == IMAP_IO_TLS_WAIT) {
			imap_release(s);
			return;
		}
		if (s->io == IMAP_IO_RUN) {
			/* A command is still working: its answer ends it. */
			set_timeouts(s);
			return;
		}
		autologout(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		pki_bev_error(bev, reason, sizeof(reason));
		struct logline ll;
		logl_begin(&ll, s->id, "imap", "error");
		logl_str(&ll, "reason", reason[0] ? reason : "connection error");
		logl_emit(&ll, LOG_INFO);
	}
	struct bufferevent *u = bufferevent_get_underlying(bev);
	if (u != NULL && !s->freeing &&
	    evbuffer_get_length(bufferevent_get_output(u)) > 0) {
		/* Send a refused handshake's alert before closing. */
		s->io = IMAP_IO_CLOSING;
		bufferevent_enable(u, EV_WRITE);
		close_deadline(s, 5);
		close_when_flushed(s);
		return;
	}
	imap_release(s);
}

/* ---- commands ---- */

void
imap_done(struct imap_session *s, const char *status, const char *fmt, ...)
{
	va_list ap;
	bool expunge_ok = s->def == NULL || !(s->def->flags &
	    IMAP_CF_NO_EXPUNGE) || s->uid;

	if (s->freeing)
		return;
	if (s->view != NULL && s->io != IMAP_IO_CLOSING &&
	    !imap_sync(s, expunge_ok))
		return;
	if (s->io == IMAP_IO_CLOSING)
		return;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "%s %s ", s->tag, status);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (s->ctx_free != NULL && s->ctx != NULL)
		s->ctx_free(s->ctx);
	s->ctx = NULL;
	s->ctx_free = NULL;
	s->cont = NULL;
	s->def = NULL;
	imap_cmdbuf_reset(&s->cmd);
	if (s->bye_after_cmd) {
		imap_write(s, "* BYE Server shutting down");
		imap_close(s);
		return;
	}
	if (s->io == IMAP_IO_RUN || s->io == IMAP_IO_SASL ||
	    s->io == IMAP_IO_IDLE)
		s->io = IMAP_IO_LINE;
	set_timeouts(s);
	if (s->pending == 0 && s->io == IMAP_IO_LINE) {
		bufferevent_enable(s->bev, EV_READ);
		/* More commands may already wait in the input buffer; run
		 * them from the loop, not from inside this answer. */
		if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
			bufferevent_trigger(s->bev, EV_READ, 0);
	}
}

void
imap_bad(struct imap_session *s, const char *text)
{
	imap_done(s, "BAD", "%s", text);
}

void
imap_no(struct imap_session *s, const char *text)
{
	imap_done(s, "NO", "%s", text);
}

/* dispatch - run an assembled command. */
static void
dispatch(struct imap_session *s)
{
	struct imap_args a = { &s->cmd, 0 };
	const char *tag, *name;
	size_t tlen, nlen;

	s->uid = false;
	s->def = NULL;
	if (!imap_arg_atom(&a, &tag, &tlen) || tlen >= sizeof(s->tag) ||
	    memchr(tag, '+', tlen) != NULL || memchr(tag, '*', tlen) != NULL) {
		str_copy(s->tag, sizeof(s->tag), "*");
		s->io = IMAP_IO_RUN;
		imap_bad(s, "Invalid tag");
		return;
	}
	memcpy(s->tag, tag, tlen);
	s->tag[tlen] = '\0';
	s->io = IMAP_IO_RUN;
	if (!imap_arg_atom(&a, &name, &nlen)) {
		imap_bad(s, "Missing command");
		return;
	}
	if (imap_atom_is(name, nlen, "UID")) {
		s->uid = true;
		if (!imap_arg_atom(&a, &name, &nlen)) {
			imap_bad(s, "Missing command after UID");
			return;
		}
	}
	const struct imap_cmd_def *def = NULL;
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (imap_atom_is(name, nlen, cmd_table[i].name))
			def = &cmd_table[i];
	if (def == NULL || (s->uid && !(def->flags & IMAP_CF_UID))) {
		imap_bad(s, "Unknown command");
		return;
	}
	if ((def->flags & IMAP_CF_NOTAUTH) && s->state != IMAP_NOT_AUTH) {
		imap_bad(s, "Already authenticated");
		return;
	}
	if ((def->flags & (IMAP_CF_AUTH | IMAP_CF_SELECTED)) &&
	    s->state == IMAP_NOT_AUTH) {
		imap_bad(s, "Not authenticated");
		return;
	}
	if ((def->flags & IMAP_CF_SELECTED) && s->state != IMAP_SELECTED) {
		imap_bad(s, "No mailbox selected");
		return;
	}
	s->def = def;
	s->args = a;
	def->fn(s);
}

/* take_line - the next complete line, made contiguous in the input
 * buffer and pointed at by *line_r (CRLF not counted in *len_r); the
 * caller drains *used_r bytes once done with it. 1, 0 for "need more",
 * -1 when it was refused (an answer was sent). */
static int
take_line(struct imap_session *s, char **line_r, size_t *len_r,
	  size_t *used_r)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in), eol_len;
	size_t max = s->cfg->imap_max_line_length;

	if (avail == 0)
		return 0;
	struct evbuffer_ptr e = evbuffer_search_eol(in, NULL, &eol_len,
	    EVBUFFER_EOL_LF);
	if (e.pos < 0) {
		if (avail <= max)
			return 0;
		/* The tag is lost with the line: answer untagged and end,
		 * as the stream cannot be trusted any more. */
		evbuffer_drain(in, avail);
		imap_write(s, "* BYE Command line too long");
		imap_close(s);
		return -1;
	}
	size_t n = (size_t)e.pos + 1;
	if (n > max + 2) {
		evbuffer_drain(in, n);
		str_copy(s->tag, sizeof(s->tag), "*");
		s->io = IMAP_IO_RUN;
		imap_bad(s, "Command line too long");
		return -1;
	}
	char *line = (char *)evbuffer_pullup(in, (ev_ssize_t)n);
	if (line == NULL) {
		imap_write(s, "* BYE Out of memory");
		imap_close(s);
		return -1;
	}
	*used_r = n;
	n--;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	*line_r = line;
	*len_r = n;
	return 1;
}

/* literal_refused - a literal announcement we will not take. */
static void
literal_refused(struct imap_session *s, bool sync, const char *why)
{
	struct imap_args a = { &s->cmd, 0 };
	const char *tag;
	size_t tlen;
	if (imap_arg_atom(&a, &tag, &tlen) && tlen < sizeof(s->tag)) {
		memcpy(s->tag, tag, tlen);
		s->tag[tlen] = '\0';
	} else {
		str_copy(s->tag, sizeof(s->tag), "*");
	}
	if (!sync) {
		/* RFC 7888 section 4: the data is coming anyway. */
		imap_write(s, "* BYE %s", why);
		imap_close(s);
		return;
	}
	s->io = IMAP_IO_RUN;
	s->def = NULL;
	/* RFC 7889: an APPEND too large is NO [TOOBIG]; any other literal
	 * that large is a malformed command. */
	if (s->lit_append)
		imap_done(s, "NO", "[TOOBIG] %s", why);
	else
		imap_done(s, "BAD", "%s", why);
}

struct line_result {
	enum imap_line_result r;
	uint64_t lit_len;
	bool sync;
	const char *why;
};

/* tokenize - the part of a line's handling that needs the line. */
static void
tokenize(struct imap_session *s, const char *line, size_t len,
	 struct line_result *lr)
{
	lr->lit_len = 0;
	lr->sync = true;
	lr->why = NULL;
	lr->r = imap_cmdbuf_line(&s->cmd, line, len, &lr->lit_len, &lr->sync,
	    &lr->why);
}

static void
on_line(struct imap_session *s, const struct line_result *lr)
{
	uint64_t lit_len = lr->lit_len;
	bool sync = lr->sync;

	if (lr->r == IMAP_LINE_ERROR) {
		struct imap_args a = { &s->cmd, 0 };
		const char *tag;
		size_t tlen;
		if (s->cmd.n_toks > 0 && imap_arg_atom(&a, &tag, &tlen) &&
		    tlen < sizeof(s->tag)) {
			memcpy(s->tag, tag, tlen);
			s->tag[tlen] = '\0';
		} else {
			str_copy(s->tag, sizeof(s->tag), "*");
		}
		s->io = IMAP_IO_RUN;
		s->def = NULL;
		char text[160];
		snprintf(text, sizeof(text), "Error in IMAP command: %s",
		    lr->why);
		imap_bad(s, text);
		return;
	}
	if (lr->r == IMAP_LINE_DONE) {
		if (s->cmd.n_toks == 0) {
			imap_cmdbuf_reset(&s->cmd);
			return;	/* an empty line: nothing to answer */
		}
		dispatch(s);
		return;
	}
	/* A literal follows. APPEND's message may be large; any other
	 * literal is held to the line limit. */
	s->lit_append = false;
	if (s->cmd.n_toks >= 2) {
		const struct imap_tok *t = &s->cmd.toks[1];
		const char *p = imap_tok_data(&s->cmd, t);
		s->lit_append = t->type == IMAP_TOK_ATOM &&
		    imap_atom_is(p, t->len, "APPEND");
	}
	uint64_t max = s->lit_append ? s->cfg->imap_max_message_size :
	    s->cfg->imap_max_line_length;
	uint64_t need = buf_len(&s->cmd.data) + lit_len + 1;
	if (lit_len > max || (need > s->cmd.data.max && !s->lit_append)) {
		literal_refused(s, sync, s->lit_append ? "Message too large" :
		    "Literal too large");
		return;
	}
	if (need > s->cmd.data.max)	/* APPEND: for this command only */
		s->cmd.data.max = (size_t)need + s->cfg->imap_max_line_length;
	if (buf_reserve(&s->cmd.data, (size_t)lit_len + 1) < 0) {
		literal_refused(s, sync, "Out of memory for the literal");
		return;
	}
	s->lit_left = lit_len;
	s->lit_start = buf_len(&s->cmd.data);
	s->io = IMAP_IO_LITERAL;
	if (sync)
		imap_write(s, "+ OK");
	/* The literal's bytes go straight to the arena's end; the token is
	 * added once they are all there. */
}

/* literal_input - move literal bytes into the arena; true when done. */
static bool
literal_input(struct imap_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < s->lit_left ? avail : (size_t)s->lit_left;
	struct buf *d = &s->cmd.data;

	if (n > 0) {
		if (buf_reserve(d, n + 1) < 0 ||
		    evbuffer_remove(in, d->data + d->len, n) != (int)n) {
			imap_write(s, "* BYE Out of memory");
			imap_close(s);
			return false;
		}
		d->len += n;
		s->lit_left -= n;
	}
	if (s->lit_left > 0)
		return false;
	return true;
}

static void
imap_process(struct imap_session *s)
{
	char *line;
	size_t len, used;

	while (!s->freeing && s->bev != NULL && s->pending == 0) {
		switch (s->io) {
		case IMAP_IO_LINE:
		case IMAP_IO_SASL:
		case IMAP_IO_IDLE: {
			int r = take_line(s, &line, &len, &used);
			if (r == 0)
				return;
			if (r < 0)
				continue;
			/* Copy what is needed out of the input buffer and drain
			 * the line before acting on it: the action may write,
			 * switch to TLS (which discards what follows) or end
			 * the session. */
			struct evbuffer *in = bufferevent_get_input(s->bev);
			if (s->io == IMAP_IO_LINE) {
				struct line_result lr;
				tokenize(s, line, len, &lr);
				evbuffer_drain(in, used);
				on_line(s, &lr);
				continue;
			}
			char small[SASL_LINE_MAX];
			size_t n = len < sizeof(small) ? len : sizeof(small) - 1;
			memcpy(small, line, n);
			small[n] = '\0';
			evbuffer_drain(in, used);
			if (s->io == IMAP_IO_SASL) {
				if (len >= sizeof(small)) {
					s->io = IMAP_IO_RUN;
					imap_bad(s, "SASL response too long");
				} else {
					imap_sasl_line(s, small, n);
				}
				sodium_memzero(small, n);
			} else {
				imap_idle_line(s, small, n);
			}
			continue;
		}
		case IMAP_IO_LITERAL: {
			if (!literal_input(s))
				return;
			if (imap_cmdbuf_literal(&s->cmd, s->lit_start,
			    buf_len(&s->cmd.data) - s->lit_start) < 0) {
				imap_write(s, "* BYE Command too large");
				imap_close(s);
				return;
			}
			s->io = IMAP_IO_LINE;
			continue;
		}
		case IMAP_IO_TLS_WAIT:
		case IMAP_IO_RUN:
		case IMAP_IO_SKIP:
		case IMAP_IO_CLOSING:
			return;
		}
	}
}

/* ---- shared helpers ---- */

int
imap_mailbox_arg(struct imap_session *s, char *out, size_t size)
{
	const char *p;
	size_t len;
	struct buf b;

	if (!imap_arg_astring(&s->args, &p, &len)) {
		imap_bad(s, "Missing mailbox name");
		return ERR_PROTO;
	}
	buf_init(&b, size - 1);
	int r = imap_utf7_decode(p, len, &b);
	if (r < 0 || memchr(buf_data(&b), '\0', buf_len(&b)) != NULL) {
		buf_free(&b);
		imap_bad(s, r == ERR_LIMIT ? "Mailbox name too long" :
		    "Mailbox name is not valid modified UTF-7");
		return ERR_PROTO;
	}
	str_copy(out, size, buf_data(&b));
	buf_free(&b);
	/* INBOX is case-insensitive, as are its inferiors' first level. */
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

int
imap_put_mailbox(struct buf *b, const char *name)
{
	struct buf e;
	buf_init(&e, STORE_MAILBOX_NAME_MAX * 4);
	int r = imap_utf7_encode(name, strlen(name), &e);
	if (r == 0) {
		bool plain = buf_len(&e) > 0;
		for (size_t i = 0; i < buf_len(&e) && plain; i++) {
			char c = buf_data(&e)[i];
			if (c == ' ' || c == '"' || c == '\\' || c == '(' ||
			    c == ')' || c == '{' || c == '%' || c == '*' ||
			    c == ']')
				plain = false;
		}
		if (plain) {
			r = buf_add(b, buf_data(&e), buf_len(&e));
		} else {
			r = buf_addc(b, '"');
			for (size_t i = 0; i < buf_len(&e) && r == 0; i++) {
				char c = buf_data(&e)[i];
				if (c == '"' || c == '\\')
					r = buf_addc(b, '\\');
				if (r == 0)
					r = buf_addc(b, c);
			}
			if (r == 0)
				r = buf_addc(b, '"');
		}
	}
	buf_free(&e);
	return r;
}

void
imap_flags_string(uint32_t flags, const char *keywords, bool recent,
		  struct buf *out)
{
	static const struct { uint32_t bit; const char *name; } t[] = {
		{ STORE_FLAG_ANSWERED, "\\Answered" },
		{ STORE_FLAG_FLAGGED, "\\Flagged" },
		{ STORE_FLAG_DELETED, "\\Deleted" },
		{ STORE_FLAG_SEEN, "\\Seen" },
		{ STORE_FLAG_DRAFT, "\\Draft" },
	};
	bool first = true;
	buf_addc(out, '(');
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!(flags & t[i].bit))
			continue;
		buf_addf(out, "%s%s", first ? "" : " ", t[i].name);
		first = false;
	}
	if (recent) {
		buf_addf(out, "%s\\Recent", first ? "" : " ");
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0')
		buf_addf(out, "%s%s", first ? "" : " ", keywords);
	buf_addc(out, ')');
}

void
imap_date_time(int64_t t, char *out, size_t size)
{
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, size, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
	    months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/* ---- shutdown ---- */

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop_sessions *ls = arg;
	struct imap_session *s, *next;
	for (s = ls->head; s != NULL; s = next) {
		next = s->next;
		if (s->pending > 0)
			continue;
		if (!s->freeing && s->io != IMAP_IO_CLOSING) {
			imap_write(s, "* BYE Server shutting down");
			imap_close(s);
		} else if (s->io == IMAP_IO_CLOSING) {
			imap_release(s);
		}
	}
}

void
imap_shutdown(struct loop *l, unsigned grace, void (*done)(struct loop *l))
{
	struct loop_sessions *ls = ls_of(l);
	struct imap_session *s, *next;

	ls->shutting_down = true;
	ls->done = done;
	for (s = ls->head; s != NULL; s = next) {
		next = s->next;
		if (s->freeing || s->io == IMAP_IO_CLOSING)
			continue;
		if (s->io == IMAP_IO_RUN || s->io == IMAP_IO_LITERAL ||
		    s->pending > 0) {
			s->bye_after_cmd = true;
			continue;
		}
		imap_write(s, "* BYE Server shutting down");
		imap_close(s);
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
