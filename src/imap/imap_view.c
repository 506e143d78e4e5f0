/* SPDX-License-Identifier: MIT */
/*
 * imap_view.c - the selected mailbox as a session knows it, and how it
 * learns of changes. The store's commit hook (writer thread) posts the
 * ids of changed mailboxes to every loop; each loop looks up its sessions
 * watching those mailboxes and brings the ones in IDLE up to date at
 * once; the others catch up when their current command ends. Catching up
 * reads only what changed: the MODSEQ index, the tombstones, and the
 * messages above the last UID the session knows.
 */
#include "imap_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/str.h"

#define MAX_LOOPS 64
#define WATCH_BUCKETS 1024
#define MAX_SEQ_RANGES 10000

struct watch_table {
	struct imap_session *b[WATCH_BUCKETS];
};

static struct watch_table watch[MAX_LOOPS];
static struct loop *loops[MAX_LOOPS];
static unsigned n_loops;

struct note {
	size_t n;
	uint32_t ids[];
};

/* commit_hook - on the writer thread: tell every loop. */
static void
commit_hook(const uint32_t *ids, size_t n, void *arg)
{
	for (unsigned i = 0; i < n_loops; i++) {
		struct note *nt = malloc(sizeof(*nt) + n * sizeof(uint32_t));
		if (nt == NULL)
			continue;
		nt->n = n;
		memcpy(nt->ids, ids, n * sizeof(uint32_t));
		if (loop_post(loops[i], imap_notify_loop, nt) < 0)
			free(nt);
	}
}

void
imap_init(struct store *st, struct loop **ls, unsigned n)
{
	imap_init_store(st);
	n_loops = n < MAX_LOOPS ? n : MAX_LOOPS;
	for (unsigned i = 0; i < n_loops; i++)
		loops[i] = ls[i];
	store_set_commit_hook(st, commit_hook, NULL);
}

static struct watch_table *
table_of(struct imap_session *s)
{
	return &watch[loop_index(s->loop) % MAX_LOOPS];
}

void
imap_watch(struct imap_session *s)
{
	struct imap_view *v = s->view;
	struct imap_session **head =
	    &table_of(s)->b[v->mailbox_id % WATCH_BUCKETS];
	v->w_prev = NULL;
	v->w_next = *head;
	if (*head != NULL)
		(*head)->view->w_prev = s;
	*head = s;
}

void
imap_unwatch(struct imap_session *s)
{
	struct imap_view *v = s->view;
	if (v == NULL)
		return;
	struct imap_session **head =
	    &table_of(s)->b[v->mailbox_id % WATCH_BUCKETS];
	bool linked = *head == s || v->w_prev != NULL;
	if (!linked)
		return;
	if (v->w_prev != NULL)
		v->w_prev->view->w_next = v->w_next;
	else
		*head = v->w_next;
	if (v->w_next != NULL)
		v->w_next->view->w_prev = v->w_prev;
	v->w_prev = v->w_next = NULL;
}

/* wake - a session whose mailbox changed: in IDLE it hears at once. */
static void
wake(struct imap_session *s)
{
	if (s->io != IMAP_IO_IDLE || s->pending > 0 || s->freeing)
		return;
	imap_sync(s, true);
}

void
imap_notify_loop(void *arg)
{
	struct note *nt = arg;
	struct loop *l = loop_self();
	if (l == NULL) {
		free(nt);
		return;
	}
	struct watch_table *t = &watch[loop_index(l) % MAX_LOOPS];
	for (size_t i = 0; i < nt->n; i++) {
		uint32_t id = nt->ids[i];
		if (id == 0) {
			for (size_t b = 0; b < WATCH_BUCKETS; b++)
				for (struct imap_session *s = t->b[b], *nx;
				     s != NULL; s = nx) {
					nx = s->view->w_next;
					wake(s);
				}
			continue;
		}
		for (struct imap_session *s = t->b[id % WATCH_BUCKETS], *nx;
		     s != NULL; s = nx) {
			nx = s->view->w_next;
			if (s->view->mailbox_id == id)
				wake(s);
		}
	}
	free(nt);
}

void
imap_view_free(struct imap_view **vp)
{
	struct imap_view *v = *vp;
	if (v == NULL)
		return;
	*vp = NULL;
	free(v->uids);
	free(v->recent);
	free(v->own);
	free(v);
}

/* ---- lookups ---- */

static size_t
lower_bound(const uint32_t *a, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t i = lower_bound(v->uids, v->n, uid);
	return i < v->n && v->uids[i] == uid ? (uint32_t)(i + 1) : 0;
}

bool
imap_view_recent(const struct imap_view *v, uint32_t uid)
{
	size_t i = lower_bound(v->recent, v->n_recent, uid);
	return i < v->n_recent && v->recent[i] == uid;
}

void
imap_view_remove(struct imap_view *v, uint32_t uid)
{
	size_t i = lower_bound(v->uids, v->n, uid);
	if (i < v->n && v->uids[i] == uid) {
		memmove(v->uids + i, v->uids + i + 1,
		    (v->n - i - 1) * sizeof(uint32_t));
		v->n--;
	}
	i = lower_bound(v->recent, v->n_recent, uid);
	if (i < v->n_recent && v->recent[i] == uid) {
		memmove(v->recent + i, v->recent + i + 1,
		    (v->n_recent - i - 1) * sizeof(uint32_t));
		v->n_recent--;
	}
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *n = realloc(*p, c * elem);
	if (n == NULL)
		return ERR_NOMEM;
	*p = n;
	*cap = c;
	return 0;
}

void
imap_view_own(struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	if (grow((void **)&v->own, &v->cap_own, v->n_own + 1,
	    sizeof(v->own[0])) < 0)
		return;
	v->own[v->n_own].uid = uid;
	v->own[v->n_own].modseq = modseq;
	v->n_own++;
}

static bool
is_own(const struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	for (size_t i = 0; i < v->n_own; i++)
		if (v->own[i].uid == uid && v->own[i].modseq == modseq)
			return true;
	return false;
}

uint64_t
imap_kw_hash(const char *keywords)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)keywords;
	     *p != '\0'; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

/* ---- \Recent ---- */

/*
 * Which UIDs of a mailbox have been claimed as recent, kept in memory so
 * that two sessions told of the same new mail at the same moment never
 * both get it (RFC 3501 2.3.2); the store's first_recent_uid, moved in the
 * background, carries the claims over a restart. A direct-mapped table:
 * a mailbox whose slot is taken falls back to the stored value.
 */
#define RECENT_SLOTS 16384

static pthread_mutex_t recent_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint32_t mailbox_id;
	uint32_t claimed;	/* highest UID claimed */
} recent_tab[RECENT_SLOTS];

static void
claim_persisted(int result, void *arg)
{
	free(arg);
}

uint32_t
imap_recent_claim(uint32_t mailbox_id, uint32_t first_recent_uid,
		  uint32_t upto, bool take)
{
	uint32_t first;
	pthread_mutex_lock(&recent_mtx);
	size_t slot = mailbox_id % RECENT_SLOTS;
	uint32_t claimed = first_recent_uid > 0 ? first_recent_uid - 1 : 0;
	if (recent_tab[slot].mailbox_id == mailbox_id &&
	    recent_tab[slot].claimed > claimed)
		claimed = recent_tab[slot].claimed;
	first = claimed + 1;
	if (take && upto > claimed) {
		recent_tab[slot].mailbox_id = mailbox_id;
		recent_tab[slot].claimed = upto;
	}
	pthread_mutex_unlock(&recent_mtx);
	if (take && upto >= first) {
		struct store_recent_op *op = calloc(1, sizeof(*op));
		if (op != NULL) {
			op->mailbox_id = mailbox_id;
			op->upto = upto;
			if (store_submit(imap_store(), store_op_claim_recent,
			    op, claim_persisted, NULL) < 0)
				free(op);
		}
	}
	return first;
}

/* ---- catching up ---- */

struct sync_ctx {
	struct imap_session *s;
	struct store_rtxn *rt;
	uint32_t *list;
	size_t n, cap;
	uint32_t last_known;
	int err;
};

static int
collect_expunged(uint32_t uid, uint64_t modseq, void *arg)
{
	struct sync_ctx *c = arg;
	if (imap_view_seq(c->s->view, uid) == 0)
		return 0;
	if (grow((void **)&c->list, &c->cap, c->n + 1, sizeof(uint32_t)) < 0)
		return ERR_NOMEM;
	c->list[c->n++] = uid;
	return 0;
}

static int
collect_new(const struct store_msg *m, void *arg)
{
	struct sync_ctx *c = arg;
	struct imap_view *v = c->s->view;
	if (grow((void **)&v->uids, &v->cap, v->n + 1, sizeof(uint32_t)) < 0)
		return ERR_NOMEM;
	v->uids[v->n++] = m->uid;
	return 0;
}

static int
report_changed(uint32_t uid, uint64_t modseq, void *arg)
{
	struct sync_ctx *c = arg;
	struct imap_session *s = c->s;
	struct imap_view *v = s->view;
	struct store_msg m;

	if (uid > c->last_known || is_own(v, uid, modseq))
		return 0;
	uint32_t seq = imap_view_seq(v, uid);
	if (seq == 0)
		return 0;
	int r = store_msg_get(c->rt, v->mailbox_id, uid, &m);
	if (r <= 0)
		return r;
	struct buf b;
	buf_init(&b, 4096);
	imap_flags_string(m.flags, m.keywords, imap_view_recent(v, uid), &b);
	if (s->condstore)
		imap_write(s, "* %u FETCH (UID %u FLAGS %s MODSEQ (%llu))",
		    seq, uid, buf_data(&b), (unsigned long long)m.modseq);
	else
		imap_write(s, "* %u FETCH (UID %u FLAGS %s)", seq, uid,
		    buf_data(&b));
	buf_free(&b);
	return 0;
}

bool
imap_sync(struct imap_session *s, bool expunge_ok)
{
	struct imap_view *v = s->view;
	struct store_rtxn *rt;
	struct store_mailbox mb;
	struct sync_ctx c = { s, NULL, NULL, 0, 0, 0, 0 };
	int r;

	if (v == NULL)
		return true;
	if ((r = store_read_begin(imap_store(), &rt)) < 0)
		return true;	/* try again at the next command */
	c.rt = rt;
	r = store_mailbox_get_by_id(rt, v->mailbox_id, &mb);
	if (r == 0) {
		store_read_end(&rt);
		imap_write(s, "* BYE The selected mailbox no longer exists");
		imap_close(s);
		return false;
	}
	if (r < 0)
		goto out;

	if (expunge_ok && mb.highestmodseq > v->exp_modseq) {
		r = store_expunged_since(rt, v->mailbox_id, v->exp_modseq,
		    collect_expunged, &c);
		if (r < 0)
			goto out;
		if (s->qresync && c.n > 0) {
			struct buf b;
			buf_init(&b, SIZE_MAX / 2);
			imap_seqset_print(c.list, c.n, &b);
			imap_write(s, "* VANISHED %s", buf_data(&b));
			buf_free(&b);
			for (size_t i = 0; i < c.n; i++)
				imap_view_remove(v, c.list[i]);
		} else {
			for (size_t i = 0; i < c.n; i++) {
				uint32_t seq = imap_view_seq(v, c.list[i]);
				if (seq == 0)
					continue;
				imap_write(s, "* %u EXPUNGE", seq);
				imap_view_remove(v, c.list[i]);
			}
		}
		v->exp_modseq = mb.highestmodseq;
	}

	c.last_known = v->n ? v->uids[v->n - 1] : 0;
	size_t before = v->n;
	if (mb.uidnext > c.last_known + 1) {
		r = store_msg_iter_from(rt, v->mailbox_id, c.last_known + 1,
		    collect_new, &c);
		if (r < 0)
			goto out;
	}
	if (v->n > before) {
		imap_write(s, "* %zu EXISTS", v->n);
		/* RFC 3501 2.3.2: new mail is recent to the first session
		 * told of it; a read-write session claims it. */
		if (!v->readonly) {
			uint32_t first = imap_recent_claim(v->mailbox_id,
			    mb.first_recent_uid, v->uids[v->n - 1], true);
			for (size_t i = before; i < v->n; i++) {
				if (v->uids[i] < first)
					continue;
				if (grow((void **)&v->recent, &v->cap_recent,
				    v->n_recent + 1, sizeof(uint32_t)) == 0)
					v->recent[v->n_recent++] = v->uids[i];
			}
		}
		imap_write(s, "* %zu RECENT", v->n_recent);
	}

	if (mb.highestmodseq > v->modseq) {
		r = store_msg_changed_since(rt, v->mailbox_id, v->modseq,
		    report_changed, &c);
		if (r < 0)
			goto out;
		v->modseq = mb.highestmodseq;
	}
	v->n_own = 0;
	uint64_t h = imap_kw_hash(mb.keywords);
	if (h != v->kw_hash) {
		imap_write_flags_lists(s, &mb);
		v->kw_hash = h;
	}
out:
	if (r < 0)
		log_warnx("%s imap sync error=\"%s\"", s->id, err_str(r));
	free(c.list);
	store_read_end(&rt);
	return true;
}

/* ---- sequence sets to UIDs ---- */

static int
uid_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

int
imap_resolve(struct imap_session *s, const char *set, size_t len, bool uid,
	     uint32_t **uids_r, size_t *n_r)
{
	struct imap_view *v = s->view;
	struct imap_seqset ss = { 0 };
	uint32_t *out = NULL;
	size_t n = 0, cap = 0;
	int r;

	*uids_r = NULL;
	*n_r = 0;
	if ((r = imap_seqset_parse(set, len, MAX_SEQ_RANGES, &ss)) < 0)
		goto done;
	for (size_t i = 0; i < ss.n; i++) {
		uint32_t lo, hi;
		size_t a, b;
		if (uid) {
			imap_range_get(&ss.r[i], v->n ? v->uids[v->n - 1] : 0,
			    &lo, &hi);
			a = lower_bound(v->uids, v->n, lo);
			b = hi == UINT32_MAX ? v->n :
			    lower_bound(v->uids, v->n, hi + 1);
		} else {
			imap_range_get(&ss.r[i], (uint32_t)v->n, &lo, &hi);
			if (lo == 0 || hi > v->n) {
				r = ERR_PROTO;
				goto done;
			}
			a = lo - 1;
			b = hi;
		}
		if (b <= a)
			continue;
		if ((r = grow((void **)&out, &cap, n + (b - a),
		    sizeof(uint32_t))) < 0)
			goto done;
		memcpy(out + n, v->uids + a, (b - a) * sizeof(uint32_t));
		n += b - a;
	}
	/* Overlapping ranges: sort and unique. */
	if (ss.n > 1 && n > 1) {
		qsort(out, n, sizeof(uint32_t), uid_cmp);
		size_t k = 1;
		for (size_t i = 1; i < n; i++)
			if (out[i] != out[k - 1])
				out[k++] = out[i];
		n = k;
	}
	r = 0;
done:
	imap_seqset_free(&ss);
	if (r < 0) {
		free(out);
		return r;
	}
	*uids_r = out;
	*n_r = n;
	return 0;
}
