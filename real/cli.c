/*
 * cli.c - the vss-node command line.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobs_disk.h"
#include "ctl.h"
#include "home.h"
#include "log.h"
#include "ops.h"
#include "srv.h"

#define VERSION "0.1.0"

typedef struct global {
  char dir[PATH_MAX];
  int verbose;
} global;

static const char USAGE[] =
    "usage: vss-node [-d DATA_DIR] [-v] COMMAND [ARGS] [--help]\n"
    "\n"
    "Share generated sidecars (thumbnails, proxies, OCR text...) between "
    "paired\ndevices: generate once, use everywhere.\n"
    "\n"
    "Setting up:\n"
    "  init [--name NAME] [--listen HOST:PORT|off]  create the data dir\n"
    "  show identity [--code]     this device's id, key and pairing code\n"
    "  pair CODE [--addr HOST:PORT] [--name NAME]   pin a peer's key\n"
    "  unpair NAME|DEVICE         forget a peer\n"
    "  peers                      list paired devices\n"
    "\n"
    "Running:\n"
    "  serve                      run the daemon (logs to stderr)\n"
    "  status                     peers, availability age, transfers\n"
    "  stop                       stop the daemon\n"
    "\n"
    "Sidecars:\n"
    "  add FILE URI | add --stdin record a locally generated sidecar\n"
    "  list                       this device's sidecars and their holders\n"
    "  presence URI...            which devices hold these sidecars\n"
    "  resolve URI [--mode M]     local path, best remote source, or missing\n"
    "  fetch URI... [--timeout S] [--or-generate]\n"
    "                             fetch from paired devices (needs serve)\n"
    "  gossip                     exchange availability now\n"
    "  verify                     check every sidecar's bytes\n"
    "  checksum FILE              the two-level BLAKE2b checksum of a file\n"
    "\n"
    "A URI is sidecar://CONTENT_UUID/KIND_DIR/VARIANT.EXT, e.g.\n"
    "  sidecar://550e8400-e29b-41d4-a716-446655440000/thumbs/grid@2x.webp\n"
    "  KIND_DIR  thumbs, thumbstrips, proxies, embeddings, ocr, transcript,\n"
    "            gaussian_splats\n"
    "  VARIANT   1-63 of [A-Za-z0-9@._-] (grid@2x, 1080p, ...)\n"
    "  EXT       webp, mp4, json, msgpack, txt, ply\n"
    "By default ([prefetch] eager = thumb) the daemon fetches every thumbnail\n"
    "a peer announces as soon as it learns of it.\n"
    "The data dir is -d, else $VSS_DATA_DIR, else ~/.local/share/vss-node;\n"
    "settings are in DATA_DIR/config.ini. Commands print errors on stderr\n"
    "and exit 1 on failure, 2 on bad usage.\n";

/* ---- output to this process's stdio ---------------------------------- */

static void std_line(void *u, char kind, const char *text) {
  (void)u;
  if (kind == 'o')
    printf("%s\n", text);
  else if (kind == 'p')
    fprintf(stderr, "%s\n", text);
  else
    fprintf(stderr, "vss-node: %s\n", text);
}

static out STDOUT_SINK = {std_line, NULL};

static int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "vss-node: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  return EXIT_FAIL;
}

static int wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

/* ---- init / serve ---------------------------------------------------- */

static int cmd_init(global *g, int argc, char **argv) {
  const char *name = NULL, *listen = "0.0.0.0:7457";
  char *pos[1], err[512], host[256], dev[VSS_UUID_STR_LEN + 1];
  vss_uuid device;
  cfg_addr a;
  int npos;
  optspec spec[] = {{"name", 1, &name, NULL},
                    {"listen", 1, &listen, NULL},
                    {NULL, 0, NULL, NULL}};
  if (opts_parse(argc, argv, spec, pos, 0, &npos, &STDOUT_SINK) < 0)
    return EXIT_USAGE;
  if (strcmp(listen, "off") != 0 && cfg_parse_addr(listen, &a) < 0)
    return fail("--listen '%s': expected host:port or off%s", listen, "");
  if (name == NULL) {
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "vss");
    host[CFG_NAME_MAX] = '\0';
    for (char *p = host; *p; p++)
      if (!strchr("_.-", *p) && !(*p >= '0' && *p <= '9') &&
          !((*p | 32) >= 'a' && (*p | 32) <= 'z'))
        *p = '-';
    name = host;
  }
  if (!cfg_name_valid(name))
    return fail("--name '%s': use 1-63 of [A-Za-z0-9_.-]%s", name, "");
  if (home_init(g->dir, name, listen, &device, err, sizeof err) < 0)
    return fail("%s%s", err, "");
  vss_uuid_format(&device, dev);
  printf("initialised %s\ndevice %s name %s\n"
         "next: `vss-node -d %s show identity` and pair with your other "
         "devices\n",
         g->dir, dev, name, g->dir);
  return EXIT_OK;
}

static int cmd_serve(global *g, int argc, char **argv) {
  const char *level = NULL;
  char *pos[1], err[512];
  home h;
  int npos, rc, lv;
  optspec spec[] = {{"log-level", 1, &level, NULL}, {NULL, 0, NULL, NULL}};
  if (opts_parse(argc, argv, spec, pos, 0, &npos, &STDOUT_SINK) < 0)
    return EXIT_USAGE;
  rc = home_open(&h, g->dir, HOME_IDENT | HOME_STORE | HOME_WAIT | HOME_SWEEP,
                 err, sizeof err);
  if (rc < 0) return fail("%s%s", err, "");
  log_set_name(h.cfg.name);
  lv = level ? log_level_parse(level) : h.cfg.log_level;
  if (lv < 0) {
    home_close(&h);
    return fail("--log-level '%s': expected error, warn, info or debug%s",
                level, "");
  }
  log_set_level(g->verbose ? LOG_DEBUG : lv);
#ifdef __GLIBC__
  /* Frames are up to a megabyte and come and go by the thousand: keep
   * them on the heap instead of an mmap, page faults and zeroing each. */
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
  rc = srv_run(&h);
  home_close(&h);
  return rc;
}

/* ---- ops: in the daemon or here --------------------------------------- */

static uint64_t offline_rand(void *u) {
  uint64_t v;
  (void)u;
  randombytes_buf(&v, sizeof v);
  return v;
}

/* Runs an op on a node made just for it: nothing to talk to, so only
 * local state and the database are visible. */
static int run_offline_home(home *hp, const op_def *op, int argc, char **argv) {
  vss_node *node = NULL;
  vss_node_config c;
  ops_ctx ctx;
  int rc;
  c = hp->cfg.core;
  c.store = hp->store;
  c.blobs = hp->blobs;
  c.rand = offline_rand;
  if ((rc = vss_node_new(&node, &c, home_now())) < 0) {
    home_close(hp);
    return fail("cannot open the node: %s%s", vss_strerror(rc), "");
  }
  ctx.h = hp;
  ctx.node = node;
  ctx.srv = NULL;
  rc = op->fn(&ctx, argc, argv, &STDOUT_SINK);
  vss_node_del(node);
  home_close(hp);
  return rc;
}

static int run_offline(global *g, const op_def *op, int argc, char **argv) {
  char err[512];
  home h;
  int rc = home_open(&h, g->dir, HOME_STORE | HOME_IDENT, err, sizeof err);
  if (rc < 0) return rc == HOME_BUSY ? -2 : fail("%s%s", err, "");
  return run_offline_home(&h, op, argc, argv);
}

static int sock_path(global *g, char *out, size_t cap) {
  return snprintf(out, cap, "%s/ctl.sock", g->dir) >= (int)cap ? -1 : 0;
}

/* Forwards to the daemon when one answers, else runs here. A daemon that
 * is starting holds the lock before its socket exists: wait a little. */
static int run_op(global *g, const op_def *op, int argc, char **argv,
                  int timeout_ms) {
  char sock[PATH_MAX];
  if (sock_path(g, sock, sizeof sock) < 0)
    return fail("data dir path too long: %s%s", g->dir, "");
  for (int tries = 0; tries < 50; tries++) {
    int fd = ctlc_connect(sock), rc;
    if (fd >= 0) {
      rc = ctlc_run(fd, op->verb, argc, argv, timeout_ms);
      close(fd);
      return rc;
    }
    if (op->daemon_only) {
      struct stat st;
      char cfgp[PATH_MAX + 16];
      snprintf(cfgp, sizeof cfgp, "%s/config.ini", g->dir);
      if (stat(cfgp, &st) != 0)
        return fail("%s is not a vss-node data dir; run `vss-node -d %s "
                    "init`",
                    g->dir, g->dir);
      return fail("`%s` needs the daemon: start `vss-node -d %s serve`",
                  op->verb, g->dir);
    }
    if ((rc = run_offline(g, op, argc, argv)) != -2) return rc;
    nanosleep(&(struct timespec){0, 100000000L}, NULL);
  }
  return fail("%s is locked by another process that does not answer on "
              "%s",
              g->dir, sock);
}

/* ---- add: copy into the layout, then record --------------------------- */

static int copy_in(vss_blobs *b, const char *file, const vss_key *key,
                   vss_format fmt) {
  char err[512];
  uint64_t size;
  if (blobs_disk_import(b, file, key, fmt, &size, err, sizeof err) < 0)
    return fail("%s%s", err, "");
  return 0;
}

/* Reads "FILE URI" lines. */
static int read_pairs(char ***files, char ***uris, int *n) {
  char line[8192];
  int cap = 0;
  *n = 0;
  *files = *uris = NULL;
  while (fgets(line, sizeof line, stdin)) {
    char *f = strtok(line, " \t\r\n"), *u = strtok(NULL, " \t\r\n");
    if (f == NULL) continue;
    if (u == NULL)
      return fail("--stdin: expected 'FILE URI' lines, got '%s'%s", f, "");
    if (*n == cap) {
      cap = cap ? cap * 2 : 256;
      *files = realloc(*files, (size_t)cap * sizeof **files);
      *uris = realloc(*uris, (size_t)cap * sizeof **uris);
      if (!*files || !*uris) return fail("out of memory%s%s", "", "");
    }
    (*files)[*n] = strdup(f);
    (*uris)[*n] = strdup(u);
    (*n)++;
  }
  return 0;
}

static int cmd_add(global *g, int argc, char **argv) {
  char **files = NULL, **uris = NULL, *pos[2], err[512], sock[PATH_MAX];
  int use_stdin = 0, npos, n = 0, rc = 0, fd, locked = 0;
  vss_blobs *b = NULL;
  home h;
  optspec spec[] = {{"stdin", 0, NULL, &use_stdin}, {NULL, 0, NULL, NULL}};
  if (opts_parse(argc, argv, spec, pos, 2, &npos, &STDOUT_SINK) < 0)
    return EXIT_USAGE;
  if (use_stdin ? npos != 0 : npos != 2) {
    fprintf(stderr, "usage: vss-node add FILE URI | add --stdin\n");
    return EXIT_USAGE;
  }
  /* The copies are made under the data dir's lock: with a daemon
   * serving, it holds the lock (and swept at its start, before this);
   * else we take it for the copies and the recording, so a daemon
   * starting meanwhile waits instead of sweeping copies that have no
   * row yet. */
  if (sock_path(g, sock, sizeof sock) < 0)
    return fail("data dir path too long: %s%s", g->dir, "");
  if ((fd = ctlc_connect(sock)) >= 0) {
    close(fd);
  } else if ((rc = home_open(&h, g->dir, HOME_STORE | HOME_IDENT | HOME_WAIT,
                             err, sizeof err)) == 0) {
    locked = 1;
  } else if (rc != HOME_BUSY) {
    return fail("%s%s", err, "");
  }
  rc = 0;
  if (use_stdin) {
    if (read_pairs(&files, &uris, &n)) return EXIT_FAIL;
  } else {
    files = &pos[0];
    uris = &pos[1];
    n = 1;
  }
  /* No sweep of tmp/: a running daemon may have transfers there. */
  if (locked)
    b = h.blobs;
  else if (blobs_disk_open(&b, g->dir, NULL, err, sizeof err) < 0)
    return fail("%s%s", err, "");
  /* Group commit: one sync per 256 copies instead of one per file; all
   * are durable (the flush below) before anything records them. */
  if (n > 1) (void)blobs_disk_group(b, 256, NULL, NULL);
  for (int i = 0; i < n && rc == 0; i++) {
    vss_key key;
    vss_format fmt;
    if (ops_parse_uri(uris[i], &key, &fmt, &STDOUT_SINK) < 0)
      rc = EXIT_USAGE;
    else
      rc = copy_in(b, files[i], &key, fmt);
  }
  if (blobs_disk_flush(b) < 0 && rc == 0)
    rc = fail("cannot make the copies durable%s%s", "", "");
  if (locked) {
    (void)blobs_disk_group(b, 0, NULL, NULL);
    if (rc == 0)
      rc = run_offline_home(&h, ops_find("record"), n, uris);
    else
      home_close(&h);
  } else {
    vss_blobs_del(b);
    if (rc == 0) rc = run_op(g, ops_find("record"), n, uris, 0);
  }
  if (use_stdin) {
    for (int i = 0; i < n; i++) {
      free(files[i]);
      free(uris[i]);
    }
    free(files);
    free(uris);
  }
  return rc;
}

/* ---- URIs from stdin ---------------------------------------------------- */

/* Appends stdin's URIs (one a line, blank lines skipped) to *args, which
 * holds *n of *cap; no limit but memory. -1 (reported) on a line too long
 * to be a URI or out of memory. */
static int read_stdin_uris(char ***args, int *n, int *cap) {
  char line[VSS_URI_MAX + 64];
  int lineno = 0;
  while (fgets(line, sizeof line, stdin)) {
    size_t len = strlen(line);
    char *u;
    lineno++;
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      fprintf(stderr, "vss-node: --stdin line %d: longer than any URI\n",
              lineno);
      return -1;
    }
    if ((u = strtok(line, " \t\r\n")) == NULL) continue;
    if (*n == *cap) {
      int ncap = *cap ? *cap * 2 : 64;
      char **na = realloc(*args, (size_t)ncap * sizeof *na);
      if (na == NULL) return -1;
      *args = na;
      *cap = ncap;
    }
    if (((*args)[*n] = strdup(u)) == NULL) return -1;
    (*n)++;
  }
  return 0;
}

/* presence URI... | presence --stdin: forwarded like any op. */
static int cmd_presence(global *g, int argc, char **argv) {
  int use_stdin = 0, npos, n = 0, cap = argc + 1, rc, first_owned;
  char **pos = calloc((size_t)argc + 1, sizeof *pos), **args;
  optspec spec[] = {{"stdin", 0, NULL, &use_stdin}, {NULL, 0, NULL, NULL}};
  if (pos == NULL || (args = malloc((size_t)cap * sizeof *args)) == NULL) {
    free(pos);
    return EXIT_FAIL;
  }
  if (opts_parse(argc, argv, spec, pos, argc, &npos, &STDOUT_SINK) < 0) {
    free(pos);
    free(args);
    return EXIT_USAGE;
  }
  for (int i = 0; i < npos; i++)
    args[n++] = pos[i];
  first_owned = n;
  rc = use_stdin && read_stdin_uris(&args, &n, &cap) < 0 ? EXIT_FAIL : 0;
  if (rc == 0 && n == 0) {
    fprintf(stderr, "usage: vss-node presence URI... | presence --stdin\n");
    rc = EXIT_USAGE;
  }
  if (rc == 0) rc = run_op(g, ops_find("presence"), n, args, 0);
  for (int i = first_owned; i < n; i++)
    free(args[i]);
  free(pos);
  free(args);
  return rc;
}

/* ---- fetch: forwarded with client-side options ----------------------- */

static int cmd_fetch(global *g, int argc, char **argv) {
  const char *timeout = NULL;
  int use_stdin = 0, progress = 0, or_gen = 0, npos, n = 0, cap = 0, rc;
  char **pos = calloc((size_t)argc + 1, sizeof *pos), **args = NULL;
  optspec spec[] = {{"timeout", 1, &timeout, NULL},
                    {"stdin", 0, NULL, &use_stdin},
                    {"progress", 0, NULL, &progress},
                    {"or-generate", 0, NULL, &or_gen},
                    {NULL, 0, NULL, NULL}};
  double secs = 0;
  if (pos == NULL) return EXIT_FAIL;
  if (opts_parse(argc, argv, spec, pos, argc, &npos, &STDOUT_SINK) < 0) {
    free(pos);
    return EXIT_USAGE;
  }
  if (timeout && ((secs = atof(timeout)) <= 0)) {
    free(pos);
    return fail("--timeout '%s': expected seconds%s", timeout, "");
  }
  cap = npos + 3;
  args = malloc((size_t)cap * sizeof *args);
  if (progress) args[n++] = "--progress";
  if (or_gen) args[n++] = "--or-generate";
  for (int i = 0; i < npos; i++)
    args[n++] = pos[i];
  if (args == NULL || (use_stdin && read_stdin_uris(&args, &n, &cap) < 0)) {
    rc = EXIT_FAIL;
  } else if (n == progress + or_gen) {
    fprintf(stderr, "usage: vss-node fetch URI... [--stdin] [--timeout S]\n");
    rc = EXIT_USAGE;
  } else {
    rc = run_op(g, ops_find("fetch"), n, args, (int)(secs * 1000));
  }
  /* The URIs read from stdin were strdup'd; the others belong to argv. */
  for (int i = progress + or_gen + npos; i < n; i++)
    free((char *)args[i]);
  free(pos);
  free(args);
  return rc;
}

/* ---- checksum -------------------------------------------------------- */

static int cmd_checksum(int argc, char **argv) {
  static uint8_t buf[1 << 20];
  vss_hasher *h = NULL;
  vss_hash sum;
  char hex[VSS_HASH_HEX_LEN + 1];
  uint64_t size = 0, n = 0;
  int fd;
  if (argc != 1) {
    fprintf(stderr, "usage: vss-node checksum FILE\n");
    return EXIT_USAGE;
  }
  if ((fd = open(argv[0], O_RDONLY | O_CLOEXEC)) < 0)
    return fail("cannot open %s: %s", argv[0], strerror(errno));
  if (vss_hasher_new(&h) < 0) {
    close(fd);
    return EXIT_FAIL;
  }
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      close(fd);
      vss_hasher_del(h);
      return fail("cannot read %s: %s", argv[0], strerror(errno));
    }
    if (r == 0) break;
    vss_hasher_update(h, buf, (size_t)r);
    size += (uint64_t)r;
  }
  close(fd);
  vss_hasher_final(h, &sum, NULL, &n);
  vss_hasher_del(h);
  vss_hash_hex(&sum, hex);
  printf("%s %" PRIu64 " %s\n", hex, size, argv[0]);
  return EXIT_OK;
}

/* ---- help and dispatch ----------------------------------------------- */

static int help_for(const char *verb) {
  const op_def *op = ops_find(verb);
  static const struct {
    const char *verb, *usage, *help;
  } local[] = {
      {"init", "[--name NAME] [--listen HOST:PORT|off]",
       "Create the data dir: Ed25519 identity (identity.key, mode 0600), "
       "SQLite database with a new device id, config.ini with defaults. "
       "--listen defaults to 0.0.0.0:7457; off accepts no connections."},
      {"serve", "[--log-level LEVEL]",
       "Run the daemon in the foreground: accept and dial paired peers, "
       "exchange availability, serve and fetch sidecars. Logs go to stderr. "
       "Stop it with Ctrl-C, SIGTERM or `vss-node stop`. With "
       "VSS_EVENT_LOG=FILE in the environment, every protocol event is "
       "appended to FILE as CSV (for measurements: vss-lab)."},
      {"add", "FILE URI | --stdin",
       "Record a sidecar generated on this device: FILE is copied into the "
       "layout (fsync + rename), then recorded (checksum, ready row, "
       "availability). --stdin reads 'FILE URI' lines."},
      {"checksum", "FILE",
       "Print the two-level BLAKE2b-256 checksum the database stores, the "
       "size and the name."},
  };
  for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
    if (!strcmp(local[i].verb, verb)) {
      printf("usage: vss-node %s %s\n\n%s\n", verb, local[i].usage,
             local[i].help);
      return EXIT_OK;
    }
  if (op == NULL || !strcmp(verb, "record")) {
    fprintf(stderr, "vss-node: unknown command '%s'\n%s", verb, USAGE);
    return EXIT_USAGE;
  }
  printf("usage: vss-node %s %s\n\n%s\n", verb, op->usage, op->help);
  return EXIT_OK;
}

static int parse_global(global *g, int *argc, char ***argv) {
  int i = 1;
  g->dir[0] = '\0';
  for (; i < *argc && (*argv)[i][0] == '-'; i++) {
    const char *a = (*argv)[i];
    if ((!strcmp(a, "-d") || !strcmp(a, "--data-dir")) && i + 1 < *argc) {
      snprintf(g->dir, sizeof g->dir, "%s", (*argv)[++i]);
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      g->verbose = 1;
    } else if (!strcmp(a, "--version")) {
      printf("vss-node %s\n", VERSION);
      exit(0);
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(USAGE, stdout);
      exit(0);
    } else {
      fprintf(stderr, "vss-node: unknown option %s\n%s", a, USAGE);
      return -1;
    }
  }
  if (!g->dir[0] && home_default_dir(g->dir, sizeof g->dir) < 0) {
    fprintf(stderr, "vss-node: no data dir: pass -d DIR or set "
                    "VSS_DATA_DIR\n");
    return -1;
  }
  *argc -= i;
  *argv += i;
  return 0;
}

int cli_main(int argc, char **argv) {
  global g;
  const op_def *op;
  const char *verb;

  memset(&g, 0, sizeof g);
  /* Everything this process creates (database, its WAL, sidecars, the
   * control socket) is the user's alone. */
  umask(077);
  if (sodium_init() < 0)
    return fail("libsodium failed to initialise%s%s", "", "");
  if (parse_global(&g, &argc, &argv) < 0) return EXIT_USAGE;
  if (argc == 0) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  verb = argv[0];
  argc--;
  argv++;
  if (!strcmp(verb, "help"))
    return argc ? help_for(argv[0]) : (fputs(USAGE, stdout), 0);
  if (!strcmp(verb, "show") || !strcmp(verb, "id")) {
    if (wants_help(argc, argv)) return help_for("identity");
    if (!strcmp(verb, "show") && (argc == 0 || strcmp(argv[0], "identity"))) {
      fprintf(stderr, "vss-node: usage: vss-node show identity [--code]\n");
      return EXIT_USAGE;
    }
    verb = "identity";
  }
  if (!strcmp(verb, "record")) return help_for(verb); /* internal only */
  if (wants_help(argc, argv)) return help_for(verb);
  if (!strcmp(verb, "init")) return cmd_init(&g, argc, argv);
  if (!strcmp(verb, "serve")) return cmd_serve(&g, argc, argv);
  if (!strcmp(verb, "add")) return cmd_add(&g, argc, argv);
  if (!strcmp(verb, "fetch")) return cmd_fetch(&g, argc, argv);
  if (!strcmp(verb, "presence")) return cmd_presence(&g, argc, argv);
  if (!strcmp(verb, "checksum")) return cmd_checksum(argc, argv);
  if (!strcmp(verb, "pair") && argc == 1 && !strcmp(argv[0], "--code")) {
    static char *code_args[] = {"--code"};
    return run_op(&g, ops_find("identity"), 1, code_args, 0);
  }
  if ((op = ops_find(verb)) == NULL) return help_for(verb);
  return run_op(&g, op, argc, argv, 0);
}
