/*
 * wire.c - frame and message encoding, and bounds-checked decoding.
 *
 * Decoding is strict so that a decoded message is canonical: varints must
 * be minimal, flags-like bytes must be 0/1, and every byte of the body must
 * be consumed. Re-encoding a decoded frame then gives back the same bytes,
 * which the fuzzer checks.
 *
 * Payloads (after the 6-byte frame header):
 *   HELLO        uuid device | v proto | v epoch | v max_seq | v seen_epoch |
 *                v seen_seq | v flags
 *   DIGEST       u32le count | uuid device | v epoch | v from_seq | v to_seq |
 *                v timestamp | v flags | count * entry
 *                (count first and fixed-width so digest_end can patch it)
 *   QUERY        v req_id | v count | count * key
 *   QUERY_REPLY  v req_id | v count | count * entry
 *   XFER_GET     v req_id | key | u8 format | v offset | v length | v flags
 *   XFER_META    v req_id | v size | hash checksum | v first | v count |
 *                count * hash   (hashes first .. first+count-1 of the
 *                sidecar's list; a list longer than VSS_WIRE_META_PAGE
 *                travels in several pages)
 *   XFER_DATA    v req_id | v offset | v len | len bytes
 *   XFER_ERROR   v req_id | zigzag v code
 *   XFER_CANCEL  v req_id
 *   PING         v stamp   (opaque to the receiver)
 *   PONG         v stamp   (the PING's, echoed)
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* ---- growable buffer ------------------------------------------------- */

int vss_buf_reserve(vss_buf *b, size_t extra) {
  size_t need, cap;
  uint8_t *p;

  if (extra > SIZE_MAX - b->len) return VSS_ERR_NOMEM;
  need = b->len + extra;
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if ((p = realloc(b->data, cap)) == NULL) return VSS_ERR_NOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

void vss_buf_free(vss_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int vss_buf_put(vss_buf *b, const void *p, size_t n) {
  int rc;

  if (n == 0) return 0;
  if ((rc = vss_buf_reserve(b, n)) != 0) return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int vss_buf_put_u8(vss_buf *b, uint8_t v) {
  return vss_buf_put(b, &v, 1);
}

size_t vss_varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int vss_buf_put_varint(vss_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;

  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  return vss_buf_put(b, tmp, n);
}

static int put_u32le(vss_buf *b, uint32_t v) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                  (uint8_t)(v >> 24)};
  return vss_buf_put(b, t, 4);
}

static void patch_u32le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* strnlen is POSIX, not C11. */
static size_t bounded_len(const char *s, size_t max) {
  size_t n = 0;
  while (n < max && s[n])
    n++;
  return n;
}

/* Returns the variant length, or -1 when the key cannot go on the wire. */
static int key_variant_len(const vss_key *k) {
  size_t n;

  if ((unsigned)k->kind >= VSS_KIND_COUNT) return -1;
  n = bounded_len(k->variant, sizeof(k->variant));
  if (n == sizeof(k->variant) || !vss_variant_valid(k->variant, n)) return -1;
  return (int)n;
}

int vss_buf_put_key(vss_buf *b, const vss_key *k) {
  int n = key_variant_len(k), rc;

  if (n < 0) return VSS_ERR_INVALID;
  if ((rc = vss_buf_reserve(b, 16 + 2 + (size_t)n)) != 0) return rc;
  vss_buf_put(b, k->content.b, 16);
  vss_buf_put_u8(b, (uint8_t)k->kind);
  vss_buf_put_u8(b, (uint8_t)n);
  vss_buf_put(b, k->variant, (size_t)n);
  return 0;
}

/* ---- reader ---------------------------------------------------------- */

static size_t rd_left(const vss_rd *r) {
  return r->len - r->off;
}

int vss_rd_bytes(vss_rd *r, size_t n, const uint8_t **p) {
  if (n > rd_left(r)) return VSS_ERR_TRUNCATED;
  *p = r->p + r->off;
  r->off += n;
  return 0;
}

int vss_rd_u8(vss_rd *r, uint8_t *v) {
  if (rd_left(r) < 1) return VSS_ERR_TRUNCATED;
  *v = r->p[r->off++];
  return 0;
}

int vss_rd_u32le(vss_rd *r, uint32_t *v) {
  const uint8_t *p;
  int rc = vss_rd_bytes(r, 4, &p);

  if (rc) return rc;
  *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
       (uint32_t)p[3] << 24;
  return 0;
}

int vss_rd_varint(vss_rd *r, uint64_t *v) {
  uint64_t x = 0;

  for (unsigned i = 0; i < 10; i++) {
    uint8_t c;
    if (rd_left(r) < 1) return VSS_ERR_TRUNCATED;
    c = r->p[r->off++];
    /* The 10th byte holds bit 63 only. */
    if (i == 9 && c > 1) return VSS_ERR_PROTO;
    x |= (uint64_t)(c & 0x7f) << (7 * i);
    if (!(c & 0x80)) {
      /* A zero last byte means a longer-than-needed encoding. */
      if (c == 0 && i > 0) return VSS_ERR_PROTO;
      *v = x;
      return 0;
    }
  }
  return VSS_ERR_PROTO;
}

static int rd_varint32(vss_rd *r, uint32_t *v) {
  uint64_t x;
  int rc = vss_rd_varint(r, &x);

  if (rc) return rc;
  if (x > UINT32_MAX) return VSS_ERR_PROTO;
  *v = (uint32_t)x;
  return 0;
}

int vss_rd_uuid(vss_rd *r, vss_uuid *u) {
  const uint8_t *p;
  int rc = vss_rd_bytes(r, sizeof(u->b), &p);

  if (rc == 0) memcpy(u->b, p, sizeof(u->b));
  return rc;
}

int vss_rd_hash(vss_rd *r, vss_hash *h) {
  const uint8_t *p;
  int rc = vss_rd_bytes(r, sizeof(h->b), &p);

  if (rc == 0) memcpy(h->b, p, sizeof(h->b));
  return rc;
}

int vss_rd_key(vss_rd *r, vss_key *k) {
  vss_key t;
  uint8_t kind, n;
  const uint8_t *v;
  int rc;

  memset(&t, 0, sizeof(t));
  if ((rc = vss_rd_uuid(r, &t.content)) || (rc = vss_rd_u8(r, &kind)) ||
      (rc = vss_rd_u8(r, &n)))
    return rc;
  if (kind >= VSS_KIND_COUNT || n == 0 || n > VSS_VARIANT_MAX)
    return VSS_ERR_PROTO;
  if ((rc = vss_rd_bytes(r, n, &v)) != 0) return rc;
  if (!vss_variant_valid((const char *)v, n)) return VSS_ERR_PROTO;
  memcpy(t.variant, v, n);
  t.kind = (vss_kind)kind;
  *k = t;
  return 0;
}

/* ---- entries --------------------------------------------------------- */

static int entry_check(const vss_wire_entry *e, uint8_t max_has) {
  if (key_variant_len(&e->key) < 0 || (unsigned)e->format >= VSS_FMT_COUNT ||
      e->has > max_has)
    return VSS_ERR_INVALID;
  return 0;
}

static int put_entry(vss_buf *b, const vss_wire_entry *e, uint8_t max_has) {
  int rc;

  if ((rc = entry_check(e, max_has)) != 0 ||
      (rc = vss_buf_reserve(b, VSS_WIRE_ENTRY_MAX)) != 0)
    return rc;
  vss_buf_put_key(b, &e->key);
  vss_buf_put_u8(b, (uint8_t)e->format);
  vss_buf_put_u8(b, e->has);
  vss_buf_put_varint(b, e->size);
  if (e->has == 1) vss_buf_put(b, e->checksum.b, VSS_HASH_LEN);
  return 0;
}

/* What a peer may claim to hold: at most VSS_SIDECAR_MAX_SIZE bytes,
 * and an empty sidecar only with the checksum of empty content (it
 * needs no bytes to be verified, so a wrong one could never be caught
 * later). Either is a protocol error: the announcer is lying. */
static int size_claim_ok(uint64_t size, const vss_hash *checksum) {
  if (size > VSS_SIDECAR_MAX_SIZE) return VSS_ERR_PROTO;
  if (size == 0) {
    vss_hash empty;
    vss_checksum_empty(&empty);
    if (!vss_hash_eq(&empty, checksum)) return VSS_ERR_PROTO;
  }
  return 0;
}

static int next_entry(vss_rd *r, vss_wire_entry *e, uint8_t max_has);

int vss_wire_next_entry(vss_rd *r, vss_wire_entry *e) {
  return next_entry(r, e, 1);
}

int vss_wire_next_reply_entry(vss_rd *r, vss_wire_entry *e) {
  return next_entry(r, e, VSS_WIRE_HAS_UNKNOWN);
}

static int next_entry(vss_rd *r, vss_wire_entry *e, uint8_t max_has) {
  vss_wire_entry t;
  uint8_t fmt;
  int rc;

  memset(&t, 0, sizeof(t));
  if ((rc = vss_rd_key(r, &t.key)) || (rc = vss_rd_u8(r, &fmt)) ||
      (rc = vss_rd_u8(r, &t.has)) || (rc = vss_rd_varint(r, &t.size)))
    return rc;
  if (fmt >= VSS_FMT_COUNT || t.has > max_has) return VSS_ERR_PROTO;
  if (t.has == 1 && (rc = vss_rd_hash(r, &t.checksum)) != 0) return rc;
  if (t.has == 1 && (rc = size_claim_ok(t.size, &t.checksum)) != 0) return rc;
  t.format = (vss_format)fmt;
  *e = t;
  return 0;
}

/* ---- frames ---------------------------------------------------------- */

/* Starts a frame: length placeholder, version, type. Returns the offset
 * of the frame so frame_end can patch the length. */
static int frame_begin(vss_buf *b, vss_msg_type type, size_t payload_hint,
                       size_t *start) {
  int rc = vss_buf_reserve(b, VSS_WIRE_HDR + payload_hint);

  if (rc) return rc;
  *start = b->len;
  put_u32le(b, 0);
  vss_buf_put_u8(b, VSS_PROTO_VERSION);
  vss_buf_put_u8(b, (uint8_t)type);
  return 0;
}

/* Patches the length; on any failure drops the partial frame so the
 * buffer holds only whole frames. */
static int frame_end(vss_buf *b, size_t start, int rc) {
  size_t body;

  if (rc == 0) {
    body = b->len - start - 4;
    if (body > VSS_WIRE_MAX_BODY)
      rc = VSS_ERR_TOO_BIG;
    else
      patch_u32le(b->data + start, (uint32_t)body);
  }
  if (rc) b->len = start;
  return rc;
}

int vss_wire_frame_len(const uint8_t *p, size_t len, size_t *frame_len) {
  uint32_t body;

  if (len < 4) return VSS_ERR_TRUNCATED;
  body = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
  if (body > VSS_WIRE_MAX_BODY) return VSS_ERR_TOO_BIG;
  if (body < 2) return VSS_ERR_PROTO;
  *frame_len = 4 + (size_t)body;
  return 0;
}

/* ---- encoders -------------------------------------------------------- */

int vss_wire_encode_hello(vss_buf *b, const vss_msg_hello *m) {
  size_t start;
  int rc = frame_begin(b, VSS_MSG_HELLO, 16 + 6 * 10, &start);

  if (rc) return rc;
  vss_buf_put(b, m->device.b, 16);
  vss_buf_put_varint(b, m->proto);
  vss_buf_put_varint(b, m->epoch);
  vss_buf_put_varint(b, m->max_seq);
  vss_buf_put_varint(b, m->seen_epoch);
  vss_buf_put_varint(b, m->seen_seq);
  vss_buf_put_varint(b, m->flags);
  return frame_end(b, start, 0);
}

#define DIGEST_COUNT_OFF VSS_WIRE_HDR /* u32le count right after the header */

int vss_wire_digest_begin(vss_buf *b, const vss_msg_digest *hdr, size_t *mark) {
  size_t start;
  int rc;

  if (hdr->from_seq > hdr->to_seq) return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_DIGEST, 4 + 16 + 6 * 10, &start)) != 0)
    return rc;
  put_u32le(b, 0);
  vss_buf_put(b, hdr->device.b, 16);
  vss_buf_put_varint(b, hdr->epoch);
  vss_buf_put_varint(b, hdr->from_seq);
  vss_buf_put_varint(b, hdr->to_seq);
  vss_buf_put_varint(b, hdr->timestamp);
  vss_buf_put_varint(b, hdr->flags);
  *mark = start;
  return 0;
}

int vss_wire_digest_add(vss_buf *b, const vss_wire_entry *e) {
  return put_entry(b, e, 1);
}

int vss_wire_digest_end(vss_buf *b, size_t mark, uint32_t count) {
  int rc = 0;

  if (mark > b->len || b->len - mark < VSS_WIRE_HDR + 4 ||
      b->data[mark + 5] != VSS_MSG_DIGEST)
    return VSS_ERR_INVALID;
  if (count > VSS_WIRE_MAX_ENTRIES)
    rc = VSS_ERR_TOO_BIG;
  else
    patch_u32le(b->data + mark + DIGEST_COUNT_OFF, count);
  return frame_end(b, mark, rc);
}

int vss_wire_encode_query(vss_buf *b, uint32_t req_id, const vss_key *keys,
                          uint32_t count) {
  size_t start;
  int rc;

  if (count > VSS_WIRE_MAX_KEYS || (keys == NULL && count))
    return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_QUERY, 10 + (size_t)count * 82, &start)))
    return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, count);
  for (uint32_t i = 0; i < count && rc == 0; i++)
    rc = vss_buf_put_key(b, &keys[i]);
  return frame_end(b, start, rc);
}

int vss_wire_encode_query_reply(vss_buf *b, uint32_t req_id,
                                const vss_wire_entry *results, uint32_t count) {
  size_t start;
  int rc;

  if (count > VSS_WIRE_MAX_KEYS || (results == NULL && count))
    return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_QUERY_REPLY, 10 + (size_t)count * 62,
                        &start)))
    return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, count);
  for (uint32_t i = 0; i < count && rc == 0; i++)
    rc = put_entry(b, &results[i], VSS_WIRE_HAS_UNKNOWN);
  return frame_end(b, start, rc);
}

int vss_wire_encode_xfer_get(vss_buf *b, const vss_msg_xfer_get *m) {
  size_t start;
  int rc;

  if ((unsigned)m->format >= VSS_FMT_COUNT || m->length > VSS_WIRE_MAX_DATA ||
      m->offset > UINT64_MAX - m->length)
    return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_XFER_GET, 5 + 82 + 1 + 20 + 5, &start)))
    return rc;
  vss_buf_put_varint(b, m->req_id);
  if ((rc = vss_buf_put_key(b, &m->key)) == 0) {
    vss_buf_put_u8(b, (uint8_t)m->format);
    vss_buf_put_varint(b, m->offset);
    vss_buf_put_varint(b, m->length);
    vss_buf_put_varint(b, m->flags);
  }
  return frame_end(b, start, rc);
}

/* Chunk count without the overflow of size + CHUNK - 1 near UINT64_MAX. */
static uint64_t chunks_for(uint64_t size) {
  return size / VSS_CHUNK_SIZE + (size % VSS_CHUNK_SIZE != 0);
}

int vss_wire_encode_xfer_meta_page(vss_buf *b, uint32_t req_id, uint64_t size,
                                   const vss_hash *checksum, uint64_t first,
                                   const vss_hash *chunks, uint64_t count) {
  size_t start;
  int rc;
  uint64_t total = chunks_for(size);

  if (checksum == NULL || size > VSS_SIDECAR_MAX_SIZE || first > total ||
      count > total - first || (chunks == NULL && count) ||
      (count == 0 && total != 0))
    return VSS_ERR_INVALID;
  if (count > VSS_WIRE_META_PAGE) return VSS_ERR_TOO_BIG;
  if ((rc = frame_begin(b, VSS_MSG_XFER_META,
                        5 + 10 + VSS_HASH_LEN + 10 + 10 +
                            (size_t)count * VSS_HASH_LEN,
                        &start)))
    return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, size);
  vss_buf_put(b, checksum->b, VSS_HASH_LEN);
  vss_buf_put_varint(b, first);
  vss_buf_put_varint(b, count);
  for (uint64_t i = 0; i < count; i++)
    vss_buf_put(b, chunks[i].b, VSS_HASH_LEN);
  return frame_end(b, start, 0);
}

int vss_wire_encode_xfer_meta(vss_buf *b, uint32_t req_id, uint64_t size,
                              const vss_hash *checksum, const vss_hash *chunks,
                              uint64_t nchunks) {
  if (checksum == NULL || nchunks != chunks_for(size) ||
      (chunks == NULL && nchunks))
    return VSS_ERR_INVALID;
  if (nchunks > VSS_WIRE_META_PAGE) return VSS_ERR_TOO_BIG;
  return vss_wire_encode_xfer_meta_page(b, req_id, size, checksum, 0, chunks,
                                        nchunks);
}

int vss_wire_encode_xfer_data(vss_buf *b, uint32_t req_id, uint64_t offset,
                              const void *data, uint32_t len) {
  size_t start;
  int rc;

  if (len > VSS_WIRE_MAX_DATA) return VSS_ERR_TOO_BIG;
  if ((data == NULL && len) || offset > UINT64_MAX - len)
    return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_XFER_DATA, 5 + 10 + 5 + len, &start)))
    return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, offset);
  vss_buf_put_varint(b, len);
  vss_buf_put(b, data, len);
  return frame_end(b, start, 0);
}

int vss_wire_encode_xfer_synth(vss_buf *b, uint32_t req_id, uint64_t offset,
                               uint32_t len) {
  static const uint8_t mark[VSS_WIRE_SYNTH_MARK];
  size_t start;
  int rc;

  if (len > VSS_WIRE_MAX_DATA) return VSS_ERR_TOO_BIG;
  if (offset > UINT64_MAX - len) return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_XFER_SYNTH, 5 + 10 + 5 + sizeof(mark),
                        &start)))
    return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, offset);
  vss_buf_put_varint(b, len);
  vss_buf_put(b, mark, sizeof(mark));
  return frame_end(b, start, 0);
}

static uint64_t zigzag(int32_t v) {
  int64_t x = v;
  return ((uint64_t)x << 1) ^ (x < 0 ? UINT64_MAX : 0);
}

static int64_t unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

int vss_wire_encode_xfer_error(vss_buf *b, uint32_t req_id, int32_t code) {
  size_t start;
  int rc;

  if (code >= 0) return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_XFER_ERROR, 10, &start))) return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, zigzag(code));
  return frame_end(b, start, 0);
}

int vss_wire_encode_xfer_busy(vss_buf *b, uint32_t req_id,
                              uint32_t retry_after_ms) {
  size_t start;
  int rc;

  if (retry_after_ms == 0) return VSS_ERR_INVALID;
  if ((rc = frame_begin(b, VSS_MSG_XFER_ERROR, 15, &start))) return rc;
  vss_buf_put_varint(b, req_id);
  vss_buf_put_varint(b, zigzag(VSS_ERR_BUSY));
  vss_buf_put_varint(b, retry_after_ms);
  return frame_end(b, start, 0);
}

int vss_wire_encode_xfer_cancel(vss_buf *b, uint32_t req_id) {
  size_t start;
  int rc = frame_begin(b, VSS_MSG_XFER_CANCEL, 5, &start);

  if (rc) return rc;
  vss_buf_put_varint(b, req_id);
  return frame_end(b, start, 0);
}

static int encode_stamp(vss_buf *b, vss_msg_type t, uint64_t stamp) {
  size_t start;
  int rc = frame_begin(b, t, 10, &start);

  if (rc) return rc;
  vss_buf_put_varint(b, stamp);
  return frame_end(b, start, 0);
}

int vss_wire_encode_relay(vss_buf *b, const vss_msg_relay *m,
                          const uint8_t *entries, size_t len) {
  size_t start;
  int rc = frame_begin(b, VSS_MSG_RELAY, 4 + 16 + 4 * 10 + len, &start);

  if (rc) return rc;
  put_u32le(b, m->count);
  vss_buf_put(b, m->origin.b, 16);
  vss_buf_put_varint(b, m->epoch);
  vss_buf_put_varint(b, m->from_seq);
  vss_buf_put_varint(b, m->to_seq);
  vss_buf_put_varint(b, m->hops);
  rc = vss_buf_put(b, entries, len);
  return frame_end(b, start, rc);
}

int vss_wire_encode_ihave(vss_buf *b, vss_msg_type type, const vss_uuid *origin,
                          uint64_t epoch, uint64_t seq) {
  size_t start;
  if (type != VSS_MSG_IHAVE && type != VSS_MSG_WANT) return VSS_ERR_INVALID;
  int rc = frame_begin(b, type, 16 + 2 * 10, &start);

  if (rc) return rc;
  vss_buf_put(b, origin->b, 16);
  vss_buf_put_varint(b, epoch);
  vss_buf_put_varint(b, seq);
  return frame_end(b, start, 0);
}

int vss_wire_encode_ping(vss_buf *b, uint64_t stamp) {
  return encode_stamp(b, VSS_MSG_PING, stamp);
}

int vss_wire_encode_pong(vss_buf *b, uint64_t stamp) {
  return encode_stamp(b, VSS_MSG_PONG, stamp);
}

/* ---- decoders -------------------------------------------------------- */

static int dec_hello(vss_rd *r, vss_msg_hello *m) {
  int rc;

  if ((rc = vss_rd_uuid(r, &m->device)) || (rc = rd_varint32(r, &m->proto)) ||
      (rc = vss_rd_varint(r, &m->epoch)) ||
      (rc = vss_rd_varint(r, &m->max_seq)) ||
      (rc = vss_rd_varint(r, &m->seen_epoch)) ||
      (rc = vss_rd_varint(r, &m->seen_seq)) || (rc = rd_varint32(r, &m->flags)))
    return rc;
  return 0;
}

/* Walks `count` entries from r's position, then hands them to the caller
 * as a sub-reader spanning exactly those bytes. */
static int take_entries(vss_rd *r, uint32_t count, uint8_t max_has,
                        vss_rd *out) {
  size_t begin = r->off;
  vss_wire_entry e;
  int rc;

  for (uint32_t i = 0; i < count; i++)
    if ((rc = next_entry(r, &e, max_has)) != 0) return rc;
  out->p = r->p + begin;
  out->len = r->off - begin;
  out->off = 0;
  return 0;
}

static int dec_digest(vss_rd *r, vss_msg_digest *m) {
  int rc;

  if ((rc = vss_rd_u32le(r, &m->count)) || (rc = vss_rd_uuid(r, &m->device)) ||
      (rc = vss_rd_varint(r, &m->epoch)) ||
      (rc = vss_rd_varint(r, &m->from_seq)) ||
      (rc = vss_rd_varint(r, &m->to_seq)) ||
      (rc = vss_rd_varint(r, &m->timestamp)) ||
      (rc = rd_varint32(r, &m->flags)))
    return rc;
  if (m->count > VSS_WIRE_MAX_ENTRIES) return VSS_ERR_TOO_BIG;
  if (m->from_seq > m->to_seq) return VSS_ERR_PROTO;
  return take_entries(r, m->count, 1, &m->entries);
}

static int dec_query(vss_rd *r, vss_msg_query *m) {
  size_t begin;
  vss_key k;
  int rc;

  if ((rc = rd_varint32(r, &m->req_id)) || (rc = rd_varint32(r, &m->count)))
    return rc;
  if (m->count > VSS_WIRE_MAX_KEYS) return VSS_ERR_TOO_BIG;
  begin = r->off;
  for (uint32_t i = 0; i < m->count; i++)
    if ((rc = vss_rd_key(r, &k)) != 0) return rc;
  m->keys.p = r->p + begin;
  m->keys.len = r->off - begin;
  m->keys.off = 0;
  return 0;
}

static int dec_reply(vss_rd *r, vss_msg_query_reply *m) {
  int rc;

  if ((rc = rd_varint32(r, &m->req_id)) || (rc = rd_varint32(r, &m->count)))
    return rc;
  if (m->count > VSS_WIRE_MAX_KEYS) return VSS_ERR_TOO_BIG;
  return take_entries(r, m->count, VSS_WIRE_HAS_UNKNOWN, &m->results);
}

static int dec_get(vss_rd *r, vss_msg_xfer_get *m) {
  uint8_t fmt;
  int rc;

  if ((rc = rd_varint32(r, &m->req_id)) || (rc = vss_rd_key(r, &m->key)) ||
      (rc = vss_rd_u8(r, &fmt)) || (rc = vss_rd_varint(r, &m->offset)) ||
      (rc = rd_varint32(r, &m->length)) || (rc = rd_varint32(r, &m->flags)))
    return rc;
  if (fmt >= VSS_FMT_COUNT) return VSS_ERR_PROTO;
  if (m->length > VSS_WIRE_MAX_DATA) return VSS_ERR_TOO_BIG;
  if (m->offset > UINT64_MAX - m->length) return VSS_ERR_PROTO;
  m->format = (vss_format)fmt;
  return 0;
}

static int dec_meta(vss_rd *r, vss_msg_xfer_meta *m) {
  int rc;

  uint64_t total;

  if ((rc = rd_varint32(r, &m->req_id)) || (rc = vss_rd_varint(r, &m->size)) ||
      (rc = vss_rd_hash(r, &m->checksum)) ||
      (rc = vss_rd_varint(r, &m->first)) ||
      (rc = vss_rd_varint(r, &m->nchunks)))
    return rc;
  if (m->size > VSS_SIDECAR_MAX_SIZE) return VSS_ERR_PROTO;
  total = chunks_for(m->size);
  m->total = total;
  /* A page lies inside the list, and only an empty list has an empty
   * page. */
  if (m->first > total || m->nchunks > total - m->first ||
      (m->nchunks == 0 && total != 0))
    return VSS_ERR_PROTO;
  if (m->nchunks > VSS_WIRE_META_PAGE) return VSS_ERR_TOO_BIG;
  /* Check before multiplying: nchunks comes from the peer. */
  if (m->nchunks > (r->len - r->off) / VSS_HASH_LEN) return VSS_ERR_TRUNCATED;
  return vss_rd_bytes(r, (size_t)m->nchunks * VSS_HASH_LEN, &m->hashes);
}

/* What XFER_DATA and XFER_SYNTH share: request, offset, length. */
static int dec_data_hdr(vss_rd *r, vss_msg_xfer_data *m) {
  int rc;

  if ((rc = rd_varint32(r, &m->req_id)) ||
      (rc = vss_rd_varint(r, &m->offset)) || (rc = rd_varint32(r, &m->len)))
    return rc;
  if (m->len > VSS_WIRE_MAX_DATA) return VSS_ERR_TOO_BIG;
  if (m->offset > UINT64_MAX - m->len) return VSS_ERR_PROTO;
  return 0;
}

static int dec_data(vss_rd *r, vss_msg_xfer_data *m) {
  int rc = dec_data_hdr(r, m);
  return rc ? rc : vss_rd_bytes(r, m->len, &m->data);
}

static int dec_synth(vss_rd *r, vss_msg_xfer_data *m) {
  int rc = dec_data_hdr(r, m);
  if (rc) return rc;
  m->synth = 1;
  return vss_rd_bytes(r, VSS_WIRE_SYNTH_MARK, &m->data);
}

static int dec_error(vss_rd *r, vss_msg_xfer_error *m) {
  uint64_t z;
  int64_t code;
  int rc;

  if ((rc = rd_varint32(r, &m->req_id)) || (rc = vss_rd_varint(r, &z)))
    return rc;
  code = unzigzag(z);
  /* Only negative int32 codes: anything else is not an error. */
  if (code >= 0 || code < INT32_MIN) return VSS_ERR_PROTO;
  m->code = (int32_t)code;
  m->retry_after_ms = 0;
  if (r->off == r->len) return 0;
  /* Only BUSY carries a hint, and a hint of 0 is not sent (one encoding
   * per meaning). */
  if (code != VSS_ERR_BUSY) return VSS_ERR_PROTO;
  if ((rc = rd_varint32(r, &m->retry_after_ms))) return rc;
  return m->retry_after_ms ? 0 : VSS_ERR_PROTO;
}

static int dec_relay(vss_rd *r, vss_msg_relay *m) {
  int rc;

  if ((rc = vss_rd_u32le(r, &m->count)) || (rc = vss_rd_uuid(r, &m->origin)) ||
      (rc = vss_rd_varint(r, &m->epoch)) ||
      (rc = vss_rd_varint(r, &m->from_seq)) ||
      (rc = vss_rd_varint(r, &m->to_seq)) || (rc = rd_varint32(r, &m->hops)))
    return rc;
  if (m->count > VSS_WIRE_MAX_ENTRIES) return VSS_ERR_TOO_BIG;
  if (m->from_seq > m->to_seq) return VSS_ERR_PROTO;
  return take_entries(r, m->count, 1, &m->entries);
}

static int dec_ihave(vss_rd *r, vss_msg_ihave *m) {
  int rc;
  if ((rc = vss_rd_uuid(r, &m->origin)) || (rc = vss_rd_varint(r, &m->epoch)) ||
      (rc = vss_rd_varint(r, &m->seq)))
    return rc;
  return 0;
}

static int dec_payload(vss_rd *r, vss_msg *out) {
  switch (out->type) {
  case VSS_MSG_HELLO:
    return dec_hello(r, &out->u.hello);
  case VSS_MSG_DIGEST:
    return dec_digest(r, &out->u.digest);
  case VSS_MSG_QUERY:
    return dec_query(r, &out->u.query);
  case VSS_MSG_QUERY_REPLY:
    return dec_reply(r, &out->u.reply);
  case VSS_MSG_XFER_GET:
    return dec_get(r, &out->u.get);
  case VSS_MSG_XFER_META:
    return dec_meta(r, &out->u.meta);
  case VSS_MSG_XFER_DATA:
    return dec_data(r, &out->u.data);
  case VSS_MSG_XFER_SYNTH:
    return dec_synth(r, &out->u.data);
  case VSS_MSG_XFER_ERROR:
    return dec_error(r, &out->u.error);
  case VSS_MSG_XFER_CANCEL:
    return rd_varint32(r, &out->u.cancel.req_id);
  case VSS_MSG_RELAY:
    return dec_relay(r, &out->u.relay);
  case VSS_MSG_IHAVE:
  case VSS_MSG_WANT:
    return dec_ihave(r, &out->u.ihave);
  case VSS_MSG_PING:
  case VSS_MSG_PONG:
    return vss_rd_varint(r, &out->u.ping.stamp);
  }
  return VSS_ERR_PROTO;
}

int vss_wire_decode(const uint8_t *frame, size_t len, vss_msg *out) {
  size_t flen;
  vss_rd r;
  vss_msg m;
  int rc;

  if (out == NULL || (frame == NULL && len)) return VSS_ERR_INVALID;
  if ((rc = vss_wire_frame_len(frame, len, &flen)) != 0) return rc;
  if (len < flen) return VSS_ERR_TRUNCATED;
  /* One call, one frame: bytes past the frame are the caller's framing
   * bug or a peer's padding, never silently ignored. */
  if (len > flen) return VSS_ERR_PROTO;
  if (frame[4] != VSS_PROTO_VERSION) return VSS_ERR_VERSION;
  if ((frame[5] < VSS_MSG_HELLO || frame[5] > VSS_MSG_MAX) &&
      frame[5] != VSS_MSG_XFER_SYNTH)
    return VSS_ERR_PROTO;
  memset(&m, 0, sizeof(m));
  m.type = (vss_msg_type)frame[5];
  r.p = frame + VSS_WIRE_HDR;
  r.len = flen - VSS_WIRE_HDR;
  r.off = 0;
  if ((rc = dec_payload(&r, &m)) != 0) return rc;
  if (r.off != r.len) return VSS_ERR_PROTO;
  *out = m;
  return 0;
}
