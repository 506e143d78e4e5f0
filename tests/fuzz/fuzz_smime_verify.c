/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smime_verify.c - arbitrary bytes (up to 64 KiB) as an inbound
 * message through pki_smime_verify against a small fixed trust store:
 * the CA of the seed corpus (its messages were signed once by a
 * throwaway key; the CA certificate is below, public) and a CA made at
 * start. The result is one of the four statuses, its texts printable
 * ASCII with every quote escaped, a reason exactly when not valid or
 * none, and the gateway's header value one printable line; a second
 * verification agrees. The same bytes are then signed by a signer made
 * at start: either refused with a "message" error, or signed into CRLF
 * lines, 7-bit after the header, that verify as valid. Nothing leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/err.h"
#include "pki/pki_smime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX 65536

/* The CA of tests/fuzz/corpus/smime_verify (valid until 2126). */
static const char SEED_CA[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB1DCCAXmgAwIBAgIUHnEpsrBTCYwthEvES5DoB0lSBu8wCgYIKoZIzj0EAwIw\n"
	"NjEVMBMGA1UECgwMbXNzZ2F0ZSBmdXp6MR0wGwYDVQQDDBRtc3NnYXRlIGZ1enog\n"
	"c2VlZCBDQTAgFw0yNjEyMDcwOTU4MjRaGA8yMTI2MTExMzA5NTgyNFowNjEVMBMG\n"
	"A1UECgwMbXNzZ2F0ZSBmdXp6MR0wGwYDVQQDDBRtc3NnYXRlIGZ1enogc2VlZCBD\n"
	"QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEz1D3Xgj188HKcaxK9OZKYGjPwZ\n"
	"Eus7bZZbjadi2u4q/OJkurjpKepwYYebuULpd89SYoNbjjwRAoigZdeYUqyjYzBh\n"
	"MB0GA1UdDgQWBBQeo3qGuKh7yHh4rxfNUIXrNosptDAfBgNVHSMEGDAWgBQeo3qG\n"
	"uKh7yHh4rxfNUIXrNosptDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIB\n"
	"BjAKBggqhkjOPQQDAgNJADBGAiEA9wVIDT810pncHo87JJLd5n0Wkyq85kFB3XVY\n"
	"3Y1D4n0CIQDiNbUj+g1PPnhZqiaKXfFkZYiCEYs4LWEE50tYX7UPVg==\n"
	"-----END CERTIFICATE-----\n";

static X509_STORE *store;
static struct pki_smime_signer *signer;

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (e == NULL)
		return 0;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* make_cert - a CA (issuer NULL) or an S/MIME signing certificate. */
static X509 *
make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();
	CHECK(x != NULL && X509_set_version(x, 2));
	CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
	CHECK(X509_gmtime_adj(X509_getm_notBefore(x), -86400) != NULL);
	CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400L) != NULL);
	CHECK(X509_set_pubkey(x, key));
	CHECK(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)(issuer ? "fuzz signer" :
	    "fuzz CA"), -1, -1, 0));
	X509 *iss = issuer != NULL ? issuer : x;
	CHECK(X509_set_issuer_name(x, X509_get_subject_name(iss)));
	if (issuer == NULL) {
		CHECK(add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE"));
		CHECK(add_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign"));
	} else {
		CHECK(add_ext(x, iss, NID_key_usage,
		    "critical,digitalSignature"));
		CHECK(add_ext(x, iss, NID_ext_key_usage, "emailProtection"));
		CHECK(add_ext(x, iss, NID_subject_alt_name,
		    "email:fuzz@mssante.test"));
	}
	CHECK(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static void
teardown(void)
{
	pki_smime_signer_free(&signer);
	X509_STORE_free(store);
}

/* setup - the trust store and the signer, made once. The signer's files
 * live in a private folder only while it is loaded. */
static void
setup(void)
{
	char dir[64], crt[96], key[96], err[512];
	const char *tmp = getenv("TMPDIR");

	if (store != NULL)
		return;
	store = X509_STORE_new();
	CHECK(store != NULL);
	BIO *b = BIO_new_mem_buf(SEED_CA, -1);
	X509 *seed_ca = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) :
	    NULL;
	BIO_free(b);
	CHECK(seed_ca != NULL && X509_STORE_add_cert(store, seed_ca));
	X509_free(seed_ca);

	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *k = EVP_EC_gen("P-256");
	CHECK(ca_key != NULL && k != NULL);
	X509 *ca = make_cert(ca_key, NULL, ca_key, 1);
	X509 *leaf = make_cert(k, ca, ca_key, 2);
	CHECK(X509_STORE_add_cert(store, ca));
	snprintf(dir, sizeof(dir), "%s/mss-fuzz-smime.XXXXXX",
	    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(crt, sizeof(crt), "%s/s.crt", dir);
	snprintf(key, sizeof(key), "%s/s.key", dir);
	FILE *f = fopen(crt, "w");
	CHECK(f != NULL && PEM_write_X509(f, leaf) && fclose(f) == 0);
	f = fopen(key, "w");
	CHECK(f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL,
	    NULL) && fclose(f) == 0);
	int r = pki_smime_signer_load(crt, key, NULL, NULL, &signer, err,
	    sizeof(err));
	unlink(crt);
	unlink(key);
	rmdir(dir);
	if (r != 0)
		fprintf(stderr, "signer: %s\n", err);
	CHECK(r == 0);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(k);
	atexit(teardown);
}

/* check_text - printable ASCII, NUL inside size, every '"' escaped. */
static void
check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	CHECK(n < size);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		CHECK(c >= 0x20 && c < 0x7f);
		if (c == '\\') {
			CHECK(i + 1 < n);
			i++;
		} else {
			CHECK(c != '"');
		}
	}
}

static void
check_result(const struct pki_smime_result *res)
{
	char hv[PKI_SMIME_HEADER_MAX];

	CHECK(res->status == PKI_SMIME_NONE ||
	    res->status == PKI_SMIME_VALID ||
	    res->status == PKI_SMIME_INVALID ||
	    res->status == PKI_SMIME_UNTRUSTED);
	check_text(res->signer, sizeof(res->signer));
	check_text(res->reason, sizeof(res->reason));
	CHECK((res->reason[0] != '\0') == (res->status == PKI_SMIME_INVALID ||
	    res->status == PKI_SMIME_UNTRUSTED));
	int n = pki_smime_header_value(res, hv, sizeof(hv));
	CHECK(n > 0 && (size_t)n == strlen(hv));
	for (int i = 0; i < n; i++)
		CHECK(hv[i] >= 0x20 && hv[i] < 0x7f);
	const char *name = pki_smime_status_name(res->status);
	CHECK(strncmp(hv, name, strlen(name)) == 0);
}

/* check_signed - what we sign is CRLF, 7-bit below the top-level header
 * (which is the input's own), and verifies. */
static void
check_signed(const struct buf *out)
{
	struct pki_smime_result res;
	const char *p = out->data;
	const char *ours = "MIME-Version: 1.0\r\nContent-Type: "
	    "multipart/signed; ";
	const char *he = memmem(p, out->len, ours, strlen(ours));

	CHECK(he != NULL && (he == p || he[-1] == '\n'));
	for (size_t i = 0; i < out->len; i++) {
		if (p[i] == '\n')
			CHECK(i > 0 && p[i - 1] == '\r');
		if (p[i] == '\r')
			CHECK(i + 1 < out->len && p[i + 1] == '\n');
		if (p + i > he)
			CHECK((unsigned char)p[i] < 0x80 && p[i] != '\0');
	}
	CHECK(pki_smime_verify(store, 0, p, out->len, &res) == 0);
	if (res.status != PKI_SMIME_VALID)
		fprintf(stderr, "signed, then %s: %s\n",
		    pki_smime_status_name(res.status), res.reason);
	CHECK(res.status == PKI_SMIME_VALID);
	CHECK(strcmp(res.signer, "fuzz@mssante.test") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pki_smime_result res, again;
	struct buf out;
	char err[512];

	if (size > INPUT_MAX)
		return 0;
	setup();
	const char *msg = (const char *)data;
	CHECK(pki_smime_verify(store, 0, msg, size, &res) == 0);
	check_result(&res);
	CHECK(pki_smime_verify(store, PKI_SMIME_VERIFY_CRL, msg, size,
	    &again) == 0);
	check_result(&again);
	/* Without CRLs in the store, a CRL check can only lower trust. */
	CHECK(again.status == res.status ||
	    (res.status == PKI_SMIME_VALID &&
	    again.status == PKI_SMIME_UNTRUSTED));

	buf_init(&out, 8 * INPUT_MAX);
	int r = pki_smime_sign(signer, msg, size, &out, err, sizeof(err));
	if (r == 0) {
		check_signed(&out);
	} else {
		CHECK(r == ERR_PROTO || r == ERR_LIMIT);
		CHECK(strncmp(err, "message", 7) == 0);
		CHECK(out.len == 0);
	}
	buf_free(&out);
	return 0;
}
