/*
 * pcache.h - what peers hold, learned from digests and query replies.
 * In memory only: it expires with its peer and is rebuilt by gossip.
 *
 * One record per (key, version): the key, format, size and checksum are
 * stored once, however many peers hold that version; a holder costs a
 * bit in its peer's membership set. Two holders that disagree on the
 * bytes (two devices generated the same thumbnail) are two versions of
 * the key, each a record.
 *
 * Bounds (past them set() fails with VSS_ERR_LIMIT and changes nothing;
 * the caller drops the peer, never an honest one):
 *   - (kind, variant) classes a peer may use: VSS_PCACHE_PEER_CLASSES;
 *     the node-wide table holds VSS_PCACHE_CLASSES, refcounted, so one
 *     peer can never fill it for the others;
 *   - entries per peer: vss_pcache_set_limits (no limit by default);
 *   - records node-wide: VSS_PCACHE_RECORDS.
 */
#ifndef VSS_PCACHE_H
#define VSS_PCACHE_H

#include "vss/model.h"

typedef struct vss_pcache vss_pcache;

#define VSS_PCACHE_CLASSES 4095    /* (kind, variant) pairs node-wide */
#define VSS_PCACHE_PEER_CLASSES 32 /* ... that one peer may use */
#define VSS_PCACHE_RECORDS ((1u << 26) - 2)    /* (key, version) node-wide */
#define VSS_PCACHE_SIZE_MAX ((1ull << 41) - 1) /* sizes it can store */

typedef struct vss_holder {
  uint16_t peer; /* vss_peer.idx */
  uint8_t format;
  uint64_t size;
  vss_hash checksum;
} vss_holder;

int vss_pcache_new(vss_pcache **out);
void vss_pcache_del(vss_pcache *c);
/* Keys the hash so that a peer cannot choose uuids that collide. */
void vss_pcache_seed(vss_pcache *c, uint64_t seed);
/* Per-peer entry budget (0 = none). */
void vss_pcache_set_limits(vss_pcache *c, uint64_t peer_entries);
/* has = 1 adds or updates; has = 0 removes. Returns 1 when it changed,
 * 0 when not, VSS_ERR_LIMIT past a bound, VSS_ERR_TOO_BIG for a size
 * over VSS_PCACHE_SIZE_MAX, VSS_ERR_NOMEM. */
int vss_pcache_set(vss_pcache *c, uint16_t peer, const vss_key *key,
                   vss_format fmt, int has, uint64_t size,
                   const vss_hash *checksum);
/* Forget everything of one peer; returns entries dropped. O(its entries). */
uint64_t vss_pcache_drop_peer(vss_pcache *c, uint16_t peer);
uint64_t vss_pcache_count_peer(const vss_pcache *c, uint16_t peer);
/* 1 when peer is known to hold key (any version). */
int vss_pcache_has(const vss_pcache *c, const vss_key *key, uint16_t peer);
/* Holders of key; returns the total number, fills min(total, cap): a
 * caller with a short array calls again with a larger one. */
size_t vss_pcache_holders(const vss_pcache *c, const vss_key *key,
                          vss_holder *out, size_t cap);
/* Every holder of key, without a cap; stops on (and returns) non-zero. */
typedef int (*vss_pcache_holder_cb)(void *user, const vss_holder *h);
int vss_pcache_each_holder(const vss_pcache *c, const vss_key *key,
                           vss_pcache_holder_cb cb, void *user);
/* Every key with at least one holder (prefetch scans); stop on non-zero.
 * Versions of one key come as separate calls. */
typedef int (*vss_pcache_iter_cb)(void *user, const vss_key *key,
                                  const vss_holder *h, size_t n);
int vss_pcache_iter(const vss_pcache *c, vss_pcache_iter_cb cb, void *user);

/* Full digests replace what is known of a peer without dropping it
 * first (mark and sweep): mark_begin starts a generation (again, if one
 * was under way), every set() of the peer marks what it names, and
 * mark_sweep, at the digest's last page, removes what was not named,
 * in O(the peer's entries). Returns entries removed. */
void vss_pcache_mark_begin(vss_pcache *c, uint16_t peer);
int vss_pcache_marking(const vss_pcache *c, uint16_t peer);
uint64_t vss_pcache_mark_sweep(vss_pcache *c, uint16_t peer);
void vss_pcache_mark_abort(vss_pcache *c, uint16_t peer);

/* Bytes allocated (figures and budgets). */
uint64_t vss_pcache_mem(const vss_pcache *c);
uint64_t vss_pcache_records(const vss_pcache *c);

#endif
