/* SPDX-License-Identifier: MIT */
/*
 * store_trust.c - the trust space: the domains of the MSSanté white list
 * (imported from its XML file, or added by an administrator), each with
 * an optional static route. An import replaces the imported entries in
 * one transaction, so readers see the old list or the new one, never a
 * mix; entries an administrator added stay.
 */
#include "store_int.h"

#include <stdlib.h>
#include <time.h>

#include "core/err.h"
#include "core/str.h"

#define TRUST_VERSION 1

static int
trust_key(const char *domain, MDB_val *k)
{
	size_t n = strlen(domain);
	if (n == 0 || n >= STORE_HOST_MAX)
		return ERR_INVAL;
	k->mv_data = (void *)domain;
	k->mv_size = n;
	return 0;
}

static int
trust_decode(const MDB_val *k, const MDB_val *v, struct store_trust *t)
{
	struct dec d;
	if (k->mv_size == 0 || k->mv_size >= sizeof(t->domain))
		return ERR_CORRUPT;
	memset(t, 0, sizeof(*t));
	memcpy(t->domain, k->mv_data, k->mv_size);
	dec_init(&d, v);
	if (dec_u8(&d) != TRUST_VERSION)
		return d.err ? d.err : ERR_VERSION;
	dec_str(&d, t->route, sizeof(t->route));
	dec_str(&d, t->source, sizeof(t->source));
	t->added = (int64_t)dec_u64(&d);
	return d.err;
}

static int
trust_put(struct store_wtxn *w, const struct store_trust *t)
{
	unsigned char vb[16 + STORE_HOST_MAX + 64];
	struct enc e;
	MDB_val k, v;
	int r = trust_key(t->domain, &k);
	if (r < 0)
		return r;
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, TRUST_VERSION);
	enc_str(&e, t->route);
	enc_str(&e, t->source);
	enc_u64(&e, (uint64_t)t->added);
	if (e.err)
		return e.err;
	v.mv_size = e.len;
	v.mv_data = vb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_TRUST], &k, &v, 0));
}

int
store_trust_get(struct store_rtxn *r, const char *domain,
		struct store_trust *t)
{
	MDB_val k, v;
	if (trust_key(domain, &k) < 0)
		return 0;
	int rc = mdb_get(r->txn, r->st->dbi[DB_TRUST], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = trust_decode(&k, &v, t);
	return ret < 0 ? ret : 1;
}

struct trust_walk {
	int (*cb)(const struct store_trust *, void *);
	void *arg;
};

static int
trust_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct trust_walk *w = arg;
	struct store_trust t;
	int r = trust_decode(k, v, &t);
	return r < 0 ? r : w->cb(&t, w->arg);
}

int
store_trust_iter(struct store_rtxn *r,
		 int (*cb)(const struct store_trust *, void *), void *arg)
{
	struct trust_walk w = { cb, arg };
	return store_walk_prefix(r->txn, r->st->dbi[DB_TRUST], "", 0,
	    trust_each, &w);
}

int
store_op_trust_set(struct store_wtxn *w, void *arg)
{
	struct store_trust_op *op = arg;
	return trust_put(w, op->t);
}

int
store_op_trust_del(struct store_wtxn *w, void *arg)
{
	struct store_trust_op *op = arg;
	MDB_val k;
	int r = trust_key(op->domain, &k);
	if (r < 0)
		return r;
	return store_err(mdb_del(w->txn, w->st->dbi[DB_TRUST], &k, NULL));
}

struct import_walk {
	struct store_trust_op *op;
	/* op->list by domain: a list of 100,000 names against as many
	 * stored would otherwise take minutes in the write transaction */
	const struct store_trust **sorted;
	char (*gone)[STORE_HOST_MAX];
	size_t n_gone, cap_gone;
};

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp((*(const struct store_trust *const *)a)->domain,
	    (*(const struct store_trust *const *)b)->domain);
}

static int
cmp_domain(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct store_trust *const *)elem)->domain);
}

/* in_list - is domain among the import's entries? */
static bool
in_list(const struct import_walk *iw, const char *domain)
{
	return bsearch(domain, iw->sorted, iw->op->n, sizeof(*iw->sorted),
	    cmp_domain) != NULL;
}

static int
import_collect(const struct store_trust *t, void *arg)
{
	struct import_walk *iw = arg;
	if (strcmp(t->source, "import") != 0)
		return 0;
	if (in_list(iw, t->domain)) {
		iw->op->kept_r++;
		return 0;
	}
	if (iw->n_gone == iw->cap_gone) {
		size_t cap = iw->cap_gone ? iw->cap_gone * 2 : 64;
		void *p = realloc(iw->gone, cap * sizeof(*iw->gone));
		if (p == NULL)
			return ERR_NOMEM;
		iw->gone = p;
		iw->cap_gone = cap;
	}
	str_copy(iw->gone[iw->n_gone++], STORE_HOST_MAX, t->domain);
	return 0;
}

int
store_op_trust_import(struct store_wtxn *w, void *arg)
{
	struct store_trust_op *op = arg;
	struct store_rtxn rt = { w->st, w->txn, NULL };
	struct import_walk iw = { op, NULL, NULL, 0, 0 };
	int r;

	op->added_r = op->removed_r = op->kept_r = 0;
	iw.sorted = malloc((op->n > 0 ? op->n : 1) * sizeof(*iw.sorted));
	if (iw.sorted == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < op->n; i++)
		iw.sorted[i] = &op->list[i];
	if (op->n > 0)
		qsort(iw.sorted, op->n, sizeof(*iw.sorted), cmp_entry);
	if ((r = store_trust_iter(&rt, import_collect, &iw)) < 0)
		goto out;
	for (size_t i = 0; i < iw.n_gone; i++) {
		MDB_val k;
		trust_key(iw.gone[i], &k);
		if ((r = store_err(mdb_del(w->txn, w->st->dbi[DB_TRUST], &k,
		    NULL))) < 0)
			goto out;
		op->removed_r++;
	}
	for (size_t i = 0; i < op->n; i++) {
		struct store_trust old;
		r = store_trust_get(&rt, op->list[i].domain, &old);
		if (r < 0)
			goto out;
		if (r == 1 && strcmp(old.source, "import") != 0)
			continue;	/* an administrator's entry wins */
		if (r == 0)
			op->added_r++;
		else if (strcmp(old.route, op->list[i].route) == 0)
			continue;	/* unchanged: counted as kept */
		if ((r = trust_put(w, &op->list[i])) < 0)
			goto out;
	}
	r = 0;
out:
	free(iw.sorted);
	free(iw.gone);
	return r;
}
