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
  /* NULL: ":memory:" (restart loses it). A URI naming SQLite's memdb
   * VFS, "file:/NAME?vfs=memdb", is a database in memory that survives
   * restarts and crashes like a file (the harness holds a connection to
   * it until vss_h_del): no file system work per store call. */
  const char *db_path;
  vss_node_config *config; /* NULL: vss_node_config_default */
  int no_generate;         /* 1: this device cannot generate sidecars */
} vss_h_node_opts;

typedef struct vss_h_link_opts {
  double rate;    /* bytes/s each direction (0: 100 MB/s) */
  double rate_ba; /* b->a when asymmetric (0: same as rate) */
  vss_time delay; /* one-way propagation */
  double loss;    /* probability a frame is dropped */
  double corrupt; /* probability an XFER_DATA frame gets one byte flipped */
  vss_link_class cls;
  int metered;
  int no_hints; /* 1: nodes get no rate/RTT hints */
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
/* A route between a and b, not a session: both nodes hear
 * vss_node_peer_reachable (with the link's class) and the session comes
 * up only when one of them asks (VSS_EV_DIAL); the other may refuse it
 * (peer_up says VSS_ERR_LIMIT: not counted as an error). VSS_EV_HANGUP
 * takes it down. Going offline withdraws the route (reachable 0), coming
 * back restores it. For fleets whose nodes choose their sessions. */
int vss_h_path(vss_h *h, int a, int b, const vss_h_link_opts *o);
/* 0: keep no event list (vss_h_events / _event_count / _run_until_event
 * see nothing; the hook still runs): large fleets over long runs. */
void vss_h_record_events(vss_h *h, int on);
/* Take the link down (both get peer_down; frames in flight are lost) or
 * back up. */
int vss_h_link_set(vss_h *h, int a, int b, int up);
int vss_h_link_set_corrupt(vss_h *h, int a, int b, double corrupt);
/* Device offline: every link of it goes down; online: back up. */
int vss_h_node_set_online(vss_h *h, int i, int online);
/* Destroy and recreate node i from its database file (a clean restart:
 * frames in flight are lost, links come back up). Blobs survive. */
int vss_h_restart(vss_h *h, int i);

/* A real crash. Every node's store is the SQLite store behind a
 * store_faulty wrapper and its blob store a harness wrapper over the
 * surviving in-memory blobs. vss_h_crash stops node i now: from this
 * instant no store call and no blob commit/remove of it lands (the
 * store fails every call, the blob wrapper refuses), its in-memory state
 * is freed without any further durable effect, and it is restarted from
 * its database file (which SQLite rolls back to the last commit).
 * vss_h_crash_after arms the same crash at the node's n-th store call
 * from now (n >= 1): that call and every later one fail as if the
 * process had died there - e.g. after a blob commit, before the row's
 * commit - and the harness crashes and restarts the node at the end of
 * the step in which it fired. Needs a db_path (VSS_ERR_INVALID). */
int vss_h_crash(vss_h *h, int i);
int vss_h_crash_after(vss_h *h, int i, uint64_t n);
/* Node i's SQLite store itself, under the store_faulty wrapper the node
 * uses: checks read it without counting calls or tripping a crash. */
vss_store *vss_h_db(vss_h *h, int i);
/* Store calls node i made since it (re)started. */
uint64_t vss_h_store_calls(const vss_h *h, int i);
/* Crashes (vss_h_crash and fired vss_h_crash_after) of node i so far. */
uint64_t vss_h_crashes(const vss_h *h, int i);
/* 1 once node i is dead: crashed, or its armed crash fired at a store
 * call already made (the harness restarts it at its next step). Whatever
 * the node was asked while dead died with the process. */
int vss_h_dead(vss_h *h, int i);

/* Byzantine source: with probability p, each XFER_DATA frame node i
 * sends has one payload byte flipped - framing, req_id, offset and
 * length stay valid, so only chunk verification can tell (unlike the
 * link's corrupt flag, this follows the node across links). 0: honest. */
int vss_h_set_lie(vss_h *h, int i, double p);
int vss_h_link_set_loss(vss_h *h, int a, int b, double loss);
/* Both directions' rate in bytes/s (0: back to the link's own). */
int vss_h_link_set_rate(vss_h *h, int a, int b, double rate);
/* 1 when a and b have a link that is up and both are online. */
int vss_h_connected(const vss_h *h, int a, int b);
int vss_h_node_count(const vss_h *h);

/* Return codes the driver API gave node i that a real driver must act
 * on: recv < 0 (the link is dropped, as a driver drops the peer),
 * handle_expiry < 0 (a failure: vss_h_run_* return it), and the others
 * (peer_up/down, add_local/generate_failed of finished generations).
 * Each is also printed to stderr with the node name. */
typedef struct vss_h_errors {
  uint64_t recv;   /* frames refused (peer dropped) */
  uint64_t expiry; /* handle_expiry < 0 */
  uint64_t other;  /* peer_up/peer_down/generation rc < 0 */
  int last_rc;     /* the last negative seen (any of the above) */
} vss_h_errors;
void vss_h_errors_get(const vss_h *h, int i, vss_h_errors *out);

/* Run the fleet until simulated time t (all due work at t included). */
int vss_h_run_until(vss_h *h, vss_time t);
/* Run until node i emits an event of `type` (for `job` when job != 0)
 * or the deadline passes. Returns 1 and fills *ev when seen, else 0. */
int vss_h_run_until_event(vss_h *h, int i, vss_event_type type, uint64_t job,
                          vss_time deadline, vss_event *ev);
/* Run until nothing is pending except periodic timers, or deadline. */
int vss_h_run_idle(vss_h *h, vss_time deadline);

/* Called for every event as a node emits it (after it is recorded):
 * checks that must see the node's state at that instant. The hook may
 * read the node, not call into it. */
typedef void (*vss_h_event_hook)(void *user, int node, const vss_event *ev);
void vss_h_set_event_hook(vss_h *h, vss_h_event_hook fn, void *user);

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
