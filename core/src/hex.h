/*
 * hex.h - hex digits both ways, for ids and checksums (model.c,
 * checksum.c). Inline: SQLite rows are read back as hex by the million
 * (a full digest reads one per entry).
 */
#ifndef VSS_HEX_H
#define VSS_HEX_H

#include <stdint.h>

/* Digit values + 1, 0 for anything else (hex.c). */
extern const int8_t vss_hex_tbl[256];

/* 0..15 for a hex digit of either case, -1 for anything else. */
static inline int vss_hex_val(char c) {
  return vss_hex_tbl[(uint8_t)c] - 1;
}

/* Two lowercase digits of b at out[0], out[1]. */
static inline void vss_hex_byte(uint8_t b, char *out) {
  out[0] = "0123456789abcdef"[b >> 4];
  out[1] = "0123456789abcdef"[b & 0xf];
}

#endif
