/* SPDX-License-Identifier: MIT */
/*
 * dir_fhir.c - placeholder (being written).
 */
typedef int mss_placeholder_dir_fhir;
