/* SPDX-License-Identifier: MIT */
/*
 * store.h - every durable state of the gateway, in one LMDB environment.
 *
 * Writes: ONE writer thread. Callers hand it operations (store_op_* below,
 * each with its own argument struct); it drains every pending operation into
 * one write transaction, runs each in a nested transaction so one failure
 * does not spoil the others, commits once (one fsync) and only then reports
 * each result: group commit. Nothing is acknowledged before its commit.
 *
 * Reads: any thread, through a short read transaction (store_read_begin /
 * store_read_end) that must never be held across an event-loop turn.
 *
 * Message bodies are blobs stored once per message with a reference count,
 * sealed with XChaCha20-Poly1305 under the key file given at open.
 */
#ifndef MSS_STORE_H
#define MSS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct loop;

#define STORE_SCHEMA_VERSION 1
#define STORE_ADDR_MAX 256		/* RFC 5321 path limit, with NUL */
#define STORE_ACCOUNT_ADDRS 16
#define STORE_PWHASH_MAX 128		/* crypto_pwhash_STRBYTES */
#define STORE_MAILBOX_NAME_MAX 512
#define STORE_KEY_BYTES 32

struct store;
struct store_wtxn;	/* a write transaction, on the writer thread only */
struct store_rtxn;	/* a read transaction, on the calling thread only */

struct store_opts {
	const char *dir;		/* LMDB environment directory */
	const char *key_file;		/* at-rest key; created if missing */
	uint64_t map_size;
	unsigned max_dbs;
	unsigned max_readers;
	unsigned batch_max;		/* operations per group commit */
};

struct config;
/* store_opts_from_config - the store_* settings of a configuration. */
void store_opts_from_config(const struct config *cfg, struct store_opts *o);

/*
 * store_open - open (creating if needed) the environment, check its schema
 * version and its key. On failure *error_r holds a sentence naming the file
 * and the cause (static or thread-local storage, valid until the next call).
 */
int store_open(const struct store_opts *o, struct store **st_r,
	       const char **error_r);
/* store_writer_start - start the writer thread (daemon). Without it,
 * store_exec runs operations on the calling thread (CLI, tests). */
int store_writer_start(struct store *st);
/* store_close - drain and stop the writer, close the environment. */
void store_close(struct store **st);

/* Operations run on the writer thread inside a (nested) transaction.
 * They return 0 or a negative ERR_*; on failure their writes are undone. */
typedef int store_op_fn(struct store_wtxn *w, void *arg);
/* Completion, on the reply loop, after the commit (or its failure). */
typedef void store_done_fn(int result, void *arg);

/*
 * store_submit - queue op(arg) for the next group commit; done(result, arg)
 * runs on reply once the transaction committed (result is the op's, or the
 * commit's error). Returns 0, ERR_SHUTDOWN or ERR_NOMEM (done not called).
 */
int store_submit(struct store *st, store_op_fn *op, void *arg,
		 store_done_fn *done, struct loop *reply);
/* store_exec - run op(arg) and wait for its commit; returns its result. */
int store_exec(struct store *st, store_op_fn *op, void *arg);

/* Statistics of the writer, for tests and metrics. */
struct store_stats {
	uint64_t commits;
	uint64_t ops;
	uint64_t max_batch;
};
void store_get_stats(struct store *st, struct store_stats *s);

/* ---- reads ---- */

int store_read_begin(struct store *st, struct store_rtxn **r_r);
void store_read_end(struct store_rtxn **r);

/* ---- blobs ---- */

/* store_blob_seal - encrypt plain[len] into out (a blob value); any thread. */
int store_blob_seal(struct store *st, const void *plain, size_t len,
		    struct buf *out);
/* store_blob_read - decrypt blob id into out (appended). ERR_CORRUPT when
 * the tag does not verify. */
int store_blob_read(struct store_rtxn *r, uint64_t blob_id, struct buf *out);
/* store_blob_refs - current reference count (0 if absent). */
int store_blob_refs(struct store_rtxn *r, uint64_t blob_id, uint32_t *refs);

/* ---- accounts ---- */

enum store_account_state {
	STORE_ACCOUNT_ACTIVE = 0,
	STORE_ACCOUNT_DISABLED = 1,
};

struct store_account {
	uint32_t id;
	uint8_t state;
	uint64_t created;
	char login[STORE_ADDR_MAX];
	char pwhash[STORE_PWHASH_MAX];
	size_t n_addr;
	char addr[STORE_ACCOUNT_ADDRS][STORE_ADDR_MAX];
};

/* store_account_find - by any of its addresses (case-insensitive).
 * Returns 1 found, 0 not found, negative on error. */
int store_account_find(struct store_rtxn *r, const char *address,
		       struct store_account *a);
int store_account_get(struct store_rtxn *r, uint32_t id,
		      struct store_account *a);
/* store_account_iter - cb for each account in id order; a non-zero return
 * from cb stops the walk and is returned. */
int store_account_iter(struct store_rtxn *r,
		       int (*cb)(const struct store_account *, void *),
		       void *arg);

/* op arg for store_op_account_create: the account with its login, hash and
 * addresses (login is added to the addresses if missing); id_r set. New
 * accounts get INBOX, Sent, Drafts, Trash and Junk. */
struct store_account_create {
	const struct store_account *acct;
	uint32_t id_r;
};
int store_op_account_create(struct store_wtxn *w, void *arg);

/* op arg for password, state and delete, found by login or address. */
struct store_account_change {
	const char *login;
	const char *pwhash;		/* set_password */
	uint8_t state;			/* set_state */
};
int store_op_account_set_password(struct store_wtxn *w, void *arg);
int store_op_account_set_state(struct store_wtxn *w, void *arg);
/* delete removes the account, its addresses, mailboxes and messages. */
int store_op_account_delete(struct store_wtxn *w, void *arg);

/* ---- mailboxes and messages ---- */

/*
 * Mailbox names are UTF-8 with "/" as the hierarchy delimiter (IMAP turns
 * them into modified UTF-7 on the wire). "INBOX" is always upper case.
 * MODSEQ: every change to a message (delivery, flags, expunge) gives it
 * the mailbox's HIGHESTMODSEQ + 1, and an index by MODSEQ finds what
 * changed since any point; expunged messages leave a tombstone with the
 * MODSEQ of their removal (RFC 7162 VANISHED).
 */

enum store_special_use {
	STORE_SPECIAL_NONE = 0,
	STORE_SPECIAL_SENT,
	STORE_SPECIAL_DRAFTS,
	STORE_SPECIAL_TRASH,
	STORE_SPECIAL_JUNK,
	STORE_SPECIAL_ARCHIVE,
};
const char *store_special_use_name(uint8_t special);	/* "\\Sent" or "" */

#define STORE_KEYWORDS_LEN 512	/* space-separated keywords of a message */
#define STORE_MBOX_KEYWORDS_LEN 2048	/* all keywords used in a mailbox */

struct store_mailbox {
	uint32_t id;
	uint32_t account_id;
	char name[STORE_MAILBOX_NAME_MAX];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint8_t special_use;
	bool noselect;		/* kept only as the parent of others */
	uint32_t n_messages;
	uint32_t n_unseen;
	uint64_t total_size;
	/* \Recent (RFC 3501 2.3.2): UIDs from here on are recent to the next
	 * read-write session that selects or is told about them. */
	uint32_t first_recent_uid;
	char keywords[STORE_MBOX_KEYWORDS_LEN];
};

/* Message flags persisted per message. \Recent is per session. */
#define STORE_FLAG_SEEN 0x01
#define STORE_FLAG_ANSWERED 0x02
#define STORE_FLAG_FLAGGED 0x04
#define STORE_FLAG_DELETED 0x08
#define STORE_FLAG_DRAFT 0x10
#define STORE_FLAGS_ALL 0x1f

struct store_msg {
	uint32_t mailbox_id;
	uint32_t uid;
	uint64_t blob_id;
	uint64_t size;
	int64_t internaldate;
	uint64_t modseq;
	uint32_t flags;
	char keywords[STORE_KEYWORDS_LEN];
};

int store_mailbox_get(struct store_rtxn *r, uint32_t account_id,
		      const char *name, struct store_mailbox *m);
int store_mailbox_get_by_id(struct store_rtxn *r, uint32_t mailbox_id,
			    struct store_mailbox *m);
int store_mailbox_iter(struct store_rtxn *r, uint32_t account_id,
		       int (*cb)(const struct store_mailbox *, void *),
		       void *arg);
/* store_subscription_iter - subscribed names (existing or not). */
int store_subscription_iter(struct store_rtxn *r, uint32_t account_id,
			    int (*cb)(const char *name, void *), void *arg);
int store_msg_get(struct store_rtxn *r, uint32_t mailbox_id, uint32_t uid,
		  struct store_msg *m);
/* store_msg_iter - messages with UID >= from_uid, in UID order. */
int store_msg_iter(struct store_rtxn *r, uint32_t mailbox_id,
		   int (*cb)(const struct store_msg *, void *), void *arg);
int store_msg_iter_from(struct store_rtxn *r, uint32_t mailbox_id,
			uint32_t from_uid,
			int (*cb)(const struct store_msg *, void *), void *arg);
/* store_msg_changed_since - messages whose MODSEQ > modseq, in MODSEQ
 * order: cb(uid, modseq). */
int store_msg_changed_since(struct store_rtxn *r, uint32_t mailbox_id,
			    uint64_t modseq,
			    int (*cb)(uint32_t uid, uint64_t modseq, void *),
			    void *arg);
/* store_expunged_since - tombstones with MODSEQ > modseq, MODSEQ order. */
int store_expunged_since(struct store_rtxn *r, uint32_t mailbox_id,
			 uint64_t modseq,
			 int (*cb)(uint32_t uid, uint64_t modseq, void *),
			 void *arg);
/* store_blob_info - the parsed structure stored with a body (see
 * mime/mime_struct.h), appended to out; ERR_NOTFOUND when none. */
int store_blob_info(struct store_rtxn *r, uint64_t blob_id, struct buf *out);
/* store_blob_header - the header section of the message, blank line
 * included, appended to out, when the blob keeps it as a chunk of its
 * own (1); 0 when it does not (then read the range the MIME structure
 * gives); <0 on error. */
int store_blob_header(struct store_rtxn *r, uint64_t blob_id,
		      struct buf *out);
/* store_blob_read_range - decrypt only the chunks covering
 * [off, off + len) of a body, and append exactly that range. */
int store_blob_read_range(struct store_rtxn *r, uint64_t blob_id,
			  uint64_t off, uint64_t len, struct buf *out);

/*
 * Change notification: after each group commit, the writer calls the
 * hook with the ids of the mailboxes whose content changed, on the writer
 * thread (post to your own loop from there; keep it short).
 */
typedef void store_commit_hook(const uint32_t *mailbox_ids, size_t n,
			       void *arg);
void store_set_commit_hook(struct store *st, store_commit_hook *fn,
			   void *arg);

/* ---- write operations on mailboxes (op args) ---- */

struct store_mailbox_op {
	uint32_t account_id;
	const char *name;
	const char *new_name;		/* rename */
	uint8_t special;		/* create */
	bool parents;			/* create, rename: make missing
					 * superior names first */
	bool subscribe;			/* subscribe: on or off */
	uint32_t mailbox_id_r;		/* create */
	uint32_t uidvalidity_r;		/* create */
};
/* create: ERR_EXISTS if the name exists. */
int store_op_mailbox_create(struct store_wtxn *w, void *arg);
/* delete: the mailbox and its messages. When it has inferiors, the name
 * stays as \Noselect (RFC 3501 6.3.4) and the inferiors are kept; a
 * \Noselect name with inferiors cannot be deleted (ERR_PERM). Create on a
 * \Noselect name makes it a mailbox again, with a new UIDVALIDITY. */
int store_op_mailbox_delete(struct store_wtxn *w, void *arg);
/* rename: the mailbox and every name under "name/" move; renaming INBOX
 * moves its messages into a new mailbox new_name and leaves INBOX empty
 * (RFC 3501 6.3.5). ERR_EXISTS if a target name exists. */
int store_op_mailbox_rename(struct store_wtxn *w, void *arg);
int store_op_subscribe(struct store_wtxn *w, void *arg);

/* claim_recent: the UIDs [first_recent_uid, uidnext) become recent for
 * the caller; first_recent_uid moves to uidnext. */
struct store_recent_op {
	uint32_t mailbox_id;
	uint32_t upto;			/* 0: up to uidnext - 1 */
	uint32_t first_r;		/* first UID now recent for the caller */
	uint32_t uidnext_r;
};
int store_op_claim_recent(struct store_wtxn *w, void *arg);

/* ---- write operations on messages (op args) ---- */

/*
 * op arg for store_op_deliver: one sealed blob (from store_blob_seal) into
 * the INBOX of each account. uids_r[i] and mailbox_ids_r[i] receive where
 * recipient i landed. An account that no longer exists fails the whole
 * delivery with ERR_NOTFOUND (the client is told to retry).
 */
struct store_delivery {
	const void *sealed;
	size_t sealed_len;
	const void *info;		/* mime_info_encode() output */
	size_t info_len;
	uint64_t size;
	int64_t internaldate;
	size_t n_rcpt;
	const uint32_t *account_ids;
	uint32_t *uids_r;
	uint32_t *mailbox_ids_r;
	uint64_t blob_id_r;
	struct store_queue *queue;	/* also queue it for these (or NULL) */
};
int store_op_deliver(struct store_wtxn *w, void *arg);

/* op arg for store_op_append: one message into one mailbox (IMAP APPEND,
 * and later the copy of sent mail). */
struct store_append {
	uint32_t mailbox_id;
	const void *sealed;
	size_t sealed_len;
	const void *info;
	size_t info_len;
	uint64_t size;
	int64_t internaldate;
	uint32_t flags;
	const char *keywords;		/* space-separated, may be "" */
	uint32_t uid_r;
	uint32_t uidvalidity_r;
	uint64_t modseq_r;
};
int store_op_append(struct store_wtxn *w, void *arg);

enum store_flags_mode {
	STORE_FLAGS_SET,
	STORE_FLAGS_ADD,
	STORE_FLAGS_REMOVE,
};

/*
 * op arg for store_op_flags: change the flags of the listed UIDs (those
 * that no longer exist are skipped). With unchangedsince > 0, a message
 * whose MODSEQ is above it is left alone and reported in modified_r
 * (RFC 7162 3.1.3). For each UID changed, new_flags_r / new_modseq_r hold
 * the result (0 modseq: not changed or gone); a message whose flags would
 * not change keeps its MODSEQ.
 */
struct store_flags_op {
	uint32_t mailbox_id;
	size_t n;
	const uint32_t *uids;
	enum store_flags_mode mode;
	uint32_t flags;
	const char *keywords;		/* space-separated */
	uint64_t unchangedsince;
	uint32_t *new_flags_r;
	char (*new_keywords_r)[STORE_KEYWORDS_LEN];
	uint64_t *new_modseq_r;
	bool *modified_r;
};
int store_op_flags(struct store_wtxn *w, void *arg);

/*
 * op arg for store_op_copy: copy (or move) the listed UIDs, in order, to
 * another mailbox, sharing their bodies. dst_uids_r[i] is the new UID of
 * uids[i] (0 when that message no longer exists); moved messages leave
 * tombstones in the source. uidvalidity_r is the destination's.
 */
struct store_copy_op {
	uint32_t src_mailbox_id;
	uint32_t dst_mailbox_id;
	size_t n;
	const uint32_t *uids;
	bool move;
	uint32_t *dst_uids_r;
	uint32_t uidvalidity_r;
};
int store_op_copy(struct store_wtxn *w, void *arg);

/*
 * op arg for store_op_expunge: remove the messages flagged \Deleted, only
 * among uids when n > 0 (UID EXPUNGE). expunged_r (caller-sized to the
 * mailbox's message count, or n) receives the removed UIDs in order.
 */
struct store_expunge_op {
	uint32_t mailbox_id;
	size_t n;
	const uint32_t *uids;
	uint32_t *expunged_r;
	size_t cap_r;
	size_t n_expunged_r;
};
int store_op_expunge(struct store_wtxn *w, void *arg);

/* ---- queue: mail waiting for another operator ---- */

/*
 * One record per message accepted for other domains, with the state of
 * each recipient; a due index orders records by their next attempt. The
 * body is a blob like a mailbox message's (shared when the same message
 * also went to local mailboxes). When every recipient is done (sent or
 * failed for good) the record goes and its blob reference with it.
 */

#define STORE_QUEUE_RCPTS_MAX 1000
#define STORE_ENVID_MAX 101		/* RFC 3461 4.4: 100 characters */
#define STORE_DIAG_MAX 512
#define STORE_STATUS_MAX 16
#define STORE_HOST_MAX 256

enum store_rcpt_state {
	STORE_RCPT_PENDING = 0,		/* not delivered yet (maybe deferred) */
	STORE_RCPT_SENT = 1,		/* accepted by the next hop */
	STORE_RCPT_FAILED = 2,		/* permanently failed (bounced) */
};

/* RFC 3461 NOTIFY; 0 when the client did not say. */
#define STORE_NOTIFY_NEVER 0x01
#define STORE_NOTIFY_SUCCESS 0x02
#define STORE_NOTIFY_FAILURE 0x04
#define STORE_NOTIFY_DELAY 0x08

enum store_ret {
	STORE_RET_NONE = 0,
	STORE_RET_FULL = 1,
	STORE_RET_HDRS = 2,
};

struct store_qrcpt {
	char addr[STORE_ADDR_MAX];
	char orcpt[STORE_ADDR_MAX + 16];	/* "rfc822;addr", decoded */
	uint8_t notify;
	uint8_t state;
	bool delay_notified;
	uint16_t attempts;
	int64_t last_attempt;
	char status[STORE_STATUS_MAX];		/* enhanced code, "4.4.1" */
	char diag[STORE_DIAG_MAX];		/* last answer or error */
	char remote[STORE_HOST_MAX];		/* host that gave it */
};

struct store_queue {
	uint64_t id;
	int64_t arrival;
	int64_t next_attempt;
	uint8_t ret;
	bool held;
	bool is_dsn;			/* a report: never reported on */
	uint32_t account_id;		/* who submitted it, 0 if none */
	char sender[STORE_ADDR_MAX];	/* "" for the null sender */
	char envid[STORE_ENVID_MAX];
	uint64_t blob_id;
	uint64_t size;
	size_t n_rcpt;
	struct store_qrcpt *rcpts;	/* malloc'd */
};

void store_queue_init(struct store_queue *q);
void store_queue_free(struct store_queue *q);	/* the rcpts array */

/* store_queue_get - 1 found (rcpts allocated), 0 not found, <0 error. */
int store_queue_get(struct store_rtxn *r, uint64_t id, struct store_queue *q);
/* store_queue_iter - every record in id order (rcpts valid during cb). */
int store_queue_iter(struct store_rtxn *r,
		     int (*cb)(const struct store_queue *, void *), void *arg);
/* store_queue_due - ids of records due at or before now, soonest first;
 * a non-zero return from cb stops. */
int store_queue_due(struct store_rtxn *r, int64_t now,
		    int (*cb)(uint64_t id, int64_t due, void *), void *arg);
/* store_queue_next_due - the soonest due time (INT64_MAX when none). */
int store_queue_next_due(struct store_rtxn *r, int64_t *due);

/* store_delivery.queue (see store_op_deliver): when set, the same message
 * is also queued for these recipients of other domains, in the same
 * transaction, sharing the blob. id and rcpts as given; arrival,
 * next_attempt, blob_id and size are filled in. ERR_EXISTS when id is
 * taken (the caller picks another). */

/* op arg for store_op_queue_update: the outcome of an attempt. rcpts[i]
 * replaces recipient i of the record (same count, same order); the
 * record goes when no recipient is PENDING, else it is due again at
 * next_attempt. */
struct store_queue_update {
	uint64_t id;
	size_t n_rcpt;
	const struct store_qrcpt *rcpts;
	int64_t next_attempt;
	bool removed_r;			/* the record is done and gone */
};
int store_op_queue_update(struct store_wtxn *w, void *arg);

enum store_queue_action {
	STORE_QUEUE_HOLD,		/* out of the due index */
	STORE_QUEUE_RELEASE,		/* back, due now */
	STORE_QUEUE_RETRY,		/* due now */
	STORE_QUEUE_DELETE,		/* gone, no report */
};

struct store_queue_admin {
	uint64_t id;			/* 0 with RETRY: every record */
	enum store_queue_action action;
	int64_t now;
	size_t n_done_r;
};
int store_op_queue_admin(struct store_wtxn *w, void *arg);

/* op arg for store_op_queue_add: a message only for other operators
 * (a report, or mail relayed from nowhere else). */
struct store_queue_add {
	struct store_queue *q;		/* id, rcpts, sender... as wanted */
	const void *sealed;
	size_t sealed_len;
	const void *info;
	size_t info_len;
	uint64_t size;
};
int store_op_queue_add(struct store_wtxn *w, void *arg);

/* ---- trust space: the domains of the MSSanté white list ---- */

struct store_trust {
	char domain[STORE_HOST_MAX];	/* A-label, lower case */
	char route[STORE_HOST_MAX];	/* "host:port" or "" (DNS MX) */
	char source[64];		/* "import" or "admin" */
	int64_t added;
};

/* store_trust_get - 1 found, 0 not, <0 error. */
int store_trust_get(struct store_rtxn *r, const char *domain,
		    struct store_trust *t);
int store_trust_iter(struct store_rtxn *r,
		     int (*cb)(const struct store_trust *, void *), void *arg);

struct store_trust_op {
	const struct store_trust *t;	/* set: add or replace */
	const char *domain;		/* del */
	/* import: the whole list replaces the imported entries (admin ones
	 * stay), atomically; counts out. */
	const struct store_trust *list;
	size_t n;
	size_t added_r, removed_r, kept_r;
};
int store_op_trust_set(struct store_wtxn *w, void *arg);
int store_op_trust_del(struct store_wtxn *w, void *arg);
int store_op_trust_import(struct store_wtxn *w, void *arg);

#endif
