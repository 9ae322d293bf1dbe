/*
 * test_wire.c - the wire format: round trips of every message, strict
 * rejection of malformed frames, and seeded random / mutated frames run
 * through the fuzz target's checks (no crash, no over-read under ASan,
 * canonical re-encoding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vss/rng.h"
#include "wire.h"

/* The fuzz target's checker: wire_check() / wire_check_one(). */
#include "../fuzz/fuzz_wire.c"

/* ---- fixtures -------------------------------------------------------- */

static vss_uuid uuid_n(uint64_t n) {
  vss_uuid u;
  for (int i = 0; i < 16; i++)
    u.b[i] = (uint8_t)(n >> (8 * (i % 8))) ^ (uint8_t)(i * 29);
  return u;
}

static vss_hash hash_n(uint64_t n) {
  vss_hash h;
  vss_hash_bytes(&n, sizeof(n), &h);
  return h;
}

static vss_key key_n(uint64_t n, vss_kind kind, const char *variant) {
  vss_key k;
  vss_uuid u = uuid_n(n);
  assert_int_equal(vss_key_set(&k, &u, kind, variant), 0);
  return k;
}

static vss_wire_entry entry_n(uint64_t n, int has) {
  static const char *variants[] = {"grid@2x", "detail@1x", "1080p",
                                   "all-MiniLM-L6-v2", "v1.2"};
  vss_wire_entry e;
  memset(&e, 0, sizeof(e));
  e.key = key_n(n, (vss_kind)(n % VSS_KIND_COUNT), variants[n % 5]);
  e.format = (vss_format)(n % VSS_FMT_COUNT);
  e.has = (uint8_t)has;
  e.size = has ? 45000 + n * 977 : 0;
  if (has) e.checksum = hash_n(n);
  return e;
}

static void assert_entry_eq(const vss_wire_entry *a, const vss_wire_entry *b) {
  assert_int_equal(vss_key_cmp(&a->key, &b->key), 0);
  assert_memory_equal(&a->key, &b->key, sizeof(a->key));
  assert_int_equal(a->format, b->format);
  assert_int_equal(a->has, b->has);
  assert_int_equal(a->size, b->size);
  assert_memory_equal(a->checksum.b, b->checksum.b, VSS_HASH_LEN);
}

/* Decodes from an exactly-sized heap copy so ASan sees any over-read. */
static int decode_exact(const uint8_t *p, size_t n, vss_msg *m,
                        uint8_t **copy) {
  *copy = malloc(n ? n : 1);
  assert_non_null(*copy);
  if (n) memcpy(*copy, p, n);
  return vss_wire_decode(*copy, n, m);
}

/* One frame of every type, for the generic tests. */
static void build_all(vss_buf *out, size_t *starts, size_t *nframes) {
  vss_msg_hello h = {uuid_n(1), 1, 7, 1234, 3, 99, 0x5};
  vss_msg_digest d;
  vss_wire_entry ents[5];
  vss_key keys[3];
  vss_msg_xfer_get g;
  vss_hash chunks[4];
  uint8_t data[300];
  size_t mark;
  size_t n = 0;

  memset(&d, 0, sizeof(d));
  d.device = uuid_n(2);
  d.epoch = 3;
  d.from_seq = 10;
  d.to_seq = 500;
  d.timestamp = 123456789;
  d.flags = VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
  for (int i = 0; i < 5; i++)
    ents[i] = entry_n((uint64_t)i, i != 2);
  for (int i = 0; i < 3; i++)
    keys[i] = ents[i].key;
  memset(&g, 0, sizeof(g));
  g.req_id = 77;
  g.key = keys[1];
  g.format = VSS_FMT_MP4;
  g.offset = 3 * VSS_CHUNK_SIZE;
  g.length = VSS_CHUNK_SIZE;
  g.flags = VSS_GET_META | VSS_GET_FOREGROUND;
  for (int i = 0; i < 4; i++)
    chunks[i] = hash_n(100 + (uint64_t)i);
  for (int i = 0; i < 300; i++)
    data[i] = (uint8_t)(i * 7);

  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_hello(out, &h), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_digest_begin(out, &d, &mark), 0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(vss_wire_digest_add(out, &ents[i]), 0);
  assert_int_equal(vss_wire_digest_end(out, mark, 5), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_query(out, 5, keys, 3), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_query_reply(out, 5, ents, 5), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_xfer_get(out, &g), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_xfer_meta(out, 77, 3 * VSS_CHUNK_SIZE + 5,
                                             &chunks[0], chunks, 4),
                   0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_xfer_data(out, 77, 1000, data, 300), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_xfer_error(out, 77, VSS_ERR_NOT_FOUND), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_xfer_cancel(out, 77), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_ping(out, 123456789012345ULL), 0);
  starts[n++] = out->len;
  assert_int_equal(vss_wire_encode_pong(out, UINT64_MAX), 0);
  starts[n] = out->len;
  *nframes = n;
}

#define NFRAMES 11

/* ---- primitives ------------------------------------------------------ */

static void test_varint(void **state) {
  const uint64_t vals[] = {0,          1,          127,
                           128,        16383,      16384,
                           UINT32_MAX, 1ULL << 56, UINT64_MAX - 1,
                           UINT64_MAX};
  (void)state;
  for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
    vss_buf b = {0};
    vss_rd r;
    uint64_t v = 0;
    assert_int_equal(vss_buf_put_varint(&b, vals[i]), 0);
    assert_int_equal(b.len, vss_varint_len(vals[i]));
    r = (vss_rd){b.data, b.len, 0};
    assert_int_equal(vss_rd_varint(&r, &v), 0);
    assert_int_equal(v, vals[i]);
    assert_int_equal(r.off, b.len);
    /* Every truncation fails cleanly. */
    for (size_t k = 0; k < b.len; k++) {
      r = (vss_rd){b.data, k, 0};
      assert_int_equal(vss_rd_varint(&r, &v), VSS_ERR_TRUNCATED);
    }
    vss_buf_free(&b);
  }
  assert_int_equal(vss_varint_len(UINT64_MAX), 10);

  uint64_t v;
  vss_rd r;
  /* 11 bytes. */
  const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                            0x80, 0x80, 0x80, 0x80, 0x00};
  r = (vss_rd){eleven, sizeof(eleven), 0};
  assert_int_equal(vss_rd_varint(&r, &v), VSS_ERR_PROTO);
  /* 10th byte carrying bits above 63. */
  const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                          0xff, 0xff, 0xff, 0xff, 0x02};
  r = (vss_rd){over, sizeof(over), 0};
  assert_int_equal(vss_rd_varint(&r, &v), VSS_ERR_PROTO);
  /* Non-minimal: 0 as two bytes, 1 as three. */
  const uint8_t pad0[] = {0x80, 0x00}, pad1[] = {0x81, 0x80, 0x00};
  r = (vss_rd){pad0, 2, 0};
  assert_int_equal(vss_rd_varint(&r, &v), VSS_ERR_PROTO);
  r = (vss_rd){pad1, 3, 0};
  assert_int_equal(vss_rd_varint(&r, &v), VSS_ERR_PROTO);
}

static void test_reader_bounds(void **state) {
  const uint8_t p[5] = {1, 2, 3, 4, 5};
  vss_rd r = {p, 5, 0};
  uint32_t v32;
  uint8_t v8;
  const uint8_t *q;
  vss_uuid u;
  (void)state;
  assert_int_equal(vss_rd_u32le(&r, &v32), 0);
  assert_int_equal(v32, 0x04030201);
  assert_int_equal(vss_rd_u32le(&r, &v32), VSS_ERR_TRUNCATED);
  assert_int_equal(r.off, 4); /* a failed read consumes nothing */
  assert_int_equal(vss_rd_bytes(&r, 2, &q), VSS_ERR_TRUNCATED);
  assert_int_equal(vss_rd_bytes(&r, SIZE_MAX, &q), VSS_ERR_TRUNCATED);
  assert_int_equal(vss_rd_u8(&r, &v8), 0);
  assert_int_equal(v8, 5);
  assert_int_equal(vss_rd_u8(&r, &v8), VSS_ERR_TRUNCATED);
  assert_int_equal(vss_rd_uuid(&r, &u), VSS_ERR_TRUNCATED);
}

static void test_key_encoding(void **state) {
  vss_buf b = {0};
  vss_key k = key_n(9, VSS_KIND_THUMB, "grid@2x"), out;
  vss_rd r;
  (void)state;
  assert_int_equal(vss_buf_put_key(&b, &k), 0);
  assert_int_equal(b.len, 16 + 1 + 1 + 7);
  r = (vss_rd){b.data, b.len, 0};
  assert_int_equal(vss_rd_key(&r, &out), 0);
  assert_memory_equal(&k, &out, sizeof(k));

  /* Bad kind, empty/long/illegal variant: rejected on both sides. */
  b.data[16] = VSS_KIND_COUNT;
  r = (vss_rd){b.data, b.len, 0};
  assert_int_equal(vss_rd_key(&r, &out), VSS_ERR_PROTO);
  b.data[16] = 0;
  b.data[18] = '/';
  r = (vss_rd){b.data, b.len, 0};
  assert_int_equal(vss_rd_key(&r, &out), VSS_ERR_PROTO);
  b.data[18] = 'g';
  b.data[17] = 0;
  r = (vss_rd){b.data, b.len, 0};
  assert_int_equal(vss_rd_key(&r, &out), VSS_ERR_PROTO);
  b.data[17] = 64;
  r = (vss_rd){b.data, b.len, 0};
  assert_int_equal(vss_rd_key(&r, &out), VSS_ERR_PROTO);
  b.data[17] = 8; /* one more byte than present */
  r = (vss_rd){b.data, b.len, 0};
  assert_int_equal(vss_rd_key(&r, &out), VSS_ERR_TRUNCATED);
  /* ".." as a variant. */
  b.data[17] = 2;
  b.data[18] = b.data[19] = '.';
  r = (vss_rd){b.data, 20, 0};
  assert_int_equal(vss_rd_key(&r, &out), VSS_ERR_PROTO);

  size_t before = b.len;
  k.kind = VSS_KIND_COUNT;
  assert_int_equal(vss_buf_put_key(&b, &k), VSS_ERR_INVALID);
  k.kind = VSS_KIND_OCR;
  strcpy(k.variant, "..");
  assert_int_equal(vss_buf_put_key(&b, &k), VSS_ERR_INVALID);
  memset(k.variant, 'a', sizeof(k.variant)); /* no NUL */
  assert_int_equal(vss_buf_put_key(&b, &k), VSS_ERR_INVALID);
  assert_int_equal(b.len, before);
  vss_buf_free(&b);
}

/* ---- round trips ----------------------------------------------------- */

static void test_hello_round_trip(void **state) {
  vss_msg_hello h = {uuid_n(5), VSS_PROTO_VERSION, UINT64_MAX, 0,
                     17,        1ULL << 40,        UINT32_MAX};
  vss_buf b = {0};
  vss_msg m;
  uint8_t *copy;
  (void)state;
  assert_int_equal(vss_wire_encode_hello(&b, &h), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_HELLO);
  assert_memory_equal(m.u.hello.device.b, h.device.b, 16);
  assert_int_equal(m.u.hello.proto, h.proto);
  assert_int_equal(m.u.hello.epoch, h.epoch);
  assert_int_equal(m.u.hello.max_seq, h.max_seq);
  assert_int_equal(m.u.hello.seen_epoch, h.seen_epoch);
  assert_int_equal(m.u.hello.seen_seq, h.seen_seq);
  assert_int_equal(m.u.hello.flags, h.flags);
  free(copy);
  vss_buf_free(&b);
}

static void test_digest_round_trip(void **state) {
  enum { N = 1000 };
  vss_msg_digest d;
  vss_buf b = {0};
  vss_msg m;
  size_t mark;
  uint8_t *copy;
  (void)state;

  memset(&d, 0, sizeof(d));
  d.device = uuid_n(42);
  d.epoch = 9;
  d.from_seq = 0;
  d.to_seq = N;
  d.timestamp = VSS_TIME_UNSET;
  d.flags = VSS_DIGEST_FULL | VSS_DIGEST_FIRST | VSS_DIGEST_LAST;
  /* A frame before the digest: mark must be the digest's own start. */
  assert_int_equal(vss_wire_encode_xfer_cancel(&b, 1), 0);
  size_t first = b.len;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  assert_int_equal(mark, first);
  for (uint64_t i = 0; i < N; i++) {
    vss_wire_entry e = entry_n(i, i % 7 != 0);
    assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  }
  assert_int_equal(vss_wire_digest_end(&b, mark, N), 0);

  assert_int_equal(decode_exact(b.data + mark, b.len - mark, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_DIGEST);
  assert_memory_equal(m.u.digest.device.b, d.device.b, 16);
  assert_int_equal(m.u.digest.epoch, 9);
  assert_int_equal(m.u.digest.from_seq, 0);
  assert_int_equal(m.u.digest.to_seq, N);
  assert_int_equal(m.u.digest.timestamp, VSS_TIME_UNSET);
  assert_int_equal(m.u.digest.flags, d.flags);
  assert_int_equal(m.u.digest.count, N);
  vss_rd r = m.u.digest.entries;
  for (uint64_t i = 0; i < N; i++) {
    vss_wire_entry want = entry_n(i, i % 7 != 0), got;
    assert_int_equal(vss_wire_next_entry(&r, &got), 0);
    assert_entry_eq(&want, &got);
  }
  assert_int_equal(r.off, r.len);
  free(copy);

  /* The leading frame is still intact. */
  assert_int_equal(decode_exact(b.data, first, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_XFER_CANCEL);
  free(copy);
  vss_buf_free(&b);
}

static void test_entry_sizes(void **state) {
  /* Sizes the engine sizes its pages by: a grid@2x thumb of ~45 KB. */
  vss_msg_digest d;
  vss_wire_entry e;
  vss_buf b = {0};
  size_t mark, hdr;
  (void)state;
  memset(&d, 0, sizeof(d));
  memset(&e, 0, sizeof(e));
  e.key = key_n(1, VSS_KIND_THUMB, "grid@2x");
  e.format = VSS_FMT_WEBP;
  e.has = 1;
  e.size = 45000;
  e.checksum = hash_n(1);
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  hdr = b.len;
  assert_int_equal(hdr, VSS_WIRE_HDR + 4 + 16 + 5); /* five 1-byte varints */
  assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  assert_int_equal(b.len - hdr, 62);
  e.has = 0;
  e.size = 0;
  assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  assert_int_equal(b.len - hdr, 62 + 28); /* a removal has no hash */
  assert_int_equal(vss_wire_digest_end(&b, mark, 2), 0);
  vss_buf_free(&b);

  /* The declared bound holds for the largest entry. */
  memset(e.key.variant, 'x', VSS_VARIANT_MAX);
  e.key.variant[VSS_VARIANT_MAX] = 0;
  e.has = 1;
  e.size = UINT64_MAX;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  hdr = b.len;
  assert_int_equal(vss_wire_digest_add(&b, &e), 0);
  assert_int_equal(b.len - hdr, VSS_WIRE_ENTRY_MAX);
  vss_buf_free(&b);
}

static void test_digest_limits(void **state) {
  vss_msg_digest d;
  vss_buf b = {0};
  size_t mark;
  (void)state;
  memset(&d, 0, sizeof(d));
  d.from_seq = 5;
  d.to_seq = 4;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), VSS_ERR_INVALID);
  assert_int_equal(b.len, 0);
  d.to_seq = 5;

  /* Too many entries for one page. */
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  assert_int_equal(vss_wire_digest_end(&b, mark, VSS_WIRE_MAX_ENTRIES + 1),
                   VSS_ERR_TOO_BIG);
  assert_int_equal(b.len, 0); /* the partial page is dropped */

  /* A page over the body limit fails at end and is dropped. */
  assert_int_equal(vss_wire_encode_xfer_cancel(&b, 3), 0);
  size_t keep = b.len;
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  uint32_t n = 0;
  while (b.len - mark <= VSS_WIRE_MAX_BODY + 4) {
    vss_wire_entry e = entry_n(n, 1);
    assert_int_equal(vss_wire_digest_add(&b, &e), 0);
    n++;
  }
  assert_int_equal(vss_wire_digest_end(&b, mark, n), VSS_ERR_TOO_BIG);
  assert_int_equal(b.len, keep);

  /* A bad entry is refused without touching the buffer. */
  vss_wire_entry e = entry_n(1, 1);
  assert_int_equal(vss_wire_digest_begin(&b, &d, &mark), 0);
  size_t before = b.len;
  e.format = VSS_FMT_COUNT;
  assert_int_equal(vss_wire_digest_add(&b, &e), VSS_ERR_INVALID);
  e.format = VSS_FMT_WEBP;
  e.has = 2;
  assert_int_equal(vss_wire_digest_add(&b, &e), VSS_ERR_INVALID);
  assert_int_equal(b.len, before);
  /* end on something that is not a digest */
  assert_int_equal(vss_wire_digest_end(&b, 0, 0), VSS_ERR_INVALID);
  vss_buf_free(&b);
}

static void test_query_round_trip(void **state) {
  vss_key keys[VSS_WIRE_MAX_KEYS];
  vss_buf b = {0};
  vss_msg m;
  uint8_t *copy;
  (void)state;
  for (uint32_t i = 0; i < VSS_WIRE_MAX_KEYS; i++)
    keys[i] =
        key_n(i, (vss_kind)(i % VSS_KIND_COUNT), i % 2 ? "grid@2x" : "default");
  for (uint32_t count = 0; count <= VSS_WIRE_MAX_KEYS;
       count = count ? count * 4 : 1) {
    b.len = 0;
    assert_int_equal(vss_wire_encode_query(&b, 0xdeadbeef, keys, count), 0);
    assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
    assert_int_equal(m.type, VSS_MSG_QUERY);
    assert_int_equal(m.u.query.req_id, 0xdeadbeef);
    assert_int_equal(m.u.query.count, count);
    vss_rd r = m.u.query.keys;
    for (uint32_t i = 0; i < count; i++) {
      vss_key k;
      assert_int_equal(vss_rd_key(&r, &k), 0);
      assert_memory_equal(&k, &keys[i], sizeof(k));
    }
    assert_int_equal(r.off, r.len);
    free(copy);
  }
  b.len = 0;
  assert_int_equal(vss_wire_encode_query(&b, 1, keys, VSS_WIRE_MAX_KEYS + 1),
                   VSS_ERR_INVALID);
  keys[3].kind = VSS_KIND_COUNT;
  assert_int_equal(vss_wire_encode_query(&b, 1, keys, 5), VSS_ERR_INVALID);
  assert_int_equal(b.len, 0);
  vss_buf_free(&b);
}

static void test_reply_round_trip(void **state) {
  vss_wire_entry res[64];
  vss_buf b = {0};
  vss_msg m;
  uint8_t *copy;
  (void)state;
  for (int i = 0; i < 64; i++)
    res[i] = entry_n((uint64_t)i * 3, i % 3 != 0);
  assert_int_equal(vss_wire_encode_query_reply(&b, 9, res, 64), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_QUERY_REPLY);
  assert_int_equal(m.u.reply.req_id, 9);
  assert_int_equal(m.u.reply.count, 64);
  vss_rd r = m.u.reply.results;
  for (int i = 0; i < 64; i++) {
    vss_wire_entry e;
    assert_int_equal(vss_wire_next_entry(&r, &e), 0);
    assert_entry_eq(&res[i], &e);
  }
  assert_int_equal(r.off, r.len);
  free(copy);
  vss_buf_free(&b);
}

static void test_xfer_get_round_trip(void **state) {
  vss_msg_xfer_get g;
  vss_buf b = {0};
  vss_msg m;
  uint8_t *copy;
  (void)state;
  memset(&g, 0, sizeof(g));
  g.req_id = UINT32_MAX;
  g.key = key_n(3, VSS_KIND_PROXY, "1080p");
  g.format = VSS_FMT_MP4;
  g.offset = UINT64_MAX - VSS_WIRE_MAX_DATA;
  g.length = VSS_WIRE_MAX_DATA;
  g.flags = VSS_GET_META;
  assert_int_equal(vss_wire_encode_xfer_get(&b, &g), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_XFER_GET);
  assert_int_equal(m.u.get.req_id, g.req_id);
  assert_memory_equal(&m.u.get.key, &g.key, sizeof(g.key));
  assert_int_equal(m.u.get.format, g.format);
  assert_int_equal(m.u.get.offset, g.offset);
  assert_int_equal(m.u.get.length, g.length);
  assert_int_equal(m.u.get.flags, g.flags);
  free(copy);

  size_t before = b.len;
  g.length = VSS_WIRE_MAX_DATA + 1;
  assert_int_equal(vss_wire_encode_xfer_get(&b, &g), VSS_ERR_INVALID);
  g.length = 10;
  g.offset = UINT64_MAX - 5; /* range wraps */
  assert_int_equal(vss_wire_encode_xfer_get(&b, &g), VSS_ERR_INVALID);
  g.offset = 0;
  strcpy(g.key.variant, "a/b");
  assert_int_equal(vss_wire_encode_xfer_get(&b, &g), VSS_ERR_INVALID);
  assert_int_equal(b.len, before);
  vss_buf_free(&b);
}

static void check_meta(uint64_t size) {
  uint64_t n = vss_chunk_count(size);
  vss_hash *chunks = calloc(n ? n : 1, sizeof(*chunks));
  vss_hash sum;
  vss_buf b = {0};
  vss_msg m;
  uint8_t *copy;

  for (uint64_t i = 0; i < n; i++)
    chunks[i] = hash_n(i);
  vss_checksum_of_chunks(chunks, n, &sum);
  assert_int_equal(vss_wire_encode_xfer_meta(&b, 4, size, &sum, chunks, n), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_XFER_META);
  assert_int_equal(m.u.meta.req_id, 4);
  assert_int_equal(m.u.meta.size, size);
  assert_int_equal(m.u.meta.nchunks, n);
  assert_true(vss_hash_eq(&m.u.meta.checksum, &sum));
  if (n) assert_memory_equal(m.u.meta.hashes, chunks, n * VSS_HASH_LEN);
  free(copy);
  free(chunks);
  vss_buf_free(&b);
}

static void test_xfer_meta(void **state) {
  vss_hash h = hash_n(0), two[2] = {hash_n(1), hash_n(2)};
  vss_buf b = {0};
  (void)state;
  check_meta(0);
  check_meta(1);
  check_meta(45000);
  check_meta(VSS_CHUNK_SIZE);
  check_meta(3ULL * VSS_CHUNK_SIZE + 5);
  check_meta(8ULL << 30); /* 8 GiB: 32768 chunk hashes, near the limit */

  assert_int_equal(vss_wire_encode_xfer_meta(&b, 1, 10, &h, two, 2),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_wire_encode_xfer_meta(&b, 1, 0, &h, two, 1),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_wire_encode_xfer_meta(&b, 1, UINT64_MAX, &h, two, 0),
                   VSS_ERR_INVALID);
  assert_int_equal(vss_wire_encode_xfer_meta(&b, 1, 9ULL << 30, &h, NULL,
                                             vss_chunk_count(9ULL << 30)),
                   VSS_ERR_INVALID);
  assert_int_equal(b.len, 0);
  vss_buf_free(&b);
}

static void test_xfer_data_error_cancel(void **state) {
  uint8_t *data = malloc(VSS_WIRE_MAX_DATA);
  vss_buf b = {0};
  vss_msg m;
  uint8_t *copy;
  (void)state;
  for (uint32_t i = 0; i < VSS_WIRE_MAX_DATA; i++)
    data[i] = (uint8_t)(i ^ (i >> 8));
  const uint32_t lens[] = {0, 1, 45000, VSS_WIRE_MAX_DATA};
  for (int i = 0; i < 4; i++) {
    b.len = 0;
    assert_int_equal(
        vss_wire_encode_xfer_data(&b, 8, 1ULL << 33, data, lens[i]), 0);
    assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
    assert_int_equal(m.type, VSS_MSG_XFER_DATA);
    assert_int_equal(m.u.data.req_id, 8);
    assert_int_equal(m.u.data.offset, 1ULL << 33);
    assert_int_equal(m.u.data.len, lens[i]);
    if (lens[i]) assert_memory_equal(m.u.data.data, data, lens[i]);
    /* Points into the frame, not a copy. */
    assert_true(m.u.data.data >= copy && m.u.data.data <= copy + b.len);
    free(copy);
  }
  b.len = 0;
  assert_int_equal(
      vss_wire_encode_xfer_data(&b, 8, 0, data, VSS_WIRE_MAX_DATA + 1),
      VSS_ERR_TOO_BIG);
  assert_int_equal(vss_wire_encode_xfer_data(&b, 8, UINT64_MAX, data, 1),
                   VSS_ERR_INVALID);
  assert_int_equal(b.len, 0);

  const int32_t codes[] = {-1,  VSS_ERR_NOT_FOUND, VSS_ERR_MIN, -64,
                           -65, INT32_MIN};
  for (int i = 0; i < 6; i++) {
    b.len = 0;
    assert_int_equal(vss_wire_encode_xfer_error(&b, 2, codes[i]), 0);
    assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
    assert_int_equal(m.type, VSS_MSG_XFER_ERROR);
    assert_int_equal(m.u.error.req_id, 2);
    assert_int_equal(m.u.error.code, codes[i]);
    free(copy);
  }
  /* Zigzag keeps small codes small: -1 .. -64 take one byte. */
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_error(&b, 0, -64), 0);
  assert_int_equal(b.len, VSS_WIRE_HDR + 1 + 1);
  assert_int_equal(vss_wire_encode_xfer_error(&b, 0, 0), VSS_ERR_INVALID);
  assert_int_equal(vss_wire_encode_xfer_error(&b, 0, 5), VSS_ERR_INVALID);

  /* BUSY with a retry-after hint; no hint decodes as 0. */
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_busy(&b, 9, 1500), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.u.error.code, VSS_ERR_BUSY);
  assert_int_equal(m.u.error.retry_after_ms, 1500);
  free(copy);
  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_error(&b, 9, VSS_ERR_BUSY), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.u.error.retry_after_ms, 0);
  free(copy);
  assert_int_equal(vss_wire_encode_xfer_busy(&b, 9, 0), VSS_ERR_INVALID);
  {
    /* A hint on another code, or a hint of 0: one encoding per meaning. */
    uint8_t f[] = {0,
                   0,
                   0,
                   0,
                   VSS_PROTO_VERSION,
                   VSS_MSG_XFER_ERROR,
                   9,
                   (uint8_t)(2 * 8 - 1),
                   5};
    f[0] = (uint8_t)(sizeof(f) - 4);
    vss_msg mm;
    assert_int_equal(vss_wire_decode(f, sizeof(f), &mm), VSS_ERR_PROTO);
    f[7] = (uint8_t)(2 * 23 - 1); /* zigzag(-23): BUSY */
    assert_int_equal(vss_wire_decode(f, sizeof(f), &mm), 0);
    assert_int_equal(mm.u.error.retry_after_ms, 5);
    f[8] = 0;
    assert_int_equal(vss_wire_decode(f, sizeof(f), &mm), VSS_ERR_PROTO);
  }

  b.len = 0;
  assert_int_equal(vss_wire_encode_xfer_cancel(&b, 123456), 0);
  assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
  assert_int_equal(m.type, VSS_MSG_XFER_CANCEL);
  assert_int_equal(m.u.cancel.req_id, 123456);
  free(copy);
  free(data);
  vss_buf_free(&b);
}

/* ---- rejection ------------------------------------------------------- */

/* Every strict prefix of every frame fails; so does the same prefix with
 * its length field patched to match (a well-framed, short payload). */
static void test_truncations(void **state) {
  vss_buf all = {0};
  size_t starts[NFRAMES + 1], n;
  vss_msg m;
  uint8_t *copy;
  (void)state;
  build_all(&all, starts, &n);
  assert_int_equal(n, NFRAMES);
  for (size_t f = 0; f < n; f++) {
    const uint8_t *fr = all.data + starts[f];
    size_t len = starts[f + 1] - starts[f];
    assert_int_equal(decode_exact(fr, len, &m, &copy), 0);
    assert_int_equal(m.type, (vss_msg_type)(f + 1));
    free(copy);
    for (size_t k = 0; k < len; k++) {
      int rc = decode_exact(fr, k, &m, &copy);
      assert_int_equal(rc, k < 4 ? VSS_ERR_TRUNCATED : rc);
      assert_true(rc < 0);
      free(copy);
      if (k < VSS_WIRE_HDR) continue;
      uint8_t *p = malloc(k);
      memcpy(p, fr, k);
      uint32_t body = (uint32_t)(k - 4);
      p[0] = (uint8_t)body;
      p[1] = (uint8_t)(body >> 8);
      p[2] = (uint8_t)(body >> 16);
      p[3] = (uint8_t)(body >> 24);
      rc = vss_wire_decode(p, k, &m);
      if (rc >= 0) fail_msg("frame %zu cut to %zu decoded", f, k);
      assert_true(rc == VSS_ERR_TRUNCATED || rc == VSS_ERR_PROTO);
      free(p);
    }
  }
  vss_buf_free(&all);
}

static void set_body_len(uint8_t *p, uint32_t body) {
  p[0] = (uint8_t)body;
  p[1] = (uint8_t)(body >> 8);
  p[2] = (uint8_t)(body >> 16);
  p[3] = (uint8_t)(body >> 24);
}

static void test_frame_header(void **state) {
  uint8_t p[8] = {0};
  size_t flen = 0;
  vss_msg m;
  (void)state;
  assert_int_equal(vss_wire_frame_len(p, 3, &flen), VSS_ERR_TRUNCATED);
  set_body_len(p, VSS_WIRE_MAX_BODY + 1);
  assert_int_equal(vss_wire_frame_len(p, 8, &flen), VSS_ERR_TOO_BIG);
  assert_int_equal(vss_wire_decode(p, 8, &m), VSS_ERR_TOO_BIG);
  set_body_len(p, UINT32_MAX);
  assert_int_equal(vss_wire_frame_len(p, 4, &flen), VSS_ERR_TOO_BIG);
  set_body_len(p, VSS_WIRE_MAX_BODY);
  assert_int_equal(vss_wire_frame_len(p, 4, &flen), 0);
  assert_int_equal(flen, 4 + VSS_WIRE_MAX_BODY);
  assert_int_equal(vss_wire_decode(p, 8, &m), VSS_ERR_TRUNCATED);
  set_body_len(p, 1); /* no room for version and type */
  assert_int_equal(vss_wire_frame_len(p, 5, &flen), VSS_ERR_PROTO);
  assert_int_equal(vss_wire_decode(p, 5, &m), VSS_ERR_PROTO);
}

static void test_version_type_trailing(void **state) {
  vss_buf all = {0};
  size_t starts[NFRAMES + 1], n;
  vss_msg m;
  (void)state;
  build_all(&all, starts, &n);
  for (size_t f = 0; f < n; f++) {
    size_t len = starts[f + 1] - starts[f];
    uint8_t *p = malloc(len + 1);
    memcpy(p, all.data + starts[f], len);

    p[4] = VSS_PROTO_VERSION + 1;
    assert_int_equal(vss_wire_decode(p, len, &m), VSS_ERR_VERSION);
    p[4] = 0;
    assert_int_equal(vss_wire_decode(p, len, &m), VSS_ERR_VERSION);
    p[4] = VSS_PROTO_VERSION;

    uint8_t type = p[5];
    const uint8_t bad_types[] = {0, VSS_MSG_MAX + 1, 0x80, 0xff};
    for (int t = 0; t < 4; t++) {
      p[5] = bad_types[t];
      assert_int_equal(vss_wire_decode(p, len, &m), VSS_ERR_PROTO);
    }
    p[5] = type;

    /* A byte after the frame, and a byte after the payload inside it. */
    p[len] = 0;
    assert_int_equal(vss_wire_decode(p, len + 1, &m), VSS_ERR_PROTO);
    set_body_len(p, (uint32_t)(len + 1 - 4));
    assert_int_equal(vss_wire_decode(p, len + 1, &m), VSS_ERR_PROTO);
    set_body_len(p, (uint32_t)(len - 4));
    assert_int_equal(vss_wire_decode(p, len, &m), 0);
    free(p);
  }
  vss_buf_free(&all);
}

/* Builds a frame from raw payload bytes. */
static void raw_frame(vss_buf *b, uint8_t type, const vss_buf *payload) {
  b->len = 0;
  assert_int_equal(vss_buf_put(b, "\0\0\0\0", 4), 0);
  assert_int_equal(vss_buf_put_u8(b, VSS_PROTO_VERSION), 0);
  assert_int_equal(vss_buf_put_u8(b, type), 0);
  assert_int_equal(vss_buf_put(b, payload->data, payload->len), 0);
  set_body_len(b->data, (uint32_t)(b->len - 4));
}

/* PING/PONG carry one opaque stamp, echoed bit for bit (any u64: the
 * receiver never interprets it); a stamp over 64 bits, a missing one or a
 * trailing byte is refused. */
static void test_ping_pong(void **state) {
  vss_buf b = {0}, pl = {0}, fr = {0};
  vss_msg m;
  uint8_t *copy;
  const uint64_t stamps[] = {0, 1, 127, 128, 1ULL << 40, UINT64_MAX};
  (void)state;

  for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
    for (int t = VSS_MSG_PING; t <= VSS_MSG_PONG; t++) {
      b.len = 0;
      if (t == VSS_MSG_PING)
        assert_int_equal(vss_wire_encode_ping(&b, stamps[i]), 0);
      else
        assert_int_equal(vss_wire_encode_pong(&b, stamps[i]), 0);
      assert_true(b.len <= VSS_WIRE_HDR + 10);
      assert_int_equal(decode_exact(b.data, b.len, &m, &copy), 0);
      assert_int_equal(m.type, t);
      assert_true(m.u.ping.stamp == stamps[i]);
      free(copy);
    }
  }
  /* Empty payload: truncated. */
  raw_frame(&fr, VSS_MSG_PING, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TRUNCATED);
  /* An 11-byte varint (over 64 bits). */
  uint8_t over[11];
  memset(over, 0xff, sizeof(over));
  over[10] = 0x01;
  assert_int_equal(vss_buf_put(&pl, over, sizeof(over)), 0);
  raw_frame(&fr, VSS_MSG_PONG, &pl);
  assert_int_not_equal(vss_wire_decode(fr.data, fr.len, &m), 0);
  /* A trailing byte after the stamp. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 5), 0);
  assert_int_equal(vss_buf_put_u8(&pl, 0), 0);
  raw_frame(&fr, VSS_MSG_PING, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);
  vss_buf_free(&b);
  vss_buf_free(&pl);
  vss_buf_free(&fr);
}

static void test_counts_and_limits(void **state) {
  vss_buf pl = {0}, fr = {0};
  vss_msg m;
  vss_hash h = hash_n(1);
  (void)state;

  /* QUERY with one key more than allowed (the keys need not be there). */
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_WIRE_MAX_KEYS + 1), 0);
  raw_frame(&fr, VSS_MSG_QUERY, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TOO_BIG);
  raw_frame(&fr, VSS_MSG_QUERY_REPLY, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TOO_BIG);
  /* A count the payload cannot hold. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 2), 0);
  vss_key k = key_n(1, VSS_KIND_THUMB, "x");
  assert_int_equal(vss_buf_put_key(&pl, &k), 0);
  raw_frame(&fr, VSS_MSG_QUERY, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TRUNCATED);
  /* req_id over 32 bits. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1ULL << 32), 0);
  raw_frame(&fr, VSS_MSG_XFER_CANCEL, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);

  /* DIGEST count over the page limit, and seq range backwards. */
  pl.len = 0;
  uint8_t cnt[4] = {0x01, 0x00, 0x01, 0x00}; /* 65537 */
  assert_int_equal(vss_buf_put(&pl, cnt, 4), 0);
  assert_int_equal(vss_buf_put(&pl, uuid_n(1).b, 16), 0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  raw_frame(&fr, VSS_MSG_DIGEST, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TOO_BIG);
  pl.data[2] = 0; /* count 1, no entry */
  raw_frame(&fr, VSS_MSG_DIGEST, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TRUNCATED);
  pl.data[0] = 0; /* count 0 */
  raw_frame(&fr, VSS_MSG_DIGEST, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), 0);
  assert_int_equal(m.u.digest.count, 0);
  assert_int_equal(m.u.digest.entries.len, 0);
  pl.data[4 + 16 + 1] = 1; /* from_seq 1 > to_seq 0 */
  raw_frame(&fr, VSS_MSG_DIGEST, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);

  /* XFER_META: the page must lie inside the list the size implies;
   * hashes must be there. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_CHUNK_SIZE + 1), 0);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0); /* first */
  size_t at = pl.len;
  assert_int_equal(vss_buf_put_varint(&pl, 3), 0); /* of 2 */
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);
  pl.data[at] = 2;
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TRUNCATED);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), 0);
  /* A size whose chunk count overflows the naive formula. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, UINT64_MAX), 0);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);
  /* A size over VSS_SIDECAR_MAX_SIZE is a lie, whatever follows. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_SIDECAR_MAX_SIZE + 1), 0);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);
  /* The largest size in one page: too many hashes for a frame. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_SIDECAR_MAX_SIZE), 0);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  assert_int_equal(
      vss_buf_put_varint(&pl, VSS_SIDECAR_MAX_SIZE / VSS_CHUNK_SIZE), 0);
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TOO_BIG);
  /* A page of a huge list whose hashes are not there: must not
   * multiply past len. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_SIDECAR_MAX_SIZE), 0);
  assert_int_equal(vss_buf_put(&pl, h.b, 32), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 40000), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_WIRE_META_PAGE), 0);
  raw_frame(&fr, VSS_MSG_XFER_META, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TRUNCATED);

  /* XFER_DATA: len over the limit, len past the frame, range wrapping. */
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  assert_int_equal(vss_buf_put_varint(&pl, VSS_WIRE_MAX_DATA + 1), 0);
  raw_frame(&fr, VSS_MSG_XFER_DATA, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TOO_BIG);
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 0), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 10), 0);
  assert_int_equal(vss_buf_put(&pl, "123456789", 9), 0);
  raw_frame(&fr, VSS_MSG_XFER_DATA, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_TRUNCATED);
  pl.len = 0;
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_varint(&pl, UINT64_MAX), 0);
  assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
  assert_int_equal(vss_buf_put_u8(&pl, 'x'), 0);
  raw_frame(&fr, VSS_MSG_XFER_DATA, &pl);
  assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);

  /* XFER_ERROR: zero, positive and out-of-int32 codes. */
  const uint64_t zz[] = {0, 2, 1ULL << 32 | 1, UINT64_MAX};
  for (int i = 0; i < 4; i++) {
    pl.len = 0;
    assert_int_equal(vss_buf_put_varint(&pl, 1), 0);
    assert_int_equal(vss_buf_put_varint(&pl, zz[i]), 0);
    raw_frame(&fr, VSS_MSG_XFER_ERROR, &pl);
    assert_int_equal(vss_wire_decode(fr.data, fr.len, &m), VSS_ERR_PROTO);
  }
  vss_buf_free(&pl);
  vss_buf_free(&fr);
}

/* Corrupts one entry field of a valid QUERY_REPLY and expects PROTO. */
static void test_bad_entries(void **state) {
  vss_wire_entry e = entry_n(0, 1); /* thumb, grid@2x, webp */
  vss_buf b = {0};
  vss_msg m;
  (void)state;
  assert_int_equal(vss_wire_encode_query_reply(&b, 1, &e, 1), 0);
  /* payload: req_id(1) count(1) uuid(16) kind variant_len variant(7)
   * format has size(3) hash(32) */
  size_t base = VSS_WIRE_HDR + 2, kind = base + 16, vlen = kind + 1,
         var = vlen + 1, fmt = var + 7, has = fmt + 1;
  assert_int_equal(vss_wire_decode(b.data, b.len, &m), 0);
  struct {
    size_t at;
    uint8_t v;
  } cases[] = {{kind, VSS_KIND_COUNT},
               {kind, 0xff},
               {var, '/'},
               {var + 3, 0},
               {var, ' '},
               {fmt, VSS_FMT_COUNT},
               {has, 2},
               {has, 0xff}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t old = b.data[cases[i].at];
    b.data[cases[i].at] = cases[i].v;
    assert_int_equal(vss_wire_decode(b.data, b.len, &m), VSS_ERR_PROTO);
    b.data[cases[i].at] = old;
  }
  /* has = 0 with the hash still there: 32 trailing bytes. */
  b.data[has] = 0;
  assert_int_equal(vss_wire_decode(b.data, b.len, &m), VSS_ERR_PROTO);
  vss_buf_free(&b);
}

static void test_stream_reassembly(void **state) {
  vss_buf all = {0};
  size_t starts[NFRAMES + 1], n, off = 0, count = 0;
  (void)state;
  build_all(&all, starts, &n);
  while (off < all.len) {
    size_t flen;
    vss_msg m;
    assert_int_equal(vss_wire_frame_len(all.data + off, all.len - off, &flen),
                     0);
    assert_int_equal(off, starts[count]);
    assert_int_equal(vss_wire_decode(all.data + off, flen, &m), 0);
    assert_int_equal(m.type, (vss_msg_type)(count + 1));
    off += flen;
    count++;
  }
  assert_int_equal(count, NFRAMES);
  vss_buf_free(&all);
}

/* ---- seeded random input --------------------------------------------- */

static int check_exact(const uint8_t *p, size_t n) {
  uint8_t *copy = malloc(n ? n : 1);
  int rc;
  assert_non_null(copy);
  if (n) memcpy(copy, p, n);
  rc = wire_check(copy, n);
  free(copy);
  return rc;
}

static void test_random_frames(void **state) {
  enum { ROUNDS = 100000 };
  uint8_t buf[512];
  vss_rng r;
  int ok = 0;
  (void)state;
  vss_rng_seed(&r, 0x5eed0001);
  for (int i = 0; i < ROUNDS; i++) {
    size_t n = (size_t)vss_rng_below(&r, sizeof(buf));
    for (size_t k = 0; k < n; k++)
      buf[k] = (uint8_t)vss_rng_next(&r);
    /* Most random lengths are huge: give half of them a plausible
     * header so the payload decoders run. */
    if (i % 2 && n >= VSS_WIRE_HDR) {
      set_body_len(buf, (uint32_t)(n - 4));
      buf[4] = VSS_PROTO_VERSION;
      buf[5] = (uint8_t)(1 + vss_rng_below(&r, VSS_MSG_MAX));
    }
    ok += check_exact(buf, n) == 0;
  }
  print_message("random frames: %d of %d decoded\n", ok, ROUNDS);
}

static void test_mutated_frames(void **state) {
  enum { ROUNDS = 100000 };
  vss_buf all = {0};
  size_t starts[NFRAMES + 1], n;
  uint8_t *buf = NULL;
  size_t cap = 0;
  vss_rng r;
  int ok = 0;
  (void)state;
  build_all(&all, starts, &n);
  vss_rng_seed(&r, 0x5eed0002);
  for (int i = 0; i < ROUNDS; i++) {
    size_t f = (size_t)vss_rng_below(&r, n);
    size_t len = starts[f + 1] - starts[f];
    if (cap < len + 16) {
      cap = len + 16;
      buf = realloc(buf, cap);
    }
    memcpy(buf, all.data + starts[f], len);
    int muts = 1 + (int)vss_rng_below(&r, 4);
    for (int k = 0; k < muts && len > 0; k++) {
      size_t at = (size_t)vss_rng_below(&r, len);
      switch (vss_rng_below(&r, 5)) {
      case 0: /* flip a bit */
        buf[at] ^= (uint8_t)(1u << vss_rng_below(&r, 8));
        break;
      case 1: /* random byte */
        buf[at] = (uint8_t)vss_rng_next(&r);
        break;
      case 2: /* delete a byte */
        memmove(buf + at, buf + at + 1, len - at - 1);
        len--;
        break;
      case 3: /* insert a byte */
        if (len + 1 < cap) {
          memmove(buf + at + 1, buf + at, len - at);
          buf[at] = (uint8_t)vss_rng_next(&r);
          len++;
        }
        break;
      default: /* truncate */
        len = at;
      }
    }
    /* Keep the length field honest half the time so that the payload,
     * not the framing, is what gets rejected. */
    if (vss_rng_below(&r, 2) && len >= 4)
      set_body_len(buf, (uint32_t)(len - 4));
    ok += check_exact(buf, len) == 0;
  }
  print_message("mutated frames: %d of %d decoded\n", ok, ROUNDS);
  assert_true(ok > 0); /* some mutations land on free fields */
  free(buf);
  vss_buf_free(&all);
}

static void test_valid_frames_pass_checker(void **state) {
  vss_buf all = {0};
  size_t starts[NFRAMES + 1], n;
  (void)state;
  build_all(&all, starts, &n);
  for (size_t f = 0; f < n; f++)
    assert_int_equal(
        check_exact(all.data + starts[f], starts[f + 1] - starts[f]), 0);
  /* Two frames back to back: the first one alone is checked too. */
  assert_int_equal(check_exact(all.data, starts[2]), VSS_ERR_PROTO);
  vss_buf_free(&all);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint),
      cmocka_unit_test(test_reader_bounds),
      cmocka_unit_test(test_key_encoding),
      cmocka_unit_test(test_hello_round_trip),
      cmocka_unit_test(test_digest_round_trip),
      cmocka_unit_test(test_entry_sizes),
      cmocka_unit_test(test_digest_limits),
      cmocka_unit_test(test_query_round_trip),
      cmocka_unit_test(test_reply_round_trip),
      cmocka_unit_test(test_xfer_get_round_trip),
      cmocka_unit_test(test_xfer_meta),
      cmocka_unit_test(test_xfer_data_error_cancel),
      cmocka_unit_test(test_ping_pong),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_frame_header),
      cmocka_unit_test(test_version_type_trailing),
      cmocka_unit_test(test_counts_and_limits),
      cmocka_unit_test(test_bad_entries),
      cmocka_unit_test(test_stream_reassembly),
      cmocka_unit_test(test_valid_frames_pass_checker),
      cmocka_unit_test(test_random_frames),
      cmocka_unit_test(test_mutated_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
