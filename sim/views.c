/*
 * views.c - connections the nodes choose (issue 12).
 *
 * In a small library the driver connects every reachable pair and calls
 * peer_up on both ends (sessions = all). In a large one that is N^2
 * sessions, each with a full digest: the work, the bytes and SimGrid's
 * flows grow with N^2. With sessions = node (the default past 32
 * devices) the driver instead tells each node which members of its
 * library it can reach (vss_node_peer_reachable, with the path's class)
 * and connects only the pairs a node dials (VSS_EV_DIAL); a node ends a
 * session with VSS_EV_HANGUP, and refuses one past its bound (peer_up
 * says VSS_ERR_LIMIT: the driver closes it).
 *
 * A dial that finds the peer reachable connects at once: both ends get
 * peer_up at that simulated instant (the dialled device is woken by a
 * zero-byte message, a "bell"). Connection set-up time (TCP and channel
 * handshakes, ~2 RTT) is not charged: say so when quoting time to
 * first session. A dial that finds no route fails at once (peer_down).
 *
 * Membership: every device is a member of every other's library unless
 * `members = N`, which gives each device its own site plus N others drawn
 * at random (symmetric: pairing is), so a 10,000-device run does not
 * tell each node about 9,999 others.
 */
#include "world.h"

#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/mailbox.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VSS_DEFAULT_MEMBERS
#define SIM_HAVE_VIEWS 1
#else
#define SIM_HAVE_VIEWS 0
#endif

static int site_of(const world *w, int d) {
  return w->own_platform ? 0 : w->plat.dev_site[d];
}

static void mem_add(device *d, int p, int *cap) {
  if (d->nmem == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    d->mem = xrealloc(d->mem, (size_t)*cap * sizeof(int));
  }
  d->mem[d->nmem++] = p;
}

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

/* Own site + `members` others at random, both ways, sorted, unique. */
static void build_members(world *w) {
  int n = w->ndev, *cap = xcalloc((size_t)n, sizeof(int));
  sim_rng r;
  rng_seed(&r, w->sc->seed ^ 0x6d656d62657273ULL);
  /* sites: devices are listed site by site in most scenarios, but do
   * not rely on it */
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++)
      if (site_of(w, a) == site_of(w, b)) {
        mem_add(&w->devs[a], b, &cap[a]);
        mem_add(&w->devs[b], a, &cap[b]);
      }
  uint32_t k = (w->sc->members + 1) / 2; /* each side draws half */
  for (int a = 0; a < n; a++)
    for (uint32_t i = 0; i < k && n > 1; i++) {
      int b = (int)rng_below(&r, (uint64_t)n - 1);
      if (b >= a) b++;
      mem_add(&w->devs[a], b, &cap[a]);
      mem_add(&w->devs[b], a, &cap[b]);
    }
  for (int a = 0; a < n; a++) {
    device *d = &w->devs[a];
    if (!d->nmem) {
      d->mem = xcalloc(1, sizeof(int));
      continue;
    }
    qsort(d->mem, (size_t)d->nmem, sizeof(int), cmp_int);
    int u = 1;
    for (int i = 1; i < d->nmem; i++)
      if (d->mem[i] != d->mem[u - 1]) d->mem[u++] = d->mem[i];
    d->nmem = u;
  }
  free(cap);
}

int views_init(world *w, char *err, size_t cap) {
  const scenario *sc = w->sc;
  w->managed = sc->sessions == SC_SESSIONS_NODE ||
               (sc->sessions == SC_SESSIONS_AUTO && w->ndev > 32);
  if (!w->managed) return 0;
  if (!SIM_HAVE_VIEWS) {
    if (sc->sessions == SC_SESSIONS_AUTO) return w->managed = 0, 0;
    snprintf(err, cap,
             "sessions = node: this core has no membership API "
             "(vss_node_peer_reachable)");
    return -1;
  }
  if (sc->members) build_members(w);
  return 0;
}

int views_is_member(const device *d, int p) {
  if (p == d->idx) return 0;
  if (!d->mem) return 1;
  return bsearch(&p, d->mem, (size_t)d->nmem, sizeof(int), cmp_int) != NULL;
}

/* dev came or went (or its links did): its members re-learn whether
 * they reach it, and it whether it reaches them. */
void views_members_changed(world *w, int dev) {
  device *d = &w->devs[dev];
  int n = d->mem ? d->nmem : w->ndev;
  for (int i = 0; i < n; i++) {
    int p = d->mem ? d->mem[i] : i;
    if (p == dev) continue;
    device_queue(d, p);
    device_queue(&w->devs[p], dev);
  }
  w->gen++;
}

/* Whether a route joins d and p now (both online, links up, not hung
 * up on): what a node may dial. */
static int reachable(world *w, int a, int b, vss_time now) {
  return world_pair_should_be_up(w, a, b, now);
}

void views_reachable(device *d, int p) {
#if SIM_HAVE_VIEWS
  world *w = d->w;
  if (!w->managed || !d->node || !views_is_member(d, p)) return;
  int r = reachable(w, d->idx, p, d->now);
  /* Only news: each call makes the node choose its view again. */
  uintptr_t was = (uintptr_t)u64map_get(&d->told, (uint64_t)p);
  if (was == (uintptr_t)(r + 1)) return;
  if (was)
    u64map_set(&d->told, (uint64_t)p, (void *)(uintptr_t)(r + 1));
  else
    u64map_put(&d->told, (uint64_t)p, (void *)(uintptr_t)(r + 1));
  vss_link_info li = world_link_info(w, d->idx, p);
  int rc = vss_node_peer_reachable(d->node, &w->devs[p].id, r ? &li : NULL, r,
                                   d->now);
  if (rc < 0 && rc != VSS_ERR_LIMIT)
    fprintf(stderr, "vss-sim: %s: peer_reachable(%s): %s\n", d->name,
            w->devs[p].name, vss_strerror(rc));
#else
  (void)d;
  (void)p;
#endif
}

void views_on_event(void *user, const vss_event *ev) {
#if SIM_HAVE_VIEWS
  device *d = user;
  if (ev->type == VSS_EV_DIAL || ev->type == VSS_EV_HANGUP) {
    int p = world_dev_by_id(d->w, &ev->peer);
    if (p >= 0) {
      if (d->npend == d->cappend) {
        d->cappend = d->cappend ? d->cappend * 2 : 8;
        d->pend = xrealloc(d->pend, (size_t)d->cappend * sizeof(*d->pend));
      }
      d->pend[d->npend++] =
          (view_req){.hangup = ev->type == VSS_EV_HANGUP, .peer = p};
    }
  }
#endif
  metrics_on_event(user, ev);
}

/* A zero-byte message that wakes `to` (its actor then reconciles what
 * changed). One at a time per device. */
void device_ring(device *from, int to) {
  world *w = from->w;
  device *t = &w->devs[to];
  if (t->bell || to == from->idx) return;
  t->bell = 1;
  envelope *env = xcalloc(1, sizeof(*env));
  env->src = from->idx;
  env->dst = to;
  env->epoch = BELL_EPOCH;
  transport_put(from, env);
}

void world_ring_queued(world *w, device *from) {
  for (int i = 0; i < w->nwake; i++) {
    int to = w->wake[i];
    w->waking[to] = 0;
    device *t = &w->devs[to];
    if (from && to == from->idx) continue; /* runs its step now */
    if (!t->ndq && !t->restart_pending) continue;
    if (from) {
      device_ring(from, to);
    } else if (!t->bell) { /* the world actor: a detached put */
      t->bell = 1;
      envelope *env = xcalloc(1, sizeof(*env));
      env->src = env->dst = to;
      env->epoch = BELL_EPOCH;
      w->live_envelopes++; /* not on the live list: freed on arrival */
      prof_block(w);
      sg_comm_t c = sg_mailbox_put_init(t->mbox, env, 0);
      sg_comm_detach(c, NULL);
      prof_resume(w);
    }
  }
  w->nwake = 0;
}

/* Applies global timeline events at their times and rings the devices
 * they concern. */
void world_actor(int argc, char **argv) {
  (void)argc;
  (void)argv;
  world *w = g_world;
  prof_resume(w);
  for (;;) {
    vss_time t = timeline_next_global(w);
    if (t == VSS_TIME_UNSET || t > w->end) break;
    prof_block(w);
    sg_actor_sleep_until(ns_to_s(t));
    prof_resume(w);
    timeline_apply_global(w, t);
    world_ring_queued(w, NULL);
  }
  prof_block(w);
}

static void dial(device *d, int p) {
  world *w = d->w;
  pair_state *ps = world_pair(w, d->idx, p);
  /* connected already (the peer's view may lag), or being connected */
  if (ps->up || ps->dialer) return;
  if (!reachable(w, d->idx, p, d->now)) {
    /* no route: the connection fails at once */
    if (d->node) vss_node_peer_down(d->node, &w->devs[p].id, d->now);
    return;
  }
  /* p's node answers when p next runs (device.c views_answer): both
   * ends are up only once it accepted. */
  ps->dialer = d->idx + 1;
  device_queue(&w->devs[p], d->idx);
  w->gen++;
  device_ring(d, p);
}

static void hangup(device *d, int p) {
  world *w = d->w;
  pair_state *ps = world_pair(w, d->idx, p);
  ps->want = 0;
  if (!ps->up) return;
  ps->up = 0;
  ps->epoch++;
  world_pair_changed(w, d->idx, p);
  device_ring(d, p);
}

/* What the node asked for since the last step. */
void views_process(device *d) {
  for (int i = 0; i < d->npend; i++) { /* may grow while we go */
    view_req r = d->pend[i];
    if (r.hangup)
      hangup(d, r.peer);
    else
      dial(d, r.peer);
  }
  d->npend = 0;
}

/* Sessions per device, sampled by the monitor every check. */
void views_sample(world *w) {
  uint64_t sum = 0, n = 0;
  for (int i = 0; i < w->ndev; i++) {
    if (!w->online[i]) continue;
    int s = w->devs[i].nsessions;
    if (s > w->sess_max) w->sess_max = s;
    sum += (uint64_t)s;
    n++;
  }
  if (n) {
    w->sess_sum += sum * 1000 / n; /* mean, in thousandths */
    w->sess_samples++;
  }
}
