/* SPDX-License-Identifier: MIT */
/*
 * mime_lex.c - the RFC 822 tokens (atoms, quoted strings, comments,
 * domains, MIME tokens), the walk over header fields, lists of strings,
 * and the writers of IMAP strings. The token rules follow Dovecot's
 * rfc822-parser so that ENVELOPE and BODYSTRUCTURE read the way clients
 * already see them from the most common IMAP server. Tokens are read
 * from slices of the message; text only goes to bounded buffers.
 */
#include "mime/mime_struct_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/*
 * atext (RFC 5322 3.2.3) is 1, ALPHA/DIGIT and 8-bit are 2 (RFC 6532:
 * UTF-8 is atext), and the atext characters that are MIME tspecials
 * (RFC 2045 5.1: '/', '=', '?') are 4, so a MIME token is (c & 3) != 0.
 */
static const unsigned char atext[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 4,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 4, 0, 4,
	0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 1,
	1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define IS_ATEXT(c) (atext[(unsigned char)(c)] != 0)
#define IS_TOKEN(c) ((atext[(unsigned char)(c)] & 3) != 0)

bool
mime_lex_is_atext(unsigned char c)
{
	return IS_ATEXT(c);
}

void
mime_lex_init(struct mime_lex *lx, const char *p, size_t len,
	      struct buf *comment)
{
	lx->p = (const unsigned char *)p;
	lx->end = lx->p + len;
	lx->comment = comment;
	lx->err = 0;
}

void
mime_lex_add(struct mime_lex *lx, struct buf *out, const void *p, size_t n)
{
	if (lx->err == 0 && n > 0) {
		int r = buf_add(out, p, n);
		if (r < 0)
			lx->err = r;
	}
}

static void
lex_add_range(struct mime_lex *lx, struct buf *out, const unsigned char *a,
	      const unsigned char *b)
{
	mime_lex_add(lx, out, a, (size_t)(b - a));
}

/* skip_comment - at '(': nested comment; its text (folding and escapes
 * removed) is kept as the last comment, for "addr (Display Name)". */
static int
skip_comment(struct mime_lex *lx)
{
	const unsigned char *start;
	int level = 1;

	if (lx->comment != NULL)
		buf_reset(lx->comment);
	start = ++lx->p;
	for (; lx->p < lx->end; lx->p++) {
		switch (*lx->p) {
		case '(':
			level++;
			break;
		case ')':
			if (--level == 0) {
				if (lx->comment != NULL)
					lex_add_range(lx, lx->comment, start,
					    lx->p);
				lx->p++;
				return lx->p < lx->end ? 1 : 0;
			}
			break;
		case '\n':
			if (lx->comment != NULL)
				lex_add_range(lx, lx->comment, start,
				    lx->p > start && lx->p[-1] == '\r' ?
				    lx->p - 1 : lx->p);
			start = lx->p + 1;
			break;
		case '\\':
			if (++lx->p >= lx->end)
				return -1;
			if (*lx->p == '\r' || *lx->p == '\n') {
				/* not a quoted-pair: keep the backslash */
				lx->p--;
				break;
			}
			if (lx->comment != NULL)
				lex_add_range(lx, lx->comment, start,
				    lx->p - 1);
			start = lx->p;
			break;
		}
	}
	return -1;	/* missing ')' */
}

int
mime_lex_skip_lwsp(struct mime_lex *lx)
{
	while (lx->p < lx->end) {
		unsigned char c = *lx->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->p++;
			continue;
		}
		if (c != '(')
			break;
		if (skip_comment(lx) < 0)
			return -1;
	}
	return lx->p < lx->end ? 1 : 0;
}

int
mime_lex_atom(struct mime_lex *lx, struct buf *out)
{
	const unsigned char *start = lx->p;

	if (lx->p >= lx->end || !IS_ATEXT(*lx->p))
		return -1;
	while (lx->p < lx->end && IS_ATEXT(*lx->p))
		lx->p++;
	lex_add_range(lx, out, start, lx->p);
	return mime_lex_skip_lwsp(lx);
}

/* RFC 822 allowed white space around the dots of a dot-atom; an empty
 * atom (a doubled or final dot) is an error. */
int
mime_lex_dot_atom(struct mime_lex *lx, struct buf *out)
{
	const unsigned char *start;
	int ret;

	if (lx->p >= lx->end || !IS_ATEXT(*lx->p))
		return -1;
	start = lx->p++;
	while (lx->p < lx->end) {
		if (IS_ATEXT(*lx->p)) {
			lx->p++;
			continue;
		}
		if (start == lx->p)
			return -1;
		lex_add_range(lx, out, start, lx->p);
		if ((ret = mime_lex_skip_lwsp(lx)) <= 0)
			return ret;
		if (*lx->p != '.')
			return 1;
		lx->p++;
		mime_lex_add(lx, out, ".", 1);
		if (mime_lex_skip_lwsp(lx) <= 0)
			return -1;
		start = lx->p;
	}
	lex_add_range(lx, out, start, lx->p);
	return 0;
}

/* RFC 2045 5.1 token, plus '.' as Dovecot accepts it; may be empty. */
int
mime_lex_token(struct mime_lex *lx, struct buf *out)
{
	const unsigned char *start = lx->p;

	while (lx->p < lx->end && (IS_TOKEN(*lx->p) || *lx->p == '.'))
		lx->p++;
	lex_add_range(lx, out, start, lx->p);
	return lx->p < lx->end ? mime_lex_skip_lwsp(lx) : 0;
}

/* At '"': the content without quotes, escapes and folding CRLFs. A
 * backslash before CR or LF is not a quoted-pair and stays. */
int
mime_lex_quoted(struct mime_lex *lx, struct buf *out)
{
	const unsigned char *start;

	lx->p++;
	for (start = lx->p; lx->p < lx->end; lx->p++) {
		switch (*lx->p) {
		case '"':
			lex_add_range(lx, out, start, lx->p);
			lx->p++;
			return mime_lex_skip_lwsp(lx);
		case '\n': {
			const unsigned char *e = lx->p;
			if (e > start && e[-1] == '\r')
				e--;
			lex_add_range(lx, out, start, e);
			start = lx->p + 1;
			break;
		}
		case '\\':
			if (++lx->p >= lx->end)
				return -1;
			if (*lx->p == '\r' || *lx->p == '\n') {
				lx->p--;
				break;
			}
			lex_add_range(lx, out, start, lx->p - 1);
			start = lx->p;
			break;
		}
	}
	return -1;	/* missing '"' */
}

/* atom_or_dot - atext and dots, possibly none, then CFWS. */
static int
atom_or_dot(struct mime_lex *lx, struct buf *out)
{
	const unsigned char *start = lx->p;

	while (lx->p < lx->end && (IS_ATEXT(*lx->p) || *lx->p == '.'))
		lx->p++;
	lex_add_range(lx, out, start, lx->p);
	return lx->p < lx->end ? mime_lex_skip_lwsp(lx) : 0;
}

/* RFC 5322 phrase with obs-phrase dots; words joined by one space. */
int
mime_lex_phrase(struct mime_lex *lx, struct buf *out)
{
	int ret;

	if (lx->p >= lx->end)
		return 0;
	if (*lx->p == '.')
		return -1;
	for (;;) {
		if (*lx->p == '"')
			ret = mime_lex_quoted(lx, out);
		else
			ret = atom_or_dot(lx, out);
		if (ret <= 0)
			return ret;
		if (!IS_ATEXT(*lx->p) && *lx->p != '"' && *lx->p != '.')
			break;
		mime_lex_add(lx, out, " ", 1);
	}
	return mime_lex_skip_lwsp(lx);
}

/* domain_literal - at '[': kept with brackets and backslashes, folding
 * removed; a nested '[' is an error. */
static int
domain_literal(struct mime_lex *lx, struct buf *out)
{
	const unsigned char *start = lx->p++;

	for (; lx->p < lx->end; lx->p++) {
		switch (*lx->p) {
		case '[':
			return -1;
		case ']':
			lex_add_range(lx, out, start, lx->p + 1);
			lx->p++;
			return mime_lex_skip_lwsp(lx);
		case '\n':
			lex_add_range(lx, out, start, lx->p > start &&
			    lx->p[-1] == '\r' ? lx->p - 1 : lx->p);
			start = lx->p + 1;
			break;
		case '\\':
			if (++lx->p >= lx->end)
				return -1;
			if (*lx->p == '\r' || *lx->p == '\n') {
				lex_add_range(lx, out, start, lx->p);
				start = lx->p;
				lx->p--;
			}
			break;
		}
	}
	return -1;	/* missing ']' */
}

/* At '@': domain, a dot-atom or a [literal]. */
int
mime_lex_domain(struct mime_lex *lx, struct buf *out)
{
	lx->p++;
	if (mime_lex_skip_lwsp(lx) <= 0)
		return -1;
	if (*lx->p == '[')
		return domain_literal(lx, out);
	return mime_lex_dot_atom(lx, out);
}

/* ---- string lists ---- */

void
mime_strs_init(struct mime_strs *s)
{
	buf_init(&s->text, MIME_SCRATCH_MAX);
	s->off = NULL;
	s->n = s->cap = 0;
	s->err = 0;
}

void
mime_strs_reset(struct mime_strs *s)
{
	buf_reset(&s->text);
	s->n = 0;
	s->err = 0;
}

void
mime_strs_free(struct mime_strs *s)
{
	buf_free(&s->text);
	free(s->off);
	s->off = NULL;
	s->n = s->cap = 0;
}

int
mime_strs_add(struct mime_strs *s, const void *p, size_t len)
{
	if (s->err != 0)
		return -1;
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		uint32_t *o = realloc(s->off, cap * sizeof(*o));
		if (o == NULL) {
			s->err = ERR_NOMEM;
			return -1;
		}
		s->off = o;
		s->cap = cap;
	}
	/* Offsets are 32-bit: a header of 4 GiB is not a header. */
	if (buf_len(&s->text) + len > UINT32_MAX) {
		s->err = ERR_LIMIT;
		return -1;
	}
	int r = buf_add(&s->text, p, len);
	if (r < 0) {
		s->err = r;
		return -1;
	}
	s->off[s->n] = (uint32_t)(buf_len(&s->text) - len);
	s->off[s->n + 1] = (uint32_t)buf_len(&s->text);
	return (int)s->n++;
}

const char *
mime_strs_get(const struct mime_strs *s, int i, size_t *len_r)
{
	*len_r = s->off[i + 1] - s->off[i];
	return buf_data(&s->text) + s->off[i];
}

/* ---- header fields ---- */

void
mime_fields_init(struct mime_hdr_walk *hw, const char *hdr, size_t len)
{
	hw->p = hdr;
	hw->end = hdr + len;
}

/* line_content_end - end of the line at p without its [CR]LF, and in
 * *next the start of the next line (end when none). */
static const char *
line_content_end(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL) {
		*next = end;
		return end;
	}
	*next = nl + 1;
	return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

int
mime_fields_next(struct mime_hdr_walk *hw, struct mime_field *f)
{
	while (hw->p < hw->end) {
		const char *line = hw->p, *next, *colon;
		const char *e = line_content_end(line, hw->end, &next);

		/* The field goes on while the next line starts with LWSP. */
		while (next < hw->end && (*next == ' ' || *next == '\t'))
			e = line_content_end(next, hw->end, &next);
		hw->p = next;
		if (e == line)
			continue;	/* the empty line ending the header */
		/* fe: end of the first line's content; the colon is there. */
		const char *fe = memchr(line, '\n', (size_t)(e - line));
		if (fe == NULL)
			fe = e;
		else if (fe > line && fe[-1] == '\r')
			fe--;
		colon = memchr(line, ':', (size_t)(fe - line));
		if (colon == NULL)
			continue;
		const char *n_end = colon;
		while (n_end > line && (n_end[-1] == ' ' || n_end[-1] == '\t'))
			n_end--;
		f->name = line;
		f->name_len = (size_t)(n_end - line);
		/* Skip the LWSP after the colon, but when the first line holds
		 * nothing else skip only one (Dovecot's rule). */
		const char *v = colon + 1, *q = v;
		while (q < fe && (*q == ' ' || *q == '\t'))
			q++;
		if (q == fe)
			q = (fe > v) ? v + 1 : v;
		f->value = q;
		f->value_len = (size_t)(e - q);
		return 1;
	}
	return 0;
}

bool
mime_field_is(const struct mime_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

const char *
mime_field_clean(const struct mime_field *f, struct buf *scratch,
		 size_t *len_r)
{
	*len_r = f->value_len;
	if (memchr(f->value, '\0', f->value_len) == NULL)
		return f->value;
	buf_reset(scratch);
	for (size_t i = 0; i < f->value_len; i++) {
		int r = f->value[i] == '\0' ?
		    buf_add(scratch, "\xef\xbf\xbd", 3) :
		    buf_addc(scratch, f->value[i]);
		if (r < 0)
			return NULL;
	}
	*len_r = buf_len(scratch);
	return buf_data(scratch);
}

/* ---- IMAP strings ---- */

/* Dovecot switches to a literal past four quoted-specials: the literal
 * is then no longer than the escaped form. */
#define QUOTED_ESCAPES_MAX 4
/* Long strings go as literals so that no client meets a huge line. */
#define QUOTED_LEN_MAX 1024

int
mime_imap_string(const char *s, size_t len, struct buf *out)
{
	size_t escapes = 0;
	bool literal = len > QUOTED_LEN_MAX;
	int r;

	if (s == NULL)
		return buf_add(out, "NIL", 3);
	for (size_t i = 0; i < len && !literal; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			literal = ++escapes > QUOTED_ESCAPES_MAX;
		else if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
			literal = true;
	}
	if (literal) {
		/* RFC 3501 CHAR8 excludes NUL even in a literal: U+FFFD. */
		size_t n_nul = 0;
		for (size_t i = 0; i < len; i++)
			n_nul += s[i] == '\0';
		if ((r = buf_addf(out, "{%zu}\r\n", len + 2 * n_nul)) < 0)
			return r;
		if (n_nul == 0)
			return buf_add(out, s, len);
		for (size_t i = 0; i < len; i++) {
			r = s[i] == '\0' ? buf_add(out, "\xef\xbf\xbd", 3) :
			    buf_addc(out, s[i]);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if ((r = buf_reserve(out, len + escapes + 2)) < 0)
		return r;
	r = buf_addc(out, '"');
	size_t from = 0;
	for (size_t i = 0; i < len && r == 0; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			r = buf_add(out, s + from, i - from);
			if (r == 0)
				r = buf_addc(out, '\\');
			from = i;
		}
	}
	if (r == 0)
		r = buf_add(out, s + from, len - from);
	return r < 0 ? r : buf_addc(out, '"');
}

/* unfold - CR and LF removed; a run of them that is not folding (not
 * followed by white space) becomes one space, as Dovecot shows it. */
static int
unfold(const char *s, size_t len, struct buf *tmp)
{
	int r = buf_reserve(tmp, len);

	for (size_t i = 0; i < len && r == 0; i++) {
		if (s[i] != '\r' && s[i] != '\n') {
			r = buf_addc(tmp, s[i]);
			continue;
		}
		size_t j = i;
		while (j < len && (s[j] == '\r' || s[j] == '\n'))
			j++;
		if (j < len && s[j] != ' ' && s[j] != '\t')
			r = buf_addc(tmp, ' ');
		i = j - 1;
	}
	return r;
}

int
mime_imap_nolf(const char *s, size_t len, struct buf *out)
{
	if (s == NULL || (memchr(s, '\r', len) == NULL &&
	    memchr(s, '\n', len) == NULL))
		return mime_imap_string(s, len, out);

	struct buf tmp;
	buf_init(&tmp, MIME_SCRATCH_MAX);
	int r = unfold(s, len, &tmp);
	if (r == 0)
		r = mime_imap_string(buf_data(&tmp), buf_len(&tmp), out);
	buf_free(&tmp);
	return r;
}

int
mime_imap_human(const char *s, size_t len, struct buf *out)
{
	struct buf tmp, h;
	bool pending_space = false;
	int r;

	if (s == NULL)
		return mime_imap_string(NULL, 0, out);
	buf_init(&tmp, MIME_SCRATCH_MAX);
	buf_init(&h, MIME_SCRATCH_MAX);
	r = unfold(s, len, &tmp);
	if (r == 0)
		r = buf_reserve(&h, buf_len(&tmp));
	for (size_t i = 0; i < buf_len(&tmp) && r == 0; i++) {
		char c = buf_data(&tmp)[i];
		if (c == ' ' || c == '\t') {
			pending_space = buf_len(&h) > 0;
			continue;
		}
		if (pending_space)
			r = buf_addc(&h, ' ');
		pending_space = false;
		if (r == 0)
			r = buf_addc(&h, c);
	}
	if (r == 0)
		r = mime_imap_string(buf_data(&h), buf_len(&h), out);
	buf_free(&tmp);
	buf_free(&h);
	return r;
}
