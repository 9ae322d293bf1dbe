/*
 * pcache.h - what peers hold, learned from digests and query replies.
 * In memory only: it expires with its peer and is rebuilt by gossip.
 */
#ifndef VSS_PCACHE_H
#define VSS_PCACHE_H

#include "vss/model.h"

typedef struct vss_pcache vss_pcache;

typedef struct vss_holder {
  uint16_t peer; /* vss_peer.idx */
  uint8_t format;
  uint64_t size;
  vss_hash checksum;
} vss_holder;

int vss_pcache_new(vss_pcache **out);
void vss_pcache_del(vss_pcache *c);
/* has = 1 adds or updates; has = 0 removes. Returns 1 when it changed. */
int vss_pcache_set(vss_pcache *c, uint16_t peer, const vss_key *key,
                   vss_format fmt, int has, uint64_t size,
                   const vss_hash *checksum);
/* Forget everything of one peer; returns entries dropped. */
uint64_t vss_pcache_drop_peer(vss_pcache *c, uint16_t peer);
uint64_t vss_pcache_count_peer(const vss_pcache *c, uint16_t peer);
/* Holders of key; returns the number (<= cap filled). */
size_t vss_pcache_holders(const vss_pcache *c, const vss_key *key,
                          vss_holder *out, size_t cap);
/* Every key with at least one holder (prefetch scans); stop on non-zero. */
typedef int (*vss_pcache_iter_cb)(void *user, const vss_key *key,
                                  const vss_holder *h, size_t n);
int vss_pcache_iter(const vss_pcache *c, vss_pcache_iter_cb cb, void *user);

#endif
