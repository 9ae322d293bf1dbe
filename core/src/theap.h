/*
 * theap.h - an indexed binary min-heap of timers. Each object in it
 * keeps its own position, so its time can be moved or the object removed
 * in O(log n), and the earliest time is the top: the transfer engine
 * keeps its request deadlines and job wake-ups here instead of scanning
 * every request and job after each event (10,000 jobs made those scans
 * a fifth of the CPU).
 *
 * Equal times are ordered by a number the caller gives (an id, a
 * sequence number), so the heap's shape never depends on anything but
 * its inputs.
 */
#ifndef VSS_THEAP_H
#define VSS_THEAP_H

#include "vss/model.h"

#define VSS_THEAP_NONE UINT32_MAX /* *pos of an object not in the heap */

typedef struct vss_theap_ent {
  vss_time t;
  uint64_t tie;
  void *obj;
  uint32_t *pos; /* the object's position field */
} vss_theap_ent;

typedef struct vss_theap {
  vss_theap_ent *v;
  uint32_t n, cap;
} vss_theap;

void vss_theap_free(vss_theap *h);
/* Room for n entries in all: inserts within it cannot fail, so callers
 * reserve when they create the object and never lose a timer later. */
int vss_theap_reserve(vss_theap *h, uint32_t n);
/* Put obj (position kept in *pos, VSS_THEAP_NONE when out) at time t, or
 * move it there; t = VSS_TIME_UNSET takes it out. VSS_ERR_NOMEM when an
 * insert finds no reserved room. */
int vss_theap_set(vss_theap *h, void *obj, uint32_t *pos, vss_time t,
                  uint64_t tie);
void vss_theap_remove(vss_theap *h, uint32_t *pos);

static inline vss_time vss_theap_top(const vss_theap *h) {
  return h->n ? h->v[0].t : VSS_TIME_UNSET;
}

/* The objects due at now (t <= now), in no particular order, into out,
 * which has room for h->n. Visits only the due part of the heap. */
size_t vss_theap_due(const vss_theap *h, vss_time now, void **out);

#endif
