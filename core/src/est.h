/*
 * est.h - per-peer transfer estimates: smoothed RTT (RFC 6298 style) and
 * delivery rate (bytes over time while requests are outstanding), seeded
 * from the driver's link hints and replaced by measurements.
 */
#ifndef VSS_EST_H
#define VSS_EST_H

#include "vss/model.h"
#include "vss/node.h"

typedef struct vss_est {
  double rate;   /* bytes/s, smoothed */
  vss_time srtt; /* smoothed round trip */
  vss_time rttvar;
  vss_time min_rtt;     /* lowest sample, UNSET before the first */
  uint32_t rtt_samples; /* RTT samples taken */
  uint32_t samples;     /* rate samples taken */
  uint8_t rate_prior;   /* rate is a class prior or default, not a hint */
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

/* Priors by link class: what a path of that class typically carries, used
 * until the peer is measured (RTT by PING/PONG within one round trip of
 * peer_up, rate from verified bytes). A prior must be typical, not
 * pessimistic: a 1 MB/s guess on a LAN makes local generation of a 45 KB
 * thumbnail look cheaper than a 1 ms fetch, so nothing is ever fetched and
 * nothing is ever measured. A source that is slower than its class is
 * found out by its first verified bytes (and the job still falls back).
 *   ethernet  gigabit LAN: ~110 MB/s of TCP goodput, less behind a 100 Mb
 *             port or a NAS disk: 100 MB/s; sub-millisecond switch RTT
 *   wifi      802.11ac/ax TCP goodput 150-300 Mb/s near the AP, halved
 *             when both ends are on the air: 20 MB/s; 2-10 ms RTT
 *   internet  between sites the residential uplink (20-100 Mb/s) is the
 *             bottleneck: 5 MB/s; tens of ms RTT
 *   cellular  LTE/5G uplink medians of 5-15 Mb/s: 1 MB/s; ~100 ms RTT */
/* How far a real path may sit from its class's prior, either way: the
 * prior's uncertainty. Timeouts allow for a path that much slower, and a
 * source within that factor of the best is worth probing. */
#define VSS_EST_PRIOR_SPREAD 4
#define VSS_EST_RATE_ETHERNET (100.0e6)
#define VSS_EST_RATE_WIFI (20.0e6)
#define VSS_EST_RATE_INTERNET (5.0e6)
#define VSS_EST_RATE_CELLULAR (1.0e6)
#define VSS_EST_RTT_ETHERNET (1 * VSS_NS_PER_MS)
#define VSS_EST_RTT_WIFI (5 * VSS_NS_PER_MS)
#define VSS_EST_RTT_INTERNET (50 * VSS_NS_PER_MS)
#define VSS_EST_RTT_CELLULAR (100 * VSS_NS_PER_MS)

#define VSS_EST_BLAME_HALF_LIFE (600 * VSS_NS_PER_S)

/* Estimates from the link hints; the blame record is kept. Zero the
 * struct before its first init. */
void vss_est_init(vss_est *e, double rate_hint, vss_time rtt_hint);
/* Estimates from what the driver knows of the link: its hints where given,
 * else the class priors above. */
void vss_est_init_link(vss_est *e, const vss_link_info *li);
/* The class priors (an unknown class counts as internet). */
double vss_est_class_rate(vss_link_class cls);
vss_time vss_est_class_rtt(vss_link_class cls);
/* Has the rate been measured from verified bytes (else hint or prior)? */
static inline int vss_est_rate_measured(const vss_est *e) {
  return e->samples > 0;
}
/* Is the rate only a guess (a prior, no hint, no measurement yet)? */
static inline int vss_est_rate_guessed(const vss_est *e) {
  return e->rate_prior && e->samples == 0;
}
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
/* Bytes to keep in flight: covers rate x RTT with headroom. While the
 * rate is only guessed, the floor: a source slower than its class cannot
 * take more than that before its first verified bytes measure it. */
uint64_t vss_est_window(const vss_est *e, uint64_t floor, uint64_t ceil);

#endif
