/*
 * test_xfer_admit.c - a holder serving many requesters (issue 8, the
 * fleet-100 internet-prefetch collapse): upload slots, VSS_ERR_BUSY and
 * the requester's backoff without blame; a slow or stalled sole source;
 * the temp-blob bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "xfer_fixture.h"

/* ---- upload slots ----------------------------------------------------- */

typedef struct fleet_stats {
  size_t got, failed, retries, dropped, bad, busy, fg_busy;
} fleet_stats;

static void fleet_count(vss_h *h, int first, int last, const vss_key *k,
                        uint32_t nkeys, uint64_t size, fleet_stats *st) {
  memset(st, 0, sizeof(*st));
  for (int i = first; i <= last; i++) {
    for (uint32_t t = 0; t < nkeys; t++)
      st->got +=
          fx_ready(h, i, &k[t]) && fx_holds(h, i, &k[t], VSS_FMT_WEBP, size);
    st->failed += fx_count(h, i, VSS_EV_FETCH_FAILED, 0);
    st->retries += fx_count(h, i, VSS_EV_RETRY, 0);
    st->dropped += fx_count(h, i, VSS_EV_SOURCE_DROPPED, 0);
    st->bad += fx_count(h, i, VSS_EV_CHUNK_BAD, 0);
    st->busy += fx_count(h, i, VSS_EV_SOURCE_BUSY, 0);
  }
}

/* One holder behind a 5 MB/s uplink (a home line), 50 devices
 * prefetching its 60 thumbnails each over the internet: 135 MB, about
 * 27 s of upload. Without admission every requester keeps a window
 * (>= 1 MiB) queued at the holder: 50 MiB, ten seconds of queue, and
 * every request outlives its timeout - retries, dropped sources, failed
 * prefetches. With upload slots the holder serves a few at a time and
 * tells the rest BUSY: everything arrives verified, no source is
 * dropped or blamed, retries stay a small fraction of the fetches, and
 * the run takes about what the uplink needs. */
static void test_one_holder_fifty_requesters(void **state) {
  (void)state;
  enum { CLIENTS = 50, THUMBS = 60, SZ = 45000 };
  vss_h *h = vss_h_new(8001);
  vss_node_config c;
  vss_node_config_default(&c); /* thumbnails eager */
  /* NOADMIT=1: 64 slots, more than the requesters: no admission (the
   * test then fails: ~600 retries, no BUSY). */
  c.upload_slots = getenv("NOADMIT") ? 64 : 0;
  fx_node(h, "holder", &c);
  c.upload_slots = 0;
  assert_int_equal(vss_h_set_uplink(h, 0, 5 * MB), 0);
  vss_key k[THUMBS];
  for (uint32_t i = 0; i < THUMBS; i++) {
    vss_h_key(&k[i], 800000 + i, VSS_KIND_THUMB, "grid@2x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, SZ), 0);
  }
  for (int i = 1; i <= CLIENTS; i++) {
    char name[16];
    snprintf(name, sizeof(name), "client%d", i);
    fx_node(h, name, &c);
    vss_h_link_opts o = {.rate = 50 * MB,
                         .delay = 15 * MS,
                         .cls = VSS_LINK_INTERNET,
                         .no_hints = 1};
    assert_int_equal(vss_h_link(h, 0, i, &o), 0);
  }
  vss_time t0 = vss_h_now(h);
  fleet_stats st;
  vss_time done_at = 0;
  for (int step = 1; step <= 24 && !done_at; step++) {
    vss_h_run_until(h, t0 + (vss_time)step * 5 * S);
    fleet_count(h, 1, CLIENTS, k, THUMBS, SZ, &st);
    if (st.got == (size_t)CLIENTS * THUMBS) done_at = vss_h_now(h) - t0;
  }
  fleet_count(h, 1, CLIENTS, k, THUMBS, SZ, &st);
  printf("# %zu of %d thumbnails verified by %.0f s, %zu failed, %zu "
         "retries, %zu sources dropped, %zu bad chunks, %zu busy answers\n",
         st.got, CLIENTS * THUMBS, (double)(vss_h_now(h) - t0) / S, st.failed,
         st.retries, st.dropped, st.bad, st.busy);
  assert_int_equal(st.got, CLIENTS * THUMBS);
  assert_int_equal(st.failed, 0);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.bad, 0);
  /* Retries: a small fraction of the fetches (a request that outlived
   * its deadline now and then), not one per fetch. */
  assert_true(st.retries * 20 <= (size_t)CLIENTS * THUMBS);
  /* Admission did the work: requesters were told BUSY... */
  assert_true(st.busy > 0);
  /* ...and the upload took about what the line needs (135 MB at 5 MB/s:
   * 27 s), not a collapse into retries and timeouts. */
  assert_true(done_at > 0 && done_at <= 60 * S);
  vss_h_del(h);
}

/* Two prefetching devices hold the holder's two upload slots (1 MB/s
 * uplink, 2.7 MB each to fetch); a third device's foreground request
 * comes in meanwhile. It is never answered BUSY (a foreground GET takes
 * a slot, closing a background holder's), arrives within a fraction of
 * the prefetches' time, and the prefetches still complete. */
static void test_foreground_preempts_prefetch_slot(void **state) {
  (void)state;
  enum { THUMBS = 60, SZ = 45000 };
  vss_h *h = vss_h_new(8005);
  vss_node_config c;
  vss_node_config_default(&c);
  c.upload_slots = 2;
  fx_node(h, "holder", &c);
  assert_int_equal(vss_h_set_uplink(h, 0, 1 * MB), 0);
  vss_key k[THUMBS + 1];
  for (uint32_t i = 0; i <= THUMBS; i++) {
    vss_h_key(&k[i], 810000 + i, VSS_KIND_THUMB, "grid@2x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, SZ), 0);
  }
  vss_node_config q = fx_cfg(); /* the asking device: no prefetch */
  for (int i = 1; i <= 3; i++) {
    fx_node(h, i < 3 ? "prefetcher" : "user", i < 3 ? &c : &q);
    vss_h_link_opts o = {.rate = 50 * MB,
                         .delay = 10 * MS,
                         .cls = VSS_LINK_INTERNET,
                         .no_hints = 1};
    assert_int_equal(vss_h_link(h, 0, i, &o), 0);
  }
  vss_h_run_until(h, vss_h_now(h) + 1500 * MS); /* slots taken */
  uint64_t job = 0;
  vss_time asked = vss_h_now(h);
  assert_int_equal(vss_node_fetch(vss_h_node(h, 3), &k[THUMBS], VSS_FMT_WEBP,
                                  VSS_FETCH_FOREGROUND, &job, asked),
                   0);
  vss_event ev;
  assert_int_equal(
      vss_h_run_until_event(h, 3, VSS_EV_FETCH_DONE, job, asked + 10 * S, &ev),
      1);
  vss_h_run_until(h, asked + 30 * S);
  fleet_stats st;
  fleet_count(h, 1, 2, k, THUMBS, SZ, &st);
  printf("# foreground fetch in %.0f ms while 2 slots were taken; "
         "prefetchers: %zu of %d, %zu busy answers\n",
         (double)(ev.at - asked) / MS, st.got, 2 * THUMBS, st.busy);
  assert_int_equal(fx_count(h, 3, VSS_EV_SOURCE_BUSY, 0), 0);
  assert_true(fx_holds(h, 3, &k[THUMBS], VSS_FMT_WEBP, SZ));
  /* 45 KB at 1 MB/s shared with at most the two slots' queues. */
  assert_true(ev.at - asked < 2 * S);
  assert_int_equal(st.got, 2 * THUMBS);
  assert_int_equal(st.failed, 0);
  vss_h_del(h);
}

/* ---- a slow or stalled sole source ------------------------------------ */

/* alice holds a 16 MiB proxy, bob fetches it (foreground) over a 10 MB/s
 * link, the only source. Returns the job; the link is alice-bob. */
static uint64_t sole_source(vss_h **out, vss_key *k, uint64_t size,
                            vss_time patience, uint64_t seed) {
  vss_h *h = vss_h_new(seed);
  vss_node_config c = fx_cfg();
  c.source_patience = patience;
  fx_node(h, "alice", &c);
  fx_node(h, "bob", &c);
  fx_link(h, 0, 1, 10 * MB, 5 * MS, VSS_LINK_WIFI, 0);
  vss_h_key(k, 4242, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_h_generate(h, 0, k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 10 * S);
  uint64_t job = 0;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), k, VSS_FMT_MP4,
                                  VSS_FETCH_FOREGROUND, &job, vss_h_now(h)),
                   0);
  assert_true(job != 0);
  *out = h;
  return job;
}

/* The only source becomes 100x slower mid-transfer (10 MB/s -> 100 KB/s,
 * a 256 KiB chunk now takes 2.6 s, longer than any deadline set at the
 * old rate): slow but progressing, it keeps the job, which completes
 * (verified) instead of failing on timeouts. */
static void test_sole_source_slowed_completes(void **state) {
  (void)state;
  vss_h *h;
  vss_key k;
  const uint64_t size = 8u << 20;
  uint64_t job = sole_source(&h, &k, size, 60 * S, 8002);
  vss_h_run_until(h, vss_h_now(h) + 400 * MS); /* ~4 MB of 8 */
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_DONE, job), 0);
  assert_int_equal(vss_h_link_set_rate(h, 0, 1, 0.1 * MB), 0);
  vss_event ev;
  int done = vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, job,
                                   vss_h_now(h) + 300 * S, &ev);
  printf("# slowed source: done %d after %.1f s, %zu retries, %zu failed\n",
         done, (double)ev.duration / S, fx_count(h, 1, VSS_EV_RETRY, job),
         fx_count(h, 1, VSS_EV_FETCH_FAILED, job));
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_FAILED, job), 0);
  assert_int_equal(done, 1);
  assert_true(fx_holds(h, 1, &k, VSS_FMT_MP4, size));
  assert_true(fx_same(&ev.peer, vss_h_device(h, 0)));
  vss_h_del(h);
}

/* The only source stalls for good (the link carries a byte a second):
 * the job waits, backing off, for its patience (20 s here), and fails
 * then - VSS_ERR_TIMEOUT, not before the patience ran out since the
 * last verified chunk. */
static void test_sole_source_stalled_fails_after_patience(void **state) {
  (void)state;
  vss_h *h;
  vss_key k;
  const vss_time patience = 20 * S;
  uint64_t job = sole_source(&h, &k, 8u << 20, patience, 8003);
  vss_h_run_until(h, vss_h_now(h) + 400 * MS);
  assert_int_equal(vss_h_link_set_rate(h, 0, 1, 1.0), 0);
  vss_time stalled_at = vss_h_now(h);
  vss_event ev;
  int failed = vss_h_run_until_event(h, 1, VSS_EV_FETCH_FAILED, job,
                                     stalled_at + 120 * S, &ev);
  printf("# stalled source: failed %d (%s) %.1f s after the stall\n", failed,
         vss_strerror(ev.rc), (double)(ev.at - stalled_at) / S);
  assert_int_equal(failed, 1);
  assert_true(ev.rc == VSS_ERR_TIMEOUT || ev.rc == VSS_ERR_NO_SOURCE);
  /* Not before the patience (the last chunk verified was at most one
   * frame time, 7 ms at 10 MB/s, before the stall)... */
  assert_true(ev.at >= stalled_at + patience - 50 * MS);
  /* ...nor long after it. */
  assert_true(ev.at <= stalled_at + patience + 10 * S);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_DONE, job), 0);
  vss_h_del(h);
}

/* ---- the temp-blob bound ---------------------------------------------- */

/* 1,000 fetches at once of distinct two-chunk sidecars from one holder,
 * with VSS_LIMIT_TEMP_BLOBS = 8: the blob wrapper never sees more than
 * 8 temp blobs open, the bound is used (jobs wait for a slot rather
 * than fail), and every fetch completes with verified bytes. */
static void test_temp_blob_bound(void **state) {
  (void)state;
  enum { N = 1000, BOUND = 8 };
  const uint64_t size = VSS_CHUNK_SIZE + 1000; /* two chunks */
  vss_h *h = vss_h_new(8004);
  vss_node_config c = fx_cfg();
  fx_node(h, "holder", &c);
  c.limits[VSS_LIMIT_TEMP_BLOBS] = BOUND;
  /* A holder serves GETs in order, so a job's two chunks arrive back to
   * back and its temp is open for a moment; 5% frame loss leaves holes
   * that keep a job's temp open while its chunk is asked again behind
   * a window of 128 chunks (what a flaky link does): without the bound
   * dozens of temps are open at once. */
  c.window_min = c.window_max = 32u << 20;
  c.max_retries = 12;
  fx_node(h, "fetcher", &c);
  vss_h_link_opts lo = {
      .rate = 100 * MB, .delay = 1 * MS, .cls = VSS_LINK_ETHERNET};
  assert_int_equal(vss_h_link(h, 0, 1, &lo), 0);
  vss_key *k = calloc(N, sizeof(*k));
  uint64_t *job = calloc(N, sizeof(*job));
  assert_non_null(k);
  assert_non_null(job);
  for (uint32_t i = 0; i < N; i++) {
    vss_h_key(&k[i], 900000 + i, VSS_KIND_EMBEDDINGS, "default");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_MSGPACK, size), 0);
  }
  vss_h_run_idle(h, 30 * S);
  assert_int_equal(vss_h_link_set_loss(h, 0, 1, 0.05), 0);
  for (uint32_t i = 0; i < N; i++)
    assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &k[i], VSS_FMT_MSGPACK, 0,
                                    &job[i], vss_h_now(h)),
                     0);
  vss_time t0 = vss_h_now(h);
  for (int step = 1; step <= 60; step++) {
    vss_h_run_until(h, t0 + (vss_time)step * 5 * S);
    if (fx_count(h, 1, VSS_EV_FETCH_DONE, 0) +
            fx_count(h, 1, VSS_EV_FETCH_FAILED, 0) ==
        N)
      break;
  }
  uint64_t open = 0, most = 0;
  vss_h_temps(h, 1, &open, &most);
  size_t done = fx_count(h, 1, VSS_EV_FETCH_DONE, 0), held = 0;
  for (uint32_t i = 0; i < N; i++)
    held += fx_holds(h, 1, &k[i], VSS_FMT_MSGPACK, size);
  printf("# %zu of %d fetched (%zu verified) in %.1f s, %zu failed, temps "
         "open at most %llu (bound %d), %llu open at the end\n",
         done, N, held, (double)(vss_h_now(h) - t0) / S,
         fx_count(h, 1, VSS_EV_FETCH_FAILED, 0), (unsigned long long)most,
         BOUND, (unsigned long long)open);
  assert_true(most <= BOUND);
  assert_true(most >= BOUND - 1); /* the bound was what limited them */
  assert_int_equal(open, 0);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_FAILED, 0), 0);
  assert_int_equal(done, N);
  assert_int_equal(held, N);
  free(k);
  free(job);
  vss_h_del(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_holder_fifty_requesters),
      cmocka_unit_test(test_foreground_preempts_prefetch_slot),
      cmocka_unit_test(test_sole_source_slowed_completes),
      cmocka_unit_test(test_sole_source_stalled_fails_after_patience),
      cmocka_unit_test(test_temp_blob_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
