/* SPDX-License-Identifier: MIT */
/*
 * api_metrics.c - GET /metrics in the Prometheus text format, for API
 * clients holding the "metrics" scope: when each certificate in use
 * expires (the last scan of pki_expiry.c), so that monitoring alerts
 * before the 30-, 7- and 1-day warnings of the log are missed.
 */
#include "api.h"
#include "api_int.h"

#include <stdlib.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "pki/pki.h"
#include "store/store.h"

/* label - a Prometheus label value: backslash, quote and newline
 * escaped. */
static void
label(struct evbuffer *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(o, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(o, "\\n", 2);
		else
			evbuffer_add(o, s, 1);
	}
}

static void
series(struct evbuffer *o, const char *metric, const struct pki_expiry *e,
       long long value)
{
	evbuffer_add_printf(o, "%s{use=\"", metric);
	label(o, e->use);
	evbuffer_add_printf(o, "\",name=\"");
	label(o, e->name);
	evbuffer_add_printf(o, "\",file=\"");
	label(o, e->file);
	evbuffer_add_printf(o, "\"} %lld\n", value);
}

void
api_metrics(struct evhttp_request *req, void *arg)
{
	struct api_req ar;
	struct store_rtxn *rt;
	struct pki_expiry *list;
	struct evbuffer *o;
	enum api_auth a = AUTH_ERROR;
	size_t n;

	(void)arg;
	api_req_begin(&ar);
	if (!api_method_ok(req, &ar))
		return;
	if (store_read_begin(api_store(), &rt) == 0) {
		a = api_auth_check(req, rt, API_SCOPE_METRICS, &ar);
		store_read_end(&rt);
	}
	if (a != API_AUTH_OK) {
		api_reply_auth(req, &ar, a, API_SCOPE_METRICS);
		return;
	}
	list = calloc(PKI_EXPIRY_MAX, sizeof(*list));
	o = evbuffer_new();
	if (list == NULL || o == NULL) {
		free(list);
		if (o != NULL)
			evbuffer_free(o);
		api_req_error(req, &ar, 500, "out of memory");
		return;
	}
	n = pki_expiry_last(list, PKI_EXPIRY_MAX);
	long long now = (long long)time(NULL);
	evbuffer_add_printf(o, "# HELP mssgate_certificate_not_after_seconds "
	    "When a certificate in use stops being valid (Unix time).\n"
	    "# TYPE mssgate_certificate_not_after_seconds gauge\n");
	for (size_t i = 0; i < n; i++)
		series(o, "mssgate_certificate_not_after_seconds", &list[i],
		    (long long)list[i].not_after);
	evbuffer_add_printf(o, "# HELP mssgate_certificate_days_left "
	    "Whole days before a certificate in use expires (negative: "
	    "expired).\n# TYPE mssgate_certificate_days_left gauge\n");
	for (size_t i = 0; i < n; i++) {
		long long left = (long long)list[i].not_after - now;
		series(o, "mssgate_certificate_days_left", &list[i],
		    left >= 0 ? left / 86400 : -((-left + 86399) / 86400));
	}
	ar.n_results = n;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", o);
	api_req_log(req, &ar, 200);
	evbuffer_free(o);
	free(list);
}
