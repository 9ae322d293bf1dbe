/*
 * node_local.c - the application's view of availability: record what this
 * device holds, drop it, and ask who holds what.
 */
#include "node_internal.h"
#include "view.h"

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

/* The bytes of data land in a temp blob, hashed on the way, and are not
 * committed here: the caller commits them once the row allows it. */
static int stage_bytes(vss_node *n, const vss_key *key, vss_format fmt,
                       const void *data, uint64_t size, void **tmp,
                       vss_hash *sum, vss_hash **chunks, uint64_t *nchunks) {
  if (size > VSS_SIDECAR_MAX_SIZE) return VSS_ERR_TOO_BIG;
  int rc = hash_buffer(data, size, sum, chunks, nchunks);
  if (rc) return rc;
  if ((rc = vss_blobs_open_temp(n->blobs, key, fmt, size, tmp)) != 0) return rc;
  const uint8_t *p = data;
  for (uint64_t off = 0; off < size;) {
    size_t len = size - off > (1u << 20) ? (1u << 20) : (size_t)(size - off);
    if ((rc = vss_blobs_write(n->blobs, *tmp, off, p + off, len)) != 0) {
      vss_blobs_discard(n->blobs, *tmp);
      *tmp = NULL;
      return rc;
    }
    off += len;
  }
  return 0;
}

/* Bytes the application committed itself (data == NULL): read once. */
static int hash_committed(vss_node *n, const vss_key *key, vss_format fmt,
                          uint64_t *size, vss_hash *sum, vss_hash **chunks,
                          uint64_t *nchunks) {
  int rc = vss_blobs_stat(n->blobs, key, fmt, size);
  if (rc == 0 && *size > VSS_SIDECAR_MAX_SIZE) return VSS_ERR_TOO_BIG;
  return rc ? rc
            : vss_blobs_hash(n->blobs, key, fmt, *size, sum, chunks, nchunks);
}

/* Before new bytes replace a sidecar's committed blob, its READY row
 * goes (a removal peers hear of): a crash between the blob commit and
 * the new row then leaves no row, never the old row over new bytes.
 * Same checksum: the bytes are the same, nothing to retract. */
static int retract_old(vss_node *n, const vss_key *key, const vss_hash *sum,
                       vss_time now) {
  vss_sidecar_row old;
  int rc = vss_store_get_sidecar(n->store, key, &old);
  if (rc == VSS_ERR_NOT_FOUND) return 0;
  if (rc) return rc;
  if (old.status == VSS_STATUS_READY &&
      memcmp(old.checksum.b, sum->b, sizeof(sum->b)) == 0)
    return 0;
  return vss__set_local(n, &old, 0, NULL, 0, now);
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
  if (rc == 0 && !has) n->tombs++; /* for tombstone compaction (gossip.c) */
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

/* Order: bytes to a temp blob (hashed); the old row out if the bytes
 * differ; the blob committed; the new row committed. Every failure up
 * to and including the row commit is reported (the temp discarded);
 * after it the sidecar is recorded, so nothing later (a meta refresh,
 * an event) turns the call into a failure. */
int vss_node_add_local(vss_node *n, const vss_key *key, vss_format fmt,
                       const void *data, uint64_t size, vss_time now) {
  if (!valid_key(key, fmt)) return VSS_ERR_INVALID;
  vss_sidecar_row row;
  memset(&row, 0, sizeof(row));
  vss_hash *chunks = NULL;
  uint64_t nchunks = 0;
  void *tmp = NULL;
  int rc = data ? stage_bytes(n, key, fmt, data, size, &tmp, &row.checksum,
                              &chunks, &nchunks)
                : hash_committed(n, key, fmt, &size, &row.checksum, &chunks,
                                 &nchunks);
  if (rc == 0 && tmp) rc = retract_old(n, key, &row.checksum, now);
  if (rc == 0 && tmp) {
    rc = vss_blobs_commit(n->blobs, tmp); /* consumes tmp either way */
    tmp = NULL;
  }
  if (rc == 0) {
    row.key = *key;
    row.format = fmt;
    row.size = size;
    row.status = VSS_STATUS_READY;
    row.version = 1;
    row.created_at = row.updated_at = now;
    rc = vss__set_local(n, &row, 1, chunks, nchunks, now);
  }
  if (tmp) vss_blobs_discard(n->blobs, tmp);
  free(chunks);
  if (rc) return rc;
  vss__local_recorded(n, key, now);
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
  /* The row is gone: the removal is done whatever the blob says (a
   * blob left behind is an orphan, never served). */
  vss__local_recorded(n, key, now);
  rc = vss_blobs_remove(n->blobs, key, row.format);
  (void)rc;
  return 0;
}

typedef struct presence_ctx {
  vss_node *n;
  vss_presence_cb cb;
  void *user;
  const vss_key *key;
} presence_ctx;

/* Every holder the cache knows, however many (never a truncated copy). */
static int report_holder(void *user, const vss_holder *h) {
  presence_ctx *c = user;
  const vss_peer *p = vss__peer_at(c->n, h->peer);
  if (!p) return 0; /* slot freed: its entries go with it */
  return c->cb(c->user, c->key, &p->id, p->online, h->size, &h->checksum);
}

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
  c->key = key;
  rc = vss_pcache_each_holder(n->pcache, key, report_holder, c);
  /* a large library's relayed holders (view.c; none otherwise) */
  return rc ? rc : vss_view_each_hint(n, key, c->cb, c->user);
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
    const vss_peer *p = vss__peer_at(c->n, h[i].peer);
    if (!p) continue;
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
