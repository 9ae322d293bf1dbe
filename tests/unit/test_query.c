/*
 * test_query.c - "do you have X?": positive answers feed presence,
 * negative answers are cached, silence times out, and keys asked
 * together travel together (10,000 unknown keys in three frames).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define S VSS_NS_PER_S
#define MS VSS_NS_PER_MS

static int count_holders(void *user, const vss_key *key, const vss_uuid *dev,
                         int online, uint64_t size, const vss_hash *sum) {
  (void)key, (void)dev, (void)online, (void)size, (void)sum;
  (*(int *)user)++;
  return 0;
}

static int holders_of(vss_h *h, int node, const vss_key *k) {
  int n = 0;
  const char *v[] = {k->variant};
  vss_node_get_presence(vss_h_node(h, node), &k->content, 1, k->kind, v, 1,
                        count_holders, &n, vss_h_now(h));
  return n;
}

static vss_h *three(uint64_t seed, vss_node_config *cfg) {
  vss_h *h = vss_h_new(seed);
  vss_h_node_opts o = {.config = cfg};
  for (int i = 0; i < 3; i++)
    assert_int_equal(vss_h_add_node(h, "n", &o), i);
  vss_h_link_opts lo = {.rate = 50e6, .delay = 5 * MS};
  assert_int_equal(vss_h_link(h, 0, 1, &lo), 0);
  assert_int_equal(vss_h_link(h, 0, 2, &lo), 0);
  vss_h_run_idle(h, 10 * S);
  return h;
}

static void test_query_finds_holder_before_gossip(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.change_batch_delay = 60 * S; /* gossip would tell much later */
  cfg.prefetch.eager_kinds = cfg.prefetch.lazy_kinds = 0;
  vss_h *h = three(5, &cfg);
  vss_key k;
  vss_h_key(&k, 1, VSS_KIND_OCR, "default");
  assert_int_equal(vss_h_generate(h, 1, &k, VSS_FMT_TEXT, 4000), 0);
  assert_int_equal(holders_of(h, 0, &k), 0);
  /* Node 0 asks both peers. */
  assert_int_equal(vss_node_query(vss_h_node(h, 0), &k, vss_h_now(h)), 2);
  vss_event ev;
  vss_time t0 = vss_h_now(h);
  assert_int_equal(
      vss_h_run_until_event(h, 0, VSS_EV_QUERY_RESULT, 0, t0 + 1 * S, &ev), 1);
  vss_h_run_until(h, t0 + 100 * MS);
  assert_int_equal(vss_h_event_count(h, 0, VSS_EV_QUERY_RESULT), 2);
  assert_int_equal(holders_of(h, 0, &k), 1);
  assert_int_equal(vss_h_event_count(h, 1, VSS_EV_QUERY_ANSWERED), 1);
  /* A known holder is not asked again; the "no" of node 2 is cached. */
  assert_int_equal(vss_node_query(vss_h_node(h, 0), &k, vss_h_now(h)), 0);
  vss_h_del(h);
}

static void test_negative_answers_cached_then_expire(void **state) {
  (void)state;
  vss_h *h = three(6, NULL);
  vss_key k;
  vss_h_key(&k, 2, VSS_KIND_TRANSCRIPT, "default");
  assert_int_equal(vss_node_query(vss_h_node(h, 0), &k, vss_h_now(h)), 2);
  vss_h_run_until(h, vss_h_now(h) + 1 * S);
  size_t n;
  const vss_event *ev = vss_h_events(h, 0, &n);
  int nos = 0;
  for (size_t i = 0; i < n; i++)
    nos += ev[i].type == VSS_EV_QUERY_RESULT && ev[i].rc == VSS_ERR_NOT_FOUND;
  assert_int_equal(nos, 2);
  assert_int_equal(vss_node_query(vss_h_node(h, 0), &k, vss_h_now(h)), 0);
  /* After negative_ttl (60 s) the question is worth asking again. */
  vss_h_run_until(h, vss_h_now(h) + 61 * S);
  assert_int_equal(vss_node_query(vss_h_node(h, 0), &k, vss_h_now(h)), 2);
  vss_h_del(h);
}

static void test_silent_peer_times_out(void **state) {
  (void)state;
  vss_h *h = vss_h_new(8);
  assert_int_equal(vss_h_add_node(h, "a", NULL), 0);
  assert_int_equal(vss_h_add_node(h, "b", NULL), 1);
  vss_h_link_opts lo = {.rate = 1e6, .delay = 1 * MS, .loss = 1.0};
  assert_int_equal(vss_h_link(h, 0, 1, &lo), 0);
  vss_key k;
  vss_h_key(&k, 3, VSS_KIND_THUMB, "grid@2x");
  assert_int_equal(vss_node_query(vss_h_node(h, 0), &k, vss_h_now(h)), 1);
  vss_event ev;
  assert_int_equal(
      vss_h_run_until_event(h, 0, VSS_EV_QUERY_RESULT, 0, 10 * S, &ev), 1);
  assert_int_equal(ev.rc, VSS_ERR_TIMEOUT);
  assert_true(ev.at >= 5 * S && ev.at < 6 * S);
  vss_h_del(h);
}

static int count_done(vss_h *h, int node, size_t *failed) {
  size_t n, done = 0;
  const vss_event *ev = vss_h_events(h, node, &n);
  *failed = 0;
  for (size_t i = 0; i < n; i++) {
    done += ev[i].type == VSS_EV_FETCH_DONE;
    *failed += ev[i].type == VSS_EV_FETCH_FAILED;
  }
  return (int)done;
}

/* 10,000 fetches of keys gossip has not announced yet: the questions
 * travel in three QUERY frames (4,096 keys each at most), every key is
 * answered and every fetch completes. It used to be one frame per key,
 * and past 4,096 pending questions the fetch failed at once. */
static void test_unknown_keys_batched(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.change_batch_delay = 600 * S; /* gossip would tell much later */
  cfg.prefetch.eager_kinds = cfg.prefetch.lazy_kinds = 0;
  vss_h *h = vss_h_new(15);
  vss_h_node_opts o = {.config = &cfg};
  assert_int_equal(vss_h_add_node(h, "a", &o), 0);
  assert_int_equal(vss_h_add_node(h, "b", &o), 1);
  vss_h_link_opts lo = {.rate = 100e6, .delay = 1 * MS};
  assert_int_equal(vss_h_link(h, 0, 1, &lo), 0);
  vss_h_run_idle(h, 10 * S);
  enum { N = 10000 };
  vss_key *k = calloc(N, sizeof(*k));
  assert_non_null(k);
  for (uint32_t i = 0; i < N; i++) {
    vss_h_key(&k[i], 100 + i, VSS_KIND_THUMB, "grid@1x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, 1000), 0);
  }
  vss_time t0 = vss_h_now(h);
  for (int i = 0; i < N; i++) {
    uint64_t job;
    assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &k[i], VSS_FMT_WEBP,
                                    VSS_FETCH_FOREGROUND, &job, t0),
                     0);
  }
  vss_h_run_until(h, t0 + 20 * S);
  size_t failed;
  assert_int_equal(count_done(h, 1, &failed), N);
  assert_int_equal(failed, 0);
  assert_int_equal(vss_h_event_count(h, 0, VSS_EV_QUERY_ANSWERED), 3);
  size_t n, yes = 0;
  const vss_event *ev = vss_h_events(h, 1, &n);
  for (size_t i = 0; i < n; i++)
    yes += ev[i].type == VSS_EV_QUERY_RESULT && ev[i].rc == 0;
  assert_int_equal(yes, N);
  free(k);
  vss_h_del(h);
}

/* ---- by hand: frames, replies, silence --------------------------------- */

typedef struct ghost {
  vss_store *store;
  vss_blobs *blobs;
  vss_node *n;
  vss_uuid peer;
  int results[4]; /* QUERY_RESULT: have, no, timeout, other */
} ghost;

static uint64_t fixed_rand(void *u) {
  (void)u;
  return 7;
}

static void ghost_event(void *u, const vss_event *ev) {
  ghost *g = u;
  if (ev->type != VSS_EV_QUERY_RESULT) return;
  g->results[ev->rc == 0                   ? 0
             : ev->rc == VSS_ERR_NOT_FOUND ? 1
             : ev->rc == VSS_ERR_TIMEOUT   ? 2
                                           : 3]++;
}

static void ghost_open(ghost *g) {
  memset(g, 0, sizeof(*g));
  vss_uuid me = {{3}};
  assert_int_equal(vss_store_sqlite_open(&g->store, ":memory:", &me, NULL, 0),
                   0);
  assert_int_equal(vss_blobs_mem_new(&g->blobs), 0);
  vss_node_config c;
  vss_node_config_default(&c);
  c.prefetch.eager_kinds = c.prefetch.lazy_kinds = 0; /* no transfers */
  c.store = g->store;
  c.blobs = g->blobs;
  c.rand = fixed_rand;
  c.on_event = ghost_event;
  c.event_user = g;
  assert_int_equal(vss_node_new(&g->n, &c, 0), 0);
  g->peer.b[0] = 9;
  vss_link_info li = {.cls = VSS_LINK_ETHERNET};
  assert_int_equal(vss_node_peer_up(g->n, &g->peer, &li, 0), 0);
}

static void ghost_close(ghost *g) {
  vss_node_del(g->n);
  vss_blobs_del(g->blobs);
  vss_store_del(g->store);
}

/* The QUERY frames the node sends now: their ids and key counts. */
static int ghost_queries(ghost *g, vss_time now, uint32_t *ids,
                         uint32_t *counts, vss_key keys[][8]) {
  int nq = 0;
  vss_outmsg out;
  while (vss_node_next_send(g->n, &g->peer, &out, now) == 1) {
    vss_msg m;
    assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
    if (m.type != VSS_MSG_QUERY) continue;
    assert_true(nq < 4);
    ids[nq] = m.u.query.req_id;
    counts[nq] = m.u.query.count;
    vss_rd rd = m.u.query.keys;
    for (uint32_t i = 0; i < m.u.query.count && i < 8; i++)
      assert_int_equal(vss_rd_key(&rd, &keys[nq][i]), 0);
    nq++;
  }
  return nq;
}

static int ghost_reply(ghost *g, uint32_t id, const vss_key *keys, uint32_t n,
                       vss_time now) {
  vss_wire_entry e[8];
  memset(e, 0, sizeof(e));
  for (uint32_t i = 0; i < n; i++) {
    e[i].key = keys[i];
    e[i].has = (uint8_t)(i == 0); /* the first one is here */
    e[i].size = 100;
  }
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_query_reply(&b, id, e, n), 0);
  int rc = vss_node_recv(g->n, &g->peer, b.data, b.len, now);
  vss_buf_free(&b);
  return rc;
}

/* Keys asked at one `now` share a frame, a later `now` starts another; a
 * reply must answer the frame's keys in order (else it is a protocol
 * error and nothing is believed); silence times out into cached "no"s. */
static void test_batch_frames_and_replies(void **state) {
  (void)state;
  ghost g;
  ghost_open(&g);
  vss_key k[5];
  for (uint32_t i = 0; i < 5; i++)
    vss_h_key(&k[i], 500 + i, VSS_KIND_OCR, "default");
  for (int i = 0; i < 3; i++)
    assert_int_equal(vss_node_query(g.n, &k[i], 0), 1);
  assert_int_equal(vss_node_query(g.n, &k[3], 1), 1);
  uint32_t ids[4], counts[4];
  vss_key got[4][8];
  assert_int_equal(ghost_queries(&g, 1, ids, counts, got), 2);
  assert_int_equal(counts[0], 3);
  assert_int_equal(counts[1], 1);
  assert_memory_equal(got[0], k, 3 * sizeof(vss_key));
  assert_memory_equal(&got[1][0], &k[3], sizeof(vss_key));

  /* Out of order, or short: refused; an unknown id: ignored. */
  vss_key swapped[3] = {k[1], k[0], k[2]};
  assert_int_equal(ghost_reply(&g, ids[0], swapped, 3, 2), VSS_ERR_PROTO);
  assert_int_equal(ghost_reply(&g, ids[0], k, 2, 2), VSS_ERR_PROTO);
  assert_int_equal(ghost_reply(&g, 999, k, 3, 2), 0);
  assert_int_equal(g.results[0] + g.results[1], 0);
  /* The real answer: one have, two "no"s (cached). */
  assert_int_equal(ghost_reply(&g, ids[0], k, 3, 2), 0);
  assert_int_equal(g.results[0], 1);
  assert_int_equal(g.results[1], 2);
  assert_int_equal(ghost_reply(&g, ids[0], k, 3, 2), 0); /* late: ignored */
  assert_int_equal(g.results[0], 1);
  for (int i = 0; i < 3; i++)
    assert_int_equal(vss_node_query(g.n, &k[i], 3), 0);

  /* k[3] is never answered: after query_timeout (5 s) it counts as "no"
   * for negative_ttl (60 s). */
  vss_time t = vss_node_get_expiry(g.n);
  assert_true(t >= 5 * S && t <= 5 * S + 1);
  assert_int_equal(vss_node_handle_expiry(g.n, t), 0);
  assert_int_equal(g.results[2], 1);
  assert_int_equal(vss_node_query(g.n, &k[3], t), 0);
  assert_int_equal(vss_node_query(g.n, &k[3], t + 61 * S), 1);
  /* A batch not sent yet when the peer leaves: its key gets its answer. */
  assert_int_equal(vss_node_query(g.n, &k[4], t + 61 * S), 1);
  assert_int_equal(vss_node_peer_down(g.n, &g.peer, t + 61 * S), 0);
  assert_int_equal(g.results[3], 2);
  ghost_close(&g);
}

static int ghost_holders(ghost *g, const vss_key *k) {
  int n = 0;
  const char *v[] = {k->variant};
  assert_int_equal(vss_node_get_presence(g->n, &k->content, 1, k->kind, v, 1,
                                         count_holders, &n, 0),
                   0);
  return n;
}

/* Item 2, negative evidence: a peer whose digest said "have" and whose
 * answer now says "don't have" is no longer listed as a holder (it was,
 * and was chosen again and again). */
static void test_no_answer_removes_holder(void **state) {
  (void)state;
  ghost g;
  ghost_open(&g);
  vss_key k;
  vss_h_key(&k, 77, VSS_KIND_THUMB, "grid@2x");
  assert_int_equal(vss_node_query(g.n, &k, 1), 1);
  uint32_t ids[4], counts[4];
  vss_key keys[4][8];
  assert_int_equal(ghost_queries(&g, 1, ids, counts, keys), 1);
  /* Its digest, crossing the question, says it has k. */
  vss_msg_digest hdr = {.device = g.peer,
                        .epoch = 1,
                        .from_seq = 0,
                        .to_seq = 1,
                        .timestamp = 1,
                        .flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST |
                                 VSS_DIGEST_LAST};
  vss_wire_entry e;
  memset(&e, 0, sizeof(e));
  e.key = k;
  e.has = 1;
  e.size = 100;
  vss_buf b = {0};
  size_t mark;
  assert_int_equal(vss_wire_digest_begin(&b, &hdr, &mark), 0);
  assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  assert_int_equal(vss_wire_digest_end(&b, mark, 1), 0);
  assert_int_equal(vss_node_recv(g.n, &g.peer, b.data, b.len, 2), 0);
  vss_buf_free(&b);
  assert_int_equal(ghost_holders(&g, &k), 1);
  /* Then its answer: no. */
  e.has = 0;
  e.size = 0;
  assert_int_equal(vss_wire_encode_query_reply(&b, ids[0], &e, 1), 0);
  assert_int_equal(vss_node_recv(g.n, &g.peer, b.data, b.len, 3), 0);
  vss_buf_free(&b);
  assert_int_equal(g.results[1], 1);
  assert_int_equal(ghost_holders(&g, &k), 0);
  ghost_close(&g);
}

/* Item 2, negative evidence: a source that answers NOT_FOUND to a GET
 * (its row said has = 1, but the sidecar is gone) stops being listed;
 * the next fetch does not pick it again. */
static void test_not_found_removes_holder(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.prefetch.eager_kinds = cfg.prefetch.lazy_kinds = 0;
  vss_h *h = three(12, &cfg);
  vss_key k;
  vss_h_key(&k, 5, VSS_KIND_OCR, "default");
  assert_int_equal(vss_h_generate(h, 1, &k, VSS_FMT_TEXT, 4000), 0);
  vss_h_run_idle(h, vss_h_now(h) + 10 * S);
  assert_int_equal(holders_of(h, 0, &k), 1);
  /* Gone behind the node's back: no removal is gossiped. */
  assert_int_equal(vss_store_del_sidecar(vss_h_store(h, 1), &k), 0);
  assert_int_equal(vss_blobs_remove(vss_h_blobs(h, 1), &k, VSS_FMT_TEXT), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(vss_h_node(h, 0), &k, VSS_FMT_TEXT, 0, &job, vss_h_now(h)),
      0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 0, VSS_EV_FETCH_FAILED, job,
                                         vss_h_now(h) + 10 * S, &ev),
                   1);
  assert_int_equal(holders_of(h, 0, &k), 0);
  vss_h_del(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_finds_holder_before_gossip),
      cmocka_unit_test(test_negative_answers_cached_then_expire),
      cmocka_unit_test(test_silent_peer_times_out),
      cmocka_unit_test(test_unknown_keys_batched),
      cmocka_unit_test(test_batch_frames_and_replies),
      cmocka_unit_test(test_no_answer_removes_holder),
      cmocka_unit_test(test_not_found_removes_holder),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
