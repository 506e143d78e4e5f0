/* SPDX-License-Identifier: MIT */
/*
 * pki_expiry.c - which certificates in use expire soon: the server
 * certificate, the operator certificate, the trust store's anchors and
 * the registered S/MIME signing certificates. The daemon scans them at
 * start, on reload and every few hours, warns in the log 30, 7 and 1
 * days before an expiry (and once expired), and keeps the last scan for
 * the metrics endpoint. Certificates only: no key is read here.
 */
#include "pki.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "pki_cert.h"
#include "store/store.h"
#include "store/store_cert.h"

static pthread_mutex_t exp_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct pki_expiry last[PKI_EXPIRY_MAX];
static size_t n_last;

/* earliest - the soonest not-after of the PEM certificates in path
 * (a bundle: its first to expire); 0 when none could be read. */
static int64_t
earliest(const char *path, char *subject, size_t size)
{
	FILE *f = fopen(path, "re");
	int64_t best = 0;
	X509 *x;

	subject[0] = '\0';
	if (f == NULL)
		return 0;
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		struct pki_cert_info info;
		if (pki_cert_info(x, &info) == 0 && (best == 0 ||
		    info.not_after < best)) {
			best = info.not_after;
			(void)str_copy(subject, size, info.subject);
		}
		X509_free(x);
	}
	ERR_clear_error();
	(void)fclose(f);
	return best;
}

static void
add(struct pki_expiry *list, size_t *n, const char *use, const char *name,
    const char *file)
{
	struct pki_expiry *e;
	if (*n == PKI_EXPIRY_MAX || file == NULL || *file == '\0')
		return;
	e = &list[*n];
	memset(e, 0, sizeof(*e));
	e->not_after = earliest(file, e->subject, sizeof(e->subject));
	if (e->not_after == 0)
		return;
	(void)str_copy(e->use, sizeof(e->use), use);
	(void)str_copy(e->name, sizeof(e->name), name);
	(void)str_copy(e->file, sizeof(e->file), file);
	(*n)++;
}

struct smime_walk {
	struct pki_expiry *list;
	size_t *n;
};

static int
smime_each(const struct store_cert *c, void *arg)
{
	struct smime_walk *w = arg;
	if (strcmp(c->kind, STORE_CERT_SMIME) == 0 &&
	    c->smime_address[0] != '\0')
		add(w->list, w->n, "smime", c->name, c->cert_file);
	return 0;
}

/* warn - the log line for one certificate, at the thresholds. */
static void
warn(const struct pki_expiry *e, int64_t now)
{
	int64_t left = e->not_after - now;
	long days = (long)(left / 86400);

	if (left <= 0)
		log_warnx("- pki certificate expired use=%s name=%s file=%s "
		    "subject=\"%s\"", e->use, e->name, e->file, e->subject);
	else if (days < 1)
		log_warnx("- pki certificate expires within 1 day use=%s "
		    "name=%s file=%s subject=\"%s\"", e->use, e->name, e->file,
		    e->subject);
	else if (days < 7)
		log_warnx("- pki certificate expires within 7 days days=%ld "
		    "use=%s name=%s file=%s subject=\"%s\"", days, e->use,
		    e->name, e->file, e->subject);
	else if (days < 30)
		log_warnx("- pki certificate expires within 30 days days=%ld "
		    "use=%s name=%s file=%s subject=\"%s\"", days, e->use,
		    e->name, e->file, e->subject);
}

int
pki_expiry_scan(const struct config *cfg, struct store *st, int64_t now)
{
	struct pki_expiry *list = calloc(PKI_EXPIRY_MAX, sizeof(*list));
	struct smime_walk w;
	struct store_rtxn *r;
	size_t n = 0;

	if (list == NULL)
		return ERR_NOMEM;
	add(list, &n, "tls_cert_file", "server", cfg->tls_cert_file);
	add(list, &n, "tls_client_cert_file", "operator",
	    cfg->tls_client_cert_file);
	add(list, &n, "tls_ca_file", "trust", cfg->tls_ca_file);
	w.list = list;
	w.n = &n;
	if (st != NULL && store_read_begin(st, &r) == 0) {
		(void)store_cert_iter(r, smime_each, &w);
		store_read_end(&r);
	}
	for (size_t i = 0; i < n; i++)
		warn(&list[i], now);
	pthread_mutex_lock(&exp_mtx);
	memcpy(last, list, n * sizeof(*list));
	n_last = n;
	pthread_mutex_unlock(&exp_mtx);
	free(list);
	return (int)n;
}

size_t
pki_expiry_last(struct pki_expiry *out, size_t max)
{
	pthread_mutex_lock(&exp_mtx);
	size_t n = n_last < max ? n_last : max;
	memcpy(out, last, n * sizeof(*out));
	pthread_mutex_unlock(&exp_mtx);
	return n;
}
