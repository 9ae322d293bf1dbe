/*
 * monitor.c - an actor that wakes every check_every of simulated time to
 * (1) measure convergence and (2) show progress on a terminal.
 *
 * Convergence, over every thumbnail held anywhere:
 *   availability - every online device knows at least one holder of every
 *                  thumbnail (or holds it): the fleet can find them all;
 *   holders      - every device's cache of every connected peer has as
 *                  many entries as that peer holds: everyone knows every
 *                  holder.
 * Each is reported as the simulated time it last became true (and stayed
 * true to the end of the run), so later sidecars push it out.
 */
#include "world.h"

#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the set of thumbnails
 * --------------------------------------------------- */

static size_t thumb_slot(const world *w, const vss_key *k) {
  uint64_t h = hash64(k->content.b, 16, 3);
  return (size_t)hash64(k->variant, strlen(k->variant), h) & (w->thumb_cap - 1);
}

static void thumb_rehash(world *w) {
  w->thumb_cap = w->thumb_cap ? w->thumb_cap * 2 : 1024;
  free(w->thumb_index);
  w->thumb_index = xcalloc(w->thumb_cap, sizeof(int));
  for (size_t i = 0; i < w->thumb_cap; i++)
    w->thumb_index[i] = -1;
  for (size_t t = 0; t < w->nthumbs; t++) {
    size_t i = thumb_slot(w, &w->thumbs[t]);
    while (w->thumb_index[i] >= 0)
      i = (i + 1) & (w->thumb_cap - 1);
    w->thumb_index[i] = (int)t;
  }
}

static long thumb_find(const world *w, const vss_key *k) {
  if (!w->thumb_cap) return -1;
  for (size_t i = thumb_slot(w, k); w->thumb_index[i] >= 0;
       i = (i + 1) & (w->thumb_cap - 1))
    if (vss_key_cmp(&w->thumbs[w->thumb_index[i]], k) == 0)
      return w->thumb_index[i];
  return -1;
}

void monitor_thumb(world *w, const vss_key *key) {
  if (key->kind != VSS_KIND_THUMB || thumb_find(w, key) >= 0) return;
  if ((w->nthumbs + 1) * 2 > w->thumb_cap) thumb_rehash(w);
  if (w->nthumbs == w->capthumbs) {
    w->capthumbs = w->capthumbs ? w->capthumbs * 2 : 1024;
    w->thumbs = xrealloc(w->thumbs, w->capthumbs * sizeof(*w->thumbs));
    if (!w->known) w->known = xcalloc((size_t)w->ndev, sizeof(uint8_t *));
    for (int d = 0; d < w->ndev; d++)
      w->known[d] = xrealloc(w->known[d], w->capthumbs);
  }
  size_t t = w->nthumbs++;
  w->thumbs[t] = *key;
  for (int d = 0; d < w->ndev; d++)
    w->known[d][t] = 0;
  size_t i = thumb_slot(w, key);
  while (w->thumb_index[i] >= 0)
    i = (i + 1) & (w->thumb_cap - 1);
  w->thumb_index[i] = (int)t;
}

void monitor_free(world *w) {
  for (int d = 0; d < w->ndev && w->known; d++)
    free(w->known[d]);
  free(w->known);
  free(w->thumbs);
  free(w->thumb_index);
  w->known = NULL;
  w->thumbs = NULL;
  w->thumb_index = NULL;
}

/* ---- availability convergence
 * -------------------------------------------------- */

typedef struct mark_ctx {
  world *w;
  int d;
} mark_ctx;

static int mark_known(void *user, const vss_key *key, const vss_uuid *device,
                      int online, uint64_t size, const vss_hash *checksum) {
  (void)device;
  (void)online;
  (void)size;
  (void)checksum;
  mark_ctx *c = user;
  long t = thumb_find(c->w, key);
  if (t >= 0) c->w->known[c->d][t] = 1;
  return 0;
}

/* Ask device d about the thumbnails it did not know yet, one variant at a
 * time; returns 1 when it now knows them all. */
static int device_knows_all(world *w, int d, vss_time now) {
  device *dev = &w->devs[d];
  vss_uuid *ids = NULL;
  size_t n = 0;
  mark_ctx c = {w, d};
  for (size_t t = 0; t < w->nthumbs; t++) /* held here: known, no SQL */
    if (!w->known[d][t] &&
        synth_blobs_pure(dev->synth, &w->thumbs[t], VSS_FMT_WEBP) >= 0)
      w->known[d][t] = 1;
  for (size_t t = 0; t < w->nthumbs; t++) {
    if (w->known[d][t]) continue;
    const char *variant = w->thumbs[t].variant;
    n = 0;
    ids = xrealloc(ids, (w->nthumbs - t) * sizeof(*ids));
    for (size_t u = t; u < w->nthumbs; u++)
      if (!w->known[d][u] && strcmp(w->thumbs[u].variant, variant) == 0)
        ids[n++] = w->thumbs[u].content;
    vss_node_get_presence(dev->node, ids, n, VSS_KIND_THUMB, &variant, 1,
                          mark_known, &c, now);
    if (!w->known[d][t]) break; /* still unknown: not converged */
  }
  free(ids);
  for (size_t t = 0; t < w->nthumbs; t++)
    if (!w->known[d][t]) return 0;
  return 1;
}

static int avail_converged(world *w, vss_time now) {
  if (w->nthumbs == 0) return 0;
  for (int d = 0; d < w->ndev; d++)
    if (w->online[d] && !device_knows_all(w, d, now)) return 0;
  return 1;
}

/* ---- holder convergence
 * -------------------------------------------------------- */

/* A fingerprint of a set of (key, size, checksum): the sum of the
 * members' hashes and their count, so the order of a walk does not
 * matter. */
typedef struct fp_ctx {
  world *w;
  uint64_t *sum, *cnt; /* per holder device */
  int *touched;        /* holders with a non-zero count (reset list) */
  int ntouched;
} fp_ctx;

/* Zero only what the last walk wrote: O(holders seen), not O(devices)
 * (10,000 devices made the full memset the monitor's main cost). */
static void fp_reset(fp_ctx *c) {
  for (int i = 0; i < c->ntouched; i++) {
    c->sum[c->touched[i]] = 0;
    c->cnt[c->touched[i]] = 0;
  }
  c->ntouched = 0;
}

static int fp_add(void *user, const vss_key *key, const vss_uuid *device,
                  int online, uint64_t size, const vss_hash *checksum) {
  fp_ctx *c = user;
  (void)online;
  int p = world_dev_by_id(c->w, device);
  if (p < 0) return 0;
  uint64_t h = hash64(key->content.b, 16, (uint64_t)key->kind);
  h = hash64(key->variant, strlen(key->variant), h);
  h = hash64(checksum->b, sizeof(checksum->b), h ^ size);
  if (!c->cnt[p]) c->touched[c->ntouched++] = p;
  c->sum[p] += h;
  c->cnt[p]++;
  return 0;
}

/* Every online device's cache of each connected peer holds exactly what
 * that peer holds: the same keys, sizes and checksums (contents, not
 * counts). Counts are compared first (cheap); the contents only when
 * they agree. */
static int contents_match(world *w) {
  int n = w->ndev, ok = 1;
  uint64_t *own = xcalloc((size_t)n * 2, sizeof(uint64_t));
  uint64_t *view = xcalloc((size_t)n * 2, sizeof(uint64_t));
  fp_ctx c = {w, view, view + n, xcalloc((size_t)n, sizeof(int)), 0};
  for (int d = 0; d < n; d++) {
    vss_node_iter_presence(w->devs[d].node, fp_add, &c, w->devs[d].now);
    own[d] = view[d];
    own[n + d] = view[n + d];
    fp_reset(&c);
  }
  for (int d = 0; d < n && ok; d++) {
    if (!w->online[d]) continue;
    vss_node_iter_presence(w->devs[d].node, fp_add, &c, w->devs[d].now);
    /* the connected peers only: d's sessions, not every device */
    const device *dv = &w->devs[d];
    for (int i = 0; i < dv->npvs && ok; i++) {
      int p = dv->pvs[i]->idx;
      if (world_pair_up(w, d, p) &&
          (view[p] != own[p] || view[n + p] != own[n + p]))
        ok = 0;
    }
    fp_reset(&c);
  }
  free(c.touched);
  free(own);
  free(view);
  return ok;
}

static int holders_converged(world *w) {
  if (w->nthumbs == 0) return 0;
  uint64_t *held = xcalloc((size_t)w->ndev, sizeof(uint64_t));
  vss_peer_info *info = xcalloc((size_t)w->ndev, sizeof(*info));
  int ok = 1;
  /* What each device holds: its committed blobs (a row is committed right
   * after its blob, in the same step of the run). */
  for (int d = 0; d < w->ndev; d++)
    held[d] = synth_blobs_count(w->devs[d].synth);
  for (int d = 0; d < w->ndev && ok; d++) {
    if (!w->online[d]) continue;
    int n = vss_node_peers(w->devs[d].node, info, (size_t)w->ndev);
    for (int i = 0; i < n && i < w->ndev && ok; i++) {
      int p = world_dev_by_id(w, &info[i].device);
      if (p < 0 || !info[i].online || !world_pair_up(w, d, p)) continue;
      if (info[i].entries != held[p]) ok = 0;
    }
  }
  free(held);
  free(info);
  return ok && contents_match(w);
}

/* ---- progress
 * ------------------------------------------------------------------- */

static void progress(world *w, vss_time now, double *last_print) {
  double t = wall_now();
  if (t - *last_print < 0.5) return;
  *last_print = t;
  double s = ns_to_s(now), e = ns_to_s(w->end);
  fprintf(stderr,
          "\r  sim %02d:%02d:%05.2f / %02d:%02d:%02.0f  frames %llu  events "
          "%llu  in flight %llu  wall %.1f s   ",
          (int)(s / 3600), (int)(s / 60) % 60, s - 60 * (int)(s / 60),
          (int)(e / 3600), (int)(e / 60) % 60, e - 60 * (int)(e / 60),
          (unsigned long long)w->frames_total,
          (unsigned long long)w->events_total,
          (unsigned long long)w->live_envelopes, t - w->wall_start);
  if (getenv("VSS_SIM_DEBUG")) {
    long sends = 0, held = 0;
    for (int d = 0; d < w->ndev; d++) {
      sends += w->devs[d].ncomms - RECV_SLOTS;
      for (int i = 0; i < w->devs[d].npvs; i++)
        held += (long)w->devs[d].pvs[i]->held_bytes;
    }
    fprintf(stderr, " [puts %ld held %ld B]", sends, held);
  }
}

static void update(vss_time *since, int holds, vss_time now) {
  if (!holds)
    *since = VSS_TIME_UNSET;
  else if (*since == VSS_TIME_UNSET)
    *since = now;
}

void monitor_actor(int argc, char **argv) {
  (void)argc;
  (void)argv;
  world *w = g_world;
  double step = ns_to_s(w->sc->check_every);
  double last_print = 0;
  int show = w->opt.progress > 0 ||
             (w->opt.progress < 0 && isatty(2) && !w->opt.quiet);
  size_t seen_thumbs = 0;
  uint64_t seen_gen = 0, seen_changes = UINT64_MAX;
  int avail = 0, holders = 0;
  prof_resume(w);
  for (;;) {
    prof_block(w);
    sg_actor_sleep_for(step);
    prof_resume(w);
    vss_time now = (vss_time)(simgrid_get_clock() * 1e9 + 0.5);
    /* Knowing a holder only changes with new thumbnails or connectivity:
     * keep the answer otherwise. */
    if (!avail || w->nthumbs != seen_thumbs || w->gen != seen_gen) {
      avail = avail_converged(w, now);
      seen_thumbs = w->nthumbs;
      seen_gen = w->gen;
    }
    update(&w->avail_converged, avail, now);
    /* Holder knowledge changes only through the events counted here. */
    if (w->avail_changes != seen_changes) {
      holders = holders_converged(w);
      seen_changes = w->avail_changes;
    }
    update(&w->holders_converged, holders, now);
    views_sample(w);
    if (show) progress(w, now, &last_print);
    if (w->opt.max_wall > 0 && wall_now() - w->wall_start > w->opt.max_wall) {
      /* Out of wall time: end the run here and let the summary say so,
       * rather than be killed with nothing written. */
      w->stopped_at = now;
      w->end = now;
      prof_block(w);
      sg_actor_kill_all();
      return;
    }
  }
}
