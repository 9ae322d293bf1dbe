/*
 * vss/rng.h - the PRNG of the node (xoshiro256**), seeded from the driver's
 * rand callback at vss_node_new, so a seed replays a run exactly.
 * Public so that drivers draw their own randomness (fault injection,
 * churn) from the same generator: one seed replays the whole run.
 */
#ifndef VSS_RNG_H
#define VSS_RNG_H

#include <stdint.h>

typedef struct vss_rng {
  uint64_t s[4];
} vss_rng;

void vss_rng_seed(vss_rng *r, uint64_t seed);
uint64_t vss_rng_next(vss_rng *r);
/* Uniform in [0, n); 0 when n == 0. */
uint64_t vss_rng_below(vss_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double vss_rng_unit(vss_rng *r);

#endif
