/*
 * content.c - see content.h. The byte stream is one 64-bit mix per
 * 8-byte word (word index + key hash), so a reader can start anywhere and
 * a 45 KB thumbnail costs a few microseconds to produce or compare.
 */
#include "content.h"

#include "util.h"

#include <math.h>
#include <string.h>

#define LIBRARY_SEED 0x76737373796e63ULL /* "vsssync": the item namespace */

void content_uuid(uint32_t n, vss_uuid *out) {
  uint64_t s = LIBRARY_SEED ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
  uint64_t a = splitmix64(&s), b = splitmix64(&s);
  memcpy(out->b, &a, 8);
  memcpy(out->b + 8, &b, 8);
  out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x40); /* version 4 */
  out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void content_key(vss_key *k, uint32_t item, vss_kind kind,
                 const char *variant) {
  vss_uuid u;
  content_uuid(item, &u);
  vss_key_set(k, &u, kind, variant);
}

static uint64_t key_hash(const vss_key *key) {
  uint64_t h = hash64(key->content.b, 16, (uint64_t)key->kind);
  return hash64(key->variant, strlen(key->variant), h);
}

uint64_t content_size(const scenario *sc, const vss_key *key) {
  size_dist d = sc_size_for(sc, key->kind, key->variant);
  sim_rng r;
  rng_seed(&r, key_hash(key) ^ sc->seed);
  double v = d.a;
  switch (d.type) {
  case DIST_UNIFORM:
    v = d.a + (d.b - d.a) * rng_unit(&r);
    break;
  case DIST_NORMAL:
    v = d.a + d.b * rng_normal(&r);
    break;
  case DIST_LOGNORMAL: {
    /* median m and a standard deviation s of the size: sigma from
     * s^2 = m^2 e^{sigma^2} (e^{sigma^2} - 1), solved for e^{sigma^2}. */
    double ratio = d.b / d.a;
    double w = (1.0 + sqrt(1.0 + 4.0 * ratio * ratio)) / 2.0;
    double sigma = sqrt(log(w));
    v = d.a * exp(sigma * rng_normal(&r));
    break;
  }
  default:
    break;
  }
  if (!(v >= 64)) v = 64;
  if (v > 1e15) v = 1e15;
  return (uint64_t)llround(v);
}

static inline uint64_t word(uint64_t seed, uint64_t i) {
  uint64_t z = seed + i * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* The first 20 bytes of a thumbnail: RIFF size WEBP "VP8 " size. */
static void webp_header(uint64_t size, uint8_t hdr[20]) {
  memcpy(hdr, "RIFF", 4);
  put_le32(hdr + 4, (uint32_t)(size - 8));
  memcpy(hdr + 8, "WEBPVP8 ", 8);
  put_le32(hdr + 16, (uint32_t)(size - 20));
}

void content_fill(const vss_key *key, uint64_t size, uint64_t off, void *buf,
                  size_t len) {
  uint8_t *out = buf;
  uint64_t seed = key_hash(key);
  uint64_t end = off + len;
  uint64_t w = off / 8;
  size_t o = 0;
  if (off % 8) {
    uint64_t x = word(seed, w++);
    size_t skip = (size_t)(off % 8), n = 8 - skip;
    if (n > len) n = len;
    memcpy(out, (uint8_t *)&x + skip, n);
    o = n;
  }
  for (; o + 8 <= len; o += 8) {
    uint64_t x = word(seed, w++);
    memcpy(out + o, &x, 8);
  }
  if (o < len) {
    uint64_t x = word(seed, w);
    memcpy(out + o, &x, len - o);
  }
  if (key->kind == VSS_KIND_THUMB && size >= 20 && off < 20) {
    uint8_t hdr[20];
    webp_header(size, hdr);
    uint64_t n = (end < 20 ? end : 20) - off;
    memcpy(out, hdr + off, (size_t)n);
  }
}

int content_equal(const vss_key *key, uint64_t size, uint64_t off,
                  const void *buf, size_t len) {
  uint8_t tmp[8192];
  const uint8_t *in = buf;
  while (len) {
    size_t n = len < sizeof(tmp) ? len : sizeof(tmp);
    content_fill(key, size, off, tmp, n);
    if (memcmp(tmp, in, n) != 0) return 0;
    in += n;
    off += n;
    len -= n;
  }
  return 1;
}
