/*
 * xfer.c - the transfer engine's entry points: its life, fetch / generate
 * / cancel, frames, peers coming and going, offers and local changes,
 * timers. The work is done by the modules listed in xfer_internal.h;
 * this file decides when, and re-arms the timer after every entry.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- life ------------------------------------------------------------ */

int vss_xfer_new(vss_xfer **out, vss_node *n) {
  vss_xfer *x = calloc(1, sizeof(*x));
  if (!x) return VSS_ERR_NOMEM;
  x->n = n;
  x->expiry = VSS_TIME_UNSET;
  x->up_win_at = x->up_refused_at = x->busy_wake = VSS_TIME_UNSET;
  x->nbuckets = XFER_JOB_BUCKETS;
  x->jmap = calloc(x->nbuckets, sizeof(*x->jmap));
  x->imap = calloc(x->nbuckets, sizeof(*x->imap));
  /* The timers' scratch always holds one batch: expiry makes progress
   * even when it cannot grow. */
  x->due_cap = XFER_EXPIRE_BATCH;
  x->due = malloc(x->due_cap * sizeof(*x->due));
  x->rbuf = malloc(VSS_CHUNK_SIZE);
  int rc = x->rbuf && x->jmap && x->imap && x->due ? vss_prefetch_new(&x->pf)
                                                   : VSS_ERR_NOMEM;
  if (rc) {
    free(x->rbuf);
    free(x->jmap);
    free(x->imap);
    free(x->due);
    free(x);
    return rc;
  }
  /* Requests of the last run resume at the first handle_expiry: not
   * here, where the application's callbacks would run inside
   * vss_node_new. */
  if (xf_resume_any(x)) {
    x->resume_pending = 1;
    x->expiry = 0;
  }
  *out = x;
  return 0;
}

void vss_xfer_del(vss_xfer *x) {
  if (!x) return;
  /* Unfinished jobs are recorded (verified bytes kept) for the next
   * start; what is not kept is discarded. */
  xf_resume_save_all(x);
  while (x->jobs_head)
    xf_job_free(x, x->jobs_head, 0);
  for (int i = 0; i < VSS_MAX_PEERS; i++) {
    if (!x->peers[i]) continue;
    xf_serve_clear(x, x->peers[i], (uint16_t)i);
    free(x->peers[i]);
  }
  xf_meta_cache_free(x);
  vss_prefetch_del(x->pf);
  vss_buf_free(&x->scratch);
  vss_theap_free(&x->rheap);
  vss_theap_free(&x->jheap);
  free(x->jmap);
  free(x->imap);
  free(x->due);
  free(x->rbuf);
  free(x);
}

/* ---- fetch, generate, cancel ----------------------------------------- */

static int valid_key(const vss_key *key, vss_format fmt) {
  return key && key->kind < VSS_KIND_COUNT && fmt < VSS_FMT_COUNT &&
         vss_variant_valid(key->variant, strlen(key->variant));
}

/* A fetch for a key already in flight joins it, raising its priority. */
static int job_join(vss_xfer *x, xjob *j, uint32_t flags, vss_time now) {
  j->flags |= flags & VSS_FETCH_GENERATE_ON_FAIL;
  if (!(flags & VSS_FETCH_FOREGROUND) || (j->evflags & VSS_EVF_FOREGROUND))
    return 0;
  int was_ready = j->ready;
  xf_ready_remove(x, j);
  xf_job_account(x, j, -1);
  j->evflags = VSS_EVF_FOREGROUND;
  xf_resume_record(x, j);     /* now a request */
  j->flags &= ~JF_RESTRICTED; /* the user asked: any link will do */
  xf_job_account(x, j, +1);
  if (j->state == J_XFER) {
    xf_job_refresh_sources(x, j);
    if (was_ready || xf_job_has_work(j)) xf_ready_insert(x, j);
    xf_pump_job_sources(x, j, now);
  }
  return 0;
}

/* No holder known: ask the peers, and wait up to query_timeout. */
static int job_wait(vss_xfer *x, xjob *j, vss_time now) {
  xf_job_set_wake(x, j, now + xf_cfg(x)->query_timeout);
  uint64_t id = j->id;
  int asked = vss_node_query(x->n, &j->key, now);
  if (!xf_job_by_id(x, id)) return 0; /* a cached answer started it */
  return asked > 0 ? 0 : VSS_ERR_NO_SOURCE;
}

/* A new job for key: from a known holder, else after asking the peers,
 * else (when asked to) by generating it here. */
static int fetch_new(vss_xfer *x, const vss_key *key, vss_format fmt,
                     uint32_t flags, uint64_t *job, vss_time now) {
  uint32_t ev = (flags & VSS_FETCH_FOREGROUND) ? VSS_EVF_FOREGROUND : 0;
  if (x->njobs >= vss__limit(x->n, VSS_LIMIT_JOBS)) return VSS_ERR_LIMIT;
  xjob *j =
      xf_job_new(x, key, fmt, flags & VSS_FETCH_GENERATE_ON_FAIL, ev, now);
  if (!j) return VSS_ERR_NOMEM;
  xf_resume_record(x, j); /* a restart resumes it or says it failed */
  uint64_t id = j->id;
  int rc = xf_job_launch(x, j, now);
  if (rc == VSS_ERR_NO_SOURCE) rc = job_wait(x, j, now);
  j = xf_job_by_id(x, id); /* launching or asking may have ended it */
  if (rc == VSS_ERR_NO_SOURCE && j && (j->flags & VSS_FETCH_GENERATE_ON_FAIL))
    rc = xf_job_generate(x, j, now);
  else if (rc && j)
    xf_job_free(x, j, now);
  if (rc == 0 && job) *job = id;
  return rc;
}

int vss_xfer_fetch(vss_xfer *x, const vss_key *key, vss_format fmt,
                   uint32_t flags, uint64_t *job, vss_time now) {
  if (!valid_key(key, fmt)) return VSS_ERR_INVALID;
  xf_tick(x, now);
  if (job) *job = 0;
  int rc;
  xjob *j = xf_job_by_key(x, key);
  if (j && j->fmt != fmt) return VSS_ERR_DUPLICATE;
  if (j) {
    if (job) *job = j->id;
    rc = job_join(x, j, flags, now);
  } else if (vss_xfer_is_local(x, key, fmt, NULL)) {
    return VSS_ERR_DUPLICATE;
  } else {
    rc = fetch_new(x, key, fmt, flags, job, now);
  }
  xf_rearm(x);
  return rc;
}

int vss_xfer_generate(vss_xfer *x, const vss_key *key, vss_format fmt,
                      uint32_t evflags, uint64_t *job, vss_time now) {
  if (!valid_key(key, fmt)) return VSS_ERR_INVALID;
  xjob *j = xf_job_by_key(x, key);
  if (j) {
    if (job) *job = j->id;
    return j->fmt == fmt ? 0 : VSS_ERR_DUPLICATE;
  }
  if (x->njobs >= vss__limit(x->n, VSS_LIMIT_JOBS)) return VSS_ERR_LIMIT;
  j = xf_job_new(x, key, fmt, 0, evflags & VSS_EVF_FOREGROUND, now);
  if (!j) return VSS_ERR_NOMEM;
  if (job) *job = j->id;
  int rc = xf_job_generate(x, j, now);
  xf_rearm(x);
  return rc;
}

int vss_xfer_cancel(vss_xfer *x, uint64_t job, vss_time now) {
  xjob *j = xf_job_by_id(x, job);
  if (!j) return VSS_ERR_NOT_FOUND;
  xf_job_failed(x, j, VSS_ERR_CANCELED, now);
  xf_pf_pump(x, now);
  xf_rearm(x);
  return 0;
}

/* ---- queries --------------------------------------------------------- */

int vss_xfer_job_of(const vss_xfer *x, const vss_key *key, uint64_t *job,
                    int *generating) {
  const xjob *j = xf_job_by_key(x, key);
  if (!j) return 0;
  if (job) *job = j->id;
  if (generating) *generating = j->state == J_GEN;
  return 1;
}

int vss_xfer_best_source(vss_xfer *x, const vss_key *key, vss_format fmt,
                         vss_xfer_source *out) {
  xjob probe;
  memset(&probe, 0, sizeof(probe));
  probe.key = *key;
  probe.fmt = fmt;
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = xf_job_holders(x, &probe, h, XFER_MAX_SOURCES);
  memset(out, 0, sizeof(*out));
  out->cost = VSS_TIME_UNSET;
  for (size_t i = 0; i < n; i++) {
    vss_time c = xf_src_cost(x, h[i].peer, h[i].size);
    if (c >= out->cost) continue;
    out->cost = c;
    out->device = xf_peer_at(x, h[i].peer)->id;
    out->size = h[i].size;
    out->checksum = h[i].checksum;
  }
  return (int)n;
}

int vss_xfer_jobs(const vss_xfer *x, vss_job_info *out, size_t cap) {
  size_t n = 0;
  for (const xjob *j = x->jobs_head; j; j = j->next, n++) {
    if (n >= cap || !out) continue;
    vss_job_info *ji = &out[n];
    memset(ji, 0, sizeof(*ji));
    ji->id = j->id;
    ji->key = j->key;
    ji->format = j->fmt;
    ji->size = j->size;
    ji->done = j->done_bytes;
    ji->flags = j->evflags;
    ji->sources = j->state == J_XFER ? xf_job_live_sources(x, j) : 0;
    ji->started = j->started;
  }
  return n > INT32_MAX ? INT32_MAX : (int)n;
}

int vss_xfer_is_local(vss_xfer *x, const vss_key *key, vss_format fmt,
                      vss_sidecar_row *row) {
  vss_sidecar_row tmp;
  if (!row) row = &tmp;
  if (vss_store_get_sidecar(x->n->store, key, row) != 0) return 0;
  if (row->status != VSS_STATUS_READY || row->format != fmt) return 0;
  uint64_t size = 0;
  return vss_blobs_stat(x->n->blobs, key, fmt, &size) == 0 && size == row->size;
}

/* Both terms are kept as they change: this runs at every foreground job
 * start and prefetch pump while a budget is set. */
uint64_t vss_xfer_budget_used(vss_xfer *x) {
  return vss__held_bytes(x->n) + x->xfer_bytes;
}

/* ---- timers ---------------------------------------------------------- */

vss_time vss_xfer_expiry(const vss_xfer *x) {
  return x->expiry;
}

int vss_xfer_handle_expiry(vss_xfer *x, vss_time now) {
  xf_tick(x, now);
  if (x->expiry > now) return 0;
  if (x->resume_pending) {
    x->resume_pending = 0;
    xf_resume_load(x, now);
  }
  xf_expire(x, now);
  xf_pump_dirty(x, now);
  xf_pf_pump(x, now);
  xf_rearm(x);
  return 0;
}

/* ---- frames ---------------------------------------------------------- */

int vss_xfer_recv(vss_xfer *x, vss_peer *p, const vss_msg *m, vss_time now) {
  int rc;
  xf_tick(x, now);
  switch (m->type) {
  case VSS_MSG_XFER_GET:
    rc = xf_on_get(x, p, &m->u.get);
    break;
  case VSS_MSG_XFER_META:
    rc = xf_on_meta(x, p, &m->u.meta, now);
    break;
  case VSS_MSG_XFER_SYNTH: /* size-only data: a simulation's only */
    if (!xf_cfg(x)->synthetic_data) {
      rc = VSS_ERR_PROTO;
      break;
    }
    /* fall through */
  case VSS_MSG_XFER_DATA:
    rc = xf_on_data(x, p, &m->u.data, now);
    break;
  case VSS_MSG_XFER_ERROR:
    rc = xf_on_error(x, p, &m->u.error, now);
    break;
  case VSS_MSG_XFER_CANCEL:
    rc = xf_on_cancel(x, p, &m->u.cancel);
    break;
  default:
    rc = VSS_ERR_PROTO;
  }
  xf_rearm(x);
  return rc < 0 ? rc : 0;
}

/* ---- peers ----------------------------------------------------------- */

/* Jobs that lost p when it went offline take it back (when the peer
 * cache still says it holds their bytes): a waiting job resumes from its
 * missing chunks. A walk of the jobs, once per peer_up. */
static void revive_jobs(vss_xfer *x, vss_peer *p, vss_time now) {
  uint64_t *ids = x->njobs ? malloc(x->njobs * sizeof(*ids)) : NULL;
  size_t n = 0;
  for (xjob *j = x->jobs_head; j; j = j->next) {
    jsrc *s = j->state == J_XFER ? xf_job_src(j, p->idx) : NULL;
    if (!s || !s->gone) continue;
    if (ids)
      ids[n++] = j->id;
    else /* no memory: its timer settles (and refreshes) it */
      xf_job_set_wake(x, j, now);
  }
  for (size_t k = 0; k < n; k++) {
    xjob *j = xf_job_by_id(x, ids[k]);
    if (!j) continue;
    xf_job_refresh_sources(x, j);
    if (!xf_job_settle(x, j, now)) xf_pump_job_sources(x, j, now);
  }
  free(ids);
}

void vss_xfer_peer_up(vss_xfer *x, vss_peer *p, vss_time now) {
  xpeer *xp = xf_xp_get(x, p->idx);
  if (xp) xp->c.last_progress = VSS_TIME_UNSET;
  revive_jobs(x, p, now);
  xf_pf_peer_up(x, p, now);
  xf_rearm(x);
}

/* A peer went away: what it owed goes back to be fetched from the
 * others, without counting against the chunks' retry budgets. */
static void requeue_owed(vss_xfer *x, xpeer *xp, uint16_t idx, vss_time now) {
  while (xp->c.head) {
    xreq *r = xp->c.head;
    xjob *j = r->job;
    if (r->meta)
      j->meta_inflight = 0;
    else
      xf_chunk_requeue(x, j, r->chunk, idx, XF_RQ_GONE, now);
    xf_req_free(x, r, now);
  }
}

/* Take the peer out of every job using it; the others pick up, or the
 * job waits for a source within its patience (xf_job_settle). Every
 * such job is settled, however many there are: the ids are collected
 * first (settling may end jobs and start others); without memory for
 * them each job gets a timer at `now` instead, which settles it from
 * handle_expiry (the heap has room for every job's timer). */
static void drop_source_everywhere(vss_xfer *x, uint16_t idx, vss_time now) {
  uint64_t *ids = x->njobs ? malloc(x->njobs * sizeof(*ids)) : NULL;
  size_t n = 0;
  for (xjob *j = x->jobs_head; j; j = j->next) {
    jsrc *s = xf_job_src(j, idx);
    if (!s || s->dropped) continue;
    xf_src_drop(x, j, s, VSS_ERR_UNKNOWN_PEER, now);
    if (ids)
      ids[n++] = j->id;
    else
      xf_job_set_wake(x, j, now);
  }
  for (size_t k = 0; k < n; k++) {
    xjob *j = xf_job_by_id(x, ids[k]);
    if (j && !xf_job_settle(x, j, now)) xf_pump_job_sources(x, j, now);
  }
  free(ids);
}

void vss_xfer_peer_down(vss_xfer *x, vss_peer *p, vss_time now) {
  xpeer *xp = p->idx < VSS_MAX_PEERS ? x->peers[p->idx] : NULL;
  if (xp) {
    xf_serve_clear(x, xp, p->idx);
    requeue_owed(x, xp, p->idx, now);
    xp->c.busy_until = 0; /* a new connection starts unrefused */
    xp->c.busy_run = 0;
  }
  drop_source_everywhere(x, p->idx, now);
  xf_rearm(x);
}

/* The peer's slot is being reused: nothing may name idx any more. */
void vss_xfer_peer_freed(vss_xfer *x, uint16_t idx, vss_time now) {
  xpeer *xp = idx < VSS_MAX_PEERS ? x->peers[idx] : NULL;
  if (xp) {
    xf_serve_clear(x, xp, idx);
    requeue_owed(x, xp, idx, now);
  }
  drop_source_everywhere(x, idx, now);
  xf_pf_slots_forget(x, idx);
  if (xp) {
    free(xp);
    x->peers[idx] = NULL;
  }
  xf_rearm(x);
}

/* ---- offers, presence, local changes --------------------------------- */

static void job_offer(vss_xfer *x, xjob *j, vss_peer *p, vss_time now) {
  if (j->state == J_WAIT) {
    int rc = xf_job_launch(x, j, now);
    if (rc && rc != VSS_ERR_NO_SOURCE) xf_job_fail(x, j, rc, now);
    return;
  }
  if (j->state != J_XFER || !xf_src_usable(x, j, p)) return;
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = xf_job_holders(x, j, h, XFER_MAX_SOURCES);
  for (size_t i = 0; i < n; i++)
    if (h[i].peer == p->idx && xf_job_add_source(x, j, &h[i]))
      xf_pump_source(x, p, now);
}

void vss_xfer_offer(vss_xfer *x, vss_peer *p, const vss_key *key,
                    vss_format fmt, uint64_t size, vss_time now) {
  xf_tick(x, now);
  if (x->njobs) {
    xjob *j = xf_job_by_key(x, key);
    if (j && j->fmt == fmt) job_offer(x, j, p, now);
  }
  vss_prefetch_offer(x->pf, &xf_cfg(x)->prefetch, &p->link, key, fmt, size);
}

void vss_xfer_presence_changed(vss_xfer *x, vss_peer *p, vss_time now) {
  (void)p;
  xf_pf_pump(x, now);
  xf_rearm(x);
}

/* Generated (or copied in) while we were fetching: the job is satisfied
 * locally; peer nil and count 0 say no bytes moved. */
static void job_satisfied(vss_xfer *x, xjob *j, uint64_t size, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_FETCH_DONE;
  ev.key = j->key;
  ev.format = j->fmt;
  ev.job = j->id;
  ev.flags = j->evflags;
  ev.bytes = size;
  ev.duration = now - j->started;
  xf_job_free(x, j, now);
  vss__emit(x->n, &ev, now);
}

void vss_xfer_local_added(vss_xfer *x, const vss_key *key, vss_time now) {
  xjob *j = xf_job_by_key(x, key);
  if (!j) return;
  vss_sidecar_row row;
  uint64_t size = 0;
  if (vss_store_get_sidecar(x->n->store, key, &row) == 0) size = row.size;
  if (j->state == J_GEN) {
    xf_emit(x, VSS_EV_GENERATED, j, NULL, size, 0, 0, now);
    xf_job_free(x, j, now);
  } else {
    job_satisfied(x, j, size, now);
  }
  xf_pf_pump(x, now);
  xf_rearm(x);
}

int vss_xfer_generate_failed(vss_xfer *x, uint64_t job, int rc, vss_time now) {
  xjob *j = xf_job_by_id(x, job);
  if (!j) return VSS_ERR_NOT_FOUND;
  if (j->state != J_GEN) return VSS_ERR_INVALID;
  (void)rc; /* the application's reason; the event says generation failed */
  xf_job_failed(x, j, VSS_ERR_GENERATE, now);
  xf_pf_pump(x, now);
  xf_rearm(x);
  return 0;
}
