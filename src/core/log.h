/* SPDX-License-Identifier: MIT */
/*
 * log.h - one line per event, to stderr (foreground) or syslog (daemon).
 * Lines read "ID MODULE EVENT key=value ...": build them with the logline
 * helpers, which quote values with spaces, escape control characters and cap
 * each field, so nothing a peer sends can forge or split a log line.
 * Thread-safe: a line is formatted on the caller's stack and written at once.
 * Never log bodies, passwords, AUTH payloads or tokens.
 */
#ifndef MSS_CORE_LOG_H
#define MSS_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

#define LOG_LINE_MAX 2048
#define LOG_FIELD_MAX 256

/* log_init - choose the sink and the lowest level written (LOG_DEBUG..). */
void log_init(enum log_target target, const char *ident, int level);
void log_set_level(int level);
int log_level_parse(const char *name);	/* -1 when unknown */

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx log at LOG_CRIT and exit(1): start-up errors only. */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* A structured line under construction; lives on the caller's stack. */
struct logline {
	char buf[LOG_LINE_MAX];
	size_t len;
};

void logl_begin(struct logline *l, const char *id, const char *module,
		const char *event);
void logl_str(struct logline *l, const char *key, const char *val);
/* logl_mem - like logl_str for a byte range that is not NUL-terminated. */
void logl_mem(struct logline *l, const char *key, const char *val,
	      size_t len);
void logl_u64(struct logline *l, const char *key, uint64_t val);
void logl_int(struct logline *l, const char *key, long long val);
void logl_emit(struct logline *l, int level);

#endif
