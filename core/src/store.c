/*
 * store.c - the metadata store seam: a method table plus the one
 * transaction the core cares about most, vss_store_set_local.
 *
 * The wrapper tracks whether a transaction is open so that set_local can
 * join a caller's batch instead of nesting (the method tables need not
 * support nesting, and SQLite's BEGIN does not).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vss/store.h"

struct vss_store {
  const vss_store_methods *m;
  void *ctx;
  int in_txn; /* begin succeeded and no commit/rollback has ended it */
};

static int methods_complete(const vss_store_methods *m) {
  return m->begin && m->commit && m->rollback && m->get_meta && m->set_meta &&
         m->put_sidecar && m->get_sidecar && m->del_sidecar && m->put_avail &&
         m->get_avail && m->iter_avail_since && m->count_avail && m->put_peer &&
         m->get_peer && m->del_peer && m->iter_peers && m->put_chunks &&
         m->get_chunks;
}

int vss_store_new(vss_store **out, const vss_store_methods *m, void *ctx) {
  vss_store *s;

  if (!out || !m || !methods_complete(m)) return VSS_ERR_INVALID;
  s = calloc(1, sizeof(*s));
  if (!s) return VSS_ERR_NOMEM;
  s->m = m;
  s->ctx = ctx;
  *out = s;
  return 0;
}

void vss_store_del(vss_store *s) {
  if (!s) return;
  /* Closing with a transaction open rolls it back (SQLite does this on
   * close); nothing half-written survives. */
  if (s->m->close) s->m->close(s->ctx);
  free(s);
}

void *vss_store_ctx(const vss_store *s, const vss_store_methods *m) {
  return s && s->m == m ? s->ctx : NULL;
}

/* ---- tombstone compaction (optional methods) ------------------------- */

int vss_store_compact_avail(vss_store *s, uint64_t upto, uint64_t *removed) {
  *removed = 0;
  return s->m->compact_avail ? s->m->compact_avail(s->ctx, upto, removed) : 0;
}

int vss_store_tomb_floor(vss_store *s, uint64_t *floor) {
  *floor = 0;
  return s->m->get_tomb_floor ? s->m->get_tomb_floor(s->ctx, floor) : 0;
}

/* ---- dispatchers ----------------------------------------------------- */

int vss_store_begin(vss_store *s) {
  int rc;

  if (s->in_txn) return VSS_ERR_INVALID;
  rc = s->m->begin(s->ctx);
  if (rc == 0) s->in_txn = 1;
  return rc;
}

int vss_store_commit(vss_store *s) {
  int rc = s->m->commit(s->ctx);

  /* A failed commit may leave the transaction open (SQLITE_BUSY): the
   * caller still owes a rollback, so in_txn stays set. */
  if (rc == 0) s->in_txn = 0;
  return rc;
}

int vss_store_rollback(vss_store *s) {
  /* Whatever the outcome, the transaction is over for the caller: a
   * failed rollback leaves nothing the caller could retry. */
  s->in_txn = 0;
  return s->m->rollback(s->ctx);
}

int vss_store_get_meta(vss_store *s, vss_store_meta *out) {
  return s->m->get_meta(s->ctx, out);
}

int vss_store_set_meta(vss_store *s, const vss_store_meta *meta) {
  return s->m->set_meta(s->ctx, meta);
}

int vss_store_put_sidecar(vss_store *s, const vss_sidecar_row *row) {
  return s->m->put_sidecar(s->ctx, row);
}

int vss_store_get_sidecar(vss_store *s, const vss_key *key,
                          vss_sidecar_row *out) {
  return s->m->get_sidecar(s->ctx, key, out);
}

int vss_store_del_sidecar(vss_store *s, const vss_key *key) {
  return s->m->del_sidecar(s->ctx, key);
}

int vss_store_put_avail(vss_store *s, const vss_avail_row *row) {
  return s->m->put_avail(s->ctx, row);
}

int vss_store_get_avail(vss_store *s, const vss_key *key, vss_avail_row *out) {
  return s->m->get_avail(s->ctx, key, out);
}

int vss_store_iter_avail_since(vss_store *s, uint64_t since,
                               vss_avail_iter_cb cb, void *user) {
  return s->m->iter_avail_since(s->ctx, since, cb, user);
}

int vss_store_count_avail(vss_store *s, uint64_t *count, uint64_t *bytes) {
  return s->m->count_avail(s->ctx, count, bytes);
}

int vss_store_put_peer(vss_store *s, const vss_peer_row *row) {
  return s->m->put_peer(s->ctx, row);
}

int vss_store_get_peer(vss_store *s, const vss_uuid *device,
                       vss_peer_row *out) {
  return s->m->get_peer(s->ctx, device, out);
}

int vss_store_del_peer(vss_store *s, const vss_uuid *device) {
  return s->m->del_peer(s->ctx, device);
}

int vss_store_iter_peers(vss_store *s, vss_peer_iter_cb cb, void *user) {
  return s->m->iter_peers(s->ctx, cb, user);
}

int vss_store_put_chunks(vss_store *s, const vss_key *key,
                         const vss_hash *hashes, uint64_t n) {
  if (n && !hashes) return VSS_ERR_INVALID;
  return s->m->put_chunks(s->ctx, key, hashes, n);
}

int vss_store_put_resume(vss_store *s, const vss_resume_row *row) {
  return s->m->put_resume ? s->m->put_resume(s->ctx, row) : 0;
}

int vss_store_del_resume(vss_store *s, const vss_key *key) {
  return s->m->del_resume ? s->m->del_resume(s->ctx, key) : 0;
}

int vss_store_iter_resume(vss_store *s, vss_resume_iter_cb cb, void *user) {
  return s->m->iter_resume ? s->m->iter_resume(s->ctx, cb, user) : 0;
}

int vss_store_get_chunks(vss_store *s, const vss_key *key, vss_hash *out,
                         uint64_t cap, uint64_t *n) {
  if (!n || (cap && !out)) return VSS_ERR_INVALID;
  return s->m->get_chunks(s->ctx, key, out, cap, n);
}

/* ---- set_local ------------------------------------------------------- */

/* Sequence numbers are stored as SQLite INTEGER (signed 64-bit). */
#define SEQ_MAX ((uint64_t)INT64_MAX)

static int set_local_valid(const vss_sidecar_row *row, int has) {
  vss_key k;

  if (!row || (has != 0 && has != 1)) return 0;
  if ((unsigned)row->format >= VSS_FMT_COUNT) return 0;
  if (memchr(row->key.variant, 0, sizeof(row->key.variant)) == NULL) return 0;
  return vss_key_set(&k, &row->key.content, row->key.kind, row->key.variant) ==
         0;
}

static int put_ready_sidecar(vss_store *s, const vss_sidecar_row *row,
                             vss_time now) {
  vss_sidecar_row r = *row;
  int rc;

  /* The path is derived from the key, never taken from the caller: the
   * blob layout is fixed by DESIGN.md and a row must not name a path. */
  rc = vss_rel_path(&r.key, r.format, r.rel_path, sizeof(r.rel_path));
  if (rc < 0) return rc;
  r.status = VSS_STATUS_READY;
  r.created_at = now; /* kept from the first insert by put_sidecar */
  r.updated_at = now;
  return vss_store_put_sidecar(s, &r);
}

static int put_own_avail(vss_store *s, const vss_store_meta *meta,
                         const vss_sidecar_row *row, int has, vss_time now) {
  vss_avail_row a;

  memset(&a, 0, sizeof(a));
  a.key = row->key;
  a.format = row->format;
  a.device = meta->device;
  a.has = (uint8_t)has;
  a.size = row->size;
  a.checksum = row->checksum;
  a.last_seen_at = now;
  a.seq = meta->max_seq;
  return vss_store_put_avail(s, &a);
}

/* A list kept with a row must be that row's: the server hands it out as
 * the truth about its bytes, and a receiver drops a source whose list
 * does not add up to the checksum. */
static int chunks_match(const vss_sidecar_row *row, const vss_hash *chunks,
                        uint64_t n) {
  vss_hash sum;

  if (n != vss_chunk_count(row->size)) return 0;
  vss_checksum_of_chunks(chunks, n, &sum);
  return vss_hash_eq(&sum, &row->checksum);
}

/* The body of set_local; runs inside a transaction it does not own.
 * `chunks` is NULL unless the list is to be kept (n >= 2). */
static int set_local_txn(vss_store *s, const vss_sidecar_row *row, int has,
                         const vss_hash *chunks, uint64_t nchunks,
                         vss_time now) {
  vss_store_meta meta;
  int rc;

  rc = vss_store_get_meta(s, &meta);
  if (rc < 0) return rc;
  if (meta.max_seq >= SEQ_MAX) return VSS_ERR_STORE;
  meta.max_seq++;
  rc = vss_store_set_meta(s, &meta);
  if (rc < 0) return rc;
  if (has) {
    rc = put_ready_sidecar(s, row, now);
  } else {
    /* Dropping what we do not have is not an error: the availability
     * row still records the removal for peers that saw an older state. */
    rc = vss_store_del_sidecar(s, &row->key);
    if (rc == VSS_ERR_NOT_FOUND) rc = 0;
  }
  if (rc < 0) return rc;
  /* Always written, also to delete: a list left from an earlier version
   * of the sidecar (or a removed one) must not outlive it. */
  rc = vss_store_put_chunks(s, &row->key, chunks, chunks ? nchunks : 0);
  if (rc < 0) return rc;
  return put_own_avail(s, &meta, row, has, now);
}

int vss_store_set_local_chunks(vss_store *s, const vss_sidecar_row *row,
                               int has, const vss_hash *chunks,
                               uint64_t nchunks, vss_time now) {
  int rc;

  if (!s || !set_local_valid(row, has)) return VSS_ERR_INVALID;
  /* One-chunk sidecars need no list: their checksum is H(H(chunk)). */
  if (!has || nchunks < 2) chunks = NULL;
  if (chunks && !chunks_match(row, chunks, nchunks)) return VSS_ERR_INVALID;
  if (s->in_txn) return set_local_txn(s, row, has, chunks, nchunks, now);
  rc = vss_store_begin(s);
  if (rc < 0) return rc;
  rc = set_local_txn(s, row, has, chunks, nchunks, now);
  if (rc == 0) rc = vss_store_commit(s);
  if (rc < 0) (void)vss_store_rollback(s); /* the first error wins */
  return rc;
}

int vss_store_set_local(vss_store *s, const vss_sidecar_row *row, int has,
                        vss_time now) {
  return vss_store_set_local_chunks(s, row, has, NULL, 0, now);
}

static int new_epoch_txn(vss_store *s) {
  vss_store_meta meta;
  int rc;

  rc = vss_store_get_meta(s, &meta);
  if (rc < 0) return rc;
  meta.epoch++;
  return vss_store_set_meta(s, &meta);
}

/* A new epoch tells peers that our sequence numbers no longer describe a
 * history they can apply as deltas (database restored from a backup,
 * rows rebuilt from a disk scan): a peer that sees an epoch different
 * from the one it recorded for us drops what it knows of us and takes a
 * full digest. max_seq keeps counting; it never goes back. Like
 * set_local, it joins the caller's open transaction. */
int vss_store_new_epoch(vss_store *s) {
  int rc;

  if (!s) return VSS_ERR_INVALID;
  if (s->in_txn) return new_epoch_txn(s);
  rc = vss_store_begin(s);
  if (rc < 0) return rc;
  rc = new_epoch_txn(s);
  if (rc == 0) rc = vss_store_commit(s);
  if (rc < 0) (void)vss_store_rollback(s);
  return rc;
}
