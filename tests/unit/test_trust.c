/* SPDX-License-Identifier: MIT */
/*
 * test_trust.c - the trust space as files and names (relay/trust.h): the
 * ANS white-list reader on every file of tests/fixtures/trust/ (the
 * domains it yields, in order, or its exact error with file and line),
 * proof that no entity, DTD or include makes it open anything (libxml2's
 * entity loader and I/O layer are watched), its size limits (the file,
 * on its size and on what is read; the number of domains; one name),
 * line numbers past libxml2's 16-bit ones, every prefix of a valid list
 * refused; then domain normalization (case, spaces, trailing dot,
 * A-labels both ways, Unicode, the length and hyphen rules, what is
 * refused and why) and Punycode against the RFC 3492 samples.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>

#include "core/err.h"
#include "relay/trust.h"
#include "relay/trust_int.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_MAX_LEN 4096
#define ERR_LEN 1024
#define NOW INT64_C(1795341600)		/* Sun, 22 Nov 2026 10:00:00 +0000 */
#define NS "https://listeblanche.mssante.fr/schema"
#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<ListeBlancheMSSante xmlns=\"" NS "\">\n<ListeDomaines>\n"
#define TAIL "</ListeDomaines>\n</ListeBlancheMSSante>\n"

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
	const char *suffix = "tests/unit/test_trust.c";
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
	int n = snprintf(out, PATH_MAX_LEN, "%s/tests/fixtures/trust/%s",
	    srcdir(), name);
	assert_true(n > 0 && n < PATH_MAX_LEN);
}

/* The group's temporary folder, for generated lists. */
static char tmp_base[PATH_MAX_LEN];

static void
tmp_path(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/%s", tmp_base, name);
	assert_true(n > 0 && n < PATH_MAX_LEN);
}

/* write_file - name in the temporary folder with exactly data[len]; its
 * path into path. */
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

/* read_all - a file into a malloc'd buffer (NUL added, not counted). */
static char *
read_all(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0;

	assert_non_null(f);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		size_t n = fread(data + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	assert_int_equal(ferror(f), 0);
	assert_int_equal(fclose(f), 0);
	data[len] = '\0';
	*len_r = len;
	return data;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- watching libxml2 for any outside access ---- */

/*
 * Everything libxml2 would open besides the document we hand it (an
 * external DTD, a SYSTEM or parameter entity, an XInclude, whether file:
 * or http:) goes through the external entity loader, and every URI it
 * opens through the registered input callbacks, newest first. Both are
 * replaced by counters that open nothing: the reader must never call
 * them. test_watch_works shows that they do see an access.
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
	return 0;	/* not ours: libxml2 would go on to its own */
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

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmp_base, sizeof(tmp_base), "%s/mss-test-trust.XXXXXX",
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

/* ---- loading ---- */

struct loaded {
	int r;
	struct store_trust *list;
	size_t n, n_bad;
	char err[ERR_LEN];
};

/* one_line - an error message fit for a terminal or a log line: NUL-
 * terminated in its buffer, no control character (libxml2 has some
 * messages on two lines). */
static void
one_line(const struct loaded *l)
{
	size_t n = strnlen(l->err, sizeof(l->err));

	assert_true(n < sizeof(l->err));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l->err[i];
		if (c < 0x20 || c == 0x7f)
			fail_msg("control character in '%s'", l->err);
	}
}

static void
load_max(const char *path, uint64_t max, bool skip_bad, struct loaded *l)
{
	memset(l, 0x5a, sizeof(*l));	/* every output must be written */
	l->r = trust_xml_load_max(path, max, NOW, skip_bad, &l->list, &l->n,
	    &l->n_bad, l->err, sizeof(l->err));
	one_line(l);
}

static void
load(const char *path, bool skip_bad, struct loaded *l)
{
	memset(l, 0x5a, sizeof(*l));
	l->r = trust_xml_load(path, NOW, skip_bad, &l->list, &l->n, &l->n_bad,
	    l->err, sizeof(l->err));
	one_line(l);
}

static void
load_fixture(const char *name, bool skip_bad, struct loaded *l)
{
	char path[PATH_MAX_LEN];

	fixture_path(path, name);
	load(path, skip_bad, l);
}

/* expect_list - a successful load of exactly want[], in that order, each
 * entry as an import of NOW without a route. */
static void
expect_list(struct loaded *l, const char *const *want, size_t n_want,
	    size_t n_bad)
{
	if (l->r != 0)
		fail_msg("load failed (%d): %s", l->r, l->err);
	assert_string_equal(l->err, "");
	assert_non_null(l->list);
	for (size_t i = 0; i < l->n && i < n_want; i++)
		assert_string_equal(l->list[i].domain, want[i]);
	assert_int_equal(l->n, n_want);
	assert_int_equal(l->n_bad, n_bad);
	for (size_t i = 0; i < l->n; i++) {
		assert_string_equal(l->list[i].route, "");
		assert_string_equal(l->list[i].source, "import");
		assert_int_equal(l->list[i].added, NOW);
	}
	free(l->list);
	l->list = NULL;
}

/* expect_error - a refused load: code, the exact message, no list. */
static void
expect_error(struct loaded *l, int r, const char *path, const char *msg)
{
	char want[ERR_LEN + PATH_MAX_LEN];

	snprintf(want, sizeof(want), "%s%s", path, msg);
	if (l->r == 0)
		free(l->list);
	assert_string_equal(l->err, want);
	assert_int_equal(l->r, r);
	assert_null(l->list);
	assert_int_equal(l->n, 0);
	assert_int_equal(l->n_bad, 0);
}

static void
expect_fixture_error(const char *name, int r, const char *msg)
{
	char path[PATH_MAX_LEN];
	struct loaded l;

	fixture_path(path, name);
	load(path, false, &l);
	expect_error(&l, r, path, msg);
	/* skipping bad names changes nothing for a file that is not a list */
	if (strstr(msg, "character not allowed") == NULL) {
		load(path, true, &l);
		expect_error(&l, r, path, msg);
	}
}

/* ---- the fixtures ---- */

static const char *const valid_domains[] = {
	"alpha.mssante.fr",			/* twice: two certificates */
	"beta.mssante.fr",			/* spaces, upper case */
	"xn--hpital-exemple-0ob.mssante.fr",	/* U-label */
	"xn--mdecin-bva.xn--mssant-gva.fr",	/* also given as A-label */
	"gamma.mssante.fr",			/* trailing dot */
	"delta.mssante.fr",			/* CDATA */
	"xn--cole-9oa.mssante.fr",		/* character reference */
	"epsilon.mssante.fr",			/* prefixed namespace */
};

static void
test_valid(void **state)
{
	struct loaded l;

	(void)state;
	/* Empty Nom are ignored; a Nom outside a Domaine, a Nom of another
	 * element inside one and other namespaces are not domains. */
	load_fixture("valid.xml", false, &l);
	expect_list(&l, valid_domains, N_ELEMENTS(valid_domains), 0);
	load_fixture("valid.xml", true, &l);
	expect_list(&l, valid_domains, N_ELEMENTS(valid_domains), 0);
}

static void
test_changed(void **state)
{
	static const char *const want[] = {
		"alpha.mssante.fr",
		"beta.mssante.fr",
		"xn--hpital-exemple-0ob.mssante.fr",
		"xn--mdecin-bva.xn--mssant-gva.fr",
		"delta.mssante.fr",
		"xn--cole-9oa.mssante.fr",
		"zeta.mssante.fr",
		"xn--centre-sant-lbb.mssante.fr",
		"xn--80abvlke3d3b.mssante.fr",	/* Cyrillic */
	};
	struct loaded l;

	(void)state;
	load_fixture("changed.xml", false, &l);
	expect_list(&l, want, N_ELEMENTS(want), 0);
}

static void
test_latin1(void **state)
{
	static const char *const want[] = {
		"xn--hpital-exemple-0ob.mssante.fr",
	};
	struct loaded l;

	(void)state;
	/* the declared encoding is honoured: the same name as in UTF-8 */
	load_fixture("latin1.xml", false, &l);
	expect_list(&l, want, N_ELEMENTS(want), 0);
}

static void
test_utf16(void **state)
{
	static const char *const want[] = { "xn--hpital-ixa.mssante.fr" };
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
	    "<ListeBlancheMSSante xmlns=\"" NS "\"><ListeDomaines>"
	    "<Domaine><Nom>h\xc3\xb4pital.mssante.fr</Nom></Domaine>"
	    "</ListeDomaines></ListeBlancheMSSante>";
	char data[1024], path[PATH_MAX_LEN];
	struct loaded l;
	size_t o = 0;

	(void)state;
	/* UTF-16LE with a byte order mark, from the UTF-8 above (only
	 * code points below U+0800 in it) */
	data[o++] = (char)0xff;
	data[o++] = (char)0xfe;
	for (const unsigned char *p = (const unsigned char *)doc; *p; p++) {
		unsigned c = *p;
		if (c >= 0xc0) {
			c = ((c & 0x1fu) << 6) | (p[1] & 0x3fu);
			p++;
		}
		assert_true(o + 2 <= sizeof(data));
		data[o++] = (char)(c & 0xff);
		data[o++] = (char)(c >> 8);
	}
	write_file(path, "utf16.xml", data, o);
	load(path, false, &l);
	expect_list(&l, want, N_ELEMENTS(want), 0);
}

static void
test_empty_list(void **state)
{
	(void)state;
	/* an empty list would drop every imported domain: refused */
	expect_fixture_error("empty-list.xml", ERR_INVAL,
	    ": no domain name in the list");
}

static void
test_not_lists(void **state)
{
	(void)state;
	expect_fixture_error("malformed.xml", ERR_INVAL,
	    ":8: Opening and ending tag mismatch: Nom line 8 and Nome");
	expect_fixture_error("truncated.xml", ERR_INVAL,
	    ":8: the file ends inside the list (truncated?)");
	expect_fixture_error("wrong-root.xml", ERR_INVAL,
	    ":3: root element is 'ListeNoire', expected "
	    "'ListeBlancheMSSante' (not a MSSante white list)");
	expect_fixture_error("wrong-namespace.xml", ERR_INVAL,
	    ":2: root element 'ListeBlancheMSSante' is in namespace "
	    "'https://example.org/not-the-white-list', expected " NS);
	expect_fixture_error("no-namespace.xml", ERR_INVAL,
	    ":2: root element 'ListeBlancheMSSante' has no namespace, "
	    "expected " NS);
}

static void
test_doctype(void **state)
{
	static const char *const names[] = {
		"billion-laughs.xml",	/* nested internal entities */
		"external-entity.xml",	/* SYSTEM file:///etc/passwd */
		"external-dtd.xml",	/* external subset */
		"parameter-entity.xml",	/* %ext; in the internal subset */
	};

	(void)state;
	n_loads = n_opens = 0;
	for (size_t i = 0; i < N_ELEMENTS(names); i++)
		expect_fixture_error(names[i], ERR_INVAL,
		    ": DOCTYPE not allowed in the white list");
	assert_int_equal(n_loads, 0);
	assert_int_equal(n_opens, 0);
}

static void
test_bad_names(void **state)
{
	static const char *const want[] = {
		"alpha.mssante.fr", "beta.mssante.fr",
	};
	struct loaded l;

	(void)state;
	/* the first bad name, on its own line inside a multi-line Domaine */
	expect_fixture_error("bad-names.xml", ERR_INVAL,
	    ":6: 'bad_name.mssante.fr': character not allowed in a domain "
	    "name");
	/* skipped: "bad_name", "-lead", "double..dot", "a<b/>c" */
	load_fixture("bad-names.xml", true, &l);
	expect_list(&l, want, N_ELEMENTS(want), 4);
}

/* Each bad name alone between two good ones, and its error. */
static void
test_bad_name_errors(void **state)
{
	static const struct {
		const char *nom, *msg;
	} cases[] = {
		{ "-lead.mssante.fr", ":5: '-lead.mssante.fr': label starts "
		  "or ends with a hyphen" },
		{ "double..dot.fr", ":5: 'double..dot.fr': empty label" },
		{ "a<b/>c.mssante.fr", ":5: 'ac.mssante.fr': element inside "
		  "Nom" },
		{ "a'b\\c&#9;d.fr", ":5: 'a\\x27b\\x5cc\\x09d.fr': character "
		  "not allowed in a domain name" },
		{ "\n  \n  bad name.fr  \n", ":7: 'bad name.fr': character "
		  "not allowed in a domain name" },
		{ "1.2.3.4", ":5: '1.2.3.4': all-numeric top-level label" },
		{ "e\xcc\x81" "cole.fr", ":5: 'e\xcc\x81" "cole.fr': "
		  "decomposed accent (the name must be in NFC)" },
		{ "xn--zz.fr", ":5: 'xn--zz.fr': invalid Punycode" },
	};
	char doc[4096], path[PATH_MAX_LEN];
	struct loaded l;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		int n = snprintf(doc, sizeof(doc), HEAD
		    "<Domaine><Nom>good.mssante.fr</Nom></Domaine>\n"
		    "<Domaine><Nom>%s</Nom></Domaine>\n"
		    "<Domaine><Nom>other.mssante.fr</Nom></Domaine>\n" TAIL,
		    cases[i].nom);
		assert_true(n > 0 && (size_t)n < sizeof(doc));
		write_str(path, "bad.xml", doc);
		load(path, false, &l);
		expect_error(&l, ERR_INVAL, path, cases[i].msg);
		load(path, true, &l);
		static const char *const want[] = {
			"good.mssante.fr", "other.mssante.fr",
		};
		expect_list(&l, want, N_ELEMENTS(want), 1);
	}
}

static void
test_only_bad_names(void **state)
{
	char path[PATH_MAX_LEN];
	struct loaded l;

	(void)state;
	write_str(path, "only-bad.xml", HEAD
	    "<Domaine><Nom>a_b.fr</Nom></Domaine>\n"
	    "<Domaine><Nom>-c.fr</Nom></Domaine>\n" TAIL);
	load(path, true, &l);
	expect_error(&l, ERR_INVAL, path,
	    ": no valid domain name in the list (2 bad)");
}

/* ---- no outside access ---- */

/* test_watch_works - the counters do see an access when libxml2 is asked
 * to load a DTD, so their staying at zero below means something. */
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

static void
test_no_outside_access(void **state)
{
	static const struct {
		const char *doc, *msg;	/* msg NULL: loads as "a.fr" */
	} cases[] = {
		/* over the network */
		{ "<?xml version=\"1.0\"?>\n<!DOCTYPE ListeBlancheMSSante "
		  "SYSTEM \"http://127.0.0.1:9/white.dtd\">\n"
		  "<ListeBlancheMSSante xmlns=\"" NS "\"><Domaine><Nom>a.fr"
		  "</Nom></Domaine></ListeBlancheMSSante>\n",
		  ": DOCTYPE not allowed in the white list" },
		{ "<?xml version=\"1.0\"?>\n<!DOCTYPE ListeBlancheMSSante [\n"
		  "<!ENTITY x SYSTEM \"http://127.0.0.1:9/x\">]>\n"
		  "<ListeBlancheMSSante xmlns=\"" NS "\"><Domaine><Nom>&x;"
		  "</Nom></Domaine></ListeBlancheMSSante>\n",
		  ": DOCTYPE not allowed in the white list" },
		/* a local file, by a PUBLIC identifier */
		{ "<?xml version=\"1.0\"?>\n<!DOCTYPE ListeBlancheMSSante "
		  "PUBLIC \"-//X//Y\" \"/etc/passwd\">\n"
		  "<ListeBlancheMSSante xmlns=\"" NS "\"><Domaine><Nom>a.fr"
		  "</Nom></Domaine></ListeBlancheMSSante>\n",
		  ": DOCTYPE not allowed in the white list" },
		/* an entity without a DTD is just undefined */
		{ "<?xml version=\"1.0\"?>\n"
		  "<ListeBlancheMSSante xmlns=\"" NS "\"><Domaine><Nom>&x;"
		  "</Nom></Domaine></ListeBlancheMSSante>\n",
		  ":2: Entity 'x' not defined" },
		/* XInclude, a style sheet and a schema location: ignored,
		 * never fetched */
		{ "<?xml version=\"1.0\"?>\n"
		  "<?xml-stylesheet href=\"file:///etc/passwd\"?>\n"
		  "<ListeBlancheMSSante xmlns=\"" NS "\" "
		  "xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
		  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		  "xsi:schemaLocation=\"" NS " http://127.0.0.1:9/s.xsd\">"
		  "<Domaine><Nom>a.fr</Nom></Domaine><Domaine><Nom>"
		  "<xi:include href=\"file:///etc/hostname\" parse=\"text\"/>"
		  "</Nom></Domaine><xi:include href=\"http://127.0.0.1:9/\"/>"
		  "</ListeBlancheMSSante>\n", ":3: '': element inside Nom" },
		{ "<?xml version=\"1.0\"?>\n"
		  "<ListeBlancheMSSante xmlns=\"" NS "\" "
		  "xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
		  "<Domaine><Nom>a.fr</Nom></Domaine>"
		  "<xi:include href=\"file:///etc/passwd\" parse=\"text\"/>"
		  "</ListeBlancheMSSante>\n", NULL },
	};
	static const char *const want[] = { "a.fr" };
	char path[PATH_MAX_LEN];
	struct loaded l;

	(void)state;
	n_loads = n_opens = 0;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		write_str(path, "outside.xml", cases[i].doc);
		load(path, false, &l);
		if (cases[i].msg == NULL)
			expect_list(&l, want, 1, 0);
		else
			expect_error(&l, ERR_INVAL, path, cases[i].msg);
	}
	assert_int_equal(n_loads, 0);
	assert_int_equal(n_opens, 0);
}

/* ---- limits ---- */

static void
test_file_size(void **state)
{
	static const char doc[] = HEAD
	    "<Domaine><Nom>a.mssante.fr</Nom></Domaine>\n" TAIL;
	static const char *const want[] = { "a.mssante.fr" };
	char path[PATH_MAX_LEN], msg[256];
	struct loaded l;
	size_t len = sizeof(doc) - 1;

	(void)state;
	/* the real limit, on a sparse file one octet over it */
	tmp_path(path, "huge.xml");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)TRUST_FILE_MAX + 1), 0);
	assert_int_equal(close(fd), 0);
	load(path, false, &l);
	snprintf(msg, sizeof(msg), ": file larger than %d bytes (%lld)",
	    TRUST_FILE_MAX, (long long)TRUST_FILE_MAX + 1);
	expect_error(&l, ERR_LIMIT, path, msg);
	assert_int_equal(unlink(path), 0);

	/* exactly at the limit, and one octet over it */
	write_str(path, "small.xml", doc);
	load_max(path, len, false, &l);
	expect_list(&l, want, 1, 0);
	load_max(path, len - 1, false, &l);
	snprintf(msg, sizeof(msg), ": file larger than %zu bytes (%zu)",
	    len - 1, len);
	expect_error(&l, ERR_LIMIT, path, msg);
}

/* test_read_limit - the limit holds on the octets read, not only on the
 * size the file claims: /proc/self/maps says 0 and holds far more. */
static void
test_read_limit(void **state)
{
	const char *path = "/proc/self/maps";
	struct loaded l;
	struct stat sb;
	size_t len;

	(void)state;
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size != 0)
		skip();
	char *data = read_all(path, &len);
	free(data);
	assert_true(len > 1024);
	load_max(path, 1024, false, &l);
	expect_error(&l, ERR_LIMIT, path, ": file larger than 1024 bytes");
}

static void
test_not_files(void **state)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN + 64];
	struct loaded l;

	(void)state;
	load("/dev/null", false, &l);
	expect_error(&l, ERR_INVAL, "/dev/null", ": not a regular file");
	load(tmp_base, false, &l);
	expect_error(&l, ERR_INVAL, tmp_base, ": not a regular file");
	tmp_path(path, "does-not-exist.xml");
	load(path, false, &l);
	snprintf(msg, sizeof(msg), ": cannot open: %s", strerror(ENOENT));
	expect_error(&l, ERR_IO, path, msg);
	/* an empty file is no XML document */
	write_str(path, "empty.xml", "");
	load(path, false, &l);
	assert_int_equal(l.r, ERR_INVAL);
	assert_null(l.list);
	assert_true(strncmp(l.err, path, strlen(path)) == 0);
}

/* write_many - a list of n names "dI.mssante.fr", one Domaine a line
 * from line 4; the name of index bad (if < n) is "bad_I.fr" instead;
 * extra lines go before the closing tags. */
static void
write_many(char *path, const char *name, size_t n, size_t bad,
	   const char *extra)
{
	tmp_path(path, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_true(fputs(HEAD, f) >= 0);
	for (size_t i = 0; i < n; i++)
		assert_true(fprintf(f, "<Domaine><Nom>%s%zu%s</Nom>"
		    "</Domaine>\n", i == bad ? "bad_" : "d", i,
		    i == bad ? ".fr" : ".mssante.fr") > 0);
	assert_true(fputs(extra, f) >= 0);
	assert_true(fputs(TAIL, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
test_list_limit(void **state)
{
	char path[PATH_MAX_LEN], msg[128];
	struct loaded l;

	(void)state;
	/* as many as allowed, duplicates not counted */
	write_many(path, "max.xml", TRUST_LIST_MAX, SIZE_MAX,
	    "<Domaine><Nom>D0.MSSANTE.FR</Nom></Domaine>\n");
	load(path, false, &l);
	assert_int_equal(l.r, 0);
	assert_int_equal(l.n, TRUST_LIST_MAX);
	assert_string_equal(l.list[0].domain, "d0.mssante.fr");
	assert_string_equal(l.list[TRUST_LIST_MAX - 1].domain,
	    "d99999.mssante.fr");
	free(l.list);
	/* one more: refused at its line, past 65535 */
	write_many(path, "over.xml", TRUST_LIST_MAX + 1, SIZE_MAX, "");
	load(path, false, &l);
	snprintf(msg, sizeof(msg), ":%d: more than %d domains in the list",
	    TRUST_LIST_MAX + 4, TRUST_LIST_MAX);
	expect_error(&l, ERR_LIMIT, path, msg);
}

/* test_big_lines - libxml2 keeps 16-bit line numbers in elements: a bad
 * name past line 65535 is still reported on its own line. */
static void
test_big_lines(void **state)
{
	char path[PATH_MAX_LEN];
	struct loaded l;

	(void)state;
	write_many(path, "lines.xml", 70000, 69990, "");
	load(path, false, &l);
	expect_error(&l, ERR_INVAL, path, ":69994: 'bad_69990.fr': "
	    "character not allowed in a domain name");
	/* the same, with the name two lines into its Nom */
	write_many(path, "lines2.xml", 70000, SIZE_MAX,
	    "<Domaine><Nom>\n\n  bad name.fr\n</Nom></Domaine>\n");
	load(path, false, &l);
	expect_error(&l, ERR_INVAL, path, ":70006: 'bad name.fr': "
	    "character not allowed in a domain name");
}

static void
test_long_nom(void **state)
{
	char doc[8192], name[2100], path[PATH_MAX_LEN];
	char msg[256];
	struct loaded l;

	(void)state;
	/* a name of 254 octets, and a Nom far longer than any name */
	static const size_t lens[] = { 254, 2000 };
	for (size_t k = 0; k < N_ELEMENTS(lens); k++) {
		for (size_t i = 0; i < lens[k]; i++)
			name[i] = i % 50 == 49 ? '.' : 'a';
		name[lens[k] - 1] = 'z';
		name[lens[k]] = '\0';
		int n = snprintf(doc, sizeof(doc), HEAD "<Domaine><Nom>%s"
		    "</Nom></Domaine>\n" TAIL, name);
		assert_true(n > 0 && (size_t)n < sizeof(doc));
		write_str(path, "long.xml", doc);
		load(path, false, &l);
		/* quoted on at most 80 octets */
		snprintf(msg, sizeof(msg), ":4: '%.80s...': name longer than "
		    "253 octets", name);
		expect_error(&l, ERR_INVAL, path, msg);
	}
	/* 253 octets is a name */
	for (size_t i = 0; i < 253; i++)
		name[i] = i % 50 == 49 ? '.' : 'b';
	name[253] = '\0';
	int n = snprintf(doc, sizeof(doc), HEAD "<Domaine><Nom>%s</Nom>"
	    "</Domaine>\n" TAIL, name);
	assert_true(n > 0 && (size_t)n < sizeof(doc));
	write_str(path, "long.xml", doc);
	load(path, false, &l);
	const char *want[] = { name };
	expect_list(&l, want, 1, 0);
}

/* test_truncations - every prefix of valid.xml that stops before the end
 * of its root is refused (nothing else is), and once past the root's
 * start tag, the error says the file may be truncated. */
static void
test_truncations(void **state)
{
	char src[PATH_MAX_LEN], path[PATH_MAX_LEN];
	struct loaded l;
	size_t len;

	(void)state;
	fixture_path(src, "valid.xml");
	char *data = read_all(src, &len);
	const char *root = strstr(data, "<ListeBlancheMSSante");
	const char *end = strstr(data, "</ListeBlancheMSSante>");
	assert_non_null(root);
	assert_non_null(end);
	size_t inside = (size_t)(strchr(root, '>') + 1 - data);
	size_t whole = (size_t)(end - data) + strlen("</ListeBlancheMSSante>");
	for (size_t cut = 0; cut < len; cut++) {
		write_file(path, "cut.xml", data, cut);
		load(path, false, &l);
		if (cut >= whole) {
			expect_list(&l, valid_domains,
			    N_ELEMENTS(valid_domains), 0);
			continue;
		}
		if (l.r == 0)
			fail_msg("a prefix of %zu octets loaded", cut);
		assert_int_equal(l.r, ERR_INVAL);
		assert_null(l.list);
		assert_true(strncmp(l.err, path, strlen(path)) == 0);
		assert_true(l.err[strlen(path)] == ':');
		if (cut >= inside && strstr(l.err, "truncated?)") == NULL)
			fail_msg("cut at %zu: %s", cut, l.err);
	}
	free(data);
}

static void
test_bad_encoding(void **state)
{
	char path[PATH_MAX_LEN];
	struct loaded l;

	(void)state;
	/* Latin-1 bytes in a file that says UTF-8 */
	write_str(path, "not-utf8.xml", HEAD
	    "<Domaine><Nom>h\xf4pital.mssante.fr</Nom></Domaine>\n" TAIL);
	load(path, false, &l);
	assert_int_equal(l.r, ERR_INVAL);
	assert_null(l.list);
	char want[PATH_MAX_LEN + 8];
	snprintf(want, sizeof(want), "%s:4: ", path);
	if (strncmp(l.err, want, strlen(want)) != 0)
		fail_msg("%s", l.err);
	/* NUL bytes */
	static const char nul[] = HEAD "<Domaine><Nom>a\0b.fr</Nom>"
	    "</Domaine>\n" TAIL;
	write_file(path, "nul.xml", nul, sizeof(nul) - 1);
	snprintf(want, sizeof(want), "%s:4: ", path);
	load(path, false, &l);
	assert_int_equal(l.r, ERR_INVAL);
	assert_null(l.list);
	if (strncmp(l.err, want, strlen(want)) != 0)
		fail_msg("%s", l.err);
}

/* ---- normalization ---- */

static void
expect_norm(const char *in, const char *want)
{
	char out[STORE_HOST_MAX], again[STORE_HOST_MAX];
	const char *why = "unset";

	int r = trust_domain_normalize(in, out, sizeof(out), &why);
	if (r != 0)
		fail_msg("'%s': %d (%s)", in, r, why != NULL ? why : "-");
	assert_null(why);
	assert_string_equal(out, want);
	/* stored names normalize to themselves */
	assert_int_equal(trust_domain_normalize(out, again, sizeof(again),
	    &why), 0);
	assert_string_equal(again, out);
}

static void
expect_bad(const char *in, const char *want_why)
{
	char out[STORE_HOST_MAX];
	const char *why = NULL;

	memcpy(out, "untouched", sizeof("untouched"));
	int r = trust_domain_normalize(in, out, sizeof(out), &why);
	if (r == 0)
		fail_msg("'%s' accepted as '%s'", in, out);
	assert_int_equal(r, ERR_INVAL);
	assert_non_null(why);
	assert_string_equal(why, want_why);
	assert_string_equal(out, "untouched");
}

static void
test_normalize(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "alpha.mssante.fr", "alpha.mssante.fr" },
		/* case folding */
		{ "Alpha.MSSANTE.Fr", "alpha.mssante.fr" },
		/* white space around, not inside */
		{ " \t\r\n alpha.mssante.fr \n\t", "alpha.mssante.fr" },
		/* the root's trailing dot */
		{ "alpha.mssante.fr.", "alpha.mssante.fr" },
		{ "localhost", "localhost" },
		{ "a1-b2.c3", "a1-b2.c3" },
		{ "0.fr", "0.fr" },
		/* U-labels */
		{ "h\xc3\xb4pital.mssante.fr", "xn--hpital-ixa.mssante.fr" },
		{ "M\xc3\xa9" "decin.MSSant\xc3\xa9.fr",
		  "xn--mdecin-bva.xn--mssant-gva.fr" },
		{ "\xc3\x89" "COLE.mssante.fr", "xn--cole-9oa.mssante.fr" },
		{ "m\xc3\xbc" "nchen.de", "xn--mnchen-3ya.de" },
		/* IDNA2008 keeps sharp s (IDNA2003 made it "ss") */
		{ "stra\xc3\x9f" "e.de", "xn--strae-oqa.de" },
		/* Greek upper case, Cyrillic, CJK */
		{ "\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91.gr",
		  "xn--mxaard0a.gr" },
		{ "\xd0\xb1\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xbd\xd0\xb8\xd1\x86"
		  "\xd0\xb0.mssante.fr", "xn--80abvlke3d3b.mssante.fr" },
		{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.jp",
		  "xn--wgv71a119e.jp" },
		/* ideographic full stop, as separator and at the end */
		{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82jp",
		  "xn--wgv71a119e.jp" },
		{ "a\xef\xbc\x8e" "b\xef\xbd\xa1" "c\xe3\x80\x82", "a.b.c" },
		/* A-labels: kept, lower-cased */
		{ "xn--mdecin-bva.xn--mssant-gva.fr",
		  "xn--mdecin-bva.xn--mssant-gva.fr" },
		{ "XN--MDECIN-BVA.FR", "xn--mdecin-bva.fr" },
		{ "xn--Mnchen-3YA.de", "xn--mnchen-3ya.de" },
		/* a label of 63, a name of 253 (below) */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaa.fr", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaa.fr" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		expect_norm(cases[i].in, cases[i].out);
}

static void
test_normalize_invalid(void **state)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "", "empty name" },
		{ " \t\n", "empty name" },
		{ ".", "empty label" },
		{ "..", "empty label" },
		{ ".alpha.fr", "empty label" },
		{ "alpha..fr", "empty label" },
		{ "alpha.fr..", "empty label" },
		{ "a\xe3\x80\x82\xe3\x80\x82" "b", "empty label" },
		{ "-alpha.fr", "label starts or ends with a hyphen" },
		{ "alpha-.fr", "label starts or ends with a hyphen" },
		{ "alpha.-", "label starts or ends with a hyphen" },
		{ "\xc3\xa9-.fr", "label starts or ends with a hyphen" },
		{ "ab--cd.fr", "hyphens in the third and fourth positions "
		  "(reserved label)" },
		{ "xn--.fr", "label starts or ends with a hyphen" },
		{ "a_b.fr", "character not allowed in a domain name" },
		{ "a b.fr", "character not allowed in a domain name" },
		{ "a@b.fr", "character not allowed in a domain name" },
		{ "[127.0.0.1]", "character not allowed in a domain name" },
		{ "a\xc2\xa0" "b.fr", "character not allowed in a domain name" },
		{ "\xf0\x9f\x92\xa9.fr", "character not allowed in a domain "
		  "name" },
		/* full-width letters: a compatibility form */
		{ "\xef\xbd\x81.fr", "character not allowed in a domain name" },
		{ "1.2.3.4", "all-numeric top-level label" },
		{ "alpha.123", "all-numeric top-level label" },
		{ "alpha.123.", "all-numeric top-level label" },
		/* not UTF-8: Latin-1, overlong, surrogate, cut short */
		{ "h\xf4pital.fr", "invalid UTF-8" },
		{ "\xc0\xae.fr", "invalid UTF-8" },
		{ "\xed\xa0\x80.fr", "invalid UTF-8" },
		{ "a\xc3", "invalid UTF-8" },
		/* Unicode that would need NFC or a multi-character case */
		{ "e\xcc\x81" "cole.fr", "decomposed accent (the name must "
		  "be in NFC)" },
		{ "\xc4\xb0stanbul.tr", "character without a one-character "
		  "lower case" },
		/* A-labels that are not */
		{ "xn--zz.fr", "invalid Punycode" },
		{ "xn--a!b.fr", "character not allowed in a domain name" },
		{ "xn--abc-.fr", "label starts or ends with a hyphen" },
		{ "xn--ls8h.fr", "character not allowed in a domain name" },
		/* upper case hidden in the Punycode: "Écoe" */
		{ "xn--coe-mia.fr", "A-label not in canonical form" },
		/* "xn--" + Punycode of "-é": a U-label with a hyphen first */
		{ "xn----bga.fr", "label starts or ends with a hyphen" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		expect_bad(cases[i].in, cases[i].why);
}

static void
test_normalize_lengths(void **state)
{
	char in[600], out[STORE_HOST_MAX];
	const char *why;
	size_t o;

	(void)state;
	/* a label of 64 */
	memset(in, 'a', 64);
	memcpy(in + 64, ".fr", 4);
	expect_bad(in, "label longer than 63 octets");
	/* names of 253 and 254 octets: labels of 63, 63, 63, 61 or 62 */
	for (size_t last = 61; last <= 62; last++) {
		o = 0;
		for (int k = 0; k < 3; k++) {
			memset(in + o, 'a' + k, 63);
			o += 63;
			in[o++] = '.';
		}
		memset(in + o, 'z', last);
		o += last;
		in[o] = '\0';
		if (o == 253) {
			expect_norm(in, in);
			/* with the root's dot: 254 octets, still 253 */
			in[o] = '.';
			in[o + 1] = '\0';
			assert_int_equal(trust_domain_normalize(in, out,
			    sizeof(out), &why), 0);
			assert_int_equal(strlen(out), 253);
		} else {
			expect_bad(in, "name longer than 253 octets");
		}
	}
	/* U-labels count in their A-label form: 55 octets + one accent
	 * make 63 ("xn--" + 55 + "-u3e"), 56 make 64 */
	for (size_t n = 55; n <= 56; n++) {
		memset(in, 'x', n);
		memcpy(in + n, "\xc3\xa9.fr", 6);
		if (n == 55) {
			assert_int_equal(trust_domain_normalize(in, out,
			    sizeof(out), &why), 0);
			assert_int_equal(strlen(out), 63 + 3);
			assert_true(strncmp(out, "xn--", 4) == 0);
			assert_string_equal(out + 59, "-u3e.fr");
		} else {
			expect_bad(in, "label longer than 63 octets");
		}
	}
	/* 63 accented letters (126 octets of UTF-8): one label too long */
	o = 0;
	for (int i = 0; i < 63; i++) {
		in[o++] = (char)0xc3;
		in[o++] = (char)0xa9;
	}
	memcpy(in + o, ".fr", 4);
	expect_bad(in, "label longer than 63 octets");
	/* short U-labels whose A-labels make the name too long: 32 labels
	 * "é" (96 octets of input) are 32 "xn--9ca." of 8 octets */
	o = 0;
	for (int i = 0; i < 32; i++) {
		memcpy(in + o, "\xc3\xa9.", 3);
		o += 3;
	}
	memcpy(in + o, "fr", 3);	/* 32 * 8 + 2 = 258 octets as A-labels */
	expect_bad(in, "name longer than 253 octets");
}

static void
test_normalize_output_size(void **state)
{
	char out[16];
	const char *why = NULL;

	(void)state;
	/* "alpha.mssante.fr" needs 17 octets with its NUL */
	memcpy(out, "untouched", sizeof("untouched"));
	assert_int_equal(trust_domain_normalize("alpha.mssante.fr", out,
	    sizeof(out), &why), ERR_LIMIT);
	assert_string_equal(why, "name too long for the output buffer");
	assert_string_equal(out, "untouched");
	assert_int_equal(trust_domain_normalize("alpha.mssante.f", out,
	    sizeof(out), &why), 0);
	assert_string_equal(out, "alpha.mssante.f");
}

/* ---- Punycode ---- */

/* utf8_decode - the code points of a valid UTF-8 string. */
static size_t
utf8_decode(const char *s, uint32_t *cp, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0') {
		uint32_t c = *p++;
		int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
		if (more > 0)
			c &= 0x3fu >> more;
		while (more-- > 0)
			c = (c << 6) | (*p++ & 0x3fu);
		assert_true(n < max);
		cp[n++] = c;
	}
	return n;
}

static void
test_punycode_samples(void **state)
{
	/* RFC 3492 section 7.1 (the digits in lower case) */
	static const struct {
		const char *u, *a;
	} cases[] = {
		{ "\xd9\x84\xd9\x8a\xd9\x87\xd9\x85\xd8\xa7\xd8\xa8\xd8\xaa"
		  "\xd9\x83\xd9\x84\xd9\x85\xd9\x88\xd8\xb4\xd8\xb9\xd8\xb1"
		  "\xd8\xa8\xd9\x8a\xd8\x9f", "egbpdaj6bu4bxfgehfvwxn" },
		{ "\xe4\xbb\x96\xe4\xbb\xac\xe4\xb8\xba\xe4\xbb\x80\xe4\xb9"
		  "\x88\xe4\xb8\x8d\xe8\xaf\xb4\xe4\xb8\xad\xe6\x96\x87",
		  "ihqwcrb4cv8a8dqg056pqjye" },
		{ "Pro\xc4\x8dprost\xc4\x9bnemluv\xc3\xad\xc4\x8d" "esky",
		  "Proprostnemluvesky-uyb24dma41a" },
		{ "\xd0\xbf\xd0\xbe\xd1\x87\xd0\xb5\xd0\xbc\xd1\x83\xd0\xb6"
		  "\xd0\xb5\xd0\xbe\xd0\xbd\xd0\xb8\xd0\xbd\xd0\xb5\xd0\xb3"
		  "\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x80\xd1\x8f\xd1\x82\xd0\xbf"
		  "\xd0\xbe\xd1\x80\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8",
		  "b1abfaaepdrnnbgefbadotcwatmq2g4l" },
		{ "Porqu\xc3\xa9nopuedensimplementehablarenEspa\xc3\xb1ol",
		  "PorqunopuedensimplementehablarenEspaol-fmd56a" },
		{ "3\xe5\xb9\xb4" "B\xe7\xb5\x84\xe9\x87\x91\xe5\x85\xab\xe5"
		  "\x85\x88\xe7\x94\x9f", "3B-ww4c5e180e575a65lsy2b" },
		{ "\xe5\xae\x89\xe5\xae\xa4\xe5\xa5\x88\xe7\xbe\x8e\xe6\x81"
		  "\xb5-with-SUPER-MONKEYS",
		  "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n" },
		{ "Maji\xe3\x81\xa7Koi\xe3\x81\x99\xe3\x82\x8b" "5\xe7\xa7\x92"
		  "\xe5\x89\x8d", "MajiKoi5-783gue6qz075azm5e" },
		{ "\xe3\x81\x9d\xe3\x81\xae\xe3\x82\xb9\xe3\x83\x94\xe3\x83"
		  "\xbc\xe3\x83\x89\xe3\x81\xa7", "d9juau41awczczp" },
		{ "-> $1.00 <-", "-> $1.00 <--" },
		{ "\xc3\xa9", "9ca" },
	};
	uint32_t cp[128], back[128];
	char a[256];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t n = utf8_decode(cases[i].u, cp, N_ELEMENTS(cp));
		int m = trust_punycode_encode(cp, n, a, sizeof(a));
		assert_int_equal(m, (int)strlen(cases[i].a));
		assert_string_equal(a, cases[i].a);
		int k = trust_punycode_decode(a, (size_t)m, back,
		    N_ELEMENTS(back));
		assert_int_equal(k, (int)n);
		assert_memory_equal(back, cp, n * sizeof(*cp));
		/* digits of either case decode the same */
		for (int j = 0; j < m; j++)
			if (a[j] >= 'a' && a[j] <= 'z')
				a[j] = (char)(a[j] - 'a' + 'A');
		if (strrchr(cases[i].a, '-') == NULL) {
			k = trust_punycode_decode(a, (size_t)m, back,
			    N_ELEMENTS(back));
			assert_int_equal(k, (int)n);
			assert_memory_equal(back, cp, n * sizeof(*cp));
		}
	}
}

static void
test_punycode_errors(void **state)
{
	uint32_t cp[8];
	char out[8];

	(void)state;
	/* encode: not scalar values, output too small */
	cp[0] = 0xd800;
	assert_int_equal(trust_punycode_encode(cp, 1, out, sizeof(out)),
	    ERR_INVAL);
	cp[0] = 0x110000;
	assert_int_equal(trust_punycode_encode(cp, 1, out, sizeof(out)),
	    ERR_INVAL);
	cp[0] = 0xe9;
	assert_int_equal(trust_punycode_encode(cp, 1, out, 3), ERR_LIMIT);
	assert_int_equal(trust_punycode_encode(cp, 1, out, 4), 3);
	assert_string_equal(out, "9ca");
	assert_int_equal(trust_punycode_encode(cp, 1, out, 0), ERR_LIMIT);
	cp[0] = 'a';
	assert_int_equal(trust_punycode_encode(cp, 1, out, 2), ERR_LIMIT);
	assert_int_equal(trust_punycode_encode(cp, 1, out, 3), 2);
	assert_string_equal(out, "a-");

	/* decode: bad digit, cut short, non-basic before the delimiter,
	 * overflow, a basic or surrogate result, too many code points */
	assert_int_equal(trust_punycode_decode("9c!", 3, cp, 8), ERR_INVAL);
	assert_int_equal(trust_punycode_decode("9c", 2, cp, 8), ERR_INVAL);
	assert_int_equal(trust_punycode_decode("\xc3\xa9-9ca", 6, cp, 8),
	    ERR_INVAL);
	assert_int_equal(trust_punycode_decode("999999999999999", 15, cp,
	    8), ERR_INVAL);
	assert_int_equal(trust_punycode_decode("999999999a", 10, cp, 8),
	    ERR_INVAL);
	assert_int_equal(trust_punycode_decode("abcdefghi-", 10, cp, 8),
	    ERR_LIMIT);
	assert_int_equal(trust_punycode_decode("9ca", 3, cp, 1), 1);
	assert_int_equal(cp[0], 0xe9);
	assert_int_equal(trust_punycode_decode("a-9ca", 5, cp, 1),
	    ERR_LIMIT);
	assert_int_equal(trust_punycode_decode("", 0, cp, 8), 0);
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint32_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(0x2545f4914f6cdd1d)) >> 32);
}

static void
test_punycode_round_trip(void **state)
{
	uint32_t cp[TRUST_LABEL_MAX], back[TRUST_LABEL_MAX];
	char a[512];

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = 1 + rng() % TRUST_LABEL_MAX;
		for (size_t i = 0; i < n; i++) {
			uint32_t c;
			switch (rng() % 4) {
			case 0: c = 'a' + rng() % 26; break;
			case 1: c = 0x80 + rng() % 0x780; break;
			case 2: c = 0x800 + rng() % 0xf800; break;
			default: c = 0x10000 + rng() % 0x100000; break;
			}
			if (c >= 0xd800 && c <= 0xdfff)
				c = 0xe9;
			cp[i] = c;
		}
		int m = trust_punycode_encode(cp, n, a, sizeof(a));
		assert_true(m > 0);
		assert_int_equal((size_t)m, strlen(a));
		int k = trust_punycode_decode(a, (size_t)m, back, n);
		assert_int_equal(k, (int)n);
		assert_memory_equal(back, cp, n * sizeof(*cp));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_changed),
		cmocka_unit_test(test_latin1),
		cmocka_unit_test(test_utf16),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_not_lists),
		cmocka_unit_test(test_doctype),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_name_errors),
		cmocka_unit_test(test_only_bad_names),
		cmocka_unit_test(test_watch_works),
		cmocka_unit_test(test_no_outside_access),
		cmocka_unit_test(test_file_size),
		cmocka_unit_test(test_read_limit),
		cmocka_unit_test(test_not_files),
		cmocka_unit_test(test_list_limit),
		cmocka_unit_test(test_big_lines),
		cmocka_unit_test(test_long_nom),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_bad_encoding),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_normalize_invalid),
		cmocka_unit_test(test_normalize_lengths),
		cmocka_unit_test(test_normalize_output_size),
		cmocka_unit_test(test_punycode_samples),
		cmocka_unit_test(test_punycode_errors),
		cmocka_unit_test(test_punycode_round_trip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
