/*
 * xfer_internal.h - the transfer engine's shared state, seen only by its
 * own modules (xfer.h is the contract the rest of the node uses):
 *
 *   xfer.c           public entry points and hooks (fetch, recv, peers,
 *                    offers, expiry), the engine's life
 *   xfer_job.c       job objects: maps, ready lists, start, settle, end,
 *                    the generation fallback
 *   xfer_req.c       request objects: ids, per-source lists, GET/CANCEL
 *   xfer_sched.c     source choice, chunk choice, windows, pumping,
 *                    deadlines, stalls and retry backoff
 *   xfer_recv.c      META / DATA / ERROR from sources: verification,
 *                    temp-blob writes, commit
 *   xfer_serve.c     serving peers' GETs: queues, lazy DATA, hash lists
 *   xfer_prefetch.c  turning prefetch candidates into jobs, in slots
 *
 * Lifetimes: anything that may end a job (verification, errors, timers)
 * records the outcome on the job and xf_job_settle() acts on it once, at
 * one place. Loops that may end jobs collect ids first and look them up
 * again. Functions that may end a job say so.
 */
#ifndef VSS_XFER_INTERNAL_H
#define VSS_XFER_INTERNAL_H

#include "xfer.h"

#include "pcache.h"
#include "prefetch.h"
#include "theap.h"

#define XFER_SLICE (64u * 1024u) /* DATA payload per frame when serving */
#define XFER_MAX_SOURCES 32      /* holders a job uses at most */
#define XFER_SRC_MAX_ERRORS 3    /* bad chunks / stalls before a drop */
#define XFER_MAX_SERVES 65536    /* queued GETs per peer */
#define XFER_META_CACHE 4        /* chunk-hash lists kept for serving */
/* Lists longer than one META page assembled from one source at once:
 * what a source can make us hold unverified is then one list, at most
 * 32 B per chunk of a VSS_SIDECAR_MAX_SIZE sidecar (128 MiB). */
#define XFER_META_ASSEMBLE_PER_SOURCE 1
#define XFER_REQ_BUCKETS 4096 /* power of two */
#define XFER_JOB_BUCKETS 4096 /* first size of the job maps; they grow */
#define XFER_EXPIRE_BATCH 256 /* timers acted on per handle_expiry */
#define XFER_NO_PEER 0xffffu
/* Upload slots (xfer_serve.c): a holder serves the background GETs of
 * at most K peers at once, K = upload_slots or one per XFER_UP_SLOT_RATE
 * of its upload rate (declared, else measured while backlogged, else the
 * asking peer's link-class prior), within XFER_UP_SLOTS_MIN..MAX. Each
 * admitted requester then drains its window at >= ~1 MB/s instead of 99
 * windows queueing behind one 5 MB/s uplink past their timeouts. A slot
 * is kept while the holder has GETs queued and for a linger of two of
 * its round trips after (its next GETs are on their way); one held for
 * XFER_UP_TERM while others were turned away takes no new background
 * GETs (rotation, as BitTorrent's rechoke). Refused GETs get BUSY with
 * a retry-after of about the time the queued bytes take to drain. */
#define XFER_UP_SLOT_RATE 1.0e6
#define XFER_UP_SLOTS_MIN 2u
#define XFER_UP_SLOTS_MAX 64u
#define XFER_UP_SLOTS_DEFAULT 4u
#define XFER_UP_TERM (10ull * VSS_NS_PER_S)
#define XFER_UP_LINGER_MIN (50ull * VSS_NS_PER_MS)
#define XFER_UP_RATE_WINDOW VSS_NS_PER_S
/* Requester side of BUSY: the hint, clamped, with +-25% jitter (clients
 * turned away together must not come back together). */
#define XFER_BUSY_MIN (100ull * VSS_NS_PER_MS)
#define XFER_BUSY_DEFAULT (1000ull * VSS_NS_PER_MS)
#define XFER_BUSY_MAX (10000ull * VSS_NS_PER_MS)
#define XFER_BUSY_HINT_MIN (250ull * VSS_NS_PER_MS)
/* Stalls (a request past its deadline from a source that delivered
 * nothing lately): as TCP's RTO, a source's deadlines double with each
 * stall in a row, up to 2^XFER_STALL_SHIFT_MAX, until it delivers a
 * verified chunk - a source that became 100x slower is waited for, not
 * asked again and again for chunks it cannot finish in time. A stall
 * costs the chunk a backoff (at most XFER_STALL_BACKOFF_MAX) but no
 * retry budget, and never drops a job's last source: the job fails
 * (VSS_ERR_TIMEOUT) only when no chunk was verified for its patience
 * (source_patience / prefetch_patience). */
#define XFER_STALL_SHIFT_MAX 6
#define XFER_STALL_BACKOFF_MAX (5ull * VSS_NS_PER_S)
/* The slowest rate (bytes/s) at which a source is assumed to hash a
 * sidecar whose chunk-hash list it has not stored (rows from before
 * schema version 2: xfer_serve.c computes the list, synchronously,
 * before it answers anything else). BLAKE2b runs at ~600 MB/s on the
 * slow machines measured; a third of that leaves room for the disk. */
#define XFER_HASH_RATE 200e6

enum { CH_TODO = 0, CH_INFLIGHT, CH_HELD, CH_DONE };
enum { J_WAIT = 0, J_XFER, J_GEN };
/* Internal job flag: prefetch may only use links the policy allows. */
#define JF_RESTRICTED 0x100u

typedef struct xjob xjob;

/* A prefetch slot: what the policy's max_concurrent counts. A large
 * sidecar takes a slot of its own; small ones (one chunk at most) from
 * the same source share a batch slot holding up to that source's
 * request window in bytes, refilled as its members finish. A backlog of
 * thumbnails then keeps the source's window full instead of paying a
 * round trip per max_concurrent of them. */
typedef struct xslot {
  struct xslot *prev, *next;
  uint16_t peer;  /* the best source when its members started */
  int batch;      /* small sidecars of peer; else one large one */
  uint64_t bytes; /* sizes of the members not yet ended */
  uint32_t njobs;
} xslot;

typedef struct xreq {
  uint32_t id;
  uint16_t peer;
  uint8_t meta;    /* META-only request */
  uint8_t fg;      /* counted in the source's foreground window */
  int outstanding; /* still expecting bytes from the source */
  xjob *job;
  uint64_t chunk, off;
  uint32_t len, got;
  uint64_t ahead; /* source's bytes in flight when this was sent */
  uint64_t seq;   /* link order: the source's list order, for timers */
  uint32_t hpos;  /* in the deadline heap while outstanding */
  vss_time sent_at, deadline; /* set deadlines with xf_req_set_deadline */
  uint8_t *buf;               /* the chunk, verified before it is written */
  uint32_t synth;   /* bytes of it that came as XFER_SYNTH (simulation) */
  uint8_t tampered; /* an XFER_SYNTH marker was not zero */
  struct xreq *sprev, *snext; /* source's outstanding list */
  struct xreq *jprev, *jnext; /* job's requests (outstanding and held) */
  struct xreq *hnext;         /* id map */
} xreq;

typedef struct xchunk {
  uint8_t state, tries;
  uint16_t avoid;      /* source that failed it last */
  vss_time not_before; /* when `avoid` may have it again */
} xchunk;

/* A job's source. While the job is on the ready lists and the source is
 * not dropped, it is linked on its peer's ready list (xpeer.rhead): a
 * source's pump visits only the jobs it may serve, not every ready job
 * of the node (64 peers x 20,000 jobs made each timer cost 36 ms). */
typedef struct jsrc {
  uint16_t peer;
  uint8_t dropped, errors;
  uint8_t gone;      /* dropped because the peer went offline */
  uint8_t linked;    /* on the peer's ready list */
  uint64_t bytes;    /* delivered to this job, verified or not */
  uint64_t verified; /* of which passed verification (the row's source) */
  struct xjob *job;
  struct jsrc *rprev, *rnext;
} jsrc;

struct xjob {
  uint64_t id;
  vss_key key;
  vss_format fmt;
  uint32_t flags;   /* VSS_FETCH_* | JF_* */
  uint32_t evflags; /* VSS_EVF_FOREGROUND / VSS_EVF_PREFETCH */
  int state;
  int eager;           /* prefetch of an eager kind (lazy ones wait for it) */
  xslot *slot;         /* prefetch only; NULL when not (or no longer) one */
  uint64_t slot_bytes; /* what this job counts in its slot */
  int fail_rc;         /* first fatal error, acted on by xf_job_settle */
  int why;             /* last reason a source was dropped for misbehaving */
  uint64_t size;
  vss_hash checksum;
  uint64_t nchunks, ndone, ntodo, cursor;
  xchunk *ch;
  vss_hash *hashes; /* verified chunk-hash list (multi-chunk) */
  /* The list being received page by page (unverified): hashes
   * 0 .. mnext-1 from source mpeer. Grows with the bytes that source
   * actually sent, never from the claimed size. */
  vss_hash *mlist;
  uint64_t mnext;
  uint16_t mpeer;
  uint8_t massm; /* counted in mpeer's xpeer.massm (list of pages due) */
  int meta_inflight;
  uint32_t meta_tries;
  void *tmp;
  jsrc src[XFER_MAX_SOURCES];
  uint32_t nsrc;
  xreq *reqs;
  vss_time started;
  vss_time wake_at; /* set with xf_job_set_wake (the heap follows it) */
  /* Sources all offline: the job waits (verified chunks kept) until a
   * source is back or this time (source/prefetch_patience) passes. */
  vss_time wait_until;
  /* The last verified progress (chunk or list page; the start before
   * any). A job with a stalled request fails past its patience from
   * here (stalled: a stall since). */
  vss_time progress_at;
  int stalled;
  /* Temp blobs (VSS_LIMIT_TEMP_BLOBS): a multi-chunk job holds a slot
   * from its first chunk request (or a resumed temp) to its end; one
   * that finds none waits in the engine's FIFO (twait, off the ready
   * lists) until a slot frees. */
  uint8_t tslot, twait;
  xjob *tprev, *tnext;
  int recorded;      /* a resume record in the store (xfer_resume.c) */
  uint8_t *keep;     /* resumed: chunks verified before the restart */
  uint64_t keep_len; /* bytes of keep */
  uint64_t keep_size;
  vss_hash keep_sum; /* what the kept bytes are of */
  uint32_t hpos;     /* in the wake-up heap while wake_at is set */
  uint64_t done_bytes;
  xjob *prev, *next;   /* all jobs, creation order */
  xjob *rprev, *rnext; /* ready list (has work to hand out) */
  int ready;
  xjob *hnext; /* key map */
  xjob *inext; /* id map */
};

/* Client side of one peer: our requests to it. */
typedef struct xsrc {
  xreq *head, *tail;
  uint64_t inflight, fg_inflight; /* requested bytes not yet arrived */
  uint32_t nreq;
  vss_time last_progress;
  /* It answered BUSY: no background request before busy_until (0 =
   * not busy); busy_run > 0 until its next DATA: one request at a time
   * (a probe), not a window that would all come back BUSY. */
  vss_time busy_until;
  uint32_t busy_run;
  uint32_t stalls;   /* stalls in a row (deadlines scale by 2^stalls) */
  vss_time stall_at; /* the last one */
} xsrc;

/* Server side of one peer: its GETs to us. */
typedef struct xserve {
  struct xserve *next, *prev; /* queue */
  struct xserve *hnext;       /* the peer's map by req_id (XFER_CANCEL) */
  uint8_t q;                  /* the queue it is in: 0 foreground */
  uint32_t req_id;
  vss_key key;
  vss_format fmt;
  uint64_t off, end, bytes;
} xserve;

typedef struct xpeer {
  xsrc c;
  jsrc *rhead[2], *rtail[2]; /* ready jobs using this source, by class */
  xserve *qh[2], *qt[2];     /* 0 foreground, 1 background */
  uint32_t nserve;
  uint32_t massm;  /* jobs assembling a multi-page list from it */
  uint64_t qbytes; /* bytes of its queued GETs not yet sent */
  /* Its upload slot (xfer_serve.c): held since up_since; closing = no
   * new background GETs (rotated out, or preempted by a foreground
   * requester), freed when its queue is empty; idle_at = when its
   * queue last emptied (UNSET while it has GETs queued). */
  uint8_t up_slot, up_closing;
  vss_time up_since, up_idle_at;
  xserve **smap;   /* queued GETs by req_id; nserve <= smap_n when it can */
  uint32_t smap_n; /* buckets, a power of two (0: none yet) */
} xpeer;

typedef struct xmeta {
  vss_key key;
  vss_format fmt;
  uint64_t size, used;
  vss_hash checksum;
  vss_hash *hashes;
  uint64_t n;
} xmeta;

struct vss_xfer {
  vss_node *n;
  xpeer *peers[VSS_MAX_PEERS];
  xjob *jobs_head, *jobs_tail;
  uint64_t njobs;
  xjob *ready_head[2], *ready_tail[2]; /* 0 foreground, 1 background */
  /* Sources whose windows may take work since the last pump (a
   * request ended, a job woke): handle_expiry pumps these alone. */
  uint64_t dirty_bits[VSS_MAX_PEERS / 64];
  uint16_t dirty[VSS_MAX_PEERS];
  uint32_t ndirty;
  xjob **jmap, **imap; /* by key, by id; nbuckets each */
  size_t nbuckets;     /* power of two, >= njobs when memory allows */
  xreq *rmap[XFER_REQ_BUCKETS];
  vss_theap rheap;  /* outstanding requests by deadline */
  vss_theap jheap;  /* jobs by wake_at */
  uint64_t req_seq; /* xreq.seq */
  void **due;       /* scratch for the timers due, room for due_cap */
  size_t due_cap;
  uint64_t next_job;
  uint32_t next_req;
  uint32_t nfg, npf_eager; /* active foreground / eager prefetch jobs */
  uint64_t xfer_bytes;     /* sizes of the jobs transferring (J_XFER) */
  xslot *slots;            /* prefetch slots in use */
  uint32_t nslots;
  vss_time expiry;
  vss_buf scratch;
  uint8_t *rbuf; /* server reads, VSS_CHUNK_SIZE */
  xmeta meta[XFER_META_CACHE];
  uint64_t meta_tick;
  vss_prefetch *pf;
  int resume_pending; /* records to resume at the first handle_expiry */
  vss_time now;       /* latest time an entry point was given (blame decay) */
  /* Serving: upload slot holders, bytes queued for all peers, the
   * upload rate measured over windows in which something stayed queued,
   * and when a peer was last turned away. */
  uint16_t up_hold[XFER_UP_SLOTS_MAX * 2];
  uint32_t nup;
  uint64_t up_queued;
  double up_rate;
  vss_time up_win_at; /* UNSET: no window open (nothing queued) */
  uint64_t up_win_bytes;
  vss_time up_refused_at;
  uint64_t up_refused; /* GETs answered BUSY (tests, figures) */
  /* Requesting: the earliest busy_until of the sources (UNSET: none). */
  vss_time busy_wake;
  /* Temp-blob slots held by jobs, and the jobs waiting for one. */
  uint64_t ntemp;
  xjob *twait_head, *twait_tail;
  uint64_t ntwait;
};

/* ---- small helpers --------------------------------------------------- */

static inline const vss_node_config *xf_cfg(const vss_xfer *x) {
  return &x->n->cfg;
}

static inline vss_peer *xf_peer_at(const vss_xfer *x, uint16_t idx) {
  return vss__peer_at(x->n, idx);
}

/* Extra time a META request for a sidecar of `size` bytes may take: the
 * source may have to hash the whole sidecar first. */
static inline vss_time xf_hash_allowance(uint64_t size) {
  double t = (double)size * 1e9 / XFER_HASH_RATE;
  return t >= 1.8e19 ? VSS_TIME_UNSET - 1 : (vss_time)t;
}

/* Entry points note the time: source ranking reads blame decayed to it. */
static inline void xf_tick(vss_xfer *x, vss_time now) {
  if (now != VSS_TIME_UNSET && (x->now == VSS_TIME_UNSET || now > x->now))
    x->now = now;
}

static inline uint64_t xf_chunk_len(const xjob *j, uint64_t c) {
  uint64_t off = c * VSS_CHUNK_SIZE;
  uint64_t left = j->size - off;
  return left < VSS_CHUNK_SIZE ? left : VSS_CHUNK_SIZE;
}

/* ---- xfer_job.c ------------------------------------------------------ */

void xf_emit(vss_xfer *x, vss_event_type t, const xjob *j, const vss_peer *p,
             uint64_t bytes, uint64_t count, int rc, vss_time now);
xjob *xf_job_by_key(const vss_xfer *x, const vss_key *key);
xjob *xf_job_by_id(const vss_xfer *x, uint64_t id);
/* The job's timer (VSS_TIME_UNSET: none). */
void xf_job_set_wake(vss_xfer *x, xjob *j, vss_time t);
void xf_ready_insert(vss_xfer *x, xjob *j);
void xf_ready_remove(vss_xfer *x, xjob *j);
/* Counters the prefetch policy reads: sign +1 on entry, -1 on exit
 * (which also releases a prefetch's slot). */
void xf_job_account(vss_xfer *x, xjob *j, int sign);
xjob *xf_job_new(vss_xfer *x, const vss_key *key, vss_format fmt,
                 uint32_t flags, uint32_t evflags, vss_time now);
/* Remove a job from every list and free it (requests cancelled). */
void xf_job_free(vss_xfer *x, xjob *j, vss_time now);
/* j's chunk table, from a verified size (one chunk, or a verified
 * chunk-hash list). */
int xf_job_chunks_init(xjob *j);
/* Start and pump a job; settle it. May end it. */
int xf_job_launch(vss_xfer *x, xjob *j, vss_time now);
/* Act on what happened to a transferring job. Returns 1 when it ended. */
int xf_job_settle(vss_xfer *x, xjob *j, vss_time now);
/* The job's timer from its chunks' backoffs and its patience. */
void xf_job_rewake(vss_xfer *x, xjob *j, vss_time now);
/* Ends j with FETCH_FAILED. */
void xf_job_failed(vss_xfer *x, xjob *j, int rc, vss_time now);
/* A fetch failed for good: generate when asked to, else end j. */
void xf_job_fail(vss_xfer *x, xjob *j, int rc, vss_time now);
/* Hand j to the application's generator. May end j. */
int xf_job_generate(vss_xfer *x, xjob *j, vss_time now);
/* A temp-blob slot for j's chunks: 1 when j holds one (or needs none: a
 * one-chunk sidecar opens, writes and commits its temp within one call,
 * and one slot of the bound is kept for that); 0 when j now waits for
 * one (twait; off the ready lists once its pump sees it has no work). */
int xf_temp_acquire(vss_xfer *x, xjob *j);
/* For a resumed temp: a slot now, or 0 (none free; no waiting). */
int xf_temp_try(vss_xfer *x, xjob *j);
/* j's slot goes back (ended, reset) and the first waiter takes it. */
void xf_temp_release(vss_xfer *x, xjob *j, vss_time now);

/* ---- xfer_req.c ------------------------------------------------------ */

xpeer *xf_xp_get(vss_xfer *x, uint16_t idx);
xreq *xf_req_find(const vss_xfer *x, uint32_t id);
/* The source owes nothing more for r: release its window share. */
void xf_req_settle_source(vss_xfer *x, xreq *r, vss_time now);
void xf_req_free(vss_xfer *x, xreq *r, vss_time now);
/* Forget a request the source still owes; tell it when it can hear. */
void xf_req_abandon(vss_xfer *x, xreq *r, vss_time now);
void xf_req_set_deadline(vss_xfer *x, xreq *r, vss_time t);
int xf_send_meta_req(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp,
                     vss_time now);
/* Forget a list received in part (and its count at its source). */
void xf_mlist_drop(vss_xfer *x, xjob *j);
/* j's multi-page list no longer counts at its source (verified). */
void xf_mlist_uncount(vss_xfer *x, xjob *j);
int xf_send_chunk(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp, uint64_t c,
                  vss_time now);

/* ---- xfer_sched.c ---------------------------------------------------- */

int xf_src_usable(const vss_xfer *x, const xjob *j, const vss_peer *p);
jsrc *xf_job_src(xjob *j, uint16_t idx);
uint32_t xf_job_live_sources(const vss_xfer *x, const xjob *j);
vss_time xf_src_cost(const vss_xfer *x, uint16_t idx, uint64_t bytes);
size_t xf_job_holders(const vss_xfer *x, const xjob *j, vss_holder *h,
                      size_t cap);
int xf_job_add_source(vss_xfer *x, xjob *j, const vss_holder *h);
/* Index of the cheapest of n holders (queues included); n when none. */
size_t xf_best_holder(const vss_xfer *x, const vss_holder *h, size_t n, int bg);
vss_peer *xf_job_pick_target(vss_xfer *x, xjob *j);
void xf_job_refresh_sources(vss_xfer *x, xjob *j);
void xf_src_drop(vss_xfer *x, xjob *j, jsrc *s, int rc, vss_time now);
void xf_src_blame(vss_xfer *x, xjob *j, uint16_t idx, int rc, vss_time now);
/* Put a chunk back to be fetched again; counted: XF_RQ_* (xfer_sched.c). */
enum { XF_RQ_GONE = 0, XF_RQ_FAIL = 1, XF_RQ_STALL = 2 };
void xf_chunk_requeue(vss_xfer *x, xjob *j, uint64_t c, uint16_t culprit,
                      int counted, vss_time now);
/* A source's request deadline t, scaled by its stalls in a row. */
vss_time xf_stall_scale(const vss_xfer *x, uint16_t idx, vss_time t);
int xf_job_has_work(const xjob *j);
/* Pumping only sends requests: no job ends. */
void xf_pump_source(vss_xfer *x, vss_peer *p, vss_time now);
void xf_pump_all(vss_xfer *x, vss_time now);
/* Remember that source idx (or all of j's sources) may take work. */
void xf_dirty_peer(vss_xfer *x, uint16_t idx);
void xf_dirty_job(vss_xfer *x, const xjob *j);
/* Pump the sources marked dirty, then forget them. */
void xf_pump_dirty(vss_xfer *x, vss_time now);
/* Link / unlink one source of j on its peer's ready list. */
void xf_src_link(vss_xfer *x, xjob *j, jsrc *s);
void xf_src_unlink(vss_xfer *x, jsrc *s);
void xf_pump_sources_but(vss_xfer *x, xjob *j, uint16_t skip, vss_time now);
void xf_pump_job_sources(vss_xfer *x, xjob *j, vss_time now);
/* p answered r with VSS_ERR_BUSY: r's work goes back without blame or
 * retry budget, and p takes no background request for a while. */
int xf_on_busy(vss_xfer *x, vss_peer *p, xreq *r, uint32_t hint_ms,
               vss_time now);
/* Is source idx refusing background requests at now? */
int xf_src_busy(const vss_xfer *x, uint16_t idx, vss_time now);
/* x->expiry from the earliest request deadline and job wake-up. */
void xf_rearm(vss_xfer *x);
/* Deadlines and wake-ups due at now. May end jobs. */
void xf_expire(vss_xfer *x, vss_time now);

/* ---- xfer_recv.c ----------------------------------------------------- */

/* Frames from a source; they may end the request's job. Negative: the
 * peer broke the protocol. */

int xf_on_meta(vss_xfer *x, vss_peer *p, const vss_msg_xfer_meta *m,
               vss_time now);
int xf_on_data(vss_xfer *x, vss_peer *p, const vss_msg_xfer_data *m,
               vss_time now);
int xf_on_error(vss_xfer *x, vss_peer *p, const vss_msg_xfer_error *m,
                vss_time now);
/* Every chunk verified and written: commit, report, free j. */
void xf_job_done(vss_xfer *x, xjob *j, vss_time now);

/* ---- xfer_serve.c ---------------------------------------------------- */

int xf_on_get(vss_xfer *x, vss_peer *p, const vss_msg_xfer_get *g);
int xf_on_cancel(vss_xfer *x, vss_peer *p, const vss_msg_xfer_cancel *m);
/* Drop a peer's queued GETs and its upload slot. */
void xf_serve_clear(vss_xfer *x, xpeer *xp, uint16_t idx);
/* Batch slots of a freed peer slot stop naming it. */
void xf_pf_slots_forget(vss_xfer *x, uint16_t peer);
void xf_meta_cache_free(vss_xfer *x);

/* ---- xfer_resume.c --------------------------------------------------- */

/* A record for j (a request): written once, deleted when j ends. */
void xf_resume_record(vss_xfer *x, xjob *j);
void xf_resume_forget(vss_xfer *x, xjob *j);
/* Shutdown: every unfinished job recorded, verified bytes kept. */
void xf_resume_save_all(vss_xfer *x);
/* Any record to resume? (Read once, at vss_xfer_new.) */
int xf_resume_any(vss_xfer *x);
/* Start: the records become jobs (events FETCH_RESUMED / FAILED). May
 * end jobs. */
void xf_resume_load(vss_xfer *x, vss_time now);
/* job_start of a resumed job: 1 when its reopened temp is kept (the
 * target matches what was recorded); then xf_resume_apply marks the
 * kept chunks done once the chunk table exists. */
int xf_resume_keep(vss_xfer *x, xjob *j);
void xf_resume_apply(xjob *j);

/* ---- xfer_prefetch.c ------------------------------------------------- */

/* Start prefetch jobs while the policy allows. May end jobs. */
void xf_pf_pump(vss_xfer *x, vss_time now);
/* A peer is back: candidates parked for want of a reachable holder go
 * back to their queues, and the pump runs. May end jobs. */
void xf_pf_peer_up(vss_xfer *x, vss_peer *p, vss_time now);
/* j no longer counts in its prefetch slot (ended, or now foreground). */
void xf_pf_slot_leave(vss_xfer *x, xjob *j);

#endif
