/* SPDX-License-Identifier: MIT */
/*
 * pki_devca.c - the development CA: a self-signed root in certs/ and a
 * server certificate it issues for this host, created on first start so
 * the embedded configuration runs under TLS with nothing to prepare.
 * Production configurations turn tls_dev_ca off and name IGC-Santé
 * certificates instead.
 */
#include "pki.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#define CA_DAYS 3650
#define SERVER_DAYS 825

static bool
file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* write_pem - write to path.tmp with mode, fsync, rename over path. */
static int
write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	char tmp[4096];
	if (str_fmt(tmp, sizeof(tmp), "%s.tmp", path) < 0)
		return ERR_LIMIT;
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd < 0)
		return ERR_IO;
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(tmp);
		return ERR_IO;
	}
	int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
	    : PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return ERR_IO;
	}
	return 0;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return 0;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* make_cert - a certificate for key, signed by ca_key (self if NULL). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key,
	  int days, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (x == NULL)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))
	    == NULL)
		goto out;
	if (!X509_set_version(x, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * days) == NULL ||
	    !X509_set_pubkey(x, key))
		goto out;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC,
	    (const unsigned char *)"FR", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"mssgate development", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name))
		goto out;
	X509 *issuer = ca ? ca : x;
	if (ca == NULL) {
		ok = add_ext(x, issuer, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") &&
		    add_ext(x, issuer, NID_key_usage,
		    "critical,keyCertSign,cRLSign") &&
		    add_ext(x, issuer, NID_subject_key_identifier, "hash");
	} else {
		ok = add_ext(x, issuer, NID_basic_constraints,
		    "critical,CA:FALSE") &&
		    add_ext(x, issuer, NID_key_usage,
		    "critical,digitalSignature,keyEncipherment") &&
		    add_ext(x, issuer, NID_ext_key_usage,
		    "serverAuth,clientAuth") &&
		    add_ext(x, issuer, NID_subject_key_identifier, "hash") &&
		    add_ext(x, issuer, NID_authority_key_identifier,
		    "keyid:always") &&
		    add_ext(x, issuer, NID_subject_alt_name, san);
	}
	if (ok && X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) == 0)
		ok = 0;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static EVP_PKEY *
load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static X509 *
load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

int
pki_devca_ensure(const struct config *cfg, char *err, size_t errlen)
{
	char ca_crt[4096], ca_key[4096], san[2048];
	EVP_PKEY *cak = NULL, *srvk = NULL;
	X509 *cac = NULL, *srvc = NULL;
	int r = 0, created = 0;

	bool have_cert = file_exists(cfg->tls_cert_file);
	bool have_key = file_exists(cfg->tls_key_file);
	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key) {
		/* Never overwrite half of a pair an administrator put there. */
		snprintf(err, errlen, "%s exists but %s is missing",
		    have_cert ? cfg->tls_cert_file : cfg->tls_key_file,
		    have_cert ? cfg->tls_key_file : cfg->tls_cert_file);
		return ERR_NOTFOUND;
	}
	if (str_fmt(ca_crt, sizeof(ca_crt), "%s/ca.crt", cfg->certs_dir) < 0 ||
	    str_fmt(ca_key, sizeof(ca_key), "%s/ca.key", cfg->certs_dir) < 0) {
		snprintf(err, errlen, "%s: path too long", cfg->certs_dir);
		return ERR_LIMIT;
	}
	if (mkdir(cfg->certs_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", cfg->certs_dir,
		    strerror(errno));
		return ERR_IO;
	}

	if (file_exists(ca_crt) && file_exists(ca_key)) {
		cak = load_key(ca_key);
		cac = load_cert(ca_crt);
		if (cak == NULL || cac == NULL) {
			snprintf(err, errlen, "%s or %s: cannot load the "
			    "development CA", ca_crt, ca_key);
			r = ERR_INVAL;
			goto out;
		}
	} else {
		cak = EVP_RSA_gen(2048);
		cac = cak ? make_cert(cak, "mssgate development CA", NULL,
		    NULL, CA_DAYS, NULL) : NULL;
		if (cac == NULL) {
			snprintf(err, errlen, "cannot create the development "
			    "CA");
			r = ERR_CRYPTO;
			goto out;
		}
		if (write_pem(ca_key, 0600, cak, NULL) < 0 ||
		    write_pem(ca_crt, 0644, NULL, cac) < 0) {
			snprintf(err, errlen, "%s: cannot write the development "
			    "CA: %s", cfg->certs_dir, strerror(errno));
			r = ERR_IO;
			goto out;
		}
		created = 1;
	}

	size_t o = 0;
	int n = snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,"
	    "IP:127.0.0.1,IP:::1", cfg->hostname);
	if (n < 0 || (size_t)n >= sizeof(san)) {
		r = ERR_LIMIT;
		goto out;
	}
	o = (size_t)n;
	for (size_t i = 0; i < cfg->local_domains.n; i++) {
		n = snprintf(san + o, sizeof(san) - o, ",DNS:%s",
		    cfg->local_domains.v[i]);
		if (n < 0 || (size_t)n >= sizeof(san) - o) {
			r = ERR_LIMIT;
			goto out;
		}
		o += (size_t)n;
	}
	srvk = EVP_RSA_gen(2048);
	srvc = srvk ? make_cert(srvk, cfg->hostname, cac, cak, SERVER_DAYS,
	    san) : NULL;
	if (srvc == NULL) {
		snprintf(err, errlen, "cannot issue the development server "
		    "certificate");
		r = ERR_CRYPTO;
		goto out;
	}
	if (write_pem(cfg->tls_key_file, 0600, srvk, NULL) < 0 ||
	    write_pem(cfg->tls_cert_file, 0644, NULL, srvc) < 0) {
		snprintf(err, errlen, "%s: cannot write the server certificate"
		    ": %s", cfg->tls_cert_file, strerror(errno));
		r = ERR_IO;
		goto out;
	}
	created = 1;
	log_info("- pki devca issued cert=%s ca=%s", cfg->tls_cert_file,
	    ca_crt);
out:
	ERR_clear_error();
	EVP_PKEY_free(cak);
	EVP_PKEY_free(srvk);
	X509_free(cac);
	X509_free(srvc);
	return r < 0 ? r : created;
}
