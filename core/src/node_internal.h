/*
 * node_internal.h - the node's shared state, seen by the engine modules:
 *
 *   node.c      peers, send queues, timers, frame dispatch, public glue
 *   gossip.c    HELLO / DIGEST exchange, delta and full pages (lazy)
 *   pcache.c    in-memory cache of peers' availability
 *   query.c     "do you have X?" with cached negative answers
 *   xfer*.c     transfer jobs (client) and serving (server), see xfer.h
 *   est.c       per-peer rate / RTT estimates
 *   ping.c      PING/PONG round trips feeding est.c
 *   resolver.c  resolve / request / fetch-or-generate decisions
 *   prefetch.c  prefetch policy
 *
 * Nothing outside core/src includes this file.
 */
#ifndef VSS_NODE_INTERNAL_H
#define VSS_NODE_INTERNAL_H

#include "vss/node.h"
#include "wire.h"

#include "est.h"
#include "vss/rng.h"
#include "theap.h"

typedef struct vss_pcache vss_pcache;
typedef struct vss_xfer vss_xfer;
typedef struct vss_query vss_query;
typedef struct vss_view vss_view;

/* Send-queue priorities: lower goes first. DATA for transfers is not
 * queued: xfer.c produces it when the driver asks for the next frame, so
 * a foreground request overtakes prefetch bytes not yet sent. */
enum {
  VSS_PRIO_CONTROL = 0, /* HELLO, QUERY, GET, META, ERROR, replies */
  VSS_PRIO_FOREGROUND = 1,
  VSS_PRIO_GOSSIP = 2,
  VSS_PRIO_BACKGROUND = 3
};

typedef struct vss_frame {
  struct vss_frame *next;
  size_t len;
  uint8_t data[]; /* one whole frame */
} vss_frame;

/* The gossip state of one peer, both directions. */
typedef struct vss_gossip_peer {
  /* theirs, as applied to our cache (0, 0 = nothing cached) */
  uint64_t their_epoch, their_seq;
  vss_time last_heard;    /* any frame; drives cache expiry */
  vss_time hello_sent_at; /* for exchange latency */
  /* ours, as the peer has it: set from its HELLO, advanced as we send */
  uint64_t sent_epoch, sent_seq;
  /* lazy digest being sent: rows with seq in (cur_seq, end_seq] */
  int sending;
  int sending_full;
  uint64_t cur_seq, end_seq;
  uint64_t full_start; /* max_seq when the full digest began: later
                          removals travel in it too */
  uint64_t pages_sent;
  /* receiving a full digest that must sweep what it does not name: until
   * its last page, our HELLOs claim nothing seen (see gossip.c) */
  int full_sweep;
  /* the paired-peer row's copy of their_seq (remember_seen) */
  int paired; /* 0 unknown, 1 a row exists, 2 none */
  uint64_t saved_epoch, saved_seq;
  vss_time saved_at;
} vss_gossip_peer;

/* RTT probe state of one peer (ping.c). */
typedef struct vss_ping_peer {
  uint64_t stamp;   /* of our outstanding PING */
  vss_time sent_at; /* of our last PING, UNSET before the first */
  int pending;      /* our PING awaits its PONG */
  int pong_due;     /* their latest PING awaits our PONG */
  uint64_t pong_stamp;
} vss_ping_peer;
/* Why a module holds a peer's reads (vss__peer_pause): bits, so each
 * module releases only its own. */
#define VSS_PAUSE_QUEUE 0x1      /* control queue at its bound (node.c) */
#define VSS_PAUSE_GETS 0x2       /* its GETs queued for serving at the bound */
#define VSS_PAUSE_UNVERIFIED 0x4 /* its unverified bytes at the bound */

typedef struct vss_peer {
  vss_uuid id;
  /* Slot index: n->slot[idx] == this peer while it lives. Slots are
   * reused after the peer is freed (vss__peer_freed hooks run first), so
   * anything keyed by idx that may outlive the peer must be dropped in
   * the hook, or checked against gen. */
  uint16_t idx;
  uint32_t gen;  /* n->slot_gen[idx] when this peer took the slot */
  uint16_t live; /* position in n->live (dense, reordered on free) */
  int online;
  vss_link_info link;
  vss_est est;
  vss_gossip_peer g;
  vss_ping_peer ping;
  vss_frame *q_head, *q_tail; /* control frames, FIFO */
  uint64_t queued_bytes;
  uint64_t use[VSS_LIMIT_COUNT]; /* held against its VSS_LIMIT_PEER_* */
  uint32_t paused;               /* VSS_PAUSE_* bits; 0 = readable */
  vss_time stall_at;             /* paused, no frame sent to it since */
  uint16_t stall_pos;            /* in n->stalled while stall_at is set */
  int drop_rc;                   /* set by vss__peer_drop, acted on later */
  vss_time down_at;              /* when it went offline, for eviction */
  uint32_t sweep_pos;            /* in n->sweep (cache expiry) */
  /* Membership (view.c): a session opened for one fetch, ended by the
   * node (no backoff then), when it came up, last frame either way. */
  int transient;
  int hung_up;
  int hang_pending; /* view.c ends it when the entry point returns */
  int dialled;      /* we asked for this session */
  int hello_seen;
  vss_time up_at, last_active;
  uint64_t relayed;    /* new hint keys it added this session */
  uint32_t foreign;    /* relays of unknown origins it sent, ignored */
  uint32_t introduced; /* origins it taught us this session */
} vss_peer;

#define VSS_MAX_PEERS VSS_MAX_PEER_SLOTS
#define VSS_PEER_HASH (2 * VSS_MAX_PEERS) /* power of two */

struct vss_node {
  vss_node_config cfg;
  vss_store *store;
  vss_blobs *blobs;
  vss_store_meta meta; /* cached copy of the store's meta */
  int meta_stale;      /* a refresh failed: read it before the next push */
  vss_rng rng;

  /* Peers: by slot index (NULL = free), dense for iteration (order
   * changes when a peer is freed), and a hash of uuid -> idx + 1 (open
   * addressing, keyed with a random seed) so a frame finds its peer in
   * O(1). npeers counts the live ones; iterate live[0..npeers). */
  vss_peer *slot[VSS_MAX_PEERS];
  uint32_t slot_gen[VSS_MAX_PEERS];
  vss_peer *live[VSS_MAX_PEERS];
  uint16_t npeers;
  uint16_t nslots; /* slots ever used (high-water) */
  uint16_t free_slots[VSS_MAX_PEERS];
  uint16_t nfree;
  uint16_t phash[VSS_PEER_HASH];
  uint64_t phash_seed;
  uint16_t rr;                      /* next_send round robin over live */
  uint64_t limits[VSS_LIMIT_COUNT]; /* cfg.limits with defaults filled */
  uint32_t ndrops;                  /* peers marked by vss__peer_drop */
  /* Paused peers, to drop one whose queue made no progress for
   * VSS_PAUSE_STALL (two peers pushing back on each other over TCP
   * would otherwise wait forever). */
  vss_peer *stalled[VSS_MAX_PEERS];
  uint16_t nstalled;
  int pause_dirty; /* a pause changed outside recv/next_send */
  /* Peers by cache death, last_heard + cache_ttl as of when they were
   * put in: last_heard moves on every frame without touching the heap,
   * so a peer found due is put back at its real death if it has one. */
  vss_theap sweep;

  vss_pcache *pcache;
  vss_query *query;
  vss_xfer *xfer;
  vss_view *view;

  /* Bytes of sidecars this device holds (its availability rows with
   * has = 1), for the storage budget: counted once from the store when a
   * budget first needs it, then kept up to date by vss__set_local, so no
   * job start pays an SQL aggregate over every row. */
  int held_known;
  uint64_t held_bytes;

  vss_time next_gossip;    /* periodic round */
  vss_time change_push_at; /* batched push of local changes */

  /* Tombstone compaction (gossip.c): removals recorded since the last
   * compaction, the threshold that triggers one, and the floor below
   * which a peer cannot be sent a delta (loaded on first use). */
  uint64_t tombs, compact_tombs;
  uint64_t tomb_floor;
  int tomb_floor_known;

  vss_buf out;          /* the frame handed out by next_send */
  vss_wire_entry *page; /* gossip page scratch, VSS_GOSSIP_PAGE_ENTRIES */
};

/* ---- helpers for the modules (node.c) -------------------------------- */

/* O(1): hash on the uuid. */
vss_peer *vss__peer_find(vss_node *n, const vss_uuid *id);
/* The peer in slot idx, NULL when the slot is free. Never index
 * n->live by idx. */
static inline vss_peer *vss__peer_at(const vss_node *n, uint16_t idx) {
  return idx < VSS_MAX_PEERS ? n->slot[idx] : NULL;
}

/* ---- bounds (node.c) ------------------------------------------------- */

/* Count `amount` of limit `what` (a VSS_LIMIT_PEER_*) against p: 0 when
 * it fits (charged), VSS_ERR_LIMIT when it would pass the bound (nothing
 * charged). The caller then pushes back (vss__peer_pause) if waiting lets
 * the use drain, or drops the peer (vss__peer_drop). */
int vss__peer_charge(vss_node *n, vss_peer *p, vss_limit what, uint64_t amount);
/* Return what was charged (never below 0). */
void vss__peer_uncharge(vss_node *n, vss_peer *p, vss_limit what,
                        uint64_t amount);
/* The node-wide value of a limit (cfg.limits or its default). */
static inline uint64_t vss__limit(const vss_node *n, vss_limit what) {
  return n->limits[what];
}
/* Push back: while any bit is set the peer reads as not readable. */
void vss__peer_pause(vss_node *n, vss_peer *p, uint32_t why);
void vss__peer_resume(vss_node *n, vss_peer *p, uint32_t why);
/* Drop p for passing `what`: emits VSS_EV_PEER_DROPPED (rc, count =
 * what) once and marks it; the node takes it down when the current
 * entry point returns (vss_node_recv then returns rc, telling the driver
 * to close). Returns rc so a module can `return vss__peer_drop(...)`. */
int vss__peer_drop(vss_node *n, vss_peer *p, vss_limit what, int rc,
                   vss_time now);
/* The node ends p's session itself (view.c): p is taken down now, the
 * caller tells the driver (VSS_EV_HANGUP). */
void vss__peer_hangup(vss_node *n, vss_peer *p, vss_time now);
/* Copies the frame into the peer's control queue. */
int vss__send(vss_node *n, vss_peer *p, const uint8_t *frame, size_t len);
/* Fills at and calls on_event when set. */
void vss__emit(vss_node *n, vss_event *ev, vss_time now);
/* This device's availability changed (fetched, generated, removed):
 * refresh the cached meta and schedule the batched push to peers. The
 * change is already committed, so this cannot fail (returns 0): a failed
 * meta refresh is retried before the push. */
int vss__local_recorded(vss_node *n, const vss_key *key, vss_time now);
/* vss_store_set_local_chunks for the core's own changes (add, remove,
 * fetched), keeping held_bytes in step. */
int vss__set_local(vss_node *n, const vss_sidecar_row *row, int has,
                   const vss_hash *chunks, uint64_t nchunks, vss_time now);
/* held_bytes, counted from the store on first use (0 if that fails). */
uint64_t vss__held_bytes(vss_node *n);
/* Only "not found" is evidence that a peer lacks a sidecar: a store, I/O
 * or resource error from it (XFER_ERROR code, a QUERY_REPLY that says
 * VSS_WIRE_HAS_UNKNOWN) is transient and must not be cached as a "no". */
static inline int vss__err_negative(int code) {
  return code == VSS_ERR_NOT_FOUND;
}
/* Random duration in [base*(1-jitter), base*(1+jitter)]. */
vss_time vss__jittered(vss_node *n, vss_time base, double jitter);
/* min of two expiries, UNSET-aware */
static inline vss_time vss__tmin(vss_time a, vss_time b) {
  return a < b ? a : b;
}

#endif
