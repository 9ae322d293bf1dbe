/*
 * vss/node.h - the protocol engine of one device (sans-I/O).
 *
 * A driver (tests/harness, sim/ on SimGrid, real/ on libuv) owns the
 * transport and the clock. It tells the node what happened:
 *
 *   vss_node_peer_up / _peer_down   a paired peer connected / went away
 *   vss_node_recv                   one whole frame arrived from a peer
 *   vss_node_handle_expiry          the time from vss_node_get_expiry came
 *   vss_node_add_local, _request... the application's calls
 *
 * and asks it what to do:
 *
 *   vss_node_next_send              the next frame to write to a peer
 *   vss_node_get_expiry             when to call handle_expiry next
 *   on_event callback               what happened (for metrics/logs)
 *   generate callback               "generate this sidecar locally"
 *
 * Every resource a peer can make the node spend has a bound (see
 * "bounds" below): past it the node pushes back, and the driver stops
 * reading from that peer while vss_node_peer_readable() says 0, or it
 * drops the peer (VSS_EV_PEER_DROPPED, and vss_node_recv returns
 * VSS_ERR_LIMIT: close the connection). It never grows without bound.
 *
 * The node never reads a clock, sleeps, opens sockets or draws random
 * numbers of its own: `now` is a parameter and randomness comes from the
 * injected rand callback (seeding one internal PRNG), so a driver that
 * replays the same inputs with the same seed gets the same run.
 */
#ifndef VSS_NODE_H
#define VSS_NODE_H

#include "vss/model.h"
#include "vss/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vss_node vss_node;

/* ---- links ----------------------------------------------------------- */

typedef enum vss_link_class {
  VSS_LINK_ETHERNET = 0,
  VSS_LINK_WIFI,
  VSS_LINK_INTERNET,
  VSS_LINK_CELLULAR,
  VSS_LINK_COUNT
} vss_link_class;

const char *vss_link_class_name(vss_link_class c);
int vss_link_class_parse(const char *s, size_t len, vss_link_class *out);

/* What the driver knows of the path to a peer when it comes up. Hints seed
 * the per-peer estimates; measured transfers then replace them. */
typedef struct vss_link_info {
  vss_link_class cls;
  int metered;       /* cellular / capped: no prefetch unless allowed */
  double rate_hint;  /* bytes per second, 0 = unknown */
  vss_time rtt_hint; /* round trip, 0 = unknown */
} vss_link_info;

/* ---- events ---------------------------------------------------------- */

typedef enum vss_event_type {
  VSS_EV_PEER_UP = 0,
  VSS_EV_PEER_DOWN,
  VSS_EV_DIGEST_SENT,      /* count = entries, bytes = frame bytes */
  VSS_EV_DIGEST_RECEIVED,  /* count = entries applied; flags FULL */
  VSS_EV_PRESENCE_CHANGED, /* peer's cached availability changed */
  VSS_EV_PEER_EXPIRED,     /* peer's cache dropped after its TTL */
  VSS_EV_QUERY_SENT,       /* count = keys asked */
  VSS_EV_QUERY_ANSWERED,   /* we answered a peer; count = keys */
  VSS_EV_QUERY_RESULT, /* a peer's answer for key: rc 0 have, else NOT_FOUND */
  VSS_EV_LOCAL_RECORDED,   /* add_local recorded a sidecar */
  VSS_EV_FETCH_STARTED,    /* job, key, peer = first source */
  VSS_EV_FETCH_DONE,       /* verified and committed; bytes, duration */
  VSS_EV_FETCH_FAILED,     /* rc says why */
  VSS_EV_CHUNK_BAD,        /* a chunk failed its hash; peer = culprit */
  VSS_EV_RETRY,            /* a request re-issued; peer = new source */
  VSS_EV_SOURCE_DROPPED,   /* a source left a job (offline, errors) */
  VSS_EV_SERVED,           /* we sent sidecar bytes to peer */
  VSS_EV_GENERATE_STARTED, /* generate callback invoked */
  VSS_EV_GENERATED,        /* local generation recorded */
  VSS_EV_PREFETCH_QUEUED,
  VSS_EV_PREFETCH_SKIPPED, /* policy said no; rc says why */
  VSS_EV_PROTO_ERROR,      /* bad frame from peer; rc; peer should be dropped */
  VSS_EV_PEER_DROPPED,     /* the node dropped the peer: rc why (VSS_ERR_LIMIT:
                              count = the vss_limit it passed); the driver
                              closes the connection */
  VSS_EV_FETCH_RESUMED,    /* after a restart, a request under way before
                              goes on as `job` (then DONE or FAILED as
                              usual); bytes / count = verified bytes and
                              chunks kept; flags as the request's */
  VSS_EV_DIAL,             /* the node wants a session with peer (see
                              "membership"): connect, then peer_up; if
                              that fails, peer_down. flags VSS_EVF_TRANSIENT
                              when a fetch wants it (hung up once idle) */
  VSS_EV_HANGUP,           /* the node ended its session with peer and
                              has already taken it down: close the
                              connection (a peer_down after it is a no-op) */
  VSS_EV_SOURCE_BUSY,      /* a source refused background requests (its
                              upload slots are taken): left alone for
                              `duration`, not blamed; peer = the source */
  VSS_EV_COUNT
} vss_event_type;

const char *vss_event_name(vss_event_type t);

#define VSS_EVF_FULL 0x1       /* digest was a full resend */
#define VSS_EVF_FOREGROUND 0x2 /* job was a foreground request */
#define VSS_EVF_PREFETCH 0x4   /* job was a prefetch */
#define VSS_EVF_TRANSIENT 0x8  /* DIAL/HANGUP of a session for one fetch */

typedef struct vss_event {
  vss_event_type type;
  vss_time at;
  vss_uuid peer; /* nil when not about a peer */
  vss_key key;   /* zeroed when not about a sidecar */
  vss_format format;
  uint64_t job;      /* 0 when not about a job */
  uint64_t bytes;    /* bytes moved / sidecar size */
  uint64_t count;    /* entries, keys, chunks */
  vss_time duration; /* job age at done/failed, exchange latency */
  uint32_t flags;    /* VSS_EVF_* */
  int rc;            /* 0 or VSS_ERR_* */
} vss_event;

typedef void (*vss_event_cb)(void *user, const vss_event *ev);

/* ---- local generation ------------------------------------------------ */

/* The node asks the application to generate a sidecar (resolver fallback
 * or GenerateBlocking/Async). The application produces the bytes, then
 * calls vss_node_add_local() (success) or vss_node_generate_failed().
 * Return non-zero when generation cannot even start. */
typedef int (*vss_generate_cb)(void *user, const vss_key *key, vss_format fmt,
                               uint64_t job);

/* ---- policy ---------------------------------------------------------- */

typedef enum vss_strategy {
  VSS_STRATEGY_COST = 0,       /* compare estimated fetch time vs gen cost */
  VSS_STRATEGY_PREFER_FETCH,   /* mobile: fetch whenever a source exists */
  VSS_STRATEGY_PREFER_GENERATE /* server: generate when it can */
} vss_strategy;

const char *vss_strategy_name(vss_strategy s);
int vss_strategy_parse(const char *s, size_t len, vss_strategy *out);

#define VSS_KIND_BIT(k) (1u << (k))
#define VSS_LINK_BIT(c) (1u << (c))

typedef struct vss_prefetch_policy {
  uint32_t eager_kinds;    /* prefetch as soon as a peer has it (thumb) */
  uint32_t lazy_kinds;     /* prefetch only when idle (ocr, transcript) */
  uint32_t never_kinds;    /* on demand only (proxy) */
  uint32_t max_concurrent; /* prefetch slots at once (3): a slot is one
                              large sidecar, or a window of small ones
                              from one source */
  uint32_t allowed_links;  /* VSS_LINK_BIT mask; default all but cellular */
  int allow_metered;       /* 0: no prefetch over metered links */
  uint64_t
      storage_budget; /* bytes of sidecars this device may hold; 0 = no limit */
} vss_prefetch_policy;

/* ---- bounds ---------------------------------------------------------- */

/* What one peer may make this node hold, and the node-wide limits. Each
 * has a default below; vss_node_config.limits[] overrides it (0 = the
 * default). A peer that reaches a PEER_* bound is pushed back (the driver
 * stops reading from it, see vss_node_peer_readable) where waiting lets
 * the use drain; where it cannot drain (a peer that never reads, cache
 * entries, interned strings) the peer is dropped with VSS_EV_PEER_DROPPED
 * (rc VSS_ERR_LIMIT, count = the limit). Node-wide limits refuse the new
 * thing with VSS_ERR_LIMIT (a fetch, a peer_up) after reclaiming what can
 * be reclaimed (a peer slot held only by an expired or offline peer). */
typedef enum vss_limit {
  VSS_LIMIT_PEER_QUEUE_BYTES = 0, /* control frames queued to the peer */
  VSS_LIMIT_PEER_QUEUE_FRAMES,    /* ... counted in frames */
  VSS_LIMIT_PEER_UNVERIFIED,      /* bytes from it held before verification */
  VSS_LIMIT_PEER_CACHE_ENTRIES,   /* presence-cache entries it contributes */
  VSS_LIMIT_PEER_STRINGS,         /* interned variant strings it added */
  VSS_LIMIT_PEER_GETS,            /* its GETs queued for serving */
  VSS_LIMIT_PEERS,                /* peer slots, online or remembered */
  VSS_LIMIT_JOBS,                 /* transfer + generation jobs */
  VSS_LIMIT_TEMP_BLOBS,           /* temp blobs open at once */
  VSS_LIMIT_MEMBERS,      /* devices in the membership table (driver's) */
  VSS_LIMIT_HINT_KEYS,    /* keys with relayed holders, node-wide */
  VSS_LIMIT_PEER_RELAYED, /* relayed keys one peer added, per session */
  VSS_LIMIT_COUNT
} vss_limit;

/* Push back at the queue bound: replies to a peer that does not read are
 * produced only as it drains (the driver stops reading it; it reads
 * again at half the bound). A queue twice the bound (a driver that
 * ignores push back) drops the peer. One frame is at most ~1 MiB.
 * Enforced in node.c. */
#define VSS_DEFAULT_PEER_QUEUE_BYTES (4ull * 1024 * 1024)
/* A peer pushed back on (for any bound) with no frame sent to it for this
 * long is dropped: two peers that stop reading each other over TCP would
 * otherwise wait forever. */
#define VSS_PAUSE_STALL (30ull * 1000 * 1000 * 1000)
#define VSS_DEFAULT_PEER_QUEUE_FRAMES 4096
/* Bytes received from one source and not yet verified: its requests in
 * flight, at most the request window (window_max); chunks wait for no
 * hash list (META is asked first), and a hash list being assembled from
 * pages is at most 32 B per chunk of a VSS_SIDECAR_MAX_SIZE sidecar
 * (xfer_recv.c). */
#define VSS_DEFAULT_PEER_UNVERIFIED (64ull * 1024 * 1024)
/* Presence-cache entries one peer contributes: a 6M-row desktop library
 * fits; past it the peer is dropped (pcache.c). */
#define VSS_DEFAULT_PEER_CACHE_ENTRIES (8ull * 1024 * 1024)
/* Interned (kind, variant) names one peer may introduce: real libraries
 * use a dozen (pcache.c; the node-wide table is refcounted and freed
 * with its last user). */
#define VSS_DEFAULT_PEER_STRINGS 32
/* A peer's GETs queued for serving: past it a GET is answered with an
 * XFER_ERROR VSS_ERR_FULL (the requester backs off), never queued. */
#define VSS_DEFAULT_PEER_GETS 65536
/* Peer slots. Online peers always keep theirs: past the bound peer_up
 * says VSS_ERR_LIMIT. An offline peer's slot (cache, estimates) is
 * freed cache_ttl after it was last heard, or at once (stalest first)
 * when a new peer needs the slot. Lookups are O(1) (hash on the id). */
#define VSS_DEFAULT_PEERS 1024
#define VSS_MAX_PEER_SLOTS 1024 /* compile-time ceiling of the above */
/* Transfer and generation jobs at once (xfer*.c: a new fetch past the
 * bound fails with VSS_ERR_LIMIT). Temp blobs open at once (enforced,
 * xfer_job.c): a multi-chunk job takes a temp slot before its first
 * chunk request and keeps it to its end; past bound - 1 it waits (queued,
 * first come first served, no request sent) until a job ends. One slot
 * is kept for one-chunk sidecars, which open, write and commit their
 * temp within one call. A bound below 2 counts as 2. A job resumed after
 * a restart reopens its kept temp only when a slot is free (else it
 * starts over). */
#define VSS_DEFAULT_JOBS (256ull * 1024)
#define VSS_DEFAULT_TEMP_BLOBS 64
/* Membership (see "membership" below). Devices the driver said it can
 * reach, or could: a 10,000-device library fits (one table entry is
 * ~100 B: 1.6 MB at the bound). Past it peer_reachable says
 * VSS_ERR_LIMIT (the driver's own input: nothing a peer can grow). */
#define VSS_DEFAULT_MEMBERS 16384
/* Keys whose holders this node learned by relay (holders it has no
 * session with), at most cfg.holders_per_key (<= 8) holders each: one
 * ~170 B record per key whatever the holders (1M keys ~ 170 MB worst
 * case; a 200,000-item library ~ 34 MB). Past it
 * a relayed entry for a new key is dropped (counted in
 * vss_view_stats.hints_dropped): the key is still found on demand
 * (QUERY). A peer may add at most VSS_LIMIT_PEER_RELAYED new keys per
 * session (half the table: it cannot crowd out the others); past that
 * it is dropped (VSS_EV_PEER_DROPPED). A relay's origin the driver did
 * not report is learned (no route until peer_reachable gives one) up to
 * half of VSS_LIMIT_MEMBERS, a quarter of it per peer and session; past
 * that its relays are ignored, and VSS_RELAY_FOREIGN_MAX ignored relays
 * in a session drop the peer (a peer inventing origins). */
#define VSS_DEFAULT_HINT_KEYS (1024ull * 1024)
#define VSS_DEFAULT_PEER_RELAYED (512ull * 1024)
#define VSS_RELAY_FOREIGN_MAX 1024

const char *vss_limit_name(vss_limit l);
uint64_t vss_limit_default(vss_limit l);

/* ---- configuration --------------------------------------------------- */

typedef struct vss_node_config {
  vss_store *store; /* not owned; holds the device id and epoch */
  vss_blobs *blobs; /* not owned */

  uint64_t (*rand)(void *user); /* seeds the internal PRNG; required */
  void *rand_user;
  vss_event_cb on_event; /* may be NULL */
  void *event_user;
  vss_generate_cb generate; /* may be NULL: this device cannot generate */
  void *generate_user;

  vss_time gossip_interval;    /* periodic round, default 5 min */
  double gossip_jitter;        /* +- fraction of the interval, default 0.1 */
  vss_time change_batch_delay; /* push local changes after, default 200 ms */
  vss_time cache_ttl;     /* peer cache life without news, default 3 rounds */
  vss_time negative_ttl;  /* "don't have" answers cached, default 60 s */
  vss_time query_timeout; /* unanswered query counts as no, default 5 s */

  uint32_t max_retries;   /* per chunk, across sources, default 4 */
  vss_time retry_backoff; /* first backoff, doubles, default 50 ms */
  uint64_t window_min;    /* request window floor, bytes, default 1 MiB */
  uint64_t window_max;    /* request window ceiling, default 64 MiB */
  /* A transfer whose sources all went offline keeps its verified chunks
   * and waits this long for one of them (or another holder) to come
   * back, then resumes from the chunks still missing; past it the job
   * ends FETCH_FAILED (VSS_ERR_NO_SOURCE). 0: fail at once. Defaults:
   * 60 s for requested fetches, 10 min for prefetches. */
  vss_time source_patience;
  vss_time prefetch_patience;
  /* Serving (upload admission, as BitTorrent's unchoke slots): at most
   * upload_slots peers are served at once; the others' background GETs
   * are answered VSS_ERR_BUSY with a retry-after hint (they back off
   * without blaming us) instead of queueing behind everyone else's
   * windows past their timeouts. Foreground GETs are always served and
   * take a slot from a background holder when all are taken. 0 = auto:
   * one slot per 1 MB/s of upload rate (+1), 2..64; before the rate is
   * measured, the asking peer's link-class typical rate. upload_rate: this
   * device's upload capacity in bytes/s if known; 0 = measured from the bytes
   * it serves while backlogged. */
  uint32_t upload_slots;
  double upload_rate;

  /* Simulation only (a real node never sets it): sidecars whose blob
   * store vouches for them (vss_blob_methods.content_hash) are served as
   * size-only XFER_SYNTH frames, and such frames are accepted: their
   * chunks are verified against the store's hash of the synthetic
   * content instead of hashing bytes. Without it an XFER_SYNTH frame is
   * a protocol error. Default 0. */
  int synthetic_data;

  vss_prefetch_policy prefetch;
  vss_strategy strategy;
  vss_time gen_cost[VSS_KIND_COUNT]; /* estimated time to generate one; 0 =
                                        unknown */

  uint64_t limits[VSS_LIMIT_COUNT]; /* see "bounds"; 0 = the default */

  /* Membership (only once the driver calls vss_node_peer_reachable). */
  uint32_t max_active;      /* sessions at once, default 32 */
  uint32_t holders_per_key; /* relayed holders kept per key, default 4 */
  vss_time dial_timeout;    /* DIAL without peer_up, given up: 10 s */
  vss_time transient_idle;  /* a fetch's session hung up idle: 30 s */
} vss_node_config;

/* Fills the defaults above (policy per DESIGN.md). */
void vss_node_config_default(vss_node_config *cfg);

int vss_node_new(vss_node **out, const vss_node_config *cfg, vss_time now);
void vss_node_del(vss_node *n);
const vss_uuid *vss_node_device(const vss_node *n);
/* Replace policy / strategy / costs at run time. */
int vss_node_set_policy(vss_node *n, const vss_prefetch_policy *p,
                        vss_strategy s, vss_time now);

/* ---- driver input ---------------------------------------------------- */

int vss_node_peer_up(vss_node *n, const vss_uuid *peer,
                     const vss_link_info *link, vss_time now);
int vss_node_peer_down(vss_node *n, const vss_uuid *peer, vss_time now);
/* One whole frame (length prefix included). A negative return means the
 * frame was malformed or unexpected (VSS_EV_PROTO_ERROR), or the peer
 * passed a bound (VSS_ERR_LIMIT, VSS_EV_PEER_DROPPED; the node has taken
 * it down already): the driver closes the connection. */
int vss_node_recv(vss_node *n, const vss_uuid *peer, const uint8_t *frame,
                  size_t len, vss_time now);
/* Push back. 1: feed the peer's frames; 0: stop reading from the peer
 * (uv_read_stop, or leave frames in the mailbox) and keep the frames
 * already read but not yet given to vss_node_recv, until this says 1
 * again. It turns 0 only inside vss_node_recv (the peer's own frames
 * made us queue too much) and back to 1 only as vss_node_next_send
 * drains the peer's queue or a job frees what the peer held: a driver
 * checks it after every vss_node_recv and after every vss_node_next_send
 * (or handle_expiry) that concerned a paused peer. Unknown or offline
 * peers read as 1 (recv then says VSS_ERR_UNKNOWN_PEER). A driver that
 * keeps feeding a paused peer gets it dropped at twice the bound. */
int vss_node_peer_readable(const vss_node *n, const vss_uuid *peer);
vss_time vss_node_get_expiry(const vss_node *n);
int vss_node_handle_expiry(vss_node *n, vss_time now);

/* ---- membership: libraries of many devices ---------------------------
 *
 * A driver of a small library connects every paired peer and calls
 * peer_up for each: the node takes every session and knows every
 * holder (as it always did). A driver of a large library instead tells
 * the node which paired devices it can reach and over what path, and
 * lets the node choose its sessions:
 *
 *   vss_node_peer_reachable(n, peer, &link, 1, now)  a route is known
 *   vss_node_peer_reachable(n, peer, NULL, 0, now)   the route is gone
 *
 * From the first such call the node keeps at most cfg.max_active
 * sessions, whatever the library's size: an active view of the best
 * paths (same site first: ethernet, wifi, then internet, cellular last)
 * plus a few random links that keep the fleet one connected graph; the
 * other reachable members are the passive set it repairs the view from
 * when an active peer goes away. It asks for a session with VSS_EV_DIAL
 * (connect, then peer_up; when the connection fails or is refused, call
 * peer_down for it) and ends one with VSS_EV_HANGUP (the node has
 * already taken the peer down: close the connection). A DIAL for a peer
 * already connected needs nothing. Past the bound an inbound session is
 * refused: peer_up returns VSS_ERR_LIMIT, and the driver closes it (the
 * dialler then tries another member, after a backoff).
 *
 * With no more members than max_active the node dials them all (full
 * knowledge, as in a small library). Availability then travels beyond
 * direct sessions: peers relay what they learn, tagged with its
 * origin's id and (epoch, seq), so a node knows a few holders (at most
 * cfg.holders_per_key, the best paths) of items of devices it has no
 * session with; a fetch from such a holder opens a transient session
 * (DIAL with VSS_EVF_TRANSIENT, counted in max_active) that is hung up
 * after transient_idle without traffic. core/README.md has the design
 * and its figures.
 *
 * A driver that never calls peer_reachable gets none of this: every
 * peer_up is accepted, the node never dials nor hangs up, no relay is
 * sent. link may be NULL when reachable is 0. Returns VSS_ERR_LIMIT past
 * VSS_LIMIT_MEMBERS (the member is not added). */
int vss_node_peer_reachable(vss_node *n, const vss_uuid *peer,
                            const vss_link_info *link, int reachable,
                            vss_time now);

typedef struct vss_view_stats {
  int managed;        /* 1 once the driver called peer_reachable */
  uint32_t members;   /* in the membership table */
  uint32_t reachable; /* ... with a route now */
  uint32_t sessions;  /* online peers (active + transient) */
  uint32_t transient; /* ... of them opened for a fetch */
  uint32_t dialing;   /* DIALs awaiting peer_up */
  uint32_t wanted;    /* the active view it aims for */
  uint64_t dials, hangups, refused; /* totals */
  uint64_t hint_keys;               /* keys with relayed holders */
  uint64_t hint_holders;            /* (key, holder) pairs kept from relays */
  uint64_t hints_dropped;           /* relayed entries dropped at a bound */
  uint64_t relays_sent, relay_bytes_sent;
  uint64_t relays_received, relays_new; /* ... that brought news */
  uint64_t relays_foreign; /* naming a non-member origin (ignored) */
} vss_view_stats;
void vss_node_view_stats(const vss_node *n, vss_view_stats *out);

/* ---- driver output --------------------------------------------------- */

typedef struct vss_outmsg {
  vss_uuid peer;
  const uint8_t *data; /* valid until the next call into the node */
  size_t len;
  int priority; /* 0 = control/foreground ... higher = background */
} vss_outmsg;

/* The next frame to send, to `peer` only when peer is non-NULL. Returns:
 *   1                 out is filled (data valid until the next call);
 *   0                 nothing to send to (that) online peer now;
 *   VSS_ERR_NOMEM     a frame could not be built; nothing was lost
 *                     (the queued frame stays queued): call again later;
 *   a store error     (VSS_ERR_STORE, VSS_ERR_CORRUPT) reading the rows
 *                     of a digest page: that digest is abandoned and
 *                     resent from the peer's next HELLO; call again.
 * Nothing else: a store or blob failure while serving a GET goes to the
 * peer as an XFER_ERROR frame. A driver with a small send buffer calls
 * it when the link can take more, which keeps foreground bytes ahead of
 * prefetch bytes. Draining a peer's queue may make it readable again
 * (vss_node_peer_readable). */
int vss_node_next_send(vss_node *n, const vss_uuid *peer, vss_outmsg *out,
                       vss_time now);
/* Bytes queued for a peer (or all peers when NULL). */
uint64_t vss_node_queued_bytes(const vss_node *n, const vss_uuid *peer);

/* ---- application: availability --------------------------------------- */

/* Record a sidecar this device holds. data != NULL: the node writes it to
 * the blob store first; data == NULL: the bytes are already committed in
 * the blob store (and are read once). Checksum is computed here, and the
 * chunk-hash list of a multi-chunk sidecar is stored with the row, so
 * serving it never hashes it again. Peers hear of it after
 * change_batch_delay. Completes a pending generation job for the key. */
int vss_node_add_local(vss_node *n, const vss_key *key, vss_format fmt,
                       const void *data, uint64_t size, vss_time now);
int vss_node_remove_local(vss_node *n, const vss_key *key, vss_time now);
/* Generation requested through vss_generate_cb failed. */
int vss_node_generate_failed(vss_node *n, uint64_t job, int rc, vss_time now);

/* Called once per (key, holder), this device included (online = 1). */
typedef int (*vss_presence_cb)(void *user, const vss_key *key,
                               const vss_uuid *device, int online,
                               uint64_t size, const vss_hash *checksum);
int vss_node_get_presence(vss_node *n, const vss_uuid *contents,
                          size_t ncontents, vss_kind kind,
                          const char *const *variants, size_t nvariants,
                          vss_presence_cb cb, void *user, vss_time now);
/* Every (key, holder) the node knows, for listings and reports that do
 * not start from a set of keys: first this device's sidecars (the
 * availability rows it announces, online = 1), then each peer's cached
 * entries (online as that peer is now), in no particular order. A
 * non-zero return from cb stops the walk and is returned. cb may read
 * (get_presence, resolve) but must not change the node: no recv, fetch,
 * add/remove, timers. */
int vss_node_iter_presence(vss_node *n, vss_presence_cb cb, void *user,
                           vss_time now);

/* "Do you have X?" to every connected peer not known to have it and not
 * cached as a recent "no". Answers arrive as VSS_EV_QUERY_RESULT and feed
 * the presence cache. Returns the number of peers asked. */
int vss_node_query(vss_node *n, const vss_key *key, vss_time now);

/* Start a new epoch (after restoring the database from a backup, say):
 * sequence numbers peers hold for us are void, so they take a full
 * digest at their next HELLO, which this sends at once. */
int vss_node_reset_epoch(vss_node *n, vss_time now);

/* Start a gossip round now (normally timer-driven). */
int vss_node_gossip_now(vss_node *n, vss_time now);

/* ---- application: resolve and fetch ---------------------------------- */

typedef enum vss_resolve_mode {
  VSS_RESOLVE_LOCAL_ONLY = 0,
  VSS_RESOLVE_FETCH_ONLY,
  VSS_RESOLVE_FETCH_OR_GENERATE,
  VSS_RESOLVE_GENERATE_BLOCKING,
  VSS_RESOLVE_GENERATE_ASYNC
} vss_resolve_mode;

typedef enum vss_resolved {
  VSS_RESOLVED_LOCAL = 0, /* rel_path is valid */
  VSS_RESOLVED_REMOTE,    /* device is the best source, est_cost its cost */
  VSS_RESOLVED_PENDING,   /* a job (fetch or generation) is under way */
  VSS_RESOLVED_MISSING    /* nothing local, no source, no generation */
} vss_resolved;

typedef struct vss_resolution {
  vss_resolved kind;
  char rel_path[VSS_REL_PATH_MAX + 1];
  vss_uuid device;
  vss_time est_cost; /* estimated fetch (or generation) time */
  uint64_t job;      /* PENDING: the job to wait for */
  int generate;      /* PENDING: 1 when the job is a local generation */
} vss_resolution;

/* Decide only: local, best remote source, or what would happen. Starts
 * nothing except for the GENERATE_* modes, which start a generation job
 * when the sidecar is not local. */
int vss_node_resolve(vss_node *n, const vss_key *key, vss_format fmt,
                     vss_resolve_mode mode, vss_resolution *out, vss_time now);

#define VSS_FETCH_FOREGROUND 0x1       /* ahead of every prefetch */
#define VSS_FETCH_GENERATE_ON_FAIL 0x2 /* fall back to local generation */

/* Start a transfer job (sources chosen by measured rate and RTT). Ends in
 * VSS_EV_FETCH_DONE or VSS_EV_FETCH_FAILED (or GENERATED on fallback). A
 * fetch for a key already in flight joins that job (raising priority). */
int vss_node_fetch(vss_node *n, const vss_key *key, vss_format fmt,
                   uint32_t flags, uint64_t *job, vss_time now);
/* Resolve, then act as the mode says (start the fetch or generation). The
 * usual entry point for "the user opened this". */
int vss_node_request(vss_node *n, const vss_key *key, vss_format fmt,
                     vss_resolve_mode mode, vss_resolution *out, vss_time now);
int vss_node_cancel(vss_node *n, uint64_t job, vss_time now);

/* ---- introspection (status, reports) --------------------------------- */

typedef struct vss_peer_info {
  vss_uuid device;
  int online;
  vss_link_info link;
  uint64_t entries; /* cached availability entries */
  uint64_t seen_epoch, seen_seq;
  vss_time last_heard; /* VSS_TIME_UNSET when never */
  double rate;         /* estimated bytes/s */
  vss_time rtt;        /* estimated round trip */
} vss_peer_info;

typedef struct vss_job_info {
  uint64_t id;
  vss_key key;
  vss_format format;
  uint64_t size, done; /* bytes; size 0 while unknown */
  uint32_t flags;      /* VSS_EVF_FOREGROUND / VSS_EVF_PREFETCH */
  uint32_t sources;    /* sources in use */
  vss_time started;
} vss_job_info;

/* Fill up to cap entries; return the total number. */
int vss_node_peers(const vss_node *n, vss_peer_info *out, size_t cap);
/* Bytes the presence cache (what peers hold) has allocated. */
uint64_t vss_node_cache_bytes(const vss_node *n);
int vss_node_jobs(const vss_node *n, vss_job_info *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
