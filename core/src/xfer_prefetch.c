/*
 * xfer_prefetch.c - turning prefetch candidates (prefetch.c) into jobs:
 * at most max_concurrent at once, within the storage budget, eager kinds
 * before lazy ones and lazy ones only while nothing else runs.
 */
#include "xfer_internal.h"

#include <string.h>

/* ---- prefetch jobs --------------------------------------------------- */

static void pf_skip(vss_xfer *x, const vss_pf_cand *c, int rc, vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_PREFETCH_SKIPPED;
  ev.key = c->key;
  ev.format = c->fmt;
  ev.bytes = c->size;
  ev.flags = VSS_EVF_PREFETCH;
  ev.rc = rc;
  vss__emit(x->n, &ev, now);
}

/* One candidate: still wanted, fits the budget, a source on an allowed
 * link? Then a prefetch job. */
static void pf_start(vss_xfer *x, const vss_pf_cand *c, uint64_t *used,
                     vss_time now) {
  const vss_prefetch_policy *pol = &xf_cfg(x)->prefetch;
  if (vss_prefetch_class(pol, c->key.kind) != c->cls) return;
  if (xf_job_by_key(x, &c->key) || vss_xfer_is_local(x, &c->key, c->fmt, NULL))
    return;
  if (!vss_prefetch_fits(pol, *used, c->size)) {
    pf_skip(x, c, VSS_ERR_FULL, now);
    return;
  }
  xjob *j =
      xf_job_new(x, &c->key, c->fmt, JF_RESTRICTED, VSS_EVF_PREFETCH, now);
  if (!j) return;
  xf_job_account(x, j, -1);
  j->eager = c->cls == VSS_PF_EAGER;
  xf_job_account(x, j, +1);
  xf_emit(x, VSS_EV_PREFETCH_QUEUED, j, NULL, c->size, 0, 0, now);
  int rc = xf_job_launch(x, j, now);
  if (rc) {
    pf_skip(x, c, rc, now);
    if ((j = xf_job_by_key(x, &c->key)) != NULL && j->state == J_WAIT)
      xf_job_free(x, j, now);
    return;
  }
  *used += c->size;
}

void xf_pf_pump(vss_xfer *x, vss_time now) {
  const vss_prefetch_policy *pol = &xf_cfg(x)->prefetch;
  if (x->npf >= pol->max_concurrent) return;
  if (!vss_prefetch_pending(x->pf, VSS_PF_EAGER) &&
      !vss_prefetch_pending(x->pf, VSS_PF_LAZY))
    return;
  uint64_t used = pol->storage_budget ? vss_xfer_budget_used(x) : 0;
  vss_pf_cand c;
  while (x->npf < pol->max_concurrent) {
    int lazy_ok = x->nfg == 0 && x->npf_eager == 0 &&
                  vss_prefetch_pending(x->pf, VSS_PF_EAGER) == 0;
    if (!vss_prefetch_pop(x->pf, lazy_ok, &c)) break;
    pf_start(x, &c, &used, now);
  }
}
