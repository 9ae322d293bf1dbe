/*
 * test_pcache.c - the peer availability cache against a naive model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pcache.h"
#include "vss/rng.h"

#include <stdio.h>
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

/* Item 3 (hostile): a thousand holders of one key, every one of them
 * reported, found, and removed; nothing is cut at 32 or 64. */
static int count_each(void *user, const vss_holder *h) {
  uint8_t *seen = user;
  assert_true(h->peer < 1000);
  assert_int_equal(seen[h->peer], 0);
  seen[h->peer] = 1;
  return 0;
}

static void test_thousand_holders(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  vss_key k;
  key_n(&k, 7, "grid@2x");
  vss_hash sum;
  memset(&sum, 0x5a, sizeof(sum));
  for (uint16_t p = 0; p < 1000; p++)
    assert_int_equal(vss_pcache_set(c, p, &k, VSS_FMT_WEBP, 1, 45000, &sum), 1);
  static vss_holder h[1000];
  assert_int_equal(vss_pcache_holders(c, &k, h, 1000), 1000);
  assert_int_equal(vss_pcache_holders(c, &k, h, 10), 1000); /* total */
  static uint8_t seen[1000];
  memset(seen, 0, sizeof(seen));
  assert_int_equal(vss_pcache_each_holder(c, &k, count_each, seen), 0);
  for (int p = 0; p < 1000; p++)
    assert_true(seen[p]);
  assert_true(vss_pcache_has(c, &k, 999));
  assert_true(vss_pcache_has(c, &k, 40));
  assert_int_equal(vss_pcache_records(c), 1);
  /* Remove from the front (the record's named holder) and the back. */
  for (uint16_t p = 0; p < 500; p++)
    assert_int_equal(vss_pcache_set(c, p, &k, VSS_FMT_WEBP, 0, 0, NULL), 1);
  for (uint16_t p = 999; p >= 900; p--)
    assert_int_equal(vss_pcache_drop_peer(c, p), 1);
  assert_int_equal(vss_pcache_holders(c, &k, h, 1000), 400);
  for (size_t i = 0; i < 400; i++)
    assert_true(h[i].peer >= 500 && h[i].peer < 900);
  assert_false(vss_pcache_has(c, &k, 0));
  assert_true(vss_pcache_has(c, &k, 500));
  vss_pcache_del(c);
}

/* Item 6 (hostile): a peer flooding variants is stopped at its own
 * budget; an honest peer's entries, new variants included, still go in,
 * and classes are freed once no entry uses them. */
static void test_variant_flood(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  char v[32];
  int refused = 0;
  for (uint32_t i = 0; i < 70000; i++) {
    vss_key k;
    snprintf(v, sizeof(v), "flood%u", i);
    key_n(&k, i, v);
    int rc = vss_pcache_set(c, 1, &k, VSS_FMT_WEBP, 1, 10, NULL);
    if (rc == VSS_ERR_LIMIT) {
      refused++;
      continue;
    }
    assert_int_equal(rc, 1);
  }
  assert_int_equal(vss_pcache_count_peer(c, 1), VSS_PCACHE_PEER_CLASSES);
  assert_int_equal(refused, 70000 - VSS_PCACHE_PEER_CLASSES);
  /* Many peers each up to their budget: the table still has room for an
   * honest peer's new variants as long as fewer than 4095/32 collude. */
  for (uint16_t p = 2; p < 100; p++)
    for (uint32_t i = 0; i < VSS_PCACHE_PEER_CLASSES; i++) {
      vss_key k;
      snprintf(v, sizeof(v), "p%u-%u", p, i);
      key_n(&k, i, v);
      assert_int_equal(vss_pcache_set(c, p, &k, VSS_FMT_WEBP, 1, 10, NULL), 1);
    }
  vss_key honest;
  key_n(&honest, 1, "grid@2x");
  assert_int_equal(
      vss_pcache_set(c, 200, &honest, VSS_FMT_WEBP, 1, 45000, NULL), 1);
  /* Dropping the flooders frees their classes for anybody. */
  for (uint16_t p = 1; p < 100; p++)
    vss_pcache_drop_peer(c, p);
  for (uint32_t i = 0; i < 3000; i++) {
    vss_key k;
    snprintf(v, sizeof(v), "late%u", i);
    key_n(&k, i, v);
    assert_int_equal(vss_pcache_set(c, (uint16_t)(300 + i / 32), &k,
                                    VSS_FMT_WEBP, 1, 1, NULL),
                     1);
  }
  assert_int_equal(vss_pcache_records(c), 3001);
  vss_pcache_del(c);
}

/* Two versions of one key (two devices generated it independently) are
 * both known, each with its own checksum; a peer moves between them. */
static void test_versions(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  vss_key k;
  key_n(&k, 3, "grid@2x");
  vss_hash a, b;
  memset(&a, 0xaa, sizeof(a));
  memset(&b, 0xbb, sizeof(b));
  assert_int_equal(vss_pcache_set(c, 1, &k, VSS_FMT_WEBP, 1, 100, &a), 1);
  assert_int_equal(vss_pcache_set(c, 2, &k, VSS_FMT_WEBP, 1, 200, &b), 1);
  assert_int_equal(vss_pcache_set(c, 3, &k, VSS_FMT_WEBP, 1, 100, &a), 1);
  vss_holder h[4];
  assert_int_equal(vss_pcache_holders(c, &k, h, 4), 3);
  for (int i = 0; i < 3; i++)
    assert_true(h[i].peer == 2
                    ? h[i].size == 200 && vss_hash_eq(&h[i].checksum, &b)
                    : h[i].size == 100 && vss_hash_eq(&h[i].checksum, &a));
  assert_int_equal(vss_pcache_records(c), 2);
  /* Peer 1 now has b: one holder of a left. */
  assert_int_equal(vss_pcache_set(c, 1, &k, VSS_FMT_WEBP, 1, 200, &b), 1);
  assert_int_equal(vss_pcache_count_peer(c, 1), 1);
  assert_int_equal(vss_pcache_set(c, 3, &k, VSS_FMT_WEBP, 0, 0, NULL), 1);
  assert_int_equal(vss_pcache_records(c), 1);
  assert_int_equal(vss_pcache_holders(c, &k, h, 4), 2);
  vss_pcache_del(c);
}

/* Mark and sweep: a new generation keeps everything until its sweep,
 * which removes exactly what the generation did not name. */
static void test_mark_sweep(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  for (uint32_t i = 0; i < 10000; i++) {
    vss_key k;
    key_n(&k, i, "grid@2x");
    assert_int_equal(vss_pcache_set(c, 4, &k, VSS_FMT_WEBP, 1, 1, NULL), 1);
    assert_int_equal(vss_pcache_set(c, 5, &k, VSS_FMT_WEBP, 1, 1, NULL), 1);
  }
  vss_pcache_mark_begin(c, 4);
  vss_pcache_mark_begin(c, 4); /* restarted: marks from scratch */
  for (uint32_t i = 0; i < 10000; i += 2) {
    vss_key k;
    key_n(&k, i, "grid@2x");
    assert_int_equal(vss_pcache_set(c, 4, &k, VSS_FMT_WEBP, 1, 1, NULL), 0);
  }
  assert_int_equal(vss_pcache_count_peer(c, 4), 10000); /* nothing yet */
  assert_int_equal(vss_pcache_mark_sweep(c, 4), 5000);
  assert_int_equal(vss_pcache_count_peer(c, 4), 5000);
  assert_int_equal(vss_pcache_count_peer(c, 5), 10000);
  vss_key k;
  key_n(&k, 1, "grid@2x");
  assert_false(vss_pcache_has(c, &k, 4));
  assert_true(vss_pcache_has(c, &k, 5));
  vss_pcache_del(c);
}

/* Section 4: bytes per (key, first holder) and per extra holder. */
static void test_memory_per_entry(void **state) {
  (void)state;
  vss_pcache *c;
  assert_int_equal(vss_pcache_new(&c), 0);
  uint64_t base = vss_pcache_mem(c);
  const uint32_t n = 200000;
  vss_hash sum;
  for (uint32_t i = 0; i < n; i++) {
    vss_key k;
    key_n(&k, i, "grid@2x");
    vss_hash_bytes(&i, sizeof(i), &sum);
    assert_int_equal(vss_pcache_set(c, 0, &k, VSS_FMT_WEBP, 1, 45000, &sum), 1);
  }
  uint64_t one = vss_pcache_mem(c);
  for (uint16_t p = 1; p < 4; p++)
    for (uint32_t i = 0; i < n; i++) {
      vss_key k;
      key_n(&k, i, "grid@2x");
      vss_hash_bytes(&i, sizeof(i), &sum);
      assert_int_equal(vss_pcache_set(c, p, &k, VSS_FMT_WEBP, 1, 45000, &sum),
                       1);
    }
  uint64_t four = vss_pcache_mem(c);
  double per_key = (double)(one - base) / n;
  double per_extra = (double)(four - one) / (3.0 * n);
  print_message("pcache: %.1f B per (key, first holder), %.2f B per extra "
                "holder\n",
                per_key, per_extra);
  assert_true(per_key <= 72);
  assert_true(per_extra <= 8);
  vss_pcache_del(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_get_remove),
      cmocka_unit_test(test_random_against_model),
      cmocka_unit_test(test_iter),
      cmocka_unit_test(test_thousand_holders),
      cmocka_unit_test(test_variant_flood),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_mark_sweep),
      cmocka_unit_test(test_memory_per_entry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
