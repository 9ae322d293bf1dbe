/*
 * query.c - "do you have X?". See query.h.
 *
 * Queries are rare next to gossip (only for keys the cache cannot
 * answer), so pending queries and negative answers live in small arrays
 * scanned linearly; both are bounded and pruned on expiry.
 */
#include "query.h"

#include "pcache.h"
#include "xfer.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PENDING 4096
#define MAX_NEGATIVE 8192

typedef struct pending {
  uint32_t req_id;
  uint16_t peer;
  vss_key key;
  vss_time deadline;
} pending;

typedef struct negative {
  uint16_t peer;
  vss_key key;
  vss_time until;
} negative;

struct vss_query {
  uint32_t next_id;
  pending *pend;
  size_t npend;
  negative *neg;
  size_t nneg;
};

int vss_query_new(vss_query **out) {
  vss_query *q = calloc(1, sizeof(*q));
  if (!q) return VSS_ERR_NOMEM;
  q->pend = calloc(MAX_PENDING, sizeof(*q->pend));
  q->neg = calloc(MAX_NEGATIVE, sizeof(*q->neg));
  if (!q->pend || !q->neg) {
    vss_query_del(q);
    return VSS_ERR_NOMEM;
  }
  q->next_id = 1;
  *out = q;
  return 0;
}

void vss_query_del(vss_query *q) {
  if (!q) return;
  free(q->pend);
  free(q->neg);
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

static void add_negative(vss_query *q, uint16_t peer, const vss_key *key,
                         vss_time until) {
  size_t slot = q->nneg;
  for (size_t i = 0; i < q->nneg; i++)
    if (q->neg[i].peer == peer && vss_key_cmp(&q->neg[i].key, key) == 0) {
      slot = i;
      break;
    }
  if (slot == MAX_NEGATIVE) {
    /* Full: the oldest answer is the least useful one to keep. */
    slot = 0;
    for (size_t i = 1; i < q->nneg; i++)
      if (q->neg[i].until < q->neg[slot].until) slot = i;
  } else if (slot == q->nneg) {
    q->nneg++;
  }
  q->neg[slot] = (negative){.peer = peer, .key = *key, .until = until};
}

int vss_query_negative(const vss_node *n, const vss_peer *p, const vss_key *key,
                       vss_time now) {
  const vss_query *q = n->query;
  for (size_t i = 0; i < q->nneg; i++)
    if (q->neg[i].peer == p->idx && q->neg[i].until > now &&
        vss_key_cmp(&q->neg[i].key, key) == 0)
      return 1;
  return 0;
}

static int knows_holder(vss_node *n, const vss_peer *p, const vss_key *key) {
  vss_holder h[32];
  size_t nh = vss_pcache_holders(n->pcache, key, h, 32);
  for (size_t i = 0; i < nh && i < 32; i++)
    if (h[i].peer == p->idx) return 1;
  return 0;
}

static int ask_peer(vss_node *n, vss_peer *p, const vss_key *key,
                    vss_time now) {
  vss_query *q = n->query;
  if (q->npend == MAX_PENDING) return VSS_ERR_FULL;
  uint32_t id = q->next_id++;
  vss_buf b = {0};
  int rc = vss_wire_encode_query(&b, id, key, 1);
  if (rc == 0) rc = vss__send(n, p, b.data, b.len);
  vss_buf_free(&b);
  if (rc) return rc;
  q->pend[q->npend++] = (pending){.req_id = id,
                                  .peer = p->idx,
                                  .key = *key,
                                  .deadline = now + n->cfg.query_timeout};
  return 0;
}

int vss_query_ask(vss_node *n, const vss_key *key, vss_time now) {
  int asked = 0;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->peers[i];
    if (!p->online || knows_holder(n, p, key) ||
        vss_query_negative(n, p, key, now))
      continue;
    int rc = ask_peer(n, p, key, now);
    if (rc) return rc;
    asked++;
  }
  if (asked) {
    vss_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = VSS_EV_QUERY_SENT;
    ev.key = *key;
    ev.count = (uint64_t)asked;
    vss__emit(n, &ev, now);
  }
  return asked;
}

/* Answer from the store: only READY sidecars count as "have". */
static void answer_one(vss_node *n, const vss_key *key, vss_wire_entry *e) {
  vss_sidecar_row row;
  memset(e, 0, sizeof(*e));
  e->key = *key;
  if (vss_store_get_sidecar(n->store, key, &row) == 0 &&
      row.status == VSS_STATUS_READY) {
    e->has = 1;
    e->format = row.format;
    e->size = row.size;
    e->checksum = row.checksum;
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

static int take_pending(vss_query *q, uint32_t id, uint16_t peer) {
  for (size_t i = 0; i < q->npend; i++) {
    if (q->pend[i].req_id != id || q->pend[i].peer != peer) continue;
    q->pend[i] = q->pend[--q->npend];
    return 1;
  }
  return 0;
}

static int apply_result(vss_node *n, vss_peer *p, const vss_wire_entry *e,
                        vss_time now) {
  if (!e->has) {
    add_negative(n->query, p->idx, &e->key, now + n->cfg.negative_ttl);
    emit_result(n, p, &e->key, VSS_ERR_NOT_FOUND, 0, now);
    return 0;
  }
  int rc = vss_pcache_set(n->pcache, p->idx, &e->key, e->format, 1, e->size,
                          &e->checksum);
  if (rc < 0) return rc;
  if (rc > 0) vss_xfer_offer(n->xfer, p, &e->key, e->format, e->size, now);
  emit_result(n, p, &e->key, 0, e->size, now);
  return rc;
}

int vss_query_on_reply(vss_node *n, vss_peer *p, const vss_msg_query_reply *m,
                       vss_time now) {
  /* An answer we did not ask for (or that timed out) is still true, but
   * an unsolicited flood is not: only accept known request ids. */
  if (!take_pending(n->query, m->req_id, p->idx)) return 0;
  vss_rd rd = m->results;
  int changed = 0;
  for (uint32_t i = 0; i < m->count; i++) {
    vss_wire_entry e;
    int rc = vss_wire_next_entry(&rd, &e);
    if (rc == 0) rc = apply_result(n, p, &e, now);
    if (rc < 0) return rc;
    changed |= rc;
  }
  if (changed) vss_xfer_presence_changed(n->xfer, p, now);
  return 0;
}

vss_time vss_query_expiry(const vss_node *n) {
  const vss_query *q = n->query;
  vss_time t = VSS_TIME_UNSET;
  for (size_t i = 0; i < q->npend; i++)
    t = vss__tmin(t, q->pend[i].deadline);
  return t;
}

int vss_query_handle_expiry(vss_node *n, vss_time now) {
  vss_query *q = n->query;
  for (size_t i = 0; i < q->npend;) {
    pending *pd = &q->pend[i];
    if (pd->deadline > now) {
      i++;
      continue;
    }
    /* Silence counts as "no" for a while: do not ask again at once. */
    vss_peer *p = n->peers[pd->peer];
    add_negative(q, pd->peer, &pd->key, now + n->cfg.negative_ttl);
    emit_result(n, p, &pd->key, VSS_ERR_TIMEOUT, 0, now);
    *pd = q->pend[--q->npend];
  }
  size_t w = 0;
  for (size_t i = 0; i < q->nneg; i++)
    if (q->neg[i].until > now) q->neg[w++] = q->neg[i];
  q->nneg = w;
  return 0;
}

void vss_query_peer_down(vss_node *n, vss_peer *p, vss_time now) {
  vss_query *q = n->query;
  for (size_t i = 0; i < q->npend;) {
    if (q->pend[i].peer != p->idx) {
      i++;
      continue;
    }
    emit_result(n, p, &q->pend[i].key, VSS_ERR_UNKNOWN_PEER, 0, now);
    q->pend[i] = q->pend[--q->npend];
  }
}
