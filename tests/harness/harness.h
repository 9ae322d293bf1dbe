/*
 * harness.h - a deterministic in-process fleet for protocol tests and
 * benchmarks: N vss_nodes, a fake clock, point-to-point links with delay,
 * rate (serialisation, one frame at a time per direction), loss and
 * corruption, all driven by one seeded PRNG. No SimGrid, no sockets.
 *
 * Each link direction pulls the next frame from the sending node only when
 * its transmitter is idle (a small socket buffer), so node-side
 * priorities decide what goes first. The seed is printed at creation.
 */
#ifndef VSS_HARNESS_H
#define VSS_HARNESS_H

#include "vss/vss.h"

typedef struct vss_h vss_h;

/* Per-node options; zero means the default. */
typedef struct vss_h_node_opts {
  const char *db_path;     /* NULL: ":memory:" (restart loses it) */
  vss_node_config *config; /* NULL: vss_node_config_default */
  int no_generate;         /* 1: this device cannot generate sidecars */
} vss_h_node_opts;

typedef struct vss_h_link_opts {
  double rate;     /* bytes/s each direction (0: 100 MB/s) */
  double rate_ba;  /* b->a when asymmetric (0: same as rate) */
  vss_time delay;  /* one-way propagation */
  double loss;     /* probability a frame is dropped */
  double corrupt;  /* probability an XFER_DATA frame gets one byte flipped */
  vss_link_class cls;
  int metered;
  int no_hints;    /* 1: nodes get no rate/RTT hints */
} vss_h_link_opts;

vss_h *vss_h_new(uint64_t seed);
void vss_h_del(vss_h *h);
uint64_t vss_h_seed(const vss_h *h);
vss_time vss_h_now(const vss_h *h);

/* Returns the node's index, or a negative VSS_ERR_*. */
int vss_h_add_node(vss_h *h, const char *name, const vss_h_node_opts *o);
vss_node *vss_h_node(vss_h *h, int i);
const vss_uuid *vss_h_device(vss_h *h, int i);
vss_blobs *vss_h_blobs(vss_h *h, int i);
vss_store *vss_h_store(vss_h *h, int i);

/* Connect a and b (both get peer_up now). */
int vss_h_link(vss_h *h, int a, int b, const vss_h_link_opts *o);
/* Take the link down (both get peer_down; frames in flight are lost) or
 * back up. */
int vss_h_link_set(vss_h *h, int a, int b, int up);
int vss_h_link_set_corrupt(vss_h *h, int a, int b, double corrupt);
/* Device offline: every link of it goes down; online: back up. */
int vss_h_node_set_online(vss_h *h, int i, int online);
/* Destroy and recreate node i from its database file (a crash/restart:
 * frames in flight are lost, links come back up). Blobs survive. */
int vss_h_restart(vss_h *h, int i);

/* Run the fleet until simulated time t (all due work at t included). */
int vss_h_run_until(vss_h *h, vss_time t);
/* Run until node i emits an event of `type` (for `job` when job != 0)
 * or the deadline passes. Returns 1 and fills *ev when seen, else 0. */
int vss_h_run_until_event(vss_h *h, int i, vss_event_type type, uint64_t job,
                          vss_time deadline, vss_event *ev);
/* Run until nothing is pending except periodic timers, or deadline. */
int vss_h_run_idle(vss_h *h, vss_time deadline);

/* Events each node emitted so far. */
size_t vss_h_event_count(const vss_h *h, int i, vss_event_type type);
const vss_event *vss_h_events(const vss_h *h, int i, size_t *n);
/* Frame bytes delivered a -> b, and frames delivered. */
uint64_t vss_h_bytes(const vss_h *h, int a, int b);
uint64_t vss_h_frames(const vss_h *h, int a, int b);

/* Deterministic sidecar content: thumbs are a valid-looking WebP
 * (RIFF....WEBPVP8 header), others a pattern; the same key and size
 * always give the same bytes. */
void vss_h_content(const vss_key *key, uint64_t size, uint8_t *out);
/* Generate content of `size` bytes and record it on node i (as if the
 * device had generated it). */
int vss_h_generate(vss_h *h, int i, const vss_key *key, vss_format fmt,
                   uint64_t size);
/* Sizes used by the harness's generate callback, per kind. */
void vss_h_set_gen_size(vss_h *h, vss_kind kind, uint64_t size);

/* A key from a small integer, for tests: content uuid derived from n. */
void vss_h_key(vss_key *k, uint32_t n, vss_kind kind, const char *variant);

#endif
