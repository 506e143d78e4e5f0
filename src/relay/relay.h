/* SPDX-License-Identifier: MIT */
/*
 * relay.h - mail to other operators: the outbound SMTP client (one
 * connection, STARTTLS mandatory, the peer's certificate verified, ours
 * presented, several messages in turn, PIPELINING and CHUNKING when
 * offered, a result per recipient), where a domain's mail goes (static
 * routes, the trust space, DNS), and whether a peer's certificate names a
 * trust-space domain.
 */
#ifndef MSS_RELAY_H
#define MSS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store/store.h"

struct config;
struct event_base;
struct store_rtxn;

/* ---- the SMTP reply grammar (RFC 5321 4.2), shared with the fuzzer ---- */

#define RELAY_REPLY_LINE_MAX 2048	/* longer is a broken peer */
#define RELAY_REPLY_LINES_MAX 128
#define RELAY_REPLY_TEXT_MAX 1024	/* kept of a reply, for reports */

struct relay_reply {
	int code;			/* 0 until the first line */
	size_t n_lines;
	bool done;
	char text[RELAY_REPLY_TEXT_MAX];	/* lines joined by ' ' */
	size_t text_len;
	/* EHLO keywords, as lines come (only read after EHLO) */
	char lines[RELAY_REPLY_LINES_MAX][64];
};

void relay_reply_init(struct relay_reply *r);
/*
 * relay_reply_line - one reply line without its CRLF. Returns 1 when
 * the reply is complete, 0 when more lines follow, ERR_PROTO when the
 * line is not a reply line (bad code, code changed between lines, too
 * long, too many lines).
 */
int relay_reply_line(struct relay_reply *r, const char *line, size_t len);
/* relay_reply_status - the enhanced status code of a complete reply
 * ("5.1.1"), or one derived from its class ("4.0.0"). */
void relay_reply_status(const struct relay_reply *r, char *out,
			size_t size);

/* ---- where mail for a domain goes ---- */

#define RELAY_TARGETS_MAX 16

struct relay_target {
	char host[256];			/* name the certificate must bear
					 * (or an IP literal) */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char addr_str[64];
};

struct relay_route {
	char how[32];			/* "config", "trust", "mx", "a" */
	size_t n;
	struct relay_target t[RELAY_TARGETS_MAX];
	char error[256];		/* n == 0: why (for the report) */
	bool permanent;			/* n == 0 and no domain exists, or
					 * it left the trust space */
	char status[8];			/* permanent: its status code */
};

/*
 * relay_route_resolve - blocking (run it on a worker): the targets of
 * domain in order of preference. relay_routes in cfg first, then the
 * trust-space entry's route, then MX records (res_query), then the
 * domain's own A/AAAA. The domain must still be in the trust space: one
 * removed since the message was queued gets a permanent 5.7.1, whatever
 * route it has. Returns 0 (targets, or none with error set).
 */
int relay_route_resolve(const struct config *cfg, struct store *st,
			const char *domain, struct relay_route *out);

/*
 * relay_trusted_name - the trust-space domain a certificate name stands
 * for: the name itself or its closest parent that is in the trust space.
 * 1 with the domain in out, 0 when none, <0 on a store error.
 */
int relay_trusted_name(struct store_rtxn *rt, const char *name, char *out,
		       size_t size);

/* ---- one outbound connection ---- */

struct relay_rcpt {
	const char *addr;
	const char *orcpt;		/* "rfc822;addr" or NULL */
	uint8_t notify;			/* STORE_NOTIFY_* */
	/* result */
	int code;			/* 0 not tried; else the reply code */
	char status[STORE_STATUS_MAX];
	char diag[STORE_DIAG_MAX];
};

struct relay_job {
	const char *sender;		/* "" for <> */
	const char *envid;		/* "" when none */
	uint8_t ret;			/* STORE_RET_* */
	const char *data;		/* the message, CRLF lines */
	size_t len;
	size_t n_rcpt;
	struct relay_rcpt *rcpts;
	/* result */
	bool peer_dsn_r;		/* the peer took our DSN parameters */
	char remote_r[STORE_HOST_MAX];	/* host that answered */
	void *owner;			/* the caller's */
};

struct relay_conn;

struct relay_conn_cbs {
	/* ready - connected, TLS up, EHLO done: give it a job. */
	void (*ready)(struct relay_conn *c, void *arg);
	/* done - the job's recipients all have a result (on a lost
	 * connection, a 4.4.2 one). The connection is ready again unless
	 * closed follows. */
	void (*done)(struct relay_conn *c, struct relay_job *j, void *arg);
	/* closed - the connection is gone and freed. established is false
	 * when it never became ready; status/reason say why ("4.7.5",
	 * "TLS with HOST[ADDR]:PORT: certificate verify failed: ..."). */
	void (*closed)(struct relay_conn *c, bool established,
		       const char *status, const char *reason, void *arg);
};

/* relay_conn_open - start connecting to t; NULL when out of memory. */
struct relay_conn *relay_conn_open(struct event_base *base,
				   const struct config *cfg,
				   const struct relay_target *t,
				   const struct relay_conn_cbs *cbs, void *arg);
/* relay_conn_send - give a ready, idle connection a job. */
int relay_conn_send(struct relay_conn *c, struct relay_job *j);
/* relay_conn_quit - an idle connection says QUIT and goes; closed()
 * follows. */
void relay_conn_quit(struct relay_conn *c);
/* relay_conn_abort - drop it now, whatever it does; no callback. A job
 * in progress is left as it is (the caller owns it). */
void relay_conn_abort(struct relay_conn *c);
/* relay_conn_usable - ready for a job (not closing, none in hand). */
bool relay_conn_usable(const struct relay_conn *c);
/* relay_conn_messages - messages sent on it so far. */
unsigned relay_conn_messages(const struct relay_conn *c);

#endif
