/* SPDX-License-Identifier: MIT */
/*
 * pki_cert.c - certificate work with OpenSSL for `mssgate cert` and the
 * daemon's checks: the development CA, issuing, loading (PEM, DER,
 * PKCS#12, PKCS#7 told apart by content), describing, verifying with a
 * precise reason, writing files atomically, CRLs and the trust folder.
 *
 * A file is read whole into memory (bounded by PKI_CERT_FILE_MAX) and
 * parsed there, so the same code serves the CLI, the tests and the
 * fuzzer; the buffer is wiped before it is freed since it may hold a
 * key. PEM is split into blocks by our own scanner so an error can name
 * the line of the block at fault.
 */
#include "pki_cert.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "core/str.h"

#define CA_DAYS 3650
#define CA_CN "mssgate development CA"
#define ORG_NAME "mssgate development"
#define PEM_LABEL_MAX 64
#define TRUST_LINKS_MAX 100

/* ---- words of the command line ---- */

static const char *const kind_names[] = {
	[PKI_KIND_SERVER] = "server",
	[PKI_KIND_CLIENT] = "client",
	[PKI_KIND_SMIME] = "smime",
	[PKI_KIND_OPERATOR] = "operator",
};

static const char *const key_names[] = {
	[PKI_KEY_RSA2048] = "rsa2048",
	[PKI_KEY_RSA3072] = "rsa3072",
	[PKI_KEY_P256] = "p256",
};

static const char *const purpose_names[] = {
	[PKI_PURPOSE_NONE] = "chain only",
	[PKI_PURPOSE_TLS_SERVER] = "tls-server",
	[PKI_PURPOSE_TLS_CLIENT] = "tls-client",
	[PKI_PURPOSE_SMIME] = "smime",
};

/* RFC 5280 5.3.1; 7 is unused and 8 (removeFromCRL) is for delta CRLs. */
static const char *const reason_names[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL, NULL,
	"privilegeWithdrawn", "aACompromise",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *
pki_kind_name(enum pki_kind k)
{
	return (size_t)k < N_OF(kind_names) ? kind_names[k] : "?";
}

int
pki_kind_parse(const char *s, enum pki_kind *k)
{
	for (size_t i = 0; i < N_OF(kind_names); i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*k = (enum pki_kind)i;
			return 0;
		}
	return ERR_INVAL;
}

const char *
pki_key_type_name(enum pki_key_type t)
{
	return (size_t)t < N_OF(key_names) ? key_names[t] : "?";
}

int
pki_key_type_parse(const char *s, enum pki_key_type *t)
{
	for (size_t i = 0; i < N_OF(key_names); i++)
		if (strcmp(s, key_names[i]) == 0) {
			*t = (enum pki_key_type)i;
			return 0;
		}
	return ERR_INVAL;
}

const char *
pki_purpose_name(enum pki_purpose p)
{
	return (size_t)p < N_OF(purpose_names) ? purpose_names[p] : "?";
}

int
pki_purpose_parse(const char *s, enum pki_purpose *p)
{
	for (size_t i = 1; i < N_OF(purpose_names); i++)
		if (strcmp(s, purpose_names[i]) == 0) {
			*p = (enum pki_purpose)i;
			return 0;
		}
	return ERR_INVAL;
}

const char *
pki_reason_name(int code)
{
	if (code >= 0 && (size_t)code < N_OF(reason_names) &&
	    reason_names[code] != NULL)
		return reason_names[code];
	return "unknown reason";
}

int
pki_reason_parse(const char *s, int *code)
{
	for (size_t i = 0; i < N_OF(reason_names); i++)
		if (reason_names[i] != NULL &&
		    strcasecmp(s, reason_names[i]) == 0) {
			*code = (int)i;
			return 0;
		}
	return ERR_INVAL;
}

/* ---- small helpers ---- */

/* ssl_detail - OpenSSL's first queued reason (the root cause), then
 * clear the queue; "" when there is none. */
static void
ssl_detail(char *out, size_t size)
{
	unsigned long e = ERR_peek_error();
	out[0] = '\0';
	if (e != 0) {
		const char *r = ERR_reason_error_string(e);
		if (r != NULL)
			snprintf(out, size, "%s", r);
		else
			ERR_error_string_n(e, out, size);
	}
	ERR_clear_error();
}

static int64_t
asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

void
pki_time_str(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
}

/* clean_append - s[n] to out at *o, control and non-ASCII-safe bytes
 * escaped, so a name from a hostile file stays on one line. */
static void
clean_append(char *out, size_t size, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *o + 1 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f) {
			if (*o + 5 >= size)
				break;
			snprintf(out + *o, size - *o, "\\x%02x", ch);
			*o += 4;
		} else {
			out[(*o)++] = (char)ch;
		}
	}
	out[*o < size ? *o : size - 1] = '\0';
}

/* dn_str - a name as RFC 2253 text, UTF-8 kept, control bytes escaped. */
static void
dn_str(const X509_NAME *n, char *out, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	size_t o = 0;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) >= 0 && (len = BIO_get_mem_data(b, &p)) > 0)
		clean_append(out, size, &o, p, (size_t)len);
	BIO_free(b);
}

/* The display name of a certificate in sentences: its subject. */
static void
who_str(X509 *x, char *out, size_t size)
{
	dn_str(X509_get_subject_name(x), out, size);
}

static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return code;
}

/* path_join - dir/name into out, ERR_LIMIT if too long. */
static int
path_join(char *out, size_t size, const char *dir, const char *name)
{
	return str_fmt(out, size, "%s/%s", dir, name);
}

/* ---- atomic files ---- */

static int
stage_open(struct pki_staged *s, const char *path, mode_t mode, FILE **f_r,
	   char *err, size_t errlen)
{
	s->tmp[0] = '\0';
	if (str_copy(s->path, sizeof(s->path), path) < 0 ||
	    str_fmt(s->tmp, sizeof(s->tmp), "%s.XXXXXX", path) < 0) {
		s->tmp[0] = '\0';
		return fail(err, errlen, ERR_LIMIT, "%s: path too long", path);
	}
	int fd = mkstemp(s->tmp);
	if (fd < 0) {
		int e = errno;
		s->tmp[0] = '\0';
		return fail(err, errlen, ERR_IO, "%s: cannot create: %s", path,
		    strerror(e));
	}
	FILE *f = NULL;
	if (fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
		int e = errno;
		close(fd);
		pki_stage_abort(s);
		return fail(err, errlen, ERR_IO, "%s: cannot create: %s", path,
		    strerror(e));
	}
	*f_r = f;
	return 0;
}

/* stage_close - flush, fsync and close; ok false (a failed write) or a
 * failure here removes the temporary file. */
static int
stage_close(struct pki_staged *s, FILE *f, bool ok, char *err, size_t errlen)
{
	int e = 0;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		e = errno;
	if (fclose(f) != 0 && e == 0)
		e = errno;
	if (!ok || e != 0) {
		pki_stage_abort(s);
		if (e != 0)
			return fail(err, errlen, ERR_IO, "%s: cannot write: %s",
			    s->path, strerror(e));
		char d[256];
		ssl_detail(d, sizeof(d));
		return fail(err, errlen, ERR_CRYPTO, "%s: cannot encode%s%s",
		    s->path, d[0] ? ": " : "", d);
	}
	return 0;
}

int
pki_stage_cert(struct pki_staged *s, const char *path, X509 *cert,
	       STACK_OF(X509) *chain, char *err, size_t errlen)
{
	FILE *f;
	int r = stage_open(s, path, 0644, &f, err, errlen);
	if (r < 0)
		return r;
	bool ok = PEM_write_X509(f, cert) == 1;
	for (int i = 0; ok && chain != NULL && i < sk_X509_num(chain); i++)
		ok = PEM_write_X509(f, sk_X509_value(chain, i)) == 1;
	return stage_close(s, f, ok, err, errlen);
}

int
pki_stage_key(struct pki_staged *s, const char *path, EVP_PKEY *key,
	      const char *passphrase, char *err, size_t errlen)
{
	FILE *f;
	int r = stage_open(s, path, 0600, &f, err, errlen);
	if (r < 0)
		return r;
	bool ok;
	if (passphrase != NULL)
		ok = PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(),
		    passphrase, (int)strlen(passphrase), NULL, NULL) == 1;
	else
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
		    NULL) == 1;
	return stage_close(s, f, ok, err, errlen);
}

int
pki_stage_p12(struct pki_staged *s, const char *path,
	      const struct pki_bundle *b, STACK_OF(X509) *extra,
	      const char *friendly, const char *password, char *err,
	      size_t errlen)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	FILE *f;
	int r;

	if (cas == NULL)
		return ERR_NOMEM;
	for (int i = 0; b->chain != NULL && i < sk_X509_num(b->chain); i++)
		if (!sk_X509_push(cas, sk_X509_value(b->chain, i)))
			goto nomem;
	for (int i = 0; extra != NULL && i < sk_X509_num(extra); i++)
		if (!sk_X509_push(cas, sk_X509_value(extra, i)))
			goto nomem;
	/* AES-256-CBC under PBES2 for key and certificates; the MAC is set
	 * below with SHA-256 (PKCS12_create's own would be SHA-1). */
	p12 = PKCS12_create(password, friendly, b->key, b->cert, cas,
	    NID_aes_256_cbc, NID_aes_256_cbc, PKCS12_DEFAULT_ITER, -1, 0);
	if (p12 == NULL || PKCS12_set_mac(p12, password, -1, NULL, 0,
	    PKCS12_DEFAULT_ITER, EVP_sha256()) != 1) {
		char d[256];
		ssl_detail(d, sizeof(d));
		sk_X509_free(cas);
		PKCS12_free(p12);
		return fail(err, errlen, ERR_CRYPTO, "%s: cannot make the "
		    "PKCS#12 file%s%s", path, d[0] ? ": " : "", d);
	}
	sk_X509_free(cas);
	if ((r = stage_open(s, path, 0600, &f, err, errlen)) < 0) {
		PKCS12_free(p12);
		return r;
	}
	bool ok = i2d_PKCS12_fp(f, p12) == 1;
	PKCS12_free(p12);
	return stage_close(s, f, ok, err, errlen);
nomem:
	sk_X509_free(cas);
	return ERR_NOMEM;
}

int
pki_stage_crl(struct pki_staged *s, const char *path, X509_CRL *crl,
	      char *err, size_t errlen)
{
	FILE *f;
	int r = stage_open(s, path, 0644, &f, err, errlen);
	if (r < 0)
		return r;
	return stage_close(s, f, PEM_write_X509_CRL(f, crl) == 1, err, errlen);
}

/* fsync_parent - make a rename durable. */
static void
fsync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (str_copyn(dir, sizeof(dir), path,
	    slash == path ? 1 : (size_t)(slash - path)) < 0) {
		return;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int
pki_stage_commit(struct pki_staged *s, char *err, size_t errlen)
{
	if (s->tmp[0] == '\0')
		return fail(err, errlen, ERR_INVAL, "%s: nothing to commit",
		    s->path);
	if (rename(s->tmp, s->path) != 0) {
		int e = errno;
		pki_stage_abort(s);
		return fail(err, errlen, ERR_IO, "%s: cannot rename into "
		    "place: %s", s->path, strerror(e));
	}
	s->tmp[0] = '\0';
	fsync_parent(s->path);
	return 0;
}

int
pki_stage_commit_new(struct pki_staged *s, char *err, size_t errlen)
{
	if (s->tmp[0] == '\0')
		return fail(err, errlen, ERR_INVAL, "%s: nothing to commit",
		    s->path);
	/* link(2) fails when the name exists: an exclusive rename */
	if (link(s->tmp, s->path) != 0) {
		int e = errno;
		pki_stage_abort(s);
		return fail(err, errlen, e == EEXIST ? ERR_EXISTS : ERR_IO,
		    "%s: cannot create: %s", s->path, strerror(e));
	}
	pki_stage_abort(s);
	fsync_parent(s->path);
	return 0;
}

void
pki_stage_abort(struct pki_staged *s)
{
	if (s->tmp[0] != '\0')
		(void)unlink(s->tmp);
	s->tmp[0] = '\0';
}

/* ---- reading files ---- */

/* read_file - the whole of path (a regular file of at most max bytes)
 * into a malloc'd buffer; errors name the file. */
static int
read_file(const char *path, size_t max, unsigned char **data_r,
	  size_t *len_r, char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(err, errlen, ERR_IO, "%s: cannot open: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(err, errlen, ERR_INVAL, "%s: not a regular file",
		    path);
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return fail(err, errlen, ERR_LIMIT, "%s: %lld bytes, more than "
		    "the %zu KiB a certificate file may have: not a "
		    "certificate file", path, (long long)sb.st_size,
		    max / 1024);
	}
	size_t cap = (size_t)sb.st_size + 1, len = 0;
	unsigned char *data = malloc(cap);
	if (data == NULL) {
		close(fd);
		return ERR_NOMEM;
	}
	for (;;) {
		if (len == cap) {
			/* it grew while we read: still bounded */
			if (cap > max) {
				OPENSSL_cleanse(data, len);
				free(data);
				close(fd);
				return fail(err, errlen, ERR_LIMIT, "%s: more "
				    "than %zu KiB: not a certificate file",
				    path, max / 1024);
			}
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			unsigned char *p = malloc(ncap);
			if (p == NULL) {
				OPENSSL_cleanse(data, len);
				free(data);
				close(fd);
				return ERR_NOMEM;
			}
			memcpy(p, data, len);
			OPENSSL_cleanse(data, len);
			free(data);
			data = p;
			cap = ncap;
		}
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			OPENSSL_cleanse(data, len);
			free(data);
			close(fd);
			return fail(err, errlen, ERR_IO, "%s: cannot read: %s",
			    path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*data_r = data;
	*len_r = len;
	return 0;
}

static void
free_secret(unsigned char *data, size_t len)
{
	if (data != NULL) {
		OPENSSL_cleanse(data, len);
		free(data);
	}
}

/* ---- loading ---- */

const char *
pki_format_name(enum pki_format f)
{
	switch (f) {
	case PKI_FMT_PEM: return "PEM";
	case PKI_FMT_DER: return "DER";
	case PKI_FMT_PKCS12: return "PKCS#12";
	case PKI_FMT_PKCS7: return "PKCS#7";
	}
	return "?";
}

struct loader {
	const char *name;
	const char *password;
	STACK_OF(X509) *certs;		/* in file order */
	EVP_PKEY *key;
	bool key_encrypted;
	bool pass_asked;		/* the key wanted a passphrase */
	enum pki_format fmt;		/* what a binary file was */
	char *err;
	size_t errlen;
};

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct loader *l = u;
	(void)rwflag;
	l->pass_asked = true;
	if (l->password == NULL)
		return -1;
	size_t n = strlen(l->password);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, l->password, n);
	return (int)n;
}

static int
add_cert(struct loader *l, X509 *x, unsigned line)
{
	if (sk_X509_num(l->certs) >= PKI_CERT_CHAIN_MAX) {
		X509_free(x);
		if (line > 0)
			return fail(l->err, l->errlen, ERR_LIMIT, "%s:%u: more "
			    "than %d certificates in one file", l->name, line,
			    PKI_CERT_CHAIN_MAX);
		return fail(l->err, l->errlen, ERR_LIMIT, "%s: more than %d "
		    "certificates in one file", l->name, PKI_CERT_CHAIN_MAX);
	}
	if (!sk_X509_push(l->certs, x)) {
		X509_free(x);
		return ERR_NOMEM;
	}
	return 0;
}

/* where - "NAME:LINE" or "NAME" for errors of binary files. */
static void
where(const struct loader *l, unsigned line, char *out, size_t size)
{
	if (line > 0)
		snprintf(out, size, "%s:%u", l->name, line);
	else
		snprintf(out, size, "%s", l->name);
}

static int
set_key(struct loader *l, EVP_PKEY *k, bool encrypted, unsigned line)
{
	char w[600];
	if (l->key != NULL) {
		EVP_PKEY_free(k);
		where(l, line, w, sizeof(w));
		return fail(l->err, l->errlen, ERR_INVAL, "%s: a second "
		    "private key in the file", w);
	}
	l->key = k;
	l->key_encrypted = encrypted;
	return 0;
}

/* key_failed - why an encrypted key did not open. */
static int
key_failed(struct loader *l, unsigned line)
{
	char w[600];
	where(l, line, w, sizeof(w));
	if (l->password == NULL)
		return fail(l->err, l->errlen, ERR_AUTH, "%s: the private key "
		    "is encrypted and no passphrase was given", w);
	return fail(l->err, l->errlen, ERR_AUTH, "%s: cannot decrypt the "
	    "private key: wrong passphrase", w);
}

/* load_p8_encrypted - an EncryptedPrivateKeyInfo in DER. */
static int
load_p8_encrypted(struct loader *l, const unsigned char *der, long len,
		  unsigned line, bool *matched)
{
	const unsigned char *p = der;
	X509_SIG *sig = d2i_X509_SIG(NULL, &p, len);
	*matched = false;
	if (sig == NULL || p != der + len) {
		X509_SIG_free(sig);
		return 0;
	}
	*matched = true;
	if (l->password == NULL) {
		X509_SIG_free(sig);
		return key_failed(l, line);
	}
	PKCS8_PRIV_KEY_INFO *p8 = PKCS8_decrypt(sig, l->password,
	    (int)strlen(l->password));
	X509_SIG_free(sig);
	EVP_PKEY *k = p8 != NULL ? EVP_PKCS82PKEY(p8) : NULL;
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (k == NULL)
		return key_failed(l, line);
	return set_key(l, k, true, line);
}

/* load_key_der - an unencrypted PKCS#8 or traditional key in DER. */
static EVP_PKEY *
load_key_der(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
	EVP_PKEY *k = NULL;

	if (p8 != NULL && p == der + len)
		k = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (k != NULL)
		return k;
	p = der;
	k = d2i_AutoPrivateKey(NULL, &p, len);
	if (k != NULL && p != der + len) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

static int
load_p7(struct loader *l, PKCS7 *p7, unsigned line)
{
	STACK_OF(X509) *certs = NULL;
	char w[600];

	if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		certs = p7->d.sign->cert;
	else if (PKCS7_type_is_signedAndEnveloped(p7) &&
	    p7->d.signed_and_enveloped != NULL)
		certs = p7->d.signed_and_enveloped->cert;
	if (certs == NULL || sk_X509_num(certs) == 0) {
		where(l, line, w, sizeof(w));
		return fail(l->err, l->errlen, ERR_INVAL, "%s: a PKCS#7 file "
		    "without certificates", w);
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (!X509_up_ref(x))
			return ERR_NOMEM;
		int r = add_cert(l, x, line);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The legacy provider holds the algorithms of older PKCS#12 files
 * (RC2-40, as some Windows exports still use). It is loaded only when a
 * file needs it, once; loading it explicitly means loading the default
 * provider too. The handles are kept so they are released at exit. */
static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static OSSL_PROVIDER *legacy_prov, *default_prov;

static void
legacy_unload(void)
{
	if (legacy_prov != NULL)
		OSSL_PROVIDER_unload(legacy_prov);
	if (default_prov != NULL)
		OSSL_PROVIDER_unload(default_prov);
	legacy_prov = default_prov = NULL;
}

static void
legacy_load(void)
{
	legacy_prov = OSSL_PROVIDER_load(NULL, "legacy");
	default_prov = OSSL_PROVIDER_load(NULL, "default");
	(void)atexit(legacy_unload);
	ERR_clear_error();
}

static int
load_p12(struct loader *l, PKCS12 *p12)
{
	const char *pass = l->password;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	int r;

	if (PKCS12_mac_present(p12)) {
		const ASN1_INTEGER *iter = NULL;
		PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
		long it = iter != NULL ? ASN1_INTEGER_get(iter) : 1;
		if (it < 1 || it > PKI_P12_ITER_MAX)
			return fail(l->err, l->errlen, ERR_INVAL, "%s: PKCS#12 "
			    "MAC iteration count %ld out of range (1 to %d)",
			    l->name, it, PKI_P12_ITER_MAX);
		if (pass != NULL) {
			if (PKCS12_verify_mac(p12, pass, -1) != 1)
				return fail(l->err, l->errlen, ERR_AUTH,
				    "%s: wrong password for the PKCS#12 file "
				    "(MAC verification failed)", l->name);
		} else if (PKCS12_verify_mac(p12, NULL, 0) == 1) {
			pass = NULL;
		} else if (PKCS12_verify_mac(p12, "", 0) == 1) {
			pass = "";
		} else {
			return fail(l->err, l->errlen, ERR_AUTH, "%s: the "
			    "PKCS#12 file is protected by a password and none "
			    "was given", l->name);
		}
	}
	int ok = PKCS12_parse(p12, pass, &key, &cert, &ca);
	if (ok != 1) {
		/* maybe an algorithm of the legacy provider: once more */
		ERR_clear_error();
		pthread_once(&legacy_once, legacy_load);
		ok = PKCS12_parse(p12, pass, &key, &cert, &ca);
	}
	if (ok != 1) {
		char d[256];
		ssl_detail(d, sizeof(d));
		return fail(l->err, l->errlen, ERR_INVAL, "%s: the PKCS#12 "
		    "content does not decode%s%s", l->name, d[0] ? ": " : "",
		    d);
	}
	ERR_clear_error();
	r = 0;
	if (cert != NULL) {
		r = add_cert(l, cert, 0);
		cert = NULL;
	}
	while (r == 0 && ca != NULL && sk_X509_num(ca) > 0) {
		r = add_cert(l, sk_X509_shift(ca), 0);
	}
	sk_X509_pop_free(ca, X509_free);
	X509_free(cert);
	if (key != NULL) {
		if (r == 0)
			r = set_key(l, key, pass != NULL && pass[0] != '\0', 0);
		else
			EVP_PKEY_free(key);
	}
	return r;
}

/*
 * load_der - one DER object: certificate, PKCS#12, PKCS#7, key. Returns
 * 1 when it was one of them (and loaded, or its error set), 0 when the
 * bytes are none of them.
 */
static int
load_der(struct loader *l, const unsigned char *data, size_t size)
{
	const unsigned char *end = data + size, *p;
	long len = (long)size;
	bool matched;
	int r;

	if (size > PKI_CERT_FILE_MAX)
		return 0;
	p = data;
	X509 *x = d2i_X509(NULL, &p, len);
	if (x != NULL && p == end) {
		r = add_cert(l, x, 0);
		return r < 0 ? r : 1;
	}
	X509_free(x);
	p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, len);
	if (p12 != NULL && p == end) {
		l->fmt = PKI_FMT_PKCS12;
		r = load_p12(l, p12);
		PKCS12_free(p12);
		return r < 0 ? r : 1;
	}
	PKCS12_free(p12);
	p = data;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, len);
	if (p7 != NULL && p == end) {
		l->fmt = PKI_FMT_PKCS7;
		r = load_p7(l, p7, 0);
		PKCS7_free(p7);
		return r < 0 ? r : 1;
	}
	PKCS7_free(p7);
	if ((r = load_p8_encrypted(l, data, len, 0, &matched)) < 0)
		return r;
	if (matched)
		return 1;
	EVP_PKEY *k = load_key_der(data, len);
	if (k != NULL) {
		r = set_key(l, k, false, 0);
		return r < 0 ? r : 1;
	}
	p = data;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, len);
	bool is_crl = crl != NULL && p == end;
	X509_CRL_free(crl);
	ERR_clear_error();
	if (is_crl)
		return fail(l->err, l->errlen, ERR_INVAL, "%s: a certificate "
		    "revocation list (DER), not a certificate", l->name);
	return 0;
}

/* pem_block - one PEM block [text, text + n) starting at line. */
static int
pem_block(struct loader *l, const char *label, const char *text, size_t n,
	  unsigned line)
{
	BIO *bio = BIO_new_mem_buf(text, (int)n);
	char *pname = NULL, *header = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	char w[600];
	int r = 0;

	where(l, line, w, sizeof(w));
	if (bio == NULL)
		return ERR_NOMEM;
	if (PEM_read_bio(bio, &pname, &header, &der, &dlen) != 1) {
		BIO_free(bio);
		return fail(l->err, l->errlen, ERR_INVAL, "%s: corrupted PEM "
		    "block '%s' (its base64 does not decode)", w, label);
	}
	bool legacy_enc = header != NULL && strstr(header, "ENCRYPTED");
	const unsigned char *p = der;
	if (strcmp(label, "CERTIFICATE") == 0 ||
	    strcmp(label, "X509 CERTIFICATE") == 0 ||
	    strcmp(label, "TRUSTED CERTIFICATE") == 0) {
		X509 *x = label[0] == 'T' ? d2i_X509_AUX(NULL, &p, dlen) :
		    d2i_X509(NULL, &p, dlen);
		if (x == NULL || p != der + dlen) {
			X509_free(x);
			r = fail(l->err, l->errlen, ERR_INVAL, "%s: the %s "
			    "block is not a valid X.509 certificate", w, label);
		} else {
			r = add_cert(l, x, line);
		}
	} else if (strcmp(label, "PKCS7") == 0 ||
	    strcmp(label, "CERTIFICATE CHAIN") == 0) {
		PKCS7 *p7 = d2i_PKCS7(NULL, &p, dlen);
		if (p7 == NULL || p != der + dlen)
			r = fail(l->err, l->errlen, ERR_INVAL, "%s: the %s "
			    "block is not a valid PKCS#7 structure", w, label);
		else
			r = load_p7(l, p7, line);
		PKCS7_free(p7);
	} else if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0) {
		bool matched;
		r = load_p8_encrypted(l, der, dlen, line, &matched);
		if (r == 0 && !matched)
			r = fail(l->err, l->errlen, ERR_INVAL, "%s: the %s "
			    "block does not decode", w, label);
	} else if (strcmp(label, "PRIVATE KEY") == 0 ||
	    strcmp(label, "RSA PRIVATE KEY") == 0 ||
	    strcmp(label, "EC PRIVATE KEY") == 0) {
		if (legacy_enc) {
			/* old-style "Proc-Type: 4,ENCRYPTED": let PEM do it */
			BIO *b2 = BIO_new_mem_buf(text, (int)n);
			EVP_PKEY *k = b2 != NULL ? PEM_read_bio_PrivateKey(b2,
			    NULL, pass_cb, l) : NULL;
			BIO_free(b2);
			r = k != NULL ? set_key(l, k, true, line) :
			    key_failed(l, line);
		} else {
			EVP_PKEY *k = load_key_der(der, dlen);
			r = k != NULL ? set_key(l, k, false, line) :
			    fail(l->err, l->errlen, ERR_INVAL, "%s: the %s "
			    "block is not a valid private key", w, label);
		}
	} else if (strcmp(label, "X509 CRL") == 0) {
		r = fail(l->err, l->errlen, ERR_INVAL, "%s: a certificate "
		    "revocation list, not a certificate", w);
	} else if (strcmp(label, "CERTIFICATE REQUEST") == 0 ||
	    strcmp(label, "NEW CERTIFICATE REQUEST") == 0) {
		r = fail(l->err, l->errlen, ERR_INVAL, "%s: a certificate "
		    "request, not a certificate", w);
	} else if (strcmp(label, "PUBLIC KEY") == 0) {
		r = fail(l->err, l->errlen, ERR_INVAL, "%s: a public key, not "
		    "a certificate", w);
	} else {
		r = fail(l->err, l->errlen, ERR_INVAL, "%s: unexpected PEM "
		    "block '%s'", w, label);
	}
	BIO_free(bio);
	OPENSSL_free(pname);
	OPENSSL_free(header);
	if (der != NULL) {
		OPENSSL_cleanse(der, (size_t)dlen);
		OPENSSL_free(der);
	}
	ERR_clear_error();
	return r;
}

/* line_is - the line [p, e) (CR stripped) is exactly prefix LABEL
 * "-----", trailing blanks allowed; label into out[PEM_LABEL_MAX+1]. */
static bool
pem_marker(const char *p, const char *e, const char *prefix, char *out)
{
	size_t pl = strlen(prefix);
	while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(e - p) < pl + 5 || memcmp(p, prefix, pl) != 0 ||
	    memcmp(e - 5, "-----", 5) != 0)
		return false;
	size_t n = (size_t)(e - 5 - (p + pl));
	if (n == 0 || n > PEM_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[pl + i];
		if (ch < 0x20 || ch > 0x7e || ch == '-')
			return false;
	}
	memcpy(out, p + pl, n);
	out[n] = '\0';
	return true;
}

/* load_pem - every block of a PEM text; text outside blocks is ignored
 * (as OpenSSL does: `openssl x509 -text` output may precede it).
 * Returns the number of blocks, or <0. */
static int
load_pem(struct loader *l, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	unsigned line = 1;
	int blocks = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		const char *next = nl != NULL ? nl + 1 : end;
		char label[PEM_LABEL_MAX + 1], endl[PEM_LABEL_MAX + 1];

		if (!pem_marker(p, eol, "-----BEGIN ", label)) {
			if ((size_t)(eol - p) >= 11 &&
			    memcmp(p, "-----BEGIN ", 11) == 0)
				return fail(l->err, l->errlen, ERR_INVAL,
				    "%s:%u: malformed PEM BEGIN line",
				    l->name, line);
			p = next;
			line++;
			continue;
		}
		/* find its END line */
		unsigned bline = line, eline = line;
		const char *q = next, *qend = NULL;
		while (q < end) {
			const char *nl2 = memchr(q, '\n', (size_t)(end - q));
			const char *eol2 = nl2 != NULL ? nl2 : end;
			eline++;
			if (pem_marker(q, eol2, "-----END ", endl)) {
				if (strcmp(endl, label) != 0)
					return fail(l->err, l->errlen,
					    ERR_INVAL, "%s:%u: PEM block '%s' "
					    "ends with END %s", l->name,
					    eline, label, endl);
				qend = nl2 != NULL ? nl2 + 1 : end;
				break;
			}
			if ((size_t)(eol2 - q) >= 11 &&
			    memcmp(q, "-----BEGIN ", 11) == 0)
				break;
			q = nl2 != NULL ? nl2 + 1 : end;
		}
		if (qend == NULL)
			return fail(l->err, l->errlen, ERR_INVAL, "%s:%u: PEM "
			    "block '%s' has no END line (truncated?)", l->name,
			    bline, label);
		if ((size_t)(qend - p) > INT32_MAX)
			return ERR_LIMIT;
		int r = pem_block(l, label, p, (size_t)(qend - p), bline);
		if (r < 0)
			return r;
		blocks++;
		p = qend;
		line = eline + 1;
	}
	return blocks;
}

/* has_begin_line - a line starting "-----BEGIN " somewhere. */
static bool
has_begin_line(const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	while (p < end) {
		if ((size_t)(end - p) >= 11 &&
		    memcmp(p, "-----BEGIN ", 11) == 0)
			return true;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return false;
}

void
pki_bundle_free(struct pki_bundle *b)
{
	X509_free(b->cert);
	sk_X509_pop_free(b->chain, X509_free);
	EVP_PKEY_free(b->key);
	memset(b, 0, sizeof(*b));
}

/* finish - pick the leaf (the key's certificate, else the first) and
 * hand everything to b. */
static int
finish(struct loader *l, enum pki_format fmt, struct pki_bundle *b)
{
	int leaf = sk_X509_num(l->certs) > 0 ? 0 : -1;

	b->key_matches = false;
	if (l->key != NULL) {
		for (int i = 0; i < sk_X509_num(l->certs); i++) {
			EVP_PKEY *pub = X509_get0_pubkey(sk_X509_value(l->certs,
			    i));
			if (pub != NULL && EVP_PKEY_eq(pub, l->key) == 1) {
				leaf = i;
				b->key_matches = true;
				break;
			}
		}
	}
	ERR_clear_error();
	if (leaf >= 0)
		b->cert = sk_X509_delete(l->certs, leaf);
	b->chain = l->certs;
	l->certs = NULL;
	b->key = l->key;
	l->key = NULL;
	b->key_encrypted = l->key_encrypted;
	b->format = fmt;
	return 0;
}

int
pki_bundle_load_mem(const char *name, const void *data, size_t len,
		    const char *password, struct pki_bundle *b, char *err,
		    size_t errlen)
{
	struct loader l = { name, password, NULL, NULL, false, false,
	    PKI_FMT_DER, err, errlen };
	const unsigned char *d = data;
	enum pki_format fmt = PKI_FMT_DER;
	int r;

	memset(b, 0, sizeof(*b));
	err[0] = '\0';
	if (len == 0)
		return fail(err, errlen, ERR_INVAL, "%s: empty file", name);
	if (len > PKI_CERT_FILE_MAX)
		return fail(err, errlen, ERR_LIMIT, "%s: %zu bytes, more than "
		    "the %d KiB a certificate file may have: not a "
		    "certificate file", name, len, PKI_CERT_FILE_MAX / 1024);
	if ((l.certs = sk_X509_new_null()) == NULL)
		return ERR_NOMEM;
	/* a UTF-8 byte order mark some Windows tools put before PEM */
	if (len > 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf) {
		d += 3;
		len -= 3;
		data = d;
	}
	r = 0;
	if (d[0] == 0x30)
		r = load_der(&l, d, len);
	if (r == 1) {
		fmt = l.fmt;
	} else if (r == 0 && has_begin_line(data, len)) {
		fmt = PKI_FMT_PEM;
		r = load_pem(&l, data, len);
		if (r == 0)
			r = fail(err, errlen, ERR_INVAL, "%s: no PEM block",
			    name);
	} else if (r == 0 && d[0] == 0x30) {
		r = fail(err, errlen, ERR_INVAL, "%s: DER data that is neither "
		    "a certificate, a private key, a PKCS#7 nor a PKCS#12 file "
		    "(damaged?)", name);
	} else if (r == 0) {
		r = fail(err, errlen, ERR_INVAL, "%s: not a certificate file "
		    "(neither PEM, DER nor PKCS#12)", name);
	}
	if (r >= 0 && sk_X509_num(l.certs) == 0 && l.key == NULL)
		r = fail(err, errlen, ERR_INVAL, "%s: no certificate and no "
		    "key in the file", name);
	if (r < 0) {
		sk_X509_pop_free(l.certs, X509_free);
		EVP_PKEY_free(l.key);
		ERR_clear_error();
		return r;
	}
	return finish(&l, fmt, b);
}

int
pki_bundle_load_file(const char *path, const char *password,
		     struct pki_bundle *b, char *err, size_t errlen)
{
	unsigned char *data;
	size_t len;

	memset(b, 0, sizeof(*b));
	int r = read_file(path, PKI_CERT_FILE_MAX, &data, &len, err, errlen);
	if (r < 0)
		return r;
	r = pki_bundle_load_mem(path, data, len, password, b, err, errlen);
	free_secret(data, len);
	return r;
}

int
pki_bundle_take_key(struct pki_bundle *b, struct pki_bundle *src,
		    const char *src_name, char *err, size_t errlen)
{
	if (src->key == NULL)
		return fail(err, errlen, ERR_INVAL, "%s: no private key in the "
		    "file", src_name);
	if (b->key != NULL)
		return fail(err, errlen, ERR_INVAL, "%s: a private key was "
		    "given twice (in the certificate file too)", src_name);
	b->key = src->key;
	b->key_encrypted = src->key_encrypted;
	src->key = NULL;
	b->key_matches = false;
	if (b->cert != NULL) {
		EVP_PKEY *pub = X509_get0_pubkey(b->cert);
		b->key_matches = pub != NULL && EVP_PKEY_eq(pub, b->key) == 1;
	}
	/* the key may belong to a certificate further down the file */
	for (int i = 0; !b->key_matches && b->chain != NULL &&
	    i < sk_X509_num(b->chain); i++) {
		EVP_PKEY *pub = X509_get0_pubkey(sk_X509_value(b->chain, i));
		if (pub != NULL && EVP_PKEY_eq(pub, b->key) == 1) {
			X509 *x = sk_X509_delete(b->chain, i);
			if (b->cert != NULL && !sk_X509_insert(b->chain,
			    b->cert, 0)) {
				X509_free(x);
				return ERR_NOMEM;
			}
			b->cert = x;
			b->key_matches = true;
		}
	}
	ERR_clear_error();
	return 0;
}

int
pki_bundle_load_pair(const char *cert_file, const char *key_file,
		     const char *password, struct pki_bundle *b, char *err,
		     size_t errlen)
{
	struct pki_bundle kb;
	int r = pki_bundle_load_file(cert_file, password, b, err, errlen);

	if (r < 0)
		return r;
	if (b->cert == NULL) {
		pki_bundle_free(b);
		return fail(err, errlen, ERR_INVAL, "%s: no certificate in the "
		    "file", cert_file);
	}
	if (key_file != NULL && key_file[0] != '\0' &&
	    strcmp(key_file, cert_file) != 0) {
		if ((r = pki_bundle_load_file(key_file, password, &kb, err,
		    errlen)) < 0) {
			pki_bundle_free(b);
			return r;
		}
		r = pki_bundle_take_key(b, &kb, key_file, err, errlen);
		pki_bundle_free(&kb);
		if (r < 0) {
			pki_bundle_free(b);
			return r;
		}
	}
	if (b->key == NULL) {
		pki_bundle_free(b);
		return fail(err, errlen, ERR_INVAL, "%s: no private key",
		    key_file != NULL && key_file[0] ? key_file : cert_file);
	}
	if (!b->key_matches) {
		pki_bundle_free(b);
		return fail(err, errlen, ERR_INVAL, "%s: the private key does "
		    "not match the certificate %s", key_file != NULL &&
		    key_file[0] ? key_file : cert_file, cert_file);
	}
	return 0;
}

/* ---- describing ---- */

static const struct {
	uint32_t bit;
	const char *name;
} ku_bits[] = {
	{ KU_DIGITAL_SIGNATURE, "digitalSignature" },
	{ KU_NON_REPUDIATION, "nonRepudiation" },
	{ KU_KEY_ENCIPHERMENT, "keyEncipherment" },
	{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
	{ KU_KEY_AGREEMENT, "keyAgreement" },
	{ KU_KEY_CERT_SIGN, "keyCertSign" },
	{ KU_CRL_SIGN, "cRLSign" },
	{ KU_ENCIPHER_ONLY, "encipherOnly" },
	{ KU_DECIPHER_ONLY, "decipherOnly" },
};

static void
list_add(char *out, size_t size, size_t *o, const char *word)
{
	if (*o > 0 && *o + 2 < size) {
		out[(*o)++] = ',';
		out[(*o)++] = ' ';
		out[*o] = '\0';
	}
	clean_append(out, size, o, word, strlen(word));
}

static void
ku_str(X509 *x, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE))
		return;
	uint32_t ku = X509_get_key_usage(x);
	for (size_t i = 0; i < N_OF(ku_bits); i++)
		if (ku & ku_bits[i].bit)
			list_add(out, size, &o, ku_bits[i].name);
}

static void
eku_str(X509 *x, char *out, size_t size)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL,
	    NULL);
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
		int nid = OBJ_obj2nid(obj);
		char buf[128];
		if (nid != NID_undef && OBJ_nid2sn(nid) != NULL)
			snprintf(buf, sizeof(buf), "%s", OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(buf, sizeof(buf), obj, 1) <= 0)
			snprintf(buf, sizeof(buf), "?");
		list_add(out, size, &o, buf);
	}
	EXTENDED_KEY_USAGE_free(eku);
	ERR_clear_error();
}

static void
sans_str(X509 *x, char *out, size_t size)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s = NULL;
		const char *tag = NULL;
		char buf[300];
		switch (g->type) {
		case GEN_DNS: tag = "DNS"; s = g->d.dNSName; break;
		case GEN_EMAIL: tag = "email"; s = g->d.rfc822Name; break;
		case GEN_URI: tag = "URI"; s = g->d.uniformResourceIdentifier;
			break;
		case GEN_IPADD: {
			const ASN1_OCTET_STRING *ip = g->d.iPAddress;
			char a[INET6_ADDRSTRLEN] = "?";
			if (ip->length == 4)
				inet_ntop(AF_INET, ip->data, a, sizeof(a));
			else if (ip->length == 16)
				inet_ntop(AF_INET6, ip->data, a, sizeof(a));
			snprintf(buf, sizeof(buf), "IP:%s", a);
			list_add(out, size, &o, buf);
			continue;
		}
		default:
			list_add(out, size, &o, "othername");
			continue;
		}
		size_t bo = 0;
		snprintf(buf, sizeof(buf), "%s:", tag);
		bo = strlen(buf);
		clean_append(buf, sizeof(buf), &bo,
		    (const char *)ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s));
		list_add(out, size, &o, buf);
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
}

static void
key_type_str(EVP_PKEY *k, char *out, size_t size)
{
	char group[24];
	size_t glen = 0;

	if (k == NULL) {
		snprintf(out, size, "?");
		return;
	}
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		snprintf(out, size, "RSA %d", EVP_PKEY_get_bits(k));
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(k,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		    &glen) != 1)
			snprintf(group, sizeof(group), "?");
		if (strcmp(group, "prime256v1") == 0)
			snprintf(out, size, "EC P-256");
		else if (strcmp(group, "secp384r1") == 0)
			snprintf(out, size, "EC P-384");
		else if (strcmp(group, "secp521r1") == 0)
			snprintf(out, size, "EC P-521");
		else
			snprintf(out, size, "EC %s", group);
		break;
	case EVP_PKEY_ED25519:
		snprintf(out, size, "Ed25519");
		break;
	default:
		snprintf(out, size, "%s %d",
		    OBJ_nid2sn(EVP_PKEY_get_base_id(k)), EVP_PKEY_get_bits(k));
	}
	ERR_clear_error();
}

int
pki_cert_info(X509 *x, struct pki_cert_info *info)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memset(info, 0, sizeof(*info));
	dn_str(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	dn_str(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	if (hex != NULL) {
		/* even length, as `openssl x509 -serial` prints it */
		size_t n = strlen(hex);
		const char *h = hex[0] == '-' ? hex + 1 : hex;
		n = strlen(h);
		if (n % 2 == 1)
			snprintf(info->serial, sizeof(info->serial), "0%s", h);
		else
			snprintf(info->serial, sizeof(info->serial), "%s", h);
	}
	OPENSSL_free(hex);
	BN_free(bn);
	sans_str(x, info->sans, sizeof(info->sans));
	ku_str(x, info->key_usage, sizeof(info->key_usage));
	eku_str(x, info->ext_key_usage, sizeof(info->ext_key_usage));
	key_type_str(X509_get0_pubkey(x), info->key_type,
	    sizeof(info->key_type));
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
		size_t o = 0;
		for (unsigned i = 0; i < mdlen && o + 4 <= sizeof(
		    info->fingerprint); i++) {
			snprintf(info->fingerprint + o,
			    sizeof(info->fingerprint) - o, "%s%02X",
			    i ? ":" : "", md[i]);
			o += i ? 3 : 2;
		}
	}
	snprintf(info->subject_hash, sizeof(info->subject_hash), "%08lx",
	    X509_subject_name_hash(x) & 0xffffffffUL);
	info->not_before = asn1_time_unix(X509_get0_notBefore(x));
	info->not_after = asn1_time_unix(X509_get0_notAfter(x));
	info->is_ca = X509_check_ca(x) != 0;
	info->self_signed = X509_self_signed(x, 0) == 1;
	ERR_clear_error();
	return 0;
}

bool
pki_cert_has_email(X509 *x, const char *addr)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	size_t alen = strlen(addr);
	bool found = false;

	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) &&
	    !found; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_EMAIL)
			continue;
		const unsigned char *d = ASN1_STRING_get0_data(g->d.rfc822Name);
		if ((size_t)ASN1_STRING_length(g->d.rfc822Name) == alen &&
		    strncasecmp((const char *)d, addr, alen) == 0)
			found = true;
	}
	GENERAL_NAMES_free(gens);
	if (!found) {
		char buf[256];
		int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_pkcs9_emailAddress, buf, sizeof(buf));
		found = n > 0 && (size_t)n == alen &&
		    strcasecmp(buf, addr) == 0;
	}
	ERR_clear_error();
	return found;
}

/* ---- making certificates ---- */

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

static int
name_add(X509_NAME *n, const char *field, int type, const char *value)
{
	return X509_NAME_add_entry_by_txt(n, field, type,
	    (const unsigned char *)value, -1, -1, 0);
}

/* random_serial - positive, non-zero, 63 bits: the ledger's u64 key. */
static int
random_serial(uint64_t *s)
{
	unsigned char b[8];
	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return ERR_CRYPTO;
		b[0] &= 0x7f;
		*s = 0;
		for (size_t i = 0; i < sizeof(b); i++)
			*s = *s << 8 | b[i];
	} while (*s < (UINT64_C(1) << 56));	/* always 8 octets */
	return 0;
}

static EVP_PKEY *
gen_key(enum pki_key_type t)
{
	switch (t) {
	case PKI_KEY_RSA2048: return EVP_RSA_gen(2048);
	case PKI_KEY_RSA3072: return EVP_RSA_gen(3072);
	case PKI_KEY_P256: return EVP_EC_gen("P-256");
	}
	return NULL;
}

/* make_ca - the self-signed development CA, as pki_devca.c makes it. */
static X509 *
make_ca(EVP_PKEY *key)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_NAME *name = X509_get_subject_name(x);
	ok = bn != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	    X509_set_version(x, 2) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * CA_DAYS) != NULL &&
	    X509_set_pubkey(x, key) &&
	    name_add(name, "C", MBSTRING_ASC, "FR") &&
	    name_add(name, "O", MBSTRING_ASC, ORG_NAME) &&
	    name_add(name, "CN", MBSTRING_UTF8, CA_CN) &&
	    X509_set_issuer_name(x, name) &&
	    add_ext(x, x, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") &&
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
	    add_ext(x, x, NID_subject_key_identifier, "hash") &&
	    X509_sign(x, key, EVP_sha256()) != 0;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static bool
file_exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

int
pki_ca_init(const char *certs_dir, char *err, size_t errlen)
{
	char crt[4096], keyp[4096];
	struct pki_staged sk = { "", "" }, sc = { "", "" };
	int r;

	if (path_join(crt, sizeof(crt), certs_dir, PKI_CA_CERT) < 0 ||
	    path_join(keyp, sizeof(keyp), certs_dir, PKI_CA_KEY) < 0)
		return fail(err, errlen, ERR_LIMIT, "%s: path too long",
		    certs_dir);
	bool hc = file_exists(crt), hk = file_exists(keyp);
	if (hc && hk)
		return 0;
	if (hc != hk)
		return fail(err, errlen, ERR_EXISTS, "%s exists but %s is "
		    "missing: not overwriting half of the CA", hc ? crt : keyp,
		    hc ? keyp : crt);
	if (mkdir(certs_dir, 0700) != 0 && errno != EEXIST)
		return fail(err, errlen, ERR_IO, "%s: cannot create: %s",
		    certs_dir, strerror(errno));
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *x = key != NULL ? make_ca(key) : NULL;
	if (x == NULL) {
		EVP_PKEY_free(key);
		return fail(err, errlen, ERR_CRYPTO, "cannot create the "
		    "development CA");
	}
	/* key first: a certificate without its key is the worse half */
	if ((r = pki_stage_key(&sk, keyp, key, NULL, err, errlen)) == 0 &&
	    (r = pki_stage_cert(&sc, crt, x, NULL, err, errlen)) == 0 &&
	    (r = pki_stage_commit_new(&sk, err, errlen)) == 0 &&
	    (r = pki_stage_commit_new(&sc, err, errlen)) < 0)
		(void)unlink(keyp);
	pki_stage_abort(&sk);
	pki_stage_abort(&sc);
	EVP_PKEY_free(key);
	X509_free(x);
	return r < 0 ? r : 1;
}

int
pki_ca_load(const char *certs_dir, struct pki_ca **ca_r, char *err,
	    size_t errlen)
{
	char crt[4096], keyp[4096];
	struct pki_bundle c, k;
	int r;

	*ca_r = NULL;
	if (path_join(crt, sizeof(crt), certs_dir, PKI_CA_CERT) < 0 ||
	    path_join(keyp, sizeof(keyp), certs_dir, PKI_CA_KEY) < 0)
		return fail(err, errlen, ERR_LIMIT, "%s: path too long",
		    certs_dir);
	if (!file_exists(crt) || !file_exists(keyp))
		return fail(err, errlen, ERR_NOTFOUND, "no development CA in "
		    "%s (%s, %s)", certs_dir, PKI_CA_CERT, PKI_CA_KEY);
	if ((r = pki_bundle_load_file(crt, NULL, &c, err, errlen)) < 0)
		return r;
	if ((r = pki_bundle_load_file(keyp, NULL, &k, err, errlen)) < 0) {
		pki_bundle_free(&c);
		return r;
	}
	r = 0;
	if (c.cert == NULL || k.key == NULL)
		r = fail(err, errlen, ERR_INVAL, "%s: no %s in the file",
		    c.cert == NULL ? crt : keyp, c.cert == NULL ?
		    "certificate" : "private key");
	else if (EVP_PKEY_eq(X509_get0_pubkey(c.cert), k.key) != 1)
		r = fail(err, errlen, ERR_INVAL, "%s: the private key does not "
		    "match the certificate %s", keyp, crt);
	else if (X509_check_ca(c.cert) == 0)
		r = fail(err, errlen, ERR_INVAL, "%s: not a CA certificate",
		    crt);
	struct pki_ca *ca = r == 0 ? calloc(1, sizeof(*ca)) : NULL;
	if (r == 0 && ca == NULL)
		r = ERR_NOMEM;
	if (r == 0) {
		ca->cert = c.cert;
		ca->key = k.key;
		c.cert = NULL;
		k.key = NULL;
		*ca_r = ca;
	}
	pki_bundle_free(&c);
	pki_bundle_free(&k);
	ERR_clear_error();
	return r;
}

void
pki_ca_free(struct pki_ca **ca)
{
	if (*ca == NULL)
		return;
	X509_free((*ca)->cert);
	EVP_PKEY_free((*ca)->key);
	free(*ca);
	*ca = NULL;
}

/* dns_valid - a host name for a SAN: labels of [A-Za-z0-9-], a leading
 * "*." allowed, at most 253 octets. */
static bool
dns_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253)
		return false;
	if (s[0] == '*' && s[1] == '.')
		s += 2;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		bool ok = (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    (*p == '-' && label > 0);
		if (!ok)
			return false;
		label++;
	}
}

/* email_valid - local@domain in ASCII, no space or control. */
static bool
email_valid(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t n = strlen(s);
	if (at == NULL || at == s || n > 254 || at[1] == '\0')
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '<' || *p == '>' || *p == ',' || *p == '@')
			return false;
	return dns_valid(at + 1) && at[1] != '*';
}

int
pki_issue_check(const struct pki_issue_req *req, char *err, size_t errlen)
{
	if (req->n_dns > PKI_NAMES_MAX || req->n_email > PKI_NAMES_MAX)
		return fail(err, errlen, ERR_LIMIT, "at most %d names of each "
		    "kind", PKI_NAMES_MAX);
	for (size_t i = 0; i < req->n_dns; i++)
		if (!dns_valid(req->dns[i]))
			return fail(err, errlen, ERR_INVAL, "--dns '%s': not a "
			    "host name", req->dns[i]);
	for (size_t i = 0; i < req->n_email; i++)
		if (!email_valid(req->email[i]))
			return fail(err, errlen, ERR_INVAL, "--email '%s': not "
			    "a mailbox address", req->email[i]);
	if (req->cn != NULL) {
		size_t n = strlen(req->cn);
		if (n == 0 || n > 64 || !utf8_valid(req->cn, n))
			return fail(err, errlen, ERR_INVAL, "--cn: 1 to 64 "
			    "characters of UTF-8");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)req->cn[i] < 0x20 ||
			    req->cn[i] == 0x7f)
				return fail(err, errlen, ERR_INVAL, "--cn: a "
				    "control character");
	}
	if (req->rpps != NULL && (strlen(req->rpps) != 11 ||
	    strspn(req->rpps, "0123456789") != 11))
		return fail(err, errlen, ERR_INVAL, "--rpps '%s': an RPPS "
		    "number is 11 digits", req->rpps);
	if (req->not_before == 0 && (req->days < 1 ||
	    req->days > PKI_LEAF_DAYS_MAX))
		return fail(err, errlen, ERR_INVAL, "--days: 1 to %d",
		    PKI_LEAF_DAYS_MAX);
	switch (req->kind) {
	case PKI_KIND_SERVER:
	case PKI_KIND_OPERATOR:
		if (req->n_dns == 0 && (req->cn == NULL ||
		    !dns_valid(req->cn)))
			return fail(err, errlen, ERR_INVAL, "a %s certificate "
			    "needs a host name: --dns NAME",
			    pki_kind_name(req->kind));
		break;
	case PKI_KIND_SMIME:
		if (req->n_email == 0)
			return fail(err, errlen, ERR_INVAL, "an smime "
			    "certificate needs the address it signs for: "
			    "--email ADDR");
		break;
	case PKI_KIND_CLIENT:
		if (req->cn == NULL && req->n_dns == 0 && req->n_email == 0)
			return fail(err, errlen, ERR_INVAL, "a client "
			    "certificate needs a name: --cn, --dns or --email");
		break;
	}
	return 0;
}

static int
add_gen(GENERAL_NAMES *gens, int type, const char *value)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	if (g == NULL || s == NULL ||
	    ASN1_STRING_set(s, value, (int)strlen(value)) != 1) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
		return 0;
	}
	GENERAL_NAME_set0_value(g, type, s);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return 0;
	}
	return 1;
}

/* add_sans - SAN from the request, built as structures: a name never
 * goes through OpenSSL's "DNS:a,email:b" text syntax. */
static int
add_sans(X509 *x, const struct pki_issue_req *req)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int ok = gens != NULL;

	for (size_t i = 0; ok && i < req->n_dns; i++)
		ok = add_gen(gens, GEN_DNS, req->dns[i]);
	if (ok && req->n_dns == 0 && req->cn != NULL &&
	    (req->kind == PKI_KIND_SERVER || req->kind == PKI_KIND_OPERATOR))
		ok = add_gen(gens, GEN_DNS, req->cn);
	for (size_t i = 0; ok && i < req->n_email; i++)
		ok = add_gen(gens, GEN_EMAIL, req->email[i]);
	if (ok && sk_GENERAL_NAME_num(gens) > 0)
		ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
		    X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAMES_free(gens);
	return ok;
}

static int
add_kind_exts(X509 *x, X509 *issuer, const struct pki_issue_req *req,
	      bool rsa)
{
	const char *ku, *eku;
	switch (req->kind) {
	case PKI_KIND_SERVER:
		ku = rsa ? "critical,digitalSignature,keyEncipherment" :
		    "critical,digitalSignature";
		eku = "serverAuth";
		break;
	case PKI_KIND_OPERATOR:
		ku = rsa ? "critical,digitalSignature,keyEncipherment" :
		    "critical,digitalSignature";
		eku = "serverAuth,clientAuth";
		break;
	case PKI_KIND_CLIENT:
		ku = "critical,digitalSignature";
		eku = "clientAuth";
		break;
	case PKI_KIND_SMIME:
		ku = rsa ? "critical,digitalSignature,nonRepudiation,"
		    "keyEncipherment" : "critical,digitalSignature,"
		    "nonRepudiation";
		eku = "emailProtection";
		break;
	default:
		return 0;
	}
	return add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
	    add_ext(x, issuer, NID_key_usage, ku) &&
	    add_ext(x, issuer, NID_ext_key_usage, eku) &&
	    add_ext(x, issuer, NID_subject_key_identifier, "hash") &&
	    add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") &&
	    add_sans(x, req);
}

int
pki_cert_issue(const struct pki_ca *ca, const struct pki_issue_req *req,
	       X509 **cert_r, EVP_PKEY **key_r, uint64_t *serial_r,
	       char *err, size_t errlen)
{
	char idnat[16];
	uint64_t serial;
	int r;

	*cert_r = NULL;
	*key_r = NULL;
	if ((r = pki_issue_check(req, err, errlen)) < 0)
		return r;
	const char *cn = req->cn;
	if (cn == NULL)
		cn = req->kind == PKI_KIND_SMIME || req->n_dns == 0 ?
		    req->email[0] : req->dns[0];
	if (strlen(cn) > 64)
		return fail(err, errlen, ERR_INVAL, "'%s': too long for a "
		    "common name (64): give --cn", cn);
	if (random_serial(&serial) < 0)
		return fail(err, errlen, ERR_CRYPTO, "no randomness for the "
		    "serial number");
	EVP_PKEY *key = gen_key(req->key_type);
	X509 *x = X509_new();
	if (key == NULL || x == NULL) {
		EVP_PKEY_free(key);
		X509_free(x);
		return fail(err, errlen, ERR_CRYPTO, "cannot generate a %s key",
		    pki_key_type_name(req->key_type));
	}
	X509_NAME *name = X509_get_subject_name(x);
	int ok = X509_set_version(x, 2) &&
	    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) &&
	    X509_set_pubkey(x, key) &&
	    name_add(name, "C", MBSTRING_ASC, "FR") &&
	    name_add(name, "O", MBSTRING_ASC, ORG_NAME);
	if (ok && req->rpps != NULL) {
		/* IdNat_PS: "8" + RPPS, see doc/CERTIFICATES.md */
		snprintf(idnat, sizeof(idnat), "8%s", req->rpps);
		ok = name_add(name, "serialNumber", MBSTRING_ASC, idnat);
	}
	ok = ok && name_add(name, "CN", MBSTRING_UTF8, cn) &&
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
	if (ok && req->not_before != 0 && req->not_after != 0) {
		ok = ASN1_TIME_set(X509_getm_notBefore(x),
		    (time_t)req->not_before) != NULL &&
		    ASN1_TIME_set(X509_getm_notAfter(x),
		    (time_t)req->not_after) != NULL;
	} else if (ok) {
		ok = X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
		    X509_gmtime_adj(X509_getm_notAfter(x),
		    86400L * (long)req->days) != NULL;
	}
	ok = ok && add_kind_exts(x, ca->cert, req,
	    EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) &&
	    X509_sign(x, ca->key, EVP_sha256()) != 0;
	if (!ok) {
		char d[256];
		ssl_detail(d, sizeof(d));
		EVP_PKEY_free(key);
		X509_free(x);
		return fail(err, errlen, ERR_CRYPTO, "cannot make the "
		    "certificate%s%s", d[0] ? ": " : "", d);
	}
	*cert_r = x;
	*key_r = key;
	*serial_r = serial;
	return 0;
}

/* ---- the trust store ---- */

/*
 * crl_soft_cb - CRL checking is on for the leaf; an issuer for which no
 * CRL was imported is accepted (we fetch no distribution point), and
 * the error is cleared so SSL_get_verify_result() reports X509_V_OK.
 */
int
pki_crl_soft_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) ==
	    X509_V_ERR_UNABLE_TO_GET_CRL) {
		X509_STORE_CTX_set_error(ctx, X509_V_OK);
		return 1;
	}
	return ok;
}

static int
pem_certs_mem(const char *name, const unsigned char *data, size_t len,
	      int (*cb)(const char *, X509 *, void *), void *arg, char *err,
	      size_t errlen)
{
	struct pki_bundle b;
	int r = pki_bundle_load_mem(name, data, len, NULL, &b, err, errlen);
	if (r < 0)
		return r;
	if (b.cert == NULL) {
		pki_bundle_free(&b);
		return fail(err, errlen, ERR_INVAL, "%s: no certificate in the "
		    "file", name);
	}
	r = cb(name, b.cert, arg);
	for (int i = 0; r == 0 && i < sk_X509_num(b.chain); i++)
		r = cb(name, sk_X509_value(b.chain, i), arg);
	pki_bundle_free(&b);
	return r;
}

int
pki_pem_certs_iter(const char *path,
		   int (*cb)(const char *file, X509 *x, void *arg),
		   void *arg, char *err, size_t errlen)
{
	unsigned char *data;
	size_t len;
	int r = read_file(path, PKI_CERT_FILE_MAX, &data, &len, err, errlen);
	if (r < 0)
		return r;
	r = pem_certs_mem(path, data, len, cb, arg, err, errlen);
	free_secret(data, len);
	return r;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir_files - the regular files of dir whose names end with one of the
 * suffixes (NULL-terminated), sorted; *n_r names (malloc'd) in *list_r.
 * A missing folder has none. */
static int
dir_files(const char *dir, const char *const *suffixes, char ***list_r,
	  size_t *n_r, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	char **list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	*list_r = NULL;
	*n_r = 0;
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return fail(err, errlen, ERR_IO, "%s: cannot open: %s", dir,
		    strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat sb;
		size_t nl = strlen(de->d_name);
		bool want = false;
		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; suffixes[i] != NULL && !want; i++) {
			size_t sl = strlen(suffixes[i]);
			want = nl > sl && strcmp(de->d_name + nl - sl,
			    suffixes[i]) == 0;
		}
		if (!want ||
		    path_join(path, sizeof(path), dir, de->d_name) < 0 ||
		    lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = realloc(list, ncap * sizeof(*list));
			if (p == NULL)
				goto nomem;
			list = p;
			cap = ncap;
		}
		if ((list[n] = strdup(de->d_name)) == NULL)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(list, n, sizeof(*list), cmp_names);
	*list_r = list;
	*n_r = n;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return ERR_NOMEM;
}

static void
free_names(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int
pki_trustdir_iter(const char *certs_dir,
		  int (*cb)(const char *file, X509 *x, void *arg),
		  void *arg, char *err, size_t errlen)
{
	static const char *const suffixes[] = { ".pem", NULL };
	char dir[4096], path[4096];
	char **names;
	size_t n;
	int r;

	if (path_join(dir, sizeof(dir), certs_dir, PKI_TRUST_DIR) < 0)
		return fail(err, errlen, ERR_LIMIT, "%s: path too long",
		    certs_dir);
	if ((r = dir_files(dir, suffixes, &names, &n, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (path_join(path, sizeof(path), dir, names[i]) < 0) {
			r = fail(err, errlen, ERR_LIMIT, "%s: path too long",
			    dir);
			break;
		}
		unsigned char *data;
		size_t len;
		if ((r = read_file(path, PKI_CERT_FILE_MAX, &data, &len, err,
		    errlen)) < 0)
			break;
		/* cb gets the file's own name, not its path */
		struct pki_bundle b;
		r = pki_bundle_load_mem(path, data, len, NULL, &b, err, errlen);
		free_secret(data, len);
		if (r < 0)
			break;
		if (b.cert != NULL)
			r = cb(names[i], b.cert, arg);
		for (int j = 0; r == 0 && j < sk_X509_num(b.chain); j++)
			r = cb(names[i], sk_X509_value(b.chain, j), arg);
		pki_bundle_free(&b);
	}
	free_names(names, n);
	return r;
}

struct anchors {
	X509_STORE *store;
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;
};

static int
anchor_add(const char *file, X509 *x, void *arg)
{
	struct anchors *a = arg;
	(void)file;
	if (X509_STORE_add_cert(a->store, x) != 1) {
		/* already there (the same certificate in two places) */
		ERR_clear_error();
	}
	if (a->certs != NULL) {
		if (!X509_up_ref(x))
			return ERR_NOMEM;
		if (!sk_X509_push(a->certs, x)) {
			X509_free(x);
			return ERR_NOMEM;
		}
	}
	return 0;
}

/* load_crls - every CRL of certs_dir/crl/ into the store. */
static int
load_crls(struct anchors *a, const char *certs_dir, size_t *n_r, char *err,
	  size_t errlen)
{
	static const char *const suffixes[] = { ".pem", ".crl", NULL };
	char dir[4096], path[4096];
	char **names;
	size_t n;
	int r;

	*n_r = 0;
	if (path_join(dir, sizeof(dir), certs_dir, PKI_CRL_DIR) < 0)
		return fail(err, errlen, ERR_LIMIT, "%s: path too long",
		    certs_dir);
	if ((r = dir_files(dir, suffixes, &names, &n, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		X509_CRL *crl;
		if (path_join(path, sizeof(path), dir, names[i]) < 0) {
			r = ERR_LIMIT;
			break;
		}
		if ((r = pki_crl_load_file(path, &crl, err, errlen)) < 0)
			break;
		if (X509_STORE_add_crl(a->store, crl) != 1)
			ERR_clear_error();
		if (a->crls != NULL && sk_X509_CRL_push(a->crls, crl)) {
			crl = NULL;
		}
		X509_CRL_free(crl);
		(*n_r)++;
	}
	free_names(names, n);
	return r;
}

static void
store_policy(X509_STORE *store, size_t n_crls)
{
	if (n_crls > 0) {
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
		X509_STORE_set_verify_cb(store, pki_crl_soft_cb);
	}
}

int
pki_trust_load(const char *ca_file, const char *certs_dir,
	       struct pki_trust **t_r, char *err, size_t errlen)
{
	struct pki_trust *t = calloc(1, sizeof(*t));
	size_t n_crls = 0;
	int r = 0;

	*t_r = NULL;
	if (t == NULL)
		return ERR_NOMEM;
	t->store = X509_STORE_new();
	t->certs = sk_X509_new_null();
	t->crls = sk_X509_CRL_new_null();
	if (t->store == NULL || t->certs == NULL || t->crls == NULL) {
		pki_trust_free(&t);
		return ERR_NOMEM;
	}
	struct anchors a = { t->store, t->certs, t->crls };
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (access(ca_file, F_OK) != 0 && errno == ENOENT)
			t->ca_file_missing = true;
		else
			r = pki_pem_certs_iter(ca_file, anchor_add, &a, err,
			    errlen);
	}
	if (r == 0)
		r = pki_trustdir_iter(certs_dir, anchor_add, &a, err, errlen);
	if (r == 0)
		r = load_crls(&a, certs_dir, &n_crls, err, errlen);
	if (r < 0) {
		pki_trust_free(&t);
		return r;
	}
	store_policy(t->store, n_crls);
	ERR_clear_error();
	*t_r = t;
	return 0;
}

void
pki_trust_free(struct pki_trust **t)
{
	if (*t == NULL)
		return;
	X509_STORE_free((*t)->store);
	sk_X509_pop_free((*t)->certs, X509_free);
	sk_X509_CRL_pop_free((*t)->crls, X509_CRL_free);
	free(*t);
	*t = NULL;
}

int
pki_ctx_add_trust(SSL_CTX *ctx, const char *certs_dir, char *err,
		  size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	struct anchors a = { store, NULL, NULL };
	size_t n_crls = 0;
	int r;

	if (store == NULL)
		return fail(err, errlen, ERR_INVAL, "no certificate store");
	if ((r = pki_trustdir_iter(certs_dir, anchor_add, &a, err, errlen)) < 0
	    || (r = load_crls(&a, certs_dir, &n_crls, err, errlen)) < 0)
		return r;
	store_policy(store, n_crls);
	ERR_clear_error();
	return 0;
}

/* ---- verifying ---- */

/* purpose_detail - why the leaf's extensions do not fit purpose. */
static void
purpose_detail(X509 *x, enum pki_purpose p, char *out, size_t size)
{
	uint32_t flags = X509_get_extension_flags(x);
	uint32_t xku = X509_get_extended_key_usage(x);
	uint32_t ku = X509_get_key_usage(x);
	const char *pname = pki_purpose_name(p);
	uint32_t need_x = 0, need_k = 0;
	const char *xname = "", *kname = "";
	char have[128];

	switch (p) {
	case PKI_PURPOSE_TLS_SERVER:
		need_x = XKU_SSL_SERVER;
		xname = "serverAuth";
		need_k = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT |
		    KU_KEY_AGREEMENT;
		kname = "digitalSignature or keyEncipherment";
		break;
	case PKI_PURPOSE_TLS_CLIENT:
		need_x = XKU_SSL_CLIENT;
		xname = "clientAuth";
		need_k = KU_DIGITAL_SIGNATURE;
		kname = "digitalSignature";
		break;
	case PKI_PURPOSE_SMIME:
		need_x = XKU_SMIME;
		xname = "emailProtection";
		need_k = KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION;
		kname = "digitalSignature or nonRepudiation";
		break;
	default:
		break;
	}
	if ((flags & EXFLAG_XKUSAGE) && !(xku & need_x)) {
		eku_str(x, have, sizeof(have));
		snprintf(out, size, "extended key usage (%s) does not allow "
		    "%s: it lacks %s", have[0] ? have : "none", pname, xname);
	} else if ((flags & EXFLAG_KUSAGE) && !(ku & need_k)) {
		ku_str(x, have, sizeof(have));
		snprintf(out, size, "key usage (%s) does not allow %s: it "
		    "needs %s", have[0] ? have : "none", pname, kname);
	} else if (flags & EXFLAG_CA) {
		snprintf(out, size, "a CA certificate is not a %s certificate",
		    pname);
	} else {
		snprintf(out, size, "the certificate is not meant for %s "
		    "(unsuitable purpose)", pname);
	}
}

/* revoked_detail - date and reason of cert's entry in a CRL of t. */
static void
revoked_detail(const struct pki_trust *t, X509 *cert, char *out, size_t size)
{
	const X509_NAME *iss = X509_get_issuer_name(cert);
	char when[64] = "an unknown date", reason[64] = "", dn[512];

	for (int i = 0; i < sk_X509_CRL_num(t->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(t->crls, i);
		X509_REVOKED *rev = NULL;
		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), iss) != 0 ||
		    X509_CRL_get0_by_serial(crl, &rev,
		    X509_get0_serialNumber(cert)) != 1 || rev == NULL)
			continue;
		pki_time_str(asn1_time_unix(X509_REVOKED_get0_revocationDate(
		    rev)), when, sizeof(when));
		int crit = 0;
		ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev,
		    NID_crl_reason, &crit, NULL);
		if (e != NULL) {
			snprintf(reason, sizeof(reason), " (%s)",
			    pki_reason_name((int)ASN1_ENUMERATED_get(e)));
			ASN1_ENUMERATED_free(e);
		}
		break;
	}
	ERR_clear_error();
	dn_str(iss, dn, sizeof(dn));
	snprintf(out, size, "certificate revoked on %s%s by the CRL of '%s'",
	    when, reason, dn);
}

static void
explain(const struct pki_trust *t, X509_STORE_CTX *ctx, X509 *leaf,
	enum pki_purpose purpose, enum pki_verify_fail *fail_r, char *out,
	size_t size)
{
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	X509_CRL *crl = X509_STORE_CTX_get0_current_crl(ctx);
	char who[600], dn[512], date[64];

	if (cur == NULL)
		cur = leaf;
	if (depth <= 0) {
		snprintf(who, sizeof(who), "certificate");
	} else {
		who_str(cur, dn, sizeof(dn));
		snprintf(who, sizeof(who), "CA certificate '%s'", dn);
	}
	*fail_r = PKI_VERIFY_OTHER;
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		*fail_r = PKI_VERIFY_EXPIRED;
		pki_time_str(asn1_time_unix(X509_get0_notAfter(cur)), date,
		    sizeof(date));
		snprintf(out, size, "%s expired on %s", who, date);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		*fail_r = PKI_VERIFY_NOT_YET_VALID;
		pki_time_str(asn1_time_unix(X509_get0_notBefore(cur)), date,
		    sizeof(date));
		snprintf(out, size, "%s is not yet valid: valid from %s", who,
		    date);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		*fail_r = PKI_VERIFY_UNTRUSTED;
		dn_str(X509_get_issuer_name(cur), dn, sizeof(dn));
		snprintf(out, size, "untrusted CA: unable to get the issuer "
		    "certificate '%s': not in the trust store%s", dn,
		    sk_X509_num(t->certs) == 0 ? " (which is empty)" : "");
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		*fail_r = PKI_VERIFY_UNTRUSTED;
		who_str(cur, dn, sizeof(dn));
		snprintf(out, size, "untrusted: self-signed certificate '%s' "
		    "is not in the trust store", dn);
		break;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		*fail_r = PKI_VERIFY_UNTRUSTED;
		who_str(cur, dn, sizeof(dn));
		snprintf(out, size, "untrusted CA: the chain ends at '%s', "
		    "which is not in the trust store", dn);
		break;
	case X509_V_ERR_CERT_REVOKED:
		*fail_r = PKI_VERIFY_REVOKED;
		if (depth <= 0) {
			revoked_detail(t, cur, out, size);
		} else {
			char inner[600];
			revoked_detail(t, cur, inner, sizeof(inner));
			snprintf(out, size, "%s: %s", who, inner);
		}
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		*fail_r = PKI_VERIFY_PURPOSE;
		if (depth <= 0)
			purpose_detail(cur, purpose, out, size);
		else
			snprintf(out, size, "%s may not issue certificates for "
			    "%s (its extended key usage)", who,
			    pki_purpose_name(purpose));
		break;
	case X509_V_ERR_INVALID_CA:
		*fail_r = PKI_VERIFY_UNTRUSTED;
		snprintf(out, size, "%s is not a CA certificate (it cannot "
		    "issue)", who);
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		dn_str(X509_get_issuer_name(cur), dn, sizeof(dn));
		snprintf(out, size, "%s: its signature does not verify with "
		    "the key of '%s'", who, dn);
		break;
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
		dn[0] = '\0';
		date[0] = '\0';
		/* the context forgets its CRL once verification ended: find
		 * the one of the certificate's issuer */
		for (int i = 0; crl == NULL && i < sk_X509_CRL_num(t->crls);
		    i++) {
			X509_CRL *k = sk_X509_CRL_value(t->crls, i);
			if (X509_NAME_cmp(X509_CRL_get_issuer(k),
			    X509_get_issuer_name(cur)) == 0)
				crl = k;
		}
		if (crl != NULL) {
			dn_str(X509_CRL_get_issuer(crl), dn, sizeof(dn));
			pki_time_str(asn1_time_unix(e ==
			    X509_V_ERR_CRL_NOT_YET_VALID ?
			    X509_CRL_get0_lastUpdate(crl) :
			    X509_CRL_get0_nextUpdate(crl)), date,
			    sizeof(date));
		}
		if (e == X509_V_ERR_CRL_HAS_EXPIRED)
			snprintf(out, size, "the CRL of '%s' expired on %s: "
			    "import a newer one", dn, date);
		else if (e == X509_V_ERR_CRL_NOT_YET_VALID)
			snprintf(out, size, "the CRL of '%s' is not yet valid "
			    "(from %s)", dn, date);
		else
			snprintf(out, size, "the CRL of '%s': %s", dn,
			    X509_verify_cert_error_string(e));
		break;
	default:
		snprintf(out, size, "%s: %s", who,
		    X509_verify_cert_error_string(e));
	}
}

int
pki_cert_verify(const struct pki_trust *t, X509 *cert, STACK_OF(X509) *chain,
		EVP_PKEY *key, enum pki_purpose purpose, int64_t at,
		enum pki_verify_fail *fail_r, char *reason, size_t size)
{
	static const int purposes[] = {
		[PKI_PURPOSE_NONE] = 0,
		[PKI_PURPOSE_TLS_SERVER] = X509_PURPOSE_SSL_SERVER,
		[PKI_PURPOSE_TLS_CLIENT] = X509_PURPOSE_SSL_CLIENT,
		[PKI_PURPOSE_SMIME] = X509_PURPOSE_SMIME_SIGN,
	};
	enum pki_verify_fail dummy;

	if (fail_r == NULL)
		fail_r = &dummy;
	*fail_r = PKI_VERIFY_OK;
	reason[0] = '\0';
	if (key != NULL) {
		EVP_PKEY *pub = X509_get0_pubkey(cert);
		if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
			*fail_r = PKI_VERIFY_MISMATCH;
			ERR_clear_error();
			snprintf(reason, size, "the private key does not match "
			    "the certificate (key/certificate mismatch)");
			return ERR_INVAL;
		}
	}
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, t->store, cert, chain) !=
	    1) {
		X509_STORE_CTX_free(ctx);
		return ERR_NOMEM;
	}
	if (at != 0)
		X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
	if ((size_t)purpose < N_OF(purposes) && purposes[purpose] != 0 &&
	    X509_STORE_CTX_set_purpose(ctx, purposes[purpose]) != 1) {
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return ERR_INVAL;
	}
	int ok = X509_verify_cert(ctx);
	int r = 0;
	if (ok != 1) {
		explain(t, ctx, cert, purpose, fail_r, reason, size);
		r = ERR_INVAL;
	} else if (purpose == PKI_PURPOSE_TLS_CLIENT &&
	    (X509_get_extension_flags(cert) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE)) {
		/* OpenSSL lets keyAgreement stand for digitalSignature; a
		 * TLS client proves its key by signing (the relay port
		 * checks the same, pki_tls.c) */
		*fail_r = PKI_VERIFY_PURPOSE;
		purpose_detail(cert, purpose, reason, size);
		r = ERR_INVAL;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/* ---- CRLs ---- */

int
pki_crl_make(const struct pki_ca *ca, const struct pki_revoked *list,
	     size_t n, uint64_t number, int64_t now, unsigned days,
	     X509_CRL **crl_r, char *err, size_t errlen)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *tm = NULL;
	ASN1_INTEGER *num = NULL;
	int ok = crl != NULL;

	*crl_r = NULL;
	ok = ok && X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) &&
	    (tm = ASN1_TIME_set(NULL, (time_t)now)) != NULL &&
	    X509_CRL_set1_lastUpdate(crl, tm) &&
	    ASN1_TIME_set(tm, (time_t)(now + 86400LL * days)) != NULL &&
	    X509_CRL_set1_nextUpdate(crl, tm);
	for (size_t i = 0; ok && i < n; i++) {
		X509_REVOKED *rev = X509_REVOKED_new();
		ASN1_INTEGER *sn = ASN1_INTEGER_new();
		ok = rev != NULL && sn != NULL &&
		    ASN1_INTEGER_set_uint64(sn, list[i].serial) &&
		    X509_REVOKED_set_serialNumber(rev, sn) &&
		    ASN1_TIME_set(tm, (time_t)list[i].when) != NULL &&
		    X509_REVOKED_set_revocationDate(rev, tm);
		if (ok && list[i].reason != 0) {
			/* RFC 5280: no reason code rather than unspecified */
			ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
			ok = e != NULL && ASN1_ENUMERATED_set(e,
			    list[i].reason) && X509_REVOKED_add1_ext_i2d(rev,
			    NID_crl_reason, e, 0, 0) == 1;
			ASN1_ENUMERATED_free(e);
		}
		ASN1_INTEGER_free(sn);
		if (ok && X509_CRL_add0_revoked(crl, rev))
			rev = NULL;
		else
			ok = 0;
		X509_REVOKED_free(rev);
	}
	if (ok) {
		X509V3_CTX v3;
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, ca->cert, NULL, NULL, crl, 0);
		X509_EXTENSION *aki = X509V3_EXT_conf_nid(NULL, &v3,
		    NID_authority_key_identifier, "keyid:always");
		ok = aki != NULL && X509_CRL_add_ext(crl, aki, -1);
		X509_EXTENSION_free(aki);
	}
	ok = ok && (num = ASN1_INTEGER_new()) != NULL &&
	    ASN1_INTEGER_set_uint64(num, number) &&
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1 &&
	    X509_CRL_sort(crl) &&
	    X509_CRL_sign(crl, ca->key, EVP_sha256()) != 0;
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tm);
	if (!ok) {
		char d[256];
		ssl_detail(d, sizeof(d));
		X509_CRL_free(crl);
		return fail(err, errlen, ERR_CRYPTO, "cannot make the CRL%s%s",
		    d[0] ? ": " : "", d);
	}
	*crl_r = crl;
	return 0;
}

int
pki_crl_load_mem(const char *name, const void *data, size_t len,
		 X509_CRL **crl_r, char *err, size_t errlen)
{
	const unsigned char *d = data, *p = d;
	X509_CRL *crl = NULL;

	*crl_r = NULL;
	if (len == 0)
		return fail(err, errlen, ERR_INVAL, "%s: empty file", name);
	if (len > PKI_CERT_FILE_MAX)
		return fail(err, errlen, ERR_LIMIT, "%s: more than %d KiB: not "
		    "a CRL", name, PKI_CERT_FILE_MAX / 1024);
	if (d[0] == 0x30) {
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && p != d + len) {
			X509_CRL_free(crl);
			crl = NULL;
		}
		if (crl == NULL) {
			ERR_clear_error();
			return fail(err, errlen, ERR_INVAL, "%s: DER data that "
			    "is not a CRL", name);
		}
		*crl_r = crl;
		return 0;
	}
	/* PEM: the first "X509 CRL" block, found line by line */
	const char *s = data, *end = s + len;
	unsigned line = 1;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl != NULL ? nl : end;
		char label[PEM_LABEL_MAX + 1];
		if (pem_marker(s, eol, "-----BEGIN ", label)) {
			if (strcmp(label, "X509 CRL") != 0)
				return fail(err, errlen, ERR_INVAL, "%s:%u: a "
				    "'%s' block, not a CRL", name, line, label);
			BIO *b = BIO_new_mem_buf(s, (int)(end - s));
			crl = b != NULL ? PEM_read_bio_X509_CRL(b, NULL, NULL,
			    NULL) : NULL;
			BIO_free(b);
			if (crl == NULL) {
				char dd[256];
				ssl_detail(dd, sizeof(dd));
				return fail(err, errlen, ERR_INVAL, "%s:%u: "
				    "corrupted CRL block%s%s", name, line,
				    dd[0] ? ": " : "", dd);
			}
			*crl_r = crl;
			return 0;
		}
		s = nl != NULL ? nl + 1 : end;
		line++;
	}
	return fail(err, errlen, ERR_INVAL, "%s: not a CRL (neither a PEM "
	    "X509 CRL block nor DER)", name);
}

int
pki_crl_load_file(const char *path, X509_CRL **crl_r, char *err,
		  size_t errlen)
{
	unsigned char *data;
	size_t len;
	int r = read_file(path, PKI_CERT_FILE_MAX, &data, &len, err, errlen);
	if (r < 0)
		return r;
	r = pki_crl_load_mem(path, data, len, crl_r, err, errlen);
	free(data);
	return r;
}

void
pki_crl_times(X509_CRL *crl, int64_t *this_r, int64_t *next_r, size_t *n_r)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);

	*this_r = asn1_time_unix(X509_CRL_get0_lastUpdate(crl));
	*next_r = next != NULL ? asn1_time_unix(next) : 0;
	*n_r = revs != NULL ? (size_t)sk_X509_REVOKED_num(revs) : 0;
}

int
pki_crl_check(const struct pki_trust *t, X509_CRL *crl, int64_t now,
	      X509 **issuer_r, char *err, size_t errlen)
{
	const X509_NAME *iss = X509_CRL_get_issuer(crl);
	X509 *issuer = NULL;
	bool named = false;
	char dn[512], date[64];
	int64_t thisu, nextu;
	size_t n;

	if (issuer_r != NULL)
		*issuer_r = NULL;
	dn_str(iss, dn, sizeof(dn));
	for (int i = 0; i < sk_X509_num(t->certs) && issuer == NULL; i++) {
		X509 *x = sk_X509_value(t->certs, i);
		if (X509_NAME_cmp(X509_get_subject_name(x), iss) != 0)
			continue;
		named = true;
		EVP_PKEY *pub = X509_get0_pubkey(x);
		if (pub != NULL && X509_CRL_verify(crl, pub) == 1)
			issuer = x;
	}
	ERR_clear_error();
	if (issuer == NULL && !named)
		return fail(err, errlen, ERR_NOTFOUND, "the CRL's issuer '%s' "
		    "is not in the trust store", dn);
	if (issuer == NULL)
		return fail(err, errlen, ERR_INVAL, "the CRL's signature does "
		    "not verify with the key of '%s'", dn);
	if ((X509_get_extension_flags(issuer) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(issuer) & KU_CRL_SIGN))
		return fail(err, errlen, ERR_INVAL, "'%s' may not sign CRLs "
		    "(its key usage lacks cRLSign)", dn);
	pki_crl_times(crl, &thisu, &nextu, &n);
	if (thisu > now + 300) {
		pki_time_str(thisu, date, sizeof(date));
		return fail(err, errlen, ERR_INVAL, "the CRL of '%s' is not "
		    "yet valid (thisUpdate %s)", dn, date);
	}
	if (nextu != 0 && nextu < now) {
		pki_time_str(nextu, date, sizeof(date));
		return fail(err, errlen, ERR_INVAL, "the CRL of '%s' expired "
		    "on %s (its nextUpdate): get a newer one", dn, date);
	}
	if (issuer_r != NULL)
		*issuer_r = issuer;
	return 0;
}

/* ---- the trust folder ---- */

/* trust_name - a file name from the CN (or the hash): lower case,
 * [a-z0-9] and single dashes, at most 48 characters. */
static void
trust_name(X509 *x, char *out, size_t size)
{
	char cn[256];
	size_t o = 0;
	bool dash = false;

	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn));
	for (int i = 0; i < n && o + 1 < size && o < 48; i++) {
		char ch = cn[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
			if (dash && o > 0)
				out[o++] = '-';
			if (o + 1 < size)
				out[o++] = ch;
			dash = false;
		} else {
			dash = true;
		}
	}
	out[o] = '\0';
	ERR_clear_error();
	if (o == 0)
		snprintf(out, size, "ca-%08lx",
		    X509_subject_name_hash(x) & 0xffffffffUL);
}

static bool
hash_link_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 10 || strspn(name, "0123456789abcdef") != 8 || name[8] != '.')
		return false;
	return strspn(name + 9, "0123456789") == n - 9;
}

/* trustdir_relink - drop every HASH.N link and make them again from the
 * *.pem files, numbered from 0 with no gap (hash_dir look-ups stop at
 * the first missing number). */
static int
trustdir_relink(const char *dir, char *err, size_t errlen)
{
	static const char *const suffixes[] = { ".pem", NULL };
	char path[4096], link[4096];
	char **names;
	size_t n;
	struct dirent *de;
	int r;

	DIR *d = opendir(dir);
	if (d == NULL)
		return fail(err, errlen, ERR_IO, "%s: cannot open: %s", dir,
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		if (!hash_link_name(de->d_name) ||
		    path_join(path, sizeof(path), dir, de->d_name) < 0 ||
		    lstat(path, &sb) != 0 || !S_ISLNK(sb.st_mode))
			continue;
		if (unlink(path) != 0) {
			int e = errno;
			closedir(d);
			return fail(err, errlen, ERR_IO, "%s: cannot remove: "
			    "%s", path, strerror(e));
		}
	}
	closedir(d);
	if ((r = dir_files(dir, suffixes, &names, &n, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char *data;
		size_t len;
		struct pki_bundle b;
		if (path_join(path, sizeof(path), dir, names[i]) < 0) {
			r = ERR_LIMIT;
			break;
		}
		if ((r = read_file(path, PKI_CERT_FILE_MAX, &data, &len, err,
		    errlen)) < 0)
			break;
		r = pki_bundle_load_mem(path, data, len, NULL, &b, err,
		    errlen);
		free_secret(data, len);
		if (r < 0)
			break;
		if (b.cert == NULL) {
			pki_bundle_free(&b);
			continue;
		}
		unsigned long h = X509_subject_name_hash(b.cert) & 0xffffffffUL;
		pki_bundle_free(&b);
		int k;
		for (k = 0; k < TRUST_LINKS_MAX; k++) {
			if (str_fmt(link, sizeof(link), "%s/%08lx.%d", dir, h,
			    k) < 0)
				return ERR_LIMIT;
			if (!file_exists(link))
				break;
		}
		if (k == TRUST_LINKS_MAX || symlink(names[i], link) != 0)
			r = fail(err, errlen, ERR_IO, "%s: cannot link: %s",
			    link, k == TRUST_LINKS_MAX ? "too many "
			    "certificates with this subject" : strerror(errno));
	}
	free_names(names, n);
	return r;
}

struct trust_find {
	X509 *x;
	char name[256];
	bool found;
};

static int
trust_find_cb(const char *file, X509 *x, void *arg)
{
	struct trust_find *f = arg;
	if (X509_cmp(x, f->x) == 0) {
		snprintf(f->name, sizeof(f->name), "%s", file);
		f->found = true;
		return 1;
	}
	return 0;
}

int
pki_trustdir_add(const char *certs_dir, X509 *x, char *name_r, size_t size,
		 char *err, size_t errlen)
{
	struct trust_find f = { x, "", false };
	char dir[4096], base[64], file[128], path[4096];
	struct pki_staged s = { "", "" };
	int r;

	if (path_join(dir, sizeof(dir), certs_dir, PKI_TRUST_DIR) < 0)
		return fail(err, errlen, ERR_LIMIT, "%s: path too long",
		    certs_dir);
	if ((r = pki_trustdir_iter(certs_dir, trust_find_cb, &f, err,
	    errlen)) < 0)
		return r;
	if (f.found) {
		snprintf(name_r, size, "%s", f.name);
		return 0;
	}
	if (mkdir(certs_dir, 0700) != 0 && errno != EEXIST)
		return fail(err, errlen, ERR_IO, "%s: cannot create: %s",
		    certs_dir, strerror(errno));
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return fail(err, errlen, ERR_IO, "%s: cannot create: %s", dir,
		    strerror(errno));
	trust_name(x, base, sizeof(base));
	for (int i = 1; i < TRUST_LINKS_MAX; i++) {
		if (i == 1)
			snprintf(file, sizeof(file), "%s.pem", base);
		else
			snprintf(file, sizeof(file), "%s-%d.pem", base, i);
		if (path_join(path, sizeof(path), dir, file) < 0)
			return fail(err, errlen, ERR_LIMIT, "%s: path too "
			    "long", dir);
		if (!file_exists(path))
			break;
		path[0] = '\0';
	}
	if (path[0] == '\0')
		return fail(err, errlen, ERR_EXISTS, "%s: too many "
		    "certificates named %s", dir, base);
	if ((r = pki_stage_cert(&s, path, x, NULL, err, errlen)) < 0 ||
	    (r = pki_stage_commit_new(&s, err, errlen)) < 0)
		return r;
	if ((r = trustdir_relink(dir, err, errlen)) < 0) {
		(void)unlink(path);
		return r;
	}
	snprintf(name_r, size, "%s", file);
	return 1;
}

int
pki_trustdir_remove(const char *certs_dir, const char *what, char *err,
		    size_t errlen)
{
	static const char *const suffixes[] = { ".pem", NULL };
	char dir[4096], path[4096], want[256], target[256];
	char **names;
	size_t n;
	int r, removed = 0;
	bool by_hash = strlen(what) == 8 && strspn(what, "0123456789abcdef")
	    == 8;

	if (what[0] == '\0' || what[0] == '.' || strchr(what, '/') != NULL ||
	    strlen(what) > 200)
		return fail(err, errlen, ERR_INVAL, "'%s': give a subject hash "
		    "(8 hex digits), a HASH.N link or a file name of the trust "
		    "folder", what);
	if (path_join(dir, sizeof(dir), certs_dir, PKI_TRUST_DIR) < 0)
		return fail(err, errlen, ERR_LIMIT, "%s: path too long",
		    certs_dir);
	want[0] = '\0';
	if (hash_link_name(what)) {
		ssize_t k;
		if (path_join(path, sizeof(path), dir, what) < 0)
			return ERR_LIMIT;
		k = readlink(path, target, sizeof(target) - 1);
		if (k <= 0)
			return 0;
		target[k] = '\0';
		if (strchr(target, '/') != NULL)
			return 0;
		snprintf(want, sizeof(want), "%s", target);
	} else if (!by_hash) {
		size_t wl = strlen(what);
		snprintf(want, sizeof(want), "%s%s", what, wl > 4 &&
		    strcmp(what + wl - 4, ".pem") == 0 ? "" : ".pem");
	}
	if ((r = dir_files(dir, suffixes, &names, &n, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		bool match = false;
		if (path_join(path, sizeof(path), dir, names[i]) < 0) {
			r = ERR_LIMIT;
			break;
		}
		if (by_hash) {
			struct pki_bundle b;
			if (pki_bundle_load_file(path, NULL, &b, err, errlen)
			    == 0 && b.cert != NULL) {
				char h[16];
				snprintf(h, sizeof(h), "%08lx",
				    X509_subject_name_hash(b.cert) &
				    0xffffffffUL);
				match = strcmp(h, what) == 0;
			}
			pki_bundle_free(&b);
			err[0] = '\0';
		} else {
			match = strcmp(names[i], want) == 0;
		}
		if (!match)
			continue;
		if (unlink(path) != 0) {
			r = fail(err, errlen, ERR_IO, "%s: cannot remove: %s",
			    path, strerror(errno));
			break;
		}
		removed++;
	}
	free_names(names, n);
	if (r < 0)
		return r;
	if (removed > 0 && (r = trustdir_relink(dir, err, errlen)) < 0)
		return r;
	return removed;
}
