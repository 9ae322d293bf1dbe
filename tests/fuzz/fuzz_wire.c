/*
 * fuzz_wire.c - libFuzzer target for every wire decoder.
 *
 * For any input: vss_wire_decode must not crash or over-read, and must
 * either fail with a peer-error code or return a message that
 *   - iterates cleanly (every entry / key decodes, the sub-reader ends
 *     exactly at its end), and
 *   - re-encodes to the very same bytes (decoding is canonical).
 * When the input holds more than one frame, the first frame alone is
 * checked the same way (stream reassembly path).
 *
 * tests/unit/test_wire.c includes this file to run wire_check over seeded
 * random and mutated frames in every CTest run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define WIRE_CHECK(c)                                                          \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "%s:%d: wire check failed: %s\n", __FILE__, __LINE__,    \
              #c);                                                             \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static int wire_rc_ok(int rc) {
  return rc == VSS_ERR_TRUNCATED || rc == VSS_ERR_TOO_BIG ||
         rc == VSS_ERR_PROTO || rc == VSS_ERR_VERSION;
}

static void reencode_digest(vss_buf *b, const vss_msg_digest *m) {
  vss_rd r = m->entries;
  vss_wire_entry e;
  size_t mark;

  WIRE_CHECK(vss_wire_digest_begin(b, m, &mark) == 0);
  for (uint32_t i = 0; i < m->count; i++) {
    WIRE_CHECK(vss_wire_next_entry(&r, &e) == 0);
    WIRE_CHECK(vss_wire_digest_add(b, &e) == 0);
  }
  WIRE_CHECK(r.off == r.len);
  WIRE_CHECK(vss_wire_digest_end(b, mark, m->count) == 0);
}

static void reencode_query(vss_buf *b, const vss_msg_query *m) {
  vss_key *keys = calloc(m->count ? m->count : 1, sizeof(*keys));
  vss_rd r = m->keys;

  WIRE_CHECK(keys != NULL);
  for (uint32_t i = 0; i < m->count; i++)
    WIRE_CHECK(vss_rd_key(&r, &keys[i]) == 0);
  WIRE_CHECK(r.off == r.len);
  WIRE_CHECK(vss_wire_encode_query(b, m->req_id, keys, m->count) == 0);
  free(keys);
}

static void reencode_reply(vss_buf *b, const vss_msg_query_reply *m) {
  vss_wire_entry *res = calloc(m->count ? m->count : 1, sizeof(*res));
  vss_rd r = m->results;

  WIRE_CHECK(res != NULL);
  for (uint32_t i = 0; i < m->count; i++)
    WIRE_CHECK(vss_wire_next_reply_entry(&r, &res[i]) == 0);
  WIRE_CHECK(r.off == r.len);
  WIRE_CHECK(vss_wire_encode_query_reply(b, m->req_id, res, m->count) == 0);
  free(res);
}

static void reencode_meta(vss_buf *b, const vss_msg_xfer_meta *m) {
  vss_hash *h = calloc(m->nchunks ? m->nchunks : 1, sizeof(*h));

  WIRE_CHECK(h != NULL);
  WIRE_CHECK(m->total == vss_chunk_count(m->size));
  WIRE_CHECK(m->first + m->nchunks <= m->total);
  if (m->nchunks) memcpy(h, m->hashes, m->nchunks * sizeof(*h));
  WIRE_CHECK(vss_wire_encode_xfer_meta_page(b, m->req_id, m->size, &m->checksum,
                                            m->first, h, m->nchunks) == 0);
  free(h);
}

static void reencode(vss_buf *b, const vss_msg *m) {
  switch (m->type) {
  case VSS_MSG_HELLO:
    WIRE_CHECK(vss_wire_encode_hello(b, &m->u.hello) == 0);
    break;
  case VSS_MSG_DIGEST:
    reencode_digest(b, &m->u.digest);
    break;
  case VSS_MSG_QUERY:
    reencode_query(b, &m->u.query);
    break;
  case VSS_MSG_QUERY_REPLY:
    reencode_reply(b, &m->u.reply);
    break;
  case VSS_MSG_XFER_GET:
    WIRE_CHECK(vss_wire_encode_xfer_get(b, &m->u.get) == 0);
    break;
  case VSS_MSG_XFER_META:
    reencode_meta(b, &m->u.meta);
    break;
  case VSS_MSG_XFER_DATA:
    WIRE_CHECK(m->u.data.len <= VSS_WIRE_MAX_DATA);
    WIRE_CHECK(vss_wire_encode_xfer_data(b, m->u.data.req_id, m->u.data.offset,
                                         m->u.data.data, m->u.data.len) == 0);
    break;
  case VSS_MSG_XFER_SYNTH:
    /* The encoder writes a clean marker; a decoded one may be damaged
     * (which the receiver's hash check catches): carry it over. */
    WIRE_CHECK(m->u.data.synth && m->u.data.len <= VSS_WIRE_MAX_DATA);
    WIRE_CHECK(vss_wire_encode_xfer_synth(b, m->u.data.req_id, m->u.data.offset,
                                          m->u.data.len) == 0);
    WIRE_CHECK(b->len >= VSS_WIRE_SYNTH_MARK);
    memcpy(b->data + b->len - VSS_WIRE_SYNTH_MARK, m->u.data.data,
           VSS_WIRE_SYNTH_MARK);
    break;
  case VSS_MSG_XFER_ERROR:
    WIRE_CHECK(m->u.error.code < 0);
    if (m->u.error.retry_after_ms) {
      WIRE_CHECK(m->u.error.code == VSS_ERR_BUSY);
      WIRE_CHECK(vss_wire_encode_xfer_busy(b, m->u.error.req_id,
                                           m->u.error.retry_after_ms) == 0);
    } else {
      WIRE_CHECK(vss_wire_encode_xfer_error(b, m->u.error.req_id,
                                            m->u.error.code) == 0);
    }
    break;
  case VSS_MSG_XFER_CANCEL:
    WIRE_CHECK(vss_wire_encode_xfer_cancel(b, m->u.cancel.req_id) == 0);
    break;
  case VSS_MSG_PING:
    WIRE_CHECK(vss_wire_encode_ping(b, m->u.ping.stamp) == 0);
    break;
  case VSS_MSG_PONG:
    WIRE_CHECK(vss_wire_encode_pong(b, m->u.ping.stamp) == 0);
    break;
  case VSS_MSG_RELAY: {
    vss_rd r = m->u.relay.entries;
    vss_wire_entry e;
    for (uint32_t i = 0; i < m->u.relay.count; i++)
      WIRE_CHECK(vss_wire_next_entry(&r, &e) == 0);
    WIRE_CHECK(r.off == r.len);
    const vss_rd *en = &m->u.relay.entries;
    WIRE_CHECK(vss_wire_encode_relay(b, &m->u.relay, en->p + en->off,
                                     en->len - en->off) == 0);
    break;
  }
  case VSS_MSG_IHAVE:
  case VSS_MSG_WANT:
    WIRE_CHECK(vss_wire_encode_ihave(b, m->type, &m->u.ihave.origin,
                                     m->u.ihave.epoch, m->u.ihave.seq) == 0);
    break;
  default:
    WIRE_CHECK(!"decoded an unknown type");
  }
}

/* Decodes one buffer; on success checks iteration and re-encoding. */
static int wire_check_one(const uint8_t *p, size_t n) {
  vss_msg m;
  vss_buf b = {0};
  size_t flen = 0;
  int rc = vss_wire_decode(p, n, &m);

  if (rc != 0) {
    WIRE_CHECK(wire_rc_ok(rc));
    return rc;
  }
  WIRE_CHECK(vss_wire_frame_len(p, n, &flen) == 0 && flen == n);
  reencode(&b, &m);
  WIRE_CHECK(b.len == n && memcmp(b.data, p, n) == 0);
  vss_buf_free(&b);
  return 0;
}

/* Returns the decode result of the whole input. */
static int wire_check(const uint8_t *p, size_t n) {
  size_t flen;
  int rc = vss_wire_frame_len(p, n, &flen);

  if (rc == 0 && flen < n) wire_check_one(p, flen);
  return wire_check_one(p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wire_check(data, size);
  return 0;
}
