/*
 * harness.c - deterministic in-process fleet. See harness.h.
 *
 * One discrete-event loop: the next time is the earliest of node timers,
 * frame arrivals, transmitters going idle and modelled generations. At
 * each time every due thing runs in a fixed order (arrivals, timers,
 * generations, sends), so a seed gives one run.
 */
#include "harness.h"

#include "rng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_MAX_NODES 128
#define H_MAX_LINKS 1024
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

typedef struct h_node {
  vss_h *h;
  int idx;
  char name[32];
  char db_path[256];
  int no_generate, online;
  vss_node_config cfg;
  vss_store *store;
  vss_blobs *blobs;
  vss_node *node;
  vss_uuid device;
  vss_event *ev;
  size_t nev, evcap;
} h_node;

struct vss_h {
  uint64_t seed;
  vss_rng rng;
  vss_time now, last_activity;
  h_node nodes[H_MAX_NODES];
  int nnodes;
  h_link links[H_MAX_LINKS];
  int nlinks;
  h_gen *gens;
  size_t ngens, gencap;
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
    vss_blobs_del(hn->blobs);
    free(hn->ev);
  }
  for (int i = 0; i < h->nlinks; i++) {
    free_dir(&h->links[i].d[0]);
    free_dir(&h->links[i].d[1]);
  }
  free(h->gens);
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
vss_blobs *vss_h_blobs(vss_h *h, int i) {
  return h->nodes[i].blobs;
}
vss_store *vss_h_store(vss_h *h, int i) {
  return h->nodes[i].store;
}
void vss_h_set_gen_size(vss_h *h, vss_kind k, uint64_t size) {
  h->gen_size[k] = size;
}

/* ---- events and generation ------------------------------------------- */

static void on_event(void *user, const vss_event *ev) {
  h_node *hn = user;
  if (hn->nev == hn->evcap) {
    size_t ncap = hn->evcap ? hn->evcap * 2 : 256;
    vss_event *p = realloc(hn->ev, ncap * sizeof(*p));
    if (!p) return;
    hn->ev = p;
    hn->evcap = ncap;
  }
  hn->ev[hn->nev++] = *ev;
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
  int rc = vss_node_add_local(h->nodes[g->node].node, &g->key, g->fmt, buf,
                              size, h->now);
  free(buf);
  if (rc) vss_node_generate_failed(h->nodes[g->node].node, g->job, rc, h->now);
  return 0;
}

/* ---- nodes ----------------------------------------------------------- */

static int open_node(vss_h *h, h_node *hn) {
  char err[256] = "";
  const char *path = hn->db_path[0] ? hn->db_path : ":memory:";
  int rc =
      vss_store_sqlite_open(&hn->store, path, &hn->device, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "harness: open %s: %s (%s)\n", path, vss_strerror(rc), err);
    return rc;
  }
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
  int rc = vss_blobs_mem_new(&hn->blobs);
  if (rc == 0) rc = open_node(h, hn);
  if (rc) return rc;
  return h->nnodes++;
}

/* ---- links ----------------------------------------------------------- */

static h_link *find_link(vss_h *h, int a, int b) {
  for (int i = 0; i < h->nlinks; i++) {
    h_link *l = &h->links[i];
    if ((l->a == a && l->b == b) || (l->a == b && l->b == a)) return l;
  }
  return NULL;
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
  if (!h->nodes[l->a].online || !h->nodes[l->b].online) return 0;
  vss_link_info ia = link_info(l, &l->d[1]); /* a receives over b->a */
  vss_link_info ib = link_info(l, &l->d[0]);
  int rc = vss_node_peer_up(h->nodes[l->a].node, &h->nodes[l->b].device, &ia,
                            h->now);
  if (rc == 0)
    rc = vss_node_peer_up(h->nodes[l->b].node, &h->nodes[l->a].device, &ib,
                          h->now);
  return rc;
}

static void both_down(vss_h *h, h_link *l) {
  vss_node_peer_down(h->nodes[l->a].node, &h->nodes[l->b].device, h->now);
  vss_node_peer_down(h->nodes[l->b].node, &h->nodes[l->a].device, h->now);
  free_dir(&l->d[0]);
  free_dir(&l->d[1]);
  l->d[0].busy_until = l->d[1].busy_until = h->now;
}

int vss_h_link(vss_h *h, int a, int b, const vss_h_link_opts *o) {
  if (h->nlinks == H_MAX_LINKS || a == b || a >= h->nnodes || b >= h->nnodes)
    return VSS_ERR_INVALID;
  h_link *l = &h->links[h->nlinks++];
  memset(l, 0, sizeof(*l));
  l->a = a;
  l->b = b;
  l->up = 1;
  if (o) l->o = *o;
  double rate = l->o.rate > 0 ? l->o.rate : 100e6;
  l->d[0] = (h_dir){.from = a, .to = b, .rate = rate};
  l->d[1] = (h_dir){
      .from = b, .to = a, .rate = l->o.rate_ba > 0 ? l->o.rate_ba : rate};
  return both_up(h, l);
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
    if ((l->a == i || l->b == i) && l->up && !online) both_down(h, l);
  }
  hn->online = online;
  for (int k = 0; k < h->nlinks && online; k++) {
    h_link *l = &h->links[k];
    if ((l->a == i || l->b == i) && l->up) {
      int rc = both_up(h, l);
      if (rc) return rc;
    }
  }
  return 0;
}

int vss_h_restart(vss_h *h, int i) {
  h_node *hn = &h->nodes[i];
  if (!hn->db_path[0]) return VSS_ERR_INVALID;
  int rc = vss_h_node_set_online(h, i, 0);
  vss_node_del(hn->node);
  vss_store_del(hn->store);
  hn->node = NULL;
  hn->store = NULL;
  /* Generations in progress die with the process. */
  size_t w = 0;
  for (size_t k = 0; k < h->ngens; k++)
    if (h->gens[k].node != i) h->gens[w++] = h->gens[k];
  h->ngens = w;
  if (rc == 0) rc = open_node(h, hn);
  if (rc == 0) rc = vss_h_node_set_online(h, i, 1);
  return rc;
}

/* ---- the event loop -------------------------------------------------- */

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
  if (d->tail)
    d->tail->next = f;
  else
    d->head = f;
  d->tail = f;
}

static int pull_sends(vss_h *h) {
  int sent = 0;
  for (int k = 0; k < h->nlinks; k++) {
    h_link *l = &h->links[k];
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
    int rc = vss_node_recv(h->nodes[d->to].node, &h->nodes[d->from].device,
                           f->data, f->len, h->now);
    free(f);
    if (rc < 0) { /* what a real driver does with a bad peer */
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
  for (int k = 0; k < h->nlinks; k++)
    for (int j = 0; j < 2; j++) {
      const h_dir *d = &h->links[k].d[j];
      if (d->head) t = tmin(t, d->head->arrive);
      if (d->busy_until > h->now) t = tmin(t, d->busy_until);
    }
  for (size_t k = 0; k < h->ngens; k++)
    t = tmin(t, h->gens[k].at);
  return t;
}

/* Everything due at h->now, repeated until nothing more happens. */
static int step_now(vss_h *h) {
  for (int k = 0; k < h->nlinks; k++)
    for (int j = 0; j < 2; j++)
      deliver(h, &h->links[k], &h->links[k].d[j]);
  for (int i = 0; i < h->nnodes; i++)
    if (vss_node_get_expiry(h->nodes[i].node) <= h->now)
      vss_node_handle_expiry(h->nodes[i].node, h->now);
  run_gens(h);
  return pull_sends(h);
}

static int in_flight(const vss_h *h) {
  for (int k = 0; k < h->nlinks; k++)
    for (int j = 0; j < 2; j++)
      if (h->links[k].d[j].head || h->links[k].d[j].busy_until > h->now)
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
  return step_now(h) < 0 ? -1 : 0;
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
  for (int k = 0; k < h->nlinks; k++)
    for (int j = 0; j < 2; j++)
      if (h->links[k].d[j].from == a && h->links[k].d[j].to == b)
        return &h->links[k].d[j];
  return NULL;
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
