/* SPDX-License-Identifier: MIT */
/*
 * trust_xml.c - the ANS white list (listeblanchemssante.xml) as a list of
 * trust-space entries. The file is streamed with the libxml2 reader from a
 * descriptor we opened and bound (size checked on the descriptor and on
 * every read), never with entities substituted, a DTD loaded or the
 * network used; a DOCTYPE is refused outright, as the real list has none.
 * It does not check the list's XML signature (see doc/ and the report).
 *
 * The real file (ansforge/MSS-liste-blanche, 2025) looks like:
 *   <ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">
 *     <DateDeGeneration>...</DateDeGeneration>
 *     <ListeDomaines>
 *       <Domaine><Nom>a.mssante.fr</Nom><Description>...</Description>
 *         <DNCertificatOperateur>CN=...</DNCertificatOperateur>...
 *       </Domaine> ... (one Domaine per domain and operator certificate,
 *       so names repeat)
 *     </ListeDomaines>
 *     <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">...
 *   </ListeBlancheMSSante>
 * We take the text of every Nom child of a Domaine in that namespace, at
 * any depth (the XPath //n:Domaine/n:Nom other consumers use), and
 * ignore everything else, including elements of other namespaces.
 */
#include "trust.h"
#include "trust_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>

#include "core/err.h"
#include "core/str.h"

#define TRUST_NS "https://listeblanche.mssante.fr/schema"
#define TRUST_ROOT "ListeBlancheMSSante"
#define NOM_TEXT_MAX 1024	/* raw text of one Nom, spaces included */
#define ECHO_MAX 80		/* octets of a bad name quoted in errors */

/*
 * Parser options. NONET: no network, whatever a document refers to.
 * BIG_LINES: right line numbers past 65535 (the real list has ~80000).
 * Not NOENT, DTDLOAD, DTDATTR, DTDVALID (they load or expand external
 * text, local files included) nor HUGE (it lifts the limits on entity
 * amplification). Not NOCDATA either: a CDATA section in Nom is handled
 * as text by the loop below, and leaving the tree's shape alone is the
 * simpler promise.
 */
#define TRUST_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES)

struct load {
	const char *path;
	char *err;
	size_t errlen;
	bool has_err;		/* err holds the first failure */
	int xml_code;		/* libxml2's code for it, if it came from it */
	int xml_line, xml_col;	/* and where libxml2 was then */
	/* input */
	int fd;
	uint64_t max;		/* octets we accept to read */
	uint64_t n_read;
	bool too_big, eof;
	long end_line, end_col;	/* where the input read so far ends */
	/* unique names, in the order first seen, NUL-separated in pool */
	char *pool;
	size_t pool_len, pool_cap;
	uint32_t *offs;		/* offs[i]: name i in pool */
	size_t n, cap;
	uint32_t *slots;	/* hash set: 1 + index into offs, 0 free */
	size_t n_slots;
	size_t n_bad;
	/* the Nom being read */
	char text[NOM_TEXT_MAX + 1];
	size_t text_len;
	bool text_long, nom_has_element;
	long elem_line;		/* of <Nom>, when libxml2 kept it (< 65535) */
	long text_line;		/* where its first piece of text ends */
	size_t first_len;	/* the length of that piece */
};

static void seterr(struct load *ld, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* seterr - keep the first failure as "FILE:LINE: reason" (or "FILE:
 * reason" when line is 0). */
static void
seterr(struct load *ld, long line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ld->has_err || ld->errlen == 0)
		return;
	ld->has_err = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(ld->err, ld->errlen, "%s:%ld: %s", ld->path, line,
		    msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->path, msg);
}

/* The size the file broke, in the words of every path that finds it. */
static void
too_big(struct load *ld)
{
	ld->too_big = true;
	seterr(ld, 0, "file larger than %llu bytes",
	    (unsigned long long)ld->max);
}

/* libxml2 2.12 made the error handlers take a const error. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_ptr;
#else
typedef xmlErrorPtr xml_error_ptr;
#endif

/* xml_error - libxml2's structured errors: the first error or fatal
 * error, without its trailing newline and on one line (some messages
 * go on with "\nBytes: 0x.."); warnings are not failures. */
static void
xml_error(void *arg, xml_error_ptr e)
{
	struct load *ld = arg;
	char one[401];

	if (e == NULL || e->level < XML_ERR_ERROR)
		return;
	const char *msg = e->message != NULL ? e->message : "XML error";
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	if (n > sizeof(one) - 1)
		n = sizeof(one) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)msg[i];
		one[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	one[n] = '\0';
	if (ld->too_big) {
		too_big(ld);
	} else if (!ld->has_err) {
		seterr(ld, e->line, "%s", one);
		ld->xml_code = e->code;
		ld->xml_line = e->line;
		ld->xml_col = e->int2;	/* libxml2's column */
	}
}

/* xml_read - the reader's input: our descriptor, at most ld->max bytes
 * however the file grows after fstat (or whatever size it claims). */
static int
xml_read(void *arg, char *buf, int len)
{
	struct load *ld = arg;
	ssize_t r;

	do
		r = read(ld->fd, buf, (size_t)len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		seterr(ld, 0, "read: %s", strerror(errno));
		return -1;
	}
	ld->n_read += (uint64_t)r;
	if (ld->n_read > ld->max) {
		too_big(ld);
		return -1;
	}
	ld->eof |= r == 0;
	/* line and column (in characters of UTF-8) of the end, as libxml2
	 * counts them, to tell an error at the very end of the file */
	for (ssize_t i = 0; i < r; i++) {
		if (buf[i] == '\n') {
			ld->end_line++;
			ld->end_col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			ld->end_col++;
		}
	}
	return (int)r;
}

/* node_line - the line of the reader's current node: libxml2 keeps 16
 * bits in elements, the full number in text nodes (BIG_LINES); past
 * 65535 we fall back on the parser's position, a few lines ahead. */
static long
node_line(xmlTextReaderPtr rd)
{
	xmlNodePtr node = xmlTextReaderCurrentNode(rd);
	long line = node != NULL ? xmlGetLineNo(node) : -1;

	if (line <= 0 || line == 65535)
		line = xmlTextReaderGetParserLineNumber(rd);
	return line;
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* set_grow - double the hash set and re-insert every name. */
static int
set_grow(struct load *ld)
{
	size_t n_slots = ld->n_slots ? ld->n_slots * 2 : 1024;
	uint32_t *slots = calloc(n_slots, sizeof(*slots));

	if (slots == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < ld->n; i++) {
		size_t j = hash(ld->pool + ld->offs[i]) & (n_slots - 1);
		while (slots[j] != 0)
			j = (j + 1) & (n_slots - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(ld->slots);
	ld->slots = slots;
	ld->n_slots = n_slots;
	return 0;
}

/* add_name - remember a normalized name unless already there. Returns 1
 * when added, 0 for a duplicate, negative on error. */
static int
add_name(struct load *ld, const char *name, long line)
{
	size_t len = strlen(name) + 1;
	int r;

	/* at most half full, so probing stays short */
	if (ld->n + 1 > ld->n_slots / 2 && (r = set_grow(ld)) < 0)
		return r;
	size_t j = hash(name) & (ld->n_slots - 1);
	for (; ld->slots[j] != 0; j = (j + 1) & (ld->n_slots - 1))
		if (strcmp(ld->pool + ld->offs[ld->slots[j] - 1], name) == 0)
			return 0;
	if (ld->n == TRUST_LIST_MAX) {
		seterr(ld, line, "more than %d domains in the list",
		    TRUST_LIST_MAX);
		return ERR_LIMIT;
	}
	if (ld->n == ld->cap) {
		size_t cap = ld->cap ? ld->cap * 2 : 256;
		uint32_t *offs = realloc(ld->offs, cap * sizeof(*offs));
		if (offs == NULL)
			return ERR_NOMEM;
		ld->offs = offs;
		ld->cap = cap;
	}
	if (ld->pool_len + len > ld->pool_cap) {
		size_t cap = ld->pool_cap ? ld->pool_cap * 2 : 16384;
		char *pool = realloc(ld->pool, cap);
		if (pool == NULL)
			return ERR_NOMEM;
		ld->pool = pool;
		ld->pool_cap = cap;
	}
	memcpy(ld->pool + ld->pool_len, name, len);
	ld->offs[ld->n] = (uint32_t)ld->pool_len;
	ld->pool_len += len;
	ld->slots[j] = (uint32_t)++ld->n;
	return 1;
}

/* echo - name as it may be quoted in a message: trimmed, at most
 * ECHO_MAX octets, control characters, quote and backslash as \xNN. */
static void
echo(const char *name, char *out, size_t size)
{
	const char *end = name + strlen(name);
	size_t o = 0;

	while (name < end && strchr(" \t\r\n", *name) != NULL)
		name++;
	while (end > name && strchr(" \t\r\n", end[-1]) != NULL)
		end--;
	for (; name < end && o + 5 < size && o < ECHO_MAX; name++) {
		unsigned char c = (unsigned char)*name;
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (name < end && o + 4 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* count_nl - newlines in s[n]. */
static long
count_nl(const char *s, size_t n)
{
	long k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

/* nom_line - the line of the name inside the Nom just read: from the
 * start tag when libxml2 kept its line, else from where the first piece
 * of text ended; plus the newlines before the name. */
static long
nom_line(const struct load *ld, size_t lead)
{
	long before = count_nl(ld->text, lead);

	if (ld->elem_line > 0)
		return ld->elem_line + before;
	if (ld->text_line > 0)
		return ld->text_line - count_nl(ld->text, ld->first_len) +
		    before;
	return 0;
}

/* nom_done - the end of one Nom: skip it when empty, else normalize and
 * keep it, or count or report it when it is not a domain name. */
static int
nom_done(struct load *ld, bool skip_bad)
{
	char name[STORE_HOST_MAX], quoted[ECHO_MAX * 4 + 8];
	const char *why = NULL;
	size_t i = 0;
	int r;

	ld->text[ld->text_len] = '\0';
	while (i < ld->text_len && strchr(" \t\r\n", ld->text[i]) != NULL)
		i++;
	if (i == ld->text_len && !ld->text_long && !ld->nom_has_element)
		return 0;	/* an empty entry: DOMAIN.md says ignore it */
	if (ld->nom_has_element)
		why = "element inside Nom";
	else if (ld->text_long)
		why = "name longer than 253 octets";
	else if (trust_domain_normalize(ld->text, name, sizeof(name),
	    &why) == 0) {
		if ((r = add_name(ld, name, nom_line(ld, i))) == ERR_NOMEM)
			seterr(ld, 0, "out of memory");
		return r < 0 ? r : 0;
	}
	if (skip_bad) {
		ld->n_bad++;
		return 0;
	}
	echo(ld->text, quoted, sizeof(quoted));
	seterr(ld, nom_line(ld, i), "'%s': %s", quoted, why);
	return ERR_INVAL;
}

static bool
in_ns(xmlTextReaderPtr rd, const char *local)
{
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(rd);
	const xmlChar *name = xmlTextReaderConstLocalName(rd);

	return ns != NULL && name != NULL &&
	    strcmp((const char *)ns, TRUST_NS) == 0 &&
	    strcmp((const char *)name, local) == 0;
}

/* check_root - the first element must be the list's root, in its
 * namespace; anything else is some other document. */
static int
check_root(struct load *ld, xmlTextReaderPtr rd)
{
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(rd);
	const xmlChar *name = xmlTextReaderConstLocalName(rd);
	char qname[128], qns[160];

	if (in_ns(rd, TRUST_ROOT))
		return 0;
	echo(name != NULL ? (const char *)name : "", qname, sizeof(qname));
	if (name == NULL || strcmp((const char *)name, TRUST_ROOT) != 0) {
		seterr(ld, node_line(rd), "root element is '%s', expected '"
		    TRUST_ROOT "' (not a MSSante white list)", qname);
		return ERR_INVAL;
	}
	if (ns == NULL) {
		seterr(ld, node_line(rd), "root element '" TRUST_ROOT
		    "' has no namespace, expected " TRUST_NS);
		return ERR_INVAL;
	}
	echo((const char *)ns, qns, sizeof(qns));
	seterr(ld, node_line(rd), "root element '" TRUST_ROOT "' is in "
	    "namespace '%s', expected " TRUST_NS, qns);
	return ERR_INVAL;
}

/* nom_start - a Nom of a Domaine begins: forget the last one. */
static void
nom_start(struct load *ld, xmlTextReaderPtr rd)
{
	xmlNodePtr node = xmlTextReaderCurrentNode(rd);
	long line = node != NULL ? xmlGetLineNo(node) : -1;

	ld->elem_line = line > 0 && line < 65535 ? line : -1;
	ld->text_line = -1;
	ld->text_len = ld->first_len = 0;
	ld->text_long = ld->nom_has_element = false;
}

/* nom_text - one piece of a Nom's text, kept up to NOM_TEXT_MAX (the
 * start of a longer one stays, for the error message to quote). */
static void
nom_text(struct load *ld, xmlTextReaderPtr rd, int type)
{
	const xmlChar *v = xmlTextReaderConstValue(rd);
	size_t n = v != NULL ? strlen((const char *)v) : 0;

	if (ld->text_len == 0 && ld->first_len == 0) {
		xmlNodePtr node = xmlTextReaderCurrentNode(rd);
		ld->text_line = type == XML_READER_TYPE_TEXT && node != NULL ?
		    xmlGetLineNo(node) : -1;
		ld->first_len = n < NOM_TEXT_MAX ? n : NOM_TEXT_MAX;
	}
	if (n > NOM_TEXT_MAX - ld->text_len) {
		ld->text_long = true;
		n = NOM_TEXT_MAX - ld->text_len;
	}
	if (n > 0)	/* v may be NULL */
		memcpy(ld->text + ld->text_len, v, n);
	ld->text_len += n;
}

/*
 * truncation_hint - libxml2 failed before the end of the root: say when
 * the cause is likely a file cut short (a broken download). libxml2's
 * push parser says "Extra content at the end of the document" for a file
 * that ends between two nodes: that is replaced. Cut inside a tag, a
 * comment or an attribute, it names what it could not finish, at the end
 * of the input: that is kept, with the hint after it.
 */
static void
truncation_hint(struct load *ld, xmlTextReaderPtr rd, bool seen_root)
{
	if (ld->xml_code == 0)
		return;		/* our own error, not the parser's */
	if (seen_root && ld->xml_code == XML_ERR_DOCUMENT_END) {
		ld->has_err = false;
		seterr(ld, xmlTextReaderGetParserLineNumber(rd),
		    "the file ends inside the list (truncated?)");
		return;
	}
	/* libxml2 stops at most two characters before the end ("--" of
	 * a comment cut short) */
	if (ld->eof && ld->xml_line == ld->end_line &&
	    ld->xml_col + 2 >= ld->end_col) {
		size_t n = strlen(ld->err);
		if (n < ld->errlen)
			snprintf(ld->err + n, ld->errlen - n,
			    " (the file ends there: truncated?)");
	}
}

/* walk - read every node; collect the names. Returns 0 at the end of a
 * well-formed list, negative with ld->err set otherwise. */
static int
walk(struct load *ld, xmlTextReaderPtr rd, bool skip_bad)
{
	int dom_depth = -1, nom_depth = -1, r;
	bool seen_root = false, root_closed = false;

	while ((r = xmlTextReaderRead(rd)) == 1) {
		int type = xmlTextReaderNodeType(rd);
		int depth = xmlTextReaderDepth(rd);

		if (type == XML_READER_TYPE_DOCUMENT_TYPE && !ld->too_big) {
			/* The list has no DTD; one here can only declare
			 * entities, which we never want expanded. This
			 * reason wins over whatever libxml2 already found
			 * in the chunk it parsed (an entity loop in the
			 * billion laughs), so every DTD gets one answer. */
			ld->has_err = false;
			seterr(ld, 0, "DOCTYPE not allowed in the white "
			    "list");
			return ERR_INVAL;
		}
		if (ld->has_err) {	/* a recoverable XML error */
			r = -1;
			break;
		}
		switch (type) {
		case XML_READER_TYPE_ELEMENT:
			if (!seen_root) {
				if ((r = check_root(ld, rd)) < 0)
					return r;
				seen_root = true;
				root_closed =
				    xmlTextReaderIsEmptyElement(rd) == 1;
			} else if (nom_depth >= 0) {
				ld->nom_has_element = true;
			} else if (dom_depth >= 0 && depth == dom_depth + 1 &&
			    in_ns(rd, "Nom")) {
				nom_start(ld, rd);
				if (xmlTextReaderIsEmptyElement(rd) != 1)
					nom_depth = depth;
			} else if (in_ns(rd, "Domaine") &&
			    xmlTextReaderIsEmptyElement(rd) != 1) {
				dom_depth = depth;
			}
			break;
		case XML_READER_TYPE_TEXT:
		case XML_READER_TYPE_CDATA:
		case XML_READER_TYPE_WHITESPACE:
		case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
			if (nom_depth >= 0 && depth == nom_depth + 1)
				nom_text(ld, rd, type);
			break;
		case XML_READER_TYPE_END_ELEMENT:
			if (depth == nom_depth) {
				nom_depth = -1;
				if ((r = nom_done(ld, skip_bad)) < 0)
					return r;
			} else if (depth == dom_depth) {
				dom_depth = -1;
			}
			root_closed |= depth == 0;
			break;
		default:
			break;
		}
	}
	if (r < 0 || ld->has_err) {
		if (!ld->too_big && !root_closed)
			truncation_hint(ld, rd, seen_root);
		seterr(ld, xmlTextReaderGetParserLineNumber(rd),
		    "not a well-formed XML document");
		return ld->too_big ? ERR_LIMIT : ERR_INVAL;
	}
	if (!seen_root) {
		seterr(ld, 0, "no root element");
		return ERR_INVAL;
	}
	return 0;
}

/*
 * had_dtd - after a failure: when the document has a DOCTYPE, say that
 * instead, as walk() does when it meets one. libxml2 may have failed in
 * the DTD before the reader could return it (an entity loop, in words
 * that change between libxml2 versions); every DTD then gets the same
 * answer. Returns the reader's document, which the caller frees after
 * the reader (asking for it makes the reader leave it alone).
 */
static xmlDocPtr
had_dtd(struct load *ld, xmlTextReaderPtr rd)
{
	xmlDocPtr doc = xmlTextReaderCurrentDoc(rd);

	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		ld->has_err = false;
		seterr(ld, 0, "DOCTYPE not allowed in the white list");
	}
	return doc;
}

/* finish - the collected names as the caller's array. */
static int
finish(struct load *ld, int64_t now, struct store_trust **list_r)
{
	struct store_trust *list = calloc(ld->n, sizeof(*list));

	if (list == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < ld->n; i++) {
		/* names came out of trust_domain_normalize: they fit */
		if (str_copy(list[i].domain, sizeof(list[i].domain),
		    ld->pool + ld->offs[i]) < 0) {
			free(list);
			return ERR_LIMIT;
		}
		list[i].route[0] = '\0';
		memcpy(list[i].source, "import", sizeof("import"));
		list[i].added = now;
	}
	*list_r = list;
	return 0;
}

/* open_input - the file, opened once and checked on its descriptor, so
 * what we measure is what we read. */
static int
open_input(struct load *ld)
{
	struct stat sb;

	ld->fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (ld->fd < 0) {
		seterr(ld, 0, "cannot open: %s", strerror(errno));
		return ERR_IO;
	}
	if (fstat(ld->fd, &sb) != 0) {
		seterr(ld, 0, "cannot stat: %s", strerror(errno));
		return ERR_IO;
	}
	if (!S_ISREG(sb.st_mode)) {
		seterr(ld, 0, "not a regular file");
		return ERR_INVAL;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > ld->max) {
		seterr(ld, 0, "file larger than %llu bytes (%lld)",
		    (unsigned long long)ld->max, (long long)sb.st_size);
		return ERR_LIMIT;
	}
	return 0;
}

int
trust_xml_load(const char *path, int64_t now, bool skip_bad,
	       struct store_trust **list_r, size_t *n_r, size_t *n_bad_r,
	       char *err, size_t errlen)
{
	return trust_xml_load_max(path, TRUST_FILE_MAX, now, skip_bad, list_r,
	    n_r, n_bad_r, err, errlen);
}

int
trust_xml_load_max(const char *path, uint64_t max, int64_t now,
		   bool skip_bad, struct store_trust **list_r, size_t *n_r,
		   size_t *n_bad_r, char *err, size_t errlen)
{
	struct load *ld = calloc(1, sizeof(*ld));
	xmlTextReaderPtr rd = NULL;
	int r;

	*list_r = NULL;
	*n_r = 0;
	*n_bad_r = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (ld == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return ERR_NOMEM;
	}
	ld->path = path;
	ld->err = err;
	ld->errlen = errlen;
	ld->fd = -1;
	ld->max = max;
	ld->end_line = ld->end_col = 1;
	if ((r = open_input(ld)) < 0)
		goto out;

	/* libxml2 reports some errors (before the reader exists, or from
	 * its I/O layer) through the thread's global handler, the others
	 * through the reader's: take both, put the global one back. */
	xmlStructuredErrorFunc old_fn = xmlStructuredError;
	void *old_ctx = xmlStructuredErrorContext;
	xmlInitParser();
	xmlSetStructuredErrorFunc(ld, xml_error);
	rd = xmlReaderForIO(xml_read, NULL, ld, path, NULL,
	    TRUST_XML_OPTIONS);
	if (rd == NULL) {
		seterr(ld, 0, "cannot start the XML reader");
		r = ERR_NOMEM;
	} else {
		xmlTextReaderSetStructuredErrorHandler(rd, xml_error, ld);
		r = walk(ld, rd, skip_bad);
		xmlDocPtr doc = r < 0 && !ld->too_big ? had_dtd(ld, rd) : NULL;
		xmlFreeTextReader(rd);
		xmlFreeDoc(doc);
	}
	xmlSetStructuredErrorFunc(old_ctx, old_fn);
	if (r < 0)
		goto out;
	if (ld->n == 0) {
		/* an empty list would remove every imported domain: it is
		 * a broken download far more often than a real list */
		if (ld->n_bad > 0)
			seterr(ld, 0, "no valid domain name in the list "
			    "(%zu bad)", ld->n_bad);
		else
			seterr(ld, 0, "no domain name in the list");
		r = ERR_INVAL;
		goto out;
	}
	if ((r = finish(ld, now, list_r)) < 0) {
		seterr(ld, 0, "out of memory");
		goto out;
	}
	*n_r = ld->n;
	*n_bad_r = ld->n_bad;
out:
	if (ld->fd >= 0 && close(ld->fd) != 0 && r == 0) {
		/* read-only: nothing lost, but say so rather than hide it */
		seterr(ld, 0, "close: %s", strerror(errno));
		free(*list_r);
		*list_r = NULL;
		*n_r = 0;
		r = ERR_IO;
	}
	free(ld->pool);
	free(ld->offs);
	free(ld->slots);
	free(ld);
	return r;
}
