/*
 * xfer_fixture.h - helpers shared by the transfer, resolver and prefetch
 * tests (harness fleets, event lookups, blob reads). Header-only.
 */
#ifndef VSS_XFER_FIXTURE_H
#define VSS_XFER_FIXTURE_H

#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define S VSS_NS_PER_S
#define MS VSS_NS_PER_MS
#define MB 1000000.0

/* Defaults with prefetch off: tests that want it turn it on. */
static inline vss_node_config fx_cfg(void) {
  vss_node_config c;
  vss_node_config_default(&c);
  c.prefetch.eager_kinds = 0;
  c.prefetch.lazy_kinds = 0;
  return c;
}

static inline int fx_node(vss_h *h, const char *name, vss_node_config *cfg) {
  vss_h_node_opts o = {.config = cfg};
  int i = vss_h_add_node(h, name, &o);
  assert_true(i >= 0);
  return i;
}

static inline void fx_link(vss_h *h, int a, int b, double rate, vss_time delay,
                           vss_link_class cls, int metered) {
  vss_h_link_opts o = {
      .rate = rate, .delay = delay, .cls = cls, .metered = metered};
  assert_int_equal(vss_h_link(h, a, b, &o), 0);
}

/* The n-th (0-based) event of a type on a node (for job when non-zero). */
static inline const vss_event *fx_event(vss_h *h, int node, vss_event_type type,
                                        uint64_t job, size_t nth) {
  size_t n;
  const vss_event *ev = vss_h_events(h, node, &n);
  for (size_t k = 0; k < n; k++)
    if (ev[k].type == type && (!job || ev[k].job == job) && nth-- == 0)
      return &ev[k];
  return NULL;
}

static inline size_t fx_count(vss_h *h, int node, vss_event_type type,
                              uint64_t job) {
  size_t n, c = 0;
  const vss_event *ev = vss_h_events(h, node, &n);
  for (size_t k = 0; k < n; k++)
    c += ev[k].type == type && (!job || ev[k].job == job);
  return c;
}

/* Node `node` holds key: blob bytes equal the harness content. */
static inline int fx_holds(vss_h *h, int node, const vss_key *k, vss_format fmt,
                           uint64_t size) {
  uint64_t got = 0;
  if (vss_blobs_stat(vss_h_blobs(h, node), k, fmt, &got) || got != size)
    return 0;
  uint8_t *a = malloc(size ? size : 1), *b = malloc(size ? size : 1);
  assert_non_null(a);
  assert_non_null(b);
  int ok = vss_blobs_read(vss_h_blobs(h, node), k, fmt, 0, a, size) == 0;
  vss_h_content(k, size, b);
  ok = ok && memcmp(a, b, size) == 0;
  free(a);
  free(b);
  return ok;
}

/* The store has a READY row for key. */
static inline int fx_ready(vss_h *h, int node, const vss_key *k) {
  vss_sidecar_row row;
  return vss_store_get_sidecar(vss_h_store(h, node), k, &row) == 0 &&
         row.status == VSS_STATUS_READY;
}

static inline int fx_same(const vss_uuid *a, const vss_uuid *b) {
  return vss_uuid_cmp(a, b) == 0;
}

#endif
