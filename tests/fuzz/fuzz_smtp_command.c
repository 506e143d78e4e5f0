/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_command.c - an SMTP command line through smtp_parse_verb,
 * smtp_parse_path (FROM: and TO:), smtp_parse_bdat and smtp_addr_check,
 * checking that every slice stays inside the input and results agree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

static int
inside(const char *p, size_t len, struct strv in)
{
	return p >= in.p && len <= in.len && p - in.p <= (long)(in.len - len);
}

static void
check_path(struct strv args, const char *prefix)
{
	struct smtp_path p;
	const char *error = NULL;
	int r = smtp_parse_path(args, prefix, &p, &error);

	if (r < 0) {
		CHECK(r == ERR_PROTO);
		/* a reply text that starts with an enhanced status code */
		CHECK(error != NULL && error[0] == '5' && error[1] == '.');
		return;
	}
	CHECK(r == 0);
	size_t alen = strnlen(p.addr, sizeof(p.addr));
	CHECK(alen < sizeof(p.addr));
	CHECK(p.is_null == (alen == 0));
	CHECK(p.n_params <= SMTP_PARAMS_MAX);
	for (size_t i = 0; i < p.n_params; i++) {
		const struct smtp_param *pr = &p.params[i];
		CHECK(pr->key.len > 0 && inside(pr->key.p, pr->key.len, args));
		if (pr->value.p != NULL)
			CHECK(pr->value.len > 0 &&
			    inside(pr->value.p, pr->value.len, args));
		CHECK(smtp_param_is(pr, "") == false);
	}
	if (p.is_null)
		return;
	/* What the path parser accepted, the address check accepts. */
	CHECK(smtp_addr_check(p.addr, alen, true, &error) == 0);
	if (!p.is_utf8)
		CHECK(smtp_addr_check(p.addr, alen, false, &error) == 0);
	const char *dom = smtp_addr_domain(p.addr);
	CHECK(dom >= p.addr && dom <= p.addr + alen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct strv whole = { line, size }, args;
	const char *error;

	enum smtp_cmd cmd = smtp_parse_verb(line, size, &args);
	CHECK(cmd >= SMTP_CMD_UNKNOWN && cmd <= SMTP_CMD_AUTH);
	CHECK(inside(args.p, args.len, whole));

	check_path(args, "FROM:");
	check_path(args, "TO:");
	check_path(whole, "FROM:");
	check_path(whole, "TO:");

	uint64_t bsize = 0;
	bool last = false;
	if (smtp_parse_bdat(args, &bsize, &last) == 0)
		CHECK(bsize < (1ULL << 63));
	if (smtp_parse_bdat(whole, &bsize, &last) == 0)
		CHECK(bsize < (1ULL << 63));

	/* ASCII-only acceptance implies UTF-8 acceptance. */
	int a = smtp_addr_check(line, size, false, &error);
	int u = smtp_addr_check(line, size, true, &error);
	CHECK(a == 0 || a == ERR_PROTO);
	CHECK(u == 0 || u == ERR_PROTO);
	if (a == 0)
		CHECK(u == 0);
	return 0;
}
