/*
 * test_resolver.c - resolve / request / fetch-or-generate decisions and
 * the job calls (cancel, generate_failed, jobs) in the harness.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xfer_fixture.h"

#define PROXY (4u << 20)

/* alice (0) holds a 4 MB proxy; bob (1) is 10 MB/s, 25 ms away: fetching
 * costs ~0.45 s. bob's strategy and generation cost come from the test. */
static vss_h *setup(uint64_t seed, vss_strategy st, vss_time gen_cost,
                    int bob_can_generate, vss_key *k) {
  vss_h *h = vss_h_new(seed);
  vss_node_config a = fx_cfg();
  fx_node(h, "alice", &a);
  vss_node_config b = fx_cfg();
  b.strategy = st;
  b.gen_cost[VSS_KIND_PROXY] = gen_cost;
  vss_h_node_opts o = {.config = &b, .no_generate = !bob_can_generate};
  assert_int_equal(vss_h_add_node(h, "bob", &o), 1);
  fx_link(h, 0, 1, 10 * MB, 25 * MS, VSS_LINK_INTERNET, 0);
  vss_h_set_gen_size(h, VSS_KIND_PROXY, PROXY);
  vss_h_key(k, 1, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_h_generate(h, 0, k, VSS_FMT_MP4, PROXY), 0);
  vss_h_run_idle(h, 10 * S);
  return h;
}

static vss_resolution resolve(vss_h *h, int node, const vss_key *k,
                              vss_resolve_mode mode) {
  vss_resolution r;
  assert_int_equal(vss_node_resolve(vss_h_node(h, node), k, VSS_FMT_MP4, mode,
                                    &r, vss_h_now(h)),
                   0);
  return r;
}

static void test_modes_local_remote_missing(void **state) {
  (void)state;
  vss_key k, none;
  vss_h *h = setup(1, VSS_STRATEGY_COST, 0, 1, &k);
  vss_h_key(&none, 99, VSS_KIND_PROXY, "1080p");
  /* Alice: local, with the on-disk relative path. */
  vss_resolution r = resolve(h, 0, &k, VSS_RESOLVE_LOCAL_ONLY);
  assert_int_equal(r.kind, VSS_RESOLVED_LOCAL);
  char path[VSS_REL_PATH_MAX + 1];
  vss_rel_path(&k, VSS_FMT_MP4, path, sizeof(path));
  assert_string_equal(r.rel_path, path);
  /* Bob: missing locally, remote otherwise, with a cost that covers RTT
   * plus size / rate. */
  assert_int_equal(resolve(h, 1, &k, VSS_RESOLVE_LOCAL_ONLY).kind,
                   VSS_RESOLVED_MISSING);
  r = resolve(h, 1, &k, VSS_RESOLVE_FETCH_ONLY);
  assert_int_equal(r.kind, VSS_RESOLVED_REMOTE);
  assert_true(fx_same(&r.device, vss_h_device(h, 0)));
  assert_true(r.est_cost > 400 * MS && r.est_cost < 600 * MS);
  /* Resolve decides only: no job. */
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 0);
  /* Nobody has it. */
  assert_int_equal(resolve(h, 1, &none, VSS_RESOLVE_FETCH_ONLY).kind,
                   VSS_RESOLVED_MISSING);
  /* A row that says READY without its blob is not local. */
  assert_int_equal(vss_blobs_remove(vss_h_blobs(h, 0), &k, VSS_FMT_MP4), 0);
  assert_int_equal(resolve(h, 0, &k, VSS_RESOLVE_LOCAL_ONLY).kind,
                   VSS_RESOLVED_MISSING);
  /* A different format is a different file. */
  vss_resolution rj;
  assert_int_equal(vss_node_resolve(vss_h_node(h, 1), &k, VSS_FMT_JSON,
                                    VSS_RESOLVE_FETCH_ONLY, &rj, vss_h_now(h)),
                   0);
  assert_int_equal(rj.kind, VSS_RESOLVED_MISSING);
  /* Bad arguments. */
  assert_int_equal(vss_node_resolve(vss_h_node(h, 1), &k, VSS_FMT_COUNT,
                                    VSS_RESOLVE_FETCH_ONLY, &rj, 0),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_node_resolve(vss_h_node(h, 1), &k, VSS_FMT_MP4,
                                    (vss_resolve_mode)42, &rj, 0),
                   VSS_ERR_INVALID);
  vss_h_del(h);
}

/* COST: generation cheaper than the ~0.45 s fetch -> generate; dearer ->
 * fetch. */
static void test_cost_strategy(void **state) {
  (void)state;
  vss_key k;
  vss_h *h = setup(2, VSS_STRATEGY_COST, 100 * MS, 1, &k);
  vss_resolution r = resolve(h, 1, &k, VSS_RESOLVE_FETCH_OR_GENERATE);
  assert_int_equal(r.kind, VSS_RESOLVED_REMOTE);
  assert_int_equal(r.generate, 1);
  assert_int_equal(r.est_cost, 100 * MS);
  assert_int_equal(vss_node_request(vss_h_node(h, 1), &k, VSS_FMT_MP4,
                                    VSS_RESOLVE_FETCH_OR_GENERATE, &r,
                                    vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING);
  assert_int_equal(r.generate, 1);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_GENERATED, r.job,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  assert_int_equal(fx_count(h, 0, VSS_EV_SERVED, 0), 0);
  assert_int_equal(resolve(h, 1, &k, VSS_RESOLVE_LOCAL_ONLY).kind,
                   VSS_RESOLVED_LOCAL);
  vss_h_del(h);

  h = setup(3, VSS_STRATEGY_COST, 5 * S, 1, &k);
  r = resolve(h, 1, &k, VSS_RESOLVE_FETCH_OR_GENERATE);
  assert_int_equal(r.kind, VSS_RESOLVED_REMOTE);
  assert_int_equal(r.generate, 0);
  assert_int_equal(vss_node_request(vss_h_node(h, 1), &k, VSS_FMT_MP4,
                                    VSS_RESOLVE_FETCH_OR_GENERATE, &r,
                                    vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING);
  assert_int_equal(r.generate, 0);
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, r.job,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  assert_true(fx_same(&ev.peer, vss_h_device(h, 0)));
  assert_true(fx_holds(h, 1, &k, VSS_FMT_MP4, PROXY));
  /* Unknown generation cost: fetch. */
  vss_h_del(h);
  h = setup(4, VSS_STRATEGY_COST, 0, 1, &k);
  assert_int_equal(resolve(h, 1, &k, VSS_RESOLVE_FETCH_OR_GENERATE).generate,
                   0);
  vss_h_del(h);
}

static void test_prefer_strategies(void **state) {
  (void)state;
  vss_key k;
  /* A mobile device fetches even when generating looks cheaper. */
  vss_h *h = setup(5, VSS_STRATEGY_PREFER_FETCH, 1 * MS, 1, &k);
  assert_int_equal(resolve(h, 1, &k, VSS_RESOLVE_FETCH_OR_GENERATE).generate,
                   0);
  vss_h_del(h);
  /* A server generates even when fetching looks cheaper... */
  h = setup(6, VSS_STRATEGY_PREFER_GENERATE, 60 * S, 1, &k);
  vss_resolution r = resolve(h, 1, &k, VSS_RESOLVE_FETCH_OR_GENERATE);
  assert_int_equal(r.generate, 1);
  vss_h_del(h);
  /* ...unless it cannot generate at all. */
  h = setup(7, VSS_STRATEGY_PREFER_GENERATE, 60 * S, 0, &k);
  r = resolve(h, 1, &k, VSS_RESOLVE_FETCH_OR_GENERATE);
  assert_int_equal(r.kind, VSS_RESOLVED_REMOTE);
  assert_int_equal(r.generate, 0);
  vss_h_del(h);
}

/* GenerateBlocking / Async start a generation job; without a generator
 * the request fails with GENERATE. */
static void test_generate_modes(void **state) {
  (void)state;
  vss_key k;
  vss_h *h = setup(8, VSS_STRATEGY_COST, 50 * MS, 1, &k);
  vss_node *bob = vss_h_node(h, 1);
  vss_resolution r = resolve(h, 1, &k, VSS_RESOLVE_GENERATE_BLOCKING);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING);
  assert_int_equal(r.generate, 1);
  assert_int_equal(fx_count(h, 1, VSS_EV_GENERATE_STARTED, r.job), 1);
  /* Resolving again while it runs: the same job. */
  vss_resolution r2 = resolve(h, 1, &k, VSS_RESOLVE_FETCH_ONLY);
  assert_int_equal(r2.kind, VSS_RESOLVED_PENDING);
  assert_int_equal(r2.job, r.job);
  assert_int_equal(r2.generate, 1);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_GENERATED, r.job,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  assert_true(ev.flags & VSS_EVF_FOREGROUND);
  assert_int_equal(resolve(h, 1, &k, VSS_RESOLVE_GENERATE_ASYNC).kind,
                   VSS_RESOLVED_LOCAL);
  vss_h_del(h);

  h = setup(9, VSS_STRATEGY_COST, 50 * MS, 0, &k);
  bob = vss_h_node(h, 1);
  assert_int_equal(vss_node_request(bob, &k, VSS_FMT_MP4,
                                    VSS_RESOLVE_GENERATE_ASYNC, &r,
                                    vss_h_now(h)),
                   VSS_ERR_GENERATE);
  assert_int_equal(r.kind, VSS_RESOLVED_MISSING);
  vss_h_del(h);
}

/* generate_failed ends the job with FETCH_FAILED (GENERATE); cancel ends
 * a fetch with CANCELED and leaves nothing behind. */
static void test_generate_failed_and_cancel(void **state) {
  (void)state;
  vss_key k;
  vss_h *h = setup(10, VSS_STRATEGY_COST, 1 * S, 1, &k);
  vss_node *bob = vss_h_node(h, 1);
  vss_resolution r = resolve(h, 1, &k, VSS_RESOLVE_GENERATE_ASYNC);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING);
  assert_int_equal(
      vss_node_generate_failed(bob, r.job, VSS_ERR_IO, vss_h_now(h)), 0);
  const vss_event *f = fx_event(h, 1, VSS_EV_FETCH_FAILED, r.job, 0);
  assert_non_null(f);
  assert_int_equal(f->rc, VSS_ERR_GENERATE);
  assert_int_equal(vss_node_generate_failed(bob, r.job, VSS_ERR_IO, 0),
                   VSS_ERR_NOT_FOUND);
  /* The late completion of that generation is harmless. */
  vss_h_run_idle(h, vss_h_now(h) + 5 * S);
  vss_h_del(h);

  h = setup(11, VSS_STRATEGY_COST, 0, 1, &k);
  bob = vss_h_node(h, 1);
  uint64_t job;
  assert_int_equal(vss_node_fetch(bob, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND,
                                  &job, vss_h_now(h)),
                   0);
  /* The chunk-hash list first (one RTT of 50 ms), then chunks. */
  vss_h_run_until(h, vss_h_now(h) + 200 * MS);
  vss_job_info ji[2];
  assert_int_equal(vss_node_jobs(bob, ji, 2), 1);
  assert_int_equal(ji[0].id, job);
  assert_int_equal(ji[0].size, PROXY);
  assert_true(ji[0].done > 0 && ji[0].done < PROXY);
  assert_int_equal(ji[0].sources, 1);
  assert_int_equal(ji[0].flags, VSS_EVF_FOREGROUND);
  assert_int_equal(vss_node_cancel(bob, job, vss_h_now(h)), 0);
  f = fx_event(h, 1, VSS_EV_FETCH_FAILED, job, 0);
  assert_non_null(f);
  assert_int_equal(f->rc, VSS_ERR_CANCELED);
  assert_int_equal(vss_node_cancel(bob, job, vss_h_now(h)), VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_node_jobs(bob, NULL, 0), 0);
  /* The server stops sending: cancelled requests are dropped. */
  vss_h_run_idle(h, vss_h_now(h) + 5 * S);
  assert_true(vss_h_bytes(h, 0, 1) < PROXY);
  assert_false(fx_ready(h, 1, &k));
  vss_h_del(h);
}

/* A sidecar no peer has announced: fetch asks the peers (query) and
 * starts once one answers that it has it. */
static void test_fetch_queries_unknown_holder(void **state) {
  (void)state;
  vss_h *h = vss_h_new(12);
  vss_node_config a = fx_cfg(), b = fx_cfg();
  a.change_batch_delay = 60 * S; /* gossip would tell much later */
  fx_node(h, "alice", &a);
  fx_node(h, "bob", &b);
  fx_link(h, 0, 1, 100 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  vss_h_run_idle(h, 10 * S);
  vss_key k;
  vss_h_key(&k, 5, VSS_KIND_OCR, "default");
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_TEXT, 5000), 0);
  uint64_t job;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &k, VSS_FMT_TEXT,
                                  VSS_FETCH_FOREGROUND, &job, vss_h_now(h)),
                   0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, job,
                                         vss_h_now(h) + 1 * S, &ev),
                   1);
  assert_true(fx_holds(h, 1, &k, VSS_FMT_TEXT, 5000));
  /* Nobody has this one: the query times out and the job fails. */
  vss_key none;
  vss_h_key(&none, 6, VSS_KIND_OCR, "default");
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &none, VSS_FMT_TEXT, 0,
                                  &job, vss_h_now(h)),
                   0);
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_FAILED, job,
                                         vss_h_now(h) + 10 * S, &ev),
                   1);
  assert_int_equal(ev.rc, VSS_ERR_NO_SOURCE);
  vss_h_del(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_modes_local_remote_missing),
      cmocka_unit_test(test_cost_strategy),
      cmocka_unit_test(test_prefer_strategies),
      cmocka_unit_test(test_generate_modes),
      cmocka_unit_test(test_generate_failed_and_cancel),
      cmocka_unit_test(test_fetch_queries_unknown_holder),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
