/* SPDX-License-Identifier: MIT */
/*
 * imap_cmd_store.c - commands that change messages: STORE (with
 * CONDSTORE's UNCHANGEDSINCE, RFC 7162 3.1.3), COPY (COPYUID, RFC 4315),
 * MOVE (RFC 6851), EXPUNGE and UID EXPUNGE, and APPEND (APPENDUID). Each
 * runs as one store operation; the answer comes after the commit, and
 * the changes this session reports itself are not reported twice.
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
#include "mime/mime_struct.h"

#define KEYWORD_MAX 64

/* ---- flag lists ---- */

static bool
keyword_ok(const char *p, size_t len)
{
	if (len == 0 || len > KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 32 || c >= 127 || c == '(' || c == ')' || c == '{' ||
		    c == '%' || c == '*' || c == '"' || c == '\\' || c == ']')
			return false;
	}
	return true;
}

/* parse_flag - a system flag or keyword into flags / keywords. */
static int
parse_flag(const char *p, size_t len, uint32_t *flags, struct buf *kw)
{
	static const struct { const char *n; uint32_t f; } sys[] = {
		{ "\\Seen", STORE_FLAG_SEEN },
		{ "\\Answered", STORE_FLAG_ANSWERED },
		{ "\\Flagged", STORE_FLAG_FLAGGED },
		{ "\\Deleted", STORE_FLAG_DELETED },
		{ "\\Draft", STORE_FLAG_DRAFT },
	};
	if (len > 0 && p[0] == '\\') {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (imap_atom_is(p, len, sys[i].n)) {
				*flags |= sys[i].f;
				return 0;
			}
		return ERR_PROTO;	/* \Recent and unknown ones */
	}
	if (!keyword_ok(p, len))
		return ERR_PROTO;
	if (buf_len(kw) > 0 && buf_addc(kw, ' ') < 0)
		return ERR_LIMIT;
	return buf_add(kw, p, len) < 0 ? ERR_LIMIT : 0;
}

/* parse_flag_list - "(\Seen $Work)" or, for STORE, bare flags. */
static int
parse_flag_list(struct imap_args *a, bool bare_ok, uint32_t *flags,
		struct buf *kw)
{
	const char *p;
	size_t len;
	int r;
	*flags = 0;
	if (imap_arg_lparen(a)) {
		while (imap_arg_atom(a, &p, &len))
			if ((r = parse_flag(p, len, flags, kw)) < 0)
				return r;
		return imap_arg_rparen(a) ? 0 : ERR_PROTO;
	}
	if (!bare_ok)
		return ERR_PROTO;
	bool any = false;
	while (imap_arg_atom(a, &p, &len)) {
		if ((r = parse_flag(p, len, flags, kw)) < 0)
			return r;
		any = true;
	}
	return any ? 0 : ERR_PROTO;
}

/* ---- STORE ---- */

struct store_ctx {
	struct store_flags_op op;	/* first: handed back by the store */
	struct imap_session *s;
	uint32_t *uids;
	size_t n;
	bool silent;
	struct buf kw;
	uint32_t *new_flags;
	char (*new_kw)[STORE_KEYWORDS_LEN];
	uint64_t *new_modseq;
	bool *modified;
};

static void
store_ctx_free(void *p)
{
	struct store_ctx *c = p;
	free(c->uids);
	buf_free(&c->kw);
	free(c->new_flags);
	free(c->new_kw);
	free(c->new_modseq);
	free(c->modified);
	free(c);
}

static void
store_done(int result, void *arg)
{
	struct store_ctx *c = arg;
	struct imap_session *s = c->s;
	struct imap_view *v;
	uint32_t *mod = NULL;
	size_t n_mod = 0;

	if (!imap_resume_ok(s))
		return;
	if (result < 0) {
		imap_done(s, "NO", "[SERVERBUG] Store failed: %s",
		    err_str(result));
		return;
	}
	v = s->view;
	for (size_t i = 0; i < c->n; i++) {
		uint32_t uid = c->uids[i];
		uint32_t seq = imap_view_seq(v, uid);
		if (c->modified[i]) {
			if (mod == NULL)
				mod = calloc(c->n, sizeof(*mod));
			if (mod != NULL)
				mod[n_mod++] = s->uid ? uid : seq;
			continue;
		}
		if (c->new_modseq[i] == 0 || seq == 0)
			continue;
		imap_view_own(v, uid, c->new_modseq[i]);
		struct buf b;
		buf_init(&b, 4096);
		bool sp = false;
		buf_addf(&b, "* %u FETCH (", seq);
		if (!c->silent) {
			buf_adds(&b, "FLAGS ");
			imap_flags_string(c->new_flags[i], c->new_kw[i],
			    imap_view_recent(v, uid), &b);
			sp = true;
		}
		if (s->uid || (s->condstore && c->silent)) {
			buf_addf(&b, "%sUID %u", sp ? " " : "", uid);
			sp = true;
		}
		if (s->condstore) {
			buf_addf(&b, "%sMODSEQ (%llu)", sp ? " " : "",
			    (unsigned long long)c->new_modseq[i]);
			sp = true;
		}
		buf_addc(&b, ')');
		if (sp)
			imap_write(s, "%s", buf_data(&b));
		buf_free(&b);
	}
	if (n_mod > 0) {
		struct buf b;
		buf_init(&b, SIZE_MAX / 2);
		imap_seqset_print(mod, n_mod, &b);
		imap_done(s, "OK", "[MODIFIED %s] Conditional STORE failed",
		    buf_data(&b));
		buf_free(&b);
	} else {
		imap_done(s, "OK", "Store completed");
	}
	free(mod);
}

void
imap_cmd_store(struct imap_session *s)
{
	const char *set, *p;
	size_t setlen, len;
	struct store_ctx *c = calloc(1, sizeof(*c));
	enum store_flags_mode mode;
	uint64_t unchangedsince = 0;
	int r;

	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	buf_init(&c->kw, STORE_KEYWORDS_LEN - 1);
	s->ctx = c;
	s->ctx_free = store_ctx_free;
	if (!imap_arg_atom(&s->args, &set, &setlen))
		goto bad;
	if (imap_arg_lparen(&s->args)) {
		const char *n;
		size_t nl;
		char num[24];
		if (!imap_arg_atom(&s->args, &p, &len) ||
		    !imap_atom_is(p, len, "UNCHANGEDSINCE") ||
		    !imap_arg_atom(&s->args, &n, &nl) ||
		    str_copyn(num, sizeof(num), n, nl) < 0 ||
		    str_to_u64(num, 0, UINT64_MAX, &unchangedsince) < 0 ||
		    !imap_arg_rparen(&s->args))
			goto bad;
		s->condstore = true;	/* RFC 7162 3.1: it enables */
		if (unchangedsince == 0)
			unchangedsince = 1;	/* 0: only unchanged-ever ones */
	}
	if (!imap_arg_atom(&s->args, &p, &len))
		goto bad;
	const char *item = p;
	size_t il = len;
	if (il > 0 && (item[0] == '+' || item[0] == '-')) {
		mode = item[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		item++;
		il--;
	} else {
		mode = STORE_FLAGS_SET;
	}
	if (imap_atom_is(item, il, "FLAGS.SILENT"))
		c->silent = true;
	else if (!imap_atom_is(item, il, "FLAGS"))
		goto bad;
	uint32_t flags;
	if ((r = parse_flag_list(&s->args, true, &flags, &c->kw)) < 0 ||
	    !imap_arg_end(&s->args)) {
		imap_bad(s, r == ERR_LIMIT ? "Too many keywords" :
		    "Invalid flags");
		return;
	}
	if (s->view->readonly) {
		imap_no(s, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	r = imap_resolve(s, set, setlen, s->uid, &c->uids, &c->n);
	if (r < 0) {
		imap_bad(s, "Invalid message set");
		return;
	}
	if (c->n == 0) {
		imap_done(s, "OK", "Store completed");
		return;
	}
	c->new_flags = calloc(c->n, sizeof(*c->new_flags));
	c->new_kw = calloc(c->n, sizeof(*c->new_kw));
	c->new_modseq = calloc(c->n, sizeof(*c->new_modseq));
	c->modified = calloc(c->n, sizeof(*c->modified));
	if (c->new_flags == NULL || c->new_kw == NULL ||
	    c->new_modseq == NULL || c->modified == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->op.mailbox_id = s->view->mailbox_id;
	c->op.n = c->n;
	c->op.uids = c->uids;
	c->op.mode = mode;
	c->op.flags = flags;
	c->op.keywords = buf_len(&c->kw) > 0 || mode == STORE_FLAGS_SET ?
	    buf_data(&c->kw) : NULL;
	c->op.unchangedsince = unchangedsince;
	c->op.new_flags_r = c->new_flags;
	c->op.new_keywords_r = c->new_kw;
	c->op.new_modseq_r = c->new_modseq;
	c->op.modified_r = c->modified;
	if (store_submit(imap_store(), store_op_flags, &c->op, store_done,
	    s->loop) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	imap_suspend(s);
	return;
bad:
	imap_bad(s, "Syntax: STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] "
	    "(flags)");
}

/* ---- COPY and MOVE ---- */

struct copy_ctx {
	struct store_copy_op op;	/* first */
	struct imap_session *s;
	uint32_t *uids;
	size_t n;
	uint32_t *dst;
	bool move;
};

static void
copy_ctx_free(void *p)
{
	struct copy_ctx *c = p;
	free(c->uids);
	free(c->dst);
	free(c);
}

/* expunged_report - EXPUNGE (or VANISHED) for uids[n] leaving the view. */
static void
expunged_report(struct imap_session *s, const uint32_t *uids, size_t n)
{
	if (n == 0)
		return;
	if (s->qresync) {
		struct buf b;
		buf_init(&b, SIZE_MAX / 2);
		imap_seqset_print(uids, n, &b);
		imap_write(s, "* VANISHED %s", buf_data(&b));
		buf_free(&b);
		for (size_t i = 0; i < n; i++)
			imap_view_remove(s->view, uids[i]);
		return;
	}
	/* Ascending UIDs, each EXPUNGE renumbering those after it. */
	for (size_t i = 0; i < n; i++) {
		uint32_t seq = imap_view_seq(s->view, uids[i]);
		if (seq == 0)
			continue;
		imap_write(s, "* %u EXPUNGE", seq);
		imap_view_remove(s->view, uids[i]);
	}
}

static void
copy_done(int result, void *arg)
{
	struct copy_ctx *c = arg;
	struct imap_session *s = c->s;
	if (!imap_resume_ok(s))
		return;
	if (result < 0) {
		imap_done(s, "NO", "%s failed: %s", c->move ? "Move" : "Copy",
		    result == ERR_INVAL ? "cannot move into the same mailbox" :
		    err_str(result));
		return;
	}
	uint32_t *src = calloc(c->n ? c->n : 1, sizeof(*src));
	uint32_t *dst = calloc(c->n ? c->n : 1, sizeof(*dst));
	size_t k = 0;
	for (size_t i = 0; src != NULL && dst != NULL && i < c->n; i++) {
		if (c->dst[i] == 0)
			continue;
		src[k] = c->uids[i];
		dst[k] = c->dst[i];
		k++;
	}
	struct buf a, b;
	buf_init(&a, SIZE_MAX / 2);
	buf_init(&b, SIZE_MAX / 2);
	if (k > 0) {
		imap_seqset_print(src, k, &a);
		imap_seqset_print(dst, k, &b);
	}
	if (c->move) {
		if (k > 0)
			imap_write(s, "* OK [COPYUID %u %s %s] Moved",
			    c->op.uidvalidity_r, buf_data(&a), buf_data(&b));
		expunged_report(s, src, k);
		imap_done(s, "OK", "Move completed");
	} else if (k > 0) {
		imap_done(s, "OK", "[COPYUID %u %s %s] Copy completed",
		    c->op.uidvalidity_r, buf_data(&a), buf_data(&b));
	} else {
		imap_done(s, "OK", "Copy completed");
	}
	buf_free(&a);
	buf_free(&b);
	free(src);
	free(dst);
}

static void
do_copy(struct imap_session *s, bool move)
{
	const char *set;
	size_t setlen;
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_rtxn *rt;
	struct store_mailbox m;
	struct copy_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	c->move = move;
	s->ctx = c;
	s->ctx_free = copy_ctx_free;
	if (!imap_arg_atom(&s->args, &set, &setlen)) {
		imap_bad(s, move ? "Syntax: MOVE set mailbox" :
		    "Syntax: COPY set mailbox");
		return;
	}
	if (imap_mailbox_arg(s, name, sizeof(name)) < 0)
		return;
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "Too many arguments");
		return;
	}
	if (move && s->view->readonly) {
		imap_no(s, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	if (store_read_begin(imap_store(), &rt) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	int r = store_mailbox_get(rt, s->account_id, name, &m);
	store_read_end(&rt);
	if (r <= 0 || m.noselect) {
		imap_no(s, r < 0 ? "Cannot read the mailbox" :
		    "[TRYCREATE] Mailbox does not exist");
		return;
	}
	if (imap_resolve(s, set, setlen, s->uid, &c->uids, &c->n) < 0) {
		imap_bad(s, "Invalid message set");
		return;
	}
	if (c->n == 0) {
		imap_done(s, "OK", "%s completed", move ? "Move" : "Copy");
		return;
	}
	c->dst = calloc(c->n, sizeof(*c->dst));
	if (c->dst == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->op.src_mailbox_id = s->view->mailbox_id;
	c->op.dst_mailbox_id = m.id;
	c->op.n = c->n;
	c->op.uids = c->uids;
	c->op.move = move;
	c->op.dst_uids_r = c->dst;
	if (store_submit(imap_store(), store_op_copy, &c->op, copy_done,
	    s->loop) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	imap_suspend(s);
}

void
imap_cmd_copy(struct imap_session *s)
{
	do_copy(s, false);
}

void
imap_cmd_move(struct imap_session *s)
{
	do_copy(s, true);
}

/* ---- EXPUNGE ---- */

struct expunge_ctx {
	struct store_expunge_op op;	/* first */
	struct imap_session *s;
	uint32_t *uids;
	size_t n;
	uint32_t *out;
};

static void
expunge_ctx_free(void *p)
{
	struct expunge_ctx *c = p;
	free(c->uids);
	free(c->out);
	free(c);
}

static void
expunge_done(int result, void *arg)
{
	struct expunge_ctx *c = arg;
	struct imap_session *s = c->s;
	if (!imap_resume_ok(s))
		return;
	if (result < 0) {
		imap_done(s, "NO", "[SERVERBUG] Expunge failed: %s",
		    err_str(result));
		return;
	}
	size_t n = c->op.n_expunged_r < c->op.cap_r ? c->op.n_expunged_r :
	    c->op.cap_r;
	expunged_report(s, c->out, n);
	imap_done(s, "OK", "Expunge completed");
}

void
imap_cmd_expunge(struct imap_session *s)
{
	const char *set;
	size_t setlen;
	struct expunge_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	s->ctx = c;
	s->ctx_free = expunge_ctx_free;
	if (s->uid) {
		if (!imap_arg_atom(&s->args, &set, &setlen) ||
		    !imap_arg_end(&s->args)) {
			imap_bad(s, "Syntax: UID EXPUNGE set");
			return;
		}
		if (imap_resolve(s, set, setlen, true, &c->uids, &c->n) < 0) {
			imap_bad(s, "Invalid UID set");
			return;
		}
		if (c->n == 0) {
			imap_done(s, "OK", "Expunge completed");
			return;
		}
	} else if (!imap_arg_end(&s->args)) {
		imap_bad(s, "EXPUNGE takes no argument");
		return;
	}
	if (s->view->readonly) {
		imap_no(s, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	size_t cap = s->view->n + 1;
	c->out = calloc(cap, sizeof(*c->out));
	if (c->out == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->op.mailbox_id = s->view->mailbox_id;
	c->op.n = c->n;
	c->op.uids = c->uids;
	c->op.expunged_r = c->out;
	c->op.cap_r = cap;
	if (store_submit(imap_store(), store_op_expunge, &c->op,
	    expunge_done, s->loop) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	imap_suspend(s);
}

/* ---- APPEND ---- */

/* parse_date_time - RFC 3501 date-time "dd-Mon-yyyy hh:mm:ss +zzzz". */
static int
parse_date_time(const char *p, size_t len, int64_t *t)
{
	static const char *months = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char b[40];
	int day, year, hh, mm, ss, zone;
	char mon[4], sign;
	if (len >= sizeof(b))
		return ERR_PROTO;
	memcpy(b, p, len);
	b[len] = '\0';
	if (sscanf(b, "%2d-%3s-%4d %2d:%2d:%2d %c%4d", &day, mon, &year, &hh,
	    &mm, &ss, &sign, &zone) != 8 || (sign != '+' && sign != '-'))
		return ERR_PROTO;
	const char *m = strstr(months, mon);
	if (m == NULL || (m - months) % 3 != 0 || day < 1 || day > 31 ||
	    year < 1900 || hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59)
		return ERR_PROTO;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t base = timegm(&tm);
	int off = (zone / 100) * 3600 + (zone % 100) * 60;
	*t = (int64_t)base - (sign == '+' ? off : -off);
	return 0;
}

/* crlf - the message with every line ending made CRLF (clients may
 * send bare LF in an APPEND; the store holds CRLF like SMTP mail). */
static int
crlf(const char *p, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		int r;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			r = buf_add(out, "\r\n", 2);
		else if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			r = buf_add(out, "\r\n", 2);
		else
			r = buf_addc(out, p[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

struct append_ctx {
	struct store_append op;		/* first */
	struct imap_session *s;
	struct buf kw;
	struct buf sealed;
	struct buf info;
};

static void
append_ctx_free(void *p)
{
	struct append_ctx *c = p;
	buf_free(&c->kw);
	buf_free(&c->sealed);
	buf_free(&c->info);
	free(c);
}

static void
append_done(int result, void *arg)
{
	struct append_ctx *c = arg;
	struct imap_session *s = c->s;
	if (!imap_resume_ok(s))
		return;
	if (result == ERR_NOTFOUND) {
		imap_no(s, "[TRYCREATE] Mailbox does not exist");
		return;
	}
	if (result < 0) {
		imap_done(s, "NO", "[SERVERBUG] Append failed: %s",
		    err_str(result));
		return;
	}
	struct logline ll;
	logl_begin(&ll, s->id, "imap", "append");
	logl_u64(&ll, "mailbox", c->op.mailbox_id);
	logl_u64(&ll, "uid", c->op.uid_r);
	logl_u64(&ll, "size", c->op.size);
	logl_emit(&ll, LOG_INFO);
	imap_done(s, "OK", "[APPENDUID %u %u] Append completed",
	    c->op.uidvalidity_r, c->op.uid_r);
}

void
imap_cmd_append(struct imap_session *s)
{
	char name[STORE_MAILBOX_NAME_MAX];
	const char *p, *msg;
	size_t len, mlen;
	uint32_t flags = 0;
	int64_t date = (int64_t)time(NULL);
	struct store_rtxn *rt;
	struct store_mailbox mb;
	struct append_ctx *c = calloc(1, sizeof(*c));
	int r;

	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	buf_init(&c->kw, STORE_KEYWORDS_LEN - 1);
	buf_init(&c->sealed, SIZE_MAX / 2);
	buf_init(&c->info, SIZE_MAX / 2);
	s->ctx = c;
	s->ctx_free = append_ctx_free;
	if (imap_mailbox_arg(s, name, sizeof(name)) < 0)
		return;
	const struct imap_tok *t = imap_arg_peek(&s->args);
	if (t != NULL && t->type == IMAP_TOK_LPAREN &&
	    parse_flag_list(&s->args, false, &flags, &c->kw) < 0) {
		imap_bad(s, "Invalid flags");
		return;
	}
	t = imap_arg_peek(&s->args);
	if (t != NULL && t->type == IMAP_TOK_STRING) {
		imap_arg_string(&s->args, &p, &len);
		if (parse_date_time(p, len, &date) < 0) {
			imap_bad(s, "Invalid date-time");
			return;
		}
	}
	if (!imap_arg_literal(&s->args, &msg, &mlen)) {
		imap_bad(s, "Syntax: APPEND mailbox [(flags)] [date-time] "
		    "literal");
		return;
	}
	if (!imap_arg_end(&s->args)) {
		imap_no(s, "[CANNOT] MULTIAPPEND is not supported");
		return;
	}
	if ((r = store_read_begin(imap_store(), &rt)) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	r = store_mailbox_get(rt, s->account_id, name, &mb);
	store_read_end(&rt);
	if (r <= 0 || mb.noselect) {
		imap_no(s, r < 0 ? "Cannot read the mailbox" :
		    "[TRYCREATE] Mailbox does not exist");
		return;
	}
	struct buf norm;
	struct mime_info mi;
	buf_init(&norm, (size_t)s->cfg->imap_max_message_size * 2 + 16);
	mime_info_init(&mi);
	r = crlf(msg, mlen, &norm);
	if (r == 0 && buf_len(&norm) > s->cfg->imap_max_message_size)
		r = ERR_LIMIT;
	if (r == 0)
		r = mime_info_parse(buf_data(&norm), buf_len(&norm), &mi);
	if (r == ERR_LIMIT && buf_len(&norm) <= s->cfg->imap_max_message_size)
		r = 0;	/* too complex: described as one part, still stored */
	if (r == 0)
		r = mime_info_encode(&mi, &c->info);
	if (r == 0)
		r = store_blob_seal(imap_store(), buf_data(&norm),
		    buf_len(&norm), &c->sealed);
	c->op.size = buf_len(&norm);
	mime_info_free(&mi);
	buf_wipe(&norm);
	if (r < 0) {
		imap_no(s, r == ERR_LIMIT ? "[TOOBIG] Message too large" :
		    "Cannot store the message");
		return;
	}
	c->op.mailbox_id = mb.id;
	c->op.sealed = buf_data(&c->sealed);
	c->op.sealed_len = buf_len(&c->sealed);
	c->op.info = buf_data(&c->info);
	c->op.info_len = buf_len(&c->info);
	c->op.internaldate = date;
	c->op.flags = flags;
	c->op.keywords = buf_data(&c->kw);
	if (store_submit(imap_store(), store_op_append, &c->op, append_done,
	    s->loop) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	imap_suspend(s);
}
