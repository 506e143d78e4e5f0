/* SPDX-License-Identifier: MIT */
/*
 * store_blob.c - message bodies sealed at rest, stored once, counted.
 *
 * Sealed format (v1): a 40-byte header
 *   u8 version=1 | u8 alg=1 | u16 reserved | u32 chunk_size |
 *   u64 plain_len | 24-byte random nonce base
 * then ceil(plain_len / chunk_size) chunks (at least one), each
 * XChaCha20-Poly1305 (IETF) ciphertext + 16-byte tag. Chunk i uses the
 * nonce base with its last 8 bytes XORed with i, and authenticates the
 * header, i and a "last chunk" flag, so chunks cannot be reordered,
 * dropped or moved to another blob, and the length cannot be changed.
 * Chunking lets a reader decrypt a byte range without the whole body.
 */
#include "store_int.h"

#include <stdlib.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"

#define BLOB_VERSION 1
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

int
store_blob_seal(struct store *st, const void *plain, size_t len,
		struct buf *out)
{
	uint64_t n_chunks = len == 0 ? 1 : (len + BLOB_CHUNK - 1) / BLOB_CHUNK;
	size_t total = BLOB_HDR + len + n_chunks * BLOB_TAG;
	unsigned char *hdr, ad[BLOB_HDR + 9], nonce[24];
	int r;

	if ((r = buf_reserve(out, total)) < 0)
		return r;
	hdr = (unsigned char *)out->data + out->len;
	hdr[0] = BLOB_VERSION;
	hdr[1] = BLOB_ALG_XCHACHA;
	hdr[2] = hdr[3] = 0;
	be32_put(hdr + 4, BLOB_CHUNK);
	be64_put(hdr + 8, len);
	randombytes_buf(hdr + 16, 24);

	unsigned char *c = hdr + BLOB_HDR;
	const unsigned char *p = plain;
	for (uint64_t i = 0; i < n_chunks; i++) {
		size_t clen = len - i * BLOB_CHUNK;
		if (clen > BLOB_CHUNK)
			clen = BLOB_CHUNK;
		unsigned long long olen;
		chunk_nonce(hdr + 16, i, nonce);
		chunk_ad(hdr, i, i + 1 == n_chunks, ad);
		crypto_aead_xchacha20poly1305_ietf_encrypt(c, &olen,
		    p + i * BLOB_CHUNK, clen, ad, sizeof(ad), NULL, nonce,
		    st->key);
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
	if (v[0] != BLOB_VERSION)
		return ERR_VERSION;
	if (v[1] != BLOB_ALG_XCHACHA)
		return ERR_CORRUPT;
	uint32_t csize = be32_get(v + 4);
	uint64_t len = be64_get(v + 8);
	if (csize == 0)
		return ERR_CORRUPT;
	uint64_t n_chunks = len == 0 ? 1 : (len + csize - 1) / csize;
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
	size_t tsize = len < csize ? (size_t)len : csize;
	tmp = malloc(tsize);
	if (tmp == NULL)
		return ERR_NOMEM;
	size_t start = out->len;
	uint64_t first = off / csize, last = (off + want - 1) / csize;
	for (uint64_t i = first; i <= last; i++) {
		size_t clen = len - i * csize;
		if (clen > csize)
			clen = csize;
		unsigned long long olen;
		const unsigned char *c = v + BLOB_HDR + i * (csize + BLOB_TAG);
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
		uint64_t cstart = i * (uint64_t)csize;
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
