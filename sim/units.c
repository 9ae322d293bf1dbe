/*
 * units.c - see units.h. Numbers are parsed with strtod; units are
 * matched case-sensitively where case carries meaning (MB vs Mb), else
 * not.
 */
#include "units.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

static int fail(char *err, const char *what, const char *s) {
  snprintf(err, UNIT_ERR_MAX, "%s: '%s'", what, s);
  return -1;
}

/* A non-negative finite number at *p; advances p. */
static int number(const char **p, double *out) {
  char *end;
  errno = 0;
  double v = strtod(*p, &end);
  if (end == *p || errno || !isfinite(v) || v < 0) return -1;
  *p = end;
  *out = v;
  return 0;
}

static double time_unit(const char *u, size_t n) {
  static const struct {
    const char *name;
    double ns;
  } units[] = {{"ns", 1},   {"us", 1e3},   {"ms", 1e6},  {"s", 1e9},
               {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strlen(units[i].name) == n && strncmp(u, units[i].name, n) == 0)
      return units[i].ns;
  return 0;
}

int parse_time(const char *s, vss_time *out, char *err) {
  const char *p = s;
  double total = 0;
  int parts = 0;
  while (isspace((unsigned char)*p))
    p++;
  if (strcmp(p, "0") == 0) {
    *out = 0;
    return 0;
  }
  while (*p) {
    double v;
    if (number(&p, &v))
      return fail(err, "bad time (want e.g. 250ms, 5m, 1h30m)", s);
    const char *u = p;
    while (isalpha((unsigned char)*p))
      p++;
    double mul = time_unit(u, (size_t)(p - u));
    if (mul == 0) return fail(err, "bad time unit (ns, us, ms, s, m, h)", s);
    total += v * mul;
    parts++;
    while (isspace((unsigned char)*p))
      p++;
  }
  if (!parts) return fail(err, "empty time", s);
  if (total >= 1.8e19) return fail(err, "time too large", s);
  *out = (vss_time)llround(total);
  return 0;
}

static double size_unit(const char *u) {
  static const struct {
    const char *name;
    double mul;
  } units[] = {{"", 1},
               {"B", 1},
               {"KB", 1e3},
               {"MB", 1e6},
               {"GB", 1e9},
               {"TB", 1e12},
               {"KiB", 1024.0},
               {"MiB", 1048576.0},
               {"GiB", 1073741824.0},
               {"TiB", 1099511627776.0},
               {"kB", 1e3}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(u, units[i].name) == 0) return units[i].mul;
  return 0;
}

static int size_value(const char *s, double *out, char *err) {
  const char *p = s;
  while (isspace((unsigned char)*p))
    p++;
  double v;
  if (number(&p, &v)) return fail(err, "bad size (want e.g. 45KB, 2MiB)", s);
  while (isspace((unsigned char)*p))
    p++;
  char unit[8];
  size_t n = strlen(p);
  while (n && isspace((unsigned char)p[n - 1]))
    n--;
  if (n >= sizeof(unit)) return fail(err, "bad size unit", s);
  memcpy(unit, p, n);
  unit[n] = '\0';
  double mul = size_unit(unit);
  if (mul == 0)
    return fail(err, "bad size unit (B, KB, MB, GB, KiB, MiB, GiB)", s);
  *out = v * mul;
  if (*out >= 1.8e19) return fail(err, "size too large", s);
  return 0;
}

int parse_size(const char *s, uint64_t *out, char *err) {
  double v;
  if (size_value(s, &v, err)) return -1;
  *out = (uint64_t)llround(v);
  return 0;
}

int parse_rate(const char *s, double *out, char *err) {
  static const struct {
    const char *name;
    double mul; /* bytes per second per unit */
  } units[] = {{"Bps", 1},           {"KBps", 1e3},
               {"MBps", 1e6},        {"GBps", 1e9},
               {"B/s", 1},           {"KB/s", 1e3},
               {"MB/s", 1e6},        {"GB/s", 1e9},
               {"bps", 0.125},       {"Kbps", 125.0},
               {"kbps", 125.0},      {"Mbps", 125e3},
               {"Gbps", 125e6},      {"KiBps", 1024.0},
               {"MiBps", 1048576.0}, {"GiBps", 1073741824.0}};
  const char *p = s;
  while (isspace((unsigned char)*p))
    p++;
  double v;
  if (number(&p, &v))
    return fail(err, "bad rate (want e.g. 110MBps, 300Mbps)", s);
  while (isspace((unsigned char)*p))
    p++;
  char unit[8];
  size_t n = strlen(p);
  while (n && isspace((unsigned char)p[n - 1]))
    n--;
  if (n == 0 || n >= sizeof(unit))
    return fail(
        err, "rate needs a unit (Bps, KBps, MBps, GBps, Kbps, Mbps, Gbps)", s);
  memcpy(unit, p, n);
  unit[n] = '\0';
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(unit, units[i].name) == 0) {
      *out = v * units[i].mul;
      if (*out <= 0) return fail(err, "rate must be above zero", s);
      return 0;
    }
  return fail(err, "bad rate unit (Bps, KBps, MBps, GBps, Kbps, Mbps, Gbps)",
              s);
}

int parse_prob(const char *s, double *out, char *err) {
  const char *p = s;
  double v;
  while (isspace((unsigned char)*p))
    p++;
  if (number(&p, &v)) return fail(err, "bad probability (0..1 or N%)", s);
  while (isspace((unsigned char)*p))
    p++;
  if (*p == '%') {
    v /= 100.0;
    p++;
  }
  while (isspace((unsigned char)*p))
    p++;
  if (*p || v > 1) return fail(err, "bad probability (0..1 or N%)", s);
  *out = v;
  return 0;
}

int parse_bool(const char *s, int *out, char *err) {
  static const char *yes[] = {"yes", "true", "on", "1"};
  static const char *no[] = {"no", "false", "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
    if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
  }
  return fail(err, "bad boolean (yes/no)", s);
}

int parse_uint(const char *s, uint64_t max, uint64_t *out, char *err) {
  char *end;
  errno = 0;
  if (!isdigit((unsigned char)*s)) return fail(err, "bad integer", s);
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) {
    char what[64];
    snprintf(what, sizeof(what), "bad integer (0..%llu)",
             (unsigned long long)max);
    return fail(err, what, s);
  }
  *out = v;
  return 0;
}

int parse_double(const char *s, double lo, double hi, double *out, char *err) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi) {
    char what[80];
    snprintf(what, sizeof(what), "bad number (%g..%g)", lo, hi);
    return fail(err, what, s);
  }
  *out = v;
  return 0;
}

/* "name(a, b)": the two arguments as sizes. */
static int dist_args(const char *s, const char *open, double *a, double *b,
                     char *err) {
  char buf[128];
  if (!scopy(buf, sizeof(buf), open + 1))
    return fail(err, "distribution too long", s);
  char *close = strrchr(buf, ')');
  if (!close || *trim(close + 1))
    return fail(err, "missing ')' in distribution", s);
  *close = '\0';
  char *items[3];
  int n = split_list(buf, items, 3);
  if (n != 2) return fail(err, "distribution takes two sizes", s);
  if (size_value(items[0], a, err) || size_value(items[1], b, err)) return -1;
  return 0;
}

int parse_dist(const char *s, size_dist *out, char *err) {
  const char *open = strchr(s, '(');
  memset(out, 0, sizeof(*out));
  if (!open) {
    out->type = DIST_FIXED;
    return size_value(s, &out->a, err);
  }
  static const struct {
    const char *name;
    dist_type type;
  } kinds[] = {{"uniform", DIST_UNIFORM},
               {"normal", DIST_NORMAL},
               {"lognormal", DIST_LOGNORMAL}};
  size_t n = (size_t)(open - s);
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  for (size_t i = 0; i < 3; i++) {
    if (strlen(kinds[i].name) != n || strncmp(s, kinds[i].name, n) != 0)
      continue;
    out->type = kinds[i].type;
    if (dist_args(s, open, &out->a, &out->b, err)) return -1;
    if (out->type == DIST_UNIFORM && out->b < out->a)
      return fail(err, "uniform(a, b) needs a <= b", s);
    if (out->type == DIST_LOGNORMAL && out->a <= 0)
      return fail(err, "lognormal median must be above zero", s);
    return 0;
  }
  return fail(err,
              "bad distribution (size, uniform(a,b), normal(m,sd), "
              "lognormal(median,sd))",
              s);
}

void dist_format(const size_dist *d, char *buf, size_t cap) {
  static const char *names[] = {"fixed", "uniform", "normal", "lognormal"};
  if (d->type == DIST_FIXED)
    snprintf(buf, cap, "%.0f B", d->a);
  else
    snprintf(buf, cap, "%s(%.0f B, %.0f B)", names[d->type], d->a, d->b);
}

void fmt_bytes(double b, char *buf, size_t cap) {
  static const char *u[] = {"B", "KB", "MB", "GB", "TB"};
  int i = 0;
  while (b >= 1000 && i < 4) {
    b /= 1000;
    i++;
  }
  snprintf(buf, cap, i ? "%.2f %s" : "%.0f %s", b, u[i]);
}

void fmt_rate(double bps, char *buf, size_t cap) {
  fmt_bytes(bps, buf, cap);
  size_t n = strlen(buf);
  snprintf(buf + n, cap - n, "/s");
}

int split_list(char *s, char **items, int cap) {
  int n = 0;
  char *p = s;
  for (;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    char *t = trim(p);
    if (*t) {
      if (n == cap) return -1;
      items[n++] = t;
    }
    if (!comma) break;
    p = comma + 1;
  }
  return n;
}
