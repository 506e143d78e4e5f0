/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dir_fhir.c - arbitrary bytes as a FHIR bundle file through
 * dir_read_fhir (inputs up to 64 KiB), strict and not: every record is a
 * well-formed imported record (a "fhir:" key of one of the three resource
 * types and a FHIR id, bounded UTF-8 strings, lower-case mailboxes of a
 * known type, E.164 phones, no local part); a failure is one line naming
 * the file; the strict run's records are the first ones of the lax run,
 * and it succeeds exactly when the lax run does without skipping; an
 * emitter's error ends the read with that error. libxml2 never loads
 * anything else (its entity loader and input callbacks abort if called).
 * Nothing leaks either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>

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
#define KEYS_MAX 4096

static char dir[64];
static char path[96];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static xmlParserInputPtr
no_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)id;
	(void)ctxt;
	fprintf(stderr, "external entity loader called for %s\n",
	    url != NULL ? url : "(null)");
	abort();
}

static int
no_match(const char *uri)
{
	fprintf(stderr, "input callback asked for %s\n", uri);
	abort();
}

static void *
no_open(const char *uri)
{
	(void)uri;
	return NULL;
}

static int
no_read(void *ctx, char *buf, int len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return -1;
}

static int
no_close(void *ctx)
{
	(void)ctx;
	return 0;
}

static const char *
setup(void)
{
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/mss-fuzz-fhir.XXXXXX",
		    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ?
		    tmp : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/bundle.xml", dir);
		atexit(cleanup);
		xmlInitParser();
		xmlSetExternalEntityLoader(no_loader);
		CHECK(xmlRegisterInputCallbacks(no_match, no_open, no_read,
		    no_close) >= 0);
	}
	return path;
}

/* a string field: ends inside its array, UTF-8, no control character */
#define FIELD_OK(f) field_ok((f), sizeof(f))

static void
field_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	CHECK(n < size);
	CHECK(utf8_valid(s, n));
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void
check_record(const struct dir_record *r)
{
	static const char *const types[] = {
		"fhir:Practitioner/", "fhir:PractitionerRole/",
		"fhir:Organization/",
	};
	const char *id = NULL;

	for (size_t i = 0; i < 3; i++)
		if (strncmp(r->key, types[i], strlen(types[i])) == 0)
			id = r->key + strlen(types[i]);
	CHECK(id != NULL);
	CHECK(strlen(id) >= 1 && strlen(id) <= 64);
	CHECK(strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.") == strlen(id));
	CHECK(r->id == 0);
	FIELD_OK(r->key);
	FIELD_OK(r->idnat);
	FIELD_OK(r->id_type);
	FIELD_OK(r->rpps);
	FIELD_OK(r->title);
	FIELD_OK(r->family);
	FIELD_OK(r->given);
	FIELD_OK(r->profession_code);
	FIELD_OK(r->profession);
	FIELD_OK(r->specialty_code);
	FIELD_OK(r->specialty);
	FIELD_OK(r->role);
	FIELD_OK(r->org_id);
	FIELD_OK(r->finess);
	FIELD_OK(r->siret);
	FIELD_OK(r->siren);
	FIELD_OK(r->org_name);
	FIELD_OK(r->street);
	FIELD_OK(r->postcode);
	FIELD_OK(r->city);
	FIELD_OK(r->country);
	/* an RPPS is 11 digits, and then IdNat_PS is there too */
	if (r->rpps[0] != '\0') {
		CHECK(strlen(r->rpps) == 11);
		CHECK(strspn(r->rpps, "0123456789") == 11);
		CHECK(r->idnat[0] != '\0');
	}
	CHECK(r->n_mbox <= DIR_MBOX_MAX);
	for (size_t i = 0; i < r->n_mbox; i++) {
		const struct dir_mailbox *m = &r->mbox[i];
		FIELD_OK(m->addr);
		CHECK(strchr(m->addr, '@') != NULL);
		for (const char *p = m->addr; *p != '\0'; p++)
			CHECK(*p < 'A' || *p > 'Z');
		CHECK(strcmp(m->type, "PER") == 0 ||
		    strcmp(m->type, "CAB") == 0 ||
		    strcmp(m->type, "ORG") == 0 ||
		    strcmp(m->type, "APP") == 0);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(m->addr, r->mbox[j].addr) != 0);
	}
	CHECK(r->n_phone <= DIR_PHONE_MAX);
	for (size_t i = 0; i < r->n_phone; i++) {
		FIELD_OK(r->phone[i]);
		CHECK(r->phone[i][0] == '+');
		CHECK(strspn(r->phone[i] + 1, "0123456789") ==
		    strlen(r->phone[i]) - 1);
	}
	/* the local part is the gateway's own, never imported */
	CHECK(r->n_push == 0 && r->n_channels == 0);
	CHECK(r->quiet_start == -1 && r->quiet_end == -1);
	CHECK(r->lang[0] == '\0' && r->cert_ref[0] == '\0' &&
	    r->account[0] == '\0');
	CHECK(r->src_line > 0);
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct result {
	int r;
	char err[DIR_ERR_MAX];
	size_t n;
	uint32_t keys[KEYS_MAX];	/* hashes of the record keys */
	unsigned long n_bad, bad_r, lines_r;
	size_t stop_at;			/* emit fails at this record */
};

static int
emit(struct dir_record *rec, void *arg)
{
	struct result *res = arg;

	check_record(rec);
	if (res->stop_at != 0 && res->n + 1 == res->stop_at)
		return ERR_LIMIT;
	CHECK(res->n < KEYS_MAX);
	res->keys[res->n++] = hash(rec->key);
	return 0;
}

static void
bad(const char *file, unsigned long line, const char *reason, void *arg)
{
	struct result *res = arg;

	CHECK(strcmp(file, path) == 0);
	CHECK(line > 0);
	size_t n = strlen(reason);
	CHECK(n > 0 && n < DIR_ERR_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)reason[i] >= 0x20 && reason[i] != 0x7f);
	res->n_bad++;
}

static void
run(const char *p, bool strict, size_t stop_at, struct result *res)
{
	struct dir_read_opts o = { .strict = strict, .bad = bad,
	    .bad_arg = res };

	memset(res, 0, sizeof(*res));
	memset(res->err, 0x5a, sizeof(res->err));
	res->stop_at = stop_at;
	res->r = dir_read_fhir(p, &o, emit, res, res->err, sizeof(res->err));
	res->bad_r = o.bad_r;
	res->lines_r = o.lines_r;
	size_t elen = strnlen(res->err, sizeof(res->err));
	CHECK(elen < sizeof(res->err));
	for (size_t i = 0; i < elen; i++)
		CHECK((unsigned char)res->err[i] >= 0x20 &&
		    res->err[i] != 0x7f);
	CHECK(res->bad_r == res->n_bad);
	CHECK(res->n <= res->lines_r);	/* one record an entry at most */
	if (res->r < 0) {
		CHECK(res->r == ERR_INVAL || res->r == ERR_LIMIT);
		CHECK(strncmp(res->err, p, strlen(p)) == 0);
		CHECK(res->err[strlen(p)] == ':');
		return;
	}
	CHECK(res->r == 0);
	CHECK(res->err[0] == '\0');
	CHECK(!strict || res->bad_r == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result strict, lax, stop;

	if (size > INPUT_MAX)
		return 0;
	const char *p = setup();
	FILE *f = fopen(p, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	run(p, true, 0, &strict);
	run(p, false, 0, &lax);
	/* strict hands on the same records until its first bad entry */
	CHECK(strict.n <= lax.n);
	CHECK(memcmp(strict.keys, lax.keys,
	    strict.n * sizeof(strict.keys[0])) == 0);
	if (strict.r == 0)
		CHECK(lax.r == 0 && lax.n == strict.n && lax.bad_r == 0);
	if (lax.r < 0)
		CHECK(strict.r < 0);
	if (lax.r == 0 && lax.bad_r == 0)
		CHECK(strict.r == 0);
	/* the emitter's error wins, and nothing comes after it */
	if (lax.n > 0) {
		run(p, false, 1, &stop);
		CHECK(stop.r == ERR_LIMIT && stop.n == 0);
	}
	return 0;
}
