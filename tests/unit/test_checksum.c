/*
 * test_checksum.c - BLAKE2b-256 and the two-level sidecar checksum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "vss/rng.h"
#include "vss/model.h"

#define CHUNK ((size_t)VSS_CHUNK_SIZE)

static uint8_t *random_bytes(size_t n, uint64_t seed) {
  uint8_t *p = malloc(n ? n : 1);
  vss_rng r;
  assert_non_null(p);
  vss_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)vss_rng_next(&r);
  return p;
}

/* The definition, written out with libsodium directly. */
static void manual_checksum(const uint8_t *p, size_t n, vss_hash *out) {
  size_t nchunks = (n + CHUNK - 1) / CHUNK;
  uint8_t *cat = malloc(nchunks * 32 + 1);
  assert_non_null(cat);
  for (size_t i = 0; i < nchunks; i++) {
    size_t len = i + 1 < nchunks ? CHUNK : n - i * CHUNK;
    crypto_generichash(cat + 32 * i, 32, p + i * CHUNK, len, NULL, 0);
  }
  crypto_generichash(out->b, 32, cat, nchunks * 32, NULL, 0);
  free(cat);
}

static void test_hash_bytes_matches_sodium(void **state) {
  static const char *inputs[] = {"", "a", "abc",
                                 "The quick brown fox jumps over the lazy dog"};
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    vss_hash h;
    uint8_t want[32];
    size_t n = strlen(inputs[i]);
    vss_hash_bytes(inputs[i], n, &h);
    crypto_generichash(want, 32, (const uint8_t *)inputs[i], n, NULL, 0);
    assert_memory_equal(h.b, want, 32);
  }
}

static void test_known_vector(void **state) {
  /* BLAKE2b-256("abc"), from the BLAKE2 reference implementation. */
  const char *want =
      "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";
  vss_hash h;
  char hex[VSS_HASH_HEX_LEN + 1];
  (void)state;
  vss_hash_bytes("abc", 3, &h);
  vss_hash_hex(&h, hex);
  assert_string_equal(hex, want);
  /* The empty sidecar's checksum is BLAKE2b-256 of the empty string. */
  vss_hash e, want_e;
  assert_int_equal(vss_checksum_buffer(NULL, 0, &e), 0);
  vss_hash_bytes("", 0, &want_e);
  vss_hash_hex(&e, hex);
  assert_string_equal(
      hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  assert_true(vss_hash_eq(&e, &want_e));
}

static void test_hex(void **state) {
  vss_hash h, back;
  char hex[VSS_HASH_HEX_LEN + 1];
  (void)state;
  for (int i = 0; i < 32; i++)
    h.b[i] = (uint8_t)(i * 37 + 1);
  vss_hash_hex(&h, hex);
  assert_int_equal(strlen(hex), 64);
  for (int i = 0; i < 64; i++)
    assert_true((hex[i] >= '0' && hex[i] <= '9') ||
                (hex[i] >= 'a' && hex[i] <= 'f'));
  assert_int_equal(vss_hash_parse_hex(&back, hex, 64), 0);
  assert_true(vss_hash_eq(&h, &back));

  /* Upper case parses to the same bytes. */
  for (int i = 0; i < 64; i++)
    if (hex[i] >= 'a') hex[i] = (char)(hex[i] - 'a' + 'A');
  memset(&back, 0, sizeof(back));
  assert_int_equal(vss_hash_parse_hex(&back, hex, 64), 0);
  assert_true(vss_hash_eq(&h, &back));

  assert_int_equal(vss_hash_parse_hex(&back, hex, 63), VSS_ERR_INVALID);
  hex[10] = 'g';
  assert_int_equal(vss_hash_parse_hex(&back, hex, 64), VSS_ERR_INVALID);
  assert_true(vss_hash_eq(&h, &back)); /* untouched on failure */
  back.b[31] ^= 1;
  assert_false(vss_hash_eq(&h, &back));
}

static void check_size(size_t n) {
  uint8_t *p = random_bytes(n, 0x1234 + n);
  vss_hash want, got, from_chunks;
  vss_hash *chunks = NULL;
  uint64_t nchunks = 99;
  vss_hasher *h;

  manual_checksum(p, n, &want);
  assert_int_equal(vss_checksum_buffer(p, n, &got), 0);
  assert_true(vss_hash_eq(&want, &got));

  assert_int_equal(vss_hasher_new(&h), 0);
  assert_int_equal(vss_hasher_update(h, p, n), 0);
  assert_int_equal(vss_hasher_final(h, &got, &chunks, &nchunks), 0);
  assert_true(vss_hash_eq(&want, &got));
  assert_int_equal(nchunks, vss_chunk_count(n));
  /* Each chunk hash is the plain hash of that chunk. */
  for (uint64_t i = 0; i < nchunks; i++) {
    vss_hash c;
    size_t len = i + 1 < nchunks ? CHUNK : n - (size_t)i * CHUNK;
    vss_hash_bytes(p + i * CHUNK, len, &c);
    assert_true(vss_hash_eq(&c, &chunks[i]));
  }
  vss_checksum_of_chunks(chunks, nchunks, &from_chunks);
  assert_true(vss_hash_eq(&want, &from_chunks));
  free(chunks);
  vss_hasher_del(h);
  free(p);
}

static void test_chunk_boundaries(void **state) {
  const size_t sizes[] = {0,         1,         CHUNK - 1,     CHUNK,
                          CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5, 45000};
  (void)state;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    check_size(sizes[i]);
}

static void test_one_chunk_is_one_extra_hash(void **state) {
  uint8_t *p = random_bytes(45000, 7);
  vss_hash inner, outer, got;
  (void)state;
  vss_hash_bytes(p, 45000, &inner);
  vss_hash_bytes(inner.b, 32, &outer);
  assert_int_equal(vss_checksum_buffer(p, 45000, &got), 0);
  assert_true(vss_hash_eq(&outer, &got));
  /* ... and it differs from the flat hash: the levels are not mixed. */
  assert_false(vss_hash_eq(&inner, &got));
  free(p);
}

static void test_streaming_random_splits(void **state) {
  const size_t n = 3 * CHUNK + 12345;
  uint8_t *p = random_bytes(n, 99);
  vss_hash want, got;
  vss_hasher *h;
  vss_rng r;
  (void)state;

  assert_int_equal(vss_checksum_buffer(p, n, &want), 0);
  vss_rng_seed(&r, 2024);
  assert_int_equal(vss_hasher_new(&h), 0);
  for (int round = 0; round < 20; round++) {
    size_t off = 0;
    while (off < n) {
      /* Mix tiny, empty, chunk-sized and larger-than-chunk pieces. */
      size_t piece;
      switch (vss_rng_below(&r, 4)) {
      case 0:
        piece = (size_t)vss_rng_below(&r, 16);
        break;
      case 1:
        piece = CHUNK - off % CHUNK;
        break;
      case 2:
        piece = (size_t)vss_rng_below(&r, 2 * CHUNK);
        break;
      default:
        piece = (size_t)vss_rng_below(&r, 4096);
      }
      if (piece > n - off) piece = n - off;
      assert_int_equal(vss_hasher_update(h, p + off, piece), 0);
      off += piece;
    }
    uint64_t nchunks = 0;
    /* final resets the hasher, so the same one is reused next round. */
    assert_int_equal(vss_hasher_final(h, &got, NULL, &nchunks), 0);
    assert_true(vss_hash_eq(&want, &got));
    assert_int_equal(nchunks, 4);
  }
  vss_hasher_del(h);
  free(p);
}

static void test_hasher_empty_and_args(void **state) {
  vss_hasher *h;
  vss_hash got, want;
  vss_hash *chunks = (vss_hash *)&got;
  uint64_t n = 7;
  (void)state;
  assert_int_equal(vss_hasher_new(&h), 0);
  assert_int_equal(vss_hasher_update(h, NULL, 0), 0);
  assert_int_equal(vss_hasher_final(h, &got, &chunks, &n), 0);
  assert_int_equal(n, 0);
  assert_null(chunks);
  vss_hash_bytes(NULL, 0, &want);
  assert_true(vss_hash_eq(&got, &want));
  assert_int_equal(vss_hasher_update(h, NULL, 5), VSS_ERR_INVALID);
  assert_int_equal(vss_hasher_final(h, NULL, NULL, NULL), VSS_ERR_INVALID);
  vss_hasher_del(h);
  vss_hasher_del(NULL);
  assert_int_equal(vss_checksum_buffer(NULL, 5, &got), VSS_ERR_INVALID);
}

static void test_chunk_count(void **state) {
  (void)state;
  assert_int_equal(vss_chunk_count(0), 0);
  assert_int_equal(vss_chunk_count(1), 1);
  assert_int_equal(vss_chunk_count(CHUNK), 1);
  assert_int_equal(vss_chunk_count(CHUNK + 1), 2);
  assert_int_equal(vss_chunk_count(3 * CHUNK + 5), 4);
}

static void test_checksum_detects_change(void **state) {
  const size_t n = 2 * CHUNK + 3;
  uint8_t *p = random_bytes(n, 5);
  vss_hash a, b;
  (void)state;
  assert_int_equal(vss_checksum_buffer(p, n, &a), 0);
  p[CHUNK + 17] ^= 0x40;
  assert_int_equal(vss_checksum_buffer(p, n, &b), 0);
  assert_false(vss_hash_eq(&a, &b));
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hash_bytes_matches_sodium),
      cmocka_unit_test(test_known_vector),
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_chunk_boundaries),
      cmocka_unit_test(test_one_chunk_is_one_extra_hash),
      cmocka_unit_test(test_streaming_random_splits),
      cmocka_unit_test(test_hasher_empty_and_args),
      cmocka_unit_test(test_chunk_count),
      cmocka_unit_test(test_checksum_detects_change),
  };
  if (sodium_init() < 0) return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
