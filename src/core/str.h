/* SPDX-License-Identifier: MIT */
/*
 * str.h - string helpers that never truncate silently: bounded copies,
 * strict number parsing, ASCII case folding, UTF-8 validation, random ids
 * and RFC 5322 dates. Nothing here allocates.
 */
#ifndef MSS_CORE_STR_H
#define MSS_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A slice of someone else's memory. */
struct strv {
	const char *p;
	size_t len;
};

/* str_copy - copy src into dst[size]; ERR_LIMIT if it does not fit. */
int str_copy(char *dst, size_t size, const char *src);
/* str_copyn - copy n bytes of src and a NUL; ERR_LIMIT if it does not fit. */
int str_copyn(char *dst, size_t size, const char *src, size_t n);
/* str_fmt - snprintf that returns ERR_LIMIT instead of truncating. */
int str_fmt(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* str_to_u64 - whole string as decimal in [min, max], no sign, no space. */
int str_to_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* str_to_size - "1048576", "64k", "25M", "8G" (powers of 1024). */
int str_to_size(const char *s, uint64_t *out);
/* str_to_seconds - "30", "30s", "5m", "4h", "5d". */
int str_to_seconds(const char *s, uint64_t *out);
/* str_to_bool - yes/no, true/false, on/off, 1/0. */
int str_to_bool(const char *s, bool *out);

void str_lower(char *s);
void str_lowern(char *s, size_t n);
bool str_case_eq(const char *a, const char *b);
/* str_case_prefix - 1 when s starts with prefix, ignoring ASCII case. */
bool str_case_prefix(const char *s, const char *prefix);

/* utf8_valid - strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *p, size_t len);

/* str_rand_hex - 2*nbytes hex digits of randomness plus NUL into out. */
void str_rand_hex(char *out, size_t nbytes);

/* str_rfc5322_date - "Sun, 22 Nov 2026 10:00:00 +0000" (local zone). */
int str_rfc5322_date(char *out, size_t size, time_t t);

/* str_trim - strip ASCII spaces and tabs at both ends, in place. */
char *str_trim(char *s);

#endif
