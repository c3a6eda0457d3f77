#ifndef ZK_QR_H
#define ZK_QR_H

/*
 * QR codes for the terminal (libqrencode): error correction level M, smallest version that fits, a quiet zone of
 * 2 modules on every side. Two module rows per text line with UTF-8 half blocks: a light module is drawn (█ ▀ ▄),
 * a dark one is left blank, as `qrencode -t UTF8` does, so the code reads correctly as light-on-dark text (the
 * usual terminal colours); on a dark-on-light terminal it comes out inverted, which most phone scanners still read.
 * The text is often a secret (a backup key): libqrencode's symbol buffer is wiped before it is freed, but its
 * internal intermediate buffers are not, and whatever is written to out is the caller's to protect.
 */
#include <stdio.h>

#define ZK_QR_QUIET_ZONE 2

/* Side of the rendered symbol in modules (QR width + 2 * quiet zone), or -1 if text cannot be encoded. The output
   of zk_qr_render has that many columns and (modules + 1) / 2 lines. */
int zk_qr_modules(const char *text);

/* Renders text (NUL-terminated, encoded as UTF-8 bytes) to out. Returns 0, or -1 (cannot encode, write error). */
int zk_qr_render(FILE *out, const char *text);

#endif
