/*
 * check.c - fleet invariants for the fuzzer and the campaign. See check.h.
 */
#include "check.h"

#include "node_internal.h"
#include "xfer_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HC_MAX_NODES 128

struct vss_hc {
  vss_h *h;
  uint64_t verified_seq[HC_MAX_NODES]; /* rows up to it hashed already */
};

vss_hc *vss_hc_new(vss_h *h) {
  vss_hc *c = calloc(1, sizeof(*c));
  if (c) c->h = h;
  return c;
}

void vss_hc_del(vss_hc *c) {
  free(c);
}

static void key_str(const vss_key *k, char *out, size_t cap) {
  char u[VSS_UUID_STR_LEN + 1];
  vss_uuid_format(&k->content, u);
  snprintf(out, cap, "%.8s/%s/%s", u,
           vss_kind_name(k->kind) ? vss_kind_name(k->kind) : "?", k->variant);
}

/* ---- (a) safety ------------------------------------------------------ */

typedef struct safety_ctx {
  vss_hc *c;
  int i, full, bad;
  uint64_t held, max_seq;
  char *msg;
  size_t cap;
} safety_ctx;

static int fail(safety_ctx *s, const vss_avail_row *row, const char *what) {
  char k[128];
  key_str(&row->key, k, sizeof(k));
  snprintf(s->msg, s->cap,
           "safety: node %d holds %s (size %" PRIu64 ", seq %" PRIu64
           ") but %s",
           s->i, k, row->size, row->seq, what);
  s->bad = 1;
  return 1;
}

static int safety_row(void *user, const vss_avail_row *row) {
  safety_ctx *s = user;
  if (row->seq > s->max_seq) s->max_seq = row->seq;
  if (!row->has) return 0;
  s->held += row->size;
  vss_h *h = s->c->h;
  vss_blobs *b = vss_h_blobs(h, s->i);
  uint64_t size = 0;
  if (vss_blobs_stat(b, &row->key, row->format, &size) != 0)
    return fail(s, row, "no committed blob");
  if (size != row->size) {
    char w[96];
    snprintf(w, sizeof(w), "its blob has %" PRIu64 " bytes", size);
    return fail(s, row, w);
  }
  vss_sidecar_row sr;
  int grc = vss_store_get_sidecar(vss_h_db(h, s->i), &row->key, &sr);
  if (grc == VSS_ERR_NOT_FOUND) return fail(s, row, "no sidecar row");
  if (grc != 0) {
    char w[96];
    snprintf(w, sizeof(w), "its sidecar row cannot be read (%s)",
             vss_strerror(grc));
    return fail(s, row, w);
  }
  if (sr.status != VSS_STATUS_READY ||
      !vss_hash_eq(&sr.checksum, &row->checksum))
    return fail(s, row, "its sidecar row is not READY with that checksum");
  if (!s->full && row->seq <= s->c->verified_seq[s->i]) return 0;
  vss_hash sum;
  if (vss_blobs_checksum(b, &row->key, row->format, size, &sum) != 0)
    return fail(s, row, "its blob cannot be read");
  if (!vss_hash_eq(&sum, &row->checksum))
    return fail(s, row, "its blob does not hash to its checksum");
  return 0;
}

int vss_hc_safety(vss_hc *c, int i, int full, uint64_t *held, char *msg,
                  size_t cap) {
  safety_ctx s = {.c = c, .i = i, .full = full, .msg = msg, .cap = cap};
  /* A node whose armed crash fired is not checked until the harness has
   * crashed it: its connection may still hold the transaction the crash
   * cut short (the rollback was one of the calls that failed), which
   * shows this check rows that were never committed and that the
   * restart rolls back. */
  if (vss_h_dead(c->h, i)) {
    if (held) *held = 0;
    return 0;
  }
  int rc = vss_store_iter_avail_since(vss_h_db(c->h, i), 0, safety_row, &s);
  if (held) *held = s.held;
  if (s.bad) return -1;
  if (rc < 0) {
    snprintf(msg, cap, "safety: node %d: reading its rows: %s", i,
             vss_strerror(rc));
    return -1;
  }
  if (i < HC_MAX_NODES) c->verified_seq[i] = s.max_seq;
  return 0;
}

/* ---- (c) jobs -------------------------------------------------------- */

static int src_can_work(const vss_xfer *x, const xjob *j) {
  for (uint32_t k = 0; k < j->nsrc; k++) {
    if (j->src[k].dropped) continue;
    const vss_peer *p = xf_peer_at(x, j->src[k].peer);
    if (xf_src_usable(x, j, p)) return 1;
  }
  return 0;
}

static const char *job_stuck(const vss_xfer *x, const xjob *j) {
  if (j->state == J_GEN) return NULL; /* the generator owes an answer */
  if (j->wake_at != VSS_TIME_UNSET) return NULL;
  if (j->state == J_WAIT) return "waits with no timer";
  /* Waits for a temp-blob slot: the job holding one wakes it. */
  if (j->twait && x->ntemp > 0) return NULL;
  for (const xreq *r = j->reqs; r; r = r->jnext)
    if (r->outstanding && r->deadline != VSS_TIME_UNSET) return NULL;
  if (j->ready && src_can_work(x, j)) return NULL;
  return j->ready ? "has work but no usable source, no request, no timer"
                  : "transfers with no request, no timer, no work queued";
}

int vss_hc_jobs(vss_hc *c, int i, char *msg, size_t cap) {
  vss_node *n = vss_h_node(c->h, i);
  const vss_xfer *x = n->xfer;
  for (const xjob *j = x->jobs_head; j; j = j->next) {
    const char *why = job_stuck(x, j);
    if (!why) continue;
    char k[128];
    key_str(&j->key, k, sizeof(k));
    snprintf(msg, cap,
             "liveness: node %d job %" PRIu64 " (%s, size %" PRIu64 ", %" PRIu64
             "/%" PRIu64 " chunks, %u sources) %s",
             i, j->id, k, j->size, j->ndone, j->nchunks, j->nsrc, why);
    return -1;
  }
  return 0;
}

/* ---- (b) per-peer budget --------------------------------------------- */

int vss_hc_budget_check(vss_hc *c, int i, const vss_hc_budget *b,
                        vss_hc_budget *worst, char *msg, size_t cap) {
  vss_node *n = vss_h_node(c->h, i);
  const vss_xfer *x = n->xfer;
  int bad = 0;
  for (uint16_t k = 0; k < n->npeers && !bad; k++) {
    const vss_peer *p = n->live[k];
    vss_hc_budget u = {.queue_bytes = p->queued_bytes};
    u.cache_entries = vss_pcache_count_peer(n->pcache, p->idx);
    const xpeer *xp = p->idx < VSS_MAX_PEERS ? x->peers[p->idx] : NULL;
    if (xp) u.serves = xp->nserve;
    for (const xjob *j = x->jobs_head; j; j = j->next)
      for (const xreq *r = j->reqs; r; r = r->jnext)
        if (r->peer == p->idx && r->buf) u.unverified_bytes += r->got;
    if (worst) {
      if (u.queue_bytes > worst->queue_bytes)
        worst->queue_bytes = u.queue_bytes;
      if (u.unverified_bytes > worst->unverified_bytes)
        worst->unverified_bytes = u.unverified_bytes;
      if (u.cache_entries > worst->cache_entries)
        worst->cache_entries = u.cache_entries;
      if (u.serves > worst->serves) worst->serves = u.serves;
    }
    const char *what = NULL;
    uint64_t have = 0, max = 0;
    if (u.queue_bytes > b->queue_bytes)
      what = "control-queue bytes", have = u.queue_bytes, max = b->queue_bytes;
    else if (u.unverified_bytes > b->unverified_bytes)
      what = "unverified chunk bytes", have = u.unverified_bytes,
      max = b->unverified_bytes;
    else if (u.cache_entries > b->cache_entries)
      what = "cache entries", have = u.cache_entries, max = b->cache_entries;
    else if (u.serves > b->serves)
      what = "queued GETs", have = u.serves, max = b->serves;
    if (what) {
      char d[VSS_UUID_STR_LEN + 1];
      vss_uuid_format(&p->id, d);
      snprintf(msg, cap,
               "budget: node %d holds %" PRIu64
               " %s for peer %.8s (bound %" PRIu64 ")",
               i, have, what, d, max);
      bad = 1;
    }
  }
  return bad ? -1 : 0;
}

/* ---- (d) convergence ------------------------------------------------- */

typedef struct centry {
  vss_key key;
  uint64_t size;
  vss_hash sum;
} centry;

typedef struct cset {
  centry *e;
  size_t n, cap;
  int nomem;
} cset;

static void cset_add(cset *s, const vss_key *k, uint64_t size,
                     const vss_hash *sum) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? 2 * s->cap : 64;
    centry *p = realloc(s->e, nc * sizeof(*p));
    if (!p) {
      s->nomem = 1;
      return;
    }
    s->e = p;
    s->cap = nc;
  }
  s->e[s->n++] = (centry){.key = *k, .size = size, .sum = *sum};
}

static int centry_cmp(const void *a, const void *b) {
  const centry *x = a, *y = b;
  int c = vss_key_cmp(&x->key, &y->key);
  if (c) return c;
  if (x->size != y->size) return x->size < y->size ? -1 : 1;
  return memcmp(x->sum.b, y->sum.b, VSS_HASH_LEN);
}

static int own_row(void *user, const vss_avail_row *row) {
  if (row->has) cset_add(user, &row->key, row->size, &row->checksum);
  return 0;
}

typedef struct cache_ctx {
  cset *s;
  uint16_t idx;
} cache_ctx;

static int cache_key(void *user, const vss_key *key, const vss_holder *hs,
                     size_t n) {
  cache_ctx *c = user;
  for (size_t k = 0; k < n; k++)
    if (hs[k].peer == c->idx) cset_add(c->s, key, hs[k].size, &hs[k].checksum);
  return 0;
}

static void describe(const centry *e, const char *where, char *out,
                     size_t cap) {
  char k[128];
  key_str(&e->key, k, sizeof(k));
  snprintf(out, cap, "%s (size %" PRIu64 ") %s", k, e->size, where);
}

int vss_hc_converged(vss_hc *c, int a, int b, char *msg, size_t cap) {
  cset truth = {0}, seen = {0};
  vss_store_iter_avail_since(vss_h_db(c->h, b), 0, own_row, &truth);
  vss_node *na = vss_h_node(c->h, a);
  vss_peer *pb = vss__peer_find(na, vss_h_device(c->h, b));
  if (pb) {
    cache_ctx cc = {.s = &seen, .idx = pb->idx};
    vss_pcache_iter(na->pcache, cache_key, &cc);
  }
  int rc = 0;
  if (truth.nomem || seen.nomem) {
    snprintf(msg, cap, "convergence: out of memory comparing %d and %d", a, b);
    rc = -1;
  }
  if (truth.n) qsort(truth.e, truth.n, sizeof(centry), centry_cmp);
  if (seen.n) qsort(seen.e, seen.n, sizeof(centry), centry_cmp);
  size_t i = 0, j = 0;
  while (rc == 0 && (i < truth.n || j < seen.n)) {
    int d = i == truth.n  ? 1
            : j == seen.n ? -1
                          : centry_cmp(&truth.e[i], &seen.e[j]);
    if (d == 0) {
      i++, j++;
      continue;
    }
    char what[192];
    if (d < 0)
      describe(&truth.e[i], "is held but missing from the cache", what,
               sizeof(what));
    else
      describe(&seen.e[j], "is cached but not held (stale or forged)", what,
               sizeof(what));
    snprintf(msg, cap,
             "convergence: node %d's cache of node %d (%zu entries, %d holds "
             "%zu): %s",
             a, b, seen.n, b, truth.n, what);
    rc = -1;
  }
  free(truth.e);
  free(seen.e);
  return rc;
}
