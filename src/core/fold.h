/* SPDX-License-Identifier: MIT */
/*
 * fold.h - search keys from names: UTF-8 text lower-cased and stripped of
 * its accents ("Hélène" -> "helene", "Œuvre" -> "oeuvre"), punctuation
 * and runs of spaces made one space, so that searches ignore case and
 * accents. Letters outside Latin-1 and Latin Extended-A are kept as they
 * are.
 */
#ifndef MSS_CORE_FOLD_H
#define MSS_CORE_FOLD_H

#include <stddef.h>

/* str_fold - fold in[len] into out[size] (NUL-terminated, truncated at a
 * character boundary). Returns the length written. Invalid UTF-8 bytes
 * are dropped. */
size_t str_fold(const char *in, size_t len, char *out, size_t size);

#endif
