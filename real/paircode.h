/*
 * paircode.h - the printable pairing code: what one device shows and the
 * other types in to pin it.
 *
 *   "vss1-" base32(device uuid(16) | Ed25519 public key(32) | check(4))
 *
 * check = the first 4 bytes of BLAKE2b-256("vss-pair-v1" | uuid | key),
 * so a mistyped code is refused instead of pinning a wrong key. Lowercase
 * RFC 4648 alphabet, no padding; decoding ignores case, '-' and blanks.
 */
#ifndef VSS_REAL_PAIRCODE_H
#define VSS_REAL_PAIRCODE_H

#include <stddef.h>
#include <stdint.h>

#include "vss/model.h"

#define PAIRCODE_LEN (5 + 84) /* prefix + base32 of 52 bytes, no NUL */

int paircode_encode(const vss_uuid *device, const uint8_t pk[32], char *out,
                    size_t cap);
/* 0, or -1 for a malformed code, -2 for a checksum mismatch. */
int paircode_decode(const char *code, vss_uuid *device, uint8_t pk[32]);

#endif
