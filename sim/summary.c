/*
 * summary.c - what a run writes when it ends (sim/README.md lists the
 * files): the machine-readable summary (summary.csv, summary.json), and
 * the tables the plots and the report read (devices, links, pairs,
 * latency samples, link bandwidth over time, grids). Also the end-of-run
 * check of every sidecar each device holds: its bytes must hash to the
 * checksum its store records.
 */
#include "world.h"

#include "content.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
  FILE *csv, *json;
  int first;
} out;

static FILE *open_out(const world *w, const char *name) {
  char path[SC_PATH + 64];
  if (path_join(path, sizeof(path), w->opt.out_dir, name)) return NULL;
  FILE *f = fopen(path, "w");
  if (!f) fprintf(stderr, "vss-sim: cannot write %s\n", path);
  return f;
}

/* NA: a figure with no data (no sample, never reached, no capacity
 * known). It is written "n/a" in summary.csv and null in summary.json,
 * never 0 or -1, which a reader could take for a measurement. */
#define NA NAN

static void put_num(out *o, const char *name, double v) {
  if (isnan(v) || isinf(v)) {
    fprintf(o->csv, "%s,n/a\n", name);
    fprintf(o->json, "%s\n    \"%s\": null", o->first ? "" : ",", name);
  } else {
    fprintf(o->csv, "%s,%.10g\n", name, v);
    fprintf(o->json, "%s\n    \"%s\": %.10g", o->first ? "" : ",", name, v);
  }
  o->first = 0;
}

static void put_str(out *o, const char *name, const char *v) {
  fprintf(o->csv, "%s,%s\n", name, v);
  fprintf(o->json, "%s\n    \"%s\": \"", o->first ? "" : ",", name);
  for (const char *s = v; *s; s++)
    fprintf(o->json, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
  fputc('"', o->json);
  o->first = 0;
}

static void put_fmt(out *o, double v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_fmt(out *o, double v, const char *fmt, ...) {
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof(name), fmt, ap);
  va_end(ap);
  put_num(o, name, v);
}

/* ---- latency percentiles ----------------------------------------------------
 */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank: always a latency that was measured, never a value
 * interpolated between two samples. */
static double pct(const double *v, size_t n, double p) {
  if (!n) return NA;
  double r = ceil(p * (double)n);
  size_t i = r < 1 ? 0 : (size_t)r - 1;
  return v[i < n ? i : n - 1];
}

static void put_latency(out *o, world *w, int kind, const char *name) {
  double *v = xcalloc(w->nlat + 1, sizeof(double));
  size_t n = 0;
  double sum = 0;
  for (size_t i = 0; i < w->nlat; i++)
    if (w->lat[i].kind == kind) sum += v[n++] = w->lat[i].ms;
  qsort(v, n, sizeof(double), cmp_double);
  put_fmt(o, (double)n, "%s.count", name);
  put_fmt(o, n ? sum / (double)n : NA, "%s.mean_ms", name);
  put_fmt(o, pct(v, n, 0.5), "%s.p50_ms", name);
  put_fmt(o, pct(v, n, 0.9), "%s.p90_ms", name);
  put_fmt(o, pct(v, n, 0.99), "%s.p99_ms", name);
  put_fmt(o, n ? v[n - 1] : NA, "%s.max_ms", name);
  free(v);
}

/* ---- end-of-run verification
 * -------------------------------------------------- */

typedef struct verify_ctx {
  device *d;
  int64_t budget; /* rows still to hash (-1: all) */
} verify_ctx;

static int verify_row(void *user, const vss_avail_row *row) {
  verify_ctx *c = user;
  device *d = c->d;
  if (!row->has) return 0;
  d->m.held_end++;
  if ((unsigned)row->key.kind < VSS_KIND_COUNT) d->m.held_kind[row->key.kind]++;
  if (synth_blobs_pure(d->synth, &row->key, row->format) == 0) d->m.impure++;
  if (c->budget == 0) return 0;
  if (c->budget > 0) c->budget--;
  vss_hash h;
  int rc = vss_blobs_checksum(d->blobs, &row->key, row->format, row->size, &h);
  if (rc == 0 && vss_hash_eq(&h, &row->checksum))
    d->m.verified++;
  else
    d->m.verify_failed++;
  return 0;
}

static void verify_all(world *w) {
  for (int i = 0; i < w->ndev; i++) {
    verify_ctx c = {&w->devs[i], w->sc->verify};
    vss_store_iter_avail_since(w->devs[i].store, 0, verify_row, &c);
  }
}

/* ---- tables
 * ---------------------------------------------------------------------- */

/* Gossip bytes sent that were not full digest pages (a full page taken
 * from the node but never put, its peer gone, is not in gossip_tx). */
static uint64_t gossip_steady(const dev_metrics *m) {
  return m->gossip_tx > m->gossip_full_tx ? m->gossip_tx - m->gossip_full_tx
                                          : 0;
}

/* Received data frame bytes that did not become a verified sidecar:
 * falsified bytes of byzantine sources, and the rest (framing, data of
 * cancelled or duplicate requests, transfers left unfinished, stale
 * epochs). Bytes the sender resent are on its side (resent_tx). */
#define SEG_BYTES 1448 /* transport.c's TCP_MSS: one lost segment resent */

static uint64_t data_useful(const dev_metrics *m) {
  return m->fetched_bytes < m->data_rx ? m->fetched_bytes : m->data_rx;
}

static uint64_t data_other_waste(const dev_metrics *m) {
  uint64_t used = data_useful(m) + m->garbage_rx;
  return m->data_rx > used ? m->data_rx - used : 0;
}

static uint64_t resent_tx(const world *w, const dev_metrics *m) {
  return w->sc->faults_frames ? 0 : m->lost_tx * SEG_BYTES;
}

static void write_devices(world *w) {
  FILE *f = open_out(w, "devices.csv");
  if (!f) return;
  fputs("device,class,link,link_class,online_end,bytes_sent,bytes_received,"
        "gossip_bytes,data_sent,data_received,fetched,generated,held,verified,"
        "verify_failed,requests,requests_done,data_useful,garbage_rx,"
        "wasted_rx,resent_tx,gossip_first_tx,gossip_steady_tx\n",
        f);
  for (int i = 0; i < w->ndev; i++) {
    const device *d = &w->devs[i];
    const sc_link *l = &w->sc->links[d->cfg->link];
    fprintf(
        f,
        "%s,%s,%s,%s,%d,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,"
        "%llu,%llu,%llu,%llu,%llu,%llu,%llu\n",
        d->name, w->sc->classes[d->cfg->cls].name, l->name,
        vss_link_class_name(l->cls), w->online[i],
        (unsigned long long)d->m.tx_bytes, (unsigned long long)d->m.rx_bytes,
        (unsigned long long)(d->m.gossip_tx + d->m.gossip_rx),
        (unsigned long long)d->m.data_tx, (unsigned long long)d->m.data_rx,
        (unsigned long long)d->m.fetched,
        (unsigned long long)(d->m.gen_app + d->m.gen_resolver),
        (unsigned long long)d->m.held_end, (unsigned long long)d->m.verified,
        (unsigned long long)d->m.verify_failed,
        (unsigned long long)d->m.requests,
        (unsigned long long)d->m.requests_done,
        (unsigned long long)data_useful(&d->m),
        (unsigned long long)d->m.garbage_rx,
        (unsigned long long)data_other_waste(&d->m),
        (unsigned long long)resent_tx(w, &d->m),
        (unsigned long long)d->m.gossip_full_tx,
        (unsigned long long)gossip_steady(&d->m));
  }
  fclose(f);
}

static double link_peak(const world *w, const sim_link *l) {
  double m = 0;
  for (int b = 0; b < w->nbuckets; b++)
    if (l->series[b] > m) m = l->series[b];
  return m / w->bucket_s;
}

static void write_links(world *w, out *o) {
  FILE *f = open_out(w, "links.csv");
  if (!f) return;
  double dur = ns_to_s(w->end);
  /* goodput: sidecar data over the time data was in flight on the link */
  fputs("link,class,capacity_Bps,bytes,data_bytes,frames,data_busy_s,"
        "goodput_Bps,mean_Bps,peak_Bps,utilisation,peak_utilisation\n",
        f);
  for (int i = 0; i < w->nlinks; i++) {
    const sim_link *l = &w->links[i];
    if (l->hidden || l->bytes == 0) continue;
    double active = l->data_busy_s;
    /* no sidecar data crossed it: no goodput to speak of (not 0 B/s) */
    double goodput = active > 0 ? (double)l->data_bytes / active : NA;
    double util = l->capacity > 0 ? (double)l->bytes / (l->capacity * dur) : NA;
    double peak = link_peak(w, l);
    double peak_util = l->capacity > 0 ? peak / l->capacity : NA;
    const char *cls = l->sc_link >= 0
                          ? vss_link_class_name(w->sc->links[l->sc_link].cls)
                          : "";
    /* links.csv: -1 where the summary says n/a */
    fprintf(f, "%s,%s,%.0f,%llu,%llu,%llu,%.3f,%.0f,%.0f,%.0f,%.6f,%.6f\n",
            l->name, cls, l->capacity, (unsigned long long)l->bytes,
            (unsigned long long)l->data_bytes, (unsigned long long)l->frames,
            active, isnan(goodput) ? -1 : goodput, (double)l->bytes / dur, peak,
            isnan(util) ? -1 : util, isnan(peak_util) ? -1 : peak_util);
    put_fmt(o, (double)l->bytes, "link.%s.bytes", l->name);
    put_fmt(o, goodput, "link.%s.goodput_Bps", l->name);
    put_fmt(o, util, "link.%s.utilisation", l->name);
    put_fmt(o, peak_util, "link.%s.peak_utilisation", l->name);
  }
  fclose(f);
}

static int cmp_link_bytes(const void *a, const void *b) {
  const sim_link *x = *(sim_link *const *)a, *y = *(sim_link *const *)b;
  if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
  return strcmp(x->name, y->name);
}

static void write_util(world *w, sim_link **top, int n);

/* Bandwidth over time of the busiest links (at most 8), one column each. */
static void write_series(world *w) {
  FILE *f = open_out(w, "link_series.csv");
  if (!f) return;
  sim_link **top = xcalloc((size_t)w->nlinks + 1, sizeof(*top));
  int n = 0;
  for (int i = 0; i < w->nlinks; i++)
    if (!w->links[i].hidden && w->links[i].bytes) top[n++] = &w->links[i];
  qsort(top, (size_t)n, sizeof(*top), cmp_link_bytes);
  if (n > 8) n = 8;
  fputs("t_s", f);
  for (int i = 0; i < n; i++)
    fprintf(f, ",%s", top[i]->name);
  fputc('\n', f);
  int last = (int)(ns_to_s(w->end) / w->bucket_s);
  for (int b = 0; b <= last && b < w->nbuckets; b++) {
    fprintf(f, "%.3f", b * w->bucket_s);
    for (int i = 0; i < n; i++)
      fprintf(f, ",%.1f", top[i]->series[b] / w->bucket_s / 1e6);
    fputc('\n', f);
  }
  fclose(f);
  write_util(w, top, n);
  free(top);
}

/* A link's capacity through time: its first, then what each link-set
 * gave it (timeline.c set_link's rule). Buckets are asked in time order,
 * so the cursor only moves forward (global_ev is sorted by time). */
typedef struct cap_cursor {
  const sim_link *l;
  double c;
  int next; /* into w->global_ev */
} cap_cursor;

static double capacity_at(const world *w, cap_cursor *k, double t) {
  const sim_link *l = k->l;
  for (; k->next < w->nglobal; k->next++) {
    const sc_event *e = &w->sc->events[w->global_ev[k->next]];
    if (ns_to_s(e->at) > t) break;
    if (e->type != EV_LINK_SET || e->link != l->sc_link || l->hidden) continue;
    if ((e->set & EVS_UP) && l->dir != 2 && e->up > 0) k->c = e->up;
    if ((e->set & EVS_DOWN) && l->dir == 2 && e->down > 0) k->c = e->down;
  }
  return k->c;
}

/* Utilisation over time of the same links as link_series.csv (a share
 * of the capacity the link had in that bucket; -1 when unknown), the
 * capacity in each column's name. */
static void write_util(world *w, sim_link **top, int n) {
  FILE *f = open_out(w, "link_util.csv");
  if (!f) return;
  fputs("t_s", f);
  for (int i = 0; i < n; i++) {
    const sim_link *l = top[i];
    double c0 = l->cap0_set ? l->capacity0 : l->capacity;
    fprintf(f, ",%s (%.3g MB/s%s)", l->name, c0 / 1e6,
            l->cap0_set && l->capacity != c0 ? " at first" : "");
  }
  fputc('\n', f);
  cap_cursor *k = xcalloc((size_t)n + 1, sizeof(*k));
  for (int i = 0; i < n; i++) {
    k[i].l = top[i];
    k[i].c = top[i]->cap0_set ? top[i]->capacity0 : top[i]->capacity;
  }
  int last = (int)(ns_to_s(w->end) / w->bucket_s);
  for (int b = 0; b <= last && b < w->nbuckets; b++) {
    double t = b * w->bucket_s;
    fprintf(f, "%.3f", t);
    for (int i = 0; i < n; i++) {
      double c = capacity_at(w, &k[i], t);
      fprintf(f, ",%.4f", c > 0 ? top[i]->series[b] / w->bucket_s / c : -1);
    }
    fputc('\n', f);
  }
  free(k);
  fclose(f);
}

/* What happened when, for the marks on the time plots: the timeline's
 * world events (devices offline/online/restarted, links down/up/changed,
 * fault rates) and the user's requests and grids. */
static void write_marks(world *w) {
  FILE *f = open_out(w, "marks.csv");
  if (!f) return;
  fputs("t_s,event,target\n", f);
  for (int i = 0; i < w->sc->nevents; i++) {
    const sc_event *e = &w->sc->events[i];
    if (e->type == EV_GENERATE || e->type == EV_GOSSIP) continue;
    const char *who = e->device >= 0 ? w->sc->devices[e->device].name
                      : e->link >= 0 ? w->sc->links[e->link].name
                                     : "";
    fprintf(f, "%.6f,%s,%s\n", ns_to_s(e->at), sc_ev_name(e->type), who);
  }
  fclose(f);
}

/* Who sent sidecar data to whom; in the summary too for small fleets
 * (every pair, zeros included, so a test can assert who was NOT used). */
static void write_pairs(world *w, out *o) {
  FILE *f = open_out(w, "pairs.csv");
  if (!f) return;
  fputs("src,dst,bytes,data_bytes\n", f);
  for (int a = 0; a < w->ndev; a++)
    for (int b = 0; b < w->ndev; b++) {
      if (a == b) continue;
      if (w->pair_bytes[a][b])
        fprintf(f, "%s,%s,%llu,%llu\n", w->devs[a].name, w->devs[b].name,
                (unsigned long long)w->pair_bytes[a][b],
                (unsigned long long)w->pair_data[a][b]);
      if (w->ndev <= 8)
        put_fmt(o, (double)w->pair_data[a][b], "pair.%s.%s.data_bytes",
                w->devs[a].name, w->devs[b].name);
    }
  fclose(f);
}

static void write_latency(world *w) {
  static const char *kinds[LAT_COUNT] = {"exchange", "fg_fetch", "prefetch",
                                         "request_ready"};
  FILE *f = open_out(w, "latency.csv");
  if (!f) return;
  fputs("kind,device,ms\n", f);
  for (size_t i = 0; i < w->nlat; i++)
    fprintf(f, "%s,%s,%.6f\n", kinds[w->lat[i].kind],
            w->devs[w->lat[i].device].name, w->lat[i].ms);
  fclose(f);
}

static void write_grids(world *w, out *o) {
  FILE *f = open_out(w, "grids.csv");
  if (!f) return;
  fputs("device,t0_s,items,done,local,first_ms,all_ms\n", f);
  double first = NA, all = NA;
  for (int g = 0; g < w->ngrids; g++) {
    const grid *gr = &w->grids[g];
    double f_ms =
        gr->first == VSS_TIME_UNSET ? -1 : ns_to_ms(gr->first - gr->t0);
    double a_ms = gr->done == gr->n ? ns_to_ms(gr->last - gr->t0) : -1;
    fprintf(f, "%s,%.6f,%u,%u,%u,%.3f,%.3f\n", w->devs[gr->device].name,
            ns_to_s(gr->t0), gr->n, gr->done, gr->local, f_ms, a_ms);
    if (g == 0) first = f_ms < 0 ? NA : f_ms, all = a_ms < 0 ? NA : a_ms;
  }
  fclose(f);
  put_num(o, "first_thumb_ms", first);
  put_num(o, "grid_complete_ms", all);
}

/* Single requests (timeline "request"): when each was ready and where it
 * came from; the first one is in the summary too. */
static void write_requests(world *w, out *o) {
  FILE *f = open_out(w, "requests.csv");
  if (!f) return;
  fputs("device,t0_s,content,kind,variant,ready_ms,source,status,reason\n", f);
  int first = 1;
  for (size_t i = 0; i < w->nreqs; i++) {
    const request *r = &w->reqs[i];
    if (r->grid >= 0) continue;
    char id[VSS_UUID_STR_LEN + 1];
    vss_uuid_format(&r->key.content, id);
    double ms = r->done ? ns_to_ms(r->ready - r->t0) : -1;
    const char *src = r->source >= 0                   ? w->devs[r->source].name
                      : r->source == REQ_SRC_GENERATED ? "generated"
                      : r->done                        ? "local"
                                                       : "";
    const char *st = r->done ? "ready" : r->failed ? "failed" : "open";
    fprintf(f, "%s,%.6f,%s,%s,%s,%.3f,%s,%s,%s\n", w->devs[r->device].name,
            ns_to_s(r->t0), id, vss_kind_name(r->key.kind), r->key.variant, ms,
            src, st, !r->done && r->failed ? vss_strerror(r->rc) : "");
    if (first) {
      put_num(o, "first_request_ms", ms < 0 ? NA : ms);
      if (r->source >= 0)
        put_fmt(o, 1, "first_request.from.%s", w->devs[r->source].name);
      first = 0;
    }
  }
  fclose(f);
}

/* ---- totals
 * ------------------------------------------------------------------------- */

static void put_totals(out *o, world *w) {
  /* dev_metrics holds only uint64_t counters (arrays included): sum them
   * as one array. */
  dev_metrics t;
  memset(&t, 0, sizeof(t));
  for (int i = 0; i < w->ndev; i++) {
    const dev_metrics *m = &w->devs[i].m;
    uint64_t *dst = (uint64_t *)&t;
    const uint64_t *src = (const uint64_t *)m;
    for (size_t k = 0; k < sizeof(t) / sizeof(uint64_t); k++)
      dst[k] += src[k];
  }
  double hours = ns_to_s(w->end) / 3600.0;
  put_num(o, "frames", (double)t.tx_frames);
  put_num(o, "bytes", (double)t.tx_bytes);
  put_num(o, "fetches", (double)t.fetched);
  put_num(o, "fetches.fg", (double)t.fetched_fg);
  put_num(o, "fetches.prefetch", (double)t.fetched_prefetch);
  put_num(o, "fetches.bytes", (double)t.fetched_bytes);
  put_num(o, "fetches.satisfied_locally", (double)t.satisfied_locally);
  put_num(o, "generations.local", (double)(t.gen_app + t.gen_resolver));
  put_num(o, "generations.app", (double)t.gen_app);
  put_num(o, "generations.fallback", (double)t.gen_resolver);
  put_num(o, "generations.failed", (double)t.gen_failed);
  put_num(o, "failures.fetch_failed", (double)t.ev[VSS_EV_FETCH_FAILED]);
  put_num(o, "failures.chunk_bad", (double)t.ev[VSS_EV_CHUNK_BAD]);
  put_num(o, "failures.retries", (double)t.ev[VSS_EV_RETRY]);
  put_num(o, "failures.sources_dropped", (double)t.ev[VSS_EV_SOURCE_DROPPED]);
  put_num(o, "failures.proto_errors", (double)t.proto_errors);
  put_num(o, "failures.peers_dropped", (double)t.ev[VSS_EV_PEER_DROPPED]);
  put_num(o, "transport.pushbacks", (double)t.pushbacks);
  uint64_t useful = 0, waste = 0;
  for (int i = 0; i < w->ndev; i++) {
    useful += data_useful(&w->devs[i].m);
    waste += data_other_waste(&w->devs[i].m);
  }
  put_num(o, "data.received_bytes", (double)t.data_rx);
  put_num(o, "data.useful_bytes", (double)useful);
  put_num(o, "data.garbage_bytes", (double)t.garbage_rx);
  put_num(o, "data.other_waste_bytes", (double)waste);
  if (!w->sc->faults_frames)
    put_num(o, "data.resent_bytes", (double)resent_tx(w, &t));
  if (w->sc->faults_frames) {
    put_num(o, "faults.frames_lost", (double)t.lost_tx);
    put_num(o, "faults.frames_corrupted", (double)t.corrupted_tx);
  } else {
    put_num(o, "faults.segments_retransmitted", (double)t.lost_tx);
    put_num(o, "faults.connections_damaged", (double)t.corrupted_tx);
    put_num(o, "faults.connection_resets", (double)t.resets);
  }
  /* n/a unless some device received falsified bytes */
  double liar_s = NA;
  for (int i = 0; i < w->ndev; i++) {
    const device *d = &w->devs[i];
    if (!d->garbage_first) continue;
    double s = d->liar_last > d->garbage_first
                   ? ns_to_s(d->liar_last - d->garbage_first)
                   : 0;
    if (isnan(liar_s) || s > liar_s) liar_s = s;
  }
  put_num(o, "misbehave.frames", (double)t.misbehaved);
  put_num(o, "byzantine.garbage_bytes", (double)t.garbage_rx);
  put_num(o, "byzantine.chosen_after_first_bad_s", liar_s);
  put_num(o, "faults.frames_stale", (double)t.stale_rx);
  /* A full digest is sent once per peer (first exchange, or a resync
   * after a cache expiry or an epoch change): its bytes scale with the
   * library, not with time, so they are not an hourly rate. The steady
   * state (HELLO rounds and delta digests) is the rest, over the run. */
  uint64_t steady = gossip_steady(&t);
  put_num(o, "gossip.bytes", (double)t.gossip_tx);
  put_num(o, "gossip.bytes_per_hour", (double)t.gossip_tx / hours);
  put_num(o, "gossip.full_bytes", (double)t.gossip_full_tx);
  put_num(o, "gossip.full_pages", (double)t.gossip_full_pages);
  put_num(o, "gossip.first_exchange_bytes_per_device",
          (double)t.gossip_full_tx / w->ndev);
  put_num(o, "gossip.steady_bytes", (double)steady);
  put_num(o, "gossip.steady_window_s", ns_to_s(w->end));
  put_num(o, "gossip.steady_bytes_per_device_hour",
          (double)steady / hours / w->ndev);
  put_num(o, "gossip.digests_sent", (double)t.ev[VSS_EV_DIGEST_SENT]);
  put_num(o, "request.count", (double)t.requests);
  put_num(o, "request.done", (double)t.requests_done);
  put_num(o, "request.local", (double)t.requests_local);
  put_num(o, "request.failed", (double)t.requests_failed);
  put_num(o, "request.pending",
          (double)(t.requests - t.requests_done - t.requests_failed));
  put_num(o, "verify.held", (double)t.held_end);
  put_num(o, "verify.checked", (double)(t.verified + t.verify_failed));
  put_num(o, "verify.failed", (double)t.verify_failed);
  put_num(o, "verify.impure", (double)t.impure);
}

static void put_devices(out *o, world *w) {
  double hours = ns_to_s(w->end) / 3600.0;
  for (int i = 0; i < w->ndev; i++) {
    const device *d = &w->devs[i];
    const char *n = d->name;
    put_fmt(o, (double)d->m.tx_bytes, "device.%s.bytes_sent", n);
    put_fmt(o, (double)d->m.rx_bytes, "device.%s.bytes_received", n);
    put_fmt(o, (double)d->m.gossip_full_tx, "device.%s.gossip_first_bytes", n);
    put_fmt(o, (double)gossip_steady(&d->m) / hours,
            "device.%s.gossip_steady_bytes_per_hour", n);
    put_fmt(o, (double)d->m.held_end, "device.%s.held", n);
    for (int k = 0; k < VSS_KIND_COUNT; k++)
      if (d->m.held_kind[k])
        put_fmt(o, (double)d->m.held_kind[k], "device.%s.held.%s", n,
                vss_kind_name((vss_kind)k));
    put_fmt(o, (double)d->m.verified, "device.%s.verified", n);
    put_fmt(o, (double)d->m.verify_failed, "device.%s.verify_failed", n);
    put_fmt(o, (double)d->m.fetched, "device.%s.fetched", n);
    put_fmt(o, (double)(d->m.gen_app + d->m.gen_resolver),
            "device.%s.generated", n);
    put_fmt(o, d->busy_s, "device.%s.host_busy_s", n);
    put_fmt(o, (double)data_useful(&d->m), "device.%s.data_useful_bytes", n);
    put_fmt(o, (double)(d->m.garbage_rx + data_other_waste(&d->m)),
            "device.%s.data_wasted_bytes", n);
    put_fmt(o, (double)d->m.requests_done, "device.%s.requests_done", n);
    put_fmt(o, (double)d->m.requests_failed, "device.%s.requests_failed", n);
    if (d->cfg->misbehave)
      put_fmt(o, (double)d->m.misbehaved, "device.%s.misbehaved_frames", n);
    put_fmt(o,
            (double)(d->m.requests - d->m.requests_done - d->m.requests_failed),
            "device.%s.requests_open", n);
  }
}

static double conv_s(vss_time t) {
  return t == VSS_TIME_UNSET ? NA : ns_to_s(t);
}

int summary_write(world *w, double wall_s, long peak_kb) {
  double t0 = wall_now();
  misbehave_end(w);
  verify_all(w);
  out o = {open_out(w, "summary.csv"), open_out(w, "summary.json"), 1};
  if (!o.csv || !o.json) {
    if (o.csv) fclose(o.csv);
    if (o.json) fclose(o.json);
    return -1;
  }
  char seed[32];
  snprintf(seed, sizeof(seed), "%llu", (unsigned long long)w->sc->seed);
  fputs("metric,value\n", o.csv);
  fputs("{\n  \"summary\": {", o.json);
  put_str(&o, "scenario", w->sc->name);
  put_str(&o, "seed", seed);
  put_str(&o, "model", w->sc->model);
  put_num(&o, "duration_s", ns_to_s(w->end));
  /* 1 when --max-wall cut the run at duration_s (of the scenario's). */
  put_num(&o, "stopped_early", w->stopped_at ? 1 : 0);
  put_num(&o, "devices", w->ndev);
  put_latency(&o, w, LAT_EXCHANGE, "exchange");
  put_latency(&o, w, LAT_FG_FETCH, "fg_fetch");
  put_latency(&o, w, LAT_PREFETCH, "prefetch");
  put_latency(&o, w, LAT_REQUEST, "request_ready");
  write_grids(w, &o);
  write_requests(w, &o);
  put_num(&o, "convergence.availability_s", conv_s(w->avail_converged));
  put_num(&o, "convergence.holders_s", conv_s(w->holders_converged));
  put_num(&o, "convergence.last_online_s", ns_to_s(w->last_online));
  put_num(&o, "thumbnails", (double)w->nthumbs);
  put_totals(&o, w);
  put_devices(&o, w);
  write_links(w, &o);
  write_pairs(w, &o);
  fputs("\n  }\n}\n", o.json);
  fclose(o.csv);
  fclose(o.json);
  write_devices(w);
  write_series(w);
  write_marks(w);
  write_latency(w);
  /* Host figures apart: summary.csv must replay byte for byte. */
  /* wall_s is everything until the summary is written: setup (parsing,
   * nodes, start sidecars hashed and recorded, platform) + the run + the
   * end-of-run check and data files. The report's own time is appended
   * by summary_report_wall. */
  double summary_s = wall_now() - t0;
  FILE *f = open_out(w, "run.csv");
  if (f) {
    fprintf(f,
            "metric,value\nwall_s,%.3f\nsetup_wall_s,%.3f\nrun_wall_s,%.3f\n"
            "summary_wall_s,%.3f\npeak_rss_kb,%ld\nframes,%llu\n"
            "node_events,%llu\n",
            w->wall_setup_s + wall_s + summary_s, w->wall_setup_s, wall_s,
            summary_s, peak_kb, (unsigned long long)w->frames_total,
            (unsigned long long)w->events_total);
    fclose(f);
  }
  return 0;
}

void summary_report_wall(world *w, double report_s) {
  char path[SC_PATH + 64];
  if (path_join(path, sizeof(path), w->opt.out_dir, "run.csv")) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "report_wall_s,%.3f\n", report_s);
  fclose(f);
}
