/* SPDX-License-Identifier: MIT */
/*
 * store_dir_search.c - searching the directory: exact criteria through
 * their index, name prefixes through the name index (which is also the
 * order of every result), what the alerting engine resolves, and the
 * counts of `mssgate dir stats`.
 *
 * The plan: a small exact set (an address, an id, a postcode) is read
 * whole, checked and sorted by name; otherwise the name index is walked
 * in order from the prefix (or from its start), each entry checked
 * against the exact criteria with one index probe before its record is
 * decoded, until the page is full. Either way the order is the same:
 * folded family name, given name, record id.
 */
#include "store_dir.h"

#include <stdlib.h>
#include <strings.h>

#include "store_int.h"

#include "core/err.h"
#include "core/fold.h"
#include "core/str.h"

/* A set this small is read whole and sorted; a larger one is checked
 * entry by entry along the name index. */
#define DIR_SMALL_SET 20000
/* The most ids a prefix on given name or city may gather to be sorted. */
#define DIR_GATHER_MAX 200000
#define FOLD_MAX 256

struct crit {
	unsigned char tag;
	char term[FOLD_MAX];
	size_t count;
};

struct search {
	MDB_txn *txn;
	struct store *st;
	struct dirset ds;
	const struct dir_query *q;
	MDB_cursor *probe;
	char family[FOLD_MAX], given[FOLD_MAX], city[FOLD_MAX];
	size_t lfam, lgiven, lcity;
	struct crit exact[8];
	size_t n_exact;
	struct dir_record rec;
	int (*cb)(const struct dir_record *, void *);
	void *arg;
	size_t skipped, emitted;
	bool more;
};

static size_t
fold(const char *s, char *out)
{
	return s == NULL ? 0 : str_fold(s, strlen(s), out, FOLD_MAX);
}

/* probe - does the index have id under tag+term? */
static int
probe(struct search *s, const struct crit *c, uint32_t id)
{
	unsigned char kb[FOLD_MAX + 1];
	size_t n = strlen(c->term);
	unsigned int idv = id;
	MDB_val k = { n + 1, kb }, v = { sizeof(idv), &idv };

	kb[0] = c->tag;
	memcpy(kb + 1, c->term, n);
	int rc = mdb_cursor_get(s->probe, &k, &v, MDB_GET_BOTH);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : store_err(rc);
}

static bool
prefix_of(const char *folded_field, const char *pfx, size_t lp)
{
	char f[FOLD_MAX];
	if (lp == 0)
		return true;
	str_fold(folded_field, strlen(folded_field), f, sizeof(f));
	return strncmp(f, pfx, lp) == 0;
}

static bool
eq(const char *want, const char *have)
{
	return want == NULL || *want == '\0' || strcmp(want, have) == 0;
}

/* matches - every criterion against a decoded record. */
static bool
matches(const struct search *s, const struct dir_record *r)
{
	const struct dir_query *q = s->q;
	char nk[FOLD_MAX];

	if (!eq(q->idnat, r->idnat) || !eq(q->rpps, r->rpps) ||
	    !eq(q->profession, r->profession_code) ||
	    !eq(q->specialty, r->specialty_code) ||
	    !eq(q->postcode, r->postcode))
		return false;
	if (q->address != NULL && *q->address != '\0') {
		bool found = false;
		for (size_t i = 0; i < r->n_mbox && !found; i++)
			found = strcasecmp(q->address, r->mbox[i].addr) == 0;
		if (!found)
			return false;
	}
	if (q->org != NULL && *q->org != '\0' && strcmp(q->org, r->org_id) &&
	    strcmp(q->org, r->finess) && strcmp(q->org, r->siret) &&
	    strcmp(q->org, r->siren))
		return false;
	if (s->lfam > 0) {
		dir_name_key(r, nk, sizeof(nk));
		const char *name = (unsigned char)nk[0] == DIR_NAME_ORG ?
		    nk + 1 : nk;
		if (strncmp(name, s->family, s->lfam) != 0)
			return false;
	}
	return prefix_of(r->given, s->given, s->lgiven) &&
	    prefix_of(r->city, s->city, s->lcity);
}

/* emit - one match, in order: skip up to the offset, fill the page, and
 * note whether one more exists. 1 stops the walk. */
static int
emit(struct search *s, const struct dir_record *r)
{
	if (s->skipped < s->q->offset) {
		s->skipped++;
		return 0;
	}
	if (s->emitted == s->q->limit) {
		s->more = true;
		return 1;
	}
	s->emitted++;
	int rc = s->cb(r, s->arg);
	return rc != 0 ? rc : 0;
}

static int
add_exact(struct search *s, unsigned char tag, const char *v, bool lower)
{
	struct crit *c;
	if (v == NULL || *v == '\0')
		return 0;
	c = &s->exact[s->n_exact++];
	c->tag = tag;
	if (str_copy(c->term, sizeof(c->term), v) < 0)
		return ERR_INVAL;
	if (lower)
		str_lower(c->term);
	return 0;
}

/* add_rpps - an RPPS is searched as its IdNat_PS, "8" + RPPS. */
static int
add_rpps(struct search *s, const char *rpps)
{
	char idnat[DIR_ID];
	if (rpps == NULL || *rpps == '\0')
		return 0;
	if (str_fmt(idnat, sizeof(idnat), "8%s", rpps) < 0)
		return ERR_INVAL;
	return add_exact(s, 'I', idnat, false);
}

/* count - how many ids the index has under an exact term. */
static int
count(struct search *s, struct crit *c)
{
	unsigned char kb[FOLD_MAX + 1];
	size_t n = strlen(c->term);
	MDB_val k = { n + 1, kb }, v;
	size_t cnt;
	int rc;

	kb[0] = c->tag;
	memcpy(kb + 1, c->term, n);
	rc = mdb_cursor_get(s->probe, &k, &v, MDB_SET);
	if (rc == MDB_NOTFOUND) {
		c->count = 0;
		return 0;
	}
	if (rc != 0 || (rc = mdb_cursor_count(s->probe, &cnt)) != 0)
		return store_err(rc);
	c->count = (size_t)cnt;
	return 0;
}

struct hit {
	char key[FOLD_MAX];
	uint32_t id;
};

static int
cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

/* sort_and_emit - decode the gathered ids, keep the matches, sort by name,
 * emit the page. */
static int
sort_and_emit(struct search *s, const uint32_t *ids, size_t n)
{
	struct hit *h = n ? malloc(n * sizeof(*h)) : NULL;
	size_t m = 0;
	int rc = 0;

	if (n && h == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		rc = dir_get_txn(s->txn, s->st, &s->ds, ids[i], &s->rec);
		if (rc < 0)
			goto out;
		if (rc == 0 || !matches(s, &s->rec))
			continue;
		dir_name_key(&s->rec, h[m].key, sizeof(h[m].key));
		h[m++].id = ids[i];
	}
	if (m > 1)
		qsort(h, m, sizeof(*h), cmp_hit);
	rc = 0;
	for (size_t i = 0; i < m && rc == 0; i++) {
		if (s->skipped < s->q->offset) {
			s->skipped++;
			continue;
		}
		if (s->emitted == s->q->limit) {
			s->more = true;
			break;
		}
		rc = dir_get_txn(s->txn, s->st, &s->ds, h[i].id, &s->rec);
		if (rc == 1)
			rc = emit(s, &s->rec);
	}
out:
	free(h);
	return rc < 0 ? rc : 0;
}

/* gather - every id under tag+term (exact) or tag+prefix. */
static int
gather(struct search *s, unsigned char tag, const char *term, bool prefix,
       uint32_t **ids_r, size_t *n_r)
{
	unsigned char kb[FOLD_MAX + 1];
	size_t tl = strlen(term), n = 0, cap = 0;
	uint32_t *ids = NULL;
	MDB_cursor *c;
	MDB_val k = { tl + 1, kb }, v;
	int rc;

	kb[0] = tag;
	memcpy(kb + 1, term, tl);
	if ((rc = mdb_cursor_open(s->txn, s->ds.idx, &c)) != 0)
		return store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, prefix ? MDB_SET_RANGE : MDB_SET);
	while (rc == 0) {
		if (k.mv_size < tl + 1 || memcmp(k.mv_data, kb, tl + 1) != 0 ||
		    (!prefix && k.mv_size != tl + 1))
			break;
		if (n == DIR_GATHER_MAX) {
			rc = ERR_LIMIT;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			uint32_t *p = realloc(ids, cap * sizeof(*ids));
			if (p == NULL) {
				rc = ERR_NOMEM;
				break;
			}
			ids = p;
		}
		unsigned int idv;
		memcpy(&idv, v.mv_data, sizeof(idv));
		ids[n++] = idv;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc < ERR_SHUTDOWN - 100 || rc > 0)
		rc = store_err(rc);	/* LMDB's own codes */
	if (rc < 0) {
		free(ids);
		return rc;
	}
	*ids_r = ids;
	*n_r = n;
	return 0;
}

/* A set of record ids as a bitmap: membership in a few nanoseconds. */
struct idset {
	uint8_t *b;
	size_t bits;
};

static bool
idset_has(const struct idset *m, uint32_t id)
{
	return id < m->bits && (m->b[id / 8] & (1u << (id % 8)));
}

/* idset_load - every id under an exact term, a page of them at a time
 * (the index holds fixed-size ids: MDB_GET_MULTIPLE). */
static int
idset_load(struct search *s, const struct crit *c, struct idset *m)
{
	unsigned char kb[FOLD_MAX + 1];
	size_t tl = strlen(c->term);
	MDB_val k = { tl + 1, kb }, v;
	MDB_cursor *cur;
	int rc;

	memset(m, 0, sizeof(*m));
	kb[0] = c->tag;
	memcpy(kb + 1, c->term, tl);
	if ((rc = mdb_cursor_open(s->txn, s->ds.idx, &cur)) != 0)
		return store_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	if (rc == 0) {
		/* the last id is the largest: it sizes the bitmap */
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST_DUP);
		unsigned int last = 0;
		if (rc == 0 && v.mv_size == sizeof(last))
			memcpy(&last, v.mv_data, sizeof(last));
		m->bits = (size_t)last + 1;
		m->b = calloc((m->bits + 7) / 8, 1);
		if (m->b == NULL) {
			mdb_cursor_close(cur);
			return ERR_NOMEM;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST_DUP);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_MULTIPLE);
		while (rc == 0) {
			/* LMDB's pages give no alignment: copy each id */
			const unsigned char *p = v.mv_data;
			for (size_t i = 0; i + sizeof(unsigned int) <=
			    v.mv_size; i += sizeof(unsigned int)) {
				unsigned int id;
				memcpy(&id, p + i, sizeof(id));
				if (id < m->bits)
					m->b[id / 8] |= (uint8_t)(1u <<
					    (id % 8));
			}
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_MULTIPLE);
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

/* visit - one id met along the name index: kept by the set or probed
 * against the most selective criterion before its record is decoded.
 * 1 stops the walk. */
static int
visit(struct search *s, const struct crit *best, const struct idset *set,
      uint32_t id)
{
	int rc;
	if (set != NULL) {
		if (!idset_has(set, id))
			return 0;
	} else if (best != NULL) {
		if ((rc = probe(s, best, id)) <= 0)
			return rc;
	}
	rc = dir_get_txn(s->txn, s->st, &s->ds, id, &s->rec);
	if (rc <= 0)
		return rc;
	return matches(s, &s->rec) ? emit(s, &s->rec) : 0;
}

/* walk_names_from - the name index in order from the family prefix
 * (among people, or among organizations), a page of ids at a time, each
 * checked against the exact criteria (a set, or one probe) before its
 * record is decoded, until the page is full. */
static int
walk_names_from(struct search *s, const struct crit *best,
		const struct idset *set, bool orgs)
{
	unsigned char kb[FOLD_MAX + 2];
	size_t kl = 1;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	kb[0] = 'N';
	if (orgs)
		kb[kl++] = DIR_NAME_ORG;
	memcpy(kb + kl, s->family, s->lfam);
	kl += s->lfam;
	k.mv_data = kb;
	k.mv_size = kl;
	if ((rc = mdb_cursor_open(s->txn, s->ds.idx, &c)) != 0)
		return store_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size < kl || memcmp(k.mv_data, kb, kl) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_MULTIPLE);
		while (rc == 0) {
			unsigned int ids[1024];
			size_t n = v.mv_size / sizeof(ids[0]);
			/* copied: a decode below may move the map's pages */
			if (n > 1024)
				n = 1024;
			memcpy(ids, v.mv_data, n * sizeof(ids[0]));
			for (size_t i = 0; i < n && rc == 0; i++)
				rc = visit(s, best, set, ids[i]);
			if (rc != 0)
				break;
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_MULTIPLE);
		}
		if (rc != MDB_NOTFOUND)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP);
	}
	mdb_cursor_close(c);
	if (rc == 1 || rc == MDB_NOTFOUND)
		rc = 0;
	return rc > 0 || rc < ERR_SHUTDOWN - 100 ? store_err(rc) : rc;
}

/* walk_names - people, then organizations, in name order. */
static int
walk_names(struct search *s, const struct crit *best, const struct idset *set)
{
	int rc = walk_names_from(s, best, set, false);
	/* then the organizations, which sort after every person */
	if (rc == 0 && s->lfam > 0 && !s->more)
		rc = walk_names_from(s, best, set, true);
	return rc;
}

int
store_dir_search(struct store_rtxn *r, const struct dir_query *q0,
		 int (*cb)(const struct dir_record *, void *), void *arg,
		 bool *more_r)
{
	struct dir_query q = *q0;
	struct search *s;
	struct crit *best = NULL;
	int rc;

	if (q.limit == 0)
		q.limit = DIR_QUERY_LIMIT_DEFAULT;
	if (q.limit > DIR_QUERY_LIMIT_MAX || q.offset > DIR_QUERY_OFFSET_MAX)
		return ERR_INVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ERR_NOMEM;
	s->txn = r->txn;
	s->st = r->st;
	if ((rc = dir_set_current(r->txn, r->st, &s->ds)) < 0) {
		free(s);
		return rc;
	}
	s->q = &q;
	s->cb = cb;
	s->arg = arg;
	s->lfam = fold(q.family, s->family);
	s->lgiven = fold(q.given, s->given);
	s->lcity = fold(q.city, s->city);
	rc = 0;
	if ((q.family && *q.family && s->lfam == 0) ||
	    (q.given && *q.given && s->lgiven == 0) ||
	    (q.city && *q.city && s->lcity == 0))
		rc = ERR_INVAL;		/* nothing searchable in the prefix */
	if (rc == 0 && ((rc = add_exact(s, 'A', q.address, true)) < 0 ||
	    (rc = add_exact(s, 'I', q.idnat, false)) < 0 ||
	    (rc = add_rpps(s, q.rpps)) < 0 ||
	    (rc = add_exact(s, 'O', q.org, false)) < 0 ||
	    (rc = add_exact(s, 'C', q.postcode, false)) < 0 ||
	    (rc = add_exact(s, 'S', q.specialty, false)) < 0 ||
	    (rc = add_exact(s, 'P', q.profession, false)) < 0))
		goto out;
	if (rc == 0 && s->n_exact == 0 && s->lfam == 0 && s->lgiven == 0 &&
	    s->lcity == 0)
		rc = ERR_INVAL;
	if (rc < 0)
		goto out;
	if ((rc = mdb_cursor_open(s->txn, s->ds.idx,
	    &s->probe)) != 0) {
		rc = store_err(rc);
		goto out;
	}
	for (size_t i = 0; i < s->n_exact; i++) {
		if ((rc = count(s, &s->exact[i])) < 0)
			goto out_cursor;
		if (best == NULL || s->exact[i].count < best->count)
			best = &s->exact[i];
	}
	if (best != NULL && s->lfam == 0 && (best->count <= DIR_SMALL_SET ||
	    (s->lgiven == 0 && s->lcity == 0 && best->count <=
	    DIR_GATHER_MAX))) {
		uint32_t *ids;
		size_t n;
		if ((rc = gather(s, best->tag, best->term, false, &ids,
		    &n)) == 0) {
			rc = sort_and_emit(s, ids, n);
			free(ids);
		}
	} else if (s->lfam > 0 && best != NULL &&
	    best->count <= DIR_SMALL_SET * 4) {
		/* a name prefix and a set of a few thousand: walk the names
		 * in order, keep the set's members */
		struct idset set;
		if ((rc = idset_load(s, best, &set)) == 0)
			rc = walk_names(s, best, &set);
		free(set.b);
	} else if (s->lfam > 0 || best != NULL) {
		rc = walk_names(s, best, NULL);
	} else {
		uint32_t *ids;
		size_t n;
		bool by_given = s->lgiven > 0;
		if ((rc = gather(s, by_given ? 'G' : 'T', by_given ?
		    s->given : s->city, true, &ids, &n)) == 0) {
			rc = sort_and_emit(s, ids, n);
			free(ids);
		}
	}
out_cursor:
	mdb_cursor_close(s->probe);
out:
	if (more_r != NULL)
		*more_r = s->more;
	free(s);
	return rc < 0 ? rc : 0;
}

/* ---- what the alerting engine asks ---- */

struct resolve {
	int (*cb)(const struct dir_record *, void *);
	void *arg;
	int n;
	const char *role;		/* role:X@ORG: X */
};

static int
resolve_each(const struct dir_record *r, void *arg)
{
	struct resolve *rs = arg;
	if (rs->role != NULL) {
		char a[FOLD_MAX], b[FOLD_MAX];
		str_fold(rs->role, strlen(rs->role), a, sizeof(a));
		str_fold(r->role, strlen(r->role), b, sizeof(b));
		if (strcmp(rs->role, r->profession_code) != 0 &&
		    strcmp(rs->role, r->specialty_code) != 0 &&
		    (a[0] == '\0' || strcmp(a, b) != 0))
			return 0;
	}
	rs->n++;
	return rs->cb(r, rs->arg);
}

static int
resolve_query(struct store_rtxn *r, struct dir_query *q, struct resolve *rs)
{
	size_t offset = 0;
	bool more = true;
	int rc = 0;

	q->limit = DIR_QUERY_LIMIT_MAX;
	while (more && rc == 0 && offset <= DIR_QUERY_OFFSET_MAX) {
		q->offset = offset;
		rc = store_dir_search(r, q, resolve_each, rs, &more);
		offset += DIR_QUERY_LIMIT_MAX;
	}
	return rc < 0 ? rc : rs->n;
}

int
store_dir_resolve(struct store_rtxn *r, const char *what,
		  int (*cb)(const struct dir_record *, void *), void *arg)
{
	struct resolve rs = { cb, arg, 0, NULL };
	struct dir_query q = { 0 };
	char buf[DIR_KEY_MAX];
	size_t n = strlen(what);
	uint64_t id;

	if (n == 0 || n >= sizeof(buf))
		return ERR_INVAL;
	if (strncmp(what, "record:", 7) == 0) {
		struct dir_record *rec = malloc(sizeof(*rec));
		int rc;
		if (rec == NULL)
			return ERR_NOMEM;
		rc = str_to_u64(what + 7, 1, UINT32_MAX, &id);
		if (rc == 0)
			rc = store_dir_get(r, (uint32_t)id, rec);
		if (rc == 1)
			rc = resolve_each(rec, &rs) < 0 ? ERR_INVAL : rs.n;
		free(rec);
		return rc;
	}
	if (strncmp(what, "role:", 5) == 0) {
		char *at;
		if (str_copy(buf, sizeof(buf), what + 5) < 0 ||
		    (at = strrchr(buf, '@')) == NULL || at == buf ||
		    at[1] == '\0')
			return ERR_INVAL;
		*at = '\0';
		rs.role = buf;
		q.org = at + 1;
		return resolve_query(r, &q, &rs);
	}
	if (dir_source_of_key(what) != DIR_SRC_NONE) {
		struct dir_record *rec = malloc(sizeof(*rec));
		int rc;
		if (rec == NULL)
			return ERR_NOMEM;
		rc = store_dir_get_key(r, what, rec);
		if (rc == 1)
			rc = resolve_each(rec, &rs) < 0 ? ERR_INVAL : rs.n;
		free(rec);
		return rc;
	}
	if (strchr(what, '@') != NULL)
		q.address = what;
	else if (n == 11 && strspn(what, "0123456789") == n)
		q.rpps = what;
	else
		q.idnat = what;
	return resolve_query(r, &q, &rs);
}

int
store_dir_has_address(struct store_rtxn *r, const char *addr)
{
	unsigned char kb[FOLD_MAX + 1];
	size_t n = strlen(addr);
	MDB_val k = { n + 1, kb }, v;
	int rc;

	if (n == 0 || n >= FOLD_MAX)
		return 0;
	kb[0] = 'A';
	memcpy(kb + 1, addr, n);
	str_lowern((char *)kb + 1, n);
	struct dirset ds;
	if ((rc = dir_set_current(r->txn, r->st, &ds)) < 0)
		return rc;
	rc = mdb_get(r->txn, ds.idx, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : store_err(rc);
}

/* ---- counts ---- */

static int
stats_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct dir_stats *s = arg;
	(void)v;
	char key[DIR_KEY_MAX];
	if (k->mv_size >= sizeof(key))
		return ERR_CORRUPT;
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	s->by_source[dir_source_of_key(key)]++;
	return 0;
}

struct stats_walk {
	struct store_rtxn *r;
	struct dirset ds;
	struct dir_stats *s;
	struct dir_record rec;
};

static int
stats_rec(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct stats_walk *w = arg;
	(void)v;
	if (k->mv_size != 4)
		return ERR_CORRUPT;
	int rc = dir_get_txn(w->r->txn, w->r->st, &w->ds,
	    be32_get(k->mv_data), &w->rec);
	if (rc < 0)
		return rc;
	w->s->records++;
	w->s->mailboxes += w->rec.n_mbox;
	w->s->with_push += w->rec.n_push > 0;
	w->s->with_phone += w->rec.n_phone > 0;
	return 0;
}

int
store_dir_stats(struct store_rtxn *r, struct dir_stats *s)
{
	struct stats_walk *w;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ERR_NOMEM;
	w->r = r;
	w->s = s;
	if ((rc = dir_set_current(r->txn, r->st, &w->ds)) < 0 ||
	    (rc = store_walk_prefix(r->txn, w->ds.key, "", 0, stats_each,
	    s)) < 0) {
		free(w);
		return rc;
	}
	rc = store_walk_prefix(r->txn, w->ds.rec, "", 0, stats_rec, w);
	free(w);
	if (rc < 0)
		return rc;
	for (uint8_t src = DIR_SRC_MSS; src <= DIR_SRC_LOCAL; src++) {
		char name[32];
		MDB_val k, v;
		if (str_fmt(name, sizeof(name), "dir_import_%s",
		    dir_source_name(src)) < 0)
			return ERR_LIMIT;
		k.mv_data = name;
		k.mv_size = strlen(name);
		rc = mdb_get(r->txn, r->st->dbi[DB_META], &k, &v);
		if (rc == 0 && v.mv_size == 8)
			s->last_import[src] = (int64_t)be64_get(v.mv_data);
		else if (rc != 0 && rc != MDB_NOTFOUND)
			return store_err(rc);
	}
	return 0;
}
