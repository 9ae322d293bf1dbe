/*
 * gossip.c - HELLO / DIGEST exchange. See gossip.h for the scheme.
 */
#include "gossip.h"

#include "pcache.h"
#include "view.h"
#include "xfer.h"

#include <string.h>

/* Why a HELLO was sent. A peer answers a ROUND HELLO that shows it is
 * behind with a RESYNC HELLO; CONNECT HELLOs cross each other and need no
 * answer; a RESYNC restarts the digest exactly where the sender is. */
#define HELLO_CONNECT 0x1
#define HELLO_ROUND 0x2
#define HELLO_RESYNC 0x4
/* A session opened for one fetch (view.c): no digests either way, the
 * keys are asked with QUERY. */
#define HELLO_TRANSIENT 0x8

static int send_hello(vss_node *n, vss_peer *p, uint32_t flags, vss_time now) {
  /* A full digest that replaces entries we already had is only complete
   * at its last page (the sweep): claiming a seq before then would let
   * the peer answer with a delta, and the removals the full digest
   * left out (old tombstones) would never reach us. So claim nothing:
   * the peer continues, or restarts, the full digest. */
  int claim = !p->g.full_sweep;
  vss_msg_hello m = {
      .device = n->meta.device,
      .proto = VSS_PROTO_VERSION,
      .epoch = n->meta.epoch,
      .max_seq = n->meta.max_seq,
      .seen_epoch = claim ? p->g.their_epoch : 0,
      .seen_seq = claim ? p->g.their_seq : 0,
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
  return send_hello(n, p, HELLO_CONNECT | (p->transient ? HELLO_TRANSIENT : 0),
                    now);
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
  g->full_start = n->meta.max_seq;
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

/* Removals below the floor were compacted away. */
static uint64_t tomb_floor(vss_node *n) {
  if (!n->tomb_floor_known &&
      vss_store_tomb_floor(n->store, &n->tomb_floor) == 0)
    n->tomb_floor_known = 1;
  return n->tomb_floor_known ? n->tomb_floor : UINT64_MAX;
}

int vss_gossip_on_hello(vss_node *n, vss_peer *p, const vss_msg_hello *m,
                        vss_time now) {
  if (vss_uuid_cmp(&m->device, &p->id) != 0) return VSS_ERR_PROTO;
  if (m->proto != VSS_PROTO_VERSION) return VSS_ERR_VERSION;
  p->g.last_heard = now;
  vss_view_on_hello(n, p, (m->flags & HELLO_TRANSIENT) != 0);
  if (p->transient || p->hang_pending) return 0; /* no digest */
  int resync = (m->flags & HELLO_RESYNC) != 0;
  /* A delta from below the tombstone floor would miss the compacted
   * removals; a full digest implies them (the receiver sweeps). */
  if (m->seen_epoch != n->meta.epoch || m->seen_seq > n->meta.max_seq ||
      m->seen_seq < tomb_floor(n))
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
    if (rc == VSS_ERR_TOO_BIG) return VSS_ERR_PROTO; /* a size past the bound */
    if (rc == VSS_ERR_LIMIT) /* over its cache budget (pcache.h) */
      return vss__peer_drop(n, p, VSS_LIMIT_PEER_CACHE_ENTRIES, rc, now);
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
 * restart: the cache those rows described is gone by then. Being
 * informational, it is written at most once per gossip interval per
 * peer (and the row's existence is looked up once), not at every last
 * page: a peer pushing a change every 200 ms must not cost a SQLite
 * write each time. */
static void remember_seen(vss_node *n, vss_peer *p, vss_time now) {
  vss_gossip_peer *g = &p->g;
  if (g->paired == 2) return;
  if (g->saved_epoch == g->their_epoch && g->saved_seq == g->their_seq) return;
  if (g->saved_at != VSS_TIME_UNSET && g->saved_at != 0 &&
      now - g->saved_at < n->cfg.gossip_interval)
    return;
  vss_peer_row row;
  int rc = vss_store_get_peer(n->store, &p->id, &row);
  if (rc == VSS_ERR_NOT_FOUND) g->paired = 2;
  if (rc) return;
  g->paired = 1;
  row.seen_epoch = g->their_epoch;
  row.seen_seq = g->their_seq;
  row.last_seen_at = now;
  if (vss_store_put_peer(n->store, &row) != 0) return; /* informational */
  g->saved_epoch = g->their_epoch;
  g->saved_seq = g->their_seq;
  g->saved_at = now ? now : 1;
}

/* A gap in the sequence (a lost page): say what we have; the peer answers
 * with the missing rows. */
static int resync(vss_node *n, vss_peer *p, vss_time now) {
  return send_hello(n, p, HELLO_RESYNC, now);
}

/* FULL|FIRST: a new generation of what we know of p. Nothing is dropped
 * now (a ~130-byte frame must not cost a walk of the cache): entries
 * the digest names are marked, and its last page sweeps the rest in
 * O(p's entries). */
static void full_first(vss_node *n, vss_peer *p, const vss_msg_digest *m) {
  p->g.full_sweep = vss_pcache_count_peer(n->pcache, p->idx) > 0;
  vss_pcache_mark_begin(n->pcache, p->idx);
  p->g.their_epoch = m->epoch;
  p->g.their_seq = 0;
}

int vss_gossip_on_digest(vss_node *n, vss_peer *p, const vss_msg_digest *m,
                         size_t frame_len, vss_time now) {
  if (vss_uuid_cmp(&m->device, &p->id) != 0) return VSS_ERR_PROTO;
  if (m->to_seq < m->from_seq) return VSS_ERR_PROTO;
  p->g.last_heard = now;
  int full = (m->flags & VSS_DIGEST_FULL) != 0;
  if (full && (m->flags & VSS_DIGEST_FIRST)) full_first(n, p, m);
  if (m->epoch != p->g.their_epoch || m->from_seq > p->g.their_seq) {
    return resync(n, p, now);
  }
  if (!full && (m->flags & VSS_DIGEST_FIRST) && !p->g.full_sweep)
    vss_pcache_mark_abort(n->pcache, p->idx); /* a delta resumed it */
  uint64_t changed = 0;
  int rc = apply_entries(n, p, m->entries, m->count, &changed, now);
  if (rc == 0) rc = vss_view_direct(n, p, m, now);
  if (rc) return rc;
  if (m->to_seq > p->g.their_seq) p->g.their_seq = m->to_seq;
  if (full && (m->flags & VSS_DIGEST_LAST)) {
    changed += vss_pcache_mark_sweep(n->pcache, p->idx);
    p->g.full_sweep = 0;
  }
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
  uint32_t count, scanned;
  uint64_t end_seq, last_seq, full_start;
  int full, done;
} page_ctx;

/* Rows one page may read: tombstones a full digest skips do not make a
 * next_send unbounded (the page then ends early, short). */
#define PAGE_SCAN_MAX (4 * VSS_GOSSIP_PAGE_ENTRIES)

static int page_row(void *user, const vss_avail_row *row) {
  page_ctx *c = user;
  if (row->seq > c->end_seq) {
    c->done = 1;
    return 1;
  }
  c->last_seq = row->seq;
  c->scanned++;
  /* A full digest lists holdings; removals before it began are implied
   * by omission (the receiver sweeps), later ones must travel. */
  if (!(c->full && !row->has && row->seq <= c->full_start)) {
    vss_wire_entry *e = &c->e[c->count++];
    e->key = row->key;
    e->format = row->format;
    e->has = row->has;
    e->size = row->size;
    e->checksum = row->checksum;
  }
  return c->count >= VSS_GOSSIP_PAGE_ENTRIES || c->scanned >= PAGE_SCAN_MAX;
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
  c->full_start = g->full_start;
  c->scanned = 0;
  c->done = 0;
  int rc = vss_store_iter_avail_since(n->store, g->cur_seq, page_row, c);
  if (rc == 0) c->done = 1; /* the rows ran out */
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
  int last = c.done || c.last_seq >= g->end_seq;
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

/* Tombstone compaction, once enough removals piled up: up to what every
 * online peer of this epoch has been sent (nothing a digest still has to
 * carry goes). Peers offline now take a full digest when they return. */
static void compact(vss_node *n) {
  if (n->tombs < n->compact_tombs) return;
  uint64_t upto = UINT64_MAX;
  for (uint16_t i = 0; i < n->npeers; i++) {
    const vss_peer *p = n->live[i];
    if (!p->online) continue;
    if (p->g.sent_epoch != n->meta.epoch) return; /* not known yet */
    uint64_t s = p->g.sending ? p->g.cur_seq : p->g.sent_seq;
    if (s < upto) upto = s;
  }
  if (upto == UINT64_MAX) upto = n->meta.max_seq; /* nobody waiting */
  uint64_t floor = tomb_floor(n), removed = 0;
  if (floor == UINT64_MAX || upto <= floor) return;
  if (vss_store_compact_avail(n->store, upto, &removed) != 0) return;
  n->tomb_floor = upto;
  n->tombs = 0;
}

int vss_gossip_round(vss_node *n, vss_time now) {
  compact(n);
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || p->transient) continue;
    int rc = send_hello(n, p, HELLO_ROUND, now);
    if (rc) return rc;
  }
  return 0;
}

void vss_gossip_expire(vss_node *n, vss_peer *p, vss_time now) {
  uint64_t dropped = vss_pcache_drop_peer(n->pcache, p->idx);
  p->g.their_epoch = p->g.their_seq = 0;
  p->g.full_sweep = 0;
  p->g.last_heard = VSS_TIME_UNSET;
  emit_digest(n, p, VSS_EV_PEER_EXPIRED, dropped, 0, 0, 0, now);
}

void vss_gossip_peer_down(vss_node *n, vss_peer *p) {
  (void)n;
  p->g.sending = 0;
  p->g.sent_epoch = p->g.sent_seq = 0; /* relearned from its next HELLO */
  p->g.hello_sent_at = VSS_TIME_UNSET;
}
