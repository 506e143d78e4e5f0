/* SPDX-License-Identifier: MIT */
/*
 * mime_envelope.c - the ENVELOPE of RFC 3501 7.4.2 from a header
 * section: raw strings (RFC 2047 words not decoded, folding removed) and
 * address lists as (name adl mailbox host) with group markers. Address
 * lists are read leniently, the way Dovecot reads them (what cannot be
 * parsed becomes MISSING_MAILBOX / MISSING_DOMAIN rather than vanishing),
 * because a client shows this to a person; the strict reader that
 * guards From on submission is mime_mailbox_list() in mime_header.c.
 */
#include "mime/mime_struct_int.h"

#include <string.h>

#include "core/err.h"

/* An address field: unset, text in ap.abuf, or a constant. */
struct afield {
	int set;		/* 0 unset, 1 in abuf, 2 constant */
	size_t off;
	size_t len;
	const char *lit;
};

struct addr {
	struct afield name, route, mailbox, domain;
	bool invalid;
};

/* The parse of one address-list field, written as it goes. */
struct ap {
	struct mime_lex lx;
	struct buf str;		/* the token being read */
	struct buf comment;	/* the last comment: a name for addr-spec */
	struct buf abuf;	/* text of the current address */
	struct addr a;
	struct buf *out;	/* "(...)(...)" */
	size_t n_out;
	int err;
};

#define AP_END(ap) ((ap)->lx.p >= (ap)->lx.end)
#define AP_CUR(ap) (*(ap)->lx.p)

static void
set_text(struct ap *ap, struct afield *f, const char *s, size_t len)
{
	f->set = 1;
	f->off = buf_len(&ap->abuf);
	f->len = len;
	if (ap->err == 0 && len > 0) {
		int r = buf_add(&ap->abuf, s, len);
		if (r < 0)
			ap->err = r;
	}
}

static void
set_str(struct ap *ap, struct afield *f)
{
	set_text(ap, f, buf_data(&ap->str), buf_len(&ap->str));
}

static void
set_lit(struct afield *f, const char *lit)
{
	f->set = 2;
	f->lit = lit;
	f->len = strlen(lit);
}

static bool
is_empty(const struct afield *f)
{
	return f->set == 0 || f->len == 0;
}

static int
write_field(struct ap *ap, const struct afield *f, bool human)
{
	const char *s = NULL;

	if (f->set == 1)
		s = buf_data(&ap->abuf) + f->off;
	else if (f->set == 2)
		s = f->lit;
	if (human)
		return mime_imap_human(s, f->len, ap->out);
	return mime_imap_string(s, f->len, ap->out);
}

/* add_address - write the current address and start a new one. */
static void
add_address(struct ap *ap)
{
	int r = buf_addc(ap->out, '(');
	if (r == 0)
		r = write_field(ap, &ap->a.name, true);
	if (r == 0)
		r = buf_addc(ap->out, ' ');
	if (r == 0)
		r = write_field(ap, &ap->a.route, false);
	if (r == 0)
		r = buf_addc(ap->out, ' ');
	if (r == 0)
		r = write_field(ap, &ap->a.mailbox, false);
	if (r == 0)
		r = buf_addc(ap->out, ' ');
	if (r == 0)
		r = write_field(ap, &ap->a.domain, false);
	if (r == 0)
		r = buf_addc(ap->out, ')');
	if (r < 0 && ap->err == 0)
		ap->err = r;
	ap->n_out++;
	memset(&ap->a, 0, sizeof(ap->a));
	buf_reset(&ap->abuf);
}

/* add_fixed_address - a mailbox always has a mailbox and a host (RFC
 * 3501: a NIL host marks a group), so fill what is missing. */
static void
add_fixed_address(struct ap *ap)
{
	if (ap->a.mailbox.set == 0) {
		set_lit(&ap->a.mailbox, "MISSING_MAILBOX");
		ap->a.invalid = true;
	}
	if (is_empty(&ap->a.domain)) {
		set_lit(&ap->a.domain, "MISSING_DOMAIN");
		ap->a.invalid = true;
	}
	add_address(ap);
}

/* Local parts with leading, trailing or doubled dots exist in the wild
 * (notably in Japan): accept them. */
static int
nonstrict_dot_atom(struct ap *ap)
{
	int ret = -1;

	do {
		while (AP_CUR(ap) == '.') {
			mime_lex_add(&ap->lx, &ap->str, ".", 1);
			ap->lx.p++;
			if (AP_END(ap))
				return 0;	/* no @domain, local part ok */
			ret = 1;
		}
		if (AP_CUR(ap) == '@')
			break;
		ret = mime_lex_atom(&ap->lx, &ap->str);
	} while (ret > 0 && AP_CUR(ap) == '.');
	return ret;
}

static int
local_part(struct ap *ap)
{
	int ret;

	buf_reset(&ap->str);
	if (AP_CUR(ap) == '"')
		ret = mime_lex_quoted(&ap->lx, &ap->str);
	else
		ret = nonstrict_dot_atom(ap);
	if (ret < 0)
		return -1;
	set_str(ap, &ap->a.mailbox);
	return ret;
}

static int
domain(struct ap *ap)
{
	int ret;

	buf_reset(&ap->str);
	if ((ret = mime_lex_domain(&ap->lx, &ap->str)) < 0)
		return -1;
	set_str(ap, &ap->a.domain);
	return ret;
}

/* obs-domain-list (RFC 5322 4.4): "@a,@b" kept as the route. */
static int
domain_list(struct ap *ap)
{
	int ret;

	buf_reset(&ap->str);
	for (;;) {
		if (AP_END(ap))
			return 0;
		if (AP_CUR(ap) != '@')
			break;
		if (buf_len(&ap->str) > 0)
			mime_lex_add(&ap->lx, &ap->str, ",", 1);
		mime_lex_add(&ap->lx, &ap->str, "@", 1);
		if ((ret = mime_lex_domain(&ap->lx, &ap->str)) <= 0)
			return ret;
		while (mime_lex_skip_lwsp(&ap->lx) > 0 && AP_CUR(ap) == ',')
			ap->lx.p++;
	}
	set_str(ap, &ap->a.route);
	return 1;
}

static int
angle_addr(struct ap *ap)
{
	ap->lx.p++;	/* '<' */
	if (mime_lex_skip_lwsp(&ap->lx) <= 0)
		return -1;
	if (AP_CUR(ap) == '@') {
		if (domain_list(ap) > 0 && AP_CUR(ap) == ':') {
			ap->lx.p++;
		} else {
			set_lit(&ap->a.route, "INVALID_ROUTE");
			if (AP_END(ap))
				return -1;
		}
		if (mime_lex_skip_lwsp(&ap->lx) <= 0)
			return -1;
	}
	if (AP_CUR(ap) != '>') {	/* "<>" has no address at all */
		if (local_part(ap) <= 0)
			return -1;
		if (AP_CUR(ap) == '@' && domain(ap) <= 0)
			return -1;
	}
	if (AP_CUR(ap) != '>')
		return -1;
	ap->lx.p++;
	return mime_lex_skip_lwsp(&ap->lx);
}

static int
name_addr(struct ap *ap)
{
	buf_reset(&ap->str);
	if (mime_lex_phrase(&ap->lx, &ap->str) <= 0 || AP_CUR(ap) != '<')
		return -1;
	if (buf_len(&ap->str) > 0)
		set_str(ap, &ap->a.name);
	if (angle_addr(ap) < 0) {
		set_lit(&ap->a.domain, "SYNTAX_ERROR");
		ap->a.invalid = true;
	}
	return AP_END(ap) ? 0 : 1;
}

static int
addr_spec(struct ap *ap)
{
	bool quoted = AP_CUR(ap) == '"';
	int ret, ret2 = -2;

	buf_reset(&ap->comment);
	ret = local_part(ap);
	if (ret <= 0)
		ap->a.invalid = true;
	if (ret != 0 && !AP_END(ap) && AP_CUR(ap) == '@') {
		ret2 = domain(ap);
		if (ret2 <= 0)
			ret = ret2;
	}
	if (buf_len(&ap->comment) > 0) {
		/* "user@host (Real Name)": the comment is the name */
		set_text(ap, &ap->a.name, buf_data(&ap->comment),
		    buf_len(&ap->comment));
	} else if (ret2 == -2) {
		/* No @host: a single word is a mailbox, more words are a
		 * display name that lost its address. */
		mime_lex_add(&ap->lx, &ap->str, " ", 1);
		size_t orig = buf_len(&ap->str);
		(void)mime_lex_phrase(&ap->lx, &ap->str);
		if (buf_len(&ap->str) != orig) {
			ap->a.mailbox.set = 0;
			set_str(ap, &ap->a.name);
		} else if (!quoted) {
			set_lit(&ap->a.domain, "");
		}
		ap->a.invalid = true;
		ret = -1;
	}
	return ret;
}

static int
mailbox(struct ap *ap)
{
	const unsigned char *start = ap->lx.p;
	int ret;

	if ((ret = name_addr(ap)) < 0) {
		ap->lx.p = start;
		ret = addr_spec(ap);
		if (ap->a.invalid && ap->a.name.set == 0 &&
		    ap->a.mailbox.set != 0 && ap->a.domain.set == 0) {
			ap->a.name = ap->a.mailbox;
			ap->a.mailbox.set = 0;
		}
	}
	if (ret < 0)
		ap->a.invalid = true;
	add_fixed_address(ap);
	return ret;
}

/* group (RFC 5322 3.4): (NIL NIL name NIL) members (NIL NIL NIL NIL) */
static int
group(struct ap *ap)
{
	int ret;

	buf_reset(&ap->str);
	if (mime_lex_phrase(&ap->lx, &ap->str) <= 0 || AP_CUR(ap) != ':')
		return -1;
	ap->lx.p++;
	/* from here on this is a group, whatever follows */
	if ((ret = mime_lex_skip_lwsp(&ap->lx)) <= 0)
		ap->a.invalid = true;
	set_str(ap, &ap->a.mailbox);
	add_address(ap);
	if (ret > 0 && AP_CUR(ap) != ';') {
		for (;;) {
			(void)mailbox(ap);
			if (AP_END(ap) || AP_CUR(ap) != ',')
				break;
			ap->lx.p++;
			if (mime_lex_skip_lwsp(&ap->lx) <= 0) {
				ret = -1;
				break;
			}
		}
	}
	if (ret >= 0) {
		if (AP_END(ap) || AP_CUR(ap) != ';') {
			ret = -1;
		} else {
			ap->lx.p++;
			ret = mime_lex_skip_lwsp(&ap->lx);
		}
	}
	add_address(ap);
	return ret == 0 ? 0 : 1;
}

static int
address(struct ap *ap)
{
	const unsigned char *start = ap->lx.p;
	int ret;

	if ((ret = group(ap)) < 0) {
		ap->lx.p = start;
		ret = mailbox(ap);
	}
	return ret;
}

/* address_list - every address of value[len] appended to out as
 * "(...)"; *n_r counts them. Each step consumes input, so it ends. */
static int
address_list(const char *value, size_t len, struct buf *out, size_t *n_r)
{
	struct ap ap;
	int ret;

	memset(&ap, 0, sizeof(ap));
	buf_init(&ap.str, MIME_SCRATCH_MAX);
	buf_init(&ap.comment, MIME_SCRATCH_MAX);
	buf_init(&ap.abuf, MIME_SCRATCH_MAX);
	mime_lex_init(&ap.lx, value, len, &ap.comment);
	ap.out = out;
	if (mime_lex_skip_lwsp(&ap.lx) > 0) {
		for (;;) {
			if (address(&ap) == 0)
				break;
			if (AP_END(&ap) || AP_CUR(&ap) != ',')
				break;
			ap.lx.p++;
			if ((ret = mime_lex_skip_lwsp(&ap.lx)) <= 0) {
				if (ret < 0)
					add_fixed_address(&ap);
				break;
			}
		}
	}
	buf_free(&ap.str);
	buf_free(&ap.comment);
	buf_free(&ap.abuf);
	*n_r += ap.n_out;
	return ap.err != 0 ? ap.err : ap.lx.err;
}

/* ---- the envelope ---- */

enum env_field {
	ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO,
	ENV_CC, ENV_BCC, ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_N
};

static const char *const env_names[ENV_N] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID",
};

static bool
env_is_addr(int i)
{
	return i >= ENV_FROM && i <= ENV_BCC;
}

int
mime_envelope_write(const char *hdr, size_t len, struct buf *out)
{
	struct mime_hdr_walk hw;
	struct mime_field f, last[ENV_N];
	bool seen[ENV_N] = { false };
	struct buf addrs[ENV_N], clean;
	size_t n_addrs[ENV_N] = { 0 };
	int r = 0;

	buf_init(&clean, MIME_SCRATCH_MAX);
	for (int i = 0; i < ENV_N; i++)
		buf_init(&addrs[i], MIME_TEXT_MAX);
	mime_fields_init(&hw, hdr, len);
	while (r == 0 && mime_fields_next(&hw, &f) == 1) {
		for (int i = 0; i < ENV_N; i++) {
			if (!mime_field_is(&f, env_names[i]))
				continue;
			if (!env_is_addr(i)) {
				/* strings: the last field wins (Dovecot) */
				last[i] = f;
				seen[i] = true;
			} else {
				/* addresses: every field adds to the list */
				size_t vl;
				const char *v = mime_field_clean(&f, &clean,
				    &vl);
				r = v == NULL ? ERR_NOMEM :
				    address_list(v, vl, &addrs[i], &n_addrs[i]);
			}
			break;
		}
	}
	if (r == 0)
		r = buf_addc(out, '(');
	for (int i = 0; i < ENV_N && r == 0; i++) {
		if (i > 0)
			r = buf_addc(out, ' ');
		if (r < 0)
			break;
		if (env_is_addr(i)) {
			int k = i;
			/* RFC 3501: sender and reply-to default to from */
			if ((i == ENV_SENDER || i == ENV_REPLY_TO) &&
			    n_addrs[i] == 0)
				k = ENV_FROM;
			if (n_addrs[k] == 0) {
				r = buf_add(out, "NIL", 3);
			} else {
				r = buf_addc(out, '(');
				if (r == 0)
					r = buf_add(out, buf_data(&addrs[k]),
					    buf_len(&addrs[k]));
				if (r == 0)
					r = buf_addc(out, ')');
			}
			continue;
		}
		if (!seen[i]) {
			r = buf_add(out, "NIL", 3);
			continue;
		}
		size_t vl;
		const char *v = mime_field_clean(&last[i], &clean, &vl);
		if (v == NULL)
			r = ERR_NOMEM;
		else if (i == ENV_SUBJECT)
			r = mime_imap_human(v, vl, out);
		else
			r = mime_imap_nolf(v, vl, out);
	}
	if (r == 0)
		r = buf_addc(out, ')');
	buf_free(&clean);
	for (int i = 0; i < ENV_N; i++)
		buf_free(&addrs[i]);
	return r;
}
