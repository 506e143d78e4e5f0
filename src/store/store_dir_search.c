/* SPDX-License-Identifier: MIT */
/*
 * store_dir_search.c - placeholder (being written).
 */
typedef int mss_placeholder_store_dir_search;
