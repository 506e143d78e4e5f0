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
		    "s:I, s:s, s:b}", "name", m->name, "id", (json_int_t)m->id,
		    "uidvalidity", (json_int_t)m->uidvalidity, "uidnext",
		    (json_int_t)m->uidnext, "highestmodseq",
		    (json_int_t)m->highestmodseq, "messages",
		    (json_int_t)m->n_messages, "unseen",
		    (json_int_t)m->n_unseen, "size", (json_int_t)m->total_size,
		    "special_use", store_special_use_name(m->special_use),
		    "subscribed", m->subscribed));
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

int
cli_message(struct cli *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "list") == 0)
		return message_list(c, argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "show") == 0)
		return message_show(c, argc - 1, argv + 1);
	return EX_USAGE;
}
