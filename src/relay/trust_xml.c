/* SPDX-License-Identifier: MIT */
/* trust_xml.c - placeholder, being written: the white-list XML reader. */
#include "trust.h"

#include <stdio.h>

#include "core/err.h"

int
trust_xml_load(const char *path, int64_t now, bool skip_bad,
	       struct store_trust **list_r, size_t *n_r, size_t *n_bad_r,
	       char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: not implemented yet", path);
	return ERR_INVAL;
}
