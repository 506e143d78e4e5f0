/* SPDX-License-Identifier: MIT */
/*
 * store_apiclient.c - API clients and their bearer tokens in DB_API_CLIENT.
 * Two key spaces share the database: a client's name (never holding ':')
 * -> its record, and "h:" + the keyed hash of its token -> its name, so a
 * request finds its client with one lookup and the token itself is never
 * stored. The hash key is derived from the at-rest key: a stolen copy of
 * the data file does not let anyone forge or test tokens offline.
 */
#include "store_api.h"

#include <sodium.h>

#include "core/err.h"
#include "core/str.h"
#include "store_int.h"

#define API_CLIENT_VERSION 1
#define API_HASH_BYTES 32
#define API_TOKEN_RAW 32
#define API_INDEX_PREFIX "h:"
#define API_INDEX_KEY (2 + API_HASH_BYTES)
#define API_KDF_CONTEXT "apitoken"	/* crypto_kdf_CONTEXTBYTES long */
#define API_KDF_ID 1

_Static_assert(STORE_KEY_BYTES == crypto_kdf_KEYBYTES,
    "the store key is a KDF master key");
_Static_assert(sizeof(API_KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES,
    "KDF context length");
_Static_assert(API_TOKEN_LEN == sizeof(API_TOKEN_PREFIX) - 1 +
    (4 * API_TOKEN_RAW + 2) / 3, "token length: prefix and base64url");

/* The scopes a client may hold; the API checks one per route. */
static const char *const known_scopes[] = {
	API_SCOPE_DIRECTORY,
	API_SCOPE_EVENTS,
	API_SCOPE_METRICS,
};

/* A record with what only this file sees: the token's hash. */
struct client_rec {
	struct store_api_client c;
	unsigned char hash[API_HASH_BYTES];
};

bool
store_api_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= API_CLIENT_NAME_MAX)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

bool
store_api_scope_known(const char *s)
{
	for (size_t i = 0; i < sizeof(known_scopes) / sizeof(*known_scopes);
	     i++)
		if (strcmp(s, known_scopes[i]) == 0)
			return true;
	return false;
}

/* scope_has - is the word scope[len] in the space-separated list? */
static bool
scope_has(const char *list, const char *scope, size_t len)
{
	const char *p = list;
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		if (n == len && memcmp(p, scope, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/*
 * scopes_normalize - in (names separated by spaces or commas) as the
 * stored list: known names only, each once, in the table's order.
 */
static int
scopes_normalize(const char *in, char *out, size_t size)
{
	const char *p = in;
	size_t len = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, " ,");
		if (n > 0) {
			char word[API_SCOPES_MAX];
			if (str_copyn(word, sizeof(word), p, n) < 0 ||
			    !store_api_scope_known(word))
				return ERR_INVAL;
		}
		p += n;
		p += strspn(p, " ,");
	}
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(known_scopes) / sizeof(*known_scopes);
	     i++) {
		const char *s = known_scopes[i];
		bool found = false;
		for (p = in; *p != '\0' && !found;) {
			size_t n = strcspn(p, " ,");
			found = n == strlen(s) && memcmp(p, s, n) == 0;
			p += n;
			p += strspn(p, " ,");
		}
		if (!found)
			continue;
		if (str_fmt(out + len, size - len, "%s%s", len ? " " : "",
		    s) < 0)
			return ERR_LIMIT;
		len += strlen(out + len);
	}
	return len > 0 ? 0 : ERR_INVAL;
}

/* token_well_formed - "mss_" and exactly 43 base64url characters. */
static bool
token_well_formed(const char *t)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t plen = sizeof(API_TOKEN_PREFIX) - 1;

	if (strncmp(t, API_TOKEN_PREFIX, plen) != 0)
		return false;
	return strlen(t) == API_TOKEN_LEN &&
	    strspn(t + plen, b64url) == API_TOKEN_LEN - plen;
}

/* token_hash - the keyed BLAKE2b-256 of the token text. */
static int
token_hash(const struct store *st, const char *token,
	   unsigned char out[API_HASH_BYTES])
{
	unsigned char key[crypto_generichash_KEYBYTES];
	int r = 0;

	if (crypto_kdf_derive_from_key(key, sizeof(key), API_KDF_ID,
	    API_KDF_CONTEXT, st->key) != 0 ||
	    crypto_generichash(out, API_HASH_BYTES,
	    (const unsigned char *)token, strlen(token), key,
	    sizeof(key)) != 0)
		r = ERR_CRYPTO;
	sodium_memzero(key, sizeof(key));
	return r;
}

static void
index_key(const unsigned char hash[API_HASH_BYTES],
	  unsigned char kb[API_INDEX_KEY], MDB_val *k)
{
	memcpy(kb, API_INDEX_PREFIX, 2);
	memcpy(kb + 2, hash, API_HASH_BYTES);
	k->mv_data = kb;
	k->mv_size = API_INDEX_KEY;
}

static int
name_key(const char *name, MDB_val *k)
{
	if (!store_api_name_valid(name))
		return ERR_INVAL;
	k->mv_data = (void *)name;
	k->mv_size = strlen(name);
	return 0;
}

static int
client_decode(const MDB_val *k, const MDB_val *v, struct client_rec *cr)
{
	struct dec d;

	if (k->mv_size == 0 || k->mv_size >= sizeof(cr->c.name))
		return ERR_CORRUPT;
	memset(cr, 0, sizeof(*cr));
	memcpy(cr->c.name, k->mv_data, k->mv_size);
	dec_init(&d, v);
	if (dec_u8(&d) != API_CLIENT_VERSION)
		return d.err ? d.err : ERR_VERSION;
	dec_str(&d, cr->c.scopes, sizeof(cr->c.scopes));
	cr->c.created = (int64_t)dec_u64(&d);
	dec_str(&d, cr->c.hint, sizeof(cr->c.hint));
	if (d.err)
		return d.err;
	if (d.len - d.off != API_HASH_BYTES)
		return ERR_CORRUPT;
	memcpy(cr->hash, d.p + d.off, API_HASH_BYTES);
	return 0;
}

static int
client_load(MDB_txn *txn, const struct store *st, const char *name,
	    struct client_rec *cr)
{
	MDB_val k, v;

	if (name_key(name, &k) < 0)
		return 0;
	int rc = mdb_get(txn, st->dbi[DB_API_CLIENT], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int r = client_decode(&k, &v, cr);
	return r < 0 ? r : 1;
}

int
store_op_api_client_add(struct store_wtxn *w, void *arg)
{
	struct store_api_client_op *op = arg;
	unsigned char raw[API_TOKEN_RAW], hash[API_HASH_BYTES];
	unsigned char vb[16 + API_SCOPES_MAX + API_TOKEN_HINT_LEN +
	    API_HASH_BYTES], kb[API_INDEX_KEY];
	size_t plen = sizeof(API_TOKEN_PREFIX) - 1;
	struct store_api_client *c = &op->client_r;
	MDB_val k, v, ik, iv;
	struct enc e;
	int r;

	memset(c, 0, sizeof(*c));
	sodium_memzero(op->token_r, sizeof(op->token_r));
	if ((r = name_key(op->name, &k)) < 0 ||
	    (r = scopes_normalize(op->scopes, c->scopes,
	    sizeof(c->scopes))) < 0)
		return r;
	memcpy(c->name, op->name, k.mv_size + 1);
	c->created = op->now;

	memcpy(op->token_r, API_TOKEN_PREFIX, plen);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(op->token_r + plen, sizeof(op->token_r) - plen,
	    raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	memcpy(c->hint, op->token_r + API_TOKEN_LEN - API_TOKEN_HINT_LEN,
	    API_TOKEN_HINT_LEN + 1);
	if ((r = token_hash(w->st, op->token_r, hash)) < 0)
		goto fail;

	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, API_CLIENT_VERSION);
	enc_str(&e, c->scopes);
	enc_u64(&e, (uint64_t)c->created);
	enc_str(&e, c->hint);
	if ((r = e.err) < 0)
		goto fail;
	if (sizeof(vb) - e.len < API_HASH_BYTES) {
		r = ERR_LIMIT;
		goto fail;
	}
	memcpy(vb + e.len, hash, API_HASH_BYTES);
	v.mv_data = vb;
	v.mv_size = e.len + API_HASH_BYTES;
	index_key(hash, kb, &ik);
	iv.mv_data = c->name;
	iv.mv_size = strlen(c->name);
	if ((r = store_err(mdb_put(w->txn, w->st->dbi[DB_API_CLIENT], &k, &v,
	    MDB_NOOVERWRITE))) < 0 ||
	    (r = store_err(mdb_put(w->txn, w->st->dbi[DB_API_CLIENT], &ik,
	    &iv, MDB_NOOVERWRITE))) < 0)
		goto fail;
	return 0;
fail:
	sodium_memzero(op->token_r, sizeof(op->token_r));
	return r;
}

int
store_op_api_client_revoke(struct store_wtxn *w, void *arg)
{
	struct store_api_client_op *op = arg;
	struct client_rec cr;
	unsigned char kb[API_INDEX_KEY];
	MDB_val k, ik;
	int r;

	memset(&op->client_r, 0, sizeof(op->client_r));
	if ((r = name_key(op->name, &k)) < 0)
		return ERR_NOTFOUND;
	r = client_load(w->txn, w->st, op->name, &cr);
	if (r <= 0)
		return r == 0 ? ERR_NOTFOUND : r;
	index_key(cr.hash, kb, &ik);
	r = store_err(mdb_del(w->txn, w->st->dbi[DB_API_CLIENT], &ik, NULL));
	/* a missing index entry only means the token was already dead */
	if (r < 0 && r != ERR_NOTFOUND)
		return r;
	if ((r = store_err(mdb_del(w->txn, w->st->dbi[DB_API_CLIENT], &k,
	    NULL))) < 0)
		return r;
	op->client_r = cr.c;
	return 0;
}

int
store_api_client_get(struct store_rtxn *r, const char *name,
		     struct store_api_client *c)
{
	struct client_rec cr;
	int ret = client_load(r->txn, r->st, name, &cr);
	if (ret == 1)
		*c = cr.c;
	return ret;
}

struct list_walk {
	int (*cb)(const struct store_api_client *, void *);
	void *arg;
};

static int
list_each(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct list_walk *lw = arg;
	struct client_rec cr;

	/* index entries: names never hold ':' */
	if (memchr(k->mv_data, ':', k->mv_size) != NULL)
		return 0;
	int r = client_decode(k, v, &cr);
	return r < 0 ? r : lw->cb(&cr.c, lw->arg);
}

int
store_api_client_list(struct store_rtxn *r,
		      int (*cb)(const struct store_api_client *, void *),
		      void *arg)
{
	struct list_walk lw = { cb, arg };
	return store_walk_prefix(r->txn, r->st->dbi[DB_API_CLIENT], "", 0,
	    list_each, &lw);
}

int
store_api_token_check(struct store_rtxn *r, const char *token,
		      const char *scope, char *name_r, size_t size)
{
	unsigned char hash[API_HASH_BYTES], kb[API_INDEX_KEY];
	char name[API_CLIENT_NAME_MAX];
	struct client_rec cr;
	MDB_val k, v;
	int ret;

	if (size > 0)
		name_r[0] = '\0';
	if (!token_well_formed(token))
		return 0;
	if ((ret = token_hash(r->st, token, hash)) < 0)
		return ret;
	index_key(hash, kb, &k);
	int rc = mdb_get(r->txn, r->st->dbi[DB_API_CLIENT], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	if (v.mv_size == 0 || v.mv_size >= sizeof(name))
		return ERR_CORRUPT;
	memcpy(name, v.mv_data, v.mv_size);
	name[v.mv_size] = '\0';
	if ((ret = client_load(r->txn, r->st, name, &cr)) <= 0)
		return ret;
	/* the index said so; the record's own hash has the last word */
	if (sodium_memcmp(cr.hash, hash, API_HASH_BYTES) != 0)
		return 0;
	if (str_copy(name_r, size, cr.c.name) < 0)
		return ERR_LIMIT;
	return scope_has(cr.c.scopes, scope, strlen(scope)) ? 1 : ERR_PERM;
}
