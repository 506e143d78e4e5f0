/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mime_struct.c - a message (at most 1 MiB) through mime_info_parse,
 * with checks that the part table is a tree whose ranges nest inside the
 * input, that the stored form decodes to exactly the same thing (and
 * encodes again to the same bytes), that every section found lies inside
 * the input, and that mime_text / mime_header_decode / mime_casefold
 * stay within their bounded buffers. The input is also fed to
 * mime_info_decode as if it were a stored blob.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "mime/mime_struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX (1024 * 1024)

static const char *const specs[] = {
	"", "HEADER", "TEXT", "1", "1.MIME", "1.HEADER", "1.TEXT", "2",
	"2.MIME", "1.1", "1.2", "2.1", "2.2.MIME", "3", "3.HEADER", "3.TEXT",
	"3.1", "1.1.1", "2.1.2.1", "4.2.2.1", "1.1.1.1.1.1.1.1", "99", "0",
	"1.", "MIME",
};

/* check_tree - the shape mime_section and the IMAP server rely on. */
static void
check_tree(const struct mime_info *mi, uint64_t len, bool exact)
{
	CHECK(mi->n_parts >= 1 && mi->n_parts <= MIME_PARTS_MAX);
	if (exact)
		CHECK((uint64_t)mi->parts[0].hdr_len + mi->parts[0].body_len ==
		    len);
	for (size_t i = 0; i < mi->n_parts; i++) {
		const struct mime_part *p = &mi->parts[i];
		uint32_t kids = 0;
		CHECK(p->body_off == p->hdr_off + p->hdr_len);
		if (exact)
			CHECK((uint64_t)p->body_off + p->body_len <= len);
		CHECK(p->kind <= MIME_KIND_MESSAGE);
		if (p->kind == MIME_KIND_MESSAGE)
			CHECK(i + 1 < mi->n_parts &&
			    mi->parts[i + 1].parent == i);
		for (size_t j = i + 1; j < mi->n_parts; j++)
			kids += mi->parts[j].parent == i;
		CHECK(kids == p->n_children);
		if (i == 0)
			continue;
		const struct mime_part *q = &mi->parts[p->parent];
		CHECK(p->parent < i && q->kind != MIME_KIND_LEAF);
		CHECK(p->hdr_off >= q->body_off);
		CHECK((uint64_t)p->body_off + p->body_len <=
		    (uint64_t)q->body_off + q->body_len);
	}
}

static void
check_sections(const struct mime_info *mi, uint64_t len)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		uint32_t off = 0, n = 0;
		int r = mime_section(mi, specs[i], strlen(specs[i]), &off, &n);
		CHECK(r == 0 || r == 1 || r == ERR_PROTO);
		if (r == 1)
			CHECK((uint64_t)off + n <= len);
	}
}

static bool
same_buf(const struct buf *a, const struct buf *b)
{
	return buf_len(a) == buf_len(b) &&
	    memcmp(buf_data(a), buf_data(b), buf_len(a)) == 0;
}

static void
roundtrip(const struct mime_info *mi)
{
	struct mime_info back;
	struct buf blob, blob2;

	mime_info_init(&back);
	buf_init(&blob, 16 * 1024 * 1024);
	buf_init(&blob2, 16 * 1024 * 1024);
	CHECK(mime_info_encode(mi, &blob) == 0);
	CHECK(mime_info_decode(buf_data(&blob), buf_len(&blob), &back) == 0);
	CHECK(same_buf(&mi->envelope, &back.envelope));
	CHECK(same_buf(&mi->body, &back.body));
	CHECK(same_buf(&mi->bodystructure, &back.bodystructure));
	CHECK(back.n_parts == mi->n_parts);
	CHECK(memcmp(back.parts, mi->parts,
	    mi->n_parts * sizeof(*mi->parts)) == 0);
	CHECK(mime_info_encode(&back, &blob2) == 0);
	CHECK(same_buf(&blob, &blob2));
	buf_free(&blob);
	buf_free(&blob2);
	mime_info_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct mime_info mi;
	struct buf out;
	int r;

	if (size > INPUT_MAX)
		return 0;
	mime_info_init(&mi);
	r = mime_info_parse(msg, size, &mi);
	CHECK(r == 0 || r == ERR_LIMIT || r == ERR_NOMEM);
	if (r == ERR_NOMEM) {
		CHECK(mi.n_parts == 0);
		return 0;
	}
	CHECK(buf_len(&mi.envelope) > 0 && buf_data(&mi.envelope)[0] == '(');
	CHECK(buf_len(&mi.body) > 0 && buf_data(&mi.body)[0] == '(');
	CHECK(buf_len(&mi.bodystructure) >= buf_len(&mi.body));
	check_tree(&mi, size, true);
	check_sections(&mi, size);
	roundtrip(&mi);

	buf_init(&out, 256 * 1024);
	r = mime_text(msg, size, &mi, &out);
	CHECK(r == 0 || r == ERR_LIMIT || r == ERR_NOMEM);
	buf_reset(&out);
	r = mime_header_decode(msg, size < 4096 ? size : 4096, &out);
	CHECK(r == 0 || r == ERR_LIMIT || r == ERR_NOMEM);
	CHECK(buf_len(&out) <= 256 * 1024);
	buf_reset(&out);
	r = mime_casefold(msg, size < 4096 ? size : 4096, &out);
	CHECK(r == 0 || r == ERR_LIMIT || r == ERR_NOMEM);
	buf_free(&out);
	mime_info_free(&mi);

	/* the same bytes as a stored blob: refused or a sound table */
	r = mime_info_decode(data, size, &mi);
	CHECK(r == 0 || r == ERR_CORRUPT || r == ERR_VERSION ||
	    r == ERR_NOMEM);
	if (r == 0) {
		check_tree(&mi, UINT32_MAX, false);
		check_sections(&mi, (uint64_t)UINT32_MAX * 2);
		roundtrip(&mi);
	} else {
		CHECK(mi.n_parts == 0 && mi.parts == NULL);
	}
	mime_info_free(&mi);
	return 0;
}
