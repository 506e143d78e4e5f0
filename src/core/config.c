/* SPDX-License-Identifier: MIT */
/*
 * config.c - the settings table, the key = value parser and the checks
 * across keys. Defaults here are the embedded development configuration:
 * loopback ports, data in queue/, certificates in certs/.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"
#include "str.h"

enum cfg_type {
	CT_STR,		/* free text */
	CT_UINT,	/* decimal */
	CT_SIZE,	/* bytes with k/M/G suffix */
	CT_SECONDS,	/* seconds with s/m/h/d suffix */
	CT_BOOL,
	CT_LIST,	/* comma-separated words */
	CT_LEVEL,	/* log level name */
	CT_TLSVER,	/* TLSv1.2 or TLSv1.3 */
	CT_LISTEN,	/* list of host:port */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *def;
	uint64_t min, max;
};

#define K(name, type, def, min, max) \
	{ #name, type, offsetof(struct config, name), def, min, max }

static const struct cfg_key cfg_keys[] = {
	K(hostname, CT_STR, "localhost", 1, 253),
	K(local_domains, CT_LIST, "mssante.localhost", 1, CONFIG_LIST_MAX),
	K(data_dir, CT_STR, "queue", 1, 4096),
	K(certs_dir, CT_STR, "certs", 1, 4096),
	K(run_as_user, CT_STR, "", 0, 64),
	K(pid_file, CT_STR, "", 0, 4096),
	K(log_level, CT_LEVEL, "info", 0, 0),
	K(network_threads, CT_UINT, "0", 0, 64),
	K(shutdown_grace, CT_SECONDS, "30s", 0, 3600),
	K(dev_demo_accounts, CT_BOOL, "yes", 0, 0),

	K(tls_cert_file, CT_STR, "certs/server.crt", 1, 4096),
	K(tls_key_file, CT_STR, "certs/server.key", 1, 4096),
	K(tls_chain_file, CT_STR, "", 0, 4096),
	K(tls_dev_ca, CT_BOOL, "yes", 0, 0),
	K(tls_min_version, CT_TLSVER, "TLSv1.2", 0, 0),
	K(tls12_ciphers, CT_STR,
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256", 0, 1024),
	K(tls13_ciphersuites, CT_STR,
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
	    "TLS_AES_128_GCM_SHA256", 0, 1024),
	K(tls_handshake_timeout, CT_SECONDS, "60s", 1, 3600),

	K(store_map_size, CT_SIZE, "16G", 1048576, 1ULL << 44),
	K(store_max_dbs, CT_UINT, "32", 8, 1024),
	K(store_max_readers, CT_UINT, "1024", 16, 65536),
	K(store_batch_max, CT_UINT, "512", 1, 100000),
	K(store_key_file, CT_STR, "certs/store.key", 1, 4096),

	K(auth_workers, CT_UINT, "2", 1, 64),
	K(auth_max_pending, CT_UINT, "256", 1, 100000),
	K(auth_cache_ttl, CT_SECONDS, "10m", 0, 86400),
	K(auth_fail_delay, CT_SECONDS, "1s", 0, 60),

	K(smtp_submission_listen, CT_LISTEN, "127.0.0.1:2587", 0,
	    CONFIG_LIST_MAX),
	K(smtp_submission_tls_listen, CT_LISTEN, "127.0.0.1:2465", 0,
	    CONFIG_LIST_MAX),
	K(smtp_max_line_length, CT_UINT, "1000", 512, 65536),
	K(smtp_max_auth_line_length, CT_UINT, "12288", 512, 65536),
	K(smtp_max_message_size, CT_SIZE, "25M", 1024, 1ULL << 31),
	K(smtp_max_recipients, CT_UINT, "1000", 1, 100000),
	K(smtp_soft_error_limit, CT_UINT, "10", 1, 1000),
	K(smtp_hard_error_limit, CT_UINT, "20", 1, 1000),
	K(smtp_timeout_command, CT_SECONDS, "5m", 1, 86400),
	K(smtp_timeout_data, CT_SECONDS, "10m", 1, 86400),
	K(smtp_max_sessions, CT_UINT, "2000", 1, 1000000),
	K(smtp_recipient_directory, CT_BOOL, "no", 0, 0),
	K(smime_encrypt, CT_STR, "off", 1, 16),

	K(imap_listen, CT_LISTEN, "127.0.0.1:2143", 0, CONFIG_LIST_MAX),
	K(imap_tls_listen, CT_LISTEN, "127.0.0.1:2993", 0, CONFIG_LIST_MAX),
	K(imap_max_line_length, CT_SIZE, "64k", 1024, 16777216),
	K(imap_max_message_size, CT_SIZE, "25M", 1024, 1ULL << 31),
	K(imap_max_nesting, CT_UINT, "32", 2, 1000),
	K(imap_max_search_keys, CT_UINT, "1000", 10, 100000),
	K(imap_output_buffer_max, CT_SIZE, "1M", 65536, 1ULL << 30),
	K(imap_timeout_auth, CT_SECONDS, "1m", 1, 86400),
	K(imap_timeout_idle, CT_SECONDS, "30m", 60, 86400),
	K(imap_max_sessions, CT_UINT, "20000", 1, 1000000),

	K(relay_listen, CT_LISTEN, "127.0.0.1:2525", 0, CONFIG_LIST_MAX),
	K(tls_ca_file, CT_STR, "certs/ca.crt", 1, 4096),
	K(tls_client_cert_file, CT_STR, "certs/server.crt", 1, 4096),
	K(tls_client_key_file, CT_STR, "certs/server.key", 1, 4096),
	K(relay_routes, CT_LIST, "", 0, CONFIG_LIST_MAX),
	K(queue_retry_schedule, CT_LIST, "1m, 5m, 15m, 30m, 1h, 2h, 4h", 1,
	    CONFIG_LIST_MAX),
	K(queue_max_lifetime, CT_SECONDS, "5d", 1, 100ULL * 86400),
	K(queue_delay_warning, CT_SECONDS, "4h", 1, 100ULL * 86400),
	K(relay_max_per_destination, CT_UINT, "10", 1, 1000),
	K(relay_max_messages_per_connection, CT_UINT, "100", 1, 100000),
	K(relay_connect_timeout, CT_SECONDS, "30s", 1, 3600),
	K(relay_timeout, CT_SECONDS, "5m", 1, 86400),

	K(http_listen, CT_LISTEN, "127.0.0.1:8443", 0, CONFIG_LIST_MAX),
};

#define N_KEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
#define CONFIG_LINE_MAX 8191

size_t
config_key_count(void)
{
	return N_KEYS;
}

const char *
config_key_name(size_t i)
{
	return i < N_KEYS ? cfg_keys[i].name : NULL;
}

const char *
config_key_default(size_t i)
{
	return i < N_KEYS ? cfg_keys[i].def : NULL;
}

static void
list_free(struct config_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

/* list_parse - split on commas and blanks; empty words are skipped. */
static int
list_parse(const char *val, struct config_list *l, const char **why)
{
	struct config_list tmp = { 0 };
	const char *p = val;

	while (*p != '\0') {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		const char *start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (p == start)
			continue;
		if (tmp.n == CONFIG_LIST_MAX) {
			list_free(&tmp);
			*why = "too many values";
			return ERR_LIMIT;
		}
		tmp.v[tmp.n] = strndup(start, (size_t)(p - start));
		if (tmp.v[tmp.n] == NULL) {
			list_free(&tmp);
			return ERR_NOMEM;
		}
		tmp.n++;
	}
	list_free(l);
	*l = tmp;
	return 0;
}

/* listen_check - "host:port" or "[v6]:port" with a port in 1..65535. */
static int
listen_check(const char *v, const char **why)
{
	const char *colon = strrchr(v, ':');
	uint64_t port;

	if (colon == NULL || colon == v) {
		*why = "expected host:port";
		return ERR_INVAL;
	}
	if (v[0] == '[' && colon[-1] != ']') {
		*why = "expected [address]:port for IPv6";
		return ERR_INVAL;
	}
	if (str_to_u64(colon + 1, 1, 65535, &port) < 0) {
		*why = "port must be a number from 1 to 65535";
		return ERR_INVAL;
	}
	return 0;
}

/* set_str - replace the string a field points to with a copy of val. */
static int
set_str(void *field, const char *val)
{
	char *s = strdup(val);
	if (s == NULL)
		return ERR_NOMEM;
	free(*(char **)field);
	*(char **)field = s;
	return 0;
}

/* key_set - parse val for key k into cfg; *why explains a failure. */
static int
key_set(struct config *cfg, const struct cfg_key *k, const char *val,
	const char **why)
{
	void *field = (char *)cfg + k->off;
	uint64_t v = 0;
	int r = 0;

	switch (k->type) {
	case CT_STR: {
		size_t n = strlen(val);
		if (n < k->min || n > k->max) {
			*why = n < k->min ? "must not be empty" : "too long";
			return ERR_INVAL;
		}
		return set_str(field, val);
	}
	case CT_LEVEL:
		if (log_level_parse(val) < 0) {
			*why = "expected debug, info, notice, warning or error";
			return ERR_INVAL;
		}
		return set_str(field, val);
	case CT_TLSVER:
		if (strcmp(val, "TLSv1.2") != 0 && strcmp(val, "TLSv1.3") != 0) {
			*why = "expected TLSv1.2 or TLSv1.3";
			return ERR_INVAL;
		}
		return set_str(field, val);
	case CT_UINT:
		r = str_to_u64(val, 0, UINT64_MAX, &v);
		*why = "expected a whole number";
		break;
	case CT_SIZE:
		r = str_to_size(val, &v);
		*why = "expected a size such as 1048576, 64k, 25M or 8G";
		break;
	case CT_SECONDS:
		r = str_to_seconds(val, &v);
		*why = "expected a duration such as 30s, 5m, 4h or 5d";
		break;
	case CT_BOOL: {
		bool b;
		if (str_to_bool(val, &b) < 0) {
			*why = "expected yes or no";
			return ERR_INVAL;
		}
		*(bool *)field = b;
		return 0;
	}
	case CT_LIST:
	case CT_LISTEN: {
		struct config_list *l = field;
		r = list_parse(val, l, why);
		if (r < 0)
			return r;
		if (l->n < k->min) {
			*why = "needs at least one value";
			return ERR_INVAL;
		}
		for (size_t i = 0; k->type == CT_LISTEN && i < l->n; i++)
			if ((r = listen_check(l->v[i], why)) < 0)
				return r;
		return 0;
	}
	}
	if (r < 0)
		return r;
	if (v < k->min || v > k->max) {
		static __thread char range[96];
		snprintf(range, sizeof(range),
		    "out of range (%llu to %llu)",
		    (unsigned long long)k->min, (unsigned long long)k->max);
		*why = range;
		return ERR_LIMIT;
	}
	*(uint64_t *)field = v;
	return 0;
}

static void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		void *field = (char *)cfg + cfg_keys[i].off;
		switch (cfg_keys[i].type) {
		case CT_STR:
		case CT_LEVEL:
		case CT_TLSVER:
			free(*(char **)field);
			break;
		case CT_LIST:
		case CT_LISTEN:
			list_free(field);
			break;
		default:
			break;
		}
	}
	free(cfg->source);
	free(cfg);
}

static void set_err(char *err, const char *file, unsigned line,
		    const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
set_err(char *err, const char *file, unsigned line, const char *key,
	const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line > 0 && key != NULL)
		snprintf(err, CONFIG_ERR_MAX, "%s:%u: key '%s': %s", file,
		    line, key, why);
	else if (line > 0)
		snprintf(err, CONFIG_ERR_MAX, "%s:%u: %s", file, line, why);
	else if (key != NULL)
		snprintf(err, CONFIG_ERR_MAX, "%s: key '%s': %s", file, key,
		    why);
	else
		snprintf(err, CONFIG_ERR_MAX, "%s: %s", file, why);
}

static const struct cfg_key *
key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

/* config_verify - rules across keys, checked after the whole file. */
static int
config_verify(struct config *cfg, unsigned *lines, char *err)
{
	const char *file = cfg->source;
#define LINE_OF(key) (lines[key_find(#key) - cfg_keys])
	if (cfg->smtp_soft_error_limit > cfg->smtp_hard_error_limit) {
		/* Blame the line the file has: either key may be the one
		 * that was changed. */
		unsigned ls = LINE_OF(smtp_soft_error_limit);
		unsigned lh = LINE_OF(smtp_hard_error_limit);
		bool soft = ls > 0 || lh == 0;
		set_err(err, file, soft ? ls : lh, soft ?
		    "smtp_soft_error_limit" : "smtp_hard_error_limit",
		    "smtp_soft_error_limit (%llu) must not exceed "
		    "smtp_hard_error_limit (%llu)",
		    (unsigned long long)cfg->smtp_soft_error_limit,
		    (unsigned long long)cfg->smtp_hard_error_limit);
		return ERR_INVAL;
	}
	if (cfg->tls12_ciphers[0] == '\0' &&
	    strcmp(cfg->tls_min_version, "TLSv1.2") == 0) {
		set_err(err, file, LINE_OF(tls12_ciphers), "tls12_ciphers",
		    "empty while tls_min_version is TLSv1.2");
		return ERR_INVAL;
	}
	if (cfg->tls13_ciphersuites[0] == '\0' &&
	    strcmp(cfg->tls_min_version, "TLSv1.3") == 0) {
		set_err(err, file, LINE_OF(tls13_ciphersuites),
		    "tls13_ciphersuites",
		    "empty while tls_min_version is TLSv1.3");
		return ERR_INVAL;
	}
	for (size_t i = 0; i < cfg->relay_routes.n; i++) {
		const char *r = cfg->relay_routes.v[i];
		const char *eq = strchr(r, '=');
		const char *why;
		if (eq == NULL || eq == r || listen_check(eq + 1, &why) < 0) {
			set_err(err, file, LINE_OF(relay_routes), "relay_routes",
			    "'%s': expected domain=host:port", r);
			return ERR_INVAL;
		}
	}
	for (size_t i = 0; i < cfg->queue_retry_schedule.n; i++) {
		uint64_t sec;
		if (str_to_seconds(cfg->queue_retry_schedule.v[i], &sec) < 0 ||
		    sec == 0) {
			set_err(err, file, LINE_OF(queue_retry_schedule),
			    "queue_retry_schedule", "'%s' is not a duration",
			    cfg->queue_retry_schedule.v[i]);
			return ERR_INVAL;
		}
	}
	if (strcmp(cfg->smime_encrypt, "off") != 0 &&
	    strcmp(cfg->smime_encrypt, "when-known") != 0 &&
	    strcmp(cfg->smime_encrypt, "required") != 0) {
		set_err(err, file, LINE_OF(smime_encrypt), "smime_encrypt",
		    "'%s' is not off, when-known or required",
		    cfg->smime_encrypt);
		return ERR_INVAL;
	}
	for (size_t i = 0; i < cfg->local_domains.n; i++) {
		char *d = cfg->local_domains.v[i];
		str_lower(d);
		if (strchr(d, '@') != NULL || strchr(d, '.') == NULL) {
			set_err(err, file, LINE_OF(local_domains),
			    "local_domains", "'%s' is not a domain name", d);
			return ERR_INVAL;
		}
	}
#undef LINE_OF
	return 0;
}

int
config_load(const char *path, struct config **cfg_r, char *err)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	unsigned lines[N_KEYS] = { 0 };
	const char *why = NULL;
	int r = 0;

	err[0] = '\0';
	if (cfg == NULL)
		return ERR_NOMEM;
	cfg->refs = 1;
	cfg->source = strdup(path ? path : "(embedded default)");
	if (cfg->source == NULL) {
		free(cfg);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		if ((r = key_set(cfg, &cfg_keys[i], cfg_keys[i].def,
		    &why)) < 0) {
			set_err(err, "(embedded default)", 0,
			    cfg_keys[i].name, "%s", why);
			config_free(cfg);
			return r;
		}
	}
	if (path == NULL)
		goto verify;

	FILE *f = fopen(path, "r");
	if (f == NULL) {
		set_err(err, path, 0, NULL, "cannot open: %s",
		    strerror(errno));
		config_free(cfg);
		return ERR_IO;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned lineno = 0;
	/* getline, not fgets: the length it returns counts NUL bytes, which
	 * must be refused rather than silently end the value. */
	while ((got = getline(&line, &cap, f)) >= 0) {
		size_t n = (size_t)got;
		lineno++;
		if (n > CONFIG_LINE_MAX) {
			set_err(err, path, lineno, NULL, "line too long");
			r = ERR_LIMIT;
			break;
		}
		if (memchr(line, '\0', n) != NULL || !utf8_valid(line, n)) {
			set_err(err, path, lineno, NULL, "not valid UTF-8 text");
			r = ERR_INVAL;
			break;
		}
		char *s = str_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			set_err(err, path, lineno, NULL,
			    "expected 'key = value'");
			r = ERR_INVAL;
			break;
		}
		*eq = '\0';
		char *key = str_trim(s);
		char *val = str_trim(eq + 1);
		const struct cfg_key *k = key_find(key);
		if (k == NULL) {
			set_err(err, path, lineno, key, "unknown key");
			r = ERR_INVAL;
			break;
		}
		size_t idx = (size_t)(k - cfg_keys);
		if (lines[idx] != 0) {
			set_err(err, path, lineno, key,
			    "already set at line %u", lines[idx]);
			r = ERR_EXISTS;
			break;
		}
		lines[idx] = lineno;
		if ((r = key_set(cfg, k, val, &why)) < 0) {
			set_err(err, path, lineno, key, "invalid value '%.64s': %s",
			    val, why);
			break;
		}
	}
	free(line);
	if (r == 0 && ferror(f)) {
		set_err(err, path, 0, NULL, "read error: %s", strerror(errno));
		r = ERR_IO;
	}
	if (fclose(f) != 0 && r == 0) {
		set_err(err, path, 0, NULL, "close: %s", strerror(errno));
		r = ERR_IO;
	}
	if (r < 0) {
		config_free(cfg);
		return r;
	}
verify:
	if ((r = config_verify(cfg, lines, err)) < 0) {
		config_free(cfg);
		return r;
	}
	*cfg_r = cfg;
	return 0;
}

struct config *
config_ref(struct config *cfg)
{
	__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
	return cfg;
}

void
config_unref(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	if (cfg == NULL)
		return;
	*cfgp = NULL;
	if (__atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cfg);
}

/* value_str - the textual form of a key's current value. */
static void
value_str(const struct config *cfg, const struct cfg_key *k, char *out,
	  size_t size)
{
	const void *field = (const char *)cfg + k->off;
	switch (k->type) {
	case CT_STR:
	case CT_LEVEL:
	case CT_TLSVER:
		snprintf(out, size, "%s", *(char *const *)field);
		break;
	case CT_UINT:
	case CT_SIZE:
	case CT_SECONDS:
		snprintf(out, size, "%llu",
		    (unsigned long long)*(const uint64_t *)field);
		break;
	case CT_BOOL:
		snprintf(out, size, "%s", *(const bool *)field ? "yes" : "no");
		break;
	case CT_LIST:
	case CT_LISTEN: {
		const struct config_list *l = field;
		size_t o = 0;
		out[0] = '\0';
		for (size_t i = 0; i < l->n && o < size; i++) {
			int n = snprintf(out + o, size - o, "%s%s",
			    i ? ", " : "", l->v[i]);
			if (n < 0)
				break;
			o += (size_t)n;
		}
		break;
	}
	}
}

void
config_dump(const struct config *cfg, FILE *out, bool changed_only)
{
	struct config *defaults = NULL;
	char err[CONFIG_ERR_MAX];

	if (changed_only && config_load(NULL, &defaults, err) < 0)
		changed_only = false;
	for (size_t i = 0; i < N_KEYS; i++) {
		char v[2048];
		value_str(cfg, &cfg_keys[i], v, sizeof(v));
		if (changed_only) {
			char d[2048];
			value_str(defaults, &cfg_keys[i], d, sizeof(d));
			if (strcmp(v, d) == 0)
				continue;
		}
		fprintf(out, "%s = %s\n", cfg_keys[i].name, v);
	}
	config_unref(&defaults);
}

bool
config_is_local_domain(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->local_domains.n; i++)
		if (strcasecmp(cfg->local_domains.v[i], domain) == 0)
			return true;
	return false;
}

static pthread_mutex_t current_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;

struct config *
config_current(void)
{
	pthread_mutex_lock(&current_mtx);
	struct config *c = current ? config_ref(current) : NULL;
	pthread_mutex_unlock(&current_mtx);
	return c;
}

void
config_set_current(struct config *cfg)
{
	struct config *old;
	pthread_mutex_lock(&current_mtx);
	old = current;
	current = cfg ? config_ref(cfg) : NULL;
	pthread_mutex_unlock(&current_mtx);
	config_unref(&old);
}
