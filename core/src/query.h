/*
 * query.h - "do you have sidecar X?" to connected peers, with answers
 * feeding the presence cache and "no" answers cached for negative_ttl so
 * a missing sidecar does not cost a broadcast per request. Keys asked of
 * a peer together travel in one frame.
 */
#ifndef VSS_QUERY_H
#define VSS_QUERY_H

#include "node_internal.h"

int vss_query_new(vss_query **out);
void vss_query_del(vss_query *q);
/* Queue key for every peer worth asking; returns how many. The keys
 * asked of a peer at one `now` travel in one QUERY frame, sent by
 * vss_query_flush. */
int vss_query_ask(vss_node *n, const vss_key *key, vss_time now);
/* Ask one online peer (a session opened for this key). */
int vss_query_ask_peer(vss_node *n, vss_peer *p, const vss_key *key,
                       vss_time now);
/* Send p's pending batch of keys now (the driver is pulling p's next
 * frame). */
int vss_query_flush(vss_node *n, vss_peer *p, vss_time now);
int vss_query_on_query(vss_node *n, vss_peer *p, const vss_msg_query *m,
                       vss_time now);
int vss_query_on_reply(vss_node *n, vss_peer *p, const vss_msg_query_reply *m,
                       vss_time now);
/* 1 when p recently answered "no" for key. */
int vss_query_negative(const vss_node *n, const vss_peer *p, const vss_key *key,
                       vss_time now);
vss_time vss_query_expiry(const vss_node *n);
int vss_query_handle_expiry(vss_node *n, vss_time now);
void vss_query_peer_down(vss_node *n, vss_peer *p, vss_time now);
/* Slot idx is being reused: forget the negatives keyed by it. */
void vss_query_peer_freed(vss_node *n, uint16_t idx);

#endif
