/*
 * xfer_resume.c - requests that outlive the process (issue 8, items 16
 * and 18).
 *
 * A requested fetch is recorded in the store when it starts (key,
 * format, flags); the record goes when the job ends, whatever the end.
 * When the node shuts down, every unfinished requested job (and every
 * prefetch with verified chunks) is recorded with what it knows: size,
 * checksum, the bitmap of verified chunks and the temp blob holding
 * them, kept by the blob store (vss_blobs_keep_temp makes its bytes
 * durable first, so a record never names bytes that are not there).
 *
 * On the next start (at the first handle_expiry, so that the
 * application's callbacks never run inside vss_node_new) every record
 * becomes a job again and the application hears VSS_EV_FETCH_RESUMED
 * with the new job id; from there it ends as any job does, DONE or
 * FAILED with a reason: a resumed job waits for holders (the peer cache
 * is empty after a restart; gossip refills it) within its patience, then
 * fails NO_SOURCE. A job whose source still has the recorded size and
 * checksum starts from the chunks still missing; otherwise its kept bytes
 * are discarded and it starts over. A crash (no shutdown) leaves the
 * records written at start: those requests resume from zero.
 */
#include "xfer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- records --------------------------------------------------------- */

static void row_of(const xjob *j, vss_resume_row *r) {
  memset(r, 0, sizeof(*r));
  r->key = j->key;
  r->format = j->fmt;
  r->flags = j->flags & (VSS_FETCH_FOREGROUND | VSS_FETCH_GENERATE_ON_FAIL);
  if (j->evflags & VSS_EVF_FOREGROUND) r->flags |= VSS_FETCH_FOREGROUND;
  if (j->evflags & VSS_EVF_PREFETCH) r->flags |= VSS_RESUME_PREFETCH;
  r->created_at = j->started;
}

void xf_resume_record(vss_xfer *x, xjob *j) {
  if (j->recorded) return;
  vss_resume_row r;
  row_of(j, &r);
  /* Without the record a restart forgets the request: the job itself
   * goes on, so a store error here is not the request's failure. */
  j->recorded = vss_store_put_resume(x->n->store, &r) == 0;
}

void xf_resume_forget(vss_xfer *x, xjob *j) {
  if (!j->recorded) return;
  j->recorded = 0;
  (void)vss_store_del_resume(x->n->store, &j->key);
}

/* ---- shutdown -------------------------------------------------------- */

static uint8_t *done_bitmap(const xjob *j, uint64_t *len) {
  *len = (j->nchunks + 7) / 8;
  uint8_t *b = calloc(*len ? *len : 1, 1);
  if (!b) return NULL;
  for (uint64_t c = 0; c < j->nchunks; c++)
    if (j->ch[c].state == CH_DONE) b[c / 8] |= (uint8_t)(1u << (c % 8));
  return b;
}

/* The record of j as it stands; its verified bytes kept when it has
 * some (consumes j->tmp then). */
static void save_job(vss_xfer *x, xjob *j) {
  int kept_bytes =
      j->state == J_XFER && j->tmp && j->nchunks > 1 && j->ndone > 0;
  if (!j->recorded && !kept_bytes) return;
  vss_resume_row r;
  row_of(j, &r);
  uint8_t *bits = NULL;
  if (j->state == J_XFER) {
    r.size = j->size;
    r.checksum = j->checksum;
  }
  if (kept_bytes && (bits = done_bitmap(j, &r.done_len)) != NULL &&
      vss_blobs_keep_temp(x->n->blobs, j->tmp, r.tmp_name) == 0) {
    j->tmp = NULL; /* kept: the store's now, under r.tmp_name */
    r.done = bits;
  } else {
    r.tmp_name[0] = '\0';
    r.done_len = 0;
  }
  (void)vss_store_put_resume(x->n->store, &r);
  free(bits);
  j->recorded = 0; /* freeing j must not delete what was just written */
}

void xf_resume_save_all(vss_xfer *x) {
  int txn = vss_store_begin(x->n->store) == 0;
  for (xjob *j = x->jobs_head; j; j = j->next)
    save_job(x, j);
  if (txn && vss_store_commit(x->n->store) != 0)
    (void)vss_store_rollback(x->n->store);
}

/* ---- start ----------------------------------------------------------- */

typedef struct saved {
  vss_resume_row r;
  uint8_t *bits; /* copy of r.done */
} saved;

typedef struct saved_list {
  saved *v;
  size_t n, cap;
  int nomem;
} saved_list;

static int collect(void *user, const vss_resume_row *row) {
  saved_list *l = user;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    saved *v = realloc(l->v, cap * sizeof(*v));
    if (!v) {
      l->nomem = 1;
      return 1;
    }
    l->v = v;
    l->cap = cap;
  }
  saved *s = &l->v[l->n];
  s->r = *row;
  s->bits = NULL;
  if (row->done && row->done_len) {
    if (!(s->bits = malloc(row->done_len))) {
      l->nomem = 1;
      return 1;
    }
    memcpy(s->bits, row->done, row->done_len);
  }
  s->r.done = s->bits;
  l->n++;
  return 0;
}

/* A request that cannot go on: the application hears why. */
static void abandoned(vss_xfer *x, const vss_resume_row *r, int rc,
                      vss_time now) {
  vss_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.type = VSS_EV_FETCH_FAILED;
  ev.key = r->key;
  ev.format = r->format;
  ev.bytes = r->size;
  ev.flags = (r->flags & VSS_RESUME_PREFETCH)    ? VSS_EVF_PREFETCH
             : (r->flags & VSS_FETCH_FOREGROUND) ? VSS_EVF_FOREGROUND
                                                 : 0;
  ev.rc = rc;
  vss__emit(x->n, &ev, now);
}

static uint64_t kept_bytes(const xjob *j) {
  uint64_t n = 0, nchunks = vss_chunk_count(j->keep_size);
  for (uint64_t c = 0; c < nchunks && c / 8 < j->keep_len; c++)
    if (j->keep[c / 8] & (1u << (c % 8)))
      n += c + 1 < nchunks ? VSS_CHUNK_SIZE
                           : j->keep_size - (nchunks - 1) * VSS_CHUNK_SIZE;
  return n;
}

static uint64_t kept_chunks(const xjob *j) {
  uint64_t n = 0;
  for (uint64_t i = 0; i < j->keep_len; i++)
    n += (uint64_t)__builtin_popcount(j->keep[i]);
  return n;
}

/* The job of one record: its kept bytes reopened, then started (or
 * waiting for holders within its patience). */
static void resume_one(vss_xfer *x, saved *s, vss_time now) {
  const vss_resume_row *r = &s->r;
  void *tmp = NULL;
  if (r->tmp_name[0] && r->size &&
      vss_blobs_reopen_temp(x->n->blobs, r->tmp_name, &r->key, r->format,
                            r->size, &tmp) != 0)
    tmp = NULL;
  if (xf_job_by_key(x, &r->key) ||
      vss_xfer_is_local(x, &r->key, r->format, NULL)) {
    /* Fetched or made since (or asked again before this ran). */
    if (tmp) vss_blobs_discard(x->n->blobs, tmp);
    xjob *j = xf_job_by_key(x, &r->key);
    if (!j) {
      (void)vss_store_del_resume(x->n->store, &r->key);
      vss_event ev;
      memset(&ev, 0, sizeof(ev));
      ev.type = VSS_EV_FETCH_DONE; /* count 0: no bytes moved */
      ev.key = r->key;
      ev.format = r->format;
      ev.bytes = r->size;
      vss__emit(x->n, &ev, now);
    }
    return;
  }
  uint32_t ev = (r->flags & VSS_RESUME_PREFETCH)    ? VSS_EVF_PREFETCH
                : (r->flags & VSS_FETCH_FOREGROUND) ? VSS_EVF_FOREGROUND
                                                    : 0;
  uint32_t flags = r->flags & VSS_FETCH_GENERATE_ON_FAIL;
  if (ev & VSS_EVF_PREFETCH) flags |= JF_RESTRICTED;
  xjob *j = xf_job_new(x, &r->key, r->format, flags, ev, now);
  if (!j) {
    if (tmp) vss_blobs_discard(x->n->blobs, tmp);
    abandoned(x, r, VSS_ERR_NOMEM, now);
    (void)vss_store_del_resume(x->n->store, &r->key);
    return;
  }
  j->recorded = 1;
  if (tmp && !xf_temp_try(x, j)) {
    /* No temp slot free (VSS_LIMIT_TEMP_BLOBS): it starts over, and
     * waits for a slot like any job. */
    vss_blobs_discard(x->n->blobs, tmp);
    tmp = NULL;
  }
  if (tmp) {
    j->tmp = tmp;
    j->keep_size = r->size;
    j->keep_sum = r->checksum;
    j->keep = s->bits;
    j->keep_len = r->done_len;
    s->bits = NULL;
  }
  xf_emit(x, VSS_EV_FETCH_RESUMED, j, NULL, tmp ? kept_bytes(j) : 0,
          tmp ? kept_chunks(j) : 0, 0, now);
  uint64_t id = j->id;
  int rc = xf_job_launch(x, j, now);
  if (!(j = xf_job_by_id(x, id))) return;
  if (rc == VSS_ERR_NO_SOURCE) {
    /* No peer yet: gossip brings holders (offers start the job). */
    vss_time patience = (ev & VSS_EVF_PREFETCH) ? xf_cfg(x)->prefetch_patience
                                                : xf_cfg(x)->source_patience;
    xf_job_set_wake(x, j, now + patience);
  } else if (rc) {
    xf_job_fail(x, j, rc, now);
  }
}

static int stop_at_one(void *user, const vss_resume_row *row) {
  (void)user, (void)row;
  return 1;
}

int xf_resume_any(vss_xfer *x) {
  return vss_store_iter_resume(x->n->store, stop_at_one, NULL) == 1;
}

void xf_resume_load(vss_xfer *x, vss_time now) {
  saved_list l = {0};
  int rc = vss_store_iter_resume(x->n->store, collect, &l);
  (void)rc; /* unreadable rows are skipped; the good ones still resume */
  for (size_t i = 0; i < l.n; i++) {
    resume_one(x, &l.v[i], now);
    free(l.v[i].bits);
  }
  free(l.v);
}

/* ---- a resumed job's first start ------------------------------------- */

/* In job_start, once the target is chosen: keep the reopened bytes when
 * the source has what was recorded, else drop them. Returns 1 when
 * j->tmp is the job's temp blob (already open). */
int xf_resume_keep(vss_xfer *x, xjob *j) {
  if (!j->tmp || !j->keep) return 0;
  if (j->size == j->keep_size && vss_hash_eq(&j->checksum, &j->keep_sum))
    return 1;
  vss_blobs_discard(x->n->blobs, j->tmp);
  j->tmp = NULL;
  free(j->keep);
  j->keep = NULL;
  j->keep_len = 0;
  return 0;
}

/* After the chunk table is made: the kept chunks are done. */
void xf_resume_apply(xjob *j) {
  for (uint64_t c = 0; c < j->nchunks && c / 8 < j->keep_len; c++) {
    if (!(j->keep[c / 8] & (1u << (c % 8)))) continue;
    j->ch[c].state = CH_DONE;
    j->ndone++;
    j->ntodo--;
    j->done_bytes += xf_chunk_len(j, c);
  }
  free(j->keep);
  j->keep = NULL;
  j->keep_len = 0;
}
