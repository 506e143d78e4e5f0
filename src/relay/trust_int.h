/* SPDX-License-Identifier: MIT */
/*
 * trust_int.h - what the trust files share inside the relay module and
 * with their unit tests: Punycode (RFC 3492) on arrays of code points,
 * and the white-list reader with a size limit of the caller's choosing.
 * Callers outside relay use trust.h only.
 */
#ifndef MSS_RELAY_TRUST_INT_H
#define MSS_RELAY_TRUST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trust.h"

/* A label is at most 63 octets, so it never holds more code points. */
#define TRUST_LABEL_MAX 63

/*
 * trust_punycode_encode - the Punycode form of cp[n] (no "xn--" prefix)
 * into out[size], NUL-terminated, lower-case digits. Returns its length,
 * ERR_LIMIT when it does not fit, ERR_INVAL for a code point that is not
 * a Unicode scalar value or when a counter would overflow.
 */
int trust_punycode_encode(const uint32_t *cp, size_t n, char *out,
			  size_t size);

/*
 * trust_punycode_decode - the code points that in[len] (no prefix; digits
 * of either case) encodes, into cp[max]. Returns their count, ERR_LIMIT
 * when there are more than max, ERR_INVAL when in is not Punycode (a
 * non-basic character before the last delimiter, a bad digit, a number
 * cut short, an overflow, or a decoded value that is basic, a surrogate
 * or above U+10FFFF).
 */
int trust_punycode_decode(const char *in, size_t len, uint32_t *cp,
			  size_t max);

/*
 * trust_xml_load_max - trust_xml_load with max in place of TRUST_FILE_MAX:
 * the octets accepted, on the file's size and on what is actually read
 * (a file that grows, or claims a size it does not have). For the tests,
 * which cannot afford a 64 MiB file per case.
 */
int trust_xml_load_max(const char *path, uint64_t max, int64_t now,
		       bool skip_bad, struct store_trust **list_r, size_t *n_r,
		       size_t *n_bad_r, char *err, size_t errlen);

#endif
