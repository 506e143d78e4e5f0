/* SPDX-License-Identifier: MIT */
/*
 * dir_phone.c - telephone numbers as the national extracts write them
 * ("01 23 45 67 89", "01.23.45.67.89", "+33 (0)1 23 45 67 89",
 * "0033123456789") into E.164 ("+33123456789"). French national numbers
 * (ten digits, trunk prefix 0) become +33; numbers written with "+" or
 * "00" keep their country code. Overseas departments keep +33 too (their
 * 0262..., 0590... numbers are reachable that way), which is good enough
 * for routing an SMS; short numbers, extensions and letters are refused.
 */
#include "directory.h"

#include <string.h>

#include "core/err.h"

#define PHONE_IN_MAX 64		/* longer input is no phone number */
#define E164_MIN 8		/* digits after "+" */
#define E164_MAX 15
#define FR_NSN 9		/* French digits after +33 */

int
dir_phone_e164(const char *in, char *out, size_t size)
{
	char d[PHONE_IN_MAX + 1];
	size_t nd = 0, len;
	bool plus = false;

	if (out != NULL && size > 0)
		out[0] = '\0';
	if (in == NULL || out == NULL)
		return ERR_INVAL;
	len = strnlen(in, PHONE_IN_MAX + 1);
	if (len > PHONE_IN_MAX)
		return ERR_INVAL;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c >= '0' && c <= '9') {
			d[nd++] = c;
		} else if (c == '+') {
			/* only first, before any digit */
			if (plus || nd > 0)
				return ERR_INVAL;
			plus = true;
		} else if (c == '(' && in[i + 1] == '0' && in[i + 2] == ')') {
			/* "+33 (0)1...": the trunk prefix shown for national
			 * callers, never dialled after the country code */
			if (!plus && !(nd >= 2 && d[0] == '0' && d[1] == '0'))
				return ERR_INVAL;
			i += 2;
		} else if (c != ' ' && c != '.' && c != '-' && c != '/' &&
		    c != '(' && c != ')') {
			return ERR_INVAL;
		}
	}
	d[nd] = '\0';

	const char *cc;		/* digits from the country code on */
	size_t n;

	if (plus) {
		cc = d;
		n = nd;
	} else if (nd >= 2 && d[0] == '0' && d[1] == '0') {
		cc = d + 2;
		n = nd - 2;
	} else if (nd == FR_NSN + 1 && d[0] == '0' && d[1] != '0') {
		/* national: 0 then 9 digits */
		if (size < 4 + FR_NSN)
			return ERR_LIMIT;
		memcpy(out, "+33", 3);
		memcpy(out + 3, d + 1, FR_NSN);
		out[3 + FR_NSN] = '\0';
		return 0;
	} else {
		return ERR_INVAL;
	}
	if (n == 0 || cc[0] == '0')
		return ERR_INVAL;	/* no country code starts with 0 */
	if (n >= 2 && cc[0] == '3' && cc[1] == '3') {
		/* France: "+33 0123456789" written with its trunk 0 is a
		 * common slip; otherwise exactly 9 digits, no leading 0 */
		const char *nsn = cc + 2;
		size_t k = n - 2;
		if (k == FR_NSN + 1 && nsn[0] == '0') {
			nsn++;
			k--;
		}
		if (k != FR_NSN || nsn[0] == '0')
			return ERR_INVAL;
		if (size < 4 + FR_NSN)
			return ERR_LIMIT;
		memcpy(out, "+33", 3);
		memcpy(out + 3, nsn, FR_NSN);
		out[3 + FR_NSN] = '\0';
		return 0;
	}
	if (n < E164_MIN || n > E164_MAX)
		return ERR_INVAL;
	if (size < n + 2)
		return ERR_LIMIT;
	out[0] = '+';
	memcpy(out + 1, cc, n);
	out[n + 1] = '\0';
	return 0;
}
