/*
 * plan.h - the resolved plan of a scenario as JSON (`vss-sim FILE --plan`):
 * devices, links, the routed paths between devices, the initial sidecars
 * and the timeline, every item as a URI and a size. vss-lab (real/lab/)
 * plays it with real vss-node processes, so the scenario language has one
 * parser: this one.
 */
#ifndef SIM_PLAN_H
#define SIM_PLAN_H

#include "world.h"

#include <stdio.h>

/* After world_init and world_routes. Returns 0, or -1 on a write error. */
int plan_write(world *w, FILE *f);

#endif
