/* SPDX-License-Identifier: MIT */
/*
 * directory.h - reading the professional directory's sources: the ANS
 * public extracts (pipe-separated), FHIR R4 bundles (XML) and local JSON
 * records, each streamed with constant memory into dir_record values that
 * store_dir.h imports; and the helpers they share (phone numbers).
 *
 * Every reader checks its input: a bad line or entry is reported through
 * opts->bad as "FILE:LINE: reason" and skipped, or, with opts->strict,
 * ends the read with that error. A fault of the whole file (unknown
 * header layout, truncation, invalid XML, entity declarations) always
 * ends it. Nothing is written by the readers themselves.
 */
#ifndef MSS_DIRECTORY_H
#define MSS_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store_dir.h"

#define DIR_ERR_MAX 512
#define DIR_LINE_MAX 65536	/* longest line of an extract */
#define DIR_XML_MAX_DEPTH 64

/* What a reader hands on: 0 to go on, <0 to stop with that error. */
typedef int dir_emit_fn(struct dir_record *rec, void *arg);
/* A bad line or entry that was skipped. */
typedef void dir_bad_fn(const char *file, unsigned long line,
			const char *reason, void *arg);

struct dir_read_opts {
	bool strict;			/* a bad line ends the read */
	bool rebuild;			/* import: rebuild the databases
					 * whatever the changes (compacts) */
	dir_bad_fn *bad;		/* may be NULL */
	void *bad_arg;
	const char *display_name;	/* name in messages; default: path */
	unsigned long bad_r;		/* lines skipped */
	unsigned long lines_r;		/* lines or entries read */
};

enum dir_format {
	DIR_FMT_UNKNOWN = 0,
	DIR_FMT_MSS,		/* Extraction_Correspondance_MSSante */
	DIR_FMT_PS,		/* PS_LibreAcces_Personne_activite */
	DIR_FMT_FHIR,		/* FHIR R4 Bundle, XML */
	DIR_FMT_JSON,		/* local records */
};
const char *dir_format_name(int fmt);
/* dir_format_parse - "mss", "ps", "fhir", "json"; UNKNOWN otherwise. */
int dir_format_parse(const char *s);
/* dir_format_detect - from the first bytes of the file: '<' FHIR, '{' or
 * '[' JSON, a header line naming "Adresse BAL" MSS, "Identifiant PP" PS.
 * DIR_FMT_UNKNOWN with err set when none fits. */
int dir_format_detect(const char *path, char *err, size_t errlen);
/* dir_format_source - the dir_source an import of this format replaces. */
uint8_t dir_format_source(int fmt);

/*
 * dir_read_ans - an ANS extract, MSS or PS (fmt), header line first (the
 * layout is recognized from it: MSS 31 columns; PS 52 or 56 columns).
 * UTF-8 only (Latin-1 bytes are a bad line), "|" separated, each line
 * ends with "|". The natural keys: "mss:" + lower-case BAL address;
 * "ps:" + IdNat_PS + "/" + structure id (one record per activity).
 * Returns 0, or <0 with err "FILE:LINE: reason".
 */
int dir_read_ans(const char *path, int fmt, struct dir_read_opts *o,
		 dir_emit_fn *emit, void *arg, char *err, size_t errlen);

/*
 * dir_read_fhir - a FHIR R4 Bundle in XML (libxml2 reader, no network,
 * no entity expansion, no DTD): each Practitioner, PractitionerRole and
 * Organization entry is a record ("fhir:" + type + "/" + id); MSSanté
 * mailboxes are the telecom entries marked MSSANTE by their extension.
 */
int dir_read_fhir(const char *path, struct dir_read_opts *o,
		  dir_emit_fn *emit, void *arg, char *err, size_t errlen);

/*
 * dir_read_json - local records: one JSON object, an array of objects,
 * or one object per line; the fields are those of `mssgate dir show
 * --json` (see doc/DIRECTORY.md). A record without "key" gets
 * "local:" + its first mailbox, idnat or a random id.
 */
int dir_read_json(const char *path, struct dir_read_opts *o,
		  dir_emit_fn *emit, void *arg, char *err, size_t errlen);
/* dir_record_from_json / dir_record_to_json - one record (jansson). */
struct json_t;
int dir_record_from_json(struct json_t *obj, struct dir_record *rec,
			 char *err, size_t errlen);
struct json_t *dir_record_to_json(const struct dir_record *rec);

/*
 * dir_phone_e164 - a French or international number as written in the
 * extracts ("01 23 45 67 89", "0123456789", "+33 1 23...", "0033...")
 * into E.164 ("+33123456789"). ERR_INVAL when it is not a number.
 */
int dir_phone_e164(const char *in, char *out, size_t size);

/*
 * dir_import_file - read path in format fmt (DIR_FMT_UNKNOWN: detect) and
 * import it into the store in one transaction (store_op_dir_import).
 * imp_r receives the counts. Returns 0 or <0 with err.
 */
int dir_import_file(struct store *st, const char *path, int fmt,
		    struct dir_read_opts *o, struct dir_import *imp_r,
		    char *err, size_t errlen);

#endif
