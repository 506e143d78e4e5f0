/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_data.c - the DATA decoder: dot-stuffing, the CR LF . CR LF
 * terminator, refusal of bare CR and bare LF (smuggling), overflow. Each
 * row runs whole, one byte at a time and in random-sized chunks.
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
#include "smtp/smtp_data.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define BIG (1024 * 1024)

struct row {
	const char *name;
	const char *in;
	size_t len;
	int ret;		/* 1 end of data, 0 need more, ERR_PROTO */
	const char *out;	/* decoded content (prefix when overflow) */
	size_t out_len;
	size_t used;		/* input consumed, in total */
	size_t max;		/* output buffer maximum; 0: BIG */
	bool overflow;
};

#define ROW(name, in, ret, out, used) \
	{ name, in, sizeof(in) - 1, ret, out, sizeof(out) - 1, used, 0, false }
#define ROWMAX(name, in, ret, out, used, max, ovf) \
	{ name, in, sizeof(in) - 1, ret, out, sizeof(out) - 1, used, max, ovf }

static const struct row rows[] = {
	ROW("one line", "hello\r\n.\r\n", 1, "hello\r\n", 10),
	ROW("lines", "a\r\nb\r\n\r\nc d\r\n.\r\n", 1, "a\r\nb\r\n\r\nc d\r\n",
	    16),
	ROW("empty message", ".\r\n", 1, "", 3),
	ROW("one empty line", "\r\n.\r\n", 1, "\r\n", 5),
	ROW("dot-stuffed", "..x\r\n.\r\n", 1, ".x\r\n", 8),
	ROW("dot-stuffed dots", "...\r\n.\r\n", 1, "..\r\n", 8),
	ROW("lone stuffed dot", "..\r\n.\r\n", 1, ".\r\n", 7),
	ROW("dot inside line", "x.\r\na.b\r\n.\r\n", 1, "x.\r\na.b\r\n", 12),
	ROW("stuffing on later lines", "a\r\n..b\r\n..\r\n.\r\n", 1,
	    "a\r\n.b\r\n.\r\n", 15),
	ROW("after the end", "x\r\n.\r\nMAIL FROM:<a@b>\r\n", 1, "x\r\n",
	    6),
	ROW("two terminators", "x\r\n.\r\n.\r\n", 1, "x\r\n", 6),
	ROW("pipelined QUIT", ".\r\nQUIT\r\n", 1, "", 3),
	ROW("NUL octet", "a\0b\r\n.\r\n", 1, "a\0b\r\n", 8),
	ROW("8-bit", "caf\xc3\xa9\r\n.\r\n", 1, "caf\xc3\xa9\r\n", 10),
	ROW("space dot", " .\r\n.\r\n", 1, " .\r\n", 7),
	ROW("dot space", ". \r\n.\r\n", 1, " \r\n", 7),
	/* need more input */
	ROW("no terminator", "hello\r\n", 0, "hello\r\n", 7),
	ROW("in a line", "hello", 0, "hello", 5),
	ROW("cr pending", "hello\r", 0, "hello", 6),
	ROW("dot pending", "hello\r\n.", 0, "hello\r\n", 8),
	ROW("dot cr pending", "hello\r\n.\r", 0, "hello\r\n", 9),
	ROW("nothing", "", 0, "", 0),
	/* bare LF and bare CR: refused, *used_r just past the offence */
	ROW("bare LF", "a\nb\r\n.\r\n", ERR_PROTO, "a", 2),
	ROW("bare LF first", "\nx\r\n.\r\n", ERR_PROTO, "", 1),
	ROW("LF terminator smuggling", "hi\n.\nMAIL FROM:<x@y>\r\n",
	    ERR_PROTO, "hi", 3),
	ROW("LF dot LF after CRLF", "hi\r\n.\nMAIL FROM:<x@y>\r\n",
	    ERR_PROTO, "hi\r\n", 6),
	ROW("CR dot CR", "hi\r.\r\n", ERR_PROTO, "hi", 4),
	ROW("CR dot CRLF smuggling", "hi\r\n.\r.\r\n", ERR_PROTO, "hi\r\n",
	    7),
	ROW("dot CR then text", ".\rX\r\n.\r\n", ERR_PROTO, "", 3),
	ROW("dot CR CR", ".\r\r\n", ERR_PROTO, "", 3),
	ROW("bare CR", "a\rb\r\n.\r\n", ERR_PROTO, "a", 3),
	ROW("CR CR LF", "a\r\r\n", ERR_PROTO, "a", 3),
	ROW("LF after stuffed dot", "..\n.\r\n", ERR_PROTO, ".", 3),
	ROW("dot LF", ".\n", ERR_PROTO, "", 2),
	/* overflow: content past the maximum is counted and dropped */
	ROWMAX("overflow", "abcdef\r\n.\r\n", 1, "abcdef\r\n", 11, 4, true),
	ROWMAX("exactly fits", "abcdef\r\n.\r\n", 1, "abcdef\r\n", 11, 8,
	    false),
	ROWMAX("one too many", "abcdef\r\n.\r\n", 1, "abcdef\r\n", 11, 7,
	    true),
	ROWMAX("max 1", "a\r\n..b\r\n.\r\n", 1, "a\r\n.b\r\n", 11, 1, true),
	ROWMAX("empty message max 1", ".\r\n", 1, "", 3, 1, false),
	ROWMAX("overflow then bare LF", "abcdef\nx", ERR_PROTO, "abcdef", 7,
	    3, true),
	ROWMAX("overflow need more", "abcdef\r\nghij\r\n", 0,
	    "abcdef\r\nghij\r\n", 14, 10, true),
};

struct result {
	int ret;
	size_t used;
	struct buf out;
	struct smtp_data d;
};

/* next_rand - xorshift64*, so chunk sizes are the same on every run. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/*
 * run - feed in[len] in chunks: chunk 0 is whole input, 1 one byte at a
 * time, otherwise random sizes from 1 to chunk drawn with seed. Stops at
 * the first non-zero result, like the session does.
 */
static void
run(const char *in, size_t len, size_t max, size_t chunk, uint64_t seed,
    struct result *res)
{
	size_t off = 0;

	smtp_data_init(&res->d);
	buf_init(&res->out, max);
	res->ret = 0;
	res->used = 0;
	do {
		size_t n = len - off;
		if (chunk == 1)
			n = n > 0 ? 1 : 0;
		else if (chunk > 1)
			n = n < chunk ? n : 1 + next_rand(&seed) % chunk;
		if (n > len - off)
			n = len - off;
		size_t used = 12345;
		res->ret = smtp_data_feed(&res->d, in + off, n, &used,
		    &res->out);
		assert_true(used <= n);
		/* Everything offered is used unless the data ended. */
		if (res->ret == 0)
			assert_int_equal(used, n);
		off += used;
	} while (res->ret == 0 && off < len);
	res->used = off;
}

static void
check_row(size_t i, const struct row *row, size_t chunk, uint64_t seed)
{
	struct result res;
	size_t max = row->max ? row->max : BIG;

	run(row->in, row->len, max, chunk, seed, &res);
	if (res.ret != row->ret)
		fail_msg("row %zu \"%s\" chunk %zu: result %d, want %d", i,
		    row->name, chunk, res.ret, row->ret);
	if (res.used != row->used)
		fail_msg("row %zu \"%s\" chunk %zu: used %zu, want %zu", i,
		    row->name, chunk, res.used, row->used);
	if (res.d.overflow != row->overflow)
		fail_msg("row %zu \"%s\" chunk %zu: overflow %d", i,
		    row->name, chunk, res.d.overflow);
	/* total counts every content octet, stored or not */
	if (res.d.total != row->out_len)
		fail_msg("row %zu \"%s\" chunk %zu: total %zu, want %zu", i,
		    row->name, chunk, res.d.total, row->out_len);
	if (!row->overflow) {
		if (buf_len(&res.out) != row->out_len ||
		    memcmp(buf_data(&res.out), row->out, row->out_len) != 0)
			fail_msg("row %zu \"%s\" chunk %zu: content [%s]", i,
			    row->name, chunk, buf_data(&res.out));
	} else {
		/* what was kept is a prefix that fits */
		assert_true(buf_len(&res.out) <= max);
		assert_true(buf_len(&res.out) < row->out_len);
		assert_memory_equal(buf_data(&res.out), row->out,
		    buf_len(&res.out));
	}
	buf_free(&res.out);
}

static void
test_whole(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		check_row(i, &rows[i], 0, 0);
}

static void
test_byte_at_a_time(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		check_row(i, &rows[i], 1, 0);
}

static void
test_random_chunks(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		for (uint64_t seed = 1; seed <= 20; seed++)
			check_row(i, &rows[i], 2 + seed % 5,
			    seed * 0x9e3779b97f4a7c15ULL);
}

/* One call: *used_r stops right after ".\r\n", however much follows. */
static void
test_used_after_end(void **state)
{
	static const char in[] = "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
	struct smtp_data d;
	struct buf out;
	size_t used = 0;

	smtp_data_init(&d);
	buf_init(&out, 1024);
	assert_int_equal(smtp_data_feed(&d, in, sizeof(in) - 1, &used, &out),
	    1);
	assert_int_equal(used, sizeof(in) - 1 - strlen("QUIT\r\n"));
	assert_string_equal(in + used, "QUIT\r\n");
	assert_string_equal(buf_data(&out), "Subject: x\r\n\r\nbody\r\n");
	assert_int_equal(d.total, buf_len(&out));
	assert_false(d.overflow);
	buf_free(&out);

	/* Re-initialised, the decoder starts a new message. */
	smtp_data_init(&d);
	buf_init(&out, 1024);
	assert_int_equal(smtp_data_feed(&d, "..\r\n.\r\n", 7, &used, &out),
	    1);
	assert_string_equal(buf_data(&out), ".\r\n");
	assert_int_equal(d.total, 3);
	buf_free(&out);
}

/* A large message: many lines, long lines, stuffed lines, in chunks. */
static void
test_large(void **state)
{
	struct buf in, want;
	buf_init(&in, BIG);
	buf_init(&want, BIG);
	uint64_t s = 42;
	for (int line = 0; line < 2000; line++) {
		char text[301];
		size_t n = next_rand(&s) % 300;
		for (size_t k = 0; k < n; k++)
			text[k] = (char)('!' + next_rand(&s) % 90);
		if (n > 0 && next_rand(&s) % 4 == 0)
			text[0] = '.';
		/* The client stuffs every line that starts with a dot. */
		if (n > 0 && text[0] == '.')
			assert_int_equal(buf_addc(&in, '.'), 0);
		assert_int_equal(buf_add(&in, text, n), 0);
		assert_int_equal(buf_add(&want, text, n), 0);
		assert_int_equal(buf_adds(&in, "\r\n"), 0);
		assert_int_equal(buf_adds(&want, "\r\n"), 0);
	}
	assert_int_equal(buf_adds(&in, ".\r\n"), 0);

	static const size_t chunks[] = { 0, 1, 7, 100, 4096 };
	for (size_t c = 0; c < N_ELEMENTS(chunks); c++) {
		struct result res;
		run(buf_data(&in), buf_len(&in), BIG, chunks[c], c + 1, &res);
		assert_int_equal(res.ret, 1);
		assert_int_equal(res.used, buf_len(&in));
		assert_int_equal(buf_len(&res.out), buf_len(&want));
		assert_memory_equal(buf_data(&res.out), buf_data(&want),
		    buf_len(&want));
		assert_int_equal(res.d.total, buf_len(&want));
		assert_false(res.d.overflow);
		buf_free(&res.out);

		/* Same stream into a small buffer: same end, same total. */
		run(buf_data(&in), buf_len(&in), 1000, chunks[c], c + 1, &res);
		assert_int_equal(res.ret, 1);
		assert_int_equal(res.used, buf_len(&in));
		assert_true(res.d.overflow);
		assert_int_equal(res.d.total, buf_len(&want));
		assert_true(buf_len(&res.out) <= 1000);
		assert_memory_equal(buf_data(&res.out), buf_data(&want),
		    buf_len(&res.out));
		buf_free(&res.out);
	}
	buf_free(&in);
	buf_free(&want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_used_after_end),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
