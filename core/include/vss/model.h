/*
 * vss/model.h - time, errors and the sidecar data model.
 *
 * Everything here is pure: no I/O, no allocation except where stated.
 */
#ifndef VSS_MODEL_H
#define VSS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- time ------------------------------------------------------------ */

/* Nanoseconds on the driver's clock. The core never reads a clock: every
 * entry point takes `now`. */
typedef uint64_t vss_time;
#define VSS_TIME_UNSET UINT64_MAX
#define VSS_NS_PER_US 1000ULL
#define VSS_NS_PER_MS 1000000ULL
#define VSS_NS_PER_S 1000000000ULL

/* ---- errors ---------------------------------------------------------- */

/* Every fallible function returns 0 (or a count) on success and one of
 * these on failure. */
enum {
  VSS_OK = 0,
  VSS_ERR_NOMEM = -1,         /* allocation failed */
  VSS_ERR_INVALID = -2,       /* bad argument from the caller */
  VSS_ERR_PROTO = -3,         /* malformed message from a peer */
  VSS_ERR_TRUNCATED = -4,     /* message ends before its fields do */
  VSS_ERR_TOO_BIG = -5,       /* message or field over its limit */
  VSS_ERR_VERSION = -6,       /* unsupported protocol or schema version */
  VSS_ERR_STORE = -7,         /* database failure */
  VSS_ERR_NOT_FOUND = -8,     /* no such sidecar, peer or job */
  VSS_ERR_CHECKSUM = -9,      /* bytes do not match their checksum */
  VSS_ERR_NO_SOURCE = -10,    /* no online peer has the sidecar */
  VSS_ERR_IO = -11,           /* blob store read/write failed */
  VSS_ERR_FULL = -12,         /* storage budget or disk full */
  VSS_ERR_UNKNOWN_PEER = -13, /* peer not paired / not connected */
  VSS_ERR_BUFFER = -14,       /* caller's output buffer too small */
  VSS_ERR_TIMEOUT = -15,      /* request or transfer stalled */
  VSS_ERR_CANCELED = -16,     /* job cancelled */
  VSS_ERR_GENERATE = -17,     /* local generation failed or unavailable */
  VSS_ERR_RETRIES = -18,      /* retry budget exhausted */
  VSS_ERR_PEER = -19,         /* peer answered with an error */
  VSS_ERR_DUPLICATE = -20,    /* already exists / already in progress */
  VSS_ERR_CORRUPT = -21,      /* stored data fails validation */
  VSS_ERR_LIMIT = -22,        /* a peer or the node hit a stated bound */
  VSS_ERR_BUSY = -23,         /* source at its upload capacity: ask later */
};
#define VSS_ERR_MIN (-23)

/* A static, human-readable description of an error code. */
const char *vss_strerror(int rc);

/* ---- identifiers ----------------------------------------------------- */

typedef struct vss_uuid {
  uint8_t b[16];
} vss_uuid;
#define VSS_UUID_STR_LEN 36 /* 8-4-4-4-12, without the NUL */

/* Accepts 36-char hyphenated or 32-char plain hex, either case. */
int vss_uuid_parse(vss_uuid *out, const char *s, size_t len);
/* Writes lowercase hyphenated form plus NUL into out[37]. */
void vss_uuid_format(const vss_uuid *u, char out[VSS_UUID_STR_LEN + 1]);
int vss_uuid_cmp(const vss_uuid *a, const vss_uuid *b);
int vss_uuid_is_nil(const vss_uuid *u);

/* ---- kinds, formats, statuses (strings as Spacedrive stores them) ---- */

typedef enum vss_kind {
  VSS_KIND_THUMB = 0,      /* "thumb" / thumbs */
  VSS_KIND_THUMBSTRIP,     /* "thumbstrip" / thumbstrips */
  VSS_KIND_PROXY,          /* "proxy" / proxies */
  VSS_KIND_EMBEDDINGS,     /* "embeddings" / embeddings */
  VSS_KIND_OCR,            /* "ocr" / ocr */
  VSS_KIND_TRANSCRIPT,     /* "transcript" / transcript */
  VSS_KIND_GAUSSIAN_SPLAT, /* "gaussian_splat" / gaussian_splats */
  VSS_KIND_COUNT
} vss_kind;

const char *vss_kind_name(vss_kind k); /* NULL when out of range */
const char *vss_kind_dir(vss_kind k);
int vss_kind_parse(const char *s, size_t len, vss_kind *out);
int vss_kind_from_dir(const char *s, size_t len, vss_kind *out);

typedef enum vss_format {
  VSS_FMT_WEBP = 0, /* webp / .webp */
  VSS_FMT_MP4,      /* mp4 / .mp4 */
  VSS_FMT_JSON,     /* json / .json */
  VSS_FMT_MSGPACK,  /* messagepack / .msgpack */
  VSS_FMT_TEXT,     /* text / .txt */
  VSS_FMT_PLY,      /* ply / .ply */
  VSS_FMT_COUNT
} vss_format;

const char *vss_format_name(vss_format f);
const char *vss_format_ext(vss_format f);
int vss_format_parse(const char *s, size_t len, vss_format *out);
int vss_format_from_ext(const char *s, size_t len, vss_format *out);

typedef enum vss_status {
  VSS_STATUS_PENDING = 0,
  VSS_STATUS_READY,
  VSS_STATUS_FAILED,
  VSS_STATUS_COUNT
} vss_status;

const char *vss_status_name(vss_status s);
int vss_status_parse(const char *s, size_t len, vss_status *out);

/* ---- the sidecar key ------------------------------------------------- */

/* Variants are short tokens: grid@2x, detail@1x, 1080p, all-MiniLM-L6-v2.
 * Allowed bytes: [A-Za-z0-9@._-], 1..VSS_VARIANT_MAX, not "." or "..":
 * a variant becomes a file name, so it must never name a path. */
#define VSS_VARIANT_MAX 63

typedef struct vss_key {
  vss_uuid content;
  vss_kind kind;
  char variant[VSS_VARIANT_MAX + 1]; /* NUL-terminated */
} vss_key;

int vss_variant_valid(const char *s, size_t len);
/* Fills a key; VSS_ERR_INVALID on a bad kind or variant. */
int vss_key_set(vss_key *k, const vss_uuid *content, vss_kind kind,
                const char *variant);
int vss_key_cmp(const vss_key *a, const vss_key *b);
/* Well-known variant pixel sizes for thumbnails (0 when unknown). */
unsigned vss_variant_pixels(const char *variant);

/* sidecar://{content_uuid}/{kind_dir}/{variant}.{ext} */
#define VSS_URI_MAX 160
int vss_uri_parse(const char *uri, size_t len, vss_key *key, vss_format *fmt);
/* Returns the length written (without NUL) or VSS_ERR_BUFFER. */
int vss_uri_format(const vss_key *key, vss_format fmt, char *buf, size_t cap);

/* sidecars/content/{h0}/{h1}/{content_uuid}/{kind_dir}/{variant}.{ext} */
#define VSS_REL_PATH_MAX 200
int vss_rel_path(const vss_key *key, vss_format fmt, char *buf, size_t cap);

/* ---- checksums ------------------------------------------------------- */

/* One algorithm end to end: BLAKE2b-256 (libsodium crypto_generichash).
 * A sidecar's checksum is two-level: BLAKE2b-256 over the concatenated
 * BLAKE2b-256 hashes of its VSS_CHUNK_SIZE chunks (the last one short).
 * A receiver checks the chunk-hash list against the checksum first, then
 * each chunk as it lands, and can blame the source of a bad chunk.
 * An empty sidecar has zero chunks: its checksum hashes the empty string. */
#define VSS_HASH_LEN 32
#define VSS_HASH_HEX_LEN 64
#define VSS_CHUNK_SIZE (256u * 1024u)

typedef struct vss_hash {
  uint8_t b[VSS_HASH_LEN];
} vss_hash;

void vss_hash_bytes(const void *data, size_t len, vss_hash *out);
void vss_hash_hex(const vss_hash *h, char out[VSS_HASH_HEX_LEN + 1]);
int vss_hash_parse_hex(vss_hash *out, const char *s, size_t len);
int vss_hash_eq(const vss_hash *a, const vss_hash *b);

/* The largest sidecar the protocol carries: 1 TiB, i.e. 4 Mi chunks and
 * a 128 MiB chunk-hash list (a proxy of a long 8K video is ~100 GiB).
 * A size above it, wherever a peer states one (digest entry, query
 * reply, META), is a protocol error; locally it is VSS_ERR_TOO_BIG. It
 * bounds what a claimed size can make a receiver allocate, and keeps
 * every sum of sizes far from wrapping. */
#define VSS_SIDECAR_MAX_SIZE (1ull << 40)

/* Written so that it cannot wrap near UINT64_MAX. */
static inline uint64_t vss_chunk_count(uint64_t size) {
  return size / VSS_CHUNK_SIZE + (size % VSS_CHUNK_SIZE != 0);
}

/* Streaming two-level hasher: feed bytes in order, any split. */
typedef struct vss_hasher vss_hasher;
int vss_hasher_new(vss_hasher **out);
void vss_hasher_del(vss_hasher *h);
int vss_hasher_update(vss_hasher *h, const void *data, size_t len);
/* Finishes: the checksum, and optionally the chunk hashes (malloc'd array
 * of *nchunks entries, caller frees; pass NULL to skip). */
int vss_hasher_final(vss_hasher *h, vss_hash *checksum, vss_hash **chunks,
                     uint64_t *nchunks);

/* The checksum of a list of chunk hashes (what a receiver checks first). */
void vss_checksum_of_chunks(const vss_hash *chunks, uint64_t n, vss_hash *out);
/* The checksum of an empty sidecar (zero chunks): the only one a
 * size-0 entry may carry. */
void vss_checksum_empty(vss_hash *out);
/* One-shot over a whole buffer. */
int vss_checksum_buffer(const void *data, uint64_t size, vss_hash *out);

#ifdef __cplusplus
}
#endif
#endif
