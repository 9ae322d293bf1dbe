/*
 * timeline.c - scenario events at their time. World events (devices
 * going offline, links failing or changing, fault rates) are applied once,
 * by whichever actor wakes first at that instant; every actor wakes then
 * and reconciles. Application events (generate, open a grid, request,
 * gossip) run in their device's own actor.
 */
#include "world.h"

#include "content.h"
#include "sg_shim.h"

#include <simgrid/link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void timeline_init(world *w) {
  const scenario *sc = w->sc;
  for (int e = 0; e < sc->nevents; e++) {
    const sc_event *ev = &sc->events[e];
    if (sc_ev_global(ev->type) || ev->device < 0) continue;
    device *d = &w->devs[ev->device];
    d->own_ev = xrealloc(d->own_ev, (size_t)(d->nown + 1) * sizeof(int));
    d->own_ev[d->nown++] = e;
  }
}

vss_time timeline_next_global(const world *w) {
  if (w->gnext >= w->nglobal) return VSS_TIME_UNSET;
  return w->sc->events[w->global_ev[w->gnext]].at;
}

vss_time timeline_next_device(const device *d) {
  if (d->ev_next >= d->nown) return VSS_TIME_UNSET;
  return d->w->sc->events[d->own_ev[d->ev_next]].at;
}

/* ---- world events
 * ------------------------------------------------------------ */

static void set_online(world *w, const sc_event *e, int online, vss_time now) {
  w->online[e->device] = online;
  world_refresh_pairs(w, e->device, now);
}

static void set_link(world *w, const sc_event *e) {
  sc_link *sl = &w->sc->links[e->link];
  for (int i = 0; i < w->nlinks; i++) {
    sim_link *l = &w->links[i];
    if (l->sc_link != e->link) continue;
    if (e->set & EVS_LAT) {
      l->latency = e->latency; /* stream mode: the driver's delay */
      int wifi = w->sc->links[e->link].cls == VSS_LINK_WIFI && !l->hidden;
      if (!w->stream && !wifi) sg_link_set_latency(l->sg, e->latency);
    }
    double bw = 0;
    if ((e->set & EVS_UP) && l->dir != 2) bw = e->up;
    if ((e->set & EVS_DOWN) && l->dir == 2) bw = e->down;
    if (bw > 0 && !l->hidden) {
      if (!l->cap0_set) l->capacity0 = l->capacity, l->cap0_set = 1;
      sg_link_set_bandwidth(l->sg, bw);
      l->capacity = bw;
    }
  }
  if (e->set & EVS_UP) sl->up = e->up;
  if (e->set & EVS_DOWN) sl->down = e->down;
  if (e->set & EVS_LAT) sl->latency = e->latency;
  if (e->set & EVS_LOSS) sl->loss = e->loss;
  if (e->set & EVS_CORRUPT) sl->corrupt = e->corrupt;
}

static void describe(const world *w, const sc_event *e, char *who, size_t wcap,
                     char *detail, size_t dcap) {
  who[0] = detail[0] = '\0';
  if (e->device >= 0) scopy(who, wcap, w->sc->devices[e->device].name);
  if (e->link >= 0) scopy(who, wcap, w->sc->links[e->link].name);
  switch (e->type) {
  case EV_LINK_SET:
    snprintf(detail, dcap, "up=%.0f down=%.0f latency=%.6f loss=%g corrupt=%g",
             e->set & EVS_UP ? e->up : -1, e->set & EVS_DOWN ? e->down : -1,
             e->set & EVS_LAT ? e->latency : -1,
             e->set & EVS_LOSS ? e->loss : -1,
             e->set & EVS_CORRUPT ? e->corrupt : -1);
    break;
  case EV_WIFI_RATE:
    snprintf(detail, dcap, "level=%d", e->level);
    break;
  case EV_FAULTS:
    snprintf(detail, dcap, "loss=%g corrupt=%g", w->loss, w->corrupt);
    break;
  default:
    break;
  }
}

static void apply_global(world *w, const sc_event *e, vss_time now) {
  switch (e->type) {
  case EV_OFFLINE:
    set_online(w, e, 0, now);
    break;
  case EV_ONLINE:
    set_online(w, e, 1, now);
    w->last_online = now;
    break;
  case EV_RESTART:
    w->devs[e->device].restart_pending = 1;
    w->devs[e->device].node_run++; /* its old node emits nothing more */
    break;
  case EV_LINK_DOWN:
  case EV_LINK_UP:
    w->sclink_up[e->link] = e->type == EV_LINK_UP;
    world_refresh_pairs(w, -1, now);
    break;
  case EV_LINK_SET:
    set_link(w, e);
    break;
  case EV_WIFI_RATE: {
    device *d = &w->devs[e->device];
    const sc_link *l = &w->sc->links[d->cfg->link];
    if (sim_wifi_set_rate(l->name, d->name, e->level) == 0)
      d->wifi_level = e->level;
    w->sc->devices[e->device].wifi_rate = e->level;
    break;
  }
  case EV_FAULTS:
    if (e->set & EVS_LOSS) w->loss = e->loss;
    if (e->set & EVS_CORRUPT) w->corrupt = e->corrupt;
    break;
  default:
    break;
  }
  char who[SC_NAME], detail[160];
  describe(w, e, who, sizeof(who), detail, sizeof(detail));
  metrics_world_event(w, now, sc_ev_name(e->type), who, detail);
}

void timeline_apply_global(world *w, vss_time now) {
  while (w->gnext < w->nglobal) {
    const sc_event *e = &w->sc->events[w->global_ev[w->gnext]];
    if (e->at > now) break;
    w->gnext++;
    apply_global(w, e, now);
  }
}

/* ---- application events
 * ---------------------------------------------------------- */

static void open_grid(device *d, const sc_event *e, int event_idx) {
  world *w = d->w;
  w->grids = xrealloc(w->grids, (size_t)(w->ngrids + 1) * sizeof(*w->grids));
  int g = w->ngrids++;
  grid *gr = &w->grids[g];
  memset(gr, 0, sizeof(*gr));
  gr->device = d->idx;
  gr->t0 = d->now;
  gr->first = gr->last = VSS_TIME_UNSET;
  gr->n = e->count;
  gr->event = event_idx;
  for (uint32_t i = 0; i < e->count; i++) {
    vss_key key;
    content_key(&key, e->first + i * e->step, VSS_KIND_THUMB, e->variant);
    metrics_request(d, g, &key, e->format, e->mode);
  }
}

static void apply_device(device *d, const sc_event *e, int event_idx) {
  char detail[96] = "";
  switch (e->type) {
  case EV_GENERATE:
    for (uint32_t i = 0; i < e->count; i++) {
      vss_key key;
      content_key(&key, e->first + i * e->step, e->kind, e->variant);
      gen_enqueue_app(d, &key, e->format);
    }
    snprintf(detail, sizeof(detail), "%u x %s/%s from item %u", e->count,
             vss_kind_name(e->kind), e->variant, e->first);
    break;
  case EV_OPEN_GRID:
    snprintf(detail, sizeof(detail), "%u x thumb/%s from item %u", e->count,
             e->variant, e->first);
    metrics_world_event(d->w, d->now, sc_ev_name(e->type), d->name, detail);
    open_grid(d, e, event_idx);
    return;
  case EV_REQUEST: {
    /* count=N step=S: N single requests (each its own row in
     * requests.csv), items first, first + S, ... */
    uint32_t n = e->count ? e->count : 1;
    if (n == 1)
      snprintf(detail, sizeof(detail), "item %u %s/%s", e->first,
               vss_kind_name(e->kind), e->variant);
    else
      snprintf(detail, sizeof(detail), "%u x item %u step %u %s/%s", n,
               e->first, e->step, vss_kind_name(e->kind), e->variant);
    metrics_world_event(d->w, d->now, sc_ev_name(e->type), d->name, detail);
    for (uint32_t i = 0; i < n; i++) {
      vss_key key;
      content_key(&key, e->first + i * e->step, e->kind, e->variant);
      metrics_request(d, -1, &key, e->format, e->mode);
    }
    return;
  }
  case EV_GOSSIP:
    vss_node_gossip_now(d->node, d->now);
    break;
  default:
    break;
  }
  metrics_world_event(d->w, d->now, sc_ev_name(e->type), d->name, detail);
}

void timeline_device(device *d) {
  while (d->ev_next < d->nown) {
    int idx = d->own_ev[d->ev_next];
    const sc_event *e = &d->w->sc->events[idx];
    if (e->at > d->now) break;
    d->ev_next++;
    apply_device(d, e, idx);
  }
}
