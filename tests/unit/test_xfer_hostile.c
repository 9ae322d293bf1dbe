/*
 * test_xfer_hostile.c - the transfer engine against peers that lie
 * (issue 8): claims that need no bytes, sizes that wrap or reserve the
 * disk, data served without its chunk-hash list, holders hidden behind
 * offline ones, fast peers that corrupt, lists longer than a frame, and
 * a flood of GETs cancelled one by one.
 *
 * The node is driven by hand: "ghosts" are peers whose frames the test
 * writes and whose queues it reads, so a test says exactly what a
 * hostile peer sends and checks what the node does with it.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "node_internal.h"
#include "wire.h"
#include "xfer.h"
#include "xfer_fixture.h"

#include <stdio.h>
#include <time.h>

#define THUMB 45000u
#define NGHOST 40

/* ---- a node with ghost peers ----------------------------------------- */

/* Blobs that count temp opens and the largest size reserved. */
typedef struct tblobs {
  vss_blobs *inner;
  uint64_t opens, max_reserved;
} tblobs;

static int tb_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                        uint64_t size, void **tmp) {
  tblobs *c = ctx;
  c->opens++;
  if (size > c->max_reserved) c->max_reserved = size;
  return vss_blobs_open_temp(c->inner, key, fmt, size, tmp);
}
static int tb_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                    size_t len) {
  return vss_blobs_write(((tblobs *)ctx)->inner, tmp, off, buf, len);
}
static int tb_commit(void *ctx, void *tmp) {
  return vss_blobs_commit(((tblobs *)ctx)->inner, tmp);
}
static void tb_discard(void *ctx, void *tmp) {
  vss_blobs_discard(((tblobs *)ctx)->inner, tmp);
}
static int tb_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                   void *buf, size_t len) {
  return vss_blobs_read(((tblobs *)ctx)->inner, key, fmt, off, buf, len);
}
static int tb_stat(void *ctx, const vss_key *key, vss_format fmt,
                   uint64_t *size) {
  return vss_blobs_stat(((tblobs *)ctx)->inner, key, fmt, size);
}
static int tb_remove(void *ctx, const vss_key *key, vss_format fmt) {
  return vss_blobs_remove(((tblobs *)ctx)->inner, key, fmt);
}
static void tb_close(void *ctx) {
  tblobs *c = ctx;
  vss_blobs_del(c->inner);
  free(c);
}
static const vss_blob_methods tblob_methods = {
    .open_temp = tb_open_temp,
    .write = tb_write,
    .commit = tb_commit,
    .discard = tb_discard,
    .read = tb_read,
    .stat = tb_stat,
    .remove = tb_remove,
    .close = tb_close,
};

typedef struct gnode {
  vss_store *store;
  vss_blobs *blobs;
  tblobs *tb;
  vss_node *n;
  int ng;
  vss_uuid ghost[NGHOST];
  size_t count[VSS_EV_COUNT];
  vss_event last[VSS_EV_COUNT]; /* the latest of each type */
} gnode;

static uint64_t g_rand(void *u) {
  (void)u;
  return 42;
}

static void g_event(void *u, const vss_event *ev) {
  gnode *g = u;
  g->count[ev->type]++;
  g->last[ev->type] = *ev;
}

/* ng ghosts; ghost i's link hint: rates[i] bytes/s (100 MB/s when
 * rates is NULL), 2 ms. */
static void g_open(gnode *g, int ng, const double *rates) {
  memset(g, 0, sizeof(*g));
  vss_uuid me = {{1}};
  assert_int_equal(vss_store_sqlite_open(&g->store, ":memory:", &me, NULL, 0),
                   0);
  g->tb = calloc(1, sizeof(*g->tb));
  assert_non_null(g->tb);
  assert_int_equal(vss_blobs_mem_new(&g->tb->inner), 0);
  assert_int_equal(vss_blobs_new(&g->blobs, &tblob_methods, g->tb), 0);
  vss_node_config c = fx_cfg();
  c.store = g->store;
  c.blobs = g->blobs;
  c.rand = g_rand;
  c.on_event = g_event;
  c.event_user = g;
  assert_int_equal(vss_node_new(&g->n, &c, 0), 0);
  g->ng = ng;
  for (int i = 0; i < ng; i++) {
    vss_link_info li = {.cls = VSS_LINK_ETHERNET,
                        .rate_hint = rates ? rates[i] : 100e6,
                        .rtt_hint = 2 * MS};
    g->ghost[i].b[0] = (uint8_t)(0x10 + i);
    g->ghost[i].b[15] = 7;
    assert_int_equal(vss_node_peer_up(g->n, &g->ghost[i], &li, 0), 0);
  }
}

static void g_close(gnode *g) {
  vss_node_del(g->n);
  vss_blobs_del(g->blobs);
  vss_store_del(g->store);
}

/* Feed a buffer of frames from ghost i; returns the first negative rc. */
static int g_feed(gnode *g, int i, const vss_buf *b, vss_time now) {
  int first = 0;
  for (size_t off = 0; off < b->len;) {
    size_t flen;
    assert_int_equal(vss_wire_frame_len(b->data + off, b->len - off, &flen), 0);
    int rc = vss_node_recv(g->n, &g->ghost[i], b->data + off, flen, now);
    if (rc < 0 && !first) first = rc;
    off += flen;
  }
  return first;
}

/* The GETs the node queued for ghost i (at most cap; the rest of its
 * queue is drained and dropped). */
static size_t g_gets(gnode *g, int i, vss_time now, vss_msg_xfer_get *q,
                     size_t cap) {
  size_t n = 0;
  vss_outmsg out;
  while (vss_node_next_send(g->n, &g->ghost[i], &out, now) == 1) {
    vss_msg m;
    assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
    if (m.type == VSS_MSG_XFER_GET && n < cap) q[n++] = m.u.get;
  }
  return n;
}

static void g_drain_all(gnode *g, vss_time now) {
  for (int i = 0; i < g->ng; i++)
    g_gets(g, i, now, NULL, 0);
}

/* Ghost i says it holds nk keys, all in fmt (a one-page full digest:
 * it replaces what the ghost said before). Returns what the node's recv
 * returned. */
static int g_offer_n(gnode *g, int i, const vss_key *k, size_t nk,
                     vss_format fmt, uint64_t size, const vss_hash *sum) {
  vss_buf b = {0};
  vss_msg_digest d;
  memset(&d, 0, sizeof(d));
  d.device = g->ghost[i];
  d.epoch = 1;
  d.to_seq = 1;
  d.flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
  size_t mark;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  for (size_t j = 0; j < nk; j++) {
    vss_wire_entry e = {
        .key = k[j], .format = fmt, .has = 1, .size = size, .checksum = sum[j]};
    assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  }
  assert_int_equal(vss_wire_digest_end(&b, mark, (uint32_t)nk), 0);
  int rc = g_feed(g, i, &b, 0);
  vss_buf_free(&b);
  g_gets(g, i, 0, NULL, 0);
  return rc;
}

static int g_offer(gnode *g, int i, const vss_key *k, vss_format fmt,
                   uint64_t size, const vss_hash *sum) {
  return g_offer_n(g, i, k, 1, fmt, size, sum);
}

/* Ghost i answers a data GET with `data` (the sidecar's bytes, or
 * garbage of its length). */
static void g_data(gnode *g, int i, const vss_msg_xfer_get *get,
                   const uint8_t *data, vss_time now) {
  vss_buf b = {0};
  for (uint32_t off = 0; off < get->length; off += 65536) {
    uint32_t len = get->length - off < 65536 ? get->length - off : 65536;
    assert_int_equal(vss_wire_encode_xfer_data(&b, get->req_id,
                                               get->offset + off,
                                               data + get->offset + off, len),
                     0);
  }
  assert_int_equal(g_feed(g, i, &b, now), 0);
  vss_buf_free(&b);
}

static int g_ready(gnode *g, const vss_key *k) {
  vss_sidecar_row row;
  return vss_store_get_sidecar(g->store, k, &row) == 0 &&
         row.status == VSS_STATUS_READY;
}

/* Content and chunk-hash list of key at size. */
static uint8_t *content(const vss_key *k, uint64_t size, vss_hash *sum,
                        vss_hash **hs, uint64_t *n) {
  uint8_t *data = malloc(size ? size : 1);
  assert_non_null(data);
  vss_h_content(k, size, data);
  vss_hasher *h;
  assert_int_equal(vss_hasher_new(&h), 0);
  assert_int_equal(vss_hasher_update(h, data, size), 0);
  assert_int_equal(vss_hasher_final(h, sum, hs, n), 0);
  vss_hasher_del(h);
  return data;
}

/* ---- item 1: READY only after verified bytes -------------------------- */

/* A size-0 claim with any checksum but that of empty content needs no
 * bytes to become READY, so it could never be caught later: the digest
 * is a protocol error (the driver drops the announcer) and nothing is
 * recorded. A size whose chunk count wrapped (UINT64_MAX) or over the
 * stated maximum is refused the same way. The true empty sidecar is
 * fetched, verified, and READY with an empty blob. */
static void test_zero_and_huge_claims_refused(void **state) {
  (void)state;
  /* The chunk count does not wrap. */
  assert_int_equal(vss_chunk_count(UINT64_MAX),
                   UINT64_MAX / VSS_CHUNK_SIZE + 1);
  assert_int_equal(vss_chunk_count(0), 0);
  assert_int_equal(vss_chunk_count(VSS_CHUNK_SIZE + 1), 2);

  gnode g;
  g_open(&g, 2, NULL);
  vss_hash bogus;
  memset(&bogus, 0xab, sizeof(bogus));
  const uint64_t sizes[] = {0, UINT64_MAX, VSS_SIDECAR_MAX_SIZE + 1};
  for (int i = 0; i < 3; i++) {
    vss_key k;
    vss_h_key(&k, 100 + (uint32_t)i, VSS_KIND_THUMB, "grid@2x");
    assert_true(g_offer(&g, 0, &k, VSS_FMT_WEBP, sizes[i], &bogus) < 0);
    uint64_t job = 0;
    (void)vss_node_fetch(g.n, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, 0);
    g_drain_all(&g, 0);
    vss_resolution r;
    assert_int_equal(
        vss_node_resolve(g.n, &k, VSS_FMT_WEBP, VSS_RESOLVE_LOCAL_ONLY, &r, 0),
        0);
    assert_true(r.kind != VSS_RESOLVED_LOCAL);
    assert_false(g_ready(&g, &k));
  }
  assert_int_equal(g.count[VSS_EV_FETCH_DONE], 0);

  /* The true empty sidecar. */
  vss_key k;
  vss_h_key(&k, 110, VSS_KIND_OCR, "default");
  vss_hash empty;
  assert_int_equal(vss_checksum_buffer("", 0, &empty), 0);
  assert_int_equal(g_offer(&g, 1, &k, VSS_FMT_TEXT, 0, &empty), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_TEXT, VSS_FETCH_FOREGROUND, &job, 0), 0);
  assert_int_equal(g.count[VSS_EV_FETCH_DONE], 1);
  assert_true(g_ready(&g, &k));
  uint64_t size = 1;
  assert_int_equal(vss_blobs_stat(g.blobs, &k, VSS_FMT_TEXT, &size), 0);
  assert_int_equal(size, 0);
  g_close(&g);
}

/* ---- item 3: holders filtered before they are cut -------------------- */

/* 40 holders, the first 32 of them offline: the 8 online ones are
 * sources; the fetch neither fails NO_SOURCE nor waits for a query. */
static void test_holders_filtered_before_cut(void **state) {
  (void)state;
  gnode g;
  g_open(&g, NGHOST, NULL);
  vss_key k;
  vss_h_key(&k, 200, VSS_KIND_THUMB, "grid@2x");
  vss_hash sum, *hs;
  uint64_t n;
  uint8_t *data = content(&k, THUMB, &sum, &hs, &n);
  for (int i = 0; i < NGHOST; i++)
    assert_int_equal(g_offer(&g, i, &k, VSS_FMT_WEBP, THUMB, &sum), 0);
  /* Offline, but still listed (the cache outlives a disconnection). */
  for (int i = 0; i < 32; i++)
    assert_int_equal(vss_node_peer_down(g.n, &g.ghost[i], 0), 0);
  vss_xfer_source src;
  assert_int_equal(vss_xfer_best_source(g.n->xfer, &k, VSS_FMT_WEBP, &src), 8);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, 0), 0);
  int asked = -1;
  vss_msg_xfer_get get = {0};
  for (int i = 32; i < NGHOST; i++)
    if (g_gets(&g, i, 0, &get, 1) == 1 && get.length) asked = i;
  assert_true(asked >= 32);
  g_data(&g, asked, &get, data, MS);
  assert_int_equal(g.count[VSS_EV_FETCH_DONE], 1);
  assert_true(fx_same(&g.last[VSS_EV_FETCH_DONE].peer, &g.ghost[asked]));
  assert_true(g_ready(&g, &k));
  free(hs);
  free(data);
  g_close(&g);
}

/* ---- items 5 and 8: nothing unverified piles up, nothing reserved ---- */

/* A source claims a 512 MiB sidecar and serves data but never its
 * chunk-hash list. Nothing is asked for beyond the list itself: no chunk
 * is requested, buffered or written before the list is verified, and no
 * temp blob is opened (or disk reserved) for the claimed size. */
static void test_no_chunks_before_list(void **state) {
  (void)state;
  gnode g;
  g_open(&g, 1, NULL);
  vss_key k;
  vss_h_key(&k, 300, VSS_KIND_PROXY, "1080p");
  vss_hash sum;
  memset(&sum, 0x5a, sizeof(sum));
  const uint64_t size = 512ull << 20;
  assert_int_equal(g_offer(&g, 0, &k, VSS_FMT_MP4, size, &sum), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND, &job, 0), 0);
  uint8_t *junk = calloc(1, VSS_CHUNK_SIZE);
  assert_non_null(junk);
  uint64_t asked = 0, metas = 0;
  vss_time now = 0;
  /* The ghost answers every data GET (with bytes that cannot be checked)
   * and ignores META, for a while. */
  for (int round = 0; round < 50; round++) {
    vss_msg_xfer_get q[64];
    size_t nq = g_gets(&g, 0, now, q, 64);
    for (size_t i = 0; i < nq; i++) {
      if (q[i].flags & VSS_GET_META) {
        metas++;
        continue;
      }
      asked += q[i].length;
      vss_buf b = {0}; /* junk is one chunk long: a GET asks one chunk */
      assert_int_equal(vss_wire_encode_xfer_data(&b, q[i].req_id, q[i].offset,
                                                 junk, q[i].length),
                       0);
      (void)g_feed(&g, 0, &b, now);
      vss_buf_free(&b);
    }
    now += 10 * MS;
    vss_time t = vss_node_get_expiry(g.n);
    if (t <= now) (void)vss_node_handle_expiry(g.n, t);
  }
  /* Bound: nothing beyond the list (the window would allow 16 MiB). */
  assert_int_equal(asked, 0);
  assert_true(metas >= 1);
  assert_int_equal(g.tb->opens, 0);
  assert_int_equal(g.tb->max_reserved, 0);
  free(junk);
  g_close(&g);
}

/* Size-only data (XFER_SYNTH) is the simulator's: a node not configured
 * for simulation (cfg.synthetic_data 0, every real node) refuses it as a
 * protocol error, even as the answer to its own GET, and keeps nothing. */
static void test_synth_data_refused(void **state) {
  (void)state;
  gnode g;
  g_open(&g, 1, NULL);
  vss_key k;
  vss_h_key(&k, 301, VSS_KIND_THUMB, "grid@2x");
  vss_hash sum;
  memset(&sum, 0x5a, sizeof(sum));
  assert_int_equal(g_offer(&g, 0, &k, VSS_FMT_WEBP, 40000, &sum), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, 0), 0);
  vss_msg_xfer_get q[4];
  size_t nq = g_gets(&g, 0, 0, q, 4);
  assert_int_equal(nq, 1);
  vss_buf b = {0};
  assert_int_equal(
      vss_wire_encode_xfer_synth(&b, q[0].req_id, q[0].offset, q[0].length), 0);
  assert_int_equal(g_feed(&g, 0, &b, MS), VSS_ERR_PROTO);
  vss_buf_free(&b);
  assert_int_equal(g.tb->opens, 0);
  g_close(&g);
}

/* A real multi-chunk sidecar: the list comes first, alone; chunks after
 * it; the temp blob opens at the first verified chunk, not before. */
static void test_temp_blob_at_first_verified_byte(void **state) {
  (void)state;
  gnode g;
  g_open(&g, 1, NULL);
  vss_key k;
  vss_h_key(&k, 310, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 4 * VSS_CHUNK_SIZE + 100;
  vss_hash sum, *hs;
  uint64_t n;
  uint8_t *data = content(&k, size, &sum, &hs, &n);
  assert_int_equal(g_offer(&g, 0, &k, VSS_FMT_MP4, size, &sum), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND, &job, 0), 0);
  vss_msg_xfer_get q[16];
  size_t nq = g_gets(&g, 0, 0, q, 16);
  assert_int_equal(nq, 1);
  assert_true(q[0].flags & VSS_GET_META);
  assert_int_equal(q[0].length, 0);
  assert_int_equal(g.tb->opens, 0);
  vss_buf b = {0};
  assert_int_equal(
      vss_wire_encode_xfer_meta(&b, q[0].req_id, size, &sum, hs, n), 0);
  assert_int_equal(g_feed(&g, 0, &b, MS), 0);
  vss_buf_free(&b);
  assert_int_equal(g.tb->opens, 0); /* a verified list is not a byte */
  nq = g_gets(&g, 0, MS, q, 16);
  assert_true(nq >= 2); /* as many chunks as the window takes */
  /* A bad chunk opens nothing either. */
  uint8_t *bad = malloc(size);
  assert_non_null(bad);
  memcpy(bad, data, size);
  bad[q[0].offset] ^= 1;
  g_data(&g, 0, &q[0], bad, 2 * MS);
  assert_int_equal(g.count[VSS_EV_CHUNK_BAD], 1);
  assert_int_equal(g.tb->opens, 0);
  g_data(&g, 0, &q[1], data, 3 * MS);
  assert_int_equal(g.tb->opens, 1);
  assert_int_equal(g.tb->max_reserved, size);
  free(bad);
  free(hs);
  free(data);
  g_close(&g);
}

/* ---- items 10 and 19: blame outlives the job ------------------------- */

/* Ghost 0 is fast and corrupts; ghost 1 is slow and honest; both hold
 * two thumbnails. The first fetch goes to the fast one, gets a bad
 * chunk, and completes from the honest one, which the row and
 * FETCH_DONE name. The second fetch goes to the honest one at once. */
static void test_liar_blamed_across_jobs(void **state) {
  (void)state;
  const double rates[2] = {100e6, 5e6};
  gnode g;
  g_open(&g, 2, rates);
  vss_key k[2];
  vss_hash sum[2], *hs[2];
  uint64_t n[2];
  uint8_t *data[2];
  for (int i = 0; i < 2; i++) {
    vss_h_key(&k[i], 400 + (uint32_t)i, VSS_KIND_THUMB, "grid@2x");
    data[i] = content(&k[i], THUMB, &sum[i], &hs[i], &n[i]);
  }
  for (int gh = 0; gh < 2; gh++)
    assert_int_equal(g_offer_n(&g, gh, k, 2, VSS_FMT_WEBP, THUMB, sum), 0);
  uint8_t garbage[THUMB];
  memset(garbage, 0x77, sizeof(garbage));
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k[0], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, 0),
      0);
  vss_msg_xfer_get get = {0};
  assert_int_equal(g_gets(&g, 1, 0, &get, 1), 0);
  assert_int_equal(g_gets(&g, 0, 0, &get, 1), 1); /* the fast one */
  g_data(&g, 0, &get, garbage, MS);
  assert_int_equal(g.count[VSS_EV_CHUNK_BAD], 1);
  vss_time now = MS;
  /* The retry goes to the honest one (perhaps after a backoff). */
  memset(&get, 0, sizeof(get));
  for (int guard = 0; guard < 100 && get.length == 0; guard++) {
    if (g_gets(&g, 1, now, &get, 1) == 1 && get.length) break;
    memset(&get, 0, sizeof(get));
    assert_int_equal(g_gets(&g, 0, now, NULL, 0), 0);
    now = vss_node_get_expiry(g.n);
    assert_true(now != VSS_TIME_UNSET);
    assert_int_equal(vss_node_handle_expiry(g.n, now), 0);
  }
  assert_true(get.length == THUMB);
  g_data(&g, 1, &get, data[0], now + MS);
  assert_int_equal(g.count[VSS_EV_FETCH_DONE], 1);
  /* Item 19: the source is the peer whose verified bytes were kept. */
  assert_true(fx_same(&g.last[VSS_EV_FETCH_DONE].peer, &g.ghost[1]));
  vss_sidecar_row row;
  assert_int_equal(vss_store_get_sidecar(g.store, &k[0], &row), 0);
  assert_true(fx_same(&row.source, &g.ghost[1]));
  /* Item 10: the next sidecar goes to the honest one, not the liar. */
  now += 2 * MS;
  assert_int_equal(
      vss_node_fetch(g.n, &k[1], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, now),
      0);
  memset(&get, 0, sizeof(get));
  assert_int_equal(g_gets(&g, 0, now, &get, 1), 0);
  assert_int_equal(g_gets(&g, 1, now, &get, 1), 1);
  g_data(&g, 1, &get, data[1], now + MS);
  assert_int_equal(g.count[VSS_EV_FETCH_DONE], 2);
  assert_int_equal(g.count[VSS_EV_CHUNK_BAD], 1);
  /* Reconnecting does not wash the blame off. */
  assert_int_equal(vss_node_peer_down(g.n, &g.ghost[0], now), 0);
  vss_link_info li = {
      .cls = VSS_LINK_ETHERNET, .rate_hint = 100e6, .rtt_hint = 2 * MS};
  assert_int_equal(vss_node_peer_up(g.n, &g.ghost[0], &li, now), 0);
  assert_true(vss_est_suspect(&vss__peer_find(g.n, &g.ghost[0])->est, now));
  /* It decays: an hour later the peer is clean again. */
  assert_false(
      vss_est_suspect(&vss__peer_find(g.n, &g.ghost[0])->est, now + 3600 * S));
  for (int i = 0; i < 2; i++) {
    free(hs[i]);
    free(data[i]);
  }
  g_close(&g);
}

/* ---- item 13: chunk-hash lists past one frame ------------------------ */

/* A 9 GiB sidecar's list (36,864 hashes) is served in two META pages,
 * each asked for by its first hash; a requester assembles the pages,
 * verifies the whole list, and only then asks for chunks. */
static void test_meta_paged(void **state) {
  (void)state;
  const uint64_t size = 9ull << 30;
  const uint64_t n = vss_chunk_count(size);
  assert_true(n > VSS_WIRE_META_PAGE);
  vss_hash *hs = malloc(n * sizeof(*hs)), sum;
  assert_non_null(hs);
  for (uint64_t i = 0; i < n; i++) {
    memset(&hs[i], 0, sizeof(hs[i]));
    memcpy(hs[i].b, &i, sizeof(i));
  }
  vss_checksum_of_chunks(hs, n, &sum);
  vss_key k;
  vss_h_key(&k, 500, VSS_KIND_PROXY, "1080p");

  /* Serving: a READY row with its stored list (bytes are not needed to
   * answer META). */
  gnode s;
  g_open(&s, 1, NULL);
  vss_sidecar_row row;
  memset(&row, 0, sizeof(row));
  row.key = k;
  row.format = VSS_FMT_MP4;
  vss_rel_path(&k, VSS_FMT_MP4, row.rel_path, sizeof(row.rel_path));
  row.size = size;
  row.checksum = sum;
  row.status = VSS_STATUS_READY;
  row.version = 1;
  assert_int_equal(vss_store_set_local_chunks(s.store, &row, 1, hs, n, 0), 0);
  uint64_t firsts[2] = {0, VSS_WIRE_META_PAGE};
  for (int p = 0; p < 2; p++) {
    vss_msg_xfer_get get = {.req_id = (uint32_t)(70 + p),
                            .key = k,
                            .format = VSS_FMT_MP4,
                            .offset = firsts[p],
                            .flags = VSS_GET_META};
    vss_buf b = {0};
    assert_int_equal(vss_wire_encode_xfer_get(&b, &get), 0);
    assert_int_equal(g_feed(&s, 0, &b, 0), 0);
    vss_outmsg out;
    vss_msg m;
    memset(&m, 0, sizeof(m));
    while (vss_node_next_send(s.n, &s.ghost[0], &out, 0) == 1) {
      b.len = 0;
      assert_int_equal(vss_buf_put(&b, out.data, out.len), 0);
      assert_int_equal(vss_wire_decode(b.data, b.len, &m), 0);
      if (m.type == VSS_MSG_XFER_META || m.type == VSS_MSG_XFER_ERROR) break;
    }
    assert_int_equal(m.type, VSS_MSG_XFER_META);
    assert_int_equal(m.u.meta.first, firsts[p]);
    uint64_t want = p == 0 ? VSS_WIRE_META_PAGE : n - VSS_WIRE_META_PAGE;
    assert_int_equal(m.u.meta.nchunks, want);
    assert_memory_equal(m.u.meta.hashes, hs + firsts[p], want * sizeof(*hs));
    vss_buf_free(&b);
  }
  g_close(&s);

  /* Requesting: two pages, then chunks. */
  gnode g;
  g_open(&g, 1, NULL);
  assert_int_equal(g_offer(&g, 0, &k, VSS_FMT_MP4, size, &sum), 0);
  vss_xfer_source src;
  assert_int_equal(vss_xfer_best_source(g.n->xfer, &k, VSS_FMT_MP4, &src), 1);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND, &job, 0), 0);
  vss_msg_xfer_get q[64];
  size_t nq = g_gets(&g, 0, 0, q, 64);
  for (int p = 0; p < 2; p++) {
    assert_int_equal(nq, 1);
    assert_true(q[0].flags & VSS_GET_META);
    assert_int_equal(q[0].offset, firsts[p]);
    uint64_t cnt = p == 0 ? VSS_WIRE_META_PAGE : n - VSS_WIRE_META_PAGE;
    vss_buf b = {0};
    assert_int_equal(vss_wire_encode_xfer_meta_page(&b, q[0].req_id, size, &sum,
                                                    firsts[p], hs + firsts[p],
                                                    cnt),
                     0);
    assert_int_equal(g_feed(&g, 0, &b, (vss_time)(p + 1) * MS), 0);
    vss_buf_free(&b);
    nq = g_gets(&g, 0, (vss_time)(p + 1) * MS, q, 64);
  }
  /* The list is verified: chunks are asked for, from the first. */
  assert_true(nq >= 1);
  assert_int_equal(q[0].flags & VSS_GET_META, 0);
  assert_int_equal(q[0].offset, 0);
  assert_int_equal(q[0].length, VSS_CHUNK_SIZE);
  assert_int_equal(g.count[VSS_EV_SOURCE_DROPPED], 0);
  assert_int_equal(g.count[VSS_EV_FETCH_FAILED], 0);
  free(hs);
  g_close(&g);
}

/* A page that does not continue the list (wrong first) or a list that
 * does not add up blames its source. */
static void test_meta_pages_checked(void **state) {
  (void)state;
  const uint64_t size = 9ull << 30;
  const uint64_t n = vss_chunk_count(size);
  vss_hash *hs = calloc(n, sizeof(*hs)), sum;
  assert_non_null(hs);
  vss_checksum_of_chunks(hs, n, &sum);
  hs[n - 1].b[0] = 1; /* the list served is not the one announced */
  vss_key k;
  vss_h_key(&k, 510, VSS_KIND_PROXY, "1080p");
  gnode g;
  g_open(&g, 1, NULL);
  assert_int_equal(g_offer(&g, 0, &k, VSS_FMT_MP4, size, &sum), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(g.n, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND, &job, 0), 0);
  vss_msg_xfer_get q[4];
  assert_int_equal(g_gets(&g, 0, 0, q, 4), 1);
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_xfer_meta_page(&b, q[0].req_id, size, &sum,
                                                  0, hs, VSS_WIRE_META_PAGE),
                   0);
  assert_int_equal(g_feed(&g, 0, &b, MS), 0);
  assert_int_equal(g_gets(&g, 0, MS, q, 4), 1);
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_meta_page(
                       &b, q[0].req_id, size, &sum, VSS_WIRE_META_PAGE,
                       hs + VSS_WIRE_META_PAGE, n - VSS_WIRE_META_PAGE),
                   0);
  assert_int_equal(g_feed(&g, 0, &b, 2 * MS), 0);
  vss_buf_free(&b);
  assert_int_equal(g.count[VSS_EV_SOURCE_DROPPED], 1);
  assert_int_equal(g.last[VSS_EV_SOURCE_DROPPED].rc, VSS_ERR_CHECKSUM);
  assert_int_equal(g.count[VSS_EV_FETCH_FAILED], 1);
  assert_true(vss_est_suspect(&vss__peer_find(g.n, &g.ghost[0])->est, 2 * MS));
  assert_int_equal(g.tb->opens, 0);
  free(hs);
  g_close(&g);
}

/* Two sidecars whose lists take several pages, from one source: it is
 * asked for one list at a time (XFER_META_ASSEMBLE_PER_SOURCE), so what
 * it can make us hold unverified is one list, not one per job. The
 * second list starts when the first is verified. */
static void test_meta_assembly_bounded(void **state) {
  (void)state;
  const uint64_t size = 9ull << 30;
  const uint64_t n = vss_chunk_count(size);
  vss_hash *hs = calloc(n, sizeof(*hs)), sum[2];
  assert_non_null(hs);
  vss_checksum_of_chunks(hs, n, &sum[0]);
  sum[1] = sum[0];
  vss_key k[2];
  vss_h_key(&k[0], 520, VSS_KIND_PROXY, "1080p");
  vss_h_key(&k[1], 521, VSS_KIND_PROXY, "1080p");
  gnode g;
  g_open(&g, 1, NULL);
  assert_int_equal(g_offer_n(&g, 0, k, 2, VSS_FMT_MP4, size, sum), 0);
  uint64_t job[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(vss_node_fetch(g.n, &k[i], VSS_FMT_MP4,
                                    VSS_FETCH_FOREGROUND, &job[i], 0),
                     0);
  vss_msg_xfer_get q[8];
  size_t nq;
  vss_buf b = {0};
  vss_time now = 0;
  int pages = 0;
  for (int round = 0; round < 8; round++) {
    nq = g_gets(&g, 0, now, q, 8);
    size_t metas = 0;
    for (size_t i = 0; i < nq; i++)
      metas += (q[i].flags & VSS_GET_META) != 0;
    if (metas == 0) break;
    assert_int_equal(metas, 1); /* one list in progress at a time */
    for (size_t i = 0; i < nq; i++) {
      if (!(q[i].flags & VSS_GET_META)) continue;
      assert_true(q[i].offset == 0 || q[i].offset == VSS_WIRE_META_PAGE);
      uint64_t cnt =
          q[i].offset == 0 ? VSS_WIRE_META_PAGE : n - VSS_WIRE_META_PAGE;
      b.len = 0;
      assert_int_equal(vss_wire_encode_xfer_meta_page(&b, q[i].req_id, size,
                                                      &sum[0], q[i].offset,
                                                      hs + q[i].offset, cnt),
                       0);
      /* The second list starts only once the first is complete. */
      int which = vss_key_cmp(&q[i].key, &k[0]) == 0 ? 0 : 1;
      assert_true(which == (pages < 2 ? 0 : 1));
      assert_int_equal(q[i].offset, pages % 2 ? VSS_WIRE_META_PAGE : 0);
      now += MS;
      assert_int_equal(g_feed(&g, 0, &b, now), 0);
      pages++;
    }
  }
  vss_buf_free(&b);
  /* The first list whole, then the second's first page (its second
   * waits for window room behind the first's chunks, not answered here). */
  assert_int_equal(pages, 3);
  /* Both lists verified, no source dropped: chunks are being asked. */
  assert_int_equal(g.count[VSS_EV_SOURCE_DROPPED], 0);
  assert_int_equal(g.count[VSS_EV_FETCH_FAILED], 0);
  vss_job_info ji[2];
  assert_int_equal(vss_node_jobs(g.n, ji, 2), 2);
  free(hs);
  g_close(&g);
}

/* ---- item 15: XFER_CANCEL without a walk of the queue ---------------- */

/* A peer fills its GET queue (XFER_MAX_SERVES) and cancels every GET,
 * newest first - the worst case of a walk from the head. Each cancel
 * removes exactly its GET; the rest are served in order. */
static void test_cancel_flood(void **state) {
  (void)state;
  gnode g;
  g_open(&g, 1, NULL);
  vss_key k;
  vss_h_key(&k, 600, VSS_KIND_THUMB, "grid@2x");
  uint8_t data[THUMB];
  vss_h_content(&k, THUMB, data);
  assert_int_equal(vss_node_add_local(g.n, &k, VSS_FMT_WEBP, data, THUMB, 0),
                   0);
  g_gets(&g, 0, 0, NULL, 0);
  enum { NGET = 65536 };
  vss_buf b = {0};
  for (uint32_t i = 1; i <= NGET; i++) {
    vss_msg_xfer_get get = {.req_id = i,
                            .key = k,
                            .format = VSS_FMT_WEBP,
                            .offset = i % 1000,
                            .length = 10,
                            .flags = 0};
    b.len = 0;
    assert_int_equal(vss_wire_encode_xfer_get(&b, &get), 0);
    assert_int_equal(g_feed(&g, 0, &b, 0), 0);
  }
  clock_t t0 = clock();
  /* Cancel all but req 7 and req 60000, newest first. */
  for (uint32_t i = NGET; i >= 1; i--) {
    if (i == 7 || i == 60000) continue;
    b.len = 0;
    assert_int_equal(vss_wire_encode_xfer_cancel(&b, i), 0);
    assert_int_equal(g_feed(&g, 0, &b, 0), 0);
  }
  double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
  /* A walk costs ~2e9 steps here (tens of seconds); a map, milliseconds.
   * The bound has a wide margin for a loaded machine and sanitizers. */
  printf("65,535 cancels: %.3f s CPU\n", cpu);
  assert_true(cpu < 5.0);
  uint32_t served[4];
  size_t ns = 0;
  vss_outmsg out;
  while (vss_node_next_send(g.n, &g.ghost[0], &out, 0) == 1) {
    vss_msg m;
    b.len = 0;
    assert_int_equal(vss_buf_put(&b, out.data, out.len), 0);
    assert_int_equal(vss_wire_decode(b.data, b.len, &m), 0);
    if (m.type == VSS_MSG_XFER_DATA) {
      assert_true(ns < 4);
      served[ns++] = m.u.data.req_id;
    }
  }
  assert_int_equal(ns, 2);
  assert_int_equal(served[0], 7);
  assert_int_equal(served[1], 60000);
  vss_buf_free(&b);
  g_close(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_zero_and_huge_claims_refused),
      cmocka_unit_test(test_holders_filtered_before_cut),
      cmocka_unit_test(test_no_chunks_before_list),
      cmocka_unit_test(test_synth_data_refused),
      cmocka_unit_test(test_temp_blob_at_first_verified_byte),
      cmocka_unit_test(test_liar_blamed_across_jobs),
      cmocka_unit_test(test_meta_paged),
      cmocka_unit_test(test_meta_pages_checked),
      cmocka_unit_test(test_meta_assembly_bounded),
      cmocka_unit_test(test_cancel_flood),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
