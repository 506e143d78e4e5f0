/* SPDX-License-Identifier: MIT */
/*
 * pki_cert.c - placeholder (being written).
 */
typedef int mss_placeholder_pki_cert;
