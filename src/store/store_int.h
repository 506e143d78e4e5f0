/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - what the store's files share and nobody else sees: the
 * environment handle, the named databases, the key codecs and the value
 * codec (values start with a version byte; integers are big-endian).
 */
#ifndef MSS_STORE_INT_H
#define MSS_STORE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "store.h"

enum store_db {
	DB_META,	/* name -> value: schema version, id counters, key check */
	DB_BLOB,	/* u64 blob id -> sealed body */
	DB_BLOBREF,	/* u64 blob id -> v1 refcount u32, size u64 */
	DB_ACCOUNT,	/* u32 account id -> account record */
	DB_ADDRESS,	/* lower-case address -> u32 account id */
	DB_MAILBOX,	/* u32 account id + name -> mailbox record */
	DB_MAILBOX_ID,	/* u32 mailbox id -> u32 account id + name */
	DB_MSG,		/* u32 mailbox id + u32 uid -> message record */
	DB_MSG_MODSEQ,	/* u32 mailbox id + u64 modseq -> u32 uid */
	DB_EXPUNGED,	/* u32 mailbox id + u64 modseq -> u32 uid (tombstone) */
	DB_SUBSCRIPTION, /* u32 account id + name -> empty */
	DB_BLOBINFO,	/* u64 blob id -> mime_info_encode() bytes */
	DB_QUEUE,	/* u64 queue id -> queue record */
	DB_QUEUE_DUE,	/* u64 due time + u64 queue id -> empty */
	DB_TRUST,	/* domain (A-label) -> trust record */
	DB_DIR,		/* u32 record id -> directory record */
	DB_DIR_KEY,	/* natural key ("mss:addr") -> u32 record id */
	DB_DIR_IDX,	/* tag byte + folded term -> dup u32 ids (native) */
	DB_DIR_B,	/* the second directory set: a bulk import builds */
	DB_DIR_KEY_B,	/* the set that is not current, then meta */
	DB_DIR_IDX_B,	/* "dir_set" makes it current in one commit */
	DB_API_CLIENT,	/* client name -> API client record (keyed hash) */
	DB_CA_ISSUED,	/* u64 serial -> certificate issued by our dev CA */
	DB_CERT,	/* certificate name -> managed certificate record */
	DB_COUNT
};

struct store_req;

struct store {
	MDB_env *env;
	/* Reset read transactions kept for reuse (renew is cheaper than
	 * begin: the reader slot is kept). */
	pthread_mutex_t rmtx;
	struct store_rtxn *rfree;
	unsigned n_rfree;
	MDB_dbi dbi[DB_COUNT];
	unsigned char *key;		/* sodium_malloc'd, read-only */
	unsigned batch_max;
	char dir[4096];

	store_commit_hook *commit_hook;
	void *commit_hook_arg;

	pthread_t writer;
	int writer_running;
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct store_req *head, *tail;
	int stopping;
	struct store_stats stats;
};

#define STORE_TOUCH_MAX 64

struct store_wtxn {
	struct store *st;
	MDB_txn *txn;
	/* mailboxes this operation changed, for the commit hook */
	size_t n_touched;
	uint32_t touched[STORE_TOUCH_MAX];
	bool touch_overflow;
};

/* store_wtxn_touch - note that a mailbox's content changed. */
void store_wtxn_touch(struct store_wtxn *w, uint32_t mailbox_id);

struct store_rtxn {
	struct store *st;
	MDB_txn *txn;
	struct store_rtxn *next;	/* in st->rfree while unused */
};

/* store_writer_stop - drain the queue, stop and join the writer. */
void store_writer_stop(struct store *st);

/* store_check.c: refuse an empty or truncated data file before LMDB maps
 * it, then run setup(st, arg) and a walk of every database with memory
 * faults turned into ERR_CORRUPT. err receives the sentence. */
int store_file_precheck(const char *dir, char *err, size_t errlen);
int store_file_check(struct store *st, int (*setup)(struct store *, void *),
		     void *arg, char *err, size_t errlen);

/* store_err - map an LMDB code to ERR_*. */
int store_err(int rc);

/* Big-endian helpers. */
static inline void
be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline void
be64_put(unsigned char *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t
be64_get(const unsigned char *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

/* Value encoder: appends to a caller-owned fixed buffer; sticky error. */
struct enc {
	unsigned char *p;
	size_t len, cap;
	int err;
};

void enc_init(struct enc *e, unsigned char *p, size_t cap);
void enc_u8(struct enc *e, uint8_t v);
void enc_u32(struct enc *e, uint32_t v);
void enc_u64(struct enc *e, uint64_t v);
void enc_str(struct enc *e, const char *s);	/* u16 length + bytes */

/* Value decoder over an MDB_val; sticky error, ERR_CORRUPT on overrun. */
struct dec {
	const unsigned char *p;
	size_t len, off;
	int err;
};

void dec_init(struct dec *d, const MDB_val *v);
uint8_t dec_u8(struct dec *d);
uint32_t dec_u32(struct dec *d);
uint64_t dec_u64(struct dec *d);
void dec_str(struct dec *d, char *out, size_t size);

/* store_walk_prefix - every record whose key starts with prefix[plen], in
 * key order; a non-zero return from each stops the walk and is returned.
 * The MDB_vals live until the next cursor move: copy what must last. */
int store_walk_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix,
		      size_t plen,
		      int (*each)(const MDB_val *k, const MDB_val *v, void *arg),
		      void *arg);

/* Meta counters: next value of a named u64 counter (starts at start). */
int store_meta_next(struct store_wtxn *w, const char *name, uint64_t start,
		    uint64_t *v);

/* Record codecs shared by several files. */
int store_mailbox_decode(const MDB_val *k, const MDB_val *v,
			 struct store_mailbox *m);
int store_mailbox_put(struct store_wtxn *w, const struct store_mailbox *m);
int store_mailbox_create(struct store_wtxn *w, uint32_t account_id,
			 const char *name, uint8_t special,
			 struct store_mailbox *m);
/* store_mailbox_load - by id, inside a write transaction. */
int store_mailbox_load(struct store_wtxn *w, uint32_t mailbox_id,
		       struct store_mailbox *m);
/* store_mailbox_purge - delete a mailbox and release its messages' blobs. */
int store_mailbox_purge(struct store_wtxn *w, const struct store_mailbox *m);
/* store_subscribe_set - subscription of one name on or off. */
int store_subscribe_set(struct store_wtxn *w, uint32_t account_id,
			const char *name, bool on);

/* Messages inside a write transaction (store_msg.c). */
int store_msg_decode(const MDB_val *k, const MDB_val *v, struct store_msg *m);
/* store_msg_add - a new message in mb (uid, modseq from mb, which is
 * updated but not written: the caller puts mb once at the end). */
int store_msg_add(struct store_wtxn *w, struct store_mailbox *mb,
		  struct store_msg *m);
/* store_del_prefix - delete every key of dbi that starts with the 4-byte
 * big-endian id, calling each(k, v) first when given. */
int store_del_prefix(struct store_wtxn *w, MDB_dbi dbi, uint32_t id,
		     int (*each)(struct store_wtxn *, const MDB_val *,
				 const MDB_val *));
/* store_msg_purge_all - drop every message record, index entry and
 * tombstone of a mailbox, releasing the bodies. */
int store_msg_purge_all(struct store_wtxn *w, uint32_t mailbox_id);
/* store_kw_has - is word[len] in the space-separated keyword list (no
 * case)? */
bool store_kw_has(const char *list, const char *word, size_t len);
/* store_mailbox_keywords_add - union keywords into mb->keywords. */
int store_mailbox_keywords_add(struct store_mailbox *mb, const char *kw);

/* store_queue_put_new - a new queue record (store_queue.c); its blob
 * reference must already be counted. ERR_EXISTS if the id is taken. */
int store_queue_put_new(struct store_wtxn *w, struct store_queue *q);

/*
 * The directory (store_dir.c), shared with its searches and imports. Two
 * sets of databases hold it; meta "dir_set" says which one is current,
 * so a bulk import builds the other one in many transactions and makes
 * it current in one.
 */
struct dir_record;
struct dirset {
	MDB_dbi rec, key, idx;
	int which;
};
void dir_set_of(struct store *st, int which, struct dirset *ds);
int dir_set_current(MDB_txn *txn, struct store *st, struct dirset *ds);
int dir_get_txn(MDB_txn *txn, struct store *st, const struct dirset *ds,
		uint32_t id, struct dir_record *rec);
int dir_key_to_id(MDB_txn *txn, MDB_dbi dbi, const char *key,
		  uint32_t *id);
int dir_encode(const struct dir_record *r, uint32_t file_id,
	       unsigned char *vb, size_t cap, size_t *len_r);
int dir_encode_imported(const struct dir_record *r, unsigned char *vb,
			size_t cap, size_t *len_r);
int dir_decode(const MDB_val *v, struct dir_record *r);
int dir_imported_part(const MDB_val *v, const unsigned char **p, size_t *n);
int dir_put_record(MDB_txn *txn, MDB_dbi dbi, struct dir_record *r,
		   uint32_t file_id, unsigned flags);
int dir_put_key(MDB_txn *txn, MDB_dbi dbi, const char *key, uint32_t id);
int dir_index_update(MDB_txn *txn, MDB_dbi dbi, uint32_t id,
		     const struct dir_record *old,
		     const struct dir_record *nw);
int dir_terms_each(const struct dir_record *r,
		   int (*fn)(const unsigned char *term, size_t n, void *arg),
		   void *arg);
int dir_remove_record(MDB_txn *txn, struct store *st,
		      const struct dirset *ds, uint32_t id, const char *key);
void dir_copy_local(struct dir_record *dst, const struct dir_record *src);
int dir_merge(struct dir_record *into, const struct dir_record *from);
int dir_file_register(struct store_wtxn *w, const char *file, uint32_t *id);
#define DIR_VAL_MAX 16384
/* dir_name_key - the folded sort key: family name, \1, given name; or,
 * for a record without a person, DIR_NAME_ORG and the organization's
 * name. */
#define DIR_NAME_ORG 0xff
size_t dir_name_key(const struct dir_record *r, char *out, size_t size);

/* Blob references inside a write transaction. */
int store_blob_put(struct store_wtxn *w, const void *sealed, size_t len,
		   uint64_t size, uint32_t refs, const void *info,
		   size_t info_len, uint64_t *id_r);
int store_blob_ref(struct store_wtxn *w, uint64_t blob_id);
int store_blob_unref(struct store_wtxn *w, uint64_t blob_id);

#endif
