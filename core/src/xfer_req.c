/*
 * xfer_req.c - requests: one GET (a chunk, or the META hash list) sent to
 * one source. A request lives in the id map and its source's outstanding
 * list while the source owes bytes, and in its job's list until its chunk
 * is verified (a chunk of a multi-chunk sidecar may be held for the hash
 * list). The source's in-flight bytes are what its window counts.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- maps and lists -------------------------------------------------- */

xpeer *xf_xp_get(vss_xfer *x, uint16_t idx) {
  if (idx >= VSS_MAX_PEERS) return NULL;
  if (!x->peers[idx]) {
    x->peers[idx] = calloc(1, sizeof(xpeer));
    if (x->peers[idx]) {
      x->peers[idx]->c.last_progress = VSS_TIME_UNSET;
      x->peers[idx]->up_idle_at = VSS_TIME_UNSET;
    }
  }
  return x->peers[idx];
}

xreq *xf_req_find(const vss_xfer *x, uint32_t id) {
  for (xreq *r = x->rmap[id & (XFER_REQ_BUCKETS - 1)]; r; r = r->hnext)
    if (r->id == id) return r;
  return NULL;
}

static void req_map_del(vss_xfer *x, xreq *r) {
  xreq **pp = &x->rmap[r->id & (XFER_REQ_BUCKETS - 1)];
  while (*pp && *pp != r)
    pp = &(*pp)->hnext;
  if (*pp) *pp = r->hnext;
  r->hnext = NULL;
}

/* The source's outstanding list is in send order: the oldest request
 * is the one a stall shows first. */
static void src_list_add(xsrc *s, xreq *r) {
  r->sprev = s->tail;
  if (r->sprev)
    r->sprev->snext = r;
  else
    s->head = r;
  s->tail = r;
  s->nreq++;
}

static void src_list_del(xsrc *s, xreq *r) {
  if (r->sprev)
    r->sprev->snext = r->snext;
  else
    s->head = r->snext;
  if (r->snext)
    r->snext->sprev = r->sprev;
  else
    s->tail = r->sprev;
  r->sprev = r->snext = NULL;
  s->nreq--;
}

/* ---- ending requests ------------------------------------------------- */

/* The source owes nothing more for r: release its window share. */
void xf_req_settle_source(vss_xfer *x, xreq *r, vss_time now) {
  if (!r->outstanding) return;
  r->outstanding = 0;
  req_map_del(x, r);
  vss_theap_remove(&x->rheap, &r->hpos);
  xpeer *xp = x->peers[r->peer];
  if (!xp) return;
  uint64_t left = r->meta ? 0 : (uint64_t)(r->len - r->got);
  xp->c.inflight -= left;
  if (r->fg) xp->c.fg_inflight -= left;
  src_list_del(&xp->c, r);
  xf_dirty_peer(x, r->peer); /* its window has room again */
  vss_peer *p = xf_peer_at(x, r->peer);
  if (xp->c.nreq == 0 && p) vss_est_idle(&p->est, now);
}

void xf_req_free(vss_xfer *x, xreq *r, vss_time now) {
  xf_req_settle_source(x, r, now);
  xjob *j = r->job;
  if (r->jprev)
    r->jprev->jnext = r->jnext;
  else
    j->reqs = r->jnext;
  if (r->jnext) r->jnext->jprev = r->jprev;
  free(r->buf);
  free(r);
}

static void send_cancel(vss_xfer *x, uint16_t idx, uint32_t req_id) {
  vss_peer *p = xf_peer_at(x, idx);
  if (!p || !p->online) return;
  x->scratch.len = 0;
  if (vss_wire_encode_xfer_cancel(&x->scratch, req_id) == 0)
    vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

/* Forget a request the source still owes; tell it when it can hear. */
void xf_req_abandon(vss_xfer *x, xreq *r, vss_time now) {
  if (r->outstanding) send_cancel(x, r->peer, r->id);
  xf_req_free(x, r, now);
}

void xf_req_set_deadline(vss_xfer *x, xreq *r, vss_time t) {
  r->deadline = t;
  if (r->outstanding) vss_theap_set(&x->rheap, r, &r->hpos, t, r->seq);
}

/* ---- issuing requests ------------------------------------------------ */

static xreq *req_new(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp) {
  /* Room in the deadline heap now, so linking the request cannot fail. */
  if (vss_theap_reserve(&x->rheap, x->rheap.n + 1)) return NULL;
  xreq *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->hpos = VSS_THEAP_NONE;
  do {
    r->id = ++x->next_req;
  } while (r->id == 0 || xf_req_find(x, r->id));
  r->peer = p->idx;
  r->job = j;
  r->fg = (j->evflags & VSS_EVF_FOREGROUND) ? 1 : 0;
  r->ahead = xp->c.inflight;
  return r;
}

/* Link a request that has been sent into the maps and lists. */
static void req_link(vss_xfer *x, xreq *r, xpeer *xp, vss_time now) {
  xjob *j = r->job;
  r->outstanding = 1;
  r->sent_at = now;
  r->seq = ++x->req_seq;
  vss_theap_set(&x->rheap, r, &r->hpos, r->deadline, r->seq); /* reserved */
  uint32_t b = r->id & (XFER_REQ_BUCKETS - 1);
  r->hnext = x->rmap[b];
  x->rmap[b] = r;
  src_list_add(&xp->c, r);
  r->jnext = j->reqs;
  if (j->reqs) j->reqs->jprev = r;
  j->reqs = r;
  if (!r->meta) {
    xp->c.inflight += r->len;
    if (r->fg) xp->c.fg_inflight += r->len;
  }
}

static int send_get(vss_xfer *x, vss_peer *p, const xreq *r, uint32_t flags) {
  const xjob *j = r->job;
  vss_msg_xfer_get g;
  memset(&g, 0, sizeof(g));
  g.req_id = r->id;
  g.key = j->key;
  g.format = j->fmt;
  g.offset = r->off;
  g.length = r->len;
  g.flags = flags | (r->fg ? VSS_GET_FOREGROUND : 0);
  x->scratch.len = 0;
  int rc = vss_wire_encode_xfer_get(&x->scratch, &g);
  return rc ? rc : vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

int xf_send_meta_req(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp,
                     vss_time now) {
  xreq *r = req_new(x, j, p, xp);
  if (!r) return VSS_ERR_NOMEM;
  /* Pages of one list come from one source: another starts it over. */
  if (j->mpeer != p->idx) {
    xf_mlist_drop(x, j);
    j->mpeer = p->idx;
  }
  r->meta = 1;
  r->chunk = UINT64_MAX;
  r->off = j->mnext; /* META-only GET: offset = first hash wanted */
  int rc = send_get(x, p, r, VSS_GET_META);
  if (rc) {
    free(r);
    return rc;
  }
  /* A source without a stored list hashes the sidecar before it answers
   * its first page (xfer_serve.c): give it that long on top of the round
   * trip, or a 1 GB sidecar's only source is dropped before it could
   * answer. */
  uint64_t page = j->nchunks - j->mnext;
  if (page > VSS_WIRE_META_PAGE) page = VSS_WIRE_META_PAGE;
  vss_time t = xf_stall_scale(x, p->idx,
                              vss_est_timeout(&p->est, page * VSS_HASH_LEN, 0));
  if (j->mnext == 0) t += xf_hash_allowance(j->size);
  r->deadline = now + t;
  req_link(x, r, xp, now);
  j->meta_inflight = 1;
  /* A list of several pages counts at its source from its first request
   * until it is verified or dropped. */
  if (j->nchunks > VSS_WIRE_META_PAGE && !j->massm) {
    j->massm = 1;
    xp->massm++;
  }
  return 0;
}

void xf_mlist_uncount(vss_xfer *x, xjob *j) {
  if (!j->massm) return;
  j->massm = 0;
  xpeer *xp = j->mpeer < VSS_MAX_PEERS ? x->peers[j->mpeer] : NULL;
  if (xp && xp->massm) xp->massm--;
}

void xf_mlist_drop(vss_xfer *x, xjob *j) {
  free(j->mlist);
  j->mlist = NULL;
  j->mnext = 0;
  xf_mlist_uncount(x, j);
}

int xf_send_chunk(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp, uint64_t c,
                  vss_time now) {
  xreq *r = req_new(x, j, p, xp);
  if (!r) return VSS_ERR_NOMEM;
  r->chunk = c;
  r->off = c * VSS_CHUNK_SIZE;
  r->len = (uint32_t)xf_chunk_len(j, c);
  r->buf = malloc(r->len ? r->len : 1);
  int rc = r->buf ? send_get(x, p, r, 0) : VSS_ERR_NOMEM;
  if (rc) {
    free(r->buf);
    free(r);
    return rc;
  }
  r->deadline =
      now +
      xf_stall_scale(x, p->idx, vss_est_timeout(&p->est, r->len, r->ahead));
  req_link(x, r, xp, now);
  j->ch[c].state = CH_INFLIGHT;
  j->ntodo--;
  if (j->ch[c].tries) xf_emit(x, VSS_EV_RETRY, j, p, r->len, c, 0, now);
  return 0;
}
