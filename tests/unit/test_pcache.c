/*
 * test_pcache.c - the peer availability cache against a naive model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pcache.h"
#include "rng.h"

#include <string.h>

static void key_n(vss_key *k, uint32_t n, const char *variant) {
  vss_uuid u;
  memset(&u, 0, sizeof(u));
  memcpy(u.b, &n, sizeof(n));
  u.b[15] = (uint8_t)(n * 7);
  vss_key_set(k, &u, VSS_KIND_THUMB, variant);
}

static void test_set_get_remove(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  vss_key k;
  key_n(&k, 1, "grid@2x");
  vss_hash sum;
  memset(&sum, 0xab, sizeof(sum));
  assert_int_equal(vss_pcache_set(c, 3, &k, VSS_FMT_WEBP, 1, 45000, &sum), 1);
  /* Same again: no change. */
  assert_int_equal(vss_pcache_set(c, 3, &k, VSS_FMT_WEBP, 1, 45000, &sum), 0);
  assert_int_equal(vss_pcache_set(c, 5, &k, VSS_FMT_WEBP, 1, 45000, &sum), 1);
  vss_holder h[4];
  assert_int_equal(vss_pcache_holders(c, &k, h, 4), 2);
  assert_int_equal(h[0].size, 45000);
  assert_true(vss_hash_eq(&h[0].checksum, &sum));
  vss_key other;
  key_n(&other, 1, "grid@1x");
  assert_int_equal(vss_pcache_holders(c, &other, h, 4), 0);
  assert_int_equal(vss_pcache_set(c, 3, &k, VSS_FMT_WEBP, 0, 0, NULL), 1);
  assert_int_equal(vss_pcache_holders(c, &k, h, 4), 1);
  assert_int_equal(h[0].peer, 5);
  assert_int_equal(vss_pcache_count_peer(c, 3), 0);
  assert_int_equal(vss_pcache_count_peer(c, 5), 1);
  /* Removing what was never there is not a change. */
  assert_int_equal(vss_pcache_set(c, 9, &other, VSS_FMT_WEBP, 0, 0, NULL), 0);
  vss_pcache_del(c);
}

/* Random operations against a dense bitmap model: catches probe-chain
 * breakage in backward-shift deletion and growth. */
#define NK 3000
#define NP 4
static void test_random_against_model(void **state) {
  (void)state;
  static uint8_t model[NK][NP];
  memset(model, 0, sizeof(model));
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  vss_rng r;
  vss_rng_seed(&r, 99);
  const char *vars[] = {"grid@2x", "detail@1x", "icon@1x"};
  for (int op = 0; op < 200000; op++) {
    uint32_t n = (uint32_t)vss_rng_below(&r, NK);
    uint16_t p = (uint16_t)vss_rng_below(&r, NP);
    int has = vss_rng_below(&r, 3) != 0;
    vss_key k;
    key_n(&k, n / 3, vars[n % 3]);
    int rc = vss_pcache_set(c, p, &k, VSS_FMT_WEBP, has, n, NULL);
    assert_int_equal(rc, model[n][p] != has ? 1 : 0);
    model[n][p] = (uint8_t)has;
    if (op % 50000 == 49999) {
      uint16_t victim = (uint16_t)vss_rng_below(&r, NP);
      uint64_t want = 0;
      for (int i = 0; i < NK; i++)
        want += model[i][victim], model[i][victim] = 0;
      assert_int_equal(vss_pcache_drop_peer(c, victim), want);
    }
  }
  for (uint32_t n = 0; n < NK; n++) {
    vss_key k;
    key_n(&k, n / 3, vars[n % 3]);
    vss_holder h[NP];
    size_t nh = vss_pcache_holders(c, &k, h, NP);
    size_t want = 0;
    for (int p = 0; p < NP; p++)
      want += model[n][p];
    assert_int_equal(nh, want);
    for (size_t i = 0; i < nh; i++) {
      assert_true(model[n][h[i].peer]);
      assert_int_equal(h[i].size, n);
    }
  }
  for (int p = 0; p < NP; p++) {
    uint64_t want = 0;
    for (int n = 0; n < NK; n++)
      want += model[n][p];
    assert_int_equal(vss_pcache_count_peer(c, (uint16_t)p), want);
  }
  vss_pcache_del(c);
}

static int count_cb(void *user, const vss_key *key, const vss_holder *h,
                    size_t n) {
  (void)key, (void)h;
  *(size_t *)user += n;
  return 0;
}

static void test_iter(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  for (uint32_t i = 0; i < 5000; i++) {
    vss_key k;
    key_n(&k, i, "grid@2x");
    assert_int_equal(
        vss_pcache_set(c, (uint16_t)(i % 2), &k, VSS_FMT_WEBP, 1, 1, NULL), 1);
  }
  size_t total = 0;
  assert_int_equal(vss_pcache_iter(c, count_cb, &total), 0);
  assert_int_equal(total, 5000);
  vss_pcache_del(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_get_remove),
      cmocka_unit_test(test_random_against_model),
      cmocka_unit_test(test_iter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
