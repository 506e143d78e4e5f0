/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - config_load on the embedded default and on files: values,
 * every error case ("FILE:LINE: key 'KEY': ..." and its code), the
 * changed-only dump, local domains, reference counting and the key table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s",
	    "/tmp/mss-test-config.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/mssgate.conf", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	int r = rmdir(f->dir);
	free(f);
	return r;
}

/* write_file - put exactly data[len] in the fixture's file. */
static const char *
write_file(struct fixture *f, const char *data, size_t len)
{
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return f->path;
}

static const char *
write_str(struct fixture *f, const char *text)
{
	return write_file(f, text, strlen(text));
}

static void
test_default_loads(void **state)
{
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];

	assert_int_equal(config_load(NULL, &cfg, err), 0);
	assert_non_null(cfg);
	assert_string_equal(err, "");
	assert_int_equal(cfg->refs, 1);
	assert_string_equal(cfg->source, "(embedded default)");
	assert_string_equal(cfg->hostname, "localhost");
	assert_int_equal(cfg->local_domains.n, 1);
	assert_string_equal(cfg->local_domains.v[0], "mssante.localhost");
	assert_string_equal(cfg->log_level, "info");
	assert_int_equal(cfg->network_threads, 0);
	assert_int_equal(cfg->shutdown_grace, 30);
	assert_true(cfg->dev_demo_accounts);
	assert_string_equal(cfg->tls_min_version, "TLSv1.2");
	assert_string_equal(cfg->tls_chain_file, "");
	assert_string_equal(cfg->run_as_user, "");
	assert_int_equal(cfg->store_map_size, 16ULL << 30);
	assert_int_equal(cfg->store_max_readers, 1024);
	assert_string_equal(cfg->store_key_file, "certs/store.key");
	assert_int_equal(cfg->auth_cache_ttl, 600);
	assert_int_equal(cfg->smtp_max_message_size, 25ULL << 20);
	assert_int_equal(cfg->smtp_max_line_length, 1000);
	assert_int_equal(cfg->smtp_timeout_command, 300);
	assert_int_equal(cfg->smtp_submission_listen.n, 1);
	assert_string_equal(cfg->smtp_submission_listen.v[0],
	    "127.0.0.1:2587");
	assert_string_equal(cfg->smtp_submission_tls_listen.v[0],
	    "127.0.0.1:2465");
	config_unref(&cfg);
	assert_null(cfg);
}

static void
test_file_overrides(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];
	const char *path;

	path = write_str(f,
	    "# mssgate test configuration\n"
	    "\n"
	    "hostname = mx.example.fr\n"
	    "   local_domains=Example.ORG,  b.example\t,c.example  \n"
	    "\t# indented comment\n"
	    "smtp_max_message_size = 10M\n"
	    "auth_cache_ttl = 5m\n"
	    "dev_demo_accounts = no\n"
	    "smtp_submission_listen = [::1]:587, 127.0.0.1:2587\n"
	    "smtp_submission_tls_listen =\n"
	    "network_threads = 4\n"
	    "log_level = debug\n"
	    "tls_min_version = TLSv1.3\n"
	    "tls12_ciphers =\n"
	    "store_map_size = 1048576\n"
	    "run_as_user = mssgate\r\n"
	    "smtp_hard_error_limit = 1000");	/* no final newline */
	assert_int_equal(config_load(path, &cfg, err), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg->source, path);
	assert_string_equal(cfg->hostname, "mx.example.fr");
	assert_int_equal(cfg->local_domains.n, 3);
	assert_string_equal(cfg->local_domains.v[0], "example.org");
	assert_string_equal(cfg->local_domains.v[1], "b.example");
	assert_string_equal(cfg->local_domains.v[2], "c.example");
	assert_int_equal(cfg->smtp_max_message_size, 10 * 1048576);
	assert_int_equal(cfg->auth_cache_ttl, 300);
	assert_false(cfg->dev_demo_accounts);
	assert_int_equal(cfg->smtp_submission_listen.n, 2);
	assert_string_equal(cfg->smtp_submission_listen.v[0], "[::1]:587");
	assert_string_equal(cfg->smtp_submission_listen.v[1],
	    "127.0.0.1:2587");
	assert_int_equal(cfg->smtp_submission_tls_listen.n, 0);
	assert_int_equal(cfg->network_threads, 4);
	assert_string_equal(cfg->log_level, "debug");
	assert_string_equal(cfg->tls_min_version, "TLSv1.3");
	assert_string_equal(cfg->tls12_ciphers, "");
	assert_int_equal(cfg->store_map_size, 1048576);
	assert_string_equal(cfg->run_as_user, "mssgate");
	assert_int_equal(cfg->smtp_hard_error_limit, 1000);
	/* Untouched keys keep their defaults. */
	assert_int_equal(cfg->smtp_soft_error_limit, 10);
	assert_int_equal(cfg->smtp_max_recipients, 1000);
	assert_string_equal(cfg->tls_cert_file, "certs/server.crt");
	config_unref(&cfg);

	/* An empty file is the default configuration under another name. */
	path = write_str(f, "");
	assert_int_equal(config_load(path, &cfg, err), 0);
	assert_string_equal(cfg->source, path);
	assert_string_equal(cfg->hostname, "localhost");
	config_unref(&cfg);
}

struct err_row {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	unsigned line;
	const char *key;	/* NULL: the message names no key */
	int ret;
	const char *why;	/* a substring of the reason */
};

static void
check_err_rows(struct fixture *f, const struct err_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct err_row *row = &rows[i];
		struct config *cfg = NULL;
		char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
		const char *path = write_file(f, row->text,
		    row->len ? row->len : strlen(row->text));
		int r = config_load(path, &cfg, err);

		if (r != row->ret) {
			config_unref(&cfg);
			fail_msg("row %zu: got %d (%s), want %d", i, r, err,
			    row->ret);
		}
		assert_null(cfg);
		if (row->key != NULL)
			snprintf(want, sizeof(want), "%s:%u: key '%s': ", path,
			    row->line, row->key);
		else
			snprintf(want, sizeof(want), "%s:%u: ", path,
			    row->line);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("row %zu: message [%s], want prefix [%s]", i,
			    err, want);
		if (row->key == NULL && strstr(err, ": key '") != NULL)
			fail_msg("row %zu: unexpected key in [%s]", i, err);
		if (strstr(err + strlen(want), row->why) == NULL)
			fail_msg("row %zu: message [%s] lacks [%s]", i, err,
			    row->why);
	}
}

static void
test_errors(void **state)
{
	static const struct err_row rows[] = {
		{ "bogus_key = 1\n", 0, 1, "bogus_key", ERR_INVAL,
		    "unknown key" },
		{ "# c\n\nHostname = x\n", 0, 3, "Hostname", ERR_INVAL,
		    "unknown key" },
		{ "= value\n", 0, 1, "", ERR_INVAL, "unknown key" },
		{ "hostname = a\nsmtp_max_recipients = 12x\n", 0, 2,
		    "smtp_max_recipients", ERR_INVAL,
		    "invalid value '12x': expected a whole number" },
		{ "network_threads = -1\n", 0, 1, "network_threads",
		    ERR_INVAL, "expected a whole number" },
		{ "network_threads = 99999999999999999999\n", 0, 1,
		    "network_threads", ERR_INVAL, "expected a whole number" },
		{ "network_threads = 0x10\n", 0, 1, "network_threads",
		    ERR_INVAL, "expected a whole number" },
		{ "network_threads =\n", 0, 1, "network_threads",
		    ERR_INVAL, "expected a whole number" },
		{ "smtp_max_recipients = 0\n", 0, 1, "smtp_max_recipients",
		    ERR_LIMIT, "out of range (1 to 100000)" },
		{ "smtp_max_line_length = 511\n", 0, 1,
		    "smtp_max_line_length", ERR_LIMIT,
		    "out of range (512 to 65536)" },
		{ "network_threads = 65\n", 0, 1, "network_threads",
		    ERR_LIMIT, "out of range (0 to 64)" },
		{ "store_map_size = 16Q\n", 0, 1, "store_map_size",
		    ERR_INVAL, "expected a size" },
		{ "store_map_size = 1.5G\n", 0, 1, "store_map_size",
		    ERR_INVAL, "expected a size" },
		{ "store_map_size = 1k\n", 0, 1, "store_map_size",
		    ERR_LIMIT, "out of range (1048576 to" },
		{ "store_map_size = 17T\n", 0, 1, "store_map_size",
		    ERR_LIMIT, "out of range" },
		{ "store_map_size = 99999999999T\n", 0, 1, "store_map_size",
		    ERR_LIMIT, "expected a size" },
		{ "auth_cache_ttl = 10y\n", 0, 1, "auth_cache_ttl",
		    ERR_INVAL, "expected a duration" },
		{ "auth_cache_ttl = 2d\n", 0, 1, "auth_cache_ttl",
		    ERR_LIMIT, "out of range (0 to 86400)" },
		{ "tls_dev_ca = maybe\n", 0, 1, "tls_dev_ca", ERR_INVAL,
		    "expected yes or no" },
		{ "tls_dev_ca =\n", 0, 1, "tls_dev_ca", ERR_INVAL,
		    "expected yes or no" },
		{ "smtp_submission_listen = localhost\n", 0, 1,
		    "smtp_submission_listen", ERR_INVAL,
		    "expected host:port" },
		{ "smtp_submission_listen = :25\n", 0, 1,
		    "smtp_submission_listen", ERR_INVAL,
		    "expected host:port" },
		{ "smtp_submission_listen = 127.0.0.1:0\n", 0, 1,
		    "smtp_submission_listen", ERR_INVAL,
		    "port must be a number from 1 to 65535" },
		{ "smtp_submission_listen = 127.0.0.1:65536\n", 0, 1,
		    "smtp_submission_listen", ERR_INVAL, "port must be" },
		{ "smtp_submission_listen = 127.0.0.1:smtp\n", 0, 1,
		    "smtp_submission_listen", ERR_INVAL, "port must be" },
		{ "smtp_submission_listen = 127.0.0.1:25, host\n", 0, 1,
		    "smtp_submission_listen", ERR_INVAL,
		    "expected host:port" },
		{ "smtp_submission_tls_listen = [::1:465\n", 0, 1,
		    "smtp_submission_tls_listen", ERR_INVAL,
		    "expected [address]:port" },
		{ "hostname = a\n# x\nhostname = b\n", 0, 3, "hostname",
		    ERR_EXISTS, "already set at line 1" },
		{ "log_level = info\nlog_level = info\n", 0, 2, "log_level",
		    ERR_EXISTS, "already set at line 1" },
		{ "hostname localhost\n", 0, 1, NULL, ERR_INVAL,
		    "expected 'key = value'" },
		{ "hostname = a\n  just words\n", 0, 2, NULL, ERR_INVAL,
		    "expected 'key = value'" },
		{ "hostname = caf\xc3\n", 0, 1, NULL, ERR_INVAL,
		    "not valid UTF-8" },
		{ "# ok\nhostname = \xed\xa0\x80\n", 0, 2, NULL, ERR_INVAL,
		    "not valid UTF-8" },
		{ "# comment \xff\n", 0, 1, NULL, ERR_INVAL,
		    "not valid UTF-8" },
		{ "hostname = \xc0\xae\n", 0, 1, NULL, ERR_INVAL,
		    "not valid UTF-8" },
		{ "smtp_soft_error_limit = 30\nsmtp_hard_error_limit = 20\n",
		    0, 1, "smtp_soft_error_limit", ERR_INVAL,
		    "must not exceed smtp_hard_error_limit (20)" },
		{ "tls12_ciphers =\n", 0, 1, "tls12_ciphers", ERR_INVAL,
		    "empty while tls_min_version is TLSv1.2" },
		{ "tls_min_version = TLSv1.2\ntls12_ciphers = \n", 0, 2,
		    "tls12_ciphers", ERR_INVAL, "empty while" },
		{ "tls_min_version = TLSv1.3\ntls13_ciphersuites =\n", 0, 2,
		    "tls13_ciphersuites", ERR_INVAL,
		    "empty while tls_min_version is TLSv1.3" },
		{ "tls_min_version = TLSv1.1\n", 0, 1, "tls_min_version",
		    ERR_INVAL, "expected TLSv1.2 or TLSv1.3" },
		{ "log_level = loud\n", 0, 1, "log_level", ERR_INVAL,
		    "expected debug, info" },
		{ "hostname =\n", 0, 1, "hostname", ERR_INVAL,
		    "must not be empty" },
		{ "local_domains = localhost\n", 0, 1, "local_domains",
		    ERR_INVAL, "'localhost' is not a domain name" },
		{ "local_domains = a.example, USER@B.EXAMPLE\n", 0, 1,
		    "local_domains", ERR_INVAL,
		    "'user@b.example' is not a domain name" },
		{ "local_domains = , ,\n", 0, 1, "local_domains", ERR_INVAL,
		    "needs at least one value" },
		{ "local_domains = a.x b.x c.x d.x e.x f.x g.x h.x i.x j.x "
		    "k.x l.x m.x n.x o.x p.x q.x\n", 0, 1, "local_domains",
		    ERR_LIMIT, "too many values" },
	};
	check_err_rows(*state, rows, N_ELEMENTS(rows));
}

/* A NUL byte is not text: the value must not be cut at it silently.
 * (config_load's memchr check can never fire: n comes from strlen.) */
static void
test_error_nul_byte(void **state)
{
	static const struct err_row rows[] = {
		{ "hostname = good\0evil\n", 21, 1, NULL, ERR_INVAL,
		    "not valid UTF-8" },
	};
	check_err_rows(*state, rows, N_ELEMENTS(rows));
}

/* A rule across keys broken by the file: the message must point at the
 * line that broke it, even when the other key kept its default. */
static void
test_error_verify_line(void **state)
{
	static const struct err_row rows[] = {
		{ "\ntls_min_version = TLSv1.3\ntls13_ciphersuites =\n", 0, 3,
		    "tls13_ciphersuites", ERR_INVAL, "empty while" },
		{ "# limits\nsmtp_hard_error_limit = 5\n", 0, 2,
		    "smtp_hard_error_limit", ERR_INVAL,
		    "smtp_soft_error_limit" },
	};
	check_err_rows(*state, rows, N_ELEMENTS(rows));
}

static void
test_errors_file(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX], path[160], want[200];

	/* Missing file: ERR_IO, "FILE: cannot open: ...". */
	snprintf(path, sizeof(path), "%s/missing.conf", f->dir);
	assert_int_equal(config_load(path, &cfg, err), ERR_IO);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: cannot open: ", path);
	assert_memory_equal(err, want, strlen(want));

	/* A line longer than the parser's line buffer. */
	size_t n = 10000;
	char *text = malloc(n + 32);
	assert_non_null(text);
	int o = snprintf(text, n + 32, "hostname = a\nhostname_x = ");
	memset(text + o, 'x', n - (size_t)o);
	memcpy(text + n, "\n", 2);
	const char *p = write_str(f, text);
	free(text);
	assert_int_equal(config_load(p, &cfg, err), ERR_LIMIT);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:2: line too long", p);
	assert_string_equal(err, want);
}

/* dump - config_dump into a string (free it). */
static char *
dump(const struct config *cfg, bool changed_only)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&s, &n);
	assert_non_null(fp);
	config_dump(cfg, fp, changed_only);
	assert_int_equal(fclose(fp), 0);
	return s;
}

static void
test_dump_changed_only(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];

	/* The default has nothing changed. */
	assert_int_equal(config_load(NULL, &cfg, err), 0);
	char *s = dump(cfg, true);
	assert_string_equal(s, "");
	free(s);
	s = dump(cfg, false);
	assert_non_null(strstr(s, "hostname = localhost\n"));
	assert_non_null(strstr(s, "smtp_max_message_size = 26214400\n"));
	assert_non_null(strstr(s, "dev_demo_accounts = yes\n"));
	free(s);
	config_unref(&cfg);

	/* Changed keys only, in table order; a key set to its default
	 * (even spelled differently) is not a change. */
	const char *path = write_str(f,
	    "smtp_max_recipients = 50\n"
	    "log_level = info\n"
	    "smtp_max_message_size = 25M\n"
	    "hostname = mx.example\n"
	    "dev_demo_accounts = off\n"
	    "local_domains = a.example, b.example\n");
	assert_int_equal(config_load(path, &cfg, err), 0);
	s = dump(cfg, true);
	assert_string_equal(s,
	    "hostname = mx.example\n"
	    "local_domains = a.example, b.example\n"
	    "dev_demo_accounts = no\n"
	    "smtp_max_recipients = 50\n");
	free(s);

	/* The full dump has one line per key. */
	s = dump(cfg, false);
	size_t lines = 0;
	for (const char *p = s; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, config_key_count());
	assert_non_null(strstr(s, "\nsmtp_max_recipients = 50\n"));
	free(s);
	config_unref(&cfg);
}

static void
test_is_local_domain(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];
	static const struct {
		const char *domain;
		bool local;
	} rows[] = {
		{ "example.org", true },
		{ "EXAMPLE.ORG", true },
		{ "Example.Org", true },
		{ "b.example", true },
		{ "B.EXAMPLE", true },
		{ "example.org.", false },
		{ "sub.example.org", false },
		{ "xample.org", false },
		{ "example", false },
		{ "", false },
		{ "mssante.localhost", false },
	};

	assert_int_equal(config_load(NULL, &cfg, err), 0);
	assert_true(config_is_local_domain(cfg, "mssante.localhost"));
	assert_true(config_is_local_domain(cfg, "MSSante.LocalHost"));
	assert_false(config_is_local_domain(cfg, "localhost"));
	config_unref(&cfg);

	const char *path = write_str(f,
	    "local_domains = Example.ORG, b.example\n");
	assert_int_equal(config_load(path, &cfg, err), 0);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		if (config_is_local_domain(cfg, rows[i].domain) !=
		    rows[i].local)
			fail_msg("row %zu \"%s\"", i, rows[i].domain);
	config_unref(&cfg);
}

static void
test_refcount(void **state)
{
	struct config *cfg = NULL, *ref;
	char err[CONFIG_ERR_MAX];

	assert_int_equal(config_load(NULL, &cfg, err), 0);
	ref = config_ref(cfg);
	assert_ptr_equal(ref, cfg);
	assert_int_equal(cfg->refs, 2);
	config_unref(&ref);
	assert_null(ref);
	assert_int_equal(cfg->refs, 1);
	/* Still usable after the other reference went. */
	assert_string_equal(cfg->hostname, "localhost");

	/* The current configuration holds its own reference. */
	assert_null(config_current());
	config_set_current(cfg);
	assert_int_equal(cfg->refs, 2);
	struct config *cur = config_current();
	assert_ptr_equal(cur, cfg);
	assert_int_equal(cfg->refs, 3);
	config_unref(&cur);
	config_unref(&cfg);
	assert_null(cfg);
	/* The last reference is the current one's; swap it out. */
	cur = config_current();
	assert_non_null(cur);
	assert_int_equal(cur->refs, 2);
	assert_string_equal(cur->hostname, "localhost");
	config_unref(&cur);
	config_set_current(NULL);	/* frees it (LeakSanitizer checks) */
	assert_null(config_current());
	config_unref(&cur);		/* NULL is fine */
}

static void
test_keys_iterate(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];
	size_t n = config_key_count();

	assert_true(n >= 30);
	assert_null(config_key_name(n));
	assert_null(config_key_default(n));
	assert_null(config_key_name(SIZE_MAX));

	assert_int_equal(config_load(NULL, &cfg, err), 0);
	char *full = dump(cfg, false);
	config_unref(&cfg);

	/* Every key is named once, has a default, appears in the dump, and
	 * a file setting every key to its default loads and changes
	 * nothing. */
	size_t size = 1;
	for (size_t i = 0; i < n; i++)
		size += strlen(config_key_name(i)) +
		    strlen(config_key_default(i)) + 8;
	char *text = calloc(1, size);
	assert_non_null(text);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = config_key_name(i);
		const char *def = config_key_default(i);
		char want[128];
		assert_non_null(name);
		assert_non_null(def);
		assert_true(strlen(name) > 0);
		assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz"
		    "0123456789_"), strlen(name));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(name, config_key_name(j));
		snprintf(want, sizeof(want), "%s%s = ", i ? "\n" : "", name);
		assert_non_null(strstr(full, want));
		o += (size_t)snprintf(text + o, size - o, "%s = %s\n", name,
		    def);
	}
	assert_true(o < size);
	const char *path = write_str(f, text);
	free(text);
	free(full);
	assert_int_equal(config_load(path, &cfg, err), 0);
	char *s = dump(cfg, true);
	assert_string_equal(s, "");
	free(s);
	config_unref(&cfg);

	/* Names the tests and the documentation rely on. */
	static const char *const known[] = { "hostname", "local_domains",
		"store_map_size", "store_max_readers", "store_key_file",
		"auth_cache_ttl", "smtp_max_message_size",
		"smtp_soft_error_limit", "smtp_hard_error_limit",
		"tls12_ciphers", "smtp_submission_listen" };
	for (size_t k = 0; k < N_ELEMENTS(known); k++) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(config_key_name(i), known[k]) == 0)
				break;
		if (i == n)
			fail_msg("key %s missing", known[k]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_loads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_overrides, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_nul_byte, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_verify_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dump_changed_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_is_local_domain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refcount, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keys_iterate, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
