/* SPDX-License-Identifier: MIT */
/*
 * trust_idna.c - domain names in the one form the trust space stores and
 * compares: lower-case A-labels (IDNA2008, RFC 5890-5891) built with our
 * own Punycode (RFC 3492) and a simple Unicode lower-case table. Names
 * must already be in NFC: nothing here composes characters, and a
 * decomposed accent is refused rather than guessed at. Not done: the full
 * RFC 5892 code point table, the Bidi rule (RFC 5893) and the contextual
 * rules; disallowed() lists what is refused instead.
 */
#include "trust.h"
#include "trust_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/str.h"

#define NAME_MAX_OCTETS 253	/* RFC 1035 255, less the length octets */
#define ACE_PREFIX "xn--"
#define ACE_LEN 4

/* ---- Punycode, RFC 3492 section 5 parameters ---- */

enum {
	PC_BASE = 36,
	PC_TMIN = 1,
	PC_TMAX = 26,
	PC_SKEW = 38,
	PC_DAMP = 700,
	PC_INITIAL_BIAS = 72,
	PC_INITIAL_N = 0x80,
	PC_DELIMITER = '-',
};

/* adapt - RFC 3492 section 6.1. */
static uint32_t
adapt(uint32_t delta, uint32_t numpoints, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static char
encode_digit(uint32_t d)
{
	/* 0..25 are a..z, 26..35 are 0..9 */
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* decode_digit - the value of a Punycode digit, PC_BASE if it is none. */
static uint32_t
decode_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0' + 26;
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	return PC_BASE;
}

static uint32_t
threshold(uint32_t k, uint32_t bias)
{
	if (k <= bias)
		return PC_TMIN;
	if (k >= bias + PC_TMAX)
		return PC_TMAX;
	return k - bias;
}

static bool
is_scalar(uint32_t c)
{
	return c <= 0x10ffff && (c < 0xd800 || c > 0xdfff);
}

int
trust_punycode_encode(const uint32_t *cp, size_t n, char *out, size_t size)
{
	uint32_t delta = 0, bias = PC_INITIAL_BIAS, code = PC_INITIAL_N;
	size_t h, b = 0, o = 0;

	if (size == 0)
		return ERR_LIMIT;
	if (n > UINT32_MAX / 2)
		return ERR_INVAL;
	for (size_t j = 0; j < n; j++) {
		if (!is_scalar(cp[j]))
			return ERR_INVAL;
		if (cp[j] < 0x80) {
			if (o + 1 >= size)
				return ERR_LIMIT;
			out[o++] = (char)cp[j];
			b++;
		}
	}
	if (b > 0) {
		if (o + 1 >= size)
			return ERR_LIMIT;
		out[o++] = PC_DELIMITER;
	}
	for (h = b; h < n;) {
		uint32_t m = UINT32_MAX;
		for (size_t j = 0; j < n; j++)
			if (cp[j] >= code && cp[j] < m)
				m = cp[j];
		if (m - code > (UINT32_MAX - delta) / (h + 1))
			return ERR_INVAL;
		delta += (m - code) * (uint32_t)(h + 1);
		code = m;
		for (size_t j = 0; j < n; j++) {
			if (cp[j] < code && ++delta == 0)
				return ERR_INVAL;
			if (cp[j] != code)
				continue;
			uint32_t q = delta;
			for (uint32_t k = PC_BASE;; k += PC_BASE) {
				uint32_t t = threshold(k, bias);
				if (q < t)
					break;
				if (o + 1 >= size)
					return ERR_LIMIT;
				out[o++] = encode_digit(t + (q - t) %
				    (PC_BASE - t));
				q = (q - t) / (PC_BASE - t);
			}
			if (o + 1 >= size)
				return ERR_LIMIT;
			out[o++] = encode_digit(q);
			bias = adapt(delta, (uint32_t)(h + 1), h == b);
			delta = 0;
			h++;
		}
		delta++;
		code++;
	}
	out[o] = '\0';
	return (int)o;
}

int
trust_punycode_decode(const char *in, size_t len, uint32_t *cp, size_t max)
{
	uint32_t code = PC_INITIAL_N, i = 0, bias = PC_INITIAL_BIAS;
	size_t b = 0, n = 0, pos;

	for (size_t j = 0; j < len; j++)
		if (in[j] == PC_DELIMITER)
			b = j;
	if (b > max)
		return ERR_LIMIT;
	for (size_t j = 0; j < b; j++) {
		if ((unsigned char)in[j] >= 0x80)
			return ERR_INVAL;
		cp[n++] = (unsigned char)in[j];
	}
	for (pos = b > 0 ? b + 1 : 0; pos < len;) {
		uint32_t oldi = i, w = 1;
		for (uint32_t k = PC_BASE;; k += PC_BASE) {
			if (pos >= len)
				return ERR_INVAL;
			uint32_t digit = decode_digit((unsigned char)in[pos++]);
			if (digit >= PC_BASE)
				return ERR_INVAL;
			if (digit > (UINT32_MAX - i) / w)
				return ERR_INVAL;
			i += digit * w;
			uint32_t t = threshold(k, bias);
			if (digit < t)
				break;
			if (w > UINT32_MAX / (PC_BASE - t))
				return ERR_INVAL;
			w *= PC_BASE - t;
		}
		uint32_t len1 = (uint32_t)n + 1;
		bias = adapt(i - oldi, len1, oldi == 0);
		if (i / len1 > UINT32_MAX - code)
			return ERR_INVAL;
		code += i / len1;
		i %= len1;
		if (code < 0x80 || !is_scalar(code))
			return ERR_INVAL;
		if (n >= max)
			return ERR_LIMIT;
		memmove(cp + i + 1, cp + i, (n - i) * sizeof(*cp));
		cp[i++] = code;
		n++;
	}
	return (int)n;
}

/* ---- Unicode: lower case and refused code points ---- */

/*
 * Simple lower-case mappings (UnicodeData.txt field 13, Unicode 14.0),
 * as runs: count code points from first, stride apart, each mapped to
 * itself + delta. Every cased script is covered, Latin, Greek and
 * Cyrillic included. Generated by:
 *   for cp in range(0x80, 0x20000): l = chr(cp).lower();
 *     keep (cp, ord(l)) if len(l) == 1 and l != chr(cp);
 *   then merged greedily into runs of stride 1 or 2 with one delta.
 * U+0130 (capital I with dot) has no one-character lower case and is
 * refused (see disallowed()).
 */
static const struct lower_run {
	uint32_t first;
	uint16_t count;
	uint8_t stride;
	int32_t delta;
} lower_runs[] = {
	{ 0x00C0, 23, 1, 32 }, { 0x00D8, 7, 1, 32 }, { 0x0100, 24, 2, 1 },
	{ 0x0132, 3, 2, 1 }, { 0x0139, 8, 2, 1 }, { 0x014A, 23, 2, 1 },
	{ 0x0178, 1, 1, -121 }, { 0x0179, 3, 2, 1 }, { 0x0181, 1, 1, 210 },
	{ 0x0182, 2, 2, 1 }, { 0x0186, 1, 1, 206 }, { 0x0187, 1, 1, 1 },
	{ 0x0189, 2, 1, 205 }, { 0x018B, 1, 1, 1 }, { 0x018E, 1, 1, 79 },
	{ 0x018F, 1, 1, 202 }, { 0x0190, 1, 1, 203 }, { 0x0191, 1, 1, 1 },
	{ 0x0193, 1, 1, 205 }, { 0x0194, 1, 1, 207 }, { 0x0196, 1, 1, 211 },
	{ 0x0197, 1, 1, 209 }, { 0x0198, 1, 1, 1 }, { 0x019C, 1, 1, 211 },
	{ 0x019D, 1, 1, 213 }, { 0x019F, 1, 1, 214 }, { 0x01A0, 3, 2, 1 },
	{ 0x01A6, 1, 1, 218 }, { 0x01A7, 1, 1, 1 }, { 0x01A9, 1, 1, 218 },
	{ 0x01AC, 1, 1, 1 }, { 0x01AE, 1, 1, 218 }, { 0x01AF, 1, 1, 1 },
	{ 0x01B1, 2, 1, 217 }, { 0x01B3, 2, 2, 1 }, { 0x01B7, 1, 1, 219 },
	{ 0x01B8, 1, 1, 1 }, { 0x01BC, 1, 1, 1 }, { 0x01C4, 1, 1, 2 },
	{ 0x01C5, 1, 1, 1 }, { 0x01C7, 1, 1, 2 }, { 0x01C8, 1, 1, 1 },
	{ 0x01CA, 1, 1, 2 }, { 0x01CB, 9, 2, 1 }, { 0x01DE, 9, 2, 1 },
	{ 0x01F1, 1, 1, 2 }, { 0x01F2, 2, 2, 1 }, { 0x01F6, 1, 1, -97 },
	{ 0x01F7, 1, 1, -56 }, { 0x01F8, 20, 2, 1 }, { 0x0220, 1, 1, -130 },
	{ 0x0222, 9, 2, 1 }, { 0x023A, 1, 1, 10795 }, { 0x023B, 1, 1, 1 },
	{ 0x023D, 1, 1, -163 }, { 0x023E, 1, 1, 10792 }, { 0x0241, 1, 1, 1 },
	{ 0x0243, 1, 1, -195 }, { 0x0244, 1, 1, 69 }, { 0x0245, 1, 1, 71 },
	{ 0x0246, 5, 2, 1 }, { 0x0370, 2, 2, 1 }, { 0x0376, 1, 1, 1 },
	{ 0x037F, 1, 1, 116 }, { 0x0386, 1, 1, 38 }, { 0x0388, 3, 1, 37 },
	{ 0x038C, 1, 1, 64 }, { 0x038E, 2, 1, 63 }, { 0x0391, 17, 1, 32 },
	{ 0x03A3, 9, 1, 32 }, { 0x03CF, 1, 1, 8 }, { 0x03D8, 12, 2, 1 },
	{ 0x03F4, 1, 1, -60 }, { 0x03F7, 1, 1, 1 }, { 0x03F9, 1, 1, -7 },
	{ 0x03FA, 1, 1, 1 }, { 0x03FD, 3, 1, -130 }, { 0x0400, 16, 1, 80 },
	{ 0x0410, 32, 1, 32 }, { 0x0460, 17, 2, 1 }, { 0x048A, 27, 2, 1 },
	{ 0x04C0, 1, 1, 15 }, { 0x04C1, 7, 2, 1 }, { 0x04D0, 48, 2, 1 },
	{ 0x0531, 38, 1, 48 }, { 0x10A0, 38, 1, 7264 }, { 0x10C7, 1, 1, 7264 },
	{ 0x10CD, 1, 1, 7264 }, { 0x13A0, 80, 1, 38864 }, { 0x13F0, 6, 1, 8 },
	{ 0x1C90, 43, 1, -3008 }, { 0x1CBD, 3, 1, -3008 },
	{ 0x1E00, 75, 2, 1 }, { 0x1E9E, 1, 1, -7615 }, { 0x1EA0, 48, 2, 1 },
	{ 0x1F08, 8, 1, -8 }, { 0x1F18, 6, 1, -8 }, { 0x1F28, 8, 1, -8 },
	{ 0x1F38, 8, 1, -8 }, { 0x1F48, 6, 1, -8 }, { 0x1F59, 4, 2, -8 },
	{ 0x1F68, 8, 1, -8 }, { 0x1F88, 8, 1, -8 }, { 0x1F98, 8, 1, -8 },
	{ 0x1FA8, 8, 1, -8 }, { 0x1FB8, 2, 1, -8 }, { 0x1FBA, 2, 1, -74 },
	{ 0x1FBC, 1, 1, -9 }, { 0x1FC8, 4, 1, -86 }, { 0x1FCC, 1, 1, -9 },
	{ 0x1FD8, 2, 1, -8 }, { 0x1FDA, 2, 1, -100 }, { 0x1FE8, 2, 1, -8 },
	{ 0x1FEA, 2, 1, -112 }, { 0x1FEC, 1, 1, -7 }, { 0x1FF8, 2, 1, -128 },
	{ 0x1FFA, 2, 1, -126 }, { 0x1FFC, 1, 1, -9 }, { 0x2126, 1, 1, -7517 },
	{ 0x212A, 1, 1, -8383 }, { 0x212B, 1, 1, -8262 }, { 0x2132, 1, 1, 28 },
	{ 0x2160, 16, 1, 16 }, { 0x2183, 1, 1, 1 }, { 0x24B6, 26, 1, 26 },
	{ 0x2C00, 48, 1, 48 }, { 0x2C60, 1, 1, 1 }, { 0x2C62, 1, 1, -10743 },
	{ 0x2C63, 1, 1, -3814 }, { 0x2C64, 1, 1, -10727 }, { 0x2C67, 3, 2, 1 },
	{ 0x2C6D, 1, 1, -10780 }, { 0x2C6E, 1, 1, -10749 },
	{ 0x2C6F, 1, 1, -10783 }, { 0x2C70, 1, 1, -10782 },
	{ 0x2C72, 1, 1, 1 }, { 0x2C75, 1, 1, 1 }, { 0x2C7E, 2, 1, -10815 },
	{ 0x2C80, 50, 2, 1 }, { 0x2CEB, 2, 2, 1 }, { 0x2CF2, 1, 1, 1 },
	{ 0xA640, 23, 2, 1 }, { 0xA680, 14, 2, 1 }, { 0xA722, 7, 2, 1 },
	{ 0xA732, 31, 2, 1 }, { 0xA779, 2, 2, 1 }, { 0xA77D, 1, 1, -35332 },
	{ 0xA77E, 5, 2, 1 }, { 0xA78B, 1, 1, 1 }, { 0xA78D, 1, 1, -42280 },
	{ 0xA790, 2, 2, 1 }, { 0xA796, 10, 2, 1 }, { 0xA7AA, 1, 1, -42308 },
	{ 0xA7AB, 1, 1, -42319 }, { 0xA7AC, 1, 1, -42315 },
	{ 0xA7AD, 1, 1, -42305 }, { 0xA7AE, 1, 1, -42308 },
	{ 0xA7B0, 1, 1, -42258 }, { 0xA7B1, 1, 1, -42282 },
	{ 0xA7B2, 1, 1, -42261 }, { 0xA7B3, 1, 1, 928 }, { 0xA7B4, 8, 2, 1 },
	{ 0xA7C4, 1, 1, -48 }, { 0xA7C5, 1, 1, -42307 },
	{ 0xA7C6, 1, 1, -35384 }, { 0xA7C7, 2, 2, 1 }, { 0xA7D0, 1, 1, 1 },
	{ 0xA7D6, 2, 2, 1 }, { 0xA7F5, 1, 1, 1 }, { 0xFF21, 26, 1, 32 },
	{ 0x10400, 40, 1, 40 }, { 0x104B0, 36, 1, 40 }, { 0x10570, 11, 1, 39 },
	{ 0x1057C, 15, 1, 39 }, { 0x1058C, 7, 1, 39 }, { 0x10594, 2, 1, 39 },
	{ 0x10C80, 51, 1, 64 }, { 0x118A0, 32, 1, 32 }, { 0x16E40, 32, 1, 32 },
	{ 0x1E900, 34, 1, 34 },
};

/* to_lower - the simple lower case of c (c itself when it has none). */
static uint32_t
to_lower(uint32_t c)
{
	size_t lo = 0, hi = sizeof(lower_runs) / sizeof(lower_runs[0]);

	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
	/* the runs are sorted and do not overlap: find the last run that
	 * starts at or before c */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lower_runs[mid].first <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return c;
	const struct lower_run *r = &lower_runs[lo - 1];
	uint32_t off = c - r->first;
	if (off % r->stride != 0 || off / r->stride >= r->count)
		return c;
	return (uint32_t)((int32_t)c + r->delta);
}

/*
 * disallowed - why a non-ASCII code point (already lower-cased) cannot be
 * in a label, or NULL. IDNA2008 refuses far more (RFC 5892 derives the
 * list from Unicode properties); these are the ranges that matter for
 * names typed or copied by people: controls, spaces, punctuation,
 * symbols, compatibility and presentation forms (which NFKC would turn
 * into other characters), private use and non-characters. Every range is
 * outside IDNA2008's PVALID set (checked against the Python idna 3.x
 * tables), except three code points it allows only in context and we
 * refuse outright: U+00B7, U+200C, U+200D. Combining accents are PVALID
 * but refused here: we do not normalize to NFC, and "e" + U+0301 would
 * otherwise become an A-label that differs from the one for "é".
 */
static const char *
disallowed(uint32_t c)
{
	static const struct {
		uint32_t first, last;
	} refused[] = {
		{ 0x0080, 0x00bf },	/* C1 controls, NBSP, Latin-1 signs */
		{ 0x00d7, 0x00d7 },	/* multiplication sign */
		{ 0x00f7, 0x00f7 },	/* division sign */
		{ 0x2000, 0x214d },	/* punctuation, spaces, letterlike */
		{ 0x214f, 0x2183 },	/* number forms */
		{ 0x2185, 0x2bff },	/* arrows, maths, symbols */
		{ 0x2e00, 0x2e2e },	/* supplemental punctuation */
		{ 0x2e30, 0x2e7f },
		{ 0x3000, 0x3004 },	/* CJK spaces and punctuation */
		{ 0x3008, 0x3029 },
		{ 0x302e, 0x303b },
		{ 0x303d, 0x303f },
		{ 0xe000, 0xf8ff },	/* private use */
		{ 0xfb00, 0xfb1d },	/* presentation forms */
		{ 0xfb1f, 0xfdff },
		{ 0xfe00, 0xfe1f },	/* variation selectors */
		{ 0xfe30, 0xfe72 },	/* compatibility, full width */
		{ 0xfe74, 0xffff },
		{ 0x1d400, 0x1d7ff },	/* mathematical letters */
		{ 0x1f000, 0x1faff },	/* emoji and pictographs */
		{ 0xe0000, 0x10ffff },	/* tags, private use planes */
	};

	if (c >= 0x0300 && c <= 0x036f)
		return "decomposed accent (the name must be in NFC)";
	if (c == 0x0130)
		return "character without a one-character lower case";
	if ((c & 0xfffe) == 0xfffe)
		return "character not allowed in a domain name";
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (c >= refused[i].first && c <= refused[i].last)
			return "character not allowed in a domain name";
	return NULL;
}

/* ---- labels ---- */

static const char WHY_EMPTY[] = "empty name";
static const char WHY_UTF8[] = "invalid UTF-8";
static const char WHY_EMPTY_LABEL[] = "empty label";
static const char WHY_LABEL_LONG[] = "label longer than 63 octets";
static const char WHY_NAME_LONG[] = "name longer than 253 octets";
static const char WHY_CHAR[] = "character not allowed in a domain name";
static const char WHY_HYPHEN[] = "label starts or ends with a hyphen";
static const char WHY_RESERVED[] =
    "hyphens in the third and fourth positions (reserved label)";
static const char WHY_NUMERIC[] = "all-numeric top-level label";
static const char WHY_PUNYCODE[] = "invalid Punycode";
static const char WHY_ACE_ASCII[] = "A-label of an all-ASCII label";
static const char WHY_ACE_FORM[] = "A-label not in canonical form";
static const char WHY_OUT[] = "name too long for the output buffer";

static bool
is_ldh(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* hyphen_rule - RFC 5891 section 4.2.3.1, on a U-label or an LDH label:
 * no hyphen first or last, none in both the third and fourth places. */
static const char *
hyphen_rule(const uint32_t *cp, size_t n)
{
	if (cp[0] == '-' || cp[n - 1] == '-')
		return WHY_HYPHEN;
	if (n >= 4 && cp[2] == '-' && cp[3] == '-')
		return WHY_RESERVED;
	return NULL;
}

/* check_ulabel - every code point of a U-label in lower case and allowed;
 * is_lower is false when one had to be lower-cased (cp is then changed). */
static const char *
check_ulabel(uint32_t *cp, size_t n, bool *is_lower)
{
	const char *why;

	*is_lower = true;
	for (size_t i = 0; i < n; i++) {
		uint32_t l = to_lower(cp[i]);
		if (l != cp[i]) {
			*is_lower = false;
			cp[i] = l;
		}
		if (l < 0x80 ? !is_ldh(l) : (why = disallowed(l)) != NULL)
			return l < 0x80 ? WHY_CHAR : why;
	}
	return hyphen_rule(cp, n);
}

/* utf8_next - the code point at *s (valid UTF-8, checked beforehand). */
static uint32_t
utf8_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	uint32_t c = *p++;

	if (c >= 0xf0)
		c = ((c & 0x07) << 18) | ((uint32_t)(p[0] & 0x3f) << 12) |
		    ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f), p += 3;
	else if (c >= 0xe0)
		c = ((c & 0x0f) << 12) | ((uint32_t)(p[0] & 0x3f) << 6) |
		    (p[1] & 0x3f), p += 2;
	else if (c >= 0x80)
		c = ((c & 0x1f) << 6) | (p[0] & 0x3f), p += 1;
	*s = p;
	return c;
}

/* alabel_check - an input label that starts with "xn--" (lower-cased,
 * ASCII): it must decode to a valid lower-case U-label that encodes back
 * to exactly the same text (RFC 5891 section 5.4). */
static const char *
alabel_check(const char *a, size_t n)
{
	uint32_t cp[TRUST_LABEL_MAX];
	char again[TRUST_LABEL_MAX + 1];
	bool has_non_ascii = false, is_lower;
	const char *why;

	for (size_t i = ACE_LEN; i < n; i++)
		if (!is_ldh((unsigned char)a[i]))
			return WHY_CHAR;
	if (a[n - 1] == '-')
		return WHY_HYPHEN;
	int k = trust_punycode_decode(a + ACE_LEN, n - ACE_LEN, cp,
	    TRUST_LABEL_MAX);
	if (k <= 0)
		return WHY_PUNYCODE;
	for (int i = 0; i < k; i++)
		has_non_ascii |= cp[i] >= 0x80;
	if (!has_non_ascii)
		return WHY_ACE_ASCII;
	if ((why = check_ulabel(cp, (size_t)k, &is_lower)) != NULL)
		return why;
	int m = trust_punycode_encode(cp, (size_t)k, again, sizeof(again));
	if (!is_lower || m != (int)(n - ACE_LEN) ||
	    memcmp(again, a + ACE_LEN, (size_t)m) != 0)
		return WHY_ACE_FORM;
	return NULL;
}

/*
 * label_to_ace - one label s[n] of the input into its lower-case A-label
 * or LDH form in dst[TRUST_LABEL_MAX + 1]; returns its length, or 0 with
 * the reason in *why.
 */
static size_t
label_to_ace(const char *s, size_t n, char *dst, const char **why)
{
	uint32_t cp[TRUST_LABEL_MAX];
	size_t k = 0;
	bool is_ascii = true, is_lower;

	if (n == 0) {
		*why = WHY_EMPTY_LABEL;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		is_ascii &= (unsigned char)s[i] < 0x80;
	if (is_ascii) {
		if (n > TRUST_LABEL_MAX) {
			*why = WHY_LABEL_LONG;
			return 0;
		}
		for (size_t i = 0; i < n; i++) {
			cp[i] = to_lower((unsigned char)s[i]);
			dst[i] = (char)cp[i];
		}
		dst[n] = '\0';
		if (n > ACE_LEN && memcmp(dst, ACE_PREFIX, ACE_LEN) == 0)
			*why = alabel_check(dst, n);
		else
			*why = check_ulabel(cp, n, &is_lower);
		return *why == NULL ? n : 0;
	}
	/* A U-label: decode, lower-case, check, encode. Each code point
	 * costs at least one octet after "xn--", which bounds the count. */
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + n;
	while (p < end) {
		if (k == TRUST_LABEL_MAX - ACE_LEN) {
			*why = WHY_LABEL_LONG;
			return 0;
		}
		cp[k++] = utf8_next(&p);
	}
	if ((*why = check_ulabel(cp, k, &is_lower)) != NULL)
		return 0;
	memcpy(dst, ACE_PREFIX, ACE_LEN);
	int m = trust_punycode_encode(cp, k, dst + ACE_LEN,
	    TRUST_LABEL_MAX + 1 - ACE_LEN);
	if (m < 0) {
		*why = m == ERR_LIMIT ? WHY_LABEL_LONG : WHY_CHAR;
		return 0;
	}
	return ACE_LEN + (size_t)m;
}

/* ---- names ---- */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\v' || c == '\f';
}

/*
 * separator - the length of the label separator at s (before end), or 0:
 * the full stop, and the ideographic, full-width and half-width full
 * stops that IDNA treats as one (RFC 3490 section 3.1, UTS 46).
 */
static size_t
separator(const char *s, const char *end)
{
	static const char *const dots[] = {
		"\xe3\x80\x82",	/* U+3002 */
		"\xef\xbc\x8e",	/* U+FF0E */
		"\xef\xbd\xa1",	/* U+FF61 */
	};

	if (*s == '.')
		return 1;
	if (end - s < 3)
		return 0;
	for (size_t i = 0; i < sizeof(dots) / sizeof(dots[0]); i++)
		if (memcmp(s, dots[i], 3) == 0)
			return 3;
	return 0;
}

int
trust_domain_normalize(const char *in, char *out, size_t size,
		       const char **why)
{
	char name[NAME_MAX_OCTETS + 1];
	char label[TRUST_LABEL_MAX + 1];
	const char *p = in, *end = in + strlen(in), *last = NULL;
	size_t o = 0;

	*why = NULL;

	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	if (p == end) {
		*why = WHY_EMPTY;
		return ERR_INVAL;
	}
	if (!utf8_valid(p, (size_t)(end - p))) {
		*why = WHY_UTF8;
		return ERR_INVAL;
	}
	/* A trailing dot (the root) is allowed and dropped. */
	if (end[-1] == '.')
		end--;
	else if (end - p >= 3 && separator(end - 3, end) == 3)
		end -= 3;
	while (p <= end) {
		const char *q = p;
		while (q < end && separator(q, end) == 0)
			q++;
		size_t len = label_to_ace(p, (size_t)(q - p), label, why);
		if (len == 0)
			return ERR_INVAL;
		if (o + (o > 0) + len > NAME_MAX_OCTETS) {
			*why = WHY_NAME_LONG;
			return ERR_INVAL;
		}
		if (o > 0)
			name[o++] = '.';
		last = name + o;
		memcpy(name + o, label, len);
		o += len;
		if (q == end)
			break;
		p = q + separator(q, end);
	}
	name[o] = '\0';
	/* RFC 3696 section 2: a top-level label is never all digits; such a
	 * name is an address written without its brackets. */
	if (strspn(last, "0123456789") == strlen(last)) {
		*why = WHY_NUMERIC;
		return ERR_INVAL;
	}
	if (o >= size) {
		*why = WHY_OUT;
		return ERR_LIMIT;
	}
	memcpy(out, name, o + 1);
	return 0;
}
