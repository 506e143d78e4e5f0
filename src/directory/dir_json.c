/* SPDX-License-Identifier: MIT */
/*
 * dir_json.c - directory records as JSON (jansson): one record to and
 * from an object whose fields are those of struct dir_record, and files
 * of local records: one object, an array of objects, or one object per
 * line (JSON Lines), told apart by the first byte that is not a space.
 *
 * The file is read whole (at most DIR_JSON_FILE_MAX bytes) but decoded
 * one record at a time, so memory holds the text and one object. A
 * syntax error ends the read ("FILE:LINE: column C: ..."); a record
 * whose fields are wrong is a bad entry ("FILE:LINE: reason", LINE where
 * its object starts): skipped, or the end of the read when strict.
 *
 * From JSON, every field is checked: unknown names, wrong types, strings
 * too long for their array, control characters, mailboxes, phone
 * numbers (normalized to E.164), Web Push keys (base64url of a 65-byte
 * uncompressed P-256 point and a 16-byte secret), channels and quiet
 * hours. null stands for an absent field. "source" and "source_kind"
 * are read-only provenance: written by dir_record_to_json, ignored here.
 * dir_record_from_json's err holds the reason alone, without file.
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

#include <jansson.h>
#include <sodium.h>

#include "core/err.h"
#include "core/str.h"

#define DIR_JSON_FILE_MAX ((size_t)64 << 20)	/* 64 MiB */
#define JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK)
#define ECHO_MAX 60		/* octets of a bad value quoted */
#define P256_POINT 65		/* uncompressed: 0x04, X, Y */
#define PUSH_AUTH 16

/* ---- one record ---- */

#define FIELD(f) { #f, offsetof(struct dir_record, f), \
	sizeof(((struct dir_record *)0)->f) }

/* The string fields, in the order of the struct. */
static const struct str_field {
	const char *name;
	size_t off, size;
} str_fields[] = {
	FIELD(key),
	FIELD(idnat), FIELD(id_type), FIELD(rpps), FIELD(civility),
	FIELD(title), FIELD(family), FIELD(given), FIELD(profession_code),
	FIELD(profession), FIELD(category), FIELD(specialty_code),
	FIELD(specialty), FIELD(role),
	FIELD(org_id), FIELD(finess), FIELD(siret), FIELD(siren),
	FIELD(org_name), FIELD(service),
	FIELD(street), FIELD(postcode), FIELD(city), FIELD(country),
	FIELD(lang), FIELD(cert_ref), FIELD(account),
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fail - the reason into err; ERR_INVAL. */
static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ERR_INVAL;
}

/* echo - a value as it may be quoted in a message: at most ECHO_MAX
 * octets, control characters, quote and backslash as \xNN. */
static const char *
echo(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < size && o < ECHO_MAX; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (*s != '\0' && o + 4 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

#define Q_LEN (ECHO_MAX * 4 + 8)

/* get_str - a JSON string into dst[size]; name is the field's name in
 * messages. null or an absent member (v NULL) is the empty string. */
static int
get_str(json_t *v, const char *name, char *dst, size_t size, char *err,
	size_t errlen)
{
	if (v == NULL || json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, errlen, "field '%s' must be a string", name);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (strlen(s) != n)
		return fail(err, errlen, "field '%s' contains a NUL character",
		    name);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(err, errlen, "field '%s' contains a "
			    "control character", name);
	if (n >= size)
		return fail(err, errlen, "field '%s' is longer than %zu bytes",
		    name, size - 1);
	memcpy(dst, s, n + 1);
	return 0;
}

/* check_keys - every member of the nested object v is one of names[]. */
static int
check_keys(json_t *v, const char *name, const char *const *names,
	   char *err, size_t errlen)
{
	const char *k;
	json_t *m;
	char q[Q_LEN];

	json_object_foreach(v, k, m) {
		size_t i = 0;
		while (names[i] != NULL && strcmp(names[i], k) != 0)
			i++;
		if (names[i] == NULL)
			return fail(err, errlen, "unknown field '%s.%s'", name,
			    echo(k, q, sizeof(q)));
	}
	return 0;
}

/* get_array - v as an array of at most max elements (null: none). */
static int
get_array(json_t *v, const char *name, size_t max, size_t *n_r, char *err,
	  size_t errlen)
{
	*n_r = 0;
	if (json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return fail(err, errlen, "field '%s' must be an array", name);
	if (json_array_size(v) > max)
		return fail(err, errlen, "field '%s' has more than %zu "
		    "elements", name, max);
	*n_r = json_array_size(v);
	return 0;
}

static int
get_mailboxes(json_t *v, struct dir_record *rec, char *err, size_t errlen)
{
	static const char *const keys[] = { "address", "type", NULL };
	char name[48], addr[STORE_ADDR_MAX], type[4], q[Q_LEN];
	size_t n;
	int r;

	if ((r = get_array(v, "mailboxes", DIR_MBOX_MAX, &n, err,
	    errlen)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(v, i);
		snprintf(name, sizeof(name), "mailboxes[%zu]", i);
		if (!json_is_object(m))
			return fail(err, errlen, "field '%s' must be an object "
			    "{\"address\", \"type\"}", name);
		if ((r = check_keys(m, name, keys, err, errlen)) < 0)
			return r;
		snprintf(name, sizeof(name), "mailboxes[%zu].address", i);
		if ((r = get_str(json_object_get(m, "address"), name, addr,
		    sizeof(addr), err, errlen)) < 0)
			return r;
		if (addr[0] == '\0')
			return fail(err, errlen, "field '%s' is missing", name);
		snprintf(name, sizeof(name), "mailboxes[%zu].type", i);
		if ((r = get_str(json_object_get(m, "type"), name, type,
		    sizeof(type), err, errlen)) < 0)
			return fail(err, errlen, "field '%s' must be PER, CAB, "
			    "ORG or APP", name);
		if (type[0] == '\0')
			memcpy(type, "PER", 4);
		if (strcmp(type, "PER") != 0 && strcmp(type, "CAB") != 0 &&
		    strcmp(type, "ORG") != 0 && strcmp(type, "APP") != 0)
			return fail(err, errlen, "field '%s' must be PER, CAB, "
			    "ORG or APP", name);
		r = dir_record_add_mailbox(rec, addr, type);
		if (r == ERR_LIMIT)
			return fail(err, errlen, "field 'mailboxes' has more "
			    "than %d elements", DIR_MBOX_MAX);
		if (r < 0)
			return fail(err, errlen, "field 'mailboxes[%zu]': '%s' "
			    "is not a mailbox address", i,
			    echo(addr, q, sizeof(q)));
	}
	return 0;
}

static int
get_phones(json_t *v, struct dir_record *rec, char *err, size_t errlen)
{
	char name[48], in[64], e164[DIR_PHONE_LEN], q[Q_LEN];
	size_t n;
	int r;

	if ((r = get_array(v, "phones", DIR_PHONE_MAX, &n, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "phones[%zu]", i);
		if ((r = get_str(json_array_get(v, i), name, in, sizeof(in),
		    err, errlen)) < 0)
			return r;
		if (dir_phone_e164(in, e164, sizeof(e164)) < 0)
			return fail(err, errlen, "field '%s': '%s' is not a "
			    "phone number", name, echo(in, q, sizeof(q)));
		if (dir_record_add_phone(rec, e164) < 0)
			return fail(err, errlen, "field '%s': cannot add '%s'",
			    name, e164);
	}
	return 0;
}

/* b64url_len - the decoded size of s, unpadded or padded base64url;
 * -1 when it is neither. */
static long
b64url_len(const char *s)
{
	unsigned char bin[128];
	size_t len = 0, n = strlen(s);
	const char *end = NULL;

	if (n == 0 || n > 4 * sizeof(bin) / 3)
		return -1;
	if (sodium_base642bin(bin, sizeof(bin), s, n, NULL, &len, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || end != s + n) {
		if (sodium_base642bin(bin, sizeof(bin), s, n, NULL, &len, &end,
		    sodium_base64_VARIANT_URLSAFE) != 0 || end != s + n)
			return -1;
	}
	/* an uncompressed point starts with 4: say so for the keys */
	if (len == P256_POINT && bin[0] != 0x04)
		return -2;
	return (long)len;
}

static int
get_push(json_t *v, struct dir_record *rec, char *err, size_t errlen)
{
	static const char *const keys[] = { "endpoint", "p256dh", "auth",
	    NULL };
	char name[48];
	size_t n;
	int r;

	if ((r = get_array(v, "push", DIR_PUSH_MAX, &n, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(v, i);
		struct dir_push *p = &rec->push[i];
		snprintf(name, sizeof(name), "push[%zu]", i);
		if (!json_is_object(m))
			return fail(err, errlen, "field '%s' must be an object "
			    "{\"endpoint\", \"p256dh\", \"auth\"}", name);
		if ((r = check_keys(m, name, keys, err, errlen)) < 0)
			return r;
		for (size_t k = 0; keys[k] != NULL; k++)
			if (json_object_get(m, keys[k]) == NULL)
				return fail(err, errlen, "field '%s.%s' is "
				    "missing", name, keys[k]);
		snprintf(name, sizeof(name), "push[%zu].endpoint", i);
		if ((r = get_str(json_object_get(m, "endpoint"), name,
		    p->endpoint, sizeof(p->endpoint), err, errlen)) < 0)
			return r;
		if (strncmp(p->endpoint, "https://", 8) != 0 ||
		    p->endpoint[8] == '\0' || strchr(p->endpoint, ' ') != NULL)
			return fail(err, errlen, "field '%s' must be an "
			    "https:// URL", name);
		snprintf(name, sizeof(name), "push[%zu].p256dh", i);
		if ((r = get_str(json_object_get(m, "p256dh"), name,
		    p->p256dh, sizeof(p->p256dh), err, errlen)) < 0)
			return r;
		if (b64url_len(p->p256dh) != P256_POINT)
			return fail(err, errlen, "field '%s' must be the "
			    "base64url of a 65-byte uncompressed P-256 point",
			    name);
		snprintf(name, sizeof(name), "push[%zu].auth", i);
		if ((r = get_str(json_object_get(m, "auth"), name, p->auth,
		    sizeof(p->auth), err, errlen)) < 0)
			return r;
		if (b64url_len(p->auth) != PUSH_AUTH)
			return fail(err, errlen, "field '%s' must be the "
			    "base64url of 16 bytes", name);
		rec->n_push = i + 1;
	}
	return 0;
}

static int
get_channels(json_t *v, struct dir_record *rec, char *err, size_t errlen)
{
	char name[48], s[16], q[Q_LEN];
	size_t n;
	int r;

	if ((r = get_array(v, "channels", DIR_CHANNELS_MAX, &n, err,
	    errlen)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(v, i);
		snprintf(name, sizeof(name), "channels[%zu]", i);
		if (!json_is_string(m))
			return fail(err, errlen, "field '%s' must be a string",
			    name);
		uint8_t ch = json_string_length(m) < sizeof(s) &&
		    str_copy(s, sizeof(s), json_string_value(m)) == 0 ?
		    dir_channel_parse(s) : DIR_CH_NONE;
		if (ch == DIR_CH_NONE)
			return fail(err, errlen, "field '%s': unknown channel "
			    "'%s' (mail, push or sms)", name,
			    echo(json_string_value(m), q, sizeof(q)));
		for (size_t j = 0; j < rec->n_channels; j++)
			if (rec->channels[j] == ch)
				return fail(err, errlen, "field '%s': channel "
				    "'%s' given twice", name, s);
		rec->channels[rec->n_channels++] = ch;
	}
	return 0;
}

/* hhmm - "HH:MM" as minutes after midnight, or -1. */
static int
hhmm(const char *s)
{
	if (strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	return h < 24 && m < 60 ? h * 60 + m : -1;
}

static int
get_quiet(json_t *v, struct dir_record *rec, char *err, size_t errlen)
{
	static const char *const keys[] = { "start", "end", NULL };
	char s[8];
	int r, t[2];

	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail(err, errlen, "field 'quiet_hours' must be an "
		    "object {\"start\": \"HH:MM\", \"end\": \"HH:MM\"}");
	if ((r = check_keys(v, "quiet_hours", keys, err, errlen)) < 0)
		return r;
	for (int i = 0; i < 2; i++) {
		const char *name = i == 0 ? "quiet_hours.start" :
		    "quiet_hours.end";
		json_t *m = json_object_get(v, keys[i]);
		if (m == NULL || json_is_null(m) || get_str(m, name, s,
		    sizeof(s), err, errlen) < 0 || (t[i] = hhmm(s)) < 0)
			return fail(err, errlen, "field '%s' must be a time "
			    "\"HH:MM\"", name);
	}
	rec->quiet_start = (int16_t)t[0];
	rec->quiet_end = (int16_t)t[1];
	return 0;
}

static int
get_id(json_t *v, struct dir_record *rec, char *err, size_t errlen)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)UINT32_MAX)
		return fail(err, errlen, "field 'id' must be an integer from "
		    "0 to %lu", (unsigned long)UINT32_MAX);
	rec->id = (uint32_t)json_integer_value(v);
	return 0;
}

/* check_key - a given key names its source and something after it. */
static int
check_key(const struct dir_record *rec, char *err, size_t errlen)
{
	uint8_t src = dir_source_of_key(rec->key);
	const char *prefix = src != DIR_SRC_NONE ? dir_source_prefix(src) :
	    NULL;
	char q[Q_LEN];

	if (prefix == NULL || strlen(rec->key) <= strlen(prefix))
		return fail(err, errlen, "field 'key': '%s' is not 'mss:', "
		    "'ps:', 'fhir:' or 'local:' followed by an id",
		    echo(rec->key, q, sizeof(q)));
	return 0;
}

/* default_key - "local:" + first mailbox, idnat, or 16 hex digits of a
 * hash of the names and postcode: the same record imported again gets
 * the same key, so a re-import finds it unchanged. */
static int
default_key(struct dir_record *rec, char *err, size_t errlen)
{
	char hex[17];
	int r;

	if (rec->n_mbox > 0)
		r = str_fmt(rec->key, sizeof(rec->key), "local:%s",
		    rec->mbox[0].addr);
	else if (rec->idnat[0] != '\0')
		r = str_fmt(rec->key, sizeof(rec->key), "local:%s",
		    rec->idnat);
	else {
		unsigned char h[8];
		crypto_generichash_state st;
		const char *parts[] = { rec->family, rec->given,
		    rec->org_name, rec->postcode, rec->city };
		if (crypto_generichash_init(&st, NULL, 0, sizeof(h)) != 0)
			return fail(err, errlen, "no hash for a default key");
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			(void)crypto_generichash_update(&st,
			    (const unsigned char *)parts[i],
			    strlen(parts[i]) + 1);
		(void)crypto_generichash_final(&st, h, sizeof(h));
		for (size_t i = 0; i < sizeof(h); i++)
			(void)str_fmt(hex + 2 * i, 3, "%02x", h[i]);
		r = str_fmt(rec->key, sizeof(rec->key), "local:%s", hex);
	}
	if (r < 0)
		return fail(err, errlen, "field 'key': the default key "
		    "'local:' + address is longer than %d bytes",
		    DIR_KEY_MAX - 1);
	return 0;
}

int
dir_record_from_json(json_t *obj, struct dir_record *rec, char *err,
		     size_t errlen)
{
	const char *name;
	json_t *v;
	char q[Q_LEN];
	int r = 0;

	dir_record_init(rec);
	if (errlen > 0)
		err[0] = '\0';
	if (!json_is_object(obj))
		return fail(err, errlen, "a record must be a JSON object");
	json_object_foreach(obj, name, v) {
		const struct str_field *f = NULL;
		for (size_t i = 0; i < sizeof(str_fields) /
		    sizeof(str_fields[0]); i++)
			if (strcmp(name, str_fields[i].name) == 0)
				f = &str_fields[i];
		if (f != NULL)
			r = get_str(v, f->name, (char *)rec + f->off, f->size,
			    err, errlen);
		else if (strcmp(name, "id") == 0)
			r = get_id(v, rec, err, errlen);
		else if (strcmp(name, "mailboxes") == 0)
			r = get_mailboxes(v, rec, err, errlen);
		else if (strcmp(name, "phones") == 0)
			r = get_phones(v, rec, err, errlen);
		else if (strcmp(name, "push") == 0)
			r = get_push(v, rec, err, errlen);
		else if (strcmp(name, "channels") == 0)
			r = get_channels(v, rec, err, errlen);
		else if (strcmp(name, "quiet_hours") == 0)
			r = get_quiet(v, rec, err, errlen);
		else if (strcmp(name, "source") == 0 ||
		    strcmp(name, "source_kind") == 0)
			r = 0;	/* provenance: the store's to set */
		else if (strcmp(name, "resourceType") == 0)
			r = fail(err, errlen, "unknown field 'resourceType': "
			    "a FHIR resource in JSON? FHIR bundles are read "
			    "in XML (_format=xml)");
		else
			r = fail(err, errlen, "unknown field '%s'",
			    echo(name, q, sizeof(q)));
		if (r < 0)
			return r;
	}
	if (rec->key[0] != '\0')
		return check_key(rec, err, errlen);
	return default_key(rec, err, errlen);
}

/* jstr - a record string as JSON; bytes that are not UTF-8 (a record
 * that came from elsewhere) become '?' rather than failing. */
static json_t *
jstr(const char *s)
{
	size_t n = strlen(s);
	char copy[DIR_PUSH_ENDPOINT];

	if (utf8_valid(s, n))
		return json_stringn(s, n);
	if (n >= sizeof(copy))
		n = sizeof(copy) - 1;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	return json_stringn(copy, n);
}

/* put - o[k] = v; a failure (v NULL included) is remembered in *bad. */
static void
put(json_t *o, const char *k, json_t *v, bool *bad)
{
	if (v == NULL || json_object_set_new(o, k, v) != 0)
		*bad = true;
}

static void
append(json_t *a, json_t *v, bool *bad)
{
	if (v == NULL || json_array_append_new(a, v) != 0)
		*bad = true;
}

json_t *
dir_record_to_json(const struct dir_record *rec)
{
	json_t *o = json_object(), *a;
	bool bad = o == NULL;
	uint8_t src;

	if (bad)
		return NULL;
	if (rec->id != 0)
		put(o, "id", json_integer(rec->id), &bad);
	for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]);
	    i++) {
		const struct str_field *f = &str_fields[i];
		const char *s = (const char *)rec + f->off;
		if (strnlen(s, f->size) < f->size && s[0] != '\0')
			put(o, f->name, jstr(s), &bad);
	}
	if (rec->n_mbox > 0 && rec->n_mbox <= DIR_MBOX_MAX) {
		put(o, "mailboxes", a = json_array(), &bad);
		for (size_t i = 0; a != NULL && i < rec->n_mbox; i++)
			append(a, json_pack("{s:o, s:o}", "address",
			    jstr(rec->mbox[i].addr), "type",
			    jstr(rec->mbox[i].type)), &bad);
	}
	if (rec->n_phone > 0 && rec->n_phone <= DIR_PHONE_MAX) {
		put(o, "phones", a = json_array(), &bad);
		for (size_t i = 0; a != NULL && i < rec->n_phone; i++)
			append(a, jstr(rec->phone[i]), &bad);
	}
	if (rec->n_push > 0 && rec->n_push <= DIR_PUSH_MAX) {
		put(o, "push", a = json_array(), &bad);
		for (size_t i = 0; a != NULL && i < rec->n_push; i++)
			append(a, json_pack("{s:o, s:o, s:o}", "endpoint",
			    jstr(rec->push[i].endpoint), "p256dh",
			    jstr(rec->push[i].p256dh), "auth",
			    jstr(rec->push[i].auth)), &bad);
	}
	if (rec->n_channels > 0 && rec->n_channels <= DIR_CHANNELS_MAX) {
		put(o, "channels", a = json_array(), &bad);
		for (size_t i = 0; a != NULL && i < rec->n_channels; i++) {
			const char *ch = dir_channel_name(rec->channels[i]);
			append(a, json_string(ch != NULL ? ch : "?"), &bad);
		}
	}
	if (rec->quiet_start >= 0 && rec->quiet_start < 1440 &&
	    rec->quiet_end >= 0 && rec->quiet_end < 1440) {
		char s[12], e[12];
		snprintf(s, sizeof(s), "%02d:%02d", rec->quiet_start / 60,
		    rec->quiet_start % 60);
		snprintf(e, sizeof(e), "%02d:%02d", rec->quiet_end / 60,
		    rec->quiet_end % 60);
		put(o, "quiet_hours", json_pack("{s:s, s:s}", "start", s,
		    "end", e), &bad);
	}
	if (rec->src_file[0] != '\0' || rec->src_date != 0 ||
	    rec->src_line != 0)
		put(o, "source", json_pack("{s:o, s:I, s:I}", "file",
		    jstr(strnlen(rec->src_file, sizeof(rec->src_file)) <
		    sizeof(rec->src_file) ? rec->src_file : ""), "date",
		    (json_int_t)rec->src_date, "line",
		    (json_int_t)rec->src_line), &bad);
	src = dir_source_of_key(rec->key);
	if (src != DIR_SRC_NONE && dir_source_name(src) != NULL)
		put(o, "source_kind", json_string(dir_source_name(src)), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- files ---- */

struct jload {
	const char *name;		/* file name in messages */
	struct dir_read_opts *o;
	dir_emit_fn *emit;
	void *arg;
	char *err;
	size_t errlen;
	/* the text and where we are in it */
	const char *buf;
	size_t len, off;
	unsigned long line;
	size_t col;			/* octets into the line, + 1 */
	bool nl;			/* skip_ws went over a newline */
};

static void seterr(struct jload *ld, unsigned long line, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

/* seterr - "FILE:LINE: reason", or "FILE: reason" when line is 0. */
static void
seterr(struct jload *ld, unsigned long line, const char *fmt, ...)
{
	char msg[DIR_ERR_MAX];
	va_list ap;

	if (ld->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(ld->err, ld->errlen, "%s:%lu: %s", ld->name, line,
		    msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->name, msg);
}

/* advance - move over n octets, counting lines. */
static void
advance(struct jload *ld, size_t n)
{
	for (size_t i = 0; i < n && ld->off < ld->len; i++) {
		if (ld->buf[ld->off++] == '\n') {
			ld->line++;
			ld->col = 1;
			ld->nl = true;
		} else {
			ld->col++;
		}
	}
}

/* skip_ws - over JSON's white space; the next octet, or -1 at the end. */
static int
skip_ws(struct jload *ld)
{
	ld->nl = false;
	while (ld->off < ld->len &&
	    strchr(" \t\r\n", ld->buf[ld->off]) != NULL &&
	    ld->buf[ld->off] != '\0')
		advance(ld, 1);
	return ld->off < ld->len ? (unsigned char)ld->buf[ld->off] : -1;
}

static int
syntax(struct jload *ld, const char *what)
{
	if (ld->off >= ld->len)
		seterr(ld, ld->line, "%s, found the end of the file "
		    "(truncated?)", what);
	else
		seterr(ld, ld->line, "column %zu: %s", ld->col, what);
	return ERR_INVAL;
}

/* report_bad - a skipped record, or the end of the read when strict. */
static int
report_bad(struct jload *ld, unsigned long line, const char *why)
{
	struct dir_read_opts *o = ld->o;

	if (o->strict) {
		seterr(ld, line, "%s", why);
		return ERR_INVAL;
	}
	o->bad_r++;
	if (o->bad != NULL)
		o->bad(ld->name, line, why, o->bad_arg);
	return 0;
}

/* clean_text - jansson's message on one line: it quotes the input near
 * the error as it is, control characters and broken UTF-8 included;
 * those become \xNN. */
static void
clean_text(const char *text, char *out, size_t size)
{
	size_t n = strnlen(text, JSON_ERROR_TEXT_LENGTH), o = 0;
	bool utf8 = utf8_valid(text, n);

	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* one_record - decode the object at the current offset and hand it on. */
static int
one_record(struct jload *ld, struct dir_record *rec)
{
	unsigned long line = ld->line;
	size_t col = ld->col;
	char why[DIR_ERR_MAX];
	json_error_t je;
	json_t *obj;
	int r;

	if (ld->off >= ld->len || ld->buf[ld->off] != '{')
		return syntax(ld, "expected a record (a JSON object)");
	obj = json_loadb(ld->buf + ld->off, ld->len - ld->off, JSON_FLAGS,
	    &je);
	if (obj == NULL) {
		/* jansson counts from the start of what it was given */
		unsigned long l = je.line > 0 ? line + (unsigned long)je.line -
		    1 : line;
		size_t c = je.column > 0 ? (size_t)je.column : 0;
		char text[JSON_ERROR_TEXT_LENGTH * 4 + 1];
		if (je.line == 1)
			c += col - 1;
		clean_text(je.text, text, sizeof(text));
		seterr(ld, l, "column %zu: %s", c, text);
		return ERR_INVAL;
	}
	if (je.position <= 0 || (size_t)je.position > ld->len - ld->off) {
		json_decref(obj);
		seterr(ld, line, "column %zu: cannot find the record's end",
		    col);
		return ERR_INVAL;
	}
	advance(ld, (size_t)je.position);
	ld->o->lines_r++;
	r = dir_record_from_json(obj, rec, why, sizeof(why));
	json_decref(obj);
	if (r < 0)
		return report_bad(ld, line, why);
	if (str_copy(rec->src_file, sizeof(rec->src_file), ld->name) < 0)
		rec->src_file[0] = '\0';
	rec->src_line = (uint32_t)line;
	if ((r = ld->emit(rec, ld->arg)) < 0) {
		/* the emitter may have said why in err: keep its words */
		if (ld->errlen > 0 && ld->err[0] == '\0')
			seterr(ld, line, "record '%s': %s", rec->key,
			    err_str(r));
		return r;
	}
	return 0;
}

/* read_array - "[" {object} ("," {object})* "]", then only spaces. */
static int
read_array(struct jload *ld, struct dir_record *rec)
{
	int c, r;

	advance(ld, 1);		/* [ */
	if ((c = skip_ws(ld)) == ']') {
		advance(ld, 1);
	} else {
		for (;;) {
			if ((r = one_record(ld, rec)) < 0)
				return r;
			c = skip_ws(ld);
			if (c == ']') {
				advance(ld, 1);
				break;
			}
			if (c != ',')
				return syntax(ld, "expected ',' or ']' after a "
				    "record");
			advance(ld, 1);
			(void)skip_ws(ld);
		}
	}
	if (skip_ws(ld) >= 0)
		return syntax(ld, "unexpected data after the array");
	return 0;
}

/* read_objects - one object, or several, each on its own line(s). */
static int
read_objects(struct jload *ld, struct dir_record *rec)
{
	int c, r;

	for (;;) {
		if ((r = one_record(ld, rec)) < 0)
			return r;
		if ((c = skip_ws(ld)) < 0)
			return 0;
		if (c != '{')
			return syntax(ld, "expected a record (a JSON object) "
			    "or the end of the file");
		if (!ld->nl)
			return syntax(ld, "a record must start on a new line");
	}
}

/* load_text - the whole file, at most DIR_JSON_FILE_MAX octets (checked
 * on the descriptor and again on what is read). */
static int
load_text(struct jload *ld, const char *path, char **text_r, size_t *len_r)
{
	struct stat sb;
	char *text = NULL;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		seterr(ld, 0, "cannot open: %s", strerror(errno));
		return ERR_IO;
	}
	if (fstat(fd, &sb) != 0) {
		seterr(ld, 0, "cannot stat: %s", strerror(errno));
		r = ERR_IO;
	} else if (!S_ISREG(sb.st_mode)) {
		seterr(ld, 0, "not a regular file");
		r = ERR_INVAL;
	} else if (sb.st_size < 0 ||
	    (uint64_t)sb.st_size > DIR_JSON_FILE_MAX) {
		seterr(ld, 0, "file larger than %zu bytes (64 MiB)",
		    DIR_JSON_FILE_MAX);
		r = ERR_LIMIT;
	} else if ((text = malloc((size_t)sb.st_size + 1)) == NULL) {
		seterr(ld, 0, "out of memory");
		r = ERR_NOMEM;
	}
	/* read what fstat promised, and look one octet further: a file
	 * that grew since is refused rather than cut */
	while (r == 0) {
		ssize_t n = read(fd, text + len, (size_t)sb.st_size + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr(ld, 0, "read: %s", strerror(errno));
			r = ERR_IO;
		} else if (n == 0) {
			break;
		} else if ((len += (size_t)n) > (size_t)sb.st_size) {
			seterr(ld, 0, "the file changed while being read");
			r = ERR_IO;
		}
	}
	if (close(fd) != 0 && r == 0) {
		seterr(ld, 0, "close: %s", strerror(errno));
		r = ERR_IO;
	}
	if (r < 0) {
		free(text);
		return r;
	}
	text[len] = '\0';
	*text_r = text;
	*len_r = len;
	return 0;
}

int
dir_read_json(const char *path, struct dir_read_opts *o, dir_emit_fn *emit,
	      void *arg, char *err, size_t errlen)
{
	struct dir_read_opts none = { 0 };
	struct jload ld = {
		.name = o != NULL && o->display_name != NULL ?
		    o->display_name : path,
		.o = o != NULL ? o : &none,
		.emit = emit, .arg = arg, .err = err, .errlen = errlen,
		.line = 1, .col = 1,
	};
	struct dir_record *rec;
	char *text = NULL;
	int c, r;

	ld.o->bad_r = ld.o->lines_r = 0;
	if (errlen > 0)
		err[0] = '\0';
	if ((r = load_text(&ld, path, &text, &ld.len)) < 0)
		return r;
	if ((rec = malloc(sizeof(*rec))) == NULL) {
		free(text);
		seterr(&ld, 0, "out of memory");
		return ERR_NOMEM;
	}
	ld.buf = text;
	if (ld.len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ld.off = 3;	/* a byte order mark, from some editors */
	c = skip_ws(&ld);
	if (c < 0) {
		seterr(&ld, 0, "no record: the file is empty");
		r = ERR_INVAL;
	} else if (c == '[') {
		r = read_array(&ld, rec);
	} else if (c == '{') {
		r = read_objects(&ld, rec);
	} else {
		r = syntax(&ld, "expected a JSON object or array");
	}
	free(rec);
	free(text);
	return r;
}
