/*
 * metrics.c - what the run measures: the node events of every device
 * (to the event log CSV and to counters), frames and bytes per device,
 * pair and link (spread over time buckets for the bandwidth plots), the
 * latency samples (availability exchange, foreground fetch, prefetch,
 * request-to-ready) and the user's requests and grids.
 */
#include "world.h"
#include "hostcost.h"

#include "content.h"
#include "vss/frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- content uuid -> item number (for readable logs) ----------------------
 */

typedef struct item_slot {
  vss_uuid id;
  uint32_t item;
  int used;
} item_slot;

static item_slot *items;
static size_t items_cap;

static void item_add(uint32_t n) {
  vss_uuid u;
  content_uuid(n, &u);
  size_t i = (size_t)hash64(u.b, 16, 7) & (items_cap - 1);
  while (items[i].used) {
    if (items[i].item == n) return;
    i = (i + 1) & (items_cap - 1);
  }
  items[i] = (item_slot){.id = u, .item = n, .used = 1};
}

static long item_of(const vss_uuid *u) {
  if (!items_cap) return -1;
  for (size_t i = (size_t)hash64(u->b, 16, 7) & (items_cap - 1); items[i].used;
       i = (i + 1) & (items_cap - 1))
    if (vss_uuid_cmp(&items[i].id, u) == 0) return items[i].item;
  return -1;
}

static void items_build(const scenario *sc) {
  size_t n = 0;
  for (int s = 0; s < sc->nsidecars; s++)
    n += sc->sidecars[s].count;
  for (int e = 0; e < sc->nevents; e++)
    n += sc->events[e].count;
  items_cap = 64;
  while (items_cap < n * 2)
    items_cap *= 2;
  items = xcalloc(items_cap, sizeof(*items));
  for (int s = 0; s < sc->nsidecars; s++)
    for (uint32_t i = 0; i < sc->sidecars[s].count; i++)
      item_add(sc->sidecars[s].first + i * sc->sidecars[s].step);
  for (int e = 0; e < sc->nevents; e++) {
    const sc_event *ev = &sc->events[e];
    if (ev->type == EV_GENERATE || ev->type == EV_OPEN_GRID ||
        ev->type == EV_REQUEST)
      for (uint32_t i = 0; i < (ev->count ? ev->count : 1); i++)
        item_add(ev->first + i * ev->step);
  }
}

/* ---- set-up
 * ------------------------------------------------------------------ */

static double pick_bucket(vss_time duration) {
  static const double steps[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                 0.1,   0.2,   0.5,   1,    2,    5,
                                 10,    30,    60,    300};
  double d = ns_to_s(duration);
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
    if (d / steps[i] <= 600) return steps[i];
  return 600;
}

void metrics_init(world *w) {
  w->bucket_s = pick_bucket(w->end);
  w->nbuckets = (int)(ns_to_s(w->end) / w->bucket_s) + 2;
  w->req_buckets = 4096;
  w->req_index = xcalloc(w->req_buckets, sizeof(int));
  for (size_t i = 0; i < w->req_buckets; i++)
    w->req_index[i] = -1;
  w->pair_bytes = xcalloc((size_t)w->ndev, sizeof(uint64_t *));
  w->pair_data = xcalloc((size_t)w->ndev, sizeof(uint64_t *));
  for (int i = 0; i < w->ndev; i++) {
    w->pair_bytes[i] = xcalloc((size_t)w->ndev, sizeof(uint64_t));
    w->pair_data[i] = xcalloc((size_t)w->ndev, sizeof(uint64_t));
  }
  items_build(w->sc);
  if (w->sc->event_log == LOG_NONE || !w->opt.out_dir) return;
  char path[SC_PATH + 32];
  if (path_join(path, sizeof(path), w->opt.out_dir, "events.csv") == 0)
    w->events_csv = fopen(path, "w");
  if (w->events_csv)
    fputs("t_s,device,event,peer,item,kind,variant,job,bytes,count,"
          "duration_ms,flags,rc,detail,node_run\n",
          w->events_csv);
}

void metrics_close(world *w) {
  if (w->events_csv) fclose(w->events_csv);
  w->events_csv = NULL;
  for (int i = 0; i < w->ndev && w->pair_bytes; i++) {
    free(w->pair_bytes[i]);
    free(w->pair_data[i]);
  }
  free(w->pair_bytes);
  free(w->pair_data);
  free(w->req_index);
  free(w->reqs);
  free(w->grids);
  free(w->lat);
  free(items);
  items = NULL;
  items_cap = 0;
}

/* ---- the event log
 * ------------------------------------------------------------- */

static void csv_key(FILE *f, const vss_key *k) {
  if (vss_uuid_is_nil(&k->content)) {
    fputs(",,", f);
    return;
  }
  long item = item_of(&k->content);
  if (item >= 0) {
    fprintf(f, "%ld,", item);
  } else {
    char s[VSS_UUID_STR_LEN + 1];
    vss_uuid_format(&k->content, s);
    fprintf(f, "%s,", s);
  }
  fprintf(f, "%s,%s", vss_kind_name(k->kind), k->variant);
}

static void log_event(world *w, const device *d, const vss_event *ev) {
  FILE *f = w->events_csv;
  if (!f) return;
  int p = vss_uuid_is_nil(&ev->peer) ? -1 : world_dev_by_id(w, &ev->peer);
  fprintf(f, "%.9f,%s,%s,%s,", ns_to_s(ev->at), d->name,
          vss_event_name(ev->type), p >= 0 ? w->devs[p].name : "");
  csv_key(f, &ev->key);
  double dur = ev->duration == VSS_TIME_UNSET ? -1 : ns_to_ms(ev->duration);
  fprintf(f, ",%llu,%llu,%llu,%.6f,%u,%s,,%u\n", (unsigned long long)ev->job,
          (unsigned long long)ev->bytes, (unsigned long long)ev->count, dur,
          ev->flags, ev->rc ? vss_strerror(ev->rc) : "", d->node_run);
}

void metrics_world_event(world *w, vss_time at, const char *what,
                         const char *who, const char *detail) {
  if (!w->events_csv) return;
  fprintf(w->events_csv, "%.9f,%s,%s,,,,,,,,,,,%s,\n", ns_to_s(at), who, what,
          detail);
}

/* ---- latency samples and requests
 * ------------------------------------------------ */

void metrics_latency(world *w, int kind, int device, double ms) {
  if (w->nlat == w->caplat) {
    w->caplat = w->caplat ? w->caplat * 2 : 1024;
    w->lat = xrealloc(w->lat, w->caplat * sizeof(*w->lat));
  }
  w->lat[w->nlat++] =
      (latency_sample){.kind = kind, .device = device, .ms = ms};
}

static size_t req_bucket(const world *w, int device, const vss_key *k) {
  uint64_t h = hash64(k->content.b, 16, (uint64_t)device * 131 + k->kind);
  return (size_t)hash64(k->variant, strlen(k->variant), h) &
         (w->req_buckets - 1);
}

static void grid_done(world *w, request *r, vss_time now, int local) {
  if (r->grid < 0) return;
  grid *g = &w->grids[r->grid];
  g->done++;
  g->local += local;
  if (g->first == VSS_TIME_UNSET) g->first = now;
  g->last = now;
}

static void req_resolve(world *w, request *r, vss_time now, int local) {
  r->done = 1;
  r->ready = now;
  w->devs[r->device].m.requests_done++;
  metrics_latency(w, LAT_REQUEST, r->device, ns_to_ms(now - r->t0));
  grid_done(w, r, now, local);
}

/* A key became local on device d (fetched from `source`, or -1): the
 * requests waiting for it are done. */
static void resolve_key(world *w, int d, const vss_key *key, vss_time now,
                        int source) {
  for (int i = w->req_index[req_bucket(w, d, key)]; i >= 0;
       i = w->reqs[i].next) {
    request *r = &w->reqs[i];
    if (r->done || r->device != d || vss_key_cmp(&r->key, key) != 0) continue;
    r->source = source;
    req_resolve(w, r, now, 0);
  }
}

/* A fetch for a key failed on device d: the requests waiting for it
 * failed with it (a later copy, say by prefetch, still resolves them). */
static void fail_key(world *w, device *d, const vss_key *key, int rc) {
  for (int i = w->req_index[req_bucket(w, d->idx, key)]; i >= 0;
       i = w->reqs[i].next) {
    request *r = &w->reqs[i];
    if (r->done || r->failed || r->device != d->idx ||
        vss_key_cmp(&r->key, key) != 0)
      continue;
    r->failed = 1;
    r->rc = rc;
    d->m.requests_failed++;
  }
}

int metrics_request(device *d, int grid, const vss_key *key, vss_format fmt,
                    vss_resolve_mode mode) {
  world *w = d->w;
  if (w->nreqs == w->capreqs) {
    w->capreqs = w->capreqs ? w->capreqs * 2 : 256;
    w->reqs = xrealloc(w->reqs, w->capreqs * sizeof(*w->reqs));
  }
  int idx = (int)w->nreqs++;
  request *r = &w->reqs[idx];
  memset(r, 0, sizeof(*r));
  r->device = d->idx;
  r->grid = grid;
  r->key = *key;
  r->t0 = d->now;
  r->source = -1;
  size_t b = req_bucket(w, d->idx, key);
  r->next = w->req_index[b];
  w->req_index[b] = idx;
  d->m.requests++;
  vss_resolution res;
  int rc = vss_node_request(d->node, key, fmt, mode, &res, d->now);
  r = &w->reqs[idx]; /* events during the call may have grown the array */
  if (rc < 0 || res.kind == VSS_RESOLVED_MISSING) {
    r->failed = 1;
    r->rc = rc < 0 ? rc : VSS_ERR_NO_SOURCE;
    d->m.requests_failed++;
    return rc < 0 ? rc : VSS_ERR_NO_SOURCE;
  }
  if (res.kind == VSS_RESOLVED_LOCAL && !r->done) {
    d->m.requests_local++;
    req_resolve(w, r, d->now, 1);
  }
  return 0;
}

/* ---- node events
 * ------------------------------------------------------------------ */

static void on_fetch_done(world *w, device *d, const vss_event *ev) {
  int source = vss_uuid_is_nil(&ev->peer) ? -1 : world_dev_by_id(w, &ev->peer);
  if (ev->count == 0 && vss_uuid_is_nil(&ev->peer)) {
    d->m.satisfied_locally++;
  } else {
    d->m.fetched++;
    d->m.fetched_bytes += ev->bytes;
    if (ev->flags & VSS_EVF_FOREGROUND) {
      d->m.fetched_fg++;
      metrics_latency(w, LAT_FG_FETCH, d->idx, ns_to_ms(ev->duration));
    } else if (ev->flags & VSS_EVF_PREFETCH) {
      d->m.fetched_prefetch++;
      metrics_latency(w, LAT_PREFETCH, d->idx, ns_to_ms(ev->duration));
    }
  }
  resolve_key(w, d->idx, &ev->key, ev->at, source);
}

void metrics_on_event(void *user, const vss_event *ev) {
  device *d = user;
  world *w = d->w;
  if ((unsigned)ev->type < VSS_EV_COUNT) d->m.ev[ev->type]++;
  w->events_total++;
  log_event(w, d, ev);
  switch (ev->type) {
  case VSS_EV_PRESENCE_CHANGED:
  case VSS_EV_PEER_EXPIRED:
  case VSS_EV_PEER_UP:
  case VSS_EV_PEER_DOWN:
    w->avail_changes++;
    break;
  default:
    break;
  }
  switch (ev->type) {
  case VSS_EV_DIGEST_SENT:
    if (ev->flags & VSS_EVF_FULL) {
      d->m.gossip_full_tx += ev->bytes;
      d->m.gossip_full_pages++;
    }
    break;
  case VSS_EV_DIGEST_RECEIVED:
    if (ev->duration != VSS_TIME_UNSET)
      metrics_latency(w, LAT_EXCHANGE, d->idx, ns_to_ms(ev->duration));
    break;
  case VSS_EV_FETCH_DONE:
    hostcost_commit(d);
    on_fetch_done(w, d, ev);
    monitor_thumb(w, &ev->key);
    w->avail_changes++;
    break;
  case VSS_EV_LOCAL_RECORDED:
    hostcost_commit(d);
    resolve_key(w, d->idx, &ev->key, ev->at, REQ_SRC_GENERATED);
    monitor_thumb(w, &ev->key);
    w->avail_changes++;
    break;
  case VSS_EV_FETCH_FAILED:
    if (ev->rc < 0 && ev->rc >= VSS_ERR_MIN) d->m.fetch_failed_rc[-ev->rc]++;
    fail_key(w, d, &ev->key, ev->rc);
    break;
  default:
    break;
  }
}

/* ---- frames, pairs, links
 * ---------------------------------------------------------- */

_Static_assert(CLS_GOSSIP == (int)VSS_FRAME_GOSSIP &&
                   CLS_QUERY == (int)VSS_FRAME_QUERY &&
                   CLS_XFER == (int)VSS_FRAME_XFER &&
                   CLS_DATA == (int)VSS_FRAME_DATA,
               "the report's classes are the core's");

int metrics_frame_class(const uint8_t *frame, size_t len) {
  return (int)vss_frame_classify(frame, len);
}

static void spread(world *w, sim_link *l, double t0, double t1, double bytes) {
  int b0 = (int)(t0 / w->bucket_s), b1 = (int)(t1 / w->bucket_s);
  if (b0 >= w->nbuckets) return;
  if (b1 >= w->nbuckets) b1 = w->nbuckets - 1;
  if (b1 <= b0 || t1 <= t0) {
    l->series[b0] += bytes;
    return;
  }
  double rate = bytes / (t1 - t0);
  for (int b = b0; b <= b1; b++) {
    double lo = b * w->bucket_s, hi = lo + w->bucket_s;
    if (lo < t0) lo = t0;
    if (hi > t1) hi = t1;
    if (hi > lo) l->series[b] += rate * (hi - lo);
  }
}

/* A frame finished crossing the network (the sender's put completed). */
void metrics_frame_sent(device *d, const sent_frame *sf) {
  world *w = d->w;
  int peer = sf->dst;
  uint32_t data = sf->cls_bytes[CLS_DATA];
  d->m.tx_bytes += sf->len;
  d->m.tx_frames += sf->frames;
  w->frames_total += sf->frames;
  d->m.gossip_tx += sf->cls_bytes[CLS_GOSSIP];
  d->m.query_tx += sf->cls_bytes[CLS_QUERY];
  d->m.xfer_ctl_tx += sf->cls_bytes[CLS_XFER];
  d->m.data_tx += data;
  d->m.lost_tx += sf->lost;
  d->m.corrupted_tx += sf->corrupted;
  w->pair_bytes[d->idx][peer] += sf->len;
  w->pair_data[d->idx][peer] += data;
  const route *r = world_route(w, d->idx, peer);
  double t0 = ns_to_s(sf->sent_at), t1 = ns_to_s(d->now);
  for (int i = 0; i < r->nlinks; i++) {
    sim_link *l = &w->links[r->links[i]];
    l->bytes += sf->len;
    l->frames++;
    if (data) {
      l->data_bytes += data;
      /* Completions come in time order, so the union of the frames'
       * [sent, done] intervals grows at its right end only. */
      double from = t0 > l->data_busy_until ? t0 : l->data_busy_until;
      if (t1 > from) l->data_busy_s += t1 - from;
      if (t1 > l->data_busy_until) l->data_busy_until = t1;
    }
    spread(w, l, t0, t1, (double)sf->len);
  }
}

void metrics_frame_received(device *d, int peer, const uint8_t *frame,
                            size_t len) {
  (void)peer;
  d->m.rx_bytes += len;
  d->m.rx_frames++;
  int cls = metrics_frame_class(frame, len);
  if (cls == CLS_GOSSIP) d->m.gossip_rx += len;
  if (cls == CLS_DATA) d->m.data_rx += len;
}
