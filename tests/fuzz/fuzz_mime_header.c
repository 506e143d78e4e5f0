/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mime_header.c - a message through mime_header_section, a walk over
 * every header field, and mime_mailbox_list on each address field, with
 * checks that slices stay inside the input and the walk always advances.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define ADDRS_MAX 8

static int
is_address_field(struct strv name)
{
	static const char *const names[] = { "From", "To", "Cc", "Bcc",
		"Reply-To", "Sender", "Resent-From", "Resent-To" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name.len == strlen(names[i]) &&
		    strncasecmp(name.p, names[i], name.len) == 0)
			return 1;
	return 0;
}

static void
mailboxes(struct strv value)
{
	char addrs[ADDRS_MAX][MIME_ADDR_MAX];
	/* A copy of exactly the value's size: no reading past it. */
	char *v = malloc(value.len > 0 ? value.len : 1);
	CHECK(v != NULL);
	if (value.len > 0)
		memcpy(v, value.p, value.len);
	int n = mime_mailbox_list(v, value.len, addrs, ADDRS_MAX);
	CHECK(n == ERR_PROTO || n == ERR_LIMIT || (n >= 1 && n <= ADDRS_MAX));
	for (int i = 0; i < n; i++)
		CHECK(strnlen(addrs[i], MIME_ADDR_MAX) < MIME_ADDR_MAX);
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	size_t body = SIZE_MAX;
	size_t hlen = mime_header_section(msg, size, &body);

	CHECK(hlen <= size && body <= size && hlen <= body);
	if (body < size || (hlen < size && body == size && hlen + 2 == size))
		CHECK(body >= 2 && msg[body - 2] == '\r' &&
		    msg[body - 1] == '\n');

	struct mime_hdr_iter it;
	struct strv name, value;
	const char *prev = msg;
	size_t n = 0;
	int r;

	mime_header_iter_init(&it, msg, hlen);
	while ((r = mime_header_next(&it, &name, &value)) == 1) {
		CHECK(++n <= hlen);
		CHECK(it.p > prev && it.p <= msg + hlen);
		prev = it.p;
		CHECK(name.len > 0 && name.p >= msg &&
		    name.p + name.len <= msg + hlen);
		CHECK(memchr(name.p, ':', name.len) == NULL);
		CHECK(value.p == name.p + name.len + 1);
		CHECK(value.p + value.len <= msg + hlen);
		if (is_address_field(name))
			mailboxes(value);
	}
	CHECK(r == 0 || r == ERR_PROTO);
	return 0;
}
