/* SPDX-License-Identifier: MIT */
/*
 * mssgated.c - the daemon: configuration, keys and listeners at start-up,
 * the event-loop threads, the store writer and the worker pool; SIGHUP
 * reloads configuration and certificates for new sessions, SIGTERM stops
 * accepting, lets transactions in flight finish and exits 0 after the
 * last commit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/str.h"
#include "core/workers.h"
#include "api/api.h"
#include "daemon/demo.h"
#include "imap/imap.h"
#include "pki/pki.h"
#include "queue/queue.h"
#include "smtp/smtp.h"
#include "store/store.h"

#define MAX_LISTENERS 32
#define MAX_THREADS 64

enum proto {
	PROTO_SMTP,
	PROTO_IMAP,
	PROTO_HTTPS,
};

struct binding {
	struct loop *loop;
	enum proto proto;
	int kind;		/* enum smtp_listener_kind or imap_... */
	struct evconnlistener *lev;
};

struct listen_sock {
	int fd;
	enum proto proto;
	int kind;
	char addr[128];
};

static struct {
	const char *config_path;
	struct loop *main_loop;
	struct loop *loops[MAX_THREADS];
	unsigned n_loops;
	struct listen_sock socks[MAX_LISTENERS];
	unsigned n_socks;
	struct binding bindings[MAX_THREADS][MAX_LISTENERS];
	unsigned loops_done;
	unsigned servers_left[MAX_THREADS];	/* SMTP and IMAP to stop */
	bool stopping;
	struct store *store;
	struct workers *workers;
	struct loop *queue_loop;
} d;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mssgated [-c FILE] [-d] [-n | -t]\n"
	    "  -c FILE  configuration file (default: the embedded development\n"
	    "           configuration: loopback ports, data in queue/, certs/)\n"
	    "  -d       run in the background and log to syslog\n"
	    "  -n       print the settings that differ from the defaults\n"
	    "  -t       check the configuration and keys, then exit\n"
	    "  -V       print the version\n");
	exit(EX_USAGE);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
	  struct sockaddr *sa, int len, void *arg)
{
	struct binding *b = arg;
	net_nodelay(fd);
	if (b->proto == PROTO_SMTP)
		smtp_accept(b->loop, fd, sa, (enum smtp_listener_kind)b->kind);
	else
		imap_accept(b->loop, fd, sa, (enum imap_listener_kind)b->kind);
}

static int
bind_all(const struct config *cfg)
{
	char err[256];
	const struct {
		const struct config_list *l;
		enum proto proto;
		int kind;
	} groups[] = {
		{ &cfg->smtp_submission_listen, PROTO_SMTP,
		  SMTP_LISTENER_SUBMISSION },
		{ &cfg->smtp_submission_tls_listen, PROTO_SMTP,
		  SMTP_LISTENER_SUBMISSION_TLS },
		{ &cfg->relay_listen, PROTO_SMTP, SMTP_LISTENER_RELAY },
		{ &cfg->imap_listen, PROTO_IMAP, IMAP_LISTENER_STARTTLS },
		{ &cfg->imap_tls_listen, PROTO_IMAP, IMAP_LISTENER_TLS },
		{ &cfg->http_listen, PROTO_HTTPS, 0 },
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		for (size_t i = 0; i < groups[g].l->n; i++) {
			struct listen_sock *ls = &d.socks[d.n_socks];
			if (d.n_socks == MAX_LISTENERS)
				fatalx("too many listeners");
			if (net_listen(groups[g].l->v[i], &ls->fd, err,
			    sizeof(err)) < 0) {
				fprintf(stderr, "mssgated: cannot listen on "
				    "%s\n", err);
				return ERR_IO;
			}
			ls->proto = groups[g].proto;
			ls->kind = groups[g].kind;
			str_copy(ls->addr, sizeof(ls->addr), groups[g].l->v[i]);
			d.n_socks++;
		}
	}
	return 0;
}

/* stop_loop - on a network loop: close its listeners, wind down SMTP. */
static void
loop_finished(void *arg)
{
	(void)arg;
	/* the network loops, and the queue's */
	if (++d.loops_done == d.n_loops + 1)
		loop_exit(d.main_loop);
}

/* queue_stopped - on the queue's loop: what it learnt is written. */
static void
queue_stopped(void)
{
	/* Exit first: once main hears of it, it may free d.queue_loop. */
	loop_exit(d.queue_loop);
	loop_post(d.main_loop, loop_finished, NULL);
}

/* sessions_done - one server of a loop has no session left; the loop
 * ends when both have none. */
static void
sessions_done(struct loop *l)
{
	if (--d.servers_left[loop_index(l)] > 0)
		return;
	loop_post(d.main_loop, loop_finished, NULL);
	loop_exit(l);
}

static void
stop_loop(void *arg)
{
	struct loop *l = arg;
	struct config *cfg = config_current();
	unsigned idx = loop_index(l);
	for (unsigned i = 0; i < d.n_socks; i++) {
		if (d.bindings[idx][i].lev != NULL) {
			evconnlistener_free(d.bindings[idx][i].lev);
			d.bindings[idx][i].lev = NULL;
		}
	}
	api_detach(l);
	unsigned grace = cfg ? (unsigned)cfg->shutdown_grace : 30;
	config_unref(&cfg);
	d.servers_left[idx] = 2;
	smtp_shutdown(l, grace, sessions_done);
	imap_shutdown(l, grace, sessions_done);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	if (d.stopping)
		return;
	d.stopping = true;
	log_info("- daemon stopping signal=%d sessions=%u", (int)sig,
	    smtp_session_count());
	for (unsigned i = 0; i < d.n_loops; i++)
		loop_post(d.loops[i], stop_loop, d.loops[i]);
	struct config *cfg = config_current();
	queue_shutdown(cfg ? (unsigned)cfg->shutdown_grace : 30,
	    queue_stopped);
	config_unref(&cfg);
}

static bool
same_list(const struct config_list *a, const struct config_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static void
on_expiry(evutil_socket_t fd, short what, void *arg)
{
	struct config *cfg = config_current();
	(void)fd;
	(void)what;
	(void)arg;
	if (cfg != NULL) {
		(void)pki_expiry_scan(cfg, d.store, (int64_t)time(NULL));
		config_unref(&cfg);
	}
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	char err[CONFIG_ERR_MAX], terr[PKI_ERR_MAX];
	struct config *cfg = NULL, *old = config_current();
	if (config_load(d.config_path, &cfg, err) < 0) {
		log_warnx("- daemon reload refused error=\"%s\"", err);
		config_unref(&old);
		return;
	}
	if (pki_tls_load_all(cfg, terr, sizeof(terr)) < 0) {
		log_warnx("- daemon reload refused error=\"%s\"", terr);
		config_unref(&cfg);
		config_unref(&old);
		return;
	}
	if (!same_list(&cfg->smtp_submission_listen,
	    &old->smtp_submission_listen) ||
	    !same_list(&cfg->smtp_submission_tls_listen,
	    &old->smtp_submission_tls_listen) ||
	    strcmp(cfg->data_dir, old->data_dir) != 0)
		log_warnx("- daemon reload: listeners and data_dir change "
		    "only on restart");
	config_set_current(cfg);
	smtp_smime_reset();
	(void)pki_expiry_scan(cfg, d.store, (int64_t)time(NULL));
	log_set_level(log_level_parse(cfg->log_level));
	log_info("- daemon reloaded config=%s", cfg->source);
	config_unref(&cfg);
	config_unref(&old);
}

/* drop_privileges - become run_as_user after binding; its files first. */
static int
drop_privileges(const struct config *cfg)
{
	if (cfg->run_as_user[0] == '\0')
		return 0;
	struct passwd *pw = getpwnam(cfg->run_as_user);
	if (pw == NULL) {
		fprintf(stderr, "mssgated: run_as_user: no user '%s'\n",
		    cfg->run_as_user);
		return ERR_NOTFOUND;
	}
	if (geteuid() != 0) {
		if (pw->pw_uid == geteuid())
			return 0;
		fprintf(stderr, "mssgated: run_as_user=%s needs to start as "
		    "root\n", cfg->run_as_user);
		return ERR_PERM;
	}
	/* The service user must own what it writes and the keys it reads. */
	/* certs_dir is ours only when we generated it (development CA);
	 * a production certificate folder keeps its administrator's rights. */
	const char *own[] = { cfg->data_dir, cfg->store_key_file,
		cfg->tls_key_file, cfg->tls_cert_file,
		cfg->tls_dev_ca ? cfg->certs_dir : cfg->data_dir };
	char p[4096];
	static const char *const files[] = { "data.mdb", "lock.mdb",
		"demo-accounts.txt" };
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (chown(own[i], pw->pw_uid, pw->pw_gid) != 0 &&
		    errno != ENOENT) {
			fprintf(stderr, "mssgated: chown %s: %s\n", own[i],
			    strerror(errno));
			return ERR_PERM;
		}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (str_fmt(p, sizeof(p), "%s/%s", cfg->data_dir, files[i]) < 0)
			return ERR_LIMIT;
		if (chown(p, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
			return ERR_PERM;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "mssgated: cannot become %s: %s\n",
		    cfg->run_as_user, strerror(errno));
		return ERR_PERM;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "mssgated: privileges were not dropped\n");
		return ERR_PERM;
	}
	return 0;
}

/* write_pid_file - for service managers and scripts that stop us;
 * written aside and renamed, so a reader never sees it half-written. */
static int
write_pid_file(const struct config *cfg)
{
	char tmp[4096];
	if (cfg->pid_file[0] == '\0')
		return 0;
	if (str_fmt(tmp, sizeof(tmp), "%s.tmp", cfg->pid_file) < 0)
		return ERR_LIMIT;
	FILE *f = fopen(tmp, "w");
	int ok = f != NULL && fprintf(f, "%ld\n", (long)getpid()) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (ok && rename(tmp, cfg->pid_file) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "mssgated: cannot write pid_file %s: %s\n",
		    cfg->pid_file, strerror(errno));
		unlink(tmp);
		return ERR_IO;
	}
	return 0;
}

static void
banner(const struct config *cfg)
{
	printf("mssgate %s is running in the foreground (Ctrl-C stops it).\n",
	    PACKAGE_VERSION);
	for (size_t i = 0; i < cfg->smtp_submission_listen.n; i++)
		printf("  SMTP submission   %-22s STARTTLS, then AUTH "
		    "PLAIN/LOGIN\n", cfg->smtp_submission_listen.v[i]);
	for (size_t i = 0; i < cfg->smtp_submission_tls_listen.n; i++)
		printf("  SMTP submissions  %-22s implicit TLS, then AUTH\n",
		    cfg->smtp_submission_tls_listen.v[i]);
	for (size_t i = 0; i < cfg->relay_listen.n; i++)
		printf("  SMTP relay        %-22s other operators: STARTTLS, "
		    "client certificate\n", cfg->relay_listen.v[i]);
	for (size_t i = 0; i < cfg->imap_listen.n; i++)
		printf("  IMAP              %-22s STARTTLS, then LOGIN\n",
		    cfg->imap_listen.v[i]);
	for (size_t i = 0; i < cfg->imap_tls_listen.n; i++)
		printf("  IMAPS             %-22s implicit TLS\n",
		    cfg->imap_tls_listen.v[i]);
	for (size_t i = 0; i < cfg->http_listen.n; i++)
		printf("  HTTPS             %-22s autoconfig, /v1/directory, "
		    "/metrics (bearer tokens)\n", cfg->http_listen.v[i]);
	printf("  Local domains:    ");
	for (size_t i = 0; i < cfg->local_domains.n; i++)
		printf("%s%s", i ? ", " : "", cfg->local_domains.v[i]);
	printf("\n");
	if (cfg->tls_dev_ca)
		printf("  Trust this development CA: %s/ca.crt\n",
		    cfg->certs_dir);
}

static void
banner_example(const struct config *cfg)
{
	if (!cfg->dev_demo_accounts || cfg->smtp_submission_listen.n == 0)
		return;
	const char *d0 = cfg->local_domains.v[0];
	printf("  Send a message (password from the list above):\n"
	    "    swaks --server %s --tls --tls-verify --tls-ca-path %s/ca.crt"
	    " \\\n      --auth PLAIN --auth-user dr.martin@%s --auth-password "
	    "PASSWORD \\\n      --from dr.martin@%s --to dr.bernard@%s\n"
	    "    mssgate message list dr.bernard@%s INBOX\n",
	    cfg->smtp_submission_listen.v[0], cfg->certs_dir, d0, d0, d0, d0);
	fflush(stdout);
}

/* early_exit - leave before the loops run, releasing what start-up took
 * (so sanitizer builds report real leaks only). */
static int
early_exit(struct config **cfg, int code)
{
	for (unsigned k = 0; k < d.n_socks; k++)
		close(d.socks[k].fd);
	d.n_socks = 0;
	store_close(&d.store);
	config_unref(cfg);
	for (int k = 0; k < PKI_CTX_COUNT; k++)
		pki_tls_set((enum pki_ctx_kind)k, NULL);
	config_set_current(NULL);
	return code;
}

int
main(int argc, char **argv)
{
	char err[CONFIG_ERR_MAX], terr[PKI_ERR_MAX];
	struct config *cfg = NULL;
	bool daemonize = false, dump = false, test = false;
	int ch;

	while ((ch = getopt(argc, argv, "c:dntV")) != -1) {
		switch (ch) {
		case 'c': d.config_path = optarg; break;
		case 'd': daemonize = true; break;
		case 'n': dump = true; break;
		case 't': test = true; break;
		case 'V':
			printf("mssgated %s\n", PACKAGE_VERSION);
			return 0;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (sodium_init() < 0) {
		fprintf(stderr, "mssgated: libsodium failed to initialise\n");
		return 1;
	}
	if (config_load(d.config_path, &cfg, err) < 0) {
		fprintf(stderr, "mssgated: %s\n", err);
		return EX_CONFIG;
	}
	if (dump) {
		config_dump(cfg, stdout, true);
		config_unref(&cfg);
		return 0;
	}
	log_init(LOG_TARGET_STDERR, "mssgated", log_level_parse(cfg->log_level));
	signal(SIGPIPE, SIG_IGN);

	if (cfg->tls_dev_ca && pki_devca_ensure(cfg, terr, sizeof(terr)) < 0) {
		fprintf(stderr, "mssgated: development CA: %s\n", terr);
		return early_exit(&cfg, EX_CONFIG);
	}
	if (pki_tls_load_all(cfg, terr, sizeof(terr)) < 0) {
		fprintf(stderr, "mssgated: TLS: %s\n", terr);
		return early_exit(&cfg, EX_CONFIG);
	}
	config_set_current(cfg);

	if (test) {
		const char *e;
		struct store_opts so;
		store_opts_from_config(cfg, &so);
		if (store_open(&so, &d.store, &e) < 0) {
			fprintf(stderr, "mssgated: %s\n", e);
			return early_exit(&cfg, 1);
		}
		printf("mssgated: configuration %s is valid\n", cfg->source);
		return early_exit(&cfg, 0);
	}

	if (bind_all(cfg) < 0)
		return early_exit(&cfg, 1);
	if (daemonize) {
		if (daemon(1, 0) != 0) {
			fprintf(stderr, "mssgated: daemon: %s\n",
			    strerror(errno));
			return early_exit(&cfg, 1);
		}
		log_init(LOG_TARGET_SYSLOG, "mssgated",
		    log_level_parse(cfg->log_level));
	}
	if (write_pid_file(cfg) < 0)
		return early_exit(&cfg, EX_CANTCREAT);

	/* Open the store (creating it and its key) before dropping
	 * privileges, then hand its files to the service user. */
	const char *e;
	struct store_opts so;
	store_opts_from_config(cfg, &so);
	if (store_open(&so, &d.store, &e) < 0) {
		fprintf(stderr, "mssgated: %s\n", e);
		log_warnx("- daemon store error=\"%s\"", e);
		return early_exit(&cfg, 1);
	}
	if (drop_privileges(cfg) < 0)
		return early_exit(&cfg, EX_NOPERM);
	if (loop_global_init() < 0)
		fatalx("cannot enable libevent threading");
	if (store_writer_start(d.store) < 0)
		fatalx("cannot start the store writer");
	d.workers = workers_new((unsigned)cfg->auth_workers,
	    (unsigned)cfg->auth_max_pending);
	if (d.workers == NULL || auth_init(d.workers, cfg->auth_cache_ttl) < 0)
		fatalx("cannot start the worker pool");
	smtp_init(d.store);
	api_init(d.store);

	if (cfg->dev_demo_accounts && !daemonize) {
		banner(cfg);
		if (demo_ensure(cfg, d.store, stdout) < 0)
			fatalx("cannot create the demonstration accounts");
		banner_example(cfg);
	} else if (cfg->dev_demo_accounts &&
	    demo_ensure(cfg, d.store, NULL) < 0) {
		fatalx("cannot create the demonstration accounts");
	} else if (!daemonize) {
		banner(cfg);
		fflush(stdout);
	}

	d.main_loop = loop_new(MAX_THREADS);
	if (d.main_loop == NULL)
		fatalx("cannot create the main loop");
	d.n_loops = cfg->network_threads ? (unsigned)cfg->network_threads :
	    (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (d.n_loops == 0)
		d.n_loops = 1;
	if (d.n_loops > MAX_THREADS)
		d.n_loops = MAX_THREADS;
	for (unsigned i = 0; i < d.n_loops; i++) {
		d.loops[i] = loop_new(i);
		if (d.loops[i] == NULL)
			fatalx("cannot create event loop %u", i);
		for (unsigned k = 0; k < d.n_socks; k++) {
			struct binding *b = &d.bindings[i][k];
			b->loop = d.loops[i];
			b->proto = d.socks[k].proto;
			b->kind = d.socks[k].kind;
			if (b->proto == PROTO_HTTPS) {
				if (api_attach(d.loops[i], d.socks[k].fd) < 0)
					fatalx("cannot serve HTTPS on %s",
					    d.socks[k].addr);
				continue;
			}
			b->lev = net_attach(d.loops[i], d.socks[k].fd, on_accept,
			    b);
			if (b->lev == NULL)
				fatalx("cannot watch listener %s",
				    d.socks[k].addr);
		}
	}
	imap_init(d.store, d.loops, d.n_loops);
	d.queue_loop = loop_new(MAX_THREADS + 1);
	if (d.queue_loop == NULL ||
	    queue_start(d.queue_loop, d.store, d.workers) < 0)
		fatalx("cannot start the queue manager");
	for (unsigned i = 0; i < d.n_loops; i++)
		if (loop_start(d.loops[i]) < 0)
			fatalx("cannot start event loop %u", i);
	if (loop_start(d.queue_loop) < 0)
		fatalx("cannot start the queue manager's loop");

	/* certificates that expire soon: at start, then every 6 hours */
	(void)pki_expiry_scan(cfg, d.store, (int64_t)time(NULL));
	struct event *expiry = event_new(loop_base(d.main_loop), -1,
	    EV_PERSIST, on_expiry, NULL);
	struct timeval every = { 6 * 3600, 0 };
	if (expiry == NULL || event_add(expiry, &every) < 0)
		fatalx("cannot schedule the certificate expiry checks");
	struct event *sterm = evsignal_new(loop_base(d.main_loop), SIGTERM,
	    on_term, NULL);
	struct event *sint = evsignal_new(loop_base(d.main_loop), SIGINT,
	    on_term, NULL);
	struct event *shup = evsignal_new(loop_base(d.main_loop), SIGHUP,
	    on_hup, NULL);
	if (sterm == NULL || sint == NULL || shup == NULL ||
	    evsignal_add(sterm, NULL) < 0 || evsignal_add(sint, NULL) < 0 ||
	    evsignal_add(shup, NULL) < 0)
		fatalx("cannot install signal handlers");

	struct logline ll;
	logl_begin(&ll, "-", "daemon", "ready");
	logl_str(&ll, "version", PACKAGE_VERSION);
	logl_str(&ll, "config", cfg->source);
	logl_u64(&ll, "threads", d.n_loops);
	logl_u64(&ll, "pid", (uint64_t)getpid());
	logl_emit(&ll, LOG_INFO);
	config_unref(&cfg);

	loop_run(d.main_loop);

	for (unsigned i = 0; i < d.n_loops; i++)
		loop_free(&d.loops[i]);
	loop_free(&d.queue_loop);
	for (unsigned k = 0; k < d.n_socks; k++)
		close(d.socks[k].fd);
	event_free(expiry);
	event_free(sterm);
	event_free(sint);
	event_free(shup);
	workers_free(&d.workers);
	auth_deinit();
	struct store_stats stats;
	store_get_stats(d.store, &stats);
	store_close(&d.store);
	loop_free(&d.main_loop);
	log_info("- daemon stopped commits=%llu ops=%llu max_batch=%llu",
	    (unsigned long long)stats.commits, (unsigned long long)stats.ops,
	    (unsigned long long)stats.max_batch);
	cfg = config_current();
	if (cfg != NULL && cfg->pid_file[0] != '\0' &&
	    unlink(cfg->pid_file) != 0 && errno != ENOENT)
		log_warn("- daemon cannot remove pid_file %s", cfg->pid_file);
	config_unref(&cfg);
	for (int k = 0; k < PKI_CTX_COUNT; k++)
		pki_tls_set((enum pki_ctx_kind)k, NULL);
	config_set_current(NULL);
	return 0;
}
