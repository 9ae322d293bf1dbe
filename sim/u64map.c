/* u64map.c - see u64map.h. Linear probing, load at most 1/2. */
#include "u64map.h"

#include "util.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap) {
  uint64_t s = key;
  return (size_t)splitmix64(&s) & (cap - 1);
}

void *u64map_get(const u64map *m, uint64_t key) {
  if (!m->cap) return NULL;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) return m->vals[i];
    if (m->keys[i] == UINT64_MAX) return NULL;
  }
}

void u64map_set(u64map *m, uint64_t key, void *val) {
  if (!m->cap) return;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) {
      m->vals[i] = val;
      return;
    }
    if (m->keys[i] == UINT64_MAX) return;
  }
}

static void insert(u64map *m, uint64_t key, void *val) {
  size_t i = slot_of(key, m->cap);
  while (m->keys[i] != UINT64_MAX)
    i = (i + 1) & (m->cap - 1);
  m->keys[i] = key;
  m->vals[i] = val;
}

void u64map_put(u64map *m, uint64_t key, void *val) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t ocap = m->cap, ncap = ocap ? ocap * 2 : 16;
    uint64_t *ok = m->keys;
    void **ov = m->vals;
    m->keys = xcalloc(ncap, sizeof(*m->keys));
    m->vals = xcalloc(ncap, sizeof(*m->vals));
    for (size_t i = 0; i < ncap; i++)
      m->keys[i] = UINT64_MAX;
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
      if (ok[i] != UINT64_MAX) insert(m, ok[i], ov[i]);
    free(ok);
    free(ov);
  }
  insert(m, key, val);
  m->n++;
}

void u64map_free(u64map *m, int free_vals) {
  for (size_t i = 0; free_vals && i < m->cap; i++)
    if (m->keys[i] != UINT64_MAX) free(m->vals[i]);
  free(m->keys);
  free(m->vals);
  m->keys = NULL;
  m->vals = NULL;
  m->cap = m->n = 0;
}
