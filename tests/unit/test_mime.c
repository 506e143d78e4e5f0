/* SPDX-License-Identifier: MIT */
/*
 * test_mime.c - RFC 5322 header helpers: the end of the header section,
 * walking fields (folded values, malformed lines) and extracting the
 * addr-specs of a mailbox list (display names, RFC 2047, limits).
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
#include "mime/mime.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- header section ---- */

static void
test_header_section(void **state)
{
	static const struct {
		const char *msg;
		size_t len;
		size_t hlen;
		size_t body_off;
	} rows[] = {
#define M(lit, h, b) { lit, sizeof(lit) - 1, h, b }
		M("A: b\r\n\r\nbody", 6, 8),
		M("A: b\r\nC: d\r\n\r\n", 12, 14),
		M("A: b\r\n folded\r\n\r\nx\r\n\r\ny", 15, 17),
		M("\r\nbody only", 0, 2),
		M("\r\n", 0, 2),
		M("A: b\r\n", 6, 6),		/* no body */
		M("A: b", 4, 4),
		M("", 0, 0),
		M("A: b\n\nbody", 10, 10),	/* bare LF: not an end */
		M("A: b\r\n\n\r\nbody", 13, 13),
		M("A: b\r\r\n\r\nbody", 7, 9),
		M("A: b\r\n\r\n", 6, 8),
#undef M
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t body = 9999;
		size_t h = mime_header_section(rows[i].msg, rows[i].len,
		    &body);
		if (h != rows[i].hlen || body != rows[i].body_off)
			fail_msg("row %zu: got %zu/%zu, want %zu/%zu", i, h,
			    body, rows[i].hlen, rows[i].body_off);
	}
}

/* ---- fields ---- */

struct field {
	const char *name;
	const char *value;
};

/* walk - every field of hdr[len]; returns the final result (0 or < 0)
 * and how many fields came before it. */
static int
walk(const char *hdr, size_t len, struct field *want, size_t n_want,
     size_t *n_r)
{
	struct mime_hdr_iter it;
	struct strv name, value;
	int r;
	size_t n = 0;

	mime_header_iter_init(&it, hdr, len);
	while ((r = mime_header_next(&it, &name, &value)) == 1) {
		if (n >= n_want)
			fail_msg("more than %zu fields", n_want);
		if (name.len != strlen(want[n].name) ||
		    memcmp(name.p, want[n].name, name.len) != 0)
			fail_msg("field %zu: name [%.*s] want [%s]", n,
			    (int)name.len, name.p, want[n].name);
		if (value.len != strlen(want[n].value) ||
		    memcmp(value.p, want[n].value, value.len) != 0)
			fail_msg("field %zu: value [%.*s] want [%s]", n,
			    (int)value.len, value.p, want[n].value);
		/* slices point into the input */
		assert_true(name.p >= hdr && value.p + value.len <= hdr + len);
		n++;
	}
	*n_r = n;
	return r;
}

static void
test_header_fields(void **state)
{
	static const char hdr[] =
	    "From: Alice <alice@example.org>\r\n"
	    "Subject: a long\r\n"
	    " subject\r\n"
	    "\tfolded twice\r\n"
	    "X-Empty:\r\n"
	    "To:bob@example.org\r\n"
	    "Received: from x (y [192.0.2.1]) by z; Sun, 22 Nov 2026 "
	    "10:00:00 +0000\r\n"
	    "X-Colons: a: b: c\r\n"
	    "x-lower_case.name~!: v\r\n";
	struct field want[] = {
		{ "From", " Alice <alice@example.org>" },
		{ "Subject", " a long\r\n subject\r\n\tfolded twice" },
		{ "X-Empty", "" },
		{ "To", "bob@example.org" },
		{ "Received", " from x (y [192.0.2.1]) by z; Sun, 22 Nov 2026 "
		    "10:00:00 +0000" },
		{ "X-Colons", " a: b: c" },
		{ "x-lower_case.name~!", " v" },
	};
	size_t n;

	assert_int_equal(walk(hdr, sizeof(hdr) - 1, want, N_ELEMENTS(want),
	    &n), 0);
	assert_int_equal(n, N_ELEMENTS(want));

	/* The section mime_header_section finds is what the walk takes. */
	static const char msg[] = "A: 1\r\nB: 2\r\n 3\r\n\r\nC: body\r\n";
	size_t body;
	size_t h = mime_header_section(msg, sizeof(msg) - 1, &body);
	struct field want2[] = { { "A", " 1" }, { "B", " 2\r\n 3" } };
	assert_int_equal(walk(msg, h, want2, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(msg + body, "C: body\r\n");

	/* The last field without CRLF, a fold at the very end. */
	struct field want3[] = { { "A", " b" } };
	assert_int_equal(walk("A: b", 4, want3, 1, &n), 0);
	assert_int_equal(n, 1);
	struct field want4[] = { { "A", " b\r\n " } };
	assert_int_equal(walk("A: b\r\n ", 7, want4, 1, &n), 0);
	assert_int_equal(n, 1);
	struct field want5[] = { { "A", " b\r\n c" }, { "D", "e" } };
	assert_int_equal(walk("A: b\r\n c\r\nD:e", 13, want5, 2, &n), 0);
	assert_int_equal(n, 2);

	/* At the end, it stays at the end. */
	struct mime_hdr_iter it;
	struct strv name, value;
	mime_header_iter_init(&it, "X: y\r\n", 6);
	assert_int_equal(mime_header_next(&it, &name, &value), 1);
	assert_int_equal(mime_header_next(&it, &name, &value), 0);
	assert_int_equal(mime_header_next(&it, &name, &value), 0);
	mime_header_iter_init(&it, "", 0);
	assert_int_equal(mime_header_next(&it, &name, &value), 0);
}

static void
test_header_malformed(void **state)
{
	static const struct {
		const char *hdr;
		size_t len;
		size_t n_before;	/* good fields before the error */
	} rows[] = {
#define H(lit, n) { lit, sizeof(lit) - 1, n }
		H(" continued: x\r\n", 0),
		H("\tx\r\n", 0),
		H(" \r\nA: b\r\n", 0),
		H("No colon here\r\n", 0),
		H("Nocolon", 0),
		H("Bad Name: x\r\n", 0),
		H("Bad\tName: x\r\n", 0),
		H(": no name\r\n", 0),
		H("A : spaced\r\n", 0),
		H("\xc3\x84: eight-bit\r\n", 0),
		H("A\x01: ctl\r\n", 0),
		H("A\x7f: del\r\n", 0),
		H("\r\nA: b\r\n", 0),
		H("A: b\r\nbogus line\r\n", 1),
		H("A: b\r\nC: d\r\n\r\n", 2),	/* the empty line itself */
		H("A: b\r\nFrom\r\n", 1),
		H("A: b\r\n\x00: x\r\n", 1),
		H("A: b\nB: c\r\nno colon\r\n", 1),
#undef H
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct mime_hdr_iter it;
		struct strv name, value;
		size_t n = 0;
		int r;

		mime_header_iter_init(&it, rows[i].hdr, rows[i].len);
		while ((r = mime_header_next(&it, &name, &value)) == 1)
			n++;
		if (r != ERR_PROTO || n != rows[i].n_before)
			fail_msg("row %zu: result %d after %zu fields", i, r,
			    n);
	}
}

/* ---- mailbox lists ---- */

struct mbx_row {
	const char *value;
	int ret;
	const char *addrs[5];
};

static void
check_mbx(const struct mbx_row *rows, size_t n_rows, size_t max)
{
	for (size_t i = 0; i < n_rows; i++) {
		char addrs[8][MIME_ADDR_MAX];
		int n = mime_mailbox_list(rows[i].value,
		    strlen(rows[i].value), addrs, max);
		if (n != rows[i].ret)
			fail_msg("row %zu [%s]: got %d, want %d (first: %s)",
			    i, rows[i].value, n, rows[i].ret,
			    n > 0 ? addrs[0] : "-");
		for (int k = 0; k < n; k++)
			if (strcmp(addrs[k], rows[i].addrs[k]) != 0)
				fail_msg("row %zu [%s]: addr %d [%s], want "
				    "[%s]", i, rows[i].value, k, addrs[k],
				    rows[i].addrs[k]);
	}
}

static void
test_mailbox_list(void **state)
{
	static const struct mbx_row rows[] = {
		{ "a@b", 1, { "a@b" } },
		{ " alice@example.org", 1, { "alice@example.org" } },
		{ " a@b \r\n", 1, { "a@b" } },
		{ "Name <a@b>", 1, { "a@b" } },
		{ "<a@b>", 1, { "a@b" } },
		{ "\"Quoted, Name\" <a@b>, c@d", 2, { "a@b", "c@d" } },
		{ "\"x\" <a@b>, \"y\" <c@d>, e@f, g@h", 4,
		    { "a@b", "c@d", "e@f", "g@h" } },
		{ "A <a@b>,\r\n B <c@d>", 2, { "a@b", "c@d" } },
		{ "=?UTF-8?Q?Fran=C3=A7ois?= <f@x.fr>", 1, { "f@x.fr" } },
		{ "=?ISO-8859-1?B?RnJhbudvaXM=?= <f@x.fr>", 1, { "f@x.fr" } },
		{ "=?utf-8?b?w4lsb2TDrWU=?= <e@x.fr>, \"Dr. X\" <x@y.fr>", 2,
		    { "e@x.fr", "x@y.fr" } },
		{ "J\xc3\xb6" "e <j@x.fr>", 1, { "j@x.fr" } },
		{ "\"ceo@example.org\" <alice@example.org>", 1,
		    { "alice@example.org" } },
		{ "first.last@sub.example.fr", 1,
		    { "first.last@sub.example.fr" } },
		{ "a@[192.0.2.1]", 1, { "a@[192.0.2.1]" } },
	};
	check_mbx(rows, N_ELEMENTS(rows), 8);
}

static void
test_mailbox_list_invalid(void **state)
{
	static const struct mbx_row rows[] = {
		{ "", ERR_PROTO, { NULL } },
		{ "   ", ERR_PROTO, { NULL } },
		{ "<>", ERR_PROTO, { NULL } },
		{ "a@b,", ERR_PROTO, { NULL } },
		{ ",a@b", ERR_PROTO, { NULL } },
		{ "a@b,,c@d", ERR_PROTO, { NULL } },
		{ "a@b, ,c@d", ERR_PROTO, { NULL } },
		{ "a@b;c@d", ERR_PROTO, { NULL } },
		{ "Name <a@b> trailing", ERR_PROTO, { NULL } },
		{ "<a@b> <c@d>", ERR_PROTO, { NULL } },
		{ "undisclosed-recipients:;", ERR_PROTO, { NULL } },
		{ "Group: a@b;", ERR_PROTO, { NULL } },
		{ "\"unterminated <a@b>", ERR_PROTO, { NULL } },
	};
	check_mbx(rows, N_ELEMENTS(rows), 8);
}

/* Words that are not an addr-spec must not come out as addresses: an
 * addr-spec needs "@" and a domain (RFC 5322 3.4.1), white space inside
 * it is not part of it, and a display name is a phrase, which cannot hold
 * an unquoted "@" (the From check would pass while readers see another
 * address). See the report. */
static void
test_mailbox_list_not_addr_spec(void **state)
{
	static const struct mbx_row rows[] = {
		{ "garbage", ERR_PROTO, { NULL } },
		{ "Name", ERR_PROTO, { NULL } },
		{ "a@", ERR_PROTO, { NULL } },
		{ "@b", ERR_PROTO, { NULL } },
		{ "<a@b", ERR_PROTO, { NULL } },
		{ "a@b junk", ERR_PROTO, { NULL } },
		/* obsolete CFWS inside an addr-spec is refused, not joined */
		{ "ceo @example.org", ERR_PROTO, { NULL } },
		{ "alice@exam ple.org", ERR_PROTO, { NULL } },
		{ "ceo@example.org alice@example.org", ERR_PROTO, { NULL } },
		{ "ceo@example.org <alice@example.org>", ERR_PROTO, { NULL } },
	};
	check_mbx(rows, N_ELEMENTS(rows), 8);
}

static void
test_mailbox_list_limits(void **state)
{
	char addrs[4][MIME_ADDR_MAX];
	const char *four = "a@b, c@d, e@f, g@h";
	const char *five = "a@b, c@d, e@f, g@h, i@j";

	assert_int_equal(mime_mailbox_list(four, strlen(four), addrs, 4), 4);
	assert_string_equal(addrs[3], "g@h");
	assert_int_equal(mime_mailbox_list(five, strlen(five), addrs, 4),
	    ERR_LIMIT);
	assert_int_equal(mime_mailbox_list("a@b", 3, addrs, 0), ERR_LIMIT);

	/* An address that does not fit in MIME_ADDR_MAX. */
	char value[600];
	memset(value, 'l', 300);
	memcpy(value + 300, "@example.org", 13);
	assert_int_equal(mime_mailbox_list(value, strlen(value), addrs, 4),
	    ERR_LIMIT);
	/* The longest that fits: MIME_ADDR_MAX - 1 octets. */
	size_t local = MIME_ADDR_MAX - 1 - strlen("@example.org");
	memset(value, 'l', local);
	memcpy(value + local, "@example.org", 13);
	assert_int_equal(strlen(value), MIME_ADDR_MAX - 1);
	assert_int_equal(mime_mailbox_list(value, strlen(value), addrs, 4),
	    1);
	assert_string_equal(addrs[0], value);

	/* The length bounds the value. */
	assert_int_equal(mime_mailbox_list("a@b, c@d", 3, addrs, 4), 1);
	assert_string_equal(addrs[0], "a@b");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_section),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_header_malformed),
		cmocka_unit_test(test_mailbox_list),
		cmocka_unit_test(test_mailbox_list_invalid),
		cmocka_unit_test(test_mailbox_list_not_addr_spec),
		cmocka_unit_test(test_mailbox_list_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
