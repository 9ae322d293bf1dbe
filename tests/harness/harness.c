/*
 * harness.c - deterministic in-process fleet. See harness.h.
 *
 * One discrete-event loop: the next time is the earliest of node timers,
 * frame arrivals, transmitters going idle and modelled generations. At
 * each time every due thing runs in a fixed order (arrivals, timers,
 * generations, sends), so a seed gives one run.
 */
#include "harness.h"

#include "vss/rng.h"
#include "wire.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_MAX_NODES 256
#define H_MAX_LINKS (H_MAX_NODES * (H_MAX_NODES - 1) / 2)
#define H_QUIET (2 * VSS_NS_PER_S)

typedef struct h_frame {
  struct h_frame *next;
  vss_time arrive;
  size_t len;
  uint8_t data[];
} h_frame;

typedef struct h_dir {
  int from, to;
  double rate;
  vss_time busy_until;
  h_frame *head, *tail;
  uint64_t bytes, frames;
} h_dir;

typedef struct h_link {
  int a, b, up;
  int path; /* vss_h_path: a route; up = a session the nodes asked for */
  vss_h_link_opts o;
  h_dir d[2];
} h_link;

typedef struct h_gen {
  int node;
  vss_key key;
  vss_format fmt;
  uint64_t job;
  vss_time at;
} h_gen;

typedef struct h_node h_node;

typedef struct h_act {
  int node;
  vss_uuid peer;
  vss_event_type type;
} h_act;

/* The blob store a node sees: forwards to the in-memory blobs that
 * survive restarts, but lands nothing once the node has crashed. */
typedef struct h_blobs {
  h_node *hn;
  vss_blobs *inner;
} h_blobs;

struct h_node {
  vss_h *h;
  int idx;
  char name[32];
  char db_path[256];
  int no_generate, online;
  vss_node_config cfg;
  vss_store *sqlite; /* the database */
  sqlite3 *hold;     /* memdb db_path: keeps the database between opens */
  vss_store *store;  /* store_faulty over sqlite: what the node uses */
  vss_blobs *mem;    /* survives restarts and crashes */
  vss_blobs *blobs;  /* h_blobs over mem: what the node uses */
  vss_node *node;
  vss_uuid device;
  vss_event *ev;
  size_t nev, evcap;
  int dead;          /* crashed: nothing it does lands any more */
  uint64_t crash_at; /* armed: store call that kills it; 0 none */
  uint64_t crashes;
  double lie;
  vss_h_errors err;
};

struct vss_h {
  uint64_t seed;
  vss_rng rng;
  vss_time now, last_activity;
  h_node nodes[H_MAX_NODES];
  int nnodes;
  h_link *links; /* grows; pointers into it live only within a call */
  int nlinks, linkcap;
  int *pair; /* [a * H_MAX_NODES + b] = link index + 1 */
  int *hot;  /* links that are up (or were when listed): the loops' set */
  int nhot, hot_dirty;
  struct h_act *acts; /* DIAL / HANGUP the nodes asked for */
  size_t nacts, actcap;
  int no_record;
  h_gen *gens;
  size_t ngens, gencap;
  vss_h_event_hook hook;
  void *hook_user;
  uint64_t gen_size[VSS_KIND_COUNT];
};

static vss_time tmin(vss_time a, vss_time b) {
  return a < b ? a : b;
}

static uint64_t h_rand(void *user) {
  return vss_rng_next(&((vss_h *)user)->rng);
}

vss_h *vss_h_new(uint64_t seed) {
  vss_h *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->seed = seed;
  h->pair = calloc((size_t)H_MAX_NODES * H_MAX_NODES, sizeof(*h->pair));
  if (!h->pair) {
    free(h);
    return NULL;
  }
  vss_rng_seed(&h->rng, seed);
  static const uint64_t sizes[VSS_KIND_COUNT] = {45000, 200000, 8000000, 1536,
                                                 4000,  20000,  2000000};
  memcpy(h->gen_size, sizes, sizeof(sizes));
  printf("harness seed: %" PRIu64 "\n", seed);
  return h;
}

static void free_dir(h_dir *d) {
  for (h_frame *f = d->head, *nx; f; f = nx) {
    nx = f->next;
    free(f);
  }
  d->head = d->tail = NULL;
}

void vss_h_del(vss_h *h) {
  if (!h) return;
  for (int i = 0; i < h->nnodes; i++) {
    h_node *hn = &h->nodes[i];
    vss_node_del(hn->node);
    vss_store_del(hn->store);
    vss_store_del(hn->sqlite);
    (void)sqlite3_close_v2(hn->hold);
    vss_blobs_del(hn->blobs);
    vss_blobs_del(hn->mem);
    free(hn->ev);
  }
  for (int i = 0; i < h->nlinks; i++) {
    free_dir(&h->links[i].d[0]);
    free_dir(&h->links[i].d[1]);
  }
  free(h->gens);
  free(h->links);
  free(h->pair);
  free(h->hot);
  free(h->acts);
  free(h);
}

uint64_t vss_h_seed(const vss_h *h) {
  return h->seed;
}
vss_time vss_h_now(const vss_h *h) {
  return h->now;
}
vss_node *vss_h_node(vss_h *h, int i) {
  return h->nodes[i].node;
}
const vss_uuid *vss_h_device(vss_h *h, int i) {
  return &h->nodes[i].device;
}
vss_blobs *vss_h_blobs(vss_h *h, int i) { /* survives restarts */
  return h->nodes[i].blobs;
}
vss_store *vss_h_store(vss_h *h, int i) {
  return h->nodes[i].store;
}
void vss_h_set_gen_size(vss_h *h, vss_kind k, uint64_t size) {
  h->gen_size[k] = size;
}

/* ---- events and generation ------------------------------------------- */

/* A negative rc from the node API that the driver would have to act on:
 * counted, and printed so that no test passes over it unseen. */
static void h_err(h_node *hn, uint64_t *counter, const char *what, int rc) {
  (*counter)++;
  hn->err.last_rc = rc;
  fprintf(stderr, "harness: %s: %s: %s\n", hn->name, what, vss_strerror(rc));
}

static void on_event(void *user, const vss_event *ev) {
  h_node *hn = user;
  vss_h *h = hn->h;
  if (ev->type == VSS_EV_DIAL || ev->type == VSS_EV_HANGUP) {
    /* Acted on after the call that emitted it: a driver never calls a
     * node from inside its callback. */
    if (h->nacts == h->actcap) {
      size_t ncap = h->actcap ? h->actcap * 2 : 64;
      h_act *a = realloc(h->acts, ncap * sizeof(*a));
      if (a) {
        h->acts = a;
        h->actcap = ncap;
      }
    }
    if (h->nacts < h->actcap)
      h->acts[h->nacts++] =
          (h_act){.node = hn->idx, .peer = ev->peer, .type = ev->type};
  }
  if (h->no_record) {
    if (h->hook) h->hook(h->hook_user, hn->idx, ev);
    return;
  }
  if (hn->nev == hn->evcap) {
    size_t ncap = hn->evcap ? hn->evcap * 2 : 256;
    vss_event *p = realloc(hn->ev, ncap * sizeof(*p));
    if (!p) return;
    hn->ev = p;
    hn->evcap = ncap;
  }
  hn->ev[hn->nev++] = *ev;
  if (hn->h->hook) hn->h->hook(hn->h->hook_user, hn->idx, ev);
}

void vss_h_set_event_hook(vss_h *h, vss_h_event_hook fn, void *user) {
  h->hook = fn;
  h->hook_user = user;
}

static int on_generate(void *user, const vss_key *key, vss_format fmt,
                       uint64_t job) {
  h_node *hn = user;
  vss_h *h = hn->h;
  if (h->ngens == h->gencap) {
    size_t ncap = h->gencap ? h->gencap * 2 : 64;
    h_gen *p = realloc(h->gens, ncap * sizeof(*p));
    if (!p) return VSS_ERR_NOMEM;
    h->gens = p;
    h->gencap = ncap;
  }
  vss_time cost = hn->cfg.gen_cost[key->kind];
  h->gens[h->ngens++] = (h_gen){.node = hn->idx,
                                .key = *key,
                                .fmt = fmt,
                                .job = job,
                                .at = h->now + (cost ? cost : 1)};
  return 0;
}

static int finish_gen(vss_h *h, const h_gen *g) {
  uint64_t size = h->gen_size[g->key.kind];
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return VSS_ERR_NOMEM;
  vss_h_content(&g->key, size, buf);
  h_node *hn = &h->nodes[g->node];
  int rc = vss_node_add_local(hn->node, &g->key, g->fmt, buf, size, h->now);
  free(buf);
  if (rc) rc = vss_node_generate_failed(hn->node, g->job, rc, h->now);
  if (rc < 0 && !hn->dead) h_err(hn, &hn->err.other, "generation", rc);
  return 0;
}

/* ---- nodes ----------------------------------------------------------- */

/* Dead: crashed, or its armed crash fired (the store call that kills it
 * has been made). */
static int h_dead(h_node *hn) {
  if (!hn->dead && hn->crash_at && hn->store &&
      vss_store_faulty_calls(hn->store) >= hn->crash_at)
    hn->dead = 1;
  return hn->dead;
}

static int hb_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                        uint64_t size, void **tmp) {
  h_blobs *b = ctx;
  if (h_dead(b->hn)) return VSS_ERR_IO;
  return vss_blobs_open_temp(b->inner, key, fmt, size, tmp);
}

static int hb_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                    size_t len) {
  h_blobs *b = ctx;
  if (h_dead(b->hn)) return VSS_ERR_IO;
  return vss_blobs_write(b->inner, tmp, off, buf, len);
}

/* A dead process commits nothing; the temp is freed (a crash would leave
 * an orphan temp file, which no one reads). */
static int hb_commit(void *ctx, void *tmp) {
  h_blobs *b = ctx;
  if (h_dead(b->hn)) {
    vss_blobs_discard(b->inner, tmp);
    return VSS_ERR_IO;
  }
  return vss_blobs_commit(b->inner, tmp);
}

static void hb_discard(void *ctx, void *tmp) {
  vss_blobs_discard(((h_blobs *)ctx)->inner, tmp);
}

static int hb_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                   void *buf, size_t len) {
  return vss_blobs_read(((h_blobs *)ctx)->inner, key, fmt, off, buf, len);
}

static int hb_stat(void *ctx, const vss_key *key, vss_format fmt,
                   uint64_t *size) {
  return vss_blobs_stat(((h_blobs *)ctx)->inner, key, fmt, size);
}

static int hb_remove(void *ctx, const vss_key *key, vss_format fmt) {
  h_blobs *b = ctx;
  if (h_dead(b->hn)) return VSS_ERR_IO;
  return vss_blobs_remove(b->inner, key, fmt);
}

/* Keeping a temp makes it durable: a dead process keeps nothing. */
static int hb_keep_temp(void *ctx, void *tmp, char *name) {
  h_blobs *b = ctx;
  if (h_dead(b->hn)) {
    vss_blobs_discard(b->inner, tmp);
    return VSS_ERR_IO;
  }
  return vss_blobs_keep_temp(b->inner, tmp, name);
}

static int hb_reopen_temp(void *ctx, const char *name, const vss_key *key,
                          vss_format fmt, uint64_t size, void **tmp) {
  h_blobs *b = ctx;
  if (h_dead(b->hn)) return VSS_ERR_IO;
  return vss_blobs_reopen_temp(b->inner, name, key, fmt, size, tmp);
}

static void hb_close(void *ctx) {
  free(ctx);
}

static const vss_blob_methods h_blob_methods = {
    .open_temp = hb_open_temp,
    .write = hb_write,
    .commit = hb_commit,
    .discard = hb_discard,
    .read = hb_read,
    .stat = hb_stat,
    .remove = hb_remove,
    .close = hb_close,
    .keep_temp = hb_keep_temp,
    .reopen_temp = hb_reopen_temp,
};

static int h_blobs_new(h_node *hn) {
  h_blobs *b = calloc(1, sizeof(*b));
  if (!b) return VSS_ERR_NOMEM;
  b->hn = hn;
  b->inner = hn->mem;
  int rc = vss_blobs_new(&hn->blobs, &h_blob_methods, b);
  if (rc) free(b);
  return rc;
}

static int open_node(vss_h *h, h_node *hn) {
  char err[256] = "";
  const char *path = hn->db_path[0] ? hn->db_path : ":memory:";
  int rc =
      vss_store_sqlite_open(&hn->sqlite, path, &hn->device, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "harness: open %s: %s (%s)\n", path, vss_strerror(rc), err);
    return rc;
  }
  if ((rc = vss_store_faulty_new(&hn->store, hn->sqlite, 0, 0))) return rc;
  hn->dead = 0;
  hn->crash_at = 0;
  vss_store_meta meta;
  if ((rc = vss_store_get_meta(hn->store, &meta))) return rc;
  hn->device = meta.device;
  hn->cfg.store = hn->store;
  hn->cfg.blobs = hn->blobs;
  hn->cfg.rand = h_rand;
  hn->cfg.rand_user = h;
  hn->cfg.on_event = on_event;
  hn->cfg.event_user = hn;
  hn->cfg.generate = hn->no_generate ? NULL : on_generate;
  hn->cfg.generate_user = hn;
  return vss_node_new(&hn->node, &hn->cfg, h->now);
}

int vss_h_add_node(vss_h *h, const char *name, const vss_h_node_opts *o) {
  if (h->nnodes == H_MAX_NODES) return VSS_ERR_FULL;
  h_node *hn = &h->nodes[h->nnodes];
  memset(hn, 0, sizeof(*hn));
  hn->h = h;
  hn->idx = h->nnodes;
  hn->online = 1;
  snprintf(hn->name, sizeof(hn->name), "%s", name ? name : "node");
  if (o && o->db_path)
    snprintf(hn->db_path, sizeof(hn->db_path), "%s", o->db_path);
  if (o && o->config)
    hn->cfg = *o->config;
  else
    vss_node_config_default(&hn->cfg);
  hn->no_generate = o ? o->no_generate : 0;
  for (int i = 0; i < 16; i++)
    hn->device.b[i] = (uint8_t)vss_rng_next(&h->rng);
  hn->device.b[6] = (uint8_t)((hn->device.b[6] & 0x0f) | 0x40);
  hn->device.b[8] = (uint8_t)((hn->device.b[8] & 0x3f) | 0x80);
  int rc = vss_blobs_mem_new(&hn->mem);
  if (rc == 0 && strstr(hn->db_path, "vfs=memdb") &&
      sqlite3_open_v2(hn->db_path, &hn->hold,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_URI,
                      NULL) != SQLITE_OK)
    rc = VSS_ERR_STORE;
  if (rc == 0) rc = h_blobs_new(hn);
  if (rc == 0) rc = open_node(h, hn);
  if (rc) return rc;
  return h->nnodes++;
}

/* ---- links ----------------------------------------------------------- */

static h_link *find_link_c(const vss_h *h, int a, int b) {
  if (a < 0 || b < 0 || a >= H_MAX_NODES || b >= H_MAX_NODES) return NULL;
  int k = h->pair[a * H_MAX_NODES + b];
  return k ? &h->links[k - 1] : NULL;
}

static h_link *find_link(vss_h *h, int a, int b) {
  return find_link_c(h, a, b);
}

/* The loops run over the links that are up: rebuilt when one came up
 * (a link that goes down stays listed, skipped, until then). */
static void hot_refresh(vss_h *h) {
  if (!h->hot_dirty) return;
  h->hot_dirty = 0;
  h->nhot = 0;
  for (int k = 0; k < h->nlinks; k++)
    if (h->links[k].up || h->links[k].d[0].head || h->links[k].d[1].head)
      h->hot[h->nhot++] = k;
}

static h_link *new_link(vss_h *h, int a, int b) {
  if (h->nlinks == H_MAX_LINKS || a == b || a < 0 || b < 0 || a >= h->nnodes ||
      b >= h->nnodes || find_link(h, a, b))
    return NULL;
  if (h->nlinks == h->linkcap) {
    int cap = h->linkcap ? h->linkcap * 2 : 64;
    h_link *l = realloc(h->links, (size_t)cap * sizeof(*l));
    int *hot = realloc(h->hot, (size_t)cap * sizeof(*hot));
    if (l) h->links = l;
    if (hot) h->hot = hot;
    if (!l || !hot) return NULL;
    h->linkcap = cap;
  }
  int k = h->nlinks++;
  h->pair[a * H_MAX_NODES + b] = h->pair[b * H_MAX_NODES + a] = k + 1;
  h->hot_dirty = 1;
  return &h->links[k];
}

static vss_link_info link_info(const h_link *l, const h_dir *in) {
  vss_link_info li = {.cls = l->o.cls, .metered = l->o.metered};
  if (!l->o.no_hints) {
    li.rate_hint = in->rate;
    li.rtt_hint = 2 * l->o.delay;
  }
  return li;
}

static int both_up(vss_h *h, h_link *l) {
  h->hot_dirty = 1;
  if (!h->nodes[l->a].online || !h->nodes[l->b].online) return 0;
  vss_link_info ia = link_info(l, &l->d[1]); /* a receives over b->a */
  vss_link_info ib = link_info(l, &l->d[0]);
  h_node *na = &h->nodes[l->a], *nb = &h->nodes[l->b];
  int rc = vss_node_peer_up(na->node, &nb->device, &ia, h->now);
  if (rc < 0) {
    h_err(na, &na->err.other, "peer_up", rc);
    return rc;
  }
  rc = vss_node_peer_up(nb->node, &na->device, &ib, h->now);
  if (rc < 0) h_err(nb, &nb->err.other, "peer_up", rc);
  return rc;
}

static void peer_down(vss_h *h, h_node *hn, h_node *other) {
  int rc = vss_node_peer_down(hn->node, &other->device, h->now);
  if (rc < 0 && !h_dead(hn)) h_err(hn, &hn->err.other, "peer_down", rc);
}

static void both_down(vss_h *h, h_link *l) {
  peer_down(h, &h->nodes[l->a], &h->nodes[l->b]);
  peer_down(h, &h->nodes[l->b], &h->nodes[l->a]);
  free_dir(&l->d[0]);
  free_dir(&l->d[1]);
  l->d[0].busy_until = l->d[1].busy_until = h->now;
}

static void link_init(h_link *l, int a, int b, const vss_h_link_opts *o) {
  memset(l, 0, sizeof(*l));
  l->a = a;
  l->b = b;
  l->up = 1;
  if (o) l->o = *o;
  double rate = l->o.rate > 0 ? l->o.rate : 100e6;
  l->d[0] = (h_dir){.from = a, .to = b, .rate = rate};
  l->d[1] = (h_dir){
      .from = b, .to = a, .rate = l->o.rate_ba > 0 ? l->o.rate_ba : rate};
}

int vss_h_link(vss_h *h, int a, int b, const vss_h_link_opts *o) {
  h_link *l = new_link(h, a, b);
  if (!l) return VSS_ERR_INVALID;
  link_init(l, a, b, o);
  return both_up(h, l);
}

/* What a route looks like to each end. */
static void path_tell(vss_h *h, h_link *l, int reachable) {
  h_node *na = &h->nodes[l->a], *nb = &h->nodes[l->b];
  vss_link_info ia = link_info(l, &l->d[1]), ib = link_info(l, &l->d[0]);
  int rc =
      vss_node_peer_reachable(na->node, &nb->device, &ia, reachable, h->now);
  if (rc < 0) h_err(na, &na->err.other, "peer_reachable", rc);
  rc = vss_node_peer_reachable(nb->node, &na->device, &ib, reachable, h->now);
  if (rc < 0) h_err(nb, &nb->err.other, "peer_reachable", rc);
}

int vss_h_path(vss_h *h, int a, int b, const vss_h_link_opts *o) {
  h_link *l = new_link(h, a, b);
  if (!l) return VSS_ERR_INVALID;
  link_init(l, a, b, o);
  l->up = 0;
  l->path = 1;
  if (h->nodes[a].online && h->nodes[b].online) path_tell(h, l, 1);
  return 0;
}

void vss_h_record_events(vss_h *h, int on) {
  h->no_record = !on;
}

/* A session the nodes asked for over a route: dialler first; the other
 * end may refuse it (VSS_ERR_LIMIT: its sessions are full), and the
 * dialler then hears that the connection closed. */
static void path_connect(vss_h *h, h_link *l, int dialler) {
  h_node *nd = &h->nodes[dialler];
  h_node *no = &h->nodes[dialler == l->a ? l->b : l->a];
  if (!nd->online || !no->online) {
    peer_down(h, nd, no); /* the connection failed */
    return;
  }
  const h_dir *in_d = dialler == l->a ? &l->d[1] : &l->d[0];
  const h_dir *in_o = dialler == l->a ? &l->d[0] : &l->d[1];
  vss_link_info id = link_info(l, in_d), io = link_info(l, in_o);
  int rc = vss_node_peer_up(nd->node, &no->device, &id, h->now);
  if (rc < 0) {
    if (rc != VSS_ERR_LIMIT) h_err(nd, &nd->err.other, "peer_up", rc);
    return;
  }
  rc = vss_node_peer_up(no->node, &nd->device, &io, h->now);
  if (rc < 0) {
    if (rc != VSS_ERR_LIMIT) h_err(no, &no->err.other, "peer_up", rc);
    peer_down(h, nd, no);
    return;
  }
  l->up = 1;
  l->d[0].busy_until = l->d[1].busy_until = h->now;
  h->hot_dirty = 1;
}

static int node_of(const vss_h *h, const vss_uuid *id) {
  for (int i = 0; i < h->nnodes; i++)
    if (memcmp(h->nodes[i].device.b, id->b, sizeof(id->b)) == 0) return i;
  return -1;
}

/* DIALs and HANGUPs the nodes asked for, in order. */
static void run_acts(vss_h *h) {
  for (size_t k = 0; k < h->nacts; k++) {
    h_act a = h->acts[k];
    int other = node_of(h, &a.peer);
    h_link *l = other < 0 ? NULL : find_link(h, a.node, other);
    h_node *hn = &h->nodes[a.node];
    if (a.type == VSS_EV_HANGUP) {
      if (l && l->up) {
        l->up = 0;
        both_down(h, l);
      }
    } else if (!l || !l->path) {
      if (other >= 0) peer_down(h, hn, &h->nodes[other]);
    } else if (!l->up) {
      path_connect(h, l, a.node);
    }
  }
  h->nacts = 0;
}

int vss_h_link_set(vss_h *h, int a, int b, int up) {
  h_link *l = find_link(h, a, b);
  if (!l) return VSS_ERR_NOT_FOUND;
  if (l->up == up) return 0;
  l->up = up;
  if (!up) {
    both_down(h, l);
    return 0;
  }
  return both_up(h, l);
}

int vss_h_link_set_corrupt(vss_h *h, int a, int b, double corrupt) {
  h_link *l = find_link(h, a, b);
  if (!l) return VSS_ERR_NOT_FOUND;
  l->o.corrupt = corrupt;
  return 0;
}

int vss_h_node_set_online(vss_h *h, int i, int online) {
  h_node *hn = &h->nodes[i];
  if (hn->online == online) return 0;
  for (int k = 0; k < h->nlinks; k++) {
    h_link *l = &h->links[k];
    if (l->a != i && l->b != i) continue;
    if (l->up && !online) both_down(h, l);
    if (l->path && !online) {
      l->up = 0;
      int o = l->a == i ? l->b : l->a;
      if (h->nodes[o].online) path_tell(h, l, 0);
    }
  }
  hn->online = online;
  for (int k = 0; k < h->nlinks && online; k++) {
    h_link *l = &h->links[k];
    if (l->path && (l->a == i || l->b == i)) {
      if (h->nodes[l->a].online && h->nodes[l->b].online) path_tell(h, l, 1);
      continue;
    }
    if ((l->a == i || l->b == i) && l->up) {
      int rc = both_up(h, l);
      if (rc) return rc;
    }
  }
  return 0;
}

/* Close node i (clean or dead alike: vss_node_del writes nothing) and
 * reopen it from its database. */
static int reopen(vss_h *h, int i) {
  h_node *hn = &h->nodes[i];
  int rc = vss_h_node_set_online(h, i, 0);
  vss_node_del(hn->node);
  vss_store_del(hn->store);
  vss_store_del(hn->sqlite); /* an open transaction is rolled back */
  hn->node = NULL;
  hn->store = hn->sqlite = NULL;
  /* Generations in progress die with the process. */
  size_t w = 0;
  for (size_t k = 0; k < h->ngens; k++)
    if (h->gens[k].node != i) h->gens[w++] = h->gens[k];
  h->ngens = w;
  if (rc == 0) rc = open_node(h, hn);
  if (rc == 0) rc = vss_h_node_set_online(h, i, 1);
  return rc;
}

int vss_h_restart(vss_h *h, int i) {
  if (i < 0 || i >= h->nnodes || !h->nodes[i].db_path[0])
    return VSS_ERR_INVALID;
  return reopen(h, i);
}

int vss_h_crash(vss_h *h, int i) {
  if (i < 0 || i >= h->nnodes || !h->nodes[i].db_path[0])
    return VSS_ERR_INVALID;
  h_node *hn = &h->nodes[i];
  /* From here on every store call fails and no blob lands: the peer_down
   * calls of going offline and the freeing change nothing durable. */
  hn->dead = 1;
  int rc = vss_store_faulty_arm(hn->store, 1, 1);
  hn->crashes++;
  if (rc == 0) rc = reopen(h, i);
  return rc;
}

int vss_h_crash_after(vss_h *h, int i, uint64_t n) {
  if (i < 0 || i >= h->nnodes || !h->nodes[i].db_path[0] || n == 0)
    return VSS_ERR_INVALID;
  h_node *hn = &h->nodes[i];
  hn->crash_at = vss_store_faulty_calls(hn->store) + n;
  return vss_store_faulty_arm(hn->store, hn->crash_at, 1);
}

/* Crash the nodes whose armed crash fired. */
static int reap_dead(vss_h *h) {
  for (int i = 0; i < h->nnodes; i++) {
    if (!h->nodes[i].crash_at || !h_dead(&h->nodes[i])) continue;
    int rc = vss_h_crash(h, i);
    if (rc) return rc;
  }
  return 0;
}

vss_store *vss_h_db(vss_h *h, int i) {
  return h->nodes[i].sqlite;
}

uint64_t vss_h_store_calls(const vss_h *h, int i) {
  return vss_store_faulty_calls(h->nodes[i].store);
}

int vss_h_dead(vss_h *h, int i) {
  if (i < 0 || i >= h->nnodes) return 0;
  return h_dead(&h->nodes[i]);
}

uint64_t vss_h_crashes(const vss_h *h, int i) {
  return h->nodes[i].crashes;
}

int vss_h_set_lie(vss_h *h, int i, double p) {
  if (i < 0 || i >= h->nnodes) return VSS_ERR_INVALID;
  h->nodes[i].lie = p;
  return 0;
}

int vss_h_link_set_loss(vss_h *h, int a, int b, double loss) {
  h_link *l = find_link(h, a, b);
  if (!l) return VSS_ERR_NOT_FOUND;
  l->o.loss = loss;
  return 0;
}

int vss_h_link_set_rate(vss_h *h, int a, int b, double rate) {
  h_link *l = find_link(h, a, b);
  if (!l) return VSS_ERR_NOT_FOUND;
  double ab = l->o.rate > 0 ? l->o.rate : 100e6;
  double ba = l->o.rate_ba > 0 ? l->o.rate_ba : ab;
  l->d[0].rate = rate > 0 ? rate : ab;
  l->d[1].rate = rate > 0 ? rate : ba;
  return 0;
}

int vss_h_connected(const vss_h *h, int a, int b) {
  const h_link *l = find_link_c(h, a, b);
  return l && l->up && h->nodes[a].online && h->nodes[b].online;
}

int vss_h_node_count(const vss_h *h) {
  return h->nnodes;
}

void vss_h_errors_get(const vss_h *h, int i, vss_h_errors *out) {
  *out = h->nodes[i].err;
}

/* ---- the event loop -------------------------------------------------- */

/* A byzantine source: a DATA frame whose framing, req_id, offset and
 * length are right, with one payload byte wrong. */
static void lie(vss_h *h, const h_node *hn, h_frame *f) {
  vss_msg m;
  if (f->len <= VSS_WIRE_HDR || f->data[5] != VSS_MSG_XFER_DATA ||
      vss_rng_unit(&h->rng) >= hn->lie ||
      vss_wire_decode(f->data, f->len, &m) != 0 || m.u.data.len == 0)
    return;
  size_t at = (size_t)(m.u.data.data - f->data);
  f->data[at + vss_rng_below(&h->rng, m.u.data.len)] ^= 0xa5;
}

static void transmit(vss_h *h, h_link *l, h_dir *d, const vss_outmsg *m) {
  vss_time tx = (vss_time)((double)m->len / d->rate * 1e9);
  d->busy_until = h->now + (tx ? tx : 1);
  h->last_activity = h->now;
  if (l->o.loss > 0 && vss_rng_unit(&h->rng) < l->o.loss) return;
  h_frame *f = malloc(sizeof(*f) + m->len);
  if (!f) return;
  f->next = NULL;
  f->arrive = d->busy_until + l->o.delay;
  f->len = m->len;
  memcpy(f->data, m->data, m->len);
  /* Corrupt only XFER_DATA payloads: header damage would be a framing
   * error, which a real transport (TCP + AEAD) turns into a disconnect. */
  if (l->o.corrupt > 0 && f->len > 32 && f->data[5] == 7 &&
      vss_rng_unit(&h->rng) < l->o.corrupt)
    f->data[16 + vss_rng_below(&h->rng, f->len - 16)] ^= 0x5a;
  if (h->nodes[d->from].lie > 0) lie(h, &h->nodes[d->from], f);
  if (d->tail)
    d->tail->next = f;
  else
    d->head = f;
  d->tail = f;
}

static int pull_sends(vss_h *h) {
  int sent = 0;
  hot_refresh(h);
  for (int q = 0; q < h->nhot; q++) {
    h_link *l = &h->links[h->hot[q]];
    for (int j = 0; l->up && j < 2; j++) {
      h_dir *d = &l->d[j];
      if (d->busy_until > h->now) continue;
      vss_outmsg m;
      int rc = vss_node_next_send(h->nodes[d->from].node,
                                  &h->nodes[d->to].device, &m, h->now);
      if (rc < 0) return rc;
      if (rc == 0) continue;
      transmit(h, l, d, &m);
      sent++;
    }
  }
  return sent;
}

static void deliver(vss_h *h, h_link *l, h_dir *d) {
  while (d->head && d->head->arrive <= h->now) {
    h_frame *f = d->head;
    d->head = f->next;
    if (!d->head) d->tail = NULL;
    d->bytes += f->len;
    d->frames++;
    h_node *to = &h->nodes[d->to];
    int rc = vss_node_recv(to->node, &h->nodes[d->from].device, f->data, f->len,
                           h->now);
    free(f);
    if (rc < 0) { /* what a real driver does with a bad peer */
      to->err.recv++;
      to->err.last_rc = rc;
      l->up = 0;
      both_down(h, l);
      return;
    }
  }
}

static void run_gens(vss_h *h) {
  for (size_t k = 0; k < h->ngens;) {
    if (h->gens[k].at > h->now) {
      k++;
      continue;
    }
    h_gen g = h->gens[k];
    h->gens[k] = h->gens[--h->ngens];
    finish_gen(h, &g);
  }
}

static vss_time next_time(const vss_h *h) {
  vss_time t = VSS_TIME_UNSET;
  for (int i = 0; i < h->nnodes; i++)
    t = tmin(t, vss_node_get_expiry(h->nodes[i].node));
  for (int q = 0; q < h->nhot; q++)
    for (int j = 0; j < 2; j++) {
      const h_dir *d = &h->links[h->hot[q]].d[j];
      if (d->head) t = tmin(t, d->head->arrive);
      if (d->busy_until > h->now) t = tmin(t, d->busy_until);
    }
  for (size_t k = 0; k < h->ngens; k++)
    t = tmin(t, h->gens[k].at);
  return t;
}

/* Everything due at h->now, repeated until nothing more happens. */
static int step_now(vss_h *h) {
  int rc, first = 0;
  hot_refresh(h);
  for (int q = 0; q < h->nhot; q++)
    for (int j = 0; j < 2; j++)
      deliver(h, &h->links[h->hot[q]], &h->links[h->hot[q]].d[j]);
  run_acts(h);
  if ((rc = reap_dead(h))) return rc;
  for (int i = 0; i < h->nnodes; i++) {
    h_node *hn = &h->nodes[i];
    if (vss_node_get_expiry(hn->node) > h->now) continue;
    rc = vss_node_handle_expiry(hn->node, h->now);
    if (rc < 0 && !h_dead(hn)) {
      h_err(hn, &hn->err.expiry, "handle_expiry", rc);
      if (!first) first = rc;
    }
  }
  if ((rc = reap_dead(h))) return rc;
  run_acts(h);
  run_gens(h);
  if ((rc = reap_dead(h))) return rc;
  run_acts(h);
  rc = pull_sends(h);
  if (first) return first;
  int rc2 = reap_dead(h);
  return rc2 ? rc2 : rc;
}

static int in_flight(const vss_h *h) {
  for (int q = 0; q < h->nhot; q++)
    for (int j = 0; j < 2; j++)
      if (h->links[h->hot[q]].d[j].head ||
          h->links[h->hot[q]].d[j].busy_until > h->now)
        return 1;
  return h->ngens > 0;
}

/* One step: run what is due now, then advance to the next time (<= t). */
static int advance(vss_h *h, vss_time t) {
  int rc = step_now(h);
  if (rc < 0) return rc;
  vss_time next = next_time(h);
  if (next <= h->now) next = h->now + 1; /* timers that did not move on */
  if (next > t) {
    h->now = t;
    return 0;
  }
  h->now = next;
  return 1;
}

int vss_h_run_until(vss_h *h, vss_time t) {
  int rc;
  while ((rc = advance(h, t)) > 0)
    ;
  if (rc < 0) return rc;
  rc = step_now(h);
  return rc < 0 ? rc : 0;
}

static int find_event(const h_node *hn, size_t from, vss_event_type type,
                      uint64_t job, vss_event *out) {
  for (size_t k = from; k < hn->nev; k++)
    if (hn->ev[k].type == type && (!job || hn->ev[k].job == job)) {
      if (out) *out = hn->ev[k];
      return 1;
    }
  return 0;
}

int vss_h_run_until_event(vss_h *h, int i, vss_event_type type, uint64_t job,
                          vss_time deadline, vss_event *ev) {
  size_t from = h->nodes[i].nev;
  for (;;) {
    if (find_event(&h->nodes[i], from, type, job, ev)) return 1;
    if (h->now >= deadline) {
      if (step_now(h) < 0) return -1;
      return find_event(&h->nodes[i], from, type, job, ev);
    }
    int rc = advance(h, deadline);
    if (rc < 0) return rc;
  }
}

/* The quiet test comes after each step: a frame delivered in the step
 * may have been the last activity, and the next timer may be far. */
int vss_h_run_idle(vss_h *h, vss_time deadline) {
  h->last_activity = h->now;
  for (;;) {
    if (step_now(h) < 0) return -1;
    int busy = in_flight(h);
    vss_time quiet_at = h->last_activity + H_QUIET;
    if (!busy && h->now >= quiet_at) return 0;
    if (h->now >= deadline) return 1;
    vss_time cap = busy ? deadline : tmin(deadline, quiet_at);
    vss_time next = next_time(h);
    if (next <= h->now) next = h->now + 1;
    h->now = tmin(next, cap);
  }
}

/* ---- observations ---------------------------------------------------- */

size_t vss_h_event_count(const vss_h *h, int i, vss_event_type type) {
  size_t c = 0;
  for (size_t k = 0; k < h->nodes[i].nev; k++)
    c += h->nodes[i].ev[k].type == type;
  return c;
}

const vss_event *vss_h_events(const vss_h *h, int i, size_t *n) {
  *n = h->nodes[i].nev;
  return h->nodes[i].ev;
}

static const h_dir *find_dir(const vss_h *h, int a, int b) {
  const h_link *l = find_link_c(h, a, b);
  if (!l) return NULL;
  return l->d[0].from == a ? &l->d[0] : &l->d[1];
}

uint64_t vss_h_bytes(const vss_h *h, int a, int b) {
  const h_dir *d = find_dir(h, a, b);
  return d ? d->bytes : 0;
}

uint64_t vss_h_frames(const vss_h *h, int a, int b) {
  const h_dir *d = find_dir(h, a, b);
  return d ? d->frames : 0;
}

/* ---- content --------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

void vss_h_content(const vss_key *key, uint64_t size, uint8_t *out) {
  vss_rng r;
  uint64_t seed;
  memcpy(&seed, key->content.b, 8);
  seed ^= (uint64_t)key->kind << 48;
  for (const char *v = key->variant; *v; v++)
    seed = seed * 131 + (uint8_t)*v;
  vss_rng_seed(&r, seed);
  for (uint64_t i = 0; i < size; i += 8) {
    uint64_t x = vss_rng_next(&r);
    memcpy(out + i, &x, size - i < 8 ? size - i : 8);
  }
  if (key->kind == VSS_KIND_THUMB && size >= 20) {
    memcpy(out, "RIFF", 4);
    put_le32(out + 4, (uint32_t)(size - 8));
    memcpy(out + 8, "WEBPVP8 ", 8);
    put_le32(out + 16, (uint32_t)(size - 20));
  }
}

int vss_h_generate(vss_h *h, int i, const vss_key *key, vss_format fmt,
                   uint64_t size) {
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return VSS_ERR_NOMEM;
  vss_h_content(key, size, buf);
  int rc = vss_node_add_local(h->nodes[i].node, key, fmt, buf, size, h->now);
  free(buf);
  return rc;
}

void vss_h_key(vss_key *k, uint32_t n, vss_kind kind, const char *variant) {
  vss_rng r;
  vss_uuid u;
  vss_rng_seed(&r, 0x5eedULL + n);
  uint64_t a = vss_rng_next(&r), b = vss_rng_next(&r);
  memcpy(u.b, &a, 8);
  memcpy(u.b + 8, &b, 8);
  u.b[6] = (uint8_t)((u.b[6] & 0x0f) | 0x40);
  u.b[8] = (uint8_t)((u.b[8] & 0x3f) | 0x80);
  vss_key_set(k, &u, kind, variant);
}
