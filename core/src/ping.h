/*
 * ping.h - round-trip measurement from the node's own exchanges.
 *
 * A PING carries a random stamp; the peer echoes it in a PONG; the time
 * between is an RTT sample for the peer's estimate (est.c). This is how a
 * node knows a path's round trip without being told: the driver passes
 * only the link class unless a user gave a hint.
 *
 * When: at peer_up (so the first fetch decision has a measured RTT) and at
 * every gossip round (an estimate older than the gossip interval is
 * stale). At most one PING is outstanding per peer; a PONG whose stamp is
 * not the outstanding one is ignored (late, duplicated or forged: a peer
 * cannot answer before it saw the stamp, so it cannot look closer than it
 * is).
 *
 * Bound: answering costs no queue. A peer's PINGs set one pending PONG
 * (the latest stamp wins; earlier unanswered stamps are stale for their
 * sender anyway), produced ahead of other control frames: a peer flooding
 * PINGs gets at most one PONG per frame we send it, and costs us nothing
 * that grows.
 */
#ifndef VSS_PING_H
#define VSS_PING_H

#include "node_internal.h"

/* Send a PING to p now (replacing any outstanding one). */
int vss_ping_send(vss_node *n, vss_peer *p, vss_time now);
/* Every online peer whose RTT is stale gets a PING. */
int vss_ping_round(vss_node *n, vss_time now);
int vss_ping_on_ping(vss_node *n, vss_peer *p, const vss_msg_ping *m);
int vss_ping_on_pong(vss_node *n, vss_peer *p, const vss_msg_ping *m,
                     vss_time now);
/* The pending PONG, if any, into out: 1 produced, 0 none, < 0 error. */
int vss_ping_produce(vss_peer *p, vss_buf *out);

#endif
