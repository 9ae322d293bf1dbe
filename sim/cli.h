/*
 * cli.h - the command line of vss-sim.
 */
#ifndef SIM_CLI_H
#define SIM_CLI_H

#include "scenario.h"

#define CLI_MAX_SG 64

typedef struct cli {
  const char *scenario;
  const char *out;
  const char *seed, *duration, *model, *platform, *max_wall;
  const char *probe; /* "A:B[:SIZE]" */
  const char *reports_dir;
  int check, plan, no_report, quiet, progress; /* progress: -1 auto */
  const char *sg_args[CLI_MAX_SG]; /* --cfg= and --log= for SimGrid */
  int nsg;
} cli;

/* Returns 0, 1 when --help was printed, -1 on a usage error (printed). */
int cli_parse(cli *c, int argc, char **argv);
/* Applies --seed/--duration/--model/--platform; -1 with err on a bad value. */
int cli_apply(const cli *c, scenario *sc, char *err, size_t cap);

#endif
