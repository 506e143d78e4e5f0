/* SPDX-License-Identifier: MIT */
/*
 * mime_header.c - header section scanning (RFC 5322 2.2, 3.6) and address
 * extraction through libetpan's mailimf parser. Strict on purpose: a line
 * in the header section that is neither a field nor a continuation is an
 * error, so no field can hide behind one from the checks made on From.
 */
#include "mime.h"

#include <string.h>

#include <libetpan/libetpan.h>

#include "core/err.h"

size_t
mime_header_section(const char *msg, size_t len, size_t *body_off_r)
{
	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n') {
		*body_off_r = 2;
		return 0;
	}
	for (size_t i = 0; i + 3 < len; i++) {
		if (msg[i] == '\r' && msg[i + 1] == '\n' &&
		    msg[i + 2] == '\r' && msg[i + 3] == '\n') {
			*body_off_r = i + 4;
			return i + 2;
		}
	}
	*body_off_r = len;
	return len;
}

void
mime_header_iter_init(struct mime_hdr_iter *it, const char *hdr, size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
}

/* line_end - end of the physical line at p (points at CR or end). */
static const char *
line_end(const char *p, const char *end)
{
	while (p < end && !(*p == '\r' && p + 1 < end && p[1] == '\n'))
		p++;
	return p;
}

int
mime_header_next(struct mime_hdr_iter *it, struct strv *name,
		 struct strv *value)
{
	const char *p = it->p, *end = it->end;
	if (p >= end)
		return 0;
	if (*p == ' ' || *p == '\t')
		return ERR_PROTO;	/* continuation with no field */
	const char *n = p;
	while (p < end && *p != ':') {
		unsigned char c = (unsigned char)*p;
		if (c < 33 || c > 126)
			return ERR_PROTO;
		p++;
	}
	if (p == end || p == n)
		return ERR_PROTO;
	name->p = n;
	name->len = (size_t)(p - n);
	p++;
	value->p = p;
	const char *e = line_end(p, end);
	/* Folded lines continue the value. */
	while (e + 2 < end && (e[2] == ' ' || e[2] == '\t'))
		e = line_end(e + 2, end);
	value->len = (size_t)(e - p);
	it->p = e < end ? e + 2 : end;
	return 1;
}

int
mime_mailbox_list(const char *value, size_t len, char addrs[][MIME_ADDR_MAX],
		  size_t max)
{
	struct mailimf_mailbox_list *ml = NULL;
	size_t idx = 0;
	int n = 0;

	if (mailimf_mailbox_list_parse(value, len, &idx, &ml) !=
	    MAILIMF_NO_ERROR || ml == NULL)
		return ERR_PROTO;
	/* Anything but folding white space left over means the parser
	 * stopped early: the value is not one mailbox list. */
	for (size_t i = idx; i < len; i++) {
		if (value[i] != ' ' && value[i] != '\t' && value[i] != '\r' &&
		    value[i] != '\n') {
			mailimf_mailbox_list_free(ml);
			return ERR_PROTO;
		}
	}
	for (clistiter *c = clist_begin(ml->mb_list); c != NULL;
	     c = clist_next(c)) {
		struct mailimf_mailbox *mb = clist_content(c);
		if (mb->mb_addr_spec == NULL)
			continue;
		if ((size_t)n == max ||
		    strlen(mb->mb_addr_spec) >= MIME_ADDR_MAX) {
			mailimf_mailbox_list_free(ml);
			return ERR_LIMIT;
		}
		memcpy(addrs[n], mb->mb_addr_spec,
		    strlen(mb->mb_addr_spec) + 1);
		n++;
	}
	mailimf_mailbox_list_free(ml);
	return n > 0 ? n : ERR_PROTO;
}
