/*
 * store_sqlite.c - the SQLite metadata store.
 *
 * Readable with the sqlite3 CLI: kind/format/status are their DESIGN.md
 * strings; in `sidecar`, `peer` and the resume records uuids are
 * lowercase hyphenated text and checksums 64-char hex. The availability
 * table and meta (schema v5) hold device and content uuids as 16-byte
 * BLOBs and checksums as 32-byte BLOBs: a full digest reads every
 * availability row, and parsing their text was ~60 % of the sender's
 * first-contact CPU (`hex(device_uuid)` in the CLI shows them).
 * uint64 values (sizes, times, seqs) are stored as INTEGER, i.e. signed
 * 64-bit: VSS_TIME_UNSET reads as -1 in the CLI and round-trips.
 *
 * Every statement is prepared once at open and cached (iter_avail_since
 * over millions of rows must not pay a prepare per call). A statement is
 * always reset before its method returns, so no read transaction is left
 * open to block WAL checkpoints.
 *
 * Transactions do not nest: BEGIN inside an open transaction is
 * VSS_ERR_INVALID. vss_store_set_local joins a caller's transaction
 * instead, which is all the core needs; savepoints would add a method
 * to every store for no user.
 *
 * Read-back validation: a row whose uuid, kind, variant, format, status
 * or hex does not parse is VSS_ERR_CORRUPT, never a crash or a half-
 * filled row, since the file may have been edited by hand.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "vss/store.h"

#define SCHEMA_VERSION 5
#define BUSY_TIMEOUT_MS 5000
#define SEQ_MAX ((uint64_t)INT64_MAX)

enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_GET_META,
  ST_SET_META,
  ST_PUT_SIDECAR,
  ST_GET_SIDECAR,
  ST_DEL_SIDECAR,
  ST_PUT_AVAIL,
  ST_GET_AVAIL,
  ST_ITER_AVAIL,
  ST_COUNT_AVAIL,
  ST_PUT_PEER,
  ST_GET_PEER,
  ST_DEL_PEER,
  ST_ITER_PEERS,
  ST_PUT_CHUNKS,
  ST_DEL_CHUNKS,
  ST_GET_CHUNKS,
  ST_COUNT
};

#define SIDECAR_COLS                                                           \
  "content_uuid, kind, variant, format, rel_path, size, checksum, status, "    \
  "source, version, created_at, updated_at"
#define AVAIL_COLS                                                             \
  "content_uuid, kind, variant, format, device_uuid, has, size, checksum, "    \
  "last_seen_at, seq"
#define PEER_COLS                                                              \
  "device_uuid, name, pubkey, seen_epoch, seen_seq, last_seen_at"
#define KEY_MATCH "content_uuid = ?1 AND kind = ?2 AND variant = ?3"
/* The availability table holds this device's rows (DESIGN.md); reads
 * follow the device named in meta. SQLite evaluates this once per
 * statement run, as a constant. */
#define OWN_DEVICE "device_uuid = (SELECT device_uuid FROM meta WHERE id = 1)"

static const char *const stmt_sql[ST_COUNT] = {
    /* IMMEDIATE takes the write lock now, so a busy database fails (after
     * busy_timeout) at begin, not halfway through the writes. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET_META] = "SELECT device_uuid, epoch, max_seq FROM meta WHERE id = 1",
    [ST_SET_META] = "UPDATE meta SET device_uuid = ?1, epoch = ?2, "
                    "max_seq = ?3 WHERE id = 1",
    [ST_PUT_SIDECAR] =
        "INSERT INTO sidecar (" SIDECAR_COLS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
        "ON CONFLICT (content_uuid, kind, variant) DO UPDATE SET "
        "format = excluded.format, rel_path = excluded.rel_path, "
        "size = excluded.size, checksum = excluded.checksum, "
        "status = excluded.status, source = excluded.source, "
        "version = excluded.version, updated_at = excluded.updated_at",
    [ST_GET_SIDECAR] = "SELECT " SIDECAR_COLS " FROM sidecar WHERE " KEY_MATCH,
    [ST_DEL_SIDECAR] = "DELETE FROM sidecar WHERE " KEY_MATCH,
    [ST_PUT_AVAIL] =
        "INSERT INTO sidecar_availability (" AVAIL_COLS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (content_uuid, kind, variant, device_uuid) DO UPDATE "
        "SET format = excluded.format, has = excluded.has, "
        "size = excluded.size, checksum = excluded.checksum, "
        "last_seen_at = excluded.last_seen_at, seq = excluded.seq",
    [ST_GET_AVAIL] = "SELECT " AVAIL_COLS " FROM sidecar_availability "
                     "WHERE " KEY_MATCH " AND " OWN_DEVICE,
    [ST_ITER_AVAIL] = "SELECT " AVAIL_COLS " FROM sidecar_availability "
                      "WHERE seq > ?1 AND " OWN_DEVICE " ORDER BY seq",
    [ST_COUNT_AVAIL] = "SELECT count(*), coalesce(sum(size), 0) FROM "
                       "sidecar_availability WHERE has = 1 AND " OWN_DEVICE,
    [ST_PUT_PEER] = "INSERT INTO peer (" PEER_COLS ") VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6) "
                    "ON CONFLICT (device_uuid) DO UPDATE SET "
                    "name = excluded.name, pubkey = excluded.pubkey, "
                    "seen_epoch = excluded.seen_epoch, "
                    "seen_seq = excluded.seen_seq, "
                    "last_seen_at = excluded.last_seen_at",
    [ST_GET_PEER] = "SELECT " PEER_COLS " FROM peer WHERE device_uuid = ?1",
    [ST_DEL_PEER] = "DELETE FROM peer WHERE device_uuid = ?1",
    [ST_ITER_PEERS] = "SELECT " PEER_COLS " FROM peer ORDER BY device_uuid",
    [ST_PUT_CHUNKS] = "INSERT INTO sidecar_chunks (content_uuid, kind, "
                      "variant, hashes) VALUES (?1, ?2, ?3, ?4) "
                      "ON CONFLICT (content_uuid, kind, variant) DO UPDATE "
                      "SET hashes = excluded.hashes",
    [ST_DEL_CHUNKS] = "DELETE FROM sidecar_chunks WHERE " KEY_MATCH,
    [ST_GET_CHUNKS] = "SELECT hashes FROM sidecar_chunks WHERE " KEY_MATCH,
};

typedef struct sq_store {
  sqlite3 *db;
  sqlite3_stmt *stmt[ST_COUNT];
} sq_store;

/* ---- result codes ---------------------------------------------------- */

static int sq_err(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_ROW:
  case SQLITE_DONE:
    return 0;
  case SQLITE_FULL:
    return VSS_ERR_FULL;
  case SQLITE_NOMEM:
    return VSS_ERR_NOMEM;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return VSS_ERR_CORRUPT;
  default: /* constraint, busy, I/O, ... */
    return VSS_ERR_STORE;
  }
}

/* Ends a statement's run: reset releases its read lock; bindings may
 * point at the caller's stack, so they are cleared too. Returns `rc` (a
 * VSS code, or a callback's positive stop value) when non-zero, else the
 * reset's verdict. */
static int finish(sqlite3_stmt *st, int rc) {
  int rrc = sqlite3_reset(st);

  (void)sqlite3_clear_bindings(st); /* always SQLITE_OK */
  if (rc != 0) return rc;
  return sq_err(rrc);
}

/* Runs a statement that returns no rows. */
static int step_done(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);

  return finish(st, rc == SQLITE_DONE ? 0 : sq_err(rc));
}

/* ---- binding --------------------------------------------------------- */

/* strnlen is POSIX, not C11: the length of s, or cap when no NUL. */
static size_t bounded_len(const char *s, size_t cap) {
  const char *nul = memchr(s, 0, cap);

  return nul ? (size_t)(nul - s) : cap;
}

#define BIND(expr)                                                             \
  do {                                                                         \
    if ((rc = (expr)) != SQLITE_OK) goto fail;                                 \
  } while (0)

typedef struct key_text {
  char uuid[VSS_UUID_STR_LEN + 1];
} key_text;

static int bind_u64(sqlite3_stmt *st, int i, uint64_t v) {
  return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* Text bound SQLITE_STATIC: the buffers live on the caller's stack until
 * finish() clears the bindings. */
static int bind_text(sqlite3_stmt *st, int i, const char *s, size_t len) {
  return sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC);
}

static int bind_uuid(sqlite3_stmt *st, int i, const vss_uuid *u,
                     char buf[VSS_UUID_STR_LEN + 1]) {
  vss_uuid_format(u, buf);
  return bind_text(st, i, buf, VSS_UUID_STR_LEN);
}

static int bind_hash(sqlite3_stmt *st, int i, const vss_hash *h,
                     char buf[VSS_HASH_HEX_LEN + 1]) {
  vss_hash_hex(h, buf);
  return bind_text(st, i, buf, VSS_HASH_HEX_LEN);
}

/* Schema v5 columns: raw bytes, bound SQLITE_STATIC like the text. */
static int bind_uuid_blob(sqlite3_stmt *st, int i, const vss_uuid *u) {
  return sqlite3_bind_blob(st, i, u->b, (int)sizeof(u->b), SQLITE_STATIC);
}

static int bind_hash_blob(sqlite3_stmt *st, int i, const vss_hash *h) {
  return sqlite3_bind_blob(st, i, h->b, (int)sizeof(h->b), SQLITE_STATIC);
}

/* Binds the key as ?1..?3, the content uuid as text (kt) or, for the
 * availability table, as a BLOB (kt NULL). A bad key is the caller's:
 * VSS_ERR_INVALID (returned as-is; SQLite codes are positive). */
static int bind_key_as(sqlite3_stmt *st, const vss_key *k, key_text *kt) {
  const char *kind = vss_kind_name(k->kind);
  size_t vlen = bounded_len(k->variant, sizeof(k->variant));
  int rc;

  if (!kind || vlen == sizeof(k->variant) ||
      !vss_variant_valid(k->variant, vlen))
    return VSS_ERR_INVALID;
  rc = kt ? bind_uuid(st, 1, &k->content, kt->uuid)
          : bind_uuid_blob(st, 1, &k->content);
  if (rc == SQLITE_OK) rc = bind_text(st, 2, kind, strlen(kind));
  if (rc == SQLITE_OK) rc = bind_text(st, 3, k->variant, vlen);
  return rc;
}

static int bind_key(sqlite3_stmt *st, const vss_key *k, key_text *kt) {
  return bind_key_as(st, k, kt);
}

static int bind_key_blob(sqlite3_stmt *st, const vss_key *k) {
  return bind_key_as(st, k, NULL);
}

/* Maps a bind-phase result (VSS_ERR_INVALID or an SQLite code) and ends
 * the statement's run. */
static int bind_fail(sqlite3_stmt *st, int rc) {
  return finish(st, rc < 0 ? rc : sq_err(rc));
}

/* ---- reading --------------------------------------------------------- */

static int col_text(sqlite3_stmt *st, int i, const char **s, size_t *len) {
  if (sqlite3_column_type(st, i) != SQLITE_TEXT) return VSS_ERR_CORRUPT;
  *s = (const char *)sqlite3_column_text(st, i);
  if (!*s) return VSS_ERR_NOMEM; /* the only way text comes back NULL */
  *len = (size_t)sqlite3_column_bytes(st, i);
  /* An embedded NUL would make C see a shorter string than SQL. The
   * parsers below look at all len bytes, so a NUL fails them; the
   * free-form columns (variant, rel_path, name) check for it. */
  return 0;
}

static int has_nul(const char *s, size_t len) {
  return memchr(s, 0, len) != NULL;
}

static int col_u64(sqlite3_stmt *st, int i, uint64_t *out) {
  if (sqlite3_column_type(st, i) != SQLITE_INTEGER) return VSS_ERR_CORRUPT;
  *out = (uint64_t)sqlite3_column_int64(st, i);
  return 0;
}

static int col_uuid(sqlite3_stmt *st, int i, vss_uuid *out) {
  const char *s;
  size_t len;
  int rc = col_text(st, i, &s, &len);

  if (rc < 0) return rc;
  return vss_uuid_parse(out, s, len) < 0 ? VSS_ERR_CORRUPT : 0;
}

static int col_hash(sqlite3_stmt *st, int i, vss_hash *out) {
  const char *s;
  size_t len;
  int rc = col_text(st, i, &s, &len);

  if (rc < 0) return rc;
  if (len != VSS_HASH_HEX_LEN) return VSS_ERR_CORRUPT;
  return vss_hash_parse_hex(out, s, len) < 0 ? VSS_ERR_CORRUPT : 0;
}

static int col_format(sqlite3_stmt *st, int i, vss_format *out) {
  const char *s;
  size_t len;
  int rc = col_text(st, i, &s, &len);

  if (rc < 0) return rc;
  return vss_format_parse(s, len, out) < 0 ? VSS_ERR_CORRUPT : 0;
}

static int col_status(sqlite3_stmt *st, int i, vss_status *out) {
  const char *s;
  size_t len;
  int rc = col_text(st, i, &s, &len);

  if (rc < 0) return rc;
  return vss_status_parse(s, len, out) < 0 ? VSS_ERR_CORRUPT : 0;
}

/* A BLOB column of exactly len bytes into out; anything else (text, a
 * short or long blob, NULL) is damage. */
static int col_bytes(sqlite3_stmt *st, int i, void *out, size_t len) {
  const void *p;

  if (sqlite3_column_type(st, i) != SQLITE_BLOB) return VSS_ERR_CORRUPT;
  p = sqlite3_column_blob(st, i); /* before _bytes, as SQLite advises */
  if ((size_t)sqlite3_column_bytes(st, i) != len) return VSS_ERR_CORRUPT;
  if (!p) return VSS_ERR_NOMEM;
  memcpy(out, p, len);
  return 0;
}

static int col_uuid_blob(sqlite3_stmt *st, int i, vss_uuid *out) {
  return col_bytes(st, i, out->b, sizeof(out->b));
}

static int col_hash_blob(sqlite3_stmt *st, int i, vss_hash *out) {
  return col_bytes(st, i, out->b, sizeof(out->b));
}

/* The (kind, variant) of the previous row of a scan: a library has a few
 * dozen, so most rows repeat the previous one and skip its validation. */
typedef struct kv_memo {
  int valid, have_dev;
  vss_uuid dev; /* a scan's rows all name the device of meta */
  size_t klen, vlen;
  char kind[16], variant[VSS_VARIANT_MAX];
  vss_kind k;
} kv_memo;

/* Columns i+1, i+2: kind, variant, into out (whose variant is zeroed). */
static int col_kind_variant(sqlite3_stmt *st, int i, kv_memo *m, vss_key *out) {
  const char *ks, *vs;
  size_t klen, vlen;
  int rc;

  if ((rc = col_text(st, i + 1, &ks, &klen)) < 0) return rc;
  if ((rc = col_text(st, i + 2, &vs, &vlen)) < 0) return rc;
  if (m && m->valid && klen == m->klen && vlen == m->vlen &&
      memcmp(ks, m->kind, klen) == 0 && memcmp(vs, m->variant, vlen) == 0) {
    out->kind = m->k;
    memcpy(out->variant, vs, vlen);
    return 0;
  }
  if (vss_kind_parse(ks, klen, &out->kind) < 0) return VSS_ERR_CORRUPT;
  if (vlen > VSS_VARIANT_MAX || has_nul(vs, vlen) ||
      !vss_variant_valid(vs, vlen))
    return VSS_ERR_CORRUPT;
  memcpy(out->variant, vs, vlen);
  if (m && klen <= sizeof(m->kind)) {
    m->valid = 1;
    m->klen = klen;
    m->vlen = vlen;
    memcpy(m->kind, ks, klen);
    memcpy(m->variant, vs, vlen);
    m->k = out->kind;
  }
  return 0;
}

/* Columns i..i+2: content_uuid (text), kind, variant. */
static int col_key(sqlite3_stmt *st, int i, vss_key *out) {
  int rc;

  memset(out, 0, sizeof(*out));
  if ((rc = col_uuid(st, i, &out->content)) < 0) return rc;
  return col_kind_variant(st, i, NULL, out);
}

/* The same with the content uuid as a BLOB (availability, schema v5). */
static int col_key_blob(sqlite3_stmt *st, int i, kv_memo *m, vss_key *out) {
  int rc;

  memset(out, 0, sizeof(*out));
  if ((rc = col_uuid_blob(st, i, &out->content)) < 0) return rc;
  return col_kind_variant(st, i, m, out);
}

/* Copies a text column into a fixed buffer; too long is corrupt. */
static int col_copy(sqlite3_stmt *st, int i, char *buf, size_t cap) {
  const char *s;
  size_t len;
  int rc = col_text(st, i, &s, &len);

  if (rc < 0) return rc;
  if (len >= cap || has_nul(s, len)) return VSS_ERR_CORRUPT;
  memcpy(buf, s, len + 1);
  return 0;
}

static int read_sidecar(sqlite3_stmt *st, vss_sidecar_row *r) {
  uint64_t version;
  int rc;

  memset(r, 0, sizeof(*r));
  if ((rc = col_key(st, 0, &r->key)) < 0) return rc;
  if ((rc = col_format(st, 3, &r->format)) < 0) return rc;
  if ((rc = col_copy(st, 4, r->rel_path, sizeof(r->rel_path))) < 0) return rc;
  if ((rc = col_u64(st, 5, &r->size)) < 0) return rc;
  if ((rc = col_hash(st, 6, &r->checksum)) < 0) return rc;
  if ((rc = col_status(st, 7, &r->status)) < 0) return rc;
  /* NULL source = generated here (nil uuid). */
  if (sqlite3_column_type(st, 8) != SQLITE_NULL &&
      (rc = col_uuid(st, 8, &r->source)) < 0)
    return rc;
  if ((rc = col_u64(st, 9, &version)) < 0) return rc;
  if (version > UINT32_MAX) return VSS_ERR_CORRUPT;
  r->version = (uint32_t)version;
  if ((rc = col_u64(st, 10, &r->created_at)) < 0) return rc;
  return col_u64(st, 11, &r->updated_at);
}

/* The row's fields are all set below: no memset of the ~200-byte row
 * (the key is cleared by col_key_blob). */
static int read_avail(sqlite3_stmt *st, kv_memo *m, vss_avail_row *r) {
  uint64_t has;
  int rc;

  if ((rc = col_key_blob(st, 0, m, &r->key)) < 0) return rc;
  if ((rc = col_format(st, 3, &r->format)) < 0) return rc;
  if (m && m->have_dev) {
    r->device = m->dev;
  } else {
    if ((rc = col_uuid_blob(st, 4, &r->device)) < 0) return rc;
    if (m) {
      m->dev = r->device;
      m->have_dev = 1;
    }
  }
  if ((rc = col_u64(st, 5, &has)) < 0) return rc;
  if (has > 1) return VSS_ERR_CORRUPT;
  r->has = (uint8_t)has;
  if ((rc = col_u64(st, 6, &r->size)) < 0) return rc;
  if ((rc = col_hash_blob(st, 7, &r->checksum)) < 0) return rc;
  if ((rc = col_u64(st, 8, &r->last_seen_at)) < 0) return rc;
  return col_u64(st, 9, &r->seq);
}

static int read_peer(sqlite3_stmt *st, vss_peer_row *r) {
  int rc;

  memset(r, 0, sizeof(*r));
  if ((rc = col_uuid(st, 0, &r->device)) < 0) return rc;
  if ((rc = col_copy(st, 1, r->name, sizeof(r->name))) < 0) return rc;
  if (sqlite3_column_type(st, 2) != SQLITE_BLOB ||
      sqlite3_column_bytes(st, 2) != (int)sizeof(r->pubkey))
    return VSS_ERR_CORRUPT;
  memcpy(r->pubkey, sqlite3_column_blob(st, 2), sizeof(r->pubkey));
  if ((rc = col_u64(st, 3, &r->seen_epoch)) < 0) return rc;
  if ((rc = col_u64(st, 4, &r->seen_seq)) < 0) return rc;
  return col_u64(st, 5, &r->last_seen_at);
}

/* Steps a single-row lookup: 0 with the row decoded, NOT_FOUND, or an
 * error. */
typedef int (*row_reader)(sqlite3_stmt *st, void *out);

static int step_one(sqlite3_stmt *st, row_reader rd, void *out) {
  int rc = sqlite3_step(st);

  if (rc == SQLITE_ROW) return finish(st, rd(st, out));
  if (rc == SQLITE_DONE) return finish(st, VSS_ERR_NOT_FOUND);
  return finish(st, sq_err(rc));
}

static int rd_sidecar(sqlite3_stmt *st, void *out) {
  return read_sidecar(st, out);
}
static int rd_avail(sqlite3_stmt *st, void *out) {
  return read_avail(st, NULL, out);
}
static int rd_peer(sqlite3_stmt *st, void *out) {
  return read_peer(st, out);
}

/* ---- transactions ---------------------------------------------------- */

static int sq_begin(void *ctx) {
  sq_store *q = ctx;

  if (!sqlite3_get_autocommit(q->db)) return VSS_ERR_INVALID; /* no nesting */
  return step_done(q->stmt[ST_BEGIN]);
}

static int sq_commit(void *ctx) {
  sq_store *q = ctx;

  return step_done(q->stmt[ST_COMMIT]);
}

static int sq_rollback(void *ctx) {
  sq_store *q = ctx;

  /* SQLite rolls back by itself on some errors (FULL, IOERR, NOMEM):
   * rolling back what is already gone succeeds. */
  if (sqlite3_get_autocommit(q->db)) return 0;
  return step_done(q->stmt[ST_ROLLBACK]);
}

/* ---- meta ------------------------------------------------------------ */

static int rd_meta(sqlite3_stmt *st, void *out) {
  vss_store_meta *m = out;
  int rc;

  memset(m, 0, sizeof(*m));
  if ((rc = col_uuid_blob(st, 0, &m->device)) < 0) return rc;
  if ((rc = col_u64(st, 1, &m->epoch)) < 0) return rc;
  return col_u64(st, 2, &m->max_seq);
}

static int sq_get_meta(void *ctx, vss_store_meta *out) {
  sq_store *q = ctx;
  int rc = step_one(q->stmt[ST_GET_META], rd_meta, out);

  /* The meta row is made with the schema: its absence is damage. */
  return rc == VSS_ERR_NOT_FOUND ? VSS_ERR_CORRUPT : rc;
}

static int sq_set_meta(void *ctx, const vss_store_meta *m) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_SET_META];
  int rc;

  if (m->epoch > SEQ_MAX || m->max_seq > SEQ_MAX) return VSS_ERR_INVALID;
  BIND(bind_uuid_blob(st, 1, &m->device));
  BIND(bind_u64(st, 2, m->epoch));
  BIND(bind_u64(st, 3, m->max_seq));
  rc = step_done(st);
  if (rc == 0 && sqlite3_changes(q->db) != 1) rc = VSS_ERR_CORRUPT;
  return rc;
fail:
  return bind_fail(st, rc);
}

/* ---- sidecar --------------------------------------------------------- */

static int sq_put_sidecar(void *ctx, const vss_sidecar_row *r) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_PUT_SIDECAR];
  const char *fmt = vss_format_name(r->format);
  const char *status = vss_status_name(r->status);
  size_t plen = bounded_len(r->rel_path, sizeof(r->rel_path));
  char hex[VSS_HASH_HEX_LEN + 1], src[VSS_UUID_STR_LEN + 1];
  key_text kt;
  int rc;

  if (!fmt || !status || plen == sizeof(r->rel_path)) return VSS_ERR_INVALID;
  BIND(bind_key(st, &r->key, &kt));
  BIND(bind_text(st, 4, fmt, strlen(fmt)));
  BIND(bind_text(st, 5, r->rel_path, plen));
  BIND(bind_u64(st, 6, r->size));
  BIND(bind_hash(st, 7, &r->checksum, hex));
  BIND(bind_text(st, 8, status, strlen(status)));
  if (vss_uuid_is_nil(&r->source))
    BIND(sqlite3_bind_null(st, 9));
  else
    BIND(bind_uuid(st, 9, &r->source, src));
  BIND(sqlite3_bind_int64(st, 10, r->version));
  BIND(bind_u64(st, 11, r->created_at));
  BIND(bind_u64(st, 12, r->updated_at));
  return step_done(st);
fail:
  return bind_fail(st, rc);
}

static int sq_get_sidecar(void *ctx, const vss_key *key, vss_sidecar_row *out) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_GET_SIDECAR];
  key_text kt;
  int rc;

  BIND(bind_key(st, key, &kt));
  return step_one(st, rd_sidecar, out);
fail:
  return bind_fail(st, rc);
}

static int sq_del_sidecar(void *ctx, const vss_key *key) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_DEL_SIDECAR];
  key_text kt;
  int rc;

  BIND(bind_key(st, key, &kt));
  rc = step_done(st);
  if (rc == 0 && sqlite3_changes(q->db) == 0) rc = VSS_ERR_NOT_FOUND;
  return rc;
fail:
  return bind_fail(st, rc);
}

/* ---- availability ---------------------------------------------------- */

static int sq_put_avail(void *ctx, const vss_avail_row *r) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_PUT_AVAIL];
  const char *fmt = vss_format_name(r->format);
  int rc;

  if (!fmt || r->has > 1 || r->seq > SEQ_MAX) return VSS_ERR_INVALID;
  BIND(bind_key_blob(st, &r->key));
  BIND(bind_text(st, 4, fmt, strlen(fmt)));
  BIND(bind_uuid_blob(st, 5, &r->device));
  BIND(sqlite3_bind_int(st, 6, r->has));
  BIND(bind_u64(st, 7, r->size));
  BIND(bind_hash_blob(st, 8, &r->checksum));
  BIND(bind_u64(st, 9, r->last_seen_at));
  BIND(bind_u64(st, 10, r->seq));
  return step_done(st);
fail:
  return bind_fail(st, rc);
}

static int sq_get_avail(void *ctx, const vss_key *key, vss_avail_row *out) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_GET_AVAIL];
  int rc;

  BIND(bind_key_blob(st, key));
  return step_one(st, rd_avail, out);
fail:
  return bind_fail(st, rc);
}

/* The callback may call other methods, but not this iterator again: the
 * cached statement is mid-run (VSS_ERR_INVALID). Writing availability
 * rows from the callback is allowed by SQLite but may or may not show
 * up later in the same scan. */
static int sq_iter_avail_since(void *ctx, uint64_t since, vss_avail_iter_cb cb,
                               void *user) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_ITER_AVAIL];
  vss_avail_row row;
  kv_memo kv = {0};
  int rc, src;

  if (!cb) return VSS_ERR_INVALID;
  if (sqlite3_stmt_busy(st)) return VSS_ERR_INVALID;
  if (since >= SEQ_MAX) return 0; /* nothing can be later */
  BIND(bind_u64(st, 1, since));
  rc = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    rc = read_avail(st, &kv, &row);
    if (rc == 0) rc = cb(user, &row);
    if (rc != 0) break;
  }
  if (src != SQLITE_ROW) rc = sq_err(src);
  return finish(st, rc);
fail:
  return bind_fail(st, rc);
}

static int rd_count(sqlite3_stmt *st, void *out) {
  uint64_t *v = out;
  int rc = col_u64(st, 0, &v[0]);

  return rc < 0 ? rc : col_u64(st, 1, &v[1]);
}

static int sq_count_avail(void *ctx, uint64_t *count, uint64_t *bytes) {
  sq_store *q = ctx;
  uint64_t v[2];
  int rc = step_one(q->stmt[ST_COUNT_AVAIL], rd_count, v);

  if (rc < 0) return rc;
  if (count) *count = v[0];
  if (bytes) *bytes = v[1];
  return 0;
}

/* ---- peers ----------------------------------------------------------- */

static int sq_put_peer(void *ctx, const vss_peer_row *r) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_PUT_PEER];
  size_t nlen = bounded_len(r->name, sizeof(r->name));
  char dev[VSS_UUID_STR_LEN + 1];
  int rc;

  if (nlen == sizeof(r->name)) return VSS_ERR_INVALID;
  BIND(bind_uuid(st, 1, &r->device, dev));
  BIND(bind_text(st, 2, r->name, nlen));
  BIND(sqlite3_bind_blob(st, 3, r->pubkey, (int)sizeof(r->pubkey),
                         SQLITE_STATIC));
  BIND(bind_u64(st, 4, r->seen_epoch));
  BIND(bind_u64(st, 5, r->seen_seq));
  BIND(bind_u64(st, 6, r->last_seen_at));
  return step_done(st);
fail:
  return bind_fail(st, rc);
}

static int sq_get_peer(void *ctx, const vss_uuid *device, vss_peer_row *out) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_GET_PEER];
  char dev[VSS_UUID_STR_LEN + 1];
  int rc;

  BIND(bind_uuid(st, 1, device, dev));
  return step_one(st, rd_peer, out);
fail:
  return bind_fail(st, rc);
}

static int sq_del_peer(void *ctx, const vss_uuid *device) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_DEL_PEER];
  char dev[VSS_UUID_STR_LEN + 1];
  int rc;

  BIND(bind_uuid(st, 1, device, dev));
  rc = step_done(st);
  if (rc == 0 && sqlite3_changes(q->db) == 0) rc = VSS_ERR_NOT_FOUND;
  return rc;
fail:
  return bind_fail(st, rc);
}

static int sq_iter_peers(void *ctx, vss_peer_iter_cb cb, void *user) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_ITER_PEERS];
  vss_peer_row row;
  int rc = 0, src;

  if (!cb) return VSS_ERR_INVALID;
  if (sqlite3_stmt_busy(st)) return VSS_ERR_INVALID;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    rc = read_peer(st, &row);
    if (rc == 0) rc = cb(user, &row);
    if (rc != 0) break;
  }
  if (src != SQLITE_ROW) rc = sq_err(src);
  return finish(st, rc);
}

/* ---- chunk-hash lists ------------------------------------------------ */

/* The list is one BLOB of n * 32 raw bytes: a 1 GB sidecar's is 122 KB,
 * read and written whole, never searched. */
static int sq_put_chunks(void *ctx, const vss_key *key, const vss_hash *hashes,
                         uint64_t n) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[n ? ST_PUT_CHUNKS : ST_DEL_CHUNKS];
  key_text kt;
  int rc;

  if (n > (uint64_t)INT64_MAX / VSS_HASH_LEN) return VSS_ERR_TOO_BIG;
  BIND(bind_key(st, key, &kt));
  if (n)
    BIND(sqlite3_bind_blob64(st, 4, hashes, n * VSS_HASH_LEN, SQLITE_STATIC));
  return step_done(st);
fail:
  return bind_fail(st, rc);
}

typedef struct chunks_out {
  vss_hash *out;
  uint64_t cap, n;
} chunks_out;

static int rd_chunks(sqlite3_stmt *st, void *out) {
  chunks_out *co = out;
  const void *p;
  int len;

  if (sqlite3_column_type(st, 0) != SQLITE_BLOB) return VSS_ERR_CORRUPT;
  p = sqlite3_column_blob(st, 0); /* before _bytes, as SQLite advises */
  len = sqlite3_column_bytes(st, 0);
  if (!p || len <= 0 || len % VSS_HASH_LEN) return VSS_ERR_CORRUPT;
  co->n = (uint64_t)len / VSS_HASH_LEN;
  if (co->n > co->cap) return VSS_ERR_BUFFER;
  memcpy(co->out, p, (size_t)len);
  return 0;
}

static int sq_get_chunks(void *ctx, const vss_key *key, vss_hash *out,
                         uint64_t cap, uint64_t *n) {
  sq_store *q = ctx;
  sqlite3_stmt *st = q->stmt[ST_GET_CHUNKS];
  chunks_out co = {out, cap, 0};
  key_text kt;
  int rc;

  BIND(bind_key(st, key, &kt));
  rc = step_one(st, rd_chunks, &co);
  if (rc == 0 || rc == VSS_ERR_BUFFER) *n = co.n;
  return rc;
fail:
  return bind_fail(st, rc);
}

/* ---- resume records (schema v3) -------------------------------------- */

/* Rare (a requested fetch's start, a shutdown): prepared per call rather
 * than cached with the hot statements. */
static int rs_prepare(sq_store *q, const char *sql, sqlite3_stmt **st) {
  return sq_err(sqlite3_prepare_v2(q->db, sql, -1, st, NULL));
}

static int sq_put_resume(void *ctx, const vss_resume_row *r) {
  sq_store *q = ctx;
  const char *fmt = vss_format_name(r->format);
  size_t nlen = bounded_len(r->tmp_name, sizeof(r->tmp_name));
  char hex[VSS_HASH_HEX_LEN + 1];
  key_text kt;
  sqlite3_stmt *st;
  int rc;

  if (!fmt || nlen == sizeof(r->tmp_name) || r->done_len > INT32_MAX)
    return VSS_ERR_INVALID;
  rc =
      rs_prepare(q,
                 "INSERT OR REPLACE INTO xfer_resume (content_uuid, kind, "
                 "variant, format, flags, size, checksum, tmp_name, done, "
                 "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                 &st);
  if (rc) return rc;
  BIND(bind_key(st, &r->key, &kt));
  BIND(bind_text(st, 4, fmt, strlen(fmt)));
  BIND(bind_u64(st, 5, r->flags));
  BIND(bind_u64(st, 6, r->size));
  BIND(bind_hash(st, 7, &r->checksum, hex));
  BIND(bind_text(st, 8, r->tmp_name, nlen));
  if (r->done && r->done_len)
    BIND(sqlite3_bind_blob(st, 9, r->done, (int)r->done_len, SQLITE_STATIC));
  else
    BIND(sqlite3_bind_null(st, 9));
  BIND(bind_u64(st, 10, r->created_at));
  rc = step_done(st);
  sqlite3_finalize(st);
  return rc;
fail:
  rc = bind_fail(st, rc);
  sqlite3_finalize(st);
  return rc;
}

static int sq_del_resume(void *ctx, const vss_key *key) {
  sq_store *q = ctx;
  key_text kt;
  sqlite3_stmt *st;
  int rc = rs_prepare(q,
                      "DELETE FROM xfer_resume WHERE content_uuid = ?1 AND "
                      "kind = ?2 AND variant = ?3",
                      &st);

  if (rc) return rc;
  BIND(bind_key(st, key, &kt));
  rc = step_done(st);
  sqlite3_finalize(st);
  return rc;
fail:
  rc = bind_fail(st, rc);
  sqlite3_finalize(st);
  return rc;
}

static int read_resume(sqlite3_stmt *st, vss_resume_row *r) {
  uint64_t flags;
  int rc;

  memset(r, 0, sizeof(*r));
  if ((rc = col_key(st, 0, &r->key)) < 0) return rc;
  if ((rc = col_format(st, 3, &r->format)) < 0) return rc;
  if ((rc = col_u64(st, 4, &flags)) < 0) return rc;
  if (flags > UINT32_MAX) return VSS_ERR_CORRUPT;
  r->flags = (uint32_t)flags;
  if ((rc = col_u64(st, 5, &r->size)) < 0) return rc;
  if ((rc = col_hash(st, 6, &r->checksum)) < 0) return rc;
  if ((rc = col_copy(st, 7, r->tmp_name, sizeof(r->tmp_name))) < 0) return rc;
  if (sqlite3_column_type(st, 8) == SQLITE_BLOB) {
    r->done = sqlite3_column_blob(st, 8);
    r->done_len = (uint64_t)sqlite3_column_bytes(st, 8);
  } else if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
    return VSS_ERR_CORRUPT;
  }
  return col_u64(st, 9, &r->created_at);
}

/* A record that does not parse is reported as VSS_ERR_CORRUPT to the
 * callback's caller only after the good ones: one bad row must not hide
 * every other interrupted request. */
static int sq_iter_resume(void *ctx, vss_resume_iter_cb cb, void *user) {
  sq_store *q = ctx;
  sqlite3_stmt *st;
  vss_resume_row row;
  int rc, src, bad = 0;

  if (!cb) return VSS_ERR_INVALID;
  rc = rs_prepare(q,
                  "SELECT content_uuid, kind, variant, format, flags, size, "
                  "checksum, tmp_name, done, created_at FROM xfer_resume "
                  "ORDER BY created_at",
                  &st);
  if (rc) return rc;
  rc = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (read_resume(st, &row) < 0) {
      bad = 1;
      continue;
    }
    if ((rc = cb(user, &row)) != 0) break;
  }
  if (rc == 0 && src != SQLITE_DONE) rc = sq_err(src);
  sqlite3_finalize(st);
  return rc ? rc : bad ? VSS_ERR_CORRUPT : 0;
}

/* ---- lifetime -------------------------------------------------------- */

static void sq_free(sq_store *q) {
  size_t i;

  for (i = 0; i < ST_COUNT; i++)
    (void)sqlite3_finalize(q->stmt[i]); /* reports the last step's error */
  /* close_v2 cannot fail with BUSY: every statement is finalized above.
   * An open transaction is rolled back. */
  (void)sqlite3_close_v2(q->db);
  free(q);
}

/* ---- tombstone compaction -------------------------------------------- */

/* Rare calls (a gossip round at most): statements prepared per call. */
static int sq_run_u64(sq_store *q, const char *sql, const uint64_t *args,
                      int nargs, uint64_t *out) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL), src;

  if (rc != SQLITE_OK) return sq_err(rc);
  for (int i = 0; i < nargs; i++)
    if ((rc = bind_u64(st, i + 1, args[i])) != SQLITE_OK) {
      sqlite3_finalize(st);
      return rc < 0 ? rc : sq_err(rc);
    }
  src = sqlite3_step(st);
  rc = 0;
  if (src == SQLITE_ROW && out)
    rc = col_u64(st, 0, out);
  else if (src != SQLITE_ROW && src != SQLITE_DONE)
    rc = sq_err(src);
  sqlite3_finalize(st);
  return rc;
}

static int sq_get_tomb_floor(void *ctx, uint64_t *floor) {
  return sq_run_u64(ctx, "SELECT tomb_floor FROM meta WHERE id = 1", NULL, 0,
                    floor);
}

static int compact_locked(sq_store *q, uint64_t upto, uint64_t *removed) {
  uint64_t floor, args[2];
  int rc = sq_get_tomb_floor(q, &floor);

  if (rc < 0 || upto <= floor) return rc;
  args[0] = floor;
  args[1] = upto;
  rc = sq_run_u64(q,
                  "DELETE FROM sidecar_availability WHERE seq > ?1 AND "
                  "seq <= ?2 AND has = 0 AND " OWN_DEVICE,
                  args, 2, NULL);
  if (rc < 0) return rc;
  *removed = (uint64_t)sqlite3_changes(q->db);
  return sq_run_u64(q, "UPDATE meta SET tomb_floor = ?1 WHERE id = 1", &upto, 1,
                    NULL);
}

static int sq_compact_avail(void *ctx, uint64_t upto, uint64_t *removed) {
  sq_store *q = ctx;
  int own = sqlite3_get_autocommit(q->db), rc;

  *removed = 0;
  if (upto > SEQ_MAX) return VSS_ERR_INVALID;
  if (own && (rc = sq_begin(q)) < 0) return rc;
  rc = compact_locked(q, upto, removed);
  if (own) {
    if (rc == 0) rc = sq_commit(q);
    if (rc < 0) (void)sq_rollback(q);
  }
  if (rc < 0) *removed = 0;
  return rc;
}

static void sq_close(void *ctx) {
  sq_free(ctx);
}

static const vss_store_methods sq_methods = {
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .get_meta = sq_get_meta,
    .set_meta = sq_set_meta,
    .put_sidecar = sq_put_sidecar,
    .get_sidecar = sq_get_sidecar,
    .del_sidecar = sq_del_sidecar,
    .put_avail = sq_put_avail,
    .get_avail = sq_get_avail,
    .iter_avail_since = sq_iter_avail_since,
    .count_avail = sq_count_avail,
    .put_peer = sq_put_peer,
    .get_peer = sq_get_peer,
    .del_peer = sq_del_peer,
    .iter_peers = sq_iter_peers,
    .put_chunks = sq_put_chunks,
    .get_chunks = sq_get_chunks,
    .close = sq_close,
    .compact_avail = sq_compact_avail,
    .get_tomb_floor = sq_get_tomb_floor,
    .put_resume = sq_put_resume,
    .del_resume = sq_del_resume,
    .iter_resume = sq_iter_resume,
};

/* ---- schema ---------------------------------------------------------- */

/* Version 1. Tables per DESIGN.md, plus: `format` and `seq` on
 * sidecar_availability (a digest entry needs the format; deltas scan
 * seq > since through its index), `meta` (one row) and `peer`. */
static const char schema_v1[] =
    "CREATE TABLE meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " device_uuid TEXT NOT NULL,"
    " epoch INTEGER NOT NULL,"
    " max_seq INTEGER NOT NULL);"
    "CREATE TABLE sidecar ("
    " id INTEGER PRIMARY KEY,"
    " content_uuid TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " variant TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " rel_path TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " checksum TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " source TEXT,"
    " version INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (content_uuid, kind, variant));"
    "CREATE TABLE sidecar_availability ("
    " id INTEGER PRIMARY KEY,"
    " content_uuid TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " variant TEXT NOT NULL,"
    " device_uuid TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " has INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " checksum TEXT NOT NULL,"
    " last_seen_at INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " UNIQUE (content_uuid, kind, variant, device_uuid));"
    "CREATE INDEX sidecar_availability_seq ON sidecar_availability (seq);"
    "CREATE TABLE peer ("
    " device_uuid TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " pubkey BLOB NOT NULL,"
    " seen_epoch INTEGER NOT NULL,"
    " seen_seq INTEGER NOT NULL,"
    " last_seen_at INTEGER NOT NULL);";

static int migrate_v1(sqlite3 *db) {
  return sqlite3_exec(db, schema_v1, NULL, NULL, NULL);
}

/* Version 2: the chunk-hash list of each multi-chunk sidecar, written in
 * the sidecar row's transaction, so that serving META does not read and
 * hash the whole blob (~1.7 s/GB, long enough for the requester to give
 * up on the source). Rows of version 1 have no list: the server computes
 * it on first use and keeps it. Keyed like `sidecar`; WITHOUT ROWID
 * since the key is the only way in. */
static const char schema_v2[] = "CREATE TABLE sidecar_chunks ("
                                " content_uuid TEXT NOT NULL,"
                                " kind TEXT NOT NULL,"
                                " variant TEXT NOT NULL,"
                                " hashes BLOB NOT NULL,"
                                " PRIMARY KEY (content_uuid, kind, variant)"
                                ") WITHOUT ROWID;";

static int migrate_v2(sqlite3 *db) {
  return sqlite3_exec(db, schema_v2, NULL, NULL, NULL);
}

/* Version 3: resume records of interrupted transfers (store.h,
 * vss_resume_row). Keyed like `sidecar`. */
static const char schema_v3_resume[] =
    "CREATE TABLE xfer_resume ("
    " content_uuid TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " variant TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " flags INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " checksum TEXT NOT NULL,"
    " tmp_name TEXT NOT NULL,"
    " done BLOB,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (content_uuid, kind, variant)"
    ") WITHOUT ROWID;";

static int migrate_v3_resume(sqlite3 *db) {
  return sqlite3_exec(db, schema_v3_resume, NULL, NULL, NULL);
}

/* Version 4: the tombstone floor (see sq_compact_avail). */
static int migrate_v4_tomb_floor(sqlite3 *db) {
  return sqlite3_exec(
      db, "ALTER TABLE meta ADD COLUMN tomb_floor INTEGER NOT NULL DEFAULT 0",
      NULL, NULL, NULL);
}

/* Version 5: the availability table and meta hold uuids and checksums
 * as BLOBs (see the top of the file). SQLite cannot change a column's
 * type: both tables are copied into new ones through vss_blob16/32,
 * dropped and renamed, in the migration's transaction (a crash anywhere
 * in it leaves version 4 as it was). A value that does not parse is
 * copied as it is and reads back as VSS_ERR_CORRUPT, as it did before:
 * one hand-edited row must not make the database unopenable. */
void (*vss__sqlite_migrate_hook)(int step);

static void fn_blob(sqlite3_context *c, int argc, sqlite3_value **v) {
  size_t want = (size_t)(uintptr_t)sqlite3_user_data(c);
  const char *s;
  size_t len;
  vss_uuid u;
  vss_hash h;
  int ok;

  (void)argc;
  if (sqlite3_value_type(v[0]) != SQLITE_TEXT) {
    sqlite3_result_value(c, v[0]); /* already a blob, or damage */
    return;
  }
  s = (const char *)sqlite3_value_text(v[0]);
  len = (size_t)sqlite3_value_bytes(v[0]);
  if (!s) {
    sqlite3_result_error_nomem(c);
    return;
  }
  if (want == sizeof(u.b))
    ok = vss_uuid_parse(&u, s, len) == 0;
  else
    ok = len == VSS_HASH_HEX_LEN && vss_hash_parse_hex(&h, s, len) == 0;
  if (!ok)
    sqlite3_result_value(c, v[0]);
  else
    sqlite3_result_blob(c, want == sizeof(u.b) ? (void *)u.b : (void *)h.b,
                        (int)want, SQLITE_TRANSIENT);
}

static const char *const migrate_v5_sql[] = {
    "CREATE TABLE v5_meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " device_uuid BLOB NOT NULL,"
    " epoch INTEGER NOT NULL,"
    " max_seq INTEGER NOT NULL,"
    " tomb_floor INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO v5_meta (id, device_uuid, epoch, max_seq, tomb_floor) "
    "SELECT id, vss_blob16(device_uuid), epoch, max_seq, tomb_floor "
    "FROM meta",
    "CREATE TABLE v5_avail ("
    " id INTEGER PRIMARY KEY,"
    " content_uuid BLOB NOT NULL,"
    " kind TEXT NOT NULL,"
    " variant TEXT NOT NULL,"
    " device_uuid BLOB NOT NULL,"
    " format TEXT NOT NULL,"
    " has INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " checksum BLOB NOT NULL,"
    " last_seen_at INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " UNIQUE (content_uuid, kind, variant, device_uuid))",
    "INSERT INTO v5_avail (id, content_uuid, kind, variant, device_uuid, "
    "format, has, size, checksum, last_seen_at, seq) "
    "SELECT id, vss_blob16(content_uuid), kind, variant, "
    "vss_blob16(device_uuid), format, has, size, vss_blob32(checksum), "
    "last_seen_at, seq FROM sidecar_availability",
    "DROP TABLE sidecar_availability",
    "DROP TABLE meta",
    "ALTER TABLE v5_avail RENAME TO sidecar_availability",
    "ALTER TABLE v5_meta RENAME TO meta",
    "CREATE INDEX sidecar_availability_seq ON sidecar_availability (seq)",
};

static int blob_fns(sqlite3 *db, int on) {
  static const struct {
    const char *name;
    uintptr_t len;
  } fns[] = {{"vss_blob16", 16}, {"vss_blob32", VSS_HASH_LEN}};
  int rc = SQLITE_OK;

  for (size_t i = 0; i < 2 && rc == SQLITE_OK; i++)
    rc = sqlite3_create_function(
        db, fns[i].name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
        (void *)fns[i].len, on ? fn_blob : NULL, NULL, NULL);
  return rc;
}

static int migrate_v5_blobs(sqlite3 *db) {
  int rc = blob_fns(db, 1);

  for (size_t i = 0; rc == SQLITE_OK &&
                     i < sizeof(migrate_v5_sql) / sizeof(migrate_v5_sql[0]);
       i++) {
    rc = sqlite3_exec(db, migrate_v5_sql[i], NULL, NULL, NULL);
    if (rc == SQLITE_OK && vss__sqlite_migrate_hook)
      vss__sqlite_migrate_hook((int)i + 1);
  }
  (void)blob_fns(db, 0); /* the schema never refers to them */
  return rc;
}

/* migrations[v] takes a database from version v - 1 to v. A new version
 * appends a function; released ones never change. */
typedef int (*migration_fn)(sqlite3 *db);
static const migration_fn migrations[SCHEMA_VERSION + 1] = {
    [1] = migrate_v1,        [2] = migrate_v2,
    [3] = migrate_v3_resume, [4] = migrate_v4_tomb_floor,
    [5] = migrate_v5_blobs,
};

/* ---- open ------------------------------------------------------------ */

typedef struct opener {
  sqlite3 *db;
  const char *path;
  char *errbuf;
  size_t errcap;
} opener;

/* Records "path: why" and passes rc through. */
static int open_err(opener *o, int rc, const char *why) {
  if (o->errbuf && o->errcap)
    snprintf(o->errbuf, o->errcap, "%s: %s", o->path, why);
  return rc;
}

static int open_sqlite_err(opener *o, int src) {
  const char *msg = o->db ? sqlite3_errmsg(o->db) : sqlite3_errstr(src);

  return open_err(o, sq_err(src) < 0 ? sq_err(src) : VSS_ERR_STORE, msg);
}

static int exec(opener *o, const char *sql) {
  int rc = sqlite3_exec(o->db, sql, NULL, NULL, NULL);

  return rc == SQLITE_OK ? 0 : open_sqlite_err(o, rc);
}

/* A single-integer or single-text PRAGMA: the value lands in *iv or, when
 * txt is non-NULL, as text in txt[cap]. */
static int pragma(opener *o, const char *sql, int *iv, char *txt, size_t cap) {
  sqlite3_stmt *st;
  const unsigned char *s;
  int rc = sqlite3_prepare_v2(o->db, sql, -1, &st, NULL);

  if (txt && cap) txt[0] = '\0';
  if (rc != SQLITE_OK) return open_sqlite_err(o, rc);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (iv) *iv = sqlite3_column_int(st, 0);
    s = sqlite3_column_text(st, 0);
    if (txt) snprintf(txt, cap, "%s", s ? (const char *)s : "");
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK; /* no row: *iv untouched, txt empty */
  }
  if (rc != SQLITE_OK) {
    rc = open_sqlite_err(o, rc);
    (void)sqlite3_finalize(st);
    return rc;
  }
  rc = sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : open_sqlite_err(o, rc);
}

static int check_version(opener *o, int *version) {
  char msg[96];
  int rc = pragma(o, "PRAGMA user_version", version, NULL, 0);

  if (rc < 0) return rc;
  if (*version < 0 || *version > SCHEMA_VERSION) {
    snprintf(msg, sizeof(msg), "schema version %d, this build knows up to %d",
             *version, SCHEMA_VERSION);
    return open_err(o, VSS_ERR_VERSION, msg);
  }
  return 0;
}

/* WAL + synchronous=NORMAL: a commit is an append to the WAL with no
 * fsync, synced at checkpoints. That is durable against an application
 * crash (the OS keeps the pages) and atomic against power loss (the
 * newest commits may be lost, never torn). The transfer path fsyncs blob
 * bytes itself before set_local, so a lost commit means a sidecar is
 * re-announced, never a READY row without bytes. WAL also lets readers
 * (CLI, diagnostics) run alongside the daemon. */
static int set_journal(opener *o) {
  char mode[16];
  int rc = pragma(o, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));

  if (rc < 0) return rc;
  /* ":memory:" stays "memory"; a file that cannot do WAL (no shared
   * memory on its file system) keeps its old mode: refuse it rather
   * than run with different crash guarantees. */
  if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
    return open_err(o, VSS_ERR_STORE, "cannot enable WAL journal mode");
  return exec(o, "PRAGMA synchronous = NORMAL");
}

/* 8 MiB of page cache instead of SQLite's 2 MiB default: a batch of
 * set_local calls (a scan importing a library) otherwise spills dirty
 * pages to the WAL and reads them back; measured +50% rows/s of CPU on
 * 100K rows. Small enough for a phone. */
/* A full digest reads the whole availability table in seq order: through
 * a memory map, pages are not copied out of the OS cache one pread at a
 * time (that was ~40% of a cold first contact's CPU, all of it system
 * time). Reads only: writes still go through the WAL. SQLite caps it at
 * its compile-time maximum; where mapping fails it reads as before. */
static int set_mmap(opener *o) {
  return exec(o, "PRAGMA mmap_size = 1073741824");
}

static int set_cache(opener *o) {
  int rc = exec(o, "PRAGMA cache_size = -8192");
  return rc ? rc : set_mmap(o);
}

static int insert_meta(opener *o, const vss_uuid *device) {
  char sql[160];
  int n;

  if (!device)
    return open_err(o, VSS_ERR_INVALID, "a new database needs a device id");
  n = snprintf(sql, sizeof(sql),
               "INSERT INTO meta (id, device_uuid, epoch, max_seq) "
               "VALUES (1, x'");
  for (size_t i = 0; i < sizeof(device->b); i++)
    n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%02x", device->b[i]);
  snprintf(sql + n, sizeof(sql) - (size_t)n, "', 1, 0)");
  return exec(o, sql);
}

/* Compares the stored identity with the caller's: a database belongs to
 * one device, and silently re-labelling its rows would tell peers we
 * hold what another device holds. */
static int check_meta(opener *o, const vss_uuid *device) {
  /* Room for more than a uuid, so an over-long value fails to parse
   * instead of being cut to a valid-looking one. */
  char stored[64], want[VSS_UUID_STR_LEN + 1];
  char msg[160];
  vss_uuid u;
  int rc;

  /* A 16-byte BLOB since v5: read as 32 hex digits, the uuid's bytes. */
  rc = pragma(o,
              "SELECT CASE WHEN typeof(device_uuid) = 'blob' AND "
              "length(device_uuid) = 16 THEN hex(device_uuid) END "
              "FROM meta WHERE id = 1",
              NULL, stored, sizeof(stored));
  if (rc < 0) return rc;
  if (strlen(stored) != 32 || vss_uuid_parse(&u, stored, 32) < 0)
    return open_err(o, VSS_ERR_CORRUPT, "meta row missing or damaged");
  vss_uuid_format(&u, stored);
  if (!device || vss_uuid_cmp(&u, device) == 0) return 0;
  vss_uuid_format(device, want);
  snprintf(msg, sizeof(msg), "database belongs to device %s, not %s", stored,
           want);
  return open_err(o, VSS_ERR_INVALID, msg);
}

/* Applies every missing migration and the meta row in one transaction;
 * the version is read again under the write lock in case another
 * process migrated first. */
static int migrate_locked(opener *o, const vss_uuid *device) {
  char sql[48];
  int version, v, rc;

  if ((rc = check_version(o, &version)) < 0) return rc;
  for (v = version + 1; v <= SCHEMA_VERSION; v++) {
    rc = migrations[v](o->db);
    if (rc != SQLITE_OK) return open_sqlite_err(o, rc);
  }
  if (version < SCHEMA_VERSION) {
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
    if ((rc = exec(o, sql)) < 0) return rc;
  }
  /* The meta row is born with the schema, in this same transaction: an
   * existing database without one lost its identity and sequence state,
   * which must not be papered over with a fresh epoch 1 / seq 0. */
  return version == 0 ? insert_meta(o, device) : check_meta(o, device);
}

static int migrate(opener *o, const vss_uuid *device) {
  int rc = exec(o, "BEGIN IMMEDIATE");

  if (rc < 0) return rc;
  rc = migrate_locked(o, device);
  if (rc == 0) return exec(o, "COMMIT");
  if (!sqlite3_get_autocommit(o->db))
    (void)sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL); /* rc wins */
  return rc;
}

static int prepare_all(opener *o, sq_store *q) {
  size_t i;
  int rc;

  for (i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(o->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                            &q->stmt[i], NULL);
    if (rc != SQLITE_OK) return open_sqlite_err(o, rc);
  }
  return 0;
}

static int setup(opener *o, const vss_uuid *device) {
  int version, rc;

  (void)sqlite3_extended_result_codes(o->db, 1);
  /* Another process (CLI, a second daemon) may hold the lock briefly;
   * SQLite waits inside its own busy handler, not on our clock. */
  rc = sqlite3_busy_timeout(o->db, BUSY_TIMEOUT_MS);
  if (rc != SQLITE_OK) return open_sqlite_err(o, rc);
  /* Refuse a newer schema before touching the file's journal mode. */
  if ((rc = check_version(o, &version)) < 0) return rc;
  if ((rc = set_journal(o)) < 0) return rc;
  if ((rc = set_cache(o)) < 0) return rc;
  return migrate(o, device);
}

int vss_store_sqlite_open(vss_store **out, const char *path,
                          const vss_uuid *device, char *errbuf, size_t errcap) {
  opener o = {NULL, path, errbuf, errcap};
  sq_store *q;
  int rc;

  if (errbuf && errcap) errbuf[0] = '\0';
  if (!out || !path) return VSS_ERR_INVALID;
  q = calloc(1, sizeof(*q));
  if (!q) return VSS_ERR_NOMEM;
  /* NOMUTEX: a vss_store is used by one thread at a time (the core is
   * single-threaded), so SQLite's per-connection mutex is pure cost.
   * URI: a path "file:..." is an SQLite URI (the test harness opens
   * in-memory databases that way, e.g. "file:/n0?vfs=memdb"). */
  rc = sqlite3_open_v2(path, &q->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                       NULL);
  o.db = q->db;
  if (rc != SQLITE_OK)
    rc = open_sqlite_err(&o, rc);
  else
    rc = setup(&o, device);
  if (rc == 0) rc = prepare_all(&o, q);
  if (rc == 0) rc = vss_store_new(out, &sq_methods, q);
  if (rc < 0) sq_free(q);
  return rc;
}
