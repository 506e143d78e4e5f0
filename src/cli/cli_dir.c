/* SPDX-License-Identifier: MIT */
/*
 * cli_dir.c - placeholder (being written).
 */
#include "cli/cli.h"
#include <sysexits.h>
int cli_dir(struct cli *c, int argc, char **argv) { (void)c; (void)argc; (void)argv; return EX_USAGE; }
