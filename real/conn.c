/*
 * conn.c - a libuv TCP connection carrying the secure channel.
 */
#include "conn_internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

typedef struct wreq {
  uv_write_t req;
  conn *c;
  size_t len;
  int pooled; /* a big buffer that goes back to the connection's pool */
  uint8_t data[];
} wreq;

/* Bulk frames reuse a few big buffers: a fresh megabyte per frame costs
 * an mmap, page faults and zeroing on every write. */
#define POOL_MIN (64u << 10)

static size_t pool_size(const conn *c) {
  return chan_sealed_len(c->o.max_frame);
}

static void wreq_free(wreq *w) {
  conn *c = w->c;
  if (w->pooled && c->npool < CONN_POOL) {
    c->pool[c->npool++] = w;
    return;
  }
  free(w);
}

/* ---- accessors ------------------------------------------------------- */

int conn_ready(const conn *c) {
  return c->ready;
}
int conn_closing(const conn *c) {
  return c->closing || c->ending;
}
const char *conn_cipher(const conn *c) {
  return chan_cipher_name(chan_get_cipher(c->ch));
}

uint64_t conn_hs_rtt(const conn *c) {
  return c->hs_rtt;
}

int conn_initiator(const conn *c) {
  return c->initiator;
}
const uint8_t *conn_peer_pk(const conn *c) {
  return chan_peer_pk(c->ch);
}
const char *conn_addr(const conn *c) {
  return c->addr;
}
void conn_set_user(conn *c, void *user) {
  c->user = user;
}
void *conn_user(const conn *c) {
  return c->user;
}
uint64_t conn_bytes_in(const conn *c) {
  return c->bytes_in;
}
uint64_t conn_bytes_out(const conn *c) {
  return c->bytes_out;
}

size_t conn_write_queue(const conn *c) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* ---- closing --------------------------------------------------------- */

void conn_finalize(conn *c) {
  if (c->o.cb->closed) c->o.cb->closed(c->o.owner, c);
  while (c->npool > 0)
    free(c->pool[--c->npool]);
  chan_del(c->ch);
  conn_rx_free(c);
  free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->open_handles > 0) return;
  /* A worker may still be opening records with our channel. */
  if (c->job_busy)
    c->free_pending = 1;
  else
    conn_finalize(c);
}

void conn_close(conn *c, int level, const char *why) {
  if (c->closing) return;
  c->closing = 1;
  if (why) log_msg(level, "connection %s closed: %s", c->addr, why);
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->hs_timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_final_written(uv_write_t *req, int status);

#define END_WAIT_MS 2000 /* at most this long for the close record */

static void on_end_timeout(uv_timer_t *t) {
  conn_close(t->data, LOG_DEBUG, NULL);
}

/* The close record goes out before the socket closes (uv_close would
 * cancel a queued write); the watch timer bounds how long we wait. */
void conn_end(conn *c, int level, const char *why) {
  struct wreq *w;
  size_t len = 0;
  uv_buf_t b;
  if (c->closing || c->ending) return;
  if (!c->ready) {
    conn_close(c, level, why);
    return;
  }
  c->ending = 1;
  if (why) log_msg(level, "connection %s closed: %s", c->addr, why);
  uv_read_stop((uv_stream_t *)&c->tcp);
  if ((w = malloc(sizeof *w + chan_sealed_len(0))) == NULL ||
      chan_seal_final(c->ch, w->data, chan_sealed_len(0), &len) < 0) {
    free(w);
    conn_close(c, level, NULL);
    return;
  }
  w->c = c;
  w->len = len;
  w->pooled = 0;
  b = uv_buf_init((char *)w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_final_written) < 0) {
    free(w);
    conn_close(c, level, NULL);
    return;
  }
  c->bytes_out += len;
  uv_timer_stop(&c->hs_timer);
  uv_timer_start(&c->hs_timer, on_end_timeout, END_WAIT_MS, 0);
}

/* ---- setup ----------------------------------------------------------- */

static void fmt_sockaddr(const struct sockaddr *sa, char *out, size_t cap) {
  char host[48] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof host);
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    snprintf(out, cap, "[%s]:%d", host, port);
  } else {
    uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof host);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    snprintf(out, cap, "%s:%d", host, port);
  }
}

static void set_addr(conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
    fmt_sockaddr((struct sockaddr *)&ss, c->addr, sizeof c->addr);
}

/* Small kernel queue of unsent bytes: the core's priorities decide what
 * goes next, instead of megabytes of prefetch already in the socket. The
 * congestion window stays full (unlike a small SO_SNDBUF). */
static void tune_socket(conn *c) {
  uv_os_fd_t fd;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 30);
  if (c->o.notsent_lowat > 0 && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &c->o.notsent_lowat,
               sizeof c->o.notsent_lowat);
}

static void on_hs_timeout(uv_timer_t *t) {
  conn_close(t->data, LOG_WARN, "handshake timed out");
}

/* Reads stopped on our side: the worker's batch, a full buffer, or push
 * back (conn_rx_held). Not the peer's fault. */
static int reads_stopped(const conn *c) {
  return c->job_busy || c->read_paused || c->job_held || conn_rx_held(c);
}

/* The watch after authentication: an idle peer or a stalled record. */
static void on_watch(uv_timer_t *t) {
  conn *c = t->data;
  uint64_t now = uv_now(c->tcp.loop);
  uint64_t idle = c->o.idle_timeout / VSS_NS_PER_MS;
  uint64_t rec = c->o.record_timeout / VSS_NS_PER_MS;
  char why[96];
  if (c->closing) return;
  if (reads_stopped(c)) {
    c->last_rx_ms = now;
    if (c->partial_since_ms) c->partial_since_ms = now;
    return;
  }
  if (idle && now - c->last_rx_ms >= idle) {
    snprintf(why, sizeof why, "idle: nothing received for %.1f s",
             (double)(now - c->last_rx_ms) / 1e3);
    conn_close(c, LOG_WARN, why);
  } else if (rec && c->partial_since_ms && now - c->partial_since_ms >= rec) {
    snprintf(why, sizeof why, "record stalled: incomplete for %.1f s",
             (double)(now - c->partial_since_ms) / 1e3);
    conn_close(c, LOG_WARN, why);
  }
}

static void start_watch(conn *c) {
  uint64_t idle = c->o.idle_timeout / VSS_NS_PER_MS;
  uint64_t rec = c->o.record_timeout / VSS_NS_PER_MS;
  uint64_t period = idle && rec ? (idle < rec ? idle : rec) : idle + rec;
  uv_timer_stop(&c->hs_timer);
  if (period == 0) return;
  period /= 4;
  period = period < 50 ? 50 : period > 1000 ? 1000 : period;
  c->last_rx_ms = uv_now(c->tcp.loop);
  uv_timer_start(&c->hs_timer, on_watch, period, period);
}

static int conn_new(conn **out, const conn_opts *o) {
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) return UV_ENOMEM;
  c->o = *o;
  c->rx_cap = HS_BUF;
  if ((c->rx = malloc(c->rx_cap)) == NULL) {
    free(c);
    return UV_ENOMEM;
  }
  uv_tcp_init(o->loop, &c->tcp);
  uv_timer_init(o->loop, &c->hs_timer);
  c->tcp.data = c->hs_timer.data = c;
  c->open_handles = 2;
  snprintf(c->addr, sizeof c->addr, "?");
  *out = c;
  return 0;
}

/* ---- reading --------------------------------------------------------- */

static int write_raw(conn *c, const uint8_t *data, size_t len);

static const char *hs_refusal(int rc) {
  switch (rc) {
  case CHAN_ERR_UNPAIRED:
    return "refused: key is not paired with this device";
  case CHAN_ERR_MAGIC:
    return "refused: not a vss peer (bad magic)";
  case CHAN_ERR_AUTH:
    return "refused: handshake authentication failed (forged, or not the "
           "pinned device)";
  default:
    return chan_strerror(rc);
  }
}

static void log_refusal(conn *c, int rc) {
  const uint8_t *pk = chan_peer_pk(c->ch);
  char fp[17] = "", why[160];
  if (rc == CHAN_ERR_UNPAIRED && pk) chan_fingerprint(pk, fp);
  snprintf(why, sizeof why, "%s%s%s", hs_refusal(rc), fp[0] ? " key " : "", fp);
  conn_close(c, LOG_WARN, why);
}

void conn_handshake_unit(conn *c, const uint8_t *u, size_t len) {
  uint8_t out[CHAN_PREFIX + CHAN_MSG2_LEN];
  size_t outlen = 0;
  int rc = chan_hs_recv(c->ch, u, len, out, sizeof out, &outlen);
  if (rc < 0) {
    log_refusal(c, rc);
    return;
  }
  if (outlen > 0 && write_raw(c, out, outlen) < 0) {
    conn_close(c, LOG_WARN, "write failed during handshake");
    return;
  }
  if (rc == 1) {
    /* Only the dialler's msg1 -> msg2 is a round trip (msg2's DH work on
     * the other side is small next to any network RTT). */
    if (c->initiator && c->hs_sent) {
      uint64_t t = uv_hrtime();
      c->hs_rtt = t > c->hs_sent ? t - c->hs_sent : 1;
    }
    start_watch(c); /* stops the handshake timer, starts the idle watch */
    if (conn_rx_grow(c) < 0) {
      conn_close(c, LOG_ERROR, "out of memory");
      return;
    }
    c->ready = 1;
    c->o.cb->established(c->o.owner, c);
  }
}

/* ---- writing --------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  conn *c = w->c;
  wreq_free(w);
  if (status < 0) {
    if (status != UV_ECANCELED) conn_close(c, LOG_INFO, uv_strerror(status));
    return;
  }
  if (!c->closing && c->ready && c->o.cb->writable)
    c->o.cb->writable(c->o.owner, c);
}

static void on_final_written(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  conn *c = w->c;
  (void)status;
  free(w);
  conn_close(c, LOG_DEBUG, NULL);
}

static wreq *wreq_new(conn *c, size_t len) {
  int big = len >= POOL_MIN && len <= pool_size(c);
  wreq *w = big && c->npool ? c->pool[--c->npool]
                            : malloc(sizeof *w + (big ? pool_size(c) : len));
  if (w) {
    w->c = c;
    w->len = len;
    w->pooled = big;
  }
  return w;
}

static int wreq_send(conn *c, wreq *w) {
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc < 0) {
    wreq_free(w);
    return rc;
  }
  c->bytes_out += w->len;
  return 0;
}

static int write_raw(conn *c, const uint8_t *data, size_t len) {
  wreq *w = wreq_new(c, len);
  if (w == NULL) return UV_ENOMEM;
  memcpy(w->data, data, len);
  return wreq_send(c, w);
}

int conn_send_frame(conn *c, const uint8_t *frame, size_t len) {
  size_t sealed = chan_sealed_len(len), outlen = 0;
  wreq *w;
  int rc;
  if (c->closing || c->ending || !c->ready) return UV_ENOTCONN;
  if ((w = wreq_new(c, sealed)) == NULL) return UV_ENOMEM;
  if ((rc = chan_seal(c->ch, frame, len, w->data, sealed, &outlen)) < 0) {
    wreq_free(w);
    log_error("cannot seal a %zu-byte frame for %s: %s", len, c->addr,
              chan_strerror(rc));
    return UV_EINVAL;
  }
  return wreq_send(c, w);
}

/* ---- accept / dial --------------------------------------------------- */

static int start(conn *c) {
  int rc;
  tune_socket(c);
  set_addr(c);
  if (c->o.handshake_timeout > 0)
    uv_timer_start(&c->hs_timer, on_hs_timeout,
                   c->o.handshake_timeout / VSS_NS_PER_MS, 0);
  if ((rc = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc,
                          conn_on_read)) < 0)
    conn_close(c, LOG_WARN, uv_strerror(rc));
  return rc;
}

int conn_accept(conn **out, const conn_opts *o, uv_stream_t *server) {
  conn *c;
  int rc = conn_new(&c, o);
  if (rc < 0) return rc;
  if (chan_new(&c->ch, CHAN_RESPONDER, o->self, NULL, o->cb->pinned, o->owner,
               o->max_frame) < 0 ||
      chan_allow_aes(c->ch, !o->no_aes) < 0) {
    conn_close(c, LOG_ERROR, "out of memory");
    return UV_ENOMEM;
  }
  if ((rc = uv_accept(server, (uv_stream_t *)&c->tcp)) < 0) {
    conn_close(c, LOG_WARN, uv_strerror(rc));
    return rc;
  }
  *out = c;
  return start(c);
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->handle->data;
  uint8_t m1[CHAN_PREFIX + CHAN_MSG1_LEN];
  size_t len = 0;
  if (status < 0) {
    conn_close(c, LOG_DEBUG, uv_strerror(status));
    return;
  }
  if (c->closing) return;
  if (start(c) < 0) return;
  if (chan_hs_start(c->ch, m1, sizeof m1, &len) < 0 ||
      write_raw(c, m1, len) < 0) {
    conn_close(c, LOG_WARN, "cannot start the handshake");
    return;
  }
  c->hs_sent = uv_hrtime();
}

int conn_dial(conn **out, const conn_opts *o, const struct sockaddr *addr,
              const uint8_t peer_pk[CHAN_PK_LEN]) {
  conn *c;
  int rc = conn_new(&c, o);
  if (rc < 0) return rc;
  c->initiator = 1;
  fmt_sockaddr(addr, c->addr, sizeof c->addr);
  if (chan_new(&c->ch, CHAN_INITIATOR, o->self, peer_pk, NULL, NULL,
               o->max_frame) < 0 ||
      chan_allow_aes(c->ch, !o->no_aes) < 0) {
    conn_close(c, LOG_ERROR, "out of memory");
    return UV_ENOMEM;
  }
  if ((rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect)) < 0) {
    conn_close(c, LOG_DEBUG, uv_strerror(rc));
    return rc;
  }
  /* The handshake timeout covers connecting too: a silent address would
   * otherwise hold the dialler for the kernel's SYN retries (~2 min). */
  if (c->o.handshake_timeout > 0)
    uv_timer_start(&c->hs_timer, on_hs_timeout,
                   c->o.handshake_timeout / VSS_NS_PER_MS, 0);
  *out = c;
  return 0;
}
