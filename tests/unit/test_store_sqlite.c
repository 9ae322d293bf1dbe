/*
 * test_store_sqlite.c - the SQLite store on files: persistence across
 * reopen, WAL mode, schema versions, damaged files and rows, and a 100K
 * row run that also prints throughput figures.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_sqlite.h"
#include "vss/store.h"

typedef struct fx {
  char dir[64];
  char db[128];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  strcpy(f->dir, "/tmp/vss-test-store-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->db, sizeof(f->db), "%s/vss.db", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char p[160];
  static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
  size_t i;

  for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", f->db, sfx[i]);
    (void)unlink(p);
  }
  snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
  (void)unlink(p);
  assert_int_equal(rmdir(f->dir), 0);
  free(f);
  return 0;
}

static vss_uuid uuid_n(uint32_t n) {
  vss_uuid u;

  memset(&u, 0, sizeof(u));
  u.b[0] = 0x5e;
  u.b[12] = (uint8_t)(n >> 24);
  u.b[13] = (uint8_t)(n >> 16);
  u.b[14] = (uint8_t)(n >> 8);
  u.b[15] = (uint8_t)n;
  return u;
}

static vss_sidecar_row row_n(uint32_t n) {
  static const char *const variants[] = {"grid@1x", "grid@2x", "detail@1x"};
  vss_sidecar_row r;
  vss_uuid c = uuid_n(n / 3);

  memset(&r, 0, sizeof(r));
  assert_int_equal(vss_key_set(&r.key, &c, VSS_KIND_THUMB, variants[n % 3]), 0);
  r.format = VSS_FMT_WEBP;
  r.size = 45000 + n;
  assert_int_equal(vss_checksum_buffer(&n, sizeof(n), &r.checksum), 0);
  r.version = 1;
  return r;
}

static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static vss_store *open_ok(const char *path, const vss_uuid *dev) {
  vss_store *s = NULL;
  char err[256];
  int rc = vss_store_sqlite_open(&s, path, dev, err, sizeof(err));

  if (rc != 0) fail_msg("open %s: %d %s", path, rc, err);
  return s;
}

/* Runs one SQL statement on a second, raw connection. */
static void raw_exec(const char *path, const char *sql) {
  sqlite3 *db;

  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void raw_text(const char *path, const char *sql, char *out, size_t cap) {
  sqlite3 *db;
  sqlite3_stmt *st;

  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

typedef struct counter {
  uint64_t n, last_seq;
  int ordered;
} counter;

static int count_rows(void *user, const vss_avail_row *r) {
  counter *c = user;

  if (r->seq <= c->last_seq) c->ordered = 0;
  c->last_seq = r->seq;
  c->n++;
  return 0;
}

/* ---- persistence ----------------------------------------------------- */

static void test_reopen(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(0xd00d), other = uuid_n(0xbad);
  vss_store *s;
  vss_store_meta meta;
  vss_sidecar_row r, got;
  vss_peer_row p, pgot;
  counter c = {0, 0, 1};
  char err[256];
  uint32_t i;

  s = open_ok(f->db, &dev);
  for (i = 0; i < 5; i++) {
    r = row_n(i);
    assert_int_equal(vss_store_set_local(s, &r, 1, 1000 + i), 0);
  }
  r = row_n(4);
  assert_int_equal(vss_store_set_local(s, &r, 0, 2000), 0);
  assert_int_equal(vss_store_new_epoch(s), 0);
  memset(&p, 0, sizeof(p));
  p.device = other;
  strcpy(p.name, "phone");
  p.seen_epoch = 3;
  p.seen_seq = 99;
  assert_int_equal(vss_store_put_peer(s, &p), 0);
  vss_store_del(s);

  s = open_ok(f->db, NULL); /* keeps its device */
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(vss_uuid_cmp(&meta.device, &dev), 0);
  assert_int_equal(meta.epoch, 2);
  assert_int_equal(meta.max_seq, 6);
  assert_int_equal(vss_store_iter_avail_since(s, 0, count_rows, &c), 0);
  assert_int_equal(c.n, 5);
  assert_true(c.ordered);
  r = row_n(2);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), 0);
  assert_int_equal(got.size, r.size);
  assert_int_equal(got.created_at, 1002);
  r = row_n(4);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_store_get_peer(s, &other, &pgot), 0);
  assert_memory_equal(&pgot, &p, sizeof(p));
  /* The next change continues the sequence. */
  r = row_n(7);
  assert_int_equal(vss_store_set_local(s, &r, 1, 3000), 0);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 7);
  vss_store_del(s);

  vss_store_del(open_ok(f->db, &dev)); /* same device: fine */
  s = NULL;
  assert_int_equal(vss_store_sqlite_open(&s, f->db, &other, err, sizeof(err)),
                   VSS_ERR_INVALID);
  assert_null(s);
  assert_non_null(strstr(err, f->db));
  assert_non_null(strstr(err, "belongs to device"));
}

static void test_new_needs_device(void **state) {
  fx *f = *state;
  vss_store *s = NULL;
  char err[256];

  assert_int_equal(vss_store_sqlite_open(&s, f->db, NULL, err, sizeof(err)),
                   VSS_ERR_INVALID);
  assert_null(s);
  assert_non_null(strstr(err, "device"));
}

static void test_wal_mode(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(1);
  vss_store *s = open_ok(f->db, &dev);
  vss_sidecar_row r = row_n(1);
  char mode[32];

  assert_int_equal(vss_store_set_local(s, &r, 1, 1), 0);
  /* Checked from a second handle while the store is open. */
  raw_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
  assert_string_equal(mode, "wal");
  raw_text(f->db, "PRAGMA user_version", mode, sizeof(mode));
  assert_string_equal(mode, "5");
  raw_text(f->db,
           "SELECT kind || ' ' || format || ' ' || length(checksum) "
           "FROM sidecar_availability WHERE typeof(checksum) = 'blob' AND "
           "typeof(device_uuid) = 'blob' AND typeof(content_uuid) = 'blob'",
           mode, sizeof(mode));
  assert_string_equal(mode, "thumb webp 32");
  vss_store_del(s);
}

static void test_memory_db(void **state) {
  vss_uuid dev = uuid_n(1);
  vss_store_meta meta;
  vss_store *s = open_ok(":memory:", &dev);

  (void)state;
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.epoch, 1);
  vss_store_del(s);
}

/* ---- versions and damage --------------------------------------------- */

static void test_newer_version(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(1);
  vss_store *s = NULL;
  char err[256];

  vss_store_del(open_ok(f->db, &dev));
  raw_exec(f->db, "PRAGMA user_version = 99");
  assert_int_equal(vss_store_sqlite_open(&s, f->db, &dev, err, sizeof(err)),
                   VSS_ERR_VERSION);
  assert_null(s);
  assert_non_null(strstr(err, f->db));
  assert_non_null(strstr(err, "version 99"));
}

/* Resume records (schema v3): written, replaced, listed in creation
 * order with their bitmaps, deleted; a version 2 database (made here by
 * rolling a new one back by hand to what version 2 had) gains the table
 * on open and keeps its rows. */
static int collect_resume(void *user, const vss_resume_row *row) {
  vss_resume_row *out = user;
  int i = 0;
  while (out[i].created_at)
    i++;
  out[i] = *row;
  out[i].done = NULL;
  /* done is only valid during the call: its first byte is added to
   * size for the checks below. */
  if (row->done && row->done_len) out[i].size += row->done[0];
  return 0;
}

static void test_resume_records(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(9);
  vss_store *s = open_ok(f->db, &dev);
  vss_sidecar_row r = row_n(1);
  vss_resume_row rr, got[4];
  uint8_t bits[3] = {0x05, 0, 0x80};
  char out[64];

  assert_int_equal(vss_store_set_local(s, &r, 1, 1), 0);
  vss_store_del(s);
  /* Back to version 2 as released: no xfer_resume table. */
  raw_exec(f->db, "DROP TABLE xfer_resume; ALTER TABLE meta DROP COLUMN "
                  "tomb_floor; PRAGMA user_version = 2;");
  s = open_ok(f->db, &dev);
  raw_text(f->db, "PRAGMA user_version", out, sizeof(out));
  assert_string_equal(out, "5");
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &(vss_sidecar_row){0}), 0);

  memset(&rr, 0, sizeof(rr));
  rr.key = row_n(2).key;
  rr.format = VSS_FMT_MP4;
  rr.flags = 1;
  rr.created_at = 10;
  assert_int_equal(vss_store_put_resume(s, &rr), 0); /* nothing known yet */
  rr.key = row_n(3).key;
  rr.size = 3 * VSS_CHUNK_SIZE - 1000;
  rr.checksum = r.checksum;
  strcpy(rr.tmp_name, "kept-1");
  rr.done = bits;
  rr.done_len = sizeof(bits);
  rr.created_at = 20;
  assert_int_equal(vss_store_put_resume(s, &rr), 0);
  rr.created_at = 5; /* replaced: now first */
  assert_int_equal(vss_store_put_resume(s, &rr), 0);
  memset(got, 0, sizeof(got));
  assert_int_equal(vss_store_iter_resume(s, collect_resume, got), 0);
  assert_int_equal(got[0].created_at, 5);
  assert_int_equal(got[0].size, rr.size + 0x05);
  assert_string_equal(got[0].tmp_name, "kept-1");
  assert_true(vss_hash_eq(&got[0].checksum, &r.checksum));
  assert_int_equal(got[1].created_at, 10);
  assert_int_equal(got[1].size, 0);
  assert_int_equal(got[1].format, VSS_FMT_MP4);
  assert_int_equal(got[1].flags, 1);
  assert_int_equal(got[2].created_at, 0);
  assert_int_equal(vss_store_del_resume(s, &rr.key), 0);
  assert_int_equal(vss_store_del_resume(s, &rr.key), 0); /* none: fine */
  memset(got, 0, sizeof(got));
  assert_int_equal(vss_store_iter_resume(s, collect_resume, got), 0);
  assert_int_equal(got[0].created_at, 10);
  assert_int_equal(got[1].created_at, 0);
  vss_store_del(s);
}

/* The version 1 schema as released, written here by hand: the migration
 * must take a database made by that build, not one made by this one. */
static const char v1_ddl[] =
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

/* A version 1 database (no chunk lists) opens as version 2: its rows
 * still read, it gains the sidecar_chunks table, and a damaged list in
 * it reads as corrupt, never as a short list. */
static void test_migrate_v1(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(0xd00d);
  vss_store *s;
  vss_store_meta meta;
  vss_sidecar_row r = row_n(5), got;
  vss_avail_row a;
  vss_hash hs[3], back[3];
  char sql[1024], dtext[VSS_UUID_STR_LEN + 1], ctext[VSS_UUID_STR_LEN + 1];
  char hex[VSS_HASH_HEX_LEN + 1], out[64];
  uint64_t n = 0;

  vss_uuid_format(&dev, dtext);
  vss_uuid_format(&r.key.content, ctext);
  vss_hash_hex(&r.checksum, hex);
  raw_exec(f->db, v1_ddl);
  snprintf(sql, sizeof(sql),
           "INSERT INTO meta VALUES (1, '%s', 3, 7);"
           "INSERT INTO sidecar (content_uuid, kind, variant, format, "
           "rel_path, size, checksum, status, source, version, created_at, "
           "updated_at) VALUES ('%s', 'thumb', '%s', 'webp', 'p', %llu, "
           "'%s', 'ready', NULL, 1, 11, 12);"
           "INSERT INTO sidecar_availability (content_uuid, kind, variant, "
           "device_uuid, format, has, size, checksum, last_seen_at, seq) "
           "VALUES ('%s', 'thumb', '%s', '%s', 'webp', 1, %llu, '%s', 12, 7);"
           "PRAGMA user_version = 1;",
           dtext, ctext, r.key.variant, (unsigned long long)r.size, hex, ctext,
           r.key.variant, dtext, (unsigned long long)r.size, hex);
  raw_exec(f->db, sql);

  s = open_ok(f->db, &dev);
  raw_text(f->db, "PRAGMA user_version", out, sizeof(out));
  assert_string_equal(out, "5");
  raw_text(f->db,
           "SELECT count(*) FROM sqlite_master WHERE name = 'xfer_resume'", out,
           sizeof(out));
  assert_string_equal(out, "1");
  raw_text(f->db,
           "SELECT count(*) FROM sqlite_master WHERE name = 'sidecar_chunks'",
           out, sizeof(out));
  assert_string_equal(out, "1");
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.epoch, 3);
  assert_int_equal(meta.max_seq, 7);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), 0);
  assert_int_equal(got.size, r.size);
  assert_int_equal(got.status, VSS_STATUS_READY);
  assert_true(vss_hash_eq(&got.checksum, &r.checksum));
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
  assert_int_equal(a.seq, 7);
  /* Old rows have no list: serving computes it then. */
  assert_int_equal(vss_store_get_chunks(s, &r.key, back, 3, &n),
                   VSS_ERR_NOT_FOUND);

  /* New rows keep theirs, across a reopen. */
  r = row_n(6);
  r.size = 3 * VSS_CHUNK_SIZE - 1;
  for (int i = 0; i < 3; i++)
    vss_hash_bytes(&i, sizeof(i), &hs[i]);
  vss_checksum_of_chunks(hs, 3, &r.checksum);
  assert_int_equal(vss_store_set_local_chunks(s, &r, 1, hs, 3, 20), 0);
  vss_store_del(s);
  s = open_ok(f->db, &dev);
  assert_int_equal(vss_store_get_chunks(s, &r.key, back, 3, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(back, hs, sizeof(hs));
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 8);
  vss_store_del(s);

  /* A list cut short by hand is damage. */
  raw_exec(f->db, "UPDATE sidecar_chunks SET hashes = x'0102'");
  s = open_ok(f->db, &dev);
  assert_int_equal(vss_store_get_chunks(s, &r.key, back, 3, &n),
                   VSS_ERR_CORRUPT);
  vss_store_del(s);
}

/* ---- schema v5 (uuids and checksums as BLOBs) ------------------------ */

#define V4_ROWS 3000u

/* A version 4 database as the released code made it: the v1 tables,
 * sidecar_chunks (v2), xfer_resume (v3), meta.tomb_floor (v4), uuids as
 * hyphenated text and checksums as hex. V4_ROWS availability rows of
 * `dev` (every 7th a tombstone), one row of another device, and a
 * sidecar row. */
static void make_v4(const char *path, const vss_uuid *dev) {
  sqlite3 *db;
  sqlite3_stmt *st;
  char dtext[VSS_UUID_STR_LEN + 1], ctext[VSS_UUID_STR_LEN + 1];
  char hex[VSS_HASH_HEX_LEN + 1], sql[1024];
  vss_uuid other = uuid_n(0xfeed);

  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, v1_ddl, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "CREATE TABLE sidecar_chunks (content_uuid TEXT NOT NULL,"
                   " kind TEXT NOT NULL, variant TEXT NOT NULL,"
                   " hashes BLOB NOT NULL,"
                   " PRIMARY KEY (content_uuid, kind, variant)) WITHOUT ROWID;"
                   "CREATE TABLE xfer_resume (content_uuid TEXT NOT NULL,"
                   " kind TEXT NOT NULL, variant TEXT NOT NULL,"
                   " format TEXT NOT NULL, flags INTEGER NOT NULL,"
                   " size INTEGER NOT NULL, checksum TEXT NOT NULL,"
                   " tmp_name TEXT NOT NULL, done BLOB,"
                   " created_at INTEGER NOT NULL,"
                   " PRIMARY KEY (content_uuid, kind, variant)) WITHOUT ROWID;"
                   "ALTER TABLE meta ADD COLUMN tomb_floor INTEGER NOT NULL "
                   "DEFAULT 0;"
                   "BEGIN;",
                   NULL, NULL, NULL),
      SQLITE_OK);
  vss_uuid_format(dev, dtext);
  snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES (1, '%s', 2, %u, 0)",
           dtext, V4_ROWS);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "INSERT INTO sidecar_availability (content_uuid, "
                         "kind, variant, device_uuid, format, has, size, "
                         "checksum, last_seen_at, seq) VALUES "
                         "(?1, 'thumb', ?2, ?3, 'webp', ?4, ?5, ?6, 5, ?7)",
                         -1, &st, NULL),
      SQLITE_OK);
  for (uint32_t i = 1; i <= V4_ROWS + 1; i++) {
    vss_sidecar_row r = row_n(i);
    vss_uuid_format(&r.key.content, ctext);
    vss_hash_hex(&r.checksum, hex);
    vss_uuid_format(i <= V4_ROWS ? dev : &other, dtext);
    sqlite3_bind_text(st, 1, ctext, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r.key.variant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, dtext, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, i % 7 != 0);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)r.size);
    sqlite3_bind_text(st, 6, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, i);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  {
    vss_sidecar_row r = row_n(1);
    vss_uuid_format(&r.key.content, ctext);
    vss_hash_hex(&r.checksum, hex);
    snprintf(sql, sizeof(sql),
             "INSERT INTO sidecar (content_uuid, kind, variant, format, "
             "rel_path, size, checksum, status, source, version, created_at, "
             "updated_at) VALUES ('%s', 'thumb', '%s', 'webp', 'p', %llu, "
             "'%s', 'ready', NULL, 1, 11, 12);"
             "COMMIT; PRAGMA user_version = 4;",
             ctext, r.key.variant, (unsigned long long)r.size, hex);
  }
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The v4 file as make_v4 left it: version, text columns, every row. */
static void assert_still_v4(const char *path) {
  char out[64];

  raw_text(path, "PRAGMA user_version", out, sizeof(out));
  assert_string_equal(out, "4");
  raw_text(path,
           "SELECT count(*) || ' ' || sum(typeof(checksum) = 'text' AND "
           "typeof(device_uuid) = 'text' AND typeof(content_uuid) = 'text') "
           "FROM sidecar_availability",
           out, sizeof(out));
  assert_string_equal(out, "3001 3001");
  raw_text(path, "SELECT typeof(device_uuid) || ' ' || max_seq FROM meta", out,
           sizeof(out));
  assert_string_equal(out, "text 3000");
  raw_text(path,
           "SELECT count(*) FROM sqlite_master WHERE name LIKE 'v5_%' OR "
           "name = 'sidecar_availability_seq'",
           out, sizeof(out));
  assert_string_equal(out, "1"); /* the index, no half-made table */
}

typedef struct v4_check {
  uint32_t n, last_seq, bad;
  const vss_uuid *dev;
} v4_check;

static int check_v4_row(void *user, const vss_avail_row *a) {
  v4_check *c = user;
  vss_sidecar_row r = row_n((uint32_t)a->seq);

  if (a->seq <= c->last_seq || vss_key_cmp(&a->key, &r.key) != 0 ||
      !vss_hash_eq(&a->checksum, &r.checksum) || a->size != r.size ||
      vss_uuid_cmp(&a->device, c->dev) != 0 || a->has != (a->seq % 7 != 0) ||
      a->format != VSS_FMT_WEBP)
    c->bad++;
  c->last_seq = (uint32_t)a->seq;
  c->n++;
  return 0;
}

/* Opens the (v4) file: it becomes v5 and every row reads back as it was
 * written; new rows and a reopen work. */
static void assert_migrated(const char *path, const vss_uuid *dev) {
  vss_store *s = open_ok(path, dev);
  vss_store_meta meta;
  vss_avail_row a;
  vss_sidecar_row r = row_n(2), got;
  v4_check c = {0, 0, 0, dev};
  uint64_t count, bytes;
  char out[64];

  raw_text(path, "PRAGMA user_version", out, sizeof(out));
  assert_string_equal(out, "5");
  raw_text(path,
           "SELECT sum(typeof(checksum) = 'blob' AND length(checksum) = 32 "
           "AND typeof(device_uuid) = 'blob' AND typeof(content_uuid) = "
           "'blob') FROM sidecar_availability",
           out, sizeof(out));
  assert_string_equal(out, "3001");
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(vss_uuid_cmp(&meta.device, dev), 0);
  assert_int_equal(meta.epoch, 2);
  assert_int_equal(meta.max_seq, V4_ROWS);
  assert_int_equal(vss_store_iter_avail_since(s, 0, check_v4_row, &c), 0);
  assert_int_equal(c.n, V4_ROWS); /* not the other device's row */
  assert_int_equal(c.bad, 0);
  assert_int_equal(vss_store_count_avail(s, &count, &bytes), 0);
  assert_int_equal(count, V4_ROWS - V4_ROWS / 7);
  vss_sidecar_row r5 = row_n(5), r1 = row_n(1);
  assert_int_equal(vss_store_get_avail(s, &r5.key, &a), 0);
  assert_int_equal(a.seq, 5);
  assert_true(vss_hash_eq(&a.checksum, &r5.checksum));
  assert_int_equal(vss_store_get_sidecar(s, &r1.key, &got), 0);
  assert_true(vss_hash_eq(&got.checksum, &r1.checksum));
  /* A new row after the migration, then a reopen. */
  r.key.variant[0] = 'X';
  assert_int_equal(vss_store_set_local(s, &r, 1, 9), 0);
  vss_store_del(s);
  s = open_ok(path, dev);
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
  assert_int_equal(a.seq, V4_ROWS + 1);
  assert_true(vss_hash_eq(&a.checksum, &r.checksum));
  vss_store_del(s);
}

static void test_migrate_v4(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(0x44);
  vss_store *s = NULL;
  char err[256];

  make_v4(f->db, &dev);
  assert_still_v4(f->db);
  /* Opening as another device is refused before anything changes. */
  vss_uuid other = uuid_n(0x45);
  assert_int_equal(vss_store_sqlite_open(&s, f->db, &other, err, sizeof(err)),
                   VSS_ERR_INVALID);
  assert_non_null(strstr(err, "belongs to device"));
  assert_still_v4(f->db);
  assert_migrated(f->db, &dev);
}

static int crash_step;
static void crash_here(int step) {
  if (step == crash_step) _exit(7);
}

/* A process killed at each step of the v5 migration (inside its
 * transaction: tables made, rows copied, old ones dropped, renamed)
 * leaves the version 4 database as it was; the next open migrates. */
static void test_migrate_v4_crash(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(0x44);
  int steps = 0;

  for (crash_step = 1;; crash_step++) {
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
      char p[160];
      snprintf(p, sizeof(p), "%s%s", f->db, sfx[i]);
      (void)unlink(p);
    }
    make_v4(f->db, &dev);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      vss_store *s = NULL;
      vss__sqlite_migrate_hook = crash_here;
      _exit(vss_store_sqlite_open(&s, f->db, &dev, NULL, 0) == 0 ? 0 : 3);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 0) break; /* past the last step: migrated */
    assert_int_equal(WEXITSTATUS(st), 7);
    steps++;
    assert_still_v4(f->db);
    assert_migrated(f->db, &dev);
  }
  assert_true(steps >= 5);
  printf("# v5 migration killed at each of its %d steps: v4 intact\n", steps);
}

static void test_garbage_file(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(1);
  vss_store *s = NULL;
  char path[160], err[256], junk[8192];
  FILE *fp;
  size_t i;
  int rc;

  snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
  for (i = 0; i < sizeof(junk); i++)
    junk[i] = (char)(i * 131 + 7);
  fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
  assert_int_equal(fclose(fp), 0);

  rc = vss_store_sqlite_open(&s, path, &dev, err, sizeof(err));
  assert_int_equal(rc, VSS_ERR_CORRUPT);
  assert_null(s);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "not a database"));

  /* A directory that does not exist: an error naming the path. */
  snprintf(path, sizeof(path), "%s/no/such/dir/vss.db", f->dir);
  rc = vss_store_sqlite_open(&s, path, &dev, err, sizeof(err));
  assert_true(rc < 0);
  assert_null(s);
  assert_non_null(strstr(err, path));
}

/* Rows edited behind the store's back read back as VSS_ERR_CORRUPT. */
static void test_corrupt_rows(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(1);
  vss_store *s = open_ok(f->db, &dev);
  vss_sidecar_row r = row_n(1), got;
  counter c = {0, 0, 1};
  char err[256];
  static const char *const bad_avail[] = {
      "UPDATE sidecar_availability SET kind = 'bogus'",
      "UPDATE sidecar_availability SET format = 'gif'",
      "UPDATE sidecar_availability SET checksum = substr(checksum, 2)",
      "UPDATE sidecar_availability SET checksum = "
      "'zz' || substr(checksum, 3)",
      "UPDATE sidecar_availability SET device_uuid = device_uuid, "
      "content_uuid = 'not-a-uuid'",
      "UPDATE sidecar_availability SET variant = '../../etc'",
      "UPDATE sidecar_availability SET has = 5",
      "UPDATE sidecar_availability SET size = 'big'",
  };
  size_t i;

  assert_int_equal(vss_store_set_local(s, &r, 1, 1), 0);
  vss_store_del(s);
  for (i = 0; i < sizeof(bad_avail) / sizeof(bad_avail[0]); i++) {
    /* Each damage on a fresh copy of the good row. */
    raw_exec(f->db, "DELETE FROM sidecar_availability");
    s = open_ok(f->db, NULL);
    assert_int_equal(vss_store_set_local(s, &r, 1, 1), 0);
    vss_store_del(s);
    raw_exec(f->db, bad_avail[i]);
    s = open_ok(f->db, NULL);
    c.n = 0;
    assert_int_equal(vss_store_iter_avail_since(s, 0, count_rows, &c),
                     VSS_ERR_CORRUPT);
    assert_int_equal(c.n, 0);
    /* The statement is reset after the error: a clean query works. */
    assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), 0);
    vss_store_del(s);
  }

  raw_exec(f->db, "UPDATE sidecar SET status = 'done'");
  s = open_ok(f->db, NULL);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), VSS_ERR_CORRUPT);
  vss_store_del(s);
  raw_exec(f->db, "UPDATE sidecar SET status = 'ready', checksum = 'abc'");
  s = open_ok(f->db, NULL);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), VSS_ERR_CORRUPT);
  vss_store_del(s);

  /* The meta row goes: the identity and sequence state are lost, which
   * must not be papered over with a fresh epoch 1 / seq 0. */
  raw_exec(f->db, "DELETE FROM meta");
  s = NULL;
  assert_int_equal(vss_store_sqlite_open(&s, f->db, &dev, err, sizeof(err)),
                   VSS_ERR_CORRUPT);
  assert_non_null(strstr(err, "meta"));
  assert_null(s);
}

/* ---- volume ---------------------------------------------------------- */

#define BIG_ROWS 100000u
#define PER_CALL_ROWS 5000u

static void test_100k_rows(void **state) {
  fx *f = *state;
  vss_uuid dev = uuid_n(1);
  vss_store *s = open_ok(f->db, &dev);
  vss_sidecar_row r;
  vss_store_meta meta;
  counter c = {0, 0, 1};
  uint64_t count, bytes;
  double t0, t_batch, t_iter, t_half, t_call;
  uint32_t i;

  t0 = now_s();
  assert_int_equal(vss_store_begin(s), 0);
  for (i = 0; i < BIG_ROWS; i++) {
    r = row_n(i);
    assert_int_equal(vss_store_set_local(s, &r, 1, i), 0);
  }
  assert_int_equal(vss_store_commit(s), 0);
  t_batch = now_s() - t0;

  t0 = now_s();
  assert_int_equal(vss_store_iter_avail_since(s, 0, count_rows, &c), 0);
  t_iter = now_s() - t0;
  assert_int_equal(c.n, BIG_ROWS);
  assert_true(c.ordered);
  assert_int_equal(c.last_seq, BIG_ROWS);

  c.n = 0;
  c.last_seq = 0;
  t0 = now_s();
  assert_int_equal(
      vss_store_iter_avail_since(s, BIG_ROWS - 1000, count_rows, &c), 0);
  t_half = now_s() - t0;
  assert_int_equal(c.n, 1000);

  assert_int_equal(vss_store_count_avail(s, &count, &bytes), 0);
  assert_int_equal(count, BIG_ROWS);

  /* Per-call transactions (each its own commit) on the same file. */
  t0 = now_s();
  for (i = 0; i < PER_CALL_ROWS; i++) {
    r = row_n(BIG_ROWS + i);
    assert_int_equal(vss_store_set_local(s, &r, 1, i), 0);
  }
  t_call = now_s() - t0;
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, BIG_ROWS + PER_CALL_ROWS);
  vss_store_del(s);

  printf("# set_local, one transaction: %u rows in %.3f s = %.0f rows/s\n",
         BIG_ROWS, t_batch, BIG_ROWS / t_batch);
  printf("# set_local, one commit each: %u rows in %.3f s = %.0f rows/s\n",
         PER_CALL_ROWS, t_call, PER_CALL_ROWS / t_call);
  printf("# iter_avail_since(0): %u rows in %.3f s = %.0f rows/s\n", BIG_ROWS,
         t_iter, BIG_ROWS / t_iter);
  printf("# iter_avail_since(max-1000): 1000 rows in %.6f s\n", t_half);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_new_needs_device, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_mode, setup, teardown),
      cmocka_unit_test(test_memory_db),
      cmocka_unit_test_setup_teardown(test_newer_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrate_v4, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrate_v4_crash, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_100k_rows, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
