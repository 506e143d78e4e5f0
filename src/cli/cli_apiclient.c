/* SPDX-License-Identifier: MIT */
/*
 * cli_apiclient.c - `mssgate api-client`: the clients of the HTTPS API.
 * `add` makes a client and prints its bearer token, the only time anyone
 * sees it (the store keeps a keyed hash); `list` never shows a token nor
 * its hash, only its last characters to tell tokens apart; `revoke`
 * deletes the client, and its token stops working at the next request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <sodium.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/str.h"
#include "store/store.h"
#include "store/store_api.h"

/* check_name - a client name from the command line; prints why not. */
static int
check_name(const char *name)
{
	if (store_api_name_valid(name))
		return 0;
	cli_error("'%s': not a client name (1 to 64 of a-z 0-9 . _ -)", name);
	return EX_DATAERR;
}

/* scopes_json - the space-separated list as a JSON array. */
static json_t *
scopes_json(const char *list)
{
	json_t *a = json_array();
	const char *p = list;

	while (a != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");
		if (n > 0 && json_array_append_new(a,
		    json_stringn(p, n)) != 0) {
			json_decref(a);
			return NULL;
		}
		p += n;
		p += strspn(p, " ");
	}
	return a;
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
apiclient_add(struct cli *c, int argc, char **argv)
{
	struct store_api_client_op op;
	char scopes[API_SCOPES_MAX];
	size_t len = 0;
	const char *name = NULL;
	int r;

	scopes[0] = '\0';
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc) {
			const char *s = argv[++i];
			if (!store_api_scope_known(s)) {
				cli_error("'%s': unknown scope (known: %s)", s,
				    API_SCOPES_KNOWN);
				return EX_DATAERR;
			}
			if (str_fmt(scopes + len, sizeof(scopes) - len,
			    "%s%s", len ? " " : "", s) < 0)
				return EX_USAGE;
			len += strlen(scopes + len);
		} else if (strcmp(argv[i], "--json") == 0) {
			c->json = true;
		} else if (argv[i][0] != '-' && name == NULL) {
			name = argv[i];
		} else {
			return EX_USAGE;
		}
	}
	if (name == NULL)
		return EX_USAGE;
	if ((r = check_name(name)) != 0)
		return r;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	memset(&op, 0, sizeof(op));
	op.name = name;
	op.scopes = len > 0 ? scopes : API_SCOPE_DIRECTORY;
	op.now = (int64_t)time(NULL);
	r = store_exec(st, store_op_api_client_add, &op);
	if (r == ERR_EXISTS) {
		cli_error("%s: an API client of that name exists", name);
		return EX_CANTCREAT;
	}
	if (r < 0) {
		cli_error("%s: %s", name, err_str(r));
		return cli_exit_code(r);
	}
	if (c->json) {
		json_t *obj = json_pack("{s:s, s:s, s:o, s:I}", "name",
		    op.client_r.name, "token", op.token_r, "scopes",
		    scopes_json(op.client_r.scopes), "created",
		    (json_int_t)op.client_r.created);
		if (obj == NULL) {
			sodium_memzero(op.token_r, sizeof(op.token_r));
			cli_error("%s: out of memory; revoke it and add it "
			    "again", name);
			return EX_OSERR;
		}
		cli_json_line(obj);
	} else {
		printf("added %s (scopes: %s)\ntoken %s\n", op.client_r.name,
		    op.client_r.scopes, op.token_r);
		fprintf(stderr, "mssgate: the token is shown only now and "
		    "cannot be found again: keep it secret\n");
	}
	sodium_memzero(op.token_r, sizeof(op.token_r));
	if (fflush(stdout) != 0) {
		cli_error("cannot write the token: %s", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

static int
list_cb(const struct store_api_client *a, void *arg)
{
	const struct cli *c = arg;
	char created[32];

	if (c->json) {
		cli_json_line(json_pack("{s:s, s:o, s:I, s:s+}", "name",
		    a->name, "scopes", scopes_json(a->scopes), "created",
		    (json_int_t)a->created, "token_hint", "...", a->hint));
		return 0;
	}
	format_time(a->created, created, sizeof(created));
	printf("%-32s %-16s %-20s ...%s\n", a->name, a->scopes, created,
	    a->hint);
	return 0;
}

static int
apiclient_list(struct cli *c, int argc, char **argv)
{
	struct store_rtxn *rt;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return EX_USAGE;
		c->json = true;
	}
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		if (!c->json)
			printf("%-32s %-16s %-20s %s\n", "NAME", "SCOPES",
			    "CREATED", "TOKEN");
		r = store_api_client_list(rt, list_cb, c);
		store_read_end(&rt);
	}
	if (r < 0)
		cli_error("%s", err_str(r));
	return cli_exit_code(r);
}

static int
apiclient_revoke(struct cli *c, int argc, char **argv)
{
	struct store_api_client_op op;
	const char *name = NULL;
	int r;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else
			return EX_USAGE;
	}
	if (name == NULL)
		return EX_USAGE;
	if ((r = check_name(name)) != 0)
		return r;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	memset(&op, 0, sizeof(op));
	op.name = name;
	r = store_exec(st, store_op_api_client_revoke, &op);
	if (r == ERR_NOTFOUND) {
		cli_error("%s: no such API client", name);
		return EX_NOUSER;
	}
	if (r < 0) {
		cli_error("%s: %s", name, err_str(r));
		return cli_exit_code(r);
	}
	if (c->json)
		cli_json_line(json_pack("{s:s, s:b}", "name", name, "revoked",
		    1));
	else
		printf("revoked %s\n", name);
	return 0;
}

int
cli_apiclient(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return EX_USAGE;
	const char *verb = argv[0];
	argc--;
	argv++;
	if (strcmp(verb, "add") == 0)
		return apiclient_add(c, argc, argv);
	if (strcmp(verb, "list") == 0)
		return apiclient_list(c, argc, argv);
	if (strcmp(verb, "revoke") == 0)
		return apiclient_revoke(c, argc, argv);
	return EX_USAGE;
}
