/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_parse.c - SMTP command parsing: verbs, MAIL FROM / RCPT TO
 * paths with their ESMTP parameters (valid and invalid tables asserting
 * ERR_PROTO and the enhanced status code), address syntax and BDAT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "smtp/smtp_parse.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static struct strv
sv(const char *s)
{
	struct strv v = { s, strlen(s) };
	return v;
}

static bool
sv_eq(struct strv v, const char *s)
{
	return v.p != NULL && v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

/* ---- verbs ---- */

static void
test_verbs(void **state)
{
	static const struct {
		const char *line;
		enum smtp_cmd cmd;
		const char *args;
	} rows[] = {
		{ "HELO client.example", SMTP_CMD_HELO, "client.example" },
		{ "EHLO [192.0.2.1]", SMTP_CMD_EHLO, "[192.0.2.1]" },
		{ "MAIL FROM:<a@b>", SMTP_CMD_MAIL, "FROM:<a@b>" },
		{ "RCPT TO:<a@b> NOTIFY=NEVER", SMTP_CMD_RCPT,
		    "TO:<a@b> NOTIFY=NEVER" },
		{ "DATA", SMTP_CMD_DATA, "" },
		{ "BDAT 100 LAST", SMTP_CMD_BDAT, "100 LAST" },
		{ "RSET", SMTP_CMD_RSET, "" },
		{ "NOOP", SMTP_CMD_NOOP, "" },
		{ "NOOP anything at all", SMTP_CMD_NOOP, "anything at all" },
		{ "QUIT", SMTP_CMD_QUIT, "" },
		{ "HELP", SMTP_CMD_HELP, "" },
		{ "HELP MAIL", SMTP_CMD_HELP, "MAIL" },
		{ "VRFY postmaster", SMTP_CMD_VRFY, "postmaster" },
		{ "EXPN list", SMTP_CMD_EXPN, "list" },
		{ "STARTTLS", SMTP_CMD_STARTTLS, "" },
		{ "AUTH PLAIN AGFAAGI=", SMTP_CMD_AUTH, "PLAIN AGFAAGI=" },
		/* case-insensitive */
		{ "helo x", SMTP_CMD_HELO, "x" },
		{ "eHlO x", SMTP_CMD_EHLO, "x" },
		{ "mail from:<>", SMTP_CMD_MAIL, "from:<>" },
		{ "Rcpt To:<a@b>", SMTP_CMD_RCPT, "To:<a@b>" },
		{ "data", SMTP_CMD_DATA, "" },
		{ "bdat 1", SMTP_CMD_BDAT, "1" },
		{ "rset", SMTP_CMD_RSET, "" },
		{ "nOoP", SMTP_CMD_NOOP, "" },
		{ "quit", SMTP_CMD_QUIT, "" },
		{ "help", SMTP_CMD_HELP, "" },
		{ "vrfy x", SMTP_CMD_VRFY, "x" },
		{ "expn x", SMTP_CMD_EXPN, "x" },
		{ "StartTls", SMTP_CMD_STARTTLS, "" },
		{ "auth login", SMTP_CMD_AUTH, "login" },
		/* one space is eaten, the rest is the arguments' */
		{ "NOOP  x", SMTP_CMD_NOOP, " x" },
		{ "DATA ", SMTP_CMD_DATA, "" },
		/* unknown */
		{ "", SMTP_CMD_UNKNOWN, "" },
		{ " HELO x", SMTP_CMD_UNKNOWN, "HELO x" },
		{ "EHL x", SMTP_CMD_UNKNOWN, "x" },
		{ "EHLOx", SMTP_CMD_UNKNOWN, "" },
		{ "HELLO x", SMTP_CMD_UNKNOWN, "x" },
		{ "STARTTLSX", SMTP_CMD_UNKNOWN, "" },
		{ "DATA\t", SMTP_CMD_UNKNOWN, "" },
		{ "MAIL:FROM:<a@b>", SMTP_CMD_UNKNOWN, "" },
		{ "GET / HTTP/1.1", SMTP_CMD_UNKNOWN, "/ HTTP/1.1" },
		{ "XCLIENT ADDR=1", SMTP_CMD_UNKNOWN, "ADDR=1" },
		{ "QUI\xc3\x89", SMTP_CMD_UNKNOWN, "" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct strv args = { NULL, 99 };
		size_t len = strlen(rows[i].line);
		enum smtp_cmd c = smtp_parse_verb(rows[i].line, len, &args);
		if (c != rows[i].cmd)
			fail_msg("row %zu \"%s\": got %d want %d", i,
			    rows[i].line, c, rows[i].cmd);
		if (args.len != strlen(rows[i].args) ||
		    memcmp(args.p, rows[i].args, args.len) != 0)
			fail_msg("row %zu \"%s\": args [%.*s] want [%s]", i,
			    rows[i].line, (int)args.len, args.p,
			    rows[i].args);
		/* args always points inside the line (or at its end). */
		assert_true(args.p >= rows[i].line &&
		    args.p + args.len <= rows[i].line + len);
	}

	/* The length bounds the line: no NUL needed. */
	struct strv args;
	assert_int_equal(smtp_parse_verb("QUITTING", 4, &args),
	    SMTP_CMD_QUIT);
	assert_int_equal(args.len, 0);
	assert_int_equal(smtp_parse_verb("RSET", 3, &args), SMTP_CMD_UNKNOWN);
}

/* ---- paths ---- */

#define MAXP 17

struct path_ok {
	const char *args;
	const char *prefix;
	const char *addr;
	bool is_null;
	bool is_utf8;
	size_t n_params;
	/* "KEY" or "KEY=VALUE" for each parameter */
	const char *params[4];
};

static void
check_params(size_t row, const struct smtp_path *p, const char *const *want,
	     size_t n)
{
	for (size_t k = 0; k < n && k < 4 && want[k] != NULL; k++) {
		const char *eq = strchr(want[k], '=');
		size_t klen = eq ? (size_t)(eq - want[k]) : strlen(want[k]);
		const struct smtp_param *pr = &p->params[k];
		if (pr->key.len != klen ||
		    memcmp(pr->key.p, want[k], klen) != 0)
			fail_msg("row %zu param %zu: key [%.*s] want [%s]",
			    row, k, (int)pr->key.len, pr->key.p, want[k]);
		if (eq == NULL) {
			assert_null(pr->value.p);
			assert_int_equal(pr->value.len, 0);
		} else if (!sv_eq(pr->value, eq + 1)) {
			fail_msg("row %zu param %zu: value [%.*s] want [%s]",
			    row, k, (int)pr->value.len,
			    pr->value.p ? pr->value.p : "", eq + 1);
		}
	}
}

static const struct path_ok path_ok_rows[] = {
	{ "FROM:<>", "FROM:", "", true, false, 0, { NULL } },
	{ "from:<>", "FROM:", "", true, false, 0, { NULL } },
	{ "FROM: <>", "FROM:", "", true, false, 0, { NULL } },
	{ "FROM:<> SIZE=100 BODY=8BITMIME", "FROM:", "", true, false, 2,
	    { "SIZE=100", "BODY=8BITMIME" } },
	{ "TO:<>", "TO:", "", true, false, 0, { NULL } },
	{ "FROM:<a@b>", "FROM:", "a@b", false, false, 0, { NULL } },
	{ "FROM:<User.Name@Example.COM>", "FROM:", "User.Name@Example.COM",
	    false, false, 0, { NULL } },
	{ "FROM: <a@b.c>", "FROM:", "a@b.c", false, false, 0, { NULL } },
	{ "To:<postmaster@example.org>", "TO:", "postmaster@example.org",
	    false, false, 0, { NULL } },
	{ "TO:<a.b+tag@sub-domain.example-1.fr>", "TO:",
	    "a.b+tag@sub-domain.example-1.fr", false, false, 0, { NULL } },
	{ "TO:<!#$%&'*+-/=?^_`{|}~@x.y>", "TO:", "!#$%&'*+-/=?^_`{|}~@x.y",
	    false, false, 0, { NULL } },
	{ "TO:<a@123.example>", "TO:", "a@123.example", false, false, 0,
	    { NULL } },
	/* source routes are accepted and dropped */
	{ "TO:<@relay1.example,@relay2.example:joe@d.example>", "TO:",
	    "joe@d.example", false, false, 0, { NULL } },
	{ "FROM:<@r.example:a@b> SIZE=1", "FROM:", "a@b", false, false, 1,
	    { "SIZE=1" } },
	/* quoted local parts */
	{ "TO:<\"john smith\"@example.com>", "TO:",
	    "\"john smith\"@example.com", false, false, 0, { NULL } },
	{ "TO:<\"a@b\"@example.com>", "TO:", "\"a@b\"@example.com", false,
	    false, 0, { NULL } },
	{ "TO:<\"a\\\"b\"@example.com>", "TO:", "\"a\\\"b\"@example.com",
	    false, false, 0, { NULL } },
	{ "TO:<\"a>b\"@example.com>", "TO:", "\"a>b\"@example.com", false,
	    false, 0, { NULL } },
	{ "TO:<\"a\\\\\"@example.com> X=1", "TO:", "\"a\\\\\"@example.com",
	    false, false, 1, { "X=1" } },
	{ "TO:<\"\"@example.com>", "TO:", "\"\"@example.com", false, false,
	    0, { NULL } },
	/* address literals */
	{ "TO:<postmaster@[192.0.2.1]>", "TO:", "postmaster@[192.0.2.1]",
	    false, false, 0, { NULL } },
	{ "TO:<x@[IPv6:2001:db8::1]>", "TO:", "x@[IPv6:2001:db8::1]", false,
	    false, 0, { NULL } },
	/* UTF-8 (RFC 6531) */
	{ "TO:<j\xc3\xb6" "e@ex\xc3\xa4mple.fr>", "TO:",
	    "j\xc3\xb6" "e@ex\xc3\xa4mple.fr", false, true, 0, { NULL } },
	{ "FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85"
	    "\xac\xe5\x8f\xb8> SMTPUTF8", "FROM:",
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac"
	    "\xe5\x8f\xb8", false, true, 1, { "SMTPUTF8" } },
	{ "TO:<a@b.c> ORCPT=rfc822;j\xc3\xb6" "e@x", "TO:", "a@b.c", false,
	    false, 1, { "ORCPT=rfc822;j\xc3\xb6" "e@x" } },
	/* parameters */
	{ "FROM:<a@b> SMTPUTF8", "FROM:", "a@b", false, false, 1,
	    { "SMTPUTF8" } },
	{ "FROM:<a@b>  SIZE=1   RET=HDRS ", "FROM:", "a@b", false, false, 2,
	    { "SIZE=1", "RET=HDRS" } },
	{ "FROM:<a@b> X-FOO=bar ENVID=QQ314159 AUTH=<>", "FROM:", "a@b",
	    false, false, 3, { "X-FOO=bar", "ENVID=QQ314159", "AUTH=<>" } },
	{ "FROM:<a@b> A- 9=~", "FROM:", "a@b", false, false, 2,
	    { "A-", "9=~" } },
	{ "FROM:<a@b> ", "FROM:", "a@b", false, false, 0, { NULL } },
	{ "FROM:<a@b> P1 P2 P3 P4 P5 P6 P7 P8 P9 P10 P11 P12 P13 P14 P15 "
	    "P16", "FROM:", "a@b", false, false, 16, { "P1", "P2", "P3" } },
};

static void
test_path_valid(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(path_ok_rows); i++) {
		const struct path_ok *row = &path_ok_rows[i];
		struct smtp_path p;
		const char *error = NULL;
		memset(&p, 0xa5, sizeof(p));
		int r = smtp_parse_path(sv(row->args), row->prefix, &p,
		    &error);
		if (r != 0)
			fail_msg("row %zu [%s]: got %d (%s)", i, row->args, r,
			    error ? error : "");
		if (strcmp(p.addr, row->addr) != 0)
			fail_msg("row %zu: addr [%s] want [%s]", i, p.addr,
			    row->addr);
		assert_int_equal(p.is_null, row->is_null);
		assert_int_equal(p.is_utf8, row->is_utf8);
		if (p.n_params != row->n_params)
			fail_msg("row %zu: %zu params, want %zu", i,
			    p.n_params, row->n_params);
		check_params(i, &p, row->params, row->n_params);
	}
}

/* The longest allowed address: 64-octet local part, 254 octets in all
 * (RFC 5321 4.5.3.1.1 and 4.5.3.1.3: a path is at most 256 octets with
 * its angle brackets). */
static void
make_addr(char *out, size_t local, size_t total)
{
	size_t o = 0;
	for (size_t i = 0; i < local; i++)
		out[o++] = 'l';
	out[o++] = '@';
	/* labels of up to 63 octets joined by dots */
	size_t label = 0;
	while (o < total) {
		if (label == 63 || (o + 1 < total && label > 0 &&
		    label % 50 == 0)) {
			out[o++] = '.';
			label = 0;
			continue;
		}
		out[o++] = 'd';
		label++;
	}
	out[o] = '\0';
}

static void
test_path_lengths(void **state)
{
	char addr[400], args[420];
	struct smtp_path p;
	const char *error;

	/* A local part of 64 and a label of 63 are fine. */
	make_addr(addr, 64, 100);
	snprintf(args, sizeof(args), "TO:<%s>", addr);
	assert_int_equal(smtp_parse_path(sv(args), "TO:", &p, &error), 0);
	assert_string_equal(p.addr, addr);
	snprintf(args, sizeof(args), "TO:<a@%.63s.fr>",
	    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	    "ddd");
	assert_int_equal(smtp_parse_path(sv(args), "TO:", &p, &error), 0);

	/* 253 octets: accepted. */
	make_addr(addr, 64, 253);
	assert_int_equal(strlen(addr), 253);
	snprintf(args, sizeof(args), "TO:<%s>", addr);
	assert_int_equal(smtp_parse_path(sv(args), "TO:", &p, &error), 0);
	assert_string_equal(p.addr, addr);

	/* 255 and more: refused as too long. */
	for (size_t total = 255; total < 300; total += 44) {
		make_addr(addr, 64, total);
		snprintf(args, sizeof(args), "TO:<%s>", addr);
		error = NULL;
		assert_int_equal(smtp_parse_path(sv(args), "TO:", &p, &error),
		    ERR_PROTO);
		assert_non_null(error);
		assert_memory_equal(error, "5.1.3 ", 6);
		assert_int_equal(smtp_addr_check(addr, total, false, &error),
		    ERR_PROTO);
	}
}

/* 254 octets is the RFC 5321 maximum for a mailbox and must be accepted. */
static void
test_path_max_length(void **state)
{
	char addr[400], args[420];
	struct smtp_path p;
	const char *error = "";

	make_addr(addr, 64, 254);
	assert_int_equal(strlen(addr), 254);
	snprintf(args, sizeof(args), "TO:<%s>", addr);
	assert_int_equal(strlen(args), 3 + 256);
	if (smtp_parse_path(sv(args), "TO:", &p, &error) != 0)
		fail_msg("254-octet address refused: %s", error);
	assert_string_equal(p.addr, addr);
	assert_int_equal(smtp_addr_check(addr, 254, false, &error), 0);
}

struct path_bad {
	const char *args;
	size_t len;		/* 0: strlen */
	const char *prefix;
	const char *status;	/* leading enhanced status code */
};

static const struct path_bad path_bad_rows[] = {
	/* prefix and brackets */
	{ "FROM:a@b", 0, "FROM:", "5.5.4" },
	{ "FROM:", 0, "FROM:", "5.5.4" },
	{ "FROM", 0, "FROM:", "5.5.4" },
	{ "", 0, "FROM:", "5.5.4" },
	{ "", 0, "TO:", "5.5.4" },
	{ "TO:<a@b>", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b>", 0, "TO:", "5.5.4" },
	{ "FROM <a@b>", 0, "FROM:", "5.5.4" },
	{ "FROM:  <a@b>", 0, "FROM:", "5.5.4" },
	{ "FROM:\t<a@b>", 0, "FROM:", "5.5.4" },
	{ "FROM: a@b", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b", 0, "FROM:", "5.5.4" },
	{ "FROM:<", 0, "FROM:", "5.5.4" },
	{ "FROM:<\"a@b>", 0, "FROM:", "5.5.4" },
	{ "FROM:<\"a>\"", 0, "FROM:", "5.5.4" },
	{ "FROM:<@a.example>", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b>x", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b><c@d>", 0, "FROM:", "5.5.4" },
	/* domains */
	{ "FROM:<a@>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@-b.c>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b-.c>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b.c->", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b..c>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@.b>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b.>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@.>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b_c.d>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b c.d>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b\x01.d>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@b\0c>", 12, "FROM:", "5.1.2" },
	{ "FROM:<a@[1.2.3.4>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@[]>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@[>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@[1.2 .3.4]>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@[1[2]>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@[1\\2]>", 0, "FROM:", "5.1.2" },
	{ "FROM:<a@dddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	    "dddddddd.fr>", 0, "FROM:", "5.1.2" },		/* label 64 */
	/* local parts */
	{ "FROM:<a>", 0, "FROM:", "5.1.3" },
	{ "FROM:<@>", 0, "FROM:", "5.5.4" },
	{ "FROM:<\"a\"b@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<.a@b>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a.@b>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a..b@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a b@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a(b)@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a,b@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a\\b@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a\x01@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a\x7f@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<a@b@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<\"a\x01\"@c>", 0, "FROM:", "5.1.3" },
	{ "FROM:<\"a\\\"@c>", 0, "FROM:", "5.5.4" },
	{ "FROM:<llllllllllllllllllllllllllllllllllllllllllllllllllllllll"
	    "lllllllll@b.c>", 0, "FROM:", "5.1.3" },	/* local 65 */
	/* UTF-8 */
	{ "FROM:<\xff@b.c>", 0, "FROM:", "5.6.7" },
	{ "FROM:<a@b\xc3>", 0, "FROM:", "5.6.7" },
	{ "FROM:<\xc0\xae@b.c>", 0, "FROM:", "5.6.7" },
	{ "FROM:<\xed\xa0\x80@b.c>", 0, "FROM:", "5.6.7" },
	/* parameters */
	{ "FROM:<a@b> =1", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> -X=1", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> S_Z=1", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> S.Z", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> SIZE=", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> SIZE= X", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> SIZE=1=2", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> SIZE=1\x01", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> SIZE=1\x7f", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> SIZE=1\t", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b>\tSIZE=1", 0, "FROM:", "5.5.4" },
	{ "FROM:<a@b> P1 P2 P3 P4 P5 P6 P7 P8 P9 P10 P11 P12 P13 P14 P15 "
	    "P16 P17", 0, "FROM:", "5.5.4" },
};

static void
check_path_bad(size_t i, const struct path_bad *row)
{
	struct smtp_path p;
	const char *error = NULL;
	struct strv a = { row->args, row->len ? row->len : strlen(row->args) };
	int r = smtp_parse_path(a, row->prefix, &p, &error);
	if (r != ERR_PROTO)
		fail_msg("row %zu [%s]: got %d, want ERR_PROTO", i, row->args,
		    r);
	if (error == NULL)
		fail_msg("row %zu [%s]: no error text", i, row->args);
	size_t n = strlen(row->status);
	if (strncmp(error, row->status, n) != 0 || error[n] != ' ')
		fail_msg("row %zu [%s]: error \"%s\", want %s", i, row->args,
		    error, row->status);
}

static void
test_path_invalid(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(path_bad_rows); i++)
		check_path_bad(i, &path_bad_rows[i]);
}

/* An esmtp-keyword is ALPHA / DIGIT / "-" (RFC 5321 4.1.2): 8-bit
 * octets are not keywords, even under SMTPUTF8 (RFC 6531 3.3 extends
 * only values). */
static void
test_param_keyword_8bit(void **state)
{
	static const struct path_bad rows[] = {
		{ "FROM:<a@b> SIZ\xc3\x89=1", 0, "FROM:", "5.5.4" },
		{ "FROM:<a@b> \xc3\xa9", 0, "FROM:", "5.5.4" },
	};
	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		check_path_bad(i, &rows[i]);
}

/* ---- smtp_addr_check ---- */

static void
test_addr_check(void **state)
{
	static const struct {
		const char *addr;
		bool utf8;
		int ret;
		const char *status;
	} rows[] = {
		{ "a@b", false, 0, NULL },
		{ "a@b", true, 0, NULL },
		{ "first.last@sub.example.fr", false, 0, NULL },
		{ "\"q u o\"@x.y", false, 0, NULL },
		{ "x@[192.0.2.1]", false, 0, NULL },
		{ "j\xc3\xb6" "e@example.fr", true, 0, NULL },
		{ "joe@ex\xc3\xa4mple.fr", true, 0, NULL },
		{ "\xf0\x9f\x98\x80@x.y", true, 0, NULL },
		{ "j\xc3\xb6" "e@example.fr", false, ERR_PROTO, "5.6.7" },
		{ "joe@ex\xc3\xa4mple.fr", false, ERR_PROTO, "5.6.7" },
		{ "\xff@x.y", true, ERR_PROTO, "5.6.7" },
		{ "\xff@x.y", false, ERR_PROTO, "5.6.7" },
		{ "a@b\xc3", true, ERR_PROTO, "5.6.7" },
		{ "\xc0\xaf@x.y", true, ERR_PROTO, "5.6.7" },
		{ "\xed\xa0\x80@x.y", true, ERR_PROTO, "5.6.7" },
		{ "\xf4\x90\x80\x80@x.y", true, ERR_PROTO, "5.6.7" },
		{ "", false, ERR_PROTO, "5.1.3" },
		{ "ab", false, ERR_PROTO, "5.1.3" },
		{ "@b", false, ERR_PROTO, "5.1.3" },
		{ "a@b@c", false, ERR_PROTO, "5.1.3" },
		{ "a@", false, ERR_PROTO, "5.1.2" },
		{ "a@-", false, ERR_PROTO, "5.1.2" },
		{ "\"a@b\"", false, ERR_PROTO, "5.1.3" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *error = NULL;
		int r = smtp_addr_check(rows[i].addr, strlen(rows[i].addr),
		    rows[i].utf8, &error);
		if (r != rows[i].ret)
			fail_msg("row %zu [%s] utf8=%d: got %d (%s)", i,
			    rows[i].addr, rows[i].utf8, r,
			    error ? error : "");
		if (r == 0)
			continue;
		assert_non_null(error);
		if (strncmp(error, rows[i].status, 5) != 0)
			fail_msg("row %zu [%s]: error \"%s\" want %s", i,
			    rows[i].addr, error, rows[i].status);
	}

	/* The two UTF-8 refusals say different things. */
	const char *e1, *e2;
	assert_int_equal(smtp_addr_check("\xc3\xa9@x.y", 5, false, &e1),
	    ERR_PROTO);
	assert_int_equal(smtp_addr_check("\xc3@x.y", 4, true, &e2),
	    ERR_PROTO);
	assert_string_not_equal(e1, e2);
	assert_non_null(strstr(e1, "SMTPUTF8"));

	/* The length bounds the address. */
	const char *e;
	assert_int_equal(smtp_addr_check("a@b.c junk", 5, false, &e), 0);
	assert_int_equal(smtp_addr_check("a@b.c", 3, false, &e), 0);
	assert_int_equal(smtp_addr_check("a@b.c", 2, false, &e), ERR_PROTO);
}

static void
test_addr_helpers(void **state)
{
	assert_string_equal(smtp_addr_domain("a@b.example"), "b.example");
	assert_string_equal(smtp_addr_domain("\"x@y\"@z.example"),
	    "z.example");
	assert_string_equal(smtp_addr_domain("nodomain"), "");
	assert_string_equal(smtp_addr_domain(""), "");

	struct smtp_param p = { { "SIZE=1", 4 }, { "1", 1 } };
	assert_true(smtp_param_is(&p, "SIZE"));
	assert_true(smtp_param_is(&p, "size"));
	assert_false(smtp_param_is(&p, "SIZ"));
	assert_false(smtp_param_is(&p, "SIZES"));
	assert_false(smtp_param_is(&p, "BODY"));
}

/* ---- BDAT ---- */

static void
test_bdat(void **state)
{
	static const struct {
		const char *args;
		int ret;
		uint64_t size;
		bool last;
	} rows[] = {
		{ "0", 0, 0, false },
		{ "100", 0, 100, false },
		{ "0 LAST", 0, 0, true },
		{ "100 LAST", 0, 100, true },
		{ "100 last", 0, 100, true },
		{ "100 LaSt", 0, 100, true },
		{ "100   LAST", 0, 100, true },
		{ "007", 0, 7, false },
		{ "999999999999999999", 0, 999999999999999999ULL, false },
		{ "999999999999999999 LAST", 0, 999999999999999999ULL, true },
		/* invalid */
		{ "", ERR_PROTO, 0, false },
		{ " ", ERR_PROTO, 0, false },
		{ "LAST", ERR_PROTO, 0, false },
		{ " 100", ERR_PROTO, 0, false },
		{ "-1", ERR_PROTO, 0, false },
		{ "+1", ERR_PROTO, 0, false },
		{ "1000000000000000000", ERR_PROTO, 0, false },
		{ "9999999999999999999", ERR_PROTO, 0, false },
		{ "0000000000000000001", ERR_PROTO, 0, false },
		{ "99999999999999999999999", ERR_PROTO, 0, false },
		{ "100 ", ERR_PROTO, 0, false },
		{ "100 LAST ", ERR_PROTO, 0, false },
		{ "100LAST", ERR_PROTO, 0, false },
		{ "100 LASTX", ERR_PROTO, 0, false },
		{ "100 LAS", ERR_PROTO, 0, false },
		{ "100 FIRST", ERR_PROTO, 0, false },
		{ "100 LAST LAST", ERR_PROTO, 0, false },
		{ "100\tLAST", ERR_PROTO, 0, false },
		{ "0x10", ERR_PROTO, 0, false },
		{ "1e3", ERR_PROTO, 0, false },
		{ "12a", ERR_PROTO, 0, false },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		uint64_t size = 12345;
		bool last = !rows[i].last;
		int r = smtp_parse_bdat(sv(rows[i].args), &size, &last);
		if (r != rows[i].ret)
			fail_msg("row %zu [%s]: got %d want %d", i,
			    rows[i].args, r, rows[i].ret);
		if (r != 0) {
			assert_int_equal(size, 12345);
			continue;
		}
		assert_int_equal(size, rows[i].size);
		assert_int_equal(last, rows[i].last);
	}
	/* Through smtp_parse_verb, as the session does. */
	struct strv args;
	uint64_t size;
	bool last;
	const char *line = "BDAT 4096 LAST";
	assert_int_equal(smtp_parse_verb(line, strlen(line), &args),
	    SMTP_CMD_BDAT);
	assert_int_equal(smtp_parse_bdat(args, &size, &last), 0);
	assert_int_equal(size, 4096);
	assert_true(last);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test(test_path_lengths),
		cmocka_unit_test(test_path_max_length),
		cmocka_unit_test(test_path_invalid),
		cmocka_unit_test(test_param_keyword_8bit),
		cmocka_unit_test(test_addr_check),
		cmocka_unit_test(test_addr_helpers),
		cmocka_unit_test(test_bdat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
