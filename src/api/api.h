/* SPDX-License-Identifier: MIT */
/*
 * api.h - the HTTPS listener (evhttp over OpenSSL). For now it serves
 * mail client autoconfiguration (Thunderbird's config-v1.1.xml); the
 * events and directory APIs will join it.
 */
#ifndef MSS_API_H
#define MSS_API_H

struct loop;

/* api_attach - serve HTTPS on the listening socket fd (not taken: a
 * duplicate is used) from loop l. Returns 0 or a negative ERR_*. */
int api_attach(struct loop *l, int fd);
/* api_detach - stop serving on loop l (its thread). */
void api_detach(struct loop *l);

#endif
