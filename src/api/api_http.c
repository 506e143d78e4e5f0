/* SPDX-License-Identifier: MIT */
/*
 * api_http.c - one evhttp per loop on the shared HTTPS socket, each
 * connection under TLS on the current server context, and the
 * autoconfiguration documents: config-v1.1.xml at the paths Thunderbird
 * and the draft-ietf-mailmaint-autoconfig lookup use, describing our IMAP
 * and submission endpoints (TLS only, password over TLS, the full
 * address as user name). It also routes the directory API (see
 * api_directory.c) and holds the JSON replies every API handler sends.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/str.h"
#include "pki/pki.h"

#define MAX_LOOPS 64
#define API_MAX_HEADERS 16384
#define API_MAX_BODY 65536

static struct evhttp *per_loop[MAX_LOOPS];
static struct store *g_store;

void
api_init(struct store *st)
{
	g_store = st;
}

struct store *
api_store(void)
{
	return g_store;
}

static const char *
reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/*
 * send_reply - evhttp_send_reply that honours HEAD: evhttp would send
 * the body anyway, without a length, and spoil the connection's next
 * response. The length is the one a GET would get (RFC 9110 9.3.2).
 */
static void
send_reply(struct evhttp_request *req, int status, const char *reason,
	   struct evbuffer *body)
{
	char len[32];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_reply(req, status, reason, body);
		return;
	}
	if (str_fmt(len, sizeof(len), "%zu", evbuffer_get_length(body)) == 0)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Length", len);
	evbuffer_drain(body, evbuffer_get_length(body));
	evhttp_send_reply(req, status, reason, NULL);
}

void
api_reply_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *o = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (o == NULL || text == NULL ||
	    evbuffer_add(o, text, strlen(text)) != 0 ||
	    evbuffer_add(o, "\n", 1) != 0) {
		free(text);
		if (o != NULL)
			evbuffer_free(o);
		evhttp_send_error(req, 500, "Out of memory");
		return;
	}
	free(text);
	evhttp_add_header(h, "Content-Type", "application/json");
	/* answers depend on the token and on the data of the moment */
	evhttp_add_header(h, "Cache-Control", "no-store");
	send_reply(req, status, reason_of(status), o);
	evbuffer_free(o);
}

void
api_reply_error(struct evhttp_request *req, int status, const char *msg)
{
	api_reply_json(req, status, json_pack("{s:s}", "error", msg));
}

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	/* evhttp gives the socket later; -1 here is what it expects. */
	return pki_bev_accept(base, -1);
}

/* port_of - the port of the first "host:port" of a listener list. */
static const char *
port_of(const struct config_list *l)
{
	if (l->n == 0)
		return NULL;
	const char *c = strrchr(l->v[0], ':');
	return c ? c + 1 : NULL;
}

static void
xml_escape(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': evbuffer_add(out, "&amp;", 5); break;
		case '<': evbuffer_add(out, "&lt;", 4); break;
		case '>': evbuffer_add(out, "&gt;", 4); break;
		case '"': evbuffer_add(out, "&quot;", 6); break;
		default: evbuffer_add(out, s, 1);
		}
	}
}

static void
server(struct evbuffer *o, const char *elem, const char *type,
       const char *host, const char *port, const char *socket)
{
	if (port == NULL)
		return;
	evbuffer_add_printf(o, "    <%s type=\"%s\">\n      <hostname>", elem,
	    type);
	xml_escape(o, host);
	evbuffer_add_printf(o, "</hostname>\n      <port>%s</port>\n"
	    "      <socketType>%s</socketType>\n"
	    "      <authentication>password-cleartext</authentication>\n"
	    "      <username>%%EMAILADDRESS%%</username>\n    </%s>\n",
	    port, socket, elem);
}

/* domain_of - the domain the client asks about: emailaddress=, else
 * the Host header without "autoconfig." (NULL: not one of ours). */
static const char *
domain_of(struct evhttp_request *req, const struct config *cfg, char *buf,
	  size_t size)
{
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	const char *dom = NULL;

	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
		const char *addr = evhttp_find_header(&q, "emailaddress");
		const char *at = addr ? strrchr(addr, '@') : NULL;
		if (at != NULL && str_copy(buf, size, at + 1) == 0)
			dom = buf;
	}
	evhttp_clear_headers(&q);
	if (u != NULL)
		evhttp_uri_free(u);
	if (dom == NULL) {
		const char *host = evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Host");
		if (host != NULL && strncasecmp(host, "autoconfig.", 11) == 0)
			host += 11;
		if (host != NULL && strlen(host) < size) {
			size_t n = strcspn(host, ":");
			memcpy(buf, host, n);
			buf[n] = '\0';
			dom = buf;
		}
	}
	if (dom != NULL && config_is_local_domain(cfg, dom))
		return dom;
	/* asked by IP or by our host name: the first local domain */
	if (dom == NULL || strcasecmp(dom, cfg->hostname) == 0 ||
	    strspn(dom, "0123456789.:[]") == strlen(dom))
		return cfg->local_domains.v[0];
	return NULL;
}

static void
autoconfig(struct evhttp_request *req, void *arg)
{
	struct config *cfg = config_current();
	char dbuf[256];
	const char *dom;
	struct evbuffer *o;

	if (cfg == NULL)
		return;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		goto out;
	}
	dom = domain_of(req, cfg, dbuf, sizeof(dbuf));
	if (dom == NULL) {
		evhttp_send_error(req, 404, "No such mail domain here");
		goto out;
	}
	o = evbuffer_new();
	if (o == NULL) {
		evhttp_send_error(req, 500, "Out of memory");
		goto out;
	}
	evbuffer_add_printf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<clientConfig version=\"1.1\">\n  <emailProvider id=\"");
	xml_escape(o, dom);
	evbuffer_add_printf(o, "\">\n    <domain>");
	xml_escape(o, dom);
	evbuffer_add_printf(o, "</domain>\n    <displayName>MSSant\xc3\xa9 ");
	xml_escape(o, dom);
	evbuffer_add_printf(o, "</displayName>\n    <displayShortName>");
	xml_escape(o, dom);
	evbuffer_add_printf(o, "</displayShortName>\n");
	/* Implicit TLS first: RFC 8314 prefers it. */
	server(o, "incomingServer", "imap", cfg->hostname,
	    port_of(&cfg->imap_tls_listen), "SSL");
	server(o, "incomingServer", "imap", cfg->hostname,
	    port_of(&cfg->imap_listen), "STARTTLS");
	server(o, "outgoingServer", "smtp", cfg->hostname,
	    port_of(&cfg->smtp_submission_tls_listen), "SSL");
	server(o, "outgoingServer", "smtp", cfg->hostname,
	    port_of(&cfg->smtp_submission_listen), "STARTTLS");
	evbuffer_add_printf(o, "  </emailProvider>\n</clientConfig>\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/xml; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "max-age=3600");
	send_reply(req, HTTP_OK, "OK", o);
	evbuffer_free(o);
out:
	config_unref(&cfg);
}

/* not_found - every path without its own callback: evhttp matches
 * whole paths only, so the directory's records are routed from here. */
static void
not_found(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;

	if (path != NULL && strncmp(path, API_DIRECTORY_PATH "/",
	    sizeof(API_DIRECTORY_PATH)) == 0) {
		api_directory_get(req, arg);
		return;
	}
	evhttp_send_error(req, 404, "Not Found");
}

int
api_attach(struct loop *l, int fd)
{
	unsigned idx = loop_index(l) % MAX_LOOPS;
	struct evhttp *h = evhttp_new(loop_base(l));
	if (h == NULL)
		return ERR_NOMEM;
	evhttp_set_bevcb(h, tls_bev, NULL);
	evhttp_set_max_headers_size(h, API_MAX_HEADERS);
	evhttp_set_max_body_size(h, API_MAX_BODY);
	evhttp_set_timeout(h, 30);
	/* the other methods reach the handlers, which answer 405 (evhttp
	 * itself would say 501, as if HTTP lacked them) */
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_cb(h, "/mail/config-v1.1.xml", autoconfig, NULL);
	evhttp_set_cb(h, "/.well-known/autoconfig/mail/config-v1.1.xml",
	    autoconfig, NULL);
	evhttp_set_cb(h, API_DIRECTORY_PATH, api_directory_search, NULL);
	evhttp_set_cb(h, "/metrics", api_metrics, NULL);
	evhttp_set_gencb(h, not_found, NULL);
	int dfd = dup(fd);
	if (dfd < 0 || evhttp_accept_socket(h, dfd) != 0) {
		if (dfd >= 0)
			close(dfd);
		evhttp_free(h);
		return ERR_IO;
	}
	per_loop[idx] = h;
	return 0;
}

void
api_detach(struct loop *l)
{
	unsigned idx = loop_index(l) % MAX_LOOPS;
	if (per_loop[idx] != NULL) {
		evhttp_free(per_loop[idx]);
		per_loop[idx] = NULL;
	}
}
