/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - a configuration file through config_load (inputs up to
 * 64 KiB): it loads and dumps, or fails with a negative code and a message
 * naming the file; nothing leaks either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define INPUT_MAX 65536

static char dir[64];
static char path[96];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

/* temp_path - one private file, made once, removed at exit. */
static const char *
temp_path(void)
{
	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/mss-fuzz-config.XXXXXX",
		    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ?
		    tmp : "/tmp");
		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
		atexit(cleanup);
	}
	return path;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char err[CONFIG_ERR_MAX];

	if (size > INPUT_MAX)
		return 0;
	const char *p = temp_path();
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	int r = config_load(p, &cfg, err);
	if (r < 0) {
		CHECK(cfg == NULL);
		CHECK(strncmp(err, p, strlen(p)) == 0);
		CHECK(err[strlen(p)] == ':');
		return 0;
	}
	CHECK(r == 0 && cfg != NULL && cfg->refs == 1);
	CHECK(strcmp(cfg->source, p) == 0);
	CHECK(cfg->local_domains.n >= 1);
	CHECK(cfg->smtp_soft_error_limit <= cfg->smtp_hard_error_limit);
	CHECK(config_is_local_domain(cfg, cfg->local_domains.v[0]));
	FILE *null = fopen("/dev/null", "w");
	CHECK(null != NULL);
	config_dump(cfg, null, false);
	config_dump(cfg, null, true);
	fclose(null);
	config_unref(&cfg);
	return 0;
}
