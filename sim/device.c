/*
 * device.c - one SimGrid actor per device: the driver loop.
 *
 *   wake -> apply due world events -> reconcile peers -> own timeline
 *        -> finished generations -> node timers -> start generations
 *        -> hand frames to the network -> sleep until a frame lands or
 *           the earliest of: node expiry, next event, next generation.
 *
 * Simulated time (seconds, a double in SimGrid) becomes the node's `now`
 * in nanoseconds, never going backwards.
 */
#include "world.h"
#include "hostcost.h"

#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/mailbox.h>
#include "sg_shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vss_time device_now(device *d) {
  double s = simgrid_get_clock();
  vss_time t = (vss_time)llround(s * 1e9);
  if (t > d->now) d->now = t;
  return d->now;
}

static void peer_down(device *d, int p) {
  peer_view *pv = device_peer_find(d, p);
  if (!pv || !pv->up) return;
  pv->up = 0;
  d->nsessions--;
  if (d->node) vss_node_peer_down(d->node, &d->w->devs[p].id, d->now);
  transport_drop_peer(d, p);
}

/* 0, or the node refused the session (VSS_ERR_LIMIT) or failed. */
static int peer_up(device *d, int p, uint64_t epoch) {
  world *w = d->w;
  peer_view *pv = device_peer(d, p);
  pv->up = 1;
  pv->epoch = epoch;
  pv->info = world_link_info(w, d->idx, p);
  vss_link_info truth = world_path_truth(w, d->idx, p);
  double rate_out = world_path_truth(w, p, d->idx).rate_hint;
  if (w->stream) {
    /* Only bytes being serialised count: propagation is the driver's
     * delay. Bundles of about half a millisecond at the path's rate. */
    double b = rate_out * 0.0005;
    pv->bundle = b > BUNDLE_MIN ? (uint64_t)b : BUNDLE_MIN;
    pv->window = pv->bundle * MAX_BUNDLES;
  } else {
    /* SimGrid carries the latency per bundle: twice the path's
     * bandwidth-delay product in flight */
    double win = 2 * rate_out * ns_to_s(truth.rtt_hint);
    if (win < WINDOW_MIN) win = WINDOW_MIN;
    if (win > WINDOW_MAX) win = WINDOW_MAX;
    pv->window = (uint64_t)win;
    pv->bundle = pv->window / MAX_BUNDLES;
  }
  int rc = vss_node_peer_up(d->node, &w->devs[p].id, &pv->info, d->now);
  if (rc == 0) {
    d->nsessions++;
    return 0;
  }
  pv->up = 0;
  if (rc != VSS_ERR_LIMIT)
    fprintf(stderr, "vss-sim: %s: peer_up(%s): %s\n", d->name, w->devs[p].name,
            vss_strerror(rc));
  return rc;
}

/* The node refused a connected pair (past its bound) or failed: the
 * driver closes the connection, the other end gets peer_down. */
static void close_pair(device *d, int p) {
  world *w = d->w;
  pair_state *ps = world_pair(w, d->idx, p);
  ps->up = 0;
  ps->want = 0;
  ps->epoch++;
  world_pair_changed(w, d->idx, p);
  device_ring(d, p);
}

void world_wake(world *w, int dev) {
  if (!w->waking || w->waking[dev]) return;
  /* it may be asleep: someone rings it (world_ring_queued) */
  w->waking[dev] = 1;
  if (w->nwake == w->capwake) {
    w->capwake = w->capwake ? w->capwake * 2 : 64;
    w->wake = xrealloc(w->wake, (size_t)w->capwake * sizeof(int));
  }
  w->wake[w->nwake++] = dev;
}

void device_queue(device *d, int p) {
  if (!d->ndq) world_wake(d->w, d->idx);
  if (d->ndq == d->capdq) {
    d->capdq = d->capdq ? d->capdq * 2 : 16;
    d->dq = xrealloc(d->dq, (size_t)d->capdq * sizeof(int));
  }
  d->dq[d->ndq++] = p;
}

/* sessions = node: p dialled d (d answers: the session opens on both
 * ends only once d's node accepted it), or d's own dial failed. Returns
 * 1 when that was the pair's news. */
static int views_answer(device *d, int p, pair_state *ps) {
  world *w = d->w;
  if (ps->dial_failed == d->idx + 1) {
    ps->dial_failed = 0;
    if (d->node) vss_node_peer_down(d->node, &w->devs[p].id, d->now);
    return 1;
  }
  if (ps->dialer != p + 1 || ps->up) return 0;
  ps->dialer = 0;
  if (world_pair_should_be_up(w, d->idx, p, d->now) && d->node) {
    ps->epoch++;
    if (peer_up(d, p, ps->epoch) == 0) {
      ps->up = 1;
      ps->want = 1;
      world_pair_changed(w, d->idx, p); /* the dialler's peer_up */
      device_ring(d, p);
      return 1;
    }
  }
  ps->dial_failed = p + 1; /* refused or gone: the dialler hears it */
  device_queue(&w->devs[p], d->idx);
  w->gen++;
  device_ring(d, p);
  return 1;
}

/* Make the node's peers match the world for the pairs that changed
 * (world_pair_changed queued them): down what went down (or was reset),
 * up what came up. O(changes), not O(devices). */
void device_reconcile(device *d) {
  world *w = d->w;
  d->world_gen = w->gen;
  /* Taking a peer down or up may queue more (a hang-up): loop by index. */
  for (int i = 0; i < d->ndq; i++) {
    int p = d->dq[i];
    pair_state *ps = world_pair(w, d->idx, p);
    ps->queued &= d->idx < p ? ~1 : ~2;
    if (w->managed) {
      views_reachable(d, p);
      if (views_answer(d, p, ps)) continue;
    }
    peer_view *pv = device_peer_find(d, p);
    int pv_up = pv && pv->up;
    if (pv_up && (!ps->up || pv->epoch != ps->epoch)) peer_down(d, p);
    if (!(pv && pv->up) && ps->up && peer_up(d, p, ps->epoch)) close_pair(d, p);
  }
  d->ndq = 0;
}

/* A process restart: the node is rebuilt from its store (availability
 * survives, the peer cache and transfer state do not). */
void device_restart(device *d) {
  d->restart_pending = 0;
  for (int i = 0; i < d->npvs; i++)
    if (d->pvs[i]->up) {
      d->pvs[i]->up = 0;
      transport_drop_peer(d, d->pvs[i]->idx);
    }
  d->nsessions = 0;
  d->npend = 0;
  gen_drop_jobs(d);
  vss_node_del(d->node);
  d->node = NULL;
  int rc = vss_node_new(&d->node, &d->ncfg, d->now);
  if (rc) {
    fprintf(stderr, "vss-sim: restart of %s failed: %s\n", d->name,
            vss_strerror(rc));
    exit(1);
  }
  /* New connections: the peers' nodes must forget the old one too. */
  for (int i = 0; i < d->npvs; i++) {
    int p = d->pvs[i]->idx;
    pair_state *ps = world_pair(d->w, d->idx, p);
    if (ps->up) {
      ps->epoch++;
      world_pair_changed(d->w, d->idx, p);
    }
  }
  metrics_world_event(d->w, d->now, "restarted", d->name, "");
  /* The new node knows no one: it learns its reachable members again. */
  if (d->w->managed) {
    u64map_free(&d->told, 0);
    views_members_changed(d->w, d->idx);
  }
  device_reconcile(d);
}

static vss_time tmin(vss_time a, vss_time b) {
  return a < b ? a : b;
}

static vss_time next_deadline(device *d) {
  world *w = d->w;
  vss_time t = vss_node_get_expiry(d->node);
  t = tmin(t, timeline_next_device(d));
  /* Global events are applied by the world actor, which rings the
   * devices they concern: no device wakes for every device's event. */
  t = tmin(t, gen_next(d));
  t = tmin(t, transport_next_due(d));
  if (d->nbroken) {
    for (int i = 0; i < d->npvs; i++) {
      vss_time b = world_pair(w, d->idx, d->pvs[i]->idx)->broken_until;
      if (b > d->now) t = tmin(t, b);
    }
  }
  return tmin(t, w->end + VSS_NS_PER_S);
}

/* Pairs whose hang-up pause is over may connect again. */
static void unbreak(device *d) {
  world *w = d->w;
  for (int i = 0; i < d->npvs && d->nbroken; i++) {
    int p = d->pvs[i]->idx;
    pair_state *ps = world_pair(w, d->idx, p);
    if (!ps->broken_until || ps->broken_until > d->now) continue;
    ps->broken_until = 0;
    d->nbroken--;
    w->devs[p].nbroken--;
    world_refresh_pair(w, d->idx, p, d->now);
    if (w->managed) { /* reachable again: both nodes may dial */
      device_queue(d, p);
      device_queue(&w->devs[p], d->idx);
      w->gen++;
    }
  }
}

/* Everything due at d->now. */
static void step(device *d) {
  world *w = d->w;
  timeline_apply_global(w, d->now);
  if (d->nbroken) unbreak(d);
  if (d->restart_pending) device_restart(d);
  if (d->ndq) device_reconcile(d);
  timeline_device(d);
  transport_deliver_due(d);
  gen_complete(d);
  if (vss_node_get_expiry(d->node) <= d->now) {
    int rc = vss_node_handle_expiry(d->node, d->now);
    if (rc < 0)
      fprintf(stderr, "vss-sim: %s: handle_expiry: %s\n", d->name,
              vss_strerror(rc));
  }
  gen_start(d);
  /* Sessions the node asked for or ended, then what that changed. */
  for (int i = 0; i < 4 && (d->npend || d->ndq); i++) {
    views_process(d);
    if (d->ndq) device_reconcile(d);
  }
  if (w->nwake) world_ring_queued(w, d);
  transport_pump(d);
  /* Sending may have drained a queue the node pushed back on; what it
   * then reads may queue replies. */
  for (int i = 0; i < 8 && d->nblocked && transport_resume_rx(d); i++)
    transport_pump(d);
}

static void complete(device *d, int i) {
  comm_info ci = d->cinfo[i];
  comm_remove(d, i); /* SimGrid released its reference on completion */
  if (ci.kind == COMM_BELL) return;
  if (ci.kind == COMM_SEND) {
    transport_send_done(d, &ci.sent);
    return;
  }
  envelope *env = d->slot[ci.slot];
  d->slot[ci.slot] = NULL;
  prof_block(d->w); /* a simcall: other actors may run meanwhile */
  sg_comm_t c = sg_mailbox_get_async(d->mbox, &d->slot[ci.slot]);
  prof_resume(d->w);
  comm_add(d, c, COMM_RECV, ci.slot, NULL);
  transport_received(d, env);
}

void device_actor(int argc, char **argv) {
  world *w = g_world;
  if (argc < 2) return;
  device *d = &w->devs[atoi(argv[1])];
  sg_mailbox_set_receiver(d->mbox_name);
  prof_resume(w);
  transport_post_recvs(d);
  vss_time last = VSS_TIME_UNSET;
  int spins = 0;
  for (;;) {
    device_now(d);
    step(d);
    /* The host's work for what step() handled, before anything else. */
    if (hostcost_pay(d) > 0) {
      device_now(d);
      continue;
    }
    vss_time deadline = next_deadline(d);
    /* A timer that does not move on would spin at one instant forever. */
    spins = d->now == last ? spins + 1 : 0;
    last = d->now;
    if (deadline <= d->now && spins > 100000) {
      if (spins == 100001)
        fprintf(stderr, "vss-sim: %s: expiry stuck at %.9f s\n", d->name,
                ns_to_s(d->now));
      deadline = d->now + 1000;
    }
    double timeout = deadline > d->now ? ns_to_s(deadline - d->now) : 0;
    prof_block(w);
    ssize_t i = sim_comm_wait_any_for(d->comms, (size_t)d->ncomms, timeout);
    prof_resume(w);
    if (i >= 0) {
      device_now(d);
      complete(d, (int)i);
      if (hostcost_pay(d) > 0) device_now(d);
    } else if (deadline > d->now) {
      /* Timed out: the clock may read a hair early in floating point. */
      device_now(d);
      if (d->now < deadline) d->now = deadline;
    }
  }
}
