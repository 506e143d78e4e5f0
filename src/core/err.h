/* SPDX-License-Identifier: MIT */
/*
 * err.h - the error codes every module returns.
 * Functions return 0 (or a positive count / "found" flag where documented)
 * on success and one of these negative codes on failure; a human reason,
 * when there is one, travels separately through a `const char **error_r`.
 */
#ifndef MSS_CORE_ERR_H
#define MSS_CORE_ERR_H

enum mss_err {
	ERR_OK = 0,
	ERR_NOMEM = -1,		/* allocation failed */
	ERR_LIMIT = -2,		/* a configured or hard size limit was hit */
	ERR_PROTO = -3,		/* the peer or the input broke the syntax */
	ERR_IO = -4,		/* read, write, fsync or close failed */
	ERR_TEMP = -5,		/* temporary condition: try again later */
	ERR_NOTFOUND = -6,	/* the key or object does not exist */
	ERR_EXISTS = -7,	/* the key or object already exists */
	ERR_STORE_FULL = -8,	/* LMDB map or reader table full */
	ERR_INVAL = -9,		/* invalid argument or value */
	ERR_CRYPTO = -10,	/* authentication tag, key or cipher failure */
	ERR_AUTH = -11,		/* credentials refused */
	ERR_PERM = -12,		/* not allowed for this user or state */
	ERR_CORRUPT = -13,	/* stored data does not decode */
	ERR_VERSION = -14,	/* stored format version not supported */
	ERR_SHUTDOWN = -15,	/* the component is stopping */
};

/* err_str - a short constant text for an error code, never NULL. */
const char *err_str(int err);

#endif
