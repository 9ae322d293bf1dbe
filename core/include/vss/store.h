/*
 * vss/store.h - the two storage seams of the core, as method tables
 * (in the manner of SQLite's VFS):
 *
 *   vss_store  - metadata: this device's sidecars (with the chunk-hash
 *                lists of multi-chunk ones), its availability rows with
 *                gossip sequence numbers, paired peers. SQLite
 *                implementation in core/src/store_sqlite.c.
 *   vss_blobs  - sidecar bytes: temporary blob while transferring, then an
 *                atomic commit. In-memory implementation in core (tests),
 *                on-disk in real/, synthetic in sim/.
 *
 * Fault injection for tests wraps a method table (see vss_store_faulty).
 */
#ifndef VSS_STORE_H
#define VSS_STORE_H

#include "vss/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- rows ------------------------------------------------------------ */

/* Table `sidecar`: one row per sidecar this device knows about locally. */
typedef struct vss_sidecar_row {
  vss_key key;
  vss_format format;
  char rel_path[VSS_REL_PATH_MAX + 1];
  uint64_t size;
  vss_hash checksum;
  vss_status status;
  vss_uuid source; /* device that generated or sent it (nil = local) */
  uint32_t version;
  vss_time created_at, updated_at;
} vss_sidecar_row;

/* Table `sidecar_availability`, this device's own rows. `seq` is this
 * device's gossip sequence number for the row's last change (Syncthing's
 * scheme): every change takes max_seq + 1. has = 0 records a removal, so
 * deltas carry deletions. */
typedef struct vss_avail_row {
  vss_key key;
  vss_format format;
  vss_uuid device;
  uint8_t has;
  uint64_t size;
  vss_hash checksum;
  vss_time last_seen_at;
  uint64_t seq;
} vss_avail_row;

/* Gossip state of this device: identity, epoch (a new one forces peers to
 * take a full digest), highest sequence number handed out. */
typedef struct vss_store_meta {
  vss_uuid device;
  uint64_t epoch;
  uint64_t max_seq;
} vss_store_meta;

/* A paired peer and how far we have seen its availability. */
typedef struct vss_peer_row {
  vss_uuid device;
  char name[64];
  uint8_t pubkey[32]; /* Ed25519 identity (real backend); zero in sim */
  uint64_t seen_epoch;
  uint64_t seen_seq;
  vss_time last_seen_at;
} vss_peer_row;

/* Table `xfer_resume` (schema v3): a transfer this device had under way,
 * so that a restart resumes it, or tells the application it ended (no
 * request is silently forgotten). Written when a requested fetch starts
 * (size 0 then: nothing chosen yet) and, for every unfinished job, when
 * the node shuts down, with the bitmap of verified chunks and the temp
 * blob that holds them (kept by vss_blobs_keep_temp); deleted when the
 * job ends. Chunk c is bit (c % 8) of byte c / 8 of `done`. */
#define VSS_TEMP_NAME_MAX 63
typedef struct vss_resume_row {
  vss_key key;
  vss_format format;
  uint32_t flags; /* VSS_FETCH_* of the request; 0x100: a prefetch */
  uint64_t size;  /* 0 while unknown */
  vss_hash checksum;
  char tmp_name[VSS_TEMP_NAME_MAX + 1]; /* "" when no bytes were kept */
  const uint8_t *done;                  /* verified chunks; NULL: none */
  uint64_t done_len;                    /* bytes of `done` */
  vss_time created_at;
} vss_resume_row;
#define VSS_RESUME_PREFETCH 0x100u

/* Return non-zero from an iteration callback to stop early; the iterator
 * then returns that value. */
typedef int (*vss_avail_iter_cb)(void *user, const vss_avail_row *row);
typedef int (*vss_peer_iter_cb)(void *user, const vss_peer_row *row);
/* row->done points into the store's memory: valid during the call. */
typedef int (*vss_resume_iter_cb)(void *user, const vss_resume_row *row);

/* ---- metadata store -------------------------------------------------- */

typedef struct vss_store_methods {
  int (*begin)(void *ctx);
  int (*commit)(void *ctx);
  int (*rollback)(void *ctx);
  int (*get_meta)(void *ctx, vss_store_meta *out);
  int (*set_meta)(void *ctx, const vss_store_meta *meta);
  /* Upsert. On update the row keeps its first created_at. */
  int (*put_sidecar)(void *ctx, const vss_sidecar_row *row);
  int (*get_sidecar)(void *ctx, const vss_key *key, vss_sidecar_row *out);
  int (*del_sidecar)(void *ctx, const vss_key *key);
  /* Upsert; the row's seq is taken as given (see vss_store_set_local). */
  int (*put_avail)(void *ctx, const vss_avail_row *row);
  int (*get_avail)(void *ctx, const vss_key *key, vss_avail_row *out);
  /* Rows with seq > since, in ascending seq order. */
  int (*iter_avail_since)(void *ctx, uint64_t since, vss_avail_iter_cb cb,
                          void *user);
  int (*count_avail)(void *ctx, uint64_t *count, uint64_t *bytes);
  int (*put_peer)(void *ctx, const vss_peer_row *row);
  int (*get_peer)(void *ctx, const vss_uuid *device, vss_peer_row *out);
  int (*del_peer)(void *ctx, const vss_uuid *device);
  int (*iter_peers)(void *ctx, vss_peer_iter_cb cb, void *user);
  /* Chunk-hash list of a multi-chunk sidecar (table `sidecar_chunks`),
   * kept with its row so that serving a META request never reads and
   * hashes the whole blob again (~1.7 s/GB). put_chunks replaces the
   * key's list; n = 0 deletes it (deleting none is not an error).
   * get_chunks copies the list into out[cap] and sets *n to its length:
   * VSS_ERR_NOT_FOUND when there is none, VSS_ERR_BUFFER (nothing
   * copied) when *n > cap. vss_store_set_local_chunks writes it in the
   * sidecar row's transaction. */
  int (*put_chunks)(void *ctx, const vss_key *key, const vss_hash *hashes,
                    uint64_t n);
  int (*get_chunks)(void *ctx, const vss_key *key, vss_hash *out, uint64_t cap,
                    uint64_t *n);
  void (*close)(void *ctx);
  /* Optional (NULL: removals are kept for ever). Tombstone compaction:
   * deletes this device's removal rows (has = 0) with floor < seq <= upto
   * and raises the floor to upto, in one transaction (joining the
   * caller's when one is open); *removed gets how many went.
   * get_tomb_floor reads the floor (0 when never compacted). A peer that
   * has seen less than the floor cannot be sent a delta - it would miss
   * the removals - and takes a full digest instead. */
  int (*compact_avail)(void *ctx, uint64_t upto, uint64_t *removed);
  int (*get_tomb_floor)(void *ctx, uint64_t *floor);
  /* Resume records (optional: a table without them resumes nothing
   * across restarts; the dispatchers then do nothing). put_resume
   * replaces the key's record; del_resume of none is not an error. The
   * iterator's callback may call del_resume. */
  int (*put_resume)(void *ctx, const vss_resume_row *row);
  int (*del_resume)(void *ctx, const vss_key *key);
  int (*iter_resume)(void *ctx, vss_resume_iter_cb cb, void *user);
} vss_store_methods;

typedef struct vss_store vss_store;

/* Wrap a method table. The store owns ctx and calls close() on _del. */
int vss_store_new(vss_store **out, const vss_store_methods *m, void *ctx);
void vss_store_del(vss_store *s);
/* (Added for wrappers such as vss_store_faulty.) The ctx given to
 * vss_store_new when s was made with method table m, else NULL: lets an
 * implementation find its own state without trusting a foreign store. */
void *vss_store_ctx(const vss_store *s, const vss_store_methods *m);

/* SQLite implementation. path may be ":memory:". Files use WAL mode.
 * A new database gets `device` (or keeps the one it has when device is
 * NULL) and epoch 1. The schema is versioned; an unknown newer version is
 * VSS_ERR_VERSION. `errbuf` (optional) receives SQLite's message. */
int vss_store_sqlite_open(vss_store **out, const char *path,
                          const vss_uuid *device, char *errbuf, size_t errcap);

/* Fault injection: a store that forwards to `inner` but fails the n-th
 * call (counting every method call from 1) and every later one while
 * `sticky`, with VSS_ERR_STORE. n = 0 never fails. Does not own inner. */
int vss_store_faulty_new(vss_store **out, vss_store *inner, uint64_t fail_at,
                         int sticky);
uint64_t vss_store_faulty_calls(const vss_store *s);
/* Re-arm a faulty store: fail the fail_at-th call (counted from its
 * creation; 0 = never) and, when sticky, every later one. Lets a test
 * harness decide when a running node "crashes". VSS_ERR_INVALID when s
 * is not a faulty store. */
int vss_store_faulty_arm(vss_store *s, uint64_t fail_at, int sticky);

/* Dispatchers (each forwards to the method table). Transactions do not
 * nest: vss_store_begin inside an open transaction is VSS_ERR_INVALID.
 * After a failed commit the transaction may still be open: roll back. */
int vss_store_begin(vss_store *s);
int vss_store_commit(vss_store *s);
int vss_store_rollback(vss_store *s);
int vss_store_get_meta(vss_store *s, vss_store_meta *out);
int vss_store_set_meta(vss_store *s, const vss_store_meta *meta);
int vss_store_put_sidecar(vss_store *s, const vss_sidecar_row *row);
int vss_store_get_sidecar(vss_store *s, const vss_key *key,
                          vss_sidecar_row *out);
int vss_store_del_sidecar(vss_store *s, const vss_key *key);
int vss_store_put_avail(vss_store *s, const vss_avail_row *row);
int vss_store_get_avail(vss_store *s, const vss_key *key, vss_avail_row *out);
int vss_store_iter_avail_since(vss_store *s, uint64_t since,
                               vss_avail_iter_cb cb, void *user);
int vss_store_count_avail(vss_store *s, uint64_t *count, uint64_t *bytes);
int vss_store_put_peer(vss_store *s, const vss_peer_row *row);
int vss_store_get_peer(vss_store *s, const vss_uuid *device, vss_peer_row *out);
int vss_store_del_peer(vss_store *s, const vss_uuid *device);
int vss_store_iter_peers(vss_store *s, vss_peer_iter_cb cb, void *user);
int vss_store_put_chunks(vss_store *s, const vss_key *key,
                         const vss_hash *hashes, uint64_t n);
int vss_store_get_chunks(vss_store *s, const vss_key *key, vss_hash *out,
                         uint64_t cap, uint64_t *n);
/* Tombstone compaction (see the methods); a store without them compacts
 * nothing (*removed = 0) and has floor 0. */
int vss_store_compact_avail(vss_store *s, uint64_t upto, uint64_t *removed);
int vss_store_tomb_floor(vss_store *s, uint64_t *floor);

int vss_store_put_resume(vss_store *s, const vss_resume_row *row);
int vss_store_del_resume(vss_store *s, const vss_key *key);
int vss_store_iter_resume(vss_store *s, vss_resume_iter_cb cb, void *user);

/* The one way the core records that this device holds (has=1) or dropped
 * (has=0) a sidecar: in one transaction, takes the next sequence number,
 * writes the `sidecar` row (READY, or deleted when has=0), drops any
 * chunk-hash list of the key, and writes the `sidecar_availability` row.
 * Either all of it lands or none does.
 * Called inside the caller's open transaction (batching many changes in
 * one commit), it joins it instead, and on failure the caller must roll
 * the whole transaction back. */
int vss_store_set_local(vss_store *s, const vss_sidecar_row *row, int has,
                        vss_time now);
/* set_local that also replaces the sidecar's chunk-hash list in the same
 * transaction: has = 1 with nchunks >= 2 stores `chunks`, which must be
 * the row's list (vss_chunk_count(size) entries that add up to its
 * checksum, else VSS_ERR_INVALID); anything else (one-chunk sidecars,
 * chunks NULL, has = 0) deletes the key's list, so a stored list always
 * belongs to the current row. vss_store_set_local passes none. */
int vss_store_set_local_chunks(vss_store *s, const vss_sidecar_row *row,
                               int has, const vss_hash *chunks,
                               uint64_t nchunks, vss_time now);
/* Start a new epoch (peers then take a full digest). */
int vss_store_new_epoch(vss_store *s);

/* ---- blob store ------------------------------------------------------ */

/* Temporary blob while a sidecar arrives; committed atomically (real:
 * write, fsync, rename) or discarded. Reads serve peers and local users.
 * Only the four operations below ever touch bytes: a peer can name a
 * sidecar key, never a path. */
typedef struct vss_blob_methods {
  int (*open_temp)(void *ctx, const vss_key *key, vss_format fmt, uint64_t size,
                   void **tmp);
  int (*write)(void *ctx, void *tmp, uint64_t off, const void *buf, size_t len);
  /* Make the bytes durable under their final name. After this returns 0
   * a crash keeps them; the metadata row is committed after it. commit
   * consumes tmp whether it succeeds or not (like fclose): never discard
   * it afterwards. A failed write leaves tmp open: discard it. */
  int (*commit)(void *ctx, void *tmp);
  void (*discard)(void *ctx, void *tmp);
  /* Reads len bytes at off of a committed sidecar. */
  int (*read)(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
              void *buf, size_t len);
  /* Size of a committed sidecar, or VSS_ERR_NOT_FOUND. */
  int (*stat)(void *ctx, const vss_key *key, vss_format fmt, uint64_t *size);
  int (*remove)(void *ctx, const vss_key *key, vss_format fmt);
  void (*close)(void *ctx);
  /* Optional (NULL: interrupted transfers restart from zero).
   * keep_temp makes tmp's bytes durable and keeps them under a name
   * (written into name[VSS_TEMP_NAME_MAX + 1]) that survives closing
   * the store and a restart; it consumes tmp like commit. reopen_temp
   * opens a kept temp again (its size must be `size`, else
   * VSS_ERR_NOT_FOUND), to be written, committed or discarded as usual.
   * A kept temp nobody reopens is the caller's to reopen and discard. */
  int (*keep_temp)(void *ctx, void *tmp, char *name);
  int (*reopen_temp)(void *ctx, const char *name, const vss_key *key,
                     vss_format fmt, uint64_t size, void **tmp);
} vss_blob_methods;

typedef struct vss_blobs vss_blobs;

int vss_blobs_new(vss_blobs **out, const vss_blob_methods *m, void *ctx);
void vss_blobs_del(vss_blobs *b);
/* The ctx given to vss_blobs_new when b was made with method table m,
 * else NULL (as vss_store_ctx: a driver finds its own state). */
void *vss_blobs_ctx(const vss_blobs *b, const vss_blob_methods *m);
/* In-memory blob store (tests and small simulations). */
int vss_blobs_mem_new(vss_blobs **out);

int vss_blobs_open_temp(vss_blobs *b, const vss_key *key, vss_format fmt,
                        uint64_t size, void **tmp);
int vss_blobs_write(vss_blobs *b, void *tmp, uint64_t off, const void *buf,
                    size_t len);
int vss_blobs_commit(vss_blobs *b, void *tmp);
void vss_blobs_discard(vss_blobs *b, void *tmp);
int vss_blobs_read(vss_blobs *b, const vss_key *key, vss_format fmt,
                   uint64_t off, void *buf, size_t len);
int vss_blobs_stat(vss_blobs *b, const vss_key *key, vss_format fmt,
                   uint64_t *size);
int vss_blobs_remove(vss_blobs *b, const vss_key *key, vss_format fmt);
/* VSS_ERR_INVALID when the store cannot keep temps (tmp then untouched). */
int vss_blobs_keep_temp(vss_blobs *b, void *tmp, char *name);
int vss_blobs_reopen_temp(vss_blobs *b, const char *name, const vss_key *key,
                          vss_format fmt, uint64_t size, void **tmp);

/* Whole-blob helpers: store bytes under a key (temp + commit) and compute
 * the two-level checksum of a committed blob by reading it back;
 * vss_blobs_hash also hands over the chunk hashes (malloc'd, caller
 * frees; chunks NULL skips them), as vss_hasher_final does. */
int vss_blobs_put(vss_blobs *b, const vss_key *key, vss_format fmt,
                  const void *data, uint64_t size);
int vss_blobs_checksum(vss_blobs *b, const vss_key *key, vss_format fmt,
                       uint64_t size, vss_hash *out);
int vss_blobs_hash(vss_blobs *b, const vss_key *key, vss_format fmt,
                   uint64_t size, vss_hash *checksum, vss_hash **chunks,
                   uint64_t *nchunks);

#ifdef __cplusplus
}
#endif
#endif
