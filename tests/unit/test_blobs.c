/*
 * test_blobs.c - the blob store seam on the in-memory store: put, read,
 * stat, remove, discard, bounds, the checksum helper, and many blobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vss/store.h"

static vss_key key_n(uint32_t n, const char *variant) {
  vss_key k;
  vss_uuid u;

  memset(&u, 0, sizeof(u));
  u.b[0] = 0xb1;
  memcpy(u.b + 12, &n, sizeof(n));
  assert_int_equal(vss_key_set(&k, &u, VSS_KIND_THUMB, variant), 0);
  return k;
}

static uint8_t *pattern(uint64_t size, uint32_t seed) {
  uint8_t *p = malloc(size ? size : 1);
  uint64_t i;

  assert_non_null(p);
  for (i = 0; i < size; i++)
    p[i] = (uint8_t)(i * 31 + seed + (i >> 11));
  return p;
}

static int setup(void **state) {
  vss_blobs *b = NULL;

  assert_int_equal(vss_blobs_mem_new(&b), 0);
  *state = b;
  return 0;
}

static int teardown(void **state) {
  vss_blobs_del(*state);
  return 0;
}

static void test_put_read_stat_remove(void **state) {
  vss_blobs *b = *state;
  vss_key k = key_n(1, "grid@2x");
  uint8_t *data = pattern(45000, 1), buf[100];
  uint64_t size = 0;

  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, data, 45000), 0);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size), 0);
  assert_int_equal(size, 45000);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, buf, 100), 0);
  assert_memory_equal(buf, data, 100);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 44900, buf, 100), 0);
  assert_memory_equal(buf, data + 44900, 100);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 45000, buf, 0), 0);

  /* Beyond the end, or a missing blob. */
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 44901, buf, 100),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, UINT64_MAX, buf, 1),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_JSON, 0, buf, 1),
                   VSS_ERR_NOT_FOUND); /* the format is part of the name */

  assert_int_equal(vss_blobs_remove(b, &k, VSS_FMT_WEBP), 0);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_blobs_remove(b, &k, VSS_FMT_WEBP), VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, buf, 1),
                   VSS_ERR_NOT_FOUND);
  free(data);
}

static void test_replace_and_empty(void **state) {
  vss_blobs *b = *state;
  vss_key k = key_n(2, "detail@1x");
  uint8_t *a = pattern(300, 1), *c = pattern(70, 2), buf[70];
  uint64_t size;

  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, a, 300), 0);
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, c, 70), 0);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size), 0);
  assert_int_equal(size, 70);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, buf, 70), 0);
  assert_memory_equal(buf, c, 70);

  /* An empty sidecar is a blob of size 0, not a missing one. */
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_TEXT, NULL, 0), 0);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_TEXT, &size), 0);
  assert_int_equal(size, 0);
  free(a);
  free(c);
}

static void test_discard(void **state) {
  vss_blobs *b = *state;
  vss_key k = key_n(3, "grid@1x");
  uint8_t data[64] = {1, 2, 3};
  uint64_t size;
  void *tmp = NULL;

  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 64, &tmp), 0);
  assert_int_equal(vss_blobs_write(b, tmp, 0, data, 64), 0);
  /* Not visible before commit. */
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  vss_blobs_discard(b, tmp);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);

  /* Discarding a replacement keeps the committed blob as it was. */
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, data, 10), 0);
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 64, &tmp), 0);
  vss_blobs_discard(b, tmp);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size), 0);
  assert_int_equal(size, 10);

  /* A temporary still open at close is freed (the sanitizer build
   * checks for the leak). */
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 64, &tmp), 0);
}

static void test_write_bounds(void **state) {
  vss_blobs *b = *state;
  vss_key k = key_n(4, "icon@2x");
  uint8_t data[128] = {0}, buf[100];
  void *tmp = NULL;

  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 100, &tmp), 0);
  assert_int_equal(vss_blobs_write(b, tmp, 0, data, 101), VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_write(b, tmp, 50, data, 51), VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_write(b, tmp, 101, data, 0), VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_write(b, tmp, UINT64_MAX, data, 2),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_write(b, tmp, UINT64_MAX - 1, data, 4),
                   VSS_ERR_INVALID);
  /* In bounds, in any order; the tmp is still usable after a refusal. */
  memset(data, 0xee, sizeof(data));
  assert_int_equal(vss_blobs_write(b, tmp, 50, data, 50), 0);
  memset(data, 0x11, sizeof(data));
  assert_int_equal(vss_blobs_write(b, tmp, 0, data, 50), 0);
  assert_int_equal(vss_blobs_write(b, tmp, 100, data, 0), 0);
  assert_int_equal(vss_blobs_commit(b, tmp), 0);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, buf, 100), 0);
  assert_int_equal(buf[49], 0x11);
  assert_int_equal(buf[50], 0xee);
  assert_int_equal(buf[99], 0xee);
}

static void test_bad_keys(void **state) {
  vss_blobs *b = *state;
  vss_key k = key_n(5, "grid@2x");
  uint64_t size;
  void *tmp = NULL;

  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_COUNT, 1, &tmp),
                   VSS_ERR_INVALID);
  k.kind = VSS_KIND_COUNT;
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 1, &tmp),
                   VSS_ERR_INVALID);
  k = key_n(5, "grid@2x");
  strcpy(k.variant, "..");
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, "x", 1), VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size), VSS_ERR_INVALID);
  memset(k.variant, 'a', sizeof(k.variant)); /* no NUL */
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size), VSS_ERR_INVALID);
  assert_null(tmp);
}

/* Bytes after the variant's NUL do not make a different key. */
static void test_key_padding(void **state) {
  vss_blobs *b = *state;
  vss_key k = key_n(6, "grid@2x"), k2 = k;
  uint64_t size;

  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, "abc", 3), 0);
  memset(k2.variant + 8, 'z', sizeof(k2.variant) - 8);
  assert_int_equal(vss_blobs_stat(b, &k2, VSS_FMT_WEBP, &size), 0);
  assert_int_equal(size, 3);
}

static void test_checksum_helper(void **state) {
  static const uint64_t sizes[] = {0,
                                   1,
                                   4096,
                                   VSS_CHUNK_SIZE - 1,
                                   VSS_CHUNK_SIZE,
                                   VSS_CHUNK_SIZE + 1,
                                   2 * VSS_CHUNK_SIZE + 7};
  vss_blobs *b = *state;
  vss_hash want, got;
  uint8_t *data;
  size_t i;

  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    vss_key k = key_n(100 + (uint32_t)i, "default");

    data = pattern(sizes[i], (uint32_t)i);
    assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_JSON, data, sizes[i]), 0);
    assert_int_equal(vss_checksum_buffer(data, sizes[i], &want), 0);
    assert_int_equal(vss_blobs_checksum(b, &k, VSS_FMT_JSON, sizes[i], &got),
                     0);
    assert_true(vss_hash_eq(&want, &got));
    /* The wrong size is refused, not hashed as a prefix. */
    assert_int_equal(
        vss_blobs_checksum(b, &k, VSS_FMT_JSON, sizes[i] + 1, &got),
        VSS_ERR_INVALID);
    free(data);
  }
  {
    vss_key k = key_n(99, "default");
    assert_int_equal(vss_blobs_checksum(b, &k, VSS_FMT_JSON, 1, &got),
                     VSS_ERR_NOT_FOUND);
  }
}

/* Thousands of blobs: the table grows and every one stays reachable. */
static void test_many_blobs(void **state) {
  static const char *const variants[] = {"grid@1x", "grid@2x", "icon@1x"};
  vss_blobs *b = *state;
  uint32_t i, got;
  uint64_t size;

  for (i = 0; i < 6000; i++) {
    vss_key k = key_n(i / 3, variants[i % 3]);
    assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, &i, sizeof(i)), 0);
  }
  for (i = 0; i < 6000; i++) {
    vss_key k = key_n(i / 3, variants[i % 3]);
    assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, &got, 4), 0);
    assert_int_equal(got, i);
    if (i % 2) assert_int_equal(vss_blobs_remove(b, &k, VSS_FMT_WEBP), 0);
  }
  for (i = 0; i < 6000; i++) {
    vss_key k = key_n(i / 3, variants[i % 3]);
    assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                     i % 2 ? VSS_ERR_NOT_FOUND : 0);
  }
}

/* A blob store whose writes fail: vss_blobs_put discards, never commits. */
typedef struct failing {
  int discarded, committed;
} failing;

static int f_open(void *ctx, const vss_key *k, vss_format f, uint64_t size,
                  void **tmp) {
  (void)k;
  (void)f;
  (void)size;
  *tmp = ctx;
  return 0;
}
static int f_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                   size_t len) {
  (void)ctx;
  (void)tmp;
  (void)buf;
  (void)len;
  return off >= VSS_CHUNK_SIZE ? VSS_ERR_IO : 0; /* the second piece fails */
}
static int f_commit(void *ctx, void *tmp) {
  (void)tmp;
  ((failing *)ctx)->committed++;
  return 0;
}
static void f_discard(void *ctx, void *tmp) {
  (void)tmp;
  ((failing *)ctx)->discarded++;
}
static int f_read(void *ctx, const vss_key *k, vss_format f, uint64_t off,
                  void *buf, size_t len) {
  (void)ctx, (void)k, (void)f, (void)off, (void)buf, (void)len;
  return VSS_ERR_IO;
}
static int f_stat(void *ctx, const vss_key *k, vss_format f, uint64_t *size) {
  (void)ctx, (void)k, (void)f;
  *size = 10;
  return 0;
}
static int f_remove(void *ctx, const vss_key *k, vss_format f) {
  (void)ctx, (void)k, (void)f;
  return 0;
}

static void test_put_discards_on_error(void **state) {
  static const vss_blob_methods m = {f_open, f_write, f_commit, f_discard,
                                     f_read, f_stat,  f_remove, NULL,
                                     NULL,   NULL,    NULL,     NULL};
  static const vss_blob_methods incomplete = {.open_temp = f_open};
  failing fl = {0, 0};
  vss_blobs *b;
  vss_key k = key_n(1, "1080p");
  uint8_t *data = pattern(VSS_CHUNK_SIZE + 10, 0);
  vss_hash h;

  (void)state;
  assert_int_equal(vss_blobs_new(&b, &incomplete, &fl), VSS_ERR_INVALID);
  assert_int_equal(vss_blobs_new(&b, &m, &fl), 0);
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_MP4, data, VSS_CHUNK_SIZE + 10),
                   VSS_ERR_IO);
  assert_int_equal(fl.discarded, 1);
  assert_int_equal(fl.committed, 0);
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_MP4, data, 10), 0);
  assert_int_equal(fl.committed, 1);
  assert_int_equal(vss_blobs_checksum(b, &k, VSS_FMT_MP4, 10, &h), VSS_ERR_IO);
  vss_blobs_del(b);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_read_stat_remove, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_replace_and_empty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_padding, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checksum_helper, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_blobs, setup, teardown),
      cmocka_unit_test(test_put_discards_on_error),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
