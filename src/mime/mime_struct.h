/* SPDX-License-Identifier: MIT */
/*
 * mime_struct.h - what IMAP needs to know about a message, computed once
 * at delivery and stored next to the sealed body, so FETCH never
 * reparses a message: the ENVELOPE, BODY and BODYSTRUCTURE responses
 * (RFC 3501 7.4.2) as ready-to-send IMAP text, and the byte ranges of
 * every part so that BODY[section] can decrypt only what it returns.
 * Also the decoding that SEARCH needs: RFC 2047 header words, transfer
 * encodings and charsets to UTF-8, and case folding.
 *
 * Where RFC 3501 leaves room, the answers are Dovecot 2.3's (checked
 * side by side on thousands of messages), so clients see what they
 * already know: part boundaries, defaults for broken or missing fields,
 * which of two fields wins, RFC 2231 continuations joined (not decoded),
 * message/global shown as a plain part. All functions are reentrant and
 * keep no state between calls; none depends on the process locale.
 */
#ifndef MSS_MIME_STRUCT_H
#define MSS_MIME_STRUCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define MIME_PARTS_MAX 1024	/* parts per message; beyond: ERR_LIMIT */
#define MIME_DEPTH_MAX 32	/* nesting of multipart / message/rfc822 */

/*
 * One node of the part tree, in depth-first order (a part's children
 * follow it; parents always come first). Offsets are from the start of
 * the message and body_off == hdr_off + hdr_len. For the root (index 0)
 * header is the message's header section including the blank line that
 * ends it, body the rest up to the end of the message. For a part inside
 * a multipart, header is its MIME header (including the blank line),
 * body its content (the CRLF before the next boundary excluded, RFC 2046
 * 5.1.1). A boundary line may cut a header short: the header then ends
 * before the CRLF preceding the boundary and the body is empty. A
 * message/rfc822 part has exactly one child, the encapsulated message,
 * right after it, whose header/body are that message's; the part's body
 * is the child's header plus body.
 */
struct mime_part {
	uint32_t parent;	/* index of the parent; 0 for the root */
	uint32_t n_children;
	uint32_t hdr_off, hdr_len;
	uint32_t body_off, body_len;
	uint8_t kind;		/* MIME_KIND_* */
};

enum mime_kind {
	MIME_KIND_LEAF = 0,	/* text/plain, application/pdf, ... */
	MIME_KIND_MULTIPART,	/* multipart/ *, with or without parts */
	MIME_KIND_MESSAGE,	/* message/rfc822 (message/global is a leaf,
				 * as RFC 3501's grammar and Dovecot 2.3) */
};

/* The three texts carry their outer parentheses; strings in them are
 * quoted or literal as mime_imap_string() writes them. */
struct mime_info {
	struct buf envelope;		/* "(date subject from ...)" */
	struct buf body;		/* BODY: no extension data */
	struct buf bodystructure;	/* BODYSTRUCTURE: with extension data */
	size_t n_parts;
	struct mime_part *parts;	/* malloc'd, n_parts entries */
};

/* mime_info_init - an empty mime_info (no allocation). */
void mime_info_init(struct mime_info *mi);
/* mime_info_free - release everything; mi is empty again, reusable.
 * Accepts NULL. */
void mime_info_free(struct mime_info *mi);

/*
 * mime_info_parse - analyse msg[len] (CRLF line endings; bare LF input
 * is accepted and described with its own sizes, not Dovecot's virtual
 * CRLF ones). mi must have been initialized; what it held is freed.
 * One pass over the message, no recursion over the input. Never fails
 * on a malformed message: what cannot be understood is described the
 * way RFC 3501 and Dovecot do (text/plain; charset us-ascii defaults,
 * NIL fields, MISSING_DOMAIN addresses, empty multiparts).
 * Returns 0; ERR_LIMIT when there are more than MIME_PARTS_MAX parts,
 * more than MIME_DEPTH_MAX levels, or a text over 1 MiB: the message
 * is then still fully described, as a single part (n_parts == 1, its
 * envelope kept; a multipart or message/rfc822 root shown as
 * "application" "octet-stream" so that BODY[1] and BODY[TEXT] still
 * give its content); ERR_LIMIT with n_parts == 0 for len >= 4 GiB;
 * ERR_NOMEM (mi is then empty).
 */
int mime_info_parse(const char *msg, size_t len, struct mime_info *mi);

/*
 * Compact binary form for the store, and back. The first byte is the
 * format version (1): three texts and the part table as LEB128 numbers,
 * header offsets delta-coded. mime_info_encode appends to out (which
 * bounds it); ERR_INVAL for a table the walker could not have made.
 * mime_info_decode fills an initialized mi (what it held is freed) and
 * checks everything inside the blob: lengths, table shape (parents
 * first, children counts, one child right after a message part, child
 * ranges inside their parent's body), no trailing bytes. Returns 0,
 * ERR_VERSION for an unknown first byte, ERR_CORRUPT (mi empty),
 * ERR_NOMEM. That offsets lie inside the stored message is the caller's
 * to check.
 */
int mime_info_encode(const struct mime_info *mi, struct buf *out);
int mime_info_decode(const void *p, size_t len, struct mime_info *mi);

/*
 * mime_section - resolve an IMAP section spec ("", "HEADER", "TEXT",
 * "1", "1.2", "2.MIME", "3.HEADER", "3.1.TEXT", ...; names are
 * case-insensitive; no HEADER.FIELDS here: the caller filters the HEADER
 * range) to a byte range of the message. Per RFC 3501 6.4.5: part 1 of a
 * non-multipart message is its body (and 1.MIME its header); HEADER and
 * TEXT of a part exist only for message/rfc822 parts (and the root);
 * MIME needs a part number; numbers go into a message/rfc822 part's
 * message. Returns 1 and sets *off and *out_len, 0 when the section does not
 * exist (the caller answers with an empty string, as Dovecot does),
 * ERR_PROTO for a malformed spec (part number 0 or with leading zeros,
 * empty component, unknown name, HEADER.FIELDS).
 */
int mime_section(const struct mime_info *mi, const char *spec, size_t len,
		 uint32_t *off, uint32_t *out_len);

/*
 * mime_header_decode - a header value as UTF-8 appended to out: folding
 * removed, RFC 2047 encoded words (B and Q, "charset*lang" allowed)
 * decoded, white space between two encoded words dropped (RFC 2047
 * 6.2), words of one charset joined before conversion (a character may
 * be split between them), any charset glibc iconv knows converted.
 * Left as sent: words with an unknown charset, words that do not decode
 * (bad syntax or base64). Raw 8-bit text: valid UTF-8 kept (RFC 6532),
 * other bytes read as Windows-1252 (legacy Latin-1 senders). Returns 0,
 * ERR_LIMIT (out full), ERR_NOMEM.
 */
int mime_header_decode(const char *value, size_t len, struct buf *out);

/*
 * mime_text - the text of every text/ * part of msg (Dovecot's notion of
 * text: no usable Content-Type counts as text/plain), transfer encoding
 * removed (base64, quoted-printable), charset converted to UTF-8 as in
 * mime_header_decode (unknown charset: the bytes as UTF-8/Windows-1252),
 * parts separated by "\n", appended to out; for SEARCH BODY / TEXT.
 * msg[len] is the message mi describes; parts outside it are skipped.
 * Returns 0, ERR_LIMIT (out full: what fitted is there), ERR_NOMEM.
 */
int mime_text(const char *msg, size_t len, const struct mime_info *mi,
	      struct buf *out);

/*
 * mime_casefold - UTF-8 in, lower-cased (Unicode simple case folding for
 * Latin, Greek, Cyrillic, Armenian, Georgian, Latin/Greek Extended,
 * letterlike, circled and fullwidth letters; own tables, not the
 * locale), invalid sequences kept as they are, appended to out.
 * Returns 0, ERR_LIMIT, ERR_NOMEM.
 */
int mime_casefold(const char *in, size_t len, struct buf *out);

/*
 * mime_imap_string - an IMAP string for s[len] appended to out: NIL when
 * s is NULL; "quoted" (with \" and \\) when possible; a literal
 * {n}\r\n... when it holds CR, LF, NUL or 8-bit, more than 4 quotes and
 * backslashes (the literal is then shorter, Dovecot's rule) or more than
 * 1024 bytes. RFC 3501 allows no NUL even in a literal: each is sent as
 * U+FFFD. Returns 0, ERR_LIMIT, ERR_NOMEM.
 */
int mime_imap_string(const char *s, size_t len, struct buf *out);

#endif
