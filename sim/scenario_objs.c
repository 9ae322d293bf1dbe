/*
 * scenario_objs.c - scenario objects: creation, lookup, built-in device
 * classes, defaults, and the effective settings of a device.
 */
#include "scenario_int.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS(x) ((vss_time)(x)*VSS_NS_PER_MS)
#define SEC(x) ((vss_time)(x)*VSS_NS_PER_S)
#define NEVER VSS_TIME_UNSET

/* Generation costs per device class: rough wall times of Spacedrive-like
 * jobs on such hardware (one item, one worker). Scenario [class] sections
 * override them; they only need to be plausible relative to each other
 * and to transfer times, which is what the resolver weighs. */
/* Host costs (hostcost.h). PC: measured with bench/bench_host on the
 * project's 2-core machine kind when quiet (BLAKE2b ~600 MB/s,
 * secretstream ~650 MB/s, page-cache writes ~3 GB/s; a 45 KB commit of
 * file + fdatasync + rename + dir fsync + SQLite transaction ~2.2 ms,
 * matching bench_real's ~1.1 ms fsync and ~1.1 ms other per thumbnail).
 * PHONE and NAS are assumptions, not measurements: a phone core at about
 * 40 % of that and flash fsyncs twice as slow; a NAS's low-power CPU and
 * a spinning disk's fsync. */
#define HOST_PC                                                                \
  { 600e6, 650e6, 3e9, 2200 * VSS_NS_PER_US }
#define HOST_PHONE                                                             \
  { 250e6, 260e6, 1e9, 4500 * VSS_NS_PER_US }
#define HOST_NAS                                                               \
  { 200e6, 150e6, 400e6, 8 * VSS_NS_PER_MS }

static const struct {
  const char *name;
  vss_time cost[VSS_KIND_COUNT]; /* thumb thumbstrip proxy embeddings ocr
                                    transcript gaussian_splat */
  int parallel;
  vss_strategy strategy;
  uint64_t storage;
  sc_host_costs host;
} builtin[] = {
    {"desktop",
     {MS(40), MS(1500), SEC(60), MS(150), MS(800), SEC(30), SEC(600)},
     4,
     VSS_STRATEGY_COST,
     0,
     HOST_PC},
    {"laptop",
     {MS(60), MS(2500), SEC(120), MS(250), MS(1200), SEC(60), NEVER},
     2,
     VSS_STRATEGY_COST,
     0,
     HOST_PC},
    {"mobile",
     {MS(150), SEC(6), NEVER, MS(600), SEC(3), SEC(240), NEVER},
     1,
     VSS_STRATEGY_PREFER_FETCH,
     4000000000ULL,
     HOST_PHONE},
    {"tablet",
     {MS(120), SEC(5), NEVER, MS(500), MS(2500), SEC(200), NEVER},
     1,
     VSS_STRATEGY_PREFER_FETCH,
     8000000000ULL,
     HOST_PHONE},
    {"server",
     {MS(50), SEC(2), SEC(90), MS(200), SEC(1), SEC(45), SEC(1200)},
     4,
     VSS_STRATEGY_PREFER_GENERATE,
     0,
     HOST_PC},
    {"nas",
     {MS(200), SEC(8), SEC(600), SEC(1), SEC(4), SEC(300), NEVER},
     2,
     VSS_STRATEGY_COST,
     0,
     HOST_NAS},
    {"cloud",
     {MS(30), SEC(1), SEC(30), MS(80), MS(500), SEC(15), SEC(300)},
     8,
     VSS_STRATEGY_PREFER_GENERATE,
     0,
     HOST_PC},
};

void sc_builtin_classes(scenario *sc) {
  for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
    int k = sc_add_class(sc, builtin[i].name, 0);
    sc_class *c = &sc->classes[k];
    memcpy(c->gen_cost, builtin[i].cost, sizeof(c->gen_cost));
    c->gen_parallel = builtin[i].parallel;
    c->strategy = builtin[i].strategy;
    c->storage = builtin[i].storage;
    c->host = builtin[i].host;
    c->builtin = 1;
  }
}

int sc_add_link(scenario *sc, const char *name, int line) {
  sc->links =
      xrealloc(sc->links, (size_t)(sc->nlinks + 1) * sizeof(*sc->links));
  sc_link *l = &sc->links[sc->nlinks];
  memset(l, 0, sizeof(*l));
  scopy(l->name, sizeof(l->name), name);
  l->pos.line = line;
  l->metered = -1;
  l->latency = -1;
  return sc->nlinks++;
}

int sc_add_class(scenario *sc, const char *name, int line) {
  sc->classes =
      xrealloc(sc->classes, (size_t)(sc->nclasses + 1) * sizeof(*sc->classes));
  sc_class *c = &sc->classes[sc->nclasses];
  memset(c, 0, sizeof(*c));
  scopy(c->name, sizeof(c->name), name);
  c->pos.line = line;
  for (int k = 0; k < VSS_KIND_COUNT; k++)
    c->gen_cost[k] = NEVER;
  c->gen_parallel = 1;
  c->host = (sc_host_costs)HOST_PC; /* a class of one's own: a PC's host */
  return sc->nclasses++;
}

int sc_add_device(scenario *sc, const char *name, int line) {
  if (sc->ndevices == sc->capdevices) { /* geometric: fleets of 10,000 */
    sc->capdevices = sc->capdevices ? sc->capdevices * 2 : 16;
    sc->devices =
        xrealloc(sc->devices, (size_t)sc->capdevices * sizeof(*sc->devices));
  }
  sc_device *d = &sc->devices[sc->ndevices];
  memset(d, 0, sizeof(*d));
  scopy(d->name, sizeof(d->name), name);
  d->pos.line = line;
  d->link = d->cls = -1;
  d->can_generate = 1;
  d->online = 1;
  vss_node_config def;
  vss_node_config_default(&def);
  d->prefetch = def.prefetch;
  return sc->ndevices++;
}

int sc_add_sidecars(scenario *sc, const char *name, int line) {
  sc->sidecars = xrealloc(sc->sidecars,
                          (size_t)(sc->nsidecars + 1) * sizeof(*sc->sidecars));
  sc_sidecars *s = &sc->sidecars[sc->nsidecars];
  memset(s, 0, sizeof(*s));
  scopy(s->name, sizeof(s->name), name);
  s->pos.line = line;
  s->kind = VSS_KIND_THUMB;
  scopy(s->variant, sizeof(s->variant), "grid@2x");
  s->count = 1;
  s->step = 1;
  return sc->nsidecars++;
}

sc_event *sc_add_event(scenario *sc) {
  if (sc->nevents == sc->capevents) { /* geometric: repetitions add many */
    sc->capevents = sc->capevents ? sc->capevents * 2 : 16;
    sc->events =
        xrealloc(sc->events, (size_t)sc->capevents * sizeof(*sc->events));
  }
  sc_event *e = &sc->events[sc->nevents++];
  memset(e, 0, sizeof(*e));
  e->device = e->link = -1;
  e->order = sc->nevents - 1;
  return e;
}

int sc_find_link(const scenario *sc, const char *name) {
  for (int i = 0; i < sc->nlinks; i++)
    if (strcmp(sc->links[i].name, name) == 0) return i;
  return -1;
}

int sc_find_device(const scenario *sc, const char *name) {
  for (int i = 0; i < sc->ndevices; i++)
    if (strcmp(sc->devices[i].name, name) == 0) return i;
  return -1;
}

int sc_find_class(const scenario *sc, const char *name) {
  for (int i = 0; i < sc->nclasses; i++)
    if (strcmp(sc->classes[i].name, name) == 0) return i;
  return -1;
}

/* ---- value lists ------------------------------------------------------ */

int parse_devices(parser *p, const char *value, int **out, int *n) {
  scenario *sc = p->sc;
  *out = NULL;
  *n = 0;
  if (strcmp(value, "all") == 0) {
    *out = xcalloc((size_t)sc->ndevices, sizeof(int));
    for (int i = 0; i < sc->ndevices; i++)
      (*out)[i] = i;
    *n = sc->ndevices;
    return 1;
  }
  char buf[256];
  char *items[64];
  if (!scopy(buf, sizeof(buf), value)) return perr(p, "device list too long");
  int ni = split_list(buf, items, 64);
  if (ni <= 0) return perr(p, "want one or more device names (or 'all')");
  char(*names)[SC_NAME] = xcalloc(SC_MAX_EXPAND, sizeof(*names));
  int(*vals)[2] = xcalloc(SC_MAX_EXPAND, sizeof(*vals));
  int ok = 1;
  for (int i = 0; i < ni && ok; i++) {
    int ne = expand_name(p, items[i], names, vals, SC_MAX_EXPAND);
    if (ne < 0) ok = 0;
    for (int j = 0; j < ne && ok; j++) {
      int d = sc_find_device(sc, names[j]);
      if (d < 0) {
        ok = perr(p, "unknown device '%s'", names[j]);
        break;
      }
      *out = xrealloc(*out, (size_t)(*n + 1) * sizeof(int));
      (*out)[(*n)++] = d;
    }
  }
  free(names);
  free(vals);
  if (!ok) {
    free(*out);
    *out = NULL;
    *n = 0;
  }
  return ok;
}

int parse_kinds(parser *p, const char *value, uint32_t *mask) {
  char buf[256];
  char *items[VSS_KIND_COUNT + 1];
  *mask = 0;
  if (strcmp(value, "none") == 0) return 1;
  if (!scopy(buf, sizeof(buf), value)) return perr(p, "kind list too long");
  int n = split_list(buf, items, VSS_KIND_COUNT);
  if (n < 0) return perr(p, "too many kinds in '%s'", value);
  for (int i = 0; i < n; i++) {
    vss_kind k;
    if (vss_kind_parse(items[i], strlen(items[i]), &k))
      return perr(p,
                  "unknown kind '%s' (thumb, thumbstrip, proxy, "
                  "embeddings, ocr, transcript, gaussian_splat, or none)",
                  items[i]);
    *mask |= VSS_KIND_BIT(k);
  }
  return 1;
}

int parse_links_mask(parser *p, const char *value, uint32_t *mask) {
  char buf[128];
  char *items[VSS_LINK_COUNT + 1];
  *mask = 0;
  if (strcmp(value, "none") == 0) return 1;
  if (!scopy(buf, sizeof(buf), value))
    return perr(p, "link class list too long");
  int n = split_list(buf, items, VSS_LINK_COUNT);
  if (n < 0) return perr(p, "too many link classes in '%s'", value);
  for (int i = 0; i < n; i++) {
    vss_link_class c;
    if (vss_link_class_parse(items[i], strlen(items[i]), &c))
      return perr(p,
                  "unknown link class '%s' (ethernet, wifi, internet, "
                  "cellular, or none)",
                  items[i]);
    *mask |= VSS_LINK_BIT(c);
  }
  return 1;
}

static const char *const mode_names[] = {"local-only", "fetch-only",
                                         "fetch-or-generate",
                                         "generate-blocking", "generate-async"};

int parse_mode(const char *s, vss_resolve_mode *out) {
  for (int i = 0; i < 5; i++)
    if (strcmp(s, mode_names[i]) == 0) return *out = (vss_resolve_mode)i, 0;
  return -1;
}

const char *sc_mode_name(vss_resolve_mode m) {
  return (unsigned)m < 5 ? mode_names[m] : "?";
}

static const char *const ev_names[EV_COUNT] = {
    "generate",  "open-grid", "request",  "offline",   "online", "restart",
    "link-down", "link-up",   "link-set", "wifi-rate", "gossip", "faults"};

const char *sc_ev_name(sc_ev_type t) {
  return (unsigned)t < EV_COUNT ? ev_names[t] : "?";
}

/* ---- effective settings ----------------------------------------------- */

vss_time sc_gen_cost(const scenario *sc, int dev, vss_kind kind) {
  const sc_device *d = &sc->devices[dev];
  if (!d->can_generate) return VSS_TIME_UNSET;
  if (d->gen_cost_set & VSS_KIND_BIT(kind)) return d->gen_cost[kind];
  return sc->classes[d->cls].gen_cost[kind];
}

int sc_gen_parallel(const scenario *sc, int dev) {
  const sc_device *d = &sc->devices[dev];
  return d->gen_parallel ? d->gen_parallel : sc->classes[d->cls].gen_parallel;
}

uint64_t sc_storage(const scenario *sc, int dev) {
  const sc_device *d = &sc->devices[dev];
  return d->storage_set ? d->storage : sc->classes[d->cls].storage;
}

vss_strategy sc_strategy(const scenario *sc, int dev) {
  const sc_device *d = &sc->devices[dev];
  return d->strategy_set ? d->strategy : sc->classes[d->cls].strategy;
}

/* Sizes when the scenario gives none: the DESIGN's ~45 KB grid@2x thumb,
 * and orders of magnitude for the rest. */
static size_dist builtin_size(vss_kind kind, const char *variant) {
  size_dist d = {DIST_FIXED, 0, 0};
  unsigned px = vss_variant_pixels(variant);
  switch (kind) {
  case VSS_KIND_THUMB:
    d.a = px ? 45000.0 * ((double)px * px) / (512.0 * 512.0) : 45000;
    break;
  case VSS_KIND_THUMBSTRIP:
    d.a = 300000;
    break;
  case VSS_KIND_PROXY:
    d.a = 40e6;
    break;
  case VSS_KIND_EMBEDDINGS:
    d.a = 1536;
    break;
  case VSS_KIND_OCR:
    d.a = 4000;
    break;
  case VSS_KIND_TRANSCRIPT:
    d.a = 20000;
    break;
  default:
    d.a = 20e6;
    break;
  }
  return d;
}

size_dist sc_size_for(const scenario *sc, vss_kind kind, const char *variant) {
  const size_dist *any = NULL;
  for (int i = 0; i < sc->nsizes; i++) {
    if (sc->sizes[i].kind != kind) continue;
    if (strcmp(sc->sizes[i].variant, variant) == 0) return sc->sizes[i].dist;
    if (!sc->sizes[i].variant[0]) any = &sc->sizes[i].dist;
  }
  return any ? *any : builtin_size(kind, variant);
}

const char *sc_default_variant(vss_kind kind) {
  switch (kind) {
  case VSS_KIND_THUMB:
    return "grid@2x";
  case VSS_KIND_PROXY:
    return "1080p";
  default:
    return "default";
  }
}

vss_format sc_default_format(vss_kind kind) {
  switch (kind) {
  case VSS_KIND_THUMB:
  case VSS_KIND_THUMBSTRIP:
    return VSS_FMT_WEBP;
  case VSS_KIND_PROXY:
    return VSS_FMT_MP4;
  case VSS_KIND_EMBEDDINGS:
    return VSS_FMT_MSGPACK;
  case VSS_KIND_OCR:
    return VSS_FMT_JSON;
  case VSS_KIND_TRANSCRIPT:
    return VSS_FMT_TEXT;
  default:
    return VSS_FMT_PLY;
  }
}
