/* SPDX-License-Identifier: MIT */
/*
 * config.h - the daemon's settings: one typed table (key, type, default,
 * range) drives the defaults, the parser, the verifier and the dumps.
 * A loaded configuration is immutable and reference-counted, so SIGHUP can
 * swap in a new one while sessions keep the one they started with.
 * Errors name the file, the line and the key; the caller refuses to start.
 */
#ifndef MSS_CORE_CONFIG_H
#define MSS_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_LIST_MAX 16
#define CONFIG_ERR_MAX 512

struct config_list {
	size_t n;
	char *v[CONFIG_LIST_MAX];
};

struct config {
	int refs;
	char *source;			/* file name, or "(embedded default)" */

	/* general */
	char *hostname;
	struct config_list local_domains;
	char *data_dir;
	char *certs_dir;
	char *run_as_user;
	char *pid_file;
	char *log_level;
	uint64_t network_threads;
	uint64_t shutdown_grace;
	bool dev_demo_accounts;

	/* TLS */
	char *tls_cert_file;
	char *tls_key_file;
	char *tls_chain_file;
	bool tls_dev_ca;
	char *tls_min_version;
	char *tls12_ciphers;
	char *tls13_ciphersuites;
	uint64_t tls_handshake_timeout;

	/* store */
	uint64_t store_map_size;
	uint64_t store_max_dbs;
	uint64_t store_max_readers;
	uint64_t store_batch_max;
	char *store_key_file;

	/* accounts and authentication */
	uint64_t auth_workers;
	uint64_t auth_max_pending;
	uint64_t auth_cache_ttl;
	uint64_t auth_fail_delay;

	/* SMTP */
	struct config_list smtp_submission_listen;
	struct config_list smtp_submission_tls_listen;
	uint64_t smtp_max_line_length;
	uint64_t smtp_max_auth_line_length;
	uint64_t smtp_max_message_size;
	uint64_t smtp_max_recipients;
	uint64_t smtp_soft_error_limit;
	uint64_t smtp_hard_error_limit;
	uint64_t smtp_timeout_command;
	uint64_t smtp_timeout_data;
	uint64_t smtp_max_sessions;
	bool smtp_recipient_directory;	/* other operators' recipients
					 * must be in the directory */
	char *smime_encrypt;		/* off, when-known, required */

	/* IMAP */
	struct config_list imap_listen;
	struct config_list imap_tls_listen;
	uint64_t imap_max_line_length;
	uint64_t imap_max_message_size;
	uint64_t imap_max_nesting;
	uint64_t imap_max_search_keys;
	uint64_t imap_output_buffer_max;
	uint64_t imap_timeout_auth;
	uint64_t imap_timeout_idle;
	uint64_t imap_max_sessions;

	/* relay between operators */
	struct config_list relay_listen;
	char *tls_ca_file;		/* trust store: operators' CAs */
	char *tls_client_cert_file;	/* our operator certificate */
	char *tls_client_key_file;
	struct config_list relay_routes;	/* "domain=host:port" */
	struct config_list queue_retry_schedule;
	uint64_t queue_max_lifetime;
	uint64_t queue_delay_warning;
	uint64_t relay_max_per_destination;
	uint64_t relay_max_messages_per_connection;
	uint64_t relay_connect_timeout;
	uint64_t relay_timeout;

	/* HTTPS (client autoconfiguration) */
	struct config_list http_listen;
};

/*
 * config_load - parse path (NULL: the embedded default) into a new config
 * with refs = 1. Returns 0, or a negative ERR_* with a message in
 * err[CONFIG_ERR_MAX] of the form "FILE:LINE: key 'KEY': reason".
 */
int config_load(const char *path, struct config **cfg_r, char *err);
struct config *config_ref(struct config *cfg);
void config_unref(struct config **cfg);

/* config_dump - every key ("key = value"), or only those that differ
 * from the default when changed_only is set. */
void config_dump(const struct config *cfg, FILE *out, bool changed_only);

/* config_is_local_domain - case-insensitive match against local_domains. */
bool config_is_local_domain(const struct config *cfg, const char *domain);

/* The process-wide current configuration, swapped on reload. */
struct config *config_current(void);	/* returns a new reference */
void config_set_current(struct config *cfg);	/* takes a reference */

/* Iteration over the table, for documentation checks and tests. */
size_t config_key_count(void);
const char *config_key_name(size_t i);
const char *config_key_default(size_t i);

#endif
