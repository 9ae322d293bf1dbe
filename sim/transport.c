/*
 * transport.c - frames between devices over SimGrid.
 *
 * Every device owns one mailbox in permanent-receiver mode (a put starts
 * flowing at once, as on a connected socket) and keeps RECV_SLOTS gets
 * posted on it, so bundles from different peers are noticed as they land.
 *
 * The node decides what goes next (vss_node_next_send: round-robin over
 * peers, priorities within a peer). Frames for a peer are sent in
 * bundles of consecutive frames, at most MAX_BUNDLES in flight and about
 * window / MAX_BUNDLES bytes each, where the window is twice the path's
 * bandwidth-delay product: what TCP keeps in flight. One SimGrid flow per
 * bundle (not per frame) keeps the number of concurrent flows, and so the
 * cost of SimGrid's max-min solver, proportional to busy connections
 * rather than frames. Frames that do not fit wait in the peer's hold
 * queue; pulling stops when a peer is saturated, so the node keeps the
 * rest and a foreground frame is at most about a window behind.
 *
 * On the generated platform SimGrid's links carry no latency ("stream
 * mode"): a bundle completes when its last byte has crossed the
 * bottleneck, and the receiver holds it for the route's propagation delay
 * before the node sees it. A connection's byte stream so pays the latency
 * once, as on a warm TCP connection, and the window only has to cover the
 * bytes being serialised, not the bandwidth-delay product: a few bundles
 * per peer, so the node's priorities decide what goes next. With the
 * user's own platform (or ns-3) SimGrid carries the latency of each bundle
 * and the window covers twice the bandwidth-delay product instead.
 *
 * Push back: the receiver feeds a peer's frames to the node only while
 * vss_node_peer_readable says so; the rest wait (the partly fed bundle
 * and those after it), as bytes a real driver leaves in its socket, until
 * the node reads again after sending (transport_resume_rx). The sender is
 * not throttled in turn (no TCP zero window): what it can send is bounded
 * by the protocol's own windows.
 *
 * Bundles to one peer are numbered per connection epoch and put back in
 * order by the receiver. Faults (tcp_faults): a lost segment delays its
 * bundle by a retransmission round trip, damage resets the connection,
 * and only a byzantine device's data frames carry wrong bytes. The old
 * semantics (faults = frames: lost frames vanish, damaged data frames
 * arrive with a flipped byte) remain for core testing.
 */
#include "world.h"
#include "hostcost.h"

#include "sg_shim.h"
#include "vss/frame.h"

#include <simgrid/comm.h>
#include <math.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the device's comm array (what the wait watches) ------------------- */

int comm_add(device *d, sg_comm_t c, comm_kind kind, int slot,
             const sent_frame *sent) {
  if (d->ncomms == d->capcomms) {
    d->capcomms = d->capcomms ? d->capcomms * 2 : 64;
    d->comms = xrealloc(d->comms, (size_t)d->capcomms * sizeof(*d->comms));
    d->cinfo = xrealloc(d->cinfo, (size_t)d->capcomms * sizeof(*d->cinfo));
  }
  d->comms[d->ncomms] = c;
  d->cinfo[d->ncomms] = (comm_info){.kind = kind, .slot = slot};
  if (sent) d->cinfo[d->ncomms].sent = *sent;
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

/* ---- envelopes -------------------------------------------------------------
 */

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

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- faults
 * ------------------------------------------------------------------ */

static void route_faults(world *w, int a, int b, double *loss,
                         double *corrupt) {
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

#define TCP_MSS 1448 /* payload of one TCP segment on Ethernet */

/* faults = tcp on a lossy path: a TCP flow's steady rate is bounded by
 * loss and round trip (Mathis, Semke, Mahdavi, Ott 1997, "The macroscopic
 * behavior of the TCP congestion avoidance algorithm"):
 *   rate <= MSS / (RTT sqrt(p)) x sqrt(3/2)
 * 0 when the path loses nothing (no bound). The connection then carries
 * one bundle at a time at that rate (flush, put_bundle): the bound holds
 * for the connection, not per bundle. */
static double mathis_rate(world *w, int a, int b) {
  if (w->sc->faults_frames) return 0;
  double loss, corrupt;
  route_faults(w, a, b, &loss, &corrupt);
  if (loss <= 0) return 0;
  double rtt = ns_to_s(route_delay(w, a, b) + route_delay(w, b, a));
  if (!w->stream)
    rtt = (world_route(w, a, b)->latency + world_route(w, b, a)->latency) *
          w->opt.latency_factor;
  if (rtt < 1e-3) rtt = 1e-3; /* a LAN's RTO floor, as tcp_faults */
  return TCP_MSS / (rtt * sqrt(loss)) * sqrt(1.5);
}

/* Bundles a connection may have in flight: one when loss bounds it. */
static uint32_t max_out(device *d, int p) {
  return mathis_rate(d->w, d->idx, p) > 0 ? 1 : MAX_BUNDLES;
}

/* Flip one byte of an XFER_DATA payload: header damage would be a framing
 * error, which a real transport (TCP + AEAD) turns into a disconnect. */
static int corrupt_data(device *d, uint8_t *frame, size_t len) {
  size_t off, plen;
  if (vss_frame_data_payload(frame, len, &off, &plen) || plen == 0) return 0;
  frame[off + rng_below(&d->rng, plen)] ^= 0x5a;
  return 1;
}

/* ---- sending
 * --------------------------------------------------------------------- */

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

/* faults = tcp (the default): what TCP + an AEAD make of a faulty path.
 * A lost segment is retransmitted (fast retransmit: one round trip
 * later), so the bundle carrying it arrives late, and everything behind
 * it on the connection waits (TCP delivers in order). With at most a few
 * bundles in flight per peer, goodput falls as losses grow. Damage the
 * TCP checksum missed fails the AEAD record: the receiver hangs up. Only
 * a byzantine sender gets wrong bytes to the node, with valid framing. */
static void tcp_faults(device *d, envelope *env, sent_frame *sf, uint8_t *p,
                       size_t len, double loss, double corrupt) {
  if (loss > 0) {
    vss_time rtt = route_delay(d->w, d->idx, env->dst) +
                   route_delay(d->w, env->dst, d->idx);
    if (rtt < VSS_NS_PER_MS) rtt = VSS_NS_PER_MS; /* a LAN's RTO floor */
    for (size_t seg = 0; seg < len; seg += TCP_MSS)
      if (rng_unit(&d->rng) < loss) {
        env->extra += rtt;
        sf->lost++;
      }
  }
  if (corrupt > 0 && rng_unit(&d->rng) < corrupt) {
    p[4] |= FR_CORRUPTED;
    sf->corrupted++;
  }
}

static void add_frame(device *d, envelope *env, sent_frame *sf,
                      const held_frame *h, double loss, double corrupt) {
  uint8_t *p = env->data + env->used;
  wr32(p, (uint32_t)h->len);
  p[4] = 0;
  memcpy(p + FR_HDR, h->data, h->len);
  if (!d->w->sc->faults_frames) {
    tcp_faults(d, env, sf, p, h->len, loss, corrupt);
  } else if (loss > 0 && rng_unit(&d->rng) < loss) {
    p[4] |= FR_LOST;
    sf->lost++;
  } else if (corrupt > 0 && rng_unit(&d->rng) < corrupt &&
             corrupt_data(d, p + FR_HDR, h->len)) {
    p[4] |= FR_CORRUPTED;
    sf->corrupted++;
  }
  double byz = d->cfg ? d->cfg->byzantine : 0;
  if (byz > 0 && !(p[4] & FR_LOST) && rng_unit(&d->rng) < byz &&
      corrupt_data(d, p + FR_HDR, h->len))
    p[4] |= FR_BYZANTINE;
  env->used += FR_HDR + h->len;
  env->len += h->len;
  env->nframes++;
  sf->cls_bytes[metrics_frame_class(h->data, h->len)] += (uint32_t)h->len;
}

/* Moves held frames (at least one, then up to the bundle size) into one
 * envelope and puts it on the network. */
static void put_bundle(device *d, int p) {
  world *w = d->w;
  peer_view *pv = &d->peers[p];
  pair_state *ps = world_pair(w, d->idx, p);
  size_t bytes = 0, n = 0;
  for (held_frame *h = pv->held; h && (n == 0 || bytes + h->len <= pv->bundle);
       h = h->next) {
    bytes += h->len;
    n++;
  }
  if (pv->tx_epoch != ps->epoch) {
    pv->tx_epoch = ps->epoch;
    pv->tx_seq = 0;
  }
  envelope *env = xcalloc(1, sizeof(*env) + bytes + n * FR_HDR);
  env->src = d->idx;
  env->dst = p;
  env->epoch = ps->epoch;
  env->seq = pv->tx_seq++;
  sent_frame sf = {.dst = p, .sent_at = d->now};
  double loss, corrupt;
  route_faults(w, d->idx, p, &loss, &corrupt);
  for (size_t i = 0; i < n; i++) {
    held_frame *h = pv->held;
    pv->held = h->next;
    pv->held_bytes -= h->len;
    add_frame(d, env, &sf, h, loss, corrupt);
    free(h);
  }
  if (!pv->held) pv->held_tail = NULL;
  sf.len = (uint32_t)env->len;
  sf.frames = env->nframes;
  live_add(w, env);
  pv->out_bundles++;
  pv->out_bytes += env->len;
  double cap = mathis_rate(w, d->idx, p);
  sg_comm_t c =
      cap > 0 ? sim_put_async_rate(w->devs[p].mbox, env, (long)env->len, cap)
              : sg_mailbox_put_async(w->devs[p].mbox, env, (long)env->len);
  comm_add(d, c, COMM_SEND, -1, &sf);
}

/* Send what the peer holds while bundles may go: a full bundle, or any
 * frames when nothing is in flight (a lone request must not wait). */
static void flush(device *d, int p, int partial) {
  peer_view *pv = &d->peers[p];
  uint32_t most = max_out(d, p);
  while (pv->up && pv->held && pv->out_bundles < most &&
         (partial || pv->held_bytes >= pv->bundle))
    put_bundle(d, p);
}

void transport_pump(device *d) {
  world *w = d->w;
  int *touched = NULL, ntouched = 0;
  for (;;) {
    vss_outmsg m;
    int rc = vss_node_next_send(d->node, NULL, &m, d->now);
    if (rc < 0)
      fprintf(stderr, "vss-sim: %s: next_send: %s\n", d->name,
              vss_strerror(rc));
    if (rc <= 0) break;
    int p = world_dev_by_id(w, &m.peer);
    if (p < 0 || !d->peers[p].up) continue; /* not ours to carry */
    peer_view *pv = &d->peers[p];
    hostcost_frame_out(d, m.len);
    if (misbehave_outgoing(d, m.data, m.len)) continue; /* stalled */
    hold(pv, m.data, m.len);
    if (!pv->touched) {
      pv->touched = 1;
      touched = xrealloc(touched, (size_t)(ntouched + 1) * sizeof(int));
      touched[ntouched++] = p;
    }
    flush(d, p, 0);
    if (pv->out_bundles >= max_out(d, p) && pv->held_bytes >= pv->bundle)
      break; /* saturated: leave the rest in the node, in priority order */
  }
  for (int i = 0; i < ntouched; i++) {
    d->peers[touched[i]].touched = 0;
    flush(d, touched[i], 1);
  }
  free(touched);
}

void transport_send_done(device *d, const sent_frame *sf) {
  peer_view *pv = &d->peers[sf->dst];
  metrics_frame_sent(d, sf);
  pv->out_bundles--;
  pv->out_bytes -= sf->len;
  flush(d, sf->dst, 1);
}

static void drop_reorder(peer_view *pv) {
  for (envelope *e = pv->reorder, *nx; e; e = nx) {
    nx = e->next;
    free(e);
  }
  pv->reorder = NULL;
  free(pv->rx_cur);
  pv->rx_cur = NULL;
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

/* ---- receiving
 * ------------------------------------------------------------------- */

/* What a real driver does with a peer that sent garbage: hang up, and let
 * it reconnect after a pause. */
static void broken(device *d, int p) {
  world *w = d->w;
  d->m.proto_errors++;
  pair_state *ps = world_pair(w, d->idx, p);
  if (ps->broken_until <= d->now) w->nbroken++;
  ps->broken_until = d->now + VSS_NS_PER_S;
  world_refresh_pairs(w, d->idx, d->now);
  device_reconcile(d);
}

/* Garbage from byzantine senders, and how long one stayed a source after
 * its first falsified chunk reached us. */
static void note_byzantine(device *d, int p, const uint8_t *frame, size_t len,
                           uint8_t flags) {
  if (flags & FR_BYZANTINE) {
    d->m.garbage_rx += len;
    if (!d->garbage_first) d->garbage_first = d->now ? d->now : 1;
  }
  if (d->w->devs[p].cfg->byzantine > 0 && d->garbage_first &&
      metrics_frame_class(frame, len) == CLS_DATA)
    d->liar_last = d->now;
}

static void block(device *d, int p) {
  peer_view *pv = &d->peers[p];
  d->m.pushbacks++;
  if (pv->rx_blocked) return;
  pv->rx_blocked = 1;
  if (d->nblocked == d->capblocked) {
    d->capblocked = d->capblocked ? d->capblocked * 2 : 8;
    d->blocked = xrealloc(d->blocked, (size_t)d->capblocked * sizeof(int));
  }
  d->blocked[d->nblocked++] = p;
}

/* Feeds env's frames from rx_off on. Returns 1 when env is done (and
 * freed), 0 when the node pushed back: env is kept as the peer's rx_cur. */
static int deliver(device *d, envelope *env) {
  world *w = d->w;
  int p = env->src;
  const uint8_t *q = env->data + env->rx_off, *end = env->data + env->used;
  while (q + FR_HDR <= end && d->peers[p].up &&
         d->peers[p].epoch == env->epoch) {
    if (!vss_node_peer_readable(d->node, &w->devs[p].id)) {
      env->rx_off = (size_t)(q - env->data);
      d->peers[p].rx_cur = env;
      block(d, p);
      return 0;
    }
    uint32_t len = rd32(q);
    uint8_t flags = q[4];
    const uint8_t *frame = q + FR_HDR;
    q += FR_HDR + len;
    metrics_frame_received(d, p, frame, len);
    if (flags & FR_LOST) continue;
    if ((flags & FR_CORRUPTED) && !w->sc->faults_frames) {
      d->m.resets++; /* the AEAD record failed: hang up */
      broken(d, p);
      break;
    }
    note_byzantine(d, p, frame, len, flags);
    /* Decrypted, verified and written before the node hears of it. */
    hostcost_frame_in(d, frame, len);
    if (hostcost_pay(d) > 0) device_now(d);
    if (vss_node_recv(d->node, &w->devs[p].id, frame, len, d->now) < 0)
      broken(d, p);
  }
  free(env);
  return 1;
}

/* Feed what is in order for p, unless the node pushes back. */
static void drain_rx(device *d, int p) {
  peer_view *pv = &d->peers[p];
  if (pv->rx_cur) {
    envelope *e = pv->rx_cur;
    pv->rx_cur = NULL;
    if (!deliver(d, e)) return;
  }
  while (pv->reorder && pv->reorder->seq == pv->rx_seq && pv->up) {
    envelope *e = pv->reorder;
    pv->reorder = e->next;
    pv->rx_seq++;
    if (!deliver(d, e)) return;
  }
}

int transport_resume_rx(device *d) {
  world *w = d->w;
  int resumed = 0;
  for (int i = 0; i < d->nblocked;) {
    int p = d->blocked[i];
    peer_view *pv = &d->peers[p];
    if (pv->up && pv->rx_cur &&
        !vss_node_peer_readable(d->node, &w->devs[p].id)) {
      i++;
      continue;
    }
    d->blocked[i] = d->blocked[--d->nblocked];
    pv->rx_blocked = 0;
    resumed++;
    drain_rx(d, p); /* may block it again */
  }
  return resumed;
}

static void insert_sorted(peer_view *pv, envelope *env) {
  envelope **pp = &pv->reorder;
  while (*pp && (*pp)->seq < env->seq)
    pp = &(*pp)->next;
  env->next = *pp;
  *pp = env;
}

/* ---- propagation (stream mode): a min-heap of arrivals by due time ---- */

static int before(const envelope *a, const envelope *b) {
  return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_push(device *d, envelope *e) {
  if (d->narrivals == d->caparrivals) {
    d->caparrivals = d->caparrivals ? d->caparrivals * 2 : 64;
    d->arrivals =
        xrealloc(d->arrivals, (size_t)d->caparrivals * sizeof(*d->arrivals));
  }
  int i = d->narrivals++;
  while (i > 0 && before(e, d->arrivals[(i - 1) / 2])) {
    d->arrivals[i] = d->arrivals[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  d->arrivals[i] = e;
}

static envelope *heap_pop(device *d) {
  envelope *top = d->arrivals[0], *last = d->arrivals[--d->narrivals];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= d->narrivals) break;
    if (c + 1 < d->narrivals && before(d->arrivals[c + 1], d->arrivals[c])) c++;
    if (!before(d->arrivals[c], last)) break;
    d->arrivals[i] = d->arrivals[c];
    i = c;
  }
  if (d->narrivals) d->arrivals[i] = last;
  return top;
}

vss_time transport_next_due(const device *d) {
  return d->narrivals ? d->arrivals[0]->due : VSS_TIME_UNSET;
}

static void process(device *d, envelope *env);

void transport_deliver_due(device *d) {
  while (d->narrivals && d->arrivals[0]->due <= d->now)
    process(d, heap_pop(d));
}

/* A bundle landed: in stream mode it still has the route's propagation
 * delay ahead of it (kept monotonic per peer, so bundles stay in order
 * when a link's latency drops mid-stream). */
void transport_received(device *d, envelope *env) {
  world *w = d->w;
  live_del(w, env);
  vss_time delay = route_delay(w, env->src, d->idx) + env->extra;
  if (!delay) {
    process(d, env);
    return;
  }
  peer_view *pv = &d->peers[env->src];
  env->due = d->now + delay;
  if (env->due < pv->last_due) env->due = pv->last_due;
  pv->last_due = env->due;
  env->order = d->arrival_order++;
  heap_push(d, env);
}

static void process(device *d, envelope *env) {
  world *w = d->w;
  int p = env->src;
  peer_view *pv = &d->peers[p];
  const pair_state *ps = world_pair(w, d->idx, p);
  if (env->epoch != ps->epoch || !pv->up || pv->epoch != env->epoch) {
    d->m.stale_rx += env->nframes; /* sent on a connection that is gone */
    free(env);
    return;
  }
  if (pv->rx_epoch != env->epoch) {
    drop_reorder(pv); /* leftovers of the old connection */
    pv->rx_epoch = env->epoch;
    pv->rx_seq = 0;
  }
  insert_sorted(pv, env);
  if (!pv->rx_cur) drain_rx(d, p); /* else it waits for the node */
}
