/*
 * test_rng.c - xoshiro256** seeding, determinism and ranges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vss/rng.h"

static void test_same_seed_same_stream(void **state) {
  vss_rng a, b;
  (void)state;
  vss_rng_seed(&a, 42);
  vss_rng_seed(&b, 42);
  for (int i = 0; i < 10000; i++)
    assert_int_equal(vss_rng_next(&a), vss_rng_next(&b));
}

static void test_different_seeds_differ(void **state) {
  vss_rng a, b;
  int same = 0;
  (void)state;
  vss_rng_seed(&a, 1);
  vss_rng_seed(&b, 2);
  for (int i = 0; i < 1000; i++)
    same += vss_rng_next(&a) == vss_rng_next(&b);
  assert_int_equal(same, 0);
}

static void test_known_values(void **state) {
  /* splitmix64(0) per Vigna's reference: the first state word. */
  vss_rng r;
  (void)state;
  vss_rng_seed(&r, 0);
  assert_int_equal(r.s[0], 0xe220a8397b1dcdafULL);
  assert_int_equal(r.s[1], 0x6e789e6aa1b965f4ULL);
  /* Seed 0 must not give the all-zero state xoshiro cannot leave. */
  assert_true(r.s[0] | r.s[1] | r.s[2] | r.s[3]);

  /* xoshiro256** from a hand-set state, against the reference code:
   * state {1,2,3,4} gives 11520, 0, 1509978240, 1215971899390074240. */
  r.s[0] = 1;
  r.s[1] = 2;
  r.s[2] = 3;
  r.s[3] = 4;
  assert_int_equal(vss_rng_next(&r), 11520ULL);
  assert_int_equal(vss_rng_next(&r), 0ULL);
  assert_int_equal(vss_rng_next(&r), 1509978240ULL);
  assert_int_equal(vss_rng_next(&r), 1215971899390074240ULL);
}

static void test_below_range(void **state) {
  vss_rng r;
  const uint64_t ns[] = {
      1, 2, 3, 7, 10, 1000, 1ULL << 40, (1ULL << 63) + 1, UINT64_MAX};
  (void)state;
  vss_rng_seed(&r, 7);
  assert_int_equal(vss_rng_below(&r, 0), 0);
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
    for (int j = 0; j < 5000; j++)
      assert_true(vss_rng_below(&r, ns[i]) < ns[i]);
}

static void test_below_uniform(void **state) {
  /* Chi-square over 10 buckets, 100k draws: 9 degrees of freedom, the
   * 99.9% quantile is 27.9. Deterministic given the seed. */
  enum { N = 10, DRAWS = 100000 };
  uint64_t count[N] = {0};
  vss_rng r;
  double chi = 0, expect = (double)DRAWS / N;
  (void)state;
  vss_rng_seed(&r, 12345);
  for (int i = 0; i < DRAWS; i++)
    count[vss_rng_below(&r, N)]++;
  for (int i = 0; i < N; i++)
    chi += ((double)count[i] - expect) * ((double)count[i] - expect) / expect;
  assert_true(chi < 27.9);

  /* n just above 2^63: modulo would put ~2/3 of draws in the low half. */
  uint64_t n = (1ULL << 63) + (1ULL << 62), low = 0;
  for (int i = 0; i < 20000; i++)
    low += vss_rng_below(&r, n) < n / 2;
  assert_true(low > 9400 && low < 10600);
}

static void test_unit_range(void **state) {
  vss_rng r;
  double sum = 0;
  (void)state;
  vss_rng_seed(&r, 3);
  for (int i = 0; i < 100000; i++) {
    double u = vss_rng_unit(&r);
    assert_true(u >= 0.0 && u < 1.0);
    sum += u;
  }
  assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_seed_same_stream),
      cmocka_unit_test(test_different_seeds_differ),
      cmocka_unit_test(test_known_values),
      cmocka_unit_test(test_below_range),
      cmocka_unit_test(test_below_uniform),
      cmocka_unit_test(test_unit_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
