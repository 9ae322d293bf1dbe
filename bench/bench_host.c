/*
 * bench_host.c - what a real node's host spends per byte and per commit,
 * measured on this machine: the figures vss-sim charges in simulated time
 * (sim/README.md, "Host costs"), so a simulated transfer pays the CPU and
 * disk a real vss-node pays.
 *
 *   chunk hashing    BLAKE2b-256 over 256 KiB chunks (crypto_generichash),
 *                    what verification costs the receiver per byte
 *   channel          crypto_secretstream_xchacha20poly1305 push of 64 KiB
 *                    records (pull costs the same), per byte and side
 *   blob write       write() of a 64 KiB buffer into a file, per byte
 *   commit           per sidecar: write a 45 KB file, fdatasync it, rename
 *                    it, fsync the directory, one SQLite transaction (WAL,
 *                    synchronous=NORMAL) inserting a row: the real node's
 *                    commit of one fetched thumbnail
 *
 * Each figure is the best of several rounds (the machine may be shared),
 * printed as ns/byte (and MB/s) or ms per commit. --quick: fewer rounds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MB (1024.0 * 1024.0)

static double best_hash(int rounds, size_t total) {
  static unsigned char buf[256 * 1024];
  unsigned char out[32];
  randombytes_buf(buf, sizeof buf);
  double best = 1e9;
  for (int r = 0; r < rounds; r++) {
    double t = now_s();
    for (size_t done = 0; done < total; done += sizeof buf)
      crypto_generichash(out, sizeof out, buf, sizeof buf, NULL, 0);
    t = now_s() - t;
    if (t < best) best = t;
  }
  return best / (double)total;
}

static double best_aead(int rounds, size_t total) {
  static unsigned char msg[64 * 1024],
      ct[64 * 1024 + crypto_secretstream_xchacha20poly1305_ABYTES];
  unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES],
      hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_state st;
  crypto_secretstream_xchacha20poly1305_keygen(key);
  randombytes_buf(msg, sizeof msg);
  double best = 1e9;
  for (int r = 0; r < rounds; r++) {
    crypto_secretstream_xchacha20poly1305_init_push(&st, hdr, key);
    double t = now_s();
    for (size_t done = 0; done < total; done += sizeof msg)
      crypto_secretstream_xchacha20poly1305_push(&st, ct, NULL, msg,
                                                 sizeof msg, NULL, 0, 0);
    t = now_s() - t;
    if (t < best) best = t;
  }
  return best / (double)total;
}

static double best_write(const char *dir, int rounds, size_t total) {
  static unsigned char buf[64 * 1024];
  char path[600];
  snprintf(path, sizeof path, "%s/w.bin", dir);
  memset(buf, 7, sizeof buf);
  double best = 1e9;
  for (int r = 0; r < rounds; r++) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    double t = now_s();
    for (size_t done = 0; done < total; done += sizeof buf)
      if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) break;
    t = now_s() - t;
    close(fd);
    if (t < best) best = t;
  }
  unlink(path);
  return best / (double)total;
}

/* One thumbnail's commit, as real/blobs_disk.c and the SQLite store do
 * it: file, fdatasync, rename, directory fsync, then the row. */
static double commit_once(const char *dir, sqlite3 *db, sqlite3_stmt *ins,
                          int i) {
  static unsigned char buf[45000];
  char tmp[600], fin[600];
  snprintf(tmp, sizeof tmp, "%s/t.part", dir);
  snprintf(fin, sizeof fin, "%s/f%d.webp", dir, i);
  double t = now_s();
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) return -1;
  fdatasync(fd);
  close(fd);
  rename(tmp, fin);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  fsync(dfd);
  close(dfd);
  sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  sqlite3_bind_int(ins, 1, i);
  sqlite3_step(ins);
  sqlite3_reset(ins);
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return now_s() - t;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median_commit(const char *dir, int n) {
  char dbp[600];
  sqlite3 *db;
  sqlite3_stmt *ins;
  snprintf(dbp, sizeof dbp, "%s/t.db", dir);
  if (sqlite3_open(dbp, &db) != SQLITE_OK) return -1;
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "CREATE TABLE s(id INTEGER PRIMARY KEY, path TEXT)",
               NULL, NULL, NULL);
  sqlite3_prepare_v2(db, "INSERT INTO s(id, path) VALUES(?, 'x')", -1, &ins,
                     NULL);
  double *t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++)
    t[i] = commit_once(dir, db, ins, i);
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  double m = t[n / 2];
  free(t);
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return m;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (sodium_init() < 0) return 1;
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
  char dir[400];
  snprintf(dir, sizeof dir, "%.300s/bench_host.XXXXXX", base);
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  int rounds = quick ? 2 : 5;
  size_t total = (size_t)(quick ? 16 : 128) * 1024 * 1024;
  double h = best_hash(rounds, total), a = best_aead(rounds, total),
         w = best_write(dir, rounds, total);
  double c = median_commit(dir, quick ? 20 : 200);
  printf("bench_host: best of %d rounds over %.0f MiB; commit: median of %d "
         "(dir %s)\n",
         rounds, (double)total / MB, quick ? 20 : 200, base);
  printf("  chunk hashing (BLAKE2b-256)   %6.3f ns/B  %7.1f MB/s\n", h * 1e9,
         1e-6 / h);
  printf("  channel (secretstream push)   %6.3f ns/B  %7.1f MB/s\n", a * 1e9,
         1e-6 / a);
  printf("  blob write (page cache)       %6.3f ns/B  %7.1f MB/s\n", w * 1e9,
         1e-6 / w);
  printf("  commit of a 45 KB sidecar     %6.3f ms (file, fdatasync, rename, "
         "dir fsync, SQLite txn)\n",
         c * 1e3);
  printf("  per 45 KB thumbnail received: %.3f ms = %.2f x its hashing + "
         "decryption\n",
         (45000 * (h + a + w) + c) * 1e3, (45000 * (h + a + w) + c) /
                                              (45000 * (h + a)));
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}
