/*
 * test_paircode.c - pairing codes: round trip, forgiving input, typos
 * caught by the checksum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "paircode.h"

static void fill(vss_uuid *u, uint8_t pk[32]) {
  randombytes_buf(u->b, 16);
  randombytes_buf(pk, 32);
}

static void test_round_trip(void **st) {
  vss_uuid u, u2;
  uint8_t pk[32], pk2[32];
  char code[PAIRCODE_LEN + 1];
  (void)st;
  for (int i = 0; i < 100; i++) {
    fill(&u, pk);
    assert_int_equal(paircode_encode(&u, pk, code, sizeof code), 0);
    assert_int_equal(strlen(code), PAIRCODE_LEN);
    assert_int_equal(strncmp(code, "vss1-", 5), 0);
    assert_int_equal(paircode_decode(code, &u2, pk2), 0);
    assert_memory_equal(u.b, u2.b, 16);
    assert_memory_equal(pk, pk2, 32);
  }
}

static void test_forgiving(void **st) {
  vss_uuid u, u2;
  uint8_t pk[32], pk2[32];
  char code[PAIRCODE_LEN + 1], loose[200];
  size_t n = 0;
  (void)st;
  fill(&u, pk);
  paircode_encode(&u, pk, code, sizeof code);
  /* Upper case, groups of five, blanks around. */
  n += (size_t)sprintf(loose, "  VSS1-");
  for (size_t i = 5; code[i]; i++) {
    if (i > 5 && (i - 5) % 5 == 0) loose[n++] = '-';
    loose[n++] = (char)(code[i] >= 'a' ? code[i] - 32 : code[i]);
  }
  strcpy(loose + n, "\n");
  assert_int_equal(paircode_decode(loose, &u2, pk2), 0);
  assert_memory_equal(pk, pk2, 32);
}

static void test_typos(void **st) {
  vss_uuid u, u2;
  uint8_t pk[32], pk2[32];
  char code[PAIRCODE_LEN + 8]; /* room to append junk */
  (void)st;
  fill(&u, pk);
  paircode_encode(&u, pk, code, sizeof code);
  code[20] = code[20] == 'a' ? 'b' : 'a';
  assert_int_equal(paircode_decode(code, &u2, pk2), -2);
  paircode_encode(&u, pk, code, sizeof code);
  code[PAIRCODE_LEN - 3] = '\0'; /* truncated */
  assert_int_equal(paircode_decode(code, &u2, pk2), -1);
  assert_int_equal(paircode_decode("vss1-!!", &u2, pk2), -1);
  assert_int_equal(paircode_decode("hello", &u2, pk2), -1);
  paircode_encode(&u, pk, code, sizeof code);
  strcat(code, "aa"); /* too long */
  assert_int_equal(paircode_decode(code, &u2, pk2), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_forgiving),
      cmocka_unit_test(test_typos),
  };
  if (sodium_init() < 0) return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
