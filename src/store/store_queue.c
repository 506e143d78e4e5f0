/* SPDX-License-Identifier: MIT */
/*
 * store_queue.c - the queue of mail for other operators: one record per
 * message with its recipients' states, and a due index (due time, id) the
 * scheduler reads from the front. A held record has no due entry. The
 * record owns one reference to the message's blob, released with it.
 */
#include "store_int.h"

#include <stdlib.h>

#include "core/err.h"
#include "core/str.h"

#define QUEUE_VERSION 1
#define QF_HELD 0x01
#define QF_DSN 0x02

void
store_queue_init(struct store_queue *q)
{
	memset(q, 0, sizeof(*q));
}

void
store_queue_free(struct store_queue *q)
{
	free(q->rcpts);
	q->rcpts = NULL;
	q->n_rcpt = 0;
}

static void
id_key(unsigned char *kb, uint64_t id)
{
	be64_put(kb, id);
}

static void
due_key(unsigned char *kb, int64_t due, uint64_t id)
{
	be64_put(kb, (uint64_t)(due < 0 ? 0 : due));
	be64_put(kb + 8, id);
}

static bool
has_pending(const struct store_queue *q)
{
	for (size_t i = 0; i < q->n_rcpt; i++)
		if (q->rcpts[i].state == STORE_RCPT_PENDING)
			return true;
	return false;
}

static int
queue_decode(const MDB_val *k, const MDB_val *v, struct store_queue *q)
{
	struct dec d;
	if (k->mv_size != 8)
		return ERR_CORRUPT;
	store_queue_init(q);
	q->id = be64_get(k->mv_data);
	dec_init(&d, v);
	if (dec_u8(&d) != QUEUE_VERSION)
		return d.err ? d.err : ERR_VERSION;
	q->arrival = (int64_t)dec_u64(&d);
	q->next_attempt = (int64_t)dec_u64(&d);
	q->ret = dec_u8(&d);
	uint8_t fl = dec_u8(&d);
	q->held = (fl & QF_HELD) != 0;
	q->is_dsn = (fl & QF_DSN) != 0;
	q->account_id = dec_u32(&d);
	dec_str(&d, q->sender, sizeof(q->sender));
	dec_str(&d, q->envid, sizeof(q->envid));
	q->blob_id = dec_u64(&d);
	q->size = dec_u64(&d);
	uint32_t n = dec_u32(&d);
	if (d.err)
		return d.err;
	if (n == 0 || n > STORE_QUEUE_RCPTS_MAX)
		return ERR_CORRUPT;
	q->rcpts = calloc(n, sizeof(*q->rcpts));
	if (q->rcpts == NULL)
		return ERR_NOMEM;
	q->n_rcpt = n;
	for (uint32_t i = 0; i < n; i++) {
		struct store_qrcpt *r = &q->rcpts[i];
		dec_str(&d, r->addr, sizeof(r->addr));
		dec_str(&d, r->orcpt, sizeof(r->orcpt));
		r->notify = dec_u8(&d);
		r->state = dec_u8(&d);
		r->delay_notified = dec_u8(&d) != 0;
		r->attempts = (uint16_t)dec_u32(&d);
		r->last_attempt = (int64_t)dec_u64(&d);
		dec_str(&d, r->status, sizeof(r->status));
		dec_str(&d, r->diag, sizeof(r->diag));
		dec_str(&d, r->remote, sizeof(r->remote));
	}
	if (d.err)
		store_queue_free(q);
	return d.err;
}

/* queue_put - the record, and its due entry when it has one. */
static int
queue_put(struct store_wtxn *w, const struct store_queue *q, unsigned flags)
{
	unsigned char kb[8], dk[16];
	struct enc e;
	size_t cap = 256 + q->n_rcpt * (sizeof(struct store_qrcpt) + 32);
	unsigned char *vb;
	int r, rc;

	if (q->n_rcpt == 0 || q->n_rcpt > STORE_QUEUE_RCPTS_MAX)
		return ERR_INVAL;
	vb = malloc(cap);
	if (vb == NULL)
		return ERR_NOMEM;
	enc_init(&e, vb, cap);
	enc_u8(&e, QUEUE_VERSION);
	enc_u64(&e, (uint64_t)q->arrival);
	enc_u64(&e, (uint64_t)q->next_attempt);
	enc_u8(&e, q->ret);
	enc_u8(&e, (uint8_t)((q->held ? QF_HELD : 0) |
	    (q->is_dsn ? QF_DSN : 0)));
	enc_u32(&e, q->account_id);
	enc_str(&e, q->sender);
	enc_str(&e, q->envid);
	enc_u64(&e, q->blob_id);
	enc_u64(&e, q->size);
	enc_u32(&e, (uint32_t)q->n_rcpt);
	for (size_t i = 0; i < q->n_rcpt; i++) {
		const struct store_qrcpt *qr = &q->rcpts[i];
		enc_str(&e, qr->addr);
		enc_str(&e, qr->orcpt);
		enc_u8(&e, qr->notify);
		enc_u8(&e, qr->state);
		enc_u8(&e, qr->delay_notified ? 1 : 0);
		enc_u32(&e, qr->attempts);
		enc_u64(&e, (uint64_t)qr->last_attempt);
		enc_str(&e, qr->status);
		enc_str(&e, qr->diag);
		enc_str(&e, qr->remote);
	}
	if ((r = e.err) < 0) {
		free(vb);
		return r;
	}
	id_key(kb, q->id);
	MDB_val k = { 8, kb }, v = { e.len, vb };
	rc = mdb_put(w->txn, w->st->dbi[DB_QUEUE], &k, &v, flags);
	free(vb);
	if (rc != 0)
		return store_err(rc);
	if (q->held || !has_pending(q))
		return 0;
	due_key(dk, q->next_attempt, q->id);
	MDB_val dkv = { 16, dk }, empty = { 0, (void *)"" };
	return store_err(mdb_put(w->txn, w->st->dbi[DB_QUEUE_DUE], &dkv,
	    &empty, 0));
}

static int
due_del(struct store_wtxn *w, const struct store_queue *q)
{
	unsigned char dk[16];
	due_key(dk, q->next_attempt, q->id);
	MDB_val k = { 16, dk };
	int rc = mdb_del(w->txn, w->st->dbi[DB_QUEUE_DUE], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static int
queue_load(MDB_txn *txn, struct store *st, uint64_t id, struct store_queue *q)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	id_key(kb, id);
	int rc = mdb_get(txn, st->dbi[DB_QUEUE], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int r = queue_decode(&k, &v, q);
	return r < 0 ? r : 1;
}

/* queue_remove - record, due entry and the blob reference. */
static int
queue_remove(struct store_wtxn *w, const struct store_queue *q)
{
	unsigned char kb[8];
	int r = due_del(w, q);
	if (r < 0)
		return r;
	id_key(kb, q->id);
	MDB_val k = { 8, kb };
	int rc = mdb_del(w->txn, w->st->dbi[DB_QUEUE], &k, NULL);
	if (rc != 0)
		return store_err(rc);
	return store_blob_unref(w, q->blob_id);
}

/* ---- reads ---- */

int
store_queue_get(struct store_rtxn *r, uint64_t id, struct store_queue *q)
{
	return queue_load(r->txn, r->st, id, q);
}

struct qwalk {
	int (*cb)(const struct store_queue *, void *);
	void *arg;
};

static int
queue_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct qwalk *w = arg;
	struct store_queue q;
	int r = queue_decode(k, v, &q);
	if (r < 0)
		return r;
	r = w->cb(&q, w->arg);
	store_queue_free(&q);
	return r;
}

int
store_queue_iter(struct store_rtxn *r,
		 int (*cb)(const struct store_queue *, void *), void *arg)
{
	struct qwalk w = { cb, arg };
	return store_walk_prefix(r->txn, r->st->dbi[DB_QUEUE], "", 0,
	    queue_each, &w);
}

int
store_queue_due(struct store_rtxn *r, int64_t now,
		int (*cb)(uint64_t id, int64_t due, void *), void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	int ret = 0;
	int rc = mdb_cursor_open(r->txn, r->st->dbi[DB_QUEUE_DUE], &c);
	if (rc != 0)
		return store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16) {
			ret = ERR_CORRUPT;
			break;
		}
		int64_t due = (int64_t)be64_get(k.mv_data);
		if (due > now)
			break;
		uint64_t id = be64_get((const unsigned char *)k.mv_data + 8);
		if ((ret = cb(id, due, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = store_err(rc);
	mdb_cursor_close(c);
	return ret;
}

int
store_queue_next_due(struct store_rtxn *r, int64_t *due)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(r->txn, r->st->dbi[DB_QUEUE_DUE], &c);
	if (rc != 0)
		return store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*due = INT64_MAX;
		return 0;
	}
	if (rc != 0)
		return store_err(rc);
	if (k.mv_size != 16)
		return ERR_CORRUPT;
	*due = (int64_t)be64_get(k.mv_data);
	return 0;
}

/* ---- writes ---- */

/* store_queue_put_new - a new record owning a reference to blob_id. */
int
store_queue_put_new(struct store_wtxn *w, struct store_queue *q)
{
	return queue_put(w, q, MDB_NOOVERWRITE);
}

int
store_op_queue_add(struct store_wtxn *w, void *arg)
{
	struct store_queue_add *a = arg;
	int r = store_blob_put(w, a->sealed, a->sealed_len, a->size, 1,
	    a->info, a->info_len, &a->q->blob_id);
	if (r < 0)
		return r;
	a->q->size = a->size;
	return queue_put(w, a->q, MDB_NOOVERWRITE);
}

int
store_op_queue_update(struct store_wtxn *w, void *arg)
{
	struct store_queue_update *u = arg;
	struct store_queue q;
	int r = queue_load(w->txn, w->st, u->id, &q);
	if (r == 0)
		return ERR_NOTFOUND;
	if (r < 0)
		return r;
	if (u->n_rcpt != q.n_rcpt) {
		store_queue_free(&q);
		return ERR_INVAL;
	}
	if ((r = due_del(w, &q)) < 0)
		goto out;
	memcpy(q.rcpts, u->rcpts, q.n_rcpt * sizeof(*q.rcpts));
	u->removed_r = !has_pending(&q);
	if (u->removed_r) {
		r = queue_remove(w, &q);
		goto out;
	}
	q.next_attempt = u->next_attempt;
	r = queue_put(w, &q, 0);
out:
	store_queue_free(&q);
	return r;
}

static int
admin_one(struct store_wtxn *w, struct store_queue *q,
	  struct store_queue_admin *a)
{
	int r = due_del(w, q);
	if (r < 0)
		return r;
	switch (a->action) {
	case STORE_QUEUE_DELETE:
		r = queue_remove(w, q);
		break;
	case STORE_QUEUE_HOLD:
		q->held = true;
		r = queue_put(w, q, 0);
		break;
	case STORE_QUEUE_RELEASE:
		q->held = false;
		q->next_attempt = a->now;
		r = queue_put(w, q, 0);
		break;
	case STORE_QUEUE_RETRY:
		if (!q->held)
			q->next_attempt = a->now;
		r = queue_put(w, q, 0);
		break;
	}
	if (r == 0)
		a->n_done_r++;
	return r;
}

struct admin_all {
	uint64_t *ids;
	size_t n, cap;
};

static int
collect_id(const struct store_queue *q, void *arg)
{
	struct admin_all *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		uint64_t *p = realloc(a->ids, cap * sizeof(*p));
		if (p == NULL)
			return ERR_NOMEM;
		a->ids = p;
		a->cap = cap;
	}
	a->ids[a->n++] = q->id;
	return 0;
}

int
store_op_queue_admin(struct store_wtxn *w, void *arg)
{
	struct store_queue_admin *a = arg;
	struct store_queue q;
	int r;

	a->n_done_r = 0;
	if (a->id != 0) {
		r = queue_load(w->txn, w->st, a->id, &q);
		if (r <= 0)
			return r == 0 ? ERR_NOTFOUND : r;
		r = admin_one(w, &q, a);
		store_queue_free(&q);
		return r;
	}
	if (a->action != STORE_QUEUE_RETRY)
		return ERR_INVAL;
	struct store_rtxn rt = { w->st, w->txn, NULL };
	struct admin_all all = { NULL, 0, 0 };
	r = store_queue_iter(&rt, collect_id, &all);
	for (size_t i = 0; r == 0 && i < all.n; i++) {
		if ((r = queue_load(w->txn, w->st, all.ids[i], &q)) <= 0)
			continue;
		r = admin_one(w, &q, a);
		store_queue_free(&q);
	}
	free(all.ids);
	return r < 0 ? r : 0;
}
