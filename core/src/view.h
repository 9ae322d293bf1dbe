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

/* Relays: how many times news is passed on at most, how many peers get
 * it eagerly (the rest an IHAVE, and they WANT it if the eager copy has
 * not come within VSS_RELAY_GRAFT), and what is kept to answer WANTs. */
#define VSS_RELAY_HOPS 12
#define VSS_RELAY_EAGER 4
#define VSS_RELAY_GRAFT (1 * VSS_NS_PER_S)
#define VSS_RELAY_RING_FRAMES 4096
#define VSS_RELAY_RING_BYTES (8u * 1024 * 1024)
#define VSS_RELAY_WANT_REPLY (256u * 1024) /* bytes answered per WANT */
/* A WANT still unanswered is sent again (to another session). */
#define VSS_RELAY_WANT_TRIES 3
#define VSS_RELAY_WANT_RETRY (3 * VSS_NS_PER_S)
/* Keys fetches wait to ask of members being dialled. */
#define VSS_VIEW_WANT_KEYS 256

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
/* p's HELLO came: transient says the other end dialled it for a fetch.
 * An inbound session that is neither wanted nor transient, when the
 * view is at its target, is ended (the slots past the target are for
 * fetches). */
void vss_view_on_hello(vss_node *n, vss_peer *p, int transient);
/* End p's session now (from reap, outside a handler). */
void vss_view_hangup(vss_node *n, vss_peer *p, vss_time now);
/* peer_down for a peer that never came up: a DIAL that failed. */
int vss_view_dial_failed(vss_node *n, const vss_uuid *peer, vss_time now);
vss_time vss_view_expiry(const vss_node *n);
void vss_view_handle_expiry(vss_node *n, vss_time now);
void vss_view_stats_get(const vss_node *n, vss_view_stats *out);

/* ---- relayed availability (hints) ------------------------------------ */

/* p's own digest page was applied: its news (a delta) is relayed on. */
int vss_view_direct(vss_node *n, vss_peer *p, const vss_msg_digest *m,
                    vss_time now);
int vss_view_on_relay_msg(vss_node *n, vss_peer *p, const vss_msg_relay *m,
                          size_t len, vss_time now);
int vss_view_on_ihave(vss_node *n, vss_peer *p, const vss_msg_ihave *m,
                      vss_time now);
int vss_view_on_want(vss_node *n, vss_peer *p, const vss_msg_ihave *m,
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
/* Before a fetch: a same-site holder known only by relay, while no
 * same-site session has the key, is dialled as well. */
int vss_view_prefer_local(vss_node *n, const vss_key *key, vss_time now);
/* Relayed holders of key that the presence cache does not list. */
typedef int (*vss_view_hint_cb)(void *user, const vss_key *key,
                                const vss_uuid *device, int online,
                                uint64_t size, const vss_hash *checksum);
int vss_view_each_hint(vss_node *n, const vss_key *key, vss_view_hint_cb cb,
                       void *user);

#endif
