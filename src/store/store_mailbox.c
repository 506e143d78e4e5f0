/* SPDX-License-Identifier: MIT */
/*
 * store_mailbox.c - mailboxes: records, creation, deletion, renaming,
 * subscriptions and \Recent. A mailbox keeps its counters (messages,
 * unseen, size, uidnext, highestmodseq) in its own record, updated in the
 * same transaction as its messages, so STATUS never scans messages.
 * UIDVALIDITY comes from a store-wide counter that only grows, so a name
 * deleted and created again never reuses one.
 */
#include "store_int.h"

#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "core/str.h"

#define MAILBOX_VERSION 1

const char *
store_special_use_name(uint8_t special)
{
	switch (special) {
	case STORE_SPECIAL_SENT: return "\\Sent";
	case STORE_SPECIAL_DRAFTS: return "\\Drafts";
	case STORE_SPECIAL_TRASH: return "\\Trash";
	case STORE_SPECIAL_JUNK: return "\\Junk";
	case STORE_SPECIAL_ARCHIVE: return "\\Archive";
	default: return "";
	}
}

static int
mailbox_key(uint32_t account_id, const char *name, unsigned char *kb,
	    MDB_val *k)
{
	size_t n = strlen(name);
	if (n == 0 || n >= STORE_MAILBOX_NAME_MAX)
		return ERR_INVAL;
	be32_put(kb, account_id);
	memcpy(kb + 4, name, n);
	k->mv_size = 4 + n;
	k->mv_data = kb;
	return 0;
}

int
store_mailbox_decode(const MDB_val *k, const MDB_val *v,
		     struct store_mailbox *m)
{
	struct dec d;
	if (k->mv_size <= 4 || k->mv_size - 4 >= STORE_MAILBOX_NAME_MAX)
		return ERR_CORRUPT;
	memset(m, 0, sizeof(*m));
	m->account_id = be32_get(k->mv_data);
	memcpy(m->name, (const char *)k->mv_data + 4, k->mv_size - 4);
	m->name[k->mv_size - 4] = '\0';
	dec_init(&d, v);
	if (dec_u8(&d) != MAILBOX_VERSION)
		return d.err ? d.err : ERR_VERSION;
	m->id = dec_u32(&d);
	m->uidvalidity = dec_u32(&d);
	m->uidnext = dec_u32(&d);
	m->highestmodseq = dec_u64(&d);
	m->special_use = dec_u8(&d);
	m->noselect = dec_u8(&d) != 0;
	m->n_messages = dec_u32(&d);
	m->n_unseen = dec_u32(&d);
	m->total_size = dec_u64(&d);
	m->first_recent_uid = dec_u32(&d);
	dec_str(&d, m->keywords, sizeof(m->keywords));
	return d.err;
}

int
store_mailbox_put(struct store_wtxn *w, const struct store_mailbox *m)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
	unsigned char vb[64 + STORE_MBOX_KEYWORDS_LEN];
	struct enc e;
	MDB_val k, v;
	int r = mailbox_key(m->account_id, m->name, kb, &k);
	if (r < 0)
		return r;
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, MAILBOX_VERSION);
	enc_u32(&e, m->id);
	enc_u32(&e, m->uidvalidity);
	enc_u32(&e, m->uidnext);
	enc_u64(&e, m->highestmodseq);
	enc_u8(&e, m->special_use);
	enc_u8(&e, m->noselect ? 1 : 0);
	enc_u32(&e, m->n_messages);
	enc_u32(&e, m->n_unseen);
	enc_u64(&e, m->total_size);
	enc_u32(&e, m->first_recent_uid);
	enc_str(&e, m->keywords);
	if (e.err)
		return e.err;
	v.mv_size = e.len;
	v.mv_data = vb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_MAILBOX], &k, &v, 0));
}

/* id_put - the reverse index: mailbox id -> account id + name. */
static int
id_put(struct store_wtxn *w, uint32_t id, uint32_t account_id,
       const char *name)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX], ib[4];
	MDB_val k, v, ik = { 4, ib };
	int r = mailbox_key(account_id, name, kb, &k);
	if (r < 0)
		return r;
	be32_put(ib, id);
	v = k;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_MAILBOX_ID], &ik, &v,
	    0));
}

int
store_mailbox_create(struct store_wtxn *w, uint32_t account_id,
		     const char *name, uint8_t special,
		     struct store_mailbox *m)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
	MDB_val k, v;
	uint64_t id, uidv;
	int r;

	if ((r = mailbox_key(account_id, name, kb, &k)) < 0)
		return r;
	int rc = mdb_get(w->txn, w->st->dbi[DB_MAILBOX], &k, &v);
	if (rc == 0) {
		/* A \Noselect name becomes a mailbox again, with a new
		 * UIDVALIDITY: clients must not trust what they cached. */
		if ((r = store_mailbox_decode(&k, &v, m)) < 0)
			return r;
		if (!m->noselect)
			return ERR_EXISTS;
		if ((r = store_meta_next(w, "next_uidvalidity",
		    (uint64_t)time(NULL), &uidv)) < 0)
			return r;
		m->noselect = false;
		m->uidvalidity = (uint32_t)(uidv & 0xffffffffu);
		if (m->uidvalidity == 0)
			m->uidvalidity = 1;
		m->special_use = special;
		return store_mailbox_put(w, m);
	}
	if (rc != MDB_NOTFOUND)
		return store_err(rc);
	if ((r = store_meta_next(w, "next_mailbox", 1, &id)) < 0 ||
	    (r = store_meta_next(w, "next_uidvalidity",
	    (uint64_t)time(NULL), &uidv)) < 0)
		return r;
	if (id > UINT32_MAX)
		return ERR_LIMIT;
	memset(m, 0, sizeof(*m));
	m->id = (uint32_t)id;
	m->account_id = account_id;
	str_copy(m->name, sizeof(m->name), name);
	m->uidvalidity = (uint32_t)(uidv & 0xffffffffu);
	if (m->uidvalidity == 0)
		m->uidvalidity = 1;
	m->uidnext = 1;
	m->highestmodseq = 1;
	m->special_use = special;
	m->first_recent_uid = 1;
	if ((r = store_mailbox_put(w, m)) < 0)
		return r;
	return id_put(w, m->id, account_id, name);
}

/* mailbox_get_txn - by account and name, on any transaction. */
static int
mailbox_get_txn(MDB_txn *txn, struct store *st, uint32_t account_id,
		const char *name, struct store_mailbox *m)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
	MDB_val k, v;
	if (mailbox_key(account_id, name, kb, &k) < 0)
		return 0;
	int rc = mdb_get(txn, st->dbi[DB_MAILBOX], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = store_mailbox_decode(&k, &v, m);
	return ret < 0 ? ret : 1;
}

/* mailbox_by_id_txn - by id, on any transaction. */
static int
mailbox_by_id_txn(MDB_txn *txn, struct store *st, uint32_t id,
		  struct store_mailbox *m)
{
	unsigned char ib[4];
	MDB_val ik = { 4, ib }, k, v;
	be32_put(ib, id);
	int rc = mdb_get(txn, st->dbi[DB_MAILBOX_ID], &ik, &k);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	rc = mdb_get(txn, st->dbi[DB_MAILBOX], &k, &v);
	if (rc == MDB_NOTFOUND)
		return ERR_CORRUPT;
	if (rc != 0)
		return store_err(rc);
	int ret = store_mailbox_decode(&k, &v, m);
	return ret < 0 ? ret : 1;
}

int
store_mailbox_get(struct store_rtxn *r, uint32_t account_id,
		  const char *name, struct store_mailbox *m)
{
	return mailbox_get_txn(r->txn, r->st, account_id, name, m);
}

int
store_mailbox_get_by_id(struct store_rtxn *r, uint32_t mailbox_id,
			struct store_mailbox *m)
{
	return mailbox_by_id_txn(r->txn, r->st, mailbox_id, m);
}

int
store_mailbox_load(struct store_wtxn *w, uint32_t mailbox_id,
		   struct store_mailbox *m)
{
	int r = mailbox_by_id_txn(w->txn, w->st, mailbox_id, m);
	return r == 0 ? ERR_NOTFOUND : r < 0 ? r : 0;
}

struct mailbox_walk {
	int (*cb)(const struct store_mailbox *, void *);
	void *arg;
};

static int
mailbox_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct mailbox_walk *w = arg;
	struct store_mailbox m;
	int r = store_mailbox_decode(k, v, &m);
	return r < 0 ? r : w->cb(&m, w->arg);
}

int
store_mailbox_iter(struct store_rtxn *r, uint32_t account_id,
		   int (*cb)(const struct store_mailbox *, void *), void *arg)
{
	unsigned char kb[4];
	struct mailbox_walk w = { cb, arg };
	be32_put(kb, account_id);
	return store_walk_prefix(r->txn, r->st->dbi[DB_MAILBOX], kb, 4,
	    mailbox_each, &w);
}

/* ---- keywords ---- */

int
store_mailbox_keywords_add(struct store_mailbox *mb, const char *kw)
{
	const char *p = kw;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > 0 && !store_kw_has(mb->keywords, p, n)) {
			size_t have = strlen(mb->keywords);
			if (have + n + 2 > sizeof(mb->keywords))
				return ERR_LIMIT;
			if (have > 0)
				mb->keywords[have++] = ' ';
			memcpy(mb->keywords + have, p, n);
			mb->keywords[have + n] = '\0';
		}
		p += n;
	}
	return 0;
}

/* ---- subscriptions ---- */

int
store_subscribe_set(struct store_wtxn *w, uint32_t account_id,
		    const char *name, bool on)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
	MDB_val k, v = { 0, (void *)"" };
	int r = mailbox_key(account_id, name, kb, &k);
	if (r < 0)
		return r;
	if (on)
		return store_err(mdb_put(w->txn,
		    w->st->dbi[DB_SUBSCRIPTION], &k, &v, 0));
	int rc = mdb_del(w->txn, w->st->dbi[DB_SUBSCRIPTION], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int
store_op_subscribe(struct store_wtxn *w, void *arg)
{
	struct store_mailbox_op *op = arg;
	return store_subscribe_set(w, op->account_id, op->name, op->subscribe);
}

struct sub_walk {
	int (*cb)(const char *, void *);
	void *arg;
};

static int
sub_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct sub_walk *w = arg;
	char name[STORE_MAILBOX_NAME_MAX];
	if (k->mv_size <= 4 || k->mv_size - 4 >= sizeof(name))
		return ERR_CORRUPT;
	memcpy(name, (const char *)k->mv_data + 4, k->mv_size - 4);
	name[k->mv_size - 4] = '\0';
	return w->cb(name, w->arg);
}

int
store_subscription_iter(struct store_rtxn *r, uint32_t account_id,
			int (*cb)(const char *name, void *), void *arg)
{
	unsigned char kb[4];
	struct sub_walk w = { cb, arg };
	be32_put(kb, account_id);
	return store_walk_prefix(r->txn, r->st->dbi[DB_SUBSCRIPTION], kb, 4,
	    sub_each, &w);
}

/* ---- create, delete, rename ---- */

/* make_parents - every missing superior of name ("a" and "a/b" for
 * "a/b/c"), as plain mailboxes (RFC 3501 6.3.3). */
static int
make_parents(struct store_wtxn *w, uint32_t account_id, const char *name)
{
	char sup[STORE_MAILBOX_NAME_MAX];
	for (const char *p = strchr(name, '/'); p != NULL;
	     p = strchr(p + 1, '/')) {
		struct store_mailbox m;
		if (str_copyn(sup, sizeof(sup), name, (size_t)(p - name)) < 0)
			return ERR_LIMIT;
		int r = mailbox_get_txn(w->txn, w->st, account_id, sup, &m);
		if (r < 0)
			return r;
		if (r == 0 && (r = store_mailbox_create(w, account_id, sup,
		    STORE_SPECIAL_NONE, &m)) < 0)
			return r;
	}
	return 0;
}

int
store_op_mailbox_create(struct store_wtxn *w, void *arg)
{
	struct store_mailbox_op *op = arg;
	struct store_mailbox m;
	int r;
	if (op->parents && (r = make_parents(w, op->account_id,
	    op->name)) < 0)
		return r;
	r = store_mailbox_create(w, op->account_id, op->name, op->special,
	    &m);
	if (r < 0)
		return r;
	op->mailbox_id_r = m.id;
	op->uidvalidity_r = m.uidvalidity;
	return 0;
}

int
store_mailbox_purge(struct store_wtxn *w, const struct store_mailbox *m)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX], ib[4];
	MDB_val k;
	int r, rc;

	if ((r = store_msg_purge_all(w, m->id)) < 0)
		return r;
	if ((r = mailbox_key(m->account_id, m->name, kb, &k)) < 0)
		return r;
	if ((rc = mdb_del(w->txn, w->st->dbi[DB_MAILBOX], &k, NULL)) != 0)
		return store_err(rc);
	be32_put(ib, m->id);
	k.mv_size = 4;
	k.mv_data = ib;
	rc = mdb_del(w->txn, w->st->dbi[DB_MAILBOX_ID], &k, NULL);
	store_wtxn_touch(w, m->id);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

struct child_find {
	const char *name;
	size_t len;
	bool found;
};

static int
child_find(const struct store_mailbox *m, void *arg)
{
	struct child_find *c = arg;
	if (strncmp(m->name, c->name, c->len) == 0 && m->name[c->len] == '/') {
		c->found = true;
		return 1;
	}
	return 0;
}

int
store_op_mailbox_delete(struct store_wtxn *w, void *arg)
{
	struct store_mailbox_op *op = arg;
	struct store_mailbox m;
	struct store_rtxn rt = { w->st, w->txn, NULL };
	struct child_find cf = { op->name, strlen(op->name), false };
	int r = mailbox_get_txn(w->txn, w->st, op->account_id, op->name, &m);
	if (r == 0)
		return ERR_NOTFOUND;
	if (r < 0)
		return r;
	if ((r = store_mailbox_iter(&rt, op->account_id, child_find,
	    &cf)) < 0)
		return r;
	if (!cf.found)
		return store_mailbox_purge(w, &m);
	if (m.noselect)
		return ERR_PERM;
	/* Inferiors stay: the name remains, empty and \Noselect. */
	if ((r = store_msg_purge_all(w, m.id)) < 0)
		return r;
	m.noselect = true;
	m.n_messages = m.n_unseen = 0;
	m.total_size = 0;
	m.keywords[0] = '\0';
	store_wtxn_touch(w, m.id);
	return store_mailbox_put(w, &m);
}

struct rename_ctx {
	const char *old;
	size_t old_len;
	size_t n, cap;
	struct store_mailbox *list;
	int err;
};

/* rename_collect - the mailbox itself and every name under "old/". */
static int
rename_collect(const struct store_mailbox *m, void *arg)
{
	struct rename_ctx *c = arg;
	if (strcmp(m->name, c->old) != 0 &&
	    !(strncmp(m->name, c->old, c->old_len) == 0 &&
	    m->name[c->old_len] == '/'))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct store_mailbox *l = realloc(c->list, cap * sizeof(*l));
		if (l == NULL)
			return ERR_NOMEM;
		c->list = l;
		c->cap = cap;
	}
	c->list[c->n++] = *m;
	return 0;
}

struct uid_list {
	uint32_t *uids;
	size_t n, cap;
};

static int
uid_collect(const struct store_msg *m, void *arg)
{
	struct uid_list *l = arg;
	if (l->n < l->cap)
		l->uids[l->n++] = m->uid;
	return 0;
}

/* rename_inbox - RFC 3501 6.3.5: INBOX's messages move to a new mailbox;
 * INBOX stays, empty (its inferiors, if any, do not move). */
static int
rename_inbox(struct store_wtxn *w, struct store_mailbox_op *op)
{
	struct store_mailbox inbox, dst;
	int r = mailbox_get_txn(w->txn, w->st, op->account_id, "INBOX",
	    &inbox);
	if (r <= 0)
		return r == 0 ? ERR_NOTFOUND : r;
	if ((r = store_mailbox_create(w, op->account_id, op->new_name,
	    STORE_SPECIAL_NONE, &dst)) < 0)
		return r;
	size_t n = inbox.n_messages;
	uint32_t *uids = n ? calloc(n, sizeof(*uids)) : NULL;
	uint32_t *out = n ? calloc(n, sizeof(*out)) : NULL;
	if (n && (uids == NULL || out == NULL)) {
		free(uids);
		free(out);
		return ERR_NOMEM;
	}
	struct store_rtxn rt = { w->st, w->txn, NULL };
	struct uid_list ul = { uids, 0, n };
	r = store_msg_iter(&rt, inbox.id, uid_collect, &ul);
	if (r == 0 && ul.n > 0) {
		struct store_copy_op cp = { inbox.id, dst.id, ul.n, uids, true,
			out, 0 };
		r = store_op_copy(w, &cp);
	}
	free(uids);
	free(out);
	op->mailbox_id_r = dst.id;
	return r;
}

int
store_op_mailbox_rename(struct store_wtxn *w, void *arg)
{
	struct store_mailbox_op *op = arg;
	struct store_rtxn rt = { w->st, w->txn, NULL };
	struct rename_ctx c = { op->name, strlen(op->name), 0, 0, NULL, 0 };
	int r;

	if (op->parents && (r = make_parents(w, op->account_id,
	    op->new_name)) < 0)
		return r;
	if (strcmp(op->name, "INBOX") == 0)
		return rename_inbox(w, op);
	if ((r = store_mailbox_iter(&rt, op->account_id, rename_collect,
	    &c)) < 0)
		goto out;
	if (c.n == 0) {
		r = ERR_NOTFOUND;
		goto out;
	}
	/* Check every target first: a rename is all or nothing. */
	for (size_t i = 0; i < c.n; i++) {
		char target[STORE_MAILBOX_NAME_MAX];
		struct store_mailbox x;
		if (str_fmt(target, sizeof(target), "%s%s", op->new_name,
		    c.list[i].name + c.old_len) < 0) {
			r = ERR_LIMIT;
			goto out;
		}
		if ((r = mailbox_get_txn(w->txn, w->st, op->account_id, target,
		    &x)) != 0) {
			r = r > 0 ? ERR_EXISTS : r;
			goto out;
		}
	}
	for (size_t i = 0; i < c.n; i++) {
		unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
		MDB_val k;
		struct store_mailbox m = c.list[i];
		if ((r = mailbox_key(m.account_id, m.name, kb, &k)) < 0)
			goto out;
		if ((r = store_err(mdb_del(w->txn, w->st->dbi[DB_MAILBOX], &k,
		    NULL))) < 0)
			goto out;
		char target[STORE_MAILBOX_NAME_MAX];
		str_fmt(target, sizeof(target), "%s%s", op->new_name,
		    m.name + c.old_len);
		str_copy(m.name, sizeof(m.name), target);
		if ((r = store_mailbox_put(w, &m)) < 0 ||
		    (r = id_put(w, m.id, m.account_id, m.name)) < 0)
			goto out;
		store_wtxn_touch(w, m.id);
	}
	r = 0;
out:
	free(c.list);
	return r;
}

int
store_op_claim_recent(struct store_wtxn *w, void *arg)
{
	struct store_recent_op *op = arg;
	struct store_mailbox mb;
	int r = store_mailbox_load(w, op->mailbox_id, &mb);
	if (r < 0)
		return r;
	op->first_r = mb.first_recent_uid;
	op->uidnext_r = mb.uidnext;
	uint32_t to = op->upto != 0 && op->upto < mb.uidnext ? op->upto + 1 :
	    mb.uidnext;
	if (to <= mb.first_recent_uid)
		return 0;
	mb.first_recent_uid = to;
	return store_mailbox_put(w, &mb);
}
