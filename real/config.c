/*
 * config.c - config.ini parsing (inih), defaults and peer sections.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "fsutil.h"
#include "log.h"

/* ---- value parsers --------------------------------------------------- */

void cfg_format_duration(vss_time d, char *out, size_t cap) {
  if (d % (3600 * VSS_NS_PER_S) == 0 && d)
    snprintf(out, cap, "%lluh",
             (unsigned long long)(d / (3600 * VSS_NS_PER_S)));
  else if (d % (60 * VSS_NS_PER_S) == 0 && d)
    snprintf(out, cap, "%llumin",
             (unsigned long long)(d / (60 * VSS_NS_PER_S)));
  else if (d % VSS_NS_PER_S == 0)
    snprintf(out, cap, "%llus", (unsigned long long)(d / VSS_NS_PER_S));
  else
    snprintf(out, cap, "%llums", (unsigned long long)(d / VSS_NS_PER_MS));
}

int cfg_name_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > CFG_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i])) return 0;
  return 1;
}

int cfg_parse_addr(const char *s, cfg_addr *out) {
  const char *colon;
  char *end;
  size_t hlen;
  unsigned long port;

  if (s[0] == '[') { /* [v6]:port */
    const char *rb = strchr(s, ']');
    if (rb == NULL || rb[1] != ':') return -1;
    hlen = (size_t)(rb - s - 1);
    s++;
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL) return -1;
    hlen = (size_t)(colon - s);
  }
  if (hlen == 0 || hlen > CFG_HOST_MAX) return -1;
  errno = 0;
  port = strtoul(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || port > 65535) return -1;
  memcpy(out->host, s, hlen);
  out->host[hlen] = '\0';
  out->port = (uint16_t)port;
  return 0;
}

int cfg_parse_size(const char *s, uint64_t *out) {
  char *end;
  double v;
  uint64_t mul = 1;

  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v < 0 || !isdigit((unsigned char)*s))
    return -1;
  switch (toupper((unsigned char)*end)) {
  case 'K':
    mul = 1ULL << 10;
    end++;
    break;
  case 'M':
    mul = 1ULL << 20;
    end++;
    break;
  case 'G':
    mul = 1ULL << 30;
    end++;
    break;
  case 'T':
    mul = 1ULL << 40;
    end++;
    break;
  default:
    break;
  }
  if (*end == 'i') end++;
  if (*end == 'B' || *end == 'b') end++;
  if (*end != '\0' || v * (double)mul > 1.8e19) return -1;
  *out = (uint64_t)(v * (double)mul);
  return 0;
}

int cfg_parse_duration(const char *s, vss_time *out) {
  static const struct {
    const char *unit;
    double ns;
  } units[] = {{"", 1e9},   {"s", 1e9},    {"ms", 1e6},
               {"us", 1e3}, {"min", 60e9}, {"h", 3600e9}};
  char *end;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v < 0 || !isdigit((unsigned char)*s))
    return -1;
  while (*end == ' ')
    end++;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) == 0 && v * units[i].ns < 1.8e19) {
      *out = (vss_time)(v * units[i].ns);
      return 0;
    }
  }
  return -1;
}

static int parse_bool(const char *s, int *out) {
  if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1") ||
      !strcasecmp(s, "on"))
    *out = 1;
  else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0") ||
           !strcasecmp(s, "off"))
    *out = 0;
  else
    return -1;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out) {
  char *end;
  unsigned long v;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-') return -1;
  *out = (uint32_t)v;
  return 0;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return errno || end == s || *end || !isfinite(*out) ? -1 : 0;
}

/* "thumb,ocr" -> bit mask; "none" -> 0. */
static int parse_kinds(const char *s, uint32_t *out) {
  uint32_t m = 0;
  const char *p = s;
  if (strcmp(s, "none") == 0 || s[0] == '\0') {
    *out = 0;
    return 0;
  }
  while (*p) {
    size_t n = strcspn(p, ", ");
    vss_kind k;
    if (n > 0) {
      if (vss_kind_parse(p, n, &k) < 0 && vss_kind_from_dir(p, n, &k) < 0)
        return -1;
      m |= VSS_KIND_BIT(k);
    }
    p += n;
    while (*p == ',' || *p == ' ')
      p++;
  }
  *out = m;
  return 0;
}

static int parse_links(const char *s, uint32_t *out) {
  uint32_t m = 0;
  const char *p = s;
  if (strcmp(s, "all") == 0) {
    *out = (1u << VSS_LINK_COUNT) - 1;
    return 0;
  }
  while (*p) {
    size_t n = strcspn(p, ", ");
    vss_link_class c;
    if (n > 0) {
      if (vss_link_class_parse(p, n, &c) < 0) return -1;
      m |= VSS_LINK_BIT(c);
    }
    p += n;
    while (*p == ',' || *p == ' ')
      p++;
  }
  *out = m;
  return 0;
}

/* ---- the ini handler ------------------------------------------------- */

typedef struct load_ctx {
  cfg *c;
  char *err;
  size_t errcap;
  int failed;
  char **seen; /* "section\nkey" of every entry so far */
  size_t nseen, capseen;
  int idle_set;
} load_ctx;

#define BAD(what) (snprintf(lc->err, lc->errcap, "%s", what), 0)

/* A duration within [lo, hi]: zero or absurd timeouts are refused (a
 * zero handshake timeout would disable the timer, a zero reconnect_min
 * would redial in a tight loop). */
static int set_dur_in(load_ctx *lc, const char *k, const char *v, vss_time *out,
                      vss_time lo, vss_time hi) {
  char lo_s[32], hi_s[32];
  vss_time d;
  if (cfg_parse_duration(v, &d) == 0 && d >= lo && d <= hi) {
    *out = d;
    return 1;
  }
  cfg_format_duration(lo, lo_s, sizeof lo_s);
  cfg_format_duration(hi, hi_s, sizeof hi_s);
  snprintf(lc->err, lc->errcap, "%s: expected a duration from %s to %s", k,
           lo_s, hi_s);
  return 0;
}

/* The core spells strategies with '-', config keys use '_': both go. */
static int set_strategy(load_ctx *lc, const char *v, vss_strategy *out) {
  char buf[32], names[128] = "";
  size_t n = strlen(v);
  if (n < sizeof buf) {
    for (size_t i = 0; i <= n; i++)
      buf[i] = v[i] == '_' ? '-' : v[i];
    if (vss_strategy_parse(buf, n, out) == 0) return 1;
  }
  for (int i = 0; vss_strategy_name((vss_strategy)i); i++) {
    size_t len = strlen(names);
    snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
             vss_strategy_name((vss_strategy)i));
  }
  for (char *p = names; *p; p++)
    if (*p == '-') *p = '_';
  snprintf(lc->err, lc->errcap, "strategy: expected one of %s", names);
  return 0;
}

static int set_node(load_ctx *lc, const char *k, const char *v) {
  cfg *c = lc->c;
  if (!strcmp(k, "name")) {
    if (!cfg_name_valid(v)) return BAD("name: use 1-63 of [A-Za-z0-9_.-]");
    snprintf(c->name, sizeof c->name, "%s", v);
  } else if (!strcmp(k, "listen")) {
    c->listen_on = strcmp(v, "off") != 0;
    if (c->listen_on && cfg_parse_addr(v, &c->listen) < 0)
      return BAD("listen: expected host:port or off");
  } else if (!strcmp(k, "log_level")) {
    if ((c->log_level = log_level_parse(v)) < 0)
      return BAD("log_level: expected error, warn, info or debug");
  } else if (!strcmp(k, "upload_limit")) {
    if (cfg_parse_size(v, &c->upload_limit) < 0)
      return BAD("upload_limit: expected bytes per second (e.g. 10M, 0)");
  } else if (!strcmp(k, "handshake_timeout")) {
    return set_dur_in(lc, k, v, &c->handshake_timeout, 100 * VSS_NS_PER_MS,
                      600 * VSS_NS_PER_S);
  } else if (!strcmp(k, "idle_timeout")) {
    return set_dur_in(lc, k, v, &c->idle_timeout, VSS_NS_PER_S,
                      24 * 3600 * VSS_NS_PER_S);
  } else if (!strcmp(k, "record_timeout")) {
    return set_dur_in(lc, k, v, &c->record_timeout, 100 * VSS_NS_PER_MS,
                      3600 * VSS_NS_PER_S);
  } else if (!strcmp(k, "reconnect_min")) {
    return set_dur_in(lc, k, v, &c->reconnect_min, 10 * VSS_NS_PER_MS,
                      3600 * VSS_NS_PER_S);
  } else if (!strcmp(k, "reconnect_max")) {
    return set_dur_in(lc, k, v, &c->reconnect_max, 10 * VSS_NS_PER_MS,
                      24 * 3600 * VSS_NS_PER_S);
  } else if (!strcmp(k, "strategy")) {
    return set_strategy(lc, v, &c->core.strategy);
  } else if (!strcmp(k, "cipher")) {
    if (!strcmp(v, "auto"))
      c->no_aes = 0;
    else if (!strcmp(v, "xchacha20poly1305"))
      c->no_aes = 1;
    else
      return BAD("cipher: expected auto or xchacha20poly1305");
  } else {
    return BAD("unknown key in [node]");
  }
  return 1;
}

static int set_dur(load_ctx *lc, const char *v, vss_time *out) {
  if (cfg_parse_duration(v, out) < 0)
    return BAD("expected a duration (e.g. 300s, 200ms, 5min)");
  return 1;
}

static int set_gossip(load_ctx *lc, const char *k, const char *v) {
  vss_node_config *n = &lc->c->core;
  if (!strcmp(k, "interval")) return set_dur(lc, v, &n->gossip_interval);
  if (!strcmp(k, "change_batch_delay"))
    return set_dur(lc, v, &n->change_batch_delay);
  if (!strcmp(k, "cache_ttl")) return set_dur(lc, v, &n->cache_ttl);
  if (!strcmp(k, "negative_ttl")) return set_dur(lc, v, &n->negative_ttl);
  if (!strcmp(k, "query_timeout")) return set_dur(lc, v, &n->query_timeout);
  if (!strcmp(k, "jitter")) {
    if (parse_double(v, &n->gossip_jitter) < 0 || n->gossip_jitter < 0 ||
        n->gossip_jitter >= 1)
      return BAD("jitter: expected a fraction in [0, 1)");
    return 1;
  }
  return BAD("unknown key in [gossip]");
}

static int set_transfer(load_ctx *lc, const char *k, const char *v) {
  if (!strcmp(k, "source_patience"))
    return set_dur(lc, v, &lc->c->core.source_patience);
  if (!strcmp(k, "prefetch_patience"))
    return set_dur(lc, v, &lc->c->core.prefetch_patience);
  vss_node_config *n = &lc->c->core;
  if (!strcmp(k, "max_retries")) {
    if (parse_u32(v, &n->max_retries) < 0) return BAD("expected a count");
  } else if (!strcmp(k, "retry_backoff")) {
    return set_dur(lc, v, &n->retry_backoff);
  } else if (!strcmp(k, "window_min")) {
    if (cfg_parse_size(v, &n->window_min) < 0) return BAD("expected a size");
  } else if (!strcmp(k, "window_max")) {
    if (cfg_parse_size(v, &n->window_max) < 0) return BAD("expected a size");
  } else {
    return BAD("unknown key in [transfer]");
  }
  return 1;
}

static int set_prefetch(load_ctx *lc, const char *k, const char *v) {
  vss_prefetch_policy *p = &lc->c->core.prefetch;
  if (!strcmp(k, "eager") || !strcmp(k, "lazy") || !strcmp(k, "never")) {
    uint32_t *m = k[0] == 'e'   ? &p->eager_kinds
                  : k[0] == 'l' ? &p->lazy_kinds
                                : &p->never_kinds;
    if (parse_kinds(v, m) < 0)
      return BAD("expected kinds such as thumb,ocr or none");
  } else if (!strcmp(k, "max_concurrent")) {
    if (parse_u32(v, &p->max_concurrent) < 0) return BAD("expected a count");
  } else if (!strcmp(k, "links")) {
    if (parse_links(v, &p->allowed_links) < 0)
      return BAD("expected link classes such as ethernet,wifi or all");
  } else if (!strcmp(k, "allow_metered")) {
    if (parse_bool(v, &p->allow_metered) < 0) return BAD("expected yes or no");
  } else if (!strcmp(k, "storage_budget")) {
    if (cfg_parse_size(v, &p->storage_budget) < 0)
      return BAD("expected a size (e.g. 2G, 0 = no limit)");
  } else {
    return BAD("unknown key in [prefetch]");
  }
  return 1;
}

/* [generate]: an external program makes sidecars this device lacks
 * (resolver fallback): `command URI OUTPUT_PATH`, exit 0 when done. */
static int set_generate(load_ctx *lc, const char *k, const char *v) {
  cfg *c = lc->c;
  vss_kind kind;
  if (!strcmp(k, "command")) {
    if (strlen(v) >= sizeof c->gen_command) return BAD("command: too long");
    snprintf(c->gen_command, sizeof c->gen_command, "%s", v);
    return 1;
  }
  if (!strcmp(k, "timeout"))
    return set_dur_in(lc, k, v, &c->gen_timeout, 100 * VSS_NS_PER_MS,
                      24 * 3600 * VSS_NS_PER_S);
  if (!strcmp(k, "parallel")) {
    uint32_t n;
    if (parse_u32(v, &n) < 0 || n < 1 || n > 256)
      return BAD("parallel: expected a count from 1 to 256");
    c->gen_parallel = n;
    return 1;
  }
  if (!strncmp(k, "cost_", 5) &&
      vss_kind_parse(k + 5, strlen(k + 5), &kind) == 0)
    return set_dur(lc, v, &c->core.gen_cost[kind]);
  return BAD("unknown key in [generate] (command, timeout, parallel, "
             "cost_KIND)");
}

static cfg_peer *peer_section(load_ctx *lc, const char *name) {
  cfg *c = lc->c;
  cfg_peer *np;
  if (c->npeers > 0 && !strcmp(c->peers[c->npeers - 1].name, name))
    return &c->peers[c->npeers - 1];
  for (size_t i = 0; i < c->npeers; i++)
    if (!strcmp(c->peers[i].name, name)) return NULL; /* duplicate */
  if ((np = realloc(c->peers, (c->npeers + 1) * sizeof *np)) == NULL)
    return NULL;
  c->peers = np;
  np = &c->peers[c->npeers++];
  memset(np, 0, sizeof *np);
  snprintf(np->name, sizeof np->name, "%s", name);
  np->link.cls = VSS_LINK_ETHERNET;
  return np;
}

static int set_peer(load_ctx *lc, const char *name, const char *k,
                    const char *v) {
  cfg_peer *p;
  if (!cfg_name_valid(name)) return BAD("peer name: use [A-Za-z0-9_.-]");
  if ((p = peer_section(lc, name)) == NULL)
    return BAD("duplicate [peer] section (or out of memory)");
  if (!strcmp(k, "device")) {
    if (vss_uuid_parse(&p->device, v, strlen(v)) < 0)
      return BAD("device: expected a uuid");
  } else if (!strcmp(k, "addr")) {
    if (cfg_parse_addr(v, &p->addr) < 0) return BAD("addr: expected host:port");
    p->has_addr = 1;
  } else if (!strcmp(k, "link")) {
    if (vss_link_class_parse(v, strlen(v), &p->link.cls) < 0)
      return BAD("link: expected ethernet, wifi, internet or cellular");
  } else if (!strcmp(k, "metered")) {
    if (parse_bool(v, &p->link.metered) < 0) return BAD("expected yes or no");
  } else if (!strcmp(k, "rate_hint")) {
    uint64_t r;
    if (cfg_parse_size(v, &r) < 0) return BAD("rate_hint: bytes per second");
    p->link.rate_hint = (double)r;
  } else if (!strcmp(k, "rtt_hint")) {
    return set_dur(lc, v, &p->link.rtt_hint);
  } else {
    return BAD("unknown key in [peer]");
  }
  return 1;
}

/* A key given twice in one section: the second would silently win. */
static int seen_before(load_ctx *lc, const char *sec, const char *k) {
  size_t n = strlen(sec) + strlen(k) + 2;
  char *e;
  for (size_t i = 0; i < lc->nseen; i++) {
    const char *q = lc->seen[i], *nl = strchr(q, '\n');
    if ((size_t)(nl - q) == strlen(sec) && !strncmp(q, sec, strlen(sec)) &&
        !strcmp(nl + 1, k))
      return 1;
  }
  if (lc->nseen == lc->capseen) {
    size_t cap = lc->capseen ? lc->capseen * 2 : 32;
    char **np = realloc(lc->seen, cap * sizeof *np);
    if (np == NULL) return 0;
    lc->seen = np;
    lc->capseen = cap;
  }
  if ((e = malloc(n)) == NULL) return 0;
  snprintf(e, n, "%s\n%s", sec, k);
  lc->seen[lc->nseen++] = e;
  return 0;
}

static int on_entry(void *user, const char *sec, const char *k, const char *v) {
  load_ctx *lc = user;
  int ok;
  if (lc->failed) return 1; /* report the first error only */
  if (seen_before(lc, sec, k)) {
    snprintf(lc->err, lc->errcap, "%s: given twice in [%s]", k, sec);
    lc->failed = 1;
    return 0;
  }
  if (!strcmp(sec, "node") && !strcmp(k, "idle_timeout")) lc->idle_set = 1;
  if (!strcmp(sec, "node"))
    ok = set_node(lc, k, v);
  else if (!strcmp(sec, "gossip"))
    ok = set_gossip(lc, k, v);
  else if (!strcmp(sec, "transfer"))
    ok = set_transfer(lc, k, v);
  else if (!strcmp(sec, "prefetch"))
    ok = set_prefetch(lc, k, v);
  else if (!strcmp(sec, "generate"))
    ok = set_generate(lc, k, v);
  else if (!strncmp(sec, "peer ", 5))
    ok = set_peer(lc, sec + 5, k, v);
  else
    ok = BAD("unknown section");
  if (!ok) lc->failed = 1;
  return ok;
}

static void defaults(cfg *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "vss");
  c->listen_on = 1;
  cfg_parse_addr("0.0.0.0:7457", &c->listen);
  c->log_level = LOG_INFO;
  c->handshake_timeout = 10 * VSS_NS_PER_S;
  c->record_timeout = 60 * VSS_NS_PER_S;
  c->reconnect_min = 250 * VSS_NS_PER_MS;
  c->reconnect_max = 30 * VSS_NS_PER_S;
  c->gen_timeout = 300 * VSS_NS_PER_S;
  {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->gen_parallel = cpus > 0 ? (size_t)cpus : 1;
  }
  vss_node_config_default(&c->core);
}

/* inih reads at most CFG_MAX_LINE characters a line and parses the rest
 * as a new line: refuse long lines instead of half-reading them. */
static int check_lines(const char *path, char *err, size_t errcap) {
  FILE *f = fopen(path, "r");
  int ch, line = 1, col = 0;
  if (f == NULL) {
    snprintf(err, errcap, "cannot read config %s: %s", path, strerror(errno));
    return -1;
  }
  while ((ch = getc(f)) != EOF) {
    if (ch == '\n') {
      line++;
      col = 0;
    } else if (++col > CFG_MAX_LINE || ch == '\0') {
      snprintf(err, errcap, "%s:%d: %s", path, line,
               ch ? "line longer than 199 characters" : "NUL byte");
      fclose(f);
      return -1;
    }
  }
  fclose(f);
  return 0;
}

/* Checks that need several keys. */
static int check_whole(cfg *c, const load_ctx *lc, const char *path, char *err,
                       size_t errcap) {
  const vss_node_config *n = &c->core;
  if (c->reconnect_max < c->reconnect_min) {
    snprintf(err, errcap, "%s: reconnect_max is below reconnect_min", path);
    return -1;
  }
  /* A peer says HELLO at least every interval (+ jitter): three missed
   * ones mean the session is dead. */
  if (!lc->idle_set) {
    c->idle_timeout =
        (vss_time)(3.0 * (double)n->gossip_interval * (1.0 + n->gossip_jitter));
    if (c->idle_timeout < 60 * VSS_NS_PER_S)
      c->idle_timeout = 60 * VSS_NS_PER_S;
  } else if ((double)c->idle_timeout <
             2.0 * (double)n->gossip_interval * (1.0 + n->gossip_jitter)) {
    snprintf(err, errcap,
             "%s: idle_timeout must be at least twice the gossip interval "
             "(peers are only heard from once an interval when idle)",
             path);
    return -1;
  }
  return 0;
}

int cfg_load(cfg *c, const char *path, char *err, size_t errcap) {
  char what[160] = "";
  load_ctx lc = {c, what, sizeof what, 0, NULL, 0, 0, 0};
  int line, rc = 0;

  defaults(c);
  if (check_lines(path, err, errcap) < 0) return -1;
  line = ini_parse(path, on_entry, &lc);
  for (size_t i = 0; i < lc.nseen; i++)
    free(lc.seen[i]);
  free(lc.seen);
  if (line < 0) {
    snprintf(err, errcap, "cannot read config %s: %s", path,
             line == -1 ? strerror(errno) : "out of memory");
    return -1;
  }
  if (line > 0) {
    snprintf(err, errcap, "%s:%d: %s", path, line,
             what[0] ? what : "syntax error");
    cfg_free(c);
    return -1;
  }
  for (size_t i = 0; i < c->npeers && rc == 0; i++) {
    if (vss_uuid_is_nil(&c->peers[i].device)) {
      snprintf(err, errcap, "%s: [peer %s] has no device", path,
               c->peers[i].name);
      rc = -1;
    }
  }
  if (rc == 0) rc = check_whole(c, &lc, path, err, errcap);
  if (rc < 0) cfg_free(c);
  return rc;
}

void cfg_free(cfg *c) {
  free(c->peers);
  c->peers = NULL;
  c->npeers = 0;
}

const cfg_peer *cfg_find_peer(const cfg *c, const vss_uuid *device) {
  for (size_t i = 0; i < c->npeers; i++)
    if (vss_uuid_cmp(&c->peers[i].device, device) == 0) return &c->peers[i];
  return NULL;
}

/* ---- writing --------------------------------------------------------- */

static const char TEMPLATE[] =
    "; vss-node configuration. Durations take ms/s/min/h, sizes K/M/G.\n"
    "[node]\n"
    "name = %s\n"
    "; host:port to accept paired peers on, or off\n"
    "listen = %s\n"
    "log_level = info\n"
    "; bytes per second this node sends at most, 0 = unlimited\n"
    "upload_limit = 0\n"
    "; unauthenticated connections are dropped after handshake_timeout;\n"
    "; a session is dropped after idle_timeout with nothing received\n"
    "; (default: 3 gossip intervals) or when a record stays incomplete\n"
    "; for record_timeout\n"
    "handshake_timeout = 10s\n"
    "record_timeout = 60s\n"
    "reconnect_min = 250ms\n"
    "reconnect_max = 30s\n"
    "; cost | prefer_fetch | prefer_generate\n"
    "strategy = cost\n"
    "; auto: AES-256-GCM when both ends have AES in hardware, else\n"
    "; XChaCha20-Poly1305 (xchacha20poly1305: always)\n"
    "cipher = auto\n"
    "\n"
    "[gossip]\n"
    "interval = 5min\n"
    "jitter = 0.1\n"
    "change_batch_delay = 200ms\n"
    "\n"
    "[prefetch]\n"
    "eager = thumb\n"
    "lazy = ocr,transcript\n"
    "never = proxy\n"
    "max_concurrent = 3\n"
    "links = ethernet,wifi,internet\n"
    "allow_metered = no\n"
    "storage_budget = 0\n"
    "\n"
    "; A program that generates a missing sidecar (resolver fallback), run\n"
    "; as `command URI OUTPUT_PATH`; exit 0 when OUTPUT_PATH is written.\n"
    "[generate]\n"
    "command =\n"
    "timeout = 5min\n"
    "; generators running at once (default: the number of CPUs)\n"
    "; parallel = 2\n"
    "\n"
    "; Peers are added by `vss-node pair`: one [peer NAME] section each.\n";

int cfg_write_default(const char *path, const char *name, const char *listen,
                      char *err, size_t errcap) {
  char text[sizeof TEMPLATE + 2 * CFG_HOST_MAX];
  struct stat st;
  int n, rc;

  if (stat(path, &st) == 0) {
    snprintf(err, errcap, "%s exists; not overwriting it", path);
    return -EEXIST;
  }
  n = snprintf(text, sizeof text, TEMPLATE, name, listen);
  if (n < 0 || (size_t)n >= sizeof text) return -EINVAL;
  if ((rc = fs_write_atomic(path, text, (size_t)n, 0600)) < 0)
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(-rc));
  return rc;
}

/* Is this line the header of a peer section for p (by name or device)? */
static int header_peer_name(const char *line, size_t len, char *name,
                            size_t cap) {
  const char *b = line, *e = line + len;
  while (b < e && isspace((unsigned char)*b))
    b++;
  while (e > b && isspace((unsigned char)e[-1]))
    e--;
  if (e - b < 2 || *b != '[' || e[-1] != ']') return -1; /* not a header */
  b++;
  e--;
  if (e - b > 5 && !strncmp(b, "peer ", 5)) {
    b += 5;
    while (b < e && *b == ' ')
      b++;
    snprintf(name, cap, "%.*s", (int)(e - b), b);
    return 1;
  }
  return 0; /* another section */
}

static int line_is_device(const char *line, size_t len, const vss_uuid *dev) {
  char key[16], val[64];
  vss_uuid u;
  if (sscanf(line, " %15[a-z_] = %63s", key, val) != 2 || len > 200) return 0;
  return !strcmp(key, "device") && vss_uuid_parse(&u, val, strlen(val)) == 0 &&
         vss_uuid_cmp(&u, dev) == 0;
}

typedef struct strbuf {
  char *p;
  size_t len, cap;
} strbuf;

static int sb_add(strbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *np = realloc(b->p, cap);
    if (np == NULL) return -ENOMEM;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

/* Copies `text` without the sections that describe p. */
static int drop_peer_sections(const char *text, const cfg_peer *p,
                              strbuf *out) {
  const char *line = text;
  const char *sec_start = NULL; /* pending peer section, not yet judged */
  int drop = 0;
  while (*line) {
    size_t len = strcspn(line, "\n");
    size_t full = len + (line[len] == '\n');
    char name[CFG_NAME_MAX + 2];
    int h = header_peer_name(line, len, name, sizeof name);
    if (h >= 0) { /* a header ends the previous section */
      if (sec_start && !drop &&
          sb_add(out, sec_start, (size_t)(line - sec_start)))
        return -ENOMEM;
      sec_start = h == 1 ? line : NULL;
      drop = h == 1 && !strcmp(name, p->name);
    } else if (sec_start && line_is_device(line, len, &p->device)) {
      drop = 1;
    }
    if (!sec_start && sb_add(out, line, full)) return -ENOMEM;
    line += full;
  }
  if (sec_start && !drop && sb_add(out, sec_start, strlen(sec_start)))
    return -ENOMEM;
  return 0;
}

static int peer_text(const cfg_peer *p, strbuf *out) {
  char dev[VSS_UUID_STR_LEN + 1], buf[640];
  int n;
  vss_uuid_format(&p->device, dev);
  n = snprintf(buf, sizeof buf, "\n[peer %s]\ndevice = %s\n", p->name, dev);
  if (p->has_addr) {
    int v6 = strchr(p->addr.host, ':') != NULL;
    n += snprintf(buf + n, sizeof buf - (size_t)n, "addr = %s%s%s:%u\n",
                  v6 ? "[" : "", p->addr.host, v6 ? "]" : "",
                  (unsigned)p->addr.port);
  }
  n += snprintf(buf + n, sizeof buf - (size_t)n, "link = %s\nmetered = %s\n",
                vss_link_class_name(p->link.cls),
                p->link.metered ? "yes" : "no");
  if (p->link.rtt_hint)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "rtt_hint = %.3fms\n",
                  (double)p->link.rtt_hint / 1e6);
  if (p->link.rate_hint > 0)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "rate_hint = %.0f\n",
                  p->link.rate_hint);
  return sb_add(out, buf, (size_t)n);
}

/* Rewrites the file without p's sections, then with p's when add. */
static int rewrite_peer(const char *path, const cfg_peer *p, int add, char *err,
                        size_t errcap) {
  enum { MAX_CFG = 1 << 20 };
  char *text = malloc(MAX_CFG);
  strbuf out = {0};
  size_t len;
  int rc = text ? fs_read_small(path, text, MAX_CFG, &len) : -ENOMEM;

  if (rc == 0) rc = drop_peer_sections(text, p, &out);
  while (rc == 0 && out.len > 1 && out.p[out.len - 1] == '\n' &&
         out.p[out.len - 2] == '\n')
    out.len--; /* no growing run of blank lines */
  if (rc == 0 && add) rc = peer_text(p, &out);
  if (rc == 0) rc = fs_write_atomic(path, out.p ? out.p : "", out.len, 0600);
  if (rc < 0)
    snprintf(err, errcap, "cannot update %s: %s", path, strerror(-rc));
  free(out.p);
  free(text);
  return rc;
}

int cfg_set_peer(const char *path, const cfg_peer *p, char *err,
                 size_t errcap) {
  return rewrite_peer(path, p, 1, err, errcap);
}

int cfg_remove_peer(const char *path, const cfg_peer *p, char *err,
                    size_t errcap) {
  return rewrite_peer(path, p, 0, err, errcap);
}
