/*
 * frame.c - the driver's view of a frame (vss/frame.h), over wire.c.
 */
#include "vss/frame.h"

#include "vss/model.h"
#include "wire.h"

_Static_assert(VSS_FRAME_PREFIX == 4, "the length prefix is a u32");
_Static_assert(VSS_FRAME_MAX == VSS_WIRE_HDR + VSS_WIRE_MAX_BODY,
               "vss/frame.h states the wire's largest frame");

int vss_frame_len(const uint8_t *p, size_t len, size_t *frame_len) {
  return vss_wire_frame_len(p, len, frame_len);
}

vss_frame_class vss_frame_classify(const uint8_t *frame, size_t len) {
  if (len < VSS_WIRE_HDR) return VSS_FRAME_XFER;
  switch (frame[5]) {
  case VSS_MSG_HELLO:
  case VSS_MSG_DIGEST:
  case VSS_MSG_RELAY:
  case VSS_MSG_IHAVE:
  case VSS_MSG_WANT:
    return VSS_FRAME_GOSSIP;
  case VSS_MSG_QUERY:
  case VSS_MSG_QUERY_REPLY:
    return VSS_FRAME_QUERY;
  case VSS_MSG_XFER_DATA:
  case VSS_MSG_XFER_SYNTH:
    return VSS_FRAME_DATA;
  default:
    return VSS_FRAME_XFER;
  }
}

int vss_frame_data_payload(const uint8_t *frame, size_t len, size_t *off,
                           size_t *plen) {
  vss_msg m;
  if (len <= VSS_WIRE_HDR ||
      (frame[5] != VSS_MSG_XFER_DATA && frame[5] != VSS_MSG_XFER_SYNTH))
    return VSS_ERR_PROTO;
  if (vss_wire_decode(frame, len, &m)) return VSS_ERR_PROTO;
  *off = (size_t)(m.u.data.data - frame);
  *plen = m.u.data.synth ? VSS_WIRE_SYNTH_MARK : m.u.data.len;
  return 0;
}

uint64_t vss_frame_wire_len(const uint8_t *frame, size_t len) {
  vss_msg m;
  if (len <= VSS_WIRE_HDR || frame[5] != VSS_MSG_XFER_SYNTH) return len;
  if (vss_wire_decode(frame, len, &m)) return len;
  return len - VSS_WIRE_SYNTH_MARK + m.u.data.len;
}
