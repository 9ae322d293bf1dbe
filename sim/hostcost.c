/*
 * hostcost.c - see hostcost.h.
 */
#include "hostcost.h"

#include <simgrid/actor.h>
#include <simgrid/host.h>

static const sc_host_costs *costs(const device *d) {
  const scenario *sc = d->w->sc;
  if (!sc->host_costs || !d->cfg) return NULL;
  return &sc->classes[d->cfg->cls].host;
}

static double per_byte(double rate) {
  return rate > 0 ? 1.0 / rate : 0;
}

void hostcost_frame_in(device *d, const uint8_t *frame, size_t len) {
  const sc_host_costs *c = costs(d);
  if (!c) return;
  double s = (double)len * per_byte(c->channel);
  if (metrics_frame_class(frame, len) == CLS_DATA)
    s += (double)len * (per_byte(c->hash) + per_byte(c->write));
  d->owed_s += s;
}

void hostcost_frame_out(device *d, size_t len) {
  const sc_host_costs *c = costs(d);
  if (c) d->owed_s += (double)len * per_byte(c->channel);
}

void hostcost_commit(device *d) {
  const sc_host_costs *c = costs(d);
  if (c) d->owed_s += ns_to_s(c->commit);
}

double hostcost_pay(device *d) {
  double s = d->owed_s;
  if (s <= 0) return 0;
  d->owed_s = 0;
  d->busy_s += s;
  /* Hosts are declared at a known speed (platform.c): seconds of work
   * become flops on this host's core. */
  sg_actor_execute(s * sg_host_get_speed(d->host));
  return s;
}
