/* SPDX-License-Identifier: MIT */
/*
 * mssgate.c - the administration command: `mssgate [-c FILE] [--json]
 * NOUN VERB [ARGS]`. One table names every command with its usage; each
 * group lives in its own cli_*.c file.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <sodium.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

static const struct {
	const char *noun;
	int (*fn)(struct cli *, int, char **);
	const char *usage;
} commands[] = {
	{ "user", cli_user,
	  "user add ADDRESS [--alias ADDRESS]... [--password-stdin]\n"
	  "  user passwd ADDRESS [--password-stdin]\n"
	  "  user disable|enable|del ADDRESS\n"
	  "  user list" },
	{ "mailbox", cli_mailbox, "mailbox list USER" },
	{ "message", cli_message,
	  "message list USER MAILBOX\n"
	  "  message export USER MAILBOX   (mboxrd; --json: base64 per line)\n"
	  "  message show USER MAILBOX UID" },
	{ "trust", cli_trust,
	  "trust import FILE [--skip-bad]\n"
	  "  trust list\n"
	  "  trust add DOMAIN [--route HOST:PORT]\n"
	  "  trust del DOMAIN" },
	{ "queue", cli_queue,
	  "queue list\n"
	  "  queue show ID\n"
	  "  queue retry ID|--all\n"
	  "  queue hold|release|delete ID" },
	{ "dir", cli_dir,
	  "dir import FILE [--format mss|ps|fhir|json] [--strict] [--rebuild]\n"
	  "  dir search [--name P] [--given P] [--idnat ID] [--rpps N] "
	  "[--address A]\n"
	  "             [--profession C] [--specialty C] [--postcode C] "
	  "[--city P]\n"
	  "             [--org ID] [--limit N] [--offset N]\n"
	  "  dir show ID|KEY|ADDRESS|IDNAT\n"
	  "  dir resolve WHAT\n"
	  "  dir stats\n"
	  "  dir set FILE|-     (JSON records: local ones, or local fields)\n"
	  "  dir del ID|KEY" },
	{ "api-client", cli_apiclient,
	  "api-client add NAME [--scope directory|metrics]\n"
	  "  api-client list\n"
	  "  api-client revoke NAME" },
	{ "cert", cli_cert,
	  "cert ca init [--force]\n"
	  "  cert issue server|client|smime|operator NAME [--cn CN] "
	  "[--dns NAME]...\n"
	  "             [--email ADDR]... [--rpps N] [--key rsa2048|rsa3072|"
	  "p256]\n"
	  "             [--days N] [--passphrase-stdin] [--cert-out FILE] "
	  "[--key-out FILE]\n"
	  "  cert import NAME FILE [--key FILE] [--password-stdin] "
	  "[--email ADDR]\n"
	  "             [--cert-out FILE] [--key-out FILE]\n"
	  "  cert export NAME FILE.p12 [--password-stdin]\n"
	  "  cert list | show NAME | del NAME\n"
	  "  cert verify FILE [--purpose tls-server|tls-client|smime] "
	  "[--password-stdin]\n"
	  "  cert revoke NAME|SERIAL [--reason R] | crl [--out FILE]\n"
	  "  cert crl import FILE\n"
	  "  cert trust add FILE | remove SUBJECT-HASH|NAME | list\n"
	  "  cert reload" },
	{ "check-config", cli_check_config, "check-config" },
	{ "config", cli_config_cmd, "config show [--changed]" },
};

static void
help(FILE *out)
{
	fprintf(out, "usage: mssgate [-c FILE] [--json] COMMAND ...\n\n"
	    "Options:\n"
	    "  -c FILE   configuration file (default: the embedded "
	    "development one)\n"
	    "  --json    print lists as one JSON object per line\n\n"
	    "Commands:\n  help\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("mssgate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_exit_code(int err)
{
	switch (err) {
	case 0: return 0;
	case ERR_NOTFOUND: return EX_NOUSER;
	case ERR_EXISTS: return EX_CANTCREAT;
	case ERR_INVAL:
	case ERR_PROTO: return EX_DATAERR;
	case ERR_TEMP:
	case ERR_STORE_FULL: return EX_TEMPFAIL;
	case ERR_IO: return EX_IOERR;
	case ERR_PERM: return EX_NOPERM;
	default: return EX_SOFTWARE;
	}
}

struct config *
cli_config(struct cli *c)
{
	char err[CONFIG_ERR_MAX];
	if (c->cfg != NULL)
		return c->cfg;
	if (config_load(c->config_path, &c->cfg, err) < 0) {
		cli_error("%s", err);
		return NULL;
	}
	return c->cfg;
}

struct store *
cli_store(struct cli *c)
{
	const char *e;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return NULL;
	if (c->st != NULL)
		return c->st;
	struct store_opts so;
	store_opts_from_config(cfg, &so);
	if (store_open(&so, &c->st, &e) < 0) {
		cli_error("%s", e);
		return NULL;
	}
	return c->st;
}

void
cli_json_line(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(obj);
}

int
main(int argc, char **argv)
{
	struct cli c = { 0 };
	int i = 1;

	if (sodium_init() < 0) {
		cli_error("libsodium failed to initialise");
		return EX_SOFTWARE;
	}
	log_init(LOG_TARGET_STDERR, "mssgate", LOG_WARNING);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			c.config_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			c.json = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			help(stdout);
			return 0;
		} else {
			cli_error("unknown option %s", argv[i]);
			help(stderr);
			return EX_USAGE;
		}
	}
	if (i == argc) {
		help(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		help(stdout);
		return 0;
	}
	int rc = -1;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(argv[i], commands[k].noun) == 0) {
			rc = commands[k].fn(&c, argc - i - 1, argv + i + 1);
			if (rc == EX_USAGE)
				fprintf(stderr, "usage: mssgate %s\n",
				    commands[k].usage);
			break;
		}
	}
	if (rc < 0) {
		cli_error("unknown command '%s'", argv[i]);
		help(stderr);
		rc = EX_USAGE;
	}
	store_close(&c.st);
	config_unref(&c.cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("write error on standard output");
		if (rc == 0)
			rc = EX_IOERR;
	}
	return rc;
}
