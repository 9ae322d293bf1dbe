/*
 * test_chan.c - the secure channel, sans-I/O: handshake outcomes and the
 * record layer's refusals (tampered, replayed, reordered, oversized).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chan.h"

#define MAXP 4096

/* Every test runs twice: AES-256-GCM allowed (taken when the CPU has
 * it) and not (XChaCha20-Poly1305 secretstream). */
static int g_aes;

typedef struct pinset {
  const uint8_t *keys[4];
  int n;
} pinset;

static int pinned(void *user, const uint8_t pk[CHAN_PK_LEN]) {
  pinset *ps = user;
  for (int i = 0; i < ps->n; i++)
    if (memcmp(ps->keys[i], pk, CHAN_PK_LEN) == 0) return 1;
  return 0;
}

static void ident(chan_identity *id) {
  crypto_sign_keypair(id->pk, id->sk);
}

typedef struct pair {
  chan_identity a, b; /* a initiates to b */
  pinset pins;        /* what b pinned */
  chan *ci, *cr;
  uint8_t m1[256], m2[256], m3[256];
  size_t l1, l2, l3;
} pair;

static void pair_setup(pair *p, int pin_a) {
  memset(p, 0, sizeof *p);
  ident(&p->a);
  ident(&p->b);
  if (pin_a) p->pins.keys[p->pins.n++] = p->a.pk;
  assert_int_equal(
      chan_new(&p->ci, CHAN_INITIATOR, &p->a, p->b.pk, NULL, NULL, MAXP), 0);
  assert_int_equal(
      chan_new(&p->cr, CHAN_RESPONDER, &p->b, NULL, pinned, &p->pins, MAXP), 0);
  assert_int_equal(chan_allow_aes(p->ci, g_aes), 0);
  assert_int_equal(chan_allow_aes(p->cr, g_aes), 0);
}

static void pair_free(pair *p) {
  chan_del(p->ci);
  chan_del(p->cr);
}

/* Runs the three messages; returns the first error or 1 when both done. */
static int handshake(pair *p) {
  size_t ul;
  int rc;
  assert_int_equal(chan_hs_start(p->ci, p->m1, sizeof p->m1, &p->l1), 0);
  assert_int_equal(chan_unit_len(p->cr, p->m1, p->l1, &ul), 0);
  assert_int_equal(ul, p->l1);
  if ((rc = chan_hs_recv(p->cr, p->m1, p->l1, p->m2, sizeof p->m2, &p->l2)) < 0)
    return rc;
  if ((rc = chan_hs_recv(p->ci, p->m2, p->l2, p->m3, sizeof p->m3, &p->l3)) < 0)
    return rc;
  assert_int_equal(rc, 1);
  return chan_hs_recv(p->cr, p->m3, p->l3, NULL, 0, &ul);
}

static void seal(chan *c, const char *s, uint8_t *out, size_t *len) {
  assert_int_equal(chan_seal(c, (const uint8_t *)s, strlen(s), out, 512, len),
                   0);
}

static int open_str(chan *c, const uint8_t *u, size_t len, char *out) {
  size_t pl = 0;
  int rc = chan_open(c, u, len, (uint8_t *)out, MAXP, &pl);
  if (rc == 0) out[pl] = '\0';
  return rc;
}

static void test_handshake_ok(void **st) {
  pair p;
  uint8_t u[512];
  size_t ul;
  char got[MAXP + 1];
  (void)st;
  pair_setup(&p, 1);
  assert_int_equal(handshake(&p), 1);
  assert_true(chan_ready(p.ci) && chan_ready(p.cr));
  assert_memory_equal(chan_peer_pk(p.cr), p.a.pk, CHAN_PK_LEN);
  seal(p.ci, "hello r", u, &ul);
  assert_int_equal(open_str(p.cr, u, ul, got), 0);
  assert_string_equal(got, "hello r");
  seal(p.cr, "hello i", u, &ul);
  assert_int_equal(open_str(p.ci, u, ul, got), 0);
  assert_string_equal(got, "hello i");
  pair_free(&p);
}

/* The responder did not pin the initiator: refused at msg1 and it sends
 * nothing back, not even its ephemeral key. */
static void test_unpaired_refused(void **st) {
  pair p;
  (void)st;
  pair_setup(&p, 0);
  assert_int_equal(chan_hs_start(p.ci, p.m1, sizeof p.m1, &p.l1), 0);
  p.l2 = 99;
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_UNPAIRED);
  assert_int_equal(p.l2, 0);
  assert_memory_equal(chan_peer_pk(p.cr), p.a.pk, CHAN_PK_LEN);
  pair_free(&p);
}

/* The initiator pinned a different key for the address: whoever answers
 * there cannot read msg1, so it refuses and learns nothing. */
static void test_wrong_pinned_key(void **st) {
  pair p;
  chan_identity other;
  chan *ci;
  (void)st;
  pair_setup(&p, 1);
  ident(&other);
  assert_int_equal(
      chan_new(&ci, CHAN_INITIATOR, &p.a, other.pk, NULL, NULL, MAXP), 0);
  assert_int_equal(chan_hs_start(ci, p.m1, sizeof p.m1, &p.l1), 0);
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_AUTH);
  assert_int_equal(p.l2, 0);
  assert_null(chan_peer_pk(p.cr));
  chan_del(ci);
  pair_free(&p);
}

/* A responder that is not the pinned one answers: its msg2 (from another
 * session) fails the initiator's check. */
static void test_forged_responder(void **st) {
  pair p, q;
  size_t l;
  uint8_t out[256];
  (void)st;
  pair_setup(&p, 1);
  pair_setup(&q, 1);
  assert_int_equal(chan_hs_start(p.ci, p.m1, sizeof p.m1, &p.l1), 0);
  assert_int_equal(chan_hs_start(q.ci, q.m1, sizeof q.m1, &q.l1), 0);
  assert_int_equal(chan_hs_recv(q.cr, q.m1, q.l1, q.m2, sizeof q.m2, &q.l2), 0);
  assert_int_equal(chan_hs_recv(p.ci, q.m2, q.l2, out, sizeof out, &l),
                   CHAN_ERR_AUTH);
  assert_int_equal(l, 0);
  pair_free(&p);
  pair_free(&q);
}

/* A recorded msg1 replayed to the responder gets a msg2, but the old
 * msg3 cannot complete the new session. */
static void test_replayed_handshake(void **st) {
  pair p;
  chan *cr2;
  size_t l2, l;
  uint8_t m2[256];
  (void)st;
  pair_setup(&p, 1);
  assert_int_equal(handshake(&p), 1);
  assert_int_equal(
      chan_new(&cr2, CHAN_RESPONDER, &p.b, NULL, pinned, &p.pins, MAXP), 0);
  assert_int_equal(chan_hs_recv(cr2, p.m1, p.l1, m2, sizeof m2, &l2), 0);
  assert_int_equal(chan_hs_recv(cr2, p.m3, p.l3, NULL, 0, &l), CHAN_ERR_AUTH);
  assert_false(chan_ready(cr2));
  chan_del(cr2);
  pair_free(&p);
}

static void test_bad_msg1(void **st) {
  pair p;
  size_t ul;
  (void)st;
  pair_setup(&p, 1);
  assert_int_equal(chan_hs_start(p.ci, p.m1, sizeof p.m1, &p.l1), 0);
  p.m1[4] ^= 1; /* magic */
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_MAGIC);
  pair_free(&p);

  pair_setup(&p, 1);
  assert_int_equal(chan_hs_start(p.ci, p.m1, sizeof p.m1, &p.l1), 0);
  p.m1[p.l1 - 1] ^= 1; /* the static-static tag */
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_AUTH);
  pair_free(&p);

  pair_setup(&p, 1);
  assert_int_equal(chan_hs_start(p.ci, p.m1, sizeof p.m1, &p.l1), 0);
  p.m1[CHAN_PREFIX + 40] ^= 1; /* sealed identity */
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_AUTH);
  pair_free(&p);

  pair_setup(&p, 1);
  memcpy(p.m1, "GET / HTTP/1.1\r\n", 16); /* garbage: length prefix huge */
  assert_int_equal(chan_unit_len(p.cr, p.m1, 16, &ul), CHAN_ERR_SIZE);
  pair_free(&p);
}

/* Someone who knows only public keys (the responder's, and a pinned
 * initiator's: both are in pairing codes) builds a msg1 claiming the
 * pinned key, with a private key that is not its own: no msg2 comes back,
 * so it learns nothing, not even that the two devices are paired. */
static void test_public_keys_only_no_msg2(void **st) {
  pair p;
  chan_identity forger;
  chan *cf;
  (void)st;
  pair_setup(&p, 1);
  ident(&forger);
  memcpy(forger.pk, p.a.pk, CHAN_PK_LEN); /* a's public key, not its sk */
  assert_int_equal(
      chan_new(&cf, CHAN_INITIATOR, &forger, p.b.pk, NULL, NULL, MAXP), 0);
  assert_int_equal(chan_hs_start(cf, p.m1, sizeof p.m1, &p.l1), 0);
  p.l2 = 99;
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_AUTH);
  assert_int_equal(p.l2, 0);
  assert_false(chan_ready(p.cr));
  chan_del(cf);
  pair_free(&p);
}

static void ready_pair(pair *p) {
  pair_setup(p, 1);
  assert_int_equal(handshake(p), 1);
}

static void test_tampered_record(void **st) {
  pair p;
  uint8_t u[512], u2[512];
  size_t ul, ul2;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  seal(p.ci, "payload", u, &ul);
  seal(p.ci, "next", u2, &ul2);
  u[CHAN_PREFIX + 3] ^= 0x40;
  assert_int_equal(open_str(p.cr, u, ul, got), CHAN_ERR_AUTH);
  /* The channel is dead afterwards: even a good record is refused. */
  assert_int_equal(open_str(p.cr, u2, ul2, got), CHAN_ERR_STATE);
  pair_free(&p);
}

static void test_tampered_prefix(void **st) {
  pair p;
  uint8_t u[512];
  size_t ul;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  seal(p.ci, "payload!", u, &ul);
  /* Drop the last byte and fix up the prefix to match. */
  u[0] = (uint8_t)(u[0] - 1);
  assert_int_equal(open_str(p.cr, u, ul - 1, got), CHAN_ERR_AUTH);
  pair_free(&p);
}

static void test_replayed_record(void **st) {
  pair p;
  uint8_t u[512];
  size_t ul;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  seal(p.ci, "once", u, &ul);
  assert_int_equal(open_str(p.cr, u, ul, got), 0);
  assert_int_equal(open_str(p.cr, u, ul, got), CHAN_ERR_AUTH);
  pair_free(&p);
}

static void test_reordered_record(void **st) {
  pair p;
  uint8_t u1[512], u2[512];
  size_t l1, l2;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  seal(p.ci, "first", u1, &l1);
  seal(p.ci, "second", u2, &l2);
  assert_int_equal(open_str(p.cr, u2, l2, got), CHAN_ERR_AUTH);
  pair_free(&p);
}

/* A record from the other direction (reflection) is refused. */
static void test_reflected_record(void **st) {
  pair p;
  uint8_t u[512];
  size_t ul;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  seal(p.ci, "to r", u, &ul);
  assert_int_equal(open_str(p.ci, u, ul, got), CHAN_ERR_AUTH);
  pair_free(&p);
}

static void test_oversized_record(void **st) {
  pair p;
  uint8_t hdr[4], *big;
  size_t ul;
  size_t max = MAXP + CHAN_REC_OVERHEAD;
  (void)st;
  ready_pair(&p);
  /* The prefix alone is enough to refuse: nothing is buffered. */
  hdr[0] = (uint8_t)(max + 1);
  hdr[1] = (uint8_t)((max + 1) >> 8);
  hdr[2] = hdr[3] = 0;
  assert_int_equal(chan_unit_len(p.cr, hdr, 4, &ul), CHAN_ERR_SIZE);
  hdr[0] = (uint8_t)max;
  hdr[1] = (uint8_t)(max >> 8);
  assert_int_equal(chan_unit_len(p.cr, hdr, 4, &ul), 0);
  assert_int_equal(ul, 4 + max);
  assert_int_equal(chan_unit_len(p.cr, hdr, 3, &ul), 1);
  /* The sender refuses to build one either. */
  big = calloc(1, MAXP + 1 + 64);
  assert_non_null(big);
  assert_int_equal(chan_seal(p.ci, big, MAXP + 1, big, MAXP + 64, &ul),
                   CHAN_ERR_SIZE);
  free(big);
  pair_free(&p);
}

/* A stream cut at a record boundary is told apart from a clean close:
 * only the close record (TAG_FINAL) makes chan_eof succeed, and nothing
 * is accepted after it, in either direction. */
static void test_cut_at_record_boundary(void **st) {
  pair p;
  uint8_t u[512], fin[64];
  size_t ul, fl, pl;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  seal(p.ci, "a whole record", u, &ul);
  assert_int_equal(open_str(p.cr, u, ul, got), 0);
  /* The attacker drops the rest: the receiver sees EOF after a record. */
  assert_int_equal(chan_eof(p.cr), CHAN_ERR_TRUNCATED);
  /* A clean close. */
  assert_int_equal(chan_seal_final(p.ci, fin, sizeof fin, &fl), 0);
  assert_int_equal(chan_open(p.cr, fin, fl, (uint8_t *)got, MAXP, &pl),
                   CHAN_CLOSED);
  assert_int_equal(pl, 0);
  assert_int_equal(chan_eof(p.cr), 0);
  /* Nothing after the close record, neither sealed nor opened. */
  assert_int_equal(chan_seal(p.ci, (const uint8_t *)"x", 1, u, sizeof u, &ul),
                   CHAN_ERR_STATE);
  seal(p.cr, "other way still works", u, &ul);
  assert_int_equal(open_str(p.ci, u, ul, got), 0);
  pair_free(&p);

  /* A close record that was tampered with is not a close. */
  ready_pair(&p);
  assert_int_equal(chan_seal_final(p.ci, fin, sizeof fin, &fl), 0);
  fin[fl - 1] ^= 1;
  assert_int_equal(chan_open(p.cr, fin, fl, (uint8_t *)got, MAXP, &pl),
                   CHAN_ERR_AUTH);
  assert_int_equal(chan_eof(p.cr), CHAN_ERR_TRUNCATED);
  pair_free(&p);
}

/* Long sessions ratchet their keys: with a small interval, hundreds of
 * records cross several re-keys and every one still opens in order; a
 * receiver that skipped one re-key record cannot open the next. */
static void test_rekey(void **st) {
  pair p;
  uint8_t u[512];
  size_t ul;
  char got[MAXP + 1], msg[128];
  (void)st;
  ready_pair(&p);
  chan_set_rekey(p.ci, 1000);
  for (int i = 0; i < 300; i++) {
    snprintf(msg, sizeof msg, "record %d of a long session, padded.......", i);
    seal(p.ci, msg, u, &ul);
    assert_int_equal(open_str(p.cr, u, ul, got), 0);
    assert_string_equal(got, msg);
  }
  assert_true(chan_rekeys(p.ci) >= 10);
  assert_int_equal(chan_rekeys(p.cr), 0); /* the other direction: none */
  pair_free(&p);
}

/* A receiver that missed a re-key record cannot open what follows. */
static void test_rekey_skipped(void **st) {
  pair p;
  uint8_t u[512], v[512];
  size_t ul, vl;
  char got[MAXP + 1];
  (void)st;
  ready_pair(&p);
  chan_set_rekey(p.ci, 10);
  seal(p.ci, "the first record crosses the re-key mark", u, &ul);
  seal(p.ci, "the second is under the next key", v, &vl);
  assert_int_equal(chan_rekeys(p.ci), 2);
  assert_int_equal(open_str(p.cr, v, vl, got), CHAN_ERR_AUTH);
  pair_free(&p);
}

/* AES-256-GCM when both ends allow it and the CPU has it, else
 * secretstream on both ends; one end saying no is enough. */
static void test_cipher_choice(void **st) {
  int hw = crypto_aead_aes256gcm_is_available();
  for (int i = 0; i < 4; i++) {
    pair p;
    int ai = i & 1, ar = (i >> 1) & 1;
    uint8_t u[512];
    size_t ul;
    char got[MAXP + 1];
    chan_cipher want = ai && ar && hw ? CHAN_AESGCM : CHAN_XCHACHA;
    (void)st;
    pair_setup(&p, 1);
    assert_int_equal(chan_allow_aes(p.ci, ai), 0);
    assert_int_equal(chan_allow_aes(p.cr, ar), 0);
    assert_int_equal(handshake(&p), 1);
    assert_int_equal(chan_get_cipher(p.ci), want);
    assert_int_equal(chan_get_cipher(p.cr), want);
    seal(p.ci, "both ways", u, &ul);
    assert_int_equal(open_str(p.cr, u, ul, got), 0);
    seal(p.cr, "and back", u, &ul);
    assert_int_equal(open_str(p.ci, u, ul, got), 0);
    assert_string_equal(got, "and back");
    assert_int_equal(chan_allow_aes(p.ci, 1), CHAN_ERR_STATE); /* too late */
    pair_free(&p);
  }
}

/* The offer is inside msg1's sealed identity: flipping any bit of it on
 * the way (a downgrade attempt) fails the tag, so no msg2. */
static void test_offer_tampered(void **st) {
  pair p;
  (void)st;
  pair_setup(&p, 1);
  assert_int_equal(chan_hs_start(p.ci, p.m1, sizeof p.m1, &p.l1), 0);
  p.m1[CHAN_PREFIX + 36 + 32] ^= 1; /* the sealed offer byte */
  assert_int_equal(chan_hs_recv(p.cr, p.m1, p.l1, p.m2, sizeof p.m2, &p.l2),
                   CHAN_ERR_AUTH);
  assert_int_equal(p.l2, 0);
  pair_free(&p);
}

static void test_records_before_handshake(void **st) {
  pair p;
  uint8_t u[512];
  size_t ul;
  (void)st;
  pair_setup(&p, 1);
  assert_int_equal(chan_seal(p.ci, (const uint8_t *)"x", 1, u, sizeof u, &ul),
                   CHAN_ERR_STATE);
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_ok),
      cmocka_unit_test(test_unpaired_refused),
      cmocka_unit_test(test_wrong_pinned_key),
      cmocka_unit_test(test_forged_responder),
      cmocka_unit_test(test_replayed_handshake),
      cmocka_unit_test(test_bad_msg1),
      cmocka_unit_test(test_tampered_record),
      cmocka_unit_test(test_tampered_prefix),
      cmocka_unit_test(test_replayed_record),
      cmocka_unit_test(test_reordered_record),
      cmocka_unit_test(test_reflected_record),
      cmocka_unit_test(test_oversized_record),
      cmocka_unit_test(test_records_before_handshake),
      cmocka_unit_test(test_public_keys_only_no_msg2),
      cmocka_unit_test(test_cut_at_record_boundary),
      cmocka_unit_test(test_rekey),
      cmocka_unit_test(test_rekey_skipped),
      cmocka_unit_test(test_cipher_choice),
      cmocka_unit_test(test_offer_tampered),
  };
  int failed;
  if (sodium_init() < 0) return 1;
  printf("AES-256-GCM in hardware: %s\n",
         crypto_aead_aes256gcm_is_available() ? "yes" : "no");
  g_aes = 0;
  failed = cmocka_run_group_tests_name("xchacha20poly1305", tests, NULL, NULL);
  g_aes = 1;
  return failed +
         cmocka_run_group_tests_name("aes256gcm allowed", tests, NULL, NULL);
}
