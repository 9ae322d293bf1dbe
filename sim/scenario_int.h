/*
 * scenario_int.h - shared between the scenario parser files (not used by
 * the rest of the simulator).
 */
#ifndef SIM_SCENARIO_INT_H
#define SIM_SCENARIO_INT_H

#include "scenario.h"

#define SC_MAX_EXPAND 4096

typedef enum sect_kind {
  SECT_NONE = 0,
  SECT_SCENARIO,
  SECT_LINK,
  SECT_CLASS,
  SECT_DEVICE,
  SECT_SIZES,
  SECT_SIDECARS,
  SECT_TIMELINE
} sect_kind;

typedef struct sc_seen {
  char sect[128];
  char key[64];
  int line;
} sc_seen;

typedef struct parser {
  scenario *sc;
  const char *path;
  const char *text;
  size_t off, len;
  int line;
  int header_line; /* of the last [section] header read */
  int long_line;   /* line number of an over-long line, 0 if none */
  char err[SC_ERR];
  int failed;

  sc_seen *seen;
  int nseen, capseen;

  char sect[128]; /* current raw section header */
  sect_kind kind;
  int nexp; /* expansions of the section name */
  char (*exp_names)[SC_NAME];
  int (*exp_vals)[2];
  int *exp_index; /* object index per expansion */
  int event_order;
} parser;

/* Records "path:line: message" once (the first error wins). */
int perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "{a..b}" ranges in a name: fills names/vals (at most cap); returns the
 * count or -1 with an error recorded. */
int expand_name(parser *p, const char *pattern, char (*names)[SC_NAME],
                int (*vals)[2], int cap);
/* $1 / $2 in a value replaced by the expansion's numbers. */
int subst_value(parser *p, const char *value, const int vals[2], char *out,
                size_t cap);

int key_scenario(parser *p, const char *key, const char *value);
int key_link(parser *p, sc_link *l, const char *key, const char *value);
int key_class(parser *p, sc_class *c, const char *key, const char *value);
int key_device(parser *p, sc_device *d, const char *key, const char *value);
int key_sizes(parser *p, const char *key, const char *value);
int key_sidecars(parser *p, sc_sidecars *s, const char *key, const char *value);
int key_timeline(parser *p, const char *key, const char *value);
/* Registers a [sizes] entry (error when kind.variant already has one). */
int add_size(parser *p, vss_kind kind, const char *variant, const size_dist *d);

int sc_add_link(scenario *sc, const char *name, int line);
int sc_add_class(scenario *sc, const char *name, int line);
int sc_add_device(scenario *sc, const char *name, int line);
int sc_add_sidecars(scenario *sc, const char *name, int line);
sc_event *sc_add_event(scenario *sc);
void sc_builtin_classes(scenario *sc);

/* Device lists in values ("a, b", "all", ranges): fills out (malloc'd). */
int parse_devices(parser *p, const char *value, int **out, int *n);
int parse_kinds(parser *p, const char *value, uint32_t *mask);
int parse_links_mask(parser *p, const char *value, uint32_t *mask);
int parse_mode(const char *s, vss_resolve_mode *out);

/* After parsing: defaults, cross-references, sanity. */
int scenario_check(parser *p);

#endif
