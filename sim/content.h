/*
 * content.h - the library the simulated devices share: content items
 * (numbered 0..N-1, each with a stable uuid), the size of each sidecar
 * (drawn once per key from the scenario's distribution, so every device
 * that generates it gets the same bytes) and the sidecar bytes themselves
 * (a random-access deterministic stream; thumbnails start with a WebP
 * header). Nothing is stored: any byte of any sidecar can be recomputed.
 */
#ifndef SIM_CONTENT_H
#define SIM_CONTENT_H

#include "scenario.h"

#include <stdint.h>

/* The uuid of content item n (the same in every scenario and run). */
void content_uuid(uint32_t n, vss_uuid *out);
void content_key(vss_key *k, uint32_t item, vss_kind kind, const char *variant);

/* Size of a sidecar: its [sizes] distribution, drawn with the run's seed
 * and the key, at least 64 bytes (room for a file header). */
uint64_t content_size(const scenario *sc, const vss_key *key);

/* Bytes [off, off + len) of the sidecar `key` of `size` bytes. */
void content_fill(const vss_key *key, uint64_t size, uint64_t off, void *buf,
                  size_t len);
/* 1 when buf holds exactly those bytes. */
int content_equal(const vss_key *key, uint64_t size, uint64_t off,
                  const void *buf, size_t len);

#endif
