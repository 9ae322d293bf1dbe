/*
 * test_conn.c - the stated per-session memory bound (real/README.md):
 * the receive and write buffers of one authenticated session, for the
 * core's largest frame, stay under 8 MiB (they were about 15 MiB).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "conn.h"
#include "wire.h"

static void test_session_bytes(void **st) {
  size_t b = conn_session_bytes(VSS_WIRE_HDR + VSS_WIRE_MAX_BODY);
  (void)st;
  printf("per-session buffers: %.2f MiB\n", (double)b / (1 << 20));
  assert_true(b < (size_t)8 << 20);
  assert_true(b > (size_t)3 * (VSS_WIRE_MAX_BODY)); /* not a silly figure */
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_session_bytes)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
