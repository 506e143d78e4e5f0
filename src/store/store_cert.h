/* SPDX-License-Identifier: MIT */
/* store_cert.h - placeholder (being written). */
