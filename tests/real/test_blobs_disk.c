/*
 * test_blobs_disk.c - the on-disk blob store: temp + commit, discard,
 * bounds, the crash sweep, and that only sidecar keys (never symlinks or
 * other paths) reach bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "blobs_disk.h"

static char dir[256];

static int setup(void **st) {
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/vss-blobs-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st) {
  char cmd[300];
  (void)st;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void key_of(vss_key *k, const char *variant) {
  vss_uuid u;
  assert_int_equal(
      vss_uuid_parse(&u, "550e8400-e29b-41d4-a716-446655440000", 36), 0);
  assert_int_equal(vss_key_set(k, &u, VSS_KIND_THUMB, variant), 0);
}

static int tmp_files(void) {
  char cmd[300];
  FILE *f;
  int n = -1;
  snprintf(cmd, sizeof cmd, "ls '%s/tmp' | wc -l", dir);
  if ((f = popen(cmd, "r")) != NULL) {
    if (fscanf(f, "%d", &n) != 1) n = -1;
    pclose(f);
  }
  return n;
}

static vss_blobs *open_store(size_t *swept) {
  vss_blobs *b = NULL;
  char err[256];
  assert_int_equal(blobs_disk_open(&b, dir, swept, err, sizeof err), 0);
  return b;
}

static void test_commit_read(void **st) {
  vss_blobs *b = open_store(NULL);
  vss_key k;
  void *t;
  uint8_t data[1000], back[1000];
  uint64_t size = 0;
  char path[512];
  struct stat sb;
  (void)st;
  key_of(&k, "grid@2x");
  for (int i = 0; i < 1000; i++)
    data[i] = (uint8_t)(i * 7);
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 1000, &t), 0);
  assert_int_equal(vss_blobs_write(b, t, 500, data + 500, 500), 0);
  assert_int_equal(vss_blobs_write(b, t, 0, data, 500), 0);
  assert_int_equal(vss_blobs_write(b, t, 999, data, 2), VSS_ERR_INVALID);
  /* Nothing under the final name before the commit. */
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_blobs_commit(b, t), 0);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size), 0);
  assert_int_equal(size, 1000);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 100, back, 900), 0);
  assert_memory_equal(back, data + 100, 900);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 900, back, 200),
                   VSS_ERR_CORRUPT);
  blobs_disk_path(dir, &k, VSS_FMT_WEBP, path, sizeof path);
  assert_non_null(strstr(path, "/sidecars/content/55/0e/550e8400-e29b-41d4-"
                               "a716-446655440000/thumbs/grid@2x.webp"));
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(tmp_files(), 0);
  assert_int_equal(vss_blobs_remove(b, &k, VSS_FMT_WEBP), 0);
  assert_int_equal(vss_blobs_remove(b, &k, VSS_FMT_WEBP), VSS_ERR_NOT_FOUND);
  vss_blobs_del(b);
}

static void test_discard(void **st) {
  vss_blobs *b = open_store(NULL);
  vss_key k;
  void *t;
  uint64_t size;
  (void)st;
  key_of(&k, "detail@1x");
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 10, &t), 0);
  assert_int_equal(vss_blobs_write(b, t, 0, "0123456789", 10), 0);
  assert_int_equal(tmp_files(), 1);
  vss_blobs_discard(b, t);
  assert_int_equal(tmp_files(), 0);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  vss_blobs_del(b);
}

/* A crash mid-transfer leaves a .part file: the next locked open sweeps
 * it, an unlocked one (the CLI next to a daemon) leaves it alone. */
static void test_crash_sweep(void **st) {
  vss_blobs *b = open_store(NULL), *b2;
  vss_key k;
  void *t;
  size_t swept = 99;
  (void)st;
  key_of(&k, "icon@1x");
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 4, &t), 0);
  assert_int_equal(vss_blobs_write(b, t, 0, "abcd", 4), 0);
  /* "crash": never commit nor discard */
  b2 = open_store(NULL);
  assert_int_equal(tmp_files(), 1);
  vss_blobs_del(b2);
  b2 = open_store(&swept);
  assert_int_equal(swept, 1);
  assert_int_equal(tmp_files(), 0);
  vss_blobs_del(b2);
  vss_blobs_discard(b, t); /* the fd is still ours to close */
  vss_blobs_del(b);
}

/* A symlink planted at a sidecar's name is not followed. */
static void test_symlink_refused(void **st) {
  vss_blobs *b = open_store(NULL);
  vss_key k;
  uint8_t buf[4];
  uint64_t size;
  char path[512];
  (void)st;
  key_of(&k, "grid@1x");
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, "xyzw", 4), 0);
  blobs_disk_path(dir, &k, VSS_FMT_WEBP, path, sizeof path);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(symlink("/etc/passwd", path), 0);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, buf, 4),
                   VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_blobs_stat(b, &k, VSS_FMT_WEBP, &size),
                   VSS_ERR_NOT_FOUND);
  unlink(path);
  vss_blobs_del(b);
}

static void test_replace(void **st) {
  vss_blobs *b = open_store(NULL);
  vss_key k;
  uint8_t buf[3];
  (void)st;
  key_of(&k, "grid@2x");
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, "old", 3), 0);
  assert_int_equal(vss_blobs_put(b, &k, VSS_FMT_WEBP, "new", 3), 0);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, buf, 3), 0);
  assert_memory_equal(buf, "new", 3);
  vss_blobs_del(b);
}

/* An interrupted transfer's temp kept across a restart of the store:
 * the sweep leaves the .keep alone, reopening checks the size, the bytes
 * written before and after the restart are committed together; names
 * that are not ours (paths, wrong size) are refused. */
static void test_keep_reopen(void **st) {
  vss_key k;
  vss_blobs *b = open_store(NULL);
  void *t = NULL;
  char name[VSS_TEMP_NAME_MAX + 1];
  size_t swept = 99;
  uint8_t out[8];
  (void)st;
  key_of(&k, "grid@2x");
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 8, &t), 0);
  assert_int_equal(vss_blobs_write(b, t, 0, "abcd", 4), 0);
  assert_int_equal(vss_blobs_keep_temp(b, t, name), 0);
  assert_non_null(strstr(name, ".keep"));
  vss_blobs_del(b);
  b = open_store(&swept);
  assert_int_equal(swept, 0);
  assert_int_equal(tmp_files(), 1);
  assert_int_equal(
      vss_blobs_reopen_temp(b, "../vss.db", &k, VSS_FMT_WEBP, 8, &t),
      VSS_ERR_NOT_FOUND);
  assert_int_equal(vss_blobs_reopen_temp(b, name, &k, VSS_FMT_WEBP, 8, &t), 0);
  assert_int_equal(vss_blobs_write(b, t, 4, "efgh", 4), 0);
  assert_int_equal(vss_blobs_commit(b, t), 0);
  assert_int_equal(vss_blobs_read(b, &k, VSS_FMT_WEBP, 0, out, 8), 0);
  assert_memory_equal(out, "abcdefgh", 8);
  assert_int_equal(tmp_files(), 0);
  /* Kept, then reopened with the wrong size: refused and removed. */
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_WEBP, 8, &t), 0);
  assert_int_equal(vss_blobs_keep_temp(b, t, name), 0);
  assert_int_equal(vss_blobs_reopen_temp(b, name, &k, VSS_FMT_WEBP, 9, &t),
                   VSS_ERR_NOT_FOUND);
  assert_int_equal(tmp_files(), 0);
  vss_blobs_del(b);
}

/* Space is reserved as bytes arrive, not for the whole size at open: a
 * temp larger than the free space opens (it used to fail with FULL at
 * once, and so would 256 big jobs together), and holds about one
 * reservation step beyond what was written. */
static void test_lazy_reserve(void **st) {
  vss_blobs *b = open_store(NULL);
  struct statvfs fs;
  struct stat sb;
  vss_key k;
  void *t;
  uint8_t data[4096];
  uint64_t size;
  char path[512];
  (void)st;
  assert_int_equal(statvfs(dir, &fs), 0);
  size = 2 * (uint64_t)fs.f_bavail * fs.f_frsize + (1ull << 30);
  key_of(&k, "huge");
  memset(data, 7, sizeof data);
  assert_int_equal(vss_blobs_open_temp(b, &k, VSS_FMT_MP4, size, &t), 0);
  assert_int_equal(vss_blobs_write(b, t, 0, data, sizeof data), 0);
  snprintf(path, sizeof path, "%s/tmp", dir);
  DIR *d = opendir(path);
  struct dirent *e;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char f[1024];
    snprintf(f, sizeof f, "%s/%s", path, e->d_name);
    assert_int_equal(stat(f, &sb), 0);
    /* at most a 64 MiB step and the write, in 512-byte blocks */
    assert_true((uint64_t)sb.st_blocks * 512 <= (65ull << 20));
  }
  closedir(d);
  vss_blobs_discard(b, t);
  assert_int_equal(tmp_files(), 0);
  vss_blobs_del(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_commit_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_sweep, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keep_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lazy_reserve, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
