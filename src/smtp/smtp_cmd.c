/* SPDX-License-Identifier: MIT */
/*
 * smtp_cmd.c - the SMTP commands of a submission server (RFC 5321,
 * RFC 6409): a dispatch table with the preconditions of each verb, then
 * one check-and-proceed function per command. Submission rules: nothing
 * but EHLO/HELO, STARTTLS, NOOP, RSET, HELP, VRFY and QUIT before TLS;
 * no mail before AUTH; the sender must be one of the user's addresses.
 */
#include "smtp_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "relay/trust.h"
#include "store/store_dir.h"

enum {
	CF_TLS = 0x01,		/* refused before TLS on submission */
	CF_HELO = 0x02,		/* needs HELO/EHLO first */
};

typedef void cmd_fn(struct smtp_session *s, struct strv args);

static cmd_fn cmd_helo, cmd_ehlo, cmd_mail, cmd_rcpt, cmd_data, cmd_bdat,
    cmd_rset, cmd_noop, cmd_quit, cmd_help, cmd_vrfy, cmd_expn,
    cmd_starttls, cmd_auth;

static const struct {
	enum smtp_cmd cmd;
	cmd_fn *fn;
	unsigned flags;
} cmd_table[] = {
	{ SMTP_CMD_HELO, cmd_helo, 0 },
	{ SMTP_CMD_EHLO, cmd_ehlo, 0 },
	{ SMTP_CMD_MAIL, cmd_mail, CF_TLS | CF_HELO },
	{ SMTP_CMD_RCPT, cmd_rcpt, CF_TLS | CF_HELO },
	{ SMTP_CMD_DATA, cmd_data, CF_TLS | CF_HELO },
	{ SMTP_CMD_BDAT, cmd_bdat, 0 },		/* checks itself: must
						 * consume the chunk */
	{ SMTP_CMD_RSET, cmd_rset, 0 },
	{ SMTP_CMD_NOOP, cmd_noop, 0 },
	{ SMTP_CMD_QUIT, cmd_quit, 0 },
	{ SMTP_CMD_HELP, cmd_help, 0 },
	{ SMTP_CMD_VRFY, cmd_vrfy, 0 },
	{ SMTP_CMD_EXPN, cmd_expn, 0 },
	{ SMTP_CMD_STARTTLS, cmd_starttls, 0 },
	{ SMTP_CMD_AUTH, cmd_auth, CF_TLS | CF_HELO },
};

void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct strv args;
	enum smtp_cmd cmd = smtp_parse_verb(line, len, &args);

	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]);
	     i++) {
		if (cmd_table[i].cmd != cmd)
			continue;
		if ((cmd_table[i].flags & CF_TLS) && !s->is_tls) {
			smtp_reply_error(s, "530 5.7.0 Must issue a STARTTLS "
			    "command first");
			return;
		}
		if ((cmd_table[i].flags & CF_HELO) && !s->has_helo) {
			smtp_reply_error(s, "503 5.5.1 Error: send HELO/EHLO "
			    "first");
			return;
		}
		cmd_table[i].fn(s, args);
		return;
	}
	smtp_reply_error(s, "500 5.5.2 Error: command not recognized");
}

/* helo_arg - the client's name; 0 or a reply was sent. */
static int
helo_arg(struct smtp_session *s, struct strv args, const char *verb)
{
	while (args.len > 0 && args.p[args.len - 1] == ' ')
		args.len--;
	if (args.len == 0 || memchr(args.p, ' ', args.len) != NULL) {
		smtp_reply_error(s, "501 5.5.4 Syntax: %s hostname", verb);
		return ERR_PROTO;
	}
	if (str_copyn(s->helo, sizeof(s->helo), args.p, args.len) < 0) {
		smtp_reply_error(s, "501 5.5.4 Error: hostname too long");
		return ERR_LIMIT;
	}
	for (size_t i = 0; s->helo[i] != '\0'; i++)
		if ((unsigned char)s->helo[i] < 33 ||
		    (unsigned char)s->helo[i] > 126)
			s->helo[i] = '?';
	return 0;
}

static void
cmd_helo(struct smtp_session *s, struct strv args)
{
	if (helo_arg(s, args, "HELO") < 0)
		return;
	smtp_txn_reset(s);
	s->has_helo = true;
	s->is_ehlo = false;
	smtp_reply(s, "250 %s", s->cfg->hostname);
}

static void
cmd_ehlo(struct smtp_session *s, struct strv args)
{
	const char *ext[14];
	char size[48];
	size_t n = 0;

	if (helo_arg(s, args, "EHLO") < 0)
		return;
	smtp_txn_reset(s);
	s->has_helo = true;
	s->is_ehlo = true;
	snprintf(size, sizeof(size), "SIZE %llu",
	    (unsigned long long)s->cfg->smtp_max_message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "CHUNKING";
	ext[n++] = "DSN";
	if (!s->is_tls)
		ext[n++] = "STARTTLS";
	if (s->is_tls && !s->has_auth && s->kind != SMTP_LISTENER_RELAY)
		ext[n++] = "AUTH PLAIN LOGIN";
	ext[n++] = "HELP";
	smtp_reply(s, "250-%s", s->cfg->hostname);
	for (size_t i = 0; i < n; i++)
		smtp_reply(s, "250%c%s", i + 1 == n ? ' ' : '-', ext[i]);
}

/* owns_address - the authenticated account has this address. */
static bool
owns_address(const struct smtp_session *s, const char *addr)
{
	for (size_t i = 0; i < s->acct.n_addr; i++)
		if (strcasecmp(s->acct.addr[i], addr) == 0)
			return true;
	return false;
}

static void
cmd_mail(struct smtp_session *s, struct strv args)
{
	struct smtp_path p;
	const char *err;
	uint8_t ret = STORE_RET_NONE;
	char envid[STORE_ENVID_MAX] = "";
	int dr;

	if (s->kind == SMTP_LISTENER_RELAY) {
		if (!s->is_tls) {
			smtp_reply_error(s, "530 5.7.0 Must issue a STARTTLS "
			    "command first");
			return;
		}
		if (s->relay_domain[0] == '\0') {
			smtp_reply_error(s, "554 5.7.1 Relay access denied: %s",
			    s->relay_why[0] ? s->relay_why : "the client "
			    "certificate names no domain of the MSSante trust "
			    "space");
			return;
		}
	} else if (!s->has_auth) {
		smtp_reply_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (s->in_txn) {
		smtp_reply_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (smtp_parse_path(args, "FROM:", &p, &err) < 0) {
		smtp_reply_error(s, "501 %s", err);
		return;
	}
	bool smtputf8 = false, body8 = false;
	for (size_t i = 0; i < p.n_params; i++) {
		const struct smtp_param *pr = &p.params[i];
		if (smtp_param_is(pr, "SIZE") && pr->value.p != NULL) {
			char num[24];
			uint64_t sz;
			if (str_copyn(num, sizeof(num), pr->value.p,
			    pr->value.len) < 0 ||
			    str_to_u64(num, 0, UINT64_MAX, &sz) < 0) {
				smtp_reply_error(s, "501 5.5.4 Bad SIZE "
				    "parameter");
				return;
			}
			if (sz > s->cfg->smtp_max_message_size) {
				smtp_reply_error(s, "552 5.3.4 Message size "
				    "exceeds fixed limit");
				return;
			}
		} else if (smtp_param_is(pr, "BODY") && pr->value.p != NULL) {
			if (pr->value.len == 8 &&
			    strncasecmp(pr->value.p, "8BITMIME", 8) == 0)
				body8 = true;
			else if (!(pr->value.len == 4 &&
			    strncasecmp(pr->value.p, "7BIT", 4) == 0)) {
				smtp_reply_error(s, "501 5.5.4 Unsupported BODY "
				    "type");
				return;
			}
		} else if (smtp_param_is(pr, "SMTPUTF8") &&
		    pr->value.p == NULL) {
			smtputf8 = true;
		} else if (smtp_param_is(pr, "AUTH") && pr->value.p != NULL) {
			/* RFC 4954 section 5: accepted; we trust our own
			 * authentication, not the client's claim. */
		} else if ((dr = smtp_dsn_mail_param(s, pr, &ret, envid,
		    sizeof(envid))) != 0) {
			if (dr < 0)
				return;
		} else {
			smtp_reply_error(s, "555 5.5.4 Unsupported parameter "
			    "%.*s", (int)(pr->key.len > 32 ? 32 :
			    pr->key.len), pr->key.p);
			return;
		}
	}
	if (p.is_utf8 && !smtputf8) {
		smtp_reply_error(s, "553 5.6.7 Non-ASCII sender address "
		    "requires SMTPUTF8");
		return;
	}
	if (s->kind != SMTP_LISTENER_RELAY && !p.is_null &&
	    !owns_address(s, p.addr)) {
		struct logline ll;
		logl_begin(&ll, s->id, "smtp", "reject");
		logl_str(&ll, "from", p.addr);
		logl_str(&ll, "user", s->acct.login);
		logl_str(&ll, "reason", "sender not owned");
		logl_emit(&ll, LOG_NOTICE);
		smtp_reply_error(s, "553 5.7.1 <%s>: Sender address rejected: "
		    "not owned by user %s", p.addr, s->acct.login);
		return;
	}
	smtp_txn_reset(s);
	s->in_txn = true;
	s->null_sender = p.is_null;
	s->smtputf8 = smtputf8;
	s->body_8bit = body8;
	s->ret = ret;
	str_copy(s->envid, sizeof(s->envid), envid);
	str_copy(s->mail_from, sizeof(s->mail_from), p.addr);
	smtp_reply(s, "250 2.1.0 Ok");
}

/* rcpt_local - find the account of a local address; replies on refusal. */
static int
rcpt_local(struct smtp_session *s, const char *addr, uint32_t *id)
{
	struct store_rtxn *rt;
	struct store_account a;
	int r = store_read_begin(smtp_store(), &rt);
	if (r == 0) {
		r = store_account_find(rt, addr, &a);
		store_read_end(&rt);
	}
	if (r < 0) {
		log_warnx("%s smtp lookup failed error=\"%s\"", s->id,
		    err_str(r));
		smtp_reply_error(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    addr);
		return r;
	}
	if (r == 0) {
		smtp_reply_error(s, "550 5.1.1 <%s>: Recipient address "
		    "rejected: User unknown in local recipient table", addr);
		return ERR_NOTFOUND;
	}
	if (a.state != STORE_ACCOUNT_ACTIVE) {
		smtp_reply_error(s, "550 5.2.1 <%s>: Recipient address "
		    "rejected: mailbox disabled", addr);
		return ERR_PERM;
	}
	*id = a.id;
	return 0;
}

/* rcpt_route - a local account (*id set), another operator of the trust
 * space (*id 0), or refused with a reply (<0). */
static int
rcpt_route(struct smtp_session *s, const char *addr, uint32_t *id)
{
	const char *dom = smtp_addr_domain(addr);
	struct logline ll;

	if (config_is_local_domain(s->cfg, dom))
		return rcpt_local(s, addr, id);
	if (s->kind == SMTP_LISTENER_RELAY) {
		logl_begin(&ll, s->id, "smtp", "reject");
		logl_str(&ll, "to", addr);
		logl_str(&ll, "peer", s->relay_domain);
		logl_str(&ll, "reason", "relay denied");
		logl_emit(&ll, LOG_NOTICE);
		smtp_reply_error(s, "554 5.7.1 <%s>: Relay access denied: "
		    "other operators may send here only mail for this "
		    "gateway's domains", addr);
		return ERR_PERM;
	}
	char norm[STORE_HOST_MAX];
	const char *why;
	struct store_trust t;
	int r = 0;
	if (dom[0] != '[' && trust_domain_normalize(dom, norm, sizeof(norm),
	    &why) == 0) {
		struct store_rtxn *rt;
		r = store_read_begin(smtp_store(), &rt);
		if (r == 0) {
			r = store_trust_get(rt, norm, &t);
			if (r == 1 && s->cfg->smtp_recipient_directory) {
				int d = store_dir_has_address(rt, addr);
				r = d < 0 ? d : d == 1 ? 1 : 2;
			}
			store_read_end(&rt);
		}
	}
	if (r < 0) {
		log_warnx("%s smtp trust lookup failed error=\"%s\"", s->id,
		    err_str(r));
		smtp_reply_error(s, "451 4.3.0 <%s>: Temporary lookup failure",
		    addr);
		return r;
	}
	if (r == 0) {
		logl_begin(&ll, s->id, "smtp", "reject");
		logl_str(&ll, "to", addr);
		logl_str(&ll, "user", s->acct.login);
		logl_str(&ll, "reason", "not in trust space");
		logl_emit(&ll, LOG_NOTICE);
		smtp_reply_error(s, "550 5.7.1 <%s>: Recipient address "
		    "rejected: domain not in the MSSante trust space", addr);
		return ERR_PERM;
	}
	if (r == 2) {
		logl_begin(&ll, s->id, "smtp", "reject");
		logl_str(&ll, "to", addr);
		logl_str(&ll, "user", s->acct.login);
		logl_str(&ll, "reason", "not in directory");
		logl_emit(&ll, LOG_NOTICE);
		smtp_reply_error(s, "550 5.1.1 <%s>: Recipient address "
		    "rejected: not in the MSSante directory", addr);
		return ERR_PERM;
	}
	*id = 0;
	return 0;
}

static void
cmd_rcpt(struct smtp_session *s, struct strv args)
{
	struct smtp_path p;
	struct smtp_rcpt nr;
	const char *err;
	uint32_t id;

	memset(&nr, 0, sizeof(nr));
	if (!s->in_txn) {
		smtp_reply_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	/* RFC 5321 4.5.1: <Postmaster> without a domain must work. */
	if (args.len >= 14 && strncasecmp(args.p, "TO:", 3) == 0) {
		struct strv a = { args.p + 3, args.len - 3 };
		if (a.len > 0 && a.p[0] == ' ') {
			a.p++;
			a.len--;
		}
		if (a.len == 12 && strncasecmp(a.p, "<postmaster>", 12) == 0) {
			memset(&p, 0, sizeof(p));
			str_fmt(p.addr, sizeof(p.addr), "postmaster@%s",
			    s->cfg->local_domains.v[0]);
			goto check;
		}
	}
	if (smtp_parse_path(args, "TO:", &p, &err) < 0) {
		smtp_reply_error(s, "501 %s", err);
		return;
	}
	if (p.is_null) {
		smtp_reply_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	for (size_t i = 0; i < p.n_params; i++) {
		int dr = smtp_dsn_rcpt_param(s, &p.params[i], &nr);
		if (dr < 0)
			return;
		if (dr == 0) {
			smtp_reply_error(s, "555 5.5.4 Unsupported parameter "
			    "%.*s", (int)(p.params[i].key.len > 32 ? 32 :
			    p.params[i].key.len), p.params[i].key.p);
			return;
		}
	}
	if (p.is_utf8 && !s->smtputf8) {
		smtp_reply_error(s, "553 5.6.7 Non-ASCII recipient address "
		    "requires SMTPUTF8");
		return;
	}
check:
	if (s->n_rcpt >= s->cfg->smtp_max_recipients) {
		smtp_reply_error(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (rcpt_route(s, p.addr, &id) < 0)
		return;
	if (s->n_rcpt == s->cap_rcpt) {
		size_t cap = s->cap_rcpt ? s->cap_rcpt * 2 : 4;
		struct smtp_rcpt *n = realloc(s->rcpts, cap * sizeof(*n));
		if (n == NULL) {
			smtp_reply_error(s, "452 4.3.1 Insufficient system "
			    "resources");
			return;
		}
		s->rcpts = n;
		s->cap_rcpt = cap;
	}
	struct smtp_rcpt *rc = &s->rcpts[s->n_rcpt++];
	*rc = nr;
	str_copy(rc->addr, sizeof(rc->addr), p.addr);
	rc->account_id = id;
	smtp_reply(s, "250 2.1.5 Ok");
}

static void
start_message(struct smtp_session *s)
{
	str_rand_hex(s->qid, 8);
	clock_gettime(CLOCK_MONOTONIC, &s->t_data);
}

static void
cmd_data(struct smtp_session *s, struct strv args)
{
	if (args.len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_txn) {
		smtp_reply_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->n_rcpt == 0) {
		smtp_reply_error(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (s->bdat_used) {
		smtp_reply_error(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	start_message(s);
	buf_reset(&s->msg);
	smtp_data_init(&s->data);
	s->state = SMTP_STATE_DATA;
	smtp_set_timeout(s, true);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_bdat(struct smtp_session *s, struct strv args)
{
	uint64_t size;
	bool last;

	if (smtp_parse_bdat(args, &size, &last) < 0) {
		/* The chunk length is unknown: the stream cannot be
		 * resynchronized (RFC 3030 section 3). */
		smtp_reply(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]; "
		    "closing connection");
		smtp_close(s);
		return;
	}
	s->bdat_failed = false;
	if (!s->is_tls) {
		s->bdat_failed = true;
		s->bdat_fail_reply = "530 5.7.0 Must issue a STARTTLS command "
		    "first";
	} else if (!s->in_txn) {
		s->bdat_failed = true;
		s->bdat_fail_reply = "503 5.5.1 Error: need MAIL command";
	} else if (s->n_rcpt == 0) {
		s->bdat_failed = true;
		s->bdat_fail_reply = "554 5.5.1 Error: no valid recipients";
	} else if (size > s->cfg->smtp_max_message_size ||
	    buf_len(&s->msg) + size > s->cfg->smtp_max_message_size) {
		s->bdat_failed = true;
		s->bdat_fail_reply = "552 5.3.4 Message size exceeds fixed "
		    "limit";
	}
	if (!s->bdat_failed && !s->bdat_used) {
		s->bdat_used = true;
		start_message(s);
		buf_reset(&s->msg);
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->state = SMTP_STATE_BDAT;
	smtp_set_timeout(s, true);
}

static void
cmd_rset(struct smtp_session *s, struct strv args)
{
	if (args.len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	smtp_reply(s, "250 2.0.0 Ok");
	smtp_txn_reset(s);
}

static void
cmd_noop(struct smtp_session *s, struct strv args)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct smtp_session *s, struct strv args)
{
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_close(s);
}

static void
cmd_help(struct smtp_session *s, struct strv args)
{
	smtp_reply(s, "214-2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT "
	    "DATA BDAT");
	smtp_reply(s, "214 2.0.0 RSET NOOP VRFY HELP QUIT");
}

static void
cmd_vrfy(struct smtp_session *s, struct strv args)
{
	if (args.len == 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: never confirm or deny a mailbox to a stranger. */
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
cmd_expn(struct smtp_session *s, struct strv args)
{
	smtp_reply_error(s, "502 5.5.1 Error: EXPN not implemented");
}

static void
cmd_starttls(struct smtp_session *s, struct strv args)
{
	if (args.len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->is_tls) {
		smtp_reply_error(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	smtp_starttls(s);
}

static void
cmd_auth(struct smtp_session *s, struct strv args)
{
	if (!s->is_ehlo) {
		smtp_reply_error(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->kind == SMTP_LISTENER_RELAY) {
		smtp_reply_error(s, "503 5.5.1 Error: authentication not "
		    "enabled on the relay port (operators present a client "
		    "certificate)");
		return;
	}
	if (s->has_auth) {
		smtp_reply_error(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->in_txn) {
		smtp_reply_error(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	smtp_auth_start(s, args);
}
