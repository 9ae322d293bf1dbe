/*
 * home.c - open, create and lock a data directory.
 */
#include "home.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobs_disk.h"
#include "fsutil.h"
#include "ident.h"
#include "log.h"

vss_time home_now(void) {
  static vss_time wall0, mono0;
  struct timespec ts;
  vss_time mono;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  mono = (vss_time)ts.tv_sec * VSS_NS_PER_S + (vss_time)ts.tv_nsec;
  if (wall0 == 0) {
    clock_gettime(CLOCK_REALTIME, &ts);
    wall0 = (vss_time)ts.tv_sec * VSS_NS_PER_S + (vss_time)ts.tv_nsec;
    mono0 = mono;
  }
  return wall0 + (mono - mono0);
}

void home_new_uuid(vss_uuid *u) {
  randombytes_buf(u->b, sizeof u->b);
  u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
  u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

int home_default_dir(char *out, size_t cap) {
  const char *env = getenv("VSS_DATA_DIR");
  int n;
  if (env && env[0])
    n = snprintf(out, cap, "%s", env);
  else if ((env = getenv("XDG_DATA_HOME")) && env[0])
    n = snprintf(out, cap, "%s/vss-node", env);
  else if ((env = getenv("HOME")) && env[0])
    n = snprintf(out, cap, "%s/.local/share/vss-node", env);
  else
    return -1;
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int paths(home *h, const char *dir, char *err, size_t errcap) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/')
    n--;
  if (n + 16 >= sizeof h->dir) {
    snprintf(err, errcap, "data dir path too long: %s", dir);
    return HOME_ERR;
  }
  memcpy(h->dir, dir, n);
  h->dir[n] = '\0';
  fs_path(h->cfg_path, sizeof h->cfg_path, h->dir, "config.ini");
  fs_path(h->db_path, sizeof h->db_path, h->dir, "vss.db");
  fs_path(h->sock_path, sizeof h->sock_path, h->dir, "ctl.sock");
  return 0;
}

/* What only the owner may read: the database, settings, the lock. */
static const char *const PRIVATE_FILES[] = {
    "config.ini", "vss.db", "vss.db-wal", "vss.db-shm", "lock", NULL};
static const char *const PRIVATE_DIRS[] = {"sidecars", "sidecars/content",
                                           "tmp", NULL};

static int tighten(const char *dir, const char *name, mode_t want, int isdir,
                   char *err, size_t errcap) {
  char path[PATH_MAX];
  struct stat st;
  fs_path(path, sizeof path, dir, name);
  if (lstat(path, &st) != 0) return 0; /* not there (yet) */
  if (isdir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    snprintf(err, errcap, "%s is not a regular %s (a symlink?)", path,
             isdir ? "directory" : "file");
    return HOME_ERR;
  }
  if ((st.st_mode & 07777) == want) return 0;
  if (chmod(path, want) != 0) {
    snprintf(err, errcap, "cannot chmod %s: %s", path, strerror(errno));
    return HOME_ERR;
  }
  log_warn("tightened %s from mode %04o to %04o", path,
           (unsigned)(st.st_mode & 07777), (unsigned)want);
  return 0;
}

/* The data dir holds the identity key and every sidecar: it must be the
 * user's own, and nobody else may write it (they could swap files under
 * us). Readable by others is repaired to 0700, as are the files and
 * directories in it that were made with a looser mode. */
int home_secure(const char *dir, char *err, size_t errcap) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    snprintf(err, errcap, "cannot stat %s: %s", dir, strerror(errno));
    return HOME_ERR;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, errcap, "%s is not a directory", dir);
    return HOME_ERR;
  }
  if (st.st_uid != geteuid()) {
    snprintf(err, errcap,
             "%s belongs to uid %u, not to this user (uid %u): refusing to "
             "use it",
             dir, (unsigned)st.st_uid, (unsigned)geteuid());
    return HOME_ERR;
  }
  if (st.st_mode & 022) {
    snprintf(err, errcap,
             "%s is writable by other users (mode %04o): refusing to use it; "
             "`chmod 700 %s` if that is intended to be private",
             dir, (unsigned)(st.st_mode & 07777), dir);
    return HOME_ERR;
  }
  if (tighten(dir, ".", 0700, 1, err, errcap) < 0) return HOME_ERR;
  for (int i = 0; PRIVATE_DIRS[i]; i++)
    if (tighten(dir, PRIVATE_DIRS[i], 0700, 1, err, errcap) < 0)
      return HOME_ERR;
  for (int i = 0; PRIVATE_FILES[i]; i++)
    if (tighten(dir, PRIVATE_FILES[i], 0600, 0, err, errcap) < 0)
      return HOME_ERR;
  return 0;
}

static int open_db(home *h, const vss_uuid *dev, char *err, size_t errcap) {
  char sqlerr[256] = "";
  vss_store_meta meta;
  int rc =
      vss_store_sqlite_open(&h->store, h->db_path, dev, sqlerr, sizeof sqlerr);
  if (rc < 0) {
    snprintf(err, errcap, "cannot open database %s: %s%s%s", h->db_path,
             vss_strerror(rc), sqlerr[0] ? ": " : "", sqlerr);
    h->store = NULL;
    return HOME_ERR;
  }
  if ((rc = vss_store_get_meta(h->store, &meta)) < 0) {
    snprintf(err, errcap, "cannot read %s: %s", h->db_path, vss_strerror(rc));
    return HOME_ERR;
  }
  h->device = meta.device;
  return 0;
}

int home_init(const char *dir, const char *name, const char *listen,
              vss_uuid *device, char *err, size_t errcap) {
  home h;
  struct stat st;
  int rc;

  memset(&h, 0, sizeof h);
  h.lock_fd = -1;
  if (paths(&h, dir, err, errcap) < 0) return HOME_ERR;
  if (mkdir(h.dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errcap, "cannot create %s: %s", h.dir, strerror(errno));
    return HOME_ERR;
  }
  if (stat(h.cfg_path, &st) == 0 || stat(h.db_path, &st) == 0) {
    snprintf(err, errcap, "%s is already initialised", h.dir);
    return HOME_ERR;
  }
  if (home_secure(h.dir, err, errcap) < 0) return HOME_ERR;
  if (ident_create(h.dir, &h.id, err, errcap) < 0) return HOME_ERR;
  home_new_uuid(device);
  if (open_db(&h, device, err, errcap) < 0) return HOME_ERR;
  vss_store_del(h.store);
  rc = cfg_write_default(h.cfg_path, name, listen, err, errcap);
  sodium_memzero(&h.id, sizeof h.id);
  return rc < 0 ? HOME_ERR : 0;
}

static int take_lock(home *h, int wait, char *err, size_t errcap) {
  char path[PATH_MAX], pid[32];
  int tries = wait ? 100 : 1;
  fs_path(path, sizeof path, h->dir, "lock");
  h->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (h->lock_fd < 0) {
    snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
    return HOME_ERR;
  }
  /* A CLI command run offline holds the lock for a moment: a starting
   * daemon waits it out rather than failing. */
  while (flock(h->lock_fd, LOCK_EX | LOCK_NB) != 0 && --tries > 0)
    nanosleep(&(struct timespec){0, 50000000L}, NULL);
  if (tries == 0) {
    ssize_t n = pread(h->lock_fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
    snprintf(err, errcap, "%s is in use by process %s (a running daemon?)",
             h->dir, pid[0] ? pid : "?");
    close(h->lock_fd);
    h->lock_fd = -1;
    return HOME_BUSY;
  }
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(h->lock_fd, 0) != 0 ||
      pwrite(h->lock_fd, pid, strlen(pid), 0) < 0) {
    /* the pid is only a hint for the message above */
  }
  return 0;
}

int home_open(home *h, const char *dir, unsigned flags, char *err,
              size_t errcap) {
  struct stat st;
  int rc;

  memset(h, 0, sizeof *h);
  h->lock_fd = -1;
  if (paths(h, dir, err, errcap) < 0) return HOME_ERR;
  if (stat(h->cfg_path, &st) != 0) {
    snprintf(err, errcap,
             "%s is not a vss-node data dir (no config.ini); "
             "run `vss-node -d %s init`",
             h->dir, h->dir);
    return HOME_MISSING;
  }
  if (home_secure(h->dir, err, errcap) < 0) return HOME_ERR;
  if (cfg_load(&h->cfg, h->cfg_path, err, errcap) < 0) return HOME_ERR;
  if ((flags & HOME_IDENT) && ident_load(h->dir, &h->id, err, errcap) < 0) {
    home_close(h);
    return HOME_ERR;
  }
  if (flags & HOME_STORE) {
    if ((rc = take_lock(h, flags & HOME_WAIT, err, errcap)) < 0 ||
        (rc = open_db(h, NULL, err, errcap)) < 0 ||
        (rc = blobs_disk_open(&h->blobs, h->dir,
                              (flags & HOME_SWEEP) ? &h->swept : NULL, err,
                              errcap) < 0
                  ? HOME_ERR
                  : 0) < 0) {
      home_close(h);
      return rc;
    }
  }
  return 0;
}

int home_reload_cfg(home *h, char *err, size_t errcap) {
  cfg c;
  if (cfg_load(&c, h->cfg_path, err, errcap) < 0) return HOME_ERR;
  cfg_free(&h->cfg);
  h->cfg = c;
  return 0;
}

void home_close(home *h) {
  if (h->blobs) vss_blobs_del(h->blobs);
  if (h->store) vss_store_del(h->store);
  h->blobs = NULL;
  h->store = NULL;
  cfg_free(&h->cfg);
  sodium_memzero(&h->id, sizeof h->id);
  if (h->lock_fd >= 0) close(h->lock_fd); /* releases the flock */
  h->lock_fd = -1;
}
