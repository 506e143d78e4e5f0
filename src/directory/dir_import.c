/* SPDX-License-Identifier: MIT */
/*
 * dir_import.c - one import of one file: find its format from its first
 * bytes, then run its reader inside the store's import operation, so the
 * whole file lands in one write transaction or not at all.
 */
#include "directory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/str.h"

int
dir_format_detect(const char *path, char *err, size_t errlen)
{
	char b[4096];
	struct stat sb;
	ssize_t n;
	size_t i = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		(void)str_fmt(err, errlen, "%s: %s", path, strerror(errno));
		return DIR_FMT_UNKNOWN;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		(void)str_fmt(err, errlen, "%s: not a regular file", path);
		close(fd);
		return DIR_FMT_UNKNOWN;
	}
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0) {
		(void)str_fmt(err, errlen, "%s: %s", path,
		    n < 0 ? strerror(errno) : "empty file");
		return DIR_FMT_UNKNOWN;
	}
	b[n] = '\0';
	if (n >= 3 && memcmp(b, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < (size_t)n && strchr(" \t\r\n", b[i]) != NULL)
		i++;
	if (b[i] == '<')
		return DIR_FMT_FHIR;
	if (b[i] == '{' || b[i] == '[')
		return DIR_FMT_JSON;
	b[i + strcspn(b + i, "\r\n")] = '\0';
	/* header labels vary in case and accents from one file to another */
	if (strcasestr(b + i, "Adresse BAL") != NULL)
		return DIR_FMT_MSS;
	if (strcasestr(b + i, "Identifiant PP") != NULL ||
	    strcasestr(b + i, "Identification nationale PP") != NULL)
		return DIR_FMT_PS;
	(void)str_fmt(err, errlen, "%s:1: unknown format: not an ANS extract "
	    "(no 'Adresse BAL' or 'Identifiant PP' column), FHIR XML or "
	    "JSON", path);
	return DIR_FMT_UNKNOWN;
}

struct run_ctx {
	const char *path;
	int fmt;
	struct dir_read_opts *o;
	struct dir_import *imp;
	char *err;
	size_t errlen;
	int store_err;
};

static int
emit(struct dir_record *rec, void *arg)
{
	struct run_ctx *c = arg;
	int rc = store_dir_import_put(c->imp, rec);
	if (rc < 0) {
		c->store_err = rc;
		(void)str_fmt(c->err, c->errlen, "%s:%lu: record '%s' not "
		    "stored: %s", c->o->display_name ? c->o->display_name :
		    c->path, (unsigned long)rec->src_line, rec->key,
		    err_str(rc));
	}
	return rc;
}

static int
run(void *ctx, struct dir_import *imp)
{
	struct run_ctx *c = ctx;
	c->imp = imp;
	/* a second pass over the same file: its bad lines were told */
	if (imp->pass > 1) {
		c->o->bad = NULL;
		c->o->strict = false;
	}
	c->o->bad_r = 0;
	c->o->lines_r = 0;
	switch (c->fmt) {
	case DIR_FMT_MSS:
	case DIR_FMT_PS:
		return dir_read_ans(c->path, c->fmt, c->o, emit, c, c->err,
		    c->errlen);
	case DIR_FMT_FHIR:
		return dir_read_fhir(c->path, c->o, emit, c, c->err,
		    c->errlen);
	case DIR_FMT_JSON:
		return dir_read_json(c->path, c->o, emit, c, c->err,
		    c->errlen);
	default:
		return ERR_INVAL;
	}
}

int
dir_import_file(struct store *st, const char *path, int fmt,
		struct dir_read_opts *o, struct dir_import *imp_r,
		char *err, size_t errlen)
{
	struct run_ctx c = { path, fmt, o, NULL, err, errlen, 0 };
	const char *name = o->display_name ? o->display_name : path;
	int rc;

	err[0] = '\0';
	if (fmt == DIR_FMT_UNKNOWN) {
		c.fmt = dir_format_detect(path, err, errlen);
		if (c.fmt == DIR_FMT_UNKNOWN)
			return ERR_PROTO;
	}
	/* the reader's context lives here: imp_r only gets the counts */
	struct dir_import imp;
	memset(&imp, 0, sizeof(imp));
	imp.source = dir_format_source(c.fmt);
	imp.rebuild = o->rebuild;
	imp.run = run;
	imp.ctx = &c;
	rc = store_dir_import(st, &imp);
	imp.ctx = NULL;
	imp.run = NULL;
	*imp_r = imp;
	if (rc == ERR_TEMP && err[0] == '\0')
		(void)str_fmt(err, errlen, "%s: the directory is busy: another "
		    "import or edit is running", name);
	else if (rc == ERR_PROTO && err[0] == '\0')
		(void)str_fmt(err, errlen, "%s: no valid record in the file "
		    "(an empty import would remove every %s record)", name,
		    dir_source_name(imp_r->source));
	else if (rc < 0 && err[0] == '\0')
		(void)str_fmt(err, errlen, "%s: import failed: %s", name,
		    err_str(rc));
	return rc;
}
