/*
 * u64map.h - an open-addressing map from 64-bit keys to pointers, for the
 * simulator's sparse per-pair state (routes, connection epochs, a
 * device's views of the peers it talks to): at 10,000 devices a dense
 * N x N table would take gigabytes for pairs that never connect.
 * Entries are never removed (what they describe lives for the run).
 */
#ifndef SIM_U64MAP_H
#define SIM_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct u64map {
  uint64_t *keys; /* UINT64_MAX: empty */
  void **vals;
  size_t cap, n;
} u64map;

void *u64map_get(const u64map *m, uint64_t key);
/* Adds key -> val (key must be absent and not UINT64_MAX). */
void u64map_put(u64map *m, uint64_t key, void *val);
/* Replaces the value of a key that is there (else does nothing). */
void u64map_set(u64map *m, uint64_t key, void *val);
/* Frees every value with free() when free_vals, then the table. */
void u64map_free(u64map *m, int free_vals);

#endif
