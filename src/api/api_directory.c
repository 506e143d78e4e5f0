/* SPDX-License-Identifier: MIT */
/*
 * api_directory.c - placeholder (being written).
 */
typedef int mss_placeholder_api_directory;
