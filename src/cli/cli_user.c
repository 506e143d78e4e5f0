/* SPDX-License-Identifier: MIT */
/*
 * cli_user.c - `mssgate user`: accounts and their addresses. Passwords
 * are read from standard input or generated and printed once; they never
 * appear on a command line, where `ps` would show them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <sodium.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/str.h"
#include "smtp/smtp_parse.h"
#include "store/store.h"

/* local_address - syntax, and a domain this gateway serves. */
static int
local_address(struct cli *c, const char *addr)
{
	const char *why;
	if (smtp_addr_check(addr, strlen(addr), true, &why) < 0) {
		cli_error("%s: invalid address (%s)", addr, why + 6);
		return EX_DATAERR;
	}
	if (!config_is_local_domain(c->cfg, smtp_addr_domain(addr))) {
		cli_error("%s: domain %s is not in local_domains", addr,
		    smtp_addr_domain(addr));
		return EX_DATAERR;
	}
	return 0;
}

/* get_password - from stdin (one line) or generated; 1 if generated. */
static int
get_password(bool from_stdin, char *pw, size_t size)
{
	if (!from_stdin)
		return auth_generate_password(pw, size) < 0 ? -1 : 1;
	if (fgets(pw, (int)size, stdin) == NULL) {
		cli_error("no password on standard input");
		return -1;
	}
	size_t n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0) {
		cli_error("empty password");
		return -1;
	}
	if (n < 8) {
		cli_error("password too short (8 characters at least)");
		return -1;
	}
	return 0;
}

static int
user_add(struct cli *c, int argc, char **argv)
{
	struct store_account a;
	bool from_stdin = false;
	char pw[256];

	memset(&a, 0, sizeof(a));
	if (argc < 1)
		return EX_USAGE;
	if (str_copy(a.login, sizeof(a.login), argv[0]) < 0)
		return EX_DATAERR;
	str_lower(a.login);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0) {
			from_stdin = true;
		} else if (strcmp(argv[i], "--alias") == 0 && i + 1 < argc) {
			if (a.n_addr + 1 >= STORE_ACCOUNT_ADDRS) {
				cli_error("too many addresses");
				return EX_DATAERR;
			}
			if (str_copy(a.addr[a.n_addr], STORE_ADDR_MAX,
			    argv[++i]) < 0)
				return EX_DATAERR;
			str_lower(a.addr[a.n_addr]);
			a.n_addr++;
		} else {
			return EX_USAGE;
		}
	}
	if (cli_config(c) == NULL)
		return EX_CONFIG;
	int r = local_address(c, a.login);
	for (size_t i = 0; r == 0 && i < a.n_addr; i++)
		r = local_address(c, a.addr[i]);
	if (r != 0)
		return r;
	int gen = get_password(from_stdin, pw, sizeof(pw));
	if (gen < 0)
		return EX_DATAERR;
	if (auth_hash_password(pw, strlen(pw), a.pwhash) < 0) {
		sodium_memzero(pw, sizeof(pw));
		cli_error("cannot hash the password");
		return EX_SOFTWARE;
	}
	struct store *st = cli_store(c);
	if (st == NULL) {
		sodium_memzero(pw, sizeof(pw));
		return EX_UNAVAILABLE;
	}
	struct store_account_create ac = { &a, 0 };
	r = store_exec(st, store_op_account_create, &ac);
	if (r == ERR_EXISTS) {
		cli_error("%s: an address is already in use", a.login);
	} else if (r < 0) {
		cli_error("%s: %s", a.login, err_str(r));
	} else if (c->json) {
		json_t *o = json_pack("{s:s, s:i}", "login", a.login, "id",
		    (json_int_t)ac.id_r);
		if (gen == 1)
			json_object_set_new(o, "password", json_string(pw));
		cli_json_line(o);
	} else {
		printf("created %s (account %u)\n", a.login, ac.id_r);
		if (gen == 1)
			printf("password: %s\n", pw);
	}
	sodium_memzero(pw, sizeof(pw));
	return cli_exit_code(r);
}

static int
user_passwd(struct cli *c, int argc, char **argv)
{
	struct store_account_change ch = { 0 };
	char pw[256], hash[STORE_PWHASH_MAX];
	bool from_stdin = argc == 2 && strcmp(argv[1], "--password-stdin") == 0;

	if (argc < 1 || (argc == 2 && !from_stdin) || argc > 2)
		return EX_USAGE;
	int gen = get_password(from_stdin, pw, sizeof(pw));
	if (gen < 0)
		return EX_DATAERR;
	int r = auth_hash_password(pw, strlen(pw), hash);
	struct store *st = r == 0 ? cli_store(c) : NULL;
	if (st == NULL) {
		sodium_memzero(pw, sizeof(pw));
		return r < 0 ? EX_SOFTWARE : EX_UNAVAILABLE;
	}
	ch.login = argv[0];
	ch.pwhash = hash;
	r = store_exec(st, store_op_account_set_password, &ch);
	if (r < 0)
		cli_error("%s: %s", argv[0], r == ERR_NOTFOUND ?
		    "no such user" : err_str(r));
	else if (gen == 1)
		printf("password: %s\n", pw);
	else
		printf("password changed for %s\n", argv[0]);
	sodium_memzero(pw, sizeof(pw));
	return cli_exit_code(r);
}

static int
user_simple(struct cli *c, int argc, char **argv, store_op_fn *op,
	    uint8_t state, const char *done)
{
	struct store_account_change ch = { 0 };
	if (argc != 1)
		return EX_USAGE;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	ch.login = argv[0];
	ch.state = state;
	int r = store_exec(st, op, &ch);
	if (r < 0)
		cli_error("%s: %s", argv[0], r == ERR_NOTFOUND ?
		    "no such user" : err_str(r));
	else
		printf("%s %s\n", argv[0], done);
	return cli_exit_code(r);
}

static int
list_cb(const struct store_account *a, void *arg)
{
	struct cli *c = arg;
	if (c->json) {
		json_t *addrs = json_array();
		for (size_t i = 0; i < a->n_addr; i++)
			json_array_append_new(addrs, json_string(a->addr[i]));
		cli_json_line(json_pack("{s:i, s:s, s:s, s:o, s:I}", "id",
		    (json_int_t)a->id, "login", a->login, "state",
		    a->state == STORE_ACCOUNT_ACTIVE ? "active" : "disabled",
		    "addresses", addrs, "created", (json_int_t)a->created));
		return 0;
	}
	printf("%-6u %-40s %-8s", a->id, a->login,
	    a->state == STORE_ACCOUNT_ACTIVE ? "active" : "disabled");
	for (size_t i = 0; i < a->n_addr; i++)
		if (strcmp(a->addr[i], a->login) != 0)
			printf(" %s", a->addr[i]);
	printf("\n");
	return 0;
}

static int
user_list(struct cli *c, int argc, char **argv)
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
			printf("%-6s %-40s %-8s %s\n", "ID", "LOGIN", "STATE",
			    "ALIASES");
		r = store_account_iter(rt, list_cb, c);
		store_read_end(&rt);
	}
	if (r < 0)
		cli_error("%s", err_str(r));
	return cli_exit_code(r);
}

int
cli_user(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return EX_USAGE;
	const char *verb = argv[0];
	argc--;
	argv++;
	if (strcmp(verb, "add") == 0)
		return user_add(c, argc, argv);
	if (strcmp(verb, "passwd") == 0)
		return user_passwd(c, argc, argv);
	if (strcmp(verb, "disable") == 0)
		return user_simple(c, argc, argv,
		    store_op_account_set_state, STORE_ACCOUNT_DISABLED,
		    "disabled");
	if (strcmp(verb, "enable") == 0)
		return user_simple(c, argc, argv,
		    store_op_account_set_state, STORE_ACCOUNT_ACTIVE,
		    "enabled");
	if (strcmp(verb, "del") == 0)
		return user_simple(c, argc, argv, store_op_account_delete, 0,
		    "deleted");
	if (strcmp(verb, "list") == 0)
		return user_list(c, argc, argv);
	return EX_USAGE;
}
