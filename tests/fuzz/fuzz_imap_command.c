/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_command.c - a client's byte stream through the IMAP command
 * assembler as the session feeds it (lines at LF, literals onto the
 * arena's end), then every complete command walked with the readers:
 * sequence-set atoms through imap_seqset_*, every astring through
 * modified UTF-7 decode, encode and decode again, which must agree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "imap/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX 65536
#define LIT_MAX 65536		/* a literal announced larger: stop */
#define DATA_MAX 4096
#define TOKS_MAX 64
#define DEPTH_MAX 8
#define RANGES_MAX 16
#define UTF7_MAX (1 << 20)

/* check_error - a BAD reply's text: printable words. */
static void
check_error(const char *error)
{
	CHECK(error != NULL && error[0] != '\0');
	CHECK(strchr(error, ' ') != NULL);
	for (const char *p = error; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

static int
buf_eq(const struct buf *a, const struct buf *b)
{
	return buf_len(a) == buf_len(b) &&
	    memcmp(buf_data(a), buf_data(b), buf_len(a)) == 0;
}

/* check_utf7 - when the bytes decode, the name encodes to printable
 * ASCII that decodes to the same name, and encodes the same again. When
 * the bytes are taken for UTF-8 and encode, the result decodes back. */
static void
check_utf7(const char *p, size_t len)
{
	struct buf d1, e1, d2, e2;

	buf_init(&d1, UTF7_MAX);
	buf_init(&e1, UTF7_MAX);
	buf_init(&d2, UTF7_MAX);
	buf_init(&e2, UTF7_MAX);
	int r = imap_utf7_decode(p, len, &d1);
	CHECK(r == 0 || r == ERR_PROTO);
	if (r == 0) {
		CHECK(imap_utf7_encode(buf_data(&d1), buf_len(&d1), &e1) == 0);
		for (size_t i = 0; i < buf_len(&e1); i++)
			CHECK(buf_data(&e1)[i] >= 0x20 &&
			    buf_data(&e1)[i] < 0x7f);
		CHECK(imap_utf7_decode(buf_data(&e1), buf_len(&e1), &d2) ==
		    0);
		CHECK(buf_eq(&d1, &d2));
		CHECK(imap_utf7_encode(buf_data(&d2), buf_len(&d2), &e2) == 0);
		CHECK(buf_eq(&e1, &e2));
	}
	buf_free(&e1);
	buf_free(&d2);
	buf_init(&e1, UTF7_MAX);
	buf_init(&d2, UTF7_MAX);
	r = imap_utf7_encode(p, len, &e1);
	CHECK(r == 0 || r == ERR_PROTO);
	if (r == 0) {
		CHECK(imap_utf7_decode(buf_data(&e1), buf_len(&e1), &d2) ==
		    0);
		CHECK(buf_len(&d2) == len && memcmp(buf_data(&d2), p, len) ==
		    0);
	}
	buf_free(&d1);
	buf_free(&e1);
	buf_free(&d2);
	buf_free(&e2);
}

static int
looks_like_seqset(const char *p, size_t len)
{
	return len > 0 && strspn(p, "0123456789:*,") == len;
}

/* check_seqset - what parses has sane ranges; the members among 1..200
 * (star 100) printed compactly parse back to the same members. */
static void
check_seqset(const char *p, size_t len)
{
	struct imap_seqset s = { 0 }, t = { 0 };
	uint32_t v[200];
	size_t n = 0;

	int r = imap_seqset_parse(p, len, RANGES_MAX, &s);
	CHECK(r == 0 || r == ERR_PROTO || r == ERR_LIMIT);
	/* Without the limit: a syntax error stays one; the limit was hit
	 * by too many ranges, or before a syntax error further on. */
	int all = imap_seqset_parse(p, len, len, &t);
	if (r == ERR_PROTO)
		CHECK(all == ERR_PROTO);
	if (r == ERR_LIMIT)
		CHECK(all == ERR_PROTO || (all == 0 && t.n > RANGES_MAX));
	if (r == 0)
		CHECK(all == 0 && t.n == s.n);
	if (r != 0) {
		imap_seqset_free(&s);
		imap_seqset_free(&t);
		return;
	}
	CHECK(s.n >= 1 && s.n <= RANGES_MAX);
	for (size_t i = 0; i < s.n; i++) {
		const struct imap_range *g = &s.r[i];
		uint32_t lo, hi;
		CHECK(g->lo == IMAP_STAR ||
		    (g->lo >= 1 && g->lo <= UINT32_MAX));
		CHECK(g->hi == IMAP_STAR ||
		    (g->hi >= 1 && g->hi <= UINT32_MAX));
		imap_range_get(g, 100, &lo, &hi);
		CHECK(lo <= hi);
		CHECK(imap_seqset_has(&s, lo, 100));
		CHECK(imap_seqset_has(&s, hi, 100));
	}
	for (uint32_t x = 1; x <= 200; x++)
		if (imap_seqset_has(&s, x, 100))
			v[n++] = x;
	CHECK(!imap_seqset_has(&s, 0, 100));
	if (n > 0) {
		struct buf b;
		buf_init(&b, 4096);
		CHECK(imap_seqset_print(v, n, &b) == 0);
		CHECK(imap_seqset_parse(buf_data(&b), buf_len(&b), 200, &t) ==
		    0);
		size_t k = 0;
		for (uint32_t x = 1; x <= 200; x++) {
			int in = k < n && v[k] == x;
			CHECK(imap_seqset_has(&t, x, 7) == in);
			k += in;
		}
		buf_free(&b);
	}
	imap_seqset_free(&s);
	imap_seqset_free(&t);
}

/* walk - every token of a complete command through the readers. */
static void
walk(const struct imap_cmdbuf *c)
{
	struct imap_args a = { c, 0 };
	unsigned depth = 0;

	CHECK(c->n_toks <= TOKS_MAX && c->depth == 0 && !c->in_literal);
	while (!imap_arg_end(&a)) {
		const struct imap_tok *t = imap_arg_peek(&a);
		size_t i = a.i;
		const char *p = NULL;
		size_t len = 0;

		CHECK(t != NULL);
		if (t->type == IMAP_TOK_LPAREN) {
			CHECK(imap_arg_astring(&a, &p, &len) == 0);
			CHECK(imap_arg_rparen(&a) == 0 && a.i == i);
			/* a skip ends just after the matching ')' */
			struct imap_args b = a;
			imap_arg_skip(&b);
			CHECK(b.i > i + 1 && b.i <= c->n_toks);
			CHECK(c->toks[b.i - 1].type == IMAP_TOK_RPAREN);
			CHECK(imap_arg_lparen(&a) == 1);
			depth++;
			CHECK(depth <= DEPTH_MAX);
			continue;
		}
		if (t->type == IMAP_TOK_RPAREN) {
			CHECK(imap_arg_nstring(&a, &p, &len) == 0);
			CHECK(imap_arg_lparen(&a) == 0 && a.i == i);
			CHECK(depth > 0);
			CHECK(imap_arg_rparen(&a) == 1);
			depth--;
			continue;
		}
		/* atom, string or literal: in the arena, NUL-terminated */
		CHECK((size_t)t->off + t->len < buf_len(&c->data));
		CHECK(imap_tok_data(c, t)[t->len] == '\0');
		CHECK(imap_arg_lparen(&a) == 0 && imap_arg_rparen(&a) == 0);
		if (t->type == IMAP_TOK_ATOM) {
			CHECK(imap_arg_string(&a, &p, &len) == 0);
			CHECK(imap_arg_atom(&a, &p, &len) == 1);
			CHECK(len == t->len && len > 0);
			for (size_t k = 0; k < len; k++)
				CHECK((unsigned char)p[k] >= 0x20 &&
				    (unsigned char)p[k] < 0x80);
			if (looks_like_seqset(p, len))
				check_seqset(p, len);
			a.i = i;
			CHECK(imap_arg_nstring(&a, &p, &len) == 1);
			if (p == NULL)
				CHECK(imap_atom_is(imap_tok_data(c, t), t->len,
				    "NIL"));
			a.i = i;
		} else if (t->type == IMAP_TOK_STRING) {
			CHECK(imap_arg_atom(&a, &p, &len) == 0);
			CHECK(imap_arg_literal(&a, &p, &len) == 0);
			CHECK(imap_arg_string(&a, &p, &len) == 1);
			CHECK(len == t->len && memchr(p, '\0', len) == NULL);
			for (size_t k = 0; k < len; k++)
				CHECK((unsigned char)p[k] < 0x80);
			a.i = i;
		} else {
			CHECK(t->type == IMAP_TOK_LITERAL);
			CHECK(imap_arg_atom(&a, &p, &len) == 0);
			CHECK(imap_arg_literal(&a, &p, &len) == 1);
			CHECK(len == t->len);
			a.i = i;
		}
		CHECK(imap_arg_astring(&a, &p, &len) == 1 && a.i == i + 1);
		CHECK(p == imap_tok_data(c, t) && len == t->len);
		check_utf7(p, len);
	}
	CHECK(depth == 0);
	CHECK(imap_arg_peek(&a) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_cmdbuf c;
	size_t off = 0;
	bool after_literal = false;

	if (size > INPUT_MAX)
		return 0;
	imap_cmdbuf_init(&c, DATA_MAX, TOKS_MAX, DEPTH_MAX);
	while (off < size || after_literal) {
		/* the next line, LF and one CR before it removed */
		const uint8_t *nl = off < size ?
		    memchr(data + off, '\n', size - off) : NULL;
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		size_t len = end - off;
		/* an exact copy, so that a read past the line is seen */
		char *line = malloc(len > 0 ? len : 1);
		CHECK(line != NULL);
		if (len > 0)
			memcpy(line, data + off, len);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		off = nl != NULL ? end + 1 : size;
		after_literal = false;

		uint64_t lit_len = UINT64_MAX;
		bool sync = false;
		const char *error = NULL;
		enum imap_line_result r = imap_cmdbuf_line(&c, line, len,
		    &lit_len, &sync, &error);
		free(line);
		if (r == IMAP_LINE_ERROR) {
			check_error(error);
			imap_cmdbuf_reset(&c);
			CHECK(c.data.max == DATA_MAX && c.n_toks == 0);
			continue;
		}
		if (r == IMAP_LINE_DONE) {
			walk(&c);
			imap_cmdbuf_reset(&c);
			CHECK(c.data.max == DATA_MAX && c.n_toks == 0);
			continue;
		}
		CHECK(r == IMAP_LINE_LITERAL);
		CHECK(c.in_literal && lit_len != UINT64_MAX);
		if (lit_len > LIT_MAX)
			break;
		/* as on_line(): APPEND may grow the arena for this command */
		size_t need = buf_len(&c.data) + (size_t)lit_len + 1;
		bool append = c.n_toks >= 2 &&
		    c.toks[1].type == IMAP_TOK_ATOM &&
		    imap_atom_is(imap_tok_data(&c, &c.toks[1]), c.toks[1].len,
		    "APPEND");
		if (need > c.data.max && !append) {
			imap_cmdbuf_reset(&c);
			if (!sync)
				break;	/* BYE: the data is coming anyway */
			continue;	/* BAD: the client sends no data */
		}
		if (need > c.data.max)
			c.data.max = need + DATA_MAX;
		CHECK(buf_reserve(&c.data, (size_t)lit_len + 1) == 0);
		/* the next lit_len bytes, or what is left of the input */
		size_t n = size - off < lit_len ? size - off : (size_t)lit_len;
		size_t start = buf_len(&c.data);
		if (n > 0)
			memcpy(c.data.data + start, data + off, n);
		c.data.len += n;
		off += n;
		int lr = imap_cmdbuf_literal(&c, start, n);
		CHECK(lr == 0 || lr == ERR_LIMIT);
		CHECK(!c.in_literal);
		if (lr < 0) {
			imap_cmdbuf_reset(&c);
			break;		/* BYE */
		}
		CHECK(c.toks[c.n_toks - 1].type == IMAP_TOK_LITERAL);
		CHECK(c.toks[c.n_toks - 1].len == n);
		CHECK(memcmp(imap_tok_data(&c, &c.toks[c.n_toks - 1]),
		    data + off - n, n) == 0);
		after_literal = true;	/* the command goes on */
	}
	imap_cmdbuf_free(&c);
	return 0;
}
