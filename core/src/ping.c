/*
 * ping.c - PING/PONG round trips (see ping.h).
 */
#include "ping.h"

int vss_ping_send(vss_node *n, vss_peer *p, vss_time now) {
  vss_buf b = {0};
  /* A random stamp, not our clock: the peer cannot forge an early answer. */
  uint64_t stamp = vss_rng_next(&n->rng);
  int rc = vss_wire_encode_ping(&b, stamp);
  if (rc == 0) rc = vss__send(n, p, b.data, b.len);
  vss_buf_free(&b);
  if (rc) return rc;
  p->ping.stamp = stamp;
  p->ping.sent_at = now;
  p->ping.pending = 1;
  return 0;
}

/* Stale: never measured by a PING, or the last PING (answered or lost)
 * left a gossip interval ago. Transfers also sample RTT (xfer_recv.c),
 * but only while they run; the PING keeps an idle peer's figure fresh. */
static int stale(const vss_node *n, const vss_peer *p, vss_time now) {
  return p->ping.sent_at == VSS_TIME_UNSET ||
         now - p->ping.sent_at >= n->cfg.gossip_interval;
}

int vss_ping_round(vss_node *n, vss_time now) {
  for (uint16_t i = 0; i < n->npeers; i++) {
    vss_peer *p = n->live[i];
    if (!p->online || p->drop_rc || !stale(n, p, now)) continue;
    int rc = vss_ping_send(n, p, now);
    if (rc) return rc;
  }
  return 0;
}

int vss_ping_on_ping(vss_node *n, vss_peer *p, const vss_msg_ping *m) {
  (void)n;
  p->ping.pong_due = 1;
  p->ping.pong_stamp = m->stamp;
  return 0;
}

int vss_ping_on_pong(vss_node *n, vss_peer *p, const vss_msg_ping *m,
                     vss_time now) {
  (void)n;
  if (!p->ping.pending || p->ping.stamp != m->stamp || now < p->ping.sent_at)
    return 0;
  /* Answered: a replay of the same stamp is ignored from now on. */
  p->ping.pending = 0;
  vss_est_rtt_sample(&p->est, now - p->ping.sent_at);
  return 0;
}

int vss_ping_produce(vss_peer *p, vss_buf *out) {
  if (!p->ping.pong_due) return 0;
  int rc = vss_wire_encode_pong(out, p->ping.pong_stamp);
  if (rc) return rc;
  p->ping.pong_due = 0;
  return 1;
}
