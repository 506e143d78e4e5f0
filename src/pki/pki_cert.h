/* SPDX-License-Identifier: MIT */
/* pki_cert.h - placeholder (being written). */
