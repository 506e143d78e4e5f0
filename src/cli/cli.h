/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the mssgate command groups share: the parsed global
 * options, the configuration and store they open on demand, and one
 * printer for human tables and JSON lines. Exit codes are sysexits.h.
 */
#ifndef MSS_CLI_H
#define MSS_CLI_H

#include <stdbool.h>

#include <jansson.h>

struct config;
struct store;

struct cli {
	const char *config_path;
	bool json;
	struct config *cfg;
	struct store *st;
};

/* cli_config / cli_store - load on first use; on failure print the
 * reason and return NULL (the caller exits with cli_exit_code). */
struct config *cli_config(struct cli *c);
struct store *cli_store(struct cli *c);
int cli_exit_code(int err);

/* cli_json_line - print obj as one line and release it. */
void cli_json_line(json_t *obj);

/* cli_error - "mssgate: ..." on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Command groups: argc/argv start after the noun. */
int cli_user(struct cli *c, int argc, char **argv);
int cli_mailbox(struct cli *c, int argc, char **argv);
int cli_message(struct cli *c, int argc, char **argv);
int cli_check_config(struct cli *c, int argc, char **argv);
int cli_config_cmd(struct cli *c, int argc, char **argv);
int cli_trust(struct cli *c, int argc, char **argv);
int cli_queue(struct cli *c, int argc, char **argv);
int cli_dir(struct cli *c, int argc, char **argv);
int cli_apiclient(struct cli *c, int argc, char **argv);
int cli_cert(struct cli *c, int argc, char **argv);

#endif
