/* SPDX-License-Identifier: MIT */
/*
 * test_core.c - core helpers: bounded buffers (buf), strings and strict
 * number parsing (str), UTF-8 validation, RFC 5322 dates, log line
 * escaping and capping (log), the bounded worker pool and err_str.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/workers.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- err ---- */

static void
test_err_str(void **state)
{
	static const int codes[] = { ERR_OK, ERR_NOMEM, ERR_LIMIT, ERR_PROTO,
		ERR_IO, ERR_TEMP, ERR_NOTFOUND, ERR_EXISTS, ERR_STORE_FULL,
		ERR_INVAL, ERR_CRYPTO, ERR_AUTH, ERR_PERM, ERR_CORRUPT,
		ERR_VERSION, ERR_SHUTDOWN };

	for (size_t i = 0; i < N_ELEMENTS(codes); i++) {
		const char *s = err_str(codes[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "unknown error");
		/* Every known code has its own text. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, err_str(codes[j]));
	}
	assert_string_equal(err_str(ERR_LIMIT), "limit exceeded");
	static const int unknown[] = { 1, 42, -16, -1000, INT32_MIN,
		INT32_MAX };
	for (size_t i = 0; i < N_ELEMENTS(unknown); i++) {
		assert_non_null(err_str(unknown[i]));
		assert_string_equal(err_str(unknown[i]), "unknown error");
	}
}

/* ---- buf ---- */

static void
test_buf_basic(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_string_equal(buf_data(&b), "");
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_add(&b, "ab", 2), 0);
	assert_int_equal(buf_addc(&b, 'c'), 0);
	assert_int_equal(buf_adds(&b, "def"), 0);
	assert_int_equal(buf_add(&b, "\0x", 2), 0);	/* binary safe */
	assert_int_equal(buf_len(&b), 8);
	assert_memory_equal(buf_data(&b), "abcdef\0x", 8);
	assert_int_equal(buf_data(&b)[8], '\0');	/* trailing NUL */
	buf_reset(&b);
	assert_int_equal(buf_len(&b), 0);
	assert_string_equal(buf_data(&b), "");
	assert_non_null(b.data);			/* memory kept */
	assert_int_equal(buf_adds(&b, "again"), 0);
	assert_string_equal(buf_data(&b), "again");
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);					/* twice is fine */
}

static void
test_buf_limit(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_add(&b, "12345678", 8), 0);
	assert_int_equal(buf_len(&b), 8);
	/* One byte more: refused, buffer unchanged. */
	assert_int_equal(buf_add(&b, "9", 1), ERR_LIMIT);
	assert_int_equal(buf_addc(&b, '9'), ERR_LIMIT);
	assert_int_equal(buf_adds(&b, "9"), ERR_LIMIT);
	assert_int_equal(buf_addf(&b, "%d", 9), ERR_LIMIT);
	assert_int_equal(buf_reserve(&b, 1), ERR_LIMIT);
	assert_int_equal(buf_len(&b), 8);
	assert_string_equal(buf_data(&b), "12345678");
	/* Nothing more is always fine. */
	assert_int_equal(buf_add(&b, "", 0), 0);
	assert_int_equal(buf_reserve(&b, 0), 0);
	assert_int_equal(buf_len(&b), 8);
	/* The allocation never goes past max + 1 (the NUL). */
	assert_true(b.cap <= 9);
	buf_free(&b);

	/* A too-large append on a partly filled buffer changes nothing. */
	buf_init(&b, 10);
	assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(buf_add(&b, "12345678", 8), ERR_LIMIT);
	assert_int_equal(buf_addf(&b, "%s", "12345678"), ERR_LIMIT);
	assert_int_equal(buf_len(&b), 3);
	assert_string_equal(buf_data(&b), "abc");
	/* Sizes that would overflow size_t arithmetic. */
	assert_int_equal(buf_reserve(&b, SIZE_MAX), ERR_LIMIT);
	assert_int_equal(buf_reserve(&b, SIZE_MAX - 2), ERR_LIMIT);
	assert_int_equal(buf_add(&b, "x", SIZE_MAX), ERR_LIMIT);
	assert_int_equal(buf_len(&b), 3);
	assert_int_equal(buf_add(&b, "1234567", 7), 0);	/* exactly max */
	assert_string_equal(buf_data(&b), "abc1234567");
	buf_free(&b);

	/* max 0: only empty appends. */
	buf_init(&b, 0);
	assert_int_equal(buf_addc(&b, 'x'), ERR_LIMIT);
	assert_int_equal(buf_len(&b), 0);
	assert_string_equal(buf_data(&b), "");
	buf_free(&b);
}

static void
test_buf_addf_growth(void **state)
{
	struct buf b;
	char big[1000];

	buf_init(&b, 100000);
	/* Short formats and long ones (past the 256-byte stack buffer). */
	assert_int_equal(buf_addf(&b, "%s=%d;", "n", 42), 0);
	assert_string_equal(buf_data(&b), "n=42;");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_addf(&b, "[%s]", big), 0);
	assert_int_equal(buf_len(&b), 5 + 1 + 999 + 1);
	assert_memory_equal(buf_data(&b), "n=42;[q", 7);
	assert_string_equal(buf_data(&b) + 5 + 1 + 999, "]");
	assert_int_equal(buf_addf(&b, "%0300d", 7), 0);
	assert_int_equal(buf_len(&b), 1006 + 300);
	assert_int_equal(buf_data(&b)[1006], '0');
	assert_string_equal(buf_data(&b) + 1006 + 299, "7");
	/* Many appends: the content stays exact. */
	buf_reset(&b);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(buf_addf(&b, "%04d", i % 10000), 0);
	assert_int_equal(buf_len(&b), 20000);
	assert_memory_equal(buf_data(&b), "000000010002", 12);
	assert_memory_equal(buf_data(&b) + 19996, "4999", 4);
	assert_int_equal(buf_data(&b)[20000], '\0');
	buf_free(&b);

	/* A long format that would cross the limit leaves the buffer as is. */
	buf_init(&b, 300);
	assert_int_equal(buf_adds(&b, "head"), 0);
	assert_int_equal(buf_addf(&b, "%0297d", 1), ERR_LIMIT);
	assert_int_equal(buf_len(&b), 4);
	assert_string_equal(buf_data(&b), "head");
	assert_int_equal(buf_addf(&b, "%0296d", 1), 0);
	assert_int_equal(buf_len(&b), 300);
	buf_free(&b);
}

static void
test_buf_take(void **state)
{
	struct buf b;
	size_t len = 99;

	buf_init(&b, 32);
	assert_int_equal(buf_adds(&b, "hello"), 0);
	char *p = buf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 5);
	assert_string_equal(p, "hello");
	assert_null(b.data);
	assert_int_equal(buf_len(&b), 0);
	assert_string_equal(buf_data(&b), "");
	free(p);

	/* An empty buffer hands over an empty string, not NULL. */
	p = buf_take(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);

	/* The buffer is usable again and keeps its maximum. */
	assert_int_equal(buf_adds(&b, "0123456789"), 0);
	p = buf_take(&b, NULL);
	assert_string_equal(p, "0123456789");
	free(p);
	assert_int_equal(buf_add(&b, "x", 33), ERR_LIMIT);
	buf_free(&b);
}

static void
test_buf_wipe(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(buf_adds(&b, "secret password"), 0);
	buf_wipe(&b);
	assert_null(b.data);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(b.cap, 0);
	buf_wipe(&b);		/* an empty buffer is fine */
	assert_int_equal(buf_adds(&b, "reuse"), 0);
	assert_string_equal(buf_data(&b), "reuse");
	buf_wipe(&b);
	assert_null(b.data);
}

/* ---- str ---- */

static void
test_str_copy(void **state)
{
	static const struct {
		size_t size;
		const char *src;
		int ret;
		const char *dst;
	} rows[] = {
		{ 6, "hello", 0, "hello" },
		{ 5, "hello", ERR_LIMIT, "" },
		{ 1, "", 0, "" },
		{ 1, "a", ERR_LIMIT, "" },
		{ 63, "", 0, "" },
		{ 2, "ab", ERR_LIMIT, "" },
	};
	char dst[64];

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		memset(dst, 'Z', sizeof(dst));
		assert_int_equal(str_copy(dst, rows[i].size, rows[i].src),
		    rows[i].ret);
		assert_string_equal(dst, rows[i].dst);
		/* Nothing written past size. */
		assert_int_equal(dst[rows[i].size], 'Z');
	}
	/* size 0: refused, nothing written. */
	dst[0] = 'Z';
	assert_int_equal(str_copy(dst, 0, "x"), ERR_LIMIT);
	assert_int_equal(str_copy(dst, 0, ""), ERR_LIMIT);
	assert_int_equal(dst[0], 'Z');
}

static void
test_str_copyn(void **state)
{
	char dst[8];

	memset(dst, 'Z', sizeof(dst));
	assert_int_equal(str_copyn(dst, sizeof(dst), "abcdefgh", 3), 0);
	assert_string_equal(dst, "abc");
	assert_int_equal(str_copyn(dst, sizeof(dst), "abcdefgh", 7), 0);
	assert_string_equal(dst, "abcdefg");
	assert_int_equal(str_copyn(dst, sizeof(dst), "abcdefgh", 8),
	    ERR_LIMIT);
	assert_string_equal(dst, "");
	/* Not NUL-terminated sources and embedded NULs are copied as is. */
	assert_int_equal(str_copyn(dst, sizeof(dst), "a\0b", 3), 0);
	assert_memory_equal(dst, "a\0b\0", 4);
	assert_int_equal(str_copyn(dst, sizeof(dst), "xyz", 0), 0);
	assert_string_equal(dst, "");
}

static void
test_str_fmt(void **state)
{
	char dst[8];

	assert_int_equal(str_fmt(dst, sizeof(dst), "%d-%s", 12, "ab"), 0);
	assert_string_equal(dst, "12-ab");
	assert_int_equal(str_fmt(dst, sizeof(dst), "%s", "1234567"), 0);
	assert_string_equal(dst, "1234567");
	assert_int_equal(str_fmt(dst, sizeof(dst), "%s", "12345678"),
	    ERR_LIMIT);
	assert_int_equal(str_fmt(dst, sizeof(dst), "%d", 123456789),
	    ERR_LIMIT);
	assert_int_equal(str_fmt(dst, sizeof(dst), "%s", ""), 0);
	assert_string_equal(dst, "");
}

struct u64_row {
	const char *s;
	uint64_t min, max;
	int ret;
	uint64_t v;
};

static void
test_str_to_u64(void **state)
{
	static const struct u64_row rows[] = {
		{ "0", 0, 10, 0, 0 },
		{ "7", 0, 10, 0, 7 },
		{ "10", 0, 10, 0, 10 },
		{ "007", 0, 10, 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
		{ "512", 512, 65536, 0, 512 },
		{ "65536", 512, 65536, 0, 65536 },
		/* range */
		{ "11", 0, 10, ERR_LIMIT, 0 },
		{ "511", 512, 65536, ERR_LIMIT, 0 },
		{ "65537", 512, 65536, ERR_LIMIT, 0 },
		{ "0", 1, 10, ERR_LIMIT, 0 },
		/* overflow */
		{ "18446744073709551616", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "99999999999999999999999", 0, UINT64_MAX, ERR_INVAL, 0 },
		/* sign, space, junk */
		{ "-1", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "-0", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "+1", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ " 1", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "1 ", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "\t1", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "1\n", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "0x10", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "1e3", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "1.0", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "12a", 0, UINT64_MAX, ERR_INVAL, 0 },
		{ "a12", 0, UINT64_MAX, ERR_INVAL, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		uint64_t v = 12345;
		int r = str_to_u64(rows[i].s, rows[i].min, rows[i].max, &v);
		if (r != rows[i].ret)
			fail_msg("row %zu \"%s\": got %d, want %d", i,
			    rows[i].s, r, rows[i].ret);
		if (r == 0)
			assert_int_equal(v, rows[i].v);
		else
			assert_int_equal(v, 12345);	/* untouched */
	}
	uint64_t v = 1;
	assert_int_equal(str_to_u64(NULL, 0, 10, &v), ERR_INVAL);
}

struct suffix_row {
	const char *s;
	int ret;
	uint64_t v;
};

static void
check_suffix_rows(int (*fn)(const char *, uint64_t *),
		  const struct suffix_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 12345;
		int r = fn(rows[i].s, &v);
		if (r != rows[i].ret)
			fail_msg("row %zu \"%s\": got %d, want %d", i,
			    rows[i].s, r, rows[i].ret);
		if (r == 0 && v != rows[i].v)
			fail_msg("row %zu \"%s\": got %llu, want %llu", i,
			    rows[i].s, (unsigned long long)v,
			    (unsigned long long)rows[i].v);
		if (r != 0)
			assert_int_equal(v, 12345);
	}
}

static void
test_str_to_size(void **state)
{
	static const struct suffix_row rows[] = {
		{ "0", 0, 0 },
		{ "1048576", 0, 1048576 },
		{ "1b", 0, 1 },
		{ "64k", 0, 65536 },
		{ "64K", 0, 65536 },
		{ "25M", 0, 26214400 },
		{ "25m", 0, 26214400 },
		{ "8G", 0, 8589934592ULL },
		{ "2T", 0, 2199023255552ULL },
		{ "0G", 0, 0 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16777215T", 0, 16777215ULL << 40 },
		{ "17179869183G", 0, 17179869183ULL << 30 },
		/* overflow of the multiplication */
		{ "16777216T", ERR_LIMIT, 0 },
		{ "17179869184G", ERR_LIMIT, 0 },
		{ "18446744073709551615k", ERR_LIMIT, 0 },
		/* overflow of the number itself */
		{ "18446744073709551616", ERR_INVAL, 0 },
		/* bad syntax */
		{ "", ERR_INVAL, 0 },
		{ "k", ERR_INVAL, 0 },
		{ "M", ERR_INVAL, 0 },
		{ "10x", ERR_INVAL, 0 },
		{ "10kb", ERR_INVAL, 0 },
		{ "10 k", ERR_INVAL, 0 },
		{ " 10k", ERR_INVAL, 0 },
		{ "-1k", ERR_INVAL, 0 },
		{ "1.5M", ERR_INVAL, 0 },
		{ "10s", ERR_INVAL, 0 },
		{ "123456789012345678901234567890123", ERR_INVAL, 0 },
	};
	check_suffix_rows(str_to_size, rows, N_ELEMENTS(rows));
}

static void
test_str_to_seconds(void **state)
{
	static const struct suffix_row rows[] = {
		{ "0", 0, 0 },
		{ "30", 0, 30 },
		{ "30s", 0, 30 },
		{ "5m", 0, 300 },
		{ "4h", 0, 14400 },
		{ "5d", 0, 432000 },
		{ "2w", 0, 1209600 },
		{ "18446744073709551615s", 0, UINT64_MAX },
		{ "307445734561825860m", 0, 307445734561825860ULL * 60 },
		{ "307445734561825861m", ERR_LIMIT, 0 },
		{ "5124095576030431h", 0, 5124095576030431ULL * 3600 },
		{ "5124095576030432h", ERR_LIMIT, 0 },
		{ "213503982334601d", 0, 213503982334601ULL * 86400 },
		{ "213503982334602d", ERR_LIMIT, 0 },
		{ "30500568904944w", ERR_LIMIT, 0 },
		{ "18446744073709551616", ERR_INVAL, 0 },
		{ "", ERR_INVAL, 0 },
		{ "s", ERR_INVAL, 0 },
		{ "5M", ERR_INVAL, 0 },		/* minutes are lower case */
		{ "5y", ERR_INVAL, 0 },
		{ "5ms", ERR_INVAL, 0 },
		{ "1.5h", ERR_INVAL, 0 },
		{ "-5m", ERR_INVAL, 0 },
		{ "5 m", ERR_INVAL, 0 },
		{ "5k", ERR_INVAL, 0 },
	};
	check_suffix_rows(str_to_seconds, rows, N_ELEMENTS(rows));
}

static void
test_str_to_bool(void **state)
{
	static const struct {
		const char *s;
		int ret;
		bool v;
	} rows[] = {
		{ "yes", 0, true }, { "YES", 0, true }, { "true", 0, true },
		{ "True", 0, true }, { "on", 0, true }, { "1", 0, true },
		{ "no", 0, false }, { "No", 0, false }, { "false", 0, false },
		{ "FALSE", 0, false }, { "off", 0, false }, { "0", 0, false },
		{ "", ERR_INVAL, false }, { "y", ERR_INVAL, false },
		{ "n", ERR_INVAL, false }, { "2", ERR_INVAL, false },
		{ "yes ", ERR_INVAL, false }, { " no", ERR_INVAL, false },
		{ "enabled", ERR_INVAL, false }, { "01", ERR_INVAL, false },
		{ "nope", ERR_INVAL, false },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		/* Start from the opposite value so a real write shows. */
		bool v = !rows[i].v;
		int r = str_to_bool(rows[i].s, &v);
		if (r != rows[i].ret)
			fail_msg("row %zu \"%s\": got %d", i, rows[i].s, r);
		if (r == 0)
			assert_int_equal(v, rows[i].v);
		else
			assert_int_equal(v, !rows[i].v);
	}
}

static void
test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
	} rows[] = {
#define U(lit, ok) { lit, sizeof(lit) - 1, ok }
		U("", true),
		U("plain ascii", true),
		U("\x00\x7f", true),
		U("caf\xc3\xa9", true),			/* é */
		U("\xc2\x80", true),			/* U+0080 */
		U("\xdf\xbf", true),			/* U+07FF */
		U("\xe0\xa0\x80", true),		/* U+0800 */
		U("\xe2\x82\xac", true),		/* € */
		U("\xed\x9f\xbf", true),		/* U+D7FF */
		U("\xee\x80\x80", true),		/* U+E000 */
		U("\xef\xbf\xbf", true),		/* U+FFFF */
		U("\xf0\x90\x80\x80", true),		/* U+10000 */
		U("\xf0\x9f\x98\x80", true),		/* emoji */
		U("\xf4\x8f\xbf\xbf", true),		/* U+10FFFF */
		/* lone continuation bytes and invalid lead bytes */
		U("\x80", false),
		U("a\xbf", false),
		U("\xfe", false),
		U("\xff", false),
		U("\xf5\x80\x80\x80", false),
		U("\xf8\x88\x80\x80\x80", false),
		/* overlong forms */
		U("\xc0\xaf", false),
		U("\xc1\xbf", false),
		U("\xc0\x80", false),
		U("\xe0\x80\xaf", false),
		U("\xe0\x9f\xbf", false),
		U("\xf0\x80\x80\xaf", false),
		U("\xf0\x8f\xbf\xbf", false),
		/* surrogates */
		U("\xed\xa0\x80", false),		/* U+D800 */
		U("\xed\xbf\xbf", false),		/* U+DFFF */
		U("\xed\xa0\xbd\xed\xb8\x80", false),	/* CESU-8 pair */
		/* above U+10FFFF */
		U("\xf4\x90\x80\x80", false),
		U("\xf7\xbf\xbf\xbf", false),
		/* truncated sequences */
		U("\xc3", false),
		U("caf\xc3", false),
		U("\xe2\x82", false),
		U("\xf0\x9f\x98", false),
		U("\xe2\x82" "a", false),
		U("\xc3" "a", false),
		U("\xf0\x9f" "ab", false),
#undef U
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		if (utf8_valid(rows[i].s, rows[i].len) != rows[i].ok)
			fail_msg("row %zu: expected %s", i,
			    rows[i].ok ? "valid" : "invalid");
	/* The length bounds the check: a cut valid sequence is invalid. */
	assert_true(utf8_valid("\xe2\x82\xac", 3));
	assert_false(utf8_valid("\xe2\x82\xac", 2));
	assert_true(utf8_valid("ab\xff", 2));
}

static void
test_str_rfc5322_date(void **state)
{
	static const struct {
		const char *tz;
		time_t t;
		const char *want;
	} rows[] = {
		{ "UTC0", 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
		{ "UTC0", 1700000000, "Tue, 14 Nov 2023 22:13:20 +0000" },
		{ "IST-5:30", 1700000000, "Wed, 15 Nov 2023 03:43:20 +0530" },
		{ "NST3:30", 1700000000, "Tue, 14 Nov 2023 18:43:20 -0330" },
		{ "CET-1", 1700000000, "Tue, 14 Nov 2023 23:13:20 +0100" },
	};
	char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	char out[64];

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		setenv("TZ", rows[i].tz, 1);
		tzset();
		assert_int_equal(str_rfc5322_date(out, sizeof(out),
		    rows[i].t), 0);
		assert_string_equal(out, rows[i].want);
	}
	/* Exactly enough room, and one byte short. */
	setenv("TZ", "UTC0", 1);
	tzset();
	assert_int_equal(str_rfc5322_date(out, 32, 1700000000), 0);
	assert_int_equal(strlen(out), 31);
	assert_int_equal(str_rfc5322_date(out, 31, 1700000000), ERR_LIMIT);

	if (saved != NULL) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

static void
test_str_misc(void **state)
{
	char s[32];

	str_copy(s, sizeof(s), "MiXeD-Case@Example.ORG");
	str_lower(s);
	assert_string_equal(s, "mixed-case@example.org");
	str_copy(s, sizeof(s), "ABCDEF");
	str_lowern(s, 3);
	assert_string_equal(s, "abcDEF");
	str_copy(s, sizeof(s), "\xc3\x89T\xc3\x89");	/* 8-bit untouched */
	str_lower(s);
	assert_string_equal(s, "\xc3\x89t\xc3\x89");

	assert_true(str_case_eq("Hello", "hELLO"));
	assert_false(str_case_eq("Hello", "Hell"));
	assert_true(str_case_prefix("STARTTLS now", "starttls"));
	assert_true(str_case_prefix("abc", ""));
	assert_false(str_case_prefix("star", "starttls"));

	str_copy(s, sizeof(s), " \t value \t\r\n");
	assert_string_equal(str_trim(s), "value");
	str_copy(s, sizeof(s), "   ");
	assert_string_equal(str_trim(s), "");
	str_copy(s, sizeof(s), "a b");
	assert_string_equal(str_trim(s), "a b");

	char h1[33], h2[33];
	memset(h1, 'Z', sizeof(h1));
	str_rand_hex(h1, 16);
	str_rand_hex(h2, 16);
	assert_int_equal(strlen(h1), 32);
	assert_int_equal(strspn(h1, "0123456789abcdef"), 32);
	assert_string_not_equal(h1, h2);
}

/* ---- log ---- */

/* An stderr capture: fd 2 goes to a temporary file until capture_end. */
struct capture {
	FILE *f;
	int saved;
};

static void
capture_begin(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

/* capture_end - restore stderr; returns what was written (free it). */
static char *
capture_end(struct capture *c)
{
	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	long n = ftell(c->f);
	if (n < 0) {
		fseek(c->f, 0, SEEK_END);
		n = ftell(c->f);
	}
	assert_true(n >= 0);
	char *s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(c->f);
	assert_int_equal(fread(s, 1, (size_t)n, c->f), (size_t)n);
	fclose(c->f);
	return s;
}

/* strip_prefix - "2026-...Z info " + rest: check the frame, return rest. */
static const char *
log_rest(const char *line, const char *level)
{
	/* 2026-11-22T10:00:00.123Z = 24 characters. */
	assert_true(strlen(line) > 25);
	assert_int_equal(line[4], '-');
	assert_int_equal(line[10], 'T');
	assert_int_equal(line[19], '.');
	assert_int_equal(line[23], 'Z');
	assert_int_equal(line[24], ' ');
	size_t n = strlen(level);
	assert_memory_equal(line + 25, level, n);
	assert_int_equal(line[25 + n], ' ');
	return line + 25 + n + 1;
}

static void
test_logline_escaping(void **state)
{
	static const struct {
		const char *val;
		size_t len;
		const char *want;
	} rows[] = {
#define V(lit, want) { lit, sizeof(lit) - 1, want }
		V("plain", "k=plain"),
		V("", "k=\"\""),
		V("a b", "k=\"a b\""),
		V("a=b", "k=\"a=b\""),
		V("say \"hi\"", "k=\"say \\\"hi\\\"\""),
		V("a\"b", "k=\"a\\\"b\""),
		V("back\\slash", "k=back\\\\slash"),
		V("line\r\nforged k=v", "k=\"line\\x0d\\x0aforged k=v\""),
		V("tab\there", "k=tab\\x09here"),
		V("nul\0byte", "k=nul\\x00byte"),
		V("del\x7f", "k=del\\x7f"),
		V("esc\x1b[31m", "k=esc\\x1b[31m"),
		V("caf\xc3\xa9", "k=caf\xc3\xa9"),
		V("<a@b>", "k=<a@b>"),
#undef V
	};
	struct logline l;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char want[128];
		logl_begin(&l, "0123abcd", "smtp", "test");
		logl_mem(&l, "k", rows[i].val, rows[i].len);
		snprintf(want, sizeof(want), "0123abcd smtp test %s",
		    rows[i].want);
		if (strcmp(l.buf, want) != 0)
			fail_msg("row %zu: got [%s] want [%s]", i, l.buf,
			    want);
		assert_int_equal(l.len, strlen(want));
	}

	logl_begin(&l, NULL, "core", "start");
	logl_str(&l, "who", "me");
	logl_str(&l, "null", NULL);
	logl_u64(&l, "n", UINT64_MAX);
	logl_int(&l, "i", -42);
	assert_string_equal(l.buf, "- core start who=me null=\"\" "
	    "n=18446744073709551615 i=-42");

	/* Emitted: one line, framed with time and level, no raw control
	 * character anywhere. */
	struct capture c;
	log_init(LOG_TARGET_STDERR, "test", LOG_INFO);
	capture_begin(&c);
	logl_begin(&l, "id1", "smtp", "rcpt");
	logl_str(&l, "to", "<x@y>\nid2 smtp forged=1");
	logl_emit(&l, LOG_NOTICE);
	logl_begin(&l, "id3", "smtp", "debug");
	logl_emit(&l, LOG_DEBUG);	/* below the level: dropped */
	char *out = capture_end(&c);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_null(strchr(nl + 1, '\n'));
	assert_int_equal(nl[1], '\0');
	*nl = '\0';
	assert_string_equal(log_rest(out, "notice"),
	    "id1 smtp rcpt to=\"<x@y>\\x0aid2 smtp forged=1\"");
	free(out);
}

static void
test_logline_capping(void **state)
{
	char val[1000];
	struct logline l;

	/* One field: the first LOG_FIELD_MAX octets, then "...". */
	memset(val, 'v', sizeof(val));
	logl_begin(&l, "id", "m", "e");
	logl_mem(&l, "k", val, sizeof(val));
	assert_int_equal(l.len, strlen("id m e k=") + LOG_FIELD_MAX + 3);
	assert_string_equal(l.buf + l.len - 4, "v...");
	/* Exactly LOG_FIELD_MAX octets: no ellipsis. */
	logl_begin(&l, "id", "m", "e");
	logl_mem(&l, "k", val, LOG_FIELD_MAX);
	assert_int_equal(l.len, strlen("id m e k=") + LOG_FIELD_MAX);
	assert_int_equal(l.buf[l.len - 1], 'v');

	/* A capped field of control characters: escapes, still capped,
	 * and the quote closes after the ellipsis. */
	memset(val, '\n', sizeof(val));
	val[0] = ' ';
	logl_begin(&l, "id", "m", "e");
	logl_mem(&l, "k", val, sizeof(val));
	assert_int_equal(l.len, strlen("id m e k=") + 2 + 1 +
	    (LOG_FIELD_MAX - 1) * 4 + 3);
	assert_string_equal(l.buf + l.len - 5, "a...\"");
	assert_null(strchr(l.buf, '\n'));

	/* The whole line never exceeds its buffer. */
	logl_begin(&l, "id", "m", "e");
	memset(val, 'w', sizeof(val));
	for (int i = 0; i < 40; i++)
		logl_mem(&l, "field", val, sizeof(val));
	assert_int_equal(l.len, LOG_LINE_MAX - 1);
	assert_int_equal(strlen(l.buf), LOG_LINE_MAX - 1);

	/* ... and emitted whole, with a final newline. */
	struct capture c;
	log_init(LOG_TARGET_STDERR, "test", LOG_INFO);
	capture_begin(&c);
	logl_emit(&l, LOG_INFO);
	char *out = capture_end(&c);
	size_t n = strlen(out);
	assert_true(n > LOG_LINE_MAX - 1);
	assert_int_equal(out[n - 1], '\n');
	assert_null(memchr(out, '\n', n - 1));
	out[n - 1] = '\0';
	const char *rest = log_rest(out, "info");
	assert_int_equal(strlen(rest), LOG_LINE_MAX - 1);
	assert_memory_equal(rest, "id m e field=www", 16);
	free(out);
}

static void
test_log_printf_family(void **state)
{
	struct capture c;

	log_init(LOG_TARGET_STDERR, "test", LOG_INFO);
	capture_begin(&c);
	log_info("a\nb\x01" "c\x7f" "d");
	log_debug("hidden at info level");
	errno = ENOENT;
	log_warn("open %s", "x");
	log_warnx("plain warning");
	log_set_level(LOG_DEBUG);
	log_debug("visible now");
	log_set_level(LOG_WARNING);
	log_notice("hidden at warning level");
	log_set_level(LOG_INFO);
	char *out = capture_end(&c);

	char *lines[8];
	size_t n = 0;
	for (char *t = out, *nl; (nl = strchr(t, '\n')) != NULL; t = nl + 1) {
		*nl = '\0';
		assert_true(n < N_ELEMENTS(lines));
		lines[n++] = t;
	}
	assert_int_equal(n, 4);
	assert_string_equal(log_rest(lines[0], "info"), "a?b?c?d");
	char want[128];
	snprintf(want, sizeof(want), "open x: %s", strerror(ENOENT));
	assert_string_equal(log_rest(lines[1], "warning"), want);
	assert_string_equal(log_rest(lines[2], "warning"), "plain warning");
	assert_string_equal(log_rest(lines[3], "debug"), "visible now");
	free(out);

	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("WARNING"), LOG_WARNING);
	assert_int_equal(log_level_parse("error"), LOG_ERR);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);
}

/* ---- workers ---- */

struct wjob {
	pthread_mutex_t *mtx;
	pthread_cond_t *cond;
	unsigned *n_done;
	int worked;
	int done;
	int done_saw_work;
	pthread_t work_thread;
	/* a job that blocks until released */
	int *gate;
};

static void
wjob_work(void *arg)
{
	struct wjob *j = arg;
	j->work_thread = pthread_self();
	if (j->gate != NULL) {
		pthread_mutex_lock(j->mtx);
		while (*j->gate == 0)
			pthread_cond_wait(j->cond, j->mtx);
		pthread_mutex_unlock(j->mtx);
	}
	j->worked = 1;
}

static void
wjob_done(void *arg)
{
	struct wjob *j = arg;
	pthread_mutex_lock(j->mtx);
	j->done_saw_work = j->worked;
	j->done = 1;
	(*j->n_done)++;
	pthread_cond_broadcast(j->cond);
	pthread_mutex_unlock(j->mtx);
}

static void
wait_done(pthread_mutex_t *mtx, pthread_cond_t *cond, unsigned *n,
	  unsigned want)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(mtx);
	while (*n < want)
		if (pthread_cond_timedwait(cond, mtx, &ts) != 0)
			break;
	unsigned got = *n;
	pthread_mutex_unlock(mtx);
	assert_int_equal(got, want);
}

static void
test_workers_run(void **state)
{
	pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	unsigned n_done = 0;
	struct wjob jobs[200];
	struct workers *w = workers_new(4, 1000);

	assert_non_null(w);
	memset(jobs, 0, sizeof(jobs));
	for (size_t i = 0; i < N_ELEMENTS(jobs); i++) {
		jobs[i].mtx = &mtx;
		jobs[i].cond = &cond;
		jobs[i].n_done = &n_done;
		assert_int_equal(workers_submit(w, wjob_work, wjob_done,
		    &jobs[i], NULL), 0);
	}
	wait_done(&mtx, &cond, &n_done, N_ELEMENTS(jobs));
	for (size_t i = 0; i < N_ELEMENTS(jobs); i++) {
		assert_true(jobs[i].worked);
		assert_true(jobs[i].done);
		assert_true(jobs[i].done_saw_work);
		assert_false(pthread_equal(jobs[i].work_thread,
		    pthread_self()));
	}
	workers_free(&w);
	assert_null(w);
	workers_free(&w);	/* NULL is fine */
}

static void
test_workers_queue_full(void **state)
{
	pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	unsigned n_done = 0;
	int gate = 0;
	struct wjob jobs[4];
	struct workers *w = workers_new(1, 2);

	assert_non_null(w);
	memset(jobs, 0, sizeof(jobs));
	for (size_t i = 0; i < N_ELEMENTS(jobs); i++) {
		jobs[i].mtx = &mtx;
		jobs[i].cond = &cond;
		jobs[i].n_done = &n_done;
	}
	jobs[0].gate = &gate;	/* holds the only thread */
	assert_int_equal(workers_submit(w, wjob_work, wjob_done, &jobs[0],
	    NULL), 0);
	assert_int_equal(workers_submit(w, wjob_work, wjob_done, &jobs[1],
	    NULL), 0);
	/* Two pending (one running, one queued): the third is refused. */
	assert_int_equal(workers_submit(w, wjob_work, wjob_done, &jobs[2],
	    NULL), ERR_TEMP);
	assert_int_equal(workers_submit(w, wjob_work, wjob_done, &jobs[2],
	    NULL), ERR_TEMP);

	pthread_mutex_lock(&mtx);
	gate = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mtx);
	wait_done(&mtx, &cond, &n_done, 2);
	assert_false(jobs[2].worked);

	/* Room again once they finished. */
	for (int tries = 0; ; tries++) {
		int r = workers_submit(w, wjob_work, wjob_done, &jobs[2],
		    NULL);
		if (r == 0)
			break;
		/* done() ran, pending is decremented right after it */
		assert_int_equal(r, ERR_TEMP);
		assert_true(tries < 1000);
		usleep(1000);
	}
	wait_done(&mtx, &cond, &n_done, 3);
	assert_true(jobs[2].done_saw_work);
	workers_free(&w);
}

static void
test_workers_free_drains(void **state)
{
	pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	unsigned n_done = 0;
	struct wjob jobs[50];
	struct workers *w = workers_new(2, 100);

	assert_non_null(w);
	memset(jobs, 0, sizeof(jobs));
	for (size_t i = 0; i < N_ELEMENTS(jobs); i++) {
		jobs[i].mtx = &mtx;
		jobs[i].cond = &cond;
		jobs[i].n_done = &n_done;
		assert_int_equal(workers_submit(w, wjob_work, wjob_done,
		    &jobs[i], NULL), 0);
	}
	/* Freeing finishes the queued work before joining. */
	workers_free(&w);
	assert_int_equal(n_done, N_ELEMENTS(jobs));
	for (size_t i = 0; i < N_ELEMENTS(jobs); i++)
		assert_true(jobs[i].done_saw_work);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_str),
		cmocka_unit_test(test_buf_basic),
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_buf_addf_growth),
		cmocka_unit_test(test_buf_take),
		cmocka_unit_test(test_buf_wipe),
		cmocka_unit_test(test_str_copy),
		cmocka_unit_test(test_str_copyn),
		cmocka_unit_test(test_str_fmt),
		cmocka_unit_test(test_str_to_u64),
		cmocka_unit_test(test_str_to_size),
		cmocka_unit_test(test_str_to_seconds),
		cmocka_unit_test(test_str_to_bool),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_str_rfc5322_date),
		cmocka_unit_test(test_str_misc),
		cmocka_unit_test(test_logline_escaping),
		cmocka_unit_test(test_logline_capping),
		cmocka_unit_test(test_log_printf_family),
		cmocka_unit_test(test_workers_run),
		cmocka_unit_test(test_workers_queue_full),
		cmocka_unit_test(test_workers_free_drains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
