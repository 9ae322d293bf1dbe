/*
 * xfer_prefetch.c - turning prefetch candidates (prefetch.c) into jobs:
 * at most max_concurrent slots at once, within the storage budget, eager
 * kinds before lazy ones and lazy ones only while nothing else runs.
 *
 * Slots (xslot, xfer_internal.h) are what max_concurrent counts: one
 * large sidecar, or a batch of small ones from one source up to that
 * source's request window in bytes. Counting jobs instead would leave a
 * thumbnail backlog with max_concurrent requests in flight, a round trip
 * per max_concurrent thumbnails: 45 KB x 3 per 50 ms RTT is 2.7 MB/s on a
 * 10 MB/s internet path. A batch lets the source's window fill the pipe
 * while large sidecars still take one slot each.
 *
 * Candidates are taken in queue order: when the next one has no room
 * yet, it stays queued and the pump stops until a slot frees up.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- slots ----------------------------------------------------------- */

static int small_sidecar(uint64_t size) {
  return size <= VSS_CHUNK_SIZE;
}

/* The byte window the scheduler keeps in flight to peer: a batch that
 * big covers the path's bandwidth x RTT, more would only queue. */
static uint64_t peer_window(const vss_xfer *x, uint16_t peer) {
  const vss_node_config *cf = xf_cfg(x);
  const vss_peer *p = xf_peer_at(x, peer);
  return p ? vss_est_window(&p->est, cf->window_min, cf->window_max)
           : cf->window_min; /* slot freed (vss_xfer_peer_freed) */
}

/* A batch slot of peer with room for `size` more bytes, or NULL. */
static xslot *slot_with_room(const vss_xfer *x, uint16_t peer, uint64_t size) {
  if (!small_sidecar(size)) return NULL;
  uint64_t win = peer_window(x, peer);
  for (xslot *s = x->slots; s; s = s->next)
    if (s->batch && s->peer == peer && s->bytes + size <= win) return s;
  return NULL;
}

static int slot_free_one(const vss_xfer *x) {
  return x->nslots < xf_cfg(x)->prefetch.max_concurrent;
}

static xslot *slot_open(vss_xfer *x, uint16_t peer, int batch) {
  xslot *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->peer = peer;
  s->batch = batch;
  s->next = x->slots;
  if (s->next) s->next->prev = s;
  x->slots = s;
  x->nslots++;
  return s;
}

static void slot_close(vss_xfer *x, xslot *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    x->slots = s->next;
  if (s->next) s->next->prev = s->prev;
  x->nslots--;
  free(s);
}

static void slot_join(xjob *j, xslot *s, uint64_t bytes) {
  j->slot = s;
  j->slot_bytes = bytes;
  s->bytes += bytes;
  s->njobs++;
}

void xf_pf_slots_forget(vss_xfer *x, uint16_t peer) {
  for (xslot *s = x->slots; s; s = s->next)
    if (s->peer == peer) s->peer = UINT16_MAX; /* never matches a peer */
}

void xf_pf_slot_leave(vss_xfer *x, xjob *j) {
  xslot *s = j->slot;
  if (!s) return;
  j->slot = NULL;
  s->bytes -= j->slot_bytes;
  if (--s->njobs == 0) slot_close(x, s);
}

/* Could any candidate start now? Cheap: the pump runs after every
 * completed request. */
static int slot_any_room(const vss_xfer *x) {
  if (slot_free_one(x)) return 1;
  for (const xslot *s = x->slots; s; s = s->next)
    if (s->batch && s->bytes < peer_window(x, s->peer)) return 1;
  return 0;
}

/* ---- candidates ------------------------------------------------------ */

static void pf_skip(vss_xfer *x, const vss_pf_cand *c, int rc, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_PREFETCH_SKIPPED;
  ev.key = c->key;
  ev.format = c->fmt;
  ev.bytes = c->size;
  ev.flags = VSS_EVF_PREFETCH;
  ev.rc = rc;
  vss__emit(x->n, &ev, now);
}

/* Still wanted: the policy still names its kind so, and it is neither
 * local nor being fetched (duplicates are weeded out here, not when
 * offered: that check needs the store). */
static int pf_wanted(vss_xfer *x, const vss_pf_cand *c) {
  const vss_prefetch_policy *pol = &xf_cfg(x)->prefetch;
  if (vss_prefetch_class(pol, c->key.kind) != c->cls) return 0;
  return !xf_job_by_key(x, &c->key) &&
         !vss_xfer_is_local(x, &c->key, c->fmt, NULL);
}

/* The holder a job for c would start from (xf_job_pick_target makes the
 * same choice at the same moment): the cheapest on a link prefetch may
 * use. Returns 0 when there is none. */
static int pf_source(const vss_xfer *x, const vss_pf_cand *c, vss_holder *out) {
  xjob probe;
  memset(&probe, 0, sizeof(probe));
  probe.key = c->key;
  probe.fmt = c->fmt;
  probe.flags = JF_RESTRICTED;
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = xf_job_holders(x, &probe, h, XFER_MAX_SOURCES);
  size_t best = xf_best_holder(x, h, n, 1);
  if (best == n) return 0;
  *out = h[best];
  return 1;
}

/* Does any peer, reachable or not, hold c? (Offline holders are kept
 * in the peer cache until its TTL.) */
static int pf_has_holder(const vss_xfer *x, const vss_pf_cand *c) {
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = vss_pcache_holders(x->n->pcache, &c->key, h, XFER_MAX_SOURCES);
  if (n > XFER_MAX_SOURCES) n = XFER_MAX_SOURCES;
  for (size_t i = 0; i < n; i++)
    if (h[i].format == c->fmt) return 1;
  return 0;
}

/* Start a prefetch job for c in slot s (NULL: no source is known; the
 * launch fails and says so). */
static void pf_start(vss_xfer *x, const vss_pf_cand *c, xslot *s,
                     uint64_t bytes, uint64_t *used, vss_time now) {
  xjob *j =
      xf_job_new(x, &c->key, c->fmt, JF_RESTRICTED, VSS_EVF_PREFETCH, now);
  if (!j) {
    if (s && s->njobs == 0) slot_close(x, s);
    return;
  }
  j->eager = c->cls == VSS_PF_EAGER;
  if (j->eager) x->npf_eager++;
  if (s) slot_join(j, s, bytes);
  xf_emit(x, VSS_EV_PREFETCH_QUEUED, j, NULL, c->size, 0, 0, now);
  int rc = xf_job_launch(x, j, now);
  if (rc) {
    pf_skip(x, c, rc, now);
    if ((j = xf_job_by_key(x, &c->key)) != NULL && j->state == J_WAIT)
      xf_job_free(x, j, now);
    return;
  }
  *used += c->size;
}

/* Act on the candidate at the head of the queue: drop it, skip it, or
 * start it in a batch of its source with room, else in a new slot.
 * Returns 0 when it has to wait for a slot (it stays queued). */
static int pf_next(vss_xfer *x, int lazy_ok, const vss_pf_cand *c,
                   uint64_t *used, vss_time now) {
  int wanted = pf_wanted(x, c);
  int fits = vss_prefetch_fits(&xf_cfg(x)->prefetch, *used, c->size);
  vss_holder src;
  int has_src = wanted && fits && pf_source(x, c, &src);
  xslot *s = has_src ? slot_with_room(x, src.peer, src.size) : NULL;
  if (has_src && !s && !slot_free_one(x)) return 0;
  vss_pf_cand head;
  vss_prefetch_pop(x->pf, lazy_ok, &head); /* c itself */
  if (!wanted) return 1;
  if (!fits) {
    pf_skip(x, c, VSS_ERR_FULL, now);
    return 1;
  }
  /* Its holders are away (a WiFi drop): set it aside until one is back
   * rather than lose it; it is offered again then (xf_pf_peer_up). */
  if (!has_src && pf_has_holder(x, c)) {
    if (vss_prefetch_park(x->pf, c)) pf_skip(x, c, VSS_ERR_NOMEM, now);
    return 1;
  }
  if (has_src && !s && !(s = slot_open(x, src.peer, small_sidecar(src.size)))) {
    pf_skip(x, c, VSS_ERR_NOMEM, now);
    return 1;
  }
  pf_start(x, c, s, has_src ? src.size : 0, used, now);
  return 1;
}

void xf_pf_peer_up(vss_xfer *x, vss_peer *p, vss_time now) {
  (void)p; /* any holder may be the one back: re-offer all */
  if (vss_prefetch_unpark(x->pf)) xf_pf_pump(x, now);
}

void xf_pf_pump(vss_xfer *x, vss_time now) {
  const vss_prefetch_policy *pol = &xf_cfg(x)->prefetch;
  if (!slot_any_room(x)) return;
  if (!vss_prefetch_pending(x->pf, VSS_PF_EAGER) &&
      !vss_prefetch_pending(x->pf, VSS_PF_LAZY))
    return;
  uint64_t used = pol->storage_budget ? vss_xfer_budget_used(x) : 0;
  vss_pf_cand c;
  for (;;) {
    int lazy_ok = x->nfg == 0 && x->npf_eager == 0 &&
                  vss_prefetch_pending(x->pf, VSS_PF_EAGER) == 0;
    if (!vss_prefetch_peek(x->pf, lazy_ok, &c)) break;
    if (!pf_next(x, lazy_ok, &c, &used, now)) break;
  }
}
