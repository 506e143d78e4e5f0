/* SPDX-License-Identifier: MIT */
/*
 * fold.c - placeholder (being written).
 */
typedef int mss_placeholder_fold;
