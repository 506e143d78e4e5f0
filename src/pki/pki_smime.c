/* SPDX-License-Identifier: MIT */
/*
 * pki_smime.c - placeholder (being written).
 */
typedef int mss_placeholder_pki_smime;
