/* SPDX-License-Identifier: MIT */
/*
 * test_auth.c - Argon2id hashing, generated passwords and asynchronous
 * credential checks on a worker pool against a real store: accepted,
 * refused, unknown, disabled, answered from the cache, cache invalidation.
 */
/* _GNU_SOURCE comes from the build flags */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/auth.h"
#include "core/err.h"
#include "core/str.h"
#include "core/workers.h"
#include "store/store.h"

#define PASSWORD "correct horse battery staple"
#define PASSWORD2 "Tr0ub4dor&3"

struct fixture {
	char base[256];
	char dir[300];
	char key[300];
	struct store *st;
	struct workers *w;
	char hash[STORE_PWHASH_MAX];
	uint32_t alice, dis;
};

/* A check's answer, delivered on a worker thread. */
struct waiter {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	unsigned calls;
	int result;
	uint32_t account_id;
};

static void
on_done(int result, uint32_t account_id, void *arg)
{
	struct waiter *wt = arg;
	pthread_mutex_lock(&wt->mtx);
	wt->calls++;
	wt->result = result;
	wt->account_id = account_id;
	pthread_cond_broadcast(&wt->cond);
	pthread_mutex_unlock(&wt->mtx);
}

static void
waiter_init(struct waiter *wt)
{
	pthread_mutex_init(&wt->mtx, NULL);
	pthread_cond_init(&wt->cond, NULL);
	wt->calls = 0;
	wt->result = 12345;
	wt->account_id = 12345;
}

static void
waiter_wait(struct waiter *wt, unsigned calls)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&wt->mtx);
	while (wt->calls < calls)
		if (pthread_cond_timedwait(&wt->cond, &wt->mtx, &ts) != 0)
			break;
	unsigned got = wt->calls;
	pthread_mutex_unlock(&wt->mtx);
	assert_int_equal(got, calls);
}

/*
 * check_async - auth_check that must go to the pool; returns its
 * result once done ran, with the account id in *id_r.
 */
static int
check_async(struct fixture *f, const char *login, const char *pw,
	    uint32_t *id_r)
{
	struct waiter wt;
	int res = 777;
	uint32_t id = 777;

	waiter_init(&wt);
	int r = auth_check(f->st, login, pw, strlen(pw), on_done, &wt, NULL,
	    &res, &id);
	if (r != 0)
		fail_msg("auth_check %s: returned %d, want 0 (async)", login,
		    r);
	waiter_wait(&wt, 1);
	assert_int_equal(res, 777);	/* not touched when async */
	*id_r = wt.account_id;
	pthread_cond_destroy(&wt.cond);
	pthread_mutex_destroy(&wt.mtx);
	return wt.result;
}

/* check_cached - auth_check that must answer at once from the cache. */
static void
check_cached(struct fixture *f, const char *login, const char *pw,
	     uint32_t want_id)
{
	struct waiter wt;
	int res = 777;
	uint32_t id = 777;

	waiter_init(&wt);
	int r = auth_check(f->st, login, pw, strlen(pw), on_done, &wt, NULL,
	    &res, &id);
	if (r != 1)
		fail_msg("auth_check %s: returned %d, want 1 (cached)", login,
		    r);
	assert_int_equal(res, 0);
	assert_int_equal(id, want_id);
	assert_int_equal(wt.calls, 0);	/* done is not called */
	pthread_cond_destroy(&wt.cond);
	pthread_mutex_destroy(&wt.mtx);
}

/* prime - make sure login/pw is in the cache (tests may run alone). */
static void
prime(struct fixture *f, const char *login, const char *pw)
{
	struct waiter wt;
	int res = 777;
	uint32_t id = 777;

	waiter_init(&wt);
	int r = auth_check(f->st, login, pw, strlen(pw), on_done, &wt, NULL,
	    &res, &id);
	assert_true(r == 0 || r == 1);
	if (r == 0) {
		waiter_wait(&wt, 1);
		assert_int_equal(wt.result, 0);
	}
	pthread_cond_destroy(&wt.cond);
	pthread_mutex_destroy(&wt.mtx);
}

static uint32_t
create(struct fixture *f, const char *login, const char *hash)
{
	struct store_account a;
	memset(&a, 0, sizeof(a));
	assert_int_equal(str_copy(a.login, sizeof(a.login), login), 0);
	assert_int_equal(str_copy(a.pwhash, sizeof(a.pwhash), hash), 0);
	struct store_account_create ac = { &a, 0 };
	assert_int_equal(store_exec(f->st, store_op_account_create, &ac), 0);
	return ac.id_r;
}

static void
set_state(struct fixture *f, const char *login, uint8_t state)
{
	struct store_account_change ch = { login, NULL, state };
	assert_int_equal(store_exec(f->st, store_op_account_set_state, &ch),
	    0);
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *error;
	const char *tmp = getenv("TMPDIR");

	if (f == NULL || sodium_init() < 0)
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/mss-test-auth.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->base) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->base);
	snprintf(f->key, sizeof(f->key), "%s/store.key", f->base);
	struct store_opts o = { f->dir, f->key, 64 << 20, 16, 126, 64 };
	if (store_open(&o, &f->st, &error) < 0)
		return -1;
	f->w = workers_new(2, 16);
	if (f->w == NULL || auth_init(f->w, 600) < 0)
		return -1;
	if (auth_hash_password(PASSWORD, strlen(PASSWORD), f->hash) < 0)
		return -1;
	*state = f;
	f->alice = create(f, "Alice@Example.org", f->hash);
	f->dis = create(f, "disabled@example.org", f->hash);
	set_state(f, "disabled@example.org", STORE_ACCOUNT_DISABLED);
	return 0;
}

static int
group_teardown(void **state)
{
	struct fixture *f = *state;
	auth_deinit();
	workers_free(&f->w);
	store_close(&f->st);
	int r = nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return r;
}

static void
test_hash_password(void **state)
{
	struct fixture *f = *state;
	char other[STORE_PWHASH_MAX];

	/* An Argon2id string with libsodium's interactive limits. */
	assert_memory_equal(f->hash, "$argon2id$", 10);
	assert_true(strlen(f->hash) < STORE_PWHASH_MAX);
	assert_int_equal(crypto_pwhash_str_verify(f->hash, PASSWORD,
	    strlen(PASSWORD)), 0);
	assert_int_not_equal(crypto_pwhash_str_verify(f->hash, PASSWORD2,
	    strlen(PASSWORD2)), 0);
	assert_int_equal(crypto_pwhash_str_needs_rehash(f->hash,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE), 0);

	/* Salted: the same password hashes differently each time. */
	assert_int_equal(auth_hash_password(PASSWORD, strlen(PASSWORD),
	    other), 0);
	assert_string_not_equal(other, f->hash);
	assert_memory_equal(other, "$argon2id$", 10);
}

static void
test_generate_password(void **state)
{
	static const char alphabet[] =
	    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	char pw[64], prev[64] = "";
	unsigned seen[256] = { 0 };

	for (int i = 0; i < 200; i++) {
		memset(pw, 'Z', sizeof(pw));
		assert_int_equal(auth_generate_password(pw, sizeof(pw)), 0);
		assert_int_equal(strlen(pw), 20);
		assert_int_equal(strspn(pw, alphabet), 20);
		/* never the ambiguous ones */
		assert_null(strpbrk(pw, "0O1lI"));
		assert_string_not_equal(pw, prev);
		memcpy(prev, pw, sizeof(prev));
		for (int k = 0; k < 20; k++)
			seen[(unsigned char)pw[k]]++;
	}
	/* 4000 draws from 57 symbols: every one shows up. */
	for (const char *p = alphabet; *p != '\0'; p++)
		assert_true(seen[(unsigned char)*p] > 0);

	/* Exactly enough room, and one byte short. */
	assert_int_equal(auth_generate_password(pw, 21), 0);
	assert_int_equal(strlen(pw), 20);
	pw[0] = 'Z';
	assert_int_equal(auth_generate_password(pw, 20), ERR_LIMIT);
	assert_int_equal(pw[0], 'Z');
	assert_int_equal(auth_generate_password(pw, 0), ERR_LIMIT);
}

static void
test_check_correct_then_cached(void **state)
{
	struct fixture *f = *state;
	uint32_t id = 0;

	assert_int_equal(check_async(f, "alice@example.org", PASSWORD, &id),
	    0);
	assert_int_equal(id, f->alice);
	/* Answered from the cache, by any spelling of the login. */
	check_cached(f, "alice@example.org", PASSWORD, f->alice);
	check_cached(f, "ALICE@EXAMPLE.ORG", PASSWORD, f->alice);
}

static void
test_check_wrong_password(void **state)
{
	struct fixture *f = *state;
	uint32_t id = 0;

	/* Refused, and a cached success for the right password neither
	 * lets the wrong one in nor is disturbed by it. */
	prime(f, "alice@example.org", PASSWORD);
	assert_int_equal(check_async(f, "alice@example.org", PASSWORD2, &id),
	    ERR_AUTH);
	check_cached(f, "alice@example.org", PASSWORD, f->alice);
}

static void
test_check_unknown_user(void **state)
{
	struct fixture *f = *state;
	uint32_t id = 0;

	/* Refused after the same work as a known user, through the pool. */
	assert_int_equal(check_async(f, "nobody@example.org", PASSWORD, &id),
	    ERR_AUTH);
}

static void
test_check_disabled(void **state)
{
	struct fixture *f = *state;
	uint32_t id = 0;

	/* Right password, disabled account: ERR_PERM, not ERR_AUTH. */
	assert_int_equal(check_async(f, "disabled@example.org", PASSWORD,
	    &id), ERR_PERM);
	/* A cached success does not outlive disabling the account. */
	prime(f, "alice@example.org", PASSWORD);
	set_state(f, "alice@example.org", STORE_ACCOUNT_DISABLED);
	assert_int_equal(check_async(f, "alice@example.org", PASSWORD, &id),
	    ERR_PERM);
	set_state(f, "alice@example.org", STORE_ACCOUNT_ACTIVE);
	check_cached(f, "alice@example.org", PASSWORD, f->alice);
}

static void
test_cache_invalidated_by_password_change(void **state)
{
	struct fixture *f = *state;
	char hash2[STORE_PWHASH_MAX];
	uint32_t id = 0;

	prime(f, "alice@example.org", PASSWORD);
	assert_int_equal(auth_hash_password(PASSWORD2, strlen(PASSWORD2),
	    hash2), 0);
	struct store_account_change ch = { "alice@example.org", hash2, 0 };
	assert_int_equal(store_exec(f->st, store_op_account_set_password,
	    &ch), 0);

	/* The old password is checked again, and refused. */
	assert_int_equal(check_async(f, "alice@example.org", PASSWORD, &id),
	    ERR_AUTH);
	assert_int_equal(check_async(f, "alice@example.org", PASSWORD2, &id),
	    0);
	assert_int_equal(id, f->alice);
	check_cached(f, "alice@example.org", PASSWORD2, f->alice);
}

static void
test_check_without_pool(void **state)
{
	struct fixture *f = *state;
	struct waiter wt;
	int res = 777;
	uint32_t id = 777;

	/* After auth_deinit: no cache, no pool; refused at once with
	 * ERR_TEMP, done never called. */
	auth_deinit();
	waiter_init(&wt);
	assert_int_equal(auth_check(f->st, "alice@example.org", PASSWORD2,
	    strlen(PASSWORD2), on_done, &wt, NULL, &res, &id), ERR_TEMP);
	assert_int_equal(wt.calls, 0);
	assert_int_equal(res, 777);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_password),
		cmocka_unit_test(test_generate_password),
		cmocka_unit_test(test_check_correct_then_cached),
		cmocka_unit_test(test_check_wrong_password),
		cmocka_unit_test(test_check_unknown_user),
		cmocka_unit_test(test_check_disabled),
		cmocka_unit_test(test_cache_invalidated_by_password_change),
		cmocka_unit_test(test_check_without_pool),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
