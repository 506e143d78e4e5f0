/* SPDX-License-Identifier: MIT */
/*
 * api_auth.c - what every API handler does around its work: a log line
 * per request (peer, path, client, status, time; never the query nor the
 * token), the method check, and the bearer token (RFC 6750) checked
 * against the keyed hashes of the store, in the handler's read
 * transaction.
 */
#include "api_int.h"

#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "api.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "store/store.h"

#define API_REALM "Bearer realm=\"mssgate\""

void
api_req_begin(struct api_req *ar)
{
	memset(ar, 0, sizeof(*ar));
	clock_gettime(CLOCK_MONOTONIC, &ar->start);
}

void
api_req_log(struct evhttp_request *req, const struct api_req *ar, int status)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	struct timespec now;
	struct logline ll;
	char id[17], secs[32];
	char *peer = NULL;
	uint16_t port = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	double t = (double)(now.tv_sec - ar->start.tv_sec) +
	    (double)(now.tv_nsec - ar->start.tv_nsec) / 1e9;
	if (str_fmt(secs, sizeof(secs), "%.3f", t) < 0)
		secs[0] = '\0';
	if (conn != NULL)
		evhttp_connection_get_peer(conn, &peer, &port);
	str_rand_hex(id, 8);
	logl_begin(&ll, id, "api", "request");
	logl_str(&ll, "peer", peer ? peer : "-");
	logl_str(&ll, "path", path ? path : "-");
	logl_str(&ll, "client", ar->client[0] != '\0' ? ar->client : "-");
	logl_int(&ll, "status", status);
	logl_u64(&ll, "results", ar->n_results);
	logl_str(&ll, "time", secs);
	logl_emit(&ll, status >= 500 ? LOG_WARNING : LOG_INFO);
}

void
api_req_error(struct evhttp_request *req, struct api_req *ar, int status,
	      const char *msg)
{
	api_reply_error(req, status, msg);
	api_req_log(req, ar, status);
}

bool
api_method_ok(struct evhttp_request *req, struct api_req *ar)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
		return true;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    "GET, HEAD");
	api_req_error(req, ar, 405, "method not allowed: use GET");
	return false;
}

enum api_auth
api_auth_check(struct evhttp_request *req, struct store_rtxn *rt,
	       const char *scope, struct api_req *ar)
{
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");

	/* RFC 6750 2.1: the "Bearer" scheme, any case, then the token */
	if (h == NULL || strncasecmp(h, "Bearer", 6) != 0)
		return AUTH_NONE;
	if (h[6] != ' ')
		return h[6] == '\0' ? AUTH_INVALID : AUTH_NONE;
	h += 6 + strspn(h + 6, " ");
	int r = store_api_token_check(rt, h, scope, ar->client,
	    sizeof(ar->client));
	if (r == 1)
		return API_AUTH_OK;
	if (r == 0)
		return AUTH_INVALID;
	return r == ERR_PERM ? AUTH_SCOPE : AUTH_ERROR;
}

void
api_reply_auth(struct evhttp_request *req, struct api_req *ar,
	       enum api_auth a, const char *scope)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[160], msg[96];

	switch (a) {
	case AUTH_NONE:
		/* no error code when the client sent no credentials */
		evhttp_add_header(h, "WWW-Authenticate", API_REALM);
		api_req_error(req, ar, 401, "a bearer token is required");
		break;
	case AUTH_INVALID:
		evhttp_add_header(h, "WWW-Authenticate", API_REALM
		    ", error=\"invalid_token\"");
		api_req_error(req, ar, 401, "the token is not valid");
		break;
	case AUTH_SCOPE:
		if (str_fmt(v, sizeof(v), API_REALM ", error=\""
		    "insufficient_scope\", scope=\"%s\"", scope) < 0 ||
		    str_fmt(msg, sizeof(msg), "the token does not grant the "
		    "%s scope", scope) < 0)
			v[0] = msg[0] = '\0';
		evhttp_add_header(h, "WWW-Authenticate", v);
		api_req_error(req, ar, 403, msg);
		break;
	default:
		api_req_error(req, ar, 503, "the store cannot be read now");
		break;
	}
}
