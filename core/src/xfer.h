/*
 * xfer.h - sidecar transfer: jobs that pull chunks from one or several
 * sources (client side) and the serving of peers' GETs (server side).
 *
 * Client: a job per sidecar; sources chosen by vss_est_cost; requests
 * pipelined within a per-source byte window; each chunk verified on
 * arrival against the chunk-hash list (one-chunk sidecars against the
 * digest's checksum); bad or stalled chunks re-requested elsewhere with
 * backoff; written to a temp blob; blob commit, then the store's
 * set_local (sidecar READY + availability has=1) in one transaction.
 *
 * Server: GETs are queued per peer, foreground first; DATA frames are
 * produced lazily by vss_xfer_produce when the driver asks to send.
 */
#ifndef VSS_XFER_H
#define VSS_XFER_H

#include "node_internal.h"

int vss_xfer_new(vss_xfer **out, vss_node *n);
void vss_xfer_del(vss_xfer *x);

int vss_xfer_fetch(vss_xfer *x, const vss_key *key, vss_format fmt,
                   uint32_t flags, uint64_t *job, vss_time now);
int vss_xfer_cancel(vss_xfer *x, uint64_t job, vss_time now);
/* XFER_* frames from a peer. Negative = protocol error (drop the peer). */
int vss_xfer_recv(vss_xfer *x, vss_peer *p, const vss_msg *m, vss_time now);
void vss_xfer_peer_up(vss_xfer *x, vss_peer *p, vss_time now);
void vss_xfer_peer_down(vss_xfer *x, vss_peer *p, vss_time now);
/* Slot idx is being reused (node.c): drop it as a source everywhere and
 * free its per-peer state. */
void vss_xfer_peer_freed(vss_xfer *x, uint16_t idx, vss_time now);
/* Gossip or a query reply taught us that p holds key (has = 1): the
 * prefetch policy may queue it, a job waiting for sources may use it.
 * Called once per new holder; must be cheap (1M entries per digest). */
void vss_xfer_offer(vss_xfer *x, vss_peer *p, const vss_key *key,
                    vss_format fmt, uint64_t size, vss_time now);
/* After a batch of offers (one digest page) - a good time to start jobs. */
void vss_xfer_presence_changed(vss_xfer *x, vss_peer *p, vss_time now);
/* A sidecar became local (added or generated): completes waiting jobs. */
void vss_xfer_local_added(vss_xfer *x, const vss_key *key, vss_time now);
int vss_xfer_generate_failed(vss_xfer *x, uint64_t job, int rc, vss_time now);

/* Next DATA (or XFER_ERROR) frame for p into out (appends one frame).
 * Returns 1 when a frame was produced, 0 when none, negative on error.
 * With fg_only, only foreground GETs are served (the caller knows the
 * priority from the flag). */
int vss_xfer_produce(vss_xfer *x, vss_peer *p, int fg_only, vss_buf *out,
                     vss_time now);

/* Start a local generation job (resolver's GENERATE_* modes and the
 * fetch-or-generate decision); joins a job already under way for key.
 * evflags: VSS_EVF_FOREGROUND or 0. */
int vss_xfer_generate(vss_xfer *x, const vss_key *key, vss_format fmt,
                      uint32_t evflags, uint64_t *job, vss_time now);

/* ---- for the resolver ---- */

typedef struct vss_xfer_source {
  vss_uuid device;
  vss_time cost; /* vss_est_cost with the source's queued bytes */
  uint64_t size;
  vss_hash checksum;
} vss_xfer_source;

/* The cheapest online holder of key in fmt; returns how many there are
 * (0: out->cost is VSS_TIME_UNSET). */
int vss_xfer_best_source(vss_xfer *x, const vss_key *key, vss_format fmt,
                         vss_xfer_source *out);
/* 1 and the job when one exists for key (generating: a local generation). */
int vss_xfer_job_of(const vss_xfer *x, const vss_key *key, uint64_t *job,
                    int *generating);
/* 1 when the sidecar row is READY in fmt and its blob is there. */
int vss_xfer_is_local(vss_xfer *x, const vss_key *key, vss_format fmt,
                      vss_sidecar_row *row);

vss_time vss_xfer_expiry(const vss_xfer *x);
int vss_xfer_handle_expiry(vss_xfer *x, vss_time now);
int vss_xfer_jobs(const vss_xfer *x, vss_job_info *out, size_t cap);
/* Bytes that count against the storage budget: sidecars held locally
 * plus the sizes of the transfers under way. */
uint64_t vss_xfer_budget_used(vss_xfer *x);

#endif
