/* SPDX-License-Identifier: MIT */
/*
 * smtp_data.h - the DATA stream decoder: removes dot-stuffing, finds the
 * end only at CR LF . CR LF, and refuses any bare CR or bare LF (the SMTP
 * smuggling defence: no other line ending can end or split a message).
 * Incremental: feed any number of bytes at a time.
 */
#ifndef MSS_SMTP_DATA_H
#define MSS_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum smtp_data_state {
	SMTP_DATA_BOL = 0,	/* at the start of a line */
	SMTP_DATA_BOL_DOT,	/* line started with '.', dot removed */
	SMTP_DATA_TEXT,		/* inside a line */
	SMTP_DATA_CR,		/* CR inside a line, LF expected */
	SMTP_DATA_DOT_CR,	/* ".\r" at the start of a line */
};

struct smtp_data {
	enum smtp_data_state state;
	bool overflow;		/* content went past out's maximum */
	size_t total;		/* content octets seen, stored or not */
};

void smtp_data_init(struct smtp_data *d);

/*
 * smtp_data_feed - decode in[len], appending content (CRLF line endings
 * kept, dot-stuffing removed) to out. Once out is full, content is counted
 * and dropped and d->overflow is set. *used_r is how many input bytes were
 * consumed. Returns 1 at the end of data (the terminating ".\r\n" is
 * consumed, bytes after it are not), 0 when more input is needed,
 * ERR_PROTO on a bare CR or LF (*used_r then points just past it).
 */
int smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
		   size_t *used_r, struct buf *out);

#endif
