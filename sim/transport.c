/*
 * transport.c - frames between devices over SimGrid.
 *
 * Every device owns one mailbox in permanent-receiver mode (a put starts
 * flowing at once, as on a connected socket) and keeps RECV_SLOTS gets
 * posted on it, so frames from different peers are noticed as they land.
 * Frames to one peer are numbered per connection epoch; several are in
 * flight at once (up to the peer's window, about twice the path's
 * bandwidth-delay product) and the receiver puts them back in order.
 *
 * The node decides what goes next (vss_node_next_send, round-robin over
 * peers, priorities within a peer). A frame for a peer whose window is
 * full waits in that peer's small hold queue; pulling stops when a peer
 * holds more than its window, so foreground frames stay close to the
 * front of each queue.
 *
 * Faults: a frame is lost with the route's loss probability (it still
 * uses bandwidth; the receiver discards it) and an XFER_DATA frame gets a
 * flipped payload byte with the route's corruption probability.
 */
#include "world.h"

#include "wire.h"

#include <simgrid/comm.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the device's comm array (what sg_comm_wait_any_for watches) ------- */

int comm_add(device *d, sg_comm_t c, comm_kind kind, int slot, envelope *env) {
  if (d->ncomms == d->capcomms) {
    d->capcomms = d->capcomms ? d->capcomms * 2 : 64;
    d->comms = xrealloc(d->comms, (size_t)d->capcomms * sizeof(*d->comms));
    d->cinfo = xrealloc(d->cinfo, (size_t)d->capcomms * sizeof(*d->cinfo));
  }
  d->comms[d->ncomms] = c;
  d->cinfo[d->ncomms] = (comm_info){.kind = kind, .slot = slot, .env = env};
  return d->ncomms++;
}

void comm_remove(device *d, int i) {
  d->ncomms--;
  d->comms[i] = d->comms[d->ncomms];
  d->cinfo[i] = d->cinfo[d->ncomms];
}

void transport_post_recvs(device *d) {
  for (int s = 0; s < RECV_SLOTS; s++)
    comm_add(d, sg_mailbox_get_async(d->mbox, &d->slot[s]), COMM_RECV, s, NULL);
}

/* ---- envelopes ------------------------------------------------------------- */

static void live_add(world *w, envelope *e) {
  e->lprev = NULL;
  e->lnext = w->live;
  if (w->live) w->live->lprev = e;
  w->live = e;
  w->live_envelopes++;
}

static void live_del(world *w, envelope *e) {
  if (e->lprev)
    e->lprev->lnext = e->lnext;
  else
    w->live = e->lnext;
  if (e->lnext) e->lnext->lprev = e->lprev;
  e->lprev = e->lnext = NULL;
  w->live_envelopes--;
}

void transport_free_live(world *w) {
  while (w->live) {
    envelope *e = w->live;
    live_del(w, e);
    free(e);
  }
}

/* ---- faults ------------------------------------------------------------------ */

static void route_faults(world *w, int a, int b, double *loss, double *corrupt) {
  const route *r = world_route(w, a, b);
  double keep = 1 - w->loss, clean = 1 - w->corrupt;
  for (int i = 0; i < r->nsclinks; i++) {
    const sc_link *l = &w->sc->links[r->sclinks[i]];
    keep *= 1 - l->loss;
    clean *= 1 - l->corrupt;
  }
  *loss = 1 - keep;
  *corrupt = 1 - clean;
}

/* Flip one byte of an XFER_DATA payload: header damage would be a framing
 * error, which a real transport (TCP + AEAD) turns into a disconnect. */
static int corrupt_data(device *d, envelope *env) {
  if (env->len <= VSS_WIRE_HDR || env->data[5] != VSS_MSG_XFER_DATA) return 0;
  vss_msg m;
  if (vss_wire_decode(env->data, env->len, &m) || m.u.data.len == 0) return 0;
  size_t off = (size_t)(m.u.data.data - env->data);
  env->data[off + rng_below(&d->rng, m.u.data.len)] ^= 0x5a;
  return 1;
}

/* ---- sending --------------------------------------------------------------------- */

static int window_open(const peer_view *pv, size_t len) {
  if (pv->out_frames == 0) return 1;
  return pv->out_frames < MAX_INFLIGHT && pv->out_bytes + len <= pv->window;
}

static void put(device *d, int p, const uint8_t *frame, size_t len) {
  world *w = d->w;
  peer_view *pv = &d->peers[p];
  pair_state *ps = world_pair(w, d->idx, p);
  if (pv->tx_epoch != ps->epoch) {
    pv->tx_epoch = ps->epoch;
    pv->tx_seq = 0;
  }
  envelope *env = xcalloc(1, sizeof(*env) + len);
  env->src = d->idx;
  env->dst = p;
  env->epoch = ps->epoch;
  env->seq = pv->tx_seq++;
  env->sent_at = d->now;
  env->len = len;
  memcpy(env->data, frame, len);
  double loss, corrupt;
  route_faults(w, d->idx, p, &loss, &corrupt);
  if (loss > 0 && rng_unit(&d->rng) < loss) env->lost = 1;
  if (corrupt > 0 && !env->lost && rng_unit(&d->rng) < corrupt)
    env->corrupted = corrupt_data(d, env);
  live_add(w, env);
  pv->out_frames++;
  pv->out_bytes += len;
  sg_comm_t c = sg_mailbox_put_async(w->devs[p].mbox, env, (long)len);
  comm_add(d, c, COMM_SEND, -1, env);
}

static void hold(peer_view *pv, const uint8_t *frame, size_t len) {
  held_frame *h = xcalloc(1, sizeof(*h) + len);
  h->len = len;
  memcpy(h->data, frame, len);
  if (pv->held_tail)
    pv->held_tail->next = h;
  else
    pv->held = h;
  pv->held_tail = h;
  pv->held_bytes += len;
}

static void flush_held(device *d, int p) {
  peer_view *pv = &d->peers[p];
  while (pv->held && pv->up && window_open(pv, pv->held->len)) {
    held_frame *h = pv->held;
    pv->held = h->next;
    if (!pv->held) pv->held_tail = NULL;
    pv->held_bytes -= h->len;
    put(d, p, h->data, h->len);
    free(h);
  }
}

void transport_pump(device *d) {
  world *w = d->w;
  for (;;) {
    vss_outmsg m;
    int rc = vss_node_next_send(d->node, NULL, &m, d->now);
    if (rc < 0) {
      fprintf(stderr, "vss-sim: %s: next_send: %s\n", d->name, vss_strerror(rc));
      return;
    }
    if (rc == 0) return;
    int p = world_dev_by_id(w, &m.peer);
    if (p < 0 || !d->peers[p].up) continue; /* not ours to carry */
    peer_view *pv = &d->peers[p];
    if (!pv->held && window_open(pv, m.len)) {
      put(d, p, m.data, m.len);
      continue;
    }
    hold(pv, m.data, m.len);
    if (pv->held_bytes > pv->window) return; /* this peer is saturated */
  }
}

void transport_send_done(device *d, envelope *env) {
  peer_view *pv = &d->peers[env->dst];
  metrics_frame_sent(d, env->dst, env);
  pv->out_frames--;
  pv->out_bytes -= env->len;
  /* The envelope now belongs to the receiver (or sits in its mailbox). */
  flush_held(d, env->dst);
}

static void drop_reorder(peer_view *pv) {
  for (envelope *e = pv->reorder, *nx; e; e = nx) {
    nx = e->next;
    free(e);
  }
  pv->reorder = NULL;
}

/* The connection to p is gone: frames not yet sent go with it. */
void transport_drop_peer(device *d, int p) {
  peer_view *pv = &d->peers[p];
  for (held_frame *h = pv->held, *nx; h; h = nx) {
    nx = h->next;
    free(h);
  }
  pv->held = pv->held_tail = NULL;
  pv->held_bytes = 0;
  drop_reorder(pv);
}

/* ---- receiving ------------------------------------------------------------------- */

static void deliver(device *d, envelope *env) {
  world *w = d->w;
  int p = env->src;
  metrics_frame_received(d, p, env);
  if (!env->lost && d->peers[p].up) {
    int rc = vss_node_recv(d->node, &w->devs[p].id, env->data, env->len, d->now);
    if (rc < 0) {
      /* What a real driver does with a peer that sent garbage: hang up,
       * and let it reconnect after a pause. */
      d->m.proto_errors++;
      pair_state *ps = world_pair(w, d->idx, p);
      if (ps->broken_until <= d->now) w->nbroken++;
      ps->broken_until = d->now + VSS_NS_PER_S;
      world_refresh_pairs(w, d->idx, d->now);
      device_reconcile(d);
    }
  }
  free(env);
}

static void insert_sorted(peer_view *pv, envelope *env) {
  envelope **pp = &pv->reorder;
  while (*pp && (*pp)->seq < env->seq)
    pp = &(*pp)->next;
  env->next = *pp;
  *pp = env;
}

void transport_received(device *d, envelope *env) {
  world *w = d->w;
  live_del(w, env);
  int p = env->src;
  peer_view *pv = &d->peers[p];
  const pair_state *ps = world_pair(w, d->idx, p);
  if (env->epoch != ps->epoch || !pv->up || pv->epoch != env->epoch) {
    d->m.stale_rx++; /* sent on a connection that is gone */
    free(env);
    return;
  }
  if (pv->rx_epoch != env->epoch) {
    drop_reorder(pv); /* leftovers of the old connection */
    pv->rx_epoch = env->epoch;
    pv->rx_seq = 0;
  }
  insert_sorted(pv, env);
  while (pv->reorder && pv->reorder->seq == pv->rx_seq && pv->up) {
    envelope *e = pv->reorder;
    pv->reorder = e->next;
    pv->rx_seq++;
    deliver(d, e);
  }
}
