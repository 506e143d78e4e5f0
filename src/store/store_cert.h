/* SPDX-License-Identifier: MIT */
/*
 * store_cert.h - the registry of the certificates the gateway manages
 * (DB_CERT: name -> where its files are and what they hold) and the
 * ledger of what the development CA issued (DB_CA_ISSUED: serial ->
 * subject, expiry, revocation), from which its CRL is made. The files
 * themselves (certificates, keys) live in certs_dir; the store keeps
 * only their description, so listing needs no key and no file.
 */
#ifndef MSS_STORE_CERT_H
#define MSS_STORE_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_CERT_NAME_MAX 65		/* [a-z0-9._-]{1,64} and a NUL */
#define STORE_CERT_KIND_MAX 16
#define STORE_CERT_PATH_MAX 1024
#define STORE_CERT_DN_MAX 512
#define STORE_CERT_SERIAL_MAX 41	/* 20 octets in hex and a NUL */
#define STORE_CERT_SANS_MAX 1024
#define STORE_CERT_USAGE_MAX 256
#define STORE_CERT_KEYTYPE_MAX 32

/* Kinds, as stored (strings, so the record needs no shared enum). */
#define STORE_CERT_SERVER "server"
#define STORE_CERT_CLIENT "client"
#define STORE_CERT_SMIME "smime"
#define STORE_CERT_OPERATOR "operator"
#define STORE_CERT_CA "ca"
#define STORE_CERT_IMPORTED "imported"

#define STORE_CERT_F_KEY_ENCRYPTED 0x01	/* key file under a passphrase */

struct store_cert {
	char name[STORE_CERT_NAME_MAX];
	char kind[STORE_CERT_KIND_MAX];
	char cert_file[STORE_CERT_PATH_MAX];
	char key_file[STORE_CERT_PATH_MAX];	/* "" when there is none */
	char subject[STORE_CERT_DN_MAX];	/* RFC 2253, UTF-8 */
	char issuer[STORE_CERT_DN_MAX];
	char serial[STORE_CERT_SERIAL_MAX];	/* upper-case hex */
	char sans[STORE_CERT_SANS_MAX];		/* "DNS:a, email:b" */
	char key_usage[STORE_CERT_USAGE_MAX];	/* "digitalSignature, ...;
						 * serverAuth, ..." */
	char key_type[STORE_CERT_KEYTYPE_MAX];	/* "RSA 2048" */
	int64_t not_before, not_after;		/* Unix time */
	char smime_address[STORE_ADDR_MAX];	/* lower case, or "" */
	int64_t added;
	uint8_t flags;				/* STORE_CERT_F_* */
};

/* A certificate the development CA issued. */
struct store_ca_issued {
	uint64_t serial;
	char name[STORE_CERT_NAME_MAX];	/* registry name at issue */
	char subject[STORE_CERT_DN_MAX];
	int64_t issued, not_after;
	int64_t revoked;			/* 0: not revoked */
	uint8_t reason;				/* RFC 5280 CRLReason */
};

/* store_cert_name_valid - 1 to 64 of [a-z0-9._-], not "." or "..". */
bool store_cert_name_valid(const char *name);

/*
 * op arg of store_op_cert_put: cert under cert->name; with issued, the
 * development CA's ledger entry in the same transaction (ERR_EXISTS if
 * its serial is already there). ERR_EXISTS when the name is taken and
 * replace is false. supersede, when set, names another record deleted
 * in the same transaction (its files were just overwritten).
 * store_op_cert_del: deletes name (old_r receives it); ERR_NOTFOUND.
 */
struct store_cert_op {
	const struct store_cert *cert;
	const struct store_ca_issued *issued;
	bool replace;
	const char *supersede;
	const char *name;
	struct store_cert old_r;
};
int store_op_cert_put(struct store_wtxn *w, void *arg);
int store_op_cert_del(struct store_wtxn *w, void *arg);

/* store_cert_get - by name: 1 found, 0 not, <0 error. */
int store_cert_get(struct store_rtxn *r, const char *name,
		   struct store_cert *c);
/* store_cert_iter - cb for every record, by name; a non-zero return of cb
 * stops the walk and is returned. */
int store_cert_iter(struct store_rtxn *r,
		    int (*cb)(const struct store_cert *, void *), void *arg);

/*
 * store_cert_find_smime - the S/MIME signing certificate of a mailbox
 * address (compared without case): 1 found (into c), 0 none, <0 error.
 * Only a certificate valid now (not_before <= now < not_after) and not
 * revoked in the development CA's ledger is returned; among several,
 * the one that expires last. The caller loads c->cert_file and
 * c->key_file (pki_bundle_load_pair) to sign.
 */
int store_cert_find_smime(struct store_rtxn *r, const char *address,
			  struct store_cert *c);

/* store_ca_issued_get - by serial: 1 found, 0 not, <0 error. */
int store_ca_issued_get(struct store_rtxn *r, uint64_t serial,
			struct store_ca_issued *rec);
/* store_ca_issued_iter - every issued certificate, by serial. */
int store_ca_issued_iter(struct store_rtxn *r,
			 int (*cb)(const struct store_ca_issued *, void *),
			 void *arg);

/*
 * op arg of store_op_ca_revoke: mark serial revoked at `when` for
 * reason. ERR_NOTFOUND when the CA never issued it, ERR_EXISTS when it
 * is already revoked (rec_r then holds the earlier revocation).
 */
struct store_ca_revoke_op {
	uint64_t serial;
	int64_t when;
	uint8_t reason;
	struct store_ca_issued rec_r;
};
int store_op_ca_revoke(struct store_wtxn *w, void *arg);

/* op arg of store_op_ca_crl_number: the next CRL number (1, 2, ...). */
struct store_ca_crl_op {
	uint64_t number_r;
};
int store_op_ca_crl_number(struct store_wtxn *w, void *arg);

#endif
