/* SPDX-License-Identifier: MIT */
/*
 * test_mime_struct.c - the IMAP view of a message computed at delivery:
 * golden files for every fixture of tests/fixtures/mime (NAME.eml gives
 * NAME.envelope, NAME.body, NAME.bodystructure: the exact bytes, and
 * NAME.sections: "# ret=R parts=N", the part table as "# part I PARENT
 * KIDS HDR_OFF HDR_LEN BODY_OFF BODY_LEN KIND", then one "[SPEC] OFF
 * LEN" per section, "[SPEC] NONE" when it does not exist, "[SPEC]
 * ERR_PROTO" when malformed); the RFC 3501 6.4.5 example section by
 * section; the stored form (round trip, truncated and damaged blobs);
 * limits (10,000 nested multiparts, too many parts, too long texts);
 * random input; and the decoders (RFC 2047, text parts, case folding,
 * IMAP strings). The golden outputs were checked against Dovecot 2.3.19
 * and by hand against RFC 3501; MSSGATE_MIME_REGEN=1 rewrites them
 * (then review the diff before committing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "mime/mime_struct.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_MAX_LEN 4096
#define FILE_MAX (4 * 1024 * 1024)

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
	const char *suffix = "tests/unit/test_mime_struct.c";
	size_t n = strlen(__FILE__), sl = strlen(suffix);
	if (n < sl || n - sl >= sizeof(dir))
		return ".";
	memcpy(dir, __FILE__, n - sl);
	dir[n - sl] = '\0';
	return dir[0] != '\0' ? dir : ".";
#endif
}

static void
fixture_path(char *out, const char *name, const char *ext)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/tests/fixtures/mime/%s.%s",
	    srcdir(), name, ext);
	assert_true(n > 0 && n < PATH_MAX_LEN);
}

/* read_file - the whole file in a malloc'd buffer of exactly its size
 * (plus one byte that is not part of it), so that ASan sees overreads;
 * NULL if it does not exist. */
static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *tmp = malloc(FILE_MAX);
	assert_non_null(tmp);
	size_t n = fread(tmp, 1, FILE_MAX, f);
	assert_int_equal(ferror(f), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(n < FILE_MAX);
	char *p = malloc(n + 1);
	assert_non_null(p);
	memcpy(p, tmp, n);
	p[n] = '\0';
	free(tmp);
	*len_r = n;
	return p;
}

static void
write_file(const char *path, const char *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool
regen(void)
{
	const char *e = getenv("MSSGATE_MIME_REGEN");
	return e != NULL && strcmp(e, "1") == 0;
}

/* ---- the fixtures ---- */

static const struct {
	const char *name;
	int ret;
} fixtures[] = {
	{ "simple", 0 },
	{ "no_content_type", 0 },
	{ "alternative", 0 },
	{ "mixed_pdf", 0 },
	{ "nested", 0 },
	{ "forward_rfc822", 0 },
	{ "mssante", 0 },
	{ "group_to", 0 },
	{ "utf8_headers", 0 },
	{ "rfc3501_example", 0 },
	{ "digest", 0 },
	{ "bnd_cases", 0 },
	{ "broken_fields", 0 },
	{ "missing_close", 0 },
	{ "lf_only", 0 },
	{ "header_only", 0 },
	{ "garbage", 0 },
	{ "too_deep", ERR_LIMIT },
};

/* section_specs - every section of the tree, numbered as RFC 3501
 * 6.4.5 does, with the names that apply, into specs (one per line). */
static void
number_part(const struct mime_info *mi, size_t i, const char *num,
	    struct buf *specs);

static void
number_children(const struct mime_info *mi, size_t parent, const char *num,
		struct buf *specs)
{
	char sub[256];
	uint32_t k = 0;

	for (size_t j = parent + 1; j < mi->n_parts; j++) {
		if (mi->parts[j].parent != parent)
			continue;
		k++;
		snprintf(sub, sizeof(sub), "%s%s%u", num, *num ? "." : "", k);
		number_part(mi, j, sub, specs);
	}
}

static void
number_part(const struct mime_info *mi, size_t i, const char *num,
	    struct buf *specs)
{
	const struct mime_part *p = &mi->parts[i];
	char sub[256];

	assert_int_equal(buf_addf(specs, "%s\n%s.MIME\n", num, num), 0);
	if (p->kind == MIME_KIND_MULTIPART) {
		number_children(mi, i, num, specs);
	} else if (p->kind == MIME_KIND_MESSAGE) {
		assert_int_equal(buf_addf(specs, "%s.HEADER\n%s.TEXT\n", num,
		    num), 0);
		if (mi->parts[i + 1].kind == MIME_KIND_MULTIPART) {
			number_children(mi, i + 1, num, specs);
		} else {
			snprintf(sub, sizeof(sub), "%s.1", num);
			number_part(mi, i + 1, sub, specs);
		}
	}
}

static void
section_specs(const struct mime_info *mi, struct buf *specs)
{
	assert_int_equal(buf_adds(specs, "\nHEADER\nTEXT\n"), 0);
	if (mi->parts[0].kind == MIME_KIND_MULTIPART)
		number_children(mi, 0, "", specs);
	else
		number_part(mi, 0, "1", specs);
	/* and some that do not exist or are malformed */
	assert_int_equal(buf_adds(specs, "99\n1.99\n1.1.1.1.1\n0\n1.\nMIME\n"
	    "1.HEADER.FIELDS\n"), 0);
}

static void
section_line(const struct mime_info *mi, const char *spec, size_t len,
	     struct buf *out)
{
	uint32_t off = 0, n = 0;
	int r = mime_section(mi, spec, len, &off, &n);

	assert_int_equal(buf_addf(out, "[%.*s] ", (int)len, spec), 0);
	if (r == 1)
		assert_int_equal(buf_addf(out, "%u %u\n", off, n), 0);
	else if (r == 0)
		assert_int_equal(buf_adds(out, "NONE\n"), 0);
	else if (r == ERR_PROTO)
		assert_int_equal(buf_adds(out, "ERR_PROTO\n"), 0);
	else
		fail_msg("mime_section(%.*s): %d", (int)len, spec, r);
}

/* sections_text - what NAME.sections holds, for the given specs. */
static void
sections_text(const struct mime_info *mi, int ret, const char *specs,
	      size_t specs_len, struct buf *out)
{
	assert_int_equal(buf_addf(out, "# ret=%d parts=%zu\n", ret,
	    mi->n_parts), 0);
	for (size_t i = 0; i < mi->n_parts; i++) {
		const struct mime_part *p = &mi->parts[i];
		assert_int_equal(buf_addf(out, "# part %zu %u %u %u %u %u %u "
		    "%u\n", i, p->parent, p->n_children, p->hdr_off,
		    p->hdr_len, p->body_off, p->body_len, p->kind), 0);
	}
	const char *s = specs, *end = specs + specs_len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		assert_non_null(nl);
		section_line(mi, s, (size_t)(nl - s), out);
		s = nl + 1;
	}
}

/* golden_compare - got against NAME.EXT, or write it in regen mode. */
static void
golden_compare(const char *name, const char *ext, const char *got,
	       size_t len)
{
	char path[PATH_MAX_LEN];
	size_t want_len;

	fixture_path(path, name, ext);
	if (regen()) {
		write_file(path, got, len);
		return;
	}
	char *want = read_file(path, &want_len);
	if (want == NULL)
		fail_msg("%s: missing (MSSGATE_MIME_REGEN=1 writes it)", path);
	if (want_len != len || memcmp(want, got, len) != 0)
		fail_msg("%s differs:\n  want %.*s\n  got  %.*s", path,
		    (int)want_len, want, (int)len, got);
	free(want);
}

/* specs_from_golden - the "[SPEC]" of each line of NAME.sections. */
static void
specs_from_golden(const char *text, size_t len, struct buf *specs)
{
	const char *s = text, *end = text + len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (nl == NULL)
			nl = end;
		if (*s == '[') {
			const char *close = memchr(s, ']', (size_t)(nl - s));
			assert_non_null(close);
			assert_int_equal(buf_add(specs, s + 1,
			    (size_t)(close - s - 1)), 0);
			assert_int_equal(buf_addc(specs, '\n'), 0);
		}
		s = nl + 1;
	}
}

static void
test_golden(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_ELEMENTS(fixtures); k++) {
		const char *name = fixtures[k].name;
		char path[PATH_MAX_LEN];
		size_t len;
		struct mime_info mi;
		struct buf specs, text;

		fixture_path(path, name, "eml");
		char *msg = read_file(path, &len);
		if (msg == NULL)
			fail_msg("%s: missing", path);
		mime_info_init(&mi);
		int r = mime_info_parse(msg, len, &mi);
		if (r != fixtures[k].ret)
			fail_msg("%s: ret %d, want %d", name, r,
			    fixtures[k].ret);
		golden_compare(name, "envelope", buf_data(&mi.envelope),
		    buf_len(&mi.envelope));
		golden_compare(name, "body", buf_data(&mi.body),
		    buf_len(&mi.body));
		golden_compare(name, "bodystructure",
		    buf_data(&mi.bodystructure), buf_len(&mi.bodystructure));

		buf_init(&specs, 1 << 20);
		buf_init(&text, 1 << 20);
		if (regen()) {
			section_specs(&mi, &specs);
		} else {
			size_t glen;
			fixture_path(path, name, "sections");
			char *g = read_file(path, &glen);
			if (g == NULL)
				fail_msg("%s: missing", path);
			specs_from_golden(g, glen, &specs);
			free(g);
		}
		sections_text(&mi, r, buf_data(&specs), buf_len(&specs),
		    &text);
		golden_compare(name, "sections", buf_data(&text),
		    buf_len(&text));

		/* every range lies inside the message */
		for (size_t i = 0; i < mi.n_parts; i++) {
			const struct mime_part *p = &mi.parts[i];
			assert_int_equal(p->body_off, p->hdr_off + p->hdr_len);
			assert_true((uint64_t)p->body_off + p->body_len <= len);
		}
		buf_free(&specs);
		buf_free(&text);
		mime_info_free(&mi);
		free(msg);
	}
}

/* ---- RFC 3501 6.4.5, section by section ---- */

static char *
parse_fixture(const char *name, struct mime_info *mi, size_t *len_r)
{
	char path[PATH_MAX_LEN];

	fixture_path(path, name, "eml");
	char *msg = read_file(path, len_r);
	assert_non_null(msg);
	mime_info_init(mi);
	assert_int_equal(mime_info_parse(msg, *len_r, mi), 0);
	return msg;
}

#define TP "Content-Type: TEXT/PLAIN; charset=us-ascii\r\n\r\n"

static void
test_rfc3501_sections(void **state)
{
	static const struct {
		const char *spec;
		const char *want;	/* NULL: no such section */
	} rows[] = {
		{ "1", "Part 1: text/plain.\r\n" },
		{ "1.MIME", TP },
		{ "2", "UGFydCAyOiBhcHBsaWNhdGlvbi9vY3RldC1zdHJlYW0=\r\n" },
		{ "2.MIME", "Content-Type: APPLICATION/OCTET-STREAM\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n" },
		{ "3", "From: Inner3 <inner3@example.org>\r\n"
		    "Subject: Part 3\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: MULTIPART/MIXED; boundary=\"b3\"\r\n\r\n"
		    "--b3\r\n" TP "Part 3.1: text/plain.\r\n\r\n--b3\r\n"
		    "Content-Type: APPLICATION/OCTET-STREAM\r\n\r\n"
		    "Part 3.2: application/octet-stream.\r\n\r\n--b3--\r\n" },
		{ "3.MIME", "Content-Type: MESSAGE/RFC822\r\n\r\n" },
		{ "3.HEADER", "From: Inner3 <inner3@example.org>\r\n"
		    "Subject: Part 3\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: MULTIPART/MIXED; boundary=\"b3\"\r\n\r\n" },
		{ "3.TEXT", "--b3\r\n" TP "Part 3.1: text/plain.\r\n\r\n"
		    "--b3\r\nContent-Type: APPLICATION/OCTET-STREAM\r\n\r\n"
		    "Part 3.2: application/octet-stream.\r\n\r\n--b3--\r\n" },
		{ "3.1", "Part 3.1: text/plain.\r\n" },
		{ "3.1.MIME", TP },
		{ "3.2", "Part 3.2: application/octet-stream.\r\n" },
		{ "3.2.MIME",
		    "Content-Type: APPLICATION/OCTET-STREAM\r\n\r\n" },
		{ "4.MIME", "Content-Type: MULTIPART/MIXED; boundary=\"b4\""
		    "\r\n\r\n" },
		{ "4.1", "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAA"
		    "ICRAEAOw==\r\n" },
		{ "4.1.MIME", "Content-Type: IMAGE/GIF\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n" },
		{ "4.2.MIME", "Content-Type: MESSAGE/RFC822\r\n\r\n" },
		{ "4.2.HEADER", "From: Inner42 <inner42@example.org>\r\n"
		    "Subject: Part 4.2\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: MULTIPART/MIXED; boundary=\"b42\"\r\n\r\n" },
		{ "4.2.header", "From: Inner42 <inner42@example.org>\r\n"
		    "Subject: Part 4.2\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: MULTIPART/MIXED; boundary=\"b42\"\r\n\r\n" },
		{ "4.2.1", "Part 4.2.1: text/plain.\r\n" },
		{ "4.2.1.MIME", TP },
		{ "4.2.2.MIME", "Content-Type: MULTIPART/ALTERNATIVE; "
		    "boundary=\"b422\"\r\n\r\n" },
		{ "4.2.2", "--b422\r\n" TP "Part 4.2.2.1: text/plain.\r\n\r\n"
		    "--b422\r\nContent-Type: TEXT/RICHTEXT; charset=us-ascii"
		    "\r\n\r\n<bold>Part 4.2.2.2</bold>: text/richtext.\r\n\r\n"
		    "--b422--\r\n" },
		{ "4.2.2.1", "Part 4.2.2.1: text/plain.\r\n" },
		{ "4.2.2.1.MIME", TP },
		{ "4.2.2.2", "<bold>Part 4.2.2.2</bold>: text/richtext.\r\n" },
		{ "4.2.2.2.MIME", "Content-Type: TEXT/RICHTEXT; "
		    "charset=us-ascii\r\n\r\n" },
		/* Dovecot's reading: N.1 of a part that is not multipart
		 * is the part itself, as 1 is for a single-part message */
		{ "1.1", "Part 1: text/plain.\r\n" },
		{ "4.2.2.1.1", "Part 4.2.2.1: text/plain.\r\n" },
		{ "4.2.2.1.1.MIME", TP },
		{ "5", NULL }, { "0.1", NULL }, { "1.2", NULL },
		{ "1.1.1", NULL },
		{ "3.3", NULL }, { "4.3", NULL }, { "4.1.2", NULL },
		{ "4.2.3", NULL }, { "4.2.2.3", NULL }, { "4.2.2.1.2", NULL },
		{ "1.HEADER", NULL }, { "1.TEXT", NULL }, { "4.HEADER", NULL },
		{ "4.TEXT", NULL }, { "4.2.1.HEADER", NULL },
		{ "4.2.2.TEXT", NULL },
	};
	struct mime_info mi;
	size_t len;
	char *msg = parse_fixture("rfc3501_example", &mi, &len);

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		uint32_t off, n;
		const char *spec = rows[i].spec;
		int r = mime_section(&mi, spec, strlen(spec), &off, &n);
		if (strcmp(spec, "0.1") == 0) {
			assert_int_equal(r, ERR_PROTO);
			continue;
		}
		if (rows[i].want == NULL) {
			if (r != 0)
				fail_msg("[%s]: %d, want none", spec, r);
			continue;
		}
		if (r != 1)
			fail_msg("[%s]: %d", spec, r);
		assert_true((uint64_t)off + n <= len);
		if (n != strlen(rows[i].want) ||
		    memcmp(msg + off, rows[i].want, n) != 0)
			fail_msg("[%s]: got \"%.*s\"", spec, (int)n, msg + off);
	}

	/* the whole message, its header, its text and part 4 */
	uint32_t off, n, hoff, hn, toff, tn;
	assert_int_equal(mime_section(&mi, "", 0, &off, &n), 1);
	assert_true(off == 0 && n == len);
	assert_int_equal(mime_section(&mi, "HEADER", 6, &hoff, &hn), 1);
	assert_int_equal(mime_section(&mi, "TEXT", 4, &toff, &tn), 1);
	assert_true(hoff == 0 && toff == hn && hn + tn == len);
	assert_memory_equal(msg + toff, "--b0\r\n", 6);
	assert_memory_equal(msg + hn - 5, "\"\r\n\r\n", 5);
	assert_int_equal(mime_section(&mi, "4", 1, &off, &n), 1);
	assert_memory_equal(msg + off, "--b4\r\n", 6);
	assert_memory_equal(msg + off + n - 8, "--b4--\r\n", 8);
	/* 4.2 is the whole encapsulated message: header then text */
	assert_int_equal(mime_section(&mi, "4.2", 3, &off, &n), 1);
	assert_int_equal(mime_section(&mi, "4.2.HEADER", 10, &hoff, &hn), 1);
	assert_int_equal(mime_section(&mi, "4.2.TEXT", 8, &toff, &tn), 1);
	assert_true(hoff == off && toff == hoff + hn && hn + tn == n);

	mime_info_free(&mi);
	free(msg);
}

static void
test_section_syntax(void **state)
{
	static const char *const bad[] = {
		"0", "01", "1.", ".1", "1..2", "1.0", "MIME", "1.MIMEX",
		"HEADER.FIELDS (From)", "1.HEADER.FIELDS.NOT (To)", "x",
		"TEXT.1", "1 ", " 1", "99999999999", "1.-1", "HEADERS",
	};
	static const char *const good[] = {
		"", "header", "Text", "1", "1.mime", "2", "2.Mime",
		"4294967295",
	};
	struct mime_info mi;
	size_t len;
	char *msg = parse_fixture("mixed_pdf", &mi, &len);
	uint32_t off, n;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		int r = mime_section(&mi, bad[i], strlen(bad[i]), &off, &n);
		if (r != ERR_PROTO)
			fail_msg("[%s]: %d, want ERR_PROTO", bad[i], r);
	}
	for (size_t i = 0; i < N_ELEMENTS(good); i++) {
		int r = mime_section(&mi, good[i], strlen(good[i]), &off, &n);
		if (r < 0)
			fail_msg("[%s]: %d", good[i], r);
	}
	/* a spec with a NUL in it is not a spec */
	assert_int_equal(mime_section(&mi, "1\0", 2, &off, &n), ERR_PROTO);
	/* the single part of a non-multipart message */
	struct mime_info one;
	size_t len1;
	char *msg1 = parse_fixture("simple", &one, &len1);
	assert_int_equal(mime_section(&one, "1", 1, &off, &n), 1);
	assert_int_equal(off, one.parts[0].body_off);
	assert_int_equal(mime_section(&one, "1.MIME", 6, &off, &n), 1);
	assert_true(off == 0 && n == one.parts[0].hdr_len);
	assert_int_equal(mime_section(&one, "2", 1, &off, &n), 0);
	assert_int_equal(mime_section(&one, "1.1", 3, &off, &n), 0);
	mime_info_free(&one);
	free(msg1);
	/* an empty mime_info has no sections */
	struct mime_info empty;
	mime_info_init(&empty);
	assert_int_equal(mime_section(&empty, "1", 1, &off, &n), 0);
	mime_info_free(&empty);
	mime_info_free(&mi);
	free(msg);
}

/* ---- stored form ---- */

static void
assert_same_info(const struct mime_info *a, const struct mime_info *b)
{
	assert_int_equal(buf_len(&a->envelope), buf_len(&b->envelope));
	assert_memory_equal(buf_data(&a->envelope), buf_data(&b->envelope),
	    buf_len(&a->envelope));
	assert_int_equal(buf_len(&a->body), buf_len(&b->body));
	assert_memory_equal(buf_data(&a->body), buf_data(&b->body),
	    buf_len(&a->body));
	assert_int_equal(buf_len(&a->bodystructure),
	    buf_len(&b->bodystructure));
	assert_memory_equal(buf_data(&a->bodystructure),
	    buf_data(&b->bodystructure), buf_len(&a->bodystructure));
	assert_int_equal(a->n_parts, b->n_parts);
	assert_memory_equal(a->parts, b->parts,
	    a->n_parts * sizeof(*a->parts));
}

static void
test_roundtrip(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_ELEMENTS(fixtures); k++) {
		char path[PATH_MAX_LEN];
		size_t len;
		struct mime_info mi, back;
		struct buf blob, blob2;

		fixture_path(path, fixtures[k].name, "eml");
		char *msg = read_file(path, &len);
		assert_non_null(msg);
		mime_info_init(&mi);
		mime_info_init(&back);
		assert_int_equal(mime_info_parse(msg, len, &mi),
		    fixtures[k].ret);
		buf_init(&blob, 4 << 20);
		buf_init(&blob2, 4 << 20);
		assert_int_equal(mime_info_encode(&mi, &blob), 0);
		assert_int_equal((unsigned char)buf_data(&blob)[0], 1);
		assert_int_equal(mime_info_decode(buf_data(&blob),
		    buf_len(&blob), &back), 0);
		assert_same_info(&mi, &back);
		assert_int_equal(mime_info_encode(&back, &blob2), 0);
		assert_int_equal(buf_len(&blob), buf_len(&blob2));
		assert_memory_equal(buf_data(&blob), buf_data(&blob2),
		    buf_len(&blob));
		/* decoding into a used mime_info replaces it */
		assert_int_equal(mime_info_decode(buf_data(&blob),
		    buf_len(&blob), &back), 0);
		assert_same_info(&mi, &back);
		/* the table costs a few bytes a part */
		size_t texts = buf_len(&mi.envelope) + buf_len(&mi.body) +
		    buf_len(&mi.bodystructure);
		assert_true(buf_len(&blob) <= texts + 16 + mi.n_parts * 16);
		buf_free(&blob);
		buf_free(&blob2);
		mime_info_free(&mi);
		mime_info_free(&back);
		free(msg);
	}
}

/* decode_exact - decode from an allocation of exactly len bytes. */
static int
decode_exact(const char *p, size_t len, struct mime_info *mi)
{
	char *copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, p, len);
	int r = mime_info_decode(copy, len, mi);
	free(copy);
	return r;
}

/* blob_v1 - a hand-made version 1 blob: texts "E", "B", "S" and the
 * given part records (already LEB128 bytes). */
static size_t
blob_v1(unsigned char *out, unsigned n_parts, const unsigned char *recs,
	size_t recs_len)
{
	size_t n = 0;
	out[n++] = 1;
	out[n++] = (unsigned char)n_parts;
	out[n++] = 1;
	out[n++] = 'E';
	out[n++] = 1;
	out[n++] = 'B';
	out[n++] = 1;
	out[n++] = 'S';
	memcpy(out + n, recs, recs_len);
	return n + recs_len;
}

static void
test_decode_corrupt(void **state)
{
	struct mime_info mi, back;
	struct buf blob;
	size_t len;
	char *msg = parse_fixture("rfc3501_example", &mi, &len);

	(void)state;
	mime_info_init(&back);
	buf_init(&blob, 1 << 20);
	assert_int_equal(mime_info_encode(&mi, &blob), 0);
	const char *b = buf_data(&blob);
	size_t bl = buf_len(&blob);

	/* every truncation is refused */
	for (size_t cut = 0; cut < bl; cut++) {
		int r = decode_exact(b, cut, &back);
		if (r != ERR_CORRUPT)
			fail_msg("cut at %zu: %d", cut, r);
		assert_int_equal(back.n_parts, 0);
		assert_null(back.parts);
	}
	/* a trailing byte too */
	char *longer = malloc(bl + 1);
	assert_non_null(longer);
	memcpy(longer, b, bl);
	longer[bl] = 0;
	assert_int_equal(decode_exact(longer, bl + 1, &back), ERR_CORRUPT);
	/* other versions are not ours */
	longer[0] = 2;
	assert_int_equal(decode_exact(longer, bl, &back), ERR_VERSION);
	longer[0] = 0;
	assert_int_equal(decode_exact(longer, bl, &back), ERR_VERSION);
	/* every single-byte change: refused, or a table that holds */
	for (size_t i = 1; i < bl; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(longer, b, bl);
			longer[i] = (char)(longer[i] ^ (1 << bit));
			int r = decode_exact(longer, bl, &back);
			assert_true(r == 0 || r == ERR_CORRUPT);
			if (r != 0)
				continue;
			for (size_t k = 1; k < back.n_parts; k++) {
				const struct mime_part *p = &back.parts[k];
				const struct mime_part *q =
				    &back.parts[p->parent];
				assert_true(p->parent < k);
				assert_true(p->hdr_off >= q->body_off);
				assert_true((uint64_t)p->body_off + p->body_len
				    <= (uint64_t)q->body_off + q->body_len);
			}
		}
	}
	free(longer);

	/* hand-made tables: parent, kids, hdr delta, hdr len, body len,
	 * kind */
	static const struct {
		unsigned n;
		unsigned char rec[24];
		size_t len;
		int want;
	} rows[] = {
		{ 1, { 0, 0, 0, 2, 3, 0 }, 6, 0 },
		{ 0, { 0 }, 0, ERR_CORRUPT },			/* no parts */
		{ 1, { 1, 0, 0, 2, 3, 0 }, 6, ERR_CORRUPT },	/* root up */
		{ 1, { 0, 1, 0, 2, 3, 0 }, 6, ERR_CORRUPT },	/* leaf kids */
		{ 1, { 0, 0, 0, 2, 3, 3 }, 6, ERR_CORRUPT },	/* kind */
		{ 1, { 0, 0, 0, 2, 3, 2 }, 6, ERR_CORRUPT },	/* lone msg */
		{ 2, { 0, 1, 0, 2, 9, 1, 0, 0, 2, 1, 1, 0 }, 12,
		    ERR_CORRUPT },				/* parent 1 */
		{ 2, { 0, 1, 0, 2, 9, 1, 1, 0, 2, 1, 1, 0 }, 12, 0 },
		{ 2, { 0, 1, 0, 2, 9, 1, 1, 0, 2, 1, 9, 0 }, 12,
		    ERR_CORRUPT },				/* overflows */
		{ 2, { 0, 1, 0, 2, 9, 1, 1, 0, 1, 1, 1, 0 }, 12,
		    ERR_CORRUPT },				/* in header */
		{ 2, { 0, 2, 0, 2, 9, 1, 1, 0, 2, 1, 1, 0 }, 12,
		    ERR_CORRUPT },				/* kid count */
		{ 1, { 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 3, 0 }, 10,
		    ERR_CORRUPT },				/* > 2^32 */
		{ 1, { 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 3, 0 }, 11,
		    ERR_CORRUPT },				/* 36 bits */
		{ 1, { 0, 0, 0, 2, 3 }, 5, ERR_CORRUPT },	/* no kind */
	};
	unsigned char raw[64];
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t n = blob_v1(raw, rows[i].n, rows[i].rec, rows[i].len);
		int r = decode_exact((const char *)raw, n, &back);
		if (r != rows[i].want)
			fail_msg("row %zu: %d, want %d", i, r, rows[i].want);
	}
	/* a text longer than the blob */
	unsigned char t[] = { 1, 1, 9, 'E' };
	assert_int_equal(decode_exact((const char *)t, sizeof(t), &back),
	    ERR_CORRUPT);
	/* too many parts */
	unsigned char many[] = { 1, 0x81, 0x08, 0, 0, 0 };
	assert_int_equal(decode_exact((const char *)many, sizeof(many), &back),
	    ERR_CORRUPT);
	/* an empty table cannot be stored */
	struct mime_info empty;
	mime_info_init(&empty);
	assert_int_equal(mime_info_encode(&empty, &blob), ERR_INVAL);
	mime_info_free(&empty);

	buf_free(&blob);
	mime_info_free(&mi);
	mime_info_free(&back);
	free(msg);
}

/* ---- limits and robustness ---- */

/* nested - k multiparts, each inside the previous one. */
static char *
nested(unsigned k, size_t *len_r)
{
	struct buf b;

	buf_init(&b, 64u << 20);
	assert_int_equal(buf_adds(&b, "Subject: nested\r\n"), 0);
	for (unsigned i = 0; i < k; i++)
		assert_int_equal(buf_addf(&b, "Content-Type: multipart/mixed; "
		    "boundary=\"n%u\"\r\n\r\n--n%u\r\n", i, i), 0);
	assert_int_equal(buf_adds(&b, "\r\ndeepest\r\n"), 0);
	for (unsigned i = k; i-- > 0;)
		assert_int_equal(buf_addf(&b, "--n%u--\r\n", i), 0);
	return buf_take(&b, len_r);
}

static void
assert_sane(const char *msg, size_t len, const struct mime_info *mi)
{
	(void)msg;
	assert_true(mi->n_parts >= 1 && mi->n_parts <= MIME_PARTS_MAX);
	assert_int_equal(mi->parts[0].hdr_off, 0);
	assert_int_equal(mi->parts[0].hdr_len + mi->parts[0].body_len, len);
	for (size_t i = 0; i < mi->n_parts; i++) {
		const struct mime_part *p = &mi->parts[i];
		assert_int_equal(p->body_off, p->hdr_off + p->hdr_len);
		assert_true((uint64_t)p->body_off + p->body_len <= len);
		if (i == 0)
			continue;
		const struct mime_part *q = &mi->parts[p->parent];
		assert_true(p->parent < i && q->kind != MIME_KIND_LEAF);
		assert_true(p->hdr_off >= q->body_off);
		assert_true(p->body_off + p->body_len <= q->body_off +
		    q->body_len);
	}
	assert_true(buf_len(&mi->envelope) > 0);
	assert_true(buf_len(&mi->bodystructure) > buf_len(&mi->body));
}

static void
test_limits(void **state)
{
	struct mime_info mi;
	size_t len;
	char *msg;

	(void)state;
	mime_info_init(&mi);
	/* 10,000 nested multiparts: no recursion, no quadratic time */
	msg = nested(10000, &len);
	assert_int_equal(mime_info_parse(msg, len, &mi), ERR_LIMIT);
	assert_int_equal(mi.n_parts, 1);
	assert_sane(msg, len, &mi);
	char want[128];
	snprintf(want, sizeof(want), "(\"application\" \"octet-stream\" NIL "
	    "NIL NIL \"7bit\" %u)", mi.parts[0].body_len);
	assert_string_equal(buf_data(&mi.body), want);
	assert_string_equal(buf_data(&mi.envelope),
	    "(NIL \"nested\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	free(msg);
	/* the deepest tree that is kept, and one more level */
	msg = nested(MIME_DEPTH_MAX, &len);
	assert_int_equal(mime_info_parse(msg, len, &mi), 0);
	assert_int_equal(mi.n_parts, MIME_DEPTH_MAX + 1);
	assert_sane(msg, len, &mi);
	free(msg);
	msg = nested(MIME_DEPTH_MAX + 1, &len);
	assert_int_equal(mime_info_parse(msg, len, &mi), ERR_LIMIT);
	assert_int_equal(mi.n_parts, 1);
	free(msg);

	/* message/rfc822 inside message/rfc822: each level counts */
	struct buf b;
	buf_init(&b, 1 << 20);
	for (unsigned i = 0; i < MIME_DEPTH_MAX; i++)
		assert_int_equal(buf_adds(&b, "Content-Type: message/rfc822\r\n"
		    "\r\n"), 0);
	assert_int_equal(buf_adds(&b, "Subject: inner\r\n\r\nbody\r\n"), 0);
	assert_int_equal(mime_info_parse(buf_data(&b), buf_len(&b), &mi), 0);
	assert_int_equal(mi.n_parts, MIME_DEPTH_MAX + 1);
	assert_int_equal(mi.parts[MIME_DEPTH_MAX - 1].kind, MIME_KIND_MESSAGE);
	assert_int_equal(mi.parts[MIME_DEPTH_MAX].kind, MIME_KIND_LEAF);
	buf_reset(&b);
	for (unsigned i = 0; i <= MIME_DEPTH_MAX; i++)
		assert_int_equal(buf_adds(&b, "Content-Type: message/rfc822\r\n"
		    "\r\n"), 0);
	assert_int_equal(mime_info_parse(buf_data(&b), buf_len(&b), &mi),
	    ERR_LIMIT);

	/* as many parts as allowed (the root counts), and one more */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "Content-Type: multipart/mixed; "
	    "boundary=w\r\n\r\n"), 0);
	for (unsigned i = 0; i < MIME_PARTS_MAX - 1; i++)
		assert_int_equal(buf_adds(&b, "--w\r\n\r\nx\r\n"), 0);
	size_t upto = buf_len(&b);
	assert_int_equal(buf_adds(&b, "--w--\r\n"), 0);
	assert_int_equal(mime_info_parse(buf_data(&b), buf_len(&b), &mi), 0);
	assert_int_equal(mi.n_parts, MIME_PARTS_MAX);
	assert_sane(buf_data(&b), buf_len(&b), &mi);
	b.len = upto;
	assert_int_equal(buf_adds(&b, "--w\r\n\r\nx\r\n--w--\r\n"), 0);
	assert_int_equal(mime_info_parse(buf_data(&b), buf_len(&b), &mi),
	    ERR_LIMIT);
	assert_int_equal(mi.n_parts, 1);
	assert_sane(buf_data(&b), buf_len(&b), &mi);
	uint32_t off, n;
	assert_int_equal(mime_section(&mi, "1", 1, &off, &n), 1);
	assert_int_equal(off, mi.parts[0].body_off);

	/* a text over 1 MiB: described without its header facts */
	buf_reset(&b);
	b.max = 4 << 20;
	assert_int_equal(buf_adds(&b, "Subject: "), 0);
	for (unsigned i = 0; i < (2u << 20) / 64; i++)
		assert_int_equal(buf_adds(&b, "0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef"), 0);
	assert_int_equal(buf_adds(&b, "\r\n\r\nbody\r\n"), 0);
	assert_int_equal(mime_info_parse(buf_data(&b), buf_len(&b), &mi),
	    ERR_LIMIT);
	assert_string_equal(buf_data(&mi.envelope),
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_int_equal(mi.n_parts, 1);
	assert_sane(buf_data(&b), buf_len(&b), &mi);

	/* 128 parameters are read, no more: a later boundary is not seen
	 * (Dovecot 2.3's bound) and the multipart stays empty */
	for (int k = 127; k <= 128; k++) {
		buf_reset(&b);
		assert_int_equal(buf_adds(&b, "Content-Type: multipart/mixed"),
		    0);
		for (int i = 0; i < k; i++)
			assert_int_equal(buf_adds(&b, "; x=1"), 0);
		assert_int_equal(buf_adds(&b, "; boundary=b\r\n\r\n--b\r\n"
		    "\r\nhello\r\n--b--\r\n"), 0);
		assert_int_equal(mime_info_parse(buf_data(&b), buf_len(&b),
		    &mi), 0);
		assert_int_equal(mi.n_parts, k == 127 ? 2 : 1);
		assert_int_equal(mi.parts[0].kind, MIME_KIND_MULTIPART);
	}

	/* 4 GiB and more: offsets do not fit (msg is not read) */
	assert_int_equal(mime_info_parse("", (size_t)UINT32_MAX + 1, &mi),
	    ERR_LIMIT);
	assert_int_equal(mi.n_parts, 0);

	/* the empty message */
	assert_int_equal(mime_info_parse("", 0, &mi), 0);
	assert_int_equal(mi.n_parts, 1);
	assert_string_equal(buf_data(&mi.bodystructure), "(\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
	buf_free(&b);
	mime_info_free(&mi);
	mime_info_free(NULL);
}

/* A small PRNG: the same inputs on every run. */
static uint64_t
rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
check_everything(const char *msg, size_t len)
{
	struct mime_info mi, back;
	struct buf blob, text, specs;

	mime_info_init(&mi);
	mime_info_init(&back);
	int r = mime_info_parse(msg, len, &mi);
	assert_true(r == 0 || r == ERR_LIMIT);
	assert_sane(msg, len, &mi);
	buf_init(&blob, 8 << 20);
	assert_int_equal(mime_info_encode(&mi, &blob), 0);
	assert_int_equal(mime_info_decode(buf_data(&blob), buf_len(&blob),
	    &back), 0);
	assert_same_info(&mi, &back);
	buf_init(&specs, 1 << 20);
	section_specs(&mi, &specs);
	const char *s = buf_data(&specs), *end = s + buf_len(&specs);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		uint32_t off, n;
		int k = mime_section(&mi, s, (size_t)(nl - s), &off, &n);
		assert_true(k == 0 || k == 1 || k == ERR_PROTO);
		if (k == 1)
			assert_true((uint64_t)off + n <= len);
		s = nl + 1;
	}
	buf_init(&text, 64 << 10);
	r = mime_text(msg, len, &mi, &text);
	assert_true(r == 0 || r == ERR_LIMIT);
	buf_free(&text);
	buf_free(&specs);
	buf_free(&blob);
	mime_info_free(&mi);
	mime_info_free(&back);
}

static void
test_random(void **state)
{
	static const char *const lines[] = {
		"--b", "--b--", "--bb", "--bb--", "--b  ", "--bX", "", "", "",
		"x", "Content-Type: multipart/mixed; boundary=b",
		"Content-Type: multipart/alternative; boundary=bb",
		"Content-Type: multipart/digest; boundary=b",
		"Content-Type: message/rfc822", "Content-Type: text/plain",
		"MIME-Version: 1.0", "Subject: =?utf-8?q?s=C3=A9?=",
		"From: a@b, (c) <d@e>; f:g@h;", " folded", "\tfolded", "--",
		"Content-Transfer-Encoding: base64", "aGVsbG8=", "a\rb",
		("Content-Type: text/plain; charset=iso-8859-1; name*0*=a; "
		"name*1=b"), "Content-Disposition: attachment; filename=x",
	};
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int n = 0; n < 3000; n++) {
		struct buf b;
		buf_init(&b, 1 << 20);
		unsigned k = (unsigned)(rnd_next(&seed) % 40);
		for (unsigned i = 0; i < k; i++) {
			uint64_t v = rnd_next(&seed);
			if (v % 17 == 0) {
				/* a few random bytes, NUL and LF included */
				for (unsigned j = 0; j < v % 7; j++)
					assert_int_equal(buf_addc(&b,
					    (char)(rnd_next(&seed) & 0xff)), 0);
			} else {
				assert_int_equal(buf_adds(&b,
				    lines[v % N_ELEMENTS(lines)]), 0);
			}
			if (i + 1 < k || v % 2)
				assert_int_equal(buf_adds(&b, "\r\n"), 0);
		}
		/* an exact allocation, so ASan sees any overread */
		size_t len;
		char *p = buf_take(&b, &len);
		char *msg = malloc(len > 0 ? len : 1);
		assert_non_null(msg);
		memcpy(msg, p, len);
		free(p);
		check_everything(msg, len);
		free(msg);
	}
}

/* ---- decoders ---- */

static void
test_header_decode(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} rows[] = {
		{ "plain text", "plain text" },
		{ "", "" },
		{ "=?ISO-8859-1?Q?Fran=E7ois?=", "Fran\xc3\xa7ois" },
		{ "=?UTF-8?Q?Fran=C3=A7ois_Dupont?=",
		    "Fran\xc3\xa7ois Dupont" },
		{ "=?utf-8?q?caf=c3=a9?=", "caf\xc3\xa9" },
		{ "=?utf-8?b?w6l0w6k=?=", "\xc3\xa9t\xc3\xa9" },
		/* white space between words goes, around them it stays */
		{ "=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "\xc3\xa9\xc3\xa9" },
		{ "=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?=", "ab" },
		{ "x =?utf-8?q?y?= z", "x y z" },
		{ "=?utf-8?q?a?=b", "ab" },
		/* a character split between two words */
		{ "=?UTF-8?B?ww==?= =?UTF-8?B?qQ==?=", "\xc3\xa9" },
		/* charsets mixed */
		{ "=?ISO-8859-1?Q?caf=E9?= =?UTF-8?Q?_cr=C3=A8me?=",
		    "caf\xc3\xa9 cr\xc3\xa8me" },
		{ "=?windows-1252?Q?=80_=96_=9C?=",
		    "\xe2\x82\xac \xe2\x80\x93 \xc5\x93" },
		{ "=?ISO-8859-15?Q?=A4?=", "\xe2\x82\xac" },
		{ "=?KOI8-R?B?8NLJ18XU?=",
		    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
		{ "=?UTF-8*fr?Q?=C3=A9?=", "\xc3\xa9" },
		{ "=?us-ascii?q?abc?=", "abc" },
		{ "=?utf-8?q?\?=", "" },
		/* invalid words stay as they are */
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
		{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
		{ "=?utf-8?b?@@@@?=", "=?utf-8?b?@@@@?=" },
		{ "=??q?abc?=", "=??q?abc?=" },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },
		{ "=?utf-8?b?w6k=?= =?utf-8?x?no?=",
		    "\xc3\xa9 =?utf-8?x?no?=" },
		/* unknown charset: the raw text */
		{ "=?x-unknown?q?abc?=", "=?x-unknown?q?abc?=" },
		{ "=?x-unknown?q?a?= =?x-unknown?q?b?=",
		    "=?x-unknown?q?a?= =?x-unknown?q?b?=" },
		{ "=?utf-8?q?a?= =?x-unknown?q?b?=", "a =?x-unknown?q?b?=" },
		/* folding, raw UTF-8 (RFC 6532) and raw Latin-1 */
		{ "Hello\r\n World", "Hello World" },
		{ "\xc3\x89lodie", "\xc3\x89lodie" },
		{ "caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac" },
		/* a converter error: U+FFFD */
		{ "=?UTF-16BE?B?2AA=?=", "\xef\xbf\xbd" },
	};
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		buf_reset(&out);
		int r = mime_header_decode(rows[i].in, strlen(rows[i].in),
		    &out);
		if (r != 0 || strcmp(buf_data(&out), rows[i].want) != 0)
			fail_msg("row %zu (%s): %d \"%s\", want \"%s\"", i,
			    rows[i].in, r, buf_data(&out), rows[i].want);
	}
	/* a full buffer says so */
	struct buf small;
	buf_init(&small, 4);
	assert_int_equal(mime_header_decode("=?utf-8?q?abcdef?=", 18, &small),
	    ERR_LIMIT);
	buf_free(&small);
	buf_free(&out);
}

static void
test_text(void **state)
{
	static const struct {
		const char *msg;
		const char *want;
	} rows[] = {
		{ "Subject: x\r\n\r\nplain body\r\n", "plain body\r\n" },
		{ "Content-Type: text/plain; charset=utf-8\r\n"
		  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		  "caf=C3=A9 =\r\nsuite=20\r\nfin  \r\n",
		  "caf\xc3\xa9 suite \r\nfin\r\n" },
		{ "Content-Type: text/plain; charset=ISO-8859-1\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\nY2Fm6Q==\r\n",
		  "caf\xc3\xa9" },
		{ "Content-Type: text/html; charset=windows-1252\r\n\r\n\x80",
		  "\xe2\x82\xac" },
		{ "MIME-Version: 1.0\r\n"
		  "Content-Type: multipart/alternative; boundary=a\r\n\r\n"
		  "--a\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
		  "--a\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
		  "--a\r\nContent-Type: application/pdf\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
		  "--a--\r\n", "plain\n<p>html</p>" },
		{ "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
		  "--m\r\nContent-Type: message/rfc822\r\n\r\n"
		  "Subject: inner\r\nContent-Type: text/plain; charset=koi8-r"
		  "\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n--m--\r\n",
		  "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
		{ "Content-Type: text/plain; charset=x-unknown\r\n\r\n"
		  "caf\xc3\xa9 caf\xe9", "caf\xc3\xa9 caf\xc3\xa9" },
		{ "Content-Type: image/png\r\n\r\n\x89PNG", "" },
		{ "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
		  "base64\r\n\r\naGVs\r\nbG8g\r\nd29y bGQ=\r\n",
		  "hello world" },
	};
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct mime_info mi;
		size_t len = strlen(rows[i].msg);
		mime_info_init(&mi);
		assert_int_equal(mime_info_parse(rows[i].msg, len, &mi), 0);
		buf_reset(&out);
		int r = mime_text(rows[i].msg, len, &mi, &out);
		if (r != 0 || strcmp(buf_data(&out), rows[i].want) != 0)
			fail_msg("row %zu: %d \"%s\", want \"%s\"", i, r,
			    buf_data(&out), rows[i].want);
		mime_info_free(&mi);
	}
	/* every text part of a fixture, bounded */
	struct mime_info mi;
	size_t len;
	char *msg = parse_fixture("mixed_pdf", &mi, &len);
	buf_reset(&out);
	assert_int_equal(mime_text(msg, len, &mi, &out), 0);
	assert_string_equal(buf_data(&out),
	    "Ci-joint le compte-rendu d'\xc3\xa9" "chographie.\r\n");
	struct buf small;
	buf_init(&small, 8);
	assert_int_equal(mime_text(msg, len, &mi, &small), ERR_LIMIT);
	buf_free(&small);
	/* parts beyond the given length are skipped */
	buf_reset(&out);
	assert_int_equal(mime_text(msg, 10, &mi, &out), 0);
	assert_int_equal(buf_len(&out), 0);
	mime_info_free(&mi);
	free(msg);
	buf_free(&out);
}

static void
test_casefold(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} rows[] = {
		{ "ABC xyz 123", "abc xyz 123" },
		{ "", "" },
		/* Latin-1 supplement: x and sharp s stay, micro is mu */
		{ "\xc3\x89" "COLE \xc3\x87" "A "
		  "\xc3\x80\xc3\x96\xc3\x98\xc3\x9e",
		  "\xc3\xa9" "cole \xc3\xa7" "a "
		  "\xc3\xa0\xc3\xb6\xc3\xb8\xc3\xbe" },
		{ "\xc3\x97\xc3\x9f\xc2\xb5", "\xc3\x97\xc3\x9f\xce\xbc" },
		/* Latin Extended-A: OE S Z Y-diaeresis L-stroke, dotted I
		 * and dotless i stay (no simple folding), long s is s */
		{ "\xc5\x92\xc5\xa0\xc5\xbd\xc5\xb8\xc5\x81",
		  "\xc5\x93\xc5\xa1\xc5\xbe\xc3\xbf\xc5\x82" },
		{ "\xc4\xb0\xc4\xb1\xc5\xbf", "\xc4\xb0\xc4\xb1s" },
		/* Greek, final sigma folds to sigma */
		{ "\xce\x91\xce\x92\xce\x93 \xce\x86\xce\x88 \xce\xa3\xcf\x82",
		  "\xce\xb1\xce\xb2\xce\xb3 \xce\xac\xce\xad "
		  "\xcf\x83\xcf\x83" },
		/* Cyrillic */
		{ "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2 \xd0\x81"
		  "\xd1\x91 \xd0\x80",
		  "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd1\x91"
		  "\xd1\x91 \xd1\x90" },
		/* Armenian, Latin Extended Additional, fullwidth */
		{ "\xd4\xb1 \xe1\xba\xa0 \xef\xbc\xa1\xef\xbc\xa2",
		  "\xd5\xa1 \xe1\xba\xa1 \xef\xbd\x81\xef\xbd\x82" },
		/* invalid sequences are kept as they are */
		{ "A\xff" "B\xc3", "a\xff" "b\xc3" },
		{ "\xc0\xaf\xed\xa0\x80Z", "\xc0\xaf\xed\xa0\x80z" },
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
	};
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		buf_reset(&out);
		int r = mime_casefold(rows[i].in, strlen(rows[i].in), &out);
		if (r != 0 || strcmp(buf_data(&out), rows[i].want) != 0)
			fail_msg("row %zu: %d \"%s\", want \"%s\"", i, r,
			    buf_data(&out), rows[i].want);
	}
	/* NUL is a character like another */
	buf_reset(&out);
	assert_int_equal(mime_casefold("A\0B", 3, &out), 0);
	assert_int_equal(buf_len(&out), 3);
	assert_memory_equal(buf_data(&out), "a\0b", 3);
	buf_free(&out);
}

static void
test_imap_string(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		size_t want_len;
	} rows[] = {
#define R(in, want) { in, sizeof(in) - 1, want, sizeof(want) - 1 }
		R("", "\"\""),
		R("abc", "\"abc\""),
		R("a\"b\\c", "\"a\\\"b\\\\c\""),
		R("\"\"\"\"", "\"\\\"\\\"\\\"\\\"\""),
		R("\"\"\"\"\"", "{5}\r\n\"\"\"\"\""),
		R("a\r\nb", "{4}\r\na\r\nb"),
		R("caf\xc3\xa9", "{5}\r\ncaf\xc3\xa9"),
		R("a\0b", "{5}\r\na\xef\xbf\xbd" "b"),
		R("NIL", "\"NIL\""),
#undef R
	};
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 16);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		buf_reset(&out);
		assert_int_equal(mime_imap_string(rows[i].in, rows[i].len,
		    &out), 0);
		if (buf_len(&out) != rows[i].want_len ||
		    memcmp(buf_data(&out), rows[i].want, rows[i].want_len))
			fail_msg("row %zu: got %s", i, buf_data(&out));
	}
	buf_reset(&out);
	assert_int_equal(mime_imap_string(NULL, 0, &out), 0);
	assert_string_equal(buf_data(&out), "NIL");
	/* long strings become literals */
	char big[1025];
	memset(big, 'x', sizeof(big));
	buf_reset(&out);
	assert_int_equal(mime_imap_string(big, 1024, &out), 0);
	assert_int_equal(buf_len(&out), 1026);
	assert_int_equal(buf_data(&out)[0], '"');
	buf_reset(&out);
	assert_int_equal(mime_imap_string(big, 1025, &out), 0);
	assert_int_equal(buf_len(&out), 1025 + 8);
	assert_memory_equal(buf_data(&out), "{1025}\r\n", 8);
	/* a full buffer */
	struct buf small;
	buf_init(&small, 3);
	assert_int_equal(mime_imap_string("abcd", 4, &small), ERR_LIMIT);
	buf_free(&small);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_rfc3501_sections),
		cmocka_unit_test(test_section_syntax),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decode_corrupt),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_header_decode),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_casefold),
		cmocka_unit_test(test_imap_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
