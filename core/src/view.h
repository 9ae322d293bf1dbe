/*
 * view.h - membership, the bounded set of sessions (active view), and
 * the availability relayed beyond it (hints). See core/README.md.
 *
 * Dormant until the driver's first vss_node_peer_reachable: until then
 * every hook below is a no-op and the node behaves as it always did
 * (every peer_up accepted, nothing dialled, nothing relayed).
 */
#ifndef VSS_VIEW_H
#define VSS_VIEW_H

#include "node_internal.h"

typedef struct vss_view vss_view;

int vss_view_new(vss_view **out);
void vss_view_del(vss_view *v);
/* After the node's config and limits are filled. */
void vss_view_init(vss_node *n);
/* 1 once the driver manages membership through peer_reachable. */
int vss_view_managed(const vss_node *n);

int vss_view_reachable(vss_node *n, const vss_uuid *peer,
                       const vss_link_info *link, int reachable, vss_time now);
/* Before a peer_up: 0 = take the session, VSS_ERR_LIMIT = refuse it. */
int vss_view_admit(vss_node *n, const vss_uuid *peer, const vss_link_info *link,
                   vss_time now);
void vss_view_peer_up(vss_node *n, vss_peer *p, vss_time now);
void vss_view_peer_down(vss_node *n, vss_peer *p, vss_time now);
/* peer_down for a peer that never came up: a DIAL that failed. */
int vss_view_dial_failed(vss_node *n, const vss_uuid *peer, vss_time now);
vss_time vss_view_expiry(const vss_node *n);
void vss_view_handle_expiry(vss_node *n, vss_time now);
void vss_view_stats_get(const vss_node *n, vss_view_stats *out);

/* ---- relayed availability (hints) ------------------------------------ */

/* Origin `o` holds (has=1) or dropped (has=0) the entries: learned from
 * o itself (a digest page; `from` is o) or relayed by `from`. Keeps the
 * best holders per key, queues the news for the other sessions when it
 * is new. Returns 0, or VSS_ERR_LIMIT when `from` passed its bound (the
 * caller drops it). */
typedef struct vss_relay_in {
  const vss_uuid *origin;
  uint64_t epoch, seq; /* o's log position after these entries */
  uint32_t hops;       /* how many more times it may be forwarded */
  uint32_t count;
  vss_rd entries; /* vss_wire_entry encoding */
} vss_relay_in;
int vss_view_on_relay(vss_node *n, vss_peer *from, const vss_relay_in *r,
                      vss_time now);
/* Direct news from p's digest (not a full one): relay it on. */
int vss_view_direct(vss_node *n, vss_peer *p, const vss_msg_digest *m,
                    vss_time now);
/* Relayed holders of key (origins, best first); returns how many. */
typedef struct vss_hint_holder {
  vss_uuid device;
  vss_link_class cls;
  int reachable;
  int online; /* a session with it now */
} vss_hint_holder;
size_t vss_view_hints(vss_node *n, const vss_key *key, vss_format *fmt,
                      uint64_t *size, vss_hash *checksum, vss_hint_holder *out,
                      size_t cap);
/* A fetch wants key and no session holds it: open a transient session
 * to its best relayed holder that is reachable; on peer_up the key is
 * asked of it. Returns 1 when a session is on its way or up, 0 when
 * none could be had. */
int vss_view_want(vss_node *n, const vss_key *key, vss_time now);
/* Every (key, relayed holder) known, for iter_presence. */
typedef int (*vss_view_hint_cb)(void *user, const vss_key *key,
                                const vss_uuid *device, int reachable,
                                uint64_t size, const vss_hash *checksum);
int vss_view_iter_hints(vss_node *n, vss_view_hint_cb cb, void *user);

#endif
