/*
 * test_theap.c - the timer heap: against a plain array model under
 * random inserts, moves and removals, the top and the due set always
 * agree, and every object knows its position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vss/rng.h"
#include "theap.h"

#include <stdlib.h>
#include <string.h>

typedef struct obj {
  uint32_t pos;
  vss_time t; /* VSS_TIME_UNSET: not in the heap (the model) */
  uint64_t id;
} obj;

static int cmp_ptr(const void *a, const void *b) {
  const obj *x = *(const obj *const *)a, *y = *(const obj *const *)b;
  return x < y ? -1 : x > y;
}

/* The heap holds exactly the model's objects, each where it says, and
 * the due set at `now` is the model's. */
static void check(const vss_theap *h, obj *o, size_t n, vss_time now) {
  vss_time top = VSS_TIME_UNSET;
  uint64_t top_id = UINT64_MAX;
  uint32_t in = 0;
  size_t due = 0;
  for (size_t i = 0; i < n; i++) {
    if (o[i].t == VSS_TIME_UNSET) {
      assert_int_equal(o[i].pos, VSS_THEAP_NONE);
      continue;
    }
    in++;
    assert_true(o[i].pos < h->n);
    assert_ptr_equal(h->v[o[i].pos].obj, &o[i]);
    assert_int_equal(h->v[o[i].pos].t, o[i].t);
    if (o[i].t < top || (o[i].t == top && o[i].id < top_id)) {
      top = o[i].t;
      top_id = o[i].id;
    }
    due += o[i].t <= now;
  }
  assert_int_equal(h->n, in);
  assert_int_equal(vss_theap_top(h), top);
  if (in) assert_int_equal(((const obj *)h->v[0].obj)->id, top_id);
  void **got = malloc((h->n + 1) * sizeof(*got));
  assert_non_null(got);
  size_t k = vss_theap_due(h, now, got);
  assert_int_equal(k, due);
  qsort(got, k, sizeof(*got), cmp_ptr);
  for (size_t i = 0; i < k; i++) {
    const obj *g = got[i];
    assert_true(g->t <= now);
    if (i) assert_true(got[i - 1] != got[i]);
  }
  free(got);
}

static void test_random_against_model(void **state) {
  (void)state;
  enum { N = 500 };
  obj *o = calloc(N, sizeof(*o));
  assert_non_null(o);
  for (size_t i = 0; i < N; i++) {
    o[i].pos = VSS_THEAP_NONE;
    o[i].t = VSS_TIME_UNSET;
    o[i].id = i;
  }
  vss_theap h = {0};
  assert_int_equal(vss_theap_reserve(&h, N), 0);
  vss_rng r;
  vss_rng_seed(&r, 99);
  for (int step = 0; step < 20000; step++) {
    obj *x = &o[vss_rng_below(&r, N)];
    vss_time t =
        vss_rng_below(&r, 8) == 0 ? VSS_TIME_UNSET : vss_rng_below(&r, 1000);
    if (vss_rng_below(&r, 10) == 0) {
      vss_theap_remove(&h, &x->pos);
      x->t = VSS_TIME_UNSET;
    } else {
      assert_int_equal(vss_theap_set(&h, x, &x->pos, t, x->id), 0);
      x->t = t;
    }
    if (step % 97 == 0) check(&h, o, N, vss_rng_below(&r, 1000));
  }
  check(&h, o, N, 500);
  check(&h, o, N, VSS_TIME_UNSET - 1);
  vss_theap_free(&h);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(o[i].pos, VSS_THEAP_NONE);
  free(o);
}

/* Equal times come out by tie number, and an insert beyond the reserved
 * room fails instead of losing a timer silently. */
static void test_ties_and_room(void **state) {
  (void)state;
  obj o[3] = {{VSS_THEAP_NONE, 5, 30},
              {VSS_THEAP_NONE, 5, 10},
              {VSS_THEAP_NONE, 5, 20}};
  vss_theap h = {0};
  assert_int_equal(vss_theap_set(&h, &o[0], &o[0].pos, 5, 30), VSS_ERR_NOMEM);
  assert_int_equal(o[0].pos, VSS_THEAP_NONE);
  assert_int_equal(vss_theap_reserve(&h, 3), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(vss_theap_set(&h, &o[i], &o[i].pos, 5, o[i].id), 0);
  assert_ptr_equal(h.v[0].obj, &o[1]);
  vss_theap_remove(&h, &o[1].pos);
  assert_ptr_equal(h.v[0].obj, &o[2]);
  /* Moving later lets the other one up; removing twice is harmless. */
  assert_int_equal(vss_theap_set(&h, &o[2], &o[2].pos, 9, 20), 0);
  assert_ptr_equal(h.v[0].obj, &o[0]);
  vss_theap_remove(&h, &o[1].pos);
  assert_int_equal(vss_theap_set(&h, &o[0], &o[0].pos, VSS_TIME_UNSET, 30), 0);
  assert_int_equal(vss_theap_top(&h), 9);
  vss_theap_free(&h);
  assert_int_equal(vss_theap_top(&h), VSS_TIME_UNSET);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_against_model),
      cmocka_unit_test(test_ties_and_room),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
