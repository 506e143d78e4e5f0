/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dir_json.c - arbitrary bytes (inputs up to 64 KiB) as a file of
 * local records through dir_read_json, strict and not, and as one JSON
 * value through dir_record_from_json. Every record has a key of a known
 * source, bounded UTF-8 strings without control characters, lower-case
 * mailboxes of a known type, E.164 phones, https push endpoints, distinct
 * known channels and whole quiet hours; each one survives
 * to_json -> from_json -> to_json unchanged; failures are one line
 * naming the file; the strict run's records are the first ones of the
 * lax run. Nothing leaks either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

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

static const char *
setup(void)
{
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/mss-fuzz-json.XXXXXX",
		    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ?
		    tmp : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/records.json", dir);
		atexit(cleanup);
	}
	return path;
}

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
	FIELD_OK(r->key);
	CHECK(dir_source_of_key(r->key) != DIR_SRC_NONE);
	FIELD_OK(r->idnat);
	FIELD_OK(r->id_type);
	FIELD_OK(r->rpps);
	FIELD_OK(r->civility);
	FIELD_OK(r->title);
	FIELD_OK(r->family);
	FIELD_OK(r->given);
	FIELD_OK(r->profession_code);
	FIELD_OK(r->profession);
	FIELD_OK(r->category);
	FIELD_OK(r->specialty_code);
	FIELD_OK(r->specialty);
	FIELD_OK(r->role);
	FIELD_OK(r->org_id);
	FIELD_OK(r->finess);
	FIELD_OK(r->siret);
	FIELD_OK(r->siren);
	FIELD_OK(r->org_name);
	FIELD_OK(r->service);
	FIELD_OK(r->street);
	FIELD_OK(r->postcode);
	FIELD_OK(r->city);
	FIELD_OK(r->country);
	FIELD_OK(r->lang);
	FIELD_OK(r->cert_ref);
	FIELD_OK(r->account);
	CHECK(r->n_mbox <= DIR_MBOX_MAX);
	for (size_t i = 0; i < r->n_mbox; i++) {
		FIELD_OK(r->mbox[i].addr);
		CHECK(strchr(r->mbox[i].addr, '@') != NULL);
		for (const char *p = r->mbox[i].addr; *p != '\0'; p++)
			CHECK(*p < 'A' || *p > 'Z');
		CHECK(strcmp(r->mbox[i].type, "PER") == 0 ||
		    strcmp(r->mbox[i].type, "CAB") == 0 ||
		    strcmp(r->mbox[i].type, "ORG") == 0 ||
		    strcmp(r->mbox[i].type, "APP") == 0);
	}
	CHECK(r->n_phone <= DIR_PHONE_MAX);
	for (size_t i = 0; i < r->n_phone; i++) {
		FIELD_OK(r->phone[i]);
		CHECK(r->phone[i][0] == '+');
		CHECK(strspn(r->phone[i] + 1, "0123456789") ==
		    strlen(r->phone[i]) - 1);
	}
	CHECK(r->n_push <= DIR_PUSH_MAX);
	for (size_t i = 0; i < r->n_push; i++) {
		FIELD_OK(r->push[i].endpoint);
		FIELD_OK(r->push[i].p256dh);
		FIELD_OK(r->push[i].auth);
		CHECK(strncmp(r->push[i].endpoint, "https://", 8) == 0);
		CHECK(strlen(r->push[i].p256dh) >= 87);
		CHECK(strlen(r->push[i].auth) >= 22);
	}
	CHECK(r->n_channels <= DIR_CHANNELS_MAX);
	for (size_t i = 0; i < r->n_channels; i++) {
		CHECK(r->channels[i] >= DIR_CH_MAIL &&
		    r->channels[i] <= DIR_CH_SMS);
		for (size_t j = 0; j < i; j++)
			CHECK(r->channels[i] != r->channels[j]);
	}
	CHECK((r->quiet_start == -1 && r->quiet_end == -1) ||
	    (r->quiet_start >= 0 && r->quiet_start < 1440 &&
	    r->quiet_end >= 0 && r->quiet_end < 1440));
}

/* round_trip - to_json, back, and to_json again give the same JSON;
 * the provenance is written but not read back. */
static void
round_trip(const struct dir_record *r)
{
	struct dir_record again;
	char err[DIR_ERR_MAX];
	json_t *j = dir_record_to_json(r);

	CHECK(j != NULL);
	(void)json_object_del(j, "source");
	CHECK(dir_record_from_json(j, &again, err, sizeof(err)) == 0);
	check_record(&again);
	CHECK(strcmp(again.key, r->key) == 0);
	json_t *k = dir_record_to_json(&again);
	CHECK(k != NULL);
	CHECK(json_equal(j, k));
	json_decref(j);
	json_decref(k);
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
	uint32_t keys[KEYS_MAX];
	unsigned long n_bad, bad_r, lines_r;
};

static int
emit(struct dir_record *rec, void *arg)
{
	struct result *res = arg;

	check_record(rec);
	CHECK(strcmp(rec->src_file, path) == 0);
	CHECK(rec->src_line >= 1);
	round_trip(rec);
	CHECK(res->n < KEYS_MAX);
	/* keys made up for records without one are random: not compared */
	res->keys[res->n++] = strncmp(rec->key, "local:", 6) == 0 ? 0 :
	    hash(rec->key);
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
run(const char *p, bool strict, struct result *res)
{
	struct dir_read_opts o = { .strict = strict, .bad = bad,
	    .bad_arg = res };

	memset(res, 0, sizeof(*res));
	memset(res->err, 0x5a, sizeof(res->err));
	res->r = dir_read_json(p, &o, emit, res, res->err, sizeof(res->err));
	res->bad_r = o.bad_r;
	res->lines_r = o.lines_r;
	size_t elen = strnlen(res->err, sizeof(res->err));
	CHECK(elen < sizeof(res->err));
	for (size_t i = 0; i < elen; i++)
		CHECK((unsigned char)res->err[i] >= 0x20 &&
		    res->err[i] != 0x7f);
	CHECK(res->bad_r == res->n_bad);
	/* each record read is handed on or skipped; strict stops on one */
	CHECK(res->n + res->bad_r == res->lines_r ||
	    (strict && res->r < 0 && res->n + 1 == res->lines_r));
	if (res->r < 0) {
		CHECK(res->r == ERR_INVAL);
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
	static struct result strict, lax;
	struct dir_record rec;
	char err[DIR_ERR_MAX];
	json_error_t je;

	if (size > INPUT_MAX)
		return 0;
	const char *p = setup();
	FILE *f = fopen(p, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	run(p, true, &strict);
	run(p, false, &lax);
	CHECK(strict.n <= lax.n);
	CHECK(memcmp(strict.keys, lax.keys,
	    strict.n * sizeof(strict.keys[0])) == 0);
	if (strict.r == 0)
		CHECK(lax.r == 0 && lax.n == strict.n && lax.bad_r == 0);
	if (lax.r < 0)
		CHECK(strict.r < 0);
	if (lax.r == 0 && lax.bad_r == 0)
		CHECK(strict.r == 0);

	/* the bytes as one value, NUL characters allowed, as the API or
	 * another caller may hand it over */
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY |
	    JSON_ALLOW_NUL, &je);
	if (j != NULL) {
		memset(err, 0x5a, sizeof(err));
		int r = dir_record_from_json(j, &rec, err, sizeof(err));
		if (r == 0) {
			CHECK(err[0] == '\0');
			check_record(&rec);
			round_trip(&rec);
		} else {
			size_t n = strnlen(err, sizeof(err));
			CHECK(r == ERR_INVAL);
			CHECK(n > 0 && n < sizeof(err));
			for (size_t i = 0; i < n; i++)
				CHECK((unsigned char)err[i] >= 0x20 &&
				    err[i] != 0x7f);
		}
		json_decref(j);
	}
	return 0;
}
