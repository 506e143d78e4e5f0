/* SPDX-License-Identifier: MIT */
/*
 * store_dir.c - directory records in LMDB: their codec, their index
 * entries, and the writes (imports, local records, deletions).
 *
 * A value is [version][u16 length of the imported part][imported part]
 * [local part][provenance]. An import compares the bytes of the imported
 * part only, so a re-import of a daily extract writes just the records
 * whose content changed: the others cost one read and one memcmp. The
 * provenance (file, line, date) is not compared: line numbers shift
 * every day.
 *
 * The index database holds, under a tag byte and a term, the ids of the
 * records that have the term (LMDB duplicates, native integers, so a
 * term's ids are in id order and an import of new records appends).
 */
#include "store_dir.h"

#include <stdlib.h>

#include "store_int.h"

#include "core/err.h"
#include "core/fold.h"
#include "core/str.h"

#define DIR_VERSION 1
#define DIR_VAL_MAX 16384
#define DIR_TERM_MAX 240

/* ---- small helpers of the record model ---- */

static const char *const src_prefix[] = {
	[DIR_SRC_NONE] = "", [DIR_SRC_MSS] = "mss:", [DIR_SRC_PS] = "ps:",
	[DIR_SRC_FHIR] = "fhir:", [DIR_SRC_LOCAL] = "local:",
};
static const char *const src_name[] = {
	[DIR_SRC_NONE] = "none", [DIR_SRC_MSS] = "mss", [DIR_SRC_PS] = "ps",
	[DIR_SRC_FHIR] = "fhir", [DIR_SRC_LOCAL] = "local",
};

const char *
dir_source_prefix(uint8_t src)
{
	return src <= DIR_SRC_LOCAL ? src_prefix[src] : "";
}

const char *
dir_source_name(uint8_t src)
{
	return src <= DIR_SRC_LOCAL ? src_name[src] : "none";
}

uint8_t
dir_source_of_key(const char *key)
{
	for (uint8_t s = DIR_SRC_MSS; s <= DIR_SRC_LOCAL; s++) {
		size_t n = strlen(src_prefix[s]);
		if (strncmp(key, src_prefix[s], n) == 0 && key[n] != '\0')
			return s;
	}
	return DIR_SRC_NONE;
}

static const char *const ch_name[] = { "none", "mail", "push", "sms" };

const char *
dir_channel_name(uint8_t ch)
{
	return ch <= DIR_CH_SMS ? ch_name[ch] : "none";
}

uint8_t
dir_channel_parse(const char *s)
{
	for (uint8_t c = DIR_CH_MAIL; c <= DIR_CH_SMS; c++)
		if (strcmp(s, ch_name[c]) == 0)
			return c;
	return DIR_CH_NONE;
}

void
dir_record_init(struct dir_record *r)
{
	memset(r, 0, sizeof(*r));
	r->quiet_start = -1;
	r->quiet_end = -1;
}

int
dir_record_add_mailbox(struct dir_record *r, const char *addr,
		       const char *type)
{
	char low[STORE_ADDR_MAX];
	const char *at;

	if (str_copy(low, sizeof(low), addr) < 0)
		return ERR_INVAL;
	str_lower(low);
	at = strchr(low, '@');
	if (at == NULL || at == low || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strpbrk(low, " \t\r\n<>|") != NULL)
		return ERR_INVAL;
	for (size_t i = 0; i < r->n_mbox; i++)
		if (strcmp(r->mbox[i].addr, low) == 0)
			return 0;
	if (r->n_mbox == DIR_MBOX_MAX)
		return ERR_LIMIT;
	memcpy(r->mbox[r->n_mbox].addr, low, sizeof(low));
	if (str_copy(r->mbox[r->n_mbox].type, sizeof(r->mbox[0].type),
	    type != NULL && *type != '\0' ? type : "PER") < 0)
		return ERR_INVAL;
	r->n_mbox++;
	return 0;
}

int
dir_record_add_phone(struct dir_record *r, const char *e164)
{
	size_t n = strlen(e164);
	if (n < 4 || n >= DIR_PHONE_LEN || e164[0] != '+' ||
	    strspn(e164 + 1, "0123456789") != n - 1)
		return ERR_INVAL;
	for (size_t i = 0; i < r->n_phone; i++)
		if (strcmp(r->phone[i], e164) == 0)
			return 0;
	if (r->n_phone == DIR_PHONE_MAX)
		return ERR_LIMIT;
	memcpy(r->phone[r->n_phone++], e164, n + 1);
	return 0;
}

/* ---- codec ---- */

#define FS(tag, field) { tag, offsetof(struct dir_record, field), \
	sizeof(((struct dir_record *)0)->field) }

/* The imported strings, in the order they are written. */
static const struct field {
	unsigned char tag;
	size_t off, size;
} imported_fields[] = {
	FS(1, idnat), FS(2, id_type), FS(3, rpps), FS(4, civility),
	FS(5, title), FS(6, family), FS(7, given), FS(8, profession_code),
	FS(9, profession), FS(10, category), FS(11, specialty_code),
	FS(12, specialty), FS(13, role), FS(14, org_id), FS(15, finess),
	FS(16, siret), FS(17, siren), FS(18, org_name), FS(19, service),
	FS(20, street), FS(21, postcode), FS(22, city), FS(23, country),
}, local_fields[] = {
	FS(64, lang), FS(65, cert_ref), FS(66, account),
}, prov_fields[] = {
	FS(96, src_file),
};

enum {
	TAG_MBOX_TYPE = 40, TAG_MBOX_ADDR = 41, TAG_PHONE = 42,
	TAG_PUSH_ENDPOINT = 70, TAG_PUSH_P256DH = 71, TAG_PUSH_AUTH = 72,
	TAG_CHANNEL = 73, TAG_QUIET = 74,
	TAG_SRC_DATE = 97, TAG_SRC_LINE = 98, TAG_KEY = 99,
	TAG_SRC_FILE_ID = 100,
};

/* put_tlv - tag, length (one byte below 128, else two), bytes. */
static void
put_tlv(struct enc *e, unsigned char tag, const void *p, size_t n)
{
	if (e->err)
		return;
	if (n > 0x7fff || e->len + 3 + n > e->cap) {
		e->err = ERR_LIMIT;
		return;
	}
	e->p[e->len++] = tag;
	if (n < 0x80) {
		e->p[e->len++] = (unsigned char)n;
	} else {
		e->p[e->len++] = (unsigned char)(0x80 | n >> 8);
		e->p[e->len++] = (unsigned char)n;
	}
	memcpy(e->p + e->len, p, n);
	e->len += n;
}

static void
put_str(struct enc *e, unsigned char tag, const char *s)
{
	if (*s != '\0')
		put_tlv(e, tag, s, strlen(s));
}

static void
put_fields(struct enc *e, const struct dir_record *r, const struct field *f,
	   size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_str(e, f[i].tag, (const char *)r + f[i].off);
}

static void
put_u64(struct enc *e, unsigned char tag, uint64_t v)
{
	unsigned char b[8];
	be64_put(b, v);
	put_tlv(e, tag, b, 8);
}

/* encode_imported - the part an import compares. */
static int
encode_imported(const struct dir_record *r, struct enc *e)
{
	put_fields(e, r, imported_fields,
	    sizeof(imported_fields) / sizeof(imported_fields[0]));
	for (size_t i = 0; i < r->n_mbox; i++) {
		put_str(e, TAG_MBOX_TYPE, r->mbox[i].type);
		put_str(e, TAG_MBOX_ADDR, r->mbox[i].addr);
	}
	for (size_t i = 0; i < r->n_phone; i++)
		put_str(e, TAG_PHONE, r->phone[i]);
	return e->err;
}

static int
encode(const struct dir_record *r, uint32_t file_id, unsigned char *vb,
       size_t cap, size_t *len_r)
{
	struct enc e;
	size_t ilen;

	enc_init(&e, vb, cap);
	enc_u8(&e, DIR_VERSION);
	enc_u8(&e, 0);
	enc_u8(&e, 0);
	if (e.err || encode_imported(r, &e) < 0)
		return e.err ? e.err : ERR_LIMIT;
	ilen = e.len - 3;
	if (ilen > 0xffff)
		return ERR_LIMIT;
	vb[1] = (unsigned char)(ilen >> 8);
	vb[2] = (unsigned char)ilen;
	put_fields(&e, r, local_fields,
	    sizeof(local_fields) / sizeof(local_fields[0]));
	for (size_t i = 0; i < r->n_push; i++) {
		put_str(&e, TAG_PUSH_ENDPOINT, r->push[i].endpoint);
		put_str(&e, TAG_PUSH_P256DH, r->push[i].p256dh);
		put_str(&e, TAG_PUSH_AUTH, r->push[i].auth);
	}
	if (r->n_channels > 0)
		put_tlv(&e, TAG_CHANNEL, r->channels, r->n_channels);
	if (r->quiet_start >= 0 && r->quiet_end >= 0) {
		unsigned char q[4];
		q[0] = (unsigned char)(r->quiet_start >> 8);
		q[1] = (unsigned char)r->quiet_start;
		q[2] = (unsigned char)(r->quiet_end >> 8);
		q[3] = (unsigned char)r->quiet_end;
		put_tlv(&e, TAG_QUIET, q, 4);
	}
	/* an import names its file once (meta "dir_file:N"), not in each
	 * of a million records */
	if (file_id != 0)
		put_u64(&e, TAG_SRC_FILE_ID, file_id);
	else
		put_fields(&e, r, prov_fields,
		    sizeof(prov_fields) / sizeof(prov_fields[0]));
	put_str(&e, TAG_KEY, r->key);
	put_u64(&e, TAG_SRC_DATE, (uint64_t)r->src_date);
	put_u64(&e, TAG_SRC_LINE, r->src_line);
	*len_r = e.len;
	return e.err;
}

static int
set_str(char *dst, size_t size, const unsigned char *p, size_t n)
{
	if (n >= size)
		return ERR_CORRUPT;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

static const struct field *
find_field(unsigned char tag)
{
	static const struct {
		const struct field *f;
		size_t n;
	} all[] = {
		{ imported_fields, sizeof(imported_fields) /
		    sizeof(imported_fields[0]) },
		{ local_fields, sizeof(local_fields) /
		    sizeof(local_fields[0]) },
		{ prov_fields, sizeof(prov_fields) / sizeof(prov_fields[0]) },
	};
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < all[k].n; i++)
			if (all[k].f[i].tag == tag)
				return &all[k].f[i];
	return NULL;
}

static uint64_t
get_u64(const unsigned char *p, size_t n)
{
	return n == 8 ? be64_get(p) : 0;
}

/* decode_tlv - one field into r; unknown tags are skipped, so a newer
 * writer's additions do not break an older reader. */
static int
decode_tlv(struct dir_record *r, unsigned char tag, const unsigned char *p,
	   size_t n)
{
	const struct field *f = find_field(tag);
	if (f != NULL)
		return set_str((char *)r + f->off, f->size, p, n);
	switch (tag) {
	case TAG_MBOX_TYPE:
		if (r->n_mbox == DIR_MBOX_MAX)
			return ERR_CORRUPT;
		return set_str(r->mbox[r->n_mbox].type,
		    sizeof(r->mbox[0].type), p, n);
	case TAG_MBOX_ADDR:
		if (r->n_mbox == DIR_MBOX_MAX)
			return ERR_CORRUPT;
		return set_str(r->mbox[r->n_mbox++].addr,
		    sizeof(r->mbox[0].addr), p, n);
	case TAG_PHONE:
		if (r->n_phone == DIR_PHONE_MAX)
			return ERR_CORRUPT;
		return set_str(r->phone[r->n_phone++], DIR_PHONE_LEN, p, n);
	case TAG_PUSH_ENDPOINT:
		if (r->n_push == DIR_PUSH_MAX)
			return ERR_CORRUPT;
		return set_str(r->push[r->n_push++].endpoint,
		    DIR_PUSH_ENDPOINT, p, n);
	case TAG_PUSH_P256DH:
	case TAG_PUSH_AUTH:
		if (r->n_push == 0)
			return ERR_CORRUPT;
		if (tag == TAG_PUSH_P256DH)
			return set_str(r->push[r->n_push - 1].p256dh,
			    sizeof(r->push[0].p256dh), p, n);
		return set_str(r->push[r->n_push - 1].auth,
		    sizeof(r->push[0].auth), p, n);
	case TAG_CHANNEL:
		if (n > DIR_CHANNELS_MAX)
			return ERR_CORRUPT;
		memcpy(r->channels, p, n);
		r->n_channels = n;
		return 0;
	case TAG_QUIET:
		if (n != 4)
			return ERR_CORRUPT;
		r->quiet_start = (int16_t)(p[0] << 8 | p[1]);
		r->quiet_end = (int16_t)(p[2] << 8 | p[3]);
		return 0;
	case TAG_SRC_DATE:
		r->src_date = (int64_t)get_u64(p, n);
		return 0;
	case TAG_SRC_LINE:
		r->src_line = (uint32_t)get_u64(p, n);
		return 0;
	case TAG_SRC_FILE_ID:
		/* resolved by the caller, which has a transaction */
		r->src_file[0] = '\0';
		be32_put((unsigned char *)r->src_file + 1,
		    (uint32_t)get_u64(p, n));
		return 0;
	case TAG_KEY:
		return set_str(r->key, sizeof(r->key), p, n);
	default:
		return 0;
	}
}

static int
decode(const MDB_val *v, struct dir_record *r)
{
	const unsigned char *p = v->mv_data;
	size_t n = v->mv_size, i = 3;

	if (n < 3)
		return ERR_CORRUPT;
	if (p[0] != DIR_VERSION)
		return ERR_VERSION;
	while (i < n) {
		unsigned char tag = p[i++];
		size_t len;
		if (i >= n)
			return ERR_CORRUPT;
		len = p[i++];
		if (len & 0x80) {
			if (i >= n)
				return ERR_CORRUPT;
			len = (len & 0x7f) << 8 | p[i++];
		}
		if (len > n - i)
			return ERR_CORRUPT;
		int rc = decode_tlv(r, tag, p + i, len);
		if (rc < 0)
			return rc;
		i += len;
	}
	return 0;
}

/* imported_part - the bytes an import compares, inside a value. */
static int
imported_part(const MDB_val *v, const unsigned char **p, size_t *n)
{
	const unsigned char *b = v->mv_data;
	if (v->mv_size < 3 || b[0] != DIR_VERSION)
		return ERR_CORRUPT;
	*n = (size_t)b[1] << 8 | b[2];
	if (*n > v->mv_size - 3)
		return ERR_CORRUPT;
	*p = b + 3;
	return 0;
}

/* ---- keys and index terms ---- */

static void
id_key(unsigned char kb[4], uint32_t id, MDB_val *k)
{
	be32_put(kb, id);
	k->mv_data = kb;
	k->mv_size = 4;
}

/* The index tags. */
enum {
	IX_NAME = 'N',		/* folded family (or org name) \1 given */
	IX_GIVEN = 'G',
	IX_IDNAT = 'I',
	IX_RPPS = 'R',
	IX_ADDR = 'A',
	IX_PROF = 'P',
	IX_SPEC = 'S',
	IX_POSTCODE = 'C',
	IX_CITY = 'T',
	IX_ORG = 'O',
	IX_ACCOUNT = 'L',
};

struct term {
	unsigned char b[DIR_TERM_MAX + 2];
	size_t n;
};

static void
term_make(struct term *t, unsigned char tag, const char *s)
{
	size_t n = strlen(s);
	if (n > DIR_TERM_MAX)
		n = DIR_TERM_MAX;
	t->b[0] = tag;
	memcpy(t->b + 1, s, n);
	t->n = n + 1;
}

static void
term_fold(struct term *t, unsigned char tag, const char *s)
{
	t->b[0] = tag;
	t->n = 1 + str_fold(s, strlen(s), (char *)t->b + 1, DIR_TERM_MAX + 1);
}

size_t
dir_name_key(const struct dir_record *r, char *out, size_t size)
{
	const char *fam = r->family[0] != '\0' ? r->family : r->org_name;
	size_t n = str_fold(fam, strlen(fam), out, size);
	if (n + 2 < size) {
		out[n++] = '\1';
		n += str_fold(r->given, strlen(r->given), out + n, size - n);
	}
	return n;
}

#define TERMS_MAX (12 + DIR_MBOX_MAX)

/* terms_of - every index entry of a record. */
static size_t
terms_of(const struct dir_record *r, struct term *t)
{
	size_t n = 0;

	t[n].b[0] = IX_NAME;
	t[n].n = 1 + dir_name_key(r, (char *)t[n].b + 1, DIR_TERM_MAX + 1);
	n++;
	if (r->given[0] != '\0')
		term_fold(&t[n++], IX_GIVEN, r->given);
	if (r->idnat[0] != '\0')
		term_make(&t[n++], IX_IDNAT, r->idnat);
	if (r->rpps[0] != '\0')
		term_make(&t[n++], IX_RPPS, r->rpps);
	for (size_t i = 0; i < r->n_mbox; i++)
		term_make(&t[n++], IX_ADDR, r->mbox[i].addr);
	if (r->profession_code[0] != '\0')
		term_make(&t[n++], IX_PROF, r->profession_code);
	if (r->specialty_code[0] != '\0')
		term_make(&t[n++], IX_SPEC, r->specialty_code);
	if (r->postcode[0] != '\0')
		term_make(&t[n++], IX_POSTCODE, r->postcode);
	if (r->city[0] != '\0')
		term_fold(&t[n++], IX_CITY, r->city);
	const char *orgs[4] = { r->org_id, r->finess, r->siret, r->siren };
	for (size_t i = 0; i < 4; i++) {
		bool dup = orgs[i][0] == '\0';
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(orgs[i], orgs[j]) == 0;
		if (!dup)
			term_make(&t[n++], IX_ORG, orgs[i]);
	}
	if (r->account[0] != '\0')
		term_make(&t[n++], IX_ACCOUNT, r->account);
	return n;
}

static bool
term_in(const struct term *t, const struct term *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].n == t->n && memcmp(set[i].b, t->b, t->n) == 0)
			return true;
	return false;
}

/* index_update - remove the terms of old that new has not, add those of
 * new that old had not (either may be NULL). */
static int
index_update(struct store_wtxn *w, uint32_t id, const struct dir_record *old,
	     const struct dir_record *nw)
{
	struct term to[TERMS_MAX], tn[TERMS_MAX];
	size_t no = old ? terms_of(old, to) : 0;
	size_t nn = nw ? terms_of(nw, tn) : 0;
	MDB_dbi dbi = w->st->dbi[DB_DIR_IDX];
	unsigned int idv = id;
	MDB_val k, v = { sizeof(idv), &idv };
	int rc;

	for (size_t i = 0; i < no; i++) {
		if (term_in(&to[i], tn, nn) || term_in(&to[i], to, i))
			continue;
		k.mv_data = to[i].b;
		k.mv_size = to[i].n;
		rc = mdb_del(w->txn, dbi, &k, &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_err(rc);
	}
	for (size_t i = 0; i < nn; i++) {
		if (term_in(&tn[i], to, no))
			continue;
		k.mv_data = tn[i].b;
		k.mv_size = tn[i].n;
		rc = mdb_put(w->txn, dbi, &k, &v, 0);
		if (rc != 0 && rc != MDB_KEYEXIST)
			return store_err(rc);
	}
	return 0;
}

/* ---- reads ---- */

static void
file_meta_key(char *out, size_t size, uint32_t file_id)
{
	(void)str_fmt(out, size, "dir_file:%u", (unsigned)file_id);
}

/* file_name - the import file named by a record's file number. */
static int
file_name(MDB_txn *txn, struct store *st, struct dir_record *rec)
{
	char name[32];
	uint32_t fid;
	MDB_val k, v;
	int rc;

	if (rec->src_file[0] != '\0')
		return 1;
	fid = be32_get((unsigned char *)rec->src_file + 1);
	memset(rec->src_file, 0, 8);
	if (fid == 0)
		return 1;
	file_meta_key(name, sizeof(name), fid);
	k.mv_data = name;
	k.mv_size = strlen(name);
	rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc == 0 && v.mv_size < sizeof(rec->src_file)) {
		memcpy(rec->src_file, v.mv_data, v.mv_size);
		rec->src_file[v.mv_size] = '\0';
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return store_err(rc);
	}
	return 1;
}

int
dir_get_txn(MDB_txn *txn, struct store *st, uint32_t id,
	    struct dir_record *rec)
{
	unsigned char kb[4];
	MDB_val k, v;
	int rc;

	id_key(kb, id, &k);
	rc = mdb_get(txn, st->dbi[DB_DIR], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	dir_record_init(rec);
	rec->id = id;
	if ((rc = decode(&v, rec)) < 0)
		return rc;
	return file_name(txn, st, rec);
}

static int
key_to_id(MDB_txn *txn, struct store *st, const char *key, uint32_t *id)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc;

	if (k.mv_size == 0 || k.mv_size >= DIR_KEY_MAX)
		return 0;
	rc = mdb_get(txn, st->dbi[DB_DIR_KEY], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	if (v.mv_size != 4)
		return ERR_CORRUPT;
	*id = be32_get(v.mv_data);
	return 1;
}

int
store_dir_get(struct store_rtxn *r, uint32_t id, struct dir_record *rec)
{
	return dir_get_txn(r->txn, r->st, id, rec);
}

int
store_dir_get_key(struct store_rtxn *r, const char *key,
		  struct dir_record *rec)
{
	uint32_t id;
	int rc = key_to_id(r->txn, r->st, key, &id);
	if (rc <= 0)
		return rc;
	rc = dir_get_txn(r->txn, r->st, id, rec);
	return rc == 0 ? ERR_CORRUPT : rc;
}

/* ---- writes ---- */

static int
put_record(struct store_wtxn *w, struct dir_record *r, uint32_t file_id,
	   unsigned flags)
{
	unsigned char kb[4];
	static __thread unsigned char vb[DIR_VAL_MAX];
	MDB_val k, v;
	size_t len = 0;
	int rc = encode(r, file_id, vb, sizeof(vb), &len);

	if (rc < 0)
		return rc;
	id_key(kb, r->id, &k);
	v.mv_data = vb;
	v.mv_size = len;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_DIR], &k, &v, flags));
}

static int
put_key(struct store_wtxn *w, const char *key, uint32_t id)
{
	unsigned char vb[4];
	MDB_val k = { strlen(key), (void *)key }, v = { 4, vb };
	if (k.mv_size == 0 || k.mv_size >= DIR_KEY_MAX)
		return ERR_INVAL;
	be32_put(vb, id);
	return store_err(mdb_put(w->txn, w->st->dbi[DB_DIR_KEY], &k, &v, 0));
}

static int
next_id(struct store_wtxn *w, uint32_t *id)
{
	uint64_t v;
	int rc = store_meta_next(w, "dir_next_id", 1, &v);
	if (rc < 0)
		return rc;
	if (v > UINT32_MAX)
		return ERR_LIMIT;
	*id = (uint32_t)v;
	return 0;
}

/* remove_record - the record, its key and its index entries. */
static int
remove_record(struct store_wtxn *w, uint32_t id, const char *key)
{
	struct dir_record *old = malloc(sizeof(*old));
	unsigned char kb[4];
	MDB_val k;
	int rc;

	if (old == NULL)
		return ERR_NOMEM;
	rc = dir_get_txn(w->txn, w->st, id, old);
	if (rc == 1)
		rc = index_update(w, id, old, NULL);
	free(old);
	if (rc < 0)
		return rc;
	id_key(kb, id, &k);
	rc = mdb_del(w->txn, w->st->dbi[DB_DIR], &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_del(w->txn, w->st->dbi[DB_DIR_KEY], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static void
copy_local(struct dir_record *dst, const struct dir_record *src)
{
	memcpy(dst->push, src->push, sizeof(dst->push));
	dst->n_push = src->n_push;
	memcpy(dst->channels, src->channels, sizeof(dst->channels));
	dst->n_channels = src->n_channels;
	dst->quiet_start = src->quiet_start;
	dst->quiet_end = src->quiet_end;
	memcpy(dst->lang, src->lang, sizeof(dst->lang));
	memcpy(dst->cert_ref, src->cert_ref, sizeof(dst->cert_ref));
	memcpy(dst->account, src->account, sizeof(dst->account));
}

/* ---- imports ---- */

/* file_register - a number for the file an import reads. */
static int
file_register(struct store_wtxn *w, const char *file, uint32_t *id)
{
	char name[32];
	uint64_t v64;
	MDB_val k, v;
	int rc = store_meta_next(w, "dir_file_next", 1, &v64);

	if (rc < 0)
		return rc;
	if (v64 > UINT32_MAX)
		return ERR_LIMIT;
	*id = (uint32_t)v64;
	file_meta_key(name, sizeof(name), *id);
	k.mv_data = name;
	k.mv_size = strlen(name);
	v.mv_data = (void *)file;
	v.mv_size = strlen(file);
	return store_err(mdb_put(w->txn, w->st->dbi[DB_META], &k, &v, 0));
}

struct dir_import_state {
	uint8_t *seen;			/* bitmap by record id */
	size_t seen_bits;
	uint32_t next_id;		/* the id counter, kept in memory */
	uint32_t file_id;		/* this import's file number */
	struct dir_record old;		/* scratch */
	unsigned char vb[DIR_VAL_MAX];
};

static int
seen_mark(struct dir_import_state *s, uint32_t id)
{
	if (id >= s->seen_bits) {
		size_t bits = s->seen_bits ? s->seen_bits : 1 << 16;
		while (bits <= id)
			bits *= 2;
		uint8_t *p = realloc(s->seen, bits / 8);
		if (p == NULL)
			return ERR_NOMEM;
		memset(p + s->seen_bits / 8, 0, (bits - s->seen_bits) / 8);
		s->seen = p;
		s->seen_bits = bits;
	}
	s->seen[id / 8] |= (uint8_t)(1u << (id % 8));
	return 0;
}

static bool
seen_has(const struct dir_import_state *s, uint32_t id)
{
	return id < s->seen_bits && (s->seen[id / 8] & (1u << (id % 8)));
}

/* merge - a second line for the same key: its mailboxes and phones join
 * the first's; 1 when the record changed. */
static int
merge(struct dir_record *into, const struct dir_record *from)
{
	size_t nm = into->n_mbox, np = into->n_phone;
	for (size_t i = 0; i < from->n_mbox; i++)
		if (dir_record_add_mailbox(into, from->mbox[i].addr,
		    from->mbox[i].type) == ERR_LIMIT)
			break;
	for (size_t i = 0; i < from->n_phone; i++)
		if (dir_record_add_phone(into, from->phone[i]) == ERR_LIMIT)
			break;
	return into->n_mbox != nm || into->n_phone != np;
}

int
store_dir_import_put(struct dir_import *imp, struct dir_record *rec)
{
	struct dir_import_state *s = imp->st;
	struct store_wtxn *w = imp->w;
	uint32_t id;
	int rc;

	if (dir_source_of_key(rec->key) != imp->source)
		return ERR_INVAL;
	rec->src_date = imp->now;
	if (s->file_id == 0 && (rc = file_register(w, rec->src_file,
	    &s->file_id)) < 0)
		return rc;
	rc = key_to_id(w->txn, w->st, rec->key, &id);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* new: ids only grow, so the record appends */
		rec->id = s->next_id++;
		rec->n_push = 0;
		rec->n_channels = 0;
		rec->quiet_start = rec->quiet_end = -1;
		rec->lang[0] = rec->cert_ref[0] = rec->account[0] = '\0';
		if ((rc = put_record(w, rec, s->file_id, MDB_APPEND)) < 0 ||
		    (rc = put_key(w, rec->key, rec->id)) < 0 ||
		    (rc = index_update(w, rec->id, NULL, rec)) < 0 ||
		    (rc = seen_mark(s, rec->id)) < 0)
			return rc;
		imp->added_r++;
		return 0;
	}
	rec->id = id;
	if (seen_has(s, id)) {
		imp->merged_r++;
		rc = dir_get_txn(w->txn, w->st, id, &s->old);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_CORRUPT;
		struct dir_record *cur = &s->old;
		/* cur is rewritten with the mailboxes of both */
		struct dir_record before = *cur;
		if (!merge(cur, rec))
			return 0;
		if ((rc = index_update(w, id, &before, cur)) < 0)
			return rc;
		return put_record(w, cur, s->file_id, 0);
	}
	if ((rc = seen_mark(s, id)) < 0)
		return rc;

	/* compare the imported parts, bytes for bytes */
	unsigned char kb[4];
	MDB_val k, v;
	const unsigned char *op;
	size_t on;
	struct enc e;
	id_key(kb, id, &k);
	rc = mdb_get(w->txn, w->st->dbi[DB_DIR], &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? ERR_CORRUPT : store_err(rc);
	if ((rc = imported_part(&v, &op, &on)) < 0)
		return rc;
	enc_init(&e, s->vb, sizeof(s->vb));
	if ((rc = encode_imported(rec, &e)) < 0)
		return rc;
	if (e.len == on && memcmp(op, s->vb, on) == 0) {
		imp->unchanged_r++;
		return 0;
	}
	dir_record_init(&s->old);
	s->old.id = id;
	if ((rc = decode(&v, &s->old)) < 0)
		return rc;
	copy_local(rec, &s->old);
	if ((rc = index_update(w, id, &s->old, rec)) < 0 ||
	    (rc = put_record(w, rec, s->file_id, 0)) < 0)
		return rc;
	imp->changed_r++;
	return 0;
}

struct gone {
	uint32_t *ids;
	char (*keys)[DIR_KEY_MAX];
	size_t n, cap;
	const struct dir_import_state *s;
};

static int
collect_gone(const MDB_val *k, const MDB_val *v, void *arg)
{
	struct gone *g = arg;
	uint32_t id;

	if (v->mv_size != 4 || k->mv_size >= DIR_KEY_MAX)
		return ERR_CORRUPT;
	id = be32_get(v->mv_data);
	if (seen_has(g->s, id))
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		uint32_t *ids = realloc(g->ids, cap * sizeof(*ids));
		if (ids == NULL)
			return ERR_NOMEM;
		g->ids = ids;
		char (*keys)[DIR_KEY_MAX] = realloc(g->keys,
		    cap * sizeof(*keys));
		if (keys == NULL)
			return ERR_NOMEM;
		g->keys = keys;
		g->cap = cap;
	}
	g->ids[g->n] = id;
	memcpy(g->keys[g->n], k->mv_data, k->mv_size);
	g->keys[g->n][k->mv_size] = '\0';
	g->n++;
	return 0;
}

static int
import_finish(struct dir_import *imp)
{
	struct store_wtxn *w = imp->w;
	const char *pfx = dir_source_prefix(imp->source);
	struct gone g = { NULL, NULL, 0, 0, imp->st };
	char name[32];
	unsigned char vb[8];
	MDB_val k, v;
	int rc;

	rc = store_walk_prefix(w->txn, w->st->dbi[DB_DIR_KEY], pfx,
	    strlen(pfx), collect_gone, &g);
	for (size_t i = 0; rc == 0 && i < g.n; i++)
		rc = remove_record(w, g.ids[i], g.keys[i]);
	imp->removed_r = rc == 0 ? g.n : 0;
	free(g.ids);
	free(g.keys);
	if (rc < 0)
		return rc;
	/* the id counter and the time of this source's import */
	be64_put(vb, imp->st->next_id);
	k.mv_data = "dir_next_id";
	k.mv_size = strlen("dir_next_id");
	v.mv_data = vb;
	v.mv_size = 8;
	if ((rc = mdb_put(w->txn, w->st->dbi[DB_META], &k, &v, 0)) != 0)
		return store_err(rc);
	if (str_fmt(name, sizeof(name), "dir_import_%s",
	    dir_source_name(imp->source)) < 0)
		return ERR_LIMIT;
	be64_put(vb, (uint64_t)imp->now);
	k.mv_data = name;
	k.mv_size = strlen(name);
	return store_err(mdb_put(w->txn, w->st->dbi[DB_META], &k, &v, 0));
}

int
store_op_dir_import(struct store_wtxn *w, void *arg)
{
	struct dir_import *imp = arg;
	struct dir_import_state *s;
	uint64_t next;
	int rc;

	if (imp->source == DIR_SRC_NONE || imp->source > DIR_SRC_LOCAL ||
	    imp->run == NULL)
		return ERR_INVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ERR_NOMEM;
	imp->added_r = imp->changed_r = imp->removed_r = 0;
	imp->unchanged_r = imp->merged_r = 0;
	imp->w = w;
	imp->st = s;
	if (imp->now == 0)
		imp->now = (int64_t)time(NULL);
	rc = store_meta_next(w, "dir_next_id", 1, &next);
	if (rc == 0) {
		s->next_id = next > UINT32_MAX ? 0 : (uint32_t)next;
		rc = s->next_id == 0 ? ERR_LIMIT : 0;
	}
	if (rc == 0)
		rc = imp->run(imp->ctx, imp);
	if (rc == 0 && imp->added_r + imp->changed_r + imp->unchanged_r == 0)
		rc = ERR_PROTO;		/* an empty extract removes nothing */
	if (rc == 0)
		rc = import_finish(imp);
	free(s->seen);
	free(s);
	imp->st = NULL;
	imp->w = NULL;
	return rc;
}

/* ---- local records and deletions ---- */

int
store_op_dir_set(struct store_wtxn *w, void *arg)
{
	struct dir_set_op *op = arg;
	struct dir_record *rec = op->rec;
	struct dir_record *old;
	uint32_t id = 0;
	int rc;

	if (dir_source_of_key(rec->key) == DIR_SRC_NONE)
		return ERR_INVAL;
	rc = key_to_id(w->txn, w->st, rec->key, &id);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* only local records are made by hand: an imported one
		 * would be removed by the next import of its source */
		if (dir_source_of_key(rec->key) != DIR_SRC_LOCAL)
			return ERR_NOTFOUND;
		if ((rc = next_id(w, &rec->id)) < 0 ||
		    (rc = put_record(w, rec, 0, 0)) < 0 ||
		    (rc = put_key(w, rec->key, rec->id)) < 0 ||
		    (rc = index_update(w, rec->id, NULL, rec)) < 0)
			return rc;
		op->id_r = rec->id;
		op->created_r = true;
		return 0;
	}
	old = malloc(sizeof(*old));
	if (old == NULL)
		return ERR_NOMEM;
	rc = dir_get_txn(w->txn, w->st, id, old);
	if (rc == 0)
		rc = ERR_CORRUPT;
	if (rc > 0) {
		struct dir_record *nw = rec;
		if (dir_source_of_key(rec->key) != DIR_SRC_LOCAL) {
			/* keep what the import brought; take the local part */
			copy_local(old, rec);
			nw = old;
			struct dir_record *prev = malloc(sizeof(*prev));
			if (prev == NULL) {
				free(old);
				return ERR_NOMEM;
			}
			rc = dir_get_txn(w->txn, w->st, id, prev);
			nw->id = id;
			if (rc > 0)
				rc = index_update(w, id, prev, nw);
			free(prev);
		} else {
			rec->id = id;
			rc = index_update(w, id, old, rec);
		}
		if (rc >= 0)
			rc = put_record(w, nw, 0, 0);
	}
	free(old);
	op->id_r = id;
	op->created_r = false;
	return rc < 0 ? rc : 0;
}

int
store_op_dir_del(struct store_wtxn *w, void *arg)
{
	struct dir_set_op *op = arg;
	char key[DIR_KEY_MAX];
	uint32_t id = op->id;
	int rc;

	if (id == 0) {
		if (op->key == NULL)
			return ERR_INVAL;
		rc = key_to_id(w->txn, w->st, op->key, &id);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_NOTFOUND;
		if (str_copy(key, sizeof(key), op->key) < 0)
			return ERR_INVAL;
	} else {
		struct dir_record *r = malloc(sizeof(*r));
		if (r == NULL)
			return ERR_NOMEM;
		rc = dir_get_txn(w->txn, w->st, id, r);
		if (rc > 0 && str_copy(key, sizeof(key), r->key) < 0)
			rc = ERR_CORRUPT;
		free(r);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_NOTFOUND;
	}
	op->id_r = id;
	return remove_record(w, id, key);
}
