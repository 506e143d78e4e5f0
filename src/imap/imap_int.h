/* SPDX-License-Identifier: MIT */
/*
 * imap_int.h - the IMAP session as the module's files share it. One
 * session lives on one loop thread and is touched by no other. A command
 * is assembled whole (lines and literals) before it runs; a command that
 * needs the store writer, the password workers or room in the output
 * buffer suspends and resumes through s->cont.
 */
#ifndef MSS_IMAP_INT_H
#define MSS_IMAP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/buf.h"
#include "store/store.h"

#include "imap.h"
#include "imap_parse.h"

struct config;
struct imap_session;

enum imap_state {
	IMAP_NOT_AUTH,
	IMAP_AUTH,
	IMAP_SELECTED,
	IMAP_LOGOUT,
};

enum imap_io {
	IMAP_IO_TLS_WAIT,	/* implicit TLS handshake */
	IMAP_IO_LINE,		/* reading a command line */
	IMAP_IO_LITERAL,	/* reading literal data */
	IMAP_IO_SKIP,		/* discarding a refused non-sync literal */
	IMAP_IO_RUN,		/* a command is running (maybe suspended) */
	IMAP_IO_SASL,		/* reading an AUTHENTICATE response */
	IMAP_IO_IDLE,		/* in IDLE, waiting for DONE */
	IMAP_IO_CLOSING,
};

/* The selected mailbox as this session knows it. */
struct imap_view {
	uint32_t mailbox_id;
	uint32_t uidvalidity;
	bool readonly;
	uint32_t *uids;		/* sequence number i is uids[i - 1] */
	size_t n, cap;
	uint64_t modseq;	/* flag changes and arrivals seen up to */
	uint64_t exp_modseq;	/* expunges seen up to */
	uint32_t *recent;	/* sorted UIDs recent to this session */
	size_t n_recent, cap_recent;
	struct { uint32_t uid; uint64_t modseq; } *own; /* reported already */
	size_t n_own, cap_own;
	uint64_t kw_hash;	/* of the keywords last announced in FLAGS */
	struct imap_session *w_prev, *w_next;	/* the loop's watchers */
};

/* A command as the table knows it. */
enum {
	IMAP_CF_NOTAUTH = 0x01,		/* only before authentication */
	IMAP_CF_AUTH = 0x02,		/* authenticated or selected */
	IMAP_CF_SELECTED = 0x04,	/* selected only */
	IMAP_CF_UID = 0x08,		/* may follow "UID" */
	IMAP_CF_NO_EXPUNGE = 0x10,	/* no EXPUNGE responses after it */
	IMAP_CF_ANY = 0x20,		/* any state */
};

typedef void imap_cmd_fn(struct imap_session *s);

struct imap_cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned flags;
};

struct imap_session {
	char id[17];
	struct loop *loop;
	struct config *cfg;
	struct bufferevent *bev;
	bool implicit_tls;
	bool is_tls;
	enum imap_state state;
	enum imap_io io;
	struct imap_session *prev, *next;	/* the loop's sessions */
	char peer[64];

	uint32_t account_id;
	char login[STORE_ADDR_MAX];
	bool freeing;
	bool bye_after_cmd;		/* shutdown */
	bool watch_underlying;
	unsigned pending;		/* callbacks that will come back */
	struct event *timer;		/* delays (counted in pending) */
	struct event *close_timer;	/* the closing deadline */
	void (*timer_fn)(struct imap_session *s);

	/* the command being assembled or run */
	struct imap_cmdbuf cmd;
	uint64_t lit_left;
	size_t lit_start;		/* where the literal's data begins */
	bool lit_append;		/* the command is APPEND */
	char tag[128];
	const struct imap_cmd_def *def;
	bool uid;			/* "UID" prefix */
	struct imap_args args;
	void *ctx;			/* per-command state while suspended */
	void (*ctx_free)(void *ctx);
	void (*cont)(struct imap_session *s);	/* resume after output */

	struct imap_view *view;		/* NULL unless selected */
	bool condstore;
	bool qresync;
	unsigned auth_failures;
};

/* imap_session.c */
void imap_init_store(struct store *st);
struct store *imap_store(void);
void imap_write(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imap_write_raw(struct imap_session *s, const void *p, size_t len);
/* imap_done - the tagged answer: brings the view up to date (untagged
 * updates allowed after this command), writes "tag status text", frees
 * the command state and reads the next command. */
void imap_done(struct imap_session *s, const char *status, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));
/* imap_bad / imap_no - shorthands; "BAD" also counts as a protocol error */
void imap_bad(struct imap_session *s, const char *text);
void imap_no(struct imap_session *s, const char *text);
/* imap_suspend - an async answer will come: pending++ and stop reading. */
void imap_suspend(struct imap_session *s);
/* imap_resume_ok - the answer came: pending--; false if the session
 * was freed meanwhile (touch nothing then). */
bool imap_resume_ok(struct imap_session *s);
/* imap_output_full - more than the configured output waits unsent. */
bool imap_output_full(struct imap_session *s);
/* imap_wait_output - call cont once the output has drained. */
void imap_wait_output(struct imap_session *s,
		      void (*cont)(struct imap_session *s));
void imap_close(struct imap_session *s);
void imap_starttls(struct imap_session *s);
void imap_capability_string(struct imap_session *s, struct buf *out);
void imap_delay(struct imap_session *s, uint64_t sec,
		void (*fn)(struct imap_session *s));
/* imap_mailbox_arg - the next argument as a mailbox name, decoded from
 * modified UTF-7 to UTF-8 and with INBOX upper-cased; replies BAD on
 * failure and returns negative. */
int imap_mailbox_arg(struct imap_session *s, char *out, size_t size);
/* imap_put_mailbox - a mailbox name as an IMAP astring in mUTF-7. */
int imap_put_mailbox(struct buf *b, const char *name);
void imap_flags_string(uint32_t flags, const char *keywords, bool recent,
		       struct buf *out);
/* imap_date_time - RFC 3501 date-time "22-Nov-2026 10:00:00 +0000". */
void imap_date_time(int64_t t, char *out, size_t size);

/* imap_view.c */
void imap_view_free(struct imap_view **v);
void imap_watch(struct imap_session *s);
void imap_unwatch(struct imap_session *s);
/* imap_sync - bring the view up to date, writing EXISTS/RECENT/FETCH
 * and, if allowed, EXPUNGE/VANISHED. Returns false when the mailbox is
 * gone (the session was told BYE and is closing). */
bool imap_sync(struct imap_session *s, bool expunge_ok);
/* imap_view_seq - sequence number (1-based) of uid, 0 if not there. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
bool imap_view_recent(const struct imap_view *v, uint32_t uid);
/* imap_recent_claim - the first UID recent to the caller among those up
 * to upto (first_recent_uid: the store's); with take, they become the
 * caller's alone. */
uint32_t imap_recent_claim(uint32_t mailbox_id, uint32_t first_recent_uid,
			   uint32_t upto, bool take);
/* imap_kw_hash - a short fingerprint of a keyword list (FNV-1a), so an
 * idle session keeps 8 bytes instead of the list. */
uint64_t imap_kw_hash(const char *keywords);
void imap_view_remove(struct imap_view *v, uint32_t uid);
void imap_view_own(struct imap_view *v, uint32_t uid, uint64_t modseq);
/* imap_resolve - a sequence set (or UID set) to sorted UIDs in the view. */
int imap_resolve(struct imap_session *s, const char *set, size_t len,
		 bool uid, uint32_t **uids_r, size_t *n_r);
void imap_notify_loop(void *arg);

/* commands */
void imap_cmd_capability(struct imap_session *s);
void imap_cmd_noop(struct imap_session *s);
void imap_cmd_logout(struct imap_session *s);
void imap_cmd_starttls(struct imap_session *s);
void imap_cmd_authenticate(struct imap_session *s);
void imap_cmd_login(struct imap_session *s);
void imap_cmd_id(struct imap_session *s);
void imap_cmd_enable(struct imap_session *s);
void imap_cmd_namespace(struct imap_session *s);
void imap_cmd_idle(struct imap_session *s);
void imap_cmd_check(struct imap_session *s);
void imap_cmd_close(struct imap_session *s);
void imap_cmd_unselect(struct imap_session *s);
void imap_cmd_select(struct imap_session *s);
void imap_cmd_examine(struct imap_session *s);
void imap_cmd_create(struct imap_session *s);
void imap_cmd_delete(struct imap_session *s);
void imap_cmd_rename(struct imap_session *s);
void imap_cmd_subscribe(struct imap_session *s);
void imap_cmd_unsubscribe(struct imap_session *s);
void imap_cmd_list(struct imap_session *s);
void imap_cmd_lsub(struct imap_session *s);
void imap_cmd_status(struct imap_session *s);
void imap_cmd_append(struct imap_session *s);
void imap_cmd_fetch(struct imap_session *s);
void imap_cmd_store(struct imap_session *s);
void imap_cmd_copy(struct imap_session *s);
void imap_cmd_move(struct imap_session *s);
void imap_cmd_expunge(struct imap_session *s);
void imap_cmd_search(struct imap_session *s);

/* imap_idle_line - a line read while in IDLE (imap_cmd_basic.c). */
void imap_idle_line(struct imap_session *s, const char *line, size_t len);
/* imap_sasl_line - an AUTHENTICATE response line. */
void imap_sasl_line(struct imap_session *s, const char *line, size_t len);
/* imap_status_items - STATUS data for LIST-STATUS and STATUS. */
int imap_status_items(struct imap_session *s, struct imap_args *a,
		      unsigned *items_r);
void imap_status_write(struct imap_session *s, const struct store_mailbox *m,
		       unsigned items);
/* imap_write_flags_lists - "* FLAGS" and "* OK [PERMANENTFLAGS]". */
void imap_write_flags_lists(struct imap_session *s,
			    const struct store_mailbox *m);

#endif
