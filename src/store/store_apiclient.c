/* SPDX-License-Identifier: MIT */
/*
 * store_apiclient.c - placeholder (being written).
 */
typedef int mss_placeholder_store_apiclient;
