/* SPDX-License-Identifier: MIT */
/*
 * cli_config.c - `mssgate check-config` and `mssgate config show`:
 * validate a configuration with the daemon's own parser and key loaders,
 * and print the effective settings.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>

#include <openssl/ssl.h>

#include "cli/cli.h"
#include "core/config.h"
#include "pki/pki.h"

int
cli_check_config(struct cli *c, int argc, char **argv)
{
	struct stat sb;
	if (argc != 0)
		return EX_USAGE;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	bool dev_pending = cfg->tls_dev_ca &&
	    stat(cfg->tls_cert_file, &sb) != 0 &&
	    stat(cfg->tls_key_file, &sb) != 0;
	if (!dev_pending) {
		char err[PKI_ERR_MAX];
		if (pki_tls_load_all(cfg, err, sizeof(err)) < 0) {
			cli_error("TLS: %s", err);
			return EX_CONFIG;
		}
		for (int k = 0; k < PKI_CTX_COUNT; k++)
			pki_tls_set((enum pki_ctx_kind)k, NULL);
	}
	printf("configuration %s is valid%s\n", cfg->source, dev_pending ?
	    " (the development certificate will be created at start)" : "");
	return 0;
}

int
cli_config_cmd(struct cli *c, int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "show") != 0 || argc > 2 ||
	    (argc == 2 && strcmp(argv[1], "--changed") != 0))
		return EX_USAGE;
	struct config *cfg = cli_config(c);
	if (cfg == NULL)
		return EX_CONFIG;
	config_dump(cfg, stdout, argc == 2);
	return 0;
}
