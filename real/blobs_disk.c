/*
 * blobs_disk.c - sidecar bytes on disk (see blobs_disk.h).
 */
#define _GNU_SOURCE /* sync_file_range */
#include "blobs_disk.h"

#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "log.h"

/* A sidecar committed in the current group: renamed into place, its
 * data and directory entries not yet synced. */
typedef struct pending {
  int fd;
  int first; /* fs_mkdirs_nosync's: first directory it created, or -1 */
  char dir[VSS_REL_PATH_MAX + 1];
} pending;

typedef struct disk {
  int dirfd; /* the data directory */
  int tmpfd; /* data_dir/tmp */
  size_t swept;
  /* Group commit (blobs_disk_group): 0 = every commit syncs at once. */
  size_t group_max;
  blobs_disk_defer_cb defer;
  void *defer_user;
  pending *pend;
  size_t npend;
  uint64_t groups, grouped, syncfs_calls;
} disk;

/* Writeback is started every WRITEBACK_STEP bytes written, so the
 * commit's fsync finds most of a large sidecar already on disk instead
 * of writing all of it while the event loop waits. */
#define WRITEBACK_STEP (8u << 20)

/* Space is reserved (fallocate) this far ahead of the highest byte
 * written, not for the whole sidecar at open: 256 large jobs opened at
 * once must not fail with a full disk that the bytes would never have
 * filled at the same time. A full disk still fails a job within one step
 * of its bytes, before the rest crosses the network. */
#define ALLOC_STEP (64u << 20)

typedef struct disk_tmp {
  int fd;
  uint64_t size;
  uint64_t reserved;           /* [0, reserved) is allocated */
  uint64_t dirty_lo, dirty_hi; /* range written since the last kick */
  char name[40];               /* in tmp/ */
  char rel[VSS_REL_PATH_MAX + 1];
} disk_tmp;

static int errno_rc(int e) {
  switch (e) {
  case ENOSPC:
  case EDQUOT:
    return VSS_ERR_FULL;
  case ENOENT:
    return VSS_ERR_NOT_FOUND;
  case ENOMEM:
    return VSS_ERR_NOMEM;
  default:
    return VSS_ERR_IO;
  }
}

static int rel_of(const vss_key *key, vss_format fmt, char *rel) {
  return vss_rel_path(key, fmt, rel, VSS_REL_PATH_MAX + 1) < 0 ? VSS_ERR_INVALID
                                                               : 0;
}

static int d_open_temp(void *ctx, const vss_key *key, vss_format fmt,
                       uint64_t size, void **out) {
  disk *d = ctx;
  disk_tmp *t;
  uint8_t rnd[12];
  int rc;

  if ((t = calloc(1, sizeof *t)) == NULL) return VSS_ERR_NOMEM;
  if ((rc = rel_of(key, fmt, t->rel)) < 0) {
    free(t);
    return rc;
  }
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(t->name, sizeof t->name, rnd, sizeof rnd);
  strcat(t->name, ".part");
  t->size = size;
  t->fd = openat(d->tmpfd, t->name,
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (t->fd < 0) {
    rc = errno_rc(errno);
    free(t);
    return rc == VSS_ERR_NOT_FOUND ? VSS_ERR_IO : rc;
  }
  *out = t;
  return 0;
}

/* Reserves up to a step beyond what this write reaches. */
static int reserve(disk_tmp *t, uint64_t end) {
  uint64_t want;
  int rc;
  if (end <= t->reserved) return 0;
  want = end + ALLOC_STEP < t->size ? end + ALLOC_STEP : t->size;
  rc = posix_fallocate(t->fd, (off_t)t->reserved, (off_t)(want - t->reserved));
  if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) return errno_rc(rc);
  t->reserved = want;
  return 0;
}

static void writeback(disk_tmp *t, uint64_t off, size_t len) {
  if (t->dirty_hi == 0 || off < t->dirty_lo) t->dirty_lo = off;
  if (off + len > t->dirty_hi) t->dirty_hi = off + len;
#ifdef SYNC_FILE_RANGE_WRITE
  if (t->dirty_hi - t->dirty_lo >= WRITEBACK_STEP) {
    /* Starts writeback of the range; does not wait for it. */
    sync_file_range(t->fd, (off_t)t->dirty_lo,
                    (off_t)(t->dirty_hi - t->dirty_lo), SYNC_FILE_RANGE_WRITE);
    t->dirty_lo = t->dirty_hi = 0;
  }
#endif
}

static int d_write(void *ctx, void *tmp, uint64_t off, const void *buf,
                   size_t len) {
  disk_tmp *t = tmp;
  const char *p = buf;
  (void)ctx;
  int rc;
  if (off > t->size || len > t->size - off) return VSS_ERR_INVALID;
  if ((rc = reserve(t, off + len)) < 0) return rc;
  writeback(t, off, len);
  while (len > 0) {
    ssize_t w = pwrite(t->fd, p, len, (off_t)off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno_rc(errno) : VSS_ERR_IO;
    p += w;
    off += (uint64_t)w;
    len -= (size_t)w;
  }
  return 0;
}

static void d_discard(void *ctx, void *tmp) {
  disk *d = ctx;
  disk_tmp *t = tmp;
  if (t == NULL) return;
  close(t->fd);
  unlinkat(d->tmpfd, t->name, 0);
  free(t);
}

/* Parent directory of a relative path, in place ("a/b/c.webp" -> "a/b"). */
static void parent_of(const char *rel, char *out, size_t cap) {
  const char *slash = strrchr(rel, '/');
  size_t n = slash ? (size_t)(slash - rel) : 0;
  if (n >= cap) n = cap - 1;
  memcpy(out, rel, n);
  out[n] = '\0';
}

/* Order: directories, data, name, directory entries. The data is durable
 * before the name points at it, so a crash never exposes a partial
 * sidecar; every changed directory is fsynced before we return, so the
 * row the core commits next never outlives its bytes. Creating the
 * directories first lets the data fsync's journal commit carry them, and
 * the directory fsyncs after it then find little left to write. */
static int commit_now(disk *d, disk_tmp *t, const char *dir) {
  int rc = 0, e, first = -1;

  if ((e = fs_mkdirs_nosync(d->dirfd, dir, 0700, &first)) < 0)
    rc = errno_rc(-e);
  if (rc == 0 && fdatasync(t->fd) != 0) rc = errno_rc(errno);
  if (close(t->fd) != 0 && rc == 0) rc = errno_rc(errno);
  t->fd = -1;
  if (rc == 0 && renameat(d->tmpfd, t->name, d->dirfd, t->rel) != 0)
    rc = errno_rc(errno);
  if (rc == 0 && (e = fs_fsync_dir(d->dirfd, dir)) < 0) rc = errno_rc(-e);
  if (rc == 0 && (e = fs_sync_created(d->dirfd, dir, first)) < 0)
    rc = errno_rc(-e);
  return rc;
}

/* Syncs a group one file at a time: each fdatasync and directory fsync
 * is a device cache flush (1.5-8 ms each here), which is what grouping
 * avoids; used for a group of one and when syncfs fails. */
static int flush_each(disk *d) {
  int rc = 0, e;
  for (size_t i = 0; i < d->npend; i++)
    if (fdatasync(d->pend[i].fd) != 0 && rc == 0) rc = errno_rc(errno);
  for (size_t i = 0; i < d->npend && rc == 0; i++) {
    pending *p = &d->pend[i];
    if (i > 0 && !strcmp(p->dir, d->pend[i - 1].dir) && p->first < 0) continue;
    if ((e = fs_fsync_dir(d->dirfd, p->dir)) < 0 ||
        (e = fs_sync_created(d->dirfd, p->dir, p->first)) < 0)
      rc = errno_rc(-e);
  }
  return rc;
}

/* One syncfs makes every file of the group and every directory entry
 * durable with one journal commit and one device flush: 500 thumbnails
 * took 0.06 s against 2.6 s of fdatasyncs and 6.7 s of directory
 * fsyncs one by one. It also writes other dirty data of the file system,
 * which is the price. Linux reports writeback errors from it since 5.8;
 * on any failure the group is synced file by file, which reports the
 * error per file. */
static int flush_files(disk *d) {
  int rc = 0;
  if (d->npend == 0) return 0;
  if (d->npend == 1 || syncfs(d->dirfd) != 0)
    rc = flush_each(d);
  else
    d->syncfs_calls++;
  for (size_t i = 0; i < d->npend; i++)
    if (close(d->pend[i].fd) != 0 && rc == 0) rc = errno_rc(errno);
  if (rc < 0)
    log_error("group commit of %zu sidecar(s) failed: %s", d->npend,
              vss_strerror(rc));
  d->groups++;
  d->grouped += d->npend;
  d->npend = 0;
  return rc == VSS_ERR_NOT_FOUND ? VSS_ERR_IO : rc;
}

/* Group commit: the bytes are renamed into place now, unsynced, and the
 * group's flush makes them durable before the caller makes any row that
 * names them durable (the daemon holds the rows in one open SQLite
 * transaction until then, see srv.c). A crash before the flush leaves
 * bytes without a row, as a crash between commit and row always could.
 * Not for a file that replaces one already there: its row may be ready
 * and must never point at unsynced bytes. */
static int commit_deferred(disk *d, disk_tmp *t, const char *dir, int *done) {
  struct stat st;
  pending *p;
  int e, first = -1;

  *done = 0;
  if (d->group_max == 0 ||
      fstatat(d->dirfd, t->rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
      errno != ENOENT || (d->defer && d->defer(d->defer_user) != 0))
    return 0;
  *done = 1;
  if ((e = fs_mkdirs_nosync(d->dirfd, dir, 0700, &first)) < 0)
    return errno_rc(-e);
  if (renameat(d->tmpfd, t->name, d->dirfd, t->rel) != 0)
    return errno_rc(errno);
  p = &d->pend[d->npend++];
  p->fd = t->fd;
  p->first = first;
  snprintf(p->dir, sizeof p->dir, "%s", dir);
  t->fd = -1;
  return d->npend >= d->group_max ? flush_files(d) : 0;
}

static int d_commit(void *ctx, void *tmp) {
  disk *d = ctx;
  disk_tmp *t = tmp;
  char dir[VSS_REL_PATH_MAX + 1];
  int rc, deferred;

  parent_of(t->rel, dir, sizeof dir);
  rc = commit_deferred(d, t, dir, &deferred);
  if (!deferred) rc = commit_now(d, t, dir);
  if (rc < 0) {
    log_error("commit of %s failed: %s", t->rel, vss_strerror(rc));
    if (t->fd >= 0) close(t->fd);
    unlinkat(d->tmpfd, t->name, 0);
  }
  free(t);
  return rc == VSS_ERR_NOT_FOUND ? VSS_ERR_IO : rc;
}

static int open_blob(disk *d, const vss_key *key, vss_format fmt, int *fd) {
  char rel[VSS_REL_PATH_MAX + 1];
  int rc = rel_of(key, fmt, rel);
  if (rc < 0) return rc;
  *fd = openat(d->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  return *fd < 0 ? errno_rc(errno == ELOOP ? ENOENT : errno) : 0;
}

static int d_read(void *ctx, const vss_key *key, vss_format fmt, uint64_t off,
                  void *buf, size_t len) {
  char *p = buf;
  int fd, rc;
  if ((rc = open_blob(ctx, key, fmt, &fd)) < 0) return rc;
  while (len > 0) {
    ssize_t r = pread(fd, p, len, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { /* a short file is damaged, not missing */
      rc = r < 0 ? errno_rc(errno) : VSS_ERR_CORRUPT;
      break;
    }
    p += r;
    off += (uint64_t)r;
    len -= (size_t)r;
  }
  close(fd);
  return rc;
}

static int d_stat(void *ctx, const vss_key *key, vss_format fmt,
                  uint64_t *size) {
  disk *d = ctx;
  char rel[VSS_REL_PATH_MAX + 1];
  struct stat st;
  int rc = rel_of(key, fmt, rel);
  if (rc < 0) return rc;
  if (fstatat(d->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno_rc(errno);
  if (!S_ISREG(st.st_mode)) return VSS_ERR_NOT_FOUND;
  *size = (uint64_t)st.st_size;
  return 0;
}

static int d_remove(void *ctx, const vss_key *key, vss_format fmt) {
  disk *d = ctx;
  char rel[VSS_REL_PATH_MAX + 1], dir[VSS_REL_PATH_MAX + 1];
  int rc = rel_of(key, fmt, rel);
  if (rc < 0) return rc;
  if (unlinkat(d->dirfd, rel, 0) != 0) return errno_rc(errno);
  parent_of(rel, dir, sizeof dir);
  return fs_fsync_dir(d->dirfd, dir) < 0 ? VSS_ERR_IO : 0;
}

static void d_close(void *ctx) {
  disk *d = ctx;
  (void)flush_files(d);
  free(d->pend);
  close(d->tmpfd);
  close(d->dirfd);
  free(d);
}

/* An interrupted transfer's temp, kept for a restart: its data made
 * durable, then renamed <hex>.keep (which the sweep leaves alone for
 * KEEP_DAYS) and the directory synced, so the resume record the core
 * writes next never names bytes that are not there. */
#define KEEP_DAYS 7
static int d_keep_temp(void *ctx, void *tmp, char *name) {
  disk *d = ctx;
  disk_tmp *t = tmp;
  char kept[sizeof t->name + 8];
  int rc = 0;
  size_t len = strlen(t->name);

  if (len < 5 || strcmp(t->name + len - 5, ".part")) return VSS_ERR_INVALID;
  memcpy(kept, t->name, len - 5);
  strcpy(kept + len - 5, ".keep");
  if (fdatasync(t->fd) != 0) rc = errno_rc(errno);
  if (close(t->fd) != 0 && rc == 0) rc = errno_rc(errno);
  t->fd = -1;
  if (rc == 0 && renameat(d->tmpfd, t->name, d->tmpfd, kept) != 0)
    rc = errno_rc(errno);
  if (rc == 0 && fsync(d->tmpfd) != 0) rc = errno_rc(errno);
  if (rc < 0)
    unlinkat(d->tmpfd, t->name, 0);
  else
    snprintf(name, VSS_TEMP_NAME_MAX + 1, "%s", kept);
  free(t);
  return rc == VSS_ERR_NOT_FOUND ? VSS_ERR_IO : rc;
}

/* Names come from our own database, but are checked like a peer's:
 * 24 hex digits and ".keep", nothing that could leave tmp/. */
static int keep_name_ok(const char *name) {
  size_t i;
  for (i = 0; i < 24; i++)
    if (!((name[i] >= '0' && name[i] <= '9') ||
          (name[i] >= 'a' && name[i] <= 'f')))
      return 0;
  return strcmp(name + 24, ".keep") == 0;
}

static int d_reopen_temp(void *ctx, const char *name, const vss_key *key,
                         vss_format fmt, uint64_t size, void **out) {
  disk *d = ctx;
  disk_tmp *t;
  struct stat st;
  int rc;

  if (!keep_name_ok(name)) return VSS_ERR_NOT_FOUND;
  if ((t = calloc(1, sizeof *t)) == NULL) return VSS_ERR_NOMEM;
  if ((rc = rel_of(key, fmt, t->rel)) < 0) {
    free(t);
    return rc;
  }
  /* Open again as a .part: a crash from here on sweeps it. */
  memcpy(t->name, name, 24);
  strcpy(t->name + 24, ".part");
  t->size = size;
  if (renameat(d->tmpfd, name, d->tmpfd, t->name) != 0) {
    free(t);
    return VSS_ERR_NOT_FOUND;
  }
  t->fd = openat(d->tmpfd, t->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (t->fd < 0 || fstat(t->fd, &st) != 0 || (uint64_t)st.st_size != size) {
    if (t->fd >= 0) close(t->fd);
    unlinkat(d->tmpfd, t->name, 0);
    free(t);
    return VSS_ERR_NOT_FOUND;
  }
  *out = t;
  return 0;
}

static const vss_blob_methods DISK_METHODS = {
    .open_temp = d_open_temp,
    .write = d_write,
    .commit = d_commit,
    .discard = d_discard,
    .read = d_read,
    .stat = d_stat,
    .remove = d_remove,
    .close = d_close,
    .keep_temp = d_keep_temp,
    .reopen_temp = d_reopen_temp,
};

static int stale_keep(int tmpfd, const char *name) {
  struct stat st;
  time_t now = time(NULL);
  return fstatat(tmpfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         now - st.st_mtime > KEEP_DAYS * 86400;
}

/* A crash mid-transfer leaves stale .part files in tmp/: nothing refers to
 * them. Kept temps (.keep) go when no restart took them for a week. */
static size_t sweep_tmp(int tmpfd) {
  int fd = dup(tmpfd);
  DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *e;
  size_t n = 0;
  if (dir == NULL) {
    if (fd >= 0) close(fd);
    return 0;
  }
  while ((e = readdir(dir)) != NULL) {
    size_t len = strlen(e->d_name);
    int stale = len > 5 && (!strcmp(e->d_name + len - 5, ".part") ||
                            (!strcmp(e->d_name + len - 5, ".keep") &&
                             stale_keep(tmpfd, e->d_name)));
    if (stale && unlinkat(tmpfd, e->d_name, 0) == 0) n++;
  }
  closedir(dir);
  return n;
}

int blobs_disk_open(vss_blobs **out, const char *data_dir, size_t *swept,
                    char *err, size_t errcap) {
  disk *d = calloc(1, sizeof *d);
  int rc;
  if (d == NULL) return VSS_ERR_NOMEM;
  d->dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d->dirfd < 0) {
    snprintf(err, errcap, "cannot open data dir %s: %s", data_dir,
             strerror(errno));
    free(d);
    return VSS_ERR_IO;
  }
  if (fs_mkdirs(d->dirfd, "tmp", 0700) < 0 ||
      fs_mkdirs(d->dirfd, "sidecars/content", 0700) < 0 ||
      (d->tmpfd = openat(d->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
          0) {
    snprintf(err, errcap, "cannot create %s/tmp or %s/sidecars: %s", data_dir,
             data_dir, strerror(errno));
    close(d->dirfd);
    free(d);
    return VSS_ERR_IO;
  }
  if (swept) *swept = d->swept = sweep_tmp(d->tmpfd);
  if ((rc = vss_blobs_new(out, &DISK_METHODS, d)) < 0) d_close(d);
  return rc;
}

static disk *disk_of(vss_blobs *b) {
  return vss_blobs_ctx(b, &DISK_METHODS);
}

int blobs_disk_group(vss_blobs *b, size_t max, blobs_disk_defer_cb defer,
                     void *user) {
  disk *d = disk_of(b);
  pending *p;
  if (d == NULL) return VSS_ERR_INVALID;
  if (flush_files(d) < 0) return VSS_ERR_IO;
  p = max ? realloc(d->pend, max * sizeof *p) : NULL;
  if (max && p == NULL) return VSS_ERR_NOMEM;
  if (max == 0) free(d->pend);
  d->pend = p;
  d->group_max = max;
  d->defer = defer;
  d->defer_user = user;
  return 0;
}

size_t blobs_disk_pending(vss_blobs *b) {
  disk *d = disk_of(b);
  return d ? d->npend : 0;
}

int blobs_disk_flush(vss_blobs *b) {
  disk *d = disk_of(b);
  return d ? flush_files(d) : 0;
}

void blobs_disk_counts(vss_blobs *b, uint64_t *groups, uint64_t *grouped,
                       uint64_t *syncfs_calls) {
  disk *d = disk_of(b);
  *groups = d ? d->groups : 0;
  *grouped = d ? d->grouped : 0;
  *syncfs_calls = d ? d->syncfs_calls : 0;
}

/* ---- orphans ---------------------------------------------------------- */

/* nftw has no user pointer: the walk runs once, at start, on one thread. */
static struct {
  blobs_disk_row_cb has_row;
  void *user;
  size_t base; /* length of "DATA_DIR/" */
  size_t removed;
} g_orphans;

static int orphan_visit(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
  const char *rel = path + g_orphans.base, *p;
  char uri[VSS_URI_MAX + 1];
  vss_key key;
  vss_format fmt;
  (void)st;
  (void)ftw;
  if (type != FTW_F) return 0;
  /* sidecars/content/h0/h1/UUID/KIND/VARIANT.EXT -> sidecar://UUID/... */
  p = rel + strlen("sidecars/content/");
  if (strlen(p) < 6 || p[2] != '/' || p[5] != '/') return 0;
  if (snprintf(uri, sizeof uri, "sidecar://%s", p + 6) >= (int)sizeof uri ||
      vss_uri_parse(uri, strlen(uri), &key, &fmt) < 0)
    return 0; /* not a name we make: leave it to its owner */
  if (g_orphans.has_row(g_orphans.user, &key, fmt, rel)) return 0;
  if (unlink(path) == 0) {
    log_info("removed %s: bytes without a ready row (a crash between "
             "commit and record)",
             rel);
    g_orphans.removed++;
  }
  return 0;
}

size_t blobs_disk_sweep_orphans(const char *data_dir, blobs_disk_row_cb has_row,
                                void *user) {
  char root[4096];
  if (fs_path(root, sizeof root, data_dir, "sidecars/content") < 0) return 0;
  g_orphans.has_row = has_row;
  g_orphans.user = user;
  g_orphans.base = strlen(data_dir) + 1;
  g_orphans.removed = 0;
  (void)nftw(root, orphan_visit, 16, FTW_PHYS | FTW_MOUNT);
  return g_orphans.removed;
}

int blobs_disk_path(const char *data_dir, const vss_key *key, vss_format fmt,
                    char *out, size_t cap) {
  char rel[VSS_REL_PATH_MAX + 1];
  int rc = rel_of(key, fmt, rel);
  if (rc < 0) return rc;
  return fs_path(out, cap, data_dir, rel) < 0 ? VSS_ERR_BUFFER : 0;
}

int blobs_disk_import(vss_blobs *b, const char *file, const vss_key *key,
                      vss_format fmt, uint64_t *size, char *err,
                      size_t errcap) {
  enum { CHUNK = 1 << 20 };
  struct stat st;
  void *tmp = NULL;
  uint64_t off = 0;
  char *buf;
  int fd = open(file, O_RDONLY | O_CLOEXEC), rc;
  if (fd < 0) {
    snprintf(err, errcap, "cannot open %s: %s", file, strerror(errno));
    return VSS_ERR_IO;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (buf = malloc(CHUNK)) == NULL) {
    snprintf(err, errcap, "%s is not a regular file", file);
    close(fd);
    return VSS_ERR_INVALID;
  }
  rc = vss_blobs_open_temp(b, key, fmt, (uint64_t)st.st_size, &tmp);
  while (rc == 0 && off < (uint64_t)st.st_size) {
    ssize_t r = read(fd, buf, CHUNK);
    if (r <= 0) {
      rc = VSS_ERR_IO; /* shrank under us, or a read error */
      break;
    }
    rc = vss_blobs_write(b, tmp, off, buf, (size_t)r);
    off += (uint64_t)r;
  }
  close(fd);
  free(buf);
  if (rc == 0) {
    rc = vss_blobs_commit(b, tmp);
    tmp = NULL;
  }
  if (tmp) vss_blobs_discard(b, tmp);
  if (rc < 0)
    snprintf(err, errcap, "cannot store %s: %s", file, vss_strerror(rc));
  else
    *size = off;
  return rc;
}
