/* SPDX-License-Identifier: MIT */
/*
 * relay_route.c - where a domain's mail goes, and which trust-space
 * domain a peer's certificate stands for. A static route in the
 * configuration wins over the route of the trust-space entry, which wins
 * over DNS: MX records by preference (RFC 5321 5.1), the domain itself
 * when it has none, nothing for a null MX (RFC 7505). Blocking calls:
 * run on a worker thread, never on an event loop.
 */
#include "relay.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/str.h"

#define MX_MAX 16

/* split_hostport - "host:port" or "[v6]:port" into host and port. */
static int
split_hostport(const char *hp, char *host, size_t hsize, char *port,
	       size_t psize)
{
	const char *colon = strrchr(hp, ':');
	if (colon == NULL || colon == hp)
		return ERR_INVAL;
	const char *h = hp;
	size_t hlen = (size_t)(colon - hp);
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']')
			return ERR_INVAL;
		h++;
		hlen -= 2;
	}
	if (str_copyn(host, hsize, h, hlen) < 0 ||
	    str_copy(port, psize, colon + 1) < 0)
		return ERR_INVAL;
	return 0;
}

/* add_host - the addresses of host:port as targets checked for name. */
static int
add_host(struct relay_route *rt, const char *name, const char *host,
	 const char *port)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		str_fmt(rt->error, sizeof(rt->error), "Host or domain name "
		    "not found. Name service error for name=%s type=A: %s",
		    host, gai_strerror(e));
		return e == EAI_NONAME ? ERR_NOTFOUND : ERR_TEMP;
	}
	for (struct addrinfo *ai = res; ai != NULL && rt->n <
	    RELAY_TARGETS_MAX; ai = ai->ai_next) {
		struct relay_target *t = &rt->t[rt->n];
		if (ai->ai_addrlen > sizeof(t->addr))
			continue;
		memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
		t->addr_len = ai->ai_addrlen;
		str_copy(t->host, sizeof(t->host), name);
		char a[INET6_ADDRSTRLEN] = "?";
		const void *src = ai->ai_family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->
		    sin6_addr : (const void *)&((struct sockaddr_in *)
		    ai->ai_addr)->sin_addr;
		if (inet_ntop(ai->ai_family, src, a, sizeof(a)) == NULL)
			str_copy(a, sizeof(a), "?");
		str_fmt(t->addr_str, sizeof(t->addr_str), "%s[%s]:%s", name,
		    a, port);
		rt->n++;
	}
	freeaddrinfo(res);
	return 0;
}

static int
static_route(struct relay_route *rt, const char *hp, const char *how)
{
	char host[256], port[8];
	str_copy(rt->how, sizeof(rt->how), how);
	if (split_hostport(hp, host, sizeof(host), port, sizeof(port)) < 0) {
		str_fmt(rt->error, sizeof(rt->error), "bad %s route '%s'",
		    how, hp);
		return 0;
	}
	(void)add_host(rt, host, host, port);
	return 0;
}

struct mx {
	unsigned pref;
	unsigned rnd;
	char name[NS_MAXDNAME];
};

static int
mx_cmp(const void *a, const void *b)
{
	const struct mx *x = a, *y = b;
	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->rnd < y->rnd ? -1 : x->rnd > y->rnd;
}

/* mx_route - MX lookup; 1 when the domain has MX records (routed or
 * null), 0 when it has none (use its address), <0 on a failure set in
 * rt. */
static int
mx_route(struct relay_route *rt, const char *domain)
{
	unsigned char ans[8192];
	struct __res_state rs;
	struct mx mx[MX_MAX];
	size_t n = 0;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0) {
		str_fmt(rt->error, sizeof(rt->error), "cannot initialize the "
		    "DNS resolver");
		return ERR_TEMP;
	}
	int len = res_nquery(&rs, domain, ns_c_in, ns_t_mx, ans,
	    sizeof(ans));
	int herr = rs.res_h_errno;
	res_nclose(&rs);
	if (len < 0) {
		if (herr == NO_DATA)
			return 0;
		str_fmt(rt->error, sizeof(rt->error), "Host or domain name "
		    "not found. Name service error for name=%s type=MX: %s",
		    domain, herr == HOST_NOT_FOUND ? "Host not found" :
		    "Host not found, try again");
		if (herr == HOST_NOT_FOUND) {
			rt->permanent = true;
			return ERR_NOTFOUND;
		}
		return ERR_TEMP;
	}
	ns_msg msg;
	if (ns_initparse(ans, len, &msg) < 0) {
		str_fmt(rt->error, sizeof(rt->error), "malformed DNS answer "
		    "for name=%s type=MX", domain);
		return ERR_TEMP;
	}
	int count = ns_msg_count(msg, ns_s_an);
	for (int i = 0; i < count && n < MX_MAX; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 ||
		    ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
			continue;
		const unsigned char *rd = ns_rr_rdata(rr);
		mx[n].pref = ns_get16(rd);
		mx[n].rnd = randombytes_random();
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 2,
		    mx[n].name, sizeof(mx[n].name)) < 0)
			continue;
		n++;
	}
	if (n == 0)
		return 0;
	if (n == 1 && mx[0].name[0] == '\0') {
		str_fmt(rt->error, sizeof(rt->error), "domain %s does not "
		    "accept mail (null MX)", domain);
		rt->permanent = true;
		return ERR_NOTFOUND;
	}
	qsort(mx, n, sizeof(mx[0]), mx_cmp);
	str_copy(rt->how, sizeof(rt->how), "mx");
	for (size_t i = 0; i < n; i++)
		if (mx[i].name[0] != '\0')
			(void)add_host(rt, mx[i].name, mx[i].name, "25");
	return 1;
}

int
relay_route_resolve(const struct config *cfg, struct store *st,
		    const char *domain, struct relay_route *out)
{
	memset(out, 0, sizeof(*out));
	size_t dlen = strlen(domain);
	struct store_rtxn *rt;
	struct store_trust t;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_trust_get(rt, domain, &t);
		store_read_end(&rt);
	}
	if (r < 0) {
		str_fmt(out->error, sizeof(out->error), "cannot read the "
		    "trust space: %s", err_str(r));
		return 0;
	}
	/* Submission checked it; an administrator may have removed the
	 * domain since, and then nothing more goes there. */
	if (r == 0) {
		str_fmt(out->error, sizeof(out->error), "domain %s is no "
		    "longer in the MSSante trust space", domain);
		out->permanent = true;
		str_copy(out->status, sizeof(out->status), "5.7.1");
		return 0;
	}
	for (size_t i = 0; i < cfg->relay_routes.n; i++) {
		const char *cr = cfg->relay_routes.v[i];
		const char *eq = strchr(cr, '=');
		if (eq != NULL && (size_t)(eq - cr) == dlen &&
		    strncasecmp(cr, domain, dlen) == 0)
			return static_route(out, eq + 1, "config");
	}
	if (r == 1 && t.route[0] != '\0')
		return static_route(out, t.route, "trust");
	r = mx_route(out, domain);
	if (r != 0)
		return 0;
	str_copy(out->how, sizeof(out->how), "a");
	(void)add_host(out, domain, domain, "25");
	return 0;
}

int
relay_trusted_name(struct store_rtxn *rt, const char *name, char *out,
		   size_t size)
{
	struct store_trust t;
	const char *p = name;

	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	while (*p != '\0') {
		int r = store_trust_get(rt, p, &t);
		if (r < 0)
			return r;
		if (r == 1)
			return str_copy(out, size, t.domain) < 0 ? 0 : 1;
		const char *dot = strchr(p, '.');
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	return 0;
}
