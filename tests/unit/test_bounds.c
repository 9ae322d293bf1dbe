/*
 * test_bounds.c - the stated bounds of node.h, each against the peer (or
 * the store) that would break it:
 *
 *   - a peer that sends queries and never reads: our control queue to it
 *     stops at its bound (push back), replies come as it drains, and a
 *     driver that ignores the push back gets the peer dropped;
 *   - 5,000 distinct devices seen over time: peer slots are reclaimed, no
 *     peer_up fails, and memory (slots, caches) comes back;
 *   - a store failing at every call index during add_local: the call
 *     fails exactly when the new row did not commit, and a READY row
 *     always has its own bytes;
 *   - a store failing under a query: the answer says "cannot tell", and
 *     the asker does not cache it as a "no".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vss/vss.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

typedef struct fixture {
  vss_store *inner, *store; /* store = inner or a faulty wrapper */
  vss_blobs *blobs;
  vss_node *node;
  int proto_errors, dropped, expired;
  int drop_rc;
  uint64_t drop_limit;
} fixture;

static uint64_t fixed_rand(void *user) {
  (void)user;
  return 12345;
}

static void on_event(void *user, const vss_event *ev) {
  fixture *f = user;
  if (ev->type == VSS_EV_PROTO_ERROR) f->proto_errors++;
  if (ev->type == VSS_EV_PEER_EXPIRED) f->expired++;
  if (ev->type == VSS_EV_PEER_DROPPED) {
    f->dropped++;
    f->drop_rc = ev->rc;
    f->drop_limit = ev->count;
  }
}

static void uuid_of(vss_uuid *u, uint32_t i, uint8_t tag) {
  memset(u, tag, sizeof(*u));
  memcpy(u->b + 4, &i, sizeof(i)); /* first bytes alike: the hash must mix */
}

static void fixture_open(fixture *f, const uint64_t *limits, uint64_t fail_at,
                         int sticky) {
  memset(f, 0, sizeof(*f));
  vss_uuid dev;
  memset(&dev, 0x11, sizeof(dev));
  assert_int_equal(vss_store_sqlite_open(&f->inner, ":memory:", &dev, NULL, 0),
                   0);
  f->store = f->inner;
  if (fail_at)
    assert_int_equal(vss_store_faulty_new(&f->store, f->inner, fail_at, sticky),
                     0);
  assert_int_equal(vss_blobs_mem_new(&f->blobs), 0);
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.store = f->store;
  cfg.blobs = f->blobs;
  cfg.rand = fixed_rand;
  cfg.on_event = on_event;
  cfg.event_user = f;
  if (limits) memcpy(cfg.limits, limits, sizeof(cfg.limits));
  assert_int_equal(vss_node_new(&f->node, &cfg, 0), 0);
}

static void fixture_close(fixture *f) {
  vss_node_del(f->node);
  vss_blobs_del(f->blobs);
  if (f->store != f->inner) vss_store_del(f->store);
  vss_store_del(f->inner);
}

static void drain(vss_node *n, const vss_uuid *peer, vss_time now) {
  vss_outmsg out;
  while (vss_node_next_send(n, peer, &out, now) == 1) {
  }
}

/* ---- item 7: the control queue --------------------------------------- */

/* A QUERY of `count` keys nobody holds; the reply is a little bigger. */
static void query_frame(vss_buf *b, uint32_t id, uint32_t count) {
  vss_key *keys = calloc(count, sizeof(*keys));
  assert_non_null(keys);
  for (uint32_t i = 0; i < count; i++) {
    vss_uuid u;
    uuid_of(&u, id * 100000 + i, 0x77);
    assert_int_equal(vss_key_set(&keys[i], &u, VSS_KIND_THUMB, "grid@2x"), 0);
  }
  b->len = 0;
  assert_int_equal(vss_wire_encode_query(b, id, keys, count), 0);
  free(keys);
}

#define QLIMIT (256u * 1024u)

static void test_queue_pushback_never_reads(void **state) {
  (void)state;
  uint64_t limits[VSS_LIMIT_COUNT] = {0};
  limits[VSS_LIMIT_PEER_QUEUE_BYTES] = QLIMIT;
  fixture f;
  fixture_open(&f, limits, 0, 0);
  vss_node *n = f.node;
  vss_uuid peer;
  uuid_of(&peer, 1, 0x22);
  assert_int_equal(vss_node_peer_up(n, &peer, NULL, 0), 0);
  drain(n, &peer, 0); /* our HELLO */
  assert_int_equal(vss_node_peer_readable(n, &peer), 1);

  /* A driver that honours push back: it feeds frames only while the node
   * says readable. The peer sends 100 queries and never reads a byte. */
  vss_buf q = {0};
  uint64_t sent = 0, max_queued = 0;
  int fed = 0, paused_at = -1;
  for (uint32_t i = 1; i <= 100; i++) {
    if (!vss_node_peer_readable(n, &peer)) {
      if (paused_at < 0) paused_at = (int)i;
      continue; /* the frame stays in the driver (socket not read) */
    }
    query_frame(&q, i, 1000);
    assert_int_equal(vss_node_recv(n, &peer, q.data, q.len, 1), 0);
    sent += q.len;
    fed++;
    uint64_t queued = vss_node_queued_bytes(n, &peer);
    if (queued > max_queued) max_queued = queued;
  }
  /* Push back came early, and the queue stayed within the bound plus the
   * one reply that crossed it. Before the bound it reached ~1.1x sent. */
  assert_true(paused_at > 1 && paused_at < 20);
  assert_true(max_queued < QLIMIT + 64 * 1024);
  assert_true(sent < 2 * QLIMIT);
  assert_int_equal(f.dropped, 0);

  /* As the peer reads, replies leave and the node reads again at half. */
  vss_outmsg out;
  int resumed = 0;
  while (vss_node_next_send(n, &peer, &out, 2) == 1) {
    if (vss_node_peer_readable(n, &peer)) {
      resumed = 1;
      assert_true(vss_node_queued_bytes(n, &peer) <= QLIMIT / 2);
      break;
    }
  }
  assert_true(resumed);

  /* A driver that ignores push back: the peer is dropped at twice the
   * bound, with a reason, and everything queued for it is freed. */
  int rc = 0;
  for (uint32_t i = 200; i < 400 && rc == 0; i++) {
    query_frame(&q, i, 1000);
    rc = vss_node_recv(n, &peer, q.data, q.len, 3);
  }
  assert_int_equal(rc, VSS_ERR_LIMIT);
  assert_int_equal(f.dropped, 1);
  assert_int_equal(f.drop_rc, VSS_ERR_LIMIT);
  assert_int_equal(f.drop_limit, VSS_LIMIT_PEER_QUEUE_BYTES);
  assert_int_equal(f.proto_errors, 0); /* one reason, not two */
  assert_int_equal(vss_node_queued_bytes(n, &peer), 0);
  assert_int_equal(vss_node_recv(n, &peer, q.data, q.len, 3),
                   VSS_ERR_UNKNOWN_PEER);
  /* It may come back (a new connection) and is readable again. */
  assert_int_equal(vss_node_peer_up(n, &peer, NULL, 4), 0);
  assert_int_equal(vss_node_peer_readable(n, &peer), 1);
  vss_buf_free(&q);
  fixture_close(&f);
}

/* The frame count is a bound too: tiny queries, many replies. */
static void test_queue_frames_bound(void **state) {
  (void)state;
  uint64_t limits[VSS_LIMIT_COUNT] = {0};
  limits[VSS_LIMIT_PEER_QUEUE_FRAMES] = 64;
  fixture f;
  fixture_open(&f, limits, 0, 0);
  vss_node *n = f.node;
  vss_uuid peer;
  uuid_of(&peer, 1, 0x22);
  assert_int_equal(vss_node_peer_up(n, &peer, NULL, 0), 0);
  vss_buf q = {0};
  int fed = 0;
  for (uint32_t i = 1; i <= 1000 && vss_node_peer_readable(n, &peer); i++) {
    query_frame(&q, i, 1);
    assert_int_equal(vss_node_recv(n, &peer, q.data, q.len, 1), 0);
    fed++;
  }
  assert_true(fed <= 64);
  vss_buf_free(&q);
  fixture_close(&f);
}

/* A peer pushed back on that reads nothing at all (or two peers pushing
 * back on each other over TCP) would wait forever: after VSS_PAUSE_STALL
 * without a frame leaving, it is dropped; a slow reader is not. */
static void test_pause_stall_dropped(void **state) {
  (void)state;
  uint64_t limits[VSS_LIMIT_COUNT] = {0};
  limits[VSS_LIMIT_PEER_QUEUE_BYTES] = QLIMIT;
  fixture f;
  fixture_open(&f, limits, 0, 0);
  vss_node *n = f.node;
  vss_uuid slow, dead;
  uuid_of(&slow, 1, 0x22);
  uuid_of(&dead, 2, 0x22);
  assert_int_equal(vss_node_peer_up(n, &slow, NULL, 0), 0);
  assert_int_equal(vss_node_peer_up(n, &dead, NULL, 0), 0);
  vss_buf q = {0};
  for (uint32_t i = 1; i < 50; i++) {
    query_frame(&q, i, 1000);
    if (vss_node_peer_readable(n, &slow))
      assert_int_equal(vss_node_recv(n, &slow, q.data, q.len, 0), 0);
    if (vss_node_peer_readable(n, &dead))
      assert_int_equal(vss_node_recv(n, &dead, q.data, q.len, 0), 0);
  }
  assert_int_equal(vss_node_peer_readable(n, &slow), 0);
  assert_int_equal(vss_node_peer_readable(n, &dead), 0);
  assert_true(vss_node_get_expiry(n) <= VSS_PAUSE_STALL);
  /* The slow one takes a frame every 20 s; the other nothing. */
  vss_outmsg out;
  for (vss_time t = 20 * VSS_NS_PER_S; t <= 60 * VSS_NS_PER_S;
       t += 20 * VSS_NS_PER_S) {
    assert_int_equal(vss_node_next_send(n, &slow, &out, t), 1);
    assert_int_equal(vss_node_handle_expiry(n, t), 0);
  }
  assert_int_equal(f.dropped, 1);
  assert_int_equal(f.drop_limit, VSS_LIMIT_PEER_QUEUE_BYTES);
  assert_int_equal(vss_node_queued_bytes(n, &dead), 0);
  assert_true(vss_node_queued_bytes(n, &slow) > 0); /* still connected */
  assert_int_equal(vss_node_recv(n, &dead, q.data, q.len, 61),
                   VSS_ERR_UNKNOWN_PEER);
  vss_buf_free(&q);
  fixture_close(&f);
}

/* ---- item 11: peer slots --------------------------------------------- */

static void send_digest_n(vss_node *n, const vss_uuid *peer, uint32_t i,
                          uint32_t count, vss_time now) {
  vss_msg_digest d;
  memset(&d, 0, sizeof(d));
  d.device = *peer;
  d.epoch = 1;
  d.to_seq = 1;
  d.timestamp = now;
  d.flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
  vss_buf b = {0};
  size_t mark;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  for (uint32_t k = i; k < i + count; k++) {
    vss_wire_entry e;
    memset(&e, 0, sizeof(e));
    vss_uuid u;
    uuid_of(&u, k, 0x55);
    assert_int_equal(vss_key_set(&e.key, &u, VSS_KIND_THUMB, "grid@1x"), 0);
    e.format = VSS_FMT_WEBP;
    e.has = 1;
    e.size = 100;
    memset(e.checksum.b, (int)k + 1, sizeof(e.checksum.b));
    assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  }
  assert_int_equal(vss_wire_digest_end(&b, mark, count), 0);
  assert_int_equal(vss_node_recv(n, peer, b.data, b.len, now), 0);
  vss_buf_free(&b);
}

static void send_digest(vss_node *n, const vss_uuid *peer, uint32_t i,
                        vss_time now) {
  send_digest_n(n, peer, i, 1, now);
}

static int count_presence(void *user, const vss_key *key,
                          const vss_uuid *device, int online, uint64_t size,
                          const vss_hash *checksum) {
  (void)key, (void)device, (void)online, (void)size, (void)checksum;
  (*(int *)user)++;
  return 0;
}

static void test_5000_devices_over_time(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, NULL, 0, 0);
  vss_node *n = f.node;
  vss_time now = 0;
  /* 5,000 devices, each seen once: up, a digest, down. Ten a minute, so
   * ~150 fall within one cache_ttl (15 min) ... and in a second pass 2,000
   * within one minute, more than the slots: the stalest offline peers
   * are evicted. */
  for (uint32_t i = 0; i < 5000; i++) {
    vss_uuid p;
    uuid_of(&p, i, 0x33);
    if (i < 3000 && i % 10 == 0) {
      now += 60 * VSS_NS_PER_S;
      assert_int_equal(vss_node_handle_expiry(n, now), 0);
    }
    assert_int_equal(vss_node_peer_up(n, &p, NULL, now), 0);
    send_digest(n, &p, i, now);
    assert_int_equal(vss_node_peer_down(n, &p, now), 0);
  }
  assert_int_equal(f.proto_errors, 0);
  int live = vss_node_peers(n, NULL, 0);
  assert_true(live <= VSS_DEFAULT_PEERS);
  assert_true(live >= 1000); /* the last 2,000 fill the slots */
  /* The newest ones are still remembered with their cache. */
  int seen = 0;
  assert_int_equal(vss_node_iter_presence(n, count_presence, &seen, now), 0);
  assert_int_equal(seen, live);
  /* Past cache_ttl every offline peer's slot and cache are given back. */
  now += 16 * 60 * VSS_NS_PER_S;
  assert_int_equal(vss_node_handle_expiry(n, now), 0);
  assert_int_equal(vss_node_peers(n, NULL, 0), 0);
  seen = 0;
  assert_int_equal(vss_node_iter_presence(n, count_presence, &seen, now), 0);
  assert_int_equal(seen, 0);
  assert_int_equal(vss_node_get_expiry(n) > now, 1);
  /* And a device seen long ago is a stranger again, welcome back. */
  vss_uuid p0;
  uuid_of(&p0, 0, 0x33);
  assert_int_equal(vss_node_peer_up(n, &p0, NULL, now), 0);
  assert_int_equal(vss_node_peers(n, NULL, 0), 1);
  fixture_close(&f);
}

/* Online peers are never evicted: past the slot bound a new peer gets
 * VSS_ERR_LIMIT (not NOMEM), and gets in once one leaves. Lookups stay
 * right while slots are freed and reused in any order. */
static void test_peer_slots_bound_and_reuse(void **state) {
  (void)state;
  uint64_t limits[VSS_LIMIT_COUNT] = {0};
  limits[VSS_LIMIT_PEERS] = 8;
  fixture f;
  fixture_open(&f, limits, 0, 0);
  vss_node *n = f.node;
  vss_uuid p[9];
  for (uint32_t i = 0; i < 9; i++)
    uuid_of(&p[i], i, 0x44);
  for (int i = 0; i < 8; i++)
    assert_int_equal(vss_node_peer_up(n, &p[i], NULL, 0), 0);
  assert_int_equal(vss_node_peer_up(n, &p[8], NULL, 0), VSS_ERR_LIMIT);
  /* One goes offline: its slot is the one reclaimed. */
  send_digest(n, &p[3], 3, 1);
  assert_int_equal(vss_node_peer_down(n, &p[3], 1), 0);
  assert_int_equal(vss_node_peer_up(n, &p[8], NULL, 2), 0);
  assert_int_equal(f.expired, 1); /* its cache went with the slot */
  /* Every other peer is still found by its id. */
  for (int i = 0; i < 9; i++) {
    if (i == 3) continue;
    send_digest(n, &p[i], (uint32_t)i, 3);
  }
  vss_peer_info info[8];
  assert_int_equal(vss_node_peers(n, info, 8), 8);
  for (int i = 0; i < 8; i++)
    assert_int_equal(info[i].entries, 1);
  /* The evicted one is unknown now. */
  uint8_t junk[8] = {0};
  assert_int_equal(vss_node_recv(n, &p[3], junk, sizeof(junk), 4),
                   VSS_ERR_UNKNOWN_PEER);
  fixture_close(&f);
}

/* Jobs: past the node-wide bound a fetch says VSS_ERR_LIMIT, not NOMEM,
 * and one gets in again once a job ends. */
static void test_jobs_bound(void **state) {
  (void)state;
  uint64_t limits[VSS_LIMIT_COUNT] = {0};
  limits[VSS_LIMIT_JOBS] = 10;
  fixture f;
  fixture_open(&f, limits, 0, 0);
  vss_node *n = f.node;
  vss_uuid peer;
  uuid_of(&peer, 1, 0x22);
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.prefetch.eager_kinds = 0; /* only the fetches below make jobs */
  assert_int_equal(vss_node_set_policy(n, &cfg.prefetch, cfg.strategy, 0), 0);
  assert_int_equal(vss_node_peer_up(n, &peer, NULL, 0), 0);
  send_digest_n(n, &peer, 0, 11, 1);
  uint64_t ids[11];
  for (uint32_t i = 0; i < 11; i++) {
    vss_key k;
    vss_uuid u;
    uuid_of(&u, i, 0x55);
    assert_int_equal(vss_key_set(&k, &u, VSS_KIND_THUMB, "grid@1x"), 0);
    int rc =
        vss_node_fetch(n, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &ids[i], 2);
    assert_int_equal(rc, i < 10 ? 0 : VSS_ERR_LIMIT);
    if (i == 10) {
      assert_int_equal(vss_node_cancel(n, ids[0], 3), 0);
      assert_int_equal(
          vss_node_fetch(n, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &ids[i], 3),
          0);
    }
  }
  assert_int_equal(vss_node_jobs(n, NULL, 0), 10);
  fixture_close(&f);
}

/* ---- item 14: add_local under store faults --------------------------- */

static void key_n(vss_key *k, uint32_t i) {
  vss_uuid u;
  uuid_of(&u, i, 0x66);
  assert_int_equal(vss_key_set(k, &u, VSS_KIND_THUMB, "grid@2x"), 0);
}

/* What the inner store says of the key, checked against the blob. */
static int row_state(fixture *f, const vss_key *k, vss_hash *sum) {
  vss_sidecar_row row;
  int rc = vss_store_get_sidecar(f->inner, k, &row);
  if (rc == VSS_ERR_NOT_FOUND) return 0;
  assert_int_equal(rc, 0);
  if (row.status != VSS_STATUS_READY) return 0;
  /* A READY row always has its own bytes. */
  vss_hash got;
  assert_int_equal(vss_blobs_checksum(f->blobs, k, row.format, row.size, &got),
                   0);
  assert_memory_equal(got.b, row.checksum.b, sizeof(got.b));
  *sum = row.checksum;
  return 1;
}

static void test_add_local_store_fault_every_call(void **state) {
  (void)state;
  static uint8_t v1[300000], v2[300000]; /* two chunks each */
  for (size_t i = 0; i < sizeof(v1); i++) {
    v1[i] = (uint8_t)i;
    v2[i] = (uint8_t)(i * 7 + 1);
  }
  vss_hash s1, s2;
  assert_int_equal(vss_checksum_buffer(v1, sizeof(v1), &s1), 0);
  assert_int_equal(vss_checksum_buffer(v2, sizeof(v2), &s2), 0);
  vss_key k;
  key_n(&k, 1);

  /* Calls a clean run makes: node_new, add v1, add v2. */
  fixture f;
  fixture_open(&f, NULL, UINT64_MAX, 0);
  assert_int_equal(
      vss_node_add_local(f.node, &k, VSS_FMT_WEBP, v1, sizeof(v1), 1), 0);
  assert_int_equal(
      vss_node_add_local(f.node, &k, VSS_FMT_WEBP, v2, sizeof(v2), 2), 0);
  uint64_t total = vss_store_faulty_calls(f.store);
  fixture_close(&f);

  /* Each call index fails once (the store's own rollback then runs, as
   * a real failed step would). */
  int failed = 0, ok_late = 0;
  for (uint64_t at = 2; at <= total; at++) {
    fixture_open(&f, NULL, at, 0);
    int rc1 = vss_node_add_local(f.node, &k, VSS_FMT_WEBP, v1, sizeof(v1), 1);
    vss_hash cur;
    int ready = row_state(&f, &k, &cur);
    /* Fails exactly when the row did not land. */
    assert_int_equal(rc1 == 0, ready);
    if (ready) assert_memory_equal(cur.b, s1.b, sizeof(cur.b));
    failed += rc1 != 0;
    uint64_t before = vss_store_faulty_calls(f.store);
    int rc2 = vss_node_add_local(f.node, &k, VSS_FMT_WEBP, v2, sizeof(v2), 2);
    ready = row_state(&f, &k, &cur);
    if (rc2 == 0) {
      /* Reported done: the new row stands over the new bytes. */
      assert_true(ready);
      assert_memory_equal(cur.b, s2.b, sizeof(cur.b));
      if (before < at && rc1 == 0) ok_late++; /* the fault hit after it */
    } else {
      /* Failed: the old row with the old bytes, or no row; never the
       * old row over new bytes (row_state re-hashes the blob). */
      failed++;
      if (ready) assert_memory_equal(cur.b, s1.b, sizeof(cur.b));
    }
    fixture_close(&f);
  }
  assert_true(failed > 0);
  assert_true(ok_late > 0); /* a fault after the row commit: not a failure */
}

/* ---- item 14: a store error is not a "no" ---------------------------- */

static uint32_t asked_id(vss_node *n, const vss_uuid *peer) {
  vss_outmsg out;
  while (vss_node_next_send(n, peer, &out, 0) == 1) {
    vss_msg m;
    assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
    if (m.type == VSS_MSG_QUERY) return m.u.query.req_id;
  }
  fail_msg("no QUERY sent");
  return 0;
}

static void test_store_error_is_not_a_negative(void **state) {
  (void)state;
  vss_key k;
  key_n(&k, 9);
  vss_uuid peer;
  uuid_of(&peer, 1, 0x22);

  /* Answering side: count the calls up to the query, then fail there. */
  fixture f;
  fixture_open(&f, NULL, UINT64_MAX, 0);
  assert_int_equal(vss_node_peer_up(f.node, &peer, NULL, 0), 0);
  drain(f.node, &peer, 0);
  uint64_t calls = vss_store_faulty_calls(f.store);
  fixture_close(&f);
  fixture_open(&f, NULL, calls + 1, 1);
  assert_int_equal(vss_node_peer_up(f.node, &peer, NULL, 0), 0);
  drain(f.node, &peer, 0);
  vss_buf q = {0};
  assert_int_equal(vss_wire_encode_query(&q, 7, &k, 1), 0);
  assert_int_equal(vss_node_recv(f.node, &peer, q.data, q.len, 1), 0);
  vss_outmsg out;
  assert_int_equal(vss_node_next_send(f.node, &peer, &out, 1), 1);
  vss_msg m;
  assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
  assert_int_equal(m.type, VSS_MSG_QUERY_REPLY);
  vss_rd rd = m.u.reply.results;
  vss_wire_entry e;
  assert_int_equal(vss_wire_next_reply_entry(&rd, &e), 0);
  assert_int_equal(e.has, VSS_WIRE_HAS_UNKNOWN); /* before: 0, a "no" */
  /* Copy the reply: it lives in the node's buffer. */
  vss_buf reply = {0};
  assert_int_equal(vss_buf_put(&reply, out.data, out.len), 0);
  fixture_close(&f);

  /* Asking side: such an answer is not cached as a "no". */
  fixture_open(&f, NULL, 0, 0);
  assert_int_equal(vss_node_peer_up(f.node, &peer, NULL, 0), 0);
  drain(f.node, &peer, 0);
  assert_int_equal(vss_node_query(f.node, &k, 0), 1);
  uint32_t id = asked_id(f.node, &peer);
  vss_buf r2 = {0};
  e.has = VSS_WIRE_HAS_UNKNOWN;
  assert_int_equal(vss_wire_encode_query_reply(&r2, id, &e, 1), 0);
  assert_int_equal(vss_node_recv(f.node, &peer, r2.data, r2.len, 1), 0);
  assert_int_equal(vss_node_query(f.node, &k, 2), 1); /* asked again */
  /* While a real "no" is cached. */
  id = asked_id(f.node, &peer);
  e.has = 0;
  r2.len = 0;
  assert_int_equal(vss_wire_encode_query_reply(&r2, id, &e, 1), 0);
  assert_int_equal(vss_node_recv(f.node, &peer, r2.data, r2.len, 3), 0);
  assert_int_equal(vss_node_query(f.node, &k, 4), 0);
  vss_buf_free(&r2);
  vss_buf_free(&reply);
  vss_buf_free(&q);
  fixture_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queue_pushback_never_reads),
      cmocka_unit_test(test_queue_frames_bound),
      cmocka_unit_test(test_pause_stall_dropped),
      cmocka_unit_test(test_5000_devices_over_time),
      cmocka_unit_test(test_peer_slots_bound_and_reuse),
      cmocka_unit_test(test_jobs_bound),
      cmocka_unit_test(test_add_local_store_fault_every_call),
      cmocka_unit_test(test_store_error_is_not_a_negative),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
