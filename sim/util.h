/*
 * util.h - small helpers shared by the simulator: fatal allocation,
 * bounded string copy, a seeded PRNG (splitmix64 seeding xoshiro256**),
 * and nanosecond/second conversions. The driver's randomness is its own:
 * the core draws from the rand callback we hand it, the driver from these.
 */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include "vss/rng.h"
#include "vss/model.h"

#include <stddef.h>
#include <stdint.h>

/* The simulator is a batch tool: running out of memory ends the run. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* Copies at most cap-1 bytes and always terminates; returns 1 when s fit. */
int scopy(char *dst, size_t cap, const char *s);

/* dir + "/" + name into out; returns 0, or -1 when it does not fit. */
int path_join(char *out, size_t cap, const char *dir, const char *name);

uint64_t splitmix64(uint64_t *state);
/* A stable 64-bit hash of bytes (FNV-1a then splitmix finaliser). */
uint64_t hash64(const void *p, size_t n, uint64_t seed);

/* The simulator draws from the core's PRNG (xoshiro256**), so one seed
 * means one generator everywhere. */
typedef vss_rng sim_rng;

static inline void rng_seed(sim_rng *r, uint64_t seed) {
  vss_rng_seed(r, seed);
}
static inline uint64_t rng_next(sim_rng *r) {
  return vss_rng_next(r);
}
static inline double rng_unit(sim_rng *r) {
  return vss_rng_unit(r);
}
/* [0, n); 0 when n == 0 */
static inline uint64_t rng_below(sim_rng *r, uint64_t n) {
  return vss_rng_below(r, n);
}
double rng_normal(sim_rng *r); /* standard normal */

static inline double ns_to_s(vss_time t) {
  return (double)t / 1e9;
}
static inline double ns_to_ms(vss_time t) {
  return (double)t / 1e6;
}
vss_time s_to_ns(double s);

#endif
