/*
 * ctl.c - the daemon end of the control socket: parse a request, run the
 * op on the live node, stream the answer; fetches answer when their jobs
 * end.
 */
#define _GNU_SOURCE /* struct ucred, SO_PEERCRED */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobs_disk.h"
#include "ctl.h"
#include "ctl_internal.h"
#include "log.h"
#include "ops.h"
#include "srv.h"

#define TICK_MS 500

/* ---- writing to a client --------------------------------------------- */

typedef struct cwrite {
  uv_write_t req;
  char data[];
} cwrite;

static void on_cwrite(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void client_closed(uv_handle_t *h) {
  client *c = h->data;
  c->prev->next = c->next;
  c->next->prev = c->prev;
  free(c->buf);
  ctl_fetch_free(c);
  free(c);
}

static void client_close(client *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->pipe, client_closed);
}

void client_line(void *u, char kind, const char *text) {
  client *c = u;
  size_t n = strlen(text);
  cwrite *w;
  uv_buf_t b;
  if (c->closing || (w = malloc(sizeof *w + n + 3)) == NULL) return;
  w->data[0] = kind;
  w->data[1] = ' ';
  memcpy(w->data + 2, text, n);
  w->data[n + 2] = '\n';
  b = uv_buf_init(w->data, (unsigned)(n + 3));
  if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_cwrite) < 0) {
    free(w);
    client_close(c);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  client *c = req->data;
  (void)status;
  free(req);
  client_close(c);
}

/* Writes the exit status; closes once every queued line is out. */
void client_finish(client *c, int status) {
  uv_shutdown_t *req;
  char st[16];
  snprintf(st, sizeof st, "%d", status);
  client_line(c, 'x', st);
  if (c->closing) return;
  if ((req = malloc(sizeof *req)) == NULL) {
    client_close(c);
    return;
  }
  req->data = c;
  if (uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown) < 0) {
    free(req);
    client_close(c);
  }
}

/* ---- requests ---------------------------------------------------------- */

/* Splits the buffered request (NUL-free, ending in an empty line) into
 * lines in place: as many as it has, bounded only by CTL_MAX_REQUEST. */
static int split(client *c, char ***argvp) {
  size_t lines = 0;
  char **argv, *p = c->buf, *end = c->buf + c->len;
  int argc = 0;
  for (char *q = c->buf; q < end; q++)
    lines += *q == '\n';
  if ((argv = malloc((lines + 1) * sizeof *argv)) == NULL) return -1;
  while (p < end && *p != '\n') {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) break;
    *nl = '\0';
    argv[argc++] = p;
    p = nl + 1;
  }
  *argvp = argv;
  return argc;
}

static void dispatch(client *c) {
  ctl *x = c->ctl;
  out o = {client_line, c};
  ops_ctx ctx = {x->s->h, x->s->node, x->s};
  const op_def *op;
  char **argv = NULL;
  int argc = split(c, &argv), status;

  c->handled = 1;
  if (argc < 0) {
    out_f(&o, 'e', "out of memory");
    client_finish(c, EXIT_FAIL);
    return;
  }
  if (argc < 2 || strcmp(argv[0], CTL_MAGIC) != 0) {
    out_f(&o, 'e', "bad control request (version mismatch?)");
    client_finish(c, EXIT_USAGE);
  } else if ((op = ops_find(argv[1])) == NULL) {
    out_f(&o, 'e', "unknown command '%s'", argv[1]);
    client_finish(c, EXIT_USAGE);
  } else if (op->fn == NULL) {
    ctl_fetch_start(c, argc - 2, argv + 2);
  } else {
    status = op->fn(&ctx, argc - 2, argv + 2, &o);
    if (!x->s->stopping) srv_after(x->s);
    client_finish(c, status);
  }
  free(argv);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  client *c = h->data;
  (void)hint;
  if (c->cap - c->len < 4096 && c->cap < CTL_MAX_REQUEST) {
    size_t cap = c->cap ? c->cap * 2 : 8192;
    char *nb = realloc(c->buf, cap);
    if (nb) {
      c->buf = nb;
      c->cap = cap;
    }
  }
  buf->base = c->buf ? c->buf + c->len : NULL;
  buf->len = c->buf ? c->cap - c->len - 1 : 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  client *c = st->data;
  (void)buf;
  if (n < 0) { /* gone: its fetches carry on in the daemon */
    client_close(c);
    return;
  }
  if (c->handled) return;
  if (n > 0 && memchr(c->buf + c->len, '\0', (size_t)n) != NULL) {
    c->handled = 1;
    uv_read_stop(st);
    client_line(c, 'e', "bad control request: NUL byte");
    client_finish(c, EXIT_USAGE);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (c->len >= 2 && !memcmp(c->buf + c->len - 2, "\n\n", 2)) {
    uv_read_stop(st);
    dispatch(c);
  } else if (c->len + 1 >= CTL_MAX_REQUEST) {
    c->handled = 1;
    uv_read_stop(st);
    client_line(c, 'e', "request too large");
    client_finish(c, EXIT_USAGE);
  }
}

/* The socket is 0600 in a 0700 dir; the kernel's word on who connected
 * is checked too (a socket inherited or passed on, a loosened dir). */
static int same_user(client *c) {
  uv_os_fd_t fd;
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
    log_warn("control socket: cannot read the client's credentials");
    return 0;
  }
  if (cr.uid != geteuid()) {
    log_warn("control socket: refused a client of uid %u (pid %ld)",
             (unsigned)cr.uid, (long)cr.pid);
    return 0;
  }
  return 1;
}

static void on_client(uv_stream_t *server, int status) {
  ctl *x = server->data;
  client *c;
  if (status < 0 || (c = calloc(1, sizeof *c)) == NULL) return;
  c->ctl = x;
  uv_pipe_init(x->s->loop, &c->pipe, 0);
  c->pipe.data = c;
  c->next = x->head.next;
  c->prev = &x->head;
  x->head.next->prev = c;
  x->head.next = c;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 || !same_user(c) ||
      uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0)
    client_close(c);
}

int ctl_start(srv *s) {
  ctl *x = calloc(1, sizeof *x);
  mode_t old_mask;
  int rc;
  if (x == NULL) return UV_ENOMEM;
  x->s = s;
  x->head.next = x->head.prev = &x->head;
  s->ctl = x;
  uv_timer_init(s->loop, &x->tick);
  x->tick.data = x;
  uv_timer_start(&x->tick, ctl_fetch_tick, TICK_MS, TICK_MS);
  uv_timer_stop(&x->tick); /* armed by fetch --progress */
  uv_timer_init(s->loop, &x->launch);
  x->launch.data = x;
  uv_pipe_init(s->loop, &x->listener, 0);
  x->listener.data = x;
  /* We hold the data dir lock, so a socket file here is a dead daemon's. */
  unlink(s->h->sock_path);
  /* Created 0600 from the start (umask), not chmod'ed after a window. */
  old_mask = umask(077);
  rc = uv_pipe_bind(&x->listener, s->h->sock_path);
  umask(old_mask);
  if (rc < 0 ||
      (rc = uv_listen((uv_stream_t *)&x->listener, 16, on_client)) < 0) {
    log_error("cannot listen on %s: %s", s->h->sock_path, uv_strerror(rc));
    return rc;
  }
  chmod(s->h->sock_path, 0600);
  return 0;
}

static void ctl_freed(uv_handle_t *h) {
  ctl *x = h->data;
  free(x);
}

void ctl_stop(srv *s) {
  ctl *x = s->ctl;
  if (x == NULL) return;
  for (client *c = x->head.next; c != &x->head;) {
    client *next = c->next;
    c->next = c->prev = c; /* the ctl (list head) is freed first */
    if (!c->closing && c->handled) {
      out_f(&(out){client_line, c}, 'e', "the daemon is stopping");
      client_finish(c, EXIT_FAIL);
    } else {
      client_close(c);
    }
    c = next;
  }
  unlink(s->h->sock_path);
  uv_close((uv_handle_t *)&x->tick, NULL);
  uv_close((uv_handle_t *)&x->launch, NULL);
  /* The listener closes last, after clients (close callbacks run in
   * reverse order), and frees the ctl with it. */
  uv_close((uv_handle_t *)&x->listener, ctl_freed);
  s->ctl = NULL;
}
