/* SPDX-License-Identifier: MIT */
/*
 * smtp_relay.c - what the SMTP server adds for mail between operators:
 * on the relay port, the trust-space domain a client certificate stands
 * for (the handshake already checked that it chains to the trust store);
 * and the DSN extension's parameters (RFC 3461: RET and ENVID on MAIL,
 * NOTIFY and ORCPT on RCPT), on every port.
 */
#include "smtp_int.h"

#include <string.h>
#include <strings.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "pki/pki.h"
#include "queue/dsn.h"
#include "relay/relay.h"

#define PEER_NAMES_MAX 16

void
smtp_relay_peer(struct smtp_session *s)
{
	char names[PEER_NAMES_MAX][256];
	struct logline ll;
	int n = 0;

	s->relay_domain[0] = '\0';
	s->peer_names[0] = '\0';
	s->relay_why[0] = '\0';
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	X509 *cert = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (cert == NULL)
		str_copy(s->relay_why, sizeof(s->relay_why),
		    "no client certificate was presented");
	else if (vr != X509_V_OK)
		str_fmt(s->relay_why, sizeof(s->relay_why), "the client "
		    "certificate does not verify: %s", pki_verify_reason(vr));
	else
		n = pki_peer_names(cert, names, PEER_NAMES_MAX);
	/* Names go into a Received field and logs: host-name characters
	 * only (a certificate may hold anything in an IA5String). */
	for (int i = 0; i < n; i++)
		for (char *c = names[i]; *c != '\0'; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' &&
			    *c <= '9') || *c == '.' || *c == '-' ||
			    *c == '*' || *c == '_'))
				*c = '?';

	size_t o = 0;
	for (int i = 0; i < n && o + 2 < sizeof(s->peer_names); i++) {
		int w = snprintf(s->peer_names + o, sizeof(s->peer_names) - o,
		    "%s%s", i ? "," : "", names[i]);
		if (w < 0 || (size_t)w >= sizeof(s->peer_names) - o) {
			s->peer_names[o] = '\0';
			break;
		}
		o += (size_t)w;
	}
	struct store_rtxn *rt;
	int r = n > 0 ? store_read_begin(smtp_store(), &rt) : 0;
	if (n > 0 && r == 0) {
		for (int i = 0; i < n && r == 0; i++)
			r = relay_trusted_name(rt, names[i], s->relay_domain,
			    sizeof(s->relay_domain));
		store_read_end(&rt);
	}
	if (r <= 0)
		s->relay_domain[0] = '\0';
	if (n > 0 && r < 0)
		str_copy(s->relay_why, sizeof(s->relay_why), "the trust space "
		    "cannot be read");
	else if (n > 0 && r == 0)
		str_fmt(s->relay_why, sizeof(s->relay_why), "the client "
		    "certificate (%s) names no domain of the MSSante trust "
		    "space", s->peer_names);
	logl_begin(&ll, s->id, "smtp", "relay-peer");
	logl_str(&ll, "names", s->peer_names[0] ? s->peer_names : "none");
	logl_str(&ll, "domain", s->relay_domain[0] ? s->relay_domain :
	    "none");
	if (s->relay_why[0] != '\0')
		logl_str(&ll, "reason", s->relay_why);
	logl_emit(&ll, r == 1 ? LOG_INFO : LOG_NOTICE);
}

int
smtp_dsn_mail_param(struct smtp_session *s, const struct smtp_param *p,
		    uint8_t *ret, char *envid, size_t envid_size)
{
	if (smtp_param_is(p, "RET")) {
		if (*ret != STORE_RET_NONE) {
			smtp_reply_error(s, "501 5.5.4 Error: RET given twice");
			return ERR_PROTO;
		}
		if (p->value.p != NULL && p->value.len == 4 &&
		    strncasecmp(p->value.p, "FULL", 4) == 0)
			*ret = STORE_RET_FULL;
		else if (p->value.p != NULL && p->value.len == 4 &&
		    strncasecmp(p->value.p, "HDRS", 4) == 0)
			*ret = STORE_RET_HDRS;
		else {
			smtp_reply_error(s, "501 5.5.4 Error: RET must be FULL "
			    "or HDRS");
			return ERR_PROTO;
		}
		return 1;
	}
	if (smtp_param_is(p, "ENVID")) {
		if (envid[0] != '\0') {
			smtp_reply_error(s, "501 5.5.4 Error: ENVID given "
			    "twice");
			return ERR_PROTO;
		}
		/* RFC 3461 4.4: at most 100 characters, as sent */
		if (p->value.p == NULL || p->value.len == 0 ||
		    p->value.len > 100 || dsn_xtext_decode(p->value.p,
		    p->value.len, envid, envid_size) < 0 || envid[0] == '\0') {
			envid[0] = '\0';
			smtp_reply_error(s, "501 5.5.4 Error: bad ENVID "
			    "parameter (xtext of at most 100 characters)");
			return ERR_PROTO;
		}
		return 1;
	}
	return 0;
}

/* notify_parse - "NEVER" or a list of SUCCESS, FAILURE, DELAY. */
static int
notify_parse(struct strv v, uint8_t *out)
{
	uint8_t n = 0;
	size_t i = 0;
	if (v.p == NULL || v.len == 0)
		return ERR_PROTO;
	while (i < v.len) {
		size_t k = i;
		while (k < v.len && v.p[k] != ',')
			k++;
		size_t len = k - i;
		const char *w = v.p + i;
		uint8_t bit;
		if (len == 5 && strncasecmp(w, "NEVER", 5) == 0)
			bit = STORE_NOTIFY_NEVER;
		else if (len == 7 && strncasecmp(w, "SUCCESS", 7) == 0)
			bit = STORE_NOTIFY_SUCCESS;
		else if (len == 7 && strncasecmp(w, "FAILURE", 7) == 0)
			bit = STORE_NOTIFY_FAILURE;
		else if (len == 5 && strncasecmp(w, "DELAY", 5) == 0)
			bit = STORE_NOTIFY_DELAY;
		else
			return ERR_PROTO;
		if (n & bit)
			return ERR_PROTO;
		n |= bit;
		i = k + 1;
		if (k < v.len && i == v.len)
			return ERR_PROTO;	/* trailing comma */
	}
	/* NEVER stands alone (RFC 3461 4.1) */
	if ((n & STORE_NOTIFY_NEVER) && n != STORE_NOTIFY_NEVER)
		return ERR_PROTO;
	*out = n;
	return 0;
}

int
smtp_dsn_rcpt_param(struct smtp_session *s, const struct smtp_param *p,
		    struct smtp_rcpt *rc)
{
	if (smtp_param_is(p, "NOTIFY")) {
		if (rc->notify != 0 || notify_parse(p->value, &rc->notify) < 0) {
			smtp_reply_error(s, "501 5.5.4 Error: bad NOTIFY "
			    "parameter (NEVER, or SUCCESS, FAILURE, DELAY)");
			return ERR_PROTO;
		}
		return 1;
	}
	if (smtp_param_is(p, "ORCPT")) {
		char addr[STORE_ADDR_MAX];
		const char *semi = p->value.p != NULL ?
		    memchr(p->value.p, ';', p->value.len) : NULL;
		size_t tlen = semi != NULL ? (size_t)(semi - p->value.p) : 0;
		bool ok = rc->orcpt[0] == '\0' && semi != NULL && tlen > 0 &&
		    tlen <= 32 && p->value.len <= 500;
		for (size_t i = 0; ok && i < tlen; i++) {
			char c = p->value.p[i];
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-';
		}
		if (ok) {
			size_t vlen = p->value.len - tlen - 1;
			ok = vlen > 0 && dsn_xtext_decode(semi + 1, vlen, addr,
			    sizeof(addr)) == 0 && str_fmt(rc->orcpt,
			    sizeof(rc->orcpt), "%.*s;%s", (int)tlen,
			    p->value.p, addr) == 0;
		}
		if (!ok) {
			rc->orcpt[0] = '\0';
			smtp_reply_error(s, "501 5.5.4 Error: bad ORCPT "
			    "parameter (addr-type;xtext)");
			return ERR_PROTO;
		}
		return 1;
	}
	return 0;
}
