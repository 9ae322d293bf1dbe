/*
 * scenario_timeline.c - [timeline] lines: "TIME = COMMAND TARGET k=v ...".
 * A device target may hold {a..b} ranges (one event per name, $1/$2 in
 * the parameters replaced); names are resolved once the whole file is
 * read, so the timeline may come before the devices.
 */
#include "scenario_int.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum target { T_NONE, T_DEVICE, T_LINK } target;

static const struct {
  const char *name;
  sc_ev_type type;
  target target;
  const char *params; /* allowed k= names, space separated */
} commands[] = {
    {"generate", EV_GENERATE, T_DEVICE,
     "first count step kind variant format every until"},
    {"open-grid", EV_OPEN_GRID, T_DEVICE,
     "first count step variant mode every until"},
    {"request", EV_REQUEST, T_DEVICE,
     "item first count step kind variant format mode every until"},
    {"offline", EV_OFFLINE, T_DEVICE, "every until"},
    {"online", EV_ONLINE, T_DEVICE, "every until"},
    {"restart", EV_RESTART, T_DEVICE, "every until"},
    {"gossip", EV_GOSSIP, T_DEVICE, "every until"},
    {"wifi-rate", EV_WIFI_RATE, T_DEVICE, "level every until"},
    {"link-down", EV_LINK_DOWN, T_LINK, "every until"},
    {"link-up", EV_LINK_UP, T_LINK, "every until"},
    {"link-set", EV_LINK_SET, T_LINK,
     "bandwidth up down latency loss corrupt every until"},
    {"faults", EV_FAULTS, T_NONE, "loss corrupt every until"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Whole-word match of name in a space-separated list. An empty name
 * matches nothing: strstr(s, "") would find it at every position and
 * never advance. */
static int allowed(const char *list, const char *name) {
  size_t n = strlen(name);
  if (n == 0) return 0;
  for (const char *s = list; (s = strstr(s, name)) != NULL; s += n)
    if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0')) return 1;
  return 0;
}

static int param_u32(parser *p, const char *k, const char *v, uint32_t *out) {
  uint64_t n;
  char err[UNIT_ERR_MAX];
  if (parse_uint(v, 10000000, &n, err)) return perr(p, "%s: %s", k, err);
  *out = (uint32_t)n;
  return 1;
}

static int param_rate(parser *p, const char *k, const char *v, double *out) {
  char err[UNIT_ERR_MAX];
  if (parse_rate(v, out, err)) return perr(p, "%s: %s", k, err);
  return 1;
}

static int param_prob(parser *p, const char *k, const char *v, double *out) {
  char err[UNIT_ERR_MAX];
  if (parse_prob(v, out, err)) return perr(p, "%s: %s", k, err);
  return 1;
}

static int param_ints(parser *p, sc_event *e, const char *k, const char *v) {
  if (strcmp(k, "first") == 0 || strcmp(k, "item") == 0)
    return param_u32(p, k, v, &e->first);
  if (strcmp(k, "count") == 0) return param_u32(p, k, v, &e->count);
  if (strcmp(k, "step") == 0) {
    if (!param_u32(p, k, v, &e->step)) return 0;
    return e->step ? 1 : perr(p, "step: at least 1");
  }
  uint32_t level = 0;
  if (!param_u32(p, k, v, &level)) return 0;
  if (level >= SC_MAX_RATES) return perr(p, "level: 0..%d", SC_MAX_RATES - 1);
  e->level = (int)level;
  return 1;
}

static int param_names(parser *p, sc_event *e, const char *k, const char *v) {
  if (strcmp(k, "kind") == 0) {
    if (vss_kind_parse(v, strlen(v), &e->kind))
      return perr(p, "kind: unknown '%s'", v);
    return 1;
  }
  if (strcmp(k, "variant") == 0) {
    if (!vss_variant_valid(v, strlen(v)))
      return perr(p, "variant: bad '%s'", v);
    scopy(e->variant, sizeof(e->variant), v);
    e->set |= EVS_VARIANT;
    return 1;
  }
  if (strcmp(k, "format") == 0) {
    if (vss_format_parse(v, strlen(v), &e->format))
      return perr(p, "format: unknown '%s'", v);
    e->set |= EVS_FORMAT;
    return 1;
  }
  if (parse_mode(v, &e->mode))
    return perr(p,
                "mode: unknown '%s' (local-only, fetch-only, "
                "fetch-or-generate, generate-blocking, generate-async)",
                v);
  return 1;
}

static int param_link(parser *p, sc_event *e, const char *k, const char *v) {
  if (strcmp(k, "bandwidth") == 0) {
    if (!param_rate(p, k, v, &e->up)) return 0;
    e->down = e->up;
    e->set |= EVS_UP | EVS_DOWN;
    return 1;
  }
  if (strcmp(k, "up") == 0)
    return e->set |= EVS_UP, param_rate(p, k, v, &e->up);
  if (strcmp(k, "down") == 0)
    return e->set |= EVS_DOWN, param_rate(p, k, v, &e->down);
  if (strcmp(k, "latency") == 0) {
    vss_time t;
    char err[UNIT_ERR_MAX];
    if (parse_time(v, &t, err)) return perr(p, "%s: %s", k, err);
    e->latency = ns_to_s(t);
    e->set |= EVS_LAT;
    return 1;
  }
  if (strcmp(k, "loss") == 0)
    return e->set |= EVS_LOSS, param_prob(p, k, v, &e->loss);
  return e->set |= EVS_CORRUPT, param_prob(p, k, v, &e->corrupt);
}

static int param(parser *p, sc_event *e, const char *cmd, const char *list,
                 char *kv) {
  char *eq = strchr(kv, '=');
  if (!eq) return perr(p, "%s: want key=value, not '%s'", cmd, kv);
  *eq = '\0';
  const char *k = kv, *v = eq + 1;
  if (!allowed(list, k))
    return perr(p, "%s: unknown parameter '%s' (known: %s)", cmd, k,
                *list ? list : "none");
  if (!*v) return perr(p, "%s: empty value for '%s'", cmd, k);
  if (allowed("every until", k)) {
    vss_time t;
    char err[UNIT_ERR_MAX];
    if (parse_time(v, &t, err)) return perr(p, "%s: %s: %s", cmd, k, err);
    if (k[0] == 'e' && t < VSS_NS_PER_MS)
      return perr(p, "%s: every: at least 1ms", cmd);
    *(k[0] == 'e' ? &e->every : &e->until) = t;
    return 1;
  }
  if (allowed("first item count step level", k)) return param_ints(p, e, k, v);
  if (allowed("kind variant format mode", k)) return param_names(p, e, k, v);
  return param_link(p, e, k, v);
}

static void event_defaults(sc_event *e, sc_ev_type type) {
  e->type = type;
  e->count = 1;
  e->step = 1;
  e->kind = VSS_KIND_THUMB;
  scopy(e->variant, sizeof(e->variant), "grid@2x");
  e->mode = VSS_RESOLVE_FETCH_OR_GENERATE;
  if (type == EV_OPEN_GRID) e->count = 0; /* must be given */
}

/* One event from its command, target name and parameter text. */
static int one_event(parser *p, vss_time at, int ci, const char *target,
                     char *params) {
  sc_event *e = sc_add_event(p->sc);
  event_defaults(e, commands[ci].type);
  e->at = at;
  e->pos.line = p->line;
  if (commands[ci].target == T_DEVICE)
    scopy(e->dev_name, sizeof(e->dev_name), target);
  if (commands[ci].target == T_LINK)
    scopy(e->link_name, sizeof(e->link_name), target);
  for (char *tok = strtok(params, " \t"); tok; tok = strtok(NULL, " \t"))
    if (!param(p, e, commands[ci].name, commands[ci].params, tok)) return 0;
  if (e->type == EV_OPEN_GRID && e->count == 0)
    return perr(p, "open-grid: give count=N (items in the grid)");
  /* Items are numbered in uint32: the last one of the range must fit
   * rather than wrap around to item 0. */
  uint64_t last =
      (uint64_t)e->first + (uint64_t)(e->count ? e->count - 1 : 0) * e->step;
  if (last > UINT32_MAX)
    return perr(p, "%s: items first + (count-1) x step = %llu, above %u",
                commands[ci].name, (unsigned long long)last, UINT32_MAX);
  if (e->until && !e->every)
    return perr(p, "%s: until= without every=", commands[ci].name);
  if (e->until && e->until < at)
    return perr(p, "%s: until= before the event's own time", commands[ci].name);
  if (e->type == EV_LINK_SET && !(e->set & 0xff))
    return perr(p,
                "link-set: give bandwidth, up, down, latency, loss or corrupt");
  if (e->type == EV_FAULTS && !(e->set & (EVS_LOSS | EVS_CORRUPT)))
    return perr(p, "faults: give loss=P and/or corrupt=P");
  if (e->type == EV_OPEN_GRID) e->kind = VSS_KIND_THUMB;
  /* kind=proxy alone must not ask for a thumbnail's variant */
  if (!(e->set & EVS_VARIANT))
    scopy(e->variant, sizeof(e->variant), sc_default_variant(e->kind));
  if (!(e->set & EVS_FORMAT)) e->format = sc_default_format(e->kind);
  return 1;
}

int key_timeline(parser *p, const char *key, const char *value) {
  vss_time at;
  char err[UNIT_ERR_MAX];
  if (parse_time(key, &at, err)) return perr(p, "timeline: %s", err);
  char buf[512];
  if (!scopy(buf, sizeof(buf), value)) return perr(p, "timeline line too long");
  char *cmd = strtok(buf, " \t");
  if (!cmd) return perr(p, "timeline: empty command");
  size_t ci = 0;
  while (ci < NCOMMANDS && strcmp(commands[ci].name, cmd) != 0)
    ci++;
  if (ci == NCOMMANDS)
    return perr(p,
                "unknown command '%s' (generate, open-grid, request, "
                "offline, online, restart, gossip, wifi-rate, link-down, "
                "link-up, link-set, faults)",
                cmd);
  char *target = NULL;
  if (commands[ci].target != T_NONE) {
    target = strtok(NULL, " \t");
    if (!target || strchr(target, '='))
      return perr(p, "%s: name the %s first", cmd,
                  commands[ci].target == T_LINK ? "link" : "device");
  }
  char *rest = strtok(NULL, "");
  char params[512];
  scopy(params, sizeof(params), rest ? rest : "");
  if (commands[ci].target == T_NONE)
    return one_event(p, at, (int)ci, target, params);
  /* device and link names both take {a..b} ranges (link-down
   * home{0..9}-inet: ten events) */
  int n = expand_name(p, target, p->exp_names, p->exp_vals, SC_MAX_EXPAND);
  for (int i = 0; i < n; i++) {
    char sub[512];
    if (subst_value(p, params, p->exp_vals[i], sub, sizeof(sub))) return 0;
    if (!one_event(p, at, (int)ci, p->exp_names[i], sub)) return 0;
  }
  return 1;
}
