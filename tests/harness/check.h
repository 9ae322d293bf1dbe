/*
 * check.h - the invariants the stateful fuzzer (tests/fuzz/fuzz_node.c)
 * and the fault campaign (tests/campaign/campaign.c) assert on a harness
 * fleet. They read the nodes' state through the core's internal headers
 * and each node's database under its store_faulty wrapper, so checking
 * never counts as a store call (it cannot fire an armed crash).
 *
 * Each check returns 0 when the invariant holds, else -1 with a readable
 * message in msg (naming the node, key and figures).
 */
#ifndef VSS_HARNESS_CHECK_H
#define VSS_HARNESS_CHECK_H

#include "harness.h"

#include <stddef.h>

typedef struct vss_hc vss_hc;

vss_hc *vss_hc_new(vss_h *h);
void vss_hc_del(vss_hc *c);

/* (a) Safety: every availability row with has = 1 names a committed blob
 * of its size whose two-level checksum is the row's, and its sidecar row
 * is READY with that checksum. Rows already verified at the same seq are
 * not hashed again unless full; *held (optional) gets the bytes held. */
int vss_hc_safety(vss_hc *c, int i, int full, uint64_t *held, char *msg,
                  size_t cap);

/* (c) No job can hang: each job of node i has an outstanding request
 * (with its deadline), a timer, a generation under way, or work to hand
 * to a source that is online and not dropped. */
int vss_hc_jobs(vss_hc *c, int i, char *msg, size_t cap);

/* (b) What one peer can make node i hold. The bounds are the callers'
 * (each states its own, see fuzz_node.c and campaign.c). */
typedef struct vss_hc_budget {
  uint64_t queue_bytes;      /* control frames queued to the peer */
  uint64_t unverified_bytes; /* chunk bytes from the peer awaiting a hash */
  uint64_t cache_entries;    /* presence entries it contributes */
  uint64_t serves;           /* its GETs queued */
} vss_hc_budget;
/* Usage of every peer of node i checked against b; *worst (optional)
 * gets the largest figures seen. */
int vss_hc_budget_check(vss_hc *c, int i, const vss_hc_budget *b,
                        vss_hc_budget *worst, char *msg, size_t cap);

/* (d) Convergence: node a's cache of peer b holds exactly b's sidecars
 * (key, size, checksum), both ways of the difference reported. */
int vss_hc_converged(vss_hc *c, int a, int b, char *msg, size_t cap);

#endif
