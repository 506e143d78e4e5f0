/* SPDX-License-Identifier: MIT */
/*
 * cli_queue.c - `mssgate queue`: the mail waiting for other operators.
 * `list` and `show` read the store; `retry`, `hold`, `release` and
 * `delete` write through store_exec like every other CLI command. The
 * daemon may be running: LMDB serialises the writers of both processes,
 * and the daemon's scheduler rereads the due index every second, so what
 * is made due here is tried within about a second without a control
 * socket. Queue ids are printed and read as the 16 hexadecimal digits
 * the SMTP server gives in "250 2.0.0 Ok: queued as ...".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/str.h"
#include "store/store.h"

#define QID_LEN 16
#define ISO_TIME_MAX 32

/* parse_id - exactly 16 hex digits, not all zero: id 0 means "every
 * record" to store_op_queue_admin, so it must never come from a typo. */
static int
parse_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	if (strlen(s) != QID_LEN)
		return ERR_INVAL;
	for (size_t i = 0; i < QID_LEN; i++) {
		unsigned char ch = (unsigned char)s[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return ERR_INVAL;
		v = v << 4 | d;
	}
	if (v == 0)
		return ERR_INVAL;
	*id = v;
	return 0;
}

/* get_id - parse_id with the message; EX_USAGE like `message show`
 * does for a UID that is not one. */
static int
get_id(const char *s, uint64_t *id)
{
	if (parse_id(s, id) == 0)
		return 0;
	cli_error("%s: not a queue id (16 hexadecimal digits, as in "
	    "\"queued as 0123456789abcdef\")", s);
	return EX_USAGE;
}

static void
fmt_id(uint64_t id, char out[QID_LEN + 1])
{
	/* 17 bytes always hold 16 digits and the NUL. */
	snprintf(out, QID_LEN + 1, "%016" PRIx64, id);
}

/* iso_time - "2026-05-01T10:00:00Z"; "-" for 0 (never). */
static const char *
iso_time(int64_t t, char *out, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == 0)
		return "-";
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return "?";
	return out;
}

/* clean - s with control characters shown as '?': diagnostics are the
 * words of a remote server, and must not drive the admin's terminal. */
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

static const char *
state_name(uint8_t state)
{
	switch (state) {
	case STORE_RCPT_PENDING: return "pending";
	case STORE_RCPT_SENT: return "sent";
	case STORE_RCPT_FAILED: return "failed";
	default: return "unknown";
	}
}

static const char *
ret_name(uint8_t ret)
{
	switch (ret) {
	case STORE_RET_FULL: return "FULL";
	case STORE_RET_HDRS: return "HDRS";
	default: return NULL;
	}
}

static const struct {
	uint8_t bit;
	const char *name;
} notify_names[] = {
	{ STORE_NOTIFY_NEVER, "NEVER" },
	{ STORE_NOTIFY_SUCCESS, "SUCCESS" },
	{ STORE_NOTIFY_FAILURE, "FAILURE" },
	{ STORE_NOTIFY_DELAY, "DELAY" },
};
#define N_NOTIFY (sizeof(notify_names) / sizeof(notify_names[0]))

/* notify_str - "SUCCESS,FAILURE" as in the RCPT parameter; "-" if unset. */
static const char *
notify_str(uint8_t notify, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < N_NOTIFY; i++) {
		if (!(notify & notify_names[i].bit))
			continue;
		int n = snprintf(out + o, size - o, "%s%s", o ? "," : "",
		    notify_names[i].name);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
	return o ? out : "-";
}

/* ---- JSON ---- */

/* jtext - a JSON string for stored text; NULL as JSON null when empty
 * and nullable. Jansson refuses invalid UTF-8 (a remote server's reply
 * may hold any byte), so such text goes with '?' for non-ASCII bytes
 * rather than not at all. */
static json_t *
jtext(const char *s, bool nullable)
{
	char tmp[STORE_DIAG_MAX + STORE_HOST_MAX];
	size_t len = strlen(s);
	if (len == 0 && nullable)
		return json_null();
	if (utf8_valid(s, len))
		return json_string(s);
	size_t i = 0;
	for (; i < len && i + 1 < sizeof(tmp); i++)
		tmp[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	tmp[i] = '\0';
	return json_string(tmp);
}

/* jset - json_object_set_new that remembers a failure (a NULL value is
 * an allocation that failed). */
static void
jset(json_t *o, const char *key, json_t *v, int *err)
{
	if (v == NULL) {
		*err = ERR_NOMEM;
	} else if (o == NULL) {
		json_decref(v);
		*err = ERR_NOMEM;
	} else if (json_object_set_new(o, key, v) < 0) {
		*err = ERR_NOMEM;	/* jansson released v */
	}
}

static json_t *
rcpt_json(const struct store_qrcpt *r)
{
	int err = 0;
	json_t *o = json_object(), *nt = json_array();
	for (size_t i = 0; nt != NULL && i < N_NOTIFY; i++)
		if ((r->notify & notify_names[i].bit) &&
		    json_array_append_new(nt,
		    json_string(notify_names[i].name)) < 0)
			err = ERR_NOMEM;
	jset(o, "address", jtext(r->addr, false), &err);
	jset(o, "orcpt", jtext(r->orcpt, true), &err);
	jset(o, "notify", nt, &err);
	jset(o, "state", json_string(state_name(r->state)), &err);
	jset(o, "attempts", json_integer(r->attempts), &err);
	jset(o, "last_attempt", r->last_attempt != 0 ?
	    json_integer(r->last_attempt) : json_null(), &err);
	jset(o, "status", jtext(r->status, true), &err);
	jset(o, "diag", jtext(r->diag, true), &err);
	jset(o, "remote", jtext(r->remote, true), &err);
	jset(o, "delay_notified", json_boolean(r->delay_notified), &err);
	if (err != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* queue_json - the whole record; times are Unix seconds like the other
 * JSON output of the CLI. NULL when out of memory. */
static json_t *
queue_json(const struct store_queue *q)
{
	char id[QID_LEN + 1];
	const char *ret = ret_name(q->ret);
	int err = 0;
	json_t *o = json_object(), *rs = json_array();

	fmt_id(q->id, id);
	for (size_t i = 0; rs != NULL && i < q->n_rcpt; i++) {
		json_t *r = rcpt_json(&q->rcpts[i]);
		if (r == NULL || json_array_append_new(rs, r) < 0)
			err = ERR_NOMEM;
	}
	jset(o, "id", json_string(id), &err);
	jset(o, "arrival", json_integer(q->arrival), &err);
	jset(o, "next_attempt", json_integer(q->next_attempt), &err);
	jset(o, "size", json_integer((json_int_t)q->size), &err);
	jset(o, "sender", jtext(q->sender, false), &err);
	jset(o, "envid", jtext(q->envid, true), &err);
	jset(o, "ret", ret ? json_string(ret) : json_null(), &err);
	jset(o, "held", json_boolean(q->held), &err);
	jset(o, "is_dsn", json_boolean(q->is_dsn), &err);
	jset(o, "account_id", json_integer(q->account_id), &err);
	jset(o, "blob", json_integer((json_int_t)q->blob_id), &err);
	jset(o, "recipients", rs, &err);
	if (err != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- list ---- */

struct list_ctx {
	struct cli *c;
	size_t n;
	uint64_t bytes;
};

static void
print_rcpt_line(const struct store_qrcpt *r)
{
	char addr[STORE_ADDR_MAX], diag[STORE_DIAG_MAX];
	char status[STORE_STATUS_MAX];
	printf("    %s  %s  attempts %u  %s", clean(r->addr, addr,
	    sizeof(addr)), state_name(r->state), (unsigned)r->attempts,
	    r->status[0] ? clean(r->status, status, sizeof(status)) : "-");
	if (r->diag[0] != '\0')
		printf("  (%s)", clean(r->diag, diag, sizeof(diag)));
	printf("\n");
}

static int
list_cb(const struct store_queue *q, void *arg)
{
	struct list_ctx *x = arg;
	char id[QID_LEN + 1], arr[ISO_TIME_MAX], next[ISO_TIME_MAX];
	char sender[STORE_ADDR_MAX];

	x->n++;
	x->bytes += q->size;
	if (x->c->json) {
		json_t *o = queue_json(q);
		if (o == NULL)
			return ERR_NOMEM;
		cli_json_line(o);
		return 0;
	}
	if (x->n == 1)
		printf("%-17s %10s  %-20s  %-20s  %s\n", "QUEUE ID", "SIZE",
		    "ARRIVAL", "NEXT ATTEMPT", "SENDER/RECIPIENTS");
	fmt_id(q->id, id);
	/* '!' after the id marks a held message, as Postfix's mailq does. */
	printf("%s%c %10" PRIu64 "  %-20s  %-20s  %s\n", id,
	    q->held ? '!' : ' ', q->size,
	    iso_time(q->arrival, arr, sizeof(arr)),
	    q->held ? "held" : iso_time(q->next_attempt, next, sizeof(next)),
	    q->sender[0] ? clean(q->sender, sender, sizeof(sender)) : "<>");
	for (size_t i = 0; i < q->n_rcpt; i++)
		print_rcpt_line(&q->rcpts[i]);
	return 0;
}

static int
queue_list(struct cli *c, int argc, char **argv)
{
	struct store_rtxn *rt;
	struct list_ctx x = { c, 0, 0 };
	if (argc != 0)
		return EX_USAGE;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_queue_iter(rt, list_cb, &x);
		store_read_end(&rt);
	}
	if (r < 0) {
		cli_error("%s", err_str(r));
		return cli_exit_code(r);
	}
	if (c->json)
		return 0;
	if (x.n == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %" PRIu64 " KB in %zu request%s\n",
		    (x.bytes + 1023) / 1024, x.n, x.n == 1 ? "" : "s");
	return 0;
}

/* ---- show ---- */

/* load - the record by id, in its own short read; prints on failure.
 * 0 with q filled (the caller frees it), or an exit code. */
static int
load(struct cli *c, const char *arg, uint64_t id, struct store_queue *q)
{
	struct store_rtxn *rt;
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_queue_get(rt, id, q);
		store_read_end(&rt);
	}
	if (r == 0) {
		cli_error("%s: no such message in the queue", arg);
		return cli_exit_code(ERR_NOTFOUND);
	}
	if (r < 0) {
		cli_error("%s: %s", arg, err_str(r));
		return cli_exit_code(r);
	}
	return 0;
}

/* account_login - who submitted it, for the reader; "" when unknown. */
static void
account_login(struct cli *c, uint32_t id, char *out, size_t size)
{
	struct store_rtxn *rt;
	struct store_account *a;
	out[0] = '\0';
	if (id == 0 || (a = malloc(sizeof(*a))) == NULL)
		return;
	if (store_read_begin(c->st, &rt) == 0) {
		if (store_account_get(rt, id, a) == 1 &&
		    str_copy(out, size, a->login) < 0)
			out[0] = '\0';
		store_read_end(&rt);
	}
	free(a);
}

static void
print_record(struct cli *c, const struct store_queue *q)
{
	char id[QID_LEN + 1], t[ISO_TIME_MAX], s[STORE_DIAG_MAX];
	char login[STORE_ADDR_MAX], nt[64];
	const char *ret = ret_name(q->ret);

	fmt_id(q->id, id);
	printf("id:              %s\n", id);
	printf("arrival:         %s\n", iso_time(q->arrival, t, sizeof(t)));
	printf("next attempt:    %s\n", q->held ? "none (held until "
	    "released)" : iso_time(q->next_attempt, t, sizeof(t)));
	printf("held:            %s\n", q->held ? "yes" : "no");
	printf("size:            %" PRIu64 "\n", q->size);
	printf("sender:          %s\n", q->sender[0] ?
	    clean(q->sender, s, sizeof(s)) : "<>");
	printf("envid:           %s\n", q->envid[0] ?
	    clean(q->envid, s, sizeof(s)) : "-");
	printf("ret:             %s\n", ret ? ret : "-");
	printf("report (DSN):    %s\n", q->is_dsn ? "yes" : "no");
	account_login(c, q->account_id, login, sizeof(login));
	if (q->account_id == 0)
		printf("account:         -\n");
	else
		printf("account:         %" PRIu32 " (%s)\n", q->account_id,
		    login[0] ? login : "no such account now");
	printf("blob:            %" PRIu64 "\n", q->blob_id);
	printf("recipients:      %zu\n", q->n_rcpt);
	for (size_t i = 0; i < q->n_rcpt; i++) {
		const struct store_qrcpt *r = &q->rcpts[i];
		printf("recipient %zu:     %s\n", i + 1,
		    clean(r->addr, s, sizeof(s)));
		printf("  state:         %s\n", state_name(r->state));
		printf("  orcpt:         %s\n", r->orcpt[0] ?
		    clean(r->orcpt, s, sizeof(s)) : "-");
		printf("  notify:        %s\n", notify_str(r->notify, nt,
		    sizeof(nt)));
		printf("  attempts:      %u\n", (unsigned)r->attempts);
		printf("  last attempt:  %s\n", iso_time(r->last_attempt, t,
		    sizeof(t)));
		printf("  status:        %s\n", r->status[0] ?
		    clean(r->status, s, sizeof(s)) : "-");
		printf("  diagnostic:    %s\n", r->diag[0] ?
		    clean(r->diag, s, sizeof(s)) : "-");
		printf("  remote:        %s\n", r->remote[0] ?
		    clean(r->remote, s, sizeof(s)) : "-");
		printf("  delay report:  %s\n", r->delay_notified ? "sent" :
		    "not sent");
	}
}

static int
queue_show(struct cli *c, int argc, char **argv)
{
	struct store_queue q;
	uint64_t id;
	if (argc != 1)
		return EX_USAGE;
	int rc = get_id(argv[0], &id);
	if (rc != 0)
		return rc;
	store_queue_init(&q);
	if ((rc = load(c, argv[0], id, &q)) != 0)
		return rc;
	if (c->json) {
		json_t *o = queue_json(&q);
		if (o == NULL) {
			cli_error("%s: %s", argv[0], err_str(ERR_NOMEM));
			rc = cli_exit_code(ERR_NOMEM);
		} else {
			cli_json_line(o);
		}
	} else {
		print_record(c, &q);
	}
	store_queue_free(&q);
	return rc;
}

/* ---- retry, hold, release, delete ---- */

static const char *
action_name(enum store_queue_action a)
{
	switch (a) {
	case STORE_QUEUE_HOLD: return "hold";
	case STORE_QUEUE_RELEASE: return "release";
	case STORE_QUEUE_RETRY: return "retry";
	case STORE_QUEUE_DELETE: return "delete";
	}
	return "?";
}

static int
print_done(struct cli *c, const char *id, enum store_queue_action a,
	   size_t done)
{
	if (!c->json)
		return 0;
	json_t *o = json_pack("{s:o, s:s, s:I}", "id",
	    id ? json_string(id) : json_null(), "action", action_name(a),
	    "done", (json_int_t)done);
	if (o == NULL) {
		cli_error("%s", err_str(ERR_NOMEM));
		return cli_exit_code(ERR_NOMEM);
	}
	cli_json_line(o);
	return 0;
}

struct held_count {
	size_t held;
};

static int
count_held(const struct store_queue *q, void *arg)
{
	struct held_count *h = arg;
	if (q->held)
		h->held++;
	return 0;
}

/* retry_all - every record due now. The store counts held records among
 * those it went through although it leaves them held, so they are
 * counted first and reported apart. An admin holding or releasing in
 * between could skew the two numbers, never what is done. */
static int
retry_all(struct cli *c)
{
	struct store_rtxn *rt;
	struct held_count h = { 0 };
	struct store_queue_admin a = { 0, STORE_QUEUE_RETRY, time(NULL), 0 };
	struct store *st = cli_store(c);
	if (st == NULL)
		return EX_UNAVAILABLE;
	int r = store_read_begin(st, &rt);
	if (r == 0) {
		r = store_queue_iter(rt, count_held, &h);
		store_read_end(&rt);
	}
	if (r == 0)
		r = store_exec(st, store_op_queue_admin, &a);
	if (r < 0) {
		cli_error("retry: %s", err_str(r));
		return cli_exit_code(r);
	}
	size_t held = h.held < a.n_done_r ? h.held : a.n_done_r;
	size_t done = a.n_done_r - held;
	if (!c->json) {
		printf("%zu message%s queued for retry\n", done,
		    done == 1 ? "" : "s");
		if (held > 0)
			printf("%zu held message%s left on hold (queue release "
			    "ID to send them)\n", held, held == 1 ? "" : "s");
	}
	return print_done(c, NULL, STORE_QUEUE_RETRY, done);
}

static int
queue_admin(struct cli *c, int argc, char **argv,
	    enum store_queue_action action)
{
	struct store_queue q;
	uint64_t id;

	if (action == STORE_QUEUE_RETRY && argc == 1 &&
	    strcmp(argv[0], "--all") == 0)
		return retry_all(c);
	if (argc != 1)
		return EX_USAGE;
	int rc = get_id(argv[0], &id);
	if (rc != 0)
		return rc;
	/* Read it first: to refuse an unknown id clearly, and to say what
	 * a retry of a held message would not do (the store leaves it
	 * held, and the admin would wait for nothing). */
	store_queue_init(&q);
	if ((rc = load(c, argv[0], id, &q)) != 0)
		return rc;
	bool was_held = q.held;
	store_queue_free(&q);
	if (action == STORE_QUEUE_RETRY && was_held) {
		cli_error("%s is on hold: not retried (`mssgate queue release "
		    "%s` sends it)", argv[0], argv[0]);
		return EX_DATAERR;
	}

	char idtxt[QID_LEN + 1];
	fmt_id(id, idtxt);
	struct store_queue_admin a = { id, action, time(NULL), 0 };
	int r = store_exec(c->st, store_op_queue_admin, &a);
	if (r == ERR_NOTFOUND) {
		/* Gone since it was read: sent, bounced or deleted. */
		cli_error("%s: no such message in the queue (it left while "
		    "this command ran)", idtxt);
		return cli_exit_code(r);
	}
	if (r < 0) {
		cli_error("%s: %s failed: %s", idtxt, action_name(action),
		    err_str(r));
		return cli_exit_code(r);
	}
	if (!c->json) {
		switch (action) {
		case STORE_QUEUE_RETRY:
			printf("%s queued for immediate retry\n", idtxt);
			break;
		case STORE_QUEUE_HOLD:
			printf(was_held ? "%s was already on hold\n" :
			    "%s put on hold\n", idtxt);
			break;
		case STORE_QUEUE_RELEASE:
			printf(was_held ? "%s released and queued for "
			    "immediate delivery\n" : "%s was not on hold; "
			    "queued for immediate retry\n", idtxt);
			break;
		case STORE_QUEUE_DELETE:
			printf("%s deleted (no report sent to the sender)\n",
			    idtxt);
			break;
		}
	}
	return print_done(c, idtxt, action, a.n_done_r);
}

int
cli_queue(struct cli *c, int argc, char **argv)
{
	static const struct {
		const char *verb;
		enum store_queue_action action;
	} admin[] = {
		{ "retry", STORE_QUEUE_RETRY },
		{ "hold", STORE_QUEUE_HOLD },
		{ "release", STORE_QUEUE_RELEASE },
		{ "delete", STORE_QUEUE_DELETE },
	};
	if (argc < 1)
		return EX_USAGE;
	if (strcmp(argv[0], "list") == 0)
		return queue_list(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return queue_show(c, argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(admin) / sizeof(admin[0]); i++)
		if (strcmp(argv[0], admin[i].verb) == 0)
			return queue_admin(c, argc - 1, argv + 1,
			    admin[i].action);
	return EX_USAGE;
}
