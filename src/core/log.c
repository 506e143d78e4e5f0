/* SPDX-License-Identifier: MIT */
/*
 * log.c - line-oriented logging to stderr or syslog.
 * Each line is assembled in one buffer and handed to a single write(2) or
 * syslog(3) call, so lines from several threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_target log_target = LOG_TARGET_STDERR;
static int log_min_level = LOG_INFO;

void
log_init(enum log_target target, const char *ident, int level)
{
	log_target = target;
	log_min_level = level;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(int level)
{
	log_min_level = level;
}

int
log_level_parse(const char *name)
{
	static const struct { const char *n; int l; } t[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "notice", LOG_NOTICE }, { "warning", LOG_WARNING },
		{ "error", LOG_ERR },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(name, t[i].n) == 0)
			return t[i].l;
	return -1;
}

static const char *
level_name(int level)
{
	switch (level) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_NOTICE: return "notice";
	case LOG_WARNING: return "warning";
	case LOG_ERR: return "error";
	default: return "crit";
	}
}

/* log_write - emit one finished line (without newline). */
static void
log_write(int level, const char *line, size_t len)
{
	if (level > log_min_level)
		return;
	if (log_target == LOG_TARGET_SYSLOG) {
		syslog(level, "%.*s", (int)len, line);
		return;
	}
	char out[LOG_LINE_MAX + 64];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(out, sizeof(out),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %.*s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000),
	    level_name(level), (int)len, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out)) {
		n = sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	/* A failed log write has nowhere to be reported. */
	ssize_t w = write(STDERR_FILENO, out, (size_t)n);
	(void)w;
}

static void log_vlog(int level, int with_errno, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
log_vlog(int level, int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	char line[LOG_LINE_MAX];
	if (level > log_min_level)
		return;
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (with_errno) {
		int m = snprintf(line + len, sizeof(line) - len, ": %s",
		    strerror(saved));
		if (m > 0)
			len += (size_t)m < sizeof(line) - len ?
			    (size_t)m : sizeof(line) - len - 1;
	}
	/* Control characters would let a value forge extra lines. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	log_write(level, line, len);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)			\
	void name(const char *fmt, ...)			\
	{						\
		va_list ap;				\
		va_start(ap, fmt);			\
		log_vlog(level, with_errno, fmt, ap);	\
		va_end(ap);				\
	}

LOG_FN(log_debug, LOG_DEBUG, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_notice, LOG_NOTICE, 0)
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_warnx, LOG_WARNING, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vlog(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vlog(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
logl_add(struct logline *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

void
logl_begin(struct logline *l, const char *id, const char *module,
	   const char *event)
{
	l->len = 0;
	l->buf[0] = '\0';
	logl_add(l, id ? id : "-", strlen(id ? id : "-"));
	logl_add(l, " ", 1);
	logl_add(l, module, strlen(module));
	logl_add(l, " ", 1);
	logl_add(l, event, strlen(event));
}

void
logl_mem(struct logline *l, const char *key, const char *val, size_t len)
{
	char tmp[LOG_FIELD_MAX * 4 + 8];
	size_t o = 0;
	int quote = len == 0;

	for (size_t i = 0; i < len && i < LOG_FIELD_MAX; i++)
		if (val[i] == ' ' || val[i] == '"' || val[i] == '=')
			quote = 1;
	if (quote)
		tmp[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];
		if (i >= LOG_FIELD_MAX) {
			memcpy(tmp + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			tmp[o++] = '\\';
			tmp[o++] = 'x';
			tmp[o++] = hex[c >> 4];
			tmp[o++] = hex[c & 15];
		} else if (c == '"' || c == '\\') {
			tmp[o++] = '\\';
			tmp[o++] = (char)c;
		} else {
			tmp[o++] = (char)c;
		}
	}
	if (quote)
		tmp[o++] = '"';
	logl_add(l, " ", 1);
	logl_add(l, key, strlen(key));
	logl_add(l, "=", 1);
	logl_add(l, tmp, o);
}

void
logl_str(struct logline *l, const char *key, const char *val)
{
	if (val == NULL)
		val = "";
	logl_mem(l, key, val, strlen(val));
}

void
logl_u64(struct logline *l, const char *key, uint64_t val)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)val);
	logl_mem(l, key, tmp, (size_t)n);
}

void
logl_int(struct logline *l, const char *key, long long val)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", val);
	logl_mem(l, key, tmp, (size_t)n);
}

void
logl_emit(struct logline *l, int level)
{
	log_write(level, l->buf, l->len);
}
