/* SPDX-License-Identifier: MIT */
/*
 * pki_smime.h - S/MIME 4.0 (RFC 8551) on OpenSSL 3 CMS: a signer loaded
 * once from its certificate and key files, detached multipart/signed
 * signatures of whole RFC 5322 messages, verification of inbound signed
 * messages into the status the gateway records in a header of its own,
 * and EnvelopedData encryption to recipients' certificates.
 * Private keys are read here (src/pki/) and nowhere else; messages are
 * handled in memory, every input bounded.
 */
#ifndef MSS_PKI_SMIME_H
#define MSS_PKI_SMIME_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/buf.h"

/* The largest message signed, encrypted or verified. */
#define PKI_SMIME_MSG_MAX ((size_t)64 << 20)
/* The largest certificate, chain or key file read. */
#define PKI_SMIME_FILE_MAX ((size_t)1 << 20)
/* MIME nesting walked when a body is made 7-bit safe before signing. */
#define PKI_SMIME_NEST_MAX 32
/* Room of the signer and reason texts of a result, NUL included. */
#define PKI_SMIME_TEXT_MAX 256
/* Room enough for any pki_smime_header_value(), NUL included. */
#define PKI_SMIME_HEADER_MAX (2 * PKI_SMIME_TEXT_MAX + 64)

struct pki_smime_signer;

/*
 * pki_smime_signer_load - read a signing identity once: cert_file (PEM,
 * the leaf first, optionally followed by its chain), key_file (PEM,
 * PKCS#8 or traditional, encrypted when passphrase is not NULL) and
 * chain_file (PEM, may be NULL). Refuses, with one line in err naming the
 * file ("FILE: reason" or "FILE:LINE: reason" for a bad PEM block): a
 * missing, unreadable, oversized (PKI_SMIME_FILE_MAX), DER or corrupted
 * file; an encrypted key without passphrase or with a wrong one; a key
 * other than RSA (2048 bits or more) or EC; a key that does not match the
 * certificate; a leaf or chain certificate outside its validity period;
 * a leaf whose key usage lacks digitalSignature or whose extended key
 * usage (when present) lacks emailProtection. Returns 0 and *signer_r,
 * or ERR_IO, ERR_LIMIT, ERR_INVAL, ERR_AUTH (passphrase), ERR_CRYPTO,
 * ERR_NOMEM. The file contents holding the key are wiped before return.
 * The signer may be used by several threads at once.
 */
int pki_smime_signer_load(const char *cert_file, const char *key_file,
			  const char *chain_file, const char *passphrase,
			  struct pki_smime_signer **signer_r, char *err,
			  size_t errlen);

/* pki_smime_signer_free - free a signer (NULL accepted), clear *signer. */
void pki_smime_signer_free(struct pki_smime_signer **signer);

/* pki_smime_signer_name - the signer's e-mail address (or CN), ASCII,
 * for logs; lives as long as the signer. */
const char *pki_smime_signer_name(const struct pki_smime_signer *signer);

/*
 * pki_smime_sign - sign the whole RFC 5322 message msg[len] and append
 * the signed message to out. Its top-level header is the original one
 * without MIME-Version and the Content-* fields, plus "MIME-Version: 1.0"
 * and a multipart/signed Content-Type (protocol
 * "application/pkcs7-signature", micalg=sha-256). The first part is the
 * original body with its Content-* fields, made 7-bit safe first: 8-bit
 * text (or lines over 998 bytes) becomes quoted-printable, other 8-bit
 * leaves base64, inside multiparts and attached messages too; a message
 * without Content-Type gets text/plain with charset us-ascii or UTF-8.
 * The second part is a detached CMS SignedData (SHA-256, signingTime,
 * the signer's certificate and chain) in base64, named smime.p7s. Every
 * line ends in CRLF: bare LF line ends of the input are made CRLF.
 * Returns 0, or ERR_PROTO for a message that cannot be signed as it is
 * (a bare CR; a NUL byte or a line without a colon in the header
 * section; 8-bit bytes in a header field inside the signed part, i.e. a
 * top-level Content-* field or the header of a MIME part, which only the
 * sender can encode; an 8-bit body that cannot be made 7-bit safe),
 * ERR_LIMIT (input over PKI_SMIME_MSG_MAX, MIME nested deeper than
 * PKI_SMIME_NEST_MAX, out full), ERR_CRYPTO or ERR_NOMEM, with one line
 * in err ("message:LINE: reason" where a line is known). On failure out
 * is as it was. Several threads may sign with one signer at once.
 */
int pki_smime_sign(struct pki_smime_signer *signer, const char *msg,
		   size_t len, struct buf *out, char *err, size_t errlen);

enum pki_smime_status {
	PKI_SMIME_NONE = 0,	/* not signed, or not S/MIME signed */
	PKI_SMIME_VALID,	/* signature verifies, chain trusted */
	PKI_SMIME_INVALID,	/* content changed, bad signature, malformed */
	PKI_SMIME_UNTRUSTED,	/* signature verifies, chain does not */
};

struct pki_smime_result {
	enum pki_smime_status status;
	/* The first signer's e-mail address (SAN, else subject emailAddress)
	 * or CN, when known: printable ASCII, '"' and '\' escaped with '\'. */
	char signer[PKI_SMIME_TEXT_MAX];
	/* Why the status is not VALID (same escaping), "" otherwise. */
	char reason[PKI_SMIME_TEXT_MAX];
};

/* Flags of pki_smime_verify. */
#define PKI_SMIME_VERIFY_CRL 0x1u	/* check the signer's CRL */
#define PKI_SMIME_VERIFY_CRL_ALL 0x2u	/* check every CRL of the chain */

/*
 * pki_smime_verify - check the S/MIME signature of msg[len]: a
 * multipart/signed with protocol application/pkcs7-signature or
 * application/x-pkcs7-signature (the first part checked byte for byte
 * against a detached SignedData), or an opaque application/pkcs7-mime
 * (or x-pkcs7-mime) signed-data. Fills *res: NONE for anything else
 * (plain, PGP, encrypted), INVALID when the content or a signature does
 * not verify or the signed structure is malformed, UNTRUSTED when the
 * signatures verify but a signer's chain does not verify against trust
 * for S/MIME signing (reason: OpenSSL's X509_verify_cert_error_string),
 * VALID otherwise. Chains are checked now, with the CRLs of the store
 * and of the message: revocation is checked when flags hold
 * PKI_SMIME_VERIFY_CRL (the signer) or PKI_SMIME_VERIFY_CRL_ALL (every
 * certificate), or when the store's own flags hold X509_V_FLAG_CRL_CHECK
 * (X509_STORE_set_flags); a missing CRL then makes the chain untrusted.
 * Bare LF line ends are read as CRLF. Returns 0 for any message
 * (res filled); ERR_LIMIT when len is over PKI_SMIME_MSG_MAX (status
 * NONE, reason says why), ERR_INVAL for a NULL trust store, ERR_NOMEM.
 * Thread-safe on a shared store.
 */
int pki_smime_verify(X509_STORE *trust, unsigned flags, const char *msg,
		     size_t len, struct pki_smime_result *res);

/*
 * pki_smime_encrypt - encrypt msg[len] to the n certificates of rcpts
 * and append the message to out: the top-level header kept as by
 * pki_smime_sign, "Content-Type: application/pkcs7-mime;
 * smime-type=enveloped-data; name=smime.p7m", base64 CMS EnvelopedData
 * with AES-256-CBC holding the first part pki_smime_sign would sign.
 * Refuses a certificate outside its validity period, with a key other
 * than RSA or EC, or whose key usage excludes keyEncipherment (RSA) or
 * keyAgreement (EC). Returns 0, or the codes of pki_smime_sign
 * (ERR_INVAL for a refused certificate); out unchanged on failure.
 */
int pki_smime_encrypt(X509 *const *rcpts, size_t n, const char *msg,
		      size_t len, struct buf *out, char *err, size_t errlen);

/*
 * pki_smime_decrypt - the reverse of pki_smime_encrypt with the
 * recipient's cert and key: appends the message (outer fields,
 * "MIME-Version: 1.0", then the decrypted entity) to out. Returns 0,
 * ERR_PROTO (not an application/pkcs7-mime enveloped-data message, bad
 * base64 or CMS), ERR_CRYPTO (not for this key), ERR_LIMIT, ERR_NOMEM;
 * out unchanged on failure. Meant for tests and tools.
 */
int pki_smime_decrypt(X509 *cert, EVP_PKEY *key, const char *msg,
		      size_t len, struct buf *out, char *err, size_t errlen);

/* pki_smime_status_name - "none", "valid", "invalid", "untrusted". */
const char *pki_smime_status_name(enum pki_smime_status status);

/*
 * pki_smime_header_value - the value of the header the gateway owns for
 * a result (the caller names the field, e.g. X-MSSGate-Signature):
 * `valid; signer="dr.x@mssante.test"`, `invalid; reason="..."`,
 * `untrusted; signer="..."; reason="..."` or `none`, one line of
 * printable ASCII, signer omitted when unknown. Writes it into
 * out[size] (PKI_SMIME_HEADER_MAX always suffices) and returns its
 * length, or ERR_LIMIT.
 */
int pki_smime_header_value(const struct pki_smime_result *res, char *out,
			   size_t size);

#endif
