/*
 * blobs.c - the blob store seam: a method table, its dispatchers and the
 * two whole-blob helpers the core and tests use.
 */
#include <stdlib.h>

#include "vss/store.h"

struct vss_blobs {
  const vss_blob_methods *m;
  void *ctx;
  /* vss_blobs_hash's read buffer (VSS_CHUNK_SIZE), made at the first
   * hash and kept: a buffer of this size is past the allocators' mmap
   * thresholds (glibc's 128 KiB, ASan's), so a fresh one per call was
   * mapped and unmapped each time, which cost more than the hashing in
   * the fuzzer's fleets. A vss_blobs is used by one thread at a time. */
  uint8_t *hbuf;
};

int vss_blobs_new(vss_blobs **out, const vss_blob_methods *m, void *ctx) {
  vss_blobs *b;

  if (!out || !m || !m->open_temp || !m->write || !m->commit || !m->discard ||
      !m->read || !m->stat || !m->remove)
    return VSS_ERR_INVALID;
  b = calloc(1, sizeof(*b));
  if (!b) return VSS_ERR_NOMEM;
  b->m = m;
  b->ctx = ctx;
  *out = b;
  return 0;
}

void *vss_blobs_ctx(const vss_blobs *b, const vss_blob_methods *m) {
  return b && b->m == m ? b->ctx : NULL;
}

void vss_blobs_del(vss_blobs *b) {
  if (!b) return;
  if (b->m->close) b->m->close(b->ctx);
  free(b->hbuf);
  free(b);
}

int vss_blobs_open_temp(vss_blobs *b, const vss_key *key, vss_format fmt,
                        uint64_t size, void **tmp) {
  return b->m->open_temp(b->ctx, key, fmt, size, tmp);
}

int vss_blobs_write(vss_blobs *b, void *tmp, uint64_t off, const void *buf,
                    size_t len) {
  return b->m->write(b->ctx, tmp, off, buf, len);
}

int vss_blobs_commit(vss_blobs *b, void *tmp) {
  return b->m->commit(b->ctx, tmp);
}

void vss_blobs_discard(vss_blobs *b, void *tmp) {
  b->m->discard(b->ctx, tmp);
}

int vss_blobs_read(vss_blobs *b, const vss_key *key, vss_format fmt,
                   uint64_t off, void *buf, size_t len) {
  return b->m->read(b->ctx, key, fmt, off, buf, len);
}

int vss_blobs_stat(vss_blobs *b, const vss_key *key, vss_format fmt,
                   uint64_t *size) {
  return b->m->stat(b->ctx, key, fmt, size);
}

int vss_blobs_remove(vss_blobs *b, const vss_key *key, vss_format fmt) {
  return b->m->remove(b->ctx, key, fmt);
}

int vss_blobs_keep_temp(vss_blobs *b, void *tmp, char *name) {
  if (!b->m->keep_temp || !b->m->reopen_temp) return VSS_ERR_INVALID;
  name[0] = '\0';
  return b->m->keep_temp(b->ctx, tmp, name);
}

int vss_blobs_reopen_temp(vss_blobs *b, const char *name, const vss_key *key,
                          vss_format fmt, uint64_t size, void **tmp) {
  if (!b->m->reopen_temp || !name[0]) return VSS_ERR_NOT_FOUND;
  return b->m->reopen_temp(b->ctx, name, key, fmt, size, tmp);
}

int vss_blobs_content_hash(vss_blobs *b, const vss_key *key, vss_format fmt,
                           uint64_t size, int committed, uint64_t off,
                           size_t len, vss_hash *out) {
  if (!b->m->content_hash) return VSS_ERR_INVALID;
  return b->m->content_hash(b->ctx, key, fmt, size, committed, off, len, out);
}

int vss_blobs_write_content(vss_blobs *b, void *tmp, uint64_t off, size_t len) {
  if (!b->m->write_content) return VSS_ERR_INVALID;
  return b->m->write_content(b->ctx, tmp, off, len);
}

/* ---- whole-blob helpers ---------------------------------------------- */

/* A committed blob of the store's synthetic content: its chunk hashes
 * come from the store, no byte is read. 1 when it was not that (read
 * it), else 0 or an error. */
static int hash_content(vss_blobs *b, const vss_key *key, vss_format fmt,
                        uint64_t size, vss_hash *checksum, vss_hash **chunks,
                        uint64_t *nchunks) {
  uint64_t n = vss_chunk_count(size);
  if (!b->m->content_hash || n == 0) return 1;
  vss_hash *hs = malloc((size_t)n * sizeof(*hs));
  if (!hs) return VSS_ERR_NOMEM;
  for (uint64_t c = 0; c < n; c++) {
    uint64_t off = c * VSS_CHUNK_SIZE;
    size_t len =
        size - off < VSS_CHUNK_SIZE ? (size_t)(size - off) : VSS_CHUNK_SIZE;
    if (b->m->content_hash(b->ctx, key, fmt, size, 1, off, len, &hs[c])) {
      free(hs);
      return 1;
    }
  }
  vss_checksum_of_chunks(hs, n, checksum);
  if (nchunks) *nchunks = n;
  if (chunks)
    *chunks = hs;
  else
    free(hs);
  return 0;
}

/* Writes in VSS_CHUNK_SIZE pieces: `size` is 64-bit, a write's length is
 * size_t, and a disk store need not take one huge write. */
static int write_all(vss_blobs *b, void *tmp, const void *data, uint64_t size) {
  const uint8_t *p = data;
  uint64_t off = 0;
  size_t n;
  int rc;

  while (off < size) {
    n = size - off < VSS_CHUNK_SIZE ? (size_t)(size - off) : VSS_CHUNK_SIZE;
    rc = vss_blobs_write(b, tmp, off, p + off, n);
    if (rc < 0) return rc;
    off += n;
  }
  return 0;
}

int vss_blobs_put(vss_blobs *b, const vss_key *key, vss_format fmt,
                  const void *data, uint64_t size) {
  void *tmp = NULL;
  int rc;

  if (!b || !key || (!data && size > 0)) return VSS_ERR_INVALID;
  rc = vss_blobs_open_temp(b, key, fmt, size, &tmp);
  if (rc < 0) return rc;
  rc = write_all(b, tmp, data, size);
  if (rc < 0) {
    vss_blobs_discard(b, tmp);
    return rc;
  }
  return vss_blobs_commit(b, tmp); /* consumes tmp, success or not */
}

static int hash_blob(vss_blobs *b, const vss_key *key, vss_format fmt,
                     uint64_t size, vss_hasher *h, uint8_t *buf) {
  uint64_t off = 0;
  size_t n;
  int rc;

  while (off < size) {
    n = size - off < VSS_CHUNK_SIZE ? (size_t)(size - off) : VSS_CHUNK_SIZE;
    rc = vss_blobs_read(b, key, fmt, off, buf, n);
    if (rc < 0) return rc;
    rc = vss_hasher_update(h, buf, n);
    if (rc < 0) return rc;
    off += n;
  }
  return 0;
}

/* The caller's size must be the blob's: hashing a prefix (or failing at
 * the end) would give a checksum for bytes nobody holds. */
int vss_blobs_hash(vss_blobs *b, const vss_key *key, vss_format fmt,
                   uint64_t size, vss_hash *checksum, vss_hash **chunks,
                   uint64_t *nchunks) {
  vss_hasher *h = NULL;
  uint8_t *buf;
  uint64_t have;
  int rc;

  if (!b || !key || !checksum) return VSS_ERR_INVALID;
  rc = vss_blobs_stat(b, key, fmt, &have);
  if (rc < 0) return rc;
  if (have != size) return VSS_ERR_INVALID;
  if ((rc = hash_content(b, key, fmt, size, checksum, chunks, nchunks)) <= 0)
    return rc;
  if (!b->hbuf && !(b->hbuf = malloc(VSS_CHUNK_SIZE))) return VSS_ERR_NOMEM;
  buf = b->hbuf;
  rc = vss_hasher_new(&h);
  if (rc == 0) rc = hash_blob(b, key, fmt, size, h, buf);
  if (rc == 0) rc = vss_hasher_final(h, checksum, chunks, nchunks);
  vss_hasher_del(h);
  return rc;
}

int vss_blobs_checksum(vss_blobs *b, const vss_key *key, vss_format fmt,
                       uint64_t size, vss_hash *out) {
  return vss_blobs_hash(b, key, fmt, size, out, NULL, NULL);
}
