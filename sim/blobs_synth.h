/*
 * blobs_synth.h - the simulator's blob store (a vss_blob_methods table).
 *
 * A committed sidecar is kept as (key, format, size) when its bytes are
 * exactly the deterministic content (content.h), and as real bytes only
 * otherwise. Writes into a temporary blob are compared with that content
 * as they arrive; the first differing write turns the blob into a real
 * buffer. So the core's checksums are computed over real bytes end to
 * end, while a fleet of devices holding thousands of verified sidecars
 * costs a few bytes per sidecar.
 */
#ifndef SIM_BLOBS_SYNTH_H
#define SIM_BLOBS_SYNTH_H

#include "vss/store.h"

typedef struct synth_blobs synth_blobs;

/* Makes the store and the vss_blobs that wraps it (the wrapper owns it). */
int synth_blobs_new(vss_blobs **out, synth_blobs **ctx);
/* Records a sidecar whose bytes are the deterministic content (a local
 * generation). Replaces what was there. */
int synth_blobs_add(synth_blobs *s, const vss_key *key, vss_format fmt,
                    uint64_t size);
/* 1 when the committed blob holds the deterministic content, 0 when it
 * holds other bytes, VSS_ERR_NOT_FOUND when absent. */
int synth_blobs_pure(const synth_blobs *s, const vss_key *key, vss_format fmt);
uint64_t synth_blobs_count(const synth_blobs *s);
/* Bytes of real buffers held (blobs that differ from their content). */
uint64_t synth_blobs_real_bytes(const synth_blobs *s);
/* The store vouches for its synthetic content (content_hash, write_content
 * in vss_blob_methods): with payload = size-only, nodes send and verify
 * it without bytes. The hashes are shared by every store; free at exit. */
void synth_blobs_free_cache(void);

#endif
