/*
 * evil_peer.c - a paired peer that misbehaves after (or during) the
 * handshake, for test_hostile.sh. It loads its identity from a vss-node
 * data dir that the victim paired, connects, and then:
 *
 *   ok         completes the handshake and stays quiet (control: the
 *              victim must NOT close for 2 s)
 *   silent     connects and sends nothing (handshake timeout)
 *   garbage    a valid record whose plaintext is not a vss frame
 *   oversize   a record prefix announcing 64 MiB
 *   bigframe   a valid record holding a frame header over the core's limit
 *   tamper     a record with one ciphertext bit flipped
 *   replay     the same valid record twice
 *   truncate   half a record, then the sending side shut
 *   cut        a whole record, then the sending side shut (no close
 *              record: the victim must log a cut, not a clean close)
 *   fin        a whole record, then the close record (clean close)
 *   idle       a whole record, then silence (idle timeout)
 *   stall      half a record, then a byte every 300 ms (record timeout)
 *   noread     sends QUERY frames as fast as the victim takes them and
 *              never reads a byte: the victim must push back (stop
 *              reading) instead of queueing replies; exit 0 when its
 *              sends stall with less than 64 MiB sent, 2 when 30 s of
 *              sending (256 MiB) never stalled
 *
 * Exit 0 when the victim behaved (closed, or for `ok` stayed open), 2
 * when it did not, 1 on setup errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "config.h"
#include "ident.h"
#include "paircode.h"
#include "wire.h"

#define MAX_FRAME (VSS_WIRE_HDR + VSS_WIRE_MAX_BODY)

static int send_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int recv_exact(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Waits for the victim to close: drains what it sends (its HELLO). */
static int closed_within(int fd, int ms) {
  uint8_t buf[65536];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, ms);
    if (rc <= 0) return 0;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return 1;
  }
}

static int dial(const char *hostport) {
  cfg_addr a;
  struct sockaddr_in sa;
  int fd;
  if (cfg_parse_addr(hostport, &a) < 0) return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a.port);
  if (inet_pton(AF_INET, a.host, &sa.sin_addr) != 1) return -1;
  if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int handshake(int fd, chan *c) {
  uint8_t m1[256], m2[CHAN_PREFIX + CHAN_MSG2_LEN], m3[256];
  size_t l1, l3;
  if (chan_hs_start(c, m1, sizeof m1, &l1) < 0 || send_all(fd, m1, l1) < 0 ||
      recv_exact(fd, m2, sizeof m2) < 0)
    return -1;
  if (chan_hs_recv(c, m2, sizeof m2, m3, sizeof m3, &l3) != 1 ||
      send_all(fd, m3, l3) < 0)
    return -1;
  return 0;
}

/* A well-formed HELLO from `dev`: what a real peer sends first. */
static size_t hello(uint8_t *out, size_t cap, const vss_uuid *dev) {
  vss_buf b = {0};
  vss_msg_hello h;
  size_t n = 0;
  memset(&h, 0, sizeof h);
  h.device = *dev;
  h.proto = VSS_PROTO_VERSION;
  h.epoch = 1;
  if (vss_wire_encode_hello(&b, &h) == 0 && b.len <= cap) {
    memcpy(out, b.data, b.len);
    n = b.len;
  }
  vss_buf_free(&b);
  return n;
}

/* A HELLO-typed frame with a body of n filler bytes. */
static size_t frame(uint8_t *out, uint32_t n) {
  out[0] = (uint8_t)(n + 2);
  out[1] = (uint8_t)((n + 2) >> 8);
  out[2] = (uint8_t)((n + 2) >> 16);
  out[3] = (uint8_t)((n + 2) >> 24);
  out[4] = VSS_PROTO_VERSION;
  out[5] = VSS_MSG_HELLO;
  memset(out + 6, 0xA5, n);
  return n + 6;
}

static vss_uuid g_self; /* this evil device's id, for a valid HELLO */

static int misbehave(int fd, chan *c, const char *mode) {
  static uint8_t plain[4096], rec[4096 + 64];
  size_t rl = 0, pl;
  if (!strcmp(mode, "garbage")) {
    randombytes_buf(plain, 64);
    chan_seal(c, plain, 64, rec, sizeof rec, &rl);
  } else if (!strcmp(mode, "oversize")) {
    uint32_t big = 64u << 20;
    memcpy(rec, &big, 4); /* little-endian host */
    memset(rec + 4, 0, 1000);
    rl = 1004;
  } else if (!strcmp(mode, "bigframe")) {
    pl = frame(plain, 16);
    plain[0] = plain[1] = plain[2] = 0xff; /* body length ~16M: over limit */
    plain[3] = 0;
    chan_seal(c, plain, pl, rec, sizeof rec, &rl);
  } else if (!strcmp(mode, "tamper") || !strcmp(mode, "replay") ||
             !strcmp(mode, "truncate")) {
    pl = hello(plain, sizeof plain, &g_self);
    chan_seal(c, plain, pl, rec, sizeof rec, &rl);
    if (!strcmp(mode, "tamper")) rec[CHAN_PREFIX + 10] ^= 0x01;
    if (!strcmp(mode, "replay") && send_all(fd, rec, rl) < 0) return -1;
    if (!strcmp(mode, "truncate")) {
      if (send_all(fd, rec, rl / 2) < 0) return -1;
      shutdown(fd, SHUT_WR);
      return 0;
    }
  } else if (!strcmp(mode, "cut") || !strcmp(mode, "fin") ||
             !strcmp(mode, "idle")) {
    pl = hello(plain, sizeof plain, &g_self);
    chan_seal(c, plain, pl, rec, sizeof rec, &rl);
    if (send_all(fd, rec, rl) < 0) return -1;
    if (!strcmp(mode, "cut")) shutdown(fd, SHUT_WR);
    if (!strcmp(mode, "fin") && (chan_seal_final(c, rec, sizeof rec, &rl) < 0 ||
                                 send_all(fd, rec, rl) < 0))
      return -1;
    return 0;
  } else if (!strcmp(mode, "stall")) {
    pl = hello(plain, sizeof plain, &g_self);
    chan_seal(c, plain, pl, rec, sizeof rec, &rl);
    if (send_all(fd, rec, rl / 2) < 0) return -1;
    for (size_t i = rl / 2; i < rl - 1; i++) {
      struct pollfd p = {fd, POLLIN, 0};
      uint8_t junk[65536];
      if (poll(&p, 1, 300) > 0 && recv(fd, junk, sizeof junk, 0) <= 0)
        return 0; /* closed by the victim */
      if (send_all(fd, rec + i, 1) < 0) return 0;
    }
    return -1; /* the whole record went out one byte at a time: no */
  } else {
    return -1;
  }
  return send_all(fd, rec, rl);
}

/* Queries of 4,000 keys nobody holds (~100 KB each, a slightly bigger
 * reply) until the victim stops taking them. */
static int noread(int fd, chan *c) {
  static uint8_t rec[MAX_FRAME + 256];
  vss_key *keys = calloc(4000, sizeof *keys);
  vss_buf b = {0};
  size_t rl = 0;
  uint64_t sent = 0;
  int small = 4096, rc = 2;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (keys == NULL) return 1;
  for (uint32_t i = 0; i < 4000; i++) {
    vss_uuid u;
    randombytes_buf(u.b, sizeof u.b);
    vss_key_set(&keys[i], &u, VSS_KIND_THUMB, "grid@2x");
  }
  uint8_t hb[256];
  size_t hl = hello(hb, sizeof hb, &g_self);
  if (chan_seal(c, hb, hl, rec, sizeof rec, &rl) < 0 ||
      send_all(fd, rec, rl) < 0)
    goto out;
  for (uint32_t id = 1; sent < (256ull << 20); id++) {
    b.len = 0;
    if (vss_wire_encode_query(&b, id, keys, 4000) < 0 ||
        chan_seal(c, b.data, b.len, rec, sizeof rec, &rl) < 0)
      goto out;
    for (size_t off = 0; off < rl;) {
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, 3000) == 0) { /* 3 s without room: pushed back */
        fprintf(stderr, "evil_peer noread: stalled after %llu bytes\n",
                (unsigned long long)sent);
        rc = sent < (64ull << 20) ? 0 : 2;
        goto out;
      }
      ssize_t w = send(fd, rec + off, rl - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        fprintf(stderr, "evil_peer noread: closed after %llu bytes\n",
                (unsigned long long)sent);
        rc = 2; /* dropped instead of pushed back */
        goto out;
      }
      if (w > 0) {
        off += (size_t)w;
        sent += (uint64_t)w;
      }
    }
  }
  fprintf(stderr, "evil_peer noread: never stalled (%llu bytes)\n",
          (unsigned long long)sent);
out:
  vss_buf_free(&b);
  free(keys);
  return rc;
}

static int self_device(const char *dir, vss_uuid *out) {
  char path[4096];
  vss_store *st = NULL;
  vss_store_meta m;
  int rc;
  snprintf(path, sizeof path, "%s/vss.db", dir);
  if (vss_store_sqlite_open(&st, path, NULL, NULL, 0) < 0) return -1;
  rc = vss_store_get_meta(st, &m);
  vss_store_del(st);
  if (rc == 0) *out = m.device;
  return rc;
}

int main(int argc, char **argv) {
  chan_identity id;
  vss_uuid dev;
  uint8_t pk[32];
  char err[512];
  chan *c = NULL;
  int fd, closed;

  if (argc != 5) {
    fprintf(stderr, "usage: evil_peer DATA_DIR PEER_CODE HOST:PORT MODE\n");
    return 1;
  }
  if (sodium_init() < 0 || ident_load(argv[1], &id, err, sizeof err) < 0 ||
      paircode_decode(argv[2], &dev, pk) < 0) {
    fprintf(stderr, "evil_peer: setup: %s\n", err);
    return 1;
  }
  if (self_device(argv[1], &g_self) < 0) {
    fprintf(stderr, "evil_peer: cannot read the device id in %s\n", argv[1]);
    return 1;
  }
  if ((fd = dial(argv[3])) < 0) {
    fprintf(stderr, "evil_peer: cannot connect to %s\n", argv[3]);
    return 1;
  }
  if (!strcmp(argv[4], "silent")) return closed_within(fd, 5000) ? 0 : 2;
  if (chan_new(&c, CHAN_INITIATOR, &id, pk, NULL, NULL, MAX_FRAME) < 0 ||
      handshake(fd, c) < 0) {
    fprintf(stderr, "evil_peer: handshake failed (not paired?)\n");
    return 1;
  }
  if (!strcmp(argv[4], "ok")) return closed_within(fd, 2000) ? 2 : 0;
  if (!strcmp(argv[4], "noread")) return noread(fd, c);
  if (misbehave(fd, c, argv[4]) < 0) {
    fprintf(stderr, "evil_peer: unknown mode or send failed: %s\n", argv[4]);
    return 1;
  }
  closed = closed_within(fd, 5000);
  fprintf(stderr, "evil_peer %s: %s\n", argv[4],
          closed ? "disconnected by the victim" : "still connected");
  chan_del(c);
  close(fd);
  return closed ? 0 : 2;
}
