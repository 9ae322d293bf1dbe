/*
 * hints.h - holders learned by relay: for each key, at most `cap` of
 * the devices said to hold it (member indices of view.c), the best
 * paths kept. One version per key (size, checksum of the first holder
 * heard): a fetch asks the holder before it trusts any byte, so a
 * hint is only ever a place to look.
 *
 * Bounded: keys node-wide (set() says VSS_ERR_LIMIT for a new key past
 * it), holders per key (a worse holder is not kept; a better one
 * replaces the worst).
 */
#ifndef VSS_HINTS_H
#define VSS_HINTS_H

#include "vss/node.h"

typedef struct vss_hints vss_hints;

#define VSS_HINTS_CAP_MAX 8 /* holders_per_key ceiling */
#define VSS_HINTS_CAP VSS_HINTS_CAP_MAX

/* Preference of a holder: lower is better. */
typedef uint64_t (*vss_hints_pref)(void *user, uint32_t holder);

int vss_hints_new(vss_hints **out);
void vss_hints_del(vss_hints *h);
void vss_hints_config(vss_hints *h, uint32_t cap, uint64_t max_keys,
                      vss_hints_pref pref, void *user);
/* has = 1: holder holds key; has = 0: it does not any more. Returns 1
 * when a new key was created, 0 otherwise, VSS_ERR_LIMIT for a new key
 * past max_keys (nothing changed), VSS_ERR_NOMEM. */
int vss_hints_set(vss_hints *h, const vss_key *key, vss_format fmt, int has,
                  uint64_t size, const vss_hash *checksum, uint32_t holder);
/* Holders of key, best first; returns how many (<= cap). */
typedef struct vss_hint {
  vss_format format;
  uint64_t size;
  vss_hash checksum;
  uint32_t n;
  uint32_t holder[VSS_HINTS_CAP_MAX];
} vss_hint;
int vss_hints_get(const vss_hints *h, const vss_key *key, vss_hint *out);
typedef int (*vss_hints_cb)(void *user, const vss_key *key, const vss_hint *e);
int vss_hints_iter(const vss_hints *h, vss_hints_cb cb, void *user);
uint64_t vss_hints_keys(const vss_hints *h);
uint64_t vss_hints_holders(const vss_hints *h);
uint64_t vss_hints_mem(const vss_hints *h);

#endif
