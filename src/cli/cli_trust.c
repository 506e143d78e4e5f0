/* SPDX-License-Identifier: MIT */
/*
 * cli_trust.c - `mssgate trust`: the domains of the MSSanté trust space.
 * `import` replaces the imported entries with those of the ANS white-list
 * file in one transaction, or changes nothing (a file that does not load
 * never reaches the store); entries added here by an administrator are
 * never removed by an import. Names are stored as lower-case A-labels.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/str.h"
#include "relay/trust.h"
#include "store/store.h"

#define TRUST_ERR_MAX 1024

/* load_exit - the exit code for a white list that did not load. */
static int
load_exit(int err)
{
	switch (err) {
	case ERR_IO: return EX_NOINPUT;
	case ERR_NOMEM: return EX_OSERR;
	default: return EX_DATAERR;
	}
}

static int
trust_import(struct cli *c, int argc, char **argv)
{
	struct store_trust_op op = { 0 };
	struct store_trust *list;
	char err[TRUST_ERR_MAX];
	const char *path = NULL;
	bool skip_bad = false;
	size_t n, n_bad;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--skip-bad") == 0)
			skip_bad = true;
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else
			return EX_USAGE;
	}
	if (path == NULL)
		return EX_USAGE;
	/* load and check the whole file before the store is even opened */
	int r = trust_xml_load(path, (int64_t)time(NULL), skip_bad, &list, &n,
	    &n_bad, err, sizeof(err));
	if (r < 0) {
		cli_error("%s; nothing imported", err);
		return load_exit(r);
	}
	struct store *st = cli_store(c);
	if (st == NULL) {
		free(list);
		return EX_UNAVAILABLE;
	}
	op.list = list;
	op.n = n;
	r = store_exec(st, store_op_trust_import, &op);
	free(list);
	if (r < 0) {
		cli_error("%s: %s; nothing imported", path, err_str(r));
		return cli_exit_code(r);
	}
	if (c->json) {
		cli_json_line(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}",
		    "file", path, "domains", (json_int_t)n, "added",
		    (json_int_t)op.added_r, "removed", (json_int_t)op.removed_r,
		    "kept", (json_int_t)op.kept_r, "skipped",
		    (json_int_t)n_bad));
		return 0;
	}
	printf("added %zu, removed %zu, kept %zu\n", op.added_r,
	    op.removed_r, op.kept_r);
	if (skip_bad)
		printf("skipped %zu bad names\n", n_bad);
	return 0;
}

static void
format_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%lld", (long long)t);
}

static int
list_cb(const struct store_trust *t, void *arg)
{
	struct cli *c = arg;
	char added[32];

	if (c->json) {
		cli_json_line(json_pack("{s:s, s:s, s:s, s:I}", "domain",
		    t->domain, "route", t->route, "source", t->source, "added",
		    (json_int_t)t->added));
		return 0;
	}
	format_time(t->added, added, sizeof(added));
	printf("%-40s %-24s %-7s %s\n", t->domain,
	    t->route[0] != '\0' ? t->route : "-", t->source, added);
	return 0;
}

static int
trust_list(struct cli *c, int argc, char **argv)
{
	struct store_rtxn *rt;

	if (argc != 0)
		return EX_USAGE;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		if (!c->json)
			printf("%-40s %-24s %-7s %s\n", "DOMAIN", "ROUTE",
			    "SOURCE", "ADDED");
		r = store_trust_iter(rt, list_cb, c);
		store_read_end(&rt);
	}
	if (r < 0)
		cli_error("%s", err_str(r));
	return cli_exit_code(r);
}

/* normalize - a domain from the command line as stored; prints why not. */
static int
normalize(const char *in, char *out, size_t size)
{
	const char *why;

	if (trust_domain_normalize(in, out, size, &why) < 0) {
		cli_error("'%s': not a domain name (%s)", in, why);
		return EX_DATAERR;
	}
	return 0;
}

/*
 * parse_route - "HOST:PORT" with HOST a domain name (stored as A-labels),
 * an IPv4 address or a bracketed IPv6 address (both stored in canonical
 * form), PORT 1 to 65535, into out[size].
 */
static int
parse_route(const char *in, char *out, size_t size)
{
	char host[STORE_HOST_MAX], name[STORE_HOST_MAX];
	unsigned char addr[16];
	const char *colon = strrchr(in, ':'), *why = "bad address";
	uint64_t port;
	int r;

	if (colon == NULL || colon == in ||
	    str_to_u64(colon + 1, 1, 65535, &port) < 0) {
		cli_error("route '%s': expected HOST:PORT, port 1 to 65535",
		    in);
		return EX_DATAERR;
	}
	size_t hlen = (size_t)(colon - in);
	if (in[0] == '[') {
		if (hlen < 3 || in[hlen - 1] != ']' ||
		    str_copyn(host, sizeof(host), in + 1, hlen - 2) < 0 ||
		    inet_pton(AF_INET6, host, addr) != 1 ||
		    inet_ntop(AF_INET6, addr, name, sizeof(name)) == NULL)
			goto bad_host;
		r = str_fmt(out, size, "[%s]:%u", name, (unsigned)port);
	} else if (str_copyn(host, sizeof(host), in, hlen) < 0) {
		why = "name too long";
		goto bad_host;
	} else if (inet_pton(AF_INET, host, addr) == 1) {
		if (inet_ntop(AF_INET, addr, name, sizeof(name)) == NULL)
			goto bad_host;
		r = str_fmt(out, size, "%s:%u", name, (unsigned)port);
	} else if (trust_domain_normalize(host, name, sizeof(name),
	    &why) < 0) {
		goto bad_host;
	} else {
		r = str_fmt(out, size, "%s:%u", name, (unsigned)port);
	}
	if (r < 0) {
		cli_error("route '%s': too long", in);
		return EX_DATAERR;
	}
	return 0;
bad_host:
	cli_error("route '%s': bad host (%s)", in, why);
	return EX_DATAERR;
}

static int
trust_add(struct cli *c, int argc, char **argv)
{
	struct store_trust t;
	struct store_trust_op op = { 0 };
	const char *route = NULL;
	int r;

	memset(&t, 0, sizeof(t));
	if (argc == 3 && strcmp(argv[1], "--route") == 0)
		route = argv[2];
	else if (argc != 1)
		return EX_USAGE;
	if ((r = normalize(argv[0], t.domain, sizeof(t.domain))) != 0)
		return r;
	if (route != NULL &&
	    (r = parse_route(route, t.route, sizeof(t.route))) != 0)
		return r;
	memcpy(t.source, "admin", sizeof("admin"));
	t.added = (int64_t)time(NULL);
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	op.t = &t;
	r = store_exec(st, store_op_trust_set, &op);
	if (r < 0) {
		cli_error("%s: %s", t.domain, err_str(r));
		return cli_exit_code(r);
	}
	if (c->json)
		cli_json_line(json_pack("{s:s, s:s, s:s, s:I}", "domain",
		    t.domain, "route", t.route, "source", t.source, "added",
		    (json_int_t)t.added));
	else if (t.route[0] != '\0')
		printf("added %s (route %s)\n", t.domain, t.route);
	else
		printf("added %s\n", t.domain);
	return 0;
}

static int
trust_del(struct cli *c, int argc, char **argv)
{
	struct store_trust_op op = { 0 };
	char domain[STORE_HOST_MAX];
	int r;

	if (argc != 1)
		return EX_USAGE;
	if ((r = normalize(argv[0], domain, sizeof(domain))) != 0)
		return r;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	op.domain = domain;
	r = store_exec(st, store_op_trust_del, &op);
	if (r == ERR_NOTFOUND) {
		cli_error("%s: not in the trust list", domain);
		return EX_NOUSER;
	}
	if (r < 0) {
		cli_error("%s: %s", domain, err_str(r));
		return cli_exit_code(r);
	}
	if (c->json)
		cli_json_line(json_pack("{s:s, s:b}", "domain", domain,
		    "deleted", 1));
	else
		printf("deleted %s\n", domain);
	return 0;
}

int
cli_trust(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return EX_USAGE;
	const char *verb = argv[0];
	argc--;
	argv++;
	if (strcmp(verb, "import") == 0)
		return trust_import(c, argc, argv);
	if (strcmp(verb, "list") == 0)
		return trust_list(c, argc, argv);
	if (strcmp(verb, "add") == 0)
		return trust_add(c, argc, argv);
	if (strcmp(verb, "del") == 0)
		return trust_del(c, argc, argv);
	return EX_USAGE;
}
