/* SPDX-License-Identifier: MIT */
/* trust_idna.c - placeholder, being written: domain name normalization. */
#include "trust.h"

#include "core/err.h"

int
trust_domain_normalize(const char *in, char *out, size_t size,
		       const char **why)
{
	*why = "not implemented yet";
	return ERR_INVAL;
}
