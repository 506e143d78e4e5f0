/* SPDX-License-Identifier: MIT */
/*
 * imap_search.c - SEARCH and UID SEARCH (RFC 3501 6.4.4) with every key
 * of RFC 3501, MODSEQ (RFC 7162) and ESEARCH's RETURN options (RFC
 * 4731). String keys are case-insensitive substrings of the decoded text
 * (RFC 2047 words, transfer encodings and charsets undone, Unicode case
 * folded). A message is decrypted only when a key needs its header or
 * its text, and only as much as that key needs.
 */
#include "imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "mime/mime.h"
#include "mime/mime_struct.h"

enum sk_type {
	SK_ALL,
	SK_SEQSET,
	SK_UIDSET,
	SK_FLAG,	/* has flag */
	SK_NOFLAG,
	SK_KEYWORD,
	SK_UNKEYWORD,
	SK_NEW,
	SK_OLD,
	SK_RECENT,
	SK_LARGER,
	SK_SMALLER,
	SK_BEFORE,
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE,
	SK_SENTON,
	SK_SENTSINCE,
	SK_HEADER,
	SK_BODY,
	SK_TEXT,
	SK_MODSEQ,
	SK_NOT,
	SK_OR,
	SK_AND,
};

struct skey {
	enum sk_type t;
	uint32_t flag;
	uint64_t num;
	int64_t day;		/* days since the epoch */
	char *field;
	char *value;		/* case-folded UTF-8 */
	size_t value_len;
	struct imap_seqset set;
	struct skey *a, *b;
	struct skey **list;
	size_t n;
};

struct search_parse {
	struct imap_session *s;
	unsigned n_keys;
	unsigned max_keys;
	bool uses_modseq;
	const char *error;
};

static void
skey_free(struct skey *k)
{
	if (k == NULL)
		return;
	free(k->field);
	free(k->value);
	imap_seqset_free(&k->set);
	skey_free(k->a);
	skey_free(k->b);
	for (size_t i = 0; i < k->n; i++)
		skey_free(k->list[i]);
	free(k->list);
	free(k);
}

/* parse_day - "1-Feb-1994" to days since 1970-01-01. */
static int
parse_day(const char *p, size_t len, int64_t *day)
{
	static const char *months = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char b[24], mon[4];
	int d, y;
	if (len >= sizeof(b))
		return ERR_PROTO;
	memcpy(b, p, len);
	b[len] = '\0';
	if (sscanf(b, "%2d-%3s-%4d", &d, mon, &y) != 3)
		return ERR_PROTO;
	const char *m = strcasestr(months, mon);
	if (m == NULL || (m - months) % 3 != 0 || d < 1 || d > 31 ||
	    y < 1900 || y > 9999)
		return ERR_PROTO;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = d;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = y - 1900;
	*day = (int64_t)timegm(&tm) / 86400;
	return 0;
}

static struct skey *parse_key(struct search_parse *sp, struct imap_args *a);

static struct skey *
new_key(struct search_parse *sp, enum sk_type t)
{
	if (++sp->n_keys > sp->max_keys) {
		sp->error = "Too many search keys";
		return NULL;
	}
	struct skey *k = calloc(1, sizeof(*k));
	if (k == NULL)
		sp->error = "Out of memory";
	else
		k->t = t;
	return k;
}

/* string_arg - an astring, case-folded into k->value. */
static int
string_arg(struct search_parse *sp, struct imap_args *a, struct skey *k)
{
	const char *p;
	size_t len;
	struct buf b;
	if (!imap_arg_astring(a, &p, &len)) {
		sp->error = "Missing search string";
		return ERR_PROTO;
	}
	if (!utf8_valid(p, len)) {
		sp->error = "Search string is not UTF-8";
		return ERR_PROTO;
	}
	buf_init(&b, len * 4 + 16);
	if (mime_casefold(p, len, &b) < 0) {
		buf_free(&b);
		sp->error = "Out of memory";
		return ERR_NOMEM;
	}
	k->value_len = buf_len(&b);
	k->value = buf_take(&b, NULL);
	return 0;
}

static int
number_arg(struct search_parse *sp, struct imap_args *a, uint64_t *v)
{
	const char *p;
	size_t len;
	char num[24];
	if (!imap_arg_atom(a, &p, &len) ||
	    str_copyn(num, sizeof(num), p, len) < 0 ||
	    str_to_u64(num, 0, UINT64_MAX, v) < 0) {
		sp->error = "Invalid number";
		return ERR_PROTO;
	}
	return 0;
}

static int
day_arg(struct search_parse *sp, struct imap_args *a, int64_t *day)
{
	const char *p;
	size_t len;
	if (!imap_arg_astring(a, &p, &len) || parse_day(p, len, day) < 0) {
		sp->error = "Invalid date";
		return ERR_PROTO;
	}
	return 0;
}

static uint32_t
sys_flag(const char *name)
{
	static const struct { const char *n; uint32_t f; } t[] = {
		{ "ANSWERED", STORE_FLAG_ANSWERED },
		{ "DELETED", STORE_FLAG_DELETED },
		{ "DRAFT", STORE_FLAG_DRAFT },
		{ "FLAGGED", STORE_FLAG_FLAGGED },
		{ "SEEN", STORE_FLAG_SEEN },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(name, t[i].n) == 0)
			return t[i].f;
	return 0;
}

/* parse_list - keys until ')' (or the end when top): an AND. */
static struct skey *
parse_list(struct search_parse *sp, struct imap_args *a, bool top)
{
	struct skey *k = new_key(sp, SK_AND);
	if (k == NULL)
		return NULL;
	for (;;) {
		if (top ? imap_arg_end(a) : imap_arg_rparen(a))
			break;
		if (imap_arg_end(a)) {
			sp->error = "Missing ')'";
			goto fail;
		}
		struct skey *c = parse_key(sp, a);
		if (c == NULL)
			goto fail;
		struct skey **l = realloc(k->list, (k->n + 1) * sizeof(*l));
		if (l == NULL) {
			skey_free(c);
			sp->error = "Out of memory";
			goto fail;
		}
		k->list = l;
		k->list[k->n++] = c;
	}
	if (k->n == 0) {
		sp->error = "Empty search key list";
		goto fail;
	}
	return k;
fail:
	skey_free(k);
	return NULL;
}

static struct skey *
parse_key(struct search_parse *sp, struct imap_args *a)
{
	const char *p;
	size_t len;
	char name[32];
	struct skey *k = NULL;

	if (imap_arg_lparen(a))
		return parse_list(sp, a, false);
	if (!imap_arg_atom(a, &p, &len)) {
		sp->error = "Invalid search key";
		return NULL;
	}
	if (len < sizeof(name)) {
		memcpy(name, p, len);
		name[len] = '\0';
	} else {
		name[0] = '\0';
	}
	/* a sequence set is a key too */
	if ((p[0] >= '0' && p[0] <= '9') || p[0] == '*') {
		if ((k = new_key(sp, SK_SEQSET)) == NULL)
			return NULL;
		if (imap_seqset_parse(p, len, 10000, &k->set) < 0) {
			sp->error = "Invalid sequence set";
			skey_free(k);
			return NULL;
		}
		return k;
	}
	uint32_t f;
	if (strcasecmp(name, "ALL") == 0) {
		k = new_key(sp, SK_ALL);
	} else if ((f = sys_flag(name)) != 0) {
		if ((k = new_key(sp, SK_FLAG)) != NULL)
			k->flag = f;
	} else if (strncasecmp(name, "UN", 2) == 0 &&
	    (f = sys_flag(name + 2)) != 0) {
		if ((k = new_key(sp, SK_NOFLAG)) != NULL)
			k->flag = f;
	} else if (strcasecmp(name, "NEW") == 0) {
		k = new_key(sp, SK_NEW);
	} else if (strcasecmp(name, "OLD") == 0) {
		k = new_key(sp, SK_OLD);
	} else if (strcasecmp(name, "RECENT") == 0) {
		k = new_key(sp, SK_RECENT);
	} else if (strcasecmp(name, "KEYWORD") == 0 ||
	    strcasecmp(name, "UNKEYWORD") == 0) {
		k = new_key(sp, name[0] == 'U' || name[0] == 'u' ?
		    SK_UNKEYWORD : SK_KEYWORD);
		const char *kw;
		size_t kl;
		if (k != NULL) {
			if (!imap_arg_atom(a, &kw, &kl)) {
				sp->error = "Missing keyword";
				goto fail;
			}
			k->value = strndup(kw, kl);
			k->value_len = kl;
		}
	} else if (strcasecmp(name, "LARGER") == 0 ||
	    strcasecmp(name, "SMALLER") == 0) {
		k = new_key(sp, name[0] == 'L' || name[0] == 'l' ? SK_LARGER :
		    SK_SMALLER);
		if (k != NULL && number_arg(sp, a, &k->num) < 0)
			goto fail;
	} else if (strcasecmp(name, "BEFORE") == 0 ||
	    strcasecmp(name, "ON") == 0 || strcasecmp(name, "SINCE") == 0 ||
	    strcasecmp(name, "SENTBEFORE") == 0 ||
	    strcasecmp(name, "SENTON") == 0 ||
	    strcasecmp(name, "SENTSINCE") == 0) {
		static const struct { const char *n; enum sk_type t; } d[] = {
			{ "BEFORE", SK_BEFORE }, { "ON", SK_ON },
			{ "SINCE", SK_SINCE }, { "SENTBEFORE", SK_SENTBEFORE },
			{ "SENTON", SK_SENTON }, { "SENTSINCE", SK_SENTSINCE },
		};
		for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
			if (strcasecmp(name, d[i].n) == 0)
				k = new_key(sp, d[i].t);
		if (k != NULL && day_arg(sp, a, &k->day) < 0)
			goto fail;
	} else if (strcasecmp(name, "FROM") == 0 ||
	    strcasecmp(name, "TO") == 0 || strcasecmp(name, "CC") == 0 ||
	    strcasecmp(name, "BCC") == 0 || strcasecmp(name, "SUBJECT") == 0) {
		if ((k = new_key(sp, SK_HEADER)) == NULL)
			return NULL;
		k->field = strdup(name);
		if (k->field == NULL || string_arg(sp, a, k) < 0)
			goto fail;
	} else if (strcasecmp(name, "HEADER") == 0) {
		const char *fp;
		size_t fl;
		if ((k = new_key(sp, SK_HEADER)) == NULL)
			return NULL;
		if (!imap_arg_astring(a, &fp, &fl) || fl == 0 ||
		    memchr(fp, ':', fl) != NULL) {
			sp->error = "Invalid header field name";
			goto fail;
		}
		k->field = strndup(fp, fl);
		if (k->field == NULL || string_arg(sp, a, k) < 0)
			goto fail;
	} else if (strcasecmp(name, "BODY") == 0 ||
	    strcasecmp(name, "TEXT") == 0) {
		k = new_key(sp, name[0] == 'B' || name[0] == 'b' ? SK_BODY :
		    SK_TEXT);
		if (k != NULL && string_arg(sp, a, k) < 0)
			goto fail;
	} else if (strcasecmp(name, "UID") == 0) {
		const char *set;
		size_t sl;
		if ((k = new_key(sp, SK_UIDSET)) == NULL)
			return NULL;
		if (!imap_arg_atom(a, &set, &sl) ||
		    imap_seqset_parse(set, sl, 10000, &k->set) < 0) {
			sp->error = "Invalid UID set";
			goto fail;
		}
	} else if (strcasecmp(name, "MODSEQ") == 0) {
		if ((k = new_key(sp, SK_MODSEQ)) == NULL)
			return NULL;
		/* optional entry-name and entry-type: accepted, not used */
		const struct imap_tok *t = imap_arg_peek(a);
		if (t != NULL && t->type == IMAP_TOK_STRING) {
			const char *e;
			size_t el;
			imap_arg_string(a, &e, &el);
			if (!imap_arg_atom(a, &e, &el)) {
				sp->error = "Invalid MODSEQ entry type";
				goto fail;
			}
		}
		if (number_arg(sp, a, &k->num) < 0)
			goto fail;
		sp->uses_modseq = true;
	} else if (strcasecmp(name, "NOT") == 0) {
		if ((k = new_key(sp, SK_NOT)) == NULL)
			return NULL;
		if ((k->a = parse_key(sp, a)) == NULL)
			goto fail;
	} else if (strcasecmp(name, "OR") == 0) {
		if ((k = new_key(sp, SK_OR)) == NULL)
			return NULL;
		if ((k->a = parse_key(sp, a)) == NULL ||
		    (k->b = parse_key(sp, a)) == NULL)
			goto fail;
	} else {
		sp->error = "Unknown search key";
		return NULL;
	}
	if (k == NULL)
		return NULL;
	if ((k->t == SK_KEYWORD || k->t == SK_UNKEYWORD) && k->value == NULL) {
		sp->error = "Out of memory";
		goto fail;
	}
	return k;
fail:
	skey_free(k);
	return NULL;
}

/* ---- evaluation ---- */

struct msg_ctx {
	struct imap_session *s;
	struct store_rtxn *rt;
	struct store_msg m;
	uint32_t seq;
	bool have_info, info_failed;
	struct mime_info mi;
	bool have_hdr;
	struct buf hdr;		/* raw header section */
	bool have_text;
	struct buf text;	/* case-folded text of the body parts */
	int64_t sent_day;
	bool have_sent;
};

static int
need_info(struct msg_ctx *c)
{
	if (c->have_info)
		return c->info_failed ? ERR_CORRUPT : 0;
	c->have_info = true;
	struct buf b;
	buf_init(&b, SIZE_MAX / 2);
	int r = store_blob_info(c->rt, c->m.blob_id, &b);
	if (r == 0)
		r = mime_info_decode(buf_data(&b), buf_len(&b), &c->mi);
	buf_free(&b);
	c->info_failed = r < 0;
	return r;
}

static int
need_header(struct msg_ctx *c)
{
	if (c->have_hdr)
		return 0;
	/* Most blobs keep the header as their first chunk: no need to
	 * decode the MIME structure to know where it ends. */
	int r = store_blob_header(c->rt, c->m.blob_id, &c->hdr);
	if (r != 0) {
		c->have_hdr = r > 0;
		return r < 0 ? r : 0;
	}
	r = need_info(c);
	if (r < 0)
		return r;
	c->have_hdr = true;
	uint32_t len = c->mi.n_parts > 0 ? c->mi.parts[0].hdr_len : 0;
	return store_blob_read_range(c->rt, c->m.blob_id, 0, len, &c->hdr);
}

static int
need_text(struct msg_ctx *c)
{
	if (c->have_text)
		return 0;
	int r = need_info(c);
	if (r < 0)
		return r;
	c->have_text = true;
	struct buf whole, plain;
	buf_init(&whole, SIZE_MAX / 2);
	buf_init(&plain, SIZE_MAX / 2);
	r = store_blob_read(c->rt, c->m.blob_id, &whole);
	if (r == 0)
		r = mime_text(buf_data(&whole), buf_len(&whole), &c->mi,
		    &plain);
	if (r == 0)
		r = mime_casefold(buf_data(&plain), buf_len(&plain), &c->text);
	buf_wipe(&whole);
	buf_wipe(&plain);
	return r;
}

static bool
contains(const char *hay, size_t hl, const char *needle, size_t nl)
{
	if (nl == 0)
		return true;
	return memmem(hay, hl, needle, nl) != NULL;
}

/* header_match - a field of that name whose decoded value contains
 * the key's value. */
static int
header_match(struct msg_ctx *c, const struct skey *k)
{
	struct mime_hdr_iter it;
	struct strv name, value;
	int r = need_header(c);
	if (r < 0)
		return r;
	size_t hl = buf_len(&c->hdr);
	const char *h = buf_data(&c->hdr);
	if (hl >= 2 && h[hl - 2] == '\r' && h[hl - 1] == '\n')
		hl -= 2;
	mime_header_iter_init(&it, h, hl);
	size_t fl = strlen(k->field);
	while (mime_header_next(&it, &name, &value) == 1) {
		if (name.len != fl || strncasecmp(name.p, k->field, fl) != 0)
			continue;
		if (k->value_len == 0)
			return 1;
		struct buf dec, fold;
		buf_init(&dec, value.len * 4 + 64);
		buf_init(&fold, value.len * 8 + 64);
		r = mime_header_decode(value.p, value.len, &dec);
		if (r == 0)
			r = mime_casefold(buf_data(&dec), buf_len(&dec), &fold);
		bool hit = r == 0 && contains(buf_data(&fold), buf_len(&fold),
		    k->value, k->value_len);
		buf_free(&dec);
		buf_free(&fold);
		if (hit)
			return 1;
	}
	return 0;
}

/* sent_day - the day of the Date: header in its own zone (RFC 3501
 * disregards time and zone). -1 when absent or unparsable. */
static int64_t
sent_day(struct msg_ctx *c)
{
	static const char *months = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct mime_hdr_iter it;
	struct strv name, value;
	if (c->have_sent)
		return c->sent_day;
	c->have_sent = true;
	c->sent_day = -1;
	if (need_header(c) < 0)
		return -1;
	size_t hl = buf_len(&c->hdr);
	mime_header_iter_init(&it, buf_data(&c->hdr), hl >= 2 ? hl - 2 : hl);
	while (mime_header_next(&it, &name, &value) == 1) {
		if (name.len != 4 || strncasecmp(name.p, "Date", 4) != 0)
			continue;
		char b[128], mon[8];
		int d, y;
		size_t n = value.len < sizeof(b) - 1 ? value.len :
		    sizeof(b) - 1;
		memcpy(b, value.p, n);
		b[n] = '\0';
		const char *p = strchr(b, ',');
		p = p ? p + 1 : b;
		if (sscanf(p, "%d %3s %d", &d, mon, &y) != 3)
			break;
		const char *m = strcasestr(months, mon);
		if (m == NULL || (m - months) % 3 != 0)
			break;
		if (y < 100)
			y += y < 50 ? 2000 : 1900;
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = d;
		tm.tm_mon = (int)((m - months) / 3);
		tm.tm_year = y - 1900;
		c->sent_day = (int64_t)timegm(&tm) / 86400;
		break;
	}
	return c->sent_day;
}

static int
eval(struct msg_ctx *c, const struct skey *k)
{
	const struct store_msg *m = &c->m;
	struct imap_view *v = c->s->view;
	int r;
	switch (k->t) {
	case SK_ALL:
		return 1;
	case SK_SEQSET:
		return imap_seqset_has(&k->set, c->seq, (uint32_t)v->n);
	case SK_UIDSET:
		return imap_seqset_has(&k->set, m->uid,
		    v->n ? v->uids[v->n - 1] : 0);
	case SK_FLAG:
		return (m->flags & k->flag) != 0;
	case SK_NOFLAG:
		return (m->flags & k->flag) == 0;
	case SK_KEYWORD:
	case SK_UNKEYWORD: {
		/* keywords compare without case */
		bool has = false;
		const char *p = m->keywords;
		while (*p != '\0' && !has) {
			const char *e = strchr(p, ' ');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			has = n == k->value_len &&
			    strncasecmp(p, k->value, n) == 0;
			p += n;
			while (*p == ' ')
				p++;
		}
		return k->t == SK_KEYWORD ? has : !has;
	}
	case SK_NEW:
		return imap_view_recent(v, m->uid) &&
		    !(m->flags & STORE_FLAG_SEEN);
	case SK_OLD:
		return !imap_view_recent(v, m->uid);
	case SK_RECENT:
		return imap_view_recent(v, m->uid);
	case SK_LARGER:
		return m->size > k->num;
	case SK_SMALLER:
		return m->size < k->num;
	case SK_BEFORE:
		return m->internaldate / 86400 < k->day;
	case SK_ON:
		return m->internaldate / 86400 == k->day;
	case SK_SINCE:
		return m->internaldate / 86400 >= k->day;
	case SK_SENTBEFORE: {
		int64_t d = sent_day(c);
		return d >= 0 && d < k->day;
	}
	case SK_SENTON:
		return sent_day(c) == k->day;
	case SK_SENTSINCE: {
		int64_t d = sent_day(c);
		return d >= 0 && d >= k->day;
	}
	case SK_HEADER:
		return header_match(c, k);
	case SK_BODY:
		if ((r = need_text(c)) < 0)
			return r;
		return contains(buf_data(&c->text), buf_len(&c->text),
		    k->value, k->value_len);
	case SK_TEXT: {
		if ((r = need_text(c)) < 0 || (r = need_header(c)) < 0)
			return r;
		struct buf dec, fold;
		buf_init(&dec, SIZE_MAX / 2);
		buf_init(&fold, SIZE_MAX / 2);
		r = mime_header_decode(buf_data(&c->hdr), buf_len(&c->hdr),
		    &dec);
		if (r == 0)
			r = mime_casefold(buf_data(&dec), buf_len(&dec), &fold);
		bool hit = r == 0 && (contains(buf_data(&fold),
		    buf_len(&fold), k->value, k->value_len) ||
		    contains(buf_data(&c->text), buf_len(&c->text), k->value,
		    k->value_len));
		buf_free(&dec);
		buf_free(&fold);
		return hit;
	}
	case SK_MODSEQ:
		return m->modseq >= k->num;
	case SK_NOT:
		r = eval(c, k->a);
		return r < 0 ? r : !r;
	case SK_OR:
		r = eval(c, k->a);
		if (r != 0)
			return r;
		return eval(c, k->b);
	case SK_AND:
		for (size_t i = 0; i < k->n; i++) {
			r = eval(c, k->list[i]);
			if (r <= 0)
				return r;
		}
		return 1;
	}
	return 0;
}

/* ---- the command ---- */

enum {
	RET_MIN = 0x01,
	RET_MAX = 0x02,
	RET_ALL = 0x04,
	RET_COUNT = 0x08,
};


#define SEARCH_TXN_MSGS 256	/* messages per read transaction */

struct search_walk {
	struct imap_session *s;
	const struct skey *prog;
	struct store_rtxn *rt;
	size_t i;		/* next index into the view's UIDs */
	size_t in_txn;
	uint32_t *hits;
	size_t n_hits;
	uint64_t max_modseq;
};

/* search_each - one record of the walk: evaluated when the view holds
 * it; 1 stops the walk (view done, or time for a new transaction). */
static int
search_each(const struct store_msg *m, void *arg)
{
	struct search_walk *w = arg;
	struct imap_view *v = w->s->view;
	while (w->i < v->n && v->uids[w->i] < m->uid)
		w->i++;		/* expunged meanwhile: not in the store */
	if (w->i >= v->n)
		return 1;
	if (v->uids[w->i] != m->uid)
		return 0;	/* arrived since the view: not announced */
	struct msg_ctx c;
	memset(&c, 0, sizeof(c));
	c.s = w->s;
	c.rt = w->rt;
	c.m = *m;
	c.seq = (uint32_t)(w->i + 1);
	mime_info_init(&c.mi);
	buf_init(&c.hdr, SIZE_MAX / 2);
	buf_init(&c.text, SIZE_MAX / 2);
	int r = eval(&c, w->prog);
	if (r > 0) {
		w->hits[w->n_hits++] = w->s->uid ? c.m.uid : c.seq;
		if (c.m.modseq > w->max_modseq)
			w->max_modseq = c.m.modseq;
	}
	mime_info_free(&c.mi);
	buf_wipe(&c.hdr);
	buf_wipe(&c.text);
	if (r < 0)
		return r;
	w->i++;
	/* short read transactions: never hold one for long */
	if (w->i >= v->n || ++w->in_txn >= SEARCH_TXN_MSGS)
		return 1;
	return 0;
}
void
imap_cmd_search(struct imap_session *s)
{
	struct search_parse sp = { s, 0, (unsigned)s->cfg->imap_max_search_keys,
		false, NULL };
	const char *p;
	size_t len;
	unsigned ret = 0;
	bool esearch = false;

	if (imap_arg_atom(&s->args, &p, &len)) {
		if (imap_atom_is(p, len, "RETURN")) {
			esearch = true;
			if (!imap_arg_lparen(&s->args))
				goto syntax;
			while (imap_arg_atom(&s->args, &p, &len)) {
				if (imap_atom_is(p, len, "MIN"))
					ret |= RET_MIN;
				else if (imap_atom_is(p, len, "MAX"))
					ret |= RET_MAX;
				else if (imap_atom_is(p, len, "ALL"))
					ret |= RET_ALL;
				else if (imap_atom_is(p, len, "COUNT"))
					ret |= RET_COUNT;
				else
					goto syntax;
			}
			if (!imap_arg_rparen(&s->args))
				goto syntax;
			if (ret == 0)
				ret = RET_ALL;
		} else {
			s->args.i--;	/* not RETURN: a search key */
		}
	}
	if (imap_arg_atom(&s->args, &p, &len)) {
		if (imap_atom_is(p, len, "CHARSET")) {
			const char *cs;
			size_t cl;
			if (!imap_arg_astring(&s->args, &cs, &cl))
				goto syntax;
			if (!imap_atom_is(cs, cl, "UTF-8") &&
			    !imap_atom_is(cs, cl, "US-ASCII")) {
				imap_no(s, "[BADCHARSET (UTF-8 US-ASCII)] "
				    "Unsupported charset");
				return;
			}
		} else {
			s->args.i--;
		}
	}
	if (imap_arg_end(&s->args))
		goto syntax;
	struct skey *prog = parse_list(&sp, &s->args, true);
	if (prog == NULL) {
		char text[128];
		snprintf(text, sizeof(text), "%s", sp.error ? sp.error :
		    "Invalid search");
		imap_bad(s, text);
		return;
	}
	if (sp.uses_modseq)
		s->condstore = true;

	struct imap_view *v = s->view;
	struct search_walk w = {
		.s = s, .prog = prog,
		.hits = calloc(v->n ? v->n : 1, sizeof(uint32_t)),
	};
	uint32_t *hits = w.hits;
	int r = 0;
	/* One cursor walk over the mailbox's records in UID order (the
	 * view's UIDs ascend too), not a B-tree descent per message; a
	 * fresh read transaction every SEARCH_TXN_MSGS messages. */
	while (hits != NULL && w.i < v->n) {
		struct store_rtxn *rt;
		if ((r = store_read_begin(imap_store(), &rt)) < 0)
			break;
		w.rt = rt;
		w.in_txn = 0;
		int e = store_msg_iter_from(rt, v->mailbox_id, v->uids[w.i],
		    search_each, &w);
		store_read_end(&rt);
		if (e < 0) {
			r = e;
			break;
		}
		if (e == 0)
			break;	/* no record left: the rest were expunged */
	}
	size_t n_hits = w.n_hits;
	uint64_t max_modseq = w.max_modseq;
	skey_free(prog);
	if (hits == NULL || r < 0) {
		free(hits);
		imap_done(s, "NO", "[SERVERBUG] Search failed: %s",
		    hits == NULL ? "out of memory" : err_str(r));
		return;
	}
	struct buf b;
	buf_init(&b, SIZE_MAX / 2);
	if (esearch) {
		buf_addf(&b, "* ESEARCH (TAG \"%s\")%s", s->tag,
		    s->uid ? " UID" : "");
		if ((ret & RET_MIN) && n_hits > 0)
			buf_addf(&b, " MIN %u", hits[0]);
		if ((ret & RET_MAX) && n_hits > 0)
			buf_addf(&b, " MAX %u", hits[n_hits - 1]);
		if (ret & RET_COUNT)
			buf_addf(&b, " COUNT %zu", n_hits);
		if ((ret & RET_ALL) && n_hits > 0) {
			buf_adds(&b, " ALL ");
			imap_seqset_print(hits, n_hits, &b);
		}
		if (sp.uses_modseq && n_hits > 0)
			buf_addf(&b, " MODSEQ %llu",
			    (unsigned long long)max_modseq);
	} else {
		buf_adds(&b, "* SEARCH");
		for (size_t i = 0; i < n_hits; i++)
			buf_addf(&b, " %u", hits[i]);
		if (sp.uses_modseq && n_hits > 0)
			buf_addf(&b, " (MODSEQ %llu)",
			    (unsigned long long)max_modseq);
	}
	imap_write(s, "%s", buf_data(&b));
	buf_free(&b);
	free(hits);
	imap_done(s, "OK", "Search completed");
	return;
syntax:
	imap_bad(s, "Invalid SEARCH syntax");
}
