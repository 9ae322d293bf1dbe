/*
 * query.c - "do you have X?". See query.h.
 *
 * Keys are asked in batches: the keys asked of one peer at the same
 * `now` share one QUERY frame (up to VSS_WIRE_MAX_KEYS), sent when the
 * driver next pulls a frame for that peer (vss_query_flush), so 10,000
 * fetches of keys gossip has not announced yet cost three frames, not
 * 10,000. A batch that went out waits for its reply, found by request id,
 * until query_timeout; batches leave in send order, so the earliest
 * deadline is the oldest one. There is no cap on what may wait: a fetch
 * never fails because many others are asking too.
 *
 * "No" answers (and silence) are cached per (peer, key) for negative_ttl
 * in a hash map, with the entries in a FIFO of their expiry so pruning
 * looks only at what expired; the oldest goes first when the cache is
 * full.
 */
#include "query.h"

#include "pcache.h"
#include "view.h"
#include "xfer.h"

#include <stdlib.h>
#include <string.h>

#define MAX_NEGATIVE 16384
#define NEG_BUCKETS 16384  /* power of two */
#define BATCH_BUCKETS 1024 /* power of two */

typedef struct qbatch {
  struct qbatch *prev, *next; /* sent batches, oldest first */
  struct qbatch *hnext;       /* id map (sent batches) */
  uint32_t req_id;
  uint16_t peer;
  vss_time opened;   /* the `now` of the asks it collects */
  vss_time deadline; /* once sent */
  uint32_t n, cap;
  vss_key *keys;
} qbatch;

typedef struct negative {
  struct negative *hnext;       /* map by (peer, key) */
  struct negative *prev, *next; /* FIFO by until */
  uint16_t peer;
  vss_key key;
  vss_time until;
} negative;

struct vss_query {
  uint32_t next_id;
  qbatch *open[VSS_MAX_PEERS]; /* collecting keys, not sent yet */
  qbatch *sent_head, *sent_tail;
  qbatch *bmap[BATCH_BUCKETS];
  negative *nmap[NEG_BUCKETS];
  negative *nhead, *ntail;
  size_t nneg;
};

int vss_query_new(vss_query **out) {
  vss_query *q = calloc(1, sizeof(*q));
  if (!q) return VSS_ERR_NOMEM;
  q->next_id = 1;
  *out = q;
  return 0;
}

static void batch_free(qbatch *b) {
  if (!b) return;
  free(b->keys);
  free(b);
}

void vss_query_del(vss_query *q) {
  if (!q) return;
  for (size_t i = 0; i < VSS_MAX_PEERS; i++)
    batch_free(q->open[i]);
  for (qbatch *b = q->sent_head, *next; b; b = next) {
    next = b->next;
    batch_free(b);
  }
  for (negative *g = q->nhead, *next; g; g = next) {
    next = g->next;
    free(g);
  }
  free(q);
}

static void emit_result(vss_node *n, vss_peer *p, const vss_key *key, int rc,
                        uint64_t size, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_QUERY_RESULT;
  ev.peer = p->id;
  ev.key = *key;
  ev.bytes = size;
  ev.count = 1;
  ev.rc = rc;
  vss__emit(n, &ev, now);
}

/* ---- negative answers ------------------------------------------------ */

static size_t neg_bucket(uint16_t peer, const vss_key *k) {
  uint32_t h = 2166136261u; /* FNV-1a over peer, uuid, kind, variant */
  h = (h ^ (peer & 0xffu)) * 16777619u;
  h = (h ^ (peer >> 8)) * 16777619u;
  for (int i = 0; i < 16; i++)
    h = (h ^ k->content.b[i]) * 16777619u;
  h = (h ^ (uint32_t)k->kind) * 16777619u;
  for (const char *v = k->variant; *v; v++)
    h = (h ^ (uint8_t)*v) * 16777619u;
  return h & (NEG_BUCKETS - 1);
}

static negative *neg_find(const vss_query *q, uint16_t peer,
                          const vss_key *key) {
  for (negative *g = q->nmap[neg_bucket(peer, key)]; g; g = g->hnext)
    if (g->peer == peer && vss_key_cmp(&g->key, key) == 0) return g;
  return NULL;
}

static void fifo_unlink(vss_query *q, negative *g) {
  if (g->prev)
    g->prev->next = g->next;
  else
    q->nhead = g->next;
  if (g->next)
    g->next->prev = g->prev;
  else
    q->ntail = g->prev;
  g->prev = g->next = NULL;
}

static void fifo_append(vss_query *q, negative *g) {
  g->prev = q->ntail;
  if (g->prev)
    g->prev->next = g;
  else
    q->nhead = g;
  q->ntail = g;
}

static void neg_drop(vss_query *q, negative *g) {
  negative **pp = &q->nmap[neg_bucket(g->peer, &g->key)];
  while (*pp && *pp != g)
    pp = &(*pp)->hnext;
  if (*pp) *pp = g->hnext;
  fifo_unlink(q, g);
  q->nneg--;
  free(g);
}

static void add_negative(vss_query *q, uint16_t peer, const vss_key *key,
                         vss_time until) {
  negative *g = neg_find(q, peer, key);
  if (g) {
    fifo_unlink(q, g);
  } else {
    /* Full: the oldest answer is the least useful one to keep. */
    if (q->nneg == MAX_NEGATIVE) neg_drop(q, q->nhead);
    if (!(g = calloc(1, sizeof(*g)))) return; /* it is only a cache */
    g->peer = peer;
    g->key = *key;
    size_t b = neg_bucket(peer, key);
    g->hnext = q->nmap[b];
    q->nmap[b] = g;
    q->nneg++;
  }
  g->until = until;
  fifo_append(q, g);
}

int vss_query_negative(const vss_node *n, const vss_peer *p, const vss_key *key,
                       vss_time now) {
  const negative *g = neg_find(n->query, p->idx, key);
  return g && g->until > now;
}

/* ---- asking ---------------------------------------------------------- */

/* Any version, however many holders the key has (no truncated copy). */
static int knows_holder(vss_node *n, const vss_peer *p, const vss_key *key) {
  return vss_pcache_has(n->pcache, key, p->idx);
}

static void batch_map_del(vss_query *q, qbatch *b) {
  qbatch **pp = &q->bmap[b->req_id & (BATCH_BUCKETS - 1)];
  while (*pp && *pp != b)
    pp = &(*pp)->hnext;
  if (*pp) *pp = b->hnext;
}

/* Out of the sent list and the id map (the caller frees it). */
static void batch_take(vss_query *q, qbatch *b) {
  batch_map_del(q, b);
  if (b->prev)
    b->prev->next = b->next;
  else
    q->sent_head = b->next;
  if (b->next)
    b->next->prev = b->prev;
  else
    q->sent_tail = b->prev;
}

/* Into the sent list in deadline order: at the tail, unless a driver's
 * clock stepped back. */
static void batch_sent(vss_query *q, qbatch *b) {
  qbatch *after = q->sent_tail;
  while (after && after->deadline > b->deadline)
    after = after->prev;
  b->prev = after;
  b->next = after ? after->next : q->sent_head;
  if (b->next)
    b->next->prev = b;
  else
    q->sent_tail = b;
  if (after)
    after->next = b;
  else
    q->sent_head = b;
  size_t k = b->req_id & (BATCH_BUCKETS - 1);
  b->hnext = q->bmap[k];
  q->bmap[k] = b;
}

/* Every key of a batch that will get no answer from p. */
static void batch_fail(vss_node *n, vss_peer *p, qbatch *b, int rc,
                       vss_time now) {
  for (uint32_t i = 0; i < b->n; i++)
    emit_result(n, p, &b->keys[i], rc, 0, now);
}

/* Send p's open batch, if any. */
static int flush_peer(vss_node *n, vss_peer *p, vss_time now) {
  vss_query *q = n->query;
  qbatch *b = q->open[p->idx];
  if (!b) return 0;
  q->open[p->idx] = NULL;
  vss_buf buf = {0};
  int rc = vss_wire_encode_query(&buf, b->req_id, b->keys, b->n);
  if (rc == 0) rc = vss__send(n, p, buf.data, buf.len);
  vss_buf_free(&buf);
  if (rc) {
    batch_fail(n, p, b, rc, now);
    batch_free(b);
    return rc;
  }
  b->deadline = now + n->cfg.query_timeout;
  batch_sent(q, b);
  return 0;
}

int vss_query_flush(vss_node *n, vss_peer *p, vss_time now) {
  return flush_peer(n, p, now);
}

/* Queue key for p: into the batch it is collecting at this `now`, else a
 * new one (an older or full batch goes out first). */
static int ask_peer(vss_node *n, vss_peer *p, const vss_key *key,
                    vss_time now) {
  vss_query *q = n->query;
  qbatch *b = q->open[p->idx];
  if (b && (b->opened != now || b->n == VSS_WIRE_MAX_KEYS)) {
    (void)flush_peer(n, p, now); /* its keys were told if it failed */
    b = NULL;
  }
  if (!b) {
    if (!(b = calloc(1, sizeof(*b)))) return VSS_ERR_NOMEM;
    b->req_id = q->next_id++;
    if (q->next_id == 0) q->next_id = 1;
    b->peer = p->idx;
    b->opened = now;
    q->open[p->idx] = b;
  }
  if (b->n == b->cap) {
    uint32_t cap = b->cap ? b->cap * 2 : 8;
    if (cap > VSS_WIRE_MAX_KEYS) cap = VSS_WIRE_MAX_KEYS;
    vss_key *k = realloc(b->keys, cap * sizeof(*k));
    if (!k) return VSS_ERR_NOMEM;
    b->keys = k;
    b->cap = cap;
  }
  b->keys[b->n++] = *key;
  return 0;
}

static void emit_sent(vss_node *n, const vss_key *key, int asked,
                      vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_QUERY_SENT;
  ev.key = *key;
  ev.count = (uint64_t)asked;
  vss__emit(n, &ev, now);
}

int vss_query_ask_peer(vss_node *n, vss_peer *p, const vss_key *key,
                       vss_time now) {
  if (!p->online || vss_query_negative(n, p, key, now)) return 0;
  int rc = ask_peer(n, p, key, now);
  if (rc == 0) emit_sent(n, key, 1, now);
  return rc;
}

/* With a managed membership, a key whose relayed holders are not in
 * session dials the best of them (view.c): when that one is on the same
 * site, the sessions over the internet are not asked, so the answer
 * that starts the fetch comes from the same site. */
int vss_query_ask(vss_node *n, const vss_key *key, vss_time now) {
  int asked = 0, local_only = 0;
  if (vss_view_managed(n)) {
    vss_hint_holder best;
    if (vss_view_want(n, key, now) > 0 &&
        vss_view_hints(n, key, NULL, NULL, NULL, &best, 1) == 1 &&
        best.cls <= VSS_LINK_WIFI)
      local_only = 1;
    asked += local_only;
  }
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || knows_holder(n, p, key) ||
        vss_query_negative(n, p, key, now) ||
        (local_only && p->link.cls > VSS_LINK_WIFI))
      continue;
    int rc = ask_peer(n, p, key, now);
    if (rc) return rc;
    asked++;
  }
  if (asked) emit_sent(n, key, asked, now);
  return asked;
}

/* ---- answering ------------------------------------------------------- */

/* Answer from the store: only READY sidecars count as "have". A store
 * failure is not a "no" (the asker would cache it as a negative for
 * negative_ttl and skip us): it says "cannot tell now". */
static void answer_one(vss_node *n, const vss_key *key, vss_wire_entry *e) {
  vss_sidecar_row row;
  memset(e, 0, sizeof(*e));
  e->key = *key;
  int rc = vss_store_get_sidecar(n->store, key, &row);
  if (rc == 0 && row.status == VSS_STATUS_READY) {
    e->has = 1;
    e->format = row.format;
    e->size = row.size;
    e->checksum = row.checksum;
  } else if (rc && rc != VSS_ERR_NOT_FOUND) {
    e->has = VSS_WIRE_HAS_UNKNOWN;
  }
}

int vss_query_on_query(vss_node *n, vss_peer *p, const vss_msg_query *m,
                       vss_time now) {
  vss_wire_entry *res = calloc(m->count ? m->count : 1, sizeof(*res));
  if (!res) return VSS_ERR_NOMEM;
  vss_rd rd = m->keys;
  int rc = 0;
  for (uint32_t i = 0; rc == 0 && i < m->count; i++) {
    vss_key key;
    rc = vss_rd_key(&rd, &key);
    if (rc == 0) answer_one(n, &key, &res[i]);
  }
  vss_buf b = {0};
  if (rc == 0) rc = vss_wire_encode_query_reply(&b, m->req_id, res, m->count);
  if (rc == 0) rc = vss__send(n, p, b.data, b.len);
  vss_buf_free(&b);
  free(res);
  if (rc == 0) {
    vss_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = VSS_EV_QUERY_ANSWERED;
    ev.peer = p->id;
    ev.count = m->count;
    vss__emit(n, &ev, now);
  }
  return rc;
}

/* ---- replies --------------------------------------------------------- */

static qbatch *sent_batch(const vss_query *q, uint32_t id, uint16_t peer) {
  for (qbatch *b = q->bmap[id & (BATCH_BUCKETS - 1)]; b; b = b->hnext)
    if (b->req_id == id && b->peer == peer) return b;
  return NULL;
}

static int apply_result(vss_node *n, vss_peer *p, const vss_wire_entry *e,
                        vss_time now) {
  if (e->has == VSS_WIRE_HAS_UNKNOWN) {
    /* The peer could not look (its store failed): no negative, ask
     * again whenever someone wants the key. */
    emit_result(n, p, &e->key, VSS_ERR_PEER, 0, now);
    return 0;
  }
  if (!e->has) {
    add_negative(n->query, p->idx, &e->key, now + n->cfg.negative_ttl);
    /* Negative evidence: a holder its digest once named is stale. */
    int rc = vss_pcache_set(n->pcache, p->idx, &e->key, e->format, 0, 0, NULL);
    if (rc < 0) return rc;
    emit_result(n, p, &e->key, VSS_ERR_NOT_FOUND, 0, now);
    return 0;
  }
  int rc = vss_pcache_set(n->pcache, p->idx, &e->key, e->format, 1, e->size,
                          &e->checksum);
  if (rc == VSS_ERR_TOO_BIG) return VSS_ERR_PROTO;
  if (rc == VSS_ERR_LIMIT) /* over its cache budget (pcache.h) */
    return vss__peer_drop(n, p, VSS_LIMIT_PEER_CACHE_ENTRIES, rc, now);
  if (rc < 0) return rc;
  if (rc > 0) vss_xfer_offer(n->xfer, p, &e->key, e->format, e->size, now);
  emit_result(n, p, &e->key, 0, e->size, now);
  return rc;
}

/* A reply answers the batch's keys, in order, all of them: anything else
 * is a broken or lying peer, and nothing of it is believed. */
static int reply_matches(const qbatch *b, const vss_msg_query_reply *m) {
  if (m->count != b->n) return 0;
  vss_rd rd = m->results;
  for (uint32_t i = 0; i < m->count; i++) {
    vss_wire_entry e;
    if (vss_wire_next_reply_entry(&rd, &e) || vss_key_cmp(&e.key, &b->keys[i]))
      return 0;
  }
  return 1;
}

int vss_query_on_reply(vss_node *n, vss_peer *p, const vss_msg_query_reply *m,
                       vss_time now) {
  /* An answer we did not ask for (or that timed out) is still true, but
   * an unsolicited flood is not: only accept known request ids. */
  vss_query *q = n->query;
  qbatch *b = sent_batch(q, m->req_id, p->idx);
  if (!b) return 0;
  if (!reply_matches(b, m)) return VSS_ERR_PROTO;
  batch_take(q, b);
  batch_free(b);
  vss_rd rd = m->results;
  int changed = 0;
  for (uint32_t i = 0; i < m->count; i++) {
    vss_wire_entry e;
    int rc = vss_wire_next_reply_entry(&rd, &e);
    if (rc == 0) rc = apply_result(n, p, &e, now);
    if (rc < 0) return rc;
    changed |= rc;
  }
  if (changed) vss_xfer_presence_changed(n->xfer, p, now);
  return 0;
}

/* ---- timers and peers ------------------------------------------------ */

vss_time vss_query_expiry(const vss_node *n) {
  const vss_query *q = n->query;
  return q->sent_head ? q->sent_head->deadline : VSS_TIME_UNSET;
}

int vss_query_handle_expiry(vss_node *n, vss_time now) {
  vss_query *q = n->query;
  while (q->sent_head && q->sent_head->deadline <= now) {
    qbatch *b = q->sent_head;
    batch_take(q, b);
    /* Silence counts as "no" for a while: do not ask again at once. */
    vss_peer *p = vss__peer_at(n, b->peer);
    for (uint32_t i = 0; i < b->n; i++)
      add_negative(q, b->peer, &b->keys[i], now + n->cfg.negative_ttl);
    batch_fail(n, p, b, VSS_ERR_TIMEOUT, now);
    batch_free(b);
  }
  while (q->nhead && q->nhead->until <= now)
    neg_drop(q, q->nhead);
  return 0;
}

void vss_query_peer_freed(vss_node *n, uint16_t idx) {
  vss_query *q = n->query;
  for (negative *g = q->nhead, *next; g; g = next) {
    next = g->next;
    if (g->peer == idx) neg_drop(q, g);
  }
}

void vss_query_peer_down(vss_node *n, vss_peer *p, vss_time now) {
  vss_query *q = n->query;
  qbatch *b = q->open[p->idx];
  q->open[p->idx] = NULL;
  if (b) {
    batch_fail(n, p, b, VSS_ERR_UNKNOWN_PEER, now);
    batch_free(b);
  }
  for (qbatch *s = q->sent_head, *next; s; s = next) {
    next = s->next;
    if (s->peer != p->idx) continue;
    batch_take(q, s);
    batch_fail(n, p, s, VSS_ERR_UNKNOWN_PEER, now);
    batch_free(s);
  }
}
