/*
 * wire.h - the vss wire format (internal to the core, used by tests and
 * fuzzers).
 *
 * Frame:   u32le body_len | u8 proto_version | u8 type | payload
 *          body_len counts version, type and payload; it is at most
 *          VSS_WIRE_MAX_BODY. Integers in payloads are LEB128 varints
 *          unless stated (uuid = 16 raw bytes, hash = 32 raw bytes).
 * Key:     uuid | u8 kind | u8 variant_len | variant bytes (validated)
 * Entry:   key | u8 format | u8 has | varint size | hash (only if has)
 *
 * Every decoder is bounds-checked: a truncated, oversized or malformed
 * frame returns VSS_ERR_TRUNCATED / VSS_ERR_TOO_BIG / VSS_ERR_PROTO /
 * VSS_ERR_VERSION and never reads past `len`. Decoded variable parts
 * (entries, keys, hashes, data) point into the caller's frame: the frame
 * must outlive the decoded message.
 */
#ifndef VSS_WIRE_H
#define VSS_WIRE_H

#include "vss/model.h"

#define VSS_PROTO_VERSION 1
#define VSS_WIRE_HDR 6 /* u32 len + u8 version + u8 type */
#define VSS_WIRE_MAX_BODY (1024u * 1024u + 1024u)
#define VSS_WIRE_MAX_KEYS 4096            /* keys per QUERY / QUERY_REPLY */
#define VSS_WIRE_MAX_ENTRIES 65536        /* entries per DIGEST page */
#define VSS_WIRE_MAX_DATA (1024u * 1024u) /* bytes per XFER_DATA */
/* Chunk hashes per XFER_META page: 1 MiB of hashes, 8 GiB of sidecar. */
#define VSS_WIRE_META_PAGE 32768u

typedef enum vss_msg_type {
  VSS_MSG_HELLO = 1,
  VSS_MSG_DIGEST = 2,
  VSS_MSG_QUERY = 3,
  VSS_MSG_QUERY_REPLY = 4,
  VSS_MSG_XFER_GET = 5,
  VSS_MSG_XFER_META = 6,
  VSS_MSG_XFER_DATA = 7,
  VSS_MSG_XFER_ERROR = 8,
  VSS_MSG_XFER_CANCEL = 9,
  VSS_MSG_PING = 10,
  VSS_MSG_PONG = 11,
  VSS_MSG_RELAY = 12, /* availability of an origin, passed on (view.c) */
  VSS_MSG_IHAVE = 13, /* "I have news of origin up to seq" */
  VSS_MSG_WANT = 14,  /* "send me origin's news after seq" */
  VSS_MSG_MAX = 14,
  /* Simulation only, outside the protocol's sequence: sidecar bytes that
   * stand for `len` bytes of the synthetic content (no bytes carried),
   * payload v req_id | v offset | v len | 8 marker bytes (zero from an
   * honest sender). Only a node with cfg.synthetic_data accepts it. */
  VSS_MSG_XFER_SYNTH = 0x40
} vss_msg_type;
#define VSS_WIRE_SYNTH_MARK 8 /* marker bytes of an XFER_SYNTH frame */

/* ---- growable output buffer ------------------------------------------ */

typedef struct vss_buf {
  uint8_t *data;
  size_t len, cap;
} vss_buf;

int vss_buf_reserve(vss_buf *b, size_t extra);
void vss_buf_free(vss_buf *b);
int vss_buf_put(vss_buf *b, const void *p, size_t n);
int vss_buf_put_u8(vss_buf *b, uint8_t v);
int vss_buf_put_varint(vss_buf *b, uint64_t v);
int vss_buf_put_key(vss_buf *b, const vss_key *k);
size_t vss_varint_len(uint64_t v);

/* ---- bounds-checked reader ------------------------------------------- */

typedef struct vss_rd {
  const uint8_t *p;
  size_t len, off;
} vss_rd;

int vss_rd_u8(vss_rd *r, uint8_t *v);
int vss_rd_u32le(vss_rd *r, uint32_t *v);
/* Rejects over-long (>10 byte) and non-canonical-overflow encodings. */
int vss_rd_varint(vss_rd *r, uint64_t *v);
int vss_rd_bytes(vss_rd *r, size_t n, const uint8_t **p);
int vss_rd_uuid(vss_rd *r, vss_uuid *u);
int vss_rd_hash(vss_rd *r, vss_hash *h);
int vss_rd_key(vss_rd *r, vss_key *k);

/* ---- messages -------------------------------------------------------- */

/* Sent on connect and at every periodic round. Carries what the sender
 * has (epoch, max_seq) and what it has seen of the receiver, so the
 * receiver can answer with exactly the delta (or a full digest when the
 * epochs differ or seen_seq is 0). */
typedef struct vss_msg_hello {
  vss_uuid device;
  uint32_t proto;
  uint64_t epoch, max_seq;
  uint64_t seen_epoch, seen_seq; /* of the receiver; 0,0 = nothing */
  uint32_t flags;
} vss_msg_hello;

typedef struct vss_wire_entry {
  vss_key key;
  vss_format format;
  uint8_t has; /* 0 = removed since / don't have, 1 = have (checksum
                 follows), VSS_WIRE_HAS_UNKNOWN (QUERY_REPLY only) */
  uint64_t size;
  vss_hash checksum;
} vss_wire_entry;

/* A QUERY_REPLY entry whose answerer could not look (store failure):
 * neither have nor a cacheable "no". Digests never carry it. */
#define VSS_WIRE_HAS_UNKNOWN 2

#define VSS_DIGEST_FULL 0x1  /* replaces everything known of the sender */
#define VSS_DIGEST_FIRST 0x2 /* first page of this digest */
#define VSS_DIGEST_LAST 0x4  /* last page: the receiver has seen to_seq */

/* One page of a digest: the sender's rows with from_seq < seq <= to_seq. */
typedef struct vss_msg_digest {
  vss_uuid device;
  uint64_t epoch;
  uint64_t from_seq, to_seq;
  vss_time timestamp;
  uint32_t flags;
  uint32_t count;
  vss_rd entries; /* decode with vss_wire_next_entry */
} vss_msg_digest;

typedef struct vss_msg_query {
  uint32_t req_id;
  uint32_t count;
  vss_rd keys; /* decode with vss_rd_key */
} vss_msg_query;

typedef struct vss_msg_query_reply {
  uint32_t req_id;
  uint32_t count;
  vss_rd results; /* decode with vss_wire_next_entry (has = have) */
} vss_msg_query_reply;

#define VSS_GET_META 0x1       /* send XFER_META before any data */
#define VSS_GET_FOREGROUND 0x2 /* serve ahead of background requests */

/* Ask for [offset, offset+length) of a sidecar; length 0 with META asks
 * for the metadata only. A peer can only name a sidecar key. */
typedef struct vss_msg_xfer_get {
  uint32_t req_id;
  vss_key key;
  vss_format format;
  uint64_t offset;
  uint32_t length; /* <= VSS_WIRE_MAX_DATA */
  uint32_t flags;
} vss_msg_xfer_get;

/* One page of a sidecar's chunk-hash list: hashes first ..
 * first + nchunks - 1 of total = vss_chunk_count(size). A list of up to
 * VSS_WIRE_META_PAGE hashes (8 GiB of sidecar) is one page; a longer one
 * is asked for page by page (XFER_GET with META, length 0 and offset =
 * the first hash wanted). */
typedef struct vss_msg_xfer_meta {
  uint32_t req_id;
  uint64_t size; /* <= VSS_SIDECAR_MAX_SIZE */
  vss_hash checksum;
  uint64_t first;        /* index of the first hash in this page */
  uint64_t nchunks;      /* hashes in this page (total for one page) */
  uint64_t total;        /* vss_chunk_count(size); derived, not sent */
  const uint8_t *hashes; /* nchunks * 32 bytes, in the frame */
} vss_msg_xfer_meta;

typedef struct vss_msg_xfer_data {
  uint32_t req_id;
  uint64_t offset;
  uint32_t len;
  const uint8_t *data; /* in the frame; XFER_SYNTH: the 8 marker bytes */
  uint8_t synth;       /* decoded from XFER_SYNTH: len bytes stood for */
} vss_msg_xfer_data;

/* A request refused or failed. VSS_ERR_BUSY (the source is at its upload
 * capacity) may carry a retry-after hint in milliseconds (>= 1; 0 here =
 * none sent): the requester leaves that source alone for about that long
 * and blames it for nothing. No other code carries a hint. */
typedef struct vss_msg_xfer_error {
  uint32_t req_id;
  int32_t code;            /* a VSS_ERR_* (negative) */
  uint32_t retry_after_ms; /* VSS_ERR_BUSY only; 0 = no hint */
} vss_msg_xfer_error;

typedef struct vss_msg_xfer_cancel {
  uint32_t req_id;
} vss_msg_xfer_cancel;

/* Round-trip probe: the receiver answers PING with a PONG carrying the
 * same stamp. The stamp is opaque to the receiver (the sender's clock, in
 * practice), so answering needs no state and no clock. */
typedef struct vss_msg_ping {
  uint64_t stamp;
} vss_msg_ping;

/* An origin's availability entries (its log rows from_seq < seq <=
 * to_seq, as its own digest carried them), passed on by a peer that has
 * no business holding them: a large library's devices learn of holders
 * they have no session with. hops bounds how far it is forwarded. */
typedef struct vss_msg_relay {
  vss_uuid origin;
  uint64_t epoch, from_seq, to_seq;
  uint32_t hops;
  uint32_t count;
  vss_rd entries; /* decode with vss_wire_next_entry */
} vss_msg_relay;

/* IHAVE: the sender has the origin's news up to seq (lazy push); WANT:
 * send me what you have of origin after seq. */
typedef struct vss_msg_ihave {
  vss_uuid origin;
  uint64_t epoch, seq;
} vss_msg_ihave;

typedef struct vss_msg {
  vss_msg_type type;
  union {
    vss_msg_hello hello;
    vss_msg_digest digest;
    vss_msg_query query;
    vss_msg_query_reply reply;
    vss_msg_xfer_get get;
    vss_msg_xfer_meta meta;
    vss_msg_xfer_data data;
    vss_msg_xfer_error error;
    vss_msg_xfer_cancel cancel;
    vss_msg_ping ping; /* PING and PONG */
    vss_msg_relay relay;
    vss_msg_ihave ihave; /* IHAVE and WANT */
  } u;
} vss_msg;

/* How many bytes the next frame in `p` needs in total, once at least 4
 * bytes are there (stream reassembly). VSS_ERR_TOO_BIG when over limit,
 * VSS_ERR_TRUNCATED when fewer than 4 bytes. */
int vss_wire_frame_len(const uint8_t *p, size_t len, size_t *frame_len);

/* Decode and fully validate one frame (every entry/key included). */
int vss_wire_decode(const uint8_t *frame, size_t len, vss_msg *out);
int vss_wire_next_entry(vss_rd *r, vss_wire_entry *e);
/* The same for QUERY_REPLY results, which may say VSS_WIRE_HAS_UNKNOWN. */
int vss_wire_next_reply_entry(vss_rd *r, vss_wire_entry *e);

/* Encoders append one complete frame to `b`. */
int vss_wire_encode_hello(vss_buf *b, const vss_msg_hello *m);
/* Digest pages are built incrementally: begin, add entries, end (which
 * patches the count and frame length). */
int vss_wire_digest_begin(vss_buf *b, const vss_msg_digest *hdr, size_t *mark);
int vss_wire_digest_add(vss_buf *b, const vss_wire_entry *e);
int vss_wire_digest_end(vss_buf *b, size_t mark, uint32_t count);
int vss_wire_encode_query(vss_buf *b, uint32_t req_id, const vss_key *keys,
                          uint32_t count);
int vss_wire_encode_query_reply(vss_buf *b, uint32_t req_id,
                                const vss_wire_entry *results, uint32_t count);
int vss_wire_encode_xfer_get(vss_buf *b, const vss_msg_xfer_get *m);
/* The whole list in one page (nchunks == vss_chunk_count(size), at most
 * VSS_WIRE_META_PAGE, else VSS_ERR_TOO_BIG). */
int vss_wire_encode_xfer_meta(vss_buf *b, uint32_t req_id, uint64_t size,
                              const vss_hash *checksum, const vss_hash *chunks,
                              uint64_t nchunks);
/* One page: chunks points at hash `first`, count of them. */
int vss_wire_encode_xfer_meta_page(vss_buf *b, uint32_t req_id, uint64_t size,
                                   const vss_hash *checksum, uint64_t first,
                                   const vss_hash *chunks, uint64_t count);
/* XFER_SYNTH: len bytes of the synthetic content at offset (simulation). */
int vss_wire_encode_xfer_synth(vss_buf *b, uint32_t req_id, uint64_t offset,
                               uint32_t len);
int vss_wire_encode_xfer_data(vss_buf *b, uint32_t req_id, uint64_t offset,
                              const void *data, uint32_t len);
int vss_wire_encode_xfer_error(vss_buf *b, uint32_t req_id, int32_t code);
/* XFER_ERROR VSS_ERR_BUSY with a retry-after hint (ms, >= 1). */
int vss_wire_encode_xfer_busy(vss_buf *b, uint32_t req_id,
                              uint32_t retry_after_ms);
int vss_wire_encode_xfer_cancel(vss_buf *b, uint32_t req_id);
int vss_wire_encode_ping(vss_buf *b, uint64_t stamp);
int vss_wire_encode_pong(vss_buf *b, uint64_t stamp);
/* entries: count already-encoded digest entries (len bytes), copied. */
int vss_wire_encode_relay(vss_buf *b, const vss_msg_relay *hdr,
                          const uint8_t *entries, size_t len);
/* type VSS_MSG_IHAVE or VSS_MSG_WANT */
int vss_wire_encode_ihave(vss_buf *b, vss_msg_type type, const vss_uuid *origin,
                          uint64_t epoch, uint64_t seq);

/* Upper bound of one encoded digest entry, to size pages. */
#define VSS_WIRE_ENTRY_MAX (16 + 1 + 1 + VSS_VARIANT_MAX + 1 + 1 + 10 + 32)

#endif
