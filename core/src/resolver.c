/*
 * resolver.c - where does a sidecar come from: here, a peer, or local
 * generation; and the application calls that act on the answer.
 *
 * Order: local (READY row and its blob) -> a job already under way ->
 * the mode. Fetch-or-generate weighs the best source's estimated fetch
 * time (RTT + (its queued bytes + size) / rate) against this device's
 * generation cost for the kind, by strategy:
 *
 *   COST             generate when gen_cost is known and lower
 *   PREFER_FETCH     fetch whenever a source exists (mobile)
 *   PREFER_GENERATE  generate whenever this device can (server)
 *
 * A fetch started by fetch-or-generate carries GENERATE_ON_FAIL, so an
 * offline or vanishing source falls back to the next one, then to local
 * generation (xfer.c).
 *
 * Answers of vss_node_resolve (decide only; GENERATE_* modes start the
 * generation):
 *   LOCAL    rel_path set
 *   PENDING  job set; generate = 1 when it is a local generation
 *   REMOTE   device = best source; est_cost = cost of the chosen action;
 *            generate = 1 when vss_node_request would generate instead
 *   MISSING  no local copy, no known source; generate = 1 when request
 *            would generate (est_cost = gen cost)
 */
#include "node_internal.h"
#include "view.h"

#include "xfer.h"

#include <string.h>

typedef enum action { ACT_NONE = 0, ACT_FETCH, ACT_GENERATE } action;

static int valid_args(const vss_key *key, vss_format fmt, vss_resolve_mode mode,
                      const vss_resolution *out) {
  return key && out && key->kind < VSS_KIND_COUNT && fmt < VSS_FMT_COUNT &&
         mode <= VSS_RESOLVE_GENERATE_ASYNC &&
         vss_variant_valid(key->variant, strlen(key->variant));
}

/* Generate rather than fetch from a source costing fetch_cost? */
static int prefer_generate(const vss_node *n, vss_kind kind,
                           vss_time fetch_cost) {
  if (!n->cfg.generate) return 0;
  vss_time gen = n->cfg.gen_cost[kind];
  switch (n->cfg.strategy) {
  case VSS_STRATEGY_PREFER_FETCH:
    return 0;
  case VSS_STRATEGY_PREFER_GENERATE:
    return 1;
  case VSS_STRATEGY_COST:
  default:
    return gen != 0 && gen < fetch_cost;
  }
}

/* Fill out with what is there or under way; 1 when that settles it. */
static int resolve_existing(vss_node *n, const vss_key *key, vss_format fmt,
                            vss_resolution *out) {
  if (vss_xfer_is_local(n->xfer, key, fmt, NULL)) {
    out->kind = VSS_RESOLVED_LOCAL;
    vss_rel_path(key, fmt, out->rel_path, sizeof(out->rel_path));
    return 1;
  }
  int gen = 0;
  if (vss_xfer_job_of(n->xfer, key, &out->job, &gen)) {
    out->kind = VSS_RESOLVED_PENDING;
    out->generate = gen;
    return 1;
  }
  return 0;
}

static action decide(vss_node *n, const vss_key *key, vss_format fmt,
                     vss_resolve_mode mode, vss_resolution *out) {
  memset(out, 0, sizeof(*out));
  out->est_cost = VSS_TIME_UNSET;
  out->kind = VSS_RESOLVED_MISSING;
  if (resolve_existing(n, key, fmt, out)) return ACT_NONE;
  if (mode == VSS_RESOLVE_LOCAL_ONLY) return ACT_NONE;
  int can_gen = n->cfg.generate != NULL;
  vss_time gen_cost = n->cfg.gen_cost[key->kind];
  if (mode == VSS_RESOLVE_GENERATE_BLOCKING ||
      mode == VSS_RESOLVE_GENERATE_ASYNC) {
    out->generate = can_gen;
    if (can_gen && gen_cost) out->est_cost = gen_cost;
    return can_gen ? ACT_GENERATE : ACT_NONE;
  }
  vss_xfer_source src;
  int nsrc = vss_xfer_best_source(n->xfer, key, fmt, &src);
  if (nsrc > 0) {
    out->kind = VSS_RESOLVED_REMOTE;
    out->device = src.device;
    out->est_cost = src.cost;
  }
  if (mode == VSS_RESOLVE_FETCH_ONLY) return ACT_FETCH;
  /* FETCH_OR_GENERATE */
  if (can_gen && (nsrc == 0 || prefer_generate(n, key->kind, src.cost))) {
    out->generate = 1;
    if (gen_cost) out->est_cost = gen_cost;
    return ACT_GENERATE;
  }
  return ACT_FETCH;
}

int vss_node_resolve(vss_node *n, const vss_key *key, vss_format fmt,
                     vss_resolve_mode mode, vss_resolution *out, vss_time now) {
  if (!n || !valid_args(key, fmt, mode, out)) return VSS_ERR_INVALID;
  action a = decide(n, key, fmt, mode, out);
  if (a != ACT_GENERATE || (mode != VSS_RESOLVE_GENERATE_BLOCKING &&
                            mode != VSS_RESOLVE_GENERATE_ASYNC))
    return 0;
  return vss_node_request(n, key, fmt, mode, out, now);
}

/* After starting a job: PENDING when it is still under way, else what
 * the key resolves to now (it may have finished at once). */
static void settle_answer(vss_node *n, const vss_key *key, vss_format fmt,
                          uint64_t job, vss_resolution *out) {
  vss_time cost = out->est_cost;
  vss_uuid dev = out->device;
  memset(out, 0, sizeof(*out));
  out->kind = VSS_RESOLVED_MISSING;
  out->est_cost = cost;
  out->device = dev;
  if (resolve_existing(n, key, fmt, out)) return;
  out->job = job;
}

int vss_node_request(vss_node *n, const vss_key *key, vss_format fmt,
                     vss_resolve_mode mode, vss_resolution *out, vss_time now) {
  if (!n || !valid_args(key, fmt, mode, out)) return VSS_ERR_INVALID;
  action a = decide(n, key, fmt, mode, out);
  uint64_t job = 0;
  int rc = 0;
  switch (a) {
  case ACT_NONE:
    if (out->kind != VSS_RESOLVED_MISSING || mode == VSS_RESOLVE_LOCAL_ONLY)
      return 0;
    return VSS_ERR_GENERATE; /* GENERATE_* without a generator */
  case ACT_FETCH: {
    uint32_t flags = VSS_FETCH_FOREGROUND;
    (void)vss_view_prefer_local(n, key, now);
    if (mode == VSS_RESOLVE_FETCH_OR_GENERATE)
      flags |= VSS_FETCH_GENERATE_ON_FAIL;
    rc = vss_xfer_fetch(n->xfer, key, fmt, flags, &job, now);
    break;
  }
  case ACT_GENERATE: {
    uint32_t ev = mode == VSS_RESOLVE_GENERATE_ASYNC ? 0 : VSS_EVF_FOREGROUND;
    rc = vss_xfer_generate(n->xfer, key, fmt, ev, &job, now);
    break;
  }
  }
  settle_answer(n, key, fmt, job, out);
  return rc;
}

int vss_node_fetch(vss_node *n, const vss_key *key, vss_format fmt,
                   uint32_t flags, uint64_t *job, vss_time now) {
  if (!n) return VSS_ERR_INVALID;
  if (key) (void)vss_view_prefer_local(n, key, now);
  return vss_xfer_fetch(n->xfer, key, fmt, flags, job, now);
}

int vss_node_cancel(vss_node *n, uint64_t job, vss_time now) {
  if (!n) return VSS_ERR_INVALID;
  return vss_xfer_cancel(n->xfer, job, now);
}

int vss_node_generate_failed(vss_node *n, uint64_t job, int rc, vss_time now) {
  if (!n) return VSS_ERR_INVALID;
  return vss_xfer_generate_failed(n->xfer, job, rc, now);
}

int vss_node_jobs(const vss_node *n, vss_job_info *out, size_t cap) {
  if (!n) return VSS_ERR_INVALID;
  return vss_xfer_jobs(n->xfer, out, cap);
}
