/* SPDX-License-Identifier: MIT */
/* str.c - bounded string and number helpers (see str.h). */
#include "str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "err.h"

int
str_copy(char *dst, size_t size, const char *src)
{
	return str_copyn(dst, size, src, strlen(src));
}

int
str_copyn(char *dst, size_t size, const char *src, size_t n)
{
	if (size == 0 || n >= size) {
		if (size > 0)
			dst[0] = '\0';
		return ERR_LIMIT;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int
str_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ERR_INVAL;
	if ((size_t)n >= size)
		return ERR_LIMIT;
	return 0;
}

int
str_to_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return ERR_INVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return ERR_INVAL;
	if (v < min || v > max)
		return ERR_LIMIT;
	*out = v;
	return 0;
}

/* str_suffixed - number followed by at most one unit letter. */
static int
str_suffixed(const char *s, const char *units, const uint64_t *mult,
	     uint64_t *out)
{
	char tmp[32];
	size_t n = strlen(s);
	uint64_t m = 1, v;

	if (n == 0 || n >= sizeof(tmp))
		return ERR_INVAL;
	memcpy(tmp, s, n + 1);
	const char *u = strchr(units, tmp[n - 1]);
	if (u != NULL && tmp[n - 1] != '\0') {
		m = mult[u - units];
		tmp[n - 1] = '\0';
	}
	int r = str_to_u64(tmp, 0, UINT64_MAX, &v);
	if (r < 0)
		return r;
	if (v != 0 && m > UINT64_MAX / v)
		return ERR_LIMIT;
	*out = v * m;
	return 0;
}

int
str_to_size(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = { 1, 1024, 1024, 1048576, 1048576,
		1073741824ULL, 1073741824ULL, 1099511627776ULL,
		1099511627776ULL };
	return str_suffixed(s, "bkKmMgGtT", mult, out);
}

int
str_to_seconds(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };
	return str_suffixed(s, "smhdw", mult, out);
}

int
str_to_bool(const char *s, bool *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return ERR_INVAL;
}

void
str_lowern(char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i] != '\0'; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] + ('a' - 'A'));
}

void
str_lower(char *s)
{
	str_lowern(s, SIZE_MAX);
}

bool
str_case_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool
str_case_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool
utf8_valid(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

void
str_rand_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[64];
	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	randombytes_buf(r, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

int
str_rfc5322_date(char *out, size_t size, time_t t)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return ERR_INVAL;
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	return str_fmt(out, size, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 60, off % 60);
}

char *
str_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}
