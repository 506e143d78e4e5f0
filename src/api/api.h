/* SPDX-License-Identifier: MIT */
/*
 * api.h - the HTTPS listener (evhttp over OpenSSL): mail client
 * autoconfiguration (Thunderbird's config-v1.1.xml) and the directory API
 * for clients holding a bearer token (`mssgate api-client`); the events
 * API will join them. Handlers run on the loop threads; each request
 * reads the store in its own short read transaction.
 */
#ifndef MSS_API_H
#define MSS_API_H

struct evhttp_request;
struct json_t;
struct loop;
struct store;

/* api_init - the store the API reads; before the first api_attach. */
void api_init(struct store *st);
/* api_attach - serve HTTPS on the listening socket fd (not taken: a
 * duplicate is used) from loop l. Returns 0 or a negative ERR_*. */
int api_attach(struct loop *l, int fd);
/* api_detach - stop serving on loop l (its thread). */
void api_detach(struct loop *l);

/* ---- shared by the API's handlers ---- */

#define API_DIRECTORY_PATH "/v1/directory"

/* api_store - the store given to api_init. */
struct store *api_store(void);
/* api_reply_json - send status with body (a JSON value, taken: released
 * here) as application/json, never cached. */
void api_reply_json(struct evhttp_request *req, int status,
		    struct json_t *body);
/* api_reply_error - send status with {"error": msg}. */
void api_reply_error(struct evhttp_request *req, int status, const char *msg);

/* api_metrics - GET /metrics (Prometheus text), scope "metrics". */
void api_metrics(struct evhttp_request *req, void *arg);
/* api_directory_search - GET /v1/directory?criteria. */
void api_directory_search(struct evhttp_request *req, void *arg);
/* api_directory_get - GET /v1/directory/ID, for any path under it. */
void api_directory_get(struct evhttp_request *req, void *arg);

#endif
