/*
 * fsutil.h - the few file-system steps that durability depends on.
 */
#ifndef VSS_REAL_FSUTIL_H
#define VSS_REAL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* fsync a directory (so a rename or create in it survives a crash). */
int fs_fsync_dir(int dirfd, const char *rel);
/* mkdir -p of rel under dirfd; every directory it creates is made durable
 * by an fsync of its parent. Returns 0 or -errno. */
int fs_mkdirs(int dirfd, const char *rel, mode_t mode);
/* The same in two steps, so the fsyncs can come later and ride on one
 * journal commit: mkdir -p without syncing (*first = offset in rel of the
 * first component created, -1 when none), then fsync the parent of that
 * component and every created directory but rel itself. */
int fs_mkdirs_nosync(int dirfd, const char *rel, mode_t mode, int *first);
int fs_sync_created(int dirfd, const char *rel, int first);
/* Write a whole file durably: temp file, fsync, rename, fsync dir. */
int fs_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode);
/* Read a whole small file (at most cap - 1 bytes, NUL-terminated). */
int fs_read_small(const char *path, char *buf, size_t cap, size_t *len);
/* snprintf into a path buffer; -ENAMETOOLONG when it does not fit. */
int fs_path(char *out, size_t cap, const char *dir, const char *name);

#endif
