/* SPDX-License-Identifier: MIT */
/*
 * store_blob.c - message bodies sealed at rest, stored once, counted.
 *
 * Sealed format: a 40-byte header
 *   u8 version | u8 alg=1 | u16 first_chunk | u32 chunk_size |
 *   u64 plain_len | 24-byte random nonce base
 * then the chunks (at least one), each XChaCha20-Poly1305 (IETF)
 * ciphertext + 16-byte tag. Version 1: every chunk is chunk_size long
 * (the last one shorter). Version 2: chunk 0 is first_chunk long (the
 * message's header section, blank line included) and the following ones
 * chunk_size, so that reading the header of a message, which is what mail
 * clients ask for most, decrypts only the header. Chunk i uses the nonce
 * base with its last 8 bytes XORed with i, and authenticates the header,
 * i and a "last chunk" flag, so chunks cannot be reordered, dropped or
 * moved to another blob, and the length cannot be changed. Chunking lets
 * a reader decrypt a byte range without the whole body.
 */
#include "store_int.h"

#include <stdlib.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"

#define BLOB_VERSION 2
#define BLOB_ALG_XCHACHA 1
#define BLOB_HDR 40
#define BLOB_CHUNK 65536u
#define BLOB_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

static void
chunk_nonce(const unsigned char *base, uint64_t i, unsigned char *nonce)
{
	memcpy(nonce, base, 24);
	for (int b = 0; b < 8; b++)
		nonce[16 + b] ^= (unsigned char)(i >> (8 * b));
}

static void
chunk_ad(const unsigned char *hdr, uint64_t i, int last, unsigned char *ad)
{
	memcpy(ad, hdr, BLOB_HDR);
	be64_put(ad + BLOB_HDR, i);
	ad[BLOB_HDR + 8] = (unsigned char)last;
}

/* The chunk layout of a blob: chunk 0 is first bytes long, the others
 * size (the last one shorter). */
struct geom {
	uint64_t len, first, size, n;
};

static void
geom_init(struct geom *g, uint64_t len, uint64_t first, uint64_t size)
{
	g->len = len;
	g->size = size;
	g->first = first;
	if (len <= first)
		g->n = 1;
	else
		g->n = 1 + (len - first + size - 1) / size;
}

static uint64_t
geom_start(const struct geom *g, uint64_t i)
{
	return i == 0 ? 0 : g->first + (i - 1) * g->size;
}

static uint64_t
geom_len(const struct geom *g, uint64_t i)
{
	uint64_t st = geom_start(g, i), n = i == 0 ? g->first : g->size;
	return g->len - st < n ? g->len - st : n;
}

static uint64_t
geom_chunk_of(const struct geom *g, uint64_t off)
{
	return off < g->first ? 0 : 1 + (off - g->first) / g->size;
}

/* header_end - the length of the header section (blank line included)
 * when it ends before the body does and fits a u16; else 0. */
static size_t
header_end(const unsigned char *p, size_t len)
{
	size_t lim = len < 65535 ? len : 65535;
	/* an empty header section: the message starts with its blank line */
	if (len > 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	if (len > 1 && p[0] == '\n')
		return 1;
	for (size_t i = 0; i + 1 < lim; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n' && i + 2 < len)
			return i + 2;
		if (i + 2 < lim && p[i + 1] == '\r' && p[i + 2] == '\n' &&
		    i + 3 < len)
			return i + 3;
	}
	return 0;
}

int
store_blob_seal(struct store *st, const void *plain, size_t len,
		struct buf *out)
{
	const unsigned char *p = plain;
	size_t first = header_end(p, len);
	struct geom g;
	geom_init(&g, len, first ? first : BLOB_CHUNK, BLOB_CHUNK);
	size_t total = BLOB_HDR + len + g.n * BLOB_TAG;
	unsigned char *hdr, ad[BLOB_HDR + 9], nonce[24];
	int r;

	if ((r = buf_reserve(out, total)) < 0)
		return r;
	hdr = (unsigned char *)out->data + out->len;
	hdr[0] = first ? BLOB_VERSION : 1;
	hdr[1] = BLOB_ALG_XCHACHA;
	hdr[2] = (unsigned char)(first >> 8);
	hdr[3] = (unsigned char)first;
	be32_put(hdr + 4, BLOB_CHUNK);
	be64_put(hdr + 8, len);
	randombytes_buf(hdr + 16, 24);

	unsigned char *c = hdr + BLOB_HDR;
	for (uint64_t i = 0; i < g.n; i++) {
		unsigned long long olen;
		chunk_nonce(hdr + 16, i, nonce);
		chunk_ad(hdr, i, i + 1 == g.n, ad);
		crypto_aead_xchacha20poly1305_ietf_encrypt(c, &olen,
		    p + geom_start(&g, i), geom_len(&g, i), ad, sizeof(ad),
		    NULL, nonce, st->key);
		c += olen;
	}
	out->len += total;
	out->data[out->len] = '\0';
	return 0;
}

/* blob_open_range - decrypt the chunks of sealed v[vlen] that cover
 * [off, off + want) and append exactly that range to out. */
static int
blob_open_range(const struct store *st, const unsigned char *v, size_t vlen,
		uint64_t off, uint64_t want, struct buf *out)
{
	unsigned char ad[BLOB_HDR + 9], nonce[24];
	unsigned char *tmp;
	int r;

	if (vlen < BLOB_HDR + BLOB_TAG)
		return ERR_CORRUPT;
	if (v[0] != 1 && v[0] != BLOB_VERSION)
		return ERR_VERSION;
	if (v[1] != BLOB_ALG_XCHACHA)
		return ERR_CORRUPT;
	uint32_t csize = be32_get(v + 4);
	uint64_t len = be64_get(v + 8);
	uint32_t first = v[0] == 1 ? csize : ((uint32_t)v[2] << 8 | v[3]);
	if (csize == 0 || first == 0 || (v[0] == 1 && (v[2] | v[3]) != 0))
		return ERR_CORRUPT;
	struct geom g;
	geom_init(&g, len, first, csize);
	uint64_t n_chunks = g.n;
	if (len > vlen || BLOB_HDR + len + n_chunks * BLOB_TAG != vlen)
		return ERR_CORRUPT;
	if (len == 0) {
		/* Nothing to return, but the tag still proves the blob is
		 * ours and whole. */
		unsigned char none[1];
		unsigned long long olen;
		chunk_nonce(v + 16, 0, nonce);
		chunk_ad(v, 0, 1, ad);
		return crypto_aead_xchacha20poly1305_ietf_decrypt(none, &olen,
		    NULL, v + BLOB_HDR, BLOB_TAG, ad, sizeof(ad), nonce,
		    st->key) == 0 ? 0 : ERR_CORRUPT;
	}
	if (off >= len || want == 0)
		return 0;
	if (want > len - off)
		want = len - off;
	if ((r = buf_reserve(out, want)) < 0)
		return r;
	/* A chunk is at most csize, but a small body is one short chunk:
	 * allocating and wiping 64 KiB for a 4 KiB message was most of the
	 * cost of a header fetch. */
	size_t tsize = (size_t)(len < csize ? len : csize);
	if (tsize < first)
		tsize = (size_t)(len < first ? len : first);
	tmp = malloc(tsize);
	if (tmp == NULL)
		return ERR_NOMEM;
	size_t start = out->len;
	uint64_t c_first = geom_chunk_of(&g, off);
	uint64_t c_last = geom_chunk_of(&g, off + want - 1);
	for (uint64_t i = c_first; i <= c_last; i++) {
		size_t clen = (size_t)geom_len(&g, i);
		unsigned long long olen;
		const unsigned char *c = v + BLOB_HDR + geom_start(&g, i) +
		    i * BLOB_TAG;
		chunk_nonce(v + 16, i, nonce);
		chunk_ad(v, i, i + 1 == n_chunks, ad);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(tmp, &olen,
		    NULL, c, clen + BLOB_TAG, ad, sizeof(ad), nonce,
		    st->key) != 0) {
			/* Hand out nothing of a body that fails its check. */
			sodium_memzero(tmp, tsize);
			free(tmp);
			sodium_memzero(out->data + start, out->len - start);
			out->len = start;
			out->data[start] = '\0';
			return ERR_CORRUPT;
		}
		uint64_t cstart = geom_start(&g, i);
		uint64_t from = off > cstart ? off - cstart : 0;
		uint64_t to = off + want < cstart + clen ? off + want - cstart :
		    clen;
		memcpy(out->data + out->len, tmp + from, (size_t)(to - from));
		out->len += (size_t)(to - from);
	}
	out->data[out->len] = '\0';
	sodium_memzero(tmp, tsize);
	free(tmp);
	return 0;
}

static int
blob_get(struct store_rtxn *r, uint64_t blob_id, MDB_val *v)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb };
	be64_put(kb, blob_id);
	return store_err(mdb_get(r->txn, r->st->dbi[DB_BLOB], &k, v));
}

int
store_blob_read_range(struct store_rtxn *r, uint64_t blob_id, uint64_t off,
		      uint64_t len, struct buf *out)
{
	MDB_val v;
	int rc = blob_get(r, blob_id, &v);
	if (rc < 0)
		return rc;
	return blob_open_range(r->st, v.mv_data, v.mv_size, off, len, out);
}

int
store_blob_header(struct store_rtxn *r, uint64_t blob_id, struct buf *out)
{
	MDB_val v;
	int rc = blob_get(r, blob_id, &v);
	if (rc < 0)
		return rc;
	const unsigned char *p = v.mv_data;
	if (v.mv_size < BLOB_HDR || p[0] != BLOB_VERSION)
		return 0;
	uint32_t first = (uint32_t)p[2] << 8 | p[3];
	rc = blob_open_range(r->st, p, v.mv_size, 0, first, out);
	return rc < 0 ? rc : 1;
}

int
store_blob_read(struct store_rtxn *r, uint64_t blob_id, struct buf *out)
{
	return store_blob_read_range(r, blob_id, 0, UINT64_MAX, out);
}

int
store_blob_refs(struct store_rtxn *r, uint64_t blob_id, uint32_t *refs)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	struct dec d;
	be64_put(kb, blob_id);
	int rc = mdb_get(r->txn, r->st->dbi[DB_BLOBREF], &k, &v);
	if (rc == MDB_NOTFOUND) {
		*refs = 0;
		return 0;
	}
	if (rc != 0)
		return store_err(rc);
	dec_init(&d, &v);
	if (dec_u8(&d) != 1)
		return ERR_VERSION;
	*refs = dec_u32(&d);
	return d.err;
}

static int
blobref_put(struct store_wtxn *w, const unsigned char *kb, uint32_t refs,
	    uint64_t size)
{
	unsigned char vb[13];
	struct enc e;
	MDB_val k = { 8, (void *)kb }, v;
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, 1);
	enc_u32(&e, refs);
	enc_u64(&e, size);
	v.mv_size = e.len;
	v.mv_data = vb;
	return store_err(mdb_put(w->txn, w->st->dbi[DB_BLOBREF], &k, &v, 0));
}

int
store_blob_put(struct store_wtxn *w, const void *sealed, size_t len,
	       uint64_t size, uint32_t refs, const void *info, size_t info_len,
	       uint64_t *id_r)
{
	uint64_t id;
	unsigned char kb[8];
	int r;

	if ((r = store_meta_next(w, "next_blob", 1, &id)) < 0)
		return r;
	be64_put(kb, id);
	MDB_val k = { 8, kb }, v = { len, (void *)sealed };
	/* Ids only grow, so every new blob lands at the end of the tree. */
	int rc = mdb_put(w->txn, w->st->dbi[DB_BLOB], &k, &v, MDB_APPEND);
	if (rc != 0)
		return store_err(rc);
	if (info != NULL && info_len > 0) {
		MDB_val iv = { info_len, (void *)info };
		rc = mdb_put(w->txn, w->st->dbi[DB_BLOBINFO], &k, &iv,
		    MDB_APPEND);
		if (rc != 0)
			return store_err(rc);
	}
	if ((r = blobref_put(w, kb, refs, size)) < 0)
		return r;
	*id_r = id;
	return 0;
}

/* blobref_get - reference count and size of a blob in a write txn. */
static int
blobref_get(struct store_wtxn *w, const unsigned char *kb, uint32_t *refs,
	    uint64_t *size)
{
	MDB_val k = { 8, (void *)kb }, v;
	struct dec d;
	int rc = mdb_get(w->txn, w->st->dbi[DB_BLOBREF], &k, &v);
	if (rc != 0)
		return store_err(rc);
	dec_init(&d, &v);
	if (dec_u8(&d) != 1)
		return ERR_VERSION;
	*refs = dec_u32(&d);
	*size = dec_u64(&d);
	return d.err;
}

int
store_blob_ref(struct store_wtxn *w, uint64_t blob_id)
{
	unsigned char kb[8];
	uint32_t refs;
	uint64_t size;
	be64_put(kb, blob_id);
	int r = blobref_get(w, kb, &refs, &size);
	if (r < 0)
		return r;
	if (refs == UINT32_MAX)
		return ERR_LIMIT;
	return blobref_put(w, kb, refs + 1, size);
}

int
store_blob_unref(struct store_wtxn *w, uint64_t blob_id)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb };
	uint32_t refs;
	uint64_t size;
	be64_put(kb, blob_id);
	int r = blobref_get(w, kb, &refs, &size);
	if (r < 0)
		return r;
	if (refs > 1)
		return blobref_put(w, kb, refs - 1, size);
	int rc = mdb_del(w->txn, w->st->dbi[DB_BLOBREF], &k, NULL);
	if (rc != 0)
		return store_err(rc);
	rc = mdb_del(w->txn, w->st->dbi[DB_BLOBINFO], &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc);
	rc = mdb_del(w->txn, w->st->dbi[DB_BLOB], &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int
store_blob_info(struct store_rtxn *r, uint64_t blob_id, struct buf *out)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	be64_put(kb, blob_id);
	int rc = mdb_get(r->txn, r->st->dbi[DB_BLOBINFO], &k, &v);
	if (rc != 0)
		return store_err(rc);
	return buf_add(out, v.mv_data, v.mv_size);
}
