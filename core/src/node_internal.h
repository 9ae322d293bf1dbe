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
#include "rng.h"

typedef struct vss_pcache vss_pcache;
typedef struct vss_xfer vss_xfer;
typedef struct vss_query vss_query;

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
  uint64_t pages_sent;
} vss_gossip_peer;

/* RTT probe state of one peer (ping.c). */
typedef struct vss_ping_peer {
  uint64_t stamp;   /* of our outstanding PING */
  vss_time sent_at; /* of our last PING, UNSET before the first */
  int pending;      /* our PING awaits its PONG */
  int pong_due;     /* their latest PING awaits our PONG */
  uint64_t pong_stamp;
} vss_ping_peer;

typedef struct vss_peer {
  vss_uuid id;
  uint16_t idx; /* stable index into node->peers, used by pcache */
  int online;
  vss_link_info link;
  vss_est est;
  vss_gossip_peer g;
  vss_ping_peer ping;
  vss_frame *q_head, *q_tail; /* control frames, FIFO */
  uint64_t queued_bytes;
} vss_peer;

#define VSS_MAX_PEERS 1024

struct vss_node {
  vss_node_config cfg;
  vss_store *store;
  vss_blobs *blobs;
  vss_store_meta meta; /* cached copy of the store's meta */
  vss_rng rng;

  vss_peer *peers[VSS_MAX_PEERS];
  uint16_t npeers;
  uint16_t rr; /* next_send round robin over peers */

  vss_pcache *pcache;
  vss_query *query;
  vss_xfer *xfer;

  /* Bytes of sidecars this device holds (its availability rows with
   * has = 1), for the storage budget: counted once from the store when a
   * budget first needs it, then kept up to date by vss__set_local, so no
   * job start pays an SQL aggregate over every row. */
  int held_known;
  uint64_t held_bytes;

  vss_time next_gossip;    /* periodic round */
  vss_time change_push_at; /* batched push of local changes */
  vss_time next_cache_sweep;

  vss_buf out;          /* the frame handed out by next_send */
  vss_wire_entry *page; /* gossip page scratch, VSS_GOSSIP_PAGE_ENTRIES */
};

/* ---- helpers for the modules (node.c) -------------------------------- */

vss_peer *vss__peer_find(vss_node *n, const vss_uuid *id);
/* Copies the frame into the peer's control queue. */
int vss__send(vss_node *n, vss_peer *p, const uint8_t *frame, size_t len);
/* Fills at and calls on_event when set. */
void vss__emit(vss_node *n, vss_event *ev, vss_time now);
/* This device's availability changed (fetched, generated, removed):
 * refresh the cached meta and schedule the batched push to peers. */
int vss__local_recorded(vss_node *n, const vss_key *key, vss_time now);
/* vss_store_set_local_chunks for the core's own changes (add, remove,
 * fetched), keeping held_bytes in step. */
int vss__set_local(vss_node *n, const vss_sidecar_row *row, int has,
                   const vss_hash *chunks, uint64_t nchunks, vss_time now);
/* held_bytes, counted from the store on first use (0 if that fails). */
uint64_t vss__held_bytes(vss_node *n);
/* Random duration in [base*(1-jitter), base*(1+jitter)]. */
vss_time vss__jittered(vss_node *n, vss_time base, double jitter);
/* min of two expiries, UNSET-aware */
static inline vss_time vss__tmin(vss_time a, vss_time b) {
  return a < b ? a : b;
}

#endif
