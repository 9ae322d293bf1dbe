/*
 * blobs_synth.c - see blobs_synth.h. Committed blobs live in an
 * open-addressing table keyed by (key, format).
 */
#include "blobs_synth.h"

#include "content.h"
#include "u64map.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
  vss_key key;
  vss_format fmt;
  uint64_t size;
  uint8_t *bytes; /* NULL: the deterministic content */
  int used;       /* 1 live, 2 deleted (tombstone) */
} entry;

typedef struct span {
  uint64_t a, b;
} span;

typedef struct tmp_blob {
  vss_key key;
  vss_format fmt;
  uint64_t size;
  uint8_t *bytes; /* allocated at the first write that differs */
  span *spans;    /* written ranges, merged and sorted */
  size_t nspans, capspans;
} tmp_blob;

struct synth_blobs {
  entry *tab;
  size_t cap, live, used; /* used counts tombstones too */
  uint64_t real_bytes;
};

static uint64_t entry_hash(const vss_key *k, vss_format fmt) {
  uint64_t h = hash64(k->content.b, 16, (uint64_t)k->kind * 31 + fmt);
  return hash64(k->variant, strlen(k->variant), h);
}

static int same(const entry *e, const vss_key *k, vss_format fmt) {
  return e->fmt == fmt && vss_key_cmp(&e->key, k) == 0;
}

static entry *find(const synth_blobs *s, const vss_key *k, vss_format fmt) {
  if (!s->cap) return NULL;
  size_t mask = s->cap - 1;
  for (size_t i = entry_hash(k, fmt) & mask;; i = (i + 1) & mask) {
    entry *e = &s->tab[i];
    if (!e->used) return NULL;
    if (e->used == 1 && same(e, k, fmt)) return e;
  }
}

static void grow(synth_blobs *s) {
  size_t ncap = s->cap ? s->cap * 2 : 64;
  entry *old = s->tab;
  size_t ocap = s->cap;
  s->tab = xcalloc(ncap, sizeof(entry));
  s->cap = ncap;
  s->used = s->live;
  for (size_t i = 0; i < ocap; i++) {
    if (old[i].used != 1) continue;
    size_t j = entry_hash(&old[i].key, old[i].fmt) & (ncap - 1);
    while (s->tab[j].used)
      j = (j + 1) & (ncap - 1);
    s->tab[j] = old[i];
  }
  free(old);
}

/* Slot for (k, fmt): the live entry, or a fresh one. */
static entry *slot(synth_blobs *s, const vss_key *k, vss_format fmt) {
  entry *e = find(s, k, fmt);
  if (e) return e;
  if ((s->used + 1) * 4 > s->cap * 3) grow(s);
  size_t mask = s->cap - 1;
  size_t i = entry_hash(k, fmt) & mask;
  while (s->tab[i].used == 1)
    i = (i + 1) & mask;
  e = &s->tab[i];
  if (!e->used) s->used++;
  memset(e, 0, sizeof(*e));
  e->used = 1;
  e->key = *k;
  e->fmt = fmt;
  s->live++;
  return e;
}

static void set_bytes(synth_blobs *s, entry *e, uint8_t *bytes, uint64_t size) {
  if (e->bytes) s->real_bytes -= e->size;
  free(e->bytes);
  e->bytes = bytes;
  e->size = size;
  if (bytes) s->real_bytes += size;
}

int synth_blobs_add(synth_blobs *s, const vss_key *key, vss_format fmt,
                    uint64_t size) {
  entry *e = slot(s, key, fmt);
  set_bytes(s, e, NULL, size);
  return 0;
}

int synth_blobs_pure(const synth_blobs *s, const vss_key *key, vss_format fmt) {
  const entry *e = find(s, key, fmt);
  if (!e) return VSS_ERR_NOT_FOUND;
  return e->bytes == NULL;
}

uint64_t synth_blobs_count(const synth_blobs *s) {
  return s->live;
}

uint64_t synth_blobs_real_bytes(const synth_blobs *s) {
  return s->real_bytes;
}

/* ---- temporary blobs --------------------------------------------------- */

static void add_span(tmp_blob *t, uint64_t a, uint64_t b) {
  if (t->nspans == t->capspans) {
    t->capspans = t->capspans ? t->capspans * 2 : 4;
    t->spans = xrealloc(t->spans, t->capspans * sizeof(span));
  }
  size_t i = 0;
  while (i < t->nspans && t->spans[i].a < a)
    i++;
  memmove(&t->spans[i + 1], &t->spans[i], (t->nspans - i) * sizeof(span));
  t->spans[i] = (span){a, b};
  t->nspans++;
  size_t w = 0; /* merge overlapping or touching spans */
  for (size_t r = 1; r < t->nspans; r++) {
    if (t->spans[r].a <= t->spans[w].b) {
      if (t->spans[r].b > t->spans[w].b) t->spans[w].b = t->spans[r].b;
    } else {
      t->spans[++w] = t->spans[r];
    }
  }
  t->nspans = w + 1;
}

static int m_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                       uint64_t size, void **tmp) {
  (void)ctx;
  tmp_blob *t = xcalloc(1, sizeof(*t));
  t->key = *key;
  t->fmt = fmt;
  t->size = size;
  *tmp = t;
  return 0;
}

/* The blob's bytes as a real buffer: content where written, zeros in
 * holes (what a file with unwritten ranges would hold). */
static void materialise(tmp_blob *t) {
  t->bytes = xcalloc(1, (size_t)(t->size ? t->size : 1));
  for (size_t i = 0; i < t->nspans; i++)
    content_fill(&t->key, t->size, t->spans[i].a, t->bytes + t->spans[i].a,
                 (size_t)(t->spans[i].b - t->spans[i].a));
}

static int m_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                   size_t len) {
  (void)ctx;
  tmp_blob *t = tmp;
  if (off > t->size || len > t->size - off) return VSS_ERR_INVALID;
  if (!t->bytes && !content_equal(&t->key, t->size, off, buf, len))
    materialise(t);
  if (t->bytes) memcpy(t->bytes + off, buf, len);
  if (len) add_span(t, off, off + len);
  return 0;
}

static void free_tmp(tmp_blob *t) {
  free(t->bytes);
  free(t->spans);
  free(t);
}

static int m_commit(void *ctx, void *tmp) {
  synth_blobs *s = ctx;
  tmp_blob *t = tmp;
  int whole = t->size == 0 || (t->nspans == 1 && t->spans[0].a == 0 &&
                               t->spans[0].b == t->size);
  if (!whole && !t->bytes) materialise(t);
  if (t->bytes &&
      content_equal(&t->key, t->size, 0, t->bytes, (size_t)t->size)) {
    free(t->bytes);
    t->bytes = NULL;
  }
  entry *e = slot(s, &t->key, t->fmt);
  set_bytes(s, e, t->bytes, t->size);
  t->bytes = NULL;
  free_tmp(t);
  return 0;
}

static void m_discard(void *ctx, void *tmp) {
  (void)ctx;
  if (tmp) free_tmp(tmp);
}

static int m_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                  void *buf, size_t len) {
  const entry *e = find(ctx, key, fmt);
  if (!e) return VSS_ERR_NOT_FOUND;
  if (off > e->size || len > e->size - off) return VSS_ERR_INVALID;
  if (e->bytes)
    memcpy(buf, e->bytes + off, len);
  else
    content_fill(key, e->size, off, buf, len);
  return 0;
}

static int m_stat(void *ctx, const vss_key *key, vss_format fmt,
                  uint64_t *size) {
  const entry *e = find(ctx, key, fmt);
  if (!e) return VSS_ERR_NOT_FOUND;
  *size = e->size;
  return 0;
}

static int m_remove(void *ctx, const vss_key *key, vss_format fmt) {
  synth_blobs *s = ctx;
  entry *e = find(s, key, fmt);
  if (!e) return VSS_ERR_NOT_FOUND;
  set_bytes(s, e, NULL, 0);
  e->used = 2;
  s->live--;
  return 0;
}

static void m_close(void *ctx) {
  synth_blobs *s = ctx;
  for (size_t i = 0; i < s->cap; i++)
    if (s->tab[i].used == 1) free(s->tab[i].bytes);
  free(s->tab);
  free(s);
}

/* ---- size-only payloads (payload = size-only) ------------------------
 *
 * The content is a function of (key, size), so the hash of a range of it
 * is the same on every device: it is computed once for the whole run and
 * kept (a 32-byte hash per distinct chunk or range asked for). */

static u64map g_hashes; /* hash64(key, size, off, len) -> vss_hash */
static uint8_t *g_buf;

static int m_content_hash(void *ctx, const vss_key *key, vss_format fmt,
                          uint64_t size, int committed, uint64_t off,
                          size_t len, vss_hash *out) {
  if (committed) {
    const entry *e = find(ctx, key, fmt);
    if (!e || e->bytes) return VSS_ERR_NOT_FOUND;
    size = e->size;
  }
  if (off > size || len > size - off || len > VSS_CHUNK_SIZE)
    return VSS_ERR_INVALID;
  if (!out) return 0;
  uint64_t pos[3] = {size, off, (uint64_t)len};
  uint64_t k = hash64(pos, sizeof(pos), hash64(key, sizeof(*key), 0x68617368));
  if (k == UINT64_MAX) k--;
  const vss_hash *h = u64map_get(&g_hashes, k);
  if (!h) {
    if (!g_buf) g_buf = xcalloc(1, VSS_CHUNK_SIZE);
    content_fill(key, size, off, g_buf, len);
    vss_hash *nh = xcalloc(1, sizeof(*nh));
    vss_hash_bytes(g_buf, len, nh);
    u64map_put(&g_hashes, k, nh);
    h = nh;
  }
  *out = *h;
  return 0;
}

static int m_write_content(void *ctx, void *tmp, uint64_t off, size_t len) {
  (void)ctx;
  tmp_blob *t = tmp;
  if (off > t->size || len > t->size - off) return VSS_ERR_INVALID;
  if (t->bytes) content_fill(&t->key, t->size, off, t->bytes + off, len);
  if (len) add_span(t, off, off + len);
  return 0;
}

void synth_blobs_free_cache(void) {
  u64map_free(&g_hashes, 1);
  free(g_buf);
  g_buf = NULL;
}

static const vss_blob_methods methods = {
    .open_temp = m_open_temp,
    .write = m_write,
    .commit = m_commit,
    .discard = m_discard,
    .read = m_read,
    .stat = m_stat,
    .remove = m_remove,
    .close = m_close,
    .content_hash = m_content_hash,
    .write_content = m_write_content,
};

int synth_blobs_new(vss_blobs **out, synth_blobs **ctx) {
  synth_blobs *s = xcalloc(1, sizeof(*s));
  int rc = vss_blobs_new(out, &methods, s);
  if (rc) {
    free(s);
    return rc;
  }
  *ctx = s;
  return 0;
}
