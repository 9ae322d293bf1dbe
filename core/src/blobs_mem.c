/*
 * blobs_mem.c - an in-memory blob store for tests and small simulations.
 *
 * Committed blobs sit in a chained hash table keyed by (key, format),
 * grown at load factor 1, so lookups stay O(1) with thousands of blobs.
 * A temporary blob is a zeroed buffer of its declared size; commit moves
 * the buffer into the table (replacing an older blob of the same key and
 * format), so a commit costs no copy. Temporaries still open at close
 * are freed, as a crash would lose temp files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vss/store.h"

#define MIN_BUCKETS 64

typedef struct mem_blob {
  struct mem_blob *next;
  uint64_t hash;
  vss_key key;
  vss_format fmt;
  uint8_t *data;
  uint64_t size;
} mem_blob;

typedef struct mem_tmp {
  struct mem_tmp *prev, *next; /* open temporaries, freed at close */
  uint64_t kept;               /* kept under "mem-<kept>": not open */
  vss_key key;
  vss_format fmt;
  uint8_t *data;
  uint64_t size;
} mem_tmp;

typedef struct mem_store {
  mem_blob **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
  mem_tmp *tmps;
  mem_tmp *kept; /* keep_temp'd temporaries (same links), until reopened */
  uint64_t next_kept;
} mem_store;

/* ---- keys ------------------------------------------------------------ */

/* A normalised copy of the caller's key (bytes after the variant's NUL
 * zeroed, so struct compare and hashing see only what matters), or
 * VSS_ERR_INVALID. */
static int norm_key(const vss_key *in, vss_format fmt, vss_key *out) {
  if (!in || (unsigned)fmt >= VSS_FMT_COUNT) return VSS_ERR_INVALID;
  if (!memchr(in->variant, 0, sizeof(in->variant))) return VSS_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  return vss_key_set(out, &in->content, in->kind, in->variant) < 0
             ? VSS_ERR_INVALID
             : 0;
}

/* FNV-1a: the keys are ours, not an attacker's, so no keyed hash. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t key_hash(const vss_key *k, vss_format fmt) {
  uint64_t h = 0xcbf29ce484222325ULL;
  uint8_t kf[2] = {(uint8_t)k->kind, (uint8_t)fmt};

  h = fnv(h, k->content.b, sizeof(k->content.b));
  h = fnv(h, kf, sizeof(kf));
  return fnv(h, k->variant, strlen(k->variant));
}

static mem_blob **find_slot(mem_store *m, const vss_key *k, vss_format fmt,
                            uint64_t h) {
  mem_blob **pp = &m->buckets[h & (m->nbuckets - 1)];

  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->hash == h && (*pp)->fmt == fmt &&
        vss_key_cmp(&(*pp)->key, k) == 0)
      return pp;
  return pp; /* the empty tail: where a new blob goes */
}

/* Finds a committed blob; the key is validated first. */
static int lookup(mem_store *m, const vss_key *key, vss_format fmt,
                  mem_blob **out) {
  vss_key k;
  int rc = norm_key(key, fmt, &k);

  if (rc < 0) return rc;
  *out = *find_slot(m, &k, fmt, key_hash(&k, fmt));
  return *out ? 0 : VSS_ERR_NOT_FOUND;
}

static int grow(mem_store *m) {
  size_t n = m->nbuckets * 2, i;
  mem_blob **nb = calloc(n, sizeof(*nb)), *b, *next;

  if (!nb) return VSS_ERR_NOMEM;
  for (i = 0; i < m->nbuckets; i++)
    for (b = m->buckets[i]; b; b = next) {
      next = b->next;
      b->next = nb[b->hash & (n - 1)];
      nb[b->hash & (n - 1)] = b;
    }
  free(m->buckets);
  m->buckets = nb;
  m->nbuckets = n;
  return 0;
}

/* ---- temporaries ----------------------------------------------------- */

static void tmp_unlink(mem_store *m, mem_tmp *t) {
  mem_tmp **head = t->kept ? &m->kept : &m->tmps;
  if (t->prev)
    t->prev->next = t->next;
  else
    *head = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

static void tmp_push(mem_tmp **head, mem_tmp *t) {
  t->prev = NULL;
  t->next = *head;
  if (*head) (*head)->prev = t;
  *head = t;
}

static void tmp_free(mem_store *m, mem_tmp *t) {
  tmp_unlink(m, t);
  free(t->data);
  free(t);
}

static int mem_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                         uint64_t size, void **tmp) {
  mem_store *m = ctx;
  mem_tmp *t;
  int rc;

  if (!tmp) return VSS_ERR_INVALID;
  if (size > SIZE_MAX) return VSS_ERR_TOO_BIG;
  t = calloc(1, sizeof(*t));
  if (!t) return VSS_ERR_NOMEM;
  rc = norm_key(key, fmt, &t->key);
  /* Zeroed, so bytes never written read back as zeros, not garbage. */
  if (rc == 0 && size > 0 && !(t->data = calloc(1, (size_t)size)))
    rc = VSS_ERR_NOMEM;
  if (rc < 0) {
    free(t);
    return rc;
  }
  t->fmt = fmt;
  t->size = size;
  tmp_push(&m->tmps, t);
  *tmp = t;
  return 0;
}

/* off + len must stay within the declared size: a peer's DATA frame
 * must not grow a blob past what the digest announced. */
static int in_bounds(uint64_t size, uint64_t off, size_t len) {
  return off <= size && (uint64_t)len <= size - off;
}

static int mem_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                     size_t len) {
  mem_tmp *t = tmp;

  (void)ctx;
  if (!t || (!buf && len > 0) || !in_bounds(t->size, off, len))
    return VSS_ERR_INVALID;
  if (len > 0) memcpy(t->data + off, buf, len);
  return 0;
}

/* Moves t's buffer under its key; t is consumed either way. */
static int mem_commit(void *ctx, void *tmp) {
  mem_store *m = ctx;
  mem_tmp *t = tmp;
  uint64_t h;
  mem_blob **pp, *b;

  if (!t) return VSS_ERR_INVALID;
  h = key_hash(&t->key, t->fmt);
  pp = find_slot(m, &t->key, t->fmt, h);
  if (*pp) { /* replace: a newer copy of the same sidecar */
    b = *pp;
    free(b->data);
  } else {
    if (!(b = calloc(1, sizeof(*b)))) {
      tmp_free(m, t);
      return VSS_ERR_NOMEM;
    }
    b->hash = h;
    b->key = t->key;
    b->fmt = t->fmt;
    *pp = b;
    m->count++;
  }
  b->data = t->data;
  b->size = t->size;
  t->data = NULL;
  tmp_free(m, t);
  /* Growing is best effort: a full table is slower, not wrong. */
  if (m->count > m->nbuckets) (void)grow(m);
  return 0;
}

static void mem_discard(void *ctx, void *tmp) {
  if (tmp) tmp_free(ctx, tmp);
}

/* Kept temporaries live as long as the store (the harness restarts a
 * node over the same store): the in-memory analogue of a file left in
 * tmp/ under its name. */
static int mem_keep_temp(void *ctx, void *tmp, char *name) {
  mem_store *m = ctx;
  mem_tmp *t = tmp;

  if (!t || t->kept) return VSS_ERR_INVALID;
  tmp_unlink(m, t);
  t->kept = ++m->next_kept;
  tmp_push(&m->kept, t);
  snprintf(name, VSS_TEMP_NAME_MAX + 1, "mem-%llu",
           (unsigned long long)t->kept);
  return 0;
}

static int mem_reopen_temp(void *ctx, const char *name, const vss_key *key,
                           vss_format fmt, uint64_t size, void **tmp) {
  mem_store *m = ctx;
  unsigned long long id;
  char end;
  vss_key k;
  mem_tmp *t;

  if (sscanf(name, "mem-%llu%c", &id, &end) != 1 || norm_key(key, fmt, &k))
    return VSS_ERR_NOT_FOUND;
  for (t = m->kept; t; t = t->next)
    if (t->kept == id) break;
  if (!t || t->size != size || t->fmt != fmt || vss_key_cmp(&t->key, &k))
    return VSS_ERR_NOT_FOUND;
  tmp_unlink(m, t);
  t->kept = 0;
  tmp_push(&m->tmps, t);
  *tmp = t;
  return 0;
}

/* ---- committed blobs ------------------------------------------------- */

static int mem_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                    void *buf, size_t len) {
  mem_blob *b;
  int rc = lookup(ctx, key, fmt, &b);

  if (rc < 0) return rc;
  if ((!buf && len > 0) || !in_bounds(b->size, off, len))
    return VSS_ERR_INVALID;
  if (len > 0) memcpy(buf, b->data + off, len);
  return 0;
}

static int mem_stat(void *ctx, const vss_key *key, vss_format fmt,
                    uint64_t *size) {
  mem_blob *b;
  int rc = lookup(ctx, key, fmt, &b);

  if (rc < 0) return rc;
  if (size) *size = b->size;
  return 0;
}

static int mem_remove(void *ctx, const vss_key *key, vss_format fmt) {
  mem_store *m = ctx;
  mem_blob **pp, *b;
  vss_key k;
  int rc = norm_key(key, fmt, &k);

  if (rc < 0) return rc;
  pp = find_slot(m, &k, fmt, key_hash(&k, fmt));
  if (!(b = *pp)) return VSS_ERR_NOT_FOUND;
  *pp = b->next;
  m->count--;
  free(b->data);
  free(b);
  return 0;
}

static void mem_close(void *ctx) {
  mem_store *m = ctx;
  mem_blob *b, *next;
  size_t i;

  while (m->tmps)
    tmp_free(m, m->tmps);
  while (m->kept)
    tmp_free(m, m->kept);
  for (i = 0; i < m->nbuckets; i++)
    for (b = m->buckets[i]; b; b = next) {
      next = b->next;
      free(b->data);
      free(b);
    }
  free(m->buckets);
  free(m);
}

static const vss_blob_methods mem_methods = {
    .open_temp = mem_open_temp,
    .write = mem_write,
    .commit = mem_commit,
    .discard = mem_discard,
    .read = mem_read,
    .stat = mem_stat,
    .remove = mem_remove,
    .close = mem_close,
    .keep_temp = mem_keep_temp,
    .reopen_temp = mem_reopen_temp,
};

int vss_blobs_mem_new(vss_blobs **out) {
  mem_store *m;
  int rc;

  if (!out) return VSS_ERR_INVALID;
  m = calloc(1, sizeof(*m));
  if (!m) return VSS_ERR_NOMEM;
  m->nbuckets = MIN_BUCKETS;
  m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
  if (!m->buckets) {
    free(m);
    return VSS_ERR_NOMEM;
  }
  rc = vss_blobs_new(out, &mem_methods, m);
  if (rc < 0) mem_close(m);
  return rc;
}
