/*
 * world.c - building the running simulation: devices and their nodes,
 * the initial sidecars, the SimGrid side (hosts, links, wifi rates,
 * routes), the actors; connectivity of pairs; tear-down.
 */
#include "world.h"

#include "content.h"
#include "sg_shim.h"

#include <simgrid/actor.h>
#include <simgrid/host.h>
#include <simgrid/link.h>
#include <simgrid/mailbox.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xbt/dynar.h>

world *g_world;

/* ---- uuid -> device ------------------------------------------------------ */

static size_t id_hash(const vss_uuid *id, size_t cap) {
  return (size_t)hash64(id->b, 16, 0) & (cap - 1);
}

static void idmap_build(world *w) {
  w->idcap = 16;
  while (w->idcap < (size_t)w->ndev * 4)
    w->idcap *= 2;
  w->idmap = xcalloc(w->idcap, sizeof(int));
  for (size_t i = 0; i < w->idcap; i++)
    w->idmap[i] = -1;
  for (int d = 0; d < w->ndev; d++) {
    size_t i = id_hash(&w->devs[d].id, w->idcap);
    while (w->idmap[i] >= 0)
      i = (i + 1) & (w->idcap - 1);
    w->idmap[i] = d;
  }
}

int world_dev_by_id(const world *w, const vss_uuid *id) {
  for (size_t i = id_hash(id, w->idcap);; i = (i + 1) & (w->idcap - 1)) {
    int d = w->idmap[i];
    if (d < 0) return -1;
    if (vss_uuid_cmp(&w->devs[d].id, id) == 0) return d;
  }
}

/* ---- devices ------------------------------------------------------------- */

static uint64_t dev_rand(void *user) {
  return rng_next(&((device *)user)->core_rng);
}

/* A device's uuid follows from its name, so logs of two runs line up. */
static void device_uuid(const char *name, vss_uuid *out) {
  uint64_t s = hash64(name, strlen(name), 0x646576696365ULL);
  uint64_t a = splitmix64(&s), b = splitmix64(&s);
  memcpy(out->b, &a, 8);
  memcpy(out->b + 8, &b, 8);
  out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x40);
  out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}

static void node_config(world *w, device *d) {
  const scenario *sc = w->sc;
  vss_node_config *c = &d->ncfg;
  vss_node_config_default(c);
  c->store = d->store;
  c->blobs = d->blobs;
  c->rand = dev_rand;
  c->rand_user = d;
  c->on_event = metrics_on_event;
  c->event_user = d;
  c->generate = d->cfg->can_generate ? gen_callback : NULL;
  c->generate_user = d;
  c->gossip_interval = sc->gossip_interval;
  c->gossip_jitter = sc->gossip_jitter;
  c->change_batch_delay = sc->change_batch_delay;
  c->cache_ttl = sc->cache_ttl ? sc->cache_ttl : 3 * sc->gossip_interval;
  memcpy(c->limits, sc->limits, sizeof(c->limits));
  c->prefetch = d->cfg->prefetch;
  c->prefetch.storage_budget = sc_storage(sc, d->idx);
  c->strategy = sc_strategy(sc, d->idx);
  for (int k = 0; k < VSS_KIND_COUNT; k++) {
    vss_time cost = sc_gen_cost(sc, d->idx, (vss_kind)k);
    c->gen_cost[k] = cost == VSS_TIME_UNSET ? 0 : cost;
  }
}

static int device_init(world *w, int i, char *err, size_t cap) {
  device *d = &w->devs[i];
  d->w = w;
  d->idx = i;
  d->cfg = &w->sc->devices[i];
  d->name = d->cfg->name;
  device_uuid(d->name, &d->id);
  rng_seed(&d->rng, w->sc->seed ^ hash64(d->name, strlen(d->name), 1));
  rng_seed(&d->core_rng, w->sc->seed ^ hash64(d->name, strlen(d->name), 2));
  snprintf(d->mbox_name, sizeof(d->mbox_name), "dev:%s", d->name);
  d->peers = xcalloc((size_t)w->ndev, sizeof(peer_view));
  d->parallel = sc_gen_parallel(w->sc, i);
  d->wifi_level = d->cfg->wifi_rate;
  d->running = xcalloc((size_t)d->parallel, sizeof(gen_item));
  char serr[256] = "";
  int rc =
      vss_store_sqlite_open(&d->store, ":memory:", &d->id, serr, sizeof(serr));
  if (rc == 0) rc = synth_blobs_new(&d->blobs, &d->synth);
  if (rc == 0) rc = misbehave_wrap_blobs(d); /* misbehave = refuse */
  if (rc == 0) node_config(w, d);
  if (rc == 0) rc = vss_node_new(&d->node, &d->ncfg, 0);
  if (rc)
    snprintf(err, cap, "device %s: %s %s", d->name, vss_strerror(rc), serr);
  return rc;
}

/* [sidecars] sections: recorded on their holders before the run starts,
 * as if generated earlier. */
static int initial_sidecars(world *w, char *err, size_t cap) {
  const scenario *sc = w->sc;
  for (int s = 0; s < sc->nsidecars; s++) {
    const sc_sidecars *sd = &sc->sidecars[s];
    for (uint32_t i = 0; i < sd->count; i++) {
      vss_key key;
      content_key(&key, sd->first + i * sd->step, sd->kind, sd->variant);
      uint64_t size = content_size(sc, &key);
      for (int h = 0; h < sd->nholders; h++) {
        device *d = &w->devs[sd->holders[h]];
        synth_blobs_add(d->synth, &key, sd->format, size);
        int rc = vss_node_add_local(d->node, &key, sd->format, NULL, size, 0);
        if (rc) {
          snprintf(err, cap, "sidecars %s on %s: %s", sd->name, d->name,
                   vss_strerror(rc));
          return rc;
        }
      }
    }
  }
  return 0;
}

static int cmp_global(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

int world_init(world *w, scenario *sc, const options *opt, char *err,
               size_t cap) {
  memset(w, 0, sizeof(*w));
  g_world = w;
  w->sc = sc;
  w->opt = *opt;
  w->own_platform = sc->platform[0] != 0;
  /* ns-3 carries its own latencies (and wants them on the links). */
  w->stream = !w->own_platform && strcmp(sc->model, "ns-3") != 0;
  w->ndev = sc->ndevices;
  w->end = sc->duration;
  w->loss = sc->loss;
  w->corrupt = sc->corrupt;
  w->avail_converged = w->holders_converged = VSS_TIME_UNSET;
  scenario_spread_starts(sc);
  if (platform_build(sc, &w->plat, err, cap)) return -1;
  w->devs = xcalloc((size_t)w->ndev, sizeof(device));
  w->online = xcalloc((size_t)w->ndev, sizeof(int));
  w->sclink_up = xcalloc((size_t)sc->nlinks + 1, sizeof(int));
  w->pairs = xcalloc((size_t)w->ndev * (size_t)w->ndev, sizeof(pair_state));
  for (int l = 0; l < sc->nlinks; l++)
    w->sclink_up[l] = 1;
  for (int e = 0; e < sc->nevents; e++)
    if (sc_ev_global(sc->events[e].type)) {
      w->global_ev =
          xrealloc(w->global_ev, (size_t)(w->nglobal + 1) * sizeof(int));
      w->global_ev[w->nglobal++] = e;
    }
  if (w->nglobal)
    qsort(w->global_ev, (size_t)w->nglobal, sizeof(int), cmp_global);
  metrics_init(w);
  for (int i = 0; i < w->ndev; i++) {
    w->online[i] = sc->devices[i].online;
    if (device_init(w, i, err, cap)) return -1;
  }
  idmap_build(w);
  timeline_init(w);
  return initial_sidecars(w, err, cap);
}

/* ---- the SimGrid side ------------------------------------------------------
 */

static int add_world_link(world *w, sg_link_t l, int sc_link, int dir,
                          int hidden, int device, double capacity,
                          double latency) {
  w->links = xrealloc(w->links, (size_t)(w->nlinks + 1) * sizeof(*w->links));
  sim_link *s = &w->links[w->nlinks];
  memset(s, 0, sizeof(*s));
  scopy(s->name, sizeof(s->name), sg_link_get_name(l));
  s->sg = l;
  s->sc_link = sc_link;
  s->dir = dir;
  s->hidden = hidden;
  s->device = device;
  s->capacity = capacity;
  s->latency = latency;
  s->series = xcalloc((size_t)w->nbuckets, sizeof(double));
  sg_link_set_data(l, (void *)(intptr_t)(w->nlinks + 1));
  return w->nlinks++;
}

static int cmp_link_name(const void *a, const void *b) {
  return strcmp(sg_link_get_name(*(const sg_link_t *)a),
                sg_link_get_name(*(const sg_link_t *)b));
}

static int map_links(world *w, char *err, size_t cap) {
  if (!w->own_platform) {
    for (int i = 0; i < w->plat.nlinks; i++) {
      const plat_link *pl = &w->plat.links[i];
      sg_link_t l = sg_link_by_name(pl->id);
      if (!l)
        return snprintf(err, cap, "platform: link %s missing", pl->id), -1;
      add_world_link(w, l, pl->sc_link, pl->dir, pl->hidden, pl->device, pl->bw,
                     pl->latency);
    }
    return 0;
  }
  size_t n = sg_link_count();
  sg_link_t *all = sg_link_list();
  qsort(all, n, sizeof(*all), cmp_link_name); /* a stable order for reports */
  for (size_t i = 0; i < n; i++)
    add_world_link(w, all[i], sc_find_link(w->sc, sg_link_get_name(all[i])), 0,
                   0, -1, sg_link_get_bandwidth(all[i]),
                   sg_link_get_latency(all[i]));
  free(all);
  return 0;
}

static int find_hosts(world *w, char *err, size_t cap) {
  for (int i = 0; i < w->ndev; i++) {
    device *d = &w->devs[i];
    d->host = sg_host_by_name(d->name);
    if (!d->host) {
      snprintf(err, cap, "platform has no host '%s' for device %s", d->name,
               d->name);
      return -1;
    }
    d->mbox = sg_mailbox_by_name(d->mbox_name);
  }
  return 0;
}

/* Stations must have a rate level before they send (SimGrid requires it). */
static int wifi_rates(world *w, char *err, size_t cap) {
  for (int i = 0; i < w->ndev; i++) {
    const sc_link *l = &w->sc->links[w->devs[i].cfg->link];
    if (l->cls != VSS_LINK_WIFI) continue;
    int rc =
        sim_wifi_set_rate(l->name, w->devs[i].name, w->devs[i].cfg->wifi_rate);
    if (rc && !w->own_platform) {
      snprintf(err, cap, "wifi rate of %s on %s could not be set",
               w->devs[i].name, l->name);
      return -1;
    }
  }
  return 0;
}

static void add_unique(int **arr, int *n, int v) {
  for (int i = 0; i < *n; i++)
    if ((*arr)[i] == v) return;
  *arr = xrealloc(*arr, (size_t)(*n + 1) * sizeof(int));
  (*arr)[(*n)++] = v;
}

static void compute_route(world *w, int a, int b, xbt_dynar_t tmp) {
  route *r = world_route(w, a, b);
  r->routable = w->own_platform || platform_routable(&w->plat, a, b);
  if (!r->routable) return;
  xbt_dynar_reset(tmp);
  sg_host_get_route(w->devs[a].host, w->devs[b].host, tmp);
  unsigned i;
  sg_link_t l;
  xbt_dynar_foreach(tmp, i, l) {
    intptr_t idx = (intptr_t)sg_link_get_data(l) - 1;
    if (idx < 0) continue;
    add_unique(&r->links, &r->nlinks, (int)idx);
    if (w->links[idx].sc_link >= 0)
      add_unique(&r->sclinks, &r->nsclinks, w->links[idx].sc_link);
  }
  if (w->stream) {
    r->latency = 0;
    for (int i = 0; i < r->nlinks; i++)
      r->latency += w->links[r->links[i]].latency;
  } else {
    r->latency = sg_host_get_route_latency(w->devs[a].host, w->devs[b].host);
  }
}

/* Propagation delay the driver adds to a bundle a -> b (stream mode):
 * the route's latency (links may change) times the model's factor. */
vss_time route_delay(world *w, int a, int b) {
  if (!w->stream) return 0;
  const route *r = world_route(w, a, b);
  double lat = 0;
  for (int i = 0; i < r->nlinks; i++)
    lat += w->links[r->links[i]].latency;
  return s_to_ns(lat * w->opt.latency_factor);
}

int world_routes(world *w, char *err, size_t cap) {
  if (find_hosts(w, err, cap) || map_links(w, err, cap) ||
      wifi_rates(w, err, cap))
    return -1;
  w->routes = xcalloc((size_t)w->ndev * (size_t)w->ndev, sizeof(route));
  xbt_dynar_t tmp = xbt_dynar_new(sizeof(sg_link_t), NULL);
  for (int a = 0; a < w->ndev; a++)
    for (int b = 0; b < w->ndev; b++)
      if (a != b) compute_route(w, a, b, tmp);
  xbt_dynar_free(&tmp);
  world_refresh_pairs(w, -1, 0);
  return 0;
}

int world_start(world *w) {
  /* The initial sidecars were recorded before the run: their commits
   * happened "earlier" and cost nothing now. */
  for (int i = 0; i < w->ndev; i++)
    w->devs[i].owed_s = 0;
  for (int i = 0; i < w->ndev; i++) {
    char idx[16];
    snprintf(idx, sizeof(idx), "%d", i);
    char *argv[] = {(char *)"device", idx, NULL};
    sg_actor_create(w->devs[i].name, w->devs[i].host, device_actor, 2, argv);
  }
  char *margv[] = {(char *)"monitor", NULL};
  sg_actor_t m =
      sg_actor_create("monitor", w->devs[0].host, monitor_actor, 1, margv);
  sg_actor_daemonize(m);
  return 0;
}

/* ---- connectivity
 * ------------------------------------------------------------ */

static int links_up(world *w, const route *r) {
  for (int i = 0; i < r->nsclinks; i++)
    if (!w->sclink_up[r->sclinks[i]]) return 0;
  return 1;
}

int world_pair_should_be_up(world *w, int a, int b, vss_time now) {
  const route *ab = world_route(w, a, b), *ba = world_route(w, b, a);
  if (!ab->routable || !ba->routable || !w->online[a] || !w->online[b])
    return 0;
  if (now < world_pair(w, a, b)->broken_until) return 0;
  return links_up(w, ab) && links_up(w, ba);
}

/* Recompute every pair (or every pair of only_dev): a change of state
 * starts a new connection epoch. */
void world_refresh_pairs(world *w, int only_dev, vss_time now) {
  for (int a = 0; a < w->ndev; a++)
    for (int b = a + 1; b < w->ndev; b++) {
      if (only_dev >= 0 && a != only_dev && b != only_dev) continue;
      pair_state *ps = world_pair(w, a, b);
      int up = world_pair_should_be_up(w, a, b, now);
      if (up == ps->up) continue;
      ps->up = up;
      ps->epoch++;
      w->gen++;
    }
}

static int rank(vss_link_class c) {
  static const int r[VSS_LINK_COUNT] = {0, 1, 2, 3};
  return (unsigned)c < VSS_LINK_COUNT ? r[c] : 0;
}

/* Rate of a route's bottleneck for data flowing a -> b. */
static double route_rate(world *w, int a, int b) {
  const route *r = world_route(w, a, b);
  double rate = 1e18;
  for (int i = 0; i < r->nlinks; i++) {
    const sim_link *l = &w->links[r->links[i]];
    double c = sg_link_get_bandwidth(l->sg);
    if (l->sc_link >= 0 && w->sc->links[l->sc_link].cls == VSS_LINK_WIFI) {
      const sc_link *sl = &w->sc->links[l->sc_link];
      int on_a = w->devs[a].cfg->link == l->sc_link;
      int on_b = w->devs[b].cfg->link == l->sc_link;
      double ra = on_a ? sl->rates[w->devs[a].cfg->wifi_rate] : 1e18;
      double rb = on_b ? sl->rates[w->devs[b].cfg->wifi_rate] : 1e18;
      c = ra < rb ? ra : rb;
      if (on_a && on_b) c /= 2; /* the air is crossed twice */
    }
    if (c > 0 && c < rate) rate = c;
  }
  return rate < 1e18 ? rate : 0;
}

/* The path from device d to peer p as it is (the transport's pacing). */
vss_link_info world_path_truth(world *w, int d, int p) {
  const scenario *sc = w->sc;
  const sc_link *ld = &sc->links[w->devs[d].cfg->link];
  const sc_link *lp = &sc->links[w->devs[p].cfg->link];
  vss_link_info li;
  memset(&li, 0, sizeof(li));
  li.cls = rank(ld->cls) >= rank(lp->cls) ? ld->cls : lp->cls;
  if (!w->own_platform && w->plat.dev_site[d] != w->plat.dev_site[p] &&
      rank(li.cls) < rank(VSS_LINK_INTERNET))
    li.cls = VSS_LINK_INTERNET;
  li.metered = ld->metered || lp->metered;
  li.rate_hint = route_rate(w, p, d);
  double rtt = ns_to_s(route_delay(w, d, p) + route_delay(w, p, d));
  if (!w->stream)
    rtt = (world_route(w, d, p)->latency + world_route(w, p, d)->latency) *
          w->opt.latency_factor;
  li.rtt_hint = s_to_ns(rtt);
  return li;
}

/* What device d's node is told about the path to peer p: what a real
 * operating system knows (link class, metered). Rate and RTT only under
 * `hints = oracle` (comparison studies); the node measures them. */
vss_link_info world_link_info(world *w, int d, int p) {
  vss_link_info li = world_path_truth(w, d, p);
  if (!w->sc->hints_oracle) {
    li.rate_hint = 0;
    li.rtt_hint = 0;
  }
  return li;
}

/* ---- tear-down
 * --------------------------------------------------------------- */

void world_free(world *w) {
  transport_free_live(w);
  for (int i = 0; i < w->ndev; i++) {
    device *d = &w->devs[i];
    vss_node_del(d->node);
    vss_store_del(d->store);
    vss_blobs_del(d->blobs);
    for (int p = 0; p < w->ndev; p++) {
      for (held_frame *h = d->peers[p].held, *nx; h; h = nx) {
        nx = h->next;
        free(h);
      }
      for (envelope *e = d->peers[p].reorder, *nx; e; e = nx) {
        nx = e->next;
        free(e);
      }
      free(d->peers[p].rx_cur);
    }
    free(d->peers);
    free(d->blocked);
    free(d->comms);
    free(d->cinfo);
    free(d->gq);
    free(d->running);
    free(d->own_ev);
    for (int i = 0; i < d->narrivals; i++)
      free(d->arrivals[i]);
    free(d->arrivals);
  }
  for (int i = 0; i < w->ndev * (w->routes ? w->ndev : 0); i++) {
    free(w->routes[i].links);
    free(w->routes[i].sclinks);
  }
  for (int i = 0; i < w->nlinks; i++)
    free(w->links[i].series);
  metrics_close(w);
  free(w->routes);
  free(w->links);
  free(w->devs);
  free(w->online);
  free(w->sclink_up);
  free(w->pairs);
  free(w->global_ev);
  free(w->idmap);
  platform_free(&w->plat);
  memset(w, 0, sizeof(*w));
}
