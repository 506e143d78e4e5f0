/* SPDX-License-Identifier: MIT */
/*
 * store_mailbox.c - mailboxes, their messages and local delivery.
 * A mailbox keeps its counters (messages, unseen, size, uidnext,
 * highestmodseq) in its own record, updated in the same transaction as
 * the messages, so STATUS-like questions never scan messages.
 * UIDVALIDITY comes from a store-wide counter that only grows, so a
 * mailbox deleted and created again never reuses one.
 */
#include "store_int.h"

#include <time.h>

#include "core/err.h"
#include "core/str.h"

#define MAILBOX_VERSION 1
#define MSG_VERSION 1

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
	m->subscribed = dec_u8(&d);
	m->n_messages = dec_u32(&d);
	m->n_unseen = dec_u32(&d);
	m->total_size = dec_u64(&d);
	return d.err;
}

int
store_mailbox_put(struct store_wtxn *w, const struct store_mailbox *m)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX], vb[64];
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
	enc_u8(&e, m->subscribed);
	enc_u32(&e, m->n_messages);
	enc_u32(&e, m->n_unseen);
	enc_u64(&e, m->total_size);
	if (e.err)
		return e.err;
	v.mv_size = e.len;
	v.mv_data = vb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_MAILBOX], &k, &v, 0));
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
	if (rc == 0)
		return ERR_EXISTS;
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
	m->subscribed = 1;
	if ((r = store_mailbox_put(w, m)) < 0)
		return r;

	unsigned char ib[4];
	be32_put(ib, m->id);
	MDB_val ik = { 4, ib };
	v.mv_size = k.mv_size;
	v.mv_data = kb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_MAILBOX_ID], &ik, &v,
	    MDB_NOOVERWRITE));
}

int
store_mailbox_get(struct store_rtxn *r, uint32_t account_id,
		  const char *name, struct store_mailbox *m)
{
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
	MDB_val k, v;
	if (mailbox_key(account_id, name, kb, &k) < 0)
		return 0;
	int rc = mdb_get(r->txn, r->st->dbi[DB_MAILBOX], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = store_mailbox_decode(&k, &v, m);
	return ret < 0 ? ret : 1;
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

static int
msg_decode(const MDB_val *k, const MDB_val *v, struct store_msg *m)
{
	struct dec d;
	if (k->mv_size != 8)
		return ERR_CORRUPT;
	memset(m, 0, sizeof(*m));
	m->mailbox_id = be32_get(k->mv_data);
	m->uid = be32_get((const unsigned char *)k->mv_data + 4);
	dec_init(&d, v);
	if (dec_u8(&d) != MSG_VERSION)
		return d.err ? d.err : ERR_VERSION;
	m->blob_id = dec_u64(&d);
	m->size = dec_u64(&d);
	m->internaldate = (int64_t)dec_u64(&d);
	m->modseq = dec_u64(&d);
	m->flags = dec_u32(&d);
	return d.err;
}

static int
msg_put(struct store_wtxn *w, const struct store_msg *m)
{
	unsigned char kb[8], vb[64];
	struct enc e;
	be32_put(kb, m->mailbox_id);
	be32_put(kb + 4, m->uid);
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, MSG_VERSION);
	enc_u64(&e, m->blob_id);
	enc_u64(&e, m->size);
	enc_u64(&e, (uint64_t)m->internaldate);
	enc_u64(&e, m->modseq);
	enc_u32(&e, m->flags);
	if (e.err)
		return e.err;
	MDB_val k = { 8, kb }, v = { e.len, vb };
	return store_err(mdb_put(w->txn, w->st->dbi[DB_MSG], &k, &v,
	    MDB_NOOVERWRITE));
}

int
store_msg_get(struct store_rtxn *r, uint32_t mailbox_id, uint32_t uid,
	      struct store_msg *m)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	be32_put(kb, mailbox_id);
	be32_put(kb + 4, uid);
	int rc = mdb_get(r->txn, r->st->dbi[DB_MSG], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = msg_decode(&k, &v, m);
	return ret < 0 ? ret : 1;
}

struct msg_walk_ctx {
	int (*cb)(const struct store_msg *, void *);
	void *arg;
};

static int
msg_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct msg_walk_ctx *w = arg;
	struct store_msg m;
	int r = msg_decode(k, v, &m);
	return r < 0 ? r : w->cb(&m, w->arg);
}

/* msg_walk - every message of a mailbox in UID order, on any txn. */
static int
msg_walk(MDB_txn *txn, MDB_dbi dbi, uint32_t mailbox_id,
	 int (*cb)(const struct store_msg *, void *), void *arg)
{
	unsigned char kb[4];
	struct msg_walk_ctx w = { cb, arg };
	be32_put(kb, mailbox_id);
	return store_walk_prefix(txn, dbi, kb, 4, msg_each, &w);
}

int
store_msg_iter(struct store_rtxn *r, uint32_t mailbox_id,
	       int (*cb)(const struct store_msg *, void *), void *arg)
{
	return msg_walk(r->txn, r->st->dbi[DB_MSG], mailbox_id, cb, arg);
}

struct purge_ctx {
	struct store_wtxn *w;
};

static int
purge_one(const struct store_msg *m, void *arg)
{
	struct purge_ctx *p = arg;
	return store_blob_unref(p->w, m->blob_id);
}

int
store_mailbox_purge(struct store_wtxn *w, const struct store_mailbox *m)
{
	struct purge_ctx p = { w };
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX], ib[4];
	MDB_cursor *c;
	MDB_val k, v;
	int r, rc;

	if ((r = msg_walk(w->txn, w->st->dbi[DB_MSG], m->id, purge_one,
	    &p)) < 0)
		return r;
	/* Then drop the message records themselves. */
	if ((rc = mdb_cursor_open(w->txn, w->st->dbi[DB_MSG], &c)) != 0)
		return store_err(rc);
	be32_put(ib, m->id);
	unsigned char start[8];
	memcpy(start, ib, 4);
	be32_put(start + 4, 0);
	/* Look the prefix up again after each delete: the cursor position
	 * after deleting the last record of the table is not a record. */
	for (;;) {
		k.mv_size = 8;
		k.mv_data = start;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size != 8 || be32_get(k.mv_data) != m->id)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);

	if ((r = mailbox_key(m->account_id, m->name, kb, &k)) < 0)
		return r;
	if ((rc = mdb_del(w->txn, w->st->dbi[DB_MAILBOX], &k, NULL)) != 0)
		return store_err(rc);
	k.mv_size = 4;
	k.mv_data = ib;
	rc = mdb_del(w->txn, w->st->dbi[DB_MAILBOX_ID], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int
store_op_deliver(struct store_wtxn *w, void *arg)
{
	struct store_delivery *d = arg;
	unsigned char kb[4 + STORE_MAILBOX_NAME_MAX];
	int r;

	if (d->n_rcpt == 0 || d->n_rcpt > UINT32_MAX)
		return ERR_INVAL;
	if ((r = store_blob_put(w, d->sealed, d->sealed_len, d->size,
	    (uint32_t)d->n_rcpt, &d->blob_id_r)) < 0)
		return r;
	for (size_t i = 0; i < d->n_rcpt; i++) {
		struct store_mailbox mb;
		MDB_val k, v;
		mailbox_key(d->account_ids[i], "INBOX", kb, &k);
		int rc = mdb_get(w->txn, w->st->dbi[DB_MAILBOX], &k, &v);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? ERR_NOTFOUND :
			    store_err(rc);
		if ((r = store_mailbox_decode(&k, &v, &mb)) < 0)
			return r;
		if (mb.uidnext == UINT32_MAX)
			return ERR_LIMIT;
		struct store_msg m = {
			.mailbox_id = mb.id,
			.uid = mb.uidnext,
			.blob_id = d->blob_id_r,
			.size = d->size,
			.internaldate = d->internaldate,
			.modseq = mb.highestmodseq + 1,
			.flags = 0,
		};
		if ((r = msg_put(w, &m)) < 0)
			return r;
		mb.uidnext++;
		mb.highestmodseq = m.modseq;
		mb.n_messages++;
		mb.n_unseen++;
		mb.total_size += d->size;
		if ((r = store_mailbox_put(w, &mb)) < 0)
			return r;
		d->uids_r[i] = m.uid;
		d->mailbox_ids_r[i] = mb.id;
	}
	return 0;
}
