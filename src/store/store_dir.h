/* SPDX-License-Identifier: MIT */
/*
 * store_dir.h - the professional directory as the store keeps it: one
 * record per professional activity or per mailbox (see doc/DIRECTORY.md),
 * secondary indexes for the searches the gateway and its administrators
 * make, incremental imports in one write transaction, and searches.
 *
 * A record has two parts. The imported part comes from a national extract
 * or a FHIR bundle and is replaced by the next import of the same source;
 * the local part (Web Push subscriptions, notification preferences,
 * encryption certificate, linked account) is the gateway's own and
 * survives re-imports. Every string is UTF-8, bounded by its array.
 */
#ifndef MSS_STORE_DIR_H
#define MSS_STORE_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define DIR_KEY_MAX 192		/* natural key: "mss:ADDRESS", "ps:..." */
#define DIR_STR 128		/* most text fields */
#define DIR_LONG 256		/* organization names, street lines */
#define DIR_CODE 16		/* codes: profession, civility, postcode */
#define DIR_ID 40		/* national identifiers */
#define DIR_MBOX_MAX 8
#define DIR_PHONE_MAX 4
#define DIR_PHONE_LEN 20	/* E.164: "+" and up to 15 digits */
#define DIR_PUSH_MAX 4
#define DIR_PUSH_ENDPOINT 512
#define DIR_CHANNELS_MAX 4

/* Where a record comes from: the first part of its natural key. */
enum dir_source {
	DIR_SRC_NONE = 0,
	DIR_SRC_MSS,		/* "mss:" Extraction_Correspondance_MSSante */
	DIR_SRC_PS,		/* "ps:" PS_LibreAcces_Personne_activite */
	DIR_SRC_FHIR,		/* "fhir:" FHIR R4 Bundle */
	DIR_SRC_LOCAL,		/* "local:" mssgate dir set */
};
const char *dir_source_prefix(uint8_t src);	/* "mss:" ... */
const char *dir_source_name(uint8_t src);	/* "mss", "ps" ... */
/* dir_source_of_key - from the prefix of a natural key (NONE if none). */
uint8_t dir_source_of_key(const char *key);

struct dir_mailbox {
	char addr[STORE_ADDR_MAX];	/* lower case */
	char type[4];			/* BAL type: PER, CAB, ORG, APP */
};

struct dir_push {
	char endpoint[DIR_PUSH_ENDPOINT];	/* https URL (RFC 8030) */
	char p256dh[100];		/* base64url, 65-byte P-256 point */
	char auth[32];			/* base64url, 16-byte secret */
};

enum dir_channel {
	DIR_CH_NONE = 0,
	DIR_CH_MAIL,
	DIR_CH_PUSH,
	DIR_CH_SMS,
};
const char *dir_channel_name(uint8_t ch);	/* "mail", "push", "sms" */
/* dir_channel_parse - "mail" -> DIR_CH_MAIL; DIR_CH_NONE if unknown. */
uint8_t dir_channel_parse(const char *s);

struct dir_record {
	uint32_t id;			/* 0 until stored */
	char key[DIR_KEY_MAX];		/* natural key, unique */

	/* ---- imported part ---- */
	/* person */
	char idnat[DIR_ID];		/* IdNat_PS: "8"+RPPS or "0"+ADELI */
	char id_type[4];		/* type digit: "8", "0", "3"... */
	char rpps[DIR_CODE];		/* 11 digits when the type is 8 */
	char civility[DIR_CODE];	/* code d'exercice: "DR", "M", "MME" */
	char title[DIR_STR];		/* its label: "Docteur" */
	char family[DIR_STR];		/* nom d'exercice */
	char given[DIR_STR];		/* prénom d'exercice */
	char profession_code[DIR_CODE];	/* TRE_G15: "10" */
	char profession[DIR_STR];	/* "Médecin" */
	char category[DIR_CODE];	/* catégorie professionnelle: "C" */
	char specialty_code[DIR_CODE];	/* savoir-faire: "SM54" */
	char specialty[DIR_STR];	/* "Médecine générale" */
	char role[DIR_STR];		/* mode d'exercice or function */
	/* organization */
	char org_id[DIR_ID];		/* structure id as the source gives it */
	char finess[DIR_CODE];
	char siret[DIR_CODE];
	char siren[DIR_CODE];
	char org_name[DIR_LONG];	/* raison sociale */
	char service[DIR_STR];		/* service de rattachement */
	/* address */
	char street[DIR_LONG];		/* number, type and name of the way */
	char postcode[DIR_CODE];
	char city[DIR_STR];
	char country[DIR_STR];
	/* contacts */
	size_t n_mbox;
	struct dir_mailbox mbox[DIR_MBOX_MAX];
	size_t n_phone;
	char phone[DIR_PHONE_MAX][DIR_PHONE_LEN];	/* E.164 */

	/* ---- local part: kept across imports ---- */
	size_t n_push;
	struct dir_push push[DIR_PUSH_MAX];
	size_t n_channels;
	uint8_t channels[DIR_CHANNELS_MAX];	/* allowed, in order */
	int16_t quiet_start;		/* minutes after midnight, -1: none */
	int16_t quiet_end;
	char lang[8];			/* "fr" */
	char cert_ref[DIR_STR];		/* S/MIME encryption certificate */
	char account[STORE_ADDR_MAX];	/* linked local account login */

	/* ---- provenance of the imported part (not compared) ---- */
	char src_file[DIR_LONG];
	int64_t src_date;		/* when it was imported */
	uint32_t src_line;
};

/* dir_record_init - empty record (no quiet hours). */
void dir_record_init(struct dir_record *r);
/* dir_record_add_mailbox - add (lower-cased) unless already there;
 * ERR_LIMIT when full, ERR_INVAL when not an address. */
int dir_record_add_mailbox(struct dir_record *r, const char *addr,
			   const char *type);
/* dir_record_add_phone - an E.164 number, unless already there. */
int dir_record_add_phone(struct dir_record *r, const char *e164);

/* ---- reads ---- */

/* store_dir_get - by record id; 1 found, 0 not, <0 error. */
int store_dir_get(struct store_rtxn *r, uint32_t id, struct dir_record *rec);
/* store_dir_get_key - by natural key. */
int store_dir_get_key(struct store_rtxn *r, const char *key,
		      struct dir_record *rec);

/*
 * A search. Exact criteria: idnat, rpps, address, profession, specialty,
 * postcode, org (FINESS, SIRET, SIREN or structure id). Prefix criteria,
 * folded (no case, no accents: "hél" finds "Hélène"): family, given,
 * city (a whole folded city name also matches exactly). Every criterion
 * given must hold. Results are ordered by folded family name, then given
 * name, then record id; offset and limit make pages of that order.
 */
struct dir_query {
	const char *idnat;
	const char *rpps;
	const char *address;
	const char *family;
	const char *given;
	const char *profession;
	const char *specialty;
	const char *postcode;
	const char *city;
	const char *org;
	size_t offset;
	size_t limit;			/* 0: DIR_QUERY_LIMIT_DEFAULT */
};
#define DIR_QUERY_LIMIT_DEFAULT 20
#define DIR_QUERY_LIMIT_MAX 1000
#define DIR_QUERY_OFFSET_MAX 100000

/*
 * store_dir_search - cb for each record of the page, in order. *more_r
 * says whether a record follows the page. ERR_INVAL when the query has no
 * criterion or an unbounded one (names of fewer than 1 character), or
 * limit/offset too large.
 */
int store_dir_search(struct store_rtxn *r, const struct dir_query *q,
		     int (*cb)(const struct dir_record *, void *), void *arg,
		     bool *more_r);

/*
 * store_dir_resolve - what the alerting engine calls: "what" is a
 * national id (IdNat_PS), an RPPS, a mailbox address, "record:ID", a
 * natural key, or "role:PROFESSION@ORG" (every record of that profession
 * code or role label within an organization id). cb gets each record;
 * returns how many were found, or <0.
 */
int store_dir_resolve(struct store_rtxn *r, const char *what,
		      int (*cb)(const struct dir_record *, void *), void *arg);

/* store_dir_has_address - 1 if a record lists this mailbox address. */
int store_dir_has_address(struct store_rtxn *r, const char *addr);

struct dir_stats {
	uint64_t records;
	uint64_t by_source[5];		/* indexed by enum dir_source */
	uint64_t mailboxes;
	uint64_t with_push;
	uint64_t with_phone;
	int64_t last_import[5];		/* time of the last import per source */
};
int store_dir_stats(struct store_rtxn *r, struct dir_stats *s);

/* ---- writes ---- */

/*
 * store_dir_import - one import of one source, seen by readers all at
 * once: they see the old directory or the new one, and a failure leaves
 * the old one whole. run(ctx, imp) reads the file and hands each record
 * to store_dir_import_put; it may be called twice (imp->pass says which
 * time: a first pass only counts, to choose between applying the changes
 * in one transaction and rebuilding the other set of databases, see
 * store_dir_import.c). Records of the same source that run did not put
 * are removed. The counts say what changed; mode_r how ("in place" or
 * "rebuilt"). ERR_TEMP when another import or edit holds the directory,
 * ERR_PROTO when the file had no valid record (which would otherwise
 * remove everything).
 */
struct dir_import_state;
struct dir_import {
	uint8_t source;
	int (*run)(void *ctx, struct dir_import *imp);
	void *ctx;
	int64_t now;
	uint64_t inplace_max;		/* most changes applied in place;
					 * 0: DIR_INPLACE_MAX */
	bool rebuild;			/* rebuild whatever the changes */
	unsigned pass;			/* 1, 2: for run */
	/* counts out */
	uint64_t added_r, changed_r, removed_r, unchanged_r, merged_r;
	const char *mode_r;
	/* private to the store */
	struct dir_import_state *st;
};
int store_dir_import(struct store *st, struct dir_import *imp);
/* store_dir_lock - the directory's lock file (an fd >= 0), held by an
 * import and by local edits; ERR_TEMP when busy and !wait. */
int store_dir_lock(struct store *st, bool wait);
void store_dir_unlock(int *fd);
/*
 * store_dir_import_put - inside run: rec (whose key must belong to the
 * import's source) is added, changed or found unchanged; its local part
 * is ignored (the stored one is kept). A second record with the same key
 * in one import is merged into the first (mailboxes, phones) and counted
 * in merged_r.
 */
int store_dir_import_put(struct dir_import *imp, struct dir_record *rec);

/* op arg for set (add or replace the record with rec->key, keeping the
 * imported part of an imported record unless rec is local: only its local
 * part is then written) and del (by id or key; imported records come
 * back with the next import). */
struct dir_set_op {
	struct dir_record *rec;		/* set; id_r filled */
	uint32_t id;			/* del */
	const char *key;		/* del, when id is 0 */
	uint32_t id_r;
	bool created_r;
};
int store_op_dir_set(struct store_wtxn *w, void *arg);
int store_op_dir_del(struct store_wtxn *w, void *arg);

#endif
