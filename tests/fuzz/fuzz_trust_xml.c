/* SPDX-License-Identifier: MIT */
/*
 * fuzz_trust_xml.c - arbitrary bytes as the ANS white-list file through
 * trust_xml_load (inputs up to 64 KiB), with and without skip_bad: it
 * yields a list of distinct names that normalize to themselves, or fails
 * with a negative code and one line naming the file; the two modes agree;
 * and libxml2 never loads anything else (its entity loader and input
 * callbacks abort if called). Nothing leaks either way.
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
#include "relay/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX 65536
#define NOW INT64_C(1795341600)
#define ERR_LEN 1024

static char dir[64];
static char path[96];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

/* Anything libxml2 would fetch besides our file is a failure. */
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

/* setup - one private file, made once, removed at exit; the watches. */
static const char *
setup(void)
{
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/mss-fuzz-trust.XXXXXX",
		    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ?
		    tmp : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/list.xml", dir);
		atexit(cleanup);
		xmlInitParser();
		xmlSetExternalEntityLoader(no_loader);
		CHECK(xmlRegisterInputCallbacks(no_match, no_open, no_read,
		    no_close) >= 0);
	}
	return path;
}

static int
cmp_domain(const void *a, const void *b)
{
	return strcmp(((const struct store_trust *)a)->domain,
	    ((const struct store_trust *)b)->domain);
}

struct result {
	int r;
	struct store_trust *list;
	size_t n, n_bad;
	char err[ERR_LEN];
};

static void
run(const char *p, bool skip_bad, struct result *res)
{
	memset(res, 0x5a, sizeof(*res));
	res->r = trust_xml_load(p, NOW, skip_bad, &res->list, &res->n,
	    &res->n_bad, res->err, sizeof(res->err));
	size_t elen = strnlen(res->err, sizeof(res->err));
	CHECK(elen < sizeof(res->err));
	for (size_t i = 0; i < elen; i++)
		CHECK((unsigned char)res->err[i] >= 0x20 &&
		    res->err[i] != 0x7f);
	if (res->r < 0) {
		CHECK(res->r == ERR_INVAL || res->r == ERR_LIMIT);
		CHECK(res->list == NULL && res->n == 0 && res->n_bad == 0);
		CHECK(strncmp(res->err, p, strlen(p)) == 0);
		CHECK(res->err[strlen(p)] == ':');
		return;
	}
	CHECK(res->r == 0);
	CHECK(res->err[0] == '\0');
	CHECK(res->list != NULL && res->n >= 1 && res->n <= TRUST_LIST_MAX);
	CHECK(skip_bad || res->n_bad == 0);
	for (size_t i = 0; i < res->n; i++) {
		const struct store_trust *t = &res->list[i];
		char again[STORE_HOST_MAX];
		const char *why;
		size_t dlen = strnlen(t->domain, sizeof(t->domain));
		CHECK(dlen >= 1 && dlen <= 253);
		CHECK(trust_domain_normalize(t->domain, again, sizeof(again),
		    &why) == 0);
		CHECK(strcmp(again, t->domain) == 0);
		CHECK(t->route[0] == '\0');
		CHECK(strcmp(t->source, "import") == 0);
		CHECK(t->added == NOW);
	}
	/* no name twice */
	struct store_trust *sorted = malloc(res->n * sizeof(*sorted));
	CHECK(sorted != NULL);
	memcpy(sorted, res->list, res->n * sizeof(*sorted));
	qsort(sorted, res->n, sizeof(*sorted), cmp_domain);
	for (size_t i = 1; i < res->n; i++)
		CHECK(strcmp(sorted[i - 1].domain, sorted[i].domain) != 0);
	free(sorted);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result strict, lax;

	if (size > INPUT_MAX)
		return 0;
	const char *p = setup();
	FILE *f = fopen(p, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	run(p, false, &strict);
	run(p, true, &lax);
	/* Skipping bad names only ever turns a bad-name failure into a
	 * list: a strict success is the same list with nothing skipped, a
	 * lax failure is a strict one, and a lax list without skips is a
	 * strict success. */
	if (strict.r == 0) {
		CHECK(lax.r == 0 && lax.n_bad == 0 && lax.n == strict.n);
		for (size_t i = 0; i < strict.n; i++)
			CHECK(memcmp(&strict.list[i], &lax.list[i],
			    sizeof(strict.list[i])) == 0);
	}
	if (lax.r < 0)
		CHECK(strict.r < 0);
	if (lax.r == 0 && lax.n_bad == 0)
		CHECK(strict.r == 0);
	free(strict.list);
	free(lax.list);
	return 0;
}
