/* SPDX-License-Identifier: MIT */
/*
 * mime_struct.h - what IMAP needs to know about a message, computed once
 * at delivery (libetpan's MIME parser plus our own serializers) and
 * stored next to the sealed body, so FETCH never reparses a message:
 * the ENVELOPE, BODY and BODYSTRUCTURE responses (RFC 3501 7.4.2) as
 * ready-to-send IMAP text, and the byte ranges of every part so that
 * BODY[section] can decrypt only what it returns. Also the decoding that
 * SEARCH needs: RFC 2047 header words, transfer encodings and charsets to
 * UTF-8, and case folding.
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
 * One node of the part tree, in depth-first order. Offsets are from the
 * start of the message. For the root (index 0) header is the message's
 * header section including the blank line that ends it, body the rest.
 * For a part inside a multipart, header is its MIME header (including the
 * blank line), body its content (the CRLF before the next boundary
 * excluded). A message/rfc822 part has exactly one child: the
 * encapsulated message, whose header/body are that message's.
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
	MIME_KIND_MULTIPART,
	MIME_KIND_MESSAGE,	/* message/rfc822 (or global) */
};

struct mime_info {
	struct buf envelope;		/* "(date subject from ...)" */
	struct buf body;		/* BODY: no extension data */
	struct buf bodystructure;	/* BODYSTRUCTURE: with extension data */
	size_t n_parts;
	struct mime_part *parts;	/* malloc'd, n_parts entries */
};

void mime_info_init(struct mime_info *mi);
void mime_info_free(struct mime_info *mi);

/*
 * mime_info_parse - analyse msg[len] (CRLF line endings). Never fails on
 * a malformed message: what cannot be understood is described the way
 * RFC 3501 and Dovecot do (text/plain; charset us-ascii defaults, NIL
 * fields). Returns 0, ERR_LIMIT (too many parts or too deep: the message
 * is then described as a single part), ERR_NOMEM.
 */
int mime_info_parse(const char *msg, size_t len, struct mime_info *mi);

/* Compact binary form for the store (versioned), and back. */
int mime_info_encode(const struct mime_info *mi, struct buf *out);
int mime_info_decode(const void *p, size_t len, struct mime_info *mi);

/*
 * mime_section - resolve an IMAP section spec ("", "HEADER", "TEXT",
 * "1", "1.2", "2.MIME", "3.HEADER", "3.1.TEXT", ...; no HEADER.FIELDS
 * here: the caller filters the HEADER range) to a byte range of the
 * message. Per RFC 3501 6.4.5: part 1 of a non-multipart message is its
 * body; HEADER/TEXT of a part are valid only for message/rfc822 parts
 * (and the root); MIME is valid for a part number. Returns 1 and sets
 * *off/*len, 0 when the section does not exist (the caller answers with
 * an empty string, as Dovecot does), ERR_PROTO for a malformed spec.
 */
int mime_section(const struct mime_info *mi, const char *spec, size_t len,
		 uint32_t *off, uint32_t *out_len);

/* mime_header_decode - an RFC 2047 header value (unfolded, encoded words
 * decoded, any charset converted) as UTF-8 appended to out. */
int mime_header_decode(const char *value, size_t len, struct buf *out);

/* mime_text - the text of every text/ * part of msg (transfer encoding
 * removed, charset converted to UTF-8, parts separated by "\n"),
 * appended to out; for SEARCH BODY / TEXT. */
int mime_text(const char *msg, size_t len, const struct mime_info *mi,
	      struct buf *out);

/* mime_casefold - UTF-8 in, lower-cased (Unicode simple case folding,
 * invalid sequences kept as they are) UTF-8 appended to out. */
int mime_casefold(const char *in, size_t len, struct buf *out);

/* mime_imap_string - an IMAP string for s[len]: "quoted" when possible,
 * a literal {n}\r\n... when it holds CR, LF, NUL, 8-bit or is long, NIL
 * when s is NULL. Appended to out. */
int mime_imap_string(const char *s, size_t len, struct buf *out);

#endif
