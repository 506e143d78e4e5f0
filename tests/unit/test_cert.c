/* SPDX-License-Identifier: MIT */
/*
 * test_cert.c - certificate work (pki/pki_cert.h) and the registry
 * (store/store_cert.h): the development CA made once and kept; each kind
 * issued with the extensions of its use, read back with OpenSSL (basic
 * constraints, key usage for RSA and EC keys, extended key usage, SANs,
 * RPPS in the subject, key identifiers, signature, validity); requests
 * refused; verification with its exact reason for expired, not yet
 * valid, untrusted, revoked (CRL), wrong purpose and key mismatch, and
 * an issuer without a CRL accepted; CRLs checked before import;
 * PKCS#12 round trip, wrong and missing password; encrypted keys;
 * every bad input file with its one-line error; the trust folder and
 * its hash links; the registry, the S/MIME look-up the daemon uses and
 * the CA's ledger.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "core/err.h"
#include "pki/pki_cert.h"
#include "store/store.h"
#include "store/store_cert.h"

#define PATH_LEN 1024
#define WANT_LEN 4096
#define ERR_LEN 1024
#define DAY INT64_C(86400)

static char tmp_base[512];
static char certs_dir[600];	/* the development CA's folder */
static char ca_file[700];
static struct pki_ca *ca;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

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
group_setup(void **state)
{
	char err[ERR_LEN];
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (sodium_init() < 0)
		return -1;
	snprintf(tmp_base, sizeof(tmp_base), "%s/mss-test-cert.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tmp_base) == NULL)
		return -1;
	snprintf(certs_dir, sizeof(certs_dir), "%s/certs", tmp_base);
	snprintf(ca_file, sizeof(ca_file), "%s/ca.crt", certs_dir);
	if (pki_ca_init(certs_dir, err, sizeof(err)) != 1 ||
	    pki_ca_load(certs_dir, &ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "CA: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	pki_ca_free(&ca);
	return nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* issue - a certificate of kind for the test, which must work. */
static X509 *
issue(struct pki_issue_req *req, EVP_PKEY **key_r, uint64_t *serial_r)
{
	char err[ERR_LEN];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	uint64_t serial = 0;

	if (req->days == 0)
		req->days = 365;
	int r = pki_cert_issue(ca, req, &x, &k, &serial, err, sizeof(err));
	if (r != 0)
		fail_msg("issue: %d %s", r, err);
	assert_non_null(x);
	assert_non_null(k);
	if (key_r != NULL)
		*key_r = k;
	else
		EVP_PKEY_free(k);
	if (serial_r != NULL)
		*serial_r = serial;
	return x;
}

static struct pki_trust *
trust_now(void)
{
	char err[ERR_LEN];
	struct pki_trust *t = NULL;
	if (pki_trust_load(ca_file, certs_dir, &t, err, sizeof(err)) != 0)
		fail_msg("trust: %s", err);
	return t;
}

/* ---- the CA ---- */

static void
test_ca_kept(void **state)
{
	char err[ERR_LEN], key[WANT_LEN], dir[PATH_LEN];
	size_t l1, l2;
	struct stat sb;

	(void)state;
	char *before = read_all(ca_file, &l1);
	assert_int_equal(pki_ca_init(certs_dir, err, sizeof(err)), 0);
	char *after = read_all(ca_file, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(before, after, l1);
	free(before);
	free(after);
	snprintf(key, sizeof(key), "%s/ca.key", certs_dir);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* a CA whose key went missing is not silently replaced */
	tmp_path(dir, "halfca");
	assert_int_equal(pki_ca_init(dir, err, sizeof(err)), 1);
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	assert_int_equal(unlink(key), 0);
	assert_int_equal(pki_ca_init(dir, err, sizeof(err)), ERR_EXISTS);
	assert_non_null(strstr(err, "ca.key is missing"));
	struct pki_ca *c2 = NULL;
	assert_int_equal(pki_ca_load(dir, &c2, err, sizeof(err)),
	    ERR_NOTFOUND);
	assert_null(c2);

	/* the CA itself: CA:TRUE, keyCertSign and cRLSign, self-signed */
	assert_int_equal(X509_check_ca(ca->cert), 1);
	assert_true(X509_get_key_usage(ca->cert) & KU_CRL_SIGN);
	assert_true(X509_get_key_usage(ca->cert) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_self_signed(ca->cert, 1), 1);
}

/* ---- issuing ---- */

/* eku_has - extended key usage exactly these NIDs (0-terminated). */
static void
assert_eku(X509 *x, const int *nids)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL,
	    NULL);
	int n = 0;
	assert_non_null(eku);
	while (nids[n] != 0)
		n++;
	assert_int_equal(sk_ASN1_OBJECT_num(eku), n);
	for (int i = 0; i < n; i++)
		assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)),
		    nids[i]);
	EXTENDED_KEY_USAGE_free(eku);
}

/* assert_sans - SAN entries of type, in order. */
static void
assert_sans(X509 *x, int type, const char *const *want, int n)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	int k = 0;
	assert_non_null(g);
	for (int i = 0; i < sk_GENERAL_NAME_num(g); i++) {
		GENERAL_NAME *e = sk_GENERAL_NAME_value(g, i);
		if (e->type != type)
			continue;
		const ASN1_IA5STRING *s = type == GEN_DNS ? e->d.dNSName :
		    e->d.rfc822Name;
		assert_true(k < n);
		assert_int_equal(ASN1_STRING_length(s), strlen(want[k]));
		assert_memory_equal(ASN1_STRING_get0_data(s), want[k],
		    strlen(want[k]));
		k++;
	}
	assert_int_equal(k, n);
	GENERAL_NAMES_free(g);
}

/* assert_common - what every leaf has: CA:FALSE critical, key usage
 * critical and exactly ku, key ids linking it to the CA, signed by it,
 * the ledger's serial. */
static void
assert_common(X509 *x, uint32_t ku, uint64_t serial)
{
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints,
	    &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING *kus = X509_get_ext_d2i(x, NID_key_usage, &crit,
	    NULL);
	assert_non_null(kus);
	assert_int_equal(crit, 1);
	ASN1_BIT_STRING_free(kus);
	assert_int_equal(X509_get_key_usage(x), ku);
	assert_int_equal(X509_check_ca(x), 0);
	const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca->cert);
	assert_non_null(akid);
	assert_non_null(skid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid, skid), 0);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca->cert)), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(ca->cert)), 0);
	uint64_t got = 0;
	assert_int_equal(ASN1_INTEGER_get_uint64(&got,
	    X509_get0_serialNumber(x)), 1);
	assert_true(got == serial);
	assert_true(serial >= (UINT64_C(1) << 56) && serial < (UINT64_C(1) <<
	    63));
}

static void
test_issue_server(void **state)
{
	struct pki_issue_req req = { 0 };
	struct pki_cert_info info;
	static const char *const dns[] = { "mx.mssante.test", "localhost" };
	static const int eku[] = { NID_server_auth, 0 };
	uint64_t serial;
	EVP_PKEY *k;

	(void)state;
	req.kind = PKI_KIND_SERVER;
	req.dns[0] = dns[0];
	req.dns[1] = dns[1];
	req.n_dns = 2;
	X509 *x = issue(&req, &k, &serial);
	assert_common(x, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, serial);
	assert_eku(x, eku);
	assert_sans(x, GEN_DNS, dns, 2);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	assert_int_equal(X509_check_private_key(x, k), 1);
	pki_cert_info(x, &info);
	assert_string_equal(info.subject, "CN=mx.mssante.test,O=mssgate "
	    "development,C=FR");
	assert_string_equal(info.sans, "DNS:mx.mssante.test, DNS:localhost");
	assert_string_equal(info.key_usage, "digitalSignature, "
	    "keyEncipherment");
	assert_string_equal(info.ext_key_usage, "serverAuth");
	assert_string_equal(info.key_type, "RSA 2048");
	assert_int_equal(strlen(info.serial), 16);
	assert_false(info.is_ca);
	time_t now = time(NULL);
	assert_true(info.not_before <= now - 3500 && info.not_before >
	    now - 3700);
	assert_true(info.not_after >= now + 365 * DAY - 60 &&
	    info.not_after <= now + 365 * DAY);
	EVP_PKEY_free(k);
	X509_free(x);

	/* EC: digitalSignature only (no key transport with an EC key) */
	req.key_type = PKI_KEY_P256;
	req.days = 10;
	x = issue(&req, &k, &serial);
	assert_common(x, KU_DIGITAL_SIGNATURE, serial);
	pki_cert_info(x, &info);
	assert_string_equal(info.key_type, "EC P-256");
	assert_true(info.not_after <= now + 10 * DAY + 5);
	EVP_PKEY_free(k);
	X509_free(x);
}

static void
test_issue_client_operator(void **state)
{
	struct pki_issue_req req = { 0 };
	static const int client_eku[] = { NID_client_auth, 0 };
	static const int op_eku[] = { NID_server_auth, NID_client_auth, 0 };
	static const char *const dns[] = { "mssante.test" };
	struct pki_cert_info info;
	uint64_t serial;

	(void)state;
	req.kind = PKI_KIND_CLIENT;
	req.cn = "Application de biologie";
	req.key_type = PKI_KEY_P256;
	X509 *x = issue(&req, NULL, &serial);
	assert_common(x, KU_DIGITAL_SIGNATURE, serial);
	assert_eku(x, client_eku);
	assert_null(X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL));
	pki_cert_info(x, &info);
	assert_string_equal(info.subject, "CN=Application de biologie,"
	    "O=mssgate development,C=FR");
	X509_free(x);

	memset(&req, 0, sizeof(req));
	req.kind = PKI_KIND_OPERATOR;
	req.dns[0] = dns[0];
	req.n_dns = 1;
	req.key_type = PKI_KEY_RSA3072;
	EVP_PKEY *k;
	x = issue(&req, &k, &serial);
	assert_common(x, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, serial);
	assert_eku(x, op_eku);
	assert_sans(x, GEN_DNS, dns, 1);
	assert_int_equal(EVP_PKEY_get_bits(k), 3072);
	EVP_PKEY_free(k);
	X509_free(x);
}

static void
test_issue_smime(void **state)
{
	struct pki_issue_req req = { 0 };
	static const int eku[] = { NID_email_protect, 0 };
	static const char *const mail[] = { "alertes@mssante.test",
	    "Secretariat@mssante.test" };
	char sn[64];
	uint64_t serial;

	(void)state;
	req.kind = PKI_KIND_SMIME;
	req.email[0] = mail[0];
	req.email[1] = mail[1];
	req.n_email = 2;
	req.rpps = "10003456789";
	X509 *x = issue(&req, NULL, &serial);
	assert_common(x, KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION |
	    KU_KEY_ENCIPHERMENT, serial);
	assert_eku(x, eku);
	assert_sans(x, GEN_EMAIL, mail, 2);
	/* the RPPS as IdNat_PS in serialNumber; the CN is the address */
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_serialNumber, sn, sizeof(sn)), 12);
	assert_string_equal(sn, "810003456789");
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, sn, sizeof(sn)), (int)strlen(mail[0]));
	assert_true(pki_cert_has_email(x, "ALERTES@mssante.test"));
	assert_true(pki_cert_has_email(x, "secretariat@MSSANTE.test"));
	assert_false(pki_cert_has_email(x, "alertes@mssante.tes"));
	assert_false(pki_cert_has_email(x, "other@mssante.test"));
	X509_free(x);

	req.key_type = PKI_KEY_P256;
	req.rpps = NULL;
	x = issue(&req, NULL, &serial);
	assert_common(x, KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION, serial);
	X509_free(x);
}

static void
test_issue_refused(void **state)
{
	static const struct {
		enum pki_kind kind;
		const char *dns, *email, *cn, *rpps;
		unsigned days;
		const char *want;
	} cases[] = {
		{ PKI_KIND_SMIME, NULL, NULL, "x", NULL, 365,
		  "an smime certificate needs the address it signs for: "
		  "--email ADDR" },
		{ PKI_KIND_SERVER, NULL, NULL, "My server", NULL, 365,
		  "a server certificate needs a host name: --dns NAME" },
		{ PKI_KIND_OPERATOR, NULL, NULL, NULL, NULL, 365,
		  "a operator certificate needs a host name: --dns NAME" },
		{ PKI_KIND_CLIENT, NULL, NULL, NULL, NULL, 365,
		  "a client certificate needs a name: --cn, --dns or --email" },
		{ PKI_KIND_SERVER, "bad_name.test", NULL, NULL, NULL, 365,
		  "--dns 'bad_name.test': not a host name" },
		{ PKI_KIND_SERVER, "a..b", NULL, NULL, NULL, 365,
		  "--dns 'a..b': not a host name" },
		{ PKI_KIND_SMIME, NULL, "no-at-sign", NULL, NULL, 365,
		  "--email 'no-at-sign': not a mailbox address" },
		{ PKI_KIND_SMIME, NULL, "a,b@x.test", NULL, NULL, 365,
		  "--email 'a,b@x.test': not a mailbox address" },
		{ PKI_KIND_SMIME, NULL, "a@x.test", NULL, "1234", 365,
		  "--rpps '1234': an RPPS number is 11 digits" },
		{ PKI_KIND_SMIME, NULL, "a@x.test", NULL, "1000345678x", 365,
		  "--rpps '1000345678x': an RPPS number is 11 digits" },
		{ PKI_KIND_SERVER, "x.test", NULL, NULL, NULL, 0,
		  "--days: 1 to 3650" },
		{ PKI_KIND_SERVER, "x.test", NULL, NULL, NULL, 3651,
		  "--days: 1 to 3650" },
		{ PKI_KIND_CLIENT, NULL, NULL,
		  "an-exceedingly-long-common-name-that-goes-past-sixty-four-"
		  "characters", NULL, 365,
		  "--cn: 1 to 64 characters of UTF-8" },
		{ PKI_KIND_CLIENT, NULL, NULL, "tab\there", NULL, 365,
		  "--cn: a control character" },
	};
	char err[ERR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pki_issue_req req = { 0 };
		X509 *x = (X509 *)1;
		EVP_PKEY *k = (EVP_PKEY *)1;
		uint64_t s;
		req.kind = cases[i].kind;
		if (cases[i].dns != NULL)
			req.dns[req.n_dns++] = cases[i].dns;
		if (cases[i].email != NULL)
			req.email[req.n_email++] = cases[i].email;
		req.cn = cases[i].cn;
		req.rpps = cases[i].rpps;
		req.days = cases[i].days;
		int r = pki_cert_issue(ca, &req, &x, &k, &s, err, sizeof(err));
		if (r != ERR_INVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: %d [%s], want [%s]", i, r, err,
			    cases[i].want);
		assert_null(x);
		assert_null(k);
	}
}

/* ---- verifying ---- */

static void
verify_fails(struct pki_trust *t, X509 *x, EVP_PKEY *key,
	     enum pki_purpose p, enum pki_verify_fail want_fail,
	     const char *want)
{
	char reason[ERR_LEN];
	enum pki_verify_fail f = PKI_VERIFY_OK;
	int r = pki_cert_verify(t, x, NULL, key, p, 0, &f, reason,
	    sizeof(reason));
	if (r != ERR_INVAL || f != want_fail || strcmp(reason, want) != 0)
		fail_msg("verify: %d %d [%s], want %d [%s]", r, (int)f,
		    reason, (int)want_fail, want);
}

static void
verify_ok(struct pki_trust *t, X509 *x, enum pki_purpose p)
{
	char reason[ERR_LEN];
	enum pki_verify_fail f = PKI_VERIFY_OTHER;
	int r = pki_cert_verify(t, x, NULL, NULL, p, 0, &f, reason,
	    sizeof(reason));
	if (r != 0 || f != PKI_VERIFY_OK)
		fail_msg("verify %s: %d [%s]", pki_purpose_name(p), r, reason);
}

static void
test_verify_purposes(void **state)
{
	struct pki_issue_req req = { 0 };
	struct pki_trust *t = trust_now();

	(void)state;
	req.key_type = PKI_KEY_P256;
	req.kind = PKI_KIND_SERVER;
	req.dns[req.n_dns++] = "mx.mssante.test";
	X509 *srv = issue(&req, NULL, NULL);
	req.kind = PKI_KIND_OPERATOR;
	X509 *op = issue(&req, NULL, NULL);
	req.kind = PKI_KIND_CLIENT;
	X509 *cli = issue(&req, NULL, NULL);
	req.kind = PKI_KIND_SMIME;
	req.n_dns = 0;
	req.email[req.n_email++] = "alertes@mssante.test";
	X509 *sm = issue(&req, NULL, NULL);

	verify_ok(t, srv, PKI_PURPOSE_NONE);
	verify_ok(t, srv, PKI_PURPOSE_TLS_SERVER);
	verify_ok(t, op, PKI_PURPOSE_TLS_SERVER);
	verify_ok(t, op, PKI_PURPOSE_TLS_CLIENT);
	verify_ok(t, cli, PKI_PURPOSE_TLS_CLIENT);
	verify_ok(t, sm, PKI_PURPOSE_SMIME);
	verify_fails(t, srv, NULL, PKI_PURPOSE_TLS_CLIENT, PKI_VERIFY_PURPOSE,
	    "extended key usage (serverAuth) does not allow tls-client: it "
	    "lacks clientAuth");
	verify_fails(t, cli, NULL, PKI_PURPOSE_TLS_SERVER, PKI_VERIFY_PURPOSE,
	    "extended key usage (clientAuth) does not allow tls-server: it "
	    "lacks serverAuth");
	verify_fails(t, op, NULL, PKI_PURPOSE_SMIME, PKI_VERIFY_PURPOSE,
	    "extended key usage (serverAuth, clientAuth) does not allow "
	    "smime: it lacks emailProtection");
	verify_fails(t, sm, NULL, PKI_PURPOSE_TLS_SERVER, PKI_VERIFY_PURPOSE,
	    "extended key usage (emailProtection) does not allow tls-server: "
	    "it lacks serverAuth");
	/* the CA is a trust anchor, not a server */
	verify_fails(t, ca->cert, NULL, PKI_PURPOSE_TLS_SERVER,
	    PKI_VERIFY_PURPOSE, "key usage (keyCertSign, cRLSign) does not "
	    "allow tls-server: it needs digitalSignature or keyEncipherment");
	X509_free(srv);
	X509_free(op);
	X509_free(cli);
	X509_free(sm);
	pki_trust_free(&t);
}

static void
test_verify_dates(void **state)
{
	struct pki_issue_req req = { 0 };
	struct pki_trust *t = trust_now();
	char want[256], d[64];

	(void)state;
	req.kind = PKI_KIND_SERVER;
	req.key_type = PKI_KEY_P256;
	req.dns[req.n_dns++] = "old.mssante.test";
	/* 2025-01-01 .. 2025-06-01, and 2099-01-01 .. 2099-12-31 */
	req.not_before = INT64_C(1735689600);
	req.not_after = INT64_C(1748736000);
	X509 *old = issue(&req, NULL, NULL);
	pki_time_str(req.not_after, d, sizeof(d));
	assert_string_equal(d, "2025-06-01 00:00:00 UTC");
	snprintf(want, sizeof(want), "certificate expired on %s", d);
	verify_fails(t, old, NULL, PKI_PURPOSE_TLS_SERVER, PKI_VERIFY_EXPIRED,
	    want);
	verify_fails(t, old, NULL, PKI_PURPOSE_NONE, PKI_VERIFY_EXPIRED, want);

	req.not_before = INT64_C(4070908800);
	req.not_after = INT64_C(4102358400);
	X509 *future = issue(&req, NULL, NULL);
	verify_fails(t, future, NULL, PKI_PURPOSE_TLS_SERVER,
	    PKI_VERIFY_NOT_YET_VALID, "certificate is not yet valid: valid "
	    "from 2099-01-01 00:00:00 UTC");

	X509_free(old);
	X509_free(future);
	pki_trust_free(&t);
}

/* other_ca - a CA of another name, made here, with its own key. */
static X509 *
other_ca(EVP_PKEY **key_r, const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	assert_non_null(k);
	assert_non_null(x);
	X509_NAME *n = X509_get_subject_name(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3,
	    NID_basic_constraints, "critical,CA:TRUE");
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
	    "critical,keyCertSign,cRLSign");
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*key_r = k;
	return x;
}

static void
test_verify_untrusted_mismatch(void **state)
{
	struct pki_issue_req req = { 0 };
	struct pki_trust *t = trust_now();
	struct pki_ca other = { NULL, NULL };
	EVP_PKEY *k1, *k2;

	(void)state;
	other.cert = other_ca(&other.key, "AC TEST AUTRE OPERATEUR");
	req.kind = PKI_KIND_SERVER;
	req.key_type = PKI_KEY_P256;
	req.dns[req.n_dns++] = "mx.autre.test";
	req.days = 30;
	char err[ERR_LEN];
	X509 *x = NULL;
	uint64_t s;
	assert_int_equal(pki_cert_issue(&other, &req, &x, &k1, &s, err,
	    sizeof(err)), 0);
	verify_fails(t, x, NULL, PKI_PURPOSE_TLS_SERVER, PKI_VERIFY_UNTRUSTED,
	    "untrusted CA: unable to get the issuer certificate 'CN=AC TEST "
	    "AUTRE OPERATEUR': not in the trust store");
	verify_fails(t, other.cert, NULL, PKI_PURPOSE_NONE,
	    PKI_VERIFY_UNTRUSTED, "untrusted: self-signed certificate 'CN=AC "
	    "TEST AUTRE OPERATEUR' is not in the trust store");

	/* the key of another certificate */
	X509 *mine = issue(&req, &k2, NULL);
	verify_fails(t, mine, k1, PKI_PURPOSE_TLS_SERVER, PKI_VERIFY_MISMATCH,
	    "the private key does not match the certificate "
	    "(key/certificate mismatch)");
	char reason[ERR_LEN];
	assert_int_equal(pki_cert_verify(t, mine, NULL, k2,
	    PKI_PURPOSE_TLS_SERVER, 0, NULL, reason, sizeof(reason)), 0);

	/* trusted once its CA is in the trust folder */
	char name[256];
	assert_int_equal(pki_trustdir_add(certs_dir, other.cert, name,
	    sizeof(name), err, sizeof(err)), 1);
	assert_string_equal(name, "ac-test-autre-operateur.pem");
	pki_trust_free(&t);
	t = trust_now();
	verify_ok(t, x, PKI_PURPOSE_TLS_SERVER);
	assert_int_equal(pki_trustdir_remove(certs_dir,
	    "ac-test-autre-operateur", err, sizeof(err)), 1);
	pki_trust_free(&t);
	t = trust_now();
	verify_fails(t, x, NULL, PKI_PURPOSE_TLS_SERVER, PKI_VERIFY_UNTRUSTED,
	    "untrusted CA: unable to get the issuer certificate 'CN=AC TEST "
	    "AUTRE OPERATEUR': not in the trust store");
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	X509_free(x);
	X509_free(mine);
	X509_free(other.cert);
	EVP_PKEY_free(other.key);
	pki_trust_free(&t);
}

/* write_crl - ca's CRL with these entries into certs_dir/crl/NAME. */
static void
put_crl(const struct pki_ca *c, const struct pki_revoked *rv, size_t n,
	int64_t now, const char *name)
{
	char err[ERR_LEN], dir[700], path[PATH_LEN];
	struct pki_staged s;
	X509_CRL *crl = NULL;

	snprintf(dir, sizeof(dir), "%s/crl", certs_dir);
	(void)mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (pki_crl_make(c, rv, n, 1, now, PKI_CRL_DAYS, &crl, err,
	    sizeof(err)) != 0)
		fail_msg("crl: %s", err);
	assert_int_equal(pki_stage_crl(&s, path, crl, err, sizeof(err)), 0);
	assert_int_equal(pki_stage_commit(&s, err, sizeof(err)), 0);
	X509_CRL_free(crl);
}

static void
test_verify_revoked(void **state)
{
	struct pki_issue_req req = { 0 };
	uint64_t s1, s2;
	char err[ERR_LEN], path[PATH_LEN], name[256];
	struct pki_ca other = { NULL, NULL };

	(void)state;
	req.kind = PKI_KIND_CLIENT;
	req.key_type = PKI_KEY_P256;
	req.cn = "revoked client";
	X509 *bad = issue(&req, NULL, &s1);
	req.cn = "good client";
	X509 *good = issue(&req, NULL, &s2);
	/* a CA with no CRL at all: its certificates still pass */
	other.cert = other_ca(&other.key, "AC SANS LISTE");
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	uint64_t s;
	assert_int_equal(pki_cert_issue(&other, &req, &x, &k, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_trustdir_add(certs_dir, other.cert, name,
	    sizeof(name), err, sizeof(err)), 1);

	struct pki_revoked rv[] = {
		{ s1, INT64_C(1790000000), 1 },
		{ 12345, INT64_C(1790000000), 0 },
	};
	put_crl(ca, rv, 2, (int64_t)time(NULL), "devca.crl.pem");
	struct pki_trust *t = trust_now();
	verify_fails(t, bad, NULL, PKI_PURPOSE_TLS_CLIENT, PKI_VERIFY_REVOKED,
	    "certificate revoked on 2026-09-21 14:13:20 UTC (keyCompromise) "
	    "by the CRL of 'CN=mssgate development CA,O=mssgate development,"
	    "C=FR'");
	verify_ok(t, good, PKI_PURPOSE_TLS_CLIENT);
	verify_ok(t, x, PKI_PURPOSE_TLS_CLIENT);

	/* the CRL is also what an SSL_CTX gets for mutual TLS */
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_file, NULL), 1);
	assert_int_equal(pki_ctx_add_trust(ctx, certs_dir, err, sizeof(err)),
	    0);
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx),
	    bad, NULL), 1);
	assert_int_equal(X509_verify_cert(sc), 0);
	assert_int_equal(X509_STORE_CTX_get_error(sc), X509_V_ERR_CERT_REVOKED);
	X509_STORE_CTX_free(sc);
	sc = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx),
	    x, NULL), 1);
	assert_int_equal(X509_verify_cert(sc), 1);
	/* no error left behind for SSL_get_verify_result() */
	assert_int_equal(X509_STORE_CTX_get_error(sc), X509_V_OK);
	X509_STORE_CTX_free(sc);
	SSL_CTX_free(ctx);

	/* a CRL past its nextUpdate: verification says so */
	put_crl(ca, rv, 1, (int64_t)time(NULL) - 30 * DAY, "devca.crl.pem");
	pki_trust_free(&t);
	t = trust_now();
	char reason[ERR_LEN];
	enum pki_verify_fail f;
	assert_int_equal(pki_cert_verify(t, good, NULL, NULL,
	    PKI_PURPOSE_NONE, 0, &f, reason, sizeof(reason)), ERR_INVAL);
	assert_non_null(strstr(reason, "the CRL of 'CN=mssgate development "
	    "CA,O=mssgate development,C=FR' expired on "));
	assert_non_null(strstr(reason, ": import a newer one"));

	/* a damaged CRL in the folder is an error, not ignored */
	snprintf(path, sizeof(path), "%s/crl/devca.crl.pem", certs_dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", fp);
	assert_int_equal(fclose(fp), 0);
	pki_trust_free(&t);
	assert_int_not_equal(pki_trust_load(ca_file, certs_dir, &t, err,
	    sizeof(err)), 0);
	assert_null(t);
	assert_non_null(strstr(err, "devca.crl.pem:1: corrupted CRL block"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pki_trustdir_remove(certs_dir, "ac-sans-liste", err,
	    sizeof(err)), 1);

	X509_free(bad);
	X509_free(good);
	X509_free(x);
	EVP_PKEY_free(k);
	X509_free(other.cert);
	EVP_PKEY_free(other.key);
}

static void
test_crl_check(void **state)
{
	struct pki_ca other = { NULL, NULL };
	struct pki_revoked rv = { 99, INT64_C(1790000000), 4 };
	char err[ERR_LEN];
	X509_CRL *crl = NULL;
	X509 *issuer = NULL;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	struct pki_trust *t = trust_now();
	assert_int_equal(pki_crl_make(ca, &rv, 1, 5, now, 7, &crl, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_crl_check(t, crl, now, &issuer, err,
	    sizeof(err)), 0);
	assert_ptr_not_equal(issuer, NULL);
	assert_int_equal(X509_cmp(issuer, ca->cert), 0);
	int64_t th, nx;
	size_t n;
	pki_crl_times(crl, &th, &nx, &n);
	assert_true(th == now && nx == now + 7 * DAY && n == 1);
	/* seen 8 days later it has expired */
	assert_int_equal(pki_crl_check(t, crl, now + 8 * DAY, NULL, err,
	    sizeof(err)), ERR_INVAL);
	assert_non_null(strstr(err, "expired on"));
	X509_CRL_free(crl);

	other.cert = other_ca(&other.key, "AC INCONNUE");
	assert_int_equal(pki_crl_make(&other, &rv, 1, 1, now, 7, &crl, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_crl_check(t, crl, now, NULL, err, sizeof(err)),
	    ERR_NOTFOUND);
	assert_string_equal(err, "the CRL's issuer 'CN=AC INCONNUE' is not in "
	    "the trust store");
	X509_CRL_free(crl);
	/* the name of our CA, another key: the signature fails */
	X509_free(other.cert);
	EVP_PKEY_free(other.key);
	other.cert = X509_dup(ca->cert);
	other.key = EVP_EC_gen("P-256");
	assert_int_equal(pki_crl_make(&other, &rv, 1, 1, now, 7, &crl, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_crl_check(t, crl, now, NULL, err, sizeof(err)),
	    ERR_INVAL);
	assert_string_equal(err, "the CRL's signature does not verify with "
	    "the key of 'CN=mssgate development CA,O=mssgate development,"
	    "C=FR'");
	X509_CRL_free(crl);
	X509_free(other.cert);
	EVP_PKEY_free(other.key);

	/* PEM and DER load the same; a certificate is not a CRL */
	assert_int_equal(pki_crl_load_mem("x.pem", "hello", 5, &crl, err,
	    sizeof(err)), ERR_INVAL);
	assert_string_equal(err, "x.pem: not a CRL (neither a PEM X509 CRL "
	    "block nor DER)");
	char path[PATH_LEN];
	assert_int_equal(pki_crl_load_file(ca_file, &crl, err, sizeof(err)),
	    ERR_INVAL);
	snprintf(path, sizeof(path), "%s:1: a 'CERTIFICATE' block, not a CRL",
	    ca_file);
	assert_string_equal(err, path);
	pki_trust_free(&t);
}

/* ---- PKCS#12, keys, bad files ---- */

static void
test_p12(void **state)
{
	struct pki_issue_req req = { 0 };
	struct pki_bundle b = { 0 }, in;
	struct pki_staged s;
	char err[ERR_LEN], path[PATH_LEN];
	struct stat sb;

	(void)state;
	req.kind = PKI_KIND_SMIME;
	req.email[req.n_email++] = "alertes@mssante.test";
	req.key_type = PKI_KEY_P256;
	b.cert = issue(&req, &b.key, NULL);
	STACK_OF(X509) *extra = sk_X509_new_null();
	assert_non_null(extra);
	assert_true(sk_X509_push(extra, ca->cert) > 0);
	tmp_path(path, "alertes.p12");
	assert_int_equal(pki_stage_p12(&s, path, &b, extra, "alertes",
	    "Correct-Horse-1", err, sizeof(err)), 0);
	assert_int_equal(pki_stage_commit(&s, err, sizeof(err)), 0);
	sk_X509_free(extra);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(pki_bundle_load_file(path, "Correct-Horse-1", &in,
	    err, sizeof(err)), 0);
	assert_int_equal(in.format, PKI_FMT_PKCS12);
	assert_int_equal(X509_cmp(in.cert, b.cert), 0);
	assert_int_equal(EVP_PKEY_eq(in.key, b.key), 1);
	assert_true(in.key_matches);
	assert_int_equal(sk_X509_num(in.chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(in.chain, 0), ca->cert), 0);
	pki_bundle_free(&in);

	assert_int_equal(pki_bundle_load_file(path, "wrong", &in, err,
	    sizeof(err)), ERR_AUTH);
	char want[WANT_LEN];
	snprintf(want, sizeof(want), "%s: wrong password for the PKCS#12 file "
	    "(MAC verification failed)", path);
	assert_string_equal(err, want);
	assert_null(in.cert);
	assert_null(in.key);
	assert_int_equal(pki_bundle_load_file(path, NULL, &in, err,
	    sizeof(err)), ERR_AUTH);
	snprintf(want, sizeof(want), "%s: the PKCS#12 file is protected by a "
	    "password and none was given", path);
	assert_string_equal(err, want);

	/* the pair loader refuses a key that is not the certificate's */
	char crt[PATH_LEN], key[PATH_LEN];
	tmp_path(crt, "pair.crt");
	tmp_path(key, "pair.key");
	EVP_PKEY *other = EVP_EC_gen("P-256");
	assert_int_equal(pki_stage_cert(&s, crt, b.cert, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_stage_commit(&s, err, sizeof(err)), 0);
	assert_int_equal(pki_stage_key(&s, key, other, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_stage_commit(&s, err, sizeof(err)), 0);
	assert_int_equal(pki_bundle_load_pair(crt, key, NULL, &in, err,
	    sizeof(err)), ERR_INVAL);
	snprintf(want, sizeof(want), "%s: the private key does not match the "
	    "certificate %s", key, crt);
	assert_string_equal(err, want);
	assert_int_equal(pki_stage_key(&s, key, b.key, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_stage_commit(&s, err, sizeof(err)), 0);
	assert_int_equal(pki_bundle_load_pair(crt, key, NULL, &in, err,
	    sizeof(err)), 0);
	assert_true(in.key_matches);
	pki_bundle_free(&in);
	EVP_PKEY_free(other);
	pki_bundle_free(&b);
}

static void
test_encrypted_key(void **state)
{
	struct pki_issue_req req = { 0 };
	struct pki_bundle in;
	struct pki_staged s;
	char err[ERR_LEN], path[PATH_LEN], want[WANT_LEN];
	EVP_PKEY *k;
	struct stat sb;
	size_t len;

	(void)state;
	req.kind = PKI_KIND_CLIENT;
	req.cn = "encrypted";
	req.key_type = PKI_KEY_P256;
	X509 *x = issue(&req, &k, NULL);
	tmp_path(path, "enc.key");
	assert_int_equal(pki_stage_key(&s, path, k, "a-long-passphrase", err,
	    sizeof(err)), 0);
	/* written aside: nothing at the path before the commit */
	assert_int_not_equal(stat(path, &sb), 0);
	assert_int_equal(pki_stage_commit(&s, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	char *text = read_all(path, &len);
	assert_non_null(strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	free(text);

	assert_int_equal(pki_bundle_load_file(path, NULL, &in, err,
	    sizeof(err)), ERR_AUTH);
	snprintf(want, sizeof(want), "%s:1: the private key is encrypted and "
	    "no passphrase was given", path);
	assert_string_equal(err, want);
	assert_int_equal(pki_bundle_load_file(path, "not-it", &in, err,
	    sizeof(err)), ERR_AUTH);
	snprintf(want, sizeof(want), "%s:1: cannot decrypt the private key: "
	    "wrong passphrase", path);
	assert_string_equal(err, want);
	assert_int_equal(pki_bundle_load_file(path, "a-long-passphrase", &in,
	    err, sizeof(err)), 0);
	assert_true(in.key_encrypted);
	assert_null(in.cert);
	assert_int_equal(EVP_PKEY_eq(in.key, k), 1);
	pki_bundle_free(&in);

	/* a new file never replaces one that is there */
	assert_int_equal(pki_stage_key(&s, path, k, NULL, err, sizeof(err)), 0);
	assert_int_equal(pki_stage_commit_new(&s, err, sizeof(err)),
	    ERR_EXISTS);
	assert_true(s.tmp[0] == '\0');
	text = read_all(path, &len);
	assert_non_null(strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	free(text);

	/* a staged file that is abandoned leaves nothing behind */
	tmp_path(path, "abandoned.key");
	assert_int_equal(pki_stage_key(&s, path, k, NULL, err, sizeof(err)), 0);
	char tmpname[sizeof(s.tmp)];
	snprintf(tmpname, sizeof(tmpname), "%s", s.tmp);
	assert_int_equal(stat(tmpname, &sb), 0);
	pki_stage_abort(&s);
	assert_int_not_equal(stat(tmpname, &sb), 0);
	assert_int_not_equal(stat(path, &sb), 0);
	EVP_PKEY_free(k);
	X509_free(x);
}

/* load_err - pki_bundle_load_file on name must fail with ret and err
 * "PATH" + suffix. */
static void
load_err(const char *path, int ret, const char *suffix)
{
	struct pki_bundle b;
	char err[ERR_LEN], want[WANT_LEN];
	int r = pki_bundle_load_file(path, NULL, &b, err, sizeof(err));
	snprintf(want, sizeof(want), "%s%s", path, suffix);
	if (r != ret || strcmp(err, want) != 0)
		fail_msg("%s: %d [%s], want %d [%s]", path, r, err, ret, want);
	assert_null(b.cert);
	assert_null(b.key);
	assert_null(b.chain);
}

static void
test_bad_files(void **state)
{
	char path[PATH_LEN], err[ERR_LEN];
	size_t len;
	struct pki_bundle b;

	(void)state;
	char *pem = read_all(ca_file, &len);
	/* a base64 line damaged in the middle of the block */
	char *bad = strdup(pem);
	assert_non_null(bad);
	char *line3 = strchr(strchr(bad, '\n') + 1, '\n') + 1;
	memcpy(line3, "!!!!", 4);
	write_file(path, "corrupt.pem", bad, len);
	load_err(path, ERR_INVAL, ":1: corrupted PEM block 'CERTIFICATE' (its "
	    "base64 does not decode)");
	free(bad);
	/* the same after some text: the block's own line */
	char *prefixed = malloc(len + 32);
	assert_non_null(prefixed);
	int n = snprintf(prefixed, len + 32, "Certificate:\n  text\n%s", pem);
	write_file(path, "prefixed.pem", prefixed, (size_t)n);
	assert_int_equal(pki_bundle_load_file(path, NULL, &b, err,
	    sizeof(err)), 0);
	assert_int_equal(b.format, PKI_FMT_PEM);
	pki_bundle_free(&b);
	free(prefixed);
	/* a byte order mark before it */
	char *bom = malloc(len + 3);
	assert_non_null(bom);
	memcpy(bom, "\xef\xbb\xbf", 3);
	memcpy(bom + 3, pem, len);
	write_file(path, "bom.pem", bom, len + 3);
	free(bom);
	assert_int_equal(pki_bundle_load_file(path, NULL, &b, err,
	    sizeof(err)), 0);
	assert_int_equal(X509_cmp(b.cert, ca->cert), 0);
	pki_bundle_free(&b);
	/* cut in the middle */
	write_file(path, "cut.pem", pem, len / 2);
	load_err(path, ERR_INVAL, ":1: PEM block 'CERTIFICATE' has no END "
	    "line (truncated?)");
	/* valid base64 that is not a certificate */
	static const char notx509[] = "-----BEGIN CERTIFICATE-----\n"
	    "aGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
	write_file(path, "notx509.pem", notx509, sizeof(notx509) - 1);
	load_err(path, ERR_INVAL, ":1: the CERTIFICATE block is not a valid "
	    "X.509 certificate");
	static const char mismatched[] = "-----BEGIN CERTIFICATE-----\n"
	    "aGVsbG8=\n-----END PRIVATE KEY-----\n";
	write_file(path, "mismatched.pem", mismatched, sizeof(mismatched) - 1);
	load_err(path, ERR_INVAL, ":3: PEM block 'CERTIFICATE' ends with END "
	    "PRIVATE KEY");
	static const char csr[] = "\n\n-----BEGIN CERTIFICATE REQUEST-----\n"
	    "aGVsbG8=\n-----END CERTIFICATE REQUEST-----\n";
	write_file(path, "req.pem", csr, sizeof(csr) - 1);
	load_err(path, ERR_INVAL, ":3: a certificate request, not a "
	    "certificate");

	/* DER: detected and accepted */
	free(pem);
	unsigned char *der = NULL;
	int dlen = i2d_X509(ca->cert, &der);
	assert_true(dlen > 0);
	write_file(path, "ca.der", der, (size_t)dlen);
	assert_int_equal(pki_bundle_load_file(path, NULL, &b, err,
	    sizeof(err)), 0);
	assert_int_equal(b.format, PKI_FMT_DER);
	assert_int_equal(X509_cmp(b.cert, ca->cert), 0);
	pki_bundle_free(&b);
	/* DER cut short */
	write_file(path, "cut.der", der, (size_t)dlen - 10);
	load_err(path, ERR_INVAL, ": DER data that is neither a certificate, "
	    "a private key, a PKCS#7 nor a PKCS#12 file (damaged?)");
	OPENSSL_free(der);

	/* garbage: small, and 10 MB */
	unsigned char junk[4096];
	randombytes_buf(junk, sizeof(junk));
	junk[0] = 0x01;
	write_file(path, "junk.bin", junk, sizeof(junk));
	load_err(path, ERR_INVAL, ": not a certificate file (neither PEM, "
	    "DER nor PKCS#12)");
	tmp_path(path, "big.bin");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (int i = 0; i < 10 * 256; i++)
		assert_int_equal(fwrite(junk, 1, sizeof(junk), f),
		    sizeof(junk));
	assert_int_equal(fclose(f), 0);
	load_err(path, ERR_LIMIT, ": 10485760 bytes, more than the 1024 KiB a "
	    "certificate file may have: not a certificate file");
	assert_int_equal(unlink(path), 0);
	write_file(path, "empty.pem", "", 0);
	load_err(path, ERR_INVAL, ": empty file");
	tmp_path(path, "missing.pem");
	load_err(path, ERR_IO, ": cannot open: No such file or directory");
	load_err(tmp_base, ERR_INVAL, ": not a regular file");

	/* two keys in one file */
	EVP_PKEY *k1 = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
	tmp_path(path, "twokeys.pem");
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k1, NULL, NULL, 0, NULL,
	    NULL), 1);
	assert_int_equal(PEM_write_PrivateKey(f, k2, NULL, NULL, 0, NULL,
	    NULL), 1);
	assert_int_equal(fclose(f), 0);
	load_err(path, ERR_INVAL, ":6: a second private key in the file");
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* ---- the trust folder ---- */

static int
count_cb(const char *file, X509 *x, void *arg)
{
	(void)file;
	(void)x;
	(*(int *)arg)++;
	return 0;
}

static void
test_trustdir(void **state)
{
	char err[ERR_LEN], name[256], link[PATH_LEN], target[256];
	struct pki_ca a = { NULL, NULL }, b = { NULL, NULL };
	struct pki_cert_info info;
	int n = 0;

	(void)state;
	a.cert = other_ca(&a.key, "AC RACINE IGC-SANTE TEST");
	/* a renewal: the same subject, another key */
	b.cert = other_ca(&b.key, "AC RACINE IGC-SANTE TEST");
	assert_int_equal(pki_trustdir_add(certs_dir, a.cert, name,
	    sizeof(name), err, sizeof(err)), 1);
	assert_string_equal(name, "ac-racine-igc-sante-test.pem");
	assert_int_equal(pki_trustdir_add(certs_dir, a.cert, name,
	    sizeof(name), err, sizeof(err)), 0);
	assert_string_equal(name, "ac-racine-igc-sante-test.pem");
	assert_int_equal(pki_trustdir_add(certs_dir, b.cert, name,
	    sizeof(name), err, sizeof(err)), 1);
	assert_string_equal(name, "ac-racine-igc-sante-test-2.pem");
	/* c_rehash links: the same subject, .0 and .1 */
	pki_cert_info(a.cert, &info);
	for (int i = 0; i < 2; i++) {
		snprintf(link, sizeof(link), "%s/trust/%s.%d", certs_dir,
		    info.subject_hash, i);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		assert_true(k > 0);
		target[k] = '\0';
		assert_string_equal(target, i == 0 ?
		    "ac-racine-igc-sante-test-2.pem" :
		    "ac-racine-igc-sante-test.pem");
	}
	assert_int_equal(pki_trustdir_iter(certs_dir, count_cb, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	/* by link: that one only; the links renumbered from 0 */
	snprintf(link, sizeof(link), "%s.0", info.subject_hash);
	assert_int_equal(pki_trustdir_remove(certs_dir, link, err,
	    sizeof(err)), 1);
	snprintf(link, sizeof(link), "%s/trust/%s.0", certs_dir,
	    info.subject_hash);
	ssize_t k = readlink(link, target, sizeof(target) - 1);
	assert_true(k > 0);
	target[k] = '\0';
	assert_string_equal(target, "ac-racine-igc-sante-test.pem");
	snprintf(link, sizeof(link), "%s/trust/%s.1", certs_dir,
	    info.subject_hash);
	assert_true(readlink(link, target, sizeof(target)) < 0);
	/* by hash: every certificate with it */
	assert_int_equal(pki_trustdir_add(certs_dir, b.cert, name,
	    sizeof(name), err, sizeof(err)), 1);
	assert_int_equal(pki_trustdir_remove(certs_dir, info.subject_hash, err,
	    sizeof(err)), 2);
	assert_int_equal(pki_trustdir_remove(certs_dir, info.subject_hash, err,
	    sizeof(err)), 0);
	assert_int_equal(pki_trustdir_remove(certs_dir, "../ca", err,
	    sizeof(err)), ERR_INVAL);
	n = 0;
	assert_int_equal(pki_trustdir_iter(certs_dir, count_cb, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	X509_free(a.cert);
	EVP_PKEY_free(a.key);
	X509_free(b.cert);
	EVP_PKEY_free(b.key);
}

/* ---- the registry ---- */

struct st_fixture {
	char dir[PATH_LEN], key[PATH_LEN];
	struct store *st;
};

static struct store *
open_store(struct st_fixture *f)
{
	struct store_opts o = { 0 };
	const char *e = NULL;
	snprintf(f->dir, sizeof(f->dir), "%s/store", tmp_base);
	snprintf(f->key, sizeof(f->key), "%s/store.key", tmp_base);
	o.dir = f->dir;
	o.key_file = f->key;
	o.map_size = 64 << 20;
	o.max_dbs = 32;
	o.max_readers = 16;
	o.batch_max = 64;
	if (store_open(&o, &f->st, &e) != 0)
		fail_msg("store_open: %s", e ? e : "");
	return f->st;
}

static void
rec_init(struct store_cert *c, const char *name, const char *addr,
	 const char *serial, int64_t nb, int64_t na)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->kind, sizeof(c->kind), "%s", STORE_CERT_SMIME);
	snprintf(c->cert_file, sizeof(c->cert_file), "certs/%s.crt", name);
	snprintf(c->key_file, sizeof(c->key_file), "certs/%s.key", name);
	snprintf(c->subject, sizeof(c->subject), "CN=%s", name);
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	snprintf(c->smime_address, sizeof(c->smime_address), "%s", addr);
	c->not_before = nb;
	c->not_after = na;
	c->added = nb;
}

static int
names_cb(const struct store_cert *c, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s%s", n ? " " : "", c->name);
	return 0;
}

static void
test_registry(void **state)
{
	struct st_fixture f = { "", "", NULL };
	struct store_cert a, b, old, got;
	struct store_cert_op op = { 0 };
	struct store_ca_issued iss = { 0 };
	struct store_rtxn *rt;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	struct store *st = open_store(&f);
	assert_true(store_cert_name_valid("srv-2026.a_b"));
	assert_false(store_cert_name_valid("Srv"));
	assert_false(store_cert_name_valid(""));
	assert_false(store_cert_name_valid(".."));
	assert_false(store_cert_name_valid("a/b"));

	rec_init(&a, "alertes", "alertes@mssante.test", "1A2B3C4D5E6F7081",
	    now - DAY, now + 300 * DAY);
	iss.serial = UINT64_C(0x1A2B3C4D5E6F7081);
	snprintf(iss.name, sizeof(iss.name), "alertes");
	snprintf(iss.subject, sizeof(iss.subject), "CN=alertes");
	iss.issued = now;
	iss.not_after = a.not_after;
	op.cert = &a;
	op.issued = &iss;
	assert_int_equal(store_exec(st, store_op_cert_put, &op), 0);
	/* the same name again: refused, nothing half-written */
	rec_init(&b, "alertes", "x@mssante.test", "01", now, now + DAY);
	op.cert = &b;
	op.issued = NULL;
	assert_int_equal(store_exec(st, store_op_cert_put, &op), ERR_EXISTS);
	/* a renewal for the same address, expiring later; an expired one;
	 * one for another address */
	rec_init(&b, "alertes-2027", "Alertes@MSSante.test",
	    "2A2B3C4D5E6F7081", now - DAY, now + 600 * DAY);
	assert_int_equal(store_exec(st, store_op_cert_put, &op), 0);
	rec_init(&b, "alertes-old", "alertes@mssante.test", "33",
	    now - 400 * DAY, now - DAY);
	assert_int_equal(store_exec(st, store_op_cert_put, &op), 0);
	rec_init(&b, "labo", "labo@mssante.test", "44", now - DAY,
	    now + DAY);
	assert_int_equal(store_exec(st, store_op_cert_put, &op), 0);

	assert_int_equal(store_read_begin(st, &rt), 0);
	char names[256] = "";
	assert_int_equal(store_cert_iter(rt, names_cb, names), 0);
	assert_string_equal(names, "alertes alertes-2027 alertes-old labo");
	assert_int_equal(store_cert_get(rt, "alertes", &got), 1);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_int_equal(store_cert_get(rt, "nope", &got), 0);
	assert_int_equal(store_cert_get(rt, "Bad/Name", &got), 0);
	/* the S/MIME look-up: without case, the latest valid one */
	assert_int_equal(store_cert_find_smime(rt, "ALERTES@mssante.TEST",
	    &got), 1);
	assert_string_equal(got.name, "alertes-2027");
	assert_int_equal(store_cert_find_smime(rt, "labo@mssante.test", &got),
	    1);
	assert_string_equal(got.name, "labo");
	assert_int_equal(store_cert_find_smime(rt, "nobody@mssante.test",
	    &got), 0);
	assert_int_equal(store_cert_find_smime(rt, "", &got), 0);
	struct store_ca_issued gi;
	assert_int_equal(store_ca_issued_get(rt, iss.serial, &gi), 1);
	assert_string_equal(gi.name, "alertes");
	assert_true(gi.revoked == 0);
	store_read_end(&rt);

	/* revoked in the ledger: alertes no longer signs; alertes-2027 was
	 * not issued there (no ledger entry) */
	struct store_ca_revoke_op rv = { iss.serial, now, 1, { 0 } };
	assert_int_equal(store_exec(st, store_op_ca_revoke, &rv), 0);
	assert_int_equal(store_exec(st, store_op_ca_revoke, &rv), ERR_EXISTS);
	rv.serial = 777;
	assert_int_equal(store_exec(st, store_op_ca_revoke, &rv), ERR_NOTFOUND);
	op.name = "alertes-2027";
	assert_int_equal(store_exec(st, store_op_cert_del, &op), 0);
	assert_string_equal(op.old_r.name, "alertes-2027");
	assert_int_equal(store_exec(st, store_op_cert_del, &op), ERR_NOTFOUND);
	assert_int_equal(store_read_begin(st, &rt), 0);
	assert_int_equal(store_cert_find_smime(rt, "alertes@mssante.test",
	    &got), 0);
	assert_int_equal(store_ca_issued_get(rt, iss.serial, &gi), 1);
	assert_true(gi.revoked == now && gi.reason == 1);
	store_read_end(&rt);

	/* supersede: a new record takes over another's files */
	rec_init(&b, "labo-new", "labo@mssante.test", "55", now - DAY,
	    now + 2 * DAY);
	op.cert = &b;
	op.supersede = "labo";
	assert_int_equal(store_exec(st, store_op_cert_put, &op), 0);
	assert_int_equal(store_read_begin(st, &rt), 0);
	assert_int_equal(store_cert_get(rt, "labo", &old), 0);
	assert_int_equal(store_cert_find_smime(rt, "labo@mssante.test", &got),
	    1);
	assert_string_equal(got.name, "labo-new");
	store_read_end(&rt);

	struct store_ca_crl_op cn = { 0 };
	assert_int_equal(store_exec(st, store_op_ca_crl_number, &cn), 0);
	assert_true(cn.number_r == 1);
	assert_int_equal(store_exec(st, store_op_ca_crl_number, &cn), 0);
	assert_true(cn.number_r == 2);
	store_close(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca_kept),
		cmocka_unit_test(test_issue_server),
		cmocka_unit_test(test_issue_client_operator),
		cmocka_unit_test(test_issue_smime),
		cmocka_unit_test(test_issue_refused),
		cmocka_unit_test(test_verify_purposes),
		cmocka_unit_test(test_verify_dates),
		cmocka_unit_test(test_verify_untrusted_mismatch),
		cmocka_unit_test(test_verify_revoked),
		cmocka_unit_test(test_crl_check),
		cmocka_unit_test(test_p12),
		cmocka_unit_test(test_encrypted_key),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_trustdir),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
