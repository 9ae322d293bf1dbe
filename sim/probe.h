/*
 * probe.h - timing one flow alone on the platform (see probe.c).
 */
#ifndef SIM_PROBE_H
#define SIM_PROBE_H

#include "world.h"

int probe_parse(const world *w, const char *spec, int *a, int *b,
                uint64_t *size, char *err, size_t cap);
/* Runs the simulation with only the probe; returns the flow's seconds. */
double probe_run(world *w, int a, int b, uint64_t size);

#endif
