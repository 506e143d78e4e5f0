/* SPDX-License-Identifier: MIT */
/*
 * store_api.h - API clients and their bearer tokens (being written).
 */
#ifndef MSS_STORE_API_H
#define MSS_STORE_API_H
#endif
