/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cert_load.c - arbitrary bytes (inputs up to 64 KiB) as a
 * certificate file through pki_bundle_load_mem, with no password and
 * with one, and as a CRL through pki_crl_load_mem. A load gives a
 * certificate or a key, or fails with a known code and one line naming
 * the input; whatever loads is described (pki_cert_info: bounded text,
 * no control character) and verified against an empty trust store (a
 * failure with a one-line reason). Nothing leaks either way.
 *
 * No key or certificate is committed with the corpus: valid objects
 * (PEM and DER certificate, plain and encrypted key, PKCS#12, PKCS#7,
 * CRL) are made here at start, and an input whose first byte has the
 * high bit set is applied to one of them (byte 0: which one; bytes 1-2:
 * an offset; the rest overwrites from there, or, with bit 0x40 of byte
 * 0, replaces the tail), so mutations explore the valid structures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "pki/pki_cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX 65536
#define ERR_LEN 1024
#define NAME "input.pem"
#define PASSWORD "fuzz"

enum {
	T_CERT_PEM, T_CERT_DER, T_KEY_PEM, T_KEY_ENC, T_PAIR_PEM, T_P12,
	T_P7, T_CRL_PEM, T_CRL_DER, T_COUNT
};

struct tmpl {
	unsigned char *p;
	size_t len;
};

static struct tmpl tmpl[T_COUNT];
static struct pki_trust *empty_trust;
static bool ready;

static void
put_bio(int i, BIO *b)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	CHECK(n > 0);
	tmpl[i].p = malloc((size_t)n);
	CHECK(tmpl[i].p != NULL);
	memcpy(tmpl[i].p, p, (size_t)n);
	tmpl[i].len = (size_t)n;
	BIO_free(b);
}

static void
cleanup(void)
{
	for (int i = 0; i < T_COUNT; i++)
		free(tmpl[i].p);
	pki_trust_free(&empty_trust);
}

/* setup - a throwaway self-signed certificate and what is made from it;
 * an empty trust store (no CA file, a folder that does not exist). */
static void
setup(void)
{
	char err[ERR_LEN];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	BIO *b;

	CHECK(k != NULL && x != NULL);
	X509_NAME *n = X509_get_subject_name(x);
	CHECK(X509_set_version(x, 2) == 1);
	CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), 42) == 1);
	CHECK(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
	CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL);
	CHECK(X509_set_pubkey(x, k) == 1);
	CHECK(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"fuzz.test", -1, -1, 0) == 1);
	CHECK(X509_set_issuer_name(x, n) == 1);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3,
	    NID_subject_alt_name, "DNS:fuzz.test,email:a@fuzz.test");
	CHECK(e != NULL && X509_add_ext(x, e, -1) == 1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
	    "serverAuth,emailProtection");
	CHECK(e != NULL && X509_add_ext(x, e, -1) == 1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
	CHECK(e != NULL && X509_add_ext(x, e, -1) == 1);
	X509_EXTENSION_free(e);
	CHECK(X509_sign(x, k, EVP_sha256()) > 0);

	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && PEM_write_bio_X509(b, x) == 1);
	put_bio(T_CERT_PEM, b);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && i2d_X509_bio(b, x) == 1);
	put_bio(T_CERT_DER, b);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
	    NULL) == 1);
	put_bio(T_KEY_PEM, b);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && PEM_write_bio_PKCS8PrivateKey(b, k,
	    EVP_aes_256_cbc(), PASSWORD, 4, NULL, NULL) == 1);
	put_bio(T_KEY_ENC, b);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
	put_bio(T_PAIR_PEM, b);
	/* few iterations: the fuzzer runs it many times */
	PKCS12 *p12 = PKCS12_create(PASSWORD, "fuzz", k, x, NULL,
	    NID_aes_256_cbc, NID_aes_256_cbc, 1, 1, 0);
	CHECK(p12 != NULL);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && i2d_PKCS12_bio(b, p12) == 1);
	put_bio(T_P12, b);
	PKCS12_free(p12);
	PKCS7 *p7 = PKCS7_new();
	CHECK(p7 != NULL && PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
	    PKCS7_content_new(p7, NID_pkcs7_data) == 1 &&
	    PKCS7_add_certificate(p7, x) == 1);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && i2d_PKCS7_bio(b, p7) == 1);
	put_bio(T_P7, b);
	PKCS7_free(p7);
	struct pki_ca ca = { x, k };
	struct pki_revoked rv = { 42, 1700000000, 1 };
	X509_CRL *crl = NULL;
	CHECK(pki_crl_make(&ca, &rv, 1, 1, 1700000000, 7, &crl, err,
	    sizeof(err)) == 0);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && PEM_write_bio_X509_CRL(b, crl) == 1);
	put_bio(T_CRL_PEM, b);
	b = BIO_new(BIO_s_mem());
	CHECK(b != NULL && i2d_X509_CRL_bio(b, crl) == 1);
	put_bio(T_CRL_DER, b);
	X509_CRL_free(crl);
	X509_free(x);
	EVP_PKEY_free(k);
	CHECK(pki_trust_load(NULL, "/nonexistent/mss-fuzz-certs",
	    &empty_trust, err, sizeof(err)) == 0);
	atexit(cleanup);
	ready = true;
}

static void
check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	CHECK(n < size);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void
check_err(int r, const char *err)
{
	CHECK(r == ERR_INVAL || r == ERR_AUTH || r == ERR_LIMIT);
	check_text(err, ERR_LEN);
	CHECK(strncmp(err, NAME, strlen(NAME)) == 0);
	CHECK(err[strlen(NAME)] == ':');
}

static void
describe(X509 *x)
{
	struct pki_cert_info info;
	char reason[ERR_LEN];
	enum pki_verify_fail f = PKI_VERIFY_OK;

	CHECK(pki_cert_info(x, &info) == 0);
	check_text(info.subject, sizeof(info.subject));
	check_text(info.issuer, sizeof(info.issuer));
	check_text(info.serial, sizeof(info.serial));
	check_text(info.sans, sizeof(info.sans));
	check_text(info.key_usage, sizeof(info.key_usage));
	check_text(info.ext_key_usage, sizeof(info.ext_key_usage));
	check_text(info.key_type, sizeof(info.key_type));
	CHECK(strlen(info.subject_hash) == 8);
	(void)pki_cert_has_email(x, "a@fuzz.test");
	/* nothing is trusted: it must fail, and say why on one line */
	int r = pki_cert_verify(empty_trust, x, NULL, NULL,
	    PKI_PURPOSE_TLS_SERVER, 0, &f, reason, sizeof(reason));
	CHECK(r == ERR_INVAL || r == ERR_NOMEM);
	if (r == ERR_INVAL) {
		CHECK(f != PKI_VERIFY_OK);
		CHECK(reason[0] != '\0');
		check_text(reason, sizeof(reason));
	}
}

static void
run(const unsigned char *p, size_t n, const char *password)
{
	struct pki_bundle b;
	char err[ERR_LEN];

	memset(&b, 0x5a, sizeof(b));
	int r = pki_bundle_load_mem(NAME, p, n, password, &b, err,
	    sizeof(err));
	if (r < 0) {
		check_err(r, err);
		CHECK(b.cert == NULL && b.key == NULL && b.chain == NULL);
		return;
	}
	CHECK(r == 0);
	CHECK(b.cert != NULL || b.key != NULL);
	CHECK(b.chain != NULL);
	CHECK(sk_X509_num(b.chain) < PKI_CERT_CHAIN_MAX);
	if (b.key_matches)
		CHECK(b.cert != NULL && b.key != NULL);
	if (b.cert != NULL)
		describe(b.cert);
	for (int i = 0; i < sk_X509_num(b.chain); i++)
		describe(sk_X509_value(b.chain, i));
	pki_bundle_free(&b);
	CHECK(b.cert == NULL && b.key == NULL && b.chain == NULL);
}

static void
run_crl(const unsigned char *p, size_t n)
{
	X509_CRL *crl = (X509_CRL *)1;
	char err[ERR_LEN];
	int r = pki_crl_load_mem(NAME, p, n, &crl, err, sizeof(err));
	if (r < 0) {
		check_err(r, err);
		CHECK(crl == NULL);
		return;
	}
	CHECK(crl != NULL);
	int64_t t1, t2;
	size_t k;
	pki_crl_times(crl, &t1, &t2, &k);
	X509 *issuer = (X509 *)1;
	r = pki_crl_check(empty_trust, crl, 1700000000, &issuer, err,
	    sizeof(err));
	CHECK(r == ERR_NOTFOUND && issuer == NULL);
	check_text(err, sizeof(err));
	X509_CRL_free(crl);
}

/* apply - the input laid over template t. */
static unsigned char *
apply(const uint8_t *data, size_t size, size_t *len_r)
{
	const struct tmpl *t = &tmpl[(data[0] & 0x3f) % T_COUNT];
	size_t off = size >= 3 ? ((size_t)data[1] << 8 | data[2]) : 0;
	const uint8_t *rest = data + (size >= 3 ? 3 : size);
	size_t rlen = size - (size_t)(rest - data);
	bool truncate = (data[0] & 0x40) != 0;

	if (off > t->len)
		off = t->len;
	size_t len = truncate ? off + rlen : (off + rlen > t->len ?
	    off + rlen : t->len);
	unsigned char *p = malloc(len > 0 ? len : 1);
	CHECK(p != NULL);
	memcpy(p, t->p, truncate ? off : t->len);
	memcpy(p + off, rest, rlen);
	*len_r = len;
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_MAX)
		return 0;
	if (!ready)
		setup();
	if (size == 0) {
		run(data, 0, NULL);
		return 0;
	}
	unsigned char *p;
	size_t len;
	if (data[0] & 0x80) {
		p = apply(data, size, &len);
	} else {
		len = size - 1;
		p = malloc(len > 0 ? len : 1);
		CHECK(p != NULL);
		memcpy(p, data + 1, len);
	}
	run(p, len, NULL);
	run(p, len, PASSWORD);
	run_crl(p, len);
	free(p);
	ERR_clear_error();
	return 0;
}
