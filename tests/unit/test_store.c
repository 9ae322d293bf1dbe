/*
 * test_store.c - the metadata store contract on an in-memory SQLite store:
 * set_local (and the chunk-hash lists it keeps), iteration since a
 * sequence number, meta/epoch, peers, and fault injection showing
 * set_local is all-or-nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vss/store.h"

static vss_uuid uuid_n(uint32_t n) {
  vss_uuid u;

  memset(&u, 0, sizeof(u));
  u.b[0] = 0xab;
  u.b[12] = (uint8_t)(n >> 24);
  u.b[13] = (uint8_t)(n >> 16);
  u.b[14] = (uint8_t)(n >> 8);
  u.b[15] = (uint8_t)n;
  return u;
}

static vss_sidecar_row row_n(uint32_t n) {
  vss_sidecar_row r;
  vss_uuid c = uuid_n(n);
  uint8_t data[8];

  memset(&r, 0, sizeof(r));
  assert_int_equal(vss_key_set(&r.key, &c, VSS_KIND_THUMB, "grid@2x"), 0);
  r.format = VSS_FMT_WEBP;
  r.size = 1000 + n;
  memcpy(data, &n, sizeof(n));
  memcpy(data + 4, &n, sizeof(n));
  assert_int_equal(vss_checksum_buffer(data, sizeof(data), &r.checksum), 0);
  r.version = 1;
  return r;
}

/* row_n's key as a sidecar of `nchunks` chunks (the last one short),
 * with a made-up chunk-hash list in hs[] and the checksum it adds up to:
 * the store checks the list against the row, never against bytes. */
static vss_sidecar_row chunky_n(uint32_t n, uint64_t nchunks, vss_hash *hs) {
  vss_sidecar_row r = row_n(n);
  uint32_t seed[2];

  r.size = nchunks * VSS_CHUNK_SIZE - 10;
  for (uint64_t i = 0; i < nchunks; i++) {
    seed[0] = n;
    seed[1] = (uint32_t)i;
    vss_hash_bytes(seed, sizeof(seed), &hs[i]);
  }
  vss_checksum_of_chunks(hs, nchunks, &r.checksum);
  return r;
}

static vss_store *open_mem(const vss_uuid *dev) {
  vss_store *s = NULL;
  char err[256];

  assert_int_equal(vss_store_sqlite_open(&s, ":memory:", dev, err, sizeof(err)),
                   0);
  return s;
}

static int setup(void **state) {
  vss_uuid dev = uuid_n(0xd00d);

  *state = open_mem(&dev);
  return 0;
}

static int teardown(void **state) {
  vss_store_del(*state);
  return 0;
}

/* ---- collecting availability rows ------------------------------------ */

typedef struct rows {
  vss_avail_row *v;
  size_t n, cap;
  int stop_after; /* >0: return 7 after this many rows */
} rows;

static int collect(void *user, const vss_avail_row *r) {
  rows *rs = user;

  if (rs->n == rs->cap) {
    rs->cap = rs->cap ? rs->cap * 2 : 16;
    rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
    assert_non_null(rs->v);
  }
  rs->v[rs->n++] = *r;
  if (rs->stop_after > 0 && rs->n == (size_t)rs->stop_after) return 7;
  return 0;
}

/* ---- set_local -------------------------------------------------------- */

static void test_set_local_seqs(void **state) {
  vss_store *s = *state;
  vss_store_meta meta;
  vss_sidecar_row r, got;
  vss_avail_row a;
  char path[VSS_REL_PATH_MAX + 1];
  uint32_t i;

  for (i = 1; i <= 3; i++) {
    r = row_n(i);
    assert_int_equal(vss_store_set_local(s, &r, 1, 100 * i), 0);
    assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
    assert_int_equal(a.seq, i);
    assert_int_equal(a.has, 1);
    assert_int_equal(a.size, r.size);
    assert_true(vss_hash_eq(&a.checksum, &r.checksum));
    assert_int_equal(a.last_seen_at, 100 * i);
    assert_int_equal(a.format, VSS_FMT_WEBP);
  }
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 3);
  assert_int_equal(vss_uuid_cmp(&a.device, &meta.device), 0);

  /* Changing a row again takes the next number; created_at stays. */
  r = row_n(1);
  r.size = 5;
  assert_int_equal(vss_store_set_local(s, &r, 1, 999), 0);
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
  assert_int_equal(a.seq, 4);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), 0);
  assert_int_equal(got.status, VSS_STATUS_READY);
  assert_int_equal(got.size, 5);
  assert_int_equal(got.created_at, 100);
  assert_int_equal(got.updated_at, 999);
  assert_true(vss_rel_path(&r.key, r.format, path, sizeof(path)) > 0);
  assert_string_equal(got.rel_path, path);
  assert_true(vss_uuid_is_nil(&got.source));
}

static void test_set_local_remove(void **state) {
  vss_store *s = *state;
  vss_sidecar_row r = row_n(1), got;
  vss_avail_row a;
  uint64_t count = 99, bytes = 99;

  assert_int_equal(vss_store_set_local(s, &r, 1, 10), 0);
  assert_int_equal(vss_store_count_avail(s, &count, &bytes), 0);
  assert_int_equal(count, 1);
  assert_int_equal(bytes, r.size);

  assert_int_equal(vss_store_set_local(s, &r, 0, 20), 0);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
  assert_int_equal(a.has, 0);
  assert_int_equal(a.seq, 2);
  assert_int_equal(a.last_seen_at, 20);
  assert_int_equal(vss_store_count_avail(s, &count, &bytes), 0);
  assert_int_equal(count, 0);
  assert_int_equal(bytes, 0);

  /* Dropping again is harmless and still recorded for deltas. */
  assert_int_equal(vss_store_set_local(s, &r, 0, 30), 0);
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
  assert_int_equal(a.seq, 3);
}

static void test_set_local_invalid(void **state) {
  vss_store *s = *state;
  vss_sidecar_row r = row_n(1);
  vss_store_meta meta;

  assert_int_equal(vss_store_set_local(s, &r, 2, 1), VSS_ERR_INVALID);
  assert_int_equal(vss_store_set_local(s, NULL, 1, 1), VSS_ERR_INVALID);
  r.format = VSS_FMT_COUNT;
  assert_int_equal(vss_store_set_local(s, &r, 1, 1), VSS_ERR_INVALID);
  r = row_n(1);
  strcpy(r.key.variant, "../x");
  assert_int_equal(vss_store_set_local(s, &r, 1, 1), VSS_ERR_INVALID);
  r = row_n(1);
  r.key.kind = VSS_KIND_COUNT;
  assert_int_equal(vss_store_set_local(s, &r, 1, 1), VSS_ERR_INVALID);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 0);
}

/* Inside the caller's transaction set_local joins it: a rollback undoes
 * the whole batch, a commit keeps it. */
static void test_set_local_batch(void **state) {
  vss_store *s = *state;
  vss_store_meta meta;
  vss_avail_row a;
  vss_sidecar_row r;
  uint32_t i;

  assert_int_equal(vss_store_begin(s), 0);
  assert_int_equal(vss_store_begin(s), VSS_ERR_INVALID); /* no nesting */
  for (i = 1; i <= 10; i++) {
    r = row_n(i);
    assert_int_equal(vss_store_set_local(s, &r, 1, i), 0);
  }
  assert_int_equal(vss_store_rollback(s), 0);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 0);
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), VSS_ERR_NOT_FOUND);

  assert_int_equal(vss_store_begin(s), 0);
  for (i = 1; i <= 10; i++) {
    r = row_n(i);
    assert_int_equal(vss_store_set_local(s, &r, 1, i), 0);
  }
  assert_int_equal(vss_store_new_epoch(s), 0);
  assert_int_equal(vss_store_commit(s), 0);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 10);
  assert_int_equal(meta.epoch, 2);
  assert_int_equal(vss_store_get_avail(s, &r.key, &a), 0);
  assert_int_equal(a.seq, 10);
}

/* ---- chunk-hash lists ------------------------------------------------ */

/* A multi-chunk sidecar's list is kept with its row, replaced when the
 * row is recorded again, and deleted with it; a list that is not the
 * row's is refused before anything is written. */
static void test_chunks_kept_with_row(void **state) {
  vss_store *s = *state;
  vss_hash hs[3], got[3], one[1];
  vss_sidecar_row r = chunky_n(1, 3, hs), small = chunky_n(2, 1, one);
  vss_store_meta meta;
  uint64_t n = 0;

  assert_int_equal(vss_store_set_local_chunks(s, &r, 1, hs, 3, 10), 0);
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 3, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(got, hs, sizeof(hs));
  n = 0;
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 2, &n), VSS_ERR_BUFFER);
  assert_int_equal(n, 3);

  /* Not the row's list (a changed hash, a short list): refused, and the
   * row, its list and the sequence stay as they were. */
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  hs[1].b[0] ^= 1;
  assert_int_equal(vss_store_set_local_chunks(s, &r, 1, hs, 3, 11),
                   VSS_ERR_INVALID);
  hs[1].b[0] ^= 1;
  assert_int_equal(vss_store_set_local_chunks(s, &r, 1, hs, 2, 11),
                   VSS_ERR_INVALID);
  vss_store_meta after;
  assert_int_equal(vss_store_get_meta(s, &after), 0);
  assert_int_equal(after.max_seq, meta.max_seq);
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 3, &n), 0);

  /* A one-chunk sidecar keeps no list. */
  assert_int_equal(vss_store_set_local_chunks(s, &small, 1, one, 1, 12), 0);
  assert_int_equal(vss_store_get_chunks(s, &small.key, got, 3, &n),
                   VSS_ERR_NOT_FOUND);

  /* Recorded again without a list (its bytes changed, say): the old list
   * goes, it would describe other bytes. */
  assert_int_equal(vss_store_set_local(s, &r, 1, 13), 0);
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 3, &n),
                   VSS_ERR_NOT_FOUND);

  /* Removal deletes it too. */
  assert_int_equal(vss_store_set_local_chunks(s, &r, 1, hs, 3, 14), 0);
  assert_int_equal(vss_store_set_local_chunks(s, &r, 0, hs, 3, 15), 0);
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 3, &n),
                   VSS_ERR_NOT_FOUND);

  /* The raw methods: deleting nothing is fine; bad arguments are not. */
  assert_int_equal(vss_store_put_chunks(s, &r.key, NULL, 0), 0);
  assert_int_equal(vss_store_put_chunks(s, &r.key, NULL, 3), VSS_ERR_INVALID);
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 3, NULL),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_store_put_chunks(s, &r.key, hs, 3), 0);
  assert_int_equal(vss_store_get_chunks(s, &r.key, got, 3, &n), 0);
  assert_memory_equal(got, hs, sizeof(hs));
}

/* ---- iteration ------------------------------------------------------- */

static void test_iter_since(void **state) {
  vss_store *s = *state;
  vss_sidecar_row r;
  rows rs = {0};
  uint32_t i;

  for (i = 1; i <= 10; i++) {
    r = row_n(i);
    assert_int_equal(vss_store_set_local(s, &r, 1, i), 0);
  }
  assert_int_equal(vss_store_iter_avail_since(s, 4, collect, &rs), 0);
  assert_int_equal(rs.n, 6);
  for (i = 0; i < rs.n; i++) {
    r = row_n(5 + i);
    assert_int_equal(rs.v[i].seq, 5 + i);
    assert_int_equal(vss_key_cmp(&rs.v[i].key, &r.key), 0);
  }

  /* Row 3 changes: it moves to the end, and appears once. */
  r = row_n(3);
  assert_int_equal(vss_store_set_local(s, &r, 0, 50), 0);
  rs.n = 0;
  assert_int_equal(vss_store_iter_avail_since(s, 0, collect, &rs), 0);
  assert_int_equal(rs.n, 10);
  for (i = 1; i < rs.n; i++)
    assert_true(rs.v[i - 1].seq < rs.v[i].seq);
  assert_int_equal(vss_key_cmp(&rs.v[9].key, &r.key), 0);
  assert_int_equal(rs.v[9].has, 0);
  assert_int_equal(rs.v[9].seq, 11);

  rs.n = 0;
  assert_int_equal(vss_store_iter_avail_since(s, 11, collect, &rs), 0);
  assert_int_equal(rs.n, 0);
  assert_int_equal(vss_store_iter_avail_since(s, UINT64_MAX, collect, &rs), 0);
  assert_int_equal(rs.n, 0);

  /* A non-zero callback return stops the scan and is passed through;
   * the cached statement is usable right after. */
  rs.stop_after = 2;
  assert_int_equal(vss_store_iter_avail_since(s, 0, collect, &rs), 7);
  assert_int_equal(rs.n, 2);
  rs.n = 0;
  rs.stop_after = 0;
  assert_int_equal(vss_store_iter_avail_since(s, 0, collect, &rs), 0);
  assert_int_equal(rs.n, 10);
  free(rs.v);
}

static vss_store *g_reenter;

static int reenter(void *user, const vss_avail_row *r) {
  vss_avail_row a;
  int *inner = user;

  /* Other methods work from a callback; the same iterator does not. */
  assert_int_equal(vss_store_get_avail(g_reenter, &r->key, &a), 0);
  *inner = vss_store_iter_avail_since(g_reenter, 0, collect, NULL);
  return 0;
}

static void test_iter_reentry(void **state) {
  vss_store *s = *state;
  vss_sidecar_row r = row_n(1);
  int inner = 0;

  assert_int_equal(vss_store_set_local(s, &r, 1, 1), 0);
  g_reenter = s;
  assert_int_equal(vss_store_iter_avail_since(s, 0, reenter, &inner), 0);
  assert_int_equal(inner, VSS_ERR_INVALID);
}

/* ---- meta, epoch ----------------------------------------------------- */

static void test_meta_epoch(void **state) {
  vss_store *s = *state;
  vss_uuid dev = uuid_n(0xd00d);
  vss_store_meta meta;
  vss_sidecar_row r = row_n(1);

  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(vss_uuid_cmp(&meta.device, &dev), 0);
  assert_int_equal(meta.epoch, 1);
  assert_int_equal(meta.max_seq, 0);

  assert_int_equal(vss_store_set_local(s, &r, 1, 1), 0);
  assert_int_equal(vss_store_new_epoch(s), 0);
  assert_int_equal(vss_store_new_epoch(s), 0);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.epoch, 3);
  assert_int_equal(meta.max_seq, 1); /* sequence numbers never go back */

  meta.max_seq = 41;
  meta.epoch = 9;
  assert_int_equal(vss_store_set_meta(s, &meta), 0);
  assert_int_equal(vss_store_set_local(s, &r, 1, 2), 0);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.max_seq, 42);
  assert_int_equal(meta.epoch, 9);
}

/* ---- peers ----------------------------------------------------------- */

typedef struct peers {
  vss_peer_row v[8];
  size_t n;
} peers;

static int collect_peer(void *user, const vss_peer_row *p) {
  peers *ps = user;

  assert_true(ps->n < 8);
  ps->v[ps->n++] = *p;
  return 0;
}

static vss_peer_row peer_n(uint32_t n) {
  vss_peer_row p;

  memset(&p, 0, sizeof(p));
  p.device = uuid_n(n);
  snprintf(p.name, sizeof(p.name), "peer-%u", (unsigned)n);
  memset(p.pubkey, (int)n, sizeof(p.pubkey));
  p.seen_epoch = n;
  p.seen_seq = 10 * n;
  p.last_seen_at = VSS_TIME_UNSET; /* round-trips through a signed column */
  return p;
}

static void test_peers(void **state) {
  vss_store *s = *state;
  vss_peer_row p, got;
  peers ps = {0};
  uint32_t i;

  for (i = 3; i >= 1; i--) {
    p = peer_n(i);
    assert_int_equal(vss_store_put_peer(s, &p), 0);
  }
  p = peer_n(2);
  assert_int_equal(vss_store_get_peer(s, &p.device, &got), 0);
  assert_memory_equal(&got, &p, sizeof(p));

  p.seen_seq = 777;
  strcpy(p.name, "renamed");
  assert_int_equal(vss_store_put_peer(s, &p), 0);
  assert_int_equal(vss_store_get_peer(s, &p.device, &got), 0);
  assert_int_equal(got.seen_seq, 777);
  assert_string_equal(got.name, "renamed");

  assert_int_equal(vss_store_iter_peers(s, collect_peer, &ps), 0);
  assert_int_equal(ps.n, 3);
  for (i = 0; i < 3; i++) {
    p = peer_n(i + 1);
    assert_int_equal(vss_uuid_cmp(&ps.v[i].device, &p.device), 0);
  }
  p = peer_n(2);

  assert_int_equal(vss_store_del_peer(s, &p.device), 0);
  assert_int_equal(vss_store_get_peer(s, &p.device, &got), VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_store_del_peer(s, &p.device), VSS_ERR_NOT_FOUND);
  ps.n = 0;
  assert_int_equal(vss_store_iter_peers(s, collect_peer, &ps), 0);
  assert_int_equal(ps.n, 2);

  memset(p.name, 'x', sizeof(p.name)); /* no NUL */
  assert_int_equal(vss_store_put_peer(s, &p), VSS_ERR_INVALID);
}

static void test_sidecar_rows(void **state) {
  vss_store *s = *state;
  vss_sidecar_row r = row_n(4), got;

  r.status = VSS_STATUS_PENDING;
  r.source = uuid_n(77);
  r.created_at = 5;
  r.updated_at = 6;
  r.version = 3;
  assert_int_equal(vss_store_put_sidecar(s, &r), 0);
  assert_int_equal(vss_store_get_sidecar(s, &r.key, &got), 0);
  assert_memory_equal(&got, &r, sizeof(r));
  assert_int_equal(vss_store_del_sidecar(s, &r.key), 0);
  assert_int_equal(vss_store_del_sidecar(s, &r.key), VSS_ERR_NOT_FOUND);
  r.status = VSS_STATUS_COUNT;
  assert_int_equal(vss_store_put_sidecar(s, &r), VSS_ERR_INVALID);
}

/* ---- fault injection ------------------------------------------------- */

static void test_faulty_counting(void **state) {
  vss_store *s = *state, *f;
  vss_store_meta meta;

  assert_int_equal(vss_store_faulty_new(&f, s, 2, 0), 0);
  assert_int_equal(vss_store_get_meta(f, &meta), 0);
  assert_int_equal(vss_store_get_meta(f, &meta), VSS_ERR_STORE);
  assert_int_equal(vss_store_get_meta(f, &meta), 0);
  assert_int_equal(vss_store_faulty_calls(f), 3);
  vss_store_del(f);

  assert_int_equal(vss_store_faulty_new(&f, s, 2, 1), 0);
  assert_int_equal(vss_store_get_meta(f, &meta), 0);
  assert_int_equal(vss_store_get_meta(f, &meta), VSS_ERR_STORE);
  assert_int_equal(vss_store_get_meta(f, &meta), VSS_ERR_STORE);
  vss_store_del(f);

  assert_int_equal(vss_store_faulty_new(&f, s, 0, 1), 0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(vss_store_get_meta(f, &meta), 0);
  assert_int_equal(vss_store_faulty_calls(f), 5);
  vss_store_del(f);

  assert_int_equal(vss_store_faulty_calls(s), 0); /* not a faulty store */
  assert_int_equal(vss_store_faulty_new(&f, NULL, 1, 0), VSS_ERR_INVALID);
}

/* Everything set_local can touch, for before/after comparison. */
typedef struct snap {
  vss_store_meta meta;
  rows avail;
  int sc_rc[4];
  vss_sidecar_row sc[4];
  int ch_rc[4];
  uint64_t ch_n[4];
  vss_hash ch[4][4];
} snap;

static void take(vss_store *s, snap *sn) {
  vss_sidecar_row r;
  uint32_t i;

  memset(sn, 0, sizeof(*sn));
  assert_int_equal(vss_store_get_meta(s, &sn->meta), 0);
  assert_int_equal(vss_store_iter_avail_since(s, 0, collect, &sn->avail), 0);
  for (i = 0; i < 4; i++) {
    r = row_n(i + 1);
    sn->sc_rc[i] = vss_store_get_sidecar(s, &r.key, &sn->sc[i]);
    sn->ch_rc[i] = vss_store_get_chunks(s, &r.key, sn->ch[i], 4, &sn->ch_n[i]);
  }
}

static void assert_same(const snap *a, const snap *b) {
  assert_memory_equal(&a->meta, &b->meta, sizeof(a->meta));
  assert_int_equal(a->avail.n, b->avail.n);
  if (a->avail.n)
    assert_memory_equal(a->avail.v, b->avail.v,
                        a->avail.n * sizeof(*a->avail.v));
  assert_memory_equal(a->sc_rc, b->sc_rc, sizeof(a->sc_rc));
  assert_memory_equal(a->sc, b->sc, sizeof(a->sc));
  assert_memory_equal(a->ch_rc, b->ch_rc, sizeof(a->ch_rc));
  assert_memory_equal(a->ch_n, b->ch_n, sizeof(a->ch_n));
  assert_memory_equal(a->ch, b->ch, sizeof(a->ch));
}

/* Runs set_local (with the chunk list hs[nch] when given) through a
 * faulty store failing at call fail_at. */
static int faulty_set_local(vss_store *s, uint64_t fail_at, int sticky,
                            const vss_sidecar_row *r, int has,
                            const vss_hash *hs, uint64_t nch, uint64_t *calls) {
  vss_store *f;
  int rc;

  assert_int_equal(vss_store_faulty_new(&f, s, fail_at, sticky), 0);
  rc = vss_store_set_local_chunks(f, r, has, hs, nch, 1234);
  if (calls) *calls = vss_store_faulty_calls(f);
  vss_store_del(f);
  /* A sticky fault also fails the rollback, leaving the inner store's
   * transaction open, as a crashed process would: closing rolls it
   * back, which this stands in for. */
  assert_int_equal(vss_store_rollback(s), 0);
  return rc;
}

/* Fails set_local at call 1, 2, ... until a run gets through: every
 * failed run must leave the database exactly as it was. Returns K, the
 * number of calls a clean run makes. */
static uint64_t fault_every_call(vss_store *s, const vss_sidecar_row *r,
                                 int has, int sticky, const vss_hash *hs,
                                 uint64_t nch) {
  snap before, after;
  uint64_t n, calls;
  int rc;

  take(s, &before);
  for (n = 1;; n++) {
    assert_true(n < 100);
    rc = faulty_set_local(s, n, sticky, r, has, hs, nch, &calls);
    if (rc == 0) break;
    assert_int_equal(rc, VSS_ERR_STORE);
    assert_true(calls >= n);
    take(s, &after);
    assert_same(&before, &after);
    free(after.avail.v);
  }
  /* The run that got through made n - 1 calls, and landed. */
  assert_int_equal(calls, n - 1);
  take(s, &after);
  assert_int_equal(after.meta.max_seq, before.meta.max_seq + 1);
  free(after.avail.v);
  free(before.avail.v);
  return n - 1;
}

static void test_faulty_set_local(void **state) {
  vss_store *s = *state;
  vss_sidecar_row r1 = row_n(1), r2 = row_n(2), r3 = row_n(3), r4 = row_n(4);
  vss_sidecar_row got;
  vss_hash hs[4], ch[4];
  uint64_t n;

  assert_int_equal(vss_store_set_local(s, &r1, 1, 1), 0);
  assert_int_equal(vss_store_set_local(s, &r2, 1, 2), 0);
  /* begin, get_meta, set_meta, put/del sidecar, put_chunks (a list or
   * its deletion), put_avail, commit */
  assert_int_equal(fault_every_call(s, &r3, 1, 0, NULL, 0), 7); /* new row */
  assert_int_equal(fault_every_call(s, &r4, 1, 1, NULL, 0), 7);
  r1.size = 4242;
  assert_int_equal(fault_every_call(s, &r1, 1, 0, NULL, 0), 7); /* update */
  r1.size = 4343;
  assert_int_equal(fault_every_call(s, &r1, 1, 1, NULL, 0), 7);
  assert_int_equal(fault_every_call(s, &r2, 0, 0, NULL, 0), 7); /* removal */
  assert_int_equal(fault_every_call(s, &r1, 0, 1, NULL, 0), 7);
  assert_int_equal(vss_store_get_sidecar(s, &r1.key, &got), VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_store_get_sidecar(s, &r4.key, &got), 0);

  /* With a chunk list: the row and its list land together or not at all,
   * and so does replacing the list and dropping the sidecar. */
  r3 = chunky_n(3, 4, hs);
  assert_int_equal(fault_every_call(s, &r3, 1, 0, hs, 4), 7);
  assert_int_equal(vss_store_get_chunks(s, &r3.key, ch, 4, &n), 0);
  assert_memory_equal(ch, hs, sizeof(hs));
  r3 = chunky_n(33, 3, hs);
  r3.key = row_n(3).key;
  assert_int_equal(fault_every_call(s, &r3, 1, 1, hs, 3), 7);
  assert_int_equal(vss_store_get_chunks(s, &r3.key, ch, 4, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(fault_every_call(s, &r3, 0, 0, NULL, 0), 7);
  assert_int_equal(vss_store_get_chunks(s, &r3.key, ch, 4, &n),
                   VSS_ERR_NOT_FOUND);
}

static void test_faulty_new_epoch(void **state) {
  vss_store *s = *state, *f;
  vss_store_meta meta;
  uint64_t n;

  for (n = 1; n <= 4; n++) {
    assert_int_equal(vss_store_faulty_new(&f, s, n, 0), 0);
    assert_int_equal(vss_store_new_epoch(f), VSS_ERR_STORE);
    vss_store_del(f);
    assert_int_equal(vss_store_get_meta(s, &meta), 0);
    assert_int_equal(meta.epoch, 1);
  }
  assert_int_equal(vss_store_faulty_new(&f, s, 5, 0), 0);
  assert_int_equal(vss_store_new_epoch(f), 0);
  vss_store_del(f);
  assert_int_equal(vss_store_get_meta(s, &meta), 0);
  assert_int_equal(meta.epoch, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_set_local_seqs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_local_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_local_invalid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_local_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chunks_kept_with_row, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_iter_since, setup, teardown),
      cmocka_unit_test_setup_teardown(test_iter_reentry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meta_epoch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_peers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sidecar_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faulty_counting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faulty_set_local, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faulty_new_epoch, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
