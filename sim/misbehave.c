/*
 * misbehave.c - a device that misbehaves towards the peers it serves
 * ([device] misbehave = stall | refuse, from misbehave_from on). Its node
 * is honest; what leaves the device is not:
 *
 *   stall   the node's XFER_META and XFER_DATA frames never leave (a hung
 *           disk or process behind a live connection: HELLO, PING and
 *           digests still flow, so it stays a holder others ask);
 *   refuse  each of them is replaced by an XFER_ERROR for the same
 *           request (VSS_ERR_IO, what a node whose blob store cannot
 *           read would say): it advertises what it holds and serves none.
 *
 * What requesters must do about it (time out / leave the source, fetch
 * from another holder) is the core's; the summary counts the frames
 * (misbehave.frames).
 */
#include "world.h"

#include "wire.h"

/* Replacement frames, copied by the caller at once (actors run one at a
 * time). Still reachable at exit: not a leak. */
static vss_buf repl;

int misbehave_outgoing(device *d, const uint8_t *frame, size_t len,
                       const uint8_t **out, size_t *out_len) {
  const sc_device *c = d->cfg;
  if (!c || c->misbehave == SC_MB_NONE || d->now < c->misbehave_from) return 0;
  uint8_t type = len > 5 ? frame[5] : 0;
  if (type != VSS_MSG_XFER_DATA && type != VSS_MSG_XFER_META) return 0;
  d->m.misbehaved++;
  if (c->misbehave == SC_MB_STALL) return 1;
  vss_msg m;
  if (vss_wire_decode(frame, len, &m)) return 1;
  uint32_t req = type == VSS_MSG_XFER_DATA ? m.u.data.req_id : m.u.meta.req_id;
  repl.len = 0;
  if (vss_wire_encode_xfer_error(&repl, req, VSS_ERR_IO)) return 1;
  *out = repl.data;
  *out_len = repl.len;
  return 2;
}
