/* SPDX-License-Identifier: MIT */
/*
 * smtp_parse.h - SMTP command-line and address parsing, shared by the
 * server and (later) the relay client. Pure functions over a line that has
 * already been cut at CRLF: no I/O, no allocation, every output bounded.
 */
#ifndef MSS_SMTP_PARSE_H
#define MSS_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define SMTP_PATH_MAX 256	/* RFC 5321 4.5.3.1.3, with NUL */
#define SMTP_LOCAL_MAX 64	/* 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255	/* 4.5.3.1.2 */
#define SMTP_PARAMS_MAX 16

enum smtp_cmd {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_HELP,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
};

/*
 * smtp_parse_verb - identify the command of line[len] (no CRLF) and point
 * args at what follows the verb and one space (empty when none).
 * MAIL and RCPT are recognized with their "FROM:"/"TO:" part left in args.
 */
enum smtp_cmd smtp_parse_verb(const char *line, size_t len,
			      struct strv *args);

struct smtp_param {
	struct strv key;
	struct strv value;	/* p == NULL when the parameter has no '=' */
};

struct smtp_path {
	char addr[SMTP_PATH_MAX];	/* "" for the null path <> */
	bool is_null;
	bool is_utf8;			/* has non-ASCII octets */
	size_t n_params;
	struct smtp_param params[SMTP_PARAMS_MAX];
};

/*
 * smtp_parse_path - parse "FROM:<path> params" (prefix "FROM:") or
 * "TO:<path> params". Tolerates one space after the colon and a source
 * route (ignored). Returns 0 or ERR_PROTO with *error_r set to a reply
 * text; parameter slices point into args.
 */
int smtp_parse_path(struct strv args, const char *prefix,
		    struct smtp_path *out, const char **error_r);

/*
 * smtp_addr_check - whole-address syntax of RFC 5321 (Dot-string or
 * Quoted-string local part, domain or address literal), lengths included.
 * Non-ASCII octets are accepted only when utf8 is set, and must be UTF-8.
 */
int smtp_addr_check(const char *addr, size_t len, bool utf8,
		    const char **error_r);

/* smtp_addr_domain - the part after the last '@' (empty if none). */
const char *smtp_addr_domain(const char *addr);

/* smtp_param_is - case-insensitive parameter name test. */
bool smtp_param_is(const struct smtp_param *p, const char *name);

/* smtp_parse_bdat - "size [LAST]"; size must fit in 63 bits. */
int smtp_parse_bdat(struct strv args, uint64_t *size, bool *last);

#endif
