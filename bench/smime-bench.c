/* SPDX-License-Identifier: MIT */
/*
 * smime-bench.c - the in-process side of bench/smime: S/MIME signatures
 * per second of a 2 KB message with mssgate's engine (pki_smime_sign),
 * for one key type.
 *
 * It makes a throwaway CA and signer (RSA-2048 or EC P-256) in DIR, keys
 * 0600, loads the signer once with pki_smime_signer_load, signs the
 * message once and checks that pki_smime_verify finds it valid against
 * the CA, warms up for half a second, then signs the same message in a
 * loop for SECONDS of wall-clock time (one thread, the output buffer
 * reused), dividing the count by the user CPU time of the process, as
 * `openssl speed` does, so that other load on the machine does not count
 * (sign_per_s_wall divides by wall-clock time, for `openssl speed
 * -elapsed`; sys_seconds shows the system time left out). Each
 * signature is a whole signed message: MIME preparation, SHA-256 of the
 * signed part and of the signed attributes, the private-key operation,
 * the DER and base64 of the SignedData and the multipart/signed around.
 *
 * usage: smime-bench DIR SECONDS rsa2048|p256
 * output, one line: "smime-bench: key=rsa2048 sign_per_s=...
 *   sign_per_s_wall=... signatures=... seconds=... user_seconds=...
 *   sys_seconds=... message_bytes=... signed_bytes=..."
 *
 * Build (bench/smime does it): cc -O2 -I SRC/src -I BUILD -o smime-bench
 *   smime-bench.c BUILD/libmssgate.a -lssl -lcrypto -lsodium -lpthread
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/err.h"
#include "pki/pki_smime.h"

#define MSG_SIZE 2048
#define WARMUP_S 0.5

static void
die(const char *what)
{
	fprintf(stderr, "smime-bench: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* cpu - user and system seconds of this process so far. */
static void
cpu(double *user, double *sys)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage");
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (e == NULL || !X509_add_ext(x, e, -1))
		die("certificate extension");
	X509_EXTENSION_free(e);
}

/* make_cert - a CA (issuer NULL) or an S/MIME signing certificate. */
static X509 *
make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial,
	  const char *cn, bool rsa)
{
	X509 *x = X509_new();

	if (x == NULL || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
		die("certificate");
	X509 *iss = issuer != NULL ? issuer : x;
	if (!X509_set_issuer_name(x, X509_get_subject_name(iss)))
		die("certificate issuer");
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, iss, NID_key_usage, rsa ?
		    "critical,digitalSignature,keyEncipherment" :
		    "critical,digitalSignature,keyAgreement");
		add_ext(x, iss, NID_ext_key_usage, "emailProtection");
		add_ext(x, iss, NID_subject_alt_name,
		    "email:bench@mssante.test");
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
		die("certificate signature");
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || chmod(path, 0600) != 0)
		die(path);
	if (!(x != NULL ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k,
	    NULL, NULL, 0, NULL, NULL)) || fclose(f) != 0)
		die(path);
}

/* message - a 2 KB alert-like message, headers included, CRLF. */
static void
message(struct buf *m)
{
	static const char line[] = "Patient 0042: potassium 6.1 mmol/L, "
	    "above the alert threshold.\r\n";

	if (buf_adds(m, "From: Alertes <alertes@mssante.test>\r\n"
	    "To: Dr X <dr.x@mssante.test>\r\n"
	    "Subject: Laboratory alert\r\n"
	    "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	    "Message-ID: <bench-0001@mssante.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n") < 0)
		die("message");
	while (m->len + sizeof(line) - 1 <= MSG_SIZE)
		if (buf_adds(m, line) < 0)
			die("message");
	while (m->len < MSG_SIZE - 2)
		if (buf_addc(m, '.') < 0)
			die("message");
	if (buf_adds(m, "\r\n") < 0)
		die("message");
}

int
main(int argc, char **argv)
{
	char crt[4096], key[4096], err[512];
	struct pki_smime_signer *signer = NULL;
	struct pki_smime_result res;
	struct buf msg, out;

	if (argc != 4 || (strcmp(argv[3], "rsa2048") != 0 &&
	    strcmp(argv[3], "p256") != 0)) {
		fprintf(stderr,
		    "usage: smime-bench DIR SECONDS rsa2048|p256\n");
		return 2;
	}
	double seconds = strtod(argv[2], NULL);
	if (!(seconds > 0 && seconds <= 3600))
		die("SECONDS must be in (0, 3600]");
	bool rsa = strcmp(argv[3], "rsa2048") == 0;

	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	if (ca_key == NULL || k == NULL)
		die("key generation");
	X509 *ca = make_cert(ca_key, NULL, ca_key, 1, "bench CA", false);
	X509 *leaf = make_cert(k, ca, ca_key, 2, "bench signer", rsa);
	if (snprintf(crt, sizeof(crt), "%s/%s.crt", argv[1], argv[3]) >=
	    (int)sizeof(crt) || snprintf(key, sizeof(key), "%s/%s.key",
	    argv[1], argv[3]) >= (int)sizeof(key))
		die("DIR too long");
	write_pem(crt, leaf, NULL);
	write_pem(key, NULL, k);
	if (pki_smime_signer_load(crt, key, NULL, NULL, &signer, err,
	    sizeof(err)) != 0)
		die(err);

	buf_init(&msg, 1 << 20);
	buf_init(&out, 1 << 20);
	message(&msg);

	/* The output must be a message that verifies. */
	X509_STORE *store = X509_STORE_new();
	if (store == NULL || !X509_STORE_add_cert(store, ca))
		die("trust store");
	if (pki_smime_sign(signer, msg.data, msg.len, &out, err,
	    sizeof(err)) != 0)
		die(err);
	if (pki_smime_verify(store, 0, out.data, out.len, &res) != 0 ||
	    res.status != PKI_SMIME_VALID)
		die("the signed message does not verify");
	size_t signed_bytes = out.len;

	double t0 = now();
	while (now() - t0 < WARMUP_S) {
		buf_reset(&out);
		if (pki_smime_sign(signer, msg.data, msg.len, &out, err,
		    sizeof(err)) != 0)
			die(err);
	}
	uint64_t n = 0;
	double user0, sys0, user1, sys1;
	cpu(&user0, &sys0);
	double start = now(), t = start;
	while (t - start < seconds) {
		buf_reset(&out);
		if (pki_smime_sign(signer, msg.data, msg.len, &out, err,
		    sizeof(err)) != 0)
			die(err);
		n++;
		t = now();
	}
	double elapsed = t - start;
	cpu(&user1, &sys1);
	double user = user1 - user0;
	if (user <= 0)
		die("no user time measured");
	printf("smime-bench: key=%s sign_per_s=%.1f sign_per_s_wall=%.1f "
	    "signatures=%llu seconds=%.3f user_seconds=%.3f sys_seconds=%.3f "
	    "message_bytes=%zu signed_bytes=%zu\n", argv[3], (double)n / user,
	    (double)n / elapsed, (unsigned long long)n, elapsed, user,
	    sys1 - sys0, msg.len, signed_bytes);

	buf_free(&msg);
	buf_free(&out);
	pki_smime_signer_free(&signer);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(k);
	return 0;
}
