/*
 * probe.c - `vss-sim --probe A:B[:SIZE]`: one flow of SIZE bytes from
 * device A to device B with nothing else on the platform, timed by the
 * network model. It answers "what does the model allow one flow on this
 * path", the yardstick the goodput benchmark divides by.
 */
#include "probe.h"

#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t probe_size;
static double probe_start, probe_end;

static void probe_recv(int argc, char **argv) {
  (void)argc;
  sg_mailbox_get(sg_mailbox_by_name(argv[1]));
  probe_end = simgrid_get_clock();
}

static void probe_send(int argc, char **argv) {
  (void)argc;
  static char token;
  probe_start = simgrid_get_clock();
  sg_mailbox_put(sg_mailbox_by_name(argv[1]), &token, (long)probe_size);
}

int probe_parse(const world *w, const char *spec, int *a, int *b,
                uint64_t *size, char *err, size_t cap) {
  char buf[256];
  char e[UNIT_ERR_MAX];
  scopy(buf, sizeof(buf), spec);
  char *c1 = strchr(buf, ':');
  if (!c1) return snprintf(err, cap, "--probe: want A:B[:SIZE]"), -1;
  *c1 = '\0';
  char *c2 = strchr(c1 + 1, ':');
  if (c2) *c2 = '\0';
  *a = sc_find_device(w->sc, buf);
  *b = sc_find_device(w->sc, c1 + 1);
  if (*a < 0 || *b < 0 || *a == *b)
    return snprintf(err, cap, "--probe: two different devices of the scenario"),
           -1;
  *size = 100000000;
  if (c2 && parse_size(c2 + 1, size, e))
    return snprintf(err, cap, "--probe: %s", e), -1;
  return 0;
}

double probe_run(world *w, int a, int b, uint64_t size) {
  probe_size = size;
  char *rargv[] = {(char *)"probe-recv", w->devs[b].mbox_name, NULL};
  char *sargv[] = {(char *)"probe-send", w->devs[b].mbox_name, NULL};
  sg_actor_create("probe-recv", w->devs[b].host, probe_recv, 2, rargv);
  sg_actor_create("probe-send", w->devs[a].host, probe_send, 2, sargv);
  simgrid_run();
  /* stream mode: the driver adds the propagation delay to every delivery */
  return probe_end - probe_start + ns_to_s(route_delay(w, a, b));
}
