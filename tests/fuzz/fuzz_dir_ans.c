/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dir_ans.c - arbitrary bytes (up to 64 KiB) as an ANS extract file
 * through dir_read_ans, read as MSS, as PS and with the layout detected,
 * each strict and not: the read ends with 0 or a negative code and a
 * one-line "FILE:..." message; every record handed on has a key of its
 * source's prefix, a mailbox for MSS, an IdNat for PS, only valid UTF-8
 * NUL-terminated strings within their arrays, E.164 phones, increasing
 * line numbers past the header; every bad line is reported as it is
 * counted; a strict success is a lax one with nothing skipped and the
 * same records. Nothing leaks either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/str.h"
#include "directory/directory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX 65536
#define ERR_LEN 1024

static char dir[64];
static char path[96];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

/* setup - one private file per process, made once, removed at exit. */
static const char *
setup(void)
{
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/mss-fuzz-ans.XXXXXX",
		    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ?
		    tmp : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/extract.txt", dir);
		atexit(cleanup);
	}
	return path;
}

/* A string field: NUL within its array, valid UTF-8, no control. */
#define STR_OK(s) str_ok((s), sizeof(s))

static void
str_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	CHECK(n < size);
	CHECK(utf8_valid(s, n));
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

struct result {
	int fmt;			/* asked for */
	int r;
	char err[ERR_LEN];
	struct dir_read_opts o;
	unsigned long n, bad_calls;
	unsigned long last_line;
	uint8_t src;			/* of the first record */
	uint64_t hash;			/* of the records' keys and lines */
};

static void
on_bad(const char *file, unsigned long line, const char *reason, void *arg)
{
	struct result *res = arg;

	CHECK(strcmp(file, path) == 0);
	CHECK(line >= 2);
	CHECK(reason[0] != '\0' && strlen(reason) < 512);
	for (const char *p = reason; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 0x20);
	res->bad_calls++;
}

static int
on_rec(struct dir_record *r, void *arg)
{
	struct result *res = arg;
	uint8_t src;

	STR_OK(r->key);
	if (strncmp(r->key, "mss:", 4) == 0) {
		src = DIR_SRC_MSS;
		CHECK(r->n_mbox == 1);
		CHECK(strcmp(r->key + 4, r->mbox[0].addr) == 0);
		CHECK(strchr(r->mbox[0].addr, '@') != NULL);
	} else {
		CHECK(strncmp(r->key, "ps:", 3) == 0);
		src = DIR_SRC_PS;
		CHECK(r->idnat[0] != '\0');
		CHECK(r->n_mbox == 0);
		size_t k = strlen(r->idnat);
		CHECK(strncmp(r->key + 3, r->idnat, k) == 0);
		CHECK(r->key[3 + k] == '/');
		CHECK(strcmp(r->key + 4 + k, r->org_id) == 0);
	}
	if (res->fmt == DIR_FMT_MSS)
		CHECK(src == DIR_SRC_MSS);
	if (res->fmt == DIR_FMT_PS)
		CHECK(src == DIR_SRC_PS);
	if (res->n == 0)
		res->src = src;
	CHECK(src == res->src);		/* one layout per file */

	STR_OK(r->idnat);
	STR_OK(r->id_type);
	STR_OK(r->rpps);
	STR_OK(r->civility);
	STR_OK(r->title);
	STR_OK(r->family);
	STR_OK(r->given);
	STR_OK(r->profession_code);
	STR_OK(r->profession);
	STR_OK(r->category);
	STR_OK(r->specialty_code);
	STR_OK(r->specialty);
	STR_OK(r->role);
	STR_OK(r->org_id);
	STR_OK(r->finess);
	STR_OK(r->siret);
	STR_OK(r->siren);
	STR_OK(r->org_name);
	STR_OK(r->service);
	STR_OK(r->street);
	STR_OK(r->postcode);
	STR_OK(r->city);
	STR_OK(r->country);
	STR_OK(r->src_file);
	CHECK(strcmp(r->src_file, path) == 0);
	CHECK(r->n_mbox <= DIR_MBOX_MAX);
	for (size_t i = 0; i < r->n_mbox; i++) {
		STR_OK(r->mbox[i].addr);
		STR_OK(r->mbox[i].type);
	}
	CHECK(r->n_phone <= 2);
	for (size_t i = 0; i < r->n_phone; i++) {
		size_t n = strnlen(r->phone[i], sizeof(r->phone[i]));
		CHECK(n >= 9 && n <= 16 && r->phone[i][0] == '+');
		for (size_t k = 1; k < n; k++)
			CHECK(r->phone[i][k] >= '0' && r->phone[i][k] <= '9');
	}
	if (r->rpps[0] != '\0')
		CHECK(strlen(r->rpps) == 11 &&
		    strcmp(r->idnat + 1, r->rpps) == 0);
	CHECK(r->src_line >= 2 && r->src_line > res->last_line);
	res->last_line = r->src_line;
	res->n++;
	for (const char *p = r->key; *p != '\0'; p++)
		res->hash = (res->hash ^ (uint8_t)*p) * 1099511628211u;
	res->hash = (res->hash ^ r->src_line) * 1099511628211u;
	return 0;
}

static void
run(const char *p, int fmt, bool strict, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->fmt = fmt;
	res->hash = 14695981039346656037u;
	res->o.strict = strict;
	res->o.bad = on_bad;
	res->o.bad_arg = res;
	res->r = dir_read_ans(p, fmt, &res->o, on_rec, res, res->err,
	    sizeof(res->err));
	size_t elen = strnlen(res->err, sizeof(res->err));
	CHECK(elen < sizeof(res->err));
	for (size_t i = 0; i < elen; i++)
		CHECK((unsigned char)res->err[i] >= 0x20);
	CHECK(res->o.bad_r == res->bad_calls);
	CHECK(res->o.bad_r <= res->o.lines_r);
	CHECK(res->n + res->o.bad_r <= res->o.lines_r);
	if (strict)
		CHECK(res->o.bad_r == 0);
	if (res->r < 0) {
		CHECK(res->r == ERR_PROTO || res->r == ERR_IO ||
		    res->r == ERR_INVAL);
		CHECK(strncmp(res->err, p, strlen(p)) == 0);
		CHECK(res->err[strlen(p)] == ':');
		return;
	}
	CHECK(res->r == 0);
	CHECK(res->err[0] == '\0');
	CHECK(res->n + res->o.bad_r == res->o.lines_r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int fmts[] = { DIR_FMT_MSS, DIR_FMT_PS,
	    DIR_FMT_UNKNOWN };
	static struct result strict, lax;

	if (size > INPUT_MAX)
		return 0;
	const char *p = setup();
	FILE *f = fopen(p, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		run(p, fmts[i], true, &strict);
		run(p, fmts[i], false, &lax);
		/* strict only turns a skipped line into a failure */
		if (strict.r == 0) {
			CHECK(lax.r == 0 && lax.o.bad_r == 0);
			CHECK(lax.n == strict.n && lax.hash == strict.hash);
		}
		if (lax.r < 0)
			CHECK(strict.r < 0);
		if (lax.r < 0 && lax.r != ERR_PROTO)
			CHECK(strict.r == lax.r);
	}
	return 0;
}
