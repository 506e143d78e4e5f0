/* SPDX-License-Identifier: MIT */
/*
 * smtp.h - the SMTP submission server (RFC 5321, RFC 6409) as the daemon
 * sees it: hand it accepted connections, and tell each loop when to stop.
 */
#ifndef MSS_SMTP_H
#define MSS_SMTP_H

#include <stdbool.h>
#include <sys/socket.h>

struct loop;
struct store;

enum smtp_listener_kind {
	SMTP_LISTENER_SUBMISSION,	/* STARTTLS required before AUTH */
	SMTP_LISTENER_SUBMISSION_TLS,	/* implicit TLS (RFC 8314) */
	SMTP_LISTENER_RELAY,		/* other operators: STARTTLS and a
					 * client certificate, local mail only */
};

/* smtp_init - the store sessions deliver into; once, before accepting. */
void smtp_init(struct store *st);
/* smtp_smime_reset - forget the S/MIME signers and trust store loaded so
 * far (configuration reload); the next messages load them again. */
void smtp_smime_reset(void);

/* smtp_accept - a new connection on loop l (its thread); takes fd. */
void smtp_accept(struct loop *l, int fd, const struct sockaddr *sa,
		 enum smtp_listener_kind kind);

/*
 * smtp_shutdown - on loop l's thread: idle sessions get 421 and close,
 * sessions inside a transaction finish it first; after grace seconds all
 * remaining ones are closed. done(l) runs on l once no session is left.
 */
void smtp_shutdown(struct loop *l, unsigned grace,
		   void (*done)(struct loop *l));

/* smtp_session_count - open sessions on all loops (approximate). */
unsigned smtp_session_count(void);

#endif
