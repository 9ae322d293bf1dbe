/*
 * blobs_disk.h - the vss_blob_methods on disk, under a data directory:
 *
 *   sidecars/content/{h0}/{h1}/{content_uuid}/{kind_dir}/{variant}.{ext}
 *   tmp/{random}.part        a sidecar while it arrives
 *
 * Commit = fsync(file), rename into place, fsync(directory): after it
 * returns the bytes survive a crash, and only then does the core commit
 * the `ready` row. A crash before leaves a stray .part file (removed on
 * the next open) and no row; a crash between leaves bytes and no row
 * (harmless: the next fetch or add overwrites them).
 *
 * Bytes are only ever named by sidecar key (vss_rel_path); the final
 * component is opened with O_NOFOLLOW, so even a planted symlink in the
 * tree is not followed to read or replace a file elsewhere.
 */
#ifndef VSS_REAL_BLOBS_DISK_H
#define VSS_REAL_BLOBS_DISK_H

#include <stddef.h>

#include "vss/vss.h"

/* Opens (creating sidecars/ and tmp/ when missing). With swept != NULL
 * it also removes the stale .part files a crash left in tmp/ (counting
 * them): do that only with the data dir locked, so no live transfer's
 * temp file is swept. */
int blobs_disk_open(vss_blobs **out, const char *data_dir, size_t *swept,
                    char *err, size_t errcap);
/* Copies a regular file into the store under key (temp + commit). */
int blobs_disk_import(vss_blobs *b, const char *file, const vss_key *key,
                      vss_format fmt, uint64_t *size, char *err, size_t errcap);
/* Group commit. With max > 0, a commit of a sidecar whose final name is
 * free renames its bytes into place but leaves the fsyncs to the group's
 * flush: blobs_disk_flush, or the commit that makes max pending, or
 * closing the store. The caller must not make durable any row naming
 * them before that flush returned 0 (the daemon keeps those rows in an
 * open transaction meanwhile). defer (optional) is asked before a
 * commit is deferred: nonzero makes it synchronous (no transaction can
 * hold its row). The flush is one syncfs for the whole group. max = 0
 * turns it off (after a flush). */
typedef int (*blobs_disk_defer_cb)(void *user);
int blobs_disk_group(vss_blobs *b, size_t max, blobs_disk_defer_cb defer,
                     void *user);
size_t blobs_disk_pending(vss_blobs *b);
/* Makes the pending commits durable; 0 when there are none. */
int blobs_disk_flush(vss_blobs *b);
/* Groups flushed, sidecars in them, of which synced by syncfs. */
void blobs_disk_counts(vss_blobs *b, uint64_t *groups, uint64_t *grouped,
                       uint64_t *syncfs_calls);
/* Removes the bytes under sidecars/content that no ready row names
 * (has_row says, given the key and format the path spells, and the
 * path): a crash between the blob commit and the row, an add that never
 * recorded, a replaced extension. Files whose names we never make are
 * left alone. Only with the data dir locked, before anything writes.
 * Returns how many went (each logged). */
typedef int (*blobs_disk_row_cb)(void *user, const vss_key *key, vss_format fmt,
                                 const char *rel);
size_t blobs_disk_sweep_orphans(const char *data_dir, blobs_disk_row_cb has_row,
                                void *user);
/* Absolute path of a sidecar's bytes (for users; I/O goes by key). */
int blobs_disk_path(const char *data_dir, const vss_key *key, vss_format fmt,
                    char *out, size_t cap);

#endif
