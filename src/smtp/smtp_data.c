/* SPDX-License-Identifier: MIT */
/*
 * smtp_data.c - DATA decoding state machine (RFC 5321 4.1.1.4, 4.5.2).
 * Runs of ordinary text are appended in one call, so the per-byte work is
 * only the scan for CR and LF.
 */
#include "smtp_data.h"

#include "core/buf.h"
#include "core/err.h"

void
smtp_data_init(struct smtp_data *d)
{
	d->state = SMTP_DATA_BOL;
	d->overflow = false;
	d->total = 0;
}

static void
emit(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
	d->total += n;
	if (d->overflow)
		return;
	if (buf_add(out, p, n) < 0)
		d->overflow = true;
}

int
smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
	       size_t *used_r, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		char c = in[i];
		switch (d->state) {
		case SMTP_DATA_BOL:
			if (c == '.') {
				d->state = SMTP_DATA_BOL_DOT;
				i++;
				continue;
			}
			d->state = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_BOL_DOT:
			if (c == '\r') {
				d->state = SMTP_DATA_DOT_CR;
				i++;
				continue;
			}
			d->state = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_DOT_CR:
			i++;
			*used_r = i;
			if (c == '\n')
				return 1;
			return ERR_PROTO;
		case SMTP_DATA_CR:
			i++;
			if (c != '\n') {
				*used_r = i;
				return ERR_PROTO;
			}
			emit(d, out, "\r\n", 2);
			d->state = SMTP_DATA_BOL;
			continue;
		case SMTP_DATA_TEXT: {
			size_t start = i;
			while (i < len && in[i] != '\r' && in[i] != '\n')
				i++;
			if (i > start)
				emit(d, out, in + start, i - start);
			if (i == len)
				break;
			if (in[i] == '\n') {
				*used_r = i + 1;
				return ERR_PROTO;
			}
			d->state = SMTP_DATA_CR;
			i++;
			continue;
		}
		}
	}
	*used_r = i;
	return 0;
}
