/* SPDX-License-Identifier: MIT */
/* cli_trust.c - placeholder, being written: `mssgate trust`. */
#include <sysexits.h>

#include "cli/cli.h"

int
cli_trust(struct cli *c, int argc, char **argv)
{
	cli_error("trust: not implemented yet");
	return EX_SOFTWARE;
}
