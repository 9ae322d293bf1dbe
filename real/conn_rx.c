/*
 * conn_rx.c - the receiving side of a connection: wire units reassembled
 * in a buffer; handshake messages handled inline; records opened inline
 * when the batch is small (control frames keep their latency) or on a
 * libuv worker thread when it is bulk data, so that decryption overlaps
 * the node's own work on the loop thread (hashing, writing to disk).
 *
 * One batch is with the worker at a time (records must be opened in
 * order); meanwhile reads go on into a second buffer, and stop when it is
 * full until the batch comes back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "log.h"

#define READ_SLACK (256u << 10) /* reads may run this far past a unit */
#define OFFLOAD_MIN                                                            \
  (128u << 10)               /* batches at least this big go to a worker       \
                              */
#define MIN_FREE (64u << 10) /* pause reading below this much room */

struct rxjob {
  uv_work_t work;
  conn *c;
  int status;        /* of the work request */
  size_t next, poff; /* first frame not yet delivered, its offset */
  uint8_t *units;    /* whole record units in [off, end) */
  size_t off, end;
  uint8_t *plain; /* their frames, back to back */
  size_t *flen;   /* each frame's length */
  size_t nframes, frames_cap;
  int rc; /* the channel's error after nframes frames, or 0 */
};

size_t conn_session_bytes(size_t max_frame) {
  size_t rx = CHAN_PREFIX + max_frame + CHAN_REC_OVERHEAD + READ_SLACK;
  /* rx, the worker's units and plaintext, one inline frame, the pool */
  return 3 * rx + max_frame + CONN_POOL * (chan_sealed_len(max_frame) + 64);
}

int conn_rx_grow(conn *c) {
  size_t max_plain = c->o.max_frame;
  size_t cap = CHAN_PREFIX + max_plain + CHAN_REC_OVERHEAD + READ_SLACK;
  uint8_t *rx = realloc(c->rx, cap);
  if (rx == NULL) return -1;
  c->rx = rx;
  c->rx_cap = cap;
  if ((c->plain = malloc(max_plain)) == NULL ||
      (c->job = calloc(1, sizeof *c->job)) == NULL ||
      (c->job->units = malloc(cap)) == NULL ||
      (c->job->plain = malloc(cap)) == NULL)
    return -1;
  c->plain_cap = max_plain;
  c->job->c = c;
  c->job->work.data = c->job;
  return 0;
}

void conn_rx_free(conn *c) {
  if (c->job) {
    free(c->job->units);
    free(c->job->plain);
    free(c->job->flen);
    free(c->job);
  }
  free(c->rx);
  free(c->plain);
}

void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn *c = h->data;
  (void)hint;
  buf->base = (char *)c->rx + c->rx_len;
  buf->len = c->rx_cap - c->rx_len;
}

static void bad_record(conn *c, int rc) {
  char why[96];
  snprintf(why, sizeof why, "bad record: %s", chan_strerror(rc));
  conn_close(c, LOG_WARN, why);
}

/* The peer's close record: nothing may follow it. */
static void peer_ended(conn *c) {
  conn_close(c, LOG_INFO, "peer closed the session");
}

static void deliver(conn *c, const uint8_t *f, size_t len) {
  c->delivering = 1;
  int rc = c->o.cb->frame(c->o.owner, c, f, len);
  c->delivering = 0;
  if (rc < 0) conn_close(c, LOG_WARN, "protocol error in frame");
}

/* Push back: asked before each frame. Holding stops the socket reads;
 * what was read stays in rx (records not opened yet) or in the job. */
static int may_deliver(conn *c) {
  if (c->o.cb->readable == NULL || c->o.cb->readable(c->o.owner, c)) return 1;
  if (!c->held) {
    c->held = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
  return 0;
}

int conn_rx_held(const conn *c) {
  return c->held;
}

/* Opens and delivers records in [off, end); returns where it stopped
 * (end, or the first record held back). */
static size_t open_inline(conn *c, size_t off, size_t end) {
  while (off < end && !c->closing) {
    if (!may_deliver(c)) break;
    size_t ul = CHAN_PREFIX +
                ((size_t)c->rx[off] | (size_t)c->rx[off + 1] << 8 |
                 (size_t)c->rx[off + 2] << 16 | (size_t)c->rx[off + 3] << 24);
    size_t plen = 0;
    int rc = chan_open(c->ch, c->rx + off, ul, c->plain, c->plain_cap, &plen);
    if (rc == CHAN_CLOSED) {
      peer_ended(c);
      return off;
    }
    if (rc < 0) {
      bad_record(c, rc);
      return off;
    }
    off += ul;
    deliver(c, c->plain, plen);
  }
  return off;
}

/* ---- the worker ------------------------------------------------------- */

static void work_open(uv_work_t *w) {
  rxjob *j = w->data;
  size_t off = j->off, used = 0;
  j->nframes = 0;
  j->rc = 0;
  while (off < j->end) {
    const uint8_t *u = j->units + off;
    size_t ul = CHAN_PREFIX + ((size_t)u[0] | (size_t)u[1] << 8 |
                               (size_t)u[2] << 16 | (size_t)u[3] << 24);
    size_t plen = 0;
    if (j->nframes == j->frames_cap) {
      size_t cap = j->frames_cap ? j->frames_cap * 2 : 64;
      size_t *nf = realloc(j->flen, cap * sizeof *nf);
      if (nf == NULL) {
        j->rc = CHAN_ERR_BUFFER;
        return;
      }
      j->flen = nf;
      j->frames_cap = cap;
    }
    j->rc = chan_open(j->c->ch, u, ul, j->plain + used, j->end - off, &plen);
    if (j->rc != 0) return; /* an error, or the close record */
    j->flen[j->nframes++] = plen;
    used += plen;
    off += ul;
  }
}

static void process(conn *c);

/* The stream ended and everything before the end was read: a close record
 * would have closed us already, so this one was cut, even if at a record
 * boundary. Waits while frames are still held back or with the worker. */
static void eof_check(conn *c) {
  if (c->closing || c->job_busy || c->job_held || c->held) return;
  if (chan_eof(c->ch) < 0)
    conn_close(c, LOG_WARN, "connection cut: no close record (truncated)");
  else
    conn_close(c, LOG_INFO, "peer closed");
}

/* The finished batch's frames from j->next on; then what follows it. */
static void finish_job(conn *c) {
  rxjob *j = c->job;
  while (j->next < j->nframes && !c->closing) {
    if (!may_deliver(c)) {
      c->job_held = 1;
      return;
    }
    size_t len = j->flen[j->next++];
    const uint8_t *f = j->plain + j->poff;
    j->poff += len;
    deliver(c, f, len);
  }
  c->job_held = 0;
  if (c->closing) return;
  if (j->status == 0 && j->rc == CHAN_CLOSED) {
    peer_ended(c);
    return;
  }
  if (j->status < 0 || j->rc < 0) {
    bad_record(c, j->status < 0 ? CHAN_ERR_STATE : j->rc);
    return;
  }
  if (c->read_paused && !c->held && !c->eof) {
    c->read_paused = 0;
    uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
  }
  process(c);
  if (c->eof) eof_check(c);
}

static void work_done(uv_work_t *w, int status) {
  rxjob *j = w->data;
  conn *c = j->c;
  c->job_busy = 0;
  if (c->free_pending) {
    conn_finalize(c);
    return;
  }
  j->status = status;
  j->next = j->poff = 0;
  finish_job(c);
}

void conn_rx_resume(conn *c) {
  if (!c->held || c->closing || c->delivering) return;
  c->held = 0;
  if (c->job_held)
    finish_job(c);
  else
    process(c);
  if (c->eof)
    eof_check(c);
  else if (!c->held && !c->closing && !c->read_paused)
    uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
}

/* Hands units [off, end) to the worker by swapping buffers: the batch is
 * not copied, only the partial tail after it. */
static void offload(conn *c, size_t off, size_t end) {
  rxjob *j = c->job;
  uint8_t *spare = j->units;
  int rc;
  j->units = c->rx;
  j->off = off;
  j->end = end;
  c->rx = spare;
  memcpy(c->rx, j->units + end, c->rx_len - end);
  c->rx_len -= end;
  c->job_busy = 1;
  rc = uv_queue_work(c->tcp.loop, &j->work, work_open, work_done);
  if (rc < 0) {
    c->job_busy = 0;
    conn_close(c, LOG_ERROR, uv_strerror(rc));
  }
}

/* ---- parsing ---------------------------------------------------------- */

/* Whole handshake units, one at a time (each may change the state). */
static size_t handshake(conn *c) {
  size_t off = 0, ul = 0;
  while (!c->closing && !c->ready) {
    int rc = chan_unit_len(c->ch, c->rx + off, c->rx_len - off, &ul);
    if (rc == 1 || (rc == 0 && c->rx_len - off < ul)) break;
    if (rc < 0) {
      conn_close(c, LOG_WARN, "bad handshake message size");
      break;
    }
    conn_handshake_unit(c, c->rx + off, ul);
    off += ul;
  }
  return off;
}

/* The end of the whole record units from off; closes on an oversized
 * one (refused from its prefix alone, before buffering it). */
static size_t records_end(conn *c, size_t off) {
  size_t ul = 0;
  for (;;) {
    int rc = chan_unit_len(c->ch, c->rx + off, c->rx_len - off, &ul);
    if (rc == 1 || (rc == 0 && c->rx_len - off < ul)) return off;
    if (rc < 0) {
      conn_close(c, LOG_WARN, "oversized record");
      return off;
    }
    off += ul;
  }
}

static void compact(conn *c, size_t off) {
  memmove(c->rx, c->rx + off, c->rx_len - off);
  c->rx_len -= off;
}

static void process(conn *c) {
  size_t off, end;
  /* Records stay in order behind the batch, and behind held frames. */
  if (c->job_busy || c->job_held || c->held) return;
  off = handshake(c);
  if (c->closing) return;
  if (!c->ready) {
    compact(c, off);
    return;
  }
  end = records_end(c, off);
  if (c->closing) return;
  /* A record begun and not whole starts (or keeps) the record clock; a
   * whole one restarts it. */
  if (end < c->rx_len) {
    if (end > off || c->partial_since_ms == 0)
      c->partial_since_ms = uv_now(c->tcp.loop);
  } else {
    c->partial_since_ms = 0;
  }
  if (end - off >= OFFLOAD_MIN) {
    offload(c, off, end);
    return;
  }
  end = open_inline(c, off, end);
  if (!c->closing) compact(c, end);
}

void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  (void)buf;
  if (n < 0) {
    if (n == UV_EOF && c->ready) {
      /* Whatever is buffered is read first: it may end with the close
       * record. */
      c->eof = 1;
      uv_read_stop(s);
      process(c);
      eof_check(c);
      return;
    }
    conn_close(c, LOG_INFO, n == UV_EOF ? "peer closed" : uv_strerror((int)n));
    return;
  }
  if (n > 0) c->last_rx_ms = uv_now(c->tcp.loop);
  c->rx_len += (size_t)n;
  c->bytes_in += (uint64_t)n;
  process(c);
  /* Full while the worker has the other buffer: wait for it. */
  if (!c->closing && c->job_busy && c->rx_cap - c->rx_len < MIN_FREE) {
    uv_read_stop(s);
    c->read_paused = 1;
  }
}
