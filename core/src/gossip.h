/*
 * gossip.h - availability exchange (Syncthing-style epoch + sequence).
 *
 * HELLO carries (epoch, max_seq) and what the sender has seen of the
 * receiver; the receiver answers with exactly the rows the sender lacks:
 * a delta (from_seq, max_seq] when the epochs match, else a FULL digest.
 * Digest pages are produced lazily when the driver can send, so a 1M-row
 * full digest never sits in memory. Local changes are pushed after a
 * short batching delay; a periodic, jittered HELLO round catches the rest
 * and keeps peers' caches alive (they expire after cache_ttl of silence).
 */
#ifndef VSS_GOSSIP_H
#define VSS_GOSSIP_H

#include "node_internal.h"

/* Entries per digest page: ~64 KiB frames keep pages interleavable with
 * foreground traffic. */
#define VSS_GOSSIP_PAGE_ENTRIES 1024
/* Removal rows (tombstones) are compacted once this many accumulated: a
 * peer that had seen less than what was compacted then takes a full
 * digest (whose sweep implies the removals) instead of a delta. */
#define VSS_GOSSIP_COMPACT_TOMBS 65536

/* HELLO to p on connect (flags are internal to gossip.c). */
int vss_gossip_connect(vss_node *n, vss_peer *p, vss_time now);
int vss_gossip_on_hello(vss_node *n, vss_peer *p, const vss_msg_hello *m,
                        vss_time now);
int vss_gossip_on_digest(vss_node *n, vss_peer *p, const vss_msg_digest *m,
                         size_t frame_len, vss_time now);
/* Next digest page for p into out; 1 when produced, 0 when none. */
int vss_gossip_produce(vss_node *n, vss_peer *p, vss_buf *out, vss_time now);
/* Push local changes to every peer whose view of us is known. */
int vss_gossip_push(vss_node *n, vss_time now);
/* Periodic round: HELLO to every online peer. */
int vss_gossip_round(vss_node *n, vss_time now);
/* Drop the cache of a peer silent for cache_ttl (node.c keeps the
 * deadlines in a heap). */
void vss_gossip_expire(vss_node *n, vss_peer *p, vss_time now);
void vss_gossip_peer_down(vss_node *n, vss_peer *p);

#endif
