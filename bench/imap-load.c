/* SPDX-License-Identifier: MIT */
/*
 * imap-load.c - the IMAP load generator of bench/imap.
 *
 * Three modes, all over TLS (implicit with -i, else STARTTLS) with the
 * server certificate verified against a CA file and a host name, and
 * LOGIN with the users of -u (password from IMAP_LOAD_PASSWORD):
 *
 *  -m load   loads a corpus (see bench/lib/imap_bench.py) by APPEND: one
 *            connection per user, CREATE of every mailbox but INBOX, then
 *            every message with its flags and internal date, in order,
 *            -W commands in flight (LITERAL+; synchronizing literals when
 *            the server lacks it). Timed from the moment every connection
 *            is logged in. Prints one result line.
 *
 *  -m run    one thread per connection (-c), users taken in turn; each
 *            connection logs in and SELECTs INBOX (set-up, not timed),
 *            then repeats one operation of the mix (-x) until the window
 *            closes: a warm-up (-w, not counted), then the window (-d).
 *            An operation counts when its tagged OK arrives inside the
 *            window; latency is from writing the command to reading the
 *            tagged OK. Mixes:
 *              select          SELECT INBOX
 *              fetch_headers   FETCH of -r consecutive messages (random
 *                              start): UID BODY.PEEK[HEADER.FIELDS (FROM
 *                              TO SUBJECT DATE)]
 *              fetch_envelope  FETCH of -r consecutive messages: UID
 *                              FLAGS RFC822.SIZE INTERNALDATE ENVELOPE
 *              fetch_body      FETCH of one random message: UID BODY.PEEK[]
 *              search_header   SEARCH, header criteria of the -Q file in turn
 *              search_body     SEARCH, body/text criteria in turn
 *              search_flags    SEARCH, flag criteria in turn
 *              store           STORE +FLAGS (\Flagged) of one random
 *                              message, then -FLAGS (\Flagged) of the same
 *                              message, in turn
 *              append          APPEND to "Bench-Append" of a corpus
 *                              message (from -A), in turn
 *              mixed           one of the above per operation, weighted:
 *                              fetch_envelope 25, fetch_body 25,
 *                              fetch_headers 15, store 15, search 10
 *                              (header 4, flags 4, body 2), select 5,
 *                              append 5
 *            Every tagged status is checked (anything but OK is an error,
 *            counted, the first ones shown on stderr), and so is the data:
 *            a FETCH must return at least one FETCH response per message
 *            asked, BODY.PEEK[] a literal, SELECT an EXISTS, SEARCH a
 *            SEARCH response. Prints one result line.
 *
 *  -m idle   opens -c connections (at most -P being set up at once) with
 *            one epoll loop, each: TLS (implicit only), LOGIN, SELECT
 *            INBOX, IDLE; prints a line when all are idling, then obeys
 *            commands on stdin, one a line:
 *              check       -> "alive=N dead=M" (connections still open)
 *              deliver S   one APPEND to each user's INBOX (from another
 *                          connection per user), then waits up to S
 *                          seconds for a "* n EXISTS" on every idling
 *                          connection -> "exists: got=N of=M ..."
 *              quit        closes everything and exits
 *
 * Result lines are key=value pairs on stdout, like smtp-load's.
 *
 * Build: cc -O2 -Wall -Wextra -o imap-load imap-load.c -lssl -lcrypto -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define ERRORS_SHOWN 10
#define IO_TIMEOUT 120
#define TEXT_MAX 512

/* ---- options ------------------------------------------------------- */

static const char *opt_mode;
static const char *opt_host = "127.0.0.1";
static const char *opt_port;
static int opt_implicit;
static const char *opt_cafile;
static const char *opt_servername = "localhost";
static char **users;
static unsigned n_users;
static const char *opt_dir;		/* corpus */
static const char *opt_mix;
static unsigned opt_conns = 1;
static double opt_seconds = 5.0;
static double opt_warmup = 1.0;
static unsigned opt_window = 8;		/* load: commands in flight */
static unsigned opt_range = 50;
static unsigned opt_parallel = 100;	/* idle: set-ups at once */
static unsigned long opt_seed = 1;
static const char *opt_label = "";
static const char *opt_latfile;
static int opt_verbose;

static SSL_CTX *ssl_ctx;
static char *password;
static struct addrinfo *server_ai;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long errors_shown;
static char tls_desc[128];

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: imap-load -m load|run|idle -p PORT -C CAFILE -u USERS "
	    "[options]\n"
	    "  -H HOST     server address (127.0.0.1)\n"
	    "  -p PORT     server port\n"
	    "  -i          implicit TLS (default: STARTTLS; idle: -i only)\n"
	    "  -C FILE     CA certificates to verify the server with\n"
	    "  -N NAME     name the certificate must carry (localhost)\n"
	    "  -u LIST     logins, comma separated; the password comes from\n"
	    "              the environment variable IMAP_LOAD_PASSWORD\n"
	    "  -D DIR      corpus folder (load: uK/...; run: queries,\n"
	    "              append.mbx; idle: append.mbx)\n"
	    "  -x MIX      run: select fetch_headers fetch_envelope fetch_body\n"
	    "              search_header search_body search_flags store append\n"
	    "              mixed\n"
	    "  -c N        connections (1)\n"
	    "  -d SECONDS  run: measuring window (5)\n"
	    "  -w SECONDS  run: warm-up, not counted (1)\n"
	    "  -r N        run: messages per FETCH of a range (50)\n"
	    "  -W N        load: APPENDs in flight per connection (8)\n"
	    "  -P N        idle: connections set up at once (100)\n"
	    "  -s SEED     random seed (1)\n"
	    "  -L LABEL    label printed on the result line\n"
	    "  -l FILE     run: latencies of the window, ms, sorted; idle: set-up\n"
	    "              times of the connections, ms, sorted\n"
	    "  -v          print the TLS parameters of the first connection\n");
	exit(2);
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "imap-load: %s", opt_label);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die("out of memory");
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die("out of memory");
	return p;
}

static uint64_t
rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* ---- corpus files ------------------------------------------------------- */

struct msg {
	char *args;		/* APPEND arguments: (flags) "date" */
	char *data;
	size_t len;
};

struct mbx {
	struct msg *m;
	size_t n;
	char *buf;		/* the file, which m points into */
};

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0)
		die("%s: %s", path, strerror(errno));
	char *p = xmalloc((size_t)st.st_size + 1);
	if (st.st_size > 0 && fread(p, 1, (size_t)st.st_size, f) !=
	    (size_t)st.st_size)
		die("%s: short read", path);
	p[st.st_size] = '\0';
	fclose(f);
	*len = (size_t)st.st_size;
	return p;
}

/* read_mbx - records "<len> <args>\n<len bytes>" (pointers into one
 * buffer kept for the life of the process). */
static void
read_mbx(const char *path, struct mbx *out)
{
	size_t len, off = 0;
	char *p = read_file(path, &len);
	out->m = NULL;
	out->n = 0;
	out->buf = p;
	while (off < len) {
		char *nl = memchr(p + off, '\n', len - off);
		if (nl == NULL)
			die("%s: bad record at %zu", path, off);
		*nl = '\0';
		char *end;
		unsigned long n = strtoul(p + off, &end, 10);
		if (*end != ' ')
			die("%s: bad record header at %zu", path, off);
		size_t data = (size_t)(nl - p) + 1;
		if (data + n > len)
			die("%s: truncated record at %zu", path, off);
		out->m = xrealloc(out->m, (out->n + 1) * sizeof(*out->m));
		out->m[out->n].args = end + 1;
		out->m[out->n].data = p + data;
		out->m[out->n].len = n;
		out->n++;
		off = data + n;
	}
}

/* ---- a blocking connection ------------------------------------------------ */

struct conn {
	unsigned id;
	const char *user;
	pthread_t thread;
	int fd;
	SSL *ssl;
	char rbuf[65536];
	size_t rlen, roff;
	char *line;			/* one response, literals excluded */
	size_t line_len, line_cap;
	int literal_plus;
	unsigned long tagn;
	char text[TEXT_MAX];		/* last tagged or error text */
	/* per command */
	unsigned long n_fetch, n_exists, n_search_resp, n_search_hits;
	unsigned long lit_bytes;
	unsigned long exists;		/* last EXISTS number seen */
	/* run results */
	int setup_ok;
	double setup_s;
	unsigned long ok_total, ok_window, errors;
	unsigned long long bytes_window;
	float *lat;
	size_t n_lat, cap_lat;
	uint64_t rng;
	unsigned long seq;
	unsigned long store_msg;	/* flagged by the last STORE, or 0 */
	unsigned long appends_ok;	/* APPENDs answered OK, any time */
};

static void
report(struct conn *c, const char *what)
{
	pthread_mutex_lock(&err_lock);
	if (errors_shown < ERRORS_SHOWN) {
		fprintf(stderr, "imap-load: %sconn %u (%s): %s: %s\n",
		    opt_label, c->id, c->user ? c->user : "-", what,
		    c->text[0] ? c->text : "(no text)");
		unsigned long e = ERR_get_error();
		if (e != 0) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			fprintf(stderr, "imap-load:   openssl: %s\n", buf);
		}
	} else if (errors_shown == ERRORS_SHOWN) {
		fprintf(stderr, "imap-load: %s(further errors not shown)\n",
		    opt_label);
	}
	errors_shown++;
	pthread_mutex_unlock(&err_lock);
	ERR_clear_error();
}

static int
io_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (c->ssl != NULL) {
			size_t done = 0;
			if (SSL_write_ex(c->ssl, p, n, &done) != 1) {
				snprintf(c->text, sizeof(c->text),
				    "TLS write failed");
				return -1;
			}
			w = (ssize_t)done;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				snprintf(c->text, sizeof(c->text),
				    "write failed: %s", strerror(errno));
				return -1;
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
io_fill(struct conn *c)
{
	if (c->roff > 0) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->rlen == sizeof(c->rbuf))
		return -1;
	for (;;) {
		if (c->ssl != NULL) {
			size_t got = 0;
			if (SSL_read_ex(c->ssl, c->rbuf + c->rlen,
			    sizeof(c->rbuf) - c->rlen, &got) != 1) {
				snprintf(c->text, sizeof(c->text),
				    "connection closed or TLS read failed");
				return -1;
			}
			c->rlen += got;
			return 0;
		}
		ssize_t r = recv(c->fd, c->rbuf + c->rlen,
		    sizeof(c->rbuf) - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(c->text, sizeof(c->text),
			    "connection closed: %s",
			    r < 0 ? strerror(errno) : "EOF");
			return -1;
		}
		c->rlen += (size_t)r;
		return 0;
	}
}

static void
line_add(struct conn *c, const char *p, size_t n)
{
	if (c->line_len + n + 1 > c->line_cap) {
		c->line_cap = (c->line_len + n + 1) * 2;
		c->line = xrealloc(c->line, c->line_cap);
	}
	memcpy(c->line + c->line_len, p, n);
	c->line_len += n;
	c->line[c->line_len] = '\0';
}

/* read_response - one whole response into c->line (CRLF removed, each
 * literal replaced by "{n}" and its bytes counted in lit_bytes, not
 * kept). 0, or -1 on I/O error. */
static int
read_response(struct conn *c)
{
	c->line_len = 0;
	line_add(c, "", 0);
	for (;;) {
		char *start = c->rbuf + c->roff;
		char *nl = memchr(start, '\n', c->rlen - c->roff);
		if (nl == NULL) {
			/* keep what is there, read more */
			size_t have = c->rlen - c->roff;
			if (have > 0 && c->rlen == sizeof(c->rbuf)) {
				line_add(c, start, have);
				c->roff = c->rlen;
			}
			if (io_fill(c) < 0)
				return -1;
			continue;
		}
		size_t n = (size_t)(nl - start);
		line_add(c, start, n);
		c->roff += n + 1;
		if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
			c->line[--c->line_len] = '\0';
		/* a literal announced at the end of the line? */
		size_t L = c->line_len;
		if (L >= 3 && c->line[L - 1] == '}') {
			size_t i = L - 2;
			if (c->line[i] == '+')
				i--;
			size_t e = i;
			while (i > 0 && c->line[i] >= '0' && c->line[i] <= '9')
				i--;
			if (c->line[i] == '{' && e > i) {
				unsigned long long lit =
				    strtoull(c->line + i + 1, NULL, 10);
				c->lit_bytes += lit;
				while (lit > 0) {
					size_t have = c->rlen - c->roff;
					if (have == 0) {
						if (io_fill(c) < 0)
							return -1;
						continue;
					}
					size_t take = have < lit ? have :
					    (size_t)lit;
					c->roff += take;
					lit -= take;
				}
				continue;	/* the rest of the response */
			}
		}
		return 0;
	}
}

/* untagged - note what matters of one untagged response. */
static void
untagged(struct conn *c)
{
	const char *l = c->line;
	if (strncmp(l, "* ", 2) != 0)
		return;
	l += 2;
	if (strncmp(l, "SEARCH", 6) == 0 && (l[6] == '\0' || l[6] == ' ')) {
		c->n_search_resp++;
		for (const char *p = l + 6; *p; p++)
			if (*p >= '0' && *p <= '9' &&
			    (p[-1] == ' '))
				c->n_search_hits++;
		return;
	}
	char *end;
	unsigned long n = strtoul(l, &end, 10);
	if (end == l)
		return;
	if (strncmp(end, " EXISTS", 7) == 0) {
		c->n_exists++;
		c->exists = n;
	} else if (strncmp(end, " FETCH", 6) == 0) {
		c->n_fetch++;
	}
}

/* wait_tagged - responses until the one tagged tag: 1 OK, 0 NO/BAD
 * (text in c->text), -1 connection lost. */
static int
wait_tagged(struct conn *c, const char *tag)
{
	size_t tl = strlen(tag);
	for (;;) {
		if (read_response(c) < 0)
			return -1;
		if (c->line[0] == '*') {
			if (strncmp(c->line, "* BYE", 5) == 0)
				snprintf(c->text, sizeof(c->text), "%.400s",
				    c->line);
			untagged(c);
			continue;
		}
		if (c->line[0] == '+')
			continue;	/* not expected here: ignored */
		if (strncmp(c->line, tag, tl) == 0 && c->line[tl] == ' ') {
			snprintf(c->text, sizeof(c->text), "%.400s",
			    c->line + tl + 1);
			return strncmp(c->line + tl + 1, "OK", 2) == 0 ? 1 : 0;
		}
		/* another tag: a pipelined command's answer (load mode) */
		snprintf(c->text, sizeof(c->text), "unexpected: %.400s",
		    c->line);
		return 0;
	}
}

static void
begin_cmd(struct conn *c)
{
	c->n_fetch = c->n_exists = c->n_search_resp = c->n_search_hits = 0;
	c->lit_bytes = 0;
}

/* command - send "TAG text" and wait: 1 OK, 0 NO/BAD, -1 lost. */
static int
command(struct conn *c, const char *fmt, ...)
{
	char buf[2048], tag[32];
	va_list ap;
	snprintf(tag, sizeof(tag), "a%lu", ++c->tagn);
	int n = snprintf(buf, sizeof(buf), "%s ", tag);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		die("command too long");
	buf[n++] = '\r';
	buf[n++] = '\n';
	begin_cmd(c);
	if (io_write(c, buf, (size_t)n) < 0)
		return -1;
	return wait_tagged(c, tag);
}

/* append - APPEND one message; when wait is 0 the answer is not read
 * (pipelining, LITERAL+ only). The tag number is returned in *tagn. */
static int
append_send(struct conn *c, const char *mailbox, const struct msg *m)
{
	char hdr[512], tag[32];
	snprintf(tag, sizeof(tag), "a%lu", ++c->tagn);
	int n = snprintf(hdr, sizeof(hdr), "%s APPEND \"%s\" %s {%zu%s}\r\n",
	    tag, mailbox, m->args, m->len, c->literal_plus ? "+" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		die("APPEND line too long");
	if (io_write(c, hdr, (size_t)n) < 0)
		return -1;
	if (!c->literal_plus) {
		/* wait for the continuation */
		for (;;) {
			if (read_response(c) < 0)
				return -1;
			if (c->line[0] == '+')
				break;
			if (c->line[0] == '*') {
				untagged(c);
				continue;
			}
			snprintf(c->text, sizeof(c->text), "%.400s", c->line);
			return 0;
		}
	}
	if (io_write(c, m->data, m->len) < 0 || io_write(c, "\r\n", 2) < 0)
		return -1;
	return 1;
}

static int
append_one(struct conn *c, const char *mailbox, const struct msg *m)
{
	char tag[32];
	begin_cmd(c);
	int r = append_send(c, mailbox, m);
	if (r <= 0)
		return r;
	snprintf(tag, sizeof(tag), "a%lu", c->tagn);
	return wait_tagged(c, tag);
}

static int
tls_start(struct conn *c)
{
	c->ssl = SSL_new(ssl_ctx);
	if (c->ssl == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, opt_servername) != 1 ||
	    SSL_set1_host(c->ssl, opt_servername) != 1)
		return -1;
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);
		snprintf(c->text, sizeof(c->text), "TLS handshake failed%s%s",
		    v != X509_V_OK ? ": " : "",
		    v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
		return -1;
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		snprintf(c->text, sizeof(c->text), "certificate not verified");
		return -1;
	}
	pthread_mutex_lock(&err_lock);
	if (tls_desc[0] == '\0')
		snprintf(tls_desc, sizeof(tls_desc), "%s %s",
		    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	pthread_mutex_unlock(&err_lock);
	return 0;
}

/* quoted - an IMAP quoted string of s into out. */
static void
quoted(char *out, size_t size, const char *s)
{
	size_t o = 0;
	out[o++] = '"';
	for (; *s && o + 3 < size; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static int
connect_login(struct conn *c)
{
	const struct addrinfo *ai = server_ai;
	struct timeval tv = { IO_TIMEOUT, 0 };
	int one = 1;

	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->text, sizeof(c->text), "socket: %s",
		    strerror(errno));
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(c->text, sizeof(c->text), "connect: %s",
		    strerror(errno));
		return -1;
	}
	if (opt_implicit && tls_start(c) < 0)
		return -1;
	if (read_response(c) < 0)
		return -1;
	if (strncmp(c->line, "* OK", 4) != 0) {
		snprintf(c->text, sizeof(c->text), "greeting: %.400s",
		    c->line);
		return -1;
	}
	c->literal_plus = strstr(c->line, "LITERAL+") != NULL;
	if (!opt_implicit) {
		if (command(c, "STARTTLS") != 1)
			return -1;
		if (c->roff != c->rlen) {
			snprintf(c->text, sizeof(c->text),
			    "data after the STARTTLS answer");
			return -1;
		}
		if (tls_start(c) < 0)
			return -1;
	}
	char qu[600], qp[600];
	quoted(qu, sizeof(qu), c->user);
	quoted(qp, sizeof(qp), password);
	if (command(c, "LOGIN %s %s", qu, qp) != 1)
		return -1;
	if (strstr(c->text, "LITERAL+") != NULL)
		c->literal_plus = 1;
	if (!c->literal_plus) {
		if (command(c, "CAPABILITY") != 1)
			return -1;
	}
	return 0;
}

static void
conn_close(struct conn *c, int logout)
{
	if (logout && c->ssl != NULL)
		command(c, "LOGOUT");
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
lat_add(struct conn *c, double s)
{
	if (c->n_lat == c->cap_lat) {
		size_t cap = c->cap_lat ? c->cap_lat * 2 : 4096;
		c->lat = xrealloc(c->lat, cap * sizeof(*c->lat));
		c->cap_lat = cap;
	}
	c->lat[c->n_lat++] = (float)s;
}

static int
cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
pct_f(const float *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static double
cpu_seconds(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	    ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* ---- load mode -------------------------------------------------------------- */

struct loader {
	struct conn c;
	unsigned k;			/* user number, from 1 */
	unsigned long msgs, errors;
	unsigned long long bytes;
	double seconds;
};

static pthread_barrier_t bar_load;

static void *
load_main(void *arg)
{
	struct loader *L = arg;
	struct conn *c = &L->c;
	char path[4096];

	/* the set-up (TLS, LOGIN) is not timed */
	int up = connect_login(c) == 0;
	pthread_barrier_wait(&bar_load);
	if (!up) {
		L->errors++;
		report(c, "connection set-up failed");
		return NULL;
	}
	double t0 = now();
	snprintf(path, sizeof(path), "%s/u%u/mailboxes", opt_dir, L->k);
	size_t len;
	char *names = read_file(path, &len);
	char *save = NULL;
	for (char *name = strtok_r(names, "\n", &save); name != NULL;
	    name = strtok_r(NULL, "\n", &save)) {
		if (strcasecmp(name, "INBOX") != 0) {
			int r = command(c, "CREATE \"%s\"", name);
			if (r != 1) {
				L->errors++;
				report(c, "CREATE");
				if (r < 0)
					return NULL;
			}
		}
		struct mbx box;
		snprintf(path, sizeof(path), "%s/u%u/%s.mbx", opt_dir, L->k,
		    name);
		read_mbx(path, &box);
		unsigned long sent = 0, answered = 0;
		unsigned window = c->literal_plus ? opt_window : 1;
		while (answered < box.n) {
			while (sent < box.n && sent - answered < window) {
				int r = append_send(c, name, &box.m[sent]);
				if (r < 0) {
					L->errors++;
					report(c, "APPEND (send)");
					return NULL;
				}
				L->bytes += box.m[sent].len;
				sent++;
			}
			char tag[32];
			snprintf(tag, sizeof(tag), "a%lu",
			    c->tagn - (sent - answered) + 1);
			int r = wait_tagged(c, tag);
			answered++;
			if (r == 1) {
				L->msgs++;
				continue;
			}
			L->errors++;
			report(c, "APPEND");
			if (r < 0)
				return NULL;
		}
		free(box.m);
		free(box.buf);
	}
	conn_close(c, 1);
	L->seconds = now() - t0;
	free(names);
	free(c->line);
	return NULL;
}

static int
mode_load(void)
{
	struct loader *L = calloc(n_users, sizeof(*L));
	if (L == NULL)
		die("out of memory");
	if (pthread_barrier_init(&bar_load, NULL, n_users + 1) != 0)
		die("pthread_barrier_init failed");
	for (unsigned i = 0; i < n_users; i++) {
		L[i].k = i + 1;
		L[i].c.id = i;
		L[i].c.user = users[i];
		L[i].c.fd = -1;
		L[i].c.rng = opt_seed + i;
		if (pthread_create(&L[i].c.thread, NULL, load_main, &L[i]) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&bar_load);
	double t0 = now();
	unsigned long msgs = 0, errs = 0;
	unsigned long long bytes = 0;
	for (unsigned i = 0; i < n_users; i++) {
		pthread_join(L[i].c.thread, NULL);
		msgs += L[i].msgs;
		errs += L[i].errors;
		bytes += L[i].bytes;
	}
	double el = now() - t0;
	if (opt_verbose && tls_desc[0])
		fprintf(stderr, "imap-load: %sTLS: %s\n", opt_label, tls_desc);
	printf("imap-load: %smode=load users=%u msgs=%lu bytes=%llu "
	    "seconds=%.2f msgs_per_s=%.1f mib_per_s=%.2f errors=%lu "
	    "window=%u literal_plus=%d\n", opt_label, n_users, msgs, bytes, el,
	    msgs / el, (double)bytes / el / 1048576.0, errs, opt_window,
	    L[0].c.literal_plus);
	fflush(stdout);
	free(L);
	return errs ? 1 : 0;
}

/* ---- run mode ----------------------------------------------------------------- */

enum op {
	OP_SELECT, OP_FETCH_HEADERS, OP_FETCH_ENVELOPE, OP_FETCH_BODY,
	OP_SEARCH_HEADER, OP_SEARCH_BODY, OP_SEARCH_FLAGS, OP_STORE,
	OP_APPEND, OP_MIXED, OP_N
};

static const char *op_names[OP_N] = {
	"select", "fetch_headers", "fetch_envelope", "fetch_body",
	"search_header", "search_body", "search_flags", "store", "append",
	"mixed",
};

static enum op run_mix;
static char **queries[3];		/* header, body, flags */
static unsigned n_queries[3];
static struct mbx append_msgs;
static pthread_barrier_t bar_ready, bar_go;
static double t_measure, t_end;

static void
read_queries(void)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/queries", opt_dir);
	char *p = read_file(path, &len);
	char *lsave = NULL;
	for (char *l = strtok_r(p, "\n", &lsave); l != NULL;
	    l = strtok_r(NULL, "\n", &lsave)) {
		char *sp = strchr(l, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		int k = strcmp(l, "header") == 0 ? 0 :
		    strcmp(l, "body") == 0 ? 1 :
		    strcmp(l, "flags") == 0 ? 2 : -1;
		if (k < 0)
			continue;
		queries[k] = xrealloc(queries[k],
		    (n_queries[k] + 1) * sizeof(char *));
		queries[k][n_queries[k]++] = sp + 1;
	}
	for (int k = 0; k < 3; k++)
		if (n_queries[k] == 0)
			die("%s: no queries of every class", path);
}

/* pick_mixed - the operation of one step of the mixed mix. */
static enum op
pick_mixed(struct conn *c, unsigned *qclass)
{
	unsigned r = (unsigned)(rnd(&c->rng) % 100);
	if (r < 25)
		return OP_FETCH_ENVELOPE;
	if (r < 50)
		return OP_FETCH_BODY;
	if (r < 65)
		return OP_FETCH_HEADERS;
	if (r < 80)
		return OP_STORE;
	if (r < 84) {
		*qclass = 0;
		return OP_SEARCH_HEADER;
	}
	if (r < 88) {
		*qclass = 2;
		return OP_SEARCH_FLAGS;
	}
	if (r < 90) {
		*qclass = 1;
		return OP_SEARCH_BODY;
	}
	if (r < 95)
		return OP_SELECT;
	return OP_APPEND;
}

/* one_op - one operation; 1 done, 0 failed (counted), -1 connection lost.
 * *bytes gets the literal bytes received. */
static int
one_op(struct conn *c, enum op op, unsigned long long *bytes)
{
	unsigned long n = c->exists;
	unsigned long a, b, want = 0;
	int r;
	const char *what = op_names[op];

	switch (op) {
	case OP_SELECT:
		r = command(c, "SELECT INBOX");
		if (r == 1 && c->n_exists == 0) {
			snprintf(c->text, sizeof(c->text), "no EXISTS");
			r = 0;
		}
		break;
	case OP_FETCH_HEADERS:
	case OP_FETCH_ENVELOPE:
		want = n < opt_range ? n : opt_range;
		a = 1 + (unsigned long)(rnd(&c->rng) % (n - want + 1));
		b = a + want - 1;
		r = command(c, op == OP_FETCH_HEADERS ?
		    "FETCH %lu:%lu (UID BODY.PEEK[HEADER.FIELDS (FROM TO "
		    "SUBJECT DATE)])" :
		    "FETCH %lu:%lu (UID FLAGS RFC822.SIZE INTERNALDATE "
		    "ENVELOPE)", a, b);
		if (r == 1 && c->n_fetch < want) {
			snprintf(c->text, sizeof(c->text),
			    "%lu FETCH responses for %lu messages", c->n_fetch,
			    want);
			r = 0;
		}
		break;
	case OP_FETCH_BODY:
		a = 1 + (unsigned long)(rnd(&c->rng) % n);
		r = command(c, "FETCH %lu (UID BODY.PEEK[])", a);
		if (r == 1 && (c->n_fetch < 1 || c->lit_bytes == 0)) {
			snprintf(c->text, sizeof(c->text), "no body");
			r = 0;
		}
		break;
	case OP_SEARCH_HEADER:
	case OP_SEARCH_BODY:
	case OP_SEARCH_FLAGS: {
		int k = op - OP_SEARCH_HEADER;
		const char *q = queries[k][c->seq % n_queries[k]];
		r = command(c, "SEARCH %s", q);
		if (r == 1 && c->n_search_resp != 1) {
			snprintf(c->text, sizeof(c->text),
			    "%lu SEARCH responses", c->n_search_resp);
			r = 0;
		}
		break;
	}
	case OP_STORE:
		/* in pairs on one message: +FLAGS, then -FLAGS. No FETCH
		 * response is required: a server may omit it when the flags
		 * did not change (Dovecot does). */
		if (c->store_msg == 0) {
			c->store_msg = 1 + (unsigned long)(rnd(&c->rng) % n);
			r = command(c, "STORE %lu +FLAGS (\\Flagged)",
			    c->store_msg);
		} else {
			r = command(c, "STORE %lu -FLAGS (\\Flagged)",
			    c->store_msg);
			c->store_msg = 0;
		}
		break;
	case OP_APPEND:
		r = append_one(c, "Bench-Append",
		    &append_msgs.m[(c->seq * 7 + c->id) % append_msgs.n]);
		if (r == 1)
			c->appends_ok++;
		break;
	default:
		r = 0;
	}
	*bytes = c->lit_bytes;
	if (r == 0) {
		char what2[64];
		snprintf(what2, sizeof(what2), "%s failed", what);
		report(c, what2);
	} else if (r < 0) {
		report(c, "connection lost");
	}
	return r;
}

static void *
run_main(void *arg)
{
	struct conn *c = arg;
	double t0 = now();

	c->setup_ok = connect_login(c) == 0 && command(c, "SELECT INBOX") == 1;
	if (c->setup_ok && c->exists == 0) {
		snprintf(c->text, sizeof(c->text), "INBOX is empty");
		c->setup_ok = 0;
	}
	c->setup_s = now() - t0;
	if (!c->setup_ok) {
		c->errors++;
		report(c, "connection set-up failed");
	}
	pthread_barrier_wait(&bar_ready);
	pthread_barrier_wait(&bar_go);
	if (!c->setup_ok)
		goto out;
	for (;;) {
		double start = now();
		if (start >= t_end)
			break;
		enum op op = run_mix;
		unsigned qc = 0;
		if (op == OP_MIXED)
			op = pick_mixed(c, &qc);
		c->seq++;
		unsigned long long bytes = 0;
		int r = one_op(c, op, &bytes);
		double done = now();
		if (r < 0) {
			c->errors++;
			goto out;
		}
		if (r == 0) {
			c->errors++;
			continue;
		}
		c->ok_total++;
		if (done >= t_measure && done < t_end) {
			c->ok_window++;
			c->bytes_window += bytes;
			lat_add(c, done - start);
		}
	}
	if (command(c, "LOGOUT") != 1) {
		c->errors++;
		report(c, "LOGOUT");
	}
out:
	conn_close(c, 0);
	return NULL;
}

static int
mode_run(void)
{
	if (opt_mix == NULL)
		usage();
	run_mix = OP_N;
	for (int i = 0; i < OP_N; i++)
		if (strcmp(opt_mix, op_names[i]) == 0)
			run_mix = (enum op)i;
	if (run_mix == OP_N)
		die("unknown mix %s", opt_mix);
	if (opt_dir == NULL)
		die("-D is needed in run mode");
	read_queries();
	char path[4096];
	snprintf(path, sizeof(path), "%s/append.mbx", opt_dir);
	read_mbx(path, &append_msgs);
	if (append_msgs.n == 0)
		die("%s: no messages", path);

	struct conn *conns = calloc(opt_conns, sizeof(*conns));
	if (conns == NULL)
		die("out of memory");
	if (pthread_barrier_init(&bar_ready, NULL, opt_conns + 1) != 0 ||
	    pthread_barrier_init(&bar_go, NULL, opt_conns + 1) != 0)
		die("pthread_barrier_init failed");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (unsigned i = 0; i < opt_conns; i++) {
		conns[i].id = i;
		conns[i].user = users[i % n_users];
		conns[i].fd = -1;
		conns[i].rng = 0x9e3779b97f4a7c15ULL ^ (opt_seed * 1000003 + i);
		if (conns[i].rng == 0)
			conns[i].rng = 1;
		if (pthread_create(&conns[i].thread, &attr, run_main,
		    &conns[i]) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&bar_ready);
	double cpu0 = cpu_seconds();
	double t_start = now();
	t_measure = t_start + opt_warmup;
	t_end = t_measure + opt_seconds;
	pthread_barrier_wait(&bar_go);
	for (unsigned i = 0; i < opt_conns; i++)
		pthread_join(conns[i].thread, NULL);
	double cpu = cpu_seconds() - cpu0;

	unsigned long ops = 0, total = 0, errs = 0, up = 0, appends = 0;
	unsigned long long bytes = 0;
	size_t n_lat = 0;
	for (unsigned i = 0; i < opt_conns; i++) {
		appends += conns[i].appends_ok;
		ops += conns[i].ok_window;
		total += conns[i].ok_total;
		errs += conns[i].errors;
		bytes += conns[i].bytes_window;
		n_lat += conns[i].n_lat;
		up += (unsigned long)conns[i].setup_ok;
	}
	float *lat = xmalloc((n_lat ? n_lat : 1) * sizeof(*lat));
	double *setup = xmalloc(opt_conns * sizeof(*setup));
	size_t k = 0;
	for (unsigned i = 0; i < opt_conns; i++) {
		if (conns[i].n_lat)
			memcpy(lat + k, conns[i].lat,
			    conns[i].n_lat * sizeof(*lat));
		k += conns[i].n_lat;
		setup[i] = conns[i].setup_s;
	}
	qsort(lat, n_lat, sizeof(*lat), cmp_float);
	qsort(setup, opt_conns, sizeof(*setup), cmp_double);
	if (opt_latfile != NULL) {
		FILE *f = fopen(opt_latfile, "w");
		if (f == NULL)
			die("%s: %s", opt_latfile, strerror(errno));
		for (size_t i = 0; i < n_lat; i++)
			fprintf(f, "%.3f\n", lat[i] * 1e3);
		if (fclose(f) != 0)
			die("%s: write error", opt_latfile);
	}
	if (opt_verbose && tls_desc[0])
		fprintf(stderr, "imap-load: %sTLS: %s\n", opt_label, tls_desc);
	printf("imap-load: %smode=run mix=%s conns=%u up=%lu seconds=%.3f "
	    "ops=%lu errors=%lu ops_per_s=%.1f p50_ms=%.2f p99_ms=%.2f "
	    "kib_in_per_op=%.1f setup_p50_ms=%.1f setup_max_ms=%.1f "
	    "total_ok=%lu appends_ok=%lu client_cpu_ms_per_op=%.3f\n",
	    opt_label, opt_mix, opt_conns, up, opt_seconds, ops, errs,
	    (double)ops / opt_seconds, pct_f(lat, n_lat, 50) * 1e3,
	    pct_f(lat, n_lat, 99) * 1e3,
	    ops ? (double)bytes / 1024.0 / (double)ops : 0.0,
	    setup[opt_conns / 2] * 1e3, setup[opt_conns - 1] * 1e3, total,
	    appends, total ? cpu * 1e3 / (double)total : 0.0);
	fflush(stdout);
	for (unsigned i = 0; i < opt_conns; i++) {
		free(conns[i].lat);
		free(conns[i].line);
	}
	free(conns);
	free(lat);
	free(setup);
	return errs > 0 || ops == 0 ? 1 : 0;
}

/* ---- idle mode: many connections, one epoll loop ------------------------------ */

enum istate {
	I_CONNECT, I_HANDSHAKE, I_GREETING, I_LOGIN, I_SELECT, I_IDLE_WAIT,
	I_IDLING, I_DEAD
};

struct iconn {
	int fd;
	SSL *ssl;
	enum istate st;
	unsigned user;
	double t0, t_up, t_exists;
	char rbuf[4096];
	size_t rlen;
	char *wbuf;			/* pending output (one command) */
	size_t wlen, woff;
	unsigned want_out;
	unsigned exists_seen;
	char last[160];			/* last line, for errors */
};

static struct iconn *ic;
static int epfd;
static unsigned long n_up, n_dead, n_started, n_setting;
static double t_deliver[256];		/* per user: APPEND answered */
static int delivering;			/* EXISTS count while set */
static struct mbx idle_msgs;

static void
ic_interest(struct iconn *x, unsigned i, int out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0),
	    .data.u32 = i };
	if ((unsigned)out != x->want_out) {
		x->want_out = (unsigned)out;
		epoll_ctl(epfd, EPOLL_CTL_MOD, x->fd, &ev);
	}
}

static void
ic_dead(struct iconn *x, const char *why)
{
	if (x->st == I_DEAD)
		return;
	if (x->st != I_IDLING)
		n_setting--;
	else
		n_up--;
	if (n_dead < ERRORS_SHOWN)
		fprintf(stderr, "imap-load: %sidle conn %ld (%s) lost in "
		    "state %d: %s; last line: %s\n", opt_label,
		    (long)(x - ic), users[x->user], (int)x->st, why,
		    x->last[0] ? x->last : "-");
	n_dead++;
	x->st = I_DEAD;
	epoll_ctl(epfd, EPOLL_CTL_DEL, x->fd, NULL);
	if (x->ssl != NULL)
		SSL_free(x->ssl);
	x->ssl = NULL;
	close(x->fd);
	x->fd = -1;
	free(x->wbuf);
	x->wbuf = NULL;
}

/* ic_flush - write pending output; 0 done, 1 would block, -1 error. */
static int
ic_flush(struct iconn *x, unsigned i)
{
	while (x->woff < x->wlen) {
		size_t done = 0;
		ERR_clear_error();
		int r = SSL_write_ex(x->ssl, x->wbuf + x->woff,
		    x->wlen - x->woff, &done);
		if (r == 1) {
			x->woff += done;
			continue;
		}
		int e = SSL_get_error(x->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE) {
			ic_interest(x, i, 1);
			return 1;
		}
		if (e == SSL_ERROR_WANT_READ)
			return 1;
		return -1;
	}
	x->wlen = x->woff = 0;
	ic_interest(x, i, 0);
	return 0;
}

static void
ic_send(struct iconn *x, unsigned i, const char *s)
{
	size_t n = strlen(s);
	x->wbuf = xrealloc(x->wbuf, x->wlen + n);
	memcpy(x->wbuf + x->wlen, s, n);
	x->wlen += n;
	if (ic_flush(x, i) < 0)
		ic_dead(x, "write failed");
}

static void
ic_line(struct iconn *x, unsigned i, char *l)
{
	snprintf(x->last, sizeof(x->last), "%s", l);
	switch (x->st) {
	case I_GREETING:
		if (strncmp(l, "* OK", 4) != 0) {
			ic_dead(x, "bad greeting");
			return;
		}
		{
			char buf[1300], qu[600], qp[600];
			quoted(qu, sizeof(qu), users[x->user]);
			quoted(qp, sizeof(qp), password);
			snprintf(buf, sizeof(buf), "L LOGIN %s %s\r\n", qu, qp);
			x->st = I_LOGIN;
			ic_send(x, i, buf);
		}
		return;
	case I_LOGIN:
		if (l[0] == '*')
			return;
		if (strncmp(l, "L OK", 4) != 0) {
			ic_dead(x, "LOGIN refused");
			return;
		}
		x->st = I_SELECT;
		ic_send(x, i, "S SELECT INBOX\r\n");
		return;
	case I_SELECT:
		if (l[0] == '*')
			return;
		if (strncmp(l, "S OK", 4) != 0) {
			ic_dead(x, "SELECT refused");
			return;
		}
		x->st = I_IDLE_WAIT;
		ic_send(x, i, "I IDLE\r\n");
		return;
	case I_IDLE_WAIT:
		if (l[0] == '*')
			return;
		if (l[0] != '+') {
			ic_dead(x, "IDLE refused");
			return;
		}
		x->st = I_IDLING;
		x->t_up = now();
		n_setting--;
		n_up++;
		return;
	case I_IDLING:
		if (l[0] == '*') {
			char *end;
			strtoul(l + 2, &end, 10);
			if (end != l + 2 && strncmp(end, " EXISTS", 7) == 0 &&
			    delivering && x->exists_seen == 0) {
				x->exists_seen = 1;
				x->t_exists = now();
			}
			return;
		}
		ic_dead(x, "unexpected line while idling");
		return;
	default:
		return;
	}
}

static void
ic_read(struct iconn *x, unsigned i)
{
	for (;;) {
		size_t got = 0;
		ERR_clear_error();
		int r = SSL_read_ex(x->ssl, x->rbuf + x->rlen,
		    sizeof(x->rbuf) - x->rlen - 1, &got);
		if (r != 1) {
			int e = SSL_get_error(x->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				return;
			if (e == SSL_ERROR_WANT_WRITE) {
				ic_interest(x, i, 1);
				return;
			}
			ic_dead(x, e == SSL_ERROR_ZERO_RETURN ||
			    e == SSL_ERROR_SYSCALL ? "closed by the server" :
			    "TLS read error");
			return;
		}
		x->rlen += got;
		x->rbuf[x->rlen] = '\0';
		char *p = x->rbuf, *nl;
		while ((nl = memchr(p, '\n', x->rlen - (size_t)(p - x->rbuf)))
		    != NULL) {
			*nl = '\0';
			if (nl > p && nl[-1] == '\r')
				nl[-1] = '\0';
			ic_line(x, i, p);
			if (x->st == I_DEAD)
				return;
			p = nl + 1;
		}
		size_t left = x->rlen - (size_t)(p - x->rbuf);
		if (left == sizeof(x->rbuf) - 1) {
			/* a line longer than the buffer (capabilities...):
			 * keep its tail only */
			memmove(x->rbuf, x->rbuf + left / 2, left - left / 2);
			left -= left / 2;
		} else {
			memmove(x->rbuf, p, left);
		}
		x->rlen = left;
	}
}

static void
ic_handshake(struct iconn *x, unsigned i)
{
	ERR_clear_error();
	int r = SSL_connect(x->ssl);
	if (r == 1) {
		if (SSL_get_verify_result(x->ssl) != X509_V_OK) {
			ic_dead(x, "certificate not verified");
			return;
		}
		if (tls_desc[0] == '\0')
			snprintf(tls_desc, sizeof(tls_desc), "%s %s",
			    SSL_get_version(x->ssl),
			    SSL_get_cipher_name(x->ssl));
		x->st = I_GREETING;
		ic_interest(x, i, 0);
		ic_read(x, i);
		return;
	}
	int e = SSL_get_error(x->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		ic_interest(x, i, 0);
	else if (e == SSL_ERROR_WANT_WRITE)
		ic_interest(x, i, 1);
	else
		ic_dead(x, "TLS handshake failed");
}

static void
ic_start(unsigned i)
{
	struct iconn *x = &ic[i];
	const struct addrinfo *ai = server_ai;
	int one = 1;
	x->t0 = now();
	x->user = i % n_users;
	x->st = I_CONNECT;
	n_setting++;
	n_started++;
	x->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (x->fd < 0)
		die("socket: %s (raise ulimit -n)", strerror(errno));
	setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = i };
	x->want_out = 1;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, x->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	if (connect(x->fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		ic_dead(x, strerror(errno));
		return;
	}
}

static void
ic_event(unsigned i, uint32_t events)
{
	struct iconn *x = &ic[i];
	if (x->st == I_DEAD)
		return;
	if (x->st == I_CONNECT) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
			ic_dead(x, err ? strerror(err) : "connect failed");
			return;
		}
		x->ssl = SSL_new(ssl_ctx);
		if (x->ssl == NULL || SSL_set_fd(x->ssl, x->fd) != 1 ||
		    SSL_set_tlsext_host_name(x->ssl, opt_servername) != 1 ||
		    SSL_set1_host(x->ssl, opt_servername) != 1)
			die("SSL_new failed");
		x->st = I_HANDSHAKE;
		ic_handshake(x, i);
		return;
	}
	if (x->st == I_HANDSHAKE) {
		ic_handshake(x, i);
		return;
	}
	if ((events & EPOLLOUT) && x->wlen > 0) {
		if (ic_flush(x, i) < 0) {
			ic_dead(x, "write failed");
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		ic_read(x, i);
}

struct deliverer {
	pthread_t thread;
	unsigned user;
	int ok;
};

static void *
deliver_main(void *arg)
{
	struct deliverer *d = arg;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		die("out of memory");
	c->fd = -1;
	c->id = d->user;
	c->user = users[d->user];
	if (connect_login(c) == 0 &&
	    append_one(c, "INBOX", &idle_msgs.m[d->user % idle_msgs.n]) == 1) {
		t_deliver[d->user] = now();	/* read after the join */
		d->ok = 1;
		conn_close(c, 1);
	} else {
		report(c, "delivery APPEND failed");
		conn_close(c, 0);
	}
	free(c->line);
	free(c);
	return NULL;
}

static void
loop_once(int timeout_ms)
{
	struct epoll_event evs[512];
	int n = epoll_wait(epfd, evs, 512, timeout_ms);
	for (int k = 0; k < n; k++) {
		if (evs[k].data.u32 == UINT32_MAX)
			continue;	/* stdin: read by the caller */
		ic_event(evs[k].data.u32, evs[k].events);
	}
}

static int
mode_idle(void)
{
	if (!opt_implicit)
		die("idle mode needs implicit TLS (-i)");
	if (n_users > 256)
		die("at most 256 users in idle mode");
	if (opt_dir == NULL)
		die("-D is needed in idle mode");
	char path[4096];
	snprintf(path, sizeof(path), "%s/append.mbx", opt_dir);
	read_mbx(path, &idle_msgs);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < opt_conns + 64)
		die("ulimit -n is %lu, below %u connections",
		    (unsigned long)rl.rlim_cur, opt_conns + 64);
	ic = calloc(opt_conns, sizeof(*ic));
	if (ic == NULL)
		die("out of memory");
	for (unsigned i = 0; i < 256; i++)
		t_deliver[i] = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event sev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	double t0 = now();
	double cpu0 = cpu_seconds();
	unsigned next = 0;
	double last_progress = now();
	unsigned long last_done = 0;
	while (n_up + n_dead < opt_conns) {
		while (next < opt_conns && n_setting < opt_parallel)
			ic_start(next++);
		loop_once(200);
		if (n_up + n_dead != last_done) {
			last_done = n_up + n_dead;
			last_progress = now();
		} else if (now() - last_progress > IO_TIMEOUT) {
			for (unsigned i = 0; i < opt_conns; i++)
				if (ic[i].st != I_IDLING && ic[i].st != I_DEAD)
					ic_dead(&ic[i], "set-up timed out");
		}
	}
	double t_open = now() - t0;
	double cpu_open = cpu_seconds() - cpu0;
	double *setup = xmalloc(opt_conns * sizeof(*setup));
	size_t ns = 0;
	for (unsigned i = 0; i < opt_conns; i++)
		if (ic[i].st == I_IDLING)
			setup[ns++] = ic[i].t_up - ic[i].t0;
	qsort(setup, ns, sizeof(*setup), cmp_double);
	if (opt_latfile != NULL) {
		FILE *f = fopen(opt_latfile, "w");
		if (f == NULL)
			die("%s: %s", opt_latfile, strerror(errno));
		for (size_t i = 0; i < ns; i++)
			fprintf(f, "%.3f\n", setup[i] * 1e3);
		if (fclose(f) != 0)
			die("%s: write error", opt_latfile);
	}
	if (opt_verbose && tls_desc[0])
		fprintf(stderr, "imap-load: %sTLS: %s\n", opt_label, tls_desc);
	printf("idle: %sconns=%u up=%lu failed=%lu open_seconds=%.2f "
	    "conns_per_s=%.1f setup_p50_ms=%.1f setup_p99_ms=%.1f "
	    "client_cpu_s=%.2f\n", opt_label, opt_conns, n_up, n_dead, t_open,
	    t_open > 0 ? (double)n_up / t_open : 0.0,
	    ns ? setup[ns / 2] * 1e3 : 0.0,
	    ns ? setup[(size_t)((double)(ns - 1) * 0.99)] * 1e3 : 0.0,
	    cpu_open);
	fflush(stdout);
	free(setup);

	epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);
	char cmd[256];
	size_t clen = 0;
	for (;;) {
		struct epoll_event evs[512];
		int n = epoll_wait(epfd, evs, 512, 1000);
		int have_stdin = 0;
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u32 == UINT32_MAX)
				have_stdin = 1;
			else
				ic_event(evs[k].data.u32, evs[k].events);
		}
		if (!have_stdin)
			continue;
		ssize_t r = read(0, cmd + clen, sizeof(cmd) - 1 - clen);
		if (r <= 0)
			break;		/* EOF: like quit */
		clen += (size_t)r;
		cmd[clen] = '\0';
		char *nl;
		while ((nl = strchr(cmd, '\n')) != NULL) {
			*nl = '\0';
			if (strcmp(cmd, "check") == 0) {
				/* drain what is readable first */
				loop_once(0);
				printf("alive=%lu dead=%lu\n", n_up, n_dead);
			} else if (strncmp(cmd, "deliver", 7) == 0) {
				double wait = atof(cmd + 7);
				if (wait <= 0)
					wait = 30;
				struct deliverer d[256];
				unsigned long targets = n_up;
				double td = now();
				delivering = 1;
				/* stdin may hold the next commands: out of
				 * the loop meanwhile (level-triggered) */
				epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
				for (unsigned u = 0; u < n_users; u++) {
					d[u].user = u;
					d[u].ok = 0;
					t_deliver[u] = -1;
					pthread_create(&d[u].thread, NULL,
					    deliver_main, &d[u]);
				}
				/* wait for the EXISTS while delivering */
				unsigned long got = 0;
				for (;;) {
					loop_once(50);
					got = 0;
					for (unsigned i = 0; i < opt_conns; i++)
						got += ic[i].exists_seen;
					if (got >= targets ||
					    now() - td > wait)
						break;
				}
				unsigned ok = 0;
				for (unsigned u = 0; u < n_users; u++) {
					pthread_join(d[u].thread, NULL);
					ok += (unsigned)d[u].ok;
				}
				delivering = 0;
				epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);
				double *lat = xmalloc((got ? got : 1) *
				    sizeof(*lat));
				size_t nl2 = 0;
				for (unsigned i = 0; i < opt_conns; i++) {
					struct iconn *x = &ic[i];
					if (!x->exists_seen)
						continue;
					double l = x->t_exists -
					    t_deliver[x->user];
					lat[nl2++] = l < 0 ? 0 : l;
				}
				qsort(lat, nl2, sizeof(*lat), cmp_double);
				printf("exists: got=%lu of=%lu delivered=%u/%u "
				    "p50_ms=%.1f p99_ms=%.1f max_ms=%.1f "
				    "waited_s=%.1f\n", got, targets, ok,
				    n_users, nl2 ? lat[nl2 / 2] * 1e3 : 0.0,
				    nl2 ? lat[(size_t)((double)(nl2 - 1) *
				    0.99)] * 1e3 : 0.0,
				    nl2 ? lat[nl2 - 1] * 1e3 : 0.0,
				    now() - td);
				free(lat);
				for (unsigned i = 0; i < opt_conns; i++)
					ic[i].exists_seen = 0;
			} else if (strcmp(cmd, "quit") == 0) {
				goto quit;
			} else if (cmd[0] != '\0') {
				printf("error: unknown command %s\n", cmd);
			}
			fflush(stdout);
			clen -= (size_t)(nl + 1 - cmd);
			memmove(cmd, nl + 1, clen + 1);
		}
		if (clen == sizeof(cmd) - 1)
			clen = 0;
	}
quit:
	for (unsigned i = 0; i < opt_conns; i++) {
		struct iconn *x = &ic[i];
		if (x->st == I_DEAD)
			continue;
		if (x->ssl != NULL)
			SSL_free(x->ssl);
		close(x->fd);
		free(x->wbuf);
	}
	printf("closed\n");
	fflush(stdout);
	return 0;
}

/* ---- main ------------------------------------------------------------------ */

static double
parse_seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || v < 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	int ch;
	const char *ulist = NULL;

	while ((ch = getopt(argc, argv, "m:H:p:iC:N:u:D:x:c:d:w:r:W:P:s:L:l:v"))
	    != -1) {
		switch (ch) {
		case 'm': opt_mode = optarg; break;
		case 'H': opt_host = optarg; break;
		case 'p': opt_port = optarg; break;
		case 'i': opt_implicit = 1; break;
		case 'C': opt_cafile = optarg; break;
		case 'N': opt_servername = optarg; break;
		case 'u': ulist = optarg; break;
		case 'D': opt_dir = optarg; break;
		case 'x': opt_mix = optarg; break;
		case 'c': opt_conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt_seconds = parse_seconds(optarg); break;
		case 'w': opt_warmup = parse_seconds(optarg); break;
		case 'r': opt_range = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'W': opt_window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': opt_parallel = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's': opt_seed = strtoul(optarg, NULL, 10); break;
		case 'L': opt_label = optarg; break;
		case 'l': opt_latfile = optarg; break;
		case 'v': opt_verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc || opt_mode == NULL || opt_port == NULL ||
	    opt_cafile == NULL || ulist == NULL || opt_conns < 1 ||
	    opt_conns > 1000000 || opt_range < 1 || opt_window < 1 ||
	    opt_parallel < 1)
		usage();
	char *ul = strdup(ulist);
	char *usave = NULL;
	for (char *u = strtok_r(ul, ",", &usave); u != NULL;
	    u = strtok_r(NULL, ",", &usave)) {
		users = xrealloc(users, (n_users + 1) * sizeof(char *));
		users[n_users++] = u;
	}
	if (n_users == 0)
		usage();
	const char *p = getenv("IMAP_LOAD_PASSWORD");
	if (p == NULL)
		die("IMAP_LOAD_PASSWORD is not set");
	password = strdup(p);
	signal(SIGPIPE, SIG_IGN);

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV };
	int gai = getaddrinfo(opt_host, opt_port, &hints, &server_ai);
	if (gai != 0)
		die("%s:%s: %s", opt_host, opt_port, gai_strerror(gai));

	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ssl_ctx, opt_cafile, NULL) != 1)
		die("cannot set up TLS with CA file %s", opt_cafile);
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	/* a full handshake per connection: no session reuse */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
	if (strcmp(opt_mode, "idle") != 0)
		SSL_CTX_set_mode(ssl_ctx, SSL_MODE_AUTO_RETRY);
	else
		SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS);

	int rc;
	if (strcmp(opt_mode, "load") == 0) {
		if (opt_dir == NULL)
			die("-D is needed in load mode");
		rc = mode_load();
	} else if (strcmp(opt_mode, "run") == 0) {
		rc = mode_run();
	} else if (strcmp(opt_mode, "idle") == 0) {
		rc = mode_idle();
	} else {
		usage();
	}
	OPENSSL_cleanse(password, strlen(password));
	free(password);
	freeaddrinfo(server_ai);
	SSL_CTX_free(ssl_ctx);
	return rc;
}
