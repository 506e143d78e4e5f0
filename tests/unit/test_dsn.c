/* SPDX-License-Identifier: MIT */
/*
 * test_dsn.c - delivery status notifications (queue/dsn.h): golden files
 * for the cases of the table below (tests/fixtures/dsn/NAME.eml, the
 * exact bytes; MSSGATE_DSN_REGEN=1 rewrites them, then review the diff
 * before committing); each output read back with our own MIME parser
 * (multipart/report, its three parts and their types, the
 * delivery-status fields, the returned message byte for byte, CRLF and
 * 998-octet lines); refused reports (ERR_INVAL, output untouched), the
 * output bound (ERR_LIMIT), a boundary planted in the message; and the
 * xtext of RFC 3461 both ways, with its invalid inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "mime/mime_struct.h"
#include "queue/dsn.h"

/* REPORT() gives defaults that the rows override, on purpose. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_MAX_LEN 4096
#define FILE_MAX (4 * 1024 * 1024)
#define OUT_MAX (1024 * 1024)

#define NOW INT64_C(1795341600)		/* Sun, 22 Nov 2026 10:00:00 +0000 */
#define ARRIVAL INT64_C(1795336200)	/* 08:30 the same day */
#define DAY INT64_C(86400)

/* ---- files ---- */

/* srcdir - the source root: $MSSGATE_SRCDIR (set by tests/run-tests),
 * else the build's MSSGATE_SRCDIR, else derived from __FILE__. */
static const char *
srcdir(void)
{
	const char *env = getenv("MSSGATE_SRCDIR");

	if (env != NULL && *env != '\0')
		return env;
#ifdef MSSGATE_SRCDIR
	return MSSGATE_SRCDIR;
#else
	static char dir[PATH_MAX_LEN];
	const char *suffix = "tests/unit/test_dsn.c";
	size_t n = strlen(__FILE__), sl = strlen(suffix);
	if (n < sl || n - sl >= sizeof(dir))
		return ".";
	memcpy(dir, __FILE__, n - sl);
	dir[n - sl] = '\0';
	return dir[0] != '\0' ? dir : ".";
#endif
}

static void
fixture_path(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/tests/fixtures/dsn/%s.eml",
	    srcdir(), name);
	assert_true(n > 0 && n < PATH_MAX_LEN);
}

/* read_file - the whole file in a malloc'd buffer of exactly its size
 * (plus a NUL not part of it); NULL if it does not exist. */
static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *tmp = malloc(FILE_MAX);
	assert_non_null(tmp);
	size_t n = fread(tmp, 1, FILE_MAX, f);
	assert_int_equal(ferror(f), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(n < FILE_MAX);
	char *p = malloc(n + 1);
	assert_non_null(p);
	memcpy(p, tmp, n);
	p[n] = '\0';
	free(tmp);
	*len_r = n;
	return p;
}

static void
write_file(const char *path, const char *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool
regen(void)
{
	const char *e = getenv("MSSGATE_DSN_REGEN");
	return e != NULL && strcmp(e, "1") == 0;
}

/* ---- original messages ---- */

#define ORIG_HDR \
	"Return-Path: <dr.bernard@mssante.test>\r\n" \
	"From: Dr Claire Bernard <dr.bernard@mssante.test>\r\n" \
	"To: Pr Martin <pr.martin@hopital.test>\r\n" \
	"Subject: Compte rendu de consultation\r\n" \
	"Date: Sun, 22 Nov 2026 09:29:58 +0100\r\n" \
	"Message-ID: <cr-4711@mssante.test>\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: text/plain; charset=us-ascii\r\n"
#define ORIG_BODY \
	"Bonjour,\r\n" \
	"\r\n" \
	"Veuillez trouver le compte rendu ci-dessous.\r\n" \
	"-- \r\n" \
	"Dr Bernard\r\n"

static const char orig_plain[] = ORIG_HDR "\r\n" ORIG_BODY;

/* RFC 6532 header, 8-bit body: the returned part says 8bit. */
static const char orig_utf8[] =
	"From: Zoé Lefèvre <zoé.lefèvre@clinique-été.test>\r\n"
	"To: <jérôme.dupré@hôpital.test>\r\n"
	"Subject: Résultats d'analyse\r\n"
	"Date: Sun, 22 Nov 2026 09:00:00 +0100\r\n"
	"Message-ID: <res-1@clinique-été.test>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Bonjour, les résultats sont normaux.\r\n";

/* A message that came through another path: bare LF, bare CR, a line
 * of 1500 octets, no final line end. */
static char orig_broken[2048];

static void
make_orig_broken(void)
{
	static const char head[] = "From: <robot@labo.test>\n"
		"Subject: export\r\n"
		"\n"
		"line one\rline two\n";
	size_t n = sizeof(head) - 1;

	memcpy(orig_broken, head, n);
	for (size_t i = 0; i < 1500; i++)
		orig_broken[n++] = (char)('a' + i % 26);
	memcpy(orig_broken + n, "\nlast", 5);
	orig_broken[n + 5] = '\0';
}

/* The message of the boundary test carries its own DSN-like delimiter
 * lines and our boundary prefix. */
static const char orig_tricky[] = ORIG_HDR "\r\n"
	"--=_mssgate-dsn-\r\n"
	"Content-Type: message/delivery-status\r\n"
	"\r\n"
	"Action: delivered\r\n";

/* ---- the cases ---- */

static const char long_diag[] =
	"550-5.7.1 Message refused by policy.\r\n"
	"550-5.7.1 X-Injected: yes\r\n"
	"\r\n"
	"--=_mssgate-dsn-0000000000000000\r\n"
	"Content-Type: text/html\r\n"
	"550 5.7.1 \x01\x1b[31mred\x7f \xc3\xa9t\xc3\xa9 tab\there "
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	" and then a long explanation, word after word, so that the field "
	"has to be folded several times before it ends, which is what the "
	"remote server chose to send back to us in its final reply line "
	"when the message was refused after the end of data.\r\n";

static const struct dsn_rcpt rc_failed_full[] = {
	{ .final = "pr.martin@hopital.test", .action = DSN_FAILED,
	  .status = "5.1.1", .remote_mta = "mx1.hopital.test",
	  .diag = "550 5.1.1 <pr.martin@hopital.test>: Recipient address "
	      "rejected: User unknown in virtual mailbox table",
	  .last_attempt = NOW - 60 },
};

static const struct dsn_rcpt rc_failed_orcpt[] = {
	{ .final = "secretariat.cardio@clinique.test",
	  .orcpt = "rfc822;Secretariat+Cardio@Clinique.test",
	  .action = DSN_FAILED, .status = "5.2.2",
	  .remote_mta = "mx.clinique.test",
	  .diag = "552-5.2.2 Mailbox full\r\n552 5.2.2 Try again later",
	  .last_attempt = NOW - 120 },
	{ .final = "dr.durand@clinique.test",
	  .orcpt = "rfc822;dr.durand=cabinet@clinique.test",
	  .action = DSN_FAILED, .status = "5.4.4",
	  .diag = "no MX or A record for clinique.test",
	  .last_attempt = NOW - 120 },
};

static const struct dsn_rcpt rc_delayed[] = {
	{ .final = "pr.martin@hopital.test", .action = DSN_DELAYED,
	  .status = "4.4.1", .remote_mta = "mx1.hopital.test",
	  .diag = "421 4.4.1 Connection timed out",
	  .last_attempt = NOW - 300, .will_retry_until = ARRIVAL + 5 * DAY },
};

static const struct dsn_rcpt rc_delivered[] = {
	{ .final = "pr.martin@hopital.test",
	  .orcpt = "rfc822;pr.martin@hopital.test",
	  .action = DSN_DELIVERED, .status = "2.0.0",
	  .remote_mta = "mx1.hopital.test",
	  .diag = "250 2.0.0 Ok: queued as 4F2A1C0B3",
	  .last_attempt = NOW - 5,
	  .will_retry_until = NOW + DAY /* ignored: not delayed */ },
};

static const struct dsn_rcpt rc_relayed[] = {
	{ .final = "accueil@ehpad.test", .action = DSN_RELAYED,
	  .status = "2.0.0", .remote_mta = "relay.ehpad.test",
	  .diag = "250 OK", .last_attempt = NOW - 5 },
	{ .final = "direction@ehpad.test", .action = DSN_DELIVERED,
	  .status = "2.0.0", .remote_mta = "relay.ehpad.test",
	  .diag = "250 2.0.0 OK", .last_attempt = NOW - 5 },
};

/* A reply longer than what is kept: cut, with "..." (filled at run
 * time by setup_cases). */
static char many_words[3000];

static const struct dsn_rcpt rc_injection[] = {
	{ .final = "pr.martin@hopital.test", .action = DSN_FAILED,
	  .status = "5.7.1",
	  .remote_mta = "mx.evil.test\r\nX-Injected: yes\r\n\r\n--x",
	  .diag = long_diag, .last_attempt = NOW - 60 },
	{ .final = "secretariat@hopital.test", .action = DSN_FAILED,
	  .status = "5.0.0", .remote_mta = "mx.evil.test",
	  .diag = many_words, .last_attempt = NOW - 60 },
};

static const struct dsn_rcpt rc_utf8[] = {
	{ .final = "jérôme.dupré@hôpital.test",
	  .orcpt = "utf-8;jérôme.dupré@hôpital.test",
	  .action = DSN_FAILED, .status = "5.1.1",
	  .remote_mta = "mx.xn--hpital-wta.test",
	  .diag = "550 5.1.1 User unknown", .last_attempt = NOW - 60 },
	{ .final = "\"zoé+cardio=\\\\x\"@hôpital.test",
	  .orcpt = "rfc822;zoé+cardio@hôpital.test",
	  .action = DSN_FAILED, .status = "5.1.1",
	  .remote_mta = "mx.xn--hpital-wta.test",
	  .diag = "550 5.1.1 User unknown", .last_attempt = NOW - 60 },
};

static const struct dsn_rcpt rc_one_failed[] = {
	{ .final = "pr.martin@hopital.test", .action = DSN_FAILED,
	  .status = "5.0.0", .diag = "550 Rejected",
	  .last_attempt = NOW - 60 },
};

#define REPORT(...) { \
	.reporting_mta = "mx.mssante.test", \
	.from = "MAILER-DAEMON@mx.mssante.test", \
	.to = "dr.bernard@mssante.test", \
	.arrival = ARRIVAL, .now = NOW, \
	.message_id = "<dsn-0001@mx.mssante.test>", \
	__VA_ARGS__ }

struct dsn_case {
	const char *name;
	struct dsn_report r;
	const char *third;	/* type of the third part, NULL: none */
};

static struct dsn_case cases[] = {
	{ "failed_full", REPORT(.ret = DSN_RETURN_FULL,
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_failed_full, .n_rcpt = 1), "message/rfc822" },
	{ "failed_orcpt_envid", REPORT(.ret = DSN_RETURN_DEFAULT,
	    .envid = "QID 42+a=b/\xc3\xa9",
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_failed_orcpt, .n_rcpt = 2), "message/rfc822" },
	{ "failed_hdrs", REPORT(.ret = DSN_RETURN_HDRS,
	    .envid = "cr-4711",
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_one_failed, .n_rcpt = 1), "text/rfc822-headers" },
	{ "delayed", REPORT(.ret = DSN_RETURN_DEFAULT,
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_delayed, .n_rcpt = 1), "text/rfc822-headers" },
	{ "delivered", REPORT(.ret = DSN_RETURN_DEFAULT,
	    .envid = "cr-4711",
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_delivered, .n_rcpt = 1), "text/rfc822-headers" },
	{ "relayed", REPORT(.ret = DSN_RETURN_HDRS,
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_relayed, .n_rcpt = 2), "text/rfc822-headers" },
	{ "diag_injection", REPORT(.ret = DSN_RETURN_FULL,
	    .message = orig_plain, .message_len = sizeof(orig_plain) - 1,
	    .rcpts = rc_injection, .n_rcpt = 2), "message/rfc822" },
	{ "utf8_address", REPORT(.ret = DSN_RETURN_DEFAULT,
	    .to = "zoé.lefèvre@clinique-été.test",
	    .message = orig_utf8, .message_len = sizeof(orig_utf8) - 1,
	    .rcpts = rc_utf8, .n_rcpt = 2), "message/rfc822" },
	{ "empty_message", REPORT(.ret = DSN_RETURN_FULL,
	    .message = NULL, .message_len = 0,
	    .rcpts = rc_one_failed, .n_rcpt = 1), NULL },
	{ "broken_lines", REPORT(.ret = DSN_RETURN_FULL,
	    .message = orig_broken, .message_len = 0 /* set at run time */,
	    .rcpts = rc_one_failed, .n_rcpt = 1), "message/rfc822" },
};

static const struct dsn_report *
case_named(const char *name)
{
	for (size_t k = 0; k < N_ELEMENTS(cases); k++)
		if (strcmp(cases[k].name, name) == 0)
			return &cases[k].r;
	fail_msg("no case %s", name);
	return NULL;
}

static void
setup_cases(void)
{
	static const char words[] = "lorem ipsum dolor sit amet ";
	size_t n = 0;

	memcpy(many_words, "554 5.0.0 ", 10);
	for (n = 10; n + 1 < sizeof(many_words); n++)
		many_words[n] = words[(n - 10) % (sizeof(words) - 1)];
	many_words[n] = '\0';
	make_orig_broken();
	for (size_t k = 0; k < N_ELEMENTS(cases); k++)
		if (cases[k].r.message == orig_broken)
			cases[k].r.message_len = strlen(orig_broken);
}

/* ---- checks on an output ---- */

/* check_lines - every line ends in CRLF, none longer than 998 octets,
 * no bare CR or LF anywhere. */
static void
check_lines(const char *name, const char *p, size_t len)
{
	size_t start = 0;

	assert_true(len >= 2);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n')
				fail_msg("%s: bare CR at %zu", name, i);
			if (i - start > 998)
				fail_msg("%s: line of %zu octets at %zu", name,
				    i - start, start);
			i++;
			start = i + 1;
		} else if (p[i] == '\n') {
			fail_msg("%s: bare LF at %zu", name, i);
		}
	}
	if (start != len)
		fail_msg("%s: last line without CRLF", name);
}

/* section - the bytes of an IMAP section of the output, NUL-terminated
 * copy (malloc'd); NULL when it does not exist. */
static char *
section(const struct mime_info *mi, const char *msg, const char *spec,
	size_t *len_r)
{
	uint32_t off, n;
	int r = mime_section(mi, spec, strlen(spec), &off, &n);

	assert_true(r >= 0);
	if (r == 0)
		return NULL;
	char *p = malloc((size_t)n + 1);
	assert_non_null(p);
	memcpy(p, msg + off, n);
	p[n] = '\0';
	*len_r = n;
	return p;
}

static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') &&
		    (p[n] == '\r' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/* expected_return - the bytes the third part must hold: the whole
 * message or its header section, as our CRLF originals are. */
static size_t
header_section(const char *msg, size_t len)
{
	const char *e = strstr(msg, "\r\n\r\n");
	return e == NULL ? len : (size_t)(e - msg) + 2;
}

/* check_structure - the output read back by our own MIME parser. */
static void
check_structure(const struct dsn_case *tc, const char *msg, size_t len)
{
	const struct dsn_report *r = &tc->r;
	struct mime_info mi;
	char *s;
	size_t n;

	check_lines(tc->name, msg, len);
	mime_info_init(&mi);
	assert_int_equal(mime_info_parse(msg, len, &mi), 0);
	assert_int_equal(mi.parts[0].kind, MIME_KIND_MULTIPART);
	assert_int_equal(mi.parts[0].n_children, tc->third ? 3 : 2);
	if (strstr(buf_data(&mi.bodystructure),
	    "\"report\" (\"report-type\" \"delivery-status\" \"boundary\"")
	    == NULL)
		fail_msg("%s: bodystructure %s", tc->name,
		    buf_data(&mi.bodystructure));

	s = section(&mi, msg, "HEADER", &n);
	assert_non_null(s);
	assert_true(has_line(s, "Auto-Submitted: auto-replied"));
	assert_true(has_line(s, "Message-ID: <dsn-0001@mx.mssante.test>"));
	assert_true(has_line(s, "Date: Sun, 22 Nov 2026 10:00:00 +0000"));
	assert_null(strstr(s, "X-Injected"));
	free(s);

	s = section(&mi, msg, "1.MIME", &n);
	assert_non_null(s);
	assert_true(has_line(s, "Content-Type: text/plain; charset=utf-8"));
	assert_true(has_line(s, "Content-Transfer-Encoding: 8bit"));
	free(s);
	s = section(&mi, msg, "1", &n);
	assert_non_null(s);
	assert_non_null(strstr(s, "This is the mail system at host "
	    "mx.mssante.test."));
	assert_non_null(strstr(s, "Ceci est le système de messagerie"));
	free(s);

	s = section(&mi, msg, "2.MIME", &n);
	assert_non_null(s);
	assert_true(has_line(s, "Content-Type: message/delivery-status"));
	free(s);

	/* the delivery-status fields: one per-message block, then one
	 * block per recipient, in order */
	s = section(&mi, msg, "2", &n);
	assert_non_null(s);
	assert_true(has_line(s, "Reporting-MTA: dns; mx.mssante.test"));
	assert_true(has_line(s, "Arrival-Date: Sun, 22 Nov 2026 08:30:00 "
	    "+0000"));
	assert_null(strstr(s, "\r\nX-Injected"));
	assert_true(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n');
	char *block = strstr(s, "\r\n\r\n");
	for (size_t i = 0; i < r->n_rcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		static const char *const act[] = { "failed", "delayed",
			"delivered", "relayed" };
		char line[128];

		assert_non_null(block);
		block += 4;
		char *next = strstr(block, "\r\n\r\n");
		if (next != NULL)
			next[2] = '\0';
		snprintf(line, sizeof(line), "Action: %s", act[rc->action]);
		assert_true(has_line(block, line));
		snprintf(line, sizeof(line), "Status: %s", rc->status);
		assert_true(has_line(block, line));
		assert_non_null(strstr(block, "Final-Recipient: "));
		assert_true((strstr(block, "Original-Recipient: ") != NULL) ==
		    (rc->orcpt != NULL));
		assert_true((strstr(block, "Will-Retry-Until: ") != NULL) ==
		    (rc->action == DSN_DELAYED && rc->will_retry_until != 0));
		if (next != NULL)
			next[2] = '\r';
		block = next;
	}
	assert_null(block);
	free(s);

	if (tc->third != NULL) {
		char want[64];
		size_t wlen = tc->r.message_len;

		s = section(&mi, msg, "3.MIME", &n);
		assert_non_null(s);
		snprintf(want, sizeof(want), "Content-Type: %s", tc->third);
		assert_true(has_line(s, want));
		free(s);
		/* what is returned, byte for byte (CRLF originals) */
		if (tc->r.message != orig_broken) {
			s = section(&mi, msg, "3", &n);
			assert_non_null(s);
			if (strcmp(tc->third, "text/rfc822-headers") == 0)
				wlen = header_section(r->message,
				    r->message_len);
			assert_int_equal(n, wlen);
			assert_memory_equal(s, r->message, wlen);
			free(s);
		}
	} else {
		assert_null(section(&mi, msg, "3", &n));
	}
	mime_info_free(&mi);
}

/* ---- golden files ---- */

static void
golden_compare(const char *name, const char *got, size_t len)
{
	char path[PATH_MAX_LEN];
	size_t want_len;

	fixture_path(path, name);
	if (regen()) {
		write_file(path, got, len);
		return;
	}
	char *want = read_file(path, &want_len);
	if (want == NULL)
		fail_msg("%s: missing (MSSGATE_DSN_REGEN=1 writes it)", path);
	if (want_len != len || memcmp(want, got, len) != 0)
		fail_msg("%s differs:\n  want %.*s\n  got  %.*s", path,
		    (int)want_len, want, (int)len, got);
	free(want);
}

static void
test_golden(void **state)
{
	(void)state;
	setup_cases();
	for (size_t k = 0; k < N_ELEMENTS(cases); k++) {
		struct buf out, again;

		buf_init(&out, OUT_MAX);
		buf_init(&again, OUT_MAX);
		int r = dsn_build(&cases[k].r, &out);
		if (r != 0)
			fail_msg("%s: dsn_build %d", cases[k].name, r);
		golden_compare(cases[k].name, buf_data(&out), buf_len(&out));
		check_structure(&cases[k], buf_data(&out), buf_len(&out));
		/* the same report gives the same bytes */
		assert_int_equal(dsn_build(&cases[k].r, &again), 0);
		assert_int_equal(buf_len(&again), buf_len(&out));
		assert_memory_equal(buf_data(&again), buf_data(&out),
		    buf_len(&out));
		buf_free(&out);
		buf_free(&again);
	}
}

/* Specific promises of the golden cases, spelled out. */
static void
test_case_details(void **state)
{
	struct buf out;

	(void)state;
	setup_cases();
	buf_init(&out, OUT_MAX);

	/* xtext where RFC 3461 wants it, typed addresses */
	assert_int_equal(dsn_build(case_named("failed_orcpt_envid"), &out),
	    0);
	assert_true(has_line(buf_data(&out),
	    "Original-Envelope-Id: QID+2042+2Ba+3Db/+C3+A9"));
	assert_true(has_line(buf_data(&out),
	    "Original-Recipient: rfc822;Secretariat+2BCardio@Clinique.test"));
	assert_true(has_line(buf_data(&out),
	    "Original-Recipient: rfc822;dr.durand+3Dcabinet@clinique.test"));
	assert_true(has_line(buf_data(&out),
	    "Final-Recipient: rfc822; dr.durand@clinique.test"));
	/* a reply is typed smtp, our own words X-mssgate; multi-line
	 * replies joined */
	assert_true(has_line(buf_data(&out), "Diagnostic-Code: smtp; "
	    "552-5.2.2 Mailbox full 552 5.2.2 Try again later"));
	assert_true(has_line(buf_data(&out), "Diagnostic-Code: X-mssgate; "
	    "no MX or A record for clinique.test"));
	buf_reset(&out);

	/* RFC 6533: utf-8 type, 7-bit form in message/delivery-status */
	assert_int_equal(dsn_build(case_named("utf8_address"), &out), 0);
	assert_true(has_line(buf_data(&out), "Final-Recipient: utf-8; "
	    "j\\x{E9}r\\x{F4}me.dupr\\x{E9}@h\\x{F4}pital.test"));
	assert_true(has_line(buf_data(&out), "Original-Recipient: utf-8;"
	    "j\\x{E9}r\\x{F4}me.dupr\\x{E9}@h\\x{F4}pital.test"));
	assert_true(has_line(buf_data(&out), "Final-Recipient: utf-8; "
	    "\"zo\\x{E9}\\x{2B}cardio\\x{3D}\\x{5C}\\x{5C}x\""
	    "@h\\x{F4}pital.test"));
	assert_true(has_line(buf_data(&out), "Original-Recipient: rfc822;"
	    "zo+C3+A9+2Bcardio@h+C3+B4pital.test"));
	assert_true(has_line(buf_data(&out),
	    "To: <zoé.lefèvre@clinique-été.test>"));
	assert_true(has_line(buf_data(&out),
	    "<jérôme.dupré@hôpital.test>: failed / échec, 5.1.1"));
	buf_reset(&out);

	/* cleaned reply: one line of ASCII, folded, cut */
	assert_int_equal(dsn_build(case_named("diag_injection"), &out), 0);
	assert_null(strstr(buf_data(&out), "\r\nX-Injected"));
	assert_null(strstr(buf_data(&out), "\x1b"));
	assert_non_null(strstr(buf_data(&out), "Remote-MTA: dns; "
	    "mx.evil.test X-Injected: yes --x\r\n"));
	assert_non_null(strstr(buf_data(&out), "Diagnostic-Code: smtp; "
	    "550-5.7.1 Message refused by policy. 550-5.7.1\r\n"
	    " X-Injected: yes --=_mssgate-dsn-0000000000000000 Content-Type: "
	    "text/html 550\r\n 5.7.1 [31mred ??t?? tab here\r\n XXX"));
	/* a word longer than a line: cut at 998 octets */
	const char *x = strstr(buf_data(&out), "\r\n XXX") + 3;
	assert_int_equal(strspn(x, "X"), 997);
	assert_memory_equal(x + 997, "\r\n XXX", 6);
	assert_int_equal(strspn(x + 1000, "X"), 1072 - 997);
	assert_non_null(strstr(buf_data(&out), " [31mred ??t?? tab here"));
	assert_non_null(strstr(buf_data(&out), "...\r\n"));
	buf_reset(&out);

	/* broken lines: CRLF everywhere, a long line broken with a space */
	assert_int_equal(dsn_build(case_named("broken_lines"), &out), 0);
	assert_non_null(strstr(buf_data(&out), "From: <robot@labo.test>\r\n"
	    "Subject: export\r\n\r\nline one\r\nline two\r\nabcdef"));
	assert_non_null(strstr(buf_data(&out), "xyzabcdefghij\r\n klmnop"));
	assert_non_null(strstr(buf_data(&out), "nopqr\r\nlast\r\n"));
	buf_free(&out);
}

/* ---- refused reports ---- */

static void
test_invalid(void **state)
{
	static const struct dsn_rcpt ok = { .final = "a@b.test",
		.action = DSN_FAILED, .status = "5.1.1" };
	static const char too_long[] =
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaa@b.test";	/* 259 octets */
	char envid[400];
	struct {
		const char *what;
		struct dsn_report r;
		struct dsn_rcpt rc[2];
		size_t n;
	} rows[] = {
		{ "null sender", REPORT(.to = ""), { ok }, 1 },
		{ "no recipient", REPORT(.to = "x@y.test"), { ok }, 0 },
		{ "CRLF in sender", REPORT(.to = "a@b.test\r\nBcc: c@d.test"),
		    { ok }, 1 },
		{ "angle in sender", REPORT(.to = "a@b.test>, <c@d.test"),
		    { ok }, 1 },
		{ "space in sender", REPORT(.to = "a b@c.test"), { ok }, 1 },
		{ "bad UTF-8 sender", REPORT(.to = "\xc3(@b.test"), { ok }, 1 },
		{ "unclosed quote", REPORT(.to = "\"a@b.test"), { ok }, 1 },
		{ "control in quotes", REPORT(.to = "\"a\x01\"@b.test"),
		    { ok }, 1 },
		{ "too long", REPORT(.to = too_long), { ok }, 1 },
		{ "empty domain", REPORT(.to = "a@"), { ok }, 1 },
		{ "literal tail", REPORT(.to = "a@[1.2.3.4]x"), { ok }, 1 },
		{ "from", REPORT(.from = "MAILER-DAEMON@x\n"), { ok }, 1 },
		{ "no from", REPORT(.from = NULL), { ok }, 1 },
		{ "host", REPORT(.reporting_mta = "mx.test\r\nX: y"),
		    { ok }, 1 },
		{ "host empty", REPORT(.reporting_mta = ""), { ok }, 1 },
		{ "message-id", REPORT(.message_id = "dsn@x"), { ok }, 1 },
		{ "message-id CR", REPORT(.message_id = "<a\r@x>"), { ok }, 1 },
		{ "no message", REPORT(.message = NULL, .message_len = 3),
		    { ok }, 1 },
		{ "negative date", REPORT(.now = -1), { ok }, 1 },
		{ "year 10000", REPORT(.arrival = INT64_C(253402300800)),
		    { ok }, 1 },
		{ "ret", REPORT(.ret = (enum dsn_return)7), { ok }, 1 },
		{ "envid too long", REPORT(.envid = envid), { ok }, 1 },
		{ "mixed kinds", REPORT(), { ok, { .final = "c@d.test",
		    .action = DSN_DELAYED, .status = "4.0.0" } }, 2 },
		{ "bad action", REPORT(), { { .final = "c@d.test",
		    .action = (enum dsn_action)9, .status = "4.0.0" } }, 1 },
		{ "no final", REPORT(), { { .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "final CR", REPORT(), { { .final = "a\r@b.test",
		    .action = DSN_FAILED, .status = "5.0.0" } }, 1 },
		{ "no status", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED } }, 1 },
		{ "status 5.1", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED, .status = "5.1" } }, 1 },
		{ "status 6.1.1", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED, .status = "6.1.1" } }, 1 },
		{ "status 5.1234.1", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED, .status = "5.1234.1" } }, 1 },
		{ "status 5.1.1x", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED, .status = "5.1.1x" } }, 1 },
		{ "status 5.1.1 CRLF", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED, .status = "5.1.1\r\nX: y" } }, 1 },
		{ "orcpt no type", REPORT(), { { .final = "a@b.test",
		    .orcpt = "a@b.test", .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "orcpt empty type", REPORT(), { { .final = "a@b.test",
		    .orcpt = ";a@b.test", .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "orcpt empty addr", REPORT(), { { .final = "a@b.test",
		    .orcpt = "rfc822;", .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "orcpt control", REPORT(), { { .final = "a@b.test",
		    .orcpt = "rfc822;a\n@b.test", .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "orcpt type space", REPORT(), { { .final = "a@b.test",
		    .orcpt = "rfc 822;a@b.test", .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "orcpt bad UTF-8", REPORT(), { { .final = "a@b.test",
		    .orcpt = "utf-8;\xe9@b.test", .action = DSN_FAILED,
		    .status = "5.0.0" } }, 1 },
		{ "last attempt < 0", REPORT(), { { .final = "a@b.test",
		    .action = DSN_FAILED, .status = "5.0.0",
		    .last_attempt = -5 } }, 1 },
	};

	(void)state;
	memset(envid, '+', sizeof(envid) - 1);	/* 3 octets each */
	envid[sizeof(envid) - 1] = '\0';
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct buf out;

		rows[i].r.rcpts = rows[i].rc;
		rows[i].r.n_rcpt = rows[i].n;
		buf_init(&out, OUT_MAX);
		assert_int_equal(buf_adds(&out, "kept"), 0);
		int r = dsn_build(&rows[i].r, &out);
		if (r != ERR_INVAL)
			fail_msg("%s: %d, want ERR_INVAL", rows[i].what, r);
		assert_string_equal(buf_data(&out), "kept");
		buf_free(&out);
	}
	assert_int_equal(dsn_build(NULL, NULL), ERR_INVAL);
	/* the envid limit is the line's: 300 octets (900 encoded) pass */
	envid[300] = '\0';
	struct dsn_report r = REPORT(.envid = envid, .rcpts = &ok,
	    .n_rcpt = 1);
	struct buf out;
	buf_init(&out, OUT_MAX);
	assert_int_equal(dsn_build(&r, &out), 0);
	buf_free(&out);
}

/* ---- the output bound ---- */

static void
test_limit(void **state)
{
	struct buf out;
	size_t full;

	(void)state;
	setup_cases();
	buf_init(&out, OUT_MAX);
	assert_int_equal(dsn_build(&cases[0].r, &out), 0);
	full = buf_len(&out);
	buf_free(&out);

	/* every bound below the size fails and leaves out as it was */
	for (size_t max = 0; max < full + 8; max += max < 64 ? 1 : 97) {
		buf_init(&out, max);
		int r = dsn_build(&cases[0].r, &out);
		if (max < full) {
			assert_int_equal(r, ERR_LIMIT);
			assert_int_equal(buf_len(&out), 0);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(buf_len(&out), full);
		}
		buf_free(&out);
	}
	buf_init(&out, full);
	assert_int_equal(dsn_build(&cases[0].r, &out), 0);
	buf_free(&out);

	/* appended after what out held, which is kept on failure too */
	buf_init(&out, full + 5);
	assert_int_equal(buf_adds(&out, "head:"), 0);
	assert_int_equal(dsn_build(&cases[0].r, &out), 0);
	assert_int_equal(buf_len(&out), full + 5);
	assert_memory_equal(buf_data(&out), "head:From: ", 11);
	buf_free(&out);
	buf_init(&out, full + 4);
	assert_int_equal(buf_adds(&out, "head:"), 0);
	assert_int_equal(dsn_build(&cases[0].r, &out), ERR_LIMIT);
	assert_string_equal(buf_data(&out), "head:");
	buf_free(&out);
}

/* ---- boundary ---- */

/* boundary_of - the boundary parameter of an output, into b[size]. */
static void
boundary_of(const char *msg, char *b, size_t size)
{
	const char *p = strstr(msg, "boundary=\"");
	assert_non_null(p);
	p += 10;
	const char *q = strchr(p, '"');
	assert_non_null(q);
	assert_true((size_t)(q - p) < size);
	memcpy(b, p, (size_t)(q - p));
	b[q - p] = '\0';
}

static void
test_boundary(void **state)
{
	struct dsn_report r = REPORT(.ret = DSN_RETURN_FULL,
	    .rcpts = rc_failed_full, .n_rcpt = 1);
	struct buf out, msg;
	char first[128], b[128];

	(void)state;
	buf_init(&out, OUT_MAX);
	buf_init(&msg, OUT_MAX);
	r.message = orig_tricky;
	r.message_len = sizeof(orig_tricky) - 1;
	assert_int_equal(dsn_build(&r, &out), 0);
	boundary_of(buf_data(&out), first, sizeof(first));

	/* plant the boundary chosen, and every next choice, in the
	 * message: another one is found each time */
	assert_int_equal(buf_add(&msg, orig_tricky, r.message_len), 0);
	for (int round = 0; round < 8; round++) {
		assert_int_equal(buf_addf(&msg, "--%s\r\n", first), 0);
		r.message = buf_data(&msg);
		r.message_len = buf_len(&msg);
		buf_reset(&out);
		assert_int_equal(dsn_build(&r, &out), 0);
		boundary_of(buf_data(&out), b, sizeof(b));
		assert_string_not_equal(b, first);
		assert_null(strstr(r.message, b));

		struct mime_info mi;
		mime_info_init(&mi);
		assert_int_equal(mime_info_parse(buf_data(&out),
		    buf_len(&out), &mi), 0);
		assert_int_equal(mi.parts[0].n_children, 3);
		mime_info_free(&mi);
		memcpy(first, b, sizeof(b));
	}
	buf_free(&out);
	buf_free(&msg);
}

/* ---- xtext ---- */

static void
test_xtext_encode(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
		{ "", "" },
		{ "abc", "abc" },
		{ "a+b", "a+2Bb" },
		{ "a=b", "a+3Db" },
		{ " ", "+20" },
		{ "!~", "!~" },
		{ "\t\r\n", "+09+0D+0A" },
		{ "\x7f", "+7F" },
		{ "é", "+C3+A9" },
		{ "\xff", "+FF" },
		{ "<id@host>", "<id@host>" },
		{ "+++", "+2B+2B+2B" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct buf out;
		buf_init(&out, 64);
		assert_int_equal(buf_adds(&out, ">"), 0);
		assert_int_equal(dsn_xtext_encode(rows[i].in, &out), 0);
		assert_string_equal(buf_data(&out) + 1, rows[i].out);
		buf_free(&out);
	}
	/* all or nothing when out is full */
	struct buf small;
	buf_init(&small, 5);
	assert_int_equal(dsn_xtext_encode("a+b", &small), 0);
	assert_int_equal(dsn_xtext_encode("+", &small), ERR_LIMIT);
	assert_string_equal(buf_data(&small), "a+2Bb");
	buf_free(&small);
	assert_int_equal(dsn_xtext_encode(NULL, &small), ERR_INVAL);
	assert_int_equal(dsn_xtext_encode("a", NULL), ERR_INVAL);
}

static void
test_xtext_decode(void **state)
{
	static const struct {
		const char *in;
		int ret;
		const char *out;
	} rows[] = {
		{ "", 0, "" },
		{ "abc", 0, "abc" },
		{ "a+2Bb", 0, "a+b" },
		{ "+3D", 0, "=" },
		{ "+2b+3d", 0, "+=" },		/* lower case accepted */
		{ "+C3+A9", 0, "é" },
		{ "+c3+a9", 0, "é" },
		{ "+41", 0, "A" },		/* needless, still valid */
		{ "+20", 0, " " },
		{ "!~", 0, "!~" },
		{ "rfc822;a+2Bb@c", 0, "rfc822;a+b@c" },
		{ "+", ERR_PROTO, NULL },
		{ "+2", ERR_PROTO, NULL },
		{ "a+", ERR_PROTO, NULL },
		{ "+2G", ERR_PROTO, NULL },
		{ "+G2", ERR_PROTO, NULL },
		{ "+ 2", ERR_PROTO, NULL },
		{ "a b", ERR_PROTO, NULL },
		{ "a=b", ERR_PROTO, NULL },
		{ "a\tb", ERR_PROTO, NULL },
		{ "a\r\nb", ERR_PROTO, NULL },
		{ "\x7f", ERR_PROTO, NULL },
		{ "é", ERR_PROTO, NULL },	/* raw 8-bit */
		{ "+00", ERR_PROTO, NULL },	/* decodes to a control */
		{ "+0D+0A", ERR_PROTO, NULL },
		{ "+09", ERR_PROTO, NULL },
		{ "+1F", ERR_PROTO, NULL },
		{ "+7F", ERR_PROTO, NULL },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		memset(out, 'Z', sizeof(out));
		int r = dsn_xtext_decode(rows[i].in, strlen(rows[i].in), out,
		    sizeof(out));
		if (r != rows[i].ret)
			fail_msg("\"%s\": %d, want %d", rows[i].in, r,
			    rows[i].ret);
		if (r == 0)
			assert_string_equal(out, rows[i].out);
	}

	/* bounded by len: what follows is not read */
	assert_int_equal(dsn_xtext_decode("ab+2Bjunk", 5, out, sizeof(out)),
	    0);
	assert_string_equal(out, "ab+");
	assert_int_equal(dsn_xtext_decode("ab+2", 3, out, sizeof(out)),
	    ERR_PROTO);
	/* bounded by size: the NUL must fit */
	assert_int_equal(dsn_xtext_decode("abc", 3, out, 4), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(dsn_xtext_decode("abc", 3, out, 3), ERR_LIMIT);
	assert_int_equal(dsn_xtext_decode("+2B+2B", 6, out, 3), 0);
	assert_int_equal(dsn_xtext_decode("+2B+2B+2B", 9, out, 3),
	    ERR_LIMIT);
	assert_int_equal(dsn_xtext_decode("", 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(dsn_xtext_decode("a", 1, out, 0), ERR_INVAL);
	assert_int_equal(dsn_xtext_decode(NULL, 0, out, 1), ERR_INVAL);
	assert_int_equal(dsn_xtext_decode("a", 1, NULL, 1), ERR_INVAL);
}

/* Every byte but the controls and NUL survives encode then decode. */
static void
test_xtext_round_trip(void **state)
{
	char in[256], back[256];
	size_t n = 0;
	struct buf enc;

	(void)state;
	for (int ch = 0x20; ch <= 0xff; ch++)
		if (ch != 0x7f)
			in[n++] = (char)ch;
	in[n] = '\0';
	buf_init(&enc, 1024);
	assert_int_equal(dsn_xtext_encode(in, &enc), 0);
	for (size_t i = 0; i < buf_len(&enc); i++) {
		unsigned char ch = (unsigned char)buf_data(&enc)[i];
		assert_true(ch >= '!' && ch <= '~' && ch != '=');
	}
	assert_int_equal(dsn_xtext_decode(buf_data(&enc), buf_len(&enc), back,
	    sizeof(back)), 0);
	assert_string_equal(back, in);
	buf_free(&enc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_case_details),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_xtext_encode),
		cmocka_unit_test(test_xtext_decode),
		cmocka_unit_test(test_xtext_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
