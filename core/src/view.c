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

#include <stdlib.h>
#include <string.h>

#define NO_MEMBER UINT32_MAX
#define BACKOFF_MIN (5 * VSS_NS_PER_S)
#define BACKOFF_MAX (600 * VSS_NS_PER_S)
/* A session of the view that the node may end to make room for a better
 * one must have lived this long: a view does not flap. */
#define HANGUP_MIN_AGE (10 * VSS_NS_PER_S)

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
} member;

struct vss_view {
  int managed;
  member *m;
  uint32_t n, cap;
  uint32_t *idx; /* open addressing: member index + 1, 0 = empty */
  uint32_t icap; /* power of two, >= 2 * cap */
  uint32_t sessions, dialing, transient, wanted;
  int dirty;
  vss_time next_at;
  uint32_t *order; /* scratch for the selection */
  vss_view_stats st;
  vss_hints *hints;
};

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
    m->dial_at = m->backoff_until = VSS_TIME_UNSET;
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
    for (uint32_t i = 0; i < nc; i++)
      v->m[v->order[i]].want = 1;
    v->wanted = nc;
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
  v->wanted = target;
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

/* The session the node gives up first for a better one: a transient one
 * gone idle, else one outside the view (worst path first) that has
 * lived HANGUP_MIN_AGE. NULL when there is none. */
static vss_peer *victim(vss_node *n, vss_time now) {
  vss_view *v = n->view;
  vss_peer *best = NULL;
  uint64_t worst = 0;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || p->drop_rc) continue;
    uint32_t k = find(v, &p->id);
    member *m = k == NO_MEMBER ? NULL : &v->m[k];
    if (m && m->want && !p->transient) continue;
    if (now - p->up_at < HANGUP_MIN_AGE && !p->transient) continue;
    if (p->transient && now - p->last_active < n->cfg.transient_idle / 4)
      continue; /* a fetch is using it */
    uint64_t key = m ? pref_key(m) : UINT64_MAX;
    if (!best || key > worst) {
      best = p;
      worst = key;
    }
  }
  return best;
}

static void hangup(vss_node *n, vss_peer *p, vss_time now) {
  uint32_t flags = p->transient ? VSS_EVF_TRANSIENT : 0;
  n->view->st.hangups++;
  vss__peer_hangup(n, p, now);
  emit(n, VSS_EV_HANGUP, &p->id, flags, now);
}

static int slots_free(const vss_node *n) {
  const vss_view *v = n->view;
  int used = (int)(v->sessions + v->dialing);
  return (int)n->cfg.max_active - used;
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
      v->dirty = 1;
    }
    if (m->dialing) next = vss__tmin(next, m->dial_at + n->cfg.dial_timeout);
    if (m->backoff_until != VSS_TIME_UNSET && m->backoff_until > now &&
        m->reachable)
      next = vss__tmin(next, m->backoff_until);
  }
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || !p->transient) continue;
    vss_time idle_at = p->last_active + n->cfg.transient_idle;
    if (idle_at <= now) { /* a take down leaves live[] as it is */
      hangup(n, p, now);
      continue;
    }
    next = vss__tmin(next, idle_at);
  }
  select_view(n, now);
  for (uint32_t k = 0; k < v->n; k++) {
    member *m = &v->m[k];
    if (!m->want || m->dialing || online(n, m)) continue;
    if (slots_free(n) <= 0) {
      vss_peer *p = victim(n, now);
      if (!p) break;
      hangup(n, p, now);
    }
    dial(n, m, 0, now);
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
  if (m->want) {
    vss_peer *p = victim(n, now);
    if (p) {
      hangup(n, p, now);
      return 0;
    }
  }
  v->st.refused++;
  return VSS_ERR_LIMIT;
}

void vss_view_peer_up(vss_node *n, vss_peer *p, vss_time now) {
  vss_view *v = n->view;
  p->up_at = p->last_active = now;
  p->transient = 0;
  if (!v->managed) return;
  v->sessions++;
  uint32_t k = find(v, &p->id);
  if (k == NO_MEMBER) return;
  member *m = &v->m[k];
  if (m->dialing) {
    m->dialing = 0;
    v->dialing--;
    p->transient = m->transient_dial && !m->want;
  }
  m->fails = 0;
  m->backoff_until = VSS_TIME_UNSET;
  if (p->transient) v->transient++;
  v->dirty = 1;
}

void vss_view_peer_down(vss_node *n, vss_peer *p, vss_time now) {
  vss_view *v = n->view;
  if (!v->managed) return;
  if (v->sessions) v->sessions--;
  if (p->transient && v->transient) v->transient--;
  uint32_t k = find(v, &p->id);
  if (k != NO_MEMBER && !p->hung_up) backoff(&v->m[k], now);
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
