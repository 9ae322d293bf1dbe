/*
 * fuzz_node.c - stateful fuzzer of whole nodes (issue 8, section 1).
 *
 * The input is a program: a header (2-4 harness nodes on file databases,
 * each with a small library, all linked), then steps: frames from
 * "virtual peers" (uuids a node has as peers but that only this program
 * speaks for) built with the core's encoders and then mutated (sizes
 * including 0 and UINT64_MAX, counts, checksums, chunk indices, variants,
 * offsets, req_ids taken from what the node actually sent), time, links
 * and peers up/down, add/remove local, fetch/request, restart, crash
 * (store_faulty), store faults at call N, a lying node, loss.
 *
 * After every step, on every node (abort() with a readable message):
 *  (a) safety: no has=1 row without a committed blob of its size that
 *      hashes to its checksum (vss_hc_safety; re-hash);
 *  (b) memory: per peer inside FZ_BUDGET, and the process heap (the
 *      fleet, SQLite included) at most FZ_HEAP_SLACK above its level at
 *      the start of the input plus the sidecar bytes held; no single
 *      allocation above FZ_ALLOC_MAX;
 *  (c) every job has an outstanding request, a timer, a generation or
 *      work for a usable source (vss_hc_jobs);
 *  (f) no fetch fails NO_SOURCE while the node caches an online holder;
 *  (e) no harness node refused an honest harness node's frame (they only
 *      exchange real frames: a refusal means one peer broke gossip or
 *      transfers for another).
 * At QUIESCE steps and at the end (faults off, time advanced, a gossip
 * round): (d) each node's cache of each connected harness node equals
 * that node's holdings (vss_hc_converged: key, size, checksum).
 *
 * Built as a libFuzzer target with -DVSS_FUZZ=ON (clang), and always as
 * fuzz_node_replay (gcc or clang, no libFuzzer): it runs files or
 * directories of programs, each in a child process, and reports which
 * invariant each one trips. CTest runs the checked-in corpus with it
 * (tests/fuzz/corpus_node/, made by tests/fuzz/mkcorpus.py; see
 * tests/README.md). --known-defects 5,8 skips the reproducers named
 * itemNN-* of those issue-8 items (their defect is not fixed yet).
 */
#define _GNU_SOURCE /* scandir, malloc_usable_size */
#include "check.h"
#include "harness.h"
#include "node_internal.h"
#include "wire.h"
#include "xfer_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the bounds (b) -------------------------------------------------- */

/* A single allocation larger than this was sized by a claim, not by
 * bytes: no sidecar in these programs that a node may hold in memory is
 * bigger than FZ_CONTENT_MAX, and nothing else is near. */
#define FZ_ALLOC_MAX (64u * 1024u * 1024u)
/* The fleet's heap may grow by this much over the input's start (SQLite
 * page caches of up to 4 databases, node tables, frames in flight), plus
 * the sidecar bytes the nodes hold (in the in-memory blob store). */
#define FZ_HEAP_SLACK (96ull * 1024u * 1024u)
/* Per peer: control-queue bytes (frames a peer made us queue and did not
 * read), unverified chunk bytes (two request windows of window_max
 * below), presence entries (the programs announce far fewer: a peer
 * that makes a node cache more is a flood), queued GETs (the core's
 * XFER_MAX_SERVES). */
#define FZ_WINDOW_MAX (4u * 1024u * 1024u)
static const vss_hc_budget FZ_BUDGET = {
    /* the node's stated bound (node.h), plus the reply that crossed it */
    .queue_bytes = VSS_DEFAULT_PEER_QUEUE_BYTES + VSS_WIRE_MAX_BODY,
    .unverified_bytes = 2u * FZ_WINDOW_MAX,
    .cache_entries = 200000,
    .serves = XFER_MAX_SERVES,
};

#define FZ_MAX_STEPS 256
#define FZ_MAX_TIME (1800 * VSS_NS_PER_S)
#define FZ_CONTENT_MAX (1024u * 1024u) /* virtual peers serve real bytes */
#define FZ_NVIRT 48
#define FZ_MAX_ANN 20000 /* entries virtual peers announced, remembered */
#define FZ_MAX_GETS 256

/* ---- heap accounting ------------------------------------------------- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif

static void die(const char *fmt, ...);

#ifdef FZ_ASAN
/* From sanitizer/allocator_interface.h, which gcc does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));
static size_t heap_now(void) {
  return __sanitizer_get_current_allocated_bytes();
}
static void big_alloc_hook(const volatile void *p, size_t size) {
  (void)p;
  if (size > FZ_ALLOC_MAX) {
    char m[160];
    int n = snprintf(m, sizeof(m),
                     "\nfuzz_node: INVARIANT (b) memory: one allocation of "
                     "%zu bytes > bound %u (a claimed size?)\n",
                     size, FZ_ALLOC_MAX);
    if (write(2, m, (size_t)n) < 0) abort();
    abort();
  }
}
static void free_hook(const volatile void *p) {
  (void)p;
}
static void heap_init(void) {
  static int done;
  if (!done)
    __sanitizer_install_malloc_and_free_hooks(big_alloc_hook, free_hook);
  done = 1;
}
#else
/* glibc: interpose the allocator (every library's calls come here) and
 * count live bytes by usable size. A request over FZ_ALLOC_MAX is a
 * violation before it is made (so a claimed 2 GiB table is not touched). */
#include <malloc.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static size_t g_live;
static void heap_init(void) {}
static size_t heap_now(void) {
  return g_live;
}
static void too_big(size_t size) {
  char m[160];
  int n = snprintf(m, sizeof(m),
                   "\nfuzz_node: INVARIANT (b) memory: one allocation of %zu "
                   "bytes > bound %u (a claimed size?)\n",
                   size, FZ_ALLOC_MAX);
  if (write(2, m, (size_t)n) < 0) abort();
  abort();
}
static void *counted(void *p) {
  if (p) g_live += malloc_usable_size(p);
  return p;
}
void *malloc(size_t n) {
  if (n > FZ_ALLOC_MAX) too_big(n);
  return counted(__libc_malloc(n));
}
void *calloc(size_t a, size_t b) {
  if (b && a > FZ_ALLOC_MAX / b) too_big(a * b);
  return counted(__libc_calloc(a, b));
}
void free(void *p) {
  if (!p) return;
  g_live -= malloc_usable_size(p);
  __libc_free(p);
}
void *realloc(void *p, size_t n) {
  if (n > FZ_ALLOC_MAX) too_big(n);
  size_t old = p ? malloc_usable_size(p) : 0;
  void *q = __libc_realloc(p, n);
  if (q || n == 0) g_live -= old;
  return q ? counted(q) : NULL;
}
void *memalign(size_t al, size_t n) {
  if (n > FZ_ALLOC_MAX) too_big(n);
  return counted(__libc_memalign(al, n));
}
void *aligned_alloc(size_t al, size_t n) {
  return memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
  void *p = memalign(al, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
#endif

/* ---- the program reader ---------------------------------------------- */

typedef struct rd {
  const uint8_t *p;
  size_t len, off;
} rd;

static uint8_t u8(rd *r) {
  return r->off < r->len ? r->p[r->off++] : 0;
}
/* Little-endian; each read sequenced (argument order is unspecified). */
static uint16_t u16(rd *r) {
  uint16_t lo = u8(r);
  return (uint16_t)(lo | (u8(r) << 8));
}
static uint32_t u32(rd *r) {
  uint32_t lo = u16(r);
  return lo | ((uint32_t)u16(r) << 16);
}
static uint64_t u64(rd *r) {
  uint64_t lo = u32(r);
  return lo | ((uint64_t)u32(r) << 32);
}

/* ---- state of one run ------------------------------------------------ */

typedef struct ann {
  vss_key key;
  vss_format fmt;
  uint64_t size;
} ann;

typedef struct get {
  int y, v;
  vss_msg_xfer_get g;
} get;

typedef struct fz {
  vss_h *h;
  vss_hc *hc;
  int nn;
  char dir[128];
  vss_uuid virt[FZ_NVIRT];
  uint8_t vup[4][FZ_NVIRT];
  ann *ann;
  size_t nann, anncap;
  get gets[FZ_MAX_GETS];
  size_t ngets;
  uint32_t qreq[4][FZ_NVIRT]; /* last QUERY req_id a node sent a virt */
  vss_buf last;               /* the last fabricated frame */
  int last_y, last_v;
  size_t evseen[4]; /* events of each node already checked */
  vss_time checked_at;
  size_t heap0;
  int step;
  const char *op;
} fz;

static fz *g_fz; /* for messages */

static void die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\nfuzz_node: INVARIANT ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (g_fz)
    fprintf(stderr, "\n  (step %d, op %s, t=%.3f s)", g_fz->step,
            g_fz->op ? g_fz->op : "-", vss_h_now(g_fz->h) / 1e9);
  fprintf(stderr, "\n");
  abort();
}

static const char *const VARIANTS[] = {"grid@2x", "w256", "1080p", "fr",
                                       "all-MiniLM-L6-v2"};

static vss_format kind_fmt(vss_kind k) {
  switch (k) {
  case VSS_KIND_THUMB:
    return VSS_FMT_WEBP;
  case VSS_KIND_THUMBSTRIP:
  case VSS_KIND_PROXY:
    return VSS_FMT_MP4;
  case VSS_KIND_OCR:
  case VSS_KIND_TRANSCRIPT:
    return VSS_FMT_TEXT;
  case VSS_KIND_GAUSSIAN_SPLAT:
    return VSS_FMT_PLY;
  default:
    return VSS_FMT_JSON;
  }
}

/* Key from two program bytes: an id and a kind/variant selector. */
static void read_key(rd *r, vss_key *k, vss_format *fmt) {
  uint8_t id = u8(r), kv = u8(r);
  vss_kind kind = (vss_kind)(kv % VSS_KIND_COUNT);
  vss_h_key(k, id, kind, VARIANTS[(kv / VSS_KIND_COUNT) % 5]);
  if (fmt) *fmt = kind_fmt(kind);
}

/* FUZZ_NODE_KNOWN=1,8,... (libFuzzer runs): keep programs away from the
 * issue-8 items listed, whose defects are not fixed yet, so that a long
 * run looks for new ones. Only inputs are narrowed, never a check:
 *   1  no size-0 or size-wrapping claims    3  at most 32 virtual peers
 *   4  bulk announcements of <= 1,000       5  no DATA-without-META
 *   6  variant floods of <= 8 frames        7  query floods of <= 8 frames
 *   8  claimed sizes <= FZ_CONTENT_MAX      14 no store faults */
static int g_known[64];

static int known(int item) {
  return g_known[item];
}

/* Sizes a peer may claim: the edges of chunking, of the wire and of
 * 64-bit arithmetic, or any value from the program. */
static uint64_t read_size(rd *r) {
  static const uint64_t T[] = {0,
                               1,
                               3000,
                               VSS_CHUNK_SIZE - 1,
                               VSS_CHUNK_SIZE,
                               VSS_CHUNK_SIZE + 1,
                               600000,
                               UINT64_MAX,
                               UINT64_MAX - VSS_CHUNK_SIZE + 2,
                               1ull << 45,
                               1ull << 33,
                               1ull << 30,
                               20000};
  uint8_t s = u8(r);
  uint64_t v = s < 13 ? T[s] : s < 128 ? u32(r) : u64(r);
  if (known(8) && v > FZ_CONTENT_MAX) v %= FZ_CONTENT_MAX;
  if (known(1) && (v == 0 || v > UINT64_MAX - VSS_CHUNK_SIZE)) v = 3000;
  return v;
}

static int content_ok(uint64_t size) {
  return size <= FZ_CONTENT_MAX;
}

/* Checksum choice: right for the content, zeros, of the empty string, of
 * other bytes, or 32 bytes from the program. */
static void read_sum(rd *r, const vss_key *k, uint64_t size, vss_hash *out) {
  uint8_t c = u8(r) % 5;
  memset(out, 0, sizeof(*out));
  if (c == 0 && content_ok(size)) {
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return;
    vss_h_content(k, size, b);
    vss_checksum_buffer(b, size, out);
    free(b);
  } else if (c == 2) {
    vss_checksum_buffer("", 0, out);
  } else if (c == 3) {
    vss_checksum_buffer("other", 5, out);
  } else if (c == 4) {
    for (int i = 0; i < VSS_HASH_LEN; i++)
      out->b[i] = u8(r);
  }
}

static void remember_ann(fz *f, const vss_key *k, vss_format fmt,
                         uint64_t size) {
  for (size_t i = 0; i < f->nann; i++)
    if (vss_key_cmp(&f->ann[i].key, k) == 0) {
      f->ann[i].fmt = fmt;
      f->ann[i].size = size;
      return;
    }
  if (f->nann == f->anncap && f->anncap < FZ_MAX_ANN) {
    size_t nc = f->anncap ? 4 * f->anncap : 64;
    ann *p = realloc(f->ann, nc * sizeof(*p));
    if (!p) return;
    f->ann = p;
    f->anncap = nc;
  }
  if (f->nann < f->anncap)
    f->ann[f->nann++] = (ann){.key = *k, .fmt = fmt, .size = size};
}

static const ann *find_ann(const fz *f, const vss_key *k) {
  for (size_t i = 0; i < f->nann; i++)
    if (vss_key_cmp(&f->ann[i].key, k) == 0) return &f->ann[i];
  return NULL;
}

/* ---- delivering frames ----------------------------------------------- */

static int node_of(fz *f, uint8_t b) {
  return b % f->nn;
}

static int virt_of(uint8_t b) {
  return b % (known(3) ? 32 : FZ_NVIRT);
}

static void virt_down(fz *f, int y, int v) {
  if (!f->vup[y][v]) return;
  f->vup[y][v] = 0;
  vss_node_peer_down(vss_h_node(f->h, y), &f->virt[v], vss_h_now(f->h));
}

static void virt_up(fz *f, int y, int v) {
  if (f->vup[y][v]) return;
  vss_link_info li = {.cls = VSS_LINK_ETHERNET,
                      .rate_hint = 50e6,
                      .rtt_hint = 2 * VSS_NS_PER_MS};
  if (vss_node_peer_up(vss_h_node(f->h, y), &f->virt[v], &li,
                       vss_h_now(f->h)) == 0)
    f->vup[y][v] = 1;
}

/* A frame from virtual peer v to node y; a refusal drops v as a driver
 * would. Keeps the frame for MUTATE. */
static void deliver(fz *f, int y, int v, const uint8_t *frame, size_t len) {
  if (frame != f->last.data) {
    f->last.len = 0;
    vss_buf_put(&f->last, frame, len);
    f->last_y = y;
    f->last_v = v;
  }
  if (!f->vup[y][v]) return;
  /* A driver honours push back: a paused peer's frames wait (here: are
   * not sent; the program goes on). */
  if (!vss_node_peer_readable(vss_h_node(f->h, y), &f->virt[v])) return;
  int rc = vss_node_recv(vss_h_node(f->h, y), &f->virt[v], frame, len,
                         vss_h_now(f->h));
  if (rc < 0 && getenv("FUZZ_NODE_TRACE"))
    fprintf(stderr, "  node %d refused a frame of virtual peer %d: %s\n", y, v,
            vss_strerror(rc));
  if (rc < 0) virt_down(f, y, v);
}

/* Read what node y queued for virtual peer v: keep GETs and QUERY ids. */
static void drain(fz *f, int y, int v) {
  vss_outmsg m;
  int guard = 100000;
  while (f->vup[y][v] && guard-- > 0 &&
         vss_node_next_send(vss_h_node(f->h, y), &f->virt[v], &m,
                            vss_h_now(f->h)) == 1) {
    vss_msg msg;
    if (vss_wire_decode(m.data, m.len, &msg) != 0)
      die("(wire) node %d sent a frame it cannot decode itself", y);
    if (msg.type == VSS_MSG_XFER_GET) {
      get *g = &f->gets[f->ngets++ % FZ_MAX_GETS];
      g->y = y;
      g->v = v;
      g->g = msg.u.get;
    } else if (msg.type == VSS_MSG_QUERY) {
      f->qreq[y][v] = msg.u.query.req_id;
    }
  }
}

static const get *pick_get(fz *f, int y, int v, uint8_t sel) {
  size_t n = f->ngets < FZ_MAX_GETS ? f->ngets : FZ_MAX_GETS;
  for (size_t k = 0; k < n; k++) {
    const get *g = &f->gets[(f->ngets - 1 - (sel + k) % n) % FZ_MAX_GETS];
    if (g->y == y && g->v == v) return g;
  }
  return NULL;
}

/* ---- fabricated frames ----------------------------------------------- */

static void send_digest(fz *f, rd *r, int y, int v) {
  uint8_t flags = u8(r) & 7, n = u8(r) % 64;
  vss_msg_digest hdr = {.device = f->virt[v], .flags = flags};
  hdr.epoch = 1 + (u8(r) % 3);
  hdr.from_seq = u8(r);
  hdr.to_seq = u8(r);
  if (hdr.to_seq < hdr.from_seq) hdr.to_seq = hdr.from_seq + n;
  vss_buf b = {0};
  size_t mark;
  vss_wire_digest_begin(&b, &hdr, &mark);
  for (uint8_t i = 0; i < n; i++) {
    vss_wire_entry e = {0};
    read_key(r, &e.key, &e.format);
    e.has = u8(r) & 1;
    if (e.has) {
      e.size = read_size(r);
      read_sum(r, &e.key, e.size, &e.checksum);
      remember_ann(f, &e.key, e.format, e.size);
    }
    vss_wire_digest_add(&b, &e);
  }
  vss_wire_digest_end(&b, mark, n);
  deliver(f, y, v, b.data, b.len);
  vss_buf_free(&b);
}

/* `count` entries of small real thumbnails (a peer holding thousands of
 * sidecars), or `count` distinct variants of one key when flood is set
 * (interned-string pressure). */
static void send_bulk(fz *f, int y, int v, uint32_t count, int flood,
                      uint32_t salt) {
  uint32_t done = 0;
  uint64_t seq = 0;
  while (done < count) {
    uint32_t n = count - done > 4096 ? 4096 : count - done;
    vss_msg_digest hdr = {
        .device = f->virt[v],
        .epoch = 1,
        .from_seq = seq,
        .to_seq = seq + n,
        .flags = (done == 0 ? VSS_DIGEST_FIRST | VSS_DIGEST_FULL : 0) |
                 (done + n == count ? VSS_DIGEST_LAST : 0)};
    vss_buf b = {0};
    size_t mark;
    vss_wire_digest_begin(&b, &hdr, &mark);
    for (uint32_t i = 0; i < n; i++) {
      vss_wire_entry e = {.has = 1, .format = VSS_FMT_WEBP, .size = 150};
      char var[24];
      if (flood) {
        snprintf(var, sizeof(var), "f%u-%u", salt, done + i);
        vss_h_key(&e.key, 7, VSS_KIND_PROXY, var); /* never prefetched */
        e.format = VSS_FMT_MP4;
      } else {
        vss_h_key(&e.key, 1000 + done + i, VSS_KIND_THUMB, "grid@2x");
      }
      uint8_t c[150];
      vss_h_content(&e.key, e.size, c);
      vss_checksum_buffer(c, e.size, &e.checksum);
      if (!flood) remember_ann(f, &e.key, e.format, e.size);
      vss_wire_digest_add(&b, &e);
    }
    vss_wire_digest_end(&b, mark, n);
    deliver(f, y, v, b.data, b.len);
    vss_buf_free(&b);
    done += n;
    seq += n;
  }
}

static void send_meta(fz *f, int y, int v, const vss_msg_xfer_get *g,
                      uint64_t size, int lie) {
  vss_buf b = {0};
  vss_hash sum = {0}, *ch = NULL;
  uint64_t nch = 0;
  if (content_ok(size)) {
    uint8_t *c = malloc(size ? size : 1);
    vss_hasher *hs = NULL;
    if (c && vss_hasher_new(&hs) == 0) {
      vss_h_content(&g->key, size, c);
      vss_hasher_update(hs, c, size);
      vss_hasher_final(hs, &sum, &ch, &nch);
      vss_hasher_del(hs);
    }
    free(c);
  }
  if (lie && ch && nch) ch[0].b[0] ^= 1;
  vss_wire_encode_xfer_meta(&b, g->req_id, size, &sum, ch, ch ? nch : 0);
  deliver(f, y, v, b.data, b.len);
  free(ch);
  vss_buf_free(&b);
}

/* DATA for [off, off+len) of the key's content (garbage past
 * FZ_CONTENT_MAX, or when lie), in 64 KiB frames. */
static void send_data(fz *f, int y, int v, const vss_msg_xfer_get *g,
                      uint64_t size, int lie) {
  uint64_t end = g->offset + g->length;
  uint8_t *c = NULL;
  if (content_ok(size) && end <= size) {
    c = malloc(size ? size : 1);
    if (c) vss_h_content(&g->key, size, c);
  }
  for (uint64_t off = g->offset; off < end && f->vup[y][v];) {
    uint32_t n = end - off > 65536 ? 65536 : (uint32_t)(end - off);
    static uint8_t junk[65536];
    const uint8_t *src = c ? c + off : junk;
    uint8_t tmp[65536];
    if (lie) {
      memcpy(tmp, src, n);
      tmp[0] ^= 0x55;
      src = tmp;
    }
    vss_buf b = {0};
    vss_wire_encode_xfer_data(&b, g->req_id, off, src, n);
    deliver(f, y, v, b.data, b.len);
    vss_buf_free(&b);
    off += n;
  }
  free(c);
}

/* Virtual peer v answers what y asked of it, `rounds` times: honestly
 * (META and DATA), lying (bad bytes), or DATA only, never META. */
enum { SERVE_HONEST = 0, SERVE_LIE, SERVE_NO_META };
static void serve(fz *f, int y, int v, int rounds, int mode) {
  for (int k = 0; k < rounds && f->vup[y][v]; k++) {
    size_t from = f->ngets;
    drain(f, y, v);
    if (f->ngets == from) break;
    if (f->ngets - from > FZ_MAX_GETS) from = f->ngets - FZ_MAX_GETS;
    for (size_t i = from; i < f->ngets; i++) {
      get g = f->gets[i % FZ_MAX_GETS];
      const ann *a = find_ann(f, &g.g.key);
      uint64_t size = a ? a->size : 0;
      if (g.g.flags & VSS_GET_META) {
        if (mode != SERVE_NO_META) send_meta(f, y, v, &g.g, size, 0);
      }
      if (g.g.length) send_data(f, y, v, &g.g, size, mode == SERVE_LIE);
    }
    vss_h_run_until(f->h, vss_h_now(f->h) + VSS_NS_PER_MS);
  }
}

/* ---- invariants ------------------------------------------------------ */

/* When peer last came up at this node (its last PEER_UP event). */
static vss_time up_since(const vss_event *ev, size_t n, const vss_uuid *peer) {
  for (size_t k = n; k-- > 0;)
    if (ev[k].type == VSS_EV_PEER_UP && vss_uuid_cmp(&ev[k].peer, peer) == 0)
      return ev[k].at;
  return 0;
}

/* (f) A fetch that fails for want of a source while the node's cache
 * has an online holder of the key in that format (one that was up
 * before the failure). Checked as the event is emitted. */
static void on_event(void *user, int i, const vss_event *ev) {
  fz *f = user;
  if (ev->type != VSS_EV_FETCH_FAILED || ev->rc != VSS_ERR_NO_SOURCE) return;
  vss_node *nd = vss_h_node(f->h, i);
  size_t n;
  const vss_event *all = vss_h_events(f->h, i, &n);
  static vss_holder hs[4096];
  size_t nh = vss_pcache_holders(nd->pcache, &ev->key, hs, 4096);
  size_t online = 0;
  for (size_t j = 0; j < nh && j < 4096; j++) {
    const vss_peer *p =
        hs[j].peer < VSS_MAX_PEERS ? nd->slot[hs[j].peer] : NULL;
    online += p && p->online && hs[j].format == ev->format &&
              up_since(all, n, &p->id) < ev->at;
  }
  if (online)
    die("(f) node %d: job %" PRIu64 " failed NO_SOURCE with %zu online "
        "holder(s) of %zu cached",
        i, ev->job, online, nh);
}

static void checked(fz *f) {
  f->checked_at = vss_h_now(f->h);
}

static void check_all(fz *f, int full) {
  char msg[512];
  uint64_t held_all = 0;
  for (int i = 0; i < f->nn; i++) {
    uint64_t held = 0;
    if (vss_hc_safety(f->hc, i, full, &held, msg, sizeof(msg)))
      die("(a) %s", msg);
    held_all += held < FZ_CONTENT_MAX * 64ull ? held : FZ_CONTENT_MAX * 64ull;
    if (vss_hc_budget_check(f->hc, i, &FZ_BUDGET, NULL, msg, sizeof(msg)))
      die("(b) %s", msg);
    if (vss_hc_jobs(f->hc, i, msg, sizeof(msg))) die("(c) %s", msg);
    vss_h_errors e;
    vss_h_errors_get(f->h, i, &e);
    if (e.recv)
      die("(e) node %d refused %" PRIu64 " frame(s) of an honest harness "
          "node (%s): a peer broke gossip/transfers between others",
          i, e.recv, vss_strerror(e.last_rc));
    if (e.expiry)
      die("(e) node %d: handle_expiry failed %" PRIu64 " time(s) (%s)", i,
          e.expiry, vss_strerror(e.last_rc));
  }
  size_t now = heap_now();
  if (now > f->heap0 && now - f->heap0 > FZ_HEAP_SLACK + held_all)
    die("(b) memory: heap grew by %zu bytes (bound %llu + %" PRIu64 " held)",
        now - f->heap0, (unsigned long long)FZ_HEAP_SLACK, held_all);
  checked(f);
}

/* Faults off, time on, a gossip round: caches must equal holdings. */
static void quiesce(fz *f) {
  for (int i = 0; i < f->nn; i++) {
    vss_h_set_lie(f->h, i, 0);
    vss_store_faulty_arm(vss_h_store(f->h, i), 0, 0);
    for (int j = i + 1; j < f->nn; j++)
      vss_h_link_set_loss(f->h, i, j, 0);
  }
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  char msg[512];
  for (int attempt = 0; attempt < 3; attempt++) {
    vss_h_run_until(f->h, vss_h_now(f->h) + 25 * VSS_NS_PER_S);
    for (int i = 0; i < f->nn; i++)
      vss_node_gossip_now(vss_h_node(f->h, i), vss_h_now(f->h));
    vss_h_run_until(f->h, vss_h_now(f->h) + 5 * VSS_NS_PER_S);
    int bad = 0;
    for (int a = 0; a < f->nn && !bad; a++)
      for (int b = 0; b < f->nn && !bad; b++)
        if (a != b && vss_h_connected(f->h, a, b) &&
            vss_hc_converged(f->hc, a, b, msg, sizeof(msg)))
          bad = 1;
    if (!bad) break;
    if (attempt == 2) die("(d) %s", msg);
  }
  check_all(f, 1);
}

/* ---- the program ----------------------------------------------------- */

static void make_fleet(fz *f, rd *r) {
  uint8_t h0 = u8(r), lib = u8(r);
  uint16_t seed = u16(r);
  f->nn = 2 + h0 % 3;
  f->h = vss_h_new(seed);
  f->hc = vss_hc_new(f->h);
  vss_h_set_event_hook(f->h, on_event, f);
  for (int k = 0; k < VSS_KIND_COUNT; k++)
    vss_h_set_gen_size(f->h, (vss_kind)k, k == VSS_KIND_PROXY ? 600000 : 20000);
  for (int i = 0; i < f->nn; i++) {
    /* In memory, surviving restarts and crashes (harness.h): a file
     * database cost more than the rest of a program under ASan. */
    char path[192];
    snprintf(path, sizeof(path), "file:/%s-n%d?vfs=memdb", f->dir, i);
    vss_node_config cfg;
    vss_node_config_default(&cfg);
    cfg.gossip_interval = 10 * VSS_NS_PER_S;
    cfg.cache_ttl = 30 * VSS_NS_PER_S;
    cfg.query_timeout = 2 * VSS_NS_PER_S;
    cfg.window_min = 512 * 1024;
    cfg.window_max = FZ_WINDOW_MAX;
    vss_h_node_opts o = {.db_path = path, .config = &cfg};
    char name[16];
    snprintf(name, sizeof(name), "n%d", i);
    if (vss_h_add_node(f->h, name, &o) < 0) die("setup: add node %d", i);
  }
  for (int a = 0; a < f->nn; a++)
    for (int b = a + 1; b < f->nn; b++) {
      vss_h_link_opts lo = {.delay = VSS_NS_PER_MS};
      vss_h_link(f->h, a, b, &lo);
    }
  /* Library: 1-4 sidecars per node, one key held by nodes 0 and 1. */
  static const vss_kind K[3] = {VSS_KIND_THUMB, VSS_KIND_OCR, VSS_KIND_PROXY};
  static const uint64_t S[3] = {3000, 20000, 300000};
  for (int i = 0; i < f->nn; i++) {
    int n = 1 + ((lib >> (2 * i)) & 3);
    for (int k = 0; k < n; k++) {
      vss_key key;
      vss_h_key(&key, (uint32_t)(100 + 8 * i + k), K[k % 3], VARIANTS[k % 3]);
      vss_h_generate(f->h, i, &key, kind_fmt(K[k % 3]), S[k % 3]);
    }
    if (i < 2) {
      vss_key key;
      vss_h_key(&key, 99, VSS_KIND_THUMB, "grid@2x");
      vss_h_generate(f->h, i, &key, VSS_FMT_WEBP, 3000);
    }
  }
  for (int v = 0; v < FZ_NVIRT; v++) {
    memset(&f->virt[v], 0, sizeof(vss_uuid));
    f->virt[v].b[0] = 0xfa;
    f->virt[v].b[1] = (uint8_t)v;
    f->virt[v].b[6] = 0x40;
    f->virt[v].b[8] = 0x80;
  }
  vss_h_run_until(f->h, 2 * VSS_NS_PER_S);
}

enum {
  OP_ADVANCE,
  OP_VIRT_UP,
  OP_VIRT_DOWN,
  OP_LINK,
  OP_ONLINE,
  OP_ADD,
  OP_REMOVE,
  OP_FETCH,
  OP_REQUEST,
  OP_RESTART,
  OP_CRASH,
  OP_CRASH_AFTER,
  OP_STORE_FAULT,
  OP_DIGEST,
  OP_HELLO,
  OP_QUERY,
  OP_QREPLY,
  OP_GET,
  OP_META,
  OP_DATA,
  OP_ERROR,
  OP_CANCEL,
  OP_DRAIN,
  OP_SERVE,
  OP_BULK,
  OP_FETCH_ALL,
  OP_VARIANT_FLOOD,
  OP_QUERY_FLOOD,
  OP_LIE,
  OP_LOSS,
  OP_QUIESCE,
  OP_MUTATE,
  OP_COUNT
};

static const char *const OPNAME[OP_COUNT] = {
    "advance",   "virt_up",       "virt_down",   "link",    "online",
    "add",       "remove",        "fetch",       "request", "restart",
    "crash",     "crash_after",   "store_fault", "digest",  "hello",
    "query",     "qreply",        "get",         "meta",    "data",
    "error",     "cancel",        "drain",       "serve",   "bulk",
    "fetch_all", "variant_flood", "query_flood", "lie",     "loss",
    "quiesce",   "mutate"};

static void op_advance(fz *f, rd *r) {
  uint8_t a = u8(r), e = u8(r) % 8;
  vss_time dt = (vss_time)(a + 1) * VSS_NS_PER_MS;
  for (uint8_t i = 0; i < e; i++)
    dt *= 4;
  if (dt > 600 * VSS_NS_PER_S) dt = 600 * VSS_NS_PER_S;
  /* A program lives at most FZ_MAX_TIME of simulated time. */
  if (vss_h_now(f->h) >= FZ_MAX_TIME) return;
  vss_h_run_until(f->h, vss_h_now(f->h) + dt);
}

static void op_hello(fz *f, rd *r, int y, int v) {
  vss_msg_hello m = {.device = f->virt[v], .proto = VSS_PROTO_VERSION};
  m.epoch = 1 + u8(r) % 3;
  m.max_seq = u8(r);
  m.seen_epoch = u8(r) % 3;
  m.seen_seq = u8(r);
  m.flags = u8(r);
  vss_buf b = {0};
  vss_wire_encode_hello(&b, &m);
  deliver(f, y, v, b.data, b.len);
  vss_buf_free(&b);
}

static void op_query(fz *f, rd *r, int y, int v) {
  uint8_t n = u8(r) % 32;
  vss_key keys[32];
  for (uint8_t i = 0; i < n; i++)
    read_key(r, &keys[i], NULL);
  vss_buf b = {0};
  vss_wire_encode_query(&b, u32(r), keys, n);
  deliver(f, y, v, b.data, b.len);
  vss_buf_free(&b);
}

static void op_qreply(fz *f, rd *r, int y, int v) {
  uint32_t id = u8(r) & 1 ? u32(r) : f->qreq[y][v];
  uint8_t n = u8(r) % 16;
  vss_wire_entry e[16];
  memset(e, 0, sizeof(e));
  for (uint8_t i = 0; i < n; i++) {
    read_key(r, &e[i].key, &e[i].format);
    e[i].has = u8(r) & 1;
    if (e[i].has) {
      e[i].size = read_size(r);
      read_sum(r, &e[i].key, e[i].size, &e[i].checksum);
      remember_ann(f, &e[i].key, e[i].format, e[i].size);
    }
  }
  vss_buf b = {0};
  vss_wire_encode_query_reply(&b, id, e, n);
  deliver(f, y, v, b.data, b.len);
  vss_buf_free(&b);
}

static void op_get(fz *f, rd *r, int y, int v) {
  vss_msg_xfer_get g = {.req_id = u32(r)};
  read_key(r, &g.key, &g.format);
  g.offset = read_size(r);
  g.length = u32(r) % (VSS_WIRE_MAX_DATA + 2);
  g.flags = u8(r) & 3;
  vss_buf b = {0};
  vss_wire_encode_xfer_get(&b, &g);
  deliver(f, y, v, b.data, b.len);
  vss_buf_free(&b);
}

/* META for a request y sent (or a made-up id), with the right hash list
 * or a mutated one: size, checksum, chunk count. */
static void op_meta(fz *f, rd *r, int y, int v) {
  const get *g = pick_get(f, y, v, u8(r));
  uint8_t how = u8(r) % 4;
  vss_msg_xfer_get gg = g ? g->g : (vss_msg_xfer_get){.req_id = u32(r)};
  const ann *a = find_ann(f, &gg.key);
  uint64_t size = a ? a->size : 0;
  if (how == 0 || !g) {
    send_meta(f, y, v, &gg, size, 0);
  } else if (how == 1) {
    send_meta(f, y, v, &gg, size, 1);
  } else {
    uint64_t s = read_size(r);
    uint64_t n = vss_chunk_count(s);
    if (n > 64) n = 64;
    vss_hash sum, ch[64];
    read_sum(r, &gg.key, s, &sum);
    memset(ch, how, sizeof(ch));
    vss_buf b = {0};
    vss_wire_encode_xfer_meta(&b, gg.req_id, s, &sum, ch, n);
    deliver(f, y, v, b.data, b.len);
    vss_buf_free(&b);
  }
}

static void op_data(fz *f, rd *r, int y, int v) {
  const get *g = pick_get(f, y, v, u8(r));
  uint8_t how = u8(r) % 4;
  if (g && how < 2) {
    const ann *a = find_ann(f, &g->g.key);
    send_data(f, y, v, &g->g, a ? a->size : 0, how == 1);
    return;
  }
  uint32_t id = g ? g->g.req_id : u32(r);
  uint64_t off = read_size(r);
  uint32_t len = u32(r) % 65537;
  uint8_t *d = calloc(1, len ? len : 1);
  if (!d) return;
  vss_buf b = {0};
  vss_wire_encode_xfer_data(&b, id, off, d, len);
  deliver(f, y, v, b.data, b.len);
  vss_buf_free(&b);
  free(d);
}

static void op_mutate(fz *f, rd *r) {
  uint8_t n = u8(r) % 8;
  if (!f->last.len) return;
  vss_buf b = {0};
  vss_buf_put(&b, f->last.data, f->last.len);
  for (uint8_t i = 0; i < n; i++) {
    uint16_t pos = u16(r);
    uint8_t x = u8(r);
    b.data[pos % b.len] ^= x ? x : 1;
  }
  deliver(f, f->last_y, f->last_v, b.data, b.len);
  vss_buf_free(&b);
}

static void op_fetch_all(fz *f, int y, uint8_t flags) {
  vss_node *n = vss_h_node(f->h, y);
  for (size_t i = 0; i < f->nann; i++) {
    uint64_t job;
    vss_node_fetch(n, &f->ann[i].key, f->ann[i].fmt, flags & 3, &job,
                   vss_h_now(f->h));
  }
}

static void run_step(fz *f, rd *r) {
  int op = u8(r) % OP_COUNT;
  f->op = OPNAME[op];
  vss_time now = vss_h_now(f->h);
  vss_key k;
  vss_format fmt;
  int y, v;
  switch (op) {
  case OP_ADVANCE:
    op_advance(f, r);
    break;
  case OP_VIRT_UP:
    y = node_of(f, u8(r));
    virt_up(f, y, virt_of(u8(r)));
    break;
  case OP_VIRT_DOWN:
    y = node_of(f, u8(r));
    virt_down(f, y, virt_of(u8(r)));
    break;
  case OP_LINK: {
    int a = node_of(f, u8(r)), b = node_of(f, u8(r));
    if (a != b) vss_h_link_set(f->h, a, b, u8(r) & 1);
    break;
  }
  case OP_ONLINE:
    y = node_of(f, u8(r));
    vss_h_node_set_online(f->h, y, u8(r) & 1);
    break;
  case OP_ADD: {
    y = node_of(f, u8(r));
    read_key(r, &k, &fmt);
    uint64_t size = read_size(r);
    if (content_ok(size)) vss_h_generate(f->h, y, &k, fmt, size);
    break;
  }
  case OP_REMOVE:
    y = node_of(f, u8(r));
    read_key(r, &k, NULL);
    vss_node_remove_local(vss_h_node(f->h, y), &k, now);
    break;
  case OP_FETCH: {
    y = node_of(f, u8(r));
    read_key(r, &k, &fmt);
    uint64_t job;
    vss_node_fetch(vss_h_node(f->h, y), &k, fmt, u8(r) & 3, &job, now);
    break;
  }
  case OP_REQUEST: {
    y = node_of(f, u8(r));
    read_key(r, &k, &fmt);
    vss_resolution res;
    vss_node_request(vss_h_node(f->h, y), &k, fmt,
                     (vss_resolve_mode)(u8(r) % 5), &res, now);
    break;
  }
  case OP_RESTART:
  case OP_CRASH:
    y = node_of(f, u8(r));
    memset(f->vup[y], 0, sizeof(f->vup[y])); /* the process is new */
    if (op == OP_RESTART)
      vss_h_restart(f->h, y);
    else
      vss_h_crash(f->h, y);
    break;
  case OP_CRASH_AFTER:
    y = node_of(f, u8(r));
    vss_h_crash_after(f->h, y, 1 + u8(r));
    break;
  case OP_STORE_FAULT: {
    y = node_of(f, u8(r));
    if (known(14)) break;
    vss_store *s = vss_h_store(f->h, y);
    vss_store_faulty_arm(s, vss_store_faulty_calls(s) + 1 + u8(r), 0);
    break;
  }
  case OP_DIGEST:
  case OP_HELLO:
  case OP_QUERY:
  case OP_QREPLY:
  case OP_GET:
  case OP_META:
  case OP_DATA:
  case OP_ERROR:
  case OP_CANCEL:
  case OP_DRAIN:
  case OP_SERVE:
  case OP_BULK:
  case OP_VARIANT_FLOOD:
  case OP_QUERY_FLOOD: {
    y = node_of(f, u8(r));
    v = virt_of(u8(r));
    if (op == OP_DIGEST) send_digest(f, r, y, v);
    if (op == OP_HELLO) op_hello(f, r, y, v);
    if (op == OP_QUERY) op_query(f, r, y, v);
    if (op == OP_QREPLY) op_qreply(f, r, y, v);
    if (op == OP_GET) op_get(f, r, y, v);
    if (op == OP_META) op_meta(f, r, y, v);
    if (op == OP_DATA) op_data(f, r, y, v);
    if (op == OP_ERROR || op == OP_CANCEL) {
      const get *g = pick_get(f, y, v, u8(r));
      uint32_t id = g ? g->g.req_id : u32(r);
      vss_buf b = {0};
      if (op == OP_ERROR)
        vss_wire_encode_xfer_error(&b, id, -(int32_t)(u8(r) % 40));
      else
        vss_wire_encode_xfer_cancel(&b, id);
      deliver(f, y, v, b.data, b.len);
      vss_buf_free(&b);
    }
    if (op == OP_DRAIN) drain(f, y, v);
    if (op == OP_SERVE) {
      uint8_t m = u8(r);
      int mode = m % 3;
      if (known(5) && mode == SERVE_NO_META) mode = SERVE_HONEST;
      serve(f, y, v, 1 + m / 3 % 64, mode);
    }
    if (op == OP_BULK)
      send_bulk(f, y, v, 1 + u16(r) % (known(4) ? 1000 : 20000), 0, 0);
    if (op == OP_VARIANT_FLOOD) {
      uint32_t frames = 1 + u8(r) % (known(6) ? 8 : 24);
      send_bulk(f, y, v, 4096u * frames, 1, u8(r));
    }
    if (op == OP_QUERY_FLOOD) {
      uint8_t n = u8(r);
      if (known(7)) n %= 8;
      static vss_key keys[4096];
      for (int i = 0; i < 4096; i++)
        vss_h_key(&keys[i], (uint32_t)(5000 + i), VSS_KIND_THUMB, "w256");
      vss_buf b = {0};
      vss_wire_encode_query(&b, 1, keys, 4096);
      for (int i = 0; i <= n && f->vup[y][v]; i++)
        deliver(f, y, v, b.data, b.len);
      vss_buf_free(&b);
    }
    break;
  }
  case OP_FETCH_ALL:
    y = node_of(f, u8(r));
    op_fetch_all(f, y, u8(r));
    break;
  case OP_LIE:
    y = node_of(f, u8(r));
    vss_h_set_lie(f->h, y, (u8(r) % 5) / 4.0);
    break;
  case OP_LOSS: {
    int a = node_of(f, u8(r)), b = node_of(f, u8(r));
    if (a != b) vss_h_link_set_loss(f->h, a, b, (u8(r) % 5) / 8.0);
    break;
  }
  case OP_QUIESCE:
    quiesce(f);
    break;
  case OP_MUTATE:
    op_mutate(f, r);
    break;
  }
  /* What is due now (frames to harness peers, timers), then the checks. */
  vss_h_run_until(f->h, vss_h_now(f->h));
}

/* FUZZ_NODE_TRACE=1: what each step did, on stderr. */
static void trace_step(fz *f) {
  fprintf(stderr, "step %d %-13s t=%.3f", f->step, f->op,
          vss_h_now(f->h) / 1e9);
  for (int i = 0; i < f->nn; i++) {
    vss_node *n = vss_h_node(f->h, i);
    uint64_t entries = 0;
    for (uint16_t k = 0; k < n->npeers; k++)
      entries += vss_pcache_count_peer(n->pcache, n->live[k]->idx);
    vss_h_errors e;
    vss_h_errors_get(f->h, i, &e);
    fprintf(stderr,
            " | n%d peers %u cached %" PRIu64 " jobs %" PRIu64
            " queued %" PRIu64 " err %" PRIu64 "/%" PRIu64,
            i, n->npeers, entries, n->xfer->njobs,
            vss_node_queued_bytes(n, NULL), e.recv, e.expiry);
  }
  fprintf(stderr, "\n");
}

static void trace_jobs(fz *f) {
  for (int i = 0; i < f->nn; i++) {
    size_t n;
    const vss_event *ev = vss_h_events(f->h, i, &n);
    for (size_t k = 0; k < n; k++)
      if (ev[k].type == VSS_EV_FETCH_STARTED ||
          ev[k].type == VSS_EV_FETCH_DONE || ev[k].type == VSS_EV_FETCH_FAILED)
        fprintf(stderr, "  n%d t=%.3f %s job %" PRIu64 " rc %s\n", i,
                ev[k].at / 1e9, vss_event_name(ev[k].type), ev[k].job,
                vss_strerror(ev[k].rc));
  }
}

static void run_program(const uint8_t *data, size_t size) {
  heap_init();
  static fz f;
  memset(&f, 0, sizeof(f));
  g_fz = &f;
  static unsigned programs;
  snprintf(f.dir, sizeof(f.dir), "vss-fuzz-node.%d.%u", (int)getpid(),
           programs++);
  f.heap0 = heap_now();
  rd r = {.p = data, .len = size};
  f.op = "setup";
  make_fleet(&f, &r);
  check_all(&f, 1);
  int trace = getenv("FUZZ_NODE_TRACE") != NULL;
  for (f.step = 1; r.off < r.len && f.step <= FZ_MAX_STEPS; f.step++) {
    run_step(&f, &r);
    if (trace) trace_step(&f);
    check_all(&f, 0);
  }
  f.op = "final quiesce";
  quiesce(&f);
  if (trace) trace_jobs(&f);
  vss_hc_del(f.hc);
  vss_h_del(f.h);
  vss_buf_free(&f.last);
  free(f.ann);
  g_fz = NULL;
}

#ifdef VSS_FUZZ_LIBFUZZER
/* Each program builds and frees a fleet (tens of MB): ASan's default
 * 256 MB quarantine of freed memory made recycling and unmapping it a
 * third of the CPU. 64 MB still holds several programs' worth. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "quarantine_size_mb=64:max_malloc_fill_size=0";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4 || size > 4096) return 0;
  /* The harness prints its seed: quiet in the fuzzing loop. */
  static int quiet;
  if (!quiet && !getenv("FUZZ_NODE_VERBOSE")) {
    quiet = 1;
    if (!freopen("/dev/null", "w", stdout)) return 0;
  }
  static int init;
  if (!init) {
    init = 1;
    const char *k = getenv("FUZZ_NODE_KNOWN");
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", k ? k : "");
    for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ","))
      if (atoi(t) > 0 && atoi(t) < 64) g_known[atoi(t)] = 1;
  }
  run_program(data, size);
  return 0;
}
#else

/* ---- replay: run programs in child processes, report ----------------- */

static int skip_item[64];

static int is_known(const char *name) {
  int item;
  const char *b = strrchr(name, '/');
  b = b ? b + 1 : name;
  if (sscanf(b, "item%d-", &item) == 1 && item > 0 && item < 64)
    return skip_item[item];
  return 0;
}

static int run_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "%s: cannot open\n", path);
    return 1;
  }
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof(buf), fp);
  fclose(fp);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout)) _exit(3);
    run_program(buf, n);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  printf("%-48s %s\n", path, ok ? "ok" : "VIOLATION (see stderr above)");
  return ok ? 0 : 1;
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  struct dirent **list;
  int n = scandir(path, &list, NULL, alphasort), bad = 0;
  for (int i = 0; i < n; i++) {
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", path, list[i]->d_name);
    if (list[i]->d_name[0] != '.') {
      if (is_known(p))
        printf("%-48s skipped (--known-defects)\n", p);
      else
        bad += run_file(p);
    }
    free(list[i]);
  }
  free(list);
  return bad;
}

int main(int argc, char **argv) {
  int bad = 0, files = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--known-defects") == 0 && i + 1 < argc) {
      char *s = argv[++i];
      for (char *t = strtok(s, ","); t; t = strtok(NULL, ","))
        if (atoi(t) > 0 && atoi(t) < 64) skip_item[atoi(t)] = 1;
      continue;
    }
    files++;
    bad += run_path(argv[i]);
  }
  if (!files) {
    fprintf(stderr, "usage: %s [--known-defects N,M] corpus-dir-or-file...\n",
            argv[0]);
    return 2;
  }
  printf("%d program(s) violated an invariant\n", bad);
  return bad ? 1 : 0;
}
#endif
