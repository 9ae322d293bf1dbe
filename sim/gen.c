/*
 * gen.c - local generation of sidecars, modelled by time: each device
 * has gen_parallel workers; an item takes the device's cost for its kind
 * (class defaults, overridable per device). Work comes from the node (the
 * resolver's fallback: the generate callback, with a job id) and from the
 * timeline ("generate": the application's own jobs, like Spacedrive's
 * ThumbnailJob). A finished item is committed to the blob store as the
 * deterministic content and recorded with vss_node_add_local.
 */
#include "world.h"

#include "content.h"

#include <string.h>

static void push(device *d, const vss_key *key, vss_format fmt, uint64_t job) {
  if (d->gq_head + d->gq_n == d->gq_cap) {
    if (d->gq_head > 0) { /* compact before growing */
      memmove(d->gq, d->gq + d->gq_head, (size_t)d->gq_n * sizeof(*d->gq));
      d->gq_head = 0;
    } else {
      d->gq_cap = d->gq_cap ? d->gq_cap * 2 : 64;
      d->gq = xrealloc(d->gq, (size_t)d->gq_cap * sizeof(*d->gq));
    }
  }
  gen_item *g = &d->gq[d->gq_head + d->gq_n++];
  memset(g, 0, sizeof(*g));
  g->key = *key;
  g->fmt = fmt;
  g->job = job;
}

int gen_callback(void *user, const vss_key *key, vss_format fmt, uint64_t job) {
  device *d = user;
  vss_time cost = sc_gen_cost(d->w->sc, d->idx, key->kind);
  if (cost == VSS_TIME_UNSET) return VSS_ERR_GENERATE; /* this device cannot */
  push(d, key, fmt, job);
  return 0;
}

void gen_enqueue_app(device *d, const vss_key *key, vss_format fmt) {
  if (sc_gen_cost(d->w->sc, d->idx, key->kind) == VSS_TIME_UNSET) {
    d->m.gen_failed++;
    return;
  }
  push(d, key, fmt, 0);
}

void gen_start(device *d) {
  while (d->nrunning < d->parallel && d->gq_n > 0) {
    gen_item g = d->gq[d->gq_head++];
    d->gq_n--;
    if (d->gq_n == 0) d->gq_head = 0;
    g.done_at = d->now + sc_gen_cost(d->w->sc, d->idx, g.key.kind);
    d->running[d->nrunning++] = g;
  }
}

static int held_locally(device *d, const vss_key *key) {
  vss_sidecar_row row;
  return vss_store_get_sidecar(d->store, key, &row) == 0 &&
         row.status == VSS_STATUS_READY;
}

static void finish(device *d, const gen_item *g) {
  if (g->job == 0 && held_locally(d, &g->key)) {
    d->m.gen_skipped++; /* fetched meanwhile: the job finds it done */
    return;
  }
  uint64_t size = content_size(d->w->sc, &g->key);
  synth_blobs_add(d->synth, &g->key, g->fmt, size);
  int rc = vss_node_add_local(d->node, &g->key, g->fmt, NULL, size, d->now);
  if (rc == 0) {
    if (g->job)
      d->m.gen_resolver++;
    else
      d->m.gen_app++;
    return;
  }
  d->m.gen_failed++;
  if (g->job) vss_node_generate_failed(d->node, g->job, rc, d->now);
}

void gen_complete(device *d) {
  for (int i = 0; i < d->nrunning;) {
    if (d->running[i].done_at > d->now) {
      i++;
      continue;
    }
    gen_item g = d->running[i];
    d->running[i] = d->running[--d->nrunning];
    finish(d, &g);
  }
}

vss_time gen_next(const device *d) {
  vss_time t = VSS_TIME_UNSET;
  for (int i = 0; i < d->nrunning; i++)
    if (d->running[i].done_at < t) t = d->running[i].done_at;
  return t;
}

/* A restart: the node's jobs are gone, so are their generations. */
void gen_drop_jobs(device *d) {
  int w = 0;
  for (int i = 0; i < d->nrunning; i++)
    if (d->running[i].job == 0) d->running[w++] = d->running[i];
  d->nrunning = w;
  int n = 0;
  for (int i = 0; i < d->gq_n; i++) {
    gen_item g = d->gq[d->gq_head + i];
    if (g.job == 0) d->gq[d->gq_head + n++] = g;
  }
  d->gq_n = n;
}
