/* SPDX-License-Identifier: MIT */
/*
 * mime_struct_int.h - shared only inside src/mime between the structure
 * walker (mime_struct.c), the BODY/BODYSTRUCTURE writer (mime_body.c),
 * the ENVELOPE writer (mime_envelope.c), the RFC 822 lexer and IMAP
 * string writers (mime_lex.c) and the decoders (mime_decode.c).
 * Everything here works on slices of the message; nothing is kept.
 */
#ifndef MSS_MIME_STRUCT_INT_H
#define MSS_MIME_STRUCT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mime/mime_struct.h"

/* Bounds on the ready-to-send texts; beyond them the message is
 * described as a single part (mime_info_parse returns ERR_LIMIT). */
#define MIME_TEXT_MAX (1024 * 1024)
/* Scratch buffers hold copies of header values and tokens: bounded by
 * the message itself, the maximum only stops arithmetic surprises. */
#define MIME_SCRATCH_MAX ((size_t)1 << 40)
/* RFC 2046 5.1.1 allows 70 characters; Dovecot keeps 80, and so do we
 * (a longer boundary is cut, which only matters to broken senders). */
#define MIME_BOUNDARY_MAX 80

/* Per-part facts the walker hands to the writers (not stored). */
#define MIME_PF_IS_MIME 0x01	/* Content-* fields count */
#define MIME_PF_IN_HEADER 0x02	/* walker: header not finished yet */
#define MIME_PF_DIGEST 0x04	/* multipart/digest: parts default rfc822 */
#define MIME_PF_OPAQUE 0x08	/* fallback: describe as octet-stream */

struct mime_tree {
	const char *msg;
	size_t len;
	const struct mime_part *parts;
	const uint8_t *pflags;
	const uint32_t *lines;	/* LF count of each part's body */
	size_t n;
};

/* ---- RFC 822 lexer (mime_lex.c) ----
 * The token rules of Dovecot's rfc822-parser, which decide what IMAP
 * clients have seen from the most common server for years: comments and
 * folding are white space, quoted strings lose their quotes and escapes,
 * dots may be surrounded by white space. Each function returns 1 when
 * more input follows, 0 at the end of the input, -1 on a syntax error.
 * Text goes to `out`; a failed append is kept in `err` (sticky) and
 * parsing goes on, so callers check err once at the end. */
struct mime_lex {
	const unsigned char *p;
	const unsigned char *end;
	struct buf *comment;	/* text of the last comment, or NULL */
	int err;
};

void mime_lex_init(struct mime_lex *lx, const char *p, size_t len,
		   struct buf *comment);
int mime_lex_skip_lwsp(struct mime_lex *lx);
int mime_lex_atom(struct mime_lex *lx, struct buf *out);
int mime_lex_dot_atom(struct mime_lex *lx, struct buf *out);
int mime_lex_token(struct mime_lex *lx, struct buf *out);
int mime_lex_quoted(struct mime_lex *lx, struct buf *out);
int mime_lex_phrase(struct mime_lex *lx, struct buf *out);
int mime_lex_domain(struct mime_lex *lx, struct buf *out);
bool mime_lex_is_atext(unsigned char c);
/* mime_lex_add - append to out, remembering a failure in lx->err. */
void mime_lex_add(struct mime_lex *lx, struct buf *out, const void *p,
		  size_t n);

/* ---- header fields (mime_lex.c) ---- */
struct mime_hdr_walk {
	const char *p;
	const char *end;
};

struct mime_field {
	const char *name;	/* LWSP before the colon removed */
	size_t name_len;
	const char *value;	/* after the colon and leading LWSP, */
	size_t value_len;	/* folding kept, final newline excluded */
};

void mime_fields_init(struct mime_hdr_walk *hw, const char *hdr, size_t len);
/* mime_fields_next - 1 and the next field, 0 at the end. Lines without
 * a colon are skipped, as Dovecot skips them. */
int mime_fields_next(struct mime_hdr_walk *hw, struct mime_field *f);
bool mime_field_is(const struct mime_field *f, const char *name);
/* mime_field_clean - the value with NUL bytes replaced by U+FFFD (IMAP
 * strings cannot carry NUL); points into the message when there is no
 * NUL, else into scratch (reset first). NULL on allocation failure. */
const char *mime_field_clean(const struct mime_field *f, struct buf *scratch,
			     size_t *len_r);

/* ---- IMAP string writers (mime_lex.c) ---- */
/* mime_imap_nolf - CR and LF removed, then as mime_imap_string. */
int mime_imap_nolf(const char *s, size_t len, struct buf *out);
/* mime_imap_human - folding removed, runs of white space made one
 * space, trimmed: what Dovecot sends for subjects and display names. */
int mime_imap_human(const char *s, size_t len, struct buf *out);

/* ---- Content-Type and friends (mime_body.c) ---- */

/* A list of strings in one buffer, referred to by index. */
struct mime_strs {
	struct buf text;
	uint32_t *off;	/* n + 1 offsets: string i is [off[i], off[i+1]) */
	size_t n;
	size_t cap;
	int err;
};

void mime_strs_init(struct mime_strs *s);
void mime_strs_reset(struct mime_strs *s);
void mime_strs_free(struct mime_strs *s);
/* mime_strs_add - a new string; returns its index (or -1 after an error,
 * kept in s->err). */
int mime_strs_add(struct mime_strs *s, const void *p, size_t len);
const char *mime_strs_get(const struct mime_strs *s, int i, size_t *len_r);

/* What the walker needs from the first Content-Type of a part. */
struct mime_ctype {
	bool multipart;
	bool digest;
	bool rfc822;
	bool has_boundary;
	size_t boundary_len;
	char boundary[MIME_BOUNDARY_MAX];
};

/* mime_ctype_parse - classify a Content-Type value; 0 or ERR_NOMEM. */
int mime_ctype_parse(const char *value, size_t len, struct mime_strs *tmp,
		     struct mime_ctype *ct);

/* mime_body_write - BODY and BODYSTRUCTURE of the whole tree. */
int mime_body_write(const struct mime_tree *t, struct buf *body,
		    struct buf *bs);

/* mime_header_is_mime - a MIME-Version or Content-Type field is there:
 * the Content-* fields of a message (not of a body part) count. */
bool mime_header_is_mime(const char *hdr, size_t len);

/* mime_part_text_info - for mime_text: is part p text (Dovecot's rules:
 * no usable Content-Type means text/plain), and its charset and
 * Content-Transfer-Encoding (copied into strs, -1 when absent). */
int mime_part_text_info(const char *msg, const struct mime_part *p,
			bool is_mime, struct mime_strs *strs, bool *is_text,
			int *charset, int *cte);

/* ---- ENVELOPE (mime_envelope.c) ---- */
/* mime_envelope_write - "(date subject from ...)" of a header section. */
int mime_envelope_write(const char *hdr, size_t len, struct buf *out);

#endif
