/* SPDX-License-Identifier: MIT */
/*
 * test_dir_ans.c - the ANS extract reader (directory.h dir_read_ans) on
 * the files of tests/fixtures/directory/ans/ and on generated ones: the
 * field mapping of both layouts (MSS 31 columns, PS 52 and 56) with
 * accented names, header spellings, BOM, CRLF and the optional trailing
 * "|"; every kind of bad line with its exact "FILE:LINE: reason", skipped
 * or fatal under strict; whole-file faults (unknown header, truncation at
 * every offset, NUL, Latin-1 header, empty file, FIFO, directory, missing
 * file); line length limits at the boundary; lines spread over read
 * chunks; emit stopping the read; then the format helpers and the phone
 * number normalization table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "directory/directory.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_MAX_LEN 4096
#define ERR_LEN 1024
#define KEEP_MAX 16		/* records kept by a read */
#define BAD_MAX 16		/* bad lines kept */
#define MSG_LEN (2 * PATH_MAX_LEN + 1024)

/* ---- files ---- */

/* srcdir - the source root: $MSSGATE_SRCDIR (set by tests/run-tests),
 * else the build's MSSGATE_SRCDIR, else derived from __FILE__. */
static const char *
srcdir(void)
{
	const char *env = getenv("MSSGATE_SRCDIR");

	if (env != NULL && *env != '\0')
		return env;
#ifdef MSSGATE_SRCDIR
	return MSSGATE_SRCDIR;
#else
	static char dir[PATH_MAX_LEN];
	const char *suffix = "tests/unit/test_dir_ans.c";
	size_t n = strlen(__FILE__), sl = strlen(suffix);
	if (n < sl || n - sl >= sizeof(dir))
		return ".";
	memcpy(dir, __FILE__, n - sl);
	dir[n - sl] = '\0';
	return dir[0] != '\0' ? dir : ".";
#endif
}

static void
fixture_path(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX_LEN,
	    "%s/tests/fixtures/directory/ans/%s", srcdir(), name);
	assert_true(n > 0 && n < PATH_MAX_LEN);
}

static char tmp_base[PATH_MAX_LEN];

static void
tmp_path(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/%s", tmp_base, name);
	assert_true(n > 0 && n < PATH_MAX_LEN);
}

static void
write_file(char *path, const char *name, const char *data, size_t len)
{
	tmp_path(path, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* read_all - a file into a malloc'd buffer (NUL added, not counted). */
static char *
read_all(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &sb), 0);
	size_t len = (size_t)sb.st_size;
	char *data = malloc(len + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	data[len] = '\0';
	*len_r = len;
	return data;
}

/* A growing text for generated files. */
struct text {
	char *p;
	size_t len, cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void
text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void
text_fmt(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
text_fmt(struct text *t, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	text_add(t, tmp, (size_t)n);
}

static void
text_fill(struct text *t, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		text_add(t, &c, 1);
}

/* The line from data at index line (1-based), without its LF. */
static void
nth_line(const char *data, unsigned line, struct text *out)
{
	const char *p = data;

	for (unsigned i = 1; i < line; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	const char *e = strchr(p, '\n');
	assert_non_null(e);
	out->len = 0;
	text_add(out, p, (size_t)(e - p));
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmp_base, sizeof(tmp_base), "%s/test-dir-ans.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	return mkdtemp(tmp_base) != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	return nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- reading ---- */

struct got {
	int r;
	char err[ERR_LEN];
	struct dir_read_opts o;
	size_t n;			/* records emitted */
	struct dir_record rec[KEEP_MAX];
	size_t n_bad;
	char bad[BAD_MAX][MSG_LEN];
	int stop_at;			/* emit fails on record N (from 1) */
};

static int
collect(struct dir_record *rec, void *arg)
{
	struct got *g = arg;

	g->n++;
	if (g->n <= KEEP_MAX)
		memcpy(&g->rec[g->n - 1], rec, sizeof(*rec));
	if (g->stop_at > 0 && g->n == (size_t)g->stop_at)
		return ERR_LIMIT;
	return 0;
}

static void
on_bad(const char *file, unsigned long line, const char *reason, void *arg)
{
	struct got *g = arg;

	if (g->n_bad < BAD_MAX)
		snprintf(g->bad[g->n_bad], MSG_LEN, "%s:%lu: %s", file, line,
		    reason);
	g->n_bad++;
}

static struct got *
got_new(void)
{
	struct got *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	return g;
}

/* run - read path as fmt into g (emptied first). */
static void
run(struct got *g, const char *path, int fmt, bool strict)
{
	int stop = g->stop_at;

	memset(g, 0, sizeof(*g));
	g->stop_at = stop;
	g->o.strict = strict;
	g->o.bad = on_bad;
	g->o.bad_arg = g;
	g->o.bad_r = 12345;		/* outputs must be reset */
	g->o.lines_r = 12345;
	g->r = dir_read_ans(path, fmt, &g->o, collect, g, g->err,
	    sizeof(g->err));
	size_t n = strnlen(g->err, sizeof(g->err));
	assert_true(n < sizeof(g->err));
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)g->err[i] < 0x20)
			fail_msg("control character in '%s'", g->err);
}

static void
expect_ok(const struct got *g, size_t n, unsigned long lines,
	  unsigned long bad)
{
	if (g->r != 0)
		fail_msg("read failed (%d): %s", g->r, g->err);
	assert_string_equal(g->err, "");
	assert_int_equal(g->n, n);
	assert_int_equal(g->o.lines_r, lines);
	assert_int_equal(g->o.bad_r, bad);
	assert_int_equal(g->n_bad, bad);
}

/* expect_err - failed with r and err exactly path + msg. */
static void
expect_err(const struct got *g, int r, const char *path, const char *msg)
{
	char want[MSG_LEN];

	snprintf(want, sizeof(want), "%s%s", path, msg);
	assert_string_equal(g->err, want);
	assert_int_equal(g->r, r);
}

static void
expect_bad(const struct got *g, size_t i, const char *path, const char *msg)
{
	char want[MSG_LEN];

	assert_true(i < g->n_bad);
	snprintf(want, sizeof(want), "%s%s", path, msg);
	assert_string_equal(g->bad[i], want);
}

/* ---- MSS ---- */

static void
check_mss_records(const struct got *g, const char *path)
{
	const struct dir_record *r = &g->rec[0];

	/* PER box of an RPPS doctor, structure by SIRET */
	assert_string_equal(r->key,
	    "mss:helene.dupre-martin@medecin.mssante.example");
	assert_int_equal(r->n_mbox, 1);
	assert_string_equal(r->mbox[0].addr,
	    "helene.dupre-martin@medecin.mssante.example");
	assert_string_equal(r->mbox[0].type, "PER");
	assert_string_equal(r->id_type, "8");
	assert_string_equal(r->idnat, "810000000019");
	assert_string_equal(r->rpps, "10000000019");
	assert_string_equal(r->org_id, "312345678900012");
	assert_string_equal(r->siret, "12345678900012");
	assert_string_equal(r->siren, "123456789");
	assert_string_equal(r->finess, "");
	assert_string_equal(r->service, "Cardiologie");
	assert_string_equal(r->civility, "DR");
	assert_string_equal(r->family, "DUPRÉ-MARTIN");
	assert_string_equal(r->given, "Hélène");
	assert_string_equal(r->category, "C");
	assert_string_equal(r->profession_code, "10");
	assert_string_equal(r->profession, "Médecin");
	assert_string_equal(r->specialty_code, "SM54");
	assert_string_equal(r->specialty, "Médecine générale");
	assert_string_equal(r->org_name, "Cabinet des Acacias");
	assert_string_equal(r->street, "12 bis RUE DES ACACIAS");
	assert_string_equal(r->postcode, "75012");
	assert_string_equal(r->city, "PARIS");
	assert_string_equal(r->country, "France");
	assert_string_equal(r->role, "");
	assert_int_equal(r->n_phone, 0);
	assert_int_equal(r->src_line, 2);
	assert_string_equal(r->src_file, path);

	/* ORG box: FINESS, name from the brand, postcode column wins */
	r = &g->rec[1];
	assert_string_equal(r->key,
	    "mss:secretariat@clinique-tilleuls.mssante.example");
	assert_string_equal(r->mbox[0].type, "ORG");
	assert_string_equal(r->idnat, "");
	assert_string_equal(r->rpps, "");
	assert_string_equal(r->org_id, "1750000001");
	assert_string_equal(r->finess, "750000001");
	assert_string_equal(r->siret, "");
	assert_string_equal(r->service, "Secrétariat médical");
	assert_string_equal(r->org_name, "Clinique des Tilleuls");
	assert_string_equal(r->street, "Bâtiment B 3 AV DE L'ŒUVRE");
	assert_string_equal(r->postcode, "69008");
	assert_string_equal(r->city, "LYON");
	assert_int_equal(r->src_line, 3);

	/* CAB box of an ADELI nurse, SIREN, no postcode in L6 */
	r = &g->rec[2];
	assert_string_equal(r->key,
	    "mss:francoise.oeillet@infirmier.mssante.example");
	assert_string_equal(r->mbox[0].type, "CAB");
	assert_string_equal(r->id_type, "0");
	assert_string_equal(r->idnat, "0012345678");
	assert_string_equal(r->rpps, "");
	assert_string_equal(r->siren, "123456789");
	assert_string_equal(r->org_id, "2123456789");
	assert_string_equal(r->civility, "MME");
	assert_string_equal(r->family, "ŒILLET");
	assert_string_equal(r->given, "Françoise");
	assert_string_equal(r->profession, "Infirmier");
	assert_string_equal(r->org_name, "Cabinet infirmier du Port");
	assert_string_equal(r->street, "BP 12 CHEMIN DU PORT");
	assert_string_equal(r->postcode, "97400");
	assert_string_equal(r->city, "SAINT-DENIS");
	assert_int_equal(r->src_line, 4);

	/* IdNat from type and id when its own column is empty; L6 is only
	 * a postcode */
	r = &g->rec[3];
	assert_string_equal(r->key, "mss:zoe.nguyen@medecin.mssante.example");
	assert_string_equal(r->idnat, "810000000027");
	assert_string_equal(r->rpps, "10000000027");
	assert_string_equal(r->family, "NGUYÊN");
	assert_string_equal(r->given, "Zoé");
	assert_string_equal(r->org_id, "");
	assert_string_equal(r->org_name, "");
	assert_string_equal(r->street, "");
	assert_string_equal(r->postcode, "13001");
	assert_string_equal(r->city, "");
	assert_int_equal(r->src_line, 5);
}

static void
test_mss(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "mss.txt");
	run(g, path, DIR_FMT_MSS, true);
	expect_ok(g, 4, 4, 0);
	check_mss_records(g, path);
	/* the layout is found without being told */
	run(g, path, DIR_FMT_UNKNOWN, false);
	expect_ok(g, 4, 4, 0);
	check_mss_records(g, path);
	free(g);
}

/* test_mss_variant - BOM, CRLF, upper-case labels without accents, the
 * "structure BAL" suffixes, lines with and without the trailing "|":
 * the same records as mss.txt. */
static void
test_mss_variant(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "mss-variant.txt");
	run(g, path, DIR_FMT_MSS, true);
	expect_ok(g, 4, 4, 0);
	check_mss_records(g, path);
	free(g);
}

/* ---- PS ---- */

static void
test_ps52(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "ps52.txt");
	for (int pass = 0; pass < 2; pass++) {
		run(g, path, pass == 0 ? DIR_FMT_PS : DIR_FMT_UNKNOWN, true);
		expect_ok(g, 3, 3, 0);

		const struct dir_record *r = &g->rec[0];
		assert_string_equal(r->key, "ps:810000000035/C12345678900020");
		assert_string_equal(r->id_type, "8");
		assert_string_equal(r->idnat, "810000000035");
		assert_string_equal(r->rpps, "10000000035");
		assert_string_equal(r->civility, "DR");
		assert_string_equal(r->title, "Docteur");
		assert_string_equal(r->family, "LEFÈVRE");
		assert_string_equal(r->given, "Hélène");
		assert_string_equal(r->profession_code, "10");
		assert_string_equal(r->profession, "Médecin");
		assert_string_equal(r->category, "C");
		assert_string_equal(r->specialty_code, "SM54");
		assert_string_equal(r->specialty, "Médecine générale");
		assert_string_equal(r->role,
		    "Libéral, indépendant, artisan, commerçant");
		assert_string_equal(r->siret, "12345678900020");
		assert_string_equal(r->siren, "123456789");
		assert_string_equal(r->finess, "");
		assert_string_equal(r->org_id, "C12345678900020");
		assert_string_equal(r->org_name, "Cabinet du Dr Lefèvre");
		/* the way type's label, not also its code */
		assert_string_equal(r->street,
		    "Résidence Les Pins 5 B Rue de la Gare");
		assert_string_equal(r->postcode, "13001");
		assert_string_equal(r->city, "Marseille");
		assert_string_equal(r->country, "France");
		assert_int_equal(r->n_phone, 2);
		assert_string_equal(r->phone[0], "+33491000001");
		assert_string_equal(r->phone[1], "+33612345678");
		assert_int_equal(r->n_mbox, 0);	/* column 44 is no box */
		assert_int_equal(r->src_line, 2);

		/* second activity of the same person: another key */
		r = &g->rec[1];
		assert_string_equal(r->key, "ps:810000000035/F130000001");
		assert_string_equal(r->role, "Salarié");
		assert_string_equal(r->finess, "130000001");
		assert_string_equal(r->org_name, "Hôpital Nord Synthétique");
		assert_string_equal(r->street, "10 BD du Littoral");
		assert_int_equal(r->n_phone, 1);
		assert_string_equal(r->phone[0], "+33491000003");

		/* ADELI, civility without exercise civility, SIRET as the
		 * structure id, brand as the name */
		r = &g->rec[2];
		assert_string_equal(r->key, "ps:0012345679/98765432100015");
		assert_string_equal(r->id_type, "0");
		assert_string_equal(r->rpps, "");
		assert_string_equal(r->civility, "MME");
		assert_string_equal(r->title, "Madame");
		assert_string_equal(r->family, "CŒURDEROY");
		assert_string_equal(r->given, "Zoé");
		assert_string_equal(r->org_id, "98765432100015");
		assert_string_equal(r->siren, "987654321");
		assert_string_equal(r->org_name, "Soins à domicile Zoé");
		assert_string_equal(r->street, "Place du Marché");
		assert_string_equal(r->phone[0], "+33380000004");
		assert_int_equal(r->src_line, 4);
	}
	free(g);
}

/* test_ps56 - the newer layout (4 more columns, other spellings), CRLF,
 * the last line without its trailing "|". */
static void
test_ps56(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "ps56.txt");
	run(g, path, DIR_FMT_PS, true);
	expect_ok(g, 2, 2, 0);

	const struct dir_record *r = &g->rec[0];
	assert_string_equal(r->key, "ps:810000000043/R10100000000001");
	assert_string_equal(r->civility, "PR");
	assert_string_equal(r->title, "Professeur");
	assert_string_equal(r->family, "FRANÇOIS");
	assert_string_equal(r->given, "Françoise");
	assert_string_equal(r->profession, "Pharmacien");
	assert_string_equal(r->finess, "750000003");
	assert_string_equal(r->org_name,
	    "Pharmacie centrale de l’Hôpital Œillet");
	assert_string_equal(r->street, "1 Avenue des Tilleuls");
	assert_string_equal(r->postcode, "75005");
	assert_string_equal(r->city, "Paris");
	assert_int_equal(r->n_phone, 1);
	assert_string_equal(r->phone[0], "+33145000005");

	r = &g->rec[1];
	assert_string_equal(r->key, "ps:810000000050/R10100000000002");
	assert_string_equal(r->civility, "M");
	assert_string_equal(r->title, "Monsieur");
	assert_string_equal(r->family, "ÉTIENNE");
	assert_string_equal(r->given, "Jérôme");
	assert_string_equal(r->profession, "Sage-femme");
	assert_string_equal(r->city, "Nantes");
	assert_int_equal(r->n_phone, 0);
	assert_int_equal(r->src_line, 3);
	free(g);
}

/* ---- bad lines ---- */

static const struct {
	unsigned line;
	const char *msg;
} mss_bad[] = {
	{ 3, ":3: 29 columns, expected 31" },
	{ 4, ":4: not UTF-8 (byte 0xE9 in column 10)" },
	{ 6, ":6: column 10 (Nom d'exercice) longer than 127 bytes" },
	{ 7, ":7: empty BAL address in column 2" },
	{ 8, ":8: invalid BAL address in column 2" },
	{ 9, ":9: control character 0x09 in column 11" },
	{ 11, ":11: 32 columns, expected 31" },
};

/* test_mss_bad - each bad line reported once, exactly, and skipped (the
 * blank line 5 silently); strict stops at the first one; each bad line
 * alone after the header is fatal under strict with its own message. */
static void
test_mss_bad(void **state)
{
	char path[PATH_MAX_LEN], one[PATH_MAX_LEN];
	struct got *g = got_new();
	struct text t = { 0 }, l = { 0 };
	size_t len;

	(void)state;
	fixture_path(path, "mss-bad.txt");
	run(g, path, DIR_FMT_MSS, false);
	expect_ok(g, 3, 10, N_ELEMENTS(mss_bad));
	for (size_t i = 0; i < N_ELEMENTS(mss_bad); i++)
		expect_bad(g, i, path, mss_bad[i].msg);
	assert_int_equal(g->rec[0].src_line, 2);
	assert_string_equal(g->rec[1].key,
	    "mss:bea.lemaitre@medecin.mssante.example");
	assert_string_equal(g->rec[1].family, "LEMAÎTRE");
	assert_int_equal(g->rec[1].src_line, 10);
	assert_string_equal(g->rec[2].key,
	    "mss:agenda@clinique-tilleuls.mssante.example");
	assert_string_equal(g->rec[2].mbox[0].type, "APP");
	assert_int_equal(g->rec[2].src_line, 12);

	run(g, path, DIR_FMT_MSS, true);
	expect_err(g, ERR_PROTO, path, mss_bad[0].msg);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->n_bad, 0);

	char *data = read_all(path, &len);
	for (size_t i = 0; i < N_ELEMENTS(mss_bad); i++) {
		char msg[64];
		t.len = 0;
		nth_line(data, 1, &l);
		text_add(&t, l.p, l.len);
		text_str(&t, "\n");
		nth_line(data, mss_bad[i].line, &l);
		text_add(&t, l.p, l.len);
		text_str(&t, "\n");
		write_file(one, "one-bad.txt", t.p, t.len);
		snprintf(msg, sizeof(msg), ":2%s",
		    strchr(mss_bad[i].msg + 1, ':'));
		run(g, one, DIR_FMT_MSS, true);
		expect_err(g, ERR_PROTO, one, msg);
		assert_int_equal(g->n, 0);
		run(g, one, DIR_FMT_MSS, false);
		expect_ok(g, 0, 1, 1);
		expect_bad(g, 0, one, msg);
	}
	free(data);
	free(t.p);
	free(l.p);
	free(g);
}

/* test_ps_bad - a line without IdNat_PS is bad; a phone number that
 * does not read is dropped (the record kept), or fatal under strict. */
static void
test_ps_bad(void **state)
{
	char path[PATH_MAX_LEN], one[PATH_MAX_LEN];
	struct got *g = got_new();
	struct text t = { 0 }, l = { 0 };
	size_t len;

	(void)state;
	fixture_path(path, "ps-bad.txt");
	run(g, path, DIR_FMT_PS, false);
	expect_ok(g, 2, 3, 1);
	expect_bad(g, 0, path, ":2: missing IdNat_PS in column 3");
	assert_string_equal(g->rec[0].key, "ps:810000000076/C11111111100011");
	assert_int_equal(g->rec[0].n_phone, 1);
	assert_string_equal(g->rec[0].phone[0], "+33491000006");
	assert_string_equal(g->rec[1].given, "Aimé");

	run(g, path, DIR_FMT_PS, true);
	expect_err(g, ERR_PROTO, path, ":2: missing IdNat_PS in column 3");
	assert_int_equal(g->n, 0);

	char *data = read_all(path, &len);
	nth_line(data, 1, &l);
	text_add(&t, l.p, l.len);
	text_str(&t, "\n");
	nth_line(data, 3, &l);
	text_add(&t, l.p, l.len);
	text_str(&t, "\n");
	write_file(one, "phone.txt", t.p, t.len);
	run(g, one, DIR_FMT_PS, true);
	expect_err(g, ERR_PROTO, one,
	    ":2: column 41 (Téléphone) is not a phone number");
	assert_int_equal(g->n, 0);
	free(data);
	free(t.p);
	free(l.p);
	free(g);
}

/* test_field_limits - a field exactly as long as its array allows is
 * kept, one octet more makes the line bad. */
static void
test_field_limits(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();
	struct text t = { 0 };
	const size_t fam = sizeof(g->rec[0].family) - 1;

	(void)state;
	for (size_t extra = 0; extra < 2; extra++) {
		t.len = 0;
		text_str(&t, "Type de BAL|Adresse BAL|||Identification "
		    "nationale PP|||||Nom d'exercice|Prénom d'exercice"
		    "||||||||Raison sociale||||||||||Code postal||\n");
		/* column 10 of fam + extra octets, an address of 187 +
		 * extra */
		text_str(&t, "PER|");
		text_fill(&t, 'a', 187 - strlen("@medecin.mssante.example") +
		    extra);
		text_str(&t, "@medecin.mssante.example||||||||");
		text_fill(&t, 'N', fam + extra);
		text_str(&t, "|Ève||||||||||||||||||||\n");
		write_file(path, "limits.txt", t.p, t.len);
		run(g, path, DIR_FMT_MSS, false);
		if (extra == 0) {
			expect_ok(g, 1, 1, 0);
			assert_int_equal(strlen(g->rec[0].family), fam);
			assert_int_equal(strlen(g->rec[0].key), 4 + 187);
		} else {
			expect_ok(g, 0, 1, 1);
			expect_bad(g, 0, path, ":2: column 2 (Adresse BAL) "
			    "longer than 187 bytes");
		}
	}
	free(t.p);
	free(g);
}

/* ---- whole-file faults ---- */

static void
test_latin1_header(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "mss-latin1.txt");
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path,
	    ":1: header line: not UTF-8 (byte 0xE9 in column 9)");
	assert_int_equal(g->n, 0);
	free(g);
}

static void
test_unknown_header(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();
	static const char mss_exp[] = "(expected "
	    "Extraction_Correspondance_MSSante: 31 columns, first 'Type de "
	    "BAL')";
	static const char ps_exp[] = "(expected "
	    "PS_LibreAcces_Personne_activite: 52 or 56 columns, first 'Type "
	    "d'identifiant PP')";
	char msg[512];

	(void)state;
	fixture_path(path, "unknown-header.txt");
	snprintf(msg, sizeof(msg), ":1: unknown header layout: 3 columns, "
	    "first 'Nom' %s", mss_exp);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path, msg);
	assert_int_equal(g->n, 0);
	assert_int_equal(g->o.lines_r, 0);
	snprintf(msg, sizeof(msg), ":1: unknown header layout: 3 columns, "
	    "first 'Nom' %s", ps_exp);
	run(g, path, DIR_FMT_PS, false);
	expect_err(g, ERR_PROTO, path, msg);
	run(g, path, DIR_FMT_UNKNOWN, false);
	expect_err(g, ERR_PROTO, path, ":1: unknown header layout: 3 "
	    "columns, first 'Nom' (expected an MSS or PS extract)");

	/* each layout read as the other */
	fixture_path(path, "mss.txt");
	snprintf(msg, sizeof(msg), ":1: unknown header layout: 31 columns, "
	    "first 'Type de BAL' %s", ps_exp);
	run(g, path, DIR_FMT_PS, false);
	expect_err(g, ERR_PROTO, path, msg);
	fixture_path(path, "ps56.txt");
	snprintf(msg, sizeof(msg), ":1: unknown header layout: 56 columns, "
	    "first 'Type d'identifiant PP' %s", mss_exp);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path, msg);

	/* 31 columns but a key label that is not the MSS one */
	struct text t = { 0 };
	text_str(&t, "Type de BAL|Courriel|||Identification nationale PP|||"
	    "|||Nom|Prénom||||||||Raison sociale||||||||||Code postal||\n");
	write_file(path, "relabelled.txt", t.p, t.len);
	snprintf(msg, sizeof(msg), ":1: unknown header layout: 31 columns, "
	    "first 'Type de BAL' %.*s; column 2 is 'Courriel', not 'Adresse "
	    "BAL')", (int)strlen(mss_exp) - 1, mss_exp);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path, msg);
	run(g, path, DIR_FMT_UNKNOWN, false);
	expect_err(g, ERR_PROTO, path, msg);
	/* and a long first label is cut */
	t.len = 0;
	text_fill(&t, 'L', 60);
	text_str(&t, "|x|\n");
	write_file(path, "long-label.txt", t.p, t.len);
	snprintf(msg, sizeof(msg), ":1: unknown header layout: 2 columns, "
	    "first 'LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL...' %s", mss_exp);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path, msg);
	free(t.p);
	free(g);
}

/* test_truncated - the fixture's last line is whole but has no newline:
 * refused, and never emitted. */
static void
test_truncated(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "mss-truncated.txt");
	for (int strict = 0; strict < 2; strict++) {
		run(g, path, DIR_FMT_MSS, strict);
		expect_err(g, ERR_PROTO, path,
		    ":4: the file ends inside a line (truncated?)");
		assert_int_equal(g->n, 2);
		assert_int_equal(g->rec[0].src_line, 2);
		assert_int_equal(g->rec[1].src_line, 3);
	}
	free(g);
}

/* test_every_prefix - every cut of a valid file that is not at a line
 * end fails, having emitted exactly the lines before the cut. */
static void
test_every_prefix(void **state)
{
	char path[PATH_MAX_LEN], cut[PATH_MAX_LEN];
	struct got *g = got_new();
	size_t len;

	(void)state;
	fixture_path(path, "mss-variant.txt");
	char *data = read_all(path, &len);
	for (size_t n = 0; n < len; n++) {
		size_t complete = 0;	/* lines with their LF */
		for (size_t i = 0; i < n; i++)
			complete += data[i] == '\n';
		write_file(cut, "cut.txt", data, n);
		run(g, cut, DIR_FMT_MSS, true);
		char msg[128];
		if (n == 0)
			snprintf(msg, sizeof(msg), ":1: empty file (no header "
			    "line)");
		else if (n > 0 && data[n - 1] == '\n')
			msg[0] = '\0';
		else
			snprintf(msg, sizeof(msg), ":%zu: the file ends "
			    "inside a line (truncated?)", complete + 1);
		if (msg[0] == '\0') {
			expect_ok(g, complete - 1, complete - 1, 0);
		} else {
			expect_err(g, ERR_PROTO, cut, msg);
			assert_int_equal(g->n, complete > 0 ? complete - 1 : 0);
		}
	}
	free(data);
	free(g);
}

static void
test_nul(void **state)
{
	char path[PATH_MAX_LEN], good[PATH_MAX_LEN];
	struct got *g = got_new();
	struct text t = { 0 };
	size_t len;

	(void)state;
	fixture_path(good, "mss.txt");
	char *data = read_all(good, &len);
	/* a NUL in column 2 of line 3 */
	char *l3 = strchr(strchr(data, '\n') + 1, '\n') + 1;
	char *bar = strchr(l3, '|');
	bar[2] = '\0';
	write_file(path, "nul.txt", data, len);
	for (int strict = 0; strict < 2; strict++) {
		run(g, path, DIR_FMT_MSS, strict);
		expect_err(g, ERR_PROTO, path,
		    ":3: NUL byte in column 2 (not a text file)");
		assert_int_equal(g->n, 1);
	}
	/* a binary file without any newline */
	text_add(&t, "\x7f" "ELF\0\0\0", 7);
	write_file(path, "binary.txt", t.p, t.len);
	run(g, path, DIR_FMT_UNKNOWN, false);
	expect_err(g, ERR_PROTO, path, ":1: NUL byte (not a text file)");
	free(t.p);
	free(data);
	free(g);
}

static void
test_not_files(void **state)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	tmp_path(path, "fifo.txt");
	assert_int_equal(mkfifo(path, 0600), 0);
	/* nobody writes to it: opening it must not wait */
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_INVAL, path, ": not a regular file (a FIFO)");
	assert_int_equal(g->n, 0);
	run(g, tmp_base, DIR_FMT_MSS, false);
	expect_err(g, ERR_INVAL, tmp_base,
	    ": not a regular file (a directory)");
	run(g, "/dev/null", DIR_FMT_MSS, false);
	expect_err(g, ERR_INVAL, "/dev/null",
	    ": not a regular file (a device)");
	tmp_path(path, "missing.txt");
	run(g, path, DIR_FMT_MSS, false);
	snprintf(msg, sizeof(msg), ": %s", strerror(ENOENT));
	expect_err(g, ERR_IO, path, msg);

	write_file(path, "empty.txt", "", 0);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path, ":1: empty file (no header line)");
	write_file(path, "blank.txt", "\r\nType de BAL|\n", 15);
	assert_int_equal(strlen("\r\nType de BAL|\n"), 15);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path,
	    ":1: no header line (the first line is blank)");
	/* a header alone is an empty extract */
	static const char hdr[] = "\xef\xbb\xbf" "Type de BAL|Adresse BAL|||"
	    "Identification nationale PP|||||Nom|Prénom||||||||Raison "
	    "sociale||||||||||Code postal||\r\n";
	write_file(path, "header.txt", hdr, strlen(hdr));
	run(g, path, DIR_FMT_MSS, true);
	expect_ok(g, 0, 0, 0);
	/* formats that are no ANS extract */
	run(g, path, DIR_FMT_FHIR, false);
	expect_err(g, ERR_INVAL, path, ": format fhir is not an ANS extract");
	free(g);
}

/* A data line of exactly n octets (CR LF excluded): the record of
 * mss.txt line 4 with column 18, which is not kept, padded. */
static void
add_padded(struct text *t, const char *base, size_t n, bool crlf)
{
	struct text l = { 0 };

	nth_line(base, 4, &l);
	char *c18 = l.p;
	for (int i = 0; i < 17; i++)
		c18 = strchr(c18, '|') + 1;
	size_t head = (size_t)(c18 - l.p);
	assert_true(n > l.len);
	text_add(t, l.p, head);
	text_fill(t, 'p', n - l.len);
	text_add(t, c18, l.len - head);
	text_str(t, crlf ? "\r\n" : "\n");
	free(l.p);
}

/* test_long_lines - DIR_LINE_MAX octets is a line, one more is a bad
 * line (also when it spans several reads), at the end of the file it is
 * a truncation, and as the header it is fatal. */
static void
test_long_lines(void **state)
{
	char path[PATH_MAX_LEN], base_path[PATH_MAX_LEN];
	struct got *g = got_new();
	struct text t = { 0 }, l = { 0 };
	size_t len;
	static const size_t sizes[] = { DIR_LINE_MAX + 1, 3 * 1024 * 1024 };

	(void)state;
	fixture_path(base_path, "mss.txt");
	char *base = read_all(base_path, &len);
	nth_line(base, 1, &l);

	for (int crlf = 0; crlf < 2; crlf++) {
		t.len = 0;
		text_add(&t, l.p, l.len);
		text_str(&t, "\n");
		add_padded(&t, base, DIR_LINE_MAX, crlf);
		write_file(path, "max.txt", t.p, t.len);
		run(g, path, DIR_FMT_MSS, true);
		expect_ok(g, 1, 1, 0);
		assert_string_equal(g->rec[0].given, "Françoise");
	}
	for (size_t i = 0; i < N_ELEMENTS(sizes); i++) {
		t.len = 0;
		text_add(&t, l.p, l.len);
		text_str(&t, "\n");
		add_padded(&t, base, sizes[i], false);
		nth_line(base, 5, &l);
		text_add(&t, l.p, l.len);
		text_str(&t, "\n");
		size_t last = l.len + 1;
		nth_line(base, 1, &l);
		write_file(path, "long.txt", t.p, t.len);
		run(g, path, DIR_FMT_MSS, false);
		expect_ok(g, 1, 2, 1);
		expect_bad(g, 0, path, ":2: line longer than 65536 bytes");
		assert_int_equal(g->rec[0].src_line, 3);
		run(g, path, DIR_FMT_MSS, true);
		expect_err(g, ERR_PROTO, path,
		    ":2: line longer than 65536 bytes");
		/* the same without its final newline */
		write_file(path, "long-cut.txt", t.p, t.len - last - 1);
		run(g, path, DIR_FMT_MSS, false);
		expect_err(g, ERR_PROTO, path,
		    ":2: the file ends inside a line (truncated?)");
		assert_int_equal(g->n, 0);
	}
	t.len = 0;
	text_fill(&t, 'H', DIR_LINE_MAX + 10);
	text_str(&t, "\n");
	write_file(path, "long-header.txt", t.p, t.len);
	run(g, path, DIR_FMT_MSS, false);
	expect_err(g, ERR_PROTO, path, ":1: header line longer than 65536 "
	    "bytes");
	free(base);
	free(t.p);
	free(l.p);
	free(g);
}

/* ---- chunks ---- */

struct many {
	unsigned long n;
	bool ok;
	char fail[512];
};

static int
check_many(struct dir_record *rec, void *arg)
{
	struct many *m = arg;
	char want[64];

	m->n++;
	snprintf(want, sizeof(want), "Hélène-%lu", m->n);
	if (m->ok && (strcmp(rec->given, want) != 0 ||
	    rec->src_line != m->n + 1 ||
	    strcmp(rec->family, "ŒILLET-ÉPÉE") != 0)) {
		m->ok = false;
		snprintf(m->fail, sizeof(m->fail), "record %lu: '%s' '%s' "
		    "line %u", m->n, rec->given, rec->family, rec->src_line);
	}
	return 0;
}

/* test_chunks - files larger than one read, with multi-octet letters and
 * CR LF everywhere; shifting the first line shifts where each read ends,
 * so line, character and CR LF boundaries fall across reads. */
static void
test_chunks(void **state)
{
	char path[PATH_MAX_LEN], base_path[PATH_MAX_LEN];
	struct text t = { 0 }, l = { 0 };
	size_t len;
	const unsigned long lines = 20000;

	(void)state;
	fixture_path(base_path, "mss.txt");
	char *base = read_all(base_path, &len);
	nth_line(base, 1, &l);
	for (size_t shift = 0; shift < 12; shift++) {
		struct many m = { .ok = true };
		struct dir_read_opts o = { .strict = true };
		char err[ERR_LEN];

		t.len = 0;
		text_add(&t, l.p, l.len);
		text_str(&t, "\r\n");
		for (unsigned long i = 1; i <= lines; i++) {
			char addr[64], svc[32], given[32];
			const char *c[32] = {
				[1] = "PER", [2] = addr, [8] = svc,
				[9] = "DR", [10] = "ŒILLET-ÉPÉE",
				[11] = given, [12] = "C", [14] = "10",
				[15] = "Médecin", [28] = "75012 PARIS",
			};
			snprintf(addr, sizeof(addr),
			    "n%lu@medecin.mssante.example", i);
			/* the first line only is shifted */
			snprintf(svc, sizeof(svc), "Service %.*s",
			    i == 1 ? (int)shift : 2, i == 1 ?
			    "xxxxxxxxxxxx" : "é");
			snprintf(given, sizeof(given), "Hélène-%lu", i);
			for (int k = 1; k <= 31; k++)
				text_fmt(&t, "%s|", c[k] != NULL ? c[k] : "");
			text_str(&t, "\r\n");
		}
		write_file(path, "chunks.txt", t.p, t.len);
		assert_true(t.len > 2 * 1024 * 1024);
		int r = dir_read_ans(path, DIR_FMT_MSS, &o, check_many, &m,
		    err, sizeof(err));
		if (r != 0)
			fail_msg("shift %zu: %s", shift, err);
		if (!m.ok)
			fail_msg("shift %zu: %s", shift, m.fail);
		assert_int_equal(m.n, lines);
		assert_int_equal(o.lines_r, lines);
	}
	free(base);
	free(t.p);
	free(l.p);
}

/* ---- emit, names ---- */

static void
test_emit_stops(void **state)
{
	char path[PATH_MAX_LEN];
	struct got *g = got_new();

	(void)state;
	fixture_path(path, "mss.txt");
	g->stop_at = 2;
	struct dir_read_opts o = { 0 };
	char err[64] = "set by the emitter";
	int r = dir_read_ans(path, DIR_FMT_MSS, &o, collect, g, err,
	    sizeof(err));
	assert_int_equal(r, ERR_LIMIT);
	assert_string_equal(err, "set by the emitter");
	assert_int_equal(g->n, 2);
	assert_int_equal(o.lines_r, 2);
	free(g);
}

static void
test_display_name(void **state)
{
	char path[PATH_MAX_LEN];
	struct dir_read_opts o = { .display_name = "Extraction_2026.txt" };
	struct got *g = got_new();
	char err[ERR_LEN];

	(void)state;
	fixture_path(path, "mss-bad.txt");
	int r = dir_read_ans(path, DIR_FMT_MSS, &o, collect, g, err,
	    sizeof(err));
	assert_int_equal(r, 0);
	assert_string_equal(g->rec[0].src_file, "Extraction_2026.txt");
	o.strict = true;
	g->n = 0;
	r = dir_read_ans(path, DIR_FMT_MSS, &o, collect, g, err, sizeof(err));
	assert_int_equal(r, ERR_PROTO);
	assert_string_equal(err,
	    "Extraction_2026.txt:3: 29 columns, expected 31");
	/* no emitter, no opts, no err: the file is still checked */
	fixture_path(path, "mss-truncated.txt");
	assert_int_equal(dir_read_ans(path, DIR_FMT_MSS, NULL, NULL, NULL,
	    NULL, 0), ERR_PROTO);
	fixture_path(path, "ps56.txt");
	assert_int_equal(dir_read_ans(path, DIR_FMT_UNKNOWN, NULL, NULL, NULL,
	    NULL, 0), 0);
	free(g);
}

static void
test_formats(void **state)
{
	static const struct {
		int fmt;
		const char *name;
		uint8_t src;
	} t[] = {
		{ DIR_FMT_MSS, "mss", DIR_SRC_MSS },
		{ DIR_FMT_PS, "ps", DIR_SRC_PS },
		{ DIR_FMT_FHIR, "fhir", DIR_SRC_FHIR },
		{ DIR_FMT_JSON, "json", DIR_SRC_LOCAL },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(t); i++) {
		assert_string_equal(dir_format_name(t[i].fmt), t[i].name);
		assert_int_equal(dir_format_parse(t[i].name), t[i].fmt);
		assert_int_equal(dir_format_source(t[i].fmt), t[i].src);
	}
	assert_int_equal(dir_format_parse("MSS"), DIR_FMT_MSS);
	assert_int_equal(dir_format_parse("csv"), DIR_FMT_UNKNOWN);
	assert_int_equal(dir_format_parse(""), DIR_FMT_UNKNOWN);
	assert_int_equal(dir_format_parse(NULL), DIR_FMT_UNKNOWN);
	assert_string_equal(dir_format_name(DIR_FMT_UNKNOWN), "unknown");
	assert_string_equal(dir_format_name(42), "unknown");
	assert_int_equal(dir_format_source(DIR_FMT_UNKNOWN), DIR_SRC_NONE);
}

/* ---- phone numbers ---- */

static void
test_phone(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "0123456789", "+33123456789" },
		{ "01 23 45 67 89", "+33123456789" },
		{ "01.23.45.67.89", "+33123456789" },
		{ "01-23-45-67-89", "+33123456789" },
		{ " 06 12 34 56 78 ", "+33612345678" },
		{ "+33 1 23 45 67 89", "+33123456789" },
		{ "+33123456789", "+33123456789" },
		{ "0033123456789", "+33123456789" },
		{ "0033 1 23 45 67 89", "+33123456789" },
		{ "+33 (0)1 23 45 67 89", "+33123456789" },
		{ "+33(0)612345678", "+33612345678" },
		{ "+33 0612345678", "+33612345678" },
		/* overseas departments stay +33 */
		{ "0262 12 34 56", "+33262123456" },
		{ "0590 12 34 56", "+33590123456" },
		{ "+262 262 12 34 56", "+262262123456" },
		{ "+32 2 123 45 67", "+3221234567" },
		{ "0044 20 7946 0958", "+442079460958" },
		{ "+1 (212) 555-0123", "+12125550123" },
		{ "+123456789012345", "+123456789012345" },
		{ "+12345678", "+12345678" },
		{ "0012345678", "+12345678" },
	};
	static const char *const bad[] = {
		"", " ", "+", "00", "0", "123456789", "012345678",
		"01234567890", "1234567890", "+33 1 23 45 67 8",
		"+33 1 23 45 67 890", "+33 0 23 45 67 89", "+0123456789",
		"+1234567890123456", "+1234567", "01 23 45 67 8a",
		"01 23 45 67 89 poste 12", "+33 1 23+45 67 89", "1+33123456789",
		"(0)123456789", "01 (0)23456789", "tel: 0123456789",
		"01\t23 45 67 89",
		("0123456789012345678901234567890123456789"
		 "0123456789012345678901234567890123456789"),
	};
	char out[DIR_PHONE_LEN];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(ok); i++) {
		int r = dir_phone_e164(ok[i].in, out, sizeof(out));
		if (r != 0)
			fail_msg("'%s' refused (%d)", ok[i].in, r);
		assert_string_equal(out, ok[i].out);
	}
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		memcpy(out, "x", 2);
		int r = dir_phone_e164(bad[i], out, sizeof(out));
		if (r != ERR_INVAL)
			fail_msg("'%s' gave %d '%s'", bad[i], r, out);
		assert_string_equal(out, "");
	}
	/* the output must fit */
	assert_int_equal(dir_phone_e164("0123456789", out, 12), ERR_LIMIT);
	assert_int_equal(dir_phone_e164("0123456789", out, 13), 0);
	assert_string_equal(out, "+33123456789");
	assert_int_equal(dir_phone_e164("+442079460958", out, 13),
	    ERR_LIMIT);
	assert_int_equal(dir_phone_e164(NULL, out, sizeof(out)), ERR_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mss),
		cmocka_unit_test(test_mss_variant),
		cmocka_unit_test(test_ps52),
		cmocka_unit_test(test_ps56),
		cmocka_unit_test(test_mss_bad),
		cmocka_unit_test(test_ps_bad),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_latin1_header),
		cmocka_unit_test(test_unknown_header),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_not_files),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_emit_stops),
		cmocka_unit_test(test_display_name),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_phone),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
