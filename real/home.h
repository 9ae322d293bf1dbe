/*
 * home.h - a node's data directory and what lives in it:
 *
 *   config.ini      settings and peer addresses (config.h)
 *   identity.key    Ed25519 secret key, 0600 (ident.h)
 *   vss.db          SQLite database, WAL: sidecar rows, availability,
 *                   device id and epoch, paired peers with their keys
 *   sidecars/       the bytes (blobs_disk.h), tmp/ for arrivals
 *   lock            flock()ed by whoever opens the store (one writer)
 *   ctl.sock        the daemon's control socket (ctl.h)
 */
#ifndef VSS_REAL_HOME_H
#define VSS_REAL_HOME_H

#include <limits.h>
#include <stddef.h>

#include "chan.h"
#include "config.h"
#include "vss/vss.h"

#define HOME_IDENT 0x1 /* load identity.key */
#define HOME_STORE 0x2 /* lock, open the database and blob store */
#define HOME_WAIT 0x4  /* wait up to 5 s for the lock (short CLI runs) */
#define HOME_SWEEP 0x8 /* remove the .part files a crash left (logged) */

enum { HOME_ERR = -1, HOME_BUSY = -2, HOME_MISSING = -3 };

typedef struct home {
  char dir[PATH_MAX];
  char cfg_path[PATH_MAX];
  char db_path[PATH_MAX];
  char sock_path[PATH_MAX];
  cfg cfg;
  chan_identity id;
  vss_uuid device;
  vss_store *store;
  vss_blobs *blobs;
  int lock_fd;
  size_t swept; /* stale temp files removed at open */
} home;

/* The data dir: the -d option, else $VSS_DATA_DIR, else
 * $XDG_DATA_HOME/vss-node, else ~/.local/share/vss-node. */
int home_default_dir(char *out, size_t cap);

/* Creates the directory (0700) and everything in it. Refuses a dir that
 * already holds an identity. Fills *device. */
int home_init(const char *dir, const char *name, const char *listen,
              vss_uuid *device, char *err, size_t errcap);
/* Opens what `flags` ask for. HOME_BUSY when another process holds the
 * lock (a running daemon), HOME_MISSING when the dir is not initialised. */
int home_open(home *h, const char *dir, unsigned flags, char *err,
              size_t errcap);
void home_close(home *h);
/* Checks the data dir is ours and not writable by others (refused), and
 * repairs looser modes to 0700 (dirs) / 0600 (private files). */
int home_secure(const char *dir, char *err, size_t errcap);
/* Re-reads config.ini (after `pair` changed it). */
int home_reload_cfg(home *h, char *err, size_t errcap);

/* Wall-clock nanoseconds that never go backwards within a process: the
 * realtime clock at the first call plus the monotonic time since. Stored
 * timestamps stay meaningful across restarts; timers are immune to clock
 * steps. */
vss_time home_now(void);
/* A random version-4 uuid from libsodium's CSPRNG. */
void home_new_uuid(vss_uuid *u);

#endif
