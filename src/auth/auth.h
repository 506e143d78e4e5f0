/* SPDX-License-Identifier: MIT */
/*
 * auth.h - password hashing (Argon2id) and credential checks for every
 * protocol. A check runs on the worker pool, never on an event loop; a
 * successful check is remembered for auth_cache_ttl under a keyed hash of
 * login, password and stored hash, so a client that reconnects often does
 * not pay Argon2id each time, and a password change invalidates it.
 */
#ifndef MSS_AUTH_H
#define MSS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct loop;
struct workers;

/* auth_hash_password - Argon2id (libsodium interactive limits) into out. */
int auth_hash_password(const char *password, size_t len,
		       char out[STORE_PWHASH_MAX]);
/* auth_generate_password - 20 random characters from an unambiguous
 * alphabet, NUL-terminated, into out[size >= 21]. */
int auth_generate_password(char *out, size_t size);

/* auth_init - the pool checks run on, and the cache lifetime (0: none). */
int auth_init(struct workers *w, uint64_t cache_ttl_seconds);
void auth_deinit(void);

/*
 * Result of a check: 0 accepted (account_id set), ERR_AUTH wrong login or
 * password, ERR_PERM account disabled, ERR_TEMP no capacity now,
 * other negatives on store errors.
 */
typedef void auth_done_fn(int result, uint32_t account_id, void *arg);

/*
 * auth_check - start checking login/password. Returns 1 when the answer is
 * known at once (cache hit or refusal; *result_r and *account_id_r set,
 * done not called), 0 when done(arg) will run later on reply, negative on
 * error (done not called). The password is copied; the caller wipes its.
 */
int auth_check(struct store *st, const char *login, const char *password,
	       size_t password_len, auth_done_fn *done, void *arg,
	       struct loop *reply, int *result_r, uint32_t *account_id_r);

#endif
