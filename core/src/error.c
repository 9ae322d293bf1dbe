/*
 * error.c - human-readable text for the VSS_ERR_* codes.
 */
#include "vss/model.h"

/* Indexed by -rc; kept in the order of the enum in model.h. */
static const char *const err_text[] = {
    "success",
    "out of memory",
    "invalid argument",
    "malformed message from peer",
    "message truncated",
    "message or field too big",
    "unsupported protocol or schema version",
    "database failure",
    "not found",
    "checksum mismatch",
    "no source has the sidecar",
    "blob store I/O failure",
    "storage budget or disk full",
    "unknown or unpaired peer",
    "output buffer too small",
    "request or transfer timed out",
    "canceled",
    "local generation failed",
    "retry budget exhausted",
    "peer reported an error",
    "already exists or in progress",
    "stored data is corrupt",
    "over a stated resource bound",
    "source busy (at its upload capacity), retry later",
};

_Static_assert(sizeof(err_text) / sizeof(err_text[0]) == 1 - VSS_ERR_MIN,
               "one text per error code");

const char *vss_strerror(int rc) {
  if (rc > 0 || rc < VSS_ERR_MIN) return "unknown error";
  return err_text[-rc];
}
