/*
 * node_local.c - the application's view of availability: record what this
 * device holds, drop it, and ask who holds what.
 */
#include "node_internal.h"

#include "pcache.h"
#include "xfer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int valid_key(const vss_key *key, vss_format fmt) {
  return key && key->kind < VSS_KIND_COUNT && fmt < VSS_FMT_COUNT &&
         vss_variant_valid(key->variant, strlen(key->variant));
}

/* The checksum of bytes in memory, with the chunk hashes when there is
 * more than one chunk (a one-chunk sidecar needs no list). */
static int hash_buffer(const void *data, uint64_t size, vss_hash *sum,
                       vss_hash **chunks, uint64_t *n) {
  if (size <= VSS_CHUNK_SIZE) return vss_checksum_buffer(data, size, sum);
  if (size > SIZE_MAX) return VSS_ERR_TOO_BIG;
  vss_hasher *h;
  int rc = vss_hasher_new(&h);
  if (rc) return rc;
  rc = vss_hasher_update(h, data, (size_t)size);
  if (rc == 0) rc = vss_hasher_final(h, sum, chunks, n);
  vss_hasher_del(h);
  return rc;
}

/* Bytes first, then the row: a crash in between leaves an orphan blob,
 * never a row without bytes. The chunk hashes come out of the same pass
 * that computes the checksum and are kept with the row, so serving the
 * sidecar never reads it back just to hash it. */
static int store_bytes(vss_node *n, const vss_key *key, vss_format fmt,
                       const void *data, uint64_t *size, vss_hash *sum,
                       vss_hash **chunks, uint64_t *nchunks) {
  if (data) {
    if (*size > VSS_SIDECAR_MAX_SIZE) return VSS_ERR_TOO_BIG;
    int rc = vss_blobs_put(n->blobs, key, fmt, data, *size);
    return rc ? rc : hash_buffer(data, *size, sum, chunks, nchunks);
  }
  int rc = vss_blobs_stat(n->blobs, key, fmt, size);
  if (rc == 0 && *size > VSS_SIDECAR_MAX_SIZE) return VSS_ERR_TOO_BIG;
  return rc ? rc
            : vss_blobs_hash(n->blobs, key, fmt, *size, sum, chunks, nchunks);
}

uint64_t vss__held_bytes(vss_node *n) {
  if (!n->held_known) {
    uint64_t count = 0, bytes = 0;
    if (vss_store_count_avail(n->store, &count, &bytes) != 0) return 0;
    n->held_bytes = bytes;
    n->held_known = 1;
  }
  return n->held_bytes;
}

int vss__set_local(vss_node *n, const vss_sidecar_row *row, int has,
                   const vss_hash *chunks, uint64_t nchunks, vss_time now) {
  /* What the row counted before: re-recording a sidecar replaces its
   * size, removing what we do not hold changes nothing. Only looked up
   * while the figure is kept (a budget asked for it). */
  uint64_t before = 0;
  if (n->held_known) {
    vss_avail_row a;
    int rc = vss_store_get_avail(n->store, &row->key, &a);
    if (rc == 0 && a.has)
      before = a.size;
    else if (rc && rc != VSS_ERR_NOT_FOUND)
      n->held_known = 0; /* count again when next needed */
  }
  int rc = vss_store_set_local_chunks(n->store, row, has, chunks, nchunks, now);
  if (rc == 0 && n->held_known) {
    /* Sizes are bounded (VSS_SIDECAR_MAX_SIZE); a figure that would go
     * below zero is out of step with the store: count it again. */
    if (before > n->held_bytes)
      n->held_known = 0;
    else
      n->held_bytes = n->held_bytes - before + (has ? row->size : 0);
  }
  return rc;
}

static void emit_local(vss_node *n, const vss_key *key, vss_format fmt,
                       uint64_t size, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_LOCAL_RECORDED;
  ev.key = *key;
  ev.format = fmt;
  ev.bytes = size;
  vss__emit(n, &ev, now);
}

int vss_node_add_local(vss_node *n, const vss_key *key, vss_format fmt,
                       const void *data, uint64_t size, vss_time now) {
  if (!valid_key(key, fmt)) return VSS_ERR_INVALID;
  vss_sidecar_row row;
  memset(&row, 0, sizeof(row));
  vss_hash *chunks = NULL;
  uint64_t nchunks = 0;
  int rc =
      store_bytes(n, key, fmt, data, &size, &row.checksum, &chunks, &nchunks);
  if (rc) {
    free(chunks);
    return rc;
  }
  row.key = *key;
  row.format = fmt;
  row.size = size;
  row.status = VSS_STATUS_READY;
  row.version = 1;
  row.created_at = row.updated_at = now;
  rc = vss__set_local(n, &row, 1, chunks, nchunks, now);
  free(chunks);
  if (rc) return rc;
  rc = vss__local_recorded(n, key, now);
  if (rc) return rc;
  emit_local(n, key, fmt, size, now);
  vss_xfer_local_added(n->xfer, key, now);
  return 0;
}

int vss_node_remove_local(vss_node *n, const vss_key *key, vss_time now) {
  vss_sidecar_row row;
  if (!key) return VSS_ERR_INVALID;
  int rc = vss_store_get_sidecar(n->store, key, &row);
  if (rc) return rc;
  /* Row first: once it is gone nobody is served the bytes we delete. */
  rc = vss__set_local(n, &row, 0, NULL, 0, now);
  if (rc) return rc;
  rc = vss_blobs_remove(n->blobs, key, row.format);
  if (rc && rc != VSS_ERR_NOT_FOUND) return rc;
  return vss__local_recorded(n, key, now);
}

typedef struct presence_ctx {
  vss_node *n;
  vss_presence_cb cb;
  void *user;
} presence_ctx;

static int report_key(presence_ctx *c, const vss_key *key) {
  vss_node *n = c->n;
  vss_sidecar_row row;
  int rc = vss_store_get_sidecar(n->store, key, &row);
  if (rc == 0 && row.status == VSS_STATUS_READY) {
    rc = c->cb(c->user, key, &n->meta.device, 1, row.size, &row.checksum);
    if (rc) return rc;
  } else if (rc && rc != VSS_ERR_NOT_FOUND) {
    return rc;
  }
  vss_holder h[64];
  size_t nh = vss_pcache_holders(n->pcache, key, h, 64);
  for (size_t i = 0; i < nh && i < 64; i++) {
    const vss_peer *p = n->peers[h[i].peer];
    rc = c->cb(c->user, key, &p->id, p->online, h[i].size, &h[i].checksum);
    if (rc) return rc;
  }
  return 0;
}

int vss_node_get_presence(vss_node *n, const vss_uuid *contents,
                          size_t ncontents, vss_kind kind,
                          const char *const *variants, size_t nvariants,
                          vss_presence_cb cb, void *user, vss_time now) {
  (void)now;
  if (!cb || (ncontents && !contents) || (nvariants && !variants))
    return VSS_ERR_INVALID;
  presence_ctx c = {.n = n, .cb = cb, .user = user};
  for (size_t i = 0; i < ncontents; i++) {
    for (size_t j = 0; j < nvariants; j++) {
      vss_key key;
      int rc = vss_key_set(&key, &contents[i], kind, variants[j]);
      if (rc == 0) rc = report_key(&c, &key);
      if (rc) return rc;
    }
  }
  return 0;
}

/* ---- all presence ---------------------------------------------------- */

/* Own rows: has = 1 is what set_local records for a READY sidecar (and
 * what peers are told); has = 0 rows are removals kept for deltas. */
static int own_row(void *user, const vss_avail_row *row) {
  presence_ctx *c = user;
  if (!row->has) return 0;
  return c->cb(c->user, &row->key, &c->n->meta.device, 1, row->size,
               &row->checksum);
}

static int peer_entry(void *user, const vss_key *key, const vss_holder *h,
                      size_t nh) {
  presence_ctx *c = user;
  for (size_t i = 0; i < nh; i++) {
    const vss_peer *p = c->n->peers[h[i].peer];
    int rc = c->cb(c->user, key, &p->id, p->online, h[i].size, &h[i].checksum);
    if (rc) return rc;
  }
  return 0;
}

int vss_node_iter_presence(vss_node *n, vss_presence_cb cb, void *user,
                           vss_time now) {
  (void)now;
  if (!n || !cb) return VSS_ERR_INVALID;
  presence_ctx c = {.n = n, .cb = cb, .user = user};
  int rc = vss_store_iter_avail_since(n->store, 0, own_row, &c);
  return rc ? rc : vss_pcache_iter(n->pcache, peer_entry, &c);
}
