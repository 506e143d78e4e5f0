/* SPDX-License-Identifier: MIT */
/*
 * store_msg.c - messages in mailboxes: delivery, APPEND, flags and
 * keywords, COPY/MOVE, EXPUNGE, and the two indexes CONDSTORE/QRESYNC and
 * change notification read (MODSEQ -> UID for live messages, MODSEQ -> UID
 * tombstones for expunged ones). Every change gives the message the
 * mailbox's next MODSEQ; the mailbox record, with its counters, is written
 * once per operation.
 */
#include "store_int.h"

#include <stdlib.h>
#include <strings.h>

#include "core/err.h"
#include "core/str.h"

#define MSG_VERSION 1

/* ---- keywords: space-separated atoms, compared without case ---- */

bool
store_kw_has(const char *list, const char *word, size_t len)
{
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > 0 && n == len && strncasecmp(p, word, len) == 0)
			return true;
		p += n;
	}
	return false;
}

/* kw_apply - dst = dst (op) src, for ADD, REMOVE or SET. */
static int
kw_apply(char *dst, size_t size, const char *src, enum store_flags_mode mode)
{
	char out[STORE_KEYWORDS_LEN];
	size_t o = 0;
	const char *base = mode == STORE_FLAGS_SET ? "" : dst;
	const char *lists[2] = { base, mode == STORE_FLAGS_REMOVE ? "" : src };

	out[0] = '\0';
	for (int l = 0; l < 2; l++) {
		const char *p = lists[l];
		while (*p != '\0') {
			while (*p == ' ')
				p++;
			const char *e = strchr(p, ' ');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (n == 0)
				break;
			bool drop = mode == STORE_FLAGS_REMOVE &&
			    store_kw_has(src, p, n);
			if (!drop && !store_kw_has(out, p, n)) {
				if (o + n + 2 > sizeof(out))
					return ERR_LIMIT;
				if (o > 0)
					out[o++] = ' ';
				memcpy(out + o, p, n);
				o += n;
				out[o] = '\0';
			}
			p += n;
		}
	}
	return str_copy(dst, size, out);
}

/* ---- records and indexes ---- */

int
store_msg_decode(const MDB_val *k, const MDB_val *v, struct store_msg *m)
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
	dec_str(&d, m->keywords, sizeof(m->keywords));
	return d.err;
}

static void
modseq_key(unsigned char *kb, uint32_t mailbox_id, uint64_t modseq)
{
	be32_put(kb, mailbox_id);
	be64_put(kb + 4, modseq);
}

/* msg_write - the record and its MODSEQ index entry (old_modseq: the
 * entry to replace, 0 for a new message). */
static int
msg_write(struct store_wtxn *w, const struct store_msg *m, uint64_t old_modseq,
	  unsigned flags)
{
	unsigned char kb[8], mk[12], ub[4];
	unsigned char vb[64 + STORE_KEYWORDS_LEN];
	struct enc e;
	int rc;

	be32_put(kb, m->mailbox_id);
	be32_put(kb + 4, m->uid);
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, MSG_VERSION);
	enc_u64(&e, m->blob_id);
	enc_u64(&e, m->size);
	enc_u64(&e, (uint64_t)m->internaldate);
	enc_u64(&e, m->modseq);
	enc_u32(&e, m->flags);
	enc_str(&e, m->keywords);
	if (e.err)
		return e.err;
	MDB_val k = { 8, kb }, v = { e.len, vb };
	if ((rc = mdb_put(w->txn, w->st->dbi[DB_MSG], &k, &v, flags)) != 0)
		return store_err(rc);
	if (old_modseq != 0) {
		modseq_key(mk, m->mailbox_id, old_modseq);
		MDB_val ok = { 12, mk };
		rc = mdb_del(w->txn, w->st->dbi[DB_MSG_MODSEQ], &ok, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_err(rc);
	}
	modseq_key(mk, m->mailbox_id, m->modseq);
	be32_put(ub, m->uid);
	MDB_val mkv = { 12, mk }, uv = { 4, ub };
	return store_err(mdb_put(w->txn, w->st->dbi[DB_MSG_MODSEQ], &mkv, &uv,
	    0));
}

static int
msg_get_txn(MDB_txn *txn, struct store *st, uint32_t mailbox_id, uint32_t uid,
	    struct store_msg *m)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	be32_put(kb, mailbox_id);
	be32_put(kb + 4, uid);
	int rc = mdb_get(txn, st->dbi[DB_MSG], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int r = store_msg_decode(&k, &v, m);
	return r < 0 ? r : 1;
}

int
store_msg_add(struct store_wtxn *w, struct store_mailbox *mb,
	      struct store_msg *m)
{
	if (mb->uidnext == UINT32_MAX)
		return ERR_LIMIT;
	m->mailbox_id = mb->id;
	m->uid = mb->uidnext++;
	m->modseq = ++mb->highestmodseq;
	int r = msg_write(w, m, 0, MDB_NOOVERWRITE);
	if (r < 0)
		return r;
	mb->n_messages++;
	if (!(m->flags & STORE_FLAG_SEEN))
		mb->n_unseen++;
	mb->total_size += m->size;
	if (m->keywords[0] != '\0' &&
	    (r = store_mailbox_keywords_add(mb, m->keywords)) < 0)
		return r;
	store_wtxn_touch(w, mb->id);
	return 0;
}

/* msg_remove - expunge one message: record, index, tombstone, body. */
static int
msg_remove(struct store_wtxn *w, struct store_mailbox *mb,
	   const struct store_msg *m)
{
	unsigned char kb[8], mk[12], ub[4];
	int rc;

	be32_put(kb, m->mailbox_id);
	be32_put(kb + 4, m->uid);
	MDB_val k = { 8, kb };
	if ((rc = mdb_del(w->txn, w->st->dbi[DB_MSG], &k, NULL)) != 0)
		return store_err(rc);
	modseq_key(mk, m->mailbox_id, m->modseq);
	MDB_val ok = { 12, mk };
	rc = mdb_del(w->txn, w->st->dbi[DB_MSG_MODSEQ], &ok, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);
	modseq_key(mk, m->mailbox_id, ++mb->highestmodseq);
	be32_put(ub, m->uid);
	MDB_val tk = { 12, mk }, tv = { 4, ub };
	if ((rc = mdb_put(w->txn, w->st->dbi[DB_EXPUNGED], &tk, &tv, 0)) != 0)
		return store_err(rc);
	mb->n_messages--;
	if (!(m->flags & STORE_FLAG_SEEN))
		mb->n_unseen--;
	mb->total_size -= m->size;
	store_wtxn_touch(w, mb->id);
	return store_blob_unref(w, m->blob_id);
}

/* ---- reads ---- */

int
store_msg_get(struct store_rtxn *r, uint32_t mailbox_id, uint32_t uid,
	      struct store_msg *m)
{
	return msg_get_txn(r->txn, r->st, mailbox_id, uid, m);
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
	int r = store_msg_decode(k, v, &m);
	return r < 0 ? r : w->cb(&m, w->arg);
}

int
store_msg_iter_from(struct store_rtxn *r, uint32_t mailbox_id,
		    uint32_t from_uid,
		    int (*cb)(const struct store_msg *, void *), void *arg)
{
	MDB_cursor *c;
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	struct msg_walk_ctx w = { cb, arg };
	int ret = 0;
	int rc = mdb_cursor_open(r->txn, r->st->dbi[DB_MSG], &c);
	if (rc != 0)
		return store_err(rc);
	be32_put(kb, mailbox_id);
	be32_put(kb + 4, from_uid);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || be32_get(k.mv_data) != mailbox_id)
			break;
		if ((ret = msg_each(&k, &v, &w)) != 0)
			break;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = store_err(rc);
	mdb_cursor_close(c);
	return ret;
}

int
store_msg_iter(struct store_rtxn *r, uint32_t mailbox_id,
	       int (*cb)(const struct store_msg *, void *), void *arg)
{
	return store_msg_iter_from(r, mailbox_id, 0, cb, arg);
}

/* modseq_walk - entries of a (mailbox, modseq) -> uid index after since. */
static int
modseq_walk(MDB_txn *txn, MDB_dbi dbi, uint32_t mailbox_id, uint64_t since,
	    int (*cb)(uint32_t, uint64_t, void *), void *arg)
{
	MDB_cursor *c;
	unsigned char kb[12];
	MDB_val k = { 12, kb }, v;
	int ret = 0;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return store_err(rc);
	modseq_key(kb, mailbox_id, since == UINT64_MAX ? since : since + 1);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 12 || be32_get(k.mv_data) != mailbox_id)
			break;
		if (v.mv_size != 4) {
			ret = ERR_CORRUPT;
			break;
		}
		uint64_t ms = be64_get((const unsigned char *)k.mv_data + 4);
		if ((ret = cb(be32_get(v.mv_data), ms, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = store_err(rc);
	mdb_cursor_close(c);
	return ret;
}

int
store_msg_changed_since(struct store_rtxn *r, uint32_t mailbox_id,
			uint64_t modseq,
			int (*cb)(uint32_t uid, uint64_t modseq, void *),
			void *arg)
{
	return modseq_walk(r->txn, r->st->dbi[DB_MSG_MODSEQ], mailbox_id,
	    modseq, cb, arg);
}

int
store_expunged_since(struct store_rtxn *r, uint32_t mailbox_id,
		     uint64_t modseq,
		     int (*cb)(uint32_t uid, uint64_t modseq, void *),
		     void *arg)
{
	return modseq_walk(r->txn, r->st->dbi[DB_EXPUNGED], mailbox_id,
	    modseq, cb, arg);
}

/* ---- purge (mailbox deletion) ---- */

int
store_del_prefix(struct store_wtxn *w, MDB_dbi dbi, uint32_t id,
	   int (*each)(struct store_wtxn *, const MDB_val *, const MDB_val *))
{
	MDB_cursor *c;
	unsigned char kb[4];
	MDB_val k, v;
	int rc = mdb_cursor_open(w->txn, dbi, &c);
	int r = 0;
	if (rc != 0)
		return store_err(rc);
	be32_put(kb, id);
	/* Look the prefix up again after each delete: the cursor position
	 * after deleting the last record of the table is not a record. */
	for (;;) {
		k.mv_size = 4;
		k.mv_data = kb;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size < 4 || memcmp(k.mv_data, kb, 4) != 0)
			break;
		if (each != NULL && (r = each(w, &k, &v)) < 0)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (r < 0)
		return r;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static int
purge_body(struct store_wtxn *w, const MDB_val *k, const MDB_val *v)
{
	struct store_msg m;
	int r = store_msg_decode(k, v, &m);
	return r < 0 ? r : store_blob_unref(w, m.blob_id);
}

int
store_msg_purge_all(struct store_wtxn *w, uint32_t mailbox_id)
{
	int r;
	if ((r = store_del_prefix(w, w->st->dbi[DB_MSG], mailbox_id,
	    purge_body)) < 0 ||
	    (r = store_del_prefix(w, w->st->dbi[DB_MSG_MODSEQ], mailbox_id,
	    NULL)) < 0 ||
	    (r = store_del_prefix(w, w->st->dbi[DB_EXPUNGED], mailbox_id,
	    NULL)) < 0)
		return r;
	return 0;
}

/* ---- operations ---- */

int
store_op_deliver(struct store_wtxn *w, void *arg)
{
	struct store_delivery *d = arg;
	unsigned char kb[4 + 5];
	int r;

	if ((d->n_rcpt == 0 && d->queue == NULL) || d->n_rcpt >= UINT32_MAX)
		return ERR_INVAL;
	/* one reference per mailbox, and one for the queue record */
	uint32_t refs = (uint32_t)d->n_rcpt + (d->queue != NULL ? 1 : 0);
	if ((r = store_blob_put(w, d->sealed, d->sealed_len, d->size, refs,
	    d->info, d->info_len, &d->blob_id_r)) < 0)
		return r;
	for (size_t i = 0; i < d->n_rcpt; i++) {
		struct store_mailbox mb;
		MDB_val k, v;
		be32_put(kb, d->account_ids[i]);
		memcpy(kb + 4, "INBOX", 5);
		k.mv_size = sizeof(kb);
		k.mv_data = kb;
		int rc = mdb_get(w->txn, w->st->dbi[DB_MAILBOX], &k, &v);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? ERR_NOTFOUND :
			    store_err(rc);
		if ((r = store_mailbox_decode(&k, &v, &mb)) < 0)
			return r;
		struct store_msg m;
		memset(&m, 0, sizeof(m));
		m.blob_id = d->blob_id_r;
		m.size = d->size;
		m.internaldate = d->internaldate;
		if ((r = store_msg_add(w, &mb, &m)) < 0 ||
		    (r = store_mailbox_put(w, &mb)) < 0)
			return r;
		d->uids_r[i] = m.uid;
		d->mailbox_ids_r[i] = mb.id;
	}
	if (d->queue != NULL) {
		struct store_queue *q = d->queue;
		q->blob_id = d->blob_id_r;
		q->size = d->size;
		q->arrival = d->internaldate;
		if (q->next_attempt == 0)
			q->next_attempt = d->internaldate;
		if ((r = store_queue_put_new(w, q)) < 0)
			return r;
	}
	return 0;
}

int
store_op_append(struct store_wtxn *w, void *arg)
{
	struct store_append *a = arg;
	struct store_mailbox mb;
	struct store_msg m;
	int r;

	if ((r = store_mailbox_load(w, a->mailbox_id, &mb)) < 0)
		return r;
	memset(&m, 0, sizeof(m));
	if ((r = store_blob_put(w, a->sealed, a->sealed_len, a->size, 1,
	    a->info, a->info_len, &m.blob_id)) < 0)
		return r;
	m.size = a->size;
	m.internaldate = a->internaldate;
	m.flags = a->flags & STORE_FLAGS_ALL;
	if (a->keywords != NULL &&
	    (r = kw_apply(m.keywords, sizeof(m.keywords), a->keywords,
	    STORE_FLAGS_SET)) < 0)
		return r;
	if ((r = store_msg_add(w, &mb, &m)) < 0 ||
	    (r = store_mailbox_put(w, &mb)) < 0)
		return r;
	a->uid_r = m.uid;
	a->uidvalidity_r = mb.uidvalidity;
	a->modseq_r = m.modseq;
	return 0;
}

int
store_op_flags(struct store_wtxn *w, void *arg)
{
	struct store_flags_op *op = arg;
	struct store_mailbox mb;
	int r;

	if ((r = store_mailbox_load(w, op->mailbox_id, &mb)) < 0)
		return r;
	if (op->keywords != NULL && op->mode != STORE_FLAGS_REMOVE &&
	    (r = store_mailbox_keywords_add(&mb, op->keywords)) < 0)
		return r;
	for (size_t i = 0; i < op->n; i++) {
		struct store_msg m;
		op->new_modseq_r[i] = 0;
		if (op->modified_r != NULL)
			op->modified_r[i] = false;
		r = msg_get_txn(w->txn, w->st, op->mailbox_id, op->uids[i],
		    &m);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (op->unchangedsince > 0 && m.modseq > op->unchangedsince) {
			if (op->modified_r != NULL)
				op->modified_r[i] = true;
			continue;
		}
		uint32_t nf = m.flags;
		switch (op->mode) {
		case STORE_FLAGS_SET: nf = op->flags; break;
		case STORE_FLAGS_ADD: nf |= op->flags; break;
		case STORE_FLAGS_REMOVE: nf &= ~op->flags; break;
		}
		nf &= STORE_FLAGS_ALL;
		char kw[STORE_KEYWORDS_LEN];
		str_copy(kw, sizeof(kw), m.keywords);
		if (op->keywords != NULL || op->mode == STORE_FLAGS_SET) {
			r = kw_apply(kw, sizeof(kw), op->keywords ?
			    op->keywords : "", op->mode);
			if (r < 0)
				return r;
		}
		op->new_flags_r[i] = nf;
		if (op->new_keywords_r != NULL)
			str_copy(op->new_keywords_r[i], STORE_KEYWORDS_LEN, kw);
		if (nf == m.flags && strcmp(kw, m.keywords) == 0) {
			/* RFC 7162 3.1.3: an unchanged message keeps its
			 * MODSEQ, which the caller still reports. */
			op->new_modseq_r[i] = m.modseq;
			continue;
		}
		if ((m.flags ^ nf) & STORE_FLAG_SEEN) {
			if (nf & STORE_FLAG_SEEN)
				mb.n_unseen--;
			else
				mb.n_unseen++;
		}
		uint64_t old = m.modseq;
		m.flags = nf;
		str_copy(m.keywords, sizeof(m.keywords), kw);
		m.modseq = ++mb.highestmodseq;
		if ((r = msg_write(w, &m, old, 0)) < 0)
			return r;
		op->new_modseq_r[i] = m.modseq;
		store_wtxn_touch(w, mb.id);
	}
	return store_mailbox_put(w, &mb);
}

int
store_op_copy(struct store_wtxn *w, void *arg)
{
	struct store_copy_op *op = arg;
	struct store_mailbox src, dst;
	int r;

	if ((r = store_mailbox_load(w, op->src_mailbox_id, &src)) < 0)
		return r;
	/* COPY into the mailbox itself duplicates; a MOVE there would be a
	 * no-op that changes UIDs: refuse it. */
	bool self = op->src_mailbox_id == op->dst_mailbox_id;
	if (self && op->move)
		return ERR_INVAL;
	if (!self && (r = store_mailbox_load(w, op->dst_mailbox_id, &dst)) < 0)
		return r;
	struct store_mailbox *d = self ? &src : &dst;
	op->uidvalidity_r = d->uidvalidity;
	for (size_t i = 0; i < op->n; i++) {
		struct store_msg m;
		op->dst_uids_r[i] = 0;
		r = msg_get_txn(w->txn, w->st, src.id, op->uids[i], &m);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		struct store_msg c = m;
		if ((r = store_msg_add(w, d, &c)) < 0)
			return r;
		op->dst_uids_r[i] = c.uid;
		/* The copy shares the body: one more reference, taken before
		 * a move drops the source's (which may be the last). */
		if ((r = store_blob_ref(w, m.blob_id)) < 0)
			return r;
		if (op->move && (r = msg_remove(w, &src, &m)) < 0)
			return r;
	}
	if ((r = store_mailbox_put(w, d)) < 0)
		return r;
	return op->move ? store_mailbox_put(w, &src) : 0;
}

struct expunge_ctx {
	struct store_expunge_op *op;
	uint32_t *uids;
	size_t n, cap;
};

static int
expunge_collect(const struct store_msg *m, void *arg)
{
	struct expunge_ctx *c = arg;
	if (!(m->flags & STORE_FLAG_DELETED))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint32_t *u = realloc(c->uids, cap * sizeof(*u));
		if (u == NULL)
			return ERR_NOMEM;
		c->uids = u;
		c->cap = cap;
	}
	c->uids[c->n++] = m->uid;
	return 0;
}

int
store_op_expunge(struct store_wtxn *w, void *arg)
{
	struct store_expunge_op *op = arg;
	struct store_mailbox mb;
	struct expunge_ctx c = { op, NULL, 0, 0 };
	struct store_rtxn rt = { w->st, w->txn, NULL };
	int r;

	op->n_expunged_r = 0;
	if ((r = store_mailbox_load(w, op->mailbox_id, &mb)) < 0)
		return r;
	if ((r = store_msg_iter(&rt, mb.id, expunge_collect, &c)) < 0)
		goto out;
	for (size_t i = 0; i < c.n; i++) {
		struct store_msg m;
		if (op->n > 0) {
			bool listed = false;
			/* uids are sorted by the caller: binary search. */
			size_t lo = 0, hi = op->n;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (op->uids[mid] < c.uids[i])
					lo = mid + 1;
				else
					hi = mid;
			}
			listed = lo < op->n && op->uids[lo] == c.uids[i];
			if (!listed)
				continue;
		}
		if ((r = msg_get_txn(w->txn, w->st, mb.id, c.uids[i], &m)) < 0)
			goto out;
		if (r == 0)
			continue;
		if ((r = msg_remove(w, &mb, &m)) < 0)
			goto out;
		if (op->n_expunged_r < op->cap_r)
			op->expunged_r[op->n_expunged_r] = m.uid;
		op->n_expunged_r++;
	}
	r = store_mailbox_put(w, &mb);
out:
	free(c.uids);
	return r;
}
