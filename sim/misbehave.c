/*
 * misbehave.c - a device that misbehaves towards the peers it serves
 * ([device] misbehave = stall | refuse, from misbehave_from on). Its
 * node's protocol logic is honest; what it can deliver is not:
 *
 *   stall   the node's XFER_DATA frames never leave the device (a hung
 *           disk or process behind a live connection: HELLO, PING,
 *           digests and transfer control still flow, so it stays a
 *           holder others ask, and its requests time out);
 *   refuse  its blob store fails every read (VSS_ERR_IO) while the run
 *           goes on: it advertises what it holds, and the node itself
 *           answers each request with an error;
 *   lie     a digest liar: what its store lists (and its digests
 *           announce) is not there when asked: reads and stats say
 *           VSS_ERR_NOT_FOUND, which requesters take as evidence against
 *           that holder for that sidecar (they drop it from their cache
 *           and do not ask it again for it).
 *
 * Only public headers: the driver knows a data frame by its class
 * (vss/frame.h), and refusing goes through a vss_blob_methods wrapper.
 * Setup (start sidecars recorded before the run) and the end-of-run
 * check read through the wrapper freely.
 */
#include "world.h"

#include "vss/frame.h"

#include <stdlib.h>

static int active(const device *d) {
  const sc_device *c = d->cfg;
  return c && c->misbehave != SC_MB_NONE && d->mb_running &&
         d->now >= c->misbehave_from;
}

int misbehave_outgoing(device *d, const uint8_t *frame, size_t len) {
  d->mb_running = 1; /* the run has begun: frames are being sent */
  if (!active(d) || d->cfg->misbehave != SC_MB_STALL) return 0;
  if (vss_frame_classify(frame, len) != VSS_FRAME_DATA) return 0;
  d->m.misbehaved++;
  return 1;
}

void misbehave_end(world *w) {
  for (int i = 0; i < w->ndev; i++)
    w->devs[i].mb_running = 0;
}

/* ---- refuse: the blob store wrapper ---------------------------------- */

typedef struct refuser {
  device *d;
  vss_blobs *inner;
} refuser;

static int r_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                       uint64_t size, void **tmp) {
  return vss_blobs_open_temp(((refuser *)ctx)->inner, key, fmt, size, tmp);
}

static int r_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                   size_t len) {
  return vss_blobs_write(((refuser *)ctx)->inner, tmp, off, buf, len);
}

static int r_commit(void *ctx, void *tmp) {
  return vss_blobs_commit(((refuser *)ctx)->inner, tmp);
}

static void r_discard(void *ctx, void *tmp) {
  vss_blobs_discard(((refuser *)ctx)->inner, tmp);
}

static int r_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                  void *buf, size_t len) {
  refuser *r = ctx;
  if (active(r->d)) {
    r->d->m.misbehaved++;
    return r->d->cfg->misbehave == SC_MB_LIE ? VSS_ERR_NOT_FOUND : VSS_ERR_IO;
  }
  return vss_blobs_read(r->inner, key, fmt, off, buf, len);
}

static int r_stat(void *ctx, const vss_key *key, vss_format fmt,
                  uint64_t *size) {
  refuser *r = ctx;
  if (active(r->d) && r->d->cfg->misbehave == SC_MB_LIE)
    return VSS_ERR_NOT_FOUND;
  return vss_blobs_stat(r->inner, key, fmt, size);
}

static int r_remove(void *ctx, const vss_key *key, vss_format fmt) {
  return vss_blobs_remove(((refuser *)ctx)->inner, key, fmt);
}

static void r_close(void *ctx) {
  refuser *r = ctx;
  vss_blobs_del(r->inner);
  free(r);
}

static const vss_blob_methods refuser_methods = {
    .open_temp = r_open_temp,
    .write = r_write,
    .commit = r_commit,
    .discard = r_discard,
    .read = r_read,
    .stat = r_stat,
    .remove = r_remove,
    .close = r_close,
};

int misbehave_wrap_blobs(device *d) {
  if (!d->cfg ||
      (d->cfg->misbehave != SC_MB_REFUSE && d->cfg->misbehave != SC_MB_LIE))
    return 0;
  refuser *r = xcalloc(1, sizeof(*r));
  r->d = d;
  r->inner = d->blobs;
  int rc = vss_blobs_new(&d->blobs, &refuser_methods, r);
  if (rc) {
    d->blobs = r->inner;
    free(r);
  }
  return rc;
}
