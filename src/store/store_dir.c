/* SPDX-License-Identifier: MIT */
/*
 * store_dir.c - placeholder (being written).
 */
typedef int mss_placeholder_store_dir;
