/*
 * xfer_job.c - transfer jobs: a job per sidecar (key + format), found by
 * key or id, queued on a ready list (foreground or background) while it
 * has work to hand out, started (WAIT -> XFER), and ended at one place,
 * xf_job_settle: committed, failed, or handed to local generation.
 */
#include "xfer_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- events and maps ------------------------------------------------- */

void xf_emit(vss_xfer *x, vss_event_type t, const xjob *j, const vss_peer *p,
             uint64_t bytes, uint64_t count, int rc, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = t;
  if (p) ev.peer = p->id;
  if (j) {
    ev.key = j->key;
    ev.format = j->fmt;
    ev.job = j->id;
    ev.flags = j->evflags;
    ev.duration = now >= j->started ? now - j->started : 0;
  }
  ev.bytes = bytes;
  ev.count = count;
  ev.rc = rc;
  vss__emit(x->n, &ev, now);
}

static uint32_t key_hash(const vss_key *k) {
  uint32_t h = 2166136261u; /* FNV-1a over uuid, kind, variant */
  for (int i = 0; i < 16; i++)
    h = (h ^ k->content.b[i]) * 16777619u;
  h = (h ^ (uint32_t)k->kind) * 16777619u;
  for (const char *v = k->variant; *v; v++)
    h = (h ^ (uint8_t)*v) * 16777619u;
  return h;
}

static size_t key_bucket(const vss_xfer *x, const vss_key *key) {
  return key_hash(key) & (x->nbuckets - 1);
}

/* Ids are handed out in sequence: their low bits spread evenly. */
static size_t id_bucket(const vss_xfer *x, uint64_t id) {
  return (size_t)id & (x->nbuckets - 1);
}

xjob *xf_job_by_key(const vss_xfer *x, const vss_key *key) {
  for (xjob *j = x->jmap[key_bucket(x, key)]; j; j = j->hnext)
    if (vss_key_cmp(&j->key, key) == 0) return j;
  return NULL;
}

/* Every loop that may end jobs looks them up again by id: with 10,000
 * jobs a walk of the job list here was a fifth of the CPU. */
xjob *xf_job_by_id(const vss_xfer *x, uint64_t id) {
  for (xjob *j = x->imap[id_bucket(x, id)]; j; j = j->inext)
    if (j->id == id) return j;
  return NULL;
}

static void maps_insert(vss_xfer *x, xjob *j) {
  size_t b = key_bucket(x, &j->key);
  j->hnext = x->jmap[b];
  x->jmap[b] = j;
  b = id_bucket(x, j->id);
  j->inext = x->imap[b];
  x->imap[b] = j;
}

/* Twice the buckets once there are more jobs than buckets; without the
 * memory the chains just grow longer. */
static void maps_grow(vss_xfer *x) {
  if (x->njobs <= x->nbuckets || x->nbuckets > SIZE_MAX / 2 / sizeof(xjob *))
    return;
  size_t nb = x->nbuckets * 2;
  xjob **km = calloc(nb, sizeof(*km)), **im = calloc(nb, sizeof(*im));
  if (!km || !im) {
    free(km);
    free(im);
    return;
  }
  free(x->jmap);
  free(x->imap);
  x->jmap = km;
  x->imap = im;
  x->nbuckets = nb;
  for (xjob *j = x->jobs_head; j; j = j->next)
    maps_insert(x, j);
}

void xf_job_set_wake(vss_xfer *x, xjob *j, vss_time t) {
  j->wake_at = t;
  /* Room was reserved when the job was made: this cannot fail. */
  vss_theap_set(&x->jheap, j, &j->hpos, t, j->id);
}

/* ---- job lists and accounting ---------------------------------------- */

void xf_ready_insert(vss_xfer *x, xjob *j) {
  if (j->ready) return;
  int c = (j->evflags & VSS_EVF_FOREGROUND) ? 0 : 1;
  j->rnext = NULL;
  j->rprev = x->ready_tail[c];
  if (j->rprev)
    j->rprev->rnext = j;
  else
    x->ready_head[c] = j;
  x->ready_tail[c] = j;
  j->ready = 1;
  for (uint32_t i = 0; i < j->nsrc; i++)
    xf_src_link(x, j, &j->src[i]);
}

void xf_ready_remove(vss_xfer *x, xjob *j) {
  if (!j->ready) return;
  int c = (j->evflags & VSS_EVF_FOREGROUND) ? 0 : 1;
  if (j->rprev)
    j->rprev->rnext = j->rnext;
  else
    x->ready_head[c] = j->rnext;
  if (j->rnext)
    j->rnext->rprev = j->rprev;
  else
    x->ready_tail[c] = j->rprev;
  j->rprev = j->rnext = NULL;
  j->ready = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    xf_src_unlink(x, &j->src[i]);
}

/* Counters the prefetch policy reads: sign +1 on entry, -1 on exit
 * (which also releases a prefetch's slot). */
void xf_job_account(vss_xfer *x, xjob *j, int sign) {
  if (j->evflags & VSS_EVF_FOREGROUND) x->nfg += (uint32_t)sign;
  if (j->evflags & VSS_EVF_PREFETCH) {
    if (j->eager) x->npf_eager += (uint32_t)sign;
    if (sign < 0) xf_pf_slot_leave(x, j);
  }
}

/* The one place a job changes state: a transferring job's size counts
 * against the storage budget (vss_xfer_budget_used). */
static void job_set_state(vss_xfer *x, xjob *j, int state) {
  if (j->state == J_XFER) x->xfer_bytes -= j->size;
  j->state = state;
  if (j->state == J_XFER) x->xfer_bytes += j->size;
}

/* Into the creation-order list (loops walk it) and the maps. */
static void job_link(vss_xfer *x, xjob *j) {
  x->njobs++;
  maps_grow(x); /* rehashes the jobs listed so far, not j */
  maps_insert(x, j);
  j->prev = x->jobs_tail;
  if (j->prev)
    j->prev->next = j;
  else
    x->jobs_head = j;
  x->jobs_tail = j;
}

xjob *xf_job_new(vss_xfer *x, const vss_key *key, vss_format fmt,
                 uint32_t flags, uint32_t evflags, vss_time now) {
  /* Room in the wake-up heap now, so setting the timer cannot fail. */
  if (x->njobs >= UINT32_MAX - 1 ||
      vss_theap_reserve(&x->jheap, (uint32_t)x->njobs + 1))
    return NULL;
  xjob *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->hpos = VSS_THEAP_NONE;
  j->id = ++x->next_job;
  j->key = *key;
  j->fmt = fmt;
  j->flags = flags;
  j->evflags = evflags;
  j->state = J_WAIT;
  j->started = now;
  j->wake_at = VSS_TIME_UNSET;
  j->wait_until = VSS_TIME_UNSET;
  job_link(x, j);
  xf_job_account(x, j, +1);
  return j;
}

static void job_unlink(vss_xfer *x, xjob *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    x->jobs_head = j->next;
  if (j->next)
    j->next->prev = j->prev;
  else
    x->jobs_tail = j->prev;
  xjob **pp = &x->jmap[key_bucket(x, &j->key)];
  while (*pp && *pp != j)
    pp = &(*pp)->hnext;
  if (*pp) *pp = j->hnext;
  pp = &x->imap[id_bucket(x, j->id)];
  while (*pp && *pp != j)
    pp = &(*pp)->inext;
  if (*pp) *pp = j->inext;
  x->njobs--;
}

/* Remove a job from every list and free it (requests cancelled). */
void xf_job_free(vss_xfer *x, xjob *j, vss_time now) {
  xf_resume_forget(x, j); /* ended: a restart has nothing to resume */
  while (j->reqs)
    xf_req_abandon(x, j->reqs, now);
  if (j->tmp) vss_blobs_discard(x->n->blobs, j->tmp);
  j->tmp = NULL;
  xf_temp_release(x, j, now);
  xf_ready_remove(x, j);
  xf_job_account(x, j, -1);
  job_set_state(x, j, J_WAIT); /* out of the budget's figure */
  vss_theap_remove(&x->jheap, &j->hpos);
  job_unlink(x, j);
  xf_mlist_drop(x, j);
  free(j->ch);
  free(j->hashes);
  free(j->keep);
  free(j);
}

/* ---- temp-blob slots ------------------------------------------------- */

/* The bound counts every temp open at once. A one-chunk (or empty)
 * sidecar opens its temp at its verified chunk and commits it in the
 * same call, so one slot is kept for those and multi-chunk jobs, which
 * keep theirs across calls, hold at most bound - 1 (a bound below 2 is
 * taken as 2). */
static uint64_t temp_slots(const vss_xfer *x) {
  uint64_t b = vss__limit(x->n, VSS_LIMIT_TEMP_BLOBS);
  return b < 2 ? 1 : b - 1;
}

int xf_temp_try(vss_xfer *x, xjob *j) {
  if (j->tslot) return 1;
  if (x->ntemp >= temp_slots(x)) return 0;
  j->tslot = 1;
  x->ntemp++;
  return 1;
}

static void twait_unlink(vss_xfer *x, xjob *j) {
  if (!j->twait) return;
  if (j->tprev)
    j->tprev->tnext = j->tnext;
  else
    x->twait_head = j->tnext;
  if (j->tnext)
    j->tnext->tprev = j->tprev;
  else
    x->twait_tail = j->tprev;
  j->tprev = j->tnext = NULL;
  j->twait = 0;
  x->ntwait--;
}

int xf_temp_acquire(vss_xfer *x, xjob *j) {
  if (j->tslot || j->nchunks <= 1) return 1;
  if (j->twait) return 0;
  /* First come, first served: a slot that freed went to the head. */
  if (!x->twait_head && xf_temp_try(x, j)) return 1;
  j->twait = 1;
  j->tnext = NULL;
  j->tprev = x->twait_tail;
  if (j->tprev)
    j->tprev->tnext = j;
  else
    x->twait_head = j;
  x->twait_tail = j;
  x->ntwait++;
  return 0;
}

void xf_temp_release(vss_xfer *x, xjob *j, vss_time now) {
  twait_unlink(x, j);
  if (!j->tslot) return;
  j->tslot = 0;
  x->ntemp--;
  /* The head waiter takes it; its timer fires at once, which puts it
   * back on the ready lists and pumps its sources (handle_expiry). */
  while (x->twait_head && x->ntemp < temp_slots(x)) {
    xjob *w = x->twait_head;
    twait_unlink(x, w);
    xf_temp_try(x, w);
    if (w->state == J_XFER && xf_job_has_work(w)) xf_ready_insert(x, w);
    xf_job_set_wake(x, w, now);
  }
}

/* ---- starting -------------------------------------------------------- */

/* Every chunk to do, none avoiding a source. Sized from a verified
 * list only: a one-chunk sidecar (its checksum verifies the chunk) at
 * start, a larger one once its chunk-hash list added up to the checksum
 * (xfer_recv.c) - a peer's claimed size alone never sizes an array. */
int xf_job_chunks_init(xjob *j) {
  j->ch = calloc(j->nchunks ? j->nchunks : 1, sizeof(*j->ch));
  if (!j->ch) return VSS_ERR_NOMEM;
  for (uint64_t c = 0; c < j->nchunks; c++)
    j->ch[c].avoid = XFER_NO_PEER;
  j->ntodo = j->nchunks;
  j->cursor = 0;
  if (j->keep) xf_resume_apply(j); /* verified before a restart, kept */
  return 0;
}

/* WAIT -> XFER: choose sources. Nothing is allocated or reserved from
 * the claimed size: a multi-chunk sidecar asks for its chunk-hash list
 * first, and the temp blob opens at the first verified chunk. */
static int job_start(vss_xfer *x, xjob *j, vss_time now) {
  vss_peer *best = xf_job_pick_target(x, j);
  if (!best) return VSS_ERR_NO_SOURCE;
  /* No budget, nothing to add up (prefetch checked it when it queued). */
  const vss_prefetch_policy *pol = &xf_cfg(x)->prefetch;
  if ((j->evflags & VSS_EVF_FOREGROUND) && pol->storage_budget &&
      !vss_prefetch_fits(pol, vss_xfer_budget_used(x), j->size))
    return VSS_ERR_FULL;
  /* A resumed job keeps its reopened temp when the target is what was
   * recorded; its kept chunks are marked done when the chunk table is
   * made (xf_job_chunks_init). */
  xf_resume_keep(x, j);
  j->nchunks = vss_chunk_count(j->size);
  if (j->nchunks <= 1 && xf_job_chunks_init(j)) return VSS_ERR_NOMEM;
  job_set_state(x, j, J_XFER);
  j->progress_at = now;
  j->stalled = 0;
  xf_job_set_wake(x, j, VSS_TIME_UNSET);
  xf_emit(x, VSS_EV_FETCH_STARTED, j, best, j->size, j->nchunks, 0, now);
  xf_ready_insert(x, j);
  return 0;
}

/* Start and pump a job; settle it (a 0-byte sidecar ends at once). */
int xf_job_launch(vss_xfer *x, xjob *j, vss_time now) {
  int rc = job_start(x, j, now);
  if (rc) return rc;
  uint64_t id = j->id;
  xf_pump_job_sources(x, j, now);
  if ((j = xf_job_by_id(x, id)) != NULL) xf_job_settle(x, j, now);
  return 0;
}

/* ---- failure and the generation fallback ----------------------------- */

/* Drop a job's transfer state (requests, temp blob, chunk table). */
static void job_reset_xfer(vss_xfer *x, xjob *j, vss_time now) {
  while (j->reqs)
    xf_req_abandon(x, j->reqs, now);
  if (j->tmp) vss_blobs_discard(x->n->blobs, j->tmp);
  j->tmp = NULL;
  xf_temp_release(x, j, now);
  xf_ready_remove(x, j);
  xf_mlist_drop(x, j);
  free(j->ch);
  free(j->hashes);
  j->ch = NULL;
  j->hashes = NULL;
  j->nchunks = j->ndone = j->ntodo = j->cursor = 0;
  j->meta_inflight = 0;
  xf_job_set_wake(x, j, VSS_TIME_UNSET);
}

void xf_job_failed(vss_xfer *x, xjob *j, int rc, vss_time now) {
  xf_emit(x, VSS_EV_FETCH_FAILED, j, NULL, j->size, j->ndone, rc, now);
  xf_job_free(x, j, now);
}

/* Ask the application to generate. Returns 0 when generation started
 * (or already finished), VSS_ERR_GENERATE when it could not; the job is
 * ended with FETCH_FAILED in that case. */
int xf_job_generate(vss_xfer *x, xjob *j, vss_time now) {
  job_reset_xfer(x, j, now);
  job_set_state(x, j, J_GEN);
  j->fail_rc = 0;
  const vss_node_config *cf = xf_cfg(x);
  if (!cf->generate) {
    xf_job_failed(x, j, VSS_ERR_GENERATE, now);
    return VSS_ERR_GENERATE;
  }
  xf_emit(x, VSS_EV_GENERATE_STARTED, j, NULL, 0, 0, 0, now);
  uint64_t id = j->id;
  vss_key key = j->key;
  vss_format fmt = j->fmt;
  /* The callback may record or fail synchronously: j may be gone. */
  int rc = cf->generate(cf->generate_user, &key, fmt, id);
  if (rc == 0) return 0;
  if ((j = xf_job_by_id(x, id)) != NULL)
    xf_job_failed(x, j, VSS_ERR_GENERATE, now);
  return VSS_ERR_GENERATE;
}

/* A fetch failed for good: fall back to generation when asked to. */
void xf_job_fail(vss_xfer *x, xjob *j, int rc, vss_time now) {
  if (rc != VSS_ERR_CANCELED && rc != VSS_ERR_FULL &&
      (j->flags & VSS_FETCH_GENERATE_ON_FAIL) && j->state != J_GEN) {
    xf_job_generate(x, j, now);
    return;
  }
  xf_job_failed(x, j, rc, now);
}

/* ---- settling -------------------------------------------------------- */

static int job_src_gone(const xjob *j) {
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (j->src[i].gone) return 1;
  return 0;
}

static vss_time job_patience(const vss_xfer *x, const xjob *j) {
  const vss_node_config *cf = xf_cfg(x);
  return (j->evflags & VSS_EVF_PREFETCH) ? cf->prefetch_patience
                                         : cf->source_patience;
}

static vss_time next_backoff(const xjob *j, vss_time now) {
  vss_time t = VSS_TIME_UNSET;
  for (uint64_t c = 0; j->ch && c < j->nchunks; c++)
    if (j->ch[c].state == CH_TODO && j->ch[c].not_before > now)
      t = vss__tmin(t, j->ch[c].not_before);
  return t;
}

/* A stalled job's patience ends this long after its last progress. */
static vss_time stall_deadline(const vss_xfer *x, const xjob *j) {
  vss_time p = job_patience(x, j);
  if (!j->stalled || !p) return VSS_TIME_UNSET; /* 0: stalls drop sources */
  return j->progress_at > VSS_TIME_UNSET - 1 - p ? VSS_TIME_UNSET - 1
                                                 : j->progress_at + p;
}

void xf_job_rewake(vss_xfer *x, xjob *j, vss_time now) {
  xf_job_set_wake(x, j,
                  vss__tmin(vss__tmin(next_backoff(j, now), j->wait_until),
                            stall_deadline(x, j)));
}

/* No live source. When one went offline, wait for it (or another
 * holder) within the job's patience, keeping what was verified; when
 * all were dropped for misbehaving, or the patience ran out, fail:
 * NO_SOURCE, or the sources' misbehaviour. Returns 1 when j ended. */
static int job_no_source(vss_xfer *x, xjob *j, vss_time now) {
  vss_time patience = job_patience(x, j);
  if (j->wait_until == VSS_TIME_UNSET && patience && job_src_gone(j)) {
    j->wait_until = now + patience;
    xf_job_rewake(x, j, now);
  }
  if (j->wait_until != VSS_TIME_UNSET && now < j->wait_until) {
    if (xf_job_has_work(j)) xf_ready_insert(x, j);
    return 0;
  }
  xf_job_fail(x, j, j->why ? j->why : VSS_ERR_NO_SOURCE, now);
  return 1;
}

/* Act on what happened to a transferring job. Returns 1 when it ended. */
int xf_job_settle(vss_xfer *x, xjob *j, vss_time now) {
  if (j->state != J_XFER) return 0;
  if (j->fail_rc) {
    xf_job_fail(x, j, j->fail_rc, now);
    return 1;
  }
  if (j->ndone == j->nchunks) {
    xf_job_done(x, j, now);
    return 1;
  }
  if (j->stalled && now >= stall_deadline(x, j)) {
    /* Stalled with nothing verified for its whole patience. */
    xf_job_fail(x, j, VSS_ERR_TIMEOUT, now);
    return 1;
  }
  if (xf_job_live_sources(x, j) == 0) {
    xf_job_refresh_sources(x, j);
    if (xf_job_live_sources(x, j) == 0) return job_no_source(x, j, now);
  }
  if (j->wait_until != VSS_TIME_UNSET) { /* a source is back */
    j->wait_until = VSS_TIME_UNSET;
    xf_job_rewake(x, j, now);
  }
  if (xf_job_has_work(j)) xf_ready_insert(x, j);
  return 0;
}
