/*
 * ctl_internal.h - the daemon's control socket, shared by ctl.c (the
 * socket, requests, ops) and ctl_fetch.c (fetch requests, answered as
 * their jobs end). Nothing else includes it.
 */
#ifndef VSS_REAL_CTL_INTERNAL_H
#define VSS_REAL_CTL_INTERNAL_H

#include "srv.h"

enum { W_QUEUED = 0, W_RUNNING, W_DONE };

/* One sidecar a fetch request waits for. */
typedef struct waiter {
  uint64_t job;
  vss_key key;
  vss_format fmt;
  int state; /* W_* */
} waiter;

typedef struct client {
  uv_pipe_t pipe;
  struct ctl *ctl;
  struct client *prev, *next;
  char *buf; /* the request */
  size_t len, cap;
  int handled, closing;
  /* a fetch request */
  waiter *w;
  size_t nw, next_w, ndone; /* waiters, next to start, ended */
  size_t *run;              /* indexes of running waiters */
  size_t nrun;
  int failed, progress, or_generate, want_launch, finished;
} client;

/* Recent job ends no waiter claimed yet (a job that ended inside the
 * vss_node_fetch call that started it). */
#define CTL_RECENT 16

typedef struct ctl {
  srv *s;
  uv_pipe_t listener;
  uv_timer_t tick;   /* fetch --progress lines */
  uv_timer_t launch; /* starts queued fetches outside the node's events */
  client head;
  struct {
    uint64_t job;
    int rc;
  } recent[CTL_RECENT];
  unsigned nrecent;
} ctl;

/* ctl.c */
void client_line(void *u, char kind, const char *text);
void client_finish(client *c, int status);

/* ctl_fetch.c */
void ctl_fetch_start(client *c, int argc, char **argv);
void ctl_fetch_launch(uv_timer_t *t);
void ctl_fetch_tick(uv_timer_t *t);
void ctl_fetch_free(client *c);

#endif
