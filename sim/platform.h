/*
 * platform.h - the scenario as a SimGrid platform.
 *
 *   world (Full) - one zone per site, joined by the sites' internet links
 *     site (Full)
 *       SITE.lan (Full) - ethernet ports and datacenter ports, gateway
 *       WIFI (Wifi)     - the stations of one access point
 *
 * A site is a home, office or cloud ([link] site = NAME); a device on a
 * cellular link is a site of its own whose uplink is its modem. Traffic
 * between sites crosses the sender site's uplink (up) and the receiver
 * site's uplink (down); sites without an internet link are islands.
 *
 * SimGrid link ids: "LINK/DEV.up" and "LINK/DEV.down" (ethernet ports,
 * cellular modems), "LINK.up" and "LINK.down" (a site's internet link),
 * "LINK" (the air of a wifi cell). Ids starting with '~' are plumbing the
 * reports leave out: "~bridge/WIFI" joins a cell to its LAN and carries
 * the cell's latency (SimGrid wifi links have none), "~dc/DEV.up|down"
 * attach devices that sit directly on an internet link (a datacenter).
 *
 * Link latencies are not in the XML (latency="0s"): the driver delays
 * each delivered bundle by its route's latency (see transport.c).
 */
#ifndef SIM_PLATFORM_H
#define SIM_PLATFORM_H

#include "scenario.h"

#include <stdio.h>

typedef struct plat_link {
  char id[SC_NAME * 2 + 16];
  int sc_link; /* scenario link it realises, -1 for none */
  int dir;     /* 0 both/shared, 1 up (towards the core), 2 down */
  int hidden;  /* plumbing, left out of reports */
  int device;  /* the device of a per-device port, else -1 */
  double bw, latency;
} plat_link;

typedef struct platform {
  int nsites;
  char (*site)[SC_NAME + 8];
  int *uplink;   /* per site: scenario link index, -1 when none */
  int *dev_site; /* per device */
  plat_link *links;
  int nlinks;
} platform;

/* Sites and links of the generated platform (no SimGrid calls). */
int platform_build(const scenario *sc, platform *pl, char *err, size_t cap);
int platform_write_xml(const scenario *sc, const platform *pl, FILE *f);
/* Whether a and b can reach each other at all on the generated platform. */
int platform_routable(const platform *pl, int a, int b);
void platform_free(platform *pl);

#endif
