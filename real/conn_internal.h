/*
 * conn_internal.h - what conn.c (lifecycle, handshake, writing) and
 * conn_rx.c (reading, record decryption) share. Nothing else includes it.
 */
#ifndef VSS_REAL_CONN_INTERNAL_H
#define VSS_REAL_CONN_INTERNAL_H

#include "conn.h"

#define HS_BUF 256 /* read buffer while unauthenticated */
/* Spare big write buffers kept: a session writes one frame at a time
 * (net.c pumps only into an empty write queue), so two cover the one in
 * flight and the next. */
#define CONN_POOL 2

typedef struct rxjob rxjob;

struct conn {
  uv_tcp_t tcp;        /* first: handle data points back here anyway */
  uv_timer_t hs_timer; /* handshake timeout, then the idle/record watch */
  uv_connect_t connect_req;
  conn_opts o;
  chan *ch;
  int open_handles;
  int closing;
  int ready;
  int initiator;
  char addr[64];
  void *user;

  uint8_t *rx; /* unparsed input */
  size_t rx_len, rx_cap;
  uint8_t *plain; /* one decrypted frame (records opened on the loop) */
  size_t plain_cap;
  rxjob *job;       /* records being opened on a worker thread */
  int job_busy;     /* the worker has it */
  int read_paused;  /* rx full while the worker is busy */
  int held;         /* push back: the owner said not readable */
  int job_held;     /* ... with frames of the finished batch left */
  int delivering;   /* inside a frame callback (no nested delivery) */
  int free_pending; /* closed while busy: the job's end frees us */
  uint64_t bytes_in, bytes_out;
  uint64_t last_rx_ms;       /* uv_now of the last bytes read */
  uint64_t partial_since_ms; /* a record began and is not whole (0: none) */
  int ending;                /* conn_end: the close record is on its way */
  int eof;                   /* the peer's stream ended */
  struct wreq *pool[CONN_POOL];
  int npool;
};

/* conn.c */
void conn_handshake_unit(conn *c, const uint8_t *u, size_t len);
void conn_finalize(conn *c);

/* conn_rx.c */
void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
int conn_rx_grow(conn *c);
void conn_rx_free(conn *c);

#endif
