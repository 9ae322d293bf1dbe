/*
 * pcache.c - peers' availability, in memory. See pcache.h.
 *
 * A phone learns ~100K rows per peer and a desktop may announce millions,
 * so the layout is compact:
 *
 *   records  58 bytes each (uuid, checksum, class | format | size, one
 *            holder's index, holder count), in slabs of 4,096 so growth
 *            never copies them nor leaves half an array unused;
 *   index    a u32 per slot (record id + 6 bits of its hash), linear
 *            probing with backward-shift deletion, grown by 1.25x so
 *            the load stays between 0.72 and 0.9 (4.4 to 5.6 bytes per
 *            record; the 6-bit tag keeps long probes off the records);
 *   holders  a bit per (peer, record) in the peer's membership set
 *            (chunks of 4,096 bits, allocated when touched). A record
 *            names its first holder; the others are found by testing
 *            the sets of the peers that hold anything, so a key held by
 *            two peers costs 1/8 byte more, not a copy of the checksum.
 *   classes  (kind, variant) interned in a fixed hash table of ids,
 *            refcounted by records, freed when unused.
 *
 * The membership sets also make "everything of peer p" O(p's entries):
 * dropping a peer and sweeping after a full digest never walk the cache.
 */
#include "pcache.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_SHIFT 12
#define SLAB (1u << SLAB_SHIFT)
#define IDX_BITS 26
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define CLS_SLOTS 8192 /* power of two, >= 2 x VSS_PCACHE_CLASSES */
#define CHUNK_BITS 4096
#define CHUNK_WORDS (CHUNK_BITS / 64)
#define NO_PEER 0xfffu   /* peer indexes are 12 bits (< 4095) */
#define MAX_HOLDERS 2047 /* 11 bits: more than VSS_MAX_PEERS */

typedef struct rec {
  uint8_t uuid[16];
  uint8_t sum[32];
  uint8_t meta[7]; /* cls 12 | fmt 3 | size 41, little endian */
  uint8_t hc[3];   /* first holder 12 | holders 11 | other versions 1 */
} rec;

typedef struct cls {
  uint32_t refs; /* records */
  uint32_t hash;
  uint8_t kind, used;
  char v[VSS_VARIANT_MAX + 1];
} cls;

typedef struct pset {
  uint64_t **chunk;
  uint32_t nchunk;
} pset;

typedef struct cuse {
  uint16_t cls;
  uint32_t n;
} cuse;

typedef struct ppeer {
  uint64_t count;
  pset held, mark;
  int marking;
  uint32_t apos; /* position in active[] when count > 0 */
  cuse cu[VSS_PCACHE_PEER_CLASSES];
  uint16_t ncu;
} ppeer;

struct vss_pcache {
  uint64_t seed[2];
  rec **slab;
  uint32_t nslab, nrec; /* records ever handed out (ids < nrec) */
  uint32_t free_head;   /* free record list (id + 1), linked in uuid */
  uint64_t live;
  uint32_t *slot;
  uint64_t nslot;
  cls *cl; /* by id, 1..VSS_PCACHE_CLASSES */
  uint32_t ncl, clcap;
  uint16_t cmemo; /* last class found */
  uint16_t cslot[CLS_SLOTS];
  uint16_t *cfree;
  uint32_t ncfree;
  ppeer **pp;
  uint32_t npp;
  uint16_t *active; /* peers with entries */
  uint32_t nactive;
  uint64_t peer_limit;
  uint64_t mem;
};

/* ---- records --------------------------------------------------------- */

static rec *R(const vss_pcache *c, uint32_t id) {
  return &c->slab[id >> SLAB_SHIFT][id & (SLAB - 1)];
}

static uint64_t get_meta(const rec *r) {
  uint64_t v = 0;
  for (int i = 6; i >= 0; i--)
    v = (v << 8) | r->meta[i];
  return v;
}
static void put_meta(rec *r, uint16_t cl, vss_format fmt, uint64_t size) {
  uint64_t v = (uint64_t)cl | ((uint64_t)(fmt & 7) << 12) | (size << 15);
  for (int i = 0; i < 7; i++, v >>= 8)
    r->meta[i] = (uint8_t)v;
}
static uint16_t rec_cls(const rec *r) {
  return get_meta(r) & 0xfff;
}
static uint8_t rec_fmt(const rec *r) {
  return (get_meta(r) >> 12) & 7;
}
static uint64_t rec_size(const rec *r) {
  return get_meta(r) >> 15;
}
static uint32_t get_hc(const rec *r) {
  return r->hc[0] | (uint32_t)r->hc[1] << 8 | (uint32_t)r->hc[2] << 16;
}
static void put_hc(rec *r, uint32_t first, uint32_t n, uint32_t sib) {
  uint32_t v = (first & 0xfff) | (n & 0x7ff) << 12 | (sib & 1) << 23;
  r->hc[0] = (uint8_t)v;
  r->hc[1] = (uint8_t)(v >> 8);
  r->hc[2] = (uint8_t)(v >> 16);
}
static uint16_t rec_first(const rec *r) {
  return get_hc(r) & 0xfff;
}
static uint16_t rec_n(const rec *r) {
  return (get_hc(r) >> 12) & 0x7ff;
}
static uint32_t rec_sib(const rec *r) {
  return get_hc(r) >> 23;
}

static int rec_alloc(vss_pcache *c, uint32_t *id) {
  if (c->free_head) {
    *id = c->free_head - 1;
    uint32_t next;
    memcpy(&next, R(c, *id)->uuid, 4);
    c->free_head = next;
    return 0;
  }
  if (c->nrec >= VSS_PCACHE_RECORDS) return VSS_ERR_LIMIT;
  if ((c->nrec >> SLAB_SHIFT) == c->nslab) {
    rec **s = realloc(c->slab, (c->nslab + 1) * sizeof(*s));
    if (!s) return VSS_ERR_NOMEM;
    c->slab = s;
    if (!(s[c->nslab] = malloc(SLAB * sizeof(rec)))) return VSS_ERR_NOMEM;
    c->nslab++;
    c->mem += SLAB * sizeof(rec) + sizeof(*s);
  }
  *id = c->nrec++;
  return 0;
}

static void rec_free(vss_pcache *c, uint32_t id) {
  rec *r = R(c, id);
  memset(r, 0, sizeof(*r));
  memcpy(r->uuid, &c->free_head, 4);
  c->free_head = id + 1;
}

/* ---- classes --------------------------------------------------------- */

static uint32_t cls_hash(uint8_t kind, const char *v) {
  uint32_t h = 2166136261u ^ kind;
  for (; *v; v++)
    h = (h ^ (uint8_t)*v) * 16777619u;
  return h;
}

/* Id of (kind, variant), 0 when unknown; *slot is where it is or would go. */
static uint16_t cls_find(const vss_pcache *c, const vss_key *k, uint32_t h,
                         uint32_t *slot) {
  /* Digests come in runs of one (kind, variant): try the last one. */
  const cls *m = &c->cl[c->cmemo];
  if (c->cmemo && m->used && m->hash == h && m->kind == (uint8_t)k->kind &&
      strcmp(m->v, k->variant) == 0)
    return c->cmemo;
  for (uint32_t i = h & (CLS_SLOTS - 1);; i = (i + 1) & (CLS_SLOTS - 1)) {
    uint16_t id = c->cslot[i];
    const cls *e = &c->cl[id];
    if (!id) {
      *slot = i;
      return 0;
    }
    if (e->hash == h && e->kind == (uint8_t)k->kind &&
        strcmp(e->v, k->variant) == 0) {
      ((vss_pcache *)c)->cmemo = id; /* a cache, not the cache's state */
      return id;
    }
  }
}

static int cls_add(vss_pcache *c, const vss_key *k, uint32_t h, uint32_t slot,
                   uint16_t *out) {
  uint16_t id;
  if (c->ncfree) {
    id = c->cfree[--c->ncfree];
  } else {
    if (c->ncl == VSS_PCACHE_CLASSES) return VSS_ERR_LIMIT;
    if (c->ncl + 1 == c->clcap) { /* grown as used: most caches need ~10 */
      uint32_t n = c->clcap * 2 > VSS_PCACHE_CLASSES + 1
                       ? VSS_PCACHE_CLASSES + 1
                       : c->clcap * 2;
      cls *t = realloc(c->cl, n * sizeof(*t));
      if (!t) return VSS_ERR_NOMEM;
      c->mem += (n - c->clcap) * sizeof(*t);
      c->cl = t;
      c->clcap = n;
    }
    id = (uint16_t)++c->ncl;
  }
  cls *e = &c->cl[id];
  memset(e, 0, sizeof(*e));
  e->hash = h;
  e->kind = (uint8_t)k->kind;
  e->used = 1;
  memcpy(e->v, k->variant, VSS_VARIANT_MAX + 1);
  c->cslot[slot] = id;
  *out = id;
  return 0;
}

static void cls_unref(vss_pcache *c, uint16_t id) {
  cls *e = &c->cl[id];
  if (--e->refs) return;
  uint32_t hole = 0;
  for (uint32_t i = e->hash & (CLS_SLOTS - 1);; i = (i + 1) & (CLS_SLOTS - 1))
    if (c->cslot[i] == id) {
      hole = i;
      break;
    }
  c->cslot[hole] = 0;
  for (uint32_t i = (hole + 1) & (CLS_SLOTS - 1); c->cslot[i];
       i = (i + 1) & (CLS_SLOTS - 1)) {
    uint32_t home = c->cl[c->cslot[i]].hash & (CLS_SLOTS - 1);
    int between =
        hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (between) continue;
    c->cslot[hole] = c->cslot[i];
    c->cslot[i] = 0;
    hole = i;
  }
  e->used = 0;
  c->cfree[c->ncfree++] = id;
}

/* ---- index ----------------------------------------------------------- */

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t key_hash(const vss_pcache *c, const uint8_t *uuid,
                         uint16_t cl) {
  uint64_t a, b;
  memcpy(&a, uuid, 8);
  memcpy(&b, uuid + 8, 8);
  return mix(mix(a ^ c->seed[0]) ^ b ^ c->seed[1] ^ ((uint64_t)cl << 52));
}

static uint64_t home_of(const vss_pcache *c, uint64_t h) {
  return ((h >> 32) * c->nslot) >> 32; /* nslot < 2^32 */
}
static uint32_t tag_of(uint64_t h) {
  return (uint32_t)(h & 63) << IDX_BITS;
}

static uint64_t rec_home(const vss_pcache *c, uint32_t id) {
  const rec *r = R(c, id);
  return home_of(c, key_hash(c, r->uuid, rec_cls(r)));
}

static void idx_put(vss_pcache *c, uint32_t id, uint64_t h) {
  uint64_t i = home_of(c, h);
  while (c->slot[i])
    if (++i == c->nslot) i = 0;
  c->slot[i] = (id + 1) | tag_of(h);
}

static int idx_grow(vss_pcache *c) {
  uint64_t n = c->nslot ? c->nslot + c->nslot / 4 : 1024;
  uint32_t *s = calloc(n, sizeof(*s));
  if (!s) return VSS_ERR_NOMEM;
  free(c->slot);
  c->mem += (n - c->nslot) * sizeof(*s);
  c->slot = s;
  c->nslot = n;
  /* Records in id order: sequential reads, not the old probe order. */
  for (uint32_t id = 0; id < c->nrec; id++) {
    const rec *r = R(c, id);
    if (rec_n(r)) idx_put(c, id, key_hash(c, r->uuid, rec_cls(r)));
  }
  return 0;
}

static void idx_del(vss_pcache *c, uint32_t id) {
  uint64_t hole = rec_home(c, id);
  while ((c->slot[hole] & IDX_MASK) != id + 1)
    if (++hole == c->nslot) hole = 0;
  c->slot[hole] = 0;
  for (uint64_t i = hole + 1 == c->nslot ? 0 : hole + 1; c->slot[i];
       i = i + 1 == c->nslot ? 0 : i + 1) {
    uint64_t home = rec_home(c, (c->slot[i] & IDX_MASK) - 1);
    int between =
        hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (between) continue;
    c->slot[hole] = c->slot[i];
    c->slot[i] = 0;
    hole = i;
  }
}

/* Records of (uuid, class): every version, up to cap. When the probe
 * ran to its end, *empty is the free slot there (where an insert of the
 * key goes, saving a second walk), else UINT64_MAX. */
static size_t versions_at(const vss_pcache *c, const uint8_t *uuid, uint16_t cl,
                          uint32_t *out, size_t cap, uint64_t *empty) {
  *empty = UINT64_MAX;
  if (!c->nslot) return 0;
  uint64_t h = key_hash(c, uuid, cl);
  uint32_t tag = tag_of(h);
  size_t n = 0;
  uint64_t i;
  for (i = home_of(c, h); c->slot[i]; i = i + 1 == c->nslot ? 0 : i + 1) {
    uint32_t s = c->slot[i];
    if ((s & ~IDX_MASK) != tag) continue;
    const rec *r = R(c, (s & IDX_MASK) - 1);
    if (memcmp(r->uuid, uuid, 16) || rec_cls(r) != cl) continue;
    if (n < cap) out[n] = (s & IDX_MASK) - 1;
    n++;
    if (!rec_sib(r)) return n;
  }
  *empty = i;
  return n;
}

static size_t versions(const vss_pcache *c, const uint8_t *uuid, uint16_t cl,
                       uint32_t *out, size_t cap) {
  uint64_t empty;
  return versions_at(c, uuid, cl, out, cap, &empty);
}

/* ---- peers and their sets ------------------------------------------- */

static int pset_test(const pset *s, uint32_t id) {
  uint32_t k = id / CHUNK_BITS;
  if (k >= s->nchunk || !s->chunk[k]) return 0;
  return (s->chunk[k][(id % CHUNK_BITS) / 64] >> (id % 64)) & 1;
}

static int pset_set(vss_pcache *c, pset *s, uint32_t id) {
  uint32_t k = id / CHUNK_BITS;
  if (k >= s->nchunk) {
    uint32_t n = k + 1 + k / 2;
    uint64_t **p = realloc(s->chunk, n * sizeof(*p));
    if (!p) return VSS_ERR_NOMEM;
    memset(p + s->nchunk, 0, (n - s->nchunk) * sizeof(*p));
    c->mem += (n - s->nchunk) * sizeof(*p);
    s->chunk = p;
    s->nchunk = n;
  }
  if (!s->chunk[k]) {
    if (!(s->chunk[k] = calloc(CHUNK_WORDS, 8))) return VSS_ERR_NOMEM;
    c->mem += CHUNK_WORDS * 8;
  }
  s->chunk[k][(id % CHUNK_BITS) / 64] |= 1ull << (id % 64);
  return 0;
}

static void pset_clear(pset *s, uint32_t id) {
  uint32_t k = id / CHUNK_BITS;
  if (k < s->nchunk && s->chunk[k])
    s->chunk[k][(id % CHUNK_BITS) / 64] &= ~(1ull << (id % 64));
}

static void pset_free(vss_pcache *c, pset *s) {
  for (uint32_t k = 0; k < s->nchunk; k++)
    if (s->chunk[k]) {
      free(s->chunk[k]);
      c->mem -= CHUNK_WORDS * 8;
    }
  c->mem -= s->nchunk * sizeof(*s->chunk);
  free(s->chunk);
  s->chunk = NULL;
  s->nchunk = 0;
}

static ppeer *peer_get(vss_pcache *c, uint16_t peer, int add) {
  if (peer < c->npp && c->pp[peer]) return c->pp[peer];
  if (!add || peer == NO_PEER) return NULL;
  if (peer >= c->npp) {
    uint32_t n = (uint32_t)peer + 16;
    ppeer **p = realloc(c->pp, n * sizeof(*p));
    if (!p) return NULL;
    memset(p + c->npp, 0, (n - c->npp) * sizeof(*p));
    c->mem += (n - c->npp) * sizeof(*p);
    c->pp = p;
    c->npp = n;
    uint16_t *a = realloc(c->active, n * sizeof(*a));
    if (!a) return NULL;
    c->active = a;
  }
  if (!(c->pp[peer] = calloc(1, sizeof(ppeer)))) return NULL;
  c->mem += sizeof(ppeer);
  return c->pp[peer];
}

static const ppeer *peer_at(const vss_pcache *c, uint16_t peer) {
  return peer < c->npp ? c->pp[peer] : NULL;
}

static cuse *cuse_find(ppeer *p, uint16_t cl) {
  for (uint16_t i = 0; i < p->ncu; i++)
    if (p->cu[i].cls == cl) return &p->cu[i];
  return NULL;
}

static void count_add(vss_pcache *c, uint16_t peer, ppeer *p, uint16_t cl) {
  if (p->count++ == 0) {
    p->apos = c->nactive;
    c->active[c->nactive++] = peer;
  }
  cuse *u = cuse_find(p, cl);
  if (!u) {
    u = &p->cu[p->ncu++]; /* room was checked by the caller */
    u->cls = cl;
    u->n = 0;
  }
  u->n++;
}

static void count_sub(vss_pcache *c, ppeer *p, uint16_t cl) {
  if (--p->count == 0) {
    uint16_t last = c->active[--c->nactive];
    c->active[p->apos] = last;
    c->pp[last]->apos = p->apos;
  }
  cuse *u = cuse_find(p, cl);
  if (u && --u->n == 0) *u = p->cu[--p->ncu];
}

/* ---- holders --------------------------------------------------------- */

static void holder_fill(const rec *r, uint16_t peer, vss_holder *h) {
  h->peer = peer;
  h->format = rec_fmt(r);
  h->size = rec_size(r);
  memcpy(h->checksum.b, r->sum, VSS_HASH_LEN);
}

/* Calls fn for each holder of record id; non-zero stops. */
typedef int (*each_fn)(void *user, uint16_t peer);
static int rec_each(const vss_pcache *c, uint32_t id, each_fn fn, void *user) {
  const rec *r = R(c, id);
  uint16_t first = rec_first(r), left = rec_n(r);
  int rc = fn(user, first);
  if (rc) return rc;
  for (uint32_t i = 0; --left > 0 && i < c->nactive; i++) {
    uint16_t q = c->active[i];
    if (q == first || !pset_test(&c->pp[q]->held, id)) {
      left++; /* not one of them: still as many to find */
      continue;
    }
    if ((rc = fn(user, q))) return rc;
  }
  return 0;
}

/* A holder of id other than the one leaving (whose bit is clear now). */
static uint16_t other_holder(const vss_pcache *c, uint32_t id) {
  for (uint32_t i = 0; i < c->nactive; i++)
    if (pset_test(&c->pp[c->active[i]]->held, id)) return c->active[i];
  return NO_PEER;
}

static void rec_release(vss_pcache *c, uint32_t id) {
  rec *r = R(c, id);
  uint16_t cl = rec_cls(r);
  idx_del(c, id);
  rec_free(c, id);
  c->live--;
  cls_unref(c, cl);
}

static void holder_del(vss_pcache *c, uint16_t peer, ppeer *p, uint32_t id) {
  rec *r = R(c, id);
  uint16_t cnt = rec_n(r), cl = rec_cls(r);
  pset_clear(&p->held, id);
  pset_clear(&p->mark, id);
  count_sub(c, p, cl);
  if (cnt == 1) {
    rec_release(c, id);
    return;
  }
  uint16_t first = rec_first(r);
  put_hc(r, first, cnt - 1u, rec_sib(r));
  if (first == peer) put_hc(r, other_holder(c, id), cnt - 1u, rec_sib(r));
}

static int holder_add(vss_pcache *c, uint16_t peer, ppeer *p, uint32_t id) {
  rec *r = R(c, id);
  int rc = pset_set(c, &p->held, id);
  if (rc) return rc;
  uint16_t cnt = rec_n(r);
  if (cnt == MAX_HOLDERS) {
    pset_clear(&p->held, id);
    return VSS_ERR_LIMIT;
  }
  put_hc(r, cnt ? rec_first(r) : peer, cnt + 1u, rec_sib(r));
  count_add(c, peer, p, rec_cls(r));
  return 0;
}

/* ---- lifecycle ------------------------------------------------------- */

int vss_pcache_new(vss_pcache **out) {
  vss_pcache *c = calloc(1, sizeof(*c));
  if (!c) return VSS_ERR_NOMEM;
  c->seed[0] = 0x243f6a8885a308d3ull;
  c->seed[1] = 0x13198a2e03707344ull;
  c->clcap = 16;
  c->cl = calloc(c->clcap, sizeof(cls));
  c->cfree = calloc(VSS_PCACHE_CLASSES, sizeof(uint16_t));
  if (!c->cl || !c->cfree || idx_grow(c)) {
    vss_pcache_del(c);
    return VSS_ERR_NOMEM;
  }
  c->mem += sizeof(*c) + c->clcap * sizeof(cls) +
            VSS_PCACHE_CLASSES * sizeof(uint16_t);
  *out = c;
  return 0;
}

void vss_pcache_del(vss_pcache *c) {
  if (!c) return;
  for (uint32_t i = 0; i < c->nslab; i++)
    free(c->slab[i]);
  free(c->slab);
  free(c->slot);
  free(c->cl);
  free(c->cfree);
  for (uint32_t i = 0; i < c->npp; i++) {
    if (!c->pp[i]) continue;
    pset_free(c, &c->pp[i]->held);
    pset_free(c, &c->pp[i]->mark);
    free(c->pp[i]);
  }
  free(c->pp);
  free(c->active);
  free(c);
}

void vss_pcache_seed(vss_pcache *c, uint64_t seed) {
  if (c->live) return; /* the index is laid out by the old one */
  c->seed[0] = mix(seed);
  c->seed[1] = mix(seed ^ 0x9e3779b97f4a7c15ull);
}

void vss_pcache_set_limits(vss_pcache *c, uint64_t peer_entries) {
  c->peer_limit = peer_entries;
}

/* ---- set ------------------------------------------------------------- */

static int rec_matches(const rec *r, vss_format fmt, uint64_t size,
                       const vss_hash *sum) {
  return rec_fmt(r) == (uint8_t)fmt && rec_size(r) == size &&
         memcmp(r->sum, sum->b, VSS_HASH_LEN) == 0;
}

static int rec_new(vss_pcache *c, const vss_key *k, uint16_t cl, vss_format fmt,
                   uint64_t size, const vss_hash *sum, const uint32_t *sib,
                   size_t nsib, uint64_t empty, uint32_t *out) {
  if ((c->live + 1) * 10 > c->nslot * 9) {
    int rc = idx_grow(c);
    if (rc) return rc;
    empty = UINT64_MAX; /* laid out anew */
  }
  int rc = rec_alloc(c, out);
  if (rc) return rc;
  rec *r = R(c, *out);
  memcpy(r->uuid, k->content.b, 16);
  memcpy(r->sum, sum->b, VSS_HASH_LEN);
  put_meta(r, cl, fmt, size);
  put_hc(r, NO_PEER, 0, nsib ? 1 : 0);
  for (size_t i = 0; i < nsib; i++) {
    rec *s = R(c, sib[i]);
    put_hc(s, rec_first(s), rec_n(s), 1);
  }
  c->cl[cl].refs++;
  c->live++;
  uint64_t h = key_hash(c, r->uuid, cl);
  if (empty != UINT64_MAX)
    c->slot[empty] = (*out + 1) | tag_of(h);
  else
    idx_put(c, *out, h);
  return 0;
}

#define MAX_VERSIONS 64

static int set_has(vss_pcache *c, uint16_t peer, const vss_key *key,
                   vss_format fmt, uint64_t size, const vss_hash *sum) {
  uint32_t h = cls_hash((uint8_t)key->kind, key->variant), slot;
  uint16_t cl = cls_find(c, key, h, &slot);
  ppeer *p = peer_get(c, peer, 1);
  if (!p) return VSS_ERR_NOMEM;
  uint32_t v[MAX_VERSIONS];
  uint64_t empty = UINT64_MAX;
  size_t nv =
      cl ? versions_at(c, key->content.b, cl, v, MAX_VERSIONS, &empty) : 0;
  if (nv > MAX_VERSIONS) nv = MAX_VERSIONS; /* see below: never reached */
  uint32_t cur = UINT32_MAX, tgt = UINT32_MAX;
  for (size_t i = 0; i < nv; i++) {
    if (pset_test(&p->held, v[i])) cur = v[i];
    if (rec_matches(R(c, v[i]), fmt, size, sum)) tgt = v[i];
  }
  if (cur != UINT32_MAX && cur == tgt)
    return p->marking ? pset_set(c, &p->mark, cur) : 0;
  /* Budgets before anything changes. */
  if (cur == UINT32_MAX) {
    if (c->peer_limit && p->count >= c->peer_limit) return VSS_ERR_LIMIT;
    if ((!cl || !cuse_find(p, cl)) && p->ncu == VSS_PCACHE_PEER_CLASSES)
      return VSS_ERR_LIMIT;
  }
  /* A version per holder at most: a key with more versions than that is
   * one peer inventing them. */
  if (tgt == UINT32_MAX && nv >= MAX_VERSIONS) return VSS_ERR_LIMIT;
  int rc;
  if (!cl && (rc = cls_add(c, key, h, slot, &cl))) return rc;
  if (tgt == UINT32_MAX) {
    rc = rec_new(c, key, cl, fmt, size, sum, v, nv, empty, &tgt);
    if (rc) {
      if (!c->cl[cl].refs) {
        c->cl[cl].refs = 1;
        cls_unref(c, cl);
      }
      return rc;
    }
  }
  if ((rc = holder_add(c, peer, p, tgt))) {
    if (!rec_n(R(c, tgt))) rec_release(c, tgt);
    return rc;
  }
  if (cur != UINT32_MAX) holder_del(c, peer, p, cur);
  if (p->marking && (rc = pset_set(c, &p->mark, tgt))) return rc;
  return 1;
}

static int set_gone(vss_pcache *c, uint16_t peer, const vss_key *key) {
  uint32_t h = cls_hash((uint8_t)key->kind, key->variant), slot;
  uint16_t cl = cls_find(c, key, h, &slot);
  ppeer *p = peer_get(c, peer, 0);
  if (!cl || !p) return 0;
  uint32_t v[MAX_VERSIONS];
  size_t nv = versions(c, key->content.b, cl, v, MAX_VERSIONS);
  for (size_t i = 0; i < nv && i < MAX_VERSIONS; i++)
    if (pset_test(&p->held, v[i])) {
      holder_del(c, peer, p, v[i]);
      return 1;
    }
  return 0;
}

int vss_pcache_set(vss_pcache *c, uint16_t peer, const vss_key *key,
                   vss_format fmt, int has, uint64_t size,
                   const vss_hash *checksum) {
  if (peer >= NO_PEER || (unsigned)fmt > 7) return VSS_ERR_INVALID;
  if (!has) return set_gone(c, peer, key);
  if (size > VSS_PCACHE_SIZE_MAX) return VSS_ERR_TOO_BIG;
  vss_hash zero;
  if (!checksum) {
    memset(&zero, 0, sizeof(zero));
    checksum = &zero;
  }
  return set_has(c, peer, key, fmt, size, checksum);
}

/* ---- per peer -------------------------------------------------------- */

/* Removes p's holdings whose bit is set in `held & ~keep`. */
static uint64_t remove_bits(vss_pcache *c, uint16_t peer, ppeer *p,
                            const pset *keep) {
  uint64_t n = 0;
  for (uint32_t k = 0; k < p->held.nchunk && p->count; k++) {
    uint64_t *w = p->held.chunk[k];
    if (!w) continue;
    const uint64_t *m = keep && k < keep->nchunk ? keep->chunk[k] : NULL;
    for (uint32_t i = 0; i < CHUNK_WORDS; i++) {
      uint64_t bits = w[i] & ~(m ? m[i] : 0);
      while (bits) {
        uint32_t id = k * CHUNK_BITS + i * 64 + (uint32_t)__builtin_ctzll(bits);
        bits &= bits - 1;
        holder_del(c, peer, p, id);
        n++;
      }
    }
  }
  return n;
}

uint64_t vss_pcache_drop_peer(vss_pcache *c, uint16_t peer) {
  ppeer *p = peer_get(c, peer, 0);
  if (!p) return 0;
  uint64_t n = p->count ? remove_bits(c, peer, p, NULL) : 0;
  pset_free(c, &p->held);
  pset_free(c, &p->mark);
  p->marking = 0;
  return n;
}

uint64_t vss_pcache_count_peer(const vss_pcache *c, uint16_t peer) {
  const ppeer *p = peer_at(c, peer);
  return p ? p->count : 0;
}

void vss_pcache_mark_begin(vss_pcache *c, uint16_t peer) {
  ppeer *p = peer_get(c, peer, 1);
  if (!p) return; /* without memory, the sweep does not happen either */
  pset_free(c, &p->mark);
  p->marking = 1;
}

int vss_pcache_marking(const vss_pcache *c, uint16_t peer) {
  const ppeer *p = peer_at(c, peer);
  return p && p->marking;
}

uint64_t vss_pcache_mark_sweep(vss_pcache *c, uint16_t peer) {
  ppeer *p = peer_get(c, peer, 0);
  if (!p || !p->marking) return 0;
  uint64_t n = p->count ? remove_bits(c, peer, p, &p->mark) : 0;
  pset_free(c, &p->mark);
  p->marking = 0;
  return n;
}

void vss_pcache_mark_abort(vss_pcache *c, uint16_t peer) {
  ppeer *p = peer_get(c, peer, 0);
  if (!p) return;
  pset_free(c, &p->mark);
  p->marking = 0;
}

/* ---- reads ----------------------------------------------------------- */

static size_t key_versions(const vss_pcache *c, const vss_key *key,
                           uint32_t *v) {
  uint32_t slot;
  uint16_t cl =
      cls_find(c, key, cls_hash((uint8_t)key->kind, key->variant), &slot);
  if (!cl) return 0;
  size_t n = versions(c, key->content.b, cl, v, MAX_VERSIONS);
  return n < MAX_VERSIONS ? n : MAX_VERSIONS;
}

int vss_pcache_has(const vss_pcache *c, const vss_key *key, uint16_t peer) {
  const ppeer *p = peer_at(c, peer);
  if (!p || !p->count) return 0;
  uint32_t v[MAX_VERSIONS];
  size_t nv = key_versions(c, key, v);
  for (size_t i = 0; i < nv; i++)
    if (pset_test(&p->held, v[i])) return 1;
  return 0;
}

typedef struct each_ctx {
  const vss_pcache *c;
  const rec *r;
  vss_pcache_holder_cb cb;
  void *user;
  vss_holder *out;
  size_t n, cap;
} each_ctx;

static int each_one(void *user, uint16_t peer) {
  each_ctx *e = user;
  vss_holder h;
  holder_fill(e->r, peer, &h);
  if (e->cb) return e->cb(e->user, &h);
  if (e->n < e->cap) e->out[e->n] = h;
  e->n++;
  return 0;
}

int vss_pcache_each_holder(const vss_pcache *c, const vss_key *key,
                           vss_pcache_holder_cb cb, void *user) {
  uint32_t v[MAX_VERSIONS];
  size_t nv = key_versions(c, key, v);
  each_ctx e = {.c = c, .cb = cb, .user = user};
  for (size_t i = 0; i < nv; i++) {
    e.r = R(c, v[i]);
    int rc = rec_each(c, v[i], each_one, &e);
    if (rc) return rc;
  }
  return 0;
}

size_t vss_pcache_holders(const vss_pcache *c, const vss_key *key,
                          vss_holder *out, size_t cap) {
  uint32_t v[MAX_VERSIONS];
  size_t nv = key_versions(c, key, v);
  each_ctx e = {.c = c, .out = out, .cap = cap};
  for (size_t i = 0; i < nv; i++) {
    e.r = R(c, v[i]);
    rec_each(c, v[i], each_one, &e);
  }
  return e.n;
}

int vss_pcache_iter(const vss_pcache *c, vss_pcache_iter_cb cb, void *user) {
  vss_holder *h = malloc((c->nactive ? c->nactive : 1) * sizeof(*h));
  if (!h) return VSS_ERR_NOMEM;
  int rc = 0;
  for (uint32_t id = 0; rc == 0 && id < c->nrec; id++) {
    const rec *r = R(c, id);
    if (!rec_n(r)) continue;
    const cls *cl = &c->cl[rec_cls(r)];
    vss_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.content.b, r->uuid, 16);
    k.kind = (vss_kind)cl->kind;
    memcpy(k.variant, cl->v, VSS_VARIANT_MAX + 1);
    each_ctx e = {.c = c, .r = r, .out = h, .cap = c->nactive};
    rec_each(c, id, each_one, &e);
    rc = cb(user, &k, h, e.n < e.cap ? e.n : e.cap);
  }
  free(h);
  return rc;
}

uint64_t vss_pcache_mem(const vss_pcache *c) {
  return c->mem;
}
uint64_t vss_pcache_records(const vss_pcache *c) {
  return c->live;
}
