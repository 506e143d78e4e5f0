/* SPDX-License-Identifier: MIT */
/*
 * cli_mailbox.c - `mssgate mailbox` and `mssgate message`: look at what
 * the store holds for a user, read-only. `message show` prints the stored
 * message exactly as delivered (decrypted), bytes unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <sodium.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "store/store.h"

/* find_user - begin a read and find the account; prints on failure. */
static int
find_user(struct cli *c, const char *user, struct store_rtxn **rt,
	  struct store_account *a)
{
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, rt);
	if (r < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	r = store_account_find(*rt, user, a);
	if (r <= 0) {
		store_read_end(rt);
		cli_error("%s: %s", user, r == 0 ? "no such user" :
		    err_str(r));
		return r == 0 ? EX_NOUSER : cli_exit_code(r);
	}
	return 0;
}

static void
flags_str(uint32_t f, char *out, size_t size)
{
	static const struct { uint32_t bit; const char *name; } t[] = {
		{ STORE_FLAG_SEEN, "\\Seen" },
		{ STORE_FLAG_ANSWERED, "\\Answered" },
		{ STORE_FLAG_FLAGGED, "\\Flagged" },
		{ STORE_FLAG_DELETED, "\\Deleted" },
		{ STORE_FLAG_DRAFT, "\\Draft" },
	};
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!(f & t[i].bit))
			continue;
		int n = snprintf(out + o, size - o, "%s%s", o ? " " : "",
		    t[i].name);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
}

static int
mbox_cb(const struct store_mailbox *m, void *arg)
{
	struct cli *c = arg;
	if (c->json) {
		cli_json_line(json_pack("{s:s, s:i, s:I, s:I, s:I, s:i, s:i, "
		    "s:I, s:s}", "name", m->name, "id", (json_int_t)m->id,
		    "uidvalidity", (json_int_t)m->uidvalidity, "uidnext",
		    (json_int_t)m->uidnext, "highestmodseq",
		    (json_int_t)m->highestmodseq, "messages",
		    (json_int_t)m->n_messages, "unseen",
		    (json_int_t)m->n_unseen, "size", (json_int_t)m->total_size,
		    "special_use", store_special_use_name(m->special_use)));
		return 0;
	}
	printf("%-20s %-9s %8u %8u %12llu %10u %8u\n", m->name,
	    store_special_use_name(m->special_use), m->n_messages, m->n_unseen,
	    (unsigned long long)m->total_size, m->uidvalidity, m->uidnext);
	return 0;
}

static int
mailbox_list(struct cli *c, int argc, char **argv)
{
	struct store_rtxn *rt;
	struct store_account a;
	if (argc != 1)
		return EX_USAGE;
	int rc = find_user(c, argv[0], &rt, &a);
	if (rc != 0)
		return rc;
	if (!c->json)
		printf("%-20s %-9s %8s %8s %12s %10s %8s\n", "MAILBOX", "ROLE",
		    "MESSAGES", "UNSEEN", "SIZE", "UIDVALID", "UIDNEXT");
	int r = store_mailbox_iter(rt, a.id, mbox_cb, c);
	store_read_end(&rt);
	if (r < 0)
		cli_error("%s", err_str(r));
	return cli_exit_code(r);
}

int
cli_mailbox(struct cli *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return mailbox_list(c, argc - 1, argv + 1);
	return EX_USAGE;
}

static int
msg_cb(const struct store_msg *m, void *arg)
{
	struct cli *c = arg;
	char flags[128], date[64];
	flags_str(m->flags, flags, sizeof(flags));
	if (c->json) {
		cli_json_line(json_pack("{s:I, s:I, s:I, s:I, s:s, s:I}",
		    "uid", (json_int_t)m->uid, "size", (json_int_t)m->size,
		    "internaldate", (json_int_t)m->internaldate, "modseq",
		    (json_int_t)m->modseq, "flags", flags, "blob",
		    (json_int_t)m->blob_id));
		return 0;
	}
	str_rfc5322_date(date, sizeof(date), (time_t)m->internaldate);
	printf("%8u %10llu  %-31s %s\n", m->uid, (unsigned long long)m->size,
	    date, flags);
	return 0;
}

/* open_mailbox - user and mailbox by name; prints on failure. */
static int
open_mailbox(struct cli *c, const char *user, const char *name,
	     struct store_rtxn **rt, struct store_mailbox *mb)
{
	struct store_account a;
	int rc = find_user(c, user, rt, &a);
	if (rc != 0)
		return rc;
	int r = store_mailbox_get(*rt, a.id, name, mb);
	if (r <= 0) {
		store_read_end(rt);
		cli_error("%s: %s", name, r == 0 ? "no such mailbox" :
		    err_str(r));
		return r == 0 ? EX_DATAERR : cli_exit_code(r);
	}
	return 0;
}

static int
message_list(struct cli *c, int argc, char **argv)
{
	struct store_rtxn *rt;
	struct store_mailbox mb;
	if (argc != 2)
		return EX_USAGE;
	int rc = open_mailbox(c, argv[0], argv[1], &rt, &mb);
	if (rc != 0)
		return rc;
	if (!c->json)
		printf("%8s %10s  %-31s %s\n", "UID", "SIZE", "RECEIVED",
		    "FLAGS");
	int r = store_msg_iter(rt, mb.id, msg_cb, c);
	store_read_end(&rt);
	if (r < 0)
		cli_error("%s", err_str(r));
	return cli_exit_code(r);
}

static int
message_show(struct cli *c, int argc, char **argv)
{
	struct store_rtxn *rt;
	struct store_mailbox mb;
	struct store_msg m;
	uint64_t uid;
	struct buf b;

	if (argc != 3)
		return EX_USAGE;
	if (str_to_u64(argv[2], 1, UINT32_MAX, &uid) < 0) {
		cli_error("%s: not a UID", argv[2]);
		return EX_USAGE;
	}
	int rc = open_mailbox(c, argv[0], argv[1], &rt, &mb);
	if (rc != 0)
		return rc;
	int r = store_msg_get(rt, mb.id, (uint32_t)uid, &m);
	if (r == 0) {
		store_read_end(&rt);
		cli_error("%s/%s: no message with UID %s", argv[0], argv[1],
		    argv[2]);
		return EX_DATAERR;
	}
	buf_init(&b, SIZE_MAX / 2);
	if (r > 0)
		r = store_blob_read(rt, m.blob_id, &b);
	store_read_end(&rt);
	if (r < 0) {
		buf_free(&b);
		cli_error("%s/%s/%s: %s", argv[0], argv[1], argv[2],
		    r == ERR_CORRUPT ? "stored message fails its integrity "
		    "check" : err_str(r));
		return cli_exit_code(r);
	}
	if (fwrite(buf_data(&b), 1, buf_len(&b), stdout) != buf_len(&b))
		r = ERR_IO;
	buf_wipe(&b);
	return cli_exit_code(r);
}

struct export_ctx {
	struct cli *c;
	struct store_rtxn *rt;
	struct buf b;
	int err;
};

/* mboxrd_write - one message in mboxrd form (Unix line endings, lines
 * matching ">*From " get one more '>'), then the empty separator line. */
static int
mboxrd_write(const char *p, size_t len, FILE *out)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (p + i)) : len - i;
		size_t body = n > 0 && p[i + n - 1] == '\r' ? n - 1 : n;
		size_t k = i;
		while (k < i + body && p[k] == '>')
			k++;
		if (i + body - k >= 5 && memcmp(p + k, "From ", 5) == 0 &&
		    fputc('>', out) == EOF)
			return ERR_IO;
		if (fwrite(p + i, 1, body, out) != body ||
		    fputc('\n', out) == EOF)
			return ERR_IO;
		i += n + (nl ? 1 : 0);
	}
	return fputc('\n', out) == EOF ? ERR_IO : 0;
}

static int
export_cb(const struct store_msg *m, void *arg)
{
	struct export_ctx *x = arg;
	buf_reset(&x->b);
	int r = store_blob_read(x->rt, m->blob_id, &x->b);
	if (r < 0) {
		cli_error("UID %u: %s", m->uid, r == ERR_CORRUPT ?
		    "stored message fails its integrity check" : err_str(r));
		x->err = r;
		return 0;	/* report every bad message, then fail */
	}
	if (x->c->json) {
		size_t n = sodium_base64_encoded_len(buf_len(&x->b),
		    sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(n);
		if (b64 == NULL)
			return ERR_NOMEM;
		sodium_bin2base64(b64, n, (const unsigned char *)buf_data(&x->b),
		    buf_len(&x->b), sodium_base64_VARIANT_ORIGINAL);
		cli_json_line(json_pack("{s:I, s:I, s:I, s:s}", "uid",
		    (json_int_t)m->uid, "size", (json_int_t)m->size,
		    "internaldate", (json_int_t)m->internaldate, "data_b64",
		    b64));
		free(b64);
		return 0;
	}
	char date[64];
	time_t t = (time_t)m->internaldate;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	if (printf("From MAILER-DAEMON %s\n", date) < 0)
		return ERR_IO;
	return mboxrd_write(buf_data(&x->b), buf_len(&x->b), stdout);
}

static int
message_export(struct cli *c, int argc, char **argv)
{
	struct export_ctx x = { c, NULL, { 0 }, 0 };
	struct store_mailbox mb;
	if (argc != 2)
		return EX_USAGE;
	int rc = open_mailbox(c, argv[0], argv[1], &x.rt, &mb);
	if (rc != 0)
		return rc;
	buf_init(&x.b, SIZE_MAX / 2);
	int r = store_msg_iter(x.rt, mb.id, export_cb, &x);
	store_read_end(&x.rt);
	buf_wipe(&x.b);
	if (r == 0)
		r = x.err;
	if (r < 0 && x.err == 0)
		cli_error("%s", err_str(r));
	return cli_exit_code(r);
}

int
cli_message(struct cli *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return message_list(c, argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "export") == 0)
		return message_export(c, argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "show") == 0)
		return message_show(c, argc - 1, argv + 1);
	return EX_USAGE;
}
