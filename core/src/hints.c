/*
 * hints.c - holders learned by relay. See hints.h.
 *
 * Records in one array, chained from a bucket array that doubles with
 * them; a record whose last holder went is replaced by the array's last
 * record, so the array stays dense and the memory is what is held.
 */
#include "hints.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

typedef struct rec {
  vss_key key;
  uint32_t next;
  uint8_t format, n;
  uint64_t size;
  vss_hash checksum;
  uint32_t holder[VSS_HINTS_CAP_MAX];
} rec;

struct vss_hints {
  rec *r;
  uint32_t n, cap;
  uint32_t *b;
  uint32_t nb; /* power of two */
  uint32_t hcap;
  uint64_t max_keys, holders;
  vss_hints_pref pref;
  void *user;
};

int vss_hints_new(vss_hints **out) {
  vss_hints *h = calloc(1, sizeof(*h));
  if (!h) return VSS_ERR_NOMEM;
  h->hcap = 4;
  h->max_keys = VSS_DEFAULT_HINT_KEYS;
  *out = h;
  return 0;
}

void vss_hints_del(vss_hints *h) {
  if (!h) return;
  free(h->r);
  free(h->b);
  free(h);
}

void vss_hints_config(vss_hints *h, uint32_t cap, uint64_t max_keys,
                      vss_hints_pref pref, void *user) {
  if (cap < 1) cap = 1;
  if (cap > VSS_HINTS_CAP_MAX) cap = VSS_HINTS_CAP_MAX;
  h->hcap = cap;
  h->max_keys = max_keys;
  h->pref = pref;
  h->user = user;
}

static uint32_t key_hash(const vss_key *k) {
  uint64_t a, b;
  memcpy(&a, k->content.b, 8);
  memcpy(&b, k->content.b + 8, 8);
  uint64_t x = (a ^ (b * 0x9e3779b97f4a7c15ull)) + (uint64_t)k->kind;
  for (const char *v = k->variant; *v; v++)
    x = (x ^ (uint8_t)*v) * 0x100000001b3ull;
  x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull;
  return (uint32_t)(x >> 32);
}

static uint32_t *slot_of(vss_hints *h, const vss_key *k, uint32_t *found) {
  *found = NIL;
  if (!h->nb) return NULL;
  uint32_t *pp = &h->b[key_hash(k) & (h->nb - 1)];
  while (*pp != NIL) {
    if (vss_key_cmp(&h->r[*pp].key, k) == 0) {
      *found = *pp;
      return pp;
    }
    pp = &h->r[*pp].next;
  }
  return pp;
}

static int rehash(vss_hints *h, uint32_t nb) {
  uint32_t *b = malloc(nb * sizeof(*b));
  if (!b) return VSS_ERR_NOMEM;
  for (uint32_t i = 0; i < nb; i++)
    b[i] = NIL;
  for (uint32_t i = 0; i < h->n; i++) {
    uint32_t s = key_hash(&h->r[i].key) & (nb - 1);
    h->r[i].next = b[s];
    b[s] = i;
  }
  free(h->b);
  h->b = b;
  h->nb = nb;
  return 0;
}

static int grow(vss_hints *h) {
  uint32_t cap = h->cap ? h->cap * 2 : 256;
  rec *r = realloc(h->r, cap * sizeof(*r));
  if (!r) return VSS_ERR_NOMEM;
  h->r = r;
  h->cap = cap;
  return cap > h->nb ? rehash(h, cap) : 0;
}

/* Unlink record i and move the last record into its place. */
static void rec_remove(vss_hints *h, uint32_t i) {
  uint32_t f, *pp = slot_of(h, &h->r[i].key, &f);
  *pp = h->r[i].next;
  uint32_t last = --h->n;
  if (i == last) return;
  uint32_t *lp = slot_of(h, &h->r[last].key, &f);
  h->r[i] = h->r[last];
  *lp = i;
}

static uint64_t pref(const vss_hints *h, uint32_t holder) {
  return h->pref ? h->pref(h->user, holder) : holder;
}

/* Holders stay sorted best first. */
static void add_holder(vss_hints *h, rec *r, uint32_t holder) {
  uint64_t p = pref(h, holder);
  if (r->n == h->hcap) {
    if (pref(h, r->holder[r->n - 1]) <= p) return; /* not better */
    r->n--;
    h->holders--;
  }
  uint32_t at = r->n;
  while (at > 0 && pref(h, r->holder[at - 1]) > p) {
    r->holder[at] = r->holder[at - 1];
    at--;
  }
  r->holder[at] = holder;
  r->n++;
  h->holders++;
}

int vss_hints_set(vss_hints *h, const vss_key *key, vss_format fmt, int has,
                  uint64_t size, const vss_hash *checksum, uint32_t holder) {
  uint32_t i;
  uint32_t *pp = slot_of(h, key, &i);
  if (i == NIL) {
    if (!has) return 0;
    if (h->n >= h->max_keys) return VSS_ERR_LIMIT;
    if (h->n == h->cap) {
      int rc = grow(h);
      if (rc) return rc;
      pp = slot_of(h, key, &i);
    }
    i = h->n++;
    rec *r = &h->r[i];
    memset(r, 0, sizeof(*r));
    r->key = *key;
    r->format = (uint8_t)fmt;
    r->size = size;
    if (checksum) r->checksum = *checksum;
    r->next = NIL;
    *pp = i;
    add_holder(h, r, holder);
    return 1;
  }
  rec *r = &h->r[i];
  for (uint32_t k = 0; k < r->n; k++) {
    if (r->holder[k] != holder) continue;
    if (has) return 0;
    memmove(&r->holder[k], &r->holder[k + 1],
            (r->n - k - 1) * sizeof(r->holder[0]));
    r->n--;
    h->holders--;
    if (r->n == 0) rec_remove(h, i);
    return 0;
  }
  if (has) add_holder(h, r, holder);
  return 0;
}

int vss_hints_get(const vss_hints *h, const vss_key *key, vss_hint *out) {
  uint32_t i;
  (void)slot_of((vss_hints *)h, key, &i);
  if (i == NIL) return 0;
  const rec *r = &h->r[i];
  out->format = r->format;
  out->size = r->size;
  out->checksum = r->checksum;
  out->n = r->n;
  memcpy(out->holder, r->holder, sizeof(out->holder));
  return (int)r->n;
}

int vss_hints_iter(const vss_hints *h, vss_hints_cb cb, void *user) {
  for (uint32_t i = 0; i < h->n; i++) {
    vss_hint e;
    int rc = vss_hints_get(h, &h->r[i].key, &e);
    if (rc > 0 && (rc = cb(user, &h->r[i].key, &e)) != 0) return rc;
  }
  return 0;
}

uint64_t vss_hints_keys(const vss_hints *h) {
  return h->n;
}
uint64_t vss_hints_holders(const vss_hints *h) {
  return h->holders;
}
uint64_t vss_hints_mem(const vss_hints *h) {
  return (uint64_t)h->cap * sizeof(rec) + (uint64_t)h->nb * sizeof(uint32_t);
}
