/*
 * srv.c - the daemon's lifecycle and its glue to the node: clock, timer,
 * events, signals.
 */
#include "srv.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobs_disk.h"
#include "evlog.h"
#include "log.h"

static uint64_t node_rand(void *user) {
  uint64_t v;
  (void)user;
  randombytes_buf(&v, sizeof v);
  return v;
}

const char *srv_name_of(const srv *s, const vss_uuid *device, char *buf,
                        size_t cap) {
  peer_slot *p;
  if (vss_uuid_cmp(device, &s->h->device) == 0) {
    snprintf(buf, cap, "%s", s->h->cfg.name);
  } else if ((p = net_slot(s, device)) != NULL) {
    snprintf(buf, cap, "%s", p->name);
  } else {
    char u[VSS_UUID_STR_LEN + 1];
    vss_uuid_format(device, u);
    snprintf(buf, cap, "%s", u);
  }
  return buf;
}

/* ---- timer ----------------------------------------------------------- */

static void on_expiry(uv_timer_t *t) {
  srv *s = t->data;
  int rc = vss_node_handle_expiry(s->node, home_now());
  if (rc < 0) log_warn("timer work failed: %s", vss_strerror(rc));
  srv_after(s);
}

static void arm(srv *s) {
  vss_time exp = vss_node_get_expiry(s->node), now = home_now();
  uint64_t ms;
  if (exp == VSS_TIME_UNSET) {
    uv_timer_stop(&s->expiry);
    return;
  }
  ms = exp > now ? (exp - now + VSS_NS_PER_MS - 1) / VSS_NS_PER_MS : 0;
  uv_timer_start(&s->expiry, on_expiry, ms, 0);
}

void srv_after(srv *s) {
  if (s->stopping) return;
  net_pump_all(s);
  arm(s);
}

/* ---- group commit ---------------------------------------------------- */

/* Sidecars that complete within GROUP_DELAY of the first one share one
 * sync and one transaction (at most GROUP_MAX). Each sync is a device
 * cache flush, ~2-8 ms here, whatever it writes: per sidecar that was
 * most of a thumbnail's cost. The delay adds that much to a lone
 * fetch's answer. */
#define GROUP_MAX 256
#define GROUP_DELAY_MS 10

static void on_group_timer(uv_timer_t *t) {
  (void)srv_group_flush(t->data);
}

/* blobs_disk asks before it defers a commit: the row the core writes
 * next must land in our transaction, so one must be open (or openable:
 * an op running its own transaction gets a synchronous commit). */
static int group_defer(void *user) {
  srv *s = user;
  if (s->stopping) return 1;
  if (!s->group_txn) {
    if (vss_store_begin(s->h->store) < 0) return 1;
    s->group_txn = 1;
    uv_timer_start(&s->group_timer, on_group_timer, GROUP_DELAY_MS, 0);
  }
  return 0;
}

static void hold_answer(srv *s, uint64_t job, int rc) {
  if (s->nheld == s->held_cap) {
    size_t cap = s->held_cap ? s->held_cap * 2 : 64;
    void *p = realloc(s->held, cap * sizeof *s->held);
    if (p == NULL) {
      (void)srv_group_flush(s); /* answer now rather than never */
      ctl_job_done(s, job, rc);
      return;
    }
    s->held = p;
    s->held_cap = cap;
  }
  s->held[s->nheld].job = job;
  s->held[s->nheld++].rc = rc;
}

int srv_group_flush(srv *s) {
  int rc = blobs_disk_flush(s->h->blobs);
  size_t n = s->nheld;
  if (s->group_txn) {
    if (rc == 0) rc = vss_store_commit(s->h->store);
    if (rc < 0) (void)vss_store_rollback(s->h->store);
    s->group_txn = 0;
  }
  uv_timer_stop(&s->group_timer); /* harmless once closed */
  s->nheld = 0;
  for (size_t i = 0; i < n; i++)
    ctl_job_done(s, s->held[i].job, rc < 0 ? rc : s->held[i].rc);
  if (rc < 0) {
    log_error("group commit failed: %s; the sidecars of this group are not "
              "recorded (their bytes are overwritten by the next fetch)",
              vss_strerror(rc));
    srv_stop(s, "a commit failed");
  }
  return rc;
}

/* ---- events ---------------------------------------------------------- */

static void log_fetch(srv *s, const vss_event *ev) {
  char uri[VSS_URI_MAX + 1] = "?", who[64];
  vss_uri_format(&ev->key, ev->format, uri, sizeof uri);
  srv_name_of(s, &ev->peer, who, sizeof who);
  switch (ev->type) {
  case VSS_EV_FETCH_STARTED:
    log_info("fetch #%llu %s started (first source %s)",
             (unsigned long long)ev->job, uri, who);
    break;
  case VSS_EV_FETCH_DONE:
    log_info("fetch #%llu %s done: %llu bytes in %.3f s, verified",
             (unsigned long long)ev->job, uri, (unsigned long long)ev->bytes,
             (double)ev->duration / 1e9);
    break;
  case VSS_EV_FETCH_FAILED:
    log_warn("fetch #%llu %s failed: %s", (unsigned long long)ev->job, uri,
             vss_strerror(ev->rc));
    break;
  case VSS_EV_CHUNK_BAD:
    log_warn("bad chunk of %s from %s: dropped it as a source", uri, who);
    break;
  case VSS_EV_SOURCE_DROPPED:
    log_info("fetch #%llu: source %s dropped (%s)", (unsigned long long)ev->job,
             who, vss_strerror(ev->rc));
    break;
  default:
    break;
  }
}

static void on_event(void *user, const vss_event *ev) {
  srv *s = user;
  char who[64];
  evlog_write(s->evlog, ev);
  switch (ev->type) {
  case VSS_EV_FETCH_STARTED:
  case VSS_EV_CHUNK_BAD:
  case VSS_EV_SOURCE_DROPPED:
    log_fetch(s, ev);
    break;
  case VSS_EV_FETCH_DONE:
  case VSS_EV_FETCH_FAILED:
    log_fetch(s, ev);
    /* A done sidecar is durable only when its group is: answer then. */
    if (s->group_txn)
      hold_answer(s, ev->job, ev->type == VSS_EV_FETCH_DONE ? 0 : ev->rc);
    else
      ctl_job_done(s, ev->job, ev->type == VSS_EV_FETCH_DONE ? 0 : ev->rc);
    break;
  case VSS_EV_GENERATED:
    if (s->group_txn)
      hold_answer(s, ev->job, ev->rc);
    else
      ctl_job_done(s, ev->job, ev->rc);
    break;
  case VSS_EV_DIGEST_RECEIVED:
    log_debug("digest from %s: %llu entries%s",
              srv_name_of(s, &ev->peer, who, sizeof who),
              (unsigned long long)ev->count,
              ev->flags & VSS_EVF_FULL ? " (full)" : "");
    break;
  case VSS_EV_PROTO_ERROR: {
    peer_slot *p = net_slot(s, &ev->peer);
    log_warn("protocol error from %s: %s; dropping the session",
             srv_name_of(s, &ev->peer, who, sizeof who), vss_strerror(ev->rc));
    if (p && p->active) conn_close(p->active, LOG_INFO, "protocol error");
    break;
  }
  case VSS_EV_PEER_DROPPED: {
    peer_slot *p = net_slot(s, &ev->peer);
    log_warn("%s passed a bound (%s: %llu): %s; dropping the session",
             srv_name_of(s, &ev->peer, who, sizeof who),
             vss_limit_name((vss_limit)ev->count)
                 ? vss_limit_name((vss_limit)ev->count)
                 : "?",
             (unsigned long long)ev->bytes, vss_strerror(ev->rc));
    if (p && p->active) conn_close(p->active, LOG_INFO, "over a bound");
    break;
  }
  case VSS_EV_PEER_EXPIRED:
    log_info("availability cache of %s expired",
             srv_name_of(s, &ev->peer, who, sizeof who));
    break;
  default:
    break;
  }
}

/* ---- lifecycle ------------------------------------------------------- */

void srv_stop(srv *s, const char *why) {
  if (s->stopping) return;
  log_info("stopping: %s", why);
  s->stopping = 1;
  (void)srv_group_flush(s); /* answers its fetches before ctl_stop */
  ctl_stop(s);
  gen_stop_all(s);
  net_stop(s);
  uv_close((uv_handle_t *)&s->expiry, NULL);
  uv_close((uv_handle_t *)&s->stop_timer, NULL);
  uv_close((uv_handle_t *)&s->group_timer, NULL);
  uv_close((uv_handle_t *)&s->sig_int, NULL);
  uv_close((uv_handle_t *)&s->sig_term, NULL);
}

static void on_stop_timer(uv_timer_t *t) {
  srv_stop(t->data, "stop requested");
}

void srv_stop_soon(srv *s) {
  if (!s->stopping) uv_timer_start(&s->stop_timer, on_stop_timer, 50, 0);
}

static void on_signal(uv_signal_t *h, int sig) {
  srv_stop(h->data, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static int make_node(srv *s) {
  vss_node_config c = s->h->cfg.core;
  int rc;
  c.store = s->h->store;
  c.blobs = s->h->blobs;
  c.rand = node_rand;
  c.on_event = on_event;
  c.event_user = s;
  /* Without a [generate] command this device cannot generate: the
   * resolver then fetches or reports the sidecar missing. */
  c.generate = s->h->cfg.gen_command[0] ? gen_start : NULL;
  c.generate_user = s;
  if ((rc = vss_node_new(&s->node, &c, home_now())) < 0)
    log_error("cannot start the node: %s", vss_strerror(rc));
  return rc;
}

static int has_ready_row(void *user, const vss_key *key, vss_format fmt,
                         const char *rel) {
  srv *s = user;
  vss_sidecar_row row;
  int rc = vss_store_get_sidecar(s->h->store, key, &row);
  /* A store error keeps the bytes: only a clear "no row" removes them. */
  if (rc < 0) return rc != VSS_ERR_NOT_FOUND;
  (void)rel;
  return row.status != VSS_STATUS_READY || row.format == fmt;
}

static int start(srv *s) {
  char dev[VSS_UUID_STR_LEN + 1];
  int rc;
  uv_timer_init(s->loop, &s->expiry);
  s->expiry.data = s;
  uv_timer_init(s->loop, &s->stop_timer);
  s->stop_timer.data = s;
  uv_timer_init(s->loop, &s->group_timer);
  s->group_timer.data = s;
  if (blobs_disk_group(s->h->blobs, GROUP_MAX, group_defer, s) < 0)
    log_warn("no group commit: every sidecar is synced on its own");
  uv_signal_init(s->loop, &s->sig_int);
  uv_signal_init(s->loop, &s->sig_term);
  s->sig_int.data = s->sig_term.data = s;
  uv_signal_start(&s->sig_int, on_signal, SIGINT);
  uv_signal_start(&s->sig_term, on_signal, SIGTERM);
  vss_uuid_format(&s->h->device, dev);
  log_info("device %s (%s), data dir %s", dev, s->h->cfg.name, s->h->dir);
  if (s->h->swept)
    log_info("removed %zu unfinished transfer file(s) left by a crash",
             s->h->swept);
  /* We hold the lock and nothing writes yet: bytes without a row now
   * can only be what a crash or an unrecorded add left. */
  size_t orphans = blobs_disk_sweep_orphans(s->h->dir, has_ready_row, s);
  if (orphans)
    log_info("removed %zu sidecar file(s) that no row named", orphans);
  if ((rc = make_node(s)) < 0) return rc;
  if ((rc = ctl_start(s)) < 0) return rc;
  if ((rc = net_start(s)) < 0) return rc;
  srv_after(s);
  return 0;
}

int srv_run(home *h) {
  srv s;
  int rc;
  memset(&s, 0, sizeof s);
  s.loop = uv_default_loop();
  s.h = h;
  s.started = home_now();
  signal(SIGPIPE, SIG_IGN);
  const char *ev_path = getenv("VSS_EVENT_LOG");
  if (ev_path && *ev_path && !(s.evlog = evlog_open(ev_path))) {
    log_error("VSS_EVENT_LOG %s: %s", ev_path, strerror(errno));
    return 1;
  }
  rc = start(&s);
  if (rc < 0) srv_stop(&s, "start-up failed");
  uv_run(s.loop, UV_RUN_DEFAULT);
  (void)srv_group_flush(&s);
  (void)blobs_disk_group(h->blobs, 0, NULL, NULL);
  if (s.node) vss_node_del(s.node);
  free(s.held);
  uv_loop_close(s.loop);
  if (s.evlog) fclose(s.evlog);
  log_info("stopped");
  return rc < 0 ? 1 : 0;
}
