/*
 * chan.h - the secure channel between two paired devices, sans-I/O.
 *
 * Nothing here touches a socket: the caller feeds whole wire units and
 * writes out what it is given. Every unit on the wire is
 *
 *     u32le body_len | body
 *
 * First a three-message handshake (fixed-size bodies), then records.
 *
 * Handshake (I = initiator, who dialled; R = responder). Both hold
 * Ed25519 identities; I already knows R's pinned key, R knows the set
 * of keys it pinned at pairing. Diffie-Hellman uses each identity's
 * X25519 form (crypto_sign_ed25519_sk_to_curve25519), never the Ed25519
 * key itself, and X25519 only.
 *
 *   msg1 I->R  magic | eI | AEAD[k1](pkI | offers) | AEAD[k1s](empty)
 *   msg2 R->I  eR | AEAD[k2](sigR | header R->I | choice)
 *   msg3 I->R  AEAD[k3](sigI | header I->R | choice)
 *
 *   es = X25519(eI, R's static)         hides pkI from all but R
 *   ss = X25519(I's static, R's static) proves I holds pkI's private key
 *   ee = X25519(eI, eR)                 forward secrecy
 *   th = H(label | magic | eI | pkR | pkI | eR | offers) transcript
 *   sigR = Sign_R("resp" | th), sigI = Sign_I("init" | th)
 *   k1 from es; k1s from es | ss; k2, k3 and both stream keys from
 *   es | ss | ee and th.
 *
 * R answers only a msg1 that carries a pinned key AND whose second tag
 * checks, which needs the private key of a pinned device (as Noise IK's
 * first message): knowing R's public key and a pinned public key (both
 * are in pairing codes) gets no answer at all. R's identity is never
 * sent; its signature is encrypted under es | ss | ee. A replayed msg1
 * (captured from a real initiator) does get a msg2, but only the holder
 * of eI can read it, and msg3 cannot be produced without eI and the
 * initiator's key: the replay learns nothing and cannot finish.
 *
 * Records: one cipher per session, chosen in the handshake. The initiator
 * offers AES-256-GCM when its CPU has AES in hardware
 * (crypto_aead_aes256gcm_is_available), the responder takes it when it
 * has it too (`choice`), else both use
 * crypto_secretstream_xchacha20poly1305. The offer is in the signed
 * transcript and msg3 repeats the choice, so neither can be downgraded
 * or upgraded by anyone in between. AES-GCM records carry the
 * secretstream tag byte in clear (authenticated) and use a per-key
 * counter nonce (chan.c). One record per core frame, the length prefix
 * as associated data. A
 * tampered, truncated, replayed, reordered or oversized record is an
 * error; the caller then closes the connection. Every REKEY_BYTES (1 GiB)
 * of plaintext a record carries TAG_REKEY and both ends ratchet that
 * direction's key. A clean close sends an empty TAG_FINAL record: a
 * stream that ends without it (even at a record boundary) was cut.
 */
#ifndef VSS_REAL_CHAN_H
#define VSS_REAL_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define CHAN_PK_LEN 32
#define CHAN_SK_LEN 64
#define CHAN_PREFIX 4 /* u32le body length of every wire unit */

#define CHAN_MSG1_LEN (4 + 32 + 33 + 16 + 16)
#define CHAN_MSG2_LEN (32 + 64 + 24 + 1 + 16)
#define CHAN_MSG3_LEN (64 + 24 + 1 + 16)
/* Both record ciphers: secretstream's 17, AES-GCM's tag byte + MAC. */
#define CHAN_REC_OVERHEAD crypto_secretstream_xchacha20poly1305_ABYTES

enum {
  CHAN_OK = 0,
  CHAN_ERR_STATE = -1,     /* call out of order */
  CHAN_ERR_SIZE = -2,      /* unit over the limit or not the expected size */
  CHAN_ERR_MAGIC = -3,     /* not our protocol / version */
  CHAN_ERR_AUTH = -4,      /* decryption or signature failed: forged */
  CHAN_ERR_UNPAIRED = -5,  /* initiator's key is not pinned here */
  CHAN_ERR_CRYPTO = -6,    /* weak key or libsodium failure */
  CHAN_ERR_BUFFER = -7,    /* caller's output buffer too small */
  CHAN_ERR_TRUNCATED = -8, /* ended without the peer's close record */
  CHAN_CLOSED = 1,         /* chan_open: the peer's close record */
};

const char *chan_strerror(int rc);

typedef enum chan_role { CHAN_INITIATOR = 0, CHAN_RESPONDER = 1 } chan_role;

/* The device's long-term Ed25519 key pair. */
typedef struct chan_identity {
  uint8_t pk[CHAN_PK_LEN];
  uint8_t sk[CHAN_SK_LEN];
} chan_identity;

/* Responder: is this key pinned? Return 1 when it is, 0 when not. */
typedef int (*chan_pinned_cb)(void *user, const uint8_t pk[CHAN_PK_LEN]);

typedef struct chan chan;

/* Record cipher, chosen in the handshake (see below). */
typedef enum chan_cipher { CHAN_XCHACHA = 0, CHAN_AESGCM = 1 } chan_cipher;

/* Initiator: peer_pk is the responder's pinned key. Responder: peer_pk
 * is NULL and `pinned` decides. `max_plain` bounds a record's plaintext
 * both ways (the core's largest frame). */
int chan_new(chan **out, chan_role role, const chan_identity *self,
             const uint8_t *peer_pk, chan_pinned_cb pinned, void *user,
             size_t max_plain);
void chan_del(chan *c);
/* Whether we offer (initiator) or accept (responder) AES-256-GCM; on by
 * default when this CPU has it in hardware. Before the handshake only. */
int chan_allow_aes(chan *c, int allow);
/* The cipher the records use (meaningful once chan_ready). */
chan_cipher chan_get_cipher(const chan *c);
const char *chan_cipher_name(chan_cipher k);

/* 1 once the handshake completed (records may flow), else 0. */
int chan_ready(const chan *c);
/* The peer's identity: known from the start for an initiator, after
 * msg1 for a responder. NULL before. */
const uint8_t *chan_peer_pk(const chan *c);

/* Largest body the next incoming unit may have: the exact handshake
 * message size, or max_plain + overhead for records. */
size_t chan_max_body(const chan *c);

/* Parses a unit's length prefix: 0 and *unit_len (prefix included) when
 * the prefix is there and within chan_max_body, CHAN_ERR_SIZE when over,
 * 1 when fewer than CHAN_PREFIX bytes are buffered. Call before buffering
 * a body, so an oversized unit is refused without reading it. */
int chan_unit_len(const chan *c, const uint8_t *p, size_t len,
                  size_t *unit_len);

/* Initiator: writes msg1 (prefix included) into out. */
int chan_hs_start(chan *c, uint8_t *out, size_t cap, size_t *outlen);
/* Feeds one whole handshake unit (prefix included). May write the next
 * handshake unit into out (*outlen 0 when none). Returns 1 when the
 * handshake is complete, 0 when it continues, negative CHAN_ERR_*. */
int chan_hs_recv(chan *c, const uint8_t *unit, size_t len, uint8_t *out,
                 size_t cap, size_t *outlen);

/* Encrypts one record (prefix included) into out, which needs
 * chan_sealed_len(len) bytes. */
static inline size_t chan_sealed_len(size_t plain_len) {
  return CHAN_PREFIX + plain_len + CHAN_REC_OVERHEAD;
}
int chan_seal(chan *c, const uint8_t *plain, size_t len, uint8_t *out,
              size_t cap, size_t *outlen);
/* The close record (TAG_FINAL, no plaintext): the last thing sealed. */
int chan_seal_final(chan *c, uint8_t *out, size_t cap, size_t *outlen);
/* Re-key the sending direction after this many plaintext bytes (0: the
 * default, 1 GiB); and how many times it has. For tests and stats. */
void chan_set_rekey(chan *c, uint64_t bytes);
uint64_t chan_rekeys(const chan *c);
/* At the end of the byte stream: 0 when the peer's close record came,
 * CHAN_ERR_TRUNCATED when the stream was cut. */
int chan_eof(const chan *c);

/* Decrypts one whole record unit (prefix included) into plain (at least
 * chan_max_body() - CHAN_REC_OVERHEAD bytes). Returns CHAN_CLOSED for
 * the peer's close record (nothing may follow). Any failure leaves the
 * receiving side unusable: close the connection. Opening and sealing
 * touch separate state: one thread may open while another seals, but
 * each side must be used by one thread at a time. */
int chan_open(chan *c, const uint8_t *unit, size_t len, uint8_t *plain,
              size_t cap, size_t *plain_len);

/* A short printable fingerprint of a key for logs: 16 hex chars. */
void chan_fingerprint(const uint8_t pk[CHAN_PK_LEN], char out[17]);

#endif
