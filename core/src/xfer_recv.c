/*
 * xfer_recv.c - what sources send back: META, DATA, ERROR.
 *
 * Verification is two-level (model.h): a one-chunk sidecar is checked
 * against the holder's checksum directly; a larger one first gets the
 * chunk-hash list (META, page by page past VSS_WIRE_META_PAGE hashes),
 * checked against the checksum before any chunk is asked for, then every
 * chunk as it lands. So unverified bytes held are at most what is in
 * flight (each source's request window, window_max at most): nothing
 * waits for a list. Only verified bytes reach the temp blob, which opens
 * at the first of them. A bad chunk blames its source in this job
 * (dropped after repeated errors) and beyond it (vss_est_blame: ranked
 * after clean holders for later sidecars).
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
  xf_chunk_requeue(x, j, c, culprit, XF_RQ_FAIL, now);
  xf_src_blame(x, j, culprit, VSS_ERR_CHECKSUM, now);
}

/* The chunk is verified: open the temp blob at its first verified
 * byte (never at job start, never from a claimed size alone) and write. */
static void chunk_write(vss_xfer *x, xjob *j, xreq *r, vss_time now) {
  uint64_t c = r->chunk;
  int rc = 0;
  if (!j->tmp &&
      vss_blobs_open_temp(x->n->blobs, &j->key, j->fmt, j->size, &j->tmp)) {
    j->tmp = NULL;
    rc = VSS_ERR_IO;
  }
  if (!rc && r->synth)
    rc = vss_blobs_write_content(x->n->blobs, j->tmp, r->off, r->len);
  else if (!rc)
    rc = vss_blobs_write(x->n->blobs, j->tmp, r->off, r->buf, r->len);
  if (rc) {
    if (!j->fail_rc) j->fail_rc = VSS_ERR_IO;
    xf_req_free(x, r, now);
    return;
  }
  j->ch[c].state = CH_DONE;
  j->ndone++;
  j->done_bytes += r->len;
  j->progress_at = now;
  j->stalled = 0;
  xf_req_free(x, r, now);
}

/* ---- commit ---------------------------------------------------------- */

/* The peer whose verified bytes were committed (most of them): bytes
 * that failed verification never make a liar the row's source. */
static uint16_t main_source(const xjob *j) {
  uint16_t best = XFER_NO_PEER;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (j->src[i].verified > bytes) {
      best = j->src[i].peer;
      bytes = j->src[i].verified;
    }
  return best;
}

/* The READY row of a fetched sidecar; source: main_source. */
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
  if (j->nchunks == 0) {
    /* No bytes to verify: the checksum must be that of empty content
     * (decoders refuse other claims; this is the last line). */
    vss_hash empty;
    vss_checksum_empty(&empty);
    if (!vss_hash_eq(&empty, &j->checksum)) return VSS_ERR_CHECKSUM;
    if (!j->tmp &&
        vss_blobs_open_temp(x->n->blobs, &j->key, j->fmt, 0, &j->tmp)) {
      j->tmp = NULL;
      return VSS_ERR_IO;
    }
  }
  if (!j->tmp) return VSS_ERR_IO;
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

/* A page of the chunk-hash list from source `peer`: appended to what
 * that source sent so far. Returns 1 when the list is complete and adds
 * up to the checksum (then j->hashes holds it), 0 when more pages are
 * due, VSS_ERR_CHECKSUM when the source's list is not the job's (it
 * lied), or VSS_ERR_NOMEM. Memory grows with the pages actually received, at
 * most the list of a VSS_SIDECAR_MAX_SIZE sidecar. */
static int meta_page(vss_xfer *x, xjob *j, uint16_t peer,
                     const vss_msg_xfer_meta *m) {
  if (m->size != j->size || m->total != j->nchunks ||
      !vss_hash_eq(&m->checksum, &j->checksum) || peer != j->mpeer ||
      m->first != j->mnext || m->nchunks == 0)
    return VSS_ERR_CHECKSUM;
  vss_hash *ml =
      realloc(j->mlist, (size_t)(j->mnext + m->nchunks) * sizeof(*ml));
  if (!ml) return VSS_ERR_NOMEM;
  j->mlist = ml;
  memcpy(ml + j->mnext, m->hashes, (size_t)m->nchunks * sizeof(*ml));
  j->mnext += m->nchunks;
  if (j->mnext < j->nchunks) return 0;
  vss_hash sum;
  vss_checksum_of_chunks(ml, j->nchunks, &sum);
  if (!vss_hash_eq(&sum, &j->checksum)) return VSS_ERR_CHECKSUM;
  free(j->hashes);
  j->hashes = ml;
  j->mlist = NULL;
  j->mnext = 0;
  xf_mlist_uncount(x, j);
  return 1;
}

/* p holds other bytes than its digest said: no use to this job, and
 * blamed beyond it. */
static void meta_refused(vss_xfer *x, xjob *j, vss_peer *p, vss_time now) {
  xf_mlist_drop(x, j);
  vss_est_blame(&p->est, now);
  jsrc *s = xf_job_src(j, p->idx);
  if (s) {
    s->errors = XFER_SRC_MAX_ERRORS; /* a false list: never revived */
    xf_src_drop(x, j, s, VSS_ERR_CHECKSUM, now);
  }
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
  int ok = j->hashes ? 1 : meta_page(x, j, p->idx, m);
  if (ok >= 0) { /* a verified list, or a page of it: progress */
    j->progress_at = now;
    j->stalled = 0;
  }
  if (ok > 0 && !j->ch) {
    /* The list is verified: now the chunks can be asked for. */
    if (xf_job_chunks_init(j) && !j->fail_rc) j->fail_rc = VSS_ERR_NOMEM;
  } else if (ok == VSS_ERR_CHECKSUM) {
    meta_refused(x, j, p, now);
  } else if (ok < 0 && !j->fail_rc) {
    j->fail_rc = ok;
  }
  uint64_t id = j->id;
  if (!xf_job_settle(x, j, now) && (j = xf_job_by_id(x, id)) != NULL)
    xf_pump_job_sources(x, j, now);
  return 0;
}

/* Simulation (cfg.synthetic_data): the hash of a chunk that came as
 * XFER_SYNTH is the store's hash of the synthetic content it stands for,
 * spoiled when a marker was damaged, so a liar's chunk fails as a flipped
 * byte would. 1: real bytes, hash them; 0: *h set; -1: a chunk of both
 * kinds, or no such content (fails verification). */
static int synth_hash(vss_xfer *x, const xjob *j, const xreq *r, vss_hash *h) {
  if (!r->synth) return 1;
  if (r->synth != r->len ||
      vss_blobs_content_hash(x->n->blobs, &j->key, j->fmt, j->size, 0, r->off,
                             r->len, h))
    return -1;
  if (r->tampered) h->b[0] ^= 0x5a;
  return 0;
}

/* A data request is complete: verify it. Verified bytes (only those)
 * feed the source's rate estimate and count as its share of the job;
 * they are counted before the request leaves the source's list, so the
 * busy period they belong to has not ended yet. */
static void req_landed(vss_xfer *x, vss_peer *p, xreq *r, vss_time now) {
  xjob *j = r->job;
  vss_hash h;
  int ok = synth_hash(x, j, r, &h);
  if (ok == 1) vss_hash_bytes(r->buf, r->len, &h);
  ok = ok >= 0 && j->ch && (j->nchunks == 1 || j->hashes) &&
       chunk_hash_ok(j, r->chunk, &h);
  if (ok) {
    vss_est_delivered(&p->est, r->len, now);
    x->peers[p->idx]->c.stalls = 0; /* its deadlines back to normal */
    jsrc *s = xf_job_src(j, p->idx);
    if (s) s->verified += r->len;
  }
  xf_req_settle_source(x, r, now);
  if (ok)
    chunk_write(x, j, r, now);
  else
    chunk_bad(x, j, r, now);
}

/* A transport that can lose frames (the harness, datagram drivers) left
 * a hole in a request: drop the rest of it and fetch the chunk again. */
static int data_gap(vss_xfer *x, xreq *r, vss_time now) {
  xjob *j = r->job;
  uint16_t peer = r->peer;
  uint64_t c = r->chunk;
  xf_req_abandon(x, r, now);
  xf_chunk_requeue(x, j, c, peer, XF_RQ_FAIL, now);
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
  if (m->synth) { /* simulation: no bytes, a marker that must be zero */
    for (int i = 0; i < VSS_WIRE_SYNTH_MARK; i++)
      if (m->data[i]) r->tampered = 1;
    r->synth += m->len;
  } else {
    memcpy(r->buf + r->got, m->data, m->len);
  }
  r->got += m->len;
  xp->c.inflight -= m->len;
  if (r->fg) xp->c.fg_inflight -= m->len;
  xp->c.last_progress = now;
  xp->c.busy_run = 0; /* admitted: a whole window again */
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
  req_landed(x, p, r, now);
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
  if (code == VSS_ERR_BUSY) return xf_on_busy(x, p, r, m->retry_after_ms, now);
  /* Negative evidence: it no longer holds the key, whatever its digest
   * said, so it is not chosen again (gossip brings it back if re-added). */
  if (code == VSS_ERR_NOT_FOUND)
    (void)vss_pcache_set(x->n->pcache, p->idx, &j->key, j->fmt, 0, 0, NULL);
  if (r->meta)
    j->meta_inflight = 0;
  else
    xf_chunk_requeue(x, j, r->chunk, p->idx, XF_RQ_GONE, now);
  xf_req_free(x, r, now);
  /* It does not have the sidecar (any more) or refuses: leave it out. */
  jsrc *s = xf_job_src(j, p->idx);
  if (s) xf_src_drop(x, j, s, code, now);
  if (!xf_job_settle(x, j, now)) xf_pump_job_sources(x, j, now);
  return 0;
}
