/*
 * main.c - vss-sim: scenario in, report out.
 *
 *   1. read and check the scenario (errors name file:line);
 *   2. build the devices (vss_node + SQLite store + synthetic blobs) and
 *      the platform (generated XML, or the user's);
 *   3. start SimGrid with the model's settings and the --cfg pass-through,
 *      one actor per device, and run to the scenario's duration;
 *   4. write the data files, then the plots and report (reports/).
 *
 * The seed is printed first; the same seed gives the same CSV files.
 */
#include "cli.h"
#include "plan.h"
#include "probe.h"
#include "world.h"

#include <errno.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VSS_REPORTS_DIR
#define VSS_REPORTS_DIR "reports"
#endif

/* SimGrid settings per model name. lv08-warm is LV08 with the latency
 * factor at 1: frames ride a long-lived, warmed-up connection, so they
 * pay the path's latency once, not LV08's 13x slow-start allowance for a
 * fresh TCP flow (sim/README.md, "Network model"). */
static int model_args(const char *model, const char **out, double *lat_factor) {
  *lat_factor = 1.0;
  if (strcmp(model, "lv08-warm") == 0) {
    out[0] = "--cfg=network/model:LV08";
    out[1] = "--cfg=network/latency-factor:1.0";
    return 2;
  }
  if (strcmp(model, "lv08") == 0) {
    *lat_factor = 13.01;
    out[0] = "--cfg=network/model:LV08";
    return 1;
  }
  static const struct {
    const char *name, *arg;
  } m[] = {{"cm02", "--cfg=network/model:CM02"},
           {"constant", "--cfg=network/model:Constant"},
           {"ns-3", "--cfg=network/model:ns-3"},
           {"ib", "--cfg=network/model:IB"},
           {"smpi", "--cfg=network/model:SMPI"}};
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
    if (strcmp(model, m[i].name) == 0) {
      out[0] = m[i].arg;
      return 1;
    }
  return 0;
}

static int mkdir_p(const char *path) {
  char buf[SC_PATH];
  if (!scopy(buf, sizeof(buf), path)) return -1;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

static int copy_file(const char *from, const char *dir, const char *name) {
  char to[SC_PATH + 64];
  if (path_join(to, sizeof(to), dir, name)) return -1;
  FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
  char buf[8192];
  size_t n;
  while (in && out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
    fwrite(buf, 1, n, out);
  if (in) fclose(in);
  if (out) fclose(out);
  return in && out ? 0 : -1;
}

/* argv for simgrid_init: model settings, scenario cfg lines, then the
 * command line's (later ones win). */
/* How many of argv[0..n) are the model's own settings (before the
 * scenario's and the command line's): a network/model among those is
 * ours, not an override. */
static int nm_count(const char *nm, char **argv, int n) {
  int last = 0;
  for (int i = 1; i < n && strncmp(argv[i], "--log=", 6) != 0; i++)
    if (strncmp(argv[i], nm, strlen(nm)) == 0) last = i;
  return last;
}

static int simgrid_args(const cli *c, scenario *sc, char **argv,
                        char (*store)[160], double *lat_factor) {
  int n = 0;
  argv[n++] = (char *)"vss-sim";
  const char *m[4];
  int nm = model_args(sc->model, m, lat_factor);
  for (int i = 0; i < nm; i++)
    argv[n++] = (char *)m[i];
  argv[n++] = (char *)"--log=xbt_cfg.thres:warning";
  /* Device actors never return; at exit SimGrid notes it skips their
   * clean-up (we free our side ourselves). Killing them instead costs as
   * much as the run with thousands of comms pending. */
  argv[n++] = (char *)"--log=ker_engine.thres:error";
  /* A wifi link is one constraint of capacity 1 (airtime) that flows use
   * at 1/rate per byte/s, ~1e-8: at the default precision (1e-5) its
   * last sliver of capacity rounds to zero, a flow gets a zero share and
   * SimGrid's lazy update aborts ("The Impossible Did Happen"). */
  argv[n++] = (char *)"--cfg=maxmin/precision:1e-9";
  const char *model_cfg = NULL;
  for (int i = 0; i < sc->ncfg; i++) {
    snprintf(store[i], sizeof(store[i]), "--cfg=%s", sc->cfg[i]);
    argv[n++] = store[i];
  }
  for (int i = 0; i < c->nsg; i++)
    argv[n++] = (char *)c->sg_args[i];
  /* The scenario's cfg lines and the command line's both count (later
   * ones win): the latency factor the stream transport applies and the
   * model the report names must be the ones SimGrid runs with. */
  for (int i = 1; i < n; i++) {
    const char *lf = "--cfg=network/latency-factor:";
    const char *nm = "--cfg=network/model:";
    if (strncmp(argv[i], lf, strlen(lf)) == 0)
      *lat_factor = atof(argv[i] + strlen(lf));
    if (strncmp(argv[i], nm, strlen(nm)) == 0 && i > nm_count(nm, argv, n))
      model_cfg = argv[i] + strlen(nm);
  }
  if (model_cfg) {
    if (strcmp(model_cfg, "ns-3") == 0)
      scopy(sc->model, sizeof(sc->model), "ns-3");
    else
      snprintf(sc->model, sizeof(sc->model), "cfg:%.27s", model_cfg);
  }
  argv[n] = NULL;
  return n;
}

static int write_platform(world *w, const char *dir, char *path, size_t cap) {
  if (w->own_platform) return scopy(path, cap, w->sc->platform) ? 0 : -1;
  if (path_join(path, cap, dir, "platform.xml")) return -1;
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int rc = platform_write_xml(w->sc, &w->plat, f);
  return fclose(f) || rc ? -1 : 0;
}

static int run_report(const char *reports_dir, const char *out_dir) {
  char script[SC_PATH + 32];
  if (path_join(script, sizeof(script), reports_dir, "make_report.sh"))
    return -1;
  if (access(script, R_OK)) {
    fprintf(stderr, "vss-sim: no report generator at %s (use --reports-dir)\n",
            script);
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execlp("sh", "sh", script, out_dir, (char *)NULL);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static long peak_rss_kb(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void announce(const scenario *sc, const char *out) {
  printf("vss-sim: scenario %s, seed %llu, model %s, %d devices, %.3f s "
         "simulated\n",
         sc->name, (unsigned long long)sc->seed, sc->model, sc->ndevices,
         ns_to_s(sc->duration));
  printf("vss-sim: replay with: vss-sim %s --seed %llu   output: %s\n",
         sc->path, (unsigned long long)sc->seed, out);
  fflush(stdout);
}

static int probe_mode(const cli *c, world *w) {
  int a, b;
  uint64_t size;
  char err[256];
  if (probe_parse(w, c->probe, &a, &b, &size, err, sizeof(err))) {
    fprintf(stderr, "vss-sim: %s\n", err);
    return 2;
  }
  double t = probe_run(w, a, b, size);
  printf("probe %s -> %s: %llu bytes in %.9f s = %.0f B/s (model %s)\n",
         w->devs[a].name, w->devs[b].name, (unsigned long long)size, t,
         (double)size / t, w->sc->model);
  fflush(stdout);
  return 0;
}

static double wall_t0; /* main() began: setup is timed from here */

static int simulate(const cli *c, world *w, const char *out) {
  w->wall_start = wall_now();
  w->wall_setup_s = w->wall_start - wall_t0;
  world_start(w);
  simgrid_run_until(ns_to_s(w->end));
  double wall = wall_now() - w->wall_start;
  int shown = c->progress > 0 || (c->progress < 0 && isatty(2) && !c->quiet);
  if (shown) fputc('\n', stderr);
  if (summary_write(w, wall, peak_rss_kb())) return 1;
  if (w->stopped_at)
    printf("vss-sim: --max-wall stopped the run at %.3f s simulated (of "
           "%.3f s); the summary covers what was measured until then\n",
           ns_to_s(w->stopped_at), ns_to_s(w->sc->duration));
  if (!c->quiet)
    printf("vss-sim: %.1f s simulated in %.2f s wall, %llu frames, %llu node "
           "events\n",
           ns_to_s(w->end), wall, (unsigned long long)w->frames_total,
           (unsigned long long)w->events_total);
  if (!c->no_report) {
    const char *dir =
        c->reports_dir ? c->reports_dir : getenv("VSS_REPORTS_DIR");
    double t = wall_now();
    if (run_report(dir ? dir : VSS_REPORTS_DIR, out))
      fprintf(stderr,
              "vss-sim: report generation failed (data files are in %s)\n",
              out);
    summary_report_wall(w, wall_now() - t);
  }
  if (!c->quiet)
    printf("vss-sim: wall time %.2f s in all (setup %.2f s, run %.2f s, "
           "summary and report %.2f s)\n",
           wall_now() - wall_t0, w->wall_setup_s, wall,
           wall_now() - w->wall_start - wall);
  printf("%s/%s\n", out, c->no_report ? "summary.csv" : "report.md");
  fflush(stdout);
  return 0;
}

/* --plan: the world is built (nodes, initial sidecars, SimGrid routes)
 * but never run; the platform file lives in a temporary folder. */
static int plan_mode(const cli *c, scenario *sc) {
  char dir[] = "/tmp/vss-plan-XXXXXX", path[SC_PATH + 32], err[SC_ERR] = "";
  if (!mkdtemp(dir)) {
    fprintf(stderr, "vss-sim: --plan: cannot create %s: %s\n", dir,
            strerror(errno));
    return 1;
  }
  options opt = {.out_dir = NULL, .quiet = 1, .progress = 0, .no_report = 1};
  char *sargv[CLI_MAX_SG + SC_MAX_CFG + 8];
  static char store[SC_MAX_CFG][160];
  int sargc = simgrid_args(c, sc, sargv, store, &opt.latency_factor);
  static world w;
  int rc = 1;
  if (world_init(&w, sc, &opt, err, sizeof(err)) ||
      write_platform(&w, dir, path, sizeof(path))) {
    fprintf(stderr, "vss-sim: %s\n",
            err[0] ? err : "cannot write the platform");
  } else {
    simgrid_init(&sargc, sargv);
    simgrid_load_platform(path);
    if (world_routes(&w, err, sizeof(err)))
      fprintf(stderr, "vss-sim: %s\n", err);
    else if (plan_write(&w, stdout))
      fprintf(stderr, "vss-sim: --plan: cannot write the plan\n");
    else
      rc = 0;
  }
  if (!w.own_platform) unlink(path);
  rmdir(dir);
  monitor_free(&w);
  world_free(&w);
  return rc;
}

static int apply_cli(scenario *sc, void *user, char *err, size_t cap) {
  if (cli_apply(user, sc, err, cap)) return -1;
  /* SimGrid 3.32's ns-3 binding hangs or aborts on what platform.c
   * generates (WiFi zones, routes of several hops): refuse it there. */
  if (strcmp(sc->model, "ns-3") == 0 && !sc->platform[0])
    return snprintf(err, cap,
                    "model ns-3 needs your own --platform with one-hop "
                    "routes (SimGrid 3.32's ns-3 binding hangs or aborts on "
                    "generated platforms: WiFi zones, multi-hop routes)"),
           -1;
  return 0;
}

int main(int argc, char **argv) {
  wall_t0 = wall_now();
  cli c;
  int rc = cli_parse(&c, argc, argv);
  if (rc) return rc > 0 ? 0 : 2;
  static scenario sc;
  char err[SC_ERR];
  if (scenario_load_ex(&sc, c.scenario, apply_cli, &c, err, sizeof(err))) {
    fprintf(stderr, "vss-sim: %s\n", err);
    return 2;
  }
  char out[SC_PATH];
  if (c.out)
    scopy(out, sizeof(out), c.out);
  else
    snprintf(out, sizeof(out), "out/%.200s-seed%llu", sc.name,
             (unsigned long long)sc.seed);
  if (c.check) {
    printf("%s: ok (%d links, %d devices, %d sidecar sets, %d events)\n",
           sc.path, sc.nlinks, sc.ndevices, sc.nsidecars, sc.nevents);
    scenario_free(&sc);
    return 0;
  }
  if (c.plan) {
    rc = plan_mode(&c, &sc);
    scenario_free(&sc);
    return rc;
  }
  if (mkdir_p(out)) {
    fprintf(stderr, "vss-sim: cannot create %s\n", out);
    return 1;
  }
  vss_time max_wall = 0;
  char e[UNIT_ERR_MAX];
  if (c.max_wall && (parse_time(c.max_wall, &max_wall, e) || !max_wall)) {
    fprintf(stderr, "vss-sim: --max-wall: %s\n", max_wall ? e : "above zero");
    return 2;
  }
  options opt = {.out_dir = out,
                 .max_wall = ns_to_s(max_wall),
                 .quiet = c.quiet,
                 .progress = c.progress,
                 .no_report = c.no_report,
                 .reports_dir = c.reports_dir};
  char *sargv[CLI_MAX_SG + SC_MAX_CFG + 8];
  static char store[SC_MAX_CFG][160];
  int sargc = simgrid_args(&c, &sc, sargv, store, &opt.latency_factor);
  if (!c.probe) {
    announce(&sc, out);
    copy_file(sc.path, out, "scenario.ini");
  }
  static world w;
  char path[SC_PATH + 32];
  if (world_init(&w, &sc, &opt, err, sizeof(err)) ||
      write_platform(&w, out, path, sizeof(path))) {
    fprintf(stderr, "vss-sim: %s\n",
            err[0] ? err : "cannot write the platform");
    return 1;
  }
  simgrid_init(&sargc, sargv);
  simgrid_load_platform(path);
  if (world_routes(&w, err, sizeof(err))) {
    fprintf(stderr, "vss-sim: %s\n", err);
    return 1;
  }
  rc = c.probe ? probe_mode(&c, &w) : simulate(&c, &w, out);
  fflush(NULL);
#ifdef __SANITIZE_ADDRESS__
  /* LeakSanitizer faults scanning the stacks of live SimGrid actors at
   * exit: end them first (slow with thousands of comms pending, so only
   * in sanitizer builds). */
  sg_actor_kill_all();
  simgrid_run();
#endif
  int ns3 = strcmp(sc.model, "ns-3") == 0;
  monitor_free(&w);
  world_free(&w);
  scenario_free(&sc);
  if (ns3)
    _exit(rc); /* SimGrid 3.32's ns-3 binding crashes in its exit handler */
  return rc;
}
