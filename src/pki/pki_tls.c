/* SPDX-License-Identifier: MIT */
/*
 * pki_tls.c - server TLS contexts: protocol floor, the MSSanté TLS 1.2
 * suites and TLS 1.3 suites from the configuration, certificate checks at
 * load, and the process-wide current context swapped on reload.
 */
#include "pki.h"
#include "pki_cert.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "core/err.h"
#include "core/str.h"

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

/*
 * verify_usage - beyond OpenSSL's checks on another operator's client
 * certificate: it must allow digitalSignature when it has a key usage
 * extension. OpenSSL lets keyAgreement stand for it for SSL clients, but
 * a TLS client proves its key by signing, so a certificate that may not
 * sign does not fit the purpose.
 */
static int
verify_usage(int ok, X509_STORE_CTX *xs)
{
	X509 *x = X509_STORE_CTX_get_current_cert(xs);
	/* this callback replaces the trust store's: keep its CRL policy */
	ok = pki_crl_soft_cb(ok, xs);
	if (ok != 1 || x == NULL || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE)) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_INVALID_PURPOSE);
		return 0;
	}
	return ok;
}

int
pki_tls_relay_new(const struct config *cfg, SSL_CTX **ctx_r, char *err,
		  size_t errlen)
{
	SSL_CTX *ctx = NULL;
	int r = pki_tls_server_new(cfg, &ctx, err, errlen);
	if (r < 0)
		return r;
	if (readable(cfg->tls_ca_file, "trust store", err, errlen) < 0 ||
	    SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_file, NULL) != 1) {
		if (err[0] == '\0')
			ssl_err(err, errlen, "cannot load the trust store",
			    cfg->tls_ca_file);
		SSL_CTX_free(ctx);
		return ERR_INVAL;
	}
	/* the trust folder and the peers' CRLs (mssgate cert trust add,
	 * cert crl import): a revoked operator is refused */
	if (pki_ctx_add_trust(ctx, cfg->certs_dir, err, errlen) < 0) {
		SSL_CTX_free(ctx);
		return ERR_INVAL;
	}
	STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(cfg->tls_ca_file);
	if (cas != NULL)
		SSL_CTX_set_client_CA_list(ctx, cas);
	/* Another operator proves who it is, or gets no TLS session. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_usage);
	static const unsigned char sid_ctx[] = "mssgate-relay";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	ERR_clear_error();
	*ctx_r = ctx;
	return 0;
}

int
pki_tls_client_new(const struct config *cfg, SSL_CTX **ctx_r, char *err,
		   size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int r = ERR_INVAL;

	err[0] = '\0';
	if (ctx == NULL) {
		ssl_err(err, errlen, "cannot create a TLS context", NULL);
		return ERR_NOMEM;
	}
	int min = strcmp(cfg->tls_min_version, "TLSv1.3") == 0 ?
	    TLS1_3_VERSION : TLS1_2_VERSION;
	if (!SSL_CTX_set_min_proto_version(ctx, min) ||
	    (cfg->tls13_ciphersuites[0] == '\0' &&
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION)) ||
	    (cfg->tls13_ciphersuites[0] != '\0' &&
	    !SSL_CTX_set_ciphersuites(ctx, cfg->tls13_ciphersuites)) ||
	    (min == TLS1_2_VERSION &&
	    !SSL_CTX_set_cipher_list(ctx, cfg->tls12_ciphers))) {
		ssl_err(err, errlen, "cannot set the TLS protocols and suites",
		    NULL);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (readable(cfg->tls_ca_file, "trust store", err, errlen) < 0)
		goto fail;
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_file, NULL) != 1) {
		ssl_err(err, errlen, "cannot load the trust store",
		    cfg->tls_ca_file);
		goto fail;
	}
	if (pki_ctx_add_trust(ctx, cfg->certs_dir, err, errlen) < 0)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (readable(cfg->tls_client_cert_file, "operator certificate", err,
	    errlen) < 0 || readable(cfg->tls_client_key_file,
	    "operator key", err, errlen) < 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx,
	    cfg->tls_client_cert_file) != 1) {
		ssl_err(err, errlen, "cannot load the operator certificate",
		    cfg->tls_client_cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_client_key_file,
	    SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errlen, "cannot load the operator key",
		    cfg->tls_client_key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: the operator key does not match the "
		    "certificate %s", cfg->tls_client_key_file,
		    cfg->tls_client_cert_file);
		ERR_clear_error();
		goto fail;
	}
	if ((r = cert_check_dates(ctx, cfg->tls_client_cert_file, err,
	    errlen)) < 0)
		goto fail;
	*ctx_r = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return r < 0 ? r : ERR_INVAL;
}

static pthread_mutex_t cur_mtx = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *cur[PKI_CTX_COUNT];

SSL_CTX *
pki_tls_current(enum pki_ctx_kind kind)
{
	pthread_mutex_lock(&cur_mtx);
	SSL_CTX *c = cur[kind];
	if (c != NULL)
		SSL_CTX_up_ref(c);
	pthread_mutex_unlock(&cur_mtx);
	return c;
}

void
pki_tls_set(enum pki_ctx_kind kind, SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_lock(&cur_mtx);
	SSL_CTX *old = cur[kind];
	cur[kind] = ctx;
	pthread_mutex_unlock(&cur_mtx);
	SSL_CTX_free(old);
}

int
pki_tls_load_all(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *c[PKI_CTX_COUNT] = { NULL, NULL, NULL };
	int r = pki_tls_server_new(cfg, &c[PKI_CTX_SERVER], err, errlen);
	if (r == 0)
		r = pki_tls_relay_new(cfg, &c[PKI_CTX_RELAY], err, errlen);
	if (r == 0)
		r = pki_tls_client_new(cfg, &c[PKI_CTX_CLIENT], err, errlen);
	for (int k = 0; k < PKI_CTX_COUNT; k++) {
		if (r == 0)
			pki_tls_set((enum pki_ctx_kind)k, c[k]);
		SSL_CTX_free(c[k]);
	}
	return r;
}

int
pki_peer_names(X509 *cert, char names[][256], int max)
{
	int n = 0;
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) &&
	    n < max; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type != GEN_DNS)
			continue;
		const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
		int len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len >= 256 || memchr(d, '\0', (size_t)len))
			continue;
		memcpy(names[n], d, (size_t)len);
		names[n][len] = '\0';
		str_lower(names[n]);
		n++;
	}
	if (sans != NULL)
		GENERAL_NAMES_free(sans);
	if (n == 0 && max > 0) {
		X509_NAME *sub = X509_get_subject_name(cert);
		if (X509_NAME_get_text_by_NID(sub, NID_commonName, names[0],
		    256) > 0) {
			str_lower(names[0]);
			n = 1;
		}
	}
	return n;
}

const char *
pki_verify_reason(long result)
{
	return X509_verify_cert_error_string(result);
}
