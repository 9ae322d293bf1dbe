/*
 * cli.c - see cli.h.
 */
/* realpath */
#define _XOPEN_SOURCE 700
#include "cli.h"

#include "units.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fputs(
      "usage: vss-sim SCENARIO.ini [options] [--cfg=NAME:VALUE ...]\n"
      "\n"
      "Runs a vss-sync scenario on SimGrid and writes its report.\n"
      "\n"
      "  --out DIR          output folder (default out/NAME-seedN)\n"
      "  --seed N           replay with this seed instead of the scenario's\n"
      "  --duration T       simulated duration, e.g. 90s, 1h\n"
      "  --max-wall T       stop after T of wall time and write the summary\n"
      "                     of what was measured so far\n"
      "  --model M          lv08-warm (default), lv08, cm02, constant, ns-3\n"
      "  --platform XML     your own SimGrid platform (hosts named as "
      "devices)\n"
      "  --check            check the scenario file and exit\n"
      "  --plan             print the resolved plan (devices, links, paths,\n"
      "                     items, timeline) as JSON for vss-lab, and exit\n"
      "  --probe A:B[:SIZE] time one SIZE-byte flow (default 100MB) from A to "
      "B\n"
      "                     alone on the platform, and exit\n"
      "  --no-report        write the data files but no plots or report\n"
      "  --reports-dir DIR  where make_report.sh and the gnuplot scripts are\n"
      "  --progress         show progress even when not on a terminal\n"
      "  --no-progress      never show progress\n"
      "  --quiet            only errors and the report path\n"
      "  --cfg=NAME:VALUE   passed to SimGrid (e.g. --cfg=network/model:CM02)\n"
      "  --log=...          passed to SimGrid's logging\n"
      "  --help\n",
      f);
}

static int value(int argc, char **argv, int *i, const char **out) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "vss-sim: %s needs a value\n", argv[*i]);
    return -1;
  }
  *out = argv[++*i];
  return 0;
}

int cli_parse(cli *c, int argc, char **argv) {
  memset(c, 0, sizeof(*c));
  c->progress = -1;
  static const struct {
    const char *name;
    size_t off;
  } opts[] = {{"--out", offsetof(cli, out)},
              {"--seed", offsetof(cli, seed)},
              {"--duration", offsetof(cli, duration)},
              {"--max-wall", offsetof(cli, max_wall)},
              {"--model", offsetof(cli, model)},
              {"--platform", offsetof(cli, platform)},
              {"--probe", offsetof(cli, probe)},
              {"--reports-dir", offsetof(cli, reports_dir)}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int done = 0;
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]) && !done; k++)
      if (strcmp(a, opts[k].name) == 0) {
        if (value(argc, argv, &i, (const char **)((char *)c + opts[k].off)))
          return -1;
        done = 1;
      }
    if (done) continue;
    if (strncmp(a, "--cfg=", 6) == 0 || strncmp(a, "--log=", 6) == 0) {
      if (c->nsg == CLI_MAX_SG)
        return fprintf(stderr, "vss-sim: too many --cfg\n"), -1;
      c->sg_args[c->nsg++] = a;
    } else if (strcmp(a, "--check") == 0) {
      c->check = 1;
    } else if (strcmp(a, "--plan") == 0) {
      c->plan = 1;
    } else if (strcmp(a, "--no-report") == 0) {
      c->no_report = 1;
    } else if (strcmp(a, "--quiet") == 0) {
      c->quiet = 1;
    } else if (strcmp(a, "--progress") == 0) {
      c->progress = 1;
    } else if (strcmp(a, "--no-progress") == 0) {
      c->progress = 0;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 1;
    } else if (a[0] == '-') {
      fprintf(stderr, "vss-sim: unknown option %s\n", a);
      usage(stderr);
      return -1;
    } else if (!c->scenario) {
      c->scenario = a;
    } else {
      fprintf(stderr, "vss-sim: one scenario at a time (%s, %s)\n", c->scenario,
              a);
      return -1;
    }
  }
  if (!c->scenario) {
    usage(stderr);
    return -1;
  }
  return 0;
}

int cli_apply(const cli *c, scenario *sc, char *err, size_t cap) {
  char e[UNIT_ERR_MAX];
  if (c->seed) {
    if (parse_uint(c->seed, UINT64_MAX, &sc->seed, e))
      return snprintf(err, cap, "--seed: %s", e), -1;
  }
  if (c->duration) {
    if (parse_time(c->duration, &sc->duration, e) || sc->duration == 0)
      return snprintf(err, cap, "--duration: %s", e), -1;
  }
  if (c->model) {
    static const char *ok[] = {"lv08-warm", "lv08", "cm02", "constant",
                               "ns-3",      "ib",   "smpi"};
    int found = 0;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
      found |= strcmp(c->model, ok[i]) == 0;
    if (!found)
      return snprintf(err, cap, "--model: unknown '%s'", c->model), -1;
    scopy(sc->model, sizeof(sc->model), c->model);
  }
  if (c->platform) {
    /* Relative to where vss-sim runs, not to the scenario file (the
     * checks resolve a file's own `platform` against its folder). */
    char full[PATH_MAX];
    if (!realpath(c->platform, full))
      return snprintf(err, cap, "--platform %s: %s", c->platform,
                      strerror(errno)),
             -1;
    if (!scopy(sc->platform, sizeof(sc->platform), full))
      return snprintf(err, cap, "--platform: path too long"), -1;
  }
  return 0;
}
