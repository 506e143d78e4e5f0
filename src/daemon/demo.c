/* SPDX-License-Identifier: MIT */
/* demo.c - demonstration accounts for the development configuration. */
#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "store/store.h"

static const char *const demo_names[] = { "dr.martin", "dr.bernard" };
#define N_DEMO (sizeof(demo_names) / sizeof(demo_names[0]))

static int
count_cb(const struct store_account *a, void *arg)
{
	(*(unsigned *)arg)++;
	return 0;
}

int
demo_ensure(const struct config *cfg, struct store *st, FILE *out)
{
	char path[4096];
	unsigned n = 0;
	struct store_rtxn *rt;
	int r;

	if (str_fmt(path, sizeof(path), "%s/demo-accounts.txt",
	    cfg->data_dir) < 0)
		return ERR_LIMIT;
	if ((r = store_read_begin(st, &rt)) < 0)
		return r;
	r = store_account_iter(rt, count_cb, &n);
	store_read_end(&rt);
	if (r < 0)
		return r;

	if (n == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd < 0) {
			log_warn("- demo cannot write %s", path);
			return ERR_IO;
		}
		FILE *f = fdopen(fd, "w");
		if (f == NULL) {
			close(fd);
			return ERR_IO;
		}
		for (size_t i = 0; i < N_DEMO && r == 0; i++) {
			struct store_account a;
			char pw[32];
			memset(&a, 0, sizeof(a));
			if (str_fmt(a.login, sizeof(a.login), "%s@%s",
			    demo_names[i], cfg->local_domains.v[0]) < 0 ||
			    auth_generate_password(pw, sizeof(pw)) < 0 ||
			    auth_hash_password(pw, strlen(pw), a.pwhash) < 0) {
				r = ERR_INVAL;
				break;
			}
			struct store_account_create ac = { &a, 0 };
			r = store_exec(st, store_op_account_create, &ac);
			if (r == 0) {
				fprintf(f, "%s %s\n", a.login, pw);
				log_info("- demo account created login=%s",
				    a.login);
			}
			sodium_memzero(pw, sizeof(pw));
		}
		if (fflush(f) != 0 || fsync(fileno(f)) != 0)
			r = r ? r : ERR_IO;
		if (fclose(f) != 0)
			r = r ? r : ERR_IO;
		if (r < 0)
			return r;
	}
	if (out == NULL)
		return 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;	/* accounts made by an administrator */
	char line[512];
	fprintf(out, "  Demo accounts (login, password):\n");
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(out, "    %s", line);
	fclose(f);
	return 0;
}
