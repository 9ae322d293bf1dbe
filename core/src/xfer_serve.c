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
 *
 * Admission (upload slots, xfer_internal.h): GETs queue only for the
 * peers holding a slot. Without it, 99 requesters each keeping a window
 * of >= 1 MiB at one holder behind a 5 MB/s uplink queue ~20 s of bytes,
 * every request outlives its timeout and the fleet collapses into
 * retries. A refused GET is answered XFER_ERROR VSS_ERR_BUSY with a
 * retry-after hint: cheap for both sides, and the requester tries
 * another holder or waits.
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

/* ---- upload slots ---------------------------------------------------- */

/* K: configured, else one per XFER_UP_SLOT_RATE of the upload rate
 * (declared, else measured, else the typical rate of the asking peer's
 * link class: a LAN peer is not turned away before anything was
 * measured), plus one so that a rate not yet saturated can show itself. */
static uint32_t up_slots(const vss_xfer *x, const vss_peer *p) {
  const vss_node_config *cf = xf_cfg(x);
  if (cf->upload_slots)
    return cf->upload_slots < XFER_UP_SLOTS_MAX ? cf->upload_slots
                                                : XFER_UP_SLOTS_MAX;
  double rate = cf->upload_rate > 0 ? cf->upload_rate : x->up_rate;
  if (rate <= 0 && p) rate = vss_est_class_rate(p->link.cls);
  if (rate <= 0) return XFER_UP_SLOTS_DEFAULT;
  double k = rate / XFER_UP_SLOT_RATE + 1;
  if (k < XFER_UP_SLOTS_MIN) return XFER_UP_SLOTS_MIN;
  return k > XFER_UP_SLOTS_MAX ? XFER_UP_SLOTS_MAX : (uint32_t)k;
}

static void up_release(vss_xfer *x, xpeer *xp, uint16_t idx) {
  if (!xp->up_slot) return;
  xp->up_slot = xp->up_closing = 0;
  for (uint32_t i = 0; i < x->nup; i++)
    if (x->up_hold[i] == idx) {
      x->up_hold[i] = x->up_hold[--x->nup];
      break;
    }
}

/* A holder with nothing queued for two of its round trips is done for
 * now (a closing one at once): its slot goes back. */
static int up_idle(const vss_xfer *x, const xpeer *xp, uint16_t idx,
                   vss_time now) {
  if (xp->nserve) return 0;
  if (xp->up_closing) return 1;
  const vss_peer *p = xf_peer_at(x, idx);
  vss_time linger = XFER_UP_LINGER_MIN;
  if (p && p->online) linger += 2 * p->est.srtt;
  return xp->up_idle_at != VSS_TIME_UNSET && now >= xp->up_idle_at &&
         now - xp->up_idle_at >= linger;
}

static void up_reclaim(vss_xfer *x, vss_time now) {
  for (uint32_t i = 0; i < x->nup;) {
    uint16_t idx = x->up_hold[i];
    xpeer *xp = x->peers[idx];
    if (!xp)
      x->up_hold[i] = x->up_hold[--x->nup];
    else if (up_idle(x, xp, idx, now))
      up_release(x, xp, idx); /* moves the last holder to i */
    else
      i++;
  }
}

/* A foreground requester needs room: the background holder that has
 * held its slot longest takes no new GETs (its queue still drains). */
static void up_preempt(vss_xfer *x, uint16_t skip) {
  xpeer *victim = NULL;
  for (uint32_t i = 0; i < x->nup; i++) {
    xpeer *xp = x->peers[x->up_hold[i]];
    if (!xp || x->up_hold[i] == skip || xp->up_closing || xp->qh[0]) continue;
    if (!victim || xp->up_since < victim->up_since) victim = xp;
  }
  if (victim) victim->up_closing = 1;
}

/* May p's GET queue? Holders may, except a closing one's background
 * GETs; others take a free slot, or (foreground) one over K while a
 * background holder is preempted. Returns 1 when admitted. */
static int up_admit(vss_xfer *x, vss_peer *p, xpeer *xp, int fg, vss_time now) {
  uint32_t k = up_slots(x, p);
  if (xp->up_slot) {
    /* Held its term while others waited: rotate it out. */
    if (!fg && !xp->up_closing && now - xp->up_since >= XFER_UP_TERM &&
        x->up_refused_at != VSS_TIME_UNSET && x->up_refused_at > xp->up_since)
      xp->up_closing = 1;
    return fg || !xp->up_closing;
  }
  if (x->nup >= k) up_reclaim(x, now);
  if (x->nup >= k && !fg) return 0;
  if (x->nup >= XFER_UP_SLOTS_MAX * 2) return fg; /* served, no slot */
  if (x->nup >= k) up_preempt(x, p->idx);
  xp->up_slot = 1;
  xp->up_closing = 0;
  xp->up_since = now;
  x->up_hold[x->nup++] = p->idx;
  return 1;
}

/* About when a slot frees: what is queued, at the upload rate. */
static uint32_t up_retry_ms(const vss_xfer *x) {
  double rate = x->up_rate > 0 ? x->up_rate
                               : (double)up_slots(x, NULL) * XFER_UP_SLOT_RATE;
  double t = (double)x->up_queued / rate * 1e9;
  vss_time w = t >= 1e18 ? XFER_BUSY_MAX : (vss_time)t;
  if (w < XFER_BUSY_HINT_MIN) w = XFER_BUSY_HINT_MIN;
  if (w > XFER_BUSY_MAX) w = XFER_BUSY_MAX;
  return (uint32_t)(w / VSS_NS_PER_MS);
}

static int send_busy(vss_xfer *x, vss_peer *p, uint32_t req_id, vss_time now) {
  x->up_refused++;
  x->up_refused_at = now;
  x->scratch.len = 0;
  int rc = vss_wire_encode_xfer_busy(&x->scratch, req_id, up_retry_ms(x));
  return rc ? rc : vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

/* The upload rate: bytes produced over windows of at least
 * XFER_UP_RATE_WINDOW during which something stayed queued (the driver
 * pulls frames as fast as its links take them, so that is what the
 * uplink carries). */
static void up_measure(vss_xfer *x, uint32_t len, vss_time now) {
  if (x->up_win_at == VSS_TIME_UNSET || now < x->up_win_at) {
    x->up_win_at = now;
    x->up_win_bytes = 0;
  }
  x->up_win_bytes += len;
  vss_time el = now - x->up_win_at;
  if (el >= XFER_UP_RATE_WINDOW) {
    double r = (double)x->up_win_bytes * 1e9 / (double)el;
    x->up_rate = x->up_rate > 0 ? 0.7 * x->up_rate + 0.3 * r : r;
    x->up_win_at = now;
    x->up_win_bytes = 0;
  }
  if (x->up_queued == 0) x->up_win_at = VSS_TIME_UNSET; /* idle */
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
  int fg = (g->flags & VSS_GET_FOREGROUND) != 0;
  if (!up_admit(x, p, xp, fg, x->now))
    return send_busy(x, p, g->req_id, x->now);
  xserve *s = calloc(1, sizeof(*s));
  if (!s) return VSS_ERR_NOMEM;
  s->req_id = g->req_id;
  s->key = g->key;
  s->fmt = g->format;
  s->off = g->offset;
  s->end = g->offset + g->length;
  s->bytes = g->length;
  if (serve_push(xp, s, fg ? 0 : 1)) {
    free(s);
    return VSS_ERR_NOMEM;
  }
  xp->qbytes += g->length;
  x->up_queued += g->length;
  xp->up_idle_at = VSS_TIME_UNSET;
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

static xserve *serve_unlink(vss_xfer *x, xpeer *xp, int q, xserve *s) {
  uint64_t left = s->end - s->off;
  xp->qbytes -= left;
  x->up_queued -= left;
  if (s->prev)
    s->prev->next = s->next;
  else
    xp->qh[q] = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    xp->qt[q] = s->prev;
  smap_del(xp, s);
  if (--xp->nserve == 0) xp->up_idle_at = x->now;
  return s;
}

int xf_on_cancel(vss_xfer *x, vss_peer *p, const vss_msg_xfer_cancel *m) {
  xpeer *xp = x->peers[p->idx];
  if (!xp || !xp->smap_n) return 0;
  for (xserve *s = xp->smap[serve_bucket(xp, m->req_id)]; s; s = s->hnext) {
    if (s->req_id != m->req_id) continue;
    free(serve_unlink(x, xp, s->q, s));
    return 0;
  }
  return 0; /* already served: nothing to drop */
}

void xf_serve_clear(vss_xfer *x, xpeer *xp, uint16_t idx) {
  for (int q = 0; q < 2; q++) {
    while (xp->qh[q])
      free(serve_unlink(x, xp, q, xp->qh[q]));
  }
  up_release(x, xp, idx);
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
  free(serve_unlink(x, xp, q, s));
  if (xp->up_closing && !xp->nserve) up_release(x, xp, p->idx);
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
    free(serve_unlink(x, xp, q, s));
    return rc ? rc : 1;
  }
  rc = vss_wire_encode_xfer_data(out, s->req_id, s->off, x->rbuf, len);
  if (rc) return rc;
  s->off += len;
  xp->qbytes -= len;
  x->up_queued -= len;
  up_measure(x, len, now);
  if (s->off == s->end) serve_done(x, p, xp, q, now);
  return 1;
}
