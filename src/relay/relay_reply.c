/* SPDX-License-Identifier: MIT */
/*
 * relay_reply.c - SMTP replies as the client reads them (RFC 5321 4.2):
 * "NNN-text" lines until "NNN text", the same code on every line. Kept:
 * the code, the text for reports (bounded, control characters replaced,
 * since it ends up in DSNs and logs), and the EHLO keywords.
 */
#include "relay.h"

#include <string.h>

#include "core/err.h"
#include "core/str.h"

void
relay_reply_init(struct relay_reply *r)
{
	r->code = 0;
	r->n_lines = 0;
	r->done = false;
	r->text[0] = '\0';
	r->text_len = 0;
}

static void
text_add(struct relay_reply *r, const char *p, size_t len)
{
	if (r->text_len > 0 && r->text_len + 1 < sizeof(r->text))
		r->text[r->text_len++] = ' ';
	for (size_t i = 0; i < len && r->text_len + 1 < sizeof(r->text);
	    i++) {
		unsigned char c = (unsigned char)p[i];
		r->text[r->text_len++] = (c < 32 || c == 127) ? '?' : (char)c;
	}
	r->text[r->text_len] = '\0';
}

int
relay_reply_line(struct relay_reply *r, const char *line, size_t len)
{
	if (r->done || len < 3 || len > RELAY_REPLY_LINE_MAX ||
	    r->n_lines >= RELAY_REPLY_LINES_MAX)
		return ERR_PROTO;
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9')
		return ERR_PROTO;
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
	    (line[2] - '0');
	if (r->code != 0 && code != r->code)
		return ERR_PROTO;
	bool last;
	if (len == 3)
		last = true;
	else if (line[3] == ' ')
		last = true;
	else if (line[3] == '-')
		last = false;
	else
		return ERR_PROTO;
	r->code = code;
	const char *text = len > 4 ? line + 4 : "";
	size_t tlen = len > 4 ? len - 4 : 0;
	/* The first line of an EHLO reply is the greeting, the others
	 * keywords; keep every line's start for the caller to match. */
	size_t k = tlen < sizeof(r->lines[0]) - 1 ? tlen :
	    sizeof(r->lines[0]) - 1;
	memcpy(r->lines[r->n_lines], text, k);
	r->lines[r->n_lines][k] = '\0';
	r->n_lines++;
	text_add(r, text, tlen);
	if (last)
		r->done = true;
	return last ? 1 : 0;
}

/* is_status - "c.sss.ddd" (RFC 3463) at p: class 2, 4 or 5, subject up
 * to 3 digits, detail up to 3 digits; its length, or 0. */
static size_t
is_status(const char *p, size_t len)
{
	size_t i = 0, d;
	if (len < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
	    p[1] != '.')
		return 0;
	i = 2;
	for (d = 0; i < len && p[i] >= '0' && p[i] <= '9' && d < 3; i++)
		d++;
	if (d == 0 || i >= len || p[i] != '.')
		return 0;
	i++;
	for (d = 0; i < len && p[i] >= '0' && p[i] <= '9' && d < 3; i++)
		d++;
	if (d == 0 || (i < len && p[i] != ' '))
		return 0;
	return i;
}

void
relay_reply_status(const struct relay_reply *r, char *out, size_t size)
{
	size_t n = is_status(r->text, r->text_len);
	if (n > 0 && r->text[0] - '0' == r->code / 100 && n < size) {
		memcpy(out, r->text, n);
		out[n] = '\0';
		return;
	}
	str_fmt(out, size, "%d.0.0", r->code >= 200 && r->code < 600 ?
	    r->code / 100 : 4);
}
