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
#include "view.h"
#include "xfer.h"

#include <stdlib.h>
#include <string.h>

/* The presence cache stores a holder's index in 12 bits and a key's
 * holder count in 11 (pcache.c). */
_Static_assert(VSS_MAX_PEERS < 2047, "pcache holder fields");

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
  cfg->source_patience = 60 * VSS_NS_PER_S;
  cfg->prefetch_patience = 600 * VSS_NS_PER_S;
  cfg->prefetch.eager_kinds = VSS_KIND_BIT(VSS_KIND_THUMB);
  cfg->prefetch.lazy_kinds =
      VSS_KIND_BIT(VSS_KIND_OCR) | VSS_KIND_BIT(VSS_KIND_TRANSCRIPT);
  cfg->prefetch.never_kinds = VSS_KIND_BIT(VSS_KIND_PROXY);
  cfg->prefetch.max_concurrent = 3;
  cfg->prefetch.allowed_links = VSS_LINK_BIT(VSS_LINK_ETHERNET) |
                                VSS_LINK_BIT(VSS_LINK_WIFI) |
                                VSS_LINK_BIT(VSS_LINK_INTERNET);
  cfg->strategy = VSS_STRATEGY_COST;
  cfg->max_active = 32;
  cfg->holders_per_key = 4;
  cfg->dial_timeout = 10 * VSS_NS_PER_S;
  cfg->transient_idle = 30 * VSS_NS_PER_S;
}

/* ---- helpers shared by the modules ----------------------------------- */

/* Peers by uuid: open addressing (linear probing, at most half full),
 * keyed so that a set of device ids chosen to collide on one node does
 * not collide on another. Values are slot index + 1 (0 = empty). */
static uint32_t phash_home(const vss_node *n, const vss_uuid *id) {
  uint64_t a, b;
  memcpy(&a, id->b, 8);
  memcpy(&b, id->b + 8, 8);
  uint64_t h = (a ^ n->phash_seed) * 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 31) ^ b) * 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  return (uint32_t)h & (VSS_PEER_HASH - 1);
}

vss_peer *vss__peer_find(vss_node *n, const vss_uuid *id) {
  for (uint32_t i = phash_home(n, id);; i = (i + 1) & (VSS_PEER_HASH - 1)) {
    uint16_t v = n->phash[i];
    if (v == 0) return NULL;
    vss_peer *p = n->slot[v - 1];
    if (memcmp(p->id.b, id->b, sizeof(id->b)) == 0) return p;
  }
}

static void phash_insert(vss_node *n, const vss_peer *p) {
  uint32_t i = phash_home(n, &p->id);
  while (n->phash[i])
    i = (i + 1) & (VSS_PEER_HASH - 1);
  n->phash[i] = (uint16_t)(p->idx + 1);
}

/* Backward-shift deletion: no tombstones, so lookups stay short after
 * any number of peers came and went. */
static void phash_remove(vss_node *n, const vss_peer *p) {
  const uint32_t mask = VSS_PEER_HASH - 1;
  uint32_t i = phash_home(n, &p->id);
  while (n->phash[i] != p->idx + 1)
    i = (i + 1) & mask;
  for (uint32_t j = (i + 1) & mask; n->phash[j]; j = (j + 1) & mask) {
    uint32_t k = phash_home(n, &n->slot[n->phash[j] - 1]->id);
    /* Move j back to i unless its home lies cyclically in (i, j]. */
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      n->phash[i] = n->phash[j];
      i = j;
    }
  }
  n->phash[i] = 0;
}

/* ---- bounds ---------------------------------------------------------- */

static const char *const limit_names[VSS_LIMIT_COUNT] = {
    [VSS_LIMIT_PEER_QUEUE_BYTES] = "peer_queue_bytes",
    [VSS_LIMIT_PEER_QUEUE_FRAMES] = "peer_queue_frames",
    [VSS_LIMIT_PEER_UNVERIFIED] = "peer_unverified_bytes",
    [VSS_LIMIT_PEER_CACHE_ENTRIES] = "peer_cache_entries",
    [VSS_LIMIT_PEER_STRINGS] = "peer_strings",
    [VSS_LIMIT_PEER_GETS] = "peer_gets",
    [VSS_LIMIT_PEERS] = "peers",
    [VSS_LIMIT_JOBS] = "jobs",
    [VSS_LIMIT_TEMP_BLOBS] = "temp_blobs",
    [VSS_LIMIT_MEMBERS] = "members",
    [VSS_LIMIT_HINT_KEYS] = "hint_keys",
    [VSS_LIMIT_PEER_RELAYED] = "peer_relayed",
};

static const uint64_t limit_defaults[VSS_LIMIT_COUNT] = {
    [VSS_LIMIT_PEER_QUEUE_BYTES] = VSS_DEFAULT_PEER_QUEUE_BYTES,
    [VSS_LIMIT_PEER_QUEUE_FRAMES] = VSS_DEFAULT_PEER_QUEUE_FRAMES,
    [VSS_LIMIT_PEER_UNVERIFIED] = VSS_DEFAULT_PEER_UNVERIFIED,
    [VSS_LIMIT_PEER_CACHE_ENTRIES] = VSS_DEFAULT_PEER_CACHE_ENTRIES,
    [VSS_LIMIT_PEER_STRINGS] = VSS_DEFAULT_PEER_STRINGS,
    [VSS_LIMIT_PEER_GETS] = VSS_DEFAULT_PEER_GETS,
    [VSS_LIMIT_PEERS] = VSS_DEFAULT_PEERS,
    [VSS_LIMIT_JOBS] = VSS_DEFAULT_JOBS,
    [VSS_LIMIT_TEMP_BLOBS] = VSS_DEFAULT_TEMP_BLOBS,
    [VSS_LIMIT_MEMBERS] = VSS_DEFAULT_MEMBERS,
    [VSS_LIMIT_HINT_KEYS] = VSS_DEFAULT_HINT_KEYS,
    [VSS_LIMIT_PEER_RELAYED] = VSS_DEFAULT_PEER_RELAYED,
};

const char *vss_limit_name(vss_limit l) {
  return (unsigned)l < VSS_LIMIT_COUNT ? limit_names[l] : NULL;
}

uint64_t vss_limit_default(vss_limit l) {
  return (unsigned)l < VSS_LIMIT_COUNT ? limit_defaults[l] : 0;
}

int vss__peer_charge(vss_node *n, vss_peer *p, vss_limit what,
                     uint64_t amount) {
  uint64_t lim = n->limits[what];
  if (amount > lim || p->use[what] > lim - amount) return VSS_ERR_LIMIT;
  p->use[what] += amount;
  return 0;
}

void vss__peer_uncharge(vss_node *n, vss_peer *p, vss_limit what,
                        uint64_t amount) {
  (void)n;
  p->use[what] = p->use[what] > amount ? p->use[what] - amount : 0;
}

void vss__peer_pause(vss_node *n, vss_peer *p, uint32_t why) {
  if (!p->paused && why) n->pause_dirty = 1;
  p->paused |= why;
}

void vss__peer_resume(vss_node *n, vss_peer *p, uint32_t why) {
  if (p->paused && !(p->paused & ~why)) n->pause_dirty = 1;
  p->paused &= ~why;
}

/* Keep p in n->stalled exactly while it is paused and online; `now`
 * starts its stall clock when it enters. */
static void stall_track(vss_node *n, vss_peer *p, vss_time now) {
  int in = p->stall_at != VSS_TIME_UNSET;
  int want = p->paused && p->online && !p->drop_rc;
  if (want && !in) {
    p->stall_at = now;
    p->stall_pos = n->nstalled;
    n->stalled[n->nstalled++] = p;
  } else if (!want && in) {
    vss_peer *last = n->stalled[--n->nstalled];
    n->stalled[p->stall_pos] = last;
    last->stall_pos = p->stall_pos;
    p->stall_at = VSS_TIME_UNSET;
  }
}

/* After modules paused or resumed peers outside recv / next_send. */
static void stall_track_all(vss_node *n, vss_time now) {
  if (!n->pause_dirty) return;
  n->pause_dirty = 0;
  for (uint16_t i = 0; i < n->npeers; i++)
    stall_track(n, n->live[i], now);
}

static vss_time stall_expiry(const vss_node *n) {
  vss_time t = VSS_TIME_UNSET;
  for (uint16_t i = 0; i < n->nstalled; i++)
    t = vss__tmin(t, n->stalled[i]->stall_at + VSS_PAUSE_STALL);
  return t;
}

static void stall_drop(vss_node *n, vss_time now) {
  for (uint16_t i = 0; i < n->nstalled; i++) {
    vss_peer *p = n->stalled[i];
    if (p->stall_at + VSS_PAUSE_STALL <= now && !p->drop_rc)
      vss__peer_drop(n, p,
                     p->paused & VSS_PAUSE_QUEUE  ? VSS_LIMIT_PEER_QUEUE_BYTES
                     : p->paused & VSS_PAUSE_GETS ? VSS_LIMIT_PEER_GETS
                                                  : VSS_LIMIT_PEER_UNVERIFIED,
                     VSS_ERR_LIMIT, now);
  }
}

int vss__peer_drop(vss_node *n, vss_peer *p, vss_limit what, int rc,
                   vss_time now) {
  if (p->drop_rc) return p->drop_rc;
  p->drop_rc = rc ? rc : VSS_ERR_LIMIT;
  n->ndrops++;
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_PEER_DROPPED;
  ev.peer = p->id;
  ev.count = (uint64_t)what;
  ev.bytes = p->use[what];
  ev.rc = p->drop_rc;
  vss__emit(n, &ev, now);
  return p->drop_rc;
}

/* The control queue pushes back at its bound and reads again at half of
 * it, so a peer that reads slowly is not paused and resumed per frame. */
static void queue_pushback(vss_node *n, vss_peer *p) {
  const uint64_t *u = p->use;
  if (u[VSS_LIMIT_PEER_QUEUE_BYTES] >= n->limits[VSS_LIMIT_PEER_QUEUE_BYTES] ||
      u[VSS_LIMIT_PEER_QUEUE_FRAMES] >= n->limits[VSS_LIMIT_PEER_QUEUE_FRAMES])
    vss__peer_pause(n, p, VSS_PAUSE_QUEUE);
  else if (u[VSS_LIMIT_PEER_QUEUE_BYTES] <=
               n->limits[VSS_LIMIT_PEER_QUEUE_BYTES] / 2 &&
           u[VSS_LIMIT_PEER_QUEUE_FRAMES] <=
               n->limits[VSS_LIMIT_PEER_QUEUE_FRAMES] / 2)
    vss__peer_resume(n, p, VSS_PAUSE_QUEUE);
}

/* Past twice the bound the driver is not honouring the push back (or
 * one frame asked for a reply larger than the bound): drop the peer. */
static int queue_overflowing(const vss_node *n, const vss_peer *p) {
  return p->use[VSS_LIMIT_PEER_QUEUE_BYTES] >
             2 * n->limits[VSS_LIMIT_PEER_QUEUE_BYTES] ||
         p->use[VSS_LIMIT_PEER_QUEUE_FRAMES] >
             2 * n->limits[VSS_LIMIT_PEER_QUEUE_FRAMES];
}

int vss__send(vss_node *n, vss_peer *p, const uint8_t *frame, size_t len) {
  if (!p->online || p->drop_rc) return VSS_ERR_UNKNOWN_PEER;
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
  p->use[VSS_LIMIT_PEER_QUEUE_BYTES] += len;
  p->use[VSS_LIMIT_PEER_QUEUE_FRAMES]++;
  queue_pushback(n, p);
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
  n->change_push_at =
      vss__tmin(n->change_push_at, now + n->cfg.change_batch_delay);
  /* The change is committed: a failed refresh only delays the push,
   * which reads the meta again before it goes. */
  if (vss_store_get_meta(n->store, &n->meta) != 0) n->meta_stale = 1;
  return 0;
}

/* ---- lifecycle ------------------------------------------------------- */

static int check_config(const vss_node_config *cfg) {
  if (!cfg->store || !cfg->blobs || !cfg->rand) return VSS_ERR_INVALID;
  if (cfg->gossip_interval == 0 || cfg->cache_ttl == 0) return VSS_ERR_INVALID;
  if (cfg->gossip_jitter < 0 || cfg->gossip_jitter >= 1) return VSS_ERR_INVALID;
  if (cfg->max_active > VSS_MAX_PEERS) return VSS_ERR_INVALID;
  return 0;
}

static void fill_limits(vss_node *n) {
  for (int i = 0; i < VSS_LIMIT_COUNT; i++)
    n->limits[i] = n->cfg.limits[i] ? n->cfg.limits[i] : limit_defaults[i];
  if (n->limits[VSS_LIMIT_PEERS] > VSS_MAX_PEERS)
    n->limits[VSS_LIMIT_PEERS] = VSS_MAX_PEERS;
}

/* Zero membership settings (a config not from config_default) get the
 * defaults: the fields came after the others. */
static void fill_view_config(vss_node_config *c) {
  if (!c->max_active) c->max_active = 32;
  if (!c->holders_per_key) c->holders_per_key = 4;
  if (!c->dial_timeout) c->dial_timeout = 10 * VSS_NS_PER_S;
  if (!c->transient_idle) c->transient_idle = 30 * VSS_NS_PER_S;
}

static int node_init(vss_node *n, vss_time now) {
  int rc = vss_store_get_meta(n->store, &n->meta);
  if (rc) return rc;
  fill_limits(n);
  fill_view_config(&n->cfg);
  /* The hash key comes from this device's id, not from the PRNG, so
   * adding it did not change any seeded run. */
  memcpy(&n->phash_seed, n->meta.device.b, sizeof(n->phash_seed));
  n->phash_seed ^= 0x5bd1e9955bd1e995ull;
  if ((rc = vss_theap_reserve(&n->sweep, VSS_MAX_PEERS)) != 0) return rc;
  vss_rng_seed(&n->rng, n->cfg.rand(n->cfg.rand_user));
  n->page = calloc(VSS_GOSSIP_PAGE_ENTRIES, sizeof(*n->page));
  if (!n->page) return VSS_ERR_NOMEM;
  if ((rc = vss_pcache_new(&n->pcache)) || (rc = vss_query_new(&n->query)) ||
      (rc = vss_xfer_new(&n->xfer, n)) || (rc = vss_view_new(&n->view)))
    return rc;
  vss_view_init(n);
  vss_pcache_set_limits(n->pcache, vss__limit(n, VSS_LIMIT_PEER_CACHE_ENTRIES));
  /* The cache's hash key comes from the seeded PRNG (a copy of it, so the
   * node's own random sequence, and every replay, stays as it was). */
  vss_rng key_rng = n->rng;
  vss_pcache_seed(n->pcache, vss_rng_next(&key_rng) ^ 0x5ca1ab1e0ddba11ull);
  n->next_gossip =
      now + vss__jittered(n, n->cfg.gossip_interval, n->cfg.gossip_jitter);
  n->change_push_at = VSS_TIME_UNSET;
  n->compact_tombs = VSS_GOSSIP_COMPACT_TOMBS;
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

static void clear_queue(vss_node *n, vss_peer *p) {
  for (vss_frame *f = p->q_head, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  p->q_head = p->q_tail = NULL;
  p->queued_bytes = 0;
  p->use[VSS_LIMIT_PEER_QUEUE_BYTES] = p->use[VSS_LIMIT_PEER_QUEUE_FRAMES] = 0;
  queue_pushback(n, p);
}

void vss_node_del(vss_node *n) {
  if (!n) return;
  vss_xfer_del(n->xfer);
  vss_view_del(n->view);
  vss_query_del(n->query);
  vss_pcache_del(n->pcache);
  vss_theap_free(&n->sweep); /* writes the peers' positions back */
  for (uint16_t i = 0; i < n->npeers; i++) {
    clear_queue(n, n->live[i]);
    free(n->live[i]);
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

/* When the peer's cache dies (it was silent for cache_ttl), and for an
 * offline peer also when its slot is freed: cache_ttl after it was last
 * heard, or after it went down if it never was. */
static vss_time peer_death(const vss_node *n, const vss_peer *p) {
  vss_time base = p->g.last_heard;
  if (base == VSS_TIME_UNSET && !p->online) base = p->down_at;
  return base == VSS_TIME_UNSET ? VSS_TIME_UNSET : base + n->cfg.cache_ttl;
}

static uint64_t sweep_tie(const vss_peer *p) {
  return ((uint64_t)p->gen << 16) | p->idx;
}

/* Put p in the sweep heap if it is not there; a lazy entry earlier than
 * its real death is moved when it comes up. Cannot fail: the heap has
 * room for every slot. */
static void sweep_arm(vss_node *n, vss_peer *p) {
  if (p->sweep_pos != VSS_THEAP_NONE) return;
  vss_time t = peer_death(n, p);
  if (t != VSS_TIME_UNSET)
    (void)vss_theap_set(&n->sweep, p, &p->sweep_pos, t, sweep_tie(p));
}

/* Free p's slot: every module forgets idx first, then the slot goes back
 * on the free list under a new generation. p must be offline. */
static void peer_free(vss_node *n, vss_peer *p, vss_time now) {
  uint16_t idx = p->idx;
  if (p->g.last_heard != VSS_TIME_UNSET) vss_gossip_expire(n, p, now);
  (void)vss_pcache_drop_peer(n->pcache, idx);
  vss_query_peer_freed(n, idx);
  vss_xfer_peer_freed(n->xfer, idx, now);
  vss_theap_remove(&n->sweep, &p->sweep_pos);
  phash_remove(n, p);
  vss_peer *last = n->live[--n->npeers];
  n->live[p->live] = last;
  last->live = p->live;
  if (n->rr >= n->npeers) n->rr = 0;
  n->slot[idx] = NULL;
  n->slot_gen[idx]++;
  n->free_slots[n->nfree++] = idx;
  clear_queue(n, p);
  free(p);
}

/* The offline peer that went down first (its cache is the stalest), to
 * make room when every slot is taken: soft state, rebuilt by gossip if
 * it ever comes back. O(peers), only when the slots are all in use. */
static vss_peer *peer_evictable(const vss_node *n) {
  vss_peer *best = NULL;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online && (!best || p->down_at < best->down_at)) best = p;
  }
  return best;
}

static vss_peer *peer_add(vss_node *n, const vss_uuid *id, vss_time now) {
  if (n->nfree == 0 && n->nslots >= n->limits[VSS_LIMIT_PEERS]) {
    vss_peer *old = peer_evictable(n);
    if (!old) return NULL;
    peer_free(n, old, now);
  }
  vss_peer *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  uint16_t idx = n->nfree ? n->free_slots[--n->nfree] : n->nslots++;
  p->id = *id;
  p->idx = idx;
  p->gen = n->slot_gen[idx];
  p->g.last_heard = VSS_TIME_UNSET;
  p->g.hello_sent_at = VSS_TIME_UNSET;
  p->ping.sent_at = VSS_TIME_UNSET;
  p->down_at = VSS_TIME_UNSET;
  p->sweep_pos = VSS_THEAP_NONE;
  p->stall_at = VSS_TIME_UNSET;
  n->slot[idx] = p;
  p->live = n->npeers;
  n->live[n->npeers++] = p;
  phash_insert(n, p);
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

static void reap_drops(vss_node *n, vss_time now);

int vss_node_peer_up(vss_node *n, const vss_uuid *peer,
                     const vss_link_info *link, vss_time now) {
  if (!peer || vss_uuid_cmp(peer, &n->meta.device) == 0) return VSS_ERR_INVALID;
  reap_drops(n, now); /* sessions a fetch asked to end go first */
  vss_peer *p = vss__peer_find(n, peer);
  if (p && p->online) return 0;
  /* A managed membership takes at most max_active sessions. */
  int rc = vss_view_admit(n, peer, link, now);
  if (rc) return rc;
  p = vss__peer_find(n, peer); /* admitting may have freed slots */
  if (!p && !(p = peer_add(n, peer, now))) {
    /* Every slot is held by an online peer: a stated bound, not an
     * allocation failure. */
    return n->nfree == 0 && n->nslots >= n->limits[VSS_LIMIT_PEERS]
               ? VSS_ERR_LIMIT
               : VSS_ERR_NOMEM;
  }
  p->online = 1;
  p->drop_rc = 0;
  p->hung_up = 0;
  p->relayed = 0;
  p->foreign = 0;
  p->introduced = 0;
  if (link) p->link = *link;
  vss_est_init_link(&p->est, link);
  vss_view_peer_up(n, p, now);
  emit_peer(n, p, VSS_EV_PEER_UP, now);
  vss_xfer_peer_up(n->xfer, p, now);
  /* Measure the round trip before the first fetch decision needs it. */
  memset(&p->ping, 0, sizeof(p->ping));
  rc = vss_ping_send(n, p, now);
  return rc ? rc : vss_gossip_connect(n, p, now);
}

static void peer_take_down(vss_node *n, vss_peer *p, vss_time now) {
  p->online = 0;
  p->down_at = now;
  clear_queue(n, p);
  stall_track(n, p, now);
  vss_gossip_peer_down(n, p);
  vss_query_peer_down(n, p, now);
  vss_xfer_peer_down(n->xfer, p, now);
  vss_view_peer_down(n, p, now);
  /* Its cache stays (the device may be back soon) until cache_ttl; then
   * the sweep frees its slot. */
  sweep_arm(n, p);
  emit_peer(n, p, VSS_EV_PEER_DOWN, now);
}

int vss_node_peer_down(vss_node *n, const vss_uuid *peer, vss_time now) {
  vss_peer *p = peer ? vss__peer_find(n, peer) : NULL;
  if (!p || !p->online) { /* maybe a DIAL that did not connect */
    int rc = peer ? vss_view_dial_failed(n, peer, now) : VSS_ERR_UNKNOWN_PEER;
    return p ? 0 : rc;
  }
  peer_take_down(n, p, now);
  return 0;
}

void vss__peer_hangup(vss_node *n, vss_peer *p, vss_time now) {
  p->hung_up = 1;
  peer_take_down(n, p, now);
}

int vss_node_peer_reachable(vss_node *n, const vss_uuid *peer,
                            const vss_link_info *link, int reachable,
                            vss_time now) {
  return vss_view_reachable(n, peer, link, reachable, now);
}

void vss_node_view_stats(const vss_node *n, vss_view_stats *out) {
  vss_view_stats_get(n, out);
}

/* Peers a module dropped (vss__peer_drop) go down once the entry point
 * that found them out is done with them. */
static void reap_drops(vss_node *n, vss_time now) {
  if (!n->ndrops) return;
  n->ndrops = 0;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (p->drop_rc && p->online) peer_take_down(n, p, now);
    if (p->hang_pending && p->online) vss_view_hangup(n, p, now);
  }
}

int vss_node_peer_readable(const vss_node *n, const vss_uuid *peer) {
  vss_peer *p = peer ? vss__peer_find((vss_node *)n, peer) : NULL;
  if (!p || !p->online) return 1;
  return p->paused == 0 && p->drop_rc == 0;
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
  case VSS_MSG_RELAY:
    return vss_view_on_relay_msg(n, p, &m->u.relay, len, now);
  case VSS_MSG_IHAVE:
    return vss_view_on_ihave(n, p, &m->u.ihave, now);
  case VSS_MSG_WANT:
    return vss_view_on_want(n, p, &m->u.ihave, now);
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
    p->g.last_heard = p->last_active = now;
    sweep_arm(n, p);
    rc = dispatch(n, p, &m, len, now);
  }
  if (rc >= 0 && !p->drop_rc && queue_overflowing(n, p))
    vss__peer_drop(n, p,
                   p->use[VSS_LIMIT_PEER_QUEUE_BYTES] >
                           2 * n->limits[VSS_LIMIT_PEER_QUEUE_BYTES]
                       ? VSS_LIMIT_PEER_QUEUE_BYTES
                       : VSS_LIMIT_PEER_QUEUE_FRAMES,
                   VSS_ERR_LIMIT, now);
  if (p->drop_rc) {
    rc = p->drop_rc; /* PEER_DROPPED said why */
  } else if (rc < 0) {
    vss_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = VSS_EV_PROTO_ERROR;
    ev.peer = p->id;
    ev.bytes = len;
    ev.rc = rc;
    vss__emit(n, &ev, now);
  }
  stall_track(n, p, now);
  stall_track_all(n, now);
  reap_drops(n, now);
  return rc;
}

/* ---- timers ---------------------------------------------------------- */

/* Peers whose cache died: drop it; an offline one also gives its slot
 * back. Entries put in before the peer was heard again move to its real
 * death: O(log peers) per due entry, nothing per call otherwise. */
static void sweep(vss_node *n, vss_time now) {
  while (vss_theap_top(&n->sweep) <= now) {
    vss_peer *p = n->sweep.v[0].obj;
    vss_time t = peer_death(n, p);
    if (t > now) {
      (void)vss_theap_set(&n->sweep, p, &p->sweep_pos, t, sweep_tie(p));
      continue;
    }
    vss_theap_remove(&n->sweep, &p->sweep_pos);
    if (!p->online)
      peer_free(n, p, now);
    else if (p->g.last_heard != VSS_TIME_UNSET)
      vss_gossip_expire(n, p, now);
  }
}

vss_time vss_node_get_expiry(const vss_node *n) {
  vss_time t = vss__tmin(n->next_gossip, n->change_push_at);
  t = vss__tmin(t, vss_theap_top(&n->sweep));
  t = vss__tmin(t, stall_expiry(n));
  t = vss__tmin(t, vss_query_expiry(n));
  t = vss__tmin(t, vss_view_expiry(n));
  return vss__tmin(t, vss_xfer_expiry(n->xfer));
}

int vss_node_handle_expiry(vss_node *n, vss_time now) {
  int rc = 0;
  if (n->change_push_at <= now) {
    n->change_push_at = VSS_TIME_UNSET;
    if (n->meta_stale && vss_store_get_meta(n->store, &n->meta) == 0)
      n->meta_stale = 0;
    if (n->meta_stale) /* the store still fails: try again later */
      n->change_push_at = now + n->cfg.change_batch_delay;
    else
      rc = vss_gossip_push(n, now);
  }
  if (rc == 0 && n->next_gossip <= now) {
    n->next_gossip =
        now + vss__jittered(n, n->cfg.gossip_interval, n->cfg.gossip_jitter);
    rc = vss_gossip_round(n, now);
    if (rc == 0) rc = vss_ping_round(n, now);
  }
  if (rc == 0) sweep(n, now);
  if (rc == 0) rc = vss_query_handle_expiry(n, now);
  if (rc == 0) rc = vss_xfer_handle_expiry(n->xfer, now);
  vss_view_handle_expiry(n, now); /* sessions, whatever failed above */
  stall_track_all(n, now);
  stall_drop(n, now);
  reap_drops(n, now);
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

/* The frame leaves the queue only once it is in out: a failed copy
 * loses nothing. */
static int pop_control(vss_node *n, vss_peer *p, vss_buf *out) {
  vss_frame *f = p->q_head;
  if (!f) return 0;
  int rc = vss_buf_put(out, f->data, f->len);
  if (rc) return rc;
  p->q_head = f->next;
  if (!p->q_head) p->q_tail = NULL;
  p->queued_bytes -= f->len;
  vss__peer_uncharge(n, p, VSS_LIMIT_PEER_QUEUE_BYTES, f->len);
  vss__peer_uncharge(n, p, VSS_LIMIT_PEER_QUEUE_FRAMES, 1);
  queue_pushback(n, p);
  free(f);
  return 1;
}

/* Control first, then foreground data, then gossip pages, then the rest:
 * a user's request never waits behind a digest or a prefetch. */
static int produce(vss_node *n, vss_peer *p, vss_buf *out, int *prio,
                   vss_time now) {
  /* Keys asked since the last pull leave as one QUERY frame. */
  int rc = vss_query_flush(n, p, now);
  if (rc == VSS_ERR_NOMEM) return rc;
  if ((rc = vss_ping_produce(p, out)) != 0 ||
      (rc = pop_control(n, p, out)) != 0) {
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

static int send_one(vss_node *n, vss_peer *p, vss_outmsg *out, vss_time now) {
  int prio = 0;
  int rc = produce(n, p, &n->out, &prio, now);
  if (rc <= 0) return rc;
  /* A frame left: the peer is reading, its stall clock restarts. */
  if (p->stall_at != VSS_TIME_UNSET) p->stall_at = now;
  stall_track(n, p, now);
  if (prio != VSS_PRIO_GOSSIP) p->last_active = now;
  out->peer = p->id;
  out->data = n->out.data;
  out->len = n->out.len;
  out->priority = prio;
  return 1;
}

int vss_node_next_send(vss_node *n, const vss_uuid *peer, vss_outmsg *out,
                       vss_time now) {
  n->out.len = 0;
  reap_drops(n, now);
  if (peer) {
    vss_peer *p = vss__peer_find(n, peer);
    return p && p->online ? send_one(n, p, out, now) : 0;
  }
  for (uint16_t k = 0; k < n->npeers; k++) {
    uint16_t at = (uint16_t)((n->rr + k) % n->npeers);
    vss_peer *p = n->live[at];
    if (!p->online) continue;
    int rc = send_one(n, p, out, now);
    if (rc == 0) continue;
    if (rc > 0) n->rr = (uint16_t)((at + 1) % n->npeers);
    return rc;
  }
  return 0;
}

uint64_t vss_node_queued_bytes(const vss_node *n, const vss_uuid *peer) {
  if (peer) {
    const vss_peer *p = vss__peer_find((vss_node *)n, peer);
    return p ? p->queued_bytes : 0;
  }
  uint64_t total = 0;
  for (uint16_t i = 0; i < n->npeers; i++)
    total += n->live[i]->queued_bytes;
  return total;
}

int vss_node_query(vss_node *n, const vss_key *key, vss_time now) {
  if (!key) return VSS_ERR_INVALID;
  return vss_query_ask(n, key, now);
}

int vss_node_peers(const vss_node *n, vss_peer_info *out, size_t cap) {
  for (uint16_t i = 0; i < n->npeers && i < cap; i++) {
    const vss_peer *p = n->live[i];
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

uint64_t vss_node_cache_bytes(const vss_node *n) {
  return vss_pcache_mem(n->pcache);
}
