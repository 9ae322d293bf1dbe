/*
 * xfer_recv.c - what sources send back: META, DATA, ERROR.
 *
 * Verification is two-level (model.h): a one-chunk sidecar is checked
 * against the holder's checksum directly; a larger one first gets the
 * chunk-hash list (META, asked for in parallel with the first chunks),
 * checked against the checksum, then every chunk as it lands. Chunks are
 * buffered per request and only verified bytes reach the temp blob. A bad
 * chunk blames its source, which is dropped after repeated errors.
 *
 * Commit order: blob commit, then the store's set_local (sidecar READY,
 * its verified chunk-hash list and availability has=1 in one
 * transaction). A crash at any point leaves at worst an orphan blob,
 * never a READY row without its verified bytes.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- verification ---------------------------------------------------- */

static int chunk_hash_ok(const xjob *j, uint64_t c, const vss_hash *h) {
  if (j->nchunks == 1) { /* checksum = H(H(chunk)) */
    vss_hash sum;
    vss_checksum_of_chunks(h, 1, &sum);
    return vss_hash_eq(&sum, &j->checksum);
  }
  return vss_hash_eq(h, &j->hashes[c]);
}

/* r's bytes are not what the hash says: fetch the chunk again, from
 * another source first, and blame the one that sent them. */
static void chunk_bad(vss_xfer *x, xjob *j, xreq *r, vss_time now) {
  uint64_t c = r->chunk;
  xf_emit(x, VSS_EV_CHUNK_BAD, j, xf_peer_at(x, r->peer), r->len, c,
          VSS_ERR_CHECKSUM, now);
  uint16_t culprit = r->peer;
  xf_req_free(x, r, now);
  xf_chunk_requeue(x, j, c, culprit, 1, now);
  xf_src_blame(x, j, culprit, VSS_ERR_CHECKSUM, now);
}

/* A request's chunk is complete and its hash is known: check, write. */
static void chunk_verify(vss_xfer *x, xjob *j, xreq *r, vss_time now) {
  uint64_t c = r->chunk;
  vss_hash h;
  vss_hash_bytes(r->buf, r->len, &h);
  if (!chunk_hash_ok(j, c, &h)) {
    chunk_bad(x, j, r, now);
    return;
  }
  int rc = vss_blobs_write(x->n->blobs, j->tmp, r->off, r->buf, r->len);
  if (rc) {
    if (!j->fail_rc) j->fail_rc = VSS_ERR_IO;
    xf_req_free(x, r, now);
    return;
  }
  j->ch[c].state = CH_DONE;
  j->ndone++;
  j->done_bytes += r->len;
  xf_req_free(x, r, now);
}

/* The hash list just arrived: verify the chunks that waited for it. */
static void verify_held(vss_xfer *x, xjob *j, vss_time now) {
  xreq *r = j->reqs, *next;
  for (; r; r = next) {
    next = r->jnext;
    if (!r->outstanding && !r->meta && j->ch[r->chunk].state == CH_HELD)
      chunk_verify(x, j, r, now);
  }
}

/* ---- commit ---------------------------------------------------------- */

static uint16_t main_source(const xjob *j) {
  uint16_t best = XFER_NO_PEER;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (best == XFER_NO_PEER || j->src[i].bytes > bytes) {
      best = j->src[i].peer;
      bytes = j->src[i].bytes;
    }
  return best;
}

/* The READY row of a fetched sidecar; source: the peer that sent most. */
static void job_row(const vss_xfer *x, const xjob *j, uint16_t src,
                    vss_time now, vss_sidecar_row *row) {
  memset(row, 0, sizeof(*row));
  row->key = j->key;
  row->format = j->fmt;
  vss_rel_path(&j->key, j->fmt, row->rel_path, sizeof(row->rel_path));
  row->size = j->size;
  row->checksum = j->checksum;
  row->status = VSS_STATUS_READY;
  const vss_peer *p = xf_peer_at(x, src);
  if (p) row->source = p->id;
  row->version = 1;
  row->created_at = row->updated_at = now;
}

/* Every chunk verified and written: blob commit, then the row. */
static int job_commit(vss_xfer *x, xjob *j, uint16_t src, vss_time now) {
  void *tmp = j->tmp;
  j->tmp = NULL; /* commit consumes it, success or not */
  int rc = vss_blobs_commit(x->n->blobs, tmp);
  if (rc) return VSS_ERR_IO;
  vss_sidecar_row row;
  job_row(x, j, src, now, &row);
  /* The verified hash list goes with the row: serving the sidecar on to
   * other peers then never re-hashes it. */
  rc =
      vss__set_local(x->n, &row, 1, j->hashes, j->hashes ? j->nchunks : 0, now);
  if (rc) {
    /* No row: the bytes are an orphan nobody can see; reclaim them. */
    vss_blobs_remove(x->n->blobs, &j->key, j->fmt);
    return VSS_ERR_STORE;
  }
  return 0;
}

static void done_event(const vss_xfer *x, const xjob *j, uint16_t src,
                       vss_time now, vss_event *ev) {
  memset(ev, 0, sizeof(*ev));
  ev->type = VSS_EV_FETCH_DONE;
  const vss_peer *p = xf_peer_at(x, src);
  if (p) ev->peer = p->id;
  ev->key = j->key;
  ev->format = j->fmt;
  ev->job = j->id;
  ev->flags = j->evflags;
  ev->bytes = j->size;
  ev->count = j->nchunks;
  ev->duration = now - j->started;
}

void xf_job_done(vss_xfer *x, xjob *j, vss_time now) {
  uint16_t src = main_source(j);
  int rc = job_commit(x, j, src, now);
  if (rc) {
    j->flags &= ~(uint32_t)VSS_FETCH_GENERATE_ON_FAIL;
    xf_emit(x, VSS_EV_FETCH_FAILED, j, NULL, j->size, j->ndone, rc, now);
    xf_job_free(x, j, now);
    return;
  }
  vss_event ev;
  done_event(x, j, src, now, &ev);
  vss_key key = j->key;
  xf_job_free(x, j, now);
  /* After the job is gone: peers hear of the new sidecar in the next
   * batched push, and whatever that triggers cannot see the job. */
  vss__local_recorded(x->n, &key, now);
  vss__emit(x->n, &ev, now);
}

/* ---- frames from sources --------------------------------------------- */

/* A source's chunk-hash list, when it adds up to the job's checksum.
 * Returns 1 with *out (the caller owns it), 0 when it does not match,
 * VSS_ERR_NOMEM. */
static int meta_hashes(const xjob *j, const vss_msg_xfer_meta *m,
                       vss_hash **out) {
  *out = NULL;
  if (m->size != j->size || m->nchunks != j->nchunks ||
      !vss_hash_eq(&m->checksum, &j->checksum))
    return 0;
  vss_hash *hs = malloc(j->nchunks * sizeof(*hs));
  if (!hs) return VSS_ERR_NOMEM;
  memcpy(hs, m->hashes, j->nchunks * sizeof(*hs));
  vss_hash sum;
  vss_checksum_of_chunks(hs, j->nchunks, &sum);
  if (!vss_hash_eq(&sum, &j->checksum)) {
    free(hs);
    return 0;
  }
  *out = hs;
  return 1;
}

/* p holds other bytes than its digest said: no use to this job. */
static void meta_refused(vss_xfer *x, xjob *j, vss_peer *p, vss_time now) {
  jsrc *s = xf_job_src(j, p->idx);
  if (s) xf_src_drop(x, j, s, VSS_ERR_CHECKSUM, now);
  if (++j->meta_tries > xf_cfg(x)->max_retries && !j->fail_rc)
    j->fail_rc = VSS_ERR_RETRIES;
}

int xf_on_meta(vss_xfer *x, vss_peer *p, const vss_msg_xfer_meta *m,
               vss_time now) {
  xreq *r = xf_req_find(x, m->req_id);
  if (!r) return 0; /* abandoned: a late answer is harmless */
  if (r->peer != p->idx || !r->meta) return VSS_ERR_PROTO;
  xjob *j = r->job;
  xf_req_free(x, r, now);
  j->meta_inflight = 0;
  vss_hash *hs;
  int ok = meta_hashes(j, m, &hs);
  if (ok > 0) {
    free(j->hashes);
    j->hashes = hs;
    verify_held(x, j, now);
  } else if (ok == 0) {
    meta_refused(x, j, p, now);
  } else if (!j->fail_rc) {
    j->fail_rc = ok;
  }
  uint64_t id = j->id;
  xf_job_settle(x, j, now);
  /* The list may give the job's sources work (held chunks verified,
   * chunks handed out): pump them, not every peer. */
  if (xf_job_by_id(x, id)) xf_pump_job_sources(x, j, now);
  return 0;
}

/* A data request is complete: verify now or hold until the hash list. */
static void req_landed(vss_xfer *x, xreq *r, vss_time now) {
  xjob *j = r->job;
  xf_req_settle_source(x, r, now);
  if (j->nchunks > 1 && !j->hashes) {
    j->ch[r->chunk].state = CH_HELD;
    return;
  }
  chunk_verify(x, j, r, now);
}

/* A transport that can lose frames (the harness, datagram drivers) left
 * a hole in a request: drop the rest of it and fetch the chunk again. */
static int data_gap(vss_xfer *x, xreq *r, vss_time now) {
  xjob *j = r->job;
  uint16_t peer = r->peer;
  uint64_t c = r->chunk;
  xf_req_abandon(x, r, now);
  xf_chunk_requeue(x, j, c, peer, 1, now);
  if (!xf_job_settle(x, j, now)) xf_pump_job_sources(x, j, now);
  return 0;
}

/* In-order bytes of r: buffer them, feed the estimates, shrink the
 * source's window share. */
static void data_absorb(vss_xfer *x, vss_peer *p, xreq *r,
                        const vss_msg_xfer_data *m, vss_time now) {
  xpeer *xp = x->peers[p->idx];
  if (r->got == 0 && r->ahead == 0) /* nothing queued ahead: a clean RTT */
    vss_est_rtt_sample(&p->est, now - r->sent_at);
  memcpy(r->buf + r->got, m->data, m->len);
  r->got += m->len;
  xp->c.inflight -= m->len;
  if (r->fg) xp->c.fg_inflight -= m->len;
  xp->c.last_progress = now;
  vss_est_delivered(&p->est, m->len, now);
  jsrc *s = xf_job_src(r->job, p->idx);
  if (s) s->bytes += m->len;
}

int xf_on_data(vss_xfer *x, vss_peer *p, const vss_msg_xfer_data *m,
               vss_time now) {
  xreq *r = xf_req_find(x, m->req_id);
  if (!r) return 0; /* abandoned: a late answer is harmless */
  if (r->peer != p->idx || r->meta || m->len == 0) return VSS_ERR_PROTO;
  uint64_t want = r->off + r->got, end = r->off + r->len;
  if (m->offset < want || m->offset > end || m->len > end - m->offset)
    return VSS_ERR_PROTO;
  if (m->offset > want) /* a frame went missing: ask again */
    return data_gap(x, r, now);
  data_absorb(x, p, r, m, now);
  xjob *j = r->job;
  if (r->got < r->len) return 0;
  req_landed(x, r, now);
  /* A bad chunk goes to the other sources at once, not at p's pace. */
  if (!xf_job_settle(x, j, now)) xf_pump_sources_but(x, j, p->idx, now);
  xf_pump_source(x, p, now);
  xf_pf_pump(x, now);
  return 0;
}

int xf_on_error(vss_xfer *x, vss_peer *p, const vss_msg_xfer_error *m,
                vss_time now) {
  xreq *r = xf_req_find(x, m->req_id);
  if (!r) return 0;
  if (r->peer != p->idx) return VSS_ERR_PROTO;
  xjob *j = r->job;
  int code = m->code < 0 && m->code >= VSS_ERR_MIN ? m->code : VSS_ERR_PEER;
  if (r->meta)
    j->meta_inflight = 0;
  else
    xf_chunk_requeue(x, j, r->chunk, p->idx, 0, now);
  xf_req_free(x, r, now);
  /* It does not have the sidecar (any more) or refuses: leave it out. */
  jsrc *s = xf_job_src(j, p->idx);
  if (s) xf_src_drop(x, j, s, code, now);
  if (!xf_job_settle(x, j, now)) xf_pump_job_sources(x, j, now);
  return 0;
}
