/*
 * world.h - the running simulation: devices (one SimGrid actor each, a
 * vss_node, its SQLite store and synthetic blobs), the links of the
 * platform, the routes between devices, who is connected to whom, and
 * the run's metrics.
 *
 * Connectivity is a pure function of the timeline: a pair of devices is
 * connected when both are online, every scenario link on its route is up
 * and no protocol error broke it recently. Each change gives the pair a
 * new connection epoch; frames carry the epoch they were sent in and a
 * receiver drops frames of an older one (what a TCP reset does to bytes
 * in flight). Every actor applies due world events when it wakes and
 * reconciles its node's peers with the world, so both ends see a change
 * at the same simulated instant.
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include "blobs_synth.h"
#include "platform.h"
#include "scenario.h"
#include "util.h"

#include <simgrid/forward.h>
#include <stdio.h>

#define RECV_SLOTS 16 /* receives posted per device mailbox */
#define MAX_BUNDLES 3 /* bundles in flight per peer */
#define BUNDLE_MIN (64u * 1024u)
#define WINDOW_MIN (64u * 1024u)
#define WINDOW_MAX (16u * 1024u * 1024u)

typedef struct world world;
typedef struct device device;

/* What a sender remembers of a bundle it put: the envelope belongs to
 * the receiver once the transfer ends, and the receiver's actor may free
 * it before the sender's actor sees its put complete. */
typedef struct sent_frame {
  int dst;
  uint32_t len, frames;
  uint32_t cls_bytes[4];    /* gossip, query, xfer control, data */
  uint16_t lost, corrupted; /* frames mode: frames; tcp: segments, resets */
  vss_time sent_at;
} sent_frame;

enum { CLS_GOSSIP = 0, CLS_QUERY, CLS_XFER, CLS_DATA };

/* One bundle of frames in flight to one peer (consecutive frames of the
 * connection, like the segments TCP has in flight): SimGrid carries a
 * pointer to it as one communication of `len` bytes. data holds, per
 * frame: u32 length, u8 flags (FR_LOST, FR_CORRUPTED), the frame. */
typedef struct envelope {
  struct envelope *next;          /* reorder list */
  struct envelope *lprev, *lnext; /* every live envelope (cleanup) */
  int src, dst;
  uint64_t epoch, seq;
  uint32_t nframes;
  size_t len;     /* frame bytes (what the network carries) */
  size_t used;    /* bytes of data[] */
  size_t rx_off;  /* receiver: frames before this were given to the node */
  vss_time due;   /* stream mode: arrival + propagation delay */
  vss_time extra; /* faults = tcp: retransmission delay of lost segments */
  uint64_t order; /* arrival order, for ties at one due time */
  uint8_t data[];
} envelope;

#define FR_HDR 5
#define FR_LOST 1 /* dropped by fault injection: uses bandwidth only */
#define FR_CORRUPTED 2
#define FR_BYZANTINE 4 /* payload falsified by a byzantine sender (counted) */

/* A frame taken from the node but not yet given to SimGrid (the peer's
 * bundles are all in flight): a small socket buffer. */
typedef struct held_frame {
  struct held_frame *next;
  size_t len;
  uint8_t data[];
} held_frame;

/* A device's view of one peer. */
typedef struct peer_view {
  int up;
  uint64_t epoch; /* connection the node knows */
  vss_link_info info;
  uint64_t window; /* bytes in flight allowed */
  uint64_t bundle; /* bytes per bundle: window / MAX_BUNDLES */
  /* send side */
  uint64_t tx_epoch, tx_seq;
  uint32_t out_bundles;
  uint64_t out_bytes;
  int touched; /* got frames in the current pump */
  held_frame *held, *held_tail;
  uint64_t held_bytes;
  /* receive side */
  uint64_t rx_epoch, rx_seq;
  envelope *reorder;
  vss_time last_due; /* keeps a pair's deliveries in order */
  /* push back (vss_node_peer_readable said 0): the envelope being fed,
   * kept from rx_off, and what follows it stays in reorder, as bytes a
   * real driver leaves in the socket */
  envelope *rx_cur;
  int rx_blocked; /* listed in the device's blocked[] */
} peer_view;

typedef enum comm_kind { COMM_RECV = 0, COMM_SEND } comm_kind;

typedef struct comm_info {
  comm_kind kind;
  int slot;        /* RECV: receive slot */
  sent_frame sent; /* SEND */
} comm_info;

typedef struct gen_item {
  vss_key key;
  vss_format fmt;
  uint64_t job; /* 0: the application's own generation (timeline) */
  vss_time done_at;
} gen_item;

typedef struct dev_metrics {
  uint64_t tx_bytes, rx_bytes, tx_frames, rx_frames;
  uint64_t gossip_tx, gossip_rx; /* HELLO + DIGEST frame bytes */
  /* full digest pages sent (a peer's first exchange, or a resync): the
   * one-off part of gossip_tx, reported apart from the steady state */
  uint64_t gossip_full_tx, gossip_full_pages;
  uint64_t query_tx, xfer_ctl_tx, data_tx, data_rx;
  uint64_t ev[VSS_EV_COUNT];
  uint64_t fetched, fetched_fg, fetched_prefetch, fetched_bytes;
  uint64_t satisfied_locally; /* a fetch job ended by a local copy */
  uint64_t gen_app, gen_resolver, gen_skipped, gen_failed;
  uint64_t lost_tx, corrupted_tx, stale_rx, proto_errors;
  uint64_t pushbacks; /* frames held back: the node said not readable */
  uint64_t fetch_failed_rc[1 - VSS_ERR_MIN];
  uint64_t requests, requests_local, requests_done, requests_failed;
  uint64_t held_end, verified, verify_failed, impure;
  uint64_t held_kind[VSS_KIND_COUNT];
  uint64_t resets;     /* faults = tcp: connections reset by damage */
  uint64_t garbage_rx; /* data bytes a byzantine peer falsified */
  uint64_t misbehaved; /* data/meta frames withheld or refused (misbehave.c) */
} dev_metrics;

struct device {
  world *w;
  int idx;
  const sc_device *cfg;
  const char *name;
  sg_host_t host;
  sg_mailbox_t mbox;
  char mbox_name[SC_NAME + 8];

  vss_store *store;
  vss_blobs *blobs;
  synth_blobs *synth;
  vss_node *node;
  vss_node_config ncfg;
  vss_uuid id;
  sim_rng rng;      /* faults this device's sends suffer */
  sim_rng core_rng; /* what the node's rand callback draws */

  vss_time now;
  uint64_t world_gen;
  int restart_pending;
  uint32_t node_run; /* restarts so far: the node's job ids start again
                        at 1 after each, so (device, node_run, job) names
                        a job in events.csv */
  int *own_ev;       /* this device's application events, in time order */
  int nown, ev_next;
  int wifi_level;

  peer_view *peers; /* ndev, own index unused */

  sg_comm_t *comms;
  comm_info *cinfo;
  int ncomms, capcomms;
  void *slot[RECV_SLOTS];
  int *blocked; /* peers whose frames wait for the node (push back) */
  int nblocked, capblocked;
  envelope **arrivals; /* min-heap by (due, order): in propagation */
  int narrivals, caparrivals;
  uint64_t arrival_order;

  gen_item *gq; /* waiting generations (FIFO from gq_head) */
  int gq_head, gq_n, gq_cap;
  gen_item *running;
  int nrunning, parallel;

  dev_metrics m;  /* uint64_t counters only (summary.c sums them) */
  int mb_running; /* misbehave.c: the run is sending frames */
  double owed_s;  /* host costs not yet spent (hostcost.h) */
  double busy_s;  /* host costs spent */
  vss_time garbage_first, liar_last; /* first falsified byte received, last
                                        data from a byzantine source */
};

typedef struct sim_link {
  char name[SC_NAME * 2 + 16];
  sg_link_t sg;
  int sc_link; /* -1 when none */
  int dir;     /* platform.h: 0 shared, 1 up, 2 down */
  int hidden;
  int device; /* port of this device, or -1 */
  double capacity;
  double capacity0; /* before the first link-set changed it (cap0_set) */
  int cap0_set;
  double latency; /* seconds, one way (stream mode: added by the driver) */
  uint64_t bytes, data_bytes, frames;
  double *series;                      /* bytes per time bucket */
  double data_busy_s, data_busy_until; /* union of data frames' lifetimes */
} sim_link;

typedef struct route {
  int routable;
  int *links; /* world link indices, each once */
  int nlinks;
  int *sclinks; /* scenario links crossed, each once */
  int nsclinks;
  double latency; /* one way, seconds, as SimGrid sums it */
} route;

typedef struct pair_state {
  int up;
  uint64_t epoch;
  vss_time broken_until;
} pair_state;

typedef struct latency_sample {
  int kind; /* LAT_* */
  int device;
  double ms;
} latency_sample;

enum { LAT_EXCHANGE = 0, LAT_FG_FETCH, LAT_PREFETCH, LAT_REQUEST, LAT_COUNT };

#define REQ_SRC_GENERATED (-2) /* made here after the request */

typedef struct request {
  int device, grid; /* grid -1: a single request */
  vss_key key;
  vss_time t0, ready;
  int done, failed;
  int rc;     /* failed: why (VSS_ERR_*) */
  int source; /* device it was fetched from; -1 local; REQ_SRC_GENERATED */
  int next;   /* chain in the request index */
} request;

typedef struct grid {
  int device;
  vss_time t0, first, last;
  uint32_t n, done, local;
  int event; /* timeline event */
} grid;

typedef struct options {
  const char *out_dir;
  int quiet, progress; /* progress: -1 auto (tty), 0 off, 1 on */
  int no_report;
  const char *reports_dir;
  double latency_factor; /* of the model, for RTT hints */
  double max_wall;       /* seconds of wall time, 0 = no limit */
} options;

struct world {
  scenario *sc;
  options opt;
  platform plat;
  int own_platform;
  int stream; /* latencies added by the driver (generated platform) */
  int ndev;
  device *devs;

  sim_link *links;
  int nlinks;
  route *routes;     /* ndev * ndev, [a * ndev + b] = a -> b */
  pair_state *pairs; /* ndev * ndev, canonical a < b */
  int *online;       /* per device */
  int *sclink_up;    /* per scenario link */
  double loss, corrupt;
  uint64_t gen;   /* bumped at every connectivity change */
  int gnext;      /* next global event not yet applied */
  int *global_ev; /* indices of global events in time order */
  int nglobal;
  int nbroken;

  vss_time end;
  double bucket_s;
  int nbuckets;

  /* uuid -> device index */
  int *idmap;
  size_t idcap;

  /* metrics */
  FILE *events_csv;
  latency_sample *lat;
  size_t nlat, caplat;
  request *reqs;
  size_t nreqs, capreqs;
  int *req_index; /* hash buckets of request chains */
  size_t req_buckets;
  grid *grids;
  int ngrids;
  uint64_t live_envelopes;
  envelope *live; /* list of envelopes in flight */
  uint64_t frames_total, events_total;
  uint64_t avail_changes; /* events that can change who knows what */
  uint64_t **pair_bytes, **pair_data; /* [src][dst] */

  /* convergence (monitor) */
  vss_time avail_converged, holders_converged;
  vss_time last_online; /* of the last device that came online */
  vss_key *thumbs;      /* every thumbnail held somewhere */
  size_t nthumbs, capthumbs;
  int *thumb_index;
  size_t thumb_cap;
  uint8_t **known;     /* [device][thumb]: the device knows a holder */
  double wall_start;   /* the SimGrid run began (wall clock) */
  double wall_setup_s; /* before it: parsing, nodes, start sidecars, platform */
  vss_time stopped_at; /* --max-wall cut the run here (0: ran to the end) */
  int done;
};

/* Index of the device with this uuid, -1 if none. */
int world_dev_by_id(const world *w, const vss_uuid *id);
static inline pair_state *world_pair(world *w, int a, int b) {
  return a < b ? &w->pairs[a * w->ndev + b] : &w->pairs[b * w->ndev + a];
}
static inline route *world_route(world *w, int a, int b) {
  return &w->routes[a * w->ndev + b];
}

/* world.c */
int world_init(world *w, scenario *sc, const options *opt, char *err,
               size_t cap);
int world_routes(world *w, char *err, size_t cap);
int world_start(world *w);
void world_free(world *w);
/* The path as it is (transport pacing) and what the node is told. */
vss_link_info world_path_truth(world *w, int d, int p);
vss_link_info world_link_info(world *w, int d, int p);
int world_pair_should_be_up(world *w, int a, int b, vss_time now);
void world_refresh_pairs(world *w, int only_dev, vss_time now);

/* timeline.c */
void timeline_init(world *w);
void timeline_apply_global(world *w, vss_time now);
vss_time timeline_next_global(const world *w);
void timeline_device(device *d);
vss_time timeline_next_device(const device *d);

/* device.c */
void device_actor(int argc, char **argv);
void device_reconcile(device *d);
void device_restart(device *d);
vss_time device_now(device *d);

/* transport.c */
void transport_pump(device *d);
void transport_send_done(device *d, const sent_frame *sf);
void transport_received(device *d, envelope *env);
void transport_post_recvs(device *d);
void transport_drop_peer(device *d, int p);
void transport_free_live(world *w);
void transport_deliver_due(device *d);
/* Feed the frames of peers the node had pushed back, where it reads
 * again; returns how many peers were resumed. */
int transport_resume_rx(device *d);
vss_time transport_next_due(const device *d);
vss_time route_delay(world *w, int a, int b); /* stream mode, else 0 */
int comm_add(device *d, sg_comm_t c, comm_kind kind, int slot,
             const sent_frame *sent);
void comm_remove(device *d, int i);

/* gen.c */
int gen_callback(void *user, const vss_key *key, vss_format fmt, uint64_t job);
void gen_enqueue_app(device *d, const vss_key *key, vss_format fmt);
void gen_start(device *d);
void gen_complete(device *d);
vss_time gen_next(const device *d);
void gen_drop_jobs(device *d);

/* metrics.c */
void metrics_init(world *w);
void metrics_on_event(void *user, const vss_event *ev);
void metrics_frame_sent(device *d, const sent_frame *sf);
void metrics_frame_received(device *d, int peer, const uint8_t *frame,
                            size_t len);
void metrics_world_event(world *w, vss_time at, const char *what,
                         const char *who, const char *detail);
void metrics_latency(world *w, int kind, int device, double ms);
int metrics_request(device *d, int grid, const vss_key *key, vss_format fmt,
                    vss_resolve_mode mode);
void metrics_close(world *w);
int metrics_frame_class(const uint8_t *frame, size_t len); /* CLS_* */

/* misbehave.c: 1 when a misbehaving device withholds this frame its
 * node produced (stall); the blob wrapper makes a refuser's reads fail
 * while the run goes on; misbehave_end before the end-of-run check. */
int misbehave_outgoing(device *d, const uint8_t *frame, size_t len);
int misbehave_wrap_blobs(device *d);
void misbehave_end(world *w);

/* summary.c */
int summary_write(world *w, double wall_s, long peak_kb);
/* Appends the report generator's wall time to run.csv. */
void summary_report_wall(world *w, double report_s);

/* monitor.c */
void monitor_actor(int argc, char **argv);
void monitor_thumb(world *w, const vss_key *key); /* a thumb became held */
void monitor_free(world *w);
double wall_now(void);

extern world *g_world;

#endif
