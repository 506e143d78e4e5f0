/* SPDX-License-Identifier: MIT */
/*
 * test_dir_fhir.c - the directory's FHIR and JSON readers
 * (directory/directory.h). FHIR: every field of the fixture bundle
 * mapped exactly (accents included), only MSSANTE telecoms as mailboxes,
 * bad entries reported at their line or fatal when strict, each hostile
 * file refused with its exact message while libxml2's entity loader and
 * I/O callbacks stay untouched (and a FIFO or a loopback listener named
 * by a DTD is never opened), the depth limit, memory that does not grow
 * with the number of entries. JSON: to_json(from_json(x)) == x for a
 * full record, the three file shapes, every syntax and field error with
 * its exact message, the size limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlmemory.h>

#include "core/err.h"
#include "directory/directory.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_MAX_LEN 4096
#define ERR_LEN 1024
#define BAD_MAX 16
#define FHIR_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<Bundle xmlns=\"http://hl7.org/fhir\">\n"
#define FHIR_TAIL "</Bundle>\n"
#define MSS_EXT "<extension url=\"https://hl7.fr/ig/fhir/core/" \
	"StructureDefinition/fr-core-contact-point-email-type\">" \
	"<valueCoding><code value=\"MSSANTE\"/></valueCoding></extension>"
#define META_EXT(t) "<extension url=\"https://interop.esante.gouv.fr/ig/" \
	"fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata\">" \
	"<extension url=\"type\"><valueCodeableConcept><coding><code " \
	"value=\"" t "\"/></coding></valueCodeableConcept></extension>" \
	"</extension>"
#define MSS_TEL(addr) "<telecom>" MSS_EXT "<system value=\"email\"/>" \
	"<value value=\"" addr "\"/></telecom>"

/* ---- files ---- */

static const char *
srcdir(void)
{
	const char *env = getenv("MSSGATE_SRCDIR");

	if (env != NULL && *env != '\0')
		return env;
#ifdef MSSGATE_SRCDIR
	return MSSGATE_SRCDIR;
#else
	return ".";
#endif
}

static void
fixture(char *out, const char *kind, const char *name)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/tests/fixtures/directory/%s/%s",
	    srcdir(), kind, name);
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

static void
write_str(char *path, const char *name, const char *data)
{
	write_file(path, name, data, strlen(data));
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- watching libxml2: no outside access, and its memory ---- */

/*
 * Everything libxml2 would open besides the document (an external DTD, a
 * SYSTEM or parameter entity, an XInclude, file: or http:) goes through
 * the external entity loader, and every URI it opens through the input
 * callbacks. Both are replaced by counters that open nothing.
 * test_watch_works shows that they do see an access.
 */
static unsigned n_loads, n_opens;
static xmlExternalEntityLoader old_loader;
static int input_slot = -1;

static xmlParserInputPtr
counting_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	n_loads++;
	return NULL;
}

static int
counting_match(const char *uri)
{
	(void)uri;
	n_opens++;
	return 0;
}

static void *
never_open(const char *uri)
{
	(void)uri;
	return NULL;
}

static int
never_read(void *ctx, char *buf, int len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return -1;
}

static int
never_close(void *ctx)
{
	(void)ctx;
	return 0;
}

/* libxml2's live heap, through its allocator hooks: what the reader
 * holds at any moment (blocks of before the hooks make it drift, which
 * the memory test cancels by comparing two runs). */
static long long xml_live;

static void *
count_malloc(size_t n)
{
	void *p = malloc(n);
	if (p != NULL)
		xml_live += (long long)malloc_usable_size(p);
	return p;
}

static void *
count_realloc(void *old, size_t n)
{
	size_t was = old != NULL ? malloc_usable_size(old) : 0;
	void *p = realloc(old, n);
	if (p != NULL)
		xml_live += (long long)malloc_usable_size(p) - (long long)was;
	return p;
}

static void
count_free(void *p)
{
	if (p != NULL)
		xml_live -= (long long)malloc_usable_size(p);
	free(p);
}

static char *
count_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = count_malloc(n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (xmlMemSetup(count_free, count_malloc, count_realloc,
	    count_strdup) != 0)
		return -1;
	snprintf(tmp_base, sizeof(tmp_base), "%s/mss-test-dirfhir.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tmp_base) == NULL)
		return -1;
	xmlInitParser();
	old_loader = xmlGetExternalEntityLoader();
	xmlSetExternalEntityLoader(counting_loader);
	input_slot = xmlRegisterInputCallbacks(counting_match, never_open,
	    never_read, never_close);
	return input_slot < 0 ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	xmlSetExternalEntityLoader(old_loader);
	if (input_slot >= 0 && xmlPopInputCallbacks() != input_slot)
		return -1;
	return nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- reading ---- */

struct got {
	int r;
	char err[ERR_LEN];
	struct dir_record *recs;
	size_t n, cap;
	char bad[BAD_MAX][DIR_ERR_MAX];
	size_t n_bad;
	unsigned long lines, bad_r;
	/* emit fails at record fail_at (1-based), with fail_msg in err */
	size_t fail_at;
	const char *fail_msg;
	char *err_out;
	/* libxml2's live heap seen at each record */
	long long live_max;
};

static int
collect(struct dir_record *rec, void *arg)
{
	struct got *g = arg;

	/* every string of the record ends inside its array */
	assert_true(strnlen(rec->key, sizeof(rec->key)) < sizeof(rec->key));
	if (xml_live > g->live_max)
		g->live_max = xml_live;
	if (g->fail_at != 0 && g->n + 1 == g->fail_at) {
		if (g->fail_msg != NULL)
			snprintf(g->err_out, ERR_LEN, "%s", g->fail_msg);
		return ERR_LIMIT;
	}
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 16;
		g->recs = realloc(g->recs, g->cap * sizeof(*g->recs));
		assert_non_null(g->recs);
	}
	g->recs[g->n++] = *rec;
	return 0;
}

/* count_only - for big files: check the key, keep nothing. */
static int
count_only(struct dir_record *rec, void *arg)
{
	struct got *g = arg;

	assert_true(strncmp(rec->key, "fhir:Practitioner/p", 19) == 0);
	if (xml_live > g->live_max)
		g->live_max = xml_live;
	g->n++;
	return 0;
}

static void
on_bad(const char *file, unsigned long line, const char *reason, void *arg)
{
	struct got *g = arg;

	assert_true(g->n_bad < BAD_MAX);
	snprintf(g->bad[g->n_bad++], DIR_ERR_MAX, "%s:%lu: %s", file, line,
	    reason);
}

/* one_line - a message fit for a terminal: no control character. */
static void
one_line(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	assert_true(n < size);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			fail_msg("control character in '%s'", s);
}

enum { FMT_FHIR, FMT_JSON };

static void
got_free(struct got *g)
{
	free(g->recs);
	g->recs = NULL;
	g->n = g->cap = 0;
}

static void
run_as(int fmt, const char *path, const char *display, bool strict,
       dir_emit_fn *emit, struct got *g)
{
	struct dir_read_opts o = {
		.strict = strict, .bad = on_bad, .bad_arg = g,
		.display_name = display,
	};
	size_t keep_fail = g->fail_at;
	const char *keep_msg = g->fail_msg;

	memset(g, 0, sizeof(*g));
	memset(g->err, 0x5a, sizeof(g->err));	/* must be written */
	g->fail_at = keep_fail;
	g->fail_msg = keep_msg;
	g->err_out = g->err;
	g->live_max = xml_live;
	if (fmt == FMT_FHIR)
		g->r = dir_read_fhir(path, &o, emit, g, g->err,
		    sizeof(g->err));
	else
		g->r = dir_read_json(path, &o, emit, g, g->err,
		    sizeof(g->err));
	one_line(g->err, sizeof(g->err));
	g->lines = o.lines_r;
	g->bad_r = o.bad_r;
	assert_int_equal(g->bad_r, g->n_bad);
	for (size_t i = 0; i < g->n_bad; i++)
		one_line(g->bad[i], sizeof(g->bad[i]));
}

static void
run(int fmt, const char *path, bool strict, struct got *g)
{
	run_as(fmt, path, NULL, strict, collect, g);
}

/* expect_error - a refused read: its code and exact "PATH" + msg. */
static void
expect_error(const struct got *g, int r, const char *path, const char *msg)
{
	char want[ERR_LEN + PATH_MAX_LEN];

	snprintf(want, sizeof(want), "%s%s", path, msg);
	assert_string_equal(g->err, want);
	assert_int_equal(g->r, r);
}

static void
expect_ok(const struct got *g)
{
	if (g->r != 0)
		fail_msg("read failed (%d): %s", g->r, g->err);
	assert_string_equal(g->err, "");
}

/* expect_json - rec as JSON is exactly want (provenance aside). */
static void
expect_json(const struct dir_record *rec, const char *want)
{
	json_error_t je;
	json_t *w = json_loads(want, JSON_REJECT_DUPLICATES, &je);
	json_t *j = dir_record_to_json(rec);

	if (w == NULL)
		fail_msg("bad expectation %s: %s", want, je.text);
	assert_non_null(j);
	assert_int_equal(json_object_del(j, "source"), 0);
	if (!json_equal(j, w)) {
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		char *t = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
		print_error("got  %s\nwant %s\n", s, t);
		free(s);
		free(t);
		fail();
	}
	json_decref(j);
	json_decref(w);
}

/* ---- FHIR: the fixture bundle ---- */

static void
test_fhir_bundle(void **state)
{
	static const char *const want[] = {
		"{\"key\":\"fhir:Practitioner/pr-0001\","
		"\"idnat\":\"810100000011\",\"id_type\":\"8\","
		"\"rpps\":\"10100000011\",\"title\":\"DR\","
		"\"family\":\"Lefèvre-Dupré\",\"given\":\"Hélène\","
		"\"profession_code\":\"10\",\"profession\":\"Médecin\","
		"\"specialty_code\":\"SM54\","
		"\"specialty\":\"Médecine générale\","
		"\"street\":\"12 rue de l'Église, Bâtiment B\","
		"\"postcode\":\"45999\",\"city\":\"Saint-Rémy-sur-Loire\","
		"\"country\":\"France\",\"mailboxes\":[{\"address\":"
		"\"helene.lefevre-dupre@medecin.mssante.example\","
		"\"type\":\"PER\"}],\"phones\":[\"+33199001234\"],"
		"\"source_kind\":\"fhir\"}",
		"{\"key\":\"fhir:Practitioner/pr-0002\","
		"\"idnat\":\"0019900001\",\"id_type\":\"0\",\"title\":\"M\","
		"\"family\":\"Ébrard\",\"given\":\"François\","
		"\"profession_code\":\"60\",\"profession\":\"Infirmier\","
		"\"mailboxes\":[{\"address\":"
		"\"cabinet.ebrard@infirmier.mssante.example\","
		"\"type\":\"CAB\"}],\"source_kind\":\"fhir\"}",
		"{\"key\":\"fhir:PractitionerRole/role-0001\","
		"\"idnat\":\"810100000011\",\"id_type\":\"8\","
		"\"rpps\":\"10100000011\",\"specialty_code\":\"SM26\","
		"\"specialty\":\"Qualifiée en médecine générale\","
		"\"role\":\"Médecin salarié hospitalier\","
		"\"org_id\":\"org-0001\",\"mailboxes\":[{\"address\":"
		"\"helene.lefevre-dupre@ch-saint-etienne-des-pres.mssante."
		"example\",\"type\":\"PER\"}],\"source_kind\":\"fhir\"}",
		"{\"key\":\"fhir:PractitionerRole/role-0002\","
		"\"role\":\"FON-09\",\"org_id\":\"org-0002\","
		"\"source_kind\":\"fhir\"}",
		"{\"key\":\"fhir:Organization/org-0001\","
		"\"org_id\":\"1450099999\",\"finess\":\"450099999\","
		"\"siret\":\"99999999900017\","
		"\"org_name\":\"Centre hospitalier de "
		"Saint-Étienne-des-Prés\","
		"\"street\":\"1 avenue des Tilleuls\",\"postcode\":\"45998\","
		"\"city\":\"Saint-Étienne-des-Prés\",\"country\":\"France\","
		"\"mailboxes\":[{\"address\":"
		"\"urgences@ch-saint-etienne-des-pres.mssante.example\","
		"\"type\":\"ORG\"},{\"address\":"
		"\"dpi@ch-saint-etienne-des-pres.mssante.example\","
		"\"type\":\"APP\"}],\"phones\":[\"+33299000001\"],"
		"\"source_kind\":\"fhir\"}",
		"{\"key\":\"fhir:Organization/org-0002\","
		"\"org_id\":\"399999999900025\",\"siret\":\"99999999900025\","
		"\"org_name\":\"Maison de santé pluriprofessionnelle "
		"Les Côteaux\",\"mailboxes\":[{\"address\":"
		"\"accueil@msp-les-coteaux.mssante.example\","
		"\"type\":\"ORG\"}],\"source_kind\":\"fhir\"}",
	};
	static const uint32_t lines[] = { 18, 151, 200, 242, 261, 349 };
	char path[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	fixture(path, "fhir", "bundle.xml");
	n_loads = n_opens = 0;
	run(FMT_FHIR, path, true, &g);
	expect_ok(&g);
	assert_int_equal(g.n, N_ELEMENTS(want));
	assert_int_equal(g.lines, 8);	/* with the two other resources */
	assert_int_equal(g.n_bad, 0);
	for (size_t i = 0; i < g.n; i++) {
		expect_json(&g.recs[i], want[i]);
		assert_string_equal(g.recs[i].src_file, path);
		assert_int_equal(g.recs[i].src_line, lines[i]);
		/* the imported part only */
		assert_int_equal(g.recs[i].n_push, 0);
		assert_int_equal(g.recs[i].n_channels, 0);
		assert_int_equal(g.recs[i].quiet_start, -1);
	}
	/* the struct itself, for the fields that matter most */
	assert_string_equal(g.recs[0].family, "Lef\xc3\xa8vre-Dupr\xc3\xa9");
	assert_string_equal(g.recs[0].given, "H\xc3\xa9l\xc3\xa8ne");
	/* three e-mail telecoms, one MSSANTE; the HealthcareService's
	 * MSSANTE box is no record */
	assert_int_equal(g.recs[0].n_mbox, 1);
	assert_string_equal(g.recs[0].mbox[0].type, "PER");
	assert_int_equal(g.recs[4].n_mbox, 2);
	for (size_t i = 0; i < g.n; i++)
		for (size_t k = 0; k < g.recs[i].n_mbox; k++)
			assert_null(strstr(g.recs[i].mbox[k].addr,
			    "not-read"));
	assert_int_equal(n_loads, 0);
	assert_int_equal(n_opens, 0);
	got_free(&g);

	/* a display name is what messages and provenance show */
	run_as(FMT_FHIR, path, "annuaire.xml", false, collect, &g);
	expect_ok(&g);
	assert_string_equal(g.recs[0].src_file, "annuaire.xml");
	got_free(&g);
}

static void
test_fhir_bad_entries(void **state)
{
	static const char *const bad[] = {
		":7: Practitioner entry without id",
		":29: Practitioner/bad-mailbox: 'pas-une-adresse' is not a "
		"mailbox address",
		":47: Practitioner/long-name: family name longer than 127 "
		"bytes",
		":54: PractitionerRole id 'not a FHIR id' is not a FHIR id",
	};
	char path[PATH_MAX_LEN], want[PATH_MAX_LEN + 256];
	struct got g = { 0 };

	(void)state;
	fixture(path, "fhir", "bad-entries.xml");
	run(FMT_FHIR, path, false, &g);
	expect_ok(&g);
	assert_int_equal(g.lines, 6);
	assert_int_equal(g.n, 2);
	expect_json(&g.recs[0], "{\"key\":\"fhir:Practitioner/good-1\","
	    "\"family\":\"Bonnefoy\",\"given\":\"Ana\xc3\xafs\","
	    "\"source_kind\":\"fhir\"}");
	expect_json(&g.recs[1], "{\"key\":\"fhir:Organization/good-2\","
	    "\"org_name\":\"Pharmacie du March\xc3\xa9\","
	    "\"source_kind\":\"fhir\"}");
	assert_int_equal(g.n_bad, N_ELEMENTS(bad));
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		snprintf(want, sizeof(want), "%s%s", path, bad[i]);
		assert_string_equal(g.bad[i], want);
	}
	got_free(&g);
	/* strict: the first bad entry ends the read */
	run(FMT_FHIR, path, true, &g);
	expect_error(&g, ERR_INVAL, path, bad[0]);
	assert_int_equal(g.n, 0);
	assert_int_equal(g.n_bad, 0);
	got_free(&g);
}

/* Each resource alone in a bundle: the record it gives, or why not. */
static void
test_fhir_mapping(void **state)
{
	static const struct {
		const char *res, *json, *bad;
	} cases[] = {
		/* an RPPS alone gives IdNat_PS "8" + RPPS */
		{ "<Practitioner><id value=\"a\"/><identifier><type><coding>"
		  "<code value=\"RPPS\"/></coding></type><system value=\""
		  "urn:oid:1.2.250.1.71.4.2.1\"/><value value=\"10100000029\"/>"
		  "</identifier></Practitioner>",
		  "{\"key\":\"fhir:Practitioner/a\",\"idnat\":\"810100000029\","
		  "\"id_type\":\"8\",\"rpps\":\"10100000029\"}", NULL },
		{ "<Practitioner><id value=\"a\"/><identifier><system value="
		  "\"http://rpps.fr\"/><value value=\"1010000002\"/>"
		  "</identifier></Practitioner>", NULL,
		  "Practitioner/a: RPPS '1010000002' is not 11 digits" },
		/* an ADELI-typed identifier is not the IdNat_PS */
		{ "<Practitioner><id value=\"a\"/><identifier><type><coding>"
		  "<code value=\"ADELI\"/></coding></type><system value=\""
		  "urn:oid:1.2.250.1.71.4.2.1\"/><value value=\"019900003\"/>"
		  "</identifier></Practitioner>",
		  "{\"key\":\"fhir:Practitioner/a\"}", NULL },
		/* MSSANTE under another extension url is no mailbox; the
		 * same box twice is one */
		{ "<Practitioner><id value=\"a\"/><telecom><extension url=\""
		  "https://example.org/other\"><valueCoding><code value=\""
		  "MSSANTE\"/></valueCoding></extension><system value=\"email"
		  "\"/><value value=\"x@a.example\"/></telecom>"
		  MSS_TEL("y@a.example") MSS_TEL("Y@A.example")
		  "</Practitioner>",
		  "{\"key\":\"fhir:Practitioner/a\",\"mailboxes\":["
		  "{\"address\":"
		  "\"y@a.example\",\"type\":\"PER\"}]}", NULL },
		{ "<Practitioner><id value=\"a\"/><telecom>" MSS_EXT
		  META_EXT("XYZ") "<system value=\"email\"/><value value=\""
		  "z@a.example\"/></telecom></Practitioner>", NULL,
		  "Practitioner/a: unknown mailbox type 'XYZ'" },
		{ "<Organization><id value=\"o\"/>"
		  MSS_TEL("m1@o.example") MSS_TEL("m2@o.example")
		  MSS_TEL("m3@o.example") MSS_TEL("m4@o.example")
		  MSS_TEL("m5@o.example") MSS_TEL("m6@o.example")
		  MSS_TEL("m7@o.example") MSS_TEL("m8@o.example")
		  MSS_TEL("m9@o.example") "</Organization>", NULL,
		  "Organization/o: more than 8 MSSante mailboxes" },
		/* IdNat_Struct "2" + SIREN */
		{ "<Organization><id value=\"o\"/><identifier><system value=\""
		  "urn:oid:1.2.250.1.71.4.2.2\"/><value value=\"2999999999\"/>"
		  "</identifier><name value=\"SELAS Exemple\"/></Organization>",
		  "{\"key\":\"fhir:Organization/o\",\"org_id\":\"2999999999\","
		  "\"siren\":\"999999999\",\"org_name\":\"SELAS Exemple\"}",
		  NULL },
		/* an inline IdNat_Struct wins over the reference */
		{ "<PractitionerRole><id value=\"r\"/><organization>"
		  "<reference value=\"Organization/o-1\"/><identifier><system "
		  "value=\"urn:oid:1.2.250.1.71.4.2.2\"/><value value=\""
		  "1450099999\"/></identifier></organization><code><coding>"
		  "<code value=\"FON-01\"/><display value=\"Pharmacien "
		  "titulaire\"/></coding></code>" MSS_TEL("R@O.example")
		  "</PractitionerRole>",
		  "{\"key\":\"fhir:PractitionerRole/r\",\"org_id\":"
		  "\"1450099999\",\"finess\":\"450099999\",\"role\":"
		  "\"Pharmacien titulaire\",\"mailboxes\":[{\"address\":"
		  "\"r@o.example\",\"type\":\"PER\"}]}", NULL },
		{ "<Organization><id value=\"o\"/><identifier><system value=\""
		  "urn:oid:1.2.250.1.71.4.2.2\"/><value value=\""
		  "1234567890123456789012345678901234567890\"/></identifier>"
		  "</Organization>", NULL,
		  "Organization/o: identifier longer than 39 bytes" },
		{ "<Practitioner><id value=\"a\"/><id value=\"b\"/>"
		  "</Practitioner><Practitioner><id value=\"c\"/>"
		  "</Practitioner>",
		  "{\"key\":\"fhir:Practitioner/b\"}",
		  "more than one resource in an entry" },
		/* values are trimmed; empty ones are absent */
		{ "<Practitioner><id value=\" a \"/><name><family value=\""
		  "  Lebl\xc3\xa9  \"/><given value=\"\"/></name>"
		  "</Practitioner>",
		  "{\"key\":\"fhir:Practitioner/a\","
		  "\"family\":\"Lebl\xc3\xa9\"}",
		  NULL },
		{ "<Practitioner><id value=\"a\"/><name><family value=\""
		  "&#xE9;&#x301;&lt;&amp;\"/></name></Practitioner>",
		  "{\"key\":\"fhir:Practitioner/a\",\"family\":"
		  "\"\xc3\xa9\xcc\x81<&\"}", NULL },
		{ "<Practitioner><id value=\"" "0123456789012345678901234567"
		  "890123456789012345678901234567890123456789\"/>"
		  "</Practitioner>", NULL,
		  "Practitioner id '0123456789012345678901234567890123456789"
		  "012345678901234567890123...' is not a FHIR id" },
	};
	char doc[8192], path[PATH_MAX_LEN], want[PATH_MAX_LEN + 256];
	struct got g = { 0 };

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		int n = snprintf(doc, sizeof(doc), FHIR_HEAD "<entry>\n"
		    "<resource>%s</resource></entry>\n" FHIR_TAIL,
		    cases[i].res);
		assert_true(n > 0 && (size_t)n < sizeof(doc));
		write_str(path, "case.xml", doc);
		run(FMT_FHIR, path, false, &g);
		expect_ok(&g);
		assert_int_equal(g.n, cases[i].json != NULL);
		if (cases[i].json != NULL) {
			char full[2048];
			/* add the provenance kind every FHIR key has */
			snprintf(full, sizeof(full), "%.*s,\"source_kind\":"
			    "\"fhir\"}", (int)strlen(cases[i].json) - 1,
			    cases[i].json);
			expect_json(&g.recs[0], full);
		}
		assert_int_equal(g.n_bad, cases[i].bad != NULL);
		if (cases[i].bad != NULL) {
			snprintf(want, sizeof(want), "%s:4: %s", path,
			    cases[i].bad);
			assert_string_equal(g.bad[0], want);
		}
		got_free(&g);
	}
}

/* ---- FHIR: hostile and broken files ---- */

static void
test_fhir_refused(void **state)
{
	static const struct {
		const char *name, *msg;
		size_t n_rec;	/* emitted before the fault was found */
	} cases[] = {
		{ "billion-laughs.xml",
		  ":2: DOCTYPE not allowed in a FHIR bundle", 0 },
		{ "external-entity.xml",
		  ":3: DOCTYPE not allowed in a FHIR bundle", 0 },
		{ "external-dtd.xml",
		  ":3: DOCTYPE not allowed in a FHIR bundle", 0 },
		{ "parameter-entity.xml",
		  ":2: DOCTYPE not allowed in a FHIR bundle", 0 },
		/* the caller's transaction undoes the record before it */
		{ "truncated.xml",
		  ":14: the file ends inside the bundle (truncated?)", 1 },
		{ "invalid.xml",
		  ":7: Opening and ending tag mismatch: name line 7 and nom",
		  0 },
		{ "wrong-root.xml",
		  ":3: root element is 'Practitioner', expected 'Bundle' "
		  "(not a FHIR bundle)", 0 },
		{ "wrong-namespace.xml",
		  ":2: root element 'Bundle' is in namespace "
		  "'http://hl7.org/fhir/r5', expected http://hl7.org/fhir", 0 },
		{ "not-xml.txt",
		  ":1: not an XML document (a FHIR bundle was expected)", 0 },
	};
	char path[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	n_loads = n_opens = 0;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		fixture(path, "fhir", cases[i].name);
		for (int strict = 0; strict < 2; strict++) {
			run(FMT_FHIR, path, strict, &g);
			expect_error(&g, ERR_INVAL, path, cases[i].msg);
			assert_int_equal(g.n, cases[i].n_rec);
			assert_int_equal(g.n_bad, 0);
			got_free(&g);
		}
	}
	assert_int_equal(n_loads, 0);
	assert_int_equal(n_opens, 0);
}

static void
test_fhir_broken(void **state)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "", ": empty file" },
		{ "<?xml version=\"1.0\"?>\n<!-- nothing -->\n",
		  ":2: the file ends before the root element (truncated?)" },
		{ FHIR_HEAD "<entry><resource><Practitioner><id value=\"a\"/>"
		  "<name><family value=\"&x;\"/></name></Practitioner>"
		  "</resource></entry>" FHIR_TAIL,
		  ":3: Entity 'x' not defined" },
		{ "<Bundle xmlns=\"http://hl7.org/fhir\"><entry>",
		  ":1: the file ends inside the bundle (truncated?)" },
		{ "<Bundle/>", ":1: root element 'Bundle' has no namespace, "
		  "expected http://hl7.org/fhir" },
		{ FHIR_HEAD "<entry><resource><Practitioner><id value=\"a\"/>"
		  "<name><family value=\"\xff\"/></name></Practitioner>"
		  "</resource></entry>" FHIR_TAIL,
		  ":3: Input is not proper UTF-8, indicate encoding ! "
		  "Bytes: 0xFF 0x22 0x2F 0x3E" },
		/* a DOCTYPE after a comment and a PI, in UTF-8 */
		{ "<?xml version=\"1.0\"?>\n<?pi -- <!DOCTYPE x> ?>\n"
		  "<!-- <!DOCTYPE y> -->\n\n<!DOCTYPE Bundle>\n"
		  "<Bundle xmlns=\"http://hl7.org/fhir\"/>\n",
		  ":5: DOCTYPE not allowed in a FHIR bundle" },
	};
	char path[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	n_loads = n_opens = 0;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		write_str(path, "broken.xml", cases[i].doc);
		run(FMT_FHIR, path, false, &g);
		expect_error(&g, ERR_INVAL, path, cases[i].msg);
		assert_int_equal(g.n, 0);
		got_free(&g);
	}
	assert_int_equal(n_loads, 0);
	assert_int_equal(n_opens, 0);
}

/* Every prefix of the fixture bundle is refused, never taken for a
 * shorter bundle: a cut download cannot pass for a smaller directory. */
static void
test_fhir_prefixes(void **state)
{
	char path[PATH_MAX_LEN], cut[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	fixture(path, "fhir", "bundle.xml");
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *data = malloc(65536);
	assert_non_null(data);
	size_t len = fread(data, 1, 65536, f);
	assert_int_equal(fclose(f), 0);
	assert_true(len > 1000 && len < 65536);
	/* the last octets are "</Bundle>\n": every cut before them */
	for (size_t n = 0; n < len - 1; n += n < 200 ? 1 : 37) {
		write_file(cut, "cut.xml", data, n);
		run(FMT_FHIR, cut, false, &g);
		if (g.r == 0)
			fail_msg("prefix of %zu octets accepted", n);
		assert_true(strncmp(g.err, cut, strlen(cut)) == 0);
		assert_int_equal(g.err[strlen(cut)], ':');
		got_free(&g);
	}
	free(data);
}

/* test_watch_works - the counters see an access when libxml2 is asked
 * to load a DTD, so their staying at zero means something. */
static void
test_watch_works(void **state)
{
	static const char doc[] = "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE r SYSTEM \"file:///nonexistent/mss-test.dtd\">\n"
	    "<r/>\n";

	(void)state;
	n_loads = n_opens = 0;
	xmlDocPtr d = xmlReadMemory(doc, (int)strlen(doc), "watch.xml", NULL,
	    XML_PARSE_DTDLOAD | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlFreeDoc(d);
	assert_true(n_loads > 0);
	n_loads = n_opens = 0;
}

/*
 * test_no_outside_access - with libxml2's own loader back in place: a
 * DTD and an entity naming a FIFO (opening it would block: the alarm
 * would end the test) and a loopback listener (no connection may reach
 * it); XInclude, a style sheet PI and a schema location are ignored.
 */
static void
test_no_outside_access(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	char fifo[PATH_MAX_LEN], path[PATH_MAX_LEN], doc[4096];
	struct got g = { 0 };
	int ls, n;

	(void)state;
	tmp_path(fifo, "entity.fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 8), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &salen), 0);

	char urls[4][PATH_MAX_LEN + 64];
	snprintf(urls[0], sizeof(urls[0]), "%s", fifo);
	snprintf(urls[1], sizeof(urls[1]), "file://%s", fifo);
	snprintf(urls[2], sizeof(urls[2]), "http://127.0.0.1:%d/fhir.dtd",
	    ntohs(sa.sin_port));
	snprintf(urls[3], sizeof(urls[3]), "http://127.0.0.1:%d/e",
	    ntohs(sa.sin_port));
	xmlSetExternalEntityLoader(old_loader);
	alarm(20);
	for (size_t i = 0; i < 2 * N_ELEMENTS(urls); i++) {
		const char *url = urls[i / 2];
		if (i % 2 == 0)
			n = snprintf(doc, sizeof(doc), "<?xml version=\"1.0\"?>"
			    "\n<!DOCTYPE Bundle SYSTEM \"%s\">\n<Bundle "
			    "xmlns=\"http://hl7.org/fhir\"/>\n", url);
		else
			n = snprintf(doc, sizeof(doc), "<?xml version=\"1.0\"?>"
			    "\n<!DOCTYPE Bundle [\n<!ENTITY e SYSTEM \"%s\">]>"
			    "\n<Bundle xmlns=\"http://hl7.org/fhir\"><entry>"
			    "<resource><Practitioner><id value=\"a\"/><name>"
			    "<family value=\"&e;\"/></name></Practitioner>"
			    "</resource></entry></Bundle>\n", url);
		assert_true(n > 0 && (size_t)n < sizeof(doc));
		write_str(path, "outside.xml", doc);
		run(FMT_FHIR, path, false, &g);
		expect_error(&g, ERR_INVAL, path,
		    ":2: DOCTYPE not allowed in a FHIR bundle");
		assert_int_equal(g.n, 0);
		got_free(&g);
	}
	/* no DTD: XInclude, a style sheet and a schema are just markup */
	n = snprintf(doc, sizeof(doc), "<?xml version=\"1.0\"?>\n"
	    "<?xml-stylesheet href=\"file://%s\"?>\n"
	    "<Bundle xmlns=\"http://hl7.org/fhir\" "
	    "xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "xsi:schemaLocation=\"http://hl7.org/fhir http://127.0.0.1:%d/"
	    "b.xsd\"><xi:include href=\"file://%s\" parse=\"text\"/>"
	    "<entry><resource><Practitioner><id value=\"a\"/><name><family "
	    "value=\"Sûr\"/><xi:include href=\"http://127.0.0.1:%d/\"/>"
	    "</name></Practitioner></resource></entry></Bundle>\n", fifo,
	    ntohs(sa.sin_port), fifo, ntohs(sa.sin_port));
	assert_true(n > 0 && (size_t)n < sizeof(doc));
	write_str(path, "outside.xml", doc);
	run(FMT_FHIR, path, false, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.recs[0].family, "S\xc3\xbbr");
	got_free(&g);
	alarm(0);
	xmlSetExternalEntityLoader(counting_loader);

	/* nobody knocked */
	int c = accept(ls, NULL, NULL);
	assert_int_equal(c, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(close(ls), 0);
	assert_int_equal(unlink(fifo), 0);
}

static void
test_fhir_not_files(void **state)
{
	char path[PATH_MAX_LEN], msg[128];
	struct got g = { 0 };

	(void)state;
	run(FMT_FHIR, "/dev/null", false, &g);
	expect_error(&g, ERR_INVAL, "/dev/null", ": not a regular file");
	run(FMT_FHIR, tmp_base, false, &g);
	expect_error(&g, ERR_INVAL, tmp_base, ": not a regular file");
	tmp_path(path, "missing.xml");
	run(FMT_FHIR, path, false, &g);
	snprintf(msg, sizeof(msg), ": cannot open: %s", strerror(ENOENT));
	expect_error(&g, ERR_IO, path, msg);
	/* a FIFO as the file itself is refused without waiting */
	tmp_path(path, "bundle.fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(20);
	run(FMT_FHIR, path, false, &g);
	alarm(0);
	expect_error(&g, ERR_INVAL, path, ": not a regular file");
	run(FMT_JSON, path, false, &g);
	expect_error(&g, ERR_INVAL, path, ": not a regular file");
	assert_int_equal(unlink(path), 0);
}

/* nest - a Practitioner whose name holds extensions depth levels deep
 * (the bundle's elements count: Bundle is level 1). */
static void
write_nested(char *path, int levels)
{
	char *doc = malloc(65536);
	size_t o = 0;

	assert_non_null(doc);
	o += (size_t)snprintf(doc, 65536, FHIR_HEAD "<entry><resource>"
	    "<Practitioner><id value=\"deep\"/><name>\n");
	/* Bundle entry resource Practitioner name: 5 levels so far */
	for (int i = 5; i < levels; i++)
		o += (size_t)snprintf(doc + o, 65536 - o, "<extension>");
	for (int i = 5; i < levels; i++)
		o += (size_t)snprintf(doc + o, 65536 - o, "</extension>");
	o += (size_t)snprintf(doc + o, 65536 - o, "<family value=\"Profond\"/>"
	    "</name></Practitioner></resource></entry>" FHIR_TAIL);
	assert_true(o < 65536);
	write_file(path, "deep.xml", doc, o);
	free(doc);
}

static void
test_fhir_depth(void **state)
{
	char path[PATH_MAX_LEN], msg[128];
	struct got g = { 0 };

	(void)state;
	write_nested(path, DIR_XML_MAX_DEPTH);
	run(FMT_FHIR, path, true, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.recs[0].family, "Profond");
	got_free(&g);
	write_nested(path, DIR_XML_MAX_DEPTH + 1);
	run(FMT_FHIR, path, false, &g);
	snprintf(msg, sizeof(msg), ":4: elements nested deeper than %d "
	    "levels", DIR_XML_MAX_DEPTH);
	expect_error(&g, ERR_LIMIT, path, msg);
	assert_int_equal(g.n, 0);
	/* far deeper than libxml2's own limit: still ours or libxml2's,
	 * never a crash */
	write_nested(path, 2000);
	run(FMT_FHIR, path, false, &g);
	assert_true(g.r == ERR_LIMIT || g.r == ERR_INVAL);
	assert_int_equal(g.n, 0);
}

/* write_entries - a bundle of n Practitioner entries of ~600 octets. */
static void
write_entries(char *path, const char *name, size_t n)
{
	tmp_path(path, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_true(fputs(FHIR_HEAD, f) >= 0);
	for (size_t i = 0; i < n; i++)
		assert_true(fprintf(f, "<entry><resource><Practitioner>"
		    "<id value=\"p%zu\"/><identifier><system value=\"urn:oid:"
		    "1.2.250.1.71.4.2.1\"/><value value=\"8%011zu\"/>"
		    "</identifier><name><family value=\"Famille%zu\"/><given "
		    "value=\"Pr\xc3\xa9nom\"/></name>" MSS_TEL("p%zu@x.example")
		    "</Practitioner></resource></entry>\n", i, i, i, i) > 0);
	assert_true(fputs(FHIR_TAIL, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* test_fhir_memory - libxml2's heap at its highest during a read of
 * 40000 entries is what it is for 2000: nothing accumulates. */
static void
test_fhir_memory(void **state)
{
	char path[PATH_MAX_LEN];
	long long small, big, base;
	struct got g = { 0 };

	(void)state;
	write_entries(path, "small.xml", 2000);
	base = xml_live;
	run_as(FMT_FHIR, path, NULL, true, count_only, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 2000);
	small = g.live_max - base;
	write_entries(path, "big.xml", 40000);
	base = xml_live;
	run_as(FMT_FHIR, path, NULL, true, count_only, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 40000);
	big = g.live_max - base;
	print_message("# libxml2 heap: %lld octets for 2000 entries, %lld for "
	    "40000\n", small, big);
	assert_true(small > 0);
	assert_true(big <= small + 4096);
	assert_int_equal(unlink(path), 0);
}

/* test_fhir_emit_error - the emitter's error ends the read; its own
 * words in err are kept, else the entry and the code are named. */
static void
test_fhir_emit_error(void **state)
{
	char path[PATH_MAX_LEN];
	struct got g = { .fail_at = 2 };

	(void)state;
	fixture(path, "fhir", "bundle.xml");
	run(FMT_FHIR, path, false, &g);
	expect_error(&g, ERR_LIMIT, path, ":151: Practitioner/pr-0002: "
	    "limit exceeded");
	assert_int_equal(g.n, 1);
	got_free(&g);
	g.fail_msg = "store says no";
	run(FMT_FHIR, path, false, &g);
	assert_string_equal(g.err, "store says no");
	assert_int_equal(g.r, ERR_LIMIT);
	got_free(&g);
}

/* ---- JSON: one record ---- */

static json_t *
load_fixture_json(const char *name)
{
	char path[PATH_MAX_LEN];
	json_error_t je;

	fixture(path, "json", name);
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		fail_msg("%s:%d: %s", path, je.line, je.text);
	return j;
}

static void
test_json_round_trip(void **state)
{
	struct dir_record rec, again;
	char err[DIR_ERR_MAX];
	json_t *x = load_fixture_json("full.json");

	(void)state;
	assert_int_equal(dir_record_from_json(x, &rec, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* the struct, field by field where it is not a plain string */
	assert_int_equal(rec.id, 42);
	assert_string_equal(rec.family, "Lef\xc3\xa8vre-Dupr\xc3\xa9");
	assert_string_equal(rec.org_name, "Cabinet m\xc3\xa9" "dical de "
	    "l'\xc3\x89glise");
	assert_int_equal(rec.n_mbox, 2);
	assert_string_equal(rec.mbox[1].addr,
	    "cabinet.eglise@medecin.mssante.example");
	assert_string_equal(rec.mbox[1].type, "CAB");
	assert_int_equal(rec.n_phone, 2);
	assert_string_equal(rec.phone[1], "+33699001234");
	assert_int_equal(rec.n_push, 1);
	assert_string_equal(rec.push[0].auth, "mCgtxF0XCuqQ25ooETglgA");
	assert_int_equal(rec.n_channels, 3);
	assert_int_equal(rec.channels[0], DIR_CH_PUSH);
	assert_int_equal(rec.channels[1], DIR_CH_MAIL);
	assert_int_equal(rec.channels[2], DIR_CH_SMS);
	assert_int_equal(rec.quiet_start, 22 * 60);
	assert_int_equal(rec.quiet_end, 7 * 60 + 30);
	assert_string_equal(rec.lang, "fr");
	assert_string_equal(rec.account, "dr.lefevre@mssante.localhost");

	json_t *y = dir_record_to_json(&rec);
	assert_non_null(y);
	if (!json_equal(x, y)) {
		char *s = json_dumps(y, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("round trip differs: %s", s);
	}
	/* and once more from the output */
	assert_int_equal(dir_record_from_json(y, &again, err, sizeof(err)),
	    0);
	json_t *z = dir_record_to_json(&again);
	assert_true(json_equal(y, z));
	json_decref(x);
	json_decref(y);
	json_decref(z);
}

static void
test_json_to_json(void **state)
{
	struct dir_record rec;
	json_error_t je;

	(void)state;
	/* empty strings and arrays, id 0 and no quiet hours are left out */
	dir_record_init(&rec);
	memcpy(rec.key, "ps:810100000011/C1", 19);
	json_t *j = dir_record_to_json(&rec);
	json_t *w = json_loads("{\"key\":\"ps:810100000011/C1\","
	    "\"source_kind\":\"ps\"}", 0, &je);
	assert_true(json_equal(j, w));
	json_decref(j);
	json_decref(w);
	/* provenance is written; reading it back ignores it */
	rec.src_date = 1795341600;
	rec.src_line = 12;
	memcpy(rec.src_file, "PS_LibreAcces.txt", 18);
	rec.quiet_start = 0;
	rec.quiet_end = 23 * 60 + 59;
	j = dir_record_to_json(&rec);
	w = json_loads("{\"key\":\"ps:810100000011/C1\",\"source_kind\":"
	    "\"ps\",\"quiet_hours\":{\"start\":\"00:00\",\"end\":\"23:59\"},"
	    "\"source\":{\"file\":\"PS_LibreAcces.txt\",\"date\":1795341600,"
	    "\"line\":12}}", 0, &je);
	assert_true(json_equal(j, w));
	struct dir_record back;
	char err[DIR_ERR_MAX];
	assert_int_equal(dir_record_from_json(j, &back, err, sizeof(err)), 0);
	assert_string_equal(back.src_file, "");
	assert_int_equal(back.src_date, 0);
	assert_int_equal(back.src_line, 0);
	json_decref(j);
	json_decref(w);
	/* bytes that are not UTF-8 do not make the record unprintable */
	memcpy(rec.family, "Caf\xe9", 5);
	j = dir_record_to_json(&rec);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "family")),
	    "Caf?");
	json_decref(j);
}

/* test_json_keys - the key a record without one gets. */
static void
test_json_keys(void **state)
{
	struct dir_record rec;
	char err[DIR_ERR_MAX];
	json_error_t je;
	json_t *j;

	(void)state;
	j = json_loads("{\"idnat\":\"810100000011\",\"mailboxes\":[{"
	    "\"address\":\"A@B.example\",\"type\":\"CAB\"}]}", 0, &je);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.key, "local:a@b.example");
	json_decref(j);
	j = json_loads("{\"idnat\":\"810100000011\"}", 0, &je);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.key, "local:810100000011");
	json_decref(j);
	j = json_loads("{\"family\":\"Sans\"}", 0, &je);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_int_equal(strlen(rec.key), 6 + 16);
	assert_true(strncmp(rec.key, "local:", 6) == 0);
	assert_int_equal(strspn(rec.key + 6, "0123456789abcdef"), 16);
	char first[DIR_KEY_MAX];
	memcpy(first, rec.key, sizeof(first));
	/* the same record again: the same key (a re-import finds it) */
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.key, first);
	json_decref(j);
	j = json_loads("{\"family\":\"Sans\",\"given\":\"Autre\"}", 0, &je);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_string_not_equal(rec.key, first);
	json_decref(j);
	/* a key of another source is kept as given */
	j = json_loads("{\"key\":\"fhir:Practitioner/x\"}", 0, &je);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.key, "fhir:Practitioner/x");
	json_decref(j);
}

static void
test_json_field_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "[]", "a record must be a JSON object" },
		{ "{\"familly\":\"x\"}", "unknown field 'familly'" },
		{ "{\"resourceType\":\"Bundle\"}", "unknown field "
		  "'resourceType': a FHIR resource in JSON? FHIR bundles are "
		  "read in XML (_format=xml)" },
		{ "{\"source\":{},\"x\\u0001\":1}",
		  "unknown field 'x\\x01'" },
		{ "{\"family\":12}", "field 'family' must be a string" },
		{ "{\"family\":\"a\\u0000b\"}",
		  "field 'family' contains a NUL character" },
		{ "{\"family\":\"a\\nb\"}",
		  "field 'family' contains a control character" },
		{ "{\"family\":\""
		  "0123456789012345678901234567890123456789012345678901234567"
		  "8901234567890123456789012345678901234567890123456789012345"
		  "678901234567\"}",
		  "field 'family' is longer than 127 bytes" },
		{ "{\"postcode\":\"0123456789abcdef\"}",
		  "field 'postcode' is longer than 15 bytes" },
		{ "{\"id\":-1}", "field 'id' must be an integer from 0 to "
		  "4294967295" },
		{ "{\"id\":4294967296}", "field 'id' must be an integer from "
		  "0 to 4294967295" },
		{ "{\"id\":1.5}", "field 'id' must be an integer from 0 to "
		  "4294967295" },
		{ "{\"key\":\"foo:x\"}", "field 'key': 'foo:x' is not 'mss:', "
		  "'ps:', 'fhir:' or 'local:' followed by an id" },
		{ "{\"key\":\"local:\"}", "field 'key': 'local:' is not "
		  "'mss:', 'ps:', 'fhir:' or 'local:' followed by an id" },
		{ "{\"mailboxes\":{}}", "field 'mailboxes' must be an array" },
		{ "{\"mailboxes\":[\"a@b.example\"]}", "field 'mailboxes[0]' "
		  "must be an object {\"address\", \"type\"}" },
		{ "{\"mailboxes\":[{\"type\":\"PER\"}]}",
		  "field 'mailboxes[0].address' is missing" },
		{ "{\"mailboxes\":[{\"address\":\"a@b.example\","
		  "\"type\":\"XYZ\"}]}",
		  "field 'mailboxes[0].type' must be PER, CAB, ORG or APP" },
		{ "{\"mailboxes\":[{\"address\":\"a@b.example\","
		  "\"kind\":\"PER\"}]}", "unknown field 'mailboxes[0].kind'" },
		{ "{\"mailboxes\":[{\"address\":\"a@b.example\"},"
		  "{\"address\":\"a b@c.example\"}]}", "field 'mailboxes[1]': "
		  "'a b@c.example' is not a mailbox address" },
		{ "{\"mailboxes\":[{\"address\":\"a1@b\"},{\"address\":\"a2@b\""
		  "},{\"address\":\"a3@b\"},{\"address\":\"a4@b\"},{\"address\""
		  ":\"a5@b\"},{\"address\":\"a6@b\"},{\"address\":\"a7@b\"},"
		  "{\"address\":\"a8@b\"},{\"address\":\"a9@b\"}]}",
		  "field 'mailboxes' has more than 8 elements" },
		{ "{\"phones\":[\"01 99 00 12 34\",\"12\"]}",
		  "field 'phones[1]': '12' is not a phone number" },
		{ "{\"phones\":[1]}", "field 'phones[0]' must be a string" },
		{ "{\"phones\":[\"0199001231\",\"0199001232\",\"0199001233\","
		  "\"0199001234\",\"0199001235\"]}",
		  "field 'phones' has more than 4 elements" },
		{ "{\"push\":[{\"endpoint\":\"http://push.example/x\","
		  "\"p256dh\":\"x\",\"auth\":\"y\"}]}",
		  "field 'push[0].endpoint' must be an https:// URL" },
		{ "{\"push\":[{\"endpoint\":\"https://push.example/x\","
		  "\"auth\":\"mCgtxF0XCuqQ25ooETglgA\"}]}",
		  "field 'push[0].p256dh' is missing" },
		{ "{\"push\":[{\"endpoint\":\"https://push.example/x\","
		  "\"p256dh\":\"mCgtxF0XCuqQ25ooETglgA\","
		  "\"auth\":\"mCgtxF0XCuqQ25ooETglgA\"}]}",
		  "field 'push[0].p256dh' must be the base64url of a 65-byte "
		  "uncompressed P-256 point" },
		/* 65 octets, but 0x05 first: no uncompressed point */
		{ "{\"push\":[{\"endpoint\":\"https://push.example/x\","
		  "\"p256dh\":\"BREbZVr23ozKDqAG6EQZMmfPi9vR8sT32wXlfb7pQPdgXi"
		  "30d-GXUSIjBJlAdyx1GuTmecypcXbFxZUf-g9qx_I\","
		  "\"auth\":\"mCgtxF0XCuqQ25ooETglgA\"}]}",
		  "field 'push[0].p256dh' must be the base64url of a 65-byte "
		  "uncompressed P-256 point" },
		{ "{\"push\":[{\"endpoint\":\"https://push.example/x\","
		  "\"p256dh\":\"BBEbZVr23ozKDqAG6EQZMmfPi9vR8sT32wXlfb7pQPdgXi"
		  "30d-GXUSIjBJlAdyx1GuTmecypcXbFxZUf-g9qx_I\","
		  "\"auth\":\"mCgtxF0XCuqQ25ooETgl+A\"}]}",
		  "field 'push[0].auth' must be the base64url of 16 bytes" },
		{ "{\"push\":[{\"endpoint\":\"https://push.example/x\","
		  "\"p256dh\":\"BBEbZVr23ozKDqAG6EQZMmfPi9vR8sT32wXlfb7pQPdgXi"
		  "30d-GXUSIjBJlAdyx1GuTmecypcXbFxZUf-g9qx_I\","
		  "\"auth\":\"mCgtxF0XCuqQ25ooETglgA\",\"ttl\":1}]}",
		  "unknown field 'push[0].ttl'" },
		{ "{\"channels\":[\"mail\",\"fax\"]}",
		  "field 'channels[1]': unknown channel 'fax' (mail, push or "
		  "sms)" },
		{ "{\"channels\":[\"mail\",\"mail\"]}",
		  "field 'channels[1]': channel 'mail' given twice" },
		{ "{\"channels\":\"mail\"}", "field 'channels' must be an "
		  "array" },
		{ "{\"quiet_hours\":{\"start\":\"24:00\",\"end\":\"07:00\"}}",
		  "field 'quiet_hours.start' must be a time \"HH:MM\"" },
		{ "{\"quiet_hours\":{\"start\":\"22:00\"}}",
		  "field 'quiet_hours.end' must be a time \"HH:MM\"" },
		{ "{\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"7:00\"}}",
		  "field 'quiet_hours.end' must be a time \"HH:MM\"" },
		{ "{\"quiet_hours\":\"22:00-07:00\"}", "field 'quiet_hours' "
		  "must be an object {\"start\": \"HH:MM\", \"end\": "
		  "\"HH:MM\"}" },
		{ "{\"lang\":\"fr-FR-x-long\"}",
		  "field 'lang' is longer than 7 bytes" },
		{ "{\"mailboxes\":[{\"address\":\""
		  "a23456789012345678901234567"
		  "890123456789012345678901234567890123456789012345678901234"
		  "5678901234567890123456789012345678901234567890123456789012"
		  "34567890123456789012345678901234567890123456789012345678@b"
		  "\"}]}",
		  "field 'key': the default key 'local:' + address is longer "
		  "than 191 bytes" },
	};
	struct dir_record rec;
	char err[DIR_ERR_MAX];
	json_error_t je;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY |
		    JSON_ALLOW_NUL, &je);
		if (j == NULL)
			fail_msg("case %zu: %s", i, je.text);
		memset(err, 0x5a, sizeof(err));
		int r = dir_record_from_json(j, &rec, err, sizeof(err));
		if (r != ERR_INVAL)
			fail_msg("case %zu (%s): %d, %s", i, cases[i].json, r,
			    r == 0 ? rec.key : err);
		assert_string_equal(err, cases[i].msg);
		json_decref(j);
	}
	/* null stands for absent */
	json_t *j = json_loads("{\"family\":null,\"mailboxes\":null,"
	    "\"quiet_hours\":null,\"id\":null,\"push\":null}", 0, &je);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_string_equal(rec.family, "");
	assert_int_equal(rec.quiet_start, -1);
	json_decref(j);
	/* padded base64url is accepted too */
	j = json_loads("{\"push\":[{\"endpoint\":\"https://p.example/1\","
	    "\"p256dh\":\"BLuaRDxV-aDyOz6g_er6BlnrrOJvcvsPDWm9RspDZi1otNBfx_"
	    "2FoKd1E-NkfB1UmJsJ0vfg_tEgoWtPDZtVokY=\",\"auth\":"
	    "\"mCgtxF0XCuqQ25ooETglgA==\"}]}", 0, &je);
	assert_non_null(j);
	assert_int_equal(dir_record_from_json(j, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.n_push, 1);
	json_decref(j);
}

/* ---- JSON: files ---- */

static void
test_json_files(void **state)
{
	char path[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	/* one object */
	fixture(path, "json", "full.json");
	run(FMT_JSON, path, true, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.lines, 1);
	assert_int_equal(g.recs[0].id, 42);
	assert_string_equal(g.recs[0].src_file, path);
	assert_int_equal(g.recs[0].src_line, 1);
	got_free(&g);

	/* an array; the given source is ignored, ours is set */
	fixture(path, "json", "records.json");
	run(FMT_JSON, path, true, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.lines, 3);
	expect_json(&g.recs[0], "{\"key\":\"local:zoe.maite@sagefemme."
	    "mssante.example\",\"family\":\"Ma\xc3\xaft\xc3\xa9\",\"given\":"
	    "\"Zo\xc3\xab\",\"profession_code\":\"50\",\"profession\":"
	    "\"Sage-femme\",\"mailboxes\":[{\"address\":\"zoe.maite@"
	    "sagefemme.mssante.example\",\"type\":\"PER\"}],\"phones\":"
	    "[\"+33199004567\"],\"source_kind\":\"local\"}");
	expect_json(&g.recs[1], "{\"key\":\"local:jerome.coeurderoy@"
	    "pharmacien.mssante.example\",\"family\":\"C\xc5\x93urderoy\","
	    "\"given\":\"J\xc3\xa9r\xc3\xb4me\",\"mailboxes\":[{\"address\":"
	    "\"jerome.coeurderoy@pharmacien.mssante.example\",\"type\":"
	    "\"PER\"}],\"channels\":[\"mail\"],\"source_kind\":\"local\"}");
	expect_json(&g.recs[2], "{\"key\":\"local:810100000029\","
	    "\"idnat\":\"810100000029\","
	    "\"family\":\"\xc3\x98" "deg\xc3\xa5rd\","
	    "\"given\":\"\xc3\x85" "sa\",\"source_kind\":\"local\"}");
	assert_int_equal(g.recs[0].src_line, 2);
	assert_int_equal(g.recs[1].src_line, 13);
	assert_int_equal(g.recs[2].src_line, 19);
	assert_int_equal(g.recs[0].src_date, 0);
	got_free(&g);

	/* JSON Lines, with an empty line */
	fixture(path, "json", "records.jsonl");
	run(FMT_JSON, path, true, &g);
	expect_ok(&g);
	assert_int_equal(g.n, 3);
	expect_json(&g.recs[0], "{\"key\":\"local:a1\",\"family\":"
	    "\"Nguy\xe1\xbb\x85n\",\"given\":\"Th\xe1\xbb\x8b Lan\",\"city\":"
	    "\"Besan\xc3\xa7on\",\"source_kind\":\"local\"}");
	assert_string_equal(g.recs[1].key, "local:0019900002");
	assert_true(strncmp(g.recs[2].key, "local:", 6) == 0);
	assert_int_equal(strlen(g.recs[2].key), 22);
	assert_int_equal(g.recs[2].src_line, 4);
	got_free(&g);
}

static void
test_json_bad_records(void **state)
{
	static const char *const bad[] = {
		":2: unknown field 'familly'",
		":3: field 'family' must be a string",
		":5: field 'phones[0]': 'not a phone' is not a phone number",
		/* one string (clang warns of a missing comma otherwise) */
		(":6: field 'mailboxes[0]': 'sans-arobase' is not a "
		"mailbox address"),
	};
	char path[PATH_MAX_LEN], want[PATH_MAX_LEN + 256];
	struct got g = { 0 };

	(void)state;
	fixture(path, "json", "bad-records.jsonl");
	run(FMT_JSON, path, false, &g);
	expect_ok(&g);
	assert_int_equal(g.lines, 6);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.recs[0].key, "local:ok-1");
	assert_string_equal(g.recs[1].key, "local:ok-2");
	assert_int_equal(g.n_bad, N_ELEMENTS(bad));
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		snprintf(want, sizeof(want), "%s%s", path, bad[i]);
		assert_string_equal(g.bad[i], want);
	}
	got_free(&g);
	run(FMT_JSON, path, true, &g);
	expect_error(&g, ERR_INVAL, path, bad[0]);
	assert_int_equal(g.n, 1);
	got_free(&g);
}

static void
test_json_syntax(void **state)
{
	static const struct {
		const char *text, *msg;
		size_t n_rec;
	} cases[] = {
		{ "", ": no record: the file is empty", 0 },
		{ " \n\t\r\n", ": no record: the file is empty", 0 },
		{ "x", ":1: column 1: expected a JSON object or array", 0 },
		{ "\n  \"a\"", ":2: column 3: expected a JSON object or array",
		  0 },
		{ "[1]", ":1: column 2: expected a record (a JSON object)",
		  0 },
		{ "[{} {}]", ":1: column 5: expected ',' or ']' after a "
		  "record", 1 },
		{ "[{},]", ":1: column 5: expected a record (a JSON object)",
		  1 },
		{ "[{}] x", ":1: column 6: unexpected data after the array",
		  1 },
		{ "[{}", ":1: expected ',' or ']' after a record, found the "
		  "end of the file (truncated?)", 1 },
		{ "[", ":1: expected a record (a JSON object), found the end "
		  "of the file (truncated?)", 0 },
		{ "{} {}", ":1: column 4: a record must start on a new line",
		  1 },
		{ "{}\n[]", ":2: column 1: expected a record (a JSON object) "
		  "or the end of the file", 1 },
		{ "{}\n{\"family\":}", ":2: column 11: unexpected token near "
		  "'}'", 1 },
		{ "  {\"family\":\"\xff\"}", ":1: column 13: unable to decode "
		  "byte 0xff near '\"'", 0 },
		/* jansson quotes the input: control bytes are escaped */
		{ "{\"key\": \x08}", ":1: column 9: invalid token near "
		  "'\\x08'", 0 },
		{ "\xef\xbb\xbf{\"family\":\"BOM\"}", NULL, 1 },
		{ "[]", NULL, 0 },
		{ "[\n{},\n\n{}\n]\n", NULL, 2 },
	};
	char path[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		write_str(path, "syntax.json", cases[i].text);
		run(FMT_JSON, path, false, &g);
		if (cases[i].msg == NULL)
			expect_ok(&g);
		else
			expect_error(&g, ERR_INVAL, path, cases[i].msg);
		assert_int_equal(g.n, cases[i].n_rec);
		got_free(&g);
	}
	fixture(path, "json", "truncated.json");
	run(FMT_JSON, path, false, &g);
	expect_error(&g, ERR_INVAL, path, ":3: column 37: unexpected newline "
	    "near '\"Coup'");
	assert_int_equal(g.n, 1);
	got_free(&g);
	fixture(path, "json", "duplicate.json");
	run(FMT_JSON, path, false, &g);
	expect_error(&g, ERR_INVAL, path, ":3: column 9: duplicate object "
	    "key near '\"family\"'");
	assert_int_equal(g.n, 0);
	got_free(&g);
}

static void
test_json_size(void **state)
{
	char path[PATH_MAX_LEN];
	struct got g = { 0 };

	(void)state;
	tmp_path(path, "huge.json");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ((off_t)64 << 20) + 1), 0);
	assert_int_equal(close(fd), 0);
	run(FMT_JSON, path, false, &g);
	expect_error(&g, ERR_LIMIT, path, ": file larger than 67108864 bytes "
	    "(64 MiB)");
	assert_int_equal(unlink(path), 0);
	run(FMT_JSON, "/dev/null", false, &g);
	expect_error(&g, ERR_INVAL, "/dev/null", ": not a regular file");
}

static void
test_json_emit_error(void **state)
{
	char path[PATH_MAX_LEN];
	struct got g = { .fail_at = 3 };

	(void)state;
	fixture(path, "json", "records.json");
	run(FMT_JSON, path, false, &g);
	expect_error(&g, ERR_LIMIT, path, ":19: record 'local:810100000029': "
	    "limit exceeded");
	assert_int_equal(g.n, 2);
	got_free(&g);
	g.fail_msg = "kept as it is";
	run(FMT_JSON, path, false, &g);
	assert_string_equal(g.err, "kept as it is");
	got_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fhir_bundle),
		cmocka_unit_test(test_fhir_bad_entries),
		cmocka_unit_test(test_fhir_mapping),
		cmocka_unit_test(test_fhir_refused),
		cmocka_unit_test(test_fhir_broken),
		cmocka_unit_test(test_fhir_prefixes),
		cmocka_unit_test(test_watch_works),
		cmocka_unit_test(test_no_outside_access),
		cmocka_unit_test(test_fhir_not_files),
		cmocka_unit_test(test_fhir_depth),
		cmocka_unit_test(test_fhir_memory),
		cmocka_unit_test(test_fhir_emit_error),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_to_json),
		cmocka_unit_test(test_json_keys),
		cmocka_unit_test(test_json_field_errors),
		cmocka_unit_test(test_json_files),
		cmocka_unit_test(test_json_bad_records),
		cmocka_unit_test(test_json_syntax),
		cmocka_unit_test(test_json_size),
		cmocka_unit_test(test_json_emit_error),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
