/*
 * test_xfer.c - sidecar transfer in the harness: the seed fetch, source
 * choice, verification and blame, sources going away, stalls, restarts,
 * pipelining, multi-source pulls, hostile XFER frames, and chunk-hash
 * lists kept with the sidecar (no re-hashing to serve META).
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
#include <unistd.h>

#define THUMB 45000u

/* alice (0) and bob (1) on a 110 MB/s, 1 ms link; alice holds one thumb. */
static vss_h *alice_bob(uint64_t seed, vss_key *k) {
  vss_h *h = vss_h_new(seed);
  vss_node_config c = fx_cfg();
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 1, 110 * MB, 1 * MS, VSS_LINK_ETHERNET, 0);
  vss_h_key(k, 1, VSS_KIND_THUMB, "grid@2x");
  assert_int_equal(vss_h_generate(h, 0, k, VSS_FMT_WEBP, THUMB), 0);
  vss_h_run_idle(h, 10 * S);
  return h;
}

static uint64_t fetch(vss_h *h, int node, const vss_key *k, vss_format fmt,
                      uint32_t flags) {
  uint64_t job = 0;
  assert_int_equal(
      vss_node_fetch(vss_h_node(h, node), k, fmt, flags, &job, vss_h_now(h)),
      0);
  assert_true(job != 0);
  return job;
}

static vss_event wait_done(vss_h *h, int node, uint64_t job, vss_time limit) {
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, node, VSS_EV_FETCH_DONE, job,
                                         vss_h_now(h) + limit, &ev),
                   1);
  return ev;
}

/* The seed test: bob resolves a thumbnail only alice has, fetches it,
 * gets 45,000 bytes of WebP, and then resolves it locally. */
static void test_cross_device_sidecar_fetch(void **state) {
  (void)state;
  vss_key k;
  vss_h *h = alice_bob(1, &k);
  vss_node *bob = vss_h_node(h, 1);
  vss_resolution r;
  assert_int_equal(vss_node_resolve(bob, &k, VSS_FMT_WEBP,
                                    VSS_RESOLVE_FETCH_ONLY, &r, vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_REMOTE);
  assert_true(fx_same(&r.device, vss_h_device(h, 0)));
  assert_true(r.est_cost > 0 && r.est_cost < 10 * MS);

  uint64_t job = fetch(h, 1, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND);
  vss_event done = wait_done(h, 1, job, 5 * S);
  assert_true(fx_same(&done.peer, vss_h_device(h, 0)));
  assert_int_equal(done.bytes, THUMB);
  assert_true(done.flags & VSS_EVF_FOREGROUND);

  uint8_t *got = malloc(THUMB), *want = malloc(THUMB);
  assert_int_equal(
      vss_blobs_read(vss_h_blobs(h, 1), &k, VSS_FMT_WEBP, 0, got, THUMB), 0);
  assert_int_equal(
      vss_blobs_read(vss_h_blobs(h, 0), &k, VSS_FMT_WEBP, 0, want, THUMB), 0);
  assert_memory_equal(got, want, THUMB);
  assert_memory_equal(got, "RIFF", 4);
  assert_memory_equal(got + 8, "WEBP", 4);
  free(got);
  free(want);

  vss_sidecar_row row;
  assert_int_equal(vss_store_get_sidecar(vss_h_store(h, 1), &k, &row), 0);
  assert_int_equal(row.status, VSS_STATUS_READY);
  assert_int_equal(row.size, THUMB);
  assert_true(fx_same(&row.source, vss_h_device(h, 0)));

  assert_int_equal(vss_node_resolve(bob, &k, VSS_FMT_WEBP,
                                    VSS_RESOLVE_FETCH_ONLY, &r, vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_LOCAL);
  char path[VSS_REL_PATH_MAX + 1];
  vss_rel_path(&k, VSS_FMT_WEBP, path, sizeof(path));
  assert_string_equal(r.rel_path, path);
  /* One GET, no META: a one-chunk sidecar needs no hash list. */
  assert_int_equal(fx_count(h, 0, VSS_EV_SERVED, 0), 1);
  /* Alice hears that bob now holds it too. */
  vss_h_run_idle(h, vss_h_now(h) + 10 * S);
  vss_xfer_source src;
  assert_int_equal(
      vss_xfer_best_source(vss_h_node(h, 0)->xfer, &k, VSS_FMT_WEBP, &src), 1);
  assert_true(fx_same(&src.device, vss_h_device(h, 1)));
  vss_h_del(h);
}

/* MacBook 45 MB/s 2 ms, home server 110 MB/s 1 ms, cloud 10 MB/s 50 ms all
 * hold it; bob (3) must take it from the home server. */
static vss_h *three_sources(uint64_t seed, const vss_key *k, vss_format fmt,
                            uint64_t size) {
  vss_h *h = vss_h_new(seed);
  vss_node_config c = fx_cfg();
  fx_node(h, "macbook", &c);
  fx_node(h, "homeserver", &c);
  fx_node(h, "cloud", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 3, 45 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  fx_link(h, 1, 3, 110 * MB, 500 * VSS_NS_PER_US, VSS_LINK_ETHERNET, 0);
  fx_link(h, 2, 3, 10 * MB, 25 * MS, VSS_LINK_INTERNET, 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(vss_h_generate(h, i, k, fmt, size), 0);
  vss_h_run_idle(h, 10 * S);
  return h;
}

static void test_optimal_source(void **state) {
  (void)state;
  vss_key k;
  vss_h_key(&k, 7, VSS_KIND_THUMB, "grid@2x");
  vss_h *h = three_sources(2, &k, VSS_FMT_WEBP, THUMB);
  vss_resolution r;
  assert_int_equal(vss_node_resolve(vss_h_node(h, 3), &k, VSS_FMT_WEBP,
                                    VSS_RESOLVE_FETCH_ONLY, &r, vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_REMOTE);
  assert_true(fx_same(&r.device, vss_h_device(h, 1)));
  uint64_t job = fetch(h, 3, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND);
  vss_event done = wait_done(h, 3, job, 5 * S);
  assert_true(fx_same(&done.peer, vss_h_device(h, 1)));
  assert_true(fx_same(&fx_event(h, 3, VSS_EV_FETCH_STARTED, job, 0)->peer,
                      vss_h_device(h, 1)));
  /* Only the home server sent bytes. */
  assert_int_equal(fx_count(h, 0, VSS_EV_SERVED, 0), 0);
  assert_int_equal(fx_count(h, 1, VSS_EV_SERVED, 0), 1);
  assert_int_equal(fx_count(h, 2, VSS_EV_SERVED, 0), 0);
  assert_true(fx_holds(h, 3, &k, VSS_FMT_WEBP, THUMB));
  vss_h_del(h);
}

/* Without link hints every source starts at the defaults (1 MB/s,
 * 100 ms): measurements take over, the pull still fills the links and the
 * fastest source ends up carrying the most. */
static void test_no_hints_learns_rates(void **state) {
  (void)state;
  vss_h *h = vss_h_new(12);
  vss_node_config c = fx_cfg();
  fx_node(h, "macbook", &c);
  fx_node(h, "homeserver", &c);
  fx_node(h, "cloud", &c);
  fx_node(h, "bob", &c);
  const double rate[3] = {45 * MB, 110 * MB, 10 * MB};
  const vss_time delay[3] = {1 * MS, MS / 2, 25 * MS};
  for (int i = 0; i < 3; i++) {
    vss_h_link_opts o = {.rate = rate[i], .delay = delay[i], .no_hints = 1};
    assert_int_equal(vss_h_link(h, i, 3, &o), 0);
  }
  vss_key k;
  vss_h_key(&k, 31, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 64u << 20;
  for (int i = 0; i < 3; i++)
    assert_int_equal(vss_h_generate(h, i, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  vss_time t0 = vss_h_now(h);
  uint64_t job = fetch(h, 3, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_event done = wait_done(h, 3, job, 60 * S);
  double goodput = (double)size / ((double)(done.at - t0) / 1e9);
  assert_true(goodput > 0.8 * 165 * MB);
  assert_true(vss_h_bytes(h, 1, 3) > vss_h_bytes(h, 0, 3));
  assert_true(vss_h_bytes(h, 0, 3) > vss_h_bytes(h, 2, 3));
  vss_peer_info pi[4];
  int np = vss_node_peers(vss_h_node(h, 3), pi, 4);
  assert_int_equal(np, 3);
  for (int i = 0; i < np; i++) /* measured, no longer the 1 MB/s default */
    assert_true(pi[i].rate > 5 * MB);
  assert_true(fx_holds(h, 3, &k, VSS_FMT_MP4, size));
  vss_h_del(h);
}

/* A large proxy pulled from all three: every source contributes, in
 * proportion to its rate, and the result verifies. */
static void test_multi_source_large(void **state) {
  (void)state;
  vss_key k;
  vss_h_key(&k, 8, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 64u << 20;
  vss_h *h = three_sources(3, &k, VSS_FMT_MP4, size);
  vss_time t0 = vss_h_now(h);
  uint64_t job = fetch(h, 3, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_event done = wait_done(h, 3, job, 60 * S);
  double secs = (double)(done.at - t0) / 1e9;
  double goodput = (double)size / secs;
  /* 165 MB/s of sources; allow for start-up and the tail. */
  assert_true(goodput > 0.85 * 165 * MB);
  uint64_t b[3];
  for (int i = 0; i < 3; i++) {
    b[i] = vss_h_bytes(h, i, 3);
    assert_true(fx_count(h, i, VSS_EV_SERVED, 0) > 0);
  }
  assert_true(b[1] > b[0] && b[0] > b[2]);
  assert_true(fx_holds(h, 3, &k, VSS_FMT_MP4, size));
  assert_true(fx_ready(h, 3, &k));
  vss_h_del(h);
}

/* Every DATA frame from the MacBook is corrupted: its chunks fail their
 * hash, are blamed on it, fetched from the home server, and nothing is
 * recorded until all bytes verify. */
static void test_corrupted_chunk_retried(void **state) {
  (void)state;
  vss_h *h = vss_h_new(4);
  vss_node_config c = fx_cfg();
  fx_node(h, "macbook", &c);
  fx_node(h, "homeserver", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 2, 100 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  fx_link(h, 1, 2, 100 * MB, 1 * MS, VSS_LINK_ETHERNET, 0);
  vss_key k;
  vss_h_key(&k, 9, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 8u << 20;
  for (int i = 0; i < 2; i++)
    assert_int_equal(vss_h_generate(h, i, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  assert_int_equal(vss_h_link_set_corrupt(h, 0, 2, 1.0), 0);
  uint64_t job = fetch(h, 2, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  /* Not READY while bytes are still arriving. */
  vss_h_run_until(h, vss_h_now(h) + 20 * MS);
  assert_false(fx_ready(h, 2, &k));
  vss_event done = wait_done(h, 2, job, 30 * S);
  assert_true(fx_same(&done.peer, vss_h_device(h, 1)));
  const vss_event *bad = fx_event(h, 2, VSS_EV_CHUNK_BAD, job, 0);
  assert_non_null(bad);
  assert_true(fx_same(&bad->peer, vss_h_device(h, 0)));
  assert_int_equal(bad->rc, VSS_ERR_CHECKSUM);
  /* Blamed chunks only ever came from the MacBook, which was dropped. */
  for (size_t i = 0; (bad = fx_event(h, 2, VSS_EV_CHUNK_BAD, job, i)); i++)
    assert_true(fx_same(&bad->peer, vss_h_device(h, 0)));
  const vss_event *drop = fx_event(h, 2, VSS_EV_SOURCE_DROPPED, job, 0);
  assert_non_null(drop);
  assert_true(fx_same(&drop->peer, vss_h_device(h, 0)));
  assert_int_equal(drop->rc, VSS_ERR_CHECKSUM);
  assert_true(fx_count(h, 2, VSS_EV_RETRY, job) > 0);
  assert_true(fx_holds(h, 2, &k, VSS_FMT_MP4, size));
  assert_true(fx_ready(h, 2, &k));
  vss_h_del(h);
}

/* A corrupted one-chunk thumbnail, only source: retried with backoff
 * until the retry budget runs out; never recorded. */
static void test_corrupt_only_source_fails(void **state) {
  (void)state;
  vss_key k;
  vss_h *h = alice_bob(5, &k);
  assert_int_equal(vss_h_link_set_corrupt(h, 0, 1, 1.0), 0);
  uint64_t job = fetch(h, 1, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_FAILED, job,
                                         vss_h_now(h) + 30 * S, &ev),
                   1);
  /* The only source was dropped for bad chunks: the failure says so. */
  assert_int_equal(ev.rc, VSS_ERR_CHECKSUM);
  assert_int_equal(fx_count(h, 1, VSS_EV_CHUNK_BAD, job), 3);
  /* Retries of the same source waited for the backoff (50, 100 ms). */
  const vss_event *b1 = fx_event(h, 1, VSS_EV_CHUNK_BAD, job, 0);
  const vss_event *r1 = fx_event(h, 1, VSS_EV_RETRY, job, 0);
  assert_non_null(r1);
  assert_true(r1->at >= b1->at + 50 * MS);
  assert_false(fx_ready(h, 1, &k));
  uint64_t size;
  assert_int_equal(vss_blobs_stat(vss_h_blobs(h, 1), &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  vss_h_del(h);
}

/* The main source goes offline mid-transfer: the rest comes from the
 * other source. */
static void test_source_offline_mid_transfer(void **state) {
  (void)state;
  vss_h *h = vss_h_new(6);
  vss_node_config c = fx_cfg();
  fx_node(h, "homeserver", &c);
  fx_node(h, "macbook", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 2, 110 * MB, 1 * MS, VSS_LINK_ETHERNET, 0);
  fx_link(h, 1, 2, 45 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  vss_key k;
  vss_h_key(&k, 10, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 32u << 20;
  for (int i = 0; i < 2; i++)
    assert_int_equal(vss_h_generate(h, i, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  uint64_t job = fetch(h, 2, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_h_run_until(h, vss_h_now(h) + 60 * MS);
  assert_int_equal(fx_count(h, 2, VSS_EV_FETCH_DONE, job), 0);
  assert_int_equal(vss_h_node_set_online(h, 0, 0), 0);
  vss_event done = wait_done(h, 2, job, 30 * S);
  (void)done;
  const vss_event *drop = fx_event(h, 2, VSS_EV_SOURCE_DROPPED, job, 0);
  assert_non_null(drop);
  assert_true(fx_same(&drop->peer, vss_h_device(h, 0)));
  assert_int_equal(drop->rc, VSS_ERR_UNKNOWN_PEER);
  assert_true(fx_holds(h, 2, &k, VSS_FMT_MP4, size));
  vss_h_del(h);
}

/* The only source goes away: FetchOrGenerate generates locally. */
static void test_no_source_left_generates(void **state) {
  (void)state;
  vss_h *h = vss_h_new(7);
  vss_node_config c = fx_cfg();
  c.source_patience = 0; /* no wait for it (test_xfer_resume.c waits) */
  c.gen_cost[VSS_KIND_PROXY] = 500 * MS;
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 1, 50 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  vss_key k;
  vss_h_key(&k, 11, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 16u << 20;
  vss_h_set_gen_size(h, VSS_KIND_PROXY, size);
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  vss_resolution r;
  /* Fetching 16 MB at 50 MB/s beats a 500 ms generation: fetch. */
  assert_int_equal(vss_node_request(vss_h_node(h, 1), &k, VSS_FMT_MP4,
                                    VSS_RESOLVE_FETCH_OR_GENERATE, &r,
                                    vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING);
  assert_int_equal(r.generate, 0);
  vss_h_run_until(h, vss_h_now(h) + 50 * MS);
  assert_int_equal(vss_h_node_set_online(h, 0, 0), 0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_GENERATED, r.job,
                                         vss_h_now(h) + 10 * S, &ev),
                   1);
  assert_int_equal(fx_count(h, 1, VSS_EV_GENERATE_STARTED, r.job), 1);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_FAILED, r.job), 0);
  assert_true(fx_holds(h, 1, &k, VSS_FMT_MP4, size));
  assert_int_equal(vss_node_resolve(vss_h_node(h, 1), &k, VSS_FMT_MP4,
                                    VSS_RESOLVE_LOCAL_ONLY, &r, vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_LOCAL);
  vss_h_del(h);
}

/* The only source goes away: FetchOnly fails cleanly with NO_SOURCE. */
static void test_no_source_left_fetch_only_fails(void **state) {
  (void)state;
  vss_h *h = vss_h_new(8);
  vss_node_config c = fx_cfg();
  c.source_patience = 0; /* no wait for it (test_xfer_resume.c waits) */
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 1, 50 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  vss_key k;
  vss_h_key(&k, 12, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 16u << 20;
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  vss_resolution r;
  assert_int_equal(vss_node_request(vss_h_node(h, 1), &k, VSS_FMT_MP4,
                                    VSS_RESOLVE_FETCH_ONLY, &r, vss_h_now(h)),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING);
  vss_h_run_until(h, vss_h_now(h) + 50 * MS);
  assert_int_equal(vss_h_node_set_online(h, 0, 0), 0);
  /* Failed at once, inside the peer_down. */
  const vss_event *ev = fx_event(h, 1, VSS_EV_FETCH_FAILED, r.job, 0);
  assert_non_null(ev);
  assert_int_equal(ev->rc, VSS_ERR_NO_SOURCE);
  assert_int_equal(fx_count(h, 1, VSS_EV_GENERATE_STARTED, 0), 0);
  assert_false(fx_ready(h, 1, &k));
  uint64_t sz;
  assert_int_equal(vss_blobs_stat(vss_h_blobs(h, 1), &k, VSS_FMT_MP4, &sz),
                   VSS_ERR_NOT_FOUND);
  /* No job left behind; asking again with nobody online fails at once. */
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 0);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(vss_h_node(h, 1), &k, VSS_FMT_MP4, 0, &job, vss_h_now(h)),
      VSS_ERR_NO_SOURCE);
  vss_h_del(h);
}

/* Bob crashes mid-transfer: no READY row without verified bytes, and a
 * new fetch after the restart completes. */
static void test_restart_mid_transfer(void **state) {
  (void)state;
  char db[] = "/tmp/vss_xfer_restart_XXXXXX";
  int fd = mkstemp(db);
  assert_true(fd >= 0);
  close(fd);
  unlink(db);
  vss_h *h = vss_h_new(9);
  vss_node_config c = fx_cfg();
  fx_node(h, "alice", &c);
  vss_h_node_opts o = {.db_path = db, .config = &c};
  assert_int_equal(vss_h_add_node(h, "bob", &o), 1);
  fx_link(h, 0, 1, 50 * MB, 1 * MS, VSS_LINK_WIFI, 0);
  vss_key k;
  vss_h_key(&k, 13, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 16u << 20;
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  fetch(h, 1, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_h_run_until(h, vss_h_now(h) + 100 * MS); /* about a third */
  assert_int_equal(vss_h_restart(h, 1), 0);
  assert_false(fx_ready(h, 1, &k));
  uint64_t sz;
  assert_int_equal(vss_blobs_stat(vss_h_blobs(h, 1), &k, VSS_FMT_MP4, &sz),
                   VSS_ERR_NOT_FOUND);
  vss_avail_row av;
  int rc = vss_store_get_avail(vss_h_store(h, 1), &k, &av);
  assert_true(rc == VSS_ERR_NOT_FOUND || (rc == 0 && av.has == 0));
  /* The request resumes by itself (test_xfer_resume.c has the details);
   * the cache is rebuilt by gossip; then the fetch completes. */
  vss_event rs;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_RESUMED, 0,
                                         vss_h_now(h) + 1 * S, &rs),
                   1);
  wait_done(h, 1, rs.job, 10 * S);
  assert_true(fx_ready(h, 1, &k));
  assert_true(fx_holds(h, 1, &k, VSS_FMT_MP4, size));
  /* And it survives another restart. */
  assert_int_equal(vss_h_restart(h, 1), 0);
  assert_true(fx_ready(h, 1, &k));
  vss_h_del(h);
  unlink(db);
  char wal[sizeof(db) + 8];
  snprintf(wal, sizeof(wal), "%s-wal", db);
  unlink(wal);
  snprintf(wal, sizeof(wal), "%s-shm", db);
  unlink(wal);
}

/* 200 thumbnails from one peer: pipelined within the window, the total
 * time is close to the bytes over the bandwidth (not 200 round trips). */
static void test_many_thumbs_pipelined(void **state) {
  (void)state;
  vss_h *h = vss_h_new(10);
  vss_node_config c = fx_cfg();
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  const double rate = 110 * MB;
  fx_link(h, 0, 1, rate, 1 * MS, VSS_LINK_ETHERNET, 0);
  enum { N = 200 };
  vss_key k[N];
  for (int i = 0; i < N; i++) {
    vss_h_key(&k[i], 100 + (uint32_t)i, VSS_KIND_THUMB, "grid@2x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, THUMB), 0);
  }
  vss_h_run_idle(h, 10 * S);
  vss_time t0 = vss_h_now(h);
  uint64_t job[N];
  for (int i = 0; i < N; i++)
    job[i] = fetch(h, 1, &k[i], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND);
  vss_time last = 0;
  for (int i = 0; i < N; i++) {
    vss_event ev = wait_done(h, 1, job[i], 10 * S);
    (void)ev;
    const vss_event *d = fx_event(h, 1, VSS_EV_FETCH_DONE, job[i], 0);
    if (d->at > last) last = d->at;
  }
  double ideal = (double)N * THUMB / rate;
  double ratio = (double)(last - t0) / 1e9 / ideal;
  assert_true(ratio < 1.15);
  for (int i = 0; i < N; i += 37)
    assert_true(fx_holds(h, 1, &k[i], VSS_FMT_WEBP, THUMB));
  vss_h_del(h);
}

/* Lossy links: lost GETs and DATA frames stall requests, which time out
 * and are re-requested; the sidecar still arrives intact. */
static void test_lossy_links_complete(void **state) {
  (void)state;
  vss_h *h = vss_h_new(11);
  vss_node_config c = fx_cfg();
  fx_node(h, "a", &c);
  fx_node(h, "b", &c);
  fx_node(h, "bob", &c);
  vss_key k;
  vss_h_key(&k, 30, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 8u << 20;
  for (int i = 0; i < 2; i++)
    assert_int_equal(vss_h_generate(h, i, &k, VSS_FMT_MP4, size), 0);
  for (int i = 0; i < 2; i++) {
    vss_h_link_opts o = {.rate = 50 * MB, .delay = 2 * MS, .loss = 0.05};
    assert_int_equal(vss_h_link(h, i, 2, &o), 0);
  }
  /* Gossip repeats until both holders are known (lost pages retried by
   * the periodic rounds). */
  vss_xfer_source src;
  for (int round = 0; round < 20; round++) {
    if (vss_xfer_best_source(vss_h_node(h, 2)->xfer, &k, VSS_FMT_MP4, &src) ==
        2)
      break;
    vss_node_gossip_now(vss_h_node(h, 0), vss_h_now(h));
    vss_node_gossip_now(vss_h_node(h, 1), vss_h_now(h));
    vss_h_run_until(h, vss_h_now(h) + 1 * S);
  }
  assert_true(
      vss_xfer_best_source(vss_h_node(h, 2)->xfer, &k, VSS_FMT_MP4, &src) > 0);
  uint64_t job = fetch(h, 2, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_event ev;
  int r = vss_h_run_until_event(h, 2, VSS_EV_FETCH_DONE, job,
                                vss_h_now(h) + 60 * S, &ev);
  if (r != 1) {
    const vss_event *f = fx_event(h, 2, VSS_EV_FETCH_FAILED, job, 0);
    fail_msg("not done; failed rc %d", f ? f->rc : 0);
  }
  assert_true(fx_count(h, 2, VSS_EV_RETRY, job) > 0);
  assert_true(fx_holds(h, 2, &k, VSS_FMT_MP4, size));
  vss_h_del(h);
}

/* ---- a hand-driven peer: stalls and hostile frames -------------------- */

/* A blob store that counts reads: a server that needs no hashing to
 * answer META reads nothing. */
typedef struct cblobs {
  vss_blobs *inner;
  uint64_t reads;
  uint64_t read_bytes; /* "read once" is in bytes: the read size is the
                          hasher's business */
} cblobs;

static int cb_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                        uint64_t size, void **tmp) {
  return vss_blobs_open_temp(((cblobs *)ctx)->inner, key, fmt, size, tmp);
}
static int cb_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                    size_t len) {
  return vss_blobs_write(((cblobs *)ctx)->inner, tmp, off, buf, len);
}
static int cb_commit(void *ctx, void *tmp) {
  return vss_blobs_commit(((cblobs *)ctx)->inner, tmp);
}
static void cb_discard(void *ctx, void *tmp) {
  vss_blobs_discard(((cblobs *)ctx)->inner, tmp);
}
static int cb_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                   void *buf, size_t len) {
  cblobs *c = ctx;
  c->reads++;
  c->read_bytes += len;
  return vss_blobs_read(c->inner, key, fmt, off, buf, len);
}
static int cb_stat(void *ctx, const vss_key *key, vss_format fmt,
                   uint64_t *size) {
  return vss_blobs_stat(((cblobs *)ctx)->inner, key, fmt, size);
}
static int cb_remove(void *ctx, const vss_key *key, vss_format fmt) {
  return vss_blobs_remove(((cblobs *)ctx)->inner, key, fmt);
}
static void cb_close(void *ctx) {
  cblobs *c = ctx;
  vss_blobs_del(c->inner);
  free(c);
}
static const vss_blob_methods counting_blobs = {
    .open_temp = cb_open_temp,
    .write = cb_write,
    .commit = cb_commit,
    .discard = cb_discard,
    .read = cb_read,
    .stat = cb_stat,
    .remove = cb_remove,
    .close = cb_close,
};

/* A store that counts calls per method, forwarding to (and owning) an
 * SQLite store: what the node asks of its store, and how often. */
enum { CS_COUNT_AVAIL, CS_GET_AVAIL, CS_OTHER, CS_N };
typedef struct cstore {
  vss_store *inner;
  uint64_t calls[CS_N];
} cstore;

#define CS_FWD(ctx, which, call)                                               \
  do {                                                                         \
    cstore *c_ = (ctx);                                                        \
    c_->calls[which]++;                                                        \
    vss_store *in = c_->inner;                                                 \
    return call;                                                               \
  } while (0)

static int cs_begin(void *c) {
  CS_FWD(c, CS_OTHER, vss_store_begin(in));
}
static int cs_commit(void *c) {
  CS_FWD(c, CS_OTHER, vss_store_commit(in));
}
static int cs_rollback(void *c) {
  CS_FWD(c, CS_OTHER, vss_store_rollback(in));
}
static int cs_get_meta(void *c, vss_store_meta *o) {
  CS_FWD(c, CS_OTHER, vss_store_get_meta(in, o));
}
static int cs_set_meta(void *c, const vss_store_meta *m) {
  CS_FWD(c, CS_OTHER, vss_store_set_meta(in, m));
}
static int cs_put_sidecar(void *c, const vss_sidecar_row *r) {
  CS_FWD(c, CS_OTHER, vss_store_put_sidecar(in, r));
}
static int cs_get_sidecar(void *c, const vss_key *k, vss_sidecar_row *o) {
  CS_FWD(c, CS_OTHER, vss_store_get_sidecar(in, k, o));
}
static int cs_del_sidecar(void *c, const vss_key *k) {
  CS_FWD(c, CS_OTHER, vss_store_del_sidecar(in, k));
}
static int cs_put_avail(void *c, const vss_avail_row *r) {
  CS_FWD(c, CS_OTHER, vss_store_put_avail(in, r));
}
static int cs_get_avail(void *c, const vss_key *k, vss_avail_row *o) {
  CS_FWD(c, CS_GET_AVAIL, vss_store_get_avail(in, k, o));
}
static int cs_iter_avail_since(void *c, uint64_t since, vss_avail_iter_cb cb,
                               void *user) {
  CS_FWD(c, CS_OTHER, vss_store_iter_avail_since(in, since, cb, user));
}
static int cs_count_avail(void *c, uint64_t *count, uint64_t *bytes) {
  CS_FWD(c, CS_COUNT_AVAIL, vss_store_count_avail(in, count, bytes));
}
static int cs_put_peer(void *c, const vss_peer_row *r) {
  CS_FWD(c, CS_OTHER, vss_store_put_peer(in, r));
}
static int cs_get_peer(void *c, const vss_uuid *d, vss_peer_row *o) {
  CS_FWD(c, CS_OTHER, vss_store_get_peer(in, d, o));
}
static int cs_del_peer(void *c, const vss_uuid *d) {
  CS_FWD(c, CS_OTHER, vss_store_del_peer(in, d));
}
static int cs_iter_peers(void *c, vss_peer_iter_cb cb, void *user) {
  CS_FWD(c, CS_OTHER, vss_store_iter_peers(in, cb, user));
}
static int cs_put_chunks(void *c, const vss_key *k, const vss_hash *h,
                         uint64_t n) {
  CS_FWD(c, CS_OTHER, vss_store_put_chunks(in, k, h, n));
}
static int cs_get_chunks(void *c, const vss_key *k, vss_hash *o, uint64_t cap,
                         uint64_t *n) {
  CS_FWD(c, CS_OTHER, vss_store_get_chunks(in, k, o, cap, n));
}
static void cs_close(void *c) {
  vss_store_del(((cstore *)c)->inner);
  free(c);
}
static const vss_store_methods counting_store = {
    .begin = cs_begin,
    .commit = cs_commit,
    .rollback = cs_rollback,
    .get_meta = cs_get_meta,
    .set_meta = cs_set_meta,
    .put_sidecar = cs_put_sidecar,
    .get_sidecar = cs_get_sidecar,
    .del_sidecar = cs_del_sidecar,
    .put_avail = cs_put_avail,
    .get_avail = cs_get_avail,
    .iter_avail_since = cs_iter_avail_since,
    .count_avail = cs_count_avail,
    .put_peer = cs_put_peer,
    .get_peer = cs_get_peer,
    .del_peer = cs_del_peer,
    .iter_peers = cs_iter_peers,
    .put_chunks = cs_put_chunks,
    .get_chunks = cs_get_chunks,
    .close = cs_close,
};

typedef struct solo {
  vss_store *store; /* counting, over SQLite */
  cstore *cs;       /* its call counts */
  vss_blobs *blobs;
  cblobs *cb; /* the blob store's read counter */
  vss_node *n;
  vss_uuid ghost[2];
  vss_event ev[256]; /* the first 256 */
  size_t nev;
  size_t count[VSS_EV_COUNT]; /* all of them, by type */
} solo;

static uint64_t solo_rand(void *u) {
  (void)u;
  return 42;
}

static void solo_event(void *u, const vss_event *ev) {
  solo *s = u;
  if (s->nev < 256) s->ev[s->nev++] = *ev;
  s->count[ev->type]++;
}

static size_t solo_count(const solo *s, vss_event_type t) {
  return s->count[t];
}

static void solo_open(solo *s) {
  memset(s, 0, sizeof(*s));
  vss_uuid me = {{1}};
  s->cs = calloc(1, sizeof(*s->cs));
  assert_non_null(s->cs);
  assert_int_equal(
      vss_store_sqlite_open(&s->cs->inner, ":memory:", &me, NULL, 0), 0);
  assert_int_equal(vss_store_new(&s->store, &counting_store, s->cs), 0);
  s->cb = calloc(1, sizeof(*s->cb));
  assert_non_null(s->cb);
  assert_int_equal(vss_blobs_mem_new(&s->cb->inner), 0);
  assert_int_equal(vss_blobs_new(&s->blobs, &counting_blobs, s->cb), 0);
  vss_node_config c = fx_cfg();
  c.store = s->store;
  c.blobs = s->blobs;
  c.rand = solo_rand;
  c.on_event = solo_event;
  c.event_user = s;
  assert_int_equal(vss_node_new(&s->n, &c, 0), 0);
  vss_link_info li = {
      .cls = VSS_LINK_ETHERNET, .rate_hint = 100e6, .rtt_hint = 2 * MS};
  for (int i = 0; i < 2; i++) {
    s->ghost[i].b[0] = (uint8_t)(0x10 + i);
    s->ghost[i].b[15] = 7;
    assert_int_equal(vss_node_peer_up(s->n, &s->ghost[i], &li, 0), 0);
  }
}

static void solo_close(solo *s) {
  vss_node_del(s->n);
  vss_blobs_del(s->blobs);
  vss_store_del(s->store);
}

/* Drain what the node queued for ghost g; returns the XFER_GET seen (or
 * type 0 when none). */
static vss_msg_xfer_get solo_drain(solo *s, int g, vss_time now) {
  vss_msg_xfer_get get;
  memset(&get, 0, sizeof(get));
  vss_outmsg out;
  while (vss_node_next_send(s->n, &s->ghost[g], &out, now) == 1) {
    vss_msg m;
    assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
    if (m.type == VSS_MSG_XFER_GET) get = m.u.get;
  }
  return get;
}

/* Teach the node that ghost g holds key in fmt (a one-page full
 * digest). */
static void solo_offer_from(solo *s, int g, const vss_key *k, vss_format fmt,
                            uint64_t size, const vss_hash *sum) {
  vss_buf b = {0};
  vss_msg_digest d;
  memset(&d, 0, sizeof(d));
  d.device = s->ghost[g];
  d.epoch = 1;
  d.from_seq = 0;
  d.to_seq = 1;
  d.flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
  size_t mark;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  vss_wire_entry e = {
      .key = *k, .format = fmt, .has = 1, .size = size, .checksum = *sum};
  assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  assert_int_equal(vss_wire_digest_end(&b, mark, 1), 0);
  assert_int_equal(vss_node_recv(s->n, &s->ghost[g], b.data, b.len, 0), 0);
  vss_buf_free(&b);
  solo_drain(s, g, 0);
}

/* Teach the node that both ghosts hold key (a one-page full digest). */
static void solo_offer(solo *s, const vss_key *k, uint64_t size,
                       const vss_hash *sum) {
  for (int g = 0; g < 2; g++) {
    vss_buf b = {0};
    vss_msg_digest d;
    memset(&d, 0, sizeof(d));
    d.device = s->ghost[g];
    d.epoch = 1;
    d.from_seq = 0;
    d.to_seq = 1;
    d.flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
    size_t mark;
    assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
    vss_wire_entry e = {.key = *k,
                        .format = VSS_FMT_WEBP,
                        .has = 1,
                        .size = size,
                        .checksum = *sum};
    assert_int_equal(vss_wire_digest_add(&b, &e), 0);
    assert_int_equal(vss_wire_digest_end(&b, mark, 1), 0);
    assert_int_equal(vss_node_recv(s->n, &s->ghost[g], b.data, b.len, 0), 0);
    vss_buf_free(&b);
    solo_drain(s, g, 0);
  }
}

/* A request nobody answers is re-requested from the other source. */
static void test_stalled_request_retried_elsewhere(void **state) {
  (void)state;
  solo s;
  solo_open(&s);
  vss_key k;
  vss_h_key(&k, 20, VSS_KIND_THUMB, "grid@2x");
  uint8_t data[THUMB];
  vss_h_content(&k, THUMB, data);
  vss_hash sum;
  assert_int_equal(vss_checksum_buffer(data, THUMB, &sum), 0);
  solo_offer(&s, &k, THUMB, &sum);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(s.n, &k, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, 0), 0);
  vss_msg_xfer_get g0 = solo_drain(&s, 0, 0), g1 = solo_drain(&s, 1, 0);
  int first = g0.req_id ? 0 : 1;
  vss_msg_xfer_get got = first == 0 ? g0 : g1;
  assert_true(got.req_id != 0);
  assert_int_equal(got.length, THUMB);
  assert_int_equal(got.flags & VSS_GET_FOREGROUND, VSS_GET_FOREGROUND);
  /* Silence: at the expiry the other ghost is asked. */
  vss_time t = vss_node_get_expiry(s.n);
  assert_true(t != VSS_TIME_UNSET && t < 5 * S);
  assert_int_equal(vss_node_handle_expiry(s.n, t), 0);
  vss_msg_xfer_get again = solo_drain(&s, 1 - first, t);
  assert_true(again.req_id != 0 && again.req_id != got.req_id);
  assert_int_equal(solo_count(&s, VSS_EV_RETRY), 1);
  /* The late answer from the first is ignored; the second's lands. */
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_xfer_data(&b, got.req_id, 0, data, THUMB),
                   0);
  assert_int_equal(vss_node_recv(s.n, &s.ghost[first], b.data, b.len, t), 0);
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, again.req_id, 0, data, THUMB),
                   0);
  assert_int_equal(
      vss_node_recv(s.n, &s.ghost[1 - first], b.data, b.len, t + MS), 0);
  vss_buf_free(&b);
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_DONE), 1);
  vss_resolution r;
  assert_int_equal(vss_node_resolve(s.n, &k, VSS_FMT_WEBP,
                                    VSS_RESOLVE_LOCAL_ONLY, &r, t + MS),
                   0);
  assert_int_equal(r.kind, VSS_RESOLVED_LOCAL);
  solo_close(&s);
}

/* Malformed or out-of-place XFER frames: negative rc, nothing recorded. */
static void test_malformed_xfer_frames(void **state) {
  (void)state;
  solo s;
  solo_open(&s);
  vss_key k;
  vss_h_key(&k, 21, VSS_KIND_THUMB, "grid@2x");
  uint8_t data[THUMB];
  vss_h_content(&k, THUMB, data);
  vss_hash sum;
  assert_int_equal(vss_checksum_buffer(data, THUMB, &sum), 0);
  solo_offer(&s, &k, THUMB, &sum);
  uint64_t job;
  assert_int_equal(vss_node_fetch(s.n, &k, VSS_FMT_WEBP, 0, &job, 0), 0);
  vss_msg_xfer_get g0 = solo_drain(&s, 0, 0), g1 = solo_drain(&s, 1, 0);
  int src = g0.req_id ? 0 : 1;
  uint32_t id = src == 0 ? g0.req_id : g1.req_id;
  vss_buf b = {0};
  /* Truncated frames. */
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, 0, data, 100), 0);
  for (size_t cut = 0; cut < b.len; cut += 7)
    assert_true(vss_node_recv(s.n, &s.ghost[src], b.data, cut, 0) < 0);
  /* DATA overlapping bytes already received. */
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, 0, data, 100), 0);
  assert_int_equal(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0), 0);
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, 50, data + 50, 100), 0);
  assert_true(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0) < 0);
  /* DATA past the end of what was asked. */
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, THUMB, data, 1), 0);
  assert_true(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0) < 0);
  /* More bytes than asked for. */
  uint8_t *big = calloc(1, THUMB + 10);
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, 100, big, THUMB), 0);
  assert_true(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0) < 0);
  free(big);
  /* The other ghost answering a request it was not sent. */
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, 0, data, 100), 0);
  assert_true(vss_node_recv(s.n, &s.ghost[1 - src], b.data, b.len, 0) < 0);
  /* META for a data request. */
  b.len = 0;
  vss_hash ch;
  vss_hash_bytes(data, THUMB, &ch);
  assert_int_equal(vss_wire_encode_xfer_meta(&b, id, THUMB, &sum, &ch, 1), 0);
  assert_true(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0) < 0);
  /* A bad chunk (one flipped byte) is CHUNK_BAD, not recorded. */
  data[THUMB / 2] ^= 1;
  b.len = 0;
  assert_int_equal(
      vss_wire_encode_xfer_data(&b, id, 100, data + 100, THUMB - 100), 0);
  assert_int_equal(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0), 0);
  data[THUMB / 2] ^= 1;
  assert_int_equal(solo_count(&s, VSS_EV_CHUNK_BAD), 1);
  /* Re-requested from the other ghost at once. A hole in its answer (a
   * lost frame) is not an attack: the chunk is asked for again. */
  vss_msg_xfer_get again = solo_drain(&s, 1 - src, 0);
  assert_true(again.req_id != 0);
  b.len = 0;
  assert_int_equal(
      vss_wire_encode_xfer_data(&b, again.req_id, 1000, data + 1000, 100), 0);
  assert_int_equal(vss_node_recv(s.n, &s.ghost[1 - src], b.data, b.len, 0), 0);
  /* One retry after the bad chunk; after the hole the chunk waits for
   * its backoff on the clean ghost rather than go to the one that sent
   * bad bytes (blamed beyond the chunk: vss_est_blame). */
  assert_int_equal(solo_count(&s, VSS_EV_RETRY), 1);
  /* Answers to abandoned requests are ignored. */
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_data(&b, id, 0, data, THUMB), 0);
  assert_int_equal(vss_node_recv(s.n, &s.ghost[src], b.data, b.len, 0), 0);
  /* Random garbage with an XFER type byte never crashes. */
  for (int t = VSS_MSG_XFER_GET; t <= VSS_MSG_XFER_CANCEL; t++) {
    for (int i = 0; i < 200; i++) {
      uint8_t f[64];
      for (size_t j = 0; j < sizeof(f); j++)
        f[j] = (uint8_t)(i * 31 + j * 7 + t);
      uint32_t len = (uint32_t)(6 + i % 50);
      f[0] = (uint8_t)(len - 4);
      f[1] = f[2] = f[3] = 0;
      f[4] = VSS_PROTO_VERSION;
      f[5] = (uint8_t)t;
      (void)vss_node_recv(s.n, &s.ghost[src], f, len, 0);
    }
  }
  vss_buf_free(&b);
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_DONE), 0);
  vss_resolution r;
  assert_int_equal(
      vss_node_resolve(s.n, &k, VSS_FMT_WEBP, VSS_RESOLVE_LOCAL_ONLY, &r, 0),
      0);
  assert_int_equal(r.kind, VSS_RESOLVED_PENDING); /* still fetching */
  assert_int_equal(solo_count(&s, VSS_EV_CHUNK_BAD), 1);
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_FAILED), 0);
  assert_int_equal(vss_store_get_sidecar(s.store, &k, &(vss_sidecar_row){0}),
                   VSS_ERR_NOT_FOUND);
  solo_close(&s);
}

/* Serving: a GET for a key we do not hold, or out of range, is answered
 * with XFER_ERROR; a good one with DATA, foreground first. */
static vss_msg solo_answer(solo *s, const vss_msg_xfer_get *g, vss_buf *keep) {
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_xfer_get(&b, g), 0);
  assert_int_equal(vss_node_recv(s->n, &s->ghost[0], b.data, b.len, 0), 0);
  vss_buf_free(&b);
  vss_outmsg out;
  vss_msg m;
  memset(&m, 0, sizeof(m));
  if (vss_node_next_send(s->n, &s->ghost[0], &out, 0) == 1) {
    keep->len = 0;
    assert_int_equal(vss_buf_put(keep, out.data, out.len), 0);
    assert_int_equal(vss_wire_decode(keep->data, keep->len, &m), 0);
  }
  return m;
}

static void test_serve_errors_and_data(void **state) {
  (void)state;
  solo s;
  solo_open(&s);
  vss_key k, other;
  vss_h_key(&k, 22, VSS_KIND_THUMB, "grid@2x");
  vss_h_key(&other, 23, VSS_KIND_THUMB, "grid@2x");
  uint8_t data[THUMB];
  vss_h_content(&k, THUMB, data);
  assert_int_equal(vss_node_add_local(s.n, &k, VSS_FMT_WEBP, data, THUMB, 0),
                   0);
  solo_drain(&s, 0, 0);
  vss_buf keep = {0};
  vss_msg_xfer_get g = {.req_id = 5,
                        .key = other,
                        .format = VSS_FMT_WEBP,
                        .offset = 0,
                        .length = 1000};
  vss_msg m = solo_answer(&s, &g, &keep);
  assert_int_equal(m.type, VSS_MSG_XFER_ERROR);
  assert_int_equal(m.u.error.req_id, 5);
  assert_int_equal(m.u.error.code, VSS_ERR_NOT_FOUND);
  /* Held, but asked in another format. */
  g.key = k;
  g.format = VSS_FMT_JSON;
  m = solo_answer(&s, &g, &keep);
  assert_int_equal(m.type, VSS_MSG_XFER_ERROR);
  assert_int_equal(m.u.error.code, VSS_ERR_NOT_FOUND);
  /* Past the end. */
  g.format = VSS_FMT_WEBP;
  g.offset = THUMB - 10;
  g.length = 11;
  m = solo_answer(&s, &g, &keep);
  assert_int_equal(m.type, VSS_MSG_XFER_ERROR);
  assert_int_equal(m.u.error.code, VSS_ERR_INVALID);
  /* META: the hash list checks against the checksum. */
  g.offset = 0;
  g.length = 0;
  g.flags = VSS_GET_META;
  m = solo_answer(&s, &g, &keep);
  assert_int_equal(m.type, VSS_MSG_XFER_META);
  assert_int_equal(m.u.meta.size, THUMB);
  assert_int_equal(m.u.meta.nchunks, 1);
  vss_hash sum, hl[1];
  memcpy(hl, m.u.meta.hashes, sizeof(hl));
  vss_checksum_of_chunks(hl, 1, &sum);
  assert_true(vss_hash_eq(&sum, &m.u.meta.checksum));
  /* A background GET, then a foreground one: the foreground DATA comes
   * first, and a cancelled GET sends nothing. */
  vss_msg_xfer_get bg = {.req_id = 7,
                         .key = k,
                         .format = VSS_FMT_WEBP,
                         .offset = 0,
                         .length = THUMB};
  vss_msg_xfer_get fg = bg;
  fg.req_id = 8;
  fg.flags = VSS_GET_FOREGROUND;
  vss_msg_xfer_get bg2 = bg;
  bg2.req_id = 9;
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_xfer_get(&b, &bg), 0);
  assert_int_equal(vss_wire_encode_xfer_get(&b, &bg2), 0);
  assert_int_equal(vss_wire_encode_xfer_get(&b, &fg), 0);
  size_t off = 0;
  for (int i = 0; i < 3; i++) {
    size_t flen;
    assert_int_equal(vss_wire_frame_len(b.data + off, b.len - off, &flen), 0);
    assert_int_equal(vss_node_recv(s.n, &s.ghost[0], b.data + off, flen, 0), 0);
    off += flen;
  }
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_cancel(&b, 9), 0);
  assert_int_equal(vss_node_recv(s.n, &s.ghost[0], b.data, b.len, 0), 0);
  vss_buf_free(&b);
  uint32_t order[4];
  int nd = 0;
  vss_outmsg out;
  while (vss_node_next_send(s.n, &s.ghost[0], &out, 0) == 1) {
    vss_msg d;
    assert_int_equal(vss_wire_decode(out.data, out.len, &d), 0);
    if (d.type != VSS_MSG_XFER_DATA) continue;
    assert_true(nd < 4);
    order[nd++] = d.u.data.req_id;
    assert_int_equal(d.u.data.len, THUMB);
    assert_memory_equal(d.u.data.data, data, THUMB);
  }
  assert_int_equal(nd, 2);
  assert_int_equal(order[0], 8);
  assert_int_equal(order[1], 7);
  assert_int_equal(solo_count(&s, VSS_EV_SERVED), 2);
  vss_buf_free(&keep);
  solo_close(&s);
}

/* ---- chunk-hash lists kept with the sidecar ---------------------------- */

/* Deterministic content of key and its two-level hashes (caller frees
 * both). */
static uint8_t *content_hashes(const vss_key *k, uint64_t size, vss_hash *sum,
                               vss_hash **hs, uint64_t *n) {
  uint8_t *data = malloc(size);
  assert_non_null(data);
  vss_h_content(k, size, data);
  vss_hasher *h;
  assert_int_equal(vss_hasher_new(&h), 0);
  assert_int_equal(vss_hasher_update(h, data, size), 0);
  assert_int_equal(vss_hasher_final(h, sum, hs, n), 0);
  vss_hasher_del(h);
  return data;
}

/* Ghost 0 asks for key's chunk-hash list; the META that comes back must
 * be hs[n]. */
static void solo_check_meta(solo *s, const vss_key *k, vss_format fmt,
                            const vss_hash *hs, uint64_t n) {
  solo_drain(s, 0, 0); /* HELLO, digests */
  vss_buf keep = {0};
  vss_msg_xfer_get g = {
      .req_id = 77, .key = *k, .format = fmt, .flags = VSS_GET_META};
  vss_msg m = solo_answer(s, &g, &keep);
  assert_int_equal(m.type, VSS_MSG_XFER_META);
  assert_int_equal(m.u.meta.nchunks, n);
  assert_memory_equal(m.u.meta.hashes, hs, n * sizeof(*hs));
  vss_buf_free(&keep);
}

/* The GETs the node sent ghost g, appended to q (returns how many). */
static size_t solo_gets(solo *s, int g, vss_time now, vss_msg_xfer_get *q,
                        size_t cap) {
  size_t n = 0;
  vss_outmsg out;
  while (vss_node_next_send(s->n, &s->ghost[g], &out, now) == 1) {
    vss_msg m;
    assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
    if (m.type != VSS_MSG_XFER_GET) continue;
    assert_true(n < cap);
    q[n++] = m.u.get;
  }
  return n;
}

/* Ghost g answers a GET with the META hs[n] and/or the bytes asked. */
static void solo_reply(solo *s, int g, const vss_msg_xfer_get *get,
                       const uint8_t *data, uint64_t size, const vss_hash *sum,
                       const vss_hash *hs, uint64_t n, vss_time now) {
  vss_buf b = {0};
  if (get->flags & VSS_GET_META)
    assert_int_equal(
        vss_wire_encode_xfer_meta(&b, get->req_id, size, sum, hs, n), 0);
  if (get->length)
    assert_int_equal(vss_wire_encode_xfer_data(&b, get->req_id, get->offset,
                                               data + get->offset, get->length),
                     0);
  for (size_t off = 0; off < b.len;) {
    size_t flen;
    assert_int_equal(vss_wire_frame_len(b.data + off, b.len - off, &flen), 0);
    assert_int_equal(vss_node_recv(s->n, &s->ghost[g], b.data + off, flen, now),
                     0);
    off += flen;
  }
  vss_buf_free(&b);
}

/* Timers due by t, in order. */
static void solo_tick(solo *s, vss_time t) {
  for (int guard = 0; guard < 100000; guard++) {
    vss_time e = vss_node_get_expiry(s->n);
    if (e > t) return;
    assert_int_equal(vss_node_handle_expiry(s->n, e), 0);
  }
  fail_msg("timers do not advance");
}

/* The server answers META from the list it stored with the sidecar -
 * recorded from bytes, from a committed blob, or fetched - and reads no
 * blob to do it. A row without a list (older data) gets it computed once
 * and kept. */
static void test_meta_from_stored_list(void **state) {
  (void)state;
  solo s;
  solo_open(&s);
  const uint64_t size = 5 * VSS_CHUNK_SIZE + 100; /* 6 chunks */
  vss_key k[4];
  vss_hash sum[4], *hs[4], got[6];
  uint64_t n[4], gn;
  uint8_t *data[4];
  for (int i = 0; i < 4; i++) {
    vss_h_key(&k[i], 40 + (uint32_t)i, VSS_KIND_PROXY, "1080p");
    data[i] = content_hashes(&k[i], size, &sum[i], &hs[i], &n[i]);
    assert_int_equal(n[i], 6);
  }
  /* Recorded from bytes: hashed in memory, nothing read back. */
  assert_int_equal(
      vss_node_add_local(s.n, &k[0], VSS_FMT_MP4, data[0], size, 0), 0);
  assert_int_equal(vss_store_get_chunks(s.store, &k[0], got, 6, &gn), 0);
  assert_memory_equal(got, hs[0], sizeof(got));
  assert_int_equal(s.cb->reads, 0);
  solo_check_meta(&s, &k[0], VSS_FMT_MP4, hs[0], 6);
  assert_int_equal(s.cb->reads, 0);

  /* Recorded from a committed blob: read once to hash it, not again. */
  assert_int_equal(vss_blobs_put(s.blobs, &k[1], VSS_FMT_MP4, data[1], size),
                   0);
  s.cb->read_bytes = 0;
  assert_int_equal(vss_node_add_local(s.n, &k[1], VSS_FMT_MP4, NULL, 0, 0), 0);
  assert_int_equal(s.cb->read_bytes, size);
  s.cb->reads = 0;
  solo_check_meta(&s, &k[1], VSS_FMT_MP4, hs[1], 6);
  assert_int_equal(s.cb->reads, 0);

  /* A row from before lists were kept: computed on the first META, then
   * stored for the next time. */
  assert_int_equal(
      vss_node_add_local(s.n, &k[2], VSS_FMT_MP4, data[2], size, 0), 0);
  assert_int_equal(vss_store_put_chunks(s.store, &k[2], NULL, 0), 0);
  s.cb->read_bytes = 0;
  solo_check_meta(&s, &k[2], VSS_FMT_MP4, hs[2], 6);
  assert_int_equal(s.cb->read_bytes, size);
  assert_int_equal(vss_store_get_chunks(s.store, &k[2], got, 6, &gn), 0);
  assert_memory_equal(got, hs[2], sizeof(got));

  /* Fetched from ghost 1: the verified list is stored with the row, and
   * serving it on to ghost 0 reads nothing for the META. */
  solo_offer_from(&s, 1, &k[3], VSS_FMT_MP4, size, &sum[3]);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(s.n, &k[3], VSS_FMT_MP4, VSS_FETCH_FOREGROUND, &job, 0),
      0);
  vss_msg_xfer_get q[64];
  size_t nq = solo_gets(&s, 1, 0, q, 64);
  for (size_t i = 0; i < nq && solo_count(&s, VSS_EV_FETCH_DONE) == 0; i++) {
    solo_reply(&s, 1, &q[i], data[3], size, &sum[3], hs[3], 6, MS);
    nq += solo_gets(&s, 1, MS, q + nq, 64 - nq);
  }
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_DONE), 1);
  assert_int_equal(vss_store_get_chunks(s.store, &k[3], got, 6, &gn), 0);
  assert_memory_equal(got, hs[3], sizeof(got));
  s.cb->reads = 0;
  solo_check_meta(&s, &k[3], VSS_FMT_MP4, hs[3], 6);
  assert_int_equal(s.cb->reads, 0);

  /* Dropping the sidecar drops its list. */
  assert_int_equal(vss_node_remove_local(s.n, &k[3], 2 * MS), 0);
  assert_int_equal(vss_store_get_chunks(s.store, &k[3], got, 6, &gn),
                   VSS_ERR_NOT_FOUND);
  for (int i = 0; i < 4; i++) {
    free(data[i]);
    free(hs[i]);
  }
  solo_close(&s);
}

/* A source that has no stored list hashes the whole sidecar before it
 * answers anything (here at 300 MB/s: 0.22 s for 64 MiB, against a 50 ms
 * request timeout on this 2 ms link). The requester waits for it instead
 * of dropping its only source, and the fetch completes. */
static void test_slow_hashing_source_not_dropped(void **state) {
  (void)state;
  solo s;
  solo_open(&s);
  vss_key k;
  vss_h_key(&k, 50, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 64u << 20;
  vss_hash sum, *hs;
  uint64_t n;
  uint8_t *data = content_hashes(&k, size, &sum, &hs, &n);
  solo_offer_from(&s, 0, &k, VSS_FMT_MP4, size, &sum);
  uint64_t job;
  assert_int_equal(
      vss_node_fetch(s.n, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND, &job, 0), 0);
  enum { CAP = 8192 };
  vss_msg_xfer_get *q = calloc(CAP, sizeof(*q));
  assert_non_null(q);
  size_t nq = solo_gets(&s, 0, 0, q, CAP);
  /* The chunk-hash list is asked for first, alone (no chunk is asked
   * for, nor buffered, before it is verified). */
  assert_true(nq == 1 && (q[0].flags & VSS_GET_META));
  /* The source is busy hashing: nothing comes back until `ready`. */
  const vss_time ready = (vss_time)((double)size / 300e6 * 1e9);
  for (;;) {
    vss_time t = vss_node_get_expiry(s.n);
    if (t > ready) break;
    assert_int_equal(vss_node_handle_expiry(s.n, t), 0);
    nq += solo_gets(&s, 0, t, q + nq, CAP - nq);
  }
  assert_int_equal(solo_count(&s, VSS_EV_SOURCE_DROPPED), 0);
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_FAILED), 0);
  /* Then it answers everything in order, 0.5 ms apart. */
  vss_time t = ready;
  for (size_t i = 0; i < nq && solo_count(&s, VSS_EV_FETCH_DONE) == 0; i++) {
    solo_tick(&s, t);
    solo_reply(&s, 0, &q[i], data, size, &sum, hs, n, t);
    t += MS / 2;
    nq += solo_gets(&s, 0, t, q + nq, CAP - nq);
  }
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_DONE), 1);
  assert_int_equal(solo_count(&s, VSS_EV_SOURCE_DROPPED), 0);
  assert_int_equal(solo_count(&s, VSS_EV_RETRY), 0);
  assert_int_equal(vss_store_get_chunks(s.store, &k, hs, n, &n), 0);
  free(q);
  free(hs);
  free(data);
  solo_close(&s);
}

/* In the harness: a fetched multi-chunk sidecar arrives with its list and
 * keeps it; a holder whose row has none (older data) still serves it,
 * computing the list once; removal takes the list with the row. */
static void test_fetch_keeps_chunk_list(void **state) {
  (void)state;
  vss_h *h = vss_h_new(12);
  vss_node_config c = fx_cfg();
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  fx_node(h, "carol", &c);
  fx_link(h, 0, 1, 100 * MB, 1 * MS, VSS_LINK_ETHERNET, 0);
  fx_link(h, 0, 2, 100 * MB, 1 * MS, VSS_LINK_ETHERNET, 0);
  const uint64_t size = 3u << 20; /* 12 chunks */
  vss_key k, old;
  vss_h_key(&k, 60, VSS_KIND_PROXY, "1080p");
  vss_h_key(&old, 61, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, size), 0);
  assert_int_equal(vss_h_generate(h, 0, &old, VSS_FMT_MP4, size), 0);
  vss_hash a[12], b[12];
  uint64_t n;
  assert_int_equal(vss_store_get_chunks(vss_h_store(h, 0), &k, a, 12, &n), 0);
  assert_int_equal(n, 12);
  /* `old` lost its list, as a row recorded before schema version 2. */
  assert_int_equal(vss_store_put_chunks(vss_h_store(h, 0), &old, NULL, 0), 0);
  vss_h_run_idle(h, 10 * S);

  uint64_t job = fetch(h, 1, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  wait_done(h, 1, job, 10 * S);
  assert_int_equal(vss_store_get_chunks(vss_h_store(h, 1), &k, b, 12, &n), 0);
  assert_memory_equal(a, b, sizeof(a));

  job = fetch(h, 2, &old, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  wait_done(h, 2, job, 10 * S);
  assert_true(fx_holds(h, 2, &old, VSS_FMT_MP4, size));
  assert_int_equal(vss_store_get_chunks(vss_h_store(h, 0), &old, a, 12, &n), 0);
  assert_int_equal(vss_store_get_chunks(vss_h_store(h, 2), &old, b, 12, &n), 0);
  assert_memory_equal(a, b, sizeof(a));

  assert_int_equal(vss_node_remove_local(vss_h_node(h, 1), &k, vss_h_now(h)),
                   0);
  assert_int_equal(vss_store_get_chunks(vss_h_store(h, 1), &k, b, 12, &n),
                   VSS_ERR_NOT_FOUND);
  vss_h_del(h);
}

/* ---- the storage budget ---------------------------------------------- */

/* Ghost g announces n sidecars of `size` bytes (one digest page). */
static void solo_offer_many(solo *s, int g, const vss_key *k, size_t n,
                            uint64_t size) {
  vss_buf b = {0};
  vss_msg_digest d;
  memset(&d, 0, sizeof(d));
  d.device = s->ghost[g];
  d.epoch = 1;
  d.to_seq = n;
  d.flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
  size_t mark;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  uint8_t *data = malloc(size);
  assert_non_null(data);
  for (size_t i = 0; i < n; i++) {
    vss_wire_entry e = {
        .key = k[i], .format = VSS_FMT_WEBP, .has = 1, .size = size};
    vss_h_content(&k[i], size, data);
    assert_int_equal(vss_checksum_buffer(data, size, &e.checksum), 0);
    assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  }
  free(data);
  assert_int_equal(vss_wire_digest_end(&b, mark, (uint32_t)n), 0);
  assert_int_equal(vss_node_recv(s->n, &s->ghost[g], b.data, b.len, 0), 0);
  vss_buf_free(&b);
  solo_drain(s, g, 0);
}

/* Ghost g answers every GET for one-chunk sidecars of `size` bytes until
 * the node asks for nothing more; returns the time reached. */
static vss_time solo_serve_all(solo *s, int g, uint64_t size, vss_time t) {
  enum { CAP = 65536 };
  vss_msg_xfer_get *q = calloc(CAP, sizeof(*q));
  uint8_t *data = malloc(size);
  assert_non_null(q);
  assert_non_null(data);
  size_t nq = solo_gets(s, g, t, q, CAP);
  while (nq) {
    vss_msg_xfer_get get = q[--nq];
    solo_tick(s, t);
    vss_h_content(&get.key, size, data);
    vss_buf b = {0};
    assert_int_equal(
        vss_wire_encode_xfer_data(&b, get.req_id, 0, data, get.length), 0);
    assert_int_equal(vss_node_recv(s->n, &s->ghost[g], b.data, b.len, t), 0);
    vss_buf_free(&b);
    t += 10 * VSS_NS_PER_US;
    nq += solo_gets(s, g, t, q + nq, CAP - nq);
  }
  free(q);
  free(data);
  return t;
}

/* 5,000 foreground fetches with no storage budget never add up what the
 * device holds (an SQL aggregate over every availability row at each job
 * start made a bulk fetch quadratic). With a budget the figure is counted
 * once, then kept up to date through fetches and removals, and still
 * enforced. */
static void test_budget_not_counted_per_job(void **state) {
  (void)state;
  solo s;
  solo_open(&s);
  enum { N = 5000, SIZE = 1000 };
  vss_key *k = calloc(N + 2, sizeof(*k));
  assert_non_null(k);
  for (uint32_t i = 0; i < N + 2; i++)
    vss_h_key(&k[i], 1000 + i, VSS_KIND_THUMB, "grid@1x");
  solo_offer_many(&s, 0, k, N + 2, SIZE);
  uint64_t job;
  for (int i = 0; i < N; i++)
    assert_int_equal(
        vss_node_fetch(s.n, &k[i], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, 0),
        0);
  vss_time t = solo_serve_all(&s, 0, SIZE, MS);
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_DONE), N);
  assert_int_equal(s.cs->calls[CS_COUNT_AVAIL], 0);

  /* A budget: counted once, then kept. */
  vss_node_config cfg = fx_cfg();
  vss_prefetch_policy pol = cfg.prefetch;
  pol.storage_budget = 1000000000;
  assert_int_equal(vss_node_set_policy(s.n, &pol, VSS_STRATEGY_COST, t), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(vss_node_remove_local(s.n, &k[i], t), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(
        vss_node_fetch(s.n, &k[i], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, t),
        0);
  t = solo_serve_all(&s, 0, SIZE, t);
  assert_int_equal(solo_count(&s, VSS_EV_FETCH_DONE), N + 100);
  assert_int_equal(s.cs->calls[CS_COUNT_AVAIL], 1);
  uint64_t count, bytes;
  assert_int_equal(vss_store_count_avail(s.cs->inner, &count, &bytes), 0);
  assert_int_equal(bytes, (uint64_t)N * SIZE);
  assert_int_equal(vss_xfer_budget_used(s.n->xfer), bytes);

  /* Room for one more sidecar, not two: the first one's transfer counts
   * while it runs. */
  pol.storage_budget = bytes + SIZE + SIZE / 2;
  assert_int_equal(vss_node_set_policy(s.n, &pol, VSS_STRATEGY_COST, t), 0);
  assert_int_equal(
      vss_node_fetch(s.n, &k[N], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job, t),
      0);
  assert_int_equal(vss_node_fetch(s.n, &k[N + 1], VSS_FMT_WEBP,
                                  VSS_FETCH_FOREGROUND, &job, t),
                   VSS_ERR_FULL);
  assert_int_equal(vss_xfer_budget_used(s.n->xfer), bytes + SIZE);
  solo_serve_all(&s, 0, SIZE, t);
  assert_int_equal(vss_xfer_budget_used(s.n->xfer), bytes + SIZE);
  assert_int_equal(s.cs->calls[CS_COUNT_AVAIL], 1);
  free(k);
  solo_close(&s);
}

/* ---- many jobs --------------------------------------------------------- */

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starting a job costs the same with 14,000 jobs in flight as with none:
 * looking jobs up by id and finding the next timer used to walk every
 * job (the 16,000th start cost ~10x the first). Compares the CPU time of
 * the first and the last 2,000 starts of one run, so the machine's speed
 * cancels out; then every fetch completes. */
static void test_job_start_cost_flat(void **state) {
  (void)state;
  vss_h *h = vss_h_new(13);
  vss_node_config c = fx_cfg();
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 1, 100 * MB, 1 * MS, VSS_LINK_ETHERNET, 0);
  enum { N = 16000, B = 2000, SIZE = 2000 };
  vss_key *k = calloc(N, sizeof(*k));
  assert_non_null(k);
  for (uint32_t i = 0; i < N; i++) {
    vss_h_key(&k[i], 20000 + i, VSS_KIND_THUMB, "grid@1x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, SIZE), 0);
  }
  vss_h_run_idle(h, 60 * S);
  double first = 0, last = 0;
  for (int i = 0; i < N; i++) {
    double t0 = cpu_seconds();
    fetch(h, 1, &k[i], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND);
    double dt = cpu_seconds() - t0;
    if (i < B) first += dt;
    if (i >= N - B) last += dt;
  }
  printf("# first %d starts %.1f us each, last %d %.1f us each\n", B,
         first / B * 1e6, B, last / B * 1e6);
  assert_true(last < 3 * first + 0.005);
  vss_h_run_idle(h, vss_h_now(h) + 60 * S);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_DONE, 0), N);
  free(k);
  vss_h_del(h);
}

/* Same seed, same run: every event of both nodes, with lossy links
 * (stalls, retries, backoff timers) and a few hundred jobs at once. */
static vss_h *timer_run(void) {
  vss_h *h = vss_h_new(14);
  vss_node_config c = fx_cfg();
  for (int i = 0; i < 3; i++)
    fx_node(h, "n", &c);
  for (int i = 0; i < 2; i++) {
    vss_h_link_opts o = {.rate = 20 * MB, .delay = 3 * MS, .loss = 0.03};
    assert_int_equal(vss_h_link(h, i, 2, &o), 0);
  }
  vss_key k[300], big;
  for (uint32_t i = 0; i < 300; i++) {
    vss_h_key(&k[i], 40000 + i, VSS_KIND_THUMB, "grid@2x");
    assert_int_equal(vss_h_generate(h, i % 2, &k[i], VSS_FMT_WEBP, THUMB), 0);
  }
  vss_h_key(&big, 40999, VSS_KIND_PROXY, "1080p");
  for (int i = 0; i < 2; i++)
    assert_int_equal(vss_h_generate(h, i, &big, VSS_FMT_MP4, 4u << 20), 0);
  for (int round = 0; round < 5; round++) {
    vss_node_gossip_now(vss_h_node(h, 0), vss_h_now(h));
    vss_node_gossip_now(vss_h_node(h, 1), vss_h_now(h));
    vss_h_run_until(h, vss_h_now(h) + 1 * S);
  }
  uint64_t job;
  for (int i = 0; i < 300; i++)
    vss_node_fetch(vss_h_node(h, 2), &k[i], VSS_FMT_WEBP, VSS_FETCH_FOREGROUND,
                   &job, vss_h_now(h));
  vss_node_fetch(vss_h_node(h, 2), &big, VSS_FMT_MP4, 0, &job, vss_h_now(h));
  vss_h_run_until(h, vss_h_now(h) + 30 * S);
  return h;
}

static void test_same_seed_same_run(void **state) {
  (void)state;
  vss_h *a = timer_run(), *b = timer_run();
  for (int node = 0; node < 3; node++) {
    size_t na, nb;
    const vss_event *ea = vss_h_events(a, node, &na);
    const vss_event *eb = vss_h_events(b, node, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
      assert_int_equal(ea[i].type, eb[i].type);
      assert_int_equal(ea[i].at, eb[i].at);
      assert_int_equal(ea[i].job, eb[i].job);
      assert_int_equal(ea[i].rc, eb[i].rc);
      assert_int_equal(ea[i].bytes, eb[i].bytes);
      assert_int_equal(ea[i].count, eb[i].count);
      assert_true(fx_same(&ea[i].peer, &eb[i].peer));
    }
  }
  /* The run did exercise the timers. */
  assert_true(fx_count(a, 2, VSS_EV_RETRY, 0) > 0);
  assert_int_equal(fx_count(a, 2, VSS_EV_FETCH_DONE, 0), 301);
  vss_h_del(a);
  vss_h_del(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cross_device_sidecar_fetch),
      cmocka_unit_test(test_optimal_source),
      cmocka_unit_test(test_multi_source_large),
      cmocka_unit_test(test_no_hints_learns_rates),
      cmocka_unit_test(test_corrupted_chunk_retried),
      cmocka_unit_test(test_corrupt_only_source_fails),
      cmocka_unit_test(test_source_offline_mid_transfer),
      cmocka_unit_test(test_no_source_left_generates),
      cmocka_unit_test(test_no_source_left_fetch_only_fails),
      cmocka_unit_test(test_restart_mid_transfer),
      cmocka_unit_test(test_many_thumbs_pipelined),
      cmocka_unit_test(test_lossy_links_complete),
      cmocka_unit_test(test_stalled_request_retried_elsewhere),
      cmocka_unit_test(test_malformed_xfer_frames),
      cmocka_unit_test(test_serve_errors_and_data),
      cmocka_unit_test(test_meta_from_stored_list),
      cmocka_unit_test(test_slow_hashing_source_not_dropped),
      cmocka_unit_test(test_fetch_keeps_chunk_list),
      cmocka_unit_test(test_budget_not_counted_per_job),
      cmocka_unit_test(test_job_start_cost_flat),
      cmocka_unit_test(test_same_seed_same_run),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
