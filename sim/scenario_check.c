/*
 * scenario_check.c - after the whole file is read: defaults per link
 * class, cross-references (devices -> links and classes, sidecars and
 * events -> devices and links), and the checks that need the whole file.
 * Errors point at the line that holds the bad value.
 */
#include "scenario_int.h"

#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int at_line(parser *p, int line) {
  p->line = line;
  return 1;
}

/* Names become SimGrid host/link ids and CSV fields. */
static int valid_name(const char *s) {
  if (!*s || *s == '_' || *s == '~') return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("._-@", *s)) return 0;
  return 1;
}

static int check_link(parser *p, sc_link *l) {
  at_line(p, l->pos.line);
  if (!valid_name(l->name))
    return perr(p,
                "link name '%s': use letters, digits, '.', '-', '_' "
                "(not first)",
                l->name);
  if (!l->cls_set)
    return perr(p,
                "[link %s]: give class = ethernet, wifi, "
                "internet or cellular",
                l->name);
  /* With the user's own platform a [link] only gives a device its class,
   * metering and fault rates: bandwidths and sites come from the XML. */
  int own = p->sc->platform[0] != 0;
  static const double def_latency[VSS_LINK_COUNT] = {0.0002, 0.002, 0.02, 0.05};
  if (l->latency < 0) l->latency = def_latency[l->cls];
  if (l->metered < 0) l->metered = l->cls == VSS_LINK_CELLULAR;
  switch (l->cls) {
  case VSS_LINK_WIFI:
    if (l->nrates == 0 && l->up > 0) {
      l->rates[0] = l->up;
      l->nrates = 1;
    }
    if (l->nrates == 0 && own) l->rates[l->nrates++] = 1;
    if (l->nrates == 0)
      return perr(p,
                  "[link %s]: wifi needs rates = ... or "
                  "bandwidth = ...",
                  l->name);
    l->up = l->down = l->rates[0];
    break;
  case VSS_LINK_CELLULAR:
    if (l->site[0])
      return perr(p,
                  "[link %s]: a cellular link has no site (each device "
                  "on it is its own)",
                  l->name);
    /* fall through */
  default:
    if (!own && (l->up <= 0 || l->down <= 0))
      return perr(p, "[link %s]: give bandwidth = R (or up = R and down = R)",
                  l->name);
  }
  if (!own && l->cls != VSS_LINK_CELLULAR && !l->site[0])
    return perr(p,
                "[link %s]: give site = NAME (the home, office or cloud "
                "it belongs to)",
                l->name);
  if (l->site[0] && !valid_name(l->site))
    return perr(p, "[link %s]: bad site name '%s'", l->name, l->site);
  return 1;
}

static int check_uplinks(parser *p) {
  scenario *sc = p->sc;
  for (int i = 0; i < sc->nlinks; i++)
    for (int j = 0; j < i; j++) {
      const sc_link *a = &sc->links[i], *b = &sc->links[j];
      if (a->cls == VSS_LINK_INTERNET && b->cls == VSS_LINK_INTERNET &&
          strcmp(a->site, b->site) == 0) {
        at_line(p, a->pos.line);
        return perr(p, "site '%s' has two internet links (%s at line %d)",
                    a->site, b->name, b->pos.line);
      }
    }
  return 1;
}

static int check_device(parser *p, sc_device *d) {
  scenario *sc = p->sc;
  at_line(p, d->pos.line);
  if (!valid_name(d->name))
    return perr(p,
                "device name '%s': use letters, digits, '.', '-', '_' "
                "(not first)",
                d->name);
  if (!d->link_name[0])
    return perr(p, "[device %s]: give link = NAME", d->name);
  at_line(p, d->link_line);
  d->link = sc_find_link(sc, d->link_name);
  if (d->link < 0) return perr(p, "link: unknown link '%s'", d->link_name);
  const sc_link *l = &sc->links[d->link];
  if (d->wifi_rate_line) at_line(p, d->wifi_rate_line);
  if (d->wifi_rate && l->cls != VSS_LINK_WIFI)
    return perr(p, "[device %s]: wifi_rate on a %s link", d->name,
                vss_link_class_name(l->cls));
  if (l->cls == VSS_LINK_WIFI && d->wifi_rate >= l->nrates)
    return perr(p, "[device %s]: wifi_rate %d but link %s has %d rates",
                d->name, d->wifi_rate, l->name, l->nrates);
  if (d->class_name[0]) {
    at_line(p, d->class_line);
    d->cls = sc_find_class(sc, d->class_name);
    if (d->cls < 0) return perr(p, "class: unknown class '%s'", d->class_name);
  } else {
    d->cls = sc_find_class(sc, "desktop");
  }
  return 1;
}

static int check_sidecars(parser *p, sc_sidecars *s) {
  at_line(p, s->pos.line);
  if (!s->on[0])
    return perr(p, "[sidecars %s]: give on = DEVICE[, ...] or all", s->name);
  if (s->count == 0)
    return perr(p, "[sidecars %s]: count must be above zero", s->name);
  if (!s->format_set) s->format = sc_default_format(s->kind);
  if (!s->variant_set)
    scopy(s->variant, sizeof(s->variant), sc_default_variant(s->kind));
  at_line(p, s->on_line);
  if (!parse_devices(p, s->on, &s->holders, &s->nholders)) return 0;
  if (!s->size_set) return 1;
  at_line(p, s->size_line);
  /* A size is a property of kind.variant (every device that generates a
   * key makes the same bytes): two sets may repeat it, not contradict it. */
  const scenario *sc = p->sc;
  for (int i = 0; i < sc->nsizes; i++) {
    const sc_size *z = &sc->sizes[i];
    if (z->kind != s->kind || strcmp(z->variant, s->variant) != 0) continue;
    if (z->dist.type == s->size.type && z->dist.a == s->size.a &&
        z->dist.b == s->size.b)
      return 1;
    return perr(p,
                "size: [sidecars %s] gives %s.%s another size than line %d "
                "(one size distribution per kind.variant)",
                s->name, vss_kind_name(s->kind), s->variant, z->pos.line);
  }
  return add_size(p, s->kind, s->variant, &s->size);
}

static int check_event_link(parser *p, sc_event *e) {
  scenario *sc = p->sc;
  e->link = sc_find_link(sc, e->link_name);
  if (e->link < 0)
    return perr(p, "%s: unknown link '%s'", sc_ev_name(e->type), e->link_name);
  const sc_link *l = &sc->links[e->link];
  if (e->type == EV_LINK_SET && l->cls == VSS_LINK_WIFI &&
      (e->set & (EVS_UP | EVS_DOWN)))
    return perr(p, "link-set: a wifi link's rate changes per station: use "
                   "wifi-rate DEVICE level=N");
  return 1;
}

static int check_event(parser *p, sc_event *e) {
  scenario *sc = p->sc;
  at_line(p, e->pos.line);
  if (e->at > sc->duration) {
    char end[32];
    snprintf(end, sizeof(end), "%.3f s", ns_to_s(sc->duration));
    return perr(p, "%s at %.3f s is after the end of the run (duration %s)",
                sc_ev_name(e->type), ns_to_s(e->at), end);
  }
  if (e->link_name[0]) return check_event_link(p, e);
  if (!e->dev_name[0]) return 1;
  e->device = sc_find_device(sc, e->dev_name);
  if (e->device < 0)
    return perr(p, "%s: unknown device '%s'", sc_ev_name(e->type), e->dev_name);
  const sc_link *l = &sc->links[sc->devices[e->device].link];
  if (e->type == EV_WIFI_RATE) {
    if (l->cls != VSS_LINK_WIFI)
      return perr(p, "wifi-rate: device %s is not on a wifi link", e->dev_name);
    if (e->level >= l->nrates)
      return perr(p, "wifi-rate: level %d but link %s has %d rates", e->level,
                  l->name, l->nrates);
  }
  return 1;
}

static int cmp_event(const void *a, const void *b);

/* every=T: the event again at at + k T (k = 1, 2, ...) up to until= or
 * the end of the run. Commands that name items move on by count x step
 * each time (a new batch each repetition, not the same items again). */
static int repeat_event(parser *p, int idx) {
  scenario *sc = p->sc;
  sc_event base = sc->events[idx];
  vss_time end = base.until ? base.until : sc->duration;
  if (end > sc->duration) end = sc->duration;
  uint64_t shift = base.type == EV_GENERATE || base.type == EV_OPEN_GRID ||
                           base.type == EV_REQUEST
                       ? (uint64_t)(base.count ? base.count : 1) * base.step
                       : 0;
  at_line(p, base.pos.line);
  uint64_t reps = end > base.at ? (uint64_t)(end - base.at) / base.every : 0;
  if (reps > (uint64_t)(SC_MAX_EVENTS - sc->nevents))
    return perr(p, "%s: every=%.3f s makes more than %d events",
                sc_ev_name(base.type), ns_to_s(base.every), SC_MAX_EVENTS);
  for (uint64_t k = 1; k <= reps; k++) {
    uint64_t first = base.first + k * shift;
    uint64_t last =
        first + (uint64_t)(base.count ? base.count - 1 : 0) * base.step;
    if (last > UINT32_MAX)
      return perr(p, "%s: every=: repetition %llu reaches item %llu, above %u",
                  sc_ev_name(base.type), (unsigned long long)k,
                  (unsigned long long)last, UINT32_MAX);
    sc_event *e = sc_add_event(sc);
    int order = e->order;
    *e = base;
    e->order = order;
    e->at = base.at + (vss_time)k * base.every;
    e->first = (uint32_t)first;
    e->every = e->until = 0;
    e->generated = 1;
  }
  return 1;
}

static int add_state_event(parser *p, int dev, sc_ev_type type, vss_time at) {
  scenario *sc = p->sc;
  if (sc->nevents >= SC_MAX_EVENTS)
    return perr(p, "mtbf/mttr of %s make more than %d events",
                sc->devices[dev].name, SC_MAX_EVENTS);
  sc_event *e = sc_add_event(sc);
  e->type = type;
  e->at = at;
  e->device = dev;
  e->pos.line = sc->devices[dev].churn_line;
  e->generated = 1;
  scopy(e->dev_name, sizeof(e->dev_name), sc->devices[dev].name);
  return 1;
}

/* mtbf/mttr: random churn, from the seed and the device's name (the same
 * seed, the same outages). Up times ~ Exp(mtbf), down times ~ Exp(mttr),
 * alternating from the device's state at the start. */
static int churn(parser *p, int dev) {
  scenario *sc = p->sc;
  const sc_device *d = &sc->devices[dev];
  at_line(p, d->churn_line);
  if (!d->mtbf != !d->mttr)
    return perr(p, "[device %s]: give both mtbf and mttr", d->name);
  if (!d->mtbf) return 1;
  sim_rng r;
  rng_seed(&r, sc->seed ^ hash64(d->name, strlen(d->name), 11));
  int up = d->online;
  for (double t = 0;;) {
    double mean = ns_to_s(up ? d->mtbf : d->mttr);
    double u = rng_unit(&r);
    t += -mean * log(1.0 - (u < 0.999999999 ? u : 0.999999999));
    vss_time at = (vss_time)(t * 1e9);
    if (at <= 0) at = 1;
    if (at > sc->duration) return 1;
    if (!add_state_event(p, dev, up ? EV_OFFLINE : EV_ONLINE, at)) return 0;
    up = !up;
  }
}

/* Events made from the file's events and devices: repetitions and
 * churn (after the command line's overrides: they depend on the seed and
 * the duration). */
static int derived_events(parser *p) {
  scenario *sc = p->sc;
  int n = sc->nevents;
  for (int i = 0; i < n; i++)
    if (sc->events[i].every && !repeat_event(p, i)) return 0;
  for (int i = 0; i < sc->ndevices; i++)
    if (!churn(p, i)) return 0;
  return 1;
}

/* Warnings: the file is valid but probably not what was meant. */
static void warn_spread(parser *p) {
  scenario *sc = p->sc;
  if (sc->start_spread <= sc->duration) return;
  int line = 0;
  for (int i = 0; i < p->nseen; i++)
    if (strcmp(p->seen[i].key, "start_spread") == 0) line = p->seen[i].line;
  fprintf(stderr,
          "vss-sim: %s:%d: warning: start_spread %.3f s is longer than the "
          "run (%.3f s): devices drawn after the end never come online\n",
          p->path, line, ns_to_s(sc->start_spread), ns_to_s(sc->duration));
}

void scenario_spread_starts(scenario *sc) {
  if (!sc->start_spread) return;
  for (int d = 0; d < sc->ndevices; d++) {
    if (!sc->devices[d].online) continue;
    sim_rng r;
    rng_seed(&r, sc->seed ^ hash64(sc->devices[d].name,
                                   strlen(sc->devices[d].name), 5));
    vss_time at = (vss_time)(rng_unit(&r) * (double)sc->start_spread);
    if (at == 0) continue;
    sc->devices[d].online = 0;
    sc_event *e = sc_add_event(sc);
    e->type = EV_ONLINE;
    e->at = at;
    e->device = d;
    scopy(e->dev_name, sizeof(e->dev_name), sc->devices[d].name);
  }
  if (sc->nevents)
    qsort(sc->events, (size_t)sc->nevents, sizeof(*sc->events), cmp_event);
}

static int cmp_event(const void *a, const void *b) {
  const sc_event *x = a, *y = b;
  if (x->at != y->at) return x->at < y->at ? -1 : 1;
  return x->order - y->order;
}

int scenario_check(parser *p) {
  scenario *sc = p->sc;
  if (sc->ndevices == 0) return perr(p, "no [device NAME] sections");
  if (sc->platform[0] && sc->platform[0] != '/') {
    char full[SC_PATH];
    if (path_join(full, sizeof(full), sc->dir, sc->platform))
      return perr(p, "platform: path too long");
    scopy(sc->platform, sizeof(sc->platform), full);
  }
  for (int i = 0; i < sc->nlinks; i++)
    if (!check_link(p, &sc->links[i])) return 0;
  if (!sc->platform[0] && !check_uplinks(p)) return 0;
  for (int i = 0; i < sc->ndevices; i++)
    if (!check_device(p, &sc->devices[i])) return 0;
  for (int i = 0; i < sc->nsidecars; i++)
    if (!check_sidecars(p, &sc->sidecars[i])) return 0;
  for (int i = 0; i < sc->nevents; i++)
    if (!check_event(p, &sc->events[i])) return 0;
  if (!derived_events(p)) return 0;
  warn_spread(p);
  if (sc->nevents)
    qsort(sc->events, (size_t)sc->nevents, sizeof(*sc->events), cmp_event);
  return 1;
}
