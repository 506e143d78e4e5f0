/* SPDX-License-Identifier: MIT */
/*
 * test_smime.c - S/MIME (pki/pki_smime.h) against certificates made here
 * with OpenSSL: a CA, RSA-2048 and P-256 signers, wrong-usage, expired,
 * not-yet-valid and revoked ones, a second CA nobody trusts. Signed
 * messages (ASCII, 8-bit UTF-8, multipart with an attachment, LF-only
 * input) keep their headers, are CRLF and 7-bit throughout and verify;
 * one changed body byte, a changed signature, an unknown CA, a revoked
 * or expired signer each get their status and reason; a header outside
 * the signed part may change. Also: opaque signed-data, x-pkcs7
 * names, malformed signed messages, the gateway's header value, DER that
 * OpenSSL re-encodes byte for byte, encryption round trips, and every
 * refusal of the signer loader with its message.
 * With SMIME_OUT_DIR set, signed and encrypted messages, the CA and a
 * recipient's certificate and key are written there for the
 * interoperability test (tests/integration/test_smime_verifiers.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/err.h"
#include "pki/pki_smime.h"

#define PATH_LEN 4096
#define ERR_LEN 1024
#define OUT_MAX ((size_t)16 << 20)
#define DAY 86400L
#define PASS "correct horse"

/* ---- certificates made for the tests ---- */

struct id {
	EVP_PKEY *key;
	X509 *cert;
	char crt[PATH_LEN];	/* PEM files in the temporary folder */
	char key_file[PATH_LEN];
};

static char tmp_base[PATH_LEN];
static struct id ca, ca2, rsa, ec, other, revoked;
static struct id expired, future, bad_eku, bad_ku;
static X509_CRL *crl;
static X509_STORE *store, *store_crl;

static void
tmp_path(char *out, const char *name)
{
	int n = snprintf(out, PATH_LEN, "%s/%s", tmp_base, name);
	assert_true(n > 0 && n < PATH_LEN);
}

static void
write_file(char *path, const char *name, const void *data, size_t len)
{
	tmp_path(path, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *
read_all(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	assert_int_equal(fclose(f), 0);
	data[n] = '\0';
	*len_r = (size_t)n;
	return data;
}

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

/* make_cert - a certificate for key from issuer (self-signed when
 * issuer is NULL), valid from now + nb to now + na seconds. */
static X509 *
make_cert(EVP_PKEY *key, const struct id *issuer, const char *cn,
	  const char *email, long nb, long na, const char *ku,
	  const char *eku, long serial)
{
	X509 *x = X509_new();
	assert_non_null(x);
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), nb));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), na));
	assert_true(X509_set_pubkey(x, key));
	X509_NAME *nm = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
	    (const unsigned char *)"mssgate tests", -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0));
	X509 *iss = issuer != NULL ? issuer->cert : x;
	assert_true(X509_set_issuer_name(x, X509_get_subject_name(iss)));
	if (issuer == NULL) {
		assert_true(add_ext(x, x, NID_basic_constraints,
		    "critical,CA:TRUE"));
		assert_true(add_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign"));
		assert_true(add_ext(x, x, NID_subject_key_identifier, "hash"));
	} else {
		char san[256];
		snprintf(san, sizeof(san), "email:%s", email);
		assert_true(add_ext(x, iss, NID_basic_constraints,
		    "critical,CA:FALSE"));
		assert_true(add_ext(x, iss, NID_key_usage, ku));
		if (eku != NULL)
			assert_true(add_ext(x, iss, NID_ext_key_usage, eku));
		assert_true(add_ext(x, iss, NID_subject_key_identifier,
		    "hash"));
		assert_true(add_ext(x, iss, NID_authority_key_identifier,
		    "keyid:always"));
		assert_true(add_ext(x, iss, NID_subject_alt_name, san));
	}
	assert_true(X509_sign(x, issuer != NULL ? issuer->key : key,
	    EVP_sha256()) > 0);
	return x;
}

static void
write_cert(const char *path, X509 *x, bool append)
{
	FILE *f = fopen(path, append ? "ab" : "wb");
	assert_non_null(f);
	assert_true(PEM_write_X509(f, x));
	assert_int_equal(fclose(f), 0);
}

static void
write_key(const char *path, EVP_PKEY *k, const char *pass)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_true(PEM_write_PrivateKey(f, k, pass ? EVP_aes_256_cbc() : NULL,
	    NULL, 0, NULL, (void *)pass));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

/* make_id - key (new unless given), certificate, and their files. */
static void
make_id(struct id *id, const char *name, EVP_PKEY *key, const struct id *iss,
	const char *cn, const char *email, long nb, long na, const char *ku,
	const char *eku, long serial)
{
	char f[64];

	if (key != NULL) {
		assert_true(EVP_PKEY_up_ref(key));
		id->key = key;
	} else {
		id->key = EVP_EC_gen("P-256");
	}
	assert_non_null(id->key);
	id->cert = make_cert(id->key, iss, cn, email, nb, na, ku, eku, serial);
	snprintf(f, sizeof(f), "%s.crt", name);
	tmp_path(id->crt, f);
	write_cert(id->crt, id->cert, false);
	snprintf(f, sizeof(f), "%s.key", name);
	tmp_path(id->key_file, f);
	write_key(id->key_file, id->key, NULL);
}

static void
free_id(struct id *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

#define SIGN_KU "critical,digitalSignature,keyEncipherment"
#define EC_KU "critical,digitalSignature,keyAgreement"
#define SMIME_EKU "emailProtection"

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw);

/* rm_tmp - the temporary folder goes even when the group setup failed
 * (cmocka then skips the teardown). */
static void
rm_tmp(void)
{
	if (tmp_base[0] != '\0')
		(void)nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmp_base, sizeof(tmp_base), "%s/mss-test-smime.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tmp_base) == NULL)
		return -1;
	if (atexit(rm_tmp) != 0)
		return -1;
	EVP_PKEY *ca_key = EVP_RSA_gen(2048);
	EVP_PKEY *rsa_key = EVP_RSA_gen(2048);
	if (ca_key == NULL || rsa_key == NULL)
		return -1;
	make_id(&ca, "ca", ca_key, NULL, "mssgate test CA", NULL, -DAY,
	    30 * DAY, NULL, NULL, 1);
	make_id(&ca2, "ca2", NULL, NULL, "Another CA", NULL, -DAY, 30 * DAY,
	    NULL, NULL, 1);
	make_id(&rsa, "rsa", rsa_key, &ca, "Dr X", "dr.x@mssante.test", -DAY,
	    10 * DAY, SIGN_KU, SMIME_EKU, 10);
	make_id(&ec, "ec", NULL, &ca, "Alertes", "alertes@mssante.test", -DAY,
	    10 * DAY, EC_KU, "emailProtection,clientAuth", 11);
	make_id(&other, "other", NULL, &ca2, "Dr \"Y\"", "dr.y@autre.test",
	    -DAY, 10 * DAY, EC_KU, SMIME_EKU, 12);
	make_id(&revoked, "revoked", ec.key, &ca, "Revoked",
	    "revoked@mssante.test", -DAY, 10 * DAY, EC_KU, SMIME_EKU, 13);
	make_id(&expired, "expired", ec.key, &ca, "Expired",
	    "old@mssante.test", -10 * DAY, -DAY, EC_KU, SMIME_EKU, 14);
	make_id(&future, "future", ec.key, &ca, "Future",
	    "future@mssante.test", DAY, 10 * DAY, EC_KU, SMIME_EKU, 15);
	make_id(&bad_eku, "bad_eku", ec.key, &ca, "Server", "srv@mssante.test",
	    -DAY, 10 * DAY, EC_KU, "serverAuth", 16);
	make_id(&bad_ku, "bad_ku", ec.key, &ca, "Agreement",
	    "ka@mssante.test", -DAY, 10 * DAY, "critical,keyAgreement",
	    SMIME_EKU, 17);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(rsa_key);

	/* A CRL of ca revoking "revoked". */
	crl = X509_CRL_new();
	ASN1_TIME *t0 = X509_gmtime_adj(NULL, -3600);
	ASN1_TIME *t1 = X509_gmtime_adj(NULL, DAY);
	X509_REVOKED *rv = X509_REVOKED_new();
	if (crl == NULL || t0 == NULL || t1 == NULL || rv == NULL ||
	    !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, t0) ||
	    !X509_CRL_set1_nextUpdate(crl, t1) ||
	    !X509_REVOKED_set_serialNumber(rv,
	    (ASN1_INTEGER *)X509_get0_serialNumber(revoked.cert)) ||
	    !X509_REVOKED_set_revocationDate(rv, t0) ||
	    !X509_CRL_add0_revoked(crl, rv) || !X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, ca.key, EVP_sha256()))
		return -1;
	ASN1_TIME_free(t0);
	ASN1_TIME_free(t1);

	store = X509_STORE_new();
	store_crl = X509_STORE_new();
	if (store == NULL || store_crl == NULL ||
	    !X509_STORE_add_cert(store, ca.cert) ||
	    !X509_STORE_add_cert(store_crl, ca.cert) ||
	    !X509_STORE_add_crl(store_crl, crl))
		return -1;
	return 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_teardown(void **state)
{
	(void)state;
	struct id *all[] = { &ca, &ca2, &rsa, &ec, &other, &revoked, &expired,
	    &future, &bad_eku, &bad_ku };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free_id(all[i]);
	X509_CRL_free(crl);
	X509_STORE_free(store);
	X509_STORE_free(store_crl);
	int r = nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp_base[0] = '\0';
	return r;
}

/* ---- messages and helpers ---- */

static const char MSG_ASCII[] =
	"From: Alertes <alertes@mssante.test>\r\n"
	"To: Dr X <dr.x@mssante.test>\r\n"
	"Subject: Test alert\r\n"
	"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	"Message-ID: <a1@mssante.test>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"Hello,\r\n"
	"This is a test.\r\n";

static const char MSG_UTF8[] =
	"From: Alertes <alertes@mssante.test>\r\n"
	"To: Dr Hélène Exemple <helene@mssante.test>\r\n"
	"Subject: =?UTF-8?Q?R=C3=A9sultat?=\r\n"
	"\r\n"
	"Bonjour Hélène,\r\n"
	"Le résultat est disponible. From here on   \r\n"
	"From the lab: ça va.\r\n";

static const char MSG_MIXED[] =
	"From: Alertes <alertes@mssante.test>\r\n"
	"To: Dr X <dr.x@mssante.test>\r\n"
	"Subject: Compte rendu\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Préambule.\r\n"
	"--mixed-b\r\n"
	"Content-Type: text/plain; charset=UTF-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Compte rendu: taux élevé.\r\n"
	"--mixed-b\r\n"
	"Content-Type: application/pdf; name=\"cr.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"cr.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
	"eJwr5HIK4TI2UwBBQ3NTQ4U0Lk0uY65QrkIuAwBQvgXkCmVuZHN0cmVhbQplbmRv\r\n"
	"--mixed-b--\r\n";

static struct buf out;
static char err[ERR_LEN];

static void
reset_out(void)
{
	buf_free(&out);
	buf_init(&out, OUT_MAX);
	err[0] = '\0';
}

static struct pki_smime_signer *
load(const struct id *id)
{
	struct pki_smime_signer *s = NULL;
	int r = pki_smime_signer_load(id->crt, id->key_file, NULL, NULL, &s,
	    err, sizeof(err));
	if (r != 0)
		fail_msg("load %s: %d %s", id->crt, r, err);
	return s;
}

static void
sign(struct pki_smime_signer *s, const char *msg, size_t len)
{
	reset_out();
	int r = pki_smime_sign(s, msg, len, &out, err, sizeof(err));
	if (r != 0)
		fail_msg("sign: %d %s", r, err);
}

static void
assert_crlf_7bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			assert_true(i > 0 && p[i - 1] == '\r');
		if (c == '\r')
			assert_true(i + 1 < n && p[i + 1] == '\n');
		assert_true(c < 0x80 && c != 0);
	}
}

static enum pki_smime_status
verify(X509_STORE *st, unsigned flags, const char *msg, size_t len,
       struct pki_smime_result *res)
{
	assert_int_equal(pki_smime_verify(st, flags, msg, len, res), 0);
	return res->status;
}

/* header_end - offset of the empty line ending the header section. */
static size_t
header_end(const char *msg)
{
	const char *e = strstr(msg, "\r\n\r\n");
	assert_non_null(e);
	return (size_t)(e - msg) + 2;
}

/* first_part - the signed part of a multipart/signed: a copy. */
static char *
first_part(const char *msg, size_t *len_r)
{
	char delim[128];
	const char *b = strstr(msg, "boundary=\"");
	assert_non_null(b);
	b += 10;
	const char *e = strchr(b, '"');
	assert_non_null(e);
	snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)(e - b), b);
	const char *s = strstr(msg, delim + 2);	/* the first delimiter */
	assert_non_null(s);
	s += strlen(delim + 2) + 2;
	const char *end = strstr(s, delim);
	assert_non_null(end);
	*len_r = (size_t)(end - s);
	return strndup(s, *len_r);
}

/* closing_delim - where the closing delimiter line of a signed message
 * starts (its CRLF). */
static char *
closing_delim(char *msg)
{
	char *last = NULL;
	for (char *p = strstr(msg, "\r\n--smime-"); p != NULL;
	    p = strstr(p + 1, "\r\n--smime-"))
		last = p;
	assert_non_null(last);
	return last;
}

/* replace - a copy of s with the first occurrence of from made to. */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	assert_non_null(at);
	size_t n = strlen(s) - strlen(from) + strlen(to);
	char *r = malloc(n + 1);
	assert_non_null(r);
	size_t pre = (size_t)(at - s);
	memcpy(r, s, pre);
	memcpy(r + pre, to, strlen(to));
	memcpy(r + pre + strlen(to), at + strlen(from), strlen(at) -
	    strlen(from) + 1);
	return r;
}

static char *
replace_all(const char *s, const char *from, const char *to)
{
	char *cur = strdup(s);
	assert_non_null(cur);
	while (strstr(cur, from) != NULL) {
		char *next = replace(cur, from, to);
		free(cur);
		cur = next;
	}
	return cur;
}

static void
export(const char *name, const char *data, size_t len)
{
	const char *dir = getenv("SMIME_OUT_DIR");
	char path[PATH_LEN];

	if (dir == NULL || *dir == '\0')
		return;
	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) <
	    (int)sizeof(path));
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
export_file(const char *name, const char *path)
{
	size_t n;
	char *d = read_all(path, &n);
	export(name, d, n);
	free(d);
}

/* qp_decode - quoted-printable p[n] into a malloc'd string. */
static char *
qp_decode(const char *p, size_t n)
{
	char *o = malloc(n + 1);
	size_t k = 0;
	assert_non_null(o);
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '=') {
			o[k++] = p[i];
		} else if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
			i += 2;
		} else {
			assert_true(i + 2 < n);
			char hex[3] = { p[i + 1], p[i + 2], 0 };
			o[k++] = (char)strtol(hex, NULL, 16);
			i += 2;
		}
	}
	o[k] = '\0';
	return o;
}

/* ---- signing and verifying ---- */

static void
check_signed_ascii(const struct id *id, const char *who)
{
	struct pki_smime_result res;
	char hv[PKI_SMIME_HEADER_MAX], want[256];
	struct pki_smime_signer *s = load(id);

	assert_string_equal(pki_smime_signer_name(s), who);
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	const char *m = buf_data(&out);
	assert_crlf_7bit(m, out.len);
	/* The top-level header: the original fields but the MIME ones. */
	size_t he = header_end(m);
	char *hdr = strndup(m, he);
	assert_non_null(strstr(hdr, "From: Alertes <alertes@mssante.test>\r\n"
	    "To: Dr X <dr.x@mssante.test>\r\nSubject: Test alert\r\n"
	    "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	    "Message-ID: <a1@mssante.test>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/signed; "
	    "protocol=\"application/pkcs7-signature\";\r\n\tmicalg=sha-256; "
	    "boundary=\"smime-"));
	assert_null(strstr(hdr, "text/plain"));
	assert_ptr_equal(strstr(hdr, "MIME-Version"),
	    strstr(hdr, "MIME-Version: 1.0\r\nContent-Type: multipart"));
	free(hdr);
	/* The signed part: the Content-* fields and the body. */
	size_t pl;
	char *part = first_part(m, &pl);
	assert_string_equal(part, "Content-Type: text/plain; charset=us-ascii"
	    "\r\n\r\nHello,\r\nThis is a test.\r\n");
	free(part);
	assert_non_null(strstr(m, "Content-Type: application/pkcs7-signature; "
	    "name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n"));
	assert_int_equal(verify(store, 0, m, out.len, &res), PKI_SMIME_VALID);
	assert_string_equal(res.signer, who);
	assert_string_equal(res.reason, "");
	assert_true(pki_smime_header_value(&res, hv, sizeof(hv)) > 0);
	snprintf(want, sizeof(want), "valid; signer=\"%s\"", who);
	assert_string_equal(hv, want);
	pki_smime_signer_free(&s);
	assert_null(s);
}

static void
test_sign_rsa(void **state)
{
	(void)state;
	check_signed_ascii(&rsa, "dr.x@mssante.test");
	export("signed-rsa.eml", out.data, out.len);
}

static void
test_sign_ec(void **state)
{
	(void)state;
	check_signed_ascii(&ec, "alertes@mssante.test");
	export("signed-ec.eml", out.data, out.len);
}

/* An 8-bit body without Content-Type: UTF-8 text in quoted-printable,
 * trailing spaces and "From " at a line start encoded. */
static void
test_sign_utf8(void **state)
{
	struct pki_smime_result res;
	struct pki_smime_signer *s = load(&ec);
	size_t pl;

	(void)state;
	sign(s, MSG_UTF8, strlen(MSG_UTF8));
	/* 7-bit after the top-level header, which keeps its UTF-8. */
	size_t he = header_end(out.data);
	assert_crlf_7bit(out.data + he, out.len - he);
	char *part = first_part(out.data, &pl);
	const char *ph = "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
	assert_memory_equal(part, ph, strlen(ph));
	assert_non_null(strstr(part, "Bonjour H=C3=A9l=C3=A8ne,\r\n"));
	assert_non_null(strstr(part, "From here on  =20\r\n=46rom the lab"));
	char *body = qp_decode(part + strlen(ph), pl - strlen(ph));
	assert_string_equal(body, strstr(MSG_UTF8, "\r\n\r\n") + 4);
	free(body);
	free(part);
	/* The 8-bit header field outside stays as it was. */
	assert_non_null(strstr(out.data, "To: Dr Hélène Exemple"));
	assert_int_equal(verify(store, 0, out.data, out.len, &res),
	    PKI_SMIME_VALID);
	export("signed-utf8.eml", out.data, out.len);
	pki_smime_signer_free(&s);
}

/* multipart/mixed: the 8-bit text part re-encoded, the attachment and
 * the structure kept, the 8-bit preamble dropped. */
static void
test_sign_multipart(void **state)
{
	struct pki_smime_result res;
	struct pki_smime_signer *s = load(&rsa);
	size_t pl;

	(void)state;
	sign(s, MSG_MIXED, strlen(MSG_MIXED));
	char *part = first_part(out.data, &pl);
	assert_string_equal(part,
	    "Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "--mixed-b\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "Compte rendu: taux =C3=A9lev=C3=A9.\r\n"
	    "--mixed-b\r\n"
	    "Content-Type: application/pdf; name=\"cr.pdf\"\r\n"
	    "Content-Disposition: attachment; filename=\"cr.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K"
	    "\r\n"
	    "eJwr5HIK4TI2UwBBQ3NTQ4U0Lk0uY65QrkIuAwBQvgXkCmVuZHN0cmVhbQplbmRv"
	    "\r\n"
	    "--mixed-b--\r\n");
	free(part);
	assert_crlf_7bit(out.data, out.len);
	assert_int_equal(verify(store, 0, out.data, out.len, &res),
	    PKI_SMIME_VALID);
	export("signed-mixed.eml", out.data, out.len);
	pki_smime_signer_free(&s);
}

/* LF-only input is made CRLF (the signed part is the same as for the
 * CRLF message); a bare CR is refused. Verification reads LF too. */
static void
test_line_ends(void **state)
{
	struct pki_smime_result res;
	struct pki_smime_signer *s = load(&ec);
	size_t l1, l2;

	(void)state;
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	char *crlf_part = first_part(out.data, &l1);
	char *lf = replace_all(MSG_ASCII, "\r\n", "\n");
	sign(s, lf, strlen(lf));
	assert_crlf_7bit(out.data, out.len);
	char *lf_part = first_part(out.data, &l2);
	assert_string_equal(lf_part, crlf_part);
	assert_int_equal(verify(store, 0, out.data, out.len, &res),
	    PKI_SMIME_VALID);
	/* A signed message stored with LF line ends still verifies. */
	char *stored = replace_all(out.data, "\r\n", "\n");
	assert_int_equal(verify(store, 0, stored, strlen(stored), &res),
	    PKI_SMIME_VALID);
	free(stored);
	free(lf);
	free(lf_part);
	free(crlf_part);

	reset_out();
	buf_adds(&out, "kept");
	const char *cr = "From: a@mssante.test\r\nTo: b@mssante.test\r\n"
	    "Subject: a\rb\r\n\r\nbody\r\n";
	assert_int_equal(pki_smime_sign(s, cr, strlen(cr), &out, err,
	    sizeof(err)), ERR_PROTO);
	assert_string_equal(err, "message:3: a bare CR (not followed by LF)");
	assert_string_equal(out.data, "kept");
	static const char *const more[] = {
		"Subject: a\r\n\r\nlast line\r",
		"Subject: a\r\n\r\nline one\r\r\nline two\r\n",
		"Subject: a\r\n\r\n0123456789abcdef\r0123456789\r\n",
	};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(pki_smime_sign(s, more[i], strlen(more[i]),
		    &out, err, sizeof(err)), ERR_PROTO);
		assert_string_equal(err, "message:3: a bare CR (not followed "
		    "by LF)");
	}
	pki_smime_signer_free(&s);
}

/* Messages that cannot be signed as they are. */
static void
test_sign_refused(void **state)
{
	static const struct {
		const char *msg;
		int r;
		const char *err;
	} rows[] = {
		{ "From: a@mssante.test\r\nnot a field\r\n\r\nbody\r\n",
		  ERR_PROTO, "message:2: a header line that is not a field" },
		{ "Subject: x\r\n\r\n\xe9t\xe9\r\n", ERR_PROTO,
		  "message: an 8-bit body without Content-Type that is not "
		  "UTF-8" },
		{ "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		  "\xc3\xa9\r\n", ERR_PROTO, "message: 8-bit data or a line "
		  "over 998 bytes in a body encoded as base64" },
		{ "Subject: x\r\nContent-Type: multipart/mixed\r\n\r\n"
		  "\xc3\xa9\r\n", ERR_PROTO,
		  "message: a multipart/mixed without boundary" },
		{ "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n"
		  "\r\n--b\r\n\r\n\xc3\xa9\r\n", ERR_PROTO,
		  "message: a multipart/mixed without its closing boundary" },
		{ "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n"
		  "\r\n--b\r\nContent-Type: text/plain; name=\"\xc3\xa9\"\r\n"
		  "\r\n\xc3\xa9\r\n--b--\r\n", ERR_PROTO, "message: 8-bit "
		  "or NUL bytes, or a line over 998 bytes, in the header of a "
		  "MIME part (encode it per RFC 2047 or RFC 2231)" },
		{ "Subject: x\r\nContent-Type: message/global\r\n\r\n"
		  "\xc3\xa9\r\n", ERR_PROTO, "message: a message/global part "
		  "with 8-bit data cannot be made 7-bit safe" },
	};
	struct pki_smime_signer *s = load(&ec);

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		reset_out();
		int r = pki_smime_sign(s, rows[i].msg, strlen(rows[i].msg),
		    &out, err, sizeof(err));
		if (r != rows[i].r || strcmp(err, rows[i].err) != 0)
			fail_msg("row %zu: %d %s", i, r, err);
		assert_int_equal(out.len, 0);
	}
	static const char nul[] = "From: a@mssante.test\r\nSubject: a\0b\r\n"
	    "\r\nbody\r\n";
	assert_int_equal(pki_smime_sign(s, nul, sizeof(nul) - 1, &out, err,
	    sizeof(err)), ERR_PROTO);
	assert_string_equal(err, "message:2: a NUL byte in the header");
	/* An output buffer too small: ERR_LIMIT, nothing appended. */
	buf_free(&out);
	buf_init(&out, 600);
	buf_adds(&out, "kept");
	assert_int_equal(pki_smime_sign(s, MSG_ASCII, strlen(MSG_ASCII), &out,
	    err, sizeof(err)), ERR_LIMIT);
	assert_string_equal(out.data, "kept");
	assert_int_equal(out.len, 4);
	/* Deep nesting stops at PKI_SMIME_NEST_MAX. */
	struct buf deep;
	buf_init(&deep, 1 << 20);
	buf_adds(&deep, "Subject: deep\r\n");
	for (int i = 0; i < 40; i++)
		buf_addf(&deep, "Content-Type: multipart/mixed; "
		    "boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_adds(&deep, "\r\n\xc3\xa9\r\n");
	for (int i = 39; i >= 0; i--)
		buf_addf(&deep, "--b%d--\r\n", i);
	reset_out();
	assert_int_equal(pki_smime_sign(s, deep.data, deep.len, &out, err,
	    sizeof(err)), ERR_LIMIT);
	assert_string_equal(err, "message: MIME parts nested deeper than 32");
	buf_free(&deep);
	pki_smime_signer_free(&s);
}

/* One byte of the signed body changed: invalid; a field outside the
 * signed part changed: still valid; the signature changed: invalid. */
static void
test_tamper(void **state)
{
	struct pki_smime_result res;
	char hv[PKI_SMIME_HEADER_MAX];
	struct pki_smime_signer *s = load(&rsa);

	(void)state;
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	char *m = strdup(out.data);
	char *at = strstr(m, "This is a test.");
	assert_non_null(at);
	at[0] ^= 0x20;	/* 'T' -> 't' */
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_INVALID);
	assert_string_equal(res.reason,
	    "content changed after signing (message digest mismatch)");
	assert_true(pki_smime_header_value(&res, hv, sizeof(hv)) > 0);
	assert_string_equal(hv, "invalid; reason=\"content changed after "
	    "signing (message digest mismatch)\"");
	free(m);

	m = replace(out.data, "Subject: Test alert", "Subject: Test alarm");
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_VALID);
	free(m);

	/* The last base64 characters are the end of the signature value. */
	m = strdup(out.data);
	char *end = closing_delim(m);
	char *c = end - 1;
	while (*c == '=' || *c == '\r' || *c == '\n')
		c--;
	c -= 6;
	*c = *c == 'A' ? 'B' : 'A';
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_INVALID);
	assert_string_equal(res.reason, "the signature does not verify");
	free(m);
	pki_smime_signer_free(&s);
}

static void
test_untrusted(void **state)
{
	struct pki_smime_result res;
	char hv[PKI_SMIME_HEADER_MAX];
	struct pki_smime_signer *s = load(&other);

	(void)state;
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	assert_int_equal(verify(store, 0, out.data, out.len, &res),
	    PKI_SMIME_UNTRUSTED);
	assert_string_equal(res.signer, "dr.y@autre.test");
	assert_string_equal(res.reason,
	    "unable to get local issuer certificate");
	assert_true(pki_smime_header_value(&res, hv, sizeof(hv)) > 0);
	assert_string_equal(hv, "untrusted; signer=\"dr.y@autre.test\"; "
	    "reason=\"unable to get local issuer certificate\"");
	pki_smime_signer_free(&s);
}

/* Revocation is checked when asked, by flag or by the store's flags. */
static void
test_crl(void **state)
{
	struct pki_smime_result res;
	struct pki_smime_signer *s = load(&revoked);

	(void)state;
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	assert_int_equal(verify(store_crl, PKI_SMIME_VERIFY_CRL, out.data,
	    out.len, &res), PKI_SMIME_UNTRUSTED);
	assert_string_equal(res.reason, "certificate revoked");
	assert_string_equal(res.signer, "revoked@mssante.test");
	assert_int_equal(verify(store_crl, 0, out.data, out.len, &res),
	    PKI_SMIME_VALID);
	assert_int_equal(verify(store, PKI_SMIME_VERIFY_CRL, out.data, out.len,
	    &res), PKI_SMIME_UNTRUSTED);
	assert_string_equal(res.reason, "unable to get certificate CRL");
	assert_true(X509_STORE_set_flags(store_crl, X509_V_FLAG_CRL_CHECK));
	assert_int_equal(verify(store_crl, 0, out.data, out.len, &res),
	    PKI_SMIME_UNTRUSTED);
	assert_true(X509_VERIFY_PARAM_clear_flags(
	    X509_STORE_get0_param(store_crl), X509_V_FLAG_CRL_CHECK));
	pki_smime_signer_free(&s);

	/* A signer the CRL does not name stays valid under CRL checks. */
	s = load(&ec);
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	assert_int_equal(verify(store_crl, PKI_SMIME_VERIFY_CRL_ALL, out.data,
	    out.len, &res), PKI_SMIME_VALID);
	pki_smime_signer_free(&s);
}

/* cms_message - a message signed by OpenSSL's own CMS_sign: detached in
 * a multipart/signed, or opaque (application/pkcs7-mime). */
static char *
cms_message(const struct id *id, const char *content, bool detached)
{
	BIO *in = BIO_new_mem_buf(content, (int)strlen(content));
	CMS_ContentInfo *cms = CMS_sign(id->cert, id->key, NULL, in,
	    CMS_BINARY | (detached ? CMS_DETACHED : 0));
	unsigned char *der = NULL;
	assert_non_null(cms);
	int n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	char *b64 = malloc((size_t)n * 2 + 4);
	assert_non_null(b64);
	assert_true(EVP_EncodeBlock((unsigned char *)b64, der, n) > 0);
	struct buf m;
	buf_init(&m, 1 << 20);
	if (detached)
		buf_addf(&m, "Subject: s\r\nContent-Type: multipart/signed; "
		    "protocol=\"application/pkcs7-signature\"; "
		    "micalg=sha-256; boundary=bb\r\n\r\n--bb\r\n%s\r\n--bb\r\n"
		    "Content-Type: application/pkcs7-signature\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--bb--\r\n",
		    content, b64);
	else
		buf_addf(&m, "Subject: s\r\nContent-Type: "
		    "application/pkcs7-mime; smime-type=signed-data; "
		    "name=smime.p7m\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n", b64);
	OPENSSL_free(der);
	free(b64);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return buf_take(&m, NULL);
}

static void
test_opaque_and_others(void **state)
{
	struct pki_smime_result res;
	const char *content = "Content-Type: text/plain\r\n\r\nopaque body\r\n";

	(void)state;
	char *m = cms_message(&ec, content, false);
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_VALID);
	assert_string_equal(res.signer, "alertes@mssante.test");
	free(m);

	/* A certificate expired since: the chain no longer verifies. */
	m = cms_message(&expired, content, true);
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_UNTRUSTED);
	assert_string_equal(res.reason, "certificate has expired");
	free(m);
	/* A signing certificate for servers only. */
	m = cms_message(&bad_eku, content, true);
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_UNTRUSTED);
	assert_string_equal(res.reason, "unsuitable certificate purpose");
	free(m);

	/* x-pkcs7 names of older clients. */
	struct pki_smime_signer *s = load(&ec);
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	m = replace_all(out.data, "application/pkcs7-signature",
	    "application/x-pkcs7-signature");
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_VALID);
	free(m);
	pki_smime_signer_free(&s);
}

/* Not signed, not S/MIME, or signed and malformed. */
static void
test_verify_malformed(void **state)
{
	struct pki_smime_result res;
	char hv[PKI_SMIME_HEADER_MAX];
	struct pki_smime_signer *s = load(&ec);

	(void)state;
	assert_int_equal(verify(store, 0, MSG_ASCII, strlen(MSG_ASCII), &res),
	    PKI_SMIME_NONE);
	assert_true(pki_smime_header_value(&res, hv, sizeof(hv)) > 0);
	assert_string_equal(hv, "none");
	const char *pgp = "Subject: p\r\nContent-Type: multipart/signed; "
	    "protocol=\"application/pgp-signature\"; boundary=x\r\n\r\n"
	    "--x\r\n\r\nhi\r\n--x\r\n\r\nsig\r\n--x--\r\n";
	assert_int_equal(verify(store, 0, pgp, strlen(pgp), &res),
	    PKI_SMIME_NONE);
	assert_int_equal(verify(store, 0, "", 0, &res), PKI_SMIME_NONE);

	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	const char *good = out.data;
	static const struct {
		const char *from, *to, *reason;
	} rows[] = {
		{ "Content-Type: application/pkcs7-signature;",
		  "Content-Type: text/plain;",
		  "the second part is not application/pkcs7-signature" },
		{ "Content-Transfer-Encoding: base64\r\nContent-Disposition",
		  "Content-Transfer-Encoding: quoted-printable\r\n"
		  "Content-Disposition",
		  "the signature part is not a CMS SignedData" },
		{ "micalg=sha-256; boundary=", "micalg=sha-256; nob=",
		  "multipart/signed without boundary" },
		{ "Subject: Test alert\r\n",
		  "Subject: Test alert\r\nContent-Type: text/plain\r\n",
		  "several Content-Type fields" },
		{ "Content-Description: S/MIME Cryptographic Signature\r\n\r\n",
		  "Content-Description: S/MIME Cryptographic Signature\r\n\r\n"
		  "!!!!\r\n", "the signature part is not a CMS SignedData" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *m = replace(good, rows[i].from, rows[i].to);
		assert_int_equal(verify(store, 0, m, strlen(m), &res),
		    PKI_SMIME_INVALID);
		if (strcmp(res.reason, rows[i].reason) != 0)
			fail_msg("row %zu: %s", i, res.reason);
		free(m);
	}
	/* A third part after the signature. */
	char *b = strstr(good, "boundary=\"") + 10;
	char bnd[64];
	snprintf(bnd, sizeof(bnd), "--%.*s--", (int)(strchr(b, '"') - b), b);
	char third[96];
	snprintf(third, sizeof(third), "%.*s\r\n\r\nthird\r\n%s",
	    (int)strlen(bnd) - 2, bnd, bnd);
	char *m = replace(good, bnd, third);
	assert_int_equal(verify(store, 0, m, strlen(m), &res),
	    PKI_SMIME_INVALID);
	assert_string_equal(res.reason, "multipart/signed with more than two "
	    "parts or a malformed closing boundary");
	free(m);
	/* Every truncation is judged without crashing, and never valid
	 * before the end of the signature (a lost closing boundary line
	 * alone loses nothing signed). */
	char *cl = closing_delim(out.data);
	while (cl[-1] == '=' || cl[-1] == '\r' || cl[-1] == '\n')
		cl--;
	size_t sig_end = (size_t)(cl - out.data);
	for (size_t n = 0; n < out.len; n += 7) {
		char *t = strndup(good, n);
		assert_int_equal(pki_smime_verify(store, 0, t, n, &res), 0);
		if (n < sig_end && res.status == PKI_SMIME_VALID)
			fail_msg("truncated at %zu of %zu: valid", n, out.len);
		free(t);
	}
	/* Limits and arguments: the length is refused before any read. */
	assert_int_equal(pki_smime_verify(store, 0, "x",
	    PKI_SMIME_MSG_MAX + 1, &res), ERR_LIMIT);
	assert_int_equal(res.status, PKI_SMIME_NONE);
	assert_int_equal(pki_smime_verify(NULL, 0, "x", 1, &res), ERR_INVAL);
	pki_smime_signer_free(&s);
}

/* The header value escapes what it quotes, whoever filled the result. */
static void
test_header_value(void **state)
{
	struct pki_smime_result res;
	char hv[PKI_SMIME_HEADER_MAX], small[8];
	struct pki_smime_signer *s = load(&other);

	(void)state;
	assert_string_equal(pki_smime_signer_name(s), "dr.y@autre.test");
	pki_smime_signer_free(&s);
	memset(&res, 0, sizeof(res));
	res.status = PKI_SMIME_UNTRUSTED;
	snprintf(res.signer, sizeof(res.signer), "Dr \\\"Y\\\"");
	snprintf(res.reason, sizeof(res.reason), "bad\r\nX-Injected: \"1\\");
	int n = pki_smime_header_value(&res, hv, sizeof(hv));
	assert_int_equal(n, (int)strlen(hv));
	assert_string_equal(hv, "untrusted; signer=\"Dr \\\"Y\\\"\"; "
	    "reason=\"bad??X-Injected: \\\"1\\\\\"");
	assert_int_equal(pki_smime_header_value(&res, small, sizeof(small)),
	    ERR_LIMIT);
	res.status = PKI_SMIME_VALID;
	res.reason[0] = '\0';
	res.signer[0] = '\0';
	assert_true(pki_smime_header_value(&res, hv, sizeof(hv)) > 0);
	assert_string_equal(hv, "valid");
	assert_string_equal(pki_smime_status_name(PKI_SMIME_INVALID),
	    "invalid");
}

/* Our hand-made DER is what OpenSSL itself would write. */
static void
test_der(void **state)
{
	struct pki_smime_signer *s = NULL;
	char both[PATH_LEN];

	(void)state;
	/* The leaf followed by its CA in the certificate file. */
	tmp_path(both, "ec-chain.crt");
	write_cert(both, ec.cert, false);
	write_cert(both, ca.cert, true);
	assert_int_equal(pki_smime_signer_load(both, ec.key_file, ca.crt,
	    NULL, &s, err, sizeof(err)), 0);
	sign(s, MSG_ASCII, strlen(MSG_ASCII));
	const char *b = strstr(out.data, "filename=\"smime.p7s\"");
	b = strstr(b, "\r\n\r\n") + 4;
	const char *e = strstr(b, "--smime-");
	char *b64 = strndup(b, (size_t)(e - b));
	char *flat = replace_all(b64, "\r\n", "");
	unsigned char *der = malloc(strlen(flat));
	int dl = EVP_DecodeBlock(der, (unsigned char *)flat,
	    (int)strlen(flat));
	assert_true(dl > 0);
	while (flat[strlen(flat) - 1] == '=') {	/* DecodeBlock pads */
		flat[strlen(flat) - 1] = '\0';
		dl--;
	}
	const unsigned char *q = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, dl);
	assert_non_null(cms);
	assert_ptr_equal(q, der + dl);
	unsigned char *again = NULL;
	assert_int_equal(i2d_CMS_ContentInfo(cms, &again), dl);
	assert_memory_equal(again, der, (size_t)dl);
	/* The chain is there once (the CA was given twice). */
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	assert_int_equal(sk_X509_num(certs), 2);
	sk_X509_pop_free(certs, X509_free);
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(
	    CMS_get0_SignerInfos(cms), 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime,
	    -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities,
	    -1) >= 0);
	X509_ALGOR *dig = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	assert_int_equal(OBJ_obj2nid(dig->algorithm), NID_sha256);
	assert_true(CMS_is_detached(cms));
	OPENSSL_free(again);
	CMS_ContentInfo_free(cms);
	free(der);
	free(flat);
	free(b64);
	pki_smime_signer_free(&s);
}

/* ---- encryption ---- */

static void
test_encrypt(void **state)
{
	struct pki_smime_result res;
	struct buf plain;
	X509 *rcpts[] = { rsa.cert, ec.cert };

	(void)state;
	reset_out();
	assert_int_equal(pki_smime_encrypt(rcpts, 2, MSG_UTF8,
	    strlen(MSG_UTF8), &out, err, sizeof(err)), 0);
	assert_non_null(strstr(out.data, "Subject: =?UTF-8?Q?R=C3=A9sultat?="
	    "\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; "
	    "smime-type=enveloped-data;\r\n\tname=\"smime.p7m\"\r\n"));
	assert_null(strstr(out.data, "Bonjour"));
	assert_int_equal(verify(store, 0, out.data, out.len, &res),
	    PKI_SMIME_NONE);
	export("encrypted.eml", out.data, out.len);

	const struct id *who[] = { &rsa, &ec };
	for (size_t i = 0; i < 2; i++) {
		buf_init(&plain, OUT_MAX);
		assert_int_equal(pki_smime_decrypt(who[i]->cert, who[i]->key,
		    out.data, out.len, &plain, err, sizeof(err)), 0);
		assert_non_null(strstr(plain.data, "To: Dr Hélène Exemple "
		    "<helene@mssante.test>\r\n"
		    "Subject: =?UTF-8?Q?R=C3=A9sultat?=\r\n"
		    "MIME-Version: 1.0\r\nContent-Type: text/plain; "
		    "charset=UTF-8\r\nContent-Transfer-Encoding: "
		    "quoted-printable\r\n\r\nBonjour H=C3=A9l=C3=A8ne,\r\n"));
		buf_free(&plain);
	}
	buf_init(&plain, OUT_MAX);
	assert_int_equal(pki_smime_decrypt(other.cert, other.key, out.data,
	    out.len, &plain, err, sizeof(err)), ERR_CRYPTO);
	assert_int_equal(strncmp(err, "message: cannot decrypt: ", 25), 0);
	assert_int_equal(pki_smime_decrypt(rsa.cert, rsa.key, MSG_ASCII,
	    strlen(MSG_ASCII), &plain, err, sizeof(err)), ERR_PROTO);
	assert_string_equal(err, "message: not an S/MIME enveloped-data "
	    "message");
	assert_int_equal(plain.len, 0);
	buf_free(&plain);

	/* Recipients that cannot receive. */
	X509 *bad[] = { expired.cert };
	reset_out();
	assert_int_equal(pki_smime_encrypt(bad, 1, MSG_ASCII, strlen(MSG_ASCII),
	    &out, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "recipient certificate /O=mssgate tests/"
	    "CN=Expired expired on "));
	bad[0] = bad_ku.cert;
	assert_int_equal(pki_smime_encrypt(bad, 1, MSG_ASCII, strlen(MSG_ASCII),
	    &out, err, sizeof(err)), 0);
	bad[0] = ca.cert;	/* RSA, keyCertSign and cRLSign only */
	reset_out();
	assert_int_equal(pki_smime_encrypt(bad, 1, MSG_ASCII, strlen(MSG_ASCII),
	    &out, err, sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "the key usage lacks keyEncipherment"));
	assert_int_equal(out.len, 0);
	assert_int_equal(pki_smime_encrypt(bad, 0, MSG_ASCII, strlen(MSG_ASCII),
	    &out, err, sizeof(err)), ERR_INVAL);
}

/* ---- the signer loader ---- */

static void
load_err(const char *crt, const char *key, const char *chain,
	 const char *pass, int want_r, const char *want_err)
{
	struct pki_smime_signer *s = (struct pki_smime_signer *)&s;
	char want[2 * PATH_LEN];
	int r = pki_smime_signer_load(crt, key, chain, pass, &s, err,
	    sizeof(err));

	snprintf(want, sizeof(want), "%s", want_err);
	if (r != want_r || strncmp(err, want, strlen(want)) != 0)
		fail_msg("load %s %s: %d %s\n  want %d %s", crt, key, r, err,
		    want_r, want);
	assert_null(s);
	assert_null(strchr(err, '\n'));
}

static void
test_load_errors(void **state)
{
	char p1[PATH_LEN], p2[PATH_LEN], want[3 * PATH_LEN];
	size_t n;

	(void)state;
	snprintf(want, sizeof(want), "%s: the private key does not match the "
	    "certificate in %s", ec.key_file, rsa.crt);
	load_err(rsa.crt, ec.key_file, NULL, NULL, ERR_INVAL, want);
	snprintf(want, sizeof(want), "%s: certificate expired on ",
	    expired.crt);
	load_err(expired.crt, ec.key_file, NULL, NULL, ERR_INVAL, want);
	snprintf(want, sizeof(want), "%s: certificate not valid before ",
	    future.crt);
	load_err(future.crt, ec.key_file, NULL, NULL, ERR_INVAL, want);
	snprintf(want, sizeof(want), "%s: the extended key usage of the "
	    "certificate lacks emailProtection", bad_eku.crt);
	load_err(bad_eku.crt, ec.key_file, NULL, NULL, ERR_INVAL, want);
	snprintf(want, sizeof(want), "%s: the key usage of the certificate "
	    "lacks digitalSignature, needed to sign", bad_ku.crt);
	load_err(bad_ku.crt, ec.key_file, NULL, NULL, ERR_INVAL, want);
	snprintf(want, sizeof(want), "%s: chain certificate /O=mssgate tests/"
	    "CN=Expired expired on ", expired.crt);
	load_err(ec.crt, ec.key_file, expired.crt, NULL, ERR_INVAL, want);

	/* Corrupted PEM: a base64 line damaged. */
	char *pem = read_all(ec.crt, &n);
	char *dmg = replace(pem, "\n", "\n!!!!");
	write_file(p1, "corrupt.crt", dmg, strlen(dmg));
	snprintf(want, sizeof(want), "%s:1: corrupted certificate: ", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_INVAL, want);
	free(dmg);
	/* Cut before its END line. */
	write_file(p1, "truncated.crt", pem, n / 2);
	snprintf(want, sizeof(want), "%s:1: -----BEGIN CERTIFICATE----- "
	    "without its END line (truncated?)", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_INVAL, want);
	/* A certificate file without certificate. */
	write_file(p1, "text.crt", "hello\n", 6);
	snprintf(want, sizeof(want), "%s: no PEM certificate found", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_INVAL, want);
	write_file(p1, "empty.crt", "", 0);
	snprintf(want, sizeof(want), "%s: empty file", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_INVAL, want);
	free(pem);
	/* DER given as PEM, the certificate and the key. */
	unsigned char *der = NULL;
	int dl = i2d_X509(ec.cert, &der);
	write_file(p1, "der.crt", der, (size_t)dl);
	OPENSSL_free(der);
	snprintf(want, sizeof(want), "%s: DER data, not PEM (convert it: "
	    "openssl x509 -inform DER -outform PEM)", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_INVAL, want);
	der = NULL;
	dl = i2d_PrivateKey(ec.key, &der);
	write_file(p2, "der.key", der, (size_t)dl);
	OPENSSL_clear_free(der, (size_t)dl);
	snprintf(want, sizeof(want), "%s: DER data, not PEM (convert it: "
	    "openssl pkey -inform DER -outform PEM)", p2);
	load_err(ec.crt, p2, NULL, NULL, ERR_INVAL, want);
	/* 10 MB of garbage. */
	char *garbage = malloc(10 << 20);
	assert_non_null(garbage);
	for (size_t i = 0; i < (10u << 20); i++)
		garbage[i] = (char)(i * 2654435761u >> 13);
	write_file(p1, "garbage.crt", garbage, 10 << 20);
	free(garbage);
	snprintf(want, sizeof(want), "%s: 10485760 bytes, more than the "
	    "1048576 a certificate or key file may hold", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_LIMIT, want);
	load_err(ec.crt, p1, NULL, NULL, ERR_LIMIT, want);
	/* Missing files. */
	tmp_path(p1, "missing.crt");
	snprintf(want, sizeof(want), "%s: cannot open: No such file or "
	    "directory", p1);
	load_err(p1, ec.key_file, NULL, NULL, ERR_IO, want);
	load_err(ec.crt, ec.key_file, p1, NULL, ERR_IO, want);
	/* A folder. */
	snprintf(want, sizeof(want), "%s: not a regular file", tmp_base);
	load_err(tmp_base, ec.key_file, NULL, NULL, ERR_INVAL, want);
}

static void
test_load_passphrase(void **state)
{
	struct pki_smime_signer *s = NULL;
	char kp[PATH_LEN], want[2 * PATH_LEN];

	(void)state;
	tmp_path(kp, "ec-enc.key");
	write_key(kp, ec.key, PASS);
	snprintf(want, sizeof(want), "%s:1: the key is encrypted and no "
	    "passphrase was given", kp);
	load_err(ec.crt, kp, NULL, NULL, ERR_AUTH, want);
	snprintf(want, sizeof(want), "%s:1: cannot decrypt the key, wrong "
	    "passphrase? (", kp);
	load_err(ec.crt, kp, NULL, "wrong horse", ERR_AUTH, want);
	assert_int_equal(pki_smime_signer_load(ec.crt, kp, NULL, PASS, &s,
	    err, sizeof(err)), 0);
	assert_string_equal(err, "");
	pki_smime_signer_free(&s);
	pki_smime_signer_free(&s);	/* NULL is fine */
	pki_smime_signer_free(NULL);
	/* A passphrase given for a plain key is not needed, not an error. */
	assert_int_equal(pki_smime_signer_load(ec.crt, ec.key_file, NULL, PASS,
	    &s, err, sizeof(err)), 0);
	pki_smime_signer_free(&s);
}

/* The files the interoperability test needs (no-op without
 * SMIME_OUT_DIR); runs last. */
static void
test_export(void **state)
{
	(void)state;
	export_file("ca.pem", ca.crt);
	export_file("rsa.crt", rsa.crt);
	export_file("rsa.key", rsa.key_file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_rsa),
		cmocka_unit_test(test_sign_ec),
		cmocka_unit_test(test_sign_utf8),
		cmocka_unit_test(test_sign_multipart),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_sign_refused),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_opaque_and_others),
		cmocka_unit_test(test_verify_malformed),
		cmocka_unit_test(test_header_value),
		cmocka_unit_test(test_der),
		cmocka_unit_test(test_encrypt),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_passphrase),
		cmocka_unit_test(test_export),
	};
	int r = cmocka_run_group_tests(tests, group_setup, group_teardown);

	buf_free(&out);
	return r;
}
