/* SPDX-License-Identifier: MIT */
/*
 * dir_phone.c - placeholder (being written).
 */
typedef int mss_placeholder_dir_phone;
