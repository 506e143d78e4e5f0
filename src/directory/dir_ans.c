/* SPDX-License-Identifier: MIT */
/*
 * dir_ans.c - placeholder (being written).
 */
typedef int mss_placeholder_dir_ans;
