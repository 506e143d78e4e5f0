/* SPDX-License-Identifier: MIT */
/* pki_smime.h - placeholder (being written). */
