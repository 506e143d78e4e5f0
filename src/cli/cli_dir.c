/* SPDX-License-Identifier: MIT */
/*
 * cli_dir.c - `mssgate dir`: the professional directory. `import` reads
 * a national extract, a FHIR bundle or JSON records into the store in one
 * transaction (a file that fails changes nothing); `search`, `show`,
 * `resolve` and `stats` read it; `set` and `del` edit records by hand,
 * all the records of one `set` file in one transaction. Bad input is
 * reported as one line "FILE:LINE: reason" and exits with EX_DATAERR.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/str.h"
#include "directory/directory.h"
#include "store/store.h"
#include "store/store_dir.h"

#define BAD_PRINT_MAX 100	/* skipped lines shown before "and N more" */
#define ISO_TIME_MAX 32
#define STDIN_MAX (64u << 20)	/* `dir set -`: local records, not extracts */
#define SET_RESULTS_MAX 1000000

/* ---- small helpers ---- */

/* iso_time - "2026-05-01T10:00:00Z"; "never" for 0. */
static const char *
iso_time(int64_t t, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == 0)
		return "never";
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return "?";
	return out;
}

/* clean - s with control characters shown as '?': the text comes from
 * files downloaded from elsewhere and must not drive the terminal. */
static const char *
clean(const char *s, char *out, size_t size)
{
	size_t i = 0;
	for (; s[i] != '\0' && i + 1 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[i] = '\0';
	return out;
}

/* upper - ASCII and Latin-1 letters of UTF-8 s in upper case ("é" is
 * C3 A9, "É" C3 89): family names are shown as the extracts write them. */
static void
upper(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z') {
			*p = (unsigned char)(*p - 'a' + 'A');
		} else if (*p == 0xc3 && p[1] >= 0xa0 && p[1] <= 0xbe &&
		    p[1] != 0xb7) {
			p[1] = (unsigned char)(p[1] - 0x20);
			p++;
		}
	}
}

/* put_col - s then spaces up to width characters (code points, so that
 * accented names keep the columns straight); never truncated. */
static void
put_col(const char *s, size_t width)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			n++;
	fputs(s, stdout);
	for (; n < width; n++)
		putchar(' ');
	fputs("  ", stdout);
}

/* parse_record_id - a record id as the CLI prints it: decimal, no
 * leading zero (so "0012600631", an ADELI IdNat_PS, is not one). */
static bool
parse_record_id(const char *s, uint32_t *id)
{
	uint64_t v;
	if (s[0] == '0' || strlen(s) > 10 ||
	    str_to_u64(s, 1, UINT32_MAX, &v) < 0)
		return false;
	*id = (uint32_t)v;
	return true;
}

/* data_exit - the exit code for input that did not load. */
static int
data_exit(int err)
{
	switch (err) {
	case ERR_PROTO:
	case ERR_INVAL:
	case ERR_LIMIT:
	case ERR_CORRUPT:
		return EX_DATAERR;
	case ERR_NOMEM:
		return EX_OSERR;
	default:
		return cli_exit_code(err);
	}
}

/* check_input - path can be opened and is a regular file; prints why not
 * and returns the exit code (66 missing or unreadable, 65 not a file). */
static int
check_input(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		cli_error("%s: cannot open: %s; nothing imported", path,
		    strerror(errno));
		return EX_NOINPUT;
	}
	int r = fstat(fd, &sb);
	int e = errno;
	(void)close(fd);	/* read-only: nothing to lose */
	if (r < 0) {
		cli_error("%s: %s; nothing imported", path, strerror(e));
		return EX_NOINPUT;
	}
	if (!S_ISREG(sb.st_mode)) {
		cli_error("%s: not a regular file; nothing imported", path);
		return EX_DATAERR;
	}
	return 0;
}

/* json_text - s as a JSON string; a file name need not be UTF-8, and
 * jansson refuses what is not, so such bytes are shown as '?'. */
static json_t *
json_text(const char *s)
{
	char tmp[DIR_LONG];
	size_t i = 0, len = strlen(s);

	if (utf8_valid(s, len))
		return json_string(s);
	for (; i < len && i + 1 < sizeof(tmp); i++)
		tmp[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	tmp[i] = '\0';
	return json_string(tmp);
}

static double
now_mono(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- import ---- */

struct bad_ctx {
	unsigned long n;
};

/* print_bad - each skipped line, up to BAD_PRINT_MAX of them: enough to
 * see what is wrong without flooding the terminal with a broken file. */
static void
print_bad(const char *file, unsigned long line, const char *reason,
	  void *arg)
{
	struct bad_ctx *b = arg;
	char f[DIR_LONG], why[DIR_ERR_MAX];

	if (++b->n > BAD_PRINT_MAX)
		return;
	cli_error("%s:%lu: %s", clean(file, f, sizeof(f)), line,
	    clean(reason, why, sizeof(why)));
}

static void
print_bad_rest(const struct bad_ctx *b)
{
	if (b->n > BAD_PRINT_MAX)
		cli_error("... and %lu more", b->n - BAD_PRINT_MAX);
}

static int
dir_import(struct cli *c, int argc, char **argv)
{
	struct dir_read_opts o;
	struct dir_import imp;
	struct bad_ctx bad = { 0 };
	char err[DIR_ERR_MAX];
	const char *path = NULL;
	int fmt = DIR_FMT_UNKNOWN, rc;

	memset(&o, 0, sizeof(o));
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--strict") == 0) {
			o.strict = true;
		} else if (strcmp(argv[i], "--rebuild") == 0) {
			o.rebuild = true;
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc &&
		    fmt == DIR_FMT_UNKNOWN) {
			fmt = dir_format_parse(argv[++i]);
			if (fmt == DIR_FMT_UNKNOWN) {
				cli_error("--format %s: expected mss, ps, fhir "
				    "or json", argv[i]);
				return EX_USAGE;
			}
		} else if (argv[i][0] != '-' && path == NULL) {
			path = argv[i];
		} else {
			return EX_USAGE;
		}
	}
	if (path == NULL)
		return EX_USAGE;
	if ((rc = check_input(path)) != 0)
		return rc;
	/* Detect here rather than in the import: the summary names the
	 * format, and an unknown layout is refused before the store opens. */
	if (fmt == DIR_FMT_UNKNOWN) {
		err[0] = '\0';
		fmt = dir_format_detect(path, err, sizeof(err));
		if (fmt == DIR_FMT_UNKNOWN) {
			char e[DIR_ERR_MAX];
			cli_error("%s; nothing imported", err[0] ?
			    clean(err, e, sizeof(e)) : "unknown file format");
			return EX_DATAERR;
		}
	}
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;

	o.bad = print_bad;
	o.bad_arg = &bad;
	o.display_name = path;
	memset(&imp, 0, sizeof(imp));
	err[0] = '\0';
	double t0 = now_mono();
	int r = dir_import_file(st, path, fmt, &o, &imp, err, sizeof(err));
	double secs = now_mono() - t0;
	print_bad_rest(&bad);
	if (r < 0) {
		char e[DIR_ERR_MAX];
		if (err[0] != '\0')
			cli_error("%s; nothing imported",
			    clean(err, e, sizeof(e)));
		else
			cli_error("%s: %s; nothing imported", path,
			    err_str(r));
		return data_exit(r);
	}
	unsigned long n_bad = o.bad_r > bad.n ? o.bad_r : bad.n;
	if (secs < 0)
		secs = 0;
	if (c->json) {
		json_t *j = json_pack("{s:o, s:s, s:s, s:I, s:I, s:I, s:I, "
		    "s:I, s:I, s:f}", "file", json_text(path), "format",
		    dir_format_name(fmt), "mode", imp.mode_r ? imp.mode_r : "",
		    "added", (json_int_t)imp.added_r, "changed",
		    (json_int_t)imp.changed_r, "removed",
		    (json_int_t)imp.removed_r, "unchanged",
		    (json_int_t)imp.unchanged_r, "merged",
		    (json_int_t)imp.merged_r, "bad", (json_int_t)n_bad,
		    "seconds", secs);
		if (j == NULL) {
			cli_error("%s: %s", path, err_str(ERR_NOMEM));
			return EX_OSERR;
		}
		cli_json_line(j);
		return 0;
	}
	printf("%s: %" PRIu64 " added, %" PRIu64 " changed, %" PRIu64
	    " removed, %" PRIu64 " unchanged, %" PRIu64 " merged, %lu bad "
	    "line%s skipped (%.2f s, %s)\n", path, imp.added_r,
	    imp.changed_r, imp.removed_r, imp.unchanged_r, imp.merged_r,
	    n_bad, n_bad == 1 ? "" : "s", secs, imp.mode_r ? imp.mode_r :
	    "");
	return 0;
}

/* ---- printing records ---- */

/* display_name - "FAMILY Given", or the organization for a record that
 * names no person (an organization's or an application's mailbox). */
static void
display_name(const struct dir_record *r, char *out, size_t size)
{
	char fam[DIR_STR];

	if (r->family[0] == '\0' && r->given[0] == '\0') {
		clean(r->org_name[0] ? r->org_name : "-", out, size);
		return;
	}
	clean(r->family, fam, sizeof(fam));
	upper(fam);
	if (str_fmt(out, size, "%s%s%s", fam, fam[0] && r->given[0] ?
	    " " : "", r->given) < 0)
		clean(fam, out, size);
	else
		clean(out, out, size);
}

static void
print_row(const struct dir_record *r)
{
	char id[16], name[2 * DIR_STR + 2], prof[DIR_STR], place[DIR_STR + 24];
	char mbox[STORE_ADDR_MAX];

	snprintf(id, sizeof(id), "%" PRIu32, r->id);
	display_name(r, name, sizeof(name));
	clean(r->profession[0] ? r->profession : r->profession_code[0] ?
	    r->profession_code : "-", prof, sizeof(prof));
	if (str_fmt(place, sizeof(place), "%s%s%s", r->postcode,
	    r->postcode[0] && r->city[0] ? " " : "", r->city) < 0 ||
	    place[0] == '\0')
		clean("-", place, sizeof(place));
	else
		clean(place, place, sizeof(place));
	clean(r->n_mbox > 0 ? r->mbox[0].addr : "-", mbox, sizeof(mbox));
	printf("%8s  ", id);
	put_col(name, 32);
	put_col(prof, 24);
	put_col(place, 28);
	printf("%s\n", mbox);
}

static void
print_header(void)
{
	printf("%8s  ", "ID");
	put_col("NAME", 32);
	put_col("PROFESSION", 24);
	put_col("PLACE", 28);
	printf("MAILBOX\n");
}

/* field - "label: value" when value is not empty. */
static void
field(const char *label, const char *value)
{
	char v[DIR_PUSH_ENDPOINT];
	if (value[0] == '\0')
		return;
	printf("%-15s %s\n", label, clean(value, v, sizeof(v)));
}

/* field_code - "label: Label (CODE)", either part alone when the other
 * is empty. */
static void
field_code(const char *label, const char *text, const char *code)
{
	char v[DIR_LONG];
	if (text[0] != '\0' && code[0] != '\0' &&
	    str_fmt(v, sizeof(v), "%s (%s)", text, code) == 0)
		field(label, v);
	else
		field(label, text[0] ? text : code);
}

static void
channels_str(const struct dir_record *r, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < r->n_channels && i < DIR_CHANNELS_MAX; i++) {
		const char *n = dir_channel_name(r->channels[i]);
		int k = snprintf(out + o, size - o, "%s%s", o ? ", " : "",
		    n != NULL ? n : "?");
		if (k < 0 || (size_t)k >= size - o)
			break;
		o += (size_t)k;
	}
}

static void
print_record(const struct dir_record *r)
{
	char v[DIR_LONG + 64], t[ISO_TIME_MAX];

	snprintf(v, sizeof(v), "%" PRIu32, r->id);
	field("id:", v);
	field("key:", r->key);
	field("idnat:", r->idnat);
	field("id type:", r->id_type);
	field("rpps:", r->rpps);
	field_code("civility:", r->title, r->civility);
	field("family name:", r->family);
	field("given name:", r->given);
	field_code("profession:", r->profession, r->profession_code);
	field("category:", r->category);
	field_code("specialty:", r->specialty, r->specialty_code);
	field("role:", r->role);
	field("organization:", r->org_name);
	field("org id:", r->org_id);
	field("finess:", r->finess);
	field("siret:", r->siret);
	field("siren:", r->siren);
	field("service:", r->service);
	field("street:", r->street);
	field("postcode:", r->postcode);
	field("city:", r->city);
	field("country:", r->country);
	for (size_t i = 0; i < r->n_mbox && i < DIR_MBOX_MAX; i++) {
		if (r->mbox[i].type[0] != '\0' &&
		    str_fmt(v, sizeof(v), "%s (%s)", r->mbox[i].addr,
		    r->mbox[i].type) == 0)
			field("mailbox:", v);
		else
			field("mailbox:", r->mbox[i].addr);
	}
	for (size_t i = 0; i < r->n_phone && i < DIR_PHONE_MAX; i++)
		field("phone:", r->phone[i]);
	for (size_t i = 0; i < r->n_push && i < DIR_PUSH_MAX; i++)
		field("push:", r->push[i].endpoint);
	channels_str(r, v, sizeof(v));
	field("channels:", v);
	if (r->quiet_start >= 0 && r->quiet_end >= 0 &&
	    r->quiet_start < 1440 && r->quiet_end < 1440) {
		snprintf(v, sizeof(v), "%02d:%02d-%02d:%02d",
		    r->quiet_start / 60, r->quiet_start % 60,
		    r->quiet_end / 60, r->quiet_end % 60);
		field("quiet hours:", v);
	}
	field("language:", r->lang);
	field("certificate:", r->cert_ref);
	field("account:", r->account);
	if (r->src_file[0] != '\0') {
		char f[DIR_LONG];
		if (str_fmt(v, sizeof(v), "%s line %" PRIu32 "%s%s",
		    clean(r->src_file, f, sizeof(f)), r->src_line,
		    r->src_date != 0 ? ", " : "", r->src_date != 0 ?
		    iso_time(r->src_date, t, sizeof(t)) : "") == 0)
			field("source:", v);
	} else if (r->src_date != 0) {
		field("source:", iso_time(r->src_date, t, sizeof(t)));
	}
}

static int
print_json(const struct dir_record *r)
{
	json_t *j = dir_record_to_json(r);
	if (j == NULL)
		return ERR_NOMEM;
	cli_json_line(j);
	return 0;
}

/* ---- search ---- */

struct search_ctx {
	struct cli *c;
	size_t n;
};

static int
search_cb(const struct dir_record *r, void *arg)
{
	struct search_ctx *x = arg;
	if (x->c->json)
		return print_json(r);
	if (x->n++ == 0)
		print_header();
	print_row(r);
	return 0;
}

static int
dir_search(struct cli *c, int argc, char **argv)
{
	static const char *const opts[] = {
		"--name", "--given", "--idnat", "--rpps", "--address",
		"--profession", "--specialty", "--postcode", "--city", "--org",
	};
	struct dir_query q;
	struct search_ctx x = { c, 0 };
	char addr[STORE_ADDR_MAX];
	bool any = false, more = false;
	uint64_t v;

	memset(&q, 0, sizeof(q));
	const char **slots[] = {
		&q.family, &q.given, &q.idnat, &q.rpps, &q.address,
		&q.profession, &q.specialty, &q.postcode, &q.city, &q.org,
	};
	for (int i = 0; i < argc; i++) {
		size_t k;
		if (i + 1 >= argc)
			return EX_USAGE;
		const char *val = argv[i + 1];
		if (strcmp(argv[i], "--limit") == 0 ||
		    strcmp(argv[i], "--offset") == 0) {
			bool lim = argv[i][2] == 'l';
			if (str_to_u64(val, lim ? 1 : 0, lim ?
			    DIR_QUERY_LIMIT_MAX : DIR_QUERY_OFFSET_MAX,
			    &v) < 0) {
				cli_error("%s %s: expected a number from %d "
				    "to %d", argv[i], val, lim ? 1 : 0, lim ?
				    DIR_QUERY_LIMIT_MAX : DIR_QUERY_OFFSET_MAX);
				return EX_USAGE;
			}
			if (lim)
				q.limit = (size_t)v;
			else
				q.offset = (size_t)v;
			i++;
			continue;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcmp(argv[i], opts[k]) == 0)
				break;
		if (k == sizeof(opts) / sizeof(opts[0]))
			return EX_USAGE;
		if (*slots[k] != NULL) {
			cli_error("%s given twice", argv[i]);
			return EX_USAGE;
		}
		if (val[0] == '\0') {
			cli_error("%s: empty value", argv[i]);
			return EX_USAGE;
		}
		*slots[k] = val;
		any = true;
		i++;
	}
	if (!any) {
		cli_error("dir search: give at least one criterion");
		return EX_USAGE;
	}
	if (q.address != NULL) {
		/* mailboxes are stored in lower case */
		if (str_copy(addr, sizeof(addr), q.address) < 0) {
			cli_error("--address: too long");
			return EX_USAGE;
		}
		str_lower(addr);
		q.address = addr;
	}
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	struct store_rtxn *rt;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_dir_search(rt, &q, search_cb, &x, &more);
		store_read_end(&rt);
	}
	if (r == ERR_INVAL) {
		cli_error("dir search: criterion too broad or out of range");
		return EX_USAGE;
	}
	if (r < 0) {
		cli_error("dir search: %s", err_str(r));
		return cli_exit_code(r);
	}
	if (c->json)
		return 0;
	printf("%zu record%s", x.n, x.n == 1 ? "" : "s");
	if (more)
		printf(" (more follow: --offset %zu)", q.offset + x.n);
	printf("\n");
	return 0;
}

/* ---- show and resolve ---- */

struct show_ctx {
	struct cli *c;
	size_t n;
	bool reach;		/* resolve: print what can reach them */
};

/* sms_able - a number an SMS can reach: French numbers only when mobile
 * (06, 07); the extracts mostly give the desk's landline. */
static bool
sms_able(const char *e164)
{
	if (strncmp(e164, "+33", 3) != 0)
		return e164[0] == '+';
	return e164[3] == '6' || e164[3] == '7';
}

static bool
reachable_by(const struct dir_record *r, uint8_t ch)
{
	switch (ch) {
	case DIR_CH_MAIL:
		return r->n_mbox > 0;
	case DIR_CH_PUSH:
		return r->n_push > 0;
	case DIR_CH_SMS:
		for (size_t i = 0; i < r->n_phone && i < DIR_PHONE_MAX; i++)
			if (sms_able(r->phone[i]))
				return true;
		return false;
	default:
		return false;
	}
}

/* reach_order - the channels that can reach r, in the order it allows
 * them (its own list, or mail, push, sms when it chose none). */
static size_t
reach_order(const struct dir_record *r, uint8_t out[DIR_CHANNELS_MAX])
{
	static const uint8_t dflt[] = { DIR_CH_MAIL, DIR_CH_PUSH, DIR_CH_SMS };
	const uint8_t *order = r->n_channels > 0 ? r->channels : dflt;
	size_t n = r->n_channels > 0 ? r->n_channels : sizeof(dflt);
	size_t k = 0;

	if (n > DIR_CHANNELS_MAX)
		n = DIR_CHANNELS_MAX;
	for (size_t i = 0; i < n; i++)
		if (reachable_by(r, order[i]))
			out[k++] = order[i];
	return k;
}

static int
reach_json(const struct dir_record *r)
{
	uint8_t ch[DIR_CHANNELS_MAX];
	size_t n = reach_order(r, ch);
	json_t *j = dir_record_to_json(r);
	json_t *a = json_array();

	if (j == NULL || a == NULL) {
		json_decref(a);
		json_decref(j);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(a,
		    json_string(dir_channel_name(ch[i]))) < 0) {
			json_decref(a);
			json_decref(j);
			return ERR_NOMEM;
		}
	/* json_object_set_new releases a even when it fails */
	if (json_object_set_new(j, "reachable", a) < 0) {
		json_decref(j);
		return ERR_NOMEM;
	}
	cli_json_line(j);
	return 0;
}

static void
print_reach(const struct dir_record *r)
{
	uint8_t ch[DIR_CHANNELS_MAX];
	char name[2 * DIR_STR + 2], key[DIR_KEY_MAX], v[DIR_PUSH_ENDPOINT];
	size_t n = reach_order(r, ch);

	display_name(r, name, sizeof(name));
	printf("%" PRIu32 "  %s  (%s)\n", r->id, name,
	    clean(r->key, key, sizeof(key)));
	for (size_t i = 0; i < r->n_mbox && i < DIR_MBOX_MAX; i++)
		printf("    mail: %s\n", clean(r->mbox[i].addr, v, sizeof(v)));
	for (size_t i = 0; i < r->n_push && i < DIR_PUSH_MAX; i++)
		printf("    push: %s\n", clean(r->push[i].endpoint, v,
		    sizeof(v)));
	for (size_t i = 0; i < r->n_phone && i < DIR_PHONE_MAX; i++)
		printf("    %s: %s\n", sms_able(r->phone[i]) ? "sms" : "phone",
		    clean(r->phone[i], v, sizeof(v)));
	channels_str(r, v, sizeof(v));
	printf("    channels: %s\n", v[0] ? v : "any (mail, push, sms)");
	printf("    reachable by:");
	for (size_t i = 0; i < n; i++)
		printf("%s %s", i ? "," : "", dir_channel_name(ch[i]));
	printf("%s\n", n == 0 ? " nothing" : "");
}

static int
show_cb(const struct dir_record *r, void *arg)
{
	struct show_ctx *x = arg;
	if (x->c->json) {
		x->n++;
		return x->reach ? reach_json(r) : print_json(r);
	}
	if (x->n++ > 0)
		printf("\n");
	if (x->reach)
		print_reach(r);
	else
		print_record(r);
	return 0;
}

/* lookup - what `show` accepts: a record id, a natural key, or anything
 * store_dir_resolve knows (IdNat_PS, RPPS, address, "role:..."). */
static int
lookup(struct store_rtxn *rt, const char *what, struct show_ctx *x)
{
	struct dir_record *rec = malloc(sizeof(*rec));
	uint32_t id;
	int r = 0;

	if (rec == NULL)
		return ERR_NOMEM;
	dir_record_init(rec);
	if (parse_record_id(what, &id))
		r = store_dir_get(rt, id, rec);
	else if (strchr(what, ':') != NULL)
		r = store_dir_get_key(rt, what, rec);
	if (r == 1)
		r = show_cb(rec, x);
	else if (r == 0)
		r = store_dir_resolve(rt, what, show_cb, x);
	free(rec);
	return r;
}

static int
dir_show_resolve(struct cli *c, int argc, char **argv, bool reach)
{
	struct show_ctx x = { c, 0, reach };
	struct store_rtxn *rt;
	char what[STORE_ADDR_MAX];

	if (argc != 1 || argv[0][0] == '\0')
		return EX_USAGE;
	if (str_copy(what, sizeof(what), argv[0]) < 0) {
		cli_error("%.40s...: too long", argv[0]);
		return EX_DATAERR;
	}
	/* addresses are kept in lower case; nothing else has an '@' but
	 * "role:PROFESSION@ORG", whose parts are codes */
	if (strchr(what, '@') != NULL && strncmp(what, "role:", 5) != 0)
		str_lower(what);
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = reach ? store_dir_resolve(rt, what, show_cb, &x) :
		    lookup(rt, what, &x);
		store_read_end(&rt);
	}
	if (r == ERR_NOTFOUND || (r >= 0 && x.n == 0)) {
		cli_error("%s: not in the directory", argv[0]);
		return EX_NOUSER;
	}
	if (r < 0) {
		cli_error("%s: %s", argv[0], err_str(r));
		return cli_exit_code(r);
	}
	if (reach && !c->json)
		printf("%zu record%s\n", x.n, x.n == 1 ? "" : "s");
	return 0;
}

/* ---- stats ---- */

static int
dir_stats(struct cli *c, int argc, char **argv)
{
	struct dir_stats s;
	struct store_rtxn *rt;
	char t[ISO_TIME_MAX];
	(void)argv;

	if (argc != 0)
		return EX_USAGE;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	memset(&s, 0, sizeof(s));
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_dir_stats(rt, &s);
		store_read_end(&rt);
	}
	if (r < 0) {
		cli_error("dir stats: %s", err_str(r));
		return cli_exit_code(r);
	}
	if (c->json) {
		json_t *by = json_object(), *last = json_object();
		int err = by == NULL || last == NULL;
		for (uint8_t k = DIR_SRC_MSS; !err && k <= DIR_SRC_LOCAL;
		    k++) {
			const char *n = dir_source_name(k);
			err = json_object_set_new(by, n,
			    json_integer((json_int_t)s.by_source[k])) < 0 ||
			    json_object_set_new(last, n, s.last_import[k] ?
			    json_integer(s.last_import[k]) : json_null()) < 0;
		}
		json_t *j = err ? NULL : json_pack("{s:I, s:O, s:I, s:I, s:I, "
		    "s:O}", "records", (json_int_t)s.records, "by_source", by,
		    "mailboxes", (json_int_t)s.mailboxes, "with_push",
		    (json_int_t)s.with_push, "with_phone",
		    (json_int_t)s.with_phone, "last_import", last);
		json_decref(by);
		json_decref(last);
		if (j == NULL) {
			cli_error("dir stats: %s", err_str(ERR_NOMEM));
			return EX_OSERR;
		}
		cli_json_line(j);
		return 0;
	}
	printf("records:        %" PRIu64 "\n", s.records);
	for (uint8_t k = DIR_SRC_MSS; k <= DIR_SRC_LOCAL; k++)
		printf("  %-13s %" PRIu64 "\n", dir_source_name(k),
		    s.by_source[k]);
	printf("mailboxes:      %" PRIu64 "\n", s.mailboxes);
	printf("with push:      %" PRIu64 "\n", s.with_push);
	printf("with phone:     %" PRIu64 "\n", s.with_phone);
	for (uint8_t k = DIR_SRC_MSS; k <= DIR_SRC_LOCAL; k++) {
		if (k == DIR_SRC_LOCAL)
			continue;	/* set by hand, never imported */
		printf("last import %-4s %s\n", dir_source_name(k),
		    iso_time(s.last_import[k], t, sizeof(t)));
	}
	return 0;
}

/* ---- set ---- */

struct set_result {
	char key[DIR_KEY_MAX];
	uint32_t id;
	bool created;
};

struct set_ctx {
	const char *name;		/* file name in messages */
	const char *path;
	struct dir_read_opts *o;
	struct store_wtxn *w;
	struct set_result *res;
	size_t n, cap;
	int64_t now;
	char err[DIR_ERR_MAX];
};

/* set_emit - one record read: written in the transaction of the whole
 * file, its result kept to be printed once that commits. */
static int
set_emit(struct dir_record *rec, void *arg)
{
	struct set_ctx *x = arg;
	struct dir_set_op op;
	unsigned long line = rec->src_line ? rec->src_line : x->o->lines_r;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct set_result *p;
		if (cap > SET_RESULTS_MAX ||
		    (p = realloc(x->res, cap * sizeof(*p))) == NULL) {
			(void)str_fmt(x->err, sizeof(x->err), "%s:%lu: too "
			    "many records", x->name, line);
			return ERR_LIMIT;
		}
		x->res = p;
		x->cap = cap;
	}
	memset(&op, 0, sizeof(op));
	op.rec = rec;
	/* when a local record was written (an imported one keeps the
	 * provenance of its import) */
	rec->src_date = x->now;
	int r = store_op_dir_set(x->w, &op);
	if (r < 0) {
		char k[DIR_KEY_MAX];
		/* the store makes only local records: another key must
		 * name a record an import brought */
		const char *why = r == ERR_NOTFOUND ? "no such imported "
		    "record (only \"local:\" records are created by hand)" :
		    err_str(r);
		if (r == ERR_NOTFOUND)
			r = ERR_INVAL;
		if (str_fmt(x->err, sizeof(x->err), "%s:%lu: %s: %s",
		    x->name, line, clean(rec->key, k, sizeof(k)), why) < 0)
			(void)str_fmt(x->err, sizeof(x->err), "%s:%lu: %s",
			    x->name, line, why);
		return r;
	}
	struct set_result *s = &x->res[x->n++];
	if (str_copy(s->key, sizeof(s->key), rec->key) < 0)
		s->key[0] = '\0';
	s->id = op.id_r;
	s->created = op.created_r;
	return 0;
}

/* set_run - the store op: the whole file in one transaction, so a bad
 * record anywhere leaves the directory as it was. */
static int
set_run(struct store_wtxn *w, void *arg)
{
	struct set_ctx *x = arg;
	x->w = w;
	x->n = 0;		/* should the op run again, from the start */
	x->err[0] = '\0';
	x->o->bad_r = 0;
	x->o->lines_r = 0;
	return dir_read_json(x->path, x->o, set_emit, x, x->err,
	    sizeof(x->err));
}

/* tmp_file - a new file of mode 0600 (mkstemp) in the store's data
 * folder, or in /tmp when that one cannot take it. */
static int
tmp_file(struct cli *c, char *path, size_t size)
{
	const char *dirs[] = { c->cfg->data_dir, "/tmp" };
	int fd = -1;

	for (size_t i = 0; fd < 0 && i < 2; i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0' ||
		    str_fmt(path, size, "%s/dir-set.XXXXXX", dirs[i]) < 0)
			continue;
		fd = mkstemp(path);
	}
	return fd;
}

/* stdin_to_file - stdin into fd (the readers take a path, and a pipe
 * cannot be read twice); the caller unlinks path in any case. */
static int
stdin_to_file(int fd)
{
	char buf[65536];
	size_t total = 0, n;
	int r = 0;

	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		(void)close(fd);
		return ERR_IO;
	}
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		total += n;
		if (total > STDIN_MAX) {
			r = ERR_LIMIT;
			break;
		}
		if (fwrite(buf, 1, n, f) != n) {
			r = ERR_IO;
			break;
		}
	}
	if (r == 0 && ferror(stdin))
		r = ERR_IO;
	if (fclose(f) != 0 && r == 0)
		r = ERR_IO;
	return r;
}

static int
dir_set(struct cli *c, int argc, char **argv)
{
	struct dir_read_opts o;
	struct set_ctx x;
	char tmp[4096];
	int rc = 0;

	if (argc != 1 || argv[0][0] == '\0')
		return EX_USAGE;
	memset(&x, 0, sizeof(x));
	memset(&o, 0, sizeof(o));
	tmp[0] = '\0';
	x.o = &o;
	x.now = (int64_t)time(NULL);
	x.path = argv[0];
	x.name = argv[0];
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	if (strcmp(argv[0], "-") == 0) {
		int fd = tmp_file(c, tmp, sizeof(tmp));
		if (fd < 0) {
			cli_error("stdin: cannot make a temporary file: %s",
			    strerror(errno));
			return EX_CANTCREAT;
		}
		int r = stdin_to_file(fd);
		if (r < 0) {
			if (unlink(tmp) < 0)
				cli_error("%s: %s", tmp, strerror(errno));
			cli_error("stdin: %s", r == ERR_LIMIT ? "more than "
			    "64 MiB" : "read or write error");
			return r == ERR_LIMIT ? EX_DATAERR : EX_IOERR;
		}
		x.path = tmp;
		x.name = "stdin";
	} else if ((rc = check_input(argv[0])) != 0) {
		return rc;
	}
	/* strict: a bad record refuses the file rather than half of it */
	o.strict = true;
	o.display_name = x.name;
	int r = store_exec(st, set_run, &x);
	if (tmp[0] != '\0' && unlink(tmp) < 0)
		cli_error("%s: %s", tmp, strerror(errno));
	if (r == 0 && x.n == 0) {
		(void)str_fmt(x.err, sizeof(x.err), "%s: no record", x.name);
		r = ERR_INVAL;
	}
	if (r < 0) {
		char e[DIR_ERR_MAX];
		if (x.err[0] != '\0')
			cli_error("%s; nothing changed",
			    clean(x.err, e, sizeof(e)));
		else
			cli_error("%s: %s; nothing changed", x.name,
			    err_str(r));
		free(x.res);
		return data_exit(r);
	}
	for (size_t i = 0; i < x.n && rc == 0; i++) {
		const struct set_result *s = &x.res[i];
		const char *what = s->created ? "created" : "updated";
		if (c->json) {
			json_t *j = json_pack("{s:o, s:I, s:s}", "key",
			    json_text(s->key),
			    "id", (json_int_t)s->id, "result", what);
			if (j == NULL) {
				cli_error("%s", err_str(ERR_NOMEM));
				rc = EX_OSERR;
			} else {
				cli_json_line(j);
			}
		} else {
			char k[DIR_KEY_MAX];
			printf("%s: %s (id %" PRIu32 ")\n", clean(s->key, k,
			    sizeof(k)), what, s->id);
		}
	}
	free(x.res);
	return rc;
}

/* ---- del ---- */

static int
dir_del(struct cli *c, int argc, char **argv)
{
	struct dir_set_op op;
	struct store_rtxn *rt;
	struct dir_record *rec;
	char key[DIR_KEY_MAX];
	uint32_t id = 0;

	if (argc != 1 || argv[0][0] == '\0')
		return EX_USAGE;
	bool by_id = parse_record_id(argv[0], &id);
	if (!by_id && strchr(argv[0], ':') == NULL) {
		cli_error("%s: expected a record id or a key (\"local:...\", "
		    "\"mss:...\")", argv[0]);
		return EX_USAGE;
	}
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	if ((rec = malloc(sizeof(*rec))) == NULL) {
		cli_error("%s", err_str(ERR_NOMEM));
		return EX_OSERR;
	}
	/* Read it first, to name what goes and refuse unknown ones. */
	dir_record_init(rec);
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = by_id ? store_dir_get(rt, id, rec) :
		    store_dir_get_key(rt, argv[0], rec);
		store_read_end(&rt);
	}
	if (r == 1) {
		id = rec->id;
		if (str_copy(key, sizeof(key), rec->key) < 0)
			key[0] = '\0';
	}
	free(rec);
	if (r == 0) {
		cli_error("%s: not in the directory", argv[0]);
		return EX_NOUSER;
	}
	if (r < 0) {
		cli_error("%s: %s", argv[0], err_str(r));
		return cli_exit_code(r);
	}
	memset(&op, 0, sizeof(op));
	op.id = id;
	r = store_exec(st, store_op_dir_del, &op);
	if (r == ERR_NOTFOUND) {
		cli_error("%s: not in the directory (deleted meanwhile)",
		    argv[0]);
		return EX_NOUSER;
	}
	if (r < 0) {
		cli_error("%s: %s", argv[0], err_str(r));
		return cli_exit_code(r);
	}
	uint8_t src = dir_source_of_key(key);
	if (c->json) {
		json_t *j = json_pack("{s:o, s:I, s:b}", "key",
		    json_text(key), "id",
		    (json_int_t)id, "deleted", 1);
		if (j == NULL) {
			cli_error("%s", err_str(ERR_NOMEM));
			return EX_OSERR;
		}
		cli_json_line(j);
	} else {
		char k[DIR_KEY_MAX];
		printf("%s: deleted (id %" PRIu32 ")%s\n",
		    clean(key, k, sizeof(k)), id, src != DIR_SRC_LOCAL &&
		    src != DIR_SRC_NONE ? "; the next import of its source "
		    "brings it back" : "");
	}
	return 0;
}

int
cli_dir(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return EX_USAGE;
	const char *verb = argv[0];
	argc--;
	argv++;
	if (strcmp(verb, "import") == 0)
		return dir_import(c, argc, argv);
	if (strcmp(verb, "search") == 0)
		return dir_search(c, argc, argv);
	if (strcmp(verb, "show") == 0)
		return dir_show_resolve(c, argc, argv, false);
	if (strcmp(verb, "resolve") == 0)
		return dir_show_resolve(c, argc, argv, true);
	if (strcmp(verb, "stats") == 0)
		return dir_stats(c, argc, argv);
	if (strcmp(verb, "set") == 0)
		return dir_set(c, argc, argv);
	if (strcmp(verb, "del") == 0)
		return dir_del(c, argc, argv);
	return EX_USAGE;
}
