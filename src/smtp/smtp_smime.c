/* SPDX-License-Identifier: MIT */
/*
 * smtp_smime.c - S/MIME at the end of a message, before it is stored:
 *
 * - no copy of the header the gateway owns (X-MSSGate-Signature) is
 *   taken from outside: every one in the top-level header is removed;
 * - mail submitted by a user whose address has a signing certificate
 *   (mssgate cert issue smime ... --email ADDRESS) is signed: detached,
 *   SHA-256, the signer's certificate included;
 * - any other signed message (from another operator, or signed by the
 *   client) is verified against the trust store, with its CRLs, and the
 *   result is recorded in X-MSSGate-Signature;
 * - with smime_encrypt, a user's mail is then encrypted to the
 *   certificates the directory names for its recipients (cert_ref).
 *
 * Signers are loaded once, after their certificate is checked against
 * the trust store and its CRLs (a revoked one signs nothing), and kept
 * until their files change or the configuration is reloaded (SIGHUP,
 * mssgate cert reload), which also reloads the trust store and CRLs. A
 * signature costs about a millisecond (RSA-2048) on the session's loop,
 * one at a time; verifications run side by side.
 */
#include "smtp_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "pki/pki_cert.h"
#include "pki/pki_smime.h"
#include "store/store.h"
#include "store/store_cert.h"
#include "store/store_dir.h"

#define SMIME_HEADER "X-MSSGate-Signature"
#define SIGNERS_MAX 64

struct signer_slot {
	char name[STORE_CERT_NAME_MAX];
	char cert_file[STORE_CERT_PATH_MAX];
	struct timespec cert_mtime, key_mtime;
	struct pki_smime_signer *signer;
};

static pthread_mutex_t smime_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct signer_slot signers[SIGNERS_MAX];
static struct pki_trust *trust;
static const struct config *trust_cfg;	/* the configuration it is for */

static bool
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* signer_get - the signer of a registry certificate, loaded once; NULL
 * with err set when it cannot be used. Under smime_mtx. */
static X509_STORE *trust_get(const struct config *cfg);

/* signer_check - the signing certificate against the trust store and its
 * CRLs, once per load: a revoked or untrusted certificate signs nothing
 * (its signatures would be refused anyway). Under smime_mtx. */
static int
signer_check(const struct config *cfg, const struct store_cert *c,
	     char *err, size_t errlen)
{
	enum pki_verify_fail fail;
	char reason[400];
	X509 *x = NULL;
	FILE *f;
	int rc;

	if (trust_get(cfg) == NULL) {
		(void)str_fmt(err, errlen, "certificate '%s': no trust store "
		    "to check it against", c->name);
		return ERR_INVAL;
	}
	if ((f = fopen(c->cert_file, "re")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		(void)fclose(f);
	}
	if (x == NULL) {
		ERR_clear_error();
		(void)str_fmt(err, errlen, "certificate '%s': %s cannot be "
		    "read", c->name, c->cert_file);
		return ERR_INVAL;
	}
	rc = pki_cert_verify(trust, x, NULL, NULL, PKI_PURPOSE_SMIME, 0,
	    &fail, reason, sizeof(reason));
	X509_free(x);
	if (rc < 0)
		(void)str_fmt(err, errlen, "certificate '%s': %s", c->name,
		    reason);
	return rc;
}

static struct pki_smime_signer *
signer_get(const struct config *cfg, const struct store_cert *c, char *err,
	   size_t errlen)
{
	struct stat cs, ks;
	struct signer_slot *free_slot = NULL, *slot = NULL;

	if (stat(c->cert_file, &cs) != 0 || stat(c->key_file, &ks) != 0) {
		(void)str_fmt(err, errlen, "certificate '%s': %s or its key "
		    "cannot be read", c->name, c->cert_file);
		return NULL;
	}
	for (size_t i = 0; i < SIGNERS_MAX; i++) {
		if (signers[i].signer == NULL) {
			if (free_slot == NULL)
				free_slot = &signers[i];
			continue;
		}
		if (strcmp(signers[i].name, c->name) == 0) {
			slot = &signers[i];
			break;
		}
	}
	if (slot != NULL && strcmp(slot->cert_file, c->cert_file) == 0 &&
	    same_time(&slot->cert_mtime, &cs.st_mtim) &&
	    same_time(&slot->key_mtime, &ks.st_mtim))
		return slot->signer;
	if (slot == NULL)
		slot = free_slot != NULL ? free_slot : &signers[0];
	pki_smime_signer_free(&slot->signer);
	if (c->flags & STORE_CERT_F_KEY_ENCRYPTED) {
		(void)str_fmt(err, errlen, "certificate '%s': its key is "
		    "encrypted with a passphrase, which the daemon does not "
		    "have", c->name);
		return NULL;
	}
	if (signer_check(cfg, c, err, errlen) < 0 ||
	    pki_smime_signer_load(c->cert_file, c->key_file, NULL, NULL,
	    &slot->signer, err, errlen) < 0)
		return NULL;
	(void)str_copy(slot->name, sizeof(slot->name), c->name);
	(void)str_copy(slot->cert_file, sizeof(slot->cert_file),
	    c->cert_file);
	slot->cert_mtime = cs.st_mtim;
	slot->key_mtime = ks.st_mtim;
	return slot->signer;
}

/* trust_get - the trust store of cfg, loaded once per configuration.
 * Under smime_mtx. */
static X509_STORE *
trust_get(const struct config *cfg)
{
	char err[512];
	if (trust != NULL && trust_cfg == cfg)
		return trust->store;
	pki_trust_free(&trust);
	trust_cfg = NULL;
	if (pki_trust_load(cfg->tls_ca_file, cfg->certs_dir, &trust, err,
	    sizeof(err)) < 0) {
		log_warnx("- smime trust store not loaded error=\"%s\"", err);
		return NULL;
	}
	trust_cfg = cfg;
	return trust->store;
}

void
smtp_smime_reset(void)
{
	pthread_mutex_lock(&smime_mtx);
	for (size_t i = 0; i < SIGNERS_MAX; i++)
		pki_smime_signer_free(&signers[i].signer);
	pki_trust_free(&trust);
	trust_cfg = NULL;
	pthread_mutex_unlock(&smime_mtx);
}

/* strip_owned - msg without the top-level fields named SMIME_HEADER
 * (folded lines included), into out. Returns how many were removed. */
static int
strip_owned(const char *msg, size_t len, size_t hlen, struct buf *out)
{
	size_t i = 0, n = strlen(SMIME_HEADER);
	int removed = 0;

	while (i < hlen) {
		size_t e = i;
		/* one field: its line and the folded lines after it */
		do {
			const char *nl = memchr(msg + e, '\n', hlen - e);
			e = nl ? (size_t)(nl - msg) + 1 : hlen;
		} while (e < hlen && (msg[e] == ' ' || msg[e] == '\t'));
		if (e - i > n && strncasecmp(msg + i, SMIME_HEADER, n) == 0 &&
		    (msg[i + n] == ':' || msg[i + n] == ' ' ||
		    msg[i + n] == '\t')) {
			removed++;
		} else if (buf_add(out, msg + i, e - i) < 0) {
			return ERR_NOMEM;
		}
		i = e;
	}
	if (buf_add(out, msg + hlen, len - hlen) < 0)
		return ERR_NOMEM;
	return removed;
}

/* has_word - word (lower case) anywhere in p[n], without case. */
static bool
has_word(const char *p, size_t n, const char *word)
{
	size_t wl = strlen(word);
	for (size_t i = 0; i + wl <= n; i++)
		if (strncasecmp(p + i, word, wl) == 0)
			return true;
	return false;
}

/* sign_or_verify - the first step: 0 unchanged, 1 out holds the new
 * message, <0 with reply. */
static int
sign_or_verify(struct smtp_session *s, const char *msg, size_t len,
	       size_t hlen, struct buf *out, char *reply, size_t rsize)
{
	struct store_cert *c = NULL;
	struct buf clean;
	char err[512];
	int rc = 0, found = 0;

	/* a user's own mail, with a signing certificate: sign it */
	if (s->has_auth && s->mail_from[0] != '\0') {
		struct store_rtxn *rt;
		c = malloc(sizeof(*c));
		if (c == NULL) {
			(void)str_copy(reply, rsize, "451 4.3.0 Error: "
			    "insufficient system resources");
			return ERR_NOMEM;
		}
		if ((rc = store_read_begin(smtp_store(), &rt)) == 0) {
			found = store_cert_find_smime(rt, s->mail_from, c);
			store_read_end(&rt);
		}
		if (rc < 0 || found < 0) {
			free(c);
			(void)str_copy(reply, rsize, "451 4.3.0 Error: "
			    "temporary lookup failure");
			return ERR_TEMP;
		}
	}
	/* most mail: nothing to sign, verify or remove, no copy made */
	if (found != 1 && !has_word(msg, hlen, SMIME_HEADER) &&
	    !has_word(msg, hlen, "pkcs7")) {
		free(c);
		return 0;
	}
	buf_init(&clean, len + 1);
	if ((rc = strip_owned(msg, len, hlen, &clean)) < 0)
		goto nomem;
	if (rc > 0)
		log_info("%s smtp smime removed=%d field=%s", s->id, rc,
		    SMIME_HEADER);
	if (found == 1) {
		pthread_mutex_lock(&smime_mtx);
		struct pki_smime_signer *sg = signer_get(s->cfg, c, err,
		    sizeof(err));
		rc = sg == NULL ? ERR_CRYPTO : pki_smime_sign(sg,
		    buf_data(&clean), buf_len(&clean), out, err, sizeof(err));
		pthread_mutex_unlock(&smime_mtx);
		if (rc < 0) {
			log_warnx("%s smtp smime sign failed from=<%s> "
			    "error=\"%s\"", s->id, s->mail_from, err);
			(void)str_copy(reply, rsize, rc == ERR_PROTO ?
			    "554 5.6.0 Error: the message cannot be signed "
			    "as it is (8-bit header in a MIME part?)" :
			    "451 4.7.0 Error: the signing certificate of this "
			    "address cannot be used now");
			goto fail;
		}
		log_info("%s smtp smime signed from=<%s> cert=%s", s->id,
		    s->mail_from, c->name);
		free(c);
		buf_free(&clean);
		return 1;
	}
	free(c);
	c = NULL;

	/* anything else that arrives signed: say what its signature is */
	struct pki_smime_result res;
	pthread_mutex_lock(&smime_mtx);
	X509_STORE *ts = trust_get(s->cfg);
	if (ts != NULL && X509_STORE_up_ref(ts) != 1)
		ts = NULL;
	pthread_mutex_unlock(&smime_mtx);
	/* the store is shared and its reference ours: verify unlocked */
	rc = ts == NULL ? ERR_INVAL : pki_smime_verify(ts, 0,
	    buf_data(&clean), buf_len(&clean), &res);
	X509_STORE_free(ts);
	if (rc == 0 && res.status != PKI_SMIME_NONE) {
		char v[PKI_SMIME_HEADER_MAX];
		if (pki_smime_header_value(&res, v, sizeof(v)) < 0 ||
		    buf_addf(out, "%s: %s\r\n", SMIME_HEADER, v) < 0)
			goto nomem;
		log_info("%s smtp smime verified status=%s signer=\"%s\"",
		    s->id, pki_smime_status_name(res.status), res.signer);
	}
	if (buf_add(out, buf_data(&clean), buf_len(&clean)) < 0)
		goto nomem;
	buf_free(&clean);
	return 1;
nomem:
	(void)str_copy(reply, rsize, "451 4.3.0 Error: insufficient system "
	    "resources");
fail:
	free(c);
	buf_free(&clean);
	return ERR_TEMP;
}

/* ---- encryption to recipients the directory knows a certificate of ---- */

struct ref_find {
	char ref[DIR_STR];
};

static int
ref_each(const struct dir_record *r, void *arg)
{
	struct ref_find *f = arg;
	if (f->ref[0] == '\0' && r->cert_ref[0] != '\0')
		(void)str_copy(f->ref, sizeof(f->ref), r->cert_ref);
	return 0;
}

/* rcpt_cert - the encryption certificate the directory names for addr
 * (cert_ref: a certificate of the registry, or a PEM file): 1 with *x,
 * 0 when none is known or it cannot be read, <0 on a store error. */
static int
rcpt_cert(struct store_rtxn *rt, const char *addr, X509 **x, char *why,
	  size_t wsize)
{
	struct ref_find f = { "" };
	struct store_cert *c;
	const char *path;
	FILE *fp;
	int rc = store_dir_resolve(rt, addr, ref_each, &f);

	*x = NULL;
	if (rc < 0)
		return rc;
	if (f.ref[0] == '\0') {
		(void)str_fmt(why, wsize, "no encryption certificate in the "
		    "directory for <%s>", addr);
		return 0;
	}
	if ((c = malloc(sizeof(*c))) == NULL)
		return ERR_NOMEM;
	rc = store_cert_get(rt, f.ref, c);
	path = rc == 1 ? c->cert_file : f.ref[0] == '/' ? f.ref : NULL;
	if (rc >= 0 && path != NULL && (fp = fopen(path, "re")) != NULL) {
		*x = PEM_read_X509(fp, NULL, NULL, NULL);
		(void)fclose(fp);
	}
	ERR_clear_error();
	free(c);
	if (rc < 0)
		return rc;
	if (*x == NULL) {
		(void)str_fmt(why, wsize, "the encryption certificate '%s' of "
		    "<%s> cannot be read", f.ref, addr);
		return 0;
	}
	return 1;
}

/* encrypt - to every recipient's certificate: 1 when out holds the
 * encrypted message, 0 when it stays as it is (when-known, a certificate
 * missing), <0 with reply (required, or a failure). */
static int
encrypt(struct smtp_session *s, const char *msg, size_t len,
	struct buf *out, char *reply, size_t rsize)
{
	bool required = strcmp(s->cfg->smime_encrypt, "required") == 0;
	X509 **certs = calloc(s->n_rcpt ? s->n_rcpt : 1, sizeof(*certs));
	struct store_rtxn *rt;
	char why[STORE_ADDR_MAX + 96] = "";
	char err[512];
	size_t n = 0;
	int rc;

	if (certs == NULL) {
		(void)str_copy(reply, rsize, "451 4.3.0 Error: insufficient "
		    "system resources");
		return ERR_NOMEM;
	}
	if ((rc = store_read_begin(smtp_store(), &rt)) == 0) {
		for (size_t i = 0; i < s->n_rcpt && rc >= 0; i++) {
			rc = rcpt_cert(rt, s->rcpts[i].addr, &certs[n], why,
			    sizeof(why));
			if (rc == 1)
				n++;
			else if (rc == 0)
				break;
		}
		store_read_end(&rt);
	}
	if (rc < 0) {
		(void)str_copy(reply, rsize, "451 4.3.0 Error: temporary "
		    "lookup failure");
	} else if (n < s->n_rcpt) {
		log_info("%s smtp smime not encrypted reason=\"%s\"", s->id,
		    why);
		if (required) {
			(void)str_fmt(reply, rsize, "554 5.7.1 Error: %s "
			    "(smime_encrypt is required)", why);
			rc = ERR_PERM;
		} else {
			rc = 0;
		}
	} else if ((rc = pki_smime_encrypt(certs, n, msg, len, out, err,
	    sizeof(err))) < 0) {
		log_warnx("%s smtp smime encrypt failed error=\"%s\"", s->id,
		    err);
		(void)str_fmt(reply, rsize, rc == ERR_INVAL ? "554 5.7.1 "
		    "Error: a recipient's encryption certificate cannot be "
		    "used" : "451 4.7.0 Error: the message cannot be "
		    "encrypted now");
	} else {
		log_info("%s smtp smime encrypted recipients=%zu", s->id, n);
		rc = 1;
	}
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	free(certs);
	return rc;
}

int
smtp_smime_process(struct smtp_session *s, const char *msg, size_t len,
		   size_t hlen, struct buf *out, char *reply, size_t rsize)
{
	struct buf mid;
	int r1, r2;

	if (!s->has_auth || strcmp(s->cfg->smime_encrypt, "off") == 0)
		return sign_or_verify(s, msg, len, hlen, out, reply, rsize);
	/* signed first, then encrypted: the signature stays inside */
	buf_init(&mid, out->max);
	r1 = sign_or_verify(s, msg, len, hlen, &mid, reply, rsize);
	if (r1 < 0) {
		buf_free(&mid);
		return r1;
	}
	r2 = encrypt(s, r1 ? buf_data(&mid) : msg, r1 ? buf_len(&mid) : len,
	    out, reply, rsize);
	if (r2 == 0 && r1 == 1 && buf_add(out, buf_data(&mid),
	    buf_len(&mid)) < 0) {
		(void)str_copy(reply, rsize, "451 4.3.0 Error: insufficient "
		    "system resources");
		r2 = ERR_NOMEM;
	}
	buf_wipe(&mid);
	if (r2 < 0)
		return r2;
	return r2 == 1 || r1 == 1;
}
