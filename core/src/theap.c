/*
 * theap.c - indexed binary min-heap of timers. See theap.h.
 */
#include "theap.h"

#include <stdlib.h>

void vss_theap_free(vss_theap *h) {
  for (uint32_t i = 0; i < h->n; i++)
    *h->v[i].pos = VSS_THEAP_NONE;
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

int vss_theap_reserve(vss_theap *h, uint32_t n) {
  if (n <= h->cap) return 0;
  uint32_t cap = h->cap ? h->cap : 64;
  while (cap < n)
    cap = cap > UINT32_MAX / 2 ? UINT32_MAX - 1 : cap * 2;
  if (cap < n) return VSS_ERR_NOMEM;
  vss_theap_ent *v = realloc(h->v, (size_t)cap * sizeof(*v));
  if (!v) return VSS_ERR_NOMEM;
  h->v = v;
  h->cap = cap;
  return 0;
}

static int before(const vss_theap_ent *a, const vss_theap_ent *b) {
  return a->t < b->t || (a->t == b->t && a->tie < b->tie);
}

static void place(vss_theap *h, uint32_t i, vss_theap_ent e) {
  h->v[i] = e;
  *e.pos = i;
}

static void sift_up(vss_theap *h, uint32_t i) {
  vss_theap_ent e = h->v[i];
  while (i > 0) {
    uint32_t up = (i - 1) / 2;
    if (!before(&e, &h->v[up])) break;
    place(h, i, h->v[up]);
    i = up;
  }
  place(h, i, e);
}

static void sift_down(vss_theap *h, uint32_t i) {
  vss_theap_ent e = h->v[i];
  for (;;) {
    uint64_t c = 2 * (uint64_t)i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
    if (!before(&h->v[c], &e)) break;
    place(h, i, h->v[c]);
    i = (uint32_t)c;
  }
  place(h, i, e);
}

void vss_theap_remove(vss_theap *h, uint32_t *pos) {
  uint32_t i = *pos;
  if (i == VSS_THEAP_NONE || i >= h->n) return;
  *pos = VSS_THEAP_NONE;
  if (i == --h->n) return;
  vss_theap_ent last = h->v[h->n]; /* fills the hole, then finds its place */
  place(h, i, last);
  sift_down(h, i);
  sift_up(h, *last.pos);
}

int vss_theap_set(vss_theap *h, void *obj, uint32_t *pos, vss_time t,
                  uint64_t tie) {
  if (t == VSS_TIME_UNSET) {
    vss_theap_remove(h, pos);
    return 0;
  }
  uint32_t i = *pos;
  if (i != VSS_THEAP_NONE && i < h->n) {
    h->v[i].t = t;
    h->v[i].tie = tie;
    sift_up(h, i);
    sift_down(h, *pos);
    return 0;
  }
  if (h->n == h->cap) return VSS_ERR_NOMEM;
  i = h->n++;
  place(h, i, (vss_theap_ent){.t = t, .tie = tie, .obj = obj, .pos = pos});
  sift_up(h, i);
  return 0;
}

/* Due entries form a subtree at the root: a child is never earlier than
 * its parent. The recursion is as deep as the heap is high (< 33). */
static size_t due_walk(const vss_theap *h, uint64_t i, vss_time now, void **out,
                       size_t n) {
  if (i >= h->n || h->v[i].t > now) return n;
  out[n++] = h->v[i].obj;
  n = due_walk(h, 2 * i + 1, now, out, n);
  return due_walk(h, 2 * i + 2, now, out, n);
}

size_t vss_theap_due(const vss_theap *h, vss_time now, void **out) {
  return due_walk(h, 0, now, out, 0);
}
