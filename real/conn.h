/*
 * conn.h - one TCP connection to a peer over libuv, wrapped in the secure
 * channel: handshake with a timeout, record reassembly and decryption on
 * the way in, sealing on the way out.
 *
 * The owner (net.c) gets callbacks; a connection never touches the node.
 * Until the handshake completes, a connection gets a tiny read buffer and
 * its peer's bytes are never interpreted beyond the fixed-size handshake
 * messages, so an unauthenticated peer costs little and learns nothing.
 */
#ifndef VSS_REAL_CONN_H
#define VSS_REAL_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "chan.h"
#include "vss/model.h"

typedef struct conn conn;

typedef struct conn_cb {
  /* Responder side: 1 when pk is pinned here. */
  int (*pinned)(void *owner, const uint8_t pk[CHAN_PK_LEN]);
  /* The handshake completed: the peer proved its pinned key. */
  void (*established)(void *owner, conn *c);
  /* One whole decrypted core frame. Return < 0 to close. */
  int (*frame)(void *owner, conn *c, const uint8_t *f, size_t len);
  /* A write finished: there may be room for more. */
  void (*writable)(void *owner, conn *c);
  /* Closed (every write callback has run); c is freed right after. */
  void (*closed)(void *owner, conn *c);
  /* Optional push back, asked before each frame: 0 = hold the frames
   * (decrypted or not) and stop reading the socket until the owner calls
   * conn_rx_resume. NULL: always 1. */
  int (*readable)(void *owner, conn *c);
} conn_cb;

typedef struct conn_opts {
  uv_loop_t *loop;
  const chan_identity *self;
  const conn_cb *cb;
  void *owner;
  vss_time handshake_timeout;
  /* After the handshake: close when nothing arrives for idle_timeout (the
   * peer's gossip HELLOs come at least every interval), or when a record
   * that has begun is not whole within record_timeout (a peer sitting on
   * a half-sent record). Time with reading stopped on our side counts as
   * progress. 0 disables (tests only). */
  vss_time idle_timeout, record_timeout;
  size_t max_frame;  /* the core's largest frame */
  int notsent_lowat; /* TCP_NOTSENT_LOWAT bytes (0: kernel default) */
  int no_aes;        /* never offer or accept AES-256-GCM */
} conn_opts;

/* Accepts a pending connection from `server` as the responder. */
int conn_accept(conn **out, const conn_opts *o, uv_stream_t *server);
/* Dials addr as the initiator, expecting the peer with key peer_pk. */
int conn_dial(conn **out, const conn_opts *o, const struct sockaddr *addr,
              const uint8_t peer_pk[CHAN_PK_LEN]);
/* Idempotent. `why` is logged (at `level`) with the remote address. */
void conn_close(conn *c, int level, const char *why);
/* A clean close: after the handshake, the channel's close record goes
 * out first (the peer can tell it from a cut connection), then as
 * conn_close. */
void conn_end(conn *c, int level, const char *why);

/* 1 while reading is stopped on purpose: frames held because readable
 * said 0 (push back), or the worker has the other buffer. */
int conn_rx_held(const conn *c);
/* Deliver the held frames (while readable says 1) and read again. Does
 * nothing when called from inside a frame callback of c. */
void conn_rx_resume(conn *c);

/* Seals one core frame and queues it. */
int conn_send_frame(conn *c, const uint8_t *frame, size_t len);
/* Bytes queued in user space (libuv) not yet taken by the kernel. */
size_t conn_write_queue(const conn *c);

/* Buffers an authenticated session holds at most, outside the core (an
 * unauthenticated one holds a 256-byte buffer): see real/README.md. */
size_t conn_session_bytes(size_t max_frame);

int conn_ready(const conn *c);
int conn_closing(const conn *c);
int conn_initiator(const conn *c);
/* The dialler's handshake round trip (msg1 sent -> msg2 received), in ns;
 * 0 for an accepted connection or before it is established. It seeds the
 * core's RTT estimate (an OS-level measurement a real node can make). */
uint64_t conn_hs_rtt(const conn *c);
/* The record cipher the handshake chose (after it completed). */
const char *conn_cipher(const conn *c);
const uint8_t *conn_peer_pk(const conn *c); /* NULL before msg1 */
const char *conn_addr(const conn *c);       /* "host:port" of the peer */
void conn_set_user(conn *c, void *user);
void *conn_user(const conn *c);
uint64_t conn_bytes_in(const conn *c);
uint64_t conn_bytes_out(const conn *c);

#endif
