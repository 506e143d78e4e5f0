/* SPDX-License-Identifier: MIT */
/*
 * trust.h - the MSSanté trust space as files and names: reading the white
 * list XML published by ANS (namespace https://listeblanche.mssante.fr/
 * schema, domains in //Domaine/Nom), and turning domain names into the
 * lower-case A-label form (IDNA, RFC 5891; Punycode, RFC 3492) in which
 * they are stored and compared with SMTP domains.
 */
#ifndef MSS_RELAY_TRUST_H
#define MSS_RELAY_TRUST_H

#include <stddef.h>

#include "store/store.h"

#define TRUST_LIST_MAX 100000	/* domains in one list */
#define TRUST_FILE_MAX (64 * 1024 * 1024)

/*
 * trust_domain_normalize - trim, lower-case, and convert a UTF-8 domain
 * name to its A-label form ("hôpital.mssante.fr" ->
 * "xn--hpital-ixa.mssante.fr") into out[size]. Returns 0, or ERR_INVAL
 * with a reason in *why (not a domain name, empty label, label over 63,
 * name over 253, invalid UTF-8).
 */
int trust_domain_normalize(const char *in, char *out, size_t size,
			   const char **why);

/*
 * trust_xml_load - the domains of a white-list file, normalized and
 * deduplicated, each with source "import" and the given time, into a
 * malloc'd array. Streaming (libxml2 reader, no network, no entities,
 * no DTD loading). Returns 0, or a negative ERR_* with "FILE:LINE:
 * reason" in err (invalid XML, wrong root or namespace, a name that is
 * not a domain — unless skip_bad, which then only counts it in
 * *n_bad_r).
 */
int trust_xml_load(const char *path, int64_t now, bool skip_bad,
		   struct store_trust **list_r, size_t *n_r, size_t *n_bad_r,
		   char *err, size_t errlen);

#endif
