/* SPDX-License-Identifier: MIT */
/*
 * pki_smime.c - S/MIME signing, verification and encryption (see
 * pki_smime.h). Signing writes the detached SignedData itself, in DER,
 * around parts encoded once when the signer is loaded (certificates,
 * signer identifier, algorithm identifiers): per message it costs two
 * SHA-256 over the content and the signed attributes and one private-key
 * operation, on digest and key contexts kept from one message to the
 * next, which is what `openssl speed` measures. CMS_sign rebuilds the
 * whole structure and fetches its algorithms on every call: 4 to 5 times
 * slower for P-256 here.
 * Verification, encryption and decryption use OpenSSL's CMS. The MIME
 * around them is written here, in CRLF, never by SMIME_write_CMS (which
 * mixes LF and CRLF lines).
 */
#include "pki_smime.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "core/str.h"
#include "mime/mime.h"

#define CTX_POOL_MAX 16		/* idle signing contexts kept per signer */
#define SIG_MAX 1024		/* signature bytes: RSA up to 8192 bits */
#define RSA_BITS_MIN 2048
#define B64_LINE_IN 57		/* bytes per 76-character base64 line */
#define QP_LINE_MAX 76
#define LINE_MAX_SMTP 998	/* RFC 5322 2.1.1, CRLF excluded */
#define CT_VALUE_MAX 4096	/* a Content-Type value we parse */
#define PARAM_MAX 256
#define SIG_PART_MAX ((size_t)1 << 20)	/* a decoded smime.p7s */
#define INNER_MAX (3 * PKI_SMIME_MSG_MAX + 65536)	/* after QP */
#define NPOS ((size_t)-1)

/* ---- DER pieces of a SignedData (RFC 5652, RFC 5754, RFC 8551) ---- */

#define OID_PKCS9(n) 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, \
	0x01, 0x09, (n)
#define OID_AES(n) 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, \
	0x01, (n)

static const unsigned char OID_DATA[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
};
static const unsigned char OID_SIGNED_DATA[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
};
static const unsigned char OID_SIGNING_TIME[] = { OID_PKCS9(0x05) };
static const unsigned char OID_MESSAGE_DIGEST[] = { OID_PKCS9(0x04) };
/* SHA-256 without parameters (RFC 5754 2). */
static const unsigned char ALG_SHA256[] = {
	0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
	0x02, 0x01
};
/* rsaEncryption with NULL parameters (RFC 3370 3.2, as OpenSSL). */
static const unsigned char ALG_RSA[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	0x01, 0x01, 0x05, 0x00
};
/* ecdsa-with-SHA256, no parameters (RFC 5758 3.2). */
static const unsigned char ALG_ECDSA_SHA256[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03,
	0x02
};
/* Attribute contentType = id-data. */
static const unsigned char ATTR_CONTENT_TYPE[] = {
	0x30, 0x18, OID_PKCS9(0x03), 0x31, 0x0b,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
};
/* Attribute SMIMECapabilities (RFC 8551 2.5.2): AES-256-CBC, AES-128-CBC,
 * what pki_smime_encrypt and its peers use. */
static const unsigned char ATTR_SMIME_CAPS[] = {
	0x30, 0x29, OID_PKCS9(0x0f), 0x31, 0x1c, 0x30, 0x1a,
	0x30, 0x0b, OID_AES(0x2a), 0x30, 0x0b, OID_AES(0x02)
};

/* What one signature needs, kept between messages (not thread-safe:
 * a signer lends one to each signing thread). */
struct sign_ctx {
	EVP_PKEY_CTX *pk;	/* initialized for signing */
	EVP_MD_CTX *md;
};

struct pki_smime_signer {
	EVP_PKEY *key;
	X509 *cert;
	EVP_MD *sha256;
	bool is_rsa;
	unsigned char *sd_head;	/* SignedData: version .. [0] certificates */
	size_t sd_head_len;
	unsigned char *si_head;	/* SignerInfo: version, sid, digestAlgorithm */
	size_t si_head_len;
	pthread_mutex_t lock;	/* guards pool */
	struct sign_ctx *pool[CTX_POOL_MAX];
	size_t n_pool;
	char name[PKI_SMIME_TEXT_MAX];
};

struct der_item {
	const unsigned char *p;
	size_t len;
};

static void
sign_ctx_free(struct sign_ctx *c)
{
	if (c != NULL) {
		EVP_PKEY_CTX_free(c->pk);
		EVP_MD_CTX_free(c->md);
		free(c);
	}
}

/* ---- small helpers ---- */

static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* fail - write one line into err (control characters become '?') and
 * return code. */
static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return code;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *c = err; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return code;
}

/* ossl_reason - the reason of the last OpenSSL error, or dflt; the error
 * queue is emptied. */
static const char *
ossl_reason(const char *dflt)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : dflt;
}

/* text_safe - p[n] as printable ASCII into out[size]: other bytes become
 * '?', '"' and '\' are escaped with '\'; cut before a character that
 * does not fit whole. */
static void
text_safe(const unsigned char *p, size_t n, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		size_t need = c == '"' || c == '\\' ? 2 : 1;
		if (o + need >= size)
			break;
		if (need == 2)
			out[o++] = '\\';
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

static void
fmt_time(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)str_copy(out, size, "(unreadable date)");
}

/* cert_name - the first e-mail address of the subject alternative names,
 * else the subject's emailAddress, else its CN, made safe (text_safe). */
static void
cert_name(X509 *x, char *out, size_t size)
{
	static const int nids[] = { NID_pkcs9_emailAddress, NID_commonName };
	GENERAL_NAMES *gens;

	out[0] = '\0';
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_EMAIL) {
			text_safe(ASN1_STRING_get0_data(g->d.rfc822Name),
			    (size_t)ASN1_STRING_length(g->d.rfc822Name), out,
			    size);
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	X509_NAME *nm = X509_get_subject_name(x);
	for (size_t k = 0; out[0] == '\0' && k < 2; k++) {
		int idx = X509_NAME_get_index_by_NID(nm, nids[k], -1);
		if (idx < 0)
			continue;
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(nm, idx)));
		if (n >= 0)
			text_safe(u, (size_t)n, out, size);
		OPENSSL_free(u);
	}
	ERR_clear_error();
}

/* subject_line - the subject as one line, for messages. */
static void
subject_line(X509 *x, char *out, size_t size)
{
	char tmp[512];

	if (X509_NAME_oneline(X509_get_subject_name(x), tmp, sizeof(tmp)) ==
	    NULL)
		(void)str_copy(tmp, sizeof(tmp), "?");
	text_safe((const unsigned char *)tmp, strlen(tmp), out, size);
}

/* buf_cut - forget what was appended to b after start. */
static void
buf_cut(struct buf *b, size_t start)
{
	if (b->data != NULL && start <= b->len) {
		b->len = start;
		b->data[start] = '\0';
	}
}

static bool
name_is(const struct strv *name, const char *s)
{
	size_t n = strlen(s);
	return name->len == n && strncasecmp(name->p, s, n) == 0;
}

static bool
name_is_content(const struct strv *name)
{
	return name->len > 8 && strncasecmp(name->p, "Content-", 8) == 0;
}

/* ---- files ---- */

/* read_file - the whole regular file path, at most PKI_SMIME_FILE_MAX
 * bytes, into a NUL-terminated allocation of *cap_r bytes. */
static int
read_file(const char *path, char **data_r, size_t *len_r, size_t *cap_r,
	  char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return fail(err, errlen, ERR_IO, "%s: cannot open: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		close(fd);
		return fail(err, errlen, ERR_IO, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(err, errlen, ERR_INVAL, "%s: not a regular file",
		    path);
	}
	if ((uint64_t)sb.st_size > PKI_SMIME_FILE_MAX) {
		close(fd);
		return fail(err, errlen, ERR_LIMIT, "%s: %lld bytes, more than "
		    "the %zu a certificate or key file may hold", path,
		    (long long)sb.st_size, PKI_SMIME_FILE_MAX);
	}
	size_t cap = (size_t)sb.st_size + 1, off = 0;
	char *data = malloc(cap);
	if (data == NULL) {
		close(fd);
		return fail(err, errlen, ERR_NOMEM, "%s: out of memory", path);
	}
	while (off < cap) {
		ssize_t n = read(fd, data + off, cap - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			OPENSSL_cleanse(data, cap);
			free(data);
			return fail(err, errlen, ERR_IO, "%s: cannot read: %s",
			    path, strerror(e));
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (off == cap) {	/* it grew since fstat */
		OPENSSL_cleanse(data, cap);
		free(data);
		return fail(err, errlen, ERR_IO, "%s: changed while read",
		    path);
	}
	data[off] = '\0';
	*data_r = data;
	*len_r = off;
	*cap_r = cap;
	return 0;
}

static void
wipe_free(char *data, size_t cap)
{
	if (data != NULL) {
		OPENSSL_cleanse(data, cap);
		free(data);
	}
}

struct pem_block {
	const char *p;		/* at "-----BEGIN" */
	size_t len;		/* through the END line */
	unsigned line;		/* of the BEGIN line, from 1 */
	char label[64];
};

/* next_line - the line at *off of data[len]: its start, its length
 * without trailing CR, spaces and tabs; *off moves past its LF. */
static const char *
next_line(const char *data, size_t len, size_t *off, size_t *tl_r)
{
	const char *ls = data + *off;
	const char *nl = memchr(ls, '\n', len - *off);
	size_t ll = nl != NULL ? (size_t)(nl - ls) : len - *off;

	*off += ll + (nl != NULL ? 1 : 0);
	while (ll > 0 && (ls[ll - 1] == '\r' || ls[ll - 1] == ' ' ||
	    ls[ll - 1] == '\t'))
		ll--;
	*tl_r = ll;
	return ls;
}

/* pem_next - the next PEM block of data[len] from *off (*line counts the
 * lines read): 1 and *blk, 0 when no block is left, ERR_PROTO when a
 * BEGIN line has no END line (blk says which). */
static int
pem_next(const char *data, size_t len, size_t *off, unsigned *line,
	 struct pem_block *blk)
{
	while (*off < len) {
		size_t tl;
		const char *ls = next_line(data, len, off, &tl);
		(*line)++;
		if (tl < 17 || memcmp(ls, "-----BEGIN ", 11) != 0 ||
		    memcmp(ls + tl - 5, "-----", 5) != 0 ||
		    tl - 16 >= sizeof(blk->label))
			continue;
		memcpy(blk->label, ls + 11, tl - 16);
		blk->label[tl - 16] = '\0';
		blk->p = ls;
		blk->line = *line;
		char end[96];
		if (str_fmt(end, sizeof(end), "-----END %s-----", blk->label)
		    < 0)
			return ERR_PROTO;
		size_t elen = strlen(end);
		while (*off < len) {
			const char *es = next_line(data, len, off, &tl);
			(*line)++;
			if (tl == elen && memcmp(es, end, elen) == 0) {
				blk->len = (size_t)(data + *off - blk->p);
				return 1;
			}
		}
		return ERR_PROTO;
	}
	return 0;
}

/* no_pem - the error for a file without the PEM block wanted. */
static int
no_pem(const char *path, const char *data, size_t len, const char *what,
       const char *convert, char *err, size_t errlen)
{
	if (len == 0)
		return fail(err, errlen, ERR_INVAL, "%s: empty file", path);
	if ((unsigned char)data[0] == 0x30 && strstr(data, "-----BEGIN")
	    == NULL)
		return fail(err, errlen, ERR_INVAL, "%s: DER data, not PEM "
		    "(convert it: %s)", path, convert);
	return fail(err, errlen, ERR_INVAL, "%s: no PEM %s found", path,
	    what);
}

static bool
is_cert_label(const char *l)
{
	return strcmp(l, "CERTIFICATE") == 0 ||
	    strcmp(l, "X509 CERTIFICATE") == 0 ||
	    strcmp(l, "TRUSTED CERTIFICATE") == 0;
}

/* load_certs - every certificate of the PEM file path (data[len]) pushed
 * on sk, other blocks skipped. Returns how many (at least 1). */
static int
load_certs(const char *path, const char *data, size_t len,
	   STACK_OF(X509) *sk, char *err, size_t errlen)
{
	struct pem_block blk;
	size_t off = 0;
	unsigned line = 0;
	int r, n = 0;

	while ((r = pem_next(data, len, &off, &line, &blk)) == 1) {
		if (!is_cert_label(blk.label))
			continue;
		BIO *b = BIO_new_mem_buf(blk.p, (int)blk.len);
		X509 *x = b != NULL ? PEM_read_bio_X509_AUX(b, NULL, NULL,
		    NULL) : NULL;
		BIO_free(b);
		if (x == NULL)
			return fail(err, errlen, ERR_INVAL, "%s:%u: corrupted "
			    "certificate: %s", path, blk.line,
			    ossl_reason("cannot decode"));
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			return fail(err, errlen, ERR_NOMEM, "%s: out of memory",
			    path);
		}
		n++;
	}
	if (r < 0)
		return fail(err, errlen, ERR_INVAL, "%s:%u: -----BEGIN %s----- "
		    "without its END line (truncated?)", path, blk.line,
		    blk.label);
	if (n == 0)
		return no_pem(path, data, len, "certificate",
		    "openssl x509 -inform DER -outform PEM", err, errlen);
	return n;
}

struct pass_ctx {
	const char *pass;
	bool asked;
};

static int
pass_cb(char *out, int size, int rwflag, void *u)
{
	struct pass_ctx *pc = u;
	(void)rwflag;

	pc->asked = true;
	if (pc->pass == NULL || size < 0)
		return -1;
	size_t n = strlen(pc->pass);
	if (n > (size_t)size)
		return -1;
	memcpy(out, pc->pass, n);
	return (int)n;
}

/* load_key - the first private key block of the PEM file path. */
static int
load_key(const char *path, const char *data, size_t len, const char *pass,
	 EVP_PKEY **key_r, char *err, size_t errlen)
{
	struct pem_block blk;
	size_t off = 0;
	unsigned line = 0;
	int r;

	while ((r = pem_next(data, len, &off, &line, &blk)) == 1) {
		size_t ll = strlen(blk.label);
		if (ll < 11 || strcmp(blk.label + ll - 11, "PRIVATE KEY") != 0)
			continue;
		struct pass_ctx pc = { pass, false };
		BIO *b = BIO_new_mem_buf(blk.p, (int)blk.len);
		EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL,
		    pass_cb, &pc) : NULL;
		BIO_free(b);
		if (k != NULL) {
			ERR_clear_error();
			*key_r = k;
			return 0;
		}
		if (pc.asked && pass == NULL) {
			ERR_clear_error();
			return fail(err, errlen, ERR_AUTH, "%s:%u: the key is "
			    "encrypted and no passphrase was given", path,
			    blk.line);
		}
		if (pc.asked)
			return fail(err, errlen, ERR_AUTH, "%s:%u: cannot "
			    "decrypt the key, wrong passphrase? (%s)", path,
			    blk.line, ossl_reason("decryption failed"));
		return fail(err, errlen, ERR_INVAL, "%s:%u: corrupted private "
		    "key: %s", path, blk.line, ossl_reason("cannot decode"));
	}
	if (r < 0)
		return fail(err, errlen, ERR_INVAL, "%s:%u: -----BEGIN %s----- "
		    "without its END line (truncated?)", path, blk.line,
		    blk.label);
	return no_pem(path, data, len, "private key",
	    "openssl pkey -inform DER -outform PEM", err, errlen);
}

/* check_validity - x is valid now; what names it in messages. */
static int
check_validity(X509 *x, const char *path, const char *what, char *err,
	       size_t errlen)
{
	char when[64];

	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		fmt_time(X509_get0_notBefore(x), when, sizeof(when));
		return fail(err, errlen, ERR_INVAL, "%s: %s not valid before "
		    "%s", path, what, when);
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		fmt_time(X509_get0_notAfter(x), when, sizeof(when));
		return fail(err, errlen, ERR_INVAL, "%s: %s expired on %s",
		    path, what, when);
	}
	return 0;
}

/* ---- the signer ---- */

/* der_tl - the tag and DER length of a value of n bytes, written at out
 * when out is not NULL; returns their size. */
static size_t
der_tl(unsigned char *out, unsigned char tag, size_t n)
{
	unsigned char tmp[sizeof(size_t)];
	size_t k = 0;

	if (n < 0x80) {
		if (out != NULL) {
			out[0] = tag;
			out[1] = (unsigned char)n;
		}
		return 2;
	}
	for (size_t v = n; v > 0; v >>= 8)
		tmp[k++] = (unsigned char)(v & 0xff);
	if (out != NULL) {
		out[0] = tag;
		out[1] = (unsigned char)(0x80 | k);
		for (size_t i = 0; i < k; i++)
			out[2 + i] = tmp[k - 1 - i];
	}
	return 2 + k;
}

/* der_cmp - X.690 11.6 order of the elements of a SET OF: encodings
 * compared as octet strings, the shorter padded with zeros. */
static int
der_cmp(const void *a, const void *b)
{
	const struct der_item *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* build_heads - the constant parts of every SignedData of s: version,
 * digestAlgorithms, encapContentInfo and the certificates (DER order,
 * duplicates dropped), then the SignerInfo's version, issuerAndSerial
 * and digestAlgorithm. */
static int
build_heads(struct pki_smime_signer *s, STACK_OF(X509) *certs)
{
	int n = sk_X509_num(certs), r = ERR_NOMEM;
	struct der_item *items = calloc((size_t)n, sizeof(*items));
	unsigned char *iss = NULL, *ser = NULL;
	size_t n_items = 0, certs_len = 0;

	if (items == NULL)
		return ERR_NOMEM;
	for (int i = 0; i < n; i++) {
		unsigned char *d = NULL;
		int dl = i2d_X509(sk_X509_value(certs, i), &d);
		if (dl <= 0)
			goto out;
		bool dup = false;
		for (size_t j = 0; j < n_items && !dup; j++)
			dup = items[j].len == (size_t)dl &&
			    memcmp(items[j].p, d, (size_t)dl) == 0;
		if (dup) {
			OPENSSL_free(d);
			continue;
		}
		items[n_items].p = d;
		items[n_items++].len = (size_t)dl;
		certs_len += (size_t)dl;
	}
	qsort(items, n_items, sizeof(*items), der_cmp);

	static const unsigned char version1[] = { 0x02, 0x01, 0x01 };
	size_t set_len = der_tl(NULL, 0x31, sizeof(ALG_SHA256)) +
	    sizeof(ALG_SHA256);
	size_t encap_len = der_tl(NULL, 0x30, sizeof(OID_DATA)) +
	    sizeof(OID_DATA);
	s->sd_head_len = sizeof(version1) + set_len + encap_len +
	    der_tl(NULL, 0xa0, certs_len) + certs_len;
	s->sd_head = malloc(s->sd_head_len);
	if (s->sd_head == NULL)
		goto out;
	unsigned char *p = s->sd_head;
	memcpy(p, version1, sizeof(version1));
	p += sizeof(version1);
	p += der_tl(p, 0x31, sizeof(ALG_SHA256));
	memcpy(p, ALG_SHA256, sizeof(ALG_SHA256));
	p += sizeof(ALG_SHA256);
	p += der_tl(p, 0x30, sizeof(OID_DATA));
	memcpy(p, OID_DATA, sizeof(OID_DATA));
	p += sizeof(OID_DATA);
	p += der_tl(p, 0xa0, certs_len);
	for (size_t j = 0; j < n_items; j++) {
		memcpy(p, items[j].p, items[j].len);
		p += items[j].len;
	}

	int il = i2d_X509_NAME(X509_get_issuer_name(s->cert), &iss);
	int sl = i2d_ASN1_INTEGER(X509_get0_serialNumber(s->cert), &ser);
	if (il <= 0 || sl <= 0)
		goto out;
	size_t ias = (size_t)il + (size_t)sl;
	s->si_head_len = sizeof(version1) + der_tl(NULL, 0x30, ias) + ias +
	    sizeof(ALG_SHA256);
	s->si_head = malloc(s->si_head_len);
	if (s->si_head == NULL)
		goto out;
	p = s->si_head;
	memcpy(p, version1, sizeof(version1));
	p += sizeof(version1);
	p += der_tl(p, 0x30, ias);
	memcpy(p, iss, (size_t)il);
	p += il;
	memcpy(p, ser, (size_t)sl);
	p += sl;
	memcpy(p, ALG_SHA256, sizeof(ALG_SHA256));
	r = 0;
out:
	for (size_t j = 0; j < n_items; j++)
		OPENSSL_free((void *)items[j].p);
	free(items);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return r;
}

/* check_signer - the key fits S/MIME signing and the leaf certificate. */
static int
check_signer(EVP_PKEY *key, X509 *leaf, const char *cert_file,
	     const char *key_file, char *err, size_t errlen)
{
	int type = EVP_PKEY_get_base_id(key);

	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC)
		return fail(err, errlen, ERR_INVAL, "%s: a %s key cannot sign "
		    "S/MIME here (RSA or EC only)", key_file,
		    OBJ_nid2sn(type));
	if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < RSA_BITS_MIN)
		return fail(err, errlen, ERR_INVAL, "%s: RSA key of %d bits, "
		    "%d at least", key_file, EVP_PKEY_get_bits(key),
		    RSA_BITS_MIN);
	if (EVP_PKEY_get_size(key) <= 0 || EVP_PKEY_get_size(key) > SIG_MAX)
		return fail(err, errlen, ERR_INVAL, "%s: key too large",
		    key_file);
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		return fail(err, errlen, ERR_INVAL, "%s: the private key does "
		    "not match the certificate in %s", key_file, cert_file);
	}
	int r = check_validity(leaf, cert_file, "certificate", err, errlen);
	if (r < 0)
		return r;
	uint32_t xf = X509_get_extension_flags(leaf);
	if (xf & EXFLAG_INVALID)
		return fail(err, errlen, ERR_INVAL, "%s: the certificate has "
		    "invalid extensions", cert_file);
	if ((xf & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE))
		return fail(err, errlen, ERR_INVAL, "%s: the key usage of the "
		    "certificate lacks digitalSignature, needed to sign",
		    cert_file);
	if ((xf & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(leaf) &
	    (XKU_SMIME | XKU_ANYEKU)))
		return fail(err, errlen, ERR_INVAL, "%s: the extended key "
		    "usage of the certificate lacks emailProtection",
		    cert_file);
	return 0;
}

int
pki_smime_signer_load(const char *cert_file, const char *key_file,
		      const char *chain_file, const char *passphrase,
		      struct pki_smime_signer **signer_r, char *err,
		      size_t errlen)
{
	char *cdata = NULL, *kdata = NULL, *hdata = NULL;
	size_t clen = 0, ccap = 0, klen = 0, kcap = 0, hlen = 0, hcap = 0;
	STACK_OF(X509) *certs = sk_X509_new_null();
	EVP_PKEY *key = NULL;
	struct pki_smime_signer *s = NULL;
	int r, n_cert_file;

	*signer_r = NULL;
	if (errlen > 0)
		err[0] = '\0';
	ERR_clear_error();
	if (certs == NULL)
		return fail(err, errlen, ERR_NOMEM, "out of memory");
	r = read_file(cert_file, &cdata, &clen, &ccap, err, errlen);
	if (r < 0)
		goto out;
	r = n_cert_file = load_certs(cert_file, cdata, clen, certs, err,
	    errlen);
	if (r < 0)
		goto out;
	r = read_file(key_file, &kdata, &klen, &kcap, err, errlen);
	if (r < 0)
		goto out;
	r = load_key(key_file, kdata, klen, passphrase, &key, err, errlen);
	wipe_free(kdata, kcap);
	kdata = NULL;
	if (r < 0)
		goto out;
	if (chain_file != NULL) {
		r = read_file(chain_file, &hdata, &hlen, &hcap, err, errlen);
		if (r < 0)
			goto out;
		r = load_certs(chain_file, hdata, hlen, certs, err, errlen);
		if (r < 0)
			goto out;
	}
	X509 *leaf = sk_X509_value(certs, 0);
	r = check_signer(key, leaf, cert_file, key_file, err, errlen);
	if (r < 0)
		goto out;
	for (int i = 1; i < sk_X509_num(certs); i++) {
		char what[320], subj[256];
		subject_line(sk_X509_value(certs, i), subj, sizeof(subj));
		(void)str_fmt(what, sizeof(what), "chain certificate %s", subj);
		r = check_validity(sk_X509_value(certs, i), i < n_cert_file ?
		    cert_file : chain_file, what, err, errlen);
		if (r < 0)
			goto out;
	}

	r = ERR_NOMEM;
	s = calloc(1, sizeof(*s));
	if (s == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		s = NULL;
		(void)fail(err, errlen, r, "out of memory");
		goto out;
	}
	s->key = key;
	key = NULL;
	s->cert = leaf;
	X509_up_ref(leaf);
	s->is_rsa = EVP_PKEY_get_base_id(s->key) == EVP_PKEY_RSA;
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	cert_name(leaf, s->name, sizeof(s->name));
	if (s->sha256 == NULL || build_heads(s, certs) < 0) {
		(void)fail(err, errlen, ERR_CRYPTO, "%s: cannot prepare the "
		    "signature: %s", cert_file, ossl_reason("no SHA-256"));
		r = ERR_CRYPTO;
		goto out;
	}
	*signer_r = s;
	s = NULL;
	r = 0;
out:
	pki_smime_signer_free(&s);
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	wipe_free(kdata, kcap);
	free(cdata);
	free(hdata);
	ERR_clear_error();
	return r;
}

void
pki_smime_signer_free(struct pki_smime_signer **signer)
{
	struct pki_smime_signer *s = signer != NULL ? *signer : NULL;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_pool; i++)
		sign_ctx_free(s->pool[i]);
	pthread_mutex_destroy(&s->lock);
	EVP_PKEY_free(s->key);	/* OpenSSL clears private key material */
	X509_free(s->cert);
	EVP_MD_free(s->sha256);
	free(s->sd_head);
	free(s->si_head);
	free(s);
	*signer = NULL;
}

const char *
pki_smime_signer_name(const struct pki_smime_signer *signer)
{
	return signer->name;
}

/* ctx_take - a signing context of s: an idle one, or a new one. */
static struct sign_ctx *
ctx_take(struct pki_smime_signer *s)
{
	struct sign_ctx *c = NULL;

	if (pthread_mutex_lock(&s->lock) == 0) {
		if (s->n_pool > 0)
			c = s->pool[--s->n_pool];
		pthread_mutex_unlock(&s->lock);
	}
	if (c != NULL)
		return c;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->md = EVP_MD_CTX_new();
	c->pk = EVP_PKEY_CTX_new_from_pkey(NULL, s->key, NULL);
	if (c->md == NULL || c->pk == NULL || EVP_PKEY_sign_init(c->pk) <= 0 ||
	    (s->is_rsa && EVP_PKEY_CTX_set_rsa_padding(c->pk,
	    RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(c->pk, s->sha256) <= 0) {
		sign_ctx_free(c);
		return NULL;
	}
	return c;
}

/* ctx_give - back to the pool (or freed when the pool is full). */
static void
ctx_give(struct pki_smime_signer *s, struct sign_ctx *c)
{
	if (pthread_mutex_lock(&s->lock) == 0) {
		if (s->n_pool < CTX_POOL_MAX) {
			s->pool[s->n_pool++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&s->lock);
	}
	sign_ctx_free(c);
}

static bool
sha256(struct pki_smime_signer *s, EVP_MD_CTX *md, const void *p, size_t n,
       unsigned char *out)
{
	unsigned int len = 0;

	return EVP_DigestInit_ex2(md, s->sha256, NULL) == 1 &&
	    EVP_DigestUpdate(md, p, n) == 1 &&
	    EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
}

/* attr3 - an Attribute of one value: SEQUENCE { oid, SET { tag value } },
 * written at out (room enough: 2 + 11 + 2 + 2 + n < 128). */
static size_t
attr3(unsigned char *out, const unsigned char *oid, size_t oid_len,
      unsigned char tag, const void *value, size_t n)
{
	size_t v = 2 + n, set = 2 + v, seq = oid_len + set;
	unsigned char *p = out;

	p += der_tl(p, 0x30, seq);
	memcpy(p, oid, oid_len);
	p += oid_len;
	p += der_tl(p, 0x31, v);
	p += der_tl(p, tag, n);
	memcpy(p, value, n);
	return 2 + seq;
}

/* signed_data - the DER ContentInfo of a detached SignedData over
 * content[len], into buf[cap] when it fits, else malloc'd (*der_r says
 * where); the SHA-256 of the content into md[32]. */
static int
signed_data(struct pki_smime_signer *s, const char *content, size_t len,
	    unsigned char *md, unsigned char *buf, size_t cap,
	    unsigned char **der_r, size_t *der_len_r, char *err,
	    size_t errlen)
{
	unsigned char amd[32], a_time[64], a_md[96], attrs[256], sig[SIG_MAX];
	struct der_item items[4];
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);
	struct sign_ctx *c = ctx_take(s);

	if (c == NULL)
		return fail(err, errlen, ERR_NOMEM, "%s: no signing context: "
		    "%s", s->name, ossl_reason("out of memory"));
	if (!sha256(s, c->md, content, len, md)) {
		sign_ctx_free(c);
		return fail(err, errlen, ERR_CRYPTO, "SHA-256 failed: %s",
		    ossl_reason("?"));
	}
	/* signingTime: UTCTime through 2049, GeneralizedTime after
	 * (RFC 5652 11.3). */
	if (gmtime_r(&now, &tm) == NULL) {
		sign_ctx_free(c);
		return fail(err, errlen, ERR_CRYPTO, "no clock");
	}
	bool utc = tm.tm_year >= 50 && tm.tm_year < 150;
	int f[6] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec };
	size_t tsl = 0;
	if (f[0] > 9999) {
		sign_ctx_free(c);
		return fail(err, errlen, ERR_CRYPTO, "no clock");
	}
	if (!utc) {
		ts[tsl++] = (char)('0' + f[0] / 1000);
		ts[tsl++] = (char)('0' + f[0] / 100 % 10);
	}
	for (size_t i = 0; i < 6; i++) {
		ts[tsl++] = (char)('0' + f[i] / 10 % 10);
		ts[tsl++] = (char)('0' + f[i] % 10);
	}
	ts[tsl++] = 'Z';
	items[0].p = ATTR_CONTENT_TYPE;
	items[0].len = sizeof(ATTR_CONTENT_TYPE);
	items[1].p = a_time;
	items[1].len = attr3(a_time, OID_SIGNING_TIME,
	    sizeof(OID_SIGNING_TIME), utc ? 0x17 : 0x18, ts, tsl);
	items[2].p = a_md;
	items[2].len = attr3(a_md, OID_MESSAGE_DIGEST,
	    sizeof(OID_MESSAGE_DIGEST), 0x04, md, 32);
	items[3].p = ATTR_SMIME_CAPS;
	items[3].len = sizeof(ATTR_SMIME_CAPS);
	/* Signed attributes are a DER SET OF: sorted, since verifiers
	 * (OpenSSL among them) re-encode them before checking. */
	qsort(items, 4, sizeof(items[0]), der_cmp);
	size_t al = 0;
	for (size_t i = 0; i < 4; i++)
		al += items[i].len;
	unsigned char *p = attrs + der_tl(attrs, 0x31, al);
	for (size_t i = 0; i < 4; i++) {
		memcpy(p, items[i].p, items[i].len);
		p += items[i].len;
	}
	size_t attrs_len = (size_t)(p - attrs);
	/* RFC 5652 5.4: the digest is over the EXPLICIT SET OF encoding. */
	size_t sig_len = sizeof(sig);
	if (!sha256(s, c->md, attrs, attrs_len, amd) ||
	    EVP_PKEY_sign(c->pk, sig, &sig_len, amd, sizeof(amd)) <= 0) {
		sign_ctx_free(c);	/* its state is unknown */
		return fail(err, errlen, ERR_CRYPTO, "%s: signing failed: %s",
		    s->name, ossl_reason("?"));
	}
	ctx_give(s, c);
	attrs[0] = 0xa0;	/* [0] IMPLICIT in the SignerInfo */

	const unsigned char *alg = s->is_rsa ? ALG_RSA : ALG_ECDSA_SHA256;
	size_t alg_len = s->is_rsa ? sizeof(ALG_RSA) : sizeof(ALG_ECDSA_SHA256);
	size_t si_c = s->si_head_len + attrs_len + alg_len +
	    der_tl(NULL, 0x04, sig_len) + sig_len;
	size_t si = der_tl(NULL, 0x30, si_c) + si_c;
	size_t sis = der_tl(NULL, 0x31, si) + si;
	size_t sd_c = s->sd_head_len + sis;
	size_t sd = der_tl(NULL, 0x30, sd_c) + sd_c;
	size_t ci_c = sizeof(OID_SIGNED_DATA) + der_tl(NULL, 0xa0, sd) + sd;
	size_t total = der_tl(NULL, 0x30, ci_c) + ci_c;
	unsigned char *der = total <= cap ? buf : malloc(total);
	if (der == NULL)
		return fail(err, errlen, ERR_NOMEM, "out of memory");
	p = der;
	p += der_tl(p, 0x30, ci_c);
	memcpy(p, OID_SIGNED_DATA, sizeof(OID_SIGNED_DATA));
	p += sizeof(OID_SIGNED_DATA);
	p += der_tl(p, 0xa0, sd);
	p += der_tl(p, 0x30, sd_c);
	memcpy(p, s->sd_head, s->sd_head_len);
	p += s->sd_head_len;
	p += der_tl(p, 0x31, si);
	p += der_tl(p, 0x30, si_c);
	memcpy(p, s->si_head, s->si_head_len);
	p += s->si_head_len;
	memcpy(p, attrs, attrs_len);
	p += attrs_len;
	memcpy(p, alg, alg_len);
	p += alg_len;
	p += der_tl(p, 0x04, sig_len);
	memcpy(p, sig, sig_len);
	*der_r = der;
	*der_len_r = total;
	return 0;
}

/* ---- MIME: line ends, Content-Type, 7-bit transfer encodings ---- */

/* line_of - the line number of at in msg. */
static size_t
line_of(const char *msg, const char *at)
{
	size_t line = 1;

	for (const char *p = msg; p < at; p++)
		if (*p == '\n')
			line++;
	return line;
}

/* What one pass over a text finds. */
struct text_scan {
	const char *bare_cr;	/* the first CR not followed by LF */
	bool bare_lf;		/* an LF not preceded by CR */
	bool unsafe;		/* a NUL or 8-bit byte, a line over 998 bytes */
};

/* text_scan - one pass over p[n], line by line, eight bytes at a time
 * where nothing is special: mail is signed at the rate of the private-key
 * operation only if its text costs next to nothing. */
static void
text_scan(const char *p, size_t n, struct text_scan *ts)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);
	const uint64_t crs = UINT64_C(0x0d0d0d0d0d0d0d0d);
	const char *start = p, *end = p + n;

	memset(ts, 0, sizeof(*ts));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		if (nl != NULL && (nl == start || nl[-1] != '\r'))
			ts->bare_lf = true;
		/* The line's own bytes: its CRLF left out. */
		if (nl != NULL && le > p && le[-1] == '\r')
			le--;
		size_t m = (size_t)(le - p), i = 0;
		if (m > LINE_MAX_SMTP)
			ts->unsafe = true;
		for (; i + 8 <= m; i += 8) {
			uint64_t w, c;
			memcpy(&w, p + i, 8);
			c = w ^ crs;
			/* a byte >= 0x80, a zero byte or a CR: look closer
			 * (never a miss, rarely a false alarm) */
			if (((w | ((w - ones) & ~w) | ((c - ones) & ~c)) & highs)
			    != 0)
				break;
		}
		for (; i < m; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c == '\r' && ts->bare_cr == NULL)
				ts->bare_cr = p + i;
			else if (c == '\0' || c >= 0x80)
				ts->unsafe = true;
		}
		p = nl != NULL ? nl + 1 : end;
	}
}

/* crlf_check - 1 when msg[len] has bare LF line ends, 0 when every line
 * ends in CRLF; ERR_PROTO for a bare CR when refuse_cr (*line_r: where).
 * *safe_r (when not NULL): nothing a relay would rewrite either. */
static int
crlf_check(const char *msg, size_t len, bool refuse_cr, size_t *line_r,
	   bool *safe_r)
{
	struct text_scan ts;

	text_scan(msg, len, &ts);
	if (safe_r != NULL)
		*safe_r = !ts.unsafe && ts.bare_cr == NULL;
	if (refuse_cr && ts.bare_cr != NULL) {
		*line_r = line_of(msg, ts.bare_cr);
		return ERR_PROTO;
	}
	return ts.bare_lf ? 1 : 0;
}

/* crlf_normalize - msg[len] with every bare LF made CRLF, into out. */
static int
crlf_normalize(const char *msg, size_t len, struct buf *out)
{
	size_t extra = 0, from = 0;
	int r;

	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			extra++;
	r = buf_reserve(out, len + extra);
	for (size_t i = 0; r == 0 && i < len; i++) {
		if (msg[i] != '\n' || (i > 0 && msg[i - 1] == '\r'))
			continue;
		r = buf_add(out, msg + from, i - from);
		if (r == 0)
			r = buf_add(out, "\r\n", 2);
		from = i + 1;
	}
	if (r == 0)
		r = buf_add(out, msg + from, len - from);
	return r;
}

/* body_safe7 - no NUL, no 8-bit byte, no bare CR or LF, no line over
 * 998 bytes: what no relay rewrites. */
static bool
body_safe7(const char *p, size_t n)
{
	struct text_scan ts;

	text_scan(p, n, &ts);
	return !ts.unsafe && !ts.bare_lf && ts.bare_cr == NULL;
}

struct ctype {
	char type[128];		/* "type/subtype", lower case */
	char boundary[PARAM_MAX];
	char protocol[PARAM_MAX];	/* lower case */
	char smime_type[64];		/* lower case */
	bool has_boundary;
};

struct lex {
	const char *p;
	const char *end;
};

/* lex_cfws - skip white space, line ends and comments (nested at most
 * PKI_SMIME_NEST_MAX deep). */
static int
lex_cfws(struct lex *l)
{
	while (l->p < l->end) {
		char c = *l->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->p++;
			continue;
		}
		if (c != '(')
			return 0;
		int depth = 0;
		do {
			c = *l->p++;
			if (c == '\\') {
				if (l->p < l->end)
					l->p++;
			} else if (c == '(') {
				if (++depth > PKI_SMIME_NEST_MAX)
					return ERR_LIMIT;
			} else if (c == ')') {
				depth--;
			}
		} while (depth > 0 && l->p < l->end);
		if (depth > 0)
			return ERR_PROTO;
	}
	return 0;
}

static bool
is_tchar(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* lex_token - an RFC 2045 token into out[size], lower-cased when fold. */
static int
lex_token(struct lex *l, char *out, size_t size, bool fold)
{
	size_t n = 0;

	while (l->p < l->end && is_tchar((unsigned char)*l->p)) {
		char c = *l->p++;
		if (n + 1 >= size)
			return ERR_LIMIT;
		out[n++] = fold && c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	out[n] = '\0';
	return n > 0 ? 0 : ERR_PROTO;
}

/* lex_value - a parameter value, token or quoted-string, into out. */
static int
lex_value(struct lex *l, char *out, size_t size)
{
	size_t n = 0;

	if (l->p >= l->end || *l->p != '"')
		return lex_token(l, out, size, false);
	l->p++;
	while (l->p < l->end && *l->p != '"') {
		char c = *l->p++;
		if (c == '\\') {
			if (l->p == l->end)
				return ERR_PROTO;
			c = *l->p++;
		} else if (c == '\r' || c == '\n') {
			continue;	/* folding */
		}
		if (n + 1 >= size)
			return ERR_LIMIT;
		out[n++] = c;
	}
	if (l->p == l->end)
		return ERR_PROTO;
	l->p++;
	out[n] = '\0';
	return 0;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

/* ctype_parse - an RFC 2045 Content-Type value; the first of each
 * parameter we use is kept. */
static int
ctype_parse(const char *v, size_t n, struct ctype *ct)
{
	struct lex l = { v, v + n };
	char type[64], sub[64], name[64], val[PARAM_MAX];
	int r;

	memset(ct, 0, sizeof(*ct));
	if (n > CT_VALUE_MAX)
		return ERR_LIMIT;
	if ((r = lex_cfws(&l)) < 0 || (r = lex_token(&l, type, sizeof(type),
	    true)) < 0 || (r = lex_cfws(&l)) < 0)
		return r;
	if (l.p >= l.end || *l.p != '/')
		return ERR_PROTO;
	l.p++;
	if ((r = lex_cfws(&l)) < 0 || (r = lex_token(&l, sub, sizeof(sub),
	    true)) < 0)
		return r;
	if (str_fmt(ct->type, sizeof(ct->type), "%s/%s", type, sub) < 0)
		return ERR_LIMIT;
	for (;;) {
		if ((r = lex_cfws(&l)) < 0)
			return r;
		if (l.p >= l.end)
			return 0;
		if (*l.p != ';')
			return ERR_PROTO;
		l.p++;
		if ((r = lex_cfws(&l)) < 0)
			return r;
		if (l.p >= l.end)
			return 0;	/* a trailing ';' */
		if ((r = lex_token(&l, name, sizeof(name), true)) < 0 ||
		    (r = lex_cfws(&l)) < 0)
			return r;
		if (l.p >= l.end || *l.p != '=')
			return ERR_PROTO;
		l.p++;
		if ((r = lex_cfws(&l)) < 0 ||
		    (r = lex_value(&l, val, sizeof(val))) < 0)
			return r;
		if (strcmp(name, "boundary") == 0 && !ct->has_boundary) {
			(void)str_copy(ct->boundary, sizeof(ct->boundary), val);
			ct->has_boundary = val[0] != '\0';
		} else if (strcmp(name, "protocol") == 0 &&
		    ct->protocol[0] == '\0') {
			(void)str_copy(ct->protocol, sizeof(ct->protocol), val);
			lower(ct->protocol);
		} else if (strcmp(name, "smime-type") == 0 &&
		    ct->smime_type[0] == '\0') {
			if (str_copy(ct->smime_type, sizeof(ct->smime_type),
			    val) < 0)
				return ERR_LIMIT;
			lower(ct->smime_type);
		}
	}
}

enum cte_kind { CTE_IDENTITY, CTE_ENCODED, CTE_OTHER };

static enum cte_kind
cte_kind(const struct strv *v)
{
	char tok[32];
	struct lex l = { v->p, v->p + v->len };

	if (v->p == NULL)
		return CTE_IDENTITY;
	if (lex_cfws(&l) < 0 || lex_token(&l, tok, sizeof(tok), true) < 0)
		return CTE_OTHER;
	if (strcmp(tok, "7bit") == 0 || strcmp(tok, "8bit") == 0 ||
	    strcmp(tok, "binary") == 0)
		return CTE_IDENTITY;
	if (strcmp(tok, "base64") == 0 || strcmp(tok, "quoted-printable") == 0)
		return CTE_ENCODED;
	return CTE_OTHER;
}

static bool
cte_is(const struct strv *v, const char *want)
{
	char tok[32];
	struct lex l = { v->p, v->p + v->len };

	return v->p != NULL && lex_cfws(&l) == 0 &&
	    lex_token(&l, tok, sizeof(tok), true) == 0 &&
	    strcmp(tok, want) == 0;
}

/* entity_fields - the first Content-Type and Content-Transfer-Encoding
 * values among the fields hdr[hlen]. */
static void
entity_fields(const char *hdr, size_t hlen, struct strv *ct,
	      struct strv *cte)
{
	struct mime_hdr_iter it;
	struct strv name, value;

	ct->p = cte->p = NULL;
	ct->len = cte->len = 0;
	mime_header_iter_init(&it, hdr, hlen);
	while (mime_header_next(&it, &name, &value) == 1) {
		if (ct->p == NULL && name_is(&name, "Content-Type"))
			*ct = value;
		else if (cte->p == NULL &&
		    name_is(&name, "Content-Transfer-Encoding"))
			*cte = value;
	}
}

/* copy_fields - the fields of hdr[hlen] but those named skip, to out. */
static int
copy_fields(const char *hdr, size_t hlen, const char *skip,
	    struct buf *out)
{
	struct mime_hdr_iter it;
	struct strv name, value;
	int r = 0;

	mime_header_iter_init(&it, hdr, hlen);
	while (r == 0 && mime_header_next(&it, &name, &value) == 1) {
		if (name_is(&name, skip))
			continue;
		r = buf_add(out, name.p, (size_t)(value.p + value.len -
		    name.p));
		if (r == 0)
			r = buf_add(out, "\r\n", 2);
	}
	return r;
}

/* qp_encode - RFC 2045 6.7 quoted-printable of p[n], whose CRLF are hard
 * line breaks, in lines of at most 76 characters. Trailing white space
 * and a "From " starting a line are encoded too (mbox stores rewrite
 * that line). */
static int
qp_encode(const char *p, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[QP_LINE_MAX + 4];
	size_t col = 0;
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n') {
			r = buf_add(out, line, col);
			if (r == 0)
				r = buf_add(out, "\r\n", 2);
			col = 0;
			i++;
			continue;
		}
		bool at_eol = i + 1 == n || (i + 2 < n && p[i + 1] == '\r' &&
		    p[i + 2] == '\n');
		bool from_line = c == 'F' && n - i >= 5 &&
		    memcmp(p + i, "From ", 5) == 0;
		bool lit = ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !at_eol)) &&
		    !(col == 0 && from_line);
		size_t el = lit ? 1 : 3;
		if (col + el > QP_LINE_MAX - 1) {	/* room for '=' */
			r = buf_add(out, line, col);
			if (r == 0)
				r = buf_add(out, "=\r\n", 3);
			col = 0;
			if (from_line) {
				lit = false;
				el = 3;
			}
		}
		if (lit) {
			line[col++] = (char)c;
		} else {
			line[col++] = '=';
			line[col++] = hex[c >> 4];
			line[col++] = hex[c & 15];
		}
	}
	if (r == 0)
		r = buf_add(out, line, col);
	return r;
}

/* b64_lines - base64 of p[n] in CRLF-terminated lines of 76. */
static int
b64_lines(const unsigned char *p, size_t n, struct buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t lines = (n + B64_LINE_IN - 1) / B64_LINE_IN;
	int r = buf_reserve(out, lines * 78);

	if (r < 0)
		return r;
	char *o = out->data + out->len;
	for (size_t i = 0; i < n; i += B64_LINE_IN) {
		size_t k = n - i < B64_LINE_IN ? n - i : B64_LINE_IN, j = 0;
		const unsigned char *q = p + i;
		for (; j + 3 <= k; j += 3) {
			uint32_t v = (uint32_t)q[j] << 16 |
			    (uint32_t)q[j + 1] << 8 | q[j + 2];
			*o++ = tab[v >> 18];
			*o++ = tab[(v >> 12) & 63];
			*o++ = tab[(v >> 6) & 63];
			*o++ = tab[v & 63];
		}
		if (j < k) {
			uint32_t v = (uint32_t)q[j] << 16 |
			    (j + 1 < k ? (uint32_t)q[j + 1] << 8 : 0);
			*o++ = tab[v >> 18];
			*o++ = tab[(v >> 12) & 63];
			*o++ = j + 1 < k ? tab[(v >> 6) & 63] : '=';
			*o++ = '=';
		}
		*o++ = '\r';
		*o++ = '\n';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* b64_decode - base64 p[n] (white space and line ends ignored, nothing
 * but '=' and white space after padding) appended to out. */
static int
b64_decode(const char *p, size_t n, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0, r = buf_reserve(out, n / 4 * 3 + 3);
	bool pad = false;

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad = true;
			continue;
		}
		int d = b64_value(c);
		if (pad || d < 0)
			return ERR_PROTO;
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (char)((acc >> bits) & 0xff);
		}
	}
	out->data[out->len] = '\0';
	return 0;
}

static bool
delim_end_ok(const char *body, size_t len, size_t e)
{
	return e == len || body[e] == '-' || body[e] == ' ' ||
	    body[e] == '\t' || body[e] == '\r';
}

/* find_delim - offset of the next boundary delimiter "--B" of body[len]
 * at or after from: at the start of the body or after a CRLF, followed by
 * "--", white space, CR or the end; NPOS when there is none. */
static size_t
find_delim(const char *body, size_t len, size_t from, const char *b)
{
	char pat[4 + PARAM_MAX];
	size_t bl = strlen(b), pl = 4 + bl;

	memcpy(pat, "\r\n--", 4);
	memcpy(pat + 4, b, bl);
	if (from == 0 && len >= pl - 2 && memcmp(body, pat + 2, pl - 2) == 0 &&
	    delim_end_ok(body, len, pl - 2))
		return 0;
	/* The CRLF before the delimiter may start just before from. */
	size_t s = from >= 2 ? from - 2 : 0;
	while (s < len) {
		const char *hit = memmem(body + s, len - s, pat, pl);
		if (hit == NULL)
			return NPOS;
		size_t o = (size_t)(hit - body) + 2;
		if (o >= from && delim_end_ok(body, len, o + 2 + bl))
			return o;
		s = (size_t)(hit - body) + 1;
	}
	return NPOS;
}

/* delim_next - past the delimiter at d ("--B"): 1 and *next at the
 * start of the part for an ordinary delimiter, 0 and *next past the line
 * for the closing one, ERR_PROTO for garbage after the boundary. */
static int
delim_next(const char *body, size_t len, size_t d, size_t bl, size_t *next)
{
	size_t p = d + 2 + bl;
	bool closing = p + 2 <= len && body[p] == '-' && body[p + 1] == '-';

	if (closing)
		p += 2;
	while (p < len && (body[p] == ' ' || body[p] == '\t'))
		p++;
	*next = p;
	if (p + 2 <= len && body[p] == '\r' && body[p + 1] == '\n')
		*next = p + 2;
	else if (!closing)
		return ERR_PROTO;	/* a part needs its line end */
	return closing ? 0 : 1;
}

static int emit_entity(const char *hdr, size_t hlen, const char *body,
		       size_t blen, int depth, bool top, bool safe,
		       struct buf *out, char *err, size_t errlen);

/* emit_multipart - a multipart whose body is not 7-bit safe: each part
 * made safe, 8-bit preamble and epilogue dropped (readers never show
 * them). */
static int
emit_multipart(const char *hdr, size_t hlen, const struct ctype *ct,
	       const struct strv *cte, const char *body, size_t blen,
	       int depth, struct buf *out, char *err, size_t errlen)
{
	const char *b = ct->boundary;
	size_t bl = strlen(b), next;
	int r;

	if (!ct->has_boundary)
		return fail(err, errlen, ERR_PROTO, "message: a %s without "
		    "boundary", ct->type);
	size_t d = find_delim(body, blen, 0, b);
	if (d == NPOS)
		return fail(err, errlen, ERR_PROTO, "message: the boundary of "
		    "a %s is not found", ct->type);
	r = copy_fields(hdr, hlen, "Content-Transfer-Encoding", out);
	if (r == 0 && cte->p != NULL)
		r = buf_adds(out, "Content-Transfer-Encoding: 7bit\r\n");
	if (r == 0)
		r = buf_add(out, "\r\n", 2);
	if (r == 0 && d >= 2 && body_safe7(body, d - 2)) {
		r = buf_add(out, body, d - 2);
		if (r == 0)
			r = buf_add(out, "\r\n", 2);
	}
	while (r == 0) {
		int k = delim_next(body, blen, d, bl, &next);
		if (k < 0)
			return fail(err, errlen, ERR_PROTO, "message: a "
			    "malformed boundary line in a %s", ct->type);
		if (k == 0) {
			r = buf_addf(out, "--%s--\r\n", b);
			if (r == 0 && next < blen && body_safe7(body + next,
			    blen - next))
				r = buf_add(out, body + next, blen - next);
			break;
		}
		size_t dn = find_delim(body, blen, next, b);
		if (dn == NPOS)
			return fail(err, errlen, ERR_PROTO, "message: a %s "
			    "without its closing boundary", ct->type);
		const char *part = body + next;
		size_t plen = dn >= next + 2 ? dn - 2 - next : 0, pbo;
		size_t phl = mime_header_section(part, plen, &pbo);
		r = buf_addf(out, "--%s\r\n", b);
		if (r == 0)
			r = emit_entity(part, phl, part + pbo, plen - pbo,
			    depth + 1, false, false, out, err, errlen);
		if (r < 0)
			return r;
		r = buf_add(out, "\r\n", 2);
		d = dn;
	}
	return r;
}

/* emit_entity - the MIME entity of header fields hdr[hlen] and body
 * body[blen], made 7-bit safe, into out. top: the message's own fields
 * (a missing Content-Type is then written out); safe: both are known to
 * be 7-bit safe already. */
static int
emit_entity(const char *hdr, size_t hlen, const char *body, size_t blen,
	    int depth, bool top, bool safe, struct buf *out, char *err,
	    size_t errlen)
{
	struct strv ctv, ctev;
	struct ctype ct;
	int r;

	if (depth > PKI_SMIME_NEST_MAX)
		return fail(err, errlen, ERR_LIMIT, "message: MIME parts "
		    "nested deeper than %d", PKI_SMIME_NEST_MAX);
	/* Header bytes cannot be re-encoded for the sender: what a relay
	 * could rewrite is refused (RFC 2047 and RFC 2231 say how). */
	if (!safe && !body_safe7(hdr, hlen))
		return fail(err, errlen, ERR_PROTO, "message: 8-bit or NUL "
		    "bytes, or a line over %d bytes, in the header of a MIME "
		    "part (encode it per RFC 2047 or RFC 2231)", LINE_MAX_SMTP);
	entity_fields(hdr, hlen, &ctv, &ctev);
	bool has_ct = ctv.p != NULL;
	if (safe || body_safe7(body, blen)) {
		r = buf_add(out, hdr, hlen);
		if (r == 0 && top && !has_ct)
			r = buf_adds(out, "Content-Type: text/plain; "
			    "charset=us-ascii\r\n");
		if (r == 0 && top && !has_ct && ctev.p == NULL)
			r = buf_adds(out,
			    "Content-Transfer-Encoding: 7bit\r\n");
		if (r == 0)
			r = buf_add(out, "\r\n", 2);
		if (r == 0)
			r = buf_add(out, body, blen);
		return r;
	}
	if (cte_kind(&ctev) != CTE_IDENTITY) {
		char tok[32];
		struct lex l = { ctev.p, ctev.p + ctev.len };
		if (lex_cfws(&l) < 0 || lex_token(&l, tok, sizeof(tok), true)
		    < 0)
			(void)str_copy(tok, sizeof(tok), "an unknown encoding");
		return fail(err, errlen, ERR_PROTO, "message: 8-bit data or a "
		    "line over %d bytes in a body encoded as %s",
		    LINE_MAX_SMTP, tok);
	}
	if (has_ct && ctype_parse(ctv.p, ctv.len, &ct) < 0)
		return fail(err, errlen, ERR_PROTO, "message: a Content-Type "
		    "does not parse, its 8-bit body cannot be made 7-bit safe");
	if (has_ct && strncmp(ct.type, "multipart/", 10) == 0)
		return emit_multipart(hdr, hlen, &ct, &ctev, body, blen, depth,
		    out, err, errlen);
	if (has_ct && strcmp(ct.type, "message/rfc822") == 0) {
		size_t ebo, ehl = mime_header_section(body, blen, &ebo);
		r = copy_fields(hdr, hlen, "Content-Transfer-Encoding", out);
		if (r == 0 && ctev.p != NULL)
			r = buf_adds(out,
			    "Content-Transfer-Encoding: 7bit\r\n");
		if (r == 0)
			r = buf_add(out, "\r\n", 2);
		if (r == 0)
			r = emit_entity(body, ehl, body + ebo, blen - ebo,
			    depth + 1, false, false, out, err, errlen);
		return r;
	}
	if (has_ct && strncmp(ct.type, "message/", 8) == 0)
		return fail(err, errlen, ERR_PROTO, "message: a %s part with "
		    "8-bit data cannot be made 7-bit safe", ct.type);
	if (top && !has_ct && !utf8_valid(body, blen))
		return fail(err, errlen, ERR_PROTO, "message: an 8-bit body "
		    "without Content-Type that is not UTF-8");
	bool text = !has_ct || strncmp(ct.type, "text/", 5) == 0;
	r = copy_fields(hdr, hlen, "Content-Transfer-Encoding", out);
	if (r == 0 && top && !has_ct)
		r = buf_adds(out, "Content-Type: text/plain; "
		    "charset=UTF-8\r\n");
	if (r == 0)
		r = buf_addf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
		    text ? "quoted-printable" : "base64");
	if (r == 0)
		r = text ? qp_encode(body, blen, out) :
		    b64_lines((const unsigned char *)body, blen, out);
	return r;
}

/* ---- the message around the signed or encrypted entity ---- */

struct prep {
	struct buf norm;	/* the input with CRLF line ends, if needed */
	struct buf outer;	/* the top-level fields kept outside */
	struct buf cfields;	/* the top-level Content-* fields */
	struct buf inner;	/* the entity to sign or encrypt */
};

static void
prep_init(struct prep *pp)
{
	buf_init(&pp->norm, 2 * PKI_SMIME_MSG_MAX);
	buf_init(&pp->outer, PKI_SMIME_MSG_MAX);
	buf_init(&pp->cfields, PKI_SMIME_MSG_MAX);
	buf_init(&pp->inner, INNER_MAX);
}

static void
prep_free(struct prep *pp)
{
	buf_free(&pp->norm);
	buf_free(&pp->outer);
	buf_free(&pp->cfields);
	buf_free(&pp->inner);
}


/* prep_message - split msg[len] into the fields kept outside (all but
 * MIME-Version and Content-*) and the entity to protect (the Content-*
 * fields and the body, 7-bit safe, CRLF). */
static int
prep_message(const char *msg, size_t len, struct prep *pp, char *err,
	     size_t errlen)
{
	struct mime_hdr_iter it;
	struct strv name, value;
	size_t line = 0, body_off;
	int r;

	if (msg == NULL && len > 0)
		return fail(err, errlen, ERR_INVAL, "message: NULL");
	if (len > PKI_SMIME_MSG_MAX)
		return fail(err, errlen, ERR_LIMIT, "message: %zu bytes, over "
		    "the limit of %zu", len, PKI_SMIME_MSG_MAX);
	bool safe = false;
	r = crlf_check(msg, len, true, &line, &safe);
	if (r < 0)
		return fail(err, errlen, ERR_PROTO, "message:%zu: a bare CR "
		    "(not followed by LF)", line);
	if (r == 1) {
		if (crlf_normalize(msg, len, &pp->norm) < 0)
			return fail(err, errlen, ERR_NOMEM, "out of memory");
		msg = pp->norm.data;
		len = pp->norm.len;
	}
	size_t hlen = mime_header_section(msg, len, &body_off);
	/* Room for the usual case at once (7-bit, few Content-* fields). */
	if (buf_reserve(&pp->outer, hlen) < 0 ||
	    buf_reserve(&pp->cfields, hlen) < 0 ||
	    buf_reserve(&pp->inner, len - body_off + 1024) < 0)
		return fail(err, errlen, ERR_NOMEM, "out of memory");
	const char *nul = memchr(msg, '\0', hlen);
	if (nul != NULL)
		return fail(err, errlen, ERR_PROTO, "message:%zu: a NUL byte "
		    "in the header", line_of(msg, nul));
	mime_header_iter_init(&it, msg, hlen);
	r = 0;
	while (r == 0 && (r = mime_header_next(&it, &name, &value)) == 1) {
		struct buf *dst = name_is_content(&name) ? &pp->cfields :
		    name_is(&name, "MIME-Version") ? NULL : &pp->outer;
		r = 0;
		if (dst == NULL)
			continue;
		r = buf_add(dst, name.p, (size_t)(value.p + value.len -
		    name.p));
		if (r == 0)
			r = buf_add(dst, "\r\n", 2);
	}
	if (r == ERR_PROTO)
		return fail(err, errlen, ERR_PROTO, "message:%zu: a header "
		    "line that is not a field", line_of(msg, it.p));
	if (r < 0)
		return fail(err, errlen, r, "message: %s", err_str(r));
	/* A message found 7-bit safe as a whole needs no second look. */
	r = emit_entity(pp->cfields.data, pp->cfields.len, msg + body_off,
	    len - body_off, 0, true, safe, &pp->inner, err, errlen);
	if (r < 0 && err != NULL && errlen > 0 && err[0] == '\0')
		(void)fail(err, errlen, r, "message: %s", err_str(r));
	return r;
}

/* make_boundary - a boundary found nowhere in inner: from the digest of
 * inner (no system call for randomness on every message; the signature
 * carries that digest anyway), random if that one is there. */
static int
make_boundary(const struct buf *inner, const unsigned char *digest,
	      char *b, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char h[33], pat[64];

	for (int tries = 0; tries < 8; tries++) {
		if (tries == 0) {
			for (size_t i = 0; i < 16; i++) {
				h[2 * i] = hex[digest[i] >> 4];
				h[2 * i + 1] = hex[digest[i] & 15];
			}
			h[32] = '\0';
		} else {
			str_rand_hex(h, 16);
		}
		if (size < 6 + 32 + 1)
			return ERR_LIMIT;
		memcpy(b, "smime-", 6);
		memcpy(b + 6, h, 33);
		memcpy(pat, "--", 2);
		memcpy(pat + 2, b, 6 + 33);
		if (memmem(buf_data(inner), buf_len(inner), pat, 2 + 6 + 32)
		    == NULL)
			return 0;
	}
	return ERR_TEMP;
}

/* add_boundary_line - "pre--B post". */
static int
add_boundary_line(struct buf *out, const char *pre, const char *b,
		  const char *post)
{
	int r = buf_adds(out, pre);
	if (r == 0)
		r = buf_add(out, "--", 2);
	if (r == 0)
		r = buf_adds(out, b);
	if (r == 0)
		r = buf_adds(out, post);
	return r;
}

int
pki_smime_sign(struct pki_smime_signer *signer, const char *msg,
	       size_t len, struct buf *out, char *err, size_t errlen)
{
	struct prep pp;
	unsigned char *der = NULL, digest[32], der_buf[8192];
	size_t der_len = 0, start = out->len;
	char b[64];
	int r;

	if (errlen > 0)
		err[0] = '\0';
	prep_init(&pp);
	r = prep_message(msg, len, &pp, err, errlen);
	if (r == 0)
		r = signed_data(signer, pp.inner.data, pp.inner.len, digest,
		    der_buf, sizeof(der_buf), &der, &der_len, err, errlen);
	if (r == 0 && (r = make_boundary(&pp.inner, digest, b,
	    sizeof(b))) < 0)
		(void)fail(err, errlen, r, "message: no boundary found");
	if (r == 0) {
		/* All of it at once: one allocation for the whole output. */
		r = buf_reserve(out, pp.outer.len + pp.inner.len + 512 +
		    der_len / 57 * 78 + 78);
		if (r == 0)
			r = buf_add(out, pp.outer.data, pp.outer.len);
		if (r == 0)
			r = buf_adds(out, "MIME-Version: 1.0\r\n"
			    "Content-Type: multipart/signed; "
			    "protocol=\"application/pkcs7-signature\";\r\n"
			    "\tmicalg=sha-256; boundary=\"");
		if (r == 0)
			r = buf_adds(out, b);
		if (r == 0)
			r = add_boundary_line(out, "\"\r\n\r\nThis is a "
			    "cryptographically signed message in MIME format."
			    "\r\n\r\n", b, "\r\n");
		if (r == 0)
			r = buf_add(out, pp.inner.data, pp.inner.len);
		if (r == 0)
			r = add_boundary_line(out, "\r\n", b, "\r\n"
			    "Content-Type: application/pkcs7-signature; "
			    "name=\"smime.p7s\"\r\n"
			    "Content-Transfer-Encoding: base64\r\n"
			    "Content-Disposition: attachment; "
			    "filename=\"smime.p7s\"\r\n"
			    "Content-Description: S/MIME Cryptographic "
			    "Signature\r\n\r\n");
		if (r == 0)
			r = b64_lines(der, der_len, out);
		if (r == 0)
			r = add_boundary_line(out, "", b, "--\r\n");
		if (r < 0)
			(void)fail(err, errlen, r, "message: the signed "
			    "message does not fit: %s", err_str(r));
	}
	if (r < 0)
		buf_cut(out, start);
	if (der != der_buf)
		free(der);
	prep_free(&pp);
	ERR_clear_error();
	return r;
}

/* ---- verification ---- */

static void
set_result(struct pki_smime_result *res, enum pki_smime_status st,
	   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* set_result - the status and its reason (made safe). */
static void
set_result(struct pki_smime_result *res, enum pki_smime_status st,
	   const char *fmt, ...)
{
	char tmp[PKI_SMIME_TEXT_MAX];
	va_list ap;

	res->status = st;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		tmp[0] = '\0';
	text_safe((const unsigned char *)tmp, strlen(tmp), res->reason,
	    sizeof(res->reason));
}

static bool
is_pkcs7_signature(const char *type)
{
	return strcmp(type, "application/pkcs7-signature") == 0 ||
	    strcmp(type, "application/x-pkcs7-signature") == 0;
}

static bool
is_pkcs7_mime(const char *type)
{
	return strcmp(type, "application/pkcs7-mime") == 0 ||
	    strcmp(type, "application/x-pkcs7-mime") == 0;
}

/* is_signed - a multipart/signed of S/MIME, or an opaque signed-data
 * (or a pkcs7-mime without smime-type, judged once decoded). */
static bool
is_signed(const struct ctype *ct)
{
	if (strcmp(ct->type, "multipart/signed") == 0)
		return is_pkcs7_signature(ct->protocol);
	return is_pkcs7_mime(ct->type) && (ct->smime_type[0] == '\0' ||
	    strcmp(ct->smime_type, "signed-data") == 0);
}

/* decode_body - a body in its transfer encoding (base64 or none) into
 * out, at most max bytes. */
static int
decode_body(const struct strv *cte, const char *p, size_t n, size_t max,
	    struct buf *out)
{
	out->max = max;
	if (cte_is(cte, "base64"))
		return n / 4 * 3 > max ? ERR_LIMIT : b64_decode(p, n, out);
	if (cte_kind(cte) == CTE_IDENTITY)
		return buf_add(out, p, n);
	return ERR_PROTO;
}

static CMS_ContentInfo *
cms_parse(const struct buf *der)
{
	const unsigned char *q = (const unsigned char *)buf_data(der);
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)der->len);

	if (cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) !=
	    NID_pkcs7_signed) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	ERR_clear_error();
	return cms;
}

/* check_chains - every signer's chain against trust, for S/MIME signing,
 * with the CRLs of the store and of the message. */
static int
check_chains(X509_STORE *trust, unsigned flags, CMS_ContentInfo *cms,
	     STACK_OF(X509) *signers, struct pki_smime_result *res)
{
	STACK_OF(X509) *untrusted = CMS_get1_certs(cms);
	STACK_OF(X509_CRL) *crls = CMS_get1_crls(cms);
	unsigned long vf = 0;
	int r = 0;

	if (flags & PKI_SMIME_VERIFY_CRL)
		vf |= X509_V_FLAG_CRL_CHECK;
	if (flags & PKI_SMIME_VERIFY_CRL_ALL)
		vf |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	res->status = PKI_SMIME_VALID;
	for (int i = 0; i < sk_X509_num(signers); i++) {
		X509 *x = sk_X509_value(signers, i);
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();
		if (ctx == NULL || !X509_STORE_CTX_init(ctx, trust, x,
		    untrusted)) {
			X509_STORE_CTX_free(ctx);
			r = ERR_NOMEM;
			set_result(res, PKI_SMIME_INVALID, "out of memory");
			break;
		}
		/* The purpose and trust of "smime_sign": emailProtection in
		 * the extended key usage when present, digitalSignature or
		 * nonRepudiation in the key usage. */
		(void)X509_STORE_CTX_set_default(ctx, "smime_sign");
		if (crls != NULL)
			X509_STORE_CTX_set0_crls(ctx, crls);
		if (vf != 0)
			(void)X509_VERIFY_PARAM_set_flags(
			    X509_STORE_CTX_get0_param(ctx), vf);
		int ok = X509_verify_cert(ctx);
		int e = X509_STORE_CTX_get_error(ctx);
		X509_STORE_CTX_free(ctx);
		if (ok <= 0) {
			cert_name(x, res->signer, sizeof(res->signer));
			set_result(res, PKI_SMIME_UNTRUSTED, "%s",
			    X509_verify_cert_error_string(e != X509_V_OK ? e :
			    X509_V_ERR_UNSPECIFIED));
			break;
		}
	}
	sk_X509_pop_free(untrusted, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return r;
}

/* verify_cms - the signatures of cms over dcont (detached) or its own
 * content, then the signers' chains. */
static int
verify_cms(X509_STORE *trust, unsigned flags, CMS_ContentInfo *cms,
	   BIO *dcont, struct pki_smime_result *res)
{
	ERR_clear_error();
	int ok = CMS_verify(cms, NULL, trust, dcont, NULL,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
	unsigned long e = ERR_peek_last_error();
	STACK_OF(X509) *signers = CMS_get0_signers(cms);
	int r = 0;

	if (signers != NULL && sk_X509_num(signers) > 0)
		cert_name(sk_X509_value(signers, 0), res->signer,
		    sizeof(res->signer));
	if (ok == 1 && (signers == NULL || sk_X509_num(signers) == 0))
		set_result(res, PKI_SMIME_INVALID, "no signer");
	else if (ok == 1)
		r = check_chains(trust, flags, cms, signers, res);
	else if (ERR_GET_LIB(e) == ERR_LIB_CMS && ERR_GET_REASON(e) ==
	    CMS_R_SIGNER_CERTIFICATE_NOT_FOUND)
		set_result(res, PKI_SMIME_UNTRUSTED, "signer certificate not "
		    "found in the message");
	else if (ERR_GET_LIB(e) == ERR_LIB_CMS && ERR_GET_REASON(e) ==
	    CMS_R_CONTENT_VERIFY_ERROR)
		set_result(res, PKI_SMIME_INVALID, "content changed after "
		    "signing (message digest mismatch)");
	else if (ERR_GET_LIB(e) == ERR_LIB_CMS && ERR_GET_REASON(e) ==
	    CMS_R_VERIFICATION_FAILURE)
		set_result(res, PKI_SMIME_INVALID, "the signature does not "
		    "verify");
	else
		set_result(res, PKI_SMIME_INVALID, "signed data does not "
		    "verify: %s", e != 0 && ERR_reason_error_string(e) !=
		    NULL ? ERR_reason_error_string(e) : "unknown error");
	sk_X509_free(signers);
	ERR_clear_error();
	return r;
}

/* verify_detached - a multipart/signed body: exactly two parts, the
 * second an application/pkcs7-signature. */
static int
verify_detached(X509_STORE *trust, unsigned flags, const struct ctype *ct,
		const char *body, size_t blen, struct pki_smime_result *res)
{
	struct strv sctv, sctev;
	struct ctype sct;
	struct buf der;
	size_t bl = strlen(ct->boundary), ps, ss, se;
	int r = 0;

	if (!ct->has_boundary) {
		set_result(res, PKI_SMIME_INVALID, "multipart/signed without "
		    "boundary");
		return 0;
	}
	size_t d = find_delim(body, blen, 0, ct->boundary);
	if (d == NPOS || delim_next(body, blen, d, bl, &ps) != 1) {
		set_result(res, PKI_SMIME_INVALID, "multipart/signed without "
		    "its parts");
		return 0;
	}
	size_t d2 = find_delim(body, blen, ps, ct->boundary);
	if (d2 == NPOS || delim_next(body, blen, d2, bl, &ss) != 1) {
		set_result(res, PKI_SMIME_INVALID, "multipart/signed without "
		    "a signature part");
		return 0;
	}
	size_t pe = d2 >= ps + 2 ? d2 - 2 : ps;
	size_t d3 = find_delim(body, blen, ss, ct->boundary), after;
	se = d3 == NPOS ? blen : d3 >= ss + 2 ? d3 - 2 : ss;
	if (d3 != NPOS && delim_next(body, blen, d3, bl, &after) != 0) {
		set_result(res, PKI_SMIME_INVALID, "multipart/signed with more "
		    "than two parts or a malformed closing boundary");
		return 0;
	}
	size_t sbo, shl = mime_header_section(body + ss, se - ss, &sbo);
	entity_fields(body + ss, shl, &sctv, &sctev);
	if (sctv.p == NULL || ctype_parse(sctv.p, sctv.len, &sct) < 0 ||
	    !is_pkcs7_signature(sct.type)) {
		set_result(res, PKI_SMIME_INVALID, "the second part is not "
		    "application/pkcs7-signature");
		return 0;
	}
	buf_init(&der, SIG_PART_MAX);
	r = decode_body(&sctev, body + ss + sbo, se - ss - sbo, SIG_PART_MAX,
	    &der);
	CMS_ContentInfo *cms = r == 0 ? cms_parse(&der) : NULL;
	if (r == ERR_NOMEM) {
		set_result(res, PKI_SMIME_INVALID, "out of memory");
	} else if (r < 0 || cms == NULL) {
		set_result(res, PKI_SMIME_INVALID, "the signature part is not "
		    "a CMS SignedData%s", r == ERR_LIMIT ? " (too large)" : "");
		r = 0;
	} else {
		BIO *dc = BIO_new_mem_buf(body + ps, (int)(pe - ps));
		if (dc == NULL) {
			r = ERR_NOMEM;
			set_result(res, PKI_SMIME_INVALID, "out of memory");
		} else {
			r = verify_cms(trust, flags, cms, dc, res);
		}
		BIO_free(dc);
	}
	CMS_ContentInfo_free(cms);
	buf_free(&der);
	return r;
}

/* verify_message - msg[len] has CRLF line ends. */
static int
verify_message(X509_STORE *trust, unsigned flags, const char *msg,
	       size_t len, struct pki_smime_result *res)
{
	struct mime_hdr_iter it;
	struct strv name, value, ctv = { NULL, 0 }, ctev = { NULL, 0 };
	struct ctype ct;
	size_t body_off, n_ct = 0;

	bool any_signed = false;

	size_t hlen = mime_header_section(msg, len, &body_off);
	mime_header_iter_init(&it, msg, hlen);
	while (mime_header_next(&it, &name, &value) == 1) {
		if (name_is(&name, "Content-Type")) {
			if (n_ct++ == 0)
				ctv = value;
			any_signed |= ctype_parse(value.p, value.len, &ct) == 0
			    && is_signed(&ct);
		} else if (ctev.p == NULL &&
		    name_is(&name, "Content-Transfer-Encoding")) {
			ctev = value;
		}
	}
	/* Two Content-Type fields, one of them signed: readers may pick
	 * either one. */
	if (n_ct > 1 && any_signed) {
		set_result(res, PKI_SMIME_INVALID, "several Content-Type "
		    "fields");
		return 0;
	}
	if (ctv.p == NULL || ctype_parse(ctv.p, ctv.len, &ct) < 0 ||
	    !is_signed(&ct))
		return 0;
	if (strcmp(ct.type, "multipart/signed") == 0)
		return verify_detached(trust, flags, &ct, msg + body_off,
		    len - body_off, res);

	struct buf der;
	buf_init(&der, PKI_SMIME_MSG_MAX);
	int r = decode_body(&ctev, msg + body_off, len - body_off,
	    PKI_SMIME_MSG_MAX, &der);
	CMS_ContentInfo *cms = r == 0 ? cms_parse(&der) : NULL;
	if (r == ERR_NOMEM) {
		set_result(res, PKI_SMIME_INVALID, "out of memory");
	} else if (cms == NULL) {
		r = 0;
		/* Without smime-type, only a SignedData is ours to judge. */
		if (ct.smime_type[0] != '\0')
			set_result(res, PKI_SMIME_INVALID, "the body is not a "
			    "CMS SignedData");
	} else {
		r = verify_cms(trust, flags, cms, NULL, res);
	}
	CMS_ContentInfo_free(cms);
	buf_free(&der);
	return r;
}

int
pki_smime_verify(X509_STORE *trust, unsigned flags, const char *msg,
		 size_t len, struct pki_smime_result *res)
{
	struct buf norm;
	size_t line;
	int r;

	memset(res, 0, sizeof(*res));
	res->status = PKI_SMIME_NONE;
	if (trust == NULL || (msg == NULL && len > 0)) {
		set_result(res, PKI_SMIME_NONE, "not verified: no trust store");
		return ERR_INVAL;
	}
	if (len > PKI_SMIME_MSG_MAX) {
		set_result(res, PKI_SMIME_NONE, "not verified: %zu bytes, over "
		    "the limit of %zu", len, PKI_SMIME_MSG_MAX);
		return ERR_LIMIT;
	}
	buf_init(&norm, 2 * PKI_SMIME_MSG_MAX);
	if (crlf_check(msg, len, false, &line, NULL) == 1) {
		r = crlf_normalize(msg, len, &norm);
		if (r < 0) {
			set_result(res, PKI_SMIME_NONE, "not verified: %s",
			    err_str(r));
			buf_free(&norm);
			return r;
		}
		msg = norm.data;
		len = norm.len;
	}
	r = verify_message(trust, flags, msg != NULL ? msg : "", len, res);
	if (r < 0) {
		memset(res, 0, sizeof(*res));
		set_result(res, PKI_SMIME_NONE, "not verified: %s",
		    err_str(r));
	}
	buf_free(&norm);
	ERR_clear_error();
	return r;
}

/* ---- encryption ---- */

/* check_recipient - rcpts[i] can receive an EnvelopedData now. */
static int
check_recipient(X509 *x, size_t i, char *err, size_t errlen)
{
	char what[320], subj[256];

	if (x == NULL)
		return fail(err, errlen, ERR_INVAL, "recipient %zu: no "
		    "certificate", i + 1);
	subject_line(x, subj, sizeof(subj));
	(void)str_fmt(what, sizeof(what), "recipient certificate %s", subj);
	int r = check_validity(x, "encrypt", what, err, errlen);
	if (r < 0)
		return r;
	EVP_PKEY *k = X509_get0_pubkey(x);
	int type = k != NULL ? EVP_PKEY_get_base_id(k) : NID_undef;
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC)
		return fail(err, errlen, ERR_INVAL, "encrypt: %s: not an RSA "
		    "or EC key", what);
	uint32_t need = type == EVP_PKEY_RSA ? KU_KEY_ENCIPHERMENT :
	    KU_KEY_AGREEMENT;
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & need))
		return fail(err, errlen, ERR_INVAL, "encrypt: %s: the key "
		    "usage lacks %s", what, type == EVP_PKEY_RSA ?
		    "keyEncipherment" : "keyAgreement");
	return 0;
}

int
pki_smime_encrypt(X509 *const *rcpts, size_t n, const char *msg,
		  size_t len, struct buf *out, char *err, size_t errlen)
{
	struct prep pp;
	STACK_OF(X509) *sk = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	unsigned char *der = NULL;
	size_t start = out->len;
	int r = 0, der_len = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (rcpts == NULL || n == 0)
		return fail(err, errlen, ERR_INVAL, "encrypt: no recipient");
	for (size_t i = 0; i < n; i++)
		if ((r = check_recipient(rcpts[i], i, err, errlen)) < 0)
			return r;
	prep_init(&pp);
	r = prep_message(msg, len, &pp, err, errlen);
	if (r < 0)
		goto out;
	r = ERR_NOMEM;
	sk = sk_X509_new_null();
	for (size_t i = 0; sk != NULL && i < n; i++)
		if (sk_X509_push(sk, rcpts[i]) <= 0)
			goto out;
	in = BIO_new_mem_buf(pp.inner.data, (int)pp.inner.len);
	if (sk == NULL || in == NULL)
		goto out;
	/*
	 * EnvelopedData with AES-256-CBC: what gpgsm and most mail clients
	 * decrypt today. RFC 8551 2.7 prefers AuthEnvelopedData with
	 * AES-GCM (no malleable ciphertext); switch once the recipients'
	 * clients read it.
	 */
	cms = CMS_encrypt(sk, in, EVP_aes_256_cbc(), CMS_BINARY);
	if (cms == NULL || (der_len = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		r = fail(err, errlen, ERR_CRYPTO, "encrypt: %s",
		    ossl_reason("CMS_encrypt failed"));
		goto out;
	}
	r = buf_add(out, pp.outer.data, pp.outer.len);
	if (r == 0)
		r = buf_adds(out, "MIME-Version: 1.0\r\n"
		    "Content-Type: application/pkcs7-mime; "
		    "smime-type=enveloped-data;\r\n\tname=\"smime.p7m\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; "
		    "filename=\"smime.p7m\"\r\n"
		    "Content-Description: S/MIME Encrypted Message\r\n\r\n");
	if (r == 0)
		r = b64_lines(der, (size_t)der_len, out);
	if (r < 0)
		(void)fail(err, errlen, r, "encrypt: the message does not "
		    "fit: %s", err_str(r));
out:
	if (r == ERR_NOMEM && err != NULL && errlen > 0 && err[0] == '\0')
		(void)fail(err, errlen, r, "encrypt: out of memory");
	if (r < 0)
		buf_cut(out, start);
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_free(sk);
	prep_free(&pp);
	ERR_clear_error();
	return r;
}

int
pki_smime_decrypt(X509 *cert, EVP_PKEY *key, const char *msg, size_t len,
		  struct buf *out, char *err, size_t errlen)
{
	struct mime_hdr_iter it;
	struct strv name, value, ctv = { NULL, 0 }, ctev = { NULL, 0 };
	struct buf norm, outer, der;
	struct ctype ct;
	CMS_ContentInfo *cms = NULL;
	BIO *mem = NULL;
	size_t body_off, line, start = out->len;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	if (msg == NULL || len > PKI_SMIME_MSG_MAX)
		return fail(err, errlen, ERR_LIMIT, "message: over the limit "
		    "of %zu bytes", PKI_SMIME_MSG_MAX);
	buf_init(&norm, 2 * PKI_SMIME_MSG_MAX);
	buf_init(&outer, PKI_SMIME_MSG_MAX);
	buf_init(&der, PKI_SMIME_MSG_MAX);
	if (crlf_check(msg, len, false, &line, NULL) == 1) {
		if ((r = crlf_normalize(msg, len, &norm)) < 0)
			goto out;
		msg = norm.data;
		len = norm.len;
	}
	size_t hlen = mime_header_section(msg, len, &body_off);
	mime_header_iter_init(&it, msg, hlen);
	r = 0;
	while (r == 0 && mime_header_next(&it, &name, &value) == 1) {
		if (name_is(&name, "Content-Type") && ctv.p == NULL)
			ctv = value;
		else if (name_is(&name, "Content-Transfer-Encoding") &&
		    ctev.p == NULL)
			ctev = value;
		if (name_is_content(&name) || name_is(&name, "MIME-Version"))
			continue;
		r = buf_add(&outer, name.p, (size_t)(value.p + value.len -
		    name.p));
		if (r == 0)
			r = buf_add(&outer, "\r\n", 2);
	}
	if (r < 0)
		goto out;
	if (ctv.p == NULL || ctype_parse(ctv.p, ctv.len, &ct) < 0 ||
	    !is_pkcs7_mime(ct.type) || (ct.smime_type[0] != '\0' &&
	    strcmp(ct.smime_type, "enveloped-data") != 0)) {
		r = fail(err, errlen, ERR_PROTO, "message: not an S/MIME "
		    "enveloped-data message");
		goto out;
	}
	r = decode_body(&ctev, msg + body_off, len - body_off,
	    PKI_SMIME_MSG_MAX, &der);
	if (r < 0) {
		r = fail(err, errlen, r == ERR_NOMEM ? r : ERR_PROTO,
		    "message: the body does not decode");
		goto out;
	}
	const unsigned char *q = (const unsigned char *)der.data;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)der.len);
	if (cms == NULL || OBJ_obj2nid(CMS_get0_type(cms)) !=
	    NID_pkcs7_enveloped) {
		r = fail(err, errlen, ERR_PROTO, "message: the body is not a "
		    "CMS EnvelopedData");
		goto out;
	}
	mem = BIO_new(BIO_s_mem());
	if (mem == NULL) {
		r = fail(err, errlen, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (CMS_decrypt(cms, key, cert, NULL, mem, CMS_BINARY) != 1) {
		r = fail(err, errlen, ERR_CRYPTO, "message: cannot decrypt: %s",
		    ossl_reason("not for this key"));
		goto out;
	}
	char *content = NULL;
	long clen = BIO_get_mem_data(mem, &content);
	r = buf_add(out, outer.data, outer.len);
	if (r == 0)
		r = buf_adds(out, "MIME-Version: 1.0\r\n");
	if (r == 0 && clen > 0)
		r = buf_add(out, content, (size_t)clen);
	if (r < 0)
		(void)fail(err, errlen, r, "message: the decrypted message "
		    "does not fit: %s", err_str(r));
out:
	if (r < 0) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			(void)fail(err, errlen, r, "message: %s", err_str(r));
		buf_cut(out, start);
	}
	BIO_free(mem);
	CMS_ContentInfo_free(cms);
	buf_free(&norm);
	buf_free(&outer);
	buf_free(&der);
	ERR_clear_error();
	return r;
}

/* ---- the gateway's header ---- */

const char *
pki_smime_status_name(enum pki_smime_status status)
{
	switch (status) {
	case PKI_SMIME_VALID:
		return "valid";
	case PKI_SMIME_INVALID:
		return "invalid";
	case PKI_SMIME_UNTRUSTED:
		return "untrusted";
	case PKI_SMIME_NONE:
		break;
	}
	return "none";
}

/* quoted - s (NUL within max) as the inside of a quoted-string: escapes
 * kept, a bare '"' or final '\' escaped, anything else non-printable
 * made '?', so that no caller-made text can break out of the field. */
static int
quoted(struct buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' && i + 1 < n) {
			unsigned char d = (unsigned char)s[++i];
			r = buf_addc(b, '\\');
			if (r == 0)
				r = buf_addc(b, d >= 0x20 && d < 0x7f ?
				    (char)d : '?');
			continue;
		}
		if (c == '\\' || c == '"')
			r = buf_addc(b, '\\');
		if (r == 0)
			r = buf_addc(b, c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
	return r;
}

int
pki_smime_header_value(const struct pki_smime_result *res, char *out,
		       size_t size)
{
	struct buf b;
	bool has_signer = res->signer[0] != '\0';
	bool has_reason = res->reason[0] != '\0';
	int r;

	buf_init(&b, PKI_SMIME_HEADER_MAX);
	r = buf_adds(&b, pki_smime_status_name(res->status));
	if (r == 0 && has_signer && (res->status == PKI_SMIME_VALID ||
	    res->status == PKI_SMIME_UNTRUSTED)) {
		r = buf_adds(&b, "; signer=\"");
		if (r == 0)
			r = quoted(&b, res->signer, sizeof(res->signer));
		if (r == 0)
			r = buf_addc(&b, '"');
	}
	if (r == 0 && has_reason && (res->status == PKI_SMIME_INVALID ||
	    res->status == PKI_SMIME_UNTRUSTED)) {
		r = buf_adds(&b, "; reason=\"");
		if (r == 0)
			r = quoted(&b, res->reason, sizeof(res->reason));
		if (r == 0)
			r = buf_addc(&b, '"');
	}
	if (r == 0)
		r = str_copy(out, size, buf_data(&b));
	if (r == 0)
		r = (int)b.len;
	buf_free(&b);
	return r;
}
