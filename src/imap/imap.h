/* SPDX-License-Identifier: MIT */
/*
 * imap.h - the IMAP4rev1 server (RFC 3501 and the extensions of
 * doc/IMAP.md) as the daemon sees it: hand it accepted connections, tell
 * each loop when to stop. Change notifications come from the store's
 * commit hook, which imap_init installs.
 */
#ifndef MSS_IMAP_H
#define MSS_IMAP_H

#include <stdbool.h>
#include <sys/socket.h>

struct loop;
struct store;

enum imap_listener_kind {
	IMAP_LISTENER_STARTTLS,
	IMAP_LISTENER_TLS,	/* implicit TLS (RFC 8314) */
};

/* imap_init - the store, and the loops sessions run on (for change
 * notifications); once, before accepting. */
void imap_init(struct store *st, struct loop **loops, unsigned n_loops);

/* imap_accept - a new connection on loop l (its thread); takes fd. */
void imap_accept(struct loop *l, int fd, const struct sockaddr *sa,
		 enum imap_listener_kind kind);

/* imap_shutdown - on l's thread: every session gets "* BYE" once its
 * current command is answered; done(l) runs when none is left. */
void imap_shutdown(struct loop *l, unsigned grace,
		   void (*done)(struct loop *l));

unsigned imap_session_count(void);

#endif
