/* SPDX-License-Identifier: MIT */
/*
 * store_env.c - opening the LMDB environment: sizes, named databases,
 * schema version, the at-rest key file and its check value; read
 * transactions; LMDB error mapping; the value codec.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#define RFREE_MAX 64

static const char *const db_names[DB_COUNT] = {
	[DB_META] = "meta",
	[DB_BLOB] = "blob",
	[DB_BLOBREF] = "blobref",
	[DB_ACCOUNT] = "account",
	[DB_ADDRESS] = "address",
	[DB_MAILBOX] = "mailbox",
	[DB_MAILBOX_ID] = "mailbox_id",
	[DB_MSG] = "msg",
	[DB_MSG_MODSEQ] = "msg_modseq",
	[DB_EXPUNGED] = "expunged",
	[DB_SUBSCRIPTION] = "subscription",
	[DB_BLOBINFO] = "blobinfo",
	[DB_QUEUE] = "queue",
	[DB_QUEUE_DUE] = "queue_due",
	[DB_TRUST] = "trust",
	[DB_DIR] = "dir",
	[DB_DIR_KEY] = "dir_key",
	[DB_DIR_IDX] = "dir_idx",
	[DB_DIR_B] = "dir_b",
	[DB_DIR_KEY_B] = "dir_key_b",
	[DB_DIR_IDX_B] = "dir_idx_b",
	[DB_API_CLIENT] = "api_client",
	[DB_CA_ISSUED] = "ca_issued",
	[DB_CERT] = "cert",
};

/* Index databases hold many record ids under one term, fixed-size and
 * compared as native integers. */
static unsigned
db_flags(int i)
{
	return i == DB_DIR_IDX || i == DB_DIR_IDX_B ?
	    MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP : 0;
}

static __thread char store_errbuf[1024];

/* seterr - the sentence store_open hands back through *error_r. */
static void seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(store_errbuf, sizeof(store_errbuf), fmt, ap);
	va_end(ap);
}

int
store_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return ERR_NOTFOUND;
	case MDB_KEYEXIST: return ERR_EXISTS;
	case MDB_MAP_FULL:
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_DBS_FULL:
		return ERR_STORE_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
		return ERR_CORRUPT;
	case MDB_VERSION_MISMATCH:
		return ERR_VERSION;
	case ENOMEM: return ERR_NOMEM;
	case EINVAL: return ERR_INVAL;
	default: return ERR_IO;
	}
}

/* ---- value codec ---- */

void
enc_init(struct enc *e, unsigned char *p, size_t cap)
{
	e->p = p;
	e->len = 0;
	e->cap = cap;
	e->err = 0;
}

static void
enc_raw(struct enc *e, const void *p, size_t n)
{
	if (e->err)
		return;
	if (n > e->cap - e->len) {
		e->err = ERR_LIMIT;
		return;
	}
	memcpy(e->p + e->len, p, n);
	e->len += n;
}

void
enc_u8(struct enc *e, uint8_t v)
{
	enc_raw(e, &v, 1);
}

void
enc_u32(struct enc *e, uint32_t v)
{
	unsigned char b[4];
	be32_put(b, v);
	enc_raw(e, b, 4);
}

void
enc_u64(struct enc *e, uint64_t v)
{
	unsigned char b[8];
	be64_put(b, v);
	enc_raw(e, b, 8);
}

void
enc_str(struct enc *e, const char *s)
{
	size_t n = strlen(s);
	unsigned char b[2];
	if (n > 0xffff) {
		e->err = ERR_LIMIT;
		return;
	}
	b[0] = (unsigned char)(n >> 8);
	b[1] = (unsigned char)n;
	enc_raw(e, b, 2);
	enc_raw(e, s, n);
}

void
dec_init(struct dec *d, const MDB_val *v)
{
	d->p = v->mv_data;
	d->len = v->mv_size;
	d->off = 0;
	d->err = 0;
}

static const unsigned char *
dec_raw(struct dec *d, size_t n)
{
	if (d->err || n > d->len - d->off) {
		d->err = ERR_CORRUPT;
		return NULL;
	}
	const unsigned char *p = d->p + d->off;
	d->off += n;
	return p;
}

uint8_t
dec_u8(struct dec *d)
{
	const unsigned char *p = dec_raw(d, 1);
	return p ? p[0] : 0;
}

uint32_t
dec_u32(struct dec *d)
{
	const unsigned char *p = dec_raw(d, 4);
	return p ? be32_get(p) : 0;
}

uint64_t
dec_u64(struct dec *d)
{
	const unsigned char *p = dec_raw(d, 8);
	return p ? be64_get(p) : 0;
}

void
dec_str(struct dec *d, char *out, size_t size)
{
	const unsigned char *p = dec_raw(d, 2);
	size_t n = p ? (size_t)p[0] << 8 | p[1] : 0;
	const unsigned char *s = p ? dec_raw(d, n) : NULL;
	if (s == NULL || n >= size) {
		if (!d->err)
			d->err = ERR_CORRUPT;
		if (size > 0)
			out[0] = '\0';
		return;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

int
store_walk_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
		  int (*each)(const MDB_val *k, const MDB_val *v, void *arg),
		  void *arg)
{
	MDB_cursor *c;
	MDB_val k = { plen, (void *)prefix }, v;
	int ret = 0;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return store_err(rc);
	/* LMDB refuses an empty key even as a range start. */
	for (rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	     rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((ret = each(&k, &v, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = store_err(rc);
	mdb_cursor_close(c);
	return ret;
}

int
store_meta_next(struct store_wtxn *w, const char *name, uint64_t start,
		uint64_t *v)
{
	MDB_val k = { strlen(name), (void *)name }, val;
	unsigned char b[8];
	uint64_t cur = start;
	int rc = mdb_get(w->txn, w->st->dbi[DB_META], &k, &val);
	if (rc == 0 && val.mv_size == 8)
		cur = be64_get(val.mv_data);
	else if (rc == 0)
		return ERR_CORRUPT;
	else if (rc != MDB_NOTFOUND)
		return store_err(rc);
	be64_put(b, cur + 1);
	val.mv_size = 8;
	val.mv_data = b;
	if ((rc = mdb_put(w->txn, w->st->dbi[DB_META], &k, &val, 0)) != 0)
		return store_err(rc);
	*v = cur;
	return 0;
}

/* ---- key file ---- */

static int
fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	if (str_copy(dir, sizeof(dir), path) < 0)
		return ERR_LIMIT;
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		str_copy(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return ERR_IO;
	int r = fsync(fd) == 0 ? 0 : ERR_IO;
	if (close(fd) != 0)
		r = ERR_IO;
	return r;
}

/* key_create - a new random key, 0600, durable before use. Its folder
 * (certs/ by default) is made 0700 when missing: with certificates from
 * elsewhere, nothing else creates it. */
static int
key_create(const char *path, unsigned char *key)
{
	char dir[PATH_MAX];
	char *slash;
	if (str_copy(dir, sizeof(dir), path) == 0 &&
	    (slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			seterr("store key %s: cannot create its folder %s: %s",
			    path, dir, strerror(errno));
			return ERR_IO;
		}
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0) {
		seterr("store key %s: cannot create: %s", path, strerror(errno));
		return ERR_IO;
	}
	randombytes_buf(key, STORE_KEY_BYTES);
	ssize_t n = write(fd, key, STORE_KEY_BYTES);
	int r = n == STORE_KEY_BYTES && fsync(fd) == 0 ? 0 : ERR_IO;
	if (close(fd) != 0)
		r = ERR_IO;
	if (r == 0)
		r = fsync_dir_of(path);
	if (r < 0) {
		seterr("store key %s: cannot write: %s", path, strerror(errno));
		unlink(path);
	}
	return r;
}

/* key_read - exactly STORE_KEY_BYTES from a private regular file. */
static int
key_read(const char *path, unsigned char *key)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		seterr("store key %s: cannot open: %s", path, strerror(errno));
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	}
	int r = 0;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		seterr("store key %s: not a regular file", path);
		r = ERR_INVAL;
	} else if ((sb.st_mode & 077) != 0) {
		seterr("store key %s: permissions %04o are too open "
		    "(chmod 600 it)", path, (unsigned)(sb.st_mode & 07777));
		r = ERR_PERM;
	} else if (sb.st_size != STORE_KEY_BYTES) {
		seterr("store key %s: expected %d bytes, found %lld", path,
		    STORE_KEY_BYTES, (long long)sb.st_size);
		r = ERR_INVAL;
	} else {
		ssize_t n = read(fd, key, STORE_KEY_BYTES);
		if (n != STORE_KEY_BYTES) {
			seterr("store key %s: cannot read: %s", path,
			    n < 0 ? strerror(errno) : "short read");
			r = ERR_IO;
		}
	}
	close(fd);
	return r;
}

static void
key_check_value(const unsigned char *key, unsigned char out[32])
{
	static const char label[] = "mssgate store key check v1";
	crypto_generichash(out, 32, (const unsigned char *)label,
	    sizeof(label) - 1, key, STORE_KEY_BYTES);
}

/* store_setup - databases, schema version and key check in one txn. */
static int
store_setup(struct store *st, void *arg)
{
	const char *key_file = arg;
	MDB_txn *txn;
	MDB_val k, v;
	unsigned char kc[32], vb[4];
	int rc, r = 0;

	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0) {
		seterr("store %s: cannot begin a transaction: %s", st->dir,
		    mdb_strerror(rc));
		return store_err(rc);
	}
	for (int i = 0; i < DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE | db_flags(i),
		    &st->dbi[i])) != 0) {
			seterr("store %s: cannot open database '%s': %s",
			    st->dir, db_names[i], mdb_strerror(rc));
			r = store_err(rc);
			goto out;
		}
	}

	k.mv_data = "schema_version";
	k.mv_size = strlen(k.mv_data);
	rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		be32_put(vb, STORE_SCHEMA_VERSION);
		v.mv_data = vb;
		v.mv_size = 4;
		rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
	} else if (rc == 0 && (v.mv_size != 4 ||
	    be32_get(v.mv_data) != STORE_SCHEMA_VERSION)) {
		seterr("store %s: schema version %u, this build expects %u",
		    st->dir, v.mv_size == 4 ? be32_get(v.mv_data) : 0,
		    STORE_SCHEMA_VERSION);
		r = ERR_VERSION;
		goto out;
	}
	if (rc != 0) {
		seterr("store %s: cannot read the schema version: %s", st->dir,
		    mdb_strerror(rc));
		r = store_err(rc);
		goto out;
	}

	k.mv_data = "key_check";
	k.mv_size = strlen(k.mv_data);
	rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = store_err(rc);
		seterr("store %s: cannot read the key check: %s", st->dir,
		    mdb_strerror(rc));
		goto out;
	}
	r = key_read(key_file, st->key);
	if (r == ERR_NOTFOUND && rc == MDB_NOTFOUND)
		r = key_create(key_file, st->key);
	else if (r == ERR_NOTFOUND) {
		seterr("store key %s is missing, but %s holds data sealed with "
		    "a key: restore the key file", key_file, st->dir);
		r = ERR_NOTFOUND;
	}
	if (r < 0)
		goto out;
	key_check_value(st->key, kc);
	if (rc == 0) {
		if (v.mv_size != 32 || sodium_memcmp(v.mv_data, kc, 32) != 0) {
			seterr("store key %s does not match the store in %s",
			    key_file, st->dir);
			r = ERR_CRYPTO;
			goto out;
		}
	} else {
		v.mv_data = kc;
		v.mv_size = 32;
		if ((rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0)) != 0) {
			r = store_err(rc);
			goto out;
		}
	}
out:
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		seterr("store %s: commit failed: %s", st->dir, mdb_strerror(rc));
		return store_err(rc);
	}
	return 0;
}

void
store_opts_from_config(const struct config *cfg, struct store_opts *o)
{
	o->dir = cfg->data_dir;
	o->key_file = cfg->store_key_file;
	o->map_size = cfg->store_map_size;
	o->max_dbs = (unsigned)cfg->store_max_dbs;
	o->max_readers = (unsigned)cfg->store_max_readers;
	o->batch_max = (unsigned)cfg->store_batch_max;
}

int
store_open(const struct store_opts *o, struct store **st_r,
	   const char **error_r)
{
	struct store *st = calloc(1, sizeof(*st));
	int rc, r;

	*error_r = store_errbuf;
	store_errbuf[0] = '\0';
	if (st == NULL)
		return ERR_NOMEM;
	pthread_mutex_init(&st->mtx, NULL);
	pthread_mutex_init(&st->rmtx, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->batch_max = o->batch_max ? o->batch_max : 512;
	if (str_copy(st->dir, sizeof(st->dir), o->dir) < 0) {
		seterr("store directory name too long");
		r = ERR_LIMIT;
		goto fail;
	}
	st->key = sodium_malloc(STORE_KEY_BYTES);
	if (st->key == NULL) {
		r = ERR_NOMEM;
		goto fail;
	}
	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		seterr("store %s: cannot create directory: %s", o->dir,
		    strerror(errno));
		r = ERR_IO;
		goto fail;
	}
	if ((r = store_file_precheck(o->dir, store_errbuf,
	    sizeof(store_errbuf))) < 0)
		goto fail;
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, o->map_size)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, o->max_dbs < DB_COUNT ?
	    DB_COUNT : o->max_dbs)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, o->max_readers)) != 0) {
		seterr("store %s: cannot set up LMDB: %s", o->dir,
		    mdb_strerror(rc));
		r = store_err(rc);
		goto fail;
	}
	if ((rc = mdb_env_open(st->env, o->dir, MDB_NOTLS, 0600)) != 0) {
		const char *why = mdb_strerror(rc);
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
		    rc == MDB_CORRUPTED)
			why = "the data file is corrupt or not an LMDB "
			    "environment";
		seterr("store %s: cannot open: %s (%s)", o->dir, why,
		    mdb_strerror(rc));
		r = store_err(rc);
		goto fail;
	}
	int dead = 0;
	if (mdb_reader_check(st->env, &dead) == 0 && dead > 0)
		log_info("- store readers cleared=%d", dead);
	char cerr[sizeof(store_errbuf)];
	cerr[0] = '\0';
	if ((r = store_file_check(st, store_setup, (void *)o->key_file, cerr,
	    sizeof(cerr))) < 0) {
		if (cerr[0] != '\0')
			seterr("%s", cerr);
		goto fail;
	}
	sodium_mprotect_readonly(st->key);
	*st_r = st;
	return 0;
fail:
	if (st->env != NULL)
		mdb_env_close(st->env);
	if (st->key != NULL)
		sodium_free(st->key);
	pthread_mutex_destroy(&st->mtx);
	pthread_mutex_destroy(&st->rmtx);
	pthread_cond_destroy(&st->cond);
	free(st);
	return r;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;
	if (st == NULL)
		return;
	*stp = NULL;
	store_writer_stop(st);
	while (st->rfree != NULL) {
		struct store_rtxn *r = st->rfree;
		st->rfree = r->next;
		mdb_txn_abort(r->txn);
		free(r);
	}
	mdb_env_close(st->env);
	sodium_free(st->key);
	pthread_mutex_destroy(&st->mtx);
	pthread_mutex_destroy(&st->rmtx);
	pthread_cond_destroy(&st->cond);
	free(st);
}

/* ---- read transactions ---- */

int
store_read_begin(struct store *st, struct store_rtxn **r_r)
{
	struct store_rtxn *r;
	int rc;

	pthread_mutex_lock(&st->rmtx);
	r = st->rfree;
	if (r != NULL) {
		st->rfree = r->next;
		st->n_rfree--;
	}
	pthread_mutex_unlock(&st->rmtx);
	if (r != NULL) {
		if ((rc = mdb_txn_renew(r->txn)) == 0) {
			*r_r = r;
			return 0;
		}
		mdb_txn_abort(r->txn);
	} else if ((r = calloc(1, sizeof(*r))) == NULL) {
		return ERR_NOMEM;
	}
	r->st = st;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn)) != 0) {
		free(r);
		return store_err(rc);
	}
	*r_r = r;
	return 0;
}

void
store_read_end(struct store_rtxn **rp)
{
	struct store_rtxn *r = *rp;
	if (r == NULL)
		return;
	*rp = NULL;
	struct store *st = r->st;
	mdb_txn_reset(r->txn);
	pthread_mutex_lock(&st->rmtx);
	if (st->n_rfree < RFREE_MAX) {
		r->next = st->rfree;
		st->rfree = r;
		st->n_rfree++;
		r = NULL;
	}
	pthread_mutex_unlock(&st->rmtx);
	if (r != NULL) {
		mdb_txn_abort(r->txn);
		free(r);
	}
}
