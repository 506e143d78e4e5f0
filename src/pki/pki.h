/* SPDX-License-Identifier: MIT */
/*
 * pki.h - keys and certificates: the development CA generated on first
 * start, and the TLS server contexts built from the configuration.
 * Private keys are read here and nowhere else.
 */
#ifndef MSS_PKI_H
#define MSS_PKI_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct config;

#define PKI_ERR_MAX 512

/*
 * pki_devca_ensure - when the configured server certificate or key is
 * missing, create (if needed) a development CA in cfg->certs_dir
 * (ca.crt, ca.key) and issue a server certificate for the host name, the
 * local domains, localhost and the loopback addresses into
 * tls_cert_file / tls_key_file. Keys are written 0600. Returns 1 when
 * something was created, 0 when everything existed, negative on error
 * with a sentence in err.
 */
int pki_devca_ensure(const struct config *cfg, char *err, size_t errlen);

/*
 * pki_tls_server_new - an SSL_CTX for our listeners: certificate, key and
 * chain from the configuration, TLS 1.2 restricted to tls12_ciphers, TLS
 * 1.3 with tls13_ciphersuites (disabled when empty). Refuses an expired
 * or not-yet-valid certificate and a key that does not match it.
 */
int pki_tls_server_new(const struct config *cfg, SSL_CTX **ctx_r, char *err,
		       size_t errlen);

/* The context new sessions use; swapped on reload. Thread-safe. */
SSL_CTX *pki_tls_server_current(void);	/* new reference: SSL_CTX_free */
void pki_tls_server_set(SSL_CTX *ctx);	/* takes a reference */


/* ---- TLS bufferevents (shared by the protocol servers) ---- */

struct bufferevent;
struct event_base;

/* pki_bev_accept - a server-side TLS bufferevent on fd (implicit TLS),
 * on the current context; NULL on failure (fd is then closed). */
struct bufferevent *pki_bev_accept(struct event_base *base, int fd);
/* pki_bev_starttls - layer server TLS over an open plaintext
 * bufferevent (which the result then owns); NULL on failure. */
struct bufferevent *pki_bev_starttls(struct event_base *base,
				     struct bufferevent *plain);
/* pki_bev_output_pending - bytes not yet given to the kernel, counting
 * the TLS records waiting under a STARTTLS filter. */
size_t pki_bev_output_pending(struct bufferevent *bev);
/* pki_bev_error - the most useful OpenSSL reason of a failed
 * bufferevent ("no shared cipher", "unsupported protocol"), or "". */
void pki_bev_error(struct bufferevent *bev, char *out, size_t size);
/* pki_bev_describe - negotiated version, cipher and bits. */
void pki_bev_describe(struct bufferevent *bev, char *version, size_t vsize,
		      char *cipher, size_t csize, int *bits);

#endif
