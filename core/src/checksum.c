/*
 * checksum.c - BLAKE2b-256 (libsodium crypto_generichash) and the
 * two-level sidecar checksum: the hash of the concatenated hashes of
 * VSS_CHUNK_SIZE chunks. A receiver can then verify each chunk on its own
 * and blame the source that sent a bad one.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vss/model.h"

#include "hex.h"

_Static_assert(VSS_HASH_LEN == crypto_generichash_BYTES,
               "VSS_HASH_LEN is BLAKE2b-256");

/* sodium_init is idempotent but takes a lock each call; the flag keeps it
 * off the per-chunk path. */
static atomic_int sodium_ready;

static void ensure_sodium(void) {
  if (!atomic_load_explicit(&sodium_ready, memory_order_acquire)) {
    /* Fails only when no entropy source exists, which unkeyed
     * generichash does not need: the hash is still correct. */
    if (sodium_init() < 0) {
    }
    atomic_store_explicit(&sodium_ready, 1, memory_order_release);
  }
}

void vss_hash_bytes(const void *data, size_t len, vss_hash *out) {
  static const uint8_t empty;

  ensure_sodium();
  crypto_generichash(out->b, sizeof(out->b), len ? data : &empty, len, NULL, 0);
}

void vss_hash_hex(const vss_hash *h, char out[VSS_HASH_HEX_LEN + 1]) {
  for (size_t i = 0; i < VSS_HASH_LEN; i++)
    vss_hex_byte(h->b[i], out + 2 * i);
  out[VSS_HASH_HEX_LEN] = '\0';
}

int vss_hash_parse_hex(vss_hash *out, const char *s, size_t len) {
  vss_hash h;

  if (out == NULL || s == NULL || len != VSS_HASH_HEX_LEN)
    return VSS_ERR_INVALID;
  int bad = 0; /* no branch per digit: one check at the end */
  for (size_t i = 0; i < VSS_HASH_LEN; i++) {
    int hi = vss_hex_val(s[2 * i]), lo = vss_hex_val(s[2 * i + 1]);
    bad |= hi | lo;
    h.b[i] = (uint8_t)((hi & 0xf) << 4 | (lo & 0xf));
  }
  if (bad < 0) return VSS_ERR_INVALID;
  *out = h;
  return 0;
}

/* Checksums are public values, so a plain compare leaks nothing. */
int vss_hash_eq(const vss_hash *a, const vss_hash *b) {
  return memcmp(a->b, b->b, VSS_HASH_LEN) == 0;
}

/* ---- the two-level checksum ------------------------------------------ */

void vss_checksum_of_chunks(const vss_hash *chunks, uint64_t n, vss_hash *out) {
  crypto_generichash_state st;

  ensure_sodium();
  crypto_generichash_init(&st, NULL, 0, VSS_HASH_LEN);
  for (uint64_t i = 0; i < n; i++)
    crypto_generichash_update(&st, chunks[i].b, VSS_HASH_LEN);
  crypto_generichash_final(&st, out->b, VSS_HASH_LEN);
}

void vss_checksum_empty(vss_hash *out) {
  static vss_hash empty;
  static int known;
  if (!known) { /* a constant: racing first callers compute the same */
    vss_checksum_of_chunks(NULL, 0, &empty);
    known = 1;
  }
  *out = empty;
}

int vss_checksum_buffer(const void *data, uint64_t size, vss_hash *out) {
  const uint8_t *p = data;
  crypto_generichash_state st;

  if (out == NULL || (data == NULL && size)) return VSS_ERR_INVALID;
  if (size > SIZE_MAX) return VSS_ERR_TOO_BIG;
  ensure_sodium();
  /* Stream the outer hash: no chunk list to allocate. */
  crypto_generichash_init(&st, NULL, 0, VSS_HASH_LEN);
  while (size) {
    size_t n = size < VSS_CHUNK_SIZE ? (size_t)size : VSS_CHUNK_SIZE;
    vss_hash h;
    vss_hash_bytes(p, n, &h);
    crypto_generichash_update(&st, h.b, VSS_HASH_LEN);
    p += n;
    size -= n;
  }
  crypto_generichash_final(&st, out->b, VSS_HASH_LEN);
  return 0;
}

struct vss_hasher {
  crypto_generichash_state chunk; /* the chunk being filled */
  size_t fill;                    /* bytes in the current chunk */
  vss_hash *hashes;               /* finished chunks */
  uint64_t n, cap;
};

static void hasher_reset(vss_hasher *h) {
  free(h->hashes);
  h->hashes = NULL;
  h->n = h->cap = 0;
  h->fill = 0;
  crypto_generichash_init(&h->chunk, NULL, 0, VSS_HASH_LEN);
}

int vss_hasher_new(vss_hasher **out) {
  vss_hasher *h;

  if (out == NULL) return VSS_ERR_INVALID;
  ensure_sodium();
  if ((h = calloc(1, sizeof(*h))) == NULL) return VSS_ERR_NOMEM;
  hasher_reset(h);
  *out = h;
  return 0;
}

void vss_hasher_del(vss_hasher *h) {
  if (h == NULL) return;
  free(h->hashes);
  sodium_memzero(h, sizeof(*h));
  free(h);
}

static int push_chunk(vss_hasher *h) {
  if (h->n == h->cap) {
    uint64_t cap = h->cap ? h->cap * 2 : 8;
    vss_hash *p;
    if (cap > SIZE_MAX / sizeof(*p)) return VSS_ERR_NOMEM;
    if ((p = realloc(h->hashes, (size_t)cap * sizeof(*p))) == NULL)
      return VSS_ERR_NOMEM;
    h->hashes = p;
    h->cap = cap;
  }
  crypto_generichash_final(&h->chunk, h->hashes[h->n++].b, VSS_HASH_LEN);
  crypto_generichash_init(&h->chunk, NULL, 0, VSS_HASH_LEN);
  h->fill = 0;
  return 0;
}

int vss_hasher_update(vss_hasher *h, const void *data, size_t len) {
  const uint8_t *p = data;

  if (h == NULL || (data == NULL && len)) return VSS_ERR_INVALID;
  while (len) {
    size_t n = VSS_CHUNK_SIZE - h->fill;
    int rc;
    if (n > len) n = len;
    crypto_generichash_update(&h->chunk, p, n);
    h->fill += n;
    p += n;
    len -= n;
    /* Closing a full chunk at once leaves fill at 0, so final adds no
     * empty trailing chunk after an exact multiple of the chunk size. */
    if (h->fill == VSS_CHUNK_SIZE && (rc = push_chunk(h)) != 0) return rc;
  }
  return 0;
}

int vss_hasher_final(vss_hasher *h, vss_hash *checksum, vss_hash **chunks,
                     uint64_t *nchunks) {
  int rc;

  if (h == NULL || checksum == NULL) return VSS_ERR_INVALID;
  if (h->fill && (rc = push_chunk(h)) != 0) return rc;
  vss_checksum_of_chunks(h->hashes, h->n, checksum);
  if (nchunks) *nchunks = h->n;
  if (chunks) {
    /* Hand the array over; the hasher starts afresh below. */
    *chunks = h->hashes;
    h->hashes = NULL;
  }
  hasher_reset(h);
  return 0;
}
