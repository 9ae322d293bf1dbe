/*
 * test_query.c - "do you have X?": positive answers feed presence,
 * negative answers are cached, silence times out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_finds_holder_before_gossip),
      cmocka_unit_test(test_negative_answers_cached_then_expire),
      cmocka_unit_test(test_silent_peer_times_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
