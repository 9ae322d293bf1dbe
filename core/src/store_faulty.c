/*
 * store_faulty.c - fault injection for the metadata store: forwards every
 * method to an inner store, but fails the fail_at-th call (and, when
 * sticky, every later one) with VSS_ERR_STORE, without forwarding it.
 *
 * Tests loop fail_at over 1..K to show that each multi-step operation
 * leaves no partial state whichever step fails. close() is not counted:
 * it cannot fail.
 */
#include <stdlib.h>

#include "vss/store.h"

typedef struct faulty {
  vss_store *inner; /* not owned */
  uint64_t fail_at; /* 0: never */
  uint64_t calls;
  int sticky;
} faulty;

/* Counts the call; non-zero when it is to fail. */
static int fault(faulty *f) {
  f->calls++;
  if (f->fail_at == 0) return 0;
  return f->calls == f->fail_at || (f->sticky && f->calls > f->fail_at);
}

#define FORWARD(ctx, call)                                                     \
  do {                                                                         \
    faulty *f_ = (ctx);                                                        \
    if (fault(f_)) return VSS_ERR_STORE;                                       \
    return call;                                                               \
  } while (0)

static int fy_begin(void *ctx) {
  FORWARD(ctx, vss_store_begin(f_->inner));
}

static int fy_commit(void *ctx) {
  FORWARD(ctx, vss_store_commit(f_->inner));
}

static int fy_rollback(void *ctx) {
  FORWARD(ctx, vss_store_rollback(f_->inner));
}

static int fy_get_meta(void *ctx, vss_store_meta *out) {
  FORWARD(ctx, vss_store_get_meta(f_->inner, out));
}

static int fy_set_meta(void *ctx, const vss_store_meta *meta) {
  FORWARD(ctx, vss_store_set_meta(f_->inner, meta));
}

static int fy_put_sidecar(void *ctx, const vss_sidecar_row *row) {
  FORWARD(ctx, vss_store_put_sidecar(f_->inner, row));
}

static int fy_get_sidecar(void *ctx, const vss_key *key, vss_sidecar_row *out) {
  FORWARD(ctx, vss_store_get_sidecar(f_->inner, key, out));
}

static int fy_del_sidecar(void *ctx, const vss_key *key) {
  FORWARD(ctx, vss_store_del_sidecar(f_->inner, key));
}

static int fy_put_avail(void *ctx, const vss_avail_row *row) {
  FORWARD(ctx, vss_store_put_avail(f_->inner, row));
}

static int fy_get_avail(void *ctx, const vss_key *key, vss_avail_row *out) {
  FORWARD(ctx, vss_store_get_avail(f_->inner, key, out));
}

static int fy_iter_avail_since(void *ctx, uint64_t since, vss_avail_iter_cb cb,
                               void *user) {
  FORWARD(ctx, vss_store_iter_avail_since(f_->inner, since, cb, user));
}

static int fy_count_avail(void *ctx, uint64_t *count, uint64_t *bytes) {
  FORWARD(ctx, vss_store_count_avail(f_->inner, count, bytes));
}

static int fy_put_peer(void *ctx, const vss_peer_row *row) {
  FORWARD(ctx, vss_store_put_peer(f_->inner, row));
}

static int fy_get_peer(void *ctx, const vss_uuid *device, vss_peer_row *out) {
  FORWARD(ctx, vss_store_get_peer(f_->inner, device, out));
}

static int fy_del_peer(void *ctx, const vss_uuid *device) {
  FORWARD(ctx, vss_store_del_peer(f_->inner, device));
}

static int fy_iter_peers(void *ctx, vss_peer_iter_cb cb, void *user) {
  FORWARD(ctx, vss_store_iter_peers(f_->inner, cb, user));
}

static int fy_put_chunks(void *ctx, const vss_key *key, const vss_hash *hashes,
                         uint64_t n) {
  FORWARD(ctx, vss_store_put_chunks(f_->inner, key, hashes, n));
}

static int fy_get_chunks(void *ctx, const vss_key *key, vss_hash *out,
                         uint64_t cap, uint64_t *n) {
  FORWARD(ctx, vss_store_get_chunks(f_->inner, key, out, cap, n));
}

static int fy_compact_avail(void *ctx, uint64_t upto, uint64_t *removed) {
  FORWARD(ctx, vss_store_compact_avail(f_->inner, upto, removed));
}

static int fy_get_tomb_floor(void *ctx, uint64_t *floor) {
  FORWARD(ctx, vss_store_tomb_floor(f_->inner, floor));
}

static int fy_put_resume(void *ctx, const vss_resume_row *row) {
  FORWARD(ctx, vss_store_put_resume(f_->inner, row));
}

static int fy_del_resume(void *ctx, const vss_key *key) {
  FORWARD(ctx, vss_store_del_resume(f_->inner, key));
}

static int fy_iter_resume(void *ctx, vss_resume_iter_cb cb, void *user) {
  FORWARD(ctx, vss_store_iter_resume(f_->inner, cb, user));
}

static void fy_close(void *ctx) {
  free(ctx);
}

static const vss_store_methods faulty_methods = {
    .begin = fy_begin,
    .commit = fy_commit,
    .rollback = fy_rollback,
    .get_meta = fy_get_meta,
    .set_meta = fy_set_meta,
    .put_sidecar = fy_put_sidecar,
    .get_sidecar = fy_get_sidecar,
    .del_sidecar = fy_del_sidecar,
    .put_avail = fy_put_avail,
    .get_avail = fy_get_avail,
    .iter_avail_since = fy_iter_avail_since,
    .count_avail = fy_count_avail,
    .put_peer = fy_put_peer,
    .get_peer = fy_get_peer,
    .del_peer = fy_del_peer,
    .iter_peers = fy_iter_peers,
    .put_chunks = fy_put_chunks,
    .get_chunks = fy_get_chunks,
    .put_resume = fy_put_resume,
    .del_resume = fy_del_resume,
    .iter_resume = fy_iter_resume,
    .close = fy_close,
    .compact_avail = fy_compact_avail,
    .get_tomb_floor = fy_get_tomb_floor,
};

int vss_store_faulty_new(vss_store **out, vss_store *inner, uint64_t fail_at,
                         int sticky) {
  faulty *f;
  int rc;

  if (!out || !inner) return VSS_ERR_INVALID;
  f = calloc(1, sizeof(*f));
  if (!f) return VSS_ERR_NOMEM;
  f->inner = inner;
  f->fail_at = fail_at;
  f->sticky = sticky;
  rc = vss_store_new(out, &faulty_methods, f);
  if (rc < 0) free(f);
  return rc;
}

uint64_t vss_store_faulty_calls(const vss_store *s) {
  const faulty *f = vss_store_ctx(s, &faulty_methods);

  return f ? f->calls : 0;
}

int vss_store_faulty_arm(vss_store *s, uint64_t fail_at, int sticky) {
  faulty *f = vss_store_ctx(s, &faulty_methods);

  if (!f) return VSS_ERR_INVALID;
  f->fail_at = fail_at;
  f->sticky = sticky;
  return 0;
}
