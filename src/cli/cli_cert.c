/* SPDX-License-Identifier: MIT */
/*
 * cli_cert.c - `mssgate cert`: the keys and certificates the gateway
 * uses. The development CA (`ca init`), leaves it issues per use
 * (`issue`), certificates from elsewhere (`import`, PEM, DER, PKCS#12,
 * PKCS#7) and PKCS#12 export, the registry (`list`, `show`, `del`),
 * checks against the trust store (`verify`), revocation (`revoke`,
 * `crl`, `crl import`), the trust folder (`trust`), and `reload`, which
 * asks the running daemon to load them (SIGHUP).
 *
 * Every input file is loaded and checked whole before anything is
 * written: a file that does not load changes neither the registry nor
 * certs_dir. Files are written aside and renamed into place; keys are
 * mode 0600 and never printed. Passwords come from standard input only.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509v3.h>
#include <sodium.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/str.h"
#include "pki/pki.h"
#include "pki/pki_cert.h"
#include "store/store.h"
#include "store/store_cert.h"

#define ERR_LEN 1536
#define PATH_LEN 4096
#define SECRET_MAX 1024
#define EXPIRING_DAYS 30
#define DEVCA_NAME "devca"

/* ---- small helpers ---- */

/* load_exit - the exit code for an input file that did not load. */
static int
load_exit(int err)
{
	switch (err) {
	case ERR_IO: return EX_NOINPUT;
	case ERR_NOMEM: return EX_OSERR;
	case ERR_NOTFOUND: return EX_UNAVAILABLE;
	default: return EX_DATAERR;
	}
}

static void
day_str(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%d", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
}

/* days_left - whole days until t (negative once past). */
static int64_t
days_left(int64_t t, int64_t now)
{
	int64_t d = t - now;
	return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

/* read_secret - one line of standard input (unbuffered, so no copy of
 * it stays in a stdio buffer), without its line end. */
static int
read_secret(const char *what, char *buf, size_t size)
{
	size_t n = 0;
	int ch;

	setvbuf(stdin, NULL, _IONBF, 0);
	while ((ch = getchar()) != EOF && ch != '\n') {
		if (n + 1 >= size) {
			sodium_memzero(buf, size);
			cli_error("%s too long on standard input (%zu bytes at "
			    "most)", what, size - 1);
			return EX_DATAERR;
		}
		buf[n++] = (char)ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (ch == EOF && n == 0) {
		cli_error("no %s on standard input", what);
		return EX_DATAERR;
	}
	return 0;
}

/* new_secret - a passphrase for something we create: 8 characters at
 * least. */
static int
new_secret(const char *what, char *buf, size_t size)
{
	int r = read_secret(what, buf, size);
	if (r != 0)
		return r;
	if (strlen(buf) < 8) {
		sodium_memzero(buf, size);
		cli_error("%s too short (8 characters at least)", what);
		return EX_DATAERR;
	}
	return 0;
}

static int
cert_path(const struct config *cfg, const char *name, const char *ext,
	  char *out, size_t size)
{
	if (str_fmt(out, size, "%s/%s%s", cfg->certs_dir, name, ext) < 0) {
		cli_error("%s: path too long", cfg->certs_dir);
		return EX_DATAERR;
	}
	return 0;
}

static bool
exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

/* same_file - two paths naming one file (resolved when both exist). */
static bool
same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];
	if (a == NULL || b == NULL || a[0] == '\0' || b[0] == '\0')
		return false;
	if (realpath(a, ra) != NULL && realpath(b, rb) != NULL)
		return strcmp(ra, rb) == 0;
	return strcmp(a, b) == 0;
}

static int
ensure_certs_dir(const struct config *cfg)
{
	if (mkdir(cfg->certs_dir, 0700) != 0 && errno != EEXIST) {
		cli_error("%s: cannot create: %s", cfg->certs_dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	return 0;
}

static int
check_name(const char *name)
{
	if (store_cert_name_valid(name))
		return 0;
	cli_error("'%s': not a certificate name (1 to 64 of a-z 0-9 . _ -)",
	    name);
	return EX_DATAERR;
}

/* rec_fill - a registry record describing x. */
static int
rec_fill(struct store_cert *rec, const char *name, const char *kind,
	 const char *cert_file, const char *key_file, X509 *x,
	 bool key_encrypted, const char *smime)
{
	struct pki_cert_info info;

	memset(rec, 0, sizeof(*rec));
	pki_cert_info(x, &info);
	if (str_copy(rec->name, sizeof(rec->name), name) < 0 ||
	    str_copy(rec->kind, sizeof(rec->kind), kind) < 0 ||
	    str_copy(rec->cert_file, sizeof(rec->cert_file), cert_file) < 0 ||
	    str_copy(rec->key_file, sizeof(rec->key_file),
	    key_file != NULL ? key_file : "") < 0 ||
	    str_copy(rec->subject, sizeof(rec->subject), info.subject) < 0 ||
	    str_copy(rec->issuer, sizeof(rec->issuer), info.issuer) < 0 ||
	    str_copy(rec->serial, sizeof(rec->serial), info.serial) < 0 ||
	    str_copy(rec->sans, sizeof(rec->sans), info.sans) < 0 ||
	    str_fmt(rec->key_usage, sizeof(rec->key_usage), "%s%s%s",
	    info.key_usage, info.ext_key_usage[0] ? "; " : "",
	    info.ext_key_usage) < 0 ||
	    str_copy(rec->key_type, sizeof(rec->key_type), info.key_type) < 0 ||
	    str_copy(rec->smime_address, sizeof(rec->smime_address),
	    smime != NULL ? smime : "") < 0) {
		cli_error("%s: a field of the certificate is too long for the "
		    "registry", cert_file);
		return EX_DATAERR;
	}
	str_lower(rec->smime_address);
	rec->not_before = info.not_before;
	rec->not_after = info.not_after;
	rec->added = (int64_t)time(NULL);
	rec->flags = key_encrypted ? STORE_CERT_F_KEY_ENCRYPTED : 0;
	return 0;
}

/* ---- what a record's state is ---- */

struct cert_state {
	const char *status;	/* valid expiring expired revoked untrusted
				 * "not yet valid" missing changed */
	char reason[ERR_LEN];
	int64_t days;
	bool issued;		/* in the development CA's ledger */
	struct store_ca_issued iss;
	bool have_info;
	struct pki_cert_info info;	/* of the file as it is now */
};

/* The context of one listing: the trust store, the CA's name. */
struct cert_env {
	struct cli *c;
	struct config *cfg;
	struct pki_trust *trust;
	char trust_err[1024];
	char ca_subject[512];
	int64_t now;
};

static void
env_init(struct cert_env *e, struct cli *c, struct config *cfg)
{
	char path[PATH_LEN], err[ERR_LEN];
	struct pki_bundle b;

	memset(e, 0, sizeof(*e));
	e->c = c;
	e->cfg = cfg;
	e->now = (int64_t)time(NULL);
	if (pki_trust_load(cfg->tls_ca_file, cfg->certs_dir, &e->trust,
	    e->trust_err, sizeof(e->trust_err)) < 0)
		e->trust = NULL;
	if (str_fmt(path, sizeof(path), "%s/%s", cfg->certs_dir,
	    PKI_CA_CERT) == 0 && exists(path) &&
	    pki_bundle_load_file(path, NULL, &b, err, sizeof(err)) == 0) {
		if (b.cert != NULL) {
			struct pki_cert_info info;
			pki_cert_info(b.cert, &info);
			snprintf(e->ca_subject, sizeof(e->ca_subject), "%s",
			    info.subject);
		}
		pki_bundle_free(&b);
	}
}

static void
env_free(struct cert_env *e)
{
	pki_trust_free(&e->trust);
}

/* serial_parse - hex (colons and a 0x allowed) into the ledger's key. */
static bool
serial_parse(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	size_t digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s != '\0'; s++) {
		unsigned d;
		if (*s == ':')
			continue;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (x == 0 && d == 0)
			continue;
		if (++digits > 16)
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return x != 0;
}

/* ledger_lookup - the ledger's entry for rec, when the development CA
 * issued it (same serial, subject and issuer). */
static int
ledger_lookup(struct store_rtxn *rt, const struct cert_env *e,
	      const struct store_cert *rec, struct cert_state *s)
{
	uint64_t serial;
	s->issued = false;
	if (e->ca_subject[0] == '\0' || strcmp(rec->issuer, e->ca_subject) != 0
	    || !serial_parse(rec->serial, &serial))
		return 0;
	int r = store_ca_issued_get(rt, serial, &s->iss);
	if (r < 0)
		return r;
	s->issued = r == 1 && strcmp(s->iss.subject, rec->subject) == 0;
	return 0;
}

/* state_eval - status of rec from its file, the trust store, the
 * ledger (looked up beforehand into s) and the clock. */
static void
state_eval(const struct cert_env *e, const struct store_cert *rec,
	   struct cert_state *s)
{
	char err[ERR_LEN], date[64];
	struct pki_bundle b;
	enum pki_verify_fail why;

	s->days = days_left(rec->not_after, e->now);
	s->reason[0] = '\0';
	s->have_info = false;
	if (s->issued && s->iss.revoked != 0) {
		s->status = "revoked";
		pki_time_str(s->iss.revoked, date, sizeof(date));
		snprintf(s->reason, sizeof(s->reason), "revoked on %s (%s) by "
		    "the development CA", date, pki_reason_name(s->iss.reason));
		return;
	}
	if (pki_bundle_load_file(rec->cert_file, NULL, &b, err,
	    sizeof(err)) < 0 || b.cert == NULL) {
		s->status = "missing";
		snprintf(s->reason, sizeof(s->reason), "%s", b.cert == NULL &&
		    err[0] == '\0' ? "no certificate in the file" : err);
		pki_bundle_free(&b);
		return;
	}
	pki_cert_info(b.cert, &s->info);
	s->have_info = true;
	if (strcmp(s->info.serial, rec->serial) != 0) {
		s->status = "changed";
		snprintf(s->reason, sizeof(s->reason), "%s now holds another "
		    "certificate (serial %s)", rec->cert_file, s->info.serial);
		pki_bundle_free(&b);
		return;
	}
	if (rec->not_after <= e->now) {
		s->status = "expired";
		pki_time_str(rec->not_after, date, sizeof(date));
		snprintf(s->reason, sizeof(s->reason), "expired on %s", date);
	} else if (rec->not_before > e->now) {
		s->status = "not yet valid";
		pki_time_str(rec->not_before, date, sizeof(date));
		snprintf(s->reason, sizeof(s->reason), "valid from %s", date);
	} else if (e->trust == NULL) {
		s->status = "untrusted";
		snprintf(s->reason, sizeof(s->reason), "the trust store does "
		    "not load: %s", e->trust_err);
	} else if (pki_cert_verify(e->trust, b.cert, b.chain, NULL,
	    PKI_PURPOSE_NONE, 0, &why, s->reason, sizeof(s->reason)) < 0) {
		s->status = why == PKI_VERIFY_REVOKED ? "revoked" :
		    "untrusted";
	} else if (rec->not_after - e->now <= EXPIRING_DAYS * 86400) {
		/* within 30 days, the 30th included: a certificate made for
		 * 30 days is expiring from its first second */
		s->status = "expiring";
		snprintf(s->reason, sizeof(s->reason), "expires in %lld days",
		    (long long)s->days);
	} else {
		s->status = "valid";
	}
	pki_bundle_free(&b);
}

/* used_by - where the configuration (or a binding) uses rec, as a JSON
 * array and a comma-separated text. */
static json_t *
used_by(const struct config *cfg, const struct store_cert *rec, char *text,
	size_t size)
{
	json_t *a = json_array();
	char ca[PATH_LEN], buf[STORE_ADDR_MAX + 8];
	size_t o = 0;
	const struct {
		const char *key, *path;
	} keys[] = {
		{ "tls_cert_file", cfg->tls_cert_file },
		{ "tls_client_cert_file", cfg->tls_client_cert_file },
		{ "tls_chain_file", cfg->tls_chain_file },
		{ "tls_ca_file", cfg->tls_ca_file },
	};

	text[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) + 2; i++) {
		const char *word = NULL;
		if (i < sizeof(keys) / sizeof(keys[0])) {
			if (same_file(rec->cert_file, keys[i].path))
				word = keys[i].key;
		} else if (i == sizeof(keys) / sizeof(keys[0])) {
			if (strcmp(rec->kind, STORE_CERT_CA) == 0 &&
			    str_fmt(ca, sizeof(ca), "%s/%s", cfg->certs_dir,
			    PKI_CA_CERT) == 0 && same_file(rec->cert_file, ca))
				word = "development CA";
		} else if (rec->smime_address[0] != '\0') {
			snprintf(buf, sizeof(buf), "smime:%s",
			    rec->smime_address);
			word = buf;
		}
		if (word == NULL)
			continue;
		if (a != NULL)
			json_array_append_new(a, json_string(word));
		int n = snprintf(text + o, size - o, "%s%s", o ? "," : "",
		    word);
		if (n > 0 && (size_t)n < size - o)
			o += (size_t)n;
	}
	if (o == 0)
		snprintf(text, size, "-");
	return a;
}

/* sans_json - "DNS:a, email:b" as ["DNS:a", "email:b"]. */
static json_t *
sans_json(const char *sans)
{
	json_t *a = json_array();
	const char *p = sans;

	while (a != NULL && *p != '\0') {
		const char *q = strstr(p, ", ");
		size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (q != NULL)
			p += 2;
	}
	return a;
}

static json_t *
rec_json(const struct cert_env *e, const struct store_cert *rec,
	 const struct cert_state *s)
{
	char used[256];
	json_t *u = used_by(e->cfg, rec, used, sizeof(used));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, "
	    "s:s, s:I, s:I, s:I, s:o, s:s, s:s, s:s, s:s, s:b, s:I}",
	    "name", rec->name, "kind", rec->kind, "subject", rec->subject,
	    "issuer", rec->issuer, "serial", rec->serial,
	    "key_type", rec->key_type, "sans", sans_json(rec->sans),
	    "key_usage", rec->key_usage,
	    "status", s->status, "not_before", (json_int_t)rec->not_before,
	    "not_after", (json_int_t)rec->not_after,
	    "days_left", (json_int_t)s->days,
	    "used_by", u != NULL ? u : json_array(),
	    "cert_file", rec->cert_file, "key_file", rec->key_file,
	    "smime_address", rec->smime_address, "reason", s->reason,
	    "key_encrypted", (rec->flags & STORE_CERT_F_KEY_ENCRYPTED) != 0,
	    "added", (json_int_t)rec->added);
	if (o != NULL && s->issued) {
		json_object_set_new(o, "issued_by_dev_ca", json_true());
		if (s->iss.revoked != 0) {
			json_object_set_new(o, "revoked",
			    json_integer(s->iss.revoked));
			json_object_set_new(o, "revocation_reason",
			    json_string(pki_reason_name(s->iss.reason)));
		}
	}
	if (o != NULL && s->have_info)
		json_object_set_new(o, "fingerprint_sha256",
		    json_string(s->info.fingerprint));
	return o;
}

/* registry_put - store_op_cert_put, errors printed. */
static int
registry_put(struct store *st, struct store_cert_op *op)
{
	int r = store_exec(st, store_op_cert_put, op);
	if (r == ERR_EXISTS) {
		cli_error("%s: %s", op->cert->name, op->issued != NULL ?
		    "the name or the serial number is already in the registry" :
		    "a certificate of that name is already in the registry");
		return EX_CANTCREAT;
	}
	if (r < 0) {
		cli_error("%s: cannot write the registry: %s", op->cert->name,
		    err_str(r));
		return cli_exit_code(r);
	}
	return 0;
}

/* ensure_ca_record - the development CA in the registry as "devca". */
static int
ensure_ca_record(struct cli *c, struct config *cfg)
{
	char crt[PATH_LEN], key[PATH_LEN], err[ERR_LEN];
	struct store_cert rec, old;
	struct store_cert_op op = { 0 };
	struct store_rtxn *rt;
	struct pki_bundle b;
	int r;

	if (cert_path(cfg, "ca", ".crt", crt, sizeof(crt)) != 0 ||
	    cert_path(cfg, "ca", ".key", key, sizeof(key)) != 0)
		return EX_DATAERR;
	if ((r = pki_bundle_load_file(crt, NULL, &b, err, sizeof(err))) < 0) {
		cli_error("%s", err);
		return load_exit(r);
	}
	if (b.cert == NULL) {
		pki_bundle_free(&b);
		cli_error("%s: no certificate in the file", crt);
		return EX_DATAERR;
	}
	r = rec_fill(&rec, DEVCA_NAME, STORE_CERT_CA, crt, key, b.cert, false,
	    NULL);
	pki_bundle_free(&b);
	if (r != 0)
		return r;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	if ((r = store_read_begin(st, &rt)) == 0) {
		r = store_cert_get(rt, DEVCA_NAME, &old);
		store_read_end(&rt);
	}
	if (r < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	if (r == 1 && strcmp(old.serial, rec.serial) == 0 &&
	    strcmp(old.kind, STORE_CERT_CA) == 0)
		return 0;
	if (r == 1)
		rec.added = old.added;
	op.cert = &rec;
	op.replace = true;
	return registry_put(st, &op);
}

/* ---- ca init ---- */

static int
cert_ca_init(struct cli *c, int argc, char **argv)
{
	char err[ERR_LEN];
	bool force = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else
			return EX_USAGE;
	}
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	if (!cfg->tls_dev_ca && !force) {
		cli_error("%s says production (tls_dev_ca = no): no "
		    "development CA there (--force to make one anyway)",
		    cfg->source);
		return EX_CONFIG;
	}
	int r = pki_ca_init(cfg->certs_dir, err, sizeof(err));
	if (r < 0) {
		cli_error("%s", err);
		return r == ERR_EXISTS ? EX_CANTCREAT : cli_exit_code(r);
	}
	int rc = ensure_ca_record(c, cfg);
	if (rc != 0)
		return rc;
	if (c->json) {
		cli_json_line(json_pack("{s:s, s:s, s:s, s:b}", "name",
		    DEVCA_NAME, "certs_dir", cfg->certs_dir, "cert",
		    PKI_CA_CERT, "created", r == 1));
	} else if (r == 1) {
		printf("created the development CA in %s: %s, %s (mode "
		    "0600)\n", cfg->certs_dir, PKI_CA_CERT, PKI_CA_KEY);
	} else {
		printf("the development CA already exists in %s (%s, %s): "
		    "kept\n", cfg->certs_dir, PKI_CA_CERT, PKI_CA_KEY);
	}
	return 0;
}

/* ---- issue and import: writing a certificate and its key ---- */

/* The files a new record gets: where, and what they replace. */
struct outputs {
	char crt[PATH_LEN];
	char key[PATH_LEN];
	bool explicit_crt, explicit_key;
	/* the record whose files these were */
	char supersede[STORE_CERT_NAME_MAX];
};

struct find_path {
	const char *crt, *key;
	const char *name;
	char found[STORE_CERT_NAME_MAX];
	bool conflict;
};

static int
find_path_cb(const struct store_cert *rec, void *arg)
{
	struct find_path *f = arg;
	if (strcmp(rec->name, f->name) == 0)
		return 0;
	if (same_file(rec->cert_file, f->crt) ||
	    (rec->key_file[0] != '\0' && same_file(rec->key_file, f->key))) {
		if (strcmp(rec->kind, STORE_CERT_CA) == 0 ||
		    f->found[0] != '\0') {
			f->conflict = true;
			return 1;
		}
		snprintf(f->found, sizeof(f->found), "%s", rec->name);
	}
	return 0;
}

/*
 * plan_outputs - the files of name (default certs_dir/NAME.crt|.key, or
 * --cert-out / --key-out); a default path that exists is refused, an
 * explicit one is replaced (rotation), and the record whose file it
 * was is superseded. The name must be free.
 */
static int
plan_outputs(struct cli *c, struct config *cfg, const char *name,
	     const char *crt_out, const char *key_out, bool want_key,
	     struct outputs *o)
{
	struct store_rtxn *rt;
	struct store_cert old;
	int r;

	memset(o, 0, sizeof(*o));
	if (strcmp(name, DEVCA_NAME) == 0) {
		cli_error("'%s': the development CA's name (ca init)", name);
		return EX_DATAERR;
	}
	o->explicit_crt = crt_out != NULL;
	o->explicit_key = key_out != NULL;
	if (crt_out != NULL ? str_copy(o->crt, sizeof(o->crt), crt_out) < 0 :
	    cert_path(cfg, name, ".crt", o->crt, sizeof(o->crt)) != 0)
		return EX_DATAERR;
	if (key_out != NULL ? str_copy(o->key, sizeof(o->key), key_out) < 0 :
	    cert_path(cfg, name, ".key", o->key, sizeof(o->key)) != 0)
		return EX_DATAERR;
	if (!want_key)
		o->key[0] = '\0';
	if (o->key[0] != '\0' && same_file(o->crt, o->key)) {
		cli_error("%s: the certificate and the key need two files",
		    o->crt);
		return EX_USAGE;
	}
	char ca[PATH_LEN], cak[PATH_LEN];
	if (cert_path(cfg, "ca", ".crt", ca, sizeof(ca)) != 0 ||
	    cert_path(cfg, "ca", ".key", cak, sizeof(cak)) != 0)
		return EX_DATAERR;
	if (same_file(o->crt, ca) || same_file(o->crt, cak) ||
	    same_file(o->key, ca) || same_file(o->key, cak)) {
		cli_error("%s: that is a file of the development CA",
		    same_file(o->crt, ca) || same_file(o->crt, cak) ? o->crt :
		    o->key);
		return EX_DATAERR;
	}
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	if ((r = store_read_begin(st, &rt)) < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	r = store_cert_get(rt, name, &old);
	struct find_path f = { o->crt, o->key, name, "", false };
	if (r == 0 && (o->explicit_crt || o->explicit_key))
		r = store_cert_iter(rt, find_path_cb, &f);
	store_read_end(&rt);
	if (r < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	if (r == 1 && f.found[0] == '\0' && !f.conflict) {
		cli_error("%s: a certificate of that name is already in the "
		    "registry", name);
		return EX_CANTCREAT;
	}
	if (f.conflict) {
		cli_error("%s: the files are used by more than one registered "
		    "certificate (or by the CA)", o->crt);
		return EX_CANTCREAT;
	}
	snprintf(o->supersede, sizeof(o->supersede), "%s", f.found);
	/* a file nobody registered is not overwritten by a default path */
	if (!o->explicit_crt && exists(o->crt)) {
		cli_error("%s exists and is not this certificate's: remove it "
		    "or choose another name", o->crt);
		return EX_CANTCREAT;
	}
	if (o->key[0] != '\0' && !o->explicit_key && exists(o->key)) {
		cli_error("%s exists and is not this certificate's: remove it "
		    "or choose another name", o->key);
		return EX_CANTCREAT;
	}
	return 0;
}

/*
 * write_outputs - stage key and certificate, commit both, then record
 * rec (and the ledger's iss). The files go first: a registry record
 * never names a file that is not there yet; if the registry refuses,
 * new files are removed again.
 */
static int
write_outputs(struct cli *c, const struct outputs *o, X509 *cert,
	      STACK_OF(X509) *chain, EVP_PKEY *key, const char *passphrase,
	      struct store_cert *rec, const struct store_ca_issued *iss)
{
	struct pki_staged sk = { "", "" }, sc = { "", "" };
	struct store_cert_op op = { 0 };
	char err[ERR_LEN];
	int r;

	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	if ((key != NULL && (r = pki_stage_key(&sk, o->key, key, passphrase,
	    err, sizeof(err))) < 0) ||
	    (r = pki_stage_cert(&sc, o->crt, cert, chain, err,
	    sizeof(err))) < 0) {
		pki_stage_abort(&sk);
		cli_error("%s", err);
		return cli_exit_code(r);
	}
	/* default paths are new files: never over someone else's */
	if (key != NULL && (r = o->explicit_key ? pki_stage_commit(&sk, err,
	    sizeof(err)) : pki_stage_commit_new(&sk, err, sizeof(err))) < 0) {
		pki_stage_abort(&sc);
		cli_error("%s", err);
		return r == ERR_EXISTS ? EX_CANTCREAT : cli_exit_code(r);
	}
	if ((r = o->explicit_crt ? pki_stage_commit(&sc, err, sizeof(err)) :
	    pki_stage_commit_new(&sc, err, sizeof(err))) < 0) {
		if (key != NULL && !o->explicit_key)
			(void)unlink(o->key);
		cli_error("%s", err);
		return r == ERR_EXISTS ? EX_CANTCREAT : cli_exit_code(r);
	}
	op.cert = rec;
	op.issued = iss;
	op.supersede = o->supersede[0] != '\0' ? o->supersede : NULL;
	int rc = registry_put(st, &op);
	if (rc != 0) {
		if (!o->explicit_crt)
			(void)unlink(o->crt);
		if (key != NULL && !o->explicit_key)
			(void)unlink(o->key);
	}
	return rc;
}

static void
print_written(struct cert_env *e, const char *verb,
	      const struct store_cert *rec, const struct outputs *o)
{
	struct cert_state s;
	char date[64];

	memset(&s, 0, sizeof(s));
	if (e->c->json) {
		s.status = "valid";
		s.days = days_left(rec->not_after, e->now);
		if (rec->not_after <= e->now)
			s.status = "expired";
		else if (rec->not_after - e->now <= EXPIRING_DAYS * 86400)
			s.status = "expiring";
		json_t *j = rec_json(e, rec, &s);
		if (j != NULL && o->supersede[0] != '\0')
			json_object_set_new(j, "supersedes",
			    json_string(o->supersede));
		cli_json_line(j);
		return;
	}
	pki_time_str(rec->not_after, date, sizeof(date));
	if (strcmp(rec->kind, STORE_CERT_IMPORTED) == 0)
		printf("%s certificate '%s'\n", verb, rec->name);
	else
		printf("%s %s certificate '%s'\n", verb, rec->kind, rec->name);
	printf("  subject      %s\n", rec->subject);
	printf("  issuer       %s\n", rec->issuer);
	printf("  serial       %s\n", rec->serial);
	printf("  not after    %s (%lld days)\n", date,
	    (long long)days_left(rec->not_after, e->now));
	if (rec->sans[0] != '\0')
		printf("  names        %s\n", rec->sans);
	printf("  key usage    %s\n", rec->key_usage);
	printf("  certificate  %s\n", rec->cert_file);
	if (rec->key_file[0] != '\0')
		printf("  key          %s (%s, mode 0600%s)\n", rec->key_file,
		    rec->key_type, rec->flags & STORE_CERT_F_KEY_ENCRYPTED ?
		    ", encrypted" : "");
	if (rec->smime_address[0] != '\0')
		printf("  signs for    %s\n", rec->smime_address);
	if (o->supersede[0] != '\0')
		printf("  supersedes   '%s' (its files were replaced)\n",
		    o->supersede);
}

/* opt_value - argv[*i] is opt with a value: take it. */
static bool
opt_value(int argc, char **argv, int *i, const char *opt, const char **v)
{
	if (strcmp(argv[*i], opt) != 0 || *i + 1 >= argc)
		return false;
	*v = argv[++*i];
	return true;
}

static int
cert_issue(struct cli *c, int argc, char **argv)
{
	struct pki_issue_req req;
	const char *name = NULL, *kind_s = NULL, *key_s = NULL, *days_s = NULL;
	const char *crt_out = NULL, *key_out = NULL, *v;
	bool pass_stdin = false;
	char err[ERR_LEN], pass[SECRET_MAX];
	struct outputs o;
	int rc;

	memset(&req, 0, sizeof(req));
	for (int i = 0; i < argc; i++) {
		if (opt_value(argc, argv, &i, "--cn", &v)) {
			req.cn = v;
		} else if (opt_value(argc, argv, &i, "--dns", &v)) {
			if (req.n_dns == PKI_NAMES_MAX)
				return EX_USAGE;
			req.dns[req.n_dns++] = v;
		} else if (opt_value(argc, argv, &i, "--email", &v)) {
			if (req.n_email == PKI_NAMES_MAX)
				return EX_USAGE;
			req.email[req.n_email++] = v;
		} else if (opt_value(argc, argv, &i, "--rpps", &v)) {
			req.rpps = v;
		} else if (opt_value(argc, argv, &i, "--key", &v)) {
			key_s = v;
		} else if (opt_value(argc, argv, &i, "--days", &v)) {
			days_s = v;
		} else if (opt_value(argc, argv, &i, "--cert-out", &v)) {
			crt_out = v;
		} else if (opt_value(argc, argv, &i, "--key-out", &v)) {
			key_out = v;
		} else if (strcmp(argv[i], "--passphrase-stdin") == 0) {
			pass_stdin = true;
		} else if (argv[i][0] != '-' && kind_s == NULL) {
			kind_s = argv[i];
		} else if (argv[i][0] != '-' && name == NULL) {
			name = argv[i];
		} else {
			return EX_USAGE;
		}
	}
	if (kind_s == NULL || name == NULL)
		return EX_USAGE;
	if (pki_kind_parse(kind_s, &req.kind) < 0) {
		cli_error("'%s': the kinds are server, client, smime and "
		    "operator", kind_s);
		return EX_USAGE;
	}
	if ((rc = check_name(name)) != 0)
		return rc;
	req.key_type = PKI_KEY_RSA2048;
	if (key_s != NULL && pki_key_type_parse(key_s, &req.key_type) < 0) {
		cli_error("--key '%s': rsa2048, rsa3072 or p256", key_s);
		return EX_DATAERR;
	}
	uint64_t days = 365;
	if (days_s != NULL && str_to_u64(days_s, 1, PKI_LEAF_DAYS_MAX,
	    &days) < 0) {
		cli_error("--days '%s': 1 to %d", days_s, PKI_LEAF_DAYS_MAX);
		return EX_DATAERR;
	}
	req.days = (unsigned)days;
	if (pki_issue_check(&req, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return EX_DATAERR;
	}
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	struct pki_ca *ca = NULL;
	int r = pki_ca_load(cfg->certs_dir, &ca, err, sizeof(err));
	if (r == ERR_NOTFOUND) {
		cli_error("%s: run `mssgate cert ca init` first", err);
		return EX_UNAVAILABLE;
	}
	if (r < 0) {
		cli_error("%s", err);
		return EX_DATAERR;
	}
	if ((rc = plan_outputs(c, cfg, name, crt_out, key_out, true,
	    &o)) != 0 || (rc = ensure_ca_record(c, cfg)) != 0) {
		pki_ca_free(&ca);
		return rc;
	}
	if (pass_stdin && (rc = new_secret("passphrase", pass,
	    sizeof(pass))) != 0) {
		pki_ca_free(&ca);
		return rc;
	}
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	uint64_t serial = 0;
	if ((r = pki_cert_issue(ca, &req, &x, &key, &serial, err,
	    sizeof(err))) < 0) {
		pki_ca_free(&ca);
		sodium_memzero(pass, sizeof(pass));
		cli_error("%s", err);
		return cli_exit_code(r);
	}
	pki_ca_free(&ca);
	struct store_cert rec;
	struct store_ca_issued iss;
	rc = rec_fill(&rec, name, pki_kind_name(req.kind), o.crt, o.key, x,
	    pass_stdin, req.kind == PKI_KIND_SMIME ? req.email[0] : NULL);
	if (rc == 0) {
		memset(&iss, 0, sizeof(iss));
		iss.serial = serial;
		iss.issued = rec.added;
		iss.not_after = rec.not_after;
		snprintf(iss.name, sizeof(iss.name), "%s", name);
		snprintf(iss.subject, sizeof(iss.subject), "%s", rec.subject);
		rc = write_outputs(c, &o, x, NULL, key, pass_stdin ? pass :
		    NULL, &rec, &iss);
	}
	sodium_memzero(pass, sizeof(pass));
	EVP_PKEY_free(key);
	X509_free(x);
	if (rc == 0) {
		struct cert_env e;
		memset(&e, 0, sizeof(e));
		e.c = c;
		e.cfg = cfg;
		e.now = (int64_t)time(NULL);
		print_written(&e, "issued", &rec, &o);
	}
	return rc;
}

/* load_input - a file an administrator gave; errors printed with the
 * hint for a missing password. */
static int
load_input(const char *path, const char *password, bool asked,
	   struct pki_bundle *b, const char *suffix)
{
	char err[ERR_LEN];
	int r = pki_bundle_load_file(path, password, b, err, sizeof(err));
	if (r == 0)
		return 0;
	if (r == ERR_AUTH && !asked)
		cli_error("%s (give it with --password-stdin)%s", err, suffix);
	else
		cli_error("%s%s", err, suffix);
	return load_exit(r);
}

static int
cert_import(struct cli *c, int argc, char **argv)
{
	const char *name = NULL, *file = NULL, *keyfile = NULL, *email = NULL;
	const char *crt_out = NULL, *key_out = NULL, *v;
	bool pass_stdin = false;
	char pass[SECRET_MAX] = "";
	struct pki_bundle b, kb;
	struct outputs o;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (opt_value(argc, argv, &i, "--key", &v))
			keyfile = v;
		else if (opt_value(argc, argv, &i, "--email", &v))
			email = v;
		else if (opt_value(argc, argv, &i, "--cert-out", &v))
			crt_out = v;
		else if (opt_value(argc, argv, &i, "--key-out", &v))
			key_out = v;
		else if (strcmp(argv[i], "--password-stdin") == 0)
			pass_stdin = true;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			return EX_USAGE;
	}
	if (name == NULL || file == NULL)
		return EX_USAGE;
	if ((rc = check_name(name)) != 0)
		return rc;
	if (pass_stdin && (rc = read_secret("password", pass,
	    sizeof(pass))) != 0)
		return rc;
	const char *pw = pass_stdin ? pass : NULL;
	static const char nothing[] = "; nothing imported";
	rc = load_input(file, pw, pass_stdin, &b, nothing);
	if (rc == 0 && keyfile != NULL) {
		char err[ERR_LEN];
		rc = load_input(keyfile, pw, pass_stdin, &kb, nothing);
		if (rc == 0) {
			if (pki_bundle_take_key(&b, &kb, keyfile, err,
			    sizeof(err)) < 0) {
				cli_error("%s%s", err, nothing);
				rc = EX_DATAERR;
			}
			pki_bundle_free(&kb);
		}
	}
	sodium_memzero(pass, sizeof(pass));
	if (rc != 0) {
		pki_bundle_free(&b);
		return rc;
	}
	if (b.cert == NULL) {
		cli_error("%s: no certificate in the file%s", file, nothing);
		rc = EX_DATAERR;
	} else if (b.key != NULL && !b.key_matches) {
		cli_error("%s: the private key does not match the certificate "
		    "(key/certificate mismatch)%s", keyfile ? keyfile : file,
		    nothing);
		rc = EX_DATAERR;
	} else if (email != NULL && b.key == NULL) {
		cli_error("%s: --email binds a signing certificate: its "
		    "private key is needed%s", file, nothing);
		rc = EX_DATAERR;
	} else if (email != NULL && !pki_cert_has_email(b.cert, email)) {
		cli_error("%s: the certificate does not name %s (no such "
		    "e-mail address in it)%s", file, email, nothing);
		rc = EX_DATAERR;
	}
	struct config *cfg = rc == 0 ? cli_config(c) : NULL;
	if (rc == 0 && cfg == NULL)
		rc = EX_CONFIG;
	if (rc == 0 && (rc = ensure_certs_dir(cfg)) == 0)
		rc = plan_outputs(c, cfg, name, crt_out, key_out,
		    b.key != NULL, &o);
	struct store_cert rec;
	if (rc == 0)
		rc = rec_fill(&rec, name, STORE_CERT_IMPORTED, o.crt,
		    b.key != NULL ? o.key : "", b.cert, false, email);
	if (rc == 0)
		rc = write_outputs(c, &o, b.cert, b.chain, b.key, NULL, &rec,
		    NULL);
	if (rc == 0) {
		struct cert_env e;
		memset(&e, 0, sizeof(e));
		e.c = c;
		e.cfg = cfg;
		e.now = (int64_t)time(NULL);
		if (!c->json)
			printf("read %s (%s%s)\n", file,
			    pki_format_name(b.format), b.key != NULL ?
			    ", with its key" : "");
		print_written(&e, "imported", &rec, &o);
	}
	pki_bundle_free(&b);
	return rc;
}

/* get_record - a registry record by name; prints why not. */
static int
get_record(struct cli *c, const char *name, struct store_cert *rec)
{
	struct store_rtxn *rt;
	int rc = check_name(name);

	if (rc != 0)
		return rc;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_cert_get(rt, name, rec);
		store_read_end(&rt);
	}
	if (r < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	if (r == 0) {
		cli_error("%s: no certificate of that name in the registry",
		    name);
		return EX_NOUSER;
	}
	return 0;
}

static int
cert_export(struct cli *c, int argc, char **argv)
{
	const char *name = NULL, *file = NULL;
	bool pass_stdin = false;
	char pw[SECRET_MAX] = "", keypw[SECRET_MAX] = "", err[ERR_LEN];
	struct store_cert rec;
	struct pki_bundle b, cab;
	struct pki_staged s = { "", "" };
	STACK_OF(X509) *extra = NULL;
	int rc, r;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			pass_stdin = true;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			return EX_USAGE;
	}
	if (name == NULL || file == NULL)
		return EX_USAGE;
	if ((rc = get_record(c, name, &rec)) != 0)
		return rc;
	if (rec.key_file[0] == '\0') {
		cli_error("%s: no private key in the registry for it: nothing "
		    "to export", name);
		return EX_DATAERR;
	}
	if (exists(file)) {
		cli_error("%s exists: not overwriting it", file);
		return EX_CANTCREAT;
	}
	bool enc = (rec.flags & STORE_CERT_F_KEY_ENCRYPTED) != 0;
	if (enc && !pass_stdin) {
		cli_error("%s: its key is encrypted: give the passphrase with "
		    "--password-stdin", name);
		return EX_DATAERR;
	}
	bool generated = false;
	if (pass_stdin) {
		if ((rc = new_secret("password", pw, sizeof(pw))) != 0)
			return rc;
		/* an optional second line: the key's own passphrase */
		if (enc && (read_secret("key passphrase", keypw,
		    sizeof(keypw)) != 0 || keypw[0] == '\0'))
			memcpy(keypw, pw, sizeof(pw));
	} else {
		if (auth_generate_password(pw, sizeof(pw)) < 0) {
			cli_error("cannot generate a password");
			return EX_SOFTWARE;
		}
		generated = true;
	}
	r = pki_bundle_load_pair(rec.cert_file, rec.key_file, enc ? keypw :
	    NULL, &b, err, sizeof(err));
	sodium_memzero(keypw, sizeof(keypw));
	if (r < 0) {
		sodium_memzero(pw, sizeof(pw));
		cli_error("%s", err);
		return load_exit(r);
	}
	/* with the development CA's certificate when it issued this one */
	struct config *cfg = cli_config(c);
	char ca[PATH_LEN];
	if (cfg != NULL && cert_path(cfg, "ca", ".crt", ca, sizeof(ca)) == 0 &&
	    exists(ca) && pki_bundle_load_file(ca, NULL, &cab, err,
	    sizeof(err)) == 0) {
		if (cab.cert != NULL && X509_check_issued(cab.cert, b.cert) ==
		    X509_V_OK && (extra = sk_X509_new_null()) != NULL &&
		    sk_X509_push(extra, cab.cert))
			cab.cert = NULL;
		pki_bundle_free(&cab);
	}
	r = pki_stage_p12(&s, file, &b, extra, name, pw, err, sizeof(err));
	if (r == 0)
		r = pki_stage_commit_new(&s, err, sizeof(err));
	sk_X509_pop_free(extra, X509_free);
	pki_bundle_free(&b);
	if (r < 0) {
		sodium_memzero(pw, sizeof(pw));
		cli_error("%s", err);
		return r == ERR_EXISTS ? EX_CANTCREAT : cli_exit_code(r);
	}
	if (c->json)
		cli_json_line(json_pack("{s:s, s:s, s:s?}", "name", name,
		    "file", file, "password", generated ? pw : NULL));
	else if (generated)
		printf("exported %s to %s (mode 0600)\npassword: %s\n", name,
		    file, pw);
	else
		printf("exported %s to %s (mode 0600)\n", name, file);
	sodium_memzero(pw, sizeof(pw));
	return 0;
}

/* ---- list, show, del ---- */

struct collect {
	struct store_rtxn *rt;
	const struct cert_env *e;
	struct store_cert *recs;
	struct cert_state *states;
	size_t n, cap;
};

static int
collect_cb(const struct store_cert *rec, void *arg)
{
	struct collect *k = arg;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		void *p = realloc(k->recs, cap * sizeof(*k->recs));
		if (p == NULL)
			return ERR_NOMEM;
		k->recs = p;
		p = realloc(k->states, cap * sizeof(*k->states));
		if (p == NULL)
			return ERR_NOMEM;
		k->states = p;
		k->cap = cap;
	}
	k->recs[k->n] = *rec;
	memset(&k->states[k->n], 0, sizeof(k->states[k->n]));
	int r = ledger_lookup(k->rt, k->e, rec, &k->states[k->n]);
	if (r < 0)
		return r;
	k->n++;
	return 0;
}

static void
print_row(const struct cert_env *e, const struct store_cert *rec,
	  const struct cert_state *s)
{
	char day[32], used[256];
	json_t *u = used_by(e->cfg, rec, used, sizeof(used));
	json_decref(u);
	day_str(rec->not_after, day, sizeof(day));
	printf("%-20s %-9s %-9s %-10s %6lld  %s\n", rec->name, rec->kind,
	    s->status, day, (long long)s->days, used);
	printf("    subject %s\n    issuer %s  serial %s\n", rec->subject,
	    rec->issuer, rec->serial);
	printf("    names %s\n    key usage %s\n", rec->sans[0] ? rec->sans :
	    "-", rec->key_usage[0] ? rec->key_usage : "-");
	if (s->reason[0] != '\0' && strcmp(s->status, "valid") != 0)
		printf("    %s: %s\n", s->status, s->reason);
}

/* unmanaged - a certificate the configuration uses that no record
 * describes (the one the daemon makes on first start, a file put there
 * by hand): listed too, under the key's name, so its expiry shows. */
static void
unmanaged(const struct cert_env *e, const struct collect *k,
	  const char *cfgkey, const char *path)
{
	char err[ERR_LEN];
	struct pki_bundle b;
	struct store_cert rec;
	struct cert_state s;

	if (path == NULL || path[0] == '\0')
		return;
	for (size_t i = 0; i < k->n; i++)
		if (same_file(k->recs[i].cert_file, path))
			return;
	if (strcmp(cfgkey, "tls_client_cert_file") == 0 &&
	    same_file(path, e->cfg->tls_cert_file))
		return;		/* the same file: listed once */
	if (pki_bundle_load_file(path, NULL, &b, err, sizeof(err)) < 0 ||
	    b.cert == NULL) {
		pki_bundle_free(&b);
		return;
	}
	char name[STORE_CERT_NAME_MAX + 16];
	snprintf(name, sizeof(name), "(%s)", cfgkey);
	if (rec_fill(&rec, "x", "unmanaged", path, "", b.cert, false,
	    NULL) == 0) {
		snprintf(rec.name, sizeof(rec.name), "%.*s",
		    STORE_CERT_NAME_MAX - 1, name);
		memset(&s, 0, sizeof(s));
		state_eval(e, &rec, &s);
		if (e->c->json)
			cli_json_line(rec_json(e, &rec, &s));
		else
			print_row(e, &rec, &s);
	}
	pki_bundle_free(&b);
}

static int
cert_list(struct cli *c, int argc, char **argv)
{
	struct collect k;
	struct cert_env e;
	int r;

	(void)argv;
	if (argc != 0)
		return EX_USAGE;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	env_init(&e, c, cfg);
	memset(&k, 0, sizeof(k));
	k.e = &e;
	if ((r = store_read_begin(st, &k.rt)) == 0) {
		r = store_cert_iter(k.rt, collect_cb, &k);
		store_read_end(&k.rt);
	}
	if (r < 0) {
		cli_error("%s", err_str(r));
		free(k.recs);
		free(k.states);
		env_free(&e);
		return cli_exit_code(r);
	}
	if (!c->json)
		printf("%-20s %-9s %-9s %-10s %6s  %s\n", "NAME", "KIND",
		    "STATUS", "NOT-AFTER", "DAYS", "USED-BY");
	for (size_t i = 0; i < k.n; i++) {
		state_eval(&e, &k.recs[i], &k.states[i]);
		if (c->json)
			cli_json_line(rec_json(&e, &k.recs[i], &k.states[i]));
		else
			print_row(&e, &k.recs[i], &k.states[i]);
	}
	unmanaged(&e, &k, "tls_cert_file", cfg->tls_cert_file);
	unmanaged(&e, &k, "tls_client_cert_file", cfg->tls_client_cert_file);
	if (e.trust == NULL)
		cli_error("warning: %s", e.trust_err);
	free(k.recs);
	free(k.states);
	env_free(&e);
	return 0;
}

static int
cert_show(struct cli *c, int argc, char **argv)
{
	struct store_cert rec;
	struct cert_state s;
	struct cert_env e;
	struct store_rtxn *rt;
	char used[256], nb[64], na[64], added[64];
	int rc;

	if (argc != 1)
		return EX_USAGE;
	if ((rc = get_record(c, argv[0], &rec)) != 0)
		return rc;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	env_init(&e, c, cfg);
	memset(&s, 0, sizeof(s));
	int r = store_read_begin(c->st, &rt);
	if (r == 0) {
		r = ledger_lookup(rt, &e, &rec, &s);
		store_read_end(&rt);
	}
	if (r < 0) {
		env_free(&e);
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	state_eval(&e, &rec, &s);
	if (c->json) {
		cli_json_line(rec_json(&e, &rec, &s));
		env_free(&e);
		return 0;
	}
	json_decref(used_by(cfg, &rec, used, sizeof(used)));
	pki_time_str(rec.not_before, nb, sizeof(nb));
	pki_time_str(rec.not_after, na, sizeof(na));
	pki_time_str(rec.added, added, sizeof(added));
	printf("name           %s\n", rec.name);
	printf("kind           %s\n", rec.kind);
	printf("status         %s%s%s\n", s.status, s.reason[0] ? ": " : "",
	    s.reason);
	printf("subject        %s\n", rec.subject);
	printf("issuer         %s\n", rec.issuer);
	printf("serial         %s\n", rec.serial);
	printf("not before     %s\n", nb);
	printf("not after      %s (%lld days left)\n", na, (long long)s.days);
	printf("names          %s\n", rec.sans[0] ? rec.sans : "-");
	printf("key usage      %s\n", rec.key_usage[0] ? rec.key_usage : "-");
	printf("key type       %s\n", rec.key_type);
	if (s.have_info)
		printf("sha-256        %s\n", s.info.fingerprint);
	printf("certificate    %s\n", rec.cert_file);
	printf("key            %s%s\n", rec.key_file[0] ? rec.key_file : "-",
	    rec.flags & STORE_CERT_F_KEY_ENCRYPTED ? " (encrypted)" : "");
	printf("signs for      %s\n", rec.smime_address[0] ?
	    rec.smime_address : "-");
	printf("used by        %s\n", used);
	printf("issued by CA   %s\n", s.issued ? "yes (development CA)" :
	    "no");
	printf("added          %s\n", added);
	env_free(&e);
	return 0;
}

static int
cert_del(struct cli *c, int argc, char **argv)
{
	struct store_cert rec;
	struct store_cert_op op = { 0 };
	char crt[PATH_LEN], key[PATH_LEN], used[256];
	int rc;

	if (argc != 1)
		return EX_USAGE;
	if ((rc = get_record(c, argv[0], &rec)) != 0)
		return rc;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	json_decref(used_by(cfg, &rec, used, sizeof(used)));
	if (strcmp(rec.kind, STORE_CERT_CA) == 0 || strcmp(used, "-") != 0) {
		cli_error("%s: in use (%s): change the configuration first",
		    rec.name, strcmp(rec.kind, STORE_CERT_CA) == 0 ?
		    "the development CA" : used);
		return EX_DATAERR;
	}
	op.name = rec.name;
	int r = store_exec(c->st, store_op_cert_del, &op);
	if (r < 0) {
		cli_error("%s: %s", rec.name, err_str(r));
		return cli_exit_code(r);
	}
	/* the files this command made; a file named by --cert-out stays */
	int removed = 0;
	if (cert_path(cfg, rec.name, ".crt", crt, sizeof(crt)) == 0 &&
	    strcmp(crt, rec.cert_file) == 0 && unlink(crt) == 0)
		removed++;
	if (cert_path(cfg, rec.name, ".key", key, sizeof(key)) == 0 &&
	    strcmp(key, rec.key_file) == 0 && unlink(key) == 0)
		removed++;
	if (c->json)
		cli_json_line(json_pack("{s:s, s:b, s:i}", "name", rec.name,
		    "deleted", 1, "files_removed", removed));
	else
		printf("deleted %s (%d file%s removed)\n", rec.name, removed,
		    removed == 1 ? "" : "s");
	return 0;
}

/* ---- verify ---- */

static int
cert_verify(struct cli *c, int argc, char **argv)
{
	const char *file = NULL, *v;
	enum pki_purpose purpose = PKI_PURPOSE_NONE;
	bool pass_stdin = false;
	char pass[SECRET_MAX] = "", err[ERR_LEN], reason[ERR_LEN];
	struct pki_bundle b;
	struct pki_trust *t = NULL;
	enum pki_verify_fail why;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (opt_value(argc, argv, &i, "--purpose", &v)) {
			if (pki_purpose_parse(v, &purpose) < 0) {
				cli_error("--purpose '%s': tls-server, "
				    "tls-client or smime", v);
				return EX_USAGE;
			}
		} else if (strcmp(argv[i], "--password-stdin") == 0) {
			pass_stdin = true;
		} else if (argv[i][0] != '-' && file == NULL) {
			file = argv[i];
		} else {
			return EX_USAGE;
		}
	}
	if (file == NULL)
		return EX_USAGE;
	if (pass_stdin && (rc = read_secret("password", pass,
	    sizeof(pass))) != 0)
		return rc;
	rc = load_input(file, pass_stdin ? pass : NULL, pass_stdin, &b, "");
	sodium_memzero(pass, sizeof(pass));
	if (rc != 0)
		return rc;
	if (b.cert == NULL) {
		pki_bundle_free(&b);
		cli_error("%s: no certificate in the file", file);
		return EX_DATAERR;
	}
	struct config *cfg = cli_config(c);
	if (cfg == NULL) {
		pki_bundle_free(&b);
		return EX_CONFIG;
	}
	int r = pki_trust_load(cfg->tls_ca_file, cfg->certs_dir, &t, err,
	    sizeof(err));
	if (r < 0) {
		pki_bundle_free(&b);
		cli_error("the trust store does not load: %s", err);
		return EX_CONFIG;
	}
	r = pki_cert_verify(t, b.cert, b.chain, b.key, purpose, 0, &why,
	    reason, sizeof(reason));
	if (r == 0 && b.key != NULL && !b.key_matches)
		r = ERR_INVAL;
	struct pki_cert_info info;
	pki_cert_info(b.cert, &info);
	pki_bundle_free(&b);
	pki_trust_free(&t);
	if (r < 0 && reason[0] == '\0') {
		cli_error("%s: cannot verify: %s", file, err_str(r));
		return cli_exit_code(r);
	}
	if (c->json)
		cli_json_line(json_pack("{s:s, s:b, s:s, s:s, s:s, s:s}",
		    "file", file, "ok", r == 0, "purpose",
		    pki_purpose_name(purpose), "subject", info.subject,
		    "serial", info.serial, "reason", reason));
	if (r < 0) {
		if (!c->json)
			cli_error("%s: %s", file, reason);
		return EX_DATAERR;
	}
	if (!c->json)
		printf("%s: OK (%s)\n", file, pki_purpose_name(purpose));
	return 0;
}

/* ---- revocation ---- */

struct revoked_list {
	struct pki_revoked *v;
	size_t n, cap;
};

static int
revoked_cb(const struct store_ca_issued *iss, void *arg)
{
	struct revoked_list *l = arg;
	if (iss->revoked == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *p = realloc(l->v, cap * sizeof(*l->v));
		if (p == NULL)
			return ERR_NOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n].serial = iss->serial;
	l->v[l->n].when = iss->revoked;
	l->v[l->n].reason = iss->reason;
	l->n++;
	return 0;
}

/* write_crl - the development CA's CRL from its ledger into path
 * (default certs_dir/crl/devca.crl.pem). */
static int
write_crl(struct cli *c, struct config *cfg, const char *out, bool quiet)
{
	char path[PATH_LEN], dir[PATH_LEN], err[ERR_LEN], next[64];
	struct revoked_list l = { NULL, 0, 0 };
	struct store_ca_crl_op nop = { 0 };
	struct pki_staged s = { "", "" };
	struct store_rtxn *rt;
	struct pki_ca *ca = NULL;
	X509_CRL *crl = NULL;
	int r;

	if (out == NULL) {
		if (str_fmt(dir, sizeof(dir), "%s/%s", cfg->certs_dir,
		    PKI_CRL_DIR) < 0 || str_fmt(path, sizeof(path), "%s/%s",
		    dir, PKI_DEVCA_CRL) < 0) {
			cli_error("%s: path too long", cfg->certs_dir);
			return EX_DATAERR;
		}
		if (ensure_certs_dir(cfg) != 0)
			return EX_CANTCREAT;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			cli_error("%s: cannot create: %s", dir,
			    strerror(errno));
			return EX_CANTCREAT;
		}
		out = path;
	}
	if ((r = pki_ca_load(cfg->certs_dir, &ca, err, sizeof(err))) < 0) {
		cli_error("%s", err);
		return r == ERR_NOTFOUND ? EX_UNAVAILABLE : EX_DATAERR;
	}
	struct store *st = cli_store(c);
	if (st == NULL) {
		pki_ca_free(&ca);
		return EX_UNAVAILABLE;
	}
	if ((r = store_read_begin(st, &rt)) == 0) {
		r = store_ca_issued_iter(rt, revoked_cb, &l);
		store_read_end(&rt);
	}
	if (r == 0)
		r = store_exec(st, store_op_ca_crl_number, &nop);
	int64_t now = (int64_t)time(NULL);
	if (r == 0)
		r = pki_crl_make(ca, l.v, l.n, nop.number_r, now, PKI_CRL_DAYS,
		    &crl, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", err_str(r));
	pki_ca_free(&ca);
	free(l.v);
	if (r == 0 && (r = pki_stage_crl(&s, out, crl, err, sizeof(err))) == 0)
		r = pki_stage_commit(&s, err, sizeof(err));
	X509_CRL_free(crl);
	if (r < 0) {
		cli_error("%s", err);
		return cli_exit_code(r);
	}
	pki_time_str(now + 86400LL * PKI_CRL_DAYS, next, sizeof(next));
	if (quiet)
		return 0;
	if (c->json)
		cli_json_line(json_pack("{s:s, s:I, s:I, s:I}", "file", out,
		    "revoked", (json_int_t)l.n, "number",
		    (json_int_t)nop.number_r, "next_update",
		    (json_int_t)(now + 86400LL * PKI_CRL_DAYS)));
	else
		printf("wrote %s: CRL number %llu, %zu revoked, next update "
		    "%s\n", out, (unsigned long long)nop.number_r, l.n, next);
	return 0;
}

static int
cert_revoke(struct cli *c, int argc, char **argv)
{
	const char *what = NULL, *v;
	struct store_ca_revoke_op op;
	struct store_cert rec;
	struct store_rtxn *rt;
	char when[64];
	int reason = 0;

	memset(&op, 0, sizeof(op));
	for (int i = 0; i < argc; i++) {
		if (opt_value(argc, argv, &i, "--reason", &v)) {
			if (pki_reason_parse(v, &reason) < 0) {
				cli_error("--reason '%s': unspecified, "
				    "keyCompromise, cACompromise, "
				    "affiliationChanged, superseded, "
				    "cessationOfOperation, certificateHold, "
				    "privilegeWithdrawn or aACompromise", v);
				return EX_DATAERR;
			}
		} else if (argv[i][0] != '-' && what == NULL) {
			what = argv[i];
		} else {
			return EX_USAGE;
		}
	}
	if (what == NULL)
		return EX_USAGE;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_cert_name_valid(what) ? store_cert_get(rt, what,
		    &rec) : 0;
		store_read_end(&rt);
	}
	if (r < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	bool by_name = r == 1;
	if (!serial_parse(by_name ? rec.serial : what, &op.serial)) {
		cli_error(by_name ? "%s: not issued by the development CA "
		    "(serial too long): revoke it at its own CA" :
		    "%s: neither a certificate name nor a serial number",
		    what);
		return by_name ? EX_DATAERR : EX_NOUSER;
	}
	op.when = (int64_t)time(NULL);
	op.reason = (uint8_t)reason;
	r = store_exec(st, store_op_ca_revoke, &op);
	if (r == ERR_NOTFOUND) {
		cli_error("%s: not issued by the development CA (not in its "
		    "ledger): revoke it at its own CA", what);
		return EX_NOUSER;
	}
	bool already = r == ERR_EXISTS;
	if (r < 0 && !already) {
		cli_error("%s: %s", what, err_str(r));
		return cli_exit_code(r);
	}
	pki_time_str(op.rec_r.revoked, when, sizeof(when));
	if (c->json)
		cli_json_line(json_pack("{s:s, s:s, s:s, s:I, s:s, s:b}",
		    "serial", by_name ? rec.serial : what, "name",
		    op.rec_r.name, "subject",
		    op.rec_r.subject, "revoked", (json_int_t)op.rec_r.revoked,
		    "reason", pki_reason_name(op.rec_r.reason), "already",
		    already));
	else
		printf("%s %016llX (%s) on %s, reason %s\n", already ?
		    "already revoked" : "revoked",
		    (unsigned long long)op.serial, op.rec_r.name, when,
		    pki_reason_name(op.rec_r.reason));
	/* the CRL follows at once: `cert verify` and the daemon (after a
	 * reload) see the revocation without another command */
	return write_crl(c, cfg, NULL, c->json);
}

static int
cert_crl_import(struct cli *c, const char *file)
{
	char err[ERR_LEN], path[PATH_LEN], dir[PATH_LEN], dn[600], next[64];
	struct pki_trust *t = NULL;
	struct pki_staged s = { "", "" };
	X509_CRL *crl = NULL, *old = NULL;
	X509 *issuer = NULL;
	int r;

	if ((r = pki_crl_load_file(file, &crl, err, sizeof(err))) < 0) {
		cli_error("%s; nothing imported", err);
		return load_exit(r);
	}
	struct config *cfg = cli_config(c);
	if (cfg == NULL) {
		X509_CRL_free(crl);
		return EX_CONFIG;
	}
	if ((r = pki_trust_load(cfg->tls_ca_file, cfg->certs_dir, &t, err,
	    sizeof(err))) < 0) {
		X509_CRL_free(crl);
		cli_error("the trust store does not load: %s", err);
		return EX_CONFIG;
	}
	int64_t now = (int64_t)time(NULL), thisu, nextu, othis, onext;
	size_t n, on;
	r = pki_crl_check(t, crl, now, &issuer, err, sizeof(err));
	if (r == 0) {
		/* issuer lives in t */
		struct pki_cert_info info;
		pki_cert_info(issuer, &info);
		snprintf(dn, sizeof(dn), "%s", info.subject);
	}
	pki_trust_free(&t);
	if (r < 0) {
		X509_CRL_free(crl);
		cli_error("%s: %s; nothing imported", file, err);
		return EX_DATAERR;
	}
	unsigned long h = X509_NAME_hash_ex(X509_CRL_get_issuer(crl), NULL,
	    NULL, NULL) & 0xffffffffUL;
	if (str_fmt(dir, sizeof(dir), "%s/%s", cfg->certs_dir,
	    PKI_CRL_DIR) < 0 || str_fmt(path, sizeof(path),
	    "%s/%08lx.crl.pem", dir, h) < 0) {
		X509_CRL_free(crl);
		cli_error("%s: path too long", cfg->certs_dir);
		return EX_DATAERR;
	}
	pki_crl_times(crl, &thisu, &nextu, &n);
	/* keep the newest: a replayed older list must not un-revoke */
	if (exists(path) && pki_crl_load_file(path, &old, err,
	    sizeof(err)) == 0) {
		pki_crl_times(old, &othis, &onext, &on);
		X509_CRL_free(old);
		if (othis > thisu) {
			char d[64];
			pki_time_str(othis, d, sizeof(d));
			X509_CRL_free(crl);
			cli_error("%s: older than the CRL already stored (%s, "
			    "thisUpdate %s); nothing imported", file, path, d);
			return EX_DATAERR;
		}
	}
	if (ensure_certs_dir(cfg) != 0 || (mkdir(dir, 0755) != 0 &&
	    errno != EEXIST)) {
		X509_CRL_free(crl);
		cli_error("%s: cannot create: %s", dir, strerror(errno));
		return EX_CANTCREAT;
	}
	r = pki_stage_crl(&s, path, crl, err, sizeof(err));
	if (r == 0)
		r = pki_stage_commit(&s, err, sizeof(err));
	X509_CRL_free(crl);
	if (r < 0) {
		cli_error("%s", err);
		return cli_exit_code(r);
	}
	pki_time_str(nextu, next, sizeof(next));
	if (c->json)
		cli_json_line(json_pack("{s:s, s:s, s:s, s:I, s:I}", "file",
		    file, "stored", path, "issuer", dn, "revoked",
		    (json_int_t)n, "next_update", (json_int_t)nextu));
	else
		printf("imported the CRL of '%s' (%zu revoked, next update "
		    "%s) into %s\n", dn, n, nextu ? next : "none", path);
	return 0;
}

static int
cert_crl(struct cli *c, int argc, char **argv)
{
	const char *out = NULL, *v;

	if (argc >= 1 && strcmp(argv[0], "import") == 0) {
		if (argc != 2)
			return EX_USAGE;
		return cert_crl_import(c, argv[1]);
	}
	for (int i = 0; i < argc; i++) {
		if (!opt_value(argc, argv, &i, "--out", &v))
			return EX_USAGE;
		out = v;
	}
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	return write_crl(c, cfg, out, false);
}

/* ---- the trust store ---- */

struct trust_print {
	struct cli *c;
	const char *source;
	int64_t now;
	size_t n;
};

static int
trust_print_cb(const char *file, X509 *x, void *arg)
{
	struct trust_print *p = arg;
	struct pki_cert_info info;
	char day[32], src[PATH_LEN];

	pki_cert_info(x, &info);
	day_str(info.not_after, day, sizeof(day));
	if (str_fmt(src, sizeof(src), "%s%s", p->source, file) < 0)
		snprintf(src, sizeof(src), "%s", file);
	p->n++;
	if (p->c->json) {
		cli_json_line(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:b, "
		    "s:s}", "hash", info.subject_hash, "subject", info.subject,
		    "issuer", info.issuer, "not_after",
		    (json_int_t)info.not_after, "days_left",
		    (json_int_t)days_left(info.not_after, p->now), "source",
		    src, "root", info.self_signed, "fingerprint_sha256",
		    info.fingerprint));
		return 0;
	}
	printf("%-8s  %-10s %6lld  %-4s  %-30s %s\n", info.subject_hash, day,
	    (long long)days_left(info.not_after, p->now),
	    info.self_signed ? "root" : "ca", src, info.subject);
	return 0;
}

static int
trust_list(struct cli *c, struct config *cfg)
{
	char err[ERR_LEN];
	struct trust_print p = { c, "tls_ca_file:", (int64_t)time(NULL), 0 };
	int r = 0;

	if (!c->json)
		printf("%-8s  %-10s %6s  %-4s  %-30s %s\n", "HASH", "NOT-AFTER",
		    "DAYS", "TYPE", "SOURCE", "SUBJECT");
	if (cfg->tls_ca_file[0] != '\0' && exists(cfg->tls_ca_file))
		r = pki_pem_certs_iter(cfg->tls_ca_file, trust_print_cb, &p,
		    err, sizeof(err));
	if (r == 0) {
		p.source = "trust/";
		r = pki_trustdir_iter(cfg->certs_dir, trust_print_cb, &p, err,
		    sizeof(err));
	}
	if (r < 0) {
		cli_error("%s", err);
		return load_exit(r);
	}
	return 0;
}

static int
trust_add(struct cli *c, struct config *cfg, const char *file)
{
	char err[ERR_LEN], name[256];
	struct pki_bundle b;
	int rc = load_input(file, NULL, false, &b, "; nothing added");

	if (rc != 0)
		return rc;
	int n = b.cert != NULL ? 1 + sk_X509_num(b.chain) : 0;
	if (n == 0) {
		pki_bundle_free(&b);
		cli_error("%s: no certificate in the file; nothing added",
		    file);
		return EX_DATAERR;
	}
	/* every certificate checked before the first is written */
	for (int i = 0; i < n; i++) {
		X509 *x = i == 0 ? b.cert : sk_X509_value(b.chain, i - 1);
		if (X509_check_ca(x) == 0) {
			struct pki_cert_info info;
			pki_cert_info(x, &info);
			pki_bundle_free(&b);
			cli_error("%s: '%s' is not a CA certificate: only CA "
			    "certificates are trust anchors; nothing added",
			    file, info.subject);
			return EX_DATAERR;
		}
	}
	if (ensure_certs_dir(cfg) != 0) {
		pki_bundle_free(&b);
		return EX_CANTCREAT;
	}
	for (int i = 0; i < n; i++) {
		X509 *x = i == 0 ? b.cert : sk_X509_value(b.chain, i - 1);
		struct pki_cert_info info;
		int r = pki_trustdir_add(cfg->certs_dir, x, name, sizeof(name),
		    err, sizeof(err));
		if (r < 0) {
			pki_bundle_free(&b);
			cli_error("%s", err);
			return cli_exit_code(r);
		}
		pki_cert_info(x, &info);
		if (c->json)
			cli_json_line(json_pack("{s:s, s:s, s:s, s:b}",
			    "file", name, "hash", info.subject_hash, "subject",
			    info.subject, "added", r == 1));
		else
			printf("%s trust/%s (hash %s): %s\n", r == 1 ?
			    "added" : "already trusted as", name,
			    info.subject_hash, info.subject);
	}
	pki_bundle_free(&b);
	if (!c->json)
		printf("run `mssgate cert reload` so the daemon uses it\n");
	return 0;
}

static int
trust_remove(struct cli *c, struct config *cfg, const char *what)
{
	char err[ERR_LEN];
	int r = pki_trustdir_remove(cfg->certs_dir, what, err, sizeof(err));

	if (r < 0) {
		cli_error("%s", err);
		return r == ERR_INVAL ? EX_DATAERR : cli_exit_code(r);
	}
	if (r == 0) {
		cli_error("%s: not in the trust folder %s/%s (certificates of "
		    "tls_ca_file %s are removed by editing that file)", what,
		    cfg->certs_dir, PKI_TRUST_DIR, cfg->tls_ca_file);
		return EX_NOUSER;
	}
	if (c->json)
		cli_json_line(json_pack("{s:s, s:i}", "removed", what,
		    "certificates", r));
	else
		printf("removed %d certificate%s (%s); run `mssgate cert "
		    "reload` so the daemon drops it\n", r, r == 1 ? "" : "s",
		    what);
	return 0;
}

static int
cert_trust(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return EX_USAGE;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	if (strcmp(argv[0], "list") == 0 && argc == 1)
		return trust_list(c, cfg);
	if (strcmp(argv[0], "add") == 0 && argc == 2)
		return trust_add(c, cfg, argv[1]);
	if (strcmp(argv[0], "remove") == 0 && argc == 2)
		return trust_remove(c, cfg, argv[1]);
	return EX_USAGE;
}

/* ---- reload ---- */

/* is_mssgated - /proc/PID/cmdline names mssgated (a pid file outliving
 * its daemon must not make us signal whatever took the number); true
 * when /proc cannot tell. */
static bool
is_mssgated(long pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return errno != ENOENT;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		const char *arg = buf + i;
		const char *base = strrchr(arg, '/');
		base = base != NULL ? base + 1 : arg;
		if (strstr(base, "mssgated") != NULL)
			return true;
	}
	return false;
}

static int
cert_reload(struct cli *c, int argc, char **argv)
{
	char buf[64], err[PKI_ERR_MAX];
	SSL_CTX *ctx = NULL;
	uint64_t pid;

	(void)argv;
	if (argc != 0)
		return EX_USAGE;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	if (cfg->pid_file[0] == '\0') {
		cli_error("pid_file is not set in %s: cannot find the running "
		    "daemon (set it, or send SIGHUP to mssgated)", cfg->source);
		return EX_CONFIG;
	}
	FILE *f = fopen(cfg->pid_file, "r");
	if (f == NULL) {
		cli_error("no daemon running: %s: %s", cfg->pid_file,
		    strerror(errno));
		return EX_UNAVAILABLE;
	}
	bool ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\r\n")] = '\0';
	if (!ok || str_to_u64(buf, 2, INT_MAX, &pid) < 0) {
		cli_error("%s: not a process id", cfg->pid_file);
		return EX_DATAERR;
	}
	if (kill((pid_t)pid, 0) != 0) {
		if (errno == EPERM) {
			cli_error("not allowed to signal process %llu: run as "
			    "the daemon's user or root",
			    (unsigned long long)pid);
			return EX_NOPERM;
		}
		cli_error("no daemon running: process %llu (from %s) is gone",
		    (unsigned long long)pid, cfg->pid_file);
		return EX_UNAVAILABLE;
	}
	if (!is_mssgated((long)pid)) {
		cli_error("no daemon running: process %llu (from %s) is not "
		    "mssgated", (unsigned long long)pid, cfg->pid_file);
		return EX_UNAVAILABLE;
	}
	/* what the daemon will load: a refusal is said here, with its
	 * reason, instead of only in the daemon's log */
	err[0] = '\0';
	int r = pki_tls_relay_new(cfg, &ctx, err, sizeof(err));
	SSL_CTX_free(ctx);
	ctx = NULL;
	if (r == 0)
		r = pki_tls_client_new(cfg, &ctx, err, sizeof(err));
	SSL_CTX_free(ctx);
	if (r < 0) {
		cli_error("the daemon would refuse the certificates: %s; no "
		    "signal sent, the daemon keeps the ones it has", err);
		return EX_DATAERR;
	}
	if (kill((pid_t)pid, SIGHUP) != 0) {
		cli_error("cannot signal process %llu: %s",
		    (unsigned long long)pid, strerror(errno));
		return EX_NOPERM;
	}
	if (c->json)
		cli_json_line(json_pack("{s:I, s:s}", "pid", (json_int_t)pid,
		    "signal", "SIGHUP"));
	else
		printf("sent SIGHUP to mssgated (pid %llu): new sessions use "
		    "the certificates of %s, open ones keep theirs\n",
		    (unsigned long long)pid, cfg->source);
	return 0;
}

int
cli_cert(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return EX_USAGE;
	const char *verb = argv[0];
	argc--;
	argv++;
	if (strcmp(verb, "ca") == 0) {
		if (argc < 1 || strcmp(argv[0], "init") != 0)
			return EX_USAGE;
		return cert_ca_init(c, argc - 1, argv + 1);
	}
	if (strcmp(verb, "issue") == 0)
		return cert_issue(c, argc, argv);
	if (strcmp(verb, "import") == 0)
		return cert_import(c, argc, argv);
	if (strcmp(verb, "export") == 0)
		return cert_export(c, argc, argv);
	if (strcmp(verb, "list") == 0)
		return cert_list(c, argc, argv);
	if (strcmp(verb, "show") == 0)
		return cert_show(c, argc, argv);
	if (strcmp(verb, "del") == 0)
		return cert_del(c, argc, argv);
	if (strcmp(verb, "verify") == 0)
		return cert_verify(c, argc, argv);
	if (strcmp(verb, "revoke") == 0)
		return cert_revoke(c, argc, argv);
	if (strcmp(verb, "crl") == 0)
		return cert_crl(c, argc, argv);
	if (strcmp(verb, "trust") == 0)
		return cert_trust(c, argc, argv);
	if (strcmp(verb, "reload") == 0)
		return cert_reload(c, argc, argv);
	return EX_USAGE;
}
