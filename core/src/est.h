/*
 * est.h - per-peer transfer estimates: smoothed RTT (RFC 6298 style) and
 * delivery rate (bytes over time while requests are outstanding), seeded
 * from the driver's link hints and replaced by measurements.
 */
#ifndef VSS_EST_H
#define VSS_EST_H

#include "vss/model.h"

typedef struct vss_est {
  double rate;   /* bytes/s, smoothed */
  vss_time srtt; /* smoothed round trip */
  vss_time rttvar;
  vss_time min_rtt;     /* lowest sample, UNSET before the first */
  uint32_t rtt_samples; /* RTT samples taken */
  uint32_t samples;     /* rate samples taken */
  /* rate sampling: bytes delivered since busy_since while busy */
  vss_time busy_since;
  uint64_t busy_bytes;
  /* Blame: bad chunks this peer sent, halved every VSS_EST_BLAME_HALF_LIFE
   * since blame_at. It outlives jobs and reconnections (vss_est_init
   * keeps it): a fast peer that corrupts is demoted for later sidecars
   * and cannot wash the record off by reconnecting. */
  uint32_t blame;
  vss_time blame_at;
} vss_est;

#define VSS_EST_DEFAULT_RATE (1.0e6) /* 1 MB/s when nothing known */
#define VSS_EST_DEFAULT_RTT (100 * VSS_NS_PER_MS)

#define VSS_EST_BLAME_HALF_LIFE (600 * VSS_NS_PER_S)

/* Estimates from the link hints; the blame record is kept. Zero the
 * struct before its first init. */
void vss_est_init(vss_est *e, double rate_hint, vss_time rtt_hint);
/* The peer sent bytes that failed verification. */
void vss_est_blame(vss_est *e, vss_time now);
/* Its blame, decayed to now. */
uint32_t vss_est_blame_at(const vss_est *e, vss_time now);
/* A peer with blame left is only used when no clean holder is. */
static inline int vss_est_suspect(const vss_est *e, vss_time now) {
  return e->blame && vss_est_blame_at(e, now) > 0;
}
/* RTT samples must not include queueing behind our own earlier requests:
 * xfer.c takes them only from requests sent while the source was idle. */
void vss_est_rtt_sample(vss_est *e, vss_time rtt);
/* Verified bytes at now while requests were outstanding (bytes that
 * fail verification never count: a corrupting peer must not look fast). The
 * first delivery after idle starts a busy period; its bytes are not counted. */
void vss_est_delivered(vss_est *e, uint64_t bytes, vss_time now);
/* The link went idle (no outstanding requests) at now: a long enough
 * busy period is sampled, then sampling stops until the next delivery. */
void vss_est_idle(vss_est *e, vss_time now);
/* Expected time to move `bytes` from this peer, with `queued` bytes
 * already ahead of it: RTT + (queued + bytes) / rate. */
vss_time vss_est_cost(const vss_est *e, uint64_t bytes, uint64_t queued);
/* Retransmission timeout for a request of `bytes`. */
vss_time vss_est_timeout(const vss_est *e, uint64_t bytes, uint64_t queued);
/* Bytes to keep in flight: covers rate x RTT with headroom. */
uint64_t vss_est_window(const vss_est *e, uint64_t floor, uint64_t ceil);

#endif
