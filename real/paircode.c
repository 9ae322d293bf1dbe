/*
 * paircode.c - pairing codes (base32 with a checksum).
 */
#include "paircode.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#define RAW_LEN (16 + 32 + 4)
static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char PREFIX[] = "vss1-";

static void check_of(const uint8_t *payload, uint8_t out[4]) {
  static const char label[] = "vss-pair-v1";
  uint8_t h[32];
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, sizeof h);
  crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
  crypto_generichash_update(&st, payload, 48);
  crypto_generichash_final(&st, h, sizeof h);
  memcpy(out, h, 4);
}

int paircode_encode(const vss_uuid *device, const uint8_t pk[32], char *out,
                    size_t cap) {
  uint8_t raw[RAW_LEN];
  uint32_t acc = 0;
  int bits = 0;
  size_t n = sizeof PREFIX - 1;

  if (cap < PAIRCODE_LEN + 1) return -1;
  memcpy(raw, device->b, 16);
  memcpy(raw + 16, pk, 32);
  check_of(raw, raw + 48);
  memcpy(out, PREFIX, n);
  for (size_t i = 0; i < RAW_LEN; i++) {
    acc = (acc << 8) | raw[i];
    bits += 8;
    while (bits >= 5) {
      out[n++] = B32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out[n++] = B32[(acc << (5 - bits)) & 31];
  out[n] = '\0';
  return 0;
}

static int b32_val(int c) {
  const char *p;
  if (c == 0) return -1;
  p = strchr(B32, tolower(c));
  return p ? (int)(p - B32) : -1;
}

int paircode_decode(const char *code, vss_uuid *device, uint8_t pk[32]) {
  uint8_t raw[RAW_LEN], check[4];
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  const char *p = code;

  while (isspace((unsigned char)*p))
    p++;
  if (strncasecmp(p, PREFIX, sizeof PREFIX - 1) != 0) return -1;
  for (p += sizeof PREFIX - 1; *p; p++) {
    int v;
    if (*p == '-' || isspace((unsigned char)*p)) continue;
    if ((v = b32_val((unsigned char)*p)) < 0) return -1;
    acc = (acc << 5) | (uint32_t)v;
    bits += 5;
    if (bits >= 8) {
      if (n == RAW_LEN) return -1;
      raw[n++] = (uint8_t)(acc >> (bits - 8));
      bits -= 8;
    }
  }
  /* 52 bytes take 84 symbols: 4 pad bits, which must be zero. */
  if (n != RAW_LEN || bits != 4 || (acc & 0xf) != 0) return -1;
  check_of(raw, check);
  if (sodium_memcmp(check, raw + 48, 4) != 0) return -2;
  memcpy(device->b, raw, 16);
  memcpy(pk, raw + 16, 32);
  return 0;
}
