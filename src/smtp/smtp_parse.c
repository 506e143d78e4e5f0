/* SPDX-License-Identifier: MIT */
/*
 * smtp_parse.c - the grammar of RFC 5321 section 4.1 for the parts we take
 * apart: verbs, reverse and forward paths with their ESMTP parameters, and
 * BDAT arguments (RFC 3030). Non-ASCII is allowed in paths only as UTF-8
 * (RFC 6531), and the caller decides whether SMTPUTF8 was declared.
 */
#include "smtp_parse.h"

#include <string.h>
#include <strings.h>

#include "core/err.h"

static const struct {
	const char *name;
	enum smtp_cmd cmd;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO }, { "EHLO", SMTP_CMD_EHLO },
	{ "MAIL", SMTP_CMD_MAIL }, { "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA }, { "BDAT", SMTP_CMD_BDAT },
	{ "RSET", SMTP_CMD_RSET }, { "NOOP", SMTP_CMD_NOOP },
	{ "QUIT", SMTP_CMD_QUIT }, { "HELP", SMTP_CMD_HELP },
	{ "VRFY", SMTP_CMD_VRFY }, { "EXPN", SMTP_CMD_EXPN },
	{ "STARTTLS", SMTP_CMD_STARTTLS }, { "AUTH", SMTP_CMD_AUTH },
};

enum smtp_cmd
smtp_parse_verb(const char *line, size_t len, struct strv *args)
{
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	args->p = line + vlen;
	args->len = 0;
	if (vlen < len) {
		args->p = line + vlen + 1;
		args->len = len - vlen - 1;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(verbs[i].name, line, vlen) == 0)
			return verbs[i].cmd;
	return SMTP_CMD_UNKNOWN;
}

static bool
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;	/* UTF-8, checked separately */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80;
}

/* domain_check - sub-domain *("." sub-domain), or an address literal. */
static int
domain_check(const char *d, size_t len, const char **error_r)
{
	if (len == 0 || len > SMTP_DOMAIN_MAX) {
		*error_r = "5.1.2 Bad destination mailbox address syntax: "
		    "domain length";
		return ERR_PROTO;
	}
	if (d[0] == '[') {
		if (d[len - 1] != ']' || len < 3) {
			*error_r = "5.1.2 Bad address literal";
			return ERR_PROTO;
		}
		for (size_t i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)d[i];
			if (c < 33 || c > 126 || c == '[' || c == ']' ||
			    c == '\\') {
				*error_r = "5.1.2 Bad address literal";
				return ERR_PROTO;
			}
		}
		return 0;
	}
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-') {
				*error_r = "5.1.2 Bad domain syntax";
				return ERR_PROTO;
			}
			label = 0;
			continue;
		}
		if (!is_let_dig(c) && !(c == '-' && label > 0)) {
			*error_r = "5.1.2 Bad domain syntax";
			return ERR_PROTO;
		}
		if (++label > 63) {
			*error_r = "5.1.2 Bad domain syntax: label too long";
			return ERR_PROTO;
		}
	}
	if (label == 0 || d[len - 1] == '-') {
		*error_r = "5.1.2 Bad domain syntax";
		return ERR_PROTO;
	}
	return 0;
}

/* local_check - Dot-string or Quoted-string (RFC 5321 4.1.2). */
static int
local_check(const char *l, size_t len, const char **error_r)
{
	if (len == 0 || len > SMTP_LOCAL_MAX) {
		*error_r = "5.1.3 Bad address syntax: local part length";
		return ERR_PROTO;
	}
	if (l[0] == '"') {
		if (len < 2 || l[len - 1] != '"')
			goto bad;
		for (size_t i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)l[i];
			if (c == '\\') {
				if (i + 2 >= len)
					goto bad;
				c = (unsigned char)l[++i];
				if (c < 32 || c == 127)
					goto bad;
				continue;
			}
			if (c == '"' || c < 32 || c == 127)
				goto bad;
		}
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)l[i];
		if (c == '.') {
			if (i == 0 || i + 1 == len || l[i - 1] == '.')
				goto bad;
			continue;
		}
		if (!is_atext(c))
			goto bad;
	}
	return 0;
bad:
	*error_r = "5.1.3 Bad address syntax";
	return ERR_PROTO;
}

int
smtp_addr_check(const char *addr, size_t len, bool utf8,
		const char **error_r)
{
	/* 4.5.3.1.3: a path is at most 256 octets with its angle brackets. */
	if (len == 0 || len > SMTP_PATH_MAX - 2) {
		*error_r = "5.1.3 Bad address syntax: length";
		return ERR_PROTO;
	}
	bool has8 = false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)addr[i] >= 0x80)
			has8 = true;
	if (has8 && !utf8) {
		*error_r = "5.6.7 Non-ASCII address requires SMTPUTF8";
		return ERR_PROTO;
	}
	if (has8 && !utf8_valid(addr, len)) {
		*error_r = "5.6.7 Address is not valid UTF-8";
		return ERR_PROTO;
	}
	/* The domain starts after the last '@' outside a quoted string. */
	size_t at = len;
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		if (addr[i] == '\\' && quoted) {
			i++;
			continue;
		}
		if (addr[i] == '"')
			quoted = !quoted;
		else if (addr[i] == '@' && !quoted)
			at = i;
	}
	if (at == len) {
		*error_r = "5.1.3 Bad address syntax: domain missing";
		return ERR_PROTO;
	}
	int r = local_check(addr, at, error_r);
	if (r < 0)
		return r;
	return domain_check(addr + at + 1, len - at - 1, error_r);
}

const char *
smtp_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

bool
smtp_param_is(const struct smtp_param *p, const char *name)
{
	size_t n = strlen(name);
	return p->key.len == n && strncasecmp(p->key.p, name, n) == 0;
}

/* params_parse - space-separated esmtp-keyword["="esmtp-value]. */
static int
params_parse(const char *p, const char *end, struct smtp_path *out,
	     const char **error_r)
{
	while (p < end) {
		if (*p != ' ') {
			*error_r = "5.5.4 Syntax error in parameters";
			return ERR_PROTO;
		}
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		if (out->n_params == SMTP_PARAMS_MAX) {
			*error_r = "5.5.4 Too many parameters";
			return ERR_PROTO;
		}
		struct smtp_param *pr = &out->params[out->n_params++];
		pr->key.p = p;
		while (p < end && *p != ' ' && *p != '=') {
			unsigned char c = (unsigned char)*p;
			/* esmtp-keyword is ASCII (RFC 5321 4.1.2); RFC 6531
			 * widens only values. */
			if (c >= 0x80 || (!is_let_dig(c) && c != '-')) {
				*error_r = "5.5.4 Bad parameter keyword";
				return ERR_PROTO;
			}
			p++;
		}
		pr->key.len = (size_t)(p - pr->key.p);
		if (pr->key.len == 0 || pr->key.p[0] == '-') {
			*error_r = "5.5.4 Bad parameter keyword";
			return ERR_PROTO;
		}
		pr->value.p = NULL;
		pr->value.len = 0;
		if (p < end && *p == '=') {
			p++;
			pr->value.p = p;
			while (p < end && *p != ' ') {
				unsigned char c = (unsigned char)*p;
				if (c < 33 || c == '=' || c == 127) {
					*error_r = "5.5.4 Bad parameter value";
					return ERR_PROTO;
				}
				p++;
			}
			pr->value.len = (size_t)(p - pr->value.p);
			if (pr->value.len == 0) {
				*error_r = "5.5.4 Empty parameter value";
				return ERR_PROTO;
			}
		}
	}
	return 0;
}

int
smtp_parse_path(struct strv args, const char *prefix, struct smtp_path *out,
		const char **error_r)
{
	size_t plen = strlen(prefix);
	const char *p = args.p, *end = args.p + args.len;

	memset(out, 0, sizeof(*out));
	if (args.len < plen || strncasecmp(p, prefix, plen) != 0) {
		*error_r = strcmp(prefix, "FROM:") == 0 ?
		    "5.5.4 Syntax: MAIL FROM:<address>" :
		    "5.5.4 Syntax: RCPT TO:<address>";
		return ERR_PROTO;
	}
	p += plen;
	if (p < end && *p == ' ')
		p++;	/* common client habit, tolerated like Postfix */
	if (p == end || *p != '<') {
		*error_r = "5.5.4 Syntax error: address must be in <>";
		return ERR_PROTO;
	}
	p++;
	/* Source route "@a,@b:" (RFC 5321 4.1.2) is accepted and ignored. */
	if (p < end && *p == '@') {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL) {
			*error_r = "5.5.4 Syntax error in source route";
			return ERR_PROTO;
		}
		p = colon + 1;
	}
	const char *a = p;
	bool quoted = false;
	while (p < end) {
		if (quoted && *p == '\\' && p + 1 < end) {
			p += 2;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '>' && !quoted)
			break;
		p++;
	}
	if (p == end) {
		*error_r = "5.5.4 Syntax error: missing '>'";
		return ERR_PROTO;
	}
	size_t alen = (size_t)(p - a);
	p++;	/* '>' */
	if (alen == 0) {
		out->is_null = true;
	} else {
		int r = smtp_addr_check(a, alen, true, error_r);
		if (r < 0)
			return r;
		memcpy(out->addr, a, alen);
		out->addr[alen] = '\0';
		for (size_t i = 0; i < alen; i++)
			if ((unsigned char)a[i] >= 0x80)
				out->is_utf8 = true;
	}
	return params_parse(p, end, out, error_r);
}

int
smtp_parse_bdat(struct strv args, uint64_t *size, bool *last)
{
	const char *p = args.p, *end = args.p + args.len;
	uint64_t v = 0;
	size_t digits = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		if (++digits > 18)
			return ERR_PROTO;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (digits == 0)
		return ERR_PROTO;
	*last = false;
	if (p < end) {
		if (*p != ' ')
			return ERR_PROTO;
		while (p < end && *p == ' ')
			p++;
		if ((size_t)(end - p) != 4 || strncasecmp(p, "LAST", 4) != 0)
			return ERR_PROTO;
		*last = true;
	}
	*size = v;
	return 0;
}
