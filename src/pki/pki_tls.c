/* SPDX-License-Identifier: MIT */
/*
 * pki_tls.c - server TLS contexts: protocol floor, the MSSanté TLS 1.2
 * suites and TLS 1.3 suites from the configuration, certificate checks at
 * load, and the process-wide current context swapped on reload.
 */
#include "pki.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/err.h"

/* ssl_err - what failed, with OpenSSL's root cause: the first error it
 * queued (later ones only say which layer gave up). */
static void
ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_peek_error();
	char detail[256] = "";
	if (e != 0) {
		const char *reason = ERR_reason_error_string(e);
		if (reason != NULL)
			snprintf(detail, sizeof(detail), "%s", reason);
		else
			ERR_error_string_n(e, detail, sizeof(detail));
	}
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s%s%s", file ? file : "", file ? ": " : "",
	    what, detail[0] ? ": " : "", detail);
}

/* cert_check_dates - refuse a certificate outside its validity period. */
static int
cert_check_dates(SSL_CTX *ctx, const char *file, char *err, size_t errlen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (x == NULL) {
		snprintf(err, errlen, "%s: no certificate loaded", file);
		return ERR_INVAL;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		snprintf(err, errlen, "%s: certificate has expired", file);
		return ERR_INVAL;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		snprintf(err, errlen, "%s: certificate is not yet valid", file);
		return ERR_INVAL;
	}
	return 0;
}

/* readable - a file we can open, or the system's reason why not. */
static int
readable(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot read the %s: %s", path, what,
		    strerror(errno));
		return ERR_IO;
	}
	fclose(f);
	return 0;
}

int
pki_tls_server_new(const struct config *cfg, SSL_CTX **ctx_r, char *err,
		   size_t errlen)
{
	static const unsigned char sid_ctx[] = "mssgate";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int r = ERR_INVAL;

	if (ctx == NULL) {
		ssl_err(err, errlen, "cannot create a TLS context", NULL);
		return ERR_NOMEM;
	}
	int min = strcmp(cfg->tls_min_version, "TLSv1.3") == 0 ?
	    TLS1_3_VERSION : TLS1_2_VERSION;
	if (!SSL_CTX_set_min_proto_version(ctx, min)) {
		ssl_err(err, errlen, "cannot set the minimum TLS version",
		    NULL);
		goto fail;
	}
	if (cfg->tls13_ciphersuites[0] == '\0') {
		if (!SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION)) {
			ssl_err(err, errlen, "cannot disable TLS 1.3", NULL);
			goto fail;
		}
	} else if (!SSL_CTX_set_ciphersuites(ctx, cfg->tls13_ciphersuites)) {
		ssl_err(err, errlen, "tls13_ciphersuites: no usable suite",
		    NULL);
		goto fail;
	}
	if (min == TLS1_2_VERSION &&
	    !SSL_CTX_set_cipher_list(ctx, cfg->tls12_ciphers)) {
		ssl_err(err, errlen, "tls12_ciphers: no usable cipher", NULL);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);

	if (readable(cfg->tls_cert_file, "certificate", err, errlen) < 0 ||
	    readable(cfg->tls_key_file, "private key", err, errlen) < 0 ||
	    (cfg->tls_chain_file[0] != '\0' && readable(cfg->tls_chain_file,
	    "chain file", err, errlen) < 0))
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
		ssl_err(err, errlen, "cannot load the certificate",
		    cfg->tls_cert_file);
		goto fail;
	}
	if (cfg->tls_chain_file[0] != '\0') {
		FILE *f = fopen(cfg->tls_chain_file, "r");
		X509 *x;
		if (f == NULL) {
			snprintf(err, errlen, "%s: cannot open the chain file",
			    cfg->tls_chain_file);
			goto fail;
		}
		int n = 0;
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			if (!SSL_CTX_add0_chain_cert(ctx, x)) {
				X509_free(x);
				break;
			}
			n++;
		}
		fclose(f);
		ERR_clear_error();
		if (n == 0) {
			snprintf(err, errlen,
			    "%s: no certificate in the chain file",
			    cfg->tls_chain_file);
			goto fail;
		}
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file,
	    SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errlen, "cannot load the private key",
		    cfg->tls_key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: the private key does not match the "
		    "certificate %s", cfg->tls_key_file, cfg->tls_cert_file);
		ERR_clear_error();
		goto fail;
	}
	if ((r = cert_check_dates(ctx, cfg->tls_cert_file, err, errlen)) < 0)
		goto fail;
	*ctx_r = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return r < 0 ? r : ERR_INVAL;
}

static pthread_mutex_t cur_mtx = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *cur;

SSL_CTX *
pki_tls_server_current(void)
{
	pthread_mutex_lock(&cur_mtx);
	SSL_CTX *c = cur;
	if (c != NULL)
		SSL_CTX_up_ref(c);
	pthread_mutex_unlock(&cur_mtx);
	return c;
}

void
pki_tls_server_set(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_lock(&cur_mtx);
	SSL_CTX *old = cur;
	cur = ctx;
	pthread_mutex_unlock(&cur_mtx);
	SSL_CTX_free(old);
}
