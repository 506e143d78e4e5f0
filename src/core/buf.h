/* SPDX-License-Identifier: MIT */
/*
 * buf.h - growable byte buffer with a hard maximum set at init.
 * Appending past the maximum returns ERR_LIMIT and leaves the buffer as it
 * was; it never aborts. The data is always followed by a NUL byte that is
 * not counted in the length, for the convenience of string users.
 * A pointer from buf_data() dies at the next append.
 */
#ifndef MSS_CORE_BUF_H
#define MSS_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* buf_reset - forget the content, keep the memory. */
void buf_reset(struct buf *b);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addc(struct buf *b, char c);
int buf_adds(struct buf *b, const char *s);
int buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* buf_reserve - make room for n more bytes without changing the length. */
int buf_reserve(struct buf *b, size_t n);
/* buf_take - hand the memory to the caller (free() it); buffer is empty. */
char *buf_take(struct buf *b, size_t *len_r);
/* buf_wipe - zero the content (for secrets), then free it. */
void buf_wipe(struct buf *b);

static inline const char *
buf_data(const struct buf *b)
{
	return b->data ? b->data : "";
}

static inline size_t
buf_len(const struct buf *b)
{
	return b->len;
}

#endif
