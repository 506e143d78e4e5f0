/* SPDX-License-Identifier: MIT */
/* dsn.c - placeholder, being written: RFC 3464 reports. */
#include "dsn.h"

#include "core/err.h"

int
dsn_build(const struct dsn_report *r, struct buf *out)
{
	return ERR_INVAL;
}

int
dsn_xtext_decode(const char *in, size_t len, char *out, size_t size)
{
	return ERR_INVAL;
}

int
dsn_xtext_encode(const char *in, struct buf *out)
{
	return ERR_INVAL;
}
