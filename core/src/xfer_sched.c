/*
 * xfer_sched.c - who fetches what, and when.
 *
 * A job's sources are the online holders with the same size and checksum
 * as the best-ranked one. Every source keeps its own request window full
 * (vss_est_window), so a fast source pulls more chunks than a slow one
 * and many small sidecars from one peer share that window: 1000
 * thumbnails cost about one RTT, not 1000. A source only takes a chunk
 * when it would finish it about as soon as the best source could, or when
 * the job's remaining work outlasts it anyway (so a slow source helps with
 * a 1 GB proxy but never delays a thumbnail).
 *
 * A request past its deadline from a source that delivered nothing lately
 * is stalled: the chunk goes back with backoff for that source, which is
 * blamed (dropped after repeated errors). Deadlines and job wake-ups sit
 * in two timer heaps (theap.h): the next expiry is their tops, and an
 * expiry visits only what is due, in the order a walk over the sources'
 * request lists and the job list would take.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- sources --------------------------------------------------------- */

int xf_src_usable(const vss_xfer *x, const xjob *j, const vss_peer *p) {
  if (!p || !p->online) return 0;
  return !(j->flags & JF_RESTRICTED) ||
         vss_prefetch_link_ok(&xf_cfg(x)->prefetch, &p->link);
}

jsrc *xf_job_src(xjob *j, uint16_t idx) {
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (j->src[i].peer == idx) return &j->src[i];
  return NULL;
}

uint32_t xf_job_live_sources(const vss_xfer *x, const xjob *j) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    n += !j->src[i].dropped &&
         xf_src_usable(x, j, xf_peer_at(x, j->src[i].peer));
  return n;
}

static uint64_t src_inflight(const vss_xfer *x, uint16_t idx) {
  return idx < VSS_MAX_PEERS && x->peers[idx] ? x->peers[idx]->c.inflight : 0;
}

vss_time xf_src_cost(const vss_xfer *x, uint16_t idx, uint64_t bytes) {
  const vss_peer *p = xf_peer_at(x, idx);
  return vss_est_cost(&p->est, bytes, src_inflight(x, idx));
}

/* Whether h may be a holder at all: a size within the protocol's
 * bound, and an empty sidecar only with the checksum of empty content
 * (decoders refuse the rest; this keeps any other path honest too). */
static int holder_sane(const vss_holder *h) {
  if (h->size > VSS_SIDECAR_MAX_SIZE) return 0;
  if (h->size == 0) {
    vss_hash empty;
    vss_checksum_empty(&empty);
    return vss_hash_eq(&empty, &h->checksum);
  }
  return 1;
}

static int src_suspect(const vss_xfer *x, uint16_t idx) {
  const vss_peer *p = xf_peer_at(x, idx);
  return p && vss_est_suspect(&p->est, x->now);
}

int xf_src_busy(const vss_xfer *x, uint16_t idx, vss_time now) {
  const xpeer *xp = idx < VSS_MAX_PEERS ? x->peers[idx] : NULL;
  return xp && xp->c.busy_until > now;
}

/* For background work, a source that said BUSY costs its wait too. */
static vss_time src_cost_bg(const vss_xfer *x, uint16_t idx, uint64_t bytes,
                            int bg) {
  vss_time c = xf_src_cost(x, idx, bytes);
  if (bg && xf_src_busy(x, idx, x->now)) {
    vss_time w = x->peers[idx]->c.busy_until - x->now;
    c = c > VSS_TIME_UNSET - 1 - w ? VSS_TIME_UNSET - 1 : c + w;
  }
  return c;
}

/* Clean holders before suspects, then the cheaper. */
static int holder_better(const vss_xfer *x, const vss_holder *a,
                         const vss_holder *b, int bg) {
  int sa = src_suspect(x, a->peer), sb = src_suspect(x, b->peer);
  if (sa != sb) return sa < sb;
  return src_cost_bg(x, a->peer, a->size, bg) <
         src_cost_bg(x, b->peer, b->size, bg);
}

/* The best `cap` of n filtered holders into h[0..cap) (partial
 * selection: cap is small, n is the holders of one key). */
static size_t holders_keep_best(const vss_xfer *x, vss_holder *h, size_t n,
                                size_t cap) {
  if (n <= cap) return n;
  for (size_t i = 0; i < cap; i++) {
    size_t best = i;
    for (size_t k = i + 1; k < n; k++)
      if (holder_better(x, &h[k], &h[best], 0)) best = k;
    vss_holder t = h[i];
    h[i] = h[best];
    h[best] = t;
  }
  return cap;
}

static size_t holders_filter(const vss_xfer *x, const xjob *j, vss_holder *h,
                             size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (h[i].format == j->fmt && holder_sane(&h[i]) &&
        xf_src_usable(x, j, xf_peer_at(x, h[i].peer)))
      h[k++] = h[i];
  return k;
}

/* Usable holders of j, from the peer cache: every holder is filtered
 * first (format, sanity, online, link policy), then the best `cap` are
 * kept - a key with 40 holders, the first 32 of them offline, still has
 * 8 sources. Returns how many are in h. */
size_t xf_job_holders(const vss_xfer *x, const xjob *j, vss_holder *h,
                      size_t cap) {
  size_t n = vss_pcache_holders(x->n->pcache, &j->key, h, cap);
  if (n <= cap) return holders_keep_best(x, h, holders_filter(x, j, h, n), cap);
  /* More holders than room: all of them, on the heap (at most one per
   * peer slot, so bounded by VSS_MAX_PEERS). */
  vss_holder *all = malloc(n * sizeof(*all));
  if (!all) /* without memory, the first cap filtered */
    return holders_filter(x, j, h, cap);
  size_t got = vss_pcache_holders(x->n->pcache, &j->key, all, n);
  if (got > n) got = n;
  got = holders_keep_best(x, all, holders_filter(x, j, all, got), cap);
  memcpy(h, all, got * sizeof(*h));
  free(all);
  return got;
}

/* A slot of j's full source table that can go to a new holder: one
 * that is offline or was dropped (its blame lives on in its peer's
 * estimates), with nothing owed; else NULL. */
static jsrc *src_slot_reusable(const vss_xfer *x, xjob *j) {
  jsrc *pick = NULL;
  for (uint32_t i = 0; i < j->nsrc; i++) {
    jsrc *s = &j->src[i];
    const vss_peer *p = xf_peer_at(x, s->peer);
    if (!s->dropped && p && p->online) continue;
    int owes = 0;
    for (const xreq *r = j->reqs; r && !owes; r = r->jnext)
      owes = r->outstanding && r->peer == s->peer;
    if (owes) continue;
    /* An offline one first: an errored one is kept as long as possible. */
    if (!pick || (pick->errors && !s->errors)) pick = s;
  }
  return pick;
}

/* Add (or revive) a holder as a source when it has the job's bytes. */
static int job_add_source(vss_xfer *x, xjob *j, const vss_holder *h) {
  if (h->size != j->size || !vss_hash_eq(&h->checksum, &j->checksum) ||
      !holder_sane(h))
    return 0;
  jsrc *s = xf_job_src(j, h->peer);
  if (s) {
    if (!s->dropped || s->errors >= XFER_SRC_MAX_ERRORS) return 0;
    s->dropped = 0; /* back online */
    s->gone = 0;
    if (x) xf_src_link(x, j, s);
    return 1;
  }
  if (j->nsrc < XFER_MAX_SOURCES)
    s = &j->src[j->nsrc++];
  else if (!x || !(s = src_slot_reusable(x, j)))
    return 0;
  else
    xf_src_unlink(x, s); /* the slot's old peer leaves its ready list */
  memset(s, 0, sizeof(*s));
  s->peer = h->peer;
  s->job = j;
  if (x) xf_src_link(x, j, s);
  return 1;
}

/* ---- per-source ready lists ------------------------------------------ */

void xf_src_link(vss_xfer *x, xjob *j, jsrc *s) {
  if (s->linked || !j->ready || s->dropped) return;
  xpeer *xp = xf_xp_get(x, s->peer);
  if (!xp) return; /* without memory the source is pumped by no one */
  int c = (j->evflags & VSS_EVF_FOREGROUND) ? 0 : 1;
  s->job = j;
  s->rnext = NULL;
  s->rprev = xp->rtail[c];
  if (s->rprev)
    s->rprev->rnext = s;
  else
    xp->rhead[c] = s;
  xp->rtail[c] = s;
  s->linked = 1;
  xf_dirty_peer(x, s->peer);
}

void xf_src_unlink(vss_xfer *x, jsrc *s) {
  if (!s->linked) return;
  xpeer *xp = x->peers[s->peer];
  int c = (s->job->evflags & VSS_EVF_FOREGROUND) ? 0 : 1;
  if (s->rprev)
    s->rprev->rnext = s->rnext;
  else
    xp->rhead[c] = s->rnext;
  if (s->rnext)
    s->rnext->rprev = s->rprev;
  else
    xp->rtail[c] = s->rprev;
  s->rprev = s->rnext = NULL;
  s->linked = 0;
}

void xf_dirty_peer(vss_xfer *x, uint16_t idx) {
  if (idx >= VSS_MAX_PEERS) return;
  uint64_t bit = 1ull << (idx % 64);
  if (x->dirty_bits[idx / 64] & bit) return;
  x->dirty_bits[idx / 64] |= bit;
  x->dirty[x->ndirty++] = idx;
}

void xf_dirty_job(vss_xfer *x, const xjob *j) {
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (!j->src[i].dropped) xf_dirty_peer(x, j->src[i].peer);
}

int xf_job_add_source(vss_xfer *x, xjob *j, const vss_holder *h) {
  return job_add_source(x, j, h);
}

size_t xf_best_holder(const vss_xfer *x, const vss_holder *h, size_t n,
                      int bg) {
  size_t best = n;
  for (size_t i = 0; i < n; i++)
    if (best == n || holder_better(x, &h[i], &h[best], bg)) best = i;
  return best;
}

/* Pick what to fetch (size, checksum of the cheapest holder) and every
 * holder that has exactly that. Returns the best source or NULL. */
vss_peer *xf_job_pick_target(vss_xfer *x, xjob *j) {
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = xf_job_holders(x, j, h, XFER_MAX_SOURCES);
  size_t best = xf_best_holder(x, h, n, !(j->evflags & VSS_EVF_FOREGROUND));
  if (best == n) return NULL;
  j->size = h[best].size;
  j->checksum = h[best].checksum;
  for (size_t i = 0; i < n; i++)
    job_add_source(x, j, &h[i]);
  return xf_peer_at(x, h[best].peer);
}

/* New holders learned since the job started, and old ones back online. */
void xf_job_refresh_sources(vss_xfer *x, xjob *j) {
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = xf_job_holders(x, j, h, XFER_MAX_SOURCES);
  for (size_t i = 0; i < n; i++)
    job_add_source(x, j, &h[i]);
}

void xf_src_drop(vss_xfer *x, xjob *j, jsrc *s, int rc, vss_time now) {
  if (s->dropped) return;
  xf_src_unlink(x, s);
  s->dropped = 1;
  s->gone = rc == VSS_ERR_UNKNOWN_PEER;
  if (rc != VSS_ERR_UNKNOWN_PEER) j->why = rc;
  xf_emit(x, VSS_EV_SOURCE_DROPPED, j, xf_peer_at(x, s->peer), s->bytes, 0, rc,
          now);
}

/* A source misbehaved (bad chunk, stall): drop it after repeated errors. */
void xf_src_blame(vss_xfer *x, xjob *j, uint16_t idx, int rc, vss_time now) {
  vss_peer *p = xf_peer_at(x, idx);
  /* Bad bytes follow the peer to its next jobs; a stall may be the
   * link's fault and stays with this job. */
  if (p && rc == VSS_ERR_CHECKSUM) vss_est_blame(&p->est, now);
  jsrc *s = xf_job_src(j, idx);
  if (!s) return;
  if (s->errors < 255) s->errors++;
  if (s->errors >= XFER_SRC_MAX_ERRORS) xf_src_drop(x, j, s, rc, now);
}

/* ---- probing ---------------------------------------------------------
 *
 * A source whose rate is only its link class's prior (est.h) may be
 * faster or slower than the prior by VSS_EST_PRIOR_SPREAD: ranking by the
 * prior alone would leave a merely unmeasured source unused forever (it is
 * measured only by the bytes it sends). So when a job has more than this
 * one piece left, an unmeasured source with nothing in flight takes a
 * piece if its estimated cost is within the prior's spread of the best
 * source's: one probe, after which its measured rate ranks it. A job whose
 * one piece is all it needs (a thumbnail) is never probed: a probe must
 * not delay it. Its window stays at the floor until measured
 * (vss_est_window), so a probe costs at most that much of the job. */
static int src_probe_ok(const vss_xfer *x, const xjob *j, uint16_t idx,
                        vss_time mine, vss_time best) {
  const vss_peer *p = xf_peer_at(x, idx);
  const xpeer *xp = idx < VSS_MAX_PEERS ? x->peers[idx] : NULL;
  if (!p || !vss_est_rate_guessed(&p->est) || j->ntodo < 2) return 0;
  if (xp && xp->c.nreq > 0) return 0;
  return best != VSS_TIME_UNSET && best > 0 &&
         mine / VSS_EST_PRIOR_SPREAD <= best;
}

/* Should source idx take a piece of `len` bytes of j now? When it would
 * finish about as soon as the best source could (queues included), or
 * when the job's remaining work lasts longer than this piece anyway.
 * Sources that may not have this chunk (in backoff for it) do not count
 * as better. */
static int src_acceptable(const vss_xfer *x, const xjob *j, uint16_t idx,
                          uint64_t len, const xchunk *c, vss_time now) {
  vss_time mine = xf_src_cost(x, idx, len), best = VSS_TIME_UNSET;
  double rate = 0;
  int suspect = vss_est_suspect(&xf_peer_at(x, idx)->est, now);
  int bg = !(j->evflags & VSS_EVF_FOREGROUND);
  for (uint32_t i = 0; i < j->nsrc; i++) {
    const jsrc *s = &j->src[i];
    const vss_peer *p = xf_peer_at(x, s->peer);
    if (s->dropped || !xf_src_usable(x, j, p)) continue;
    /* A source refusing background work is no better choice now. */
    if (bg && s->peer != idx && xf_src_busy(x, s->peer, now)) continue;
    /* A peer that sent bad bytes lately only works when no clean source
     * of this job can: its garbage is then at most what was in flight
     * when its first bad chunk was seen. */
    int other_suspect = vss_est_suspect(&p->est, now);
    if (suspect && !other_suspect) return 0;
    if (!suspect && other_suspect) continue; /* not a better choice */
    rate += p->est.rate;
    if (c && c->avoid == s->peer && now < c->not_before) continue;
    best = vss__tmin(best, xf_src_cost(x, s->peer, len));
  }
  if (best == VSS_TIME_UNSET || mine <= best + best / 8) return 1;
  if (!suspect && src_probe_ok(x, j, idx, mine, best)) return 1;
  double left = (double)j->ntodo * VSS_CHUNK_SIZE;
  return rate > 0 && (double)mine <= left / rate * 1e9;
}

/* ---- chunks ---------------------------------------------------------- */

static int chunk_eligible(const xchunk *c, uint16_t idx, vss_time now) {
  return c->state == CH_TODO && (c->avoid != idx || now >= c->not_before);
}

static uint64_t next_chunk_for(xjob *j, uint16_t idx, vss_time now) {
  while (j->cursor < j->nchunks && j->ch[j->cursor].state != CH_TODO)
    j->cursor++;
  for (uint64_t c = j->cursor; c < j->nchunks; c++)
    if (chunk_eligible(&j->ch[c], idx, now)) return c;
  return UINT64_MAX;
}

/* Put a chunk back to be fetched again. counted: XF_RQ_FAIL a failure
 * (retry budget and backoff apply), XF_RQ_STALL a stall (backoff, capped,
 * and no budget: the job's patience bounds stalls), XF_RQ_GONE the source
 * simply went away. */
void xf_chunk_requeue(vss_xfer *x, xjob *j, uint64_t c, uint16_t culprit,
                      int counted, vss_time now) {
  const vss_node_config *cf = xf_cfg(x);
  xchunk *ch = &j->ch[c];
  if (ch->state == CH_DONE || ch->state == CH_TODO) return;
  ch->state = CH_TODO;
  j->ntodo++;
  if (c < j->cursor) j->cursor = c;
  if (counted == XF_RQ_GONE) return;
  if (ch->tries < 255) ch->tries++;
  if (counted == XF_RQ_FAIL && ch->tries > cf->max_retries && !j->fail_rc)
    j->fail_rc = VSS_ERR_RETRIES;
  ch->avoid = culprit;
  unsigned shift = ch->tries > 20 ? 20 : ch->tries - 1;
  vss_time backoff = cf->retry_backoff << shift;
  if (counted == XF_RQ_STALL && backoff > XFER_STALL_BACKOFF_MAX)
    backoff = XFER_STALL_BACKOFF_MAX;
  ch->not_before = now + backoff;
  xf_job_set_wake(x, j, vss__tmin(j->wake_at, ch->not_before));
}

vss_time xf_stall_scale(const vss_xfer *x, uint16_t idx, vss_time t) {
  const xpeer *xp = idx < VSS_MAX_PEERS ? x->peers[idx] : NULL;
  unsigned shift = 0;
  if (xp)
    shift = xp->c.stalls < XFER_STALL_SHIFT_MAX ? xp->c.stalls
                                                : XFER_STALL_SHIFT_MAX;
  return t > (VSS_TIME_UNSET - 1) >> shift ? VSS_TIME_UNSET - 1 : t << shift;
}

static int meta_needed(const xjob *j) {
  return j->nchunks > 1 && !j->hashes && !j->meta_inflight;
}

/* A list received in part goes on with the source that sent it while
 * that one can (pages of one list come from one source); a list of
 * several pages starts only when the source is not already sending
 * XFER_META_ASSEMBLE_PER_SOURCE others. */
static int meta_source_ok(const vss_xfer *x, const xjob *j, const vss_peer *p) {
  if (!j->massm || j->mpeer != p->idx) {
    const xpeer *xp = x->peers[p->idx];
    if (j->nchunks > VSS_WIRE_META_PAGE && xp &&
        xp->massm >= XFER_META_ASSEMBLE_PER_SOURCE)
      return 0;
  }
  if (j->mnext == 0 || j->mpeer == p->idx) return 1;
  jsrc *s = xf_job_src((xjob *)j, j->mpeer);
  return !s || s->dropped || !xf_src_usable(x, j, xf_peer_at(x, j->mpeer));
}

int xf_job_has_work(const xjob *j) {
  return j->state == J_XFER && ((j->ntodo > 0 && !j->twait) || meta_needed(j));
}

/* ---- windows --------------------------------------------------------- */

static int window_room(const xsrc *s, int fg, uint64_t win) {
  return fg ? s->fg_inflight < win : s->inflight < win;
}

/* Hand source p as much of j as its window takes. */
static void job_fill(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp, uint64_t win,
                     vss_time now) {
  jsrc *s = xf_job_src(j, p->idx);
  if (!s || s->dropped || !xf_src_usable(x, j, p)) return;
  int fg = (j->evflags & VSS_EVF_FOREGROUND) != 0;
  if (meta_needed(j) && meta_source_ok(x, j, p) &&
      src_acceptable(x, j, p->idx, VSS_CHUNK_SIZE, NULL, now) &&
      xf_send_meta_req(x, j, p, xp, now) != 0)
    return;
  while (j->ntodo > 0 && window_room(&xp->c, fg, win)) {
    uint64_t c = next_chunk_for(j, p->idx, now);
    if (c == UINT64_MAX) return;
    /* Chunks need somewhere to go: no temp slot, no request. */
    if (!xf_temp_acquire(x, j)) return;
    if (!src_acceptable(x, j, p->idx, xf_chunk_len(j, c), &j->ch[c], now))
      return;
    if (xf_send_chunk(x, j, p, xp, c, now) != 0) return;
  }
}

/* Fill p's window: foreground jobs first, then the rest, oldest first.
 * Visits only the ready jobs p is a source of. */
void xf_pump_source(vss_xfer *x, vss_peer *p, vss_time now) {
  if (!p || !p->online) return;
  xpeer *xp = xf_xp_get(x, p->idx);
  if (!xp) return;
  const vss_node_config *cf = xf_cfg(x);
  uint64_t win = vss_est_window(&p->est, cf->window_min, cf->window_max);
  /* A source that said BUSY takes foreground work only (always
   * admitted) until its retry-after, then one background request (a
   * probe) until it sends DATA again. */
  int classes = xf_src_busy(x, p->idx, now) ? 1 : 2;
  for (int cls = 0; cls < classes; cls++) {
    uint64_t w = cls == 1 && xp->c.busy_run ? 1 : win;
    for (jsrc *s = xp->rhead[cls], *next; s; s = next) {
      /* j has one source per peer: removing j from the ready lists
       * unlinks s alone from this list, never `next`. */
      next = s->rnext;
      xjob *j = s->job;
      if (!window_room(&xp->c, cls == 0, w)) break;
      job_fill(x, j, p, xp, w, now);
      if (!xf_job_has_work(j)) xf_ready_remove(x, j);
    }
  }
}

void xf_pump_all(vss_xfer *x, vss_time now) {
  for (uint16_t i = 0; i < x->n->npeers; i++)
    if (x->n->live[i]->online) xf_pump_source(x, x->n->live[i], now);
}

void xf_pump_dirty(vss_xfer *x, vss_time now) {
  /* Pumping may mark others (appended, visited in this loop); a peer
   * already in the list stays marked until the end, so the list never
   * holds a peer twice. */
  for (uint32_t k = 0; k < x->ndirty; k++)
    xf_pump_source(x, xf_peer_at(x, x->dirty[k]), now);
  x->ndirty = 0;
  memset(x->dirty_bits, 0, sizeof(x->dirty_bits));
}

/* Pump j's live sources, except `skip` (the caller pumps that one). */
void xf_pump_sources_but(vss_xfer *x, xjob *j, uint16_t skip, vss_time now) {
  uint16_t peers[XFER_MAX_SOURCES];
  uint32_t n = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (!j->src[i].dropped && j->src[i].peer != skip)
      peers[n++] = j->src[i].peer;
  /* Pumping only sends requests: j stays alive. */
  for (uint32_t i = 0; i < n; i++)
    xf_pump_source(x, xf_peer_at(x, peers[i]), now);
}

void xf_pump_job_sources(vss_xfer *x, xjob *j, vss_time now) {
  xf_pump_sources_but(x, j, XFER_NO_PEER, now);
}

/* ---- busy sources ---------------------------------------------------- */

int xf_on_busy(vss_xfer *x, vss_peer *p, xreq *r, uint32_t hint_ms,
               vss_time now) {
  xpeer *xp = x->peers[p->idx];
  xjob *j = r->job;
  uint64_t c = r->chunk;
  int meta = r->meta;
  xf_req_free(x, r, now);
  if (xp->c.busy_until <= now) { /* a new refusal, not the window's echo */
    vss_time wait =
        hint_ms ? (vss_time)hint_ms * VSS_NS_PER_MS : XFER_BUSY_DEFAULT;
    if (wait < XFER_BUSY_MIN) wait = XFER_BUSY_MIN;
    if (wait > XFER_BUSY_MAX) wait = XFER_BUSY_MAX;
    /* +-25%: requesters turned away together come back apart. */
    wait = wait * 3 / 4 + vss_rng_below(&x->n->rng, wait / 2 + 1);
    xp->c.busy_until = now + wait;
    if (xp->c.busy_run < UINT32_MAX) xp->c.busy_run++;
    x->busy_wake = vss__tmin(x->busy_wake, xp->c.busy_until);
    xf_emit(x, VSS_EV_SOURCE_BUSY, j, p, 0, xp->c.busy_run, VSS_ERR_BUSY, now);
  }
  if (meta) {
    j->meta_inflight = 0;
  } else if (j->ch) {
    /* No try counted, no blame: the others may take it meanwhile. */
    xf_chunk_requeue(x, j, c, p->idx, XF_RQ_GONE, now);
    j->ch[c].avoid = p->idx;
    j->ch[c].not_before = xp->c.busy_until;
  }
  if (!xf_job_settle(x, j, now)) xf_pump_sources_but(x, j, p->idx, now);
  return 0;
}

/* Sources whose retry-after passed may take work again. */
static void busy_expire(vss_xfer *x, vss_time now) {
  if (x->busy_wake > now) return;
  x->busy_wake = VSS_TIME_UNSET;
  for (uint16_t i = 0; i < x->n->npeers; i++) {
    uint16_t idx = x->n->live[i]->idx;
    xpeer *xp = idx < VSS_MAX_PEERS ? x->peers[idx] : NULL;
    if (!xp || !xp->c.busy_until) continue;
    if (xp->c.busy_until <= now) {
      xp->c.busy_until = 0;
      xf_dirty_peer(x, idx);
    } else {
      x->busy_wake = vss__tmin(x->busy_wake, xp->c.busy_until);
    }
  }
}

/* ---- timers: deadlines, stalls, backoff ------------------------------ */

void xf_rearm(vss_xfer *x) {
  x->expiry = x->resume_pending ? 0
                                : vss__tmin(vss__tmin(vss_theap_top(&x->rheap),
                                                      vss_theap_top(&x->jheap)),
                                            x->busy_wake);
}

/* The timers of heap h due at now, in `order`, at most
 * XFER_EXPIRE_BATCH of them (the rest stay due: the driver calls again
 * at once). Returns how many are in x->due. */
static size_t due_batch(vss_xfer *x, const vss_theap *h, vss_time now,
                        int (*order)(const void *, const void *)) {
  if (x->due_cap < h->n) {
    void **d = realloc(x->due, h->n * sizeof(*d));
    if (!d) { /* without room, the earliest alone (due_cap >= 1) */
      if (vss_theap_top(h) > now) return 0;
      x->due[0] = h->v[0].obj;
      return 1;
    }
    x->due = d;
    x->due_cap = h->n;
  }
  size_t n = vss_theap_due(h, now, x->due);
  qsort(x->due, n, sizeof(*x->due), order);
  return n < XFER_EXPIRE_BATCH ? n : XFER_EXPIRE_BATCH;
}

/* A source that delivered recently is slow, not stalled. */
static int src_progressing(const vss_xfer *x, const vss_peer *p,
                           const xpeer *xp, vss_time now) {
  vss_time last = xp->c.last_progress;
  if (last == VSS_TIME_UNSET || last > now) return 0;
  return now - last <
         xf_stall_scale(x, p->idx, vss_est_timeout(&p->est, XFER_SLICE, 0));
}

/* A stalled request's work goes back with a backoff for its source,
 * not against the retry budget: the job's patience bounds stalls. */
static void stalled_requeue(vss_xfer *x, xjob *j, int meta, uint64_t c,
                            uint16_t culprit, vss_time now) {
  if (meta)
    j->meta_inflight = 0;
  else
    xf_chunk_requeue(x, j, c, culprit, XF_RQ_STALL, now);
  j->stalled = 1;
  xf_job_rewake(x, j, now); /* the patience deadline */
}

/* Its deadlines double (until its next verified chunk). Requests that
 * expire together are one stall. */
static void src_stalled(xpeer *xp, vss_time now) {
  if (xp->c.stall_at == now && xp->c.stalls) return;
  xp->c.stall_at = now;
  if (xp->c.stalls < UINT32_MAX) xp->c.stalls++;
}

/* A stalled source leaves the job after repeated stalls, unless it is
 * the job's last live source: that one is waited for (backoff) within
 * the job's patience. */
static void stall_blame(vss_xfer *x, xjob *j, uint16_t idx, vss_time now) {
  const vss_node_config *cf = xf_cfg(x);
  vss_time patience = (j->evflags & VSS_EVF_PREFETCH) ? cf->prefetch_patience
                                                      : cf->source_patience;
  jsrc *s = xf_job_src(j, idx);
  if (patience && s && s->errors + 1 >= XFER_SRC_MAX_ERRORS && !s->dropped &&
      xf_job_live_sources(x, j) <= 1)
    return;
  xf_src_blame(x, j, idx, VSS_ERR_TIMEOUT, now);
}

/* The deadline of a META request to this source still within its
 * hashing allowance, else 0. A source computing a chunk-hash list
 * answers nothing else meanwhile: the requests queued behind the META
 * are late, not stalled, and must not get it dropped. */
static vss_time src_hashing_until(const xpeer *xp, vss_time now) {
  vss_time until = 0;
  for (const xreq *r = xp->c.head; r; r = r->snext)
    if (r->meta && r->deadline > now && r->deadline > until)
      until = r->deadline;
  return until;
}

/* A request outlived its deadline. Returns the job id to settle. */
static uint64_t req_expired(vss_xfer *x, xreq *r, vss_time now) {
  vss_peer *p = xf_peer_at(x, r->peer);
  xpeer *xp = x->peers[r->peer];
  if (p && xp && src_progressing(x, p, xp, now)) {
    xf_req_set_deadline(
        x, r,
        now + xf_stall_scale(
                  x, r->peer,
                  vss_est_timeout(&p->est, r->len - r->got, r->ahead)));
    return 0;
  }
  vss_time hashing = xp && !r->meta ? src_hashing_until(xp, now) : 0;
  if (p && hashing) {
    xf_req_set_deadline(
        x, r, hashing + vss_est_timeout(&p->est, r->len - r->got, r->ahead));
    return 0;
  }
  xjob *j = r->job;
  uint16_t culprit = r->peer;
  uint64_t c = r->chunk;
  int meta = r->meta;
  if (xp) src_stalled(xp, now);
  xf_req_abandon(x, r, now);
  stalled_requeue(x, j, meta, c, culprit, now);
  stall_blame(x, j, culprit, now);
  xf_dirty_job(x, j); /* the chunk goes to the others */
  return j->id;
}

/* Sources in index order, each's requests in the order they were sent:
 * the order a walk over the sources' lists would take. */
static int req_order(const void *a, const void *b) {
  const xreq *ra = *(const xreq *const *)a, *rb = *(const xreq *const *)b;
  if (ra->peer != rb->peer) return ra->peer < rb->peer ? -1 : 1;
  return ra->seq < rb->seq ? -1 : ra->seq > rb->seq;
}

static void expire_requests(vss_xfer *x, vss_time now) {
  uint32_t ids[XFER_EXPIRE_BATCH];
  size_t n = due_batch(x, &x->rheap, now, req_order);
  for (size_t k = 0; k < n; k++)
    ids[k] = ((const xreq *)x->due[k])->id;
  /* Acting on one may end others: look each up again. */
  for (size_t k = 0; k < n; k++) {
    xreq *r = xf_req_find(x, ids[k]);
    if (!r) continue;
    uint64_t jid = req_expired(x, r, now);
    xjob *j = jid ? xf_job_by_id(x, jid) : NULL;
    if (j) xf_job_settle(x, j, now);
  }
}

/* A job's timer fired: a query went unanswered, a chunk's backoff
 * ended (it may be handed out again), or its patience for a source to
 * come back ran out (settling ends it then). May end j. */
static void job_wake(vss_xfer *x, xjob *j, vss_time now) {
  if (j->state == J_WAIT) {
    xf_job_set_wake(x, j, VSS_TIME_UNSET);
    xf_job_fail(x, j, VSS_ERR_NO_SOURCE, now);
  } else if (j->state == J_XFER) {
    xf_job_rewake(x, j, now);
    if (xf_job_settle(x, j, now)) return;
    if (xf_job_has_work(j)) xf_ready_insert(x, j);
    xf_dirty_job(x, j); /* chunks out of backoff: its sources may take them */
  } else {
    xf_job_set_wake(x, j, VSS_TIME_UNSET);
  }
}

/* Oldest first, as jobs were created. */
static int job_order(const void *a, const void *b) {
  const xjob *ja = *(const xjob *const *)a, *jb = *(const xjob *const *)b;
  return ja->id < jb->id ? -1 : ja->id > jb->id;
}

static void expire_jobs(vss_xfer *x, vss_time now) {
  uint64_t ids[XFER_EXPIRE_BATCH];
  size_t n = due_batch(x, &x->jheap, now, job_order);
  for (size_t k = 0; k < n; k++)
    ids[k] = ((const xjob *)x->due[k])->id;
  for (size_t k = 0; k < n; k++) {
    xjob *j = xf_job_by_id(x, ids[k]);
    if (j) job_wake(x, j, now);
  }
}

void xf_expire(vss_xfer *x, vss_time now) {
  busy_expire(x, now);
  expire_requests(x, now);
  expire_jobs(x, now);
}
