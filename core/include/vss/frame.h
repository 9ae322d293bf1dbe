/*
 * vss/frame.h - what a driver may know of a frame without decoding it.
 *
 * Drivers cut the byte stream into frames, count bytes per kind of
 * traffic and (in the simulator) damage data payloads the way a broken
 * link would. They do it through these calls, so the wire format stays
 * the core's own (core/src/wire.h) and can change without them.
 */
#ifndef VSS_FRAME_H
#define VSS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The length prefix's own size: a driver reads this many bytes, then
 * asks vss_frame_len for the whole frame's length. */
#define VSS_FRAME_PREFIX 4
/* The largest whole frame (prefix included): 1 MiB of sidecar bytes plus
 * headers. A record or buffer this large holds any frame. */
#define VSS_FRAME_MAX (6u + 1024u * 1024u + 1024u)

/* Length of the frame starting at p (prefix included) from its first
 * VSS_FRAME_PREFIX bytes: 0, or VSS_ERR_TRUNCATED (fewer bytes than the
 * prefix), VSS_ERR_TOO_BIG (past the largest frame: drop the peer),
 * VSS_ERR_PROTO (a length no frame has). */
int vss_frame_len(const uint8_t *p, size_t len, size_t *frame_len);

typedef enum vss_frame_class {
  VSS_FRAME_GOSSIP = 0, /* HELLO, DIGEST, RELAY, IHAVE, WANT: availability */
  VSS_FRAME_QUERY,      /* QUERY, QUERY_REPLY: "do you have X?" */
  VSS_FRAME_XFER,       /* transfer control: GET, META, ERROR, CANCEL, PING */
  VSS_FRAME_DATA,       /* XFER_DATA: sidecar bytes */
  VSS_FRAME_CLASS_COUNT
} vss_frame_class;

/* The class of a whole frame; a frame too short to say counts as XFER. */
vss_frame_class vss_frame_classify(const uint8_t *frame, size_t len);

/* Where the sidecar bytes of a whole, valid XFER_DATA frame are: 0 and
 * [*off, *off + *plen) inside the frame, or VSS_ERR_PROTO when the frame
 * is not a valid XFER_DATA frame. */
int vss_frame_data_payload(const uint8_t *frame, size_t len, size_t *off,
                           size_t *plen);

/* The bytes a frame stands for on a real link: len, except for the
 * simulation's size-only data frames (cfg.synthetic_data, node.h), which
 * carry a length instead of the sidecar bytes; for those the payload
 * vss_frame_data_payload finds is their 8 marker bytes (zero from an
 * honest sender: damage there fails the chunk's verification). */
uint64_t vss_frame_wire_len(const uint8_t *frame, size_t len);

#ifdef __cplusplus
}
#endif
#endif
