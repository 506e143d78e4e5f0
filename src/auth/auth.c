/* SPDX-License-Identifier: MIT */
/*
 * auth.c - Argon2id hashing, asynchronous checks on the worker pool and
 * the short-lived cache of successful checks.
 * An unknown login is checked against a dummy hash, so answering takes
 * the same time whether the account exists or not.
 */
#include "auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/err.h"
#include "core/loop.h"
#include "core/str.h"
#include "core/workers.h"

#define CACHE_SLOTS 4096

struct cache_slot {
	unsigned char h[32];
	time_t expires;
};

static struct workers *pool;
static uint64_t cache_ttl;
static unsigned char cache_key[crypto_generichash_KEYBYTES];
static struct cache_slot *cache;
static pthread_mutex_t cache_mtx = PTHREAD_MUTEX_INITIALIZER;
static char dummy_hash[STORE_PWHASH_MAX];

int
auth_hash_password(const char *password, size_t len,
		   char out[STORE_PWHASH_MAX])
{
	if (crypto_pwhash_str(out, password, len,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return ERR_NOMEM;
	return 0;
}

int
auth_generate_password(char *out, size_t size)
{
	/* No 0/O, 1/l/I: read aloud or copied by hand without mistakes. */
	static const char alphabet[] =
	    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const size_t n = 20;
	if (size < n + 1)
		return ERR_LIMIT;
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[n] = '\0';
	return 0;
}

int
auth_init(struct workers *w, uint64_t ttl)
{
	pool = w;
	cache_ttl = ttl;
	crypto_generichash_keygen(cache_key);
	if (cache == NULL && ttl > 0) {
		cache = calloc(CACHE_SLOTS, sizeof(*cache));
		if (cache == NULL)
			return ERR_NOMEM;
	}
	char pw[32];
	auth_generate_password(pw, sizeof(pw));
	int r = auth_hash_password(pw, strlen(pw), dummy_hash);
	sodium_memzero(pw, sizeof(pw));
	return r;
}

void
auth_deinit(void)
{
	pthread_mutex_lock(&cache_mtx);
	if (cache != NULL)
		sodium_memzero(cache, CACHE_SLOTS * sizeof(*cache));
	free(cache);
	cache = NULL;
	pthread_mutex_unlock(&cache_mtx);
	pool = NULL;
}

static void
cache_hash(const char *login, const char *pw, size_t pwlen,
	   const char *pwhash, unsigned char out[32])
{
	crypto_generichash_state s;
	crypto_generichash_init(&s, cache_key, sizeof(cache_key), 32);
	crypto_generichash_update(&s, (const unsigned char *)login,
	    strlen(login) + 1);
	crypto_generichash_update(&s, (const unsigned char *)pwhash,
	    strlen(pwhash) + 1);
	crypto_generichash_update(&s, (const unsigned char *)pw, pwlen);
	crypto_generichash_final(&s, out, 32);
}

static int
cache_lookup(const unsigned char h[32])
{
	int hit = 0;
	if (cache == NULL)
		return 0;
	size_t slot = (size_t)(h[0] | h[1] << 8) % CACHE_SLOTS;
	pthread_mutex_lock(&cache_mtx);
	if (cache != NULL && cache[slot].expires > time(NULL) &&
	    sodium_memcmp(cache[slot].h, h, 32) == 0)
		hit = 1;
	pthread_mutex_unlock(&cache_mtx);
	return hit;
}

static void
cache_insert(const unsigned char h[32])
{
	if (cache == NULL)
		return;
	size_t slot = (size_t)(h[0] | h[1] << 8) % CACHE_SLOTS;
	pthread_mutex_lock(&cache_mtx);
	if (cache != NULL) {
		memcpy(cache[slot].h, h, 32);
		cache[slot].expires = time(NULL) + (time_t)cache_ttl;
	}
	pthread_mutex_unlock(&cache_mtx);
}

struct check {
	char pwhash[STORE_PWHASH_MAX];
	char *password;
	size_t password_len;
	unsigned char h[32];
	int known;		/* the account exists */
	int disabled;
	uint32_t account_id;
	int result;
	auth_done_fn *done;
	void *arg;
};

static void
check_work(void *arg)
{
	struct check *c = arg;
	int ok = crypto_pwhash_str_verify(c->known ? c->pwhash : dummy_hash,
	    c->password, c->password_len) == 0;
	sodium_memzero(c->password, c->password_len);
	if (!ok || !c->known)
		c->result = ERR_AUTH;
	else if (c->disabled)
		c->result = ERR_PERM;
	else
		c->result = 0;
}

static void
check_done(void *arg)
{
	struct check *c = arg;
	if (c->result == 0)
		cache_insert(c->h);
	c->done(c->result, c->account_id, c->arg);
	free(c->password);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

int
auth_check(struct store *st, const char *login, const char *password,
	   size_t password_len, auth_done_fn *done, void *arg,
	   struct loop *reply, int *result_r, uint32_t *account_id_r)
{
	struct store_account a;
	struct store_rtxn *rt;
	int r;

	if ((r = store_read_begin(st, &rt)) < 0)
		return r;
	r = store_account_find(rt, login, &a);
	store_read_end(&rt);
	if (r < 0)
		return r;

	struct check *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ERR_NOMEM;
	c->known = r == 1;
	if (c->known) {
		memcpy(c->pwhash, a.pwhash, sizeof(c->pwhash));
		c->disabled = a.state != STORE_ACCOUNT_ACTIVE;
		c->account_id = a.id;
		cache_hash(a.login, password, password_len, a.pwhash, c->h);
		if (!c->disabled && cache_lookup(c->h)) {
			*result_r = 0;
			*account_id_r = a.id;
			sodium_memzero(c, sizeof(*c));
			free(c);
			return 1;
		}
	}
	c->password = malloc(password_len + 1);
	if (c->password == NULL) {
		free(c);
		return ERR_NOMEM;
	}
	memcpy(c->password, password, password_len);
	c->password[password_len] = '\0';
	c->password_len = password_len;
	c->done = done;
	c->arg = arg;
	r = pool ? workers_submit(pool, check_work, check_done, c, reply) :
	    ERR_TEMP;
	if (r < 0) {
		sodium_memzero(c->password, password_len);
		free(c->password);
		free(c);
		return r;
	}
	return 0;
}
