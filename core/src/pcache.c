/*
 * pcache.c - peers' availability, in memory.
 *
 * A phone learns ~100K rows per peer and a desktop may announce millions,
 * so entries are compact: the variant string is interned (a library uses
 * a handful of variants) and the key shrinks to uuid + kind + variant id.
 * Open addressing with linear probing and backward-shift deletion keeps
 * lookups one cache line in the common case and needs no tombstones.
 */
#include "pcache.h"

#include <stdlib.h>
#include <string.h>

typedef struct ckey {
  uint8_t uuid[16];
  uint8_t kind;
  uint8_t used; /* slot occupied */
  uint16_t variant;
} ckey;

typedef struct entry {
  ckey k;
  uint16_t n, cap;
  vss_holder *h;
} entry;

struct vss_pcache {
  entry *slots;
  size_t cap, count; /* cap is a power of two */
  char (*variants)[VSS_VARIANT_MAX + 1];
  size_t nvariants, vcap;
  uint64_t *per_peer; /* entries per peer index */
  size_t npeer;
};

int vss_pcache_new(vss_pcache **out) {
  vss_pcache *c = calloc(1, sizeof(*c));
  if (!c) return VSS_ERR_NOMEM;
  c->cap = 1024;
  c->slots = calloc(c->cap, sizeof(entry));
  if (!c->slots) {
    free(c);
    return VSS_ERR_NOMEM;
  }
  *out = c;
  return 0;
}

void vss_pcache_del(vss_pcache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->cap; i++)
    free(c->slots[i].h);
  free(c->slots);
  free(c->variants);
  free(c->per_peer);
  free(c);
}

/* Variant id, interning when `add`; -1 when unknown and not added. */
static int variant_id(vss_pcache *c, const char *v, int add) {
  for (size_t i = 0; i < c->nvariants; i++)
    if (strcmp(c->variants[i], v) == 0) return (int)i;
  if (!add || c->nvariants >= UINT16_MAX) return -1;
  if (c->nvariants == c->vcap) {
    size_t ncap = c->vcap ? c->vcap * 2 : 16;
    void *p = realloc(c->variants, ncap * sizeof(*c->variants));
    if (!p) return -1;
    c->variants = p;
    c->vcap = ncap;
  }
  memcpy(c->variants[c->nvariants], v, VSS_VARIANT_MAX + 1);
  return (int)c->nvariants++;
}

static int make_ckey(vss_pcache *c, const vss_key *k, int add, ckey *out) {
  int v = variant_id(c, k->variant, add);
  if (v < 0) return add ? VSS_ERR_NOMEM : VSS_ERR_NOT_FOUND;
  memset(out, 0, sizeof(*out));
  memcpy(out->uuid, k->content.b, 16);
  out->kind = (uint8_t)k->kind;
  out->used = 1;
  out->variant = (uint16_t)v;
  return 0;
}

static size_t hash_ckey(const ckey *k) {
  uint64_t h;
  memcpy(&h, k->uuid, 8); /* uuids are random: their bytes hash well */
  h ^= ((uint64_t)k->kind << 56) ^
       ((uint64_t)k->variant * 0x9E3779B97F4A7C15ull);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return (size_t)h;
}

static int ckey_eq(const ckey *a, const ckey *b) {
  return a->kind == b->kind && a->variant == b->variant &&
         memcmp(a->uuid, b->uuid, 16) == 0;
}

static entry *find(const vss_pcache *c, const ckey *k) {
  size_t mask = c->cap - 1;
  for (size_t i = hash_ckey(k) & mask;; i = (i + 1) & mask) {
    entry *e = &c->slots[i];
    if (!e->k.used) return NULL;
    if (ckey_eq(&e->k, k)) return e;
  }
}

static int grow(vss_pcache *c) {
  size_t ncap = c->cap * 2;
  entry *ns = calloc(ncap, sizeof(entry));
  if (!ns) return VSS_ERR_NOMEM;
  for (size_t i = 0; i < c->cap; i++) {
    entry *e = &c->slots[i];
    if (!e->k.used) continue;
    size_t j = hash_ckey(&e->k) & (ncap - 1);
    while (ns[j].k.used)
      j = (j + 1) & (ncap - 1);
    ns[j] = *e;
  }
  free(c->slots);
  c->slots = ns;
  c->cap = ncap;
  return 0;
}

static entry *insert(vss_pcache *c, const ckey *k) {
  if ((c->count + 1) * 10 > c->cap * 7 && grow(c) != 0) return NULL;
  size_t mask = c->cap - 1;
  size_t i = hash_ckey(k) & mask;
  while (c->slots[i].k.used)
    i = (i + 1) & mask;
  c->slots[i].k = *k;
  c->count++;
  return &c->slots[i];
}

/* Backward-shift deletion: pull later members of the probe run into the
 * hole so lookups never need tombstones. */
static void remove_slot(vss_pcache *c, entry *e) {
  size_t mask = c->cap - 1;
  size_t hole = (size_t)(e - c->slots);
  free(e->h);
  memset(e, 0, sizeof(*e));
  c->count--;
  for (size_t i = (hole + 1) & mask; c->slots[i].k.used; i = (i + 1) & mask) {
    size_t home = hash_ckey(&c->slots[i].k) & mask;
    /* Move i into hole when its home is not in (hole, i]. */
    int between =
        hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (between) continue;
    c->slots[hole] = c->slots[i];
    memset(&c->slots[i], 0, sizeof(entry));
    hole = i;
  }
}

static void peer_count(vss_pcache *c, uint16_t peer, int delta) {
  if (peer >= c->npeer) {
    size_t n = (size_t)peer + 16;
    uint64_t *p = realloc(c->per_peer, n * sizeof(*p));
    if (!p) return; /* counts are statistics; the cache stays correct */
    memset(p + c->npeer, 0, (n - c->npeer) * sizeof(*p));
    c->per_peer = p;
    c->npeer = n;
  }
  c->per_peer[peer] += (uint64_t)(int64_t)delta;
}

static int holder_idx(const entry *e, uint16_t peer) {
  for (int i = 0; i < e->n; i++)
    if (e->h[i].peer == peer) return i;
  return -1;
}

static int add_holder(vss_pcache *c, entry *e, const vss_holder *h) {
  int i = holder_idx(e, h->peer);
  if (i >= 0) {
    int same = e->h[i].format == h->format && e->h[i].size == h->size &&
               vss_hash_eq(&e->h[i].checksum, &h->checksum);
    e->h[i] = *h;
    return same ? 0 : 1;
  }
  if (e->n == e->cap) {
    uint16_t ncap = e->cap ? (uint16_t)(e->cap * 2) : 2;
    vss_holder *p = realloc(e->h, ncap * sizeof(*p));
    if (!p) return VSS_ERR_NOMEM;
    e->h = p;
    e->cap = ncap;
  }
  e->h[e->n++] = *h;
  peer_count(c, h->peer, 1);
  return 1;
}

static int del_holder(vss_pcache *c, entry *e, uint16_t peer) {
  int i = holder_idx(e, peer);
  if (i < 0) return 0;
  e->h[i] = e->h[--e->n];
  peer_count(c, peer, -1);
  if (e->n == 0) remove_slot(c, e);
  return 1;
}

int vss_pcache_set(vss_pcache *c, uint16_t peer, const vss_key *key,
                   vss_format fmt, int has, uint64_t size,
                   const vss_hash *checksum) {
  ckey k;
  int rc = make_ckey(c, key, has, &k);
  if (rc == VSS_ERR_NOT_FOUND) return 0; /* removing what we never had */
  if (rc) return rc;
  entry *e = find(c, &k);
  if (!has) return e ? del_holder(c, e, peer) : 0;
  if (!e && !(e = insert(c, &k))) return VSS_ERR_NOMEM;
  vss_holder h = {.peer = peer, .format = (uint8_t)fmt, .size = size};
  if (checksum) h.checksum = *checksum;
  rc = add_holder(c, e, &h);
  if (rc < 0 && e->n == 0) remove_slot(c, e);
  return rc;
}

uint64_t vss_pcache_drop_peer(vss_pcache *c, uint16_t peer) {
  uint64_t dropped = 0;
  if (peer >= c->npeer || c->per_peer[peer] == 0) return 0;
  /* Backward shift may move a not-yet-visited entry into slot i, so
   * revisit i after a removal instead of advancing. */
  for (size_t i = 0; i < c->cap;) {
    entry *e = &c->slots[i];
    if (e->k.used && holder_idx(e, peer) >= 0) {
      int emptied = e->n == 1;
      del_holder(c, e, peer);
      dropped++;
      if (emptied) continue;
    }
    i++;
  }
  return dropped;
}

uint64_t vss_pcache_count_peer(const vss_pcache *c, uint16_t peer) {
  return peer < c->npeer ? c->per_peer[peer] : 0;
}

size_t vss_pcache_holders(const vss_pcache *c, const vss_key *key,
                          vss_holder *out, size_t cap) {
  ckey k;
  if (make_ckey((vss_pcache *)c, key, 0, &k)) return 0;
  const entry *e = find(c, &k);
  if (!e) return 0;
  for (size_t i = 0; i < e->n && i < cap; i++)
    out[i] = e->h[i];
  return e->n;
}

int vss_pcache_iter(const vss_pcache *c, vss_pcache_iter_cb cb, void *user) {
  for (size_t i = 0; i < c->cap; i++) {
    const entry *e = &c->slots[i];
    if (!e->k.used) continue;
    vss_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.content.b, e->k.uuid, 16);
    k.kind = (vss_kind)e->k.kind;
    memcpy(k.variant, c->variants[e->k.variant], VSS_VARIANT_MAX + 1);
    int rc = cb(user, &k, e->h, e->n);
    if (rc) return rc;
  }
  return 0;
}
