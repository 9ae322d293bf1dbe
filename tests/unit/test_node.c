/*
 * test_node.c - the node's frame driven by hand, without the harness:
 * configuration checks, peer handling, bad input, send priorities,
 * timers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vss/vss.h"
#include "wire.h"

#include <string.h>

typedef struct fixture {
  vss_store *store;
  vss_blobs *blobs;
  vss_node *node;
  vss_uuid peer;
  int proto_errors;
} fixture;

static uint64_t fixed_rand(void *user) {
  (void)user;
  return 12345;
}

static void on_event(void *user, const vss_event *ev) {
  fixture *f = user;
  if (ev->type == VSS_EV_PROTO_ERROR) f->proto_errors++;
}

static int setup(void **state) {
  static fixture f;
  memset(&f, 0, sizeof(f));
  vss_uuid dev;
  memset(&dev, 0x11, sizeof(dev));
  assert_int_equal(vss_store_sqlite_open(&f.store, ":memory:", &dev, NULL, 0),
                   0);
  assert_int_equal(vss_blobs_mem_new(&f.blobs), 0);
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  cfg.store = f.store;
  cfg.blobs = f.blobs;
  cfg.rand = fixed_rand;
  cfg.on_event = on_event;
  cfg.event_user = &f;
  assert_int_equal(vss_node_new(&f.node, &cfg, 0), 0);
  memset(&f.peer, 0x22, sizeof(f.peer));
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  vss_node_del(f->node);
  vss_blobs_del(f->blobs);
  vss_store_del(f->store);
  return 0;
}

static void test_config_checked(void **state) {
  fixture *f = *state;
  vss_node_config cfg;
  vss_node_config_default(&cfg);
  vss_node *n = NULL;
  assert_int_equal(vss_node_new(&n, &cfg, 0), VSS_ERR_INVALID); /* no store */
  cfg.store = f->store;
  cfg.blobs = f->blobs;
  assert_int_equal(vss_node_new(&n, &cfg, 0), VSS_ERR_INVALID); /* no rand */
  cfg.rand = fixed_rand;
  cfg.gossip_jitter = 1.5;
  assert_int_equal(vss_node_new(&n, &cfg, 0), VSS_ERR_INVALID);
  assert_null(n);
}

static void test_peers_and_bad_input(void **state) {
  fixture *f = *state;
  vss_node *n = f->node;
  /* Oneself is no peer; unknown peers cannot send. */
  assert_int_equal(vss_node_peer_up(n, vss_node_device(n), NULL, 0),
                   VSS_ERR_INVALID);
  uint8_t junk[64];
  memset(junk, 0xee, sizeof(junk));
  assert_int_equal(vss_node_recv(n, &f->peer, junk, sizeof(junk), 0),
                   VSS_ERR_UNKNOWN_PEER);
  assert_int_equal(vss_node_peer_up(n, &f->peer, NULL, 0), 0);
  assert_true(vss_node_recv(n, &f->peer, junk, sizeof(junk), 0) < 0);
  assert_int_equal(f->proto_errors, 1);
  /* A HELLO claiming another device is a protocol error. */
  vss_msg_hello m = {.proto = VSS_PROTO_VERSION, .epoch = 1};
  memset(&m.device, 0x33, sizeof(m.device));
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_hello(&b, &m), 0);
  assert_int_equal(vss_node_recv(n, &f->peer, b.data, b.len, 0), VSS_ERR_PROTO);
  vss_buf_free(&b);
  assert_int_equal(vss_node_peer_down(n, &f->peer, 0), 0);
  assert_int_equal(vss_node_queued_bytes(n, NULL), 0);
}

static void add_many(vss_node *n, int count) {
  for (int i = 0; i < count; i++) {
    vss_key k;
    vss_uuid u;
    memset(&u, 0, sizeof(u));
    memcpy(u.b, &i, sizeof(i));
    assert_int_equal(vss_key_set(&k, &u, VSS_KIND_THUMB, "grid@1x"), 0);
    uint8_t data[16] = {(uint8_t)i};
    assert_int_equal(vss_node_add_local(n, &k, VSS_FMT_WEBP, data, 16, 0), 0);
  }
}

static int next_type(vss_node *n, vss_time now) {
  vss_outmsg out;
  if (vss_node_next_send(n, NULL, &out, now) != 1) return 0;
  vss_msg m;
  assert_int_equal(vss_wire_decode(out.data, out.len, &m), 0);
  return m.type;
}

static void test_control_goes_before_digest_pages(void **state) {
  fixture *f = *state;
  vss_node *n = f->node;
  add_many(n, 2500); /* three pages */
  assert_int_equal(vss_node_peer_up(n, &f->peer, NULL, 1), 0);
  vss_msg_hello m = {.device = f->peer, .proto = VSS_PROTO_VERSION, .epoch = 1};
  vss_buf b = {0};
  assert_int_equal(vss_wire_encode_hello(&b, &m), 0);
  assert_int_equal(vss_node_recv(n, &f->peer, b.data, b.len, 2), 0);
  vss_buf_free(&b);
  assert_int_equal(next_type(n, 3), VSS_MSG_PING); /* measures the RTT */
  assert_int_equal(next_type(n, 3), VSS_MSG_HELLO);
  assert_int_equal(next_type(n, 3), VSS_MSG_DIGEST);
  vss_key k;
  memset(&k, 0, sizeof(k));
  assert_int_equal(vss_key_set(&k, &f->peer, VSS_KIND_OCR, "default"), 0);
  assert_int_equal(vss_node_query(n, &k, 4), 1);
  /* The query overtakes the two remaining digest pages. */
  assert_int_equal(next_type(n, 5), VSS_MSG_QUERY);
  assert_int_equal(next_type(n, 5), VSS_MSG_DIGEST);
  assert_int_equal(next_type(n, 5), VSS_MSG_DIGEST);
  assert_int_equal(next_type(n, 5), 0);
}

static void test_periodic_round_is_jittered(void **state) {
  fixture *f = *state;
  vss_node *n = f->node;
  assert_int_equal(vss_node_peer_up(n, &f->peer, NULL, 0), 0);
  while (next_type(n, 0))
    ;
  vss_time t = vss_node_get_expiry(n);
  /* 5 min +- 10 %. */
  assert_true(t >= 270 * VSS_NS_PER_S && t <= 330 * VSS_NS_PER_S);
  assert_int_equal(vss_node_handle_expiry(n, t), 0);
  assert_int_equal(next_type(n, t), VSS_MSG_HELLO);
  assert_true(vss_node_get_expiry(n) > t);
}

/* The next frame for the peer, decoded into m (0 when there is none). */
static int next_msg(vss_node *n, vss_time now, vss_msg *m) {
  vss_outmsg out;
  if (vss_node_next_send(n, NULL, &out, now) != 1) return 0;
  assert_int_equal(vss_wire_decode(out.data, out.len, m), 0);
  return m->type;
}

static vss_time peer_rtt(vss_node *n) {
  vss_peer_info pi[2];
  assert_int_equal(vss_node_peers(n, pi, 2), 1);
  return pi[0].rtt;
}

static void recv_stamp(fixture *f, vss_msg_type t, uint64_t stamp,
                       vss_time now) {
  vss_buf b = {0};
  if (t == VSS_MSG_PING)
    assert_int_equal(vss_wire_encode_ping(&b, stamp), 0);
  else
    assert_int_equal(vss_wire_encode_pong(&b, stamp), 0);
  assert_int_equal(vss_node_recv(f->node, &f->peer, b.data, b.len, now), 0);
  vss_buf_free(&b);
}

/* Without hints the node starts from its link class's prior and measures
 * the round trip itself: PING at peer_up, its PONG is the sample. A PONG
 * with another stamp, or the same one replayed, changes nothing. */
static void test_ping_measures_rtt(void **state) {
  fixture *f = *state;
  vss_node *n = f->node;
  const vss_time ms = VSS_NS_PER_MS;
  vss_link_info li = {.cls = VSS_LINK_WIFI};
  assert_int_equal(vss_node_peer_up(n, &f->peer, &li, 1000), 0);
  assert_int_equal(peer_rtt(n), 5 * ms); /* the wifi prior */
  vss_msg m;
  assert_int_equal(next_msg(n, 1000, &m), VSS_MSG_PING);
  uint64_t stamp = m.u.ping.stamp;
  recv_stamp(f, VSS_MSG_PONG, stamp + 1, 1000 + 1 * ms); /* not ours */
  assert_int_equal(peer_rtt(n), 5 * ms);
  recv_stamp(f, VSS_MSG_PONG, stamp, 1000 + 37 * ms);
  assert_int_equal(peer_rtt(n), 37 * ms);
  recv_stamp(f, VSS_MSG_PONG, stamp, 1000 + 90 * ms); /* replayed */
  assert_int_equal(peer_rtt(n), 37 * ms);
  while (next_type(n, 2000))
    ;
  /* Stale after a gossip interval: the round pings again. */
  vss_time t = vss_node_get_expiry(n);
  assert_int_equal(vss_node_handle_expiry(n, t), 0);
  int pinged = 0, type;
  while ((type = next_msg(n, t, &m)) != 0)
    if (type == VSS_MSG_PING) pinged++, stamp = m.u.ping.stamp;
  assert_int_equal(pinged, 1);
  recv_stamp(f, VSS_MSG_PONG, stamp, t + 45 * ms);
  vss_time rtt = peer_rtt(n); /* smoothed: 7/8 * 37 + 1/8 * 45 */
  assert_true(rtt > 37 * ms && rtt < 45 * ms);
}

/* A peer flooding a thousand PINGs costs one pending PONG: it gets one
 * answer (the latest stamp) per frame we send, nothing queues up. */
static void test_ping_flood_bounded(void **state) {
  fixture *f = *state;
  vss_node *n = f->node;
  assert_int_equal(vss_node_peer_up(n, &f->peer, NULL, 0), 0);
  while (next_type(n, 0))
    ;
  uint64_t before = vss_node_queued_bytes(n, NULL);
  for (uint64_t i = 1; i <= 1000; i++)
    recv_stamp(f, VSS_MSG_PING, i, 1);
  assert_int_equal(vss_node_queued_bytes(n, NULL), before);
  vss_msg m;
  assert_int_equal(next_msg(n, 2, &m), VSS_MSG_PONG);
  assert_true(m.u.ping.stamp == 1000);
  assert_int_equal(next_type(n, 2), 0);
  assert_int_equal(f->proto_errors, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_config_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_peers_and_bad_input, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_control_goes_before_digest_pages,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_periodic_round_is_jittered, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ping_measures_rtt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ping_flood_bounded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
