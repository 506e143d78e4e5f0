/* SPDX-License-Identifier: MIT */
/*
 * store_cert.c - placeholder (being written).
 */
typedef int mss_placeholder_store_cert;
