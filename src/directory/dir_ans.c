/* SPDX-License-Identifier: MIT */
/*
 * dir_ans.c - the ANS public extracts (Extraction_Correspondance_MSSante
 * and PS_LibreAcces_Personne_activite, see doc/DIRECTORY.md) streamed into
 * dir_record values. The file is read in large chunks; each line is split
 * in place into fields, checked (UTF-8, no control character, its column
 * count, the size of every field kept) and mapped onto one reused record,
 * so memory stays constant whatever the file size. A line is handled only
 * once its newline was read: a truncated file fails before its half last
 * line could be handed on. Nothing is written here.
 */
#include "directory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/str.h"

#define ANS_CHUNK (1024 * 1024)		/* octets per read */
/* A line may be up to DIR_LINE_MAX octets plus CR LF; the buffer holds
 * such a line and one chunk, so a read is never shorter than a chunk. */
#define ANS_BUF (ANS_CHUNK + DIR_LINE_MAX + 2)
#define ANS_COLS_MAX 56			/* widest known layout */
#define ANS_REASON_MAX 256
#define ANS_ECHO_MAX 40			/* octets of a label quoted */
#define ANS_FOLD_MAX 96
/* "mss:" + address must fit the key, the address its mailbox array */
#define ANS_ADDR_MAX (DIR_KEY_MAX - 5 < STORE_ADDR_MAX - 1 ? \
	DIR_KEY_MAX - 5 : STORE_ADDR_MAX - 1)

/* ---- formats ---- */

const char *
dir_format_name(int fmt)
{
	switch (fmt) {
	case DIR_FMT_MSS:
		return "mss";
	case DIR_FMT_PS:
		return "ps";
	case DIR_FMT_FHIR:
		return "fhir";
	case DIR_FMT_JSON:
		return "json";
	default:
		return "unknown";
	}
}

int
dir_format_parse(const char *s)
{
	if (s == NULL)
		return DIR_FMT_UNKNOWN;
	if (str_case_eq(s, "mss"))
		return DIR_FMT_MSS;
	if (str_case_eq(s, "ps"))
		return DIR_FMT_PS;
	if (str_case_eq(s, "fhir"))
		return DIR_FMT_FHIR;
	if (str_case_eq(s, "json"))
		return DIR_FMT_JSON;
	return DIR_FMT_UNKNOWN;
}

uint8_t
dir_format_source(int fmt)
{
	switch (fmt) {
	case DIR_FMT_MSS:
		return DIR_SRC_MSS;
	case DIR_FMT_PS:
		return DIR_SRC_PS;
	case DIR_FMT_FHIR:
		return DIR_SRC_FHIR;
	case DIR_FMT_JSON:
		return DIR_SRC_LOCAL;
	default:
		return DIR_SRC_NONE;
	}
}

/* ---- layouts ---- */

/* The names used in messages (the files spell them in several ways). */
static const char *const mss_labels[] = {
	"Type de BAL", "Adresse BAL", "Type identifiant PP",
	"Identifiant PP", "Identification nationale PP",
	"Type identifiant structure", "Identification structure",
	"Service de rattachement", "Civilité d'exercice", "Nom d'exercice",
	"Prénom d'exercice", "Catégorie profession",
	"Libellé catégorie profession", "Code profession",
	"Libellé profession", "Code savoir-faire", "Libellé savoir-faire",
	"Dématérialisation", "Raison sociale structure BAL",
	"Enseigne commerciale structure BAL", "L2COMPLEMENTLOCALISATION",
	"L3COMPLEMENTDISTRIBUTION", "L4NUMEROVOIE", "L4COMPLEMENTNUMEROVOIE",
	"NL4TYPEVOIE", "L4LIBELLEVOIE", "L5LIEUDITMENTION",
	"L6LIGNEACHEMINEMENT", "Code postal", "Département", "Pays",
};

static const char *const ps_labels[] = {
	"Type d'identifiant PP", "Identifiant PP",
	"Identification nationale PP", "Code civilité d'exercice",
	"Libellé civilité d'exercice", "Code civilité", "Libellé civilité",
	"Nom d'exercice", "Prénom d'exercice", "Code profession",
	"Libellé profession", "Code catégorie professionnelle",
	"Libellé catégorie professionnelle", "Code type savoir-faire",
	"Libellé type savoir-faire", "Code savoir-faire",
	"Libellé savoir-faire", "Code mode exercice", "Libellé mode exercice",
	"Numéro SIRET site", "Numéro SIREN site", "Numéro FINESS site",
	"Numéro FINESS établissement juridique",
	"Identifiant technique de la structure", "Raison sociale site",
	"Enseigne commerciale site", "Complément destinataire",
	"Complément point géographique", "Numéro voie",
	"Indice répétition voie", "Code type de voie",
	"Libellé type de voie", "Libellé voie", "Mention distribution",
	"Bureau cedex", "Code postal", "Code commune", "Libellé commune",
	"Code pays", "Libellé pays", "Téléphone", "Téléphone 2",
	"Télécopie", "Adresse e-mail", "Code département",
	"Libellé département", "Ancien identifiant de la structure",
	"Autorité d'enregistrement", "Code secteur d'activité",
	"Libellé secteur d'activité", "Code section tableau pharmaciens",
	"Libellé section tableau pharmaciens", "Code fonction",
	"Libellé fonction", "Code genre d'activité",
	"Libellé genre d'activité",
};

/*
 * A key column: its label, folded (lower case, no accent, letters and
 * digits only), must contain each of need[]. Only a few columns are
 * checked, with loose words, because the spelling varies between
 * versions ("Code postal" / "Code postal structure BAL", "Libellé
 * civilité d'exercice" / "Libellé civilité exercice"); the columns are
 * then bound by position.
 */
struct ans_check {
	unsigned col;			/* 1-based */
	const char *need[3];
};

static const struct ans_check mss_checks[] = {
	{ 1, { "type", "bal", NULL } },
	{ 2, { "adresse", "bal", NULL } },
	{ 5, { "nationale", NULL, NULL } },
	{ 10, { "nom", NULL, NULL } },
	{ 11, { "prenom", NULL, NULL } },
	{ 19, { "raisonsociale", NULL, NULL } },
	{ 29, { "codepostal", NULL, NULL } },
};

static const struct ans_check ps_checks[] = {
	{ 1, { "type", "identifiant", NULL } },
	{ 2, { "identifiantpp", NULL, NULL } },
	{ 3, { "nationale", NULL, NULL } },
	{ 5, { "civilite", NULL, NULL } },
	{ 8, { "nom", NULL, NULL } },
	{ 9, { "prenom", NULL, NULL } },
	{ 24, { "identifianttechnique", NULL, NULL } },
	{ 36, { "codepostal", NULL, NULL } },
	{ 41, { "telephone", NULL, NULL } },
};

struct ans_layout {
	int fmt;
	const char *name;
	unsigned ncols[2];		/* the known column counts */
	const char *const *labels;
	const struct ans_check *checks;
	size_t n_checks;
	const char *expect;		/* for "unknown header layout" */
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const struct ans_layout layouts[] = {
	{ DIR_FMT_MSS, "Extraction_Correspondance_MSSante", { 31, 31 },
	    mss_labels, mss_checks, N_ELEMENTS(mss_checks),
	    "Extraction_Correspondance_MSSante: 31 columns, "
	    "first 'Type de BAL'" },
	{ DIR_FMT_PS, "PS_LibreAcces_Personne_activite", { 52, 56 },
	    ps_labels, ps_checks, N_ELEMENTS(ps_checks),
	    "PS_LibreAcces_Personne_activite: 52 or 56 columns, "
	    "first 'Type d'identifiant PP'" },
};

_Static_assert(N_ELEMENTS(mss_labels) == 31, "MSS layout");
_Static_assert(N_ELEMENTS(ps_labels) == ANS_COLS_MAX, "PS layout");

/* ---- the reader ---- */

struct ans_reader {
	const char *name;		/* in messages */
	int fd;
	struct dir_read_opts *o;
	dir_emit_fn *emit;
	void *arg;
	char *err;
	size_t errlen;
	const struct ans_layout *lay;	/* once the header was read */
	unsigned ncols;
	unsigned long line;		/* of the line being handled */
	struct dir_record *rec;
	char src_file[DIR_LONG];
	/* the fields of the current line, pointing into the buffer */
	struct strv f[ANS_COLS_MAX + 2];
	unsigned nf;			/* fields, a trailing empty one too */
	bool last_empty;		/* the line ends with "|" */
	char reason[ANS_REASON_MAX];
	char *buf;
};

static void seterr(struct ans_reader *rd, unsigned long line,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why(struct ans_reader *rd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* seterr - err = "NAME:LINE: reason" ("NAME: reason" when line is 0),
 * cut to fit err when it must be. */
static void
seterr(struct ans_reader *rd, unsigned long line, const char *fmt, ...)
{
	char msg[ANS_REASON_MAX + 64];
	va_list ap;

	if (rd->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(rd->err, rd->errlen, "%s:%lu: %s", rd->name, line,
		    msg);
	else
		snprintf(rd->err, rd->errlen, "%s: %s", rd->name, msg);
}

/* why - the reason the current line is bad; returns -1 for the callers'
 * convenience. */
static int
why(struct ans_reader *rd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rd->reason, sizeof(rd->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* bad_line - the current line is skipped for rd->reason; with strict it
 * ends the read instead. */
static int
bad_line(struct ans_reader *rd)
{
	if (rd->o->strict) {
		seterr(rd, rd->line, "%s", rd->reason);
		return ERR_PROTO;
	}
	rd->o->bad_r++;
	if (rd->o->bad != NULL)
		rd->o->bad(rd->name, rd->line, rd->reason, rd->o->bad_arg);
	return 0;
}

/* utf8_seq - the length of the valid UTF-8 sequence at p[0..n), 0 when
 * there is none (stray continuation, overlong, surrogate, > U+10FFFF,
 * cut short). */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 ||
		    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

/*
 * split - the line p[len] into rd->f (at most ANS_COLS_MAX + 2 kept,
 * all counted in rd->nf), checking every octet on the way: UTF-8, no
 * control character. -1 with the reason when it fails.
 */
static int
split(struct ans_reader *rd, const char *line, size_t len)
{
	/* 0: an ordinary octet, 1: "|", 2: UTF-8 lead or continuation,
	 * 3: control; one look-up per octet keeps this the fast path */
	static const unsigned char cls[256] = {
		[0 ... 0x1f] = 3, ['|'] = 1, [0x7f] = 3, [0x80 ... 0xff] = 2,
	};
	const unsigned char *p = (const unsigned char *)line;
	size_t start = 0, i = 0;
	unsigned nf = 0;

	for (;;) {
		while (i < len && cls[p[i]] == 0)
			i++;
		if (i >= len)
			break;
		unsigned char c = p[i];
		switch (cls[c]) {
		case 1:
			if (nf < N_ELEMENTS(rd->f)) {
				rd->f[nf].p = line + start;
				rd->f[nf].len = i - start;
			}
			nf++;
			start = ++i;
			break;
		case 2: {
			size_t k = utf8_seq(p + i, len - i);
			if (k == 0)
				return why(rd, "not UTF-8 (byte 0x%02X in "
				    "column %u)", c, nf + 1);
			i += k;
			break;
		}
		default:
			return why(rd, "control character 0x%02X in column %u",
			    c, nf + 1);
		}
	}
	if (nf < N_ELEMENTS(rd->f)) {
		rd->f[nf].p = line + start;
		rd->f[nf].len = len - start;
	}
	rd->nf = nf + 1;
	rd->last_empty = start == len;
	return 0;
}

/* columns - how many columns the split line has, for messages: a
 * trailing "|" ends the last one rather than opening another. */
static unsigned
columns(const struct ans_reader *rd)
{
	return rd->nf >= 2 && rd->last_empty ? rd->nf - 1 : rd->nf;
}

/* has_columns - whether the split line is n columns, with its trailing
 * "|" or without it. Without it, an empty last column makes the line
 * end with "|" too: "a|b|" is two columns with the "|" or three without,
 * and both are taken, since only the count decides. */
static bool
has_columns(const struct ans_reader *rd, unsigned n)
{
	return rd->nf == n || (rd->nf == n + 1 && rd->last_empty);
}

/* field - column col (1-based), without spaces around it. */
static struct strv
field(const struct ans_reader *rd, unsigned col)
{
	struct strv v = rd->f[col - 1];

	while (v.len > 0 && v.p[0] == ' ') {
		v.p++;
		v.len--;
	}
	while (v.len > 0 && v.p[v.len - 1] == ' ')
		v.len--;
	return v;
}

static const char *
label(const struct ans_reader *rd, unsigned col)
{
	return rd->lay->labels[col - 1];
}

/* put_v - v into dst[size], or a bad line naming column col. */
static int
put_v(struct ans_reader *rd, unsigned col, struct strv v, char *dst,
      size_t size)
{
	if (v.len >= size)
		return why(rd, "column %u (%s) longer than %zu bytes", col,
		    label(rd, col), size - 1);
	memcpy(dst, v.p, v.len);
	dst[v.len] = '\0';
	return 0;
}

static int
put(struct ans_reader *rd, unsigned col, char *dst, size_t size)
{
	return put_v(rd, col, field(rd, col), dst, size);
}

/* put_or - column col, or column alt when col is empty. */
static int
put_or(struct ans_reader *rd, unsigned col, unsigned alt, char *dst,
       size_t size)
{
	struct strv v = field(rd, col);

	if (v.len == 0)
		return put(rd, alt, dst, size);
	return put_v(rd, col, v, dst, size);
}

#define PUT(col, fld) put(rd, (col), r->fld, sizeof(r->fld))

/* join - the non-empty columns cols[n] joined by one space (the address
 * block of an extract spreads one street over several columns). */
static int
join(struct ans_reader *rd, const unsigned *cols, size_t n, char *dst,
     size_t size)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		struct strv v = field(rd, cols[i]);
		if (v.len == 0)
			continue;
		size_t need = len + (len > 0) + v.len;
		if (need >= size)
			return why(rd, "columns %u-%u (address) longer than "
			    "%zu bytes", cols[0], cols[n - 1], size - 1);
		if (len > 0)
			dst[len++] = ' ';
		memcpy(dst + len, v.p, v.len);
		len += v.len;
	}
	dst[len] = '\0';
	return 0;
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* set_rpps - an IdNat_PS of type 8 is "8" + the 11-digit RPPS. */
static void
set_rpps(struct dir_record *r)
{
	if (strcmp(r->id_type, "8") == 0 && r->idnat[0] == '8' &&
	    strlen(r->idnat) == 12 && all_digits(r->idnat + 1, 11))
		memcpy(r->rpps, r->idnat + 1, 12);
}

/* siren_of_siret - the first 9 digits of a SIRET are its SIREN. */
static void
siren_of_siret(struct dir_record *r)
{
	if (r->siren[0] == '\0' && strlen(r->siret) == 14 &&
	    all_digits(r->siret, 14)) {
		memcpy(r->siren, r->siret, 9);
		r->siren[9] = '\0';
	}
}

/* bare_id - a structure id with or without its IdNat_Struct type digit
 * in front: the bare number of want octets, or false. */
static bool
bare_id(const char *id, char digit, size_t want, char *dst, size_t size)
{
	size_t n = strlen(id);

	if (n == want + 1 && id[0] == digit)
		id++;
	else if (n != want)
		return false;
	if (want >= size)
		return false;
	memcpy(dst, id, want);
	dst[want] = '\0';
	return true;
}

/* addr_ok - the shape of a mailbox address: one "@" between two
 * non-empty parts, a dot in the domain, nothing that would need quoting.
 * The record helper checks it again. */
static bool
addr_ok(const char *a)
{
	const char *at = strchr(a, '@');

	if (at == NULL || at == a || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL)
		return false;
	return strpbrk(a, " <>()[],;:\\\"") == NULL;
}

/* map_mss - one line of Extraction_Correspondance_MSSante; the column
 * numbers are those of mss_labels[]. */
static int
map_mss(struct ans_reader *rd)
{
	struct dir_record *r = rd->rec;
	char type[sizeof(r->mbox[0].type)];
	char addr[ANS_ADDR_MAX + 1];
	static const unsigned street[] = { 21, 22, 23, 24, 25, 26, 27 };

	if (put(rd, 1, type, sizeof(type)) < 0)
		return -1;
	struct strv a = field(rd, 2);
	if (a.len == 0)
		return why(rd, "empty BAL address in column 2");
	if (put_v(rd, 2, a, addr, sizeof(addr)) < 0)
		return -1;
	str_lower(addr);
	if (!addr_ok(addr) || dir_record_add_mailbox(r, addr, type) < 0)
		return why(rd, "invalid BAL address in column 2");
	if (str_fmt(r->key, sizeof(r->key), "mss:%s", addr) < 0)
		return why(rd, "column 2 (%s) too long for a key",
		    label(rd, 2));

	if (PUT(3, id_type) < 0 || PUT(5, idnat) < 0)
		return -1;
	if (r->idnat[0] == '\0' && strlen(r->id_type) == 1) {
		/* IdNat_PS is the type digit and the identifier */
		struct strv id = field(rd, 4);
		if (id.len > 0 && id.len + 1 < sizeof(r->idnat)) {
			r->idnat[0] = r->id_type[0];
			memcpy(r->idnat + 1, id.p, id.len);
			r->idnat[id.len + 1] = '\0';
		}
	}
	set_rpps(r);

	char stype[4];
	if (put(rd, 6, stype, sizeof(stype)) < 0 || PUT(7, org_id) < 0)
		return -1;
	if (strcmp(stype, "1") == 0)
		bare_id(r->org_id, '1', 9, r->finess, sizeof(r->finess));
	else if (strcmp(stype, "2") == 0)
		bare_id(r->org_id, '2', 9, r->siren, sizeof(r->siren));
	else if (strcmp(stype, "3") == 0 &&
	    bare_id(r->org_id, '3', 14, r->siret, sizeof(r->siret)))
		siren_of_siret(r);

	if (PUT(8, service) < 0 || PUT(9, civility) < 0 ||
	    PUT(10, family) < 0 || PUT(11, given) < 0 ||
	    PUT(12, category) < 0 || PUT(14, profession_code) < 0 ||
	    PUT(15, profession) < 0 || PUT(16, specialty_code) < 0 ||
	    PUT(17, specialty) < 0 ||
	    put_or(rd, 19, 20, r->org_name, sizeof(r->org_name)) < 0 ||
	    join(rd, street, N_ELEMENTS(street), r->street,
	    sizeof(r->street)) < 0 || PUT(31, country) < 0)
		return -1;

	/* L6 ligne d'acheminement: "75012 PARIS" */
	struct strv l6 = field(rd, 28);
	if (l6.len >= 5 && all_digits(l6.p, 5) &&
	    (l6.len == 5 || l6.p[5] == ' ')) {
		memcpy(r->postcode, l6.p, 5);
		r->postcode[5] = '\0';
		l6.p += 5;
		l6.len -= 5;
		while (l6.len > 0 && l6.p[0] == ' ') {
			l6.p++;
			l6.len--;
		}
	}
	if (put_v(rd, 28, l6, r->city, sizeof(r->city)) < 0)
		return -1;
	if (field(rd, 29).len > 0 && PUT(29, postcode) < 0)
		return -1;
	return 0;
}

/* add_phone - column col as an E.164 number: a number that does not
 * read is dropped, or makes the line bad under strict. */
static int
add_phone(struct ans_reader *rd, unsigned col)
{
	struct strv v = field(rd, col);
	char in[64], e164[DIR_PHONE_LEN];

	if (v.len == 0)
		return 0;
	if (v.len < sizeof(in)) {
		memcpy(in, v.p, v.len);
		in[v.len] = '\0';
		if (dir_phone_e164(in, e164, sizeof(e164)) == 0) {
			/* full or already there: nothing lost that matters */
			(void)dir_record_add_phone(rd->rec, e164);
			return 0;
		}
	}
	if (!rd->o->strict)
		return 0;
	return why(rd, "column %u (%s) is not a phone number", col,
	    label(rd, col));
}

/* map_ps - one line of PS_LibreAcces_Personne_activite. */
static int
map_ps(struct ans_reader *rd)
{
	struct dir_record *r = rd->rec;
	/* complement, point, number, repetition, way type, way name,
	 * distribution; the way type's code (31) only when its label (32)
	 * is missing, so that "R" and "Rue" do not both appear */
	unsigned street[8] = { 27, 28, 29, 30, 32, 33, 34, 0 };
	size_t n_street = 7;

	if (field(rd, 3).len == 0)
		return why(rd, "missing IdNat_PS in column 3");
	if (PUT(1, id_type) < 0 || PUT(3, idnat) < 0)
		return -1;
	set_rpps(r);
	/* the civility of exercise ("DR") when there is one, else the
	 * civility ("MME") */
	if (put_or(rd, 4, 6, r->civility, sizeof(r->civility)) < 0 ||
	    put_or(rd, 5, 7, r->title, sizeof(r->title)) < 0 ||
	    PUT(8, family) < 0 || PUT(9, given) < 0 ||
	    PUT(10, profession_code) < 0 || PUT(11, profession) < 0 ||
	    PUT(12, category) < 0 || PUT(16, specialty_code) < 0 ||
	    PUT(17, specialty) < 0 || PUT(19, role) < 0 ||
	    PUT(20, siret) < 0 || PUT(21, siren) < 0 || PUT(22, finess) < 0 ||
	    put_or(rd, 25, 26, r->org_name, sizeof(r->org_name)) < 0)
		return -1;
	siren_of_siret(r);
	if (field(rd, 24).len > 0) {
		if (PUT(24, org_id) < 0)
			return -1;
	} else if (r->siret[0] != '\0') {
		memcpy(r->org_id, r->siret, sizeof(r->siret));
	} else {
		memcpy(r->org_id, r->finess, sizeof(r->finess));
	}
	if (field(rd, 32).len == 0) {
		memmove(street + 5, street + 4, 3 * sizeof(street[0]));
		street[4] = 31;
		n_street = 8;
	}
	if (join(rd, street, n_street, r->street, sizeof(r->street)) < 0 ||
	    PUT(36, postcode) < 0 || PUT(38, city) < 0 ||
	    PUT(40, country) < 0 || add_phone(rd, 41) < 0 ||
	    add_phone(rd, 42) < 0)
		return -1;
	/* column 44 is the structure's ordinary e-mail, not a mailbox of
	 * the secure messaging space: left out on purpose */
	if (str_fmt(r->key, sizeof(r->key), "ps:%s/%s", r->idnat,
	    r->org_id) < 0)
		return why(rd, "identifiers too long for a key");
	return 0;
}

/* fold_label - a header label folded for comparison: lower-case ASCII
 * letters and digits, the accented Latin letters of French as their base
 * letter, everything else dropped. */
static void
fold_label(struct strv v, char *out, size_t size)
{
	static const char c3[65] =
	    "aaaaaaaceeeeiiii" "dnooooo*ouuuuyts"
	    "aaaaaaaceeeeiiii" "dnooooo/ouuuuyty";
	const unsigned char *p = (const unsigned char *)v.p;
	size_t n = 0;

	for (size_t i = 0; i < v.len && n + 2 < size; i++) {
		unsigned char c = p[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			out[n++] = (char)c;
		} else if (c >= 'A' && c <= 'Z') {
			out[n++] = (char)(c - 'A' + 'a');
		} else if (c == 0xc3 && i + 1 < v.len &&
		    p[i + 1] >= 0x80 && p[i + 1] < 0xc0) {
			char b = c3[p[i + 1] - 0x80];
			if (b >= 'a' && b <= 'z')
				out[n++] = b;
			i++;
		} else if (c == 0xc5 && i + 1 < v.len &&
		    (p[i + 1] == 0x92 || p[i + 1] == 0x93)) {
			out[n++] = 'o';		/* Œ œ */
			out[n++] = 'e';
			i++;
		}
	}
	out[n] = '\0';
}

/* fits - the column count when the split header is layout lay, or 0;
 * *col_r is the first key column that does not fit (0 when the count
 * does not). */
static unsigned
fits(const struct ans_reader *rd, const struct ans_layout *lay,
     unsigned *col_r)
{
	unsigned ncols;

	if (has_columns(rd, lay->ncols[0]))
		ncols = lay->ncols[0];
	else if (has_columns(rd, lay->ncols[1]))
		ncols = lay->ncols[1];
	else
		return 0;
	*col_r = 0;
	for (size_t i = 0; i < lay->n_checks; i++) {
		const struct ans_check *c = &lay->checks[i];
		char folded[ANS_FOLD_MAX];

		fold_label(rd->f[c->col - 1], folded, sizeof(folded));
		for (size_t k = 0; k < N_ELEMENTS(c->need); k++)
			if (c->need[k] != NULL &&
			    strstr(folded, c->need[k]) == NULL) {
				*col_r = c->col;
				return 0;
			}
	}
	return ncols;
}

/* echo_len - how much of v to quote: at most ANS_ECHO_MAX octets, cut on
 * a character boundary. */
static size_t
echo_len(struct strv v)
{
	size_t n = v.len;

	if (n > ANS_ECHO_MAX) {
		n = ANS_ECHO_MAX;
		while (n > 0 && ((unsigned char)v.p[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

/* header - the first line names the layout; any fault is the file's. */
static int
header(struct ans_reader *rd, int fmt, const char *p, size_t len)
{
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		len -= 3;
	}
	if (len == 0) {
		seterr(rd, 1, "no header line (the first line is blank)");
		return ERR_PROTO;
	}
	if (len > DIR_LINE_MAX) {
		seterr(rd, 1, "header line longer than %d bytes",
		    DIR_LINE_MAX);
		return ERR_PROTO;
	}
	if (split(rd, p, len) < 0) {
		seterr(rd, 1, "header line: %s", rd->reason);
		return ERR_PROTO;
	}
	const struct ans_layout *near = NULL;	/* the count fits */
	unsigned near_col = 0;
	for (size_t i = 0; i < N_ELEMENTS(layouts); i++) {
		const struct ans_layout *lay = &layouts[i];
		unsigned col = 0;
		if (fmt != DIR_FMT_UNKNOWN && fmt != lay->fmt)
			continue;
		unsigned n = fits(rd, lay, &col);
		if (n > 0) {
			rd->lay = lay;
			rd->ncols = n;
			return 0;
		}
		if (col > 0 && near == NULL) {
			near = lay;
			near_col = col;
		}
	}

	/* quote the first label, cut on a character boundary */
	struct strv first = field(rd, 1);
	size_t n = echo_len(first);
	const char *more = n < first.len ? "..." : "";
	const char *expect;
	if (near != NULL)
		expect = near->expect;
	else if (fmt == DIR_FMT_MSS)
		expect = layouts[0].expect;
	else if (fmt == DIR_FMT_PS)
		expect = layouts[1].expect;
	else
		expect = "an MSS or PS extract";
	char which[ANS_REASON_MAX / 2] = "";
	if (near != NULL) {
		/* the count fits: say which label does not */
		struct strv v = field(rd, near_col);
		snprintf(which, sizeof(which), "; column %u is '%.*s', not "
		    "'%s'", near_col, (int)echo_len(v), v.p,
		    near->labels[near_col - 1]);
	}
	seterr(rd, 1, "unknown header layout: %u columns, first '%.*s%s' "
	    "(expected %s%s)", columns(rd), (int)n, first.p, more, expect,
	    which);
	return ERR_PROTO;
}

/* data_line - one line after the header: checked, mapped, handed on. */
static int
data_line(struct ans_reader *rd, const char *p, size_t len)
{
	struct dir_record *r = rd->rec;

	rd->o->lines_r++;
	if (len > DIR_LINE_MAX) {
		(void)why(rd, "line longer than %d bytes", DIR_LINE_MAX);
		return bad_line(rd);
	}
	if (split(rd, p, len) < 0)
		return bad_line(rd);
	if (!has_columns(rd, rd->ncols)) {
		unsigned ncols = columns(rd);
		(void)why(rd, "%u column%s, expected %u", ncols,
		    ncols == 1 ? "" : "s", rd->ncols);
		return bad_line(rd);
	}
	dir_record_init(r);
	int m = rd->lay->fmt == DIR_FMT_MSS ? map_mss(rd) : map_ps(rd);
	if (m < 0)
		return bad_line(rd);
	memcpy(r->src_file, rd->src_file, sizeof(r->src_file));
	r->src_line = rd->line > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)rd->line;
	if (rd->emit == NULL)
		return 0;
	int e = rd->emit(r, rd->arg);
	return e < 0 ? e : 0;
}

/* nul_column - the column of the first NUL of p[len], for the message. */
static unsigned
nul_column(const char *p, size_t len)
{
	const char *z = memchr(p, '\0', len);
	unsigned col = 1;

	for (const char *q = p; z != NULL && q < z; q++)
		col += *q == '|';
	return col;
}

/* handle_line - one complete line (its LF removed). */
static int
handle_line(struct ans_reader *rd, int fmt, const char *p, size_t len)
{
	if (len > 0 && p[len - 1] == '\r')
		len--;
	/* a NUL byte: not a text file, whatever the other lines say */
	if (memchr(p, '\0', len) != NULL) {
		seterr(rd, rd->line, "NUL byte in column %u (not a text "
		    "file)", nul_column(p, len));
		return ERR_PROTO;
	}
	if (rd->lay == NULL)
		return header(rd, fmt, p, len);
	if (len == 0)
		return 0;		/* blank lines mean nothing */
	return data_line(rd, p, len);
}

/* copy_name - the display name as the records' src_file: cut on a
 * character boundary when long, and only its valid UTF-8 prefix. */
static void
copy_name(char *dst, size_t size, const char *name)
{
	size_t n = strnlen(name, size - 1), i = 0;

	while (i < n) {
		size_t k = utf8_seq((const unsigned char *)name + i, n - i);
		if (k == 0 || (unsigned char)name[i] < 0x20)
			break;
		i += k;
	}
	memcpy(dst, name, i);
	dst[i] = '\0';
}

/* open_file - a regular file, opened without blocking (opening a FIFO
 * that nobody writes would hang) and checked on its descriptor. */
static int
open_file(struct ans_reader *rd, const char *path)
{
	struct stat sb;

	rd->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (rd->fd < 0) {
		seterr(rd, 0, "%s", strerror(errno));
		return ERR_IO;
	}
	if (fstat(rd->fd, &sb) != 0) {
		seterr(rd, 0, "%s", strerror(errno));
		return ERR_IO;
	}
	if (!S_ISREG(sb.st_mode)) {
		seterr(rd, 0, "not a regular file (%s)",
		    S_ISDIR(sb.st_mode) ? "a directory" :
		    S_ISFIFO(sb.st_mode) ? "a FIFO" :
		    S_ISSOCK(sb.st_mode) ? "a socket" : "a device");
		return ERR_INVAL;
	}
	int fl = fcntl(rd->fd, F_GETFL);
	if (fl < 0 || fcntl(rd->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		seterr(rd, 0, "%s", strerror(errno));
		return ERR_IO;
	}
	return 0;
}

/*
 * run - the read loop. buf[start, end) holds what was read and not yet
 * handled. Complete lines are handled in place; the unfinished tail is
 * moved to the front before the next read. A tail longer than any line
 * may be is reported once and then skipped up to its newline (skip).
 */
static int
run(struct ans_reader *rd, int fmt)
{
	char *buf = rd->buf;
	size_t start = 0, end = 0;
	bool skip = false;

	for (;;) {
		while (start < end) {
			char *p = buf + start;
			char *nl = memchr(p, '\n', end - start);
			if (nl == NULL)
				break;
			size_t len = (size_t)(nl - p);
			start += len + 1;
			rd->line++;
			if (skip) {
				/* the rest of a line already reported */
				skip = false;
				if (memchr(p, '\0', len) != NULL) {
					seterr(rd, rd->line, "NUL byte (not "
					    "a text file)");
					return ERR_PROTO;
				}
				continue;
			}
			int r = handle_line(rd, fmt, p, len);
			if (r < 0)
				return r;
		}

		size_t rem = end - start;
		if (rem > DIR_LINE_MAX + 1) {
			/* no newline within the longest line allowed */
			if (memchr(buf + start, '\0', rem) != NULL) {
				seterr(rd, rd->line + 1, "NUL byte (not a "
				    "text file)");
				return ERR_PROTO;
			}
			if (!skip) {
				rd->line++;
				if (rd->lay == NULL) {
					seterr(rd, rd->line, "header line "
					    "longer than %d bytes",
					    DIR_LINE_MAX);
					return ERR_PROTO;
				}
				rd->o->lines_r++;
				(void)why(rd, "line longer than %d bytes",
				    DIR_LINE_MAX);
				int r = bad_line(rd);
				rd->line--;	/* counted at its newline */
				if (r < 0)
					return r;
				skip = true;
			}
			start = end = 0;
			rem = 0;
		}
		if (rem > 0 && start > 0)
			memmove(buf, buf + start, rem);
		start = 0;
		end = rem;

		ssize_t n = read(rd->fd, buf + end, ANS_BUF - end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			seterr(rd, rd->line + 1, "read error: %s",
			    strerror(errno));
			return ERR_IO;
		}
		if (n == 0)
			break;
		end += (size_t)n;
	}

	if (end > 0 || skip) {
		/* the last line has no newline: the file was cut */
		if (memchr(buf, '\0', end) != NULL) {
			seterr(rd, rd->line + 1, "NUL byte (not a text "
			    "file)");
			return ERR_PROTO;
		}
		seterr(rd, rd->line + 1, "the file ends inside a line "
		    "(truncated?)");
		return ERR_PROTO;
	}
	if (rd->line == 0) {
		seterr(rd, 1, "empty file (no header line)");
		return ERR_PROTO;
	}
	return 0;
}

/*
 * dir_read_ans - see directory.h. fmt DIR_FMT_UNKNOWN takes whichever
 * layout the header fits. lines_r counts the data lines read (blank ones
 * aside), bad_r those skipped. Under strict the first bad line ends the
 * read (o->bad is not called then: err says it). When emit returns < 0
 * the read stops and that code is returned with err left as emit left
 * it, so that the emitter's own message survives.
 */
int
dir_read_ans(const char *path, int fmt, struct dir_read_opts *o,
	     dir_emit_fn *emit, void *arg, char *err, size_t errlen)
{
	struct dir_read_opts dflt = { 0 };
	struct ans_reader rd = {
		.fd = -1,
		.o = o != NULL ? o : &dflt,
		.emit = emit,
		.arg = arg,
		.err = err,
		.errlen = err != NULL ? errlen : 0,
	};
	int r;

	rd.o->bad_r = 0;
	rd.o->lines_r = 0;
	if (path == NULL)
		return ERR_INVAL;
	rd.name = rd.o->display_name != NULL ? rd.o->display_name : path;
	if (fmt != DIR_FMT_UNKNOWN && fmt != DIR_FMT_MSS &&
	    fmt != DIR_FMT_PS) {
		seterr(&rd, 0, "format %s is not an ANS extract",
		    dir_format_name(fmt));
		return ERR_INVAL;
	}
	copy_name(rd.src_file, sizeof(rd.src_file), rd.name);
	r = open_file(&rd, path);
	if (r == 0) {
		rd.buf = malloc(ANS_BUF);
		rd.rec = malloc(sizeof(*rd.rec));
		if (rd.buf == NULL || rd.rec == NULL) {
			seterr(&rd, 0, "out of memory");
			r = ERR_NOMEM;
		} else {
			r = run(&rd, fmt);
		}
	}
	if (rd.fd >= 0)
		close(rd.fd);
	free(rd.buf);
	free(rd.rec);
	return r;
}
