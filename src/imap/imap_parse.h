/* SPDX-License-Identifier: MIT */
/*
 * imap_parse.h - the IMAP command grammar (RFC 3501 9, RFC 7888 literals)
 * as a token stream: a command is assembled from lines and literals into
 * one bounded arena of tokens (atoms, strings, literals, parentheses),
 * then each command walks its arguments with the imap_arg_* readers.
 * Also sequence sets and modified UTF-7 mailbox names. No I/O here.
 */
#ifndef MSS_IMAP_PARSE_H
#define MSS_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum imap_tok_type {
	IMAP_TOK_ATOM,		/* incl. "[...]" sections and NIL */
	IMAP_TOK_STRING,	/* quoted, unescaped */
	IMAP_TOK_LITERAL,	/* {n} or {n+} data */
	IMAP_TOK_LPAREN,
	IMAP_TOK_RPAREN,
};

struct imap_tok {
	uint8_t type;
	uint32_t off;		/* into the command's data buffer */
	uint32_t len;
};

/* Results of feeding one line to the assembler. */
enum imap_line_result {
	IMAP_LINE_DONE,		/* the command is complete */
	IMAP_LINE_LITERAL,	/* a literal of *lit_len follows */
	IMAP_LINE_ERROR,	/* *error_r says why; the command is dropped */
};

struct imap_cmdbuf {
	struct buf data;	/* atom/string/literal bytes */
	size_t max_base;	/* data.max between commands */
	struct imap_tok *toks;
	size_t n_toks, cap_toks, max_toks;
	unsigned depth, max_depth;
	bool in_literal;	/* between LITERAL and its data */
};

void imap_cmdbuf_init(struct imap_cmdbuf *c, size_t max_data,
		      size_t max_toks, unsigned max_depth);
void imap_cmdbuf_reset(struct imap_cmdbuf *c);
void imap_cmdbuf_free(struct imap_cmdbuf *c);

/*
 * imap_cmdbuf_line - tokenize one line (CRLF removed). When it ends with
 * a literal announcement, returns IMAP_LINE_LITERAL with its size in
 * *lit_len and *sync (true for {n}, false for {n+}); the caller reads the
 * bytes onto the end of c->data and then calls imap_cmdbuf_literal with
 * where they start and how many there are, then feeds the next line.
 * On IMAP_LINE_ERROR *error_r is a static sentence for a BAD reply.
 */
enum imap_line_result imap_cmdbuf_line(struct imap_cmdbuf *c,
				       const char *line, size_t len,
				       uint64_t *lit_len, bool *sync,
				       const char **error_r);
int imap_cmdbuf_literal(struct imap_cmdbuf *c, size_t off, size_t len);

/* A reader over the tokens of a complete command. */
struct imap_args {
	const struct imap_cmdbuf *c;
	size_t i;
};

static inline const char *
imap_tok_data(const struct imap_cmdbuf *c, const struct imap_tok *t)
{
	return buf_data(&c->data) + t->off;
}

/* imap_arg_* - 1 and the value when the next token has that shape, 0
 * (nothing consumed) otherwise. Strings come NUL-terminated in the
 * arena; *len_r is their length (they may hold NULs only as literals). */
const struct imap_tok *imap_arg_peek(const struct imap_args *a);
bool imap_arg_end(const struct imap_args *a);
int imap_arg_atom(struct imap_args *a, const char **p, size_t *len);
/* astring: atom, quoted or literal */
int imap_arg_astring(struct imap_args *a, const char **p, size_t *len);
/* nstring: like astring, or NIL (*p == NULL) */
int imap_arg_nstring(struct imap_args *a, const char **p, size_t *len);
int imap_arg_string(struct imap_args *a, const char **p, size_t *len);
int imap_arg_literal(struct imap_args *a, const char **p, size_t *len);
int imap_arg_lparen(struct imap_args *a);
int imap_arg_rparen(struct imap_args *a);
/* imap_arg_skip - one token, or one whole parenthesised list. */
void imap_arg_skip(struct imap_args *a);
bool imap_atom_is(const char *p, size_t len, const char *word);

/* ---- sequence sets ---- */

#define IMAP_STAR ((int64_t)-1)

struct imap_range {
	int64_t lo, hi;		/* as written; IMAP_STAR stands for '*' */
};

struct imap_seqset {
	struct imap_range *r;
	size_t n, cap;
};

/*
 * imap_seqset_parse - "1,3:5,7:*,*" (RFC 3501 sequence-set, also the
 * "$" of RFC 5182 is not supported). Ranges are kept as written (a:b
 * and b:a mean the same). At most max_ranges ranges. Returns 0 or
 * ERR_PROTO / ERR_LIMIT.
 */
int imap_seqset_parse(const char *p, size_t len, size_t max_ranges,
		      struct imap_seqset *s);
void imap_seqset_free(struct imap_seqset *s);
/* imap_range_get - a range's bounds, '*' meaning star, lo <= hi. */
void imap_range_get(const struct imap_range *r, uint32_t star, uint32_t *lo,
		    uint32_t *hi);
/* imap_seqset_has - is v in the set, with '*' meaning star? */
bool imap_seqset_has(const struct imap_seqset *s, uint32_t v, uint32_t star);
/* imap_seqset_print - a compact UID set "1:3,7" from sorted values. */
int imap_seqset_print(const uint32_t *v, size_t n, struct buf *out);

/* ---- mailbox names (RFC 3501 5.1.3 modified UTF-7) ---- */

/* imap_utf7_decode - wire name to UTF-8; ERR_PROTO when not valid mUTF-7
 * (an unencoded 8-bit octet, bad base64, an encoded run that holds only
 * printable ASCII, or a '&' not closed by '-'). */
int imap_utf7_decode(const char *in, size_t len, struct buf *out);
/* imap_utf7_encode - UTF-8 name to its wire form. */
int imap_utf7_encode(const char *in, size_t len, struct buf *out);

#endif
