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
#include <stdint.h>

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

/*
 * pki_tls_relay_new - the server context of the relay port: like
 * pki_tls_server_new, and a client certificate is required and verified
 * against the trust store (tls_ca_file).
 */
int pki_tls_relay_new(const struct config *cfg, SSL_CTX **ctx_r, char *err,
		      size_t errlen);

/*
 * pki_tls_client_new - the context of outbound relay: our operator
 * certificate and key (tls_client_cert_file / _key_file), the trust store
 * for the peer's certificate (verification on; the caller sets the host
 * name to check), the same protocol floor and suites as the server.
 */
int pki_tls_client_new(const struct config *cfg, SSL_CTX **ctx_r, char *err,
		       size_t errlen);

enum pki_ctx_kind {
	PKI_CTX_SERVER,		/* submission, IMAP, HTTPS */
	PKI_CTX_RELAY,		/* relay port: client certificates */
	PKI_CTX_CLIENT,		/* outbound relay */
	PKI_CTX_COUNT
};

/* The contexts new sessions use; swapped on reload. Thread-safe. */
SSL_CTX *pki_tls_current(enum pki_ctx_kind kind);	/* new ref */
void pki_tls_set(enum pki_ctx_kind kind, SSL_CTX *ctx);	/* takes a ref */
#define pki_tls_server_current() pki_tls_current(PKI_CTX_SERVER)
#define pki_tls_server_set(ctx) pki_tls_set(PKI_CTX_SERVER, (ctx))

/* pki_tls_load_all - build the three contexts from cfg and make them
 * current, all or none. */
int pki_tls_load_all(const struct config *cfg, char *err, size_t errlen);

/* pki_peer_names - the DNS names a peer certificate stands for (SAN
 * dNSName entries, or the subject CN when it has none), lower-cased,
 * into names[max][256]; returns how many. */
int pki_peer_names(X509 *cert, char names[][256], int max);
/* pki_verify_reason - OpenSSL's text for a verification result. */
const char *pki_verify_reason(long result);


/* ---- expiry of the certificates in use (pki_expiry.c) ---- */

#define PKI_EXPIRY_MAX 64

struct pki_expiry {
	char use[32];			/* "tls_cert_file", "smime"... */
	char name[80];			/* registry name, or a role */
	char file[1024];
	char subject[512];
	int64_t not_after;
};

struct store;
/*
 * pki_expiry_scan - read the certificates the configuration and the
 * registry put in use, warn in the log of each that expires within 30, 7
 * or 1 days (or has), and keep the list for pki_expiry_last. Returns how
 * many were found, or <0.
 */
int pki_expiry_scan(const struct config *cfg, struct store *st,
		    int64_t now);
/* pki_expiry_last - the last scan, any thread. */
size_t pki_expiry_last(struct pki_expiry *out, size_t max);

/* ---- TLS bufferevents (shared by the protocol servers) ---- */

struct bufferevent;
struct event_base;

/* pki_bev_accept - a server-side TLS bufferevent on fd (implicit TLS),
 * on the current server context; NULL on failure (fd is then closed). */
struct bufferevent *pki_bev_accept(struct event_base *base, int fd);
/* pki_bev_starttls - layer server TLS over an open plaintext
 * bufferevent (which the result then owns), on the context of kind;
 * NULL on failure. */
struct bufferevent *pki_bev_starttls(struct event_base *base,
				     struct bufferevent *plain,
				     enum pki_ctx_kind kind);
/* pki_bev_connect_tls - client TLS over an open plaintext bufferevent
 * (owned by the result), verifying the peer for host (a name or an IP
 * literal) with SNI; NULL on failure. */
struct bufferevent *pki_bev_connect_tls(struct event_base *base,
					struct bufferevent *plain,
					const char *host);
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
