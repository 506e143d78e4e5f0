/* SPDX-License-Identifier: MIT */
/*
 * dir_import.c - placeholder (being written).
 */
typedef int mss_placeholder_dir_import;
