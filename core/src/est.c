/*
 * est.c - per-peer transfer estimates.
 *
 * RTT: RFC 6298 smoothing (srtt, rttvar) of samples taken by xfer.c from
 * request send to the first DATA byte of that request.
 *
 * Rate: bytes delivered over busy time. A busy period starts at the first
 * delivery after the link was idle (the RTT before it is not transfer
 * time, and counting it would make every short burst look slow) and is
 * sampled once it has lasted long enough to mean something; samples are
 * smoothed with an EWMA. The first measurement replaces the link hint.
 */
#include "est.h"

/* A rate sample needs both this much busy time and this many bytes:
 * shorter periods measure frame granularity, not the path. */
#define EST_SAMPLE_MIN_TIME (5 * VSS_NS_PER_MS)
#define EST_SAMPLE_MIN_BYTES (256u * 1024u)
/* EWMA gain of a new rate sample. */
#define EST_RATE_GAIN 0.25
/* Floor of a request timeout: below it, scheduling noise in the driver
 * would trigger spurious retries. */
#define EST_TIMEOUT_MIN (50 * VSS_NS_PER_MS)
/* Sanity bounds on the rate, so the arithmetic never divides by ~0. */
#define EST_RATE_MIN 1.0e3
#define EST_RATE_MAX 1.0e12

static double clamp_rate(double r) {
  if (!(r >= EST_RATE_MIN)) /* also catches NaN */
    return EST_RATE_MIN;
  return r > EST_RATE_MAX ? EST_RATE_MAX : r;
}

void vss_est_init(vss_est *e, double rate_hint, vss_time rtt_hint) {
  e->rate = rate_hint > 0 ? clamp_rate(rate_hint) : VSS_EST_DEFAULT_RATE;
  e->srtt = rtt_hint > 0 ? rtt_hint : VSS_EST_DEFAULT_RTT;
  e->rttvar = e->srtt / 2;
  e->min_rtt = VSS_TIME_UNSET;
  e->samples = 0;
  e->rtt_samples = 0;
  e->busy_since = VSS_TIME_UNSET;
  e->busy_bytes = 0;
}

uint32_t vss_est_blame_at(const vss_est *e, vss_time now) {
  if (!e->blame || e->blame_at == VSS_TIME_UNSET) return e->blame;
  vss_time age = now > e->blame_at ? now - e->blame_at : 0;
  uint64_t halves = age / VSS_EST_BLAME_HALF_LIFE;
  return halves >= 32 ? 0 : e->blame >> halves;
}

void vss_est_blame(vss_est *e, vss_time now) {
  uint32_t b = vss_est_blame_at(e, now);
  /* Decay is counted from the last blame: a fresh one restarts it. */
  e->blame = b < UINT32_MAX ? b + 1 : b;
  e->blame_at = now;
}

void vss_est_rtt_sample(vss_est *e, vss_time rtt) {
  if (rtt == 0) rtt = 1;
  if (rtt < e->min_rtt) e->min_rtt = rtt;
  if (e->rtt_samples == 0) {
    /* The first sample replaces the hint (RFC 6298 2.2). */
    e->srtt = rtt;
    e->rttvar = rtt / 2;
  } else {
    vss_time d = rtt > e->srtt ? rtt - e->srtt : e->srtt - rtt;
    e->rttvar = (3 * e->rttvar + d) / 4;
    e->srtt = (7 * e->srtt + rtt) / 8;
  }
  e->rtt_samples++;
}

static void rate_sample(vss_est *e, uint64_t bytes, vss_time dt) {
  double r = clamp_rate((double)bytes * 1e9 / (double)dt);
  if (e->samples == 0)
    e->rate = r;
  else
    e->rate += EST_RATE_GAIN * (r - e->rate);
  e->samples++;
}

static int busy_sample_due(const vss_est *e, vss_time now) {
  return now >= e->busy_since + EST_SAMPLE_MIN_TIME &&
         e->busy_bytes >= EST_SAMPLE_MIN_BYTES;
}

void vss_est_delivered(vss_est *e, uint64_t bytes, vss_time now) {
  if (e->busy_since == VSS_TIME_UNSET || now < e->busy_since) {
    /* These bytes were on the wire before the period began: they mark its
     * start but are not part of it. */
    e->busy_since = now;
    e->busy_bytes = 0;
    return;
  }
  e->busy_bytes += bytes;
  if (busy_sample_due(e, now)) {
    rate_sample(e, e->busy_bytes, now - e->busy_since);
    e->busy_since = now;
    e->busy_bytes = 0;
  }
}

void vss_est_idle(vss_est *e, vss_time now) {
  /* The tail of a busy period still counts when it is long enough. */
  if (e->busy_since != VSS_TIME_UNSET && now > e->busy_since &&
      busy_sample_due(e, now))
    rate_sample(e, e->busy_bytes, now - e->busy_since);
  e->busy_since = VSS_TIME_UNSET;
  e->busy_bytes = 0;
}

/* Saturating sums: costs compare, they never wrap. */
static vss_time sat_add(vss_time a, vss_time b) {
  return a > VSS_TIME_UNSET - 1 - b ? VSS_TIME_UNSET - 1 : a + b;
}

static uint64_t sat_bytes(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static vss_time bytes_time(const vss_est *e, uint64_t bytes) {
  double t = (double)bytes * 1e9 / clamp_rate(e->rate);
  return t >= 1.8e19 ? VSS_TIME_UNSET - 1 : (vss_time)t;
}

vss_time vss_est_cost(const vss_est *e, uint64_t bytes, uint64_t queued) {
  return sat_add(e->srtt, bytes_time(e, sat_bytes(queued, bytes)));
}

vss_time vss_est_timeout(const vss_est *e, uint64_t bytes, uint64_t queued) {
  /* Twice what we expect, plus the RTT's own variance: a request that
   * late is stalled, not slow. Early retries only cost a duplicate. */
  vss_time base = sat_add(e->srtt, sat_add(e->rttvar, 3 * e->rttvar));
  vss_time xfer = bytes_time(e, sat_bytes(queued, bytes));
  vss_time t = sat_add(sat_add(base, base), sat_add(xfer, xfer));
  return t < EST_TIMEOUT_MIN ? EST_TIMEOUT_MIN : t;
}

uint64_t vss_est_window(const vss_est *e, uint64_t floor, uint64_t ceil) {
  /* Twice the bandwidth-delay product keeps the pipe full while the
   * estimates lag, plus one chunk so a chunk-sized request never waits
   * for the window to drain completely. */
  double bdp = clamp_rate(e->rate) * ((double)e->srtt / 1e9);
  double w = 2.0 * bdp + (double)VSS_CHUNK_SIZE;
  uint64_t win = w >= 1.8e19 ? UINT64_MAX : (uint64_t)w;
  if (ceil < floor) ceil = floor;
  if (win < floor) win = floor;
  if (win > ceil) win = ceil;
  return win;
}
