/*
 * test_prefetch.c - the prefetch policy: predicates and candidate queues
 * (prefetch.c), and its effect in the harness: eager/lazy/never kinds,
 * max concurrency, storage budget, metered links, foreground first.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "prefetch.h"
#include "xfer_fixture.h"

#include <stdio.h>

#define THUMB 45000u

static vss_prefetch_policy default_policy(void) {
  vss_node_config c;
  vss_node_config_default(&c);
  return c.prefetch;
}

/* ---- unit: predicates and queues ------------------------------------- */

static void test_policy_predicates(void **state) {
  (void)state;
  vss_prefetch_policy p = default_policy();
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_THUMB), VSS_PF_EAGER);
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_OCR), VSS_PF_LAZY);
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_TRANSCRIPT), VSS_PF_LAZY);
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_PROXY), VSS_PF_NONE);
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_EMBEDDINGS), VSS_PF_NONE);
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_COUNT), VSS_PF_NONE);
  /* never wins over eager */
  p.eager_kinds |= VSS_KIND_BIT(VSS_KIND_PROXY);
  assert_int_equal(vss_prefetch_class(&p, VSS_KIND_PROXY), VSS_PF_NONE);

  vss_link_info eth = {.cls = VSS_LINK_ETHERNET};
  vss_link_info cell = {.cls = VSS_LINK_CELLULAR};
  vss_link_info metered = {.cls = VSS_LINK_WIFI, .metered = 1};
  assert_true(vss_prefetch_link_ok(&p, &eth));
  assert_false(vss_prefetch_link_ok(&p, &cell));
  assert_false(vss_prefetch_link_ok(&p, &metered));
  p.allow_metered = 1;
  assert_true(vss_prefetch_link_ok(&p, &metered));

  assert_true(vss_prefetch_fits(&p, 1u << 30, 1u << 30)); /* no budget */
  p.storage_budget = 1000;
  assert_true(vss_prefetch_fits(&p, 400, 600));
  assert_false(vss_prefetch_fits(&p, 401, 600));
  assert_false(vss_prefetch_fits(&p, 2000, 0));
  assert_false(vss_prefetch_fits(&p, 10, UINT64_MAX));
}

static void test_queue_order_and_round_trip(void **state) {
  (void)state;
  vss_prefetch *pf;
  assert_int_equal(vss_prefetch_new(&pf), 0);
  vss_prefetch_policy p = default_policy();
  vss_link_info eth = {.cls = VSS_LINK_ETHERNET};
  vss_link_info cell = {.cls = VSS_LINK_CELLULAR};
  vss_key ocr, thumb, proxy;
  vss_h_key(&ocr, 1, VSS_KIND_OCR, "default");
  vss_h_key(&thumb, 2, VSS_KIND_THUMB, "detail@2x");
  vss_h_key(&proxy, 3, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_prefetch_offer(pf, &p, &eth, &ocr, VSS_FMT_TEXT, 10), 1);
  assert_int_equal(
      vss_prefetch_offer(pf, &p, &eth, &thumb, VSS_FMT_WEBP, THUMB), 1);
  assert_int_equal(vss_prefetch_offer(pf, &p, &eth, &proxy, VSS_FMT_MP4, 9), 0);
  assert_int_equal(
      vss_prefetch_offer(pf, &p, &cell, &thumb, VSS_FMT_WEBP, THUMB), 0);
  assert_int_equal(vss_prefetch_pending(pf, VSS_PF_EAGER), 1);
  assert_int_equal(vss_prefetch_pending(pf, VSS_PF_LAZY), 1);
  vss_pf_cand c;
  /* Eager first, even though the lazy one came earlier. */
  assert_int_equal(vss_prefetch_pop(pf, 1, &c), 1);
  assert_int_equal(c.cls, VSS_PF_EAGER);
  assert_int_equal(vss_key_cmp(&c.key, &thumb), 0);
  assert_int_equal(c.fmt, VSS_FMT_WEBP);
  assert_int_equal(c.size, THUMB);
  /* Lazy only when allowed. */
  assert_int_equal(vss_prefetch_pop(pf, 0, &c), 0);
  assert_int_equal(vss_prefetch_pop(pf, 1, &c), 1);
  assert_int_equal(c.cls, VSS_PF_LAZY);
  assert_int_equal(vss_key_cmp(&c.key, &ocr), 0);
  assert_int_equal(vss_prefetch_pop(pf, 1, &c), 0);
  /* Over-budget single sidecars are never queued. */
  p.storage_budget = 1000;
  assert_int_equal(
      vss_prefetch_offer(pf, &p, &eth, &thumb, VSS_FMT_WEBP, THUMB), 0);
  assert_int_equal(vss_prefetch_offer(pf, &p, &eth, &ocr, VSS_FMT_TEXT, 10), 1);
  vss_prefetch_clear(pf);
  assert_int_equal(vss_prefetch_pending(pf, VSS_PF_LAZY), 0);
  vss_prefetch_del(pf);
}

/* A million offers: O(1) each, FIFO, and the intern table stays small. */
static void test_many_offers_cheap(void **state) {
  (void)state;
  vss_prefetch *pf;
  assert_int_equal(vss_prefetch_new(&pf), 0);
  vss_prefetch_policy p = default_policy();
  vss_link_info eth = {.cls = VSS_LINK_ETHERNET};
  const char *variants[] = {"grid@1x", "grid@2x", "detail@1x", "icon@2x"};
  enum { N = 1000000 };
  vss_key k;
  vss_h_key(&k, 0, VSS_KIND_THUMB, "grid@1x");
  vss_uuid u = k.content;
  for (uint32_t i = 0; i < N; i++) {
    memcpy(u.b, &i, sizeof(i));
    vss_key_set(&k, &u, VSS_KIND_THUMB, variants[i % 4]);
    assert_int_equal(
        vss_prefetch_offer(pf, &p, &eth, &k, VSS_FMT_WEBP, 1000 + i), 1);
  }
  assert_int_equal(vss_prefetch_pending(pf, VSS_PF_EAGER), N);
  vss_pf_cand c;
  for (uint32_t i = 0; i < N; i++) {
    assert_int_equal(vss_prefetch_pop(pf, 0, &c), 1);
    uint32_t got;
    memcpy(&got, c.key.content.b, sizeof(got));
    if (got != i || c.size != 1000 + i ||
        strcmp(c.key.variant, variants[i % 4]) != 0)
      fail_msg("candidate %u out of order", i);
  }
  assert_int_equal(vss_prefetch_pop(pf, 1, &c), 0);
  /* Peers naming endless variants hit the intern cap, not our memory. */
  int refused = 0;
  for (uint32_t i = 0; i < 5000; i++) {
    char v[32];
    snprintf(v, sizeof(v), "v%u", i);
    vss_key_set(&k, &u, VSS_KIND_THUMB, v);
    refused += vss_prefetch_offer(pf, &p, &eth, &k, VSS_FMT_WEBP, 1) == 0;
  }
  assert_true(refused > 0 && refused < 5000);
  vss_prefetch_del(pf);
}

/* ---- in the harness --------------------------------------------------- */

/* The start/done events of bob's prefetch jobs of a kind (VSS_KIND_COUNT:
 * any), to check concurrency. */
static uint32_t max_concurrent_of(vss_h *h, int node, vss_kind kind) {
  size_t n;
  const vss_event *ev = vss_h_events(h, node, &n);
  int64_t cur = 0, max = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(ev[i].flags & VSS_EVF_PREFETCH)) continue;
    if (kind != VSS_KIND_COUNT && ev[i].key.kind != kind) continue;
    if (ev[i].type == VSS_EV_FETCH_STARTED) cur++;
    if (ev[i].type == VSS_EV_FETCH_DONE || ev[i].type == VSS_EV_FETCH_FAILED)
      cur--;
    if (cur > max) max = cur;
  }
  return (uint32_t)max;
}

static vss_h *pair(uint64_t seed, vss_node_config *bob_cfg, vss_link_class cls,
                   int metered) {
  vss_h *h = vss_h_new(seed);
  vss_node_config a = fx_cfg();
  fx_node(h, "alice", &a);
  fx_node(h, "bob", bob_cfg);
  fx_link(h, 0, 1, 100 * MB, 1 * MS, cls, metered);
  return h;
}

static void add_kind(vss_h *h, int node, uint32_t first, uint32_t n,
                     vss_kind kind, const char *variant, vss_format fmt,
                     uint64_t size) {
  for (uint32_t i = 0; i < n; i++) {
    vss_key k;
    vss_h_key(&k, first + i, kind, variant);
    assert_int_equal(vss_h_generate(h, node, &k, fmt, size), 0);
  }
}

static uint32_t held(vss_h *h, int node, uint32_t first, uint32_t n,
                     vss_kind kind, const char *variant, vss_format fmt,
                     uint64_t size) {
  uint32_t c = 0;
  for (uint32_t i = 0; i < n; i++) {
    vss_key k;
    vss_h_key(&k, first + i, kind, variant);
    c += fx_holds(h, node, &k, fmt, size) && fx_ready(h, node, &k);
  }
  return c;
}

/* Default policy: thumbs eager, ocr lazy, proxies never; the 20 thumbs
 * share one batch slot (all in flight at once); lazy ones only after the
 * eager ones. */
static void test_default_policy_in_fleet(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  vss_h *h = pair(1, &c, VSS_LINK_WIFI, 0);
  add_kind(h, 0, 0, 20, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  add_kind(h, 0, 100, 5, VSS_KIND_OCR, "default", VSS_FMT_TEXT, 3000);
  add_kind(h, 0, 200, 2, VSS_KIND_PROXY, "1080p", VSS_FMT_MP4, 1u << 20);
  vss_h_run_idle(h, 60 * S);
  assert_int_equal(
      held(h, 1, 0, 20, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 20);
  assert_int_equal(
      held(h, 1, 100, 5, VSS_KIND_OCR, "default", VSS_FMT_TEXT, 3000), 5);
  assert_int_equal(
      held(h, 1, 200, 2, VSS_KIND_PROXY, "1080p", VSS_FMT_MP4, 1u << 20), 0);
  assert_int_equal(max_concurrent_of(h, 1, VSS_KIND_THUMB), 20);
  assert_int_equal(fx_count(h, 1, VSS_EV_PREFETCH_QUEUED, 0), 25);
  /* No lazy (ocr) job started before the last eager (thumb) one ended. */
  size_t n;
  const vss_event *ev = vss_h_events(h, 1, &n);
  vss_time last_thumb_done = 0, first_ocr_start = VSS_TIME_UNSET;
  for (size_t i = 0; i < n; i++) {
    if (ev[i].type == VSS_EV_FETCH_DONE && ev[i].key.kind == VSS_KIND_THUMB)
      last_thumb_done = ev[i].at;
    if (ev[i].type == VSS_EV_FETCH_STARTED && ev[i].key.kind == VSS_KIND_OCR &&
        first_ocr_start == VSS_TIME_UNSET)
      first_ocr_start = ev[i].at;
  }
  assert_true(first_ocr_start >= last_thumb_done);
  /* Every prefetch is flagged as such. */
  const vss_event *d = fx_event(h, 1, VSS_EV_FETCH_DONE, 0, 0);
  assert_true(d->flags & VSS_EVF_PREFETCH);
  assert_false(d->flags & VSS_EVF_FOREGROUND);
  vss_h_del(h);
}

/* A storage budget is never exceeded; over-budget candidates are skipped
 * with FULL, and foreground fetches over it are refused. */
static void test_storage_budget(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  c.prefetch.storage_budget = 5 * THUMB + THUMB / 2;
  vss_h *h = pair(2, &c, VSS_LINK_ETHERNET, 0);
  add_kind(h, 0, 0, 12, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  vss_h_run_idle(h, 60 * S);
  assert_int_equal(
      held(h, 1, 0, 12, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 5);
  uint64_t count, bytes;
  assert_int_equal(vss_store_count_avail(vss_h_store(h, 1), &count, &bytes), 0);
  assert_true(bytes <= c.prefetch.storage_budget);
  const vss_event *skip = fx_event(h, 1, VSS_EV_PREFETCH_SKIPPED, 0, 0);
  assert_non_null(skip);
  assert_int_equal(skip->rc, VSS_ERR_FULL);
  assert_int_equal(fx_count(h, 1, VSS_EV_PREFETCH_SKIPPED, 0), 7);
  /* Foreground is refused too: the device never exceeds its budget. */
  vss_key k;
  vss_h_key(&k, 11, VSS_KIND_THUMB, "grid@2x");
  uint64_t job;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &k, VSS_FMT_WEBP,
                                  VSS_FETCH_FOREGROUND, &job, vss_h_now(h)),
                   VSS_ERR_FULL);
  vss_h_del(h);
}

/* Batches put many prefetches in flight at once: stored bytes plus the
 * sizes in flight never pass the budget, at any moment. */
static void test_storage_budget_with_batches(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  c.prefetch.storage_budget = 50 * THUMB;
  vss_h *h = vss_h_new(10);
  vss_node_config a = fx_cfg();
  fx_node(h, "alice", &a);
  fx_node(h, "bob", &c);
  add_kind(h, 0, 0, 200, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  fx_link(h, 0, 1, 10 * MB, 25 * MS, VSS_LINK_INTERNET, 0);
  vss_job_info ji[256];
  uint32_t max_jobs = 0;
  for (int step = 0; step < 300; step++) {
    vss_h_run_until(h, vss_h_now(h) + 10 * MS);
    int n = vss_node_jobs(vss_h_node(h, 1), ji, 256);
    assert_true(n <= 256);
    uint64_t count, bytes;
    assert_int_equal(vss_store_count_avail(vss_h_store(h, 1), &count, &bytes),
                     0);
    for (int i = 0; i < n; i++)
      bytes += ji[i].size;
    assert_true(bytes <= c.prefetch.storage_budget);
    if ((uint32_t)n > max_jobs) max_jobs = (uint32_t)n;
  }
  assert_true(max_jobs > 3); /* batched, yet within the budget */
  assert_int_equal(
      held(h, 1, 0, 200, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 50);
  assert_int_equal(fx_count(h, 1, VSS_EV_PREFETCH_SKIPPED, 0), 150);
  vss_h_del(h);
}

/* Over a metered link nothing is prefetched, but a foreground request
 * goes through. */
static void test_metered_blocks_prefetch_not_foreground(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  vss_h *h = pair(3, &c, VSS_LINK_WIFI, 1);
  add_kind(h, 0, 0, 10, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  vss_h_run_idle(h, 60 * S);
  assert_int_equal(
      held(h, 1, 0, 10, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 0);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_STARTED, 0), 0);
  vss_key k;
  vss_h_key(&k, 3, VSS_KIND_THUMB, "grid@2x");
  uint64_t job;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &k, VSS_FMT_WEBP,
                                  VSS_FETCH_FOREGROUND, &job, vss_h_now(h)),
                   0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, job,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  assert_true(fx_holds(h, 1, &k, VSS_FMT_WEBP, THUMB));
  /* Cellular is not an allowed class by default either. */
  vss_node_config c2;
  vss_node_config_default(&c2);
  vss_h *h2 = pair(4, &c2, VSS_LINK_CELLULAR, 0);
  add_kind(h2, 0, 0, 3, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  vss_h_run_idle(h2, 60 * S);
  assert_int_equal(fx_count(h2, 1, VSS_EV_FETCH_STARTED, 0), 0);
  /* Allowing metered links lets it through. */
  c.prefetch.allow_metered = 1;
  assert_int_equal(vss_node_set_policy(vss_h_node(h, 1), &c.prefetch,
                                       c.strategy, vss_h_now(h)),
                   0);
  add_kind(h, 0, 50, 2, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  vss_h_run_idle(h, vss_h_now(h) + 60 * S);
  assert_int_equal(
      held(h, 1, 50, 2, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 2);
  vss_h_del(h2);
  vss_h_del(h);
}

/* A foreground thumbnail requested during a large prefetch gets its bytes
 * first: done long before the prefetch. */
static void test_foreground_overtakes_prefetch(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  c.prefetch.eager_kinds = VSS_KIND_BIT(VSS_KIND_PROXY);
  c.prefetch.never_kinds = 0;
  vss_h *h = pair(5, &c, VSS_LINK_ETHERNET, 0);
  vss_key big, thumb;
  vss_h_key(&big, 1, VSS_KIND_PROXY, "1080p");
  vss_h_key(&thumb, 2, VSS_KIND_THUMB, "grid@2x");
  const uint64_t size = 100u << 20; /* ~1 s at 100 MB/s */
  assert_int_equal(vss_h_generate(h, 0, &thumb, VSS_FMT_WEBP, THUMB), 0);
  assert_int_equal(vss_h_generate(h, 0, &big, VSS_FMT_MP4, size), 0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_STARTED, 0,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  assert_int_equal(vss_key_cmp(&ev.key, &big), 0);
  uint64_t pf_job = ev.job;
  vss_h_run_until(h, vss_h_now(h) + 200 * MS);
  vss_time t0 = vss_h_now(h);
  uint64_t job;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &thumb, VSS_FMT_WEBP,
                                  VSS_FETCH_FOREGROUND, &job, t0),
                   0);
  assert_int_equal(
      vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, job, t0 + 5 * S, &ev), 1);
  vss_time fg_latency = ev.at - t0;
  /* About one RTT, one prefetch slice ahead and the thumb itself. */
  assert_true(fg_latency < 10 * MS);
  assert_int_equal(fx_count(h, 1, VSS_EV_FETCH_DONE, pf_job), 0);
  assert_int_equal(
      vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, pf_job, t0 + 30 * S, &ev),
      1);
  assert_true(ev.at - t0 > 50 * fg_latency);
  assert_true(ev.flags & VSS_EVF_PREFETCH);
  assert_true(fx_holds(h, 1, &big, VSS_FMT_MP4, size));
  vss_h_del(h);
}

/* A foreground fetch of a key being prefetched joins the job and lifts
 * it to foreground. */
static void test_foreground_joins_prefetch(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  c.prefetch.eager_kinds = VSS_KIND_BIT(VSS_KIND_PROXY);
  c.prefetch.never_kinds = 0;
  vss_h *h = pair(6, &c, VSS_LINK_ETHERNET, 0);
  vss_key big;
  vss_h_key(&big, 1, VSS_KIND_PROXY, "1080p");
  assert_int_equal(vss_h_generate(h, 0, &big, VSS_FMT_MP4, 20u << 20), 0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_STARTED, 0,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  uint64_t job;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &big, VSS_FMT_MP4,
                                  VSS_FETCH_FOREGROUND, &job, vss_h_now(h)),
                   0);
  assert_int_equal(job, ev.job);
  vss_job_info ji[4];
  assert_int_equal(vss_node_jobs(vss_h_node(h, 1), ji, 4), 1);
  assert_int_equal(ji[0].flags, VSS_EVF_FOREGROUND);
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, job,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  assert_true(ev.flags & VSS_EVF_FOREGROUND);
  vss_h_del(h);
}

/* Did a prefetch of a proxy ever run beside one of a thumbnail? */
static int large_beside_small(vss_h *h, int node) {
  size_t n;
  const vss_event *ev = vss_h_events(h, node, &n);
  int64_t large = 0, small = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(ev[i].flags & VSS_EVF_PREFETCH)) continue;
    int64_t *cur = ev[i].key.kind == VSS_KIND_PROXY ? &large : &small;
    if (ev[i].type == VSS_EV_FETCH_STARTED) (*cur)++;
    if (ev[i].type == VSS_EV_FETCH_DONE || ev[i].type == VSS_EV_FETCH_FAILED)
      (*cur)--;
    if (large > 0 && small > 0) return 1;
  }
  return 0;
}

/* max_concurrent counts slots: a sidecar over one chunk takes a slot of
 * its own, small ones share a batch slot. With 3 slots, at most 3 large
 * prefetches run at once; with 1, a large one never runs beside another
 * or beside a batch of thumbnails. */
static void test_max_concurrent_counts_slots(void **state) {
  (void)state;
  for (uint32_t slots = 1; slots <= 3; slots += 2) {
    vss_node_config c;
    vss_node_config_default(&c);
    c.prefetch.eager_kinds |= VSS_KIND_BIT(VSS_KIND_PROXY);
    c.prefetch.never_kinds = 0;
    c.prefetch.max_concurrent = slots;
    vss_h *h = pair(8 + slots, &c, VSS_LINK_ETHERNET, 0);
    const uint64_t big = 3 * VSS_CHUNK_SIZE;
    add_kind(h, 0, 0, 40, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
    add_kind(h, 0, 100, 8, VSS_KIND_PROXY, "1080p", VSS_FMT_MP4, big);
    add_kind(h, 0, 200, 40, VSS_KIND_THUMB, "grid@1x", VSS_FMT_WEBP, THUMB);
    vss_h_run_idle(h, 60 * S);
    assert_int_equal(
        held(h, 1, 0, 40, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 40);
    assert_int_equal(
        held(h, 1, 100, 8, VSS_KIND_PROXY, "1080p", VSS_FMT_MP4, big), 8);
    assert_int_equal(
        held(h, 1, 200, 40, VSS_KIND_THUMB, "grid@1x", VSS_FMT_WEBP, THUMB),
        40);
    uint32_t large = max_concurrent_of(h, 1, VSS_KIND_PROXY);
    assert_true(large <= slots && large >= (slots > 1 ? 2 : 1));
    assert_true(max_concurrent_of(h, 1, VSS_KIND_THUMB) > slots);
    if (slots == 1) /* one slot: large and small never overlap */
      assert_false(large_beside_small(h, 1));
    vss_h_del(h);
  }
}

/* Prefetch time of n thumbnails: first prefetch start to last commit. */
static vss_time prefetch_span(vss_h *h, int node, size_t want) {
  size_t n, done = 0;
  const vss_event *ev = vss_h_events(h, node, &n);
  vss_time first = VSS_TIME_UNSET, last = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(ev[i].flags & VSS_EVF_PREFETCH)) continue;
    if (ev[i].type == VSS_EV_FETCH_STARTED && ev[i].at < first)
      first = ev[i].at;
    if (ev[i].type == VSS_EV_FETCH_DONE) {
      last = ev[i].at;
      done++;
    }
  }
  return done == want && first != VSS_TIME_UNSET ? last - first : 0;
}

/* Many small sidecars over a long fat pipe must not pay a round trip
 * each: 500 thumbnails over 10 MB/s with a 50 ms RTT come within 1.3x
 * of bytes / rate plus two RTTs (2.35 s). Measured: 9.107 s (3.88x) when
 * max_concurrent counted jobs (3 thumbnails in flight), 2.301 s (0.98x)
 * with batch slots. */
static void test_thumbnails_pipelined_over_internet(void **state) {
  (void)state;
  enum { N = 500 };
  const double rate = 10 * MB;
  const vss_time rtt = 50 * MS;
  vss_node_config c;
  vss_node_config_default(&c);
  vss_h *h = vss_h_new(7);
  vss_node_config a = fx_cfg();
  fx_node(h, "alice", &a);
  fx_node(h, "bob", &c);
  add_kind(h, 0, 0, N, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  fx_link(h, 0, 1, rate, rtt / 2, VSS_LINK_INTERNET, 0);
  vss_h_run_idle(h, 120 * S);
  assert_int_equal(
      held(h, 1, 0, N, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), N);
  vss_time took = prefetch_span(h, 1, N);
  assert_true(took > 0);
  double ideal = (double)N * THUMB / rate + 2.0 * (double)rtt / 1e9;
  double secs = (double)took / 1e9;
  printf("# %d thumbnails over 10 MB/s, 50 ms RTT: %.3f s, ideal %.3f s, "
         "ratio %.2f\n",
         N, secs, ideal, secs / ideal);
  assert_true(secs <= 1.3 * ideal);
  vss_h_del(h);
}

/* Batched prefetch keeps a whole window of thumbnails queued at the
 * source; a foreground request still goes ahead of all of it: about one
 * RTT plus its own bytes, not the ~200 ms of prefetch queued before it. */
static void test_foreground_overtakes_batched_prefetch(void **state) {
  (void)state;
  vss_node_config c;
  vss_node_config_default(&c);
  vss_h *h = vss_h_new(9);
  vss_node_config a = fx_cfg();
  fx_node(h, "alice", &a);
  fx_node(h, "bob", &c);
  add_kind(h, 0, 0, 300, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB);
  vss_key emb; /* never prefetched by default */
  vss_h_key(&emb, 1000, VSS_KIND_EMBEDDINGS, "all-MiniLM-L6-v2");
  assert_int_equal(vss_h_generate(h, 0, &emb, VSS_FMT_MSGPACK, THUMB), 0);
  fx_link(h, 0, 1, 10 * MB, 25 * MS, VSS_LINK_INTERNET, 0);
  vss_event ev;
  assert_int_equal(vss_h_run_until_event(h, 1, VSS_EV_FETCH_STARTED, 0,
                                         vss_h_now(h) + 5 * S, &ev),
                   1);
  vss_h_run_until(h, vss_h_now(h) + 500 * MS);
  assert_true(fx_count(h, 1, VSS_EV_FETCH_DONE, 0) < 200);
  vss_time t0 = vss_h_now(h);
  uint64_t job;
  assert_int_equal(vss_node_fetch(vss_h_node(h, 1), &emb, VSS_FMT_MSGPACK,
                                  VSS_FETCH_FOREGROUND, &job, t0),
                   0);
  assert_int_equal(
      vss_h_run_until_event(h, 1, VSS_EV_FETCH_DONE, job, t0 + 5 * S, &ev), 1);
  printf("# foreground during batched prefetch: %.1f ms\n",
         (double)(ev.at - t0) / 1e6);
  assert_true(ev.at - t0 < 80 * MS);
  vss_h_run_idle(h, vss_h_now(h) + 60 * S);
  assert_int_equal(
      held(h, 1, 0, 300, VSS_KIND_THUMB, "grid@2x", VSS_FMT_WEBP, THUMB), 300);
  vss_h_del(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_predicates),
      cmocka_unit_test(test_queue_order_and_round_trip),
      cmocka_unit_test(test_many_offers_cheap),
      cmocka_unit_test(test_default_policy_in_fleet),
      cmocka_unit_test(test_storage_budget),
      cmocka_unit_test(test_storage_budget_with_batches),
      cmocka_unit_test(test_metered_blocks_prefetch_not_foreground),
      cmocka_unit_test(test_foreground_overtakes_prefetch),
      cmocka_unit_test(test_foreground_joins_prefetch),
      cmocka_unit_test(test_max_concurrent_counts_slots),
      cmocka_unit_test(test_thumbnails_pipelined_over_internet),
      cmocka_unit_test(test_foreground_overtakes_batched_prefetch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
