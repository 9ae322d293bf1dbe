/*
 * test_view.c - membership and bounded sessions (issue 12): a node told
 * which peers it can reach keeps at most max_active sessions, same site
 * first, dials what it wants, refuses inbound sessions past the bound,
 * repairs its view from the passive set; a node never told keeps its old
 * behaviour.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "node_internal.h"
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S VSS_NS_PER_S
#define MS VSS_NS_PER_MS

/* Sessions of node i as the node counts them and as its peers say. */
static uint32_t online_peers(vss_h *h, int i) {
  vss_node *n = vss_h_node(h, i);
  uint32_t c = 0;
  for (uint16_t k = 0; k < n->npeers; k++)
    c += n->live[k]->online != 0;
  return c;
}

typedef struct watch {
  vss_h *h;
  uint32_t max_active;
  uint32_t worst; /* most sessions any node had at any event */
  int bad;
} watch;

static void on_ev(void *user, int node, const vss_event *ev) {
  watch *w = user;
  if (ev->type != VSS_EV_PEER_UP) return;
  uint32_t c = online_peers(w->h, node);
  if (c > w->worst) w->worst = c;
  if (c > w->max_active) w->bad++;
}

static vss_h *fleet(uint64_t seed, int sites, int per_site, uint32_t max_active,
                    vss_node_config *cfg) {
  vss_h *h = vss_h_new(seed);
  vss_node_config_default(cfg);
  cfg->max_active = max_active;
  vss_h_node_opts o = {.config = cfg};
  for (int i = 0; i < sites * per_site; i++) {
    char name[32];
    snprintf(name, sizeof(name), "s%d-d%d", i / per_site, i % per_site);
    assert_true(vss_h_add_node(h, name, &o) >= 0);
  }
  int n = sites * per_site;
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++) {
      vss_h_link_opts lo = {.delay = 1 * MS, .cls = VSS_LINK_ETHERNET};
      if (a / per_site != b / per_site) {
        lo.delay = 25 * MS;
        lo.cls = VSS_LINK_INTERNET;
        lo.rate = 5e6;
      }
      assert_int_equal(vss_h_path(h, a, b, &lo), 0);
    }
  return h;
}

/* No peer_reachable: every peer_up is taken, nothing is dialled. */
static void test_unmanaged_unchanged(void **state) {
  (void)state;
  vss_h *h = vss_h_new(11);
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.max_active = 2;
  vss_h_node_opts o = {.config = &cfg};
  for (int i = 0; i < 5; i++)
    assert_true(vss_h_add_node(h, "n", &o) >= 0);
  for (int a = 0; a < 5; a++)
    for (int b = a + 1; b < 5; b++)
      assert_int_equal(vss_h_link(h, a, b, NULL), 0);
  assert_int_equal(vss_h_run_until(h, 10 * S), 0);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(online_peers(h, i), 4); /* over max_active: unmanaged */
    assert_int_equal(vss_h_event_count(h, i, VSS_EV_DIAL), 0);
    vss_view_stats st;
    vss_node_view_stats(vss_h_node(h, i), &st);
    assert_int_equal(st.managed, 0);
  }
  vss_h_del(h);
}

/* Fewer members than max_active: everyone dials everyone (full mesh, as
 * a small library always was). */
static void test_small_full_mesh(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_h *h = fleet(12, 2, 3, 32, &cfg);
  assert_int_equal(vss_h_run_until(h, 20 * S), 0);
  for (int a = 0; a < 6; a++) {
    for (int b = 0; b < 6; b++)
      if (a != b) assert_true(vss_h_connected(h, a, b));
    vss_h_errors e;
    vss_h_errors_get(h, a, &e);
    assert_int_equal(e.other + e.recv + e.expiry, 0);
  }
  vss_h_del(h);
}

/* 60 devices in 6 sites of 10, max_active 8: never more than 8 sessions
 * at any PEER_UP; the view fills (sessions near the target) and holds
 * same-site peers first. */
static void test_bounded_same_site_first(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_h *h = fleet(13, 6, 10, 8, &cfg);
  watch w = {.h = h, .max_active = 8};
  vss_h_set_event_hook(h, on_ev, &w);
  assert_int_equal(vss_h_run_until(h, 60 * S), 0);
  assert_int_equal(w.bad, 0);
  uint32_t total = 0, same = 0;
  for (int i = 0; i < 60; i++) {
    uint32_t c = online_peers(h, i);
    assert_true(c <= 8);
    assert_true(c >= 4);
    total += c;
    for (int j = 0; j < 60; j++)
      if (j != i && j / 10 == i / 10 && vss_h_connected(h, i, j)) same++;
  }
  printf("sessions/device %.2f (max 8), same-site share %.2f, worst %u\n",
         total / 60.0, (double)same / total, w.worst);
  /* the target (7: 8 less the transient slot) is 5 by path, 1 random:
   * most sessions are same-site */
  assert_true(same * 2 > total);
  vss_h_del(h);
}

/* An active peer going away is replaced from the passive set. */
static void test_repair(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_h *h = fleet(14, 4, 10, 8, &cfg);
  assert_int_equal(vss_h_run_until(h, 60 * S), 0);
  uint32_t before = online_peers(h, 0);
  /* take node 0's same-site peers offline */
  int gone = 0;
  for (int j = 1; j < 10; j++)
    if (vss_h_connected(h, 0, j)) {
      assert_int_equal(vss_h_node_set_online(h, j, 0), 0);
      gone++;
    }
  assert_true(gone > 0);
  assert_true(online_peers(h, 0) < before);
  assert_int_equal(vss_h_run_until(h, 120 * S), 0);
  printf("node 0: %u sessions, %d same-site peers went, now %u\n", before, gone,
         online_peers(h, 0));
  assert_true(online_peers(h, 0) >= before - 1);
  assert_true(online_peers(h, 0) <= 8);
  vss_h_del(h);
}

/* Inbound past the bound is refused with VSS_ERR_LIMIT. */
static void test_refuse_inbound(void **state) {
  (void)state;
  vss_node_config cfg;
  vss_h *h = fleet(15, 1, 6, 2, &cfg);
  assert_int_equal(vss_h_run_until(h, 30 * S), 0);
  vss_node *n0 = vss_h_node(h, 0);
  assert_true(online_peers(h, 0) <= 2);
  vss_uuid stranger;
  memset(&stranger, 0x77, sizeof(stranger));
  vss_link_info li = {.cls = VSS_LINK_CELLULAR};
  /* fill the slots if the view left one free, then one more */
  int rc = 0;
  for (int k = 0; k < 3 && rc == 0; k++) {
    stranger.b[0] = (uint8_t)k;
    rc = vss_node_peer_up(n0, &stranger, &li, vss_h_now(h));
  }
  assert_int_equal(rc, VSS_ERR_LIMIT);
  assert_true(online_peers(h, 0) <= 2);
  vss_view_stats st;
  vss_node_view_stats(n0, &st);
  assert_true(st.refused >= 1);
  vss_h_del(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unmanaged_unchanged),
      cmocka_unit_test(test_small_full_mesh),
      cmocka_unit_test(test_bounded_same_site_first),
      cmocka_unit_test(test_repair),
      cmocka_unit_test(test_refuse_inbound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
