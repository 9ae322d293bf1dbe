/*
 * rng.c - xoshiro256** (Blackman and Vigna), seeded by splitmix64 so any
 * 64-bit seed, 0 included, gives a well-mixed non-zero state.
 */
#include "vss/rng.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void vss_rng_seed(vss_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}

uint64_t vss_rng_next(vss_rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

uint64_t vss_rng_below(vss_rng *r, uint64_t n) {
  /* Rejection: draws under 2^64 mod n would favour the low residues. */
  uint64_t min, x;

  if (n == 0) return 0;
  min = (0 - n) % n;
  do
    x = vss_rng_next(r);
  while (x < min);
  return x % n;
}

double vss_rng_unit(vss_rng *r) {
  /* The top 53 bits fill a double's mantissa exactly. */
  return (double)(vss_rng_next(r) >> 11) * 0x1.0p-53;
}
