/* SPDX-License-Identifier: MIT */
/*
 * mime.h - RFC 5322 header helpers over a message in memory: where the
 * header section ends, walking its fields (folded values kept as they are)
 * and extracting the addr-specs of a mailbox list (strict RFC 5322 3.4).
 * Nothing is copied except the extracted addresses.
 */
#ifndef MSS_MIME_H
#define MSS_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define MIME_ADDR_MAX 256

/* A walk over the header fields of msg[len]. */
struct mime_hdr_iter {
	const char *p;
	const char *end;
};

/*
 * mime_header_section - length of the header section of msg[len] up to
 * and including the CRLF of its last field (0 when the message starts
 * with an empty line), and in *body_off_r the offset of the body (after
 * the empty line; len when there is none).
 */
size_t mime_header_section(const char *msg, size_t len, size_t *body_off_r);

void mime_header_iter_init(struct mime_hdr_iter *it, const char *hdr,
			   size_t len);
/*
 * mime_header_next - the next field: name (without colon) and raw value
 * (after the colon, folding included, final CRLF excluded). Returns 1 for
 * a field, 0 at the end, ERR_PROTO for a line that is neither a field nor
 * a continuation.
 */
int mime_header_next(struct mime_hdr_iter *it, struct strv *name,
		     struct strv *value);

/*
 * mime_mailbox_list - the addr-specs of an RFC 5322 mailbox-list value
 * into addrs[max][MIME_ADDR_MAX]. Returns how many (>= 1), or ERR_PROTO
 * when the value does not parse or holds no address, ERR_LIMIT when too
 * many or too long.
 */
int mime_mailbox_list(const char *value, size_t len,
		      char addrs[][MIME_ADDR_MAX], size_t max);

#endif
