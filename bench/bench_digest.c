/*
 * bench_digest.c - size and speed of availability digests.
 *
 * Builds N synthetic availability entries (random content uuids from a
 * fixed seed, thumb / grid@2x / webp, ~45 KB, random checksum), encodes
 * them as DIGEST pages filled up to the frame limit, then decodes and
 * walks every page. Reports bytes per entry and encode / decode rates.
 *
 *   bench_digest [--quick] [--seed N] [--entries N] [--reps N] [--page N]
 *
 * --page N caps entries per page (the engine's gossip pages hold 1024);
 * by default pages are filled up to the frame body limit.
 * --quick runs 10K entries once (the CTest smoke run); the default runs
 * 100K and 1M entries, best of 3 repetitions each.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vss/rng.h"
#include "wire.h"

#define DEFAULT_SEED 0x7e57d16e57ULL

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_digest: %s: %s\n", what, vss_strerror(rc));
  exit(1);
}

static vss_wire_entry *make_entries(size_t n, uint64_t seed) {
  vss_wire_entry *e = calloc(n, sizeof(*e));
  vss_rng r;

  if (e == NULL) die("entries", VSS_ERR_NOMEM);
  vss_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) {
    vss_uuid u;
    for (int w = 0; w < 2; w++) {
      uint64_t x = vss_rng_next(&r);
      memcpy(u.b + 8 * w, &x, 8);
    }
    vss_key_set(&e[i].key, &u, VSS_KIND_THUMB, "grid@2x");
    e[i].format = VSS_FMT_WEBP;
    e[i].has = 1;
    e[i].size = 40000 + vss_rng_below(&r, 10001); /* 40..50 KB */
    for (int w = 0; w < 4; w++) {
      uint64_t x = vss_rng_next(&r);
      memcpy(e[i].checksum.b + 8 * w, &x, 8);
    }
  }
  return e;
}

/* Pages are filled until one more worst-case entry could overflow the
 * body limit: what the engine has to do without knowing entry sizes. */
static uint32_t page_cap = VSS_WIRE_MAX_ENTRIES;

static int page_full(const vss_buf *b, size_t mark, uint32_t count) {
  return count == page_cap ||
         b->len - mark - 4 + VSS_WIRE_ENTRY_MAX > VSS_WIRE_MAX_BODY;
}

static size_t encode_all(vss_buf *b, const vss_wire_entry *e, size_t n) {
  vss_msg_digest hdr;
  size_t i = 0, pages = 0;

  memset(&hdr, 0, sizeof(hdr));
  hdr.device = e[0].key.content;
  hdr.epoch = 1;
  hdr.to_seq = n;
  hdr.timestamp = 1700000000ULL * VSS_NS_PER_S;
  b->len = 0;
  while (i < n) {
    size_t mark;
    uint32_t count = 0;
    int rc;
    hdr.flags = (i == 0 ? VSS_DIGEST_FIRST | VSS_DIGEST_FULL : 0);
    if ((rc = vss_wire_digest_begin(b, &hdr, &mark)) != 0)
      die("digest_begin", rc);
    while (i < n && !page_full(b, mark, count)) {
      if ((rc = vss_wire_digest_add(b, &e[i++])) != 0) die("digest_add", rc);
      count++;
    }
    if ((rc = vss_wire_digest_end(b, mark, count)) != 0) die("digest_end", rc);
    pages++;
  }
  return pages;
}

/* Walks every page and entry; returns the sum of sizes as a check. */
static uint64_t decode_all(const vss_buf *b, size_t *entries) {
  size_t off = 0;
  uint64_t sum = 0;

  *entries = 0;
  while (off < b->len) {
    size_t flen;
    vss_msg m;
    int rc;
    if ((rc = vss_wire_frame_len(b->data + off, b->len - off, &flen)) != 0 ||
        (rc = vss_wire_decode(b->data + off, flen, &m)) != 0)
      die("decode", rc);
    vss_rd r = m.u.digest.entries;
    for (uint32_t k = 0; k < m.u.digest.count; k++) {
      vss_wire_entry e;
      if ((rc = vss_wire_next_entry(&r, &e)) != 0) die("next_entry", rc);
      sum += e.size + e.checksum.b[0];
    }
    *entries += m.u.digest.count;
    off += flen;
  }
  return sum;
}

static void run(size_t n, uint64_t seed, int reps) {
  vss_wire_entry *e = make_entries(n, seed);
  vss_buf b = {0};
  double enc = 1e30, dec = 1e30;
  size_t pages = 0, got = 0;
  uint64_t want = 0, sum = 0;

  for (size_t i = 0; i < n; i++)
    want += e[i].size + e[i].checksum.b[0];
  for (int r = 0; r < reps; r++) {
    double t0 = now_s(), t1, t2;
    pages = encode_all(&b, e, n);
    t1 = now_s();
    sum = decode_all(&b, &got);
    t2 = now_s();
    if (t1 - t0 < enc) enc = t1 - t0;
    if (t2 - t1 < dec) dec = t2 - t1;
  }
  if (got != n || sum != want) {
    fprintf(stderr, "bench_digest: decoded %zu entries, want %zu\n", got, n);
    exit(1);
  }
  printf("%10zu %7zu %12zu %9.2f %12.0f %9.1f %12.0f %9.1f\n", n, pages, b.len,
         (double)b.len / (double)n, (double)n / enc, (double)b.len / enc / 1e6,
         (double)n / dec, (double)b.len / dec / 1e6);
  fflush(stdout);
  vss_buf_free(&b);
  free(e);
}

static uint64_t arg_u64(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "bench_digest: %s needs a value\n", argv[*i]);
    exit(2);
  }
  return strtoull(argv[++*i], NULL, 0);
}

int main(int argc, char **argv) {
  uint64_t seed = DEFAULT_SEED, only = 0;
  int quick = 0, reps = 3;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "--seed") == 0)
      seed = arg_u64(argc, argv, &i);
    else if (strcmp(argv[i], "--entries") == 0)
      only = arg_u64(argc, argv, &i);
    else if (strcmp(argv[i], "--reps") == 0)
      reps = (int)arg_u64(argc, argv, &i);
    else if (strcmp(argv[i], "--page") == 0)
      page_cap = (uint32_t)arg_u64(argc, argv, &i);
    else {
      fprintf(stderr, "usage: bench_digest [--quick] [--seed N] [--entries N] "
                      "[--reps N] [--page N]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  printf("bench_digest: seed 0x%" PRIx64 ", thumb/grid@2x/webp ~45 KB, "
         "pages up to %u entries / %u body bytes, best of %d\n",
         seed, page_cap, VSS_WIRE_MAX_BODY, quick ? 1 : reps);
  printf("%10s %7s %12s %9s %12s %9s %12s %9s\n", "entries", "pages", "bytes",
         "B/entry", "enc ent/s", "enc MB/s", "dec ent/s", "dec MB/s");
  if (quick)
    run(10000, seed, 1);
  else if (only)
    run((size_t)only, seed, reps);
  else {
    run(100000, seed, reps);
    run(1000000, seed, reps);
  }
  /* What the bytes are, and what a summary would cost instead. */
  printf("entry: key 25 (uuid 16, kind 1, len 1, \"grid@2x\" 7) + format 1 + "
         "has 1 + size 3 + checksum 32 = 62 B; removal 28 B\n"
         "page header: %d B + 5..50 B of varints; "
         "Bloom filter at 1%% FP: 1.2 B/entry\n",
         VSS_WIRE_HDR + 4 + 16);
  return 0;
}
