/* SPDX-License-Identifier: MIT */
/*
 * dsn.h - delivery status notifications (RFC 3464, with the SMTP DSN
 * extension's parameters of RFC 3461): the report a sender receives when
 * a message failed, is delayed, or — when asked with NOTIFY=SUCCESS — was
 * delivered or relayed. Building only: the queue decides when.
 */
#ifndef MSS_QUEUE_DSN_H
#define MSS_QUEUE_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum dsn_action {
	DSN_FAILED,
	DSN_DELAYED,
	DSN_DELIVERED,
	DSN_RELAYED,
};

struct dsn_rcpt {
	const char *final;		/* the address tried */
	const char *orcpt;		/* "rfc822;addr" from ORCPT, or NULL */
	enum dsn_action action;
	const char *status;		/* "5.1.1" */
	const char *remote_mta;		/* host name, or NULL */
	const char *diag;		/* the server's reply, or NULL */
	int64_t last_attempt;		/* 0: none */
	int64_t will_retry_until;	/* delayed only; 0: none */
};

enum dsn_return {
	DSN_RETURN_DEFAULT,		/* RET not given: as FULL */
	DSN_RETURN_FULL,		/* failure reports return the message;
					 * success and delay ones, whatever RET
					 * says, the header section (RFC 3461
					 * 4.3: RET is about failures) */
	DSN_RETURN_HDRS,
};

struct dsn_report {
	const char *reporting_mta;	/* our host name */
	const char *from;		/* "MAILER-DAEMON@host" */
	const char *to;			/* the original sender */
	const char *envid;		/* ENVID, or NULL */
	int64_t arrival;
	int64_t now;			/* Date of the report */
	enum dsn_return ret;
	const char *message;		/* the original message, CRLF */
	size_t message_len;
	size_t n_rcpt;
	const struct dsn_rcpt *rcpts;	/* all with the same kind of action */
	const char *message_id;		/* "<id@host>" for the report */
};

/*
 * dsn_build - the whole report as an RFC 5322 message with CRLF line
 * endings, appended to out: From, To, Subject ("Undelivered Mail
 * Returned to Sender", "Delayed Mail (still being retried)", "Successful
 * Mail Delivery Report"), Date, Message-ID, Auto-Submitted:
 * auto-replied, MIME-Version, Content-Type: multipart/report;
 * report-type=delivery-status; then a human-readable text/plain part, the
 * message/delivery-status part (Reporting-MTA, Original-Envelope-Id,
 * Arrival-Date; per recipient Original-Recipient, Final-Recipient,
 * Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
 * Will-Retry-Until), and the original message (message/rfc822) or its
 * header (text/rfc822-headers). Values that came from outside are
 * sanitized (no CR/LF injection; xtext of RFC 3461 where required).
 * Returns 0 or a negative ERR_*: ERR_INVAL for an empty `to` (a report is
 * never sent to the null sender), an address over 255 octets, an invalid
 * status or envid, no recipient, or kinds that cannot share one report
 * (failed, delayed and success reports are separate; "delivered" and
 * "relayed" may mix). On error out is left as it was.
 */
int dsn_build(const struct dsn_report *r, struct buf *out);

/* dsn_xtext_decode / _encode - RFC 3461 4 xtext ("+2B" for '+').
 * dsn_xtext_decode writes a NUL-terminated result and returns 0;
 * ERR_PROTO for bad xtext, ERR_LIMIT when it does not fit in size. */
int dsn_xtext_decode(const char *in, size_t len, char *out, size_t size);
int dsn_xtext_encode(const char *in, struct buf *out);

#endif
