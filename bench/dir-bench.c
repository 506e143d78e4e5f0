/* SPDX-License-Identifier: MIT */
/*
 * dir-bench.c - the in-process part of bench/directory: imports of the
 * MSSante extract into a private store, then look-ups and searches, all
 * through the same functions the gateway and its CLI call (dir_import_file,
 * store_dir_search), linked with the project's libmssgate.a.
 *
 *   dir-bench [-d DIR] [-k] [-l LOOKUPS] [-p SEARCHES] [-s SEED]
 *             V1 V1.json V2 V2.json
 *
 * 1. V1 is imported into an empty store (DIR/store, key DIR/store.key),
 *    then V2 (the next day's file): each import runs in a forked child, so
 *    that its peak RSS (getrusage) is its own and not the parent's; wall
 *    time is that of dir_import_file, CPU time and peak RSS those of the
 *    child. The counts of each import must equal the JSON the generator
 *    wrote (tests/fixtures/gen-directory --expect): exit status 1 if not.
 * 2. LOOKUPS exact look-ups by IdNat and as many by address, of lines of
 *    V2 picked at random, each in its own read transaction, timed one by
 *    one (clock_gettime): p50, p99, max in microseconds.
 * 3. SEARCHES searches by family-name prefix (2 to 4 folded letters of the
 *    name of a random line) with a filter: every other one profession
 *    "10", the others the line's postcode; limit 20; same figures.
 *
 * Besides the human report, one "result: phase=... key=value..." line per
 * phase on stdout for the driver. Without -d a folder is made under
 * /var/tmp and removed at the end (-k keeps it).
 *
 * Build (bench/directory does it): cc -O2 -D_GNU_SOURCE -I SRC/src -I BUILD
 *   -o dir-bench dir-bench.c BUILD/libmssgate.a LIBS
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "core/err.h"
#include "core/fold.h"
#include "core/str.h"
#include "directory/directory.h"
#include "store/store.h"
#include "store/store_dir.h"

#define BENCH_MAP_SIZE (8ULL << 30)
#define FIELD_MAX 512

/* The project's targets, printed beside the figures. */
#define TARGET_IMPORT_S 20.0
#define TARGET_RSS_MB 300.0
#define TARGET_LOOKUP_P99_US 20.0
#define TARGET_SEARCH_P99_US 1000.0

static char opt_dir[4096];
static bool opt_keep;
static uint64_t opt_lookups = 100000;
static uint64_t opt_searches = 20000;
static uint64_t rng_state = 20261207;
static char store_dir[4200];
static char key_file[4200];

static void
usage(void)
{
	fprintf(stderr, "usage: dir-bench [-d DIR] [-k] [-l LOOKUPS] "
	    "[-p SEARCHES] [-s SEED] V1 V1.json V2 V2.json\n");
	exit(2);
}

/* splitmix64: the same picks on every run with the same seed */
static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const char *
met(bool ok)
{
	return ok ? "met" : "NOT met";
}

/* ---- imports, each in a child --------------------------------------- */

struct import_res {
	int rc;
	double wall_s;
	uint64_t added, changed, removed, unchanged, merged, records;
	unsigned long lines, bad;
	char err[DIR_ERR_MAX];
	char first_bad[DIR_ERR_MAX];
};

struct import_out {
	struct import_res res;
	double user_s, sys_s;
	long maxrss_kb;
};

static void
on_bad(const char *file, unsigned long line, const char *reason, void *arg)
{
	struct import_res *res = arg;

	if (res->first_bad[0] == '\0' &&
	    str_fmt(res->first_bad, sizeof(res->first_bad), "%s:%lu: %s",
	    file, line, reason) != 0)
		res->first_bad[0] = '\0';
}

static int
store_start(struct store **st)
{
	struct store_opts o = {
		.dir = store_dir,
		.key_file = key_file,
		.map_size = BENCH_MAP_SIZE,
		.max_dbs = 32,
		.max_readers = 126,
		.batch_max = 256,
	};
	const char *error = NULL;

	if (store_open(&o, st, &error) != 0) {
		fprintf(stderr, "dir-bench: store_open %s: %s\n", store_dir,
		    error != NULL ? error : "?");
		return -1;
	}
	return 0;
}

/* import_child - the whole life of one import; res goes to the parent */
static void
import_child(const char *path, struct import_res *res)
{
	struct store *st = NULL;
	struct dir_read_opts o;
	struct dir_import imp;
	double t0;

	memset(&o, 0, sizeof(o));
	memset(&imp, 0, sizeof(imp));
	o.bad = on_bad;
	o.bad_arg = res;
	res->rc = -1;
	if (store_start(&st) != 0) {
		str_copy(res->err, sizeof(res->err), "store_open failed");
		return;
	}
	t0 = now_s();
	res->rc = dir_import_file(st, path, DIR_FMT_MSS, &o, &imp, res->err,
	    sizeof(res->err));
	res->wall_s = now_s() - t0;
	res->added = imp.added_r;
	res->changed = imp.changed_r;
	res->removed = imp.removed_r;
	res->unchanged = imp.unchanged_r;
	res->merged = imp.merged_r;
	res->lines = o.lines_r;
	res->bad = o.bad_r;
	store_close(&st);
}

/* import_count - the records the store holds after an import, counted by
 * the parent: a walk of every record reads the whole store through the
 * map, which is not the import's memory. */
static void
import_count(struct import_res *res)
{
	struct store *st = NULL;
	struct store_rtxn *r = NULL;
	struct dir_stats s;

	if (res->rc != 0)
		return;
	memset(&s, 0, sizeof(s));
	if (store_start(&st) != 0 || store_read_begin(st, &r) != 0 ||
	    store_dir_stats(r, &s) != 0) {
		res->rc = ERR_IO;
		str_copy(res->err, sizeof(res->err),
		    "store_dir_stats failed");
	}
	store_read_end(&r);
	store_close(&st);
	res->records = s.by_source[DIR_SRC_MSS];
}

static int
import_run(const char *path, struct import_out *out)
{
	struct rusage ru;
	int fd[2], status;
	size_t got = 0;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if (pipe(fd) != 0) {
		perror("dir-bench: pipe");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("dir-bench: fork");
		return -1;
	}
	if (pid == 0) {
		struct import_res res;
		const char *p = (const char *)&res;
		size_t done = 0;

		close(fd[0]);
		memset(&res, 0, sizeof(res));
		import_child(path, &res);
		while (done < sizeof(res)) {
			ssize_t w = write(fd[1], p + done, sizeof(res) - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(3);
			done += (size_t)w;
		}
		_exit(res.rc == 0 ? 0 : 1);
	}
	close(fd[1]);
	while (got < sizeof(out->res)) {
		ssize_t n = read(fd[0], (char *)&out->res + got,
		    sizeof(out->res) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd[0]);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("dir-bench: wait4");
			return -1;
		}
	}
	out->user_s = (double)ru.ru_utime.tv_sec +
	    (double)ru.ru_utime.tv_usec / 1e6;
	out->sys_s = (double)ru.ru_stime.tv_sec +
	    (double)ru.ru_stime.tv_usec / 1e6;
	out->maxrss_kb = ru.ru_maxrss;
	if (got == sizeof(out->res))
		import_count(&out->res);
	if (got != sizeof(out->res)) {
		fprintf(stderr, "dir-bench: the import of %s died (status "
		    "0x%x)\n", path, (unsigned)status);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    out->res.rc != 0) {
		fprintf(stderr, "dir-bench: import of %s failed: %s (%s)\n",
		    path, out->res.err, err_str(out->res.rc));
		return -1;
	}
	return 0;
}

/* ---- the counts the generator promised ------------------------------ */

static int
expect_get(json_t *j, const char *key, const char *file, uint64_t *v)
{
	json_t *x = json_object_get(j, key);

	if (!json_is_integer(x) || json_integer_value(x) < 0) {
		fprintf(stderr, "dir-bench: %s: no \"%s\"\n", file, key);
		return -1;
	}
	*v = (uint64_t)json_integer_value(x);
	return 0;
}

/* expect_check - the counts of an import against FILE; prints each
 * difference; returns the number of differences, -1 if unreadable */
static int
expect_check(const char *file, const struct import_res *res)
{
	static const char *const keys[] = {
		"added", "changed", "removed", "unchanged", "records", "merged",
	};
	const uint64_t got[] = {
		res->added, res->changed, res->removed, res->unchanged,
		res->records, res->merged,
	};
	json_error_t je;
	json_t *j = json_load_file(file, 0, &je);
	int diff = 0;

	if (j == NULL) {
		fprintf(stderr, "dir-bench: %s:%d: %s\n", file, je.line,
		    je.text);
		return -1;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint64_t want;

		if (expect_get(j, keys[i], file, &want) != 0) {
			json_decref(j);
			return -1;
		}
		if (want != got[i]) {
			printf("   MISMATCH %s: import says %llu, %s says %llu"
			    "\n", keys[i], (unsigned long long)got[i], file,
			    (unsigned long long)want);
			diff++;
		}
	}
	json_decref(j);
	return diff;
}

static void
import_print(const char *phase, const char *path,
	     const struct import_out *o)
{
	const struct import_res *r = &o->res;
	double rate = r->wall_s > 0 ? (double)r->lines / r->wall_s : 0;

	printf("%s: %s\n", phase, path);
	printf("   %.2f s wall, %.2f s CPU (%.2f user + %.2f sys), peak RSS "
	    "%.1f MB, %.0f lines/s\n", r->wall_s, o->user_s + o->sys_s,
	    o->user_s, o->sys_s, (double)o->maxrss_kb / 1024.0, rate);
	printf("   lines %lu, bad %lu, records %llu: added %llu, changed "
	    "%llu, removed %llu, unchanged %llu, merged %llu\n", r->lines,
	    r->bad, (unsigned long long)r->records,
	    (unsigned long long)r->added, (unsigned long long)r->changed,
	    (unsigned long long)r->removed, (unsigned long long)r->unchanged,
	    (unsigned long long)r->merged);
	if (r->first_bad[0] != '\0')
		printf("   first bad line: %s\n", r->first_bad);
	printf("result: phase=%s wall_s=%.3f cpu_s=%.3f user_s=%.3f "
	    "sys_s=%.3f peak_rss_kb=%ld lines=%lu bad=%lu records=%llu "
	    "added=%llu changed=%llu removed=%llu unchanged=%llu "
	    "merged=%llu\n", phase, r->wall_s, o->user_s + o->sys_s,
	    o->user_s, o->sys_s, o->maxrss_kb, r->lines, r->bad,
	    (unsigned long long)r->records, (unsigned long long)r->added,
	    (unsigned long long)r->changed, (unsigned long long)r->removed,
	    (unsigned long long)r->unchanged, (unsigned long long)r->merged);
}

/* ---- the lines of V2, for the look-ups ------------------------------- */

struct extract {
	const char *map;
	size_t size;
	uint64_t *line;		/* offsets of the data lines' starts */
	size_t n;
};

static int
extract_open(const char *path, struct extract *x)
{
	struct stat sb;
	const char *p, *end;
	size_t cap;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(x, 0, sizeof(*x));
	if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size == 0) {
		fprintf(stderr, "dir-bench: %s: %s\n", path,
		    fd < 0 ? strerror(errno) : "empty or unreadable");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	x->size = (size_t)sb.st_size;
	x->map = mmap(NULL, x->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (x->map == MAP_FAILED) {
		perror("dir-bench: mmap");
		return -1;
	}
	cap = x->size / 64 + 16;
	x->line = malloc(cap * sizeof(*x->line));
	if (x->line == NULL)
		return -1;
	/* skip the header line */
	p = memchr(x->map, '\n', x->size);
	end = x->map + x->size;
	while (p != NULL && p + 1 < end) {
		if (x->n == cap) {
			uint64_t *nl = realloc(x->line,
			    2 * cap * sizeof(*x->line));
			if (nl == NULL)
				return -1;
			x->line = nl;
			cap *= 2;
		}
		x->line[x->n++] = (uint64_t)(p + 1 - x->map);
		p = memchr(p + 1, '\n', (size_t)(end - p - 1));
	}
	return x->n > 0 ? 0 : -1;
}

static void
extract_close(struct extract *x)
{
	if (x->map != NULL && x->map != MAP_FAILED)
		munmap((void *)x->map, x->size);
	free(x->line);
	memset(x, 0, sizeof(*x));
}

/* field - column col (1-based) of line i into out; 0, or -1 when the
 * line has fewer columns or the value does not fit */
static int
field(const struct extract *x, size_t i, int col, char *out, size_t size)
{
	const char *p = x->map + x->line[i];
	const char *end = x->map + x->size;
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl != NULL)
		end = nl;
	for (int c = 1; c < col; c++) {
		const char *bar = memchr(p, '|', (size_t)(end - p));
		if (bar == NULL)
			return -1;
		p = bar + 1;
	}
	const char *bar = memchr(p, '|', (size_t)(end - p));
	if (bar == NULL)
		return -1;
	return str_copyn(out, size, p, (size_t)(bar - p)) == 0 ? 0 : -1;
}

/* ---- timed searches --------------------------------------------------- */

struct lat {
	uint64_t *ns;
	size_t n;
	uint64_t found;		/* ops that found at least one record */
	uint64_t records;	/* records returned, all ops */
};

static int
count_cb(const struct dir_record *rec, void *arg)
{
	uint64_t *n = arg;

	(void)rec;
	(*n)++;
	return 0;
}

static int
timed_search(struct store *st, const struct dir_query *q, struct lat *l)
{
	struct store_rtxn *r = NULL;
	uint64_t hits = 0, t0, t1;
	bool more = false;
	int rc;

	t0 = now_ns();
	rc = store_read_begin(st, &r);
	if (rc == 0) {
		rc = store_dir_search(r, q, count_cb, &hits, &more);
		store_read_end(&r);
	}
	t1 = now_ns();
	if (rc < 0)
		return rc;
	l->ns[l->n++] = t1 - t0;
	l->records += hits;
	if (hits > 0)
		l->found++;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank */
static double
pct_us(const struct lat *l, double p)
{
	size_t k = (size_t)(p * (double)l->n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > l->n)
		k = l->n;
	return (double)l->ns[k - 1] / 1000.0;
}

static void
lat_print(const char *phase, const char *what, struct lat *l, double target)
{
	double p50, p99, max, total = 0;

	qsort(l->ns, l->n, sizeof(l->ns[0]), cmp_u64);
	for (size_t i = 0; i < l->n; i++)
		total += (double)l->ns[i];
	p50 = pct_us(l, 0.50);
	p99 = pct_us(l, 0.99);
	max = l->n ? (double)l->ns[l->n - 1] / 1000.0 : 0;
	printf("%s: %zu %s\n", phase, l->n, what);
	printf("   p50 %.1f us, p99 %.1f us, max %.1f us, mean %.1f us; "
	    "found %llu of %zu, %llu records returned\n", p50, p99, max,
	    l->n ? total / (double)l->n / 1000.0 : 0,
	    (unsigned long long)l->found, l->n,
	    (unsigned long long)l->records);
	printf("   target p99 < %.0f us: %s\n", target, met(p99 < target));
	printf("result: phase=%s ops=%zu found=%llu records=%llu p50_us=%.2f "
	    "p99_us=%.2f max_us=%.2f\n", phase, l->n,
	    (unsigned long long)l->found, (unsigned long long)l->records,
	    p50, p99, max);
}

/* pick_line - a random data line with the columns wanted non-empty */
static int
pick_line(const struct extract *x, int col, char *out, size_t size,
	  size_t *line_r)
{
	for (int tries = 0; tries < 1000; tries++) {
		size_t i = (size_t)(rnd() % x->n);

		if (field(x, i, col, out, size) == 0 && out[0] != '\0') {
			*line_r = i;
			return 0;
		}
	}
	return -1;
}

/* bench_lookups - *ok false when a target is missed, *right false when a
 * look-up of a line of the file found nothing */
static int
bench_lookups(struct store *st, const struct extract *x, bool *ok,
	      bool *right)
{
	struct lat by_id = { 0 }, by_addr = { 0 };
	char v[FIELD_MAX];
	size_t line;
	int rc = -1;

	by_id.ns = calloc(opt_lookups + 1, sizeof(uint64_t));
	by_addr.ns = calloc(opt_lookups + 1, sizeof(uint64_t));
	if (by_id.ns == NULL || by_addr.ns == NULL)
		goto out;
	for (uint64_t i = 0; i < opt_lookups; i++) {
		struct dir_query q = { .limit = 1 };

		if (pick_line(x, 5, v, sizeof(v), &line) != 0)
			goto out;
		q.idnat = v;
		if (timed_search(st, &q, &by_id) != 0) {
			fprintf(stderr, "dir-bench: search idnat=%s failed\n",
			    v);
			goto out;
		}
	}
	for (uint64_t i = 0; i < opt_lookups; i++) {
		struct dir_query q = { .limit = 1 };

		if (pick_line(x, 2, v, sizeof(v), &line) != 0)
			goto out;
		str_lower(v);	/* a few lines carry it in capitals */
		q.address = v;
		if (timed_search(st, &q, &by_addr) != 0) {
			fprintf(stderr, "dir-bench: search address=%s "
			    "failed\n", v);
			goto out;
		}
	}
	lat_print("lookup_idnat", "exact look-ups by IdNat (limit 1, one "
	    "read transaction each)", &by_id, TARGET_LOOKUP_P99_US);
	lat_print("lookup_address", "exact look-ups by address (limit 1, "
	    "one read transaction each)", &by_addr, TARGET_LOOKUP_P99_US);
	if (by_id.found != by_id.n || by_addr.found != by_addr.n) {
		printf("   FAIL: some look-ups of lines of the file found "
		    "nothing\n");
		*right = false;
	}
	*ok = *ok && pct_us(&by_id, 0.99) < TARGET_LOOKUP_P99_US &&
	    pct_us(&by_addr, 0.99) < TARGET_LOOKUP_P99_US;
	rc = 0;
out:
	free(by_id.ns);
	free(by_addr.ns);
	return rc;
}

/* a prefix of 2 to 4 folded letters of a family name; -1 if the folded
 * name does not start with that many letters a-z */
static int
name_prefix(const char *family, char *out, size_t size)
{
	char folded[FIELD_MAX];
	size_t want = 2 + (size_t)(rnd() % 3), len;

	len = str_fold(family, strlen(family), folded, sizeof(folded));
	if (len < want || want >= size)
		return -1;
	for (size_t i = 0; i < want; i++)
		if (folded[i] < 'a' || folded[i] > 'z')
			return -1;
	memcpy(out, folded, want);
	out[want] = '\0';
	return 0;
}

static int
bench_prefix(struct store *st, const struct extract *x, bool *ok,
	     bool *right)
{
	struct lat l = { 0 };
	char fam[FIELD_MAX], prof[FIELD_MAX], pc[FIELD_MAX], pre[8];
	int rc = -1;

	l.ns = calloc(opt_searches + 1, sizeof(uint64_t));
	if (l.ns == NULL)
		return -1;
	for (uint64_t i = 0; i < opt_searches; i++) {
		struct dir_query q = { .limit = 20 };
		size_t line;
		int tries = 0;

		/* a line of a médecin for the profession filter, any line
		 * for the postcode: each search finds its line at least */
		for (;;) {
			if (++tries > 100000 ||
			    pick_line(x, 10, fam, sizeof(fam), &line) != 0)
				goto out;
			if (name_prefix(fam, pre, sizeof(pre)) != 0)
				continue;
			if (field(x, line, 14, prof, sizeof(prof)) != 0 ||
			    field(x, line, 29, pc, sizeof(pc)) != 0)
				continue;
			if (i % 2 == 0 && strcmp(prof, "10") != 0)
				continue;
			if (i % 2 == 1 && pc[0] == '\0')
				continue;
			break;
		}
		q.family = pre;
		if (i % 2 == 0)
			q.profession = "10";
		else
			q.postcode = pc;
		if (timed_search(st, &q, &l) != 0) {
			fprintf(stderr, "dir-bench: search family=%s %s=%s "
			    "failed\n", pre, q.postcode ? "postcode" :
			    "profession", q.postcode ? pc : "10");
			goto out;
		}
	}
	lat_print("prefix_filter", "family-name prefix searches (2-4 "
	    "letters) with a filter (half profession 10, half postcode), "
	    "limit 20", &l, TARGET_SEARCH_P99_US);
	if (l.found != l.n) {
		printf("   FAIL: %llu searches found nothing (each should "
		    "find the line it came from)\n",
		    (unsigned long long)(l.n - l.found));
		*right = false;
	}
	*ok = *ok && pct_us(&l, 0.99) < TARGET_SEARCH_P99_US;
	rc = 0;
out:
	free(l.ns);
	return rc;
}

/* ---- main ----------------------------------------------------------- */

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int
parse_count(const char *s, uint64_t *v)
{
	if (str_to_u64(s, 1, 100000000, v) != 0) {
		fprintf(stderr, "dir-bench: bad count: %s\n", s);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct import_out i1, i2;
	struct extract x;
	struct store *st = NULL;
	struct stat sb;
	bool made_dir = false, targets = true, counts_ok = true;
	int c, d1, d2, rc = 1;

	while ((c = getopt(argc, argv, "d:kl:p:s:")) != -1) {
		switch (c) {
		case 'd':
			if (str_copy(opt_dir, sizeof(opt_dir), optarg) != 0)
				usage();
			break;
		case 'k':
			opt_keep = true;
			break;
		case 'l':
			if (parse_count(optarg, &opt_lookups) != 0)
				usage();
			break;
		case 'p':
			if (parse_count(optarg, &opt_searches) != 0)
				usage();
			break;
		case 's':
			if (str_to_u64(optarg, 0, UINT64_MAX, &rng_state) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4)
		usage();
	const char *v1 = argv[optind], *v1j = argv[optind + 1];
	const char *v2 = argv[optind + 2], *v2j = argv[optind + 3];

	if (sodium_init() < 0) {
		fprintf(stderr, "dir-bench: sodium_init failed\n");
		return 1;
	}
	if (opt_dir[0] == '\0') {
		if (str_copy(opt_dir, sizeof(opt_dir),
		    "/var/tmp/dir-bench.XXXXXX") != 0 ||
		    mkdtemp(opt_dir) == NULL) {
			perror("dir-bench: mkdtemp");
			return 1;
		}
		made_dir = true;
	}
	if (str_fmt(store_dir, sizeof(store_dir), "%s/store", opt_dir) != 0 ||
	    str_fmt(key_file, sizeof(key_file), "%s/store.key", opt_dir) != 0) {
		fprintf(stderr, "dir-bench: %s: path too long\n", opt_dir);
		return 1;
	}
	if (stat(store_dir, &sb) == 0) {
		fprintf(stderr, "dir-bench: %s exists: the first import "
		    "needs an empty store\n", store_dir);
		return 1;
	}

	printf("store: %s (map %llu GiB; an import applies its changes in "
	    "place or rebuilds, see doc/DIRECTORY.md)\n", store_dir,
	    BENCH_MAP_SIZE >> 30);
	if (import_run(v1, &i1) != 0)
		goto out;
	import_print("import1", v1, &i1);
	printf("   target < %.0f s: %s; peak RSS < %.0f MB: %s\n",
	    TARGET_IMPORT_S, met(i1.res.wall_s < TARGET_IMPORT_S),
	    TARGET_RSS_MB, met(i1.maxrss_kb / 1024.0 < TARGET_RSS_MB));
	d1 = expect_check(v1j, &i1.res);
	printf("   counts against %s: %s\n", v1j, d1 == 0 ? "equal (ok)" :
	    "DIFFERENT");
	if (d1 != 0)
		counts_ok = false;

	if (import_run(v2, &i2) != 0)
		goto out;
	import_print("import2", v2, &i2);
	printf("   target faster than the first import (%.2f s): %s; peak "
	    "RSS < %.0f MB: %s\n", i1.res.wall_s,
	    met(i2.res.wall_s < i1.res.wall_s), TARGET_RSS_MB,
	    met(i2.maxrss_kb / 1024.0 < TARGET_RSS_MB));
	d2 = expect_check(v2j, &i2.res);
	printf("   counts against %s: %s\n", v2j, d2 == 0 ? "equal (ok)" :
	    "DIFFERENT");
	if (d2 != 0)
		counts_ok = false;
	targets = i1.res.wall_s < TARGET_IMPORT_S &&
	    i1.maxrss_kb / 1024.0 < TARGET_RSS_MB &&
	    i2.maxrss_kb / 1024.0 < TARGET_RSS_MB &&
	    i2.res.wall_s < i1.res.wall_s;

	{
		char data[4300];

		if (str_fmt(data, sizeof(data), "%s/data.mdb", store_dir) ==
		    0 && stat(data, &sb) == 0)
			printf("result: phase=store data_mdb_bytes=%lld "
			    "allocated_bytes=%lld\n", (long long)sb.st_size,
			    (long long)sb.st_blocks * 512);
	}

	/* look-ups, in this process: the imports' children are gone */
	if (extract_open(v2, &x) != 0)
		goto out;
	if (store_start(&st) != 0) {
		extract_close(&x);
		goto out;
	}
	if (bench_lookups(st, &x, &targets, &counts_ok) != 0 ||
	    bench_prefix(st, &x, &targets, &counts_ok) != 0) {
		store_close(&st);
		extract_close(&x);
		goto out;
	}
	store_close(&st);
	extract_close(&x);
	printf("targets: %s\n", targets ? "all met" : "NOT all met");
	rc = counts_ok ? 0 : 1;
	if (!counts_ok)
		printf("FAIL: wrong counts or results (see MISMATCH or FAIL "
		    "above)\n");
out:
	if (made_dir && !opt_keep &&
	    nftw(opt_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		perror("dir-bench: cleaning up");
	return rc;
}
