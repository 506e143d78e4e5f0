/* SPDX-License-Identifier: MIT */
/*
 * test_dir_store.c - the directory as the store keeps it: folding of
 * names, imports (added, changed, removed, unchanged, merged counted
 * exactly; a failed import changes nothing; local fields survive a
 * re-import), searches (accent- and case-free prefixes, filters, their
 * combinations, order and pagination), resolution and deletion. Records
 * come from an in-memory reader, so these tests need no file format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/err.h"
#include "core/fold.h"
#include "core/str.h"
#include "store/store.h"
#include "store/store_dir.h"

struct fixture {
	char base[256];
	char dir[300];
	char key[300];
	struct store_opts o;
	struct store *st;
};

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	const char *e = NULL;

	if (f == NULL || sodium_init() < 0)
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/mss-test-dir.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->base) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->base);
	snprintf(f->key, sizeof(f->key), "%s/store.key", f->base);
	f->o.dir = f->dir;
	f->o.key_file = f->key;
	f->o.map_size = 256 << 20;
	f->o.max_dbs = 32;
	f->o.max_readers = 126;
	f->o.batch_max = 512;
	if (store_open(&f->o, &f->st, &e) != 0) {
		fprintf(stderr, "store_open: %s\n", e ? e : "?");
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	store_close(&f->st);
	int r = nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return r;
}

/* ---- an in-memory source ---- */

struct person {
	const char *family, *given, *idnat, *prof, *postcode, *city, *addr,
	    *org;
};

static const struct person people[] = {
	{ "Dupont", "Hélène", "810000000001", "10", "75001", "Paris",
	  "helene.dupont@medecin.mssante.fr", "1750000001" },
	{ "DUPONT", "Jean-François", "810000000002", "60", "69001", "Lyon",
	  "jf.dupont@infirmier.mssante.fr", "1690000001" },
	{ "Dupré", "Zoé", "810000000003", "10", "75001", "Paris",
	  "zoe.dupre@medecin.mssante.fr", "1750000001" },
	{ "Œillet", "Gaël", "810000000004", "21", "25000", "Besançon",
	  "gael.oeillet@pharmacien.mssante.fr", "1250000001" },
	{ "de La Fontaine", "Noël", "810000000005", "10", "45000", "Orléans",
	  "noel.delafontaine@medecin.mssante.fr", "1450000001" },
	{ "Martin", "Françoise", "810000000006", "50", "42000",
	  "Saint-Étienne", "f.martin@sagefemme.mssante.fr", "1420000001" },
	{ "Martin", "Ève", "810000000007", "10", "75001", "Paris",
	  "eve.martin@medecin.mssante.fr", "1750000001" },
	{ "Martinez", "Hélène", "810000000008", "10", "69001", "Lyon",
	  "h.martinez@medecin.mssante.fr", "1690000001" },
};
#define N_PEOPLE (sizeof(people) / sizeof(people[0]))

static void
make(struct dir_record *r, const struct person *p, unsigned line)
{
	dir_record_init(r);
	str_fmt(r->key, sizeof(r->key), "mss:%s", p->addr);
	str_copy(r->family, sizeof(r->family), p->family);
	str_copy(r->given, sizeof(r->given), p->given);
	str_copy(r->idnat, sizeof(r->idnat), p->idnat);
	str_copy(r->rpps, sizeof(r->rpps), p->idnat + 1);
	str_copy(r->profession_code, sizeof(r->profession_code), p->prof);
	str_copy(r->postcode, sizeof(r->postcode), p->postcode);
	str_copy(r->city, sizeof(r->city), p->city);
	str_copy(r->org_id, sizeof(r->org_id), p->org);
	str_copy(r->src_file, sizeof(r->src_file), "test.txt");
	r->src_line = line;
	assert_int_equal(dir_record_add_mailbox(r, p->addr, "PER"), 0);
}

/* A source: which people (bit i), with an optional change to one and a
 * failure after n records. */
struct source {
	unsigned mask;
	int change;		/* index whose city changes, or -1 */
	int fail_after;		/* -1: never */
	int dup;		/* index emitted twice, or -1 */
};

static int
run_source(void *ctx, struct dir_import *imp)
{
	const struct source *s = ctx;
	struct dir_record *r = malloc(sizeof(*r));
	int n = 0, rc = 0;

	assert_non_null(r);
	for (size_t i = 0; i < N_PEOPLE && rc == 0; i++) {
		if (!(s->mask & (1u << i)))
			continue;
		if (s->fail_after >= 0 && n == s->fail_after) {
			rc = ERR_PROTO;
			break;
		}
		make(r, &people[i], (unsigned)i + 2);
		if ((int)i == s->change)
			str_copy(r->city, sizeof(r->city), "Marseille");
		rc = store_dir_import_put(imp, r);
		if (rc == 0 && (int)i == s->dup) {
			make(r, &people[i], (unsigned)i + 2);
			dir_record_add_mailbox(r, "second@box.mssante.fr",
			    "PER");
			rc = store_dir_import_put(imp, r);
		}
		n++;
	}
	free(r);
	return rc;
}

static uint64_t inplace_max;	/* 0: the store's default */

static int
import(struct fixture *f, struct source *s, struct dir_import *imp)
{
	memset(imp, 0, sizeof(*imp));
	imp->inplace_max = inplace_max;
	imp->source = DIR_SRC_MSS;
	imp->run = run_source;
	imp->ctx = s;
	imp->now = 1800000000;
	return store_dir_import(f->st, imp);
}

/* ---- searching ---- */

struct page {
	char names[32][64];
	uint32_t ids[32];
	size_t n;
};

static int
collect(const struct dir_record *r, void *arg)
{
	struct page *p = arg;
	if (p->n < 32) {
		str_fmt(p->names[p->n], sizeof(p->names[0]), "%s %s",
		    r->family, r->given);
		p->ids[p->n] = r->id;
		p->n++;
	}
	return 0;
}

static int
search(struct fixture *f, const struct dir_query *q, struct page *p,
       bool *more)
{
	struct store_rtxn *r;
	memset(p, 0, sizeof(*p));
	assert_int_equal(store_read_begin(f->st, &r), 0);
	int rc = store_dir_search(r, q, collect, p, more);
	store_read_end(&r);
	return rc;
}

static void
test_fold(void **state)
{
	char out[64];
	(void)state;
	static const char *const cases[][2] = {
		{ "Hélène", "helene" }, { "HELENE", "helene" },
		{ "Jean-François", "jean francois" },
		{ "Œillet", "oeillet" }, { "  de  La   Fontaine ", "de la fontaine" },
		{ "Saint-Étienne", "saint etienne" }, { "Ærø ß", "aero ss" },
		{ "Łódź", "lodz" }, { "O\xe2\x80\x99Neil", "o neil" },
		{ "He\xcc\x81le\xcc\x80ne", "helene" },	/* decomposed */
		{ "bad\xff" "byte", "badbyte" }, { "Müller", "muller" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		str_fold(cases[i][0], strlen(cases[i][0]), out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	/* truncation keeps whole letters and terminates */
	assert_true(str_fold("ééééé", 10, out, 4) <= 3);
	assert_int_equal(strlen(out), 3);
}

static void
test_import_counts(void **state)
{
	struct fixture *f = *state;
	struct dir_import imp;
	struct source all = { (1u << N_PEOPLE) - 1, -1, -1, -1 };

	assert_int_equal(import(f, &all, &imp), 0);
	assert_int_equal(imp.added_r, N_PEOPLE);
	assert_int_equal(imp.changed_r + imp.removed_r + imp.unchanged_r, 0);

	/* the same again: nothing to write */
	assert_int_equal(import(f, &all, &imp), 0);
	assert_int_equal(imp.unchanged_r, N_PEOPLE);
	assert_int_equal(imp.added_r + imp.changed_r + imp.removed_r, 0);

	/* one changed, two gone */
	struct source next = { all.mask & ~(1u << 1) & ~(1u << 4), 3, -1,
	    -1 };
	assert_int_equal(import(f, &next, &imp), 0);
	assert_int_equal(imp.changed_r, 1);
	assert_int_equal(imp.removed_r, 2);
	assert_int_equal(imp.unchanged_r, N_PEOPLE - 3);
	assert_int_equal(imp.added_r, 0);

	/* the changed city is what a search now finds */
	struct dir_query q = { .city = "marseille" };
	struct page p;
	assert_int_equal(search(f, &q, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.names[0], "Œillet Gaël");
	q.city = "besancon";
	assert_int_equal(search(f, &q, &p, NULL), 0);
	assert_int_equal(p.n, 0);

	/* a second line for one key merges its mailbox */
	struct source dup = { next.mask, 3, -1, 0 };
	assert_int_equal(import(f, &dup, &imp), 0);
	assert_int_equal(imp.merged_r, 1);
	struct dir_query qa = { .address = "SECOND@box.mssante.fr" };
	assert_int_equal(search(f, &qa, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.names[0], "Dupont Hélène");
}

static void
test_failed_import_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct dir_import imp;
	struct source all = { (1u << N_PEOPLE) - 1, -1, -1, -1 };
	struct source half = { 0x3, 2, 1, -1 };
	struct dir_query q = { .profession = "10" };
	struct page before, after;

	assert_int_equal(import(f, &all, &imp), 0);
	assert_int_equal(search(f, &q, &before, NULL), 0);
	assert_int_equal(before.n, 5);
	assert_int_equal(import(f, &half, &imp), ERR_PROTO);
	assert_int_equal(search(f, &q, &after, NULL), 0);
	assert_memory_equal(&before, &after, sizeof(before));

	/* an empty source would remove everything: refused */
	struct source none = { 0, -1, -1, -1 };
	assert_int_equal(import(f, &none, &imp), ERR_PROTO);
	assert_int_equal(search(f, &q, &after, NULL), 0);
	assert_int_equal(after.n, 5);
}

static void
test_search(void **state)
{
	struct fixture *f = *state;
	struct dir_import imp;
	struct source all = { (1u << N_PEOPLE) - 1, -1, -1, -1 };
	struct page p;
	bool more;

	assert_int_equal(import(f, &all, &imp), 0);
	/* accents and case do not matter, in the query or the record */
	static const char *const forms[] = { "dupont", "DUPONT", "Dupônt",
	    "dup" };
	for (size_t i = 0; i < 4; i++) {
		struct dir_query q = { .family = forms[i] };
		assert_int_equal(search(f, &q, &p, NULL), 0);
		assert_true(p.n >= 2);
		assert_string_equal(p.names[0], "Dupont Hélène");
		assert_string_equal(p.names[1], "DUPONT Jean-François");
	}
	static const char *const helene[] = { "helene", "HELENE", "hél",
	    "Hélène" };
	for (size_t i = 0; i < 4; i++) {
		struct dir_query q = { .given = helene[i] };
		assert_int_equal(search(f, &q, &p, NULL), 0);
		assert_int_equal(p.n, 2);
		assert_string_equal(p.names[0], "Dupont Hélène");
		assert_string_equal(p.names[1], "Martinez Hélène");
	}
	struct dir_query oe = { .family = "oeil" };
	assert_int_equal(search(f, &oe, &p, NULL), 0);
	assert_int_equal(p.n, 1);

	/* filters, alone and together */
	struct dir_query q1 = { .family = "mart", .profession = "10" };
	assert_int_equal(search(f, &q1, &p, NULL), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.names[0], "Martin Ève");
	assert_string_equal(p.names[1], "Martinez Hélène");
	struct dir_query q2 = { .postcode = "75001", .profession = "10",
	    .given = "z" };
	assert_int_equal(search(f, &q2, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.names[0], "Dupré Zoé");
	struct dir_query q3 = { .city = "saint-etienne" };
	assert_int_equal(search(f, &q3, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	struct dir_query q4 = { .org = "1750000001", .family = "d" };
	assert_int_equal(search(f, &q4, &p, NULL), 0);
	assert_int_equal(p.n, 2);
	struct dir_query q5 = { .idnat = "810000000005" };
	assert_int_equal(search(f, &q5, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.names[0], "de La Fontaine Noël");
	struct dir_query q6 = { .rpps = "10000000006" };
	assert_int_equal(search(f, &q6, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	struct dir_query q7 = { .family = "zzz" };
	assert_int_equal(search(f, &q7, &p, NULL), 0);
	assert_int_equal(p.n, 0);

	/* pages of the whole order: no overlap, nothing missed */
	struct dir_query qa = { .profession = "10" };
	struct page whole;
	assert_int_equal(search(f, &qa, &whole, &more), 0);
	assert_int_equal(whole.n, 5);
	assert_false(more);
	for (size_t off = 0; off < 5; off += 2) {
		struct dir_query qp = { .profession = "10", .offset = off,
		    .limit = 2 };
		assert_int_equal(search(f, &qp, &p, &more), 0);
		assert_int_equal(p.n, off + 2 <= 5 ? 2 : 1);
		assert_int_equal(more, off + 2 < 5);
		for (size_t i = 0; i < p.n; i++)
			assert_int_equal(p.ids[i], whole.ids[off + i]);
	}
	/* the same order from the name walk (a name prefix of one letter
	 * with a filter larger than the small-set bound is walked) */
	struct dir_query qn = { .family = "d", .limit = 2 };
	assert_int_equal(search(f, &qn, &p, &more), 0);
	assert_int_equal(p.n, 2);
	assert_true(more);

	/* no criterion, or nothing searchable */
	struct dir_query none = { .limit = 5 };
	assert_int_equal(search(f, &none, &p, NULL), ERR_INVAL);
	struct dir_query punct = { .family = "--" };
	assert_int_equal(search(f, &punct, &p, NULL), ERR_INVAL);
	struct dir_query big = { .family = "d", .limit = 5000 };
	assert_int_equal(search(f, &big, &p, NULL), ERR_INVAL);
}

struct got {
	int n;
	char first[64];
};

static int
got_one(const struct dir_record *r, void *arg)
{
	struct got *g = arg;
	if (g->n++ == 0)
		str_copy(g->first, sizeof(g->first), r->given);
	return 0;
}

static void
test_resolve_local_and_delete(void **state)
{
	struct fixture *f = *state;
	struct dir_import imp;
	struct source all = { (1u << N_PEOPLE) - 1, -1, -1, -1 };
	struct store_rtxn *r;
	struct got g;

	assert_int_equal(import(f, &all, &imp), 0);
	assert_int_equal(store_read_begin(f->st, &r), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_dir_resolve(r, "810000000003", got_one, &g),
	    1);
	assert_string_equal(g.first, "Zoé");
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_dir_resolve(r, "10000000003", got_one, &g), 1);
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_dir_resolve(r, "Eve.Martin@medecin.mssante.fr",
	    got_one, &g), 1);
	assert_string_equal(g.first, "Ève");
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_dir_resolve(r, "role:10@1750000001", got_one,
	    &g), 3);
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_dir_resolve(r, "nobody@x.fr", got_one, &g), 0);
	assert_int_equal(store_dir_has_address(r,
	    "ZOE.DUPRE@medecin.mssante.fr"), 1);
	assert_int_equal(store_dir_has_address(r, "zoe@x.fr"), 0);
	store_read_end(&r);

	/* local fields of an imported record survive its re-import */
	struct dir_record *rec = malloc(sizeof(*rec));
	assert_non_null(rec);
	dir_record_init(rec);
	str_copy(rec->key, sizeof(rec->key),
	    "mss:zoe.dupre@medecin.mssante.fr");
	str_copy(rec->family, sizeof(rec->family), "Ignored");
	rec->n_channels = 2;
	rec->channels[0] = DIR_CH_PUSH;
	rec->channels[1] = DIR_CH_MAIL;
	rec->n_push = 1;
	str_copy(rec->push[0].endpoint, DIR_PUSH_ENDPOINT,
	    "https://push.example/abc");
	str_copy(rec->account, sizeof(rec->account), "zoe@mssante.test");
	struct dir_set_op op = { .rec = rec };
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op), 0);
	assert_false(op.created_r);
	struct source chg = { all.mask, 2, -1, -1 };
	assert_int_equal(import(f, &chg, &imp), 0);
	assert_int_equal(imp.changed_r, 1);
	assert_int_equal(store_read_begin(f->st, &r), 0);
	assert_int_equal(store_dir_get_key(r,
	    "mss:zoe.dupre@medecin.mssante.fr", rec), 1);
	assert_string_equal(rec->family, "Dupré");
	assert_string_equal(rec->city, "Marseille");
	assert_int_equal(rec->n_push, 1);
	assert_int_equal(rec->n_channels, 2);
	assert_int_equal(rec->channels[0], DIR_CH_PUSH);
	assert_string_equal(rec->account, "zoe@mssante.test");
	assert_string_equal(rec->src_file, "test.txt");
	assert_int_equal(rec->src_line, 4);
	store_read_end(&r);

	/* a local record: made by hand, untouched by imports */
	dir_record_init(rec);
	str_copy(rec->key, sizeof(rec->key), "local:astreinte");
	str_copy(rec->family, sizeof(rec->family), "Astreinte");
	str_copy(rec->postcode, sizeof(rec->postcode), "75001");
	assert_int_equal(dir_record_add_phone(rec, "+33612345678"), 0);
	assert_int_equal(dir_record_add_phone(rec, "0612"), ERR_INVAL);
	struct dir_set_op op2 = { .rec = rec };
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op2), 0);
	assert_true(op2.created_r);
	assert_int_equal(import(f, &all, &imp), 0);
	assert_int_equal(imp.removed_r, 0);
	struct dir_query q = { .family = "astr" };
	struct page p;
	assert_int_equal(search(f, &q, &p, NULL), 0);
	assert_int_equal(p.n, 1);

	/* an imported key cannot be made by hand */
	dir_record_init(rec);
	str_copy(rec->key, sizeof(rec->key), "mss:new@x.mssante.fr");
	struct dir_set_op op3 = { .rec = rec };
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op3),
	    ERR_NOTFOUND);

	/* deletion by key and by id; the indexes follow */
	struct dir_set_op del = { .key = "local:astreinte" };
	assert_int_equal(store_exec(f->st, store_op_dir_del, &del), 0);
	assert_int_equal(search(f, &q, &p, NULL), 0);
	assert_int_equal(p.n, 0);
	struct dir_set_op del2 = { .id = op.id_r };
	assert_int_equal(store_exec(f->st, store_op_dir_del, &del2), 0);
	struct dir_query qz = { .given = "zoe" };
	assert_int_equal(search(f, &qz, &p, NULL), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(store_exec(f->st, store_op_dir_del, &del2),
	    ERR_NOTFOUND);
	free(rec);

	struct dir_stats s;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	assert_int_equal(store_dir_stats(r, &s), 0);
	store_read_end(&r);
	assert_int_equal(s.records, N_PEOPLE - 1);
	assert_int_equal(s.by_source[DIR_SRC_MSS], N_PEOPLE - 1);
	assert_int_equal(s.last_import[DIR_SRC_MSS], 1800000000);
}

/* The same changes through a rebuild of the other set of databases:
 * the same counts, the same answers, local fields kept, and the sets
 * alternate. */
static void
test_rebuild(void **state)
{
	struct fixture *f = *state;
	struct dir_import imp;
	struct source all = { (1u << N_PEOPLE) - 1, -1, -1, -1 };
	struct page p;

	assert_int_equal(import(f, &all, &imp), 0);
	assert_string_equal(imp.mode_r, "rebuilt");	/* first import */

	/* a local record and local fields on an imported one */
	struct dir_record *rec = malloc(sizeof(*rec));
	assert_non_null(rec);
	dir_record_init(rec);
	str_copy(rec->key, sizeof(rec->key), "local:garde");
	str_copy(rec->family, sizeof(rec->family), "Garde");
	str_copy(rec->postcode, sizeof(rec->postcode), "75001");
	struct dir_set_op op = { .rec = rec };
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op), 0);
	dir_record_init(rec);
	str_copy(rec->key, sizeof(rec->key),
	    "mss:eve.martin@medecin.mssante.fr");
	rec->n_channels = 1;
	rec->channels[0] = DIR_CH_SMS;
	struct dir_set_op op2 = { .rec = rec };
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op2), 0);

	inplace_max = 1;
	struct source next = { all.mask & ~(1u << 1) & ~(1u << 4), 3, -1,
	    0 };
	assert_int_equal(import(f, &next, &imp), 0);
	inplace_max = 0;
	assert_string_equal(imp.mode_r, "rebuilt");
	assert_int_equal(imp.changed_r, 1);
	assert_int_equal(imp.removed_r, 2);
	assert_int_equal(imp.merged_r, 1);
	assert_int_equal(imp.added_r, 0);
	assert_int_equal(imp.unchanged_r, N_PEOPLE - 3);

	struct dir_query qm = { .city = "marseille" };
	assert_int_equal(search(f, &qm, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	struct dir_query qg = { .family = "garde" };
	assert_int_equal(search(f, &qg, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	struct dir_query qa = { .address = "second@box.mssante.fr" };
	assert_int_equal(search(f, &qa, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	struct dir_query qj = { .given = "jean" };
	assert_int_equal(search(f, &qj, &p, NULL), 0);
	assert_int_equal(p.n, 0);	/* removed */
	struct dir_query q75 = { .postcode = "75001" };
	assert_int_equal(search(f, &q75, &p, NULL), 0);
	assert_int_equal(p.n, 4);	/* Dupont, Dupré, Martin, Garde */
	struct dir_query qr = { .rpps = "10000000007" };
	assert_int_equal(search(f, &qr, &p, NULL), 0);
	assert_int_equal(p.n, 1);

	struct store_rtxn *r;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	assert_int_equal(store_dir_get_key(r,
	    "mss:eve.martin@medecin.mssante.fr", rec), 1);
	assert_int_equal(rec->n_channels, 1);
	assert_int_equal(rec->channels[0], DIR_CH_SMS);
	struct dir_stats st;
	assert_int_equal(store_dir_stats(r, &st), 0);
	assert_int_equal(st.by_source[DIR_SRC_MSS], N_PEOPLE - 2);
	assert_int_equal(st.by_source[DIR_SRC_LOCAL], 1);
	store_read_end(&r);

	/* back in place on the rebuilt set */
	assert_int_equal(import(f, &all, &imp), 0);
	assert_string_equal(imp.mode_r, "in place");
	assert_int_equal(imp.added_r, 2);
	assert_int_equal(imp.changed_r, 2);	/* city, one mailbox less */
	assert_int_equal(search(f, &qj, &p, NULL), 0);
	assert_int_equal(p.n, 1);
	free(rec);
}

/* An import holds the directory: a second one, or a local edit, waits
 * its turn (ERR_TEMP) instead of being lost to a rebuild. */
static void
test_lock(void **state)
{
	struct fixture *f = *state;
	int fd = store_dir_lock(f->st, false);
	assert_true(fd >= 0);
	struct dir_import imp;
	struct source all = { (1u << N_PEOPLE) - 1, -1, -1, -1 };
	assert_int_equal(import(f, &all, &imp), ERR_TEMP);
	struct dir_record *rec = malloc(sizeof(*rec));
	assert_non_null(rec);
	dir_record_init(rec);
	str_copy(rec->key, sizeof(rec->key), "local:x");
	struct dir_set_op op = { .rec = rec };
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op), ERR_TEMP);
	store_dir_unlock(&fd);
	assert_int_equal(store_exec(f->st, store_op_dir_set, &op), 0);
	assert_int_equal(import(f, &all, &imp), 0);
	free(rec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold),
		cmocka_unit_test_setup_teardown(test_import_counts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_import_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_local_and_delete,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
