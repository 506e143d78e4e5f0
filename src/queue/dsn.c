/* SPDX-License-Identifier: MIT */
/*
 * dsn.c - RFC 3464 delivery status notifications inside an RFC 6522
 * multipart/report: a short English and French text, the
 * message/delivery-status fields, then the returned message or its header
 * section. What came from outside is checked (addresses, ids, status: an
 * invalid one is ERR_INVAL, never repaired) or cleaned (reply text and
 * remote host: one line of printable ASCII), so nothing can start a header
 * field or a MIME part of its own. Every line ends in CRLF and holds at
 * most 998 octets. Building only: when to report and sending are the
 * queue's.
 */
#include "dsn.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/str.h"

#define DSN_LINE_MAX 998	/* RFC 5322 2.1.1, CRLF excluded */
#define DSN_FOLD_AT 78		/* RFC 5322 2.1.1 SHOULD, header fields */
#define DSN_TEXT_WIDTH 76	/* the human-readable part */
#define DSN_ADDR_MAX 255	/* RFC 5321 4.5.3.1.3 path, like the store */
#define DSN_ORCPT_MAX 500	/* RFC 3461 4.2: the whole ORCPT value */
#define DSN_HOST_MAX 255
#define DSN_DIAG_MAX 2000	/* reply text kept, once cleaned */
#define DSN_DATE_MAX 64
#define DSN_TIME_MAX INT64_C(253402300799)	/* 9999-12-31 23:59:59 */
#define DSN_BOUNDARY_MAX 64
#define DSN_BOUNDARY_DERIVED 4	/* derived candidates before random ones */
#define DSN_BOUNDARY_TRIES 64

enum dsn_kind {
	DSN_KIND_FAILURE,
	DSN_KIND_DELAY,
	DSN_KIND_SUCCESS,	/* delivered or relayed */
};

/* Output with a sticky error: once ret is set every put is a no-op. */
struct dsn_ctx {
	struct buf *b;
	int ret;
};

static const char *const dsn_subject[] = {
	[DSN_KIND_FAILURE] = "Undelivered Mail Returned to Sender",
	[DSN_KIND_DELAY] = "Delayed Mail (still being retried)",
	[DSN_KIND_SUCCESS] = "Successful Mail Delivery Report",
};

static const char *const dsn_action_name[] = {
	[DSN_FAILED] = "failed",
	[DSN_DELAYED] = "delayed",
	[DSN_DELIVERED] = "delivered",
	[DSN_RELAYED] = "relayed",
};

static const char *const dsn_action_label[] = {
	[DSN_FAILED] = "failed / échec",
	[DSN_DELAYED] = "delayed / retardé",
	[DSN_DELIVERED] = "delivered / remis",
	[DSN_RELAYED] = "relayed / relayé",
};

/* The paragraphs of the text part, English then French. */
static const char *const dsn_intro[][2] = {
	[DSN_KIND_FAILURE] = {
	    "Your message could not be delivered to the recipients listed "
	    "below. The mail system has given up; the reason for each "
	    "recipient follows.",
	    "Votre message n'a pas pu être remis aux destinataires "
	    "ci-dessous. Le système de messagerie a abandonné ; la raison "
	    "est donnée pour chaque destinataire." },
	[DSN_KIND_DELAY] = {
	    "Your message has not been delivered yet to the recipients "
	    "listed below. The mail system keeps trying, so there is no "
	    "need to send it again; you will be told if it finally fails.",
	    "Votre message n'a pas encore été remis aux destinataires "
	    "ci-dessous. Le système de messagerie continue d'essayer, "
	    "inutile de le renvoyer ; vous serez prévenu en cas d'échec "
	    "définitif." },
	[DSN_KIND_SUCCESS] = {
	    "Your message was delivered to the recipients listed below, "
	    "as you asked to be told.",
	    "Votre message a été remis aux destinataires ci-dessous, "
	    "comme vous avez demandé à en être informé." },
};

static const char *const dsn_relayed_note[2] = {
	"Where the result is \"relayed\", the message was passed on to a "
	"system that sends no further reports.",
	"Lorsque le résultat est « relayé », le message a été transmis "
	"à un système qui n'envoie plus d'accusé de remise.",
};

static const char *const dsn_attached[][2] = {
	{ "", "" },
	{ "The message is attached.", "Le message est joint." },
	{ "Its header is attached.", "Son en-tête est joint." },
};

enum dsn_returned {
	DSN_RETURNED_NONE,
	DSN_RETURNED_FULL,
	DSN_RETURNED_HDRS,
};

/* ---- output ---- */

static void
put(struct dsn_ctx *c, const void *p, size_t n)
{
	if (c->ret == 0)
		c->ret = buf_add(c->b, p, n);
}

static void
put_str(struct dsn_ctx *c, const char *s)
{
	put(c, s, strlen(s));
}

static void
put_crlf(struct dsn_ctx *c)
{
	put(c, "\r\n", 2);
}

/* line_check - the line that started at off must fit in DSN_LINE_MAX. */
static void
line_check(struct dsn_ctx *c, size_t off)
{
	if (c->ret == 0 && buf_len(c->b) - off > DSN_LINE_MAX)
		c->ret = ERR_INVAL;
}

/*
 * put_wrapped - text after col octets already on the line, broken at
 * spaces to stay within width where the words allow, and within
 * DSN_LINE_MAX always; then CRLF. A break replaces the space with CRLF
 * and indent, so a header folded with indent " " unfolds to the same
 * text (RFC 5322 2.2.3). XXX a word longer than a line is cut, which
 * adds a space when unfolded; only reply text can hold such a word.
 */
static void
put_wrapped(struct dsn_ctx *c, size_t col, const char *text, size_t len,
	    const char *indent, size_t width)
{
	const char *p = text, *end = text + len;
	size_t ilen = strlen(indent);
	bool first = true;

	while (p < end) {
		const char *q = memchr(p, ' ', (size_t)(end - p));
		if (q == NULL)
			q = end;
		size_t wlen = (size_t)(q - p);
		if (wlen > 0) {
			if (!first && (col + 1 + wlen > width ||
			    col + 1 >= DSN_LINE_MAX)) {
				put_crlf(c);
				put(c, indent, ilen);
				col = ilen;
				first = true;
			}
			if (!first) {
				put(c, " ", 1);
				col++;
			}
			while (col + wlen > DSN_LINE_MAX) {
				size_t n = DSN_LINE_MAX - col;
				put(c, p, n);
				put_crlf(c);
				put(c, indent, ilen);
				col = ilen;
				p += n;
				wlen -= n;
			}
			put(c, p, wlen);
			col += wlen;
			first = false;
		}
		p = q < end ? q + 1 : end;
	}
	put_crlf(c);
}

/* ---- checks of what the queue hands over ---- */

static bool
is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* is_atext - RFC 5322 3.2.3 atext, ASCII part. */
static bool
is_atext(unsigned char ch)
{
	return is_alnum(ch) || (ch != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

static bool
is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static bool
is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * addr_check - an address as the SMTP layer gives it (no angle
 * brackets): a dot-atom or quoted local part, optionally "@" and a domain
 * or an address literal; UTF-8 allowed (RFC 6531), no control character
 * anywhere, at most DSN_ADDR_MAX octets. Stricter than needed for the
 * headers we write: enough that no value can close "<...>" early, add a
 * field or end a line.
 */
static int
addr_check(const char *a)
{
	if (a == NULL)
		return ERR_INVAL;
	size_t len = strlen(a);
	if (len == 0 || len > DSN_ADDR_MAX || !utf8_valid(a, len))
		return ERR_INVAL;
	const unsigned char *p = (const unsigned char *)a, *end = p + len;

	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && ++p == end)
				return ERR_INVAL;
			if (is_ctl(*p))
				return ERR_INVAL;
		}
		if (p == end)
			return ERR_INVAL;
		p++;
	} else {
		const unsigned char *s = p;
		while (p < end && (is_atext(*p) || *p == '.' || *p >= 0x80))
			p++;
		if (p == s)
			return ERR_INVAL;
	}
	if (p == end)
		return 0;
	if (*p++ != '@' || p == end)
		return ERR_INVAL;
	if (*p == '[') {
		for (p++; p < end && *p != ']'; p++)
			if (*p < 0x21 || *p > 0x7e || *p == '[' || *p == '\\')
				return ERR_INVAL;
		return p + 1 == end ? 0 : ERR_INVAL;
	}
	for (; p < end; p++)
		if (!is_alnum(*p) && *p != '-' && *p != '.' && *p != '_' &&
		    *p < 0x80)
			return ERR_INVAL;
	return 0;
}

/* host_check - our own host name (or an address literal). */
static int
host_check(const char *h)
{
	if (h == NULL)
		return ERR_INVAL;
	size_t len = strlen(h);
	if (len == 0 || len > DSN_HOST_MAX)
		return ERR_INVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)h[i];
		if (!is_alnum(ch) && strchr("-._:[]", ch) == NULL)
			return ERR_INVAL;
	}
	return 0;
}

/* msgid_check - "<...>", printable ASCII without angle brackets inside. */
static int
msgid_check(const char *id)
{
	if (id == NULL)
		return ERR_INVAL;
	size_t len = strlen(id);
	if (len < 3 || len > DSN_ADDR_MAX || id[0] != '<' ||
	    id[len - 1] != '>')
		return ERR_INVAL;
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char ch = (unsigned char)id[i];
		if (ch < 0x21 || ch > 0x7e || ch == '<' || ch == '>')
			return ERR_INVAL;
	}
	return 0;
}

/* digits - 1 to 3 digits at *p, advanced past them. */
static bool
digits(const char **p)
{
	size_t n = 0;

	while (n < 4 && **p >= '0' && **p <= '9') {
		(*p)++;
		n++;
	}
	return n >= 1 && n <= 3;
}

/* status_check - RFC 3463 class.subject.detail, class 2, 4 or 5. */
static int
status_check(const char *s)
{
	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return ERR_INVAL;
	s += 2;
	if (!digits(&s) || *s++ != '.' || !digits(&s) || *s != '\0')
		return ERR_INVAL;
	return 0;
}

/* time_check - a time we can print: 0 .. year 9999. */
static int
time_check(int64_t t)
{
	return t >= 0 && t <= DSN_TIME_MAX ? 0 : ERR_INVAL;
}

/*
 * orcpt_split - "type;address" as the store keeps ORCPT (xtext already
 * decoded): type an RFC 3461 addr-type atom, address any text without
 * control characters, valid UTF-8 when it is not ASCII.
 */
static int
orcpt_split(const char *o, struct strv *type, struct strv *addr)
{
	size_t len = strlen(o);
	const char *semi = memchr(o, ';', len);

	if (semi == NULL || semi == o || len > DSN_ORCPT_MAX)
		return ERR_INVAL;
	type->p = o;
	type->len = (size_t)(semi - o);
	addr->p = semi + 1;
	addr->len = len - type->len - 1;
	for (size_t i = 0; i < type->len; i++)
		if (!is_atext((unsigned char)o[i]))
			return ERR_INVAL;
	if (addr->len == 0 || !utf8_valid(addr->p, addr->len))
		return ERR_INVAL;
	for (size_t i = 0; i < addr->len; i++)
		if (is_ctl((unsigned char)addr->p[i]))
			return ERR_INVAL;
	return 0;
}

static int
kind_of(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED: return DSN_KIND_FAILURE;
	case DSN_DELAYED: return DSN_KIND_DELAY;
	case DSN_DELIVERED:
	case DSN_RELAYED: return DSN_KIND_SUCCESS;
	}
	return ERR_INVAL;
}

/* report_check - everything dsn_build relies on; the kind in *kind_r. */
static int
report_check(const struct dsn_report *r, enum dsn_kind *kind_r)
{
	int kind = -1;

	if (host_check(r->reporting_mta) < 0 || addr_check(r->from) < 0 ||
	    addr_check(r->to) < 0 || msgid_check(r->message_id) < 0 ||
	    time_check(r->arrival) < 0 || time_check(r->now) < 0 ||
	    r->n_rcpt == 0 || r->rcpts == NULL ||
	    (r->message == NULL && r->message_len > 0))
		return ERR_INVAL;
	if (r->ret != DSN_RETURN_DEFAULT && r->ret != DSN_RETURN_FULL &&
	    r->ret != DSN_RETURN_HDRS)
		return ERR_INVAL;
	for (size_t i = 0; i < r->n_rcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		struct strv t, a;
		int k = kind_of(rc->action);

		if (k < 0 || (kind >= 0 && k != kind))
			return ERR_INVAL;
		kind = k;
		if (addr_check(rc->final) < 0 ||
		    status_check(rc->status) < 0 ||
		    time_check(rc->last_attempt) < 0 ||
		    time_check(rc->will_retry_until) < 0)
			return ERR_INVAL;
		if (rc->orcpt != NULL && orcpt_split(rc->orcpt, &t, &a) < 0)
			return ERR_INVAL;
	}
	*kind_r = (enum dsn_kind)kind;
	return 0;
}

/* ---- values ---- */

/* dsn_date - RFC 5322 3.3 date-time of t in UTC. */
static int
dsn_date(char *dst, size_t size, int64_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (time_check(t) < 0 || gmtime_r(&tt, &tm) == NULL)
		return ERR_INVAL;
	return str_fmt(dst, size, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
put_date(struct dsn_ctx *c, int64_t t)
{
	char date[DSN_DATE_MAX];
	int r = dsn_date(date, sizeof(date), t);

	if (r < 0) {
		if (c->ret == 0)
			c->ret = r;
		return;
	}
	put_str(c, date);
}

/*
 * clean_text - s as one line of printable ASCII in dst[max + 1]: CR, LF,
 * tabs and runs of spaces become one space, other control characters
 * go, 8-bit bytes become '?' (the delivery-status part is ASCII, RFC
 * 3464 2.1), both ends trimmed, cut with "..." past max octets.
 * Returns the length.
 */
static size_t
clean_text(const char *s, char *dst, size_t max)
{
	size_t n = 0;
	bool space = false, cut = false;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char ch = *p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			space = n > 0;
			continue;
		}
		if (is_ctl(ch))
			continue;
		if (n + (space ? 2 : 1) > max) {
			cut = true;
			break;
		}
		if (space)
			dst[n++] = ' ';
		space = false;
		dst[n++] = ch >= 0x80 ? '?' : (char)ch;
	}
	if (cut) {
		if (n > max - 3)
			n = max - 3;
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return n;
}

/* looks_like_reply - "250", "550-", "451 ...": an SMTP reply (RFC 5321
 * 4.2), which Diagnostic-Code types "smtp" (RFC 3464 2.3.6). */
static bool
looks_like_reply(const char *s, size_t len)
{
	return len >= 3 && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' &&
	    s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
	    (len == 3 || s[3] == ' ' || s[3] == '-');
}

static const char xdigits[] = "0123456789ABCDEF";

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static bool
is_xchar(unsigned char ch)
{
	return ch >= '!' && ch <= '~' && ch != '+' && ch != '=';
}

/* xtext_len - length of the xtext form of p[len]. */
static size_t
xtext_len(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += is_xchar((unsigned char)p[i]) ? 1 : 3;
	return n;
}

/* xtext_put - RFC 3461 4 xtext of p[len]: all or nothing. */
static int
xtext_put(struct buf *b, const char *p, size_t len)
{
	int r = buf_reserve(b, xtext_len(p, len));
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (is_xchar(ch)) {
			r = buf_addc(b, (char)ch);
		} else {
			char hex[3] = { '+', xdigits[ch >> 4],
				xdigits[ch & 15] };
			r = buf_add(b, hex, sizeof(hex));
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* utf8_next - the code point at *p (valid UTF-8, checked before). */
static uint32_t
utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t cp;
	int more;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if (s[0] < 0xe0) {
		cp = s[0] & 0x1f;
		more = 1;
	} else if (s[0] < 0xf0) {
		cp = s[0] & 0x0f;
		more = 2;
	} else {
		cp = s[0] & 0x07;
		more = 3;
	}
	for (int i = 1; i <= more; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	*p = s + 1 + more;
	return cp;
}

/*
 * put_uxtext - RFC 6533 3 utf-8-addr-xtext of a UTF-8 address: QCHAR as
 * they are, everything else (non-ASCII, '+', '=', '\', space) as
 * "\x{HEX}" with the shortest upper-case form of at least two digits.
 * The 7-bit form, as a message/delivery-status part must be ASCII.
 */
static void
put_uxtext(struct dsn_ctx *c, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;

	while (p < end) {
		uint32_t cp = utf8_next(&p);
		if (cp >= 0x21 && cp <= 0x7e && cp != '+' && cp != '=' &&
		    cp != '\\') {
			char ch = (char)cp;
			put(c, &ch, 1);
			continue;
		}
		char hex[8];
		size_t n = 0;
		for (uint32_t v = cp; v != 0 || n < 2; v >>= 4)
			hex[n++] = xdigits[v & 15];
		put(c, "\\x{", 3);
		while (n > 0)
			put(c, &hex[--n], 1);
		put(c, "}", 1);
	}
}

/* put_typed_addr - "rfc822; a" for an ASCII address, else "utf-8; "
 * and its utf-8-addr-xtext (RFC 6533 3). */
static void
put_typed_addr(struct dsn_ctx *c, const char *a)
{
	size_t len = strlen(a);

	if (is_ascii(a, len)) {
		put_str(c, "rfc822; ");
		put(c, a, len);
	} else {
		put_str(c, "utf-8; ");
		put_uxtext(c, a, len);
	}
}

/* ---- the parts ---- */

/* put_para - a paragraph of the text part, then an empty line. */
static void
put_para(struct dsn_ctx *c, const char *s)
{
	put_wrapped(c, 0, s, strlen(s), "", DSN_TEXT_WIDTH);
	put_crlf(c);
}

/* put_label - "    label : " then value, wrapped with a deeper indent. */
static void
put_label(struct dsn_ctx *c, const char *label, const char *value,
	  size_t len)
{
	put_str(c, "    ");
	put_str(c, label);
	put_str(c, " : ");
	put_wrapped(c, 4 + strlen(label) + 3, value, len, "        ",
	    DSN_TEXT_WIDTH);
}

/* text_part - the human-readable part: what happened, in English and
 * French, then each recipient with its result. */
static void
text_part(struct dsn_ctx *c, const struct dsn_report *r,
	  enum dsn_kind kind, enum dsn_returned returned)
{
	bool relayed = false;

	for (size_t i = 0; i < r->n_rcpt; i++)
		relayed |= r->rcpts[i].action == DSN_RELAYED;
	put_str(c, "This is the mail system at host ");
	put_str(c, r->reporting_mta);
	put_str(c, ".\r\nCeci est le système de messagerie de l'hôte ");
	put_str(c, r->reporting_mta);
	put_str(c, ".\r\n\r\n");
	for (int lang = 0; lang < 2; lang++) {
		struct buf para;
		struct dsn_ctx pc;

		buf_init(&para, 4096);
		pc.b = &para;
		pc.ret = 0;
		put_str(&pc, dsn_intro[kind][lang]);
		if (relayed) {
			put_str(&pc, " ");
			put_str(&pc, dsn_relayed_note[lang]);
		}
		if (returned != DSN_RETURNED_NONE) {
			put_str(&pc, " ");
			put_str(&pc, dsn_attached[returned][lang]);
		}
		if (pc.ret < 0 && c->ret == 0)
			c->ret = pc.ret;
		put_para(c, buf_data(&para));
		buf_free(&para);
	}
	for (size_t i = 0; i < r->n_rcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		char text[DSN_DIAG_MAX + 1], date[DSN_DATE_MAX];
		size_t n;

		if (i > 0)
			put_crlf(c);
		put_str(c, "<");
		put_str(c, rc->final);
		put_str(c, ">: ");
		put_str(c, dsn_action_label[rc->action]);
		put_str(c, ", ");
		put_str(c, rc->status);
		put_crlf(c);
		if (rc->orcpt != NULL) {
			struct strv t, a;
			(void)orcpt_split(rc->orcpt, &t, &a);
			put_label(c, "original recipient / destinataire "
			    "d'origine", a.p, a.len);
		}
		if (rc->remote_mta != NULL &&
		    (n = clean_text(rc->remote_mta, text, DSN_HOST_MAX)) > 0)
			put_label(c, "server / serveur", text, n);
		if (rc->diag != NULL &&
		    (n = clean_text(rc->diag, text, DSN_DIAG_MAX)) > 0)
			put_label(c, "reply / réponse", text, n);
		if (rc->last_attempt != 0 &&
		    dsn_date(date, sizeof(date), rc->last_attempt) == 0)
			put_label(c, "last attempt / dernier essai", date,
			    strlen(date));
		if (rc->action == DSN_DELAYED && rc->will_retry_until != 0 &&
		    dsn_date(date, sizeof(date), rc->will_retry_until) == 0)
			put_label(c, "retried until / essais jusqu'au", date,
			    strlen(date));
	}
}

/* status_rcpt - one per-recipient block (RFC 3464 2.3), fields in the
 * order of its grammar. */
static void
status_rcpt(struct dsn_ctx *c, const struct dsn_rcpt *rc)
{
	char text[DSN_DIAG_MAX + 1];
	size_t off, n;

	put_crlf(c);
	if (rc->orcpt != NULL) {
		struct strv t, a;
		(void)orcpt_split(rc->orcpt, &t, &a);
		off = buf_len(c->b);
		put_str(c, "Original-Recipient: ");
		put(c, t.p, t.len);
		put(c, ";", 1);
		if (t.len == 5 && str_case_prefix(t.p, "utf-8")) {
			put_uxtext(c, a.p, a.len);
		} else if (c->ret == 0) {
			c->ret = xtext_put(c->b, a.p, a.len);
		}
		line_check(c, off);
		put_crlf(c);
	}
	off = buf_len(c->b);
	put_str(c, "Final-Recipient: ");
	put_typed_addr(c, rc->final);
	line_check(c, off);
	put_crlf(c);
	put_str(c, "Action: ");
	put_str(c, dsn_action_name[rc->action]);
	put_str(c, "\r\nStatus: ");
	put_str(c, rc->status);
	put_crlf(c);
	if (rc->remote_mta != NULL &&
	    (n = clean_text(rc->remote_mta, text, DSN_HOST_MAX)) > 0) {
		put_str(c, "Remote-MTA: dns; ");
		put_wrapped(c, 17, text, n, " ", DSN_FOLD_AT);
	}
	if (rc->diag != NULL &&
	    (n = clean_text(rc->diag, text, DSN_DIAG_MAX)) > 0) {
		/* anything else is our own wording: an X- type, 2.3.6 */
		const char *type = looks_like_reply(text, n) ?
		    "smtp; " : "X-mssgate; ";
		put_str(c, "Diagnostic-Code: ");
		put_str(c, type);
		put_wrapped(c, 17 + strlen(type), text, n, " ", DSN_FOLD_AT);
	}
	if (rc->last_attempt != 0) {
		put_str(c, "Last-Attempt-Date: ");
		put_date(c, rc->last_attempt);
		put_crlf(c);
	}
	if (rc->action == DSN_DELAYED && rc->will_retry_until != 0) {
		put_str(c, "Will-Retry-Until: ");
		put_date(c, rc->will_retry_until);
		put_crlf(c);
	}
}

/* status_part - the message/delivery-status body (RFC 3464 2.1):
 * per-message fields, then a block per recipient after an empty line. */
static void
status_part(struct dsn_ctx *c, const struct dsn_report *r)
{
	if (r->envid != NULL && r->envid[0] != '\0') {
		size_t off = buf_len(c->b);
		put_str(c, "Original-Envelope-Id: ");
		if (c->ret == 0)
			c->ret = xtext_put(c->b, r->envid, strlen(r->envid));
		line_check(c, off);
		put_crlf(c);
	}
	put_str(c, "Reporting-MTA: dns; ");
	put_str(c, r->reporting_mta);
	put_crlf(c);
	if (r->arrival != 0) {
		put_str(c, "Arrival-Date: ");
		put_date(c, r->arrival);
		put_crlf(c);
	}
	for (size_t i = 0; i < r->n_rcpt; i++)
		status_rcpt(c, &r->rcpts[i]);
}

/* eol_at - length of the line end at p[i] (CRLF 2, bare CR or LF 1),
 * 0 if none. */
static size_t
eol_at(const char *p, size_t i, size_t len)
{
	if (p[i] == '\n')
		return 1;
	if (p[i] == '\r')
		return i + 1 < len && p[i + 1] == '\n' ? 2 : 1;
	return 0;
}

/*
 * header_len - the header section of msg[len], up to and including the
 * line end of its last field: the first empty line ends it. Bare CR and
 * LF count as line ends here as in put_lines, so that headers-only never
 * returns a body, however the message breaks its lines.
 */
static size_t
header_len(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (eol_at(p, i, len) > 0)
			return i;
		while (i < len && eol_at(p, i, len) == 0)
			i++;
		if (i < len)
			i += eol_at(p, i, len);
	}
	return len;
}

/*
 * put_lines - p[len] with every line end as CRLF and a last one added
 * if missing; a line longer than DSN_LINE_MAX is broken with CRLF and a
 * space, Postfix's smtp_line_length_limit answer, the least damage to
 * MIME (the message came in broken: our SMTP server refuses such
 * lines, this is for what other paths may queue).
 */
static void
put_lines(struct dsn_ctx *c, const char *p, size_t len)
{
	size_t i = 0, col = 0;

	while (i < len && c->ret == 0) {
		size_t e = eol_at(p, i, len);
		if (e > 0) {
			put_crlf(c);
			i += e;
			col = 0;
			continue;
		}
		size_t j = i;
		while (j < len && eol_at(p, j, len) == 0 &&
		    col + (j - i) < DSN_LINE_MAX)
			j++;
		put(c, p + i, j - i);
		col += j - i;
		i = j;
		if (i < len && eol_at(p, i, len) == 0) {
			put(c, "\r\n ", 3);
			col = 1;
		}
	}
	if (col > 0)
		put_crlf(c);
}

static bool
has_8bit(const char *p, size_t len)
{
	return !is_ascii(p, len);
}

static uint64_t
fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static bool
contains(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/*
 * pick_boundary - a boundary found in none of the parts (RFC 2046
 * 5.1.1). The first candidates derive from the report's Message-ID and
 * date, so that the same report gives the same bytes (golden tests);
 * being checked, a guessable one is harmless. Random ones follow, so a
 * message stuffed with the derived ones cannot stop its own report.
 */
static int
pick_boundary(const struct dsn_report *r, const struct buf *text,
	      const struct buf *status, const char *orig, size_t orig_len,
	      char *bnd, size_t size)
{
	for (uint32_t k = 0; k < DSN_BOUNDARY_TRIES; k++) {
		char hex[17];
		int ret;

		if (k < DSN_BOUNDARY_DERIVED) {
			/* text, not memory: the same on every machine */
			char salt[48];
			uint64_t h = UINT64_C(0xcbf29ce484222325);
			ret = str_fmt(salt, sizeof(salt),
			    "/%" PRId64 "/%" PRIu32, r->now, k);
			h = fnv1a(h, r->message_id, strlen(r->message_id));
			h = fnv1a(h, salt, strlen(salt));
			if (ret == 0)
				ret = str_fmt(hex, sizeof(hex), "%016" PRIx64,
				    h);
		} else {
			str_rand_hex(hex, 8);
			ret = 0;
		}
		if (ret == 0)
			ret = str_fmt(bnd, size, "=_mssgate-dsn-%s", hex);
		if (ret < 0)
			return ret;
		if (!contains(buf_data(text), buf_len(text), bnd) &&
		    !contains(buf_data(status), buf_len(status), bnd) &&
		    (orig_len == 0 || !contains(orig, orig_len, bnd)))
			return 0;
	}
	return ERR_INVAL;
}

static void
put_delimiter(struct dsn_ctx *c, const char *bnd, bool close)
{
	put_str(c, "\r\n--");
	put_str(c, bnd);
	put_str(c, close ? "--\r\n" : "\r\n");
}

static void
put_header(struct dsn_ctx *c, const struct dsn_report *r,
	   enum dsn_kind kind, const char *bnd)
{
	put_str(c, "From: \"Mail Delivery System\" <");
	put_str(c, r->from);
	put_str(c, ">\r\nTo: <");
	put_str(c, r->to);
	put_str(c, ">\r\nSubject: ");
	put_str(c, dsn_subject[kind]);
	put_str(c, "\r\nDate: ");
	put_date(c, r->now);
	put_str(c, "\r\nMessage-ID: ");
	put_str(c, r->message_id);
	put_str(c, "\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;"
	    "\r\n\tboundary=\"");
	put_str(c, bnd);
	/*
	 * 8bit, not quoted-printable: the French text and UTF-8 addresses
	 * stay readable as they are, our lines are short, and the returned
	 * message is copied as it came, often 8-bit already. MSSanté
	 * operators all take 8BITMIME (RFC 6152); a hop that does not is
	 * the relay's to downgrade, as for any 8-bit message.
	 */
	put_str(c, "\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n");
}

int
dsn_build(const struct dsn_report *r, struct buf *out)
{
	enum dsn_kind kind;
	enum dsn_returned returned = DSN_RETURNED_NONE;
	struct buf text, status;
	struct dsn_ctx c;
	char bnd[DSN_BOUNDARY_MAX] = "";
	size_t start, orig_len = 0;
	int ret;

	if (r == NULL || out == NULL)
		return ERR_INVAL;
	if ((ret = report_check(r, &kind)) < 0)
		return ret;
	/* RET governs failure reports only (RFC 3461 4.3); delay and
	 * success reports carry the header section, as Postfix's do. */
	if (kind == DSN_KIND_FAILURE && r->ret != DSN_RETURN_HDRS) {
		orig_len = r->message_len;
		returned = DSN_RETURNED_FULL;
	} else {
		orig_len = header_len(r->message, r->message_len);
		returned = DSN_RETURNED_HDRS;
	}
	/* Nothing to return: the optional third part (RFC 6522 3) goes. */
	if (orig_len == 0)
		returned = DSN_RETURNED_NONE;

	/* The two generated parts first, to choose the boundary. */
	buf_init(&text, out->max);
	buf_init(&status, out->max);
	c.ret = 0;
	c.b = &text;
	text_part(&c, r, kind, returned);
	c.b = &status;
	status_part(&c, r);
	if (c.ret == 0)
		c.ret = pick_boundary(r, &text, &status, r->message, orig_len,
		    bnd, sizeof(bnd));

	start = buf_len(out);
	c.b = out;
	put_header(&c, r, kind, bnd);
	put_delimiter(&c, bnd, false);
	put_str(&c, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n");
	put(&c, buf_data(&text), buf_len(&text));
	put_delimiter(&c, bnd, false);
	put_str(&c, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	put(&c, buf_data(&status), buf_len(&status));
	if (returned != DSN_RETURNED_NONE) {
		bool full = returned == DSN_RETURNED_FULL;
		put_delimiter(&c, bnd, false);
		put_str(&c, "Content-Description: ");
		if (kind != DSN_KIND_SUCCESS)
			put_str(&c, "Undelivered ");
		put_str(&c, full ? "Message\r\nContent-Type: message/rfc822"
		    : "Message Headers\r\nContent-Type: text/rfc822-headers");
		put_str(&c, "\r\n");
		if (has_8bit(r->message, orig_len))
			put_str(&c, "Content-Transfer-Encoding: 8bit\r\n");
		put_crlf(&c);
		put_lines(&c, r->message, orig_len);
	}
	put_delimiter(&c, bnd, true);
	buf_free(&text);
	buf_free(&status);
	if (c.ret < 0) {
		/* leave out as it was: drop whatever was appended */
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	return c.ret;
}

int
dsn_xtext_decode(const char *in, size_t len, char *out, size_t size)
{
	size_t n = 0;

	if (in == NULL || out == NULL || size == 0)
		return ERR_INVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == '+') {
			int hi, lo;
			if (len - i < 3)
				return ERR_PROTO;
			/* RFC 3461 4 says upper case; lower case is
			 * accepted, we only ever send upper case */
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return ERR_PROTO;
			ch = (unsigned char)(hi << 4 | lo);
			i += 2;
			/* what it stands for goes into header fields */
			if (is_ctl(ch))
				return ERR_PROTO;
		} else if (!is_xchar(ch)) {
			return ERR_PROTO;
		}
		if (n + 1 >= size)
			return ERR_LIMIT;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	return 0;
}

int
dsn_xtext_encode(const char *in, struct buf *out)
{
	if (in == NULL || out == NULL)
		return ERR_INVAL;
	return xtext_put(out, in, strlen(in));
}
