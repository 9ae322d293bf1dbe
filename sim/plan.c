/*
 * plan.c - see plan.h. The plan is what vss-lab plays with real nodes, so
 * it carries only resolved facts: every item as a URI and a size (drawn
 * exactly as the simulation draws them), every path as SimGrid routes
 * it, every event with its absolute time. The lab never parses a
 * scenario file a second time.
 */
#include "plan.h"

#include "content.h"

#include <string.h>

#define URI_MAX 160

/* Names in scenarios are [A-Za-z0-9._@{}-] (scenarios/README.md); escape
 * anyway so the JSON stays valid whatever the parser let through. */
static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void kinds(FILE *f, uint32_t mask) {
  fputc('[', f);
  int first = 1;
  for (int k = 0; k < VSS_KIND_COUNT; k++)
    if (mask & VSS_KIND_BIT(k)) {
      fputs(first ? "" : ",", f);
      jstr(f, vss_kind_name((vss_kind)k));
      first = 0;
    }
  fputc(']', f);
}

static void item(FILE *f, const scenario *sc, uint32_t n, vss_kind kind,
                 const char *variant, vss_format fmt, int comma) {
  vss_key key;
  char uri[URI_MAX];
  content_key(&key, n, kind, variant);
  if (vss_uri_format(&key, fmt, uri, sizeof(uri)) < 0) uri[0] = '\0';
  fprintf(f, "%s{\"item\":%u,\"uri\":", comma ? "," : "", n);
  jstr(f, uri);
  fprintf(f, ",\"size\":%llu}", (unsigned long long)content_size(sc, &key));
}

static void links(FILE *f, const scenario *sc) {
  fputs("\"links\":[", f);
  for (int i = 0; i < sc->nlinks; i++) {
    const sc_link *l = &sc->links[i];
    fprintf(f, "%s\n {\"name\":", i ? "," : "");
    jstr(f, l->name);
    fputs(",\"class\":", f);
    jstr(f, vss_link_class_name(l->cls));
    fputs(",\"site\":", f);
    jstr(f, l->site);
    fprintf(f,
            ",\"up\":%.17g,\"down\":%.17g,\"latency_s\":%.17g,\"loss\":%.17g,"
            "\"metered\":%d,\"rates\":[",
            l->up, l->down, l->latency, l->loss,
            l->metered < 0 ? l->cls == VSS_LINK_CELLULAR : l->metered);
    for (int r = 0; r < l->nrates; r++)
      fprintf(f, "%s%.17g", r ? "," : "", l->rates[r]);
    fputs("]}", f);
  }
  fputs("],\n", f);
}

static void gen_costs(FILE *f, const scenario *sc, int d) {
  fputc('{', f);
  int first = 1;
  for (int k = 0; k < VSS_KIND_COUNT; k++) {
    vss_time t = sc_gen_cost(sc, d, (vss_kind)k);
    if (t == VSS_TIME_UNSET) continue;
    fputs(first ? "" : ",", f);
    jstr(f, vss_kind_name((vss_kind)k));
    fprintf(f, ":%.9f", ns_to_s(t));
    first = 0;
  }
  fputc('}', f);
}

static void devices(FILE *f, const world *w) {
  const scenario *sc = w->sc;
  fputs("\"devices\":[", f);
  for (int i = 0; i < sc->ndevices; i++) {
    const sc_device *d = &sc->devices[i];
    const vss_prefetch_policy *p = &d->prefetch;
    fprintf(f, "%s\n {\"name\":", i ? "," : "");
    jstr(f, d->name);
    fputs(",\"link\":", f);
    jstr(f, sc->links[d->link].name);
    fputs(",\"class\":", f);
    jstr(f, sc->classes[d->cls].name);
    fputs(",\"strategy\":", f);
    jstr(f, vss_strategy_name(sc_strategy(sc, i)));
    fprintf(f,
            ",\"online\":%d,\"wifi_rate\":%d,\"storage\":%llu,"
            "\"can_generate\":%d,\"gen_parallel\":%d,\"gen_cost_s\":",
            d->online, d->wifi_rate, (unsigned long long)sc_storage(sc, i),
            d->can_generate, sc_gen_parallel(sc, i));
    gen_costs(f, sc, i);
    fputs(",\"prefetch\":{\"eager\":", f);
    kinds(f, p->eager_kinds);
    fputs(",\"lazy\":", f);
    kinds(f, p->lazy_kinds);
    fputs(",\"never\":", f);
    kinds(f, p->never_kinds);
    fprintf(f, ",\"max_concurrent\":%u,\"allow_metered\":%d}}",
            p->max_concurrent, p->allow_metered);
  }
  fputs("],\n", f);
}

/* One-way latency and bottleneck capacity of every ordered pair, as the
 * simulation routes them (ports and uplinks add up along a route). */
static void paths(FILE *f, world *w) {
  fputs("\"paths\":[", f);
  int first = 1;
  for (int a = 0; a < w->ndev; a++)
    for (int b = 0; b < w->ndev; b++) {
      if (a == b) continue;
      const route *r = world_route(w, a, b);
      double rate = 0;
      for (int i = 0; i < r->nlinks; i++) {
        double c = w->links[r->links[i]].capacity;
        if (c > 0 && (rate == 0 || c < rate)) rate = c;
      }
      fprintf(f, "%s\n {\"from\":", first ? "" : ",");
      jstr(f, w->sc->devices[a].name);
      fputs(",\"to\":", f);
      jstr(f, w->sc->devices[b].name);
      fprintf(f,
              ",\"routable\":%d,\"latency_s\":%.17g,\"rate\":%.17g,"
              "\"links\":[",
              r->routable, r->latency, rate);
      for (int i = 0; i < r->nsclinks; i++) {
        fputs(i ? "," : "", f);
        jstr(f, w->sc->links[r->sclinks[i]].name);
      }
      fputs("]}", f);
      first = 0;
    }
  fputs("],\n", f);
}

static void initial(FILE *f, const scenario *sc) {
  fputs("\"initial\":[", f);
  for (int s = 0; s < sc->nsidecars; s++) {
    const sc_sidecars *sd = &sc->sidecars[s];
    fprintf(f, "%s\n {\"set\":", s ? "," : "");
    jstr(f, sd->name);
    fputs(",\"holders\":[", f);
    for (int h = 0; h < sd->nholders; h++) {
      fputs(h ? "," : "", f);
      jstr(f, sc->devices[sd->holders[h]].name);
    }
    fputs("],\"items\":[", f);
    for (uint32_t i = 0; i < sd->count; i++)
      item(f, sc, sd->first + i * sd->step, sd->kind, sd->variant, sd->format,
           i > 0);
    fputs("]}", f);
  }
  fputs("],\n", f);
}

static void event_items(FILE *f, const scenario *sc, const sc_event *e) {
  uint32_t n = e->type == EV_REQUEST ? 1 : e->count;
  vss_kind kind = e->type == EV_OPEN_GRID ? VSS_KIND_THUMB : e->kind;
  fputs(",\"items\":[", f);
  for (uint32_t i = 0; i < n; i++)
    item(f, sc, e->first + i * e->step, kind, e->variant, e->format, i > 0);
  fputc(']', f);
}

static void event(FILE *f, const scenario *sc, const sc_event *e, int comma) {
  fprintf(f, "%s\n {\"t_s\":%.9f,\"line\":%d,\"action\":", comma ? "," : "",
          ns_to_s(e->at), e->pos.line);
  jstr(f, sc_ev_name(e->type));
  if (e->device >= 0) {
    fputs(",\"device\":", f);
    jstr(f, sc->devices[e->device].name);
  }
  if (e->link >= 0) {
    fputs(",\"link\":", f);
    jstr(f, sc->links[e->link].name);
  }
  switch (e->type) {
  case EV_GENERATE:
  case EV_OPEN_GRID:
  case EV_REQUEST:
    fputs(",\"mode\":", f);
    jstr(f, sc_mode_name(e->mode));
    event_items(f, sc, e);
    break;
  case EV_LINK_SET:
    if (e->set & EVS_UP) fprintf(f, ",\"up\":%.17g", e->up);
    if (e->set & EVS_DOWN) fprintf(f, ",\"down\":%.17g", e->down);
    if (e->set & EVS_LAT) fprintf(f, ",\"latency_s\":%.17g", e->latency);
    if (e->set & EVS_LOSS) fprintf(f, ",\"loss\":%.17g", e->loss);
    if (e->set & EVS_CORRUPT) fprintf(f, ",\"corrupt\":%.17g", e->corrupt);
    break;
  case EV_WIFI_RATE:
    fprintf(f, ",\"level\":%d", e->level);
    break;
  case EV_FAULTS:
    if (e->set & EVS_LOSS) fprintf(f, ",\"loss\":%.17g", e->loss);
    if (e->set & EVS_CORRUPT) fprintf(f, ",\"corrupt\":%.17g", e->corrupt);
    break;
  default:
    break;
  }
  fputc('}', f);
}

int plan_write(world *w, FILE *f) {
  const scenario *sc = w->sc;
  fputs("{\"plan\":1,\"scenario\":", f);
  jstr(f, sc->name);
  fputs(",\"path\":", f);
  jstr(f, sc->path);
  fprintf(f, ",\"seed\":%llu,\"duration_s\":%.9f,\"model\":",
          (unsigned long long)sc->seed, ns_to_s(sc->duration));
  jstr(f, sc->model);
  fprintf(f,
          ",\n\"gossip\":{\"interval_s\":%.9f,\"jitter\":%.17g,"
          "\"change_batch_delay_s\":%.9f,\"cache_ttl_s\":%.9f},\n",
          ns_to_s(sc->gossip_interval), sc->gossip_jitter,
          ns_to_s(sc->change_batch_delay), ns_to_s(sc->cache_ttl));
  links(f, sc);
  devices(f, w);
  paths(f, w);
  initial(f, sc);
  fputs("\"timeline\":[", f);
  for (int e = 0; e < sc->nevents; e++)
    event(f, sc, &sc->events[e], e > 0);
  fputs("]}\n", f);
  return fflush(f) || ferror(f) ? -1 : 0;
}
