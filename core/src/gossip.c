/*
 * gossip.c - HELLO / DIGEST exchange. See gossip.h for the scheme.
 */
#include "gossip.h"

#include "pcache.h"
#include "xfer.h"

#include <string.h>

/* Why a HELLO was sent. A peer answers a ROUND HELLO that shows it is
 * behind with a RESYNC HELLO; CONNECT HELLOs cross each other and need no
 * answer; a RESYNC restarts the digest exactly where the sender is. */
#define HELLO_CONNECT 0x1
#define HELLO_ROUND 0x2
#define HELLO_RESYNC 0x4

static int send_hello(vss_node *n, vss_peer *p, uint32_t flags, vss_time now) {
  vss_msg_hello m = {
      .device = n->meta.device,
      .proto = VSS_PROTO_VERSION,
      .epoch = n->meta.epoch,
      .max_seq = n->meta.max_seq,
      .seen_epoch = p->g.their_epoch,
      .seen_seq = p->g.their_seq,
      .flags = flags,
  };
  vss_buf b = {0};
  int rc = vss_wire_encode_hello(&b, &m);
  if (rc == 0) rc = vss__send(n, p, b.data, b.len);
  vss_buf_free(&b);
  if (rc == 0 && p->g.hello_sent_at == VSS_TIME_UNSET) p->g.hello_sent_at = now;
  return rc;
}

int vss_gossip_connect(vss_node *n, vss_peer *p, vss_time now) {
  return send_hello(n, p, HELLO_CONNECT, now);
}

static void begin(vss_gossip_peer *g, int full, uint64_t from, uint64_t to) {
  g->sending = 1;
  g->sending_full = full;
  g->cur_seq = from;
  g->end_seq = to;
  g->pages_sent = 0;
}

/* Queue rows (from, max_seq] for p. A send under way is extended, not
 * restarted: its pages are on their way. */
static void start_delta(vss_node *n, vss_peer *p, uint64_t from) {
  uint64_t to = n->meta.max_seq;
  if (p->g.sending) {
    if (to > p->g.end_seq) p->g.end_seq = to;
  } else if (from < to) {
    begin(&p->g, 0, from, to);
  }
}

static void answer_full(vss_node *n, vss_peer *p, int resync) {
  vss_gossip_peer *g = &p->g;
  /* A CONNECT or ROUND HELLO that crossed our full digest asks for what
   * is already coming; only a RESYNC (a lost page) restarts it. */
  if (!resync && g->sending && g->sending_full) {
    g->end_seq = n->meta.max_seq;
    return;
  }
  begin(g, 1, 0, n->meta.max_seq);
  g->sent_epoch = n->meta.epoch;
  g->sent_seq = 0;
}

static void answer_delta(vss_node *n, vss_peer *p, uint64_t seen, int resync) {
  vss_gossip_peer *g = &p->g;
  uint64_t from = seen;
  /* Rows we sent after the peer wrote its HELLO are in flight, not lost
   * (the transport is reliable); a RESYNC says they were lost. */
  if (!resync && g->sent_epoch == n->meta.epoch && g->sent_seq > from)
    from = g->sent_seq;
  if (resync) g->sending = 0;
  g->sent_epoch = n->meta.epoch;
  g->sent_seq = from;
  start_delta(n, p, from);
}

int vss_gossip_on_hello(vss_node *n, vss_peer *p, const vss_msg_hello *m,
                        vss_time now) {
  if (vss_uuid_cmp(&m->device, &p->id) != 0) return VSS_ERR_PROTO;
  if (m->proto != VSS_PROTO_VERSION) return VSS_ERR_VERSION;
  p->g.last_heard = now;
  int resync = (m->flags & HELLO_RESYNC) != 0;
  if (m->seen_epoch != n->meta.epoch || m->seen_seq > n->meta.max_seq)
    answer_full(n, p, resync);
  else
    answer_delta(n, p, m->seen_seq, resync);
  int behind = m->epoch != p->g.their_epoch || m->max_seq > p->g.their_seq;
  if (!behind) p->g.hello_sent_at = VSS_TIME_UNSET; /* exchange complete */
  if (behind && (m->flags & HELLO_ROUND))
    return send_hello(n, p, HELLO_RESYNC, now);
  return 0;
}

static void emit_digest(vss_node *n, vss_peer *p, vss_event_type t,
                        uint64_t count, uint64_t bytes, uint32_t flags,
                        vss_time duration, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = t;
  ev.peer = p->id;
  ev.count = count;
  ev.bytes = bytes;
  ev.flags = flags;
  ev.duration = duration;
  vss__emit(n, &ev, now);
}

static int apply_entries(vss_node *n, vss_peer *p, vss_rd rd, uint32_t count,
                         uint64_t *changed, vss_time now) {
  for (uint32_t i = 0; i < count; i++) {
    vss_wire_entry e;
    int rc = vss_wire_next_entry(&rd, &e);
    if (rc) return rc;
    rc = vss_pcache_set(n->pcache, p->idx, &e.key, e.format, e.has, e.size,
                        &e.checksum);
    if (rc < 0) return rc;
    if (rc > 0) {
      (*changed)++;
      if (e.has) vss_xfer_offer(n->xfer, p, &e.key, e.format, e.size, now);
    }
  }
  return 0;
}

/* Paired peers (rows the pairing step wrote) get how far we have seen
 * them, for status displays. It is not used to ask for deltas after a
 * restart: the cache those rows described is gone by then. */
static void remember_seen(vss_node *n, vss_peer *p, vss_time now) {
  vss_peer_row row;
  if (vss_store_get_peer(n->store, &p->id, &row) != 0) return;
  row.seen_epoch = p->g.their_epoch;
  row.seen_seq = p->g.their_seq;
  row.last_seen_at = now;
  (void)vss_store_put_peer(n->store, &row); /* informational only */
}

/* A gap in the sequence (a lost page): say what we have; the peer answers
 * with the missing rows. */
static int resync(vss_node *n, vss_peer *p, vss_time now) {
  return send_hello(n, p, HELLO_RESYNC, now);
}

int vss_gossip_on_digest(vss_node *n, vss_peer *p, const vss_msg_digest *m,
                         size_t frame_len, vss_time now) {
  if (vss_uuid_cmp(&m->device, &p->id) != 0) return VSS_ERR_PROTO;
  if (m->to_seq < m->from_seq) return VSS_ERR_PROTO;
  p->g.last_heard = now;
  int full = (m->flags & VSS_DIGEST_FULL) != 0;
  if (full && (m->flags & VSS_DIGEST_FIRST)) {
    vss_pcache_drop_peer(n->pcache, p->idx);
    p->g.their_epoch = m->epoch;
    p->g.their_seq = 0;
  }
  if (m->epoch != p->g.their_epoch || m->from_seq > p->g.their_seq) {
    return resync(n, p, now);
  }
  uint64_t changed = 0;
  int rc = apply_entries(n, p, m->entries, m->count, &changed, now);
  if (rc) return rc;
  if (m->to_seq > p->g.their_seq) p->g.their_seq = m->to_seq;
  if (m->flags & VSS_DIGEST_LAST) remember_seen(n, p, now);
  vss_time lat = VSS_TIME_UNSET;
  if ((m->flags & VSS_DIGEST_LAST) && p->g.hello_sent_at != VSS_TIME_UNSET) {
    lat = now - p->g.hello_sent_at;
    p->g.hello_sent_at = VSS_TIME_UNSET;
  }
  emit_digest(n, p, VSS_EV_DIGEST_RECEIVED, m->count, frame_len,
              full ? VSS_EVF_FULL : 0, lat, now);
  if (changed) {
    emit_digest(n, p, VSS_EV_PRESENCE_CHANGED, changed, 0, 0, 0, now);
    vss_xfer_presence_changed(n->xfer, p, now);
  }
  return 0;
}

/* ---- lazy page production -------------------------------------------- */

/* Rows are collected before encoding: the page header (to_seq, LAST)
 * depends on where the scan stops. */
typedef struct page_ctx {
  vss_wire_entry *e;
  uint32_t count;
  uint64_t end_seq, last_seq;
  int full;
} page_ctx;

static int page_row(void *user, const vss_avail_row *row) {
  page_ctx *c = user;
  if (row->seq > c->end_seq) return 1;
  c->last_seq = row->seq;
  if (c->full && !row->has) return 0; /* a full digest lists holdings only */
  vss_wire_entry *e = &c->e[c->count];
  e->key = row->key;
  e->format = row->format;
  e->has = row->has;
  e->size = row->size;
  e->checksum = row->checksum;
  return ++c->count >= VSS_GOSSIP_PAGE_ENTRIES ? 1 : 0;
}

static int encode_page(vss_buf *out, const vss_msg_digest *hdr,
                       const page_ctx *c) {
  size_t mark, start = out->len;
  int rc = vss_wire_digest_begin(out, hdr, &mark);
  for (uint32_t i = 0; rc == 0 && i < c->count; i++)
    rc = vss_wire_digest_add(out, &c->e[i]);
  if (rc == 0) rc = vss_wire_digest_end(out, mark, c->count);
  if (rc) out->len = start;
  return rc;
}

static int collect_page(vss_node *n, vss_gossip_peer *g, page_ctx *c) {
  c->e = n->page;
  c->count = 0;
  c->end_seq = g->end_seq;
  c->last_seq = g->cur_seq;
  c->full = g->sending_full;
  int rc = vss_store_iter_avail_since(n->store, g->cur_seq, page_row, c);
  return rc < 0 ? rc : 0;
}

int vss_gossip_produce(vss_node *n, vss_peer *p, vss_buf *out, vss_time now) {
  vss_gossip_peer *g = &p->g;
  if (!g->sending) return 0;
  page_ctx c;
  int rc = collect_page(n, g, &c);
  if (rc) {
    g->sending = 0; /* the next HELLO round retries from what p has seen */
    return rc;
  }
  int last = c.count < VSS_GOSSIP_PAGE_ENTRIES || c.last_seq >= g->end_seq;
  vss_msg_digest hdr = {.device = n->meta.device,
                        .epoch = n->meta.epoch,
                        .from_seq = g->cur_seq,
                        .to_seq = last ? g->end_seq : c.last_seq,
                        .timestamp = now,
                        .flags = g->sending_full ? VSS_DIGEST_FULL : 0};
  if (g->pages_sent == 0) hdr.flags |= VSS_DIGEST_FIRST;
  if (last) hdr.flags |= VSS_DIGEST_LAST;
  size_t start = out->len;
  rc = encode_page(out, &hdr, &c);
  if (rc) {
    g->sending = 0;
    return rc;
  }
  g->cur_seq = hdr.to_seq;
  g->pages_sent++;
  if (g->sent_epoch == n->meta.epoch && hdr.to_seq > g->sent_seq)
    g->sent_seq = hdr.to_seq;
  if (last) g->sending = 0;
  emit_digest(n, p, VSS_EV_DIGEST_SENT, c.count, out->len - start,
              g->sending_full ? VSS_EVF_FULL : 0, 0, now);
  return 1;
}

int vss_gossip_push(vss_node *n, vss_time now) {
  (void)now;
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    /* Until p's HELLO says what it has of ours, a push could skip rows. */
    if (!p->online || p->g.sent_epoch != n->meta.epoch) continue;
    start_delta(n, p, p->g.sent_seq);
  }
  return 0;
}

int vss_gossip_round(vss_node *n, vss_time now) {
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online) continue;
    int rc = send_hello(n, p, HELLO_ROUND, now);
    if (rc) return rc;
  }
  return 0;
}

void vss_gossip_expire(vss_node *n, vss_peer *p, vss_time now) {
  uint64_t dropped = vss_pcache_drop_peer(n->pcache, p->idx);
  p->g.their_epoch = p->g.their_seq = 0;
  p->g.last_heard = VSS_TIME_UNSET;
  emit_digest(n, p, VSS_EV_PEER_EXPIRED, dropped, 0, 0, 0, now);
}

void vss_gossip_peer_down(vss_node *n, vss_peer *p) {
  (void)n;
  p->g.sending = 0;
  p->g.sent_epoch = p->g.sent_seq = 0; /* relearned from its next HELLO */
  p->g.hello_sent_at = VSS_TIME_UNSET;
}
