/*
 * test_xfer_resume.c - transfers that outlive their sources (issue 8,
 * items 4, 16, 17, 18): a source holding thousands of jobs goes down, a
 * source that flaps, a WiFi drop in the middle of a thumbnail prefetch,
 * restarts in the middle of requests.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "xfer_fixture.h"

#include <stdio.h>
#include <unistd.h>

static uint64_t fetch(vss_h *h, int node, const vss_key *k, vss_format fmt,
                      uint32_t flags) {
  uint64_t job = 0;
  assert_int_equal(
      vss_node_fetch(vss_h_node(h, node), k, fmt, flags, &job, vss_h_now(h)),
      0);
  assert_true(job != 0);
  return job;
}

/* ---- item 16: a source that is up 5 s, down 5 s ------------------------ */

/* A 40 MB proxy from a source on a 2 MB/s line that is up 5 s and down
 * 5 s: each up period moves 10 MB. The job keeps its verified chunks
 * while the source is away and resumes from the missing ones, so it
 * completes after four up periods having pulled about 40 MB. (Before:
 * each drop failed the fetch and threw the chunks away; a user asking
 * again never got past 10 MB and pulled 10 MB per period.) */
static void test_flapping_source_completes(void **state) {
  (void)state;
  vss_h *h = vss_h_new(801);
  vss_node_config c = fx_cfg();
  fx_node(h, "server", &c);
  fx_node(h, "laptop", &c);
  fx_link(h, 0, 1, 2 * MB, 20 * MS, VSS_LINK_INTERNET, 0);
  vss_key k;
  vss_h_key(&k, 1, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 40000000;
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 5 * S);
  uint64_t job = fetch(h, 1, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  uint64_t before = vss_h_bytes(h, 0, 1);
  vss_time t0 = vss_h_now(h);
  int done = 0;
  for (int period = 0; period < 20 && !done; period++) {
    vss_h_run_until(h, t0 + (vss_time)(2 * period + 1) * 5 * S);
    done = fx_count(h, 1, VSS_EV_FETCH_DONE, 0) > 0;
    if (done) break;
    assert_int_equal(vss_h_link_set(h, 0, 1, 0), 0);
    vss_h_run_until(h, t0 + (vss_time)(2 * period + 2) * 5 * S);
    assert_int_equal(vss_h_link_set(h, 0, 1, 1), 0);
    /* As a user would: ask again when the fetch has failed. */
    if (fx_count(h, 1, VSS_EV_FETCH_FAILED, 0) > 0 &&
        vss_node_jobs(vss_h_node(h, 1), NULL, 0) == 0)
      job = fetch(h, 1, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  }
  uint64_t pulled = vss_h_bytes(h, 0, 1) - before;
  printf("# done %d after %.1f s, %.1f MB pulled for 40 MB, %zu failures\n",
         done, (double)(vss_h_now(h) - t0) / S, (double)pulled / MB,
         fx_count(h, 1, VSS_EV_FETCH_FAILED, 0));
  assert_true(done);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_FAILED, 0), 0);
  assert_non_null(fx_event(h, 1, VSS_EV_FETCH_DONE, job, 0));
  assert_true(fx_holds(h, 1, &k, VSS_FMT_MP4, size));
  assert_true(fx_ready(h, 1, &k));
  /* Frames and re-requests of what was in flight at each drop only. */
  assert_true(pulled < size + size / 10);
  vss_h_del(h);
}

/* The source goes down for good: the job waits its patience, then fails
 * with NO_SOURCE (not at once, and not never). */
static void test_patience_then_no_source(void **state) {
  (void)state;
  vss_h *h = vss_h_new(802);
  vss_node_config c = fx_cfg();
  c.source_patience = 20 * S;
  fx_node(h, "server", &c);
  fx_node(h, "laptop", &c);
  fx_link(h, 0, 1, 2 * MB, 20 * MS, VSS_LINK_INTERNET, 0);
  vss_key k;
  vss_h_key(&k, 2, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, 8000000), 0);
  vss_h_run_idle(h, 5 * S);
  uint64_t job = fetch(h, 1, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_h_run_until(h, vss_h_now(h) + 1 * S);
  vss_time down = vss_h_now(h);
  assert_int_equal(vss_h_link_set(h, 0, 1, 0), 0);
  vss_h_run_until(h, down + 19 * S);
  assert_null(fx_event(h, 1, VSS_EV_FETCH_FAILED, job, 0));
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 1);
  vss_h_run_until(h, down + 21 * S);
  const vss_event *ev = fx_event(h, 1, VSS_EV_FETCH_FAILED, job, 0);
  assert_non_null(ev);
  assert_int_equal(ev->rc, VSS_ERR_NO_SOURCE);
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 0);
  vss_h_del(h);
}

/* ---- item 4: a source holding 5,000 jobs goes down --------------------- */

enum { MANY = 5000, SMALL = 2000 };

static vss_h *many_jobs(uint64_t seed, vss_key *k, uint64_t *jobs) {
  vss_h *h = vss_h_new(seed);
  vss_node_config c = fx_cfg();
  c.source_patience = 30 * S;
  fx_node(h, "server", &c);
  fx_node(h, "phone", &c);
  /* Slow enough that every job is still transferring at the drop. */
  fx_link(h, 0, 1, 1 * MB, 10 * MS, VSS_LINK_WIFI, 0);
  for (uint32_t i = 0; i < MANY; i++) {
    vss_h_key(&k[i], 40000 + i, VSS_KIND_THUMB, "grid@1x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, SMALL), 0);
  }
  vss_h_run_idle(h, 60 * S);
  for (uint32_t i = 0; i < MANY; i++)
    jobs[i] = fetch(h, 1, &k[i], VSS_FMT_WEBP, 0);
  vss_h_run_until(h, vss_h_now(h) + 200 * MS);
  assert_int_equal(vss_h_link_set(h, 0, 1, 0), 0);
  return h;
}

/* Down for good: every one of the 5,000 jobs ends, with NO_SOURCE,
 * once the patience has run out. (Before: the first 1,024 failed, the
 * other 3,976 hung for ever with no timer.) */
static void test_source_with_5000_jobs_down(void **state) {
  (void)state;
  vss_key *k = calloc(MANY, sizeof(*k));
  uint64_t *jobs = calloc(MANY, sizeof(*jobs));
  assert_non_null(k);
  assert_non_null(jobs);
  vss_h *h = many_jobs(803, k, jobs);
  size_t done = fx_count(h, 1, VSS_EV_FETCH_DONE, 0);
  assert_true(done < MANY / 2);
  vss_h_run_until(h, vss_h_now(h) + 60 * S);
  size_t failed = fx_count(h, 1, VSS_EV_FETCH_FAILED, 0);
  printf("# %zu done before the drop, %zu failed after it\n", done, failed);
  assert_int_equal(done + failed, MANY);
  for (size_t i = 0; i < failed; i++)
    assert_int_equal(fx_event(h, 1, VSS_EV_FETCH_FAILED, 0, i)->rc,
                     VSS_ERR_NO_SOURCE);
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 0);
  vss_h_del(h);
  free(k);
  free(jobs);
}

/* Back within the patience: every job completes from where it was. */
static void test_source_with_5000_jobs_back(void **state) {
  (void)state;
  vss_key *k = calloc(MANY, sizeof(*k));
  uint64_t *jobs = calloc(MANY, sizeof(*jobs));
  assert_non_null(k);
  assert_non_null(jobs);
  vss_h *h = many_jobs(804, k, jobs);
  vss_h_run_until(h, vss_h_now(h) + 10 * S);
  assert_int_equal(vss_h_link_set(h, 0, 1, 1), 0);
  vss_h_run_idle(h, vss_h_now(h) + 120 * S);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_FAILED, 0), 0);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_DONE, 0), MANY);
  for (uint32_t i = 0; i < MANY; i += 97)
    assert_true(fx_holds(h, 1, &k[i], VSS_FMT_WEBP, SMALL));
  vss_h_del(h);
  free(k);
  free(jobs);
}

/* ---- item 17: prefetch across a WiFi drop ------------------------------ */

/* A phone prefetching 20,000 thumbnails over WiFi loses the link for
 * 2 s: the candidates that came up while it was away are set aside and
 * offered again when it is back, so every thumbnail arrives. (Before:
 * they were skipped with NO_SOURCE and never queued again, since the
 * reconnect's delta digest offers nothing new.) */
static void test_prefetch_resumes_after_wifi_drop(void **state) {
  (void)state;
  enum { N = 20000, SZ = 2000 };
  vss_h *h = vss_h_new(805);
  vss_node_config c;
  vss_node_config_default(&c); /* thumbnails eager */
  fx_node(h, "desktop", &c);
  fx_node(h, "phone", &c);
  vss_key *k = calloc(N, sizeof(*k));
  assert_non_null(k);
  for (uint32_t i = 0; i < N; i++) {
    vss_h_key(&k[i], 100000 + i, VSS_KIND_THUMB, "grid@2x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, SZ), 0);
  }
  fx_link(h, 0, 1, 5 * MB, 2 * MS, VSS_LINK_WIFI, 0);
  vss_h_run_until(h, vss_h_now(h) + 3 * S);
  size_t before = fx_count(h, 1, VSS_EV_FETCH_DONE, 0);
  assert_true(before > 0 && before < N);
  assert_int_equal(vss_h_link_set(h, 0, 1, 0), 0);
  vss_h_run_until(h, vss_h_now(h) + 2 * S);
  assert_int_equal(vss_h_link_set(h, 0, 1, 1), 0);
  vss_h_run_idle(h, vss_h_now(h) + 120 * S);
  size_t got = 0;
  for (uint32_t i = 0; i < N; i++)
    got += fx_ready(h, 1, &k[i]);
  printf("# %zu prefetched before the drop, %zu of %d after\n", before, got, N);
  assert_int_equal(got, N);
  assert_true(fx_holds(h, 1, &k[N - 1], VSS_FMT_WEBP, SZ));
  free(k);
  vss_h_del(h);
}

/* ---- items 16 and 18: restarts ---------------------------------------- */

static void tmp_db(char *db) {
  int fd = mkstemp(db);
  assert_true(fd >= 0);
  close(fd);
  unlink(db);
}

static void rm_db(const char *db) {
  char p[256];
  unlink(db);
  snprintf(p, sizeof(p), "%s-wal", db);
  unlink(p);
  snprintf(p, sizeof(p), "%s-shm", db);
  unlink(p);
}

/* A restart half way through a 40 MB proxy: the request resumes by
 * itself (FETCH_RESUMED), from the chunks verified before the restart,
 * so the whole fetch pulls about 40 MB. (Before: the request was
 * forgotten, no event; asked again, it pulled everything again.) */
static void test_restart_keeps_verified_chunks(void **state) {
  (void)state;
  char db[] = "/tmp/vss_resume_XXXXXX";
  tmp_db(db);
  vss_h *h = vss_h_new(806);
  vss_node_config c = fx_cfg();
  fx_node(h, "server", &c);
  vss_h_node_opts o = {.db_path = db, .config = &c};
  assert_int_equal(vss_h_add_node(h, "laptop", &o), 1);
  fx_link(h, 0, 1, 20 * MB, 5 * MS, VSS_LINK_ETHERNET, 0);
  vss_key k;
  vss_h_key(&k, 6, VSS_KIND_PROXY, "1080p");
  const uint64_t size = 40000000;
  assert_int_equal(vss_h_generate(h, 0, &k, VSS_FMT_MP4, size), 0);
  vss_h_run_idle(h, 5 * S);
  uint64_t before = vss_h_bytes(h, 0, 1);
  fetch(h, 1, &k, VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_h_run_until(h, vss_h_now(h) + 1 * S); /* about half */
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_DONE, 0), 0);
  assert_int_equal(vss_h_restart(h, 1), 0);
  vss_event rs, done;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_RESUMED, 0,
                                         vss_h_now(h) + 1 * S, &rs),
                   1);
  assert_true(vss_key_cmp(&rs.key, &k) == 0);
  assert_true(rs.flags & VSS_EVF_FOREGROUND);
  assert_true(rs.bytes > size / 4 && rs.bytes < size);
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, rs.job,
                                         vss_h_now(h) + 30 * S, &done),
                   1);
  uint64_t pulled = vss_h_bytes(h, 0, 1) - before;
  printf("# %.1f MB kept over the restart, %.1f MB pulled for 40 MB\n",
         (double)rs.bytes / MB, (double)pulled / MB);
  assert_true(pulled < size + size / 10);
  assert_true(fx_holds(h, 1, &k, VSS_FMT_MP4, size));
  assert_true(fx_ready(h, 1, &k));
  /* Ended: nothing left to resume at the next start. */
  assert_int_equal(vss_h_restart(h, 1), 0);
  vss_h_run_until(h, vss_h_now(h) + 2 * S);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_RESUMED, 0), 1);
  vss_h_del(h);
  rm_db(db);
}

/* Three requests under way at a restart: one with a source, one nobody
 * has (its query unanswered yet), one whose only source went offline.
 * After the restart each is resumed (FETCH_RESUMED), then ends: the first
 * DONE, the other two FAILED with NO_SOURCE once their patience is out.
 * (Before: no event at all; the application never heard of them.) */
static void test_restart_every_request_ends(void **state) {
  (void)state;
  char db[] = "/tmp/vss_resume_XXXXXX";
  tmp_db(db);
  vss_h *h = vss_h_new(807);
  vss_node_config c = fx_cfg();
  c.source_patience = 20 * S;
  fx_node(h, "server", &c);
  vss_h_node_opts o = {.db_path = db, .config = &c};
  assert_int_equal(vss_h_add_node(h, "laptop", &o), 1);
  fx_node(h, "phone", &c);
  fx_link(h, 0, 1, 10 * MB, 5 * MS, VSS_LINK_ETHERNET, 0);
  fx_link(h, 2, 1, 10 * MB, 5 * MS, VSS_LINK_WIFI, 0);
  vss_key k[3];
  vss_h_key(&k[0], 7, VSS_KIND_PROXY, "1080p");
  vss_h_key(&k[1], 8, VSS_KIND_PROXY, "1080p");
  vss_h_key(&k[2], 9, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_h_generate(h, 0, &k[0], VSS_FMT_MP4, 20000000), 0);
  assert_int_equal(vss_h_generate(h, 2, &k[2], VSS_FMT_MP4, 20000000), 0);
  vss_h_run_idle(h, 5 * S);
  for (int i = 0; i < 3; i++)
    fetch(h, 1, &k[i], VSS_FMT_MP4, VSS_FETCH_FOREGROUND);
  vss_h_run_until(h, vss_h_now(h) + 500 * MS);
  assert_int_equal(vss_h_node_set_online(h, 2, 0), 0);
  vss_h_run_until(h, vss_h_now(h) + 300 * MS);
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 3);
  size_t ev0;
  vss_h_events(h, 1, &ev0);
  assert_int_equal(vss_h_restart(h, 1), 0);
  vss_h_run_until(h, vss_h_now(h) + 60 * S);
  size_t n;
  const vss_event *ev = vss_h_events(h, 1, &n);
  int resumed[3] = {0}, done[3] = {0}, failed[3] = {0};
  for (size_t e = ev0; e < n; e++)
    for (int i = 0; i < 3; i++) {
      if (vss_key_cmp(&ev[e].key, &k[i])) continue;
      resumed[i] += ev[e].type == VSS_EV_FETCH_RESUMED;
      done[i] += ev[e].type == VSS_EV_FETCH_DONE;
      if (ev[e].type == VSS_EV_FETCH_FAILED) {
        failed[i]++;
        assert_int_equal(ev[e].rc, VSS_ERR_NO_SOURCE);
      }
    }
  for (int i = 0; i < 3; i++) {
    printf("# request %d: resumed %d, done %d, failed %d\n", i, resumed[i],
           done[i], failed[i]);
    assert_int_equal(resumed[i], 1);
    assert_int_equal(done[i] + failed[i], 1);
  }
  assert_int_equal(done[0], 1);
  assert_true(fx_holds(h, 1, &k[0], VSS_FMT_MP4, 20000000));
  assert_int_equal(failed[1], 1);
  assert_int_equal(failed[2], 1);
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), NULL, 0), 0);
  vss_h_del(h);
  rm_db(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flapping_source_completes),
      cmocka_unit_test(test_patience_then_no_source),
      cmocka_unit_test(test_source_with_5000_jobs_down),
      cmocka_unit_test(test_source_with_5000_jobs_back),
      cmocka_unit_test(test_prefetch_resumes_after_wifi_drop),
      cmocka_unit_test(test_restart_keeps_verified_chunks),
      cmocka_unit_test(test_restart_every_request_ends),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
