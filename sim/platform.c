/*
 * platform.c - see platform.h. Routes inside a LAN zone are listed pair
 * by pair (Full routing, asymmetric) because SimGrid 3.32's XML Cluster
 * zones cannot route to their gateway router.
 */
#include "platform.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DC_BW 1.25e9 /* 10 Gb/s datacenter / modem-side ports */
#define DC_LAT 50e-6
#define BRIDGE_BW 1.25e9 /* access point to LAN */

static int add_site(platform *pl, const char *name) {
  for (int i = 0; i < pl->nsites; i++)
    if (strcmp(pl->site[i], name) == 0) return i;
  pl->site = xrealloc(pl->site, (size_t)(pl->nsites + 1) * sizeof(*pl->site));
  pl->uplink = xrealloc(pl->uplink, (size_t)(pl->nsites + 1) * sizeof(int));
  scopy(pl->site[pl->nsites], sizeof(pl->site[0]), name);
  pl->uplink[pl->nsites] = -1;
  return pl->nsites++;
}

static void add_link(platform *pl, const char *id, int sc_link, int dir,
                     int hidden, int device, double bw, double lat) {
  pl->links =
      xrealloc(pl->links, (size_t)(pl->nlinks + 1) * sizeof(*pl->links));
  plat_link *l = &pl->links[pl->nlinks++];
  memset(l, 0, sizeof(*l));
  scopy(l->id, sizeof(l->id), id);
  l->sc_link = sc_link;
  l->dir = dir;
  l->hidden = hidden;
  l->device = device;
  l->bw = bw;
  l->latency = lat;
}

static void port_links(platform *pl, const char *prefix, int sc_link,
                       int hidden, int dev, const char *devname, double up,
                       double down, double lat) {
  char id[SC_NAME * 2 + 16];
  snprintf(id, sizeof(id), "%s/%s.up", prefix, devname);
  add_link(pl, id, sc_link, 1, hidden, dev, up, lat);
  snprintf(id, sizeof(id), "%s/%s.down", prefix, devname);
  add_link(pl, id, sc_link, 2, hidden, dev, down, lat);
}

/* Per device: its site, and its port links (ethernet, datacenter). */
static void place_device(const scenario *sc, platform *pl, int d) {
  const sc_device *dev = &sc->devices[d];
  const sc_link *l = &sc->links[dev->link];
  char cell[SC_NAME + 8];
  switch (l->cls) {
  case VSS_LINK_ETHERNET:
    pl->dev_site[d] = add_site(pl, l->site);
    port_links(pl, l->name, dev->link, 0, d, dev->name, l->up, l->down,
               l->latency);
    break;
  case VSS_LINK_WIFI:
    pl->dev_site[d] = add_site(pl, l->site);
    break;
  case VSS_LINK_INTERNET:
    pl->dev_site[d] = add_site(pl, l->site);
    port_links(pl, "~dc", -1, 1, d, dev->name, DC_BW, DC_BW, DC_LAT);
    break;
  default: /* cellular: a site of its own behind its modem */
    snprintf(cell, sizeof(cell), "cell-%s", dev->name);
    pl->dev_site[d] = add_site(pl, cell);
    pl->uplink[pl->dev_site[d]] = dev->link;
    port_links(pl, "~dc", -1, 1, d, dev->name, DC_BW, DC_BW, DC_LAT);
    port_links(pl, l->name, dev->link, 0, d, dev->name, l->up, l->down,
               l->latency);
    break;
  }
}

int platform_build(const scenario *sc, platform *pl, char *err, size_t cap) {
  memset(pl, 0, sizeof(*pl));
  pl->dev_site = xcalloc((size_t)sc->ndevices, sizeof(int));
  for (int i = 0; i < sc->nlinks; i++) {
    const sc_link *l = &sc->links[i];
    if (l->cls == VSS_LINK_CELLULAR) continue;
    int s = add_site(pl, l->site);
    if (l->cls == VSS_LINK_INTERNET) {
      pl->uplink[s] = i;
      char id[SC_NAME + 8];
      snprintf(id, sizeof(id), "%s.up", l->name);
      add_link(pl, id, i, 1, 0, -1, l->up, l->latency);
      snprintf(id, sizeof(id), "%s.down", l->name);
      add_link(pl, id, i, 2, 0, -1, l->down, l->latency);
    } else if (l->cls == VSS_LINK_WIFI) {
      char id[SC_NAME + 16];
      add_link(pl, l->name, i, 0, 0, -1, l->rates[0], 0);
      snprintf(id, sizeof(id), "~bridge/%s", l->name);
      add_link(pl, id, i, 0, 1, -1, BRIDGE_BW, l->latency);
    }
  }
  for (int d = 0; d < sc->ndevices; d++)
    place_device(sc, pl, d);
  (void)err;
  (void)cap;
  return 0;
}

int platform_routable(const platform *pl, int a, int b) {
  int sa = pl->dev_site[a], sb = pl->dev_site[b];
  return sa == sb || (pl->uplink[sa] >= 0 && pl->uplink[sb] >= 0);
}

void platform_free(platform *pl) {
  free(pl->site);
  free(pl->uplink);
  free(pl->dev_site);
  free(pl->links);
  memset(pl, 0, sizeof(*pl));
}

/* ---- XML ---------------------------------------------------------------- */

/* Latencies stay out of the XML: the driver adds each route's
 * propagation delay to every bundle (transport.c), so SimGrid only shares
 * bandwidth. Frames on a warm connection then pay the latency once per
 * byte stream, not once per message. */
static void xml_link(FILE *f, const char *indent, const plat_link *l,
                     const char *policy) {
  fprintf(f,
          "%s<link id=\"%s\" bandwidth=\"%.17gBps\" latency=\"0s\"%s/>"
          "<!-- %.9g s, added by vss-sim -->\n",
          indent, l->id, l->bw, policy, l->latency);
}

static const plat_link *find_plink(const platform *pl, const char *id) {
  for (int i = 0; i < pl->nlinks; i++)
    if (strcmp(pl->links[i].id, id) == 0) return &pl->links[i];
  return NULL;
}

/* The two port link ids of a LAN device (ethernet port or datacenter). */
static void port_ids(const scenario *sc, int d, char *up, char *down,
                     size_t cap) {
  const sc_device *dev = &sc->devices[d];
  const sc_link *l = &sc->links[dev->link];
  const char *prefix = l->cls == VSS_LINK_ETHERNET ? l->name : "~dc";
  snprintf(up, cap, "%s/%s.up", prefix, dev->name);
  snprintf(down, cap, "%s/%s.down", prefix, dev->name);
}

static int in_lan(const scenario *sc, const platform *pl, int d, int s) {
  return pl->dev_site[d] == s &&
         sc->links[sc->devices[d].link].cls != VSS_LINK_WIFI;
}

static void route(FILE *f, const char *src, const char *dst, const char *l1,
                  const char *l2) {
  fprintf(f,
          "      <route src=\"%s\" dst=\"%s\" symmetrical=\"NO\">"
          "<link_ctn id=\"%s\"/>",
          src, dst, l1);
  if (l2) fprintf(f, "<link_ctn id=\"%s\"/>", l2);
  fprintf(f, "</route>\n");
}

static void write_lan(FILE *f, const scenario *sc, const platform *pl, int s) {
  const char *site = pl->site[s];
  char ua[160], da[160], ub[160], db[160], gw[SC_NAME + 16];
  snprintf(gw, sizeof(gw), "_gw.%s", site);
  fprintf(f, "    <zone id=\"z.%s.lan\" routing=\"Full\">\n", site);
  for (int d = 0; d < sc->ndevices; d++)
    if (in_lan(sc, pl, d, s))
      fprintf(f, "      <host id=\"%s\" speed=\"1Gf\"/>\n",
              sc->devices[d].name);
  fprintf(f, "      <router id=\"%s\"/>\n", gw);
  for (int d = 0; d < sc->ndevices; d++) {
    if (!in_lan(sc, pl, d, s)) continue;
    port_ids(sc, d, ua, da, sizeof(ua));
    xml_link(f, "      ", find_plink(pl, ua), "");
    xml_link(f, "      ", find_plink(pl, da), "");
  }
  for (int a = 0; a < sc->ndevices; a++) {
    if (!in_lan(sc, pl, a, s)) continue;
    port_ids(sc, a, ua, da, sizeof(ua));
    route(f, sc->devices[a].name, gw, ua, NULL);
    route(f, gw, sc->devices[a].name, da, NULL);
    for (int b = 0; b < sc->ndevices; b++) {
      if (b == a || !in_lan(sc, pl, b, s)) continue;
      port_ids(sc, b, ub, db, sizeof(ub));
      route(f, sc->devices[a].name, sc->devices[b].name, ua, db);
    }
  }
  fprintf(f, "    </zone>\n");
}

static void write_wifi(FILE *f, const scenario *sc, const platform *pl, int w) {
  const sc_link *l = &sc->links[w];
  fprintf(f, "    <zone id=\"z.wifi.%s\" routing=\"Wifi\">\n", l->name);
  fprintf(f, "      <prop id=\"access_point\" value=\"_ap.%s\"/>\n", l->name);
  for (int d = 0; d < sc->ndevices; d++)
    if (sc->devices[d].link == w)
      fprintf(f, "      <host id=\"%s\" speed=\"1Gf\"/>\n",
              sc->devices[d].name);
  fprintf(f, "      <link id=\"%s\" sharing_policy=\"WIFI\" bandwidth=\"",
          l->name);
  for (int i = 0; i < l->nrates; i++)
    fprintf(f, "%s%.17gBps", i ? "," : "", l->rates[i]);
  fprintf(f, "\" latency=\"0s\"/>\n");
  fprintf(f, "      <router id=\"_ap.%s\"/>\n", l->name);
  fprintf(f, "    </zone>\n");
  (void)pl;
}

static void zone_route(FILE *f, const char *indent, const char *src,
                       const char *dst, const char *gs, const char *gd,
                       const char *l1, const char *l2) {
  fprintf(f,
          "%s<zoneRoute src=\"%s\" dst=\"%s\" gw_src=\"%s\" gw_dst=\"%s\" "
          "symmetrical=\"NO\"><link_ctn id=\"%s\"/>",
          indent, src, dst, gs, gd, l1);
  if (l2) fprintf(f, "<link_ctn id=\"%s\"/>", l2);
  fprintf(f, "</zoneRoute>\n");
}

/* Wifi cells of a site: bridges, and routes cell <-> LAN, cell <-> cell. */
static void write_cells(FILE *f, const scenario *sc, const platform *pl,
                        int s) {
  char gw[SC_NAME + 16], lan[SC_NAME + 16], cell[SC_NAME + 16];
  snprintf(gw, sizeof(gw), "_gw.%s", pl->site[s]);
  snprintf(lan, sizeof(lan), "z.%s.lan", pl->site[s]);
  for (int w = 0; w < sc->nlinks; w++) {
    const sc_link *l = &sc->links[w];
    if (l->cls != VSS_LINK_WIFI || strcmp(l->site, pl->site[s]) != 0) continue;
    write_wifi(f, sc, pl, w);
    char bridge[SC_NAME + 16], ap[SC_NAME + 16];
    snprintf(bridge, sizeof(bridge), "~bridge/%s", l->name);
    snprintf(ap, sizeof(ap), "_ap.%s", l->name);
    snprintf(cell, sizeof(cell), "z.wifi.%s", l->name);
    xml_link(f, "    ", find_plink(pl, bridge), "");
    zone_route(f, "    ", cell, lan, ap, gw, bridge, NULL);
    zone_route(f, "    ", lan, cell, gw, ap, bridge, NULL);
    for (int v = 0; v < w; v++) {
      const sc_link *m = &sc->links[v];
      if (m->cls != VSS_LINK_WIFI || strcmp(m->site, l->site) != 0) continue;
      char bm[SC_NAME + 16], am[SC_NAME + 16], cm[SC_NAME + 16];
      snprintf(bm, sizeof(bm), "~bridge/%s", m->name);
      snprintf(am, sizeof(am), "_ap.%s", m->name);
      snprintf(cm, sizeof(cm), "z.wifi.%s", m->name);
      zone_route(f, "    ", cell, cm, ap, am, bridge, bm);
      zone_route(f, "    ", cm, cell, am, ap, bm, bridge);
    }
  }
}

/* Uplink link ids of a site ("LINK.up" or, for a modem, "LINK/DEV.up"). */
static void uplink_ids(const scenario *sc, const platform *pl, int s, char *up,
                       char *down, size_t cap) {
  const sc_link *l = &sc->links[pl->uplink[s]];
  if (l->cls == VSS_LINK_CELLULAR) {
    for (int d = 0; d < sc->ndevices; d++)
      if (pl->dev_site[d] == s) {
        snprintf(up, cap, "%s/%s.up", l->name, sc->devices[d].name);
        snprintf(down, cap, "%s/%s.down", l->name, sc->devices[d].name);
      }
    return;
  }
  snprintf(up, cap, "%s.up", l->name);
  snprintf(down, cap, "%s.down", l->name);
}

static void write_internet(FILE *f, const scenario *sc, const platform *pl) {
  for (int i = 0; i < pl->nlinks; i++) {
    const plat_link *l = &pl->links[i];
    int cell_port = l->sc_link >= 0 && l->device >= 0 &&
                    sc->links[l->sc_link].cls == VSS_LINK_CELLULAR;
    int uplink = l->sc_link >= 0 && l->device < 0 &&
                 sc->links[l->sc_link].cls == VSS_LINK_INTERNET;
    if (cell_port || uplink) xml_link(f, "  ", l, "");
  }
  for (int a = 0; a < pl->nsites; a++)
    for (int b = 0; b < pl->nsites; b++) {
      if (a == b || pl->uplink[a] < 0 || pl->uplink[b] < 0) continue;
      char ua[160], da[160], ub[160], db[160], ga[SC_NAME + 16],
          gb[SC_NAME + 16];
      char za[SC_NAME + 16], zb[SC_NAME + 16];
      uplink_ids(sc, pl, a, ua, da, sizeof(ua));
      uplink_ids(sc, pl, b, ub, db, sizeof(ub));
      snprintf(ga, sizeof(ga), "_gw.%s", pl->site[a]);
      snprintf(gb, sizeof(gb), "_gw.%s", pl->site[b]);
      snprintf(za, sizeof(za), "z.%s", pl->site[a]);
      snprintf(zb, sizeof(zb), "z.%s", pl->site[b]);
      zone_route(f, "  ", za, zb, ga, gb, ua, db);
    }
}

int platform_write_xml(const scenario *sc, const platform *pl, FILE *f) {
  fprintf(f,
          "<?xml version='1.0'?>\n"
          "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
          "<!-- Generated by vss-sim from %s (see sim/platform.h) -->\n"
          "<platform version=\"4.1\">\n"
          "<zone id=\"world\" routing=\"Full\">\n",
          sc->path);
  for (int s = 0; s < pl->nsites; s++) {
    fprintf(f, "  <zone id=\"z.%s\" routing=\"Full\">\n", pl->site[s]);
    write_lan(f, sc, pl, s);
    write_cells(f, sc, pl, s);
    fprintf(f, "  </zone>\n");
  }
  write_internet(f, sc, pl);
  fprintf(f, "</zone>\n</platform>\n");
  return ferror(f) ? -1 : 0;
}
