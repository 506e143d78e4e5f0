/* SPDX-License-Identifier: MIT */
/*
 * pki_bev.c - libevent bufferevents over OpenSSL for our listeners:
 * implicit TLS and STARTTLS on the current server context, and what the
 * sessions ask of them (unsent output, failure reasons, parameters).
 */
#include "pki.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/str.h"

/* new_ssl - an SSL object on the current context of a kind. */
static SSL *
new_ssl(enum pki_ctx_kind kind)
{
	SSL_CTX *ctx = pki_tls_current(kind);
	if (ctx == NULL)
		return NULL;
	SSL *ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	return ssl;
}

struct bufferevent *
pki_bev_accept(struct event_base *base, int fd)
{
	SSL *ssl = new_ssl(PKI_CTX_SERVER);
	struct bufferevent *bev = NULL;
	if (ssl != NULL)
		bev = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *
pki_bev_starttls(struct event_base *base, struct bufferevent *plain,
		 enum pki_ctx_kind kind)
{
	SSL *ssl = new_ssl(kind);
	if (ssl == NULL)
		return NULL;
	/* Timeouts now belong to the filter: one left on the socket
	 * bufferevent would fire through it (a pre-login deadline ending an
	 * authenticated session). */
	bufferevent_set_timeouts(plain, NULL, NULL);
	/* The filter frees ssl itself when it cannot be created. */
	struct bufferevent *tls = bufferevent_openssl_filter_new(base, plain,
	    ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	return tls;
}

struct bufferevent *
pki_bev_connect_tls(struct event_base *base, struct bufferevent *plain,
		    const char *host)
{
	SSL *ssl = new_ssl(PKI_CTX_CLIENT);
	if (ssl == NULL)
		return NULL;
	/* The name (or address) we meant to reach is what the certificate
	 * must stand for: RFC 6125 host name checks. */
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	int ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1;
	if (!ok) {
		ERR_clear_error();
		ok = SSL_set1_host(ssl, host) == 1 &&
		    SSL_set_tlsext_host_name(ssl, host) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_set_timeouts(plain, NULL, NULL);
	struct bufferevent *tls = bufferevent_openssl_filter_new(base, plain,
	    ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	return tls;
}

size_t
pki_bev_output_pending(struct bufferevent *bev)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(bev));
	struct bufferevent *u = bufferevent_get_underlying(bev);
	if (u != NULL)
		n += evbuffer_get_length(bufferevent_get_output(u));
	return n;
}

void
pki_bev_error(struct bufferevent *bev, char *out, size_t size)
{
	unsigned long e;
	out[0] = '\0';
	/* libevent queues the SSL_get_error() category too; an OpenSSL
	 * reason is what tells an administrator what went wrong. */
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (ERR_GET_LIB(e) == 0 && out[0] != '\0')
			continue;
		const char *reason = ERR_reason_error_string(e);
		if (reason != NULL)
			snprintf(out, size, "%s", reason);
		else if (out[0] == '\0')
			ERR_error_string_n(e, out, size);
	}
}

void
pki_bev_describe(struct bufferevent *bev, char *version, size_t vsize,
		 char *cipher, size_t csize, int *bits)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	const SSL_CIPHER *c = ssl ? SSL_get_current_cipher(ssl) : NULL;
	int alg_bits = 0;
	str_copy(version, vsize, ssl ? SSL_get_version(ssl) : "none");
	str_copy(cipher, csize, c ? SSL_CIPHER_get_name(c) : "none");
	*bits = c ? SSL_CIPHER_get_bits(c, &alg_bits) : 0;
}
