/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_reply.c - arbitrary bytes as what a peer server sends our
 * SMTP client, cut into lines the way relay_client.c does (LF, an
 * optional CR before it dropped), each through relay_reply_line, a new
 * reply after each complete one and after each refused line (as on a new
 * connection). Every result is checked against a model of RFC 5321 4.2
 * written apart: the return value, the code, the joined text (bounded,
 * control characters replaced), the EHLO lines; and relay_reply_status
 * on the reply, complete or not, into buffers of every small size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "relay/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX (256 * 1024)
#define KEPT_LINE (sizeof(((struct relay_reply *)0)->lines[0]) - 1)

/* What RFC 5321 4.2 allows, as the model sees it. */
struct model {
	int code;
	size_t n_lines;
	char text[RELAY_REPLY_LINES_MAX * (RELAY_REPLY_LINE_MAX + 1) + 1];
	size_t text_len;	/* unbounded, unlike the reply's */
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* model_line - 1 last line, 0 more to come, -1 not a reply line. */
static int
model_line(struct model *m, const char *line, size_t len)
{
	if (len < 3 || len > RELAY_REPLY_LINE_MAX ||
	    m->n_lines == RELAY_REPLY_LINES_MAX)
		return -1;
	if (line[0] < '2' || line[0] > '5' || !is_digit(line[1]) ||
	    !is_digit(line[2]))
		return -1;
	int code = 100 * (line[0] - '0') + 10 * (line[1] - '0') +
	    (line[2] - '0');
	if (m->code != 0 && m->code != code)
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	m->code = code;
	m->n_lines++;
	/* texts joined by one space, from the first non-empty one on */
	if (m->text_len > 0)
		m->text[m->text_len++] = ' ';
	for (size_t i = 4; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		m->text[m->text_len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	m->text[m->text_len] = '\0';
	return len == 3 || line[3] == ' ' ? 1 : 0;
}

/* model_status - the enhanced code the text starts with, if it is one of
 * the reply's class ("5.1.1" before a space or the end), else "C.0.0". */
static void
model_status(const struct model *m, char *out, size_t size)
{
	const char *t = m->text;
	size_t i = 0, subject = 0, detail = 0;

	if (m->code != 0 && t[0] == '0' + m->code / 100 && t[1] == '.') {
		for (i = 2; is_digit(t[i]) && subject < 3; i++)
			subject++;
		if (subject > 0 && t[i] == '.') {
			for (i++; is_digit(t[i]) && detail < 3; i++)
				detail++;
		}
	}
	if (detail > 0 && (t[i] == ' ' || t[i] == '\0') &&
	    (t[0] == '2' || t[0] == '4' || t[0] == '5') &&
	    i < RELAY_REPLY_TEXT_MAX) {
		snprintf(out, size, "%.*s", (int)i, t);
		return;
	}
	snprintf(out, size, "%d.0.0", m->code != 0 ? m->code / 100 : 4);
}

/* check_status - relay_reply_status into exact-size heap buffers (so a
 * write past one is seen), always terminated, the model's answer when it
 * fits. */
static void
check_status(const struct relay_reply *r, const struct model *m)
{
	char want[64];

	model_status(m, want, sizeof(want));
	for (size_t size = 1; size <= 16; size++) {
		char *out = malloc(size);
		CHECK(out != NULL);
		relay_reply_status(r, out, size);
		CHECK(memchr(out, '\0', size) != NULL);
		if (strlen(want) < size)
			CHECK(strcmp(out, want) == 0);
		free(out);
	}
}

/* check_reply - the reply's fields against the model's. */
static void
check_reply(const struct relay_reply *r, const struct model *m,
	    const char *const *starts, const size_t *lens)
{
	CHECK(r->code == m->code);
	CHECK(r->n_lines == m->n_lines);
	CHECK(r->text_len < sizeof(r->text));
	CHECK(r->text[r->text_len] == '\0');
	CHECK(strlen(r->text) == r->text_len);
	/* the model's text, cut where the reply's buffer ends */
	size_t keep = m->text_len < sizeof(r->text) - 1 ? m->text_len :
	    sizeof(r->text) - 1;
	CHECK(r->text_len == keep);
	CHECK(memcmp(r->text, m->text, keep) == 0);
	for (size_t i = 0; i < r->n_lines; i++) {
		size_t k = lens[i] < KEPT_LINE ? lens[i] : KEPT_LINE;
		CHECK(memchr(r->lines[i], '\0', KEPT_LINE + 1) != NULL);
		/* the start of the line's text, up to a NUL in it */
		size_t sl = strnlen(starts[i], k);
		CHECK(strlen(r->lines[i]) == sl);
		CHECK(memcmp(r->lines[i], starts[i], sl) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct relay_reply r;
	static struct model m;
	static const char *starts[RELAY_REPLY_LINES_MAX];
	static size_t lens[RELAY_REPLY_LINES_MAX];
	const char *p = (const char *)data, *end = p + size;

	if (size > INPUT_MAX)
		return 0;
	/* nothing read yet: a reply with no line has no class */
	relay_reply_init(&r);
	memset(&m, 0, sizeof(m));
	check_status(&r, &m);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;	/* the client waits for the rest of it */
		const char *start = p;
		size_t len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		p = nl + 1;
		/* the client hands over the line in its own copy, of
		 * exactly its length here so that a read past it shows */
		char *line = malloc(len > 0 ? len : 1);
		CHECK(line != NULL);
		memcpy(line, start, len);

		size_t i = m.n_lines;
		int want = model_line(&m, start, len);
		int got = relay_reply_line(&r, line, len);
		free(line);
		if (want < 0) {
			CHECK(got == ERR_PROTO);
			/* the client gives up on the connection; the next
			 * line starts a reply of a new one */
			relay_reply_init(&r);
			memset(&m, 0, sizeof(m));
			continue;
		}
		CHECK(got == want);
		CHECK(r.done == (got == 1));
		starts[i] = len > 4 ? start + 4 : "";
		lens[i] = len > 4 ? len - 4 : 0;
		check_reply(&r, &m, starts, lens);
		check_status(&r, &m);
		if (got == 1) {
			/* nothing more goes into a complete reply */
			CHECK(relay_reply_line(&r, "250 x", 5) == ERR_PROTO);
			relay_reply_init(&r);
			memset(&m, 0, sizeof(m));
		}
	}
	return 0;
}
