/* SPDX-License-Identifier: MIT */
/*
 * api_directory.c - the directory over HTTPS, for API clients holding a
 * bearer token with the "directory" scope (RFC 6750):
 *   GET /v1/directory?name=&given=&idnat=&rpps=&address=&profession=
 *       &specialty=&postcode=&city=&org=&limit=&offset=
 *       -> {"results": [record...], "offset": N, "limit": N, "more": bool}
 *   GET /v1/directory/ID -> one record, or 404
 * Each request checks its token and searches in ONE read transaction,
 * ended before the reply is sent: an import committing meanwhile is seen
 * whole or not at all, and no transaction outlives the loop's turn.
 * Parameters are checked strictly (unknown names, numbers, UTF-8): a
 * client's typo gets a 400 naming it, not a silently wider search.
 */
#include "api.h"
#include "api_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "directory/directory.h"
#include "store/store.h"
#include "store/store_api.h"
#include "store/store_dir.h"

#define API_MSG_MAX 192
#define API_VALUE_MAX 255		/* longest criterion, in bytes */
#define API_PARAM_SHOWN 40		/* of an unknown name in a message */

/* A parsed search request; values point into params. */
struct search {
	struct evkeyvalq params;
	struct dir_query q;
	bool has_limit, has_offset;
	char err[API_MSG_MAX];	/* set: the 400 to send */
};

/* criterion - the query field for the parameter name, NULL if none. */
static const char **
criterion(struct dir_query *q, const char *name)
{
	static const struct {
		const char *name;
		size_t off;
	} map[] = {
		{ "name", offsetof(struct dir_query, family) },
		{ "given", offsetof(struct dir_query, given) },
		{ "idnat", offsetof(struct dir_query, idnat) },
		{ "rpps", offsetof(struct dir_query, rpps) },
		{ "address", offsetof(struct dir_query, address) },
		{ "profession", offsetof(struct dir_query, profession) },
		{ "specialty", offsetof(struct dir_query, specialty) },
		{ "postcode", offsetof(struct dir_query, postcode) },
		{ "city", offsetof(struct dir_query, city) },
		{ "org", offsetof(struct dir_query, org) },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(name, map[i].name) == 0)
			return (const char **)(void *)((char *)q +
			    map[i].off);
	return NULL;
}

/* set_err - keep the first problem: "parameter 'NAME' WHAT", or WHAT
 * alone when name is NULL. */
static void
set_err(struct search *s, const char *name, const char *what)
{
	int r;

	if (s->err[0] != '\0')
		return;
	if (name != NULL)
		r = str_fmt(s->err, sizeof(s->err), "parameter '%s' %s", name,
		    what);
	else
		r = str_copy(s->err, sizeof(s->err), what);
	if (r < 0)
		str_copy(s->err, sizeof(s->err), "bad parameter");
}

/* number - limit or offset, whole decimal in [min, max], given once. */
static void
number(struct search *s, const char *name, const char *v, uint64_t min,
       uint64_t max, bool *seen, size_t *out)
{
	char what[API_MSG_MAX];
	uint64_t n;

	if (*seen) {
		set_err(s, name, "is given more than once");
		return;
	}
	*seen = true;
	if (str_to_u64(v, min, max, &n) == 0) {
		*out = (size_t)n;
		return;
	}
	if (str_fmt(what, sizeof(what), "must be a whole number from %llu "
	    "to %llu", (unsigned long long)min,
	    (unsigned long long)max) < 0)
		str_copy(what, sizeof(what), "must be a number");
	set_err(s, name, what);
}

#define NO_CRITERION "no search criterion: give at least one of name, " \
	"given, idnat, rpps, address, profession, specialty, postcode, " \
	"city, org"

/* one_param - check name=v and put it in the query. */
static void
one_param(struct search *s, const char *name, const char *v)
{
	const char **slot;

	if (!utf8_valid(name, strlen(name))) {
		set_err(s, NULL, "a parameter name is not valid UTF-8");
		return;
	}
	if (strlen(name) > API_PARAM_SHOWN) {
		set_err(s, NULL, "unknown parameter (a long name)");
		return;
	}
	if (strcmp(name, "limit") == 0) {
		number(s, name, v, 1, DIR_QUERY_LIMIT_MAX, &s->has_limit,
		    &s->q.limit);
		return;
	}
	if (strcmp(name, "offset") == 0) {
		number(s, name, v, 0, DIR_QUERY_OFFSET_MAX, &s->has_offset,
		    &s->q.offset);
		return;
	}
	if ((slot = criterion(&s->q, name)) == NULL) {
		char what[API_MSG_MAX];
		if (str_fmt(what, sizeof(what), "unknown parameter '%s'",
		    name) < 0)
			str_copy(what, sizeof(what), "unknown parameter");
		set_err(s, NULL, what);
		return;
	}
	if (*slot != NULL)
		set_err(s, name, "is given more than once");
	else if (!utf8_valid(v, strlen(v)))
		set_err(s, name, "is not valid UTF-8");
	else if (v[0] == '\0')
		set_err(s, name, "is empty");
	else if (strlen(v) > API_VALUE_MAX)
		set_err(s, name, "is too long");
	else
		*slot = v;
}

/*
 * search_parse - the query string into s->q; s->err says what is wrong
 * with it. s->params must be cleared by the caller whatever happens.
 */
static void
search_parse(struct evhttp_request *req, struct search *s)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	struct evkeyval *kv;

	memset(&s->q, 0, sizeof(s->q));
	s->err[0] = '\0';
	s->has_limit = s->has_offset = false;
	if (query == NULL || query[0] == '\0') {
		set_err(s, NULL, NO_CRITERION);
		return;
	}
	/* a %00 would cut the decoded value short without a word */
	if (strcasestr(query, "%00") != NULL) {
		set_err(s, NULL, "the query holds a NUL byte");
		return;
	}
	if (evhttp_parse_query_str(query, &s->params) != 0) {
		set_err(s, NULL, "malformed query string: expected "
		    "name=value&...");
		return;
	}
	for (kv = TAILQ_FIRST(&s->params); kv != NULL;
	     kv = TAILQ_NEXT(kv, next))
		one_param(s, kv->key, kv->value);
	const struct dir_query *q = &s->q;
	if (q->family == NULL && q->given == NULL && q->idnat == NULL &&
	    q->rpps == NULL && q->address == NULL && q->profession == NULL &&
	    q->specialty == NULL && q->postcode == NULL && q->city == NULL &&
	    q->org == NULL)
		set_err(s, NULL, NO_CRITERION);
	if (q->limit == 0)
		s->q.limit = DIR_QUERY_LIMIT_DEFAULT;
}

static int
add_result(const struct dir_record *rec, void *arg)
{
	json_t *obj = dir_record_to_json(rec);
	if (obj == NULL)
		return ERR_NOMEM;
	return json_array_append_new(arg, obj) == 0 ? 0 : ERR_NOMEM;
}

/* store_status - the HTTP status of a store error. */
static int
store_status(int r)
{
	switch (r) {
	case ERR_INVAL: return 400;
	case ERR_TEMP:
	case ERR_STORE_FULL: return 503;
	default: return 500;
	}
}

static const char *
store_msg(int status)
{
	switch (status) {
	case 400: return "the search is too wide: give a longer criterion";
	case 503: return "the directory cannot be read now: try again";
	default: return "the directory cannot be read";
	}
}

void
api_directory_search(struct evhttp_request *req, void *arg)
{
	struct store *st = api_store();
	struct store_rtxn *rt;
	struct api_req ar;
	struct search s;
	enum api_auth a;
	bool more = false;
	json_t *results;
	int r;

	(void)arg;
	api_req_begin(&ar);
	if (!api_method_ok(req, &ar))
		return;
	TAILQ_INIT(&s.params);
	search_parse(req, &s);
	results = json_array();
	if (results == NULL || st == NULL ||
	    store_read_begin(st, &rt) < 0) {
		json_decref(results);
		evhttp_clear_headers(&s.params);
		api_req_error(req, &ar, 503, store_msg(503));
		return;
	}
	a = api_auth_check(req, rt, API_SCOPE_DIRECTORY, &ar);
	r = 0;
	if (a == API_AUTH_OK && s.err[0] == '\0')
		r = store_dir_search(rt, &s.q, add_result, results, &more);
	store_read_end(&rt);
	evhttp_clear_headers(&s.params);	/* s.q's strings die here */

	if (a != API_AUTH_OK) {
		json_decref(results);
		api_reply_auth(req, &ar, a, API_SCOPE_DIRECTORY);
		return;
	}
	if (s.err[0] != '\0') {
		json_decref(results);
		api_req_error(req, &ar, 400, s.err);
		return;
	}
	if (r < 0) {
		json_decref(results);
		api_req_error(req, &ar, store_status(r),
		    store_msg(store_status(r)));
		return;
	}
	ar.n_results = json_array_size(results);
	api_reply_json(req, 200, json_pack("{s:o, s:I, s:I, s:b}", "results",
	    results, "offset", (json_int_t)s.q.offset, "limit",
	    (json_int_t)s.q.limit, "more", more));
	api_req_log(req, &ar, 200);
}

void
api_directory_get(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	struct store *st = api_store();
	struct dir_record *rec;
	struct store_rtxn *rt;
	struct api_req ar;
	enum api_auth a;
	uint64_t id = 0;
	bool id_ok;
	int r = 0;

	(void)arg;
	api_req_begin(&ar);
	if (!api_method_ok(req, &ar))
		return;
	id_ok = path != NULL && strncmp(path, API_DIRECTORY_PATH "/",
	    sizeof(API_DIRECTORY_PATH)) == 0 &&
	    str_to_u64(path + sizeof(API_DIRECTORY_PATH), 1, UINT32_MAX,
	    &id) == 0;
	/* a record is big: not on the loop thread's stack */
	rec = malloc(sizeof(*rec));
	if (rec == NULL || st == NULL || store_read_begin(st, &rt) < 0) {
		free(rec);
		api_req_error(req, &ar, 503, store_msg(503));
		return;
	}
	a = api_auth_check(req, rt, API_SCOPE_DIRECTORY, &ar);
	if (a == API_AUTH_OK && id_ok && (query == NULL || query[0] == '\0'))
		r = store_dir_get(rt, (uint32_t)id, rec);
	store_read_end(&rt);

	if (a != API_AUTH_OK)
		api_reply_auth(req, &ar, a, API_SCOPE_DIRECTORY);
	else if (query != NULL && query[0] != '\0')
		api_req_error(req, &ar, 400, "a record takes no parameter");
	else if (!id_ok || r == 0)
		api_req_error(req, &ar, 404, "no such record");
	else if (r < 0)
		api_req_error(req, &ar, r == ERR_INVAL ? 500 : store_status(r),
		    store_msg(r == ERR_INVAL ? 500 : store_status(r)));
	else {
		json_t *obj = dir_record_to_json(rec);
		if (obj == NULL) {
			api_req_error(req, &ar, 500, "out of memory");
		} else {
			ar.n_results = 1;
			api_reply_json(req, 200, obj);
			api_req_log(req, &ar, 200);
		}
	}
	free(rec);
}
