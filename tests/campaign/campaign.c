/*
 * campaign.c - seeded fault campaign over harness fleets (issue 8,
 * section 1).
 *
 *   campaign --seeds N [--first S]     seeds S .. S+N-1 (S = 1)
 *   campaign --seed S [-v]             one seed (its replay command)
 *   --known-defects 2,4                leave out the fault classes that
 *                                      trip those unfixed issue-8 items
 *   --classes lie,crash                only these fault classes
 *
 * Each seed, in a child process: a random fleet (2-20 nodes on database
 * files, a random library, random links with delay, rate and loss), a
 * random workload (requests in every mode, fetches, adds, removals, the
 * prefetch policy on or off) and random faults from the classes below
 * during FAULT_WINDOW; then every fault is lifted and the fleet runs on.
 *
 * Invariants (tests/harness/check.h):
 *   safety      every has=1 row's blob hashes to its checksum: checked
 *               every CHECK_EVERY and in full at the end;
 *   jobs        no job without a request, timer or generation (same);
 *   budget      per peer: CAMPAIGN_BUDGET below;
 *   liveness    every request that started a job ends in FETCH_DONE,
 *               GENERATED or FETCH_FAILED with a reason by
 *               last fault + LIVE_BOUND;
 *   convergence after LIVE_BOUND and a gossip round, each node's cache
 *               of each connected node equals that node's holdings;
 *   driver rcs  no handle_expiry failure, no honest frame refused.
 * A failing seed prints what failed and its exact replay command.
 */
#define _GNU_SOURCE
#include "check.h"
#include "harness.h"
#include "node_internal.h"
#include "vss/rng.h"
#include "xfer_internal.h"

#include <dirent.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S VSS_NS_PER_S
#define MS VSS_NS_PER_MS
#define MAX_NODES 20
#define MAX_REQS 4096
#define FAULT_WINDOW (20 * S)
#define CHECK_EVERY (5 * S)
/* Liveness: after the last fault every job ends within LIVE_BOUND: the
 * slowest legitimate ending is a request for a proxy over the slowest
 * link (1 MB/s, ~1 s per sidecar) that loses its sources and waits out
 * query_timeout (2 s) and max_retries (4) x stall deadlines with backoff,
 * or one that waits for a gossip round (10 s) to learn a holder: a
 * minute covers several of each. */
#define LIVE_BOUND (60 * S)
#define GOSSIP (10 * S)

static const vss_hc_budget CAMPAIGN_BUDGET = {
    .queue_bytes = 4u * 1024u * 1024u,
    .unverified_bytes = 2u * 8u * 1024u * 1024u, /* 2 x window_max */
    .cache_entries = 200000,
    .serves = 65536,
};

/* ---- fault classes and the items that make them fail today ----------- */

enum {
  F_LIE,         /* a byzantine source: right framing, wrong bytes */
  F_LOSS,        /* frames dropped on some links */
  F_FLAP,        /* links down and up */
  F_RESTART,     /* clean restarts */
  F_CRASH,       /* crashes at a store call (between blob and row commit) */
  F_REMOVE_FULL, /* removals while a full digest is being sent */
  F_BIG_SOURCE,  /* a peer serving > 1,024 jobs goes down */
  F_COUNT
};
static const char *const FNAME[F_COUNT] = {
    "lie", "loss", "flap", "restart", "crash", "remove_full", "big_source"};
/* Issue-8 items whose defect a class trips (--known-defects N leaves the
 * classes of item N out). See tests/README.md for the evidence. */
static const struct {
  int item, cls;
} KNOWN[] = {
    {2, F_REMOVE_FULL}, /* convergence: a removal never reaches a peer */
    {4, F_BIG_SOURCE},  /* jobs: > 1,024 jobs of a source that went down */
    {19, F_LIE},        /* source: FETCH_DONE names the liar */
};

/* ---- one run --------------------------------------------------------- */

typedef struct req {
  int node;
  uint64_t job;
  vss_key key;
  vss_time at;
  uint64_t crashes; /* the node's crashes+restarts when it was made */
  uint64_t inc;     /* the node's incarnation that owns job (see on_event) */
  int ended;
} req;

typedef struct lib_key {
  vss_key key;
  vss_format fmt;
  uint64_t size;
} lib_key;

typedef struct run {
  uint64_t seed;
  vss_rng rng;
  vss_h *h;
  vss_hc *hc;
  int nn, verbose;
  unsigned classes; /* enabled fault classes */
  unsigned used;    /* classes that fired */
  char dir[160];
  lib_key keys[80];
  int nkeys;
  req reqs[MAX_REQS];
  int nreqs;
  uint64_t restarts[MAX_NODES];
  uint64_t clean[MAX_NODES];      /* clean restarts (crashes: the harness) */
  vss_time liar_since[MAX_NODES]; /* lies in every DATA frame (0: no) */
  vss_time lifted_at;             /* faults lifted (0: not yet) */
  int failed;
  char why[1024];
} run;

static int fail(run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(run *r, const char *fmt, ...) {
  if (r->failed) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why, sizeof(r->why), fmt, ap);
  va_end(ap);
  r->failed = 1;
  return -1;
}

static void on_event(void *user, int i, const vss_event *ev);

static uint64_t rnd(run *r, uint64_t n) {
  return n ? vss_rng_below(&r->rng, n) : 0;
}

static int on(run *r, int cls) {
  return (r->classes >> cls) & 1;
}

static vss_format kind_fmt(vss_kind k) {
  return k == VSS_KIND_THUMB   ? VSS_FMT_WEBP
         : k == VSS_KIND_PROXY ? VSS_FMT_MP4
                               : VSS_FMT_TEXT;
}

static void make_library(run *r) {
  static const vss_kind K[3] = {VSS_KIND_THUMB, VSS_KIND_OCR, VSS_KIND_PROXY};
  r->nkeys = 20 + (int)rnd(r, 60);
  for (int i = 0; i < r->nkeys; i++) {
    vss_kind k = K[rnd(r, 5) % 3]; /* proxies: 1 in 5 */
    vss_h_key(&r->keys[i].key, (uint32_t)(r->seed * 131 + i), k,
              k == VSS_KIND_THUMB   ? "grid@2x"
              : k == VSS_KIND_PROXY ? "720p"
                                    : "en");
    r->keys[i].fmt = kind_fmt(k);
    r->keys[i].size = k == VSS_KIND_THUMB ? 2000 + rnd(r, 6000)
                      : k == VSS_KIND_OCR
                          ? 10000 + rnd(r, 40000)
                          : 262145 + rnd(r, 100000); /* 2 chunks */
  }
}

static int setup(run *r) {
  r->h = vss_h_new(r->seed);
  r->hc = vss_hc_new(r->h);
  vss_h_set_event_hook(r->h, on_event, r);
  /* 2-20 nodes, small fleets more often (they are cheaper per seed) */
  r->nn = 2 + (int)rnd(r, 1 + rnd(r, 1 + rnd(r, MAX_NODES - 1)));
  for (int k = 0; k < VSS_KIND_COUNT; k++)
    vss_h_set_gen_size(r->h, (vss_kind)k, 20000);
  int prefetch = (int)rnd(r, 2);
  for (int i = 0; i < r->nn; i++) {
    vss_node_config cfg;
    vss_node_config_default(&cfg);
    cfg.gossip_interval = GOSSIP;
    cfg.cache_ttl = 3 * GOSSIP;
    cfg.query_timeout = 2 * S;
    /* pushes close behind the change (a full digest still under way) */
    cfg.change_batch_delay = (1 + rnd(r, 50)) * MS;
    cfg.window_max = 8u * 1024u * 1024u;
    if (!prefetch) cfg.prefetch.eager_kinds = cfg.prefetch.lazy_kinds = 0;
    cfg.strategy = (vss_strategy)rnd(r, 3);
    char path[256], name[16];
    snprintf(path, sizeof(path), "%s/n%d.db", r->dir, i);
    snprintf(name, sizeof(name), "n%d", i);
    vss_h_node_opts o = {
        .db_path = path, .config = &cfg, .no_generate = (int)rnd(r, 2)};
    if (vss_h_add_node(r->h, name, &o) < 0) return fail(r, "setup: node %d", i);
  }
  make_library(r);
  for (int i = 0; i < r->nn; i++) {
    int n = (int)rnd(r, 16);
    for (int k = 0; k < n; k++) {
      lib_key *lk = &r->keys[rnd(r, (uint64_t)r->nkeys)];
      vss_h_generate(r->h, i, &lk->key, lk->fmt, lk->size);
    }
  }
  /* A chain (connected), then random extra links. */
  for (int a = 0; a < r->nn; a++)
    for (int b = a + 1; b < r->nn; b++) {
      if (b != a + 1 && rnd(r, 100) >= 25) continue;
      vss_h_link_opts lo = {.delay = (1 + rnd(r, 50)) * MS,
                            .rate = 1e6 * (1 + (double)rnd(r, 100)),
                            .cls =
                                rnd(r, 4) ? VSS_LINK_WIFI : VSS_LINK_INTERNET};
      if (on(r, F_LOSS) && rnd(r, 3) == 0) {
        lo.loss = 0.01 * (double)(1 + rnd(r, 5));
        r->used |= 1u << F_LOSS;
      }
      vss_h_link(r->h, a, b, &lo);
    }
  return 0;
}

/* ---- workload and faults --------------------------------------------- */

/* A node's incarnation: job ids start again at each (re)start, so a job
 * id means something only with it. */
static uint64_t incarnation(run *r, int i) {
  return r->clean[i] + vss_h_crashes(r->h, i);
}

/* A request made of a dead node (its armed crash fired at or before this
 * call) died with the process, as a real application's call would have:
 * not tracked. */
static int is_end(const vss_event *ev) {
  return ev->type == VSS_EV_FETCH_DONE || ev->type == VSS_EV_GENERATED ||
         (ev->type == VSS_EV_FETCH_FAILED && ev->rc < 0);
}

/* The node's event count before an API call: what the call itself emits
 * (a job failing at once) comes before track() knows the job. */
static size_t ev_mark(run *r, int node) {
  size_t n;
  (void)vss_h_events(r->h, node, &n);
  return n;
}

static void track(run *r, int node, size_t from, uint64_t job,
                  const vss_key *k) {
  if (!job || r->nreqs == MAX_REQS || vss_h_dead(r->h, node)) return;
  req *q = &r->reqs[r->nreqs++];
  *q = (req){.node = node,
             .job = job,
             .key = *k,
             .at = vss_h_now(r->h),
             .crashes = r->restarts[node],
             .inc = incarnation(r, node)};
  size_t n;
  const vss_event *ev = vss_h_events(r->h, node, &n);
  for (size_t i = from; i < n; i++)
    if (ev[i].job == job && is_end(&ev[i])) q->ended = 1;
}

static void workload(run *r) {
  int y = (int)rnd(r, (uint64_t)r->nn);
  lib_key *lk = &r->keys[rnd(r, (uint64_t)r->nkeys)];
  vss_node *n = vss_h_node(r->h, y);
  vss_time now = vss_h_now(r->h);
  size_t mark = ev_mark(r, y);
  switch (rnd(r, 6)) {
  case 0:
  case 1: {
    vss_resolution res;
    vss_resolve_mode m = (vss_resolve_mode)(1 + rnd(r, 4));
    if (vss_node_request(n, &lk->key, lk->fmt, m, &res, now) == 0 &&
        res.kind == VSS_RESOLVED_PENDING)
      track(r, y, mark, res.job, &lk->key);
    break;
  }
  case 2: {
    uint64_t job = 0;
    if (vss_node_fetch(n, &lk->key, lk->fmt, (uint32_t)rnd(r, 4), &job, now) ==
        0)
      track(r, y, mark, job, &lk->key);
    break;
  }
  case 3:
    vss_h_generate(r->h, y, &lk->key, lk->fmt, lk->size);
    break;
  case 4:
    vss_node_remove_local(n, &lk->key, now);
    break;
  default:
    vss_node_query(n, &lk->key, now);
  }
}

static int neighbour(run *r, int a) {
  for (int t = 0; t < 8; t++) {
    int b = (int)rnd(r, (uint64_t)r->nn);
    if (b != a && vss_h_link_set(r->h, a, b, 1) == 0) return b;
  }
  return a == 0 ? 1 : a - 1; /* the chain */
}

static void node_crashed(run *r, int i) {
  r->restarts[i]++;
  r->clean[i]++;
}

/* n is sending a full digest to a peer and has sent a page of it. */
static int full_digest_under_way(vss_node *n) {
  for (uint16_t k = 0; k < n->npeers; k++) {
    const vss_gossip_peer *g = &n->live[k]->g;
    if (n->live[k]->online && g->sending && g->sending_full &&
        g->pages_sent >= 1)
      return 1;
  }
  return 0;
}

static void fault(run *r) {
  int cand[F_COUNT], nc = 0;
  for (int c = 0; c < F_COUNT; c++)
    if (on(r, c) && c != F_LOSS) cand[nc++] = c; /* loss is set per link */
  if (!nc) return;
  int cls = cand[rnd(r, (uint64_t)nc)];
  int a = (int)rnd(r, (uint64_t)r->nn);
  r->used |= 1u << cls;
  switch (cls) {
  case F_LIE:
    /* Half the liars corrupt every DATA frame: nothing they send can
     * be verified, so no sidecar may name them as its source. */
    if (rnd(r, 2) && !r->liar_since[a]) {
      vss_h_set_lie(r->h, a, 1.0);
      r->liar_since[a] = vss_h_now(r->h);
    } else if (!r->liar_since[a]) {
      vss_h_set_lie(r->h, a, 0.5);
    }
    break;
  case F_FLAP: {
    int b = neighbour(r, a);
    vss_h_link_set(r->h, a, b, 0);
    vss_h_run_until(r->h, vss_h_now(r->h) + (1 + rnd(r, 5000)) * MS);
    vss_h_link_set(r->h, a, b, 1);
    break;
  }
  case F_RESTART:
    /* mostly a node with transfers in flight */
    for (int t = 0; t < r->nn && rnd(r, 4); t++)
      if (vss_h_node(r->h, t)->xfer->njobs) a = t;
    node_crashed(r, a);
    vss_h_restart(r->h, a);
    break;
  case F_CRASH:
    /* Dies at one of its next store calls: often inside a fetch's
     * commit (blob committed, row not) or an add_local. */
    vss_h_crash_after(r->h, a, 1 + rnd(r, 12));
    break;
  case F_REMOVE_FULL: {
    /* Give a a library of several digest pages, make its peers take a
     * full digest (new epoch), and remove keys of the first page while
     * the later pages are still being sent. The node object is looked
     * up again after every run: a crash or restart in it replaces it. */
    vss_node *n = vss_h_node(r->h, a);
    for (uint32_t k = 0; k < 2200; k++) { /* 3 digest pages */
      vss_key key;
      vss_h_key(&key, (uint32_t)(900000 + k), VSS_KIND_OCR, "ru");
      uint8_t b[64];
      vss_h_content(&key, sizeof(b), b);
      vss_node_add_local(n, &key, VSS_FMT_TEXT, b, sizeof(b), vss_h_now(r->h));
    }
    vss_h_run_until(r->h, vss_h_now(r->h) + 20 * S);
    /* slow links: a page (~80 KB) takes 0.4 s, the removals' push comes
     * within change_batch_delay, before the digest's last page */
    for (int b = 0; b < r->nn; b++)
      if (b != a) vss_h_link_set_rate(r->h, a, b, 200e3);
    vss_node_reset_epoch(vss_h_node(r->h, a), vss_h_now(r->h));
    /* until some peer has had the first page of the full digest */
    for (int ms = 0;
         ms < 2000 && !full_digest_under_way(vss_h_node(r->h, a)); ms++)
      vss_h_run_until(r->h, vss_h_now(r->h) + MS);
    n = vss_h_node(r->h, a);
    for (uint32_t k = 0; k < 50; k++) {
      vss_key key;
      vss_h_key(&key, (uint32_t)(900000 + rnd(r, 1000)), VSS_KIND_OCR, "ru");
      vss_node_remove_local(n, &key, vss_h_now(r->h));
    }
    vss_h_run_until(r->h, vss_h_now(r->h) + 8 * S);
    for (int b = 0; b < r->nn; b++)
      if (b != a) vss_h_link_set_rate(r->h, a, b, 0);
    break;
  }
  case F_BIG_SOURCE: {
    /* a holds 1,200 thumbnails; its neighbour b fetches them all; a
     * goes away while b has them in flight. */
    int b = neighbour(r, a);
    vss_node *na = vss_h_node(r->h, a), *nb;
    for (uint32_t k = 0; k < 1200; k++) {
      vss_key key;
      vss_h_key(&key, (uint32_t)(700000 + k), VSS_KIND_THUMB, "w256");
      uint8_t buf[512];
      vss_h_content(&key, sizeof(buf), buf);
      vss_node_add_local(na, &key, VSS_FMT_WEBP, buf, sizeof(buf),
                         vss_h_now(r->h));
    }
    vss_h_run_until(r->h, vss_h_now(r->h) + 2 * S);
    nb = vss_h_node(r->h, b); /* a crash or restart replaces it */
    for (uint32_t k = 0; k < 1200; k++) {
      vss_key key;
      vss_h_key(&key, (uint32_t)(700000 + k), VSS_KIND_THUMB, "w256");
      uint64_t job = 0;
      size_t mark = ev_mark(r, b);
      if (vss_node_fetch(nb, &key, VSS_FMT_WEBP, VSS_FETCH_FOREGROUND, &job,
                         vss_h_now(r->h)) == 0)
        track(r, b, mark, job, &key);
    }
    vss_h_run_until(r->h, vss_h_now(r->h) + 5 * MS);
    vss_h_node_set_online(r->h, a, 0);
    vss_h_run_until(r->h, vss_h_now(r->h) + (1 + rnd(r, 3000)) * MS);
    vss_h_node_set_online(r->h, a, 1);
    break;
  }
  }
}

/* Source: a sidecar fetched entirely after a node started to corrupt
 * every DATA frame, that names that node as its source, recorded the
 * peer that sent bytes, not the one whose verified bytes it kept. */
/* Liveness bookkeeping (item 18): a request's job ends with DONE,
 * GENERATED or FAILED with a reason in the incarnation that owns it; a
 * restart hands it to the next incarnation only through FETCH_RESUMED
 * (same key, new job id). An end emitted between a crash's fatal store
 * call and the harness's restart counts (as it always has here): an
 * in-memory job such as a generation cannot outlive a crash, and the
 * application that asked died with it. */
static void follow_requests(run *r, int i, const vss_event *ev) {
  uint64_t inc = incarnation(r, i);
  int end = is_end(ev);
  if (!end && ev->type != VSS_EV_FETCH_RESUMED) return;
  for (int k = 0; k < r->nreqs; k++) {
    req *q = &r->reqs[k];
    if (q->node != i || q->ended) continue;
    if (end && q->job == ev->job && q->inc == inc) q->ended = 1;
    if (!end && q->inc < inc && vss_key_cmp(&q->key, &ev->key) == 0) {
      q->job = ev->job;
      q->inc = inc;
    }
  }
}

static void on_event(void *user, int i, const vss_event *ev) {
  run *r = user;
  follow_requests(r, i, ev);
  if (ev->type != VSS_EV_FETCH_DONE || r->failed) return;
  for (int a = 0; a < r->nn; a++) {
    if (!r->liar_since[a] ||
        vss_uuid_cmp(&ev->peer, vss_h_device(r->h, a)) != 0)
      continue;
    vss_time began = ev->at - ev->duration;
    /* the whole job inside the lying: after the lift, frames are honest */
    int lying = began >= r->liar_since[a] && !r->lifted_at;
    if (lying && getenv("CAMPAIGN_TRACE")) {
      size_t n;
      const vss_event *all = vss_h_events(r->h, i, &n);
      for (size_t k = 0; k < n; k++)
        if (all[k].job == ev->job) {
          int who = -1;
          for (int b = 0; b < r->nn; b++)
            if (vss_uuid_cmp(&all[k].peer, vss_h_device(r->h, b)) == 0) who = b;
          fprintf(stderr, "  t=%.3f %s peer %d bytes %" PRIu64 " rc %d\n",
                  all[k].at / 1e9, vss_event_name(all[k].type), who,
                  all[k].bytes, all[k].rc);
        }
    }
    if (lying)
      fail(r,
           "source: node %d's FETCH_DONE for job %" PRIu64 " (%" PRIu64
           " bytes) names node %d, which corrupted every DATA frame it "
           "sent during the whole job",
           i, ev->job, ev->bytes, a);
  }
}

/* Restore every link and node, stop every fault. */
static void lift_faults(run *r) {
  r->lifted_at = vss_h_now(r->h);
  for (int a = 0; a < r->nn; a++) {
    vss_h_set_lie(r->h, a, 0);
    vss_h_node_set_online(r->h, a, 1);
    for (int b = a + 1; b < r->nn; b++) {
      vss_h_link_set_loss(r->h, a, b, 0);
      vss_h_link_set(r->h, a, b, 1);
    }
  }
}

/* ---- invariants ------------------------------------------------------ */

static void check_nodes(run *r, int full) {
  char msg[512];
  for (int i = 0; i < r->nn && !r->failed; i++) {
    if (vss_hc_safety(r->hc, i, full, NULL, msg, sizeof(msg)))
      fail(r, "%s", msg);
    else if (vss_hc_jobs(r->hc, i, msg, sizeof(msg)))
      fail(r, "%s", msg);
    else if (vss_hc_budget_check(r->hc, i, &CAMPAIGN_BUDGET, NULL, msg,
                                 sizeof(msg)))
      fail(r, "%s", msg);
    vss_h_errors e;
    vss_h_errors_get(r->h, i, &e);
    if (!r->failed && e.expiry)
      fail(r, "driver: node %d handle_expiry failed (%s)", i,
           vss_strerror(e.last_rc));
    if (!r->failed && e.recv)
      fail(r,
           "driver: node %d refused %" PRIu64 " frame(s) of honest peers (%s)",
           i, e.recv, vss_strerror(e.last_rc));
  }
}

/* CAMPAIGN_TRACE=1: the node's events about the request's sidecar. */
static void trace_key(run *r, const req *q) {
  size_t n;
  const vss_event *ev = vss_h_events(r->h, q->node, &n);
  for (size_t k = 0; k < n; k++)
    if (vss_key_cmp(&ev[k].key, &q->key) == 0 || ev[k].job == q->job)
      fprintf(stderr, "  node %d t=%.3f %s job %" PRIu64 " rc %d\n", q->node,
              ev[k].at / 1e9, vss_event_name(ev[k].type), ev[k].job, ev[k].rc);
}

static void check_liveness(run *r) {
  for (int k = 0; k < r->nreqs && !r->failed; k++) {
    const req *q = &r->reqs[k];
    if (q->ended) continue;
    if (getenv("CAMPAIGN_TRACE")) trace_key(r, q);
    char u[VSS_UUID_STR_LEN + 1];
    vss_uuid_format(&q->key.content, u);
    fail(r,
         "liveness: node %d job %" PRIu64 " (%.8s/%s, asked at %.3f s%s) "
         "never ended: no FETCH_DONE, GENERATED or FETCH_FAILED by %.3f s",
         q->node, q->job, u, vss_kind_name(q->key.kind), q->at / 1e9,
         r->restarts[q->node] != q->crashes ? ", node restarted since" : "",
         vss_h_now(r->h) / 1e9);
  }
}

static void check_convergence(run *r) {
  char msg[512];
  for (int attempt = 0; attempt < 2; attempt++) {
    for (int i = 0; i < r->nn; i++)
      vss_node_gossip_now(vss_h_node(r->h, i), vss_h_now(r->h));
    vss_h_run_until(r->h, vss_h_now(r->h) + 5 * S);
    int bad = 0;
    for (int a = 0; a < r->nn && !bad; a++)
      for (int b = 0; b < r->nn && !bad; b++)
        if (a != b && vss_h_connected(r->h, a, b) &&
            vss_hc_converged(r->hc, a, b, msg, sizeof(msg)))
          bad = 1;
    if (!bad) return;
    vss_h_run_until(r->h, vss_h_now(r->h) + GOSSIP);
  }
  fail(r, "%s", msg);
}

static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

static void count_crashes(run *r) {
  for (int i = 0; i < r->nn; i++) {
    uint64_t c = vss_h_crashes(r->h, i);
    /* restarts[] counts clean restarts; crashes come from the harness */
    static uint64_t seen[MAX_NODES];
    if (c != seen[i]) {
      r->restarts[i] += c - seen[i];
      r->used |= 1u << F_CRASH;
      seen[i] = c;
    }
  }
}

static int run_seed(run *r) {
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(r->dir, sizeof(r->dir), "%s/vss-campaign.%d", base, (int)getpid());
  rm_dir(r->dir);
  mkdir(r->dir, 0700);
  vss_rng_seed(&r->rng, r->seed * 0x9e3779b97f4a7c15ull + 1);
  if (setup(r) == 0) {
    vss_h_run_until(r->h, 3 * S);
    vss_time end = vss_h_now(r->h) + FAULT_WINDOW, next_check = 0;
    while (vss_h_now(r->h) < end && !r->failed) {
      vss_time t = vss_h_now(r->h) + (1 + rnd(r, 2000)) * MS;
      vss_h_run_until(r->h, t);
      count_crashes(r);
      if (rnd(r, 8))
        workload(r);
      else
        fault(r);
      if (vss_h_now(r->h) >= next_check) {
        check_nodes(r, 0);
        next_check = vss_h_now(r->h) + CHECK_EVERY;
      }
    }
    /* The last fault: an armed crash fires within its node's next
     * calls, so let it, then lift everything. */
    vss_h_run_until(r->h, vss_h_now(r->h) + 1 * S);
    count_crashes(r);
    for (int i = 0; i < r->nn; i++)
      vss_store_faulty_arm(vss_h_store(r->h, i), 0, 0);
    lift_faults(r);
    vss_h_run_until(r->h, vss_h_now(r->h) + LIVE_BOUND);
    if (!r->failed) check_nodes(r, 1);
    if (!r->failed) check_liveness(r);
    if (!r->failed) check_convergence(r);
    if (!r->failed) check_nodes(r, 1);
  }
  vss_hc_del(r->hc);
  vss_h_del(r->h);
  rm_dir(r->dir);
  return r->failed;
}

/* ---- driver ---------------------------------------------------------- */

static unsigned g_classes = (1u << F_COUNT) - 1;
static char g_known[256] = "";
static char g_only[256] = ""; /* --classes as given */

static void fault_names(unsigned m, char *out, size_t cap) {
  out[0] = 0;
  for (int c = 0; c < F_COUNT; c++)
    if ((m >> c) & 1)
      snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "," : "",
               FNAME[c]);
}

/* The seed's fault classes: a random non-empty subset of the enabled. */
static unsigned seed_classes(uint64_t seed) {
  vss_rng g;
  vss_rng_seed(&g, seed ^ 0xc1a55e5ull);
  unsigned m = (unsigned)vss_rng_next(&g) & g_classes;
  return m ? m : g_classes;
}

static int one(uint64_t seed, int verbose, int *out_failed, char *desc,
               size_t dcap) {
  int pfd[2];
  if (pipe(pfd)) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(pfd[0]);
    if (!verbose && !freopen("/dev/null", "w", stdout)) _exit(3);
    if (!verbose && !freopen("/dev/null", "w", stderr)) _exit(3);
    static run r;
    memset(&r, 0, sizeof(r));
    r.seed = seed;
    r.verbose = verbose;
    r.classes = seed_classes(seed);
    int bad = run_seed(&r);
    char names[128];
    fault_names(r.used, names, sizeof(names));
    dprintf(pfd[1], "%d nodes, faults [%s]%s%s", r.nn, names, bad ? ": " : "",
            bad ? r.why : "");
    _exit(bad ? 1 : 0);
  }
  close(pfd[1]);
  ssize_t n = read(pfd[0], desc, dcap - 1);
  desc[n > 0 ? n : 0] = 0;
  close(pfd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  *out_failed = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  if (*out_failed && !desc[0])
    snprintf(desc, dcap,
             "(the seed ended before its report: a sanitizer or "
             "abort; replay it to see stderr)");
  if (*out_failed && !(WIFEXITED(st) && WEXITSTATUS(st) == 1))
    snprintf(desc + strlen(desc), dcap - strlen(desc),
             " [child died: status %d]", st);
  return 0;
}

static void usage(const char *a0) {
  fprintf(stderr,
          "usage: %s [--seeds N] [--first S] [--seed S] [-v]\n"
          "          [--known-defects ITEM,...] [--classes CLASS,...]\n"
          "classes: lie loss flap restart crash remove_full big_source\n",
          a0);
}

int main(int argc, char **argv) {
  uint64_t first = 1, nseeds = 100;
  /* Sidecar-sized buffers come and go all the time: keep them on the
   * heap instead of an mmap + page faults + munmap each (2x CPU). */
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
      nseeds = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--first") && i + 1 < argc)
      first = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
      first = strtoull(argv[++i], NULL, 10);
      nseeds = 1;
      verbose = 1;
    } else if (!strcmp(argv[i], "-v"))
      verbose = 1;
    else if (!strcmp(argv[i], "--known-defects") && i + 1 < argc) {
      snprintf(g_known, sizeof(g_known), "%s", argv[++i]);
      char tmp[256];
      snprintf(tmp, sizeof(tmp), "%s", g_known);
      for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ","))
        for (size_t k = 0; k < sizeof(KNOWN) / sizeof(KNOWN[0]); k++)
          if (KNOWN[k].item == atoi(t)) g_classes &= ~(1u << KNOWN[k].cls);
    } else if (!strcmp(argv[i], "--classes") && i + 1 < argc) {
      g_classes = 0;
      snprintf(g_only, sizeof(g_only), "%s", argv[++i]);
      for (char *t = strtok(argv[i], ","); t; t = strtok(NULL, ","))
        for (int c = 0; c < F_COUNT; c++)
          if (!strcmp(t, FNAME[c])) g_classes |= 1u << c;
    } else {
      usage(argv[0]);
      return 2;
    }
  }
  char names[128];
  fault_names(g_classes, names, sizeof(names));
  printf("campaign: seeds %" PRIu64 "..%" PRIu64 ", fault classes [%s]\n",
         first, first + nseeds - 1, names);
  uint64_t bad = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint64_t s = first; s < first + nseeds; s++) {
    char desc[1400];
    int failed = 0;
    if (one(s, verbose, &failed, desc, sizeof(desc))) return 2;
    if (failed || verbose)
      printf("seed %" PRIu64 ": %s %s\n", s, failed ? "FAIL" : "ok", desc);
    if (failed) {
      bad++;
      printf("  replay: %s --seed %" PRIu64 "%s%s%s%s\n", argv[0], s,
             g_known[0] ? " --known-defects " : "", g_known,
             g_only[0] ? " --classes " : "", g_only);
    }
    if ((s - first + 1) % 100 == 0 && nseeds > 100) {
      clock_gettime(CLOCK_MONOTONIC, &t1);
      printf("progress: %" PRIu64 " seeds, %" PRIu64 " failed, %.0f s\n",
             s - first + 1, bad,
             (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    fflush(stdout);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("campaign: %" PRIu64 " seeds, %" PRIu64 " failed, %.1f s\n", nseeds,
         bad,
         (double)(t1.tv_sec - t0.tv_sec) +
             (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return bad ? 1 : 0;
}
