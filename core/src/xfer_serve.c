/*
 * xfer_serve.c - serving peers' GETs.
 *
 * GETs for sidecars we hold READY queue per peer, foreground ahead of
 * background; DATA frames are produced lazily when the driver asks for
 * the next frame, so a foreground GET overtakes prefetch bytes not yet
 * sent. A peer names a sidecar key, never a path.
 *
 * Chunk-hash lists (META) come from the store, where they were written
 * with the sidecar row (recorded locally or fetched), and are kept in a
 * small LRU cache: a large sidecar is usually asked for by several peers
 * at once. A row without a list (recorded before schema version 2) gets
 * it computed by reading the blob back - synchronously, ~1.7 s/GB, which
 * is why requesters give a META request time in proportion to the size
 * (xfer_req.c) - and the result is stored so that it happens once.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- chunk-hash lists ------------------------------------------------ */

static int send_error(vss_xfer *x, vss_peer *p, uint32_t req_id, int code) {
  x->scratch.len = 0;
  int rc = vss_wire_encode_xfer_error(&x->scratch, req_id, code);
  return rc ? rc : vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

static void meta_free(xmeta *m) {
  free(m->hashes);
  memset(m, 0, sizeof(*m));
}

static xmeta *meta_lookup(vss_xfer *x, const vss_sidecar_row *row) {
  for (int i = 0; i < XFER_META_CACHE; i++) {
    xmeta *m = &x->meta[i];
    if (m->hashes && m->size == row->size && m->fmt == row->format &&
        vss_key_cmp(&m->key, &row->key) == 0 &&
        vss_hash_eq(&m->checksum, &row->checksum)) {
      m->used = ++x->meta_tick;
      return m;
    }
  }
  return NULL;
}

/* The stored list of a multi-chunk sidecar, when it is there and is the
 * row's (a damaged or stale one is ignored: it would make requesters
 * drop us as a liar). */
static int meta_stored(vss_xfer *x, const vss_sidecar_row *row,
                       vss_hash **hashes, uint64_t *n) {
  uint64_t want = vss_chunk_count(row->size), got = 0;
  if (want < 2 || want > SIZE_MAX / sizeof(vss_hash)) return VSS_ERR_NOT_FOUND;
  vss_hash *hs = malloc((size_t)want * sizeof(*hs)), sum;
  if (!hs) return VSS_ERR_NOMEM;
  int rc = vss_store_get_chunks(x->n->store, &row->key, hs, want, &got);
  if (rc == 0 && got == want) {
    vss_checksum_of_chunks(hs, want, &sum);
    if (vss_hash_eq(&sum, &row->checksum)) {
      *hashes = hs;
      *n = want;
      return 0;
    }
  }
  free(hs);
  return rc ? rc : VSS_ERR_CORRUPT;
}

/* Chunk hashes of a blob we hold, read back through a hasher: the
 * fallback for rows that have no stored list. */
static int meta_compute(vss_xfer *x, const vss_sidecar_row *row,
                        vss_hash **hashes, uint64_t *n) {
  vss_hash sum;
  int rc = vss_blobs_hash(x->n->blobs, &row->key, row->format, row->size, &sum,
                          hashes, n);
  if (rc == VSS_ERR_NOMEM) return rc;
  if (rc) return VSS_ERR_IO;
  if (!vss_hash_eq(&sum, &row->checksum)) {
    free(*hashes);
    *hashes = NULL;
    return VSS_ERR_CORRUPT; /* our bytes do not match our row */
  }
  /* Keep it, so the next request (or the next run) reads it instead.
   * Best effort: without it we compute again next time. */
  if (*n >= 2) (void)vss_store_put_chunks(x->n->store, &row->key, *hashes, *n);
  return 0;
}

static int meta_get(vss_xfer *x, const vss_sidecar_row *row, xmeta **out) {
  if ((*out = meta_lookup(x, row)) != NULL) return 0;
  vss_hash *hs = NULL;
  uint64_t n = 0;
  int rc = meta_stored(x, row, &hs, &n);
  if (rc == VSS_ERR_NOMEM) return rc;
  if (rc) rc = meta_compute(x, row, &hs, &n);
  if (rc) return rc;
  xmeta *m = &x->meta[0];
  for (int i = 1; i < XFER_META_CACHE; i++)
    if (x->meta[i].used < m->used) m = &x->meta[i];
  meta_free(m);
  m->key = row->key;
  m->fmt = row->format;
  m->size = row->size;
  m->checksum = row->checksum;
  m->hashes = hs;
  m->n = n;
  m->used = ++x->meta_tick;
  *out = m;
  return 0;
}

/* One page of the list, from hash `first` (lists past
 * VSS_WIRE_META_PAGE hashes travel in several). */
static int serve_meta(vss_xfer *x, vss_peer *p, uint32_t req_id,
                      const vss_sidecar_row *row, uint64_t first) {
  uint64_t total = vss_chunk_count(row->size);
  if (first > total || (first == total && total != 0))
    return send_error(x, p, req_id, VSS_ERR_INVALID);
  xmeta *m;
  int rc = meta_get(x, row, &m);
  if (rc) return send_error(x, p, req_id, rc);
  if (first > m->n) return send_error(x, p, req_id, VSS_ERR_INVALID);
  const vss_hash *hs = m->hashes;
  uint64_t count = m->n - first;
  if (count > VSS_WIRE_META_PAGE) count = VSS_WIRE_META_PAGE;
  x->scratch.len = 0;
  rc =
      vss_wire_encode_xfer_meta_page(&x->scratch, req_id, m->size, &m->checksum,
                                     first, hs ? hs + first : NULL, count);
  if (rc) return send_error(x, p, req_id, VSS_ERR_TOO_BIG);
  rc = vss__send(x->n, p, x->scratch.data, x->scratch.len);
  return rc ? rc : 1;
}

void xf_meta_cache_free(vss_xfer *x) {
  for (int i = 0; i < XFER_META_CACHE; i++)
    meta_free(&x->meta[i]);
}

/* ---- queued GETs ----------------------------------------------------- */

/* Queued GETs are also in a per-peer map by req_id, so that an
 * XFER_CANCEL costs O(1) instead of a walk of up to XFER_MAX_SERVES. */
static uint32_t serve_bucket(const xpeer *xp, uint32_t req_id) {
  return (req_id * 2654435761u) & (xp->smap_n - 1);
}

static void smap_put(xpeer *xp, xserve *s) {
  uint32_t b = serve_bucket(xp, s->req_id);
  s->hnext = xp->smap[b];
  xp->smap[b] = s;
}

/* Twice the buckets once there are more GETs than buckets; without the
 * memory the chains grow longer (nserve stays capped). */
static int smap_grow(xpeer *xp) {
  if (xp->smap_n && xp->nserve < xp->smap_n) return 0;
  uint32_t nb = xp->smap_n ? xp->smap_n * 2 : 64;
  xserve **m = calloc(nb, sizeof(*m));
  if (!m) return xp->smap_n ? 0 : VSS_ERR_NOMEM;
  free(xp->smap);
  xp->smap = m;
  xp->smap_n = nb;
  for (int q = 0; q < 2; q++)
    for (xserve *s = xp->qh[q]; s; s = s->next)
      smap_put(xp, s);
  return 0;
}

static void smap_del(xpeer *xp, xserve *s) {
  xserve **pp = &xp->smap[serve_bucket(xp, s->req_id)];
  while (*pp && *pp != s)
    pp = &(*pp)->hnext;
  if (*pp) *pp = s->hnext;
}

static int serve_push(xpeer *xp, xserve *s, int q) {
  int rc = smap_grow(xp);
  if (rc) return rc;
  s->q = (uint8_t)q;
  s->next = NULL;
  s->prev = xp->qt[q];
  if (xp->qt[q])
    xp->qt[q]->next = s;
  else
    xp->qh[q] = s;
  xp->qt[q] = s;
  xp->nserve++;
  smap_put(xp, s);
  return 0;
}

/* The row a GET names, when we hold it READY in the asked format.
 * Returns 1 with *row, or what sending the XFER_ERROR returned (<= 0). */
static int get_row(vss_xfer *x, vss_peer *p, const vss_msg_xfer_get *g,
                   vss_sidecar_row *row) {
  int rc = vss_store_get_sidecar(x->n->store, &g->key, row);
  if (rc && rc != VSS_ERR_NOT_FOUND) return send_error(x, p, g->req_id, rc);
  if (rc || row->status != VSS_STATUS_READY || row->format != g->format)
    return send_error(x, p, g->req_id, VSS_ERR_NOT_FOUND);
  return 1;
}

/* Queue a GET's byte range; DATA is produced when the driver asks. The
 * cap keeps a peer from making us hold unbounded state. */
static int serve_queue(vss_xfer *x, vss_peer *p, const vss_msg_xfer_get *g) {
  xpeer *xp = xf_xp_get(x, p->idx);
  if (!xp) return VSS_ERR_NOMEM;
  if (xp->nserve >= XFER_MAX_SERVES)
    return send_error(x, p, g->req_id, VSS_ERR_FULL);
  xserve *s = calloc(1, sizeof(*s));
  if (!s) return VSS_ERR_NOMEM;
  s->req_id = g->req_id;
  s->key = g->key;
  s->fmt = g->format;
  s->off = g->offset;
  s->end = g->offset + g->length;
  s->bytes = g->length;
  if (serve_push(xp, s, (g->flags & VSS_GET_FOREGROUND) ? 0 : 1)) {
    free(s);
    return VSS_ERR_NOMEM;
  }
  return 0;
}

int xf_on_get(vss_xfer *x, vss_peer *p, const vss_msg_xfer_get *g) {
  vss_sidecar_row row;
  int rc = get_row(x, p, g, &row);
  if (rc <= 0) return rc;
  int meta = (g->flags & VSS_GET_META) != 0;
  /* A META-only GET names the first hash wanted in its offset. */
  uint64_t first = g->length == 0 ? g->offset : 0;
  if (meta && (rc = serve_meta(x, p, g->req_id, &row, first)) <= 0)
    return rc;        /* an error went out instead */
  if (g->length == 0) /* a META-only request is complete */
    return meta ? 0 : send_error(x, p, g->req_id, VSS_ERR_INVALID);
  if (g->offset > row.size || g->length > row.size - g->offset)
    return send_error(x, p, g->req_id, VSS_ERR_INVALID);
  return serve_queue(x, p, g);
}

static xserve *serve_unlink(xpeer *xp, int q, xserve *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    xp->qh[q] = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    xp->qt[q] = s->prev;
  smap_del(xp, s);
  xp->nserve--;
  return s;
}

int xf_on_cancel(vss_xfer *x, vss_peer *p, const vss_msg_xfer_cancel *m) {
  xpeer *xp = x->peers[p->idx];
  if (!xp || !xp->smap_n) return 0;
  for (xserve *s = xp->smap[serve_bucket(xp, m->req_id)]; s; s = s->hnext) {
    if (s->req_id != m->req_id) continue;
    free(serve_unlink(xp, s->q, s));
    return 0;
  }
  return 0; /* already served: nothing to drop */
}

void xf_serve_clear(xpeer *xp) {
  for (int q = 0; q < 2; q++) {
    while (xp->qh[q])
      free(serve_unlink(xp, q, xp->qh[q]));
  }
  free(xp->smap);
  xp->smap = NULL;
  xp->smap_n = 0;
}

/* ---- lazy DATA ------------------------------------------------------- */

/* The head GET of queue q is fully sent: report it, drop it. */
static void serve_done(vss_xfer *x, vss_peer *p, xpeer *xp, int q,
                       vss_time now) {
  xserve *s = xp->qh[q];
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_SERVED;
  ev.peer = p->id;
  ev.key = s->key;
  ev.format = s->fmt;
  ev.bytes = s->bytes;
  ev.flags = q == 0 ? VSS_EVF_FOREGROUND : 0;
  free(serve_unlink(xp, q, s));
  vss__emit(x->n, &ev, now);
}

int vss_xfer_produce(vss_xfer *x, vss_peer *p, int fg_only, vss_buf *out,
                     vss_time now) {
  xpeer *xp = p->idx < VSS_MAX_PEERS ? x->peers[p->idx] : NULL;
  if (!xp || xp->nserve == 0) return 0;
  int q = xp->qh[0] ? 0 : (!fg_only && xp->qh[1] ? 1 : -1);
  if (q < 0) return 0;
  xserve *s = xp->qh[q];
  uint64_t left = s->end - s->off;
  uint32_t len = left < XFER_SLICE ? (uint32_t)left : XFER_SLICE;
  int rc;
  if (xf_cfg(x)->synthetic_data &&
      vss_blobs_content_hash(x->n->blobs, &s->key, s->fmt, 0, 1, s->off, len,
                             NULL) == 0) {
    /* Simulation: the store's synthetic content, sent as its length. */
    rc = vss_wire_encode_xfer_synth(out, s->req_id, s->off, len);
    if (rc) return rc;
    s->off += len;
    if (s->off == s->end) serve_done(x, p, xp, q, now);
    return 1;
  }
  rc = vss_blobs_read(x->n->blobs, &s->key, s->fmt, s->off, x->rbuf, len);
  if (rc) { /* the blob vanished under its row: tell, and stop */
    rc = vss_wire_encode_xfer_error(out, s->req_id, VSS_ERR_IO);
    free(serve_unlink(xp, q, s));
    return rc ? rc : 1;
  }
  rc = vss_wire_encode_xfer_data(out, s->req_id, s->off, x->rbuf, len);
  if (rc) return rc;
  s->off += len;
  if (s->off == s->end) serve_done(x, p, xp, q, now);
  return 1;
}
