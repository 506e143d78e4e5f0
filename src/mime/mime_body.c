/* SPDX-License-Identifier: MIT */
/*
 * mime_body.c - the Content-* fields of a part (RFC 2045, 2183, 3066,
 * 2557, 1864) and the BODY / BODYSTRUCTURE texts of RFC 3501 7.4.2 built
 * from them. Where the RFC leaves room (defaults, broken fields, RFC 2231
 * continuations, which of two fields wins) we answer what Dovecot
 * answers, so clients see what they are used to. Parameters are never
 * decoded: RFC 2231 segments are joined, RFC 2047 words stay as sent.
 */
#include "mime/mime_struct_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int
strs_add_buf(struct mime_strs *s, const struct buf *b)
{
	return mime_strs_add(s, buf_data(b), buf_len(b));
}

/* ---- parameters (RFC 2045 5.1, RFC 2231 3) ---- */

/* A parameter list: pairs of string indexes. */
struct plist {
	int *kv;
	size_t n;
	size_t cap;
};

static int
plist_add(struct plist *pl, int key, int value)
{
	if (key < 0 || value < 0)
		return ERR_NOMEM;
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 8;
		int *kv = realloc(pl->kv, cap * 2 * sizeof(*kv));
		if (kv == NULL)
			return ERR_NOMEM;
		pl->kv = kv;
		pl->cap = cap;
	}
	pl->kv[2 * pl->n] = key;
	pl->kv[2 * pl->n + 1] = value;
	pl->n++;
	return 0;
}

/* One RFC 2231 segment: name*<idx>[*]=value. */
struct seg {
	int stem;
	int value;
	unsigned int idx;
	bool extended;
	size_t seq;	/* order of appearance: keeps the sort stable */
	const char *key;	/* the stem's text, set just before sorting */
	size_t key_len;
};

static bool
ascii_case_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return false;
	}
	return true;
}

/* By name (bytes, as strcmp), index, then appearance: a total order. */
static int
seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	size_t xl = x->key_len, yl = y->key_len;
	int c = memcmp(x->key, y->key, xl < yl ? xl : yl);
	if (c == 0 && xl != yl)
		c = xl < yl ? -1 : 1;
	if (c == 0 && x->idx != y->idx)
		c = x->idx < y->idx ? -1 : 1;
	if (c == 0 && x->seq != y->seq)
		c = x->seq < y->seq ? -1 : 1;
	return c;
}

/* content_param - ";" token "=" (token / quoted-string): 1, 0 at the
 * end, -1 broken (the caller skips one character and tries again). */
static int
content_param(struct mime_lex *lx, struct buf *key, struct buf *val)
{
	int ret;

	buf_reset(key);
	buf_reset(val);
	if (lx->p >= lx->end)
		return 0;
	if (*lx->p != ';')
		return -1;
	lx->p++;
	if (mime_lex_skip_lwsp(lx) <= 0)
		return -1;
	if (mime_lex_token(lx, key) <= 0 || *lx->p != '=')
		return -1;
	lx->p++;
	if ((ret = mime_lex_skip_lwsp(lx)) <= 0) {
		/* no value */
	} else if (*lx->p == '"') {
		ret = mime_lex_quoted(lx, val);
	} else if (*lx->p == '=') {
		/* name==?utf-8?b?...?= from broken senders: keep it whole */
		const unsigned char *s = lx->p;
		while (lx->p < lx->end && *lx->p != ';' && *lx->p != ' ' &&
		    *lx->p != '\t' && *lx->p != '\r' && *lx->p != '\n')
			lx->p++;
		mime_lex_add(lx, val, s, (size_t)(lx->p - s));
	} else {
		ret = mime_lex_token(lx, val);
	}
	return ret < 0 ? -1 : 1;
}

/* merge_segments - RFC 2231 3: name*0, name*1 ... joined in index order
 * as one name (or name* when any segment is encoded; plain segments are
 * then %-escaped so the result stays one valid extended value). A group
 * with a missing index is kept segment by segment. */
static int
merge_segments(struct mime_strs *s, struct seg *v, size_t n,
	       struct plist *out)
{
	struct buf tmp;
	char num[16];
	int r = 0;

	buf_init(&tmp, MIME_SCRATCH_MAX);
	for (size_t i = 0; i < n; i++)
		v[i].key = mime_strs_get(s, v[i].stem, &v[i].key_len);
	qsort(v, n, sizeof(*v), seg_cmp);
	for (size_t i = 0, next; i < n && r == 0; i = next) {
		bool ok = true, have_ext = false;
		unsigned int want = 0;
		size_t il, jl;
		const char *is, *js;

		/* strings move when one is added: fetch them each time */
		for (next = i; next < n; next++) {
			is = mime_strs_get(s, v[i].stem, &il);
			js = mime_strs_get(s, v[next].stem, &jl);
			if (!ascii_case_eq(is, il, js, jl))
				break;
			if (v[next].idx != want)
				ok = false;
			have_ext |= v[next].extended;
			want++;
		}
		for (size_t j = i; j < next && r == 0 && !ok; j++) {
			buf_reset(&tmp);
			snprintf(num, sizeof(num), "*%u%s", v[j].idx,
			    v[j].extended ? "*" : "");
			js = mime_strs_get(s, v[j].stem, &jl);
			r = buf_add(&tmp, js, jl);
			if (r == 0)
				r = buf_adds(&tmp, num);
			if (r == 0)
				r = plist_add(out, strs_add_buf(s, &tmp),
				    v[j].value);
		}
		if (!ok || r != 0)
			continue;
		buf_reset(&tmp);
		if (!v[i].extended && have_ext)
			r = buf_add(&tmp, "''", 2);
		for (size_t j = i; j < next && r == 0; j++) {
			size_t vl;
			const char *vs = mime_strs_get(s, v[j].value, &vl);
			if (v[j].extended || !have_ext) {
				r = buf_add(&tmp, vs, vl);
				continue;
			}
			for (size_t k = 0; k < vl && r == 0; k++)
				r = vs[k] == '%' ? buf_add(&tmp, "%25", 3) :
				    buf_addc(&tmp, vs[k]);
		}
		if (r != 0)
			break;
		int val = strs_add_buf(s, &tmp);
		buf_reset(&tmp);
		is = mime_strs_get(s, v[i].stem, &il);
		r = buf_add(&tmp, is, il);
		if (r == 0 && have_ext)
			r = buf_addc(&tmp, '*');
		if (r == 0)
			r = plist_add(out, strs_add_buf(s, &tmp), val);
	}
	buf_free(&tmp);
	return r;
}

/* Dovecot 2.3 reads 128 parameters (or broken bits) of a field, no
 * more: a bound on the work, and what decides whether a boundary given
 * late is seen. */
#define PARAMS_MAX 128

/* parse_params - the parameters (at most PARAMS_MAX attempts), plain
 * ones first in their order, then the joined RFC 2231 ones by name, as
 * Dovecot lists them. Broken input is skipped a character at a time. */
static int
parse_params(struct mime_lex *lx, struct mime_strs *s, struct plist *out)
{
	struct buf key, val;
	struct seg *segs = NULL;
	size_t n_segs = 0, cap_segs = 0;
	unsigned int idx = 0;	/* kept from one segment to the next, as
				 * Dovecot does for "name*" */
	int ret, r = 0;

	buf_init(&key, MIME_SCRATCH_MAX);
	buf_init(&val, MIME_SCRATCH_MAX);
	for (unsigned calls = 0; r == 0 && calls < PARAMS_MAX &&
	    (ret = content_param(lx, &key, &val)) != 0; calls++) {
		if (ret < 0) {
			if (lx->p >= lx->end)
				break;
			lx->p++;
			continue;
		}
		const char *k = buf_data(&key), *kend = k + buf_len(&key);
		const char *star = memchr(k, '*', buf_len(&key));
		if (star != NULL) {
			const char *p = star;
			bool extended;
			if (p + 1 < kend) {
				p++;
				idx = 0;
				for (; p < kend && *p >= '0' && *p <= '9'; p++)
					idx = idx * 10 + (unsigned)(*p - '0');
			}
			extended = p < kend && *p == '*';
			if (extended)
				p++;
			if (p == kend) {
				if (n_segs == cap_segs) {
					size_t c = cap_segs ? cap_segs * 2 : 8;
					struct seg *ns = realloc(segs,
					    c * sizeof(*ns));
					if (ns == NULL) {
						r = ERR_NOMEM;
						break;
					}
					segs = ns;
					cap_segs = c;
				}
				struct seg *sg = &segs[n_segs];
				sg->stem = mime_strs_add(s, k, (size_t)(star -
				    k));
				sg->value = strs_add_buf(s, &val);
				sg->idx = idx;
				sg->extended = extended;
				sg->seq = n_segs++;
				continue;
			}
		}
		r = plist_add(out, strs_add_buf(s, &key), strs_add_buf(s,
		    &val));
	}
	if (r == 0 && s->err != 0)
		r = s->err;
	if (r == 0 && n_segs > 0)
		r = merge_segments(s, segs, n_segs, out);
	free(segs);
	buf_free(&key);
	buf_free(&val);
	if (r == 0 && lx->err != 0)
		r = lx->err;
	if (r == 0 && s->err != 0)
		r = s->err;
	return r;
}

/* content_type - "type/subtype" into str as Dovecot reads it: a type
 * alone at the end is kept (no subtype), anything else that is not
 * "type/subtype" followed by ';' or the end leaves str empty. Returns
 * -1 when broken (no parameters then). */
static int
content_type(struct mime_lex *lx, struct buf *str)
{
	int ret;

	if (mime_lex_skip_lwsp(lx) <= 0)
		return -1;
	if (mime_lex_token(lx, str) <= 0 || buf_len(str) == 0)
		return -1;
	if (*lx->p != '/') {
		buf_reset(str);
		return -1;
	}
	lx->p++;
	if (mime_lex_skip_lwsp(lx) <= 0) {
		buf_reset(str);
		return -1;
	}
	mime_lex_add(lx, str, "/", 1);
	size_t sub = buf_len(str);
	if ((ret = mime_lex_token(lx, str)) < 0 || buf_len(str) == sub ||
	    (lx->p < lx->end && *lx->p != ';')) {
		buf_reset(str);
		return -1;
	}
	return ret;
}

static bool
prefix_case(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && ascii_case_eq(s, n, prefix, n);
}

int
mime_ctype_parse(const char *value, size_t len, struct mime_strs *tmp,
		 struct mime_ctype *ct)
{
	struct mime_lex lx;
	struct buf str;
	struct plist pl = { NULL, 0, 0 };
	int ret, r = 0;

	memset(ct, 0, sizeof(*ct));
	buf_init(&str, MIME_SCRATCH_MAX);
	mime_lex_init(&lx, value, len, NULL);
	mime_lex_skip_lwsp(&lx);
	ret = content_type(&lx, &str);
	const char *s = buf_data(&str);
	size_t sl = buf_len(&str);
	if (ascii_case_eq(s, sl, "message/rfc822", 14)) {
		ct->rfc822 = true;
	} else if (prefix_case(s, sl, "multipart/")) {
		ct->multipart = true;
		ct->digest = ascii_case_eq(s + 10, sl - 10, "digest", 6);
	}
	if (ct->multipart && ret >= 0) {
		mime_strs_reset(tmp);
		r = parse_params(&lx, tmp, &pl);
		for (size_t i = 0; r == 0 && i < pl.n; i++) {
			size_t kl, vl;
			const char *k = mime_strs_get(tmp, pl.kv[2 * i], &kl);
			const char *v = mime_strs_get(tmp, pl.kv[2 * i + 1],
			    &vl);
			if (!ascii_case_eq(k, kl, "boundary", 8))
				continue;
			ct->has_boundary = true;
			ct->boundary_len = vl < MIME_BOUNDARY_MAX ? vl :
			    MIME_BOUNDARY_MAX;
			memcpy(ct->boundary, v, ct->boundary_len);
			break;
		}
	}
	if (r == 0 && lx.err != 0)
		r = lx.err;
	free(pl.kv);
	buf_free(&str);
	return r;
}

/* ---- the Content-* fields of one part ---- */

struct pdata {
	struct mime_strs s;
	struct plist params;
	struct plist dparams;
	int type;	/* -1: no Content-Type */
	int subtype;	/* -1: none ("") */
	int cte, id, desc, md5, loc, disp;
	int lang;	/* first of n_lang consecutive strings */
	size_t n_lang;
	struct buf tmp;
	struct buf clean;
};

static void
pdata_init(struct pdata *d)
{
	memset(d, 0, sizeof(*d));
	mime_strs_init(&d->s);
	buf_init(&d->tmp, MIME_SCRATCH_MAX);
	buf_init(&d->clean, MIME_SCRATCH_MAX);
}

static void
pdata_reset(struct pdata *d)
{
	mime_strs_reset(&d->s);
	d->params.n = d->dparams.n = 0;
	d->type = d->subtype = d->cte = d->id = d->desc = -1;
	d->md5 = d->loc = d->disp = d->lang = -1;
	d->n_lang = 0;
}

static void
pdata_free(struct pdata *d)
{
	mime_strs_free(&d->s);
	free(d->params.kv);
	free(d->dparams.kv);
	buf_free(&d->tmp);
	buf_free(&d->clean);
}

static int
pd_type(struct pdata *d, const char *v, size_t len)
{
	struct mime_lex lx;
	int ret;

	buf_reset(&d->tmp);
	mime_lex_init(&lx, v, len, NULL);
	mime_lex_skip_lwsp(&lx);
	ret = content_type(&lx, &d->tmp);
	if (lx.err != 0)
		return lx.err;
	const char *s = buf_data(&d->tmp);
	const char *slash = memchr(s, '/', buf_len(&d->tmp));
	if (slash == NULL) {
		d->type = mime_strs_add(&d->s, s, buf_len(&d->tmp));
	} else {
		d->type = mime_strs_add(&d->s, s, (size_t)(slash - s));
		d->subtype = mime_strs_add(&d->s, slash + 1,
		    buf_len(&d->tmp) - (size_t)(slash - s) - 1);
	}
	/* A broken type is kept as far as it went, without parameters:
	 * calling it text/plain would contradict what the walker saw. */
	return ret < 0 ? 0 : parse_params(&lx, &d->s, &d->params);
}

/* pd_cte - Content-Transfer-Encoding: one token, alone in the field. */
static int
pd_cte(struct pdata *d, const char *v, size_t len)
{
	struct mime_lex lx;

	buf_reset(&d->tmp);
	mime_lex_init(&lx, v, len, NULL);
	mime_lex_skip_lwsp(&lx);
	if (mime_lex_token(&lx, &d->tmp) >= 0 &&
	    mime_lex_skip_lwsp(&lx) == 0 && buf_len(&d->tmp) > 0)
		d->cte = strs_add_buf(&d->s, &d->tmp);
	return lx.err;
}

static int
pd_disposition(struct pdata *d, const char *v, size_t len)
{
	struct mime_lex lx;

	buf_reset(&d->tmp);
	mime_lex_init(&lx, v, len, NULL);
	mime_lex_skip_lwsp(&lx);
	if (mime_lex_token(&lx, &d->tmp) < 0)
		return lx.err;
	d->disp = strs_add_buf(&d->s, &d->tmp);
	d->dparams.n = 0;
	return parse_params(&lx, &d->s, &d->dparams);
}

/* RFC 3066 tags: atoms separated by commas. */
static int
pd_language(struct pdata *d, const char *v, size_t len)
{
	struct mime_lex lx;

	mime_lex_init(&lx, v, len, NULL);
	mime_lex_skip_lwsp(&lx);
	for (;;) {
		buf_reset(&d->tmp);
		if (mime_lex_atom(&lx, &d->tmp) < 0)
			break;
		int i = strs_add_buf(&d->s, &d->tmp);
		if (d->n_lang++ == 0)
			d->lang = i;
		if (lx.p >= lx.end || *lx.p != ',')
			break;
		lx.p++;
		mime_lex_skip_lwsp(&lx);
	}
	return lx.err;
}

/* pdata_parse - the Content-* fields of hdr[len]; the first of each
 * wins, except Content-Disposition which a later field replaces while
 * no parameters were seen (Dovecot's rule). Without MIME the fields are
 * forgotten (RFC 2045 4: they mean nothing without MIME-Version). */
static int
pdata_parse(struct pdata *d, const char *hdr, size_t len, bool is_mime)
{
	struct mime_hdr_walk hw;
	struct mime_field f;
	int r = 0;

	pdata_reset(d);
	if (!is_mime)
		return 0;
	mime_fields_init(&hw, hdr, len);
	while (r == 0 && mime_fields_next(&hw, &f) == 1) {
		if (f.name_len < 8 || !prefix_case(f.name, f.name_len,
		    "content-"))
			continue;
		struct mime_field n = f;
		n.name += 8;
		n.name_len -= 8;
		size_t vl;
		const char *v = mime_field_clean(&f, &d->clean, &vl);
		if (v == NULL)
			return ERR_NOMEM;
		if (mime_field_is(&n, "type") && d->type < 0)
			r = pd_type(d, v, vl);
		else if (mime_field_is(&n, "transfer-encoding") && d->cte < 0)
			r = pd_cte(d, v, vl);
		else if (mime_field_is(&n, "id") && d->id < 0)
			d->id = mime_strs_add(&d->s, v, vl);
		else if (mime_field_is(&n, "md5") && d->md5 < 0)
			d->md5 = mime_strs_add(&d->s, v, vl);
		else if (mime_field_is(&n, "location") && d->loc < 0)
			d->loc = mime_strs_add(&d->s, v, vl);
		else if (mime_field_is(&n, "description") && d->desc < 0)
			d->desc = mime_strs_add(&d->s, v, vl);
		else if (mime_field_is(&n, "language") && d->n_lang == 0)
			r = pd_language(d, v, vl);
		else if (mime_field_is(&n, "disposition") &&
		    d->dparams.n == 0)
			r = pd_disposition(d, v, vl);
	}
	if (r == 0 && d->s.err != 0)
		r = d->s.err;
	return r;
}

/* ---- writing ---- */

/* One traversal writes BODY (out[0]) and BODYSTRUCTURE (out[1]); which
 * is 0 or 1 for one of them, -1 for both. */
struct bw {
	const struct mime_tree *t;
	struct buf *out[2];
	int err;
};

static void
bw_add(struct bw *w, int which, const char *s, size_t len)
{
	for (int i = 0; i < 2; i++) {
		if (w->err == 0 && (which < 0 || which == i)) {
			int r = buf_add(w->out[i], s, len);
			if (r < 0)
				w->err = r;
		}
	}
}

static void
bw_adds(struct bw *w, int which, const char *s)
{
	bw_add(w, which, s, strlen(s));
}

static void
bw_num(struct bw *w, uint32_t n)
{
	char num[16];

	snprintf(num, sizeof(num), " %" PRIu32, n);
	bw_adds(w, -1, num);
}

/* bw_str - an IMAP string for string i of the part data (NIL if < 0),
 * CR and LF removed when nolf. */
static void
bw_str(struct bw *w, const struct pdata *d, int which, int i, bool nolf)
{
	for (int k = 0; k < 2; k++) {
		if (w->err != 0 || (which >= 0 && which != k))
			continue;
		size_t len = 0;
		const char *s = i < 0 ? NULL : mime_strs_get(&d->s, i, &len);
		int r = nolf ? mime_imap_nolf(s, len, w->out[k]) :
		    mime_imap_string(s, len, w->out[k]);
		if (r < 0)
			w->err = r;
	}
}

static void
bw_params(struct bw *w, const struct pdata *d, int which,
	  const struct plist *pl, bool default_charset)
{
	bool seen_charset = false;

	if (!default_charset && pl->n == 0) {
		bw_adds(w, which, "NIL");
		return;
	}
	bw_adds(w, which, "(");
	for (size_t i = 0; i < pl->n; i++) {
		size_t kl;
		const char *k = mime_strs_get(&d->s, pl->kv[2 * i], &kl);
		seen_charset |= ascii_case_eq(k, kl, "charset", 7);
		if (i > 0)
			bw_adds(w, which, " ");
		bw_str(w, d, which, pl->kv[2 * i], false);
		bw_adds(w, which, " ");
		bw_str(w, d, which, pl->kv[2 * i + 1], false);
	}
	/* RFC 2045 5.2: text without a charset is us-ascii; say so */
	if (default_charset && !seen_charset)
		bw_adds(w, which, pl->n > 0 ? " \"charset\" \"us-ascii\"" :
		    "\"charset\" \"us-ascii\"");
	bw_adds(w, which, ")");
}

/* bw_ext_common - disposition, language and location (BODYSTRUCTURE). */
static void
bw_ext_common(struct bw *w, const struct pdata *d)
{
	bw_adds(w, 1, " ");
	if (d->disp < 0) {
		bw_adds(w, 1, "NIL");
	} else {
		bw_adds(w, 1, "(");
		bw_str(w, d, 1, d->disp, false);
		bw_adds(w, 1, " ");
		bw_params(w, d, 1, &d->dparams, false);
		bw_adds(w, 1, ")");
	}
	bw_adds(w, 1, " ");
	if (d->n_lang == 0) {
		bw_adds(w, 1, "NIL");
	} else {
		bw_adds(w, 1, "(");
		for (size_t i = 0; i < d->n_lang; i++) {
			if (i > 0)
				bw_adds(w, 1, " ");
			bw_str(w, d, 1, d->lang + (int)i, false);
		}
		bw_adds(w, 1, ")");
	}
	bw_adds(w, 1, " ");
	bw_str(w, d, 1, d->loc, true);
}

static void bw_part(struct bw *w, size_t i);

static void
bw_multipart(struct bw *w, const struct pdata *d, size_t i)
{
	const struct mime_tree *t = w->t;
	uint32_t left = t->parts[i].n_children;

	/* Children of part i are the following parts whose parent is i. */
	for (size_t j = i + 1; j < t->n && left > 0 && w->err == 0; j++) {
		if (t->parts[j].parent == i) {
			bw_part(w, j);
			left--;
		}
	}
	if (t->parts[i].n_children == 0) {
		/* RFC 2046 requires a part; Dovecot shows an empty one */
		bw_adds(w, -1, "(\"text\" \"plain\" (\"charset\" \"us-ascii\")"
		    " NIL NIL \"7bit\" 0 0");
		bw_adds(w, 1, " NIL NIL NIL NIL");
		bw_adds(w, -1, ")");
	}
	bw_adds(w, -1, " ");
	if (d->subtype >= 0)
		bw_str(w, d, -1, d->subtype, false);
	else
		bw_adds(w, -1, "\"\"");
	bw_adds(w, 1, " ");
	bw_params(w, d, 1, &d->params, false);
	bw_ext_common(w, d);
}

static void
bw_leaf(struct bw *w, const struct pdata *d, size_t i)
{
	const struct mime_tree *t = w->t;
	const struct mime_part *p = &t->parts[i];
	bool opaque = (t->pflags[i] & MIME_PF_OPAQUE) != 0;
	bool message = p->kind == MIME_KIND_MESSAGE;
	bool text = false;
	size_t tl;

	/* A "multipart" that could not be read as one (no subtype) is
	 * shown as opaque data, as Dovecot does: clients would look for
	 * parts that are not there. */
	if (!message && d->type >= 0) {
		const char *ts = mime_strs_get(&d->s, d->type, &tl);
		opaque |= ascii_case_eq(ts, tl, "multipart", 9);
	}

	if (message) {
		bw_adds(w, -1, "\"message\" \"rfc822\"");
	} else if (opaque) {
		bw_adds(w, -1, "\"application\" \"octet-stream\"");
	} else if (d->type < 0) {
		text = true;
		bw_adds(w, -1, "\"text\" \"plain\"");
	} else {
		const char *ts = mime_strs_get(&d->s, d->type, &tl);
		text = ascii_case_eq(ts, tl, "text", 4);
		bw_str(w, d, -1, d->type, false);
		bw_adds(w, -1, " ");
		if (d->subtype >= 0)
			bw_str(w, d, -1, d->subtype, false);
		else
			bw_adds(w, -1, "\"\"");
	}
	bw_adds(w, -1, " ");
	if (t->pflags[i] & MIME_PF_OPAQUE)
		bw_adds(w, -1, "NIL");
	else
		bw_params(w, d, -1, &d->params, text);
	bw_adds(w, -1, " ");
	bw_str(w, d, -1, d->id, true);
	bw_adds(w, -1, " ");
	bw_str(w, d, -1, d->desc, true);
	bw_adds(w, -1, " ");
	if (d->cte >= 0)
		bw_str(w, d, -1, d->cte, false);
	else
		bw_adds(w, -1, "\"7bit\"");
	bw_num(w, p->body_len);
	if (text) {
		bw_num(w, t->lines[i]);
	} else if (message) {
		/* RFC 3501: envelope, body and lines of the encapsulated
		 * message, which is the one child, right after us. */
		const struct mime_part *c = &t->parts[i + 1];
		for (int k = 0; k < 2 && w->err == 0; k++) {
			int r = buf_add(w->out[k], " ", 1);
			if (r == 0)
				r = mime_envelope_write(t->msg + c->hdr_off,
				    c->hdr_len, w->out[k]);
			if (r == 0)
				r = buf_add(w->out[k], " ", 1);
			if (r < 0)
				w->err = r;
		}
		bw_part(w, i + 1);
		bw_num(w, t->lines[i]);
	}
	bw_adds(w, 1, " ");
	bw_str(w, d, 1, d->md5, true);
	bw_ext_common(w, d);
}

/* bw_part - "(...)" for part i. Recursion is bounded by MIME_DEPTH_MAX:
 * the walker refuses deeper trees. */
static void
bw_part(struct bw *w, size_t i)
{
	const struct mime_part *p = &w->t->parts[i];
	struct pdata d;

	if (w->err != 0)
		return;
	pdata_init(&d);
	int r = pdata_parse(&d, w->t->msg + p->hdr_off, p->hdr_len,
	    (w->t->pflags[i] & MIME_PF_IS_MIME) != 0);
	if (r < 0) {
		w->err = r;
	} else {
		bw_adds(w, -1, "(");
		if (p->kind == MIME_KIND_MULTIPART)
			bw_multipart(w, &d, i);
		else
			bw_leaf(w, &d, i);
		bw_adds(w, -1, ")");
	}
	pdata_free(&d);
}

int
mime_body_write(const struct mime_tree *t, struct buf *body, struct buf *bs)
{
	struct bw w = { t, { body, bs }, 0 };

	bw_part(&w, 0);
	return w.err;
}

bool
mime_header_is_mime(const char *hdr, size_t len)
{
	struct mime_hdr_walk hw;
	struct mime_field f;

	mime_fields_init(&hw, hdr, len);
	while (mime_fields_next(&hw, &f) == 1)
		if (mime_field_is(&f, "mime-version") ||
		    mime_field_is(&f, "content-type"))
			return true;
	return false;
}

int
mime_part_text_info(const char *msg, const struct mime_part *p,
		    bool is_mime, struct mime_strs *strs, bool *is_text,
		    int *charset, int *cte)
{
	struct pdata d;
	size_t tl;
	int r;

	*is_text = false;
	*charset = *cte = -1;
	if (p->kind != MIME_KIND_LEAF)
		return 0;
	pdata_init(&d);
	r = pdata_parse(&d, msg + p->hdr_off, p->hdr_len, is_mime);
	if (r == 0 && d.type >= 0) {
		const char *ts = mime_strs_get(&d.s, d.type, &tl);
		*is_text = ascii_case_eq(ts, tl, "text", 4);
	} else if (r == 0) {
		*is_text = true;
	}
	for (size_t i = 0; r == 0 && *is_text && i < d.params.n; i++) {
		size_t kl, vl;
		const char *k = mime_strs_get(&d.s, d.params.kv[2 * i], &kl);
		if (!ascii_case_eq(k, kl, "charset", 7))
			continue;
		const char *v = mime_strs_get(&d.s, d.params.kv[2 * i + 1],
		    &vl);
		*charset = mime_strs_add(strs, v, vl);
		break;
	}
	if (r == 0 && *is_text && d.cte >= 0) {
		size_t vl;
		const char *v = mime_strs_get(&d.s, d.cte, &vl);
		*cte = mime_strs_add(strs, v, vl);
	}
	if (r == 0 && strs->err != 0)
		r = strs->err;
	pdata_free(&d);
	return r;
}
