/* SPDX-License-Identifier: MIT */
/*
 * mime_header.c - header section scanning (RFC 5322 2.2, 3.6) and address
 * extraction with a strict mailbox-list reader. Strict on purpose: a line
 * in the header section that is neither a field nor a continuation is an
 * error, so no field can hide behind one from the checks made on From.
 */
#include "mime.h"

#include <string.h>

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

/*
 * A strict reader for RFC 5322 section 3.4 mailbox lists. libetpan's
 * parser is lenient (it accepts "ceo@example.org <alice@example.org>" as
 * alice, or "alice@exam ple.org"), which would let a From: header show a
 * reader one address while the ownership check sees another. Only
 * current syntax is accepted: no obsolete CFWS inside an addr-spec, no
 * empty list elements, no groups. UTF-8 is atext (RFC 6532).
 */
struct lex {
	const char *p;
	const char *end;
};

#define COMMENT_DEPTH_MAX 16

static bool
lx_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* lx_fws - one run of folding white space; false if none. */
static bool
lx_fws(struct lex *l)
{
	const char *start = l->p;
	for (;;) {
		if (l->p < l->end && (*l->p == ' ' || *l->p == '\t')) {
			l->p++;
		} else if (l->end - l->p >= 3 && l->p[0] == '\r' &&
		    l->p[1] == '\n' && (l->p[2] == ' ' || l->p[2] == '\t')) {
			l->p += 3;
		} else if (l->end - l->p == 2 && l->p[0] == '\r' &&
		    l->p[1] == '\n') {
			l->p += 2;	/* the field's own line end */
		} else {
			break;
		}
	}
	return l->p != start;
}

/* lx_cfws - white space and (nested) comments; ERR_PROTO if one is
 * left open. */
static int
lx_cfws(struct lex *l)
{
	for (;;) {
		lx_fws(l);
		if (l->p >= l->end || *l->p != '(')
			return 0;
		int depth = 0;
		while (l->p < l->end) {
			char c = *l->p;
			if (c == '\\' && l->end - l->p >= 2) {
				l->p += 2;
				continue;
			}
			if (c == '\r' || c == '\n') {
				if (!lx_fws(l))
					return ERR_PROTO;
				continue;
			}
			l->p++;
			if (c == '(' && ++depth > COMMENT_DEPTH_MAX)
				return ERR_PROTO;
			if (c == ')' && --depth == 0)
				break;
		}
		if (depth != 0)
			return ERR_PROTO;
	}
}

static bool
lx_atom(struct lex *l)
{
	const char *start = l->p;
	while (l->p < l->end && lx_atext((unsigned char)*l->p))
		l->p++;
	return l->p != start;
}

static bool
lx_dot_atom(struct lex *l)
{
	if (!lx_atom(l))
		return false;
	while (l->p < l->end && *l->p == '.') {
		l->p++;
		if (!lx_atom(l))
			return false;
	}
	return true;
}

static bool
lx_quoted(struct lex *l)
{
	if (l->p >= l->end || *l->p != '"')
		return false;
	l->p++;
	while (l->p < l->end && *l->p != '"') {
		unsigned char c = (unsigned char)*l->p;
		if (c == '\\' && l->end - l->p >= 2) {
			l->p += 2;
		} else if (c == '\r' || c == '\n') {
			if (!lx_fws(l))
				return false;
		} else if (c == 0) {
			return false;
		} else {
			l->p++;
		}
	}
	if (l->p >= l->end)
		return false;
	l->p++;
	return true;
}

/* lx_addr_spec - local-part "@" domain with no white space inside. */
static bool
lx_addr_spec(struct lex *l, const char **start, size_t *len)
{
	*start = l->p;
	if (!(l->p < l->end && *l->p == '"' ? lx_quoted(l) : lx_dot_atom(l)))
		return false;
	if (l->p >= l->end || *l->p != '@')
		return false;
	l->p++;
	if (l->p < l->end && *l->p == '[') {
		l->p++;
		while (l->p < l->end && *l->p != ']') {
			unsigned char c = (unsigned char)*l->p;
			if (c < 33 || c > 126 || c == '[' || c == '\\')
				return false;
			l->p++;
		}
		if (l->p >= l->end)
			return false;
		l->p++;
	} else if (!lx_dot_atom(l)) {
		return false;
	}
	*len = (size_t)(l->p - *start);
	return true;
}

/* lx_phrase - display name: words (atoms, quoted strings, obsolete
 * dots) separated by CFWS. */
static bool
lx_phrase(struct lex *l)
{
	int words = 0;
	for (;;) {
		if (lx_cfws(l) < 0)
			return false;
		if (l->p < l->end && *l->p == '"') {
			if (!lx_quoted(l))
				return false;
		} else if (l->p < l->end && *l->p == '.') {
			l->p++;
		} else if (!lx_atom(l)) {
			return words > 0;
		}
		words++;
	}
}

/* lx_mailbox - name-addr or addr-spec; the addr-spec's bounds out. */
static bool
lx_mailbox(struct lex *l, const char **addr, size_t *len)
{
	struct lex save = *l;
	if (lx_cfws(l) < 0)
		return false;
	if (lx_addr_spec(l, addr, len) && lx_cfws(l) == 0 &&
	    (l->p == l->end || *l->p == ','))
		return true;
	*l = save;
	if (lx_cfws(l) < 0)
		return false;
	if (l->p < l->end && *l->p != '<' && !lx_phrase(l))
		return false;
	if (lx_cfws(l) < 0 || l->p >= l->end || *l->p != '<')
		return false;
	l->p++;
	if (!lx_addr_spec(l, addr, len) || l->p >= l->end || *l->p != '>')
		return false;
	l->p++;
	return lx_cfws(l) == 0;
}

int
mime_mailbox_list(const char *value, size_t len, char addrs[][MIME_ADDR_MAX],
		  size_t max)
{
	struct lex l = { value, value + len };
	size_t n = 0;

	for (;;) {
		const char *a;
		size_t alen;
		if (!lx_mailbox(&l, &a, &alen))
			return ERR_PROTO;
		if (n == max || alen >= MIME_ADDR_MAX)
			return ERR_LIMIT;
		memcpy(addrs[n], a, alen);
		addrs[n][alen] = '\0';
		n++;
		if (l.p == l.end)
			return (int)n;
		l.p++;	/* ',' */
	}
}
