/* SPDX-License-Identifier: MIT */
/* cli_cert.c - placeholder (being written). */
#include "cli/cli.h"
#include <sysexits.h>
int cli_cert(struct cli *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return EX_USAGE; }
