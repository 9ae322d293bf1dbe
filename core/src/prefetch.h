/*
 * prefetch.h - prefetch policy (internal, used by xfer_prefetch.c).
 *
 * Offers (a peer holds key) become candidates when the policy makes their
 * kind eager or lazy and the offering peer's link may carry prefetch.
 * Candidates wait in two FIFO queues (eager, lazy) of compact entries:
 * 1M offers per digest happen, so an offer costs O(1) and ~32 bytes.
 * Duplicates (several holders) and keys that became local are weeded out
 * when a candidate comes up (peeked, then popped), not when it is
 * offered: that check needs the store, which is too slow for every offer.
 */
#ifndef VSS_PREFETCH_H
#define VSS_PREFETCH_H

#include "vss/node.h"

typedef struct vss_prefetch vss_prefetch;

typedef enum vss_pf_class {
  VSS_PF_NONE = 0, /* not prefetched (never, or not named) */
  VSS_PF_EAGER,
  VSS_PF_LAZY
} vss_pf_class;

typedef struct vss_pf_cand {
  vss_key key;
  vss_format fmt;
  uint64_t size;
  vss_pf_class cls;
} vss_pf_cand;

int vss_prefetch_new(vss_prefetch **out);
void vss_prefetch_del(vss_prefetch *pf);

/* What the policy does with a kind; never wins over eager and lazy. */
vss_pf_class vss_prefetch_class(const vss_prefetch_policy *pol, vss_kind k);
/* May prefetch travel over this link? (class allowed, not metered unless
 * metered links are allowed). Foreground traffic ignores this. */
int vss_prefetch_link_ok(const vss_prefetch_policy *pol,
                         const vss_link_info *link);
/* Would `extra` more bytes keep `used` within the budget (0 = none)? */
int vss_prefetch_fits(const vss_prefetch_policy *pol, uint64_t used,
                      uint64_t extra);

/* Queue a candidate when policy and link allow. Returns 1 when queued,
 * 0 when the policy said no, or a negative VSS_ERR_*. */
int vss_prefetch_offer(vss_prefetch *pf, const vss_prefetch_policy *pol,
                       const vss_link_info *link, const vss_key *key,
                       vss_format fmt, uint64_t size);
/* Pop the next candidate: eager first; lazy only when allow_lazy.
 * Returns 1 when one was popped, 0 when none is eligible. */
int vss_prefetch_pop(vss_prefetch *pf, int allow_lazy, vss_pf_cand *out);
/* The candidate vss_prefetch_pop would return, left in its queue (the
 * caller may have no room for it yet). */
int vss_prefetch_peek(const vss_prefetch *pf, int allow_lazy, vss_pf_cand *out);
/* Candidates waiting in a class. */
uint64_t vss_prefetch_pending(const vss_prefetch *pf, vss_pf_class cls);
/* Set a candidate aside: it has holders, none of them reachable now
 * (offline, or on a link prefetch may not use). Returns 0 or
 * VSS_ERR_NOMEM (the candidate is then lost, as a skip would). */
int vss_prefetch_park(vss_prefetch *pf, const vss_pf_cand *c);
/* A holder came back: every parked candidate goes back to the end of its
 * queue (those still without a source are parked again when they come
 * up). Returns how many. */
uint64_t vss_prefetch_unpark(vss_prefetch *pf);
uint64_t vss_prefetch_parked(const vss_prefetch *pf);
/* Drop every candidate (policy changed, say). */
void vss_prefetch_clear(vss_prefetch *pf);

#endif
