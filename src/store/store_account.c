/* SPDX-License-Identifier: MIT */
/*
 * store_account.c - accounts and the addresses they own.
 * An account is found by any of its addresses (lower-cased); its login is
 * its primary address. Creating one creates its standard mailboxes in the
 * same transaction, so an account never exists without an INBOX.
 */
#include "store_int.h"

#include "core/err.h"
#include "core/str.h"

#define ACCOUNT_VERSION 1
#define ACCOUNT_VAL_MAX (32 + STORE_PWHASH_MAX + \
	(STORE_ACCOUNT_ADDRS + 1) * (STORE_ADDR_MAX + 2))

static int
account_decode(const MDB_val *k, const MDB_val *v, struct store_account *a)
{
	struct dec d;
	if (k->mv_size != 4)
		return ERR_CORRUPT;
	memset(a, 0, sizeof(*a));
	a->id = be32_get(k->mv_data);
	dec_init(&d, v);
	if (dec_u8(&d) != ACCOUNT_VERSION)
		return d.err ? d.err : ERR_VERSION;
	a->state = dec_u8(&d);
	a->created = dec_u64(&d);
	dec_str(&d, a->login, sizeof(a->login));
	dec_str(&d, a->pwhash, sizeof(a->pwhash));
	a->n_addr = dec_u8(&d);
	if (a->n_addr > STORE_ACCOUNT_ADDRS)
		return ERR_CORRUPT;
	for (size_t i = 0; i < a->n_addr; i++)
		dec_str(&d, a->addr[i], sizeof(a->addr[i]));
	return d.err;
}

static int
account_put(struct store_wtxn *w, const struct store_account *a)
{
	unsigned char kb[4], vb[ACCOUNT_VAL_MAX];
	struct enc e;
	be32_put(kb, a->id);
	enc_init(&e, vb, sizeof(vb));
	enc_u8(&e, ACCOUNT_VERSION);
	enc_u8(&e, a->state);
	enc_u64(&e, a->created);
	enc_str(&e, a->login);
	enc_str(&e, a->pwhash);
	enc_u8(&e, (uint8_t)a->n_addr);
	for (size_t i = 0; i < a->n_addr; i++)
		enc_str(&e, a->addr[i]);
	if (e.err)
		return e.err;
	MDB_val k = { 4, kb }, v = { e.len, vb };
	return store_err(mdb_put(w->txn, w->st->dbi[DB_ACCOUNT], &k, &v, 0));
}

/* addr_key - the lower-cased address as a lookup key. */
static int
addr_key(const char *address, char *out, MDB_val *k)
{
	if (address[0] == '\0' || str_copy(out, STORE_ADDR_MAX, address) < 0)
		return ERR_INVAL;
	str_lower(out);
	k->mv_data = out;
	k->mv_size = strlen(out);
	return 0;
}

/* account_lookup - address -> account, on any transaction. */
static int
account_lookup(MDB_txn *txn, struct store *st, const char *address,
	       struct store_account *a)
{
	char kbuf[STORE_ADDR_MAX];
	MDB_val k, v;
	int rc;

	if (addr_key(address, kbuf, &k) < 0)
		return 0;
	rc = mdb_get(txn, st->dbi[DB_ADDRESS], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	if (v.mv_size != 4)
		return ERR_CORRUPT;
	MDB_val ik = { 4, v.mv_data };
	rc = mdb_get(txn, st->dbi[DB_ACCOUNT], &ik, &v);
	if (rc == MDB_NOTFOUND)
		return ERR_CORRUPT;	/* dangling address */
	if (rc != 0)
		return store_err(rc);
	int r = account_decode(&ik, &v, a);
	return r < 0 ? r : 1;
}

int
store_account_find(struct store_rtxn *r, const char *address,
		   struct store_account *a)
{
	return account_lookup(r->txn, r->st, address, a);
}

int
store_account_get(struct store_rtxn *r, uint32_t id, struct store_account *a)
{
	unsigned char kb[4];
	MDB_val k = { 4, kb }, v;
	be32_put(kb, id);
	int rc = mdb_get(r->txn, r->st->dbi[DB_ACCOUNT], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(rc);
	int ret = account_decode(&k, &v, a);
	return ret < 0 ? ret : 1;
}

int
store_account_iter(struct store_rtxn *r,
		   int (*cb)(const struct store_account *, void *), void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	struct store_account a;
	int rc = mdb_cursor_open(r->txn, r->st->dbi[DB_ACCOUNT], &c);
	int ret = 0;

	if (rc != 0)
		return store_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((ret = account_decode(&k, &v, &a)) < 0)
			break;
		if ((ret = cb(&a, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != MDB_NOTFOUND)
		ret = store_err(rc);
	mdb_cursor_close(c);
	return ret;
}

int
store_op_account_create(struct store_wtxn *w, void *arg)
{
	struct store_account_create *ac = arg;
	static const struct { const char *name; uint8_t special; } std[] = {
		{ "INBOX", STORE_SPECIAL_NONE },
		{ "Sent", STORE_SPECIAL_SENT },
		{ "Drafts", STORE_SPECIAL_DRAFTS },
		{ "Trash", STORE_SPECIAL_TRASH },
		{ "Junk", STORE_SPECIAL_JUNK },
	};
	struct store_account a = *ac->acct;
	char kbuf[STORE_ADDR_MAX];
	uint64_t id;
	int r, have_login = 0;

	str_lower(a.login);
	for (size_t i = 0; i < a.n_addr; i++) {
		str_lower(a.addr[i]);
		if (strcmp(a.addr[i], a.login) == 0)
			have_login = 1;
	}
	if (!have_login) {
		if (a.n_addr == STORE_ACCOUNT_ADDRS)
			return ERR_LIMIT;
		memmove(a.addr[1], a.addr[0], a.n_addr * sizeof(a.addr[0]));
		if (str_copy(a.addr[0], STORE_ADDR_MAX, a.login) < 0)
			return ERR_INVAL;
		a.n_addr++;
	}
	if ((r = store_meta_next(w, "next_account", 1, &id)) < 0)
		return r;
	if (id > UINT32_MAX)
		return ERR_LIMIT;
	a.id = (uint32_t)id;
	if ((r = account_put(w, &a)) < 0)
		return r;
	for (size_t i = 0; i < a.n_addr; i++) {
		MDB_val k, v;
		unsigned char vb[4];
		if ((r = addr_key(a.addr[i], kbuf, &k)) < 0)
			return r;
		be32_put(vb, a.id);
		v.mv_size = 4;
		v.mv_data = vb;
		r = store_err(mdb_put(w->txn, w->st->dbi[DB_ADDRESS], &k, &v,
		    MDB_NOOVERWRITE));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		struct store_mailbox m;
		if ((r = store_mailbox_create(w, a.id, std[i].name,
		    std[i].special, &m)) < 0 ||
		    (r = store_subscribe_set(w, a.id, std[i].name, true)) < 0)
			return r;
	}
	ac->id_r = a.id;
	return 0;
}

/* account_for_change - the account a change names, in this write txn. */
static int
account_for_change(struct store_wtxn *w, const char *login,
		   struct store_account *a)
{
	int r = account_lookup(w->txn, w->st, login, a);
	if (r == 0)
		return ERR_NOTFOUND;
	return r < 0 ? r : 0;
}

int
store_op_account_set_password(struct store_wtxn *w, void *arg)
{
	struct store_account_change *ch = arg;
	struct store_account a;
	int r = account_for_change(w, ch->login, &a);
	if (r < 0)
		return r;
	if (str_copy(a.pwhash, sizeof(a.pwhash), ch->pwhash) < 0)
		return ERR_INVAL;
	return account_put(w, &a);
}

int
store_op_account_set_state(struct store_wtxn *w, void *arg)
{
	struct store_account_change *ch = arg;
	struct store_account a;
	int r = account_for_change(w, ch->login, &a);
	if (r < 0)
		return r;
	a.state = ch->state;
	return account_put(w, &a);
}

int
store_op_account_delete(struct store_wtxn *w, void *arg)
{
	struct store_account_change *ch = arg;
	struct store_account a;
	unsigned char kb[4];
	char kbuf[STORE_ADDR_MAX];
	MDB_cursor *c;
	MDB_val k, v;
	int r = account_for_change(w, ch->login, &a);
	if (r < 0)
		return r;

	/* Mailboxes first: purging one deletes its key under the cursor,
	 * so restart from the account prefix each time. */
	for (;;) {
		struct store_mailbox m;
		be32_put(kb, a.id);
		k.mv_size = 4;
		k.mv_data = kb;
		int rc = mdb_cursor_open(w->txn, w->st->dbi[DB_MAILBOX], &c);
		if (rc != 0)
			return store_err(rc);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		int found = rc == 0 && k.mv_size >= 4 &&
		    be32_get(k.mv_data) == a.id;
		if (found)
			r = store_mailbox_decode(&k, &v, &m);
		mdb_cursor_close(c);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_err(rc);
		if (!found)
			break;
		if (r < 0 || (r = store_mailbox_purge(w, &m)) < 0)
			return r;
	}
	if ((r = store_del_prefix(w, w->st->dbi[DB_SUBSCRIPTION], a.id,
	    NULL)) < 0)
		return r;
	for (size_t i = 0; i < a.n_addr; i++) {
		if ((r = addr_key(a.addr[i], kbuf, &k)) < 0)
			return r;
		int rc = mdb_del(w->txn, w->st->dbi[DB_ADDRESS], &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_err(rc);
	}
	be32_put(kb, a.id);
	k.mv_size = 4;
	k.mv_data = kb;
	return store_err(mdb_del(w->txn, w->st->dbi[DB_ACCOUNT], &k, NULL));
}
