/*
 * prefetch.c - prefetch policy predicates and the candidate queues.
 *
 * A queued candidate is 32 bytes: uuid, kind, format, an interned variant
 * id and the size. Libraries use a handful of variants, but a peer names
 * them, so the intern table is a hash (no linear scan a peer could make
 * quadratic) and is capped: past the cap, offers of new variants are
 * dropped rather than grow memory without bound.
 */
#include "prefetch.h"

#include <stdlib.h>
#include <string.h>

#define PF_MAX_VARIANTS 4096
#define PF_VHASH_CAP 8192 /* power of two, > 2 * PF_MAX_VARIANTS */

typedef struct pf_entry {
  uint8_t uuid[16];
  uint8_t kind;
  uint8_t fmt;
  uint16_t variant;
  uint32_t q; /* parked: the queue it came from (1 lazy) */
  uint64_t size;
} pf_entry;

typedef struct pf_ring {
  pf_entry *e;
  uint64_t head, count, cap; /* cap is a power of two */
} pf_ring;

struct vss_prefetch {
  pf_ring q[2];   /* 0 eager, 1 lazy */
  pf_ring parked; /* no reachable holder for now; q says the queue */
  char (*variants)[VSS_VARIANT_MAX + 1];
  uint16_t nvariants;
  int16_t *vhash; /* variant id + 1, 0 = empty slot */
};

int vss_prefetch_new(vss_prefetch **out) {
  vss_prefetch *pf = calloc(1, sizeof(*pf));
  if (!pf) return VSS_ERR_NOMEM;
  pf->vhash = calloc(PF_VHASH_CAP, sizeof(*pf->vhash));
  pf->variants = calloc(PF_MAX_VARIANTS, sizeof(*pf->variants));
  if (!pf->vhash || !pf->variants) {
    vss_prefetch_del(pf);
    return VSS_ERR_NOMEM;
  }
  *out = pf;
  return 0;
}

void vss_prefetch_del(vss_prefetch *pf) {
  if (!pf) return;
  free(pf->q[0].e);
  free(pf->q[1].e);
  free(pf->parked.e);
  free(pf->variants);
  free(pf->vhash);
  free(pf);
}

/* ---- policy ---------------------------------------------------------- */

vss_pf_class vss_prefetch_class(const vss_prefetch_policy *pol, vss_kind k) {
  if (k >= VSS_KIND_COUNT) return VSS_PF_NONE;
  uint32_t bit = VSS_KIND_BIT(k);
  if (pol->never_kinds & bit) return VSS_PF_NONE;
  if (pol->eager_kinds & bit) return VSS_PF_EAGER;
  if (pol->lazy_kinds & bit) return VSS_PF_LAZY;
  return VSS_PF_NONE;
}

int vss_prefetch_link_ok(const vss_prefetch_policy *pol,
                         const vss_link_info *link) {
  if (link->cls >= VSS_LINK_COUNT) return 0;
  if (!(pol->allowed_links & VSS_LINK_BIT(link->cls))) return 0;
  return !link->metered || pol->allow_metered;
}

int vss_prefetch_fits(const vss_prefetch_policy *pol, uint64_t used,
                      uint64_t extra) {
  if (pol->storage_budget == 0) return 1;
  return used <= pol->storage_budget && extra <= pol->storage_budget - used;
}

/* ---- variant interning ----------------------------------------------- */

static uint32_t str_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* The variant's id, interning it; -1 when the table is full. */
static int variant_id(vss_prefetch *pf, const char *v) {
  uint32_t i = str_hash(v) & (PF_VHASH_CAP - 1);
  for (;; i = (i + 1) & (PF_VHASH_CAP - 1)) {
    int id = pf->vhash[i] - 1;
    if (id < 0) break;
    if (strcmp(pf->variants[id], v) == 0) return id;
  }
  if (pf->nvariants == PF_MAX_VARIANTS) return -1;
  int id = pf->nvariants++;
  size_t len = 0;
  while (len < VSS_VARIANT_MAX && v[len])
    len++;
  memcpy(pf->variants[id], v, len);
  pf->variants[id][len] = '\0';
  pf->vhash[i] = (int16_t)(id + 1);
  return id;
}

/* ---- queues ---------------------------------------------------------- */

static int ring_push(pf_ring *r, const pf_entry *e) {
  if (r->count == r->cap) {
    uint64_t ncap = r->cap ? r->cap * 2 : 256;
    pf_entry *ne = malloc(ncap * sizeof(*ne));
    if (!ne) return VSS_ERR_NOMEM;
    for (uint64_t i = 0; i < r->count; i++)
      ne[i] = r->e[(r->head + i) & (r->cap - 1)];
    free(r->e);
    r->e = ne;
    r->head = 0;
    r->cap = ncap;
  }
  r->e[(r->head + r->count) & (r->cap - 1)] = *e;
  r->count++;
  return 0;
}

static int ring_pop(pf_ring *r, pf_entry *e) {
  if (r->count == 0) return 0;
  *e = r->e[r->head];
  r->head = (r->head + 1) & (r->cap - 1);
  r->count--;
  if (r->count == 0) { /* give a drained backlog's memory back */
    free(r->e);
    r->e = NULL;
    r->cap = r->head = 0;
  }
  return 1;
}

int vss_prefetch_offer(vss_prefetch *pf, const vss_prefetch_policy *pol,
                       const vss_link_info *link, const vss_key *key,
                       vss_format fmt, uint64_t size) {
  vss_pf_class cls = vss_prefetch_class(pol, key->kind);
  if (cls == VSS_PF_NONE || !vss_prefetch_link_ok(pol, link)) return 0;
  /* A single sidecar over the whole budget can never be prefetched. */
  if (pol->storage_budget && size > pol->storage_budget) return 0;
  int vid = variant_id(pf, key->variant);
  if (vid < 0) return 0;
  pf_entry e;
  memset(&e, 0, sizeof(e));
  memcpy(e.uuid, key->content.b, 16);
  e.kind = (uint8_t)key->kind;
  e.fmt = (uint8_t)fmt;
  e.variant = (uint16_t)vid;
  e.size = size;
  int rc = ring_push(&pf->q[cls == VSS_PF_EAGER ? 0 : 1], &e);
  return rc ? rc : 1;
}

/* The queue the next candidate comes from: eager first; -1 when none. */
static int next_queue(const vss_prefetch *pf, int allow_lazy) {
  if (pf->q[0].count) return 0;
  return allow_lazy && pf->q[1].count ? 1 : -1;
}

static void cand_of(const vss_prefetch *pf, const pf_entry *e, int q,
                    vss_pf_cand *out) {
  memset(out, 0, sizeof(*out));
  memcpy(out->key.content.b, e->uuid, 16);
  out->key.kind = (vss_kind)e->kind;
  memcpy(out->key.variant, pf->variants[e->variant], sizeof(out->key.variant));
  out->fmt = (vss_format)e->fmt;
  out->size = e->size;
  out->cls = q == 0 ? VSS_PF_EAGER : VSS_PF_LAZY;
}

int vss_prefetch_pop(vss_prefetch *pf, int allow_lazy, vss_pf_cand *out) {
  int q = next_queue(pf, allow_lazy);
  pf_entry e;
  if (q < 0 || !ring_pop(&pf->q[q], &e)) return 0;
  cand_of(pf, &e, q, out);
  return 1;
}

int vss_prefetch_peek(const vss_prefetch *pf, int allow_lazy,
                      vss_pf_cand *out) {
  int q = next_queue(pf, allow_lazy);
  if (q < 0) return 0;
  const pf_ring *r = &pf->q[q];
  cand_of(pf, &r->e[r->head], q, out);
  return 1;
}

uint64_t vss_prefetch_pending(const vss_prefetch *pf, vss_pf_class cls) {
  if (cls == VSS_PF_EAGER) return pf->q[0].count;
  if (cls == VSS_PF_LAZY) return pf->q[1].count;
  return 0;
}

void vss_prefetch_clear(vss_prefetch *pf) {
  for (int i = 0; i < 2; i++) {
    free(pf->q[i].e);
    memset(&pf->q[i], 0, sizeof(pf->q[i]));
  }
  free(pf->parked.e);
  memset(&pf->parked, 0, sizeof(pf->parked));
}

/* ---- parked candidates ----------------------------------------------- */

static int variant_find(const vss_prefetch *pf, const char *v) {
  uint32_t i = str_hash(v) & (PF_VHASH_CAP - 1);
  for (;; i = (i + 1) & (PF_VHASH_CAP - 1)) {
    int id = pf->vhash[i] - 1;
    if (id < 0) return -1;
    if (strcmp(pf->variants[id], v) == 0) return id;
  }
}

int vss_prefetch_park(vss_prefetch *pf, const vss_pf_cand *c) {
  int vid = variant_find(pf, c->key.variant); /* interned when offered */
  if (vid < 0) return VSS_ERR_INVALID;
  pf_entry e;
  memset(&e, 0, sizeof(e));
  memcpy(e.uuid, c->key.content.b, 16);
  e.kind = (uint8_t)c->key.kind;
  e.fmt = (uint8_t)c->fmt;
  e.variant = (uint16_t)vid;
  e.size = c->size;
  e.q = c->cls == VSS_PF_EAGER ? 0 : 1;
  return ring_push(&pf->parked, &e);
}

uint64_t vss_prefetch_unpark(vss_prefetch *pf) {
  uint64_t n = 0;
  pf_entry e;
  while (pf->parked.count) {
    e = pf->parked.e[pf->parked.head];
    if (ring_push(&pf->q[e.q ? 1 : 0], &e)) break; /* rest stay parked */
    ring_pop(&pf->parked, &e);
    n++;
  }
  return n;
}

uint64_t vss_prefetch_parked(const vss_prefetch *pf) {
  return pf->parked.count;
}
