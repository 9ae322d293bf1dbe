/*
 * ops.h - the CLI's subcommands that work on a node's state, written
 * once and run in one of two places:
 *
 *   in the daemon, when one is serving the data dir (the CLI forwards the
 *   arguments over the control socket and prints the answer), or
 *   in the CLI process itself, on an offline node, when none is.
 *
 * Either way output goes through `out` as lines: 'o' for stdout, 'e' for
 * stderr, 'p' for progress. Each op returns the exit status.
 */
#ifndef VSS_REAL_OPS_H
#define VSS_REAL_OPS_H

#include "home.h"
#include "vss/vss.h"

struct srv;

typedef struct out {
  void (*line)(void *u, char kind, const char *text);
  void *u;
} out;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void out_f(out *o, char kind, const char *fmt, ...);

typedef struct ops_ctx {
  home *h;
  vss_node *node;
  struct srv *srv; /* NULL when offline */
} ops_ctx;

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef int (*op_fn)(ops_ctx *c, int argc, char **argv, out *o);

typedef struct op_def {
  const char *verb;
  op_fn fn;
  int daemon_only;   /* needs live peers */
  const char *usage; /* "ARGS [OPTIONS]" */
  const char *help;  /* one paragraph */
} op_def;

/* NULL when unknown. */
const op_def *ops_find(const char *verb);
const op_def *ops_all(size_t *n);

/* A tiny option parser shared by the ops and the CLI. Options are
 * --name VALUE or --flag; anything else is positional. */
typedef struct optspec {
  const char *name;
  int has_arg;
  const char **val; /* has_arg */
  int *flag;        /* !has_arg: set to 1 */
} optspec;
int opts_parse(int argc, char **argv, const optspec *spec, char **pos,
               int maxpos, int *npos, out *o);

/* Helpers for ops and the CLI. The URI parser's error names the wrong
 * part and lists the valid kind directories or extensions. */
void ops_kind_dirs(char *buf, size_t cap);
void ops_exts(char *buf, size_t cap);
int ops_parse_uri(const char *uri, vss_key *key, vss_format *fmt, out *o);
void ops_human_bytes(uint64_t b, char *buf, size_t cap);

#endif
