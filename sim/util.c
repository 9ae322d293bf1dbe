/*
 * util.c - see util.h.
 */
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void) {
  fputs("vss-sim: out of memory\n", stderr);
  exit(3);
}

void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom();
  return p;
}

void *xrealloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q) oom();
  return q;
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xcalloc(1, n);
  memcpy(p, s, n);
  return p;
}

int scopy(char *dst, size_t cap, const char *s) {
  size_t n = strlen(s);
  if (cap == 0) return 0;
  size_t k = n < cap - 1 ? n : cap - 1;
  memcpy(dst, s, k);
  dst[k] = '\0';
  return n < cap;
}

int path_join(char *out, size_t cap, const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  if (a + 1 + b + 1 > cap) return -1;
  memcpy(out, dir, a);
  out[a] = '/';
  memcpy(out + a + 1, name, b + 1);
  return 0;
}

uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash64(const void *p, size_t n, uint64_t seed) {
  const uint8_t *b = p;
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return splitmix64(&h);
}

double rng_normal(sim_rng *r) {
  /* Box-Muller; one draw per call keeps the stream simple to replay. */
  double u1 = rng_unit(r), u2 = rng_unit(r);
  if (u1 < 1e-300) u1 = 1e-300;
  const double two_pi = 6.283185307179586476925;
  return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

vss_time s_to_ns(double s) {
  if (s <= 0) return 0;
  double ns = s * 1e9;
  if (ns >= 1.8e19) return VSS_TIME_UNSET - 1;
  return (vss_time)llround(ns);
}
