/* SPDX-License-Identifier: MIT */
/*
 * store_api.h - the clients of the HTTPS API and their bearer tokens.
 * A token is shown once, when its client is added; the store keeps only
 * a keyed BLAKE2b hash of it (the key is derived from the store's at-rest
 * key), so a copy of the database alone does not give a working token.
 * Checking a token costs one lookup of its hash and one of its client.
 */
#ifndef MSS_STORE_API_H
#define MSS_STORE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define API_CLIENT_NAME_MAX 65		/* [a-z0-9._-]{1,64} and a NUL */
#define API_TOKEN_PREFIX "mss_"
#define API_TOKEN_LEN 47		/* "mss_" + 43 base64url characters */
#define API_TOKEN_SIZE (API_TOKEN_LEN + 1)
#define API_TOKEN_HINT_LEN 8		/* last characters kept for display */
#define API_SCOPES_MAX 128		/* space-separated scope names */

#define API_SCOPE_DIRECTORY "directory"	/* GET /v1/directory... */
#define API_SCOPE_EVENTS "events"	/* reserved: the events API */
#define API_SCOPE_METRICS "metrics"	/* GET /metrics */
#define API_SCOPES_KNOWN "directory, events, metrics" /* messages */

struct store_api_client {
	char name[API_CLIENT_NAME_MAX];
	char scopes[API_SCOPES_MAX];	/* "directory", space-separated */
	int64_t created;
	char hint[API_TOKEN_HINT_LEN + 1];	/* end of the token */
};

/* store_api_name_valid - is name a client name: 1 to 64 of [a-z0-9._-]? */
bool store_api_name_valid(const char *name);
/* store_api_scope_known - is s the name of a scope the API grants? */
bool store_api_scope_known(const char *s);

/*
 * op arg for store_op_api_client_add: a new client named name with the
 * scopes given (space-separated known scopes). Its token, made in the
 * operation, is in token_r once store_exec returned 0; the caller shows
 * it and wipes it (sodium_memzero). ERR_EXISTS when the name is taken,
 * ERR_INVAL when the name or a scope is not valid.
 */
struct store_api_client_op {
	const char *name;
	const char *scopes;		/* add */
	int64_t now;			/* add */
	char token_r[API_TOKEN_SIZE];	/* add */
	struct store_api_client client_r;
};
int store_op_api_client_add(struct store_wtxn *w, void *arg);
/* store_op_api_client_revoke - delete the client op->name and its token
 * (client_r receives what was deleted); ERR_NOTFOUND when unknown. */
int store_op_api_client_revoke(struct store_wtxn *w, void *arg);

/* store_api_client_get - by name: 1 found, 0 not, <0 error. */
int store_api_client_get(struct store_rtxn *r, const char *name,
			 struct store_api_client *c);
/* store_api_client_list - cb for every client, by name; a non-zero return
 * of cb stops the walk and is returned. */
int store_api_client_list(struct store_rtxn *r,
			  int (*cb)(const struct store_api_client *, void *),
			  void *arg);

/*
 * store_api_token_check - is token a live token granting scope? Returns 1
 * when it is (name_r[size] receives its client's name), 0 when the token
 * is malformed, unknown or revoked, ERR_PERM when it is valid but its
 * client lacks the scope (name_r filled), another <0 on a store error.
 * Runs in the caller's read transaction: a token revoked by a commit
 * this transaction does not see still passes.
 */
int store_api_token_check(struct store_rtxn *r, const char *token,
			  const char *scope, char *name_r, size_t size);

#endif
