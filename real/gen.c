/*
 * gen.c - local generation through an external program ([generate]
 * command in config.ini): the resolver's fallback when no paired device
 * can provide a sidecar, and the GENERATE_* resolve modes.
 *
 * The program runs as `command... URI OUTPUT_PATH` (the command is split
 * on blanks, no shell), with OUTPUT_PATH in DATA_DIR/tmp (a crash leaves
 * a .part that the next start sweeps). Exit 0 means OUTPUT_PATH holds the
 * sidecar: it is imported like `add` (fsync, rename) and recorded, which
 * completes the node's generation job. Anything else, or running past
 * [generate] timeout, fails the job.
 *
 * At most [generate] parallel programs run at once (default: the number
 * of CPUs); later jobs wait in order. Each runs in its own process group
 * (a new session), and the whole group is killed when it times out, when
 * it exits (a script's stray children go with it) and at shutdown.
 */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobs_disk.h"
#include "log.h"
#include "srv.h"

#define GEN_MAX_ARGS 32

typedef struct gen {
  uv_process_t proc;
  uv_timer_t timer;
  struct gen *next;
  srv *s;
  uint64_t job;
  vss_key key;
  vss_format fmt;
  char uri[VSS_URI_MAX + 1];
  char out[PATH_MAX + 32];
  vss_time started;
  int handles;
  int running; /* spawned (else waiting for a slot) */
} gen;

static void gen_launch(srv *s);

static void gen_unlink(gen *g) {
  for (gen **pp = &g->s->gens; *pp; pp = &(*pp)->next)
    if (*pp == g) {
      *pp = g->next;
      return;
    }
}

static void on_closed(uv_handle_t *h) {
  gen *g = h->data;
  if (--g->handles == 0) free(g);
}

/* The program's whole process group (it leads it: UV_PROCESS_DETACHED). */
static void kill_group(gen *g, int sig) {
  if (g->running && g->proc.pid > 0) kill(-g->proc.pid, sig);
}

static void gen_close(gen *g) {
  gen_unlink(g);
  unlink(g->out);
  if (g->running) {
    g->s->gens_running--;
    uv_close((uv_handle_t *)&g->timer, on_closed);
    uv_close((uv_handle_t *)&g->proc, on_closed);
  } else {
    free(g);
  }
}

/* The program's output becomes the sidecar (or the job fails). */
static int gen_finish(gen *g, int ok) {
  srv *s = g->s;
  char err[512] = "the generator failed";
  uint64_t size = 0;
  int rc = ok ? blobs_disk_import(s->h->blobs, g->out, &g->key, g->fmt, &size,
                                  err, sizeof err)
              : VSS_ERR_GENERATE;
  if (rc == 0)
    rc = vss_node_add_local(s->node, &g->key, g->fmt, NULL, size, home_now());
  if (rc < 0) {
    log_warn("generation of %s failed: %s", g->uri, err);
    vss_node_generate_failed(s->node, g->job, VSS_ERR_GENERATE, home_now());
    return rc;
  }
  log_info("generated %s: %" PRIu64 " bytes in %.3f s", g->uri, size,
           (double)(home_now() - g->started) / 1e9);
  return 0;
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  gen *g = p->data;
  srv *s = g->s;
  uv_timer_stop(&g->timer);
  kill_group(g, SIGKILL); /* whatever it left running */
  if (!s->stopping) {
    if (status != 0 || sig != 0)
      log_warn("generator for %s exited with %s %d", g->uri,
               sig ? "signal" : "status", sig ? sig : (int)status);
    gen_finish(g, status == 0 && sig == 0);
  }
  gen_close(g);
  gen_launch(s);
  srv_after(s);
}

static void on_timeout(uv_timer_t *t) {
  gen *g = t->data;
  log_warn("generator for %s timed out; killing its process group", g->uri);
  kill_group(g, SIGKILL);
}

/* "cmd a b" -> argv {cmd, a, b, uri, out, NULL} in buf. */
static int split_command(const char *cmd, char *buf, size_t cap, char **argv,
                         gen *g) {
  int n = 0;
  char *p;
  snprintf(buf, cap, "%s", cmd);
  for (p = strtok(buf, " \t"); p && n < GEN_MAX_ARGS - 3;
       p = strtok(NULL, " \t"))
    argv[n++] = p;
  if (n == 0) return -1;
  argv[n++] = g->uri;
  argv[n++] = g->out;
  argv[n] = NULL;
  return n;
}

static int spawn(srv *s, gen *g) {
  char buf[1024], *argv[GEN_MAX_ARGS];
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  int rc;
  if (split_command(s->h->cfg.gen_command, buf, sizeof buf, argv, g) < 0)
    return UV_EINVAL;
  memset(&o, 0, sizeof o);
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD; /* its output joins our log */
  stdio[1].data.fd = STDERR_FILENO;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = STDERR_FILENO;
  o.file = argv[0];
  o.args = argv;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED; /* setsid: its own process group */
  rc = uv_spawn(s->loop, &g->proc, &o);
  g->proc.data = g;
  return rc;
}

/* Spawns g and arms its timeout. On failure g is unlinked and freed. */
static int gen_spawn(srv *s, gen *g) {
  int rc = spawn(s, g);
  if (rc < 0) {
    log_warn("cannot run the generator '%s': %s", s->h->cfg.gen_command,
             uv_strerror(rc));
    gen_unlink(g);
    /* A failed uv_spawn still initialised the handle: close it. */
    g->handles = 1;
    g->proc.data = g;
    uv_close((uv_handle_t *)&g->proc, on_closed);
    return rc;
  }
  g->running = 1;
  s->gens_running++;
  g->started = home_now();
  uv_timer_init(s->loop, &g->timer);
  g->timer.data = g;
  g->handles = 2;
  if (s->h->cfg.gen_timeout)
    uv_timer_start(&g->timer, on_timeout, s->h->cfg.gen_timeout / VSS_NS_PER_MS,
                   0);
  log_info("generating %s (job %" PRIu64 ", %zu running)", g->uri, g->job,
           s->gens_running);
  return 0;
}

/* Starts waiting jobs, oldest first, while slots are free. */
static void gen_launch(srv *s) {
  while (!s->stopping && s->gens_running < s->h->cfg.gen_parallel) {
    gen *oldest = NULL;
    uint64_t job;
    for (gen *g = s->gens; g; g = g->next)
      if (!g->running) oldest = g; /* the list is newest first */
    if (oldest == NULL) return;
    job = oldest->job;
    if (gen_spawn(s, oldest) < 0)
      vss_node_generate_failed(s->node, job, VSS_ERR_GENERATE, home_now());
  }
}

int gen_start(void *user, const vss_key *key, vss_format fmt, uint64_t job) {
  srv *s = user;
  uint8_t rnd[8];
  char hex[17];
  gen *g;
  if (!s->h->cfg.gen_command[0] || s->stopping) return -1;
  if ((g = calloc(1, sizeof *g)) == NULL) return -1;
  g->s = s;
  g->job = job;
  g->key = *key;
  g->fmt = fmt;
  g->started = home_now();
  vss_uri_format(key, fmt, g->uri, sizeof g->uri);
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
  snprintf(g->out, sizeof g->out, "%s/tmp/gen-%s.part", s->h->dir, hex);
  g->next = s->gens;
  s->gens = g;
  if (s->gens_running < s->h->cfg.gen_parallel)
    return gen_spawn(s, g) < 0 ? -1 : 0;
  log_info("generation of %s (job %" PRIu64 ") waits: %zu running", g->uri, job,
           s->gens_running);
  return 0;
}

void gen_stop_all(srv *s) {
  while (s->gens) {
    gen *g = s->gens;
    kill_group(g, SIGTERM);
    gen_close(g);
  }
}
