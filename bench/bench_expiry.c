/*
 * bench_expiry.c - cost of one vss_node_handle_expiry with many peers
 * and many transfer jobs (issue 8, item 9).
 *
 * One node, P peers online (P = 64, then 1,000), J jobs (20,000) of
 * 45 KB thumbnails held by the first 4 peers only (the rest are
 * devices holding none of them, as in a fleet). The holders never
 * answer: their windows fill, the other jobs wait on the ready lists,
 * and every timer that fires (request deadlines, backoffs) is one
 * handle_expiry. The program times the first calls (at most --calls,
 * and at most ~3 s of them) and prints microseconds per call, and the
 * ratio of the 1,000-peer figure to the 64-peer one (the target is
 * < 1 ms per call, growing at most logarithmically with peers).
 *
 * Wall-clock figures: the machine may be loaded; the ratio between the
 * two runs of the same process is the figure to compare.
 *
 * Usage: bench_expiry [--quick] [--jobs N] [--calls N]
 */
#define _POSIX_C_SOURCE 200809L
#include "node_internal.h"
#include "pcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THUMB 45000u
#define HOLDERS 4

static uint64_t rnd(void *u) {
  (void)u;
  return 42;
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void key_of(vss_key *k, uint32_t n) {
  memset(k, 0, sizeof(*k));
  memcpy(k->content.b, &n, sizeof(n));
  k->content.b[15] = 0x5a;
  k->kind = VSS_KIND_THUMB;
  strcpy(k->variant, "grid@2x");
}

static void drain(vss_node *n, vss_time now) {
  vss_outmsg m;
  while (vss_node_next_send(n, NULL, &m, now) > 0) {
  }
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct fig {
  double mean, median, max, span_s; /* us, us, us, simulated seconds */
  uint32_t calls;
} fig;

/* Microseconds per handle_expiry with `peers` peers and `jobs` jobs. */
static fig run(uint32_t peers, uint32_t jobs, uint32_t calls) {
  vss_store *st;
  vss_blobs *bl;
  vss_uuid me;
  memset(&me, 0x77, sizeof(me));
  if (vss_store_sqlite_open(&st, ":memory:", &me, NULL, 0) ||
      vss_blobs_mem_new(&bl)) {
    fprintf(stderr, "bench_expiry: store\n");
    exit(1);
  }
  vss_node_config c;
  vss_node_config_default(&c);
  c.store = st;
  c.blobs = bl;
  c.rand = rnd;
  c.prefetch.eager_kinds = c.prefetch.lazy_kinds = 0;
  vss_node *n;
  vss_time now = VSS_NS_PER_S;
  if (vss_node_new(&n, &c, now)) exit(1);
  vss_link_info li;
  memset(&li, 0, sizeof(li));
  li.cls = VSS_LINK_ETHERNET;
  li.rate_hint = 10e6;
  li.rtt_hint = 20 * VSS_NS_PER_MS;
  for (uint32_t i = 0; i < peers; i++) {
    vss_uuid u;
    memset(&u, 0, sizeof(u));
    memcpy(u.b, &i, sizeof(i));
    u.b[15] = 0xee;
    if (vss_node_peer_up(n, &u, &li, now)) exit(1);
  }
  drain(n, now);
  vss_hash sum;
  memset(&sum, 0x11, sizeof(sum));
  for (uint32_t k = 0; k < jobs; k++) {
    vss_key key;
    key_of(&key, k);
    for (uint16_t h = 0; h < HOLDERS; h++)
      vss_pcache_set(n->pcache, h, &key, VSS_FMT_WEBP, 1, THUMB, &sum);
    if (vss_node_fetch(n, &key, VSS_FMT_WEBP, 0, NULL, now)) exit(1);
  }
  drain(n, now);
  double spent = 0, *each = calloc(calls ? calls : 1, sizeof(double));
  if (!each) exit(1);
  vss_time start = now;
  uint32_t i = 0;
  for (; i < calls && spent < 3.0; i++) {
    vss_time t = vss_node_get_expiry(n);
    if (t == VSS_TIME_UNSET) break;
    now = t > now ? t : now;
    double t0 = wall();
    vss_node_handle_expiry(n, now);
    each[i] = wall() - t0;
    spent += each[i];
    drain(n, now);
  }
  fig f = {0};
  f.calls = i;
  if (i) {
    f.mean = spent * 1e6 / i;
    qsort(each, i, sizeof(*each), cmp_d);
    f.median = each[i / 2] * 1e6;
    f.max = each[i - 1] * 1e6;
    f.span_s = (double)(now - start) / VSS_NS_PER_S;
  }
  free(each);
  vss_node_del(n);
  vss_store_del(st);
  vss_blobs_del(bl);
  return f;
}

static void show(const char *what, const fig *f) {
  printf("  %-11s mean %9.1f us, median %9.1f us, max %9.1f us per call "
         "(%u calls over %.1f s simulated)\n",
         what, f->mean, f->median, f->max, f->calls, f->span_s);
}

int main(int argc, char **argv) {
  uint32_t jobs = 20000, calls = 200;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      jobs = 2000;
      calls = 20;
    } else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
      jobs = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
      calls = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "usage: bench_expiry [--quick] [--jobs N] [--calls N]\n");
      return 2;
    }
  }
  fig a = run(64, jobs, calls);
  fig b = run(1000, jobs, calls);
  printf("handle_expiry, %u jobs (45 KB, %d holders), wall clock on a "
         "shared machine:\n",
         jobs, HOLDERS);
  show("64 peers:", &a);
  show("1000 peers:", &b);
  printf("  ratio 1000/64 of the medians: %.2f (of the means: %.2f)\n",
         a.median > 0 ? b.median / a.median : 0,
         a.mean > 0 ? b.mean / a.mean : 0);
  return a.calls && b.calls ? 0 : 1;
}
