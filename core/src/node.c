/*
 * node.c - the engine's frame: configuration, peers, send queues, frame
 * dispatch and timers. The protocol lives in gossip.c, query.c, xfer.c;
 * the application calls in node_local.c and resolver.c.
 */
#include "node_internal.h"

#include "gossip.h"
#include "pcache.h"
#include "ping.h"
#include "query.h"
#include "xfer.h"

#include <stdlib.h>
#include <string.h>

void vss_node_config_default(vss_node_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->gossip_interval = 300 * VSS_NS_PER_S;
  cfg->gossip_jitter = 0.1;
  cfg->change_batch_delay = 200 * VSS_NS_PER_MS;
  cfg->cache_ttl = 3 * cfg->gossip_interval;
  cfg->negative_ttl = 60 * VSS_NS_PER_S;
  cfg->query_timeout = 5 * VSS_NS_PER_S;
  cfg->max_retries = 4;
  cfg->retry_backoff = 50 * VSS_NS_PER_MS;
  cfg->window_min = 1024 * 1024;
  cfg->window_max = 64 * 1024 * 1024;
  cfg->prefetch.eager_kinds = VSS_KIND_BIT(VSS_KIND_THUMB);
  cfg->prefetch.lazy_kinds =
      VSS_KIND_BIT(VSS_KIND_OCR) | VSS_KIND_BIT(VSS_KIND_TRANSCRIPT);
  cfg->prefetch.never_kinds = VSS_KIND_BIT(VSS_KIND_PROXY);
  cfg->prefetch.max_concurrent = 3;
  cfg->prefetch.allowed_links = VSS_LINK_BIT(VSS_LINK_ETHERNET) |
                                VSS_LINK_BIT(VSS_LINK_WIFI) |
                                VSS_LINK_BIT(VSS_LINK_INTERNET);
  cfg->strategy = VSS_STRATEGY_COST;
}

/* ---- helpers shared by the modules ----------------------------------- */

vss_peer *vss__peer_find(vss_node *n, const vss_uuid *id) {
  for (uint16_t i = 0; i < n->npeers; i++)
    if (vss_uuid_cmp(&n->peers[i]->id, id) == 0) return n->peers[i];
  return NULL;
}

int vss__send(vss_node *n, vss_peer *p, const uint8_t *frame, size_t len) {
  (void)n;
  if (!p->online) return VSS_ERR_UNKNOWN_PEER;
  vss_frame *f = malloc(sizeof(*f) + len);
  if (!f) return VSS_ERR_NOMEM;
  f->next = NULL;
  f->len = len;
  memcpy(f->data, frame, len);
  if (p->q_tail)
    p->q_tail->next = f;
  else
    p->q_head = f;
  p->q_tail = f;
  p->queued_bytes += len;
  return 0;
}

void vss__emit(vss_node *n, vss_event *ev, vss_time now) {
  ev->at = now;
  if (n->cfg.on_event) n->cfg.on_event(n->cfg.event_user, ev);
}

vss_time vss__jittered(vss_node *n, vss_time base, double jitter) {
  double f = 1.0 + jitter * (2.0 * vss_rng_unit(&n->rng) - 1.0);
  return (vss_time)((double)base * f);
}

int vss__local_recorded(vss_node *n, const vss_key *key, vss_time now) {
  (void)key;
  int rc = vss_store_get_meta(n->store, &n->meta);
  if (rc) return rc;
  n->change_push_at =
      vss__tmin(n->change_push_at, now + n->cfg.change_batch_delay);
  return 0;
}

/* ---- lifecycle ------------------------------------------------------- */

static int check_config(const vss_node_config *cfg) {
  if (!cfg->store || !cfg->blobs || !cfg->rand) return VSS_ERR_INVALID;
  if (cfg->gossip_interval == 0 || cfg->cache_ttl == 0) return VSS_ERR_INVALID;
  if (cfg->gossip_jitter < 0 || cfg->gossip_jitter >= 1) return VSS_ERR_INVALID;
  return 0;
}

static int node_init(vss_node *n, vss_time now) {
  int rc = vss_store_get_meta(n->store, &n->meta);
  if (rc) return rc;
  vss_rng_seed(&n->rng, n->cfg.rand(n->cfg.rand_user));
  n->page = calloc(VSS_GOSSIP_PAGE_ENTRIES, sizeof(*n->page));
  if (!n->page) return VSS_ERR_NOMEM;
  if ((rc = vss_pcache_new(&n->pcache)) || (rc = vss_query_new(&n->query)) ||
      (rc = vss_xfer_new(&n->xfer, n)))
    return rc;
  n->next_gossip =
      now + vss__jittered(n, n->cfg.gossip_interval, n->cfg.gossip_jitter);
  n->change_push_at = VSS_TIME_UNSET;
  n->next_cache_sweep = VSS_TIME_UNSET;
  return 0;
}

int vss_node_new(vss_node **out, const vss_node_config *cfg, vss_time now) {
  int rc = check_config(cfg);
  if (rc) return rc;
  vss_node *n = calloc(1, sizeof(*n));
  if (!n) return VSS_ERR_NOMEM;
  n->cfg = *cfg;
  n->store = cfg->store;
  n->blobs = cfg->blobs;
  rc = node_init(n, now);
  if (rc) {
    vss_node_del(n);
    return rc;
  }
  *out = n;
  return 0;
}

static void clear_queue(vss_peer *p) {
  for (vss_frame *f = p->q_head, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  p->q_head = p->q_tail = NULL;
  p->queued_bytes = 0;
}

void vss_node_del(vss_node *n) {
  if (!n) return;
  vss_xfer_del(n->xfer);
  vss_query_del(n->query);
  vss_pcache_del(n->pcache);
  for (uint16_t i = 0; i < n->npeers; i++) {
    clear_queue(n->peers[i]);
    free(n->peers[i]);
  }
  vss_buf_free(&n->out);
  free(n->page);
  free(n);
}

const vss_uuid *vss_node_device(const vss_node *n) {
  return &n->meta.device;
}

int vss_node_set_policy(vss_node *n, const vss_prefetch_policy *p,
                        vss_strategy s, vss_time now) {
  (void)now;
  if (s > VSS_STRATEGY_PREFER_GENERATE) return VSS_ERR_INVALID;
  if (p) n->cfg.prefetch = *p;
  n->cfg.strategy = s;
  return 0;
}

/* ---- peers ----------------------------------------------------------- */

static vss_peer *peer_add(vss_node *n, const vss_uuid *id) {
  if (n->npeers == VSS_MAX_PEERS) return NULL;
  vss_peer *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->id = *id;
  p->idx = n->npeers;
  p->g.last_heard = VSS_TIME_UNSET;
  p->g.hello_sent_at = VSS_TIME_UNSET;
  p->ping.sent_at = VSS_TIME_UNSET;
  n->peers[n->npeers++] = p;
  return p;
}

static void emit_peer(vss_node *n, vss_peer *p, vss_event_type t,
                      vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = t;
  ev.peer = p->id;
  vss__emit(n, &ev, now);
}

int vss_node_peer_up(vss_node *n, const vss_uuid *peer,
                     const vss_link_info *link, vss_time now) {
  if (!peer || vss_uuid_cmp(peer, &n->meta.device) == 0) return VSS_ERR_INVALID;
  vss_peer *p = vss__peer_find(n, peer);
  if (!p && !(p = peer_add(n, peer))) return VSS_ERR_NOMEM;
  if (p->online) return 0;
  p->online = 1;
  if (link) p->link = *link;
  vss_est_init_link(&p->est, link);
  emit_peer(n, p, VSS_EV_PEER_UP, now);
  vss_xfer_peer_up(n->xfer, p, now);
  /* Measure the round trip before the first fetch decision needs it. */
  memset(&p->ping, 0, sizeof(p->ping));
  int rc = vss_ping_send(n, p, now);
  return rc ? rc : vss_gossip_connect(n, p, now);
}

int vss_node_peer_down(vss_node *n, const vss_uuid *peer, vss_time now) {
  vss_peer *p = peer ? vss__peer_find(n, peer) : NULL;
  if (!p) return VSS_ERR_UNKNOWN_PEER;
  if (!p->online) return 0;
  p->online = 0;
  clear_queue(p);
  vss_gossip_peer_down(n, p);
  vss_query_peer_down(n, p, now);
  vss_xfer_peer_down(n->xfer, p, now);
  /* Its cache stays (the device may be back soon) until cache_ttl. */
  n->next_cache_sweep = VSS_TIME_UNSET;
  emit_peer(n, p, VSS_EV_PEER_DOWN, now);
  return 0;
}

/* ---- input ----------------------------------------------------------- */

static int dispatch(vss_node *n, vss_peer *p, const vss_msg *m, size_t len,
                    vss_time now) {
  switch (m->type) {
  case VSS_MSG_HELLO:
    return vss_gossip_on_hello(n, p, &m->u.hello, now);
  case VSS_MSG_DIGEST:
    return vss_gossip_on_digest(n, p, &m->u.digest, len, now);
  case VSS_MSG_QUERY:
    return vss_query_on_query(n, p, &m->u.query, now);
  case VSS_MSG_QUERY_REPLY:
    return vss_query_on_reply(n, p, &m->u.reply, now);
  case VSS_MSG_PING:
    return vss_ping_on_ping(n, p, &m->u.ping);
  case VSS_MSG_PONG:
    return vss_ping_on_pong(n, p, &m->u.ping, now);
  default:
    return vss_xfer_recv(n->xfer, p, m, now);
  }
}

int vss_node_recv(vss_node *n, const vss_uuid *peer, const uint8_t *frame,
                  size_t len, vss_time now) {
  vss_peer *p = peer ? vss__peer_find(n, peer) : NULL;
  if (!p || !p->online) return VSS_ERR_UNKNOWN_PEER;
  vss_msg m;
  int rc = vss_wire_decode(frame, len, &m);
  if (rc == 0) {
    p->g.last_heard = now;
    rc = dispatch(n, p, &m, len, now);
  }
  if (rc < 0) {
    vss_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = VSS_EV_PROTO_ERROR;
    ev.peer = p->id;
    ev.bytes = len;
    ev.rc = rc;
    vss__emit(n, &ev, now);
  }
  return rc;
}

/* ---- timers ---------------------------------------------------------- */

static vss_time sweep_time(const vss_node *n) {
  if (n->next_cache_sweep != VSS_TIME_UNSET) return n->next_cache_sweep;
  /* Unknown: the earliest peer death (computed lazily in handle_expiry). */
  vss_time t = VSS_TIME_UNSET;
  for (uint16_t i = 0; i < n->npeers; i++)
    if (n->peers[i]->g.last_heard != VSS_TIME_UNSET)
      t = vss__tmin(t, n->peers[i]->g.last_heard + n->cfg.cache_ttl);
  return t;
}

vss_time vss_node_get_expiry(const vss_node *n) {
  vss_time t = vss__tmin(n->next_gossip, n->change_push_at);
  t = vss__tmin(t, sweep_time(n));
  t = vss__tmin(t, vss_query_expiry(n));
  return vss__tmin(t, vss_xfer_expiry(n->xfer));
}

int vss_node_handle_expiry(vss_node *n, vss_time now) {
  int rc = 0;
  if (n->change_push_at <= now) {
    n->change_push_at = VSS_TIME_UNSET;
    rc = vss_gossip_push(n, now);
  }
  if (rc == 0 && n->next_gossip <= now) {
    n->next_gossip =
        now + vss__jittered(n, n->cfg.gossip_interval, n->cfg.gossip_jitter);
    rc = vss_gossip_round(n, now);
    if (rc == 0) rc = vss_ping_round(n, now);
  }
  if (rc == 0 && sweep_time(n) <= now)
    n->next_cache_sweep = vss_gossip_sweep(n, now);
  if (rc == 0) rc = vss_query_handle_expiry(n, now);
  if (rc == 0) rc = vss_xfer_handle_expiry(n->xfer, now);
  return rc;
}

int vss_node_reset_epoch(vss_node *n, vss_time now) {
  int rc = vss_store_new_epoch(n->store);
  if (rc == 0) rc = vss_store_get_meta(n->store, &n->meta);
  return rc ? rc : vss_gossip_round(n, now);
}

int vss_node_gossip_now(vss_node *n, vss_time now) {
  return vss_gossip_round(n, now);
}

/* ---- output ---------------------------------------------------------- */

static int pop_control(vss_peer *p, vss_buf *out) {
  vss_frame *f = p->q_head;
  if (!f) return 0;
  p->q_head = f->next;
  if (!p->q_head) p->q_tail = NULL;
  p->queued_bytes -= f->len;
  int rc = vss_buf_put(out, f->data, f->len);
  free(f);
  return rc ? rc : 1;
}

/* Control first, then foreground data, then gossip pages, then the rest:
 * a user's request never waits behind a digest or a prefetch. */
static int produce(vss_node *n, vss_peer *p, vss_buf *out, int *prio,
                   vss_time now) {
  /* Keys asked since the last pull leave as one QUERY frame. */
  int rc = vss_query_flush(n, p, now);
  if (rc == VSS_ERR_NOMEM) return rc;
  if ((rc = vss_ping_produce(p, out)) != 0 || (rc = pop_control(p, out)) != 0) {
    *prio = VSS_PRIO_CONTROL;
    return rc;
  }
  if ((rc = vss_xfer_produce(n->xfer, p, 1, out, now)) != 0) {
    *prio = VSS_PRIO_FOREGROUND;
    return rc;
  }
  if ((rc = vss_gossip_produce(n, p, out, now)) != 0) {
    *prio = VSS_PRIO_GOSSIP;
    return rc;
  }
  *prio = VSS_PRIO_BACKGROUND;
  return vss_xfer_produce(n->xfer, p, 0, out, now);
}

int vss_node_next_send(vss_node *n, const vss_uuid *peer, vss_outmsg *out,
                       vss_time now) {
  n->out.len = 0;
  for (uint16_t k = 0; k < n->npeers; k++) {
    vss_peer *p = n->peers[(n->rr + k) % n->npeers];
    if (!p->online || (peer && vss_uuid_cmp(&p->id, peer) != 0)) continue;
    int prio = 0;
    int rc = produce(n, p, &n->out, &prio, now);
    if (rc < 0) return rc;
    if (rc == 0) continue;
    n->rr = (uint16_t)((p->idx + 1) % n->npeers);
    out->peer = p->id;
    out->data = n->out.data;
    out->len = n->out.len;
    out->priority = prio;
    return 1;
  }
  return 0;
}

uint64_t vss_node_queued_bytes(const vss_node *n, const vss_uuid *peer) {
  uint64_t total = 0;
  for (uint16_t i = 0; i < n->npeers; i++)
    if (!peer || vss_uuid_cmp(&n->peers[i]->id, peer) == 0)
      total += n->peers[i]->queued_bytes;
  return total;
}

int vss_node_query(vss_node *n, const vss_key *key, vss_time now) {
  if (!key) return VSS_ERR_INVALID;
  return vss_query_ask(n, key, now);
}

int vss_node_peers(const vss_node *n, vss_peer_info *out, size_t cap) {
  for (uint16_t i = 0; i < n->npeers && i < cap; i++) {
    const vss_peer *p = n->peers[i];
    vss_peer_info *pi = &out[i];
    memset(pi, 0, sizeof(*pi));
    pi->device = p->id;
    pi->online = p->online;
    pi->link = p->link;
    pi->entries = vss_pcache_count_peer(n->pcache, p->idx);
    pi->seen_epoch = p->g.their_epoch;
    pi->seen_seq = p->g.their_seq;
    pi->last_heard = p->g.last_heard;
    pi->rate = p->est.rate;
    pi->rtt = p->est.srtt;
  }
  return n->npeers;
}
