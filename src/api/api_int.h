/* SPDX-License-Identifier: MIT */
/*
 * api_int.h - what the API's handlers share: one log line per request,
 * the method check, and bearer-token authentication (RFC 6750) against
 * the API clients of the store.
 */
#ifndef MSS_API_INT_H
#define MSS_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "store/store_api.h"

struct evhttp_request;
struct store_rtxn;

/* One request: what its log line says. */
struct api_req {
	struct timespec start;
	char client[API_CLIENT_NAME_MAX];
	size_t n_results;
};

void api_req_begin(struct api_req *ar);
/* api_req_log - one line per request: never the query (names of people)
 * nor the token. */
void api_req_log(struct evhttp_request *req, const struct api_req *ar,
		 int status);
/* api_req_error - api_reply_error, then the log line. */
void api_req_error(struct evhttp_request *req, struct api_req *ar,
		   int status, const char *msg);
/* api_method_ok - GET or HEAD; else 405 with the methods that are. */
bool api_method_ok(struct evhttp_request *req, struct api_req *ar);

/* An answer to the token: API_AUTH_OK when it may go on. */
enum api_auth {
	API_AUTH_OK = 0,
	AUTH_NONE,		/* no bearer credentials at all */
	AUTH_INVALID,		/* malformed, unknown or revoked */
	AUTH_SCOPE,		/* valid, without the scope */
	AUTH_ERROR,		/* the store failed */
};

/* api_auth_check - the bearer token of the request for scope, in the
 * caller's read transaction; ar->client is set when it is valid. */
enum api_auth api_auth_check(struct evhttp_request *req,
			     struct store_rtxn *rt, const char *scope,
			     struct api_req *ar);
/* api_reply_auth - the 401 or 403 of RFC 6750 3 (503 if the store
 * failed), logged. */
void api_reply_auth(struct evhttp_request *req, struct api_req *ar,
		    enum api_auth a, const char *scope);

#endif
