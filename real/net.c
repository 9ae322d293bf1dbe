/*
 * net.c - the daemon's network side: listener, paired peers, sessions,
 * and sending what the node queued.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "srv.h"
#include "vss/frame.h"

#define MAX_HANDSHAKING 32 /* unauthenticated inbound connections at once */
#define MAX_HANDSHAKING_PER_ADDR 4 /* ... from one source address */
#define REFUSAL_LOG_EVERY (10 * VSS_NS_PER_S)
#define RACE_WINDOW (5 * VSS_NS_PER_S)
#define NOTSENT_LOWAT (256 << 10)

static void schedule_dial(peer_slot *p, vss_time delay);

/* ---- helpers --------------------------------------------------------- */

static vss_time ms_ceil(vss_time ns) {
  return (ns + VSS_NS_PER_MS - 1) / VSS_NS_PER_MS;
}

peer_slot *net_slot(const srv *s, const vss_uuid *device) {
  for (size_t i = 0; i < s->nslots; i++)
    if (vss_uuid_cmp(&s->slots[i]->device, device) == 0) return s->slots[i];
  return NULL;
}

static peer_slot *slot_by_pk(const srv *s, const uint8_t *pk) {
  if (pk == NULL) return NULL;
  for (size_t i = 0; i < s->nslots; i++)
    if (sodium_memcmp(s->slots[i]->pk, pk, CHAN_PK_LEN) == 0)
      return s->slots[i];
  return NULL;
}

static void link_add(srv *s, conn_link *l) {
  l->next = s->conns.next;
  l->prev = &s->conns;
  s->conns.next->prev = l;
  s->conns.next = l;
}

static void link_del(conn_link *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
}

/* ---- upload limit ---------------------------------------------------- */

static void on_throttle(uv_timer_t *t) {
  srv_after(t->data);
}

/* Token bucket over all peers: at most upload_limit bytes/s, bursts of a
 * tenth of a second (or one frame). */
static int tokens_ok(srv *s, vss_time now) {
  double rate = (double)s->h->cfg.upload_limit, cap;
  if (rate <= 0) return 1;
  cap = rate / 10 > VSS_FRAME_MAX ? rate / 10 : VSS_FRAME_MAX;
  s->tokens += (double)(now - s->tokens_at) * rate / 1e9;
  if (s->tokens > cap) s->tokens = cap;
  s->tokens_at = now;
  if (s->tokens > 0) return 1;
  if (!uv_is_active((uv_handle_t *)&s->throttle))
    uv_timer_start(&s->throttle, on_throttle,
                   ms_ceil((vss_time)(-s->tokens / rate * 1e9)) + 1, 0);
  return 0;
}

/* ---- sending --------------------------------------------------------- */

/* Writes frames while the socket takes them without queueing in user
 * space; TCP_NOTSENT_LOWAT keeps the kernel's unsent bytes small too, so
 * the core's next_send order (foreground before prefetch) is what goes
 * on the wire. */
static void pump(srv *s, peer_slot *p, vss_time now) {
  conn *c = p->active;
  vss_outmsg m;
  while (c && !conn_closing(c) && conn_write_queue(c) == 0 &&
         tokens_ok(s, now)) {
    if (vss_node_next_send(s->node, &p->device, &m, now) != 1) break;
    if (conn_send_frame(c, m.data, m.len) < 0) {
      conn_close(c, LOG_WARN, "send failed");
      break;
    }
    p->sent += m.len;
    s->frames_out++;
    if (s->h->cfg.upload_limit) s->tokens -= (double)m.len;
  }
  /* What went out may have drained the queue the node pushed back on. */
  if (c && conn_rx_held(c) && vss_node_peer_readable(s->node, &p->device))
    conn_rx_resume(c); /* no-op unless it was the push back */
}

void net_pump_all(srv *s) {
  vss_time now = home_now();
  for (size_t i = 0; i < s->nslots; i++)
    pump(s, s->slots[i], now);
}

/* ---- sessions -------------------------------------------------------- */

static const vss_uuid *initiator_of(const srv *s, conn *c, const peer_slot *p) {
  return conn_initiator(c) ? &s->h->device : &p->device;
}

/* Two sessions to one peer: both ends must keep the same one. A session
 * raced by a simultaneous dial (young) keeps the one dialled by the
 * smaller device id; otherwise the new one wins, since a peer only dials
 * when it has lost its session (restart, half-open connection). */
static int prefer_new(const srv *s, peer_slot *p, conn *nw, conn *old) {
  const vss_uuid *lo =
      vss_uuid_cmp(&s->h->device, &p->device) < 0 ? &s->h->device : &p->device;
  if (conn_initiator(nw) == conn_initiator(old)) return 1;
  if (home_now() - p->up_since > RACE_WINDOW) return 1;
  return vss_uuid_cmp(initiator_of(s, nw, p), lo) == 0;
}

static void activate(srv *s, peer_slot *p, conn *c) {
  vss_time now = home_now();
  int rc;
  p->active = c;
  p->up_since = now;
  p->backoff = s->h->cfg.reconnect_min;
  p->sessions++;
  log_info("peer %s up via %s (%s, %s)", p->name, conn_addr(c),
           conn_initiator(c) ? "dialled" : "accepted", conn_cipher(c));
  /* A user's hint wins; else the handshake's round trip seeds the RTT
   * (the core then measures it with PING/PONG and from transfers). */
  vss_link_info li = p->link;
  if (!li.rtt_hint) li.rtt_hint = (vss_time)conn_hs_rtt(c);
  if ((rc = vss_node_peer_up(s->node, &p->device, &li, now)) < 0)
    log_error("peer_up %s: %s", p->name, vss_strerror(rc));
}

static void deactivate(srv *s, peer_slot *p, const char *why) {
  vss_time now = home_now();
  p->active = NULL;
  p->down_since = now;
  log_info("peer %s down (%s)", p->name, why);
  vss_node_peer_down(s->node, &p->device, now);
}

static int cb_pinned(void *owner, const uint8_t pk[CHAN_PK_LEN]) {
  return slot_by_pk(owner, pk) != NULL;
}

static void cb_established(void *owner, conn *c) {
  srv *s = owner;
  conn_link *l = conn_user(c);
  peer_slot *p = slot_by_pk(s, conn_peer_pk(c));

  if (!conn_initiator(c)) s->nhandshaking--;
  if (p == NULL || s->stopping) { /* unpaired while handshaking */
    conn_end(c, LOG_WARN, "peer is no longer paired");
    return;
  }
  if (p->dialing == c) p->dialing = NULL;
  l->slot = p;
  if (p->active == NULL) {
    activate(s, p, c);
  } else if (prefer_new(s, p, c, p->active)) {
    conn *old = p->active;
    deactivate(s, p, "replaced by a newer session");
    conn_end(old, LOG_INFO, "replaced by a newer session");
    activate(s, p, c);
  } else {
    conn_end(c, LOG_INFO, "duplicate session; keeping the other one");
    return;
  }
  srv_after(s);
}

static int cb_frame(void *owner, conn *c, const uint8_t *f, size_t len) {
  srv *s = owner;
  conn_link *l = conn_user(c);
  peer_slot *p = l->slot;
  size_t flen = 0;
  int rc;

  if (p == NULL || p->active != c) return 0; /* a session being dropped */
  /* One record carries exactly one core frame. */
  if (vss_frame_len(f, len, &flen) < 0 || flen != len) {
    log_warn("peer %s sent a record that is not one frame (%zu bytes)", p->name,
             len);
    return -1;
  }
  p->received += len;
  s->frames_in++;
  rc = vss_node_recv(s->node, &p->device, f, len, home_now());
  if (rc < 0) {
    log_warn("peer %s %s: %s", p->name,
             rc == VSS_ERR_LIMIT ? "passed a bound" : "sent a bad frame",
             vss_strerror(rc));
    return -1;
  }
  srv_after(s);
  return 0;
}

static void cb_writable(void *owner, conn *c) {
  srv *s = owner;
  conn_link *l = conn_user(c);
  if (l && l->slot && l->slot->active == c) srv_after(s);
}

static void cb_closed(void *owner, conn *c) {
  srv *s = owner;
  conn_link *l = conn_user(c);
  peer_slot *p;
  if (l == NULL) return; /* failed before we linked it */
  link_del(l);
  p = l->slot;
  if (!conn_ready(c) && !conn_initiator(c)) {
    s->nhandshaking--;
    s->refused++;
  }
  if (p && p->active == c) {
    deactivate(s, p, "connection closed");
    schedule_dial(p, p->backoff);
  } else if (p && p->dialing == c) {
    p->dialing = NULL;
    schedule_dial(p, p->backoff);
    p->backoff = p->backoff * 2 < s->h->cfg.reconnect_max
                     ? p->backoff * 2
                     : s->h->cfg.reconnect_max;
  }
  free(l);
  if (!s->stopping) srv_after(s);
}

/* Push back: the node says when to stop reading this peer's socket. */
static int cb_readable(void *owner, conn *c) {
  srv *s = owner;
  conn_link *l = conn_user(c);
  peer_slot *p = l ? l->slot : NULL;
  if (p == NULL || p->active != c) return 1;
  return vss_node_peer_readable(s->node, &p->device);
}

static const conn_cb CONN_CB = {cb_pinned,   cb_established, cb_frame,
                                cb_writable, cb_closed,      cb_readable};

static conn_opts opts_of(srv *s) {
  conn_opts o;
  memset(&o, 0, sizeof o);
  o.loop = s->loop;
  o.self = &s->h->id;
  o.cb = &CONN_CB;
  o.owner = s;
  o.handshake_timeout = s->h->cfg.handshake_timeout;
  o.idle_timeout = s->h->cfg.idle_timeout;
  o.record_timeout = s->h->cfg.record_timeout;
  o.max_frame = VSS_FRAME_MAX;
  o.notsent_lowat = NOTSENT_LOWAT;
  o.no_aes = s->h->cfg.no_aes;
  return o;
}

static conn_link *track(srv *s, conn *c, peer_slot *p) {
  conn_link *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->c = c;
  l->slot = p;
  conn_set_user(c, l);
  link_add(s, l);
  return l;
}

/* ---- dialing --------------------------------------------------------- */

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  peer_slot *p = req->data;
  srv *s = p->s;
  conn_opts o = opts_of(s);
  conn *c = NULL;
  int rc = status;

  p->resolving = 0;
  if (p->retired) {
    if (res) uv_freeaddrinfo(res);
    free(p);
    return;
  }
  if (rc == 0 && !s->stopping && p->active == NULL && p->dialing == NULL) {
    rc = conn_dial(&c, &o, res->ai_addr, p->pk);
    if (rc == 0 && track(s, c, p) == NULL) {
      conn_close(c, LOG_ERROR, "out of memory");
      rc = UV_ENOMEM;
    }
    if (rc == 0) p->dialing = c;
  }
  if (res) uv_freeaddrinfo(res);
  if (rc < 0 && !s->stopping) {
    log_debug("dial %s (%s:%u): %s", p->name, p->addr.host,
              (unsigned)p->addr.port, uv_strerror(rc));
    schedule_dial(p, p->backoff);
    p->backoff = p->backoff * 2 < s->h->cfg.reconnect_max
                     ? p->backoff * 2
                     : s->h->cfg.reconnect_max;
  }
}

static void on_retry(uv_timer_t *t) {
  peer_slot *p = t->data;
  char port[8];
  struct addrinfo hints;
  int rc;
  if (p->s->stopping || p->active || p->dialing || p->resolving) return;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%u", (unsigned)p->addr.port);
  p->gai.data = p;
  rc = uv_getaddrinfo(p->s->loop, &p->gai, on_resolved, p->addr.host, port,
                      &hints);
  if (rc < 0) {
    log_warn("cannot resolve %s for peer %s: %s", p->addr.host, p->name,
             uv_strerror(rc));
    schedule_dial(p, p->s->h->cfg.reconnect_max);
    return;
  }
  p->resolving = 1;
}

/* Jitter (+-20%) keeps two peers that lost each other from redialling
 * in lockstep. */
static void schedule_dial(peer_slot *p, vss_time delay) {
  double j = 0.8 + 0.4 * (double)randombytes_uniform(1000) / 1000.0;
  if (!p->has_addr || p->s->stopping) return;
  uv_timer_start(&p->retry, on_retry, ms_ceil((vss_time)((double)delay * j)),
                 0);
}

/* ---- peers ----------------------------------------------------------- */

typedef struct load_ctx {
  srv *s;
  peer_slot **slots;
  size_t n, cap;
  int rc;
} load_ctx;

static void free_closed(uv_handle_t *h) {
  free(h->data);
}

/* A pending getaddrinfo still points at the slot: on_resolved frees it. */
static void slot_closed(uv_handle_t *h) {
  peer_slot *p = h->data;
  p->retired = 1;
  if (!p->resolving) free(p);
}

static peer_slot *slot_new(srv *s, const vss_peer_row *row) {
  peer_slot *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->s = s;
  p->device = row->device;
  p->backoff = s->h->cfg.reconnect_min;
  p->link.cls = VSS_LINK_ETHERNET;
  uv_timer_init(s->loop, &p->retry);
  p->retry.data = p;
  return p;
}

/* Fills name, key and address of a slot from the store row and config. */
static void slot_fill(srv *s, peer_slot *p, const vss_peer_row *row) {
  const cfg_peer *cp = cfg_find_peer(&s->h->cfg, &row->device);
  memcpy(p->pk, row->pubkey, CHAN_PK_LEN);
  snprintf(p->name, sizeof p->name, "%s", row->name[0] ? row->name : "?");
  p->has_addr = 0;
  if (cp) {
    snprintf(p->name, sizeof p->name, "%s", cp->name);
    p->has_addr = cp->has_addr;
    p->addr = cp->addr;
    p->link = cp->link;
  }
}

/* Re-paired with another key: every session (and dial) the old key
 * authenticated ends now; the slot dials again with the new key. */
static void slot_rekeyed(srv *s, peer_slot *p) {
  int had = 0;
  for (conn_link *l = s->conns.next; l != &s->conns; l = l->next) {
    if (l->slot != p) continue;
    had = 1;
    if (p->active == l->c) deactivate(s, p, "key changed");
    l->slot = NULL;
    conn_end(l->c, LOG_WARN, "key changed: session of the old key ended");
  }
  p->active = p->dialing = NULL;
  if (had)
    log_warn("peer %s: key changed, sessions of the old key ended", p->name);
}

static int load_one(void *user, const vss_peer_row *row) {
  load_ctx *lc = user;
  peer_slot *p = net_slot(lc->s, &row->device);
  static const uint8_t zero[CHAN_PK_LEN];
  if (memcmp(row->pubkey, zero, sizeof zero) == 0) return 0; /* no key */
  if (lc->n == lc->cap) {
    size_t cap = lc->cap ? lc->cap * 2 : 8;
    peer_slot **np = realloc(lc->slots, cap * sizeof *np);
    if (np == NULL) return lc->rc = VSS_ERR_NOMEM;
    lc->slots = np;
    lc->cap = cap;
  }
  if (p == NULL && (p = slot_new(lc->s, row)) == NULL)
    return lc->rc = VSS_ERR_NOMEM;
  if (sodium_memcmp(p->pk, row->pubkey, CHAN_PK_LEN) != 0)
    slot_rekeyed(lc->s, p);
  slot_fill(lc->s, p, row);
  lc->slots[lc->n++] = p;
  return 0;
}

static int in_list(peer_slot **v, size_t n, const peer_slot *p) {
  for (size_t i = 0; i < n; i++)
    if (v[i] == p) return 1;
  return 0;
}

/* Closes a slot's connections and forgets them: libuv runs close
 * callbacks newest first, so the slot may be freed before theirs run. */
static void slot_release(srv *s, peer_slot *p, const char *why) {
  for (conn_link *l = s->conns.next; l != &s->conns; l = l->next) {
    if (l->slot != p) continue;
    l->slot = NULL;
    conn_end(l->c, LOG_INFO, why);
  }
  p->active = p->dialing = NULL;
  if (p->resolving) uv_cancel((uv_req_t *)&p->gai);
  uv_close((uv_handle_t *)&p->retry, slot_closed);
}

static void slot_drop(srv *s, peer_slot *p) {
  if (p->active) deactivate(s, p, "unpaired");
  slot_release(s, p, "peer unpaired");
}

int net_load_peers(srv *s) {
  load_ctx lc = {s, NULL, 0, 0, 0};
  int rc = vss_store_iter_peers(s->h->store, load_one, &lc);
  if (rc < 0 || lc.rc < 0) {
    free(lc.slots);
    log_error("cannot load paired peers: %s",
              vss_strerror(rc < 0 ? rc : lc.rc));
    return rc < 0 ? rc : lc.rc;
  }
  for (size_t i = 0; i < s->nslots; i++)
    if (!in_list(lc.slots, lc.n, s->slots[i])) slot_drop(s, s->slots[i]);
  free(s->slots);
  s->slots = lc.slots;
  s->nslots = lc.n;
  for (size_t i = 0; i < s->nslots; i++) {
    peer_slot *p = s->slots[i];
    if (!p->active && !p->dialing && !uv_is_active((uv_handle_t *)&p->retry))
      schedule_dial(p, 0);
  }
  for (size_t i = 0; i < s->h->cfg.npeers; i++)
    if (!net_slot(s, &s->h->cfg.peers[i].device))
      log_warn("[peer %s] in %s has no pinned key; run `vss-node pair`",
               s->h->cfg.peers[i].name, s->h->cfg_path);
  return 0;
}

/* ---- listener -------------------------------------------------------- */

/* The source address of a connection, without the port ("[v6]" kept). */
static size_t host_len(const char *addr) {
  const char *colon = strrchr(addr, ':');
  return colon ? (size_t)(colon - addr) : strlen(addr);
}

static int same_host(const conn *a, const char *addr) {
  const char *x = conn_addr(a);
  size_t n = host_len(addr);
  return host_len(x) == n && !strncmp(x, addr, n);
}

static int pending(const conn_link *l) {
  return !conn_ready(l->c) && !conn_initiator(l->c) && !conn_closing(l->c);
}

/* Logs a refusal at most once per REFUSAL_LOG_EVERY, with a count of
 * those not logged: a flood must not flood the log too. */
static void log_refusal(srv *s, const char *what, const char *addr) {
  vss_time now = home_now();
  char more[80] = "";
  if (s->refusal_logged_at && now - s->refusal_logged_at < REFUSAL_LOG_EVERY) {
    s->refusals_unlogged++;
    return;
  }
  if (s->refusals_unlogged)
    snprintf(more, sizeof more,
             "; %" PRIu64 " more since the last such message",
             s->refusals_unlogged);
  log_warn("%s (from %.*s)%s", what, (int)host_len(addr), addr, more);
  s->refusals_unlogged = 0;
  s->refusal_logged_at = now;
}

/* Room for one more unauthenticated connection from addr: past the
 * per-address or the global limit the OLDEST such connection (from that
 * address first) is closed, so a flood cannot lock a real peer out; it
 * only recycles its own sockets, and a real handshake takes milliseconds. */
static void make_room(srv *s, const char *addr) {
  conn_link *oldest = NULL, *oldest_host = NULL;
  size_t n = 0, n_host = 0;
  /* The list is newest first: the last match is the oldest. */
  for (conn_link *l = s->conns.next; l != &s->conns; l = l->next) {
    if (!pending(l)) continue;
    n++;
    oldest = l;
    if (same_host(l->c, addr)) {
      n_host++;
      oldest_host = l;
    }
  }
  if (n_host >= MAX_HANDSHAKING_PER_ADDR) {
    s->evicted++;
    log_refusal(s,
                "too many unauthenticated connections from one address: "
                "closing its oldest",
                addr);
    conn_close(oldest_host->c, LOG_DEBUG, "evicted (unauthenticated)");
  } else if (n >= MAX_HANDSHAKING) {
    s->evicted++;
    log_refusal(s, "too many unauthenticated connections: closing the oldest",
                addr);
    conn_close(oldest->c, LOG_DEBUG, "evicted (unauthenticated)");
  }
}

static void on_connection(uv_stream_t *server, int status) {
  srv *s = server->data;
  conn_opts o = opts_of(s);
  conn *c = NULL;

  if (status < 0) {
    log_warn("accept: %s", uv_strerror(status));
    return;
  }
  if (s->stopping) {
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL) return;
    uv_tcp_init(s->loop, t);
    t->data = t;
    if (uv_accept(server, (uv_stream_t *)t) == 0) s->refused++;
    uv_close((uv_handle_t *)t, free_closed);
    return;
  }
  if (conn_accept(&c, &o, server) < 0 || c == NULL) return;
  make_room(s, conn_addr(c));
  if (track(s, c, NULL) == NULL) {
    conn_close(c, LOG_ERROR, "out of memory");
    return;
  }
  s->nhandshaking++;
}

static int bind_listener(srv *s) {
  const cfg_addr *a = &s->h->cfg.listen;
  struct sockaddr_storage ss;
  int len = sizeof ss, rc;

  if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss) != 0) {
    log_error("listen address %s is not a numeric IP (in %s)", a->host,
              s->h->cfg_path);
    return UV_EINVAL;
  }
  uv_tcp_init(s->loop, &s->listener);
  s->listener.data = s;
  s->listening = 1;
  if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) < 0 ||
      (rc = uv_listen((uv_stream_t *)&s->listener, 64, on_connection)) < 0) {
    log_error("cannot listen on %s:%u: %s", a->host, (unsigned)a->port,
              uv_strerror(rc));
    return rc;
  }
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
  if (ss.ss_family == AF_INET6) {
    char host[48];
    uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
    snprintf(s->listen_addr, sizeof s->listen_addr, "[%s]:%u", host,
             (unsigned)ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
  } else {
    char host[20];
    uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
    snprintf(s->listen_addr, sizeof s->listen_addr, "%s:%u", host,
             (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
  }
  log_info("listening on %s", s->listen_addr);
  return 0;
}

int net_start(srv *s) {
  int rc;
  s->conns.next = s->conns.prev = &s->conns;
  uv_timer_init(s->loop, &s->throttle);
  s->throttle.data = s;
  s->tokens_at = home_now();
  if (s->h->cfg.listen_on && (rc = bind_listener(s)) < 0) return rc;
  return net_load_peers(s);
}

static void noop_close(uv_handle_t *h) {
  (void)h;
}

void net_stop(srv *s) {
  if (s->conns.next == NULL) return; /* never started */
  for (conn_link *l = s->conns.next; l != &s->conns;) {
    conn_link *next = l->next;
    conn_end(l->c, LOG_DEBUG, "shutting down");
    l = next;
  }
  for (size_t i = 0; i < s->nslots; i++)
    slot_release(s, s->slots[i], "shutting down");
  free(s->slots);
  s->slots = NULL;
  s->nslots = 0;
  if (s->listening) uv_close((uv_handle_t *)&s->listener, noop_close);
  uv_close((uv_handle_t *)&s->throttle, noop_close);
}
