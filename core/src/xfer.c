/*
 * xfer.c - sidecar transfer: client jobs and the serving of peers' GETs.
 *
 * Client. A job per sidecar (key + format). Its sources are the online
 * holders with the same size and checksum as the best-ranked one. Every
 * source keeps its own request window full (vss_est_window), so a fast
 * source pulls more chunks than a slow one and many small sidecars from
 * one peer share that window: 1000 thumbnails cost about one RTT, not
 * 1000. A source only takes a chunk when it would finish it about as
 * soon as the best source could, or when the job's remaining work
 * outlasts it anyway (so a slow source helps with a 1 GB proxy but never
 * delays a thumbnail).
 *
 * Verification is two-level (model.h): a one-chunk sidecar is checked
 * against the holder's checksum directly; a larger one first gets the
 * chunk-hash list (META, asked for in parallel with the first chunks),
 * checked against the checksum, then every chunk as it lands. Chunks are
 * buffered per request and only verified bytes reach the temp blob. A bad
 * chunk blames its source, which is dropped after repeated errors.
 *
 * Commit order: blob commit, then the store's set_local (sidecar READY +
 * availability has=1 in one transaction). A crash at any point leaves at
 * worst an orphan blob, never a READY row without its verified bytes.
 *
 * Server. GETs for sidecars we hold READY queue per peer, foreground
 * ahead of background; DATA frames are produced lazily when the driver
 * asks for the next frame, so a foreground GET overtakes prefetch bytes
 * not yet sent. A peer names a sidecar key, never a path.
 *
 * Lifetimes: anything that may end a job (verification, errors, timers)
 * records the outcome on the job and job_settle() acts on it once, at one
 * place. Loops that may end jobs collect ids first and look them up again.
 */
#include "xfer.h"

#include "pcache.h"
#include "prefetch.h"

#include <stdlib.h>
#include <string.h>

#define XFER_SLICE (64u * 1024u) /* DATA payload per frame when serving */
#define XFER_MAX_SOURCES 32      /* holders a job uses at most */
#define XFER_SRC_MAX_ERRORS 3    /* bad chunks / stalls before a drop */
#define XFER_MAX_SERVES 65536    /* queued GETs per peer */
#define XFER_META_CACHE 4        /* chunk-hash lists kept for serving */
#define XFER_REQ_BUCKETS 4096    /* power of two */
#define XFER_JOB_BUCKETS 4096    /* power of two */
#define XFER_NO_PEER 0xffffu

enum { CH_TODO = 0, CH_INFLIGHT, CH_HELD, CH_DONE };
enum { J_WAIT = 0, J_XFER, J_GEN };
/* Internal job flag: prefetch may only use links the policy allows. */
#define JF_RESTRICTED 0x100u

typedef struct xjob xjob;

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
  vss_time sent_at, deadline;
  uint8_t *buf;               /* the chunk, verified before it is written */
  struct xreq *sprev, *snext; /* source's outstanding list */
  struct xreq *jprev, *jnext; /* job's requests (outstanding and held) */
  struct xreq *hnext;         /* id map */
} xreq;

typedef struct xchunk {
  uint8_t state, tries;
  uint16_t avoid;      /* source that failed it last */
  vss_time not_before; /* when `avoid` may have it again */
} xchunk;

typedef struct jsrc {
  uint16_t peer;
  uint8_t dropped, errors;
  uint64_t bytes; /* delivered to this job */
} jsrc;

struct xjob {
  uint64_t id;
  vss_key key;
  vss_format fmt;
  uint32_t flags;   /* VSS_FETCH_* | JF_* */
  uint32_t evflags; /* VSS_EVF_FOREGROUND / VSS_EVF_PREFETCH */
  int state;
  int eager;   /* prefetch of an eager kind (lazy ones wait for it) */
  int fail_rc; /* first fatal error, acted on by job_settle */
  int why;     /* last reason a source was dropped for misbehaving */
  uint64_t size;
  vss_hash checksum;
  uint64_t nchunks, ndone, ntodo, cursor;
  xchunk *ch;
  vss_hash *hashes; /* verified chunk-hash list (multi-chunk) */
  int meta_inflight;
  uint32_t meta_tries;
  void *tmp;
  jsrc src[XFER_MAX_SOURCES];
  uint32_t nsrc;
  xreq *reqs;
  vss_time started, wake_at;
  uint64_t done_bytes;
  xjob *prev, *next;   /* all jobs, creation order */
  xjob *rprev, *rnext; /* ready list (has work to hand out) */
  int ready;
  xjob *hnext; /* key map */
};

/* Client side of one peer: our requests to it. */
typedef struct xsrc {
  xreq *head, *tail;
  uint64_t inflight, fg_inflight; /* requested bytes not yet arrived */
  uint32_t nreq;
  vss_time last_progress;
} xsrc;

/* Server side of one peer: its GETs to us. */
typedef struct xserve {
  struct xserve *next;
  uint32_t req_id;
  vss_key key;
  vss_format fmt;
  uint64_t off, end, bytes;
} xserve;

typedef struct xpeer {
  xsrc c;
  xserve *qh[2], *qt[2]; /* 0 foreground, 1 background */
  uint32_t nserve;
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
  xjob *jmap[XFER_JOB_BUCKETS];
  xreq *rmap[XFER_REQ_BUCKETS];
  uint64_t next_job;
  uint32_t next_req;
  uint32_t nfg, npf, npf_eager; /* active foreground / prefetch jobs */
  vss_time expiry;
  vss_buf scratch;
  uint8_t *rbuf; /* server reads, VSS_CHUNK_SIZE */
  xmeta meta[XFER_META_CACHE];
  uint64_t meta_tick;
  vss_prefetch *pf;
};

static int job_settle(vss_xfer *x, xjob *j, vss_time now);
static void pump_source(vss_xfer *x, vss_peer *p, vss_time now);
static void pf_pump(vss_xfer *x, vss_time now);

/* ---- small helpers --------------------------------------------------- */

static const vss_node_config *cfg(const vss_xfer *x) {
  return &x->n->cfg;
}

static vss_peer *peer_at(const vss_xfer *x, uint16_t idx) {
  return idx < x->n->npeers ? x->n->peers[idx] : NULL;
}

static xpeer *xp_get(vss_xfer *x, uint16_t idx) {
  if (idx >= VSS_MAX_PEERS) return NULL;
  if (!x->peers[idx]) {
    x->peers[idx] = calloc(1, sizeof(xpeer));
    if (x->peers[idx]) x->peers[idx]->c.last_progress = VSS_TIME_UNSET;
  }
  return x->peers[idx];
}

static uint64_t src_inflight(const vss_xfer *x, uint16_t idx) {
  return idx < VSS_MAX_PEERS && x->peers[idx] ? x->peers[idx]->c.inflight : 0;
}

static uint32_t key_hash(const vss_key *k) {
  uint32_t h = 2166136261u; /* FNV-1a over uuid, kind, variant */
  for (int i = 0; i < 16; i++)
    h = (h ^ k->content.b[i]) * 16777619u;
  h = (h ^ (uint32_t)k->kind) * 16777619u;
  for (const char *v = k->variant; *v; v++)
    h = (h ^ (uint8_t)*v) * 16777619u;
  return h;
}

static uint64_t chunk_len(const xjob *j, uint64_t c) {
  uint64_t off = c * VSS_CHUNK_SIZE;
  uint64_t left = j->size - off;
  return left < VSS_CHUNK_SIZE ? left : VSS_CHUNK_SIZE;
}

static void emit(vss_xfer *x, vss_event_type t, const xjob *j,
                 const vss_peer *p, uint64_t bytes, uint64_t count, int rc,
                 vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = t;
  if (p) ev.peer = p->id;
  if (j) {
    ev.key = j->key;
    ev.format = j->fmt;
    ev.job = j->id;
    ev.flags = j->evflags;
    ev.duration = now >= j->started ? now - j->started : 0;
  }
  ev.bytes = bytes;
  ev.count = count;
  ev.rc = rc;
  vss__emit(x->n, &ev, now);
}

/* ---- maps: jobs by key and id, requests by id ------------------------ */

static xjob *job_by_key(const vss_xfer *x, const vss_key *key) {
  for (xjob *j = x->jmap[key_hash(key) & (XFER_JOB_BUCKETS - 1)]; j;
       j = j->hnext)
    if (vss_key_cmp(&j->key, key) == 0) return j;
  return NULL;
}

static xjob *job_by_id(const vss_xfer *x, uint64_t id) {
  for (xjob *j = x->jobs_head; j; j = j->next)
    if (j->id == id) return j;
  return NULL;
}

static xreq *req_find(const vss_xfer *x, uint32_t id) {
  for (xreq *r = x->rmap[id & (XFER_REQ_BUCKETS - 1)]; r; r = r->hnext)
    if (r->id == id) return r;
  return NULL;
}

static void req_map_del(vss_xfer *x, xreq *r) {
  xreq **pp = &x->rmap[r->id & (XFER_REQ_BUCKETS - 1)];
  while (*pp && *pp != r)
    pp = &(*pp)->hnext;
  if (*pp) *pp = r->hnext;
  r->hnext = NULL;
}

/* ---- job lists and accounting ---------------------------------------- */

static void ready_insert(vss_xfer *x, xjob *j) {
  if (j->ready) return;
  int c = (j->evflags & VSS_EVF_FOREGROUND) ? 0 : 1;
  j->rnext = NULL;
  j->rprev = x->ready_tail[c];
  if (j->rprev)
    j->rprev->rnext = j;
  else
    x->ready_head[c] = j;
  x->ready_tail[c] = j;
  j->ready = 1;
}

static void ready_remove(vss_xfer *x, xjob *j) {
  if (!j->ready) return;
  int c = (j->evflags & VSS_EVF_FOREGROUND) ? 0 : 1;
  if (j->rprev)
    j->rprev->rnext = j->rnext;
  else
    x->ready_head[c] = j->rnext;
  if (j->rnext)
    j->rnext->rprev = j->rprev;
  else
    x->ready_tail[c] = j->rprev;
  j->rprev = j->rnext = NULL;
  j->ready = 0;
}

/* Counters the prefetch policy reads: sign +1 on entry, -1 on exit. */
static void job_account(vss_xfer *x, const xjob *j, int sign) {
  if (j->evflags & VSS_EVF_FOREGROUND) x->nfg += (uint32_t)sign;
  if (j->evflags & VSS_EVF_PREFETCH) {
    x->npf += (uint32_t)sign;
    if (j->eager) x->npf_eager += (uint32_t)sign;
  }
}

static xjob *job_new(vss_xfer *x, const vss_key *key, vss_format fmt,
                     uint32_t flags, uint32_t evflags, vss_time now) {
  xjob *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->id = ++x->next_job;
  j->key = *key;
  j->fmt = fmt;
  j->flags = flags;
  j->evflags = evflags;
  j->state = J_WAIT;
  j->started = now;
  j->wake_at = VSS_TIME_UNSET;
  j->prev = x->jobs_tail;
  if (j->prev)
    j->prev->next = j;
  else
    x->jobs_head = j;
  x->jobs_tail = j;
  uint32_t b = key_hash(key) & (XFER_JOB_BUCKETS - 1);
  j->hnext = x->jmap[b];
  x->jmap[b] = j;
  x->njobs++;
  job_account(x, j, +1);
  return j;
}

/* ---- requests -------------------------------------------------------- */

static void src_list_del(xsrc *s, xreq *r) {
  if (r->sprev)
    r->sprev->snext = r->snext;
  else
    s->head = r->snext;
  if (r->snext)
    r->snext->sprev = r->sprev;
  else
    s->tail = r->sprev;
  r->sprev = r->snext = NULL;
  s->nreq--;
}

/* The source owes nothing more for r: release its window share. */
static void req_settle_source(vss_xfer *x, xreq *r, vss_time now) {
  if (!r->outstanding) return;
  r->outstanding = 0;
  req_map_del(x, r);
  xpeer *xp = x->peers[r->peer];
  if (!xp) return;
  uint64_t left = r->meta ? 0 : (uint64_t)(r->len - r->got);
  xp->c.inflight -= left;
  if (r->fg) xp->c.fg_inflight -= left;
  src_list_del(&xp->c, r);
  vss_peer *p = peer_at(x, r->peer);
  if (xp->c.nreq == 0 && p) vss_est_idle(&p->est, now);
}

static void req_free(vss_xfer *x, xreq *r, vss_time now) {
  req_settle_source(x, r, now);
  xjob *j = r->job;
  if (r->jprev)
    r->jprev->jnext = r->jnext;
  else
    j->reqs = r->jnext;
  if (r->jnext) r->jnext->jprev = r->jprev;
  free(r->buf);
  free(r);
}

static void send_cancel(vss_xfer *x, uint16_t idx, uint32_t req_id) {
  vss_peer *p = peer_at(x, idx);
  if (!p || !p->online) return;
  x->scratch.len = 0;
  if (vss_wire_encode_xfer_cancel(&x->scratch, req_id) == 0)
    vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

/* Forget a request the source still owes; tell it when it can hear. */
static void req_abandon(vss_xfer *x, xreq *r, vss_time now) {
  if (r->outstanding) send_cancel(x, r->peer, r->id);
  req_free(x, r, now);
}

static xreq *req_new(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp) {
  xreq *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  do {
    r->id = ++x->next_req;
  } while (r->id == 0 || req_find(x, r->id));
  r->peer = p->idx;
  r->job = j;
  r->fg = (j->evflags & VSS_EVF_FOREGROUND) ? 1 : 0;
  r->ahead = xp->c.inflight;
  return r;
}

/* Link a request that has been sent into the maps and lists. */
static void req_link(vss_xfer *x, xreq *r, xpeer *xp, vss_time now) {
  xjob *j = r->job;
  r->outstanding = 1;
  r->sent_at = now;
  uint32_t b = r->id & (XFER_REQ_BUCKETS - 1);
  r->hnext = x->rmap[b];
  x->rmap[b] = r;
  r->sprev = xp->c.tail;
  if (r->sprev)
    r->sprev->snext = r;
  else
    xp->c.head = r;
  xp->c.tail = r;
  xp->c.nreq++;
  r->jnext = j->reqs;
  if (j->reqs) j->reqs->jprev = r;
  j->reqs = r;
  if (!r->meta) {
    xp->c.inflight += r->len;
    if (r->fg) xp->c.fg_inflight += r->len;
  }
}

static int send_get(vss_xfer *x, vss_peer *p, const xreq *r, uint32_t flags) {
  const xjob *j = r->job;
  vss_msg_xfer_get g;
  memset(&g, 0, sizeof(g));
  g.req_id = r->id;
  g.key = j->key;
  g.format = j->fmt;
  g.offset = r->off;
  g.length = r->len;
  g.flags = flags | (r->fg ? VSS_GET_FOREGROUND : 0);
  x->scratch.len = 0;
  int rc = vss_wire_encode_xfer_get(&x->scratch, &g);
  return rc ? rc : vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

static int send_meta_req(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp,
                         vss_time now) {
  xreq *r = req_new(x, j, p, xp);
  if (!r) return VSS_ERR_NOMEM;
  r->meta = 1;
  r->chunk = UINT64_MAX;
  int rc = send_get(x, p, r, VSS_GET_META);
  if (rc) {
    free(r);
    return rc;
  }
  r->deadline = now + vss_est_timeout(&p->est, j->nchunks * VSS_HASH_LEN, 0);
  req_link(x, r, xp, now);
  j->meta_inflight = 1;
  return 0;
}

static int send_chunk(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp, uint64_t c,
                      vss_time now) {
  xreq *r = req_new(x, j, p, xp);
  if (!r) return VSS_ERR_NOMEM;
  r->chunk = c;
  r->off = c * VSS_CHUNK_SIZE;
  r->len = (uint32_t)chunk_len(j, c);
  r->buf = malloc(r->len ? r->len : 1);
  int rc = r->buf ? send_get(x, p, r, 0) : VSS_ERR_NOMEM;
  if (rc) {
    free(r->buf);
    free(r);
    return rc;
  }
  r->deadline = now + vss_est_timeout(&p->est, r->len, r->ahead);
  req_link(x, r, xp, now);
  j->ch[c].state = CH_INFLIGHT;
  j->ntodo--;
  if (j->ch[c].tries) emit(x, VSS_EV_RETRY, j, p, r->len, c, 0, now);
  return 0;
}

/* ---- sources --------------------------------------------------------- */

static int src_usable(const vss_xfer *x, const xjob *j, const vss_peer *p) {
  if (!p || !p->online) return 0;
  return !(j->flags & JF_RESTRICTED) ||
         vss_prefetch_link_ok(&cfg(x)->prefetch, &p->link);
}

static jsrc *job_src(xjob *j, uint16_t idx) {
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (j->src[i].peer == idx) return &j->src[i];
  return NULL;
}

static uint32_t job_live_sources(const vss_xfer *x, const xjob *j) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    n += !j->src[i].dropped && src_usable(x, j, peer_at(x, j->src[i].peer));
  return n;
}

static vss_time src_cost(const vss_xfer *x, uint16_t idx, uint64_t bytes) {
  const vss_peer *p = peer_at(x, idx);
  return vss_est_cost(&p->est, bytes, src_inflight(x, idx));
}

/* Holders usable for j, from the peer cache; returns how many. */
static size_t job_holders(const vss_xfer *x, const xjob *j, vss_holder *h,
                          size_t cap) {
  size_t n = vss_pcache_holders(x->n->pcache, &j->key, h, cap), k = 0;
  if (n > cap) n = cap;
  for (size_t i = 0; i < n; i++)
    if (h[i].format == j->fmt && src_usable(x, j, peer_at(x, h[i].peer)))
      h[k++] = h[i];
  return k;
}

/* Add (or revive) a holder as a source when it has the job's bytes. */
static int job_add_source(xjob *j, const vss_holder *h) {
  if (h->size != j->size || !vss_hash_eq(&h->checksum, &j->checksum)) return 0;
  jsrc *s = job_src(j, h->peer);
  if (s) {
    if (!s->dropped || s->errors >= XFER_SRC_MAX_ERRORS) return 0;
    s->dropped = 0; /* back online */
    return 1;
  }
  if (j->nsrc == XFER_MAX_SOURCES) return 0;
  s = &j->src[j->nsrc++];
  memset(s, 0, sizeof(*s));
  s->peer = h->peer;
  return 1;
}

/* Pick what to fetch (size, checksum of the cheapest holder) and every
 * holder that has exactly that. Returns the best source or NULL. */
static vss_peer *job_pick_target(vss_xfer *x, xjob *j) {
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = job_holders(x, j, h, XFER_MAX_SOURCES);
  size_t best = n;
  vss_time best_cost = VSS_TIME_UNSET;
  for (size_t i = 0; i < n; i++) {
    vss_time c = src_cost(x, h[i].peer, h[i].size);
    if (best == n || c < best_cost) {
      best = i;
      best_cost = c;
    }
  }
  if (best == n) return NULL;
  j->size = h[best].size;
  j->checksum = h[best].checksum;
  for (size_t i = 0; i < n; i++)
    job_add_source(j, &h[i]);
  return peer_at(x, h[best].peer);
}

/* New holders learned since the job started, and old ones back online. */
static void job_refresh_sources(vss_xfer *x, xjob *j) {
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = job_holders(x, j, h, XFER_MAX_SOURCES);
  for (size_t i = 0; i < n; i++)
    job_add_source(j, &h[i]);
}

static void src_drop(vss_xfer *x, xjob *j, jsrc *s, int rc, vss_time now) {
  if (s->dropped) return;
  s->dropped = 1;
  if (rc != VSS_ERR_UNKNOWN_PEER) j->why = rc;
  emit(x, VSS_EV_SOURCE_DROPPED, j, peer_at(x, s->peer), s->bytes, 0, rc, now);
}

/* A source misbehaved (bad chunk, stall): drop it after repeated errors. */
static void src_blame(vss_xfer *x, xjob *j, uint16_t idx, int rc,
                      vss_time now) {
  jsrc *s = job_src(j, idx);
  if (!s) return;
  if (s->errors < 255) s->errors++;
  if (s->errors >= XFER_SRC_MAX_ERRORS) src_drop(x, j, s, rc, now);
}

/* Should source idx take a piece of `len` bytes of j now? When it would
 * finish about as soon as the best source could (queues included), or
 * when the job's remaining work lasts longer than this piece anyway.
 * Sources that may not have this chunk (in backoff for it) do not count
 * as better. */
static int src_acceptable(const vss_xfer *x, const xjob *j, uint16_t idx,
                          uint64_t len, const xchunk *c, vss_time now) {
  vss_time mine = src_cost(x, idx, len), best = VSS_TIME_UNSET;
  double rate = 0;
  for (uint32_t i = 0; i < j->nsrc; i++) {
    const jsrc *s = &j->src[i];
    const vss_peer *p = peer_at(x, s->peer);
    if (s->dropped || !src_usable(x, j, p)) continue;
    rate += p->est.rate;
    if (c && c->avoid == s->peer && now < c->not_before) continue;
    best = vss__tmin(best, src_cost(x, s->peer, len));
  }
  if (best == VSS_TIME_UNSET || mine <= best + best / 8) return 1;
  double left = (double)j->ntodo * VSS_CHUNK_SIZE;
  return rate > 0 && (double)mine <= left / rate * 1e9;
}

/* ---- chunks ---------------------------------------------------------- */

static int chunk_eligible(const xchunk *c, uint16_t idx, vss_time now) {
  return c->state == CH_TODO && (c->avoid != idx || now >= c->not_before);
}

static uint64_t next_chunk_for(xjob *j, uint16_t idx, vss_time now) {
  while (j->cursor < j->nchunks && j->ch[j->cursor].state != CH_TODO)
    j->cursor++;
  for (uint64_t c = j->cursor; c < j->nchunks; c++)
    if (chunk_eligible(&j->ch[c], idx, now)) return c;
  return UINT64_MAX;
}

/* Put a chunk back to be fetched again. counted: a failure (retry budget
 * and backoff apply); otherwise the source simply went away. */
static void chunk_requeue(xjob *j, uint64_t c, uint16_t culprit, int counted,
                          const vss_node_config *cf, vss_time now) {
  xchunk *ch = &j->ch[c];
  if (ch->state == CH_DONE || ch->state == CH_TODO) return;
  ch->state = CH_TODO;
  j->ntodo++;
  if (c < j->cursor) j->cursor = c;
  if (!counted) return;
  if (++ch->tries > cf->max_retries && !j->fail_rc)
    j->fail_rc = VSS_ERR_RETRIES;
  ch->avoid = culprit;
  unsigned shift = ch->tries > 20 ? 20 : ch->tries - 1;
  ch->not_before = now + (cf->retry_backoff << shift);
  j->wake_at = vss__tmin(j->wake_at, ch->not_before);
}

static int meta_needed(const xjob *j) {
  return j->nchunks > 1 && !j->hashes && !j->meta_inflight;
}

static int job_has_work(const xjob *j) {
  return j->state == J_XFER && (j->ntodo > 0 || meta_needed(j));
}

/* ---- verify, write, commit ------------------------------------------- */

static int chunk_hash_ok(const xjob *j, uint64_t c, const vss_hash *h) {
  if (j->nchunks == 1) { /* checksum = H(H(chunk)) */
    vss_hash sum;
    vss_checksum_of_chunks(h, 1, &sum);
    return vss_hash_eq(&sum, &j->checksum);
  }
  return vss_hash_eq(h, &j->hashes[c]);
}

/* A request's chunk is complete and its hash is known: check, write. */
static void chunk_verify(vss_xfer *x, xjob *j, xreq *r, vss_time now) {
  uint64_t c = r->chunk;
  vss_hash h;
  vss_hash_bytes(r->buf, r->len, &h);
  if (!chunk_hash_ok(j, c, &h)) {
    emit(x, VSS_EV_CHUNK_BAD, j, peer_at(x, r->peer), r->len, c,
         VSS_ERR_CHECKSUM, now);
    uint16_t culprit = r->peer;
    req_free(x, r, now);
    chunk_requeue(j, c, culprit, 1, cfg(x), now);
    src_blame(x, j, culprit, VSS_ERR_CHECKSUM, now);
    return;
  }
  int rc = vss_blobs_write(x->n->blobs, j->tmp, r->off, r->buf, r->len);
  if (rc) {
    if (!j->fail_rc) j->fail_rc = VSS_ERR_IO;
    req_free(x, r, now);
    return;
  }
  j->ch[c].state = CH_DONE;
  j->ndone++;
  j->done_bytes += r->len;
  req_free(x, r, now);
}

/* The hash list just arrived: verify the chunks that waited for it. */
static void verify_held(vss_xfer *x, xjob *j, vss_time now) {
  xreq *r = j->reqs, *next;
  for (; r; r = next) {
    next = r->jnext;
    if (!r->outstanding && !r->meta && j->ch[r->chunk].state == CH_HELD)
      chunk_verify(x, j, r, now);
  }
}

static uint16_t main_source(const xjob *j) {
  uint16_t best = XFER_NO_PEER;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (best == XFER_NO_PEER || j->src[i].bytes > bytes) {
      best = j->src[i].peer;
      bytes = j->src[i].bytes;
    }
  return best;
}

/* Remove a job from every list and free it (requests cancelled). */
static void job_free(vss_xfer *x, xjob *j, vss_time now) {
  while (j->reqs)
    req_abandon(x, j->reqs, now);
  if (j->tmp) vss_blobs_discard(x->n->blobs, j->tmp);
  ready_remove(x, j);
  job_account(x, j, -1);
  if (j->prev)
    j->prev->next = j->next;
  else
    x->jobs_head = j->next;
  if (j->next)
    j->next->prev = j->prev;
  else
    x->jobs_tail = j->prev;
  xjob **pp = &x->jmap[key_hash(&j->key) & (XFER_JOB_BUCKETS - 1)];
  while (*pp && *pp != j)
    pp = &(*pp)->hnext;
  if (*pp) *pp = j->hnext;
  x->njobs--;
  free(j->ch);
  free(j->hashes);
  free(j);
}

/* Every chunk verified and written: blob commit, then the row. */
static int job_commit(vss_xfer *x, xjob *j, uint16_t src, vss_time now) {
  void *tmp = j->tmp;
  j->tmp = NULL; /* commit consumes it, success or not */
  int rc = vss_blobs_commit(x->n->blobs, tmp);
  if (rc) return VSS_ERR_IO;
  vss_sidecar_row row;
  memset(&row, 0, sizeof(row));
  row.key = j->key;
  row.format = j->fmt;
  vss_rel_path(&j->key, j->fmt, row.rel_path, sizeof(row.rel_path));
  row.size = j->size;
  row.checksum = j->checksum;
  row.status = VSS_STATUS_READY;
  const vss_peer *p = peer_at(x, src);
  if (p) row.source = p->id;
  row.version = 1;
  row.created_at = row.updated_at = now;
  rc = vss_store_set_local(x->n->store, &row, 1, now);
  if (rc) {
    /* No row: the bytes are an orphan nobody can see; reclaim them. */
    vss_blobs_remove(x->n->blobs, &j->key, j->fmt);
    return VSS_ERR_STORE;
  }
  return 0;
}

static void job_done(vss_xfer *x, xjob *j, vss_time now) {
  uint16_t src = main_source(j);
  int rc = job_commit(x, j, src, now);
  if (rc) {
    j->flags &= ~(uint32_t)VSS_FETCH_GENERATE_ON_FAIL;
    emit(x, VSS_EV_FETCH_FAILED, j, NULL, j->size, j->ndone, rc, now);
    job_free(x, j, now);
    return;
  }
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_FETCH_DONE;
  const vss_peer *p = peer_at(x, src);
  if (p) ev.peer = p->id;
  ev.key = j->key;
  ev.format = j->fmt;
  ev.job = j->id;
  ev.flags = j->evflags;
  ev.bytes = j->size;
  ev.count = j->nchunks;
  ev.duration = now - j->started;
  vss_key key = j->key;
  job_free(x, j, now);
  /* After the job is gone: peers hear of the new sidecar in the next
   * batched push, and whatever that triggers cannot see the job. */
  vss__local_recorded(x->n, &key, now);
  vss__emit(x->n, &ev, now);
}

/* ---- failure and the generation fallback ----------------------------- */

/* Drop a job's transfer state (requests, temp blob, chunk table). */
static void job_reset_xfer(vss_xfer *x, xjob *j, vss_time now) {
  while (j->reqs)
    req_abandon(x, j->reqs, now);
  if (j->tmp) vss_blobs_discard(x->n->blobs, j->tmp);
  j->tmp = NULL;
  ready_remove(x, j);
  free(j->ch);
  free(j->hashes);
  j->ch = NULL;
  j->hashes = NULL;
  j->nchunks = j->ndone = j->ntodo = j->cursor = 0;
  j->meta_inflight = 0;
  j->wake_at = VSS_TIME_UNSET;
}

static void job_failed(vss_xfer *x, xjob *j, int rc, vss_time now) {
  emit(x, VSS_EV_FETCH_FAILED, j, NULL, j->size, j->ndone, rc, now);
  job_free(x, j, now);
}

/* Ask the application to generate. Returns 0 when generation started
 * (or already finished), VSS_ERR_GENERATE when it could not; the job is
 * ended with FETCH_FAILED in that case. */
static int job_generate(vss_xfer *x, xjob *j, vss_time now) {
  job_reset_xfer(x, j, now);
  j->state = J_GEN;
  j->fail_rc = 0;
  const vss_node_config *cf = cfg(x);
  if (!cf->generate) {
    job_failed(x, j, VSS_ERR_GENERATE, now);
    return VSS_ERR_GENERATE;
  }
  emit(x, VSS_EV_GENERATE_STARTED, j, NULL, 0, 0, 0, now);
  uint64_t id = j->id;
  vss_key key = j->key;
  vss_format fmt = j->fmt;
  /* The callback may record or fail synchronously: j may be gone. */
  int rc = cf->generate(cf->generate_user, &key, fmt, id);
  if (rc == 0) return 0;
  if ((j = job_by_id(x, id)) != NULL) job_failed(x, j, VSS_ERR_GENERATE, now);
  return VSS_ERR_GENERATE;
}

/* A fetch failed for good: fall back to generation when asked to. */
static void job_fail(vss_xfer *x, xjob *j, int rc, vss_time now) {
  if (rc != VSS_ERR_CANCELED && rc != VSS_ERR_FULL &&
      (j->flags & VSS_FETCH_GENERATE_ON_FAIL) && j->state != J_GEN) {
    job_generate(x, j, now);
    return;
  }
  job_failed(x, j, rc, now);
}

/* Act on what happened to a transferring job. Returns 1 when it ended. */
static int job_settle(vss_xfer *x, xjob *j, vss_time now) {
  if (j->state != J_XFER) return 0;
  if (j->fail_rc) {
    job_fail(x, j, j->fail_rc, now);
    return 1;
  }
  if (j->ndone == j->nchunks) {
    job_done(x, j, now);
    return 1;
  }
  if (job_live_sources(x, j) == 0) {
    job_refresh_sources(x, j);
    if (job_live_sources(x, j) == 0) {
      /* Sources that went offline: NO_SOURCE; sources dropped for bad
       * bytes or errors: that reason. */
      job_fail(x, j, j->why ? j->why : VSS_ERR_NO_SOURCE, now);
      return 1;
    }
  }
  if (job_has_work(j)) ready_insert(x, j);
  return 0;
}

/* Pump j's live sources, except `skip` (the caller pumps that one). */
static void pump_sources_but(vss_xfer *x, xjob *j, uint16_t skip,
                             vss_time now) {
  uint16_t peers[XFER_MAX_SOURCES];
  uint32_t n = 0;
  for (uint32_t i = 0; i < j->nsrc; i++)
    if (!j->src[i].dropped && j->src[i].peer != skip)
      peers[n++] = j->src[i].peer;
  /* Pumping only sends requests: j stays alive. */
  for (uint32_t i = 0; i < n; i++)
    pump_source(x, peer_at(x, peers[i]), now);
}

static void pump_job_sources(vss_xfer *x, xjob *j, vss_time now) {
  pump_sources_but(x, j, XFER_NO_PEER, now);
}

/* ---- budget ---------------------------------------------------------- */

static uint64_t inflight_sizes(const vss_xfer *x) {
  uint64_t sum = 0;
  for (const xjob *j = x->jobs_head; j; j = j->next)
    if (j->state == J_XFER) sum += j->size;
  return sum;
}

uint64_t vss_xfer_budget_used(const vss_xfer *x) {
  uint64_t count = 0, bytes = 0;
  vss_store_count_avail(x->n->store, &count, &bytes);
  return bytes + inflight_sizes(x);
}

/* ---- starting jobs --------------------------------------------------- */

/* WAIT -> XFER: choose sources, open the temp blob. */
static int job_start(vss_xfer *x, xjob *j, vss_time now) {
  vss_peer *best = job_pick_target(x, j);
  if (!best) return VSS_ERR_NO_SOURCE;
  const vss_prefetch_policy *pol = &cfg(x)->prefetch;
  if ((j->evflags & VSS_EVF_FOREGROUND) &&
      !vss_prefetch_fits(pol, vss_xfer_budget_used(x), j->size))
    return VSS_ERR_FULL;
  j->nchunks = vss_chunk_count(j->size);
  j->ch = calloc(j->nchunks ? j->nchunks : 1, sizeof(*j->ch));
  if (!j->ch) return VSS_ERR_NOMEM;
  for (uint64_t c = 0; c < j->nchunks; c++)
    j->ch[c].avoid = XFER_NO_PEER;
  j->ntodo = j->nchunks;
  int rc = vss_blobs_open_temp(x->n->blobs, &j->key, j->fmt, j->size, &j->tmp);
  if (rc) {
    j->tmp = NULL;
    return VSS_ERR_IO;
  }
  j->state = J_XFER;
  j->wake_at = VSS_TIME_UNSET;
  emit(x, VSS_EV_FETCH_STARTED, j, best, j->size, j->nchunks, 0, now);
  ready_insert(x, j);
  return 0;
}

/* Start and pump a job; settle it (a 0-byte sidecar ends at once). */
static int job_launch(vss_xfer *x, xjob *j, vss_time now) {
  int rc = job_start(x, j, now);
  if (rc) return rc;
  uint64_t id = j->id;
  pump_job_sources(x, j, now);
  if ((j = job_by_id(x, id)) != NULL) job_settle(x, j, now);
  return 0;
}

static int is_local(vss_xfer *x, const vss_key *key, vss_format fmt,
                    vss_sidecar_row *row) {
  vss_sidecar_row tmp;
  if (!row) row = &tmp;
  if (vss_store_get_sidecar(x->n->store, key, row) != 0) return 0;
  if (row->status != VSS_STATUS_READY || row->format != fmt) return 0;
  uint64_t size = 0;
  return vss_blobs_stat(x->n->blobs, key, fmt, &size) == 0 && size == row->size;
}

int vss_xfer_is_local(vss_xfer *x, const vss_key *key, vss_format fmt,
                      vss_sidecar_row *row) {
  return is_local(x, key, fmt, row);
}

/* ---- the request scheduler ------------------------------------------- */

static int window_room(const xsrc *s, int fg, uint64_t win) {
  return fg ? s->fg_inflight < win : s->inflight < win;
}

/* Hand source p as much of j as its window takes. */
static void job_fill(vss_xfer *x, xjob *j, vss_peer *p, xpeer *xp, uint64_t win,
                     vss_time now) {
  jsrc *s = job_src(j, p->idx);
  if (!s || s->dropped || !src_usable(x, j, p)) return;
  int fg = (j->evflags & VSS_EVF_FOREGROUND) != 0;
  if (meta_needed(j) &&
      src_acceptable(x, j, p->idx, VSS_CHUNK_SIZE, NULL, now) &&
      send_meta_req(x, j, p, xp, now) != 0)
    return;
  while (j->ntodo > 0 && window_room(&xp->c, fg, win)) {
    uint64_t c = next_chunk_for(j, p->idx, now);
    if (c == UINT64_MAX) return;
    if (!src_acceptable(x, j, p->idx, chunk_len(j, c), &j->ch[c], now)) return;
    if (send_chunk(x, j, p, xp, c, now) != 0) return;
  }
}

/* Fill p's window: foreground jobs first, then the rest, oldest first. */
static void pump_source(vss_xfer *x, vss_peer *p, vss_time now) {
  if (!p || !p->online) return;
  xpeer *xp = xp_get(x, p->idx);
  if (!xp) return;
  const vss_node_config *cf = cfg(x);
  uint64_t win = vss_est_window(&p->est, cf->window_min, cf->window_max);
  for (int cls = 0; cls < 2; cls++) {
    for (xjob *j = x->ready_head[cls], *next; j; j = next) {
      next = j->rnext;
      if (!window_room(&xp->c, cls == 0, win)) break;
      job_fill(x, j, p, xp, win, now);
      if (!job_has_work(j)) ready_remove(x, j);
    }
  }
}

static void pump_all(vss_xfer *x, vss_time now) {
  for (uint16_t i = 0; i < x->n->npeers; i++)
    if (x->n->peers[i]->online) pump_source(x, x->n->peers[i], now);
}

/* ---- timers ---------------------------------------------------------- */

static void rearm(vss_xfer *x) {
  vss_time t = VSS_TIME_UNSET;
  for (uint16_t i = 0; i < x->n->npeers && i < VSS_MAX_PEERS; i++) {
    const xpeer *xp = x->peers[i];
    if (!xp) continue;
    for (const xreq *r = xp->c.head; r; r = r->snext)
      t = vss__tmin(t, r->deadline);
  }
  for (const xjob *j = x->jobs_head; j; j = j->next)
    t = vss__tmin(t, j->wake_at);
  x->expiry = t;
}

vss_time vss_xfer_expiry(const vss_xfer *x) {
  return x->expiry;
}

/* A source that delivered recently is slow, not stalled. */
static int src_progressing(const vss_peer *p, const xpeer *xp, vss_time now) {
  vss_time last = xp->c.last_progress;
  if (last == VSS_TIME_UNSET || last > now) return 0;
  return now - last < vss_est_timeout(&p->est, XFER_SLICE, 0);
}

/* A request outlived its deadline. Returns the job id to settle. */
static uint64_t req_expired(vss_xfer *x, xreq *r, vss_time now) {
  vss_peer *p = peer_at(x, r->peer);
  xpeer *xp = x->peers[r->peer];
  if (p && xp && src_progressing(p, xp, now)) {
    r->deadline = now + vss_est_timeout(&p->est, r->len - r->got, r->ahead);
    return 0;
  }
  xjob *j = r->job;
  uint16_t culprit = r->peer;
  uint64_t c = r->chunk;
  int meta = r->meta;
  req_abandon(x, r, now);
  if (meta) {
    j->meta_inflight = 0;
    if (++j->meta_tries > cfg(x)->max_retries && !j->fail_rc)
      j->fail_rc = VSS_ERR_RETRIES;
  } else {
    chunk_requeue(j, c, culprit, 1, cfg(x), now);
  }
  src_blame(x, j, culprit, VSS_ERR_TIMEOUT, now);
  return j->id;
}

static void expire_requests(vss_xfer *x, vss_time now) {
  uint32_t ids[256];
  size_t n = 0;
  for (uint16_t i = 0; i < x->n->npeers && n < 256; i++) {
    const xpeer *xp = x->peers[i];
    for (const xreq *r = xp ? xp->c.head : NULL; r && n < 256; r = r->snext)
      if (r->deadline <= now) ids[n++] = r->id;
  }
  for (size_t k = 0; k < n; k++) {
    xreq *r = req_find(x, ids[k]);
    if (!r) continue;
    uint64_t jid = req_expired(x, r, now);
    xjob *j = jid ? job_by_id(x, jid) : NULL;
    if (j) job_settle(x, j, now);
  }
}

static uint64_t next_backoff(const xjob *j, vss_time now) {
  vss_time t = VSS_TIME_UNSET;
  for (uint64_t c = 0; c < j->nchunks; c++)
    if (j->ch[c].state == CH_TODO && j->ch[c].not_before > now)
      t = vss__tmin(t, j->ch[c].not_before);
  return t;
}

static void expire_jobs(vss_xfer *x, vss_time now) {
  uint64_t ids[256];
  size_t n = 0;
  for (xjob *j = x->jobs_head; j && n < 256; j = j->next)
    if (j->wake_at <= now) ids[n++] = j->id;
  for (size_t k = 0; k < n; k++) {
    xjob *j = job_by_id(x, ids[k]);
    if (!j) continue;
    if (j->state == J_WAIT) { /* nobody answered the query */
      j->wake_at = VSS_TIME_UNSET;
      job_fail(x, j, VSS_ERR_NO_SOURCE, now);
    } else if (j->state == J_XFER) {
      j->wake_at = next_backoff(j, now);
      if (job_has_work(j)) ready_insert(x, j);
    } else {
      j->wake_at = VSS_TIME_UNSET;
    }
  }
}

int vss_xfer_handle_expiry(vss_xfer *x, vss_time now) {
  if (x->expiry > now) return 0;
  expire_requests(x, now);
  expire_jobs(x, now);
  pump_all(x, now);
  pf_pump(x, now);
  rearm(x);
  return 0;
}

/* ---- client: frames from sources ------------------------------------- */

static int on_meta(vss_xfer *x, vss_peer *p, const vss_msg_xfer_meta *m,
                   vss_time now) {
  xreq *r = req_find(x, m->req_id);
  if (!r) return 0; /* abandoned: a late answer is harmless */
  if (r->peer != p->idx || !r->meta) return VSS_ERR_PROTO;
  xjob *j = r->job;
  req_free(x, r, now);
  j->meta_inflight = 0;
  int ok = m->size == j->size && m->nchunks == j->nchunks &&
           vss_hash_eq(&m->checksum, &j->checksum);
  vss_hash *hs = ok ? malloc(j->nchunks * sizeof(*hs)) : NULL;
  if (ok && !hs) {
    if (!j->fail_rc) j->fail_rc = VSS_ERR_NOMEM;
  } else if (ok) {
    memcpy(hs, m->hashes, j->nchunks * sizeof(*hs));
    vss_hash sum;
    vss_checksum_of_chunks(hs, j->nchunks, &sum);
    ok = vss_hash_eq(&sum, &j->checksum);
  }
  if (ok && hs) {
    free(j->hashes);
    j->hashes = hs;
    verify_held(x, j, now);
  } else if (!ok) {
    /* It holds other bytes than its digest said: no use to this job. */
    free(hs);
    jsrc *s = job_src(j, p->idx);
    if (s) src_drop(x, j, s, VSS_ERR_CHECKSUM, now);
    if (++j->meta_tries > cfg(x)->max_retries && !j->fail_rc)
      j->fail_rc = VSS_ERR_RETRIES;
  }
  uint64_t id = j->id;
  job_settle(x, j, now);
  if (job_by_id(x, id)) pump_all(x, now);
  return 0;
}

/* A data request is complete: verify now or hold until the hash list. */
static void req_landed(vss_xfer *x, xreq *r, vss_time now) {
  xjob *j = r->job;
  req_settle_source(x, r, now);
  if (j->nchunks > 1 && !j->hashes) {
    j->ch[r->chunk].state = CH_HELD;
    return;
  }
  chunk_verify(x, j, r, now);
}

/* A transport that can lose frames (the harness, datagram drivers) left
 * a hole in a request: drop the rest of it and fetch the chunk again. */
static int data_gap(vss_xfer *x, xreq *r, vss_time now) {
  xjob *j = r->job;
  uint16_t peer = r->peer;
  uint64_t c = r->chunk;
  req_abandon(x, r, now);
  chunk_requeue(j, c, peer, 1, cfg(x), now);
  if (!job_settle(x, j, now)) pump_job_sources(x, j, now);
  return 0;
}

static int on_data(vss_xfer *x, vss_peer *p, const vss_msg_xfer_data *m,
                   vss_time now) {
  xreq *r = req_find(x, m->req_id);
  if (!r) return 0; /* abandoned: a late answer is harmless */
  if (r->peer != p->idx || r->meta || m->len == 0) return VSS_ERR_PROTO;
  uint64_t want = r->off + r->got, end = r->off + r->len;
  if (m->offset < want || m->offset > end || m->len > end - m->offset)
    return VSS_ERR_PROTO;
  if (m->offset > want) /* a frame went missing: ask again */
    return data_gap(x, r, now);
  xpeer *xp = x->peers[p->idx];
  if (r->got == 0 && r->ahead == 0) /* nothing queued ahead: a clean RTT */
    vss_est_rtt_sample(&p->est, now - r->sent_at);
  memcpy(r->buf + r->got, m->data, m->len);
  r->got += m->len;
  xp->c.inflight -= m->len;
  if (r->fg) xp->c.fg_inflight -= m->len;
  xp->c.last_progress = now;
  vss_est_delivered(&p->est, m->len, now);
  xjob *j = r->job;
  jsrc *s = job_src(j, p->idx);
  if (s) s->bytes += m->len;
  if (r->got < r->len) return 0;
  req_landed(x, r, now);
  /* A bad chunk goes to the other sources at once, not at p's pace. */
  if (!job_settle(x, j, now)) pump_sources_but(x, j, p->idx, now);
  pump_source(x, p, now);
  pf_pump(x, now);
  return 0;
}

static int on_error(vss_xfer *x, vss_peer *p, const vss_msg_xfer_error *m,
                    vss_time now) {
  xreq *r = req_find(x, m->req_id);
  if (!r) return 0;
  if (r->peer != p->idx) return VSS_ERR_PROTO;
  xjob *j = r->job;
  int code = m->code < 0 && m->code >= VSS_ERR_MIN ? m->code : VSS_ERR_PEER;
  if (r->meta)
    j->meta_inflight = 0;
  else
    chunk_requeue(j, r->chunk, p->idx, 0, cfg(x), now);
  req_free(x, r, now);
  /* It does not have the sidecar (any more) or refuses: leave it out. */
  jsrc *s = job_src(j, p->idx);
  if (s) src_drop(x, j, s, code, now);
  if (!job_settle(x, j, now)) pump_job_sources(x, j, now);
  return 0;
}

/* ---- server: serving peers' GETs ------------------------------------- */

static int send_error(vss_xfer *x, vss_peer *p, uint32_t req_id, int code) {
  x->scratch.len = 0;
  int rc = vss_wire_encode_xfer_error(&x->scratch, req_id, code);
  return rc ? rc : vss__send(x->n, p, x->scratch.data, x->scratch.len);
}

static void meta_free(xmeta *m) {
  free(m->hashes);
  memset(m, 0, sizeof(*m));
}

static xmeta *meta_lookup(vss_xfer *x, const vss_sidecar_row *row) {
  for (int i = 0; i < XFER_META_CACHE; i++) {
    xmeta *m = &x->meta[i];
    if (m->hashes && m->size == row->size && m->fmt == row->format &&
        vss_key_cmp(&m->key, &row->key) == 0 &&
        vss_hash_eq(&m->checksum, &row->checksum)) {
      m->used = ++x->meta_tick;
      return m;
    }
  }
  return NULL;
}

/* Chunk hashes of a blob we hold, read back through a hasher. */
static int meta_compute(vss_xfer *x, const vss_sidecar_row *row,
                        vss_hash **hashes, uint64_t *n) {
  vss_hasher *h;
  int rc = vss_hasher_new(&h);
  if (rc) return rc;
  for (uint64_t off = 0; off < row->size && rc == 0;) {
    uint64_t left = row->size - off;
    size_t len = left < VSS_CHUNK_SIZE ? (size_t)left : VSS_CHUNK_SIZE;
    rc = vss_blobs_read(x->n->blobs, &row->key, row->format, off, x->rbuf, len);
    if (rc == 0) rc = vss_hasher_update(h, x->rbuf, len);
    off += len;
  }
  vss_hash sum;
  if (rc == 0) rc = vss_hasher_final(h, &sum, hashes, n);
  vss_hasher_del(h);
  if (rc) return VSS_ERR_IO;
  if (!vss_hash_eq(&sum, &row->checksum)) {
    free(*hashes);
    return VSS_ERR_CORRUPT; /* our bytes do not match our row */
  }
  return 0;
}

static int meta_get(vss_xfer *x, const vss_sidecar_row *row, xmeta **out) {
  if ((*out = meta_lookup(x, row)) != NULL) return 0;
  vss_hash *hs = NULL;
  uint64_t n = 0;
  int rc = meta_compute(x, row, &hs, &n);
  if (rc) return rc;
  xmeta *m = &x->meta[0];
  for (int i = 1; i < XFER_META_CACHE; i++)
    if (x->meta[i].used < m->used) m = &x->meta[i];
  meta_free(m);
  m->key = row->key;
  m->fmt = row->format;
  m->size = row->size;
  m->checksum = row->checksum;
  m->hashes = hs;
  m->n = n;
  m->used = ++x->meta_tick;
  *out = m;
  return 0;
}

static int serve_meta(vss_xfer *x, vss_peer *p, uint32_t req_id,
                      const vss_sidecar_row *row) {
  xmeta *m;
  int rc = meta_get(x, row, &m);
  if (rc) return send_error(x, p, req_id, rc);
  x->scratch.len = 0;
  rc = vss_wire_encode_xfer_meta(&x->scratch, req_id, m->size, &m->checksum,
                                 m->hashes, m->n);
  if (rc) return send_error(x, p, req_id, VSS_ERR_TOO_BIG);
  rc = vss__send(x->n, p, x->scratch.data, x->scratch.len);
  return rc ? rc : 1;
}

static void serve_push(xpeer *xp, xserve *s, int q) {
  if (xp->qt[q])
    xp->qt[q]->next = s;
  else
    xp->qh[q] = s;
  xp->qt[q] = s;
  xp->nserve++;
}

static int on_get(vss_xfer *x, vss_peer *p, const vss_msg_xfer_get *g) {
  vss_sidecar_row row;
  int rc = vss_store_get_sidecar(x->n->store, &g->key, &row);
  if (rc && rc != VSS_ERR_NOT_FOUND) return send_error(x, p, g->req_id, rc);
  if (rc || row.status != VSS_STATUS_READY || row.format != g->format)
    return send_error(x, p, g->req_id, VSS_ERR_NOT_FOUND);
  if (g->flags & VSS_GET_META) {
    rc = serve_meta(x, p, g->req_id, &row);
    if (rc <= 0) return rc; /* an error went out instead */
  }
  if (g->length == 0)
    return (g->flags & VSS_GET_META)
               ? 0
               : send_error(x, p, g->req_id, VSS_ERR_INVALID);
  if (g->offset > row.size || g->length > row.size - g->offset)
    return send_error(x, p, g->req_id, VSS_ERR_INVALID);
  xpeer *xp = xp_get(x, p->idx);
  if (!xp) return VSS_ERR_NOMEM;
  if (xp->nserve >= XFER_MAX_SERVES)
    return send_error(x, p, g->req_id, VSS_ERR_FULL);
  xserve *s = calloc(1, sizeof(*s));
  if (!s) return VSS_ERR_NOMEM;
  s->req_id = g->req_id;
  s->key = g->key;
  s->fmt = g->format;
  s->off = g->offset;
  s->end = g->offset + g->length;
  s->bytes = g->length;
  serve_push(xp, s, (g->flags & VSS_GET_FOREGROUND) ? 0 : 1);
  return 0;
}

static xserve *serve_unlink(xpeer *xp, int q, xserve *prev, xserve *s) {
  if (prev)
    prev->next = s->next;
  else
    xp->qh[q] = s->next;
  if (xp->qt[q] == s) xp->qt[q] = prev;
  xp->nserve--;
  return s;
}

static int on_cancel(vss_xfer *x, vss_peer *p, const vss_msg_xfer_cancel *m) {
  xpeer *xp = x->peers[p->idx];
  for (int q = 0; xp && q < 2; q++) {
    for (xserve *s = xp->qh[q], *prev = NULL; s; prev = s, s = s->next) {
      if (s->req_id != m->req_id) continue;
      free(serve_unlink(xp, q, prev, s));
      return 0;
    }
  }
  return 0; /* already served: nothing to drop */
}

static void serve_clear(xpeer *xp) {
  for (int q = 0; q < 2; q++) {
    while (xp->qh[q])
      free(serve_unlink(xp, q, NULL, xp->qh[q]));
  }
}

int vss_xfer_produce(vss_xfer *x, vss_peer *p, int fg_only, vss_buf *out,
                     vss_time now) {
  xpeer *xp = p->idx < VSS_MAX_PEERS ? x->peers[p->idx] : NULL;
  if (!xp || xp->nserve == 0) return 0;
  int q = xp->qh[0] ? 0 : (!fg_only && xp->qh[1] ? 1 : -1);
  if (q < 0) return 0;
  xserve *s = xp->qh[q];
  uint64_t left = s->end - s->off;
  uint32_t len = left < XFER_SLICE ? (uint32_t)left : XFER_SLICE;
  int rc = vss_blobs_read(x->n->blobs, &s->key, s->fmt, s->off, x->rbuf, len);
  if (rc) { /* the blob vanished under its row: tell, and stop */
    rc = vss_wire_encode_xfer_error(out, s->req_id, VSS_ERR_IO);
    free(serve_unlink(xp, q, NULL, s));
    return rc ? rc : 1;
  }
  rc = vss_wire_encode_xfer_data(out, s->req_id, s->off, x->rbuf, len);
  if (rc) return rc;
  s->off += len;
  if (s->off == s->end) {
    vss_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = VSS_EV_SERVED;
    ev.peer = p->id;
    ev.key = s->key;
    ev.format = s->fmt;
    ev.bytes = s->bytes;
    ev.flags = q == 0 ? VSS_EVF_FOREGROUND : 0;
    free(serve_unlink(xp, q, NULL, s));
    vss__emit(x->n, &ev, now);
  }
  return 1;
}

/* ---- frames ---------------------------------------------------------- */

int vss_xfer_recv(vss_xfer *x, vss_peer *p, const vss_msg *m, vss_time now) {
  int rc;
  switch (m->type) {
  case VSS_MSG_XFER_GET:
    rc = on_get(x, p, &m->u.get);
    break;
  case VSS_MSG_XFER_META:
    rc = on_meta(x, p, &m->u.meta, now);
    break;
  case VSS_MSG_XFER_DATA:
    rc = on_data(x, p, &m->u.data, now);
    break;
  case VSS_MSG_XFER_ERROR:
    rc = on_error(x, p, &m->u.error, now);
    break;
  case VSS_MSG_XFER_CANCEL:
    rc = on_cancel(x, p, &m->u.cancel);
    break;
  default:
    rc = VSS_ERR_PROTO;
  }
  rearm(x);
  return rc < 0 ? rc : 0;
}

/* ---- peers ----------------------------------------------------------- */

void vss_xfer_peer_up(vss_xfer *x, vss_peer *p, vss_time now) {
  xpeer *xp = xp_get(x, p->idx);
  if (xp) xp->c.last_progress = VSS_TIME_UNSET;
  (void)now;
}

void vss_xfer_peer_down(vss_xfer *x, vss_peer *p, vss_time now) {
  xpeer *xp = p->idx < VSS_MAX_PEERS ? x->peers[p->idx] : NULL;
  if (xp) serve_clear(xp);
  /* Its outstanding requests go back to be fetched from the others. */
  while (xp && xp->c.head) {
    xreq *r = xp->c.head;
    xjob *j = r->job;
    if (r->meta)
      j->meta_inflight = 0;
    else
      chunk_requeue(j, r->chunk, p->idx, 0, cfg(x), now);
    req_free(x, r, now);
  }
  uint64_t ids[1024];
  size_t n = 0;
  for (xjob *j = x->jobs_head; j && n < 1024; j = j->next) {
    jsrc *s = job_src(j, p->idx);
    if (s && !s->dropped) {
      src_drop(x, j, s, VSS_ERR_UNKNOWN_PEER, now);
      ids[n++] = j->id;
    }
  }
  for (size_t k = 0; k < n; k++) {
    xjob *j = job_by_id(x, ids[k]);
    if (j && !job_settle(x, j, now)) pump_job_sources(x, j, now);
  }
  rearm(x);
}

/* ---- offers, presence, local changes --------------------------------- */

static void job_offer(vss_xfer *x, xjob *j, vss_peer *p, vss_time now) {
  if (j->state == J_WAIT) {
    int rc = job_launch(x, j, now);
    if (rc && rc != VSS_ERR_NO_SOURCE) job_fail(x, j, rc, now);
    return;
  }
  if (j->state != J_XFER || !src_usable(x, j, p)) return;
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = job_holders(x, j, h, XFER_MAX_SOURCES);
  for (size_t i = 0; i < n; i++)
    if (h[i].peer == p->idx && job_add_source(j, &h[i])) pump_source(x, p, now);
}

void vss_xfer_offer(vss_xfer *x, vss_peer *p, const vss_key *key,
                    vss_format fmt, uint64_t size, vss_time now) {
  if (x->njobs) {
    xjob *j = job_by_key(x, key);
    if (j && j->fmt == fmt) job_offer(x, j, p, now);
  }
  vss_prefetch_offer(x->pf, &cfg(x)->prefetch, &p->link, key, fmt, size);
}

void vss_xfer_presence_changed(vss_xfer *x, vss_peer *p, vss_time now) {
  (void)p;
  pf_pump(x, now);
  rearm(x);
}

void vss_xfer_local_added(vss_xfer *x, const vss_key *key, vss_time now) {
  xjob *j = job_by_key(x, key);
  if (!j) return;
  vss_sidecar_row row;
  uint64_t size = 0;
  if (vss_store_get_sidecar(x->n->store, key, &row) == 0) size = row.size;
  if (j->state == J_GEN) {
    emit(x, VSS_EV_GENERATED, j, NULL, size, 0, 0, now);
  } else {
    /* Generated (or copied in) while we were fetching: the job is
     * satisfied locally; peer nil and count 0 say no bytes moved. */
    vss_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = VSS_EV_FETCH_DONE;
    ev.key = j->key;
    ev.format = j->fmt;
    ev.job = j->id;
    ev.flags = j->evflags;
    ev.bytes = size;
    ev.duration = now - j->started;
    job_free(x, j, now);
    vss__emit(x->n, &ev, now);
    pf_pump(x, now);
    rearm(x);
    return;
  }
  job_free(x, j, now);
  pf_pump(x, now);
  rearm(x);
}

int vss_xfer_generate_failed(vss_xfer *x, uint64_t job, int rc, vss_time now) {
  xjob *j = job_by_id(x, job);
  if (!j) return VSS_ERR_NOT_FOUND;
  if (j->state != J_GEN) return VSS_ERR_INVALID;
  (void)rc; /* the application's reason; the event says generation failed */
  job_failed(x, j, VSS_ERR_GENERATE, now);
  pf_pump(x, now);
  rearm(x);
  return 0;
}

/* ---- prefetch -------------------------------------------------------- */

static void pf_skip(vss_xfer *x, const vss_pf_cand *c, int rc, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_PREFETCH_SKIPPED;
  ev.key = c->key;
  ev.format = c->fmt;
  ev.bytes = c->size;
  ev.flags = VSS_EVF_PREFETCH;
  ev.rc = rc;
  vss__emit(x->n, &ev, now);
}

/* One candidate: still wanted, fits the budget, a source on an allowed
 * link? Then a prefetch job. */
static void pf_start(vss_xfer *x, const vss_pf_cand *c, uint64_t *used,
                     vss_time now) {
  const vss_prefetch_policy *pol = &cfg(x)->prefetch;
  if (vss_prefetch_class(pol, c->key.kind) != c->cls) return;
  if (job_by_key(x, &c->key) || is_local(x, &c->key, c->fmt, NULL)) return;
  if (!vss_prefetch_fits(pol, *used, c->size)) {
    pf_skip(x, c, VSS_ERR_FULL, now);
    return;
  }
  xjob *j = job_new(x, &c->key, c->fmt, JF_RESTRICTED, VSS_EVF_PREFETCH, now);
  if (!j) return;
  job_account(x, j, -1);
  j->eager = c->cls == VSS_PF_EAGER;
  job_account(x, j, +1);
  emit(x, VSS_EV_PREFETCH_QUEUED, j, NULL, c->size, 0, 0, now);
  int rc = job_launch(x, j, now);
  if (rc) {
    pf_skip(x, c, rc, now);
    if ((j = job_by_key(x, &c->key)) != NULL && j->state == J_WAIT)
      job_free(x, j, now);
    return;
  }
  *used += c->size;
}

static void pf_pump(vss_xfer *x, vss_time now) {
  const vss_prefetch_policy *pol = &cfg(x)->prefetch;
  if (x->npf >= pol->max_concurrent) return;
  if (!vss_prefetch_pending(x->pf, VSS_PF_EAGER) &&
      !vss_prefetch_pending(x->pf, VSS_PF_LAZY))
    return;
  uint64_t used = pol->storage_budget ? vss_xfer_budget_used(x) : 0;
  vss_pf_cand c;
  while (x->npf < pol->max_concurrent) {
    int lazy_ok = x->nfg == 0 && x->npf_eager == 0 &&
                  vss_prefetch_pending(x->pf, VSS_PF_EAGER) == 0;
    if (!vss_prefetch_pop(x->pf, lazy_ok, &c)) break;
    pf_start(x, &c, &used, now);
  }
}

/* ---- public entry points --------------------------------------------- */

int vss_xfer_new(vss_xfer **out, vss_node *n) {
  vss_xfer *x = calloc(1, sizeof(*x));
  if (!x) return VSS_ERR_NOMEM;
  x->n = n;
  x->expiry = VSS_TIME_UNSET;
  x->rbuf = malloc(VSS_CHUNK_SIZE);
  int rc = x->rbuf ? vss_prefetch_new(&x->pf) : VSS_ERR_NOMEM;
  if (rc) {
    free(x->rbuf);
    free(x);
    return rc;
  }
  *out = x;
  return 0;
}

void vss_xfer_del(vss_xfer *x) {
  if (!x) return;
  /* Temp blobs are discarded: an interrupted transfer leaves nothing. */
  while (x->jobs_head)
    job_free(x, x->jobs_head, 0);
  for (int i = 0; i < VSS_MAX_PEERS; i++) {
    if (!x->peers[i]) continue;
    serve_clear(x->peers[i]);
    free(x->peers[i]);
  }
  for (int i = 0; i < XFER_META_CACHE; i++)
    meta_free(&x->meta[i]);
  vss_prefetch_del(x->pf);
  vss_buf_free(&x->scratch);
  free(x->rbuf);
  free(x);
}

static int valid_key(const vss_key *key, vss_format fmt) {
  return key && key->kind < VSS_KIND_COUNT && fmt < VSS_FMT_COUNT &&
         vss_variant_valid(key->variant, strlen(key->variant));
}

/* A fetch for a key already in flight joins it, raising its priority. */
static int job_join(vss_xfer *x, xjob *j, uint32_t flags, vss_time now) {
  j->flags |= flags & VSS_FETCH_GENERATE_ON_FAIL;
  if (!(flags & VSS_FETCH_FOREGROUND) || (j->evflags & VSS_EVF_FOREGROUND))
    return 0;
  int was_ready = j->ready;
  ready_remove(x, j);
  job_account(x, j, -1);
  j->evflags = VSS_EVF_FOREGROUND;
  j->flags &= ~JF_RESTRICTED; /* the user asked: any link will do */
  job_account(x, j, +1);
  if (j->state == J_XFER) {
    job_refresh_sources(x, j);
    if (was_ready || job_has_work(j)) ready_insert(x, j);
    pump_job_sources(x, j, now);
  }
  return 0;
}

/* No holder known: ask the peers, and wait up to query_timeout. */
static int job_wait(vss_xfer *x, xjob *j, vss_time now) {
  j->wake_at = now + cfg(x)->query_timeout;
  uint64_t id = j->id;
  int asked = vss_node_query(x->n, &j->key, now);
  if (!job_by_id(x, id)) return 0; /* a cached answer started it */
  return asked > 0 ? 0 : VSS_ERR_NO_SOURCE;
}

int vss_xfer_fetch(vss_xfer *x, const vss_key *key, vss_format fmt,
                   uint32_t flags, uint64_t *job, vss_time now) {
  if (!valid_key(key, fmt)) return VSS_ERR_INVALID;
  if (job) *job = 0;
  xjob *j = job_by_key(x, key);
  if (j) {
    if (j->fmt != fmt) return VSS_ERR_DUPLICATE;
    if (job) *job = j->id;
    int rc = job_join(x, j, flags, now);
    rearm(x);
    return rc;
  }
  if (is_local(x, key, fmt, NULL)) return VSS_ERR_DUPLICATE;
  uint32_t ev = (flags & VSS_FETCH_FOREGROUND) ? VSS_EVF_FOREGROUND : 0;
  j = job_new(x, key, fmt, flags & VSS_FETCH_GENERATE_ON_FAIL, ev, now);
  if (!j) return VSS_ERR_NOMEM;
  uint64_t id = j->id;
  int rc = job_launch(x, j, now);
  if (rc == VSS_ERR_NO_SOURCE) rc = job_wait(x, j, now);
  j = job_by_id(x, id);
  if (rc == VSS_ERR_NO_SOURCE && j && (j->flags & VSS_FETCH_GENERATE_ON_FAIL))
    rc = job_generate(x, j, now);
  else if (rc && j)
    job_free(x, j, now);
  if (rc == 0 && job) *job = id;
  rearm(x);
  return rc;
}

int vss_xfer_generate(vss_xfer *x, const vss_key *key, vss_format fmt,
                      uint32_t evflags, uint64_t *job, vss_time now) {
  if (!valid_key(key, fmt)) return VSS_ERR_INVALID;
  xjob *j = job_by_key(x, key);
  if (j) {
    if (job) *job = j->id;
    return j->fmt == fmt ? 0 : VSS_ERR_DUPLICATE;
  }
  j = job_new(x, key, fmt, 0, evflags & VSS_EVF_FOREGROUND, now);
  if (!j) return VSS_ERR_NOMEM;
  if (job) *job = j->id;
  int rc = job_generate(x, j, now);
  rearm(x);
  return rc;
}

int vss_xfer_cancel(vss_xfer *x, uint64_t job, vss_time now) {
  xjob *j = job_by_id(x, job);
  if (!j) return VSS_ERR_NOT_FOUND;
  job_failed(x, j, VSS_ERR_CANCELED, now);
  pf_pump(x, now);
  rearm(x);
  return 0;
}

int vss_xfer_job_of(const vss_xfer *x, const vss_key *key, uint64_t *job,
                    int *generating) {
  const xjob *j = job_by_key(x, key);
  if (!j) return 0;
  if (job) *job = j->id;
  if (generating) *generating = j->state == J_GEN;
  return 1;
}

int vss_xfer_best_source(vss_xfer *x, const vss_key *key, vss_format fmt,
                         vss_xfer_source *out) {
  xjob probe;
  memset(&probe, 0, sizeof(probe));
  probe.key = *key;
  probe.fmt = fmt;
  vss_holder h[XFER_MAX_SOURCES];
  size_t n = job_holders(x, &probe, h, XFER_MAX_SOURCES);
  memset(out, 0, sizeof(*out));
  out->cost = VSS_TIME_UNSET;
  for (size_t i = 0; i < n; i++) {
    vss_time c = src_cost(x, h[i].peer, h[i].size);
    if (c >= out->cost) continue;
    out->cost = c;
    out->device = peer_at(x, h[i].peer)->id;
    out->size = h[i].size;
    out->checksum = h[i].checksum;
  }
  return (int)n;
}

int vss_xfer_jobs(const vss_xfer *x, vss_job_info *out, size_t cap) {
  size_t n = 0;
  for (const xjob *j = x->jobs_head; j; j = j->next, n++) {
    if (n >= cap || !out) continue;
    vss_job_info *ji = &out[n];
    memset(ji, 0, sizeof(*ji));
    ji->id = j->id;
    ji->key = j->key;
    ji->format = j->fmt;
    ji->size = j->size;
    ji->done = j->done_bytes;
    ji->flags = j->evflags;
    ji->sources = j->state == J_XFER ? job_live_sources(x, j) : 0;
    ji->started = j->started;
  }
  return n > INT32_MAX ? INT32_MAX : (int)n;
}
