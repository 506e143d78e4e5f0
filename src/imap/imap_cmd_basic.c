/* SPDX-License-Identifier: MIT */
/*
 * imap_cmd_basic.c - the commands of any state and of authentication:
 * CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN
 * (RFC 4616, with SASL-IR: RFC 4959), ENABLE (RFC 5161), NAMESPACE
 * (RFC 2342), IDLE (RFC 2177), CHECK, CLOSE and UNSELECT (RFC 3691).
 * Passwords never travel in plaintext: LOGIN and AUTHENTICATE are refused
 * before TLS (LOGINDISABLED).
 */
#include "imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "auth/auth.h"
#include "config.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

void
imap_cmd_capability(struct imap_session *s)
{
	struct buf b;
	buf_init(&b, 1024);
	imap_capability_string(s, &b);
	imap_write(s, "* CAPABILITY %s", buf_data(&b));
	buf_free(&b);
	imap_done(s, "OK", "Capability completed");
}

void
imap_cmd_noop(struct imap_session *s)
{
	imap_done(s, "OK", "NOOP completed");
}

void
imap_cmd_logout(struct imap_session *s)
{
	imap_write(s, "* BYE Logging out");
	imap_write(s, "%s OK Logout completed", s->tag);
	imap_close(s);
}

void
imap_cmd_id(struct imap_session *s)
{
	/* The client's identification is accepted and not needed. */
	imap_write(s, "* ID (\"name\" \"mssgate\" \"version\" \"%s\")",
	    PACKAGE_VERSION);
	imap_done(s, "OK", "ID completed");
}

void
imap_cmd_starttls(struct imap_session *s)
{
	if (s->is_tls) {
		imap_bad(s, "TLS is already active");
		return;
	}
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "STARTTLS takes no argument");
		return;
	}
	imap_starttls(s);
}

/* ---- authentication ---- */

static void
auth_fail_answer(struct imap_session *s)
{
	if (!imap_resume_ok(s))
		return;
	imap_done(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
}

static void
auth_result(struct imap_session *s, int result, uint32_t account_id)
{
	struct logline ll;
	if (result == 0) {
		struct store_rtxn *rt;
		struct store_account a;
		int r = store_read_begin(imap_store(), &rt);
		if (r == 0) {
			r = store_account_get(rt, account_id, &a);
			store_read_end(&rt);
		}
		if (r != 1) {
			imap_done(s, "NO", "[UNAVAILABLE] Temporary "
			    "authentication failure");
			return;
		}
		s->state = IMAP_AUTH;
		s->account_id = account_id;
		str_copy(s->login, sizeof(s->login), a.login);
		logl_begin(&ll, s->id, "imap", "auth");
		logl_str(&ll, "user", s->login);
		logl_str(&ll, "peer", s->peer);
		logl_emit(&ll, LOG_INFO);
		struct buf b;
		buf_init(&b, 1024);
		imap_capability_string(s, &b);
		imap_done(s, "OK", "[CAPABILITY %s] Logged in", buf_data(&b));
		buf_free(&b);
		return;
	}
	logl_begin(&ll, s->id, "imap", "auth-failed");
	logl_str(&ll, "user", s->login);
	logl_str(&ll, "peer", s->peer);
	logl_str(&ll, "reason", result == ERR_AUTH ? "bad credentials" :
	    result == ERR_PERM ? "account disabled" : err_str(result));
	logl_emit(&ll, LOG_INFO);
	s->login[0] = '\0';
	if (result != ERR_AUTH && result != ERR_PERM) {
		imap_done(s, "NO", "[UNAVAILABLE] Temporary authentication "
		    "failure, try again");
		return;
	}
	s->auth_failures++;
	/* A refusal costs time, so guessing passwords is slow. */
	imap_delay(s, s->cfg->auth_fail_delay, auth_fail_answer);
}

static void
auth_done(int result, uint32_t account_id, void *arg)
{
	struct imap_session *s = arg;
	if (!imap_resume_ok(s))
		return;
	auth_result(s, result, account_id);
}

static void
auth_start(struct imap_session *s, const char *user, const char *pass,
	   size_t pass_len)
{
	int result = 0;
	uint32_t id = 0;
	/* remembered for the log line of a failure */
	str_copy(s->login, sizeof(s->login), user);
	int r = auth_check(imap_store(), user, pass, pass_len, auth_done, s,
	    s->loop, &result, &id);
	if (r == 1) {
		auth_result(s, result, id);
		return;
	}
	if (r < 0) {
		imap_done(s, "NO", "[UNAVAILABLE] Temporary authentication "
		    "failure, try again");
		return;
	}
	imap_suspend(s);
}

void
imap_cmd_login(struct imap_session *s)
{
	const char *user, *pass;
	size_t ulen, plen;
	char u[STORE_ADDR_MAX];

	if (!s->is_tls) {
		imap_done(s, "NO", "[PRIVACYREQUIRED] LOGIN is disabled until "
		    "STARTTLS");
		return;
	}
	if (!imap_arg_astring(&s->args, &user, &ulen) ||
	    !imap_arg_astring(&s->args, &pass, &plen) ||
	    !imap_arg_end(&s->args)) {
		imap_bad(s, "Syntax: LOGIN user password");
		return;
	}
	if (str_copyn(u, sizeof(u), user, ulen) < 0 ||
	    memchr(user, '\0', ulen) != NULL) {
		imap_done(s, "NO", "[AUTHENTICATIONFAILED] Authentication "
		    "failed.");
		return;
	}
	auth_start(s, u, pass, plen);
	sodium_memzero((char *)pass, plen);
}

/* plain_response - authzid NUL authcid NUL passwd (RFC 4616). */
static void
plain_response(struct imap_session *s, const unsigned char *p, size_t n)
{
	const unsigned char *nul1 = memchr(p, '\0', n);
	const unsigned char *nul2 = nul1 ? memchr(nul1 + 1, '\0',
	    n - (size_t)(nul1 + 1 - p)) : NULL;
	char user[STORE_ADDR_MAX];

	if (nul1 == NULL || nul2 == NULL ||
	    memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - p)) != NULL) {
		imap_bad(s, "Malformed PLAIN response");
		return;
	}
	size_t zlen = (size_t)(nul1 - p);
	size_t ulen = (size_t)(nul2 - nul1 - 1);
	if (ulen == 0 || str_copyn(user, sizeof(user),
	    (const char *)nul1 + 1, ulen) < 0 ||
	    (zlen > 0 && (zlen != ulen || strncasecmp((const char *)p, user,
	    ulen) != 0))) {
		/* We act for no one else than the one who logs in. */
		imap_done(s, "NO", "[AUTHENTICATIONFAILED] Authentication "
		    "failed.");
		return;
	}
	auth_start(s, user, (const char *)nul2 + 1,
	    n - (size_t)(nul2 + 1 - p));
}

static void
sasl_decode(struct imap_session *s, const char *b64, size_t len)
{
	unsigned char dec[8192] = { 0 };
	size_t n = 0;
	if (len == 1 && b64[0] == '=') {
		plain_response(s, dec, 0);
		return;
	}
	if (sodium_base642bin(dec, sizeof(dec), b64, len, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0) {
		imap_bad(s, "Invalid base64 in the SASL response");
		return;
	}
	plain_response(s, dec, n);
	sodium_memzero(dec, sizeof(dec));
}

void
imap_cmd_authenticate(struct imap_session *s)
{
	const char *mech, *ir;
	size_t mlen, irlen;

	if (!imap_arg_atom(&s->args, &mech, &mlen)) {
		imap_bad(s, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (!imap_atom_is(mech, mlen, "PLAIN")) {
		imap_done(s, "NO", "Unsupported authentication mechanism");
		return;
	}
	if (!s->is_tls) {
		imap_done(s, "NO", "[PRIVACYREQUIRED] Authentication is "
		    "disabled until STARTTLS");
		return;
	}
	if (imap_arg_atom(&s->args, &ir, &irlen)) {
		if (!imap_arg_end(&s->args)) {
			imap_bad(s, "Too many arguments");
			return;
		}
		sasl_decode(s, ir, irlen);
		return;
	}
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "Bad initial response");
		return;
	}
	s->io = IMAP_IO_SASL;
	imap_write(s, "+ ");
}

void
imap_sasl_line(struct imap_session *s, const char *line, size_t len)
{
	s->io = IMAP_IO_RUN;
	if (len == 1 && line[0] == '*') {
		imap_bad(s, "Authentication aborted");
		return;
	}
	sasl_decode(s, line, len);
}

/* ---- authenticated state ---- */

void
imap_cmd_enable(struct imap_session *s)
{
	const char *p;
	size_t len;
	struct buf b;
	buf_init(&b, 256);
	if (imap_arg_end(&s->args)) {
		buf_free(&b);
		imap_bad(s, "Syntax: ENABLE capability...");
		return;
	}
	while (imap_arg_atom(&s->args, &p, &len)) {
		if (imap_atom_is(p, len, "CONDSTORE") && !s->condstore) {
			s->condstore = true;
			buf_adds(&b, " CONDSTORE");
		} else if (imap_atom_is(p, len, "QRESYNC") && !s->qresync) {
			s->qresync = true;
			if (!s->condstore) {
				s->condstore = true;
				buf_adds(&b, " CONDSTORE");
			}
			buf_adds(&b, " QRESYNC");
		}
	}
	if (!imap_arg_end(&s->args)) {
		buf_free(&b);
		imap_bad(s, "ENABLE takes capability names");
		return;
	}
	imap_write(s, "* ENABLED%s", buf_data(&b));
	buf_free(&b);
	imap_done(s, "OK", "Enabled");
}

void
imap_cmd_namespace(struct imap_session *s)
{
	imap_write(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_done(s, "OK", "Namespace completed");
}

void
imap_cmd_idle(struct imap_session *s)
{
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "IDLE takes no argument");
		return;
	}
	if (s->view != NULL && !imap_sync(s, true))
		return;
	s->io = IMAP_IO_IDLE;
	imap_write(s, "+ idling");
}

void
imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
	s->io = IMAP_IO_RUN;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		imap_done(s, "OK", "Idle completed");
	else
		imap_bad(s, "Expected DONE");
}

void
imap_cmd_check(struct imap_session *s)
{
	imap_done(s, "OK", "Check completed");
}

/* deselect - leave the selected state. */
static void
deselect(struct imap_session *s)
{
	imap_unwatch(s);
	imap_view_free(&s->view);
	s->state = IMAP_AUTH;
}

void
imap_cmd_unselect(struct imap_session *s)
{
	deselect(s);
	imap_done(s, "OK", "Unselect completed");
}

struct close_ctx {
	struct store_expunge_op op;
	struct imap_session *s;
};

static void
close_done(int result, void *arg)
{
	struct close_ctx *c = arg;
	struct imap_session *s = c->s;
	free(c);
	if (!imap_resume_ok(s))
		return;
	/* CLOSE expunges silently (RFC 3501 6.4.2): no untagged answer. */
	deselect(s);
	if (result < 0)
		imap_done(s, "NO", "Close failed: %s", err_str(result));
	else
		imap_done(s, "OK", "Close completed");
}

void
imap_cmd_close(struct imap_session *s)
{
	if (s->view->readonly) {
		deselect(s);
		imap_done(s, "OK", "Close completed");
		return;
	}
	struct close_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	c->op.mailbox_id = s->view->mailbox_id;
	if (store_submit(imap_store(), store_op_expunge, &c->op, close_done,
	    s->loop) < 0) {
		free(c);
		imap_no(s, "The store is not available");
		return;
	}
	imap_suspend(s);
}
