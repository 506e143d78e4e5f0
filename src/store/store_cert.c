/* SPDX-License-Identifier: MIT */
/*
 * store_cert.c - the certificate registry (DB_CERT, by name) and the
 * development CA's ledger (DB_CA_ISSUED, by big-endian u64 serial). A
 * certificate issued by the CA and its registry record are written in
 * one transaction, so the ledger never misses a certificate whose files
 * the registry points to.
 */
#include "store_cert.h"

#include <time.h>

#include "core/err.h"
#include "core/str.h"
#include "store_int.h"

#define CERT_VERSION 1
#define ISSUED_VERSION 1
#define CRL_NUMBER_META "ca_crl_number"

/* The largest record: every string at its maximum, with its length. */
#define CERT_VALUE_MAX (1 + 2 * 11 + STORE_CERT_KIND_MAX + \
	2 * STORE_CERT_PATH_MAX + 2 * STORE_CERT_DN_MAX + \
	STORE_CERT_SERIAL_MAX + STORE_CERT_SANS_MAX + STORE_CERT_USAGE_MAX + \
	STORE_CERT_KEYTYPE_MAX + STORE_ADDR_MAX + 3 * 8 + 1)
#define ISSUED_VALUE_MAX (1 + 2 * 2 + STORE_CERT_NAME_MAX + \
	STORE_CERT_DN_MAX + 3 * 8 + 1)

bool
store_cert_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= STORE_CERT_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int
cert_key(const char *name, MDB_val *k)
{
	if (!store_cert_name_valid(name))
		return ERR_INVAL;
	k->mv_data = (void *)name;
	k->mv_size = strlen(name);
	return 0;
}

static int
cert_decode(const MDB_val *k, const MDB_val *v, struct store_cert *c)
{
	struct dec d;

	if (k->mv_size == 0 || k->mv_size >= sizeof(c->name))
		return ERR_CORRUPT;
	memset(c, 0, sizeof(*c));
	memcpy(c->name, k->mv_data, k->mv_size);
	dec_init(&d, v);
	if (dec_u8(&d) != CERT_VERSION)
		return d.err ? d.err : ERR_VERSION;
	dec_str(&d, c->kind, sizeof(c->kind));
	dec_str(&d, c->cert_file, sizeof(c->cert_file));
	dec_str(&d, c->key_file, sizeof(c->key_file));
	dec_str(&d, c->subject, sizeof(c->subject));
	dec_str(&d, c->issuer, sizeof(c->issuer));
	dec_str(&d, c->serial, sizeof(c->serial));
	dec_str(&d, c->sans, sizeof(c->sans));
	dec_str(&d, c->key_usage, sizeof(c->key_usage));
	dec_str(&d, c->key_type, sizeof(c->key_type));
	c->not_before = (int64_t)dec_u64(&d);
	c->not_after = (int64_t)dec_u64(&d);
	dec_str(&d, c->smime_address, sizeof(c->smime_address));
	c->added = (int64_t)dec_u64(&d);
	c->flags = dec_u8(&d);
	return d.err;
}

/* cert_put - write c; with noover, ERR_EXISTS when its name is taken. */
static int
cert_put(struct store_wtxn *w, const struct store_cert *c, bool noover)
{
	unsigned char vb[CERT_VALUE_MAX];
	struct enc e;
	MDB_val k, v;
	int r = cert_key(c->name, &k);

	if (r < 0)
		return r;
	if (c->cert_file[0] == '\0' || c->kind[0] == '\0')
		return ERR_INVAL;
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, CERT_VERSION);
	enc_str(&e, c->kind);
	enc_str(&e, c->cert_file);
	enc_str(&e, c->key_file);
	enc_str(&e, c->subject);
	enc_str(&e, c->issuer);
	enc_str(&e, c->serial);
	enc_str(&e, c->sans);
	enc_str(&e, c->key_usage);
	enc_str(&e, c->key_type);
	enc_u64(&e, (uint64_t)c->not_before);
	enc_u64(&e, (uint64_t)c->not_after);
	enc_str(&e, c->smime_address);
	enc_u64(&e, (uint64_t)c->added);
	enc_u8(&e, c->flags);
	if (e.err)
		return e.err;
	v.mv_size = e.len;
	v.mv_data = vb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_CERT], &k, &v,
	    noover ? MDB_NOOVERWRITE : 0));
}

static int
issued_decode(const MDB_val *k, const MDB_val *v, struct store_ca_issued *i)
{
	struct dec d;

	if (k->mv_size != 8)
		return ERR_CORRUPT;
	memset(i, 0, sizeof(*i));
	i->serial = be64_get(k->mv_data);
	dec_init(&d, v);
	if (dec_u8(&d) != ISSUED_VERSION)
		return d.err ? d.err : ERR_VERSION;
	dec_str(&d, i->name, sizeof(i->name));
	dec_str(&d, i->subject, sizeof(i->subject));
	i->issued = (int64_t)dec_u64(&d);
	i->not_after = (int64_t)dec_u64(&d);
	i->revoked = (int64_t)dec_u64(&d);
	i->reason = dec_u8(&d);
	return d.err;
}

static int
issued_put(struct store_wtxn *w, const struct store_ca_issued *i, bool noover)
{
	unsigned char kb[8], vb[ISSUED_VALUE_MAX];
	struct enc e;
	MDB_val k = { sizeof(kb), kb }, v;

	if (i->serial == 0)
		return ERR_INVAL;
	be64_put(kb, i->serial);
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, ISSUED_VERSION);
	enc_str(&e, i->name);
	enc_str(&e, i->subject);
	enc_u64(&e, (uint64_t)i->issued);
	enc_u64(&e, (uint64_t)i->not_after);
	enc_u64(&e, (uint64_t)i->revoked);
	enc_u8(&e, i->reason);
	if (e.err)
		return e.err;
	v.mv_size = e.len;
	v.mv_data = vb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_CA_ISSUED], &k, &v,
	    noover ? MDB_NOOVERWRITE : 0));
}

int
store_op_cert_put(struct store_wtxn *w, void *arg)
{
	struct store_cert_op *op = arg;
	int r;

	if (op->cert == NULL)
		return ERR_INVAL;
	if (op->supersede != NULL &&
	    strcmp(op->supersede, op->cert->name) != 0) {
		MDB_val k;
		if ((r = cert_key(op->supersede, &k)) < 0)
			return r;
		r = store_err(mdb_del(w->txn, w->st->dbi[DB_CERT], &k, NULL));
		if (r < 0 && r != ERR_NOTFOUND)
			return r;
	}
	if ((r = cert_put(w, op->cert, !op->replace)) < 0)
		return r;
	if (op->issued != NULL && (r = issued_put(w, op->issued, true)) < 0)
		return r;
	return 0;
}

int
store_op_cert_del(struct store_wtxn *w, void *arg)
{
	struct store_cert_op *op = arg;
	MDB_val k, v;
	int r;

	if (op->name == NULL || (r = cert_key(op->name, &k)) < 0)
		return ERR_INVAL;
	int rc = mdb_get(w->txn, w->st->dbi[DB_CERT], &k, &v);
	if (rc != 0)
		return store_err(rc);
	if ((r = cert_decode(&k, &v, &op->old_r)) < 0)
		return r;
	return store_err(mdb_del(w->txn, w->st->dbi[DB_CERT], &k, NULL));
}

int
store_cert_get(struct store_rtxn *r, const char *name, struct store_cert *c)
{
	MDB_val k, v;

	if (cert_key(name, &k) < 0)
		return 0;
	int rc = mdb_get(r->txn, r->st->dbi[DB_CERT], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = cert_decode(&k, &v, c);
	return ret < 0 ? ret : 1;
}

struct cert_walk {
	int (*cb)(const struct store_cert *, void *);
	void *arg;
};

static int
cert_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct cert_walk *w = arg;
	struct store_cert c;
	int r = cert_decode(k, v, &c);
	return r < 0 ? r : w->cb(&c, w->arg);
}

int
store_cert_iter(struct store_rtxn *r,
		int (*cb)(const struct store_cert *, void *), void *arg)
{
	struct cert_walk w = { cb, arg };
	return store_walk_prefix(r->txn, r->st->dbi[DB_CERT], "", 0,
	    cert_each, &w);
}

/* serial_u64 - a record's hex serial as the ledger's key; false when it
 * does not fit (then the development CA did not issue it). */
static bool
serial_u64(const char *hex, uint64_t *v)
{
	size_t n = strlen(hex);
	uint64_t x = 0;

	while (n > 1 && hex[0] == '0') {
		hex++;
		n--;
	}
	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = hex[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

struct smime_find {
	struct store_rtxn *r;
	const char *address;
	int64_t now;
	struct store_cert *best;
	int found;
	int err;
};

static int
smime_each(const struct store_cert *c, void *arg)
{
	struct smime_find *f = arg;
	struct store_ca_issued iss;
	uint64_t serial;

	if (c->smime_address[0] == '\0' ||
	    !str_case_eq(c->smime_address, f->address))
		return 0;
	if (c->not_before > f->now || c->not_after <= f->now)
		return 0;
	if (serial_u64(c->serial, &serial)) {
		int r = store_ca_issued_get(f->r, serial, &iss);
		if (r < 0)
			return r;
		/* the same serial from another CA is another certificate */
		if (r == 1 && iss.revoked != 0 &&
		    strcmp(iss.subject, c->subject) == 0)
			return 0;
	}
	if (f->found && c->not_after <= f->best->not_after)
		return 0;
	*f->best = *c;
	f->found = 1;
	return 0;
}

int
store_cert_find_smime(struct store_rtxn *r, const char *address,
		      struct store_cert *c)
{
	struct smime_find f = { r, address, (int64_t)time(NULL), c, 0, 0 };

	if (address == NULL || address[0] == '\0')
		return 0;
	/* A walk of the registry: it holds tens of records, not thousands,
	 * and an index would be one more thing to keep consistent. */
	int ret = store_cert_iter(r, smime_each, &f);
	if (ret < 0)
		return ret;
	return f.found;
}

int
store_ca_issued_get(struct store_rtxn *r, uint64_t serial,
		    struct store_ca_issued *rec)
{
	unsigned char kb[8];
	MDB_val k = { sizeof(kb), kb }, v;

	be64_put(kb, serial);
	int rc = mdb_get(r->txn, r->st->dbi[DB_CA_ISSUED], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = issued_decode(&k, &v, rec);
	return ret < 0 ? ret : 1;
}

struct issued_walk {
	int (*cb)(const struct store_ca_issued *, void *);
	void *arg;
};

static int
issued_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct issued_walk *w = arg;
	struct store_ca_issued i;
	int r = issued_decode(k, v, &i);
	return r < 0 ? r : w->cb(&i, w->arg);
}

int
store_ca_issued_iter(struct store_rtxn *r,
		     int (*cb)(const struct store_ca_issued *, void *),
		     void *arg)
{
	struct issued_walk w = { cb, arg };
	return store_walk_prefix(r->txn, r->st->dbi[DB_CA_ISSUED], "", 0,
	    issued_each, &w);
}

int
store_op_ca_revoke(struct store_wtxn *w, void *arg)
{
	struct store_ca_revoke_op *op = arg;
	struct store_rtxn rt = { w->st, w->txn, NULL };
	int r = store_ca_issued_get(&rt, op->serial, &op->rec_r);

	if (r < 0)
		return r;
	if (r == 0)
		return ERR_NOTFOUND;
	if (op->rec_r.revoked != 0)
		return ERR_EXISTS;
	op->rec_r.revoked = op->when > 0 ? op->when : 1;
	op->rec_r.reason = op->reason;
	return issued_put(w, &op->rec_r, false);
}

int
store_op_ca_crl_number(struct store_wtxn *w, void *arg)
{
	struct store_ca_crl_op *op = arg;
	return store_meta_next(w, CRL_NUMBER_META, 1, &op->number_r);
}
