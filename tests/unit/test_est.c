/*
 * test_est.c - per-peer RTT / rate estimates (est.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "est.h"

#include <string.h>

#define MS VSS_NS_PER_MS

static void test_init_hints_and_defaults(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 110e6, 2 * MS);
  assert_true(e.rate == 110e6);
  assert_int_equal(e.srtt, 2 * MS);
  assert_int_equal(e.samples, 0);
  vss_est_init(&e, 0, 0);
  assert_true(e.rate == VSS_EST_DEFAULT_RATE);
  assert_int_equal(e.srtt, VSS_EST_DEFAULT_RTT);
}

static void test_rtt_first_sample_replaces_hint(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 1e6, 100 * MS);
  vss_est_rtt_sample(&e, 10 * MS);
  assert_int_equal(e.srtt, 10 * MS);
  assert_int_equal(e.min_rtt, 10 * MS);
  /* Later samples are smoothed 7/8 + 1/8. */
  vss_est_rtt_sample(&e, 18 * MS);
  assert_int_equal(e.srtt, 11 * MS);
  assert_int_equal(e.min_rtt, 10 * MS);
  for (int i = 0; i < 100; i++)
    vss_est_rtt_sample(&e, 20 * MS);
  assert_true(e.srtt > 19 * MS && e.srtt <= 20 * MS);
  assert_true(e.rttvar < 1 * MS);
}

/* Deliver `total` bytes at `rate` in 64 KiB frames starting at t0;
 * returns the time of the last delivery. */
static vss_time feed(vss_est *e, vss_time t0, uint64_t total, double rate) {
  const uint64_t frame = 65536;
  vss_time t = t0;
  for (uint64_t sent = 0; sent < total; sent += frame) {
    t += (vss_time)((double)frame * 1e9 / rate);
    vss_est_delivered(e, frame, t);
  }
  return t;
}

static void test_rate_measured_replaces_hint(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 110e6, 2 * MS); /* hint says fast; path is 10 MB/s */
  vss_time t = feed(&e, 0, 8u << 20, 10e6);
  assert_true(e.samples > 0);
  assert_true(e.rate > 9.5e6 && e.rate < 10.5e6);
  vss_est_idle(&e, t);
  assert_int_equal(e.busy_since, VSS_TIME_UNSET);
}

static void test_rate_ignores_idle_gaps(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 0, 0);
  /* Two bursts at 50 MB/s separated by a long idle pause: the pause is
   * not transfer time, so the rate stays at 50 MB/s. */
  vss_time t = feed(&e, 0, 4u << 20, 50e6);
  vss_est_idle(&e, t);
  t = feed(&e, t + 5 * VSS_NS_PER_S, 4u << 20, 50e6);
  vss_est_idle(&e, t);
  assert_true(e.rate > 48e6 && e.rate < 52e6);
}

static void test_rate_tracks_change(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 0, 0);
  vss_time t = feed(&e, 0, 16u << 20, 100e6);
  assert_true(e.rate > 95e6);
  t = feed(&e, t, 64u << 20, 20e6);
  assert_true(e.rate > 19e6 && e.rate < 23e6);
}

static void test_short_burst_no_sample(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 110e6, 2 * MS);
  /* One 45 KB thumbnail says nothing about the path. */
  vss_est_delivered(&e, 45000, 10 * MS);
  vss_est_idle(&e, 10 * MS);
  assert_int_equal(e.samples, 0);
  assert_true(e.rate == 110e6);
}

static void test_cost_ranks_sources(void **state) {
  (void)state;
  vss_est mac, home, cloud;
  vss_est_init(&mac, 45e6, 2 * MS);
  vss_est_init(&home, 110e6, 1 * MS);
  vss_est_init(&cloud, 10e6, 50 * MS);
  uint64_t thumb = 45000;
  vss_time cm = vss_est_cost(&mac, thumb, 0);
  vss_time ch = vss_est_cost(&home, thumb, 0);
  vss_time cc = vss_est_cost(&cloud, thumb, 0);
  assert_true(ch < cm && cm < cc);
  /* RTT + bytes / rate */
  assert_int_equal(ch, 1 * MS + (vss_time)(45000.0 * 1e9 / 110e6));
  /* Queued bytes ahead make a fast source costlier than an idle one. */
  assert_true(vss_est_cost(&home, thumb, 1u << 20) > cm);
}

static void test_timeout_and_window(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, 110e6, 2 * MS);
  vss_time to = vss_est_timeout(&e, 45000, 0);
  assert_true(to >= vss_est_cost(&e, 45000, 0));
  assert_true(to >= 50 * MS); /* floor */
  assert_true(vss_est_timeout(&e, 45000, 8u << 20) > to);
  /* Window: floor when BDP is small, grows with it, capped. */
  assert_int_equal(vss_est_window(&e, 1u << 20, 64u << 20), 1u << 20);
  vss_est_init(&e, 100e6, 200 * MS); /* BDP 20 MB */
  uint64_t w = vss_est_window(&e, 1u << 20, 64u << 20);
  assert_true(w >= 40000000u && w <= 64u << 20);
  assert_int_equal(vss_est_window(&e, 1u << 20, 8u << 20), 8u << 20);
  /* A ceiling under the floor: the floor wins. */
  assert_int_equal(vss_est_window(&e, 4u << 20, 1u << 20), 4u << 20);
}

static void test_degenerate_inputs(void **state) {
  (void)state;
  vss_est e;
  vss_est_init(&e, -5, 0);
  assert_true(e.rate == VSS_EST_DEFAULT_RATE);
  vss_est_rtt_sample(&e, 0); /* a zero sample is clamped, not a div/0 */
  assert_true(e.srtt >= 1);
  /* Huge byte counts saturate instead of overflowing. */
  assert_true(vss_est_cost(&e, UINT64_MAX, UINT64_MAX) == VSS_TIME_UNSET - 1);
  assert_true(vss_est_timeout(&e, UINT64_MAX, 1) == VSS_TIME_UNSET - 1);
  vss_est_delivered(&e, 10, 100);
  vss_est_delivered(&e, 10, 50); /* time going back restarts the period */
  assert_int_equal(e.busy_since, 50);
}

/* Without hints a peer starts from its link class's prior (a typical
 * rate, not a pessimistic one); while the rate is only that guess the
 * window stays at the floor and timeouts allow the prior's spread; the
 * first measurement ends the guess. A user's hint is not a guess. */
static void test_class_priors(void **state) {
  (void)state;
  vss_est e;
  memset(&e, 0, sizeof(e));
  const vss_link_class cls[4] = {VSS_LINK_ETHERNET, VSS_LINK_WIFI,
                                 VSS_LINK_INTERNET, VSS_LINK_CELLULAR};
  const double rate[4] = {100e6, 20e6, 5e6, 1e6};
  const vss_time rtt[4] = {1 * MS, 5 * MS, 50 * MS, 100 * MS};
  for (int i = 0; i < 4; i++) {
    vss_link_info li = {.cls = cls[i]};
    vss_est_init_link(&e, &li);
    assert_true(e.rate == rate[i]);
    assert_int_equal(e.srtt, rtt[i]);
    assert_true(vss_est_rate_guessed(&e));
  }
  vss_link_info li = {.cls = VSS_LINK_INTERNET};
  vss_est_init_link(&e, &li);
  assert_int_equal(vss_est_window(&e, 1u << 20, 64u << 20), 1u << 20);
  /* 8 MB at a guessed 5 MB/s: the transfer part is allowed 4 x 2 x 1.6 s. */
  assert_true(vss_est_timeout(&e, 8000000, 0) > 12 * VSS_NS_PER_S);
  vss_time t = feed(&e, 0, 8u << 20, 10e6);
  vss_est_idle(&e, t);
  assert_false(vss_est_rate_guessed(&e));
  assert_true(vss_est_window(&e, 1u << 20, 64u << 20) > (1u << 20));
  assert_true(vss_est_timeout(&e, 8000000, 0) < 4 * VSS_NS_PER_S);
  li.rate_hint = 5e6;
  li.rtt_hint = 7 * MS;
  vss_est_init_link(&e, &li);
  assert_false(vss_est_rate_guessed(&e));
  assert_int_equal(e.srtt, 7 * MS);
  vss_est_init_link(&e, NULL);
  assert_true(e.rate == VSS_EST_DEFAULT_RATE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_hints_and_defaults),
      cmocka_unit_test(test_rtt_first_sample_replaces_hint),
      cmocka_unit_test(test_rate_measured_replaces_hint),
      cmocka_unit_test(test_rate_ignores_idle_gaps),
      cmocka_unit_test(test_rate_tracks_change),
      cmocka_unit_test(test_short_burst_no_sample),
      cmocka_unit_test(test_cost_ranks_sources),
      cmocka_unit_test(test_timeout_and_window),
      cmocka_unit_test(test_degenerate_inputs),
      cmocka_unit_test(test_class_priors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
