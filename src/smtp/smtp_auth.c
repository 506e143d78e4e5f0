/* SPDX-License-Identifier: MIT */
/*
 * smtp_auth.c - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, offered only under TLS. Credentials are checked on the
 * worker pool (Argon2id); a refusal costs auth_fail_delay before the next
 * command is read. Decoded secrets live on the stack and are wiped.
 */
#include "smtp_int.h"

#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#define SASL_MAX 9216	/* 12288 base64 characters decoded */

/* b64_decode - standard base64 into out; length or -1. */
static long
b64_decode(const char *in, size_t len, unsigned char *out, size_t max)
{
	size_t n = 0;
	if (sodium_base642bin(out, max, in, len, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	return (long)n;
}

static void
auth_log(struct smtp_session *s, const char *event, const char *user,
	 const char *mech, const char *reason)
{
	struct logline ll;
	logl_begin(&ll, s->id, "smtp", event);
	logl_str(&ll, "user", user);
	logl_str(&ll, "mech", mech);
	logl_str(&ll, "peer", s->peer);
	if (reason != NULL)
		logl_str(&ll, "reason", reason);
	logl_emit(&ll, LOG_INFO);
}

/* auth_result - the answer to a credential check, in command state. */
static void
auth_result(struct smtp_session *s, int result, uint32_t account_id)
{
	s->state = SMTP_STATE_COMMAND;
	if (result == 0) {
		struct store_rtxn *rt;
		int r = store_read_begin(smtp_store(), &rt);
		if (r == 0) {
			r = store_account_get(rt, account_id, &s->acct);
			store_read_end(&rt);
		}
		if (r != 1) {
			smtp_reply_error(s, "454 4.7.0 Temporary authentication "
			    "failure");
			return;
		}
		s->has_auth = true;
		auth_log(s, "auth", s->acct.login, "PLAIN/LOGIN", NULL);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	if (result == ERR_AUTH || result == ERR_PERM) {
		auth_log(s, "auth-failed", s->auth_user, "PLAIN/LOGIN",
		    result == ERR_PERM ? "account disabled" :
		    "bad credentials");
		smtp_reply_error(s, "535 5.7.8 Error: authentication failed");
		if (s->state == SMTP_STATE_COMMAND)
			smtp_delay(s, s->cfg->auth_fail_delay);
		return;
	}
	auth_log(s, "auth-failed", s->auth_user, "PLAIN/LOGIN", err_str(result));
	smtp_reply_error(s, "454 4.7.0 Temporary authentication failure");
}

static void
auth_done(int result, uint32_t account_id, void *arg)
{
	struct smtp_session *s = arg;
	if (!smtp_pending_done(s))
		return;
	auth_result(s, result, account_id);
	if (s->state == SMTP_STATE_COMMAND)
		smtp_resume(s);
}

static void
auth_verify(struct smtp_session *s, const char *user, const char *pass,
	    size_t pass_len)
{
	int result = 0;
	uint32_t id = 0;

	s->auth_step = SMTP_AUTH_NONE;
	str_copy(s->auth_user, sizeof(s->auth_user), user);
	int r = auth_check(smtp_store(), user, pass, pass_len, auth_done, s,
	    s->loop, &result, &id);
	if (r == 1) {
		auth_result(s, result, id);
		return;
	}
	if (r < 0) {
		s->state = SMTP_STATE_COMMAND;
		auth_log(s, "auth-failed", user, "PLAIN/LOGIN", err_str(r));
		smtp_reply_error(s, "454 4.7.0 Temporary authentication "
		    "failure");
		return;
	}
	s->state = SMTP_STATE_WAIT;
	s->pending++;
	bufferevent_disable(s->bev, EV_READ);
}

/* plain_response - authzid NUL authcid NUL passwd (RFC 4616). */
static void
plain_response(struct smtp_session *s, const unsigned char *p, size_t n)
{
	const unsigned char *nul1 = memchr(p, '\0', n);
	const unsigned char *nul2 = nul1 ? memchr(nul1 + 1, '\0',
	    n - (size_t)(nul1 + 1 - p)) : NULL;
	char user[SMTP_PATH_MAX];

	s->state = SMTP_STATE_COMMAND;
	s->auth_step = SMTP_AUTH_NONE;
	if (nul1 == NULL || nul2 == NULL ||
	    memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - p)) != NULL) {
		smtp_reply_error(s, "501 5.5.2 Error: malformed PLAIN response");
		return;
	}
	size_t zlen = (size_t)(nul1 - p);
	size_t ulen = (size_t)(nul2 - nul1 - 1);
	if (ulen == 0 || str_copyn(user, sizeof(user), (const char *)nul1 + 1,
	    ulen) < 0) {
		smtp_reply_error(s, "535 5.7.8 Error: authentication failed");
		return;
	}
	/* We act for no one else: an authorization identity, if given,
	 * must be the authentication identity itself. */
	if (zlen > 0 && (zlen != ulen || strncasecmp((const char *)p, user,
	    ulen) != 0)) {
		smtp_reply_error(s, "535 5.7.8 Error: authentication failed");
		return;
	}
	s->state = SMTP_STATE_AUTH;
	auth_verify(s, user, (const char *)nul2 + 1,
	    n - (size_t)(nul2 + 1 - p));
}

void
smtp_auth_start(struct smtp_session *s, struct strv args)
{
	unsigned char dec[SASL_MAX];
	const char *sp = memchr(args.p, ' ', args.len);
	size_t mlen = sp ? (size_t)(sp - args.p) : args.len;
	const char *ir = sp ? sp + 1 : NULL;
	size_t irlen = sp ? args.len - mlen - 1 : 0;

	if (mlen == 5 && strncasecmp(args.p, "PLAIN", 5) == 0) {
		if (ir == NULL) {
			s->auth_step = SMTP_AUTH_PLAIN;
			s->state = SMTP_STATE_AUTH;
			smtp_reply(s, "334 ");
			return;
		}
		long n = irlen == 1 && ir[0] == '=' ? 0 :
		    b64_decode(ir, irlen, dec, sizeof(dec));
		if (n < 0) {
			smtp_reply_error(s, "501 5.5.2 Error: cannot decode "
			    "response");
			return;
		}
		s->state = SMTP_STATE_AUTH;
		plain_response(s, dec, (size_t)n);
		sodium_memzero(dec, sizeof(dec));
		return;
	}
	if (mlen == 5 && strncasecmp(args.p, "LOGIN", 5) == 0) {
		if (ir == NULL) {
			s->auth_step = SMTP_AUTH_LOGIN_USER;
			s->state = SMTP_STATE_AUTH;
			smtp_reply(s, "334 VXNlcm5hbWU6");
			return;
		}
		long n = b64_decode(ir, irlen, dec, sizeof(dec));
		if (n <= 0 || str_copyn(s->auth_user, sizeof(s->auth_user),
		    (const char *)dec, (size_t)n) < 0) {
			smtp_reply_error(s, "501 5.5.2 Error: cannot decode "
			    "response");
			return;
		}
		s->auth_step = SMTP_AUTH_LOGIN_PASS;
		s->state = SMTP_STATE_AUTH;
		smtp_reply(s, "334 UGFzc3dvcmQ6");
		return;
	}
	if (mlen == 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	smtp_reply_error(s, "504 5.5.4 Unrecognized authentication type");
}

void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	unsigned char dec[SASL_MAX];
	enum smtp_auth_step step = s->auth_step;

	if (len == 1 && line[0] == '*') {
		s->auth_step = SMTP_AUTH_NONE;
		s->state = SMTP_STATE_COMMAND;
		smtp_reply_error(s, "501 5.7.0 Error: authentication aborted");
		return;
	}
	long n = b64_decode(line, len, dec, sizeof(dec));
	if (n < 0) {
		s->auth_step = SMTP_AUTH_NONE;
		s->state = SMTP_STATE_COMMAND;
		smtp_reply_error(s, "501 5.5.2 Error: cannot decode response");
		return;
	}
	switch (step) {
	case SMTP_AUTH_PLAIN:
		plain_response(s, dec, (size_t)n);
		break;
	case SMTP_AUTH_LOGIN_USER:
		if (n == 0 || str_copyn(s->auth_user, sizeof(s->auth_user),
		    (const char *)dec, (size_t)n) < 0) {
			s->auth_step = SMTP_AUTH_NONE;
			s->state = SMTP_STATE_COMMAND;
			smtp_reply_error(s, "535 5.7.8 Error: authentication "
			    "failed");
			break;
		}
		s->auth_step = SMTP_AUTH_LOGIN_PASS;
		smtp_reply(s, "334 UGFzc3dvcmQ6");
		break;
	case SMTP_AUTH_LOGIN_PASS: {
		char user[SMTP_PATH_MAX];
		str_copy(user, sizeof(user), s->auth_user);
		auth_verify(s, user, (const char *)dec, (size_t)n);
		break;
	}
	case SMTP_AUTH_NONE:
		s->state = SMTP_STATE_COMMAND;
		smtp_reply_error(s, "503 5.5.1 Error: no AUTH in progress");
		break;
	}
	sodium_memzero(dec, sizeof(dec));
}
