/* SPDX-License-Identifier: MIT */
/*
 * mime_struct.c - the part tree of a message in one pass, without
 * recursion, bounded by MIME_PARTS_MAX and MIME_DEPTH_MAX; the section
 * lookups of RFC 3501 6.4.5 over it; and the stored (versioned) form.
 * Boundaries are found the way Dovecot finds them (any enclosing
 * boundary ends a part, the longest matching prefix wins, 80 characters
 * at most) so that part numbers and sizes agree with what clients
 * already know. libetpan's mailmime_parse is not used: it recurses once
 * per nesting level (10,000 nested multiparts overflow a 1 MiB stack)
 * and rescans each level's text (quadratic: 8 s for 700 KB).
 */
#include "mime/mime_struct.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mime/mime_struct_int.h"

void
mime_info_init(struct mime_info *mi)
{
	buf_init(&mi->envelope, MIME_TEXT_MAX);
	buf_init(&mi->body, MIME_TEXT_MAX);
	buf_init(&mi->bodystructure, MIME_TEXT_MAX);
	mi->n_parts = 0;
	mi->parts = NULL;
}

void
mime_info_free(struct mime_info *mi)
{
	if (mi == NULL)
		return;
	buf_free(&mi->envelope);
	buf_free(&mi->body);
	buf_free(&mi->bodystructure);
	free(mi->parts);
	mime_info_init(mi);
}

/* ---- the walk ---- */

struct bnd {
	char s[MIME_BOUNDARY_MAX];
	size_t len;
	uint32_t part;
};

/* A boundary line found at q; the current part ends at e, which follows
 * nl_e line feeds of the message, and the parts around it that the
 * boundary closes end at up_e. Those differ only when the boundary cut
 * a header: the newline before it then stays in the parent's body (as
 * in Dovecot: it matters for an encapsulated message's size). */
struct hit {
	size_t b;
	size_t q;
	size_t e;
	uint32_t nl_e;
	size_t up_e;
	uint32_t up_nl;
	int n_e;	/* innermost parts ending at e: 1, or 2 when an
			 * encapsulated message was cut with its part */
};

struct walk {
	const char *msg;
	size_t len;
	size_t pos;		/* always at the start of a line */
	uint32_t nl;		/* line feeds in msg[0, pos) */
	struct mime_part *parts;
	uint8_t *pflags;
	uint32_t *lines;	/* line feeds before the body, then count */
	uint8_t *depth;
	size_t n;
	size_t cap;
	struct bnd bnd[MIME_DEPTH_MAX + 2];
	size_t n_bnd;
	uint32_t cur;
	struct mime_strs tmp;
};

static int
new_part(struct walk *w, uint32_t parent, size_t hdr_off)
{
	unsigned depth = w->n == 0 ? 0 : w->depth[parent] + 1u;

	if (w->n >= MIME_PARTS_MAX || depth > MIME_DEPTH_MAX)
		return ERR_LIMIT;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		struct mime_part *p = realloc(w->parts, cap * sizeof(*p));
		if (p == NULL)
			return ERR_NOMEM;
		w->parts = p;
		uint8_t *f = realloc(w->pflags, cap);
		if (f == NULL)
			return ERR_NOMEM;
		w->pflags = f;
		uint8_t *d = realloc(w->depth, cap);
		if (d == NULL)
			return ERR_NOMEM;
		w->depth = d;
		uint32_t *l = realloc(w->lines, cap * sizeof(*l));
		if (l == NULL)
			return ERR_NOMEM;
		w->lines = l;
		w->cap = cap;
	}
	struct mime_part *p = &w->parts[w->n];
	memset(p, 0, sizeof(*p));
	p->parent = w->n == 0 ? 0 : parent;
	p->hdr_off = (uint32_t)hdr_off;
	p->kind = MIME_KIND_LEAF;
	w->pflags[w->n] = MIME_PF_IN_HEADER;
	w->depth[w->n] = (uint8_t)depth;
	w->lines[w->n] = 0;
	if (w->n > 0)
		w->parts[parent].n_children++;
	w->cur = (uint32_t)w->n++;
	return 0;
}

/* close_part - part i ends at e (nl_e line feeds before e). */
static void
close_part(struct walk *w, uint32_t i, size_t e, uint32_t nl_e)
{
	struct mime_part *p = &w->parts[i];

	if (w->pflags[i] & MIME_PF_IN_HEADER) {
		p->hdr_len = (uint32_t)(e - p->hdr_off);
		p->body_off = (uint32_t)e;
		w->lines[i] = 0;
		w->pflags[i] &= (uint8_t)~MIME_PF_IN_HEADER;
	} else {
		w->lines[i] = nl_e - w->lines[i];
	}
	p->body_len = (uint32_t)(e - p->body_off);
}

/* bnd_line - the boundary that the line at p starts (the longest; the
 * innermost of equal ones, RFC 2046 5.1.2), or -1. */
static long
bnd_line(const struct walk *w, size_t p)
{
	long best = -1;

	if (w->len - p < 2 || w->msg[p] != '-' || w->msg[p + 1] != '-')
		return -1;
	p += 2;
	for (size_t i = w->n_bnd; i-- > 0;) {
		const struct bnd *b = &w->bnd[i];
		if (b->len <= w->len - p &&
		    memcmp(w->msg + p, b->s, b->len) == 0 &&
		    (best < 0 || w->bnd[best].len < b->len))
			best = (long)i;
	}
	return best;
}

/* line_hit - the boundary at q ends what began at start: the [CR]LF
 * before q belongs to the boundary (RFC 2046 5.1.1). */
static void
line_hit(struct walk *w, size_t start, size_t q, long b, struct hit *h)
{
	h->b = (size_t)b;
	h->q = q;
	h->e = q;
	h->nl_e = w->nl;
	if (q > start) {
		h->e = q - 1;
		h->nl_e = w->nl - 1;
		if (h->e > start && w->msg[h->e - 1] == '\r')
			h->e--;
	}
	h->up_e = h->e;
	h->up_nl = h->nl_e;
	h->n_e = 1;
}

/* walk_header - the header of the current part from w->pos: 0 when an
 * empty line ends it (*blank_r: where that line starts), 1 when a
 * boundary line cuts it (then *h says where), 2 at the end of the input.
 * Sets hdr_len and body_off either way. */
static int
walk_header(struct walk *w, struct hit *h, size_t *blank_r)
{
	struct mime_part *part = &w->parts[w->cur];
	size_t start = w->pos;
	size_t p = start;
	int ret = 2;

	for (;;) {
		long b = -1;
		if (p >= w->len) {
			p = w->len;
			break;
		}
		if (w->n_bnd > 0 && (b = bnd_line(w, p)) >= 0) {
			line_hit(w, start, p, b, h);
			h->up_e = p;
			h->up_nl = w->nl;
			p = h->e;
			ret = 1;
			break;
		}
		const char *nlp = memchr(w->msg + p, '\n', w->len - p);
		if (nlp == NULL) {
			p = w->len;
			break;
		}
		size_t e = (size_t)(nlp - w->msg), line = p;
		p = e + 1;
		w->nl++;
		if (e == line || (e == line + 1 && w->msg[line] == '\r')) {
			*blank_r = line;	/* part of the header */
			ret = 0;
			break;
		}
	}
	w->pos = ret == 1 ? h->q : p;
	part->hdr_len = (uint32_t)(p - part->hdr_off);
	part->body_off = (uint32_t)p;
	w->lines[w->cur] = ret == 1 ? h->nl_e : w->nl;
	w->pflags[w->cur] &= (uint8_t)~MIME_PF_IN_HEADER;
	return ret;
}

/* walk_body - from w->pos to the next boundary line (1, *h) or to the
 * end of the input (0), counting line feeds on the way. */
static int
walk_body(struct walk *w, struct hit *h)
{
	size_t start = w->pos;
	size_t p = start;

	for (;;) {
		long b;
		if (w->n_bnd > 0 && p < w->len && (b = bnd_line(w, p)) >= 0) {
			line_hit(w, start, p, b, h);
			w->pos = p;
			return 1;
		}
		const char *nlp = memchr(w->msg + p, '\n', w->len - p);
		if (nlp == NULL) {
			w->pos = w->len;
			return 0;
		}
		p = (size_t)(nlp - w->msg) + 1;
		w->nl++;
	}
}

/* classify - after its header: what the current part is; *rfc822_r
 * when it encapsulates a message (its child comes next). A multipart
 * starts using its boundary only if an empty line ended its header. */
static int
classify(struct walk *w, bool may_push, int *rfc822_r)
{
	uint32_t i = w->cur;
	struct mime_part *p = &w->parts[i];
	const char *hdr = w->msg + p->hdr_off;
	struct mime_hdr_walk hw;
	struct mime_field f;
	struct mime_ctype ct;
	bool in_multipart = i > 0 &&
	    w->parts[p->parent].kind == MIME_KIND_MULTIPART;
	bool is_mime = in_multipart;
	bool has_ct = false;
	int r = 0;

	memset(&ct, 0, sizeof(ct));
	mime_fields_init(&hw, hdr, p->hdr_len);
	while (mime_fields_next(&hw, &f) == 1) {
		if (mime_field_is(&f, "mime-version")) {
			is_mime = true;
		} else if (!has_ct && mime_field_is(&f, "content-type")) {
			struct buf clean;
			size_t vl;
			buf_init(&clean, MIME_SCRATCH_MAX);
			const char *v = mime_field_clean(&f, &clean, &vl);
			r = v == NULL ? ERR_NOMEM :
			    mime_ctype_parse(v, vl, &w->tmp, &ct);
			buf_free(&clean);
			if (r < 0)
				return r;
			has_ct = is_mime = true;
		}
	}
	if (is_mime)
		w->pflags[i] |= MIME_PF_IS_MIME;
	*rfc822_r = 0;
	if (ct.multipart) {
		p->kind = MIME_KIND_MULTIPART;
		if (ct.digest)
			w->pflags[i] |= MIME_PF_DIGEST;
		if (ct.has_boundary && may_push) {
			struct bnd *b = &w->bnd[w->n_bnd++];
			memcpy(b->s, ct.boundary, ct.boundary_len);
			b->len = ct.boundary_len;
			b->part = i;
		}
	} else if (ct.rfc822 || (!has_ct && in_multipart &&
	    (w->pflags[p->parent] & MIME_PF_DIGEST))) {
		/* RFC 2046 5.1.5: in a digest, parts default to rfc822 */
		p->kind = MIME_KIND_MESSAGE;
		*rfc822_r = 1;
	}
	return 0;
}

/* finish - a boundary line ended everything below its multipart. Then
 * a new part begins (1), the multipart's epilogue goes on (0), or the
 * input ended on the boundary line (2). */
static int
finish(struct walk *w, const struct hit *h)
{
	const struct bnd *b = &w->bnd[h->b];
	uint32_t target = b->part;
	size_t after = h->q + 2 + b->len;
	bool close = w->len - after >= 2 && w->msg[after] == '-' &&
	    w->msg[after + 1] == '-';

	for (int k = 0; k < h->n_e && w->cur != target; k++) {
		close_part(w, w->cur, h->e, h->nl_e);
		w->cur = w->parts[w->cur].parent;
	}
	while (w->cur != target) {
		close_part(w, w->cur, h->up_e, h->up_nl);
		w->cur = w->parts[w->cur].parent;
	}
	w->n_bnd = h->b + (close ? 0 : 1);
	const char *nlp = memchr(w->msg + h->q, '\n', w->len - h->q);
	if (nlp == NULL) {
		w->pos = w->len;
		return 2;
	}
	w->pos = (size_t)(nlp - w->msg) + 1;
	w->nl++;
	return close ? 0 : 1;
}

static int
walk_run(struct walk *w)
{
	struct hit h;
	int r, rfc822;

	if ((r = new_part(w, 0, 0)) < 0)
		return r;
	for (;;) {
		/* a header begins at w->pos */
		size_t blank = 0;
		int ended = walk_header(w, &h, &blank);
		if ((r = classify(w, ended == 0, &rfc822)) < 0)
			return r;
		long b;
		if (ended == 0 && w->n_bnd > 0 &&
		    (b = bnd_line(w, w->pos)) >= 0 &&
		    w->bnd[b].part != w->cur) {
			/* RFC 2046 5.1.1: the CRLF before a boundary is
			 * the boundary's, even that of the empty line
			 * ending a header (Dovecot reads it so). */
			struct mime_part *p = &w->parts[w->cur];
			h.b = (size_t)b;
			h.q = h.up_e = w->pos;
			h.e = blank;
			h.nl_e = w->nl - 1;
			h.up_nl = w->nl;
			h.n_e = 1;
			p->hdr_len = (uint32_t)(blank - p->hdr_off);
			p->body_off = (uint32_t)blank;
			w->lines[w->cur] = h.nl_e;
			ended = 1;
		}
		bool ended_by_bnd = ended == 1;
		if (rfc822) {
			const struct mime_part *p = &w->parts[w->cur];
			if ((r = new_part(w, w->cur, p->body_off)) < 0)
				return r;
			if (!ended_by_bnd)
				continue;
			/* the child is cut on its first line: it ends
			 * where its part's header ended */
			h.n_e = 2;
		}
		int step = ended_by_bnd ? finish(w, &h) :
		    walk_body(w, &h) ? finish(w, &h) : 2;
		/* epilogues: the multipart's text goes on */
		while (step == 0)
			step = walk_body(w, &h) ? finish(w, &h) : 2;
		if (step == 2)
			break;
		if ((r = new_part(w, w->cur, w->pos)) < 0)
			return r;
	}
	for (;;) {
		close_part(w, w->cur, w->len, w->nl);
		if (w->cur == 0)
			break;
		w->cur = w->parts[w->cur].parent;
	}
	return 0;
}

/* ---- from the walk to mime_info ---- */

static uint32_t
count_lf(const char *p, size_t len)
{
	uint32_t n = 0;
	const char *end = p + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* single_part - the fallback: the whole message as one opaque part. */
static void
single_part(struct walk *w)
{
	struct mime_part *p = &w->parts[0];

	if (p->kind != MIME_KIND_LEAF)
		w->pflags[0] |= MIME_PF_OPAQUE;
	p->kind = MIME_KIND_LEAF;
	p->n_children = 0;
	p->body_len = (uint32_t)(w->len - p->body_off);
	w->lines[0] = count_lf(w->msg + p->body_off, p->body_len);
	w->n = 1;
}

static int
write_texts(struct walk *w, struct mime_info *mi)
{
	struct mime_tree t = { w->msg, w->len, w->parts, w->pflags, w->lines,
		w->n };
	const struct mime_part *root = &w->parts[0];
	int r;

	buf_reset(&mi->envelope);
	buf_reset(&mi->body);
	buf_reset(&mi->bodystructure);
	r = mime_envelope_write(w->msg, root->hdr_len, &mi->envelope);
	if (r == 0)
		r = mime_body_write(&t, &mi->body, &mi->bodystructure);
	return r;
}

/* write_minimal - when even one part does not fit: no header facts. */
static int
write_minimal(struct mime_info *mi, size_t len)
{
	int r;

	buf_reset(&mi->envelope);
	buf_reset(&mi->body);
	buf_reset(&mi->bodystructure);
	r = buf_adds(&mi->envelope,
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	if (r == 0)
		r = buf_addf(&mi->body, "(\"application\" \"octet-stream\" "
		    "NIL NIL NIL \"7bit\" %zu)", len);
	if (r == 0)
		r = buf_addf(&mi->bodystructure, "(\"application\" "
		    "\"octet-stream\" NIL NIL NIL \"7bit\" %zu NIL NIL NIL "
		    "NIL)", len);
	return r;
}

int
mime_info_parse(const char *msg, size_t len, struct mime_info *mi)
{
	struct walk w;
	int r, ret = 0;

	mime_info_free(mi);
	if (len > UINT32_MAX)
		return ERR_LIMIT;	/* offsets are 32-bit */
	memset(&w, 0, sizeof(w));
	w.msg = msg;
	w.len = len;
	mime_strs_init(&w.tmp);
	r = walk_run(&w);
	if (r == ERR_LIMIT) {
		single_part(&w);
		ret = ERR_LIMIT;
		r = 0;
	}
	if (r == 0) {
		r = write_texts(&w, mi);
		if (r == ERR_LIMIT && w.n > 1) {
			single_part(&w);
			ret = ERR_LIMIT;
			r = write_texts(&w, mi);
		}
		if (r == ERR_LIMIT) {
			ret = ERR_LIMIT;
			r = write_minimal(mi, w.parts[0].body_len);
		}
	}
	mime_strs_free(&w.tmp);
	free(w.pflags);
	free(w.lines);
	free(w.depth);
	if (r < 0) {
		free(w.parts);
		mime_info_free(mi);
		return r;
	}
	mi->parts = w.parts;
	mi->n_parts = w.n;
	return ret;
}

/* ---- sections (RFC 3501 6.4.5) ---- */

/* child - the k-th (1-based) child of part i, or -1. Children follow
 * their parent in depth-first order. */
static long
child(const struct mime_info *mi, size_t i, uint32_t k)
{
	uint32_t seen = 0;

	if (k == 0 || k > mi->parts[i].n_children)
		return -1;
	for (size_t j = i + 1; j < mi->n_parts; j++)
		if (mi->parts[j].parent == i && ++seen == k)
			return (long)j;
	return -1;
}

static bool
word_is(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != w[i])
			return false;
	}
	return true;
}

int
mime_section(const struct mime_info *mi, const char *spec, size_t len,
	     uint32_t *off, uint32_t *out_len)
{
	/* more numbers than levels cannot name a part we keep */
	uint32_t nums[MIME_DEPTH_MAX * 2 + 2];
	size_t n_nums = 0, i = 0;
	bool too_many = false;
	const char *text;
	size_t text_len;

	/* section-part = nz-number *("." nz-number), then a text */
	while (i < len && spec[i] >= '0' && spec[i] <= '9') {
		uint64_t v = 0;
		if (spec[i] == '0')
			return ERR_PROTO;
		while (i < len && spec[i] >= '0' && spec[i] <= '9') {
			v = v * 10 + (uint64_t)(spec[i++] - '0');
			if (v > UINT32_MAX)
				return ERR_PROTO;
		}
		if (n_nums < sizeof(nums) / sizeof(nums[0]))
			nums[n_nums++] = (uint32_t)v;
		else
			too_many = true;
		if (i == len)
			break;
		if (spec[i] != '.' || ++i == len)
			return ERR_PROTO;
	}
	text = spec + i;
	text_len = len - i;
	if (text_len > 0 && !word_is(text, text_len, "HEADER") &&
	    !word_is(text, text_len, "TEXT") &&
	    !(n_nums > 0 && word_is(text, text_len, "MIME")))
		return ERR_PROTO;
	if (mi->n_parts == 0 || too_many)
		return 0;

	size_t cur = 0;
	if (n_nums == 0) {
		const struct mime_part *p = &mi->parts[0];
		if (text_len == 0) {
			*off = 0;
			*out_len = p->hdr_len + p->body_len;
		} else if (word_is(text, text_len, "HEADER")) {
			*off = p->hdr_off;
			*out_len = p->hdr_len;
		} else {
			*off = p->body_off;
			*out_len = p->body_len;
		}
		return 1;
	}
	/* Dovecot's walk: in a multipart the number picks a child; else
	 * only 1 exists (the part itself), and a message/rfc822 part is
	 * entered when more numbers follow. */
	for (size_t k = 0; k < n_nums; k++) {
		const struct mime_part *p = &mi->parts[cur];
		bool more = k + 1 < n_nums;
		if (p->kind == MIME_KIND_MULTIPART) {
			long c = child(mi, cur, nums[k]);
			if (c < 0)
				return 0;
			cur = (size_t)c;
		} else if (nums[k] != 1 ||
		    (more && p->kind != MIME_KIND_MESSAGE)) {
			return 0;
		}
		if (more && mi->parts[cur].kind == MIME_KIND_MESSAGE)
			cur = cur + 1;
	}
	const struct mime_part *p = &mi->parts[cur];
	if (text_len == 0) {
		*off = p->body_off;
		*out_len = p->body_len;
	} else if (word_is(text, text_len, "MIME")) {
		*off = p->hdr_off;
		*out_len = p->hdr_len;
	} else {
		/* HEADER and TEXT exist only for message/rfc822 parts */
		if (p->kind != MIME_KIND_MESSAGE)
			return 0;
		p = &mi->parts[cur + 1];
		bool hdr = word_is(text, text_len, "HEADER");
		*off = hdr ? p->hdr_off : p->body_off;
		*out_len = hdr ? p->hdr_len : p->body_len;
	}
	return 1;
}

/* ---- stored form ----
 * version 1:
 *   u8 1, varint n_parts, three texts (varint length, bytes): envelope,
 *   body, bodystructure; then per part, in order: varint (index -
 *   parent) (0 for the root), varint n_children, varint (hdr_off -
 *   previous hdr_off), varint hdr_len, varint body_len, u8 kind.
 *   body_off is hdr_off + hdr_len. Varints are LEB128, at most 32 bits.
 */
#define MIME_INFO_VERSION 1

static int
put_varint(struct buf *out, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			b[n] |= 0x80;
		n++;
	} while (v != 0);
	return buf_add(out, b, n);
}

static int
put_text(struct buf *out, const struct buf *t)
{
	int r = put_varint(out, buf_len(t));
	return r < 0 ? r : buf_add(out, buf_data(t), buf_len(t));
}

int
mime_info_encode(const struct mime_info *mi, struct buf *out)
{
	uint32_t prev = 0;
	int r;

	if (mi->n_parts == 0 || mi->n_parts > MIME_PARTS_MAX)
		return ERR_INVAL;
	r = buf_addc(out, MIME_INFO_VERSION);
	if (r == 0)
		r = put_varint(out, mi->n_parts);
	if (r == 0)
		r = put_text(out, &mi->envelope);
	if (r == 0)
		r = put_text(out, &mi->body);
	if (r == 0)
		r = put_text(out, &mi->bodystructure);
	for (size_t i = 0; i < mi->n_parts && r == 0; i++) {
		const struct mime_part *p = &mi->parts[i];
		if (p->body_off != p->hdr_off + p->hdr_len || p->hdr_off < prev)
			return ERR_INVAL;
		r = put_varint(out, i - (i == 0 ? 0 : p->parent));
		if (r == 0)
			r = put_varint(out, p->n_children);
		if (r == 0)
			r = put_varint(out, p->hdr_off - prev);
		if (r == 0)
			r = put_varint(out, p->hdr_len);
		if (r == 0)
			r = put_varint(out, p->body_len);
		if (r == 0)
			r = buf_addc(out, (char)p->kind);
		prev = p->hdr_off;
	}
	return r;
}

struct rd {
	const unsigned char *p;
	const unsigned char *end;
	bool bad;
};

static uint32_t
get_varint(struct rd *rd)
{
	uint64_t v = 0;

	for (unsigned shift = 0; !rd->bad; shift += 7) {
		if (rd->p >= rd->end || shift > 28) {
			rd->bad = true;
			break;
		}
		unsigned char c = *rd->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			break;
	}
	if (v > UINT32_MAX)
		rd->bad = true;
	return rd->bad ? 0 : (uint32_t)v;
}

static int
get_text(struct rd *rd, struct buf *t)
{
	uint32_t n = get_varint(rd);

	if (rd->bad || n > (size_t)(rd->end - rd->p)) {
		rd->bad = true;
		return ERR_CORRUPT;
	}
	buf_reset(t);
	int r = buf_add(t, rd->p, n);
	rd->p += n;
	return r == ERR_LIMIT ? ERR_CORRUPT : r;
}

/* check_tree - what the walker guarantees, so that mime_section and the
 * IMAP server may trust a decoded table: parents come first, children
 * counts match, a message part has one child right after it, ranges nest
 * and nothing overflows. */
static int
check_tree(const struct mime_part *parts, size_t n)
{
	uint32_t *kids = calloc(n, sizeof(*kids));

	if (kids == NULL)
		return ERR_NOMEM;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct mime_part *p = &parts[i];
		uint64_t end = (uint64_t)p->body_off + p->body_len;
		if (p->kind > MIME_KIND_MESSAGE || end > UINT32_MAX)
			r = ERR_CORRUPT;
		else if (p->kind == MIME_KIND_LEAF && p->n_children != 0)
			r = ERR_CORRUPT;
		else if (p->kind == MIME_KIND_MESSAGE && (p->n_children != 1 ||
		    i + 1 >= n || parts[i + 1].parent != i))
			r = ERR_CORRUPT;
		if (r != 0 || i == 0)
			continue;
		const struct mime_part *q = &parts[p->parent];
		if (p->hdr_off < q->body_off ||
		    end > (uint64_t)q->body_off + q->body_len)
			r = ERR_CORRUPT;
		kids[p->parent]++;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if (kids[i] != parts[i].n_children)
			r = ERR_CORRUPT;
	free(kids);
	return r;
}

int
mime_info_decode(const void *p, size_t len, struct mime_info *mi)
{
	struct rd rd = { p, (const unsigned char *)p + len, false };
	uint32_t prev = 0;
	int r;

	mime_info_free(mi);
	if (len == 0)
		return ERR_CORRUPT;
	if (*rd.p != MIME_INFO_VERSION)
		return ERR_VERSION;
	rd.p++;
	uint32_t n = get_varint(&rd);
	if (rd.bad || n == 0 || n > MIME_PARTS_MAX)
		return ERR_CORRUPT;
	r = get_text(&rd, &mi->envelope);
	if (r == 0)
		r = get_text(&rd, &mi->body);
	if (r == 0)
		r = get_text(&rd, &mi->bodystructure);
	if (r == 0 && (mi->parts = calloc(n, sizeof(*mi->parts))) == NULL)
		r = ERR_NOMEM;
	for (uint32_t i = 0; i < n && r == 0; i++) {
		struct mime_part *q = &mi->parts[i];
		uint32_t up = get_varint(&rd);
		q->n_children = get_varint(&rd);
		uint32_t delta = get_varint(&rd);
		q->hdr_len = get_varint(&rd);
		q->body_len = get_varint(&rd);
		if (rd.bad || rd.p >= rd.end || up > i || (i > 0 && up == 0) ||
		    (uint64_t)prev + delta + q->hdr_len > UINT32_MAX) {
			r = ERR_CORRUPT;
			break;
		}
		q->kind = *rd.p++;
		q->parent = i - up;
		q->hdr_off = prev + delta;
		q->body_off = q->hdr_off + q->hdr_len;
		prev = q->hdr_off;
	}
	mi->n_parts = n;
	if (r == 0 && rd.p != rd.end)
		r = ERR_CORRUPT;
	if (r == 0)
		r = check_tree(mi->parts, n);
	if (r != 0)
		mime_info_free(mi);
	return r;
}
