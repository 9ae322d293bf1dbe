/*
 * ctl_fetch.c - `fetch` requests: each URI becomes a foreground fetch
 * job, answered with its path when the job ends. A bulk request (10,000
 * thumbnails) keeps at most MAX_RUNNING jobs in the node at once and
 * starts the next as one ends: the node's per-job work stays small, and
 * keys whose availability has not arrived yet are queried a few at a
 * time instead of all at once.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blobs_disk.h"
#include "ctl_internal.h"
#include "ops.h"

#define MAX_RUNNING 256

static void print_path(client *c, const waiter *w) {
  char uri[VSS_URI_MAX + 1], path[4096];
  vss_uri_format(&w->key, w->fmt, uri, sizeof uri);
  blobs_disk_path(c->ctl->s->h->dir, &w->key, w->fmt, path, sizeof path);
  out_f(&(out){client_line, c}, 'o', "%s %s", uri, path);
}

static void maybe_finish(client *c) {
  if (!c->finished && c->ndone == c->nw && !c->closing) {
    c->finished = 1;
    client_finish(c, c->failed ? EXIT_FAIL : EXIT_OK);
  }
}

static void complete(client *c, waiter *w, int rc) {
  w->state = W_DONE;
  c->ndone++;
  if (rc == 0) {
    print_path(c, w);
  } else {
    char uri[VSS_URI_MAX + 1];
    vss_uri_format(&w->key, w->fmt, uri, sizeof uri);
    out_f(&(out){client_line, c}, 'e', "fetch %s failed: %s", uri,
          vss_strerror(rc));
    c->failed = 1;
  }
}

static int is_local(srv *s, const waiter *w) {
  vss_resolution r;
  return vss_node_resolve(s->node, &w->key, w->fmt, VSS_RESOLVE_LOCAL_ONLY, &r,
                          home_now()) == 0 &&
         r.kind == VSS_RESOLVED_LOCAL;
}

/* A job that ended inside the call that started it. */
static int ended_already(ctl *x, uint64_t job, int *rc) {
  for (unsigned i = 0; i < x->nrecent && i < CTL_RECENT; i++)
    if (x->recent[i].job == job) {
      *rc = x->recent[i].rc;
      return 1;
    }
  return 0;
}

static void launch(client *c, size_t idx) {
  srv *s = c->ctl->s;
  waiter *w = &c->w[idx];
  uint32_t flags =
      VSS_FETCH_FOREGROUND | (c->or_generate ? VSS_FETCH_GENERATE_ON_FAIL : 0);
  int rc, end_rc;
  if (is_local(s, w)) {
    complete(c, w, 0);
    return;
  }
  c->ctl->nrecent = 0;
  rc = vss_node_fetch(s->node, &w->key, w->fmt, flags, &w->job, home_now());
  if (rc < 0) {
    complete(c, w, rc);
  } else if (ended_already(c->ctl, w->job, &end_rc)) {
    complete(c, w, end_rc);
  } else {
    w->state = W_RUNNING;
    c->run[c->nrun++] = idx;
  }
}

static void launch_more(client *c) {
  while (c->nrun < MAX_RUNNING && c->next_w < c->nw && !c->closing)
    launch(c, c->next_w++);
  srv_after(c->ctl->s);
  maybe_finish(c);
}

/* Runs from a timer: starting jobs inside the node's event callback
 * would re-enter it. */
void ctl_fetch_launch(uv_timer_t *t) {
  ctl *x = t->data;
  for (client *c = x->head.next; c != &x->head; c = c->next)
    if (c->want_launch) {
      c->want_launch = 0;
      launch_more(c);
    }
}

void ctl_job_done(srv *s, uint64_t job, int rc) {
  ctl *x = s->ctl;
  int claimed = 0;
  if (x == NULL) return;
  for (client *c = x->head.next; c != &x->head; c = c->next) {
    for (size_t k = 0; k < c->nrun; k++) {
      waiter *w = &c->w[c->run[k]];
      if (w->job != job) continue;
      complete(c, w, rc);
      c->run[k--] = c->run[--c->nrun];
      c->want_launch = claimed = 1;
    }
    maybe_finish(c);
  }
  if (claimed) {
    uv_timer_start(&x->launch, ctl_fetch_launch, 0, 0);
  } else if (x->nrecent < CTL_RECENT) {
    x->recent[x->nrecent].job = job;
    x->recent[x->nrecent++].rc = rc;
  }
}

void ctl_fetch_start(client *c, int argc, char **argv) {
  out o = {client_line, c};
  char *pos[1];
  int npos = 0, n = 0;
  optspec spec[] = {{"progress", 0, NULL, &c->progress},
                    {"or-generate", 0, NULL, &c->or_generate},
                    {NULL, 0, NULL, NULL}};
  /* Options first, then every URI (there may be many). */
  while (n < argc && !strncmp(argv[n], "--", 2))
    n++;
  if (opts_parse(n, argv, spec, pos, 0, &npos, &o) < 0 || n == argc) {
    if (n == argc) out_f(&o, 'e', "fetch needs one or more sidecar URIs");
    client_finish(c, EXIT_USAGE);
    return;
  }
  c->w = calloc((size_t)(argc - n), sizeof *c->w);
  c->run = calloc(MAX_RUNNING, sizeof *c->run);
  if (c->w == NULL || c->run == NULL) {
    client_finish(c, EXIT_FAIL);
    return;
  }
  for (int i = n; i < argc; i++) {
    waiter *w = &c->w[c->nw++];
    if (ops_parse_uri(argv[i], &w->key, &w->fmt, &o) < 0) {
      w->state = W_DONE;
      c->ndone++;
      c->failed = 1;
    }
  }
  launch_more(c);
  if (!c->finished && c->progress &&
      !uv_is_active((uv_handle_t *)&c->ctl->tick))
    uv_timer_again(&c->ctl->tick);
}

static void progress_of(client *c, const vss_job_info *jobs, int n) {
  uint64_t done = 0, size = 0;
  for (size_t k = 0; k < c->nrun; k++)
    for (int i = 0; i < n; i++)
      if (jobs[i].id == c->w[c->run[k]].job) {
        done += jobs[i].done;
        size += jobs[i].size;
      }
  out_f(&(out){client_line, c}, 'p',
        "progress: %zu of %zu done; running %" PRIu64 "/%" PRIu64 " bytes",
        c->ndone, c->nw, done, size);
}

void ctl_fetch_tick(uv_timer_t *t) {
  ctl *x = t->data;
  static vss_job_info jobs[1024];
  int n = vss_node_jobs(x->s->node, jobs, 1024), any = 0;
  if (n > 1024) n = 1024;
  for (client *c = x->head.next; c != &x->head; c = c->next)
    if (c->progress && c->nw && !c->finished && !c->closing) {
      progress_of(c, jobs, n);
      any = 1;
    }
  if (!any) uv_timer_stop(t);
}

void ctl_fetch_free(client *c) {
  free(c->w);
  free(c->run);
}
