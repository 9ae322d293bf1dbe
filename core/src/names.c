/*
 * names.c - stable names of link classes, strategies and events, as they
 * appear in scenario files, CSV event logs and reports.
 */
#include <string.h>

#include "vss/node.h"

#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const link_names[VSS_LINK_COUNT] = {
    "ethernet",
    "wifi",
    "internet",
    "cellular",
};

static const char *const strategy_names[] = {
    "cost",
    "prefer-fetch",
    "prefer-generate",
};

static const char *const event_names[VSS_EV_COUNT] = {
    [VSS_EV_PEER_UP] = "peer_up",
    [VSS_EV_PEER_DOWN] = "peer_down",
    [VSS_EV_DIGEST_SENT] = "digest_sent",
    [VSS_EV_DIGEST_RECEIVED] = "digest_received",
    [VSS_EV_PRESENCE_CHANGED] = "presence_changed",
    [VSS_EV_PEER_EXPIRED] = "peer_expired",
    [VSS_EV_QUERY_SENT] = "query_sent",
    [VSS_EV_QUERY_ANSWERED] = "query_answered",
    [VSS_EV_QUERY_RESULT] = "query_result",
    [VSS_EV_LOCAL_RECORDED] = "local_recorded",
    [VSS_EV_FETCH_STARTED] = "fetch_started",
    [VSS_EV_FETCH_DONE] = "fetch_done",
    [VSS_EV_FETCH_FAILED] = "fetch_failed",
    [VSS_EV_CHUNK_BAD] = "chunk_bad",
    [VSS_EV_RETRY] = "retry",
    [VSS_EV_SOURCE_DROPPED] = "source_dropped",
    [VSS_EV_SERVED] = "served",
    [VSS_EV_GENERATE_STARTED] = "generate_started",
    [VSS_EV_GENERATED] = "generated",
    [VSS_EV_PREFETCH_QUEUED] = "prefetch_queued",
    [VSS_EV_PREFETCH_SKIPPED] = "prefetch_skipped",
    [VSS_EV_PROTO_ERROR] = "proto_error",
    [VSS_EV_PEER_DROPPED] = "peer_dropped",
    [VSS_EV_FETCH_RESUMED] = "fetch_resumed",
    [VSS_EV_DIAL] = "dial",
    [VSS_EV_HANGUP] = "hangup",
    [VSS_EV_SOURCE_BUSY] = "source_busy",
};

static int find(const char *const *tab, size_t n, const char *s, size_t len) {
  if (s == NULL) return -1;
  for (size_t i = 0; i < n; i++)
    if (tab[i] && strlen(tab[i]) == len && memcmp(s, tab[i], len) == 0)
      return (int)i;
  return -1;
}

const char *vss_link_class_name(vss_link_class c) {
  return (unsigned)c < VSS_LINK_COUNT ? link_names[c] : NULL;
}

int vss_link_class_parse(const char *s, size_t len, vss_link_class *out) {
  int i = find(link_names, COUNTOF(link_names), s, len);
  if (i < 0 || out == NULL) return VSS_ERR_INVALID;
  *out = (vss_link_class)i;
  return 0;
}

const char *vss_strategy_name(vss_strategy s) {
  return (unsigned)s < COUNTOF(strategy_names) ? strategy_names[s] : NULL;
}

int vss_strategy_parse(const char *s, size_t len, vss_strategy *out) {
  int i = find(strategy_names, COUNTOF(strategy_names), s, len);
  if (i < 0 || out == NULL) return VSS_ERR_INVALID;
  *out = (vss_strategy)i;
  return 0;
}

const char *vss_event_name(vss_event_type t) {
  return (unsigned)t < VSS_EV_COUNT ? event_names[t] : NULL;
}
