/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the LMDB store: opening (key file, schema version, bad
 * files), sealed blobs, accounts, mailboxes, delivery, group commit with
 * nested transactions, a full map and a small reader table.
 */
/* _GNU_SOURCE (memmem, nftw) comes from the build flags */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "store/store.h"
#include "store/store_int.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	char base[256];
	char dir[300];
	char key[300];
	struct store_opts o;
	struct store *st;
};

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL || sodium_init() < 0)
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/mss-test-store.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->base) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->base);
	snprintf(f->key, sizeof(f->key), "%s/store.key", f->base);
	f->o.dir = f->dir;
	f->o.key_file = f->key;
	f->o.map_size = 64 << 20;
	f->o.max_dbs = 32;
	f->o.max_readers = 126;
	f->o.batch_max = 512;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	store_close(&f->st);
	int r = nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return r;
}

/* open_ok - store_open that must work. */
static void
open_ok(struct fixture *f)
{
	const char *error = NULL;
	int r = store_open(&f->o, &f->st, &error);
	if (r != 0)
		fail_msg("store_open: %d %s", r, error ? error : "");
	assert_non_null(f->st);
}

/* open_fails - store_open that must fail with ret and a message holding
 * each of the given words. */
static void
open_fails(struct fixture *f, int ret, const char *w1, const char *w2)
{
	struct store *st = NULL;
	const char *error = NULL;
	int r = store_open(&f->o, &st, &error);
	if (r != ret) {
		store_close(&st);
		fail_msg("store_open: got %d (%s), want %d", r,
		    error ? error : "", ret);
	}
	assert_null(st);
	assert_non_null(error);
	if (strstr(error, w1) == NULL ||
	    (w2 != NULL && strstr(error, w2) == NULL))
		fail_msg("message [%s] lacks [%s] or [%s]", error, w1,
		    w2 ? w2 : "");
}

static void
write_key(const char *path, const void *data, size_t len, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static size_t
read_key(const char *path, unsigned char *out, size_t size)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, out, size);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

/* ---- our own operations, to reach inside the store ---- */

struct meta_put {
	const char *key;
	const void *val;
	size_t len;
	int fail;		/* return this after writing */
};

static int
op_meta_put(struct store_wtxn *w, void *arg)
{
	struct meta_put *m = arg;
	MDB_val k = { strlen(m->key), (void *)m->key };
	MDB_val v = { m->len, (void *)m->val };
	int rc = mdb_put(w->txn, w->st->dbi[DB_META], &k, &v, 0);
	if (rc != 0)
		return store_err(rc);
	return m->fail;
}

/* meta_get - 1 and the value copied into out, or 0 when absent. */
static int
meta_get(struct store *st, const char *key, void *out, size_t *len)
{
	struct store_rtxn *r;
	MDB_val k = { strlen(key), (void *)key }, v;
	assert_int_equal(store_read_begin(st, &r), 0);
	int rc = mdb_get(r->txn, st->dbi[DB_META], &k, &v);
	if (rc == 0) {
		assert_true(v.mv_size <= *len);
		memcpy(out, v.mv_data, v.mv_size);
		*len = v.mv_size;
	} else {
		assert_int_equal(rc, MDB_NOTFOUND);
	}
	store_read_end(&r);
	return rc == 0;
}

struct blob_put {
	const void *sealed;
	size_t len;
	uint64_t size;
	uint32_t refs;
	uint64_t id_r;
};

static int
op_blob_put(struct store_wtxn *w, void *arg)
{
	struct blob_put *b = arg;
	return store_blob_put(w, b->sealed, b->len, b->size, b->refs, NULL, 0,
	    &b->id_r);
}

struct blob_raw {
	uint64_t id;
	const void *val;
	size_t len;
};

/* op_blob_raw - overwrite a blob value as it is stored. */
static int
op_blob_raw(struct store_wtxn *w, void *arg)
{
	struct blob_raw *b = arg;
	unsigned char kb[8];
	be64_put(kb, b->id);
	MDB_val k = { 8, kb }, v = { b->len, (void *)b->val };
	return store_err(mdb_put(w->txn, w->st->dbi[DB_BLOB], &k, &v, 0));
}

/* ---- opening ---- */

static void
test_open_creates_key(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	unsigned char k1[64], k2[64];

	assert_int_equal(stat(f->key, &sb), -1);
	open_ok(f);
	assert_int_equal(stat(f->key, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, STORE_KEY_BYTES);
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(read_key(f->key, k1, sizeof(k1)), STORE_KEY_BYTES);
	static const unsigned char zero[STORE_KEY_BYTES];
	assert_memory_not_equal(k1, zero, STORE_KEY_BYTES);

	/* The schema version is recorded. */
	unsigned char v[8];
	size_t len = sizeof(v);
	assert_int_equal(meta_get(f->st, "schema_version", v, &len), 1);
	assert_int_equal(len, 4);
	assert_int_equal(be32_get(v), STORE_SCHEMA_VERSION);
	store_close(&f->st);
	assert_null(f->st);

	/* Reopen: the same key is used, not replaced. */
	open_ok(f);
	assert_int_equal(read_key(f->key, k2, sizeof(k2)), STORE_KEY_BYTES);
	assert_memory_equal(k1, k2, STORE_KEY_BYTES);
	store_close(&f->st);
	store_close(&f->st);	/* NULL is fine */
}

static void
test_open_wrong_key(void **state)
{
	struct fixture *f = *state;
	unsigned char good[STORE_KEY_BYTES], other[STORE_KEY_BYTES];

	open_ok(f);
	store_close(&f->st);
	assert_int_equal(read_key(f->key, good, sizeof(good)),
	    STORE_KEY_BYTES);
	randombytes_buf(other, sizeof(other));
	write_key(f->key, other, sizeof(other), 0600);
	open_fails(f, ERR_CRYPTO, f->key, "does not match");
	/* The key file was not replaced by the failed open. */
	unsigned char now[STORE_KEY_BYTES];
	read_key(f->key, now, sizeof(now));
	assert_memory_equal(now, other, sizeof(other));

	write_key(f->key, good, sizeof(good), 0600);
	open_ok(f);
}

static void
test_open_key_missing(void **state)
{
	struct fixture *f = *state;
	struct stat sb;

	open_ok(f);
	store_close(&f->st);
	assert_int_equal(unlink(f->key), 0);
	open_fails(f, ERR_NOTFOUND, f->key, "missing");
	/* No new key was made up for a store that has data. */
	assert_int_equal(stat(f->key, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_open_key_bad_file(void **state)
{
	struct fixture *f = *state;
	unsigned char key[STORE_KEY_BYTES + 1];

	open_ok(f);
	store_close(&f->st);
	read_key(f->key, key, STORE_KEY_BYTES);

	/* Readable by others. */
	assert_int_equal(chmod(f->key, 0644), 0);
	open_fails(f, ERR_PERM, f->key, "0644");
	assert_int_equal(chmod(f->key, 0640), 0);
	open_fails(f, ERR_PERM, f->key, "chmod 600");
	assert_int_equal(chmod(f->key, 0600), 0);
	open_ok(f);
	store_close(&f->st);

	/* Truncated, or too long. */
	write_key(f->key, key, 16, 0600);
	open_fails(f, ERR_INVAL, f->key, "found 16");
	write_key(f->key, key, 0, 0600);
	open_fails(f, ERR_INVAL, f->key, "found 0");
	key[STORE_KEY_BYTES] = 'x';
	write_key(f->key, key, STORE_KEY_BYTES + 1, 0600);
	open_fails(f, ERR_INVAL, f->key, "found 33");

	/* Not a regular file; a symbolic link is not followed. */
	assert_int_equal(unlink(f->key), 0);
	assert_int_equal(mkdir(f->key, 0700), 0);
	open_fails(f, ERR_INVAL, f->key, "not a regular file");
	assert_int_equal(rmdir(f->key), 0);
	char real[320];
	snprintf(real, sizeof(real), "%s.real", f->key);
	write_key(real, key, STORE_KEY_BYTES, 0600);
	assert_int_equal(symlink(real, f->key), 0);
	open_fails(f, ERR_IO, f->key, "cannot open");
	assert_int_equal(unlink(f->key), 0);
	assert_int_equal(rename(real, f->key), 0);
	open_ok(f);
}

/* lmdb_meta_put - one key of the "meta" database, without the store. */
static void
lmdb_meta_put(const char *dir, MDB_val *k, MDB_val *v)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, k, v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_open_schema_version(void **state)
{
	struct fixture *f = *state;
	unsigned char v2[4], bad[8] = { 0 };
	struct meta_put mp = { "schema_version", v2, 4, 0 };

	open_ok(f);
	be32_put(v2, STORE_SCHEMA_VERSION + 1);
	assert_int_equal(store_exec(f->st, op_meta_put, &mp), 0);
	store_close(&f->st);
	char want[64];
	snprintf(want, sizeof(want), "schema version %d, this build expects %d",
	    STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
	open_fails(f, ERR_VERSION, f->dir, want);

	/* A value of the wrong size is no version either; written with
	 * LMDB directly, as another program would. */
	MDB_val k = { 14, "schema_version" }, v = { 8, bad };
	lmdb_meta_put(f->dir, &k, &v);
	open_fails(f, ERR_VERSION, f->dir, "schema version 0");

	/* The right version opens again. */
	be32_put(v2, STORE_SCHEMA_VERSION);
	v.mv_size = 4;
	v.mv_data = v2;
	lmdb_meta_put(f->dir, &k, &v);
	open_ok(f);
}

static void
test_open_garbage(void **state)
{
	struct fixture *f = *state;
	char path[400];
	unsigned char junk[65536];
	struct stat sb;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	memset(junk, 0x5a, sizeof(junk));
	memcpy(junk, "this is not an LMDB file", 24);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);

	open_fails(f, ERR_CORRUPT, f->dir, "not an LMDB environment");
	/* Nothing else happened: no key was created. */
	assert_int_equal(stat(f->key, &sb), -1);

	/* A directory that cannot be created. */
	char nodir[400];
	snprintf(nodir, sizeof(nodir), "%s/no/such/dir", f->base);
	f->o.dir = nodir;
	open_fails(f, ERR_IO, nodir, "cannot create directory");
	f->o.dir = f->dir;
}

/* An empty or truncated data file is refused, not mapped. */
static void
test_open_damaged(void **state)
{
	struct fixture *f = *state;
	char path[400];
	struct stat sb;
	unsigned char body[100000];
	struct buf sealed;

	open_ok(f);
	memset(body, 'b', sizeof(body));
	buf_init(&sealed, 1 << 20);
	assert_int_equal(store_blob_seal(f->st, body, sizeof(body), &sealed),
	    0);
	struct blob_put bp = { buf_data(&sealed), buf_len(&sealed),
		sizeof(body), 1, 0 };
	assert_int_equal(store_exec(f->st, op_blob_put, &bp), 0);
	buf_free(&sealed);
	store_close(&f->st);

	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 16 * 4096);
	/* Cut in the middle: the last pages are gone. */
	assert_int_equal(truncate(path, sb.st_size / 2), 0);
	open_fails(f, ERR_CORRUPT, f->dir, "truncated");
	assert_int_equal(truncate(path, 0), 0);
	open_fails(f, ERR_CORRUPT, f->dir, "empty");
	/* The key is kept: the store can be restored next to it. */
	assert_int_equal(stat(f->key, &sb), 0);
}

/* ---- blobs ---- */

static void
fill(unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
		/* No line feed: no blank line, so the plain 64 KiB layout
		 * (a header section would get a chunk of its own). */
		if (p[i] == '\n')
			p[i] = '.';
	}
}

static void
test_blob_roundtrip(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 131072,
		300000 };
	unsigned char *plain = malloc(300000);
	uint64_t ids[N_ELEMENTS(sizes)];

	assert_non_null(plain);
	open_ok(f);
	for (size_t i = 0; i < N_ELEMENTS(sizes); i++) {
		struct buf sealed;
		size_t n = sizes[i];
		size_t chunks = n == 0 ? 1 : (n + 65535) / 65536;
		fill(plain, n, (uint32_t)i + 1);
		if (n >= 16)
			memcpy(plain, "PLAINTEXT MARKER", 16);
		buf_init(&sealed, 1 << 20);
		assert_int_equal(store_blob_seal(f->st, plain, n, &sealed), 0);
		assert_int_equal(buf_len(&sealed), 40 + n + chunks * 16);
		assert_null(memmem(buf_data(&sealed), buf_len(&sealed),
		    "PLAINTEXT MARKER", 16));
		struct blob_put bp = { buf_data(&sealed), buf_len(&sealed), n,
			(uint32_t)i + 1, 0 };
		assert_int_equal(store_exec(f->st, op_blob_put, &bp), 0);
		ids[i] = bp.id_r;
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
		buf_free(&sealed);
	}

	struct store_rtxn *r;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	for (size_t i = 0; i < N_ELEMENTS(sizes); i++) {
		struct buf out;
		uint32_t refs = 0;
		size_t n = sizes[i];
		fill(plain, n, (uint32_t)i + 1);
		if (n >= 16)
			memcpy(plain, "PLAINTEXT MARKER", 16);
		buf_init(&out, 1 << 20);
		assert_int_equal(buf_adds(&out, "pre"), 0);	/* appended */
		assert_int_equal(store_blob_read(r, ids[i], &out), 0);
		assert_int_equal(buf_len(&out), 3 + n);
		assert_memory_equal(buf_data(&out), "pre", 3);
		if (n > 0)
			assert_memory_equal(buf_data(&out) + 3, plain, n);
		assert_int_equal(store_blob_refs(r, ids[i], &refs), 0);
		assert_int_equal(refs, i + 1);
		buf_free(&out);
	}
	/* Absent blobs. */
	struct buf out;
	uint32_t refs = 7;
	buf_init(&out, 1024);
	assert_int_equal(store_blob_read(r, ids[N_ELEMENTS(ids) - 1] + 1,
	    &out), ERR_NOTFOUND);
	assert_int_equal(store_blob_refs(r, 999999, &refs), 0);
	assert_int_equal(refs, 0);
	/* An output buffer too small to hold the body. */
	assert_int_equal(store_blob_read(r, ids[2], &out), ERR_LIMIT);
	assert_int_equal(buf_len(&out), 0);
	buf_free(&out);
	store_read_end(&r);
	free(plain);
}

/* read_blob - store_blob_read in a fresh read transaction. */
static int
read_blob(struct store *st, uint64_t id, struct buf *out)
{
	struct store_rtxn *r;
	assert_int_equal(store_read_begin(st, &r), 0);
	buf_reset(out);
	int ret = store_blob_read(r, id, out);
	store_read_end(&r);
	return ret;
}

static void
test_blob_tamper(void **state)
{
	struct fixture *f = *state;
	const size_t n = 70000;		/* two chunks */
	unsigned char *plain = malloc(n);
	struct buf sealed, out;

	assert_non_null(plain);
	fill(plain, n, 99);
	open_ok(f);
	buf_init(&sealed, 1 << 20);
	buf_init(&out, 1 << 20);
	assert_int_equal(store_blob_seal(f->st, plain, n, &sealed), 0);
	size_t slen = buf_len(&sealed);
	struct blob_put bp = { buf_data(&sealed), slen, n, 1, 0 };
	assert_int_equal(store_exec(f->st, op_blob_put, &bp), 0);
	assert_int_equal(read_blob(f->st, bp.id_r, &out), 0);
	assert_memory_equal(buf_data(&out), plain, n);

	unsigned char *t = calloc(1, slen + 16);
	assert_non_null(t);
	/* One flipped bit anywhere but the version byte: ERR_CORRUPT. */
	static const size_t where[] = { 1, 2, 3, 4, 7, 8, 15, 16, 39, 40,
		41, 1000, 40 + 65536 - 1, 40 + 65536, 40 + 65536 + 15,
		40 + 65536 + 16, 40 + 65536 + 16 + 100 };
	for (size_t i = 0; i < N_ELEMENTS(where) + 1; i++) {
		size_t pos = i < N_ELEMENTS(where) ? where[i] : slen - 1;
		memcpy(t, buf_data(&sealed), slen);
		t[pos] ^= 0x01;
		struct blob_raw raw = { bp.id_r, t, slen };
		assert_int_equal(store_exec(f->st, op_blob_raw, &raw), 0);
		int r = read_blob(f->st, bp.id_r, &out);
		if (r != ERR_CORRUPT)
			fail_msg("flip at %zu: got %d", pos, r);
		/* Nothing of the plaintext is handed out. */
		assert_int_equal(buf_len(&out), 0);
	}
	/* The version byte: not a version we know. */
	memcpy(t, buf_data(&sealed), slen);
	t[0] = 3;
	struct blob_raw raw = { bp.id_r, t, slen };
	assert_int_equal(store_exec(f->st, op_blob_raw, &raw), 0);
	assert_int_equal(read_blob(f->st, bp.id_r, &out), ERR_VERSION);

	/* Emptied, truncated or extended. */
	const size_t lens[] = { 0, 1, 39, 40, 56, 40 + 65536 + 16, slen - 1,
		slen + 1, slen + 16 };
	memcpy(t, buf_data(&sealed), slen);
	for (size_t i = 0; i < N_ELEMENTS(lens); i++) {
		raw.len = lens[i];
		assert_int_equal(store_exec(f->st, op_blob_raw, &raw), 0);
		int r = read_blob(f->st, bp.id_r, &out);
		if (r != ERR_CORRUPT)
			fail_msg("length %zu: got %d", raw.len, r);
	}

	/* Put back, it reads again. */
	raw.val = buf_data(&sealed);
	raw.len = slen;
	assert_int_equal(store_exec(f->st, op_blob_raw, &raw), 0);
	assert_int_equal(read_blob(f->st, bp.id_r, &out), 0);
	free(t);

	/* Two full chunks swapped: each is bound to its index. */
	const size_t n2 = 2 * 65536, clen = 65536 + 16;
	unsigned char *p2 = malloc(n2);
	struct buf sealed2;
	assert_non_null(p2);
	fill(p2, n2, 7);
	buf_init(&sealed2, 1 << 20);
	assert_int_equal(store_blob_seal(f->st, p2, n2, &sealed2), 0);
	size_t slen2 = buf_len(&sealed2);
	assert_int_equal(slen2, 40 + 2 * clen);
	struct blob_put bp2 = { buf_data(&sealed2), slen2, n2, 1, 0 };
	assert_int_equal(store_exec(f->st, op_blob_put, &bp2), 0);
	assert_int_equal(read_blob(f->st, bp2.id_r, &out), 0);
	/* (.data, not buf_data(): both buffers are known to be filled) */
	const char *s1 = sealed.data, *s2 = sealed2.data;
	t = malloc(slen2);
	assert_non_null(t);
	memcpy(t, s2, 40);
	memcpy(t + 40, s2 + 40 + clen, clen);
	memcpy(t + 40 + clen, s2 + 40, clen);
	struct blob_raw raw2 = { bp2.id_r, t, slen2 };
	assert_int_equal(store_exec(f->st, op_blob_raw, &raw2), 0);
	assert_int_equal(read_blob(f->st, bp2.id_r, &out), ERR_CORRUPT);
	/* ... nor can a chunk move from another blob. */
	memcpy(t, s2, slen2);
	memcpy(t + 40, s1 + 40, clen);
	assert_int_equal(store_exec(f->st, op_blob_raw, &raw2), 0);
	assert_int_equal(read_blob(f->st, bp2.id_r, &out), ERR_CORRUPT);
	free(t);
	free(p2);
	buf_free(&sealed2);

	/* The first blob is still whole. */
	assert_int_equal(read_blob(f->st, bp.id_r, &out), 0);
	assert_int_equal(buf_len(&out), n);
	assert_memory_equal(buf_data(&out), plain, n);
	free(plain);
	buf_free(&sealed);
	buf_free(&out);
}

/* A message's header section is a chunk of its own (version 2), so that
 * reading it decrypts nothing else; every range still reads right, and
 * the first-chunk length is authenticated like the rest of the header. */
static void
test_blob_header_chunk(void **state)
{
	struct fixture *f = *state;
	static const char *const heads[] = {
		"From: a@b.test\r\nSubject: hello\r\n\r\n",
		"From: a@b.test\nSubject: bare line feeds\n\n",
		"\r\n",			/* empty header section */
	};
	const size_t body = 140000;	/* three chunks after the header */
	struct buf sealed, out;

	open_ok(f);
	buf_init(&sealed, 1 << 20);
	buf_init(&out, 1 << 20);
	for (size_t k = 0; k < N_ELEMENTS(heads); k++) {
		size_t h = strlen(heads[k]), n = h + body;
		unsigned char *plain = malloc(n);
		assert_non_null(plain);
		memcpy(plain, heads[k], h);
		fill(plain + h, body, (uint32_t)k + 5);
		buf_reset(&sealed);
		assert_int_equal(store_blob_seal(f->st, plain, n, &sealed), 0);
		const unsigned char *v = (const unsigned char *)sealed.data;
		assert_int_equal(v[0], 2);
		assert_int_equal((size_t)(v[2] << 8 | v[3]), h);
		size_t chunks = 1 + (body + 65535) / 65536;
		assert_int_equal(buf_len(&sealed), 40 + n + chunks * 16);
		size_t slen = buf_len(&sealed);
		struct blob_put bp = { buf_data(&sealed), slen, n, 1, 0 };
		assert_int_equal(store_exec(f->st, op_blob_put, &bp), 0);

		const uint64_t ranges[][2] = {
			{ 0, h }, { 0, 1 }, { h - 1, 2 }, { h, 10 },
			{ h + 65536 - 3, 6 }, { h + 65536, 65536 },
			{ 3, n }, { n - 1, 1 }, { 0, n },
		};
		struct store_rtxn *r;
		assert_int_equal(store_read_begin(f->st, &r), 0);
		for (size_t i = 0; i < N_ELEMENTS(ranges); i++) {
			uint64_t off = ranges[i][0], len = ranges[i][1];
			if (off + len > n)
				len = n - off;
			buf_reset(&out);
			assert_int_equal(store_blob_read_range(r, bp.id_r, off,
			    len, &out), 0);
			assert_int_equal(buf_len(&out), len);
			assert_memory_equal(buf_data(&out), plain + off, len);
		}
		/* The header on its own, without the MIME structure. */
		buf_reset(&out);
		assert_int_equal(store_blob_header(r, bp.id_r, &out), 1);
		assert_int_equal(buf_len(&out), h);
		assert_memory_equal(buf_data(&out), heads[k], h);
		store_read_end(&r);

		/* The first-chunk length changed: refused. */
		unsigned char *t = malloc(slen);
		assert_non_null(t);
		for (int d = -1; d <= 1; d += 2) {
			memcpy(t, v, slen);
			t[3] = (unsigned char)(t[3] + d);
			struct blob_raw raw = { bp.id_r, t, slen };
			assert_int_equal(store_exec(f->st, op_blob_raw, &raw),
			    0);
			assert_int_equal(read_blob(f->st, bp.id_r, &out),
			    ERR_CORRUPT);
		}
		free(t);
		free(plain);
	}

	/* A header and no body, or no blank line: one plain chunk. */
	static const char *const whole[] = {
		"Subject: only a header\r\n\r\n", "no blank line at all\r\n",
	};
	for (size_t k = 0; k < N_ELEMENTS(whole); k++) {
		buf_reset(&sealed);
		assert_int_equal(store_blob_seal(f->st, whole[k],
		    strlen(whole[k]), &sealed), 0);
		assert_int_equal(((const unsigned char *)sealed.data)[0], 1);
		assert_int_equal(buf_len(&sealed), 40 + strlen(whole[k]) + 16);
		/* No header chunk: the caller is told to look elsewhere. */
		struct blob_put bp = { buf_data(&sealed), buf_len(&sealed),
			strlen(whole[k]), 1, 0 };
		assert_int_equal(store_exec(f->st, op_blob_put, &bp), 0);
		struct store_rtxn *r;
		assert_int_equal(store_read_begin(f->st, &r), 0);
		buf_reset(&out);
		assert_int_equal(store_blob_header(r, bp.id_r, &out), 0);
		assert_int_equal(buf_len(&out), 0);
		store_read_end(&r);
	}
	buf_free(&sealed);
	buf_free(&out);
}

/* ---- accounts ---- */

/* create_account - store_op_account_create, expecting want; the id. */
static uint32_t
create_account(struct store *st, const char *login, const char *const *addrs,
	       size_t n_addr, int want)
{
	struct store_account a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(str_copy(a.login, sizeof(a.login), login), 0);
	snprintf(a.pwhash, sizeof(a.pwhash), "$argon2id$fake$%s", login);
	a.created = 1700000000;
	for (size_t i = 0; i < n_addr; i++)
		assert_int_equal(str_copy(a.addr[i], sizeof(a.addr[i]),
		    addrs[i]), 0);
	a.n_addr = n_addr;
	struct store_account_create ac = { &a, 0 };
	int r = store_exec(st, store_op_account_create, &ac);
	if (r != want)
		fail_msg("create %s: got %d, want %d", login, r, want);
	return r == 0 ? ac.id_r : 0;
}

/* find - store_account_find in its own read transaction. */
static int
find(struct store *st, const char *address, struct store_account *a)
{
	struct store_rtxn *r;
	assert_int_equal(store_read_begin(st, &r), 0);
	int ret = store_account_find(r, address, a);
	store_read_end(&r);
	return ret;
}

static int
count_cb(const struct store_account *a, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
count_mb_cb(const struct store_mailbox *m, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static size_t
count_mailboxes(struct store *st, uint32_t account_id)
{
	struct store_rtxn *r;
	size_t n = 0;
	assert_int_equal(store_read_begin(st, &r), 0);
	assert_int_equal(store_mailbox_iter(r, account_id, count_mb_cb, &n),
	    0);
	store_read_end(&r);
	return n;
}

static void
test_accounts(void **state)
{
	struct fixture *f = *state;
	struct store_account a;
	static const char *const alice_addrs[] = {
		"Alice.Smith@Example.ORG", "a.s@other.example" };

	open_ok(f);
	uint32_t alice = create_account(f->st, "Alice@Example.ORG",
	    alice_addrs, 2, 0);
	assert_int_equal(alice, 1);

	/* Found by login and by any alias, whatever the case. */
	static const char *const names[] = { "alice@example.org",
		"ALICE@EXAMPLE.ORG", "Alice@Example.Org",
		"alice.smith@example.org", "ALICE.SMITH@example.org",
		"A.S@Other.Example" };
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		memset(&a, 0, sizeof(a));
		if (find(f->st, names[i], &a) != 1)
			fail_msg("%s not found", names[i]);
		assert_int_equal(a.id, alice);
	}
	assert_string_equal(a.login, "alice@example.org");
	assert_string_equal(a.pwhash, "$argon2id$fake$Alice@Example.ORG");
	assert_int_equal(a.state, STORE_ACCOUNT_ACTIVE);
	assert_int_equal(a.created, 1700000000);
	assert_int_equal(a.n_addr, 3);
	assert_string_equal(a.addr[0], "alice@example.org");
	assert_string_equal(a.addr[1], "alice.smith@example.org");
	assert_string_equal(a.addr[2], "a.s@other.example");

	assert_int_equal(find(f->st, "bob@example.org", &a), 0);
	assert_int_equal(find(f->st, "alice", &a), 0);
	assert_int_equal(find(f->st, "", &a), 0);

	/* A duplicate address: ERR_EXISTS and nothing created at all. */
	static const char *const bob_addrs[] = { "bob.b@example.org",
		"ALICE.smith@EXAMPLE.org" };
	create_account(f->st, "bob@example.org", bob_addrs, 2, ERR_EXISTS);
	assert_int_equal(find(f->st, "bob@example.org", &a), 0);
	assert_int_equal(find(f->st, "bob.b@example.org", &a), 0);
	create_account(f->st, "alice@EXAMPLE.org", NULL, 0, ERR_EXISTS);
	uint32_t bob = create_account(f->st, "bob@example.org", bob_addrs, 1,
	    0);
	assert_int_equal(bob, 2);	/* no id was used by the failures */
	assert_int_equal(count_mailboxes(f->st, bob), 5);
	assert_int_equal(count_mailboxes(f->st, 3), 0);
	assert_int_equal(find(f->st, "Bob.B@example.org", &a), 1);
	assert_int_equal(a.id, bob);

	/* Too many addresses once the login is added. */
	const char *many[STORE_ACCOUNT_ADDRS];
	char many_buf[STORE_ACCOUNT_ADDRS][32];
	for (size_t i = 0; i < STORE_ACCOUNT_ADDRS; i++) {
		snprintf(many_buf[i], sizeof(many_buf[i]), "m%zu@x.example",
		    i);
		many[i] = many_buf[i];
	}
	create_account(f->st, "many@x.example", many, STORE_ACCOUNT_ADDRS,
	    ERR_LIMIT);
	assert_int_equal(find(f->st, "m0@x.example", &a), 0);

	/* get and iter */
	struct store_rtxn *r;
	size_t n = 0;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	assert_int_equal(store_account_get(r, bob, &a), 1);
	assert_string_equal(a.login, "bob@example.org");
	assert_int_equal(store_account_get(r, 99, &a), 0);
	assert_int_equal(store_account_iter(r, count_cb, &n), 0);
	assert_int_equal(n, 2);
	store_read_end(&r);

	/* Password and state, by login or by alias. */
	struct store_account_change ch = { "ALICE.SMITH@example.org",
		"$argon2id$new", 0 };
	assert_int_equal(store_exec(f->st, store_op_account_set_password,
	    &ch), 0);
	assert_int_equal(find(f->st, "alice@example.org", &a), 1);
	assert_string_equal(a.pwhash, "$argon2id$new");
	assert_int_equal(a.n_addr, 3);		/* the rest kept */
	ch.login = "alice@example.org";
	ch.state = STORE_ACCOUNT_DISABLED;
	assert_int_equal(store_exec(f->st, store_op_account_set_state, &ch),
	    0);
	assert_int_equal(find(f->st, "a.s@other.example", &a), 1);
	assert_int_equal(a.state, STORE_ACCOUNT_DISABLED);
	assert_string_equal(a.pwhash, "$argon2id$new");
	ch.login = "nobody@example.org";
	assert_int_equal(store_exec(f->st, store_op_account_set_password,
	    &ch), ERR_NOTFOUND);
	assert_int_equal(store_exec(f->st, store_op_account_set_state, &ch),
	    ERR_NOTFOUND);
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch),
	    ERR_NOTFOUND);

	/* Everything survives a reopen. */
	store_close(&f->st);
	open_ok(f);
	assert_int_equal(find(f->st, "Alice.Smith@example.org", &a), 1);
	assert_int_equal(a.id, alice);
	assert_int_equal(a.state, STORE_ACCOUNT_DISABLED);
}

/* ---- mailboxes ---- */

struct mb_list {
	size_t n;
	struct store_mailbox m[8];
};

static int
mb_collect(const struct store_mailbox *m, void *arg)
{
	struct mb_list *l = arg;
	assert_true(l->n < N_ELEMENTS(l->m));
	l->m[l->n++] = *m;
	return 0;
}

static void
list_mailboxes(struct store *st, uint32_t account_id, struct mb_list *l)
{
	struct store_rtxn *r;
	l->n = 0;
	assert_int_equal(store_read_begin(st, &r), 0);
	assert_int_equal(store_mailbox_iter(r, account_id, mb_collect, l), 0);
	store_read_end(&r);
}

static int
by_id(const void *a, const void *b)
{
	const struct store_mailbox *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void
test_mailboxes_standard(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		uint8_t special;
		const char *use;
	} std[] = {
		{ "INBOX", STORE_SPECIAL_NONE, "" },
		{ "Sent", STORE_SPECIAL_SENT, "\\Sent" },
		{ "Drafts", STORE_SPECIAL_DRAFTS, "\\Drafts" },
		{ "Trash", STORE_SPECIAL_TRASH, "\\Trash" },
		{ "Junk", STORE_SPECIAL_JUNK, "\\Junk" },
	};
	struct mb_list l1, l2;

	open_ok(f);
	uint32_t a1 = create_account(f->st, "one@example.org", NULL, 0, 0);
	uint32_t a2 = create_account(f->st, "two@example.org", NULL, 0, 0);
	list_mailboxes(f->st, a1, &l1);
	list_mailboxes(f->st, a2, &l2);
	assert_int_equal(l1.n, 5);
	assert_int_equal(l2.n, 5);
	qsort(l1.m, l1.n, sizeof(l1.m[0]), by_id);
	qsort(l2.m, l2.n, sizeof(l2.m[0]), by_id);
	for (size_t i = 0; i < 5; i++) {
		const struct store_mailbox *m = &l1.m[i];
		assert_string_equal(m->name, std[i].name);
		assert_int_equal(m->special_use, std[i].special);
		assert_string_equal(store_special_use_name(m->special_use),
		    std[i].use);
		assert_int_equal(m->account_id, a1);
		assert_int_equal(m->uidnext, 1);
		assert_int_equal(m->highestmodseq, 1);
		assert_int_equal(m->n_messages, 0);
		assert_int_equal(m->n_unseen, 0);
		assert_int_equal(m->total_size, 0);
		assert_true(m->uidvalidity != 0);
		assert_string_equal(l2.m[i].name, std[i].name);
		assert_int_equal(l2.m[i].account_id, a2);
		if (i > 0) {
			assert_true(m->id > l1.m[i - 1].id);
			assert_true(m->uidvalidity > l1.m[i - 1].uidvalidity);
			assert_true(l2.m[i].uidvalidity >
			    l2.m[i - 1].uidvalidity);
		}
		/* the second account's come later */
		assert_true(l2.m[i].uidvalidity > l1.m[4].uidvalidity);
		assert_true(l2.m[i].id > l1.m[4].id);
	}
	/* UIDVALIDITY starts near the clock, so a store rebuilt from
	 * scratch does not hand out values a client saw before. */
	assert_true(l1.m[0].uidvalidity >= (uint32_t)(time(NULL) - 3600));

	struct store_rtxn *r;
	struct store_mailbox m;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	assert_int_equal(store_mailbox_get(r, a1, "Sent", &m), 1);
	assert_int_equal(m.special_use, STORE_SPECIAL_SENT);
	assert_int_equal(m.id, l1.m[1].id);
	assert_int_equal(store_mailbox_get(r, a1, "sent", &m), 0);
	assert_int_equal(store_mailbox_get(r, a1, "Archive", &m), 0);
	assert_int_equal(store_mailbox_get(r, a1, "", &m), 0);
	assert_int_equal(store_mailbox_get(r, 77, "INBOX", &m), 0);
	store_read_end(&r);

	assert_string_equal(store_special_use_name(STORE_SPECIAL_ARCHIVE),
	    "\\Archive");
	assert_string_equal(store_special_use_name(200), "");
}

/* ---- delivery ---- */

static void
seal(struct store *st, const char *text, struct buf *out)
{
	buf_init(out, 1 << 20);
	assert_int_equal(store_blob_seal(st, text, strlen(text), out), 0);
}

static struct store_mailbox
inbox(struct store *st, uint32_t account_id)
{
	struct store_rtxn *r;
	struct store_mailbox m;
	memset(&m, 0, sizeof(m));
	assert_int_equal(store_read_begin(st, &r), 0);
	assert_int_equal(store_mailbox_get(r, account_id, "INBOX", &m), 1);
	store_read_end(&r);
	return m;
}

struct msg_list {
	size_t n;
	struct store_msg m[300];
};

static int
msg_collect(const struct store_msg *m, void *arg)
{
	struct msg_list *l = arg;
	assert_true(l->n < N_ELEMENTS(l->m));
	l->m[l->n++] = *m;
	return 0;
}

static void
list_msgs(struct store *st, uint32_t mailbox_id, struct msg_list *l)
{
	struct store_rtxn *r;
	l->n = 0;
	assert_int_equal(store_read_begin(st, &r), 0);
	assert_int_equal(store_msg_iter(r, mailbox_id, msg_collect, l), 0);
	store_read_end(&r);
}

static uint32_t
blob_refs(struct store *st, uint64_t id)
{
	struct store_rtxn *r;
	uint32_t refs = 12345;
	assert_int_equal(store_read_begin(st, &r), 0);
	assert_int_equal(store_blob_refs(r, id, &refs), 0);
	store_read_end(&r);
	return refs;
}

static void
test_deliver(void **state)
{
	struct fixture *f = *state;
	static const char *const text[] = {
		"Subject: one\r\n\r\nfirst\r\n",
		"Subject: two\r\n\r\nsecond message\r\n",
		"Subject: three\r\n\r\n3\r\n",
	};
	uint64_t blob_ids[3];
	uint32_t total = 0;

	open_ok(f);
	uint32_t a1 = create_account(f->st, "one@example.org", NULL, 0, 0);
	uint32_t a2 = create_account(f->st, "two@example.org", NULL, 0, 0);
	struct store_mailbox in1 = inbox(f->st, a1);
	struct store_mailbox in2 = inbox(f->st, a2);

	for (uint32_t k = 0; k < 3; k++) {
		struct buf sealed;
		uint32_t ids[2] = { a1, a2 }, uids[2] = { 0, 0 };
		uint32_t mbs[2] = { 0, 0 };
		uint64_t size = strlen(text[k]);
		seal(f->st, text[k], &sealed);
		struct store_delivery d = {
			.sealed = buf_data(&sealed),
			.sealed_len = buf_len(&sealed),
			.size = size,
			.internaldate = 1700000000 + k,
			.n_rcpt = 2,
			.account_ids = ids,
			.uids_r = uids,
			.mailbox_ids_r = mbs,
		};
		assert_int_equal(store_exec(f->st, store_op_deliver, &d), 0);
		buf_free(&sealed);
		total += (uint32_t)size;
		assert_int_equal(uids[0], k + 1);
		assert_int_equal(uids[1], k + 1);
		assert_int_equal(mbs[0], in1.id);
		assert_int_equal(mbs[1], in2.id);
		blob_ids[k] = d.blob_id_r;
		if (k > 0)
			assert_true(blob_ids[k] > blob_ids[k - 1]);
		/* stored once, referenced twice */
		assert_int_equal(blob_refs(f->st, d.blob_id_r), 2);

		for (int a = 0; a < 2; a++) {
			struct store_mailbox m = inbox(f->st, ids[a]);
			assert_int_equal(m.n_messages, k + 1);
			assert_int_equal(m.n_unseen, k + 1);
			assert_int_equal(m.total_size, total);
			assert_int_equal(m.uidnext, k + 2);
			assert_int_equal(m.highestmodseq, k + 2);
			assert_int_equal(m.uidvalidity, a == 0 ?
			    in1.uidvalidity : in2.uidvalidity);
		}
	}

	/* The messages, in UID order, with their bodies. */
	struct msg_list l;
	list_msgs(f->st, in2.id, &l);
	assert_int_equal(l.n, 3);
	struct store_rtxn *r;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	for (uint32_t k = 0; k < 3; k++) {
		struct store_msg m;
		struct buf body;
		assert_int_equal(l.m[k].uid, k + 1);
		assert_int_equal(l.m[k].mailbox_id, in2.id);
		assert_int_equal(store_msg_get(r, in1.id, k + 1, &m), 1);
		assert_int_equal(m.blob_id, blob_ids[k]);
		assert_int_equal(m.size, strlen(text[k]));
		assert_int_equal(m.internaldate, 1700000000 + k);
		assert_int_equal(m.modseq, k + 2);
		assert_int_equal(m.flags, 0);
		buf_init(&body, 4096);
		assert_int_equal(store_blob_read(r, m.blob_id, &body), 0);
		assert_string_equal(buf_data(&body), text[k]);
		buf_free(&body);
	}
	struct store_msg m;
	assert_int_equal(store_msg_get(r, in1.id, 4, &m), 0);
	assert_int_equal(store_msg_get(r, in1.id, 0, &m), 0);
	store_read_end(&r);
	/* Other mailboxes are untouched. */
	struct mb_list mbl;
	list_mailboxes(f->st, a1, &mbl);
	for (size_t i = 0; i < mbl.n; i++)
		if (mbl.m[i].id != in1.id)
			assert_int_equal(mbl.m[i].n_messages, 0);

	/* The same account twice: two messages, one blob, two refs. */
	struct buf sealed;
	uint32_t ids[2] = { a1, a1 }, uids[2], mbs[2];
	seal(f->st, "dup", &sealed);
	struct store_delivery d = { buf_data(&sealed), buf_len(&sealed), NULL, 0, 3, 0,
		2, ids, uids, mbs, 0 , NULL };
	assert_int_equal(store_exec(f->st, store_op_deliver, &d), 0);
	assert_int_equal(uids[0], 4);
	assert_int_equal(uids[1], 5);
	assert_int_equal(blob_refs(f->st, d.blob_id_r), 2);
	assert_int_equal(inbox(f->st, a1).n_messages, 5);
	/* No recipient: refused. */
	d.n_rcpt = 0;
	assert_int_equal(store_exec(f->st, store_op_deliver, &d), ERR_INVAL);
	buf_free(&sealed);
}

static void
test_deliver_deleted_account(void **state)
{
	struct fixture *f = *state;
	struct buf sealed;
	uint32_t uids[2], mbs[2];

	open_ok(f);
	uint32_t a1 = create_account(f->st, "one@example.org", NULL, 0, 0);
	uint32_t a2 = create_account(f->st, "two@example.org", NULL, 0, 0);
	seal(f->st, "hello\r\n", &sealed);
	uint32_t ids[2] = { a1, a2 };
	struct store_delivery d = { buf_data(&sealed), buf_len(&sealed), NULL, 0, 7, 0,
		2, ids, uids, mbs, 0 , NULL };
	assert_int_equal(store_exec(f->st, store_op_deliver, &d), 0);
	uint64_t first_blob = d.blob_id_r;

	struct store_account_change ch = { "two@example.org", NULL, 0 };
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch), 0);
	struct store_mailbox before = inbox(f->st, a1);
	assert_int_equal(blob_refs(f->st, first_blob), 1);

	/* One recipient gone: the whole delivery fails, nothing written. */
	d.blob_id_r = 0;
	assert_int_equal(store_exec(f->st, store_op_deliver, &d),
	    ERR_NOTFOUND);
	struct store_mailbox after = inbox(f->st, a1);
	assert_int_equal(after.n_messages, before.n_messages);
	assert_int_equal(after.uidnext, before.uidnext);
	assert_int_equal(after.highestmodseq, before.highestmodseq);
	assert_int_equal(after.total_size, before.total_size);
	assert_int_equal(blob_refs(f->st, first_blob + 1), 0);
	/* ... not even a blob id was used up. */
	ids[1] = a1;
	assert_int_equal(store_exec(f->st, store_op_deliver, &d), 0);
	assert_int_equal(d.blob_id_r, first_blob + 1);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 3);
	/* An account id that never existed. */
	ids[1] = 4242;
	assert_int_equal(store_exec(f->st, store_op_deliver, &d),
	    ERR_NOTFOUND);
	assert_int_equal(inbox(f->st, a1).n_messages, 3);
	buf_free(&sealed);
}

/* op_deliver_many - n deliveries in one transaction (one fsync). */
struct deliver_many {
	struct store_delivery *d;
	unsigned n;
	uint64_t *blob_ids;
};

static int
op_deliver_many(struct store_wtxn *w, void *arg)
{
	struct deliver_many *dm = arg;
	for (unsigned i = 0; i < dm->n; i++) {
		int r = store_op_deliver(w, dm->d);
		if (r < 0)
			return r;
		dm->blob_ids[i] = dm->d->blob_id_r;
	}
	return 0;
}

static int
db_has(struct store *st, enum store_db db, const void *key, size_t len)
{
	struct store_rtxn *r;
	MDB_val k = { len, (void *)key }, v;
	assert_int_equal(store_read_begin(st, &r), 0);
	int rc = mdb_get(r->txn, st->dbi[db], &k, &v);
	store_read_end(&r);
	assert_true(rc == 0 || rc == MDB_NOTFOUND);
	return rc == 0;
}

static void
test_account_delete(void **state)
{
	struct fixture *f = *state;
	static const char *const victim_addrs[] = { "Alias@Example.org" };
	uint64_t own[150], shared[20];
	struct buf sealed;

	open_ok(f);
	uint32_t keep = create_account(f->st, "keep@example.org", NULL, 0, 0);
	uint32_t victim = create_account(f->st, "victim@example.org",
	    victim_addrs, 1, 0);
	struct mb_list vmb;
	list_mailboxes(f->st, victim, &vmb);
	assert_int_equal(vmb.n, 5);

	/* 150 messages only the victim has (several LMDB pages) and 20
	 * shared with the other account. */
	seal(f->st, "own body\r\n", &sealed);
	uint32_t ids[2] = { victim, keep }, uids[2], mbs[2];
	struct store_delivery d = { buf_data(&sealed), buf_len(&sealed), NULL, 0, 10,
		0, 1, ids, uids, mbs, 0 , NULL };
	struct deliver_many dm = { &d, N_ELEMENTS(own), own };
	assert_int_equal(store_exec(f->st, op_deliver_many, &dm), 0);
	d.n_rcpt = 2;
	dm.n = N_ELEMENTS(shared);
	dm.blob_ids = shared;
	assert_int_equal(store_exec(f->st, op_deliver_many, &dm), 0);
	buf_free(&sealed);
	assert_int_equal(inbox(f->st, victim).n_messages, 170);
	assert_int_equal(blob_refs(f->st, shared[0]), 2);

	struct store_account_change ch = { "ALIAS@example.org", NULL, 0 };
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch), 0);

	struct store_account a;
	assert_int_equal(find(f->st, "victim@example.org", &a), 0);
	assert_int_equal(find(f->st, "alias@example.org", &a), 0);
	assert_int_equal(count_mailboxes(f->st, victim), 0);
	struct store_rtxn *r;
	assert_int_equal(store_read_begin(f->st, &r), 0);
	assert_int_equal(store_account_get(r, victim, &a), 0);
	store_read_end(&r);
	for (size_t i = 0; i < vmb.n; i++) {
		struct msg_list l;
		unsigned char kb[4];
		list_msgs(f->st, vmb.m[i].id, &l);
		assert_int_equal(l.n, 0);
		be32_put(kb, vmb.m[i].id);
		assert_false(db_has(f->st, DB_MAILBOX_ID, kb, 4));
	}
	/* Blobs only the victim had are gone; shared ones lost a ref. */
	struct buf out;
	buf_init(&out, 4096);
	for (size_t i = 0; i < N_ELEMENTS(own); i++) {
		assert_int_equal(blob_refs(f->st, own[i]), 0);
		unsigned char kb[8];
		be64_put(kb, own[i]);
		assert_false(db_has(f->st, DB_BLOB, kb, 8));
		assert_false(db_has(f->st, DB_BLOBREF, kb, 8));
	}
	assert_int_equal(read_blob(f->st, own[0], &out), ERR_NOTFOUND);
	for (size_t i = 0; i < N_ELEMENTS(shared); i++)
		assert_int_equal(blob_refs(f->st, shared[i]), 1);
	assert_int_equal(read_blob(f->st, shared[19], &out), 0);
	assert_string_equal(buf_data(&out), "own body\r\n");
	buf_free(&out);

	/* The other account is whole. */
	assert_int_equal(find(f->st, "keep@example.org", &a), 1);
	assert_int_equal(count_mailboxes(f->st, keep), 5);
	assert_int_equal(inbox(f->st, keep).n_messages, 20);
	struct msg_list l;
	list_msgs(f->st, inbox(f->st, keep).id, &l);
	assert_int_equal(l.n, 20);

	/* The address can be used again. */
	create_account(f->st, "alias@example.org", NULL, 0, 0);
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch), 0);
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch),
	    ERR_NOTFOUND);
}

/* Deleting the only account that has mail empties the message table;
 * that must work like any other deletion. */
static void
test_account_delete_all(void **state)
{
	struct fixture *f = *state;
	struct buf sealed;
	uint32_t uids[1], mbs[1];

	open_ok(f);
	uint32_t a1 = create_account(f->st, "only@example.org", NULL, 0, 0);
	uint32_t ids[1] = { a1 };
	seal(f->st, "the only message\r\n", &sealed);
	struct store_delivery d = { buf_data(&sealed), buf_len(&sealed), NULL, 0, 18,
		0, 1, ids, uids, mbs, 0 , NULL };
	assert_int_equal(store_exec(f->st, store_op_deliver, &d), 0);
	buf_free(&sealed);

	struct store_account_change ch = { "only@example.org", NULL, 0 };
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch), 0);
	struct store_account a;
	assert_int_equal(find(f->st, "only@example.org", &a), 0);
	assert_int_equal(blob_refs(f->st, d.blob_id_r), 0);
	assert_int_equal(count_mailboxes(f->st, a1), 0);
}

/* ---- the writer: group commit ---- */

#define GC_THREADS 8
#define GC_OPS 250

struct gc_thread {
	struct store *st;
	unsigned idx;
	int results[GC_OPS];
};

static void *
gc_run(void *arg)
{
	struct gc_thread *t = arg;
	for (unsigned i = 0; i < GC_OPS; i++) {
		char key[32];
		unsigned char val[4];
		snprintf(key, sizeof(key), "test/%u/%u", t->idx, i);
		be32_put(val, t->idx * 100000 + i);
		struct meta_put mp = { key, val, 4, 0 };
		t->results[i] = store_exec(t->st, op_meta_put, &mp);
	}
	return NULL;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct gc_thread *t = calloc(GC_THREADS, sizeof(*t));
	pthread_t th[GC_THREADS];
	struct store_stats s;

	assert_non_null(t);
	open_ok(f);
	assert_int_equal(store_writer_start(f->st), 0);
	assert_int_equal(store_writer_start(f->st), 0);	/* once */
	for (unsigned i = 0; i < GC_THREADS; i++) {
		t[i].st = f->st;
		t[i].idx = i;
		for (unsigned k = 0; k < GC_OPS; k++)
			t[i].results[k] = 12345;
		assert_int_equal(pthread_create(&th[i], NULL, gc_run, &t[i]),
		    0);
	}
	for (unsigned i = 0; i < GC_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (unsigned i = 0; i < GC_THREADS; i++)
		for (unsigned k = 0; k < GC_OPS; k++)
			if (t[i].results[k] != 0)
				fail_msg("thread %u op %u: %d", i, k,
				    t[i].results[k]);

	store_get_stats(f->st, &s);
	assert_int_equal(s.ops, GC_THREADS * GC_OPS);
	assert_true(s.commits > 0);
	assert_true(s.commits < s.ops);		/* batching happened */
	assert_true(s.max_batch > 1);
	assert_true(s.max_batch <= GC_THREADS);

	/* Every write is there, with its own value, after a reopen. */
	store_close(&f->st);
	open_ok(f);
	for (unsigned i = 0; i < GC_THREADS; i++)
		for (unsigned k = 0; k < GC_OPS; k += 7) {
			char key[32];
			unsigned char val[8];
			size_t len = sizeof(val);
			snprintf(key, sizeof(key), "test/%u/%u", i, k);
			assert_int_equal(meta_get(f->st, key, val, &len), 1);
			assert_int_equal(len, 4);
			assert_int_equal(be32_get(val), i * 100000 + k);
		}
	free(t);
}

/* A gate: the first op holds the writer until the test opens it, so the
 * ops submitted meanwhile are taken as one batch. */
struct gate {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	int entered, open;
	unsigned n_done;
	int results[8];
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_COND_INITIALIZER, 0, 0, 0, { 0 } };

static int
op_gate(struct store_wtxn *w, void *arg)
{
	pthread_mutex_lock(&gate.mtx);
	gate.entered = 1;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.mtx);
	pthread_mutex_unlock(&gate.mtx);
	return 0;
}

struct gate_op {
	struct meta_put mp;
	unsigned idx;
};

static int
op_gate_put(struct store_wtxn *w, void *arg)
{
	return op_meta_put(w, &((struct gate_op *)arg)->mp);
}

static void
gate_done(int result, void *arg)
{
	struct gate_op *g = arg;
	pthread_mutex_lock(&gate.mtx);
	gate.results[g->idx] = result;
	gate.n_done++;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.mtx);
}

static void
gate_wait(int *flag_or_null, unsigned n_done)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate.mtx);
	while (flag_or_null != NULL ? !*flag_or_null : gate.n_done < n_done)
		if (pthread_cond_timedwait(&gate.cond, &gate.mtx, &ts) != 0)
			break;
	int ok = flag_or_null != NULL ? *flag_or_null : gate.n_done >= n_done;
	pthread_mutex_unlock(&gate.mtx);
	assert_true(ok);
}

static void
test_batch_isolation(void **state)
{
	struct fixture *f = *state;
	struct gate_op ops[5] = {
		{ { "gate/0", "0", 1, 0 }, 0 },
		{ { "gate/1", "1", 1, ERR_INVAL }, 1 },	/* writes, fails */
		{ { "gate/2", "2", 1, 0 }, 2 },
		{ { "gate/3", "3", 1, ERR_EXISTS }, 3 },
		{ { "gate/4", "4", 1, 0 }, 4 },
	};
	struct store_stats s;

	gate.entered = gate.open = 0;
	gate.n_done = 0;
	open_ok(f);
	assert_int_equal(store_writer_start(f->st), 0);
	struct gate_op first = { { NULL, NULL, 0, 0 }, 7 };
	gate.results[7] = 12345;
	assert_int_equal(store_submit(f->st, op_gate, &first, gate_done,
	    NULL), 0);
	gate_wait(&gate.entered, 0);
	for (size_t i = 0; i < N_ELEMENTS(ops); i++)
		assert_int_equal(store_submit(f->st, op_gate_put, &ops[i],
		    gate_done, NULL), 0);
	pthread_mutex_lock(&gate.mtx);
	gate.open = 1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.mtx);
	gate_wait(NULL, 1 + N_ELEMENTS(ops));

	assert_int_equal(gate.results[7], 0);
	for (size_t i = 0; i < N_ELEMENTS(ops); i++)
		assert_int_equal(gate.results[i], ops[i].mp.fail);
	for (size_t i = 0; i < N_ELEMENTS(ops); i++) {
		char v[4];
		size_t len = sizeof(v);
		int has = meta_get(f->st, ops[i].mp.key, v, &len);
		assert_int_equal(has, ops[i].mp.fail == 0);
	}
	store_get_stats(f->st, &s);
	assert_int_equal(s.ops, 1 + N_ELEMENTS(ops));
	assert_int_equal(s.commits, 2);
	assert_int_equal(s.max_batch, N_ELEMENTS(ops));

	/* store_exec through the writer reports the op's error too. */
	struct meta_put bad = { "gate/x", "x", 1, ERR_PERM };
	assert_int_equal(store_exec(f->st, op_meta_put, &bad), ERR_PERM);
	char v[4];
	size_t len = sizeof(v);
	assert_int_equal(meta_get(f->st, "gate/x", v, &len), 0);
}

/* Closing with work queued: every queued op still runs and commits. */
struct drain {
	struct meta_put mp;
	char key[32];
	int result;
};

static void
drain_done(int result, void *arg)
{
	((struct drain *)arg)->result = result;
}

static void
test_close_drains(void **state)
{
	struct fixture *f = *state;
	struct drain *d = calloc(200, sizeof(*d));

	assert_non_null(d);
	open_ok(f);
	assert_int_equal(store_writer_start(f->st), 0);
	for (unsigned i = 0; i < 200; i++) {
		snprintf(d[i].key, sizeof(d[i].key), "drain/%u", i);
		d[i].mp.key = d[i].key;
		d[i].mp.val = "v";
		d[i].mp.len = 1;
		d[i].result = 12345;
		assert_int_equal(store_submit(f->st, op_meta_put, &d[i].mp,
		    drain_done, NULL), 0);
	}
	store_close(&f->st);
	for (unsigned i = 0; i < 200; i++)
		assert_int_equal(d[i].result, 0);
	open_ok(f);
	char v[4];
	size_t len = sizeof(v);
	assert_int_equal(meta_get(f->st, "drain/199", v, &len), 1);
	free(d);
}

/* ---- a full map ---- */

static void
test_map_full(void **state)
{
	struct fixture *f = *state;
	unsigned char body[20000];
	struct buf sealed;
	int r = 0;
	unsigned ok = 0;
	uint64_t blob_ids[100];

	f->o.map_size = 256 << 10;
	open_ok(f);
	assert_int_equal(store_writer_start(f->st), 0);
	/* (Another account holds a message, so that deleting "one" below
	 * does not empty the message table: see test_account_delete_all.) */
	uint32_t a0 = create_account(f->st, "zero@example.org", NULL, 0, 0);
	uint32_t a1 = create_account(f->st, "one@example.org", NULL, 0, 0);
	buf_init(&sealed, 1024);
	assert_int_equal(store_blob_seal(f->st, "x", 1, &sealed), 0);
	uint32_t ids0[1] = { a0 }, uids0[1], mbs0[1];
	struct store_delivery d0 = { buf_data(&sealed), buf_len(&sealed), NULL,
		0, 1, 0, 1, ids0, uids0, mbs0, 0 , NULL };
	assert_int_equal(store_exec(f->st, store_op_deliver, &d0), 0);
	buf_free(&sealed);
	for (unsigned i = 0; i < N_ELEMENTS(blob_ids); i++) {
		uint32_t ids[1] = { a1 }, uids[1], mbs[1];
		fill(body, sizeof(body), i);
		buf_init(&sealed, 1 << 20);
		assert_int_equal(store_blob_seal(f->st, body, sizeof(body),
		    &sealed), 0);
		struct store_delivery d = { buf_data(&sealed),
			buf_len(&sealed), NULL, 0, sizeof(body), i, 1, ids, uids, mbs,
			0 , NULL };
		r = store_exec(f->st, store_op_deliver, &d);
		buf_free(&sealed);
		if (r < 0)
			break;
		blob_ids[ok++] = d.blob_id_r;
		assert_int_equal(uids[0], ok);
	}
	assert_int_equal(r, ERR_STORE_FULL);
	assert_true(ok >= 2);

	/* A second attempt fails the same way, cleanly. */
	fill(body, sizeof(body), 1000);
	buf_init(&sealed, 1 << 20);
	assert_int_equal(store_blob_seal(f->st, body, sizeof(body), &sealed),
	    0);
	uint32_t ids[1] = { a1 }, uids[1], mbs[1];
	struct store_delivery d = { buf_data(&sealed), buf_len(&sealed), NULL, 0,
		sizeof(body), 0, 1, ids, uids, mbs, 0 , NULL };
	assert_int_equal(store_exec(f->st, store_op_deliver, &d),
	    ERR_STORE_FULL);
	buf_free(&sealed);

	/* What was acknowledged is all there and readable. */
	struct store_mailbox m = inbox(f->st, a1);
	assert_int_equal(m.n_messages, ok);
	assert_int_equal(m.uidnext, ok + 1);
	struct buf out;
	buf_init(&out, 1 << 20);
	for (unsigned i = 0; i < ok; i++) {
		fill(body, sizeof(body), i);
		assert_int_equal(read_blob(f->st, blob_ids[i], &out), 0);
		assert_int_equal(buf_len(&out), sizeof(body));
		assert_memory_equal(buf_data(&out), body, sizeof(body));
	}
	/* Small writes may still fit, and the store still works. */
	struct meta_put mp = { "small", "x", 1, 0 };
	r = store_exec(f->st, op_meta_put, &mp);
	assert_true(r == 0 || r == ERR_STORE_FULL);

	/* Deleting frees room for new mail. */
	struct store_account_change ch = { "one@example.org", NULL, 0 };
	assert_int_equal(store_exec(f->st, store_op_account_delete, &ch), 0);
	store_close(&f->st);
	open_ok(f);
	a1 = create_account(f->st, "two@example.org", NULL, 0, 0);
	ids[0] = a1;
	fill(body, sizeof(body), 7);
	buf_init(&sealed, 1 << 20);
	assert_int_equal(store_blob_seal(f->st, body, sizeof(body), &sealed),
	    0);
	d.sealed = buf_data(&sealed);
	d.sealed_len = buf_len(&sealed);
	assert_int_equal(store_exec(f->st, store_op_deliver, &d), 0);
	assert_int_equal(read_blob(f->st, d.blob_id_r, &out), 0);
	assert_memory_equal(buf_data(&out), body, sizeof(body));
	buf_free(&sealed);
	buf_free(&out);
}

/* ---- a small reader table ---- */

#define RD_THREADS 24
#define RD_LOOPS 300

struct rd_thread {
	struct store *st;
	unsigned ok, full, other, wrong;
};

static void *
rd_run(void *arg)
{
	struct rd_thread *t = arg;
	for (unsigned i = 0; i < RD_LOOPS; i++) {
		struct store_rtxn *r;
		struct store_account a;
		int ret = store_read_begin(t->st, &r);
		if (ret == ERR_STORE_FULL) {
			t->full++;
			continue;
		}
		if (ret != 0) {
			t->other++;
			continue;
		}
		if (store_account_find(r, "reader@example.org", &a) != 1 ||
		    a.id != 1)
			t->wrong++;
		else
			t->ok++;
		store_read_end(&r);
	}
	return NULL;
}

static void
test_readers(void **state)
{
	struct fixture *f = *state;
	struct store_rtxn *r[20];
	size_t n = 0;

	f->o.max_readers = 16;
	open_ok(f);
	create_account(f->st, "reader@example.org", NULL, 0, 0);

	/* All slots held: the next read is refused with ERR_STORE_FULL. */
	for (n = 0; n < N_ELEMENTS(r); n++) {
		int ret = store_read_begin(f->st, &r[n]);
		if (ret < 0) {
			assert_int_equal(ret, ERR_STORE_FULL);
			break;
		}
	}
	assert_int_equal(n, 16);
	for (size_t i = 0; i < n; i++)
		store_read_end(&r[i]);
	store_read_end(&r[0]);		/* NULL is fine */

	/* Released slots are reused, over and over. */
	for (unsigned i = 0; i < 1000; i++) {
		assert_int_equal(store_read_begin(f->st, &r[0]), 0);
		store_read_end(&r[0]);
	}

	/* More threads than slots: every read either works and sees the
	 * data, or is refused with ERR_STORE_FULL; nothing else. */
	struct rd_thread t[RD_THREADS];
	pthread_t th[RD_THREADS];
	memset(t, 0, sizeof(t));
	for (unsigned i = 0; i < RD_THREADS; i++) {
		t[i].st = f->st;
		assert_int_equal(pthread_create(&th[i], NULL, rd_run, &t[i]),
		    0);
	}
	unsigned ok = 0;
	for (unsigned i = 0; i < RD_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].other, 0);
		assert_int_equal(t[i].wrong, 0);
		assert_int_equal(t[i].ok + t[i].full, RD_LOOPS);
		ok += t[i].ok;
	}
	assert_true(ok >= RD_LOOPS);	/* progress, whatever the scheduling */

	/* And the writer still writes while readers come and go. */
	create_account(f->st, "after@example.org", NULL, 0, 0);
	struct store_account a;
	assert_int_equal(find(f->st, "after@example.org", &a), 1);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_key),
		T(test_open_wrong_key),
		T(test_open_key_missing),
		T(test_open_key_bad_file),
		T(test_open_schema_version),
		T(test_open_garbage),
		T(test_open_damaged),
		T(test_blob_roundtrip),
		T(test_blob_tamper),
		T(test_blob_header_chunk),
		T(test_accounts),
		T(test_mailboxes_standard),
		T(test_deliver),
		T(test_deliver_deleted_account),
		T(test_account_delete),
		T(test_account_delete_all),
		T(test_group_commit),
		T(test_batch_isolation),
		T(test_close_drains),
		T(test_map_full),
		T(test_readers),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
