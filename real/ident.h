/*
 * ident.h - the device's Ed25519 identity on disk.
 *
 *   data_dir/identity.key  secret key, hex, mode 0600 (refused if looser)
 *   data_dir/identity.pub  public key, hex (for convenience only)
 */
#ifndef VSS_REAL_IDENT_H
#define VSS_REAL_IDENT_H

#include <stddef.h>

#include "chan.h"

/* Creates a new key pair; fails with -EEXIST rather than replace one. */
int ident_create(const char *data_dir, chan_identity *out, char *err,
                 size_t errcap);
int ident_load(const char *data_dir, chan_identity *out, char *err,
               size_t errcap);

#endif
