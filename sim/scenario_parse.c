/*
 * scenario_parse.c - reading a scenario file with inih: our own line
 * reader (to know file:line for every key), section dispatch with "{a..b}"
 * name ranges, and duplicate-key detection.
 */
#include "scenario_int.h"

#include "util.h"

#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int perr(parser *p, const char *fmt, ...) {
  if (p->failed) return 0;
  p->failed = 1;
  int n = snprintf(p->err, sizeof(p->err), "%s:%d: ", p->path, p->line);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof(p->err))
    vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
  va_end(ap);
  return 0;
}

/* fgets-style reader over the file text that counts lines. Lines longer
 * than inih's buffer would be split silently; we refuse them instead. */
static char *reader(char *str, int num, void *stream) {
  parser *p = stream;
  if (p->off >= p->len) return NULL;
  const char *start = p->text + p->off;
  const char *nl = memchr(start, '\n', p->len - p->off);
  size_t n = nl ? (size_t)(nl - start) + 1 : p->len - p->off;
  p->off += n;
  p->line++;
  if (n + 1 > (size_t)num) {
    if (!p->long_line) p->long_line = p->line;
    n = (size_t)num - 2;
    memcpy(str, start, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
  }
  memcpy(str, start, n);
  str[n] = '\0';
  const char *q = str;
  while (*q == ' ' || *q == '\t')
    q++;
  if (*q == '[') p->header_line = p->line;
  return str;
}

static int parse_range(const char *s, int *lo, int *hi, const char **end) {
  char *e;
  long a = strtol(s, &e, 10);
  if (e == s || strncmp(e, "..", 2) != 0) return -1;
  const char *q = e + 2;
  long b = strtol(q, &e, 10);
  if (e == q || *e != '}' || a < 0 || b < a || b > 100000) return -1;
  *lo = (int)a;
  *hi = (int)b;
  *end = e + 1;
  return 0;
}

int expand_name(parser *p, const char *pattern, char (*names)[SC_NAME],
                int (*vals)[2], int cap) {
  const char *open[2] = {NULL, NULL};
  int lo[2] = {0, 0}, hi[2] = {0, 0};
  const char *after[2] = {NULL, NULL};
  int nr = 0;
  for (const char *s = strchr(pattern, '{'); s;
       s = strchr(after[nr - 1], '{')) {
    if (nr == 2)
      return perr(p, "at most two {a..b} ranges in '%s'", pattern) - 1;
    if (parse_range(s + 1, &lo[nr], &hi[nr], &after[nr]))
      return perr(p, "bad range in '%s' (want {0..9})", pattern) - 1;
    open[nr++] = s;
  }
  int n0 = nr > 0 ? hi[0] - lo[0] + 1 : 1;
  int n1 = nr > 1 ? hi[1] - lo[1] + 1 : 1;
  if ((long)n0 * n1 > cap)
    return perr(p, "'%s' expands to more than %d names", pattern, cap) - 1;
  int n = 0;
  for (int i = 0; i < n0; i++)
    for (int j = 0; j < n1; j++) {
      char buf[256];
      if (nr == 0)
        snprintf(buf, sizeof(buf), "%s", pattern);
      else if (nr == 1)
        snprintf(buf, sizeof(buf), "%.*s%d%s", (int)(open[0] - pattern),
                 pattern, lo[0] + i, after[0]);
      else
        snprintf(buf, sizeof(buf), "%.*s%d%.*s%d%s", (int)(open[0] - pattern),
                 pattern, lo[0] + i, (int)(open[1] - after[0]), after[0],
                 lo[1] + j, after[1]);
      if (strlen(buf) >= SC_NAME)
        return perr(p, "name '%s' longer than %d characters", buf,
                    SC_NAME - 1) -
               1;
      memcpy(names[n], buf, strlen(buf) + 1);
      vals[n][0] = lo[0] + i;
      vals[n][1] = lo[1] + j;
      n++;
    }
  return n;
}

int subst_value(parser *p, const char *value, const int vals[2], char *out,
                size_t cap) {
  size_t o = 0;
  for (const char *s = value; *s; s++) {
    char num[16];
    const char *piece = NULL;
    if (s[0] == '$' && (s[1] == '1' || s[1] == '2')) {
      snprintf(num, sizeof(num), "%d", vals[s[1] - '1']);
      piece = num;
      s++;
    }
    size_t n = piece ? strlen(piece) : 1;
    if (o + n + 1 > cap)
      return perr(p, "value too long after $1/$2 substitution") - 1;
    memcpy(out + o, piece ? piece : s, n);
    o += n;
  }
  out[o] = '\0';
  return 0;
}

static int check_dup(parser *p, const char *sect, const char *key) {
  for (int i = 0; i < p->nseen; i++)
    if (strcmp(p->seen[i].key, key) == 0 && strcmp(p->seen[i].sect, sect) == 0)
      return perr(p, "duplicate key '%s' in [%s] (first set at line %d)", key,
                  sect, p->seen[i].line) -
             1;
  if (p->nseen == p->capseen) {
    p->capseen = p->capseen ? p->capseen * 2 : 64;
    p->seen = xrealloc(p->seen, (size_t)p->capseen * sizeof(*p->seen));
  }
  sc_seen *s = &p->seen[p->nseen++];
  scopy(s->sect, sizeof(s->sect), sect);
  scopy(s->key, sizeof(s->key), key);
  s->line = p->line;
  return 0;
}

static int sect_words(const char *sect, char *word, size_t wcap,
                      const char **rest) {
  const char *sp = strchr(sect, ' ');
  size_t n = sp ? (size_t)(sp - sect) : strlen(sect);
  if (n >= wcap) n = wcap - 1;
  memcpy(word, sect, n);
  word[n] = '\0';
  *rest = sp ? sp + 1 : "";
  while (**rest == ' ')
    (*rest)++;
  return 0;
}

typedef int (*add_fn)(scenario *sc, const char *name, int line);

static int open_named(parser *p, const char *name, add_fn add,
                      int (*find)(const scenario *, const char *)) {
  if (!*name)
    return perr(p, "[%s] needs a name, e.g. [%s home]", p->sect, p->sect);
  int n = expand_name(p, name, p->exp_names, p->exp_vals, SC_MAX_EXPAND);
  if (n < 0) return 0;
  p->nexp = n;
  for (int i = 0; i < n; i++) {
    int idx = find ? find(p->sc, p->exp_names[i]) : -1;
    p->exp_index[i] =
        idx >= 0 ? idx : add(p->sc, p->exp_names[i], p->header_line);
  }
  return 1;
}

static int find_sidecars(const scenario *sc, const char *name) {
  for (int i = 0; i < sc->nsidecars; i++)
    if (strcmp(sc->sidecars[i].name, name) == 0) return i;
  return -1;
}

/* A new section header: work out its kind and the objects it names. */
static int enter_section(parser *p, const char *section) {
  char word[32];
  const char *rest;
  scopy(p->sect, sizeof(p->sect), section);
  sect_words(section, word, sizeof(word), &rest);
  p->nexp = 0;
  static const struct {
    const char *word;
    sect_kind kind;
    int named;
  } kinds[] = {{"scenario", SECT_SCENARIO, 0}, {"link", SECT_LINK, 1},
               {"class", SECT_CLASS, 1},       {"device", SECT_DEVICE, 1},
               {"sizes", SECT_SIZES, 0},       {"sidecars", SECT_SIDECARS, 1},
               {"timeline", SECT_TIMELINE, 0}};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    if (strcmp(word, kinds[i].word) != 0) continue;
    p->kind = kinds[i].kind;
    if (!kinds[i].named && *rest) return perr(p, "[%s] takes no name", word);
    switch (p->kind) {
    case SECT_LINK:
      return open_named(p, rest, sc_add_link, sc_find_link);
    case SECT_CLASS:
      return open_named(p, rest, sc_add_class, sc_find_class);
    case SECT_DEVICE:
      return open_named(p, rest, sc_add_device, sc_find_device);
    case SECT_SIDECARS:
      return open_named(p, rest, sc_add_sidecars, find_sidecars);
    default:
      return 1;
    }
  }
  p->kind = SECT_NONE;
  p->line = p->header_line;
  return perr(p,
              "unknown section [%s] (scenario, link, class, device, sizes, "
              "sidecars, timeline)",
              section);
}

static int dispatch_one(parser *p, int i, const char *key, const char *value) {
  scenario *sc = p->sc;
  int idx = p->exp_index[i];
  switch (p->kind) {
  case SECT_LINK:
    return key_link(p, &sc->links[idx], key, value);
  case SECT_CLASS:
    return key_class(p, &sc->classes[idx], key, value);
  case SECT_DEVICE:
    return key_device(p, &sc->devices[idx], key, value);
  case SECT_SIDECARS:
    return key_sidecars(p, &sc->sidecars[idx], key, value);
  default:
    return perr(p, "internal: bad section kind");
  }
}

static int handler(void *user, const char *section, const char *key,
                   const char *value) {
  parser *p = user;
  if (p->failed) return 1; /* keep going quietly: the first error wins */
  if (!*section) return perr(p, "key '%s' before any [section]", key), 1;
  /* inih hands us the header with every key: a change means a new one */
  if (p->kind == SECT_NONE || strcmp(section, p->sect) != 0)
    if (!enter_section(p, section)) return 1;
  if (p->kind != SECT_TIMELINE && strcmp(key, "cfg") != 0 &&
      check_dup(p, section, key))
    return 1;
  switch (p->kind) {
  case SECT_SCENARIO:
    key_scenario(p, key, value);
    return 1;
  case SECT_SIZES:
    key_sizes(p, key, value);
    return 1;
  case SECT_TIMELINE:
    key_timeline(p, key, value);
    return 1;
  default:
    break;
  }
  for (int i = 0; i < p->nexp && !p->failed; i++) {
    char v[512];
    if (subst_value(p, value, p->exp_vals[i], v, sizeof(v))) return 1;
    dispatch_one(p, i, key, v);
  }
  return 1;
}

static void path_dir(const char *path, char *dir, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    scopy(dir, cap, ".");
    return;
  }
  size_t n = (size_t)(slash - path);
  if (n == 0) n = 1;
  if (n >= cap) n = cap - 1;
  memcpy(dir, path, n);
  dir[n] = '\0';
}

static void default_name(scenario *sc, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  scopy(sc->name, sizeof(sc->name), base);
  char *dot = strrchr(sc->name, '.');
  if (dot && dot != sc->name) *dot = '\0';
}

static void defaults(scenario *sc) {
  sc->seed = 1;
  sc->duration = 600 * VSS_NS_PER_S;
  scopy(sc->model, sizeof(sc->model), "lv08-warm");
  sc->gossip_interval = 300 * VSS_NS_PER_S;
  sc->gossip_jitter = 0.1;
  sc->change_batch_delay = 200 * VSS_NS_PER_MS;
  sc->cache_ttl = 0; /* 3 rounds */
  sc->host_costs = 1;
  sc->verify = -1;
  sc->check_every = VSS_NS_PER_S;
  sc_builtin_classes(sc);
}

int scenario_load_string(scenario *sc, const char *text, const char *path,
                         char *err, size_t errcap) {
  return scenario_load_string_ex(sc, text, path, NULL, NULL, err, errcap);
}

int scenario_load_string_ex(scenario *sc, const char *text, const char *path,
                            sc_override_fn override, void *user, char *err,
                            size_t errcap) {
  memset(sc, 0, sizeof(*sc));
  scopy(sc->path, sizeof(sc->path), path);
  path_dir(path, sc->dir, sizeof(sc->dir));
  default_name(sc, path);
  defaults(sc);
  parser p;
  memset(&p, 0, sizeof(p));
  p.sc = sc;
  p.path = path;
  p.text = text;
  p.len = strlen(text);
  p.exp_names = xcalloc(SC_MAX_EXPAND, sizeof(*p.exp_names));
  p.exp_vals = xcalloc(SC_MAX_EXPAND, sizeof(*p.exp_vals));
  p.exp_index = xcalloc(SC_MAX_EXPAND, sizeof(*p.exp_index));
  ini_allow_multiline = false; /* an indented line is not a continuation */
  int rc = ini_parse_stream(reader, &p, handler, &p);
  if (!p.failed && p.long_line) {
    p.line = p.long_line;
    perr(&p, "line longer than %d characters", ini_max_line - 3);
  }
  if (!p.failed && rc > 0) {
    p.line = rc;
    perr(&p, "syntax error (want [section] or key = value)");
  }
  if (!p.failed && rc < 0) {
    p.line = 0;
    perr(&p, "cannot read (%d)", rc);
  }
  /* Command-line overrides before the checks: a --duration shorter than
   * the timeline is as wrong as a short `duration` in the file. */
  if (!p.failed && override && override(sc, user, p.err, sizeof(p.err)))
    p.failed = 1;
  if (!p.failed) {
    p.line = 0;
    scenario_check(&p);
  }
  free(p.seen);
  free(p.exp_names);
  free(p.exp_vals);
  free(p.exp_index);
  if (p.failed) {
    scopy(err, errcap, p.err);
    scenario_free(sc);
    return -1;
  }
  return 0;
}

int scenario_load(scenario *sc, const char *path, char *err, size_t errcap) {
  return scenario_load_ex(sc, path, NULL, NULL, err, errcap);
}

int scenario_load_ex(scenario *sc, const char *path, sc_override_fn override,
                     void *user, char *err, size_t errcap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errcap, "%s: cannot open scenario file", path);
    memset(sc, 0, sizeof(*sc));
    return -1;
  }
  size_t cap = 4096, n = 0;
  char *text = xcalloc(1, cap);
  size_t got;
  while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (cap - n - 1 == 0) {
      cap *= 2;
      text = xrealloc(text, cap);
    }
  }
  fclose(f);
  text[n] = '\0';
  if (memchr(text, '\0', n)) {
    free(text);
    snprintf(err, errcap, "%s: not a text file (NUL byte)", path);
    memset(sc, 0, sizeof(*sc));
    return -1;
  }
  int rc = scenario_load_string_ex(sc, text, path, override, user, err, errcap);
  free(text);
  return rc;
}

void scenario_free(scenario *sc) {
  for (int i = 0; i < sc->nsidecars; i++)
    free(sc->sidecars[i].holders);
  free(sc->links);
  free(sc->classes);
  free(sc->devices);
  free(sc->sizes);
  free(sc->sidecars);
  free(sc->events);
  memset(sc, 0, sizeof(*sc));
}
