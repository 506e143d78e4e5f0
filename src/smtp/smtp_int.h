/* SPDX-License-Identifier: MIT */
/*
 * smtp_int.h - the SMTP session as the module's files share it: state,
 * transaction, AUTH exchange and I/O helpers. One session lives on one
 * loop thread and is touched by no other.
 */
#ifndef MSS_SMTP_INT_H
#define MSS_SMTP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "store/store.h"

#include "smtp.h"
#include "smtp_data.h"
#include "smtp_parse.h"

struct config;

enum smtp_state {
	SMTP_STATE_TLS_WAIT,	/* implicit TLS handshake before greeting */
	SMTP_STATE_COMMAND,	/* reading command lines */
	SMTP_STATE_AUTH,	/* reading a SASL response line */
	SMTP_STATE_DATA,	/* reading the DATA stream */
	SMTP_STATE_BDAT,	/* reading a BDAT chunk */
	SMTP_STATE_WAIT,	/* an answer is pending (auth, commit, delay) */
	SMTP_STATE_CLOSING,	/* flushing the last reply */
};

enum smtp_auth_step {
	SMTP_AUTH_NONE,
	SMTP_AUTH_PLAIN,	/* waiting for the PLAIN response */
	SMTP_AUTH_LOGIN_USER,
	SMTP_AUTH_LOGIN_PASS,
};

struct smtp_rcpt {
	char addr[SMTP_PATH_MAX];
	uint32_t account_id;		/* 0: for another operator */
	uint8_t notify;			/* STORE_NOTIFY_*, 0 if not given */
	char orcpt[STORE_ADDR_MAX + 16];	/* "rfc822;addr", decoded */
};

struct smtp_session {
	char id[17];
	struct loop *loop;
	struct config *cfg;
	struct bufferevent *bev;
	enum smtp_listener_kind kind;
	char peer[64];
	enum smtp_state state;
	struct smtp_session *prev, *next;	/* the loop's list */

	bool is_tls;
	bool has_helo;
	bool is_ehlo;
	bool has_auth;
	bool freeing;
	bool quit_after_txn;		/* shutdown: close once idle */
	bool skip_line;			/* discarding an overlong line */
	bool watch_underlying;		/* closing: waiting for TLS output */
	unsigned n_errors;
	unsigned pending;		/* callbacks that will come back */
	struct event *delay_ev;
	struct event *close_ev;		/* deadline for a closing session */

	char helo[256];
	/* relay port: the trust-space domain the client certificate names
	 * ("" when it names none), and the names it bears, for messages */
	char relay_domain[STORE_HOST_MAX];
	char peer_names[256];
	char relay_why[200];		/* relay port: why MAIL is refused */
	char tls_info[160];
	char tls_version[32];
	char tls_cipher[64];
	int tls_bits;

	/* AUTH */
	enum smtp_auth_step auth_step;
	char auth_user[SMTP_PATH_MAX];
	struct store_account acct;

	/* transaction */
	bool in_txn;
	bool null_sender;
	bool smtputf8;
	bool body_8bit;
	char mail_from[SMTP_PATH_MAX];
	uint8_t ret;			/* STORE_RET_* (RFC 3461 RET) */
	char envid[STORE_ENVID_MAX];	/* ENVID, decoded */
	struct smtp_rcpt *rcpts;
	size_t n_rcpt, cap_rcpt;
	struct buf msg;
	struct smtp_data data;
	bool bdat_used;
	bool bdat_last;
	bool bdat_failed;		/* chunk read but message refused */
	const char *bdat_fail_reply;
	uint64_t bdat_left;
	char qid[17];
	struct timespec t_data;
};

/* smtp_session.c */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* smtp_reply_error - like smtp_reply, and counts the error; past the
 * hard limit the session is closed with 421. */
void smtp_reply_error(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtp_close(struct smtp_session *s);
void smtp_resume(struct smtp_session *s);
void smtp_txn_reset(struct smtp_session *s);
void smtp_set_timeout(struct smtp_session *s, bool data);
void smtp_starttls(struct smtp_session *s);
/* smtp_pending_done - an async answer arrived; returns false when the
 * session was freed meanwhile and must not be touched. */
bool smtp_pending_done(struct smtp_session *s);
/* smtp_delay - stop reading for sec seconds, then resume. */
void smtp_delay(struct smtp_session *s, uint64_t sec);
struct store *smtp_store(void);

/*
 * smtp_smime_process - S/MIME on a message before it is stored
 * (smtp_smime.c): owned X-MSSGate-Signature copies removed, the user's
 * mail signed when the address has a signing certificate, other signed
 * mail verified into X-MSSGate-Signature. Returns 0 when the message
 * stays as it is, 1 when out holds the new one, <0 with an SMTP reply.
 */
int smtp_smime_process(struct smtp_session *s, const char *msg, size_t len,
		       size_t hlen, struct buf *out, char *reply,
		       size_t rsize);


/* smtp_cmd.c */
void smtp_command(struct smtp_session *s, const char *line, size_t len);
void smtp_greeting(struct smtp_session *s);

/* smtp_auth.c */
void smtp_auth_start(struct smtp_session *s, struct strv args);
void smtp_auth_line(struct smtp_session *s, const char *line, size_t len);

/* smtp_deliver.c */
void smtp_deliver(struct smtp_session *s);

/* smtp_relay.c */
/* smtp_relay_peer - after the handshake on the relay port: which
 * trust-space domain the client certificate stands for. */
void smtp_relay_peer(struct smtp_session *s);
/* smtp_dsn_mail_param / _rcpt_param - RFC 3461 parameters; 1 taken,
 * 0 not a DSN parameter, <0 refused (a reply was sent). */
int smtp_dsn_mail_param(struct smtp_session *s, const struct smtp_param *p,
			uint8_t *ret, char *envid, size_t envid_size);
int smtp_dsn_rcpt_param(struct smtp_session *s, const struct smtp_param *p,
			struct smtp_rcpt *rc);

#endif
