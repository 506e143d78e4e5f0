/* SPDX-License-Identifier: MIT */
/*
 * imap_cmd_fetch.c - FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2), with
 * CONDSTORE's MODSEQ and CHANGEDSINCE and QRESYNC's VANISHED modifier
 * (RFC 7162). ENVELOPE and BODYSTRUCTURE come ready-made from the store;
 * BODY[section] decrypts only the byte ranges it returns. Output is
 * streamed: when more than imap_output_buffer_max waits unsent, the
 * command pauses until the client has read it, so a FETCH 1:* BODY[] of
 * a big mailbox never sits whole in memory.
 */
#include "imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "mime/mime.h"
#include "mime/mime_struct.h"

#define FETCH_ITEMS_MAX 64
#define FETCH_FIELDS_MAX 64
#define SECTION_MAX 1024
#define BATCH 64

enum fi_type {
	FI_FLAGS,
	FI_INTERNALDATE,
	FI_RFC822_SIZE,
	FI_ENVELOPE,
	FI_BODY,
	FI_BODYSTRUCTURE,
	FI_UID,
	FI_MODSEQ,
	FI_SECTION,		/* BODY[...] / BODY.PEEK[...] */
	FI_RFC822,
	FI_RFC822_HEADER,
	FI_RFC822_TEXT,
};

enum sec_kind {
	SEC_RANGE,		/* resolved by mime_section */
	SEC_FIELDS,		/* HEADER.FIELDS */
	SEC_FIELDS_NOT,		/* HEADER.FIELDS.NOT */
};

struct fetch_item {
	enum fi_type type;
	bool peek;
	enum sec_kind kind;
	char spec[SECTION_MAX];		/* for mime_section: "1.2.HEADER" */
	char echo[SECTION_MAX];		/* the section as the client wrote it */
	char *fields[FETCH_FIELDS_MAX];
	size_t n_fields;
	bool partial;
	uint32_t p_off, p_len;
};

struct fetch_ctx {
	struct store_flags_op op;	/* first: handed back by the store */
	struct imap_session *s;
	struct fetch_item items[FETCH_ITEMS_MAX];
	size_t n_items;
	bool need_info;
	bool sets_seen;
	bool with_modseq;
	uint64_t changedsince;
	bool vanished;
	uint32_t *uids;
	size_t n, next;
	/* \Seen set by this FETCH: report FLAGS for these */
	uint32_t *seen_uids;
	size_t n_seen;
	uint32_t *seen_flags;
	uint64_t *seen_modseq;
};

static void
fetch_ctx_free(void *p)
{
	struct fetch_ctx *c = p;
	for (size_t i = 0; i < c->n_items; i++)
		for (size_t k = 0; k < c->items[i].n_fields; k++)
			free(c->items[i].fields[k]);
	free(c->uids);
	free(c->seen_uids);
	free(c->seen_flags);
	free(c->seen_modseq);
	free(c);
}

/* ---- parsing ---- */

static bool
is_part_number(const char *p, size_t len)
{
	if (len == 0 || p[0] < '1' || p[0] > '9')
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* parse_fields - "(From To \"X-A\")" into item->fields. */
static int
parse_fields(struct fetch_item *it, const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '(')
		return ERR_PROTO;
	p++;
	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return ERR_PROTO;
		if (*p == ')') {
			p++;
			break;
		}
		const char *s = p;
		size_t n;
		if (*p == '"') {
			s = ++p;
			while (p < end && *p != '"')
				p++;
			if (p >= end)
				return ERR_PROTO;
			n = (size_t)(p - s);
			p++;
		} else {
			while (p < end && *p != ' ' && *p != ')')
				p++;
			n = (size_t)(p - s);
		}
		if (n == 0 || it->n_fields == FETCH_FIELDS_MAX)
			return ERR_PROTO;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] <= 32 || s[i] == ':')
				return ERR_PROTO;
		it->fields[it->n_fields] = strndup(s, n);
		if (it->fields[it->n_fields] == NULL)
			return ERR_NOMEM;
		it->n_fields++;
	}
	while (p < end && *p == ' ')
		p++;
	return p == end && it->n_fields > 0 ? 0 : ERR_PROTO;
}

/* parse_section - the text between [ and ] into spec/kind/fields. */
static int
parse_section(struct fetch_item *it, const char *p, size_t len)
{
	const char *end = p + len;
	const char *q = p;
	size_t o = 0;

	if (str_copyn(it->echo, sizeof(it->echo), p, len) < 0)
		return ERR_LIMIT;
	it->kind = SEC_RANGE;
	/* leading part number "1.2.3" */
	while (q < end) {
		const char *d = q;
		while (d < end && *d != '.' && *d != ' ')
			d++;
		if (!is_part_number(q, (size_t)(d - q)))
			break;
		if (o + (size_t)(d - q) + 2 >= sizeof(it->spec))
			return ERR_LIMIT;
		if (o > 0)
			it->spec[o++] = '.';
		memcpy(it->spec + o, q, (size_t)(d - q));
		o += (size_t)(d - q);
		if (d >= end) {
			q = d;
			break;
		}
		if (*d != '.')
			return ERR_PROTO;
		q = d + 1;
	}
	it->spec[o] = '\0';
	if (q >= end)
		return 0;
	/* the section text after the part number */
	const char *t = q;
	size_t tl = (size_t)(end - q);
	const char *kw_end = t;
	while (kw_end < end && *kw_end != ' ' && *kw_end != '(')
		kw_end++;
	size_t kl = (size_t)(kw_end - t);
	char kw[32];
	if (kl >= sizeof(kw))
		return ERR_PROTO;
	memcpy(kw, t, kl);
	kw[kl] = '\0';
	const char *name = NULL;
	if (strcasecmp(kw, "HEADER") == 0 && kl == tl) {
		name = "HEADER";
	} else if (strcasecmp(kw, "TEXT") == 0 && kl == tl) {
		name = "TEXT";
	} else if (strcasecmp(kw, "MIME") == 0 && kl == tl && o > 0) {
		name = "MIME";
	} else if (strcasecmp(kw, "HEADER.FIELDS") == 0) {
		it->kind = SEC_FIELDS;
		name = "HEADER";
	} else if (strcasecmp(kw, "HEADER.FIELDS.NOT") == 0) {
		it->kind = SEC_FIELDS_NOT;
		name = "HEADER";
	} else {
		return ERR_PROTO;
	}
	if (it->kind != SEC_RANGE &&
	    parse_fields(it, kw_end, end) < 0)
		return ERR_PROTO;
	if (str_fmt(it->spec + o, sizeof(it->spec) - o, "%s%s",
	    o > 0 ? "." : "", name) < 0)
		return ERR_LIMIT;
	return 0;
}

/* parse_body_item - "BODY[...]<o.n>" or "BODY.PEEK[...]<o.n>". */
static int
parse_body_item(struct fetch_item *it, const char *p, size_t len)
{
	const char *lb = memchr(p, '[', len);
	const char *end = p + len;
	if (lb == NULL)
		return ERR_PROTO;
	size_t nl = (size_t)(lb - p);
	if (nl == 4 && strncasecmp(p, "BODY", 4) == 0)
		it->peek = false;
	else if (nl == 9 && strncasecmp(p, "BODY.PEEK", 9) == 0)
		it->peek = true;
	else
		return ERR_PROTO;
	const char *rb = NULL;
	unsigned d = 0;
	for (const char *q = lb; q < end; q++) {
		if (*q == '[')
			d++;
		else if (*q == ']' && --d == 0) {
			rb = q;
			break;
		}
	}
	if (rb == NULL)
		return ERR_PROTO;
	int r = parse_section(it, lb + 1, (size_t)(rb - lb - 1));
	if (r < 0)
		return r;
	const char *q = rb + 1;
	if (q == end)
		return 0;
	/* <origin.length> */
	uint64_t a = 0, b = 0;
	if (*q++ != '<')
		return ERR_PROTO;
	const char *s = q;
	while (q < end && *q >= '0' && *q <= '9') {
		a = a * 10 + (uint64_t)(*q - '0');
		if (a > UINT32_MAX)
			return ERR_PROTO;
		q++;
	}
	if (q == s || q >= end || *q++ != '.')
		return ERR_PROTO;
	s = q;
	while (q < end && *q >= '0' && *q <= '9') {
		b = b * 10 + (uint64_t)(*q - '0');
		if (b > UINT32_MAX)
			return ERR_PROTO;
		q++;
	}
	if (q == s || b == 0 || q >= end || *q++ != '>' || q != end)
		return ERR_PROTO;
	it->partial = true;
	it->p_off = (uint32_t)a;
	it->p_len = (uint32_t)b;
	return 0;
}

static int
add_item(struct fetch_ctx *c, enum fi_type t)
{
	if (c->n_items == FETCH_ITEMS_MAX)
		return ERR_LIMIT;
	memset(&c->items[c->n_items], 0, sizeof(c->items[0]));
	c->items[c->n_items].type = t;
	c->n_items++;
	return 0;
}

static int
parse_item(struct fetch_ctx *c, const char *p, size_t len, bool in_list)
{
	static const struct { const char *name; enum fi_type t; } simple[] = {
		{ "FLAGS", FI_FLAGS }, { "INTERNALDATE", FI_INTERNALDATE },
		{ "RFC822.SIZE", FI_RFC822_SIZE }, { "ENVELOPE", FI_ENVELOPE },
		{ "BODY", FI_BODY }, { "BODYSTRUCTURE", FI_BODYSTRUCTURE },
		{ "UID", FI_UID }, { "MODSEQ", FI_MODSEQ },
		{ "RFC822", FI_RFC822 }, { "RFC822.HEADER", FI_RFC822_HEADER },
		{ "RFC822.TEXT", FI_RFC822_TEXT },
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (imap_atom_is(p, len, simple[i].name))
			return add_item(c, simple[i].t);
	if (imap_atom_is(p, len, "ALL") || imap_atom_is(p, len, "FAST") ||
	    imap_atom_is(p, len, "FULL")) {
		/* RFC 3501 9: a macro stands alone, never in a list */
		if (in_list)
			return ERR_PROTO;
		int r = add_item(c, FI_FLAGS);
		if (r == 0)
			r = add_item(c, FI_INTERNALDATE);
		if (r == 0)
			r = add_item(c, FI_RFC822_SIZE);
		if (r == 0 && !imap_atom_is(p, len, "FAST"))
			r = add_item(c, FI_ENVELOPE);
		if (r == 0 && imap_atom_is(p, len, "FULL"))
			r = add_item(c, FI_BODY);
		return r;
	}
	if (memchr(p, '[', len) == NULL)
		return ERR_PROTO;
	int r = add_item(c, FI_SECTION);
	if (r < 0)
		return r;
	return parse_body_item(&c->items[c->n_items - 1], p, len);
}

/* ---- output of one message ---- */

/* filter_header - the fields of hdr[len] named (or not) in the item. */
static int
filter_header(const struct fetch_item *it, const char *hdr, size_t len,
	      struct buf *out)
{
	struct mime_hdr_iter iter;
	struct strv name, value;
	int r;
	size_t hlen = len;
	/* the range includes the blank line; walk the fields before it */
	if (hlen >= 2 && hdr[hlen - 2] == '\r' && hdr[hlen - 1] == '\n')
		hlen -= 2;
	mime_header_iter_init(&iter, hdr, hlen);
	while ((r = mime_header_next(&iter, &name, &value)) == 1) {
		bool listed = false;
		for (size_t i = 0; i < it->n_fields && !listed; i++)
			listed = strlen(it->fields[i]) == name.len &&
			    strncasecmp(it->fields[i], name.p, name.len) == 0;
		if (listed != (it->kind == SEC_FIELDS))
			continue;
		size_t flen = (size_t)(value.p + value.len - name.p);
		if (buf_add(out, name.p, flen) < 0 ||
		    buf_add(out, "\r\n", 2) < 0)
			return ERR_NOMEM;
	}
	/* A malformed line ends what can be filtered; still end cleanly. */
	return buf_add(out, "\r\n", 2);
}

/* put_literal - an IMAP literal of p[len]. A literal cannot carry NUL
 * (RFC 3501 CHAR8): like Dovecot, NUL goes out as 0x80. */
static void
put_literal(struct buf *o, const char *p, size_t len)
{
	buf_addf(o, "{%zu}\r\n", len);
	size_t start = buf_len(o);
	if (buf_add(o, p, len) < 0)
		return;
	char *d = o->data + start;
	for (char *z = memchr(d, '\0', len); z != NULL;
	     z = memchr(z + 1, '\0', len - (size_t)(z + 1 - d)))
		*z = (char)0x80;
}

/* section_bytes - the bytes one section item returns (before partial). */
static int
section_bytes(struct fetch_ctx *c, const struct fetch_item *it,
	      struct store_rtxn *rt, const struct store_msg *m,
	      const struct mime_info *mi, struct buf *data)
{
	uint32_t off = 0, len = 0;
	int r;
	if (it->spec[0] == '\0') {
		off = 0;
		len = (uint32_t)m->size;
	} else {
		r = mime_section(mi, it->spec, strlen(it->spec), &off, &len);
		if (r < 0)
			return r;
		if (r == 0)
			return 0;	/* nonexistent part: empty string */
	}
	if (it->kind == SEC_RANGE && it->partial) {
		/* decrypt only the part of the range that is returned */
		if (it->p_off >= len)
			return 0;
		uint32_t n = len - it->p_off;
		if (n > it->p_len)
			n = it->p_len;
		return store_blob_read_range(rt, m->blob_id,
		    (uint64_t)off + it->p_off, n, data);
	}
	if (it->kind == SEC_RANGE)
		return store_blob_read_range(rt, m->blob_id, off, len, data);
	struct buf hdr;
	buf_init(&hdr, SIZE_MAX / 2);
	r = store_blob_read_range(rt, m->blob_id, off, len, &hdr);
	if (r == 0)
		r = filter_header(it, buf_data(&hdr), buf_len(&hdr), data);
	buf_free(&hdr);
	if (r == 0 && it->partial) {
		/* apply <o.n> to the filtered text */
		size_t total = buf_len(data);
		size_t from = it->p_off < total ? it->p_off : total;
		size_t n = total - from;
		if (n > it->p_len)
			n = it->p_len;
		memmove(data->data, data->data + from, n);
		data->len = n;
		data->data[n] = '\0';
	}
	return r;
}

static bool
seen_by_fetch(const struct fetch_ctx *c, uint32_t uid, uint32_t *flags,
	      uint64_t *modseq)
{
	for (size_t i = 0; i < c->n_seen; i++)
		if (c->seen_uids[i] == uid && c->seen_modseq[i] != 0) {
			*flags = c->seen_flags[i];
			*modseq = c->seen_modseq[i];
			return true;
		}
	return false;
}

static int
fetch_one(struct fetch_ctx *c, struct store_rtxn *rt, uint32_t uid)
{
	struct imap_session *s = c->s;
	struct imap_view *v = s->view;
	struct store_msg m;
	struct mime_info mi;
	struct buf o, info, data;
	int r = store_msg_get(rt, v->mailbox_id, uid, &m);
	if (r <= 0)
		return r;	/* expunged meanwhile: nothing to say */
	r = 0;
	uint32_t seq = imap_view_seq(v, uid);
	if (seq == 0)
		return 0;
	if (c->changedsince > 0 && m.modseq <= c->changedsince)
		return 0;
	uint32_t sflags = 0;
	uint64_t smodseq = 0;
	bool flags_changed = seen_by_fetch(c, uid, &sflags, &smodseq);

	mime_info_init(&mi);
	if (c->need_info) {
		buf_init(&info, SIZE_MAX / 2);
		r = store_blob_info(rt, m.blob_id, &info);
		if (r == 0)
			r = mime_info_decode(buf_data(&info), buf_len(&info),
			    &mi);
		buf_free(&info);
		if (r < 0) {
			log_warnx("%s imap fetch uid=%u info error=\"%s\"",
			    s->id, uid, err_str(r));
			mime_info_free(&mi);
			return r;
		}
	}
	buf_init(&o, SIZE_MAX / 2);
	buf_init(&data, SIZE_MAX / 2);
	buf_addf(&o, "* %u FETCH (", seq);
	bool sp = false, have_uid = false, have_flags = false,
	    have_modseq = false;
	for (size_t i = 0; i < c->n_items && r == 0; i++) {
		const struct fetch_item *it = &c->items[i];
		if (sp)
			buf_addc(&o, ' ');
		sp = true;
		switch (it->type) {
		case FI_FLAGS:
			buf_adds(&o, "FLAGS ");
			imap_flags_string(m.flags, m.keywords,
			    imap_view_recent(v, uid), &o);
			have_flags = true;
			break;
		case FI_INTERNALDATE: {
			char d[64];
			imap_date_time(m.internaldate, d, sizeof(d));
			buf_addf(&o, "INTERNALDATE \"%s\"", d);
			break;
		}
		case FI_RFC822_SIZE:
			buf_addf(&o, "RFC822.SIZE %llu",
			    (unsigned long long)m.size);
			break;
		case FI_ENVELOPE:
			buf_adds(&o, "ENVELOPE ");
			buf_add(&o, buf_data(&mi.envelope),
			    buf_len(&mi.envelope));
			break;
		case FI_BODY:
			buf_adds(&o, "BODY ");
			buf_add(&o, buf_data(&mi.body), buf_len(&mi.body));
			break;
		case FI_BODYSTRUCTURE:
			buf_adds(&o, "BODYSTRUCTURE ");
			buf_add(&o, buf_data(&mi.bodystructure),
			    buf_len(&mi.bodystructure));
			break;
		case FI_UID:
			buf_addf(&o, "UID %u", uid);
			have_uid = true;
			break;
		case FI_MODSEQ:
			buf_addf(&o, "MODSEQ (%llu)",
			    (unsigned long long)m.modseq);
			have_modseq = true;
			break;
		case FI_RFC822:
		case FI_RFC822_HEADER:
		case FI_RFC822_TEXT: {
			struct fetch_item tmp;
			memset(&tmp, 0, sizeof(tmp));
			const char *nm = it->type == FI_RFC822 ? "RFC822" :
			    it->type == FI_RFC822_HEADER ? "RFC822.HEADER" :
			    "RFC822.TEXT";
			str_copy(tmp.spec, sizeof(tmp.spec), it->type ==
			    FI_RFC822 ? "" : it->type == FI_RFC822_HEADER ?
			    "HEADER" : "TEXT");
			buf_reset(&data);
			r = section_bytes(c, &tmp, rt, &m, &mi, &data);
			buf_addf(&o, "%s ", nm);
			put_literal(&o, buf_data(&data), buf_len(&data));
			break;
		}
		case FI_SECTION:
			buf_reset(&data);
			r = section_bytes(c, it, rt, &m, &mi, &data);
			buf_addf(&o, "BODY[%s]", it->echo);
			if (it->partial)
				buf_addf(&o, "<%u>", it->p_off);
			buf_addc(&o, ' ');
			put_literal(&o, buf_data(&data), buf_len(&data));
			break;
		}
	}
	/* RFC 3501 6.4.8: UID FETCH always returns UID; RFC 7162 3.1.4:
	 * MODSEQ once CONDSTORE is on; FLAGS when this FETCH set \Seen. */
	if (s->uid && !have_uid)
		buf_addf(&o, "%sUID %u", sp ? " " : "", uid), sp = true;
	if (flags_changed && !have_flags) {
		buf_addf(&o, "%sFLAGS ", sp ? " " : "");
		imap_flags_string(sflags, m.keywords, imap_view_recent(v, uid),
		    &o);
		sp = true;
	}
	if (c->with_modseq && !have_modseq)
		buf_addf(&o, "%sMODSEQ (%llu)", sp ? " " : "",
		    (unsigned long long)m.modseq);
	buf_adds(&o, ")");
	if (r == 0)
		imap_write(s, "%s", buf_data(&o));
	else
		log_warnx("%s imap fetch uid=%u error=\"%s\"", s->id, uid,
		    err_str(r));
	buf_wipe(&o);
	buf_wipe(&data);
	mime_info_free(&mi);
	return r == ERR_CORRUPT ? r : 0;
}

/* ---- running ---- */

static void fetch_run(struct imap_session *s);

static void
fetch_run(struct imap_session *s)
{
	struct fetch_ctx *c = s->ctx;
	struct store_rtxn *rt;
	int r = 0;

	while (c->next < c->n) {
		if (imap_output_full(s)) {
			imap_wait_output(s, fetch_run);
			return;
		}
		if ((r = store_read_begin(imap_store(), &rt)) < 0)
			break;
		for (size_t k = 0; k < BATCH && c->next < c->n &&
		    !imap_output_full(s); k++)
			if ((r = fetch_one(c, rt, c->uids[c->next++])) < 0)
				break;
		store_read_end(&rt);
		if (r < 0)
			break;
	}
	if (r == ERR_CORRUPT)
		imap_no(s, "[SERVERBUG] A stored message fails its integrity "
		    "check");
	else if (r < 0)
		imap_done(s, "NO", "[SERVERBUG] Fetch failed: %s", err_str(r));
	else
		imap_done(s, "OK", "Fetch completed");
}

static void
seen_done(int result, void *arg)
{
	struct fetch_ctx *c = arg;
	struct imap_session *s = c->s;
	if (!imap_resume_ok(s))
		return;
	if (result == 0) {
		for (size_t i = 0; i < c->n_seen; i++)
			if (c->seen_modseq[i] != 0)
				imap_view_own(s->view, c->seen_uids[i],
				    c->seen_modseq[i]);
	} else {
		c->n_seen = 0;
	}
	fetch_run(s);
}

struct unseen_ctx {
	struct fetch_ctx *c;
	struct store_rtxn *rt;
};

/* start_seen - messages a non-PEEK body fetch must mark \Seen. */
static int
start_seen(struct imap_session *s, struct fetch_ctx *c)
{
	struct store_rtxn *rt;
	int r = store_read_begin(imap_store(), &rt);
	if (r < 0)
		return r;
	c->seen_uids = calloc(c->n ? c->n : 1, sizeof(uint32_t));
	if (c->seen_uids == NULL) {
		store_read_end(&rt);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct store_msg m;
		if (store_msg_get(rt, s->view->mailbox_id, c->uids[i], &m) == 1
		    && !(m.flags & STORE_FLAG_SEEN))
			c->seen_uids[c->n_seen++] = c->uids[i];
	}
	store_read_end(&rt);
	if (c->n_seen == 0)
		return 0;
	c->seen_flags = calloc(c->n_seen, sizeof(uint32_t));
	c->seen_modseq = calloc(c->n_seen, sizeof(uint64_t));
	if (c->seen_flags == NULL || c->seen_modseq == NULL)
		return ERR_NOMEM;
	c->op.mailbox_id = s->view->mailbox_id;
	c->op.n = c->n_seen;
	c->op.uids = c->seen_uids;
	c->op.mode = STORE_FLAGS_ADD;
	c->op.flags = STORE_FLAG_SEEN;
	c->op.new_flags_r = c->seen_flags;
	c->op.new_modseq_r = c->seen_modseq;
	if ((r = store_submit(imap_store(), store_op_flags, &c->op, seen_done,
	    s->loop)) < 0)
		return r;
	imap_suspend(s);
	return 1;
}

struct van_ctx {
	struct imap_session *s;
	struct imap_seqset *set;
	uint32_t *list;
	size_t n, cap;
};

static int
van_collect(uint32_t uid, uint64_t modseq, void *arg)
{
	struct van_ctx *v = arg;
	if (!imap_seqset_has(v->set, uid, UINT32_MAX))
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		uint32_t *l = realloc(v->list, cap * sizeof(*l));
		if (l == NULL)
			return ERR_NOMEM;
		v->list = l;
		v->cap = cap;
	}
	v->list[v->n++] = uid;
	return 0;
}

static int
u32cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* report_vanished - RFC 7162 3.2.6: UID FETCH ... (CHANGEDSINCE m
 * VANISHED) first tells which UIDs of the set were expunged since m. */
static void
report_vanished(struct imap_session *s, const char *set, size_t len,
		uint64_t since)
{
	struct imap_seqset ss = { 0 };
	struct van_ctx v = { s, &ss, NULL, 0, 0 };
	struct store_rtxn *rt;
	if (imap_seqset_parse(set, len, 10000, &ss) < 0)
		return;
	if (store_read_begin(imap_store(), &rt) == 0) {
		store_expunged_since(rt, s->view->mailbox_id, since,
		    van_collect, &v);
		store_read_end(&rt);
	}
	if (v.n > 0) {
		struct buf b;
		buf_init(&b, SIZE_MAX / 2);
		qsort(v.list, v.n, sizeof(uint32_t), u32cmp);
		imap_seqset_print(v.list, v.n, &b);
		imap_write(s, "* VANISHED (EARLIER) %s", buf_data(&b));
		buf_free(&b);
	}
	free(v.list);
	imap_seqset_free(&ss);
}

void
imap_cmd_fetch(struct imap_session *s)
{
	const char *set, *p;
	size_t setlen, len;
	struct fetch_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	s->ctx = c;
	s->ctx_free = fetch_ctx_free;
	if (!imap_arg_atom(&s->args, &set, &setlen)) {
		imap_bad(s, "Syntax: FETCH sequence-set items");
		return;
	}
	int r = 0;
	if (imap_arg_lparen(&s->args)) {
		while (r == 0 && imap_arg_atom(&s->args, &p, &len))
			r = parse_item(c, p, len, true);
		if (r == 0 && (!imap_arg_rparen(&s->args) || c->n_items == 0))
			r = ERR_PROTO;
	} else if (imap_arg_atom(&s->args, &p, &len)) {
		r = parse_item(c, p, len, false);
	} else {
		r = ERR_PROTO;
	}
	/* modifiers: (CHANGEDSINCE modseq [VANISHED]) */
	if (r == 0 && imap_arg_lparen(&s->args)) {
		while (r == 0 && imap_arg_atom(&s->args, &p, &len)) {
			if (imap_atom_is(p, len, "CHANGEDSINCE")) {
				const char *n;
				size_t nl;
				char num[24];
				uint64_t v;
				if (!imap_arg_atom(&s->args, &n, &nl) ||
				    str_copyn(num, sizeof(num), n, nl) < 0 ||
				    str_to_u64(num, 1, UINT64_MAX, &v) < 0)
					r = ERR_PROTO;
				else
					c->changedsince = v;
			} else if (imap_atom_is(p, len, "VANISHED") &&
			    s->uid && s->qresync) {
				c->vanished = true;
			} else {
				r = ERR_PROTO;
			}
		}
		if (r == 0 && !imap_arg_rparen(&s->args))
			r = ERR_PROTO;
		if (c->vanished && c->changedsince == 0)
			r = ERR_PROTO;
	}
	if (r == 0 && !imap_arg_end(&s->args))
		r = ERR_PROTO;
	if (r < 0) {
		imap_bad(s, r == ERR_LIMIT ? "Too many FETCH items" :
		    "Invalid FETCH arguments");
		return;
	}
	if (c->changedsince > 0 && !s->condstore)
		s->condstore = true;	/* RFC 7162 3.1: CHANGEDSINCE enables */
	c->with_modseq = s->condstore;
	for (size_t i = 0; i < c->n_items; i++) {
		enum fi_type t = c->items[i].type;
		if (t == FI_ENVELOPE || t == FI_BODY || t == FI_BODYSTRUCTURE ||
		    (t == FI_SECTION && c->items[i].spec[0] != '\0') ||
		    t == FI_RFC822_HEADER || t == FI_RFC822_TEXT)
			c->need_info = true;
		if ((t == FI_SECTION && !c->items[i].peek) || t == FI_RFC822 ||
		    t == FI_RFC822_TEXT)
			c->sets_seen = true;
		if (t == FI_MODSEQ)
			s->condstore = true, c->with_modseq = true;
	}
	r = imap_resolve(s, set, setlen, s->uid, &c->uids, &c->n);
	if (r < 0) {
		imap_bad(s, r == ERR_LIMIT ? "Too many ranges in the set" :
		    "Invalid message set");
		return;
	}
	if (c->vanished)
		report_vanished(s, set, setlen, c->changedsince);
	if (c->sets_seen && !s->view->readonly) {
		r = start_seen(s, c);
		if (r < 0) {
			imap_no(s, "Cannot mark the messages seen");
			return;
		}
		if (r == 1)
			return;	/* seen_done continues */
	}
	fetch_run(s);
}
