/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_data.c - the DATA decoder fed the input whole and in chunks
 * whose size comes from the first byte: both runs must end the same way,
 * at the same offset, with the same content, total and overflow flag.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define OUT_MAX 1024

struct run {
	int ret;
	size_t used;
	struct smtp_data d;
	struct buf out;
};

static void
run(const char *in, size_t len, size_t chunk, size_t max, struct run *r)
{
	size_t off = 0;

	smtp_data_init(&r->d);
	buf_init(&r->out, max);
	do {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = SIZE_MAX;
		r->ret = smtp_data_feed(&r->d, in + off, n, &used, &r->out);
		CHECK(r->ret == 0 || r->ret == 1 || r->ret == ERR_PROTO);
		CHECK(used <= n);
		if (r->ret == 0)
			CHECK(used == n);
		else
			CHECK(used > 0);
		off += used;
	} while (r->ret == 0 && off < len);
	r->used = off;
	CHECK(buf_len(&r->out) <= max);
	CHECK(buf_len(&r->out) <= r->d.total);
	CHECK(r->d.overflow == (buf_len(&r->out) < r->d.total));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = (size_t)data[0] % 32 + 1;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct run whole, parts, ref;

	run(in, len, len > 0 ? len : 1, OUT_MAX, &whole);
	run(in, len, chunk, OUT_MAX, &parts);
	/* A buffer large enough for everything: the true content. */
	run(in, len, len > 0 ? len : 1, len + 1, &ref);
	CHECK(!ref.d.overflow);

	CHECK(whole.ret == parts.ret && whole.ret == ref.ret);
	CHECK(whole.used == parts.used && whole.used == ref.used);
	CHECK(whole.d.total == parts.d.total &&
	    whole.d.total == ref.d.total);
	CHECK(whole.d.overflow == parts.d.overflow);
	CHECK(whole.d.overflow == (ref.d.total > OUT_MAX));
	if (!whole.d.overflow) {
		CHECK(buf_len(&whole.out) == buf_len(&parts.out));
		CHECK(memcmp(buf_data(&whole.out), buf_data(&parts.out),
		    buf_len(&whole.out)) == 0);
	}
	/* Whatever was kept is the start of the true content. */
	CHECK(memcmp(buf_data(&whole.out), buf_data(&ref.out),
	    buf_len(&whole.out)) == 0);
	CHECK(memcmp(buf_data(&parts.out), buf_data(&ref.out),
	    buf_len(&parts.out)) == 0);
	/* The content never holds a bare CR or LF, and ends at a line. */
	const char *c = buf_data(&ref.out);
	size_t n = buf_len(&ref.out);
	for (size_t i = 0; i < n; i++) {
		if (c[i] == '\r')
			CHECK(i + 1 < n && c[i + 1] == '\n');
		if (c[i] == '\n')
			CHECK(i > 0 && c[i - 1] == '\r');
	}
	if (ref.ret == 1) {
		CHECK(n == 0 || (n >= 2 && c[n - 2] == '\r' &&
		    c[n - 1] == '\n'));
		CHECK(ref.used >= 3 &&
		    memcmp(in + ref.used - 3, ".\r\n", 3) == 0);
	}
	buf_free(&whole.out);
	buf_free(&parts.out);
	buf_free(&ref.out);
	return 0;
}
