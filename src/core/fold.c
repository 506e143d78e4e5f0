/* SPDX-License-Identifier: MIT */
/*
 * fold.c - search keys without case or accents. French names are written
 * with and without their accents ("Hélène", "HELENE", "Helene") in the
 * national extracts and by the people who search them, so every name
 * index and every name query goes through the same fold.
 */
#include "fold.h"

#include <stdint.h>
#include <string.h>

/* U+00C0..U+00FF: the base letters ("" for the two signs, which become
 * spaces); two letters for ligatures. */
static const char *const latin1[64] = {
	"a", "a", "a", "a", "a", "a", "ae", "c",
	"e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "",
	"o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c",
	"e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "",
	"o", "u", "u", "u", "u", "y", "th", "y",
};

/* U+0100..U+017F, one base letter each; '*' marks the ligatures IJ and
 * OE, handled apart. */
static const char latin_ext_a[129] =
	"aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh"
	"iiiiiiiiii" "**" "jj" "kkk" "llllllllll" "nnnnnnnnn" "oooooo" "**"
	"rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy" "zzzzzz" "s";

/* utf8_next - decode one scalar at p (n bytes left); its length in *len,
 * or 0 for an invalid sequence (then *len is 1). */
static uint32_t
utf8_next(const unsigned char *p, size_t n, size_t *len)
{
	uint32_t c;
	size_t k, i;

	*len = 1;
	if (p[0] < 0x80)
		return p[0];
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		k = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		k = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		k = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*len = k;
	return c;
}

struct out {
	char *p;
	size_t len, size;
	int space;		/* a separator is pending */
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (o->space && o->len > 0) {
		if (o->len + 1 >= o->size)
			return;
		o->p[o->len++] = ' ';
	}
	o->space = 0;
	if (o->len + n >= o->size) {
		o->size = o->len + 1;	/* full: nothing more fits */
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

size_t
str_fold(const char *in, size_t len, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)in;
	struct out o = { out, 0, size, 0 };
	size_t i = 0, n;

	if (size == 0)
		return 0;
	while (i < len) {
		uint32_t c = utf8_next(p + i, len - i, &n);
		if (c == 0) {
			i += n;
			continue;
		}
		if (c < 0x80) {
			char ch = (char)c;
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
				put(&o, &ch, 1);
			else
				o.space = 1;
		} else if (c >= 0xc0 && c <= 0xff) {
			const char *s = latin1[c - 0xc0];
			if (*s == '\0')
				o.space = 1;
			else
				put(&o, s, strlen(s));
		} else if (c >= 0x100 && c <= 0x17f) {
			char ch = latin_ext_a[c - 0x100];
			if (ch != '*')
				put(&o, &ch, 1);
			else if (c == 0x132 || c == 0x133)
				put(&o, "ij", 2);
			else
				put(&o, "oe", 2);
		} else if (c >= 0x300 && c <= 0x36f) {
			/* combining accents of decomposed text: dropped */
		} else if (c == 0xa0 || c == 0x2019 || c == 0x2010 ||
		    c == 0x2011 || c == 0x2013 || c == 0x2014 || c < 0xc0) {
			o.space = 1;	/* spaces, quotes, dashes, signs */
		} else {
			put(&o, (const char *)p + i, n);
		}
		i += n;
	}
	o.p[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}
