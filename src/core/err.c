/* SPDX-License-Identifier: MIT */
/* err.c - texts for the error codes of err.h. */
#include "err.h"

const char *
err_str(int err)
{
	switch (err) {
	case ERR_OK: return "success";
	case ERR_NOMEM: return "out of memory";
	case ERR_LIMIT: return "limit exceeded";
	case ERR_PROTO: return "protocol or syntax error";
	case ERR_IO: return "input/output error";
	case ERR_TEMP: return "temporary failure";
	case ERR_NOTFOUND: return "not found";
	case ERR_EXISTS: return "already exists";
	case ERR_STORE_FULL: return "store full";
	case ERR_INVAL: return "invalid value";
	case ERR_CRYPTO: return "cryptographic failure";
	case ERR_AUTH: return "authentication failed";
	case ERR_PERM: return "not permitted";
	case ERR_CORRUPT: return "corrupt data";
	case ERR_VERSION: return "unsupported version";
	case ERR_SHUTDOWN: return "shutting down";
	}
	return "unknown error";
}
