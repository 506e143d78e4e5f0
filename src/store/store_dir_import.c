/* SPDX-License-Identifier: MIT */
/*
 * store_dir_import.c - importing a source of the directory, so that
 * readers see the old directory or the new one and never a mix, with
 * memory that does not grow with the file.
 *
 * Two ways, chosen by what the import changes:
 *
 * - in place: one write transaction applies the differences to the
 *   current set. Right for the daily re-import of an extract, where a
 *   few thousand records change: it writes only those.
 * - rebuild: the other set of databases is built from the current one
 *   and the file in many small transactions, its index entries sorted
 *   outside LMDB (runs in temporary files, then a merge) and appended in
 *   key order, and one last transaction makes it current. Right for a
 *   first import or a large change: a million records in one
 *   transaction would hold every dirty page in memory, and inserting
 *   ten million index entries in random order is what costs time.
 *
 * A first pass that only reads (the file against the current set) counts
 * the changes and picks the way; a source with no record yet is rebuilt
 * at once. An import holds a lock file beside the store, and so do the
 * local edits, so that a rebuild cannot lose one made meanwhile.
 */
#include "store_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store_int.h"

#include "core/err.h"
#include "core/str.h"

/* At most this many changes are applied in place, in one transaction. */
#define DIR_INPLACE_MAX 50000
/* Records per transaction while rebuilding. */
#define DIR_CHUNK 10000
/* Index entries appended per transaction. */
#define DIR_IDX_CHUNK 500000
/* Records read between two drops of the map's resident pages. */
#define DIR_DROP_EVERY 2000
/* Memory for sorting index entries before a run goes to disk. */
#define DIR_SORT_MEM (48u << 20)

enum import_mode {
	MODE_DRY,		/* read only: count */
	MODE_INPLACE,		/* one write transaction on the current set */
	MODE_REBUILD,		/* the other set, many transactions */
};

/* ---- sorting index entries ---- */

/*
 * An entry is u16 n, then n bytes: the term, a 0 byte and the record id
 * big-endian, so that comparing the bytes orders by term then id (terms
 * hold no 0 byte). In memory each entry also has its first 8 bytes as a
 * number beside its offset: most comparisons end there, without
 * touching the arena.
 */
struct sort_ref {
	uint64_t pfx;
	uint32_t off;
	uint32_t len;
};

struct sorter {
	unsigned char *arena;
	size_t used, cap;
	struct sort_ref *refs;
	size_t n, cap_refs;
	FILE *runs[64];
	size_t n_runs;
	const char *dir;
};

static int
sorter_init(struct sorter *so, const char *dir)
{
	memset(so, 0, sizeof(*so));
	so->dir = dir;
	so->cap = DIR_SORT_MEM;
	so->arena = malloc(so->cap);
	so->cap_refs = DIR_SORT_MEM / 32;
	so->refs = malloc(so->cap_refs * sizeof(*so->refs));
	if (so->arena == NULL || so->refs == NULL) {
		free(so->arena);
		free(so->refs);
		so->arena = NULL;
		so->refs = NULL;
		return ERR_NOMEM;
	}
	return 0;
}

static void
sorter_free(struct sorter *so)
{
	for (size_t i = 0; i < so->n_runs; i++)
		if (so->runs[i] != NULL)
			(void)fclose(so->runs[i]);
	free(so->arena);
	free(so->refs);
	memset(so, 0, sizeof(*so));
}

/* cmp_bytes - entries (without their u16) as byte strings. */
static int
cmp_bytes(const unsigned char *a, size_t la, const unsigned char *b,
	  size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);
	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

static int
cmp_entry(const unsigned char *a, const unsigned char *b)
{
	return cmp_bytes(a + 2, (size_t)a[0] << 8 | a[1], b + 2,
	    (size_t)b[0] << 8 | b[1]);
}

static const unsigned char *sort_base;

static int
cmp_ref(const void *x, const void *y)
{
	const struct sort_ref *a = x, *b = y;
	if (a->pfx != b->pfx)
		return a->pfx < b->pfx ? -1 : 1;
	return cmp_bytes(sort_base + a->off + 2, a->len, sort_base + b->off +
	    2, b->len);
}

/* sorter_spill - sort what is in memory and write it as a run. */
static int
sorter_spill(struct sorter *so)
{
	char path[4200];
	FILE *f;
	int fd;

	if (so->n == 0)
		return 0;
	if (so->n_runs == sizeof(so->runs) / sizeof(so->runs[0]))
		return ERR_LIMIT;
	sort_base = so->arena;
	qsort(so->refs, so->n, sizeof(*so->refs), cmp_ref);
	if (str_fmt(path, sizeof(path), "%s/dir-sort.XXXXXX", so->dir) < 0)
		return ERR_LIMIT;
	fd = mkstemp(path);
	if (fd < 0)
		return ERR_IO;
	(void)unlink(path);
	f = fdopen(fd, "w+b");
	if (f == NULL) {
		close(fd);
		return ERR_IO;
	}
	so->runs[so->n_runs++] = f;
	for (size_t i = 0; i < so->n; i++) {
		const unsigned char *e = so->arena + so->refs[i].off;
		size_t len = 2 + (size_t)so->refs[i].len;
		if (fwrite(e, 1, len, f) != len)
			return ERR_IO;
	}
	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		return ERR_IO;
	so->n = 0;
	so->used = 0;
	return 0;
}

static int
sorter_add(struct sorter *so, const unsigned char *term, size_t n,
	   uint32_t id)
{
	size_t len = n + 5;
	uint64_t pfx = 0;
	int rc;

	if (len > 0xffff)
		return ERR_LIMIT;
	if (so->used + 2 + len > so->cap || so->n == so->cap_refs) {
		if ((rc = sorter_spill(so)) < 0)
			return rc;
	}
	unsigned char *e = so->arena + so->used;
	e[0] = (unsigned char)(len >> 8);
	e[1] = (unsigned char)len;
	memcpy(e + 2, term, n);
	e[2 + n] = 0;
	be32_put(e + 3 + n, id);
	for (size_t i = 0; i < 8; i++)
		pfx = pfx << 8 | (i < len ? e[2 + i] : 0);
	so->refs[so->n].pfx = pfx;
	so->refs[so->n].off = (uint32_t)so->used;
	so->refs[so->n].len = (uint32_t)len;
	so->n++;
	so->used += 2 + len;
	return 0;
}

struct run_head {
	unsigned char e[2 + 0xffff];
	bool live;
};

static int
run_next(FILE *f, struct run_head *h)
{
	size_t len;
	if (fread(h->e, 1, 2, f) != 2) {
		h->live = false;
		return ferror(f) ? ERR_IO : 0;
	}
	len = (size_t)h->e[0] << 8 | h->e[1];
	if (len < 5 || fread(h->e + 2, 1, len, f) != len)
		return ERR_IO;
	h->live = true;
	return 0;
}

/* ---- posting lists ---- */

/*
 * Terms shared by many records (profession and specialty codes,
 * postcodes, cities, organizations, given names) collect their record
 * ids in memory, one list per term: four bytes a record, and no sorting
 * of entries that all start alike. Names, identifiers and addresses,
 * nearly one term a record, go through the sorter.
 */
struct posting {
	unsigned char *term;
	size_t tlen;
	uint64_t hash;
	uint32_t *ids;
	uint32_t n, cap;
	bool unsorted;
};

struct postings {
	struct posting *tab;
	size_t cap, n;
};

static bool
posting_tag(unsigned char tag)
{
	return tag == 'C' || tag == 'G' || tag == 'O' || tag == 'P' ||
	    tag == 'S' || tag == 'T';
}

static uint64_t
bytes_hash(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void
postings_free(struct postings *p)
{
	for (size_t i = 0; i < p->cap; i++) {
		free(p->tab[i].term);
		free(p->tab[i].ids);
	}
	free(p->tab);
	memset(p, 0, sizeof(*p));
}

static int
postings_grow(struct postings *p)
{
	size_t cap = p->cap ? p->cap * 2 : 4096;
	struct posting *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < p->cap; i++) {
		if (p->tab[i].term == NULL)
			continue;
		size_t j = (size_t)(p->tab[i].hash % cap);
		while (t[j].term != NULL)
			j = (j + 1) % cap;
		t[j] = p->tab[i];
	}
	free(p->tab);
	p->tab = t;
	p->cap = cap;
	return 0;
}

static int
postings_add(struct postings *p, const unsigned char *term, size_t n,
	     uint32_t id)
{
	uint64_t h = bytes_hash(term, n);
	struct posting *e;
	int rc;

	if (2 * (p->n + 1) > p->cap && (rc = postings_grow(p)) < 0)
		return rc;
	size_t j = (size_t)(h % p->cap);
	for (;;) {
		e = &p->tab[j];
		if (e->term == NULL || (e->hash == h && e->tlen == n &&
		    memcmp(e->term, term, n) == 0))
			break;
		j = (j + 1) % p->cap;
	}
	if (e->term == NULL) {
		e->term = malloc(n);
		if (e->term == NULL)
			return ERR_NOMEM;
		memcpy(e->term, term, n);
		e->tlen = n;
		e->hash = h;
		p->n++;
	}
	if (e->n > 0 && e->ids[e->n - 1] == id)
		return 0;
	if (e->n > 0 && e->ids[e->n - 1] > id)
		e->unsorted = true;
	if (e->n == e->cap) {
		uint32_t cap = e->cap ? e->cap * 2 : 4;
		uint32_t *ids = realloc(e->ids, cap * sizeof(*ids));
		if (ids == NULL)
			return ERR_NOMEM;
		e->ids = ids;
		e->cap = cap;
	}
	e->ids[e->n++] = id;
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int
cmp_posting(const void *a, const void *b)
{
	const struct posting *x = *(const struct posting *const *)a;
	const struct posting *y = *(const struct posting *const *)b;
	int c = memcmp(x->term, y->term, x->tlen < y->tlen ? x->tlen :
	    y->tlen);
	return c != 0 ? c : (x->tlen > y->tlen) - (x->tlen < y->tlen);
}

/* ---- the import ---- */

struct bitmap {
	uint8_t *b;
	size_t bits;
};

/* A set of 64-bit key hashes (0 is never one). */
struct hset {
	uint64_t *h;
	size_t n, cap;
};

struct dir_import_state {
	enum import_mode mode;
	struct store *st;
	struct dirset cur, other;
	MDB_txn *rtxn;			/* the current set, as it was */
	MDB_txn *wtxn;			/* rebuild: the open chunk */
	struct store_wtxn w;
	size_t in_chunk;
	struct bitmap seen;		/* current ids the file listed */
	struct bitmap applied;		/* in place: ids written */
	struct hset apply;		/* in place: keys to write (from the
					 * first pass: new, changed, merged) */
	struct hset newkeys;		/* first pass: keys not stored yet */
	uint64_t skipped;		/* in place: unchanged, not read again */
	uint32_t next_id;
	uint32_t max_id_written;
	uint32_t file_id;
	/* rebuild: keys new to the directory met so far (hash -> id), to
	 * merge a second line of one of them */
	uint64_t *nk_hash;
	uint32_t *nk_id;
	size_t nk_n, nk_cap;
	struct sorter so;
	struct postings post;
	struct dir_record old;		/* scratch */
	struct dir_record tmp;
	unsigned char vb[DIR_VAL_MAX];
};

static int
bm_set(struct bitmap *m, uint32_t id)
{
	if (id >= m->bits) {
		size_t bits = m->bits ? m->bits : 1 << 16;
		while (bits <= id)
			bits *= 2;
		uint8_t *p = realloc(m->b, bits / 8);
		if (p == NULL)
			return ERR_NOMEM;
		memset(p + m->bits / 8, 0, (bits - m->bits) / 8);
		m->b = p;
		m->bits = bits;
	}
	m->b[id / 8] |= (uint8_t)(1u << (id % 8));
	return 0;
}

static bool
bm_has(const struct bitmap *m, uint32_t id)
{
	return id < m->bits && (m->b[id / 8] & (1u << (id % 8)));
}

static void
bm_free(struct bitmap *m)
{
	free(m->b);
	m->b = NULL;
	m->bits = 0;
}

static int
seen_mark(struct dir_import_state *s, uint32_t id)
{
	return bm_set(&s->seen, id);
}

static bool
seen_has(const struct dir_import_state *s, uint32_t id)
{
	return bm_has(&s->seen, id);
}

static int
hset_add(struct hset *t, uint64_t h)
{
	if (2 * (t->n + 1) > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1 << 12;
		uint64_t *v = calloc(cap, sizeof(*v));
		if (v == NULL)
			return ERR_NOMEM;
		for (size_t i = 0; i < t->cap; i++) {
			if (t->h[i] == 0)
				continue;
			size_t j = (size_t)(t->h[i] % cap);
			while (v[j] != 0)
				j = (j + 1) % cap;
			v[j] = t->h[i];
		}
		free(t->h);
		t->h = v;
		t->cap = cap;
	}
	size_t j = (size_t)(h % t->cap);
	while (t->h[j] != 0 && t->h[j] != h)
		j = (j + 1) % t->cap;
	if (t->h[j] == 0) {
		t->h[j] = h;
		t->n++;
	}
	return 0;
}

static bool
hset_has(const struct hset *t, uint64_t h)
{
	if (t->cap == 0)
		return false;
	size_t j = (size_t)(h % t->cap);
	while (t->h[j] != 0) {
		if (t->h[j] == h)
			return true;
		j = (j + 1) % t->cap;
	}
	return false;
}

static uint64_t
key_hash(const char *key)
{
	/* 0 marks an empty slot */
	return bytes_hash((const unsigned char *)key, strlen(key)) | 1;
}

static int
nk_add(struct dir_import_state *s, uint64_t h, uint32_t id)
{
	if (2 * (s->nk_n + 1) > s->nk_cap) {
		size_t cap = s->nk_cap ? s->nk_cap * 2 : 1 << 16;
		uint64_t *hh = calloc(cap, sizeof(*hh));
		uint32_t *ii = calloc(cap, sizeof(*ii));
		if (hh == NULL || ii == NULL) {
			free(hh);
			free(ii);
			return ERR_NOMEM;
		}
		for (size_t k = 0; k < s->nk_cap; k++) {
			if (s->nk_hash[k] == 0)
				continue;
			size_t j = (size_t)(s->nk_hash[k] % cap);
			while (hh[j] != 0)
				j = (j + 1) % cap;
			hh[j] = s->nk_hash[k];
			ii[j] = s->nk_id[k];
		}
		free(s->nk_hash);
		free(s->nk_id);
		s->nk_hash = hh;
		s->nk_id = ii;
		s->nk_cap = cap;
	}
	size_t j = (size_t)(h % s->nk_cap);
	while (s->nk_hash[j] != 0)
		j = (j + 1) % s->nk_cap;
	s->nk_hash[j] = h;
	s->nk_id[j] = id;
	s->nk_n++;
	return 0;
}

static void
id_val(unsigned char kb[4], uint32_t id, MDB_val *k)
{
	be32_put(kb, id);
	k->mv_data = kb;
	k->mv_size = 4;
}

/* drop_resident - give back the pages of the map this process has read:
 * they stay in the page cache, but a rebuild that reads a whole set
 * would otherwise count it all as its own memory. LMDB does not say
 * where its map is (me_mapaddr is set only for fixed maps): the kernel
 * does. */
static void
drop_resident(struct store *st)
{
	char line[4600], want[4200], real[4096];
	FILE *f;

	if (realpath(st->dir, real) == NULL ||
	    str_fmt(want, sizeof(want), "%s/data.mdb", real) < 0 ||
	    (f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');
		if (path == NULL)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, want) != 0)
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
	}
	(void)fclose(f);
}

static int
sort_term(const unsigned char *term, size_t n, void *arg)
{
	struct dir_import_state *s = arg;
	if (n > 0 && posting_tag(term[0]))
		return postings_add(&s->post, term, n, s->tmp.id);
	return sorter_add(&s->so, term, n, s->tmp.id);
}

/* sort_terms - the natural key (under a 0 byte, which no index tag
 * uses) and the index entries of r (id r->id) into the sorter. */
static int
sort_terms(struct dir_import_state *s, const struct dir_record *r,
	   const char *key)
{
	unsigned char kb[DIR_KEY_MAX + 1];
	size_t n = strlen(key);
	int rc;

	if (n == 0 || n >= DIR_KEY_MAX)
		return ERR_INVAL;
	kb[0] = 0;
	memcpy(kb + 1, key, n);
	if ((rc = sorter_add(&s->so, kb, n + 1, r->id)) < 0)
		return rc;
	s->tmp.id = r->id;
	return dir_terms_each(r, sort_term, s);
}

/* sort_new_terms - after a merge: the entries of r that before had not
 * (the merge only adds mailboxes and phones). */
static int
sort_new_terms(struct dir_import_state *s, const struct dir_record *r)
{
	s->tmp.id = r->id;
	return dir_terms_each(r, sort_term, s);	/* doubles are dropped */
}

static int
chunk_begin(struct dir_import_state *s)
{
	int rc = mdb_txn_begin(s->st->env, NULL, 0, &s->wtxn);
	if (rc != 0)
		return store_err(rc);
	s->w.st = s->st;
	s->w.txn = s->wtxn;
	s->in_chunk = 0;
	return 0;
}

static int
chunk_commit(struct dir_import_state *s)
{
	int rc = mdb_txn_commit(s->wtxn);
	s->wtxn = NULL;
	s->w.txn = NULL;
	if (rc != 0)
		return store_err(rc);
	drop_resident(s->st);
	return 0;
}

/* chunk_step - one more record in this chunk; commit and open the next
 * one when it is full. */
static int
chunk_step(struct dir_import_state *s)
{
	int rc;
	if (++s->in_chunk < DIR_CHUNK)
		return 0;
	if ((rc = chunk_commit(s)) < 0)
		return rc;
	return chunk_begin(s);
}

/* put_rebuild - one record of the file into the other set: records are
 * appended (new ids only grow), their natural keys and index entries go
 * to the sorter, so nothing is inserted at random. */
static int
put_rebuild(struct dir_import *imp, struct dir_record *rec)
{
	struct dir_import_state *s = imp->st;
	MDB_txn *w = s->wtxn;
	unsigned char kb[4];
	MDB_val k, v;
	uint32_t id, prev = 0;
	size_t len;
	uint64_t h = 0;
	int rc;

	rc = dir_key_to_id(s->rtxn, s->cur.key, rec->key, &id);
	if (rc < 0)
		return rc;
	if (rc == 1 && seen_has(s, id)) {
		prev = id;
	} else if (rc == 0) {
		h = key_hash(rec->key);
		/* the table is at most half full: the probe ends */
		for (size_t i = s->nk_cap ? (size_t)(h % s->nk_cap) : 0;
		    s->nk_cap > 0 && s->nk_hash[i] != 0;
		    i = (i + 1) % s->nk_cap) {
			if (s->nk_hash[i] != h)
				continue;
			rc = dir_get_txn(w, s->st, &s->other, s->nk_id[i],
			    &s->old);
			if (rc < 0)
				return rc;
			if (rc == 1 && strcmp(s->old.key, rec->key) == 0) {
				prev = s->nk_id[i];
				break;
			}
		}
		rc = 0;
	}
	if (prev != 0) {
		/* seen earlier in this file: merge into what was written */
		imp->merged_r++;
		rc = dir_get_txn(w, s->st, &s->other, prev, &s->old);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_CORRUPT;
		if (!dir_merge(&s->old, rec))
			return 0;
		if ((rc = dir_put_record(w, s->other.rec, &s->old, s->file_id,
		    0)) < 0)
			return rc;
		return sort_new_terms(s, &s->old);
	}
	if (rc == 0) {
		rec->id = s->next_id++;
		if ((rc = nk_add(s, h, rec->id)) < 0)
			return rc;
		imp->added_r++;
	} else {
		rec->id = id;
		if ((rc = seen_mark(s, id)) < 0)
			return rc;
		id_val(kb, id, &k);
		rc = mdb_get(s->rtxn, s->cur.rec, &k, &v);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? ERR_CORRUPT : store_err(rc);
		const unsigned char *op;
		size_t on;
		if ((rc = dir_imported_part(&v, &op, &on)) < 0 ||
		    (rc = dir_encode_imported(rec, s->vb, sizeof(s->vb),
		    &len)) < 0)
			return rc;
		dir_record_init(&s->old);
		if ((rc = dir_decode(&v, &s->old)) < 0)
			return rc;
		dir_copy_local(rec, &s->old);
		if (len == on && memcmp(op, s->vb, on) == 0) {
			/* unchanged: the stored value as it was */
			imp->unchanged_r++;
			rc = mdb_put(w, s->other.rec, &k, &v, id >
			    s->max_id_written ? MDB_APPEND : 0);
			if (rc != 0)
				return store_err(rc);
			if (id > s->max_id_written)
				s->max_id_written = id;
			if ((rc = sort_terms(s, rec, rec->key)) < 0)
				return rc;
			return chunk_step(s);
		}
		imp->changed_r++;
	}
	if ((rc = dir_put_record(w, s->other.rec, rec, s->file_id,
	    rec->id > s->max_id_written ? MDB_APPEND : 0)) < 0 ||
	    (rc = sort_terms(s, rec, rec->key)) < 0)
		return rc;
	if (rec->id > s->max_id_written)
		s->max_id_written = rec->id;
	return chunk_step(s);
}

/* put_inplace - one record against the current set, in the one write
 * transaction. */
static int
put_inplace(struct dir_import *imp, struct dir_record *rec)
{
	struct dir_import_state *s = imp->st;
	MDB_txn *w = s->wtxn;
	unsigned char kb[4];
	MDB_val k, v;
	const unsigned char *op;
	size_t on, len;
	uint32_t id;
	int rc;

	/* what the first pass found unchanged is not looked at again */
	if (!hset_has(&s->apply, key_hash(rec->key))) {
		s->skipped++;
		return 0;
	}
	rc = dir_key_to_id(w, s->cur.key, rec->key, &id);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		rec->id = s->next_id++;
		if ((rc = dir_put_record(w, s->cur.rec, rec, s->file_id,
		    MDB_APPEND)) < 0 ||
		    (rc = dir_put_key(w, s->cur.key, rec->key, rec->id)) < 0 ||
		    (rc = dir_index_update(w, s->cur.idx, rec->id, NULL,
		    rec)) < 0 || (rc = bm_set(&s->applied, rec->id)) < 0 ||
		    (rc = seen_mark(s, rec->id)) < 0)
			return rc;
		imp->added_r++;
		return 0;
	}
	rec->id = id;
	if (bm_has(&s->applied, id)) {
		imp->merged_r++;
		rc = dir_get_txn(w, s->st, &s->cur, id, &s->old);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_CORRUPT;
		s->tmp = s->old;
		if (!dir_merge(&s->old, rec))
			return 0;
		if ((rc = dir_index_update(w, s->cur.idx, id, &s->tmp,
		    &s->old)) < 0)
			return rc;
		return dir_put_record(w, s->cur.rec, &s->old, s->file_id, 0);
	}
	if ((rc = bm_set(&s->applied, id)) < 0)
		return rc;
	id_val(kb, id, &k);
	rc = mdb_get(w, s->cur.rec, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? ERR_CORRUPT : store_err(rc);
	if ((rc = dir_imported_part(&v, &op, &on)) < 0 ||
	    (rc = dir_encode_imported(rec, s->vb, sizeof(s->vb), &len)) < 0)
		return rc;
	if (len == on && memcmp(op, s->vb, on) == 0) {
		imp->unchanged_r++;
		return 0;
	}
	dir_record_init(&s->old);
	s->old.id = id;
	if ((rc = dir_decode(&v, &s->old)) < 0)
		return rc;
	dir_copy_local(rec, &s->old);
	if ((rc = dir_index_update(w, s->cur.idx, id, &s->old, rec)) < 0 ||
	    (rc = dir_put_record(w, s->cur.rec, rec, s->file_id, 0)) < 0)
		return rc;
	imp->changed_r++;
	return 0;
}

/* put_dry - count what the record would change, and remember its key
 * when it changes something (the in-place pass writes only those). */
static int
put_dry(struct dir_import *imp, struct dir_record *rec)
{
	struct dir_import_state *s = imp->st;
	unsigned char kb[4];
	MDB_val k, v;
	const unsigned char *op;
	size_t on, len;
	uint32_t id;
	uint64_t h = key_hash(rec->key);
	int rc = dir_key_to_id(s->rtxn, s->cur.key, rec->key, &id);

	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (hset_has(&s->newkeys, h))
			imp->merged_r++;
		else
			imp->added_r++;
		if ((rc = hset_add(&s->newkeys, h)) < 0)
			return rc;
		return hset_add(&s->apply, h);
	}
	if (seen_has(s, id)) {
		imp->merged_r++;
		return hset_add(&s->apply, h);
	}
	if ((rc = seen_mark(s, id)) < 0)
		return rc;
	id_val(kb, id, &k);
	rc = mdb_get(s->rtxn, s->cur.rec, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? ERR_CORRUPT : store_err(rc);
	if ((rc = dir_imported_part(&v, &op, &on)) < 0 ||
	    (rc = dir_encode_imported(rec, s->vb, sizeof(s->vb), &len)) < 0)
		return rc;
	if (len == on && memcmp(op, s->vb, on) == 0) {
		imp->unchanged_r++;
		return 0;
	}
	imp->changed_r++;
	return hset_add(&s->apply, h);
}

int
store_dir_import_put(struct dir_import *imp, struct dir_record *rec)
{
	struct dir_import_state *s = imp->st;
	int rc;

	if (s == NULL || dir_source_of_key(rec->key) != imp->source)
		return ERR_INVAL;
	rec->src_date = imp->now;
	/* the passes that read the whole current set through the map */
	if (s->mode != MODE_REBUILD && ++s->in_chunk % DIR_DROP_EVERY == 0)
		drop_resident(s->st);
	if (s->mode != MODE_DRY && s->file_id == 0 &&
	    (rc = dir_file_register(&s->w, rec->src_file, &s->file_id)) < 0)
		return rc;
	switch (s->mode) {
	case MODE_DRY:
		return put_dry(imp, rec);
	case MODE_INPLACE:
		return put_inplace(imp, rec);
	default:
		return put_rebuild(imp, rec);
	}
}

/* ---- the passes ---- */

struct gone {
	struct dir_import_state *s;
	MDB_txn *txn;			/* in place: remove as found */
	uint32_t *ids;
	char (*keys)[DIR_KEY_MAX];
	size_t n, cap, walked;
};

static int
collect_gone(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct gone *g = arg;
	uint32_t id;

	if (v->mv_size != 4 || k->mv_size >= DIR_KEY_MAX)
		return ERR_CORRUPT;
	id = be32_get(v->mv_data);
	if (++g->walked % (DIR_DROP_EVERY * 8) == 0)
		drop_resident(g->s->st);
	if (seen_has(g->s, id))
		return 0;
	if (g->n == g->cap && g->txn != NULL) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		uint32_t *ids = realloc(g->ids, cap * sizeof(*ids));
		if (ids == NULL)
			return ERR_NOMEM;
		g->ids = ids;
		char (*keys)[DIR_KEY_MAX] = realloc(g->keys,
		    cap * sizeof(*keys));
		if (keys == NULL)
			return ERR_NOMEM;
		g->keys = keys;
		g->cap = cap;
	}
	if (g->txn != NULL) {
		g->ids[g->n] = id;
		memcpy(g->keys[g->n], k->mv_data, k->mv_size);
		g->keys[g->n][k->mv_size] = '\0';
	}
	g->n++;
	return 0;
}

/* count_gone - records of the source the file did not list; in place,
 * they are removed. */
static int
count_gone(struct dir_import *imp, MDB_txn *txn, bool remove)
{
	struct dir_import_state *s = imp->st;
	const char *pfx = dir_source_prefix(imp->source);
	struct gone g = { s, remove ? txn : NULL, NULL, NULL, 0, 0, 0 };
	int rc = store_walk_prefix(txn, s->cur.key, pfx, strlen(pfx),
	    collect_gone, &g);

	for (size_t i = 0; rc == 0 && remove && i < g.n; i++) {
		rc = dir_remove_record(txn, s->st, &s->cur, g.ids[i],
		    g.keys[i]);
		if (i % (DIR_DROP_EVERY / 4) == 0)
			drop_resident(s->st);
	}
	free(g.ids);
	free(g.keys);
	if (rc == 0)
		imp->removed_r = g.n;
	return rc;
}

static int
put_meta_u64(MDB_txn *txn, struct store *st, const char *name, uint64_t v)
{
	unsigned char vb[8];
	MDB_val k = { strlen(name), (void *)name }, val = { 8, vb };
	be64_put(vb, v);
	return store_err(mdb_put(txn, st->dbi[DB_META], &k, &val, 0));
}

/* finish_meta - the id counter and the time of this source's import. */
static int
finish_meta(struct dir_import *imp, MDB_txn *txn)
{
	char name[32];
	int rc = put_meta_u64(txn, imp->st->st, "dir_next_id",
	    imp->st->next_id);
	if (rc < 0)
		return rc;
	if (str_fmt(name, sizeof(name), "dir_import_%s",
	    dir_source_name(imp->source)) < 0)
		return ERR_LIMIT;
	return put_meta_u64(txn, imp->st->st, name, (uint64_t)imp->now);
}

static int
read_next_id(struct dir_import_state *s, MDB_txn *txn)
{
	MDB_val k = { 11, "dir_next_id" }, v;
	int rc = mdb_get(txn, s->st->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		s->next_id = 1;
		return 0;
	}
	if (rc != 0)
		return store_err(rc);
	if (v.mv_size != 8 || be64_get(v.mv_data) > UINT32_MAX - 1)
		return ERR_CORRUPT;
	s->next_id = (uint32_t)be64_get(v.mv_data);
	if (s->next_id == 0)
		s->next_id = 1;
	return 0;
}

static bool
nothing_read(const struct dir_import *imp)
{
	return imp->added_r + imp->changed_r + imp->unchanged_r == 0;
}

static void
reset_counts(struct dir_import *imp)
{
	imp->added_r = imp->changed_r = imp->removed_r = 0;
	imp->unchanged_r = imp->merged_r = 0;
}

static int
pass_dry(struct dir_import *imp)
{
	struct dir_import_state *s = imp->st;
	int rc;

	s->mode = MODE_DRY;
	imp->pass++;
	reset_counts(imp);
	rc = imp->run(imp->ctx, imp);
	if (rc == 0)
		rc = count_gone(imp, s->rtxn, false);
	return rc;
}

static int
pass_inplace(struct dir_import *imp)
{
	struct dir_import_state *s = imp->st;
	int rc;

	s->mode = MODE_INPLACE;
	imp->pass++;
	reset_counts(imp);
	s->skipped = 0;
	/* the first pass's "seen" stays: it says what is gone */
	if ((rc = chunk_begin(s)) < 0)
		return rc;
	if ((rc = read_next_id(s, s->wtxn)) == 0)
		rc = imp->run(imp->ctx, imp);
	imp->unchanged_r += s->skipped;
	if (rc == 0 && nothing_read(imp))
		rc = ERR_PROTO;
	if (rc == 0)
		rc = count_gone(imp, s->wtxn, true);
	if (rc == 0)
		rc = finish_meta(imp, s->wtxn);
	if (rc < 0) {
		mdb_txn_abort(s->wtxn);
		s->wtxn = NULL;
		return rc;
	}
	imp->mode_r = "in place";
	return chunk_commit(s);
}

static int
copy_other_source(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct dir_import *imp = arg;
	struct dir_import_state *s = imp->st;
	char key[DIR_KEY_MAX];
	unsigned char kb[4];
	MDB_val rk, rv;
	uint32_t id;
	int rc;

	if (v->mv_size != 4 || k->mv_size >= sizeof(key))
		return ERR_CORRUPT;
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	if (dir_source_of_key(key) == imp->source)
		return 0;
	id = be32_get(v->mv_data);
	id_val(kb, id, &rk);
	rc = mdb_get(s->rtxn, s->cur.rec, &rk, &rv);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? ERR_CORRUPT : store_err(rc);
	dir_record_init(&s->old);
	s->old.id = id;
	if ((rc = dir_decode(&rv, &s->old)) < 0)
		return rc;
	if ((rc = mdb_put(s->wtxn, s->other.rec, &rk, &rv, 0)) != 0)
		return store_err(rc);
	if (id > s->max_id_written)
		s->max_id_written = id;
	if ((rc = sort_terms(s, &s->old, key)) < 0)
		return rc;
	return chunk_step(s);
}

/* apply_sorted - merge the runs and append every index entry, in key
 * and id order, to the other set's index. */
/* Cursors of the apply phase, opened again with each transaction. */
struct apply {
	MDB_cursor *key, *idx;
	size_t n;
};

static int
apply_open(struct dir_import_state *s, struct apply *a)
{
	int rc;
	if ((rc = chunk_begin(s)) < 0)
		return rc;
	if ((rc = mdb_cursor_open(s->wtxn, s->other.key, &a->key)) != 0 ||
	    (rc = mdb_cursor_open(s->wtxn, s->other.idx, &a->idx)) != 0)
		return store_err(rc);
	return 0;
}

/* apply_step - n more entries; commit and go on in a new transaction
 * past the chunk (the cursors end with their transaction). */
static int
apply_step(struct dir_import_state *s, struct apply *a, size_t n)
{
	size_t before = a->n / DIR_IDX_CHUNK;
	int rc;
	a->n += n;
	if (a->n / DIR_IDX_CHUNK == before)
		return 0;
	if ((rc = chunk_commit(s)) < 0)
		return rc;
	return apply_open(s, a);
}

/* put_posting - a whole list under its term, ids in order, given to
 * LMDB as one array (MDB_MULTIPLE). */
static int
put_posting(struct dir_import_state *s, struct posting *p, struct apply *a)
{
	MDB_val k = { p->tlen, p->term }, v[2];
	uint32_t m = 0;
	int rc;

	if (p->unsorted)
		qsort(p->ids, p->n, sizeof(*p->ids), cmp_u32);
	for (uint32_t i = 0; i < p->n; i++)
		if (m == 0 || p->ids[i] != p->ids[m - 1])
			p->ids[m++] = p->ids[i];
	for (uint32_t i = 0; i < m; ) {
		size_t left = DIR_IDX_CHUNK - a->n % DIR_IDX_CHUNK;
		size_t cnt = m - i < left ? m - i : left;
		v[0].mv_size = sizeof(unsigned int);
		v[0].mv_data = p->ids + i;
		v[1].mv_size = cnt;
		v[1].mv_data = NULL;
		rc = mdb_cursor_put(a->idx, &k, v, MDB_APPENDDUP |
		    MDB_MULTIPLE);
		if (rc != 0)
			return store_err(rc);
		if (v[1].mv_size != cnt)
			return ERR_IO;
		i += (uint32_t)cnt;
		if ((rc = apply_step(s, a, cnt)) < 0)
			return rc;
	}
	return 0;
}

static int
apply_sorted(struct dir_import_state *s)
{
	struct run_head *h;
	unsigned char last[2 + 0xffff];
	bool have_last = false;
	size_t np = 0, ip = 0;
	struct posting **pl = NULL;
	struct apply a = { NULL, NULL, 0 };
	int rc;

	if ((rc = sorter_spill(&s->so)) < 0)
		return rc;
	if (s->post.n > 0) {
		pl = malloc(s->post.n * sizeof(*pl));
		if (pl == NULL)
			return ERR_NOMEM;
		for (size_t i = 0; i < s->post.cap; i++)
			if (s->post.tab[i].term != NULL)
				pl[np++] = &s->post.tab[i];
		qsort(pl, np, sizeof(*pl), cmp_posting);
	}
	h = calloc(s->so.n_runs ? s->so.n_runs : 1, sizeof(*h));
	if (h == NULL) {
		free(pl);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < s->so.n_runs; i++)
		if ((rc = run_next(s->so.runs[i], &h[i])) < 0)
			goto out;
	if ((rc = apply_open(s, &a)) < 0)
		goto out;
	for (;;) {
		struct run_head *min = NULL;
		for (size_t i = 0; i < s->so.n_runs; i++)
			if (h[i].live && (min == NULL ||
			    cmp_entry(h[i].e, min->e) < 0))
				min = &h[i];
		size_t len = min ? (size_t)min->e[0] << 8 | min->e[1] : 0;
		size_t tl = len - 5;
		/* the posting lists come in where their terms sort */
		if (ip < np && (min == NULL || cmp_bytes(pl[ip]->term,
		    pl[ip]->tlen, min->e + 2, tl) < 0)) {
			if ((rc = put_posting(s, pl[ip++], &a)) < 0)
				goto out;
			continue;
		}
		if (min == NULL)
			break;
		if (!have_last || cmp_entry(last, min->e) != 0) {
			const unsigned char *term = min->e + 2;
			unsigned int idv = be32_get(term + tl + 1);
			MDB_val k = { tl, (void *)term }, v = { 4, &idv };
			if (tl > 0 && term[0] == 0) {
				/* a natural key: its record id, big-endian */
				k.mv_data = (void *)(term + 1);
				k.mv_size = tl - 1;
				v.mv_data = (void *)(term + tl + 1);
				rc = mdb_cursor_put(a.key, &k, &v, MDB_APPEND);
			} else {
				rc = mdb_cursor_put(a.idx, &k, &v,
				    MDB_APPENDDUP);
			}
			if (rc != 0) {
				rc = store_err(rc);
				goto out;
			}
			memcpy(last, min->e, 2 + len);
			have_last = true;
			if ((rc = apply_step(s, &a, 1)) < 0)
				goto out;
		}
		if ((rc = run_next(s->so.runs[min - h], min)) < 0)
			goto out;
	}
	rc = chunk_commit(s);
out:
	if (rc < 0 && s->wtxn != NULL) {
		mdb_txn_abort(s->wtxn);
		s->wtxn = NULL;
	}
	free(h);
	free(pl);
	return rc;
}

static int
clear_set(MDB_txn *txn, const struct dirset *ds)
{
	int rc;
	if ((rc = mdb_drop(txn, ds->rec, 0)) != 0 ||
	    (rc = mdb_drop(txn, ds->key, 0)) != 0 ||
	    (rc = mdb_drop(txn, ds->idx, 0)) != 0)
		return store_err(rc);
	return 0;
}

static int
pass_rebuild(struct dir_import *imp)
{
	struct dir_import_state *s = imp->st;
	unsigned char one;
	MDB_val k, v;
	int rc;

	s->mode = MODE_REBUILD;
	imp->pass++;
	reset_counts(imp);
	bm_free(&s->seen);
	s->max_id_written = 0;
	if ((rc = read_next_id(s, s->rtxn)) < 0 ||
	    (rc = sorter_init(&s->so, s->st->dir)) < 0)
		return rc;
	/* a rebuild that died left the other set half made */
	if ((rc = chunk_begin(s)) < 0)
		goto fail;
	if ((rc = clear_set(s->wtxn, &s->other)) < 0)
		goto fail;
	rc = store_walk_prefix(s->rtxn, s->cur.key, "", 0, copy_other_source,
	    imp);
	if (rc == 0)
		rc = imp->run(imp->ctx, imp);
	if (rc == 0 && nothing_read(imp))
		rc = ERR_PROTO;
	if (rc < 0)
		goto fail;
	if ((rc = chunk_commit(s)) < 0 || (rc = apply_sorted(s)) < 0 ||
	    (rc = count_gone(imp, s->rtxn, false)) < 0)
		goto fail;
	/* the one commit that readers see */
	if ((rc = chunk_begin(s)) < 0)
		goto fail;
	one = (unsigned char)s->other.which;
	k.mv_data = "dir_set";
	k.mv_size = 7;
	v.mv_data = &one;
	v.mv_size = 1;
	if ((rc = mdb_put(s->wtxn, s->st->dbi[DB_META], &k, &v, 0)) != 0) {
		rc = store_err(rc);
		goto fail;
	}
	if ((rc = finish_meta(imp, s->wtxn)) < 0 ||
	    (rc = chunk_commit(s)) < 0)
		goto fail;
	sorter_free(&s->so);
	postings_free(&s->post);
	imp->mode_r = "rebuilt";
	/* the old set is garbage now: give its pages back */
	mdb_txn_abort(s->rtxn);
	s->rtxn = NULL;
	if (chunk_begin(s) == 0) {
		if (clear_set(s->wtxn, &s->cur) == 0)
			(void)chunk_commit(s);
		else {
			mdb_txn_abort(s->wtxn);
			s->wtxn = NULL;
		}
	}
	return 0;
fail:
	if (s->wtxn != NULL) {
		mdb_txn_abort(s->wtxn);
		s->wtxn = NULL;
	}
	sorter_free(&s->so);
	postings_free(&s->post);
	return rc;
}

static bool
source_empty(struct dir_import_state *s, uint8_t source)
{
	const char *pfx = dir_source_prefix(source);
	MDB_cursor *c;
	MDB_val k = { strlen(pfx), (void *)pfx }, v;
	bool empty = true;

	if (mdb_cursor_open(s->rtxn, s->cur.key, &c) != 0)
		return false;
	if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0 &&
	    k.mv_size >= strlen(pfx) && memcmp(k.mv_data, pfx,
	    strlen(pfx)) == 0)
		empty = false;
	mdb_cursor_close(c);
	return empty;
}

int
store_dir_lock(struct store *st, bool wait)
{
	char path[4200];
	int fd;

	if (str_fmt(path, sizeof(path), "%s/dir-import.lock", st->dir) < 0)
		return ERR_LIMIT;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ERR_IO;
	if (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? ERR_TEMP : ERR_IO;
	}
	return fd;
}

void
store_dir_unlock(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

int
store_dir_import(struct store *st, struct dir_import *imp)
{
	struct dir_import_state *s;
	int lock, rc;

	if (imp->source == DIR_SRC_NONE || imp->source > DIR_SRC_LOCAL ||
	    imp->run == NULL)
		return ERR_INVAL;
	if ((lock = store_dir_lock(st, false)) < 0)
		return lock;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		store_dir_unlock(&lock);
		return ERR_NOMEM;
	}
	s->st = st;
	imp->st = s;
	imp->pass = 0;
	imp->mode_r = NULL;
	if (imp->now == 0)
		imp->now = (int64_t)time(NULL);
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &s->rtxn);
	if (rc != 0) {
		rc = store_err(rc);
		goto out;
	}
	if ((rc = dir_set_current(s->rtxn, st, &s->cur)) < 0)
		goto out;
	dir_set_of(st, !s->cur.which, &s->other);
	if (imp->rebuild || source_empty(s, imp->source)) {
		rc = pass_rebuild(imp);
	} else {
		rc = pass_dry(imp);
		if (rc == 0 && nothing_read(imp))
			rc = ERR_PROTO;
		if (rc == 0 && imp->added_r + imp->changed_r +
		    imp->removed_r <= (imp->inplace_max ? imp->inplace_max :
		    DIR_INPLACE_MAX)) {
			/* the writes below see the current set as it is */
			mdb_txn_abort(s->rtxn);
			s->rtxn = NULL;
			rc = pass_inplace(imp);
		} else if (rc == 0) {
			rc = pass_rebuild(imp);
		}
	}
out:
	if (s->rtxn != NULL)
		mdb_txn_abort(s->rtxn);
	bm_free(&s->seen);
	bm_free(&s->applied);
	free(s->apply.h);
	free(s->newkeys.h);
	free(s->nk_hash);
	free(s->nk_id);
	free(s);
	imp->st = NULL;
	drop_resident(st);
	store_dir_unlock(&lock);
	return rc;
}
