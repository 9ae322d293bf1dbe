/*
 * rng.h - the node's one PRNG (xoshiro256**), seeded from the driver's
 * rand callback at vss_node_new, so a seed replays a run exactly.
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
