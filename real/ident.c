/*
 * ident.c - create and load the device identity key.
 */
#include "ident.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"

static const char HEADER[] = "vss-ed25519-secret-key-v1\n";

int ident_create(const char *data_dir, chan_identity *out, char *err,
                 size_t errcap) {
  char path[PATH_MAX], text[sizeof HEADER + 2 * CHAN_SK_LEN + 2];
  char pub[2 * CHAN_PK_LEN + 2];
  struct stat st;
  int rc;

  if (fs_path(path, sizeof path, data_dir, "identity.key") < 0) {
    snprintf(err, errcap, "data dir path too long: %s", data_dir);
    return -ENAMETOOLONG;
  }
  if (stat(path, &st) == 0) {
    snprintf(err, errcap, "%s exists; refusing to replace an identity", path);
    return -EEXIST;
  }
  crypto_sign_keypair(out->pk, out->sk);
  memcpy(text, HEADER, sizeof HEADER - 1);
  sodium_bin2hex(text + sizeof HEADER - 1, 2 * CHAN_SK_LEN + 1, out->sk,
                 CHAN_SK_LEN);
  strcat(text, "\n");
  rc = fs_write_atomic(path, text, strlen(text), 0600);
  sodium_memzero(text, sizeof text);
  if (rc < 0) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(-rc));
    return rc;
  }
  sodium_bin2hex(pub, 2 * CHAN_PK_LEN + 1, out->pk, CHAN_PK_LEN);
  strcat(pub, "\n");
  fs_path(path, sizeof path, data_dir, "identity.pub");
  if ((rc = fs_write_atomic(path, pub, strlen(pub), 0644)) < 0)
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(-rc));
  return rc;
}

/* Like ssh: a secret key others can read is not used. */
static int check_mode(const char *path, char *err, size_t errcap) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    snprintf(err, errcap, "cannot read identity %s: %s (run `vss-node init`)",
             path, strerror(e));
    return -e;
  }
  if (st.st_mode & 077) {
    snprintf(err, errcap,
             "identity %s has mode %04o; it must be 0600 (chmod 600 %s)", path,
             (unsigned)(st.st_mode & 0777), path);
    return -EPERM;
  }
  return 0;
}

int ident_load(const char *data_dir, chan_identity *out, char *err,
               size_t errcap) {
  char path[PATH_MAX], text[256];
  uint8_t pk[CHAN_PK_LEN];
  size_t len, hexlen = 2 * CHAN_SK_LEN, binlen = 0;
  int rc;

  if (fs_path(path, sizeof path, data_dir, "identity.key") < 0) {
    snprintf(err, errcap, "data dir path too long: %s", data_dir);
    return -ENAMETOOLONG;
  }
  if ((rc = check_mode(path, err, errcap)) < 0) return rc;
  if ((rc = fs_read_small(path, text, sizeof text, &len)) < 0) {
    snprintf(err, errcap, "cannot read %s: %s", path, strerror(-rc));
    return rc;
  }
  rc = -EINVAL;
  if (len >= sizeof HEADER - 1 + hexlen &&
      memcmp(text, HEADER, sizeof HEADER - 1) == 0 &&
      sodium_hex2bin(out->sk, CHAN_SK_LEN, text + sizeof HEADER - 1, hexlen,
                     NULL, &binlen, NULL) == 0 &&
      binlen == CHAN_SK_LEN && crypto_sign_ed25519_sk_to_pk(pk, out->sk) == 0) {
    memcpy(out->pk, pk, CHAN_PK_LEN);
    rc = 0;
  }
  sodium_memzero(text, sizeof text);
  if (rc < 0) snprintf(err, errcap, "%s is not a vss identity key", path);
  return rc;
}
