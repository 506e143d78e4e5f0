/* SPDX-License-Identifier: MIT */
/*
 * imap_etpan_client.c - a conformance probe for an IMAP server's FETCH
 * responses, seen through a strict third-party parser: libetpan's
 * mailimap (the blocking IMAP client of libetpan 1.9, as in Debian 12).
 *
 * It logs in over implicit TLS, selects a mailbox and either
 *
 *   - (default) runs FETCH 1:* (UID ENVELOPE BODYSTRUCTURE RFC822.SIZE)
 *     and prints what libetpan parsed, as a canonical text dump (below);
 *   - (-s SEQ SECTION...) runs FETCH SEQ BODY.PEEK[SECTION] once per
 *     section and prints the size and the SHA-256 of the returned bytes.
 *
 * Any libetpan error (above all MAILIMAP_ERROR_PARSE: the server sent
 * something libetpan's grammar refuses) ends the run with a message on
 * stderr naming the command, the error and the last bytes received, and
 * exit status 1. Usage errors exit with 2.
 *
 * TLS: mailimap_ssl_connect() of Debian's libetpan is built on GnuTLS
 * and does not verify the server certificate (no CA, no host name
 * check). That is acceptable here: the server is a private test daemon
 * on loopback and the point of this program is libetpan's parser, not
 * its TLS. Never copy this connection code into anything that talks to
 * a real server.
 *
 * The dump: one item per line, two spaces of indentation per level,
 * fields in a fixed order whatever order the server sent them in, every
 * field of libetpan's structures shown (an absent one as NIL, an item
 * the server did not send as MISSING, which also fails the run). Strings
 * are written "quoted" with \\, \", \r, \n and any other byte outside
 * 0x20-0x7e as \xHH, so the output is plain ASCII and byte-exact. Each
 * part is labelled with its IMAP section number and, for a single part,
 * the kind libetpan parsed it as (text, basic, message); a multipart
 * that has no number of its own (the message's root, the body of a
 * message/rfc822 part) is labelled with the section that returns its
 * content, TEXT or P.TEXT. A node's own fields come first, then what it
 * contains (the parts of a multipart; the envelope and body of a
 * message/rfc822 part).
 *
 * Case: RFC 2045 and RFC 2183 make media types, subtypes, parameter
 * names, transfer encodings and disposition types case-insensitive, and
 * libetpan already folds some of them (it maps "TEXT", "MESSAGE"
 * "RFC822", the five basic types and the five standard encodings to
 * constants). So the dump lowercases all of those; parameter values and
 * every other string are printed exactly as received. -r prints them as
 * libetpan stored them instead.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>
#include <openssl/evp.h>

#define PROG "imap_etpan_client"
#define TIMEOUT_SECONDS 60
#define TAIL_MAX 2048		/* bytes received kept for error reports */
#define SECTION_DEPTH_MAX 64	/* numbers in a section spec */
#define LABEL_MAX 1024		/* a part's section number, as text */

/* ---- the last bytes received, for error messages ---- */

static char tail[TAIL_MAX];
static size_t tail_len;

static void
logger(mailimap *session, int log_type, const char *str, size_t size,
    void *context)
{
	(void)session;
	(void)context;
	if (log_type != MAILSTREAM_LOG_TYPE_DATA_RECEIVED || str == NULL)
		return;
	if (size >= TAIL_MAX) {
		str += size - TAIL_MAX;
		size = TAIL_MAX;
	}
	if (tail_len + size > TAIL_MAX) {
		size_t drop = tail_len + size - TAIL_MAX;
		memmove(tail, tail + drop, tail_len - drop);
		tail_len -= drop;
	}
	memcpy(tail + tail_len, str, size);
	tail_len += size;
}

/* ---- errors ---- */

static const char *
etpan_error_name(int r)
{
	static const char *const names[] = {
		[MAILIMAP_NO_ERROR] = "MAILIMAP_NO_ERROR",
		[MAILIMAP_NO_ERROR_AUTHENTICATED] =
		    "MAILIMAP_NO_ERROR_AUTHENTICATED",
		[MAILIMAP_NO_ERROR_NON_AUTHENTICATED] =
		    "MAILIMAP_NO_ERROR_NON_AUTHENTICATED",
		[MAILIMAP_ERROR_BAD_STATE] = "MAILIMAP_ERROR_BAD_STATE",
		[MAILIMAP_ERROR_STREAM] = "MAILIMAP_ERROR_STREAM",
		[MAILIMAP_ERROR_PARSE] = "MAILIMAP_ERROR_PARSE",
		[MAILIMAP_ERROR_CONNECTION_REFUSED] =
		    "MAILIMAP_ERROR_CONNECTION_REFUSED",
		[MAILIMAP_ERROR_MEMORY] = "MAILIMAP_ERROR_MEMORY",
		[MAILIMAP_ERROR_FATAL] = "MAILIMAP_ERROR_FATAL",
		[MAILIMAP_ERROR_PROTOCOL] = "MAILIMAP_ERROR_PROTOCOL",
		[MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION] =
		    "MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION",
		[MAILIMAP_ERROR_FETCH] = "MAILIMAP_ERROR_FETCH",
		[MAILIMAP_ERROR_LOGIN] = "MAILIMAP_ERROR_LOGIN",
		[MAILIMAP_ERROR_LOGOUT] = "MAILIMAP_ERROR_LOGOUT",
		[MAILIMAP_ERROR_SELECT] = "MAILIMAP_ERROR_SELECT",
		[MAILIMAP_ERROR_INVAL] = "MAILIMAP_ERROR_INVAL",
		[MAILIMAP_ERROR_SSL] = "MAILIMAP_ERROR_SSL",
	};

	if (r >= 0 && (size_t)r < sizeof(names) / sizeof(names[0]) &&
	    names[r] != NULL)
		return names[r];
	return "other libetpan error";
}

/* print_escaped - s[len] with the dump's escapes, to f. */
static void
print_escaped(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c == '"')
			fprintf(f, "\\%c", c);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c > 0x7e)
			fprintf(f, "\\x%02X", c);
		else
			fputc(c, f);
	}
}

/* fail - report a libetpan error r of what (a command) and the last
 * bytes received; returns 1, the exit status. */
static int
fail(mailimap *imap, const char *what, int r)
{
	fprintf(stderr, "%s: %s failed: %s (%d)", PROG, what,
	    etpan_error_name(r), r);
	if (r == MAILIMAP_ERROR_PARSE)
		fprintf(stderr, ": libetpan could not parse the response");
	fputc('\n', stderr);
	if (imap != NULL && imap->imap_response != NULL) {
		fprintf(stderr, "%s: last response text: \"", PROG);
		print_escaped(stderr, imap->imap_response,
		    strlen(imap->imap_response));
		fprintf(stderr, "\"\n");
	}
	if (tail_len > 0) {
		fprintf(stderr, "%s: last %zu bytes received: \"", PROG,
		    tail_len);
		print_escaped(stderr, tail, tail_len);
		fprintf(stderr, "\"\n");
	}
	return 1;
}

/* ---- the dump ---- */

static bool raw_case;	/* -r: no lowercasing */
static int problems;	/* items missing, unknown or too long */

static void
indent(int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", stdout);
}

static void item(int depth, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void label_fmt(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* item - "name" at depth, then the rest of the line from fmt (none
 * when fmt is NULL). */
static void
item(int depth, const char *name, const char *fmt, ...)
{
	va_list ap;

	indent(depth);
	fputs(name, stdout);
	if (fmt != NULL) {
		fputc(' ', stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	fputc('\n', stdout);
}

/* put_string - a string value: NIL or quoted; lowercased when fold is
 * set (and -r was not given). */
static void
put_string(const char *s, bool fold)
{
	if (s == NULL) {
		fputs("NIL", stdout);
		return;
	}
	fputc('"', stdout);
	if (!fold || raw_case) {
		print_escaped(stdout, s, strlen(s));
	} else {
		for (const char *p = s; *p != '\0'; p++) {
			char c = *p;
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			print_escaped(stdout, &c, 1);
		}
	}
	fputc('"', stdout);
}

/* str_item - "name STRING" at depth. */
static void
str_item(int depth, const char *name, const char *s, bool fold)
{
	indent(depth);
	fputs(name, stdout);
	fputc(' ', stdout);
	put_string(s, fold);
	fputc('\n', stdout);
}

static void
dump_address_list(int depth, const char *name, clist *list)
{
	clistiter *it;
	int n = 0;

	if (list == NULL) {
		item(depth, name, "NIL");
		return;
	}
	item(depth, name, "%d", clist_count(list));
	for (it = clist_begin(list); it != NULL; it = clist_next(it)) {
		struct mailimap_address *a = clist_content(it);
		item(depth + 1, "address", "%d", ++n);
		str_item(depth + 2, "name", a->ad_personal_name, false);
		str_item(depth + 2, "adl", a->ad_source_route, false);
		str_item(depth + 2, "mailbox", a->ad_mailbox_name, false);
		str_item(depth + 2, "host", a->ad_host_name, false);
	}
}

static void
dump_envelope(int depth, const struct mailimap_envelope *e)
{
	if (e == NULL) {
		item(depth, "envelope", "NIL");
		return;
	}
	item(depth, "envelope", NULL);
	depth++;
	str_item(depth, "date", e->env_date, false);
	str_item(depth, "subject", e->env_subject, false);
	dump_address_list(depth, "from",
	    e->env_from != NULL ? e->env_from->frm_list : NULL);
	dump_address_list(depth, "sender",
	    e->env_sender != NULL ? e->env_sender->snd_list : NULL);
	dump_address_list(depth, "reply-to",
	    e->env_reply_to != NULL ? e->env_reply_to->rt_list : NULL);
	dump_address_list(depth, "to",
	    e->env_to != NULL ? e->env_to->to_list : NULL);
	dump_address_list(depth, "cc",
	    e->env_cc != NULL ? e->env_cc->cc_list : NULL);
	dump_address_list(depth, "bcc",
	    e->env_bcc != NULL ? e->env_bcc->bcc_list : NULL);
	str_item(depth, "in-reply-to", e->env_in_reply_to, false);
	str_item(depth, "message-id", e->env_message_id, false);
}

/* dump_params - "name NIL" or "name N" then one "param NAME VALUE" per
 * parameter. */
static void
dump_params(int depth, const char *name,
    const struct mailimap_body_fld_param *p)
{
	clistiter *it;

	if (p == NULL || p->pa_list == NULL) {
		item(depth, name, "NIL");
		return;
	}
	item(depth, name, "%d", clist_count(p->pa_list));
	for (it = clist_begin(p->pa_list); it != NULL; it = clist_next(it)) {
		struct mailimap_single_body_fld_param *sp = clist_content(it);
		indent(depth + 1);
		fputs("param ", stdout);
		put_string(sp->pa_name, true);
		fputc(' ', stdout);
		put_string(sp->pa_value, false);
		fputc('\n', stdout);
	}
}

static void
dump_disposition(int depth, const struct mailimap_body_fld_dsp *d)
{
	if (d == NULL) {
		item(depth, "disposition", "NIL");
		return;
	}
	str_item(depth, "disposition", d->dsp_type, true);
	dump_params(depth + 1, "params", d->dsp_attributes);
}

static void
dump_language(int depth, const struct mailimap_body_fld_lang *l)
{
	clistiter *it;

	if (l == NULL) {
		item(depth, "language", "NIL");
		return;
	}
	if (l->lg_type == MAILIMAP_BODY_FLD_LANG_SINGLE) {
		str_item(depth, "language", l->lg_data.lg_single, false);
		return;
	}
	if (l->lg_type != MAILIMAP_BODY_FLD_LANG_LIST ||
	    l->lg_data.lg_list == NULL) {
		item(depth, "language", "UNKNOWN-TYPE-%d", l->lg_type);
		problems++;
		return;
	}
	indent(depth);
	fputs("language (", stdout);
	for (it = clist_begin(l->lg_data.lg_list); it != NULL;
	    it = clist_next(it)) {
		put_string(clist_content(it), false);
		if (clist_next(it) != NULL)
			fputc(' ', stdout);
	}
	fputs(")\n", stdout);
}

static void
dump_extensions(int depth, clist *list)
{
	clistiter *it;

	if (list == NULL)
		return;
	for (it = clist_begin(list); it != NULL; it = clist_next(it)) {
		struct mailimap_body_extension *x = clist_content(it);
		switch (x->ext_type) {
		case MAILIMAP_BODY_EXTENSION_NSTRING:
			str_item(depth, "extension", x->ext_data.ext_nstring,
			    false);
			break;
		case MAILIMAP_BODY_EXTENSION_NUMBER:
			item(depth, "extension", "%" PRIu32,
			    x->ext_data.ext_number);
			break;
		case MAILIMAP_BODY_EXTENSION_LIST:
			item(depth, "extension", "list");
			dump_extensions(depth + 1,
			    x->ext_data.ext_body_extension_list);
			break;
		default:
			item(depth, "extension", "UNKNOWN-TYPE-%d",
			    x->ext_type);
			problems++;
			break;
		}
	}
}

static const char *
encoding_name(const struct mailimap_body_fld_enc *enc)
{
	switch (enc->enc_type) {
	case MAILIMAP_BODY_FLD_ENC_7BIT: return "7bit";
	case MAILIMAP_BODY_FLD_ENC_8BIT: return "8bit";
	case MAILIMAP_BODY_FLD_ENC_BINARY: return "binary";
	case MAILIMAP_BODY_FLD_ENC_BASE64: return "base64";
	case MAILIMAP_BODY_FLD_ENC_QUOTED_PRINTABLE: return "quoted-printable";
	default: return NULL;
	}
}

static void
dump_fields(int depth, const struct mailimap_body_fields *f)
{
	dump_params(depth, "params", f->bd_parameter);
	str_item(depth, "id", f->bd_id, false);
	str_item(depth, "description", f->bd_description, false);
	if (f->bd_encoding == NULL) {
		item(depth, "encoding", "MISSING");
		problems++;
	} else if (f->bd_encoding->enc_type == MAILIMAP_BODY_FLD_ENC_OTHER) {
		str_item(depth, "encoding", f->bd_encoding->enc_value, true);
	} else if (encoding_name(f->bd_encoding) != NULL) {
		str_item(depth, "encoding", encoding_name(f->bd_encoding),
		    false);
	} else {
		item(depth, "encoding", "UNKNOWN-TYPE-%d",
		    f->bd_encoding->enc_type);
		problems++;
	}
	item(depth, "size", "%" PRIu32, f->bd_size);
}

static const char *
media_basic_name(const struct mailimap_media_basic *m)
{
	switch (m->med_type) {
	case MAILIMAP_MEDIA_BASIC_APPLICATION: return "application";
	case MAILIMAP_MEDIA_BASIC_AUDIO: return "audio";
	case MAILIMAP_MEDIA_BASIC_IMAGE: return "image";
	case MAILIMAP_MEDIA_BASIC_MESSAGE: return "message";
	case MAILIMAP_MEDIA_BASIC_VIDEO: return "video";
	default: return NULL;
	}
}

static void dump_body(int depth, const struct mailimap_body *b,
    const char *label);

/* label_fmt - snprintf for section labels; a label too long for
 * LABEL_MAX (a part nested hundreds deep) is cut and counted as a
 * problem rather than silently shown wrong. */
static void
label_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, LABEL_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= LABEL_MAX) {
		fprintf(stderr, "%s: section label too long\n", PROG);
		problems++;
	}
}

/* child_label - the section number of child n of the node numbered
 * label ("" for the message itself). */
static void
child_label(char *out, const char *label, int n)
{
	if (label[0] == '\0')
		label_fmt(out, "%d", n);
	else
		label_fmt(out, "%s.%d", label, n);
}

/* dump_ext_1part - the extension data of a single part. */
static void
dump_ext_1part(int depth, const struct mailimap_body_ext_1part *x)
{
	if (x == NULL) {
		item(depth, "extension-data", "NIL");
		return;
	}
	str_item(depth, "md5", x->bd_md5, false);
	dump_disposition(depth, x->bd_disposition);
	dump_language(depth, x->bd_language);
	str_item(depth, "location", x->bd_loc, false);
	dump_extensions(depth, x->bd_extension_list);
}

/* dump_1part - a single part numbered num, with the kind libetpan gave
 * it (body-type-text, -basic or -msg of RFC 3501's grammar): its own
 * fields, then for message/rfc822 the envelope and body of the message
 * it holds. */
static void
dump_1part(int depth, const struct mailimap_body_type_1part *p,
    const char *num)
{
	const struct mailimap_body_type_msg *msg;
	char inner[LABEL_MAX];
	const char *kind;

	switch (p->bd_type) {
	case MAILIMAP_BODY_TYPE_1PART_TEXT: kind = "text"; break;
	case MAILIMAP_BODY_TYPE_1PART_BASIC: kind = "basic"; break;
	case MAILIMAP_BODY_TYPE_1PART_MSG: kind = "message"; break;
	default: kind = "unknown"; break;
	}
	item(depth, "part", "%s %s", num, kind);
	depth++;
	switch (p->bd_type) {
	case MAILIMAP_BODY_TYPE_1PART_TEXT: {
		const struct mailimap_body_type_text *t =
		    p->bd_data.bd_type_text;
		str_item(depth, "type", "text", false);
		str_item(depth, "subtype", t->bd_media_text, true);
		dump_fields(depth, t->bd_fields);
		item(depth, "lines", "%" PRIu32, t->bd_lines);
		dump_ext_1part(depth, p->bd_ext_1part);
		return;
	}
	case MAILIMAP_BODY_TYPE_1PART_BASIC: {
		const struct mailimap_body_type_basic *t =
		    p->bd_data.bd_type_basic;
		const char *type = media_basic_name(t->bd_media_basic);
		str_item(depth, "type", type != NULL ? type :
		    t->bd_media_basic->med_basic_type, type == NULL);
		str_item(depth, "subtype", t->bd_media_basic->med_subtype,
		    true);
		dump_fields(depth, t->bd_fields);
		dump_ext_1part(depth, p->bd_ext_1part);
		return;
	}
	case MAILIMAP_BODY_TYPE_1PART_MSG:
		break;
	default:
		item(depth, "type", "UNKNOWN-TYPE-%d", p->bd_type);
		problems++;
		return;
	}
	msg = p->bd_data.bd_type_msg;
	str_item(depth, "type", "message", false);
	str_item(depth, "subtype", "rfc822", false);
	dump_fields(depth, msg->bd_fields);
	item(depth, "lines", "%" PRIu32, msg->bd_lines);
	dump_ext_1part(depth, p->bd_ext_1part);
	dump_envelope(depth, msg->bd_envelope);
	if (msg->bd_body == NULL) {
		item(depth, "body", "MISSING");
		problems++;
		return;
	}
	/* Its message's body: P.TEXT when multipart, else part P.1. */
	label_fmt(inner, "%s.%s", num,
	    msg->bd_body->bd_type == MAILIMAP_BODY_MPART ? "TEXT" : "1");
	dump_body(depth, msg->bd_body, inner);
}

/* dump_mpart - a multipart shown as label, whose children are numbered
 * under num ("" at the root): its own fields, then its parts. */
static void
dump_mpart(int depth, const struct mailimap_body_type_mpart *m,
    const char *num, const char *label)
{
	const struct mailimap_body_ext_mpart *x = m->bd_ext_mpart;
	clistiter *it;
	int n = 0;

	item(depth, "multipart", "%s", label);
	depth++;
	str_item(depth, "subtype", m->bd_media_subtype, true);
	if (x == NULL) {
		item(depth, "extension-data", "NIL");
	} else {
		dump_params(depth, "params", x->bd_parameter);
		dump_disposition(depth, x->bd_disposition);
		dump_language(depth, x->bd_language);
		str_item(depth, "location", x->bd_loc, false);
		dump_extensions(depth, x->bd_extension_list);
	}
	item(depth, "parts", "%d", m->bd_list != NULL ?
	    clist_count(m->bd_list) : 0);
	for (it = m->bd_list != NULL ? clist_begin(m->bd_list) : NULL;
	    it != NULL; it = clist_next(it)) {
		char sub[LABEL_MAX];
		child_label(sub, num, ++n);
		dump_body(depth, clist_content(it), sub);
	}
}

/* dump_body - a body node; label is its section number, or for a
 * multipart without one its TEXT section ("TEXT", "2.TEXT"). */
static void
dump_body(int depth, const struct mailimap_body *b, const char *label)
{
	if (b->bd_type == MAILIMAP_BODY_1PART &&
	    b->bd_data.bd_body_1part != NULL) {
		dump_1part(depth, b->bd_data.bd_body_1part, label);
	} else if (b->bd_type == MAILIMAP_BODY_MPART &&
	    b->bd_data.bd_body_mpart != NULL) {
		/* Children of "TEXT" are 1, 2...; of "2.TEXT" 2.1, 2.2... */
		char num[LABEL_MAX];
		size_t len = strlen(label);
		if (len >= 4 && strcmp(label + len - 4, "TEXT") == 0)
			len = len > 4 ? len - 5 : 0;
		label_fmt(num, "%.*s", (int)len, label);
		dump_mpart(depth, b->bd_data.bd_body_mpart, num, label);
	} else {
		item(depth, "body", "UNKNOWN-TYPE-%d", b->bd_type);
		problems++;
	}
}

/* dump_message - one FETCH response, its items in a fixed order. */
static void
dump_message(const struct mailimap_msg_att *att)
{
	const struct mailimap_msg_att_static *uid = NULL, *size = NULL;
	const struct mailimap_msg_att_static *env = NULL, *bs = NULL;
	clistiter *it;

	for (it = clist_begin(att->att_list); it != NULL;
	    it = clist_next(it)) {
		struct mailimap_msg_att_item *i = clist_content(it);
		const struct mailimap_msg_att_static *s;
		if (i->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		s = i->att_data.att_static;
		switch (s->att_type) {
		case MAILIMAP_MSG_ATT_UID: uid = s; break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE: size = s; break;
		case MAILIMAP_MSG_ATT_ENVELOPE: env = s; break;
		case MAILIMAP_MSG_ATT_BODYSTRUCTURE: bs = s; break;
		default: break;
		}
	}
	item(0, "message", "%" PRIu32, att->att_number);
	if (uid != NULL) {
		item(1, "uid", "%" PRIu32, uid->att_data.att_uid);
	} else {
		item(1, "uid", "MISSING");
		problems++;
	}
	if (size != NULL) {
		item(1, "rfc822.size", "%" PRIu32,
		    size->att_data.att_rfc822_size);
	} else {
		item(1, "rfc822.size", "MISSING");
		problems++;
	}
	if (env != NULL) {
		dump_envelope(1, env->att_data.att_env);
	} else {
		item(1, "envelope", "MISSING");
		problems++;
	}
	if (bs != NULL && bs->att_data.att_bodystructure != NULL) {
		const struct mailimap_body *b = bs->att_data.att_bodystructure;
		item(1, "bodystructure", NULL);
		dump_body(2, b, b->bd_type == MAILIMAP_BODY_MPART ?
		    "TEXT" : "1");
	} else {
		item(1, "bodystructure", "MISSING");
		problems++;
	}
}

static int
add_att(struct mailimap_fetch_type *ft, struct mailimap_fetch_att *a)
{
	if (a == NULL)
		return MAILIMAP_ERROR_MEMORY;
	int r = mailimap_fetch_type_new_fetch_att_list_add(ft, a);
	if (r != MAILIMAP_NO_ERROR)
		mailimap_fetch_att_free(a);
	return r;
}

/* fetch_structures - FETCH 1:* (UID ENVELOPE BODYSTRUCTURE RFC822.SIZE)
 * and the dump. Returns the exit status. */
static int
fetch_structures(mailimap *imap)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	clistiter *it;
	int r;

	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	if (ft == NULL)
		return fail(imap, "building the FETCH", MAILIMAP_ERROR_MEMORY);
	r = add_att(ft, mailimap_fetch_att_new_uid());
	if (r == MAILIMAP_NO_ERROR)
		r = add_att(ft, mailimap_fetch_att_new_envelope());
	if (r == MAILIMAP_NO_ERROR)
		r = add_att(ft, mailimap_fetch_att_new_bodystructure());
	if (r == MAILIMAP_NO_ERROR)
		r = add_att(ft, mailimap_fetch_att_new_rfc822_size());
	if (r != MAILIMAP_NO_ERROR) {
		mailimap_fetch_type_free(ft);
		return fail(imap, "building the FETCH", r);
	}
	set = mailimap_set_new_interval(1, 0);	/* 1:* */
	if (set == NULL) {
		mailimap_fetch_type_free(ft);
		return fail(imap, "building the FETCH", MAILIMAP_ERROR_MEMORY);
	}
	r = mailimap_fetch(imap, set, ft, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return fail(imap,
		    "FETCH 1:* (UID ENVELOPE BODYSTRUCTURE RFC822.SIZE)", r);
	for (it = clist_begin(result); it != NULL; it = clist_next(it))
		dump_message(clist_content(it));
	mailimap_fetch_list_free(result);
	if (problems > 0) {
		fprintf(stderr, "%s: %d item(s) missing or of an unknown "
		    "kind in the FETCH responses (see the dump)\n", PROG,
		    problems);
		return 1;
	}
	return 0;
}

/* ---- BODY.PEEK[section] ---- */

/* parse_section - a libetpan section for spec: "" (the whole message),
 * "HEADER", "TEXT", or part numbers "1.2.3" optionally followed by
 * ".HEADER", ".TEXT" or ".MIME". NULL for a malformed spec. */
static struct mailimap_section *
parse_section(const char *spec)
{
	enum { NONE, HEADER, TEXT, MIME } what = NONE;
	struct mailimap_section *sec = NULL;
	struct mailimap_section_part *part;
	clist *ids;
	const char *p = spec;

	if (strcasecmp(spec, "HEADER") == 0)
		return mailimap_section_new_header();
	if (strcasecmp(spec, "TEXT") == 0)
		return mailimap_section_new_text();
	if (*spec == '\0')
		return mailimap_section_new(NULL);
	ids = clist_new();
	if (ids == NULL)
		return NULL;
	while (*p != '\0') {
		char *end;
		uint32_t *n;
		unsigned long v;
		if (!isdigit((unsigned char)*p)) {
			if (clist_count(ids) == 0)
				goto bad;
			if (strcasecmp(p, "HEADER") == 0)
				what = HEADER;
			else if (strcasecmp(p, "TEXT") == 0)
				what = TEXT;
			else if (strcasecmp(p, "MIME") == 0)
				what = MIME;
			else
				goto bad;
			break;
		}
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || v == 0 || v > UINT32_MAX ||
		    clist_count(ids) >= SECTION_DEPTH_MAX)
			goto bad;
		n = malloc(sizeof(*n));
		if (n == NULL)
			goto bad;
		*n = (uint32_t)v;
		if (clist_append(ids, n) < 0) {
			free(n);
			goto bad;
		}
		p = end;
		if (*p == '.' && p[1] != '\0')
			p++;
		else if (*p != '\0')
			goto bad;
		else
			break;
	}
	part = mailimap_section_part_new(ids);
	if (part == NULL)
		goto bad;
	ids = NULL;
	switch (what) {
	case NONE: sec = mailimap_section_new_part(part); break;
	case HEADER: sec = mailimap_section_new_part_header(part); break;
	case TEXT: sec = mailimap_section_new_part_text(part); break;
	case MIME: sec = mailimap_section_new_part_mime(part); break;
	}
	if (sec == NULL)
		mailimap_section_part_free(part);
	return sec;
bad:
	if (ids != NULL) {
		for (clistiter *it = clist_begin(ids); it != NULL;
		    it = clist_next(it))
			free(clist_content(it));
		clist_free(ids);
	}
	return NULL;
}

/* fetch_section - FETCH seq BODY.PEEK[spec]; prints "BODY[spec] NIL" or
 * "BODY[spec] size N sha256 HEX". Returns the exit status. */
static int
fetch_section(mailimap *imap, uint32_t seq, const char *spec)
{
	struct mailimap_section *sec;
	struct mailimap_fetch_att *att;
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	const struct mailimap_msg_att_body_section *got = NULL;
	clist *result = NULL;
	clistiter *it, *jt;
	char what[128];
	int r, found = 0;

	snprintf(what, sizeof(what), "FETCH %" PRIu32 " BODY.PEEK[%s]", seq,
	    spec);
	sec = parse_section(spec);
	if (sec == NULL) {
		fprintf(stderr, "%s: malformed section \"%s\"\n", PROG, spec);
		return 2;
	}
	att = mailimap_fetch_att_new_body_peek_section(sec);
	if (att == NULL) {
		mailimap_section_free(sec);
		return fail(imap, what, MAILIMAP_ERROR_MEMORY);
	}
	ft = mailimap_fetch_type_new_fetch_att(att);
	if (ft == NULL) {
		mailimap_fetch_att_free(att);
		return fail(imap, what, MAILIMAP_ERROR_MEMORY);
	}
	set = mailimap_set_new_single(seq);
	if (set == NULL) {
		mailimap_fetch_type_free(ft);
		return fail(imap, what, MAILIMAP_ERROR_MEMORY);
	}
	r = mailimap_fetch(imap, set, ft, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return fail(imap, what, r);
	for (it = clist_begin(result); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);
		if (ma->att_number != seq)
			continue;
		for (jt = clist_begin(ma->att_list); jt != NULL;
		    jt = clist_next(jt)) {
			struct mailimap_msg_att_item *i = clist_content(jt);
			if (i->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
			    i->att_data.att_static->att_type ==
			    MAILIMAP_MSG_ATT_BODY_SECTION) {
				got = i->att_data.att_static->att_data
				    .att_body_section;
				found++;
			}
		}
	}
	r = 0;
	if (found != 1 || got == NULL) {
		fprintf(stderr, "%s: %s: %d BODY[...] item(s) in the "
		    "responses, expected 1\n", PROG, what, found);
		r = 1;
	} else if (got->sec_body_part == NULL) {
		printf("BODY[%s] NIL\n", spec);
	} else {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		if (EVP_Digest(got->sec_body_part, got->sec_length, md,
		    &mdlen, EVP_sha256(), NULL) != 1) {
			fprintf(stderr, "%s: EVP_Digest failed\n", PROG);
			r = 1;
		} else {
			printf("BODY[%s] size %zu sha256 ", spec,
			    got->sec_length);
			for (unsigned int k = 0; k < mdlen; k++)
				printf("%02x", md[k]);
			putchar('\n');
		}
	}
	mailimap_fetch_list_free(result);
	return r;
}

/* ---- main ---- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-r] [-H host] PORT USER PASSWORD MAILBOX\n"
	    "       %s [-H host] PORT USER PASSWORD MAILBOX "
	    "-s SEQ SECTION...\n"
	    "  First form: FETCH 1:* (UID ENVELOPE BODYSTRUCTURE "
	    "RFC822.SIZE), canonical dump\n"
	    "  of libetpan's structures on stdout (-r: no lowercasing of "
	    "case-insensitive\n"
	    "  tokens). Second form: FETCH SEQ BODY.PEEK[SECTION] per "
	    "section (\"\" for the\n"
	    "  whole message, HEADER, TEXT, 1.2, 2.MIME, 3.HEADER, "
	    "3.TEXT...), size and\n"
	    "  SHA-256 of each. Implicit TLS, certificate NOT verified. "
	    "Host: 127.0.0.1.\n", PROG, PROG);
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	unsigned long port, seq = 0;
	char *end;
	int argi = 1, r, status = 0;
	mailimap *imap;

	while (argi < argc && argv[argi][0] == '-') {
		if (strcmp(argv[argi], "-r") == 0) {
			raw_case = true;
			argi++;
		} else if (strcmp(argv[argi], "-H") == 0 &&
		    argi + 1 < argc) {
			host = argv[argi + 1];
			argi += 2;
		} else {
			usage();
			return 2;
		}
	}
	if (argc - argi != 4 && !(argc - argi >= 7 &&
	    strcmp(argv[argi + 4], "-s") == 0)) {
		usage();
		return 2;
	}
	errno = 0;
	port = strtoul(argv[argi], &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
		fprintf(stderr, "%s: bad port \"%s\"\n", PROG, argv[argi]);
		return 2;
	}
	if (argc - argi > 4) {
		errno = 0;
		seq = strtoul(argv[argi + 5], &end, 10);
		if (errno != 0 || *end != '\0' || seq == 0 ||
		    seq > UINT32_MAX) {
			fprintf(stderr, "%s: bad sequence number \"%s\"\n",
			    PROG, argv[argi + 5]);
			return 2;
		}
	}

	/* Malformed sections are usage errors, found before connecting. */
	for (int i = argi + 6; i < argc; i++) {
		struct mailimap_section *sec = parse_section(argv[i]);
		if (sec == NULL) {
			fprintf(stderr, "%s: malformed section \"%s\"\n", PROG,
			    argv[i]);
			return 2;
		}
		mailimap_section_free(sec);
	}

	imap = mailimap_new(0, NULL);
	if (imap == NULL)
		return fail(NULL, "mailimap_new", MAILIMAP_ERROR_MEMORY);
	mailimap_set_timeout(imap, TIMEOUT_SECONDS);
	mailimap_set_logger(imap, logger, NULL);

	/* Debian's libetpan: GnuTLS, no certificate verification (above). */
	r = mailimap_ssl_connect(imap, host, (uint16_t)port);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED &&
	    r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		status = fail(imap, "connect (implicit TLS)", r);
		goto out;
	}
	r = mailimap_login(imap, argv[argi + 1], argv[argi + 2]);
	if (r != MAILIMAP_NO_ERROR) {
		status = fail(imap, "LOGIN", r);
		goto out;
	}
	r = mailimap_select(imap, argv[argi + 3]);
	if (r != MAILIMAP_NO_ERROR) {
		status = fail(imap, "SELECT", r);
		goto out;
	}
	if (seq == 0) {
		status = fetch_structures(imap);
	} else {
		for (int i = argi + 6; i < argc && status == 0; i++)
			status = fetch_section(imap, (uint32_t)seq, argv[i]);
	}
	if (status == 0) {
		r = mailimap_logout(imap);
		if (r != MAILIMAP_NO_ERROR)
			status = fail(imap, "LOGOUT", r);
	}
out:
	mailimap_free(imap);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: writing the output: %s\n", PROG,
		    strerror(errno));
		return 1;
	}
	return status;
}
