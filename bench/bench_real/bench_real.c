/*
 * bench_real.c - vss-node goodput on loopback against a raw TCP copy of
 * the same bytes, measured in the same run.
 *
 *   1. one proxy (default 1 GiB) alice -> bob
 *   2. many thumbnails (default 10,000 x 45,000 bytes) alice -> bob
 *
 * Each is timed as `vss-node fetch` (request to verified, committed,
 * durable bytes on bob) and as a raw copy over plain TCP between two
 * processes: sender reads the file, receiver writes it. The raw copy is
 * run twice: "durable" (fsync each file and its directory, the same
 * guarantee vss-node gives) and "plain" (no fsync). Ratios are printed
 * against both. CPU time (user + sys) per GB and peak RSS are taken from
 * each daemon's rusage when it exits (one daemon lifetime per phase).
 *
 * When `rsync` is installed, an rsync daemon on 127.0.0.1 serves alice's
 * sidecar tree and the same bytes are pulled with `rsync -a --fsync` and
 * `rsync -a` (what a user would pick instead). When `syncthing` (and
 * curl) is installed, two Syncthing instances on 127.0.0.1 sync the same
 * files (syncthing_copy.sh: config.xml in the work dir, no discovery or
 * relays, timed from unpausing the receiver's folder to all files in
 * sync; not with --quick). Every method runs once per round, interleaved
 * (raw durable, raw plain, Syncthing, rsync --fsync, rsync, vss-node into
 * a fresh bob), over --rounds rounds; medians and ratios are printed.
 * Missing tools are named, never installed.
 *
 * First, the record crypto and hash options on this CPU: secretstream
 * (XChaCha20-Poly1305, what the channel uses), AES-256-GCM (when the CPU
 * has AES-NI) and ChaCha20-Poly1305 over 1 MiB records, and BLAKE2b.
 *
 * usage: bench_real [--quick] [--proxy-mb N] [--thumbs N] [--rounds N]
 *                   [--crypto] [--keep] [--no-syncthing]
 */
#define _GNU_SOURCE /* asprintf, wait4, usleep */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#ifndef VSS_NODE_BIN
#define VSS_NODE_BIN "vss-node"
#endif

#define THUMB_SIZE 45000
#define BUF (1 << 20)

static char g_dir[256];
static const char *g_node = VSS_NODE_BIN;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t g_daemons[2]; /* running, killed on the way out */
static pid_t g_rsync_pid;

static void die(const char *what) {
  fprintf(stderr, "bench_real: %s: %s (work dir %s)\n", what, strerror(errno),
          g_dir);
  for (int i = 0; i < 2; i++)
    if (g_daemons[i] > 0) kill(g_daemons[i], SIGTERM);
  if (g_rsync_pid > 0) kill(g_rsync_pid, SIGTERM);
  exit(1);
}

/* ---- running vss-node ------------------------------------------------ */

/* Runs vss-node -d DIR args...; stdin/stdout redirected when given. */
static int run(const char *node, const char *in, const char *out,
               const char *const *args) {
  char dir[300];
  const char *argv[16];
  int n = 0, st;
  pid_t pid;
  snprintf(dir, sizeof dir, "%s/%s", g_dir, node);
  argv[n++] = g_node;
  argv[n++] = "-d";
  argv[n++] = dir;
  while (*args && n < 15)
    argv[n++] = *args++;
  argv[n] = NULL;
  fflush(stdout); /* or the child's freopen writes our buffer again */
  if ((pid = fork()) < 0) die("fork");
  if (pid == 0) {
    if (in && freopen(in, "r", stdin) == NULL) _exit(126);
    if (out && freopen(out, "w", stdout) == NULL) _exit(126);
    execv(g_node, (char *const *)argv);
    _exit(127);
  }
  if (waitpid(pid, &st, 0) < 0) die("waitpid");
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* CLI output goes to /dev/null: only the figures are printed. */
#define RUN(node, ...)                                                         \
  run(node, NULL, "/dev/null", (const char *const[]){__VA_ARGS__, NULL})

static char *run_capture(const char *node, const char *const *args) {
  static char buf[4096];
  char path[300];
  FILE *f;
  size_t n;
  snprintf(path, sizeof path, "%s/capture.txt", g_dir);
  if (run(node, NULL, path, args) != 0) return NULL; /* quiet */
  if ((f = fopen(path, "r")) == NULL) return NULL;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static pid_t serve(const char *node) {
  char dir[300], log[300];
  pid_t pid;
  snprintf(dir, sizeof dir, "%s/%s", g_dir, node);
  snprintf(log, sizeof log, "%s/%s.log", g_dir, node);
  fflush(stdout);
  if ((pid = fork()) < 0) die("fork");
  if (pid == 0) {
    if (freopen(log, "a", stderr) == NULL) _exit(126);
    execl(g_node, g_node, "-d", dir, "serve", (char *)NULL);
    _exit(127);
  }
  /* Wait for its control socket. */
  for (int i = 0; i < 200; i++) {
    char *s = run_capture(node, (const char *const[]){"status", NULL});
    if (s && strstr(s, "daemon running")) return pid;
    usleep(20000);
  }
  die("daemon did not start");
  return -1;
}

static void stop(const char *node, pid_t pid, struct rusage *ru) {
  int st;
  RUN(node, "stop");
  if (wait4(pid, &st, 0, ru) < 0) die("wait4");
}

static int wait_output(const char *node, const char *const *args,
                       const char *needle, double secs) {
  double end = now_s() + secs;
  while (now_s() < end) {
    char *s = run_capture(node, args);
    if (s && strstr(s, needle)) return 0;
    usleep(20000);
  }
  return -1;
}

/* ---- content --------------------------------------------------------- */

static void write_file(const char *path, uint64_t size, uint64_t seed) {
  static uint8_t buf[BUF];
  uint8_t key[randombytes_SEEDBYTES] = {0};
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  uint64_t off = 0, chunk = 0;
  if (fd < 0) die(path);
  memcpy(key, &seed, sizeof seed);
  while (off < size) {
    size_t n = size - off < BUF ? (size_t)(size - off) : BUF;
    memcpy(key + 8, &chunk, sizeof chunk);
    chunk++;
    randombytes_buf_deterministic(buf, n, key);
    if (write(fd, buf, n) != (ssize_t)n) die("write");
    off += n;
  }
  close(fd);
}

static void uuid_of(uint64_t i, char out[37]) {
  uint8_t b[16];
  uint8_t key[randombytes_SEEDBYTES] = {0};
  memcpy(key, &i, sizeof i);
  key[31] = 0x5a;
  randombytes_buf_deterministic(b, sizeof b, key);
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
           "%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

/* ---- the raw TCP copy ------------------------------------------------ */

static int listen_any(uint16_t *port) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 1) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len))
    die("listen");
  *port = ntohs(sa.sin_port);
  return fd;
}

static int read_full(int fd, void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t r = read(fd, b, n);
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static void write_full(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w <= 0) die("write");
    b += w;
    n -= (size_t)w;
  }
}

/* Receiver: "u64 size | bytes" per file until EOF; each file written to
 * outdir/N, then (durable) fsync + rename + fsync(dir). */
/* A port free right now (the kernel's pick), for alice to listen on. */
static uint16_t free_port(void) {
  uint16_t port;
  int fd = listen_any(&port);
  close(fd);
  return port;
}

static void raw_receiver(int lfd, const char *outdir, int durable) {
  static uint8_t buf[BUF];
  int s = accept(lfd, NULL, NULL), dfd = open(outdir, O_RDONLY);
  uint64_t size, i = 0;
  if (s < 0 || dfd < 0) _exit(1);
  while (read_full(s, &size, sizeof size) == 0) {
    char tmp[64], fin[64];
    int fd;
    snprintf(tmp, sizeof tmp, "%" PRIu64 ".part", i);
    snprintf(fin, sizeof fin, "%" PRIu64, i++);
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(1);
    while (size > 0) {
      size_t n = size < BUF ? (size_t)size : BUF;
      ssize_t r = read(s, buf, n);
      if (r <= 0) _exit(1);
      write_full(fd, buf, (size_t)r);
      size -= (uint64_t)r;
    }
    if (durable && fsync(fd) != 0) _exit(1);
    close(fd);
    if (renameat(dfd, tmp, dfd, fin) != 0) _exit(1);
    if (durable && fsync(dfd) != 0) _exit(1);
  }
  _exit(0);
}

static void raw_send_file(int s, const char *path) {
  static uint8_t buf[BUF];
  struct stat st;
  uint64_t size;
  int fd = open(path, O_RDONLY);
  if (fd < 0 || fstat(fd, &st) != 0) die(path);
  size = (uint64_t)st.st_size;
  write_full(s, &size, sizeof size);
  for (;;) {
    ssize_t r = read(fd, buf, BUF);
    if (r < 0) die("read");
    if (r == 0) break;
    write_full(s, buf, (size_t)r);
  }
  close(fd);
}

/* Copies every file over one TCP connection; returns the seconds from
 * connect to the receiver's last (durable) write. */
static double raw_copy(char **paths, size_t n, int durable, struct rusage *ru) {
  char outdir[300], cmd[700];
  uint16_t port;
  int lfd, s, st;
  struct sockaddr_in sa;
  pid_t pid;
  double t0;
  struct rusage self0, self1, child;

  snprintf(outdir, sizeof outdir, "%s/raw", g_dir);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", outdir, outdir);
  if (system(cmd) != 0) die("mkdir raw");
  lfd = listen_any(&port);
  fflush(stdout);
  if ((pid = fork()) == 0) raw_receiver(lfd, outdir, durable);
  close(lfd);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  getrusage(RUSAGE_SELF, &self0);
  t0 = now_s();
  if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
      connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
    die("connect");
  for (size_t i = 0; i < n; i++)
    raw_send_file(s, paths[i]);
  close(s);
  if (wait4(pid, &st, 0, &child) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("raw receiver");
  getrusage(RUSAGE_SELF, &self1);
  /* CPU of both ends, as for the two daemons. */
  memset(ru, 0, sizeof *ru);
  ru->ru_utime.tv_sec =
      self1.ru_utime.tv_sec - self0.ru_utime.tv_sec + child.ru_utime.tv_sec;
  ru->ru_utime.tv_usec =
      self1.ru_utime.tv_usec - self0.ru_utime.tv_usec + child.ru_utime.tv_usec;
  ru->ru_stime.tv_sec =
      self1.ru_stime.tv_sec - self0.ru_stime.tv_sec + child.ru_stime.tv_sec;
  ru->ru_stime.tv_usec =
      self1.ru_stime.tv_usec - self0.ru_stime.tv_usec + child.ru_stime.tv_usec;
  return now_s() - t0;
}

/* ---- crypto options --------------------------------------------------- */

#define CRYPTO_REC (1u << 20)
#define CRYPTO_TOTAL (256u << 20)

static double crypto_rate(int what, uint8_t *buf, uint8_t *ct) {
  uint8_t key[32], npub[24] = {0},
                   hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_state st, st2;
  unsigned long long cl, ml;
  unsigned char tag;
  double t0;
  randombytes_buf(key, sizeof key);
  crypto_secretstream_xchacha20poly1305_init_push(&st, hdr, key);
  crypto_secretstream_xchacha20poly1305_init_pull(&st2, hdr, key);
  t0 = now_s();
  for (uint64_t done = 0; done < CRYPTO_TOTAL; done += CRYPTO_REC) {
    switch (what) {
    case 0: /* secretstream seal + open */
      crypto_secretstream_xchacha20poly1305_push(&st, ct, &cl, buf, CRYPTO_REC,
                                                 NULL, 0, 0);
      if (crypto_secretstream_xchacha20poly1305_pull(&st2, buf, &ml, &tag, ct,
                                                     cl, NULL, 0) != 0)
        die("secretstream");
      break;
    case 1: /* AES-256-GCM seal + open */
      npub[0]++;
      crypto_aead_aes256gcm_encrypt(ct, &cl, buf, CRYPTO_REC, NULL, 0, NULL,
                                    npub, key);
      if (crypto_aead_aes256gcm_decrypt(buf, &ml, NULL, ct, cl, NULL, 0, npub,
                                        key) != 0)
        die("aes256gcm");
      break;
    case 2: /* ChaCha20-Poly1305 (IETF) seal + open */
      npub[0]++;
      crypto_aead_chacha20poly1305_ietf_encrypt(ct, &cl, buf, CRYPTO_REC, NULL,
                                                0, NULL, npub, key);
      if (crypto_aead_chacha20poly1305_ietf_decrypt(buf, &ml, NULL, ct, cl,
                                                    NULL, 0, npub, key) != 0)
        die("chacha20poly1305");
      break;
    default: /* BLAKE2b-256 of the bytes */
      crypto_generichash(ct, 32, buf, CRYPTO_REC, NULL, 0);
      break;
    }
  }
  return (double)CRYPTO_TOTAL / 1e9 / (now_s() - t0);
}

/* GB/s of each, sealing and opening counted once per byte (the two ends
 * of a transfer each pay one of the two). */
static void crypto_report(void) {
  uint8_t *buf = malloc(CRYPTO_REC), *ct = malloc(CRYPTO_REC + 64);
  double ss, aes = 0, cc, b2;
  if (!buf || !ct) die("malloc");
  randombytes_buf(buf, CRYPTO_REC);
  ss = crypto_rate(0, buf, ct);
  if (crypto_aead_aes256gcm_is_available()) aes = crypto_rate(1, buf, ct);
  cc = crypto_rate(2, buf, ct);
  b2 = crypto_rate(3, buf, ct);
  printf("record crypto, 1 MiB records, seal+open per byte (one core):\n");
  printf("  secretstream XChaCha20-Poly1305  %.2f GB/s (%.2f s/GB)\n", ss,
         1 / ss);
  if (aes > 0)
    printf("  AES-256-GCM (AES-NI)             %.2f GB/s (%.2f s/GB)  "
           "%.2fx secretstream\n",
           aes, 1 / aes, aes / ss);
  else
    printf("  AES-256-GCM                      not available on this CPU\n");
  printf("  ChaCha20-Poly1305 (IETF AEAD)    %.2f GB/s (%.2f s/GB)\n", cc,
         1 / cc);
  printf("  BLAKE2b-256 hashing              %.2f GB/s (%.2f s/GB)\n", b2,
         1 / b2);
  free(buf);
  free(ct);
}

/* ---- rsync (a daemon on loopback) -------------------------------------- */

static uint16_t g_rsync_port;

static int have_rsync(void) {
  return system("command -v rsync >/dev/null 2>&1") == 0;
}

static uint16_t free_port(void);

static void rsync_start(void) {
  char conf[300], cmd[1200], log[300];
  FILE *f;
  if (!have_rsync()) {
    printf("rsync: not installed (Debian: apt-get install rsync); the rsync "
           "rounds are skipped\n");
    return;
  }
  g_rsync_port = free_port();
  snprintf(conf, sizeof conf, "%s/rsyncd.conf", g_dir);
  snprintf(log, sizeof log, "%s/rsyncd.log", g_dir);
  if ((f = fopen(conf, "w")) == NULL) die("rsyncd.conf");
  fprintf(f,
          "use chroot = no\nuid = %u\ngid = %u\n[a]\npath = %s/alice/"
          "sidecars/content\nread only = yes\n",
          (unsigned)getuid(), (unsigned)getgid(), g_dir);
  fclose(f);
  fflush(stdout);
  if ((g_rsync_pid = fork()) == 0) {
    execlp(
        "rsync", "rsync", "--daemon", "--no-detach", "--address=127.0.0.1",
        "--config", conf, "--log-file", log,
        (snprintf(cmd, sizeof cmd, "--port=%u", (unsigned)g_rsync_port), cmd),
        (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 100; i++) {
    snprintf(cmd, sizeof cmd,
             "rsync --list-only rsync://127.0.0.1:%u/a/ >/dev/null 2>&1",
             (unsigned)g_rsync_port);
    if (system(cmd) == 0) return;
    usleep(50000);
  }
  die("the rsync daemon did not answer");
}

static void rsync_stop(void) {
  if (g_rsync_pid > 0) {
    kill(g_rsync_pid, SIGTERM);
    waitpid(g_rsync_pid, NULL, 0);
  }
}

/* Pulls `rel` (a path under alice's content tree, "" for all of it) into
 * a fresh directory; returns the seconds from start to rsync's exit. */
static double rsync_copy(const char *rel, int fsync_too, int thumbs_only) {
  char dest[300], cmd[1200];
  double t0;
  snprintf(dest, sizeof dest, "%s/rsync-dest", g_dir);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && sync", dest, dest);
  if (system(cmd) != 0) die("rsync dest");
  snprintf(cmd, sizeof cmd, "rsync -a %s %s rsync://127.0.0.1:%u/a/%s '%s/'",
           fsync_too ? "--fsync" : "", thumbs_only ? "--exclude=proxies/" : "",
           (unsigned)g_rsync_port, rel, dest);
  t0 = now_s();
  if (system(cmd) != 0) die("rsync");
  return now_s() - t0;
}

/* ---- Syncthing (syncthing_copy.sh) ------------------------------------ */

#ifndef VSS_ST_SCRIPT
#define VSS_ST_SCRIPT "syncthing_copy.sh"
#endif
static int g_st = -1; /* -1 unknown, 0 absent or not wanted, 1 present */

static int st_present(void) {
  if (g_st < 0) {
    g_st = system("command -v syncthing >/dev/null 2>&1 && "
                  "command -v curl >/dev/null 2>&1") == 0;
    if (!g_st)
      printf("(Syncthing rounds skipped: syncthing or curl not installed; "
             "Debian packages syncthing, curl)\n");
  }
  return g_st;
}

/* A tree of hard links to what the workload moves (alice's proxy, or her
 * thumbnails without the proxy), for Syncthing's send-only folder. */
static void st_source(const char *name, char **paths, size_t n, char *src,
                      size_t cap) {
  char cmd[2400];
  snprintf(src, cap, "%s/st-%s/src", g_dir, name);
  if (n == 1) {
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && ln '%s' '%s/'", src, paths[0],
             src);
  } else {
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/st-%s' && cp -al '%s/alice/sidecars/content' '%s' "
             "&& find '%s' -type d -name proxies -prune -exec rm -rf {} +",
             g_dir, name, g_dir, src, src);
  }
  if (system(cmd) != 0) die("syncthing source tree");
}

/* Seconds for Syncthing B to hold all n files of src, or -1. */
static double st_copy(const char *name, const char *src, size_t n) {
  char cmd[1200], line[64] = "";
  FILE *f;
  snprintf(cmd, sizeof cmd, "bash '%s' '%s/st-%s' '%s' %zu 2>>'%s/st.err'",
           VSS_ST_SCRIPT, g_dir, name, src, n, g_dir);
  if ((f = popen(cmd, "r")) == NULL) return -1;
  if (fgets(line, sizeof line, f) == NULL) line[0] = '\0';
  if (pclose(f) != 0 || line[0] == '\0') {
    fprintf(stderr, "bench_real: a Syncthing round failed (see %s/st.err)\n",
            g_dir);
    return -1;
  }
  return strtod(line, NULL);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double s[64];
  if (n <= 0) return 0;
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_d);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- phases ---------------------------------------------------------- */

static double cpu_s(const struct rusage *ru) {
  return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
         (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

#define MAX_ROUNDS 16

typedef struct result {
  const char *name;
  uint64_t bytes;
  int n; /* rounds measured */
  double node_s[MAX_ROUNDS], raw_durable_s[MAX_ROUNDS], raw_plain_s[MAX_ROUNDS],
      rs_fsync_s[MAX_ROUNDS], rs_s[MAX_ROUNDS], st_s[MAX_ROUNDS];
  int st_ok;     /* the Syncthing rounds ran */
  double cold_s; /* from the first request, failed attempts included */
  int attempts;
  double cpu_alice[MAX_ROUNDS], cpu_bob[MAX_ROUNDS], cpu_raw[MAX_ROUNDS];
  long rss_alice_kb, rss_bob_kb; /* largest over the rounds */
} result;

static char g_alice_addr[32];

static void pair_and_wait(int replace) {
  char *ca = run_capture(
      "alice", (const char *const[]){"show", "identity", "--code", NULL});
  char code_a[128], code_b[128];
  if (ca == NULL) die("code of alice");
  snprintf(code_a, sizeof code_a, "%.*s", (int)strcspn(ca, "\n"), ca);
  ca = run_capture("bob",
                   (const char *const[]){"show", "identity", "--code", NULL});
  if (ca == NULL) die("code of bob");
  snprintf(code_b, sizeof code_b, "%.*s", (int)strcspn(ca, "\n"), ca);
  /* A fresh bob each round: a new device under the old name. */
  if ((replace ? RUN("alice", "pair", code_b, "--name", "bob", "--replace")
               : RUN("alice", "pair", code_b, "--name", "bob")) != 0 ||
      RUN("bob", "pair", code_a, "--name", "alice", "--addr", g_alice_addr) !=
          0)
    die("pair");
}

/* Bob has alice's whole availability: the bulk fetch below must not race
 * the digest (keys not yet known would be queried one by one). */
static int wait_entries(uint64_t want, double secs) {
  double end = now_s() + secs;
  while (now_s() < end) {
    char *s = run_capture("bob", (const char *const[]){"status", NULL});
    char *e = s ? strstr(s, "entries=") : NULL;
    if (e && strtoull(e + 8, NULL, 10) >= want) return 0;
    usleep(50000);
  }
  return -1;
}

/* Starts both daemons, waits until bob knows alice holds `probe`, runs
 * `fetch` on bob with the URIs in `list`, stops both. */
static uint64_t g_entries; /* sidecars alice holds */

static void node_phase(const char *list, const char *probe, result *r, int i) {
  struct rusage ra, rb;
  pid_t pa = g_daemons[0] = serve("alice"), pb = g_daemons[1] = serve("bob");
  char out[300];
  double t0;
  int rc;
  if (wait_output("bob", (const char *const[]){"presence", probe, NULL},
                  "name=alice online=1", 30) < 0 ||
      wait_entries(g_entries, 60) < 0)
    die("bob never learned alice's sidecars");
  snprintf(out, sizeof out, "%s/fetch.out", g_dir);
  /* A failed attempt is reported, then retried (see report()). */
  r->cold_s = now_s();
  for (r->attempts = 1;; r->attempts++) {
    t0 = now_s();
    rc = run(
        "bob", list, out,
        (const char *const[]){"fetch", "--stdin", "--timeout", "3600", NULL});
    r->node_s[i] = now_s() - t0;
    if (rc == 0) break;
    if (r->attempts == 3) die("fetch failed 3 times (see bob.log)");
    fprintf(stderr,
            "bench_real: %s fetch attempt %d failed after %.3f s "
            "(see %s/bob.log); retrying\n",
            r->name, r->attempts, r->node_s[i], g_dir);
  }
  r->cold_s = now_s() - r->cold_s;
  stop("alice", pa, &ra);
  stop("bob", pb, &rb);
  g_daemons[0] = g_daemons[1] = 0;
  r->cpu_alice[i] = cpu_s(&ra);
  r->cpu_bob[i] = cpu_s(&rb);
  if (ra.ru_maxrss > r->rss_alice_kb) r->rss_alice_kb = ra.ru_maxrss;
  if (rb.ru_maxrss > r->rss_bob_kb) r->rss_bob_kb = rb.ru_maxrss;
}

static void raw_phase(char **paths, size_t n, result *r, int i) {
  struct rusage ru;
  r->raw_durable_s[i] = raw_copy(paths, n, 1, &ru);
  r->cpu_raw[i] = cpu_s(&ru);
  r->raw_plain_s[i] = raw_copy(paths, n, 0, &ru);
}

static void print_load(const char *when) {
  char buf[128] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fgets(buf, sizeof buf, f) == NULL) buf[0] = '\0';
    fclose(f);
  }
  buf[strcspn(buf, "\n")] = '\0';
  printf("load average %s: %s (other work on the machine skews figures)\n",
         when, buf);
}

static void line(const char *what, double t, double mb, double node_t) {
  printf("  %-22s %8.3f s  %8.1f MB/s   vss-node takes %.2fx its time\n", what,
         t, mb / t, node_t / t);
}

static void report(const result *r) {
  double gb = (double)r->bytes / 1e9, mb = (double)r->bytes / 1e6;
  double node = median(r->node_s, r->n);
  printf("\n%s: %.1f MB, medians of %d interleaved round(s)\n", r->name, mb,
         r->n);
  printf("  %-22s %8.3f s  %8.1f MB/s\n", "vss-node fetch", node, mb / node);
  if (r->attempts > 1)
    printf("  (a fetch needed %d attempts; %.3f s from the first request)\n",
           r->attempts, r->cold_s);
  if (g_rsync_port) {
    line("rsync -a --fsync", median(r->rs_fsync_s, r->n), mb, node);
    line("rsync -a", median(r->rs_s, r->n), mb, node);
  }
  if (r->st_ok) line("Syncthing 1.19", median(r->st_s, r->n), mb, node);
  line("raw TCP, durable", median(r->raw_durable_s, r->n), mb, node);
  line("raw TCP, no fsync", median(r->raw_plain_s, r->n), mb, node);
  printf("  CPU per GB: alice (sender) %.2f s, bob (receiver) %.2f s, "
         "raw durable copy (both ends) %.2f s\n",
         median(r->cpu_alice, r->n) / gb, median(r->cpu_bob, r->n) / gb,
         median(r->cpu_raw, r->n) / gb);
  printf("  peak RSS: alice %.1f MiB, bob %.1f MiB\n",
         (double)r->rss_alice_kb / 1024, (double)r->rss_bob_kb / 1024);
  printf("  rounds (s): vss-node");
  for (int i = 0; i < r->n; i++)
    printf(" %.2f", r->node_s[i]);
  if (g_rsync_port) {
    printf("; rsync --fsync");
    for (int i = 0; i < r->n; i++)
      printf(" %.2f", r->rs_fsync_s[i]);
  }
  if (r->st_ok) {
    printf("; Syncthing");
    for (int i = 0; i < r->n; i++)
      printf(" %.2f", r->st_s[i]);
  }
  printf("\n");
}

/* ---- setup ----------------------------------------------------------- */

/* A new bob (nothing fetched yet), paired with alice. */
static void fresh_bob(int replace) {
  char cfg[300], cmd[800];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/bob' && sync", g_dir);
  if (system(cmd) != 0) die("rm bob");
  if (RUN("bob", "init", "--name", "bob", "--listen", "off")) die("init bob");
  /* Bob fetches on demand only: the timed fetch does all the work. */
  snprintf(cfg, sizeof cfg, "%s/bob/config.ini", g_dir);
  snprintf(cmd, sizeof cmd, "sed -i 's/^eager = .*/eager = none/' '%s'", cfg);
  if (system(cmd) != 0) die("config");
  pair_and_wait(replace);
}

static void init_nodes(void) {
  snprintf(g_alice_addr, sizeof g_alice_addr, "127.0.0.1:%u",
           (unsigned)free_port());
  if (RUN("alice", "init", "--name", "alice", "--listen", g_alice_addr))
    die("init");
}

static void add_proxy(uint64_t size, char *uri, size_t cap, char *path,
                      size_t pcap) {
  char src[300], u[37];
  uuid_of(1, u);
  snprintf(uri, cap, "sidecar://%s/proxies/1080p.mp4", u);
  snprintf(src, sizeof src, "%s/src.mp4", g_dir);
  write_file(src, size, 1);
  if (RUN("alice", "add", src, uri) != 0) die("add proxy");
  unlink(src);
  snprintf(path, pcap,
           "%s/alice/sidecars/content/%.2s/%.2s/%s/proxies/1080p.mp4", g_dir, u,
           u + 2, u);
}

/* Writes n thumbnails, adds them on alice in one `add --stdin`, and
 * leaves the URI list (for fetch) and the sidecar paths (for raw). */
static char **add_thumbs(size_t n, const char *list) {
  char srcdir[300], addlist[300], u[37];
  char **paths = calloc(n, sizeof *paths);
  FILE *fa, *fl;
  snprintf(srcdir, sizeof srcdir, "%s/thumbsrc", g_dir);
  snprintf(addlist, sizeof addlist, "%s/add.list", g_dir);
  mkdir(srcdir, 0755);
  if (!paths || !(fa = fopen(addlist, "w")) || !(fl = fopen(list, "w")))
    die("lists");
  for (size_t i = 0; i < n; i++) {
    char src[400];
    uuid_of(1000 + i, u);
    snprintf(src, sizeof src, "%s/%zu.webp", srcdir, i);
    write_file(src, THUMB_SIZE, 1000 + i);
    fprintf(fa, "%s sidecar://%s/thumbs/grid@2x.webp\n", src, u);
    fprintf(fl, "sidecar://%s/thumbs/grid@2x.webp\n", u);
    if (asprintf(&paths[i],
                 "%s/alice/sidecars/content/%.2s/%.2s/%s/thumbs/grid@2x.webp",
                 g_dir, u, u + 2, u) < 0)
      die("asprintf");
  }
  fclose(fa);
  fclose(fl);
  if (run("alice", addlist, "/dev/null",
          (const char *const[]){"add", "--stdin", NULL}))
    die("add thumbs");
  {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", srcdir);
    if (system(cmd) != 0) die("rm");
  }
  return paths;
}

/* The proxy's path under alice's content tree, for rsync. */
static const char *content_rel(const char *path) {
  const char *p = strstr(path, "/sidecars/content/");
  return p ? p + strlen("/sidecars/content/") : path;
}

/* One workload, `rounds` times: each method once per round, interleaved,
 * and bob afresh before each vss-node fetch. */
static void workload(result *r, char **paths, size_t n, const char *list,
                     const char *probe, int rounds, int *bobs) {
  char st_src[400];
  r->st_ok = st_present();
  if (r->st_ok) st_source(r->name, paths, n, st_src, sizeof st_src);
  for (int i = 0; i < rounds; i++) {
    raw_phase(paths, n, r, i);
    if (r->st_ok && (r->st_s[i] = st_copy(r->name, st_src, n)) < 0)
      r->st_ok = 0;
    if (g_rsync_port) {
      const char *rel = n == 1 ? content_rel(paths[0]) : "";
      r->rs_fsync_s[i] = rsync_copy(rel, 1, n > 1);
      r->rs_s[i] = rsync_copy(rel, 0, n > 1);
    }
    fresh_bob((*bobs)++ > 0);
    node_phase(list, probe, r, i);
    r->n = i + 1;
    fprintf(stderr, "bench_real: %s round %d: vss-node %.2f s\n", r->name,
            i + 1, r->node_s[i]);
  }
}

int main(int argc, char **argv) {
  uint64_t proxy_mb = 1024;
  size_t thumbs = 10000;
  int keep = 0, rounds = 3, crypto_only = 0, bobs = 0;
  char proxy_uri[128], proxy_path[400], list[300], one[300], probe[128];
  char *proxy_paths[1] = {proxy_path}, **thumb_paths;
  static result rp, rt;
  FILE *f;

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      proxy_mb = 64;
      thumbs = 300;
      rounds = 1;
      g_st = 0; /* the CTest smoke stays short */
    } else if (!strcmp(argv[i], "--no-syncthing")) {
      g_st = 0;
    } else if (!strcmp(argv[i], "--proxy-mb") && i + 1 < argc) {
      proxy_mb = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--thumbs") && i + 1 < argc) {
      thumbs = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--crypto")) {
      crypto_only = 1;
    } else if (!strcmp(argv[i], "--keep")) {
      keep = 1;
    } else {
      fprintf(stderr, "usage: bench_real [--quick] [--proxy-mb N] "
                      "[--thumbs N] [--rounds N] [--crypto] [--keep] "
                      "[--no-syncthing]\n");
      return 2;
    }
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || thumbs == 0 || proxy_mb == 0) {
    fprintf(stderr, "bench_real: --rounds 1..%d, sizes > 0\n", MAX_ROUNDS);
    return 2;
  }
  rp.name = "proxy";
  rt.name = "thumbnails";
  if (getenv("VSS_NODE")) g_node = getenv("VSS_NODE");
  if (sodium_init() < 0) return 1;
  crypto_report();
  if (crypto_only) return 0;
  snprintf(g_dir, sizeof g_dir, "/tmp/vss-bench-XXXXXX");
  if (mkdtemp(g_dir) == NULL) die("mkdtemp");
  printf("bench_real: %s, proxy %" PRIu64 " MiB, %zu x %d-byte thumbnails, "
         "%d round(s), work dir %s\n",
         g_node, proxy_mb, thumbs, THUMB_SIZE, rounds, g_dir);
  fflush(stdout);

  print_load("at start");
  init_nodes();
  add_proxy(proxy_mb << 20, proxy_uri, sizeof proxy_uri, proxy_path,
            sizeof proxy_path);
  snprintf(list, sizeof list, "%s/thumbs.list", g_dir);
  thumb_paths = add_thumbs(thumbs, list);
  rsync_start();
  g_entries = 1 + thumbs;
  rp.bytes = proxy_mb << 20;
  rt.bytes = (uint64_t)thumbs * THUMB_SIZE;

  snprintf(one, sizeof one, "%s/proxy.list", g_dir);
  if ((f = fopen(one, "w")) == NULL) die("list");
  fprintf(f, "%s\n", proxy_uri);
  fclose(f);
  workload(&rp, proxy_paths, 1, one, proxy_uri, rounds, &bobs);
  report(&rp);
  fflush(stdout);

  if ((f = fopen(list, "r")) == NULL || !fgets(probe, sizeof probe, f))
    die("list");
  fclose(f);
  probe[strcspn(probe, "\n")] = '\0';
  workload(&rt, thumb_paths, thumbs, list, probe, rounds, &bobs);
  for (size_t i = 0; i < thumbs; i++)
    free(thumb_paths[i]);
  free(thumb_paths);
  report(&rt);
  printf("\nthumbnails vs proxy goodput: %.2f (node), %.2f (raw durable)\n",
         ((double)rt.bytes / median(rt.node_s, rt.n)) /
             ((double)rp.bytes / median(rp.node_s, rp.n)),
         ((double)rt.bytes / median(rt.raw_durable_s, rt.n)) /
             ((double)rp.bytes / median(rp.raw_durable_s, rp.n)));
  if (!g_rsync_port) printf("(rsync rounds skipped: rsync not installed)\n");

  print_load("at end");
  rsync_stop();
  if (!keep) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) return 1;
  }
  return 0;
}
