/* SPDX-License-Identifier: MIT */
/*
 * smtp-load.c - the SMTP submission load generator of bench/smtp-ingest.
 *
 * One thread per connection. Each connection opens TLS once (STARTTLS,
 * or implicit TLS with -i), verifies the server certificate against a CA
 * file and a host name, optionally logs in with AUTH PLAIN, then repeats
 * MAIL FROM / RCPT TO / DATA on the same connection (no RSET, no
 * pipelining) until the measuring window closes or -n messages are sent.
 * Every reply code is checked: anything but the expected 2xx/3xx is an
 * error, reported on stderr and counted; the exit status is 1 when any
 * error happened.
 *
 * All connections are set up first (not timed in msgs/s); then a warm-up
 * (-w seconds, not counted), then the window (-d seconds): a message
 * counts when its final 250 arrives inside the window. Latency is per
 * message, from writing MAIL FROM to reading the 250 after the data.
 *
 * The result is one line on stdout, key=value pairs:
 *   smtp-load: conns=10 up=10 size=1024 seconds=6.000 msgs=... errors=0
 *   msgs_per_s=... p50_ms=... p99_ms=... setup_p50_ms=... setup_max_ms=...
 *   total_ok=... client_cpu_ms_per_msg=...
 * msgs counts the window, total_ok every 250 (warm-up included), and
 * client_cpu_ms_per_msg is this process's CPU time over total_ok.
 *
 * Build: cc -O2 -Wall -Wextra -o smtp-load smtp-load.c -lssl -lcrypto -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define REPLY_MAX 4096
#define ERRORS_SHOWN 10
#define IO_TIMEOUT 60

/* ---- options ------------------------------------------------------- */

static const char *opt_host = "127.0.0.1";
static const char *opt_port;
static unsigned opt_conns = 1;
static double opt_seconds = 5.0;
static double opt_warmup = 1.0;
static unsigned long opt_count;		/* messages per connection; 0 = timed */
static size_t opt_size = 1024;
static const char *opt_from;
static const char *opt_rcpt;
static const char *opt_user;		/* AUTH PLAIN when set */
static const char *opt_cafile;
static const char *opt_servername = "localhost";
static const char *opt_ehlo = "smtp-load.localhost";
static const char *opt_label = "";
static const char *opt_latfile;		/* window latencies, ms, one a line */
static int opt_implicit;
static int opt_verbose;

/* ---- shared state -------------------------------------------------- */

static SSL_CTX *ssl_ctx;
static char *password;
static struct addrinfo *server_ai;
static pthread_barrier_t bar_ready, bar_go;
static double t_measure, t_end;		/* window, CLOCK_MONOTONIC seconds */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long errors_shown;
static char tls_desc[128];

struct conn {
	unsigned id;
	pthread_t thread;
	int fd;
	SSL *ssl;
	char rbuf[16384];
	size_t rlen, roff;
	char reply[REPLY_MAX];		/* last reply, lines joined by " / " */
	char *msg;			/* message bytes + ".\r\n" */
	size_t msg_len;
	size_t msgid_off;		/* where the per-message counter goes */
	/* results */
	int setup_ok;
	double setup_s;
	unsigned long ok_total;		/* every 250 after DATA */
	unsigned long ok_window;	/* those inside the window */
	unsigned long errors;
	float *lat;			/* seconds, messages of the window */
	size_t n_lat, cap_lat;
};

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
	    "usage: smtp-load -p PORT -f FROM -t RCPT -C CAFILE [options]\n"
	    "  -H HOST     server address (127.0.0.1)\n"
	    "  -p PORT     server port\n"
	    "  -i          implicit TLS (default: STARTTLS)\n"
	    "  -C FILE     CA certificates to verify the server with\n"
	    "  -N NAME     name the certificate must carry (localhost)\n"
	    "  -c N        concurrent connections (1)\n"
	    "  -d SECONDS  measuring window (5)\n"
	    "  -w SECONDS  warm-up before the window, not counted (1)\n"
	    "  -n COUNT    send COUNT messages per connection instead of a\n"
	    "              timed window (no warm-up)\n"
	    "  -s BYTES    message size on the wire, headers included (1024);\n"
	    "              suffix k for KiB\n"
	    "  -f ADDR     envelope sender and From: address\n"
	    "  -t ADDR     recipient\n"
	    "  -u USER     AUTH PLAIN as USER once per connection; password\n"
	    "              from the environment variable SMTP_LOAD_PASSWORD\n"
	    "  -e NAME     EHLO name (smtp-load.localhost)\n"
	    "  -L LABEL    label printed on the result line\n"
	    "  -l FILE     write the latency of every message of the window\n"
	    "              to FILE (milliseconds, one a line, sorted)\n"
	    "  -v          print the TLS parameters of the first connection\n");
	exit(2);
}

static void
fail_setup(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "smtp-load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* report - one error line on stderr (the first few only). */
static void
report(struct conn *c, const char *what)
{
	pthread_mutex_lock(&err_lock);
	if (errors_shown < ERRORS_SHOWN) {
		fprintf(stderr, "smtp-load: %sconn %u: %s: %s\n", opt_label,
		    c->id, what, c->reply[0] ? c->reply : "(no reply)");
		unsigned long e = ERR_get_error();
		if (e != 0) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			fprintf(stderr, "smtp-load:   openssl: %s\n", buf);
		}
	} else if (errors_shown == ERRORS_SHOWN) {
		fprintf(stderr, "smtp-load: %s(further errors not shown)\n",
		    opt_label);
	}
	errors_shown++;
	pthread_mutex_unlock(&err_lock);
	ERR_clear_error();
}

/* ---- I/O --------------------------------------------------------------- */

static int
io_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (c->ssl != NULL) {
			size_t done = 0;
			if (SSL_write_ex(c->ssl, p, n, &done) != 1)
				return -1;
			w = (ssize_t)done;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
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
			    sizeof(c->rbuf) - c->rlen, &got) != 1)
				return -1;
			c->rlen += got;
			return 0;
		}
		ssize_t r = recv(c->fd, c->rbuf + c->rlen,
		    sizeof(c->rbuf) - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->rlen += (size_t)r;
		return 0;
	}
}

/* read_line - one line without its CRLF into line; length or -1. */
static long
read_line(struct conn *c, char *line, size_t max)
{
	for (;;) {
		char *start = c->rbuf + c->roff;
		char *nl = memchr(start, '\n', c->rlen - c->roff);
		if (nl != NULL) {
			size_t n = (size_t)(nl - start);
			c->roff += n + 1;
			if (n > 0 && start[n - 1] == '\r')
				n--;
			if (n >= max)
				n = max - 1;
			memcpy(line, start, n);
			line[n] = '\0';
			return (long)n;
		}
		if (io_fill(c) < 0)
			return -1;
	}
}

/* read_reply - a whole (multi-line) reply; its code, or -1 on I/O error.
 * The text is kept in c->reply for error messages. */
static int
read_reply(struct conn *c)
{
	char line[1024];
	size_t used = 0;
	int code = -1;

	c->reply[0] = '\0';
	for (;;) {
		long n = read_line(c, line, sizeof(line));
		if (n < 0)
			return -1;
		if (n < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' ||
		    (n > 3 && line[3] != ' ' && line[3] != '-')) {
			snprintf(c->reply, sizeof(c->reply),
			    "malformed reply line: %.200s", line);
			return -1;
		}
		int this = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (code != -1 && this != code) {
			snprintf(c->reply, sizeof(c->reply),
			    "reply code changes inside a reply: %.200s", line);
			return -1;
		}
		code = this;
		int w = snprintf(c->reply + used, sizeof(c->reply) - used,
		    "%s%s", used ? " / " : "", line);
		if (w > 0 && (size_t)w < sizeof(c->reply) - used)
			used += (size_t)w;
		if (n == 3 || line[3] == ' ')
			return code;
	}
}

/* command - send line (CRLF added) and expect reply code want. */
static int
command(struct conn *c, const char *line, int want)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	if (io_write(c, buf, (size_t)n) < 0) {
		snprintf(c->reply, sizeof(c->reply), "write failed: %s",
		    strerror(errno));
		return -1;
	}
	int code = read_reply(c);
	return code == want ? 0 : (code < 0 ? -1 : code);
}

/* ---- the message ----------------------------------------------------- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* build_message - the same bytes for every connection and every server
 * (only the Message-ID counter differs): a plain header, then base64-like
 * lines of 76 characters from a fixed-seed generator (incompressible,
 * never starting with a dot), sized to exactly opt_size bytes, followed
 * by the terminating ".\r\n". */
static void
build_message(struct conn *c)
{
	char hdr[2048];
	int h = snprintf(hdr, sizeof(hdr),
	    "From: %s\r\n"
	    "To: %s\r\n"
	    "Subject: smtp-ingest benchmark message\r\n"
	    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
	    "Message-ID: <%05u.0000000000@smtp-load.localhost>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n", opt_from, opt_rcpt, c->id);
	if (h < 0 || (size_t)h >= sizeof(hdr) || (size_t)h + 2 > opt_size)
		fail_setup("message size %zu too small for the header (%d)",
		    opt_size, h);
	c->msg = malloc(opt_size + 3);
	if (c->msg == NULL)
		fail_setup("out of memory");
	memcpy(c->msg, hdr, (size_t)h);
	c->msgid_off = (size_t)(strstr(hdr, ".0000000000@") - hdr) + 1;

	uint64_t x = 0x9e3779b97f4a7c15ULL;	/* same seed everywhere */
	size_t off = (size_t)h, left = opt_size - (size_t)h;
	while (left > 0) {
		size_t len = left >= 81 ? 76 : left - 2;
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			c->msg[off++] = b64chars[x & 63];
		}
		c->msg[off++] = '\r';
		c->msg[off++] = '\n';
		left -= len + 2;
	}
	memcpy(c->msg + off, ".\r\n", 3);
	c->msg_len = off + 3;
}

/* stamp - write the per-message counter into the Message-ID. */
static void
stamp(struct conn *c, unsigned long seq)
{
	char d[11];
	snprintf(d, sizeof(d), "%010lu", seq % 10000000000UL);
	memcpy(c->msg + c->msgid_off, d, 10);
}

/* ---- a connection ---------------------------------------------------- */

static int
ehlo(struct conn *c)
{
	char line[512];
	snprintf(line, sizeof(line), "EHLO %s", opt_ehlo);
	return command(c, line, 250);
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
		snprintf(c->reply, sizeof(c->reply), "TLS handshake failed%s%s",
		    v != X509_V_OK ? ": " : "",
		    v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
		return -1;
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		snprintf(c->reply, sizeof(c->reply),
		    "certificate not verified");
		return -1;
	}
	if (c->id == 0)
		snprintf(tls_desc, sizeof(tls_desc), "%s %s",
		    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	return 0;
}

/* setup - connect, TLS, EHLO, AUTH. 0 or -1 (reported). */
static int
setup(struct conn *c)
{
	const struct addrinfo *ai = server_ai;
	struct timeval tv = { IO_TIMEOUT, 0 };
	int one = 1;

	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->reply, sizeof(c->reply), "socket: %s",
		    strerror(errno));
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(c->reply, sizeof(c->reply), "connect: %s",
		    strerror(errno));
		return -1;
	}
	if (opt_implicit && tls_start(c) < 0)
		return -1;
	if (read_reply(c) != 220)
		return -1;
	if (ehlo(c) != 0)
		return -1;
	if (!opt_implicit) {
		if (strstr(c->reply, "STARTTLS") == NULL) {
			snprintf(c->reply + strlen(c->reply),
			    sizeof(c->reply) - strlen(c->reply),
			    " [no STARTTLS offered]");
			return -1;
		}
		if (command(c, "STARTTLS", 220) != 0)
			return -1;
		if (c->roff != c->rlen) {
			snprintf(c->reply, sizeof(c->reply),
			    "data after the STARTTLS reply");
			return -1;
		}
		if (tls_start(c) < 0)
			return -1;
		if (ehlo(c) != 0)
			return -1;
	}
	if (opt_user != NULL) {
		/* "\0user\0password", base64, after "AUTH PLAIN ". */
		size_t ul = strlen(opt_user), pl = strlen(password);
		size_t rawlen = ul + pl + 2;
		unsigned char *raw = malloc(rawlen);
		char *line = malloc(16 + 4 * (rawlen / 3 + 1) + 1);
		if (raw == NULL || line == NULL)
			fail_setup("out of memory");
		raw[0] = '\0';
		memcpy(raw + 1, opt_user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, password, pl);
		memcpy(line, "AUTH PLAIN ", 11);
		EVP_EncodeBlock((unsigned char *)line + 11, raw, (int)rawlen);
		OPENSSL_cleanse(raw, rawlen);
		size_t n = strlen(line);
		int r = -1;
		char *wire = malloc(n + 3);
		if (wire != NULL) {
			memcpy(wire, line, n);
			memcpy(wire + n, "\r\n", 3);
			if (io_write(c, wire, n + 2) == 0)
				r = read_reply(c) == 235 ? 0 : -1;
			OPENSSL_cleanse(wire, n + 2);
			free(wire);
		}
		OPENSSL_cleanse(line, n);
		free(line);
		free(raw);
		if (r != 0)
			return -1;
	}
	return 0;
}

static void
lat_add(struct conn *c, double s)
{
	if (c->n_lat == c->cap_lat) {
		size_t cap = c->cap_lat ? c->cap_lat * 2 : 4096;
		float *p = realloc(c->lat, cap * sizeof(*p));
		if (p == NULL)
			return;		/* latency sample lost, count kept */
		c->lat = p;
		c->cap_lat = cap;
	}
	c->lat[c->n_lat++] = (float)s;
}

/* transaction - one message. 1 sent, 0 refused (counted, connection
 * still usable), -1 connection unusable. */
static int
transaction(struct conn *c, unsigned long seq, double *done_at)
{
	char line[1024];
	int r;

	snprintf(line, sizeof(line), "MAIL FROM:<%s>", opt_from);
	if ((r = command(c, line, 250)) != 0)
		goto refused;
	snprintf(line, sizeof(line), "RCPT TO:<%s>", opt_rcpt);
	if ((r = command(c, line, 250)) != 0)
		goto refused;
	if ((r = command(c, "DATA", 354)) != 0)
		goto refused;
	stamp(c, seq);
	if (io_write(c, c->msg, c->msg_len) < 0) {
		snprintf(c->reply, sizeof(c->reply), "write failed");
		return -1;
	}
	r = read_reply(c);
	*done_at = now();
	if (r == 250)
		return 1;
	if (r > 0)
		r = 1;	/* a reply code other than 250 */
refused:
	c->errors++;
	report(c, r < 0 ? "connection lost" : "message refused");
	if (r < 0)
		return -1;
	/* back to a clean state for the next try */
	if (command(c, "RSET", 250) != 0)
		return -1;
	return 0;
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	double t0 = now();

	build_message(c);
	c->setup_ok = setup(c) == 0;
	c->setup_s = now() - t0;
	if (!c->setup_ok) {
		c->errors++;
		report(c, "connection setup failed");
	}
	pthread_barrier_wait(&bar_ready);
	pthread_barrier_wait(&bar_go);
	if (!c->setup_ok)
		goto out;

	for (unsigned long seq = 1;; seq++) {
		if (opt_count > 0 ? seq > opt_count : now() >= t_end)
			break;
		double start = now(), done = 0;
		int r = transaction(c, seq, &done);
		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		c->ok_total++;
		if (opt_count > 0 || (done >= t_measure && done < t_end)) {
			c->ok_window++;
			lat_add(c, done - start);
		}
	}
	if (command(c, "QUIT", 221) != 0) {
		c->errors++;
		report(c, "QUIT");
	}
out:
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	return NULL;
}

/* ---- main -------------------------------------------------------------- */

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

/* pct - nearest-rank percentile of a sorted array. */
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

	while ((ch = getopt(argc, argv, "H:p:ic:d:w:n:s:f:t:u:C:N:e:L:l:v"))
	    != -1) {
		switch (ch) {
		case 'H': opt_host = optarg; break;
		case 'p': opt_port = optarg; break;
		case 'i': opt_implicit = 1; break;
		case 'c': opt_conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt_seconds = parse_seconds(optarg); break;
		case 'w': opt_warmup = parse_seconds(optarg); break;
		case 'n': opt_count = strtoul(optarg, NULL, 10); break;
		case 's': {
			char *end;
			opt_size = strtoul(optarg, &end, 10);
			if (*end == 'k' || *end == 'K')
				opt_size *= 1024, end++;
			if (*end != '\0')
				usage();
			break;
		}
		case 'f': opt_from = optarg; break;
		case 't': opt_rcpt = optarg; break;
		case 'u': opt_user = optarg; break;
		case 'C': opt_cafile = optarg; break;
		case 'N': opt_servername = optarg; break;
		case 'e': opt_ehlo = optarg; break;
		case 'L': opt_label = optarg; break;
		case 'l': opt_latfile = optarg; break;
		case 'v': opt_verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc || opt_port == NULL || opt_from == NULL ||
	    opt_rcpt == NULL || opt_cafile == NULL || opt_conns < 1 ||
	    opt_conns > 10000 || opt_size < 256 ||
	    (opt_count == 0 && opt_seconds <= 0))
		usage();
	if (opt_user != NULL) {
		const char *p = getenv("SMTP_LOAD_PASSWORD");
		if (p == NULL)
			fail_setup("-u needs SMTP_LOAD_PASSWORD in the "
			    "environment");
		password = strdup(p);
		if (password == NULL)
			fail_setup("out of memory");
	}
	signal(SIGPIPE, SIG_IGN);

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV };
	int gai = getaddrinfo(opt_host, opt_port, &hints, &server_ai);
	if (gai != 0)
		fail_setup("%s:%s: %s", opt_host, opt_port, gai_strerror(gai));

	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ssl_ctx, opt_cafile, NULL) != 1)
		fail_setup("cannot set up TLS with CA file %s", opt_cafile);
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	/* a full handshake per connection: no session reuse */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_AUTO_RETRY);

	struct conn *conns = calloc(opt_conns, sizeof(*conns));
	if (conns == NULL)
		fail_setup("out of memory");
	if (pthread_barrier_init(&bar_ready, NULL, opt_conns + 1) != 0 ||
	    pthread_barrier_init(&bar_go, NULL, opt_conns + 1) != 0)
		fail_setup("pthread_barrier_init failed");

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned i = 0; i < opt_conns; i++) {
		conns[i].id = i;
		conns[i].fd = -1;
		if (pthread_create(&conns[i].thread, &attr, conn_main,
		    &conns[i]) != 0)
			fail_setup("pthread_create failed");
	}
	pthread_barrier_wait(&bar_ready);
	double t_start = now();
	t_measure = t_start + (opt_count > 0 ? 0 : opt_warmup);
	t_end = t_measure + opt_seconds;
	pthread_barrier_wait(&bar_go);
	for (unsigned i = 0; i < opt_conns; i++)
		pthread_join(conns[i].thread, NULL);
	double t_done = now();

	unsigned long msgs = 0, total = 0, errs = 0, up = 0;
	size_t n_lat = 0;
	for (unsigned i = 0; i < opt_conns; i++) {
		msgs += conns[i].ok_window;
		total += conns[i].ok_total;
		errs += conns[i].errors;
		n_lat += conns[i].n_lat;
		up += conns[i].setup_ok;
	}
	float *lat = malloc((n_lat ? n_lat : 1) * sizeof(*lat));
	double *setup = malloc(opt_conns * sizeof(*setup));
	if (lat == NULL || setup == NULL)
		fail_setup("out of memory");
	size_t k = 0;
	for (unsigned i = 0; i < opt_conns; i++) {
		memcpy(lat + k, conns[i].lat, conns[i].n_lat * sizeof(*lat));
		k += conns[i].n_lat;
		setup[i] = conns[i].setup_s;
	}
	qsort(lat, n_lat, sizeof(*lat), cmp_float);
	qsort(setup, opt_conns, sizeof(*setup), cmp_double);

	if (opt_latfile != NULL) {
		FILE *f = fopen(opt_latfile, "w");
		if (f == NULL)
			fail_setup("%s: %s", opt_latfile, strerror(errno));
		for (size_t i = 0; i < n_lat; i++)
			fprintf(f, "%.3f\n", lat[i] * 1e3);
		if (fclose(f) != 0)
			fail_setup("%s: write error", opt_latfile);
	}

	double elapsed = opt_count > 0 ? t_done - t_start : opt_seconds;
	struct rusage ru;
	double cpu = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		    ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) /
		    1e6;
	if (opt_verbose && tls_desc[0] != '\0')
		fprintf(stderr, "smtp-load: %sTLS: %s\n", opt_label, tls_desc);
	printf("smtp-load: %sconns=%u up=%lu size=%zu seconds=%.3f msgs=%lu "
	    "errors=%lu msgs_per_s=%.1f p50_ms=%.2f p99_ms=%.2f "
	    "setup_p50_ms=%.1f setup_max_ms=%.1f total_ok=%lu "
	    "client_cpu_ms_per_msg=%.3f\n",
	    opt_label, opt_conns, up, opt_size, elapsed, msgs, errs,
	    elapsed > 0 ? (double)msgs / elapsed : 0.0,
	    pct_f(lat, n_lat, 50) * 1e3, pct_f(lat, n_lat, 99) * 1e3,
	    setup[opt_conns / 2] * 1e3, setup[opt_conns - 1] * 1e3, total,
	    total > 0 ? cpu * 1e3 / (double)total : 0.0);
	fflush(stdout);

	for (unsigned i = 0; i < opt_conns; i++) {
		free(conns[i].msg);
		free(conns[i].lat);
	}
	free(conns);
	free(lat);
	free(setup);
	if (password != NULL) {
		OPENSSL_cleanse(password, strlen(password));
		free(password);
	}
	freeaddrinfo(server_ai);
	SSL_CTX_free(ssl_ctx);
	return errs > 0 || msgs == 0 ? 1 : 0;
}
