/*
 * view.c - membership and the active view. See view.h and
 * core/README.md ("Libraries of many devices").
 *
 * The membership table holds every device the driver reported (up to
 * VSS_LIMIT_MEMBERS). The active view is chosen from the reachable ones
 * by (path class, pair rank): same site first, then the internet,
 * cellular last; a quarter of it goes to the best-ranked members
 * regardless of class, which are random links (the pair rank is a hash
 * of the two ids) and keep a fleet of many sites one connected graph.
 * The rank is symmetric: a pair ranks the same at both ends, so the two
 * ends mostly want each other and inbound sessions are rarely refused.
 * A slice of max_active is kept for transient sessions (fetches from
 * holders outside the view) and for inbound sessions.
 */
#include "view.h"

#include "hints.h"
#include "pcache.h"
#include "query.h"

#include <stdlib.h>
#include <string.h>

#define NO_MEMBER UINT32_MAX
#define BACKOFF_MIN (5 * VSS_NS_PER_S)
#define BACKOFF_MAX (600 * VSS_NS_PER_S)
/* A session of the view that the node may end to make room for a better
 * one must have lived this long: a view does not flap. */
#define HANGUP_MIN_AGE (10 * VSS_NS_PER_S)
/* A session with a frame either way this recently is not ended for a
 * better one (a transfer may be running on it). */
#define VIEW_BUSY (5 * VSS_NS_PER_S)

typedef struct member {
  vss_uuid id;
  vss_link_info link;
  uint32_t rank; /* pair rank: hash of the two ids, symmetric */
  uint8_t reachable;
  uint8_t want;    /* in the active view now */
  uint8_t dialing; /* DIAL sent, no peer_up yet */
  uint8_t transient_dial;
  uint8_t fails;
  vss_time dial_at;
  vss_time backoff_until;
  /* Its news as an origin: how far we have it, and a WANT to send when
   * an IHAVE said there is more and the eager copy has not come. */
  uint64_t epoch, seq;
  uint64_t want_seq;
  vss_uuid want_from;
  vss_time want_at;
  uint8_t want_tries;
} member;

/* A relay we passed on, kept to answer WANTs (the lazy half). */
typedef struct rframe {
  uint32_t origin; /* member */
  uint64_t epoch, to_seq;
  size_t len;
  uint8_t data[];
} rframe;

/* Keys a fetch wants from a member we are dialling (asked on peer_up). */
typedef struct wkey {
  uint32_t member;
  vss_key key;
} wkey;

struct vss_view {
  int managed;
  member *m;
  uint32_t n, cap;
  uint32_t *idx; /* open addressing: member index + 1, 0 = empty */
  uint32_t icap; /* power of two, >= 2 * cap */
  uint32_t sessions, dialing, transient, wanted;
  uint32_t target;  /* sessions the view aims for (transients aside) */
  uint32_t learned; /* members learned from relays, not the driver */
  uint32_t pending; /* sessions marked hang_pending */
  int dirty;
  vss_time next_at;
  uint32_t *order; /* scratch for the selection */
  vss_view_stats st;
  vss_hints *hints;
  rframe *ring[VSS_RELAY_RING_FRAMES];
  uint32_t ring_head, ring_n;
  size_t ring_bytes;
  wkey wants[VSS_VIEW_WANT_KEYS];
  uint32_t nwants;
  int want_due; /* some member has want_at set */
};

static vss_time send_wants(vss_node *n, vss_time now);
static void wants_drop(vss_view *v, uint32_t k);
static void wants_ask(vss_node *n, vss_peer *p, uint32_t k, vss_time now);

int vss_view_new(vss_view **out) {
  vss_view *v = calloc(1, sizeof(*v));
  if (!v) return VSS_ERR_NOMEM;
  v->next_at = VSS_TIME_UNSET;
  int rc = vss_hints_new(&v->hints);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  return 0;
}

void vss_view_del(vss_view *v) {
  if (!v) return;
  for (uint32_t i = 0; i < v->ring_n; i++)
    free(v->ring[(v->ring_head + i) % VSS_RELAY_RING_FRAMES]);
  vss_hints_del(v->hints);
  free(v->m);
  free(v->idx);
  free(v->order);
  free(v);
}

int vss_view_managed(const vss_node *n) {
  return n->view->managed;
}

/* ---- the table ------------------------------------------------------- */

static uint64_t uuid_mix(const vss_uuid *a) {
  uint64_t x, y;
  memcpy(&x, a->b, 8);
  memcpy(&y, a->b + 8, 8);
  x = (x ^ (y * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 31);
}

static uint32_t pair_rank(const vss_uuid *a, const vss_uuid *b) {
  uint64_t x = uuid_mix(a), y = uuid_mix(b);
  uint64_t lo = x < y ? x : y, hi = x < y ? y : x;
  uint64_t h = (lo * 0x9e3779b97f4a7c15ull) ^ (hi + 0x632be59bd9b4e019ull);
  h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
  return (uint32_t)(h >> 32);
}

static uint32_t find(const vss_view *v, const vss_uuid *id) {
  if (!v->icap) return NO_MEMBER;
  for (uint32_t i = (uint32_t)uuid_mix(id) & (v->icap - 1);;
       i = (i + 1) & (v->icap - 1)) {
    uint32_t k = v->idx[i];
    if (!k) return NO_MEMBER;
    if (memcmp(v->m[k - 1].id.b, id->b, sizeof(id->b)) == 0) return k - 1;
  }
}

static void index_put(vss_view *v, uint32_t k) {
  uint32_t i = (uint32_t)uuid_mix(&v->m[k].id) & (v->icap - 1);
  while (v->idx[i])
    i = (i + 1) & (v->icap - 1);
  v->idx[i] = k + 1;
}

static int grow(vss_view *v) {
  uint32_t cap = v->cap ? v->cap * 2 : 64;
  member *m = realloc(v->m, cap * sizeof(*m));
  if (!m) return VSS_ERR_NOMEM;
  v->m = m;
  uint32_t *o = realloc(v->order, cap * sizeof(*o));
  if (!o) return VSS_ERR_NOMEM;
  v->order = o;
  uint32_t *idx = calloc(2 * (size_t)cap, sizeof(*idx));
  if (!idx) return VSS_ERR_NOMEM;
  free(v->idx);
  v->idx = idx;
  v->icap = 2 * cap;
  v->cap = cap;
  for (uint32_t k = 0; k < v->n; k++)
    index_put(v, k);
  return 0;
}

/* Member for id, added when absent (VSS_ERR_LIMIT past the bound). */
static int member_get(vss_node *n, const vss_uuid *id, uint32_t *out) {
  vss_view *v = n->view;
  uint32_t k = find(v, id);
  if (k == NO_MEMBER) {
    if (v->n >= vss__limit(n, VSS_LIMIT_MEMBERS)) return VSS_ERR_LIMIT;
    if (v->n == v->cap) {
      int rc = grow(v);
      if (rc) return rc;
    }
    k = v->n++;
    member *m = &v->m[k];
    memset(m, 0, sizeof(*m));
    m->id = *id;
    m->rank = pair_rank(&n->meta.device, id);
    m->dial_at = m->backoff_until = m->want_at = VSS_TIME_UNSET;
    index_put(v, k);
  }
  *out = k;
  return 0;
}

/* ---- ranking --------------------------------------------------------- */

static int cls_rank(vss_link_class c) {
  return c < VSS_LINK_COUNT ? (int)c : VSS_LINK_COUNT;
}

static uint64_t pref_key(const member *m) {
  return ((uint64_t)cls_rank(m->link.cls) << 33) |
         ((uint64_t)(m->link.metered != 0) << 32) | m->rank;
}

static const member *sort_base;
static int by_pref(const void *a, const void *b) {
  uint64_t x = pref_key(&sort_base[*(const uint32_t *)a]);
  uint64_t y = pref_key(&sort_base[*(const uint32_t *)b]);
  return x < y ? -1 : x > y;
}
static int by_rank(const void *a, const void *b) {
  uint32_t x = sort_base[*(const uint32_t *)a].rank;
  uint32_t y = sort_base[*(const uint32_t *)b].rank;
  return x < y ? -1 : x > y;
}

static int online(vss_node *n, const member *m) {
  vss_peer *p = vss__peer_find(n, &m->id);
  return p && p->online;
}

/* The active view: every reachable member when they fit in max_active;
 * else the best paths, plus random links, leaving room for transient
 * and inbound sessions. A member backing off is not chosen unless it is
 * connected anyway. */
static void select_view(vss_node *n, vss_time now) {
  vss_view *v = n->view;
  uint32_t nc = 0, max = n->cfg.max_active;
  for (uint32_t k = 0; k < v->n; k++) {
    member *m = &v->m[k];
    m->want = 0;
    if (!m->reachable) continue;
    if (m->backoff_until != VSS_TIME_UNSET && m->backoff_until > now &&
        !online(n, m))
      continue;
    v->order[nc++] = k;
  }
  v->wanted = 0;
  if (nc <= max) {
    sort_base = v->m;
    qsort(v->order, nc, sizeof(*v->order), by_pref);
    for (uint32_t i = 0; i < nc; i++)
      v->m[v->order[i]].want = 1;
    v->wanted = v->target = nc;
    return;
  }
  uint32_t target = max - (max / 8 ? max / 8 : 1);
  uint32_t rnd = target / 4 ? target / 4 : 1;
  if (target <= 1) rnd = 0;
  sort_base = v->m;
  qsort(v->order, nc, sizeof(*v->order), by_pref);
  uint32_t best = target - rnd;
  for (uint32_t i = 0; i < best; i++)
    v->m[v->order[i]].want = 1;
  qsort(v->order + best, nc - best, sizeof(*v->order), by_rank);
  for (uint32_t i = best; i < target; i++)
    v->m[v->order[i]].want = 1;
  v->wanted = v->target = target;
}

static uint64_t hint_pref(void *user, uint32_t holder) {
  const vss_view *v = user;
  return holder < v->n ? pref_key(&v->m[holder]) : UINT64_MAX;
}

void vss_view_init(vss_node *n) {
  vss_view *v = n->view;
  vss_hints_config(v->hints, n->cfg.holders_per_key,
                   vss__limit(n, VSS_LIMIT_HINT_KEYS), hint_pref, v);
}

/* ---- sessions -------------------------------------------------------- */

static void emit(vss_node *n, vss_event_type t, const vss_uuid *peer,
                 uint32_t flags, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = t;
  ev.peer = *peer;
  ev.flags = flags;
  vss__emit(n, &ev, now);
}

static void backoff(member *m, vss_time now) {
  vss_time d = BACKOFF_MIN << (m->fails < 7 ? m->fails : 7);
  if (d > BACKOFF_MAX) d = BACKOFF_MAX;
  if (m->fails < 255) m->fails++;
  m->backoff_until = now + d;
}

static void dial(vss_node *n, member *m, int transient, vss_time now) {
  vss_view *v = n->view;
  m->dialing = 1;
  m->transient_dial = (uint8_t)transient;
  m->dial_at = now;
  v->dialing++;
  v->st.dials++;
  emit(n, VSS_EV_DIAL, &m->id, transient ? VSS_EVF_TRANSIENT : 0, now);
}

static int link_rank(const vss_link_info *l) {
  return cls_rank(l->cls) * 2 + (l->metered != 0);
}

/* The session the node gives up first to make room: a transient one
 * gone idle, else the one of worst path class (outside the view before
 * inside it) that has lived HANGUP_MIN_AGE; only when its class is worse
 * than `better` (a link_rank; INT_MAX: any will do). NULL when none. */
static vss_peer *victim(vss_node *n, int better, vss_time now) {
  vss_view *v = n->view;
  vss_peer *best = NULL;
  uint64_t worst = 0;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || p->drop_rc || p->hang_pending) continue;
    if (p->transient) {
      if (now - p->last_active < n->cfg.transient_idle / 4) continue;
      return p; /* idle: the cheapest to give up */
    }
    if (now - p->up_at < HANGUP_MIN_AGE) continue;
    if (link_rank(&p->link) <= better) continue;
    /* traffic in the last seconds: a transfer may be under way */
    if (now - p->last_active < VIEW_BUSY) continue;
    uint32_t k = find(v, &p->id);
    int wanted = k != NO_MEMBER && v->m[k].want;
    uint64_t key = ((uint64_t)link_rank(&p->link) << 40) |
                   ((uint64_t)!wanted << 32) |
                   (k == NO_MEMBER ? UINT32_MAX : v->m[k].rank);
    if (!best || key > worst) {
      best = p;
      worst = key;
    }
  }
  return best;
}

static void unpend(vss_view *v, vss_peer *p) {
  if (!p->hang_pending) return;
  p->hang_pending = 0;
  v->pending--;
}

static void hangup(vss_node *n, vss_peer *p, vss_time now) {
  uint32_t flags = p->transient ? VSS_EVF_TRANSIENT : 0;
  unpend(n->view, p);
  n->view->st.hangups++;
  vss__peer_hangup(n, p, now);
  emit(n, VSS_EV_HANGUP, &p->id, flags, now);
}

/* Sessions being ended (hang_pending) no longer count: they are gone
 * before the entry point returns, and before any peer_up. */
static int slots_free(const vss_node *n) {
  const vss_view *v = n->view;
  int used = (int)(v->sessions - v->pending + v->dialing);
  return (int)n->cfg.max_active - used;
}

/* End p when the current entry point returns (reap in node.c): for
 * callers inside another module's work (a fetch asking for holders). */
static void hangup_later(vss_node *n, vss_peer *p) {
  if (p->hang_pending) return;
  p->hang_pending = 1;
  n->view->pending++;
  n->ndrops++;
}

/* Dial what the view wants and lacks; end transient sessions gone idle;
 * give up DIALs that got no answer. */
static void maintain(vss_node *n, vss_time now) {
  vss_view *v = n->view;
  vss_time next = VSS_TIME_UNSET;
  for (uint32_t k = 0; k < v->n; k++) {
    member *m = &v->m[k];
    if (m->dialing && now - m->dial_at >= n->cfg.dial_timeout) {
      m->dialing = 0;
      v->dialing--;
      backoff(m, now);
      wants_drop(v, k);
      v->dirty = 1;
    }
    if (m->dialing) next = vss__tmin(next, m->dial_at + n->cfg.dial_timeout);
    if (m->backoff_until != VSS_TIME_UNSET && m->backoff_until > now &&
        m->reachable)
      next = vss__tmin(next, m->backoff_until);
  }
  next = vss__tmin(next, send_wants(n, now));
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || !p->transient) continue;
    uint32_t k = find(v, &p->id);
    if (k != NO_MEMBER && v->m[k].want) { /* the view took it over */
      p->transient = 0;
      v->transient--;
      continue;
    }
    vss_time idle_at = p->last_active + n->cfg.transient_idle;
    if (idle_at <= now) { /* a take down leaves live[] as it is */
      hangup(n, p, now);
      continue;
    }
    next = vss__tmin(next, idle_at);
  }
  select_view(n, now);
  /* Fill the view up to its target; when it is full, only a better path
   * class (a same-site peer for an internet one) replaces a session:
   * sessions that work are kept, so views do not churn. */
  int held = (int)(v->sessions - v->transient + v->dialing);
  for (uint32_t i = 0; i < v->wanted; i++) {
    member *m = &v->m[v->order[i]];
    if (m->dialing || online(n, m)) continue;
    if (held >= (int)v->target || slots_free(n) <= 0) {
      vss_peer *p = victim(n, link_rank(&m->link), now);
      if (!p) continue;
      if (!p->transient) held--;
      hangup(n, p, now);
    }
    dial(n, m, 0, now);
    held++;
    next = vss__tmin(next, now + n->cfg.dial_timeout);
  }
  v->dirty = 0;
  v->next_at = next;
}

int vss_view_reachable(vss_node *n, const vss_uuid *peer,
                       const vss_link_info *link, int reachable, vss_time now) {
  (void)now;
  if (!peer || vss_uuid_cmp(peer, &n->meta.device) == 0) return VSS_ERR_INVALID;
  if (reachable && !link) return VSS_ERR_INVALID;
  vss_view *v = n->view;
  uint32_t k;
  int rc = member_get(n, peer, &k);
  if (rc) return rc;
  member *m = &v->m[k];
  if (!v->managed) { /* sessions taken before count from now on */
    v->managed = 1;
    for (uint16_t i = 0; i < n->npeers; i++)
      v->sessions += n->live[i]->online != 0;
  }
  if (link) m->link = *link;
  if (reachable && !m->reachable) m->fails = 0, m->backoff_until = 0;
  m->reachable = reachable != 0;
  v->dirty = 1;
  return 0;
}

int vss_view_admit(vss_node *n, const vss_uuid *peer, const vss_link_info *link,
                   vss_time now) {
  vss_view *v = n->view;
  if (!v->managed) return 0;
  uint32_t k;
  int rc = member_get(n, peer, &k);
  if (rc == VSS_ERR_LIMIT) {
    v->st.refused++;
    return rc;
  }
  if (rc) return rc;
  member *m = &v->m[k];
  if (!m->reachable && link) { /* it reached us: there is a route */
    m->link = *link;
    m->reachable = 1;
    v->dirty = 1;
  }
  if (m->dialing) return 0; /* its slot is held */
  if (slots_free(n) > 0) return 0;
  vss_peer *p = victim(n, link_rank(link ? link : &m->link), now);
  if (p) { /* a better path than one we have */
    hangup(n, p, now);
    return 0;
  }
  v->st.refused++;
  return VSS_ERR_LIMIT;
}

void vss_view_peer_up(vss_node *n, vss_peer *p, vss_time now) {
  vss_view *v = n->view;
  p->up_at = p->last_active = now;
  p->transient = 0;
  p->dialled = 0;
  p->hello_seen = 0;
  if (!v->managed) return;
  v->sessions++;
  uint32_t k = find(v, &p->id);
  if (k == NO_MEMBER) return;
  member *m = &v->m[k];
  if (m->dialing) {
    m->dialing = 0;
    v->dialing--;
    p->dialled = 1;
    p->transient = m->transient_dial && !m->want;
  }
  m->backoff_until = VSS_TIME_UNSET;
  if (p->transient) v->transient++;
  v->dirty = 1;
  wants_ask(n, p, k, now);
}

void vss_view_on_hello(vss_node *n, vss_peer *p, int transient) {
  vss_view *v = n->view;
  if (!v->managed || p->transient || p->hello_seen) return;
  p->hello_seen = 1;
  uint32_t k = find(v, &p->id);
  int wanted = k != NO_MEMBER && v->m[k].want;
  if (transient && !wanted) {
    p->transient = 1;
    v->transient++;
    return;
  }
  /* Inbound sessions may take half the slots kept for fetches: a
   * dialler that wants us is mostly let in, so views settle. */
  uint32_t cap = v->target + (n->cfg.max_active - v->target) / 2;
  if (!wanted && !p->dialled && v->sessions - v->transient > cap)
    hangup_later(n, p); /* we are inside its frame's handler */
}

void vss_view_hangup(vss_node *n, vss_peer *p, vss_time now) {
  hangup(n, p, now);
}

void vss_view_peer_down(vss_node *n, vss_peer *p, vss_time now) {
  vss_view *v = n->view;
  if (!v->managed) return;
  unpend(v, p);
  if (v->sessions) v->sessions--;
  if (p->transient && v->transient) v->transient--;
  uint32_t k = find(v, &p->id);
  if (k != NO_MEMBER) {
    member *m = &v->m[k];
    /* A session that lasted was not a refusal: its backoff starts over.
     * One ended at once (the other end was full) backs off longer each
     * time, so a member that keeps refusing is rarely asked. */
    if (now - p->up_at >= HANGUP_MIN_AGE) m->fails = 0;
    if (!p->hung_up) backoff(m, now);
  }
  v->dirty = 1;
}

int vss_view_dial_failed(vss_node *n, const vss_uuid *peer, vss_time now) {
  vss_view *v = n->view;
  uint32_t k = v->managed ? find(v, peer) : NO_MEMBER;
  if (k == NO_MEMBER) return VSS_ERR_UNKNOWN_PEER;
  member *m = &v->m[k];
  if (m->dialing) {
    m->dialing = 0;
    v->dialing--;
    backoff(m, now);
    wants_drop(v, k);
    v->dirty = 1;
  }
  return 0;
}

vss_time vss_view_expiry(const vss_node *n) {
  const vss_view *v = n->view;
  if (!v->managed) return VSS_TIME_UNSET;
  return v->dirty ? 0 : v->next_at;
}

void vss_view_handle_expiry(vss_node *n, vss_time now) {
  vss_view *v = n->view;
  if (!v->managed || (!v->dirty && v->next_at > now)) return;
  maintain(n, now);
}

void vss_view_stats_get(const vss_node *n, vss_view_stats *out) {
  const vss_view *v = n->view;
  *out = v->st;
  out->managed = v->managed;
  out->members = v->n;
  out->reachable = 0;
  for (uint32_t k = 0; k < v->n; k++)
    out->reachable += v->m[k].reachable;
  out->sessions = v->sessions;
  out->transient = v->transient;
  out->dialing = v->dialing;
  out->wanted = v->wanted;
  out->hint_keys = vss_hints_keys(v->hints);
  out->hint_holders = vss_hints_holders(v->hints);
}

/* ---- relayed availability -------------------------------------------- */

static void ring_put(vss_view *v, uint32_t origin, uint64_t epoch,
                     uint64_t to_seq, const uint8_t *frame, size_t len) {
  if (len > VSS_RELAY_RING_BYTES / 4) return; /* not worth a slot */
  while (v->ring_n && (v->ring_n == VSS_RELAY_RING_FRAMES ||
                       v->ring_bytes + len > VSS_RELAY_RING_BYTES)) {
    rframe *old = v->ring[v->ring_head];
    v->ring_bytes -= old->len;
    free(old);
    v->ring_head = (v->ring_head + 1) % VSS_RELAY_RING_FRAMES;
    v->ring_n--;
  }
  rframe *f = malloc(sizeof(*f) + len);
  if (!f) return; /* only the lazy half loses it */
  f->origin = origin;
  f->epoch = epoch;
  f->to_seq = to_seq;
  f->len = len;
  memcpy(f->data, frame, len);
  v->ring[(v->ring_head + v->ring_n) % VSS_RELAY_RING_FRAMES] = f;
  v->ring_n++;
  v->ring_bytes += len;
}

static int send_ihave(vss_node *n, vss_peer *q, vss_msg_type t,
                      const vss_uuid *origin, uint64_t epoch, uint64_t seq) {
  vss_buf b = {0};
  int rc = vss_wire_encode_ihave(&b, t, origin, epoch, seq);
  if (rc == 0) rc = vss__send(n, q, b.data, b.len);
  if (rc == 0) n->view->st.relay_bytes_sent += b.len;
  vss_buf_free(&b);
  return rc;
}

/* Sessions news may go to: not the one it came from, not its origin,
 * not transient ones (a fetch's). */
static int relay_target(const vss_peer *q, const vss_peer *src,
                        const vss_uuid *origin) {
  return q->online && !q->transient && !q->drop_rc && q != src &&
         vss_uuid_cmp(&q->id, origin) != 0;
}

/* Eagerly (the whole frame) to the VSS_RELAY_EAGER sessions of lowest
 * pair rank, the random part of the graph, so the eager copies spread
 * like an epidemic over links that differ from node to node; an IHAVE
 * to the others, which WANT it if no eager copy came (Plumtree). */
static void spread(vss_node *n, vss_peer *src, const vss_uuid *origin,
                   uint64_t epoch, uint64_t seq, const uint8_t *frame,
                   size_t len) {
  vss_view *v = n->view;
  vss_peer *eager[VSS_RELAY_EAGER];
  uint32_t erank[VSS_RELAY_EAGER];
  int ne = 0;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *q = n->live[i];
    if (!relay_target(q, src, origin)) continue;
    uint32_t k = find(v, &q->id);
    uint32_t r = k == NO_MEMBER ? UINT32_MAX : v->m[k].rank;
    int at = ne < VSS_RELAY_EAGER ? ne++ : VSS_RELAY_EAGER;
    while (at > 0 && erank[at - 1] > r) {
      if (at < VSS_RELAY_EAGER) {
        eager[at] = eager[at - 1];
        erank[at] = erank[at - 1];
      }
      at--;
    }
    if (at < VSS_RELAY_EAGER) {
      eager[at] = q;
      erank[at] = r;
    }
  }
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *q = n->live[i];
    if (!relay_target(q, src, origin)) continue;
    int is_eager = 0;
    for (int e = 0; e < ne; e++)
      is_eager |= eager[e] == q;
    if (is_eager) {
      if (vss__send(n, q, frame, len) == 0) {
        v->st.relays_sent++;
        v->st.relay_bytes_sent += len;
      }
    } else {
      (void)send_ihave(n, q, VSS_MSG_IHAVE, origin, epoch, seq);
    }
  }
}

/* Entries of origin k into the hints. from: the relaying peer (charged
 * for the keys it adds), NULL for the origin's own digest. */
static int apply_entries(vss_node *n, vss_peer *from, uint32_t k, vss_rd rd,
                         uint32_t count, vss_time now) {
  vss_view *v = n->view;
  for (uint32_t i = 0; i < count; i++) {
    vss_wire_entry e;
    int rc = vss_wire_next_entry(&rd, &e);
    if (rc) return rc;
    vss_hint cur;
    if (from && e.has &&
        from->relayed >= vss__limit(n, VSS_LIMIT_PEER_RELAYED) &&
        vss_hints_get(v->hints, &e.key, &cur) == 0) /* a key past its bound */
      return vss__peer_drop(n, from, VSS_LIMIT_PEER_RELAYED, VSS_ERR_LIMIT,
                            now);
    rc = vss_hints_set(v->hints, &e.key, e.format, e.has, e.size, &e.checksum,
                       k);
    if (rc == VSS_ERR_LIMIT || rc == VSS_ERR_NOMEM) {
      v->st.hints_dropped++;
      continue;
    }
    if (rc == 1 && from) from->relayed++;
  }
  return 0;
}

/* 1 when (epoch, to_seq) is news of origin k (and records it), 0 when
 * it is known or stale. Positions only move forward: a gap (news we
 * never saw) is left to WANTs and, past the ring, to on-demand QUERY. */
static int is_news(member *o, uint64_t epoch, uint64_t to_seq) {
  if (epoch < o->epoch) return 0;
  if (epoch > o->epoch) {
    o->epoch = epoch;
    o->seq = 0;
  }
  if (to_seq <= o->seq) return 0;
  o->seq = to_seq;
  if (o->want_at != VSS_TIME_UNSET && o->want_seq <= to_seq)
    o->want_at = VSS_TIME_UNSET;
  return 1;
}

static int relay_on(vss_node *n, vss_peer *src, uint32_t k,
                    const vss_msg_relay *hdr, vss_rd entries) {
  vss_buf b = {0};
  const uint8_t *raw = entries.p + entries.off;
  int rc = vss_wire_encode_relay(&b, hdr, raw, entries.len - entries.off);
  if (rc == 0) {
    ring_put(n->view, k, hdr->epoch, hdr->to_seq, b.data, b.len);
    spread(n, src, &hdr->origin, hdr->epoch, hdr->to_seq, b.data, b.len);
  }
  vss_buf_free(&b);
  return rc == VSS_ERR_NOMEM ? 0 : rc; /* the news is applied anyway */
}

int vss_view_direct(vss_node *n, vss_peer *p, const vss_msg_digest *m,
                    vss_time now) {
  vss_view *v = n->view;
  if (!v->managed) return 0;
  uint32_t k = find(v, &p->id);
  if (k == NO_MEMBER || !is_news(&v->m[k], m->epoch, m->to_seq)) return 0;
  int rc = apply_entries(n, NULL, k, m->entries, m->count, now);
  /* A full digest is old holdings (a first contact), not news. */
  if (rc || (m->flags & VSS_DIGEST_FULL) || m->count == 0) return rc;
  vss_msg_relay hdr = {.origin = p->id,
                       .epoch = m->epoch,
                       .from_seq = m->from_seq,
                       .to_seq = m->to_seq,
                       .hops = VSS_RELAY_HOPS,
                       .count = m->count};
  return relay_on(n, p, k, &hdr, m->entries);
}

/* The member for a relay's or IHAVE's origin. A device we were not told
 * of (a driver may report only part of a large library) is learned, with
 * no route, up to half the member table, and one peer may introduce at
 * most a quarter of it per session; past either, the relay is ignored,
 * and a peer whose relays keep being ignored (inventing origins) is
 * dropped past VSS_RELAY_FOREIGN_MAX. Returns 0 with *k, 1 to ignore,
 * or the drop's rc. */
static int origin_of(vss_node *n, vss_peer *p, const vss_uuid *origin,
                     uint32_t *k, vss_time now) {
  vss_view *v = n->view;
  if ((*k = find(v, origin)) != NO_MEMBER) return 0;
  if (vss_uuid_cmp(origin, &n->meta.device) == 0) return 1; /* our own */
  uint64_t cap = vss__limit(n, VSS_LIMIT_MEMBERS) / 2;
  if (v->learned < cap && p->introduced < cap / 2 &&
      member_get(n, origin, k) == 0) {
    v->m[*k].link.cls = VSS_LINK_COUNT; /* no route known: last */
    v->learned++;
    p->introduced++;
    return 0;
  }
  v->st.relays_foreign++;
  if (v->learned < cap && ++p->foreign > VSS_RELAY_FOREIGN_MAX)
    return vss__peer_drop(n, p, VSS_LIMIT_PEER_RELAYED, VSS_ERR_LIMIT, now);
  return 1;
}

int vss_view_on_relay_msg(vss_node *n, vss_peer *p, const vss_msg_relay *m,
                          size_t len, vss_time now) {
  (void)len;
  vss_view *v = n->view;
  if (!v->managed) return 0; /* nothing asked for it: ignore */
  v->st.relays_received++;
  uint32_t k;
  int rc = origin_of(n, p, &m->origin, &k, now);
  if (rc) return rc < 0 ? rc : 0;
  if (!is_news(&v->m[k], m->epoch, m->to_seq)) return 0;
  v->st.relays_new++;
  rc = apply_entries(n, p, k, m->entries, m->count, now);
  if (rc || m->hops == 0) return rc;
  vss_msg_relay hdr = *m;
  hdr.hops = m->hops - 1;
  return relay_on(n, p, k, &hdr, m->entries);
}

int vss_view_on_ihave(vss_node *n, vss_peer *p, const vss_msg_ihave *m,
                      vss_time now) {
  vss_view *v = n->view;
  if (!v->managed) return 0;
  uint32_t k;
  int rc = origin_of(n, p, &m->origin, &k, now);
  if (rc) return rc < 0 ? rc : 0;
  member *o = &v->m[k];
  if (m->epoch < o->epoch || (m->epoch == o->epoch && m->seq <= o->seq))
    return 0;
  if (o->want_at == VSS_TIME_UNSET) {
    o->want_seq = m->seq;
    o->want_from = p->id;
    o->want_tries = 0;
    o->want_at = now + VSS_RELAY_GRAFT;
    v->next_at = vss__tmin(v->next_at, o->want_at);
  }
  return 0;
}

int vss_view_on_want(vss_node *n, vss_peer *p, const vss_msg_ihave *m,
                     vss_time now) {
  (void)now;
  vss_view *v = n->view;
  if (!v->managed) return 0;
  uint32_t k = find(v, &m->origin);
  if (k == NO_MEMBER) return 0; /* nothing of it kept */
  size_t sent = 0;
  for (uint32_t i = 0; i < v->ring_n && sent < VSS_RELAY_WANT_REPLY; i++) {
    const rframe *f = v->ring[(v->ring_head + i) % VSS_RELAY_RING_FRAMES];
    if (f->origin != k || f->epoch < m->epoch ||
        (f->epoch == m->epoch && f->to_seq <= m->seq))
      continue;
    int rc = vss__send(n, p, f->data, f->len);
    if (rc) return rc == VSS_ERR_NOMEM ? 0 : rc;
    sent += f->len;
    v->st.relay_bytes_sent += f->len;
  }
  return 0;
}

/* IHAVEs whose eager copy never came: WANT from the announcer. */
static vss_time send_wants(vss_node *n, vss_time now) {
  vss_view *v = n->view;
  vss_time next = VSS_TIME_UNSET;
  for (uint32_t k = 0; k < v->n; k++) {
    member *o = &v->m[k];
    if (o->want_at == VSS_TIME_UNSET) continue;
    if (o->want_at > now) {
      next = vss__tmin(next, o->want_at);
      continue;
    }
    o->want_at = VSS_TIME_UNSET;
    if (o->want_seq <= o->seq) continue;
    /* The announcer, else (it went away) any session: it may have it. */
    vss_peer *q = vss__peer_find(n, &o->want_from);
    for (uint16_t j = 0; (!q || !q->online || q->drop_rc) && j < n->npeers;
         j++) {
      vss_peer *c = n->live[(j + o->want_tries + k) % n->npeers];
      if (relay_target(c, NULL, &o->id)) q = c;
    }
    if (!q || !q->online || q->drop_rc) continue;
    (void)send_ihave(n, q, VSS_MSG_WANT, &o->id, o->epoch, o->seq);
    if (++o->want_tries < VSS_RELAY_WANT_TRIES) { /* again if still behind */
      o->want_from = n->live[(o->want_tries + k) % n->npeers]->id;
      o->want_at = now + VSS_RELAY_WANT_RETRY;
      next = vss__tmin(next, o->want_at);
    }
  }
  return next;
}

/* ---- fetches from holders outside the view --------------------------- */

static const member *wanted_member(const vss_view *v, uint32_t k) {
  return k < v->n ? &v->m[k] : NULL;
}

size_t vss_view_hints(vss_node *n, const vss_key *key, vss_format *fmt,
                      uint64_t *size, vss_hash *checksum, vss_hint_holder *out,
                      size_t cap) {
  vss_view *v = n->view;
  vss_hint e;
  if (!v->managed || vss_hints_get(v->hints, key, &e) <= 0) return 0;
  if (fmt) *fmt = e.format;
  if (size) *size = e.size;
  if (checksum) *checksum = e.checksum;
  size_t c = 0;
  for (uint32_t i = 0; i < e.n && c < cap; i++) {
    const member *m = wanted_member(v, e.holder[i]);
    if (!m) continue;
    out[c].device = m->id;
    out[c].cls = m->link.cls;
    out[c].reachable = m->reachable;
    out[c].online = online(n, m);
    c++;
  }
  return c;
}

static int want_key(vss_view *v, uint32_t k, const vss_key *key) {
  for (uint32_t i = 0; i < v->nwants; i++)
    if (v->wants[i].member == k && vss_key_cmp(&v->wants[i].key, key) == 0)
      return 1;
  if (v->nwants == VSS_VIEW_WANT_KEYS) return 0; /* the QUERY path remains */
  v->wants[v->nwants].member = k;
  v->wants[v->nwants].key = *key;
  v->nwants++;
  return 1;
}

/* The member a fetch dialled is up: ask it the keys. */
static void wants_ask(vss_node *n, vss_peer *p, uint32_t k, vss_time now) {
  vss_view *v = n->view;
  uint32_t w = 0;
  for (uint32_t i = 0; i < v->nwants; i++) {
    if (v->wants[i].member != k) {
      v->wants[w++] = v->wants[i];
      continue;
    }
    (void)vss_query_ask_peer(n, p, &v->wants[i].key, now);
  }
  v->nwants = w;
}

static void wants_drop(vss_view *v, uint32_t k) {
  uint32_t w = 0;
  for (uint32_t i = 0; i < v->nwants; i++)
    if (v->wants[i].member != k) v->wants[w++] = v->wants[i];
  v->nwants = w;
}

int vss_view_want(vss_node *n, const vss_key *key, vss_time now) {
  vss_view *v = n->view;
  vss_hint e;
  if (!v->managed || vss_hints_get(v->hints, key, &e) <= 0) return 0;
  for (uint32_t i = 0; i < e.n; i++) {
    member *m = &v->m[e.holder[i]];
    if (!m->reachable) continue;
    if (online(n, m)) return 0; /* asked with the sessions */
    if (m->dialing) return want_key(v, e.holder[i], key);
    if (m->backoff_until != VSS_TIME_UNSET && m->backoff_until > now) continue;
    if (slots_free(n) <= 0) {
      vss_peer *p = victim(n, INT32_MIN, now);
      if (!p) return 0;
      hangup_later(n, p); /* inside a fetch: not now */
    }
    if (!want_key(v, e.holder[i], key)) return 0;
    dial(n, m, 1, now);
    v->next_at = vss__tmin(v->next_at, now + n->cfg.dial_timeout);
    return 1;
  }
  return 0;
}

/* A same-site holder known only by relay, while no same-site session
 * holds key: dial it too (transient), so that a job that started from a
 * holder over the internet gets it as a source once it answers. */
int vss_view_prefer_local(vss_node *n, const vss_key *key, vss_time now) {
  vss_view *v = n->view;
  vss_hint e;
  if (!v->managed || vss_hints_get(v->hints, key, &e) <= 0) return 0;
  const member *m = &v->m[e.holder[0]];
  if (m->link.cls > VSS_LINK_WIFI || !m->reachable) return 0;
  for (uint16_t i = 0; i < n->npeers; i++) {
    const vss_peer *p = n->live[i];
    if (p->online && p->link.cls <= VSS_LINK_WIFI &&
        vss_pcache_has(n->pcache, key, p->idx))
      return 0; /* a same-site session has it */
  }
  return vss_view_want(n, key, now);
}

/* Relayed holders of key not already reported from the presence cache
 * (a session's digest), for get_presence. */
int vss_view_each_hint(vss_node *n, const vss_key *key, vss_view_hint_cb cb,
                       void *user) {
  vss_view *v = n->view;
  vss_hint e;
  if (!v->managed || vss_hints_get(v->hints, key, &e) <= 0) return 0;
  for (uint32_t i = 0; i < e.n; i++) {
    const member *m = &v->m[e.holder[i]];
    vss_peer *p = vss__peer_find(n, &m->id);
    if (p && vss_pcache_has(n->pcache, key, p->idx)) continue;
    int rc = cb(user, key, &m->id, p && p->online, e.size, &e.checksum);
    if (rc) return rc;
  }
  return 0;
}
