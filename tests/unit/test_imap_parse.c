/* SPDX-License-Identifier: MIT */
/*
 * test_imap_parse.c - the IMAP command assembler: tokens, quoted strings,
 * lists, sections, literals and limits (valid and invalid tables, each row
 * tokenized whole and then fed as a session does, in one piece, one byte
 * at a time and in random chunks), the argument readers, reset, sequence
 * sets and modified UTF-7 mailbox names (RFC 3501 5.1.3).
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
#include "imap/imap_parse.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Limits of a row that sets none. */
#define DEF_DATA 65536
#define DEF_TOKS 1000
#define DEF_DEPTH 8
#define LIM(v, def) ((v) != 0 ? (v) : (def))

/* next_rand - xorshift64*, so chunk sizes are the same on every run. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* dup_exact - a copy in an allocation of exactly len bytes, so that the
 * sanitizers see any read past the end of a line. */
static char *
dup_exact(const char *p, size_t len)
{
	char *d = malloc(len > 0 ? len : 1);
	assert_non_null(d);
	if (len > 0)
		memcpy(d, p, len);
	return d;
}

/* add_escaped - bytes as text, octets outside 0x20-0x7e as \xHH. */
static void
add_escaped(struct buf *out, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		int r;
		if (ch < 0x20 || ch >= 0x7f)
			r = buf_addf(out, "\\x%02x", ch);
		else
			r = buf_addc(out, (char)ch);
		assert_int_equal(r, 0);
	}
}

/* escaped - the same into a static string, for messages. */
static const char *
escaped(const char *p, size_t len)
{
	static char text[512];
	struct buf b;
	buf_init(&b, 4 * len + 1);
	add_escaped(&b, p, len);
	snprintf(text, sizeof(text), "%s", buf_data(&b));
	buf_free(&b);
	return text;
}

/*
 * dump - a command's tokens as text: atoms as they are, strings in double
 * quotes and literals in braces (raw, so that unescaping shows),
 * parentheses alone, separated by one space. Checks on the way that
 * every atom, string and literal lies in the arena, NUL-terminated.
 */
static void
dump(const struct imap_cmdbuf *c, struct buf *out)
{
	for (size_t i = 0; i < c->n_toks; i++) {
		const struct imap_tok *t = &c->toks[i];
		const char *p = imap_tok_data(c, t);
		if (i > 0)
			assert_int_equal(buf_addc(out, ' '), 0);
		if (t->type == IMAP_TOK_LPAREN || t->type == IMAP_TOK_RPAREN) {
			assert_int_equal(t->len, 0);
			assert_int_equal(buf_addc(out, t->type ==
			    IMAP_TOK_LPAREN ? '(' : ')'), 0);
			continue;
		}
		assert_true((size_t)t->off + t->len < buf_len(&c->data));
		assert_int_equal(p[t->len], '\0');
		switch (t->type) {
		case IMAP_TOK_ATOM:
			assert_true(t->len > 0);
			add_escaped(out, p, t->len);
			break;
		case IMAP_TOK_STRING:
			assert_int_equal(buf_addc(out, '"'), 0);
			add_escaped(out, p, t->len);
			assert_int_equal(buf_addc(out, '"'), 0);
			break;
		case IMAP_TOK_LITERAL:
			assert_int_equal(buf_addc(out, '{'), 0);
			add_escaped(out, p, t->len);
			assert_int_equal(buf_addc(out, '}'), 0);
			break;
		default:
			fail_msg("token %zu: unknown type %u", i, t->type);
		}
	}
}

/* sentence_ok - an error text fit for a BAD reply: printable words, one
 * of them the word expected (NULL: any). */
static bool
sentence_ok(const char *what, const char *error, const char *word)
{
	if (error == NULL || strlen(error) < 8 || strchr(error, ' ') == NULL) {
		print_error("%s: error text [%s] is not a sentence\n", what,
		    error ? error : "(null)");
		return false;
	}
	for (const char *p = error; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
			print_error("%s: error text [%s] not printable\n",
			    what, escaped(error, strlen(error)));
			return false;
		}
	}
	if (word != NULL && strstr(error, word) == NULL) {
		print_error("%s: error text [%s] does not say \"%s\"\n", what,
		    error, word);
		return false;
	}
	return true;
}

/* feed_line - one line through an exact-size copy. */
static enum imap_line_result
feed_line(struct imap_cmdbuf *c, const char *line, size_t len,
	  uint64_t *lit_len, bool *sync, const char **error)
{
	char *copy = dup_exact(line, len);
	enum imap_line_result r = imap_cmdbuf_line(c, copy, len, lit_len, sync,
	    error);
	free(copy);
	return r;
}

/* feed_str - the same for a C string, when only the result matters. */
static enum imap_line_result
feed_str(struct imap_cmdbuf *c, const char *line)
{
	uint64_t lit_len = 0;
	bool sync = false;
	const char *error = NULL;
	return feed_line(c, line, strlen(line), &lit_len, &sync, &error);
}

/* put_literal - literal bytes onto the end of the arena and the token, as
 * imap_session.c does (on_line reserves, literal_input appends,
 * imap_process calls imap_cmdbuf_literal). */
static int
put_literal(struct imap_cmdbuf *c, const char *p, size_t len)
{
	size_t start = buf_len(&c->data);
	int r = buf_reserve(&c->data, len + 1);
	if (r < 0)
		return r;
	if (len > 0)
		memcpy(c->data.data + start, p, len);
	c->data.len += len;
	return imap_cmdbuf_literal(c, start, len);
}

/* ---- a session-like reader: lines to LF, then literal bytes ---- */

struct wire {
	struct imap_cmdbuf c;
	struct buf line;	/* the line being read */
	struct buf cmds;	/* dump() of each command, or "BAD" */
	struct buf lits;	/* each announcement: "{5}" or "{5+}" */
	uint64_t lit_left;
	size_t lit_start;
	bool in_lit;
	bool keep;		/* leave the last command assembled */
};

static void
wire_init(struct wire *w, size_t max_data, size_t max_toks,
	  unsigned max_depth)
{
	memset(w, 0, sizeof(*w));
	imap_cmdbuf_init(&w->c, max_data, max_toks, max_depth);
	buf_init(&w->line, 1 << 20);
	buf_init(&w->cmds, 1 << 20);
	buf_init(&w->lits, 1 << 20);
}

static void
wire_free(struct wire *w)
{
	imap_cmdbuf_free(&w->c);
	buf_free(&w->line);
	buf_free(&w->cmds);
	buf_free(&w->lits);
}

/* wire_literal_done - all the literal's bytes are in the arena. */
static void
wire_literal_done(struct wire *w)
{
	size_t len = buf_len(&w->c.data) - w->lit_start;
	assert_int_equal(imap_cmdbuf_literal(&w->c, w->lit_start, len), 0);
	assert_false(w->c.in_literal);
	w->in_lit = false;
}

/* wire_line - a complete line, CR LF removed, as on_line() takes it. */
static void
wire_line(struct wire *w)
{
	uint64_t lit_len = UINT64_MAX;
	bool sync = false;
	const char *error = NULL;
	enum imap_line_result r = feed_line(&w->c, buf_data(&w->line),
	    buf_len(&w->line), &lit_len, &sync, &error);

	buf_reset(&w->line);
	switch (r) {
	case IMAP_LINE_DONE:
		assert_int_equal(w->c.depth, 0);
		dump(&w->c, &w->cmds);
		assert_int_equal(buf_addc(&w->cmds, '\n'), 0);
		if (!w->keep)
			imap_cmdbuf_reset(&w->c);
		break;
	case IMAP_LINE_ERROR:
		assert_true(sentence_ok("wire", error, NULL));
		assert_int_equal(buf_adds(&w->cmds, "BAD\n"), 0);
		imap_cmdbuf_reset(&w->c);
		break;
	case IMAP_LINE_LITERAL:
		assert_true(w->c.in_literal);
		assert_int_equal(buf_addf(&w->lits, "{%llu%s}",
		    (unsigned long long)lit_len, sync ? "" : "+"), 0);
		/* on_line(): room for the bytes and their NUL, first */
		assert_int_equal(buf_reserve(&w->c.data, (size_t)lit_len + 1),
		    0);
		w->lit_left = lit_len;
		w->lit_start = buf_len(&w->c.data);
		w->in_lit = true;
		if (lit_len == 0)
			wire_literal_done(w);
		break;
	default:
		fail_msg("line result %d", r);
	}
}

/* wire_feed - bytes as they come off the socket. */
static void
wire_feed(struct wire *w, const char *p, size_t n)
{
	while (n > 0) {
		if (w->in_lit) {
			/* literal_input(): straight onto the arena's end */
			struct buf *d = &w->c.data;
			size_t k = n < w->lit_left ? n : (size_t)w->lit_left;
			assert_int_equal(buf_reserve(d, k + 1), 0);
			memcpy(d->data + d->len, p, k);
			d->len += k;
			w->lit_left -= k;
			p += k;
			n -= k;
			if (w->lit_left == 0)
				wire_literal_done(w);
			continue;
		}
		const char *nl = memchr(p, '\n', n);
		size_t k = nl != NULL ? (size_t)(nl - p) + 1 : n;
		assert_int_equal(buf_add(&w->line, p, k), 0);
		p += k;
		n -= k;
		if (nl == NULL)
			continue;
		w->line.len--;
		if (w->line.len > 0 && w->line.data[w->line.len - 1] == '\r')
			w->line.len--;
		wire_line(w);
	}
}

/* wire_run - chunk 0 is the whole input, 1 one byte at a time, otherwise
 * random sizes from 1 to chunk drawn with seed. */
static void
wire_run(struct wire *w, const char *in, size_t len, size_t chunk,
	 uint64_t seed)
{
	size_t off = 0;
	while (off < len) {
		size_t n = len - off;
		if (chunk == 1)
			n = 1;
		else if (chunk > 1)
			n = 1 + next_rand(&seed) % chunk;
		if (n > len - off)
			n = len - off;
		wire_feed(w, in + off, n);
		off += n;
	}
}

/* check_wire - the input whole, byte by byte and in random chunks must
 * give the commands and announcements expected. */
static bool
check_wire(const char *what, const char *in, size_t len, const char *cmds,
	   const char *lits, size_t max_data, size_t max_toks,
	   unsigned max_depth)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 5, 7, 16 };
	bool ok = true;

	for (size_t k = 0; k < N_ELEMENTS(chunks) && ok; k++) {
		struct wire w;
		wire_init(&w, max_data, max_toks, max_depth);
		wire_run(&w, in, len, chunks[k],
		    0x9e3779b97f4a7c15ULL * (k + 1));
		if (strcmp(buf_data(&w.cmds), cmds) != 0) {
			print_error("%s, chunk %zu: commands\n[%s]\n"
			    "want\n[%s]\n", what, chunks[k], buf_data(&w.cmds),
			    cmds);
			ok = false;
		} else if (lits != NULL &&
		    strcmp(buf_data(&w.lits), lits) != 0) {
			print_error("%s, chunk %zu: literals [%s] want [%s]\n",
			    what, chunks[k], buf_data(&w.lits), lits);
			ok = false;
		} else if (w.in_lit || buf_len(&w.line) != 0) {
			print_error("%s, chunk %zu: input left over\n", what,
			    chunks[k]);
			ok = false;
		}
		wire_free(&w);
	}
	return ok;
}

/* ---- tokenizer: valid lines ---- */

struct line_ok {
	const char *line;
	const char *toks;	/* dump() of the command */
	size_t max_data, max_toks;	/* 0: the defaults */
	unsigned max_depth;
};

static const struct line_ok line_ok_rows[] = {
	{ "a1 NOOP", "a1 NOOP", 0, 0, 0 },
	{ "", "", 0, 0, 0 },
	{ "    ", "", 0, 0, 0 },
	{ "  a   LOGIN  bob     secret  ", "a LOGIN bob secret", 0, 0, 0 },
	{ "A001 CAPABILITY", "A001 CAPABILITY", 0, 0, 0 },
	{ "a SELECT INBOX", "a SELECT INBOX", 0, 0, 0 },
	/* quoted strings, unescaped */
	{ "a LOGIN \"bob\" \"se cret\"", "a LOGIN \"bob\" \"se cret\"", 0, 0,
	    0 },
	{ "a LOGIN \"\" \"\"", "a LOGIN \"\" \"\"", 0, 0, 0 },
	{ "a LOGIN \"a\\\"b\" \"c\\\\d\"", "a LOGIN \"a\"b\" \"c\\d\"", 0, 0,
	    0 },
	{ "a X \"\\\\\" \"\\\"\"", "a X \"\\\" \"\"\"", 0, 0, 0 },
	{ "a X \"(){}[]%*\"", "a X \"(){}[]%*\"", 0, 0, 0 },
	{ "a X \"tab\there\"", "a X \"tab\\x09here\"", 0, 0, 0 },
	{ "a X \"\x01\x7f\"", "a X \"\\x01\\x7f\"", 0, 0, 0 },
	{ "a LIST \"\" \"*\"", "a LIST \"\" \"*\"", 0, 0, 0 },
	{ "a LIST \"\" %", "a LIST \"\" %", 0, 0, 0 },
	{ "a SEARCH CHARSET UTF-8 SUBJECT \"re: bilan\"",
	    "a SEARCH CHARSET UTF-8 SUBJECT \"re: bilan\"", 0, 0, 0 },
	/* NIL is an atom; "NIL" is a string */
	{ "* NIL nil \"NIL\"", "* NIL nil \"NIL\"", 0, 0, 0 },
	/* flags with a backslash, lists */
	{ "a STORE 1:3 +FLAGS.SILENT (\\Seen \\Deleted $Forwarded)",
	    "a STORE 1:3 +FLAGS.SILENT ( \\Seen \\Deleted $Forwarded )", 0, 0,
	    0 },
	{ "a STATUS INBOX (MESSAGES UIDNEXT UNSEEN)",
	    "a STATUS INBOX ( MESSAGES UIDNEXT UNSEEN )", 0, 0, 0 },
	{ "a FETCH 1:* (FLAGS (X (Y)) ())",
	    "a FETCH 1:* ( FLAGS ( X ( Y ) ) ( ) )", 0, 0, 0 },
	{ "a ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")",
	    "a ID ( \"name\" \"Thunderbird\" \"version\" \"115.0\" )", 0,
	    0, 0 },
	{ "a ID NIL", "a ID NIL", 0, 0, 0 },
	{ "a(b)c", "a ( b ) c", 0, 0, 0 },
	{ "a\"b\"c", "a \"b\" c", 0, 0, 0 },
	{ "((()))", "( ( ( ) ) )", 0, 0, 0 },
	/* sections are one atom, spaces and parentheses included */
	{ "a FETCH 1 BODY[HEADER.FIELDS (From To)]<0.100>",
	    "a FETCH 1 BODY[HEADER.FIELDS (From To)]<0.100>", 0, 0, 0 },
	{ "a UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)]"
	    " BODY.PEEK[1.MIME])",
	    "a UID FETCH 1:* ( UID BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)]"
	    " BODY.PEEK[1.MIME] )", 0, 0, 0 },
	{ "a FETCH 1 (BODY[])", "a FETCH 1 ( BODY[] )", 0, 0, 0 },
	{ "a FETCH 1 BODY[1.2.TEXT]<0.2048>",
	    "a FETCH 1 BODY[1.2.TEXT]<0.2048>", 0, 0, 0 },
	{ "x[a[b]c]d", "x[a[b]c]d", 0, 0, 0 },
	{ "a X BODY[HEADER.FIELDS.NOT (\"x\" {)]",
	    "a X BODY[HEADER.FIELDS.NOT (\"x\" {)]", 0, 0, 0 },
	/* the other printable octets are atom characters */
	{ "!#$%&'*+,-./0123456789:;<=>?@AZ\\]^_`az|}~",
	    "!#$%&'*+,-./0123456789:;<=>?@AZ\\]^_`az|}~", 0, 0, 0 },
	{ "a CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	    "a CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-", 0, 0, 0 },
	/* limits, just inside */
	{ "abcdefghijklmno", "abcdefghijklmno", 16, 0, 0 },
	{ "abcdefg hijklmn", "abcdefg hijklmn", 16, 0, 0 },
	{ "\"abcdefghijklmno\"", "\"abcdefghijklmno\"", 16, 0, 0 },
	{ "a b c d", "a b c d", 0, 4, 0 },
	{ "a (b)", "a ( b )", 0, 4, 0 },
	{ "a ((b))", "a ( ( b ) )", 0, 0, 2 },
	{ "a (b) ((c)) (d)", "a ( b ) ( ( c ) ) ( d )", 0, 0, 2 },
	{ "()", "( )", 0, 0, 1 },
};

static bool
check_line_ok(size_t i, const struct line_ok *row)
{
	size_t len = strlen(row->line);
	struct imap_cmdbuf c;
	struct buf got;
	uint64_t lit_len = 77;
	bool sync = false, ok = true;
	const char *error = NULL;

	imap_cmdbuf_init(&c, LIM(row->max_data, DEF_DATA),
	    LIM(row->max_toks, DEF_TOKS), LIM(row->max_depth, DEF_DEPTH));
	buf_init(&got, DEF_DATA);
	enum imap_line_result r = feed_line(&c, row->line, len, &lit_len,
	    &sync, &error);
	if (r != IMAP_LINE_DONE) {
		print_error("row %zu [%s]: result %d (%s)\n", i, row->line, r,
		    error ? error : "");
		ok = false;
	} else {
		assert_int_equal(lit_len, 77);
		assert_int_equal(c.depth, 0);
		assert_false(c.in_literal);
		dump(&c, &got);
		if (strcmp(buf_data(&got), row->toks) != 0) {
			print_error("row %zu [%s]: tokens [%s] want [%s]\n", i,
			    row->line, buf_data(&got), row->toks);
			ok = false;
		}
	}
	buf_free(&got);
	imap_cmdbuf_free(&c);
	if (!ok)
		return false;

	/* As a session reads it: the line and its CR LF, in pieces. */
	char what[64], in[1024], want[1024];
	snprintf(what, sizeof(what), "row %zu", i);
	snprintf(in, sizeof(in), "%s\r\n", row->line);
	snprintf(want, sizeof(want), "%s\n", row->toks);
	return check_wire(what, in, strlen(in), want, "",
	    LIM(row->max_data, DEF_DATA), LIM(row->max_toks, DEF_TOKS),
	    LIM(row->max_depth, DEF_DEPTH));
}

static void
test_line_valid(void **state)
{
	size_t bad = 0;
	for (size_t i = 0; i < N_ELEMENTS(line_ok_rows); i++)
		if (!check_line_ok(i, &line_ok_rows[i]))
			bad++;
	if (bad > 0)
		fail_msg("%zu of %zu rows failed", bad,
		    N_ELEMENTS(line_ok_rows));
}

/* All default-limit rows one after the other through one buffer: what a
 * command leaves behind never shows in the next one. */
static void
test_line_pipelined(void **state)
{
	struct buf in, want;
	buf_init(&in, DEF_DATA);
	buf_init(&want, DEF_DATA);
	for (size_t i = 0; i < N_ELEMENTS(line_ok_rows); i++) {
		const struct line_ok *row = &line_ok_rows[i];
		if (row->max_data || row->max_toks || row->max_depth)
			continue;
		assert_int_equal(buf_addf(&in, "%s\r\n", row->line), 0);
		assert_int_equal(buf_addf(&want, "%s\n", row->toks), 0);
	}
	/* and in reverse, so that long commands come before short ones */
	for (size_t i = N_ELEMENTS(line_ok_rows); i-- > 0;) {
		const struct line_ok *row = &line_ok_rows[i];
		if (row->max_data || row->max_toks || row->max_depth)
			continue;
		assert_int_equal(buf_addf(&in, "%s\r\n", row->line), 0);
		assert_int_equal(buf_addf(&want, "%s\n", row->toks), 0);
	}
	assert_true(check_wire("pipelined", buf_data(&in), buf_len(&in),
	    buf_data(&want), "", DEF_DATA, DEF_TOKS, DEF_DEPTH));
	buf_free(&in);
	buf_free(&want);
}

/* ---- tokenizer: invalid lines ---- */

struct line_bad {
	const char *line;
	size_t len;		/* 0: strlen */
	const char *why;	/* a word the error text must hold */
	size_t max_data, max_toks;	/* 0: the defaults */
	unsigned max_depth;
};

static const struct line_bad line_bad_rows[] = {
	/* 8-bit octets belong in literals */
	{ "a LOGIN caf\xc3\xa9 x", 0, "8-bit", 0, 0, 0 },
	{ "\xc3\xa9", 0, "8-bit", 0, 0, 0 },
	{ "a SELECT \xff", 0, "8-bit", 0, 0, 0 },
	{ "a LOGIN \"caf\xc3\xa9\" x", 0, "8-bit", 0, 0, 0 },
	{ "a LOGIN \"\x80\"", 0, "8-bit", 0, 0, 0 },
	{ "a FETCH 1 BODY[HEADER.FIELDS (Sujet-\xc3\xa9)]", 0, "section", 0,
	    0, 0 },
	/* control octets */
	{ "a\tNOOP", 0, "character", 0, 0, 0 },
	{ "a NOOP\x01", 0, "character", 0, 0, 0 },
	{ "a NO\x7fOP", 0, "character", 0, 0, 0 },
	{ "a\rb", 0, "character", 0, 0, 0 },
	{ "a\0b", 3, "character", 0, 0, 0 },
	{ "a LOGIN \"a\0b\" c", 15, "NUL", 0, 0, 0 },
	{ "a FETCH 1 BODY[HEADER\t]", 0, "section", 0, 0, 0 },
	/* RFC 3501 9: TEXT-CHAR excludes CR and LF, CTL includes DEL */
	{ "a LOGIN \"a\rb\" c", 0, "quoted", 0, 0, 0 },
	{ "a FETCH 1 BODY[\x7f]", 0, "section", 0, 0, 0 },
	/* parentheses */
	{ ")", 0, "unbalanced", 0, 0, 0 },
	{ "a NOOP)", 0, "unbalanced", 0, 0, 0 },
	{ "a ())", 0, "unbalanced", 0, 0, 0 },
	{ "a (x))(", 0, "unbalanced", 0, 0, 0 },
	{ "a (x", 0, "missing ')'", 0, 0, 0 },
	{ "a ((x)", 0, "missing ')'", 0, 0, 0 },
	{ "(", 0, "missing ')'", 0, 0, 0 },
	/* quoted strings */
	{ "a LOGIN \"bob", 0, "unterminated", 0, 0, 0 },
	{ "a \"", 0, "unterminated", 0, 0, 0 },
	{ "a LOGIN \"a\\\\\\\"", 0, "unterminated", 0, 0, 0 },
	{ "a LOGIN \"a\\b\"", 0, "escape", 0, 0, 0 },
	{ "a LOGIN \"a\\n\"", 0, "escape", 0, 0, 0 },
	{ "a LOGIN \"a\\", 0, "escape", 0, 0, 0 },
	/* sections */
	{ "a FETCH 1 BODY[HEADER", 0, "section", 0, 0, 0 },
	{ "a FETCH 1 BODY[[]", 0, "section", 0, 0, 0 },
	/* literal announcements: only {digits} or {digits+} at the end */
	{ "a APPEND INBOX {5} x", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {5}x", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {5} ", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {5}}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {12x}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {+}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {5++}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {-1}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX { 5}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {5 }", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {5", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {0x10}", 0, "literal", 0, 0, 0 },
	{ "a APPEND INBOX {99999999999999999999}", 0, "too large", 0, 0, 0 },
	{ "a APPEND INBOX {18446744073709551616}", 0, "too large", 0, 0, 0 },
	{ "a{", 0, "literal", 0, 0, 0 },
	/* limits, just outside */
	{ "abcdefghijklmnop", 0, "too long", 16, 0, 0 },
	{ "abcdefg hijklmno", 0, "too long", 16, 0, 0 },
	{ "\"abcdefghijklmnop\"", 0, "too long", 16, 0, 0 },
	{ "a b c d e", 0, "arguments", 0, 4, 0 },
	{ "a (b c)", 0, "arguments", 0, 4, 0 },
	{ "a ()()", 0, "arguments", 0, 4, 0 },
	{ "a b c (x)", 0, "arguments", 0, 3, 0 },
	{ "a b c \"x\"", 0, "arguments", 0, 3, 0 },
	{ "a (((b)))", 0, "nested", 0, 0, 2 },
	{ "a ((b)) (((c)))", 0, "nested", 0, 0, 2 },
	{ "((", 0, "nested", 0, 0, 1 },
};

static bool
check_line_bad(size_t i, const struct line_bad *row)
{
	size_t len = row->len ? row->len : strlen(row->line);
	const char *esc = escaped(row->line, len);
	struct imap_cmdbuf c;
	uint64_t lit_len = 0;
	bool sync = false, ok = true;
	const char *error = NULL;
	char what[600];

	snprintf(what, sizeof(what), "row %zu [%s]", i, esc);
	imap_cmdbuf_init(&c, LIM(row->max_data, DEF_DATA),
	    LIM(row->max_toks, DEF_TOKS), LIM(row->max_depth, DEF_DEPTH));
	enum imap_line_result r = feed_line(&c, row->line, len, &lit_len,
	    &sync, &error);
	if (r != IMAP_LINE_ERROR) {
		print_error("%s: result %d, want IMAP_LINE_ERROR\n", what, r);
		ok = false;
	} else if (!sentence_ok(what, error, row->why)) {
		ok = false;
	}
	/* The command is dropped; once reset, the buffer works again. */
	imap_cmdbuf_reset(&c);
	assert_int_equal(feed_str(&c, "b NOOP"), IMAP_LINE_DONE);
	assert_int_equal(c.n_toks, 2);
	imap_cmdbuf_free(&c);
	if (!ok)
		return false;

	/* As a session reads it, followed by a good command. */
	struct buf in;
	buf_init(&in, 1024);
	assert_int_equal(buf_add(&in, row->line, len), 0);
	assert_int_equal(buf_adds(&in, "\r\nb NOOP\r\n"), 0);
	ok = check_wire(what, buf_data(&in), buf_len(&in), "BAD\nb NOOP\n",
	    NULL, LIM(row->max_data, DEF_DATA), LIM(row->max_toks, DEF_TOKS),
	    LIM(row->max_depth, DEF_DEPTH));
	buf_free(&in);
	return ok;
}

static void
test_line_invalid(void **state)
{
	size_t bad = 0;
	for (size_t i = 0; i < N_ELEMENTS(line_bad_rows); i++)
		if (!check_line_bad(i, &line_bad_rows[i]))
			bad++;
	if (bad > 0)
		fail_msg("%zu of %zu rows failed", bad,
		    N_ELEMENTS(line_bad_rows));
}

/* ---- literals ---- */

static void
test_literal_announce(void **state)
{
	static const struct {
		const char *line;
		uint64_t lit_len;
		bool sync;
		size_t n_toks;		/* before the literal */
		unsigned depth;
	} rows[] = {
		{ "a APPEND INBOX {5}", 5, true, 3, 0 },
		{ "a APPEND INBOX {5+}", 5, false, 3, 0 },
		{ "a APPEND INBOX (\\Seen) {310}", 310, true, 6, 0 },
		{ "a APPEND INBOX (\\Seen) \"22-Nov-2026 10:00:00 +0100\" {0}",
		    0, true, 7, 0 },
		{ "a LOGIN {007}", 7, true, 2, 0 },
		{ "a LOGIN {0+}", 0, false, 2, 0 },
		{ "{1}", 1, true, 0, 0 },
		{ "a (x {2}", 2, true, 3, 1 },
		{ "a ((x {2+}", 2, false, 4, 2 },
		{ "a X {9999999999999999999}", 9999999999999999999ULL, true,
		    2, 0 },
		{ "a X {4294967296+}", 4294967296ULL, false, 2, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_cmdbuf c;
		uint64_t lit_len = 12345;
		bool sync = !rows[i].sync;
		const char *error = NULL;

		imap_cmdbuf_init(&c, DEF_DATA, DEF_TOKS, DEF_DEPTH);
		enum imap_line_result r = feed_line(&c, rows[i].line,
		    strlen(rows[i].line), &lit_len, &sync, &error);
		if (r != IMAP_LINE_LITERAL)
			fail_msg("row %zu [%s]: result %d (%s)", i,
			    rows[i].line, r, error ? error : "");
		if (lit_len != rows[i].lit_len)
			fail_msg("row %zu [%s]: lit_len %llu", i, rows[i].line,
			    (unsigned long long)lit_len);
		assert_int_equal(sync, rows[i].sync);
		assert_int_equal(c.n_toks, rows[i].n_toks);
		assert_int_equal(c.depth, rows[i].depth);
		assert_true(c.in_literal);
		imap_cmdbuf_free(&c);
	}
}

/* The line after the announcement comes before the literal: refused. */
static void
test_literal_missing(void **state)
{
	struct imap_cmdbuf c;
	uint64_t lit_len = 0;
	bool sync = false;
	const char *error = NULL;

	imap_cmdbuf_init(&c, DEF_DATA, DEF_TOKS, DEF_DEPTH);
	assert_int_equal(feed_str(&c, "a LOGIN {3}"), IMAP_LINE_LITERAL);
	assert_int_equal(feed_line(&c, "bob", 3, &lit_len, &sync, &error),
	    IMAP_LINE_ERROR);
	assert_true(sentence_ok("data missing", error, "literal"));
	assert_int_equal(c.n_toks, 2);
	imap_cmdbuf_reset(&c);
	assert_false(c.in_literal);
	assert_int_equal(feed_str(&c, "b NOOP"), IMAP_LINE_DONE);
	imap_cmdbuf_free(&c);
}

/* Literal then the rest of the command, the bytes put where the session
 * puts them. */
static void
test_literal_assembly(void **state)
{
	struct imap_cmdbuf c;
	uint64_t lit_len = 0;
	bool sync = false;
	const char *error = NULL;
	struct buf got;

	imap_cmdbuf_init(&c, DEF_DATA, DEF_TOKS, DEF_DEPTH);
	buf_init(&got, DEF_DATA);
	assert_int_equal(feed_line(&c, "a APPEND INBOX {5}", 18, &lit_len,
	    &sync, &error), IMAP_LINE_LITERAL);
	assert_int_equal(lit_len, 5);
	assert_true(sync);
	assert_int_equal(put_literal(&c, "hello", 5), 0);
	assert_false(c.in_literal);
	assert_int_equal(c.n_toks, 4);
	assert_int_equal(c.toks[3].type, IMAP_TOK_LITERAL);
	assert_int_equal(c.toks[3].len, 5);
	assert_memory_equal(imap_tok_data(&c, &c.toks[3]), "hello", 6);
	assert_int_equal(feed_line(&c, "", 0, &lit_len, &sync, &error),
	    IMAP_LINE_DONE);
	dump(&c, &got);
	assert_string_equal(buf_data(&got), "a APPEND INBOX {hello}");
	imap_cmdbuf_reset(&c);

	/* {n+}, then more arguments, then another literal, then the end */
	buf_reset(&got);
	assert_int_equal(feed_str(&c, "a APPEND Drafts (\\Draft) {4+}"),
	    IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "X\r\n\0", 4), 0);
	assert_int_equal(feed_line(&c, " (x {2}", 7, &lit_len, &sync,
	    &error), IMAP_LINE_LITERAL);
	assert_int_equal(lit_len, 2);
	assert_true(sync);
	assert_int_equal(c.depth, 1);
	assert_int_equal(put_literal(&c, "\xff)", 2), 0);
	assert_int_equal(feed_str(&c, ") y"), IMAP_LINE_DONE);
	dump(&c, &got);
	assert_string_equal(buf_data(&got), "a APPEND Drafts ( \\Draft ) "
	    "{X\\x0d\\x0a\\x00} ( x {\\xff)} ) y");

	/* imap_cmdbuf_literal must be told where the bytes really are */
	imap_cmdbuf_reset(&c);
	assert_int_equal(feed_str(&c, "a X {3}"), IMAP_LINE_LITERAL);
	size_t start = buf_len(&c.data);
	assert_int_equal(buf_add(&c.data, "abc", 3), 0);
	assert_int_equal(imap_cmdbuf_literal(&c, start + 1, 3), ERR_INVAL);
	assert_false(c.in_literal);
	assert_int_equal(imap_cmdbuf_literal(&c, start, 2), ERR_INVAL);
	assert_int_equal(c.n_toks, 2);
	imap_cmdbuf_free(&c);
	buf_free(&got);
}

struct wire_row {
	const char *name;
	const char *in;
	size_t len;
	const char *cmds;	/* dump() of each command, one a line */
	const char *lits;	/* each announcement */
};

#define WROW(name, in, cmds, lits) { name, in, sizeof(in) - 1, cmds, lits }

static const struct wire_row wire_rows[] = {
	WROW("sync literal", "a APPEND INBOX {5}\r\nhello\r\n",
	    "a APPEND INBOX {hello}\n", "{5}"),
	WROW("non-sync literal", "a APPEND INBOX {5+}\r\nhello\r\n",
	    "a APPEND INBOX {hello}\n", "{5+}"),
	WROW("APPEND with flags and date",
	    "A003 APPEND saved-messages (\\Seen) \"05-Jan-2026 09:00:00 "
	    "+0100\" {21}\r\nSubject: x\r\n\r\nhello\r\n\r\n",
	    "A003 APPEND saved-messages ( \\Seen ) \"05-Jan-2026 09:00:00 "
	    "+0100\" {Subject: x\\x0d\\x0a\\x0d\\x0ahello\\x0d\\x0a}\n",
	    "{21}"),
	WROW("LOGIN with two literals", "a LOGIN {3}\r\nbob {6}\r\nsecret\r\n",
	    "a LOGIN {bob} {secret}\n", "{3}{6}"),
	WROW("quoted then literal", "a LOGIN \"bob\" {6+}\r\nsecret\r\n",
	    "a LOGIN \"bob\" {secret}\n", "{6+}"),
	WROW("NUL, CR LF and 8-bit survive",
	    "a APPEND INBOX {9}\r\nx\0\r\n\xc3\xa9\xff.\n\r\n",
	    "a APPEND INBOX {x\\x00\\x0d\\x0a\\xc3\\xa9\\xff.\\x0a}\n", "{9}"),
	WROW("empty literals", "a LOGIN {0}\r\n {0+}\r\n\r\n",
	    "a LOGIN {} {}\n", "{0}{0+}"),
	WROW("literal in a list", "a FETCH 1 (BODY {4}\r\nTEXT)\r\n",
	    "a FETCH 1 ( BODY {TEXT} )\n", "{4}"),
	WROW("parentheses in literals", "a X ({1}\r\n( ({1}\r\n)))\r\n",
	    "a X ( {(} ( {)} ) )\n", "{1}{1}"),
	WROW("literal that looks like commands",
	    "a LOGIN {17}\r\nb LOGOUT\r\nc {1}\r\n x\r\n",
	    "a LOGIN {b LOGOUT\\x0d\\x0ac {1}\\x0d\\x0a} x\n", "{17}"),
	WROW("quote and backslash bytes", "a X {4}\r\n\"()\\ y\r\n",
	    "a X {\"()\\} y\n", "{4}"),
	WROW("pipelined after non-sync literals",
	    "a LOGIN {3+}\r\nbob {3+}\r\npwd\r\nb SELECT INBOX\r\nc NOOP\r\n",
	    "a LOGIN {bob} {pwd}\nb SELECT INBOX\nc NOOP\n", "{3+}{3+}"),
	WROW("mailbox name as a literal",
	    "a CREATE {26}\r\nCompte-rendus \xc3\xa9" "chographie\r\n",
	    "a CREATE {Compte-rendus \\xc3\\xa9" "chographie}\n", "{26}"),
	WROW("LF without CR", "a NOOP\nb {2}\nxy\n", "a NOOP\nb {xy}\n",
	    "{2}"),
	WROW("empty lines", "\r\n\r\na NOOP\r\n", "\n\na NOOP\n", ""),
	WROW("missing ) after a literal", "a (x {1}\r\ny\r\nb NOOP\r\n",
	    "BAD\nb NOOP\n", "{1}"),
	WROW("unbalanced ) after a literal", "a {1}\r\ny)\r\nb NOOP\r\n",
	    "BAD\nb NOOP\n", "{1}"),
	WROW("8-bit after a literal", "a {1}\r\ny \xc3\xa9\r\nb NOOP\r\n",
	    "BAD\nb NOOP\n", "{1}"),
	WROW("bad announcement after a literal",
	    "a {1}\r\ny {1x}\r\nb NOOP\r\n", "BAD\nb NOOP\n", "{1}"),
};

static void
test_literal_wire(void **state)
{
	size_t bad = 0;
	for (size_t i = 0; i < N_ELEMENTS(wire_rows); i++) {
		const struct wire_row *row = &wire_rows[i];
		if (!check_wire(row->name, row->in, row->len, row->cmds,
		    row->lits, DEF_DATA, DEF_TOKS, DEF_DEPTH))
			bad++;
	}
	if (bad > 0)
		fail_msg("%zu of %zu rows failed", bad, N_ELEMENTS(wire_rows));
}

/* Many literals of every octet in one command, read in pieces: each comes
 * back byte for byte, with the same tokens however the input is cut. */
static void
test_literal_many(void **state)
{
	struct buf in, want, lits;
	uint64_t s = 7;

	buf_init(&in, DEF_DATA);
	buf_init(&want, DEF_DATA);
	buf_init(&lits, DEF_DATA);
	assert_int_equal(buf_adds(&in, "t7 X"), 0);
	assert_int_equal(buf_adds(&want, "t7 X"), 0);
	for (int k = 0; k < 24; k++) {
		char lit[300];
		size_t n = k == 0 ? 256 : next_rand(&s) % 40;
		for (size_t j = 0; j < n; j++)
			lit[j] = (char)(k == 0 ? j : next_rand(&s) % 256);
		bool plus = k % 3 == 1;
		assert_int_equal(buf_addf(&in, " {%zu%s}\r\n", n,
		    plus ? "+" : ""), 0);
		assert_int_equal(buf_add(&in, lit, n), 0);
		assert_int_equal(buf_addf(&lits, "{%zu%s}", n,
		    plus ? "+" : ""), 0);
		assert_int_equal(buf_adds(&want, " {"), 0);
		add_escaped(&want, lit, n);
		assert_int_equal(buf_addc(&want, '}'), 0);
	}
	assert_int_equal(buf_adds(&in, " end\r\n"), 0);
	assert_int_equal(buf_adds(&want, " end\n"), 0);
	assert_true(check_wire("many literals", buf_data(&in), buf_len(&in),
	    buf_data(&want), buf_data(&lits), DEF_DATA, DEF_TOKS, DEF_DEPTH));

	/* The first literal holds all 256 octets, in order. */
	struct wire w;
	wire_init(&w, DEF_DATA, DEF_TOKS, DEF_DEPTH);
	w.keep = true;
	wire_run(&w, buf_data(&in), buf_len(&in), 1, 0);
	assert_int_equal(w.c.n_toks, 2 + 24 + 1);
	const struct imap_tok *t = &w.c.toks[2];
	assert_int_equal(t->type, IMAP_TOK_LITERAL);
	assert_int_equal(t->len, 256);
	const unsigned char *p = (const unsigned char *)imap_tok_data(&w.c, t);
	for (unsigned j = 0; j < 256; j++)
		assert_int_equal(p[j], j);
	assert_int_equal(p[256], 0);
	wire_free(&w);
	buf_free(&in);
	buf_free(&want);
	buf_free(&lits);
}

/* The literal token counts against max_toks, its bytes and NUL against
 * max_data; the session reserves lit_len + 1 before reading. */
static void
test_literal_limits(void **state)
{
	struct imap_cmdbuf c;

	/* "ab\0" is 3 bytes: a literal of 4 and its NUL fill 8 exactly */
	imap_cmdbuf_init(&c, 8, DEF_TOKS, DEF_DEPTH);
	assert_int_equal(feed_str(&c, "ab {4}"), IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "wxyz", 4), 0);
	assert_int_equal(buf_len(&c.data), 8);
	assert_int_equal(feed_str(&c, ""), IMAP_LINE_DONE);
	imap_cmdbuf_reset(&c);
	/* one byte more does not fit */
	assert_int_equal(feed_str(&c, "ab {5}"), IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "vwxyz", 5), ERR_LIMIT);
	imap_cmdbuf_reset(&c);
	/* bytes put without room for the NUL: refused, not overrun */
	assert_int_equal(feed_str(&c, "ab {5}"), IMAP_LINE_LITERAL);
	size_t start = buf_len(&c.data);
	assert_int_equal(buf_add(&c.data, "vwxyz", 5), 0);
	assert_int_equal(imap_cmdbuf_literal(&c, start, 5), ERR_LIMIT);
	imap_cmdbuf_free(&c);

	/* three tokens allowed: the literal is the fourth */
	imap_cmdbuf_init(&c, DEF_DATA, 3, DEF_DEPTH);
	assert_int_equal(feed_str(&c, "a b {1}"), IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "x", 1), 0);
	assert_int_equal(c.n_toks, 3);
	assert_int_equal(feed_str(&c, ""), IMAP_LINE_DONE);
	imap_cmdbuf_reset(&c);
	assert_int_equal(feed_str(&c, "a b c {1}"), IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "x", 1), ERR_LIMIT);
	imap_cmdbuf_free(&c);

	/* depth carries over a literal */
	imap_cmdbuf_init(&c, DEF_DATA, DEF_TOKS, 2);
	assert_int_equal(feed_str(&c, "a ((x {1}"), IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "y", 1), 0);
	assert_int_equal(feed_str(&c, " (z)))"), IMAP_LINE_ERROR);
	imap_cmdbuf_reset(&c);
	assert_int_equal(feed_str(&c, "a ((x {1}"), IMAP_LINE_LITERAL);
	assert_int_equal(put_literal(&c, "y", 1), 0);
	assert_int_equal(feed_str(&c, " z))"), IMAP_LINE_DONE);
	imap_cmdbuf_free(&c);
}

/* ---- reset ---- */

static void
test_cmdbuf_reset(void **state)
{
	struct imap_cmdbuf c;
	struct buf got;
	char line[320];

	buf_init(&got, DEF_DATA);
	imap_cmdbuf_init(&c, 64, 200, 2);

	/* an error leaves tokens and depth behind; reset clears them */
	assert_int_equal(feed_str(&c, "a (b (c"), IMAP_LINE_ERROR);
	assert_true(c.n_toks > 0);
	assert_int_equal(c.depth, 2);
	imap_cmdbuf_reset(&c);
	assert_int_equal(c.n_toks, 0);
	assert_int_equal(c.depth, 0);
	assert_int_equal(buf_len(&c.data), 0);
	assert_false(c.in_literal);
	assert_int_equal(c.data.max, 64);
	assert_int_equal(feed_str(&c, "a ((b))"), IMAP_LINE_DONE);
	imap_cmdbuf_reset(&c);

	/* reset in the middle of a literal: nothing of it remains */
	assert_int_equal(feed_str(&c, "a LOGIN {3}"), IMAP_LINE_LITERAL);
	imap_cmdbuf_reset(&c);
	assert_false(c.in_literal);
	assert_int_equal(feed_str(&c, "b NOOP"), IMAP_LINE_DONE);
	dump(&c, &got);
	assert_string_equal(buf_data(&got), "b NOOP");
	assert_int_equal(c.toks[0].off, 0);
	imap_cmdbuf_reset(&c);

	/* APPEND: the session raises data.max for one command */
	assert_int_equal(feed_str(&c, "a APPEND INBOX {100}"),
	    IMAP_LINE_LITERAL);
	c.data.max = buf_len(&c.data) + 100 + 1 + 64;
	char msg[10000];
	memset(msg, 'm', sizeof(msg));
	assert_int_equal(put_literal(&c, msg, 100), 0);
	assert_int_equal(feed_str(&c, ""), IMAP_LINE_DONE);
	imap_cmdbuf_reset(&c);
	assert_int_equal(c.data.max, 64);
	assert_int_equal(buf_len(&c.data), 0);

	/* a big one: the memory goes back too */
	assert_int_equal(feed_str(&c, "a APPEND INBOX {10000}"),
	    IMAP_LINE_LITERAL);
	c.data.max = buf_len(&c.data) + sizeof(msg) + 1 + 64;
	assert_int_equal(put_literal(&c, msg, sizeof(msg)), 0);
	assert_int_equal(feed_str(&c, " (x)"), IMAP_LINE_DONE);
	assert_true(c.data.cap > 8192);
	imap_cmdbuf_reset(&c);
	assert_int_equal(c.data.max, 64);
	assert_true(c.data.cap <= 8192);
	assert_int_equal(buf_len(&c.data), 0);
	assert_int_equal(c.n_toks, 0);

	/* and the limit holds again: 63 octets and a NUL, not 64 */
	memset(line, 'x', 64);
	assert_int_equal(feed_line(&c, line, 63, &(uint64_t){ 0 },
	    &(bool){ false }, &(const char *){ NULL }), IMAP_LINE_DONE);
	imap_cmdbuf_reset(&c);
	assert_int_equal(feed_line(&c, line, 64, &(uint64_t){ 0 },
	    &(bool){ false }, &(const char *){ NULL }), IMAP_LINE_ERROR);
	imap_cmdbuf_reset(&c);
	/* as do max_depth ... */
	assert_int_equal(feed_str(&c, "a (((b)))"), IMAP_LINE_ERROR);
	imap_cmdbuf_free(&c);

	/* ... and max_toks, after a token array that grew past 64 */
	imap_cmdbuf_init(&c, DEF_DATA, 150, 2);
	for (size_t k = 0; k < 150; k++) {
		line[2 * k] = 'x';
		line[2 * k + 1] = ' ';
	}
	assert_int_equal(feed_line(&c, line, 299, &(uint64_t){ 0 },
	    &(bool){ false }, &(const char *){ NULL }), IMAP_LINE_DONE);
	assert_int_equal(c.n_toks, 150);
	assert_true(c.cap_toks > 64);
	imap_cmdbuf_reset(&c);
	assert_int_equal(c.n_toks, 0);
	assert_true(c.cap_toks <= 64);
	assert_int_equal(feed_line(&c, line, 299, &(uint64_t){ 0 },
	    &(bool){ false }, &(const char *){ NULL }), IMAP_LINE_DONE);
	imap_cmdbuf_reset(&c);
	line[300] = 'y';	/* the 151st token */
	assert_int_equal(feed_line(&c, line, 301, &(uint64_t){ 0 },
	    &(bool){ false }, &(const char *){ NULL }), IMAP_LINE_ERROR);
	imap_cmdbuf_reset(&c);
	assert_int_equal(feed_str(&c, "b NOOP"), IMAP_LINE_DONE);
	assert_int_equal(c.n_toks, 2);
	imap_cmdbuf_free(&c);
	/* free twice is harmless, and leaves nothing behind */
	imap_cmdbuf_free(&c);
	assert_null(c.toks);
	assert_int_equal(c.n_toks, 0);
	buf_free(&got);
}

/* ---- argument readers ---- */

/* assemble - one whole command, lines and literals, kept assembled. */
static void
assemble(struct wire *w, const char *in, size_t len)
{
	wire_init(w, DEF_DATA, DEF_TOKS, DEF_DEPTH);
	w->keep = true;
	wire_run(w, in, len, 0, 0);
	assert_false(w->in_lit);
	assert_int_equal(buf_len(&w->line), 0);
	/* exactly one command, and complete */
	const char *nl = strchr(buf_data(&w->cmds), '\n');
	assert_non_null(nl);
	assert_int_equal(nl + 1 - buf_data(&w->cmds), buf_len(&w->cmds));
}

/* The readers, for refuse(). */
#define R_ATOM 0x01
#define R_ASTRING 0x02
#define R_NSTRING 0x04
#define R_STRING 0x08
#define R_LITERAL 0x10
#define R_LPAREN 0x20
#define R_RPAREN 0x40
#define R_ALL 0x7f

/* refuse - each reader in the mask refuses the next token, consuming
 * nothing and leaving the outputs alone. */
static void
refuse(struct imap_args *a, unsigned mask)
{
	size_t i = a->i;
	const char *p = "untouched";
	size_t len = 4242;

	if (mask & R_ATOM)
		assert_int_equal(imap_arg_atom(a, &p, &len), 0);
	if (mask & R_ASTRING)
		assert_int_equal(imap_arg_astring(a, &p, &len), 0);
	if (mask & R_NSTRING)
		assert_int_equal(imap_arg_nstring(a, &p, &len), 0);
	if (mask & R_STRING)
		assert_int_equal(imap_arg_string(a, &p, &len), 0);
	if (mask & R_LITERAL)
		assert_int_equal(imap_arg_literal(a, &p, &len), 0);
	if (mask & R_LPAREN)
		assert_int_equal(imap_arg_lparen(a), 0);
	if (mask & R_RPAREN)
		assert_int_equal(imap_arg_rparen(a), 0);
	assert_int_equal(a->i, i);
	assert_string_equal(p, "untouched");
	assert_int_equal(len, 4242);
}

/* expect - a reader's result and value; the value is read through
 * pointers, after the call (argument order is unspecified). */
static void
expect(int r, const char *const *pp, const size_t *lenp, const char *want,
       size_t want_len)
{
	const char *p = *pp;
	size_t len = *lenp;

	assert_int_equal(r, 1);
	assert_non_null(p);
	assert_int_equal(len, want_len);
	assert_memory_equal(p, want, want_len);
	assert_int_equal(p[len], '\0');
}

static void
test_args(void **state)
{
	static const char in[] = "t1 FETCH 1:3 (FLAGS "
	    "BODY.PEEK[HEADER.FIELDS (From To)] (X (Y Z) ()) \"q s\" {3}\r\n"
	    "l\0t NIL nil \"NIL\" {3+}\r\nNIL)\r\n";
	struct wire w;
	const char *p;
	size_t len;

	assemble(&w, in, sizeof(in) - 1);
	struct imap_args a = { &w.c, 0 };

	assert_non_null(imap_arg_peek(&a));
	assert_int_equal(imap_arg_peek(&a)->type, IMAP_TOK_ATOM);
	assert_false(imap_arg_end(&a));
	refuse(&a, R_STRING | R_LITERAL | R_LPAREN | R_RPAREN);
	expect(imap_arg_atom(&a, &p, &len), &p, &len, "t1", 2);
	expect(imap_arg_atom(&a, &p, &len), &p, &len, "FETCH", 5);
	assert_true(imap_atom_is(p, len, "fetch"));
	expect(imap_arg_astring(&a, &p, &len), &p, &len, "1:3", 3);
	refuse(&a, R_ALL & ~R_LPAREN);
	assert_int_equal(imap_arg_lparen(&a), 1);
	expect(imap_arg_nstring(&a, &p, &len), &p, &len, "FLAGS", 5);
	expect(imap_arg_atom(&a, &p, &len), &p, &len,
	    "BODY.PEEK[HEADER.FIELDS (From To)]", 34);
	/* a whole nested list in one skip */
	assert_int_equal(imap_arg_peek(&a)->type, IMAP_TOK_LPAREN);
	imap_arg_skip(&a);
	refuse(&a, R_ATOM | R_LITERAL | R_LPAREN | R_RPAREN);
	expect(imap_arg_string(&a, &p, &len), &p, &len, "q s", 3);
	/* literals are strings, NUL included */
	refuse(&a, R_ATOM | R_LPAREN | R_RPAREN);
	expect(imap_arg_literal(&a, &p, &len), &p, &len, "l\0t", 3);
	/* NIL in any case is nil; as a string it is the word */
	p = "x";
	len = 9;
	assert_int_equal(imap_arg_nstring(&a, &p, &len), 1);
	assert_null(p);
	assert_int_equal(len, 0);
	p = "x";
	assert_int_equal(imap_arg_nstring(&a, &p, &len), 1);
	assert_null(p);
	expect(imap_arg_nstring(&a, &p, &len), &p, &len, "NIL", 3);
	assert_int_equal(imap_arg_peek(&a)->type, IMAP_TOK_LITERAL);
	expect(imap_arg_nstring(&a, &p, &len), &p, &len, "NIL", 3);
	refuse(&a, R_ALL & ~R_RPAREN);
	assert_int_equal(imap_arg_rparen(&a), 1);
	/* the end: nothing matches, skip does nothing */
	assert_true(imap_arg_end(&a));
	assert_null(imap_arg_peek(&a));
	refuse(&a, R_ALL);
	imap_arg_skip(&a);
	assert_int_equal(a.i, w.c.n_toks);

	/* again, the same tokens through the other readers */
	a.i = 0;
	expect(imap_arg_astring(&a, &p, &len), &p, &len, "t1", 2);
	a.i = 3;
	imap_arg_skip(&a);	/* the whole outer list */
	assert_true(imap_arg_end(&a));
	a.i = 5;
	imap_arg_skip(&a);	/* one atom */
	assert_int_equal(a.i, 6);
	imap_arg_skip(&a);	/* "(X (Y Z) ())" */
	expect(imap_arg_astring(&a, &p, &len), &p, &len, "q s", 3);
	expect(imap_arg_astring(&a, &p, &len), &p, &len, "l\0t", 3);
	expect(imap_arg_astring(&a, &p, &len), &p, &len, "NIL", 3);
	a.i = 6;
	assert_int_equal(imap_arg_lparen(&a), 1);
	expect(imap_arg_atom(&a, &p, &len), &p, &len, "X", 1);
	imap_arg_skip(&a);	/* "(Y Z)" */
	assert_int_equal(imap_arg_lparen(&a), 1);
	imap_arg_skip(&a);	/* a ')' is one token */
	assert_int_equal(imap_arg_rparen(&a), 1);
	expect(imap_arg_string(&a, &p, &len), &p, &len, "q s", 3);
	wire_free(&w);
}

/* The same password as an atom, a quoted string or a literal. */
static void
test_args_forms(void **state)
{
	static const struct {
		const char *in;
		size_t len;
	} rows[] = {
		{ "a LOGIN bob s3cr3t!\r\n", 21 },
		{ "a LOGIN \"bob\" \"s3cr3t!\"\r\n", 25 },
		{ "a LOGIN {3}\r\nbob {7}\r\ns3cr3t!\r\n", 31 },
		{ "a LOGIN {3+}\r\nbob \"s3cr3t!\"\r\n", 29 },
	};
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct wire w;
		const char *p;
		size_t len;
		assert_int_equal(strlen(rows[i].in), rows[i].len);
		assemble(&w, rows[i].in, rows[i].len);
		struct imap_args a = { &w.c, 0 };
		expect(imap_arg_atom(&a, &p, &len), &p, &len, "a", 1);
		expect(imap_arg_atom(&a, &p, &len), &p, &len, "LOGIN", 5);
		expect(imap_arg_astring(&a, &p, &len), &p, &len, "bob", 3);
		expect(imap_arg_astring(&a, &p, &len), &p, &len, "s3cr3t!", 7);
		assert_true(imap_arg_end(&a));
		wire_free(&w);
	}
}

static void
test_atom_is(void **state)
{
	assert_true(imap_atom_is("NIL", 3, "nil"));
	assert_true(imap_atom_is("nIl", 3, "NIL"));
	assert_true(imap_atom_is("NILX", 3, "NIL"));
	assert_false(imap_atom_is("NILX", 4, "NIL"));
	assert_false(imap_atom_is("NI", 2, "NIL"));
	assert_true(imap_atom_is("", 0, ""));
	assert_false(imap_atom_is("a", 1, ""));
	assert_true(imap_atom_is("UID", 3, "uid"));
	assert_false(imap_atom_is("UIDS", 4, "uid"));
}

/* ---- sequence sets ---- */

#define S IMAP_STAR

struct seq_ok {
	const char *set;
	size_t n;
	struct imap_range r[4];
};

static const struct seq_ok seq_ok_rows[] = {
	{ "1", 1, { { 1, 1 } } },
	{ "1:5", 1, { { 1, 5 } } },
	{ "5:1", 1, { { 5, 1 } } },
	{ "*", 1, { { S, S } } },
	{ "1:*", 1, { { 1, S } } },
	{ "*:1", 1, { { S, 1 } } },
	{ "*:*", 1, { { S, S } } },
	{ "1,3,5:7", 3, { { 1, 1 }, { 3, 3 }, { 5, 7 } } },
	{ "4294967295", 1, { { 4294967295LL, 4294967295LL } } },
	{ "1:4294967295", 1, { { 1, 4294967295LL } } },
	{ "2,2", 2, { { 2, 2 }, { 2, 2 } } },
	{ "10:20,30,*", 3, { { 10, 20 }, { 30, 30 }, { S, S } } },
	{ "100000,9", 2, { { 100000, 100000 }, { 9, 9 } } },
	{ "1:2,3:*,*:4,5", 4, { { 1, 2 }, { 3, S }, { S, 4 }, { 5, 5 } } },
};

static void
test_seqset_valid(void **state)
{
	struct imap_seqset s = { 0 };

	/* one set parsed into again and again */
	for (size_t i = 0; i < N_ELEMENTS(seq_ok_rows); i++) {
		const struct seq_ok *row = &seq_ok_rows[i];
		int r = imap_seqset_parse(row->set, strlen(row->set), 100, &s);
		if (r != 0)
			fail_msg("row %zu [%s]: got %d", i, row->set, r);
		if (s.n != row->n)
			fail_msg("row %zu [%s]: %zu ranges, want %zu", i,
			    row->set, s.n, row->n);
		for (size_t k = 0; k < s.n; k++)
			if (s.r[k].lo != row->r[k].lo ||
			    s.r[k].hi != row->r[k].hi)
				fail_msg("row %zu [%s] range %zu: %lld:%lld", i,
				    row->set, k, (long long)s.r[k].lo,
				    (long long)s.r[k].hi);
	}
	/* the length bounds the set */
	assert_int_equal(imap_seqset_parse("1,2", 1, 100, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(imap_seqset_parse("1:5junk", 3, 100, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.r[0].hi, 5);
	imap_seqset_free(&s);
	assert_null(s.r);
	assert_int_equal(s.n, 0);
	imap_seqset_free(&s);
}

static void
test_seqset_invalid(void **state)
{
	static const struct {
		const char *set;
		size_t len;		/* 0: strlen */
	} rows[] = {
		{ "0", 0 }, { "1:0", 0 }, { "0:1", 0 }, { "", 0 }, { "1,", 0 },
		{ ",1", 0 }, { "a", 0 }, { "1::2", 0 }, { "4294967296", 0 },
		{ "-1", 0 }, { "1:", 0 }, { ":1", 0 }, { ":", 0 }, { ",", 0 },
		{ "01", 0 }, { "1,,2", 0 }, { "**", 0 }, { "1:*:2", 0 },
		{ "1:2:3", 0 }, { "1 ", 0 }, { " 1", 0 }, { "1.5", 0 },
		{ "+1", 0 }, { "$", 0 }, { "*1", 0 }, { "1*", 0 }, { "1,0", 0 },
		{ "4294967296:1", 0 }, { "1:4294967296", 0 },
		{ "99999999999999999999999", 0 }, { "18446744073709551617", 0 },
		{ "1;2", 0 }, { "1\0", 2 }, { "1:5,a", 0 }, { "1,2,3,", 0 },
	};
	struct imap_seqset s = { 0 };

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].set);
		int r = imap_seqset_parse(rows[i].set, len, 100, &s);
		if (r != ERR_PROTO)
			fail_msg("row %zu [%s]: got %d, want ERR_PROTO", i,
			    escaped(rows[i].set, len), r);
	}
	imap_seqset_free(&s);
}

static void
test_seqset_limit(void **state)
{
	static const struct {
		const char *set;
		size_t max;
		int ret;
	} rows[] = {
		{ "1,2,3", 3, 0 },
		{ "1,2,3", 2, ERR_LIMIT },
		{ "1", 1, 0 },
		{ "1", 0, ERR_LIMIT },
		{ "1:5", 1, 0 },
		{ "1:5,7", 1, ERR_LIMIT },
		{ "1,2,a", 2, ERR_PROTO },
		{ "1,2,3,a", 2, ERR_LIMIT },
	};
	struct imap_seqset s = { 0 };
	char set[1024];
	size_t o = 0;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		int r = imap_seqset_parse(rows[i].set, strlen(rows[i].set),
		    rows[i].max, &s);
		if (r != rows[i].ret)
			fail_msg("row %zu [%s] max %zu: got %d want %d", i,
			    rows[i].set, rows[i].max, r, rows[i].ret);
		imap_seqset_free(&s);
	}
	/* past the first allocation */
	for (int k = 1; k <= 100; k++)
		o += (size_t)snprintf(set + o, sizeof(set) - o, "%s%d:%d",
		    k > 1 ? "," : "", 10 * k, 10 * k + 5);
	assert_int_equal(imap_seqset_parse(set, o, 100, &s), 0);
	assert_int_equal(s.n, 100);
	assert_int_equal(s.r[99].lo, 1000);
	assert_int_equal(s.r[99].hi, 1005);
	assert_int_equal(imap_seqset_parse(set, o, 99, &s), ERR_LIMIT);
	imap_seqset_free(&s);
}

static void
test_seqset_range_get(void **state)
{
	static const struct {
		int64_t lo, hi;
		uint32_t star, want_lo, want_hi;
	} rows[] = {
		{ 1, 5, 10, 1, 5 },
		{ 5, 1, 10, 1, 5 },
		{ 3, 3, 10, 3, 3 },
		{ S, 3, 10, 3, 10 },
		{ 3, S, 10, 3, 10 },
		{ S, 3, 2, 2, 3 },
		{ 3, S, 2, 2, 3 },
		{ S, S, 7, 7, 7 },
		{ 1, S, 0, 0, 1 },
		{ 4294967295LL, 1, 9, 1, 4294967295U },
		{ S, 1, 4294967295U, 1, 4294967295U },
	};
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_range r = { rows[i].lo, rows[i].hi };
		uint32_t lo = 0xdead, hi = 0xbeef;
		imap_range_get(&r, rows[i].star, &lo, &hi);
		if (lo != rows[i].want_lo || hi != rows[i].want_hi)
			fail_msg("row %zu: %u:%u want %u:%u", i, lo, hi,
			    rows[i].want_lo, rows[i].want_hi);
	}
}

static void
test_seqset_has(void **state)
{
	static const struct {
		const char *set;
		uint32_t star;
		const char *in;		/* members among 0..20 */
	} rows[] = {
		{ "1:3,7,9:*", 12, "1 2 3 7 9 10 11 12" },
		{ "1:3,7,9:*", 5, "1 2 3 5 6 7 8 9" },
		{ "*", 12, "12" },
		{ "*", 1, "1" },
		{ "*:15", 12, "12 13 14 15" },
		{ "5:1", 12, "1 2 3 4 5" },
		{ "20,1", 3, "1 20" },
		{ "4294967295", 20, "" },
		{ "2:4294967295", 20, "2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 "
		    "18 19 20" },
	};
	struct imap_seqset s = { 0 };

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		assert_int_equal(imap_seqset_parse(rows[i].set,
		    strlen(rows[i].set), 10, &s), 0);
		char got[128];
		size_t o = 0;
		got[0] = '\0';
		for (uint32_t v = 0; v <= 20; v++)
			if (imap_seqset_has(&s, v, rows[i].star))
				o += (size_t)snprintf(got + o, sizeof(got) - o,
				    "%s%u", o ? " " : "", v);
		if (strcmp(got, rows[i].in) != 0)
			fail_msg("row %zu [%s] star %u: [%s] want [%s]", i,
			    rows[i].set, rows[i].star, got, rows[i].in);
	}
	assert_int_equal(imap_seqset_parse("4294967295", 10, 10, &s), 0);
	assert_true(imap_seqset_has(&s, 4294967295U, 3));
	assert_false(imap_seqset_has(&s, 4294967294U, 3));
	imap_seqset_free(&s);
	/* an empty set has nothing */
	assert_false(imap_seqset_has(&s, 1, 1));
}

static void
test_seqset_print(void **state)
{
	static const struct {
		uint32_t v[8];
		size_t n;
		const char *want;
	} rows[] = {
		{ { 1, 2, 3, 7, 9, 10 }, 6, "1:3,7,9:10" },
		{ { 0 }, 0, "" },
		{ { 5 }, 1, "5" },
		{ { 1, 3 }, 2, "1,3" },
		{ { 1, 2 }, 2, "1:2" },
		{ { 1, 2, 3, 4, 5, 6, 7, 8 }, 8, "1:8" },
		{ { 1, 3, 5, 7 }, 4, "1,3,5,7" },
		{ { 4294967294U, 4294967295U }, 2, "4294967294:4294967295" },
		{ { 2, 3, 4294967295U }, 3, "2:3,4294967295" },
	};
	struct imap_seqset s = { 0 };

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct buf b;
		buf_init(&b, 256);
		assert_int_equal(imap_seqset_print(rows[i].v, rows[i].n, &b),
		    0);
		if (strcmp(buf_data(&b), rows[i].want) != 0)
			fail_msg("row %zu: [%s] want [%s]", i, buf_data(&b),
			    rows[i].want);
		/* what is printed parses back to the same members */
		if (rows[i].n == 0) {
			buf_free(&b);
			continue;
		}
		assert_int_equal(imap_seqset_parse(buf_data(&b), buf_len(&b),
		    100, &s), 0);
		for (uint32_t x = 0; x <= 12; x++) {
			bool member = false;
			for (size_t k = 0; k < rows[i].n; k++)
				member = member || rows[i].v[k] == x;
			assert_int_equal(imap_seqset_has(&s, x, 1), member);
		}
		for (size_t k = 0; k < rows[i].n; k++)
			assert_true(imap_seqset_has(&s, rows[i].v[k], 1));
		buf_free(&b);
	}
	imap_seqset_free(&s);

	/* it appends, and stops at the buffer's maximum */
	static const uint32_t v[] = { 1, 2, 3, 7, 9, 10 };
	struct buf b;
	buf_init(&b, 256);
	assert_int_equal(buf_adds(&b, "* OK [COPYUID 1 "), 0);
	assert_int_equal(imap_seqset_print(v, 6, &b), 0);
	assert_string_equal(buf_data(&b), "* OK [COPYUID 1 1:3,7,9:10");
	buf_free(&b);
	buf_init(&b, 5);
	assert_int_equal(imap_seqset_print(v, 6, &b), ERR_LIMIT);
	assert_true(buf_len(&b) <= 5);
	buf_free(&b);
}

/* ---- modified UTF-7 ---- */

struct utf7_pair {
	const char *utf8;
	const char *wire;
};

static const struct utf7_pair utf7_rows[] = {
	{ "INBOX", "INBOX" },
	{ "", "" },
	{ "&", "&-" },
	{ "a&b", "a&-b" },
	{ "&&", "&-&-" },
	{ "a-b", "a-b" },
	{ "-", "-" },
	/* RFC 3501 5.1.3 */
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-" },
	/* French folder names */
	{ "Compte-rendus \xc3\xa9" "chographie",
	    "Compte-rendus &AOk-chographie" },
	{ "\xc3\x89l\xc3\xa9ments envoy\xc3\xa9s",
	    "&AMk-l&AOk-ments envoy&AOk-s" },
	{ "\xc3\x89l\xc3\xa9ments supprim\xc3\xa9s",
	    "&AMk-l&AOk-ments supprim&AOk-s" },
	{ "Courrier ind\xc3\xa9sirable", "Courrier ind&AOk-sirable" },
	{ "R\xc3\xa9sultats d'analyses", "R&AOk-sultats d'analyses" },
	{ "Ordonnances/Dr M\xc3\xbcller", "Ordonnances/Dr M&APw-ller" },
	{ "\xc3\xa9&", "&AOk-&-" },
	{ "&\xc3\xa9", "&-&AOk-" },
	{ "\xe2\x82\xac", "&IKw-" },
	{ "\xce\xa9", "&A6k-" },
	{ "\xc3\xa9\xc3\xa9", "&AOkA6Q-" },
	/* astral characters: surrogate pairs */
	{ "\xf0\x9f\x98\x80", "&2D3eAA-" },
	{ "\xf0\x9d\x84\x9e music", "&2DTdHg- music" },
	{ "\xc3\xbc\xf0\x9f\x98\x80x", "&APzYPd4A-x" },
	{ "\xf0\x90\x80\x80", "&2ADcAA-" },
	{ "\xf4\x8f\xbf\xbf", "&2,,f,w-" },
};

static int
utf7(bool enc, const char *in, size_t len, struct buf *out)
{
	char *copy = dup_exact(in, len);
	buf_init(out, 1 << 16);
	int r = enc ? imap_utf7_encode(copy, len, out) :
	    imap_utf7_decode(copy, len, out);
	free(copy);
	return r;
}

static void
test_utf7_pairs(void **state)
{
	size_t bad = 0;
	for (size_t i = 0; i < N_ELEMENTS(utf7_rows); i++) {
		const struct utf7_pair *row = &utf7_rows[i];
		struct buf d, e;
		int rd = utf7(false, row->wire, strlen(row->wire), &d);
		int re = utf7(true, row->utf8, strlen(row->utf8), &e);
		if (rd != 0 || strcmp(buf_data(&d), row->utf8) != 0 ||
		    buf_len(&d) != strlen(row->utf8)) {
			print_error("row %zu: decode [%s] gave %d [%s]\n", i,
			    row->wire, rd, escaped(buf_data(&d),
			    buf_len(&d)));
			bad++;
		} else if (re != 0 || strcmp(buf_data(&e), row->wire) != 0) {
			print_error("row %zu: encode gave %d [%s] want [%s]\n",
			    i, re, buf_data(&e), row->wire);
			bad++;
		}
		buf_free(&d);
		buf_free(&e);
	}
	if (bad > 0)
		fail_msg("%zu of %zu rows failed", bad, N_ELEMENTS(utf7_rows));
}

/* check_round_trip - decode(encode(s)) is s, and encoding that is stable;
 * the wire form is printable ASCII. */
static bool
check_round_trip(const char *s, size_t len)
{
	struct buf e, d, e2;
	bool ok = true;
	int r1 = utf7(true, s, len, &e);
	int r2 = utf7(false, buf_data(&e), buf_len(&e), &d);
	int r3 = utf7(true, buf_data(&d), buf_len(&d), &e2);
	if (r1 != 0 || r2 != 0 || r3 != 0 || buf_len(&d) != len ||
	    memcmp(buf_data(&d), s, len) != 0 ||
	    strcmp(buf_data(&e), buf_data(&e2)) != 0) {
		print_error("[%s]: %d %d %d, wire [%s]\n", escaped(s, len),
		    r1, r2, r3, buf_data(&e));
		ok = false;
	}
	for (size_t i = 0; ok && i < buf_len(&e); i++)
		if (buf_data(&e)[i] < 0x20 || buf_data(&e)[i] > 0x7e) {
			print_error("[%s]: wire form not printable\n",
			    escaped(s, len));
			ok = false;
		}
	buf_free(&e);
	buf_free(&d);
	buf_free(&e2);
	return ok;
}

static size_t
put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static void
test_utf7_round_trip(void **state)
{
	static const uint32_t cps[] = {
		0x01, 0x1f, 0x7f, 0x80, 0xa0, 0xe9, 0xff, 0x100, 0x7ff, 0x800,
		0x4e2d, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600,
		0x10ffff,
	};
	static const char *const ascii[] = { "", "a", "&", "-", "&-", " " };
	size_t bad = 0;

	for (size_t i = 0; i < N_ELEMENTS(utf7_rows); i++)
		if (!check_round_trip(utf7_rows[i].utf8,
		    strlen(utf7_rows[i].utf8)))
			bad++;
	/* every sample code point alone, between ASCII, and in pairs */
	for (size_t i = 0; i < N_ELEMENTS(cps); i++) {
		for (size_t j = 0; j < N_ELEMENTS(ascii); j++) {
			for (size_t k = 0; k < N_ELEMENTS(cps); k++) {
				char s[32];
				size_t n = 0;
				n += put_utf8(s + n, cps[i]);
				memcpy(s + n, ascii[j], strlen(ascii[j]));
				n += strlen(ascii[j]);
				n += put_utf8(s + n, cps[k]);
				if (!check_round_trip(s, n))
					bad++;
			}
		}
	}
	/* the wire forms decode to names that encode to them again */
	for (size_t i = 0; i < N_ELEMENTS(utf7_rows); i++) {
		struct buf d, e;
		const char *w = utf7_rows[i].wire;
		assert_int_equal(utf7(false, w, strlen(w), &d), 0);
		assert_int_equal(utf7(true, buf_data(&d), buf_len(&d), &e), 0);
		assert_string_equal(buf_data(&e), w);
		buf_free(&d);
		buf_free(&e);
	}
	if (bad > 0)
		fail_msg("%zu round trips failed", bad);
}

/* long_name - n characters then "x": all U+00E9, or U+00E9 and U+1F600
 * in turn (surrogate pairs). The caller frees it. */
static char *
long_name(size_t n, bool astral, size_t *len_r)
{
	char *s = malloc(4 * n + 2);
	size_t len = 0;
	assert_non_null(s);
	for (size_t k = 0; k < n; k++)
		len += put_utf8(s + len, astral && k % 2 ? 0x1f600 : 0xe9);
	s[len++] = 'x';
	*len_r = len;
	return s;
}

/* Long names: round trips, and one base64 run however many characters
 * (RFC 3501 5.1.3: null shifts "-&" are not permitted). */
static void
test_utf7_long(void **state)
{
	static const size_t counts[] = { 1, 255, 511, 512, 513, 600, 1500 };
	size_t bad = 0;

	for (size_t i = 0; i < N_ELEMENTS(counts); i++) {
		size_t n = counts[i], len;
		char *s = long_name(n, true, &len);
		if (!check_round_trip(s, len))
			bad++;
		free(s);
		s = long_name(n, false, &len);
		if (!check_round_trip(s, len))
			bad++;
		struct buf e;
		assert_int_equal(utf7(true, s, len, &e), 0);
		const char *w = buf_data(&e);
		size_t runs = 0;
		for (size_t k = 0; k < buf_len(&e); k++)
			if (w[k] == '&')
				runs++;
		if (runs != 1 || strstr(w, "-&") != NULL) {
			print_error("%zu x U+00E9: %zu base64 runs\n", n, runs);
			bad++;
		}
		buf_free(&e);
		free(s);
	}
	if (bad > 0)
		fail_msg("%zu long names failed", bad);
}

static void
test_utf7_decode_invalid(void **state)
{
	static const struct {
		const char *wire;
		size_t len;		/* 0: strlen */
		const char *why;
	} rows[] = {
		{ "caf\xc3\xa9", 0, "raw 8-bit" },
		{ "\x80", 0, "raw 8-bit" },
		{ "&AOk\xff-", 0, "8-bit in a run" },
		{ "a\tb", 0, "control octet" },
		{ "a\x7f", 0, "DEL" },
		{ "a\0b", 3, "NUL" },
		{ "&", 0, "unterminated" },
		{ "a&", 0, "unterminated" },
		{ "&AOk", 0, "unterminated run" },
		{ "&U,BTFw", 0, "unterminated run" },
		{ "&-&", 0, "unterminated" },
		{ "&AOk-&", 0, "unterminated" },
		{ "&AGE-", 0, "encodes 'a'" },
		{ "&ACY-", 0, "encodes '&'" },
		{ "&AC0-", 0, "encodes '-'" },
		{ "&ACA-", 0, "encodes ' '" },
		{ "&AH4-", 0, "encodes '~'" },
		{ "&AOkAYQ-", 0, "encodes 'a' after e-acute" },
		{ "&AO!-", 0, "bad base64" },
		{ "&AO/-", 0, "'/' of standard base64" },
		{ "&AO=-", 0, "padding" },
		{ "&AOk=-", 0, "padding" },
		{ "&AO k-", 0, "space in a run" },
		{ "&&-", 0, "'&' in a run" },
		{ "&AOl-", 0, "non-zero padding bits" },
		{ "&AOn-", 0, "non-zero padding bits" },
		{ "&AOkA6R-", 0, "non-zero padding bits" },
		{ "&A-", 0, "no 16-bit unit" },
		{ "&AA-", 0, "no 16-bit unit" },
		{ "&AOkA-", 0, "extra base64 character" },
		{ "&AOkA6QA-", 0, "extra base64 character" },
		{ "&2D0-", 0, "lone high surrogate" },
		{ "&3gA-", 0, "lone low surrogate" },
		{ "&2D0A6Q-", 0, "high surrogate then e-acute" },
		{ "&2D3YPQ-", 0, "two high surrogates" },
		{ "&2D0-&3gA-", 0, "a pair split over two runs" },
		{ "&AOk-&AOk-", 0, "null shift (RFC 3501 5.1.3)" },
	};
	size_t bad = 0;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].wire);
		struct buf d;
		int r = utf7(false, rows[i].wire, len, &d);
		if (r != ERR_PROTO) {
			print_error("row %zu [%s] (%s): got %d [%s], want "
			    "ERR_PROTO\n", i, escaped(rows[i].wire, len),
			    rows[i].why, r, buf_data(&d));
			bad++;
		}
		buf_free(&d);
	}
	if (bad > 0)
		fail_msg("%zu of %zu rows failed", bad, N_ELEMENTS(rows));
}

static void
test_utf7_encode_invalid(void **state)
{
	static const struct {
		const char *utf8;
		const char *why;
	} rows[] = {
		{ "\xff", "not UTF-8" },
		{ "\xfe", "not UTF-8" },
		{ "\x80", "lone continuation" },
		{ "a\xbf", "lone continuation" },
		{ "\xc3", "truncated" },
		{ "\xe2\x82", "truncated" },
		{ "\xf0\x9f\x98", "truncated" },
		{ "abc\xe2\x82\xac\xe2", "truncated at the end" },
		{ "\xc3(", "bad continuation" },
		{ "\xe2(\xac", "bad continuation" },
		{ "\xc3\xc3", "bad continuation" },
		{ "Dossier\xe9", "Latin-1" },
		{ "\xc0\xaf", "overlong '/'" },
		{ "\xc1\xbf", "overlong" },
		{ "\xe0\x80\xaf", "overlong '/' in 3 octets" },
		{ "\xe0\x9f\xbf", "overlong U+07FF" },
		{ "\xf0\x80\x80\xaf", "overlong '/' in 4 octets" },
		{ "\xf0\x8f\xbf\xbf", "overlong U+FFFF" },
		{ "\xed\xa0\x80", "surrogate U+D800" },
		{ "\xed\xbf\xbf", "surrogate U+DFFF" },
		{ "\xed\xa0\xbd\xed\xb8\x80", "CESU-8 pair" },
		{ "\xf4\x90\x80\x80", "beyond U+10FFFF" },
		{ "\xf5\x80\x80\x80", "beyond U+10FFFF" },
		{ "\xf8\x88\x80\x80\x80", "5 octets" },
	};
	size_t bad = 0;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t len = strlen(rows[i].utf8);
		struct buf e;
		int r = utf7(true, rows[i].utf8, len, &e);
		if (r != ERR_PROTO) {
			print_error("row %zu [%s] (%s): got %d [%s], want "
			    "ERR_PROTO\n", i, escaped(rows[i].utf8, len),
			    rows[i].why, r, buf_data(&e));
			bad++;
		}
		buf_free(&e);
	}
	if (bad > 0)
		fail_msg("%zu of %zu rows failed", bad, N_ELEMENTS(rows));
}

static void
test_utf7_bounds(void **state)
{
	struct buf b;

	/* the length bounds the input */
	assert_int_equal(utf7(false, "&AOk-xyz", 5, &b), 0);
	assert_string_equal(buf_data(&b), "\xc3\xa9");
	buf_free(&b);
	assert_int_equal(utf7(true, "\xc3\xa9\xc3\xa9", 2, &b), 0);
	assert_string_equal(buf_data(&b), "&AOk-");
	buf_free(&b);
	assert_int_equal(utf7(true, "\xc3\xa9", 1, &b), ERR_PROTO);
	buf_free(&b);

	/* output past the buffer's maximum is ERR_LIMIT */
	buf_init(&b, 3);
	assert_int_equal(imap_utf7_decode("abcd", 4, &b), ERR_LIMIT);
	assert_true(buf_len(&b) <= 3);
	buf_free(&b);
	buf_init(&b, 3);
	assert_int_equal(imap_utf7_decode("&ZeVnLIqe-", 10, &b), ERR_LIMIT);
	buf_free(&b);
	buf_init(&b, 4);
	assert_int_equal(imap_utf7_encode("\xc3\xa9", 2, &b), ERR_LIMIT);
	buf_free(&b);
	buf_init(&b, 5);
	assert_int_equal(imap_utf7_encode("\xc3\xa9", 2, &b), 0);
	assert_string_equal(buf_data(&b), "&AOk-");
	buf_free(&b);

	/* every maximum short of the output is refused, not overrun */
	for (size_t i = 0; i < N_ELEMENTS(utf7_rows); i++) {
		const char *u = utf7_rows[i].utf8, *w = utf7_rows[i].wire;
		for (size_t max = 0; max <= strlen(u); max++) {
			buf_init(&b, max);
			int r = imap_utf7_decode(w, strlen(w), &b);
			assert_int_equal(r, max < strlen(u) ? ERR_LIMIT : 0);
			assert_true(buf_len(&b) <= max);
			buf_free(&b);
		}
		for (size_t max = 0; max <= strlen(w); max++) {
			buf_init(&b, max);
			int r = imap_utf7_encode(u, strlen(u), &b);
			assert_int_equal(r, max < strlen(w) ? ERR_LIMIT : 0);
			assert_true(buf_len(&b) <= max);
			buf_free(&b);
		}
	}

	/* both append to what is there */
	buf_init(&b, 64);
	assert_int_equal(buf_adds(&b, "INBOX/"), 0);
	assert_int_equal(imap_utf7_decode("&AOk-", 5, &b), 0);
	assert_int_equal(imap_utf7_encode("\xc3\xa9", 2, &b), 0);
	assert_string_equal(buf_data(&b), "INBOX/\xc3\xa9&AOk-");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_valid),
		cmocka_unit_test(test_line_pipelined),
		cmocka_unit_test(test_line_invalid),
		cmocka_unit_test(test_literal_announce),
		cmocka_unit_test(test_literal_missing),
		cmocka_unit_test(test_literal_assembly),
		cmocka_unit_test(test_literal_wire),
		cmocka_unit_test(test_literal_many),
		cmocka_unit_test(test_literal_limits),
		cmocka_unit_test(test_cmdbuf_reset),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_args_forms),
		cmocka_unit_test(test_atom_is),
		cmocka_unit_test(test_seqset_valid),
		cmocka_unit_test(test_seqset_invalid),
		cmocka_unit_test(test_seqset_limit),
		cmocka_unit_test(test_seqset_range_get),
		cmocka_unit_test(test_seqset_has),
		cmocka_unit_test(test_seqset_print),
		cmocka_unit_test(test_utf7_pairs),
		cmocka_unit_test(test_utf7_round_trip),
		cmocka_unit_test(test_utf7_long),
		cmocka_unit_test(test_utf7_decode_invalid),
		cmocka_unit_test(test_utf7_encode_invalid),
		cmocka_unit_test(test_utf7_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
