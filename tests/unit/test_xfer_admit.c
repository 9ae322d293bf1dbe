/*
 * test_xfer_admit.c - a holder serving many requesters (issue 8, the
 * fleet-100 internet-prefetch collapse): upload slots, VSS_ERR_BUSY and
 * the requester's backoff without blame; a slow or stalled sole source;
 * the temp-blob bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "xfer_fixture.h"

/* ---- upload slots ----------------------------------------------------- */

typedef struct fleet_stats {
  size_t got, failed, retries, dropped, bad, busy, fg_busy;
} fleet_stats;

static void fleet_count(vss_h *h, int first, int last, const vss_key *k,
                        uint32_t nkeys, uint64_t size, fleet_stats *st) {
  memset(st, 0, sizeof(*st));
  for (int i = first; i <= last; i++) {
    for (uint32_t t = 0; t < nkeys; t++)
      st->got +=
          fx_ready(h, i, &k[t]) && fx_holds(h, i, &k[t], VSS_FMT_WEBP, size);
    st->failed += fx_count(h, i, VSS_EV_FETCH_FAILED, 0);
    st->retries += fx_count(h, i, VSS_EV_RETRY, 0);
    st->dropped += fx_count(h, i, VSS_EV_SOURCE_DROPPED, 0);
    st->bad += fx_count(h, i, VSS_EV_CHUNK_BAD, 0);
    st->busy += fx_count(h, i, VSS_EV_SOURCE_BUSY, 0);
  }
}

/* One holder behind a 5 MB/s uplink (a home line), 50 devices
 * prefetching its 60 thumbnails each over the internet: 135 MB, about
 * 27 s of upload. Without admission every requester keeps a window
 * (>= 1 MiB) queued at the holder: 50 MiB, ten seconds of queue, and
 * every request outlives its timeout - retries, dropped sources, failed
 * prefetches. With upload slots the holder serves a few at a time and
 * tells the rest BUSY: everything arrives verified, no source is
 * dropped or blamed, retries stay a small fraction of the fetches, and
 * the run takes about what the uplink needs. */
static void test_one_holder_fifty_requesters(void **state) {
  (void)state;
  enum { CLIENTS = 50, THUMBS = 60, SZ = 45000 };
  vss_h *h = vss_h_new(8001);
  vss_node_config c;
  vss_node_config_default(&c); /* thumbnails eager */
  c.upload_slots = getenv("NOADMIT") ? 64 : 0;
  fx_node(h, "holder", &c);
  c.upload_slots = 0;
  assert_int_equal(vss_h_set_uplink(h, 0, 5 * MB), 0);
  vss_key k[THUMBS];
  for (uint32_t i = 0; i < THUMBS; i++) {
    vss_h_key(&k[i], 800000 + i, VSS_KIND_THUMB, "grid@2x");
    assert_int_equal(vss_h_generate(h, 0, &k[i], VSS_FMT_WEBP, SZ), 0);
  }
  for (int i = 1; i <= CLIENTS; i++) {
    char name[16];
    snprintf(name, sizeof(name), "client%d", i);
    fx_node(h, name, &c);
    vss_h_link_opts o = {.rate = 50 * MB,
                         .delay = 15 * MS,
                         .cls = VSS_LINK_INTERNET,
                         .no_hints = 1};
    assert_int_equal(vss_h_link(h, 0, i, &o), 0);
  }
  vss_time t0 = vss_h_now(h);
  fleet_stats st;
  vss_time done_at = 0;
  for (int step = 1; step <= 24 && !done_at; step++) {
    vss_h_run_until(h, t0 + (vss_time)step * 5 * S);
    fleet_count(h, 1, CLIENTS, k, THUMBS, SZ, &st);
    if (st.got == (size_t)CLIENTS * THUMBS) done_at = vss_h_now(h) - t0;
  }
  fleet_count(h, 1, CLIENTS, k, THUMBS, SZ, &st);
  printf("# %zu of %d thumbnails verified by %.0f s, %zu failed, %zu "
         "retries, %zu sources dropped, %zu bad chunks, %zu busy answers\n",
         st.got, CLIENTS * THUMBS, (double)(vss_h_now(h) - t0) / S, st.failed,
         st.retries, st.dropped, st.bad, st.busy);
  assert_int_equal(st.got, CLIENTS * THUMBS);
  assert_int_equal(st.failed, 0);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.bad, 0);
  /* Retries: a small fraction of the fetches (a request that outlived
   * its deadline now and then), not one per fetch. */
  assert_true(st.retries * 20 <= (size_t)CLIENTS * THUMBS);
  /* Admission did the work: requesters were told BUSY... */
  assert_true(st.busy > 0);
  /* ...and the upload took about what the line needs (135 MB at 5 MB/s:
   * 27 s), not a collapse into retries and timeouts. */
  assert_true(done_at > 0 && done_at <= 60 * S);
  vss_h_del(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_holder_fifty_requesters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
