/*
 * srv.h - the daemon (`vss-node serve`): one vss_node driven by libuv.
 *
 *   srv.c   lifecycle, the core's clock and timer, events, signals
 *   net.c   listener, paired peers (dial with backoff), sessions,
 *           sending under the write-queue bound and the upload limit
 *   ctl.c   the local control socket the CLI talks to
 *   gen.c   local generation by an external program
 *
 * Driving rule: after every input to the node (frame, peer up/down,
 * timer, a CLI request) call srv_after(), which writes what the node
 * queued and re-arms the timer from vss_node_get_expiry.
 */
#ifndef VSS_REAL_SRV_H
#define VSS_REAL_SRV_H

#include <stdio.h>
#include <uv.h>

#include "conn.h"
#include "home.h"
#include "vss/vss.h"

/* One paired peer: pinned key, where to dial it, its live session. */
typedef struct peer_slot {
  vss_uuid device;
  char name[CFG_NAME_MAX + 1];
  uint8_t pk[CHAN_PK_LEN];
  int has_addr;
  cfg_addr addr;
  vss_link_info link;

  conn *active;  /* the established session the node talks over */
  conn *dialing; /* our outgoing attempt, until established or failed */
  int resolving; /* getaddrinfo under way: the slot outlives it */
  int retired;   /* closed; freed when the lookup returns */
  uv_timer_t retry;
  uv_getaddrinfo_t gai;
  vss_time backoff;
  vss_time up_since, down_since;
  uint64_t sessions;       /* established so far */
  uint64_t sent, received; /* frame bytes, all sessions */
  struct srv *s;
} peer_slot;

/* Every connection the daemon holds (for shutdown and counting). */
typedef struct conn_link {
  struct conn_link *prev, *next;
  conn *c;
  peer_slot *slot; /* set once established and kept */
} conn_link;

typedef struct srv {
  uv_loop_t *loop;
  home *h;
  vss_node *node;
  uv_timer_t expiry;
  uv_timer_t throttle; /* upload limit: resume sending */
  uv_timer_t stop_timer;
  uv_signal_t sig_int, sig_term;
  uv_tcp_t listener;
  int listening;
  char listen_addr[64];
  struct ctl *ctl;
  struct gen *gens;    /* generators running or waiting for a slot */
  size_t gens_running; /* at most cfg.gen_parallel */

  peer_slot **slots;
  size_t nslots;
  conn_link conns; /* list head */
  size_t nhandshaking;
  int stopping;

  double tokens; /* upload limit bucket, bytes */
  vss_time tokens_at;
  uint64_t refused, handshakes_failed, frames_in, frames_out;
  uint64_t evicted;           /* unauthenticated connections closed for room */
  uint64_t refusals_unlogged; /* refusals since the last one logged */
  vss_time refusal_logged_at;
  vss_time started;
  FILE *evlog; /* VSS_EVENT_LOG: every core event as CSV (evlog.h) */

  /* Group commit (srv.c): rows of sidecars whose bytes are not synced
   * yet wait in one open store transaction; answers to fetches that
   * ended meanwhile wait with them. */
  int group_txn;
  uv_timer_t group_timer;
  struct {
    uint64_t job;
    int rc;
  } * held;
  size_t nheld, held_cap;
} srv;

/* Runs the daemon until a signal or `stop`. Returns the exit status. */
int srv_run(home *h);

/* After feeding the node: send and re-arm the timer. */
void srv_after(srv *s);
void srv_stop(srv *s, const char *why);
/* Ends the current commit group: syncs its bytes, then commits its rows
 * and answers the fetches that waited for it. Call before any store
 * transaction of your own. A failure stops the daemon (the group's rows
 * are rolled back, its bytes are left without rows). */
int srv_group_flush(srv *s);
/* Stops after the current request's answer has gone out. */
void srv_stop_soon(srv *s);
/* Name of a device for humans: the peer's name, "self", or the uuid. */
const char *srv_name_of(const srv *s, const vss_uuid *device, char *buf,
                        size_t cap);

/* net.c */
int net_start(srv *s);
void net_stop(srv *s);
/* Loads the paired peers (store keys + config addresses). Keeps live
 * sessions of peers that stay; starts dialing new ones. */
int net_load_peers(srv *s);
peer_slot *net_slot(const srv *s, const vss_uuid *device);
void net_pump_all(srv *s);

/* gen.c: the node's generate callback, and killing them at shutdown. */
int gen_start(void *user, const vss_key *key, vss_format fmt, uint64_t job);
void gen_stop_all(srv *s);

/* ctl.c */
int ctl_start(srv *s);
void ctl_stop(srv *s);
/* A fetch job ended (FETCH_DONE / FAILED / GENERATED). */
void ctl_job_done(srv *s, uint64_t job, int rc);

#endif
