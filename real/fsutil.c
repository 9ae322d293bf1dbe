/*
 * fsutil.c - durable file-system helpers.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_fsync_dir(int dirfd, const char *rel) {
  int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;
  if (fd < 0) return -errno;
  if (fsync(fd) != 0) rc = -errno;
  close(fd);
  return rc;
}

/* Offset in path (length n) just past its deepest existing directory
 * prefix: most sidecars land beside existing ones, so look from the
 * bottom up rather than creating from the top. */
static size_t existing_prefix(int dirfd, char *path, size_t n) {
  struct stat st;
  for (size_t i = n; i > 0; i--) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char save = path[i];
    int ok;
    path[i] = '\0';
    ok = fstatat(dirfd, path, &st, 0) == 0 && S_ISDIR(st.st_mode);
    path[i] = save;
    if (ok) return i + 1;
  }
  return 0;
}

int fs_mkdirs_nosync(int dirfd, const char *rel, mode_t mode, int *first) {
  char path[PATH_MAX];
  size_t n = strlen(rel), start;

  *first = -1;
  if (n == 0 || n >= sizeof path) return -ENAMETOOLONG;
  memcpy(path, rel, n + 1);
  if ((start = existing_prefix(dirfd, path, n)) > n) return 0;
  for (size_t i = start; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    path[i] = '\0';
    if (mkdirat(dirfd, path, mode) == 0) {
      if (*first < 0) *first = (int)start;
    } else if (errno != EEXIST) {
      return -errno;
    }
    path[i] = rel[i];
    start = i + 1;
  }
  return 0;
}

int fs_sync_created(int dirfd, const char *rel, int first) {
  char path[PATH_MAX];
  size_t n = strlen(rel);
  int rc;
  if (first < 0) return 0;
  if (n >= sizeof path) return -ENAMETOOLONG;
  memcpy(path, rel, n + 1);
  /* The parent of the first new component ("." at the top). */
  if (first == 0) {
    rc = fs_fsync_dir(dirfd, ".");
  } else {
    path[first - 1] = '\0';
    rc = fs_fsync_dir(dirfd, path);
    path[first - 1] = '/';
  }
  /* Each new directory above rel (rel itself is the caller's). */
  for (size_t i = (size_t)first; rc == 0 && i < n; i++) {
    if (path[i] != '/') continue;
    path[i] = '\0';
    rc = fs_fsync_dir(dirfd, path);
    path[i] = '/';
  }
  return rc;
}

int fs_mkdirs(int dirfd, const char *rel, mode_t mode) {
  int first, rc = fs_mkdirs_nosync(dirfd, rel, mode, &first);
  if (rc == 0 && first >= 0) rc = fs_fsync_dir(dirfd, rel);
  return rc == 0 ? fs_sync_created(dirfd, rel, first) : rc;
}

int fs_path(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode) {
  char tmp[PATH_MAX], dir[PATH_MAX];
  char *slash;
  int fd, rc;

  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return -ENAMETOOLONG;
  /* A stale temp file (a crash) is removed, then created afresh: never
   * written through a symlink or a file someone else prepared. */
  if (unlink(tmp) != 0 && errno != ENOENT) return -errno;
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  rc = write_all(fd, data, len);
  if (rc == 0 && fchmod(fd, mode) != 0) rc = -errno;
  if (rc == 0 && fsync(fd) != 0) rc = -errno;
  if (close(fd) != 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
  if (rc < 0) {
    unlink(tmp);
    return rc;
  }
  snprintf(dir, sizeof dir, "%s", path);
  slash = strrchr(dir, '/');
  if (slash == NULL) return fs_fsync_dir(AT_FDCWD, ".");
  *slash = '\0';
  return fs_fsync_dir(AT_FDCWD, dir[0] ? dir : "/");
}

int fs_read_small(const char *path, char *buf, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t n = 0;
  if (fd < 0) return -errno;
  while (n < cap - 1) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  if (len) *len = n;
  return 0;
}
