/* SPDX-License-Identifier: MIT */
/*
 * queue_report.c - a delivery report on its way to the sender it is
 * about: built (dsn_build), sealed like any message, then either put in
 * the sender's INBOX (a local address) or queued, from the null sender,
 * for the sender's operator (a trust-space domain). Reports are written
 * in the same transaction as the state they describe, so a crash can
 * neither lose one nor send it twice.
 */
#include "queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "mime/mime_struct.h"
#include "relay/trust.h"

int
queue_id_parse(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	size_t i;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return ERR_INVAL;
		if (i >= 16)
			return ERR_INVAL;
		v = (v << 4) | d;
	}
	if (i != 16 || v == 0)
		return ERR_INVAL;
	*id = v;
	return 0;
}

void
queue_id_format(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016" PRIx64, id);
}

void
queue_report_free(struct queue_report **qrp)
{
	struct queue_report *qr = *qrp;
	while (qr != NULL) {
		struct queue_report *next = qr->next;
		buf_wipe(&qr->sealed);
		buf_free(&qr->info);
		free(qr);
		qr = next;
	}
	*qrp = NULL;
}

bool
queue_report_queued(const struct queue_report *qr)
{
	for (; qr != NULL; qr = qr->next)
		if (qr->account_id == 0)
			return true;
	return false;
}

/* destination - the sender's INBOX (1), its operator (2), nobody (0). */
static int
destination(const struct config *cfg, struct store *st, const char *to,
	    uint32_t *account_id)
{
	const char *at = strrchr(to, '@');
	if (at == NULL || at[1] == '\0')
		return 0;
	struct store_rtxn *rt;
	int r = store_read_begin(st, &rt);
	if (r < 0)
		return r;
	if (config_is_local_domain(cfg, at + 1)) {
		struct store_account a;
		r = store_account_find(rt, to, &a);
		if (r == 1 && a.state == STORE_ACCOUNT_ACTIVE) {
			*account_id = a.id;
			r = 1;
		} else if (r >= 0) {
			r = 0;
		}
	} else {
		char dom[STORE_HOST_MAX];
		const char *why;
		struct store_trust t;
		r = 0;
		if (trust_domain_normalize(at + 1, dom, sizeof(dom), &why) == 0)
		{
			r = store_trust_get(rt, dom, &t);
			if (r == 1)
				r = 2;
		}
	}
	store_read_end(&rt);
	return r;
}

int
queue_report_prepare(const struct dsn_report *r, struct store *st,
		     struct queue_report **out)
{
	struct config *cfg = config_current();
	struct queue_report *qr = NULL;
	struct buf plain;
	uint32_t account_id = 0;
	int ret;

	*out = NULL;
	buf_init(&plain, SIZE_MAX / 2);
	if (cfg == NULL)
		return ERR_INVAL;
	if (r->to == NULL || r->to[0] == '\0') {
		ret = 0;		/* the null sender gets no report */
		goto out;
	}
	int dest = destination(cfg, st, r->to, &account_id);
	ret = dest < 0 ? dest : 0;
	if (dest <= 0) {
		if (dest == 0)
			log_notice("- queue report dropped to=<%s> reason=\"no "
			    "mailbox here and not in the trust space\"",
			    r->to);
		goto out;
	}
	qr = calloc(1, sizeof(*qr));
	if (qr == NULL) {
		ret = ERR_NOMEM;
		goto out;
	}
	buf_init(&qr->sealed, SIZE_MAX / 2);
	buf_init(&qr->info, SIZE_MAX / 2);
	if ((ret = dsn_build(r, &plain)) < 0)
		goto out;
	struct mime_info mi;
	mime_info_init(&mi);
	ret = mime_info_parse(buf_data(&plain), buf_len(&plain), &mi);
	if (ret == 0 || ret == ERR_LIMIT)
		ret = mime_info_encode(&mi, &qr->info);
	mime_info_free(&mi);
	if (ret < 0)
		goto out;
	if ((ret = store_blob_seal(st, buf_data(&plain), buf_len(&plain),
	    &qr->sealed)) < 0)
		goto out;
	qr->size = buf_len(&plain);
	if (dest == 1) {
		qr->account_id = account_id;
	} else {
		store_queue_init(&qr->q);
		do
			randombytes_buf(&qr->q.id, sizeof(qr->q.id));
		while (qr->q.id == 0);
		qr->q.arrival = qr->q.next_attempt = (int64_t)time(NULL);
		qr->q.is_dsn = true;
		qr->q.sender[0] = '\0';
		str_copy(qr->rcpt.addr, sizeof(qr->rcpt.addr), r->to);
		qr->rcpt.notify = STORE_NOTIFY_NEVER;
		qr->rcpt.state = STORE_RCPT_PENDING;
		qr->q.n_rcpt = 1;
		qr->q.rcpts = &qr->rcpt;
	}
	*out = qr;
	qr = NULL;
	ret = 0;
out:
	buf_wipe(&plain);
	if (qr != NULL)
		queue_report_free(&qr);
	config_unref(&cfg);
	return ret;
}

int
queue_report_apply(struct store_wtxn *w, struct queue_report *qr)
{
	for (; qr != NULL; qr = qr->next) {
		int r;
		if (qr->account_id != 0) {
			struct store_delivery d;
			memset(&d, 0, sizeof(d));
			d.sealed = buf_data(&qr->sealed);
			d.sealed_len = buf_len(&qr->sealed);
			d.info = buf_data(&qr->info);
			d.info_len = buf_len(&qr->info);
			d.size = qr->size;
			d.internaldate = (int64_t)time(NULL);
			d.n_rcpt = 1;
			d.account_ids = &qr->account_id;
			d.uids_r = &qr->uid_r;
			d.mailbox_ids_r = &qr->mailbox_id_r;
			r = store_op_deliver(w, &d);
		} else {
			struct store_queue_add a;
			memset(&a, 0, sizeof(a));
			a.q = &qr->q;
			a.sealed = buf_data(&qr->sealed);
			a.sealed_len = buf_len(&qr->sealed);
			a.info = buf_data(&qr->info);
			a.info_len = buf_len(&qr->info);
			a.size = qr->size;
			r = store_op_queue_add(w, &a);
		}
		if (r < 0)
			return r;
	}
	return 0;
}
