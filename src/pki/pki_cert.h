/* SPDX-License-Identifier: MIT */
/*
 * pki_cert.h - certificates for the administration and for the daemon's
 * checks: the development CA, issuing leaves with the right extensions
 * per use, loading any certificate file an administrator is handed (PEM,
 * DER, PKCS#12, PKCS#7) with its key, describing a certificate,
 * verifying one against the trust store with the precise reason it
 * fails, PKCS#12 export, CRLs, and the trust folder.
 *
 * Private keys are read in this module only (pki/), never printed, and
 * the buffers that held them are wiped before they are freed. Every
 * error is one line in err[errlen] naming the file ("FILE:LINE: reason"
 * for a PEM block, "FILE: reason" otherwise).
 */
#ifndef MSS_PKI_CERT_H
#define MSS_PKI_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PKI_CERT_FILE_MAX (1024 * 1024)	/* larger is not a certificate */
#define PKI_CERT_CHAIN_MAX 64		/* certificates in one file */
#define PKI_P12_ITER_MAX 1000000	/* PKCS#12 MAC iterations */
#define PKI_NAMES_MAX 16		/* --dns / --email per certificate */
#define PKI_LEAF_DAYS_MAX 3650
#define PKI_CRL_DAYS 7			/* nextUpdate of our CRL */

/* Where things live under certs_dir. */
#define PKI_CA_CERT "ca.crt"
#define PKI_CA_KEY "ca.key"
#define PKI_TRUST_DIR "trust"
#define PKI_CRL_DIR "crl"
#define PKI_DEVCA_CRL "devca.crl.pem"

enum pki_kind {
	PKI_KIND_SERVER,	/* serverAuth, SAN DNS */
	PKI_KIND_CLIENT,	/* clientAuth */
	PKI_KIND_SMIME,		/* emailProtection, SAN email */
	PKI_KIND_OPERATOR,	/* serverAuth + clientAuth (relay) */
};

enum pki_key_type {
	PKI_KEY_RSA2048,
	PKI_KEY_RSA3072,
	PKI_KEY_P256,
};

enum pki_purpose {
	PKI_PURPOSE_NONE,	/* chain, dates and revocation only */
	PKI_PURPOSE_TLS_SERVER,
	PKI_PURPOSE_TLS_CLIENT,
	PKI_PURPOSE_SMIME,	/* signing */
};

/* Names and parsers of the command line's words; parsers return 0 or
 * ERR_INVAL. */
const char *pki_kind_name(enum pki_kind k);
int pki_kind_parse(const char *s, enum pki_kind *k);
const char *pki_key_type_name(enum pki_key_type t);
int pki_key_type_parse(const char *s, enum pki_key_type *t);
const char *pki_purpose_name(enum pki_purpose p);
int pki_purpose_parse(const char *s, enum pki_purpose *p);
/* RFC 5280 CRLReason: "keyCompromise" <-> 1 (case-insensitive; the codes
 * a CRL may carry: 0-6, 9, 10). */
const char *pki_reason_name(int code);
int pki_reason_parse(const char *s, int *code);

/* ---- the development CA ---- */

struct pki_ca {
	X509 *cert;
	EVP_PKEY *key;
};

/*
 * pki_ca_init - create certs_dir/ca.crt and ca.key (the same CA that
 * pki_devca_ensure creates on first start) unless both exist. Returns 1
 * created, 0 both existed (kept as they are), <0 on error (one of the
 * two missing is an error: never overwrite half a pair).
 */
int pki_ca_init(const char *certs_dir, char *err, size_t errlen);
/* pki_ca_load - the CA's certificate and key; ERR_NOTFOUND when absent. */
int pki_ca_load(const char *certs_dir, struct pki_ca **ca_r, char *err,
		size_t errlen);
void pki_ca_free(struct pki_ca **ca);

struct pki_issue_req {
	enum pki_kind kind;
	const char *cn;			/* NULL: from the first name */
	const char *dns[PKI_NAMES_MAX];
	size_t n_dns;
	const char *email[PKI_NAMES_MAX];
	size_t n_email;
	const char *rpps;		/* 11 digits or NULL */
	enum pki_key_type key_type;
	unsigned days;			/* 1 .. PKI_LEAF_DAYS_MAX */
	/* Both non-zero: these dates instead of now-1h .. now+days (tests
	 * need expired and future certificates). */
	int64_t not_before, not_after;
};

/* pki_issue_check - the request's names, RPPS and days are acceptable
 * for its kind; a sentence in err if not (ERR_INVAL). */
int pki_issue_check(const struct pki_issue_req *req, char *err,
		    size_t errlen);
/*
 * pki_cert_issue - a new key and a certificate for it signed by ca:
 * subject C=FR, O=mssgate development, serialNumber=8+RPPS (IdNat_PS)
 * when given, CN; the extensions of its kind; a random positive 63-bit
 * serial (the ledger's key) in *serial_r.
 */
int pki_cert_issue(const struct pki_ca *ca, const struct pki_issue_req *req,
		   X509 **cert_r, EVP_PKEY **key_r, uint64_t *serial_r,
		   char *err, size_t errlen);

/* ---- loading what an administrator hands us ---- */

enum pki_format {
	PKI_FMT_PEM,
	PKI_FMT_DER,
	PKI_FMT_PKCS12,
	PKI_FMT_PKCS7,
};
const char *pki_format_name(enum pki_format f);

struct pki_bundle {
	/* the leaf: the key's when one matches, else the first; NULL if
	 * none */
	X509 *cert;
	STACK_OF(X509) *chain;	/* the other certificates, in order */
	EVP_PKEY *key;		/* NULL when the file holds none */
	bool key_matches;	/* key and cert belong together */
	bool key_encrypted;	/* it was stored under a passphrase */
	enum pki_format format;
};

/*
 * pki_bundle_load_mem - parse data[len] (named name in errors): PEM
 * (certificates, a private key, PKCS#7, encrypted or not), DER (a
 * certificate, a key, PKCS#7) or PKCS#12, told apart by content. password
 * (NULL: none given) opens an encrypted key or a PKCS#12 file. Returns 0
 * with at least a certificate or a key in b, or ERR_INVAL (not such a
 * file, damaged), ERR_AUTH (a password is needed, or it is wrong),
 * ERR_LIMIT (too large, too many certificates), ERR_NOMEM. On failure b
 * holds nothing.
 */
int pki_bundle_load_mem(const char *name, const void *data, size_t len,
			const char *password, struct pki_bundle *b,
			char *err, size_t errlen);
/* pki_bundle_load_file - the same from a file (at most PKI_CERT_FILE_MAX
 * bytes; ERR_IO when it cannot be read). */
int pki_bundle_load_file(const char *path, const char *password,
			 struct pki_bundle *b, char *err, size_t errlen);
/*
 * pki_bundle_load_pair - cert_file (with its chain) and key_file (NULL
 * or "": the key is in cert_file), the key checked against the
 * certificate (ERR_INVAL "does not match"). What the S/MIME signer and
 * export use.
 */
int pki_bundle_load_pair(const char *cert_file, const char *key_file,
			 const char *password, struct pki_bundle *b,
			 char *err, size_t errlen);
/* pki_bundle_take_key - move src's key into b (a --key FILE). */
int pki_bundle_take_key(struct pki_bundle *b, struct pki_bundle *src,
			const char *src_name, char *err, size_t errlen);
void pki_bundle_free(struct pki_bundle *b);

/* ---- describing ---- */

struct pki_cert_info {
	char subject[512];		/* RFC 2253, UTF-8, escaped */
	char issuer[512];
	char serial[41];		/* upper-case hex, as openssl prints */
	char sans[1024];		/* "DNS:a, email:b, IP:..." */
	char key_usage[128];		/* "digitalSignature, ..." */
	char ext_key_usage[128];	/* "serverAuth, clientAuth" */
	char key_type[32];		/* "RSA 2048", "EC P-256" */
	char fingerprint[96];		/* SHA-256, AA:BB:... */
	char subject_hash[9];		/* as c_rehash names links */
	int64_t not_before, not_after;
	bool is_ca;
	bool self_signed;
};
int pki_cert_info(X509 *x, struct pki_cert_info *info);
/* pki_cert_has_email - a SAN rfc822Name (or subject emailAddress) equal
 * to addr, without case. */
bool pki_cert_has_email(X509 *x, const char *addr);
/* pki_time_str - "2026-11-22 10:00:00 UTC". */
void pki_time_str(int64_t t, char *out, size_t size);

/* ---- writing, atomically (temporary file, fsync, rename) ---- */

/* A file written aside, renamed over its path only on commit. */
struct pki_staged {
	char tmp[4096];
	char path[4096];
};
/* pki_stage_cert - cert, then chain, PEM, mode 0644. */
int pki_stage_cert(struct pki_staged *s, const char *path, X509 *cert,
		   STACK_OF(X509) *chain, char *err, size_t errlen);
/* pki_stage_key - PKCS#8 PEM, mode 0600; encrypted with AES-256-CBC
 * (PBES2, PBKDF2-SHA256) when passphrase is non-NULL. */
int pki_stage_key(struct pki_staged *s, const char *path, EVP_PKEY *key,
		  const char *passphrase, char *err, size_t errlen);
/* pki_stage_p12 - PKCS#12 (AES-256-CBC, SHA-256 MAC), mode 0600: cert,
 * key, and chain plus extra (may be NULL) as CA certificates. */
int pki_stage_p12(struct pki_staged *s, const char *path,
		  const struct pki_bundle *b, STACK_OF(X509) *extra,
		  const char *friendly, const char *password, char *err,
		  size_t errlen);
/* pki_stage_crl - PEM, mode 0644. */
int pki_stage_crl(struct pki_staged *s, const char *path, X509_CRL *crl,
		  char *err, size_t errlen);
int pki_stage_commit(struct pki_staged *s, char *err, size_t errlen);
/* pki_stage_commit_new - the same, but only when nothing is at the path
 * yet (ERR_EXISTS otherwise): a new file never replaces another's. */
int pki_stage_commit_new(struct pki_staged *s, char *err, size_t errlen);
void pki_stage_abort(struct pki_staged *s);

/* ---- the trust store: tls_ca_file, certs_dir/trust/, certs_dir/crl/ ---- */

struct pki_trust {
	X509_STORE *store;		/* anchors and CRLs, flags set */
	STACK_OF(X509) *certs;		/* every anchor, for look-ups */
	STACK_OF(X509_CRL) *crls;
	bool ca_file_missing;
};

/*
 * pki_trust_load - every certificate of ca_file (a PEM bundle; a missing
 * file is noted, not an error) and of certs_dir/trust/ *.pem, every CRL
 * of certs_dir/crl/ *.pem (a damaged one is an error: revocation is not
 * ignored silently). CRLs are checked for the leaf certificate when the
 * store holds one for its issuer (X509_V_FLAG_CRL_CHECK); an issuer
 * without a CRL is accepted (no CRL distribution point is fetched).
 */
int pki_trust_load(const char *ca_file, const char *certs_dir,
		   struct pki_trust **t_r, char *err, size_t errlen);
void pki_trust_free(struct pki_trust **t);

/*
 * pki_ctx_add_trust - for the daemon's contexts that verify peers
 * (relay port, outbound relay): add the anchors of certs_dir/trust/ and
 * the CRLs of certs_dir/crl/ to ctx's store, with the same CRL policy
 * as pki_trust_load. Call after SSL_CTX_load_verify_locations.
 */
int pki_ctx_add_trust(SSL_CTX *ctx, const char *certs_dir, char *err,
		      size_t errlen);
/* pki_crl_soft_cb - the verify callback of that policy: an issuer with
 * no CRL imported is accepted. A context's own callback (which replaces
 * the store's) must call it first. */
int pki_crl_soft_cb(int ok, X509_STORE_CTX *ctx);

enum pki_verify_fail {
	PKI_VERIFY_OK,
	PKI_VERIFY_EXPIRED,
	PKI_VERIFY_NOT_YET_VALID,
	PKI_VERIFY_UNTRUSTED,
	PKI_VERIFY_REVOKED,
	PKI_VERIFY_PURPOSE,
	PKI_VERIFY_MISMATCH,
	PKI_VERIFY_OTHER,
};

/*
 * pki_cert_verify - cert (with untrusted intermediates chain, may be
 * NULL) against t for purpose, at time at (0: now); with key, the key
 * must match first. Returns 0, or ERR_INVAL with *fail_r and a sentence
 * in reason: "certificate expired on 2026-01-01 00:00:00 UTC", "revoked
 * on ... (keyCompromise) by the CRL of 'CN=...'", "untrusted: unable to
 * get the issuer certificate: 'CN=...' is not in the trust store",
 * "extended key usage (clientAuth) does not allow tls-server: it lacks
 * serverAuth", "the private key does not match the certificate"...
 */
int pki_cert_verify(const struct pki_trust *t, X509 *cert,
		    STACK_OF(X509) *chain, EVP_PKEY *key,
		    enum pki_purpose purpose, int64_t at,
		    enum pki_verify_fail *fail_r, char *reason, size_t size);

/* ---- CRLs ---- */

struct pki_revoked {
	uint64_t serial;
	int64_t when;
	int reason;			/* 0 (unspecified): no reason code */
};

/* pki_crl_make - the CA's v2 CRL: thisUpdate now, nextUpdate now + days,
 * one entry per revoked certificate, CRL number, authority key id. */
int pki_crl_make(const struct pki_ca *ca, const struct pki_revoked *list,
		 size_t n, uint64_t number, int64_t now, unsigned days,
		 X509_CRL **crl_r, char *err, size_t errlen);
/* pki_crl_load_mem / _file - one CRL, PEM or DER. */
int pki_crl_load_mem(const char *name, const void *data, size_t len,
		     X509_CRL **crl_r, char *err, size_t errlen);
int pki_crl_load_file(const char *path, X509_CRL **crl_r, char *err,
		      size_t errlen);
/*
 * pki_crl_check - crl is signed by an anchor of t with its name (into
 * issuer_r, may be NULL) and current at now: ERR_NOTFOUND (issuer not in
 * the trust store), ERR_INVAL (signature, dates), with the sentence.
 */
int pki_crl_check(const struct pki_trust *t, X509_CRL *crl, int64_t now,
		  X509 **issuer_r, char *err, size_t errlen);
/* pki_crl_times - thisUpdate / nextUpdate (0 when absent) and the number
 * of entries. */
void pki_crl_times(X509_CRL *crl, int64_t *this_r, int64_t *next_r,
		   size_t *n_r);

/* ---- the trust folder (certs_dir/trust/, c_rehash-style links) ---- */

/*
 * pki_trustdir_add - x as trust/NAME.pem (NAME from its CN) with a link
 * HASH.N to it, so `openssl verify -CApath` and X509_LOOKUP_hash_dir
 * find it too. Returns 1 added, 0 already there (name_r: its file name),
 * <0 on error.
 */
int pki_trustdir_add(const char *certs_dir, X509 *x, char *name_r,
		     size_t size, char *err, size_t errlen);
/*
 * pki_trustdir_remove - by subject hash (8 hex digits: every certificate
 * with it), by link (HASH.N) or by file name (NAME or NAME.pem): the
 * files and their links. Returns how many certificates were removed (0:
 * nothing matched), <0 on error.
 */
int pki_trustdir_remove(const char *certs_dir, const char *what, char *err,
			size_t errlen);
/* pki_trustdir_iter - every certificate of the folder: cb(file name, x,
 * arg) in file name order; a non-zero return stops the walk. */
int pki_trustdir_iter(const char *certs_dir,
		      int (*cb)(const char *file, X509 *x, void *arg),
		      void *arg, char *err, size_t errlen);
/* pki_pem_certs_iter - every certificate of a PEM bundle (ca_file). */
int pki_pem_certs_iter(const char *path,
		       int (*cb)(const char *file, X509 *x, void *arg),
		       void *arg, char *err, size_t errlen);

#endif
