/*
 * scenario_keys.c - the keys of [scenario], [link], [class], [device],
 * [sizes] and [sidecars]. Each handler validates its value on the spot so
 * the error carries the key's own line.
 */
#include "scenario_int.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_ERR(p, key, err) perr(p, "%s: %s", key, err)

static int set_time(parser *p, const char *key, const char *v, vss_time *out) {
  char err[UNIT_ERR_MAX];
  if (parse_time(v, out, err)) return VALUE_ERR(p, key, err);
  return 1;
}

static int set_rate(parser *p, const char *key, const char *v, double *out) {
  char err[UNIT_ERR_MAX];
  if (parse_rate(v, out, err)) return VALUE_ERR(p, key, err);
  return 1;
}

static int set_prob(parser *p, const char *key, const char *v, double *out) {
  char err[UNIT_ERR_MAX];
  if (parse_prob(v, out, err)) return VALUE_ERR(p, key, err);
  return 1;
}

static int set_bool(parser *p, const char *key, const char *v, int *out) {
  char err[UNIT_ERR_MAX];
  if (parse_bool(v, out, err)) return VALUE_ERR(p, key, err);
  return 1;
}

static int set_size(parser *p, const char *key, const char *v, uint64_t *out) {
  char err[UNIT_ERR_MAX];
  if (parse_size(v, out, err)) return VALUE_ERR(p, key, err);
  return 1;
}

static int set_uint(parser *p, const char *key, const char *v, uint64_t max,
                    uint64_t *out) {
  char err[UNIT_ERR_MAX];
  if (parse_uint(v, max, out, err)) return VALUE_ERR(p, key, err);
  return 1;
}

static int set_name(parser *p, const char *key, const char *v, char *out,
                    size_t cap) {
  if (!*v) return perr(p, "%s: empty value", key);
  if (!scopy(out, cap, v))
    return perr(p, "%s: longer than %zu characters", key, cap - 1);
  return 1;
}

static int unknown(parser *p, const char *key, const char *known) {
  return perr(p, "unknown key '%s' in [%s] (known: %s)", key, p->sect, known);
}

/* ---- [scenario] ------------------------------------------------------ */

static int set_verify(parser *p, const char *v) {
  scenario *sc = p->sc;
  if (strcmp(v, "all") == 0) return sc->verify = -1, 1;
  if (strcmp(v, "none") == 0) return sc->verify = 0, 1;
  uint64_t n;
  if (!set_uint(p, "verify", v, 1000000000, &n)) return 0;
  sc->verify = (int64_t)n;
  return 1;
}

static int set_model(parser *p, const char *v) {
  static const char *models[] = {"lv08-warm", "lv08", "cm02", "constant",
                                 "ns-3",      "ib",   "smpi"};
  for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
    if (strcmp(v, models[i]) == 0)
      return set_name(p, "model", v, p->sc->model, sizeof(p->sc->model));
  return perr(p,
              "model: unknown '%s' (lv08-warm, lv08, cm02, constant, "
              "ns-3, ib, smpi)",
              v);
}

int key_scenario(parser *p, const char *key, const char *v) {
  scenario *sc = p->sc;
  if (strcmp(key, "name") == 0)
    return set_name(p, key, v, sc->name, sizeof(sc->name));
  if (strcmp(key, "description") == 0)
    return set_name(p, key, v, sc->description, sizeof(sc->description));
  if (strcmp(key, "seed") == 0) {
    sc->seed_set = 1;
    return set_uint(p, key, v, UINT64_MAX, &sc->seed);
  }
  if (strcmp(key, "duration") == 0) {
    if (!set_time(p, key, v, &sc->duration)) return 0;
    if (sc->duration == 0) return perr(p, "duration: must be above zero");
    return 1;
  }
  if (strcmp(key, "model") == 0) return set_model(p, v);
  if (strcmp(key, "platform") == 0)
    return set_name(p, key, v, sc->platform, sizeof(sc->platform));
  if (strcmp(key, "cfg") == 0) {
    if (sc->ncfg == SC_MAX_CFG)
      return perr(p, "cfg: at most %d lines", SC_MAX_CFG);
    if (!strchr(v, ':')) return perr(p, "cfg: want name:value, as for --cfg=");
    return set_name(p, key, v, sc->cfg[sc->ncfg++], sizeof(sc->cfg[0]));
  }
  if (strcmp(key, "loss") == 0) return set_prob(p, key, v, &sc->loss);
  if (strcmp(key, "corrupt") == 0) return set_prob(p, key, v, &sc->corrupt);
  if (strcmp(key, "gossip_interval") == 0) {
    if (!set_time(p, key, v, &sc->gossip_interval)) return 0;
    return sc->gossip_interval ? 1
                               : perr(p, "gossip_interval: must be above zero");
  }
  if (strcmp(key, "gossip_jitter") == 0) {
    char err[UNIT_ERR_MAX];
    if (parse_double(v, 0, 0.9, &sc->gossip_jitter, err))
      return VALUE_ERR(p, key, err);
    return 1;
  }
  if (strcmp(key, "change_batch_delay") == 0)
    return set_time(p, key, v, &sc->change_batch_delay);
  if (strcmp(key, "cache_ttl") == 0) return set_time(p, key, v, &sc->cache_ttl);
  if (strncmp(key, "limit.", 6) == 0) {
    for (int l = 0; l < VSS_LIMIT_COUNT; l++)
      if (strcmp(key + 6, vss_limit_name((vss_limit)l)) == 0) {
        if (!set_uint(p, key, v, UINT64_MAX, &sc->limits[l])) return 0;
        return sc->limits[l] ? 1 : perr(p, "%s: must be above zero", key);
      }
    return perr(p,
                "%s: no such bound (node.h vss_limit: peer_queue_bytes, "
                "peer_queue_frames, peers, jobs, ...)",
                key);
  }
  if (strcmp(key, "event_log") == 0) {
    if (strcmp(v, "all") == 0) return sc->event_log = LOG_ALL, 1;
    if (strcmp(v, "none") == 0) return sc->event_log = LOG_NONE, 1;
    return perr(p, "event_log: want all or none, not '%s'", v);
  }
  if (strcmp(key, "verify") == 0) return set_verify(p, v);
  if (strcmp(key, "check_every") == 0) {
    if (!set_time(p, key, v, &sc->check_every)) return 0;
    return sc->check_every ? 1 : perr(p, "check_every: must be above zero");
  }
  if (strcmp(key, "start_spread") == 0)
    return set_time(p, key, v, &sc->start_spread);
  if (strcmp(key, "faults") == 0) {
    if (strcmp(v, "tcp") == 0) return sc->faults_frames = 0, 1;
    if (strcmp(v, "frames") == 0) return sc->faults_frames = 1, 1;
    return perr(p, "faults: want tcp or frames, not '%s'", v);
  }
  if (strcmp(key, "hints") == 0) {
    if (strcmp(v, "none") == 0) return sc->hints_oracle = 0, 1;
    if (strcmp(v, "oracle") == 0) return sc->hints_oracle = 1, 1;
    return perr(p, "hints: want none or oracle, not '%s'", v);
  }
  if (strcmp(key, "host_costs") == 0) {
    if (strcmp(v, "on") == 0) return sc->host_costs = 1, 1;
    if (strcmp(v, "off") == 0) return sc->host_costs = 0, 1;
    return perr(p, "host_costs: want on or off, not '%s'", v);
  }
  if (strcmp(key, "payload") == 0) {
    if (strcmp(v, "real") == 0) return 1;
    return perr(p, "payload: only 'real' is supported (size-only payloads "
                   "need a core hook; see sim/README.md)");
  }
  return unknown(
      p, key,
      "name, description, seed, duration, model, platform, "
      "cfg, loss, corrupt, gossip_interval, gossip_jitter, "
      "change_batch_delay, cache_ttl, limit.NAME, event_log, verify, "
      "check_every, start_spread, faults, hints, host_costs, payload");
}

/* ---- [link NAME] ----------------------------------------------------- */

static int set_rates(parser *p, sc_link *l, const char *v) {
  char buf[256];
  char *items[SC_MAX_RATES + 1];
  if (!scopy(buf, sizeof(buf), v)) return perr(p, "rates: too long");
  int n = split_list(buf, items, SC_MAX_RATES);
  if (n <= 0)
    return perr(p, "rates: want 1 to %d rates, fastest first", SC_MAX_RATES);
  for (int i = 0; i < n; i++)
    if (!set_rate(p, "rates", items[i], &l->rates[i])) return 0;
  l->nrates = n;
  return 1;
}

int key_link(parser *p, sc_link *l, const char *key, const char *v) {
  if (strcmp(key, "class") == 0) {
    if (vss_link_class_parse(v, strlen(v), &l->cls))
      return perr(p,
                  "class: unknown link class '%s' (ethernet, wifi, "
                  "internet, cellular)",
                  v);
    l->cls_set = 1;
    return 1;
  }
  if (strcmp(key, "site") == 0)
    return set_name(p, key, v, l->site, sizeof(l->site));
  if (strcmp(key, "bandwidth") == 0) {
    if (!set_rate(p, key, v, &l->up)) return 0;
    l->down = l->up;
    return 1;
  }
  if (strcmp(key, "up") == 0) return set_rate(p, key, v, &l->up);
  if (strcmp(key, "down") == 0) return set_rate(p, key, v, &l->down);
  if (strcmp(key, "rates") == 0) return set_rates(p, l, v);
  if (strcmp(key, "latency") == 0) {
    vss_time t;
    if (!set_time(p, key, v, &t)) return 0;
    l->latency = ns_to_s(t);
    return 1;
  }
  if (strcmp(key, "loss") == 0) return set_prob(p, key, v, &l->loss);
  if (strcmp(key, "corrupt") == 0) return set_prob(p, key, v, &l->corrupt);
  if (strcmp(key, "metered") == 0) return set_bool(p, key, v, &l->metered);
  return unknown(p, key,
                 "class, site, bandwidth, up, down, rates, latency, "
                 "loss, corrupt, metered");
}

/* ---- [class NAME] and the device keys they share --------------------- */

/* "gen.thumb = 40ms" or "gen.proxy = no" (cannot generate that kind). */
static int set_gen(parser *p, const char *key, const char *v, vss_time *costs,
                   uint32_t *set_mask) {
  const char *kname = key + 4;
  vss_kind k;
  if (vss_kind_parse(kname, strlen(kname), &k))
    return perr(p,
                "%s: unknown kind '%s' (thumb, thumbstrip, proxy, "
                "embeddings, ocr, transcript, gaussian_splat)",
                key, kname);
  if (strcmp(v, "no") == 0 || strcmp(v, "never") == 0) {
    costs[k] = VSS_TIME_UNSET;
  } else {
    if (!set_time(p, key, v, &costs[k])) return 0;
    if (costs[k] == 0) return perr(p, "%s: a cost above zero, or 'no'", key);
  }
  if (set_mask) *set_mask |= VSS_KIND_BIT(k);
  return 1;
}

static int set_strategy(parser *p, const char *v, vss_strategy *out) {
  if (vss_strategy_parse(v, strlen(v), out))
    return perr(p,
                "strategy: unknown '%s' (cost, prefer-fetch, "
                "prefer-generate)",
                v);
  return 1;
}

static int set_parallel(parser *p, const char *v, int *out) {
  uint64_t n;
  if (!set_uint(p, "gen_parallel", v, 64, &n)) return 0;
  if (n == 0) return perr(p, "gen_parallel: at least 1");
  *out = (int)n;
  return 1;
}

int key_class(parser *p, sc_class *c, const char *key, const char *v) {
  if (strncmp(key, "gen.", 4) == 0)
    return set_gen(p, key, v, c->gen_cost, NULL);
  if (strcmp(key, "gen_parallel") == 0)
    return set_parallel(p, v, &c->gen_parallel);
  if (strcmp(key, "strategy") == 0) return set_strategy(p, v, &c->strategy);
  if (strcmp(key, "storage") == 0) return set_size(p, key, v, &c->storage);
  if (strcmp(key, "host.hash") == 0) return set_rate(p, key, v, &c->host.hash);
  if (strcmp(key, "host.channel") == 0)
    return set_rate(p, key, v, &c->host.channel);
  if (strcmp(key, "host.write") == 0)
    return set_rate(p, key, v, &c->host.write);
  if (strcmp(key, "host.commit") == 0)
    return set_time(p, key, v, &c->host.commit);
  return unknown(p, key,
                 "gen.KIND, gen_parallel, strategy, storage, host.hash, "
                 "host.channel, host.write, host.commit");
}

/* ---- [device NAME] --------------------------------------------------- */

static int set_prefetch(parser *p, sc_device *d, const char *key,
                        const char *v) {
  const char *k = key + 9; /* after "prefetch." */
  vss_prefetch_policy *pf = &d->prefetch;
  if (strcmp(k, "eager") == 0)
    return d->prefetch_set |= PF_EAGER, parse_kinds(p, v, &pf->eager_kinds);
  if (strcmp(k, "lazy") == 0)
    return d->prefetch_set |= PF_LAZY, parse_kinds(p, v, &pf->lazy_kinds);
  if (strcmp(k, "never") == 0)
    return d->prefetch_set |= PF_NEVER, parse_kinds(p, v, &pf->never_kinds);
  if (strcmp(k, "links") == 0)
    return d->prefetch_set |= PF_LINKS,
           parse_links_mask(p, v, &pf->allowed_links);
  if (strcmp(k, "metered") == 0)
    return d->prefetch_set |= PF_METERED,
           set_bool(p, key, v, &pf->allow_metered);
  if (strcmp(k, "max_concurrent") == 0) {
    uint64_t n;
    if (!set_uint(p, key, v, 1024, &n)) return 0;
    pf->max_concurrent = (uint32_t)n;
    d->prefetch_set |= PF_MAX;
    return 1;
  }
  return unknown(p, key,
                 "prefetch.eager, prefetch.lazy, prefetch.never, "
                 "prefetch.max_concurrent, prefetch.links, "
                 "prefetch.metered");
}

int key_device(parser *p, sc_device *d, const char *key, const char *v) {
  if (strcmp(key, "class") == 0) {
    d->class_line = p->line;
    return set_name(p, key, v, d->class_name, sizeof(d->class_name));
  }
  if (strcmp(key, "link") == 0) {
    d->link_line = p->line;
    return set_name(p, key, v, d->link_name, sizeof(d->link_name));
  }
  if (strcmp(key, "wifi_rate") == 0) {
    uint64_t n;
    if (!set_uint(p, key, v, SC_MAX_RATES - 1, &n)) return 0;
    d->wifi_rate = (int)n;
    d->wifi_rate_line = p->line;
    return 1;
  }
  if (strcmp(key, "storage") == 0)
    return d->storage_set = 1, set_size(p, key, v, &d->storage);
  if (strncmp(key, "gen.", 4) == 0)
    return set_gen(p, key, v, d->gen_cost, &d->gen_cost_set);
  if (strcmp(key, "gen_parallel") == 0)
    return set_parallel(p, v, &d->gen_parallel);
  if (strcmp(key, "strategy") == 0)
    return d->strategy_set = 1, set_strategy(p, v, &d->strategy);
  if (strcmp(key, "can_generate") == 0)
    return set_bool(p, key, v, &d->can_generate);
  if (strcmp(key, "online") == 0) return set_bool(p, key, v, &d->online);
  if (strcmp(key, "byzantine") == 0) return set_prob(p, key, v, &d->byzantine);
  if (strcmp(key, "misbehave") == 0) {
    if (strcmp(v, "stall") == 0) return d->misbehave = SC_MB_STALL, 1;
    if (strcmp(v, "refuse") == 0) return d->misbehave = SC_MB_REFUSE, 1;
    if (strcmp(v, "lie") == 0) return d->misbehave = SC_MB_LIE, 1;
    if (strcmp(v, "none") == 0) return d->misbehave = SC_MB_NONE, 1;
    return perr(p, "misbehave: unknown '%s' (stall, refuse, lie, none)", v);
  }
  if (strcmp(key, "misbehave_from") == 0)
    return set_time(p, key, v, &d->misbehave_from);
  if (strcmp(key, "mtbf") == 0 || strcmp(key, "mttr") == 0) {
    vss_time *t = key[2] == 'b' ? &d->mtbf : &d->mttr;
    if (!set_time(p, key, v, t)) return 0;
    if (*t < VSS_NS_PER_MS) return perr(p, "%s: at least 1ms", key);
    d->churn_line = p->line;
    return 1;
  }
  if (strncmp(key, "prefetch.", 9) == 0) return set_prefetch(p, d, key, v);
  return unknown(p, key,
                 "class, link, wifi_rate, storage, gen.KIND, "
                 "gen_parallel, strategy, can_generate, online, "
                 "byzantine, misbehave, misbehave_from, mtbf, mttr, "
                 "prefetch.*");
}

/* ---- [sizes] --------------------------------------------------------- */

int add_size(parser *p, vss_kind kind, const char *variant,
             const size_dist *d) {
  scenario *sc = p->sc;
  for (int i = 0; i < sc->nsizes; i++)
    if (sc->sizes[i].kind == kind && strcmp(sc->sizes[i].variant, variant) == 0)
      return perr(p, "size of %s%s%s already set at line %d",
                  vss_kind_name(kind), *variant ? "." : "", variant,
                  sc->sizes[i].pos.line);
  sc->sizes =
      xrealloc(sc->sizes, (size_t)(sc->nsizes + 1) * sizeof(*sc->sizes));
  sc_size *s = &sc->sizes[sc->nsizes++];
  memset(s, 0, sizeof(*s));
  s->kind = kind;
  scopy(s->variant, sizeof(s->variant), variant);
  s->dist = *d;
  s->pos.line = p->line;
  return 1;
}

static int parse_kind_variant(parser *p, const char *key, vss_kind *kind,
                              char *variant) {
  const char *dot = strchr(key, '.');
  size_t klen = dot ? (size_t)(dot - key) : strlen(key);
  if (vss_kind_parse(key, klen, kind))
    return perr(p, "unknown kind in '%s' (want KIND or KIND.VARIANT)", key);
  variant[0] = '\0';
  if (dot) {
    if (!vss_variant_valid(dot + 1, strlen(dot + 1)))
      return perr(p, "bad variant '%s' ([A-Za-z0-9@._-], at most %d)", dot + 1,
                  VSS_VARIANT_MAX);
    scopy(variant, VSS_VARIANT_MAX + 1, dot + 1);
  }
  return 1;
}

int key_sizes(parser *p, const char *key, const char *v) {
  vss_kind kind;
  char variant[VSS_VARIANT_MAX + 1];
  char err[UNIT_ERR_MAX];
  size_dist d;
  if (!parse_kind_variant(p, key, &kind, variant)) return 0;
  if (parse_dist(v, &d, err)) return VALUE_ERR(p, key, err);
  return add_size(p, kind, variant, &d);
}

/* ---- [sidecars NAME] ------------------------------------------------- */

static int set_u32(parser *p, const char *key, const char *v, uint32_t *out) {
  uint64_t n;
  if (!set_uint(p, key, v, 10000000, &n)) return 0;
  *out = (uint32_t)n;
  return 1;
}

int key_sidecars(parser *p, sc_sidecars *s, const char *key, const char *v) {
  if (strcmp(key, "on") == 0) {
    s->on_line = p->line;
    return set_name(p, key, v, s->on, sizeof(s->on));
  }
  if (strcmp(key, "first") == 0) return set_u32(p, key, v, &s->first);
  if (strcmp(key, "count") == 0) return set_u32(p, key, v, &s->count);
  if (strcmp(key, "step") == 0) {
    if (!set_u32(p, key, v, &s->step)) return 0;
    return s->step ? 1 : perr(p, "step: at least 1");
  }
  if (strcmp(key, "kind") == 0) {
    if (vss_kind_parse(v, strlen(v), &s->kind))
      return perr(p, "kind: unknown '%s'", v);
    return 1;
  }
  if (strcmp(key, "variant") == 0) {
    if (!vss_variant_valid(v, strlen(v)))
      return perr(p, "variant: bad '%s'", v);
    s->variant_set = 1;
    return set_name(p, key, v, s->variant, sizeof(s->variant));
  }
  if (strcmp(key, "format") == 0) {
    if (vss_format_parse(v, strlen(v), &s->format))
      return perr(p,
                  "format: unknown '%s' (webp, mp4, json, messagepack, "
                  "text, ply)",
                  v);
    s->format_set = 1;
    return 1;
  }
  if (strcmp(key, "size") == 0) {
    size_dist d;
    char err[UNIT_ERR_MAX];
    if (parse_dist(v, &d, err)) return VALUE_ERR(p, key, err);
    s->size = d;
    s->size_set = 1;
    s->size_line = p->line;
    return 1;
  }
  return unknown(p, key, "on, first, count, step, kind, variant, format, size");
}
