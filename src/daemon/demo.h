/* SPDX-License-Identifier: MIT */
/*
 * demo.h - the two demonstration accounts of the embedded development
 * configuration: created on first start with generated passwords, which
 * are kept (0600) beside the store so every start can print them.
 */
#ifndef MSS_DAEMON_DEMO_H
#define MSS_DAEMON_DEMO_H

#include <stdio.h>

struct config;
struct store;

/* demo_ensure - create the accounts if the store has none; then print
 * them to out (may be NULL). Returns 0 or a negative ERR_*. */
int demo_ensure(const struct config *cfg, struct store *st, FILE *out);

#endif
