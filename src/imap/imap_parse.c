/* SPDX-License-Identifier: MIT */
/*
 * imap_parse.c - tokenizing IMAP commands (RFC 3501 section 9) line by
 * line and literal by literal into one bounded arena, the argument
 * readers, sequence sets, and modified UTF-7. Strict where the grammar
 * is: 8-bit octets only inside literals, one literal announcement only at
 * the end of a line, parentheses balanced and nested at most max_depth.
 */
#include "imap_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/str.h"

void
imap_cmdbuf_init(struct imap_cmdbuf *c, size_t max_data, size_t max_toks,
		 unsigned max_depth)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->data, max_data);
	c->max_base = max_data;
	c->max_toks = max_toks;
	c->max_depth = max_depth;
}

void
imap_cmdbuf_reset(struct imap_cmdbuf *c)
{
	/* A big APPEND must not keep its memory once done. */
	if (c->data.cap > 8192) {
		buf_free(&c->data);
		buf_init(&c->data, c->max_base);
	} else {
		buf_reset(&c->data);
		c->data.max = c->max_base;
	}
	if (c->cap_toks > 64) {
		free(c->toks);
		c->toks = NULL;
		c->cap_toks = 0;
	}
	c->n_toks = 0;
	c->depth = 0;
	c->in_literal = false;
}

void
imap_cmdbuf_free(struct imap_cmdbuf *c)
{
	buf_free(&c->data);
	free(c->toks);
	c->toks = NULL;
	c->n_toks = c->cap_toks = 0;
}

static int
tok_add(struct imap_cmdbuf *c, uint8_t type, const char *p, size_t len)
{
	if (c->n_toks == c->max_toks)
		return ERR_LIMIT;
	if (c->n_toks == c->cap_toks) {
		size_t cap = c->cap_toks ? c->cap_toks * 2 : 16;
		if (cap > c->max_toks)
			cap = c->max_toks;
		struct imap_tok *t = realloc(c->toks, cap * sizeof(*t));
		if (t == NULL)
			return ERR_NOMEM;
		c->toks = t;
		c->cap_toks = cap;
	}
	struct imap_tok *t = &c->toks[c->n_toks];
	t->type = type;
	t->off = (uint32_t)c->data.len;
	t->len = (uint32_t)len;
	if (p != NULL) {
		int r = buf_add(&c->data, p, len);
		if (r == 0)
			r = buf_addc(&c->data, '\0');
		if (r < 0)
			return r;
	}
	c->n_toks++;
	return 0;
}

static bool
is_atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return false;
	return ch != '(' && ch != ')' && ch != '{' && ch != '"';
}

enum imap_line_result
imap_cmdbuf_line(struct imap_cmdbuf *c, const char *line, size_t len,
		 uint64_t *lit_len, bool *sync, const char **error_r)
{
	size_t i = 0;
	int r;

	if (c->in_literal) {
		*error_r = "literal data missing";
		return IMAP_LINE_ERROR;
	}
	while (i < len) {
		unsigned char ch = (unsigned char)line[i];
		if (ch == ' ') {
			i++;
			continue;
		}
		if (ch == '(') {
			if (++c->depth > c->max_depth) {
				*error_r = "too many nested parentheses";
				return IMAP_LINE_ERROR;
			}
			if ((r = tok_add(c, IMAP_TOK_LPAREN, NULL, 0)) < 0)
				goto limit;
			i++;
			continue;
		}
		if (ch == ')') {
			if (c->depth == 0) {
				*error_r = "unbalanced parenthesis";
				return IMAP_LINE_ERROR;
			}
			c->depth--;
			if ((r = tok_add(c, IMAP_TOK_RPAREN, NULL, 0)) < 0)
				goto limit;
			i++;
			continue;
		}
		if (ch == '"') {
			struct buf tmp;
			i++;
			buf_init(&tmp, len);
			while (i < len && line[i] != '"') {
				unsigned char q = (unsigned char)line[i];
				if (q == '\\') {
					if (i + 1 >= len || (line[i + 1] != '"' &&
					    line[i + 1] != '\\')) {
						buf_free(&tmp);
						*error_r = "bad escape in a quoted "
						    "string";
						return IMAP_LINE_ERROR;
					}
					i++;
					q = (unsigned char)line[i];
				} else if (q >= 0x80 || q == 0 || q == '\r' ||
				    q == '\n') {
					/* RFC 3501 9: QUOTED-CHAR excludes CR,
					 * LF and 8-bit */
					buf_free(&tmp);
					*error_r = "CR, LF, NUL or 8-bit octet in "
					    "a quoted string (use a literal)";
					return IMAP_LINE_ERROR;
				}
				if (buf_addc(&tmp, (char)q) < 0) {
					buf_free(&tmp);
					goto nomem;
				}
				i++;
			}
			if (i >= len) {
				buf_free(&tmp);
				*error_r = "unterminated quoted string";
				return IMAP_LINE_ERROR;
			}
			i++;
			r = tok_add(c, IMAP_TOK_STRING, buf_data(&tmp),
			    buf_len(&tmp));
			buf_free(&tmp);
			if (r < 0)
				goto limit;
			continue;
		}
		if (ch == '{') {
			/* Only as the last thing on a line (RFC 3501 4.3). */
			uint64_t n = 0;
			size_t digits = 0;
			i++;
			while (i < len && line[i] >= '0' && line[i] <= '9') {
				if (++digits > 19) {
					*error_r = "literal size too large";
					return IMAP_LINE_ERROR;
				}
				n = n * 10 + (uint64_t)(line[i] - '0');
				i++;
			}
			bool plus = i < len && line[i] == '+';
			if (plus)
				i++;
			if (digits == 0 || i >= len || line[i] != '}' ||
			    i + 1 != len) {
				*error_r = "bad literal announcement";
				return IMAP_LINE_ERROR;
			}
			*lit_len = n;
			*sync = !plus;
			c->in_literal = true;
			return IMAP_LINE_LITERAL;
		}
		if (!is_atom_char(ch)) {
			*error_r = ch >= 0x80 ? "8-bit octet in a command "
			    "(use a literal)" : "invalid character in a command";
			return IMAP_LINE_ERROR;
		}
		size_t start = i;
		while (i < len) {
			unsigned char a = (unsigned char)line[i];
			if (a == '[') {
				/* section specs hold spaces, parentheses and
				 * quotes: BODY[HEADER.FIELDS (From To)] */
				unsigned d = 0;
				while (i < len) {
					a = (unsigned char)line[i];
					if (a >= 0x7f || a < 0x20) {
						*error_r = "invalid character in a "
						    "section";
						return IMAP_LINE_ERROR;
					}
					if (a == '[')
						d++;
					else if (a == ']' && --d == 0)
						break;
					i++;
				}
				if (i >= len) {
					*error_r = "unterminated section '['";
					return IMAP_LINE_ERROR;
				}
				i++;
				continue;
			}
			if (!is_atom_char(a))
				break;
			i++;
		}
		if (i < len && (unsigned char)line[i] >= 0x80) {
			*error_r = "8-bit octet in a command (use a literal)";
			return IMAP_LINE_ERROR;
		}
		if ((r = tok_add(c, IMAP_TOK_ATOM, line + start,
		    i - start)) < 0)
			goto limit;
	}
	if (c->depth != 0) {
		*error_r = "missing ')'";
		return IMAP_LINE_ERROR;
	}
	return IMAP_LINE_DONE;
limit:
	if (r == ERR_NOMEM)
		goto nomem;
	*error_r = "command too long or too many arguments";
	return IMAP_LINE_ERROR;
nomem:
	*error_r = "out of memory";
	return IMAP_LINE_ERROR;
}

int
imap_cmdbuf_literal(struct imap_cmdbuf *c, size_t off, size_t len)
{
	c->in_literal = false;
	if (off + len != c->data.len)
		return ERR_INVAL;
	/* The data is already at the arena's end: point a token at it. */
	c->data.len = off;
	int r = tok_add(c, IMAP_TOK_LITERAL, NULL, len);
	c->data.len = off + len;
	if (r == 0)
		r = buf_addc(&c->data, '\0');
	return r;
}

/* ---- argument readers ---- */

const struct imap_tok *
imap_arg_peek(const struct imap_args *a)
{
	return a->i < a->c->n_toks ? &a->c->toks[a->i] : NULL;
}

bool
imap_arg_end(const struct imap_args *a)
{
	return a->i >= a->c->n_toks;
}

bool
imap_atom_is(const char *p, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(p, word, len) == 0;
}

static int
take(struct imap_args *a, unsigned types, const char **p, size_t *len)
{
	const struct imap_tok *t = imap_arg_peek(a);
	if (t == NULL || !(types & (1u << t->type)))
		return 0;
	*p = imap_tok_data(a->c, t);
	*len = t->len;
	a->i++;
	return 1;
}

int
imap_arg_atom(struct imap_args *a, const char **p, size_t *len)
{
	return take(a, 1u << IMAP_TOK_ATOM, p, len);
}

int
imap_arg_string(struct imap_args *a, const char **p, size_t *len)
{
	return take(a, 1u << IMAP_TOK_STRING | 1u << IMAP_TOK_LITERAL, p, len);
}

int
imap_arg_literal(struct imap_args *a, const char **p, size_t *len)
{
	return take(a, 1u << IMAP_TOK_LITERAL, p, len);
}

int
imap_arg_astring(struct imap_args *a, const char **p, size_t *len)
{
	return take(a, 1u << IMAP_TOK_ATOM | 1u << IMAP_TOK_STRING |
	    1u << IMAP_TOK_LITERAL, p, len);
}

int
imap_arg_nstring(struct imap_args *a, const char **p, size_t *len)
{
	const struct imap_tok *t = imap_arg_peek(a);
	if (t != NULL && t->type == IMAP_TOK_ATOM &&
	    imap_atom_is(imap_tok_data(a->c, t), t->len, "NIL")) {
		a->i++;
		*p = NULL;
		*len = 0;
		return 1;
	}
	return imap_arg_astring(a, p, len);
}

int
imap_arg_lparen(struct imap_args *a)
{
	const struct imap_tok *t = imap_arg_peek(a);
	if (t == NULL || t->type != IMAP_TOK_LPAREN)
		return 0;
	a->i++;
	return 1;
}

int
imap_arg_rparen(struct imap_args *a)
{
	const struct imap_tok *t = imap_arg_peek(a);
	if (t == NULL || t->type != IMAP_TOK_RPAREN)
		return 0;
	a->i++;
	return 1;
}

void
imap_arg_skip(struct imap_args *a)
{
	const struct imap_tok *t = imap_arg_peek(a);
	if (t == NULL)
		return;
	a->i++;
	if (t->type != IMAP_TOK_LPAREN)
		return;
	unsigned d = 1;
	while (d > 0 && a->i < a->c->n_toks) {
		uint8_t ty = a->c->toks[a->i++].type;
		if (ty == IMAP_TOK_LPAREN)
			d++;
		else if (ty == IMAP_TOK_RPAREN)
			d--;
	}
}

/* ---- sequence sets ---- */

static int
seq_number(const char **pp, const char *end, int64_t *v)
{
	const char *p = *pp;
	if (p < end && *p == '*') {
		*v = IMAP_STAR;
		*pp = p + 1;
		return 0;
	}
	if (p >= end || *p < '1' || *p > '9')
		return ERR_PROTO;
	uint64_t n = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)	/* nz-number is 32 bits */
			return ERR_PROTO;
		p++;
	}
	*v = (int64_t)n;
	*pp = p;
	return 0;
}

int
imap_seqset_parse(const char *p, size_t len, size_t max_ranges,
		  struct imap_seqset *s)
{
	const char *end = p + len;
	s->n = 0;
	if (len == 0)
		return ERR_PROTO;
	while (p < end) {
		struct imap_range r;
		if (seq_number(&p, end, &r.lo) < 0)
			return ERR_PROTO;
		r.hi = r.lo;
		if (p < end && *p == ':') {
			p++;
			if (seq_number(&p, end, &r.hi) < 0)
				return ERR_PROTO;
		}
		if (s->n == max_ranges)
			return ERR_LIMIT;
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 8;
			if (cap > max_ranges)
				cap = max_ranges;
			struct imap_range *n = realloc(s->r, cap * sizeof(*n));
			if (n == NULL)
				return ERR_NOMEM;
			s->r = n;
			s->cap = cap;
		}
		s->r[s->n++] = r;
		if (p < end) {
			if (*p != ',' || p + 1 == end)
				return ERR_PROTO;
			p++;
		}
	}
	return 0;
}

void
imap_seqset_free(struct imap_seqset *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}

void
imap_range_get(const struct imap_range *r, uint32_t star, uint32_t *lo,
	       uint32_t *hi)
{
	uint32_t a = r->lo == IMAP_STAR ? star : (uint32_t)r->lo;
	uint32_t b = r->hi == IMAP_STAR ? star : (uint32_t)r->hi;
	*lo = a < b ? a : b;
	*hi = a < b ? b : a;
}

bool
imap_seqset_has(const struct imap_seqset *s, uint32_t v, uint32_t star)
{
	for (size_t i = 0; i < s->n; i++) {
		uint32_t lo, hi;
		imap_range_get(&s->r[i], star, &lo, &hi);
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

int
imap_seqset_print(const uint32_t *v, size_t n, struct buf *out)
{
	int r = 0;
	for (size_t i = 0; i < n && r == 0;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (j > i)
			r = buf_addf(out, "%s%u:%u", i ? "," : "", v[i], v[j]);
		else
			r = buf_addf(out, "%s%u", i ? "," : "", v[i]);
		i = j + 1;
	}
	return r;
}

/* ---- modified UTF-7 ---- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_val(char ch)
{
	const char *p = ch ? strchr(b64, ch) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int
utf8_put(struct buf *out, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(out, u, n);
}

int
imap_utf7_decode(const char *in, size_t len, struct buf *out)
{
	size_t i = 0;
	int r;
	while (i < len) {
		unsigned char ch = (unsigned char)in[i];
		if (ch >= 0x80 || ch < 0x20 || ch == 0x7f)
			return ERR_PROTO;
		if (ch != '&') {
			if ((r = buf_addc(out, (char)ch)) < 0)
				return r;
			i++;
			continue;
		}
		i++;
		if (i < len && in[i] == '-') {
			if ((r = buf_addc(out, '&')) < 0)
				return r;
			i++;
			continue;
		}
		uint32_t bits = 0, hi_sur = 0;
		int nbits = 0;
		size_t units = 0;
		while (i < len && in[i] != '-') {
			int v = b64_val(in[i]);
			if (v < 0)
				return ERR_PROTO;
			bits = bits << 6 | (uint32_t)v;
			nbits += 6;
			i++;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xffff;
			units++;
			if (hi_sur != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return ERR_PROTO;
				u = 0x10000 + ((hi_sur - 0xd800) << 10) +
				    (u - 0xdc00);
				hi_sur = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi_sur = u;
				continue;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return ERR_PROTO;
			} else if (u >= 0x20 && u <= 0x7e) {
				/* printable ASCII must not be encoded */
				return ERR_PROTO;
			}
			if ((r = utf8_put(out, u)) < 0)
				return r;
		}
		if (i >= len || units == 0 || hi_sur != 0 || nbits >= 6 ||
		    (bits & ((1u << nbits) - 1)) != 0)
			return ERR_PROTO;
		i++;	/* '-' */
		/* RFC 3501 5.1.3: no "&...-&...-": one name, one spelling */
		if (i + 1 < len && in[i] == '&' && in[i + 1] != '-')
			return ERR_PROTO;
	}
	return 0;
}

/* utf8_next - one code point; -1 on an invalid sequence. */
static int32_t
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	uint32_t cp;
	size_t n;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		n = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		n = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		n = 3;
	} else {
		return -1;
	}
	if (len - *i - 1 < n)
		return -1;
	for (size_t k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	*i += n + 1;
	return (int32_t)cp;
}

static int
flush_units(const uint16_t *u, size_t n, struct buf *out)
{
	uint32_t bits = 0;
	int nbits = 0, r;
	if ((r = buf_addc(out, '&')) < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		bits = bits << 16 | u[k];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			if ((r = buf_addc(out, b64[(bits >> nbits) & 63])) < 0)
				return r;
		}
	}
	if (nbits > 0 &&
	    (r = buf_addc(out, b64[(bits << (6 - nbits)) & 63])) < 0)
		return r;
	return buf_addc(out, '-');
}

int
imap_utf7_encode(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	uint16_t *units;
	size_t nu = 0, i = 0;
	int r = 0;

	/* Only valid UTF-8 (no overlong '/', no surrogates) has a name. */
	if (!utf8_valid(in, len))
		return ERR_PROTO;
	/* at most one UTF-16 unit per input byte: one run, one shift */
	units = malloc((len + 1) * sizeof(*units));
	if (units == NULL)
		return ERR_NOMEM;
	while (i < len && r == 0) {
		int32_t cp = utf8_next(s, len, &i);
		if (cp < 0) {
			r = ERR_PROTO;
			break;
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			if (nu > 0)
				r = flush_units(units, nu, out);
			nu = 0;
			if (r == 0)
				r = cp == '&' ? buf_add(out, "&-", 2) :
				    buf_addc(out, (char)cp);
			continue;
		}
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			units[nu++] = (uint16_t)(0xd800 + (v >> 10));
			units[nu++] = (uint16_t)(0xdc00 + (v & 0x3ff));
		} else {
			units[nu++] = (uint16_t)cp;
		}
	}
	if (r == 0 && nu > 0)
		r = flush_units(units, nu, out);
	free(units);
	return r;
}
