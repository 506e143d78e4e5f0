/* SPDX-License-Identifier: MIT */
/*
 * store_check.c - refusing a damaged environment before trusting it.
 * LMDB maps its file and checks no page: a truncated file or a page
 * overwritten with garbage makes the first read fault (SIGBUS/SIGSEGV).
 * So at open we check the file size against the last page LMDB knows of,
 * and walk every database once with those faults caught, turning damage
 * into a clear error instead of a crash. Only the open path is guarded;
 * it runs before any other thread exists.
 */
#include "store_int.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/str.h"

static sigjmp_buf guard_jmp;
static volatile sig_atomic_t guard_on;
/* what a fault interrupts, released after it */
static MDB_txn *volatile guard_txn;
static MDB_cursor *volatile guard_cur;

static void
guard_handler(int sig)
{
	if (guard_on)
		siglongjmp(guard_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

int
store_file_precheck(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	struct stat sb;
	if (str_fmt(path, sizeof(path), "%s/data.mdb", dir) < 0)
		return ERR_LIMIT;
	if (stat(path, &sb) != 0)
		return errno == ENOENT ? 0 : ERR_IO;
	if (sb.st_size == 0) {
		/* LMDB would silently start a new, empty store here. */
		snprintf(err, errlen, "store %s: data.mdb is empty (truncated?)"
		    "; to start afresh on purpose, remove the file", dir);
		return ERR_CORRUPT;
	}
	return 0;
}

/* walk_db - touch every key and the start of every value of one db. */
static int
walk_db(MDB_txn *txn, MDB_dbi dbi, volatile unsigned long *sink)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	guard_cur = c;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		for (size_t i = 0; i < k.mv_size; i++)
			*sink += ((const unsigned char *)k.mv_data)[i];
		if (v.mv_size > 0)
			*sink += ((const unsigned char *)v.mv_data)[0] +
			    ((const unsigned char *)v.mv_data)[v.mv_size - 1];
	}
	guard_cur = NULL;
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int
store_file_check(struct store *st, int (*setup)(struct store *, void *),
		 void *arg, char *err, size_t errlen)
{
	char path[4096];
	struct stat sb;
	MDB_envinfo info;
	MDB_stat ms;
	struct sigaction sa, old_bus, old_segv;
	volatile unsigned long sink = 0;
	int r;

	if (str_fmt(path, sizeof(path), "%s/data.mdb", st->dir) < 0)
		return ERR_LIMIT;
	if (mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &ms) != 0 || stat(path, &sb) != 0) {
		snprintf(err, errlen, "store %s: cannot inspect data.mdb",
		    st->dir);
		return ERR_IO;
	}
	/* A file shorter than LMDB's last page is not always damaged: the
	 * pages a transaction allocated and freed again are never written.
	 * So a short file is walked whole, freelist included: a page really
	 * missing faults, and that is the truncation. */
	unsigned long long need = ((unsigned long long)info.me_last_pgno + 1)
	    * ms.ms_psize;
	bool short_file = (unsigned long long)sb.st_size < need;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	int sig = sigsetjmp(guard_jmp, 1);
	if (sig != 0) {
		guard_on = 0;
		/* the walk stopped in the middle: free what it held (their
		 * memory only: no page of the map is read again) */
		if (guard_cur != NULL)
			mdb_cursor_close(guard_cur);
		if (guard_txn != NULL)
			mdb_txn_abort(guard_txn);
		guard_cur = NULL;
		guard_txn = NULL;
		sigaction(SIGBUS, &old_bus, NULL);
		sigaction(SIGSEGV, &old_segv, NULL);
		if (short_file)
			snprintf(err, errlen, "store %s: data.mdb is truncated "
			    "(%lld bytes, its pages need %llu)", st->dir,
			    (long long)sb.st_size, need);
		else
			snprintf(err, errlen, "store %s: data.mdb is corrupt (%s "
			    "while reading it)", st->dir, sig == SIGBUS ?
			    "bus error" : "invalid page reference");
		return ERR_CORRUPT;
	}
	guard_on = 1;
	r = setup(st, arg);
	if (r == 0) {
		MDB_txn *txn = NULL;
		int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
		guard_txn = txn;
		/* The directory's sets are not walked: a national
		 * directory is millions of entries, read at every open of
		 * the CLI; an import rebuilds them from their sources. */
		for (int i = 0; rc == 0 && i < DB_COUNT; i++)
			if (short_file || (i != DB_DIR && i != DB_DIR_KEY &&
			    i != DB_DIR_IDX && i != DB_DIR_B &&
			    i != DB_DIR_KEY_B && i != DB_DIR_IDX_B))
				rc = walk_db(txn, st->dbi[i], &sink);
		/* LMDB's own: the freelist (0) and the names (1) */
		for (MDB_dbi i = 0; rc == 0 && short_file && i < 2; i++)
			rc = walk_db(txn, i, &sink);
		guard_txn = NULL;
		if (txn != NULL)
			mdb_txn_abort(txn);
		if (rc != 0) {
			snprintf(err, errlen, "store %s: data.mdb is corrupt: %s",
			    st->dir, mdb_strerror(rc));
			r = store_err(rc);
		}
	}
	guard_on = 0;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return r;
}
