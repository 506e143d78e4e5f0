/* SPDX-License-Identifier: MIT */
/*
 * mime_decode.c - what SEARCH needs as UTF-8: RFC 2047 header words
 * decoded, text parts without their transfer encoding, every charset
 * converted (glibc iconv, Latin-1 and Windows-1252 by table), and a
 * case folding that does not depend on the process locale (the daemon
 * never calls setlocale). Bytes that are not valid UTF-8 outside any
 * declared charset are read as Windows-1252: legacy French mailers send
 * raw Latin-1, and a search for "é" should still find it.
 */
#include "mime/mime_struct_int.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* ---- UTF-8 ---- */

static int
put_cp(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(out, b, n);
}

/* utf8_len - length of the valid UTF-8 sequence at s (strict: no
 * overlong forms, no surrogates, at most U+10FFFF), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

/* Windows-1252 0x80-0x9f; the five holes become U+FFFD. */
static const uint16_t cp1252[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
};

static int
put_cp1252(struct buf *out, unsigned char c)
{
	if (c < 0x80)
		return buf_addc(out, (char)c);
	return put_cp(out, c < 0xa0 ? cp1252[c - 0x80] : c);
}

/* put_lenient - valid UTF-8 as it is, any other byte as Windows-1252. */
static int
put_lenient(const char *p, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;
	int r = 0;

	while (i < len && r == 0) {
		size_t run = i;
		uint32_t cp;
		size_t n;
		while (run < len && s[run] < 0x80)
			run++;
		if (run > i) {
			r = buf_add(out, s + i, run - i);
			i = run;
			continue;
		}
		if ((n = utf8_len(s + i, len - i, &cp)) > 0) {
			r = buf_add(out, s + i, n);
			i += n;
		} else {
			r = put_cp1252(out, s[i++]);
		}
	}
	return r;
}

/* ---- charsets ---- */

static bool
cs_is(const char *cs, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = cs[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != name[i])
			return false;
	}
	return true;
}

/* convert - in[len] from charset to UTF-8 appended to out. Returns 1
 * (nothing appended) when the charset is unknown, 0, or an error. */
static int
convert(const char *cs, size_t cs_len, const char *in, size_t len,
	struct buf *out)
{
	char name[64];
	int r = 0;

	/* RFC 2231 5: charset*language */
	const char *star = memchr(cs, '*', cs_len);
	if (star != NULL)
		cs_len = (size_t)(star - cs);
	if (cs_len == 0 || cs_is(cs, cs_len, "utf-8") ||
	    cs_is(cs, cs_len, "utf8") || cs_is(cs, cs_len, "us-ascii") ||
	    cs_is(cs, cs_len, "ascii"))
		return put_lenient(in, len, out);
	if (cs_is(cs, cs_len, "iso-8859-1") || cs_is(cs, cs_len, "latin1") ||
	    cs_is(cs, cs_len, "windows-1252") || cs_is(cs, cs_len, "cp1252")) {
		/* ISO-8859-1's C1 controls are never meant: same table */
		for (size_t i = 0; i < len && r == 0; i++)
			r = put_cp1252(out, (unsigned char)in[i]);
		return r;
	}
	if (cs_len >= sizeof(name))
		return 1;
	memcpy(name, cs, cs_len);
	name[cs_len] = '\0';
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return 1;
	char *ip = (char *)(uintptr_t)in;
	size_t ileft = len;
	while (ileft > 0 && r == 0) {
		if ((r = buf_reserve(out, ileft + 64)) < 0)
			break;
		char *op = out->data + out->len;
		size_t oleft = out->cap - out->len - 1;
		size_t before = oleft;
		size_t k = iconv(cd, &ip, &ileft, &op, &oleft);
		out->len += before - oleft;
		out->data[out->len] = '\0';
		if (k != (size_t)-1 || errno == E2BIG)
			continue;
		/* invalid or cut sequence: U+FFFD, then go on */
		r = put_cp(out, 0xfffd);
		if (errno == EINVAL)
			break;
		ip++;
		ileft--;
	}
	if (iconv_close(cd) != 0 && r == 0)
		r = ERR_INVAL;
	return r;
}

/* ---- transfer encodings ---- */

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* b64_decode - RFC 2045 6.8. Lenient when strict is false (bodies:
 * anything outside the alphabet is skipped, as the RFC asks); strict
 * for encoded words, where such a byte means the word is not one. */
static int
b64_decode(const char *p, size_t len, bool strict, struct buf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	bool pad = false;
	int r = buf_reserve(out, len / 4 * 3 + 3);

	for (size_t i = 0; i < len && r == 0; i++) {
		int v = b64_val((unsigned char)p[i]);
		if (v < 0) {
			if (p[i] == '=')
				pad = true;
			else if (strict)
				return 1;
			continue;
		}
		if (pad && strict)
			return 1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			r = buf_addc(out, (char)((acc >> bits) & 0xff));
		}
	}
	return r;
}

/* qp_decode - RFC 2045 6.7 bodies: soft breaks removed, =XX decoded,
 * white space at the end of a line dropped, a lone '=' kept. */
static int
qp_decode(const char *p, size_t len, struct buf *out)
{
	int r = buf_reserve(out, len);

	for (size_t i = 0; i < len && r == 0; i++) {
		char c = p[i];
		if (c == ' ' || c == '\t') {
			size_t j = i;
			while (j < len && (p[j] == ' ' || p[j] == '\t'))
				j++;
			if (j == len || p[j] == '\n' || (p[j] == '\r' &&
			    j + 1 < len && p[j + 1] == '\n')) {
				i = j - 1;
				continue;
			}
			r = buf_add(out, p + i, j - i);
			i = j - 1;
			continue;
		}
		if (c != '=') {
			r = buf_addc(out, c);
			continue;
		}
		int h, l;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') {
			i += 2;
		} else if (i + 1 < len && p[i + 1] == '\n') {
			i += 1;
		} else if (i + 2 < len && (h = hex_val((unsigned char)p[i +
		    1])) >= 0 && (l = hex_val((unsigned char)p[i + 2])) >= 0) {
			r = buf_addc(out, (char)(h << 4 | l));
			i += 2;
		} else {
			r = buf_addc(out, '=');
		}
	}
	return r;
}

/* ---- RFC 2047 ---- */

struct eword {
	const char *cs;
	size_t cs_len;
	char enc;
	const char *text;
	size_t text_len;
	size_t end;	/* index after "?=" */
};

/* Longest charset name looked for: IANA's are under 45 characters. The
 * bound, and encoded text ending at its first '?' (RFC 2047 2 allows no
 * '?' in it), keep the scan linear on "=?=?=?..." inputs. */
#define CHARSET_MAX 64

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* parse_eword - "=?charset?B|Q?text?=" at v[i] (RFC 2047 2). */
static bool
parse_eword(const char *v, size_t len, size_t i, struct eword *ew)
{
	size_t j = i + 2;

	if (len - i < 8 || v[i] != '=' || v[i + 1] != '?')
		return false;
	ew->cs = v + j;
	while (j < len && v[j] != '?' && !is_space(v[j]) &&
	    j - (i + 2) <= CHARSET_MAX)
		j++;
	ew->cs_len = (size_t)(v + j - ew->cs);
	if (ew->cs_len == 0 || ew->cs_len > CHARSET_MAX || len - j < 5 ||
	    v[j] != '?' || v[j + 2] != '?')
		return false;
	ew->enc = v[j + 1];
	if (ew->enc != 'B' && ew->enc != 'b' && ew->enc != 'Q' &&
	    ew->enc != 'q')
		return false;
	j += 3;
	ew->text = v + j;
	while (j < len && v[j] != '?' && !is_space(v[j]))
		j++;
	if (j + 1 >= len || v[j] != '?' || v[j + 1] != '=')
		return false;
	ew->text_len = (size_t)(v + j - ew->text);
	ew->end = j + 2;
	return true;
}

/* eword_bytes - the decoded octets of a word; 1 if it does not decode. */
static int
eword_bytes(const struct eword *ew, struct buf *out)
{
	if (ew->enc == 'B' || ew->enc == 'b')
		return b64_decode(ew->text, ew->text_len, true, out);
	int r = buf_reserve(out, ew->text_len);
	for (size_t i = 0; i < ew->text_len && r == 0; i++) {
		char c = ew->text[i];
		int h, l;
		if (c == '_') {
			r = buf_addc(out, ' ');
		} else if (c == '=' && i + 2 < ew->text_len &&
		    (h = hex_val((unsigned char)ew->text[i + 1])) >= 0 &&
		    (l = hex_val((unsigned char)ew->text[i + 2])) >= 0) {
			r = buf_addc(out, (char)(h << 4 | l));
			i += 2;
		} else {
			r = buf_addc(out, c);
		}
	}
	return r;
}

/* The words of one charset in a row are converted together: a UTF-8
 * character may be split between two of them. */
struct run {
	const char *cs;
	size_t cs_len;
	struct buf bytes;
	const char *raw;	/* the words as sent, if the charset is */
	size_t raw_len;		/* unknown to iconv */
};

static int
run_flush(struct run *run, struct buf *out)
{
	int r = 0;

	if (run->cs == NULL)
		return 0;
	r = convert(run->cs, run->cs_len, buf_data(&run->bytes),
	    buf_len(&run->bytes), out);
	if (r == 1)
		r = buf_add(out, run->raw, run->raw_len);
	run->cs = NULL;
	buf_reset(&run->bytes);
	return r;
}

int
mime_header_decode(const char *value, size_t len, struct buf *out)
{
	struct run run;
	struct eword ew;
	size_t i = 0, ws = 0;
	bool after_word = false, dropped = false;
	int r = 0;

	memset(&run, 0, sizeof(run));
	buf_init(&run.bytes, MIME_SCRATCH_MAX);
	while (i < len && r == 0) {
		if (is_space(value[i])) {
			size_t j = i;
			while (j < len && is_space(value[j]))
				j++;
			/* RFC 2047 6.2: space between two words is dropped */
			if (after_word && parse_eword(value, len, j, &ew)) {
				ws = i;
				dropped = true;
				i = j;
				continue;
			}
			if ((r = run_flush(&run, out)) < 0)
				break;
			for (; i < j && r == 0; i++)	/* unfold */
				if (value[i] != '\r' && value[i] != '\n')
					r = buf_addc(out, value[i]);
			after_word = false;
			continue;
		}
		if (parse_eword(value, len, i, &ew)) {
			size_t mark = buf_len(&run.bytes);
			bool same = run.cs != NULL && run.cs_len == ew.cs_len &&
			    strncasecmp(run.cs, ew.cs, ew.cs_len) == 0;
			if (!same && (r = run_flush(&run, out)) < 0)
				break;
			r = eword_bytes(&ew, &run.bytes);
			if (r == 0) {
				if (run.cs == NULL) {
					/* kept as sent if the charset is
					 * unknown: with the space before */
					run.cs = ew.cs;
					run.cs_len = ew.cs_len;
					run.raw = value + (dropped ? ws : i);
				}
				run.raw_len = (size_t)(value + ew.end -
				    run.raw);
				i = ew.end;
				after_word = true;
				dropped = false;
				continue;
			}
			if (r < 0)
				break;
			/* not decodable: plain text, as sent */
			run.bytes.len = mark;
			if (run.bytes.data != NULL)
				run.bytes.data[mark] = '\0';
			r = 0;
		}
		if (dropped) {
			/* the space before a word that is not one */
			if ((r = run_flush(&run, out)) < 0)
				break;
			for (; ws < i && r == 0; ws++)
				if (value[ws] != '\r' && value[ws] != '\n')
					r = buf_addc(out, value[ws]);
			dropped = false;
			if (r < 0)
				break;
		}
		if ((r = run_flush(&run, out)) < 0)
			break;
		size_t j = i + 1;
		while (j < len && !is_space(value[j]) &&
		    !(value[j] == '=' && j + 1 < len && value[j + 1] == '?'))
			j++;
		r = put_lenient(value + i, j - i, out);
		i = j;
		after_word = false;
	}
	if (r == 0)
		r = run_flush(&run, out);
	buf_free(&run.bytes);
	return r;
}

/* ---- text of the parts ---- */

static bool
part_is_mime(const struct mime_info *mi, const char *msg, size_t i)
{
	const struct mime_part *p = &mi->parts[i];

	/* body parts are MIME; a message (top or encapsulated) only says
	 * so with MIME-Version or Content-Type (RFC 2045 4) */
	if (i > 0 && mi->parts[p->parent].kind == MIME_KIND_MULTIPART)
		return true;
	return mime_header_is_mime(msg + p->hdr_off, p->hdr_len);
}

int
mime_text(const char *msg, size_t len, const struct mime_info *mi,
	  struct buf *out)
{
	struct mime_strs strs;
	struct buf raw;
	bool first = true;
	int r = 0;

	mime_strs_init(&strs);
	buf_init(&raw, MIME_SCRATCH_MAX);
	for (size_t i = 0; i < mi->n_parts && r == 0; i++) {
		const struct mime_part *p = &mi->parts[i];
		bool is_text;
		int cs, cte;

		if (p->kind != MIME_KIND_LEAF ||
		    (uint64_t)p->body_off + p->body_len > len)
			continue;
		mime_strs_reset(&strs);
		r = mime_part_text_info(msg, p, part_is_mime(mi, msg, i),
		    &strs, &is_text, &cs, &cte);
		if (r < 0 || !is_text)
			continue;
		const char *body = msg + p->body_off;
		size_t blen = p->body_len, cl = 0, csl = 0;
		const char *ctes = cte < 0 ? NULL : mime_strs_get(&strs, cte,
		    &cl);
		const char *css = cs < 0 ? "us-ascii" : mime_strs_get(&strs,
		    cs, &csl);
		if (cs < 0)
			csl = 8;
		buf_reset(&raw);
		if (ctes != NULL && cs_is(ctes, cl, "base64")) {
			r = b64_decode(body, blen, false, &raw);
			body = buf_data(&raw);
			blen = buf_len(&raw);
		} else if (ctes != NULL && cs_is(ctes, cl,
		    "quoted-printable")) {
			r = qp_decode(body, blen, &raw);
			body = buf_data(&raw);
			blen = buf_len(&raw);
		}
		if (r == 0 && !first)
			r = buf_addc(out, '\n');
		first = false;
		if (r == 0 && (r = convert(css, csl, body, blen, out)) == 1)
			r = put_lenient(body, blen, out);
	}
	buf_free(&raw);
	mime_strs_free(&strs);
	return r;
}

/* ---- case folding ----
 * Unicode 14 simple case folding (CaseFolding.txt C and S) for Latin,
 * Greek, Cyrillic, Armenian, Georgian, Latin Extended Additional, Greek
 * Extended, letterlike symbols, circled and fullwidth letters. Runs of
 * code points fold by adding delta, every code point (stride 1) or every
 * other one (stride 2, the upper/lower pairs of Latin Extended-A and
 * Cyrillic). Generated with Python's str.casefold(), keeping single code
 * point results (and str.lower() where full folding gives several: the
 * simple mapping). */
struct fold_run {
	uint32_t first;
	uint32_t last;
	int32_t delta;
	uint32_t stride;
};

static const struct fold_run fold_runs[] = {
	{ 0x0041, 0x005A, 32, 1 }, { 0x00B5, 0x00B5, 775, 1 },
	{ 0x00C0, 0x00D6, 32, 1 }, { 0x00D8, 0x00DE, 32, 1 },
	{ 0x0100, 0x012E, 1, 2 }, { 0x0132, 0x0136, 1, 2 },
	{ 0x0139, 0x0147, 1, 2 }, { 0x014A, 0x0176, 1, 2 },
	{ 0x0178, 0x0178, -121, 1 }, { 0x0179, 0x017D, 1, 2 },
	{ 0x017F, 0x017F, -268, 1 }, { 0x0181, 0x0181, 210, 1 },
	{ 0x0182, 0x0184, 1, 2 }, { 0x0186, 0x0186, 206, 1 },
	{ 0x0187, 0x0187, 1, 1 }, { 0x0189, 0x018A, 205, 1 },
	{ 0x018B, 0x018B, 1, 1 }, { 0x018E, 0x018E, 79, 1 },
	{ 0x018F, 0x018F, 202, 1 }, { 0x0190, 0x0190, 203, 1 },
	{ 0x0191, 0x0191, 1, 1 }, { 0x0193, 0x0193, 205, 1 },
	{ 0x0194, 0x0194, 207, 1 }, { 0x0196, 0x0196, 211, 1 },
	{ 0x0197, 0x0197, 209, 1 }, { 0x0198, 0x0198, 1, 1 },
	{ 0x019C, 0x019C, 211, 1 }, { 0x019D, 0x019D, 213, 1 },
	{ 0x019F, 0x019F, 214, 1 }, { 0x01A0, 0x01A4, 1, 2 },
	{ 0x01A6, 0x01A6, 218, 1 }, { 0x01A7, 0x01A7, 1, 1 },
	{ 0x01A9, 0x01A9, 218, 1 }, { 0x01AC, 0x01AC, 1, 1 },
	{ 0x01AE, 0x01AE, 218, 1 }, { 0x01AF, 0x01AF, 1, 1 },
	{ 0x01B1, 0x01B2, 217, 1 }, { 0x01B3, 0x01B5, 1, 2 },
	{ 0x01B7, 0x01B7, 219, 1 }, { 0x01B8, 0x01B8, 1, 1 },
	{ 0x01BC, 0x01BC, 1, 1 }, { 0x01C4, 0x01C4, 2, 1 },
	{ 0x01C5, 0x01C5, 1, 1 }, { 0x01C7, 0x01C7, 2, 1 },
	{ 0x01C8, 0x01C8, 1, 1 }, { 0x01CA, 0x01CA, 2, 1 },
	{ 0x01CB, 0x01DB, 1, 2 }, { 0x01DE, 0x01EE, 1, 2 },
	{ 0x01F1, 0x01F1, 2, 1 }, { 0x01F2, 0x01F4, 1, 2 },
	{ 0x01F6, 0x01F6, -97, 1 }, { 0x01F7, 0x01F7, -56, 1 },
	{ 0x01F8, 0x021E, 1, 2 }, { 0x0220, 0x0220, -130, 1 },
	{ 0x0222, 0x0232, 1, 2 }, { 0x023A, 0x023A, 10795, 1 },
	{ 0x023B, 0x023B, 1, 1 }, { 0x023D, 0x023D, -163, 1 },
	{ 0x023E, 0x023E, 10792, 1 }, { 0x0241, 0x0241, 1, 1 },
	{ 0x0243, 0x0243, -195, 1 }, { 0x0244, 0x0244, 69, 1 },
	{ 0x0245, 0x0245, 71, 1 }, { 0x0246, 0x024E, 1, 2 },
	{ 0x0345, 0x0345, 116, 1 }, { 0x0370, 0x0372, 1, 2 },
	{ 0x0376, 0x0376, 1, 1 }, { 0x037F, 0x037F, 116, 1 },
	{ 0x0386, 0x0386, 38, 1 }, { 0x0388, 0x038A, 37, 1 },
	{ 0x038C, 0x038C, 64, 1 }, { 0x038E, 0x038F, 63, 1 },
	{ 0x0391, 0x03A1, 32, 1 }, { 0x03A3, 0x03AB, 32, 1 },
	{ 0x03C2, 0x03C2, 1, 1 }, { 0x03CF, 0x03CF, 8, 1 },
	{ 0x03D0, 0x03D0, -30, 1 }, { 0x03D1, 0x03D1, -25, 1 },
	{ 0x03D5, 0x03D5, -15, 1 }, { 0x03D6, 0x03D6, -22, 1 },
	{ 0x03D8, 0x03EE, 1, 2 }, { 0x03F0, 0x03F0, -54, 1 },
	{ 0x03F1, 0x03F1, -48, 1 }, { 0x03F4, 0x03F4, -60, 1 },
	{ 0x03F5, 0x03F5, -64, 1 }, { 0x03F7, 0x03F7, 1, 1 },
	{ 0x03F9, 0x03F9, -7, 1 }, { 0x03FA, 0x03FA, 1, 1 },
	{ 0x03FD, 0x03FF, -130, 1 }, { 0x0400, 0x040F, 80, 1 },
	{ 0x0410, 0x042F, 32, 1 }, { 0x0460, 0x0480, 1, 2 },
	{ 0x048A, 0x04BE, 1, 2 }, { 0x04C0, 0x04C0, 15, 1 },
	{ 0x04C1, 0x04CD, 1, 2 }, { 0x04D0, 0x052E, 1, 2 },
	{ 0x0531, 0x0556, 48, 1 }, { 0x10A0, 0x10C5, 7264, 1 },
	{ 0x10C7, 0x10C7, 7264, 1 }, { 0x10CD, 0x10CD, 7264, 1 },
	{ 0x1C80, 0x1C80, -6222, 1 }, { 0x1C81, 0x1C81, -6221, 1 },
	{ 0x1C82, 0x1C82, -6212, 1 }, { 0x1C83, 0x1C84, -6210, 1 },
	{ 0x1C85, 0x1C85, -6211, 1 }, { 0x1C86, 0x1C86, -6204, 1 },
	{ 0x1C87, 0x1C87, -6180, 1 }, { 0x1C88, 0x1C88, 35267, 1 },
	{ 0x1C90, 0x1CBA, -3008, 1 }, { 0x1CBD, 0x1CBF, -3008, 1 },
	{ 0x1E00, 0x1E94, 1, 2 }, { 0x1E9B, 0x1E9B, -58, 1 },
	{ 0x1E9E, 0x1E9E, -7615, 1 }, { 0x1EA0, 0x1EFE, 1, 2 },
	{ 0x1F08, 0x1F0F, -8, 1 }, { 0x1F18, 0x1F1D, -8, 1 },
	{ 0x1F28, 0x1F2F, -8, 1 }, { 0x1F38, 0x1F3F, -8, 1 },
	{ 0x1F48, 0x1F4D, -8, 1 }, { 0x1F59, 0x1F5F, -8, 2 },
	{ 0x1F68, 0x1F6F, -8, 1 }, { 0x1F88, 0x1F8F, -8, 1 },
	{ 0x1F98, 0x1F9F, -8, 1 }, { 0x1FA8, 0x1FAF, -8, 1 },
	{ 0x1FB8, 0x1FB9, -8, 1 }, { 0x1FBA, 0x1FBB, -74, 1 },
	{ 0x1FBC, 0x1FBC, -9, 1 }, { 0x1FBE, 0x1FBE, -7173, 1 },
	{ 0x1FC8, 0x1FCB, -86, 1 }, { 0x1FCC, 0x1FCC, -9, 1 },
	{ 0x1FD8, 0x1FD9, -8, 1 }, { 0x1FDA, 0x1FDB, -100, 1 },
	{ 0x1FE8, 0x1FE9, -8, 1 }, { 0x1FEA, 0x1FEB, -112, 1 },
	{ 0x1FEC, 0x1FEC, -7, 1 }, { 0x1FF8, 0x1FF9, -128, 1 },
	{ 0x1FFA, 0x1FFB, -126, 1 }, { 0x1FFC, 0x1FFC, -9, 1 },
	{ 0x2126, 0x2126, -7517, 1 }, { 0x212A, 0x212A, -8383, 1 },
	{ 0x212B, 0x212B, -8262, 1 }, { 0x2132, 0x2132, 28, 1 },
	{ 0x2160, 0x216F, 16, 1 }, { 0x2183, 0x2183, 1, 1 },
	{ 0x24B6, 0x24CF, 26, 1 }, { 0x2C00, 0x2C2F, 48, 1 },
	{ 0x2C60, 0x2C60, 1, 1 }, { 0x2C62, 0x2C62, -10743, 1 },
	{ 0x2C63, 0x2C63, -3814, 1 }, { 0x2C64, 0x2C64, -10727, 1 },
	{ 0x2C67, 0x2C6B, 1, 2 }, { 0x2C6D, 0x2C6D, -10780, 1 },
	{ 0x2C6E, 0x2C6E, -10749, 1 }, { 0x2C6F, 0x2C6F, -10783, 1 },
	{ 0x2C70, 0x2C70, -10782, 1 }, { 0x2C72, 0x2C72, 1, 1 },
	{ 0x2C75, 0x2C75, 1, 1 }, { 0x2C7E, 0x2C7F, -10815, 1 },
	{ 0x2C80, 0x2CE2, 1, 2 }, { 0x2CEB, 0x2CED, 1, 2 },
	{ 0x2CF2, 0x2CF2, 1, 1 }, { 0xA640, 0xA66C, 1, 2 },
	{ 0xA680, 0xA69A, 1, 2 }, { 0xA722, 0xA72E, 1, 2 },
	{ 0xA732, 0xA76E, 1, 2 }, { 0xA779, 0xA77B, 1, 2 },
	{ 0xA77D, 0xA77D, -35332, 1 }, { 0xA77E, 0xA786, 1, 2 },
	{ 0xA78B, 0xA78B, 1, 1 }, { 0xA78D, 0xA78D, -42280, 1 },
	{ 0xA790, 0xA792, 1, 2 }, { 0xA796, 0xA7A8, 1, 2 },
	{ 0xA7AA, 0xA7AA, -42308, 1 }, { 0xA7AB, 0xA7AB, -42319, 1 },
	{ 0xA7AC, 0xA7AC, -42315, 1 }, { 0xA7AD, 0xA7AD, -42305, 1 },
	{ 0xA7AE, 0xA7AE, -42308, 1 }, { 0xA7B0, 0xA7B0, -42258, 1 },
	{ 0xA7B1, 0xA7B1, -42282, 1 }, { 0xA7B2, 0xA7B2, -42261, 1 },
	{ 0xA7B3, 0xA7B3, 928, 1 }, { 0xA7B4, 0xA7C2, 1, 2 },
	{ 0xA7C4, 0xA7C4, -48, 1 }, { 0xA7C5, 0xA7C5, -42307, 1 },
	{ 0xA7C6, 0xA7C6, -35384, 1 }, { 0xA7C7, 0xA7C9, 1, 2 },
	{ 0xA7D0, 0xA7D0, 1, 1 }, { 0xA7D6, 0xA7D8, 1, 2 },
	{ 0xA7F5, 0xA7F5, 1, 1 }, { 0xFF21, 0xFF3A, 32, 1 },
};

static uint32_t
fold_cp(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(fold_runs) / sizeof(fold_runs[0]);

	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fold_run *f = &fold_runs[mid];
		if (cp < f->first) {
			hi = mid;
		} else if (cp > f->last) {
			lo = mid + 1;
		} else {
			if ((cp - f->first) % f->stride != 0)
				return cp;
			return (uint32_t)((int32_t)cp + f->delta);
		}
	}
	return cp;
}

int
mime_casefold(const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;
	int r = buf_reserve(out, len);

	while (i < len && r == 0) {
		uint32_t cp;
		size_t n;
		if (s[i] < 0x80) {
			char c = (char)s[i++];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			r = buf_addc(out, c);
		} else if ((n = utf8_len(s + i, len - i, &cp)) == 0) {
			r = buf_addc(out, (char)s[i++]);	/* kept as is */
		} else {
			uint32_t f = fold_cp(cp);
			r = f == cp ? buf_add(out, s + i, n) : put_cp(out, f);
			i += n;
		}
	}
	return r;
}
