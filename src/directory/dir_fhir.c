/* SPDX-License-Identifier: MIT */
/*
 * dir_fhir.c - a FHIR R4 Bundle in XML (the ANS "Annuaire Santé" API's
 * format) as directory records. The file is streamed node by node with
 * the libxml2 reader from a descriptor we opened: memory holds one entry's
 * record and the path of the current element, whatever the number or the
 * size of the entries (the reader frees each node once past it). No
 * entity is substituted, no DTD loaded, no network used; a DOCTYPE is
 * refused outright, as a FHIR bundle never has one.
 *
 * Each Practitioner, PractitionerRole and Organization entry is a record
 * keyed "fhir:" + resource type + "/" + id; other resources are skipped.
 *   Practitioner: identifier IdNat_PS (urn:oid:1.2.250.1.71.4.2.1) ->
 *     idnat, id_type, and rpps when it is "8" + 11 digits; an identifier
 *     typed RPPS (system http://rpps.fr or the IdNat_PS OID) -> rpps;
 *     first name: family, first given, first prefix -> title;
 *     qualification codings: TRE_G15 -> profession_code / profession,
 *     TRE_R38 (specialité ordinale) -> specialty_code / specialty.
 *   PractitionerRole: the practitioner is only a reference; its names are
 *     left empty (finding them would need the Practitioner entry, which
 *     may come anywhere in the file, and memory stays constant), but an
 *     identifier given inline (practitioner.identifier) fills idnat / rpps
 *     as above. org_id: organization.identifier IdNat_Struct when inline,
 *     else the id of organization.reference ("Organization/ID").
 *     code: first coding's display (else its code) -> role; specialty:
 *     first coding -> specialty_code / specialty.
 *   Organization: identifier IdNat_Struct (urn:oid:1.2.250.1.71.4.2.2)
 *     -> org_id, and finess ("1" + FINESS), siret ("3" + 14 digits) or
 *     siren ("2" + 9 digits) from it; identifiers typed FINEG / FINEJ,
 *     SIRET, SIREN -> finess, siret, siren; name -> org_name.
 *   All three: telecom email entries marked MSSANTE by the
 *     fr-core-contact-point-email-type extension are mailboxes, typed by
 *     the "type" of the as-ext-mailbox-mss-metadata extension (PER, CAB,
 *     ORG, APP; default PER, ORG for an Organization); other e-mails are
 *     ignored; phone telecoms go through dir_phone_e164 (a number it
 *     refuses is dropped, not the entry); first address: lines (joined
 *     with ", ") -> street, postalCode, city, country.
 * An entry without id, with a bad mailbox or a value too long for its
 * field is bad: reported and skipped, or the end of the read when strict.
 */
#include "directory.h"

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

#define FHIR_NS "http://hl7.org/fhir"
#define OID_IDNAT_PS "urn:oid:1.2.250.1.71.4.2.1"
#define OID_IDNAT_STRUCT "urn:oid:1.2.250.1.71.4.2.2"
#define SYS_RPPS "http://rpps.fr"
#define SYS_FINESS "http://finess.sante.gouv.fr"
#define URL_EMAIL_TYPE "https://hl7.fr/ig/fhir/core/StructureDefinition/" \
	"fr-core-contact-point-email-type"
#define URL_MSS_META "https://interop.esante.gouv.fr/ig/fhir/annuaire/" \
	"StructureDefinition/as-ext-mailbox-mss-metadata"

/*
 * Parser options. NONET: no network, whatever a document refers to.
 * BIG_LINES: right line numbers past 65535. Not NOENT, DTDLOAD, DTDATTR,
 * DTDVALID (they load or expand external text, local files included)
 * nor HUGE (it lifts the limits on entity amplification and text size).
 */
#define FHIR_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES)

#define NAME_LEN 48		/* element names we care about are shorter */
#define URL_LEN 160		/* extension urls likewise */
#define PATH_LEN 512
#define SYS_LEN 256
#define ID_LEN 65		/* FHIR ids: [A-Za-z0-9.-]{1,64} */
#define WHY_LEN 300
#define ECHO_MAX 80		/* octets of a bad value quoted */

enum fhir_kind {
	RES_NONE = 0,
	RES_OTHER,
	RES_PRACT,
	RES_ROLE,
	RES_ORG,
};

/* One level of the element path inside a resource. */
struct fhir_level {
	char name[NAME_LEN];	/* "" when longer: matches nothing */
	char url[URL_LEN];	/* of an extension element */
};

struct fhir_ident {
	char system[SYS_LEN];
	char type[DIR_CODE];
	char value[DIR_ID];
	bool value_long;
};

struct fhir_tel {
	char system[16];
	char value[STORE_ADDR_MAX];
	bool value_long;
	bool mss;
	char type[8];
};

struct fhir_coding {
	char system[SYS_LEN];
	char code[DIR_CODE];
	char display[DIR_STR];
	bool code_long, display_long;
};

struct fhir_entry {
	int kind;
	const char *type;		/* resource type name */
	long line;			/* of the resource element */
	char id[ID_LEN];
	bool has_id, id_long;
	bool bad;
	long bad_line;
	char why[WHY_LEN];
	unsigned n_name, n_addr;
	bool has_given, has_prefix, has_prof, has_spec, has_role;
	char org_ref[DIR_ID];
	struct fhir_ident ident;
	struct fhir_tel tel;
	struct fhir_coding coding;
	struct dir_record rec;
};

struct fhir_load {
	const char *name;		/* file name in messages */
	struct dir_read_opts *o;
	dir_emit_fn *emit;
	void *arg;
	char *err;
	size_t errlen;
	bool has_err;
	int xml_code;			/* libxml2's code for the error */
	int xml_line, xml_col;
	/* input */
	int fd;
	bool eof, ends_nl;		/* ends_nl: the last octet was '\n' */
	long end_line, end_col;		/* where the input read ends */
	/* the prolog, scanned for "<!DOCTYPE" to name its line */
	int pro_state;
	char pro_tag[9];
	size_t pro_n;
	long pro_tag_line, doctype_line;
	/* the walk */
	int res_depth;			/* of the resource element */
	long line;			/* of the current element */
	struct fhir_level lv[DIR_XML_MAX_DEPTH];
	char path[PATH_LEN];
	struct fhir_entry ent;
};

static void seterr(struct fhir_load *ld, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void entry_bad(struct fhir_load *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* seterr - keep the first failure as "FILE:LINE: reason" (or "FILE:
 * reason" when line is 0). */
static void
seterr(struct fhir_load *ld, long line, const char *fmt, ...)
{
	char msg[DIR_ERR_MAX];
	va_list ap;

	if (ld->has_err)
		return;
	ld->has_err = true;
	if (ld->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(ld->err, ld->errlen, "%s:%ld: %s", ld->name, line,
		    msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->name, msg);
}

/* echo - a value as it may be quoted in a message: at most ECHO_MAX
 * octets, control characters, quote and backslash as \xNN. */
static void
echo(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < size && o < ECHO_MAX; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (*s != '\0' && o + 4 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* libxml2 2.12 made the error handlers take a const error. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_ptr;
#else
typedef xmlErrorPtr xml_error_ptr;
#endif

/* xml_error - libxml2's structured errors: the first error or fatal
 * error, on one line (some messages go on with "\nBytes: 0x.."), without
 * its trailing newline; warnings are not failures. */
static void
xml_error(void *arg, xml_error_ptr e)
{
	struct fhir_load *ld = arg;
	char one[401];

	if (e == NULL || e->level < XML_ERR_ERROR || ld->has_err)
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
	seterr(ld, e->line, "%s", one);
	ld->xml_code = e->code;
	ld->xml_line = e->line;
	ld->xml_col = e->int2;	/* libxml2's column */
}

/* The prolog scanner's states. */
enum {
	PRO_TEXT = 0,	/* between markup */
	PRO_TAG,	/* after '<': collecting what it opens */
	PRO_PI,		/* inside <? ... ?> */
	PRO_COMMENT,	/* inside <!-- ... --> */
	PRO_DONE,	/* the root element or a DOCTYPE began */
};

/*
 * prolog_scan - watch the raw bytes before the root element for a
 * "<!DOCTYPE", only to name its line in the refusal: libxml2 keeps no
 * line for a DTD node. Encodings that are not ASCII-compatible (UTF-16)
 * end the scan at once; the parser's line is used then.
 */
static void
prolog_scan(struct fhir_load *ld, const char *buf, size_t n)
{
	static const char doctype[] = "!DOCTYPE";
	long line = ld->end_line;

	for (size_t i = 0; i < n && ld->pro_state != PRO_DONE; i++) {
		char c = buf[i];
		switch (ld->pro_state) {
		case PRO_TEXT:
			if (c == '<') {
				ld->pro_state = PRO_TAG;
				ld->pro_n = 0;
				ld->pro_tag_line = line;
			}
			break;
		case PRO_TAG:
			ld->pro_tag[ld->pro_n++] = c;
			if (ld->pro_tag[0] == '?') {
				ld->pro_state = PRO_PI;
				ld->pro_n = 0;
			} else if (ld->pro_tag[0] != '!') {
				ld->pro_state = PRO_DONE;
			} else if (ld->pro_n == 3 &&
			    memcmp(ld->pro_tag, "!--", 3) == 0) {
				ld->pro_state = PRO_COMMENT;
				ld->pro_n = 0;
			} else if (memcmp(ld->pro_tag, doctype, ld->pro_n) !=
			    0 && !(ld->pro_n <= 3 &&
			    memcmp(ld->pro_tag, "!--", ld->pro_n) == 0)) {
				ld->pro_state = PRO_DONE;
			} else if (ld->pro_n == sizeof(doctype) - 1) {
				ld->doctype_line = ld->pro_tag_line;
				ld->pro_state = PRO_DONE;
			}
			break;
		case PRO_PI:
			/* pro_n: 1 after a '?' */
			if (c == '>' && ld->pro_n == 1)
				ld->pro_state = PRO_TEXT;
			ld->pro_n = c == '?';
			break;
		case PRO_COMMENT:
			/* pro_n: dashes just seen */
			if (c == '>' && ld->pro_n >= 2)
				ld->pro_state = PRO_TEXT;
			ld->pro_n = c == '-' ? ld->pro_n + 1 : 0;
			break;
		default:
			break;
		}
		if (c == '\n')
			line++;
	}
}

/* xml_read - the reader's input: our descriptor. */
static int
xml_read(void *arg, char *buf, int len)
{
	struct fhir_load *ld = arg;
	ssize_t r;

	do
		r = read(ld->fd, buf, (size_t)len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		seterr(ld, 0, "read: %s", strerror(errno));
		return -1;
	}
	ld->eof |= r == 0;
	if (r > 0)
		ld->ends_nl = buf[r - 1] == '\n';
	prolog_scan(ld, buf, (size_t)r);
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
 * bits in elements; past 65535 we fall back on the parser's position,
 * a little ahead. */
static long
node_line(xmlTextReaderPtr rd)
{
	xmlNodePtr node = xmlTextReaderCurrentNode(rd);
	long line = node != NULL ? xmlGetLineNo(node) : -1;

	if (line <= 0 || line >= 65535)
		line = xmlTextReaderGetParserLineNumber(rd);
	return line;
}

/* ---- one entry ---- */

/* entry_bad - the entry will be skipped: keep the first reason, at the
 * line of the element being read. */
static void
entry_bad(struct fhir_load *ld, const char *fmt, ...)
{
	struct fhir_entry *e = &ld->ent;
	va_list ap;

	if (e->bad)
		return;
	e->bad = true;
	e->bad_line = ld->line;
	va_start(ap, fmt);
	vsnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
}

/* put - a value into a record field, or the entry is bad. */
static void
put(struct fhir_load *ld, char *dst, size_t size, const char *v,
    const char *what)
{
	if (str_copy(dst, size, v) < 0)
		entry_bad(ld, "%s longer than %zu bytes", what, size - 1);
}

/* take - a value into an accumulator; too long sets *long_r (NULL: the
 * value then matches nothing, which is all a system or a type needs). */
static void
take(char *dst, size_t size, const char *v, bool *long_r)
{
	if (str_copy(dst, size, v) < 0) {
		dst[0] = '\0';
		if (long_r != NULL)
			*long_r = true;
	}
}

static bool
all_digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void
entry_start(struct fhir_load *ld, int kind, const char *type, long line)
{
	struct fhir_entry *e = &ld->ent;

	memset(e, 0, offsetof(struct fhir_entry, rec));
	e->kind = kind;
	e->type = type;
	e->line = line;
	dir_record_init(&e->rec);
}

/* ident_person - an identifier of a practitioner (its own or inline in
 * a PractitionerRole's reference). */
static void
ident_person(struct fhir_load *ld)
{
	struct fhir_ident *id = &ld->ent.ident;
	struct dir_record *rec = &ld->ent.rec;
	bool sys_ps = strcmp(id->system, OID_IDNAT_PS) == 0;
	bool sys_rpps = strcmp(id->system, SYS_RPPS) == 0;
	char q[ECHO_MAX * 4 + 8];

	if (!sys_ps && !sys_rpps)
		return;
	if (id->value_long) {
		entry_bad(ld, "identifier longer than %d bytes", DIR_ID - 1);
		return;
	}
	if (id->value[0] == '\0')
		return;
	if (sys_rpps || strcmp(id->type, "RPPS") == 0) {
		if (!all_digits(id->value, 11)) {
			echo(id->value, q, sizeof(q));
			entry_bad(ld, "RPPS '%s' is not 11 digits", q);
		} else if (rec->rpps[0] == '\0') {
			put(ld, rec->rpps, sizeof(rec->rpps), id->value,
			    "RPPS");
		}
		return;
	}
	if (rec->idnat[0] != '\0' ||
	    (id->type[0] != '\0' && strcmp(id->type, "IDNPS") != 0))
		return;		/* the first IdNat_PS, not ADELI */
	put(ld, rec->idnat, sizeof(rec->idnat), id->value, "IdNat_PS");
	rec->id_type[0] = id->value[0];
	rec->id_type[1] = '\0';
	if (id->value[0] == '8' && all_digits(id->value + 1, 11) &&
	    rec->rpps[0] == '\0')
		put(ld, rec->rpps, sizeof(rec->rpps), id->value + 1, "RPPS");
}

/* ident_struct - an identifier of an organization (its own or inline in
 * a PractitionerRole's reference). */
static void
ident_struct(struct fhir_load *ld)
{
	struct fhir_ident *id = &ld->ent.ident;
	struct dir_record *rec = &ld->ent.rec;
	const char *v = id->value;
	bool finess = strcmp(id->type, "FINEG") == 0 ||
	    strcmp(id->type, "FINEJ") == 0 ||
	    strcmp(id->system, SYS_FINESS) == 0;
	bool idnst = strcmp(id->system, OID_IDNAT_STRUCT) == 0;

	if (!idnst && !finess && strcmp(id->type, "SIRET") != 0 &&
	    strcmp(id->type, "SIREN") != 0)
		return;
	if (id->value_long) {
		entry_bad(ld, "identifier longer than %d bytes", DIR_ID - 1);
		return;
	}
	if (v[0] == '\0')
		return;
	if (idnst) {
		if (rec->org_id[0] != '\0')
			return;
		put(ld, rec->org_id, sizeof(rec->org_id), v, "IdNat_Struct");
		if (v[0] == '1' && rec->finess[0] == '\0')
			put(ld, rec->finess, sizeof(rec->finess), v + 1,
			    "FINESS");
		else if (v[0] == '3' && all_digits(v + 1, 14) &&
		    rec->siret[0] == '\0')
			put(ld, rec->siret, sizeof(rec->siret), v + 1, "SIRET");
		else if (v[0] == '2' && all_digits(v + 1, 9) &&
		    rec->siren[0] == '\0')
			put(ld, rec->siren, sizeof(rec->siren), v + 1, "SIREN");
	} else if (finess) {
		if (rec->finess[0] == '\0')
			put(ld, rec->finess, sizeof(rec->finess), v, "FINESS");
	} else if (strcmp(id->type, "SIRET") == 0) {
		if (rec->siret[0] == '\0')
			put(ld, rec->siret, sizeof(rec->siret), v, "SIRET");
	} else if (rec->siren[0] == '\0') {
		put(ld, rec->siren, sizeof(rec->siren), v, "SIREN");
	}
}

/* tel_done - the end of a telecom: a MSSanté mailbox, a phone, or
 * nothing we keep. */
static void
tel_done(struct fhir_load *ld)
{
	struct fhir_tel *t = &ld->ent.tel;
	struct dir_record *rec = &ld->ent.rec;
	char e164[DIR_PHONE_LEN], q[ECHO_MAX * 4 + 8];
	const char *type;
	int r;

	if (strcmp(t->system, "phone") == 0) {
		/* a number that is not one is dropped: mailboxes are what
		 * the directory is for; too many are dropped likewise */
		if (!t->value_long && t->value[0] != '\0' &&
		    dir_phone_e164(t->value, e164, sizeof(e164)) == 0)
			(void)dir_record_add_phone(rec, e164);
		return;
	}
	if (strcmp(t->system, "email") != 0 || !t->mss)
		return;
	if (t->value_long) {
		entry_bad(ld, "mailbox address longer than %d bytes",
		    STORE_ADDR_MAX - 1);
		return;
	}
	if (t->type[0] == '\0')
		type = ld->ent.kind == RES_ORG ? "ORG" : "PER";
	else if (strcmp(t->type, "PER") == 0 || strcmp(t->type, "CAB") == 0 ||
	    strcmp(t->type, "ORG") == 0 || strcmp(t->type, "APP") == 0)
		type = t->type;
	else {
		echo(t->type, q, sizeof(q));
		entry_bad(ld, "unknown mailbox type '%s'", q);
		return;
	}
	r = dir_record_add_mailbox(rec, t->value, type);
	if (r == ERR_LIMIT) {
		entry_bad(ld, "more than %d MSSante mailboxes", DIR_MBOX_MAX);
	} else if (r < 0) {
		echo(t->value, q, sizeof(q));
		entry_bad(ld, "'%s' is not a mailbox address", q);
	}
}

enum coding_use {
	CODING_QUAL,		/* Practitioner.qualification.code */
	CODING_ROLE,		/* PractitionerRole.code */
	CODING_SPEC,		/* PractitionerRole.specialty */
};

/* coding_pair - code and display into two record fields. */
static void
coding_pair(struct fhir_load *ld, char *code, size_t code_size, char *disp,
	    size_t disp_size, const char *what)
{
	struct fhir_coding *c = &ld->ent.coding;
	char label[64];

	if (c->code_long) {
		entry_bad(ld, "%s code longer than %zu bytes", what,
		    code_size - 1);
		return;
	}
	if (c->display_long) {
		entry_bad(ld, "%s label longer than %zu bytes", what,
		    disp_size - 1);
		return;
	}
	put(ld, code, code_size, c->code, what);
	snprintf(label, sizeof(label), "%s label", what);
	put(ld, disp, disp_size, c->display, label);
}

/* coding_done - the end of a coding we read. */
static void
coding_done(struct fhir_load *ld, int use)
{
	struct fhir_entry *e = &ld->ent;
	struct fhir_coding *c = &e->coding;
	struct dir_record *rec = &e->rec;

	if (c->code[0] == '\0' && c->display[0] == '\0' && !c->code_long &&
	    !c->display_long)
		return;
	switch (use) {
	case CODING_QUAL:
		if (strstr(c->system, "TRE_G15") != NULL && !e->has_prof) {
			e->has_prof = true;
			coding_pair(ld, rec->profession_code,
			    sizeof(rec->profession_code), rec->profession,
			    sizeof(rec->profession), "profession");
		} else if (strstr(c->system, "TRE_R38") != NULL &&
		    !e->has_spec) {
			e->has_spec = true;
			coding_pair(ld, rec->specialty_code,
			    sizeof(rec->specialty_code), rec->specialty,
			    sizeof(rec->specialty), "specialty");
		}
		break;
	case CODING_ROLE:
		if (e->has_role)
			break;
		e->has_role = true;
		if (c->display_long || (c->display[0] == '\0' && c->code_long))
			entry_bad(ld, "role longer than %zu bytes",
			    sizeof(rec->role) - 1);
		else
			put(ld, rec->role, sizeof(rec->role),
			    c->display[0] != '\0' ? c->display : c->code,
			    "role");
		break;
	case CODING_SPEC:
		if (e->has_spec)
			break;
		e->has_spec = true;
		coding_pair(ld, rec->specialty_code,
		    sizeof(rec->specialty_code), rec->specialty,
		    sizeof(rec->specialty), "specialty");
		break;
	default:
		break;
	}
}

/* org_reference - "Organization/ID", possibly absolute or versioned
 * (".../Organization/ID/_history/2"): keep ID. */
static void
org_reference(struct fhir_load *ld, const char *v)
{
	const char *p = NULL, *s = v;
	size_t n;

	while ((s = strstr(s, "Organization/")) != NULL) {
		p = s + strlen("Organization/");
		s = p;
	}
	if (p == NULL)
		return;		/* a contained or logical reference */
	n = strcspn(p, "/");
	if (n == 0)
		return;
	if (str_copyn(ld->ent.org_ref, sizeof(ld->ent.org_ref), p, n) < 0)
		entry_bad(ld, "organization reference longer than %d bytes",
		    DIR_ID - 1);
}

/* sub - when path is prefix or under it: what follows ("" or "x/y"). */
static const char *
sub(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return path + n;
	return path[n] == '/' ? path + n + 1 : NULL;
}

/* ident_rel - when path is inside an identifier this resource reads:
 * the rest, with *person_r telling which kind it is. */
static const char *
ident_rel(const struct fhir_load *ld, const char *path, bool *person_r)
{
	const char *rel;

	switch (ld->ent.kind) {
	case RES_PRACT:
		*person_r = true;
		return sub(path, "identifier");
	case RES_ORG:
		*person_r = false;
		return sub(path, "identifier");
	case RES_ROLE:
		if ((rel = sub(path, "practitioner/identifier")) != NULL) {
			*person_r = true;
			return rel;
		}
		*person_r = false;
		return sub(path, "organization/identifier");
	default:
		return NULL;
	}
}

/* coding_rel - when path is inside a coding this resource reads. */
static const char *
coding_rel(const struct fhir_load *ld, const char *path, int *use_r)
{
	const char *rel;

	if (ld->ent.kind == RES_PRACT) {
		*use_r = CODING_QUAL;
		return sub(path, "qualification/code/coding");
	}
	if (ld->ent.kind != RES_ROLE)
		return NULL;
	if ((rel = sub(path, "code/coding")) != NULL) {
		*use_r = CODING_ROLE;
		return rel;
	}
	*use_r = CODING_SPEC;
	return sub(path, "specialty/coding");
}

/* tel_value - a value inside a telecom: its system and value, and the
 * two extensions that make it a MSSanté mailbox and give its type. */
static void
tel_value(struct fhir_load *ld, int depth, const char *rel, const char *v)
{
	struct fhir_tel *t = &ld->ent.tel;
	int base;

	if (strcmp(rel, "system") == 0) {
		take(t->system, sizeof(t->system), v, NULL);
	} else if (strcmp(rel, "value") == 0) {
		take(t->value, sizeof(t->value), v, &t->value_long);
	} else if (strcmp(rel, "extension/valueCoding/code") == 0) {
		base = depth - 2;	/* code, valueCoding, extension */
		if (strcmp(ld->lv[base].url, URL_EMAIL_TYPE) == 0 &&
		    strcmp(v, "MSSANTE") == 0)
			t->mss = true;
	} else if (strcmp(rel, "extension/extension/valueCodeableConcept/"
	    "coding/code") == 0) {
		base = depth - 4;	/* code ... outer extension */
		if (strcmp(ld->lv[base].url, URL_MSS_META) == 0 &&
		    strcmp(ld->lv[base + 1].url, "type") == 0 &&
		    t->type[0] == '\0')
			take(t->type, sizeof(t->type), v, NULL);
	}
}

/* address_value - a value of the first address. */
static void
address_value(struct fhir_load *ld, const char *rel, const char *v)
{
	struct dir_record *rec = &ld->ent.rec;

	if (ld->ent.n_addr != 1)
		return;
	if (strcmp(rel, "line") == 0) {
		size_t n = strlen(rec->street);
		if (n > 0 && str_fmt(rec->street + n, sizeof(rec->street) - n,
		    ", %s", v) < 0)
			entry_bad(ld, "street longer than %zu bytes",
			    sizeof(rec->street) - 1);
		else if (n == 0)
			put(ld, rec->street, sizeof(rec->street), v, "street");
	} else if (strcmp(rel, "postalCode") == 0) {
		put(ld, rec->postcode, sizeof(rec->postcode), v, "postal code");
	} else if (strcmp(rel, "city") == 0) {
		put(ld, rec->city, sizeof(rec->city), v, "city");
	} else if (strcmp(rel, "country") == 0) {
		put(ld, rec->country, sizeof(rec->country), v, "country");
	}
}

/* name_value - a value of the first name of a Practitioner. */
static void
name_value(struct fhir_load *ld, const char *rel, const char *v)
{
	struct fhir_entry *e = &ld->ent;

	if (e->n_name != 1)
		return;
	if (strcmp(rel, "family") == 0) {
		put(ld, e->rec.family, sizeof(e->rec.family), v, "family name");
	} else if (strcmp(rel, "given") == 0 && !e->has_given) {
		e->has_given = true;
		put(ld, e->rec.given, sizeof(e->rec.given), v, "given name");
	} else if (strcmp(rel, "prefix") == 0 && !e->has_prefix) {
		e->has_prefix = true;
		put(ld, e->rec.title, sizeof(e->rec.title), v, "name prefix");
	}
}

/* on_value - an element of the resource that carries value="v". */
static void
on_value(struct fhir_load *ld, int depth, const char *v)
{
	struct fhir_entry *e = &ld->ent;
	const char *path = ld->path, *rel;
	bool person;
	int use;

	if (strcmp(path, "id") == 0) {
		/* too long: its start stays, for the message to quote */
		e->has_id = true;
		e->id_long = strlen(v) >= sizeof(e->id);
		(void)str_copyn(e->id, sizeof(e->id), v,
		    e->id_long ? sizeof(e->id) - 1 : strlen(v));
	} else if ((rel = ident_rel(ld, path, &person)) != NULL) {
		struct fhir_ident *id = &e->ident;
		if (strcmp(rel, "system") == 0)
			take(id->system, sizeof(id->system), v, NULL);
		else if (strcmp(rel, "value") == 0)
			take(id->value, sizeof(id->value), v, &id->value_long);
		else if (strcmp(rel, "type/coding/code") == 0 &&
		    id->type[0] == '\0')
			take(id->type, sizeof(id->type), v, NULL);
	} else if ((rel = sub(path, "telecom")) != NULL) {
		tel_value(ld, depth, rel, v);
	} else if ((rel = sub(path, "address")) != NULL) {
		address_value(ld, rel, v);
	} else if ((rel = coding_rel(ld, path, &use)) != NULL) {
		struct fhir_coding *c = &e->coding;
		if (strcmp(rel, "system") == 0)
			take(c->system, sizeof(c->system), v, NULL);
		else if (strcmp(rel, "code") == 0)
			take(c->code, sizeof(c->code), v, &c->code_long);
		else if (strcmp(rel, "display") == 0)
			take(c->display, sizeof(c->display), v,
			    &c->display_long);
	} else if (e->kind == RES_PRACT &&
	    (rel = sub(path, "name")) != NULL) {
		name_value(ld, rel, v);
	} else if (e->kind == RES_ORG && strcmp(path, "name") == 0) {
		put(ld, e->rec.org_name, sizeof(e->rec.org_name), v,
		    "organization name");
	} else if (e->kind == RES_ROLE &&
	    strcmp(path, "organization/reference") == 0) {
		org_reference(ld, v);
	}
}

/* on_open - an element of the resource begins: compounds start. */
static void
on_open(struct fhir_load *ld)
{
	struct fhir_entry *e = &ld->ent;
	const char *path = ld->path, *rel;
	bool person;
	int use;

	if ((rel = ident_rel(ld, path, &person)) != NULL && *rel == '\0')
		memset(&e->ident, 0, sizeof(e->ident));
	else if (strcmp(path, "telecom") == 0)
		memset(&e->tel, 0, sizeof(e->tel));
	else if ((rel = coding_rel(ld, path, &use)) != NULL && *rel == '\0')
		memset(&e->coding, 0, sizeof(e->coding));
	else if (strcmp(path, "address") == 0)
		e->n_addr++;
	else if (e->kind == RES_PRACT && strcmp(path, "name") == 0)
		e->n_name++;
}

/* on_close - an element of the resource ends: compounds are done. */
static void
on_close(struct fhir_load *ld)
{
	const char *path = ld->path, *rel;
	bool person;
	int use;

	if ((rel = ident_rel(ld, path, &person)) != NULL && *rel == '\0') {
		if (person)
			ident_person(ld);
		else
			ident_struct(ld);
	} else if (strcmp(path, "telecom") == 0) {
		tel_done(ld);
	} else if ((rel = coding_rel(ld, path, &use)) != NULL &&
	    *rel == '\0') {
		coding_done(ld, use);
	}
}

static bool
valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* report_bad - a skipped entry, or the end of the read when strict. */
static int
report_bad(struct fhir_load *ld, long line, const char *why)
{
	struct dir_read_opts *o = ld->o;

	if (o->strict) {
		seterr(ld, line, "%s", why);
		return ERR_INVAL;
	}
	o->bad_r++;
	if (o->bad != NULL)
		o->bad(ld->name, (unsigned long)(line > 0 ? line : 0), why,
		    o->bad_arg);
	return 0;
}

/* entry_done - the end of a resource: hand its record on, or report
 * why it is skipped. */
static int
entry_done(struct fhir_load *ld)
{
	struct fhir_entry *e = &ld->ent;
	struct dir_record *rec = &e->rec;
	char why[WHY_LEN + ID_LEN + 32], q[ECHO_MAX * 4 + 8];
	int r;

	if (e->kind == RES_NONE || e->kind == RES_OTHER)
		return 0;
	if (!e->has_id || (e->id[0] == '\0' && !e->id_long)) {
		snprintf(why, sizeof(why), "%s entry without id", e->type);
		return report_bad(ld, e->line, why);
	}
	if (e->id_long || !valid_id(e->id)) {
		echo(e->id, q, sizeof(q));
		snprintf(why, sizeof(why), "%s id '%s%s' is not a FHIR id",
		    e->type, q, e->id_long ? "..." : "");
		return report_bad(ld, e->line, why);
	}
	if (e->bad) {
		snprintf(why, sizeof(why), "%s/%s: %s", e->type, e->id,
		    e->why);
		return report_bad(ld, e->bad_line, why);
	}
	if (str_fmt(rec->key, sizeof(rec->key), "fhir:%s/%s", e->type,
	    e->id) < 0)
		return report_bad(ld, e->line, "key too long");
	if (e->kind == RES_ROLE && rec->org_id[0] == '\0')
		memcpy(rec->org_id, e->org_ref, sizeof(rec->org_id));
	if (e->kind != RES_ORG && rec->idnat[0] == '\0' &&
	    rec->rpps[0] != '\0') {
		/* IdNat_PS is "8" + RPPS: searches by either find it */
		(void)str_fmt(rec->idnat, sizeof(rec->idnat), "8%s",
		    rec->rpps);
		memcpy(rec->id_type, "8", 2);
	}
	if (str_copy(rec->src_file, sizeof(rec->src_file), ld->name) < 0)
		rec->src_file[0] = '\0';
	rec->src_line = e->line > 0 ? (uint32_t)e->line : 0;
	if ((r = ld->emit(rec, ld->arg)) < 0) {
		/* the emitter may have said why in err: keep its words */
		if (ld->errlen > 0 && ld->err[0] != '\0')
			ld->has_err = true;
		seterr(ld, e->line, "%s/%s: %s", e->type, e->id, err_str(r));
		return r;
	}
	return 0;
}

/* ---- the walk ---- */

static bool
in_fhir(xmlTextReaderPtr rd, const char *local)
{
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(rd);
	const xmlChar *name = xmlTextReaderConstLocalName(rd);

	return ns != NULL && name != NULL &&
	    strcmp((const char *)ns, FHIR_NS) == 0 &&
	    (local == NULL || strcmp((const char *)name, local) == 0);
}

/* check_root - the first element must be a Bundle of FHIR. */
static int
check_root(struct fhir_load *ld, xmlTextReaderPtr rd)
{
	const xmlChar *name = xmlTextReaderConstLocalName(rd);
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(rd);
	char q[ECHO_MAX * 4 + 8];

	if (in_fhir(rd, "Bundle"))
		return 0;
	echo(name != NULL ? (const char *)name : "", q, sizeof(q));
	if (name == NULL || strcmp((const char *)name, "Bundle") != 0)
		seterr(ld, node_line(rd), "root element is '%s', expected "
		    "'Bundle' (not a FHIR bundle)", q);
	else if (ns == NULL)
		seterr(ld, node_line(rd), "root element 'Bundle' has no "
		    "namespace, expected " FHIR_NS);
	else {
		echo((const char *)ns, q, sizeof(q));
		seterr(ld, node_line(rd), "root element 'Bundle' is in "
		    "namespace '%s', expected " FHIR_NS, q);
	}
	return ERR_INVAL;
}

/* make_path - the names from the resource's first child down to depth,
 * joined by '/'; "" when it does not fit (then nothing matches). */
static void
make_path(struct fhir_load *ld, int depth)
{
	size_t o = 0;

	for (int d = ld->res_depth + 1; d <= depth; d++) {
		size_t n = strlen(ld->lv[d].name);
		if (n == 0 || o + n + 2 > sizeof(ld->path)) {
			o = 0;
			break;
		}
		if (o > 0)
			ld->path[o++] = '/';
		memcpy(ld->path + o, ld->lv[d].name, n);
		o += n;
	}
	ld->path[o] = '\0';
}

static int
resource_kind(const char *name, const char **type_r)
{
	static const struct {
		const char *name;
		int kind;
	} kinds[] = {
		{ "Practitioner", RES_PRACT },
		{ "PractitionerRole", RES_ROLE },
		{ "Organization", RES_ORG },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, kinds[i].name) == 0) {
			*type_r = kinds[i].name;
			return kinds[i].kind;
		}
	*type_r = "resource";
	return RES_OTHER;
}

/* resource_element - an element at or under a resource we read. */
static void
resource_element(struct fhir_load *ld, xmlTextReaderPtr rd, int depth)
{
	struct fhir_level *lv = &ld->lv[depth];
	const char *name = (const char *)xmlTextReaderConstLocalName(rd);

	if (name == NULL || str_copy(lv->name, sizeof(lv->name), name) < 0)
		lv->name[0] = '\0';
	lv->url[0] = '\0';
	if (strcmp(lv->name, "extension") == 0) {
		xmlChar *url = xmlTextReaderGetAttribute(rd,
		    (const xmlChar *)"url");
		if (url != NULL &&
		    str_copy(lv->url, sizeof(lv->url), (char *)url) < 0)
			lv->url[0] = '\0';
		xmlFree(url);
	}
	make_path(ld, depth);
	on_open(ld);
	xmlChar *v = xmlTextReaderGetAttribute(rd, (const xmlChar *)"value");
	if (v != NULL) {
		char *t = str_trim((char *)v);
		if (*t != '\0')
			on_value(ld, depth, t);
		xmlFree(v);
	}
}

struct walk_state {
	bool seen_root, root_closed;
	int skip_depth;		/* in an element of another namespace */
	bool in_entry, in_resource;
};

/* on_element - a start tag (empty ones too: on_end follows). */
static int
on_element(struct fhir_load *ld, struct walk_state *w, xmlTextReaderPtr rd,
	   int depth)
{
	struct fhir_entry *e = &ld->ent;

	if (!w->seen_root) {
		w->seen_root = true;
		return check_root(ld, rd);
	}
	if (w->skip_depth >= 0)
		return 0;
	if (!in_fhir(rd, NULL)) {
		/* the narrative's XHTML, another profile's markup */
		w->skip_depth = depth;
		return 0;
	}
	if (depth == 1 && in_fhir(rd, "entry")) {
		w->in_entry = true;
		ld->o->lines_r++;
		e->kind = RES_NONE;
	} else if (depth == 2 && w->in_entry && in_fhir(rd, "resource")) {
		w->in_resource = true;
	} else if (depth == 3 && w->in_resource) {
		const char *type;
		int kind = resource_kind(
		    (const char *)xmlTextReaderConstLocalName(rd), &type);
		if (e->kind != RES_NONE) {
			/* FHIR allows one resource per entry: the first
			 * one was handed on, this one is ignored */
			e->kind = RES_OTHER;
			return report_bad(ld, ld->line,
			    "more than one resource in an entry");
		}
		entry_start(ld, kind, type, ld->line);
		ld->res_depth = depth;
	} else if (depth > 3 && w->in_resource && e->kind > RES_OTHER) {
		resource_element(ld, rd, depth);
	}
	return 0;
}

/* on_end - an end tag, or right after an empty element. */
static int
on_end(struct fhir_load *ld, struct walk_state *w, int depth)
{
	struct fhir_entry *e = &ld->ent;
	int r = 0;

	if (depth == 0)
		w->root_closed = true;
	if (w->skip_depth >= 0) {
		if (depth == w->skip_depth)
			w->skip_depth = -1;
		return 0;
	}
	if (depth > 3 && w->in_resource && e->kind > RES_OTHER) {
		make_path(ld, depth);
		on_close(ld);
	} else if (depth == 3 && w->in_resource) {
		r = entry_done(ld);
		if (e->kind != RES_NONE)
			e->kind = RES_OTHER;	/* a second one is bad */
	} else if (depth == 2) {
		w->in_resource = false;
	} else if (depth == 1) {
		w->in_entry = w->in_resource = false;
	}
	return r;
}

/*
 * truncation_hint - libxml2 failed before the end of the root: say when
 * the cause is likely a file cut short (a broken download). libxml2's
 * push parser says "Extra content at the end of the document" or
 * "Premature end of data" for a file that ends between two nodes: that
 * is replaced. Cut inside a tag, it names what it could not finish, at
 * the end of the input: that is kept, with the hint after it.
 */
static void
truncation_hint(struct fhir_load *ld, xmlTextReaderPtr rd, bool seen_root)
{
	if (ld->xml_code == 0)
		return;		/* our own error, not the parser's */
	if (seen_root && (ld->xml_code == XML_ERR_DOCUMENT_END ||
	    ld->xml_code == XML_ERR_TAG_NOT_FINISHED) && ld->eof) {
		/* the last line that has something, as an editor shows */
		long line = ld->end_line - (ld->ends_nl && ld->end_line > 1);
		ld->has_err = false;
		seterr(ld, line, "the file ends inside the bundle "
		    "(truncated?)");
		return;
	}
	if (!seen_root && ld->eof && ld->end_line == 1 && ld->end_col == 1) {
		ld->has_err = false;
		seterr(ld, 0, "empty file");
		return;
	}
	if (!seen_root && ld->xml_code == XML_ERR_DOCUMENT_END && ld->eof) {
		long line = ld->end_line - (ld->ends_nl && ld->end_line > 1);
		ld->has_err = false;
		seterr(ld, line, "the file ends before the root element "
		    "(truncated?)");
		return;
	}
	if (!seen_root && ld->xml_code == XML_ERR_DOCUMENT_EMPTY) {
		/* libxml2 says "Document is empty" for any text without
		 * markup: say what it means here */
		ld->has_err = false;
		seterr(ld, 1, "not an XML document (a FHIR bundle was "
		    "expected)");
		return;
	}
	if (ld->eof && ld->xml_line == ld->end_line &&
	    ld->xml_col + 2 >= ld->end_col) {
		size_t n = strlen(ld->err);
		if (n < ld->errlen)
			snprintf(ld->err + n, ld->errlen - n,
			    " (the file ends there: truncated?)");
	}
}

/* refuse_doctype - the one answer to every DTD, at its line. */
static int
refuse_doctype(struct fhir_load *ld, xmlTextReaderPtr rd)
{
	long line = ld->doctype_line;

	if (line <= 0)
		line = xmlTextReaderGetParserLineNumber(rd);
	/* this reason wins over whatever libxml2 already found in the
	 * chunk it parsed (an entity loop in the billion laughs) */
	ld->has_err = false;
	seterr(ld, line, "DOCTYPE not allowed in a FHIR bundle");
	return ERR_INVAL;
}

/* walk - read every node. Returns 0 at the end of a well-formed bundle,
 * negative with ld->err set otherwise. */
static int
walk(struct fhir_load *ld, xmlTextReaderPtr rd)
{
	struct walk_state w = { .skip_depth = -1 };
	int r;

	while ((r = xmlTextReaderRead(rd)) == 1) {
		int type = xmlTextReaderNodeType(rd);
		int depth = xmlTextReaderDepth(rd);

		if (type == XML_READER_TYPE_DOCUMENT_TYPE)
			return refuse_doctype(ld, rd);
		if (ld->has_err) {	/* a recoverable XML error */
			r = -1;
			break;
		}
		if (type != XML_READER_TYPE_ELEMENT &&
		    type != XML_READER_TYPE_END_ELEMENT)
			continue;
		if (depth < 0 || depth >= DIR_XML_MAX_DEPTH) {
			seterr(ld, node_line(rd), "elements nested deeper "
			    "than %d levels", DIR_XML_MAX_DEPTH);
			return ERR_LIMIT;
		}
		if (type == XML_READER_TYPE_ELEMENT) {
			ld->line = node_line(rd);
			if ((r = on_element(ld, &w, rd, depth)) < 0)
				return r;
			if (xmlTextReaderIsEmptyElement(rd) == 1 &&
			    (r = on_end(ld, &w, depth)) < 0)
				return r;
		} else if ((r = on_end(ld, &w, depth)) < 0) {
			return r;
		}
	}
	if (r < 0 || ld->has_err) {
		if (!w.root_closed)
			truncation_hint(ld, rd, w.seen_root);
		seterr(ld, xmlTextReaderGetParserLineNumber(rd),
		    "not a well-formed XML document");
		return ERR_INVAL;
	}
	if (!w.seen_root) {
		seterr(ld, 0, "no root element");
		return ERR_INVAL;
	}
	return 0;
}

/*
 * had_dtd - after a failure: when the document has a DOCTYPE, say that
 * instead, as walk() does when it meets one (libxml2 may fail inside the
 * DTD before the reader returns it). Returns the reader's document, for
 * the caller to free after the reader.
 */
static xmlDocPtr
had_dtd(struct fhir_load *ld, xmlTextReaderPtr rd)
{
	xmlDocPtr doc = xmlTextReaderCurrentDoc(rd);

	if ((doc != NULL && (doc->intSubset != NULL ||
	    doc->extSubset != NULL)) || ld->doctype_line > 0)
		(void)refuse_doctype(ld, rd);
	return doc;
}

/* open_input - the file, opened once and checked on its descriptor. */
static int
open_input(struct fhir_load *ld, const char *path)
{
	struct stat sb;

	ld->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
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
	return 0;
}

int
dir_read_fhir(const char *path, struct dir_read_opts *o, dir_emit_fn *emit,
	      void *arg, char *err, size_t errlen)
{
	struct dir_read_opts none = { 0 };
	struct fhir_load *ld;
	xmlTextReaderPtr rd;
	int r;

	if (o == NULL)
		o = &none;
	o->bad_r = o->lines_r = 0;
	if (errlen > 0)
		err[0] = '\0';
	ld = calloc(1, sizeof(*ld));
	if (ld == NULL) {
		snprintf(err, errlen, "%s: out of memory", o->display_name !=
		    NULL ? o->display_name : path);
		return ERR_NOMEM;
	}
	ld->name = o->display_name != NULL ? o->display_name : path;
	ld->o = o;
	ld->emit = emit;
	ld->arg = arg;
	ld->err = err;
	ld->errlen = errlen;
	ld->fd = -1;
	ld->end_line = ld->end_col = 1;
	if ((r = open_input(ld, path)) < 0)
		goto out;

	/* libxml2 reports some errors (before the reader exists, or from
	 * its I/O layer) through the thread's global handler, the others
	 * through the reader's: take both, put the global one back. */
	xmlInitParser();
	xmlStructuredErrorFunc old_fn = xmlStructuredError;
	void *old_ctx = xmlStructuredErrorContext;
	xmlSetStructuredErrorFunc(ld, xml_error);
	rd = xmlReaderForIO(xml_read, NULL, ld, ld->name, NULL,
	    FHIR_XML_OPTIONS);
	if (rd == NULL) {
		seterr(ld, 0, "cannot start the XML reader");
		r = ERR_NOMEM;
	} else {
		xmlTextReaderSetStructuredErrorHandler(rd, xml_error, ld);
		r = walk(ld, rd);
		xmlDocPtr doc = r < 0 && ld->xml_code != 0 ?
		    had_dtd(ld, rd) : NULL;
		xmlFreeTextReader(rd);
		xmlFreeDoc(doc);
	}
	xmlSetStructuredErrorFunc(old_ctx, old_fn);
out:
	if (ld->fd >= 0 && close(ld->fd) != 0 && r == 0) {
		seterr(ld, 0, "close: %s", strerror(errno));
		r = ERR_IO;
	}
	free(ld);
	return r;
}
