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

int
dir_encode_imported(const struct dir_record *r, unsigned char *vb, size_t cap,
		    size_t *len_r)
{
	struct enc e;
	enc_init(&e, vb, cap);
	int rc = encode_imported(r, &e);
	*len_r = e.len;
	return rc;
}

int
dir_encode(const struct dir_record *r, uint32_t file_id, unsigned char *vb,
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

int
dir_decode(const MDB_val *v, struct dir_record *r)
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
int
dir_imported_part(const MDB_val *v, const unsigned char **p, size_t *n)
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
	/* no RPPS index: an RPPS is found as the IdNat_PS "8" + RPPS */
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
	size_t n = 0;

	if (size < 4) {
		out[0] = '\0';
		return 0;
	}
	if (r->family[0] == '\0') {
		/* no person: the organization's name, after every person
		 * (0xff is never in UTF-8), so that a name prefix walks the
		 * people first and pharmacies or laboratories do not stand
		 * between "ph" and the pharmacists */
		out[n++] = (char)DIR_NAME_ORG;
		return n + str_fold(r->org_name, strlen(r->org_name),
		    out + n, size - n);
	}
	n = str_fold(r->family, strlen(r->family), out, size);
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

int
dir_terms_each(const struct dir_record *r,
	       int (*fn)(const unsigned char *term, size_t n, void *arg),
	       void *arg)
{
	struct term t[TERMS_MAX];
	size_t n = terms_of(r, t);
	for (size_t i = 0; i < n; i++) {
		int rc = fn(t[i].b, t[i].n, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
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
int
dir_index_update(MDB_txn *txn, MDB_dbi dbi, uint32_t id,
		 const struct dir_record *old, const struct dir_record *nw)
{
	struct term to[TERMS_MAX], tn[TERMS_MAX];
	size_t no = old ? terms_of(old, to) : 0;
	size_t nn = nw ? terms_of(nw, tn) : 0;
	unsigned int idv = id;
	MDB_val k, v = { sizeof(idv), &idv };
	int rc;

	for (size_t i = 0; i < no; i++) {
		if (term_in(&to[i], tn, nn) || term_in(&to[i], to, i))
			continue;
		k.mv_data = to[i].b;
		k.mv_size = to[i].n;
		rc = mdb_del(txn, dbi, &k, &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_err(rc);
	}
	for (size_t i = 0; i < nn; i++) {
		if (term_in(&tn[i], to, no))
			continue;
		k.mv_data = tn[i].b;
		k.mv_size = tn[i].n;
		rc = mdb_put(txn, dbi, &k, &v, 0);
		if (rc != 0 && rc != MDB_KEYEXIST)
			return store_err(rc);
	}
	return 0;
}

/* ---- the two sets ---- */

void
dir_set_of(struct store *st, int which, struct dirset *ds)
{
	ds->which = which;
	ds->rec = st->dbi[which ? DB_DIR_B : DB_DIR];
	ds->key = st->dbi[which ? DB_DIR_KEY_B : DB_DIR_KEY];
	ds->idx = st->dbi[which ? DB_DIR_IDX_B : DB_DIR_IDX];
}

int
dir_set_current(MDB_txn *txn, struct store *st, struct dirset *ds)
{
	MDB_val k = { 7, "dir_set" }, v;
	int rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);
	dir_set_of(st, rc == 0 && v.mv_size == 1 &&
	    *(unsigned char *)v.mv_data == 1, ds);
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
dir_get_txn(MDB_txn *txn, struct store *st, const struct dirset *ds,
	    uint32_t id, struct dir_record *rec)
{
	unsigned char kb[4];
	MDB_val k, v;
	int rc;

	id_key(kb, id, &k);
	rc = mdb_get(txn, ds->rec, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	dir_record_init(rec);
	rec->id = id;
	if ((rc = dir_decode(&v, rec)) < 0)
		return rc;
	return file_name(txn, st, rec);
}

int
dir_key_to_id(MDB_txn *txn, MDB_dbi dbi, const char *key, uint32_t *id)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc;

	if (k.mv_size == 0 || k.mv_size >= DIR_KEY_MAX)
		return 0;
	rc = mdb_get(txn, dbi, &k, &v);
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
	struct dirset ds;
	int rc = dir_set_current(r->txn, r->st, &ds);
	return rc < 0 ? rc : dir_get_txn(r->txn, r->st, &ds, id, rec);
}

int
store_dir_get_key(struct store_rtxn *r, const char *key,
		  struct dir_record *rec)
{
	struct dirset ds;
	uint32_t id;
	int rc = dir_set_current(r->txn, r->st, &ds);
	if (rc < 0)
		return rc;
	rc = dir_key_to_id(r->txn, ds.key, key, &id);
	if (rc <= 0)
		return rc;
	rc = dir_get_txn(r->txn, r->st, &ds, id, rec);
	return rc == 0 ? ERR_CORRUPT : rc;
}

/* ---- writes ---- */

int
dir_put_record(MDB_txn *txn, MDB_dbi dbi, struct dir_record *r,
	       uint32_t file_id, unsigned flags)
{
	unsigned char kb[4];
	static __thread unsigned char vb[DIR_VAL_MAX];
	MDB_val k, v;
	size_t len = 0;
	int rc = dir_encode(r, file_id, vb, sizeof(vb), &len);

	if (rc < 0)
		return rc;
	id_key(kb, r->id, &k);
	v.mv_data = vb;
	v.mv_size = len;
	return store_err(mdb_put(txn, dbi, &k, &v, flags));
}

int
dir_put_key(MDB_txn *txn, MDB_dbi dbi, const char *key, uint32_t id)
{
	unsigned char vb[4];
	MDB_val k = { strlen(key), (void *)key }, v = { 4, vb };
	if (k.mv_size == 0 || k.mv_size >= DIR_KEY_MAX)
		return ERR_INVAL;
	be32_put(vb, id);
	return store_err(mdb_put(txn, dbi, &k, &v, 0));
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
int
dir_remove_record(MDB_txn *txn, struct store *st, const struct dirset *ds,
		  uint32_t id, const char *key)
{
	struct dir_record *old = malloc(sizeof(*old));
	unsigned char kb[4];
	MDB_val k;
	int rc;

	if (old == NULL)
		return ERR_NOMEM;
	rc = dir_get_txn(txn, st, ds, id, old);
	if (rc == 1)
		rc = dir_index_update(txn, ds->idx, id, old, NULL);
	free(old);
	if (rc < 0)
		return rc;
	id_key(kb, id, &k);
	rc = mdb_del(txn, ds->rec, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_del(txn, ds->key, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

void
dir_copy_local(struct dir_record *dst, const struct dir_record *src)
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

/* file_register - a number for the file an import reads. */
int
dir_file_register(struct store_wtxn *w, const char *file, uint32_t *id)
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

/* merge - a second line for the same key: its mailboxes and phones join
 * the first's; 1 when the record changed. */
int
dir_merge(struct dir_record *into, const struct dir_record *from)
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

/* ---- local records and deletions ---- */

int
store_op_dir_set(struct store_wtxn *w, void *arg)
{
	struct dir_set_op *op = arg;
	struct dir_record *rec = op->rec;
	struct dir_record *old;
	struct dirset ds;
	uint32_t id = 0;
	int rc, lock;

	if (dir_source_of_key(rec->key) == DIR_SRC_NONE)
		return ERR_INVAL;
	/* not while an import rebuilds: the edit would be lost */
	if ((lock = store_dir_lock(w->st, false)) < 0)
		return lock;
	store_dir_unlock(&lock);
	if ((rc = dir_set_current(w->txn, w->st, &ds)) < 0)
		return rc;
	rc = dir_key_to_id(w->txn, ds.key, rec->key, &id);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* only local records are made by hand: an imported one
		 * would be removed by the next import of its source */
		if (dir_source_of_key(rec->key) != DIR_SRC_LOCAL)
			return ERR_NOTFOUND;
		if ((rc = next_id(w, &rec->id)) < 0 ||
		    (rc = dir_put_record(w->txn, ds.rec, rec, 0, 0)) < 0 ||
		    (rc = dir_put_key(w->txn, ds.key, rec->key, rec->id)) < 0 ||
		    (rc = dir_index_update(w->txn, ds.idx, rec->id, NULL,
		    rec)) < 0)
			return rc;
		op->id_r = rec->id;
		op->created_r = true;
		return 0;
	}
	old = malloc(sizeof(*old));
	if (old == NULL)
		return ERR_NOMEM;
	rc = dir_get_txn(w->txn, w->st, &ds, id, old);
	if (rc == 0)
		rc = ERR_CORRUPT;
	if (rc > 0) {
		struct dir_record *nw = rec;
		if (dir_source_of_key(rec->key) != DIR_SRC_LOCAL) {
			/* keep what the import brought; take the local part */
			dir_copy_local(old, rec);
			nw = old;
			struct dir_record *prev = malloc(sizeof(*prev));
			if (prev == NULL) {
				free(old);
				return ERR_NOMEM;
			}
			rc = dir_get_txn(w->txn, w->st, &ds, id, prev);
			nw->id = id;
			if (rc > 0)
				rc = dir_index_update(w->txn, ds.idx, id, prev,
				    nw);
			free(prev);
		} else {
			rec->id = id;
			rc = dir_index_update(w->txn, ds.idx, id, old, rec);
		}
		if (rc >= 0)
			rc = dir_put_record(w->txn, ds.rec, nw, 0, 0);
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
	struct dirset ds;
	uint32_t id = op->id;
	int rc, lock;

	if ((lock = store_dir_lock(w->st, false)) < 0)
		return lock;
	store_dir_unlock(&lock);
	if ((rc = dir_set_current(w->txn, w->st, &ds)) < 0)
		return rc;
	if (id == 0) {
		if (op->key == NULL)
			return ERR_INVAL;
		rc = dir_key_to_id(w->txn, ds.key, op->key, &id);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_NOTFOUND;
		if (str_copy(key, sizeof(key), op->key) < 0)
			return ERR_INVAL;
	} else {
		struct dir_record *r = malloc(sizeof(*r));
		if (r == NULL)
			return ERR_NOMEM;
		rc = dir_get_txn(w->txn, w->st, &ds, id, r);
		if (rc > 0 && str_copy(key, sizeof(key), r->key) < 0)
			rc = ERR_CORRUPT;
		free(r);
		if (rc <= 0)
			return rc < 0 ? rc : ERR_NOTFOUND;
	}
	op->id_r = id;
	return dir_remove_record(w->txn, w->st, &ds, id, key);
}
