/* SPDX-License-Identifier: MIT */
/*
 * imap_cmd_mailbox.c - commands on mailboxes as names: SELECT and EXAMINE
 * (with CONDSTORE and QRESYNC parameters, RFC 7162), CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with the RETURN options of
 * LIST-STATUS, RFC 5819, and SPECIAL-USE, RFC 6154), LSUB and STATUS.
 * The hierarchy delimiter is "/"; names are UTF-8 in the store and
 * modified UTF-7 on the wire.
 */
#include "imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

enum {
	ST_MESSAGES = 0x01,
	ST_RECENT = 0x02,
	ST_UIDNEXT = 0x04,
	ST_UIDVALIDITY = 0x08,
	ST_UNSEEN = 0x10,
	ST_HIGHESTMODSEQ = 0x20,
};

/* ---- helpers ---- */

/* valid_name - a name we accept for a new mailbox. */
static bool
valid_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || n[0] == '/' || strstr(n, "//") != NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f || n[i] == '*' ||
		    n[i] == '%')
			return false;
	return true;
}

static void
strip_trailing_delim(char *n)
{
	size_t len = strlen(n);
	while (len > 1 && n[len - 1] == '/')
		n[--len] = '\0';
}

void
imap_write_flags_lists(struct imap_session *s, const struct store_mailbox *m)
{
	const char *kw = m->keywords;
	const char *sp = kw[0] ? " " : "";
	imap_write(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)",
	    sp, kw);
	if (s->view != NULL && s->view->readonly)
		imap_write(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_write(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft%s%s \\*)] Flags permitted", sp, kw);
}

struct count_ctx {
	uint32_t from;
	uint32_t n;
};

static int
count_from(const struct store_msg *m, void *arg)
{
	struct count_ctx *c = arg;
	if (m->uid >= c->from)
		c->n++;
	return 0;
}

static uint32_t
recent_count(struct store_rtxn *rt, const struct store_mailbox *m)
{
	struct count_ctx c = { m->first_recent_uid, 0 };
	if (m->first_recent_uid >= m->uidnext)
		return 0;
	store_msg_iter_from(rt, m->id, m->first_recent_uid, count_from, &c);
	return c.n;
}

/* ---- SELECT / EXAMINE ---- */

struct select_ctx {
	struct imap_session *s;
	struct imap_view *v;
	struct store_mailbox mb;
	uint32_t first_unseen;
	bool qresync;
	uint32_t q_uidvalidity;
	uint64_t q_modseq;
	struct imap_seqset q_known;
	bool q_has_known;
};

static void
select_ctx_free(void *p)
{
	struct select_ctx *c = p;
	imap_view_free(&c->v);
	imap_seqset_free(&c->q_known);
	free(c);
}

struct load_ctx {
	struct imap_view *v;
	uint32_t seq;
	uint32_t first_unseen;
	int err;
};

static int
load_msg(const struct store_msg *m, void *arg)
{
	struct load_ctx *c = arg;
	struct imap_view *v = c->v;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		uint32_t *u = realloc(v->uids, cap * sizeof(*u));
		if (u == NULL)
			return ERR_NOMEM;
		v->uids = u;
		v->cap = cap;
	}
	v->uids[v->n++] = m->uid;
	c->seq++;
	if (c->first_unseen == 0 && !(m->flags & STORE_FLAG_SEEN))
		c->first_unseen = c->seq;
	return 0;
}

struct qr_ctx {
	struct imap_session *s;
	struct select_ctx *c;
	struct store_rtxn *rt;
	uint32_t *list;
	size_t n, cap;
};

static int
qr_vanished(uint32_t uid, uint64_t modseq, void *arg)
{
	struct qr_ctx *q = arg;
	if (q->c->q_has_known && !imap_seqset_has(&q->c->q_known, uid,
	    UINT32_MAX))
		return 0;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		uint32_t *l = realloc(q->list, cap * sizeof(*l));
		if (l == NULL)
			return ERR_NOMEM;
		q->list = l;
		q->cap = cap;
	}
	q->list[q->n++] = uid;
	return 0;
}

static int
qr_changed(uint32_t uid, uint64_t modseq, void *arg)
{
	struct qr_ctx *q = arg;
	struct imap_view *v = q->s->view;
	struct store_msg m;
	uint32_t seq = imap_view_seq(v, uid);
	if (seq == 0)
		return 0;
	int r = store_msg_get(q->rt, v->mailbox_id, uid, &m);
	if (r <= 0)
		return r;
	struct buf b;
	buf_init(&b, 4096);
	imap_flags_string(m.flags, m.keywords, imap_view_recent(v, uid), &b);
	imap_write(q->s, "* %u FETCH (UID %u FLAGS %s MODSEQ (%llu))", seq,
	    uid, buf_data(&b), (unsigned long long)m.modseq);
	buf_free(&b);
	return 0;
}

static int
uid_cmp32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* select_answer - everything RFC 3501 6.3.1 and RFC 7162 ask for. */
static void
select_answer(struct imap_session *s, struct select_ctx *c)
{
	struct imap_view *v = c->v;
	c->v = NULL;
	s->view = v;
	s->state = IMAP_SELECTED;
	imap_watch(s);
	imap_write_flags_lists(s, &c->mb);
	v->kw_hash = imap_kw_hash(c->mb.keywords);
	imap_write(s, "* %zu EXISTS", v->n);
	imap_write(s, "* %zu RECENT", v->n_recent);
	if (c->first_unseen > 0)
		imap_write(s, "* OK [UNSEEN %u] First unseen", c->first_unseen);
	imap_write(s, "* OK [UIDVALIDITY %u] UIDs valid", v->uidvalidity);
	imap_write(s, "* OK [UIDNEXT %u] Predicted next UID", c->mb.uidnext);
	imap_write(s, "* OK [HIGHESTMODSEQ %llu] Highest",
	    (unsigned long long)c->mb.highestmodseq);
	if (c->qresync && c->q_uidvalidity == v->uidvalidity &&
	    c->q_modseq < c->mb.highestmodseq) {
		struct store_rtxn *rt;
		struct qr_ctx q = { s, c, NULL, NULL, 0, 0 };
		if (store_read_begin(imap_store(), &rt) == 0) {
			q.rt = rt;
			store_expunged_since(rt, v->mailbox_id, c->q_modseq,
			    qr_vanished, &q);
			if (q.n > 0) {
				struct buf b;
				buf_init(&b, SIZE_MAX / 2);
				qsort(q.list, q.n, sizeof(uint32_t), uid_cmp32);
				imap_seqset_print(q.list, q.n, &b);
				imap_write(s, "* VANISHED (EARLIER) %s",
				    buf_data(&b));
				buf_free(&b);
			}
			store_msg_changed_since(rt, v->mailbox_id,
			    c->q_modseq, qr_changed, &q);
			store_read_end(&rt);
		}
		free(q.list);
	}
	imap_done(s, "OK", "[%s] %s completed", v->readonly ? "READ-ONLY" :
	    "READ-WRITE", v->readonly ? "Examine" : "Select");
}

static void
recent_mark(struct imap_view *v, uint32_t first, uint32_t uidnext)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->uids[i] < first || v->uids[i] >= uidnext)
			continue;
		if (v->n_recent == v->cap_recent) {
			size_t cap = v->cap_recent ? v->cap_recent * 2 : 16;
			uint32_t *r = realloc(v->recent, cap * sizeof(*r));
			if (r == NULL)
				return;
			v->recent = r;
			v->cap_recent = cap;
		}
		v->recent[v->n_recent++] = v->uids[i];
	}
}

/* select_params - "(CONDSTORE)" or "(QRESYNC (uidvalidity modseq
 * [known-uids]))"; BAD sent on error. */
static int
select_params(struct imap_session *s, struct select_ctx *c)
{
	const char *p;
	size_t len;
	if (imap_arg_end(&s->args))
		return 0;
	if (!imap_arg_lparen(&s->args))
		goto bad;
	while (!imap_arg_rparen(&s->args)) {
		if (!imap_arg_atom(&s->args, &p, &len))
			goto bad;
		if (imap_atom_is(p, len, "CONDSTORE")) {
			s->condstore = true;
			continue;
		}
		if (!imap_atom_is(p, len, "QRESYNC") || !s->qresync ||
		    !imap_arg_lparen(&s->args))
			goto bad;
		const char *a, *b;
		size_t alen, blen;
		uint64_t uv, ms;
		char num[24];
		if (!imap_arg_atom(&s->args, &a, &alen) ||
		    !imap_arg_atom(&s->args, &b, &blen) ||
		    str_copyn(num, sizeof(num), a, alen) < 0 ||
		    str_to_u64(num, 1, UINT32_MAX, &uv) < 0 ||
		    str_copyn(num, sizeof(num), b, blen) < 0 ||
		    str_to_u64(num, 0, UINT64_MAX, &ms) < 0)
			goto bad;
		c->qresync = true;
		c->q_uidvalidity = (uint32_t)uv;
		c->q_modseq = ms;
		if (imap_arg_atom(&s->args, &a, &alen)) {
			if (imap_seqset_parse(a, alen, 10000, &c->q_known) < 0)
				goto bad;
			c->q_has_known = true;
		}
		/* sequence match data: accepted, not needed */
		if (imap_arg_peek(&s->args) != NULL &&
		    imap_arg_peek(&s->args)->type == IMAP_TOK_LPAREN)
			imap_arg_skip(&s->args);
		if (!imap_arg_rparen(&s->args))
			goto bad;
	}
	if (!imap_arg_end(&s->args))
		goto bad;
	return 0;
bad:
	imap_bad(s, "Invalid SELECT parameters");
	return ERR_PROTO;
}

static void
do_select(struct imap_session *s, bool readonly)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_rtxn *rt;
	struct select_ctx *c;
	int r;

	if (imap_mailbox_arg(s, name, sizeof(name)) < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	s->ctx = c;
	s->ctx_free = select_ctx_free;
	if (select_params(s, c) < 0)
		return;
	/* Any earlier selection ends first, even if this one fails. */
	if (s->view != NULL) {
		imap_unwatch(s);
		imap_view_free(&s->view);
		s->state = IMAP_AUTH;
		if (s->qresync)
			imap_write(s, "* OK [CLOSED] Previous mailbox closed");
	}
	if ((r = store_read_begin(imap_store(), &rt)) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	r = store_mailbox_get(rt, s->account_id, name, &c->mb);
	if (r <= 0) {
		store_read_end(&rt);
		imap_no(s, r == 0 ? "[NONEXISTENT] Mailbox does not exist" :
		    "Cannot read the mailbox");
		return;
	}
	if (c->mb.noselect) {
		store_read_end(&rt);
		imap_no(s, "[CANNOT] Mailbox is \\Noselect");
		return;
	}
	c->v = calloc(1, sizeof(*c->v));
	if (c->v == NULL) {
		store_read_end(&rt);
		imap_no(s, "Out of memory");
		return;
	}
	c->v->mailbox_id = c->mb.id;
	c->v->uidvalidity = c->mb.uidvalidity;
	c->v->readonly = readonly;
	c->v->modseq = c->mb.highestmodseq;
	c->v->exp_modseq = c->mb.highestmodseq;
	struct load_ctx lc = { c->v, 0, 0, 0 };
	r = store_msg_iter(rt, c->mb.id, load_msg, &lc);
	store_read_end(&rt);
	if (r < 0) {
		imap_no(s, "Cannot read the mailbox");
		return;
	}
	c->first_unseen = lc.first_unseen;
	/* SELECT takes the recent messages; EXAMINE only sees them. */
	uint32_t first = imap_recent_claim(c->mb.id, c->mb.first_recent_uid,
	    c->mb.uidnext - 1, !readonly);
	recent_mark(c->v, first, c->mb.uidnext);
	select_answer(s, c);
}

void
imap_cmd_select(struct imap_session *s)
{
	do_select(s, false);
}

void
imap_cmd_examine(struct imap_session *s)
{
	do_select(s, true);
}

/* ---- CREATE, DELETE, RENAME, (UN)SUBSCRIBE ---- */

struct mbop_ctx {
	struct store_mailbox_op op;	/* first: handed back by the store */
	struct imap_session *s;
	char name[STORE_MAILBOX_NAME_MAX];
	char new_name[STORE_MAILBOX_NAME_MAX];
	const char *verb;
	uint32_t deleted_id;
};

static void
mbop_done(int result, void *arg)
{
	struct mbop_ctx *c = arg;
	struct imap_session *s = c->s;
	if (!imap_resume_ok(s))
		return;
	if (result == 0 && c->deleted_id != 0 && s->view != NULL &&
	    s->view->mailbox_id == c->deleted_id) {
		imap_unwatch(s);
		imap_view_free(&s->view);
		s->state = IMAP_AUTH;
	}
	if (result == 0)
		imap_done(s, "OK", "%s completed", c->verb);
	else if (result == ERR_EXISTS)
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
	else if (result == ERR_NOTFOUND)
		imap_no(s, "[NONEXISTENT] Mailbox does not exist");
	else if (result == ERR_LIMIT)
		imap_no(s, "[LIMIT] Mailbox name too long");
	else if (result == ERR_PERM)
		imap_no(s, "[INUSE] A \\Noselect name with inferiors cannot "
		    "be deleted");
	else
		imap_done(s, "NO", "[SERVERBUG] %s failed: %s", c->verb,
		    err_str(result));
}

static struct mbop_ctx *
mbop_new(struct imap_session *s, const char *verb)
{
	struct mbop_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		imap_no(s, "Out of memory");
		return NULL;
	}
	c->s = s;
	c->verb = verb;
	c->op.account_id = s->account_id;
	c->op.name = c->name;
	c->op.new_name = c->new_name;
	s->ctx = c;
	s->ctx_free = free;
	return c;
}

static void
mbop_submit(struct imap_session *s, struct mbop_ctx *c, store_op_fn *op)
{
	if (store_submit(imap_store(), op, &c->op, mbop_done, s->loop) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	imap_suspend(s);
}

void
imap_cmd_create(struct imap_session *s)
{
	struct mbop_ctx *c = mbop_new(s, "Create");
	if (c == NULL || imap_mailbox_arg(s, c->name, sizeof(c->name)) < 0)
		return;
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "Syntax: CREATE mailbox");
		return;
	}
	strip_trailing_delim(c->name);
	if (strcmp(c->name, "INBOX") == 0) {
		imap_no(s, "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (!valid_name(c->name)) {
		imap_no(s, "[CANNOT] Invalid mailbox name");
		return;
	}
	c->op.parents = true;
	mbop_submit(s, c, store_op_mailbox_create);
}

void
imap_cmd_delete(struct imap_session *s)
{
	struct store_rtxn *rt;
	struct store_mailbox m;
	struct mbop_ctx *c = mbop_new(s, "Delete");
	if (c == NULL || imap_mailbox_arg(s, c->name, sizeof(c->name)) < 0)
		return;
	if (strcmp(c->name, "INBOX") == 0) {
		imap_no(s, "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (store_read_begin(imap_store(), &rt) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	int r = store_mailbox_get(rt, s->account_id, c->name, &m);
	store_read_end(&rt);
	if (r <= 0) {
		imap_no(s, "[NONEXISTENT] Mailbox does not exist");
		return;
	}
	c->deleted_id = m.id;
	mbop_submit(s, c, store_op_mailbox_delete);
}

void
imap_cmd_rename(struct imap_session *s)
{
	struct mbop_ctx *c = mbop_new(s, "Rename");
	if (c == NULL || imap_mailbox_arg(s, c->name, sizeof(c->name)) < 0 ||
	    imap_mailbox_arg(s, c->new_name, sizeof(c->new_name)) < 0)
		return;
	strip_trailing_delim(c->new_name);
	if (strcmp(c->new_name, "INBOX") == 0) {
		imap_no(s, "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	size_t ol = strlen(c->name);
	if (strcmp(c->name, c->new_name) == 0 ||
	    (strncmp(c->new_name, c->name, ol) == 0 &&
	    c->new_name[ol] == '/' && strcmp(c->name, "INBOX") != 0)) {
		imap_no(s, "[CANNOT] Cannot rename a mailbox into itself");
		return;
	}
	if (!valid_name(c->new_name)) {
		imap_no(s, "[CANNOT] Invalid mailbox name");
		return;
	}
	c->op.parents = true;
	mbop_submit(s, c, store_op_mailbox_rename);
}

static void
do_subscribe(struct imap_session *s, bool on)
{
	struct mbop_ctx *c = mbop_new(s, on ? "Subscribe" : "Unsubscribe");
	if (c == NULL || imap_mailbox_arg(s, c->name, sizeof(c->name)) < 0)
		return;
	strip_trailing_delim(c->name);
	c->op.subscribe = on;
	mbop_submit(s, c, store_op_subscribe);
}

void
imap_cmd_subscribe(struct imap_session *s)
{
	do_subscribe(s, true);
}

void
imap_cmd_unsubscribe(struct imap_session *s)
{
	do_subscribe(s, false);
}

/* ---- LIST and LSUB ---- */

/* match - RFC 3501 6.3.8: '*' matches anything, '%' anything but the
 * delimiter. INBOX matches case-insensitively. */
static bool
match(const char *pat, const char *name)
{
	while (*pat != '\0') {
		if (*pat == '*' || *pat == '%') {
			bool star = *pat == '*';
			pat++;
			for (const char *n = name;; n++) {
				if (match(pat, n))
					return true;
				if (*n == '\0' || (!star && *n == '/'))
					return false;
			}
		}
		if (*name == '\0' || *pat != *name)
			return false;
		pat++;
		name++;
	}
	return *name == '\0';
}

struct list_ent {
	struct store_mailbox m;
	bool subscribed;
	bool has_children;
};

struct list_ctx {
	struct imap_session *s;
	struct list_ent *e;
	size_t n, cap;
	char **subs;
	size_t n_subs, cap_subs;
};

static int
list_collect(const struct store_mailbox *m, void *arg)
{
	struct list_ctx *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct list_ent *e = realloc(c->e, cap * sizeof(*e));
		if (e == NULL)
			return ERR_NOMEM;
		c->e = e;
		c->cap = cap;
	}
	memset(&c->e[c->n], 0, sizeof(c->e[0]));
	c->e[c->n].m = *m;
	c->n++;
	return 0;
}

static int
sub_collect(const char *name, void *arg)
{
	struct list_ctx *c = arg;
	if (c->n_subs == c->cap_subs) {
		size_t cap = c->cap_subs ? c->cap_subs * 2 : 16;
		char **p = realloc(c->subs, cap * sizeof(*p));
		if (p == NULL)
			return ERR_NOMEM;
		c->subs = p;
		c->cap_subs = cap;
	}
	c->subs[c->n_subs] = strdup(name);
	if (c->subs[c->n_subs] == NULL)
		return ERR_NOMEM;
	c->n_subs++;
	return 0;
}

static int
ent_cmp(const void *x, const void *y)
{
	const struct list_ent *a = x, *b = y;
	/* INBOX first, then byte order */
	bool ai = strcmp(a->m.name, "INBOX") == 0;
	bool bi = strcmp(b->m.name, "INBOX") == 0;
	if (ai != bi)
		return ai ? -1 : 1;
	return strcmp(a->m.name, b->m.name);
}

static void
list_ctx_free(void *p)
{
	struct list_ctx *c = p;
	for (size_t i = 0; i < c->n_subs; i++)
		free(c->subs[i]);
	free(c->subs);
	free(c->e);
	free(c);
}

static bool
is_subscribed(const struct list_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n_subs; i++)
		if (strcmp(c->subs[i], name) == 0)
			return true;
	return false;
}

/* full_pattern - reference + pattern, decoded from modified UTF-7. */
static int
full_pattern(const char *ref, size_t rlen, const char *pat, size_t plen,
	     char *out, size_t size)
{
	struct buf b;
	buf_init(&b, size - 1);
	int r = imap_utf7_decode(ref, rlen, &b);
	if (r == 0)
		r = imap_utf7_decode(pat, plen, &b);
	if (r == 0)
		r = str_copy(out, size, buf_data(&b));
	buf_free(&b);
	if (r == 0 && strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return r;
}

static void
lsub_line(struct imap_session *s, const char *name, bool noselect)
{
	struct buf b;
	buf_init(&b, 4 * STORE_MAILBOX_NAME_MAX);
	imap_put_mailbox(&b, name);
	imap_write(s, "* LSUB (%s) \"/\" %s", noselect ? "\\Noselect" : "",
	    buf_data(&b));
	buf_free(&b);
}

/* lsub_answer - the subscriptions matching pat, whether the mailbox
 * exists or not; and, RFC 3501 6.3.9, a superior that matches when only
 * an inferior is subscribed, flagged \Noselect. */
static void
lsub_answer(struct imap_session *s, struct list_ctx *c, const char *pat)
{
	char **seen = calloc(c->n_subs + 1, sizeof(*seen));
	size_t n_seen = 0;
	for (size_t i = 0; i < c->n_subs; i++) {
		const char *name = c->subs[i];
		if (match(pat, name)) {
			bool exists = false;
			for (size_t k = 0; k < c->n && !exists; k++)
				exists = strcmp(c->e[k].m.name, name) == 0 &&
				    !c->e[k].m.noselect;
			lsub_line(s, name, !exists);
			continue;
		}
		for (const char *p = strchr(name, '/'); p != NULL && seen;
		     p = strchr(p + 1, '/')) {
			char sup[STORE_MAILBOX_NAME_MAX];
			if (str_copyn(sup, sizeof(sup), name,
			    (size_t)(p - name)) < 0 || !match(pat, sup) ||
			    is_subscribed(c, sup))
				continue;
			bool dup = false;
			for (size_t k = 0; k < n_seen && !dup; k++)
				dup = strcmp(seen[k], sup) == 0;
			if (dup)
				continue;
			seen[n_seen] = strdup(sup);
			if (seen[n_seen] == NULL)
				continue;
			n_seen++;
			lsub_line(s, sup, true);
			break;
		}
	}
	for (size_t k = 0; k < n_seen; k++)
		free(seen[k]);
	free(seen);
}

static void
do_list(struct imap_session *s, bool lsub)
{
	const char *ref, *pat, *p;
	size_t rlen, plen, len;
	bool sel_subscribed = false, sel_special = false;
	bool ret_subscribed = false, ret_status = false;
	unsigned status_items = 0;
	char patterns[8][STORE_MAILBOX_NAME_MAX];
	size_t n_pat = 0;
	struct store_rtxn *rt;
	const char *verb = lsub ? "LSUB" : "LIST";

	if (!lsub && imap_arg_lparen(&s->args)) {
		/* selection options (RFC 5258 syntax, RFC 6154) */
		while (imap_arg_atom(&s->args, &p, &len)) {
			if (imap_atom_is(p, len, "SUBSCRIBED"))
				sel_subscribed = true;
			else if (imap_atom_is(p, len, "SPECIAL-USE"))
				sel_special = true;
			else if (!imap_atom_is(p, len, "RECURSIVEMATCH")) {
				imap_bad(s, "Unknown LIST selection option");
				return;
			}
		}
		if (!imap_arg_rparen(&s->args)) {
			imap_bad(s, "Invalid LIST selection options");
			return;
		}
	}
	if (!imap_arg_astring(&s->args, &ref, &rlen)) {
		imap_bad(s, lsub ? "Syntax: LSUB reference pattern" :
		    "Syntax: LIST reference pattern");
		return;
	}
	if (!lsub && imap_arg_lparen(&s->args)) {
		while (imap_arg_astring(&s->args, &pat, &plen)) {
			if (n_pat == 8 || full_pattern(ref, rlen, pat, plen,
			    patterns[n_pat], sizeof(patterns[0])) < 0) {
				imap_bad(s, "Invalid LIST pattern");
				return;
			}
			n_pat++;
		}
		if (!imap_arg_rparen(&s->args) || n_pat == 0) {
			imap_bad(s, "Invalid LIST patterns");
			return;
		}
	} else if (imap_arg_astring(&s->args, &pat, &plen)) {
		if (full_pattern(ref, rlen, pat, plen, patterns[0],
		    sizeof(patterns[0])) < 0) {
			imap_bad(s, "Invalid mailbox pattern");
			return;
		}
		n_pat = 1;
	} else {
		imap_bad(s, "Missing mailbox pattern");
		return;
	}
	if (!lsub && imap_arg_atom(&s->args, &p, &len)) {
		if (!imap_atom_is(p, len, "RETURN") ||
		    !imap_arg_lparen(&s->args)) {
			imap_bad(s, "Syntax: LIST ... RETURN (options)");
			return;
		}
		while (imap_arg_atom(&s->args, &p, &len)) {
			if (imap_atom_is(p, len, "SUBSCRIBED")) {
				ret_subscribed = true;
			} else if (imap_atom_is(p, len, "STATUS")) {
				if (imap_status_items(s, &s->args,
				    &status_items) < 0)
					return;
				ret_status = true;
			} else if (!imap_atom_is(p, len, "CHILDREN") &&
			    !imap_atom_is(p, len, "SPECIAL-USE")) {
				imap_bad(s, "Unknown LIST return option");
				return;
			}
		}
		if (!imap_arg_rparen(&s->args)) {
			imap_bad(s, "Invalid LIST return options");
			return;
		}
	}
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "Too many LIST arguments");
		return;
	}
	if (n_pat == 1 && patterns[0][0] == '\0' && !lsub) {
		/* RFC 3501 6.3.8: the delimiter and root of the reference */
		imap_write(s, "* LIST (\\Noselect) \"/\" \"\"");
		imap_done(s, "OK", "List completed");
		return;
	}

	struct list_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		imap_no(s, "Out of memory");
		return;
	}
	c->s = s;
	s->ctx = c;
	s->ctx_free = list_ctx_free;
	if (store_read_begin(imap_store(), &rt) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	int r = store_mailbox_iter(rt, s->account_id, list_collect, c);
	if (r == 0)
		r = store_subscription_iter(rt, s->account_id, sub_collect, c);
	if (r < 0) {
		store_read_end(&rt);
		imap_no(s, "Cannot list mailboxes");
		return;
	}
	qsort(c->e, c->n, sizeof(c->e[0]), ent_cmp);
	for (size_t i = 0; i < c->n; i++) {
		size_t nl = strlen(c->e[i].m.name);
		c->e[i].subscribed = is_subscribed(c, c->e[i].m.name);
		for (size_t k = i + 1; k < c->n; k++) {
			if (strncmp(c->e[k].m.name, c->e[i].m.name, nl) == 0 &&
			    c->e[k].m.name[nl] == '/') {
				c->e[i].has_children = true;
				break;
			}
		}
	}
	if (lsub) {
		lsub_answer(s, c, patterns[0]);
		store_read_end(&rt);
		imap_done(s, "OK", "Lsub completed");
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct list_ent *e = &c->e[i];
		bool hit = false;
		for (size_t k = 0; k < n_pat && !hit; k++)
			hit = match(patterns[k], e->m.name);
		if (!hit || (sel_subscribed && !e->subscribed) ||
		    (sel_special && e->m.special_use == STORE_SPECIAL_NONE))
			continue;
		struct buf b;
		buf_init(&b, 8 * STORE_MAILBOX_NAME_MAX);
		buf_adds(&b, "* LIST (");
		if (e->m.noselect)
			buf_adds(&b, "\\Noselect ");
		buf_adds(&b, e->has_children ? "\\HasChildren" :
		    "\\HasNoChildren");
		if (e->m.special_use != STORE_SPECIAL_NONE)
			buf_addf(&b, " %s",
			    store_special_use_name(e->m.special_use));
		if ((ret_subscribed || sel_subscribed) && e->subscribed)
			buf_adds(&b, " \\Subscribed");
		buf_adds(&b, ") \"/\" ");
		imap_put_mailbox(&b, e->m.name);
		imap_write(s, "%s", buf_data(&b));
		buf_free(&b);
		if (ret_status && !e->m.noselect)
			imap_status_write(s, &e->m, status_items);
	}
	store_read_end(&rt);
	imap_done(s, "OK", "%s completed", verb[1] == 'I' ? "List" : "Lsub");
}

void
imap_cmd_list(struct imap_session *s)
{
	do_list(s, false);
}

void
imap_cmd_lsub(struct imap_session *s)
{
	do_list(s, true);
}

/* ---- STATUS ---- */

int
imap_status_items(struct imap_session *s, struct imap_args *a,
		  unsigned *items_r)
{
	const char *p;
	size_t len;
	unsigned items = 0;
	if (!imap_arg_lparen(a))
		goto bad;
	while (imap_arg_atom(a, &p, &len)) {
		if (imap_atom_is(p, len, "MESSAGES"))
			items |= ST_MESSAGES;
		else if (imap_atom_is(p, len, "RECENT"))
			items |= ST_RECENT;
		else if (imap_atom_is(p, len, "UIDNEXT"))
			items |= ST_UIDNEXT;
		else if (imap_atom_is(p, len, "UIDVALIDITY"))
			items |= ST_UIDVALIDITY;
		else if (imap_atom_is(p, len, "UNSEEN"))
			items |= ST_UNSEEN;
		else if (imap_atom_is(p, len, "HIGHESTMODSEQ"))
			items |= ST_HIGHESTMODSEQ;
		else
			goto bad;
	}
	if (!imap_arg_rparen(a) || items == 0)
		goto bad;
	*items_r = items;
	return 0;
bad:
	imap_bad(s, "Invalid STATUS items");
	return ERR_PROTO;
}

void
imap_status_write(struct imap_session *s, const struct store_mailbox *m,
		  unsigned items)
{
	struct buf b;
	bool sp = false;
	buf_init(&b, 8 * STORE_MAILBOX_NAME_MAX);
	buf_adds(&b, "* STATUS ");
	imap_put_mailbox(&b, m->name);
	buf_adds(&b, " (");
#define ITEM(flag, fmt, val) \
	if (items & flag) { \
		buf_addf(&b, "%s" fmt, sp ? " " : "", val); \
		sp = true; \
	}
	ITEM(ST_MESSAGES, "MESSAGES %u", m->n_messages);
	if (items & ST_RECENT) {
		struct store_rtxn *rt;
		uint32_t n = 0;
		if (store_read_begin(imap_store(), &rt) == 0) {
			n = recent_count(rt, m);
			store_read_end(&rt);
		}
		ITEM(ST_RECENT, "RECENT %u", n);
	}
	ITEM(ST_UIDNEXT, "UIDNEXT %u", m->uidnext);
	ITEM(ST_UIDVALIDITY, "UIDVALIDITY %u", m->uidvalidity);
	ITEM(ST_UNSEEN, "UNSEEN %u", m->n_unseen);
	ITEM(ST_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu",
	    (unsigned long long)m->highestmodseq);
#undef ITEM
	buf_addc(&b, ')');
	imap_write(s, "%s", buf_data(&b));
	buf_free(&b);
}

void
imap_cmd_status(struct imap_session *s)
{
	char name[STORE_MAILBOX_NAME_MAX];
	unsigned items;
	struct store_rtxn *rt;
	struct store_mailbox m;

	if (imap_mailbox_arg(s, name, sizeof(name)) < 0 ||
	    imap_status_items(s, &s->args, &items) < 0)
		return;
	if (!imap_arg_end(&s->args)) {
		imap_bad(s, "Syntax: STATUS mailbox (items)");
		return;
	}
	if (store_read_begin(imap_store(), &rt) < 0) {
		imap_no(s, "The store is not available");
		return;
	}
	int r = store_mailbox_get(rt, s->account_id, name, &m);
	store_read_end(&rt);
	if (r <= 0 || m.noselect) {
		imap_no(s, r < 0 ? "Cannot read the mailbox" : r == 0 ?
		    "[NONEXISTENT] Mailbox does not exist" :
		    "[CANNOT] Mailbox is \\Noselect");
		return;
	}
	imap_status_write(s, &m, items);
	imap_done(s, "OK", "Status completed");
}
