/* SPDX-License-Identifier: MIT */
/*
 * dir_json.c - placeholder (being written).
 */
typedef int mss_placeholder_dir_json;
